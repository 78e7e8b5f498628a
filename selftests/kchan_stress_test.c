// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: many producers and many consumers on one channel.
 *
 * Producers (threads or processes) send (producer id, sequence number,
 * checksum) messages on one small channel; consumers receive until the
 * channel is closed and drained.  At the end every message must have
 * arrived exactly once, intact, and each consumer must have seen each
 * producer's sequence numbers strictly increasing (FIFO per sender).
 * Variants mix every send and receive form: single, batched, read/write,
 * timed and non-blocking with poll().
 */
#include <sys/mman.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

struct msg {
	uint32_t producer;
	uint32_t seq;
	uint64_t check;
};

#define BATCH_MAX	8

static uint64_t msg_check(uint32_t producer, uint32_t seq)
{
	/* splitmix64 of (producer, seq) */
	uint64_t z = ((uint64_t)producer << 32 | seq) + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* How a worker moves messages. */
enum form {
	FORM_SINGLE,	/* kchan_send / kchan_recv */
	FORM_BATCH,	/* kchan_send_many / kchan_recv_many */
	FORM_RW,	/* write(2) / read(2) */
	FORM_TIMED,	/* kchan_*_timeout(1 ms), retried on ETIMEDOUT */
	FORM_TRY,	/* kchan_try_*, poll() on EAGAIN */
	FORM_TRY_BATCH,	/* KCHAN_XFER_NONBLOCK batches, poll() on EAGAIN */
	FORM_MIXED,	/* all of the above in turn */
};

/* Shared with the workers; MAP_SHARED so that forked workers update it too. */
struct stress {
	int ch;
	uint32_t producers, consumers, per_producer;
	enum form form;
	_Atomic uint32_t errors;	/* a call failed unexpectedly */
	_Atomic uint32_t bad;		/* out of range or bad checksum */
	_Atomic uint32_t out_of_order;	/* a producer's seq not increasing */
	_Atomic uint64_t received;
	_Atomic uint8_t seen[];		/* [producer * per_producer + seq] */
};

/* Wait with poll() until @fd has @events (for the non-blocking forms). */
static int wait_ready(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	return poll(&pfd, 1, -1) < 0 ? -errno : 0;
}

/* Send @n messages one way or another; returns how many went, or -errno. */
static long send_some(struct stress *st, const struct msg *m, uint32_t n, unsigned int turn)
{
	enum form form = st->form == FORM_MIXED ? (enum form)(turn % FORM_MIXED) : st->form;
	long ret;

	switch (form) {
	case FORM_SINGLE:
		ret = kchan_send(st->ch, m);
		return ret < 0 ? ret : 1;
	case FORM_BATCH:
		return kchan_send_many(st->ch, m, n);
	case FORM_RW:
		ret = write(st->ch, m, n * sizeof(*m));
		if (ret < 0)
			return -errno;
		return ret % sizeof(*m) ? -EPROTO : ret / (long)sizeof(*m);
	case FORM_TIMED:
		do {
			ret = kchan_send_timeout(st->ch, m, KT_MSEC);
		} while (ret == -ETIMEDOUT);
		return ret < 0 ? ret : 1;
	case FORM_TRY:
		while ((ret = kchan_try_send(st->ch, m)) == -EAGAIN) {
			ret = wait_ready(st->ch, POLLOUT);
			if (ret < 0)
				return ret;
		}
		return ret < 0 ? ret : 1;
	default:
		while ((ret = kt_send_raw(st->ch, m, n, KCHAN_XFER_NONBLOCK)) == -EAGAIN) {
			ret = wait_ready(st->ch, POLLOUT);
			if (ret < 0)
				return ret;
		}
		return ret;
	}
}

/* Receive up to @n messages; returns how many, 0 once closed and drained. */
static long recv_some(struct stress *st, struct msg *m, uint32_t n, unsigned int turn)
{
	enum form form = st->form == FORM_MIXED ? (enum form)(turn % FORM_MIXED) : st->form;
	long ret;

	switch (form) {
	case FORM_SINGLE:
		return kchan_recv(st->ch, m);
	case FORM_BATCH:
		return kchan_recv_many(st->ch, m, n);
	case FORM_RW:
		ret = read(st->ch, m, n * sizeof(*m));
		if (ret < 0)
			return -errno;
		return ret % sizeof(*m) ? -EPROTO : ret / (long)sizeof(*m);
	case FORM_TIMED:
		do {
			ret = kchan_recv_timeout(st->ch, m, KT_MSEC);
		} while (ret == -ETIMEDOUT);
		return ret;
	case FORM_TRY:
		while ((ret = kchan_try_recv(st->ch, m)) == -EAGAIN) {
			ret = wait_ready(st->ch, POLLIN);
			if (ret < 0)
				return ret;
		}
		return ret;
	default:
		while ((ret = kt_recv_raw(st->ch, m, n, KCHAN_XFER_NONBLOCK)) == -EAGAIN) {
			ret = wait_ready(st->ch, POLLIN);
			if (ret < 0)
				return ret;
		}
		return ret;
	}
}

static void *producer(void *arg, uint32_t id)
{
	struct stress *st = arg;
	struct msg m[BATCH_MAX];
	unsigned int turn = id;
	uint32_t seq = 0;

	while (seq < st->per_producer) {
		uint32_t n = 1 + (seq + id) % BATCH_MAX;
		long ret;

		if (n > st->per_producer - seq)
			n = st->per_producer - seq;
		for (uint32_t i = 0; i < n; i++) {
			m[i].producer = id;
			m[i].seq = seq + i;
			m[i].check = msg_check(id, seq + i);
		}
		ret = send_some(st, m, n, turn++);
		if (ret <= 0 || ret > n) {
			fprintf(stderr, "# producer %u: send returned %ld\n", id, ret);
			atomic_fetch_add(&st->errors, 1);
			break;
		}
		seq += ret;
	}
	return NULL;
}

static void *consumer(void *arg, uint32_t id)
{
	struct stress *st = arg;
	int64_t *last = calloc(st->producers, sizeof(*last));
	struct msg m[BATCH_MAX];
	unsigned int turn = id;

	if (!last) {
		atomic_fetch_add(&st->errors, 1);
		return NULL;
	}
	for (uint32_t p = 0; p < st->producers; p++)
		last[p] = -1;
	for (;;) {
		long ret = recv_some(st, m, BATCH_MAX, turn++);

		if (ret == 0)
			break;
		if (ret < 0 || ret > BATCH_MAX) {
			fprintf(stderr, "# consumer %u: receive returned %ld\n", id, ret);
			atomic_fetch_add(&st->errors, 1);
			break;
		}
		for (long i = 0; i < ret; i++) {
			uint32_t p = m[i].producer, s = m[i].seq;

			if (p >= st->producers || s >= st->per_producer ||
			    m[i].check != msg_check(p, s)) {
				atomic_fetch_add(&st->bad, 1);
				continue;
			}
			atomic_fetch_add(&st->seen[(size_t)p * st->per_producer + s], 1);
			if ((int64_t)s <= last[p])
				atomic_fetch_add(&st->out_of_order, 1);
			last[p] = s;
			atomic_fetch_add(&st->received, 1);
		}
	}
	free(last);
	return NULL;
}

/* pthread entry points: the argument carries the role's id. */
struct role {
	struct stress *st;
	uint32_t id;
	pthread_t thread;
};

static void *producer_thread(void *arg)
{
	struct role *r = arg;

	return producer(r->st, r->id);
}

static void *consumer_thread(void *arg)
{
	struct role *r = arg;

	return consumer(r->st, r->id);
}

FIXTURE(stress) {
	struct stress *st;
	size_t st_size;
};

FIXTURE_VARIANT(stress) {
	bool processes;
	enum form form;
	uint32_t producers, consumers, total, capacity;
};

FIXTURE_VARIANT_ADD(stress, threads_single) {
	.form = FORM_SINGLE, .producers = 4, .consumers = 4, .total = 20000, .capacity = 8,
};
FIXTURE_VARIANT_ADD(stress, threads_batched) {
	.form = FORM_BATCH, .producers = 4, .consumers = 4, .total = 20000, .capacity = 8,
};
FIXTURE_VARIANT_ADD(stress, threads_read_write) {
	.form = FORM_RW, .producers = 4, .consumers = 4, .total = 20000, .capacity = 8,
};
FIXTURE_VARIANT_ADD(stress, threads_mixed_capacity1) {
	.form = FORM_MIXED, .producers = 6, .consumers = 2, .total = 12000, .capacity = 1,
};
FIXTURE_VARIANT_ADD(stress, threads_mixed_capacity3) {
	.form = FORM_MIXED, .producers = 2, .consumers = 6, .total = 12000, .capacity = 3,
};
FIXTURE_VARIANT_ADD(stress, processes_single) {
	.processes = true, .form = FORM_SINGLE, .producers = 4, .consumers = 4,
	.total = 20000, .capacity = 8,
};
FIXTURE_VARIANT_ADD(stress, processes_mixed) {
	.processes = true, .form = FORM_MIXED, .producers = 4, .consumers = 4,
	.total = 12000, .capacity = 4,
};

FIXTURE_SETUP(stress)
{
	uint32_t per_producer = variant->total / variant->producers;

	self->st_size = sizeof(*self->st) + (size_t)variant->producers * per_producer;
	self->st = mmap(NULL, self->st_size, PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->st);
	self->st->ch = KT_MAKE_CHAN(sizeof(struct msg), variant->capacity, 0);
	self->st->producers = variant->producers;
	self->st->consumers = variant->consumers;
	self->st->per_producer = per_producer;
	self->st->form = variant->form;
	signal(SIGPIPE, SIG_IGN);
}

FIXTURE_TEARDOWN(stress)
{
	close(self->st->ch);
	munmap(self->st, self->st_size);
}

static pid_t fork_role(void *(*fn)(void *, uint32_t), struct stress *st, uint32_t id)
{
	pid_t pid = fork();

	if (pid == 0) {
		fn(st, id);
		_exit(0);
	}
	return pid;
}

TEST_F_TIMEOUT(stress, every_message_arrives_once_in_per_producer_order, 300)
{
	struct stress *st = self->st;
	const uint32_t np = variant->producers, nc = variant->consumers;
	struct role prod[np], cons[nc];
	pid_t pprod[np], pcons[nc];
	int64_t start = kt_now_ns();
	struct kchan_info info;
	uint64_t missing = 0, dup = 0;
	int status;

	for (uint32_t i = 0; i < nc; i++) {
		cons[i] = (struct role){ .st = st, .id = i };
		if (variant->processes) {
			pcons[i] = fork_role(consumer, st, i);
			ASSERT_LT(0, pcons[i]);
		} else {
			ASSERT_EQ(0, pthread_create(&cons[i].thread, NULL, consumer_thread, &cons[i]));
		}
	}
	for (uint32_t i = 0; i < np; i++) {
		prod[i] = (struct role){ .st = st, .id = i };
		if (variant->processes) {
			pprod[i] = fork_role(producer, st, i);
			ASSERT_LT(0, pprod[i]);
		} else {
			ASSERT_EQ(0, pthread_create(&prod[i].thread, NULL, producer_thread, &prod[i]));
		}
	}

	/* All producers done: close the channel so that consumers drain and stop. */
	for (uint32_t i = 0; i < np; i++) {
		if (variant->processes) {
			ASSERT_EQ(pprod[i], waitpid(pprod[i], &status, 0));
			EXPECT_EQ(0, status);
		} else {
			ASSERT_EQ(0, pthread_join(prod[i].thread, NULL));
		}
	}
	ASSERT_EQ(0, kchan_close(st->ch));
	for (uint32_t i = 0; i < nc; i++) {
		if (variant->processes) {
			ASSERT_EQ(pcons[i], waitpid(pcons[i], &status, 0));
			EXPECT_EQ(0, status);
		} else {
			ASSERT_EQ(0, pthread_join(cons[i].thread, NULL));
		}
	}
	TH_LOG("%u messages in %lld ms", np * st->per_producer,
	       (long long)((kt_now_ns() - start) / KT_MSEC));

	EXPECT_EQ(0, atomic_load(&st->errors));
	EXPECT_EQ(0, atomic_load(&st->bad));
	EXPECT_EQ(0, atomic_load(&st->out_of_order));
	for (size_t i = 0; i < (size_t)np * st->per_producer; i++) {
		uint8_t n = atomic_load(&st->seen[i]);

		missing += n == 0;
		dup += n > 1;
	}
	EXPECT_EQ(0, missing);
	EXPECT_EQ(0, dup);
	EXPECT_EQ((uint64_t)np * st->per_producer, atomic_load(&st->received));

	ASSERT_EQ(0, kt_info(st->ch, &info));
	EXPECT_EQ(0, info.len);
	EXPECT_EQ(0, info.sendq);
	EXPECT_EQ(0, info.recvq);
}

TEST_HARNESS_MAIN
