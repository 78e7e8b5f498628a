/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * fastpath.h - the mapped fast path inside libchanuser (fastpath.c):
 * sends and receives through a mapped channel's shared ring, without a
 * system call while neither side has to sleep.
 */
#ifndef CHANUSER_FASTPATH_H
#define CHANUSER_FASTPATH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Results of the one-element steps, besides 0, 1 and -errno. */
#define FP_KERNEL	2	/* the fast path cannot decide: ask the kernel */

struct fp_chan;

int fp_enabled(void);
struct fp_chan *fp_lookup(int ch);
void fp_forget(int ch);

uint32_t fp_elem_size(const struct fp_chan *c);
int fp_send_one(int ch, const void *elem, int try_only);
int fp_recv_one(int ch, void *elem, int try_only);
ssize_t fp_send_many(int ch, struct fp_chan *c, const void *elems, size_t n);
ssize_t fp_recv_many(int ch, struct fp_chan *c, void *elems, size_t n);

#endif /* CHANUSER_FASTPATH_H */
