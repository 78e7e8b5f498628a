// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: read(2), write(2), poll(2) and epoll on a channel.
 *
 * read/write move whole elements (EINVAL otherwise), block until at least
 * one element moved and return the bytes moved; read returns 0 once the
 * channel is closed and drained.  poll reports readable, writable and
 * POLLHUP as the contract says, and a task blocked in poll/epoll_wait is
 * woken by a send, a receive or a close from another thread.  A receive
 * that refills a full ring from a blocked sender wakes edge-triggered
 * EPOLLIN waiters, and a stress of that path (forked senders, one ET
 * consumer) never leaves the consumer asleep on a readable channel.
 */
#include <sys/prctl.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

#define ES	16	/* element size of the fixture's channel */
#define CAP	4

FIXTURE(rw) {
	int ch;
	unsigned char buf[(CAP + 2) * ES];
};

FIXTURE_SETUP(rw)
{
	self->ch = KT_MAKE_CHAN(ES, CAP, 0);
	/* A write on a closed channel must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
}

FIXTURE_TEARDOWN(rw)
{
	close(self->ch);
}

/* read(2)/write(2) as bytes or -errno. */
static ssize_t rd(int fd, void *buf, size_t len)
{
	ssize_t ret = read(fd, buf, len);

	return ret < 0 ? -errno : ret;
}

static ssize_t wr(int fd, const void *buf, size_t len)
{
	ssize_t ret = write(fd, buf, len);

	return ret < 0 ? -errno : ret;
}

/* Elements @first .. @first + @n - 1 back to back in @buf. */
static void fill_seq(unsigned char *buf, uint64_t first, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kt_fill(buf + i * ES, ES, first + i);
}

static bool check_seq(const unsigned char *buf, uint64_t first, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!kt_check(buf + i * ES, ES, first + i))
			return false;
	return true;
}

TEST_F(rw, write_one_element_and_read_it_back)
{
	fill_seq(self->buf, 1, 1);
	ASSERT_EQ(ES, wr(self->ch, self->buf, ES));
	EXPECT_EQ(1, kchan_len(self->ch));
	memset(self->buf, 0, sizeof(self->buf));
	ASSERT_EQ(ES, rd(self->ch, self->buf, ES));
	EXPECT_TRUE(check_seq(self->buf, 1, 1));
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(rw, write_and_read_several_elements_at_once)
{
	fill_seq(self->buf, 10, 3);
	ASSERT_EQ(3 * ES, wr(self->ch, self->buf, 3 * ES));
	EXPECT_EQ(3, kchan_len(self->ch));
	memset(self->buf, 0, sizeof(self->buf));
	ASSERT_EQ(3 * ES, rd(self->ch, self->buf, 3 * ES));
	EXPECT_TRUE(check_seq(self->buf, 10, 3));
}

TEST_F(rw, read_returns_only_the_elements_ready)
{
	fill_seq(self->buf, 20, 3);
	ASSERT_EQ(3 * ES, wr(self->ch, self->buf, 3 * ES));
	memset(self->buf, 0, sizeof(self->buf));
	ASSERT_EQ(3 * ES, rd(self->ch, self->buf, (CAP + 2) * ES));
	EXPECT_TRUE(check_seq(self->buf, 20, 3));
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(rw, write_moves_what_fits_without_blocking)
{
	fill_seq(self->buf, 30, CAP + 2);
	ASSERT_EQ(CAP * ES, wr(self->ch, self->buf, (CAP + 2) * ES));
	EXPECT_EQ(CAP, kchan_len(self->ch));
	memset(self->buf, 0, sizeof(self->buf));
	ASSERT_EQ(CAP * ES, rd(self->ch, self->buf, sizeof(self->buf)));
	EXPECT_TRUE(check_seq(self->buf, 30, CAP));
}

TEST_F(rw, length_not_a_multiple_of_the_element_size_einval)
{
	static const size_t bad[] = { 1, ES - 1, ES + 1, 2 * ES + 3 };

	fill_seq(self->buf, 40, 3);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, wr(self->ch, self->buf, bad[i])) TH_LOG("write %zu", bad[i]);
	}
	EXPECT_EQ(0, kchan_len(self->ch));

	ASSERT_EQ(ES, wr(self->ch, self->buf, ES));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(-EINVAL, rd(self->ch, self->buf + ES, bad[i])) TH_LOG("read %zu", bad[i]);
	}
	EXPECT_EQ(1, kchan_len(self->ch));
	ASSERT_EQ(ES, rd(self->ch, self->buf, ES));
	EXPECT_TRUE(check_seq(self->buf, 40, 1));
}

TEST_F(rw, read_blocks_until_an_element_arrives)
{
	unsigned char elem[ES];
	struct kt_worker w;

	kt_worker_init(&w, self->ch, KT_READ);
	w.buf = self->buf;
	w.n = 2 * ES;
	ASSERT_EQ(0, kt_worker_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	EXPECT_FALSE(atomic_load(&w.done));
	kt_fill(elem, ES, 50);
	ASSERT_EQ(0, kchan_send(self->ch, elem));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(ES, w.ret);
	EXPECT_TRUE(check_seq(self->buf, 50, 1));
}

TEST_F(rw, write_blocks_until_room_then_returns_what_moved)
{
	unsigned char batch[2 * ES], elem[ES];
	struct kt_worker w;

	fill_seq(self->buf, 0, CAP);
	ASSERT_EQ(CAP * ES, wr(self->ch, self->buf, CAP * ES));
	fill_seq(batch, CAP, 2);
	kt_worker_init(&w, self->ch, KT_WRITE);
	w.buf = batch;
	w.n = sizeof(batch);
	ASSERT_EQ(0, kt_worker_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	EXPECT_FALSE(atomic_load(&w.done));

	/* One slot frees: the first element goes, the write returns. */
	ASSERT_EQ(1, kchan_recv(self->ch, elem));
	EXPECT_TRUE(kt_check(elem, ES, 0));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(ES, w.ret);
	memset(self->buf, 0, sizeof(self->buf));
	ASSERT_EQ(CAP * ES, rd(self->ch, self->buf, sizeof(self->buf)));
	EXPECT_TRUE(check_seq(self->buf, 1, CAP));
}

TEST_F(rw, read_returns_zero_once_closed_and_drained)
{
	fill_seq(self->buf, 60, 2);
	ASSERT_EQ(2 * ES, wr(self->ch, self->buf, 2 * ES));
	ASSERT_EQ(0, kchan_close(self->ch));
	memset(self->buf, 0xa5, sizeof(self->buf));
	ASSERT_EQ(2 * ES, rd(self->ch, self->buf, 3 * ES));
	EXPECT_TRUE(check_seq(self->buf, 60, 2));
	memset(self->buf, 0xa5, sizeof(self->buf));
	EXPECT_EQ(0, rd(self->ch, self->buf, ES));
	EXPECT_EQ(0, rd(self->ch, self->buf, 2 * ES));
	EXPECT_EQ(0xa5, self->buf[0]);
}

TEST_F(rw, blocked_read_woken_by_close_returns_zero)
{
	struct kt_worker w;

	kt_worker_init(&w, self->ch, KT_READ);
	w.buf = self->buf;
	w.n = ES;
	memset(self->buf, 0xa5, sizeof(self->buf));
	ASSERT_EQ(0, kt_worker_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	ASSERT_EQ(0, kchan_close(self->ch));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(0, w.ret);
	EXPECT_EQ(0xa5, self->buf[0]);
}

TEST_F(rw, write_after_close_epipe)
{
	fill_seq(self->buf, 0, 1);
	ASSERT_EQ(0, kchan_close(self->ch));
	EXPECT_EQ(-EPIPE, wr(self->ch, self->buf, ES));
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(rw, blocked_write_woken_by_close_epipe)
{
	unsigned char elem[ES];
	struct kt_worker w;

	fill_seq(self->buf, 0, CAP);
	ASSERT_EQ(CAP * ES, wr(self->ch, self->buf, CAP * ES));
	kt_worker_init(&w, self->ch, KT_WRITE);
	kt_fill(w.elem, ES, 99);
	w.n = ES;
	ASSERT_EQ(0, kt_worker_start(&w));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	ASSERT_EQ(0, kchan_close(self->ch));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(-EPIPE, w.ret);
	EXPECT_EQ(CAP, kchan_len(self->ch));
	for (int i = 0; i < CAP; i++) {
		ASSERT_EQ(1, kchan_recv(self->ch, elem));
		EXPECT_TRUE(kt_check(elem, ES, i));
	}
	EXPECT_EQ(0, kchan_recv(self->ch, elem));
}

TEST_F(rw, o_nonblock_read_and_write_eagain)
{
	ASSERT_EQ(0, fcntl(self->ch, F_SETFL, fcntl(self->ch, F_GETFL) | O_NONBLOCK));
	EXPECT_EQ(-EAGAIN, rd(self->ch, self->buf, ES));
	fill_seq(self->buf, 0, CAP + 1);
	ASSERT_EQ(CAP * ES, wr(self->ch, self->buf, (CAP + 1) * ES));
	EXPECT_EQ(-EAGAIN, wr(self->ch, self->buf + CAP * ES, ES));
	EXPECT_EQ(CAP, kchan_len(self->ch));
}

TEST_F(rw, read_into_bad_buffer_efault_element_stays)
{
	fill_seq(self->buf, 70, 1);
	ASSERT_EQ(ES, wr(self->ch, self->buf, ES));
	EXPECT_EQ(-EFAULT, rd(self->ch, kt_bad_ptr(1), ES));
	EXPECT_EQ(-EFAULT, rd(self->ch, kt_noaccess_addr(), ES));
	EXPECT_EQ(1, kchan_len(self->ch));
	memset(self->buf, 0, sizeof(self->buf));
	ASSERT_EQ(ES, rd(self->ch, self->buf, ES));
	EXPECT_TRUE(check_seq(self->buf, 70, 1));
}

TEST_F(rw, write_from_bad_buffer_efault_nothing_queued)
{
	EXPECT_EQ(-EFAULT, wr(self->ch, kt_bad_ptr(0), ES));
	EXPECT_EQ(-EFAULT, wr(self->ch, kt_noaccess_addr(), 2 * ES));
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(rw, write_then_recv_and_send_then_read_interoperate)
{
	unsigned char elem[ES];

	fill_seq(self->buf, 80, 1);
	ASSERT_EQ(ES, wr(self->ch, self->buf, ES));
	ASSERT_EQ(1, kchan_recv(self->ch, elem));
	EXPECT_TRUE(kt_check(elem, ES, 80));

	kt_fill(elem, ES, 81);
	ASSERT_EQ(0, kchan_send(self->ch, elem));
	ASSERT_EQ(ES, rd(self->ch, self->buf, ES));
	EXPECT_TRUE(check_seq(self->buf, 81, 1));
}

TEST(read_write_largest_elements)
{
	const size_t es = KCHAN_ELEM_SIZE_MAX;
	int ch = KT_MAKE_CHAN(es, 2, 0);
	unsigned char *buf = malloc(3 * es);
	ssize_t ret;

	ASSERT_NE(NULL, buf);
	for (int i = 0; i < 3; i++)
		kt_fill(buf + i * es, es, 500 + i);
	ret = write(ch, buf, 3 * es);
	ASSERT_EQ((ssize_t)(2 * es), ret);
	memset(buf, 0, 3 * es);
	ret = read(ch, buf, 3 * es);
	ASSERT_EQ((ssize_t)(2 * es), ret);
	EXPECT_TRUE(kt_check(buf, es, 500));
	EXPECT_TRUE(kt_check(buf + es, es, 501));
	free(buf);
	close(ch);
}

/* poll(2) readiness in each state, without blocking. */
static short poll_now(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int ret = poll(&pfd, 1, 0);

	return ret < 0 ? -errno : ret == 0 ? 0 : pfd.revents;
}

#define ALL	(POLLIN | POLLOUT)
#define SEEN	(POLLIN | POLLOUT | POLLHUP | POLLERR | POLLNVAL)

TEST_F(rw, poll_empty_writable_not_readable)
{
	EXPECT_EQ(POLLOUT, poll_now(self->ch, ALL) & SEEN);
}

TEST_F(rw, poll_partly_full_readable_and_writable)
{
	fill_seq(self->buf, 0, 1);
	ASSERT_EQ(ES, wr(self->ch, self->buf, ES));
	EXPECT_EQ(POLLIN | POLLOUT, poll_now(self->ch, ALL) & SEEN);
}

TEST_F(rw, poll_full_readable_not_writable)
{
	fill_seq(self->buf, 0, CAP);
	ASSERT_EQ(CAP * ES, wr(self->ch, self->buf, CAP * ES));
	EXPECT_EQ(POLLIN, poll_now(self->ch, ALL) & SEEN);
	EXPECT_EQ(0, poll_now(self->ch, POLLOUT));
}

TEST_F(rw, poll_closed_readable_with_pollhup)
{
	fill_seq(self->buf, 0, 1);
	ASSERT_EQ(ES, wr(self->ch, self->buf, ES));
	ASSERT_EQ(0, kchan_close(self->ch));
	/* Closed with an element queued, then closed and drained. */
	EXPECT_EQ(POLLIN | POLLHUP, poll_now(self->ch, POLLIN) & SEEN);
	ASSERT_EQ(ES, rd(self->ch, self->buf, ES));
	EXPECT_EQ(POLLIN | POLLHUP, poll_now(self->ch, POLLIN) & SEEN);
	/* POLLHUP is reported whatever was asked for. */
	EXPECT_EQ(POLLHUP, poll_now(self->ch, 0) & POLLHUP);
}

TEST_F(rw, epoll_level_triggered_follows_the_state)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->ch, &ev));

	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 0));
	EXPECT_EQ(EPOLLOUT, ev.events);

	fill_seq(self->buf, 0, CAP);
	ASSERT_EQ(ES, wr(self->ch, self->buf, ES));
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 0));
	EXPECT_EQ(EPOLLIN | EPOLLOUT, ev.events);

	ASSERT_EQ((CAP - 1) * ES, wr(self->ch, self->buf, (CAP - 1) * ES));
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 0));
	EXPECT_EQ(EPOLLIN, ev.events);

	ASSERT_EQ(CAP * ES, rd(self->ch, self->buf, sizeof(self->buf)));
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 0));
	EXPECT_EQ(EPOLLOUT, ev.events);

	ASSERT_EQ(0, kchan_close(self->ch));
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 0));
	EXPECT_EQ(EPOLLIN | EPOLLHUP, ev.events & (EPOLLIN | EPOLLHUP));
	close(ep);
}

TEST_F(rw, epoll_edge_triggered_reports_a_new_edge_after_drain)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	int ep = epoll_create1(EPOLL_CLOEXEC);

	ASSERT_LE(0, ep);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->ch, &ev));
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));

	fill_seq(self->buf, 0, 2);
	ASSERT_EQ(ES, wr(self->ch, self->buf, ES));
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 0));
	EXPECT_EQ(EPOLLIN, ev.events);
	/* Reported once per edge. */
	EXPECT_EQ(0, epoll_wait(ep, &ev, 1, 0));

	ASSERT_EQ(ES, rd(self->ch, self->buf, ES));
	ASSERT_EQ(ES, wr(self->ch, self->buf + ES, ES));
	ASSERT_EQ(1, epoll_wait(ep, &ev, 1, 0));
	EXPECT_EQ(EPOLLIN, ev.events);
	close(ep);
}

/*
 * A task blocked in poll()/epoll_wait() is woken by another thread's
 * send, receive or close.  The test waits until the worker sleeps in the
 * system call (/proc/self/task/TID/syscall) before acting.
 */
enum wake_action { WAKE_SEND, WAKE_WRITE, WAKE_RECV, WAKE_READ, WAKE_CLOSE };

FIXTURE(wake) {
	int ch;
	int ep;
};

FIXTURE_VARIANT(wake) {
	bool epoll;
	bool edge;		/* EPOLLET */
	bool full;		/* fill the channel first */
	short events;		/* POLLIN and/or POLLOUT (same bits as EPOLL*) */
	enum wake_action action;
	short expect;		/* bits that must be reported... */
	short care;		/* ...among these */
};

FIXTURE_VARIANT_ADD(wake, poll_in_by_send) {
	.events = POLLIN, .action = WAKE_SEND, .expect = POLLIN, .care = POLLIN | POLLHUP,
};
FIXTURE_VARIANT_ADD(wake, poll_in_by_write) {
	.events = POLLIN, .action = WAKE_WRITE, .expect = POLLIN, .care = POLLIN | POLLHUP,
};
FIXTURE_VARIANT_ADD(wake, poll_out_by_recv) {
	.full = true, .events = POLLOUT, .action = WAKE_RECV,
	.expect = POLLOUT, .care = POLLOUT | POLLHUP,
};
FIXTURE_VARIANT_ADD(wake, poll_out_by_read) {
	.full = true, .events = POLLOUT, .action = WAKE_READ,
	.expect = POLLOUT, .care = POLLOUT | POLLHUP,
};
FIXTURE_VARIANT_ADD(wake, poll_in_by_close) {
	.events = POLLIN, .action = WAKE_CLOSE,
	.expect = POLLIN | POLLHUP, .care = POLLIN | POLLHUP,
};
FIXTURE_VARIANT_ADD(wake, poll_out_by_close) {
	.full = true, .events = POLLOUT, .action = WAKE_CLOSE,
	.expect = POLLHUP, .care = POLLHUP,
};
FIXTURE_VARIANT_ADD(wake, epoll_in_by_send) {
	.epoll = true, .events = POLLIN, .action = WAKE_SEND,
	.expect = POLLIN, .care = POLLIN | POLLHUP,
};
FIXTURE_VARIANT_ADD(wake, epoll_out_by_recv) {
	.epoll = true, .full = true, .events = POLLOUT, .action = WAKE_RECV,
	.expect = POLLOUT, .care = POLLOUT | POLLHUP,
};
FIXTURE_VARIANT_ADD(wake, epoll_in_by_close) {
	.epoll = true, .events = POLLIN, .action = WAKE_CLOSE,
	.expect = POLLIN | POLLHUP, .care = POLLIN | POLLHUP,
};
FIXTURE_VARIANT_ADD(wake, epoll_out_by_close) {
	.epoll = true, .full = true, .events = POLLOUT, .action = WAKE_CLOSE,
	.expect = POLLHUP, .care = POLLHUP,
};
FIXTURE_VARIANT_ADD(wake, epoll_edge_in_by_send) {
	.epoll = true, .edge = true, .events = POLLIN, .action = WAKE_SEND,
	.expect = POLLIN, .care = POLLIN | POLLHUP,
};
FIXTURE_VARIANT_ADD(wake, epoll_edge_out_by_recv) {
	.epoll = true, .edge = true, .full = true, .events = POLLOUT, .action = WAKE_RECV,
	.expect = POLLOUT, .care = POLLOUT | POLLHUP,
};

FIXTURE_SETUP(wake)
{
	unsigned char buf[CAP * ES];

	self->ep = -1;
	self->ch = KT_MAKE_CHAN(ES, CAP, 0);
	if (variant->full) {
		fill_seq(buf, 0, CAP);
		ASSERT_EQ(CAP * ES, wr(self->ch, buf, sizeof(buf)));
	}
	if (variant->epoll) {
		struct epoll_event ev = { .events = (uint32_t)variant->events };

		if (variant->edge)
			ev.events |= EPOLLET;
		self->ep = epoll_create1(EPOLL_CLOEXEC);
		ASSERT_LE(0, self->ep);
		ASSERT_EQ(0, epoll_ctl(self->ep, EPOLL_CTL_ADD, self->ch, &ev));
	}
}

FIXTURE_TEARDOWN(wake)
{
	if (self->ep >= 0)
		close(self->ep);
	close(self->ch);
}

static const long poll_nrs[] = { SYS_poll, SYS_ppoll };
static const long ioctl_nrs[] = { __NR_ioctl };

static const long epoll_nrs[] = {
	SYS_epoll_wait, SYS_epoll_pwait,
#ifdef SYS_epoll_pwait2
	SYS_epoll_pwait2,
#endif
};

TEST_F(wake, blocked_waiter_woken_by_another_thread)
{
	unsigned char elem[CAP * ES];
	struct kt_worker w;

	if (variant->epoll) {
		kt_worker_init(&w, self->ep, KT_EPOLL);
	} else {
		kt_worker_init(&w, self->ch, KT_POLL);
		w.events = variant->events;
	}
	ASSERT_EQ(0, kt_worker_start(&w));
	if (variant->epoll) {
		ASSERT_EQ(0, kt_wait_in_syscall(w.tid, epoll_nrs, ARRAY_SIZE(epoll_nrs)));
	} else {
		ASSERT_EQ(0, kt_wait_in_syscall(w.tid, poll_nrs, ARRAY_SIZE(poll_nrs)));
	}
	EXPECT_FALSE(atomic_load(&w.done));

	kt_fill(elem, ES, 1);
	switch (variant->action) {
	case WAKE_SEND:
		ASSERT_EQ(0, kchan_send(self->ch, elem));
		break;
	case WAKE_WRITE:
		ASSERT_EQ(ES, wr(self->ch, elem, ES));
		break;
	case WAKE_RECV:
		ASSERT_EQ(1, kchan_recv(self->ch, elem));
		break;
	case WAKE_READ:
		ASSERT_EQ(ES, rd(self->ch, elem, ES));
		break;
	case WAKE_CLOSE:
		ASSERT_EQ(0, kchan_close(self->ch));
		break;
	}
	ASSERT_EQ(0, kt_worker_join(&w));
	ASSERT_LT(0, w.ret) TH_LOG("poll/epoll_wait: %s", strerror(-w.ret));
	EXPECT_EQ(variant->expect, w.ret & variant->care);
}

/*
 * A receive that frees the slot of a full ring moves the first blocked
 * sender's element into it: the ring stays readable, and the receive must
 * wake pollers with EPOLLIN as well (the module once woke them with
 * EPOLLOUT only, so an edge-triggered EPOLLIN waiter never saw the new
 * element).  Capacity 1: A fills the ring, B is parked by a blocked
 * sender; receiving A refills the ring with B.
 */
#define REFILL_A	0x1111aaaa1111aaaaULL
#define REFILL_B	0x2222bbbb2222bbbbULL

FIXTURE(refill) {
	int ch;
	int ep;
	struct kt_worker sender;
	bool sender_started;
};

FIXTURE_VARIANT(refill) {
	bool edge;		/* EPOLLIN | EPOLLET, else EPOLLIN (level) */
	bool blocked_waiter;	/* a thread sleeps in epoll_wait() meanwhile */
};

/* The test thread calls epoll_wait() (timeout 1 s) after the receive. */
FIXTURE_VARIANT_ADD(refill, edge) {
	.edge = true,
};
/* A thread already asleep in epoll_wait() must be woken by the receive. */
FIXTURE_VARIANT_ADD(refill, edge_blocked_waiter) {
	.edge = true, .blocked_waiter = true,
};
FIXTURE_VARIANT_ADD(refill, level) {
	.edge = false,
};

FIXTURE_SETUP(refill)
{
	struct epoll_event ev = { .events = EPOLLIN };

	self->ep = -1;
	self->ch = KT_MAKE_CHAN(sizeof(uint64_t), 1, 0);
	ASSERT_EQ(0, kt_send_u64(self->ch, REFILL_A));
	ASSERT_EQ(0, kt_start_send_u64(&self->sender, self->ch, REFILL_B));
	self->sender_started = true;
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	/*
	 * Queued is not yet asleep: the sender wakes the channel's pollers
	 * after it queued itself, which would be an edge of its own for the
	 * epoll registered below.  Asleep in its ioctl, it has done so.
	 */
	ASSERT_EQ(0, kt_wait_in_syscall(self->sender.tid, ioctl_nrs,
					ARRAY_SIZE(ioctl_nrs)));
	ASSERT_EQ(1, kchan_len(self->ch));

	if (variant->edge)
		ev.events |= EPOLLET;
	self->ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, self->ep);
	ASSERT_EQ(0, epoll_ctl(self->ep, EPOLL_CTL_ADD, self->ch, &ev));
}

FIXTURE_TEARDOWN(refill)
{
	/* A sender still blocked (a failed test) fails with EPIPE. */
	kchan_close(self->ch);
	if (self->sender_started)
		kt_worker_join(&self->sender);
	if (self->ep >= 0)
		close(self->ep);
	close(self->ch);
}

TEST_F(refill, recv_that_refills_from_blocked_sender_reports_epollin)
{
	struct epoll_event ev = { 0 };
	struct kt_worker waiter;
	uint64_t v = 0;
	int ret;

	/* Full ring and a blocked sender: readable, not writable. */
	EXPECT_EQ(POLLIN, poll_now(self->ch, ALL) & SEEN);
	ASSERT_EQ(1, epoll_wait(self->ep, &ev, 1, 0));
	EXPECT_EQ(EPOLLIN, ev.events);
	if (variant->edge) {
		/* The initial edge is consumed: nothing more until a wake-up. */
		ASSERT_EQ(0, epoll_wait(self->ep, &ev, 1, 0));
	}
	if (variant->blocked_waiter) {
		kt_worker_init(&waiter, self->ep, KT_EPOLL);
		ASSERT_EQ(0, kt_worker_start(&waiter));
		ASSERT_EQ(0, kt_wait_in_syscall(waiter.tid, epoll_nrs,
						ARRAY_SIZE(epoll_nrs)));
		EXPECT_FALSE(atomic_load(&waiter.done));
	}

	/* Take A: B moves from the blocked sender into the ring. */
	ASSERT_EQ(1, kchan_recv(self->ch, &v));
	EXPECT_EQ(REFILL_A, v);

	if (variant->blocked_waiter) {
		ret = kt_worker_join(&waiter);
		ASSERT_EQ(0, ret)
			TH_LOG("epoll_wait() not woken: the receive woke pollers without EPOLLIN");
		EXPECT_EQ(EPOLLIN, waiter.ret)
			TH_LOG("epoll_wait() returned %ld", waiter.ret);
	} else {
		memset(&ev, 0, sizeof(ev));
		ret = epoll_wait(self->ep, &ev, 1, 1000);
		ASSERT_EQ(1, ret)
			TH_LOG("no EPOLLIN after a receive refilled the ring from a blocked sender (epoll_wait: %d)",
			       ret);
		EXPECT_EQ(EPOLLIN, ev.events);
	}
	/* Still full (B), the sender gone: readable, not writable. */
	EXPECT_EQ(POLLIN, poll_now(self->ch, ALL) & SEEN);
	if (variant->edge) {
		/* One wake-up, one edge. */
		EXPECT_EQ(0, epoll_wait(self->ep, &ev, 1, 0));
	}

	ASSERT_EQ(0, kt_worker_join(&self->sender));
	self->sender_started = false;
	EXPECT_EQ(0, self->sender.ret);
	ASSERT_EQ(1, kchan_try_recv(self->ch, &v));
	EXPECT_EQ(REFILL_B, v);
	EXPECT_EQ(POLLOUT, poll_now(self->ch, ALL) & SEEN);
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &v));
}

/*
 * Stress of the same path: STRESS_SENDERS processes send into a channel
 * of capacity 1, so senders are blocked nearly all the time and most
 * receives refill the ring from one of them.  One consumer waits with
 * edge-triggered epoll and receives without blocking.  An epoll_wait()
 * that times out while elements remain unreceived is a missed wake-up.
 *
 * Each sender sends its sequence numbers 0, 1, ... (its id in the high
 * bits): STRESS_PER_SENDER of them, or fewer if STRESS_BUDGET_NS runs out
 * first (only on a slow debug kernel), then an end marker that carries the
 * count.  So the consumer knows exactly what must arrive: every value once,
 * in order per sender, and the marker last.
 *
 * drain: after each event, receive until EAGAIN (the usual ET idiom).
 * one_per_event: receive one element per event; what is left must be
 * announced by the wake-up of that very receive, which carries EPOLLIN
 * whenever the channel is still readable.
 */
#define STRESS_SENDERS		4
#define STRESS_PER_SENDER	2000
#define STRESS_BUDGET_NS	(4 * KT_NSEC)
#define STRESS_EPOLL_MS		2000
#define STRESS_END		(1ULL << 31)	/* end marker; the count below */
#define STRESS_SEQ		(STRESS_END - 1)

FIXTURE(refill_stress) {
	int ch;
	int ep;
	pid_t pids[STRESS_SENDERS];
};

FIXTURE_VARIANT(refill_stress) {
	bool drain;
};

FIXTURE_VARIANT_ADD(refill_stress, drain) {
	.drain = true,
};
FIXTURE_VARIANT_ADD(refill_stress, one_per_event) {
	.drain = false,
};

static void stress_sender(int ch, uint64_t id, pid_t parent, int64_t stop)
{
	uint64_t i, v;

	/* Never outlive a test process that gave up. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(3);
	for (i = 0; i < STRESS_PER_SENDER && kt_now_ns() < stop; i++) {
		v = id << 32 | i;
		if (kchan_send(ch, &v))
			_exit(1);
	}
	v = id << 32 | STRESS_END | i;
	_exit(kchan_send(ch, &v) ? 2 : 0);
}

FIXTURE_SETUP(refill_stress)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	int64_t stop = kt_now_ns() + STRESS_BUDGET_NS;
	pid_t parent = getpid();

	self->ep = -1;
	self->ch = KT_MAKE_CHAN(sizeof(uint64_t), 1, 0);
	self->ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_LE(0, self->ep);
	ASSERT_EQ(0, epoll_ctl(self->ep, EPOLL_CTL_ADD, self->ch, &ev));
	for (int i = 0; i < STRESS_SENDERS; i++) {
		self->pids[i] = fork();
		ASSERT_LE(0, self->pids[i]);
		if (!self->pids[i])
			stress_sender(self->ch, i, parent, stop);
	}
}

FIXTURE_TEARDOWN(refill_stress)
{
	/* Senders left over by a failed test. */
	for (int i = 0; i < STRESS_SENDERS; i++) {
		if (self->pids[i] > 0) {
			kill(self->pids[i], SIGKILL);
			waitpid(self->pids[i], NULL, 0);
		}
	}
	if (self->ep >= 0)
		close(self->ep);
	close(self->ch);
}

TEST_F(refill_stress, edge_triggered_consumer_misses_no_wakeup)
{
	uint64_t next[STRESS_SENDERS] = { 0 };
	bool ended[STRESS_SENDERS] = { false };
	unsigned long got = 0, events = 0, empty = 0;
	int64_t t0 = kt_now_ns();
	struct epoll_event ev;
	int ret, status, live = STRESS_SENDERS;
	uint64_t v, id, seq;

	while (live) {
		ret = epoll_wait(self->ep, &ev, 1, STRESS_EPOLL_MS);
		if (ret < 0 && errno == EINTR)
			continue;
		ASSERT_LE(0, ret) TH_LOG("epoll_wait: %m");
		ASSERT_EQ(1, ret) {
			struct kchan_info info;

			kt_info(self->ch, &info);
			TH_LOG("missed wake-up: epoll_wait timed out after %d ms with %lu received, %d senders not done (len %llu, sendq %u)",
			       STRESS_EPOLL_MS, got, live,
			       (unsigned long long)info.len, info.sendq);
		}
		EXPECT_EQ(EPOLLIN, ev.events);
		events++;
		do {
			ret = kchan_try_recv(self->ch, &v);
			if (ret == -EAGAIN) {
				empty++;
				break;
			}
			ASSERT_EQ(1, ret) TH_LOG("kchan_try_recv: %s", strerror(-ret));
			id = v >> 32;
			seq = v & STRESS_SEQ;
			ASSERT_GT(STRESS_SENDERS, id)
				TH_LOG("bad value %#llx", (unsigned long long)v);
			ASSERT_FALSE(ended[id])
				TH_LOG("sender %llu: %#llx after its end marker",
				       (unsigned long long)id, (unsigned long long)v);
			ASSERT_EQ(next[id], seq)
				TH_LOG("sender %llu: got %s%llu, want %llu (lost, repeated or reordered)",
				       (unsigned long long)id, v & STRESS_END ? "end of " : "",
				       (unsigned long long)seq, (unsigned long long)next[id]);
			if (v & STRESS_END) {
				ended[id] = true;
				live--;
			} else {
				next[id]++;
				got++;
			}
		} while (variant->drain);
	}
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &v));
	for (int i = 0; i < STRESS_SENDERS; i++) {
		ASSERT_EQ(0, kt_waitpid(self->pids[i], &status));
		self->pids[i] = 0;
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("sender %d: status %#x", i, status);
		/* However slow the kernel, the budget allows a real run. */
		EXPECT_LE(100, next[i]) TH_LOG("sender %d", i);
	}
	EXPECT_EQ(-EAGAIN, kchan_try_recv(self->ch, &v));
	TH_LOG("%lu of %d elements, %lu events, %lu empty drains, %lld ms",
	       got, STRESS_SENDERS * STRESS_PER_SENDER, events, empty,
	       (long long)((kt_now_ns() - t0) / KT_MSEC));
}

TEST_HARNESS_MAIN
