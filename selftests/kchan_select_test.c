// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: select (kchan_select() and KCHAN_IOC_SELECT).
 *
 * One test per row of the contract's select semantics: a ready receive or
 * send case is performed, the default case (timeout 0) and timeouts, -1
 * cases (Go's nil channel) and the empty select, closed channels on the
 * receive and the send side, the case limit, the same channel in several
 * cases, and the descriptor errors.  Then the raw struct kchan_select
 * validation, fairness among ready cases, "only the chosen case happens",
 * blocked selects woken by senders, receivers, close, timeout and
 * signals, and a blocked select that must take exactly one of two
 * arriving peers.  Last, the biased select (kchan_select_biased(),
 * KCHAN_SELECT_BIASED): the first ready case in array order always wins,
 * cases that are not ready (-1, nothing to receive, no room) are skipped,
 * and one that has to block proceeds with whichever case becomes ready.
 *
 * A blocked select queues one waiter per case, so "it is blocked" is seen
 * in KCHAN_IOC_INFO's sendq/recvq counters of each of its channels.
 */
#include "kchan_test_util.h"
#include "kselftest_harness.h"

#define MAX_WCASES	8

/*
 * A thread that runs one kchan_select() over its own cases; buffers of
 * receive cases start out as KT_SENTINEL_U64.
 */
struct sel_worker {
	struct kchan_case cases[MAX_WCASES];
	uint64_t elems[MAX_WCASES];
	size_t n;
	int64_t timeout_ns;
	bool biased;		/* kchan_select_biased() */

	pthread_t thread;
	_Atomic pid_t tid;
	_Atomic int done;
	int ret;
	int64_t elapsed_ns;
};

static void sel_init(struct sel_worker *w, int64_t timeout_ns)
{
	memset(w, 0, sizeof(*w));
	w->timeout_ns = timeout_ns;
}

/* Add a case; a send case sends @v, a receive case gets the sentinel. */
static void sel_add(struct sel_worker *w, int ch, int op, uint64_t v)
{
	size_t i = w->n++;

	w->elems[i] = op == KCHAN_CASE_SEND ? v : KT_SENTINEL_U64;
	w->cases[i] = (struct kchan_case){ .ch = ch, .op = op, .elem = &w->elems[i],
					   .closed = -1 };
}

static void *sel_main(void *arg)
{
	struct sel_worker *w = arg;
	int64_t start;

	atomic_store(&w->tid, (pid_t)syscall(SYS_gettid));
	start = kt_now_ns();
	w->ret = w->biased ? kchan_select_biased(w->cases, w->n, w->timeout_ns) :
			     kchan_select(w->cases, w->n, w->timeout_ns);
	w->elapsed_ns = kt_now_ns() - start;
	atomic_store(&w->done, 1);
	return NULL;
}

static int sel_start(struct sel_worker *w)
{
	return kt_thread_start(&w->thread, sel_main, w, &w->tid);
}

static int sel_join(struct sel_worker *w)
{
	return kt_thread_join(w->thread);
}


/* poll() once without waiting: revents, or -errno. */
static int poll_now(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int ret = poll(&pfd, 1, 0);

	return ret < 0 ? -errno : pfd.revents;
}

static struct kchan_case recv_case(int ch, uint64_t *buf)
{
	*buf = KT_SENTINEL_U64;
	return (struct kchan_case){ .ch = ch, .op = KCHAN_CASE_RECV, .elem = buf, .closed = -1 };
}

static struct kchan_case send_case(int ch, uint64_t *v)
{
	return (struct kchan_case){ .ch = ch, .op = KCHAN_CASE_SEND, .elem = v, .closed = -1 };
}

/*
 * Two buffered channels (capacity CAP) and two unbuffered ones, all of
 * uint64_t elements.
 */
#define CAP	4

FIXTURE(sel) {
	int a, b;	/* buffered */
	int u, v;	/* unbuffered */
};

FIXTURE_SETUP(sel)
{
	self->a = KT_MAKE_CHAN(sizeof(uint64_t), CAP, 0);
	self->b = KT_MAKE_CHAN(sizeof(uint64_t), CAP, 0);
	self->u = KT_MAKE_CHAN(sizeof(uint64_t), 0, 0);
	self->v = KT_MAKE_CHAN(sizeof(uint64_t), 0, 0);
	signal(SIGPIPE, SIG_IGN);
}

FIXTURE_TEARDOWN(sel)
{
	close(self->a);
	close(self->b);
	close(self->u);
	close(self->v);
}

/* Fill @ch to capacity with @first, @first + 1, ... */
#define FILL(ch, first) do {						\
	for (uint64_t __v = (first); __v < (uint64_t)(first) + CAP; __v++) {	\
		ASSERT_EQ(0, kchan_try_send(ch, &__v));			\
	}								\
} while (0)

/*
 * Contract rows.
 */
TEST_F(sel, picks_the_ready_recv_case)
{
	uint64_t ba, bb;
	struct kchan_case c[2] = { recv_case(self->a, &ba), recv_case(self->b, &bb) };

	ASSERT_EQ(0, kt_send_u64(self->b, 42));
	EXPECT_EQ(1, kchan_select(c, 2, 0));
	EXPECT_EQ(42, bb);
	EXPECT_EQ(0, c[1].closed);
	EXPECT_EQ(KT_SENTINEL_U64, ba);
	EXPECT_EQ(0, kchan_len(self->a));
	EXPECT_EQ(0, kchan_len(self->b));
}

TEST_F(sel, picks_the_ready_send_case)
{
	uint64_t va = 1000, vb = 2000, got;
	struct kchan_case c[2] = { send_case(self->a, &va), send_case(self->b, &vb) };

	FILL(self->a, 1);
	EXPECT_EQ(1, kchan_select(c, 2, 0));
	EXPECT_EQ(CAP, kchan_len(self->a));
	ASSERT_EQ(1, kchan_len(self->b));
	ASSERT_EQ(1, kchan_try_recv(self->b, &got));
	EXPECT_EQ(2000, got);
	/* a still holds exactly what it held. */
	for (uint64_t i = 1; i <= CAP; i++) {
		ASSERT_EQ(1, kchan_try_recv(self->a, &got));
		EXPECT_EQ(i, got);
	}
}

TEST_F(sel, picks_the_ready_case_among_recv_and_send_cases)
{
	uint64_t ba, vb = 7;
	struct kchan_case c[2] = { recv_case(self->a, &ba), send_case(self->b, &vb) };

	FILL(self->b, 1);
	ASSERT_EQ(0, kt_send_u64(self->a, 9));
	EXPECT_EQ(0, kchan_select(c, 2, 0));
	EXPECT_EQ(9, ba);
	EXPECT_EQ(CAP, kchan_len(self->b));
}

TEST_F(sel, default_with_nothing_ready_eagain_nothing_consumed)
{
	uint64_t ba, vb = 7, bu;
	struct kchan_case c[3] = {
		recv_case(self->a, &ba), send_case(self->b, &vb), recv_case(self->u, &bu),
	};

	FILL(self->b, 1);
	EXPECT_EQ(-EAGAIN, kchan_select(c, 3, 0));
	EXPECT_EQ(KT_SENTINEL_U64, ba);
	EXPECT_EQ(KT_SENTINEL_U64, bu);
	EXPECT_EQ(0, kchan_len(self->a));
	EXPECT_EQ(CAP, kchan_len(self->b));
	EXPECT_EQ(0, kt_wait_queues(self->a, 0, 0));
	EXPECT_EQ(0, kt_wait_queues(self->b, 0, 0));
	EXPECT_EQ(0, kt_wait_queues(self->u, 0, 0));
}

TEST_F(sel, timeout_with_nothing_ready_etimedout_after_the_timeout)
{
	const int64_t timeout = 50 * KT_MSEC;
	uint64_t ba, vu = 1;
	struct kchan_case c[2] = { recv_case(self->a, &ba), send_case(self->u, &vu) };
	int64_t start;

	start = kt_now_ns();
	EXPECT_EQ(-ETIMEDOUT, kchan_select(c, 2, timeout));
	EXPECT_LE(timeout, kt_now_ns() - start);
	EXPECT_EQ(KT_SENTINEL_U64, ba);
	/* Its waiters are gone: nothing left queued, nothing delivered. */
	EXPECT_EQ(0, kt_wait_queues(self->a, 0, 0));
	EXPECT_EQ(0, kt_wait_queues(self->u, 0, 0));
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->u, &ba));
	EXPECT_EQ(0, kt_send_u64(self->a, 5));
	EXPECT_EQ(1, kchan_len(self->a));
}

TEST(nil_cases_only_default_eagain)
{
	uint64_t buf = KT_SENTINEL_U64;
	struct kchan_case c[2] = {
		{ .ch = -1, .op = KCHAN_CASE_RECV, .elem = &buf },
		{ .ch = -1, .op = KCHAN_CASE_SEND, .elem = &buf },
	};

	EXPECT_EQ(-EAGAIN, kchan_select(c, 2, 0));
	EXPECT_EQ(KT_SENTINEL_U64, buf);
}

TEST(nil_cases_only_timeout_etimedout)
{
	const int64_t timeout = 20 * KT_MSEC;
	uint64_t buf = KT_SENTINEL_U64;
	struct kchan_case c[2] = {
		{ .ch = -1, .op = KCHAN_CASE_RECV, .elem = &buf },
		{ .ch = -1, .op = KCHAN_CASE_SEND, .elem = &buf },
	};
	int64_t start = kt_now_ns();

	EXPECT_EQ(-ETIMEDOUT, kchan_select(c, 2, timeout));
	EXPECT_LE(timeout, kt_now_ns() - start);
	EXPECT_EQ(KT_SENTINEL_U64, buf);
}

TEST_F(sel, nil_case_is_never_chosen_its_buffer_never_touched)
{
	uint64_t ba, nilbuf;
	struct kchan_case c[3];

	for (int round = 0; round < 50; round++) {
		c[0] = recv_case(-1, &nilbuf);
		c[1] = recv_case(self->a, &ba);
		/* A nil case's element pointer is never even looked at. */
		c[2] = (struct kchan_case){ .ch = -1, .op = KCHAN_CASE_SEND,
					    .elem = kt_noaccess_addr() };
		ASSERT_EQ(0, kt_send_u64(self->a, round));
		ASSERT_EQ(1, kchan_select(c, 3, 0));
		ASSERT_EQ(round, ba);
		ASSERT_EQ(KT_SENTINEL_U64, nilbuf);
	}
}

TEST(empty_select_default_eagain)
{
	EXPECT_EQ(-EAGAIN, kchan_select(NULL, 0, 0));
}

TEST(empty_select_timeout_etimedout)
{
	const int64_t timeout = 20 * KT_MSEC;
	int64_t start = kt_now_ns();

	EXPECT_EQ(-ETIMEDOUT, kchan_select(NULL, 0, timeout));
	EXPECT_LE(timeout, kt_now_ns() - start);
}

TEST_F(sel, recv_case_on_closed_drained_channel_ready_reports_closed)
{
	uint64_t ba, bb;
	struct kchan_case c[2] = { recv_case(self->a, &ba), recv_case(self->b, &bb) };

	ASSERT_EQ(0, kchan_close(self->a));
	EXPECT_EQ(0, kchan_select(c, 2, 0));
	EXPECT_EQ(1, c[0].closed);
	EXPECT_EQ(0, c[1].closed);
	EXPECT_EQ(KT_SENTINEL_U64, ba);
	EXPECT_EQ(KT_SENTINEL_U64, bb);
	/* Blocking too: closed is ready at once. */
	c[0] = recv_case(self->a, &ba);
	EXPECT_EQ(0, kchan_select(c, 2, -1));
	EXPECT_EQ(1, c[0].closed);
	EXPECT_EQ(KT_SENTINEL_U64, ba);
}

TEST_F(sel, recv_case_on_closed_unbuffered_channel_reports_closed)
{
	uint64_t bu;
	struct kchan_case c[1] = { recv_case(self->u, &bu) };

	ASSERT_EQ(0, kchan_close(self->u));
	EXPECT_EQ(0, kchan_select(c, 1, -1));
	EXPECT_EQ(1, c[0].closed);
	EXPECT_EQ(KT_SENTINEL_U64, bu);
}

TEST_F(sel, recv_case_on_closed_channel_gets_queued_elements_first)
{
	uint64_t ba;
	struct kchan_case c[1];

	ASSERT_EQ(0, kt_send_u64(self->a, 1));
	ASSERT_EQ(0, kt_send_u64(self->a, 2));
	ASSERT_EQ(0, kchan_close(self->a));
	for (uint64_t v = 1; v <= 2; v++) {
		c[0] = recv_case(self->a, &ba);
		ASSERT_EQ(0, kchan_select(c, 1, 0));
		EXPECT_EQ(0, c[0].closed);
		EXPECT_EQ(v, ba);
	}
	c[0] = recv_case(self->a, &ba);
	ASSERT_EQ(0, kchan_select(c, 1, 0));
	EXPECT_EQ(1, c[0].closed);
	EXPECT_EQ(KT_SENTINEL_U64, ba);
}

TEST_F(sel, send_case_on_closed_channel_epipe)
{
	uint64_t va = 1, bb;
	struct kchan_case c[2] = { send_case(self->a, &va), recv_case(self->b, &bb) };

	ASSERT_EQ(0, kchan_close(self->a));
	EXPECT_EQ(-EPIPE, kchan_select(c, 1, 0));
	EXPECT_EQ(-EPIPE, kchan_select(c, 1, -1));
	/* With another case that is not ready: still the closed send. */
	EXPECT_EQ(-EPIPE, kchan_select(c, 2, -1));
	EXPECT_EQ(KT_SENTINEL_U64, bb);
	EXPECT_EQ(0, kchan_len(self->a));
}

TEST_F(sel, more_than_128_cases_einval)
{
	struct kchan_case c[KCHAN_SELECT_MAX_CASES + 1];
	uint64_t buf;

	ASSERT_EQ(0, kt_send_u64(self->a, 1));
	for (int i = 0; i <= KCHAN_SELECT_MAX_CASES; i++)
		c[i] = recv_case(self->a, &buf);
	EXPECT_EQ(-EINVAL, kchan_select(c, KCHAN_SELECT_MAX_CASES + 1, 0));
	EXPECT_EQ(1, kchan_len(self->a));
	EXPECT_EQ(KT_SENTINEL_U64, buf);
}

struct big_sel {
	struct kchan_case *cases;
	size_t n;
	int ret;
};

static void *big_sel_main(void *arg)
{
	struct big_sel *bs = arg;

	bs->ret = kchan_select(bs->cases, bs->n, 10 * KT_NSEC);
	return NULL;
}

TEST(exactly_128_cases_on_128_channels_each_index_reachable)
{
	const int n = KCHAN_SELECT_MAX_CASES;
	struct kchan_case c[KCHAN_SELECT_MAX_CASES];
	uint64_t bufs[KCHAN_SELECT_MAX_CASES];
	bool seen[KCHAN_SELECT_MAX_CASES] = { false };
	int ch[KCHAN_SELECT_MAX_CASES];
	struct big_sel bs = { .cases = c, .n = n };
	pthread_t t;

	ASSERT_GE(KCHAN_SELECT_MAX_CASES, 64);
	for (int i = 0; i < n; i++) {
		ch[i] = KT_MAKE_CHAN(sizeof(uint64_t), 1, 0);
		c[i] = recv_case(ch[i], &bufs[i]);
	}

	/* Only the last is ready: found among 127 that are not. */
	ASSERT_EQ(0, kt_send_u64(ch[n - 1], 0x7f));
	EXPECT_EQ(n - 1, kchan_select(c, n, 0));
	EXPECT_EQ(0x7f, bufs[n - 1]);
	EXPECT_EQ(-EAGAIN, kchan_select(c, n, 0));

	/* All ready: n selects drain all n channels, one each. */
	for (int i = 0; i < n; i++)
		ASSERT_EQ(0, kt_send_u64(ch[i], 1000 + i));
	for (int k = 0; k < n; k++) {
		int ret = kchan_select(c, n, 0);

		ASSERT_LE(0, ret);
		ASSERT_GT(n, ret);
		ASSERT_FALSE(seen[ret]);
		seen[ret] = true;
		EXPECT_EQ(1000 + ret, bufs[ret]);
		EXPECT_EQ(0, c[ret].closed);
		EXPECT_EQ(0, kchan_len(ch[ret]));
	}
	EXPECT_EQ(-EAGAIN, kchan_select(c, n, 0));

	/* Blocked on 128 channels at once, woken by the 101st. */
	for (int i = 0; i < n; i++)
		bufs[i] = KT_SENTINEL_U64;
	ASSERT_EQ(0, pthread_create(&t, NULL, big_sel_main, &bs));
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(0, kt_wait_queues(ch[i], 0, 1));
	}
	ASSERT_EQ(0, kt_send_u64(ch[100], 4242));
	ASSERT_EQ(0, pthread_join(t, NULL));
	EXPECT_EQ(100, bs.ret);
	EXPECT_EQ(4242, bufs[100]);
	EXPECT_EQ(0, kchan_len(ch[100]));
	for (int i = 0; i < n; i++) {
		EXPECT_EQ(0, kt_wait_queues(ch[i], 0, 0));
		close(ch[i]);
	}
}

TEST_F(sel, exactly_128_cases_on_one_channel_works)
{
	struct kchan_case c[KCHAN_SELECT_MAX_CASES];
	uint64_t bufs[KCHAN_SELECT_MAX_CASES];
	int ret;

	for (int i = 0; i < KCHAN_SELECT_MAX_CASES; i++)
		c[i] = recv_case(self->a, &bufs[i]);
	ASSERT_EQ(0, kt_send_u64(self->a, 55));
	ret = kchan_select(c, KCHAN_SELECT_MAX_CASES, 0);
	ASSERT_LE(0, ret);
	ASSERT_GT(KCHAN_SELECT_MAX_CASES, ret);
	EXPECT_EQ(55, bufs[ret]);
	for (int i = 0; i < KCHAN_SELECT_MAX_CASES; i++) {
		if (i != ret) {
			EXPECT_EQ(KT_SENTINEL_U64, bufs[i]);
		}
	}
	EXPECT_EQ(0, kchan_len(self->a));
}

TEST_F(sel, same_channel_in_several_cases_performs_one)
{
	uint64_t b0, b1, va = 3;
	struct kchan_case c[3];
	int ret;

	ASSERT_EQ(0, kt_send_u64(self->a, 77));
	c[0] = recv_case(self->a, &b0);
	c[1] = recv_case(self->a, &b1);
	c[2] = send_case(self->a, &va);
	ret = kchan_select(c, 3, 0);
	ASSERT_LE(0, ret);
	ASSERT_GE(2, ret);
	if (ret == 2) {
		/* The send: now two queued, nothing received. */
		EXPECT_EQ(2, kchan_len(self->a));
		EXPECT_EQ(KT_SENTINEL_U64, b0);
		EXPECT_EQ(KT_SENTINEL_U64, b1);
	} else {
		EXPECT_EQ(77, ret == 0 ? b0 : b1);
		EXPECT_EQ(KT_SENTINEL_U64, ret == 0 ? b1 : b0);
		EXPECT_EQ(0, kchan_len(self->a));
	}
}

TEST_F(sel, same_channel_in_several_blocked_cases_one_fires)
{
	struct sel_worker w;

	sel_init(&w, -1);
	sel_add(&w, self->u, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->u, KCHAN_CASE_RECV, 0);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->u, 0, 2));
	ASSERT_EQ(0, kt_send_u64(self->u, 31));
	ASSERT_EQ(0, sel_join(&w));
	ASSERT_LE(0, w.ret);
	ASSERT_GE(1, w.ret);
	EXPECT_EQ(31, w.elems[w.ret]);
	EXPECT_EQ(KT_SENTINEL_U64, w.elems[1 - w.ret]);
	EXPECT_EQ(0, kt_wait_queues(self->u, 0, 0));
}

TEST_F(sel, select_never_pairs_its_own_send_and_recv_cases)
{
	uint64_t bu, vu = 1;
	struct kchan_case c[2] = { send_case(self->u, &vu), recv_case(self->u, &bu) };

	/* As in Go: a select cannot talk to itself. */
	EXPECT_EQ(-EAGAIN, kchan_select(c, 2, 0));
	EXPECT_EQ(-ETIMEDOUT, kchan_select(c, 2, 20 * KT_MSEC));
	EXPECT_EQ(KT_SENTINEL_U64, bu);
	EXPECT_EQ(0, kt_wait_queues(self->u, 0, 0));
}

TEST_F(sel, non_channel_fd_in_a_later_case_einval_nothing_consumed)
{
	uint64_t ba, bp;
	struct kchan_case c[2];
	int p[2];

	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, kt_send_u64(self->a, 1));
	c[0] = recv_case(self->a, &ba);
	c[1] = recv_case(p[0], &bp);
	EXPECT_EQ(-EINVAL, kchan_select(c, 2, 0));
	EXPECT_EQ(-EINVAL, kchan_select(c, 2, -1));
	EXPECT_EQ(KT_SENTINEL_U64, ba);
	EXPECT_EQ(1, kchan_len(self->a));
	close(p[0]);
	close(p[1]);
}

TEST_F(sel, non_channel_fd_in_the_first_case_enotty)
{
	uint64_t ba, bp;
	struct kchan_case c[2];
	int p[2];

	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, kt_send_u64(self->a, 1));
	c[0] = recv_case(p[0], &bp);
	c[1] = recv_case(self->a, &ba);
	/* The library issues the ioctl on the first case's descriptor. */
	EXPECT_EQ(-ENOTTY, kchan_select(c, 2, 0));
	EXPECT_EQ(1, kchan_len(self->a));
	close(p[0]);
	close(p[1]);
}

TEST_F(sel, closed_descriptor_ebadf_nothing_consumed)
{
	uint64_t ba, bx;
	struct kchan_case c[2];
	int fd = kt_lowest_free_fd();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kt_send_u64(self->a, 1));
	c[0] = recv_case(self->a, &ba);
	c[1] = recv_case(fd, &bx);
	EXPECT_EQ(-EBADF, kchan_select(c, 2, 0));
	EXPECT_EQ(1, kchan_len(self->a));
	/* First case too. */
	c[0] = recv_case(fd, &bx);
	c[1] = recv_case(self->a, &ba);
	EXPECT_EQ(-EBADF, kchan_select(c, 2, 0));
	EXPECT_EQ(1, kchan_len(self->a));
	EXPECT_EQ(KT_SENTINEL_U64, ba);
}

TEST_F(sel, unknown_op_einval_nothing_consumed)
{
	uint64_t ba, bb;
	struct kchan_case c[2];

	ASSERT_EQ(0, kt_send_u64(self->a, 1));
	c[0] = recv_case(self->a, &ba);
	c[1] = recv_case(self->b, &bb);
	c[1].op = 3;
	EXPECT_EQ(-EINVAL, kchan_select(c, 2, 0));
	c[1].op = 0;
	EXPECT_EQ(-EINVAL, kchan_select(c, 2, 0));
	EXPECT_EQ(1, kchan_len(self->a));
	EXPECT_EQ(KT_SENTINEL_U64, ba);
}

TEST_F(sel, bad_recv_buffer_efault_element_stays)
{
	uint64_t got;
	struct kchan_case c[1] = {
		{ .ch = self->a, .op = KCHAN_CASE_RECV, .elem = kt_noaccess_addr() },
	};

	ASSERT_EQ(0, kt_send_u64(self->a, 8));
	EXPECT_EQ(-EFAULT, kchan_select(c, 1, 0));
	EXPECT_EQ(1, kchan_len(self->a));
	ASSERT_EQ(1, kchan_try_recv(self->a, &got));
	EXPECT_EQ(8, got);
}

TEST_F(sel, bad_send_buffer_efault_nothing_queued)
{
	struct kchan_case c[1] = {
		{ .ch = self->a, .op = KCHAN_CASE_SEND, .elem = kt_noaccess_addr() },
	};

	EXPECT_EQ(-EFAULT, kchan_select(c, 1, 0));
	EXPECT_EQ(-EFAULT, kchan_select(c, 1, -1));
	EXPECT_EQ(0, kchan_len(self->a));
}

TEST_F(sel, bad_send_buffer_of_blocking_select_efault_nothing_queued)
{
	struct kchan_case c[1] = {
		{ .ch = self->u, .op = KCHAN_CASE_SEND, .elem = kt_noaccess_addr() },
	};

	/* Nothing ready: the element is copied in before blocking. */
	EXPECT_EQ(-EFAULT, kchan_select(c, 1, -1));
	EXPECT_EQ(0, kt_wait_queues(self->u, 0, 0));
}

TEST_F(sel, closed_out_field_cleared_on_non_closed_cases)
{
	uint64_t ba, bb;
	struct kchan_case c[2] = { recv_case(self->a, &ba), recv_case(self->b, &bb) };

	c[0].closed = 1;
	c[1].closed = 1;
	ASSERT_EQ(0, kt_send_u64(self->b, 1));
	ASSERT_EQ(1, kchan_select(c, 2, 0));
	EXPECT_EQ(0, c[0].closed);
	EXPECT_EQ(0, c[1].closed);
}

/*
 * The raw ABI: struct kchan_select validation, on /dev/kchan.
 */
FIXTURE(raw) {
	int dev;
	int ch;
	uint64_t buf;
	struct kchan_select_case cases[2];
	struct kchan_select arg;
};

FIXTURE_SETUP(raw)
{
	self->dev = kt_open_dev();
	ASSERT_LE(0, self->dev);
	self->ch = KT_MAKE_CHAN(sizeof(uint64_t), CAP, 0);
	/* A ready receive case: valid input proceeds at once. */
	ASSERT_EQ(0, kt_send_u64(self->ch, 99));
	self->buf = KT_SENTINEL_U64;
	memset(self->cases, 0, sizeof(self->cases));
	self->cases[0].fd = self->ch;
	self->cases[0].op = KCHAN_CASE_RECV;
	self->cases[0].elem = (uintptr_t)&self->buf;
	self->cases[1].fd = -1;
	self->cases[1].op = KCHAN_CASE_RECV;
	self->cases[1].elem = (uintptr_t)&self->buf;
	memset(&self->arg, 0, sizeof(self->arg));
	self->arg.size = sizeof(self->arg);
	self->arg.flags = KCHAN_SELECT_NONBLOCK;
	self->arg.cases = (uintptr_t)self->cases;
	self->arg.nr_cases = 2;
	self->arg.case_size = sizeof(self->cases[0]);
}

FIXTURE_TEARDOWN(raw)
{
	close(self->ch);
	close(self->dev);
}

static long raw_select(int fd, const void *arg)
{
	return kt_ioctl(fd, KCHAN_IOC_SELECT, (unsigned long)arg);
}

/* After a rejected call: the element is still queued, the buffer untouched. */
#define ASSERT_UNTOUCHED() do {						\
	EXPECT_EQ(KT_SENTINEL_U64, self->buf);				\
	EXPECT_EQ(1, kchan_len(self->ch));				\
} while (0)

TEST_F(raw, valid_select_on_dev_kchan_works)
{
	EXPECT_EQ(0, raw_select(self->dev, &self->arg));
	EXPECT_EQ(99, self->buf);
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(raw, select_on_an_unrelated_channel_descriptor_works)
{
	int other = KT_MAKE_CHAN(1, 1, 0);

	EXPECT_EQ(0, raw_select(other, &self->arg));
	EXPECT_EQ(99, self->buf);
	close(other);
}

TEST_F(raw, select_on_a_case_channel_descriptor_works)
{
	EXPECT_EQ(0, raw_select(self->ch, &self->arg));
	EXPECT_EQ(99, self->buf);
}

TEST_F(raw, closed_recv_returns_index_with_select_closed_bit)
{
	uint64_t got;

	ASSERT_EQ(1, kchan_try_recv(self->ch, &got));
	ASSERT_EQ(0, kchan_close(self->ch));
	self->cases[1] = self->cases[0];
	self->cases[0].fd = -1;
	EXPECT_EQ(1 | KCHAN_SELECT_CLOSED, raw_select(self->dev, &self->arg));
	EXPECT_EQ(KT_SENTINEL_U64, self->buf);
}

TEST_F(raw, size_below_ver0_einval)
{
	self->arg.size = KCHAN_SELECT_SIZE_VER0 - 1;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	self->arg.size = 0;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	ASSERT_UNTOUCHED();
}

TEST_F(raw, larger_size_with_zero_tail_accepted)
{
	struct {
		struct kchan_select s;
		uint64_t tail[2];
	} big = { .s = self->arg };

	big.s.size = sizeof(big);
	EXPECT_EQ(0, raw_select(self->dev, &big));
	EXPECT_EQ(99, self->buf);
}

TEST_F(raw, larger_size_with_nonzero_tail_e2big)
{
	struct {
		struct kchan_select s;
		uint64_t tail[2];
	} big = { .s = self->arg, .tail = { 0, 1 } };

	big.s.size = sizeof(big);
	EXPECT_EQ(-E2BIG, raw_select(self->dev, &big));
	ASSERT_UNTOUCHED();
}

TEST_F(raw, unknown_flags_einval)
{
	/* The bit after KCHAN_SELECT_BIASED, the last one defined. */
	self->arg.flags |= KCHAN_SELECT_BIASED << 1;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	self->arg.flags = 0x80000000U;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	ASSERT_UNTOUCHED();
}

TEST_F(raw, deadline_without_deadline_flag_einval)
{
	self->arg.deadline_ns = kt_now_ns() + KT_NSEC;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	self->arg.flags = 0;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	ASSERT_UNTOUCHED();
}

TEST_F(raw, deadline_in_the_past_tries_once)
{
	uint64_t got;

	self->arg.flags = KCHAN_SELECT_DEADLINE;
	self->arg.deadline_ns = 1;
	EXPECT_EQ(0, raw_select(self->dev, &self->arg));
	EXPECT_EQ(99, self->buf);
	EXPECT_EQ(-ETIMEDOUT, raw_select(self->dev, &self->arg));
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &got));
}

TEST_F(raw, case_size_below_ver0_einval)
{
	self->arg.case_size = KCHAN_SELECT_CASE_SIZE_VER0 - 1;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	self->arg.case_size = 0;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	ASSERT_UNTOUCHED();
}

TEST_F(raw, larger_case_size_with_zero_tails_accepted)
{
	struct big_case {
		struct kchan_select_case c;
		uint64_t tail;
	} big[2] = { { .c = self->cases[0] }, { .c = self->cases[1] } };

	self->arg.cases = (uintptr_t)big;
	self->arg.case_size = sizeof(big[0]);
	EXPECT_EQ(0, raw_select(self->dev, &self->arg));
	EXPECT_EQ(99, self->buf);
}

TEST_F(raw, larger_case_size_with_nonzero_tail_e2big)
{
	struct big_case {
		struct kchan_select_case c;
		uint64_t tail;
	} big[2] = { { .c = self->cases[0] }, { .c = self->cases[1], .tail = 1 } };

	self->arg.cases = (uintptr_t)big;
	self->arg.case_size = sizeof(big[0]);
	EXPECT_EQ(-E2BIG, raw_select(self->dev, &self->arg));
	ASSERT_UNTOUCHED();
}

TEST_F(raw, nonzero_case_flags_einval)
{
	self->cases[1].flags = 1;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	ASSERT_UNTOUCHED();
}

TEST_F(raw, nonzero_case_reserved_einval)
{
	self->cases[1].__reserved = 1;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	ASSERT_UNTOUCHED();
}

TEST_F(raw, unknown_op_einval)
{
	self->cases[1].op = 0;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	self->cases[1].op = 3;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	self->cases[1].op = 0xffffffffU;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	ASSERT_UNTOUCHED();
}

TEST_F(raw, unknown_op_on_live_case_einval)
{
	self->cases[0].op = 3;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	ASSERT_UNTOUCHED();
}

TEST_F(raw, nr_cases_above_max_einval)
{
	static struct kchan_select_case many[KCHAN_SELECT_MAX_CASES + 1];

	for (int i = 0; i <= KCHAN_SELECT_MAX_CASES; i++)
		many[i] = self->cases[0];
	self->arg.cases = (uintptr_t)many;
	self->arg.nr_cases = KCHAN_SELECT_MAX_CASES + 1;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	self->arg.nr_cases = 0xffffffffU;
	EXPECT_EQ(-EINVAL, raw_select(self->dev, &self->arg));
	ASSERT_UNTOUCHED();
	/* The maximum itself is fine. */
	self->arg.nr_cases = KCHAN_SELECT_MAX_CASES;
	EXPECT_LE(0, raw_select(self->dev, &self->arg));
	EXPECT_EQ(99, self->buf);
}

TEST_F(raw, bad_cases_pointer_efault)
{
	self->arg.cases = (uintptr_t)kt_noaccess_addr();
	EXPECT_EQ(-EFAULT, raw_select(self->dev, &self->arg));
	ASSERT_UNTOUCHED();
}

TEST_F(raw, cases_running_into_unmapped_memory_efault)
{
	char *map = kt_guard_alloc();

	ASSERT_NE(NULL, map);
	/* The first case is readable, the second crosses into the guard. */
	memcpy(kt_guard_end(map) - sizeof(self->cases[0]) - 8, &self->cases[0],
	       sizeof(self->cases[0]));
	self->arg.cases = (uintptr_t)(kt_guard_end(map) - sizeof(self->cases[0]) - 8);
	EXPECT_EQ(-EFAULT, raw_select(self->dev, &self->arg));
	ASSERT_UNTOUCHED();
	kt_guard_free(map);
}

TEST_F(raw, bad_argument_pointer_efault)
{
	EXPECT_EQ(-EFAULT, raw_select(self->dev, kt_noaccess_addr()));
	ASSERT_UNTOUCHED();
}

TEST_F(raw, negative_fd_other_than_minus_one_ebadf)
{
	self->cases[1].fd = -2;
	EXPECT_EQ(-EBADF, raw_select(self->dev, &self->arg));
	ASSERT_UNTOUCHED();
}

TEST_F(raw, nonblock_with_no_cases_eagain)
{
	self->arg.nr_cases = 0;
	EXPECT_EQ(-EAGAIN, raw_select(self->dev, &self->arg));
	self->arg.cases = 0;
	EXPECT_EQ(-EAGAIN, raw_select(self->dev, &self->arg));
	ASSERT_UNTOUCHED();
}

/* KCHAN_SELECT_BIASED with each other flag (the next bit: unknown_flags_einval). */
TEST_F(raw, biased_accepted_alone_and_with_nonblock_and_deadline)
{
	const uint32_t flags[] = {
		KCHAN_SELECT_BIASED,
		KCHAN_SELECT_BIASED | KCHAN_SELECT_NONBLOCK,
		KCHAN_SELECT_BIASED | KCHAN_SELECT_DEADLINE,
		KCHAN_SELECT_BIASED | KCHAN_SELECT_NONBLOCK | KCHAN_SELECT_DEADLINE,
	};

	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		self->arg.flags = flags[i];
		self->arg.deadline_ns = flags[i] & KCHAN_SELECT_DEADLINE ?
					kt_now_ns() + 10 * KT_NSEC : 0;
		self->buf = KT_SENTINEL_U64;
		EXPECT_EQ(0, raw_select(self->dev, &self->arg)) TH_LOG("flags 0x%x", flags[i]);
		EXPECT_EQ(99 + i, self->buf);
		EXPECT_EQ(0, kchan_len(self->ch));
		ASSERT_EQ(0, kt_send_u64(self->ch, 100 + i));
	}
}

TEST_F(raw, biased_nonblock_with_nothing_ready_eagain)
{
	uint64_t got;

	ASSERT_EQ(1, kchan_try_recv(self->ch, &got));
	self->arg.flags = KCHAN_SELECT_BIASED | KCHAN_SELECT_NONBLOCK;
	EXPECT_EQ(-EAGAIN, raw_select(self->dev, &self->arg));
	EXPECT_EQ(KT_SENTINEL_U64, self->buf);
}

TEST_F(raw, biased_deadline_with_nothing_ready_etimedout)
{
	const int64_t timeout = 50 * KT_MSEC;
	int64_t start;
	uint64_t got;

	ASSERT_EQ(1, kchan_try_recv(self->ch, &got));
	self->arg.flags = KCHAN_SELECT_BIASED | KCHAN_SELECT_DEADLINE;
	start = kt_now_ns();
	self->arg.deadline_ns = start + timeout;
	EXPECT_EQ(-ETIMEDOUT, raw_select(self->dev, &self->arg));
	EXPECT_LE(timeout, kt_now_ns() - start);
	/* A deadline in the past tries once. */
	self->arg.deadline_ns = 0;
	EXPECT_EQ(-ETIMEDOUT, raw_select(self->dev, &self->arg));
	EXPECT_EQ(KT_SENTINEL_U64, self->buf);
}

/* Through the raw ABI too, the first ready case wins, whatever the descriptor. */
TEST_F(raw, biased_two_ready_cases_first_wins)
{
	uint64_t other = KT_SENTINEL_U64;
	int ch2 = KT_MAKE_CHAN(sizeof(uint64_t), CAP, 0);

	self->cases[1] = self->cases[0];
	self->cases[1].fd = ch2;
	self->cases[1].elem = (uintptr_t)&other;
	self->arg.flags = KCHAN_SELECT_BIASED | KCHAN_SELECT_NONBLOCK;
	ASSERT_EQ(0, kt_send_u64(ch2, 1000));
	for (uint64_t i = 0; i < 100; i++) {
		self->buf = KT_SENTINEL_U64;
		ASSERT_EQ(0, raw_select(i % 2 ? ch2 : self->dev, &self->arg));
		ASSERT_EQ(99 + i, self->buf);
		ASSERT_EQ(0, kt_send_u64(self->ch, 100 + i));
	}
	EXPECT_EQ(KT_SENTINEL_U64, other);
	EXPECT_EQ(1, kchan_len(ch2));
	close(ch2);
}

TEST_F(raw, unknown_ioctl_on_dev_kchan_enotty)
{
	EXPECT_EQ(-ENOTTY, kt_ioctl(self->dev, _IO(KCHAN_IOC_MAGIC, 0x21),
				    (unsigned long)&self->arg));
	ASSERT_UNTOUCHED();
}

/*
 * Fairness and "only the chosen case happens".
 */
TEST_F(sel, ready_cases_chosen_uniformly)
{
	const int rounds = 4000;
	uint64_t ba, bb;
	struct kchan_case c[2];
	int picks[2] = { 0, 0 };

	ASSERT_EQ(0, kt_send_u64(self->a, 1));
	ASSERT_EQ(0, kt_send_u64(self->b, 2));
	for (int r = 0; r < rounds; r++) {
		int ret;

		c[0] = recv_case(self->a, &ba);
		c[1] = recv_case(self->b, &bb);
		ret = kchan_select(c, 2, 0);
		ASSERT_TRUE(ret == 0 || ret == 1);
		picks[ret & 1]++;
		/* Put the element back: both stay ready. */
		ASSERT_EQ(0, kchan_try_send(ret ? self->b : self->a, ret ? &bb : &ba));
	}
	TH_LOG("a %d, b %d of %d", picks[0], picks[1], rounds);
	EXPECT_LE(rounds * 4 / 10, picks[0]);
	EXPECT_LE(rounds * 4 / 10, picks[1]);
}

TEST_F(sel, ready_send_and_recv_cases_chosen_uniformly)
{
	const int rounds = 4000;
	uint64_t ba, vb = 5, got;
	struct kchan_case c[2];
	int picks[2] = { 0, 0 };

	ASSERT_EQ(0, kt_send_u64(self->a, 1));
	for (int r = 0; r < rounds; r++) {
		int ret;

		c[0] = recv_case(self->a, &ba);
		c[1] = send_case(self->b, &vb);
		ret = kchan_select(c, 2, 0);
		ASSERT_TRUE(ret == 0 || ret == 1);
		picks[ret & 1]++;
		if (ret == 0) {
			ASSERT_EQ(0, kchan_try_send(self->a, &ba));
		} else {
			ASSERT_EQ(1, kchan_try_recv(self->b, &got));
		}
	}
	TH_LOG("recv %d, send %d of %d", picks[0], picks[1], rounds);
	EXPECT_LE(rounds * 4 / 10, picks[0]);
	EXPECT_LE(rounds * 4 / 10, picks[1]);
}

TEST_F(sel, ready_cases_chosen_uniformly_among_four_with_nil_and_idle)
{
	const int rounds = 4000;
	uint64_t bufs[6];
	struct kchan_case c[6];
	int picks[6] = { 0 };

	ASSERT_EQ(0, kt_send_u64(self->a, 1));
	ASSERT_EQ(0, kt_send_u64(self->b, 2));
	for (int r = 0; r < rounds; r++) {
		int ret;

		c[0] = recv_case(-1, &bufs[0]);
		c[1] = recv_case(self->a, &bufs[1]);
		c[2] = recv_case(self->u, &bufs[2]);	/* never ready */
		c[3] = recv_case(self->b, &bufs[3]);
		c[4] = recv_case(self->a, &bufs[4]);
		c[5] = recv_case(self->b, &bufs[5]);
		ret = kchan_select(c, 6, 0);
		ASSERT_LE(0, ret);
		ASSERT_GT(6, ret);
		picks[ret]++;
		ASSERT_EQ(0, kchan_try_send(c[ret].ch, &bufs[ret]));
	}
	TH_LOG("%d %d %d %d %d %d", picks[0], picks[1], picks[2], picks[3], picks[4],
	       picks[5]);
	EXPECT_EQ(0, picks[0]);
	EXPECT_EQ(0, picks[2]);
	/* Each of four: 25% expected, 800 = 20% is ~10 sigma away. */
	EXPECT_LE(800, picks[1]);
	EXPECT_LE(800, picks[3]);
	EXPECT_LE(800, picks[4]);
	EXPECT_LE(800, picks[5]);
}

TEST(select_consumes_only_from_the_chosen_case)
{
	const int n = 128;
	int a = KT_MAKE_CHAN(sizeof(uint64_t), n, 0);
	int b = KT_MAKE_CHAN(sizeof(uint64_t), n, 0);
	uint64_t next[2] = { 0, 0 }, ba, bb;
	long len[2] = { n, n };
	struct kchan_case c[2];
	int total = 0;

	for (int i = 0; i < n; i++) {
		ASSERT_EQ(0, kt_send_u64(a, i));
		ASSERT_EQ(0, kt_send_u64(b, 1000 + i));
	}
	for (int r = 0; r < n; r++) {
		long la, lb;
		int ret;

		c[0] = recv_case(a, &ba);
		c[1] = recv_case(b, &bb);
		ret = kchan_select(c, 2, 0);
		ASSERT_LE(0, ret);
		ASSERT_GE(1, ret);
		/* The other buffer is untouched, the other channel too. */
		EXPECT_EQ(KT_SENTINEL_U64, ret ? ba : bb);
		EXPECT_EQ((ret ? 1000 : 0) + next[ret], ret ? bb : ba);
		next[ret]++;
		len[ret]--;
		la = kt_len(a);
		lb = kt_len(b);
		ASSERT_EQ(len[0], la);
		ASSERT_EQ(len[1], lb);
		total++;
	}
	EXPECT_EQ(n, total);
	EXPECT_EQ(n, (int)(next[0] + next[1]));
	EXPECT_EQ(n, (int)(len[0] + len[1]));
	close(a);
	close(b);
}

TEST_F(sel, select_sends_only_on_the_chosen_case)
{
	const int rounds = 200;
	uint64_t va, vb, got;
	struct kchan_case c[2];
	int sent[2] = { 0, 0 };

	for (int r = 0; r < rounds; r++) {
		int ret;

		va = 10000 + r;
		vb = 20000 + r;
		c[0] = send_case(self->a, &va);
		c[1] = send_case(self->b, &vb);
		ret = kchan_select(c, 2, 0);
		ASSERT_TRUE(ret == 0 || ret == 1);
		sent[ret & 1]++;
		ASSERT_EQ(1, kchan_len(ret ? self->b : self->a));
		ASSERT_EQ(0, kchan_len(ret ? self->a : self->b));
		ASSERT_EQ(1, kchan_try_recv(ret ? self->b : self->a, &got));
		ASSERT_EQ((ret ? 20000 : 10000) + (uint64_t)r, got);
	}
	EXPECT_EQ(rounds, sent[0] + sent[1]);
}

/*
 * Blocked selects.
 */
TEST_F(sel, blocked_select_woken_by_a_send_from_another_thread)
{
	struct sel_worker w;

	sel_init(&w, -1);
	sel_add(&w, self->a, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->b, KCHAN_CASE_RECV, 0);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 1));
	ASSERT_EQ(0, kt_wait_queues(self->b, 0, 1));
	EXPECT_FALSE(atomic_load(&w.done));

	ASSERT_EQ(0, kt_send_u64(self->b, 7));
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(7, w.elems[1]);
	EXPECT_EQ(0, w.cases[1].closed);
	EXPECT_EQ(KT_SENTINEL_U64, w.elems[0]);
	/* Handed over directly; the other waiter is gone, steals nothing. */
	EXPECT_EQ(0, kchan_len(self->b));
	EXPECT_EQ(0, kt_wait_queues(self->a, 0, 0));
	EXPECT_EQ(0, kt_wait_queues(self->b, 0, 0));
	ASSERT_EQ(0, kt_send_u64(self->a, 8));
	EXPECT_EQ(1, kchan_len(self->a));
}

TEST_F(sel, blocked_select_woken_by_a_blocked_sender_on_unbuffered_channel)
{
	struct sel_worker w;
	struct kt_worker s;

	sel_init(&w, -1);
	sel_add(&w, self->u, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->v, KCHAN_CASE_RECV, 0);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->u, 0, 1));
	ASSERT_EQ(0, kt_wait_queues(self->v, 0, 1));

	ASSERT_EQ(0, kt_start_send_u64(&s, self->u, 17));
	ASSERT_EQ(0, kt_worker_join(&s));
	EXPECT_EQ(0, s.ret);
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(0, w.ret);
	EXPECT_EQ(17, w.elems[0]);
	EXPECT_EQ(0, kt_wait_queues(self->u, 0, 0));
	EXPECT_EQ(0, kt_wait_queues(self->v, 0, 0));
}

TEST_F(sel, blocked_select_woken_by_close_reports_closed)
{
	struct sel_worker w;

	sel_init(&w, -1);
	sel_add(&w, self->a, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->u, KCHAN_CASE_RECV, 0);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 1));
	ASSERT_EQ(0, kt_wait_queues(self->u, 0, 1));

	ASSERT_EQ(0, kchan_close(self->u));
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(1, w.cases[1].closed);
	EXPECT_EQ(0, w.cases[0].closed);
	EXPECT_EQ(KT_SENTINEL_U64, w.elems[0]);
	EXPECT_EQ(KT_SENTINEL_U64, w.elems[1]);
	EXPECT_EQ(0, kt_wait_queues(self->a, 0, 0));
}

TEST_F(sel, blocked_select_send_case_woken_by_close_epipe)
{
	struct sel_worker w;
	uint64_t got;

	sel_init(&w, -1);
	sel_add(&w, self->u, KCHAN_CASE_SEND, 5);
	sel_add(&w, self->a, KCHAN_CASE_RECV, 0);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->u, 1, 0));
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 1));

	ASSERT_EQ(0, kchan_close(self->u));
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(-EPIPE, w.ret);
	EXPECT_EQ(KT_SENTINEL_U64, w.elems[1]);
	EXPECT_EQ(0, kt_wait_queues(self->a, 0, 0));
	/* The element was not delivered. */
	got = KT_SENTINEL_U64;
	EXPECT_EQ(0, kchan_recv(self->u, &got));
	EXPECT_EQ(KT_SENTINEL_U64, got);
}

TEST_F(sel, blocked_select_woken_by_the_timeout)
{
	const int64_t timeout = 100 * KT_MSEC;
	struct sel_worker w;
	uint64_t got;

	sel_init(&w, timeout);
	sel_add(&w, self->a, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->u, KCHAN_CASE_SEND, 3);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(-ETIMEDOUT, w.ret);
	EXPECT_LE(timeout, w.elapsed_ns);
	EXPECT_EQ(KT_SENTINEL_U64, w.elems[0]);
	EXPECT_EQ(0, kt_wait_queues(self->a, 0, 0));
	EXPECT_EQ(0, kt_wait_queues(self->u, 0, 0));
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->u, &got));
}

TEST_F(sel, blocked_send_case_taken_by_a_receiver_on_unbuffered_channel)
{
	struct sel_worker w;
	uint64_t got = 0;

	sel_init(&w, -1);
	sel_add(&w, self->a, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->u, KCHAN_CASE_SEND, 0x5e1ec7);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 1));
	ASSERT_EQ(0, kt_wait_queues(self->u, 1, 0));
	/* Its queued send case makes the channel readable. */
	EXPECT_EQ(POLLIN, poll_now(self->u, POLLIN | POLLOUT));

	ASSERT_EQ(1, kchan_recv(self->u, &got));
	EXPECT_EQ(0x5e1ec7, got);
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(KT_SENTINEL_U64, w.elems[0]);
	EXPECT_EQ(0, kt_wait_queues(self->a, 0, 0));
	EXPECT_EQ(0, kt_wait_queues(self->u, 0, 0));
}

TEST_F(sel, blocked_send_case_moves_into_freed_slot_of_full_ring)
{
	struct sel_worker w;
	uint64_t got;

	FILL(self->a, 1);
	sel_init(&w, -1);
	sel_add(&w, self->a, KCHAN_CASE_SEND, 1 + CAP);
	sel_add(&w, self->u, KCHAN_CASE_RECV, 0);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->a, 1, 0));
	ASSERT_EQ(0, kt_wait_queues(self->u, 0, 1));

	ASSERT_EQ(1, kchan_recv(self->a, &got));
	EXPECT_EQ(1, got);
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(0, w.ret);
	EXPECT_EQ(CAP, kchan_len(self->a));
	EXPECT_EQ(0, kt_wait_queues(self->u, 0, 0));
	for (uint64_t v = 2; v <= 1 + CAP; v++) {
		ASSERT_EQ(1, kchan_try_recv(self->a, &got));
		EXPECT_EQ(v, got);
	}
}

TEST_F(sel, blocked_select_takes_exactly_one_of_two_later_senders)
{
	struct sel_worker w;
	struct kt_worker s1, s2;
	uint64_t got = 0;

	sel_init(&w, -1);
	sel_add(&w, self->u, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->v, KCHAN_CASE_RECV, 0);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->u, 0, 1));
	ASSERT_EQ(0, kt_wait_queues(self->v, 0, 1));

	/* The first sender completes the select... */
	ASSERT_EQ(0, kt_start_send_u64(&s1, self->u, 1));
	ASSERT_EQ(0, kt_worker_join(&s1));
	EXPECT_EQ(0, s1.ret);
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(0, w.ret);
	EXPECT_EQ(1, w.elems[0]);
	EXPECT_EQ(KT_SENTINEL_U64, w.elems[1]);

	/* ...so a second sender on the other channel finds nobody. */
	ASSERT_EQ(0, kt_start_send_u64(&s2, self->v, 2));
	ASSERT_EQ(0, kt_wait_queues(self->v, 1, 0));
	EXPECT_FALSE(atomic_load(&s2.done));
	ASSERT_EQ(1, kchan_recv(self->v, &got));
	EXPECT_EQ(2, got);
	ASSERT_EQ(0, kt_worker_join(&s2));
	EXPECT_EQ(0, s2.ret);
}

/*
 * Peers released together: each spins on @go, then runs one plain send
 * (@send) or receive on @ch, so that they race for one blocked select.
 */
struct racer {
	int ch;
	bool send;
	uint64_t v;
	atomic_int *go;
	pthread_t thread;
	_Atomic int ready;
	_Atomic int done;
	int ret;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;

	atomic_store(&r->ready, 1);
	while (!atomic_load(r->go))
		;
	r->ret = r->send ? kchan_send(r->ch, &r->v) : kchan_recv(r->ch, &r->v);
	atomic_store(&r->done, 1);
	return NULL;
}

/* Start two racers and release them at once. */
static int race_two(struct racer r[2], atomic_int *go)
{
	int64_t end = kt_now_ns() + KT_WAIT_NS;

	atomic_store(go, 0);
	for (int i = 0; i < 2; i++) {
		r[i].go = go;
		if (pthread_create(&r[i].thread, NULL, racer_main, &r[i]))
			return -EAGAIN;
	}
	while (!atomic_load(&r[0].ready) || !atomic_load(&r[1].ready)) {
		if (kt_now_ns() > end)
			return -ETIMEDOUT;
		kt_sleep_us(100);
	}
	atomic_store(go, 1);
	return 0;
}

static int racer_join(struct racer *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += KT_WAIT_NS / KT_NSEC;
	return -pthread_timedjoin_np(r->thread, NULL, &ts);
}

TEST_F(sel, blocked_select_racing_senders_exactly_one_completes)
{
	for (int round = 0; round < 100; round++) {
		struct sel_worker w;
		int chans[2] = { self->u, self->v };
		struct racer s[2] = {
			{ .ch = self->u, .send = true, .v = 100 + round },
			{ .ch = self->v, .send = true, .v = 200 + round },
		};
		atomic_int go;
		int won, lost;
		uint64_t got = 0;

		sel_init(&w, -1);
		sel_add(&w, self->u, KCHAN_CASE_RECV, 0);
		sel_add(&w, self->v, KCHAN_CASE_RECV, 0);
		ASSERT_EQ(0, sel_start(&w));
		ASSERT_EQ(0, kt_wait_queues(self->u, 0, 1));
		ASSERT_EQ(0, kt_wait_queues(self->v, 0, 1));

		/* Both senders at once. */
		ASSERT_EQ(0, race_two(s, &go));
		ASSERT_EQ(0, sel_join(&w));
		ASSERT_TRUE(w.ret == 0 || w.ret == 1);
		won = w.ret & 1;
		lost = 1 - won;
		EXPECT_EQ((won ? 200 : 100) + (uint64_t)round, w.elems[won]);
		EXPECT_EQ(KT_SENTINEL_U64, w.elems[lost]);
		ASSERT_EQ(0, racer_join(&s[won]));
		EXPECT_EQ(0, s[won].ret);

		/* The loser is blocked alone, and the next receive gets it. */
		ASSERT_EQ(0, kt_wait_queues(chans[lost], 1, 0));
		ASSERT_EQ(0, kt_wait_queues(chans[won], 0, 0));
		ASSERT_FALSE(atomic_load(&s[lost].done));
		ASSERT_EQ(1, kchan_recv(chans[lost], &got));
		EXPECT_EQ((lost ? 200 : 100) + (uint64_t)round, got);
		ASSERT_EQ(0, racer_join(&s[lost]));
		EXPECT_EQ(0, s[lost].ret);
	}
}

TEST_F(sel, blocked_select_send_cases_racing_receivers_exactly_one_receives)
{
	for (int round = 0; round < 100; round++) {
		struct sel_worker w;
		int chans[2] = { self->u, self->v };
		struct racer r[2] = {
			{ .ch = self->u, .v = KT_SENTINEL_U64 },
			{ .ch = self->v, .v = KT_SENTINEL_U64 },
		};
		atomic_int go;
		int won, lost;

		sel_init(&w, -1);
		sel_add(&w, self->u, KCHAN_CASE_SEND, 100 + round);
		sel_add(&w, self->v, KCHAN_CASE_SEND, 200 + round);
		ASSERT_EQ(0, sel_start(&w));
		ASSERT_EQ(0, kt_wait_queues(self->u, 1, 0));
		ASSERT_EQ(0, kt_wait_queues(self->v, 1, 0));

		ASSERT_EQ(0, race_two(r, &go));
		ASSERT_EQ(0, sel_join(&w));
		ASSERT_TRUE(w.ret == 0 || w.ret == 1);
		won = w.ret & 1;
		lost = 1 - won;
		ASSERT_EQ(0, racer_join(&r[won]));
		EXPECT_EQ(1, r[won].ret);
		EXPECT_EQ((won ? 200 : 100) + (uint64_t)round, r[won].v);

		/* The other receiver is still blocked, with nothing. */
		ASSERT_EQ(0, kt_wait_queues(chans[lost], 0, 1));
		ASSERT_EQ(0, kt_wait_queues(chans[won], 0, 0));
		ASSERT_FALSE(atomic_load(&r[lost].done));
		ASSERT_EQ(0, kt_send_u64(chans[lost], 7));
		ASSERT_EQ(0, racer_join(&r[lost]));
		EXPECT_EQ(1, r[lost].ret);
		EXPECT_EQ(7, r[lost].v);
	}
}

TEST_F(sel, two_blocked_selects_on_the_same_channels_served_in_order)
{
	struct sel_worker w[2];

	for (int i = 0; i < 2; i++) {
		sel_init(&w[i], -1);
		sel_add(&w[i], self->u, KCHAN_CASE_RECV, 0);
		sel_add(&w[i], self->v, KCHAN_CASE_RECV, 0);
		ASSERT_EQ(0, sel_start(&w[i]));
		ASSERT_EQ(0, kt_wait_queues(self->u, 0, i + 1));
		ASSERT_EQ(0, kt_wait_queues(self->v, 0, i + 1));
	}
	/* The first blocked select gets the first element, on either channel. */
	ASSERT_EQ(0, kt_send_u64(self->v, 1));
	ASSERT_EQ(0, sel_join(&w[0]));
	EXPECT_EQ(1, w[0].ret);
	EXPECT_EQ(1, w[0].elems[1]);
	EXPECT_FALSE(atomic_load(&w[1].done));
	ASSERT_EQ(0, kt_send_u64(self->u, 2));
	ASSERT_EQ(0, sel_join(&w[1]));
	EXPECT_EQ(0, w[1].ret);
	EXPECT_EQ(2, w[1].elems[0]);
	EXPECT_EQ(0, kt_wait_queues(self->u, 0, 0));
	EXPECT_EQ(0, kt_wait_queues(self->v, 0, 0));
}

TEST_F(sel, blocked_select_and_blocked_select_rendezvous)
{
	struct sel_worker rx, tx;

	sel_init(&rx, -1);
	sel_add(&rx, self->a, KCHAN_CASE_RECV, 0);
	sel_add(&rx, self->u, KCHAN_CASE_RECV, 0);
	ASSERT_EQ(0, sel_start(&rx));
	ASSERT_EQ(0, kt_wait_queues(self->u, 0, 1));

	FILL(self->b, 1);
	sel_init(&tx, -1);
	sel_add(&tx, self->b, KCHAN_CASE_SEND, 1);	/* full: not ready */
	sel_add(&tx, self->u, KCHAN_CASE_SEND, 0x99);
	ASSERT_EQ(0, sel_start(&tx));
	ASSERT_EQ(0, sel_join(&tx));
	EXPECT_EQ(1, tx.ret);
	ASSERT_EQ(0, sel_join(&rx));
	EXPECT_EQ(1, rx.ret);
	EXPECT_EQ(0x99, rx.elems[1]);
	EXPECT_EQ(CAP, kchan_len(self->b));
	EXPECT_EQ(0, kt_wait_queues(self->a, 0, 0));
	EXPECT_EQ(0, kt_wait_queues(self->b, 0, 0));
	EXPECT_EQ(0, kt_wait_queues(self->u, 0, 0));
}

TEST_F(sel, signal_interrupts_blocked_select_eintr_nothing_done)
{
	struct sel_worker w;
	struct kt_worker r;
	uint64_t got = KT_SENTINEL_U64;

	ASSERT_EQ(0, kt_install_sigusr1(0));
	sel_init(&w, -1);
	sel_add(&w, self->a, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->u, KCHAN_CASE_SEND, 0x51);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 1));
	ASSERT_EQ(0, kt_wait_queues(self->u, 1, 0));

	ASSERT_EQ(0, pthread_kill(w.thread, SIGUSR1));
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(1, atomic_load(&kt_sig_handled));
	EXPECT_EQ(-EINTR, w.ret);
	EXPECT_EQ(KT_SENTINEL_U64, w.elems[0]);
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 0));
	ASSERT_EQ(0, kt_wait_queues(self->u, 0, 0));

	/* Nothing sent: a receiver now blocks instead of getting 0x51. */
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->u, &got));
	ASSERT_EQ(0, kt_start_recv(&r, self->u));
	ASSERT_EQ(0, kt_wait_queues(self->u, 0, 1));
	EXPECT_FALSE(atomic_load(&r.done));
	ASSERT_EQ(0, kt_send_u64(self->u, 0x52));
	ASSERT_EQ(0, kt_worker_join(&r));
	EXPECT_EQ(0x52, kt_worker_u64(&r));
	/* Nothing received: the next element stays queued in a. */
	ASSERT_EQ(0, kt_send_u64(self->a, 1));
	EXPECT_EQ(1, kchan_len(self->a));
}

TEST_F(sel, signal_interrupts_blocked_timed_select_eintr_even_with_sa_restart)
{
	struct sel_worker w;

	ASSERT_EQ(0, kt_install_sigusr1(SA_RESTART));
	sel_init(&w, 60 * KT_NSEC);
	sel_add(&w, self->a, KCHAN_CASE_RECV, 0);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 1));
	ASSERT_EQ(0, pthread_kill(w.thread, SIGUSR1));
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(-EINTR, w.ret);
	EXPECT_EQ(0, kt_wait_queues(self->a, 0, 0));
}

TEST_F(sel, signal_with_sa_restart_restarts_untimed_select)
{
	struct sel_worker w;

	ASSERT_EQ(0, kt_install_sigusr1(SA_RESTART));
	sel_init(&w, -1);
	sel_add(&w, self->a, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->u, KCHAN_CASE_RECV, 0);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 1));
	ASSERT_EQ(0, pthread_kill(w.thread, SIGUSR1));
	ASSERT_EQ(0, kt_wait_sig_handled(1));
	/* Blocked again in the restarted call. */
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 1));
	ASSERT_EQ(0, kt_wait_queues(self->u, 0, 1));
	EXPECT_FALSE(atomic_load(&w.done));
	ASSERT_EQ(0, kt_send_u64(self->a, 4));
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(0, w.ret);
	EXPECT_EQ(4, w.elems[0]);
}

TEST(signal_interrupts_empty_select)
{
	struct sel_worker w;
	const long nrs[] = { SYS_ioctl };

	ASSERT_EQ(0, kt_install_sigusr1(0));
	sel_init(&w, -1);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_in_syscall(atomic_load(&w.tid), nrs, 1));
	ASSERT_EQ(0, pthread_kill(w.thread, SIGUSR1));
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(-EINTR, w.ret);
}

TEST_F(sel, sigkill_ends_process_blocked_in_select)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		uint64_t buf, v = 1;
		struct kchan_case c[2] = { recv_case(self->a, &buf), send_case(self->u, &v) };

		kchan_select(c, 2, -1);
		_exit(10);	/* never reached: nobody completes the select */
	}
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 1));
	ASSERT_EQ(0, kt_wait_queues(self->u, 1, 0));
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(0, kt_waitpid(pid, &status));
	ASSERT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(SIGKILL, WTERMSIG(status));
	EXPECT_EQ(0, kt_wait_queues(self->a, 0, 0));
	EXPECT_EQ(0, kt_wait_queues(self->u, 0, 0));
}

TEST_F(sel, blocked_select_recv_into_bad_buffer_efault_element_not_lost)
{
	struct sel_worker w;
	uint64_t got = 0;

	sel_init(&w, -1);
	sel_add(&w, self->a, KCHAN_CASE_RECV, 0);
	w.cases[0].elem = kt_noaccess_addr();
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 1));
	/* Handed to the blocked select, which cannot copy it out... */
	ASSERT_EQ(0, kt_send_u64(self->a, 0xfa));
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(-EFAULT, w.ret);
	/* ...so it is given back to the channel. */
	EXPECT_EQ(1, kchan_len(self->a));
	ASSERT_EQ(1, kchan_try_recv(self->a, &got));
	EXPECT_EQ(0xfa, got);
	EXPECT_EQ(0, kt_wait_queues(self->a, 0, 0));
}

TEST_F(sel, blocked_select_recv_into_bad_buffer_on_unbuffered_channel_not_lost)
{
	struct sel_worker w;
	struct kt_worker s;
	uint64_t got = 0;

	sel_init(&w, -1);
	sel_add(&w, self->u, KCHAN_CASE_RECV, 0);
	w.cases[0].elem = kt_noaccess_addr();
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->u, 0, 1));
	ASSERT_EQ(0, kt_start_send_u64(&s, self->u, 0xfb));
	ASSERT_EQ(0, kt_worker_join(&s));
	EXPECT_EQ(0, s.ret);
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(-EFAULT, w.ret);
	/* The send happened, so its element must still be receivable. */
	ASSERT_EQ(1, kchan_try_recv(self->u, &got));
	EXPECT_EQ(0xfb, got);
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->u, &got));
}

TEST_F(sel, huge_timeout_blocks_until_woken)
{
	struct sel_worker w;

	sel_init(&w, INT64_MAX);
	sel_add(&w, self->a, KCHAN_CASE_RECV, 0);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 1));
	EXPECT_FALSE(atomic_load(&w.done));
	ASSERT_EQ(0, kt_send_u64(self->a, 12));
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(0, w.ret);
	EXPECT_EQ(12, w.elems[0]);
}

TEST_F(sel, send_case_on_full_channel_times_out_nothing_queued)
{
	uint64_t va = 99, got;
	struct kchan_case c[1] = { send_case(self->a, &va) };

	FILL(self->a, 1);
	EXPECT_EQ(-ETIMEDOUT, kchan_select(c, 1, 20 * KT_MSEC));
	EXPECT_EQ(CAP, kchan_len(self->a));
	EXPECT_EQ(0, kt_wait_queues(self->a, 0, 0));
	for (uint64_t v = 1; v <= CAP; v++) {
		ASSERT_EQ(1, kchan_try_recv(self->a, &got));
		EXPECT_EQ(v, got);
	}
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->a, &got));
}

TEST_F(sel, blocked_poll_woken_when_a_select_blocks_on_the_channel)
{
	static const long poll_nrs[] = { SYS_poll, SYS_ppoll };
	struct kt_worker p;
	struct sel_worker w;

	kt_worker_init(&p, self->u, KT_POLL);
	p.events = POLLOUT;
	ASSERT_EQ(0, kt_worker_start(&p));
	ASSERT_EQ(0, kt_wait_in_syscall(atomic_load(&p.tid), poll_nrs, 2));

	/* A select's receive case makes the unbuffered channel writable. */
	sel_init(&w, -1);
	sel_add(&w, self->a, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->u, KCHAN_CASE_RECV, 0);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_worker_join(&p));
	EXPECT_EQ(POLLOUT, p.ret);
	ASSERT_EQ(0, kt_send_u64(self->u, 3));
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(3, w.elems[1]);
}

TEST_F(sel, same_channel_through_two_descriptors_works)
{
	struct sel_worker w;
	int d = dup(self->u);

	ASSERT_LE(0, d);
	sel_init(&w, -1);
	sel_add(&w, self->u, KCHAN_CASE_RECV, 0);
	sel_add(&w, d, KCHAN_CASE_RECV, 0);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->u, 0, 2));
	ASSERT_EQ(0, kt_send_u64(d, 0xd0));
	ASSERT_EQ(0, sel_join(&w));
	ASSERT_TRUE(w.ret == 0 || w.ret == 1);
	EXPECT_EQ(0xd0, w.elems[w.ret & 1]);
	EXPECT_EQ(KT_SENTINEL_U64, w.elems[1 - (w.ret & 1)]);
	EXPECT_EQ(0, kt_wait_queues(self->u, 0, 0));
	close(d);
}

TEST(large_elements_through_blocked_select_send_case)
{
	const size_t esz = KCHAN_ELEM_SIZE_MAX;
	int u = KT_MAKE_CHAN(esz, 0, 0);
	int small = KT_MAKE_CHAN(1, 0, 0);
	unsigned char *tx = malloc(esz), *rx = malloc(esz);
	unsigned char sb = 0;
	struct kchan_case c[2];
	struct kt_worker r;

	ASSERT_NE(NULL, tx);
	ASSERT_NE(NULL, rx);
	kt_fill(tx, esz, 5);
	memset(rx, 0, esz);
	/* The receiver blocks first; the select hands it 64 KiB directly. */
	kt_worker_init(&r, u, KT_RECV);
	r.buf = rx;
	ASSERT_EQ(0, kt_worker_start(&r));
	ASSERT_EQ(0, kt_wait_queues(u, 0, 1));
	c[0] = (struct kchan_case){ .ch = small, .op = KCHAN_CASE_RECV, .elem = &sb };
	c[1] = (struct kchan_case){ .ch = u, .op = KCHAN_CASE_SEND, .elem = tx };
	EXPECT_EQ(1, kchan_select(c, 2, 10 * KT_NSEC));
	ASSERT_EQ(0, kt_worker_join(&r));
	EXPECT_EQ(1, r.ret);
	EXPECT_TRUE(kt_check(rx, esz, 5));

	/* And the other way: the select blocks, the receiver arrives. */
	memset(rx, 0, esz);
	kt_fill(tx, esz, 6);
	kt_worker_init(&r, u, KT_RECV);
	r.buf = rx;
	ASSERT_EQ(0, pthread_create(&r.thread, NULL, kt_worker_main, &r));
	ASSERT_EQ(1, kchan_select(c, 2, 10 * KT_NSEC));
	ASSERT_EQ(0, kt_worker_join(&r));
	EXPECT_EQ(1, r.ret);
	EXPECT_TRUE(kt_check(rx, esz, 6));
	free(tx);
	free(rx);
	close(u);
	close(small);
}

TEST(each_case_copies_exactly_its_channel_element_size)
{
	int c1 = KT_MAKE_CHAN(1, 1, 0);
	int c16 = KT_MAKE_CHAN(16, 1, 0);
	unsigned char v1 = 0x11, v16[16];
	char *map = kt_guard_alloc();
	unsigned char *b1, *b16;
	struct kchan_case c[2];

	ASSERT_NE(NULL, map);
	/* Each buffer ends exactly at the guard page. */
	b1 = (unsigned char *)kt_guard_end(map) - 1;
	b16 = (unsigned char *)kt_guard_end(map) - 16;
	kt_fill(v16, 16, 3);
	ASSERT_EQ(0, kchan_send(c1, &v1));
	c[0] = (struct kchan_case){ .ch = c1, .op = KCHAN_CASE_RECV, .elem = b1 };
	c[1] = (struct kchan_case){ .ch = c16, .op = KCHAN_CASE_RECV, .elem = b16 };
	ASSERT_EQ(0, kchan_select(c, 2, 0));
	EXPECT_EQ(0x11, *b1);
	ASSERT_EQ(0, kchan_send(c16, v16));
	ASSERT_EQ(1, kchan_select(c, 2, 0));
	EXPECT_TRUE(kt_check(b16, 16, 3));
	/* Sends read exactly one element from the end of the page too. */
	*b1 = 0x22;
	c[0] = (struct kchan_case){ .ch = c1, .op = KCHAN_CASE_SEND, .elem = b1 };
	c[1] = (struct kchan_case){ .ch = -1, .op = KCHAN_CASE_SEND, .elem = b16 };
	ASSERT_EQ(0, kchan_select(c, 2, 0));
	ASSERT_EQ(1, kchan_recv(c1, &v1));
	EXPECT_EQ(0x22, v1);
	kt_guard_free(map);
	close(c1);
	close(c16);
}

TEST_F(sel, stop_and_continue_resume_blocked_timed_select)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		uint64_t buf = 0;
		struct kchan_case c[2] = { recv_case(self->a, &buf), recv_case(self->u, &buf) };
		int ret = kchan_select(c, 2, 10 * KT_NSEC);

		_exit(ret == 0 && buf == 1 ? 0 : 10);
	}
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 1));
	ASSERT_EQ(0, kill(pid, SIGSTOP));
	ASSERT_EQ(pid, waitpid(pid, &status, WUNTRACED));
	ASSERT_TRUE(WIFSTOPPED(status));
	ASSERT_EQ(0, kill(pid, SIGCONT));
	/* No handler ran: the call is restarted and blocks again. */
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 1));
	ASSERT_EQ(0, kt_wait_queues(self->u, 0, 1));
	ASSERT_EQ(0, kt_send_u64(self->a, 1));
	ASSERT_EQ(0, kt_waitpid(pid, &status));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(0, kchan_len(self->a));
}

TEST_F(sel, exit_ends_process_whose_thread_is_blocked_in_select)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct sel_worker w;

		sel_init(&w, -1);
		sel_add(&w, self->a, KCHAN_CASE_RECV, 0);
		sel_add(&w, self->u, KCHAN_CASE_SEND, 1);
		if (sel_start(&w) || kt_wait_queues(self->a, 0, 1) ||
		    kt_wait_queues(self->u, 1, 0))
			_exit(10);
		_exit(0);
	}
	ASSERT_EQ(0, kt_waitpid(pid, &status));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(0, kt_wait_queues(self->a, 0, 0));
	EXPECT_EQ(0, kt_wait_queues(self->u, 0, 0));
	/* Nothing was sent by the dead select. */
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->u, &(uint64_t){ 0 }));
}

/*
 * The biased select: kchan_select_biased() / KCHAN_SELECT_BIASED.
 */

/*
 * Cases 0 and 1 are never ready (a -1 case, an unbuffered channel with
 * no sender); 2, 3 and 4 are (a is in two of them).
 */
static void five_cases(FIXTURE_DATA(sel) *self, struct kchan_case c[5], uint64_t bufs[5])
{
	c[0] = recv_case(-1, &bufs[0]);
	c[1] = recv_case(self->u, &bufs[1]);
	c[2] = recv_case(self->a, &bufs[2]);
	c[3] = recv_case(self->b, &bufs[3]);
	c[4] = recv_case(self->a, &bufs[4]);
}

TEST_F(sel, biased_select_always_performs_the_first_ready_case)
{
	const int rounds = 1000;
	struct kchan_case c[5];
	uint64_t bufs[5];
	int picks[5] = { 0 };

	ASSERT_EQ(0, kt_send_u64(self->a, 1));
	ASSERT_EQ(0, kt_send_u64(self->b, 2));
	for (int r = 0; r < rounds; r++) {
		int ret;

		five_cases(self, c, bufs);
		ret = kchan_select_biased(c, 5, 0);
		ASSERT_EQ(2, ret);
		picks[ret]++;
		ASSERT_EQ(1, bufs[2]);
		EXPECT_EQ(0, c[2].closed);
		for (int i = 0; i < 5; i++) {
			if (i != 2) {
				ASSERT_EQ(KT_SENTINEL_U64, bufs[i]);
			}
		}
		ASSERT_EQ(0, kchan_len(self->a));
		ASSERT_EQ(1, kchan_len(self->b));
		ASSERT_EQ(0, kchan_try_send(self->a, &bufs[2]));
	}
	EXPECT_EQ(rounds, picks[2]);
	/* The same cases, blocking and with a timeout: still the first ready one. */
	five_cases(self, c, bufs);
	EXPECT_EQ(2, kchan_select_biased(c, 5, -1));
	EXPECT_EQ(1, bufs[2]);
	ASSERT_EQ(0, kt_send_u64(self->a, 1));
	five_cases(self, c, bufs);
	EXPECT_EQ(2, kchan_select_biased(c, 5, KT_NSEC));
	EXPECT_EQ(1, bufs[2]);
}

/* The control: the plain select over the same cases spreads over the ready ones. */
TEST_F(sel, plain_select_over_the_biased_cases_picks_each_ready_one_a_fair_share)
{
	const int rounds = 1000;
	struct kchan_case c[5];
	uint64_t bufs[5];
	int picks[5] = { 0 };

	ASSERT_EQ(0, kt_send_u64(self->a, 1));
	ASSERT_EQ(0, kt_send_u64(self->b, 2));
	for (int r = 0; r < rounds; r++) {
		int ret;

		five_cases(self, c, bufs);
		ret = kchan_select(c, 5, 0);
		ASSERT_LE(2, ret);
		ASSERT_GT(5, ret);
		picks[ret]++;
		ASSERT_EQ(0, kchan_try_send(c[ret].ch, &bufs[ret]));
	}
	TH_LOG("%d %d %d %d %d", picks[0], picks[1], picks[2], picks[3], picks[4]);
	/* Each of three: 1/3 expected, 200 is ~9 sigma below. */
	EXPECT_LE(200, picks[2]);
	EXPECT_LE(200, picks[3]);
	EXPECT_LE(200, picks[4]);
}

/*
 * Case j is the first ready one; every earlier case is not ready, each
 * of another kind: a -1 receive or send case, a receive on an empty
 * buffered or an unbuffered channel without sender, a send on a full
 * channel or an unbuffered channel without receiver.  Every later case
 * is ready.  The biased select performs case j, 100 times each.
 */
TEST_F(sel, biased_select_skips_every_kind_of_earlier_case_not_ready)
{
	enum { N = 8 };
	int full = KT_MAKE_CHAN(sizeof(uint64_t), 1, 0);
	int room = KT_MAKE_CHAN(sizeof(uint64_t), 1000, 0);
	uint64_t bufs[N], send_v[N];
	struct kchan_case c[N];

	ASSERT_EQ(0, kt_send_u64(full, 42));
	ASSERT_EQ(0, kt_send_u64(self->a, 7));
	for (int j = 0; j < N; j++) {
		for (int r = 0; r < 100; r++) {
			int ret;

			for (int i = 0; i < N; i++) {
				send_v[i] = 1000 * j + i;
				if (i < j) {
					switch (i % 6) {
					case 0: c[i] = recv_case(-1, &bufs[i]); break;
					case 1: c[i] = recv_case(self->b, &bufs[i]); break;
					case 2: c[i] = recv_case(self->u, &bufs[i]); break;
					case 3: c[i] = send_case(full, &send_v[i]); break;
					case 4: c[i] = send_case(self->v, &send_v[i]); break;
					default: c[i] = send_case(-1, &send_v[i]); break;
					}
				} else if ((i - j) % 2 == 0) {
					c[i] = recv_case(self->a, &bufs[i]);
				} else {
					bufs[i] = KT_SENTINEL_U64;
					c[i] = send_case(room, &send_v[i]);
				}
			}
			ret = kchan_select_biased(c, N, 0);
			ASSERT_EQ(j, ret) TH_LOG("round %d", r);
			ASSERT_EQ(7, bufs[j]);
			for (int i = 0; i < N; i++) {
				if (i != j && c[i].op == KCHAN_CASE_RECV) {
					ASSERT_EQ(KT_SENTINEL_U64, bufs[i]) TH_LOG("case %d", i);
				}
			}
			/* Nothing happened elsewhere. */
			ASSERT_EQ(0, kchan_len(room));
			ASSERT_EQ(1, kchan_len(full));
			ASSERT_EQ(0, kchan_len(self->b));
			ASSERT_EQ(0, kt_send_u64(self->a, 7));
		}
	}
	close(full);
	close(room);
}

/* A send case first: it is the one performed, the later receive stays. */
TEST_F(sel, biased_select_first_ready_send_case_wins_over_later_recv)
{
	uint64_t v = 5, bufs[3], got;
	struct kchan_case c[3];

	ASSERT_EQ(0, kt_send_u64(self->b, 9));
	for (int r = 0; r < 100; r++) {
		c[0] = recv_case(self->u, &bufs[0]);
		c[1] = send_case(self->a, &v);
		c[2] = recv_case(self->b, &bufs[2]);
		ASSERT_EQ(1, kchan_select_biased(c, 3, 0));
		ASSERT_EQ(1, kchan_len(self->a));
		ASSERT_EQ(1, kchan_len(self->b));
		ASSERT_EQ(KT_SENTINEL_U64, bufs[2]);
		ASSERT_EQ(1, kchan_try_recv(self->a, &got));
		ASSERT_EQ(5, got);
	}
}

/*
 * A closed channel's cases are ready: a receive case reports closed, a
 * send case fails the select with EPIPE - when it comes first.
 */
TEST_F(sel, biased_select_closed_channel_cases_are_ready_in_array_order)
{
	int closed = KT_MAKE_CHAN(sizeof(uint64_t), CAP, 0);
	uint64_t v = 3, bufs[3];
	struct kchan_case c[3];

	ASSERT_EQ(0, kchan_close(closed));
	ASSERT_EQ(0, kt_send_u64(self->a, 1));

	c[0] = recv_case(self->u, &bufs[0]);
	c[1] = recv_case(closed, &bufs[1]);
	c[2] = recv_case(self->a, &bufs[2]);
	EXPECT_EQ(1, kchan_select_biased(c, 3, 0));
	EXPECT_EQ(1, c[1].closed);
	EXPECT_EQ(KT_SENTINEL_U64, bufs[1]);
	EXPECT_EQ(KT_SENTINEL_U64, bufs[2]);
	EXPECT_EQ(1, kchan_len(self->a));

	c[1] = send_case(closed, &v);
	c[2] = recv_case(self->a, &bufs[2]);
	EXPECT_EQ(-EPIPE, kchan_select_biased(c, 3, 0));
	EXPECT_EQ(KT_SENTINEL_U64, bufs[2]);
	EXPECT_EQ(1, kchan_len(self->a));

	/* After a ready receive case, the closed channel's cases are not reached. */
	c[0] = recv_case(self->a, &bufs[0]);
	c[1] = send_case(closed, &v);
	c[2] = recv_case(closed, &bufs[2]);
	EXPECT_EQ(0, kchan_select_biased(c, 3, 0));
	EXPECT_EQ(1, bufs[0]);
	EXPECT_EQ(0, c[0].closed);
	EXPECT_EQ(KT_SENTINEL_U64, bufs[2]);
	close(closed);
}

TEST_F(sel, biased_select_nothing_ready_default_eagain_timeout_etimedout)
{
	const int64_t timeout = 50 * KT_MSEC;
	struct kchan_case c[5];
	uint64_t bufs[5];
	int64_t start;

	five_cases(self, c, bufs);
	EXPECT_EQ(-EAGAIN, kchan_select_biased(c, 5, 0));
	start = kt_now_ns();
	EXPECT_EQ(-ETIMEDOUT, kchan_select_biased(c, 5, timeout));
	EXPECT_LE(timeout, kt_now_ns() - start);
	for (int i = 0; i < 5; i++)
		EXPECT_EQ(KT_SENTINEL_U64, bufs[i]);
	EXPECT_EQ(0, kt_wait_queues(self->a, 0, 0));
	EXPECT_EQ(0, kt_wait_queues(self->b, 0, 0));
}

/*
 * A biased select that has to block proceeds with the case that becomes
 * ready, here the last one: a send from another thread to an unbuffered
 * channel (handed over to the select's waiter) ...
 */
TEST_F(sel, blocked_biased_select_woken_by_a_send_to_its_last_case)
{
	struct sel_worker w;
	struct kt_worker s;

	sel_init(&w, -1);
	w.biased = true;
	sel_add(&w, self->a, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->b, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->u, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->v, KCHAN_CASE_RECV, 0);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 1));
	ASSERT_EQ(0, kt_wait_queues(self->b, 0, 1));
	ASSERT_EQ(0, kt_wait_queues(self->u, 0, 1));
	ASSERT_EQ(0, kt_wait_queues(self->v, 0, 1));
	EXPECT_FALSE(atomic_load(&w.done));

	ASSERT_EQ(0, kt_start_send_u64(&s, self->v, 0xb1a5));
	ASSERT_EQ(0, kt_worker_join(&s));
	EXPECT_EQ(0, s.ret);
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(3, w.ret);
	EXPECT_EQ(0xb1a5, w.elems[3]);
	EXPECT_EQ(0, w.cases[3].closed);
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(KT_SENTINEL_U64, w.elems[i]);
	for (int ch = 0; ch < 4; ch++)
		EXPECT_EQ(0, kt_wait_queues((int[]){ self->a, self->b, self->u, self->v }[ch], 0, 0));
}

/* ... and a send to a buffered channel, the last case, with a timeout. */
TEST_F(sel, blocked_timed_biased_select_woken_by_a_buffered_send_to_its_last_case)
{
	struct sel_worker w;
	struct kt_worker s;

	sel_init(&w, 10 * KT_NSEC);
	w.biased = true;
	sel_add(&w, -1, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->u, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->a, KCHAN_CASE_RECV, 0);
	sel_add(&w, self->b, KCHAN_CASE_RECV, 0);
	ASSERT_EQ(0, sel_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->u, 0, 1));
	ASSERT_EQ(0, kt_wait_queues(self->a, 0, 1));
	ASSERT_EQ(0, kt_wait_queues(self->b, 0, 1));

	ASSERT_EQ(0, kt_start_send_u64(&s, self->b, 0xb1a6));
	ASSERT_EQ(0, kt_worker_join(&s));
	EXPECT_EQ(0, s.ret);
	ASSERT_EQ(0, sel_join(&w));
	EXPECT_EQ(3, w.ret);
	EXPECT_EQ(0xb1a6, w.elems[3]);
	EXPECT_EQ(0, kchan_len(self->b));
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(KT_SENTINEL_U64, w.elems[i]);
	EXPECT_EQ(0, kt_wait_queues(self->u, 0, 0));
	EXPECT_EQ(0, kt_wait_queues(self->a, 0, 0));
}

TEST_HARNESS_MAIN
