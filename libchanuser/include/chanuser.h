/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * chanuser.h - libchanuser, Go-style channels on top of the kchan module.
 *
 * The model
 * ---------
 * A channel is a kernel object made by kchan_make().  User space holds it
 * as a file descriptor of its own: the descriptor *is* the channel handle.
 * It can be inherited over fork(), passed with SCM_RIGHTS, watched with
 * poll/epoll and read(2)/written(2) in whole elements.  The channel lives
 * while any descriptor refers to it.
 *
 * Every channel carries elements of one fixed size (1 byte to 64 KiB) in a
 * ring of fixed capacity.  A send copies one element in, a receive copies
 * the oldest one out (FIFO).  A sender blocks while the ring is full; a
 * receiver blocks while it is empty.  With capacity 0 (unbuffered) a send
 * completes only when a receiver has taken its element, as in Go.
 *
 * kchan_close() is Go's close(ch): later sends fail with -EPIPE, receivers
 * drain what is queued and then see "closed" (a return of 0).  It is not
 * close(2): the descriptor stays open and must still be closed with
 * close(2) when done.
 *
 * Conventions
 * -----------
 * Every function returns a non-negative value on success and a negative
 * errno value on failure (-EPIPE, -EAGAIN, ...).  None of them sets errno:
 * its value is the same after the call as before.  All functions are
 * thread-safe; the library has no global state.
 *
 * Blocking calls wait until they can proceed.  The try_ forms fail with
 * -EAGAIN instead, and so does every form when the descriptor is
 * O_NONBLOCK.  The _timeout forms wait at most timeout_ns nanoseconds
 * (measured on CLOCK_MONOTONIC) and then fail with -ETIMEDOUT.  A signal
 * that interrupts a wait makes the call fail with -EINTR, unless the
 * handler has SA_RESTART and the call has no timeout, in which case the
 * kernel restarts it.  Nothing is ever half done: an element is either
 * sent or not, received or not.
 *
 * Errors common to every call that takes a channel @ch:
 *	-EBADF	@ch is not an open file descriptor.
 *	-ENOTTY	@ch is not a kchan channel.
 * and to every call that takes an element buffer:
 *	-EFAULT	the buffer is not accessible; nothing was moved.
 */
#ifndef CHANUSER_H
#define CHANUSER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Flags of kchan_make().  The same values as <linux/kchan.h>; either
 * header may be included first.
 */
#ifndef KCHAN_CLOEXEC
/* The channel descriptor is close-on-exec (O_CLOEXEC). */
#define KCHAN_CLOEXEC		0x1U
#endif
#ifndef KCHAN_NONBLOCK
/* The channel descriptor is O_NONBLOCK: no call on it ever blocks. */
#define KCHAN_NONBLOCK		0x2U
#endif
#ifndef KCHAN_LOSSY
/* kchan_make_broadcast(): sends never block; the oldest is overwritten. */
#define KCHAN_LOSSY		0x4U
#endif
#ifndef KCHAN_SUBSCRIBE_OLDEST
/* kchan_subscribe(): start with the oldest element the channel holds. */
#define KCHAN_SUBSCRIBE_OLDEST	0x10U
#endif

/*
 * kchan_make - create a channel.
 * @elem_size: size of one element in bytes, 1 to 65536.
 * @capacity: number of elements the channel buffers, up to 2^20; 0 makes
 *	an unbuffered channel (a send waits for a receiver to take the
 *	element).
 * @flags: 0, or KCHAN_CLOEXEC and/or KCHAN_NONBLOCK.
 *
 * The figures above are the module's defaults; an administrator may lower
 * them (module parameters max_elem_size, max_capacity, max_ring_bytes).
 *
 * Returns the new channel descriptor.  Errors: -EINVAL (a size, capacity
 * or flag out of range; elem_size times capacity over 64 MiB), -ENOSPC
 * (the user has max_channels_per_user channels, 16384 by default),
 * -ENOMEM (also at the memory cgroup's memory.max), -EMFILE, -ENFILE, and
 * the errors of open(2) on /dev/kchan, notably -ENOENT when the kchan
 * module is not loaded and -EACCES.
 */
int kchan_make(size_t elem_size, size_t capacity, unsigned int flags);

/*
 * kchan_send - send one element, blocking while the channel is full.
 * @ch: channel descriptor.
 * @elem: the element, elem_size bytes; it is copied.
 *
 * Returns 0 once the element is queued or handed to a receiver.
 * Errors: -EPIPE (the channel is closed; nothing was queued), -EAGAIN
 * (O_NONBLOCK descriptor), -EINTR, -ENOMEM.
 */
int kchan_send(int ch, const void *elem);

/*
 * kchan_recv - receive one element, blocking while the channel is empty.
 * @ch: channel descriptor.
 * @elem: buffer of elem_size bytes to receive into.
 *
 * Returns 1 when an element was received, 0 when the channel is closed
 * and drained (@elem is left untouched).  Errors: -EAGAIN (O_NONBLOCK
 * descriptor), -EINTR, -ENOMEM.
 */
int kchan_recv(int ch, void *elem);

/*
 * kchan_try_send - send one element if that can be done without blocking.
 *
 * As kchan_send(), but fails with -EAGAIN where kchan_send() would block.
 */
int kchan_try_send(int ch, const void *elem);

/*
 * kchan_try_recv - receive one element if that can be done without
 * blocking.
 *
 * As kchan_recv(), but fails with -EAGAIN where kchan_recv() would block.
 */
int kchan_try_recv(int ch, void *elem);

/*
 * kchan_send_timeout - send one element, blocking at most @timeout_ns.
 * @timeout_ns: nanoseconds to wait; < 0 waits forever (as kchan_send()),
 *	0 tries once without waiting.
 *
 * As kchan_send(), plus -ETIMEDOUT when the time ran out before the
 * element could be sent (at once if @timeout_ns is 0).
 */
int kchan_send_timeout(int ch, const void *elem, int64_t timeout_ns);

/*
 * kchan_recv_timeout - receive one element, blocking at most @timeout_ns.
 * @timeout_ns: nanoseconds to wait; < 0 waits forever (as kchan_recv()),
 *	0 tries once without waiting.
 *
 * As kchan_recv(), plus -ETIMEDOUT when the time ran out before an element
 * arrived or the channel was closed (at once if @timeout_ns is 0).
 */
int kchan_recv_timeout(int ch, void *elem, int64_t timeout_ns);

/*
 * kchan_send_many - send up to @n elements in one call.
 * @elems: @n elements laid out back to back.
 * @n: number of elements, 1 or more.
 *
 * Blocks until the first element is sent, then sends as many of the rest
 * as can go without blocking.  Returns the number sent (1 to @n): the
 * caller sends the remainder again.  Errors: -EINVAL (@n is 0, or @n
 * times elem_size is too large), -EPIPE (closed before the first element
 * was sent), -EAGAIN (O_NONBLOCK descriptor), -EINTR, -ENOMEM.
 */
ssize_t kchan_send_many(int ch, const void *elems, size_t n);

/*
 * kchan_recv_many - receive up to @n elements in one call.
 * @elems: buffer for @n elements laid out back to back.
 * @n: number of elements, 1 or more.
 *
 * Blocks until the first element is available, then takes as many as are
 * ready, up to @n.  Returns the number received, or 0 when the channel is
 * closed and drained.  Errors: -EINVAL (@n is 0, or @n times elem_size is
 * too large), -EAGAIN (O_NONBLOCK descriptor), -EINTR, -ENOMEM.
 */
ssize_t kchan_recv_many(int ch, void *elems, size_t n);

/*
 * kchan_close - close the channel (Go's close(ch)).
 *
 * Wakes every blocked sender (they fail with -EPIPE) and receiver.
 * Elements already queued are still received, in order.  The descriptor
 * stays open.  Returns 0.  Errors: -EPIPE (already closed).
 */
int kchan_close(int ch);

/*
 * kchan_len - number of elements queued in the channel right now.
 *
 * Returns the count, a snapshot that other threads may change at once.
 * Errors: only the common ones above.
 */
int kchan_len(int ch);

/*
 * struct kchan_chan_stats - a channel's counters, filled by kchan_stats().
 *
 * @sends, @recvs: elements sent and received since the channel was made.
 * @selects_won: selects that returned a case on this channel.
 * @send_blocks, @recv_blocks: times a sender or receiver (or a select
 * case) blocked on it.  @timeouts: blocked calls that hit their deadline.
 * @wait_hist: log2 histogram of blocked-wait durations: bucket i counts
 * waits that lasted [2^i, 2^(i+1)) ns (bucket 0 also 0 ns, bucket 31
 * everything longer).
 */
struct kchan_chan_stats {
	uint64_t sends, recvs, selects_won;
	uint64_t send_blocks, recv_blocks, timeouts;
	uint64_t wait_hist[32];
};

/*
 * kchan_stats - read a channel's statistics into @st.
 *
 * One consistent snapshot.  Returns 0.  Errors: only the common ones
 * above.
 */
int kchan_stats(int ch, struct kchan_chan_stats *st);

/*
 * kchan_cap - capacity of the channel in elements.
 *
 * Returns the capacity given to kchan_make().  Errors: only the common
 * ones above.
 */
int kchan_cap(int ch);

/*
 * kchan_elem_size - size of one element of the channel in bytes.
 *
 * Returns the element size given to kchan_make(): the unit of read(2)
 * and write(2) on the descriptor.  Errors: only the common ones above.
 */
int kchan_elem_size(int ch);

/*
 * Select: Go's select statement over several channels.
 *
 * Each case names a channel descriptor (or -1: a case that is never ready,
 * Go's nil channel), an operation and one element: the element to send, or
 * the buffer to receive into.  Exactly one case proceeds; nothing happens
 * on the others.  The same channel may appear in several cases.
 */
#ifndef KCHAN_CASE_RECV
enum { KCHAN_CASE_RECV = 1, KCHAN_CASE_SEND = 2 };
#endif

struct kchan_case {
	int	ch;	/* descriptor, or -1 for a case that is never ready */
	int	op;	/* KCHAN_CASE_RECV or KCHAN_CASE_SEND */
	void	*elem;	/* element to send, or buffer to receive into */
	int	closed;	/* out: 1 if a receive case fired because the
			 * channel is closed (its buffer is untouched) */
};

/*
 * kchan_select - perform one of @n cases (at most 128, the kernel's
 * KCHAN_SELECT_MAX_CASES).
 * @timeout_ns: < 0 waits until a case can proceed; 0 does not wait (Go's
 *	default case); > 0 waits at most that long.
 *
 * Among the cases that can proceed, one is chosen uniformly at random.
 * A receive case on a closed and drained channel can proceed: it sets its
 * @closed.  n == 0, or only -1 cases, is Go's empty select: it waits for
 * the timeout (forever if < 0), until a signal.
 *
 * Returns the index of the case that proceeded, or
 *	-EAGAIN	@timeout_ns == 0 and no case was ready.
 *	-ETIMEDOUT	the timeout ran out.
 *	-EPIPE	the chosen case sends on a closed channel.
 *	-EINVAL	more than 128 cases, an unknown op, or a descriptor that is
 *		not a channel (-ENOTTY when it is the first case's).
 *	-EBADF	a descriptor is not open.
 *	-EINTR, -EFAULT, -ENOMEM as for the other calls.
 */
int kchan_select(struct kchan_case *cases, size_t n, int64_t timeout_ns);

/*
 * kchan_select_biased - kchan_select(), but among the cases that can
 * proceed when it looks, the first in array order is performed (Rust
 * crossbeam's select_biased!).  A select that has to wait proceeds with
 * whichever case becomes ready first.  Since LIBCHANUSER_1.1.
 */
int kchan_select_biased(struct kchan_case *cases, size_t n,
			int64_t timeout_ns);

/*
 * Selectors: a persistent set of cases, like an epoll instance, whose wait
 * performs one case, like a select.  Since LIBCHANUSER_1.1.
 *
 * kchan_selector - a new selector descriptor; @flags: KCHAN_CLOEXEC,
 * KCHAN_NONBLOCK (waits never block).  It is pollable (readable while some
 * case may proceed), so it nests in epoll loops, and can be passed to other
 * processes like any descriptor.
 *
 * kchan_selector_add - register case @c (its ch, op and elem; closed is
 * not used) with @tag.  @c->elem is kept and dereferenced, when the case
 * fires, in the memory of the process that waits.  A case is its channel
 * and direction: -EEXIST when that is in the selector already (through any
 * descriptor of the channel).  The channel's last close(2) removes it from
 * every selector.  -EBADF, -EINVAL (not a channel, bad op), -ENOSPC (the
 * user's kernel memory budget).
 *
 * kchan_selector_del - remove the case of channel @ch and direction @op;
 * -ENOENT if it is not in.
 *
 * kchan_selector_wait - perform exactly one registered case that can
 * proceed, chosen uniformly at random among them, and set *@tag to its tag.
 * @timeout_ns as for kchan_select().  Returns 1 (sent or received) or 0 (a
 * receive case on a closed and drained channel; its buffer is untouched),
 * or -EAGAIN (timeout 0, none ready), -ETIMEDOUT, -EPIPE (a send case on a
 * closed channel; *@tag says which), -EINTR, -EFAULT (*@tag says which).
 * With no cases it waits for the timeout.  The cost of a wait does not
 * grow with the registered cases that cannot proceed.
 */
int kchan_selector(unsigned int flags);
int kchan_selector_add(int sel, const struct kchan_case *c, uint64_t tag);
int kchan_selector_del(int sel, int ch, int op);
int kchan_selector_wait(int sel, uint64_t *tag, int64_t timeout_ns);

/*
 * Broadcast channels: every subscriber receives every element.  Since
 * LIBCHANUSER_1.2.
 *
 * kchan_make_broadcast - a broadcast channel whose ring holds @capacity
 * elements of @elem_size bytes, each stored once however many subscribe.
 * @capacity >= 1 (else -EINVAL).  @flags: KCHAN_CLOEXEC, KCHAN_NONBLOCK,
 * KCHAN_LOSSY.  The descriptor sends: every send form, select send cases,
 * write(2); kchan_close() closes the channel, and so does its last
 * close(2).  Receiving on it is -EBADF.
 * Lossless (default): a send blocks while the slowest subscriber still has
 * @capacity elements to receive.  KCHAN_LOSSY: a send never blocks, the
 * oldest element is overwritten.
 *
 * kchan_subscribe - a new subscriber descriptor of broadcast channel @bch;
 * @flags: KCHAN_CLOEXEC, KCHAN_NONBLOCK, KCHAN_SUBSCRIBE_OLDEST.  It
 * receives, in order and each exactly once, every element sent after the
 * call returned (with KCHAN_SUBSCRIBE_OLDEST also those still held): every
 * receive form, select and selector receive cases, read(2), poll.  Sending
 * on it, and kchan_close() of it, is -EBADF.  A lagging subscriber of a
 * lossy channel gets -EOVERFLOW from its next receive (once per gap,
 * nothing written), then continues with the oldest element held.  Its last
 * close(2) unsubscribes it.
 *
 * kchan_lost - the elements subscriber @sub has missed so far (lossy
 * channels; on a lossless one 0, unless its mapped cursor was written by
 * something other than libchanuser or a faulting receive raced a mapped
 * one), or -EBADF on a broadcast descriptor.
 */
int kchan_make_broadcast(size_t elem_size, size_t capacity, unsigned int flags);
int kchan_subscribe(int bch, unsigned int flags);
int64_t kchan_lost(int sub);

/*
 * Tasks: threads that act as goroutines, cgroup-aware.
 *
 * kchan_go() is Go's go statement: it runs fn(arg) on a new thread (a
 * POSIX thread: link with -pthread, which pkg-config adds) and hands back
 * a task.  kchan_join() waits for fn to return and gives its result; it
 * frees the task, so every task is joined exactly once.
 *
 * A task may run in a cgroup of its own: attr->cgroup names a cgroup v2
 * directory, such as "/sys/fs/cgroup/app/workers", and the new thread
 * moves into it (writes its thread ID to the directory's cgroup.threads)
 * before fn starts.  Threads of one process may only be spread over that
 * process's domain: the cgroup must be the process's own cgroup or a
 * threaded cgroup below it (cgroup.type "threaded"; see "Threads" in the
 * kernel's Documentation/admin-guide/cgroup-v2.rst).  When the move fails,
 * kchan_go() says why, fn never runs and no thread is left behind.
 * Without a cgroup, a task runs where the thread that started it runs.
 *
 * A task group waits for many tasks at once, like Go's sync.WaitGroup:
 * kchan_group_go() starts a task in the group and kchan_group_wait()
 * joins every task started in it.  The results of fn are discarded; tasks
 * report through channels, or through their argument.
 *
 * There is no call that cancels a task: as with Go's ctx.Done(), a task
 * that should stop on request also selects on a "done" channel that
 * nobody sends on, and the canceller calls kchan_close(done).  Every
 * receive case on a closed channel fires (with @closed set), so every task
 * sees it, however many there are.  examples/workers.c shows the idiom.
 */
struct kchan_task;

struct kchan_task_attr {
	const char	*cgroup;	/* cgroup v2 directory to run in, or
					 * NULL to stay in the caller's */
};

/*
 * kchan_go - start a task: run @fn(@arg) on a new thread.
 * @task: out: the task, to pass to kchan_join().
 * @fn: the function; its return value is the task's result.
 * @attr: NULL, or the task's attributes (a NULL @attr->cgroup is the same
 *	as a NULL @attr).
 *
 * With a cgroup, kchan_go() returns only once the thread is in it, or has
 * failed to get there and exited without calling @fn.
 *
 * Returns 0.  Errors:
 *	-EINVAL	@task or @fn is NULL, or the cgroup path is a directory
 *		that is not in a cgroup v2 hierarchy.
 *	-ENOENT, -ENOTDIR, -EACCES, -ELOOP, -ENAMETOOLONG
 *		as open(2) says for the cgroup path or its cgroup.threads.
 *	-EOPNOTSUPP	the cgroup is outside the process's domain: neither
 *		its own cgroup nor a threaded cgroup below it.
 *	-EBUSY, -ENODEV, ...	other refusals of the move, as the kernel
 *		gives them for a write to cgroup.threads.
 *	-EAGAIN, -ENOMEM	no thread could be created.
 */
int kchan_go(struct kchan_task **task, void *(*fn)(void *), void *arg,
	     const struct kchan_task_attr *attr);

/*
 * kchan_join - wait for a task to finish and free it.
 * @result: NULL, or where to store the task's result (@fn's return value).
 *
 * Returns 0; @task is then freed.  Errors: -EINVAL (@task is NULL),
 * -EDEADLK (a task joining itself; nothing is freed).
 */
int kchan_join(struct kchan_task *task, void **result);

/* A task group: tasks waited for together. */
struct kchan_group;

/*
 * kchan_group_new - create an empty task group.
 * @group: out: the group, to free with kchan_group_free().
 *
 * Returns 0.  Errors: -EINVAL (@group is NULL), -ENOMEM.
 */
int kchan_group_new(struct kchan_group **group);

/*
 * kchan_group_go - start a task in @group.
 *
 * As kchan_go(), but the task belongs to @group, which joins it in
 * kchan_group_wait().  Tasks of the group may start more tasks in it.
 * Returns 0, or an error of kchan_go() (-EINVAL also for a NULL @group);
 * on error nothing was added to the group.
 */
int kchan_group_go(struct kchan_group *group, void *(*fn)(void *), void *arg,
		   const struct kchan_task_attr *attr);

/*
 * kchan_group_wait - join every task of @group.
 *
 * Waits until every task started in @group has finished, including tasks
 * that tasks of the group start while it waits, and every
 * kchan_group_go() that had begun when it was called has returned.  The
 * group is then empty and may be used again.  Several threads may wait at
 * once: each returns when the group is empty.  A task must not wait for
 * its own group: the call fails with -EDEADLK if it comes to join the
 * caller, and never returns if another thread is joining the caller.
 *
 * Returns the number of tasks this call joined.  Errors: -EINVAL (@group
 * is NULL), -EDEADLK (see above; the tasks joined so far are freed).
 */
int kchan_group_wait(struct kchan_group *group);

/*
 * kchan_group_free - free an empty task group.
 *
 * Returns 0 (also for a NULL @group).  Errors: -EBUSY (the group still
 * has tasks to wait for, or another call on it is in progress; nothing
 * was freed).
 */
int kchan_group_free(struct kchan_group *group);

/*
 * The mapped fast path
 * --------------------
 * Buffered channels made by kchan_make() are mappable (unless the
 * environment says KCHAN_FASTPATH=0), and the library maps one into the
 * process the first time a send or receive names it: then sends and
 * receives move elements through memory shared with the kernel and the
 * other processes, and enter the kernel only to sleep or to wake a
 * sleeper.  Nothing else changes, with one exception: through a mapped
 * channel the library copies elements itself, so a buffer that is not
 * accessible raises SIGSEGV, as memcpy(3) would, instead of failing with
 * -EFAULT (NULL and addresses that cannot be user memory still fail with
 * -EFAULT).  The fault comes before anything is claimed: nothing is lost.
 */

/*
 * kchan_map - map a channel for the fast path now.
 *
 * Returns 1 when sends and receives on @ch take the fast path, 0 when they
 * take the kernel path (the fast path is off, or @ch is not a mappable
 * channel: unbuffered, broadcast, made with the raw ioctl without
 * KCHAN_MAPPABLE), or a negative errno: -EBADF.
 */
int kchan_map(int ch);

/*
 * kchan_unmap - drop the library's mapping of a channel.
 *
 * For a descriptor about to be closed: a mapping keeps its channel's
 * memory until it is dropped, which the library otherwise does only when
 * a later call notices that the descriptor is gone.  Later sends and
 * receives on @ch map it again.  Returns 0.
 */
int kchan_unmap(int ch);

#ifdef __cplusplus
}
#endif

#endif /* CHANUSER_H */
