// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: unbuffered channels (capacity 0) and direct handoff.
 *
 * An unbuffered send is a rendezvous: it completes only once a receiver
 * has taken its element, and a receive takes the element straight from a
 * blocked sender.  Blocked senders and blocked receivers are each served
 * in the order they blocked.  try_/timeout forms, poll, close, signals and
 * read/write all follow from that.
 *
 * On buffered channels the same handoffs keep Go's FIFO order: a send that
 * finds a blocked receiver gives it the element without touching the ring,
 * and a receive from a full ring moves the first blocked sender's element
 * into the freed slot.
 *
 * Every "is it blocked yet" question is answered by KCHAN_IOC_INFO's
 * sendq/recvq counters, never by sleeping.
 */
#include "kchan_test_util.h"
#include "kselftest_harness.h"

FIXTURE(unbuf) {
	int ch;
};

FIXTURE_SETUP(unbuf)
{
	self->ch = KT_MAKE_CHAN(sizeof(uint64_t), 0, 0);
	signal(SIGPIPE, SIG_IGN);
}

FIXTURE_TEARDOWN(unbuf)
{
	close(self->ch);
}

static const long poll_nrs[] = { SYS_poll, SYS_ppoll };

/* poll() once without waiting: revents, or -errno. */
static int poll_now(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int ret = poll(&pfd, 1, 0);

	return ret < 0 ? -errno : pfd.revents;
}

static atomic_int handled;

static void on_sigusr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&handled, 1);
}

/* SIGUSR1 handler without SA_RESTART: a blocked call fails with EINTR. */
static int install_eintr_handler(void)
{
	struct sigaction sa = { .sa_handler = on_sigusr1 };

	sigemptyset(&sa.sa_mask);
	atomic_store(&handled, 0);
	return sigaction(SIGUSR1, &sa, NULL) ? -errno : 0;
}

TEST_F(unbuf, create_capacity_zero_has_cap_0_len_0)
{
	struct kchan_info info;

	EXPECT_EQ(0, kchan_cap(self->ch));
	EXPECT_EQ(0, kchan_len(self->ch));
	EXPECT_EQ((int)sizeof(uint64_t), kchan_elem_size(self->ch));
	ASSERT_EQ(0, kt_info(self->ch, &info));
	EXPECT_EQ(0, info.capacity);
	EXPECT_EQ(0, info.len);
	EXPECT_EQ(0, info.state);
	EXPECT_EQ(0, info.sendq);
	EXPECT_EQ(0, info.recvq);
}

TEST(create_capacity_zero_through_raw_abi)
{
	int ch = kt_create(16, 0, 0);

	ASSERT_LE(0, ch);
	EXPECT_EQ(0, kchan_cap(ch));
	EXPECT_EQ(0, kchan_len(ch));
	close(ch);
}

TEST_F(unbuf, try_send_without_receiver_eagain)
{
	uint64_t v = 1;

	EXPECT_EQ(-EAGAIN, kchan_try_send(self->ch, &v));
	EXPECT_EQ(0, kchan_len(self->ch));
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 0));
}

TEST_F(unbuf, try_recv_without_sender_eagain_buffer_untouched)
{
	uint64_t got = KT_SENTINEL_U64;

	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &got));
	EXPECT_EQ(KT_SENTINEL_U64, got);
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 0));
}

TEST_F(unbuf, o_nonblock_descriptor_send_and_recv_eagain)
{
	int ch = KT_MAKE_CHAN(sizeof(uint64_t), 0, KCHAN_NONBLOCK);
	uint64_t v = 1;

	EXPECT_EQ(-EAGAIN, kchan_send(ch, &v));
	EXPECT_EQ(-EAGAIN, kchan_recv(ch, &v));
	EXPECT_EQ(0, kt_wait_queues(ch, 0, 0));
	close(ch);
}

TEST_F(unbuf, send_timeout_without_receiver_etimedout_element_never_delivered)
{
	const int64_t timeout = 50 * KT_MSEC;
	uint64_t v = 11, got = KT_SENTINEL_U64;
	struct kt_worker s;
	int64_t start;

	start = kt_now_ns();
	EXPECT_EQ(-ETIMEDOUT, kchan_send_timeout(self->ch, &v, timeout));
	EXPECT_LE(timeout, kt_now_ns() - start);
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 0));

	/* Nobody can take the timed-out element. */
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &got));
	EXPECT_EQ(KT_SENTINEL_U64, got);

	/* The next receive gets the next sender's element, not the old one. */
	ASSERT_EQ(0, kt_start_send_u64(&s, self->ch, 12));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	ASSERT_EQ(1, kchan_recv(self->ch, &got));
	EXPECT_EQ(12, got);
	ASSERT_EQ(0, kt_worker_join(&s));
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &got));
}

TEST_F(unbuf, send_timeout_zero_without_receiver_etimedout)
{
	uint64_t v = 1, got;

	EXPECT_EQ(-ETIMEDOUT, kchan_send_timeout(self->ch, &v, 0));
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &got));
}

TEST_F(unbuf, recv_timeout_without_sender_etimedout_leaves_no_stale_receiver)
{
	const int64_t timeout = 50 * KT_MSEC;
	uint64_t got = KT_SENTINEL_U64, v = 3;
	int64_t start;

	start = kt_now_ns();
	EXPECT_EQ(-ETIMEDOUT, kchan_recv_timeout(self->ch, &got, timeout));
	EXPECT_LE(timeout, kt_now_ns() - start);
	EXPECT_EQ(KT_SENTINEL_U64, got);
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 0));
	/* No receiver is left behind to take this. */
	EXPECT_EQ(-EAGAIN, kchan_try_send(self->ch, &v));
}

/* A sender that stamps a shared clock before and after its send. */
struct stamped_sender {
	int ch;
	uint64_t v;
	atomic_int *clock;
	int before, after;
	int ret;
};

static void *stamped_send_main(void *arg)
{
	struct stamped_sender *s = arg;

	s->before = atomic_fetch_add(s->clock, 1);
	s->ret = kchan_send(s->ch, &s->v);
	s->after = atomic_fetch_add(s->clock, 1);
	return NULL;
}

TEST_F(unbuf, send_blocks_until_a_receiver_takes_the_element)
{
	struct stamped_sender s = { .ch = self->ch, .v = 77 };
	atomic_int clock = 0;
	struct kchan_info info;
	uint64_t got = 0;
	pthread_t t;
	int recv_start;

	s.clock = &clock;
	ASSERT_EQ(0, pthread_create(&t, NULL, stamped_send_main, &s));
	/* The sender is blocked: queued, nothing in the (absent) ring. */
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	ASSERT_EQ(0, kt_info(self->ch, &info));
	EXPECT_EQ(0, info.len);

	recv_start = atomic_fetch_add(&clock, 1);
	ASSERT_EQ(1, kchan_recv(self->ch, &got));
	atomic_fetch_add(&clock, 1);	/* receive finished */
	ASSERT_EQ(0, pthread_join(t, NULL));

	EXPECT_EQ(77, got);
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(0, s.before);
	EXPECT_EQ(1, recv_start);
	/* The send returned only after the receive had started. */
	EXPECT_LT(recv_start, s.after);
	EXPECT_TRUE(s.after == 2 || s.after == 3);
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 0));
}

TEST_F(unbuf, recv_takes_element_directly_from_blocked_sender)
{
	struct kt_worker s;
	uint64_t got = KT_SENTINEL_U64;

	ASSERT_EQ(0, kt_start_send_u64(&s, self->ch, 0x1234));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	EXPECT_EQ(0, kchan_len(self->ch));
	EXPECT_FALSE(atomic_load(&s.done));

	ASSERT_EQ(1, kchan_recv(self->ch, &got));
	EXPECT_EQ(0x1234, got);
	ASSERT_EQ(0, kt_worker_join(&s));
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 0));
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(unbuf, send_hands_element_to_blocked_receiver)
{
	struct kt_worker r;

	ASSERT_EQ(0, kt_start_recv(&r, self->ch));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	EXPECT_EQ(0, kt_send_u64(self->ch, 0x4321));
	EXPECT_EQ(0, kchan_len(self->ch));
	ASSERT_EQ(0, kt_worker_join(&r));
	EXPECT_EQ(1, r.ret);
	EXPECT_EQ(0x4321, kt_worker_u64(&r));
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 0));
}

TEST_F(unbuf, blocked_senders_served_in_the_order_they_blocked)
{
	struct kt_worker s[3];
	uint64_t got;

	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, kt_start_send_u64(&s[i], self->ch, 100 + i));
		ASSERT_EQ(0, kt_wait_queues(self->ch, i + 1, 0));
	}
	for (int i = 0; i < 3; i++) {
		got = 0;
		ASSERT_EQ(1, kchan_recv(self->ch, &got));
		EXPECT_EQ(100 + i, got);
		/* Exactly the matching sender was released. */
		ASSERT_EQ(0, kt_worker_join(&s[i]));
		EXPECT_EQ(0, s[i].ret);
		ASSERT_EQ(0, kt_wait_queues(self->ch, 2 - i, 0));
		for (int j = i + 1; j < 3; j++)
			EXPECT_FALSE(atomic_load(&s[j].done));
	}
}

TEST_F(unbuf, blocked_receivers_served_in_the_order_they_blocked)
{
	struct kt_worker r[3];

	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, kt_start_recv(&r[i], self->ch));
		ASSERT_EQ(0, kt_wait_queues(self->ch, 0, i + 1));
	}
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, kt_send_u64(self->ch, 200 + i));
		ASSERT_EQ(0, kt_worker_join(&r[i]));
		EXPECT_EQ(1, r[i].ret);
		EXPECT_EQ(200 + i, kt_worker_u64(&r[i]));
		ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 2 - i));
		for (int j = i + 1; j < 3; j++)
			EXPECT_FALSE(atomic_load(&r[j].done));
	}
}

TEST_F(unbuf, try_send_succeeds_when_a_receiver_is_blocked)
{
	struct kt_worker r;
	uint64_t v = 5;

	ASSERT_EQ(0, kt_start_recv(&r, self->ch));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	EXPECT_EQ(0, kchan_try_send(self->ch, &v));
	ASSERT_EQ(0, kt_worker_join(&r));
	EXPECT_EQ(1, r.ret);
	EXPECT_EQ(5, kt_worker_u64(&r));
	/* And again fails once nobody waits. */
	EXPECT_EQ(-EAGAIN, kchan_try_send(self->ch, &v));
}

TEST_F(unbuf, try_recv_succeeds_when_a_sender_is_blocked)
{
	struct kt_worker s;
	uint64_t got = 0;

	ASSERT_EQ(0, kt_start_send_u64(&s, self->ch, 6));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	EXPECT_EQ(1, kchan_try_recv(self->ch, &got));
	EXPECT_EQ(6, got);
	ASSERT_EQ(0, kt_worker_join(&s));
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &got));
}

TEST_F(unbuf, send_timeout_completes_when_a_receiver_arrives)
{
	struct kt_worker s;
	uint64_t got = 0;

	kt_worker_init(&s, self->ch, KT_SEND_TIMEOUT);
	s.timeout_ns = 60 * KT_NSEC;
	memcpy(s.elem, &(uint64_t){ 9 }, sizeof(uint64_t));
	ASSERT_EQ(0, kt_worker_start(&s));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	ASSERT_EQ(1, kchan_recv(self->ch, &got));
	EXPECT_EQ(9, got);
	ASSERT_EQ(0, kt_worker_join(&s));
	EXPECT_EQ(0, s.ret);
}

TEST_F(unbuf, poll_idle_neither_readable_nor_writable)
{
	EXPECT_EQ(0, poll_now(self->ch, POLLIN | POLLOUT));
}

TEST_F(unbuf, poll_readable_not_writable_while_a_sender_is_blocked)
{
	struct kt_worker s;
	uint64_t got;

	ASSERT_EQ(0, kt_start_send_u64(&s, self->ch, 1));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	EXPECT_EQ(POLLIN, poll_now(self->ch, POLLIN | POLLOUT));
	ASSERT_EQ(1, kchan_recv(self->ch, &got));
	ASSERT_EQ(0, kt_worker_join(&s));
	EXPECT_EQ(0, poll_now(self->ch, POLLIN | POLLOUT));
}

TEST_F(unbuf, poll_writable_not_readable_while_a_receiver_is_blocked)
{
	struct kt_worker r;

	ASSERT_EQ(0, kt_start_recv(&r, self->ch));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	EXPECT_EQ(POLLOUT, poll_now(self->ch, POLLIN | POLLOUT));
	ASSERT_EQ(0, kt_send_u64(self->ch, 1));
	ASSERT_EQ(0, kt_worker_join(&r));
	EXPECT_EQ(0, poll_now(self->ch, POLLIN | POLLOUT));
}

TEST_F(unbuf, poll_reports_pollhup_and_readable_after_close)
{
	int revents;

	ASSERT_EQ(0, kchan_close(self->ch));
	revents = poll_now(self->ch, POLLIN | POLLOUT);
	EXPECT_EQ(POLLIN | POLLHUP, revents & (POLLIN | POLLHUP));
}

TEST_F(unbuf, blocked_poll_woken_when_a_sender_blocks)
{
	struct kt_worker p, s;
	uint64_t got;

	kt_worker_init(&p, self->ch, KT_POLL);
	p.events = POLLIN;
	ASSERT_EQ(0, kt_worker_start(&p));
	ASSERT_EQ(0, kt_wait_in_syscall(atomic_load(&p.tid), poll_nrs, 2));
	EXPECT_FALSE(atomic_load(&p.done));

	ASSERT_EQ(0, kt_start_send_u64(&s, self->ch, 1));
	ASSERT_EQ(0, kt_worker_join(&p));
	EXPECT_EQ(POLLIN, p.ret);
	ASSERT_EQ(1, kchan_recv(self->ch, &got));
	ASSERT_EQ(0, kt_worker_join(&s));
}

TEST_F(unbuf, blocked_poll_woken_when_a_receiver_blocks)
{
	struct kt_worker p, r;

	kt_worker_init(&p, self->ch, KT_POLL);
	p.events = POLLOUT;
	ASSERT_EQ(0, kt_worker_start(&p));
	ASSERT_EQ(0, kt_wait_in_syscall(atomic_load(&p.tid), poll_nrs, 2));
	EXPECT_FALSE(atomic_load(&p.done));

	ASSERT_EQ(0, kt_start_recv(&r, self->ch));
	ASSERT_EQ(0, kt_worker_join(&p));
	EXPECT_EQ(POLLOUT, p.ret);
	ASSERT_EQ(0, kt_send_u64(self->ch, 1));
	ASSERT_EQ(0, kt_worker_join(&r));
}

TEST_F(unbuf, close_fails_blocked_sender_with_epipe_element_not_delivered)
{
	struct kt_worker s;
	uint64_t got = KT_SENTINEL_U64;

	ASSERT_EQ(0, kt_start_send_u64(&s, self->ch, 1));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	ASSERT_EQ(0, kchan_close(self->ch));
	ASSERT_EQ(0, kt_worker_join(&s));
	EXPECT_EQ(-EPIPE, s.ret);
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 0));
	/* Closed and drained: the element was dropped, not delivered. */
	EXPECT_EQ(0, kchan_recv(self->ch, &got));
	EXPECT_EQ(KT_SENTINEL_U64, got);
}

TEST_F(unbuf, close_wakes_blocked_receiver_with_closed)
{
	struct kt_worker r;

	ASSERT_EQ(0, kt_start_recv(&r, self->ch));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	ASSERT_EQ(0, kchan_close(self->ch));
	ASSERT_EQ(0, kt_worker_join(&r));
	EXPECT_EQ(0, r.ret);
	EXPECT_EQ(KT_SENTINEL_U64, kt_worker_u64(&r));
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 0));
}

TEST_F(unbuf, close_wakes_every_blocked_sender)
{
	struct kt_worker s[3];

	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, kt_start_send_u64(&s[i], self->ch, i));
		ASSERT_EQ(0, kt_wait_queues(self->ch, i + 1, 0));
	}
	ASSERT_EQ(0, kchan_close(self->ch));
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, kt_worker_join(&s[i]));
		EXPECT_EQ(-EPIPE, s[i].ret);
	}
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 0));
}

TEST_F(unbuf, send_after_close_epipe_recv_after_close_closed)
{
	uint64_t v = 1, got = KT_SENTINEL_U64;

	ASSERT_EQ(0, kchan_close(self->ch));
	EXPECT_EQ(-EPIPE, kchan_send(self->ch, &v));
	EXPECT_EQ(-EPIPE, kchan_try_send(self->ch, &v));
	EXPECT_EQ(0, kchan_recv(self->ch, &got));
	EXPECT_EQ(0, kchan_try_recv(self->ch, &got));
	EXPECT_EQ(KT_SENTINEL_U64, got);
}

TEST_F(unbuf, signal_interrupts_blocked_send_eintr_element_not_delivered)
{
	struct kt_worker s;
	uint64_t got = KT_SENTINEL_U64;

	ASSERT_EQ(0, install_eintr_handler());
	ASSERT_EQ(0, kt_start_send_u64(&s, self->ch, 1));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	ASSERT_EQ(0, pthread_kill(s.thread, SIGUSR1));
	ASSERT_EQ(0, kt_worker_join(&s));
	EXPECT_EQ(1, atomic_load(&handled));
	EXPECT_EQ(-EINTR, s.ret);
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 0));
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &got));
	EXPECT_EQ(KT_SENTINEL_U64, got);
}

TEST_F(unbuf, signal_interrupts_blocked_recv_eintr_no_stale_receiver)
{
	struct kt_worker r;
	uint64_t v = 1;

	ASSERT_EQ(0, install_eintr_handler());
	ASSERT_EQ(0, kt_start_recv(&r, self->ch));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	ASSERT_EQ(0, pthread_kill(r.thread, SIGUSR1));
	ASSERT_EQ(0, kt_worker_join(&r));
	EXPECT_EQ(-EINTR, r.ret);
	EXPECT_EQ(KT_SENTINEL_U64, kt_worker_u64(&r));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 0));
	EXPECT_EQ(-EAGAIN, kchan_try_send(self->ch, &v));
}

TEST_F(unbuf, write_blocks_until_a_reader_takes_the_element)
{
	struct kt_worker w;
	uint64_t got = 0;

	kt_worker_init(&w, self->ch, KT_WRITE);
	memcpy(w.elem, &(uint64_t){ 0xfeed }, sizeof(uint64_t));
	w.n = sizeof(uint64_t);
	ASSERT_EQ(0, kt_worker_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	EXPECT_FALSE(atomic_load(&w.done));

	ASSERT_EQ((ssize_t)sizeof(got), read(self->ch, &got, sizeof(got)));
	EXPECT_EQ(0xfeed, got);
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ((long)sizeof(uint64_t), w.ret);
}

TEST_F(unbuf, read_blocks_until_a_writer_arrives)
{
	struct kt_worker r;
	uint64_t v = 0xbeef;

	kt_worker_init(&r, self->ch, KT_READ);
	memset(r.elem, 0xa5, sizeof(r.elem));
	r.n = sizeof(uint64_t);
	ASSERT_EQ(0, kt_worker_start(&r));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	EXPECT_FALSE(atomic_load(&r.done));

	ASSERT_EQ((ssize_t)sizeof(v), write(self->ch, &v, sizeof(v)));
	ASSERT_EQ(0, kt_worker_join(&r));
	EXPECT_EQ((long)sizeof(uint64_t), r.ret);
	EXPECT_EQ(0xbeef, kt_worker_u64(&r));
}

TEST_F(unbuf, write_of_two_elements_returns_once_the_first_is_taken)
{
	uint64_t elems[2] = { 1, 2 }, got[2] = { KT_SENTINEL_U64, KT_SENTINEL_U64 };
	struct kt_worker w;

	kt_worker_init(&w, self->ch, KT_WRITE);
	memcpy(w.elem, elems, sizeof(elems));
	w.n = sizeof(elems);
	ASSERT_EQ(0, kt_worker_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));

	/* The reader takes the blocked writer's first element only. */
	ASSERT_EQ((ssize_t)sizeof(uint64_t), read(self->ch, got, sizeof(got)));
	EXPECT_EQ(1, got[0]);
	EXPECT_EQ(KT_SENTINEL_U64, got[1]);
	/* Nobody waits for the second: the writer returns what moved. */
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ((long)sizeof(uint64_t), w.ret);
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 0));
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, got));
}

TEST_F(unbuf, o_nonblock_write_and_read_eagain)
{
	int ch = KT_MAKE_CHAN(sizeof(uint64_t), 0, KCHAN_NONBLOCK);
	uint64_t v = 1;

	EXPECT_EQ(-1, write(ch, &v, sizeof(v)));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, read(ch, &v, sizeof(v)));
	EXPECT_EQ(EAGAIN, errno);
	close(ch);
}

TEST_F(unbuf, read_returns_zero_once_closed)
{
	uint64_t got;

	ASSERT_EQ(0, kchan_close(self->ch));
	EXPECT_EQ(0, read(self->ch, &got, sizeof(got)));
	EXPECT_EQ(-1, write(self->ch, &got, sizeof(got)));
	EXPECT_EQ(EPIPE, errno);
}

/* A thread that sends @n consecutive values starting at 1. */
struct seq_sender {
	int ch;
	uint64_t n;
	int ret;
};

static void *seq_send_main(void *arg)
{
	struct seq_sender *s = arg;

	s->ret = 0;
	for (uint64_t v = 1; v <= s->n; v++) {
		int ret = kchan_send_timeout(s->ch, &v, 10 * KT_NSEC);

		if (ret) {
			s->ret = ret;
			break;
		}
	}
	return NULL;
}

TEST_F(unbuf, many_rendezvous_keep_send_order)
{
	struct seq_sender s = { .ch = self->ch, .n = 2000 };
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, seq_send_main, &s));
	for (uint64_t v = 1; v <= s.n; v++) {
		uint64_t got = 0;

		ASSERT_EQ(1, kchan_recv_timeout(self->ch, &got, 10 * KT_NSEC));
		ASSERT_EQ(v, got);
	}
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(0, s.ret);
	EXPECT_EQ(0, kchan_len(self->ch));
}

/*
 * Buffered channels: the handoffs that keep Go's order.
 */
#define HCAP	2

KT_U64_CHAN_FIXTURE(handoff, HCAP)

TEST_F(handoff, send_to_blocked_receiver_bypasses_the_ring)
{
	struct kt_worker r;

	ASSERT_EQ(0, kt_start_recv(&r, self->ch));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	ASSERT_EQ(0, kt_send_u64(self->ch, 0xabc));
	/* Handed over under the lock: the ring never held it. */
	EXPECT_EQ(0, kchan_len(self->ch));
	EXPECT_EQ(0, kt_wait_queues(self->ch, 0, 0));
	ASSERT_EQ(0, kt_worker_join(&r));
	EXPECT_EQ(1, r.ret);
	EXPECT_EQ(0xabc, kt_worker_u64(&r));
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(handoff, recv_from_full_ring_moves_first_blocked_sender_into_ring)
{
	struct kchan_info info;
	struct kt_worker s;
	uint64_t got;

	ASSERT_EQ(0, kt_send_u64(self->ch, 1));
	ASSERT_EQ(0, kt_send_u64(self->ch, 2));
	ASSERT_EQ(0, kt_start_send_u64(&s, self->ch, 3));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));

	ASSERT_EQ(1, kchan_recv(self->ch, &got));
	EXPECT_EQ(1, got);
	/* The blocked sender's element took the freed slot at once. */
	ASSERT_EQ(0, kt_info(self->ch, &info));
	EXPECT_EQ(HCAP, info.len);
	EXPECT_EQ(0, info.sendq);
	ASSERT_EQ(0, kt_worker_join(&s));
	EXPECT_EQ(0, s.ret);

	for (uint64_t v = 2; v <= 3; v++) {
		ASSERT_EQ(1, kchan_try_recv(self->ch, &got));
		EXPECT_EQ(v, got);
	}
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &got));
}

TEST_F(handoff, blocked_senders_enter_the_ring_in_the_order_they_blocked)
{
	struct kchan_info info;
	struct kt_worker s[3];
	uint64_t got;

	ASSERT_EQ(0, kt_send_u64(self->ch, 1));
	ASSERT_EQ(0, kt_send_u64(self->ch, 2));
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, kt_start_send_u64(&s[i], self->ch, 3 + i));
		ASSERT_EQ(0, kt_wait_queues(self->ch, i + 1, 0));
	}
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(1, kchan_recv(self->ch, &got));
		EXPECT_EQ(1 + i, got);
		ASSERT_EQ(0, kt_info(self->ch, &info));
		EXPECT_EQ(HCAP, info.len);
		EXPECT_EQ(2 - i, info.sendq);
		ASSERT_EQ(0, kt_worker_join(&s[i]));
		EXPECT_EQ(0, s[i].ret);
	}
	for (uint64_t v = 4; v <= 5; v++) {
		ASSERT_EQ(1, kchan_try_recv(self->ch, &got));
		EXPECT_EQ(v, got);
	}
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(handoff, close_with_full_ring_fails_blocked_sender_ring_still_drains)
{
	struct kt_worker s;
	uint64_t got = KT_SENTINEL_U64;

	ASSERT_EQ(0, kt_send_u64(self->ch, 1));
	ASSERT_EQ(0, kt_send_u64(self->ch, 2));
	ASSERT_EQ(0, kt_start_send_u64(&s, self->ch, 3));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	ASSERT_EQ(0, kchan_close(self->ch));
	ASSERT_EQ(0, kt_worker_join(&s));
	EXPECT_EQ(-EPIPE, s.ret);
	for (uint64_t v = 1; v <= 2; v++) {
		ASSERT_EQ(1, kchan_recv(self->ch, &got));
		EXPECT_EQ(v, got);
	}
	got = KT_SENTINEL_U64;
	EXPECT_EQ(0, kchan_recv(self->ch, &got));
	EXPECT_EQ(KT_SENTINEL_U64, got);
}

TEST_HARNESS_MAIN
