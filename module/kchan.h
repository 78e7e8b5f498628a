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
 *   as it was, so nothing is lost or duplicated.  Because such a copy may
 *   stall for as long as user space likes (userfaultfd, FUSE), every task
 *   takes it with mutex_lock_killable(): a task killed while waiting
 *   leaves (wait.c).  The one mutex_lock() is the destruction's, on a
 *   channel no task can reach any more.
 * - A mappable channel's shared ring (struct kchan.shr, shring.c) is
 *   guarded by no lock: its slot words are claimed and released with
 *   atomic operations, and the kernel, under the channel lock, is one
 *   participant among others.
 * - struct kchan.ready is the channel's poll mask, recomputed under the
 *   lock by kchan_unlock() each time the state changes, and read without
 *   the lock (poll, select's pre-check): one word, so one consistent
 *   snapshot of head, tail, queues and closed.  (/proc/kchan, an overview,
 *   reads the fields behind it one by one.)
 * - struct kchan_waiter.state is written only under the channel lock, by
 *   the task that completes the waiter, with smp_store_release() after
 *   everything the waiter will read; the sleeping owner reads it with
 *   smp_load_acquire() and may then return without taking the lock.
 * - struct kchan_wait.refs counts the wait's owner and each of its queued
 *   waiters; whoever drops the last reference frees it (wait.c).
 * - struct kchan.poll_wq has its own internal lock; it is woken just
 *   before the channel lock is dropped (kchan_unlock_wake()), so that a
 *   selector registered on the channel has its ready set updated (in that
 *   wake-up) before anyone else can look at the channel.
 *
 * The channel lock is not held while a task blocks on the channel; it may
 * be held across a page fault while an element is copied, as pipe->mutex
 * is.  Waiters are woken under it (see wait.c).
 *
 * Lock order: a task holds at most one channel lock at a time - a select
 * too, which visits its channels one after the other (select.c).
 * kchan_users_lock (limits.c) is never taken with a channel lock held, nor
 * a channel lock under it.  The xarray of /proc/kchan (proc.c) is changed
 * when a channel's descriptor is created and when its file is released,
 * with no channel lock held, and read under RCU.
 */
#ifndef _KCHAN_H
#define _KCHAN_H

#include <linux/kref.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/wait.h>

#include <linux/kchan.h>

#include "ring.h"

struct cgroup;
struct file;
struct kchan_bcast;
struct kchan_create;
struct kchan_shring;
struct kchan_user;
struct pid;
struct work_struct;

/**
 * struct kchan_origin - who created a channel, for /proc/kchan
 * @tgid: the creator's thread group, referenced.
 * @cgrp: the creator's cgroup v2 cgroup, referenced; NULL without cgroups.
 * @comm: the creator's command name at creation.
 *
 * Set by kchan_proc_add() before the channel is listed, then read-only
 * until the channel is freed.
 */
struct kchan_origin {
	struct pid *tgid;
	struct cgroup *cgrp;
	char comm[TASK_COMM_LEN];
};

/**
 * struct kchan_queue - the blocked tasks of one direction
 * @list: their waiters (struct kchan_waiter.node), oldest first.
 * @nr: length of @list, stale select waiters included until dropped;
 *	written with WRITE_ONCE(), read locklessly by /proc/kchan.
 * @since: when the oldest waiter was queued (its struct kchan_waiter.start),
 *	0 while @list is empty; written with WRITE_ONCE(), read locklessly by
 *	/proc/kchan.
 *
 * Guarded by the lock of the channel it belongs to.
 */
struct kchan_queue {
	struct list_head list;
	u32 nr;
	u64 since;
};

struct kchan;
struct kchan_end;
struct kchan_wait;
struct kchan_waiter;

/* The poll events of a readable and of a writable end. */
#define KCHAN_EV_IN	(EPOLLIN | EPOLLRDNORM)
#define KCHAN_EV_OUT	(EPOLLOUT | EPOLLWRNORM)

/* Directions an end has (struct kchan_end_ops.dirs). */
#define KCHAN_END_SEND	0x1
#define KCHAN_END_RECV	0x2

struct kchan_info;

/**
 * struct kchan_end_ops - what select, the selector and poll do to one kind
 * of descriptor
 * @dirs: %KCHAN_END_SEND and/or %KCHAN_END_RECV: the directions it has;
 *	a case of the other direction is -EBADF.
 * @mask: its poll mask now, without the lock: a hint that may be a moment
 *	old, never one that misses a change made before the caller started.
 * @step: try one send (@send) or receive of the element at @elem without
 *	blocking, the channel locked.  Return: 1, 0 (a receive: closed and
 *	drained), -EPIPE, -EFAULT or %KCHAN_WOULD_BLOCK.
 * @case_ready: whether @step would proceed, the channel locked, not
 *	counting the waiters of @self as partners.
 * @enqueue: queue the waiter of a blocked task of direction @w->sender,
 *	the channel locked.
 * @dequeue: take it off again, if it is still queued, and record its wait;
 *	the channel locked.
 * @unlock: publish what the step or the queueing changed and unlock the
 *	channel; with @wake, wake whom the change concerns.
 * @get: take a reference that keeps the end alive.
 * @put: drop it.
 * @arm: make sure the end's poll_wq is woken when it next becomes ready
 *	(an end that is not woken on every change keeps a list of whom to
 *	wake); called after a poller or a selector case joined poll_wq, and
 *	when a selector drops a case from its ready set (under the
 *	selector's spinlock: it must not sleep).
 * @info: fill %KCHAN_IOC_INFO's len, sendq and recvq, the channel locked.
 * @discard: free a channel of this end's kind, not or no longer
 *	reachable (its last reference, or a creation that failed).
 * @handoff: a waiter of this end is completed by a peer that moves the
 *	element (a receiver gets a message to fill, kchan_take_delivered());
 *	otherwise it is only nudged (%KCHAN_RETRY) when the end may have
 *	become ready, and the caller tries again itself.
 *
 * Which directions an end has is decided when a case names it
 * (kchan_end_from_file()).
 */
struct kchan_end_ops {
	unsigned int dirs;
	__poll_t (*mask)(struct kchan_end *end);
	int (*step)(struct kchan_end *end, bool send, u8 __user *elem);
	bool (*case_ready)(struct kchan_end *end, bool send,
			   const struct kchan_wait *self);
	void (*enqueue)(struct kchan_end *end, struct kchan_waiter *w);
	void (*dequeue)(struct kchan_end *end, struct kchan_waiter *w);
	void (*unlock)(struct kchan_end *end, bool wake);
	void (*get)(struct kchan_end *end);
	void (*put)(struct kchan_end *end);
	void (*arm)(struct kchan_end *end);
	void (*info)(struct kchan_end *end, struct kchan_info *info);
	void (*discard)(struct kchan *ch);
	bool handoff;
};

/**
 * struct kchan_end - one kind of descriptor as select, the selector and
 * poll see it: a channel, or later one end of a broadcast
 * @ops: what it does.
 * @ch: the channel whose lock guards it, and whose statistics it counts in.
 * @ready: its poll mask (EPOLLIN, EPOLLOUT, EPOLLHUP and their aliases),
 *	written with WRITE_ONCE() under the channel's lock whenever the state
 *	behind it changes, read locklessly.
 * @poll_wq: poll/epoll waiters, woken just before the lock is dropped;
 *	also the entries of the selector cases registered on the end
 *	(selector.c).
 * @sel_lock: guards @sel_items.
 * @sel_items: the selector cases registered on the end (struct
 *	kchan_sel_item.end_node), removed when its file is released.
 */
struct kchan_end {
	const struct kchan_end_ops *ops;
	struct kchan *ch;
	wait_queue_head_t poll_wq;
	struct list_head sel_items;
	__poll_t ready;		/* beside @sel_lock: no padding */
	spinlock_t sel_lock;	/* guards @sel_items */
};

/**
 * struct kchan - one channel
 * @lock: guards every field below up to @wait_hist, and the ring's state.
 * @ring: queued elements, oldest first.
 * @sendq: blocked senders, oldest first.
 * @recvq: blocked receivers, oldest first.
 * @returned: elements (struct kchan_msg.node) that were handed to a
 *	receiver which then failed to copy them out; they are received again
 *	before anything in @ring, so no element is ever lost.
 * @nr_returned: length of @returned.
 * @closed: set once by Go's close(ch).
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
 *	entry per ended wait, recorded by whoever takes the waiter off its
 *	queue (kchan_record_wait()).
 * @end: the channel as select, the selector and poll see it; its @ready
 *	is the mask the fields above make true, published by kchan_unlock()
 *	(a plain channel's: a mapped one's mask is computed when asked,
 *	kchan_shared_mask_of()).
 * @refs: the channel file's reference, those /proc/kchan takes while it
 *	prints the channel, and that of an element a killed receiver gives
 *	back through a work item (wait.c); the last one frees the channel.
 * @file: the channel's file, which owns the first of @refs; set at
 *	creation, then read-only.  Only used by a task that holds a
 *	reference to the file.
 * @user: the budget the channel and its parked elements are charged to
 *	(limits.c); set at creation, then read-only.
 * @charged: the bytes the channel itself is charged for; likewise.
 * @bc: the broadcast part of a broadcast channel (bcast.c), else NULL;
 *	set at creation, then read-only.
 * @shr: the shared ring of a mappable channel (shring.c), which takes the
 *	place of @ring's storage (@ring keeps the element size and capacity),
 *	else NULL; set at creation, then read-only.  xfer.c moves elements
 *	through it under the lock like through @ring, but its protocol needs
 *	no lock, so that tasks outside the kernel can take part.
 * @owner: the creator's real user id, shown by /proc/kchan; set at
 *	creation, then read-only.
 * @id: the channel's id, unique among the channels of its @user; set at
 *	creation, then read-only.
 * @slot: the channel's index in /proc/kchan's xarray (proc.c).
 * @origin: the creator, for /proc/kchan; read-only once listed.
 * @rcu: frees the channel after an RCU grace period, since /proc/kchan
 *	finds channels under rcu_read_lock().
 */
struct kchan {
	struct mutex lock;	/* guards the fields below; see above */
	struct kchan_ring ring;
	struct kchan_queue sendq;
	struct kchan_queue recvq;
	struct list_head returned;
	u32 nr_returned;
	bool closed;
	u64 sends;
	u64 recvs;
	u64 send_blocks;
	u64 recv_blocks;
	u64 timeouts;
	u64 selects_won;
	u64 wait_hist[KCHAN_STATS_HIST_BUCKETS];
	struct kchan_end end;
	struct kref refs;
	struct file *file;
	struct kchan_user *user;
	size_t charged;
	struct kchan_bcast *bc;
	struct kchan_shring *shr;
	kuid_t owner;
	u64 id;
	u32 slot;
	struct kchan_origin origin;
	struct rcu_head rcu;
};

/* struct kchan.slot of a channel not (or no longer) in /proc/kchan. */
#define KCHAN_SLOT_UNLISTED	U32_MAX

/**
 * struct kchan_msg - one element outside the ring
 * @node: on struct kchan.returned, when the channel owns the message.
 * @user: the budget it is charged to (that of the channel it was made
 *	for, limits.c).
 * @size: the element size, struct kchan.ring.elem_size of that channel.
 * @data: the element, @size bytes.
 *
 * A blocked sender parks its element in one so that a receiver can move it
 * into the ring or copy it out; a blocked receiver gets one that a sender
 * fills.  Allocated only when a task blocks, never on the fast paths.  It
 * describes itself, so it can be freed after its channel is gone.
 */
struct kchan_msg {
	struct list_head node;
	struct kchan_user *user;
	u32 size;
	u8 data[] __aligned(8);
};

/**
 * enum kchan_waiter_state - how a blocked operation ended
 * @KCHAN_WAITING: not completed; queued unless its select was aborted or
 *	proceeded elsewhere.
 * @KCHAN_DONE: the element moved: a sender's element was taken, or a
 *	receiver's message was filled.
 * @KCHAN_CLOSED: the channel was closed while the waiter was queued.
 * @KCHAN_RETRY: the end may have become ready: the waiter's call tries
 *	again (an end without handoff, such as a broadcast subscriber).
 */
enum kchan_waiter_state {
	KCHAN_WAITING,
	KCHAN_DONE,
	KCHAN_CLOSED,
	KCHAN_RETRY,
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
 * struct kchan_waiter - one case of a blocked call, queued on a channel
 * @node: on @queue, under its channel's lock; empty once dequeued.
 * @queue: the queue it joined (kchan_enqueue()).
 * @wqe: instead of @node, for an end without handoff: the entry on the
 *	end's poll_wq that nudges the waiter (kchan_nudge_enqueue()).
 * @wait: the blocked call this waiter is one case of (a plain send or
 *	receive is a select of one case).  A waiter may be completed only by
 *	the task that claims @wait for it (kchan_claim()).
 * @msg: the element being sent, or the buffer a sender fills for a
 *	receiver; freed with @wait.
 * @index: the waiter's case index in @wait.
 * @state: an enum kchan_waiter_state; see the locking rules above.
 * @sender: a send, else a receive.
 * @start: when it was queued (local_clock()), for the wait histogram;
 *	set under the lock.
 */
struct kchan_waiter {
	struct list_head node;
	struct kchan_queue *queue;
	wait_queue_entry_t wqe;
	struct kchan_wait *wait;
	struct kchan_msg *msg;
	int index;
	int state;
	bool sender;
	u64 start;
};

/**
 * struct kchan_wait - one blocked call: what the waiters of its cases share
 * @winner: index of the case that proceeded, or %KCHAN_SEL_OPEN while none
 *	has; set once, with cmpxchg(), by whoever completes one of the
 *	waiters, by the owner when it performs a case itself, or by the owner
 *	when it gives up (%KCHAN_SEL_ABORTED).  A completer holds the lock of
 *	the winning case's channel.
 * @abort_reason: why the owner gave up (an enum kchan_wake_reason); set
 *	before @winner becomes %KCHAN_SEL_ABORTED, for whoever records the
 *	waits it left queued.
 * @refs: the owner's reference and one per queued waiter.  The owner
 *	normally takes its waiters off their queues itself; one killed while
 *	waiting for a channel lock leaves them queued, stale, to whoever meets
 *	them next, and the last reference frees the wait and its messages.
 * @task: the owner, which completers wake; only touched by a completer,
 *	which means the owner has not given up and is still there.
 * @pid: the owner's pid, for the tracepoints.
 * @user: the budget the wait is charged to, or NULL.
 * @charged: bytes charged to @user.
 * @kind: where it was allocated (cache.c): %KCHAN_WAIT_CACHED,
 *	%KCHAN_WAIT_HEAP, or %KCHAN_WAIT_ONE, a wait of one case whose
 *	element lives in the same object.
 * @nr: number of @waiters.
 * @waiters: one per case, indexed like the cases.
 *
 * Allocated when a call must block (wait.c); a waiter's queue links never
 * point into a task's stack, so its owner may return without taking the
 * channel lock back.
 */
struct kchan_wait {
	int winner;
	int abort_reason;
	refcount_t refs;
	struct task_struct *task;
	pid_t pid;
	struct kchan_user *user;
	size_t charged;
	u8 kind;
	u32 nr;
	struct kchan_waiter waiters[];
};

#define KCHAN_WAIT_CACHED	0
#define KCHAN_WAIT_HEAP		1
#define KCHAN_WAIT_ONE		2

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

/* args.c */
int kchan_copy_args(void *karg, size_t ksize, size_t ver0_size,
		    const void __user *uarg);
int kchan_copy_out_size(u32 __user *usizep, size_t ksize, size_t ver0_size,
			u32 *size);
int kchan_copy_out(void __user *uarg, const void *karg, size_t ksize,
		   u32 usize);

/* chan.c */
int kchan_validate_create(const struct kchan_create *args, u32 kind_flags);
struct kchan *kchan_chan_new(const struct kchan_create *args,
			     const struct kchan_end_ops *ops, size_t extra,
			     u32 chan_flags);

/* Flags of kchan_chan_new(). */
#define KCHAN_CHAN_NO_RING	0x1	/* the kind keeps its elements itself */
void kchan_chan_discard(struct kchan *ch);
int kchan_chan_install(struct kchan *ch, const struct file_operations *fops,
		       const char *name, u32 flags);
int kchan_create_fd(const struct kchan_create *args);
int kchan_xfer_args(struct file *file, const void __user *uarg, u32 elem_size,
		    struct kchan_xfer *x, struct kchan_wait_opts *opts);
int kchan_rw_count(const struct kchan *ch, size_t len, size_t *count);
long kchan_ioctl_info(struct kchan_end *end, struct kchan_info __user *uinfo);
long kchan_ioctl_stats(struct kchan *ch, struct kchan_stats __user *ust);
struct kchan *kchan_from_file(struct file *file);
struct kchan_end *kchan_end_from_file(struct file *file);
void kchan_put(struct kchan *ch);

/* xfer.c */
long kchan_send(struct kchan *ch, const u8 __user *elems, size_t count,
		const struct kchan_wait_opts *opts);
long kchan_recv(struct kchan *ch, u8 __user *elems, size_t count,
		const struct kchan_wait_opts *opts);
int kchan_close(struct kchan *ch);
__poll_t kchan_ready_mask(struct kchan *ch);
u64 kchan_queued(struct kchan *ch);
void kchan_counts(struct kchan *ch, u64 *sends, u64 *recvs);
void kchan_shared_kick(struct kchan *ch);
void kchan_return_msg(struct kchan *ch, struct kchan_msg *msg);
void kchan_unlock(struct kchan *ch);
void kchan_unlock_wake(struct kchan *ch);
void kchan_unlock_wake_all(struct kchan *ch);
void kchan_release_returned(struct kchan *ch);
bool kchan_case_ready(struct kchan *ch, bool send,
		      const struct kchan_wait *self);
int kchan_send_step(struct kchan *ch, const u8 __user *src);
int kchan_recv_step(struct kchan *ch, u8 __user *dst);
int kchan_take_delivered(struct kchan *ch, struct kchan_waiter *w,
			 u8 __user *dst);
struct kchan_wait *kchan_wait_one(struct kchan *ch, bool sender,
				  const u8 __user *src);

/* cache.c */
int kchan_cache_init(void);
void kchan_cache_exit(void);
unsigned long kchan_allocations(void);
void *kchan_alloc(size_t size, bool zero);
struct page *kchan_alloc_page(void);
void *kchan_alloc_mappable(unsigned int nr, struct page ***pagesp);
void kchan_free_mappable(void *base, struct page **pages, unsigned int nr);
struct kchan *kchan_chan_alloc(void);
void kchan_chan_free(struct kchan *ch);
struct kchan_msg *kchan_msg_alloc(const struct kchan *ch);
void kchan_msg_free(struct kchan_msg *msg);
struct kchan_wait *kchan_wait_alloc(u32 nr, struct kchan_user *user);
struct kchan_wait *kchan_wait1_alloc(const struct kchan *ch);
u32 kchan_wait1_max_elem(void);
bool kchan_msg_inline(const struct kchan_wait *wait,
		      const struct kchan_msg *msg);
struct kchan_msg *kchan_msg_copy(const struct kchan *ch,
				 const struct kchan_msg *src);
struct kchan_msg *kchan_msg_from_data(const struct kchan *ch, const void *data);
void kchan_wait_free(struct kchan_wait *wait);
void *kchan_scratch_alloc(void);
void kchan_scratch_free(void *p);

/* The size of a scratch object (cache.c): a select's bookkeeping. */
#define KCHAN_SCRATCH_BYTES	(10 * 1024)

/* limits.c */
int kchan_check_limits(u32 elem_size, u64 capacity);
struct kchan_user *kchan_user_current(void);
int kchan_user_add_channel(struct kchan_user *user, size_t bytes, u64 *id);
u64 kchan_user_next_selector_id(struct kchan_user *user);
void kchan_user_del_channel(struct kchan_user *user, size_t bytes);
int kchan_budget_charge(struct kchan_user *user, size_t bytes);
void kchan_budget_charge_anyway(struct kchan_user *user, size_t bytes);
void kchan_budget_uncharge(struct kchan_user *user, size_t bytes);
int kchan_limits_init(void);
void kchan_limits_exit(void);

/* wait.c */
void kchan_end_init(struct kchan_end *end, const struct kchan_end_ops *ops,
		    struct kchan *ch);
__poll_t kchan_end_mask(struct kchan_end *end);
void kchan_end_arm_nothing(struct kchan_end *end);
void kchan_wake_pollers(struct kchan_end *end, __poll_t mask);
void kchan_queue_init(struct kchan_queue *q);
void kchan_enqueue(struct kchan *ch, struct kchan_queue *q,
		   struct kchan_waiter *w);
void kchan_dequeue(struct kchan *ch, struct kchan_waiter *w);
void kchan_nudge_enqueue(struct kchan_end *end, struct kchan_waiter *w,
			 __poll_t events);
void kchan_nudge_count(struct kchan_end *end, u32 *senders, u32 *receivers);
bool kchan_nudge_dequeue(struct kchan_end *end, struct kchan_waiter *w);
void kchan_drop_queue(struct kchan *ch, struct kchan_queue *q);
void kchan_drop_waiters(struct kchan *ch);
struct kchan_waiter *kchan_first_waiter(struct kchan *ch, struct kchan_queue *q);
bool kchan_has_partner(struct kchan *ch, struct kchan_queue *q,
		       const struct kchan_wait *self);
bool kchan_claim(struct kchan *ch, struct kchan_waiter *w);
struct kchan_waiter *kchan_claim_first(struct kchan *ch, struct kchan_queue *q);
void kchan_complete(struct kchan *ch, struct kchan_waiter *w, int state);
int kchan_may_block(const struct kchan_wait_opts *opts);
int kchan_may_retry(const struct kchan_wait_opts *opts);
int kchan_schedule(const struct kchan_wait_opts *opts);
struct kchan_wait *kchan_wait_new(u32 nr, struct kchan_user *user);
void kchan_wait_init(struct kchan_wait *wait);
void kchan_wait_put(struct kchan_wait *wait);
int kchan_sleep(struct kchan_wait *wait, const struct kchan_wait_opts *opts);
void kchan_abandon(struct kchan_end *end, struct kchan_waiter *w);
int kchan_block(struct kchan_end *end, struct kchan_wait *wait,
		const struct kchan_wait_opts *opts);
void kchan_defer(struct work_struct *work);
void kchan_defer_call(struct kchan *ch, void (*fn)(struct kchan *ch));

/* shring.c */
u64 kchan_next_cookie(void);

/* shmap.c */
struct vm_area_struct;
struct kchan_map_info;
struct kchan_shring;
int kchan_shmap_init(struct kchan *ch);
void kchan_shmap_put(struct kchan_shring *r);
int kchan_chan_mmap(struct file *file, struct vm_area_struct *vma);
int kchan_map_readonly(struct vm_area_struct *vma, struct file *file,
		       struct page **pages, unsigned long n);
long kchan_ioctl_map_info(struct kchan *ch,
			  struct kchan_map_info __user *uinfo);

/* shwake.c */
__poll_t kchan_shared_publish(struct kchan *ch);
__poll_t kchan_shared_mask_of(struct kchan *ch);
__poll_t kchan_shared_poll(struct kchan *ch);
__poll_t kchan_shared_end_mask(struct kchan_end *end);
void kchan_shared_end_arm(struct kchan_end *end);
void kchan_shared_end_enqueue(struct kchan_end *end, struct kchan_waiter *w);
void kchan_shared_wake_unlock(struct kchan *ch);
bool kchan_shared_has_waiters(struct kchan *ch);
long kchan_ioctl_wake(struct kchan *ch, unsigned long arg);
void kchan_shared_flush(struct kchan *ch);
void kchan_record_wait(struct kchan *ch, const struct kchan_waiter *w,
		       enum kchan_wake_reason reason);
void kchan_give_back(struct kchan *ch, struct kchan_msg *msg);
int kchan_give_back_init(void);
void kchan_give_back_exit(void);

/* Result of a step of a send or receive that could not move an element. */
#define KCHAN_WOULD_BLOCK	(-EAGAIN)

/* proc.c */
int kchan_proc_add(struct kchan *ch);
void kchan_proc_del(struct kchan *ch);
void kchan_origin_put(struct kchan *ch);
int kchan_proc_init(void);
void kchan_proc_exit(void);

/* bcmap.c */
struct kchan_bcmap;
int kchan_bcmap_bytes(u32 elem_size, u32 capacity, size_t *bytes);
struct kchan_bcmap *kchan_bcmap_new(u32 elem_size, u32 capacity, bool lossy);
void kchan_bcmap_attach(struct kchan_bcmap *m, struct kchan *ch);
void kchan_bcmap_put(struct kchan_bcmap *m);
u8 *kchan_bcmap_elems(struct kchan_bcmap *m);
void kchan_bcmap_set_head(struct kchan_bcmap *m, u64 head);
void kchan_bcmap_set_tail(struct kchan_bcmap *m, u64 tail);
void kchan_bcmap_set_closed(struct kchan_bcmap *m);
void kchan_bcmap_count_close(u64 *word);
bool kchan_bcmap_set_senders(struct kchan_bcmap *m, u32 nr);
void kchan_bcmap_arm(struct kchan_bcmap *m);
bool kchan_bcmap_disarm(struct kchan_bcmap *m);
struct page *kchan_bcmap_cursor_page(struct page **pagep);
int kchan_bcmap_mmap(struct kchan_bcmap *m, struct page **cursor_page,
		     struct vm_area_struct *vma);
long kchan_bcmap_map_info(struct kchan_bcmap *m, u64 cookie,
			  struct kchan_map_info __user *uinfo);

/* bcast.c */
int kchan_bcast_create_fd(const struct kchan_create *args);
struct kchan_end *kchan_bcast_end_from_file(struct file *file);
void kchan_bcast_mapper_gone(struct kchan *ch);
void kchan_bcast_summary(const struct kchan *ch, bool *lossy, u32 *nr_subs,
			 u64 *lost);

/* select.c */
long kchan_select(const void __user *uarg);
void kchan_select_init(void);

/* selector.c */
long kchan_selector_create_fd(const void __user *uarg);
void kchan_selector_end_gone(struct kchan_end *end);

#endif /* _KCHAN_H */
