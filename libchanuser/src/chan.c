// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * chan.c - the channel object: kchan_make(), kchan_make_broadcast(),
 * kchan_close(), the KCHAN_IOC_INFO queries (kchan_len(), kchan_cap(),
 * kchan_elem_size()) and kchan_stats().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

/*
 * chanuser.h first: if its copies of the KCHAN_* flags ever differed from
 * the UAPI's, the redefinition would break the build.
 */
#include <chanuser.h>
#include <linux/kchan.h>

#include "fastpath.h"
#include "syscall.h"

/* KCHAN_IOC_CREATE with @flags, as they are. */
static int create(size_t elem_size, size_t capacity, unsigned int flags)
{
	struct kchan_create arg = {
		.size		= sizeof(arg),
		.flags		= flags,
		.elem_size	= elem_size,
		.capacity	= capacity,
	};

	/* Ranges are the kernel's to check; only truncation is ours. */
	if (arg.elem_size != elem_size || arg.capacity != capacity)
		return -EINVAL;
	return sys_dev_ioctl(KCHAN_IOC_CREATE, &arg);
}

/*
 * Buffered channels are made mappable (KCHAN_MAPPABLE) for the fast path
 * (fastpath.c) unless the environment says KCHAN_FASTPATH=0.  The new
 * descriptor's number may have named another channel: forget that one.
 */
int kchan_make(size_t elem_size, size_t capacity, unsigned int flags)
{
	int ch;

	if (capacity && fp_enabled())
		flags |= KCHAN_MAPPABLE;
	ch = create(elem_size, capacity, flags);
	if (ch >= 0)
		fp_forget(ch);
	return ch;
}

/* Likewise: the subscribers of a mappable broadcast channel are mapped. */
int kchan_make_broadcast(size_t elem_size, size_t capacity, unsigned int flags)
{
	int ch;

	if (fp_enabled())
		flags |= KCHAN_MAPPABLE;
	ch = create(elem_size, capacity, flags | KCHAN_BROADCAST);
	if (ch >= 0)
		fp_forget(ch);
	return ch;
}

int kchan_close(int ch)
{
	return sys_ioctl(ch, KCHAN_IOC_CLOSE, NULL);
}

static int chan_info(int ch, struct kchan_info *info)
{
	*info = (struct kchan_info){ .size = sizeof(*info) };
	return sys_ioctl(ch, KCHAN_IOC_INFO, info);
}

int kchan_len(int ch)
{
	struct kchan_info info;
	int ret = chan_info(ch, &info);

	return ret < 0 ? ret : (int)info.len;
}

int kchan_cap(int ch)
{
	struct kchan_info info;
	int ret = chan_info(ch, &info);

	return ret < 0 ? ret : (int)info.capacity;
}

int kchan_elem_size(int ch)
{
	struct kchan_info info;
	int ret = chan_info(ch, &info);

	return ret < 0 ? ret : (int)info.elem_size;
}

int kchan_stats(int ch, struct kchan_chan_stats *st)
{
	struct kchan_stats ks = { .size = sizeof(ks) };
	int ret, i;

	_Static_assert(sizeof(st->wait_hist) / sizeof(st->wait_hist[0]) ==
		       KCHAN_STATS_HIST_BUCKETS, "histogram size");
	ret = sys_ioctl(ch, KCHAN_IOC_STATS, &ks);
	if (ret < 0)
		return ret;
	st->sends = ks.sends;
	st->recvs = ks.recvs;
	st->selects_won = ks.selects_won;
	st->send_blocks = ks.send_blocks;
	st->recv_blocks = ks.recv_blocks;
	st->timeouts = ks.timeouts;
	for (i = 0; i < KCHAN_STATS_HIST_BUCKETS; i++)
		st->wait_hist[i] = ks.wait_hist[i];
	return 0;
}
