// SPDX-License-Identifier: GPL-2.0
/*
 * wakeall - 10 000 threads, each blocked receiving on a channel of its
 * own, all woken by closing the channels: kchan (kchan_recv, woken by
 * kchan_close) against pipes (read, woken by closing the write end).
 *
 * Once every thread sleeps (its /proc state is S), the clock runs from the
 * first close until the last thread is back in user space and has counted
 * itself; the threads then park on a futex, so thread exit is not timed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chanuser.h>

#include "common.h"

struct wake_ops {
	const char *name;
	void (*open)(int *fd);		/* fd[0] to block on, fd[1] to close */
	ssize_t (*block)(int fd);	/* 0 once woken by the close */
	void (*wake)(int *fd);
};

static void kchan_w_open(int *fd)
{
	fd[0] = fd[1] = kchan_make(8, 16, KCHAN_CLOEXEC);
	if (fd[0] < 0) {
		errno = -fd[0];
		die("kchan_make");
	}
}

static ssize_t kchan_w_block(int fd)
{
	uint64_t v;

	return kchan_recv(fd, &v);
}

static void kchan_w_wake(int *fd)
{
	CHECK(kchan_close(fd[1]) == 0);
}

static void pipe_w_open(int *fd)
{
	if (pipe2(fd, O_CLOEXEC))
		die("pipe2");
}

static ssize_t pipe_w_block(int fd)
{
	uint64_t v;

	return read(fd, &v, sizeof(v));
}

static void pipe_w_wake(int *fd)
{
	close(fd[1]);
	fd[1] = -1;
}

static const struct wake_ops impls[] = {
	{ "kchan", kchan_w_open, kchan_w_block, kchan_w_wake },
	{ "pipe",  pipe_w_open,  pipe_w_block,  pipe_w_wake },
};

struct thread {
	pthread_t pt;
	_Atomic int tid;
	int fd[2];
};

static const struct wake_ops *ops;
static _Atomic uint32_t woken, quit;
static uint32_t nthreads;

static void *blocker(void *arg)
{
	struct thread *t = arg;

	atomic_store(&t->tid, (int)syscall(SYS_gettid));
	if (ops->block(t->fd[0]) != 0)
		die("%s: woken with data or an error", ops->name);
	if (atomic_fetch_add(&woken, 1) + 1 == nthreads)
		futex_wake(&woken, 1);
	while (!atomic_load(&quit))
		futex_wait(&quit, 0);
	return NULL;
}

/* Is thread @tid asleep (state S)? */
static bool sleeping(int tid)
{
	char path[64], buf[256], *p;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return false;
	buf[len] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

struct run {
	const struct wake_ops *ops;
	uint32_t n;
	int round;
};

static void measure(void *arg)
{
	const struct run *r = arg;
	struct thread *th = calloc(r->n, sizeof(*th));
	pthread_attr_t attr;
	uint64_t t0, t1, t2;
	uint32_t i, cur;

	CHECK(th);
	ops = r->ops;
	nthreads = r->n;
	CHECK(!pthread_attr_init(&attr));
	CHECK(!pthread_attr_setstacksize(&attr, 64 << 10));
	for (i = 0; i < r->n; i++) {
		ops->open(th[i].fd);
		errno = pthread_create(&th[i].pt, &attr, blocker, &th[i]);
		if (errno)
			die("pthread_create #%u", i);
	}
	for (i = 0; i < r->n; i++)
		while (!atomic_load(&th[i].tid) || !sleeping(th[i].tid))
			usleep(1000);

	t0 = now_ns();
	for (i = 0; i < r->n; i++)
		ops->wake(th[i].fd);
	t1 = now_ns();
	while ((cur = atomic_load(&woken)) < r->n)
		futex_wait(&woken, cur);
	t2 = now_ns();

	atomic_store(&quit, 1);
	futex_wake(&quit, 1 << 30);
	for (i = 0; i < r->n; i++) {
		pthread_join(th[i].pt, NULL);
		close(th[i].fd[0]);
		if (th[i].fd[1] >= 0 && th[i].fd[1] != th[i].fd[0])
			close(th[i].fd[1]);
	}
	bench_result(r->round, "wakeall", 8, ops->name, "close_all",
		     (double)(t1 - t0) / 1e6, "ms", LOWER);
	bench_result(r->round, "wakeall", 8, ops->name, "all_woken",
		     (double)(t2 - t0) / 1e6, "ms", LOWER);
	bench_result(r->round, "wakeall", 8, ops->name, "per_thread",
		     (double)(t2 - t0) / r->n, "ns", LOWER);
}

int main(int argc, char **argv)
{
	struct run r;
	size_t i;

	bench_init(argc, argv);
	/* One thread per 32 pages of RAM by default: 8192 in 1 GiB. */
	write_file("/proc/sys/kernel/threads-max", "200000");
	r.n = (uint32_t)bench_count(10000, 100);
	for (r.round = 1; r.round <= bench.rounds; r.round++)
		for (i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
			r.ops = &impls[i];
			reap(spawn(0, measure, &r));
		}
	return 0;
}
