/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the kchan selftests: raw ioctl wrappers for ABI
 * checks, deterministic "wait until a task is really blocked" helpers,
 * and worker threads that run one blocking operation each.
 *
 * Worker threads never use the ASSERT and EXPECT macros (the harness longjmp()s in
 * the calling thread); they record a result and the test thread checks
 * it after kt_worker_join().
 *
 * Every helper returns a non-negative value or -errno, like libchanuser.
 */
#ifndef KCHAN_TEST_UTIL_H
#define KCHAN_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/kchan.h>
#include <chanuser.h>

#include "kselftest.h"

#define KT_DEV_PATH	"/dev/kchan"
/* How long a helper waits for a condition before giving up. */
#define KT_WAIT_NS	(10LL * 1000 * 1000 * 1000)
#define KT_NSEC		1000000000LL
#define KT_MSEC		1000000LL

static inline int64_t kt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * KT_NSEC + ts.tv_nsec;
}

static inline void kt_sleep_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/*
 * A SIGUSR1 handler that counts deliveries, for the signal tests:
 * kt_install_sigusr1(SA_RESTART or 0) resets the count, and
 * kt_wait_sig_handled(n) waits (bounded) until n were handled.
 */
static atomic_int kt_sig_handled;

static inline void kt_on_sigusr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&kt_sig_handled, 1);
}

static inline int kt_install_sigusr1(int flags)
{
	struct sigaction sa = { .sa_handler = kt_on_sigusr1, .sa_flags = flags };

	sigemptyset(&sa.sa_mask);
	atomic_store(&kt_sig_handled, 0);
	return sigaction(SIGUSR1, &sa, NULL) ? -errno : 0;
}

static inline int kt_wait_sig_handled(int n)
{
	int64_t end = kt_now_ns() + KT_WAIT_NS;

	while (atomic_load(&kt_sig_handled) < n) {
		if (kt_now_ns() > end)
			return -ETIMEDOUT;
		kt_sleep_us(500);
	}
	return 0;
}

/* ioctl() as -errno. */
static inline long kt_ioctl(int fd, unsigned long cmd, unsigned long arg)
{
	long ret = ioctl(fd, cmd, arg);

	return ret < 0 ? -errno : ret;
}

static inline int kt_open_dev(void)
{
	int fd = open(KT_DEV_PATH, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* KCHAN_IOC_CREATE on @dev with @arg (any size, any contents). */
static inline long kt_create_raw(int dev, const void *arg)
{
	return kt_ioctl(dev, KCHAN_IOC_CREATE, (unsigned long)arg);
}

/* A channel through the raw ABI: open /dev/kchan, create, close /dev/kchan. */
static inline int kt_create(uint32_t elem_size, uint64_t capacity, uint32_t flags)
{
	struct kchan_create c = {
		.size = sizeof(c),
		.flags = flags,
		.elem_size = elem_size,
		.capacity = capacity,
	};
	int dev = kt_open_dev();
	long ret;

	if (dev < 0)
		return dev;
	ret = kt_create_raw(dev, &c);
	close(dev);
	return ret;
}

static inline long kt_xfer(int fd, unsigned long cmd, const void *elems, uint64_t count,
			   uint32_t flags, int64_t deadline_ns)
{
	struct kchan_xfer x = {
		.size = sizeof(x),
		.flags = flags,
		.elems = (uintptr_t)elems,
		.count = count,
		.deadline_ns = deadline_ns,
	};

	return kt_ioctl(fd, cmd, (unsigned long)&x);
}

static inline long kt_send_raw(int fd, const void *elems, uint64_t count, uint32_t flags)
{
	return kt_xfer(fd, KCHAN_IOC_SEND, elems, count, flags, 0);
}

static inline long kt_recv_raw(int fd, void *elems, uint64_t count, uint32_t flags)
{
	return kt_xfer(fd, KCHAN_IOC_RECV, elems, count, flags, 0);
}

static inline int kt_info(int fd, struct kchan_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return kt_ioctl(fd, KCHAN_IOC_INFO, (unsigned long)info);
}

/* Queue length, or -errno. */
static inline long kt_len(int fd)
{
	struct kchan_info info;
	int ret = kt_info(fd, &info);

	return ret < 0 ? ret : (long)info.len;
}

/*
 * Wait until exactly @sendq senders and @recvq receivers are blocked on
 * the channel (KCHAN_IOC_INFO counters).  0, or -ETIMEDOUT after
 * KT_WAIT_NS, or the INFO error.
 */
static inline int kt_wait_queues(int fd, unsigned int sendq, unsigned int recvq)
{
	int64_t end = kt_now_ns() + KT_WAIT_NS;
	struct kchan_info info;
	int ret;

	for (;;) {
		ret = kt_info(fd, &info);
		if (ret < 0)
			return ret;
		if (info.sendq == sendq && info.recvq == recvq)
			return 0;
		if (kt_now_ns() > end) {
			fprintf(stderr, "# kt_wait_queues: want sendq=%u recvq=%u, have %u %u\n",
				sendq, recvq, info.sendq, info.recvq);
			return -ETIMEDOUT;
		}
		kt_sleep_us(1000);
	}
}

/* Wait until the ring holds exactly @len elements. */
static inline int kt_wait_len(int fd, uint64_t len)
{
	int64_t end = kt_now_ns() + KT_WAIT_NS;
	struct kchan_info info;
	int ret;

	for (;;) {
		ret = kt_info(fd, &info);
		if (ret < 0)
			return ret;
		if (info.len == len)
			return 0;
		if (kt_now_ns() > end)
			return -ETIMEDOUT;
		kt_sleep_us(1000);
	}
}

/*
 * Wait until thread @tid of this process sleeps inside one of the system
 * calls @nrs (from /proc/self/task/TID/syscall, which reads "running"
 * while the task runs).  Used where no kchan counter exists: a task
 * blocked in poll()/epoll_wait().
 */
static inline int kt_wait_in_syscall(pid_t tid, const long *nrs, int n)
{
	int64_t end = kt_now_ns() + KT_WAIT_NS;
	char path[64], buf[128];

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	for (;;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t len;

		if (fd < 0)
			return -errno;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len > 0) {
			char *endp;
			long nr;

			buf[len] = '\0';
			nr = strtol(buf, &endp, 10);
			if (endp != buf) {
				for (int i = 0; i < n; i++)
					if (nrs[i] == nr)
						return 0;
			}
		}
		if (kt_now_ns() > end)
			return -ETIMEDOUT;
		kt_sleep_us(1000);
	}
}

/*
 * waitpid() for at most KT_WAIT_NS: 0 with *status set, or -ETIMEDOUT
 * (the child is then SIGKILLed and reaped), or -errno.
 */
static inline int kt_waitpid(pid_t pid, int *status)
{
	int64_t end = kt_now_ns() + KT_WAIT_NS;

	for (;;) {
		pid_t ret = waitpid(pid, status, WNOHANG);

		if (ret == pid)
			return 0;
		if (ret < 0 && errno != EINTR)
			return -errno;
		if (kt_now_ns() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			return -ETIMEDOUT;
		}
		kt_sleep_us(1000);
	}
}

/*
 * Small files of sysfs, cgroupfs and procfs.  kt_read_file() reads @path
 * into @buf (NUL-terminated, one trailing newline dropped) and returns the
 * length; kt_write_file() writes @s in one write(2), as "echo" would, and
 * returns 0 (kt_create_file() likewise, creating or truncating the file
 * first); kt_read_u64() parses a file holding one decimal number (or
 * "max", as U64_MAX).  All return -errno on failure.
 */
static inline int kt_read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	n = n < 0 ? -errno : n;
	close(fd);
	if (n < 0)
		return n;
	buf[n] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return n;
}

static inline int kt_write_file_flags(const char *path, const char *s, int flags)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0644);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	n = n < 0 ? -errno : (size_t)n == strlen(s) ? 0 : -EIO;
	close(fd);
	return n;
}

static inline int kt_write_file(const char *path, const char *s)
{
	return kt_write_file_flags(path, s, 0);
}

static inline int kt_create_file(const char *path, const char *s)
{
	return kt_write_file_flags(path, s, O_CREAT | O_TRUNC);
}

static inline int kt_read_u64(const char *path, uint64_t *v)
{
	char buf[64], *end;
	int ret = kt_read_file(path, buf, sizeof(buf));

	if (ret < 0)
		return ret;
	if (!strcmp(buf, "max")) {
		*v = UINT64_MAX;
		return 0;
	}
	errno = 0;
	*v = strtoull(buf, &end, 10);
	if (end == buf || *end || errno)
		return -EINVAL;
	return 0;
}

/* The channel id of descriptor @fd, from its fdinfo: the id or -errno. */
static inline long long kt_chan_id(int fd)
{
	char path[64], buf[4096], *p;
	int ret;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	ret = kt_read_file(path, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	p = strstr(buf, "kchan-id:");
	return p ? strtoll(p + strlen("kchan-id:"), NULL, 10) : -EBADMSG;
}

/* The module's allocation counter (cache.c) and run-time limits (limits.c). */
#define KT_ALLOCATIONS_PATH	"/sys/class/misc/kchan/allocations"
#define KT_PARAM_DIR		"/sys/module/kchan/parameters/"

/* Allocations kchan.ko has made since it was loaded: the count or -errno. */
static inline long long kt_allocations(void)
{
	uint64_t v;
	int ret = kt_read_u64(KT_ALLOCATIONS_PATH, &v);

	return ret < 0 ? ret : (long long)v;
}

/* Module parameter @name (e.g. "max_capacity"): its value or -errno. */
static inline long long kt_param_get(const char *name)
{
	char path[128];
	uint64_t v;
	int ret;

	snprintf(path, sizeof(path), KT_PARAM_DIR "%s", name);
	ret = kt_read_u64(path, &v);
	return ret < 0 ? ret : (long long)v;
}

/* Write @s to module parameter @name: 0 or -errno (the parameter's verdict). */
static inline int kt_param_set(const char *name, const char *s)
{
	char path[128];

	snprintf(path, sizeof(path), KT_PARAM_DIR "%s", name);
	return kt_write_file(path, s);
}

/* Lowest free descriptor number (to show a failed call allocated none). */
static inline int kt_lowest_free_fd(void)
{
	int fd = dup(0);

	if (fd < 0)
		return -errno;
	close(fd);
	return fd;
}

/* Deterministic element contents: element @seq of @size bytes. */
static inline void kt_fill(void *elem, size_t size, uint64_t seq)
{
	unsigned char *p = elem;

	for (size_t i = 0; i < size; i++)
		p[i] = (unsigned char)(seq * 131 + i * 7 + (seq >> 8) + 1);
}

static inline bool kt_check(const void *elem, size_t size, uint64_t seq)
{
	const unsigned char *p = elem;

	for (size_t i = 0; i < size; i++)
		if (p[i] != (unsigned char)(seq * 131 + i * 7 + (seq >> 8) + 1))
			return false;
	return true;
}

/*
 * Worker threads: each runs one operation on a channel and records its
 * result (a library-style non-negative value or -errno).
 */
enum kt_op {
	KT_SEND,		/* kchan_send(fd, buf) */
	KT_RECV,		/* kchan_recv(fd, buf) */
	KT_SEND_TIMEOUT,	/* kchan_send_timeout(fd, buf, timeout_ns) */
	KT_RECV_TIMEOUT,	/* kchan_recv_timeout(fd, buf, timeout_ns) */
	KT_SEND_MANY,		/* kchan_send_many(fd, buf, n) */
	KT_RECV_MANY,		/* kchan_recv_many(fd, buf, n) */
	KT_WRITE,		/* write(fd, buf, n) in bytes */
	KT_READ,		/* read(fd, buf, n) in bytes */
	KT_POLL,		/* poll(fd, events, -1): revents */
	KT_EPOLL,		/* epoll_wait(fd = epoll fd, -1): events of the first */
};

struct kt_worker {
	int fd;
	enum kt_op op;
	void *buf;		/* defaults to @elem */
	size_t n;		/* count (many) or bytes (read/write) */
	int64_t timeout_ns;
	short events;		/* KT_POLL */
	unsigned char elem[64];	/* inline storage for one small element */

	pthread_t thread;
	_Atomic pid_t tid;	/* set by the worker before it starts */
	_Atomic int done;
	long ret;		/* valid once done */
};

static inline long kt_run_op(struct kt_worker *w)
{
	long ret;

	switch (w->op) {
	case KT_SEND:
		return kchan_send(w->fd, w->buf);
	case KT_RECV:
		return kchan_recv(w->fd, w->buf);
	case KT_SEND_TIMEOUT:
		return kchan_send_timeout(w->fd, w->buf, w->timeout_ns);
	case KT_RECV_TIMEOUT:
		return kchan_recv_timeout(w->fd, w->buf, w->timeout_ns);
	case KT_SEND_MANY:
		return kchan_send_many(w->fd, w->buf, w->n);
	case KT_RECV_MANY:
		return kchan_recv_many(w->fd, w->buf, w->n);
	case KT_WRITE:
		ret = write(w->fd, w->buf, w->n);
		return ret < 0 ? -errno : ret;
	case KT_READ:
		ret = read(w->fd, w->buf, w->n);
		return ret < 0 ? -errno : ret;
	case KT_POLL: {
		struct pollfd pfd = { .fd = w->fd, .events = w->events };

		ret = poll(&pfd, 1, -1);
		return ret < 0 ? -errno : pfd.revents;
	}
	case KT_EPOLL: {
		struct epoll_event ev = { 0 };

		ret = epoll_wait(w->fd, &ev, 1, -1);
		return ret < 0 ? -errno : ret == 0 ? 0 : (long)ev.events;
	}
	}
	return -EINVAL;
}

static inline void *kt_worker_main(void *arg)
{
	struct kt_worker *w = arg;

	atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
	w->ret = kt_run_op(w);
	atomic_store(&w->done, 1);
	return NULL;
}

/* Initialise @w for @op on @fd; buf points at the inline element. */
static inline void kt_worker_init(struct kt_worker *w, int fd, enum kt_op op)
{
	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->op = op;
	w->buf = w->elem;
	w->timeout_ns = -1;
}

/*
 * Start @fn(@arg) in *@thread and return once it runs: @fn stores its tid
 * in *@tid first.  0, -ETIMEDOUT or a pthread_create() error.
 */
static inline int kt_thread_start(pthread_t *thread, void *(*fn)(void *),
				  void *arg, _Atomic pid_t *tid)
{
	int64_t end = kt_now_ns() + KT_WAIT_NS;
	int ret = pthread_create(thread, NULL, fn, arg);

	if (ret)
		return -ret;
	while (!atomic_load(tid)) {
		if (kt_now_ns() > end)
			return -ETIMEDOUT;
		kt_sleep_us(100);
	}
	return 0;
}

/* Join @thread, waiting at most KT_WAIT_NS; 0 or -ETIMEDOUT. */
static inline int kt_thread_join(pthread_t thread)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += KT_WAIT_NS / KT_NSEC;
	return -pthread_timedjoin_np(thread, NULL, &ts);
}

/* Start @w; returns once the thread runs (its tid is known). */
static inline int kt_worker_start(struct kt_worker *w)
{
	return kt_thread_start(&w->thread, kt_worker_main, w, &w->tid);
}

/* Join @w; 0 or -ETIMEDOUT (then w->ret is unset). */
static inline int kt_worker_join(struct kt_worker *w)
{
	return kt_thread_join(w->thread);
}

/* Shorthands for the common case: a worker on a uint64_t element. */
static inline int kt_start_send_u64(struct kt_worker *w, int fd, uint64_t v)
{
	kt_worker_init(w, fd, KT_SEND);
	memcpy(w->elem, &v, sizeof(v));
	return kt_worker_start(w);
}

static inline int kt_start_recv(struct kt_worker *w, int fd)
{
	kt_worker_init(w, fd, KT_RECV);
	memset(w->elem, 0xa5, sizeof(w->elem));
	return kt_worker_start(w);
}

static inline uint64_t kt_worker_u64(const struct kt_worker *w)
{
	uint64_t v;

	memcpy(&v, w->buf, sizeof(v));
	return v;
}

/* Library send of one uint64_t element given by value. */
static inline int kt_send_u64(int fd, uint64_t v)
{
	return kchan_send(fd, &v);
}

/*
 * Two pages, the second PROT_NONE: an element placed at kt_guard_end() -
 * n bytes is readable, anything past it faults.  Returns the mapping or
 * NULL; free with kt_guard_free().
 */
static inline char *kt_guard_alloc(void)
{
	long page = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (map == MAP_FAILED)
		return NULL;
	if (mprotect(map + page, page, PROT_NONE)) {
		munmap(map, 2 * page);
		return NULL;
	}
	return map;
}

/* First inaccessible byte of a kt_guard_alloc() mapping. */
static inline char *kt_guard_end(char *map)
{
	return map + sysconf(_SC_PAGESIZE);
}

static inline void kt_guard_free(char *map)
{
	munmap(map, 2 * sysconf(_SC_PAGESIZE));
}

/* A bad user pointer the compiler cannot see through (no -Wnonnull noise). */
static inline void *kt_bad_ptr(uintptr_t v)
{
	__asm__ volatile("" : "+r"(v));
	return (void *)v;
}

/*
 * An address inside a PROT_NONE page that stays reserved for the life of
 * the process (an unmapped hole could be reused, e.g. by a thread stack).
 */
static inline void *kt_noaccess_addr(void)
{
	static void *page;

	if (!page) {
		page = mmap(NULL, sysconf(_SC_PAGESIZE), PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (page == MAP_FAILED)
			page = NULL;
	}
	return page ? page : kt_bad_ptr(8);
}

/*
 * Without /dev/kchan (module not loaded) the whole program is skipped the
 * kselftest way.  Done before main() because the 6.1 harness runs a test
 * body even when its FIXTURE_SETUP() called SKIP().
 */
static void __attribute__((constructor)) kt_require_kchan(void)
{
	if (access(KT_DEV_PATH, F_OK) && errno == ENOENT) {
		ksft_print_header();
		ksft_exit_skip(KT_DEV_PATH " missing: kchan module not loaded\n");
	}
}

/* In a test (after kselftest_harness.h): a channel through the library. */
#define KT_MAKE_CHAN(elem_size, capacity, flags) ({				\
	int __fd = kchan_make(elem_size, capacity, flags);			\
	ASSERT_LE(0, __fd) TH_LOG("kchan_make: %s", strerror(-__fd));		\
	__fd;									\
})

/*
 * A fixture NAME whose setup makes one channel of uint64_t elements with
 * room for CAPACITY (self->ch) and whose teardown closes it.  Expands to
 * kselftest_harness.h's FIXTURE macros: use it after including that.
 */
#define KT_U64_CHAN_FIXTURE(name, capacity)					\
	FIXTURE(name) {								\
		int ch;								\
	};									\
	FIXTURE_SETUP(name)							\
	{									\
		self->ch = KT_MAKE_CHAN(sizeof(uint64_t), capacity, 0);		\
	}									\
	FIXTURE_TEARDOWN(name)							\
	{									\
		close(self->ch);						\
	}

/* A 0xa5 sentinel shows "the receive buffer was left untouched". */
#define KT_SENTINEL_U64	0xa5a5a5a5a5a5a5a5ULL

#endif /* KCHAN_TEST_UTIL_H */
