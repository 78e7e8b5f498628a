// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: sleeping and waking on a mapped channel - the waiter words of
 * the control page, the arming of polls and selectors, KCHAN_IOC_WAKE,
 * and the end operations that differ from a plain channel's.
 *
 * User space sends and receives through the shared ring without the
 * kernel, so the kernel learns of a change only when told: a task in user
 * space that published an element (freed a slot) reads recv_waiters
 * (send_waiters) after a full barrier, and calls KCHAN_IOC_WAKE when it is
 * non-zero.  The kernel keeps each waiter word at "blocked tasks of that
 * direction" (the count, bits 30..0, stored under the channel lock) plus
 * KCHAN_WAITERS_ARMED (bit 31: a poll, epoll or selector found the
 * direction not ready and waits for the next change; set without the lock,
 * cleared by KCHAN_IOC_WAKE, which then wakes every poller).  The words
 * are written with atomic operations, since the lock holder and lockless
 * pollers both change them; user space only reads them.
 *
 * The barrier pairs (Documentation/design/fastpath.rst, "Waking"):
 * a blocking task stores the count, smp_mb(), then serves itself from the
 * ring (kchan_shared_enqueue()); a poller stores ARMED, smp_mb(), then
 * reads the ring again (kchan_shared_poll(), kchan_shared_end_arm() with
 * the selector's smp_mb()).  Each pairs with user space's store to a slot,
 * full barrier, load of the word: one side sees the other's store.
 */
#include <linux/atomic.h>
#include <linux/minmax.h>
#include <linux/poll.h>

#include "kchan.h"
#include "shring.h"

/* The waiter word of direction @send, as the atomic it is to the kernel. */
static atomic_t *kchan_waiter_word(struct kchan_shring *r, bool send)
{
	return (atomic_t *)(send ? &r->ctrl->send_waiters :
				   &r->ctrl->recv_waiters);
}

/*
 * Store @nr blocked tasks in @word, keeping its ARMED bit.  Inline: on most
 * unlocks the count has not changed, and the comparison is all it costs.
 */
static __always_inline void kchan_waiters_set_count(atomic_t *word, u32 nr)
{
	int old = atomic_read(word), new;

	nr = min_t(u32, nr, KCHAN_WAITERS_COUNT);
	do {
		if (((u32)old & KCHAN_WAITERS_COUNT) == nr)
			return;		/* no store: the line stays shared */
		new = (int)(((u32)old & KCHAN_WAITERS_ARMED) | nr);
	} while (!atomic_try_cmpxchg(word, &old, new));
}

static void kchan_waiters_arm(atomic_t *word)
{
	if (!((u32)atomic_read(word) & KCHAN_WAITERS_ARMED))
		atomic_or((int)KCHAN_WAITERS_ARMED, word);
}

/* Clear @word's ARMED bit; whether it was set. */
static bool kchan_waiters_disarm(atomic_t *word)
{
	if (!((u32)atomic_read(word) & KCHAN_WAITERS_ARMED))
		return false;
	return (u32)atomic_fetch_andnot((int)KCHAN_WAITERS_ARMED, word) &
	       KCHAN_WAITERS_ARMED;
}

/*
 * Store the blocked tasks of @ch, locked, in the waiter words.  Called
 * whenever the channel is unlocked: a count that is too high costs user
 * space a needless %KCHAN_IOC_WAKE; one too low never lasts beyond the
 * lock (a task that queues itself stores its direction's count at once,
 * kchan_shared_end_enqueue()).
 */
static void kchan_shared_publish_waiters(struct kchan *ch)
{
	lockdep_assert_held(&ch->lock);
	kchan_waiters_set_count(kchan_waiter_word(ch->shr, false), ch->recvq.nr);
	kchan_waiters_set_count(kchan_waiter_word(ch->shr, true), ch->sendq.nr);
}

/**
 * kchan_shared_publish() - what a mapped channel publishes as it unlocks
 * @ch: the channel, locked, with a shared ring
 *
 * Stores the waiter counts.  Then, if pollers are registered on the
 * channel (epoll, selector cases), computes the mask to wake them with,
 * and arms the directions that are not ready: a kernel-path operation
 * woke them with that mask, and those it did not wake must hear of the
 * next user-space change.  After arming, the mask is read again
 * (smp_mb(), paired as in kchan_shared_poll()).  Without pollers nobody
 * reads the mask - a mapped channel's poll computes its own - so none is
 * computed: wq_has_sleeper() orders this path's changes before its look
 * at the queue, as kchan_wake_pollers() does, and a poller that queues
 * after it computes the mask itself.
 *
 * Return: the mask to wake the pollers with, 0 if there are none.
 */
__poll_t kchan_shared_publish(struct kchan *ch)
{
	__poll_t mask;

	kchan_shared_publish_waiters(ch);
	if (!wq_has_sleeper(&ch->end.poll_wq))
		return 0;
	mask = kchan_shared_mask_of(ch);
	if ((mask & (KCHAN_EV_IN | KCHAN_EV_OUT)) == (KCHAN_EV_IN | KCHAN_EV_OUT))
		return mask;
	if (!(mask & KCHAN_EV_IN))
		kchan_waiters_arm(kchan_waiter_word(ch->shr, false));
	if (!(mask & KCHAN_EV_OUT))
		kchan_waiters_arm(kchan_waiter_word(ch->shr, true));
	smp_mb();	/* pairs with user space's fence before it reads the words */
	return kchan_shared_mask_of(ch);
}

/**
 * kchan_shared_mask_of() - the poll events of a channel with a shared ring
 * @ch: the channel, locked or not
 *
 * kchan_ready_mask()'s rules over the ring's hints and the lockless
 * copies of the queue counts (a blocked partner counts while the ring is
 * empty, as in kchan_shared_case_ready()): user space changes the ring
 * without the lock, so this is computed each time, never published.
 *
 * Return: the EPOLL* mask.
 */
__poll_t kchan_shared_mask_of(struct kchan *ch)
{
	__poll_t mask = 0;

	if (READ_ONCE(ch->closed))
		return KCHAN_EV_IN | KCHAN_EV_OUT | EPOLLHUP;
	if (kchan_shring_readable(ch->shr) || READ_ONCE(ch->nr_returned) ||
	    (READ_ONCE(ch->sendq.nr) && kchan_shring_empty(ch->shr)))
		mask |= KCHAN_EV_IN;
	if (kchan_shring_writable(ch->shr) ||
	    (READ_ONCE(ch->recvq.nr) && kchan_shring_empty(ch->shr)))
		mask |= KCHAN_EV_OUT;
	return mask;
}

/**
 * kchan_shared_poll() - the poll events of a mapped channel, armed
 * @ch: the channel; the caller has queued on its poll_wq and executed
 *	smp_mb()
 *
 * A direction found not ready is armed, so that the next user-space
 * change of it calls %KCHAN_IOC_WAKE, which wakes the poller.
 *
 * Return: the EPOLL* mask.
 */
__poll_t kchan_shared_poll(struct kchan *ch)
{
	__poll_t mask = kchan_shared_mask_of(ch);

	if ((mask & (KCHAN_EV_IN | KCHAN_EV_OUT)) == (KCHAN_EV_IN | KCHAN_EV_OUT))
		return mask;
	if (!(mask & KCHAN_EV_IN))
		kchan_waiters_arm(kchan_waiter_word(ch->shr, false));
	if (!(mask & KCHAN_EV_OUT))
		kchan_waiters_arm(kchan_waiter_word(ch->shr, true));
	/*
	 * Pairs with user space's full barrier between its store to a slot
	 * and its load of the waiter word: either it sees the arming and
	 * calls KCHAN_IOC_WAKE, or the read below sees its slot.
	 */
	smp_mb();
	return kchan_shared_mask_of(ch);
}

/**
 * kchan_shared_end_mask() - &struct kchan_end_ops.mask of a mapped channel
 * @end: the channel's end
 *
 * Return: kchan_shared_mask_of() its channel.
 */
__poll_t kchan_shared_end_mask(struct kchan_end *end)
{
	return kchan_shared_mask_of(end->ch);
}

/**
 * kchan_shared_end_arm() - &struct kchan_end_ops.arm of a mapped channel
 * @end: the channel's end
 *
 * Arms both directions; the caller (the selector) executes smp_mb() and
 * reads the mask again, as kchan_shared_poll() does.
 */
void kchan_shared_end_arm(struct kchan_end *end)
{
	kchan_waiters_arm(kchan_waiter_word(end->ch->shr, false));
	kchan_waiters_arm(kchan_waiter_word(end->ch->shr, true));
}

/**
 * kchan_shared_end_enqueue() - &struct kchan_end_ops.enqueue of a mapped
 * channel
 * @end: the channel's end, locked
 * @w: the waiter of a task about to sleep
 *
 * Queues @w, stores the count, then looks at the ring again: an element
 * (a free slot) that user space published before it could see the count
 * goes to the queued tasks now, @w's own task maybe, which then does not
 * sleep at all.
 */
void kchan_shared_end_enqueue(struct kchan_end *end, struct kchan_waiter *w)
{
	struct kchan *ch = end->ch;
	struct kchan_queue *q = w->sender ? &ch->sendq : &ch->recvq;

	kchan_enqueue(ch, q, w);
	kchan_waiters_set_count(kchan_waiter_word(ch->shr, w->sender), q->nr);
	/*
	 * Pairs 1 and 2: the count is stored before the ring is read; user
	 * space stores to the slot before it reads the count.  Either it
	 * sees the waiter and calls KCHAN_IOC_WAKE, or the kick sees its
	 * slot.
	 */
	smp_mb();
	kchan_shared_kick(ch);
}

/**
 * kchan_shared_wake_unlock() - what %KCHAN_IOC_WAKE does, and unlock
 * @ch: the channel, locked, with a shared ring
 *
 * Moves what user space left in the ring to the blocked tasks
 * (kchan_shared_kick()), disarms both directions and wakes the pollers.
 * For a process that published or freed a slot and saw waiters, and for
 * one that may have and is gone before it could say so (shmap.c).
 */
void kchan_shared_wake_unlock(struct kchan *ch)
{
	struct kchan_shring *r = ch->shr;
	bool armed;

	lockdep_assert_held(&ch->lock);
	armed = kchan_waiters_disarm(kchan_waiter_word(r, false));
	armed |= kchan_waiters_disarm(kchan_waiter_word(r, true));
	kchan_shared_kick(ch);
	/*
	 * The armed pollers are woken whatever the channel's state is now:
	 * the change that armed them may already be undone, and they are
	 * disarmed, so they poll again and arm again if need be.  Once: an
	 * edge-triggered epoll counts wake-ups.
	 */
	if (armed)
		kchan_unlock_wake_all(ch);
	else
		kchan_unlock_wake(ch);
}

/**
 * kchan_shared_has_waiters() - whether a mapped channel has blocked tasks
 * or armed pollers
 * @ch: the channel, locked or not, with a shared ring
 *
 * Read from the control page, which only the kernel writes.
 *
 * Return: true if either waiter word is not zero.
 */
bool kchan_shared_has_waiters(struct kchan *ch)
{
	return atomic_read(kchan_waiter_word(ch->shr, false)) ||
	       atomic_read(kchan_waiter_word(ch->shr, true));
}

/**
 * kchan_ioctl_wake() - %KCHAN_IOC_WAKE
 * @ch: the channel
 * @arg: the argument, which must be 0
 *
 * Return: 0, -ENODEV (not mappable), -EINVAL or -EINTR.
 */
long kchan_ioctl_wake(struct kchan *ch, unsigned long arg)
{
	if (!ch->shr)
		return -ENODEV;
	if (arg)
		return -EINVAL;
	if (mutex_lock_killable(&ch->lock))
		return -EINTR;
	kchan_shared_wake_unlock(ch);
	return 0;
}

/**
 * kchan_shared_flush() - count a close(2) of a mapped channel's descriptor
 * @ch: the channel
 *
 * Tells libraries that cache mappings by descriptor number to check
 * theirs (struct kchan_map_ctrl.fd_closes).
 */
void kchan_shared_flush(struct kchan *ch)
{
	atomic_inc((atomic_t *)&ch->shr->ctrl->fd_closes);
}
