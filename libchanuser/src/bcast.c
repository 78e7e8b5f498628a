// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * bcast.c - subscribers of broadcast channels (kchan_make_broadcast() is
 * in chan.c): kchan_subscribe() and kchan_lost() are one ioctl each.
 * Sending and receiving use the ordinary calls of xfer.c and select.c on
 * the descriptors; a subscriber of a mappable channel receives through
 * its mapping (fastpath.c).
 */
#include <chanuser.h>
#include <linux/kchan.h>

#include "fastpath.h"
#include "syscall.h"

int kchan_subscribe(int bch, unsigned int flags)
{
	struct kchan_subscribe arg = {
		.size	= sizeof(arg),
		.flags	= flags,
	};

	int sub = sys_ioctl(bch, KCHAN_IOC_SUBSCRIBE, &arg);

	/* The number may have named another channel: forget that one. */
	if (sub >= 0)
		fp_forget(sub);
	return sub;
}

int64_t kchan_lost(int sub)
{
	uint64_t lost = 0;
	int ret = sys_ioctl(sub, KCHAN_IOC_LOST, &lost);

	return ret < 0 ? ret : (int64_t)lost;
}
