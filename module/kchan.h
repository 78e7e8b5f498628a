/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kchan: internal structures shared by the module's files.
 *
 * Locking, in one place:
 *
 * - struct kchan.lock (a mutex) guards everything in a channel that can
 *   change: the ring's head and tail, both waiter queues and their
 *   counters, the list of elements given back by faulting receivers, the
 *   closed flag and the lifetime counters that fdinfo shows.  It is a
 *   mutex, not a spinlock, because elements are copied to and from user
 *   memory while it is held: a copy that faults leaves the channel exactly
 *   as it was, so nothing is lost or duplicated.
 * - struct kchan_waiter.state is written only under the channel lock, by
 *   the task that completes the waiter, with smp_store_release() after
 *   everything the waiter will read; the sleeping owner reads it with
 *   smp_load_acquire() and may then return without taking the lock.
 * - struct kchan.poll_wq has its own internal lock; it is woken after the
 *   channel lock is dropped.
 *
 * The channel lock is not held while a task blocks on the channel; it may
 * be held across a page fault while an element is copied, as pipe->mutex
 * is.  Waiters are woken under it (see wait.c).
 *
 * - kchan_all_lock (proc.c), a spinlock, guards the list of all channels
 *   (struct kchan_origin.node).  /proc/kchan holds it while it prints and
 *   reads each channel's state without the channel lock: the fields that
 *   poll reads, and @sendq_since and @recvq_since, all written with
 *   WRITE_ONCE() under the channel lock.
 *
 * Lock order: channel locks are taken one at a time, except by a select,
 * which takes all of its channels' locks in ascending address order
 * (select.c).  kchan_users_lock (limits.c) and kchan_all_lock are never
 * taken with a channel lock held, nor a channel lock under either of them.
 */
#ifndef _KCHAN_H
#define _KCHAN_H

#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/wait.h>

#include <linux/kchan.h>

#include "ring.h"

struct cgroup;
struct file;
struct kchan_create;
struct pid;

/**
 * struct kchan_origin - who created a channel, for /proc/kchan
 * @node: on the list of all channels, under kchan_all_lock (proc.c).
 * @tgid: the creator's thread group, referenced.
 * @cgrp: the creator's cgroup v2 cgroup, referenced; NULL without cgroups.
 * @comm: the creator's command name at creation.
 *
 * Set by kchan_proc_add() before the channel is listed, then read-only
 * until kchan_proc_del().
 */
struct kchan_origin {
	struct list_head node;
	struct pid *tgid;
	struct cgroup *cgrp;
	char comm[TASK_COMM_LEN];
};

/**
 * struct kchan - one channel
 * @lock: guards every field below except @poll_wq, and the ring's state.
 * @ring: queued elements, oldest first.
 * @sendq: blocked senders (struct kchan_waiter.node), oldest first.
 * @recvq: blocked receivers (struct kchan_waiter.node), oldest first.
 * @returned: elements (struct kchan_msg.node) that were handed to a
 *	receiver which then failed to copy them out; they are received again
 *	before anything in @ring, so no element is ever lost.
 * @nr_sendq: length of @sendq (stale select waiters included until
 *	dropped); read locklessly by poll.
 * @nr_recvq: length of @recvq, likewise.
 * @nr_returned: length of @returned; read locklessly by poll.
 * @closed: set once by Go's close(ch); read locklessly by poll.
 * @owner: the creator's real user id, which the channel is counted
 *	against (limits.c); set at creation, then read-only.
 * @id: unique channel id shown in fdinfo; set at creation, then read-only.
 * @sends: elements sent: queued in the ring, handed to a blocked receiver,
 *	or taken from a blocked sender.
 * @recvs: elements received: copied out, or handed to a blocked receiver
 *	(taken back if that receiver's copy out faults).
 * @send_blocks: times a sender (or a select send case) was queued.
 * @recv_blocks: times a receiver (or a select receive case) was queued.
 * @timeouts: blocked sends, receives and selects that hit their deadline
 *	(a select counts once per distinct channel).
 * @selects_won: selects that returned a case on this channel.
 * @wait_hist: blocked-wait durations, log2 buckets of nanoseconds; one
 *	entry per ended wait, recorded by its completer or, for a wait
 *	nobody completed, by its owner (kchan_record_wait()).
 * @sendq_since: when the oldest waiter on @sendq was queued (its
 *	struct kchan_waiter.start), 0 while @sendq is empty; written with
 *	WRITE_ONCE(), read locklessly by /proc/kchan.
 * @recvq_since: likewise for @recvq.
 * @poll_wq: poll/epoll waiters, woken after @lock is dropped.
 * @origin: the creator, for /proc/kchan; not guarded by @lock.
 */
struct kchan {
	struct mutex lock;	/* guards the fields below; see above */
	struct kchan_ring ring;
	struct list_head sendq;
	struct list_head recvq;
	struct list_head returned;
	u32 nr_sendq;
	u32 nr_recvq;
	u32 nr_returned;
	bool closed;
	kuid_t owner;
	u64 id;
	u64 sends;
	u64 recvs;
	u64 send_blocks;
	u64 recv_blocks;
	u64 timeouts;
	u64 selects_won;
	u64 wait_hist[KCHAN_STATS_HIST_BUCKETS];
	u64 sendq_since;
	u64 recvq_since;
	wait_queue_head_t poll_wq;
	struct kchan_origin origin;
};

/**
 * struct kchan_msg - one element outside the ring
 * @node: on struct kchan.returned, when the channel owns the message.
 * @data: the element, struct kchan.ring.elem_size bytes.
 *
 * A blocked sender parks its element in one so that a receiver can move it
 * into the ring or copy it out; a blocked receiver gets one that a sender
 * fills.  Allocated only when a task blocks, never on the fast paths.
 */
struct kchan_msg {
	struct list_head node;
	u8 data[];
};

/**
 * enum kchan_waiter_state - how a blocked operation ended
 * @KCHAN_WAITING: not completed; queued unless its select was aborted or
 *	proceeded elsewhere.
 * @KCHAN_DONE: the element moved: a sender's element was taken, or a
 *	receiver's message was filled.
 * @KCHAN_CLOSED: the channel was closed while the waiter was queued.
 */
enum kchan_waiter_state {
	KCHAN_WAITING,
	KCHAN_DONE,
	KCHAN_CLOSED,
};

/**
 * struct kchan_selector - what the waiters of one blocked select share
 * @winner: index of the case that proceeded, or %KCHAN_SEL_OPEN while none
 *	has; set once, with cmpxchg(), by whoever completes one of the
 *	select's waiters (or by the select itself when it gives up, to
 *	%KCHAN_SEL_ABORTED).  The completer holds the lock of the winning
 *	case's channel.
 * @waiters: the select's waiters, indexed by case; one for a plain send
 *	or receive.
 */
struct kchan_selector {
	int winner;
	struct kchan_waiter *waiters;
};

/**
 * enum kchan_wake_reason - why a blocked wait ended, for the kchan_wake
 * tracepoint
 * @KCHAN_WAKE_DONE: completed: the element moved.
 * @KCHAN_WAKE_CLOSED: the channel was closed.
 * @KCHAN_WAKE_TIMEOUT: the deadline passed.
 * @KCHAN_WAKE_SIGNAL: a signal interrupted the wait.
 * @KCHAN_WAKE_ELSEWHERE: another case of the waiter's select proceeded.
 */
enum kchan_wake_reason {
	KCHAN_WAKE_DONE,
	KCHAN_WAKE_CLOSED,
	KCHAN_WAKE_TIMEOUT,
	KCHAN_WAKE_SIGNAL,
	KCHAN_WAKE_ELSEWHERE,
};

#define KCHAN_SEL_OPEN		(-1)
#define KCHAN_SEL_ABORTED	(-2)

/**
 * struct kchan_waiter - a task blocked in send, receive or select
 * @node: on struct kchan.sendq or struct kchan.recvq, under the lock;
 *	empty once dequeued.
 * @task: the sleeping task.
 * @msg: the element being sent, or the buffer a sender fills for a
 *	receiver.  Owned by the waiter's task.
 * @sel: the select this waiter is one case of (a plain send or receive
 *	is a select of one case).  A waiter may be completed only by the task
 *	that claims @sel for it (kchan_claim()).
 * @index: the waiter's case index in @sel.
 * @state: an enum kchan_waiter_state; see the locking rules above.
 * @sender: queued on the channel's sendq, else on its recvq.
 * @start: when it was queued (local_clock()), for the wait histogram;
 *	set under the lock.
 *
 * Lives on the blocked task's stack (or in its select's case array): the
 * channel only reaches it while it is queued, and a queued waiter's owner
 * cannot return before it has been dequeued under the lock.
 */
struct kchan_waiter {
	struct list_head node;
	struct task_struct *task;
	struct kchan_msg *msg;
	struct kchan_selector *sel;
	int index;
	int state;
	bool sender;
	u64 start;
};

/**
 * struct kchan_wait_opts - how a send or receive may block
 * @nonblock: never block: -EAGAIN instead.
 * @has_deadline: block at most until @deadline, then -ETIMEDOUT.
 * @deadline: absolute CLOCK_MONOTONIC time.
 */
struct kchan_wait_opts {
	bool nonblock;
	bool has_deadline;
	ktime_t deadline;
};

/* main.c */
int kchan_copy_args(void *karg, size_t ksize, size_t ver0_size,
		    const void __user *uarg);

/* chan.c */
int kchan_create_fd(const struct kchan_create *args);
struct kchan *kchan_from_file(struct file *file);

/* xfer.c */
long kchan_send(struct kchan *ch, const u8 __user *elems, size_t count,
		const struct kchan_wait_opts *opts);
long kchan_recv(struct kchan *ch, u8 __user *elems, size_t count,
		const struct kchan_wait_opts *opts);
int kchan_close(struct kchan *ch);
__poll_t kchan_poll_mask(struct kchan *ch);
void kchan_release_returned(struct kchan *ch);
int kchan_send_step(struct kchan *ch, const u8 __user *src);
int kchan_recv_step(struct kchan *ch, u8 __user *dst);
void kchan_give_back(struct kchan *ch, struct kchan_msg *msg);

/* cache.c */
int kchan_cache_init(void);
void kchan_cache_exit(void);
unsigned long kchan_allocations(void);
void *kchan_alloc(size_t size, bool zero);
struct kchan *kchan_chan_alloc(void);
void kchan_chan_free(struct kchan *ch);
struct kchan_msg *kchan_msg_alloc(const struct kchan *ch);
void kchan_msg_free(const struct kchan *ch, struct kchan_msg *msg);

/* limits.c */
int kchan_check_limits(u32 elem_size, u64 capacity);
int kchan_user_charge(kuid_t uid);
void kchan_user_uncharge(kuid_t uid);

/* wait.c */
void kchan_wake_pollers(struct kchan *ch, __poll_t mask);
void kchan_enqueue(struct kchan *ch, struct kchan_waiter *w);
void kchan_dequeue(struct kchan *ch, struct kchan_waiter *w);
struct kchan_waiter *kchan_first_waiter(struct kchan *ch, bool sender);
bool kchan_claim(struct kchan *ch, struct kchan_waiter *w);
struct kchan_waiter *kchan_claim_first(struct kchan *ch, bool sender);
void kchan_complete(struct kchan *ch, struct kchan_waiter *w, int state);
int kchan_may_block(const struct kchan_wait_opts *opts);
int kchan_sleep(struct kchan_selector *sel, const struct kchan_wait_opts *opts);
void kchan_record_wait(struct kchan *ch, const struct kchan_waiter *w,
		       enum kchan_wake_reason reason);
enum kchan_wake_reason kchan_abort_reason(int err);

/* Result of a step of a send or receive that could not move an element. */
#define KCHAN_WOULD_BLOCK	(-EAGAIN)

/* proc.c */
void kchan_proc_add(struct kchan *ch);
void kchan_proc_del(struct kchan *ch);
int kchan_proc_init(void);
void kchan_proc_exit(void);

/* select.c */
long kchan_select(const void __user *uarg);

#endif /* _KCHAN_H */
