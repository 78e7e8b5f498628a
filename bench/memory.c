// SPDX-License-Identifier: GPL-2.0
/*
 * memory - kernel memory per empty queue of 16 x 8-byte elements, and the
 * time to create and destroy them, for 10 000 and 100 000 at once:
 *
 *   kchan  kchan_make(8, 16, 0), closed with close(2): mappable (the
 *          fast path's rings take pages of their own), so 10 000 only
 *   kchan-k the same without KCHAN_MAPPABLE (the kernel path's ring)
 *   pipe   pipe2() shrunk to one page with F_SETPIPE_SZ (the smallest
 *          pipe; it holds 4096 bytes, not 128), both ends closed
 *   mq     mq_open() with mq_maxmsg 16, mq_msgsize 8, named as queues
 *          are; mq_close() and mq_unlink()
 *
 * and per subscriber of a hub (case "subscriber"), 10 000 at once:
 *
 *   kchan  kchan_subscribe() of one broadcast channel (made beforehand,
 *          so its ring is not counted), closed with close(2)
 *   pipe   a pipe as a hub would give each subscriber: pipe2() at its
 *          default size, empty (its pages come with its first write)
 *
 * Two figures per object: the growth of memory.current of a cgroup that
 * holds only the measuring process (what is charged to the creator), and
 * the growth of Slab + VmallocUsed + Percpu + KernelStack + PageTables in
 * /proc/meminfo (everything, charged or not).  The process's descriptor
 * table and arrays are grown before the first reading.  The kchan module's
 * max_channels_per_user (16384 by default) is raised for the run and put
 * back afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chanuser.h>

#include "common.h"

#define CGROUP		"/sys/fs/cgroup/kbench-memory"
#define MAX_CHANNELS	"/sys/module/kchan/parameters/max_channels_per_user"

struct obj_ops {
	const char *bcase;
	const char *name;
	int nfds;
	void (*create)(int *fds, size_t i);
	void (*destroy)(int *fds, size_t i);
	bool only_10k;		/* not at 100 000 */
};

static void kchan_create(int *fds, size_t i)
{
	fds[i] = kchan_make(8, 16, KCHAN_CLOEXEC);
	if (fds[i] < 0) {
		errno = -fds[i];
		die("kchan_make #%zu", i);
	}
}

static void kchan_k_create(int *fds, size_t i)
{
	fds[i] = plain_chan(8, 16);
}

static void close_destroy(int *fds, size_t i)
{
	close(fds[i]);
}

static void pipe_create(int *fds, size_t i)
{
	if (pipe2(&fds[2 * i], O_CLOEXEC))
		die("pipe2 #%zu", i);
	if (fcntl(fds[2 * i + 1], F_SETPIPE_SZ, 4096) < 0)
		die("F_SETPIPE_SZ");
}

static void pipe_destroy(int *fds, size_t i)
{
	close(fds[2 * i]);
	close(fds[2 * i + 1]);
}

static void pipe_default_create(int *fds, size_t i)
{
	if (pipe2(&fds[2 * i], O_CLOEXEC))
		die("pipe2 #%zu", i);
}

/* The broadcast channel the subscribers join: made by the warm-up. */
static int hub = -1;

static void sub_create(int *fds, size_t i)
{
	if (hub < 0) {
		hub = kchan_make_broadcast(8, 16, KCHAN_CLOEXEC);
		if (hub < 0) {
			errno = -hub;
			die("kchan_make_broadcast");
		}
	}
	fds[i] = kchan_subscribe(hub, KCHAN_CLOEXEC);
	if (fds[i] < 0) {
		errno = -fds[i];
		die("kchan_subscribe #%zu", i);
	}
}

static void mq_name(char *buf, size_t len, size_t i)
{
	snprintf(buf, len, "/kbench-mem.%zu", i);
}

static void mq_create(int *fds, size_t i)
{
	struct mq_attr attr = { .mq_maxmsg = 16, .mq_msgsize = 8 };
	char name[32];

	mq_name(name, sizeof(name), i);
	fds[i] = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600,
			 &attr);
	if (fds[i] < 0)
		die("mq_open #%zu", i);
}

static void mq_destroy(int *fds, size_t i)
{
	char name[32];

	mq_close(fds[i]);
	mq_name(name, sizeof(name), i);
	if (mq_unlink(name))
		die("mq_unlink(%s)", name);
}

static const struct obj_ops objs[] = {
	{ "empty16x8", "kchan", 1, kchan_create, close_destroy, true },
	{ "empty16x8", "kchan-k", 1, kchan_k_create, close_destroy, false },
	{ "empty16x8", "pipe",  2, pipe_create,  pipe_destroy, false },
	{ "empty16x8", "mq",    1, mq_create,    mq_destroy, false },
	{ "subscriber", "kchan", 1, sub_create, close_destroy, true },
	{ "subscriber", "pipe", 2, pipe_default_create, pipe_destroy, true },
};

struct run {
	const struct obj_ops *ops;
	size_t n;
	int round;
	bool cgroup;
};

static void measure(void *arg)
{
	const struct run *r = arg;
	const struct obj_ops *ops = r->ops;
	size_t nfds = r->n * (size_t)ops->nfds, i, warm = r->n / 10;
	int *fds = calloc(nfds, sizeof(*fds));
	long long cg0 = 0, cg1 = 0, mi0, mi1;
	uint64_t t0, t1, t2;
	char metric[64];
	int top;

	CHECK(fds);
	if (r->cgroup && write_file(CGROUP "/cgroup.procs", "0"))
		die("joining " CGROUP);
	/* Grow the descriptor table now, not while counting. */
	top = dup2(0, (int)nfds + 64);
	CHECK(top >= 0);
	close(top);
	/* Warm the caches with a tenth as many, then let the frees land. */
	for (i = 0; i < warm; i++)
		ops->create(fds, i);
	for (i = 0; i < warm; i++)
		ops->destroy(fds, i);
	bench_settle();

	if (r->cgroup)
		cg0 = read_file_ll(CGROUP "/memory.current");
	mi0 = bench_kernel_bytes();
	t0 = now_ns();
	for (i = 0; i < r->n; i++)
		ops->create(fds, i);
	t1 = now_ns();
	bench_settle();
	if (r->cgroup)
		cg1 = read_file_ll(CGROUP "/memory.current");
	mi1 = bench_kernel_bytes();
	t2 = now_ns();
	for (i = 0; i < r->n; i++)
		ops->destroy(fds, i);

#define RESULT(what, value, unit) do { \
		snprintf(metric, sizeof(metric), "%s@%zu", what, r->n); \
		bench_result(r->round, ops->bcase, 8, ops->name, metric, \
			     value, unit, LOWER); \
	} while (0)
	if (r->cgroup)
		RESULT("memcg", (double)(cg1 - cg0) / (double)r->n, "B/obj");
	RESULT("meminfo", (double)(mi1 - mi0) / (double)r->n, "B/obj");
	if (r->n >= 100000) {
		RESULT("meminfo_total", (double)(mi1 - mi0) / 1048576.0, "MiB");
		RESULT("create", (double)(t1 - t0) / (double)r->n, "ns/obj");
		RESULT("destroy", (double)(now_ns() - t2) / (double)r->n,
		       "ns/obj");
	}
#undef RESULT
}

int main(int argc, char **argv)
{
	static const size_t counts[] = { 10000, 100000 };
	long long max_channels;
	char val[32];
	struct run r;
	size_t c, i;

	bench_init(argc, argv);
	r.cgroup = !write_file("/sys/fs/cgroup/cgroup.subtree_control",
			       "+memory") &&
		   (!mkdir(CGROUP, 0755) || errno == EEXIST);
	if (!r.cgroup)
		fprintf(stderr, "memory: no memory cgroup; /proc/meminfo only\n");
	max_channels = read_file_ll(MAX_CHANNELS);
	if (write_file(MAX_CHANNELS, "1000000"))
		fprintf(stderr, "memory: cannot raise %s\n", MAX_CHANNELS);

	for (r.round = 1; r.round <= bench.rounds; r.round++)
		for (c = 0; c < 2; c++)
			for (i = 0; i < sizeof(objs) / sizeof(objs[0]); i++) {
				if (c && objs[i].only_10k)
					continue;
				r.ops = &objs[i];
				r.n = bench_count(counts[c], 100);
				reap(spawn(0, measure, &r));
			}

	if (max_channels > 0) {
		snprintf(val, sizeof(val), "%lld", max_channels);
		write_file(MAX_CHANNELS, val);
	}
	if (r.cgroup)
		rmdir(CGROUP);
	return 0;
}
