/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kchan: what differs between the kernels kchan builds for, in one place.
 *
 * Core files call these helpers instead of testing kernel versions or
 * configuration options themselves.  No state, no locks.
 */
#ifndef _KCHAN_COMPAT_H
#define _KCHAN_COMPAT_H

#include <linux/ktime.h>
#include <linux/nsproxy.h>
#include <linux/overflow.h>
#include <linux/sched.h>
#include <linux/time_namespace.h>

/*
 * A CLOCK_MONOTONIC time read by the calling task, which may live in a
 * time namespace, as the host's monotonic time that hrtimers use.  The
 * namespace helper timens_ktime_to_host() needs a symbol that is not
 * exported to modules, so apply the namespace's offset directly; the
 * result saturates instead of wrapping.
 */
static inline ktime_t kchan_monotonic_to_host(s64 ns)
{
#ifdef CONFIG_TIME_NS
	const struct timens_offsets *off = &current->nsproxy->time_ns->offsets;
	s64 host;

	if (check_sub_overflow(ns, timespec64_to_ns(&off->monotonic), &host))
		host = off->monotonic.tv_sec < 0 ? KTIME_MAX : KTIME_MIN;
	return ns_to_ktime(host);
#else
	return ns_to_ktime(ns);
#endif
}

#endif /* _KCHAN_COMPAT_H */
