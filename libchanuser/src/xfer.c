// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * xfer.c - moving elements: every send and receive form.  On a mapped
 * channel each tries the fast path first (fastpath.c), which moves the
 * element without a system call unless the ring is full (empty) or
 * something else needs the kernel; otherwise, and then, the kernel does it
 * through xfer(), the one wrapper around KCHAN_IOC_SEND/KCHAN_IOC_RECV.
 * The public functions only pick the flags and shape the result.
 */
#include <errno.h>

#include <chanuser.h>
#include <linux/kchan.h>

#include "fastpath.h"
#include "syscall.h"

/* Issue @cmd for @n elements at @elems; elements moved or -errno. */
static ssize_t xfer(int ch, unsigned long cmd, const void *elems, size_t n,
		    unsigned int flags, int64_t deadline_ns)
{
	struct kchan_xfer arg = {
		.size		= sizeof(arg),
		.flags		= flags,
		.elems		= (uintptr_t)elems,
		.count		= n,
		.deadline_ns	= deadline_ns,
	};

	return sys_ioctl(ch, cmd, &arg);
}

/* One element, waiting at most @timeout_ns (< 0: forever). */
static ssize_t xfer_timeout(int ch, unsigned long cmd, const void *elem,
			    int64_t timeout_ns)
{
	int64_t deadline;

	if (timeout_ns < 0)
		return xfer(ch, cmd, elem, 1, 0, 0);

	deadline = sys_deadline_ns(timeout_ns);
	if (deadline < 0)
		return deadline;
	return xfer(ch, cmd, elem, 1, KCHAN_XFER_DEADLINE, deadline);
}

/* A send moved its one element: the public send forms then return 0. */
static int sent(ssize_t ret)
{
	return ret < 0 ? (int)ret : 0;
}

/* The plain blocking forms take the lean one-element ioctls. */
int kchan_send(int ch, const void *elem)
{
	int ret = fp_send_one(ch, elem, 0);

	if (ret != FP_KERNEL)
		return ret;
	return sent(sys_ioctl(ch, KCHAN_IOC_SEND_ONE, (void *)elem));
}

int kchan_try_send(int ch, const void *elem)
{
	int ret = fp_send_one(ch, elem, 1);

	if (ret != FP_KERNEL)
		return ret;
	return sent(xfer(ch, KCHAN_IOC_SEND, elem, 1, KCHAN_XFER_NONBLOCK, 0));
}

int kchan_send_timeout(int ch, const void *elem, int64_t timeout_ns)
{
	int ret = fp_send_one(ch, elem, 0);

	if (ret != FP_KERNEL)
		return ret;
	return sent(xfer_timeout(ch, KCHAN_IOC_SEND, elem, timeout_ns));
}

/* Receives return the ioctl's count as is: 1 received, 0 closed. */
int kchan_recv(int ch, void *elem)
{
	int ret = fp_recv_one(ch, elem, 0);

	if (ret != FP_KERNEL)
		return ret;
	return sys_ioctl(ch, KCHAN_IOC_RECV_ONE, elem);
}

int kchan_try_recv(int ch, void *elem)
{
	int ret = fp_recv_one(ch, elem, 1);

	if (ret != FP_KERNEL)
		return ret;
	return xfer(ch, KCHAN_IOC_RECV, elem, 1, KCHAN_XFER_NONBLOCK, 0);
}

int kchan_recv_timeout(int ch, void *elem, int64_t timeout_ns)
{
	int ret = fp_recv_one(ch, elem, 0);

	if (ret != FP_KERNEL)
		return ret;
	return xfer_timeout(ch, KCHAN_IOC_RECV, elem, timeout_ns);
}

/*
 * Up to @n elements through the fast path, in runs, until one needs the
 * kernel.  Returns how many moved, or -errno if the first failed for good
 * (-EPIPE); 0 when the first needs the kernel (as does a count whose
 * bytes overflow, for the kernel to refuse).
 */
static ssize_t fast_many(int ch, struct fp_chan *c, const void *elems,
			 size_t n, int send)
{
	size_t esz = (size_t)fp_elem_size(c), done = 0;
	ssize_t ret = 0;

	if (n > SIZE_MAX / esz)
		return 0;
	while (done < n) {
		uint8_t *e = (uint8_t *)elems + done * esz;

		ret = send ? fp_send_many(ch, c, e, n - done) :
			     fp_recv_many(ch, c, e, n - done);
		if (ret <= 0)
			break;
		done += (size_t)ret;
	}
	return done ? (ssize_t)done : ret;
}

/*
 * kchan_send_many() and kchan_recv_many() on a mapped channel: what the
 * fast path cannot move, the kernel moves one element of (blocking for it
 * as the call allows), and the fast path then moves as many more as it
 * can without blocking - the calls' "block for the first, then as many as
 * fit" - rather than the kernel copying them one by one.
 */
static ssize_t mapped_many(int ch, struct fp_chan *c, void *elems, size_t n,
			   int send)
{
	ssize_t ret = fast_many(ch, c, elems, n, send), more;
	size_t esz = fp_elem_size(c);

	if (ret)
		return ret;
	if (send) {
		ret = sys_ioctl(ch, KCHAN_IOC_SEND_ONE, elems);
		ret = ret < 0 ? ret : 1;
	} else {
		ret = sys_ioctl(ch, KCHAN_IOC_RECV_ONE, elems);
	}
	if (ret != 1 || n == 1)
		return ret;
	more = fast_many(ch, c, (uint8_t *)elems + esz, n - 1, send);
	return more > 0 ? 1 + more : 1;
}

ssize_t kchan_send_many(int ch, const void *elems, size_t n)
{
	struct fp_chan *c;

	if (!n)
		return -EINVAL;
	c = fp_lookup(ch);
	if (c)
		return mapped_many(ch, c, (void *)elems, n, 1);
	return xfer(ch, KCHAN_IOC_SEND, elems, n, 0, 0);
}

ssize_t kchan_recv_many(int ch, void *elems, size_t n)
{
	struct fp_chan *c;

	if (!n)
		return -EINVAL;
	c = fp_lookup(ch);
	if (c)
		return mapped_many(ch, c, elems, n, 0);
	return xfer(ch, KCHAN_IOC_RECV, elems, n, 0, 0);
}
