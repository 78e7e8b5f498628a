// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * select.c - kchan_select() and kchan_select_biased(), Go's select
 * statement: the public cases are translated into the ABI's struct
 * kchan_select_case and handed to KCHAN_IOC_SELECT in one call.
 */
#include <errno.h>
#include <fcntl.h>

#include <chanuser.h>
#include <linux/kchan.h>

#include "syscall.h"

/*
 * KCHAN_IOC_SELECT may be issued on any channel descriptor, so use one of
 * the cases'; only a select without channels opens /dev/kchan for it.
 */
static int select_fd(const struct kchan_case *cases, size_t n, int *opened)
{
	size_t i;

	*opened = -1;
	for (i = 0; i < n; i++)
		if (cases[i].ch >= 0)
			return cases[i].ch;
	*opened = sys_open("/dev/kchan", O_RDWR | O_CLOEXEC);
	return *opened;
}

/* KCHAN_IOC_SELECT over @cases with @flags besides the timeout's. */
static int do_select(struct kchan_case *cases, size_t n, int64_t timeout_ns,
		     unsigned int flags)
{
	/* Only the first @n are passed, each filled below. */
	struct kchan_select_case kc[KCHAN_SELECT_MAX_CASES];
	struct kchan_select arg = {
		.size		= sizeof(arg),
		.cases		= (uintptr_t)kc,
		.nr_cases	= n,
		.case_size	= sizeof(kc[0]),
	};
	int fd, opened, ret;
	size_t i;

	if (n > KCHAN_SELECT_MAX_CASES)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		kc[i] = (struct kchan_select_case){
			.fd	= cases[i].ch < 0 ? -1 : cases[i].ch,
			.op	= cases[i].op,
			.elem	= (uintptr_t)cases[i].elem,
		};
	}
	arg.flags = flags;
	if (timeout_ns == 0) {
		arg.flags |= KCHAN_SELECT_NONBLOCK;
	} else if (timeout_ns > 0) {
		arg.deadline_ns = sys_deadline_ns(timeout_ns);
		if (arg.deadline_ns < 0)
			return arg.deadline_ns;
		arg.flags |= KCHAN_SELECT_DEADLINE;
	}

	fd = select_fd(cases, n, &opened);
	if (fd < 0)
		return fd;
	ret = sys_ioctl(fd, KCHAN_IOC_SELECT, &arg);
	if (opened >= 0)
		sys_close(opened);
	if (ret < 0)
		return ret;

	for (i = 0; i < n; i++)
		cases[i].closed = 0;
	i = ret & KCHAN_SELECT_INDEX_MASK;
	cases[i].closed = !!(ret & KCHAN_SELECT_CLOSED);
	return i;
}

int kchan_select(struct kchan_case *cases, size_t n, int64_t timeout_ns)
{
	return do_select(cases, n, timeout_ns, 0);
}

int kchan_select_biased(struct kchan_case *cases, size_t n, int64_t timeout_ns)
{
	return do_select(cases, n, timeout_ns, KCHAN_SELECT_BIASED);
}
