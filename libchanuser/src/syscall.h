/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * syscall.h - the only place libchanuser talks to the C library's system
 * call wrappers.
 *
 * Each wrapper returns the result or -errno and leaves errno as it found
 * it, so that no public function changes errno.  Nothing here retries on
 * EINTR: the kernel restarts what may be restarted.
 */
#ifndef CHANUSER_SYSCALL_H
#define CHANUSER_SYSCALL_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

static inline int sys_result(int ret, int saved_errno)
{
	if (ret < 0)
		ret = -errno;
	errno = saved_errno;
	return ret;
}

static inline int sys_open(const char *path, int flags)
{
	int saved_errno = errno;

	return sys_result(open(path, flags), saved_errno);
}

static inline int sys_close(int fd)
{
	int saved_errno = errno;

	return sys_result(close(fd), saved_errno);
}

static inline int sys_ioctl(int fd, unsigned long cmd, void *arg)
{
	int saved_errno = errno;

	return sys_result(ioctl(fd, cmd, arg), saved_errno);
}

/* An ioctl on a descriptor of /dev/kchan opened for it; the result. */
static inline int sys_dev_ioctl(unsigned long cmd, void *arg)
{
	int dev = sys_open("/dev/kchan", O_RDWR | O_CLOEXEC), ret;

	if (dev < 0)
		return dev;
	ret = sys_ioctl(dev, cmd, arg);
	sys_close(dev);
	return ret;
}

/* CLOCK_MONOTONIC now in nanoseconds (never negative), or -errno. */
static inline int64_t sys_monotonic_ns(void)
{
	int saved_errno = errno;
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		return sys_result(-1, saved_errno);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The absolute CLOCK_MONOTONIC deadline @timeout_ns from now, saturating
 * rather than wrapping for huge timeouts; or -errno.  Absolute, so a
 * restarted call does not wait longer.
 */
static inline int64_t sys_deadline_ns(int64_t timeout_ns)
{
	int64_t now = sys_monotonic_ns(), deadline;

	if (now < 0)
		return now;
	if (__builtin_add_overflow(now, timeout_ns, &deadline))
		deadline = INT64_MAX;
	return deadline;
}

static inline int sys_openat(int dirfd, const char *path, int flags)
{
	int saved_errno = errno;

	return sys_result(openat(dirfd, path, flags), saved_errno);
}

static inline int sys_fstatfs(int fd, struct statfs *st)
{
	int saved_errno = errno;

	return sys_result(fstatfs(fd, st), saved_errno);
}

/* write(2) of a few bytes (a count that fits an int), or -errno. */
static inline int sys_write(int fd, const void *buf, size_t len)
{
	int saved_errno = errno;

	return sys_result(write(fd, buf, len), saved_errno);
}

#endif /* CHANUSER_SYSCALL_H */
