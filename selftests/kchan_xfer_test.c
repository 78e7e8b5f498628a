// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: sending and receiving.
 *
 * Blocking, non-blocking (O_NONBLOCK, KCHAN_XFER_NONBLOCK, kchan_try_*),
 * timeouts and absolute deadlines, close and drain, FIFO order of
 * elements and of blocked senders and receivers, batches (send_many /
 * recv_many), EFAULT with nothing lost, and the validation of struct
 * kchan_xfer.  Ordering tests wait on KCHAN_IOC_INFO's sendq/recvq counts
 * instead of sleeping.
 */
#include <limits.h>
#include <sched.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

/* An 8-byte, capacity-4 channel for most tests. */
#define CAP	4

KT_U64_CHAN_FIXTURE(chan, CAP)

/* Fill the channel with @n values starting at @first. */
#define SEND_RANGE(ch, first, n) do {					\
	for (uint64_t __v = (first); __v < (uint64_t)(first) + (n); __v++) {	\
		ASSERT_EQ(0, kchan_try_send(ch, &__v));			\
	}								\
} while (0)

/* Receive @n values and check they are @first, @first + 1, ... */
#define RECV_RANGE(ch, first, n) do {					\
	for (uint64_t __v = (first); __v < (uint64_t)(first) + (n); __v++) {	\
		uint64_t __got = KT_SENTINEL_U64;			\
		ASSERT_EQ(1, kchan_try_recv(ch, &__got));		\
		ASSERT_EQ(__v, __got);					\
	}								\
} while (0)

TEST_F(chan, send_then_recv_roundtrip)
{
	uint64_t v = 0x0123456789abcdefULL, got = 0;

	ASSERT_EQ(0, kchan_send(self->ch, &v));
	ASSERT_EQ(1, kchan_recv(self->ch, &got));
	EXPECT_EQ(v, got);
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(chan, elements_received_in_send_order)
{
	for (uint64_t round = 0; round < 5; round++) {
		for (uint64_t i = 0; i < CAP; i++) {
			uint64_t v = round * 100 + i;

			ASSERT_EQ(0, kchan_send(self->ch, &v));
		}
		for (uint64_t i = 0; i < CAP; i++) {
			uint64_t got = 0;

			ASSERT_EQ(1, kchan_recv(self->ch, &got));
			ASSERT_EQ(round * 100 + i, got);
		}
	}
}

TEST_F(chan, len_tracks_queued_elements)
{
	uint64_t v = 1;

	EXPECT_EQ(0, kchan_len(self->ch));
	for (int i = 1; i <= CAP; i++) {
		ASSERT_EQ(0, kchan_send(self->ch, &v));
		EXPECT_EQ(i, kchan_len(self->ch));
	}
	for (int i = CAP - 1; i >= 0; i--) {
		ASSERT_EQ(1, kchan_recv(self->ch, &v));
		EXPECT_EQ(i, kchan_len(self->ch));
	}
	EXPECT_EQ(CAP, kchan_cap(self->ch));
}

/* Non-blocking */

TEST_F(chan, try_recv_on_empty_eagain_buffer_untouched)
{
	uint64_t v = KT_SENTINEL_U64;

	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &v));
	EXPECT_EQ(KT_SENTINEL_U64, v);
	EXPECT_EQ(-EAGAIN, kt_recv_raw(self->ch, &v, 1, KCHAN_XFER_NONBLOCK));
	EXPECT_EQ(KT_SENTINEL_U64, v);
}

TEST_F(chan, try_send_on_full_eagain_nothing_queued)
{
	uint64_t v = 99;

	SEND_RANGE(self->ch, 0, CAP);
	EXPECT_EQ(-EAGAIN, kchan_try_send(self->ch, &v));
	EXPECT_EQ(-EAGAIN, kt_send_raw(self->ch, &v, 1, KCHAN_XFER_NONBLOCK));
	EXPECT_EQ(CAP, kchan_len(self->ch));
	RECV_RANGE(self->ch, 0, CAP);
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &v));
}

TEST_F(chan, o_nonblock_descriptor_eagain_both_ways_then_blocking_again)
{
	int fl = fcntl(self->ch, F_GETFL);
	struct kt_worker w;
	uint64_t v = KT_SENTINEL_U64;

	ASSERT_EQ(0, fcntl(self->ch, F_SETFL, fl | O_NONBLOCK));
	EXPECT_EQ(-EAGAIN, kchan_recv(self->ch, &v));
	EXPECT_EQ(-EAGAIN, kchan_recv_many(self->ch, &v, 1));
	EXPECT_EQ(KT_SENTINEL_U64, v);
	for (uint64_t i = 0; i < CAP; i++) {
		ASSERT_EQ(0, kchan_send(self->ch, &i));
	}
	EXPECT_EQ(-EAGAIN, kchan_send(self->ch, &v));
	EXPECT_EQ(-EAGAIN, kchan_send_many(self->ch, &v, 1));
	EXPECT_EQ(CAP, kchan_len(self->ch));
	RECV_RANGE(self->ch, 0, CAP);

	/* Without O_NONBLOCK a receive blocks again. */
	ASSERT_EQ(0, fcntl(self->ch, F_SETFL, fl));
	ASSERT_EQ(0, kt_start_recv(&w, self->ch));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	ASSERT_EQ(0, kt_send_u64(self->ch, 5));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(5, kt_worker_u64(&w));
}

/* Blocking and the order of blocked tasks */

TEST_F(chan, recv_blocks_until_send_and_takes_it_directly)
{
	struct kt_worker w;

	ASSERT_EQ(0, kt_start_recv(&w, self->ch));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	EXPECT_FALSE(atomic_load(&w.done));
	ASSERT_EQ(0, kt_send_u64(self->ch, 77));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(77, kt_worker_u64(&w));
	/* The element went to the receiver, not into the ring. */
	EXPECT_EQ(0, kchan_len(self->ch));
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 0));
}

TEST_F(chan, send_blocks_until_room)
{
	struct kt_worker w;
	uint64_t got;

	SEND_RANGE(self->ch, 0, CAP);
	ASSERT_EQ(0, kt_start_send_u64(&w, self->ch, CAP));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	EXPECT_FALSE(atomic_load(&w.done));
	EXPECT_EQ(CAP, kchan_len(self->ch));

	ASSERT_EQ(1, kchan_recv(self->ch, &got));
	EXPECT_EQ(0, got);
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(0, w.ret);
	EXPECT_EQ(CAP, kchan_len(self->ch));
	RECV_RANGE(self->ch, 1, CAP);
}

TEST_F(chan, blocked_receivers_served_in_fifo_order)
{
	enum { N = 3 };
	struct kt_worker r[N];

	for (int i = 0; i < N; i++) {
		ASSERT_EQ(0, kt_start_recv(&r[i], self->ch));
		ASSERT_EQ(0, kt_wait_queues(self->ch, 0, i + 1));
	}
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(0, kt_send_u64(self->ch, 100 + i));
	}
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(0, kt_worker_join(&r[i]));
		EXPECT_EQ(1, r[i].ret);
		EXPECT_EQ(100 + i, kt_worker_u64(&r[i])) TH_LOG("receiver %d", i);
	}
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(chan, blocked_senders_served_in_fifo_order)
{
	enum { N = 3 };
	struct kt_worker s[N];

	SEND_RANGE(self->ch, 0, CAP);
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(0, kt_start_send_u64(&s[i], self->ch, CAP + i));
		ASSERT_EQ(0, kt_wait_queues(self->ch, i + 1, 0));
	}
	/* Each receive frees a slot that the oldest blocked sender fills. */
	for (uint64_t i = 0; i < CAP + N; i++) {
		uint64_t got = KT_SENTINEL_U64;

		ASSERT_EQ(1, kchan_recv(self->ch, &got));
		ASSERT_EQ(i, got);
	}
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(0, kt_worker_join(&s[i]));
		EXPECT_EQ(0, s[i].ret);
	}
	EXPECT_EQ(0, kchan_len(self->ch));
}

/* Timeouts and deadlines */

TEST_F(chan, timeout_zero_tries_once)
{
	uint64_t v = KT_SENTINEL_U64;

	EXPECT_EQ(-ETIMEDOUT, kchan_recv_timeout(self->ch, &v, 0));
	EXPECT_EQ(KT_SENTINEL_U64, v);
	EXPECT_EQ(0, kt_send_u64(self->ch, 1));
	EXPECT_EQ(1, kchan_recv_timeout(self->ch, &v, 0));
	EXPECT_EQ(1, v);

	for (uint64_t i = 0; i < CAP; i++) {
		EXPECT_EQ(0, kchan_send_timeout(self->ch, &i, 0));
	}
	EXPECT_EQ(-ETIMEDOUT, kchan_send_timeout(self->ch, &v, 0));
	EXPECT_EQ(CAP, kchan_len(self->ch));
	RECV_RANGE(self->ch, 0, CAP);
}

TEST_F(chan, recv_timeout_expires_and_leaves_no_waiter)
{
	const int64_t timeout = 50 * KT_MSEC;
	uint64_t v = KT_SENTINEL_U64;
	int64_t start = kt_now_ns(), elapsed;

	EXPECT_EQ(-ETIMEDOUT, kchan_recv_timeout(self->ch, &v, timeout));
	elapsed = kt_now_ns() - start;
	EXPECT_LE(timeout, elapsed);
	EXPECT_GT(10 * KT_NSEC, elapsed);
	EXPECT_EQ(KT_SENTINEL_U64, v);
	/* The timed-out receiver is gone: a send is queued, not handed off. */
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 0));
	ASSERT_EQ(0, kt_send_u64(self->ch, 3));
	EXPECT_EQ(1, kchan_len(self->ch));
	RECV_RANGE(self->ch, 3, 1);
}

TEST_F(chan, send_timeout_expires_and_queues_nothing)
{
	const int64_t timeout = 50 * KT_MSEC;
	uint64_t v = 1000;
	int64_t start, elapsed;

	SEND_RANGE(self->ch, 0, CAP);
	start = kt_now_ns();
	EXPECT_EQ(-ETIMEDOUT, kchan_send_timeout(self->ch, &v, timeout));
	elapsed = kt_now_ns() - start;
	EXPECT_LE(timeout, elapsed);
	EXPECT_GT(10 * KT_NSEC, elapsed);
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 0));
	RECV_RANGE(self->ch, 0, CAP);
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &v));
}

TEST_F(chan, negative_timeout_waits_forever)
{
	struct kt_worker w;

	kt_worker_init(&w, self->ch, KT_RECV_TIMEOUT);
	w.timeout_ns = -1;
	ASSERT_EQ(0, kt_worker_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	kt_sleep_us(100 * 1000);
	EXPECT_FALSE(atomic_load(&w.done));
	ASSERT_EQ(0, kt_send_u64(self->ch, 8));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(8, kt_worker_u64(&w));
}

TEST_F(chan, huge_timeout_does_not_overflow)
{
	struct kt_worker w;

	kt_worker_init(&w, self->ch, KT_RECV_TIMEOUT);
	w.timeout_ns = INT64_MAX;
	ASSERT_EQ(0, kt_worker_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	EXPECT_FALSE(atomic_load(&w.done));
	ASSERT_EQ(0, kt_send_u64(self->ch, 9));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(9, kt_worker_u64(&w));
}

TEST_F(chan, timed_calls_complete_before_the_timeout)
{
	struct kt_worker r, s;
	uint64_t got;

	kt_worker_init(&r, self->ch, KT_RECV_TIMEOUT);
	r.timeout_ns = 60 * KT_NSEC;
	ASSERT_EQ(0, kt_worker_start(&r));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	ASSERT_EQ(0, kt_send_u64(self->ch, 11));
	ASSERT_EQ(0, kt_worker_join(&r));
	EXPECT_EQ(1, r.ret);
	EXPECT_EQ(11, kt_worker_u64(&r));

	SEND_RANGE(self->ch, 0, CAP);
	kt_worker_init(&s, self->ch, KT_SEND_TIMEOUT);
	s.timeout_ns = 60 * KT_NSEC;
	memcpy(s.elem, &(uint64_t){ CAP }, sizeof(uint64_t));
	ASSERT_EQ(0, kt_worker_start(&s));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	ASSERT_EQ(1, kchan_recv(self->ch, &got));
	EXPECT_EQ(0, got);
	ASSERT_EQ(0, kt_worker_join(&s));
	EXPECT_EQ(0, s.ret);
	RECV_RANGE(self->ch, 1, CAP);
}

TEST_F(chan, raw_deadline_in_the_past_tries_once)
{
	uint64_t v = 5;

	EXPECT_EQ(-ETIMEDOUT, kt_xfer(self->ch, KCHAN_IOC_RECV, &v, 1, KCHAN_XFER_DEADLINE, 1));
	EXPECT_EQ(5, v);
	EXPECT_EQ(1, kt_xfer(self->ch, KCHAN_IOC_SEND, &v, 1, KCHAN_XFER_DEADLINE, 1));
	EXPECT_EQ(1, kt_xfer(self->ch, KCHAN_IOC_SEND, &v, 1, KCHAN_XFER_DEADLINE,
			     kt_now_ns() - KT_NSEC));
	SEND_RANGE(self->ch, 0, CAP - 2);
	EXPECT_EQ(-ETIMEDOUT, kt_xfer(self->ch, KCHAN_IOC_SEND, &v, 1, KCHAN_XFER_DEADLINE, 1));
	EXPECT_EQ(CAP, kchan_len(self->ch));
	v = 0;
	EXPECT_EQ(1, kt_xfer(self->ch, KCHAN_IOC_RECV, &v, 1, KCHAN_XFER_DEADLINE, 1));
	EXPECT_EQ(5, v);
}

TEST_F(chan, raw_deadline_is_absolute_monotonic)
{
	int64_t deadline = kt_now_ns() + 100 * KT_MSEC;
	uint64_t v;

	EXPECT_EQ(-ETIMEDOUT, kt_xfer(self->ch, KCHAN_IOC_RECV, &v, 1, KCHAN_XFER_DEADLINE,
				      deadline));
	EXPECT_LE(deadline, kt_now_ns());
	EXPECT_GT(deadline + 10 * KT_NSEC, kt_now_ns());
}

/* Close and drain */

TEST_F(chan, close_drains_queued_elements_in_order_then_reports_closed)
{
	uint64_t v = KT_SENTINEL_U64;

	SEND_RANGE(self->ch, 10, 3);
	ASSERT_EQ(0, kchan_close(self->ch));
	EXPECT_EQ(3, kchan_len(self->ch));
	for (uint64_t i = 10; i < 13; i++) {
		ASSERT_EQ(1, kchan_recv(self->ch, &v));
		EXPECT_EQ(i, v);
	}
	v = KT_SENTINEL_U64;
	EXPECT_EQ(0, kchan_recv(self->ch, &v));
	EXPECT_EQ(KT_SENTINEL_U64, v);
	/* And keeps doing so. */
	EXPECT_EQ(0, kchan_recv(self->ch, &v));
	EXPECT_EQ(KT_SENTINEL_U64, v);
}

TEST_F(chan, close_wakes_blocked_receivers_as_closed)
{
	struct kt_worker r[2];

	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, kt_start_recv(&r[i], self->ch));
		ASSERT_EQ(0, kt_wait_queues(self->ch, 0, i + 1));
	}
	ASSERT_EQ(0, kchan_close(self->ch));
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, kt_worker_join(&r[i]));
		EXPECT_EQ(0, r[i].ret);
		EXPECT_EQ(KT_SENTINEL_U64, kt_worker_u64(&r[i]));
	}
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 0));
}

TEST_F(chan, close_fails_blocked_senders_with_epipe_and_drops_their_elements)
{
	struct kt_worker s[2];
	uint64_t v = KT_SENTINEL_U64;

	SEND_RANGE(self->ch, 0, CAP);
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, kt_start_send_u64(&s[i], self->ch, 100 + i));
		ASSERT_EQ(0, kt_wait_queues(self->ch, i + 1, 0));
	}
	ASSERT_EQ(0, kchan_close(self->ch));
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, kt_worker_join(&s[i]));
		EXPECT_EQ(-EPIPE, s[i].ret);
	}
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 0));
	EXPECT_EQ(CAP, kchan_len(self->ch));
	RECV_RANGE(self->ch, 0, CAP);
	EXPECT_EQ(0, kchan_recv(self->ch, &v));
	EXPECT_EQ(KT_SENTINEL_U64, v);
}

TEST_F(chan, second_close_epipe_changes_nothing)
{
	struct kchan_info info;

	SEND_RANGE(self->ch, 0, 2);
	ASSERT_EQ(0, kchan_close(self->ch));
	EXPECT_EQ(-EPIPE, kchan_close(self->ch));
	EXPECT_EQ(-EPIPE, kt_ioctl(self->ch, KCHAN_IOC_CLOSE, 0));
	ASSERT_EQ(0, kt_info(self->ch, &info));
	EXPECT_EQ(KCHAN_STATE_CLOSED, info.state);
	EXPECT_EQ(2, info.len);
	RECV_RANGE(self->ch, 0, 2);
}

TEST_F(chan, every_send_form_after_close_epipe_even_when_full)
{
	uint64_t v[2] = { 7, 8 };
	int fl = fcntl(self->ch, F_GETFL);

	SEND_RANGE(self->ch, 0, CAP - 1);
	ASSERT_EQ(0, kchan_close(self->ch));
	/* There is room: still nothing may be queued. */
	EXPECT_EQ(-EPIPE, kchan_send(self->ch, v));
	EXPECT_EQ(-EPIPE, kchan_try_send(self->ch, v));
	EXPECT_EQ(-EPIPE, kchan_send_timeout(self->ch, v, 0));
	EXPECT_EQ(-EPIPE, kchan_send_timeout(self->ch, v, KT_NSEC));
	EXPECT_EQ(-EPIPE, kchan_send_many(self->ch, v, 2));
	EXPECT_EQ(-EPIPE, kt_send_raw(self->ch, v, 1, KCHAN_XFER_NONBLOCK));
	ASSERT_EQ(0, fcntl(self->ch, F_SETFL, fl | O_NONBLOCK));
	EXPECT_EQ(-EPIPE, kchan_send(self->ch, v));
	EXPECT_EQ(CAP - 1, kchan_len(self->ch));
	RECV_RANGE(self->ch, 0, CAP - 1);

	/* Full and closed: EPIPE, not EAGAIN or ETIMEDOUT. */
	ASSERT_EQ(0, fcntl(self->ch, F_SETFL, fl));
	close(self->ch);
	self->ch = KT_MAKE_CHAN(sizeof(uint64_t), 1, 0);
	ASSERT_EQ(0, kchan_send(self->ch, v));
	ASSERT_EQ(0, kchan_close(self->ch));
	EXPECT_EQ(-EPIPE, kchan_try_send(self->ch, v));
	EXPECT_EQ(-EPIPE, kchan_send_timeout(self->ch, v, 0));
	EXPECT_EQ(-EPIPE, kchan_send(self->ch, v));
	EXPECT_EQ(1, kchan_len(self->ch));
}

TEST_F(chan, receives_on_closed_and_drained_never_block)
{
	uint64_t v[2] = { KT_SENTINEL_U64, KT_SENTINEL_U64 };

	ASSERT_EQ(0, kchan_close(self->ch));
	EXPECT_EQ(0, kchan_try_recv(self->ch, v));
	EXPECT_EQ(0, kchan_recv_timeout(self->ch, v, 0));
	EXPECT_EQ(0, kchan_recv_timeout(self->ch, v, -1));
	EXPECT_EQ(0, kchan_recv_timeout(self->ch, v, KT_NSEC));
	EXPECT_EQ(0, kchan_recv_many(self->ch, v, 2));
	EXPECT_EQ(0, kt_recv_raw(self->ch, v, 1, KCHAN_XFER_NONBLOCK));
	ASSERT_EQ(0, fcntl(self->ch, F_SETFL, fcntl(self->ch, F_GETFL) | O_NONBLOCK));
	EXPECT_EQ(0, kchan_recv(self->ch, v));
	EXPECT_EQ(KT_SENTINEL_U64, v[0]);
	EXPECT_EQ(KT_SENTINEL_U64, v[1]);
}

/* Batches */

TEST_F(chan, send_many_sends_all_that_fit)
{
	uint64_t v[3] = { 1, 2, 3 };

	EXPECT_EQ(3, kchan_send_many(self->ch, v, 3));
	EXPECT_EQ(3, kchan_len(self->ch));
	RECV_RANGE(self->ch, 1, 3);
}

TEST_F(chan, send_many_moves_only_what_fits_without_blocking)
{
	uint64_t v[CAP + 2];

	for (int i = 0; i < CAP + 2; i++)
		v[i] = i;
	EXPECT_EQ(CAP, kchan_send_many(self->ch, v, CAP + 2));
	EXPECT_EQ(CAP, kchan_len(self->ch));
	/* With one slot free, one more element goes. */
	RECV_RANGE(self->ch, 0, 1);
	EXPECT_EQ(1, kchan_send_many(self->ch, &v[CAP], 2));
	RECV_RANGE(self->ch, 1, CAP);
}

TEST_F(chan, send_many_blocks_for_the_first_element_only)
{
	uint64_t batch[3] = { 100, 101, 102 };
	struct kt_worker w;
	uint64_t got;

	SEND_RANGE(self->ch, 0, CAP);
	kt_worker_init(&w, self->ch, KT_SEND_MANY);
	w.buf = batch;
	w.n = 3;
	ASSERT_EQ(0, kt_worker_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	ASSERT_EQ(1, kchan_recv(self->ch, &got));
	EXPECT_EQ(0, got);
	ASSERT_EQ(0, kt_worker_join(&w));
	/* One slot was freed: the first element went, the rest did not wait. */
	EXPECT_EQ(1, w.ret);
	RECV_RANGE(self->ch, 1, CAP - 1);
	RECV_RANGE(self->ch, 100, 1);
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &got));
}

TEST_F(chan, send_many_feeds_blocked_receivers_in_order_then_the_ring)
{
	uint64_t batch[CAP + 3];
	struct kt_worker r[2];

	for (int i = 0; i < CAP + 3; i++)
		batch[i] = 200 + i;
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, kt_start_recv(&r[i], self->ch));
		ASSERT_EQ(0, kt_wait_queues(self->ch, 0, i + 1));
	}
	/* Two go to the receivers, CAP into the ring, one is left. */
	EXPECT_EQ(CAP + 2, kchan_send_many(self->ch, batch, CAP + 3));
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, kt_worker_join(&r[i]));
		EXPECT_EQ(1, r[i].ret);
		EXPECT_EQ(200 + i, kt_worker_u64(&r[i]));
	}
	EXPECT_EQ(CAP, kchan_len(self->ch));
	RECV_RANGE(self->ch, 202, CAP);
}

TEST_F(chan, recv_many_takes_what_is_ready)
{
	uint64_t v[8];

	SEND_RANGE(self->ch, 40, 3);
	memset(v, 0xa5, sizeof(v));
	ASSERT_EQ(3, kchan_recv_many(self->ch, v, 8));
	for (int i = 0; i < 3; i++) {
		EXPECT_EQ(40 + i, v[i]);
	}
	EXPECT_EQ(KT_SENTINEL_U64, v[3]);
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(chan, recv_many_blocks_for_the_first_element)
{
	uint64_t v[4];
	struct kt_worker w;

	memset(v, 0xa5, sizeof(v));
	kt_worker_init(&w, self->ch, KT_RECV_MANY);
	w.buf = v;
	w.n = 4;
	ASSERT_EQ(0, kt_worker_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	ASSERT_EQ(0, kt_send_u64(self->ch, 31));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(31, v[0]);
	EXPECT_EQ(KT_SENTINEL_U64, v[1]);
}

TEST_F(chan, recv_many_takes_elements_of_blocked_senders_in_order)
{
	struct kt_worker s[2];
	uint64_t v[CAP + 4];

	SEND_RANGE(self->ch, 0, CAP);
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, kt_start_send_u64(&s[i], self->ch, CAP + i));
		ASSERT_EQ(0, kt_wait_queues(self->ch, i + 1, 0));
	}
	/* A receive moves the oldest blocked sender's element into the ring. */
	ASSERT_EQ(CAP + 2, kchan_recv_many(self->ch, v, CAP + 4));
	for (int i = 0; i < CAP + 2; i++) {
		EXPECT_EQ(i, v[i]);
	}
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, kt_worker_join(&s[i]));
		EXPECT_EQ(0, s[i].ret);
	}
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(chan, recv_many_after_close_returns_the_rest_then_zero)
{
	uint64_t v[8];

	SEND_RANGE(self->ch, 50, 2);
	ASSERT_EQ(0, kchan_close(self->ch));
	memset(v, 0xa5, sizeof(v));
	ASSERT_EQ(2, kchan_recv_many(self->ch, v, 8));
	EXPECT_EQ(50, v[0]);
	EXPECT_EQ(51, v[1]);
	EXPECT_EQ(KT_SENTINEL_U64, v[2]);
	EXPECT_EQ(0, kchan_recv_many(self->ch, v, 8));
	EXPECT_EQ(50, v[0]);
}

TEST_F(chan, many_with_zero_count_einval)
{
	uint64_t v = 0;

	EXPECT_EQ(-EINVAL, kchan_send_many(self->ch, &v, 0));
	EXPECT_EQ(-EINVAL, kchan_recv_many(self->ch, &v, 0));
	EXPECT_EQ(0, kchan_len(self->ch));
}

/* Counts up to INT_MAX rounded down to a page are accepted. */
TEST_F(chan, count_at_the_size_limit_accepted)
{
	const uint64_t limit = ((uint64_t)INT_MAX & ~((uint64_t)sysconf(_SC_PAGESIZE) - 1)) /
			       sizeof(uint64_t);
	uint64_t v[CAP];

	for (int i = 0; i < CAP; i++)
		v[i] = i;
	/* Only the elements that move are read or written. */
	EXPECT_EQ(CAP, kt_send_raw(self->ch, v, limit, 0));
	memset(v, 0, sizeof(v));
	EXPECT_EQ(CAP, kt_recv_raw(self->ch, v, limit, 0));
	EXPECT_EQ(CAP - 1, v[CAP - 1]);
}

/* EFAULT: nothing lost, nothing half-done */

/*
 * EFAULT is the kernel path's: through a mapped channel libchanuser
 * copies elements itself, and a bad buffer faults in the caller
 * (kchan_fastpath_test).  These tests swap in a plain channel.
 */
static int plain_chan(int *ch)
{
	close(*ch);
	*ch = kt_create(sizeof(uint64_t), CAP, 0);
	return *ch;
}

TEST_F(chan, send_from_bad_pointer_efault_nothing_queued)
{
	void *bad[] = { NULL, (void *)1, kt_noaccess_addr() };

	ASSERT_LE(0, plain_chan(&self->ch));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EFAULT, kchan_send(self->ch, bad[i])) TH_LOG("pointer %p", bad[i]);
		EXPECT_EQ(-EFAULT, kchan_try_send(self->ch, bad[i]));
		EXPECT_EQ(-EFAULT, kchan_send_many(self->ch, bad[i], 2));
	}
	EXPECT_EQ(0, kchan_len(self->ch));
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &(uint64_t){ 0 }));
}

TEST_F(chan, send_from_bad_pointer_to_blocked_receiver_delivers_nothing)
{
	struct kt_worker w;

	ASSERT_LE(0, plain_chan(&self->ch));
	ASSERT_EQ(0, kt_start_recv(&w, self->ch));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	EXPECT_EQ(-EFAULT, kchan_send(self->ch, NULL));
	EXPECT_EQ(-EFAULT, kchan_send(self->ch, kt_noaccess_addr()));
	/* The receiver still waits and gets the next good element. */
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	EXPECT_FALSE(atomic_load(&w.done));
	ASSERT_EQ(0, kt_send_u64(self->ch, 61));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(61, kt_worker_u64(&w));
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(chan, recv_into_bad_buffer_efault_element_stays_first)
{
	uint64_t v;

	SEND_RANGE(self->ch, 70, 2);
	EXPECT_EQ(-EFAULT, kchan_recv(self->ch, NULL));
	EXPECT_EQ(-EFAULT, kchan_try_recv(self->ch, (void *)1));
	EXPECT_EQ(-EFAULT, kchan_recv_many(self->ch, kt_noaccess_addr(), 2));
	EXPECT_EQ(2, kchan_len(self->ch));
	ASSERT_EQ(1, kchan_recv(self->ch, &v));
	EXPECT_EQ(70, v);
	ASSERT_EQ(1, kchan_recv(self->ch, &v));
	EXPECT_EQ(71, v);
}

TEST_F(chan, blocked_receiver_with_bad_buffer_loses_no_element)
{
	struct kt_worker w;
	uint64_t v = 0;

	kt_worker_init(&w, self->ch, KT_RECV);
	w.buf = kt_noaccess_addr();
	ASSERT_EQ(0, kt_worker_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	ASSERT_EQ(0, kt_send_u64(self->ch, 88));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(-EFAULT, w.ret);
	/* The element handed over is still there for the next receiver. */
	EXPECT_EQ(1, kchan_len(self->ch));
	ASSERT_EQ(1, kchan_try_recv(self->ch, &v));
	EXPECT_EQ(88, v);
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &v));
}

TEST_F(chan, batch_that_faults_after_the_first_element_is_partial)
{
	char *map = kt_guard_alloc();
	uint64_t *two;
	uint64_t v;

	ASSERT_LE(0, plain_chan(&self->ch));
	ASSERT_NE(NULL, map);
	/* Element 0 readable, element 1 in the PROT_NONE page. */
	two = (uint64_t *)(kt_guard_end(map) - sizeof(uint64_t));
	*two = 90;
	EXPECT_EQ(1, kchan_send_many(self->ch, two, 2));
	EXPECT_EQ(1, kchan_len(self->ch));
	ASSERT_EQ(0, kt_send_u64(self->ch, 91));

	*two = KT_SENTINEL_U64;
	EXPECT_EQ(1, kchan_recv_many(self->ch, two, 2));
	EXPECT_EQ(90, *two);
	/* The element that could not be stored is still queued. */
	EXPECT_EQ(1, kchan_len(self->ch));
	ASSERT_EQ(1, kchan_recv(self->ch, &v));
	EXPECT_EQ(91, v);
	kt_guard_free(map);
}

TEST_F(chan, given_back_element_comes_first_counts_in_len_and_keeps_ring_full)
{
	struct kt_worker r, s;
	struct kchan_info info;
	uint64_t v = 0;

	/* A receiver handed an element it cannot store gives it back. */
	kt_worker_init(&r, self->ch, KT_RECV);
	r.buf = kt_noaccess_addr();
	ASSERT_EQ(0, kt_worker_start(&r));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	ASSERT_EQ(0, kt_send_u64(self->ch, 88));
	ASSERT_EQ(0, kt_worker_join(&r));
	ASSERT_EQ(-EFAULT, r.ret);

	/* It is outside the ring: the ring still takes CAP elements. */
	SEND_RANGE(self->ch, 0, CAP);
	EXPECT_EQ(CAP + 1, kchan_len(self->ch));
	EXPECT_EQ(-EAGAIN, kchan_try_send(self->ch, &v));
	ASSERT_EQ(0, kt_start_send_u64(&s, self->ch, 500));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));

	/* Received first; the ring stays full, so the sender stays blocked. */
	ASSERT_EQ(1, kchan_recv(self->ch, &v));
	EXPECT_EQ(88, v);
	ASSERT_EQ(0, kt_info(self->ch, &info));
	EXPECT_EQ(CAP, info.len);
	EXPECT_EQ(1, info.sendq);
	EXPECT_FALSE(atomic_load(&s.done));

	RECV_RANGE(self->ch, 0, 1);
	ASSERT_EQ(0, kt_worker_join(&s));
	EXPECT_EQ(0, s.ret);
	RECV_RANGE(self->ch, 1, CAP - 1);
	RECV_RANGE(self->ch, 500, 1);
}

/* semantics.rst, "Order of checks": the channel's state before the element. */
TEST_F(chan, send_checks_the_channel_before_the_element)
{
	void *bad = kt_noaccess_addr();

	SEND_RANGE(self->ch, 0, CAP);
	/* Full: would block, so the bad element is never read. */
	EXPECT_EQ(-EAGAIN, kchan_try_send(self->ch, bad));
	EXPECT_EQ(-ETIMEDOUT, kchan_send_timeout(self->ch, bad, 0));
	ASSERT_EQ(0, kchan_close(self->ch));
	EXPECT_EQ(-EPIPE, kchan_send(self->ch, bad));
	EXPECT_EQ(-EPIPE, kchan_send(self->ch, NULL));
	EXPECT_EQ(CAP, kchan_len(self->ch));
}

TEST_F(chan, recv_checks_the_channel_before_the_buffer)
{
	void *bad = kt_noaccess_addr();

	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, bad));
	EXPECT_EQ(-ETIMEDOUT, kchan_recv_timeout(self->ch, bad, 0));
	ASSERT_EQ(0, kchan_close(self->ch));
	EXPECT_EQ(0, kchan_recv(self->ch, bad));
	EXPECT_EQ(0, kchan_recv_many(self->ch, NULL, 4));
}

TEST_F(chan, nonblocking_wins_over_a_passed_deadline)
{
	const uint32_t both = KCHAN_XFER_NONBLOCK | KCHAN_XFER_DEADLINE;
	uint64_t v = 0;

	EXPECT_EQ(-EAGAIN, kt_xfer(self->ch, KCHAN_IOC_RECV, &v, 1, both, 1));
	SEND_RANGE(self->ch, 0, CAP);
	EXPECT_EQ(-EAGAIN, kt_xfer(self->ch, KCHAN_IOC_SEND, &v, 1, both, 1));
	ASSERT_EQ(0, fcntl(self->ch, F_SETFL, fcntl(self->ch, F_GETFL) | O_NONBLOCK));
	EXPECT_EQ(-EAGAIN, kchan_send_timeout(self->ch, &v, 0));
	RECV_RANGE(self->ch, 0, CAP);
	EXPECT_EQ(-EAGAIN, kchan_recv_timeout(self->ch, &v, 0));
	/* What can complete at once does, whatever the deadline says. */
	EXPECT_EQ(1, kt_xfer(self->ch, KCHAN_IOC_SEND, &v, 1, both, 1));
}

TEST_F(chan, blocked_call_survives_close_of_its_descriptor)
{
	struct kt_worker w;
	int fd2 = dup(self->ch);

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, kt_start_recv(&w, fd2));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	ASSERT_EQ(0, close(fd2));
	/* close(2) is not Go's close(ch): the receiver keeps waiting. */
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	EXPECT_FALSE(atomic_load(&w.done));
	ASSERT_EQ(0, kt_send_u64(self->ch, 21));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(21, kt_worker_u64(&w));
}

/* Many threads close at once: exactly one close succeeds. */
struct closer {
	int ch;
	_Atomic int *go;
	int ret;
	pthread_t thread;
};

static void *closer_main(void *arg)
{
	struct closer *c = arg;

	while (!atomic_load(c->go))
		;
	c->ret = kchan_close(c->ch);
	return NULL;
}

TEST(concurrent_closes_exactly_one_succeeds)
{
	enum { THREADS = 4, ROUNDS = 30 };

	for (int round = 0; round < ROUNDS; round++) {
		int ch = KT_MAKE_CHAN(sizeof(uint64_t), 1, 0);
		struct closer c[THREADS];
		_Atomic int go = 0;
		int ok = 0, epipe = 0;

		for (int i = 0; i < THREADS; i++) {
			c[i] = (struct closer){ .ch = ch, .go = &go };
			ASSERT_EQ(0, pthread_create(&c[i].thread, NULL, closer_main, &c[i]));
		}
		atomic_store(&go, 1);
		for (int i = 0; i < THREADS; i++) {
			ASSERT_EQ(0, pthread_join(c[i].thread, NULL));
			ok += c[i].ret == 0;
			epipe += c[i].ret == -EPIPE;
		}
		ASSERT_EQ(1, ok) TH_LOG("round %d", round);
		ASSERT_EQ(THREADS - 1, epipe);
		close(ch);
	}
}

/*
 * The deadline is CLOCK_MONOTONIC as the caller sees it, also inside a
 * time namespace with a monotonic offset.  Returns the child's exit
 * status (0: timed out at its own deadline), or -errno.
 */
static int deadline_in_time_namespace(int ch, long offset_sec)
{
	char line[64];
	int fd, len, status;
	pid_t pid;

	if (unshare(CLONE_NEWTIME))
		return -errno;
	fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = snprintf(line, sizeof(line), "monotonic %ld 0\n", offset_sec);
	if (write(fd, line, len) != len) {
		close(fd);
		return -errno;
	}
	close(fd);

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* In the namespace: its clock is the host's plus the offset. */
		int64_t deadline = kt_now_ns() + 100 * KT_MSEC;
		uint64_t v;
		long ret = kt_xfer(ch, KCHAN_IOC_RECV, &v, 1, KCHAN_XFER_DEADLINE, deadline);

		if (ret != -ETIMEDOUT)
			_exit(1);
		_exit(kt_now_ns() >= deadline ? 0 : 2);
	}
	if (kt_waitpid(pid, &status))
		return -ETIMEDOUT;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST_F(chan, deadline_is_read_in_the_callers_time_namespace)
{
	int ret;

	ret = deadline_in_time_namespace(self->ch, 1000);
	if (ret == -EINVAL || ret == -ENOENT)
		SKIP(return, "no time namespaces (CONFIG_TIME_NS)");
	EXPECT_EQ(0, ret) TH_LOG("offset +1000 s: %d (-110: blocked past its deadline)", ret);
	/* The offset must keep the namespace's clock positive. */
	ret = deadline_in_time_namespace(self->ch, -1);
	EXPECT_EQ(0, ret) TH_LOG("offset -1 s: %d (2: returned before its deadline)", ret);
}

TEST_F(chan, bad_xfer_struct_pointer_efault_nothing_moved)
{
	void *bad[] = { NULL, (void *)1, kt_noaccess_addr() };
	uint64_t v;

	SEND_RANGE(self->ch, 5, 1);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EFAULT, kt_ioctl(self->ch, KCHAN_IOC_SEND, (unsigned long)bad[i]));
		EXPECT_EQ(-EFAULT, kt_ioctl(self->ch, KCHAN_IOC_RECV, (unsigned long)bad[i]));
	}
	EXPECT_EQ(1, kchan_len(self->ch));
	ASSERT_EQ(1, kchan_recv(self->ch, &v));
	EXPECT_EQ(5, v);
}

/* struct kchan_xfer validation: one failure per variant, for send and receive. */
FIXTURE(xfer_einval) {
	int ch;
};

FIXTURE_VARIANT(xfer_einval) {
	uint32_t size;
	uint32_t flags;
	uint64_t count;
	int64_t deadline_ns;
};

FIXTURE_VARIANT_ADD(xfer_einval, size_zero) {
	.size = 0, .count = 1,
};
FIXTURE_VARIANT_ADD(xfer_einval, size_half_ver0) {
	.size = KCHAN_XFER_SIZE_VER0 / 2, .count = 1,
};
FIXTURE_VARIANT_ADD(xfer_einval, size_ver0_minus_one) {
	.size = KCHAN_XFER_SIZE_VER0 - 1, .count = 1,
};
FIXTURE_VARIANT_ADD(xfer_einval, unknown_flag_bit2) {
	.size = KCHAN_XFER_SIZE_VER0, .flags = 1U << 2, .count = 1,
};
FIXTURE_VARIANT_ADD(xfer_einval, unknown_flag_bit31) {
	.size = KCHAN_XFER_SIZE_VER0, .flags = KCHAN_XFER_NONBLOCK | (1U << 31), .count = 1,
};
FIXTURE_VARIANT_ADD(xfer_einval, count_zero) {
	.size = KCHAN_XFER_SIZE_VER0, .count = 0,
};
FIXTURE_VARIANT_ADD(xfer_einval, count_over_the_size_limit) {
	.size = KCHAN_XFER_SIZE_VER0, .count = (INT_MAX / sizeof(uint64_t)) + 1,
};
FIXTURE_VARIANT_ADD(xfer_einval, count_overflows_bytes) {
	.size = KCHAN_XFER_SIZE_VER0, .count = UINT64_MAX / 4,
};
FIXTURE_VARIANT_ADD(xfer_einval, deadline_without_deadline_flag) {
	.size = KCHAN_XFER_SIZE_VER0, .count = 1, .deadline_ns = 1,
};
FIXTURE_VARIANT_ADD(xfer_einval, negative_deadline_with_deadline_flag) {
	.size = KCHAN_XFER_SIZE_VER0, .flags = KCHAN_XFER_DEADLINE, .count = 1, .deadline_ns = -1,
};
FIXTURE_VARIANT_ADD(xfer_einval, negative_deadline_without_deadline_flag) {
	.size = KCHAN_XFER_SIZE_VER0, .flags = KCHAN_XFER_NONBLOCK, .count = 1, .deadline_ns = -1,
};

FIXTURE_SETUP(xfer_einval)
{
	self->ch = KT_MAKE_CHAN(sizeof(uint64_t), CAP, 0);
}

FIXTURE_TEARDOWN(xfer_einval)
{
	close(self->ch);
}

static long xfer_variant(int ch, unsigned long cmd, const FIXTURE_VARIANT(xfer_einval) *variant,
			 void *elems)
{
	/* Room past the struct so that small sizes read defined memory. */
	struct {
		struct kchan_xfer x;
		unsigned char zero[8];
	} arg = {
		.x = {
			.size = variant->size,
			.flags = variant->flags,
			.elems = (uintptr_t)elems,
			.count = variant->count,
			.deadline_ns = variant->deadline_ns,
		},
	};

	return kt_ioctl(ch, cmd, (unsigned long)&arg);
}

TEST_F(xfer_einval, send_rejected_nothing_queued)
{
	uint64_t v[CAP] = { 1, 2, 3, 4 };

	EXPECT_EQ(-EINVAL, xfer_variant(self->ch, KCHAN_IOC_SEND, variant, v));
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(xfer_einval, recv_rejected_element_stays)
{
	uint64_t v[CAP];

	SEND_RANGE(self->ch, 1, 1);
	memset(v, 0xa5, sizeof(v));
	EXPECT_EQ(-EINVAL, xfer_variant(self->ch, KCHAN_IOC_RECV, variant, v));
	EXPECT_EQ(KT_SENTINEL_U64, v[0]);
	EXPECT_EQ(1, kchan_len(self->ch));
}

/* A bigger struct kchan_xfer: a non-zero tail is E2BIG, a zero tail works. */
TEST_F(chan, xfer_bigger_struct_nonzero_tail_e2big_nothing_moved)
{
	uint64_t v = 3;
	struct {
		struct kchan_xfer x;
		uint64_t tail[2];
	} arg = {
		.x = { .size = sizeof(arg), .elems = (uintptr_t)&v, .count = 1 },
		.tail = { 0, 1 },
	};

	EXPECT_EQ(-E2BIG, kt_ioctl(self->ch, KCHAN_IOC_SEND, (unsigned long)&arg));
	EXPECT_EQ(0, kchan_len(self->ch));

	SEND_RANGE(self->ch, 6, 1);
	v = KT_SENTINEL_U64;
	EXPECT_EQ(-E2BIG, kt_ioctl(self->ch, KCHAN_IOC_RECV, (unsigned long)&arg));
	EXPECT_EQ(KT_SENTINEL_U64, v);
	EXPECT_EQ(1, kchan_len(self->ch));
}

TEST_F(chan, xfer_bigger_struct_zero_tail_accepted)
{
	uint64_t v = 12;
	struct {
		struct kchan_xfer x;
		uint64_t tail[2];
	} arg = {
		.x = { .size = sizeof(arg), .elems = (uintptr_t)&v, .count = 1 },
	};

	EXPECT_EQ(1, kt_ioctl(self->ch, KCHAN_IOC_SEND, (unsigned long)&arg));
	EXPECT_EQ(1, kchan_len(self->ch));
	v = 0;
	EXPECT_EQ(1, kt_ioctl(self->ch, KCHAN_IOC_RECV, (unsigned long)&arg));
	EXPECT_EQ(12, v);
}

TEST_F(chan, xfer_struct_larger_than_a_page_e2big)
{
	long page = sysconf(_SC_PAGESIZE);
	struct kchan_xfer *x = calloc(1, page + 8);
	uint64_t v = 4;

	ASSERT_NE(NULL, x);
	*x = (struct kchan_xfer){ .size = page + 8, .elems = (uintptr_t)&v, .count = 1 };
	EXPECT_EQ(-E2BIG, kt_ioctl(self->ch, KCHAN_IOC_SEND, (unsigned long)x));
	EXPECT_EQ(-E2BIG, kt_ioctl(self->ch, KCHAN_IOC_RECV, (unsigned long)x));
	EXPECT_EQ(0, kchan_len(self->ch));
	free(x);
}

/* Element sizes and capacities: FIFO through ring wraparound. */
FIXTURE(geom) {
	int ch;
	unsigned char *buf;	/* room for capacity + 1 elements */
};

FIXTURE_VARIANT(geom) {
	uint32_t elem_size;
	uint32_t capacity;
};

FIXTURE_VARIANT_ADD(geom, elem1_cap1) { .elem_size = 1, .capacity = 1 };
FIXTURE_VARIANT_ADD(geom, elem3_cap5) { .elem_size = 3, .capacity = 5 };
FIXTURE_VARIANT_ADD(geom, elem8_cap4) { .elem_size = 8, .capacity = 4 };
FIXTURE_VARIANT_ADD(geom, elem100_cap7) { .elem_size = 100, .capacity = 7 };
FIXTURE_VARIANT_ADD(geom, elem2_cap1000) { .elem_size = 2, .capacity = 1000 };
FIXTURE_VARIANT_ADD(geom, elem4096_cap3) { .elem_size = 4096, .capacity = 3 };
FIXTURE_VARIANT_ADD(geom, elem65536_cap2) { .elem_size = KCHAN_ELEM_SIZE_MAX, .capacity = 2 };

FIXTURE_SETUP(geom)
{
	self->ch = KT_MAKE_CHAN(variant->elem_size, variant->capacity, 0);
	self->buf = malloc((size_t)variant->elem_size * (variant->capacity + 1));
	ASSERT_NE(NULL, self->buf);
}

FIXTURE_TEARDOWN(geom)
{
	free(self->buf);
	close(self->ch);
}

TEST_F(geom, fifo_order_through_wraparound)
{
	const uint32_t es = variant->elem_size, cap = variant->capacity;
	const uint32_t batches[] = { 1, 2, cap, cap - 1, cap / 2 + 1, 1, cap };
	uint64_t sent = 0, received = 0;

	for (int round = 0; round < 3; round++) {
		for (size_t b = 0; b < ARRAY_SIZE(batches); b++) {
			uint32_t k = batches[b] < 1 ? 1 : batches[b] > cap ? cap : batches[b];

			for (uint32_t i = 0; i < k; i++) {
				kt_fill(self->buf, es, sent);
				ASSERT_EQ(0, kchan_try_send(self->ch, self->buf));
				sent++;
			}
			ASSERT_EQ(k, kchan_len(self->ch));
			for (uint32_t i = 0; i < k; i++) {
				memset(self->buf, 0, es);
				ASSERT_EQ(1, kchan_try_recv(self->ch, self->buf));
				ASSERT_TRUE(kt_check(self->buf, es, received))
					TH_LOG("element %llu", (unsigned long long)received);
				received++;
			}
		}
	}
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(geom, full_at_capacity_then_would_block)
{
	const uint32_t es = variant->elem_size, cap = variant->capacity;

	for (uint32_t i = 0; i < cap; i++) {
		kt_fill(self->buf, es, i);
		ASSERT_EQ(0, kchan_try_send(self->ch, self->buf));
	}
	EXPECT_EQ(cap, kchan_len(self->ch));
	EXPECT_EQ(-EAGAIN, kchan_try_send(self->ch, self->buf));
	EXPECT_EQ(-ETIMEDOUT, kchan_send_timeout(self->ch, self->buf, 0));
	for (uint32_t i = 0; i < cap; i++) {
		ASSERT_EQ(1, kchan_try_recv(self->ch, self->buf));
		ASSERT_TRUE(kt_check(self->buf, es, i));
	}
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, self->buf));
}

TEST_F(geom, batches_round_trip_whole_ring_across_the_wrap)
{
	const uint32_t es = variant->elem_size, cap = variant->capacity;

	/* Move head and tail off slot 0 so that the batch wraps. */
	kt_fill(self->buf, es, 12345);
	ASSERT_EQ(0, kchan_send(self->ch, self->buf));
	ASSERT_EQ(1, kchan_recv(self->ch, self->buf));

	for (uint32_t i = 0; i <= cap; i++)
		kt_fill(self->buf + (size_t)i * es, es, i);
	ASSERT_EQ(cap, kchan_send_many(self->ch, self->buf, cap + 1));
	memset(self->buf, 0, (size_t)es * (cap + 1));
	ASSERT_EQ(cap, kchan_recv_many(self->ch, self->buf, cap + 1));
	for (uint32_t i = 0; i < cap; i++) {
		ASSERT_TRUE(kt_check(self->buf + (size_t)i * es, es, i)) TH_LOG("element %u", i);
	}
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_HARNESS_MAIN
