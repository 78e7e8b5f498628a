// SPDX-License-Identifier: GPL-2.0
/*
 * throughput - one-way throughput, one producer process to one consumer
 * process, for 8-, 64- and 4096-byte messages:
 *
 *   oneway   one message per call
 *   batch64  64 messages per call (kchan_send_many/recv_many, one pipe
 *            write of 64 messages, sendmmsg/recvmmsg, 64 ring slots)
 *
 * with the context switches per thousand messages beside each; and, to
 * tell the length of the send and receive paths from scheduling, the same
 * calls from one process that never blocks:
 *
 *   sameproc, sameproc64  send one (64) then receive one (64), in a loop
 *
 * Each queue holds 256 messages where the primitive lets the capacity be
 * set.  Both sides warm up with a tenth of the messages, meet at a barrier,
 * and the clock runs from the release until the consumer has the last one.
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "xport.h"

#define CAPACITY	256

struct run {
	struct xport x;
	struct sync *sync;
	size_t warm, n, batch;
};

static void *msg_buf(const struct run *r)
{
	void *buf = malloc(r->batch * r->x.size);

	CHECK(buf);
	memset(buf, 0x5a, r->batch * r->x.size);
	return buf;
}

static void producer(void *arg)
{
	struct run *r = arg;
	void *buf = msg_buf(r);

	xport_send_n(&r->x, buf, r->warm, r->batch);
	sync_arrive_wait(r->sync, 1);
	xport_send_n(&r->x, buf, r->n, r->batch);
	sync_done(r->sync, false);
}

static void consumer(void *arg)
{
	struct run *r = arg;
	void *buf = msg_buf(r);

	xport_recv_n(&r->x, buf, r->warm, r->batch);
	sync_arrive_wait(r->sync, 1);
	xport_recv_n(&r->x, buf, r->n, r->batch);
	sync_done(r->sync, true);
}

/* Reports messages per guest second (in thousands) and switches per message. */
static void run_oneway(int round, const char *bcase,
		       const struct xport_ops *ops, size_t size, size_t n,
		       size_t batch)
{
	struct run r = { .n = n, .warm = n / 10, .batch = batch };
	pid_t cons, prod;
	uint64_t t0;

	r.sync = shm_alloc(sizeof(*r.sync));
	xport_open(&r.x, ops, size, CAPACITY);
	cons = spawn(1, consumer, &r);
	prod = spawn(0, producer, &r);
	sync_wait_arrivals(r.sync, 2);
	t0 = now_ns();
	sync_release(r.sync, 1);
	reap(prod);
	reap(cons);
	xport_close(&r.x);
	bench_result(round, bcase, size, ops->name, "throughput",
		     (double)n * 1e6 / (double)(r.sync->t_end - t0), "kmsg/s",
		     HIGHER);
	bench_result(round, bcase, size, ops->name, "switches",
		     (double)r.sync->switches * 1000 / (double)n, "per kmsg",
		     LOWER);
	shm_free(r.sync, sizeof(*r.sync));
}

/*
 * The same calls from one process that sends a batch and then receives
 * it, so that nobody ever blocks: the length of the send and receive
 * paths alone.  Nanoseconds per message.
 */
static void run_sameproc(int round, const char *bcase,
			 const struct xport_ops *ops, size_t size, size_t n,
			 size_t batch)
{
	struct run r = { .batch = batch };
	void *buf;
	uint64_t t0 = 0;
	size_t i;

	xport_open(&r.x, ops, size, CAPACITY);
	buf = msg_buf(&r);
	for (i = 0; i < n / 10 + n; i += batch) {
		if (i == n / 10)
			t0 = now_ns();
		xport_send_n(&r.x, buf, batch, batch);
		xport_recv_n(&r.x, buf, batch, batch);
	}
	bench_result(round, bcase, size, ops->name, "cost",
		     (double)(now_ns() - t0) / (double)n, "ns/msg", LOWER);
	free(buf);
	xport_close(&r.x);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*run)(int round, const char *bcase,
			    const struct xport_ops *ops, size_t size,
			    size_t n, size_t batch);
		size_t batch;
		size_t n[3];	/* messages for 8, 64 and 4096 bytes */
	} cases[] = {
		{ "oneway",     run_oneway,   1,  { 6000,  6000,  3000 } },
		{ "batch64",    run_oneway,   64, { 32000, 32000, 6400 } },
		{ "sameproc",   run_sameproc, 1,  { 6000,  6000,  3000 } },
		{ "sameproc64", run_sameproc, 64, { 32000, 32000, 6400 } },
	};
	static const size_t sizes[] = { 8, 64, 4096 };
	size_t c, s, i;
	int round;

	bench_init(argc, argv);
	bench_describe();
	for (round = 1; round <= bench.rounds; round++) {
		for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			unsigned int need = cases[c].batch > 1 ? XP_BATCH : 0;

			for (s = 0; s < 3; s++) {
				size_t n = bench_count(cases[c].n[s], 64 * 10);

				n -= n % (cases[c].batch * 10);
				for (i = 0; xports[i]; i++)
					if (xport_fits(xports[i], sizes[s], need))
						cases[c].run(round, cases[c].name,
							     xports[i], sizes[s],
							     n, cases[c].batch);
			}
		}
	}
	return 0;
}
