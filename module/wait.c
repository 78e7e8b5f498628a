// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: waiters - queueing a blocked task on a channel, claiming and
 * completing it from another task, the sleep in between, and leaving.
 *
 * Every blocked operation is a select: a plain send or receive is a select
 * of one case.  Its waiters (one per case, each on one channel's sendq or
 * recvq) share a struct kchan_wait whose @winner decides, once, which case
 * proceeds:
 *
 * - A completer - a task that finds the waiter at the head of a queue
 *   while holding that channel's lock - first claims it with
 *   cmpxchg(winner, KCHAN_SEL_OPEN, index).  If the claim fails the
 *   waiter's select already proceeded elsewhere (or gave up), so the entry
 *   is stale: the completer drops it from the queue and looks at the next.
 * - Having claimed, the completer moves the element, dequeues the waiter,
 *   pins the task, publishes the waiter's final state with
 *   smp_store_release() and wakes the task.  The waiter's owner may return
 *   the moment it sees that state, so the completer does not touch the
 *   wait afterwards (ipc/mqueue.c's pipelined send does the same).  Between
 *   its claim and its publication a completer only works on kernel memory
 *   - an element it must copy from or to user memory is copied before the
 *   claim or after the publication (xfer.c) - so that window is short.
 * - The sleeper waits for its winner's state.  On a signal or timeout it
 *   claims its own wait as KCHAN_SEL_ABORTED; if that fails a completer is
 *   in the window above, and the sleeper waits, uninterruptibly but only
 *   that long, for the state it will publish: no case ever half-happens.
 *
 * Leaving: a wait lives on the heap and counts its references - its owner
 * and each queued waiter (struct kchan_wait.refs).  Whoever takes a waiter
 * off its queue drops that waiter's reference.  The owner normally takes
 * its waiters off itself, under each channel's lock; but a channel lock may
 * be held by a task stalled in a user copy for as long as user space
 * wants, so the owner takes it with mutex_lock_killable(), and when a fatal
 * signal interrupts that it simply leaves, its remaining waiters stale and
 * queued.  Whoever meets them at the head of a queue, or the channel's
 * destruction, drops them; the last reference frees the wait and the
 * elements its waiters parked.  A receiver that cannot copy out an
 * element it was handed gives it back (kchan_give_back()) - through a work
 * item when a fatal signal puts even that lock out of reach - so it is not
 * lost.  The same workqueue runs the calls of kchan_defer_call(): the
 * wake-ups a departed process owed its mapped channel's waiters, which
 * the mapping's teardown, under mmap_lock, cannot take the lock for.
 *
 * The queues, their counters and every waiter's list node are guarded by
 * the channel's lock; @winner is written only by cmpxchg().  (wake_q would
 * defer wake-ups past the unlock, but it is not exported to modules; a
 * completed waiter does not need the channel's lock to return, so waking it
 * under the lock costs no contention.)
 */
#include <linux/bitops.h>
#include <linux/hrtimer.h>
#include <linux/minmax.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "kchan.h"
#include "trace.h"

/**
 * kchan_wake_pollers() - wake poll/epoll waiters of an end
 * @end: the end, its channel locked (kchan_unlock_wake())
 * @mask: the events that are true now; nothing is woken for an empty mask
 */
void kchan_wake_pollers(struct kchan_end *end, __poll_t mask)
{
	/* Pairs with the smp_mb() after poll_wait() in kchan_chan_poll(). */
	if (mask && wq_has_sleeper(&end->poll_wq))
		wake_up_interruptible_poll(&end->poll_wq, mask);
}

/**
 * kchan_end_init() - set up an end
 * @end: the end
 * @ops: what its kind does
 * @ch: the channel whose lock guards it
 *
 * Its poll mask starts empty: the owner publishes the first one.
 */
void kchan_end_init(struct kchan_end *end, const struct kchan_end_ops *ops,
		    struct kchan *ch)
{
	end->ops = ops;
	end->ch = ch;
	end->ready = 0;
	init_waitqueue_head(&end->poll_wq);
	spin_lock_init(&end->sel_lock);
	INIT_LIST_HEAD(&end->sel_items);
}

/**
 * kchan_end_mask() - the poll mask an end published
 * @end: an end that publishes its mask in @ready whenever it changes
 *
 * Return: READ_ONCE(@end->ready).
 */
__poll_t kchan_end_mask(struct kchan_end *end)
{
	return READ_ONCE(end->ready);
}

/**
 * kchan_end_arm_nothing() - the arm of an end woken on every change
 * @end: the end
 */
void kchan_end_arm_nothing(struct kchan_end *end)
{
}

/**
 * kchan_queue_init() - an empty queue
 * @q: the queue
 */
void kchan_queue_init(struct kchan_queue *q)
{
	INIT_LIST_HEAD(&q->list);
	q->nr = 0;
	q->since = 0;
}

/**
 * kchan_wait_new() - a wait for a call about to block
 * @nr: its number of cases
 * @user: the budget to charge it to, or NULL
 *
 * Its waiters are set up for cases that are neither queued nor holding a
 * message; the caller sets each one's @sender (and @msg).  The calling task
 * owns the one reference.
 *
 * Return: the wait, or ERR_PTR(-ENOSPC) or ERR_PTR(-ENOMEM).
 */
struct kchan_wait *kchan_wait_new(u32 nr, struct kchan_user *user)
{
	struct kchan_wait *wait = kchan_wait_alloc(nr, user);

	if (!IS_ERR(wait))
		kchan_wait_init(wait);
	return wait;
}

/**
 * kchan_wait_init() - set up a wait just allocated
 * @wait: from kchan_wait_alloc() or kchan_wait1_alloc()
 *
 * As kchan_wait_new() describes.
 */
void kchan_wait_init(struct kchan_wait *wait)
{
	u32 i;

	wait->winner = KCHAN_SEL_OPEN;
	wait->abort_reason = KCHAN_WAKE_SIGNAL;
	refcount_set(&wait->refs, 1);
	wait->task = current;
	wait->pid = current->pid;	/* task_pid_nr(), without the call */
	for (i = 0; i < wait->nr; i++) {
		struct kchan_waiter *w = &wait->waiters[i];

		INIT_LIST_HEAD(&w->node);
		INIT_LIST_HEAD(&w->wqe.entry);
		w->wait = wait;
		w->index = i;
		w->state = KCHAN_WAITING;
		w->sender = false;
	}
}

/**
 * kchan_wait_put() - drop a reference to a wait
 * @wait: the wait; freed with its messages when this was the last reference
 */
void kchan_wait_put(struct kchan_wait *wait)
{
	if (refcount_dec_and_test(&wait->refs))
		kchan_wait_free(wait);
}

/**
 * kchan_enqueue() - queue a waiter at the tail of a queue
 * @ch: the channel the queue belongs to, locked
 * @q: the queue
 * @w: the waiter
 *
 * The queue holds a reference to @w's wait until @w is dequeued.
 */
void kchan_enqueue(struct kchan *ch, struct kchan_queue *q,
		   struct kchan_waiter *w)
{
	lockdep_assert_held(&ch->lock);
	refcount_inc(&w->wait->refs);
	w->queue = q;
	w->start = local_clock();
	if (list_empty(&q->list))
		WRITE_ONCE(q->since, w->start);
	list_add_tail(&w->node, &q->list);
	WRITE_ONCE(q->nr, q->nr + 1);
	trace_kchan_block(ch, w);
}

/* Take @w off its queue; its wait's reference is the caller's to drop. */
static void kchan_unqueue(struct kchan *ch, struct kchan_waiter *w)
{
	struct kchan_queue *q = w->queue;
	bool oldest = list_is_first(&w->node, &q->list);
	struct kchan_waiter *next;

	lockdep_assert_held(&ch->lock);
	list_del_init(&w->node);
	WRITE_ONCE(q->nr, q->nr - 1);
	if (oldest) {
		next = list_first_entry_or_null(&q->list, struct kchan_waiter,
						node);
		WRITE_ONCE(q->since, next ? next->start : 0);
	}
}

/* Why an uncompleted waiter of @wait is being taken off its queue. */
static enum kchan_wake_reason kchan_unqueue_reason(const struct kchan_wait *wait)
{
	/* Pairs with the cmpxchg() (a full barrier) in kchan_sleep(). */
	if (READ_ONCE(wait->winner) == KCHAN_SEL_ABORTED)
		return READ_ONCE(wait->abort_reason);
	return KCHAN_WAKE_ELSEWHERE;
}

/**
 * kchan_dequeue() - take an uncompleted waiter off its channel queue
 * @ch: the channel, locked
 * @w: a queued waiter whose wait did not proceed with it
 *
 * Records the wait (it ended without moving anything) and drops the
 * queue's reference to @w's wait, which may free it: the caller must not
 * touch @w afterwards unless it holds a reference of its own.  When @w was
 * the oldest, the queue's wait start moves to the next one.
 */
void kchan_dequeue(struct kchan *ch, struct kchan_waiter *w)
{
	kchan_unqueue(ch, w);
	kchan_record_wait(ch, w, kchan_unqueue_reason(w->wait));
	kchan_wait_put(w->wait);
}

/* --- Nudged waiters ------------------------------------------------------ */

/*
 * The entry of a nudged waiter on its end's poll_wq: called with that
 * queue's lock held.  Claims the waiter's call, as a completer would, and
 * completes it as KCHAN_RETRY; it unlinks itself first, and does not touch
 * the waiter after publishing the state (see kchan_complete()).  The event
 * the waiter waits for is in @private.
 */
static int kchan_nudge_wake(wait_queue_entry_t *wqe, unsigned int mode,
			    int sync, void *key)
{
	struct kchan_waiter *w = container_of(wqe, struct kchan_waiter, wqe);
	__poll_t events = (__force __poll_t)(uintptr_t)wqe->private;
	struct kchan_wait *wait = w->wait;
	struct task_struct *task;

	if (key && !(key_to_poll(key) & events))
		return 0;
	if (cmpxchg(&wait->winner, KCHAN_SEL_OPEN, w->index) != KCHAN_SEL_OPEN)
		return 0;
	list_del_init(&wqe->entry);
	task = wait->task;
	get_task_struct(task);
	/* Pairs with smp_load_acquire() in kchan_sleep(). */
	smp_store_release(&w->state, KCHAN_RETRY);
	wake_up_process(task);
	put_task_struct(task);
	return 0;
}

/**
 * kchan_nudge_enqueue() - make a waiter wait for an end without handoff
 * @end: the end, its channel locked
 * @w: the waiter
 * @events: what it waits for (EPOLLIN for a receive, EPOLLOUT for a send)
 *
 * The waiter joins the end's poll_wq; the end's next wake-up with @events
 * completes it as %KCHAN_RETRY, and its call tries again.  It needs no
 * channel lock to leave (kchan_nudge_dequeue()): its owner can always take
 * it off, so it takes no reference on the wait.
 */
void kchan_nudge_enqueue(struct kchan_end *end, struct kchan_waiter *w,
			 __poll_t events)
{
	lockdep_assert_held(&end->ch->lock);
	init_waitqueue_func_entry(&w->wqe, kchan_nudge_wake);
	w->wqe.private = (void *)(__force uintptr_t)events;
	w->start = local_clock();
	trace_kchan_block(end->ch, w);
	add_wait_queue(&end->poll_wq, &w->wqe);
	end->ops->arm(end);
}

/**
 * kchan_nudge_count() - count the nudged waiters queued on an end
 * @end: the end
 * @senders: out: those waiting to send
 * @receivers: out: those waiting to receive
 *
 * A walk of poll_wq under its lock, for %KCHAN_IOC_INFO: nudged waiters
 * are not counted as they come and go, since a killed one leaves without
 * the channel lock (kchan_abandon()).  Pollers and selector cases on the
 * same queue are not waiters and are skipped.
 */
void kchan_nudge_count(struct kchan_end *end, u32 *senders, u32 *receivers)
{
	wait_queue_entry_t *wqe;
	unsigned long flags;

	*senders = 0;
	*receivers = 0;
	spin_lock_irqsave(&end->poll_wq.lock, flags);
	list_for_each_entry(wqe, &end->poll_wq.head, entry) {
		if (wqe->func != kchan_nudge_wake)
			continue;
		if (container_of(wqe, struct kchan_waiter, wqe)->sender)
			(*senders)++;
		else
			(*receivers)++;
	}
	spin_unlock_irqrestore(&end->poll_wq.lock, flags);
}

/**
 * kchan_nudge_dequeue() - take a nudged waiter off its end
 * @end: the end
 * @w: a waiter kchan_nudge_enqueue() queued
 *
 * Return: true if it was still queued (nobody nudged it).
 */
bool kchan_nudge_dequeue(struct kchan_end *end, struct kchan_waiter *w)
{
	unsigned long flags;
	bool queued;

	spin_lock_irqsave(&end->poll_wq.lock, flags);
	queued = !list_empty(&w->wqe.entry);
	if (queued)
		list_del_init(&w->wqe.entry);
	spin_unlock_irqrestore(&end->poll_wq.lock, flags);
	return queued;
}

/**
 * kchan_abandon() - leave an end whose channel lock a fatal signal put out
 *	of reach
 * @end: the end
 * @w: a waiter its owner queued there, maybe taken off since
 *
 * A nudged waiter (an end without handoff) holds no reference on its
 * wait, so it must not stay: it is taken off, which needs no channel lock.
 * A waiter on a handoff queue stays, stale, with its reference, for
 * whoever meets it to drop (see above).
 */
void kchan_abandon(struct kchan_end *end, struct kchan_waiter *w)
{
	if (!end->ops->handoff)
		kchan_nudge_dequeue(end, w);
}

/**
 * kchan_drop_queue() - drop the waiters left on a queue being destroyed
 * @ch: the channel the queue belongs to, locked; no task can reach it
 * @q: the queue; only waiters whose owners left them (killed while
 *	waiting for a lock) can be left, all stale
 */
void kchan_drop_queue(struct kchan *ch, struct kchan_queue *q)
{
	struct kchan_waiter *w, *next;

	list_for_each_entry_safe(w, next, &q->list, node) {
		WARN_ON_ONCE(READ_ONCE(w->wait->winner) == KCHAN_SEL_OPEN);
		kchan_dequeue(ch, w);
	}
}

/**
 * kchan_drop_waiters() - drop the waiters left on a channel being destroyed
 * @ch: a channel no task can reach any more
 *
 * Only waiters whose owners left them (killed while waiting for a lock) can
 * be left; the channel lock is not needed, but lockdep wants it.
 */
void kchan_drop_waiters(struct kchan *ch)
{
	mutex_lock(&ch->lock);
	kchan_drop_queue(ch, &ch->sendq);
	kchan_drop_queue(ch, &ch->recvq);
	mutex_unlock(&ch->lock);
}

/**
 * kchan_first_waiter() - the oldest waiter of a queue whose select is open
 * @ch: the channel the queue belongs to, locked
 * @q: the queue
 *
 * Drops stale entries found on the way.  The waiter returned may still be
 * claimed by someone else before the caller claims it.
 *
 * Return: the waiter, or NULL.
 */
struct kchan_waiter *kchan_first_waiter(struct kchan *ch, struct kchan_queue *q)
{
	struct kchan_waiter *w;

	lockdep_assert_held(&ch->lock);
	while ((w = list_first_entry_or_null(&q->list, struct kchan_waiter,
					     node))) {
		if (READ_ONCE(w->wait->winner) == KCHAN_SEL_OPEN)
			return w;
		kchan_dequeue(ch, w);
	}
	return NULL;
}

/**
 * kchan_has_partner() - whether a queue holds a waiter that a case of
 * another call could complete
 * @ch: the channel the queue belongs to, locked
 * @q: the queue
 * @self: a wait whose own waiters do not count (a select never proceeds
 *	with itself, as in Go)
 *
 * Drops stale entries found on the way, as kchan_first_waiter() does.
 *
 * Return: true if such a waiter is queued.
 */
bool kchan_has_partner(struct kchan *ch, struct kchan_queue *q,
		       const struct kchan_wait *self)
{
	struct kchan_waiter *w, *next;

	lockdep_assert_held(&ch->lock);
	list_for_each_entry_safe(w, next, &q->list, node) {
		if (w->wait == self)
			continue;
		if (READ_ONCE(w->wait->winner) == KCHAN_SEL_OPEN)
			return true;
		kchan_dequeue(ch, w);
	}
	return false;
}

/**
 * kchan_claim() - make @w the case its select performs
 * @ch: @w's channel, locked
 * @w: a queued waiter
 *
 * On success the caller must complete @w before dropping the lock.  On
 * failure @w is stale and has been dropped from its queue.
 *
 * Return: true if claimed.
 */
bool kchan_claim(struct kchan *ch, struct kchan_waiter *w)
{
	lockdep_assert_held(&ch->lock);
	if (cmpxchg(&w->wait->winner, KCHAN_SEL_OPEN, w->index) == KCHAN_SEL_OPEN)
		return true;
	kchan_dequeue(ch, w);
	return false;
}

/**
 * kchan_claim_first() - claim the oldest waiter of a queue that can be
 * @ch: the channel the queue belongs to, locked
 * @q: the queue
 *
 * Return: the claimed waiter, which the caller must complete before
 * dropping the lock, or NULL.
 */
struct kchan_waiter *kchan_claim_first(struct kchan *ch, struct kchan_queue *q)
{
	struct kchan_waiter *w;

	while ((w = kchan_first_waiter(ch, q)))
		if (kchan_claim(ch, w))
			return w;
	return NULL;
}

/**
 * kchan_complete() - finish a claimed waiter and wake its task
 * @ch: the waiter's channel, locked
 * @w: the claimed waiter; not touched after its state is published
 * @state: %KCHAN_DONE or %KCHAN_CLOSED
 */
void kchan_complete(struct kchan *ch, struct kchan_waiter *w, int state)
{
	struct kchan_wait *wait = w->wait;
	struct task_struct *task = wait->task;

	kchan_unqueue(ch, w);
	kchan_record_wait(ch, w, state == KCHAN_DONE ? KCHAN_WAKE_DONE :
						      KCHAN_WAKE_CLOSED);
	/*
	 * Not the last reference: the owner, which has not given up (the
	 * claim succeeded), holds its own until it sees the state below.
	 */
	kchan_wait_put(wait);
	get_task_struct(task);
	/* Pairs with smp_load_acquire() in kchan_sleep(). */
	smp_store_release(&w->state, state);
	wake_up_process(task);
	put_task_struct(task);
}

/**
 * kchan_may_block() - whether a call may block at all
 * @opts: the call's blocking options
 *
 * Return: 0, -EAGAIN (non-blocking) or -ETIMEDOUT (deadline passed).
 */
int kchan_may_block(const struct kchan_wait_opts *opts)
{
	if (opts->nonblock)
		return -EAGAIN;
	if (opts->has_deadline && ktime_compare(ktime_get(), opts->deadline) >= 0)
		return -ETIMEDOUT;
	return 0;
}

/**
 * kchan_may_retry() - whether a call whose step failed may start over
 * @opts: the call's blocking options
 *
 * A step may fail although its channel looked ready a moment before: a
 * mapped ring's words change under the channel lock, written by user
 * space (Documentation/design/fastpath.rst, "Trust"), and a process that
 * scribbles over them can make the look and the step disagree for as long
 * as it likes.  A call that starts over must still end by its deadline
 * and answer signals, and it yields the CPU.
 *
 * Return: 0, -ETIMEDOUT (deadline passed), or -ERESTARTNOHAND or
 * -ERESTARTSYS (a signal is pending), as kchan_schedule() returns them.
 */
int kchan_may_retry(const struct kchan_wait_opts *opts)
{
	if (signal_pending(current))
		return opts->has_deadline ? -ERESTARTNOHAND : -ERESTARTSYS;
	if (opts->has_deadline && ktime_compare(ktime_get(), opts->deadline) >= 0)
		return -ETIMEDOUT;
	cond_resched();
	return 0;
}

/* The published state of @wait's winner, or KCHAN_WAITING. */
static int kchan_winner_state(struct kchan_wait *wait, int *winner)
{
	*winner = READ_ONCE(wait->winner);
	if (*winner < 0)
		return KCHAN_WAITING;
	/* Pairs with smp_store_release() in kchan_complete(). */
	return smp_load_acquire(&wait->waiters[*winner].state);
}

/*
 * A completer claimed @wait's case @winner just as the sleeper gave up; it
 * holds that case's channel lock, does only kernel work before it
 * publishes (see the top of this file) and wakes the sleeper then.  The
 * sleeper must not leave before: the completer may still touch the wait's
 * waiter.  Uninterruptible, but for that short window only.
 */
static void kchan_await_publish(struct kchan_wait *wait, int winner)
{
	for (;;) {
		set_current_state(TASK_UNINTERRUPTIBLE);
		/* Pairs with smp_store_release() in kchan_complete(). */
		if (smp_load_acquire(&wait->waiters[winner].state) != KCHAN_WAITING)
			break;
		schedule();
	}
	__set_current_state(TASK_RUNNING);
}

/**
 * kchan_schedule() - sleep once, as a blocked call does
 * @opts: the call's deadline, if any
 *
 * Called in TASK_INTERRUPTIBLE, on a wait queue or as a waiter, after the
 * caller found its condition false.  A signal whose handler runs gives
 * -EINTR to a timed call and restarts an untimed one under SA_RESTART;
 * without a handler (stop, freezer, ptrace) both are restarted, and the
 * absolute deadline does not drift.
 *
 * Return: 0 when woken (the caller checks its condition again),
 * -ETIMEDOUT when the deadline passed, or -ERESTARTNOHAND or -ERESTARTSYS
 * when a signal is pending.
 */
int kchan_schedule(const struct kchan_wait_opts *opts)
{
	ktime_t deadline = opts->deadline;

	if (signal_pending(current))
		return opts->has_deadline ? -ERESTARTNOHAND : -ERESTARTSYS;
	if (!opts->has_deadline)
		schedule();
	else if (!schedule_hrtimeout_range(&deadline, current->timer_slack_ns,
					   HRTIMER_MODE_ABS))
		return -ETIMEDOUT;
	return 0;
}

/**
 * kchan_sleep() - wait until one of a call's waiters is completed
 * @wait: the wait, whose waiters are queued (it may have none: Go's
 *	empty select, which only a signal or the deadline ends)
 * @opts: the deadline, if any
 *
 * Called with no lock held.  Signals and the deadline end the sleep as
 * kchan_schedule() says; a fatal signal ends it like any other.
 *
 * Return: the index of the completed waiter, whose state is published; or
 * -ETIMEDOUT, -ERESTARTNOHAND or -ERESTARTSYS once @wait is aborted, so
 * that no waiter can be completed any more (some may still be queued).
 */
int kchan_sleep(struct kchan_wait *wait, const struct kchan_wait_opts *opts)
{
	int winner, err;

	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (kchan_winner_state(wait, &winner) != KCHAN_WAITING) {
			__set_current_state(TASK_RUNNING);
			return winner;
		}
		err = kchan_schedule(opts);
		if (err)
			break;
	}
	__set_current_state(TASK_RUNNING);

	/* Read by kchan_unqueue_reason() once the cmpxchg() publishes it. */
	WRITE_ONCE(wait->abort_reason, err == -ETIMEDOUT ? KCHAN_WAKE_TIMEOUT :
							   KCHAN_WAKE_SIGNAL);
	winner = cmpxchg(&wait->winner, KCHAN_SEL_OPEN, KCHAN_SEL_ABORTED);
	if (winner == KCHAN_SEL_OPEN)
		return err;
	kchan_await_publish(wait, winner);
	return winner;
}

/**
 * kchan_record_wait() - count one ended blocked wait in the histogram
 * @ch: the waiter's channel, locked
 * @w: the waiter, queued since @w->start
 * @reason: why the wait ended, for the kchan_wake tracepoint
 *
 * Every wait is recorded once, by whoever takes it off its queue: its
 * completer, its owner, or a task that drops it as stale.  Bucket i takes
 * [2^i, 2^(i+1)) ns; bucket 0 also takes 0 ns, and the last bucket
 * everything longer.  The clock is local_clock(), the scheduler's cheap
 * per-CPU clock: a wait queued on one CPU and ended on another may be off
 * by the CPUs' small drift, which a log2 histogram does not see (a
 * negative span counts as 0 ns).
 */
void kchan_record_wait(struct kchan *ch, const struct kchan_waiter *w,
		       enum kchan_wake_reason reason)
{
	s64 ns = local_clock() - w->start;
	unsigned int i = ns > 0 ? fls64(ns) - 1 : 0;

	lockdep_assert_held(&ch->lock);
	ch->wait_hist[min_t(unsigned int, i, KCHAN_STATS_HIST_BUCKETS - 1)]++;
	trace_kchan_wake(ch, w, max_t(s64, ns, 0), reason);
}

/**
 * kchan_block() - queue a call's one waiter on an end, unlock and sleep
 * @end: the end; its channel locked, unlocked on return
 * @wait: a wait of one case, its waiter's @sender (and message) set
 * @opts: the deadline, if any
 *
 * Return: the waiter's final state (%KCHAN_DONE, %KCHAN_CLOSED, or
 * %KCHAN_RETRY from an end without handoff), or a negative errno once the
 * waiter is off the queue unfinished - or, killed while waiting to take it
 * off, left on it for others to drop.
 */
int kchan_block(struct kchan_end *end, struct kchan_wait *wait,
		const struct kchan_wait_opts *opts)
{
	struct kchan_waiter *w = &wait->waiters[0];
	struct kchan *ch = end->ch;
	int ret;

	lockdep_assert_held(&ch->lock);

	end->ops->enqueue(end, w);
	if (w->sender)
		ch->send_blocks++;
	else
		ch->recv_blocks++;
	/* The waiter makes the other side ready for poll. */
	end->ops->unlock(end, true);

	ret = kchan_sleep(wait, opts);
	if (ret >= 0 && w->state != KCHAN_RETRY)
		return w->state;	/* the completer recorded the wait */

	/*
	 * Aborted, so nobody can complete @w any more, but it may be
	 * queued; or nudged, and its wait is still to be recorded.
	 */
	if (mutex_lock_killable(&ch->lock)) {
		kchan_abandon(end, w);
		return ret >= 0 ? w->state : -EINTR;
	}
	end->ops->dequeue(end, w);
	if (ret == -ETIMEDOUT)
		ch->timeouts++;
	end->ops->unlock(end, false);
	return ret >= 0 ? w->state : ret;
}

/* --- Giving an element back and other deferred work --------------------- */

static struct workqueue_struct *kchan_give_back_wq;

/**
 * struct kchan_deferred_give_back - an element given back by a task that
 * could not take the channel lock
 * @work: on kchan_give_back_wq.
 * @ch: the channel, referenced.
 * @msg: the element.
 */
struct kchan_deferred_give_back {
	struct work_struct work;
	struct kchan *ch;
	struct kchan_msg *msg;
};

/* Hand @msg to the next blocked receiver, or put it at the front. */
static void __kchan_give_back(struct kchan *ch, struct kchan_msg *msg)
{
	struct kchan_waiter *w;

	w = kchan_claim_first(ch, &ch->recvq);
	if (w) {
		/* Counted as received once, by whoever handed it over. */
		memcpy(w->msg->data, msg->data, ch->ring.elem_size);
		kchan_complete(ch, w, KCHAN_DONE);
		kchan_msg_free(msg);
		return;
	}
	/* Not received after all: it is received again from here. */
	ch->recvs--;
	kchan_return_msg(ch, msg);
}

static void kchan_give_back_work(struct work_struct *work)
{
	struct kchan_deferred_give_back *gb =
		container_of(work, struct kchan_deferred_give_back, work);
	struct kchan *ch = gb->ch;

	/*
	 * A worker cannot be killed; killable keeps it out of the hung-task
	 * report while a stalled copy holds the lock.
	 */
	if (!WARN_ON_ONCE(mutex_lock_killable(&ch->lock))) {
		__kchan_give_back(ch, gb->msg);
		kchan_unlock_wake(ch);
	} else {
		kchan_msg_free(gb->msg);
	}
	kchan_put(ch);
	kfree(gb);
}

/**
 * kchan_give_back() - return an element a receiver could not copy out
 * @ch: the channel, not locked; the caller holds a reference to its file
 * @msg: the element; the channel takes it over
 *
 * Hands the element to the next blocked receiver, or puts it at the front
 * of the channel.  When a fatal signal interrupts the wait for the lock, a
 * work item does it once the lock is free, so the caller can leave.
 */
void kchan_give_back(struct kchan *ch, struct kchan_msg *msg)
{
	struct kchan_deferred_give_back *gb;

	if (!mutex_lock_killable(&ch->lock)) {
		__kchan_give_back(ch, msg);
		kchan_unlock_wake(ch);
		return;
	}
	/* Small and rare, and the element must not be lost. */
	gb = kmalloc(sizeof(*gb), GFP_KERNEL | __GFP_NOFAIL);
	INIT_WORK(&gb->work, kchan_give_back_work);
	kref_get(&ch->refs);
	gb->ch = ch;
	gb->msg = msg;
	queue_work(kchan_give_back_wq, &gb->work);
}

/**
 * kchan_defer() - run @work once, in a worker
 * @work: a work item whose function drops what holds the module
 *
 * For what a task must not wait for: a lock held across a stalled copy.
 */
void kchan_defer(struct work_struct *work)
{
	queue_work(kchan_give_back_wq, work);
}

/* A call of kchan_defer_call(), waiting for its worker. */
struct kchan_deferred_call {
	struct work_struct work;
	struct kchan *ch;
	void (*fn)(struct kchan *ch);
};

static void kchan_deferred_call_work(struct work_struct *work)
{
	struct kchan_deferred_call *d =
		container_of(work, struct kchan_deferred_call, work);

	/* Killable only to stay out of the hung-task report (see above). */
	if (!WARN_ON_ONCE(mutex_lock_killable(&d->ch->lock)))
		d->fn(d->ch);
	kchan_put(d->ch);
	kfree(d);
}

/**
 * kchan_defer_call() - call @fn on @ch, locked, in a worker, then drop a
 * reference
 * @ch: the channel; the caller's reference passes to the worker
 * @fn: the call, made in process context with the channel lock held,
 *	which it drops (one of the kchan_unlock() family)
 *
 * For paths under mmap_lock, where the channel lock, held across page
 * faults, is never taken.  Never fails (__GFP_NOFAIL): what the call
 * carries, a wake-up, must not be lost, and the paths that use it are
 * rare - a process gone with tasks waiting.
 */
void kchan_defer_call(struct kchan *ch, void (*fn)(struct kchan *ch))
{
	struct kchan_deferred_call *d;

	d = kmalloc(sizeof(*d), GFP_KERNEL | __GFP_NOFAIL);
	INIT_WORK(&d->work, kchan_deferred_call_work);
	d->ch = ch;
	d->fn = fn;
	kchan_defer(&d->work);
}

/**
 * kchan_give_back_init() - create the give-back workqueue, at module load
 *
 * Return: 0 or -ENOMEM.
 */
int kchan_give_back_init(void)
{
	kchan_give_back_wq = alloc_workqueue("kchan_give_back", 0, 0);
	return kchan_give_back_wq ? 0 : -ENOMEM;
}

/**
 * kchan_give_back_exit() - run what is queued and destroy the workqueue,
 * at module unload
 */
void kchan_give_back_exit(void)
{
	destroy_workqueue(kchan_give_back_wq);
}
