// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: module lifecycle.
 *
 * kchan.ko must not unload while a channel descriptor or a /dev/kchan
 * descriptor is open: delete_module(O_NONBLOCK) then fails with
 * EWOULDBLOCK/EAGAIN (or EBUSY), and the channel keeps working.
 *
 * These tests can never unload the module themselves: they call
 * delete_module() only after /sys/module/kchan/refcnt shows a reference
 * held (by the descriptor they have open).
 *
 * The load/unload loops do unload it: in the QEMU guest, where the runner
 * has loaded /kchan.ko, they unload it, then load it again (finit_module()
 * and init_module() in turn) and unload it LC_ROUNDS times, checking in
 * every round that /dev/kchan appears and works, that unloading is refused
 * while a channel or /dev/kchan is open and succeeds at once after the
 * close.  They leave the module loaded (also when they fail), for the
 * programs after them.  Without /kchan.ko (not in the guest) they skip.
 * The runner unloads the module at the end of the run and checks that this
 * succeeds and, on a kernel with kmemleak, that nothing leaked.
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

#define KT_REFCNT_PATH	"/sys/module/kchan/refcnt"
#define LC_LOOPS	200
#define LC_ROUNDS	50
#define LC_MODULE	"/kchan.ko"

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

/* delete_module(O_NONBLOCK) without the refcnt guard: 0 or -errno. */
static int lc_unload(void)
{
	return syscall(SYS_delete_module, "kchan", O_NONBLOCK) ? -errno : 0;
}

static bool lc_loaded(void)
{
	return access("/sys/module/kchan", F_OK) == 0;
}

/*
 * Load LC_MODULE: finit_module() of its descriptor, or init_module() of
 * its image read into memory.  0 or -errno.
 */
static int lc_load(bool finit)
{
	int fd = open(LC_MODULE, O_RDONLY | O_CLOEXEC), ret = 0;
	struct stat st;
	void *image;

	if (fd < 0)
		return -errno;
	if (finit) {
		ret = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
		close(fd);
		return ret;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	image = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (image == MAP_FAILED)
		return -errno;
	if (syscall(SYS_init_module, image, (unsigned long)st.st_size, ""))
		ret = -errno;
	munmap(image, st.st_size);
	return ret;
}

/* Wait (bounded) until /dev/kchan exists, or is gone with @gone. */
static int lc_wait_dev(bool gone)
{
	int64_t end = kt_now_ns() + KT_WAIT_NS;

	while ((access(KT_DEV_PATH, F_OK) == 0) == gone) {
		if (kt_now_ns() > end)
			return -ETIMEDOUT;
		kt_sleep_us(1000);
	}
	return 0;
}

/*
 * Unload, retrying EAGAIN/EBUSY for a few seconds: before the loops, a
 * descriptor of an earlier program may still be on its way out.
 */
static int lc_unload_settled(void)
{
	int64_t end = kt_now_ns() + KT_WAIT_NS;
	int ret;

	while (lc_refused(ret = lc_unload()) && kt_now_ns() < end)
		kt_sleep_us(10000);
	return ret;
}

FIXTURE(reload) {
	bool absent;	/* no LC_MODULE: skipped (the 6.1 harness still runs the body) */
};

FIXTURE_SETUP(reload)
{
	self->absent = access(LC_MODULE, R_OK) != 0;
	if (self->absent)
		SKIP(return, LC_MODULE " missing: not in the QEMU guest");
	ASSERT_TRUE(lc_loaded());
	ASSERT_EQ(0, lc_unload_settled());
	ASSERT_FALSE(lc_loaded());
	ASSERT_EQ(0, lc_wait_dev(true));
}

/* Whatever happened, the programs after this one get the module back. */
FIXTURE_TEARDOWN(reload)
{
	if (!self->absent && !lc_loaded()) {
		EXPECT_EQ(0, lc_load(true));
		EXPECT_EQ(0, lc_wait_dev(false));
	}
}

/* One round's channel: a message through it, then the descriptor. */
static int lc_use_channel(int *out)
{
	uint64_t v = 0;
	int fd = kt_create(8, 1, 0);

	if (fd < 0)
		return fd;
	*out = fd;
	if (kt_send_raw(fd, &(uint64_t){ 0x6b6368616eULL }, 1, KCHAN_XFER_NONBLOCK) != 1 ||
	    kt_recv_raw(fd, &v, 1, KCHAN_XFER_NONBLOCK) != 1 || v != 0x6b6368616eULL)
		return -EIO;
	return 0;
}

TEST_F_TIMEOUT(reload, load_use_unload_rounds, 900)
{
	int64_t start = kt_now_ns();

	if (self->absent)
		return;
	for (int i = 0; i < LC_ROUNDS; i++) {
		int fd = -1, dev, ret;

		ret = lc_load(i % 2 == 0);
		ASSERT_EQ(0, ret) TH_LOG("round %d: %s_module: %s", i,
					 i % 2 ? "init" : "finit", strerror(-ret));
		ASSERT_EQ(0, lc_wait_dev(false)) TH_LOG("round %d: no " KT_DEV_PATH, i);
		ASSERT_EQ(0, lc_refcnt()) TH_LOG("round %d", i);

		/* A loaded module is not loaded twice. */
		ASSERT_EQ(-EEXIST, lc_load(i % 2 == 1));

		/* A channel pins it; so does /dev/kchan alone. */
		ret = lc_use_channel(&fd);
		ASSERT_EQ(0, ret) TH_LOG("round %d: channel: %s", i, strerror(-ret));
		ret = lc_unload();
		ASSERT_TRUE(lc_refused(ret)) TH_LOG("round %d: unload with a channel: %d",
						    i, ret);
		ASSERT_TRUE(lc_loaded());
		ASSERT_EQ(0, close(fd));
		dev = kt_open_dev();
		ASSERT_LE(0, dev);
		ret = lc_unload();
		ASSERT_TRUE(lc_refused(ret)) TH_LOG("round %d: unload with /dev/kchan: %d",
						    i, ret);
		ASSERT_EQ(0, close(dev));

		/* Nothing open: the unload succeeds at once. */
		ret = lc_unload();
		ASSERT_EQ(0, ret) TH_LOG("round %d: unload after close: %s", i,
					 strerror(-ret));
		ASSERT_FALSE(lc_loaded());
		ASSERT_EQ(0, lc_wait_dev(true)) TH_LOG("round %d: " KT_DEV_PATH " stays", i);
		ASSERT_EQ(-ENOENT, kt_open_dev());
	}
	/* Leave it loaded, as the runner did. */
	ASSERT_EQ(0, lc_load(true));
	ASSERT_EQ(0, lc_wait_dev(false));
	TH_LOG("%d load/unload rounds in %.1f s", LC_ROUNDS, (kt_now_ns() - start) / 1e9);
}

/*
 * Channels of every kind, left with queued elements, a blocked sender and
 * Go-closed, pin the module; once their descriptors are closed it unloads.
 */
TEST_F_TIMEOUT(reload, unload_after_busy_channels_closed, 300)
{
	if (self->absent)
		return;
	for (int i = 0; i < LC_ROUNDS / 5; i++) {
		int fds[4], ret;
		struct kt_worker w;

		ASSERT_EQ(0, lc_load(true));
		ASSERT_EQ(0, lc_wait_dev(false));
		fds[0] = kt_create(16, 4, 0);		/* elements queued */
		fds[1] = kt_create(8, 0, 0);		/* a blocked sender */
		fds[2] = kt_create(4096, 2, 0);		/* Go-closed, not drained */
		fds[3] = kt_create(1, 0, 0);		/* untouched */
		for (int k = 0; k < 4; k++)
			ASSERT_LE(0, fds[k]);
		ASSERT_EQ(1, kt_send_raw(fds[0], (char[16]){ 1 }, 1, 0));
		ASSERT_EQ(0, kt_start_send_u64(&w, fds[1], i));
		ASSERT_EQ(0, kt_wait_queues(fds[1], 1, 0));
		ASSERT_EQ(1, kt_send_raw(fds[2], (char[4096]){ 2 }, 1, 0));
		ASSERT_EQ(0, kt_ioctl(fds[2], KCHAN_IOC_CLOSE, 0));

		ret = lc_unload();
		ASSERT_TRUE(lc_refused(ret)) TH_LOG("round %d: %d", i, ret);
		/* Release the sender through the close, then close everything. */
		ASSERT_EQ(0, kt_ioctl(fds[1], KCHAN_IOC_CLOSE, 0));
		ASSERT_EQ(0, kt_worker_join(&w));
		ASSERT_EQ(-EPIPE, w.ret);
		for (int k = 0; k < 4; k++) {
			ret = lc_unload();
			ASSERT_TRUE(lc_refused(ret)) TH_LOG("round %d, %d open: %d", i,
							    4 - k, ret);
			ASSERT_EQ(0, close(fds[k]));
		}
		ASSERT_EQ(0, lc_unload());
		ASSERT_EQ(0, lc_wait_dev(true));
	}
	ASSERT_EQ(0, lc_load(true));
	ASSERT_EQ(0, lc_wait_dev(false));
}

TEST_HARNESS_MAIN
