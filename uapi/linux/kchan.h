/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kchan: Go-style channels as a kernel object.
 *
 * This header is the whole ABI between kchan.ko and user space.  Every
 * argument structure starts with a __u32 @size that user space sets to
 * sizeof() of the structure it was built with; the kernel reads it with
 * copy_struct_from_user() semantics so that old binaries keep working when
 * fields are appended.  New fields are only ever added at the end.
 */
#ifndef _UAPI_LINUX_KCHAN_H
#define _UAPI_LINUX_KCHAN_H

#include <linux/ioctl.h>
#include <linux/types.h>

/**
 * DOC: General errors
 *
 * Every ioctl returns a negative errno on failure (the C library turns it
 * into -1 and errno):
 *
 * - ENOTTY: unknown ioctl command (also a number built with another
 *   direction or size than this header's) on /dev/kchan, on a channel
 *   descriptor or on a selector descriptor, or a command issued on the
 *   wrong kind of descriptor.
 * - EFAULT: an argument pointer (the argument structure or an element
 *   buffer) is not accessible.  Nothing was sent, received or created.
 * - EINVAL: @size is smaller than the first published version of the
 *   structure, a flag is unknown, a reserved field is not zero, or a size,
 *   count or capacity is out of range.
 * - E2BIG: @size is larger than the kernel knows and the unknown tail is
 *   not all zero (the caller asks for a feature this kernel lacks), or
 *   @size is larger than a page.
 * - EPIPE: send on a closed channel, or a second close.
 * - EOVERFLOW: a receive (any form, a select's or a selector's receive
 *   case) on a subscriber of a %KCHAN_LOSSY broadcast channel whose
 *   cursor fell behind the oldest element held: reported once per gap,
 *   nothing received; %KCHAN_IOC_LOST counts the elements missed, and
 *   the next receive gets the oldest element held.
 * - EAGAIN: the operation would block and the descriptor is O_NONBLOCK
 *   or the call passed %KCHAN_XFER_NONBLOCK (%KCHAN_SELECT_NONBLOCK for a
 *   select, which ignores O_NONBLOCK; %KCHAN_SELECTOR_WAIT_NONBLOCK, or a
 *   selector created with %KCHAN_NONBLOCK, for a selector wait).
 * - ETIMEDOUT: the %KCHAN_XFER_DEADLINE (%KCHAN_SELECT_DEADLINE,
 *   %KCHAN_SELECTOR_WAIT_DEADLINE) deadline passed before the operation
 *   could complete.
 * - EINTR: a signal handler ran while the operation was blocked.  A call
 *   without a deadline is instead restarted transparently when the handler
 *   has SA_RESTART; stops and the freezer restart any call (a deadline is
 *   absolute, so it does not drift).  Also a fatal signal that interrupts
 *   the wait for a channel's (or a selector's) lock, which another task
 *   may hold for long while its user copy is stalled.  Nothing was
 *   transferred.
 * - EEXIST, ENOENT: %KCHAN_IOC_SELECTOR_ADD of a case already registered,
 *   %KCHAN_IOC_SELECTOR_DEL of one that is not (struct kchan_selector_ctl).
 * - ENOMEM: an allocation failed: the channel, its ring, the buffer a
 *   blocking call parks its element in or the record of its wait, the
 *   bookkeeping of a select of more than 8 cases, a selector or one of its
 *   cases.  All are charged to the caller's memory cgroup, and a cgroup at
 *   its memory.max gets ENOMEM, not an OOM kill.
 * - ENOSPC: a per-user budget is spent (the module parameters
 *   max_channels_per_user, user_bytes_soft and user_bytes_hard; a task in
 *   a user namespace counts against the host user who owns it):
 *   %KCHAN_IOC_CREATE when the user already has max_channels_per_user
 *   channels or the channel would take its channels beyond
 *   user_bytes_soft; and any charge beyond user_bytes_hard: a creation, a
 *   send, receive or select that has to block (the element it parks
 *   counts against the channel's creator), a select of more than 8 cases,
 *   %KCHAN_IOC_SELECTOR_CREATE, %KCHAN_IOC_SELECTOR_ADD.  Nothing was
 *   done.
 * - EMFILE/ENFILE: no descriptor left for the new channel or selector.
 */

/**
 * KCHAN_IOC_MAGIC - ioctl type byte of kchan (0xC5, unused in
 * Documentation/userspace-api/ioctl/ioctl-number.rst).
 *
 * Each command that passes a structure encodes its direction and the size
 * of the structure's first published version in its number (_IOW() or
 * _IOWR()), as Documentation/process/botching-up-ioctls.rst asks; the
 * structure's own @size field still says which version the caller passes.
 * Should a structure grow, the command number built with the larger size is
 * added and the earlier number stays valid.  %KCHAN_IOC_SEND_ONE and
 * %KCHAN_IOC_RECV_ONE pass one element whose size is the channel's, and
 * %KCHAN_IOC_CLOSE passes nothing: those are _IO().  Any other number is
 * ENOTTY.
 */
#define KCHAN_IOC_MAGIC		0xC5

/*
 * The ceilings of the limits.  An administrator may lower each with the
 * module parameters max_elem_size, max_capacity and max_ring_bytes under
 * /sys/module/kchan/parameters/; a creation beyond them fails with EINVAL.
 */
/** KCHAN_ELEM_SIZE_MAX - largest element size in bytes. */
#define KCHAN_ELEM_SIZE_MAX	65536
/** KCHAN_CAPACITY_MAX - largest capacity in elements (2^20). */
#define KCHAN_CAPACITY_MAX	0x100000U
/** KCHAN_RING_BYTES_MAX - largest ring: element size times capacity (64 MiB). */
#define KCHAN_RING_BYTES_MAX	0x4000000U

/* Flags of struct kchan_create. */
/** KCHAN_CLOEXEC - the new channel descriptor is close-on-exec. */
#define KCHAN_CLOEXEC		0x1U
/** KCHAN_NONBLOCK - the new channel descriptor is O_NONBLOCK. */
#define KCHAN_NONBLOCK		0x2U
/**
 * KCHAN_LOSSY - with %KCHAN_BROADCAST: sends never block; when the ring is
 * full the oldest element is overwritten, and a subscriber that falls more
 * than the capacity behind is told (EOVERFLOW) and counts what it lost.
 */
#define KCHAN_LOSSY		0x4U
/**
 * KCHAN_BROADCAST - create a broadcast channel: every subscriber
 * (%KCHAN_IOC_SUBSCRIBE) receives every element sent after it subscribed.
 * The capacity must be at least 1.  See DOC: Broadcast channels.
 */
#define KCHAN_BROADCAST		0x8U
/**
 * KCHAN_MAPPABLE - create a buffered channel whose ring is kept in the
 * shared format of the mapped fast path (Documentation/design/fastpath.rst):
 * the same channel to every operation, which the kernel moves elements of
 * without holding the channel's lock.  The capacity must be at least 1.
 * Its descriptor can be mapped with mmap(2): see DOC: Mapped channels.
 * With %KCHAN_BROADCAST: the broadcast channel's subscriber descriptors
 * can be mapped, see DOC: Mapped subscribers.
 */
#define KCHAN_MAPPABLE		0x10U

/**
 * struct kchan_create - argument of %KCHAN_IOC_CREATE
 * @size: sizeof(struct kchan_create) as known to user space; at least
 *	%KCHAN_CREATE_SIZE_VER0.
 * @flags: %KCHAN_CLOEXEC, %KCHAN_NONBLOCK, %KCHAN_BROADCAST, and with it
 *	%KCHAN_LOSSY, %KCHAN_MAPPABLE; other bits must be zero.
 * @elem_size: size of one element in bytes, 1 to %KCHAN_ELEM_SIZE_MAX.
 * @__reserved: must be zero.
 * @capacity: number of elements the ring holds, 0 to %KCHAN_CAPACITY_MAX;
 *	@elem_size times @capacity must not exceed %KCHAN_RING_BYTES_MAX.
 *	0 makes an unbuffered channel: a send completes only when a receiver
 *	has taken its element (Go's rendezvous).
 *
 * Issued on an open descriptor of /dev/kchan.  Returns a new file
 * descriptor that refers to the channel (an anonymous inode "[kchan]").
 * The channel lives as long as any descriptor refers to it.
 */
struct kchan_create {
	__u32 size;
	__u32 flags;
	__u32 elem_size;
	__u32 __reserved;
	__aligned_u64 capacity;
};

/** KCHAN_CREATE_SIZE_VER0 - size of the first published struct kchan_create. */
#define KCHAN_CREATE_SIZE_VER0	24

/* Flags of struct kchan_xfer. */
/**
 * KCHAN_XFER_NONBLOCK - fail with EAGAIN instead of blocking, whatever the
 * descriptor's O_NONBLOCK says.
 */
#define KCHAN_XFER_NONBLOCK	0x1U
/**
 * KCHAN_XFER_DEADLINE - @deadline_ns is valid: block at most until that
 * CLOCK_MONOTONIC time, then fail with ETIMEDOUT.  A deadline already in
 * the past means "try once".
 */
#define KCHAN_XFER_DEADLINE	0x2U

/**
 * struct kchan_xfer - argument of %KCHAN_IOC_SEND and %KCHAN_IOC_RECV
 * @size: sizeof(struct kchan_xfer) as known to user space; at least
 *	%KCHAN_XFER_SIZE_VER0.
 * @flags: %KCHAN_XFER_NONBLOCK, %KCHAN_XFER_DEADLINE; other bits must be
 *	zero.
 * @elems: user pointer to @count elements laid out back to back: the
 *	elements to send, or the buffer to receive into.
 * @count: number of elements, 1 or more; @count times the element size
 *	must not exceed INT_MAX rounded down to a page (as for read(2)).
 * @deadline_ns: absolute CLOCK_MONOTONIC time in nanoseconds (>= 0), as
 *	the caller's clock_gettime() reads it (time namespaces included),
 *	used only with %KCHAN_XFER_DEADLINE (must be zero otherwise).  Being
 *	absolute, it survives a restarted call without drift.
 *
 * Send blocks (unless told not to) until the first element is queued or
 * handed to a receiver, then moves as many further elements as it can
 * without blocking.  Returns the number of elements sent, or EPIPE if the
 * channel was closed before the first one.
 *
 * Receive blocks until the first element is available, then takes as many
 * as are ready, up to @count.  Returns the number of elements received, or
 * 0 when the channel is closed and drained (the buffer is left untouched).
 *
 * A partial batch is not an error: when an element after the first faults
 * or the channel closes, the call returns the count moved so far.
 */
struct kchan_xfer {
	__u32 size;
	__u32 flags;
	__aligned_u64 elems;
	__aligned_u64 count;
	__s64 deadline_ns;
};

/** KCHAN_XFER_SIZE_VER0 - size of the first published struct kchan_xfer. */
#define KCHAN_XFER_SIZE_VER0	32

/* Bits of struct kchan_info.state. */
/** KCHAN_STATE_CLOSED - the channel has been closed (Go's close(ch)). */
#define KCHAN_STATE_CLOSED	0x1U

/**
 * struct kchan_info - argument of %KCHAN_IOC_INFO
 * @size: in: sizeof(struct kchan_info) as known to user space; at least
 *	%KCHAN_INFO_SIZE_VER0.  The kernel fills min(@size, its own size)
 *	bytes, zeroes any tail it does not know, and sets @size to the
 *	number of bytes it filled.
 * @state: out: %KCHAN_STATE_CLOSED.
 * @elem_size: out: element size in bytes.
 * @__reserved: out: zero.
 * @capacity: out: capacity in elements.
 * @len: out: elements now queued (in the ring, plus any a faulting
 *	receiver gave back, so it may briefly exceed @capacity).
 * @sendq: out: senders now blocked on the channel.
 * @recvq: out: receivers now blocked on the channel.
 *
 * A snapshot: other tasks may change the channel the moment it is taken.
 */
struct kchan_info {
	__u32 size;
	__u32 state;
	__u32 elem_size;
	__u32 __reserved;
	__aligned_u64 capacity;
	__aligned_u64 len;
	__u32 sendq;
	__u32 recvq;
};

/** KCHAN_INFO_SIZE_VER0 - size of the first published struct kchan_info. */
#define KCHAN_INFO_SIZE_VER0	40

/**
 * DOC: Mapped channels
 *
 * A channel created with %KCHAN_MAPPABLE may be mapped by any process that
 * holds a descriptor of it, in two mappings told apart by the offset of
 * mmap(2); %KCHAN_IOC_MAP_INFO says their offsets and sizes.  Each must be
 * mapped whole, from its offset:
 *
 * - the control page, at offset %KCHAN_MAP_CONTROL, read-only: struct kchan_map_ctrl, which
 *   only the kernel writes.  PROT_WRITE or PROT_EXEC is EPERM, and
 *   mprotect(2) cannot add them later.
 * - the ring, at the offset of one page, read-write and %MAP_SHARED (%MAP_PRIVATE is EINVAL):
 *   the positions, slot words and elements of the shared ring, in the
 *   protocol of Documentation/design/fastpath.rst.  Mapping it gives the
 *   process (its mm) a map id, the owner of the slots it claims; when the
 *   process's last ring mapping of the channel goes (munmap(2), exit), the
 *   kernel repairs the claims it left: a send claimed and not published
 *   never happened, a receive claimed and not finished did.
 *
 * Neither is inherited across fork(2), and neither can grow (mremap(2)).
 * Any other offset or length is EINVAL, a channel that is not mappable
 * (or a broadcast or subscriber descriptor) ENODEV, and a 65 535th
 * process mapping the same ring at once ENOSPC.  A mapping keeps the
 * ring's pages, not the channel: the channel ends with its last
 * descriptor as any channel does, and the pages are freed when the last
 * mapping is gone too.
 */

/** KCHAN_MAP_CONTROL - mmap(2) offset of the control page. */
#define KCHAN_MAP_CONTROL	0x0ULL

/** KCHAN_MAP_MAGIC - struct kchan_map_ctrl.magic: "kchn". */
#define KCHAN_MAP_MAGIC		0x6e68636bU
/** KCHAN_MAP_VERSION - struct kchan_map_ctrl.version of this protocol. */
#define KCHAN_MAP_VERSION	1

/* Bits of struct kchan_map_ctrl.state. */
/** KCHAN_MAP_CLOSED - the channel is closed: a send claims nothing more. */
#define KCHAN_MAP_CLOSED	0x1U
/**
 * KCHAN_MAP_RETURNED - the kernel holds elements a faulting receiver gave
 * back, older than any in the ring: receive through the kernel.
 */
#define KCHAN_MAP_RETURNED	0x2U

/**
 * KCHAN_MAP_WAITERS_ARMED - bit 31 of a waiter word: a poll, epoll or
 * selector waits for the change; bits 30..0 count the tasks blocked in
 * the kernel.
 */
#define KCHAN_MAP_WAITERS_ARMED	0x80000000U

/**
 * struct kchan_map_ctrl - the control page of a mapped channel
 * @magic: %KCHAN_MAP_MAGIC.
 * @version: %KCHAN_MAP_VERSION.
 * @elem_size: bytes per element.
 * @capacity: slots in the ring.
 * @ring_size: bytes of the ring mapping.
 * @head_offset: offset in the ring mapping of the receive position, a
 *	64-bit hint.
 * @tail_offset: of the send position, a 64-bit hint.
 * @slots_offset: of the @capacity 64-bit slot words.
 * @elems_offset: of the @capacity elements, @elem_size bytes each.
 * @state: %KCHAN_MAP_CLOSED, %KCHAN_MAP_RETURNED.
 * @fd_closes: counts the close(2)s of descriptors of the channel, in any
 *	process: a library that caches a mapping per descriptor number
 *	checks with %KCHAN_IOC_MAP_INFO that the number still names the
 *	channel of @cookie when this changed.
 * @cookie: the channel's identity, unique until the next boot.
 * @__pad0: zero.
 * @recv_waiters: non-zero when a task in the kernel waits for an element
 *	(a blocked receive or select, an armed poll, epoll or selector): a
 *	send that published one must then call %KCHAN_IOC_WAKE.
 * @__pad1: zero.
 * @send_waiters: likewise for room: a receive that freed a slot must then
 *	call %KCHAN_IOC_WAKE.
 * @__pad2: zero.
 *
 * Written by the kernel only; the waiter words each have a cache line.
 * The fields up to @elems_offset, and @cookie, never change.  The full
 * barrier between publishing a slot and reading a waiter word is the
 * caller's (Documentation/design/fastpath.rst, "Waking").
 */
struct kchan_map_ctrl {
	__u32 magic;
	__u32 version;
	__u32 elem_size;
	__u32 capacity;
	__aligned_u64 ring_size;
	__u32 head_offset;
	__u32 tail_offset;
	__u32 slots_offset;
	__u32 elems_offset;
	__u32 state;
	__u32 fd_closes;
	__aligned_u64 cookie;
	__u32 __pad0[2];
	__u32 recv_waiters;
	__u32 __pad1[15];
	__u32 send_waiters;
	__u32 __pad2[15];
};

/**
 * struct kchan_map_info - argument of %KCHAN_IOC_MAP_INFO
 * @size: in: sizeof(struct kchan_map_info) as known to user space; at
 *	least %KCHAN_MAP_INFO_SIZE_VER0.  Out as for struct kchan_info.
 * @map_id: out: the calling process's map id, 1 to 65 534, while it has
 *	the ring mapped; else 0 (always 0 for a subscriber).
 * @control_offset: out: %KCHAN_MAP_CONTROL.
 * @control_size: out: bytes of the read-only mapping: the control page
 *	(a subscriber's: the control page and the elements).
 * @ring_offset: out: the offset of the read-write mapping for mmap(2):
 *	the ring (a subscriber's: its cursor page).
 * @ring_size: out: bytes of the read-write mapping.
 * @cookie: out: the channel's identity, as struct kchan_map_ctrl.cookie;
 *	a subscriber's own identity, unique until the next boot.
 */
struct kchan_map_info {
	__u32 size;
	__u32 map_id;
	__aligned_u64 control_offset;
	__aligned_u64 control_size;
	__aligned_u64 ring_offset;
	__aligned_u64 ring_size;
	__aligned_u64 cookie;
};

/** KCHAN_MAP_INFO_SIZE_VER0 - size of the first struct kchan_map_info. */
#define KCHAN_MAP_INFO_SIZE_VER0	48

/** KCHAN_SELECT_MAX_CASES - most cases one select may name. */
#define KCHAN_SELECT_MAX_CASES	128

/* Values of struct kchan_select_case.op. */
/** KCHAN_CASE_RECV - the case receives into @elem. */
#define KCHAN_CASE_RECV		1
/** KCHAN_CASE_SEND - the case sends the element at @elem. */
#define KCHAN_CASE_SEND		2

/**
 * KCHAN_SELECT_CLOSED - set in the return value of %KCHAN_IOC_SELECT, next
 * to the case index, when the chosen receive case fired because its
 * channel is closed and drained; its buffer was left untouched.
 */
#define KCHAN_SELECT_CLOSED	0x10000
/** KCHAN_SELECT_INDEX_MASK - the case index in that return value. */
#define KCHAN_SELECT_INDEX_MASK	0xffff

/**
 * struct kchan_select_case - one case of a select
 * @fd: a channel descriptor, or -1 for a case that is never ready (Go's
 *	nil channel).
 * @op: %KCHAN_CASE_RECV or %KCHAN_CASE_SEND.
 * @elem: user pointer to the element to send, or the buffer to receive
 *	into; one element of the channel's size.
 * @flags: must be zero (no case flags are defined yet).
 * @__reserved: must be zero.
 *
 * The kernel only reads cases; the outcome is the ioctl's return value.
 */
struct kchan_select_case {
	__s32 fd;
	__u32 op;
	__aligned_u64 elem;
	__u32 flags;
	__u32 __reserved;
};

/** KCHAN_SELECT_CASE_SIZE_VER0 - size of the first struct kchan_select_case. */
#define KCHAN_SELECT_CASE_SIZE_VER0	24

/* Flags of struct kchan_select. */
/**
 * KCHAN_SELECT_NONBLOCK - Go's default case: when no case is ready, fail
 * with EAGAIN at once.
 */
#define KCHAN_SELECT_NONBLOCK	0x1U
/**
 * KCHAN_SELECT_DEADLINE - @deadline_ns is valid: wait at most until that
 * CLOCK_MONOTONIC time, then fail with ETIMEDOUT.
 */
#define KCHAN_SELECT_DEADLINE	0x2U
/**
 * KCHAN_SELECT_BIASED - among the cases ready when the select looks, the
 * first in array order proceeds, instead of one chosen at random (Rust
 * crossbeam's select_biased!).  A select that has to block still proceeds
 * with whichever case becomes ready first.
 */
#define KCHAN_SELECT_BIASED	0x4U

/**
 * struct kchan_select - argument of %KCHAN_IOC_SELECT
 * @size: sizeof(struct kchan_select) as known to user space; at least
 *	%KCHAN_SELECT_SIZE_VER0.
 * @flags: %KCHAN_SELECT_NONBLOCK, %KCHAN_SELECT_DEADLINE,
 *	%KCHAN_SELECT_BIASED; other bits must be zero.
 * @cases: user pointer to @nr_cases cases, each @case_size bytes.
 * @nr_cases: number of cases, 0 to %KCHAN_SELECT_MAX_CASES.  The same
 *	channel may appear in several cases.
 * @case_size: sizeof(struct kchan_select_case) as known to user space; at
 *	least %KCHAN_SELECT_CASE_SIZE_VER0, read like @size.
 * @deadline_ns: absolute CLOCK_MONOTONIC time in nanoseconds (>= 0), as
 *	the caller's clock_gettime() reads it, used only with
 *	%KCHAN_SELECT_DEADLINE (must be zero otherwise).
 *
 * Performs exactly one ready case, chosen uniformly at random among the
 * ready ones (the first ready one in array order with
 * %KCHAN_SELECT_BIASED), and returns its index (plus %KCHAN_SELECT_CLOSED for a
 * receive that saw "closed"); nothing happens on the others.  With
 * no case ready it blocks on every channel at once until one can proceed,
 * unless %KCHAN_SELECT_NONBLOCK (EAGAIN) or the deadline (ETIMEDOUT) says
 * otherwise.  A receive case on a closed channel is ready and reports
 * %KCHAN_SELECT_CLOSED; a send case on a closed channel that is chosen makes
 * the select fail with EPIPE.  With no case that can ever be ready (no
 * case, or only -1 descriptors) it waits for the deadline, forever without
 * one (Go's empty select), until a signal.
 *
 * The select ignores the O_NONBLOCK flag of the descriptor it is issued
 * on.  Errors besides the general ones: EBADF for a descriptor that is not
 * open; EINVAL for one that is not a channel, an unknown @op, non-zero
 * case @flags or @__reserved, more than %KCHAN_SELECT_MAX_CASES cases,
 * @case_size below %KCHAN_SELECT_CASE_SIZE_VER0 or a negative deadline;
 * E2BIG for @case_size above a page or a case's unknown tail not zero;
 * EFAULT when a case's element is not accessible (nothing happened).
 */
struct kchan_select {
	__u32 size;
	__u32 flags;
	__aligned_u64 cases;
	__u32 nr_cases;
	__u32 case_size;
	__s64 deadline_ns;
};

/** KCHAN_SELECT_SIZE_VER0 - size of the first published struct kchan_select. */
#define KCHAN_SELECT_SIZE_VER0	32

/** KCHAN_STATS_HIST_BUCKETS - number of buckets of &struct kchan_stats.wait_hist. */
#define KCHAN_STATS_HIST_BUCKETS	32

/**
 * struct kchan_stats - argument of %KCHAN_IOC_STATS: a channel's counters
 * @size: in: sizeof(struct kchan_stats) as known to user space; at least
 *	%KCHAN_STATS_SIZE_VER0.  Out: the number of bytes the kernel filled,
 *	min(@size, its own size); any bytes beyond that up to the caller's
 *	@size are zeroed.
 * @__reserved: set to zero by the kernel.
 * @sends: elements sent on the channel since it was created.
 * @recvs: elements received.
 * @selects_won: selects that proceeded with a case on this channel: a
 *	send or receive (also one that saw "closed") that the select returned.
 * @send_blocks: times a sender, or a select send case, blocked.
 * @recv_blocks: times a receiver, or a select receive case, blocked.
 * @timeouts: blocked sends, receives and selects that hit their deadline
 *	(a select counts once per distinct channel).
 * @wait_hist: log2 histogram of blocked-wait durations: bucket i counts
 *	the blocked waits on this channel that lasted [2^i, 2^(i+1))
 *	nanoseconds (bucket 0 also 0 ns, the last one everything longer).  A
 *	wait is recorded once it ended, however it ended (completed, closed,
 *	timed out, interrupted); a select records its wait on the channel of
 *	every case it queued, so the buckets sum to @send_blocks +
 *	@recv_blocks once no task is blocked on the channel (a wait left
 *	queued by a task killed while it waited for the channel's lock is
 *	recorded when it is dropped, by the next operation that meets it).
 *
 * A snapshot taken under the channel's lock: the counters are consistent
 * with each other.
 */
struct kchan_stats {
	__u32 size;
	__u32 __reserved;
	__aligned_u64 sends;
	__aligned_u64 recvs;
	__aligned_u64 selects_won;
	__aligned_u64 send_blocks;
	__aligned_u64 recv_blocks;
	__aligned_u64 timeouts;
	__aligned_u64 wait_hist[KCHAN_STATS_HIST_BUCKETS];
};

/** KCHAN_STATS_SIZE_VER0 - size of the first published struct kchan_stats. */
#define KCHAN_STATS_SIZE_VER0	312

/**
 * DOC: Broadcast channels
 *
 * A broadcast channel (%KCHAN_IOC_CREATE with %KCHAN_BROADCAST) stores
 * each element once, in a ring of its capacity; every subscriber has a
 * cursor of its own and receives, in order and each exactly once, every
 * element sent after it subscribed.  The broadcast descriptor sends (every
 * send form, select send cases, write(2)) and closes; each subscriber
 * descriptor (%KCHAN_IOC_SUBSCRIBE) receives (every receive form, select
 * and selector receive cases, read(2), poll).  The other direction is
 * EBADF.  A subscriber descriptor shared by several processes is one
 * cursor: each element goes to one of them.
 *
 * Lossless (the default): a send blocks while the slowest subscriber still
 * has the capacity's worth of elements to receive.  With %KCHAN_LOSSY a
 * send never blocks; the oldest element is overwritten, and a subscriber
 * that fell behind it gets EOVERFLOW from its next receive (once per gap,
 * nothing written to its buffer), its lost count (%KCHAN_IOC_LOST) grows
 * by what it missed, and its next receives continue with the oldest
 * element still held.
 *
 * Elements sent while nobody is subscribed reach nobody.  A subscriber
 * sees only what is sent after it subscribed, or, with
 * %KCHAN_SUBSCRIBE_OLDEST, also the elements the channel still holds.
 * %KCHAN_IOC_CLOSE on the broadcast descriptor: sends fail with EPIPE;
 * every subscriber first receives what was sent before, then sees
 * "closed".  The close(2) of a subscriber's last descriptor unsubscribes
 * it (a lossless sender waiting for it proceeds); that of the broadcast
 * descriptor's last descriptor closes the channel, unless it is closed
 * already: nothing can send on it any more.  %KCHAN_IOC_INFO: on a
 * subscriber, @len is the elements waiting for it; on the broadcast
 * descriptor, the elements held.
 */

/* Flags of struct kchan_subscribe: %KCHAN_CLOEXEC, %KCHAN_NONBLOCK and: */
/**
 * KCHAN_SUBSCRIBE_OLDEST - start with the oldest element the channel still
 * holds, instead of the next one sent.
 */
#define KCHAN_SUBSCRIBE_OLDEST	0x10U

/**
 * struct kchan_subscribe - argument of %KCHAN_IOC_SUBSCRIBE
 * @size: sizeof(struct kchan_subscribe) as known to user space; at least
 *	%KCHAN_SUBSCRIBE_SIZE_VER0.
 * @flags: %KCHAN_CLOEXEC, %KCHAN_NONBLOCK, %KCHAN_SUBSCRIBE_OLDEST; other
 *	bits must be zero.
 */
struct kchan_subscribe {
	__u32 size;
	__u32 flags;
};

/** KCHAN_SUBSCRIBE_SIZE_VER0 - size of the first struct kchan_subscribe. */
#define KCHAN_SUBSCRIBE_SIZE_VER0	8

/**
 * DOC: Mapped subscribers
 *
 * A subscriber of a broadcast channel created with %KCHAN_MAPPABLE may be
 * mapped by the processes that hold its descriptor, in two mappings
 * (%KCHAN_IOC_MAP_INFO on the subscriber descriptor says where):
 *
 * - at offset %KCHAN_MAP_CONTROL, read-only for good (as a mapped
 *   channel's control page): the channel's control page, struct
 *   kchan_bcast_map_ctrl, followed by the pages of the ring's elements,
 *   which only the kernel writes - every subscriber of the channel maps
 *   the same pages;
 * - after it, read-write and %MAP_SHARED: the subscriber's own cursor
 *   page, struct kchan_sub_map_cursor: the position of the next element
 *   the subscriber receives, and the count of its descriptors' closes.
 *
 * A receive through the mappings reads the cursor c; if c is below the
 * control page's @tail and not below its @head, it copies element c, checks
 * @head again (a lossy send may have overwritten it meanwhile: then it
 * receives through the kernel, which reports the gap) and moves the
 * cursor from c to c + 1 with a compare-and-swap (a subscriber descriptor
 * shared by several processes is one cursor: the swap decides which of
 * them receives the element).  The kernel reads the cursor as a hint,
 * bounded by @tail; a process that writes anything else there loses its
 * own subscriber's elements and nothing more.  Documentation/design/
 * fastpath.rst ("Broadcast") has the protocol and its barriers.
 *
 * The mappings are not inherited across fork(2) and cannot grow; they keep
 * the pages, not the subscriber: closing the subscriber's last descriptor
 * unsubscribes it as always.
 */

/**
 * struct kchan_sub_map_cursor - the start of a mapped subscriber's cursor
 * page
 * @cursor: the position of the subscriber's next element; user space
 *	moves it as it receives, the kernel reads it as a hint.
 * @fd_closes: counts the close(2)s of the subscriber's descriptors, in any
 *	process: a library that caches a mapping per descriptor number checks
 *	with %KCHAN_IOC_MAP_INFO that the number still names the subscriber
 *	of its cookie when this changed.  Only the kernel writes it.
 * @__pad: zero.
 */
struct kchan_sub_map_cursor {
	__aligned_u64 cursor;
	__u32 fd_closes;
	__u32 __pad;
};

/** KCHAN_BCAST_MAP_MAGIC - struct kchan_bcast_map_ctrl.magic: "kchb". */
#define KCHAN_BCAST_MAP_MAGIC	0x6268636bU

/**
 * struct kchan_bcast_map_ctrl - the control page of a mapped broadcast
 * channel
 * @magic: %KCHAN_BCAST_MAP_MAGIC.
 * @version: %KCHAN_MAP_VERSION.
 * @elem_size: bytes per element.
 * @capacity: elements in the ring.
 * @flags: %KCHAN_LOSSY if the channel is lossy.
 * @elems_offset: offset of element 0 in the read-only mapping; position
 *	p is element p modulo @capacity.
 * @state: %KCHAN_MAP_CLOSED once the channel is closed.
 * @__pad0: zero.
 * @head: the oldest position the ring still holds (lossy: elements below
 *	it were overwritten).
 * @tail: the position of the next element sent; positions below it and
 *	not below @head are in the ring.
 * @__pad1: zero.
 * @send_waiters: non-zero when a sender waits for room in the kernel (a
 *	blocked send or select, an armed poll of the broadcast descriptor):
 *	a receive that moved a cursor must then call %KCHAN_IOC_WAKE on its
 *	subscriber descriptor.
 * @__pad2: zero.
 *
 * Written by the kernel only.  @head is stored before the elements it
 * lets a lossy send overwrite, @tail (with a release) after the elements
 * it publishes.
 */
struct kchan_bcast_map_ctrl {
	__u32 magic;
	__u32 version;
	__u32 elem_size;
	__u32 capacity;
	__u32 flags;
	__u32 elems_offset;
	__u32 state;
	__u32 __pad0[9];
	__aligned_u64 head;
	__aligned_u64 tail;
	__u32 __pad1[12];
	__u32 send_waiters;
	__u32 __pad2[15];
};

/**
 * DOC: Selectors
 *
 * A selector is a persistent set of send and receive cases, like an epoll
 * instance, whose wait *performs* one case, like a select: register each
 * case once (%KCHAN_IOC_SELECTOR_ADD), then wait as often as needed
 * (%KCHAN_IOC_SELECTOR_WAIT).  A wait performs exactly one case that can
 * proceed, chosen uniformly at random among them, and says which by the
 * tag the case was registered with; its cost does not grow with the
 * registered cases that cannot proceed.  The selector is a descriptor of
 * its own ("[kchan_selector]"): pollable (readable while some case may
 * proceed), inherited over fork(), passed with SCM_RIGHTS.  It does not
 * keep its channels alive: the close(2) of a channel's last descriptor
 * removes the channel's cases from every selector.
 *
 * A case is known by its channel and direction: the same channel through
 * another descriptor (dup(2)) is the same case.  Its element pointer is
 * kept as given and dereferenced, when the case is performed, in the
 * memory of the task that waits.  Each case costs its registering user
 * about 160 bytes of kernel memory, charged to its memory cgroup and its
 * budget (ENOSPC beyond user_bytes_hard).
 *
 * A selector watches readiness; it does not queue as a blocked task does.
 * On an unbuffered channel a send case can proceed only while a receiver
 * is blocked on the channel (in a receive or a select), and a receive case
 * only while a sender is: two selectors, or a selector and a poll loop,
 * never meet each other on an unbuffered channel.
 */

/* Flags of struct kchan_selector_create: %KCHAN_CLOEXEC, %KCHAN_NONBLOCK. */

/**
 * struct kchan_selector_create - argument of %KCHAN_IOC_SELECTOR_CREATE
 * @size: sizeof(struct kchan_selector_create) as known to user space; at
 *	least %KCHAN_SELECTOR_CREATE_SIZE_VER0.
 * @flags: %KCHAN_CLOEXEC and/or %KCHAN_NONBLOCK (a wait on the descriptor
 *	then never blocks, as with %KCHAN_SELECTOR_WAIT_NONBLOCK); other bits
 *	must be zero.
 */
struct kchan_selector_create {
	__u32 size;
	__u32 flags;
};

/** KCHAN_SELECTOR_CREATE_SIZE_VER0 - size of the first struct kchan_selector_create. */
#define KCHAN_SELECTOR_CREATE_SIZE_VER0	8

/**
 * struct kchan_selector_ctl - argument of %KCHAN_IOC_SELECTOR_ADD and
 * %KCHAN_IOC_SELECTOR_DEL
 * @size: sizeof(struct kchan_selector_ctl) as known to user space; at
 *	least %KCHAN_SELECTOR_CTL_SIZE_VER0.
 * @flags: must be zero.
 * @fd: a channel descriptor.
 * @op: %KCHAN_CASE_RECV or %KCHAN_CASE_SEND.
 * @elem: add: user pointer to the element to send or the buffer to receive
 *	into, in the memory of the task that will wait; del: must be zero.
 * @tag: add: the value a wait reports when it performs this case; del:
 *	must be zero.
 *
 * Errors besides the general ones: EBADF for a descriptor that is not
 * open, EINVAL for one that is not a channel; EEXIST when adding a case of
 * the same channel and direction twice; ENOENT when deleting one that is
 * not there; ENOSPC when the caller's budget is spent.
 */
struct kchan_selector_ctl {
	__u32 size;
	__u32 flags;
	__s32 fd;
	__u32 op;
	__aligned_u64 elem;
	__aligned_u64 tag;
};

/** KCHAN_SELECTOR_CTL_SIZE_VER0 - size of the first struct kchan_selector_ctl. */
#define KCHAN_SELECTOR_CTL_SIZE_VER0	32

/* Flags of struct kchan_selector_wait. */
/** KCHAN_SELECTOR_WAIT_NONBLOCK - fail with EAGAIN when no case can proceed. */
#define KCHAN_SELECTOR_WAIT_NONBLOCK	0x1U
/**
 * KCHAN_SELECTOR_WAIT_DEADLINE - @deadline_ns is valid: wait at most until
 * that CLOCK_MONOTONIC time, then fail with ETIMEDOUT.
 */
#define KCHAN_SELECTOR_WAIT_DEADLINE	0x2U

/**
 * struct kchan_selector_wait - argument of %KCHAN_IOC_SELECTOR_WAIT
 * @size: sizeof(struct kchan_selector_wait) as known to user space; at
 *	least %KCHAN_SELECTOR_WAIT_SIZE_VER0.
 * @flags: %KCHAN_SELECTOR_WAIT_NONBLOCK, %KCHAN_SELECTOR_WAIT_DEADLINE;
 *	other bits must be zero.
 * @deadline_ns: absolute CLOCK_MONOTONIC time in nanoseconds (>= 0), as
 *	the caller's clock_gettime() reads it, used only with
 *	%KCHAN_SELECTOR_WAIT_DEADLINE (must be zero otherwise).
 * @tag: out: the tag of the case the wait performed, written whenever the
 *	result concerns a case (1, 0, EPIPE, EFAULT); in: ignored.
 *
 * Performs exactly one registered case that can proceed, chosen uniformly
 * at random among them, and returns 1 (sent or received) or 0 (a receive
 * case whose channel is closed and drained: its buffer is untouched).
 * With no case able to proceed it waits, unless told not to (EAGAIN) or
 * the deadline passes (ETIMEDOUT); with no case registered it waits for the
 * deadline (forever without one) or a signal.  A send case whose channel
 * is closed fails the wait with EPIPE, @tag saying which.  EFAULT: the
 * case's element is not accessible in the waiting task; nothing happened.
 * EINTR/restart: a signal, as for a select.
 */
struct kchan_selector_wait {
	__u32 size;
	__u32 flags;
	__s64 deadline_ns;
	__aligned_u64 tag;
};

/** KCHAN_SELECTOR_WAIT_SIZE_VER0 - size of the first struct kchan_selector_wait. */
#define KCHAN_SELECTOR_WAIT_SIZE_VER0	24

/**
 * KCHAN_IOC_CREATE - create a channel; on /dev/kchan.
 *
 * Argument: struct kchan_create.  Returns the new channel descriptor.
 */
#define KCHAN_IOC_CREATE	_IOW(KCHAN_IOC_MAGIC, 0x00, struct kchan_create)

/**
 * KCHAN_IOC_SEND - send elements; on a channel descriptor.
 *
 * Argument: struct kchan_xfer.  Returns the number of elements sent.
 */
#define KCHAN_IOC_SEND		_IOW(KCHAN_IOC_MAGIC, 0x10, struct kchan_xfer)

/**
 * KCHAN_IOC_RECV - receive elements; on a channel descriptor.
 *
 * Argument: struct kchan_xfer.  Returns the number of elements received,
 * 0 when closed and drained.
 */
#define KCHAN_IOC_RECV		_IOW(KCHAN_IOC_MAGIC, 0x11, struct kchan_xfer)

/**
 * KCHAN_IOC_CLOSE - close the channel (Go's close(ch)); on a channel
 * descriptor.
 *
 * No argument (must be 0, EINVAL otherwise).  Wakes every blocked sender
 * (they fail with EPIPE) and receiver.  Queued elements are still received.
 * Returns 0, or EPIPE if the channel was already closed.
 */
#define KCHAN_IOC_CLOSE		_IO(KCHAN_IOC_MAGIC, 0x12)

/**
 * KCHAN_IOC_INFO - read a snapshot of the channel's state; on a channel
 * descriptor.
 *
 * Argument: struct kchan_info.  Returns 0.
 */
#define KCHAN_IOC_INFO		_IOWR(KCHAN_IOC_MAGIC, 0x13, struct kchan_info)

/**
 * KCHAN_IOC_SEND_ONE - send one element; on a channel descriptor.
 *
 * Argument: a pointer to the element itself, no struct: the lean path of a
 * plain blocking send.  Blocks unless the descriptor is O_NONBLOCK, like
 * write(2) of one element.  Returns 1 (one element sent).
 */
#define KCHAN_IOC_SEND_ONE	_IO(KCHAN_IOC_MAGIC, 0x14)

/**
 * KCHAN_IOC_RECV_ONE - receive one element; on a channel descriptor.
 *
 * Argument: a pointer to the buffer for the element.  Blocks unless the
 * descriptor is O_NONBLOCK.  Returns 1 (one element received) or 0 when the
 * channel is closed and drained (the buffer is left untouched).
 */
#define KCHAN_IOC_RECV_ONE	_IO(KCHAN_IOC_MAGIC, 0x15)

/**
 * KCHAN_IOC_STATS - read the channel's statistics; on a channel descriptor.
 *
 * Argument: struct kchan_stats, @size set by the caller.  Returns 0.
 * Errors besides the general ones: EINVAL when @size is below
 * %KCHAN_STATS_SIZE_VER0, E2BIG when it is above a page.
 */
#define KCHAN_IOC_STATS		_IOWR(KCHAN_IOC_MAGIC, 0x16, struct kchan_stats)

/**
 * KCHAN_IOC_MAP_INFO - how to map a %KCHAN_MAPPABLE channel; on its
 * descriptor.
 *
 * Argument: struct kchan_map_info.  Returns 0.  ENODEV on a channel that
 * is not mappable, or a subscriber of a broadcast channel that is not.
 * See DOC: Mapped channels, DOC: Mapped subscribers.
 */
#define KCHAN_IOC_MAP_INFO	_IOWR(KCHAN_IOC_MAGIC, 0x17, struct kchan_map_info)

/**
 * KCHAN_IOC_WAKE - let the kernel serve what user space changed in a
 * mapped ring; on a %KCHAN_MAPPABLE channel's descriptor.
 *
 * Argument: none, 0.  Hands elements of the ring to blocked receivers,
 * moves blocked senders' elements into free slots, and wakes armed polls,
 * epolls and selectors.  Called by a send that published an element while
 * struct kchan_map_ctrl.recv_waiters was non-zero, and by a receive that
 * freed a slot while @send_waiters was.  On a mapped subscriber's
 * descriptor: takes in the subscriber's cursor, moves blocked senders'
 * elements into the room it made and wakes armed polls of the broadcast
 * descriptor; called by a receive that moved the cursor while struct
 * kchan_bcast_map_ctrl.send_waiters was non-zero.  Returns 0.  ENODEV on
 * a channel (or subscriber) that is not mappable, EINVAL for a non-zero
 * argument.
 */
#define KCHAN_IOC_WAKE		_IO(KCHAN_IOC_MAGIC, 0x18)

/**
 * KCHAN_IOC_SELECT - perform one of several send and receive cases (Go's
 * select); on /dev/kchan or on any channel descriptor (which need not be
 * one of the cases).
 *
 * Argument: struct kchan_select.  Returns the index of the case that
 * proceeded, with %KCHAN_SELECT_CLOSED set for a receive that saw
 * "closed".
 */
#define KCHAN_IOC_SELECT	_IOW(KCHAN_IOC_MAGIC, 0x20, struct kchan_select)

/**
 * KCHAN_IOC_SELECTOR_CREATE - create a selector; on /dev/kchan.
 *
 * Argument: struct kchan_selector_create.  Returns the new selector
 * descriptor.
 */
#define KCHAN_IOC_SELECTOR_CREATE	_IOW(KCHAN_IOC_MAGIC, 0x30, struct kchan_selector_create)

/**
 * KCHAN_IOC_SELECTOR_ADD - register a case; on a selector descriptor.
 *
 * Argument: struct kchan_selector_ctl.  Returns 0.
 */
#define KCHAN_IOC_SELECTOR_ADD		_IOW(KCHAN_IOC_MAGIC, 0x31, struct kchan_selector_ctl)

/**
 * KCHAN_IOC_SELECTOR_DEL - remove a case; on a selector descriptor.
 *
 * Argument: struct kchan_selector_ctl (@elem and @tag zero).  Returns 0.
 */
#define KCHAN_IOC_SELECTOR_DEL		_IOW(KCHAN_IOC_MAGIC, 0x32, struct kchan_selector_ctl)

/**
 * KCHAN_IOC_SELECTOR_WAIT - perform one case that can proceed; on a
 * selector descriptor.
 *
 * Argument: struct kchan_selector_wait.  Returns 1 or 0, @tag set.
 */
#define KCHAN_IOC_SELECTOR_WAIT		_IOWR(KCHAN_IOC_MAGIC, 0x33, struct kchan_selector_wait)

/**
 * KCHAN_IOC_SUBSCRIBE - subscribe to a broadcast channel; on the broadcast
 * descriptor.
 *
 * Argument: struct kchan_subscribe.  Returns the new subscriber descriptor.
 * EBADF on a subscriber descriptor, ENOTTY on a plain channel.
 */
#define KCHAN_IOC_SUBSCRIBE	_IOW(KCHAN_IOC_MAGIC, 0x40, struct kchan_subscribe)

/**
 * KCHAN_IOC_LOST - read how many elements a subscriber has missed; on a
 * subscriber descriptor.
 *
 * Argument: a pointer to a __u64 the kernel sets.  Returns 0.  Always 0 on
 * a lossless channel.  EBADF on the broadcast descriptor, ENOTTY on a
 * plain channel.
 */
#define KCHAN_IOC_LOST		_IOR(KCHAN_IOC_MAGIC, 0x41, __u64)

#endif /* _UAPI_LINUX_KCHAN_H */
