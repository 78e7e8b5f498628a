// SPDX-License-Identifier: GPL-2.0
/*
 * bcast - one publisher, N subscribers, each receiving every message: a
 * kchan broadcast channel (each message stored once, a cursor per
 * subscriber) against the hub over N pipes and the hub over N kchan
 * channels (N writes or sends per message), for N = 1, 16, 256, 10 000.
 * 64-byte messages.
 *
 *   bcast_publish   the publisher's cost per message while no subscriber
 *                   sleeps: M messages are published (timed), then every
 *                   subscriber drains them (not timed), over and over.
 *                   The broadcast channel is lossless with room for M, so
 *                   its gate is computed as a real one is: a scan of the
 *                   subscribers only when the cached minimum says full.
 *   bcast_deliver   the whole delivery: N subscriber threads, each
 *                   blocking in one receive call per message (kchan_recv,
 *                   or read(2) of 64 bytes); the publisher sends a burst
 *                   of BURST messages, one call per message and
 *                   destination as above, then waits until every
 *                   subscriber has received the burst.  Wall time per
 *                   published message, one vCPU.  The publisher runs at
 *                   SCHED_FIFO, for every hub alike: a burst goes out
 *                   before the subscribers it wakes run, as it would from
 *                   a publisher on a CPU of its own, instead of each
 *                   woken subscriber preempting it at once.  For the broadcast channel also
 *                   the wake-ups per subscriber per burst
 *                   (KCHAN_IOC_STATS recv_blocks: each blocked receive is
 *                   one wake-up), which should be 1: a sleeping subscriber
 *                   is woken once per burst, not once per message.
 *
 * impl "kchan" is the broadcast channel, "pipe" the hub over pipes,
 * "chans" the hub over plain kchan channels (not mapped: the kernel path),
 * "shmring" a hand-rolled broadcast ring in the process's memory: the
 * publisher stores a message and a sequence number, a subscriber that
 * caught up sleeps on the number with FUTEX_WAIT, and the first message
 * after a subscriber announced its sleep wakes them all.  No system call
 * but the sleeps and that wake, no gate (the bench never lets the
 * publisher lap a subscriber): what the whole delivery costs when only
 * the sleeping and waking are left, the floor of any design whose
 * subscribers sleep between bursts.
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <chanuser.h>

#include "common.h"

#define MSG		64
#define BURST		16
#define ROOM		1024	/* messages a drain round publishes */

struct msg {
	uint64_t seq;
	char pad[MSG - sizeof(uint64_t)];
};

/* A hub: how a publisher reaches its N subscribers. */
struct hub_ops {
	const char *name;
	void (*open)(int *pub, int *subs, uint32_t n);
	void (*publish)(int pub, const int *subs, uint32_t n, const struct msg *m);
	/* One message for subscriber @i, blocking; its sequence number. */
	uint64_t (*receive)(int sub);
	void (*drain)(int sub, uint32_t count);
	void (*close)(int pub, int *subs, uint32_t n);
};

static void kchan_open(int *pub, int *subs, uint32_t n)
{
	*pub = kchan_make_broadcast(MSG, ROOM, KCHAN_CLOEXEC);
	CHECK(*pub >= 0);
	for (uint32_t i = 0; i < n; i++) {
		subs[i] = kchan_subscribe(*pub, KCHAN_CLOEXEC);
		if (subs[i] < 0) {
			errno = -subs[i];
			die("kchan_subscribe #%u", i);
		}
	}
}

static void kchan_publish(int pub, const int *subs, uint32_t n, const struct msg *m)
{
	(void)subs;
	(void)n;
	CHECK(kchan_send(pub, m) == 0);
}

static uint64_t kchan_receive(int sub)
{
	struct msg m;

	CHECK(kchan_recv(sub, &m) == 1);
	return m.seq;
}

static void kchan_drain(int sub, uint32_t count)
{
	static struct msg buf[ROOM];

	CHECK(kchan_recv_many(sub, buf, count) == (ssize_t)count);
}

static void kchan_close_all(int pub, int *subs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		close(subs[i]);
	close(pub);
}

static void pipe_open(int *pub, int *subs, uint32_t n)
{
	int fd[2];

	*pub = -1;
	/* subs[i] is the read end; the write end is the next number kept in subs[n + i]. */
	for (uint32_t i = 0; i < n; i++) {
		if (pipe2(fd, O_CLOEXEC))
			die("pipe2 #%u", i);
		subs[i] = fd[0];
		subs[n + i] = fd[1];
	}
}

static void pipe_publish(int pub, const int *subs, uint32_t n, const struct msg *m)
{
	(void)pub;
	for (uint32_t i = 0; i < n; i++)
		CHECK(write(subs[n + i], m, MSG) == MSG);
}

static uint64_t pipe_receive(int sub)
{
	struct msg m;

	CHECK(read(sub, &m, MSG) == MSG);
	return m.seq;
}

static void pipe_drain(int sub, uint32_t count)
{
	static struct msg buf[ROOM];
	size_t want = (size_t)count * MSG, got = 0;

	while (got < want) {
		ssize_t r = read(sub, (char *)buf + got, want - got);

		CHECK(r > 0);
		got += r;
	}
}

static void pipe_close_all(int pub, int *subs, uint32_t n)
{
	(void)pub;
	for (uint32_t i = 0; i < 2 * n; i++)
		close(subs[i]);
}

/*
 * Messages per drain round of bcast_publish: fewer where each costs n
 * writes, and then the N channels need no more room than that either.
 */
static uint32_t per_round(uint32_t n)
{
	return n >= 256 ? 64 : ROOM;
}

static void chans_open(int *pub, int *subs, uint32_t n)
{
	*pub = -1;
	/* Plain: a fan-out over the kernel path, as before the fast path. */
	for (uint32_t i = 0; i < n; i++)
		subs[i] = plain_chan(MSG, per_round(n));
}

static void chans_publish(int pub, const int *subs, uint32_t n, const struct msg *m)
{
	(void)pub;
	for (uint32_t i = 0; i < n; i++)
		CHECK(kchan_send(subs[i], m) == 0);
}

static void chans_close_all(int pub, int *subs, uint32_t n)
{
	(void)pub;
	for (uint32_t i = 0; i < n; i++)
		close(subs[i]);
}

/* The "shmring" hub: one ring, a cursor per subscriber (subs[i] = i). */
static struct {
	struct msg ring[ROOM];
	_Atomic uint32_t seq;		/* messages published */
	_Atomic uint32_t sleepers;	/* a subscriber is about to sleep */
	uint32_t *cursor;
} shm;

static void shm_open(int *pub, int *subs, uint32_t n)
{
	*pub = -1;
	atomic_store(&shm.seq, 0);
	atomic_store(&shm.sleepers, 0);
	shm.cursor = calloc(n, sizeof(*shm.cursor));
	CHECK(shm.cursor);
	for (uint32_t i = 0; i < n; i++)
		subs[i] = (int)i;
}

static void shm_publish(int pub, const int *subs, uint32_t n, const struct msg *m)
{
	uint32_t seq = atomic_load_explicit(&shm.seq, memory_order_relaxed);

	(void)pub;
	(void)subs;
	(void)n;
	shm.ring[seq % ROOM] = *m;
	/* seq_cst store, then load: pairs with shm_receive()'s pair. */
	atomic_store(&shm.seq, seq + 1);
	if (atomic_load(&shm.sleepers) && atomic_exchange(&shm.sleepers, 0))
		futex_wake(&shm.seq, INT_MAX);
}

static uint64_t shm_receive(int sub)
{
	uint32_t cur = shm.cursor[sub];

	while (atomic_load(&shm.seq) == cur) {
		atomic_store(&shm.sleepers, 1);
		if (atomic_load(&shm.seq) != cur)
			break;
		futex_wait(&shm.seq, cur);
	}
	shm.cursor[sub] = cur + 1;
	return shm.ring[cur % ROOM].seq;
}

static void shm_drain(int sub, uint32_t count)
{
	while (count--)
		shm_receive(sub);
}

static void shm_close_all(int pub, int *subs, uint32_t n)
{
	(void)pub;
	(void)subs;
	(void)n;
	free(shm.cursor);
	shm.cursor = NULL;
}

static const struct hub_ops hubs[] = {
	{ "kchan", kchan_open, kchan_publish, kchan_receive, kchan_drain, kchan_close_all },
	{ "pipe", pipe_open, pipe_publish, pipe_receive, pipe_drain, pipe_close_all },
	{ "chans", chans_open, chans_publish, kchan_receive, kchan_drain, chans_close_all },
	{ "shmring", shm_open, shm_publish, shm_receive, shm_drain, shm_close_all },
};

struct run {
	const struct hub_ops *ops;
	uint32_t n;
	int round;
};

/* The publisher's cost per message, nobody asleep. */
static void measure_publish(void *arg)
{
	const struct run *r = arg;
	const struct hub_ops *ops = r->ops;
	uint32_t per = strcmp(ops->name, "kchan") ? per_round(r->n) : ROOM;
	uint32_t rounds = (uint32_t)bench_count(r->n >= 1000 ? 2 : 8, 1);
	int *subs = calloc(2 * (size_t)r->n, sizeof(int)), pub;
	struct msg m = { 0 };
	uint64_t timed = 0, t0;
	char metric[32];

	CHECK(subs);
	ops->open(&pub, subs, r->n);
	for (uint32_t k = 0; k < rounds; k++) {
		t0 = now_ns();
		for (uint32_t j = 0; j < per; j++) {
			m.seq++;
			ops->publish(pub, subs, r->n, &m);
		}
		timed += now_ns() - t0;
		for (uint32_t i = 0; i < r->n; i++)
			ops->drain(subs[i], per);
	}
	ops->close(pub, subs, r->n);
	free(subs);
	snprintf(metric, sizeof(metric), "publish@%u", r->n);
	bench_result(r->round, "bcast_publish", MSG, ops->name, metric,
		     (double)timed / ((double)rounds * per), "ns/msg", LOWER);
}

/* The whole delivery: subscriber threads, bursts, one receive per message. */
static const struct hub_ops *dops;
static _Atomic uint32_t acks;
static uint32_t nsubs, nbursts;

struct subscriber {
	pthread_t pt;
	int fd;
};

static void *subscriber_main(void *arg)
{
	struct subscriber *s = arg;
	uint64_t want = 1;

	for (uint32_t b = 0; b < nbursts; b++) {
		for (uint32_t j = 0; j < BURST; j++)
			if (dops->receive(s->fd) != want++)
				die("%s: a message out of order", dops->name);
		if (atomic_fetch_add(&acks, 1) + 1 == (b + 1) * nsubs)
			futex_wake(&acks, 1);
	}
	return NULL;
}

static void measure_deliver(void *arg)
{
	const struct run *r = arg;
	const struct hub_ops *ops = r->ops;
	int *subs = calloc(2 * (size_t)r->n, sizeof(int)), pub;
	struct subscriber *th = calloc(r->n, sizeof(*th));
	struct kchan_chan_stats st;
	pthread_attr_t attr;
	struct msg m = { 0 };
	uint64_t t0, t1;
	uint32_t cur;
	char metric[32];

	CHECK(subs && th);
	dops = ops;
	nsubs = r->n;
	/* About the same number of receives at every n. */
	nbursts = (uint32_t)bench_count(r->n >= 10000 ? 2 : r->n >= 256 ? 16 : r->n >= 16 ? 64 : 256, 1);
	atomic_store(&acks, 0);
	ops->open(&pub, subs, r->n);
	CHECK(!pthread_attr_init(&attr));
	CHECK(!pthread_attr_setstacksize(&attr, 64 << 10));
	for (uint32_t i = 0; i < r->n; i++) {
		th[i].fd = subs[i];
		errno = pthread_create(&th[i].pt, &attr, subscriber_main, &th[i]);
		if (errno)
			die("pthread_create #%u", i);
	}
	{
		struct sched_param sp = { .sched_priority = 1 };

		if (sched_setscheduler(0, SCHED_FIFO, &sp))
			die("sched_setscheduler");
	}
	t0 = now_ns();
	for (uint32_t b = 0; b < nbursts; b++) {
		for (uint32_t j = 0; j < BURST; j++) {
			m.seq++;
			ops->publish(pub, subs, r->n, &m);
		}
		while ((cur = atomic_load(&acks)) < (b + 1) * r->n)
			futex_wait(&acks, cur);
	}
	t1 = now_ns();
	for (uint32_t i = 0; i < r->n; i++)
		pthread_join(th[i].pt, NULL);
	snprintf(metric, sizeof(metric), "deliver@%u", r->n);
	bench_result(r->round, "bcast_deliver", MSG, ops->name, metric,
		     (double)(t1 - t0) / ((double)nbursts * BURST), "ns/msg", LOWER);
	if (!strcmp(ops->name, "kchan")) {
		CHECK(kchan_stats(pub, &st) == 0);
		snprintf(metric, sizeof(metric), "wakeups@%u", r->n);
		bench_result(r->round, "bcast_deliver", MSG, ops->name, metric,
			     (double)st.recv_blocks / ((double)r->n * nbursts),
			     "per_sub_burst", LOWER);
	}
	ops->close(pub, subs, r->n);
	free(th);
	free(subs);
}

int main(int argc, char **argv)
{
	static const uint32_t ns[] = { 1, 16, 256, 10000 };
	struct run r;
	size_t i, k;

	bench_init(argc, argv);
	write_file("/proc/sys/kernel/threads-max", "200000");
	for (r.round = 1; r.round <= bench.rounds; r.round++)
		for (k = 0; k < sizeof(ns) / sizeof(ns[0]); k++)
			for (i = 0; i < sizeof(hubs) / sizeof(hubs[0]); i++) {
				r.ops = &hubs[i];
				r.n = (uint32_t)bench_count(ns[k], 1);
				bench_settle();
				reap(spawn(0, measure_publish, &r));
				bench_settle();
				reap(spawn(0, measure_deliver, &r));
			}
	return 0;
}
