// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: module lifecycle.
 *
 * kchan.ko must not unload while a channel descriptor or a /dev/kchan
 * descriptor is open: delete_module(O_NONBLOCK) then fails with
 * EWOULDBLOCK/EAGAIN (or EBUSY), and the channel keeps working.
 *
 * The test can never unload the module itself: it calls delete_module()
 * only after /sys/module/kchan/refcnt shows a reference held (by the
 * descriptor it has open).  The QEMU runner unloads the module at the end
 * of the run and checks that this succeeds (and, on the debug kernel, that
 * kmemleak reports nothing).
 */
#include <sys/syscall.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

#define KT_REFCNT_PATH	"/sys/module/kchan/refcnt"
#define LC_LOOPS	200

static long lc_refcnt(void)
{
	uint64_t v;
	int ret = kt_read_u64(KT_REFCNT_PATH, &v);

	return ret < 0 ? ret : (long)v;
}

/* delete_module(O_NONBLOCK) while a reference is held: -errno, never 0. */
static int lc_try_unload(void)
{
	if (lc_refcnt() <= 0)
		return -ENOLINK;	/* refuse: the call could unload */
	if (syscall(SYS_delete_module, "kchan", O_NONBLOCK) == 0)
		return 0;
	return -errno;
}

static bool lc_refused(int ret)
{
	return ret == -EAGAIN || ret == -EWOULDBLOCK || ret == -EBUSY;
}

TEST(refcnt_readable)
{
	long n = lc_refcnt();

	ASSERT_LE(0, n) TH_LOG(KT_REFCNT_PATH ": %s", strerror(-n));
}

TEST(unload_refused_while_channel_open)
{
	for (int i = 0; i < LC_LOOPS; i++) {
		int fd = kt_create(8, 2, 0);
		uint64_t v = 0;
		long n;
		int ret;

		ASSERT_LE(0, fd) TH_LOG("loop %d: create: %s", i, strerror(-fd));
		/* Only the channel holds the module now (/dev/kchan was closed). */
		n = lc_refcnt();
		ASSERT_LT(0, n) TH_LOG("loop %d: refcnt %ld with a channel open", i, n);

		ret = lc_try_unload();
		ASSERT_TRUE(lc_refused(ret)) TH_LOG("loop %d: delete_module: %d (%s)",
						    i, ret, strerror(-ret));
		ASSERT_EQ(0, access(KT_DEV_PATH, F_OK));

		/* The channel still works. */
		ASSERT_EQ(1, kt_send_raw(fd, &(uint64_t){ i + 1ULL }, 1, KCHAN_XFER_NONBLOCK));
		ASSERT_EQ(1, kt_recv_raw(fd, &v, 1, KCHAN_XFER_NONBLOCK));
		ASSERT_EQ(i + 1ULL, v);
		ASSERT_EQ(0, close(fd));
	}
}

TEST(unload_refused_while_dev_open)
{
	for (int i = 0; i < LC_LOOPS; i++) {
		int dev = kt_open_dev(), fd;
		struct kchan_create c = {
			.size = sizeof(c), .elem_size = 4, .capacity = 1,
		};
		uint32_t v = 0;
		long n;
		int ret;

		ASSERT_LE(0, dev);
		n = lc_refcnt();
		ASSERT_LT(0, n) TH_LOG("loop %d: refcnt %ld with /dev/kchan open", i, n);

		ret = lc_try_unload();
		ASSERT_TRUE(lc_refused(ret)) TH_LOG("loop %d: delete_module: %d (%s)",
						    i, ret, strerror(-ret));

		/* /dev/kchan still creates working channels. */
		fd = kt_create_raw(dev, &c);
		ASSERT_LE(0, fd);
		ASSERT_EQ(1, kt_send_raw(fd, &(uint32_t){ i + 7U }, 1, KCHAN_XFER_NONBLOCK));
		ASSERT_EQ(1, kt_recv_raw(fd, &v, 1, KCHAN_XFER_NONBLOCK));
		ASSERT_EQ(i + 7U, v);
		ASSERT_EQ(0, close(fd));
		ASSERT_EQ(0, close(dev));
	}
}

/* A closed-but-still-referenced channel (Go close) and a channel held by
 * a blocked waiter also pin the module. */
TEST(unload_refused_with_closed_channel_and_waiter)
{
	int fd = kt_create(8, 0, 0);
	struct kt_worker w;
	int ret;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kt_start_recv(&w, fd));
	ASSERT_EQ(0, kt_wait_queues(fd, 0, 1));
	ret = lc_try_unload();
	EXPECT_TRUE(lc_refused(ret)) TH_LOG("delete_module: %d (%s)", ret, strerror(-ret));
	ASSERT_EQ(0, kt_ioctl(fd, KCHAN_IOC_CLOSE, 0));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(0, w.ret);	/* closed and drained */
	ret = lc_try_unload();
	EXPECT_TRUE(lc_refused(ret)) TH_LOG("delete_module: %d (%s)", ret, strerror(-ret));
	ASSERT_EQ(0, close(fd));
}

TEST_HARNESS_MAIN
