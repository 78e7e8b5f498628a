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
 * committed before the copy out - one handed to a blocked receiver, or
 * taken from a claimed sender - is given back to the front of the channel
 * (struct kchan.returned) if the receiver's copy fails.
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
#include <linux/minmax.h>
#include <linux/uaccess.h>

#include "kchan.h"
#include "trace.h"

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
	struct kchan_waiter *w;

	lockdep_assert_held(&ch->lock);

	if (ch->closed)
		return -EPIPE;

	/* Fill the receiver's buffer first: a fault then claims nothing. */
	while ((w = kchan_first_waiter(ch, false))) {
		if (copy_from_user(w->msg->data, src, esz))
			return -EFAULT;
		if (kchan_claim(ch, w)) {
			kchan_complete(ch, w, KCHAN_DONE);
			ch->sends++;
			ch->recvs++;
			return 1;
		}
	}

	if (kchan_ring_full(&ch->ring))
		return KCHAN_WOULD_BLOCK;
	if (copy_from_user(kchan_ring_back(&ch->ring), src, esz))
		return -EFAULT;
	kchan_ring_push(&ch->ring);
	ch->sends++;
	return 1;
}

/* Queue @msg at the front of the channel; the channel takes it over. */
static void kchan_return_msg(struct kchan *ch, struct kchan_msg *msg)
{
	list_add_tail(&msg->node, &ch->returned);
	WRITE_ONCE(ch->nr_returned, ch->nr_returned + 1);
}

/**
 * kchan_recv_step() - move one element out of the channel without blocking
 * @ch: the channel, locked
 * @dst: where the element goes in user memory; untouched unless 1 is
 *	returned or a claimed sender's element faulted
 *
 * Return: 1, 0 when closed and drained, -EFAULT or %KCHAN_WOULD_BLOCK.
 */
int kchan_recv_step(struct kchan *ch, u8 __user *dst)
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
		kchan_msg_free(ch, msg);
		ch->recvs++;
		return 1;
	}

	if (!kchan_ring_empty(ring)) {
		if (copy_to_user(dst, kchan_ring_front(ring), esz))
			return -EFAULT;
		kchan_ring_pop(ring);
		ch->recvs++;
		/* A slot is free: the first blocked sender's element takes it. */
		w = kchan_claim_first(ch, true);
		if (w) {
			memcpy(kchan_ring_back(ring), w->msg->data, esz);
			kchan_ring_push(ring);
			kchan_complete(ch, w, KCHAN_DONE);
			ch->sends++;
		}
		return 1;
	}

	/* Unbuffered: take a blocked sender's element directly. */
	w = kchan_claim_first(ch, true);
	if (w) {
		int ret = 1;

		if (copy_to_user(dst, w->msg->data, esz)) {
			/* The sender is claimed, so its send happened. */
			kchan_return_msg(ch, w->msg);
			w->msg = NULL;
			ret = -EFAULT;
		} else {
			ch->recvs++;
		}
		kchan_complete(ch, w, KCHAN_DONE);
		ch->sends++;
		return ret;
	}

	return ch->closed ? 0 : KCHAN_WOULD_BLOCK;
}

/*
 * Queue @w (its msg set) on @ch, drop the lock and sleep.  Returns the
 * waiter's final state (KCHAN_DONE or KCHAN_CLOSED) or a negative errno
 * once @w is off the queue unfinished.
 */
static int kchan_block(struct kchan *ch, struct kchan_waiter *w,
		       const struct kchan_wait_opts *opts)
{
	struct kchan_selector sel = {
		.winner = KCHAN_SEL_OPEN,
		.waiters = w,
	};
	int ret;

	lockdep_assert_held(&ch->lock);

	w->task = current;
	w->sel = &sel;
	w->index = 0;
	w->state = KCHAN_WAITING;
	kchan_enqueue(ch, w);
	if (w->sender)
		ch->send_blocks++;
	else
		ch->recv_blocks++;
	mutex_unlock(&ch->lock);
	kchan_wake_pollers(ch, w->sender ? EPOLLIN | EPOLLRDNORM :
					   EPOLLOUT | EPOLLWRNORM);

	ret = kchan_sleep(&sel, opts);
	if (ret >= 0)
		return w->state;	/* the completer recorded the wait */

	/* Aborted: nobody can complete @w any more, but it may be queued. */
	mutex_lock(&ch->lock);
	if (!list_empty(&w->node))
		kchan_dequeue(ch, w);
	kchan_record_wait(ch, w, kchan_abort_reason(ret));
	if (ret == -ETIMEDOUT)
		ch->timeouts++;
	mutex_unlock(&ch->lock);
	return ret;
}

/*
 * Block until the element at @src has been taken.  Called with the lock
 * held; returns with it dropped.  Returns 1 or a negative errno.
 */
static int kchan_send_block(struct kchan *ch, const u8 __user *src,
			    const struct kchan_wait_opts *opts)
{
	struct kchan_waiter w = { .sender = true };
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

	ret = kchan_block(ch, &w, opts);
	if (ret == KCHAN_DONE)
		ret = 1;
	else if (ret == KCHAN_CLOSED)
		ret = -EPIPE;
	kchan_msg_free(ch, w.msg);
	return ret;

out_free_msg:
	kchan_msg_free(ch, w.msg);
out_unlock:
	mutex_unlock(&ch->lock);
	return ret;
}

/**
 * kchan_give_back() - return an element a receiver could not copy out
 * @ch: the channel, not locked
 * @msg: the element; the channel takes it over
 *
 * Hands the element to the next blocked receiver, or puts it at the front
 * of the channel.
 */
void kchan_give_back(struct kchan *ch, struct kchan_msg *msg)
{
	struct kchan_waiter *w;

	mutex_lock(&ch->lock);
	w = kchan_claim_first(ch, false);
	if (w) {
		/* Counted as received once, by whoever handed it over. */
		memcpy(w->msg->data, msg->data, ch->ring.elem_size);
		kchan_complete(ch, w, KCHAN_DONE);
	} else {
		/* Not received after all: it is received again from here. */
		ch->recvs--;
		kchan_return_msg(ch, msg);
		msg = NULL;
	}
	mutex_unlock(&ch->lock);
	kchan_wake_pollers(ch, EPOLLIN | EPOLLRDNORM);
	kchan_msg_free(ch, msg);
}

/*
 * Block until an element arrives in @dst or the channel closes.  Called
 * with the lock held; returns with it dropped.  Returns 1, 0 (closed) or a
 * negative errno.
 */
static int kchan_recv_block(struct kchan *ch, u8 __user *dst,
			    const struct kchan_wait_opts *opts)
{
	struct kchan_waiter w = { .sender = false };
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

	ret = kchan_block(ch, &w, opts);
	if (ret == KCHAN_DONE) {
		if (copy_to_user(dst, w.msg->data, ch->ring.elem_size)) {
			kchan_give_back(ch, w.msg);
			return -EFAULT;
		}
		ret = 1;
	} else if (ret == KCHAN_CLOSED) {
		ret = 0;
	}
	kchan_msg_free(ch, w.msg);
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
	if (n == 1 || ch->closed || !list_empty(&ch->recvq))
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
	struct kchan_waiter *w;
	long ret, i;

	lockdep_assert_held(&ch->lock);
	if (n == 1 || !list_empty(&ch->returned) || kchan_ring_empty(ring))
		return kchan_recv_step(ch, dst);
	ret = kchan_ring_pop_user(ring, dst, n);
	if (ret > 0)
		ch->recvs += ret;
	for (i = 0; i < ret; i++) {
		w = kchan_claim_first(ch, true);
		if (!w)
			break;
		memcpy(kchan_ring_back(ring), w->msg->data, ring->elem_size);
		kchan_ring_push(ring);
		kchan_complete(ch, w, KCHAN_DONE);
		ch->sends++;
	}
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
		ret = kchan_send_block(ch, elems, opts);
		if (ret < 0 || count == 1 || mutex_lock_killable(&ch->lock))
			goto out_woken;
	} else if (ret < 0) {
		mutex_unlock(&ch->lock);
		return ret;
	}

	for (sent = ret; sent < count; sent += ret) {
		ret = kchan_send_run(ch, elems + sent * esz, count - sent);
		if (ret <= 0)
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
			goto out_woken;
	} else if (ret <= 0) {
		mutex_unlock(&ch->lock);
		return ret;
	}

	for (got = ret; got < count; got += ret) {
		ret = kchan_recv_run(ch, elems + got * esz, count - got);
		if (ret <= 0)
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
 * -ERESTARTSYS, -EFAULT or -ENOMEM.
 */
long kchan_recv(struct kchan *ch, u8 __user *elems, size_t count,
		const struct kchan_wait_opts *opts)
{
	long ret = __kchan_recv(ch, elems, count, opts);

	trace_kchan_recv(ch, count, ret);
	return ret;
}

/* Complete every live waiter of @queue as closed; returns how many. */
static u32 kchan_close_queue(struct kchan *ch, struct list_head *queue)
{
	struct kchan_waiter *w, *next;
	u32 woken = 0;

	list_for_each_entry_safe(w, next, queue, node) {
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
	if (ch->closed)
		goto out_unlock;
	WRITE_ONCE(ch->closed, true);
	woken = kchan_close_queue(ch, &ch->sendq) +
		kchan_close_queue(ch, &ch->recvq);
	ret = 0;
out_unlock:
	mutex_unlock(&ch->lock);
	trace_kchan_close(ch, ret, woken);
	if (!ret)
		kchan_wake_pollers(ch, EPOLLIN | EPOLLRDNORM | EPOLLOUT |
				   EPOLLWRNORM | EPOLLHUP);
	return ret;
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
		kchan_msg_free(ch, msg);
	INIT_LIST_HEAD(&ch->returned);
	ch->nr_returned = 0;
}
