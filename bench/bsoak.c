// SPDX-License-Identifier: GPL-2.0
/*
 * bsoak - a broadcast channel soaked: 10 000 subscriber threads, one in
 * ten slow (a 200 ms pause after each message, longer than the publisher
 * takes for a burst, so that lossy ones fall behind), each leaving now and then
 * (close(2) of its subscriber) and joining again (kchan_subscribe()),
 * while a publisher sends bursts; lossless and lossy.
 *
 * The kernel's memory (Slab + VmallocUsed + Percpu + KernelStack +
 * PageTables of /proc/meminfo) is sampled after every burst once a warm-up
 * of an eighth of the run is over; the result is the drift between the
 * mean of the first quarter of the samples and the mean of the last
 * quarter, in percent: memory that grows with the messages sent, the
 * subscribers that came and went or the losses counted would show as a
 * drift.  Also reported: the subscribers that left and joined, and for the
 * lossy run the elements lost, all subscribers together.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <chanuser.h>

#include "common.h"

#define MSG		64
#define CAPACITY	64
#define BURST		16
#define SLOW_EVERY	10	/* one subscriber in ten is slow */
#define SLOW_NS		200000000L
#define LEAVE_EVERY	512	/* a subscriber leaves about once per 512 messages */

struct msg {
	uint64_t seq;
	char pad[MSG - sizeof(uint64_t)];
};

static int bch;
static _Atomic uint64_t rejoins, lost_total;

struct subscriber {
	pthread_t pt;
	uint32_t id;
};

static void *subscriber_main(void *arg)
{
	struct subscriber *s = arg;
	struct timespec pause = { 0, SLOW_NS };
	uint64_t rnd = s->id * 0x9e3779b97f4a7c15ULL + 1;
	struct msg m;
	int sub, ret;

	sub = kchan_subscribe(bch, KCHAN_CLOEXEC);
	CHECK(sub >= 0);
	for (;;) {
		ret = kchan_recv(sub, &m);
		if (ret == 0)
			break;
		if (ret == -EOVERFLOW)
			continue;
		CHECK(ret == 1);
		if (s->id % SLOW_EVERY == 0)
			nanosleep(&pause, NULL);
		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		if (rnd % LEAVE_EVERY == 0) {
			atomic_fetch_add(&lost_total, (uint64_t)kchan_lost(sub));
			close(sub);
			sub = kchan_subscribe(bch, KCHAN_CLOEXEC);
			CHECK(sub >= 0);
			atomic_fetch_add(&rejoins, 1);
		}
	}
	atomic_fetch_add(&lost_total, (uint64_t)kchan_lost(sub));
	close(sub);
	return NULL;
}

struct run {
	unsigned int flags;
	const char *name;
	uint32_t n, bursts;
	int round;
};

static double mean(const long long *v, size_t n)
{
	double sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += (double)v[i];
	return n ? sum / (double)n : 0;
}

static void soak(void *arg)
{
	const struct run *r = arg;
	struct subscriber *th = calloc(r->n, sizeof(*th));
	uint32_t warm = r->bursts / 8, nsamples = r->bursts - warm, q;
	long long *samples = calloc(nsamples, sizeof(*samples));
	pthread_attr_t attr;
	struct msg m = { 0 };
	double first, last;
	long long lo, hi;
	char metric[48];

	CHECK(th && samples);
	bch = kchan_make_broadcast(MSG, CAPACITY, KCHAN_CLOEXEC | r->flags);
	CHECK(bch >= 0);
	atomic_store(&rejoins, 0);
	atomic_store(&lost_total, 0);
	CHECK(!pthread_attr_init(&attr));
	CHECK(!pthread_attr_setstacksize(&attr, 64 << 10));
	for (uint32_t i = 0; i < r->n; i++) {
		th[i].id = i;
		errno = pthread_create(&th[i].pt, &attr, subscriber_main, &th[i]);
		if (errno)
			die("pthread_create #%u", i);
	}
	for (uint32_t b = 0; b < r->bursts; b++) {
		for (uint32_t j = 0; j < BURST; j++) {
			m.seq++;
			CHECK(kchan_send(bch, &m) == 0);
		}
		/* Let the subscribers run before the next burst. */
		usleep(1000);
		if (b >= warm)
			samples[b - warm] = bench_kernel_bytes();
	}
	CHECK(kchan_close(bch) == 0);
	for (uint32_t i = 0; i < r->n; i++)
		pthread_join(th[i].pt, NULL);
	close(bch);

	q = nsamples / 4 ? nsamples / 4 : 1;
	first = mean(samples, q);
	last = mean(samples + nsamples - q, q);
	snprintf(metric, sizeof(metric), "kmem_drift_%s@%u", r->name, r->n);
	bench_result(r->round, "bcast_soak", MSG, "kchan", metric,
		     100.0 * (last - first) / first, "%", LOWER);
	snprintf(metric, sizeof(metric), "kmem_%s@%u", r->name, r->n);
	bench_result(r->round, "bcast_soak", MSG, "kchan", metric, first / 1048576.0,
		     "MiB", LOWER);
	lo = hi = samples[0];
	for (uint32_t i = 1; i < nsamples; i++) {
		lo = samples[i] < lo ? samples[i] : lo;
		hi = samples[i] > hi ? samples[i] : hi;
	}
	snprintf(metric, sizeof(metric), "kmem_range_%s@%u", r->name, r->n);
	bench_result(r->round, "bcast_soak", MSG, "kchan", metric, (double)(hi - lo) / 1024.0,
		     "KiB", LOWER);
	snprintf(metric, sizeof(metric), "rejoins_%s@%u", r->name, r->n);
	bench_result(r->round, "bcast_soak", MSG, "kchan", metric,
		     (double)atomic_load(&rejoins), "subs", HIGHER);
	if (r->flags & KCHAN_LOSSY) {
		snprintf(metric, sizeof(metric), "lost_%s@%u", r->name, r->n);
		bench_result(r->round, "bcast_soak", MSG, "kchan", metric,
			     (double)atomic_load(&lost_total), "msgs", LOWER);
	}
	free(samples);
	free(th);
}

int main(int argc, char **argv)
{
	struct run r = { 0 };

	bench_init(argc, argv);
	write_file("/proc/sys/kernel/threads-max", "200000");
	r.n = (uint32_t)bench_count(10000, 100);
	r.bursts = (uint32_t)bench_count(40, 16);
	for (r.round = 1; r.round <= bench.rounds; r.round++) {
		r.flags = 0;
		r.name = "lossless";
		reap(spawn(0, soak, &r));
		r.flags = KCHAN_LOSSY;
		r.name = "lossy";
		reap(spawn(0, soak, &r));
	}
	return 0;
}
