// SPDX-License-Identifier: GPL-2.0
/*
 * mpmc - 4 producer processes and 4 consumer processes on one queue of
 * capacity 256 (kchan, POSIX mq, pipe), one message per call, for 8-, 64-
 * and 4096-byte messages.  Each producer sends a quarter of the messages,
 * each consumer receives a quarter; the clock runs from the release until
 * the last consumer has its last message.  In cross-CPU mode the producers
 * run on CPU 0 and the consumers on CPU 1.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "xport.h"

#define CAPACITY	256
#define SIDE		4	/* producers, and consumers */

struct run {
	struct xport x;
	struct sync *sync;
	size_t warm, n;		/* per process */
};

static void producer(void *arg)
{
	struct run *r = arg;
	void *buf = malloc(r->x.size);

	CHECK(buf);
	memset(buf, 0x5a, r->x.size);
	xport_send_n(&r->x, buf, r->warm, 1);
	sync_arrive_wait(r->sync, 1);
	xport_send_n(&r->x, buf, r->n, 1);
	sync_done(r->sync, false);
}

static void consumer(void *arg)
{
	struct run *r = arg;
	void *buf = malloc(r->x.size);

	CHECK(buf);
	xport_recv_n(&r->x, buf, r->warm, 1);
	sync_arrive_wait(r->sync, 1);
	xport_recv_n(&r->x, buf, r->n, 1);
	sync_done(r->sync, true);
}

/* Reports messages per guest second (in thousands) and switches per message. */
static void run_mpmc(int round, const struct xport_ops *ops, size_t size,
		     size_t n)
{
	struct run r = { .n = n / SIDE, .warm = n / SIDE / 10 };
	pid_t pid[2 * SIDE];
	uint64_t t0;
	int i;

	r.sync = shm_alloc(sizeof(*r.sync));
	xport_open(&r.x, ops, size, CAPACITY);
	for (i = 0; i < SIDE; i++) {
		pid[i] = spawn(1, consumer, &r);
		pid[SIDE + i] = spawn(0, producer, &r);
	}
	sync_wait_arrivals(r.sync, 2 * SIDE);
	t0 = now_ns();
	sync_release(r.sync, 1);
	for (i = 0; i < 2 * SIDE; i++)
		reap(pid[i]);
	xport_close(&r.x);
	n = r.n * SIDE;
	bench_result(round, "mpmc4x4", size, ops->name, "throughput",
		     (double)n * 1e6 / (double)(r.sync->t_end - t0), "kmsg/s",
		     HIGHER);
	bench_result(round, "mpmc4x4", size, ops->name, "switches",
		     (double)r.sync->switches * 1000 / (double)n, "per kmsg",
		     LOWER);
	shm_free(r.sync, sizeof(*r.sync));
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 8, 64, 4096 };
	static const size_t count[] = { 12000, 12000, 6000 };
	size_t s, i;
	int round;

	bench_init(argc, argv);
	for (round = 1; round <= bench.rounds; round++)
		for (s = 0; s < 3; s++)
			for (i = 0; xports[i]; i++)
				if (xport_fits(xports[i], sizes[s], XP_MPMC))
					run_mpmc(round, xports[i], sizes[s],
						 bench_count(count[s], 400));
	return 0;
}
