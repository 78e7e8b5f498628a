// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: broadcast channels, rule by rule.
 *
 * Each test takes one rule of the contract's "Broadcast channels" section
 * (Documentation/userspace-api/semantics.rst) and checks it with
 * sequence-numbered uint64_t elements:
 *
 * - creation and subscription arguments: capacity 0, KCHAN_LOSSY without
 *   KCHAN_BROADCAST, unknown flags, short or extended structs; subscribing
 *   through a subscriber (-EBADF) or a plain channel (-ENOTTY);
 * - directions: every receive form on the broadcast descriptor and every
 *   send form on a subscriber is -EBADF, as are select and selector cases
 *   in the wrong direction, kchan_close() of a subscriber and kchan_lost()
 *   of the broadcast descriptor;
 * - what a subscriber sees: every element sent after it subscribed, in
 *   order, exactly once, through every receive form, from every send form;
 *   nothing sent before (unless KCHAN_SUBSCRIBE_OLDEST: then what the
 *   channel still holds); sends with nobody subscribed succeed and reach
 *   nobody;
 * - kchan_len() and kchan_cap() on both kinds of descriptor;
 * - lossless: a send blocks (or -EAGAIN, -ETIMEDOUT) while the slowest
 *   subscriber has the capacity's worth to receive, and proceeds when that
 *   subscriber receives or unsubscribes (the close(2) of its last
 *   descriptor, not of a dup); fdinfo names the subscriber that holds the
 *   sender back;
 * - lossy: sends never block; a subscriber that fell behind gets
 *   -EOVERFLOW once per gap with its buffer untouched, kchan_lost() grows
 *   by exactly what it missed, and received + lost == sent since it
 *   subscribed; poll reports the gap as POLLERR | POLLPRI;
 * - close and drain: sends and blocked senders get -EPIPE, subscribers
 *   receive what was sent before and then "closed", blocked receivers and
 *   pollers wake;
 * - poll, epoll, select and the selector on subscribers and on the
 *   broadcast descriptor, including blocked waits woken by a send and a
 *   lossless sender's POLLOUT coming back when the slowest receives;
 * - a subscriber descriptor shared by processes is one cursor: each
 *   element to exactly one of them;
 * - several subscriber processes, one subscribing mid-stream, each
 *   receiving thousands of elements through a different receive form.
 *
 * The stress and chaos runs (subscribers joining, leaving and SIGKILLed)
 * are in kchan_bcast_stress_test.c; memory cgroup charges in
 * kchan_memory_test.c.
 */
#include "kchan_test_util.h"
#include "kselftest_harness.h"

#define U64	sizeof(uint64_t)

/* A broadcast channel of uint64_t elements, asserted. */
#define KT_MAKE_BCAST(capacity, flags) ({					\
	int __fd = kchan_make_broadcast(U64, capacity, flags);			\
	ASSERT_LE(0, __fd) TH_LOG("kchan_make_broadcast: %s", strerror(-__fd)); \
	__fd;									\
})

#define KT_SUBSCRIBE(bch, flags) ({						\
	int __fd = kchan_subscribe(bch, flags);					\
	ASSERT_LE(0, __fd) TH_LOG("kchan_subscribe: %s", strerror(-__fd));	\
	__fd;									\
})

/* Send @n consecutive values from @first, each with a blocking send. */
static int send_seq(int bch, uint64_t first, uint64_t n)
{
	for (uint64_t v = first; v < first + n; v++) {
		int ret = kchan_send(bch, &v);

		if (ret < 0)
			return ret;
	}
	return 0;
}

/*
 * Receive with kchan_try_recv() until -EAGAIN and check that exactly the
 * values first .. first + n - 1 came, in order.  0, or the first value
 * that was wrong plus one as a negative number, or -errno.
 */
static long expect_seq(int sub, uint64_t first, uint64_t n)
{
	uint64_t v, want = first;
	int ret;

	while ((ret = kchan_try_recv(sub, &v)) == 1) {
		if (v != want || want >= first + n)
			return -(long)(v + 1) ?: -1;
		want++;
	}
	if (ret != -EAGAIN)
		return ret;
	return want == first + n ? 0 : -(long)(want + 1);
}

/* The value of "key:\t" in @fd's fdinfo, or -1. */
static long long fdinfo_value(int fd, const char *key)
{
	char path[64], buf[8192], *p;
	size_t klen = strlen(key);

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (kt_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	for (p = buf; p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (!strncmp(p, key, klen) && p[klen] == ':')
			return strtoll(p + klen + 1, NULL, 10);
	}
	return -1;
}

/* Requirement: creation and subscription check their arguments. */

TEST(create_and_subscribe_arguments)
{
	struct kchan_create c = {
		.size = sizeof(c), .elem_size = 8, .capacity = 4,
		.flags = KCHAN_LOSSY,
	};
	struct {
		struct kchan_subscribe s;
		uint64_t tail;
	} big = { { .size = sizeof(big) } };
	struct kchan_subscribe s = { .size = sizeof(s) };
	int dev, bch, sub, plain;

	EXPECT_EQ(-EINVAL, kchan_make_broadcast(U64, 0, 0));
	EXPECT_EQ(-EINVAL, kchan_make_broadcast(0, 4, 0));
	EXPECT_EQ(-EINVAL, kchan_make_broadcast(U64, 4, 0x100));
	dev = kt_open_dev();
	ASSERT_LE(0, dev);
	/* KCHAN_LOSSY only with KCHAN_BROADCAST. */
	EXPECT_EQ(-EINVAL, kt_create_raw(dev, &c));
	close(dev);

	bch = KT_MAKE_BCAST(4, 0);
	EXPECT_EQ(4, kchan_cap(bch));
	EXPECT_EQ((int)U64, kchan_elem_size(bch));
	EXPECT_EQ(-EINVAL, kchan_subscribe(bch, 0x100));
	EXPECT_EQ(-EINVAL, kchan_subscribe(bch, KCHAN_LOSSY));
	s.size = KCHAN_SUBSCRIBE_SIZE_VER0 - 1;
	EXPECT_EQ(-EINVAL, kt_ioctl(bch, KCHAN_IOC_SUBSCRIBE, (unsigned long)&s));
	/* A newer struct is fine while what this kernel does not know is zero. */
	sub = kt_ioctl(bch, KCHAN_IOC_SUBSCRIBE, (unsigned long)&big);
	EXPECT_LE(0, sub);
	close(sub);
	big.tail = 1;
	EXPECT_EQ(-E2BIG, kt_ioctl(bch, KCHAN_IOC_SUBSCRIBE, (unsigned long)&big));
	EXPECT_EQ(-EFAULT, kt_ioctl(bch, KCHAN_IOC_SUBSCRIBE, (unsigned long)kt_bad_ptr(8)));

	sub = KT_SUBSCRIBE(bch, KCHAN_CLOEXEC | KCHAN_NONBLOCK);
	EXPECT_EQ(FD_CLOEXEC, fcntl(sub, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(O_NONBLOCK, fcntl(sub, F_GETFL) & O_NONBLOCK);
	EXPECT_EQ(4, kchan_cap(sub));
	EXPECT_EQ((int)U64, kchan_elem_size(sub));
	/* A subscriber cannot subscribe; a plain channel has no subscribers. */
	EXPECT_EQ(-EBADF, kchan_subscribe(sub, 0));
	plain = KT_MAKE_CHAN(U64, 4, 0);
	EXPECT_EQ(-ENOTTY, kchan_subscribe(plain, 0));
	EXPECT_EQ(-ENOTTY, kchan_lost(plain));
	EXPECT_EQ(-EBADF, kchan_subscribe(-1, 0));
	close(plain);
	close(sub);
	close(bch);
}

/* Requirement: the broadcast descriptor sends, a subscriber receives; the other way is -EBADF. */

TEST(directions)
{
	uint64_t v = 7, buf[2] = { KT_SENTINEL_U64, KT_SENTINEL_U64 };
	int bch = KT_MAKE_BCAST(4, 0), sub = KT_SUBSCRIBE(bch, 0);
	struct kchan_case c = { .ch = bch, .op = KCHAN_CASE_RECV, .elem = buf };
	int sel = kchan_selector(0);

	ASSERT_LE(0, sel);
	EXPECT_EQ(-EBADF, kchan_recv(bch, buf));
	EXPECT_EQ(-EBADF, kchan_try_recv(bch, buf));
	EXPECT_EQ(-EBADF, kchan_recv_timeout(bch, buf, KT_MSEC));
	EXPECT_EQ(-EBADF, kchan_recv_many(bch, buf, 2));
	EXPECT_EQ(-1, read(bch, buf, sizeof(buf)));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-EBADF, kchan_lost(bch));
	EXPECT_EQ(-EBADF, kchan_select(&c, 1, 0));
	EXPECT_EQ(-EBADF, kchan_selector_add(sel, &c, 1));

	EXPECT_EQ(-EBADF, kchan_send(sub, &v));
	EXPECT_EQ(-EBADF, kchan_try_send(sub, &v));
	EXPECT_EQ(-EBADF, kchan_send_timeout(sub, &v, KT_MSEC));
	EXPECT_EQ(-EBADF, kchan_send_many(sub, buf, 2));
	EXPECT_EQ(-1, write(sub, &v, sizeof(v)));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-EBADF, kchan_close(sub));
	c.ch = sub;
	c.op = KCHAN_CASE_SEND;
	c.elem = &v;
	EXPECT_EQ(-EBADF, kchan_select(&c, 1, 0));
	EXPECT_EQ(-EBADF, kchan_selector_add(sel, &c, 1));

	/* Nothing happened: the subscriber has nothing, the buffer is untouched. */
	EXPECT_EQ(0, kchan_len(sub));
	EXPECT_EQ(KT_SENTINEL_U64, buf[0]);
	EXPECT_EQ(0, kchan_lost(sub));
	EXPECT_EQ(0, kchan_send(bch, &v));
	EXPECT_EQ(0, expect_seq(sub, 7, 1));
	close(sel);
	close(sub);
	close(bch);
}

/* Requirement: sends with nobody subscribed succeed and reach nobody. */

TEST(nobody_subscribed)
{
	int bch = KT_MAKE_BCAST(4, KCHAN_NONBLOCK), sub, old;
	uint64_t v;

	/* Twice the capacity, none of it blocks: there is nobody to wait for. */
	ASSERT_EQ(0, send_seq(bch, 0, 8));
	EXPECT_EQ(0, kchan_len(bch));
	sub = KT_SUBSCRIBE(bch, 0);
	old = KT_SUBSCRIBE(bch, KCHAN_SUBSCRIBE_OLDEST);
	EXPECT_EQ(-EAGAIN, kchan_try_recv(sub, &v));
	/* A lossless channel held nothing for nobody. */
	EXPECT_EQ(-EAGAIN, kchan_try_recv(old, &v));
	ASSERT_EQ(0, send_seq(bch, 8, 2));
	EXPECT_EQ(0, expect_seq(sub, 8, 2));
	EXPECT_EQ(0, expect_seq(old, 8, 2));
	close(old);
	close(sub);
	close(bch);
}

TEST(lossy_holds_the_last_capacity_for_oldest)
{
	int bch = KT_MAKE_BCAST(4, KCHAN_LOSSY), sub, old;

	ASSERT_EQ(0, send_seq(bch, 0, 10));
	EXPECT_EQ(4, kchan_len(bch));
	sub = KT_SUBSCRIBE(bch, 0);
	old = KT_SUBSCRIBE(bch, KCHAN_SUBSCRIBE_OLDEST);
	EXPECT_EQ(0, kchan_len(sub));
	EXPECT_EQ(4, kchan_len(old));
	EXPECT_EQ(0, expect_seq(sub, 0, 0));
	/* The oldest still held, not a gap: nothing was lost by this subscriber. */
	EXPECT_EQ(0, expect_seq(old, 6, 4));
	EXPECT_EQ(0, kchan_lost(old));
	close(old);
	close(sub);
	close(bch);
}

/* Requirement: each subscriber receives every element sent after it subscribed, in order, once. */

TEST(subscribing_mid_stream)
{
	int bch = KT_MAKE_BCAST(16, 0), early, late, oldest;

	early = KT_SUBSCRIBE(bch, 0);
	ASSERT_EQ(0, send_seq(bch, 0, 5));
	late = KT_SUBSCRIBE(bch, 0);
	/* While "early" still has 0..4, they are held: OLDEST starts there. */
	oldest = KT_SUBSCRIBE(bch, KCHAN_SUBSCRIBE_OLDEST);
	EXPECT_EQ(5, kchan_len(bch));
	EXPECT_EQ(5, kchan_len(early));
	EXPECT_EQ(0, kchan_len(late));
	EXPECT_EQ(5, kchan_len(oldest));
	ASSERT_EQ(0, send_seq(bch, 5, 5));
	EXPECT_EQ(10, kchan_len(early));
	EXPECT_EQ(5, kchan_len(late));
	EXPECT_EQ(0, expect_seq(late, 5, 5));
	EXPECT_EQ(0, expect_seq(early, 0, 10));
	EXPECT_EQ(0, expect_seq(oldest, 0, 10));
	/* Everyone received everything: nothing is held any more. */
	EXPECT_EQ(0, kchan_len(bch));
	close(oldest);
	/* ... so a new subscriber from the oldest held gets nothing either. */
	oldest = KT_SUBSCRIBE(bch, KCHAN_SUBSCRIBE_OLDEST);
	EXPECT_EQ(0, kchan_len(oldest));
	EXPECT_EQ(0, expect_seq(oldest, 0, 0));
	ASSERT_EQ(0, send_seq(bch, 10, 1));
	EXPECT_EQ(0, expect_seq(oldest, 10, 1));
	close(oldest);
	close(late);
	close(early);
	close(bch);
}

TEST(every_send_form_reaches_every_subscriber)
{
	int bch = KT_MAKE_BCAST(64, 0), a = KT_SUBSCRIBE(bch, 0), b = KT_SUBSCRIBE(bch, 0);
	uint64_t v, many[3] = { 4, 5, 6 }, w[2] = { 7, 8 };
	struct kchan_case c = { .ch = bch, .op = KCHAN_CASE_SEND, .elem = &v };
	int sel = kchan_selector(0);
	uint64_t tag = 0;

	ASSERT_LE(0, sel);
	v = 0;
	ASSERT_EQ(0, kchan_send(bch, &v));
	v = 1;
	ASSERT_EQ(0, kchan_try_send(bch, &v));
	v = 2;
	ASSERT_EQ(0, kchan_send_timeout(bch, &v, KT_NSEC));
	v = 3;
	ASSERT_EQ(0, kchan_select(&c, 1, 0));
	ASSERT_EQ(3, kchan_send_many(bch, many, 3));
	ASSERT_EQ((ssize_t)sizeof(w), write(bch, w, sizeof(w)));
	ASSERT_EQ(0, kchan_selector_add(sel, &c, 99));
	v = 9;
	ASSERT_EQ(1, kchan_selector_wait(sel, &tag, 0));
	EXPECT_EQ(99, tag);
	EXPECT_EQ(0, expect_seq(a, 0, 10));
	EXPECT_EQ(0, expect_seq(b, 0, 10));
	close(sel);
	close(b);
	close(a);
	close(bch);
}

TEST(every_receive_form_on_a_subscriber)
{
	int bch = KT_MAKE_BCAST(64, 0), sub = KT_SUBSCRIBE(bch, 0), sel;
	struct kchan_case c = { .op = KCHAN_CASE_RECV };
	uint64_t v, many[3], rd[2], tag = 0;
	struct pollfd pfd;

	ASSERT_EQ(0, send_seq(bch, 0, 10));
	ASSERT_EQ(1, kchan_recv(sub, &v));
	EXPECT_EQ(0, v);
	ASSERT_EQ(1, kchan_try_recv(sub, &v));
	EXPECT_EQ(1, v);
	ASSERT_EQ(1, kchan_recv_timeout(sub, &v, KT_NSEC));
	EXPECT_EQ(2, v);
	ASSERT_EQ(3, kchan_recv_many(sub, many, 3));
	EXPECT_EQ(3, many[0]);
	EXPECT_EQ(4, many[1]);
	EXPECT_EQ(5, many[2]);
	ASSERT_EQ((ssize_t)sizeof(rd), read(sub, rd, sizeof(rd)));
	EXPECT_EQ(6, rd[0]);
	EXPECT_EQ(7, rd[1]);
	c.ch = sub;
	c.elem = &v;
	ASSERT_EQ(0, kchan_select(&c, 1, 0));
	EXPECT_EQ(0, c.closed);
	EXPECT_EQ(8, v);
	sel = kchan_selector(0);
	ASSERT_LE(0, sel);
	ASSERT_EQ(0, kchan_selector_add(sel, &c, 5));
	ASSERT_EQ(1, kchan_selector_wait(sel, &tag, 0));
	EXPECT_EQ(5, tag);
	EXPECT_EQ(9, v);
	/* Empty now: every form says so without blocking. */
	pfd = (struct pollfd){ .fd = sub, .events = POLLIN };
	EXPECT_EQ(0, poll(&pfd, 1, 0));
	EXPECT_EQ(-EAGAIN, kchan_try_recv(sub, &v));
	EXPECT_EQ(-ETIMEDOUT, kchan_recv_timeout(sub, &v, KT_MSEC));
	EXPECT_EQ(-EAGAIN, kchan_select(&c, 1, 0));
	EXPECT_EQ(-EAGAIN, kchan_selector_wait(sel, &tag, 0));
	close(sel);
	close(sub);
	close(bch);
}

/* Requirement: len and cap on both descriptors; a receive by one subscriber is not another's. */

TEST(len_and_cap)
{
	int bch = KT_MAKE_BCAST(8, 0), a = KT_SUBSCRIBE(bch, 0), b = KT_SUBSCRIBE(bch, 0);
	uint64_t v;

	ASSERT_EQ(0, send_seq(bch, 0, 6));
	EXPECT_EQ(6, kchan_len(bch));
	EXPECT_EQ(6, kchan_len(a));
	ASSERT_EQ(1, kchan_recv(a, &v));
	ASSERT_EQ(1, kchan_recv(a, &v));
	EXPECT_EQ(4, kchan_len(a));
	EXPECT_EQ(6, kchan_len(b));
	EXPECT_EQ(6, kchan_len(bch));	/* b still needs all six */
	ASSERT_EQ(1, kchan_recv(b, &v));
	EXPECT_EQ(5, kchan_len(bch));
	EXPECT_EQ(8, kchan_cap(a));
	EXPECT_EQ(8, kchan_cap(bch));
	/* Unsubscribing the slowest releases what only it still needed. */
	close(b);
	EXPECT_EQ(4, kchan_len(bch));
	close(a);
	EXPECT_EQ(0, kchan_len(bch));
	close(bch);
}

/* Requirement: lossless - the slowest subscriber gates the sender. */

TEST(lossless_blocks_on_the_slowest_and_releases_on_receive)
{
	int bch = KT_MAKE_BCAST(4, 0), fast = KT_SUBSCRIBE(bch, 0);
	int slow = KT_SUBSCRIBE(bch, 0);
	struct kt_worker w;
	uint64_t v = 4;

	ASSERT_EQ(0, send_seq(bch, 0, 4));
	EXPECT_EQ(-EAGAIN, kchan_try_send(bch, &v));
	EXPECT_EQ(-ETIMEDOUT, kchan_send_timeout(bch, &v, 5 * KT_MSEC));
	/* The fast one receiving opens nothing: the slow one still has four. */
	EXPECT_EQ(0, expect_seq(fast, 0, 4));
	EXPECT_EQ(-EAGAIN, kchan_try_send(bch, &v));
	EXPECT_EQ(fdinfo_value(slow, "subscriber"), fdinfo_value(bch, "blocked-by"));
	EXPECT_EQ(4, fdinfo_value(slow, "len"));

	ASSERT_EQ(0, kt_start_send_u64(&w, bch, 4));
	ASSERT_EQ(0, kt_wait_queues(bch, 1, 0));
	EXPECT_FALSE(atomic_load(&w.done));
	ASSERT_EQ(1, kchan_recv(slow, &v));
	EXPECT_EQ(0, v);
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(0, w.ret);
	EXPECT_EQ(0, expect_seq(slow, 1, 4));
	EXPECT_EQ(0, expect_seq(fast, 4, 1));
	EXPECT_EQ(-1, fdinfo_value(bch, "blocked-by"));
	close(slow);
	close(fast);
	close(bch);
}

/*
 * KCHAN_IOC_INFO's recvq on a subscriber counts the tasks blocked
 * receiving on it, as on a channel, and only on it: kchanstat and the
 * tests find stuck subscribers by it.
 */
TEST(blocked_subscriber_receivers_count_in_recvq)
{
	int bch = KT_MAKE_BCAST(4, 0), a = KT_SUBSCRIBE(bch, 0);
	int b = KT_SUBSCRIBE(bch, 0);
	struct kt_worker w1, w2;
	struct pollfd p = { .fd = a, .events = POLLIN };
	struct kchan_info info;

	ASSERT_EQ(0, kt_start_recv(&w1, a));
	ASSERT_EQ(0, kt_start_recv(&w2, a));
	ASSERT_EQ(0, kt_wait_queues(a, 0, 2));
	/* A poller is no blocked receiver. */
	EXPECT_EQ(0, poll(&p, 1, 1));
	ASSERT_EQ(0, kt_info(b, &info));
	EXPECT_EQ(0, info.recvq);
	EXPECT_EQ(0, info.sendq);
	ASSERT_EQ(0, kt_info(bch, &info));
	EXPECT_EQ(0, info.recvq);
	ASSERT_EQ(0, send_seq(bch, 0, 2));
	ASSERT_EQ(0, kt_worker_join(&w1));
	ASSERT_EQ(0, kt_worker_join(&w2));
	EXPECT_EQ(1, w1.ret);
	EXPECT_EQ(1, w2.ret);
	EXPECT_EQ(0, kt_wait_queues(a, 0, 0));
	close(b);
	close(a);
	close(bch);
}

TEST(lossless_released_when_the_slowest_unsubscribes)
{
	int bch = KT_MAKE_BCAST(2, 0), fast = KT_SUBSCRIBE(bch, 0);
	int slow = KT_SUBSCRIBE(bch, 0), dup_slow;
	struct kt_worker w;

	ASSERT_EQ(0, send_seq(bch, 0, 2));
	ASSERT_EQ(0, expect_seq(fast, 0, 2));
	ASSERT_EQ(0, kt_start_send_u64(&w, bch, 2));
	ASSERT_EQ(0, kt_wait_queues(bch, 1, 0));
	/* Closing one of two descriptors does not unsubscribe. */
	dup_slow = dup(slow);
	ASSERT_LE(0, dup_slow);
	close(slow);
	kt_sleep_us(20 * 1000);
	EXPECT_FALSE(atomic_load(&w.done));
	EXPECT_EQ(2, kchan_len(dup_slow));
	close(dup_slow);
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(0, w.ret);
	EXPECT_EQ(0, expect_seq(fast, 2, 1));
	close(fast);
	close(bch);
}

TEST(lossless_blocked_senders_keep_their_order)
{
	int bch = KT_MAKE_BCAST(1, 0), sub = KT_SUBSCRIBE(bch, 0);
	struct kt_worker w[3];
	uint64_t v;

	ASSERT_EQ(0, send_seq(bch, 0, 1));
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, kt_start_send_u64(&w[i], bch, 1 + i));
		ASSERT_EQ(0, kt_wait_queues(bch, i + 1, 0));
	}
	/* A new sender does not overtake the blocked ones. */
	v = 100;
	EXPECT_EQ(-EAGAIN, kchan_try_send(bch, &v));
	for (uint64_t want = 0; want < 4; want++) {
		ASSERT_EQ(1, kchan_recv(sub, &v));
		EXPECT_EQ(want, v);
	}
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, kt_worker_join(&w[i]));
		EXPECT_EQ(0, w[i].ret);
	}
	close(sub);
	close(bch);
}

/* A blocked lossless sender does not wake subscribers that have nothing new. */
TEST(blocked_sender_wakes_no_subscriber)
{
	int bch = KT_MAKE_BCAST(1, 0), fast = KT_SUBSCRIBE(bch, 0), slow = KT_SUBSCRIBE(bch, 0);
	struct kchan_chan_stats st;
	struct kt_worker rw, sw;
	uint64_t v;

	ASSERT_EQ(0, send_seq(bch, 0, 1));
	ASSERT_EQ(0, expect_seq(fast, 0, 1));
	ASSERT_EQ(0, kt_start_recv(&rw, fast));
	ASSERT_EQ(0, kt_wait_in_syscall(atomic_load(&rw.tid), (long[]){ SYS_ioctl }, 1));
	kt_sleep_us(20 * 1000);
	ASSERT_EQ(0, kchan_stats(bch, &st));
	ASSERT_EQ(1, st.recv_blocks);
	/* The sender blocks on the slow one: the fast one stays asleep. */
	ASSERT_EQ(0, kt_start_send_u64(&sw, bch, 1));
	ASSERT_EQ(0, kt_wait_queues(bch, 1, 0));
	kt_sleep_us(50 * 1000);
	ASSERT_EQ(0, kchan_stats(bch, &st));
	EXPECT_EQ(1, st.recv_blocks);
	EXPECT_EQ(1, st.send_blocks);
	EXPECT_FALSE(atomic_load(&rw.done));
	/* The slow one receives: the sender's element goes in, the fast one wakes. */
	ASSERT_EQ(1, kchan_recv(slow, &v));
	EXPECT_EQ(0, v);
	ASSERT_EQ(0, kt_worker_join(&sw));
	EXPECT_EQ(0, sw.ret);
	ASSERT_EQ(0, kt_worker_join(&rw));
	EXPECT_EQ(1, rw.ret);
	EXPECT_EQ(1, kt_worker_u64(&rw));
	close(slow);
	close(fast);
	close(bch);
}

/* Requirement: the close(2) of the broadcast descriptor closes the channel. */
TEST(closing_the_broadcast_descriptor_closes_the_channel)
{
	int bch = KT_MAKE_BCAST(4, 0), a = KT_SUBSCRIBE(bch, 0), b = KT_SUBSCRIBE(bch, 0);
	struct kt_worker w;
	uint64_t v;

	ASSERT_EQ(0, send_seq(bch, 0, 2));
	ASSERT_EQ(0, expect_seq(b, 0, 2));
	ASSERT_EQ(0, kt_start_recv(&w, b));
	ASSERT_EQ(0, kt_wait_in_syscall(atomic_load(&w.tid), (long[]){ SYS_ioctl }, 1));
	close(bch);
	/* Nothing can send any more: the blocked receiver sees "closed"... */
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(0, w.ret);
	/* ... and the other drains what was sent first. */
	EXPECT_EQ(2, kchan_len(a));
	ASSERT_EQ(1, kchan_recv(a, &v));
	EXPECT_EQ(0, v);
	ASSERT_EQ(1, kchan_recv(a, &v));
	EXPECT_EQ(1, v);
	EXPECT_EQ(0, kchan_recv(a, &v));
	close(b);
	close(a);
}

/* Requirement: lossy - never blocks, -EOVERFLOW once per gap, exact loss accounting. */

TEST(lossy_overflow_once_per_gap)
{
	int bch = KT_MAKE_BCAST(4, KCHAN_LOSSY), sub = KT_SUBSCRIBE(bch, 0);
	int other = KT_SUBSCRIBE(bch, 0);
	uint64_t v = KT_SENTINEL_U64;
	struct pollfd pfd = { .fd = sub, .events = POLLIN | POLLPRI };

	ASSERT_EQ(0, send_seq(bch, 0, 10));	/* never blocks */
	EXPECT_EQ(4, kchan_len(sub));
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLIN | POLLERR | POLLPRI, pfd.revents);
	EXPECT_EQ(-EOVERFLOW, kchan_recv(sub, &v));
	EXPECT_EQ(KT_SENTINEL_U64, v);
	EXPECT_EQ(6, kchan_lost(sub));
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLIN, pfd.revents);
	/* Then the oldest still held, and no second -EOVERFLOW for this gap. */
	EXPECT_EQ(0, expect_seq(sub, 6, 4));
	EXPECT_EQ(6, kchan_lost(sub));
	EXPECT_EQ(6, fdinfo_value(sub, "lost"));

	/* Falling behind by less than the capacity loses nothing. */
	ASSERT_EQ(0, send_seq(bch, 10, 4));
	EXPECT_EQ(0, expect_seq(sub, 10, 4));
	/* A second gap: a second -EOVERFLOW, counted on top. */
	ASSERT_EQ(0, send_seq(bch, 14, 5));
	EXPECT_EQ(-EOVERFLOW, kchan_try_recv(sub, &v));
	EXPECT_EQ(7, kchan_lost(sub));
	EXPECT_EQ(0, expect_seq(sub, 15, 4));

	/* The other subscriber's account is its own: 19 sent, 4 held. */
	EXPECT_EQ(-EOVERFLOW, kchan_recv_many(other, &v, 1));
	EXPECT_EQ(15, kchan_lost(other));
	EXPECT_EQ(0, expect_seq(other, 15, 4));
	EXPECT_EQ(22, fdinfo_value(bch, "lost"));
	close(other);
	close(sub);
	close(bch);
}

/*
 * A lossy batch send that faults half-way loses only the elements whose
 * slots it wrote, the one written in part included.
 */
TEST(lossy_send_that_faults_loses_only_what_it_overwrote)
{
	int bch = KT_MAKE_BCAST(4, KCHAN_LOSSY), sub = KT_SUBSCRIBE(bch, 0);
	char *map = kt_guard_alloc();
	uint64_t *elems, v;

	ASSERT_NE(NULL, map);
	/* Three elements, the second straddling the guard page. */
	elems = (uint64_t *)(kt_guard_end(map) - 12);
	elems[0] = 100;
	ASSERT_EQ(0, send_seq(bch, 0, 4));
	EXPECT_EQ(1, kchan_send_many(bch, elems, 3));
	/* Slots of 0 and 1 written over (1 in part); 2 and 3 still held. */
	EXPECT_EQ(-EOVERFLOW, kchan_try_recv(sub, &v));
	EXPECT_EQ(2, kchan_lost(sub));
	ASSERT_EQ(1, kchan_try_recv(sub, &v));
	EXPECT_EQ(2, v) TH_LOG("element 2 was not overwritten");
	ASSERT_EQ(1, kchan_try_recv(sub, &v));
	EXPECT_EQ(3, v);
	ASSERT_EQ(1, kchan_try_recv(sub, &v));
	EXPECT_EQ(100, v);
	EXPECT_EQ(-EAGAIN, kchan_try_recv(sub, &v));
	kt_guard_free(map);
	close(sub);
	close(bch);
}

TEST(lossy_received_plus_lost_is_sent)
{
	int bch = KT_MAKE_BCAST(8, KCHAN_LOSSY), sub;
	uint64_t sent, received = 0, last = 0, overflows = 0, buf[5];
	uint64_t gap_sum = 0;
	bool first = true;

	/* Sent before subscribing: not part of this subscriber's account. */
	ASSERT_EQ(0, send_seq(bch, 1000000, 20));
	sub = KT_SUBSCRIBE(bch, KCHAN_NONBLOCK);
	/* Bursts of 1..17 sends, then 0..4 receives of 1..5 elements. */
	for (sent = 0; sent < 5000;) {
		uint64_t burst = 1 + sent % 17;

		ASSERT_EQ(0, send_seq(bch, sent, burst));
		sent += burst;
		for (int r = 0; r < (int)(sent % 5); r++) {
			long n = kchan_recv_many(sub, buf, 1 + r);

			if (n == -EOVERFLOW) {
				overflows++;
				continue;
			}
			if (n == -EAGAIN)
				break;
			ASSERT_LT(0, n);
			for (long i = 0; i < n; i++) {
				ASSERT_TRUE(first || buf[i] > last);
				if (!first)
					gap_sum += buf[i] - last - 1;
				else
					gap_sum += buf[i];
				first = false;
				last = buf[i];
			}
			received += n;
		}
	}
	for (;;) {
		long n = kchan_recv_many(sub, buf, 5);

		if (n == -EOVERFLOW) {
			overflows++;
			continue;
		}
		if (n == -EAGAIN)
			break;
		ASSERT_LT(0, n);
		for (long i = 0; i < n; i++) {
			ASSERT_TRUE(first || buf[i] > last);
			gap_sum += first ? buf[i] : buf[i] - last - 1;
			first = false;
			last = buf[i];
		}
		received += n;
	}
	TH_LOG("sent %llu received %llu lost %lld in %llu gaps",
	       (unsigned long long)sent, (unsigned long long)received,
	       (long long)kchan_lost(sub), (unsigned long long)overflows);
	EXPECT_EQ(sent - 1, last);
	EXPECT_EQ(sent, received + kchan_lost(sub));
	/* Every gap in the sequence was reported, and nothing else. */
	EXPECT_EQ(gap_sum, (uint64_t)kchan_lost(sub));
	EXPECT_LT(0, overflows);
	close(sub);
	close(bch);
}

/* Requirement: close - sends fail, subscribers drain, then see "closed". */

TEST(close_and_drain)
{
	int bch = KT_MAKE_BCAST(2, 0), a = KT_SUBSCRIBE(bch, 0), b = KT_SUBSCRIBE(bch, 0);
	struct kt_worker sender, waiter;
	struct pollfd pfd = { .fd = a, .events = POLLIN };
	uint64_t v;

	ASSERT_EQ(0, send_seq(bch, 0, 2));
	ASSERT_EQ(0, expect_seq(b, 0, 2));
	ASSERT_EQ(0, kt_start_send_u64(&sender, bch, 2));
	ASSERT_EQ(0, kt_wait_queues(bch, 1, 0));
	ASSERT_EQ(0, kt_start_recv(&waiter, b));
	ASSERT_EQ(0, kt_wait_in_syscall(atomic_load(&waiter.tid), (long[]){ SYS_ioctl }, 1));

	ASSERT_EQ(0, kchan_close(bch));
	EXPECT_EQ(-EPIPE, kchan_close(bch));
	ASSERT_EQ(0, kt_worker_join(&sender));
	EXPECT_EQ(-EPIPE, sender.ret);
	ASSERT_EQ(0, kt_worker_join(&waiter));
	EXPECT_EQ(0, waiter.ret);
	v = 9;
	EXPECT_EQ(-EPIPE, kchan_send(bch, &v));
	EXPECT_EQ(-EPIPE, kchan_try_send(bch, &v));

	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLIN | POLLHUP, pfd.revents);
	ASSERT_EQ(1, kchan_recv(a, &v));
	EXPECT_EQ(0, v);
	ASSERT_EQ(1, kchan_try_recv(a, &v));
	EXPECT_EQ(1, v);
	v = KT_SENTINEL_U64;
	EXPECT_EQ(0, kchan_recv(a, &v));
	EXPECT_EQ(0, kchan_try_recv(a, &v));
	EXPECT_EQ(0, kchan_recv_many(a, &v, 1));
	EXPECT_EQ(0, read(a, &v, sizeof(v)));
	EXPECT_EQ(KT_SENTINEL_U64, v);
	/* A subscriber made after the close sees "closed" at once. */
	close(b);
	b = KT_SUBSCRIBE(bch, 0);
	EXPECT_EQ(0, kchan_recv(b, &v));
	close(b);
	close(a);
	close(bch);
}

/* Requirement: poll, epoll, select and the selector work on both descriptors. */

TEST(poll_both_descriptors)
{
	int bch = KT_MAKE_BCAST(2, 0), sub = KT_SUBSCRIBE(bch, 0);
	struct pollfd pfd[2] = {
		{ .fd = bch, .events = POLLOUT }, { .fd = sub, .events = POLLIN },
	};
	struct kt_worker out;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLOUT };
	uint64_t v;

	ASSERT_LE(0, ep);
	ASSERT_EQ(1, poll(pfd, 2, 0));
	EXPECT_EQ(POLLOUT, pfd[0].revents);
	EXPECT_EQ(0, pfd[1].revents);
	ASSERT_EQ(0, send_seq(bch, 0, 2));
	ASSERT_EQ(1, poll(pfd, 2, 0));
	EXPECT_EQ(0, pfd[0].revents);
	EXPECT_EQ(POLLIN, pfd[1].revents);

	/* A poller of the full broadcast descriptor wakes when the slowest receives. */
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, bch, &ev));
	kt_worker_init(&out, ep, KT_EPOLL);
	ASSERT_EQ(0, kt_worker_start(&out));
	ASSERT_EQ(0, kt_wait_in_syscall(atomic_load(&out.tid),
					(long[]){ SYS_epoll_wait, SYS_epoll_pwait }, 2));
	EXPECT_FALSE(atomic_load(&out.done));
	ASSERT_EQ(1, kchan_recv(sub, &v));
	ASSERT_EQ(0, kt_worker_join(&out));
	EXPECT_EQ(EPOLLOUT, out.ret);
	close(ep);
	close(sub);
	close(bch);
}

TEST(blocked_poll_and_epoll_on_subscribers_wake_on_send)
{
	int bch = KT_MAKE_BCAST(4, KCHAN_LOSSY), a = KT_SUBSCRIBE(bch, 0), b = KT_SUBSCRIBE(bch, 0);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	struct kt_worker pw, ew;
	struct pollfd pfd = { .fd = bch, .events = POLLOUT };

	ASSERT_LE(0, ep);
	/* Lossy: the broadcast descriptor is always writable. */
	ASSERT_EQ(0, send_seq(bch, 0, 9));
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLOUT, pfd.revents);
	while (kchan_try_recv(a, &(uint64_t){ 0 }) != -EAGAIN)
		;
	while (kchan_try_recv(b, &(uint64_t){ 0 }) != -EAGAIN)
		;
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, b, &ev));
	kt_worker_init(&pw, a, KT_POLL);
	pw.events = POLLIN;
	ASSERT_EQ(0, kt_worker_start(&pw));
	kt_worker_init(&ew, ep, KT_EPOLL);
	ASSERT_EQ(0, kt_worker_start(&ew));
	ASSERT_EQ(0, kt_wait_in_syscall(atomic_load(&pw.tid), (long[]){ SYS_poll, SYS_ppoll }, 2));
	ASSERT_EQ(0, kt_wait_in_syscall(atomic_load(&ew.tid),
					(long[]){ SYS_epoll_wait, SYS_epoll_pwait }, 2));
	ASSERT_EQ(0, send_seq(bch, 9, 1));
	ASSERT_EQ(0, kt_worker_join(&pw));
	EXPECT_EQ(POLLIN, pw.ret);
	ASSERT_EQ(0, kt_worker_join(&ew));
	EXPECT_EQ(EPOLLIN, ew.ret);
	EXPECT_EQ(0, expect_seq(a, 9, 1));
	EXPECT_EQ(0, expect_seq(b, 9, 1));
	close(ep);
	close(b);
	close(a);
	close(bch);
}

struct select_arg {
	struct kchan_case cases[3];
	_Atomic pid_t tid;
	int ret;
	uint64_t bufs[3];
};

static void *select_main(void *p)
{
	struct select_arg *a = p;

	atomic_store(&a->tid, (pid_t)syscall(SYS_gettid));
	a->ret = kchan_select(a->cases, 3, 10 * KT_NSEC);
	return NULL;
}

TEST(select_over_subscribers_and_a_plain_channel)
{
	int b1 = KT_MAKE_BCAST(4, 0), b2 = KT_MAKE_BCAST(4, KCHAN_LOSSY);
	int plain = KT_MAKE_CHAN(U64, 4, 0);
	struct select_arg a = { .ret = -1 };
	pthread_t t;
	int i;

	a.cases[0] = (struct kchan_case){ .ch = KT_SUBSCRIBE(b1, 0), .op = KCHAN_CASE_RECV };
	a.cases[1] = (struct kchan_case){ .ch = KT_SUBSCRIBE(b2, 0), .op = KCHAN_CASE_RECV };
	a.cases[2] = (struct kchan_case){ .ch = plain, .op = KCHAN_CASE_RECV };
	for (i = 0; i < 3; i++) {
		a.bufs[i] = KT_SENTINEL_U64;
		a.cases[i].elem = &a.bufs[i];
	}
	ASSERT_EQ(-EAGAIN, kchan_select(a.cases, 3, 0));
	/* A blocked select is woken by a send on the second broadcast. */
	ASSERT_EQ(0, kt_thread_start(&t, select_main, &a, &a.tid));
	ASSERT_EQ(0, kt_wait_in_syscall(atomic_load(&a.tid), (long[]){ SYS_ioctl }, 1));
	ASSERT_EQ(0, send_seq(b2, 42, 1));
	ASSERT_EQ(0, kt_thread_join(t));
	EXPECT_EQ(1, a.ret);
	EXPECT_EQ(42, a.bufs[1]);
	EXPECT_EQ(KT_SENTINEL_U64, a.bufs[0]);
	EXPECT_EQ(KT_SENTINEL_U64, a.bufs[2]);

	/* Ready cases: each proceeds, the others are left alone. */
	ASSERT_EQ(0, send_seq(b1, 7, 1));
	ASSERT_EQ(0, kchan_select(a.cases, 3, 0));
	EXPECT_EQ(7, a.bufs[0]);
	ASSERT_EQ(-EAGAIN, kchan_select(a.cases, 3, 0));
	/* A lossy gap is the select's result too, and consumes nothing. */
	ASSERT_EQ(0, send_seq(b2, 100, 6));
	a.bufs[1] = KT_SENTINEL_U64;
	EXPECT_EQ(-EOVERFLOW, kchan_select(a.cases, 3, 0));
	EXPECT_EQ(KT_SENTINEL_U64, a.bufs[1]);
	EXPECT_EQ(2, kchan_lost(a.cases[1].ch));
	ASSERT_EQ(1, kchan_select(a.cases, 3, 0));
	EXPECT_EQ(102, a.bufs[1]);
	/* Closing a broadcast makes its subscriber's case fire "closed". */
	ASSERT_EQ(0, kchan_close(b1));
	ASSERT_EQ(0, kchan_select(a.cases, 1, 0));
	EXPECT_EQ(1, a.cases[0].closed);
	close(a.cases[0].ch);
	close(a.cases[1].ch);
	close(plain);
	close(b2);
	close(b1);
}

TEST(selector_over_subscribers)
{
	int b1 = KT_MAKE_BCAST(4, 0), b2 = KT_MAKE_BCAST(4, 0);
	int s1 = KT_SUBSCRIBE(b1, 0), s2 = KT_SUBSCRIBE(b2, 0);
	int sel = kchan_selector(0);
	uint64_t v1 = KT_SENTINEL_U64, v2 = KT_SENTINEL_U64, tag = 0;
	struct kchan_case c1 = { .ch = s1, .op = KCHAN_CASE_RECV, .elem = &v1 };
	struct kchan_case c2 = { .ch = s2, .op = KCHAN_CASE_RECV, .elem = &v2 };
	struct kt_worker pw;
	int got1 = 0, got2 = 0;

	ASSERT_LE(0, sel);
	ASSERT_EQ(0, kchan_selector_add(sel, &c1, 1));
	ASSERT_EQ(0, kchan_selector_add(sel, &c2, 2));
	EXPECT_EQ(-EEXIST, kchan_selector_add(sel, &c2, 3));
	EXPECT_EQ(-EAGAIN, kchan_selector_wait(sel, &tag, 0));
	/* The selector is pollable: a poller wakes on a send to either broadcast. */
	kt_worker_init(&pw, sel, KT_POLL);
	pw.events = POLLIN;
	ASSERT_EQ(0, kt_worker_start(&pw));
	ASSERT_EQ(0, kt_wait_in_syscall(atomic_load(&pw.tid), (long[]){ SYS_poll, SYS_ppoll }, 2));
	ASSERT_EQ(0, send_seq(b2, 20, 3));
	ASSERT_EQ(0, kt_worker_join(&pw));
	EXPECT_EQ(POLLIN, pw.ret);
	ASSERT_EQ(0, send_seq(b1, 10, 3));
	for (int i = 0; i < 6; i++) {
		ASSERT_EQ(1, kchan_selector_wait(sel, &tag, KT_NSEC));
		if (tag == 1) {
			EXPECT_EQ(10 + got1, v1);
			got1++;
		} else {
			EXPECT_EQ(20 + got2, v2);
			got2++;
		}
	}
	EXPECT_EQ(3, got1);
	EXPECT_EQ(3, got2);
	EXPECT_EQ(-EAGAIN, kchan_selector_wait(sel, &tag, 0));
	/* The subscriber's last close takes its case out of the selector. */
	close(s1);
	ASSERT_EQ(0, send_seq(b1, 13, 1));
	EXPECT_EQ(-EAGAIN, kchan_selector_wait(sel, &tag, 0));
	ASSERT_EQ(0, kchan_close(b2));
	ASSERT_EQ(0, kchan_selector_wait(sel, &tag, KT_NSEC));
	EXPECT_EQ(2, tag);
	close(sel);
	close(s2);
	close(b2);
	close(b1);
}

/* Requirement: a subscriber descriptor shared by processes is one cursor. */

#define SHARED_READERS	3
#define SHARED_N	3000

TEST(shared_subscriber_is_one_cursor)
{
	int bch = KT_MAKE_BCAST(8, 0), sub = KT_SUBSCRIBE(bch, 0), mine = KT_SUBSCRIBE(bch, 0);
	unsigned char *seen = mmap(NULL, SHARED_N * SHARED_READERS, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[SHARED_READERS];
	int status, total = 0;

	ASSERT_NE(MAP_FAILED, seen);
	for (int r = 0; r < SHARED_READERS; r++) {
		pids[r] = fork();
		ASSERT_LE(0, pids[r]);
		if (!pids[r]) {
			uint64_t v, last = 0;
			bool first = true;
			int ret;

			/* Each reader's share comes in order, whatever the others took. */
			while ((ret = kchan_recv(sub, &v)) == 1) {
				if (v >= SHARED_N || (!first && v <= last))
					_exit(2);
				seen[r * SHARED_N + v]++;
				first = false;
				last = v;
			}
			_exit(ret == 0 ? 0 : 3);
		}
	}
	/* The parent's own subscriber keeps the lossless sender honest. */
	for (uint64_t v = 0; v < SHARED_N; v++) {
		uint64_t got;

		ASSERT_EQ(0, kchan_send(bch, &v));
		ASSERT_EQ(1, kchan_recv(mine, &got));
		ASSERT_EQ(v, got);
	}
	ASSERT_EQ(0, kchan_close(bch));
	for (int r = 0; r < SHARED_READERS; r++) {
		ASSERT_EQ(0, kt_waitpid(pids[r], &status));
		EXPECT_TRUE(WIFEXITED(status));
		EXPECT_EQ(0, WEXITSTATUS(status));
	}
	for (int v = 0; v < SHARED_N; v++) {
		int n = 0;

		for (int r = 0; r < SHARED_READERS; r++)
			n += seen[r * SHARED_N + v];
		EXPECT_EQ(1, n) TH_LOG("value %d received %d times", v, n);
		total += n;
	}
	EXPECT_EQ(SHARED_N, total);
	munmap(seen, SHARED_N * SHARED_READERS);
	close(mine);
	close(sub);
	close(bch);
}

/* Requirement: several subscriber processes each receive every element, in order, once. */

#define PROCS_N		20000
#define NPROCS		5
/* A receive that waits this long has lost a wake-up. */
#define OP_TIMEOUT	(60 * KT_NSEC)

/* Receive until closed with receive form @form; 0 if exactly first..PROCS_N-1 came in order. */
static int subscriber_proc(int sub, int form, uint64_t first)
{
	uint64_t want = first, buf[7];
	int sel = -1;
	uint64_t tag;

	if (form == 4) {
		struct kchan_case c = { .ch = sub, .op = KCHAN_CASE_RECV, .elem = buf };

		sel = kchan_selector(0);
		if (sel < 0 || kchan_selector_add(sel, &c, 1))
			return 10;
	}
	for (;;) {
		struct kchan_case c = { .ch = sub, .op = KCHAN_CASE_RECV, .elem = buf };
		long n;

		switch (form) {
		case 0:
			n = kchan_recv_timeout(sub, buf, OP_TIMEOUT);
			break;
		case 1:
			n = kchan_recv_many(sub, buf, 7);
			break;
		case 2:
			n = read(sub, buf, sizeof(buf));
			n = n < 0 ? -errno : n / (long)U64;
			break;
		case 3:
			n = kchan_select(&c, 1, OP_TIMEOUT);
			n = n < 0 ? n : c.closed ? 0 : 1;
			break;
		default:
			n = kchan_selector_wait(sel, &tag, OP_TIMEOUT);
			break;
		}
		if (n == 0)
			break;
		if (n == -ETIMEDOUT)
			return 14;	/* a lost wake-up */
		if (n < 0)
			return 11;
		for (long i = 0; i < n; i++)
			if (buf[i] != want++)
				return 12;
	}
	return want == PROCS_N ? 0 : 13;
}

/* A fixture only for the harness's timeout: a debug kernel takes minutes. */
FIXTURE(procs) {};
FIXTURE_SETUP(procs) {}
FIXTURE_TEARDOWN(procs) {}

TEST_F_TIMEOUT(procs, subscriber_processes_receive_everything_in_order, 600)
{
	int bch = KT_MAKE_BCAST(16, 0), subs[NPROCS];
	/* [0]: half sent, [1]: the late one subscribed, [2]: its first value */
	_Atomic uint64_t *late = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int64_t end;
	pid_t pids[NPROCS + 1];
	int status;

	ASSERT_NE(MAP_FAILED, late);
	late[2] = UINT64_MAX;
	for (int p = 0; p < NPROCS; p++)
		subs[p] = KT_SUBSCRIBE(bch, 0);
	for (int p = 0; p < NPROCS; p++) {
		pids[p] = fork();
		ASSERT_LE(0, pids[p]);
		if (!pids[p])
			_exit(subscriber_proc(subs[p], p, 0));
		close(subs[p]);
	}
	/*
	 * One more process subscribes by itself when half is sent, while the
	 * sender waits: the first element it receives must be the next one
	 * sent, and from there it must see everything.
	 */
	pids[NPROCS] = fork();
	ASSERT_LE(0, pids[NPROCS]);
	if (!pids[NPROCS]) {
		uint64_t v;
		int sub;

		while (!late[0])
			kt_sleep_us(1000);
		sub = kchan_subscribe(bch, 0);
		close(bch);
		late[1] = 1;
		if (sub < 0 || kchan_recv(sub, &v) != 1)
			_exit(20);
		late[2] = v;
		_exit(subscriber_proc(sub, 1, v + 1));
	}
	ASSERT_EQ(0, send_seq(bch, 0, PROCS_N / 2));
	late[0] = 1;
	end = kt_now_ns() + KT_WAIT_NS;
	while (!late[1] && kt_now_ns() < end)
		kt_sleep_us(1000);
	ASSERT_EQ(1, late[1]);
	ASSERT_EQ(0, send_seq(bch, PROCS_N / 2, PROCS_N / 2));
	ASSERT_EQ(0, kchan_close(bch));
	for (int p = 0; p <= NPROCS; p++) {
		ASSERT_EQ(0, kt_waitpid(pids[p], &status));
		EXPECT_TRUE(WIFEXITED(status));
		EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("subscriber %d", p);
	}
	EXPECT_EQ(PROCS_N / 2, late[2]);
	munmap((void *)late, 4096);
	close(bch);
}

/* Requirement: fdinfo shows the kind, the subscribers, their lag and losses. */

TEST(fdinfo)
{
	int bch = KT_MAKE_BCAST(4, 0), a = KT_SUBSCRIBE(bch, 0), b = KT_SUBSCRIBE(bch, 0);
	char path[64], buf[4096];

	ASSERT_EQ(0, send_seq(bch, 0, 3));
	ASSERT_EQ(0, expect_seq(a, 0, 3));
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", bch);
	ASSERT_LT(0, kt_read_file(path, buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "kind:\tbroadcast\n")) TH_LOG("%s", buf);
	EXPECT_EQ(2, fdinfo_value(bch, "subscribers"));
	EXPECT_EQ(3, fdinfo_value(bch, "held"));
	EXPECT_EQ(3, fdinfo_value(bch, "sends"));
	EXPECT_NE(NULL, strstr(buf, "lag 0 lost 0")) TH_LOG("%s", buf);
	EXPECT_NE(NULL, strstr(buf, "lag 3 lost 0")) TH_LOG("%s", buf);
	EXPECT_EQ(-1, fdinfo_value(bch, "blocked-by"));
	EXPECT_EQ(fdinfo_value(bch, "kchan-id"), fdinfo_value(a, "kchan-id"));
	EXPECT_EQ(3, fdinfo_value(a, "recvs"));
	EXPECT_EQ(3, fdinfo_value(b, "len"));
	EXPECT_NE(fdinfo_value(a, "subscriber"), fdinfo_value(b, "subscriber"));
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", b);
	ASSERT_LT(0, kt_read_file(path, buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "kind:\tsubscriber\n")) TH_LOG("%s", buf);
	close(b);
	close(a);
	close(bch);
	bch = KT_MAKE_BCAST(4, KCHAN_LOSSY);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", bch);
	ASSERT_LT(0, kt_read_file(path, buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "kind:\tbroadcast-lossy\n")) TH_LOG("%s", buf);
	close(bch);
}

TEST_HARNESS_MAIN
