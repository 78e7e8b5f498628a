// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: KCHAN_IOC_STATS and kchan_stats().
 *
 * The counters must count exactly what the test did (sends, receives,
 * selects won, blocks, timeouts); the wait histogram must hold one entry
 * per ended blocked wait, a ~20 ms wait in the bucket of 2^24 ns (QEMU
 * timing is loose: 23 to 26 are accepted).  Also the raw ABI: size checks,
 * the zeroed tail of a bigger struct, EFAULT and ENOTTY.
 */
#include <inttypes.h>
#include <sys/mman.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

#define CAP	4

static uint64_t kt_hist_total(const struct kchan_chan_stats *st)
{
	uint64_t sum = 0;

	for (int i = 0; i < 32; i++)
		sum += st->wait_hist[i];
	return sum;
}

/* The six counters of @st, and the histogram's total, as @want says. */
#define EXPECT_COUNTERS(st, want, hist_total) do {			\
	EXPECT_EQ((want).sends, (st).sends);				\
	EXPECT_EQ((want).recvs, (st).recvs);				\
	EXPECT_EQ((want).selects_won, (st).selects_won);		\
	EXPECT_EQ((want).send_blocks, (st).send_blocks);		\
	EXPECT_EQ((want).recv_blocks, (st).recv_blocks);		\
	EXPECT_EQ((want).timeouts, (st).timeouts);			\
	EXPECT_EQ((hist_total), kt_hist_total(&(st)));			\
} while (0)

KT_U64_CHAN_FIXTURE(chan, CAP)

TEST_F(chan, fresh)
{
	struct kchan_chan_stats st;

	memset(&st, 0xff, sizeof(st));
	ASSERT_EQ(0, kchan_stats(self->ch, &st));
	EXPECT_COUNTERS(st, ((struct kchan_chan_stats){ 0 }), 0);
}

/* Non-blocking traffic: counted, and no histogram entry. */
TEST_F(chan, counts)
{
	struct kchan_chan_stats st;
	uint64_t v;

	for (v = 0; v < 3; v++)
		ASSERT_EQ(0, kchan_send(self->ch, &v));
	for (v = 0; v < 2; v++)
		ASSERT_EQ(1, kchan_recv(self->ch, &v));
	ASSERT_EQ(1, kchan_try_recv(self->ch, &v));
	ASSERT_EQ(-EAGAIN, kchan_try_recv(self->ch, &v));
	ASSERT_EQ(0, kchan_stats(self->ch, &st));
	EXPECT_COUNTERS(st, ((struct kchan_chan_stats){ .sends = 3, .recvs = 3 }), 0);
}

/* Blocks and timeouts fill the histogram; ~20 ms lands near 2^24 ns. */
TEST_F(chan, blocks_and_hist)
{
	struct kchan_chan_stats st;
	struct kt_worker w;
	uint64_t v = 0;
	int i, b = -1;

	ASSERT_EQ(-ETIMEDOUT, kchan_recv_timeout(self->ch, &v, 20 * KT_MSEC));
	ASSERT_EQ(0, kchan_stats(self->ch, &st));
	EXPECT_EQ(1, st.timeouts);
	EXPECT_EQ(1, st.recv_blocks);
	EXPECT_EQ(1, kt_hist_total(&st));
	for (i = 0; i < 32; i++)
		if (st.wait_hist[i])
			b = i;
	TH_LOG("20 ms wait in bucket %d", b);
	EXPECT_LE(23, b);
	EXPECT_GE(26, b);

	/* A blocked receiver completed by a send. */
	ASSERT_EQ(0, kt_start_recv(&w, self->ch));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	ASSERT_EQ(0, kt_send_u64(self->ch, 42));
	ASSERT_EQ(0, kt_worker_join(&w));
	ASSERT_EQ(1, w.ret);

	/* A blocked sender completed by a receive. */
	for (v = 0; v < CAP; v++)
		ASSERT_EQ(0, kchan_send(self->ch, &v));
	ASSERT_EQ(0, kt_start_send_u64(&w, self->ch, 99));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	ASSERT_EQ(1, kchan_recv(self->ch, &v));
	ASSERT_EQ(0, kt_worker_join(&w));
	ASSERT_EQ(0, w.ret);

	ASSERT_EQ(0, kchan_stats(self->ch, &st));
	EXPECT_COUNTERS(st, ((struct kchan_chan_stats){
		.sends = 1 + CAP + 1, .recvs = 2,
		.send_blocks = 1, .recv_blocks = 2, .timeouts = 1,
	}), 3);
}

struct kt_sel_arg {
	int ch;
	uint64_t v;
	int ret;
	_Atomic pid_t tid;
};

static void *kt_sel_recv(void *p)
{
	struct kt_sel_arg *a = p;
	struct kchan_case c = {
		.ch = a->ch, .op = KCHAN_CASE_RECV, .elem = &a->v,
	};

	atomic_store(&a->tid, gettid());
	a->ret = kchan_select(&c, 1, -1);
	return NULL;
}

/* Selects won: ready cases, a blocked case; a timeout wins nothing. */
TEST_F(chan, selects)
{
	int other = KT_MAKE_CHAN(sizeof(uint64_t), 1, 0);
	struct kchan_chan_stats st, so;
	struct kchan_case cases[2];
	struct kt_sel_arg a = { .ch = self->ch };
	uint64_t x = 5, y = 0;
	pthread_t t;

	cases[0] = (struct kchan_case){ .ch = self->ch, .op = KCHAN_CASE_SEND, .elem = &x };
	cases[1] = (struct kchan_case){ .ch = other, .op = KCHAN_CASE_RECV, .elem = &y };
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(0, kchan_select(cases, 2, 0));

	/* Nothing ready: both cases block, then time out. */
	cases[0] = (struct kchan_case){ .ch = self->ch, .op = KCHAN_CASE_SEND, .elem = &x };
	ASSERT_EQ(0, kchan_send(self->ch, &x));	/* now full */
	ASSERT_EQ(-ETIMEDOUT, kchan_select(cases, 2, 5 * KT_MSEC));

	ASSERT_EQ(0, kchan_stats(self->ch, &st));
	EXPECT_EQ(3, st.selects_won);
	EXPECT_EQ(4, st.sends);
	EXPECT_EQ(1, st.send_blocks);
	EXPECT_EQ(1, st.timeouts);
	EXPECT_EQ(1, kt_hist_total(&st));
	ASSERT_EQ(0, kchan_stats(other, &so));
	EXPECT_EQ(0, so.selects_won);
	EXPECT_EQ(1, so.recv_blocks);
	EXPECT_EQ(1, so.timeouts);
	EXPECT_EQ(1, kt_hist_total(&so));

	/* A blocked select on an empty channel, completed by a send. */
	for (int i = 0; i < CAP; i++)
		ASSERT_EQ(1, kchan_recv(self->ch, &y));
	ASSERT_EQ(0, kt_thread_start(&t, kt_sel_recv, &a, &a.tid));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	ASSERT_EQ(0, kt_send_u64(self->ch, 77));
	ASSERT_EQ(0, kt_thread_join(t));
	ASSERT_EQ(0, a.ret);
	ASSERT_EQ(77, a.v);

	ASSERT_EQ(0, kchan_stats(self->ch, &st));
	EXPECT_EQ(4, st.selects_won);
	EXPECT_EQ(1, st.recv_blocks);
	EXPECT_EQ(2, kt_hist_total(&st));
	EXPECT_EQ(st.send_blocks + st.recv_blocks, kt_hist_total(&st));
	close(other);
}

/* The raw ABI. */
TEST_F(chan, raw_abi)
{
	struct {
		struct kchan_stats st;
		uint8_t tail[16];
	} big;
	struct kchan_stats st;
	uint64_t v = 1;
	uint32_t *sz;
	char *guard;
	int dev;

	ASSERT_EQ(312, sizeof(struct kchan_stats));
	ASSERT_EQ(KCHAN_STATS_SIZE_VER0, sizeof(struct kchan_stats));

	memset(&st, 0, sizeof(st));
	st.size = KCHAN_STATS_SIZE_VER0 - 8;
	EXPECT_EQ(-EINVAL, kt_ioctl(self->ch, KCHAN_IOC_STATS, (unsigned long)&st));
	st.size = 0;
	EXPECT_EQ(-EINVAL, kt_ioctl(self->ch, KCHAN_IOC_STATS, (unsigned long)&st));
	st.size = 8192;
	EXPECT_EQ(-E2BIG, kt_ioctl(self->ch, KCHAN_IOC_STATS, (unsigned long)&st));

	ASSERT_EQ(0, kchan_send(self->ch, &v));
	memset(&big, 0xab, sizeof(big));
	big.st.size = sizeof(big);
	ASSERT_EQ(0, kt_ioctl(self->ch, KCHAN_IOC_STATS, (unsigned long)&big));
	EXPECT_EQ(KCHAN_STATS_SIZE_VER0, big.st.size);
	EXPECT_EQ(0, big.st.__reserved);
	EXPECT_EQ(1, big.st.sends);
	EXPECT_EQ(0, big.st.recvs);
	for (size_t i = 0; i < sizeof(big.tail); i++)
		EXPECT_EQ(0, big.tail[i]);

	EXPECT_EQ(-EFAULT, kt_ioctl(self->ch, KCHAN_IOC_STATS,
				    (unsigned long)kt_bad_ptr(16)));
	/* The size is readable, the rest runs into the guard page. */
	guard = kt_guard_alloc();
	ASSERT_NE(NULL, guard) {
		TH_LOG("mmap");
	}
	sz = (uint32_t *)(kt_guard_end(guard) - 8);
	*sz = KCHAN_STATS_SIZE_VER0;
	EXPECT_EQ(-EFAULT, kt_ioctl(self->ch, KCHAN_IOC_STATS, (unsigned long)sz));
	kt_guard_free(guard);

	dev = kt_open_dev();
	ASSERT_LE(0, dev);
	st.size = sizeof(st);
	EXPECT_EQ(-ENOTTY, kt_ioctl(dev, KCHAN_IOC_STATS, (unsigned long)&st));
	close(dev);
}

TEST_HARNESS_MAIN
