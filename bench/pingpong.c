// SPDX-License-Identifier: GPL-2.0
/*
 * pingpong - round trip between two processes over two one-way queues
 * ("ping" and "pong") of capacity 1, for 8-, 64- and 4096-byte messages.
 * Every round trip is timed on its own; the result is its 50th and 99th
 * percentile after a warm-up of a tenth as many round trips.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "xport.h"

struct run {
	struct xport ping, pong;
	size_t warm, n;
	uint64_t *rtt;		/* n round trips, in shared memory */
};

static void echo(void *arg)
{
	struct run *r = arg;
	void *buf = calloc(1, r->ping.size);
	size_t i;

	CHECK(buf);
	for (i = 0; i < r->warm + r->n; i++) {
		r->ping.ops->recv(&r->ping, buf);
		r->pong.ops->send(&r->pong, buf);
	}
}

static void initiator(void *arg)
{
	struct run *r = arg;
	void *buf = calloc(1, r->ping.size);
	uint64_t t0;
	size_t i;

	CHECK(buf);
	for (i = 0; i < r->warm + r->n; i++) {
		t0 = now_ns();
		r->ping.ops->send(&r->ping, buf);
		r->pong.ops->recv(&r->pong, buf);
		if (i >= r->warm)
			r->rtt[i - r->warm] = now_ns() - t0;
	}
}

static void run_pingpong(int round, const struct xport_ops *ops, size_t size,
			 size_t n)
{
	struct run r = { .n = n, .warm = n / 10 };
	pid_t a, b;

	r.rtt = shm_alloc(n * sizeof(*r.rtt));
	xport_open(&r.ping, ops, size, 1);
	xport_open(&r.pong, ops, size, 1);
	b = spawn(1, echo, &r);
	a = spawn(0, initiator, &r);
	reap(a);
	reap(b);
	xport_close(&r.ping);
	xport_close(&r.pong);
	bench_result(round, "pingpong", size, ops->name, "rtt_p50",
		     (double)percentile(r.rtt, n, 50), "ns", LOWER);
	bench_result(round, "pingpong", size, ops->name, "rtt_p99",
		     (double)percentile(r.rtt, n, 99), "ns", LOWER);
	shm_free(r.rtt, n * sizeof(*r.rtt));
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 8, 64, 4096 };
	size_t s, i, n;
	int round;

	bench_init(argc, argv);
	n = bench_count(3000, 100);
	for (round = 1; round <= bench.rounds; round++)
		for (s = 0; s < 3; s++)
			for (i = 0; xports[i]; i++)
				if (xport_fits(xports[i], sizes[s], 0))
					run_pingpong(round, xports[i], sizes[s], n);
	return 0;
}
