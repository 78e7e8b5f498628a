// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: waiters - queueing a blocked task on a channel, claiming and
 * completing it from another task, and the sleep in between.
 *
 * Every blocked operation is a select: a plain send or receive is a select
 * of one case.  Its waiters (one per case, each on one channel's sendq or
 * recvq) share a struct kchan_selector whose @winner decides, once, which
 * case proceeds:
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
 *   waiter afterwards (ipc/mqueue.c's pipelined send does the same).
 * - The sleeper waits for its winner's state.  On a signal or timeout it
 *   claims its own selector as KCHAN_SEL_ABORTED; if that fails a
 *   completer is mid-way, and the sleeper waits for the state it will
 *   publish, so no case ever half-happens.
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

#include "kchan.h"
#include "trace.h"

/**
 * kchan_wake_pollers() - wake poll/epoll waiters of a channel
 * @ch: the channel, whose lock the caller has dropped
 * @mask: the events that may have become true
 */
void kchan_wake_pollers(struct kchan *ch, __poll_t mask)
{
	/* Pairs with the smp_mb() after poll_wait() in kchan_chan_poll(). */
	if (wq_has_sleeper(&ch->poll_wq))
		wake_up_interruptible_poll(&ch->poll_wq, mask);
}

static struct list_head *kchan_queue(struct kchan *ch, bool sender)
{
	return sender ? &ch->sendq : &ch->recvq;
}

static u32 *kchan_queue_len(struct kchan *ch, bool sender)
{
	return sender ? &ch->nr_sendq : &ch->nr_recvq;
}

static u64 *kchan_queue_since(struct kchan *ch, bool sender)
{
	return sender ? &ch->sendq_since : &ch->recvq_since;
}

/**
 * kchan_enqueue() - queue a waiter at the tail of its channel queue
 * @ch: the channel, locked
 * @w: the waiter; @w->sender says which queue
 */
void kchan_enqueue(struct kchan *ch, struct kchan_waiter *w)
{
	struct list_head *queue = kchan_queue(ch, w->sender);
	u32 *nr = kchan_queue_len(ch, w->sender);

	lockdep_assert_held(&ch->lock);
	w->start = local_clock();
	if (list_empty(queue))
		WRITE_ONCE(*kchan_queue_since(ch, w->sender), w->start);
	list_add_tail(&w->node, queue);
	WRITE_ONCE(*nr, *nr + 1);
	trace_kchan_block(ch, w);
}

/**
 * kchan_dequeue() - take a waiter off its channel queue
 * @ch: the channel, locked
 * @w: a queued waiter
 *
 * When @w was the oldest, the queue's wait start moves to the next one.
 */
void kchan_dequeue(struct kchan *ch, struct kchan_waiter *w)
{
	struct list_head *queue = kchan_queue(ch, w->sender);
	u32 *nr = kchan_queue_len(ch, w->sender);
	bool oldest = list_is_first(&w->node, queue);
	struct kchan_waiter *next;

	lockdep_assert_held(&ch->lock);
	list_del_init(&w->node);
	WRITE_ONCE(*nr, *nr - 1);
	if (oldest) {
		next = list_first_entry_or_null(queue, struct kchan_waiter, node);
		WRITE_ONCE(*kchan_queue_since(ch, w->sender),
			   next ? next->start : 0);
	}
}

/**
 * kchan_first_waiter() - the oldest waiter of a queue whose select is open
 * @ch: the channel, locked
 * @sender: the send queue, or else the receive queue
 *
 * Drops stale entries found on the way.  The waiter returned may still be
 * claimed by someone else before the caller claims it.
 *
 * Return: the waiter, or NULL.
 */
struct kchan_waiter *kchan_first_waiter(struct kchan *ch, bool sender)
{
	struct list_head *queue = kchan_queue(ch, sender);
	struct kchan_waiter *w;

	lockdep_assert_held(&ch->lock);
	while ((w = list_first_entry_or_null(queue, struct kchan_waiter, node))) {
		if (READ_ONCE(w->sel->winner) == KCHAN_SEL_OPEN)
			return w;
		kchan_dequeue(ch, w);
	}
	return NULL;
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
	if (cmpxchg(&w->sel->winner, KCHAN_SEL_OPEN, w->index) == KCHAN_SEL_OPEN)
		return true;
	kchan_dequeue(ch, w);
	return false;
}

/**
 * kchan_claim_first() - claim the oldest waiter of a queue that can be
 * @ch: the channel, locked
 * @sender: the send queue, or else the receive queue
 *
 * Return: the claimed waiter, which the caller must complete before
 * dropping the lock, or NULL.
 */
struct kchan_waiter *kchan_claim_first(struct kchan *ch, bool sender)
{
	struct kchan_waiter *w;

	while ((w = kchan_first_waiter(ch, sender)))
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
	struct task_struct *task = w->task;

	kchan_dequeue(ch, w);
	kchan_record_wait(ch, w, state == KCHAN_DONE ? KCHAN_WAKE_DONE :
						      KCHAN_WAKE_CLOSED);
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

/* The published state of @sel's winner, or KCHAN_WAITING. */
static int kchan_winner_state(struct kchan_selector *sel, int *winner)
{
	*winner = READ_ONCE(sel->winner);
	if (*winner < 0)
		return KCHAN_WAITING;
	/* Pairs with smp_store_release() in kchan_complete(). */
	return smp_load_acquire(&sel->waiters[*winner].state);
}

/*
 * A completer claimed @sel's case @winner just as the sleeper gave up; it
 * holds that case's channel lock and wakes the sleeper once it publishes.
 */
static void kchan_await_publish(struct kchan_selector *sel, int winner)
{
	for (;;) {
		set_current_state(TASK_UNINTERRUPTIBLE);
		/* Pairs with smp_store_release() in kchan_complete(). */
		if (smp_load_acquire(&sel->waiters[winner].state) != KCHAN_WAITING)
			break;
		schedule();
	}
	__set_current_state(TASK_RUNNING);
}

/**
 * kchan_sleep() - wait until one of a select's waiters is completed
 * @sel: the selector, whose waiters are queued (it may have none: Go's
 *	empty select, which only a signal or the deadline ends)
 * @opts: the deadline, if any
 *
 * Called with no lock held.  A signal whose handler runs gives -EINTR to a
 * timed call and restarts an untimed one under SA_RESTART; without a
 * handler (stop, freezer, ptrace) both are restarted, and the absolute
 * deadline does not drift.
 *
 * Return: the index of the completed waiter, whose state is published; or
 * -ETIMEDOUT, -ERESTARTNOHAND or -ERESTARTSYS once @sel is aborted, so that
 * no waiter can be completed any more (some may still be queued).
 */
int kchan_sleep(struct kchan_selector *sel, const struct kchan_wait_opts *opts)
{
	ktime_t deadline = opts->deadline;
	int winner, err;

	for (;;) {
		set_current_state(TASK_INTERRUPTIBLE);
		if (kchan_winner_state(sel, &winner) != KCHAN_WAITING) {
			__set_current_state(TASK_RUNNING);
			return winner;
		}
		if (signal_pending(current)) {
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

	winner = cmpxchg(&sel->winner, KCHAN_SEL_OPEN, KCHAN_SEL_ABORTED);
	if (winner == KCHAN_SEL_OPEN)
		return err;
	kchan_await_publish(sel, winner);
	return winner;
}

/**
 * kchan_abort_reason() - why a wait that nobody completed ended
 * @err: kchan_sleep()'s negative result
 *
 * Return: %KCHAN_WAKE_TIMEOUT or %KCHAN_WAKE_SIGNAL.
 */
enum kchan_wake_reason kchan_abort_reason(int err)
{
	return err == -ETIMEDOUT ? KCHAN_WAKE_TIMEOUT : KCHAN_WAKE_SIGNAL;
}

/**
 * kchan_record_wait() - count one ended blocked wait in the histogram
 * @ch: the waiter's channel, locked
 * @w: the waiter, queued since @w->start
 * @reason: why the wait ended, for the kchan_wake tracepoint
 *
 * Every wait is recorded once: by the completer for a completed waiter,
 * else by the owner when it cleans up.  Bucket i takes [2^i, 2^(i+1)) ns;
 * bucket 0 also takes 0 ns, and the last bucket everything longer.  The
 * clock is local_clock(), the scheduler's cheap per-CPU clock: a wait
 * queued on one CPU and ended on another may be off by the CPUs' small
 * drift, which a log2 histogram does not see (a negative span counts as
 * 0 ns).
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
