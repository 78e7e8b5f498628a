/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kchan: what differs between the kernels kchan builds for, in one place.
 *
 * Core files call these helpers instead of testing kernel versions or
 * configuration options themselves.  No state, no locks.
 */
#ifndef _KCHAN_COMPAT_H
#define _KCHAN_COMPAT_H

#include <linux/cgroup.h>
#include <linux/file.h>
#include <linux/ktime.h>
#include <linux/mm.h>
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

/* The file of a struct fd: a macro since 6.12, a member before. */
#ifdef fd_file
#define kchan_fd_file(f)	fd_file(f)
#else
#define kchan_fd_file(f)	((f).file)
#endif

/*
 * The calling task's cgroup v2 cgroup, referenced (the loop of
 * cgroup_sk_alloc(): a cgroup whose last reference is going is one the
 * task is leaving), or NULL without cgroups.
 */
static inline struct cgroup *kchan_cgroup_get_current(void)
{
#ifdef CONFIG_CGROUPS
	struct cgroup *cgrp;

	rcu_read_lock();
	while (!cgroup_tryget(cgrp = task_dfl_cgroup(current)))
		cpu_relax();
	rcu_read_unlock();
	return cgrp;
#else
	return NULL;
#endif
}

/* Drop a reference from kchan_cgroup_get_current(); NULL is fine. */
static inline void kchan_cgroup_put(struct cgroup *cgrp)
{
#ifdef CONFIG_CGROUPS
	if (cgrp)
		cgroup_put(cgrp);
#endif
}

/*
 * @cgrp's path as the calling task's cgroup namespace sees it, into @buf;
 * may sleep.  Returns 0, or -ENOENT (no cgroup) or -ENAMETOOLONG, with
 * @buf then undefined.
 */
static inline int kchan_cgroup_path(struct cgroup *cgrp, char *buf,
				    size_t len)
{
#ifdef CONFIG_CGROUPS
	int ret;

	if (!cgrp)
		return -ENOENT;
	/* current's nsproxy changes only by current's own doing. */
	ret = cgroup_path_ns(cgrp, buf, len, current->nsproxy->cgroup_ns);
	if (ret < 0)
		return ret;
	return ret < len ? 0 : -ENAMETOOLONG;
#else
	return -ENOENT;
#endif
}

/*
 * Set @set and clear @clear in a VMA's flags, from an mmap handler (the
 * process's mmap_lock held for writing).  Since 6.3 the flags are written
 * only through helpers (Kbuild probes for them).
 */
static inline void kchan_vma_set_flags(struct vm_area_struct *vma,
				       vm_flags_t set, vm_flags_t clear)
{
#ifdef KCHAN_HAVE_VM_FLAGS_MOD
	vm_flags_mod(vma, set, clear);
#else
	vma->vm_flags = (vma->vm_flags | set) & ~clear;
#endif
}

#endif /* _KCHAN_COMPAT_H */
