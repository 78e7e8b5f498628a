// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * selector.c - persistent selectors: kchan_selector() creates one through
 * /dev/kchan (KCHAN_IOC_SELECTOR_CREATE), the other calls are one ioctl
 * each on the selector descriptor.
 */
#include <errno.h>

#include <chanuser.h>
#include <linux/kchan.h>

#include "syscall.h"

int kchan_selector(unsigned int flags)
{
	struct kchan_selector_create arg = {
		.size	= sizeof(arg),
		.flags	= flags,
	};

	return sys_dev_ioctl(KCHAN_IOC_SELECTOR_CREATE, &arg);
}

int kchan_selector_add(int sel, const struct kchan_case *c, uint64_t tag)
{
	struct kchan_selector_ctl arg = {
		.size	= sizeof(arg),
		.fd	= c->ch,
		.op	= (uint32_t)c->op,
		.elem	= (uintptr_t)c->elem,
		.tag	= tag,
	};

	return sys_ioctl(sel, KCHAN_IOC_SELECTOR_ADD, &arg);
}

int kchan_selector_del(int sel, int ch, int op)
{
	struct kchan_selector_ctl arg = {
		.size	= sizeof(arg),
		.fd	= ch,
		.op	= (uint32_t)op,
	};

	return sys_ioctl(sel, KCHAN_IOC_SELECTOR_DEL, &arg);
}

int kchan_selector_wait(int sel, uint64_t *tag, int64_t timeout_ns)
{
	struct kchan_selector_wait arg = {
		.size	= sizeof(arg),
	};
	int ret;

	if (timeout_ns == 0) {
		arg.flags = KCHAN_SELECTOR_WAIT_NONBLOCK;
	} else if (timeout_ns > 0) {
		arg.deadline_ns = sys_deadline_ns(timeout_ns);
		if (arg.deadline_ns < 0)
			return arg.deadline_ns;
		arg.flags = KCHAN_SELECTOR_WAIT_DEADLINE;
	}
	ret = sys_ioctl(sel, KCHAN_IOC_SELECTOR_WAIT, &arg);
	if (ret >= 0 || ret == -EPIPE || ret == -EFAULT)
		*tag = arg.tag;
	return ret;
}
