// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * xfer.c - moving elements: every send and receive form.  All of them go
 * through xfer(), the one wrapper around KCHAN_IOC_SEND/KCHAN_IOC_RECV;
 * the public functions only pick the flags and shape the result.
 */
#include <errno.h>

#include <chanuser.h>
#include <linux/kchan.h>

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
	return sent(sys_ioctl(ch, KCHAN_IOC_SEND_ONE, (void *)elem));
}

int kchan_try_send(int ch, const void *elem)
{
	return sent(xfer(ch, KCHAN_IOC_SEND, elem, 1, KCHAN_XFER_NONBLOCK, 0));
}

int kchan_send_timeout(int ch, const void *elem, int64_t timeout_ns)
{
	return sent(xfer_timeout(ch, KCHAN_IOC_SEND, elem, timeout_ns));
}

/* Receives return the ioctl's count as is: 1 received, 0 closed. */
int kchan_recv(int ch, void *elem)
{
	return sys_ioctl(ch, KCHAN_IOC_RECV_ONE, elem);
}

int kchan_try_recv(int ch, void *elem)
{
	return xfer(ch, KCHAN_IOC_RECV, elem, 1, KCHAN_XFER_NONBLOCK, 0);
}

int kchan_recv_timeout(int ch, void *elem, int64_t timeout_ns)
{
	return xfer_timeout(ch, KCHAN_IOC_RECV, elem, timeout_ns);
}

ssize_t kchan_send_many(int ch, const void *elems, size_t n)
{
	if (!n)
		return -EINVAL;
	return xfer(ch, KCHAN_IOC_SEND, elems, n, 0, 0);
}

ssize_t kchan_recv_many(int ch, void *elems, size_t n)
{
	if (!n)
		return -EINVAL;
	return xfer(ch, KCHAN_IOC_RECV, elems, n, 0, 0);
}
