/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A seccomp filter for the fast-path tests: a process that must not enter
 * kchan by a system call forbids itself ioctl(2), read(2) and write(2).
 */
#ifndef KCHAN_SECCOMP_H
#define KCHAN_SECCOMP_H

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A child's exit status: seccomp filters are not available. */
#define SECCOMP_MISSING	42

/*
 * Kill the calling process at its next ioctl(2), read(2) or write(2): the
 * system calls by which a send or receive could enter kchan.
 */
static inline int forbid_kchan_syscalls(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_read, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_write, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = {
		.len = sizeof(filter) / sizeof(filter[0]),
		.filter = filter,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) ? -errno : 0;
}

#endif /* KCHAN_SECCOMP_H */
