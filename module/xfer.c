// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: moving elements - send, receive, close and the blocking rules.
 *
 * This file owns the channel's state machine.  Every function that looks at
 * or changes a channel holds struct kchan.lock (see kchan.h for what it
 * guards) and drops it with kchan_unlock() or kchan_unlock_wake(), which
 * publish the channel's poll mask; none sleeps with it held except to copy
 * user memory or allocate.
 *
 * Go's rules, as runtime/chan.go implements them:
 *
 * - A send that finds a blocked receiver copies its element straight into
 *   that receiver's message and completes it; otherwise it queues the
 *   element in the ring if there is room; otherwise it blocks with its
 *   element parked in a message of its own.
 * - A receive takes the oldest element.  When that frees a slot and a
 *   sender is blocked, the first blocked sender's element moves into the
 *   ring and the sender is released, so elements stay in send order and
 *   blocked senders are served in the order they blocked.  With an empty
 *   ring it takes a blocked sender's element directly (the unbuffered case).
 *   Otherwise, on a closed channel, it reports "closed"; otherwise it blocks.
 * - Close completes every blocked sender (EPIPE) and receiver ("closed").
 *
 * Nothing is lost when user memory faults: a sender copies its element in
 * before anything is committed, and a receiver copies out of the ring or
 * the front of the channel before either is consumed.  The one element
 * that is committed before the copy out - one handed to a blocked
 * receiver, or taken from a blocked sender - is given back to the front of
 * the channel (struct kchan.returned) if the receiver's copy fails.  A
 * blocked sender whose element is taken is completed before the element is
 * copied out, so no task ever waits for another task's user copy (wait.c).
 *
 * Blocked tasks are waiters (wait.c); a waiter is taken from a queue only
 * by claiming it, because it may be one case of a select that proceeds
 * elsewhere.
 *
 * Known limits of the fault path, left for later: a given-back element
 * is received after elements that other receivers took while it was out
 * (so after later elements of the same sender), two given back at the same
 * time may come out in either order, and one given back after the channel
 * closed and drained is received after a receiver already saw "closed".
 */
#include <linux/math64.h>
#include <linux/pagemap.h>
#include <linux/minmax.h>
#include <linux/uaccess.h>

#include "kchan.h"
#include "shring.h"
#include "trace.h"

/*
 * --- A mappable channel's shared ring --------------------------------------
 *
 * A mappable channel (KCHAN_MAPPABLE) keeps its elements in a shared ring
 * (shring.c) instead of a plain one (ring.h).  Its protocol needs no lock,
 * so that tasks outside the kernel can take part; here the kernel, holding
 * the channel lock, is one participant (map id 0), and everything else -
 * handoff to blocked receivers, blocked senders moving in, given-back
 * elements, close - is the plain channel's.  Each step tests ch->shr once
 * and otherwise runs the plain ring's code as it was.
 */

/**
 * kchan_return_msg() - queue an element at the front of the channel
 * @ch: the channel, locked
 * @msg: the element, which the channel takes over
 *
 * For an element taken out and not received after all; the next receive
 * gets it (and user space of a mapped channel is told to ask the kernel).
 */
void kchan_return_msg(struct kchan *ch, struct kchan_msg *msg)
{
	lockdep_assert_held(&ch->lock);
	list_add_tail(&msg->node, &ch->returned);
	WRITE_ONCE(ch->nr_returned, ch->nr_returned + 1);
	if (ch->shr)
		kchan_shring_set_returned(ch->shr, true);
}

/* Take the element at the front of the channel; the caller frees it. */
static void kchan_unreturn_msg(struct kchan *ch, struct kchan_msg *msg)
{
	list_del(&msg->node);
	WRITE_ONCE(ch->nr_returned, ch->nr_returned - 1);
	if (ch->shr && !ch->nr_returned)
		kchan_shring_set_returned(ch->shr, false);
}

/*
 * Hand the element at @src straight to the first blocked receiver: 1,
 * -EFAULT, or 0 when no receiver waits.  The receiver's buffer is filled
 * first: a fault then claims nothing.
 */
static int kchan_handoff(struct kchan *ch, const u8 __user *src)
{
	struct kchan_waiter *w;

	while ((w = kchan_first_waiter(ch, &ch->recvq))) {
		if (copy_from_user(w->msg->data, src, ch->ring.elem_size))
			return -EFAULT;
		if (kchan_claim(ch, w)) {
			kchan_complete(ch, w, KCHAN_DONE);
			ch->sends++;
			ch->recvs++;
			return 1;
		}
	}
	return 0;
}

/*
 * Queue the element at @src in the shared ring.  Returns 1, -EFAULT or
 * %KCHAN_WOULD_BLOCK.  A cancelled claim is voided, and a void counts in
 * the length until a receive skips it; so the element is faulted in before
 * a slot is claimed, and only a page that goes away in between leaves a
 * void behind.  A full ring would block: the element is not even read.
 */
static noinline int kchan_shared_put_user(struct kchan *ch, const u8 __user *src)
{
	struct kchan_shring *r = ch->shr;
	u64 pos;

	if (!kchan_shring_writable(r))
		return KCHAN_WOULD_BLOCK;
	if (fault_in_readable((const char __user *)src, r->elem_size))
		return -EFAULT;
	if (kchan_shring_claim_send(r, &pos) != 1)
		return KCHAN_WOULD_BLOCK;
	if (copy_from_user(kchan_shring_elem(r, pos), src, r->elem_size)) {
		kchan_shring_void(r, pos);
		return -EFAULT;
	}
	kchan_shring_publish(r, pos);
	return 1;
}

/*
 * kchan_send_step() on a shared ring.  A blocked receiver is handed the
 * element directly only when the ring is empty: an element in it, or one
 * still being written, is older, and a receiver that took the newer one
 * first could see one sender's elements out of order.  Otherwise the
 * element goes into the ring, and the blocked receivers are served from
 * its front.
 */
static int kchan_shared_send_step(struct kchan *ch, const u8 __user *src)
{
	int ret;

	if (kchan_shring_empty(ch->shr)) {
		ret = kchan_handoff(ch, src);
		if (ret)
			return ret;
	}
	ret = kchan_shared_put_user(ch, src);	/* counted by the ring */
	if (ret == 1 && ch->recvq.nr)
		kchan_shared_kick(ch);
	return ret;
}

/*
 * The first blocked sender's element takes a slot of the shared ring.  The
 * slot is claimed before the sender, so that a ring filled meanwhile by a
 * task outside the kernel claims no sender it cannot serve.
 */
static bool kchan_shared_refill(struct kchan *ch)
{
	struct kchan_shring *r = ch->shr;
	struct kchan_waiter *w;
	u64 pos;

	if (!ch->sendq.nr)
		return false;	/* the common case, without a call */
	while ((w = kchan_first_waiter(ch, &ch->sendq))) {
		if (kchan_shring_claim_send(r, &pos) != 1)
			return false;
		memcpy(kchan_shring_elem(r, pos), w->msg->data, r->elem_size);
		if (kchan_claim(ch, w)) {
			kchan_shring_publish(r, pos);	/* counted by the ring */
			kchan_complete(ch, w, KCHAN_DONE);
			return true;
		}
		kchan_shring_void(r, pos);
	}
	return false;
}

/*
 * Take the oldest element of the shared ring into @dst.  Returns 1, 0
 * (empty), -EFAULT, or %KCHAN_WOULD_BLOCK when the oldest element is
 * still being written: a blocked sender's element, newer, must not be
 * taken before it.  A taken slot belongs to the next lap, so an element
 * that cannot be copied out goes to the front of the channel, where the
 * next receive finds it first.
 */
static int kchan_shared_take_user(struct kchan *ch, u8 __user *dst)
{
	struct kchan_shring *r = ch->shr;
	u8 *elem;
	u64 pos;
	int ret;

	if (kchan_shring_empty(r))
		return 0;	/* what the claim would find first, without a call */
	ret = kchan_shring_claim_recv(r, &pos);
	if (ret == KCHAN_SHRING_PENDING)
		return KCHAN_WOULD_BLOCK;
	if (ret != 1)
		return 0;
	elem = kchan_shring_elem(r, pos);
	if (copy_to_user(dst, elem, r->elem_size)) {
		kchan_return_msg(ch, kchan_msg_from_data(ch, elem));
		ch->recvs--;	/* the ring counts it; it is received later */
		kchan_shring_release(r, pos);
		return -EFAULT;
	}
	kchan_shring_release(r, pos);
	return 1;
}

/*
 * Hand the oldest element - given back, else of the shared ring - to the
 * first blocked receiver.  The slot is claimed first, as in kchan_shared_refill(); a
 * receiver that proceeded elsewhere meanwhile leaves the element at the
 * front of the channel.  Returns whether a receiver was served.
 */
static bool kchan_shared_serve_receiver(struct kchan *ch)
{
	struct kchan_shring *r = ch->shr;
	struct kchan_waiter *w;
	struct kchan_msg *msg;
	u8 *elem;
	u64 pos;

	/* Elements given back are older than any in the ring. */
	msg = list_first_entry_or_null(&ch->returned, struct kchan_msg, node);
	if (msg) {
		w = kchan_claim_first(ch, &ch->recvq);
		if (!w)
			return false;
		kchan_unreturn_msg(ch, msg);
		memcpy(w->msg->data, msg->data, r->elem_size);
		kchan_msg_free(msg);
		kchan_complete(ch, w, KCHAN_DONE);
		ch->recvs++;
		return true;
	}
	if (kchan_shring_empty(r) || !kchan_first_waiter(ch, &ch->recvq) ||
	    kchan_shring_claim_recv(r, &pos) != 1)
		return false;
	elem = kchan_shring_elem(r, pos);
	w = kchan_claim_first(ch, &ch->recvq);
	if (w) {
		memcpy(w->msg->data, elem, r->elem_size);	/* counted by the ring */
		kchan_complete(ch, w, KCHAN_DONE);
	} else {
		kchan_return_msg(ch, kchan_msg_from_data(ch, elem));
		ch->recvs--;	/* the ring counts it; it is received later */
	}
	kchan_shring_release(r, pos);
	return w;
}

/* The moves of kchan_shared_kick(), out of line: its test is the common case. */
static noinline void kchan_shared_move(struct kchan *ch)
{
	while (kchan_shared_serve_receiver(ch) || kchan_shared_refill(ch))
		;
}

/**
 * kchan_shared_kick() - serve a mappable channel's blocked tasks from its
 * shared ring
 * @ch: the channel, locked, with a shared ring
 *
 * Tasks outside the kernel fill and empty the ring without the lock; this
 * moves what they left to the tasks blocked in the kernel, as a kernel
 * send or receive would have: elements to blocked receivers, blocked
 * senders' elements into free slots, in queue order.  Bounded by the
 * queues, which only shrink here.  The caller wakes the pollers
 * (kchan_unlock_wake()).
 */
void kchan_shared_kick(struct kchan *ch)
{
	lockdep_assert_held(&ch->lock);
	/*
	 * Nothing given back, no blocked sender, an empty ring: nothing to
	 * move.  The common case, of a task queueing itself to wait for an
	 * element, costs this test and no more.
	 */
	if (!ch->nr_returned && !ch->sendq.nr && kchan_shring_empty(ch->shr))
		return;
	kchan_shared_move(ch);
}

/**
 * kchan_counts() - the elements sent and received over the channel's life
 * @ch: the channel, locked
 * @sends: out: elements sent
 * @recvs: out: elements received
 *
 * A shared ring counts what passes through it in its positions, whoever
 * moved it (user space or the kernel): struct kchan.sends and .recvs
 * count only the rest, the elements handed from task to task.  The
 * positions are hints user space writes, so the counts of a mapped
 * channel are as good as its users; a send that claimed a slot and then
 * failed (closed, faulted, died) counts as sent and received.
 */
void kchan_counts(struct kchan *ch, u64 *sends, u64 *recvs)
{
	*sends = ch->sends;
	*recvs = ch->recvs;
	if (ch->shr) {
		*sends += kchan_shring_sent(ch->shr);
		*recvs += kchan_shring_taken(ch->shr);
	}
}

/**
 * kchan_queued() - the elements queued in a channel
 * @ch: the channel, locked
 *
 * Return: those in the ring and those given back to its front.
 */
u64 kchan_queued(struct kchan *ch)
{
	u32 n = ch->shr ? kchan_shring_len(ch->shr) : kchan_ring_count(&ch->ring);

	return (u64)n + ch->nr_returned;
}

/**
 * kchan_ready_mask() - the poll events the channel's state makes true
 * @ch: the channel, locked (or not yet reachable)
 *
 * Readable when a receive would not block (elements queued, a sender
 * blocked, or closed); writable when a send would not block (room in the
 * ring, a receiver blocked, or closed: the send fails at once with EPIPE);
 * EPOLLHUP once closed.  Stale select waiters still queued count as
 * blocked tasks: the mask may say ready a little too often, never too
 * seldom.
 *
 * Return: the EPOLL* mask.
 */
__poll_t kchan_ready_mask(struct kchan *ch)
{
	__poll_t mask = 0;

	if (ch->closed)
		return KCHAN_EV_IN | KCHAN_EV_OUT | EPOLLHUP;
	if (ch->shr)
		return kchan_shared_mask_of(ch);
	if (!kchan_ring_empty(&ch->ring) || ch->nr_returned || ch->sendq.nr)
		mask |= KCHAN_EV_IN;
	if (!kchan_ring_full(&ch->ring) || ch->recvq.nr)
		mask |= KCHAN_EV_OUT;
	return mask;
}

/* Publish the mask of the channel's state; the channel is locked. */
static __poll_t kchan_publish(struct kchan *ch)
{
	__poll_t mask;

	if (ch->shr)
		return kchan_shared_publish(ch);	/* its poll computes */

	mask = kchan_ready_mask(ch);
	/* Read by kchan_chan_poll() after its smp_mb(); see there. */
	WRITE_ONCE(ch->end.ready, mask);
	return mask;
}

/**
 * kchan_unlock() - publish the channel's poll mask and unlock it
 * @ch: the channel, locked
 *
 * Every path that may have changed the channel drops the lock here or in
 * kchan_unlock_wake(), so that struct kchan.ready is always the mask of
 * the state last unlocked.  For paths whose change makes nothing ready
 * (a waiter leaving, a step that moved nothing).
 */
void kchan_unlock(struct kchan *ch)
{
	kchan_publish(ch);
	mutex_unlock(&ch->lock);
}

/**
 * kchan_unlock_wake() - publish the poll mask, wake the pollers, unlock
 * @ch: the channel, locked
 *
 * For paths that may have made an event true.  The pollers are woken
 * before the lock is dropped: a selector case registered on the channel
 * enters its selector's ready set in that wake-up (selector.c), so a task
 * that takes the lock next - to look at the channel, or to block on it -
 * finds every selector of the channel already told.
 */
void kchan_unlock_wake(struct kchan *ch)
{
	kchan_wake_pollers(&ch->end, kchan_publish(ch));
	mutex_unlock(&ch->lock);
}

/**
 * kchan_unlock_wake_all() - publish the poll mask, wake every poller,
 * unlock
 * @ch: the channel, locked
 *
 * As kchan_unlock_wake(), but the pollers are woken with every event,
 * whatever the mask: for pollers armed by a mapped channel, which must
 * look again even if the change that armed them is undone by now
 * (shwake.c).
 */
void kchan_unlock_wake_all(struct kchan *ch)
{
	kchan_publish(ch);
	kchan_wake_pollers(&ch->end, KCHAN_EV_IN | KCHAN_EV_OUT);
	mutex_unlock(&ch->lock);
}

/*
 * kchan_case_ready() on a shared ring: a partner blocked in the other
 * queue counts only while the ring is empty (see kchan_shared_send_step()).
 */
static noinline bool kchan_shared_case_ready(struct kchan *ch, bool send,
					     const struct kchan_wait *self)
{
	struct kchan_shring *r = ch->shr;

	if (send)
		return kchan_shring_writable(r) ||
		       (kchan_shring_empty(r) &&
			kchan_has_partner(ch, &ch->recvq, self));
	return ch->nr_returned || kchan_shring_readable(r) ||
	       (kchan_shring_empty(r) && kchan_has_partner(ch, &ch->sendq, self));
}

/**
 * kchan_case_ready() - whether a send or receive could proceed now
 * @ch: the channel, locked
 * @send: a send, else a receive
 * @self: a blocked call whose own waiters do not count as partners
 *
 * Exact under the lock, except that a partner found here may yet be
 * claimed by a third task through another of its cases, or give up.
 *
 * Return: true if kchan_send_step() or kchan_recv_step() would not return
 * %KCHAN_WOULD_BLOCK (barring that race).
 */
bool kchan_case_ready(struct kchan *ch, bool send,
		      const struct kchan_wait *self)
{
	lockdep_assert_held(&ch->lock);
	if (ch->closed)
		return true;
	if (ch->shr)
		return kchan_shared_case_ready(ch, send, self);
	if (send)
		return !kchan_ring_full(&ch->ring) ||
		       kchan_has_partner(ch, &ch->recvq, self);
	return ch->nr_returned || !kchan_ring_empty(&ch->ring) ||
	       kchan_has_partner(ch, &ch->sendq, self);
}

/**
 * kchan_send_step() - move one element into the channel without blocking
 * @ch: the channel, locked
 * @src: the element in user memory
 *
 * Return: 1, -EPIPE (closed), -EFAULT (nothing changed) or
 * %KCHAN_WOULD_BLOCK.
 */
int kchan_send_step(struct kchan *ch, const u8 __user *src)
{
	u32 esz = ch->ring.elem_size;
	int ret;

	lockdep_assert_held(&ch->lock);

	if (ch->closed)
		return -EPIPE;
	if (ch->shr)
		return kchan_shared_send_step(ch, src);

	ret = kchan_handoff(ch, src);
	if (ret)
		return ret;
	if (kchan_ring_full(&ch->ring))
		return KCHAN_WOULD_BLOCK;
	if (copy_from_user(kchan_ring_back(&ch->ring), src, esz))
		return -EFAULT;
	kchan_ring_push(&ch->ring);
	ch->sends++;
	return 1;
}

/*
 * Take waiter @w's element for the channel's or the caller's own use, so
 * that @w's call may return: the message itself, or a copy of one that
 * lives in @w's wait (cache.c).
 */
static struct kchan_msg *kchan_msg_take(struct kchan *ch,
					struct kchan_waiter *w)
{
	struct kchan_msg *msg = w->msg;

	if (kchan_msg_inline(w->wait, msg))
		return kchan_msg_copy(ch, msg);
	w->msg = NULL;
	return msg;
}

/* A slot is free: the first blocked sender's element takes it. */
static bool kchan_refill_from_sender(struct kchan *ch)
{
	struct kchan_ring *ring = &ch->ring;
	struct kchan_waiter *w;

	if (ch->shr)
		return kchan_shared_refill(ch);
	w = kchan_claim_first(ch, &ch->sendq);
	if (!w)
		return false;
	memcpy(kchan_ring_back(ring), w->msg->data, ring->elem_size);
	kchan_ring_push(ring);
	kchan_complete(ch, w, KCHAN_DONE);
	ch->sends++;
	return true;
}

/**
 * kchan_recv_step() - move one element out of the channel without blocking
 * @ch: the channel, locked
 * @dst: where the element goes in user memory; untouched unless 1 is
 *	returned or a blocked sender's element faulted
 *
 * Return: 1, 0 when closed and drained, -EFAULT or %KCHAN_WOULD_BLOCK.
 */
int kchan_recv_step(struct kchan *ch, u8 __user *dst)
{
	struct kchan_ring *ring = &ch->ring;
	u32 esz = ring->elem_size;
	struct kchan_waiter *w;
	struct kchan_msg *msg;
	int ret;

	lockdep_assert_held(&ch->lock);

	msg = list_first_entry_or_null(&ch->returned, struct kchan_msg, node);
	if (msg) {
		if (copy_to_user(dst, msg->data, esz))
			return -EFAULT;
		kchan_unreturn_msg(ch, msg);
		kchan_msg_free(msg);
		ch->recvs++;
		return 1;
	}

	if (ch->shr) {
		ret = kchan_shared_take_user(ch, dst);
		if (ret < 0 || ret == KCHAN_WOULD_BLOCK)
			return ret;
		if (ret) {	/* counted by the ring */
			kchan_refill_from_sender(ch);
			return 1;
		}
	} else if (!kchan_ring_empty(ring)) {
		if (copy_to_user(dst, kchan_ring_front(ring), esz))
			return -EFAULT;
		kchan_ring_pop(ring);
		ch->recvs++;
		kchan_refill_from_sender(ch);
		return 1;
	}

	/*
	 * Unbuffered: take a blocked sender's element directly.  The sender
	 * is released before the copy out, which may stall: it must not wait
	 * for it.  Its send happened either way; a failed copy gives the
	 * element back to the front of the channel.
	 */
	w = kchan_claim_first(ch, &ch->sendq);
	if (w) {
		msg = kchan_msg_take(ch, w);
		kchan_complete(ch, w, KCHAN_DONE);
		ch->sends++;
		if (copy_to_user(dst, msg->data, esz)) {
			kchan_return_msg(ch, msg);
			return -EFAULT;
		}
		ch->recvs++;
		kchan_msg_free(msg);
		return 1;
	}

	return ch->closed ? 0 : KCHAN_WOULD_BLOCK;
}

/**
 * kchan_take_delivered() - copy out the element a sender handed to a
 * blocked receiver
 * @ch: the receiver's channel, not locked; the caller holds its file
 * @w: the receiver's completed waiter, %KCHAN_DONE; its message is given
 *	back to the channel if it cannot be copied out
 * @dst: the receiver's buffer
 *
 * The element was received when it was handed over: a receiver killed
 * since still copies it out, as one killed a moment later would have (its
 * elements go with it); only a copy that faults gives the element back.
 *
 * Return: 1 or -EFAULT.
 */
int kchan_take_delivered(struct kchan *ch, struct kchan_waiter *w,
			 u8 __user *dst)
{
	if (!copy_to_user(dst, w->msg->data, ch->ring.elem_size))
		return 1;
	kchan_give_back(ch, kchan_msg_take(ch, w));
	return -EFAULT;
}

/**
 * kchan_wait_one() - a wait of one case with its parked element
 * @ch: the channel whose element size and budget the message takes
 * @sender: a send, whose element is copied in from @src, else a receive
 * @src: the element to send
 *
 * Return: the wait, or ERR_PTR(-ENOSPC), ERR_PTR(-ENOMEM) or
 * ERR_PTR(-EFAULT).
 */
struct kchan_wait *kchan_wait_one(struct kchan *ch, bool sender,
				  const u8 __user *src)
{
	struct kchan_wait *wait;
	struct kchan_waiter *w;
	int ret;

	/* Small elements live in the wait's object: one allocation. */
	if (ch->ring.elem_size <= kchan_wait1_max_elem()) {
		wait = kchan_wait1_alloc(ch);
		if (IS_ERR(wait))
			return wait;
		kchan_wait_init(wait);
		w = &wait->waiters[0];
	} else {
		wait = kchan_wait_new(1, NULL);
		if (IS_ERR(wait))
			return wait;
		w = &wait->waiters[0];
		w->msg = kchan_msg_alloc(ch);
		if (IS_ERR(w->msg)) {
			ret = PTR_ERR(w->msg);
			w->msg = NULL;
			goto out_put;
		}
	}
	w->sender = sender;
	if (sender && copy_from_user(w->msg->data, src, ch->ring.elem_size)) {
		ret = -EFAULT;
		goto out_put;
	}
	return wait;

out_put:
	kchan_wait_put(wait);
	return ERR_PTR(ret);
}

/*
 * Block until the element at @src has been taken.  Called with the lock
 * held; returns with it dropped.  Returns 1 or a negative errno.
 */
static int kchan_send_block(struct kchan *ch, const u8 __user *src,
			    const struct kchan_wait_opts *opts)
{
	struct kchan_wait *wait;
	int ret;

	ret = kchan_may_block(opts);
	if (ret)
		goto out_unlock;
	wait = kchan_wait_one(ch, true, src);
	if (IS_ERR(wait)) {
		ret = PTR_ERR(wait);
		goto out_unlock;
	}

	ret = kchan_block(&ch->end, wait, opts);
	if (ret == KCHAN_DONE)
		ret = 1;
	else if (ret == KCHAN_CLOSED)
		ret = -EPIPE;
	kchan_wait_put(wait);
	return ret;

out_unlock:
	kchan_unlock(ch);
	return ret;
}

/*
 * Block until an element arrives in @dst or the channel closes.  Called
 * with the lock held; returns with it dropped.  Returns 1, 0 (closed) or a
 * negative errno.
 */
static int kchan_recv_block(struct kchan *ch, u8 __user *dst,
			    const struct kchan_wait_opts *opts)
{
	struct kchan_wait *wait;
	int ret;

	ret = kchan_may_block(opts);
	if (ret)
		goto out_unlock;
	wait = kchan_wait_one(ch, false, NULL);
	if (IS_ERR(wait)) {
		ret = PTR_ERR(wait);
		goto out_unlock;
	}

	ret = kchan_block(&ch->end, wait, opts);
	if (ret == KCHAN_DONE)
		ret = kchan_take_delivered(ch, &wait->waiters[0], dst);
	else if (ret == KCHAN_CLOSED)
		ret = 0;
	kchan_wait_put(wait);
	return ret;

out_unlock:
	kchan_unlock(ch);
	return ret;
}

/*
 * Copy up to @n elements from @src to the back of the ring in contiguous
 * runs, one user copy each.  An element is published only once all of its
 * bytes arrived.  Returns the number queued: 0 if the ring is full,
 * -EFAULT if the first element faulted.
 */
static long kchan_ring_push_user(struct kchan_ring *ring, const u8 __user *src,
				 size_t n)
{
	u32 esz = ring->elem_size;
	size_t done = 0;

	while (done < n && !kchan_ring_full(ring)) {
		u32 slot, run;
		size_t bytes, left;

		div_u64_rem(ring->tail, ring->capacity, &slot);
		run = min3(n - done, (size_t)(ring->capacity - slot),
			   (size_t)(ring->capacity - kchan_ring_count(ring)));
		bytes = (size_t)run * esz;
		left = copy_from_user(kchan_ring_back(ring), src + done * esz,
				      bytes);
		run = (bytes - left) / esz;
		WRITE_ONCE(ring->tail, ring->tail + run);
		done += run;
		if (left)
			return done ? done : -EFAULT;
	}
	return done;
}

/*
 * Copy up to @n elements from the front of the ring to @dst in contiguous
 * runs.  An element is consumed only once all of its bytes were copied.
 * Returns the number taken, or -EFAULT if the first element faulted.
 */
static long kchan_ring_pop_user(struct kchan_ring *ring, u8 __user *dst,
				size_t n)
{
	u32 esz = ring->elem_size;
	size_t done = 0;

	while (done < n && !kchan_ring_empty(ring)) {
		u32 slot, run;
		size_t bytes, left;

		div_u64_rem(ring->head, ring->capacity, &slot);
		run = min3(n - done, (size_t)(ring->capacity - slot),
			   (size_t)kchan_ring_count(ring));
		bytes = (size_t)run * esz;
		left = copy_to_user(dst + done * esz, kchan_ring_front(ring),
				    bytes);
		run = (bytes - left) / esz;
		WRITE_ONCE(ring->head, ring->head + run);
		done += run;
		if (left)
			return done ? done : -EFAULT;
	}
	return done;
}

/*
 * Send up to @n elements without blocking: straight into the ring when no
 * receiver waits, else one element by kchan_send_step().  Returns the
 * number sent, -EPIPE, -EFAULT or KCHAN_WOULD_BLOCK.
 */
static long kchan_send_run(struct kchan *ch, const u8 __user *src, size_t n)
{
	long ret;

	lockdep_assert_held(&ch->lock);
	if (n == 1 || ch->closed || !list_empty(&ch->recvq.list) || ch->shr)
		return kchan_send_step(ch, src);
	ret = kchan_ring_push_user(&ch->ring, src, n);
	if (ret > 0)
		ch->sends += ret;
	return ret ? ret : KCHAN_WOULD_BLOCK;
}

/*
 * Receive up to @n elements without blocking: runs out of the ring, each
 * freed slot then taking the next blocked sender's element; anything else
 * one element by kchan_recv_step().  Returns the number received, 0 when
 * closed and drained, -EFAULT or KCHAN_WOULD_BLOCK.
 */
static long kchan_recv_run(struct kchan *ch, u8 __user *dst, size_t n)
{
	struct kchan_ring *ring = &ch->ring;
	long ret, i;

	lockdep_assert_held(&ch->lock);
	if (n == 1 || !list_empty(&ch->returned) || ch->shr ||
	    kchan_ring_empty(ring))
		return kchan_recv_step(ch, dst);
	ret = kchan_ring_pop_user(ring, dst, n);
	if (ret > 0)
		ch->recvs += ret;
	for (i = 0; i < ret; i++)
		if (!kchan_refill_from_sender(ch))
			break;
	return ret;
}

/* kchan_send() without its tracepoint. */
static long __kchan_send(struct kchan *ch, const u8 __user *elems, size_t count,
			 const struct kchan_wait_opts *opts)
{
	u32 esz = ch->ring.elem_size;
	size_t sent;
	long ret;

	if (mutex_lock_killable(&ch->lock))
		return -EINTR;

	ret = kchan_send_run(ch, elems, count);
	if (ret == KCHAN_WOULD_BLOCK) {
		/* Whoever takes the element wakes the pollers. */
		ret = kchan_send_block(ch, elems, opts);
		if (ret < 0 || count == 1 || mutex_lock_killable(&ch->lock))
			return ret;
	} else if (ret < 0) {
		kchan_unlock(ch);
		return ret;
	}

	for (sent = ret; sent < count; sent += ret) {
		ret = kchan_send_run(ch, elems + sent * esz, count - sent);
		if (ret <= 0)
			break;
	}
	kchan_unlock_wake(ch);
	return sent;
}

/**
 * kchan_send() - send up to @count elements
 * @ch: the channel
 * @elems: @count elements, back to back, in user memory
 * @count: number of elements, at least 1
 * @opts: whether and how long the first element may block
 *
 * Blocks (as @opts allow) until the first element is taken or queued,
 * then moves as many of the rest as it can without blocking.
 *
 * Return: the number of elements sent, or -EPIPE, -EAGAIN, -ETIMEDOUT,
 * -EINTR, -ERESTARTNOHAND, -ERESTARTSYS, -EFAULT, -ENOSPC or -ENOMEM if
 * none was.
 */
long kchan_send(struct kchan *ch, const u8 __user *elems, size_t count,
		const struct kchan_wait_opts *opts)
{
	long ret = __kchan_send(ch, elems, count, opts);

	trace_kchan_send(ch, count, ret);
	return ret;
}

/* kchan_recv() without its tracepoint. */
static long __kchan_recv(struct kchan *ch, u8 __user *elems, size_t count,
			 const struct kchan_wait_opts *opts)
{
	u32 esz = ch->ring.elem_size;
	size_t got;
	long ret;

	if (mutex_lock_killable(&ch->lock))
		return -EINTR;

	ret = kchan_recv_run(ch, elems, count);
	if (ret == KCHAN_WOULD_BLOCK) {
		ret = kchan_recv_block(ch, elems, opts);
		if (ret <= 0 || count == 1 || mutex_lock_killable(&ch->lock))
			return ret;
	} else if (ret <= 0) {
		kchan_unlock(ch);
		return ret;
	}

	for (got = ret; got < count; got += ret) {
		ret = kchan_recv_run(ch, elems + got * esz, count - got);
		if (ret <= 0)
			break;
	}
	kchan_unlock_wake(ch);
	return got;
}

/**
 * kchan_recv() - receive up to @count elements
 * @ch: the channel
 * @elems: room for @count elements, back to back, in user memory
 * @count: number of elements, at least 1
 * @opts: whether and how long the first element may block
 *
 * Blocks (as @opts allow) until the first element arrives, then takes as
 * many more as are ready.  On a closed and drained channel @elems is left
 * untouched.
 *
 * Return: the number of elements received, 0 when the channel is closed
 * and drained, or -EAGAIN, -ETIMEDOUT, -EINTR, -ERESTARTNOHAND,
 * -ERESTARTSYS, -EFAULT, -ENOSPC or -ENOMEM.
 */
long kchan_recv(struct kchan *ch, u8 __user *elems, size_t count,
		const struct kchan_wait_opts *opts)
{
	long ret = __kchan_recv(ch, elems, count, opts);

	trace_kchan_recv(ch, count, ret);
	return ret;
}

/* Complete every live waiter of @q as closed; returns how many. */
static u32 kchan_close_queue(struct kchan *ch, struct kchan_queue *q)
{
	struct kchan_waiter *w, *next;
	u32 woken = 0;

	list_for_each_entry_safe(w, next, &q->list, node) {
		if (kchan_claim(ch, w)) {
			kchan_complete(ch, w, KCHAN_CLOSED);
			woken++;
		}
	}
	return woken;
}

/**
 * kchan_close() - close the channel (Go's close(ch))
 * @ch: the channel
 *
 * Completes every blocked sender (they fail with -EPIPE, their elements
 * are not delivered) and every blocked receiver (they see "closed").
 * Elements already queued stay receivable.
 *
 * Return: 0, -EPIPE if the channel was already closed, or -EINTR if a
 * fatal signal arrived while waiting for the lock.
 */
int kchan_close(struct kchan *ch)
{
	u32 woken = 0;
	int ret = -EPIPE;

	if (mutex_lock_killable(&ch->lock))
		return -EINTR;
	if (!ch->closed) {
		WRITE_ONCE(ch->closed, true);
		if (ch->shr)
			kchan_shring_set_closed(ch->shr);
		woken = kchan_close_queue(ch, &ch->sendq) +
			kchan_close_queue(ch, &ch->recvq);
		ret = 0;
	}
	kchan_unlock_wake(ch);
	trace_kchan_close(ch, ret, woken);
	return ret;
}

/**
 * kchan_release_returned() - free the elements given back by receivers
 * @ch: a channel that no task can reach any more
 */
void kchan_release_returned(struct kchan *ch)
{
	struct kchan_msg *msg, *next;

	list_for_each_entry_safe(msg, next, &ch->returned, node)
		kchan_msg_free(msg);
	INIT_LIST_HEAD(&ch->returned);
	ch->nr_returned = 0;
}
