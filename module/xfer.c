// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: moving elements - send, receive, close and the blocking rules.
 *
 * This file owns the channel's state machine.  Every function that looks at
 * or changes a channel holds struct kchan.lock (see kchan.h for what it
 * guards); none sleeps with it held except to copy user memory or allocate.
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
 * before anything is committed, and a receiver copies out of the ring or a
 * sender's message before either is consumed.  The one element that is
 * committed before the copy out - one handed to a blocked receiver - is
 * given back to the front of the channel (struct kchan.returned) if the
 * receiver's copy fails.
 *
 * Completing a waiter follows ipc/mqueue.c's pipelined send: pin the task,
 * then publish the waiter's final state with smp_store_release(); the
 * waiter may return as soon as it sees that state, so the completer never
 * touches it afterwards, only the pinned task, which it wakes.  (wake_q
 * would defer the wake-up past the unlock, but it is not exported to
 * modules; a waiter completed with a single element returns without
 * taking the lock again, so waking it under the lock costs no contention.)
 *
 * Known limits of the fault path, left for later: elements given back by
 * two receivers that fault at the same time may come out in either order,
 * and one given back after the channel closed and drained is received
 * after a receiver already saw "closed".
 */
#include <linux/hrtimer.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "kchan.h"

/* Result of one step of a send or receive that could not move an element. */
#define KCHAN_WOULD_BLOCK	(-EAGAIN)

static struct kchan_msg *kchan_msg_alloc(const struct kchan *ch)
{
	struct kchan_msg *msg;

	msg = kvmalloc(struct_size(msg, data, ch->ring.elem_size),
		       GFP_KERNEL_ACCOUNT);
	if (msg)
		INIT_LIST_HEAD(&msg->node);
	return msg;
}

static void kchan_wake_pollers(struct kchan *ch, __poll_t mask)
{
	/* Pairs with the smp_mb() after poll_wait() in kchan_chan_poll(). */
	if (wq_has_sleeper(&ch->poll_wq))
		wake_up_interruptible_poll(&ch->poll_wq, mask);
}

/*
 * Dequeue @w with its final @state and wake its task.  After the release
 * store the waiter's owner may return: @w is not touched again.
 */
static void kchan_complete(struct kchan *ch, struct kchan_waiter *w,
			   u32 *nr, int state)
{
	struct task_struct *task = w->task;

	lockdep_assert_held(&ch->lock);

	list_del(&w->node);
	WRITE_ONCE(*nr, *nr - 1);
	get_task_struct(task);
	/* Pairs with smp_load_acquire() in kchan_wait(). */
	smp_store_release(&w->state, state);
	wake_up_process(task);
	put_task_struct(task);
}

static struct kchan_waiter *kchan_first_waiter(struct list_head *queue)
{
	return list_first_entry_or_null(queue, struct kchan_waiter, node);
}

/*
 * Move one element from @src into the channel without blocking.
 * Returns 1, -EPIPE, -EFAULT or KCHAN_WOULD_BLOCK.
 */
static int kchan_send_step(struct kchan *ch, const u8 __user *src)
{
	u32 esz = ch->ring.elem_size;
	struct kchan_waiter *w;

	lockdep_assert_held(&ch->lock);

	if (ch->closed)
		return -EPIPE;

	w = kchan_first_waiter(&ch->recvq);
	if (w) {
		if (copy_from_user(w->msg->data, src, esz))
			return -EFAULT;
		kchan_complete(ch, w, &ch->nr_recvq, KCHAN_DONE);
		return 1;
	}

	if (kchan_ring_full(&ch->ring))
		return KCHAN_WOULD_BLOCK;
	if (copy_from_user(kchan_ring_back(&ch->ring), src, esz))
		return -EFAULT;
	kchan_ring_push(&ch->ring);
	return 1;
}

/*
 * Move one element out of the channel into @dst without blocking.
 * Returns 1, 0 when closed and drained, -EFAULT or KCHAN_WOULD_BLOCK.
 */
static int kchan_recv_step(struct kchan *ch, u8 __user *dst)
{
	struct kchan_ring *ring = &ch->ring;
	u32 esz = ring->elem_size;
	struct kchan_waiter *w;
	struct kchan_msg *msg;

	lockdep_assert_held(&ch->lock);

	msg = list_first_entry_or_null(&ch->returned, struct kchan_msg, node);
	if (msg) {
		if (copy_to_user(dst, msg->data, esz))
			return -EFAULT;
		list_del(&msg->node);
		WRITE_ONCE(ch->nr_returned, ch->nr_returned - 1);
		kvfree(msg);
		return 1;
	}

	w = kchan_first_waiter(&ch->sendq);
	if (!kchan_ring_empty(ring)) {
		if (copy_to_user(dst, kchan_ring_front(ring), esz))
			return -EFAULT;
		kchan_ring_pop(ring);
		if (w) {
			memcpy(kchan_ring_back(ring), w->msg->data, esz);
			kchan_ring_push(ring);
			kchan_complete(ch, w, &ch->nr_sendq, KCHAN_DONE);
		}
		return 1;
	}

	if (w) {
		if (copy_to_user(dst, w->msg->data, esz))
			return -EFAULT;
		kchan_complete(ch, w, &ch->nr_sendq, KCHAN_DONE);
		return 1;
	}

	return ch->closed ? 0 : KCHAN_WOULD_BLOCK;
}

/* May the caller block?  0, -EAGAIN or -ETIMEDOUT. */
static int kchan_may_block(const struct kchan_wait_opts *opts)
{
	if (opts->nonblock)
		return -EAGAIN;
	if (opts->has_deadline && ktime_compare(ktime_get(), opts->deadline) >= 0)
		return -ETIMEDOUT;
	return 0;
}

/*
 * Queue @w on @queue, drop the lock and sleep until @w is completed, the
 * deadline passes or a signal arrives.  Returns the waiter's final state
 * (KCHAN_DONE or KCHAN_CLOSED), or -ETIMEDOUT, -ERESTARTNOHAND or
 * -ERESTARTSYS once
 * @w has been taken off the queue unfinished.  @ready is the poll event
 * that a queued waiter of this kind makes true for the other side.
 */
static int kchan_wait(struct kchan *ch, struct kchan_waiter *w,
		      struct list_head *queue, u32 *nr, __poll_t ready,
		      const struct kchan_wait_opts *opts)
{
	ktime_t deadline = opts->deadline;
	int state, err = 0;

	lockdep_assert_held(&ch->lock);

	w->task = current;
	w->state = KCHAN_WAITING;
	list_add_tail(&w->node, queue);
	WRITE_ONCE(*nr, *nr + 1);
	mutex_unlock(&ch->lock);
	kchan_wake_pollers(ch, ready);

	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		/* Pairs with smp_store_release() in kchan_complete(). */
		state = smp_load_acquire(&w->state);
		if (state != KCHAN_WAITING)
			break;
		if (signal_pending(current)) {
			/*
			 * A signal whose handler runs gives -EINTR to a timed
			 * call and restarts an untimed one under SA_RESTART.
			 * Without a handler (stop, freezer, ptrace) both are
			 * restarted: the deadline is absolute, so it does not
			 * drift.
			 */
			err = opts->has_deadline ? -ERESTARTNOHAND : -ERESTARTSYS;
			break;
		}
		if (!opts->has_deadline) {
			schedule();
		} else if (!schedule_hrtimeout_range(&deadline,
						     current->timer_slack_ns,
						     HRTIMER_MODE_ABS)) {
			err = -ETIMEDOUT;
			break;
		}
	}
	__set_current_state(TASK_RUNNING);
	if (!err)
		return state;

	/*
	 * Signal or timeout: a completer may have finished us meanwhile.  The
	 * lock decides; it cannot be given up here, or the waiter (on our
	 * stack) would stay queued.
	 */
	mutex_lock(&ch->lock);
	state = w->state;
	if (state == KCHAN_WAITING) {
		list_del(&w->node);
		WRITE_ONCE(*nr, *nr - 1);
	}
	mutex_unlock(&ch->lock);
	return state == KCHAN_WAITING ? err : state;
}

/*
 * Block until the element at @src has been taken.  Called with the lock
 * held; returns with it dropped.  Returns 1 or a negative errno.
 */
static int kchan_send_block(struct kchan *ch, const u8 __user *src,
			    const struct kchan_wait_opts *opts)
{
	struct kchan_waiter w;
	int ret;

	ret = kchan_may_block(opts);
	if (ret)
		goto out_unlock;

	w.msg = kchan_msg_alloc(ch);
	if (!w.msg) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	if (copy_from_user(w.msg->data, src, ch->ring.elem_size)) {
		ret = -EFAULT;
		goto out_free_msg;
	}

	ret = kchan_wait(ch, &w, &ch->sendq, &ch->nr_sendq,
			 EPOLLIN | EPOLLRDNORM, opts);
	if (ret == KCHAN_DONE)
		ret = 1;
	else if (ret == KCHAN_CLOSED)
		ret = -EPIPE;
	kvfree(w.msg);
	return ret;

out_free_msg:
	kvfree(w.msg);
out_unlock:
	mutex_unlock(&ch->lock);
	return ret;
}

/*
 * A receiver was handed @msg but could not copy it out: put the element
 * back at the front of the channel, or hand it on to the next blocked
 * receiver.  Takes ownership of @msg.
 */
static void kchan_give_back(struct kchan *ch, struct kchan_msg *msg)
{
	struct kchan_waiter *w;

	mutex_lock(&ch->lock);
	w = kchan_first_waiter(&ch->recvq);
	if (w) {
		memcpy(w->msg->data, msg->data, ch->ring.elem_size);
		kchan_complete(ch, w, &ch->nr_recvq, KCHAN_DONE);
	} else {
		list_add_tail(&msg->node, &ch->returned);
		WRITE_ONCE(ch->nr_returned, ch->nr_returned + 1);
		msg = NULL;
	}
	mutex_unlock(&ch->lock);
	kchan_wake_pollers(ch, EPOLLIN | EPOLLRDNORM);
	kvfree(msg);
}

/*
 * Block until an element arrives in @dst or the channel closes.  Called
 * with the lock held; returns with it dropped.  Returns 1, 0 (closed) or a
 * negative errno.
 */
static int kchan_recv_block(struct kchan *ch, u8 __user *dst,
			    const struct kchan_wait_opts *opts)
{
	struct kchan_waiter w;
	int ret;

	ret = kchan_may_block(opts);
	if (ret) {
		mutex_unlock(&ch->lock);
		return ret;
	}

	w.msg = kchan_msg_alloc(ch);
	if (!w.msg) {
		mutex_unlock(&ch->lock);
		return -ENOMEM;
	}

	ret = kchan_wait(ch, &w, &ch->recvq, &ch->nr_recvq,
			 EPOLLOUT | EPOLLWRNORM, opts);
	if (ret == KCHAN_DONE) {
		if (copy_to_user(dst, w.msg->data, ch->ring.elem_size)) {
			kchan_give_back(ch, w.msg);
			return -EFAULT;
		}
		ret = 1;
	} else if (ret == KCHAN_CLOSED) {
		ret = 0;
	}
	kvfree(w.msg);
	return ret;
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
 * -EINTR, -ERESTARTNOHAND, -ERESTARTSYS, -EFAULT or -ENOMEM if none was.
 */
long kchan_send(struct kchan *ch, const u8 __user *elems, size_t count,
		const struct kchan_wait_opts *opts)
{
	u32 esz = ch->ring.elem_size;
	size_t sent = 0;
	int ret;

	if (mutex_lock_killable(&ch->lock))
		return -EINTR;

	ret = kchan_send_step(ch, elems);
	if (ret == KCHAN_WOULD_BLOCK) {
		ret = kchan_send_block(ch, elems, opts);
		if (ret < 0 || count == 1 || mutex_lock_killable(&ch->lock))
			goto out_woken;
	} else if (ret < 0) {
		mutex_unlock(&ch->lock);
		return ret;
	}

	for (sent = 1; sent < count; sent++) {
		if (kchan_send_step(ch, elems + sent * esz) < 0)
			break;
	}
	mutex_unlock(&ch->lock);
	kchan_wake_pollers(ch, EPOLLIN | EPOLLRDNORM);
	return sent;

out_woken:
	if (ret > 0)
		kchan_wake_pollers(ch, EPOLLIN | EPOLLRDNORM);
	return ret;
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
 * -ERESTARTSYS, -EFAULT or
 * -ENOMEM.
 */
long kchan_recv(struct kchan *ch, u8 __user *elems, size_t count,
		const struct kchan_wait_opts *opts)
{
	u32 esz = ch->ring.elem_size;
	size_t got;
	int ret;

	if (mutex_lock_killable(&ch->lock))
		return -EINTR;

	ret = kchan_recv_step(ch, elems);
	if (ret == KCHAN_WOULD_BLOCK) {
		ret = kchan_recv_block(ch, elems, opts);
		if (ret <= 0 || count == 1 || mutex_lock_killable(&ch->lock))
			goto out_woken;
	} else if (ret <= 0) {
		mutex_unlock(&ch->lock);
		return ret;
	}

	for (got = 1; got < count; got++) {
		if (kchan_recv_step(ch, elems + got * esz) <= 0)
			break;
	}
	mutex_unlock(&ch->lock);
	kchan_wake_pollers(ch, EPOLLOUT | EPOLLWRNORM);
	return got;

out_woken:
	if (ret > 0)
		kchan_wake_pollers(ch, EPOLLOUT | EPOLLWRNORM);
	return ret;
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
	struct kchan_waiter *w, *next;

	if (mutex_lock_killable(&ch->lock))
		return -EINTR;
	if (ch->closed) {
		mutex_unlock(&ch->lock);
		return -EPIPE;
	}
	WRITE_ONCE(ch->closed, true);
	list_for_each_entry_safe(w, next, &ch->sendq, node)
		kchan_complete(ch, w, &ch->nr_sendq, KCHAN_CLOSED);
	list_for_each_entry_safe(w, next, &ch->recvq, node)
		kchan_complete(ch, w, &ch->nr_recvq, KCHAN_CLOSED);
	mutex_unlock(&ch->lock);

	kchan_wake_pollers(ch, EPOLLIN | EPOLLRDNORM | EPOLLOUT |
			   EPOLLWRNORM | EPOLLHUP);
	return 0;
}

/**
 * kchan_poll_mask() - the channel's poll events now
 * @ch: the channel
 *
 * Readable when a receive would not block (elements queued, a sender
 * blocked, or closed); writable when a send would not block (room in the
 * ring, a receiver blocked, or closed: the send fails at once with EPIPE);
 * EPOLLHUP once closed.  Reads the state locklessly, so the answer may be
 * stale by the time the caller sees it, as with any poll.
 *
 * Return: the EPOLL* mask.
 */
__poll_t kchan_poll_mask(struct kchan *ch)
{
	__poll_t mask = 0;
	u32 len;

	if (READ_ONCE(ch->closed))
		return EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLWRNORM | EPOLLHUP;

	len = kchan_ring_len(&ch->ring);
	if (len || READ_ONCE(ch->nr_returned) || READ_ONCE(ch->nr_sendq))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (len < ch->ring.capacity || READ_ONCE(ch->nr_recvq))
		mask |= EPOLLOUT | EPOLLWRNORM;
	return mask;
}

/**
 * kchan_release_returned() - free the elements given back by receivers
 * @ch: a channel that no task can reach any more
 */
void kchan_release_returned(struct kchan *ch)
{
	struct kchan_msg *msg, *next;

	list_for_each_entry_safe(msg, next, &ch->returned, node)
		kvfree(msg);
	INIT_LIST_HEAD(&ch->returned);
	ch->nr_returned = 0;
}
