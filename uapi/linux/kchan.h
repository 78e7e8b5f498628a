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
 * - ENOTTY: unknown ioctl command on /dev/kchan or on a channel descriptor.
 * - EFAULT: an argument pointer (the argument structure or an element
 *   buffer) is not accessible.  Nothing was sent, received or created.
 * - EINVAL: @size is smaller than the first published version of the
 *   structure, a flag is unknown, a reserved field is not zero, or a size,
 *   count or capacity is out of range.
 * - E2BIG: @size is larger than the kernel knows and the unknown tail is
 *   not all zero (the caller asks for a feature this kernel lacks), or
 *   @size is larger than a page.
 * - EPIPE: send on a closed channel, or a second close.
 * - EAGAIN: the operation would block and the descriptor is O_NONBLOCK
 *   or the call passed %KCHAN_XFER_NONBLOCK.
 * - ETIMEDOUT: the %KCHAN_XFER_DEADLINE deadline passed before the
 *   operation could complete.
 * - EINTR: a signal handler ran while the operation was blocked.  A call
 *   without a deadline is instead restarted transparently when the handler
 *   has SA_RESTART; stops and the freezer restart any call (a deadline is
 *   absolute, so it does not drift).  Nothing was transferred.
 * - ENOMEM: the channel's ring (or a waiter record) could not be
 *   allocated; it is charged to the caller's memory cgroup.
 * - EMFILE/ENFILE: no descriptor left for the new channel.
 */

/**
 * KCHAN_IOC_MAGIC - ioctl type byte of kchan (0xC5, unused in
 * Documentation/userspace-api/ioctl/ioctl-number.rst).
 */
#define KCHAN_IOC_MAGIC		0xC5

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
 * struct kchan_create - argument of %KCHAN_IOC_CREATE
 * @size: sizeof(struct kchan_create) as known to user space; at least
 *	%KCHAN_CREATE_SIZE_VER0.
 * @flags: %KCHAN_CLOEXEC and/or %KCHAN_NONBLOCK; other bits must be zero.
 * @elem_size: size of one element in bytes, 1 to %KCHAN_ELEM_SIZE_MAX.
 * @__reserved: must be zero.
 * @capacity: number of elements the ring holds, 1 to %KCHAN_CAPACITY_MAX;
 *	@elem_size times @capacity must not exceed %KCHAN_RING_BYTES_MAX.
 *	0 (an unbuffered channel) is rejected with EINVAL by this version.
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
 * @deadline_ns: absolute CLOCK_MONOTONIC time in nanoseconds, used only
 *	with %KCHAN_XFER_DEADLINE (must be zero otherwise).  Being absolute,
 *	it survives a restarted call without drift.
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
 * @len: out: elements now queued in the ring.
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
 * KCHAN_IOC_CREATE - create a channel; on /dev/kchan.
 *
 * Argument: struct kchan_create.  Returns the new channel descriptor.
 */
#define KCHAN_IOC_CREATE	_IO(KCHAN_IOC_MAGIC, 0x00)

/**
 * KCHAN_IOC_SEND - send elements; on a channel descriptor.
 *
 * Argument: struct kchan_xfer.  Returns the number of elements sent.
 */
#define KCHAN_IOC_SEND		_IO(KCHAN_IOC_MAGIC, 0x10)

/**
 * KCHAN_IOC_RECV - receive elements; on a channel descriptor.
 *
 * Argument: struct kchan_xfer.  Returns the number of elements received,
 * 0 when closed and drained.
 */
#define KCHAN_IOC_RECV		_IO(KCHAN_IOC_MAGIC, 0x11)

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
#define KCHAN_IOC_INFO		_IO(KCHAN_IOC_MAGIC, 0x13)

#endif /* _UAPI_LINUX_KCHAN_H */
