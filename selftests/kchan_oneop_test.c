// SPDX-License-Identifier: GPL-2.0
/*
 * KCHAN_IOC_SEND_ONE and KCHAN_IOC_RECV_ONE: the struct-less one-element
 * ioctls behind kchan_send() and kchan_recv().  Their blocking semantics
 * are the plain send's and receive's (covered through the library by the
 * other tests); these check the raw ABI.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kchan_test_util.h"

TEST(send_one_then_recv_one_returns_one_element)
{
	uint64_t v = 42, got = 0;
	int fd = KT_MAKE_CHAN(sizeof(v), 2, 0);

	EXPECT_EQ(1, kt_ioctl(fd, KCHAN_IOC_SEND_ONE, (uintptr_t)&v));
	EXPECT_EQ(1, kt_len(fd));
	EXPECT_EQ(1, kt_ioctl(fd, KCHAN_IOC_RECV_ONE, (uintptr_t)&got));
	EXPECT_EQ(42, got);
	close(fd);
}

TEST(one_ops_follow_o_nonblock)
{
	uint64_t v = 7;
	int fd = KT_MAKE_CHAN(sizeof(v), 1, KCHAN_NONBLOCK);

	EXPECT_EQ(-EAGAIN, kt_ioctl(fd, KCHAN_IOC_RECV_ONE, (uintptr_t)&v));
	EXPECT_EQ(1, kt_ioctl(fd, KCHAN_IOC_SEND_ONE, (uintptr_t)&v));
	EXPECT_EQ(-EAGAIN, kt_ioctl(fd, KCHAN_IOC_SEND_ONE, (uintptr_t)&v));
	close(fd);
}

TEST(recv_one_returns_zero_on_closed_and_drained_untouched)
{
	uint64_t v = 5, got = 99;
	int fd = KT_MAKE_CHAN(sizeof(v), 1, 0);

	ASSERT_EQ(1, kt_ioctl(fd, KCHAN_IOC_SEND_ONE, (uintptr_t)&v));
	ASSERT_EQ(0, kt_ioctl(fd, KCHAN_IOC_CLOSE, 0));
	EXPECT_EQ(-EPIPE, kt_ioctl(fd, KCHAN_IOC_SEND_ONE, (uintptr_t)&v));
	EXPECT_EQ(1, kt_ioctl(fd, KCHAN_IOC_RECV_ONE, (uintptr_t)&got));
	EXPECT_EQ(5, got);
	got = 99;
	EXPECT_EQ(0, kt_ioctl(fd, KCHAN_IOC_RECV_ONE, (uintptr_t)&got));
	EXPECT_EQ(99, got);
	close(fd);
}

TEST(bad_pointers_fault_and_lose_nothing)
{
	uint64_t v = 3, got = 0;
	int fd = KT_MAKE_CHAN(sizeof(v), 1, KCHAN_NONBLOCK);

	EXPECT_EQ(-EFAULT, kt_ioctl(fd, KCHAN_IOC_SEND_ONE, (uintptr_t)kt_bad_ptr(8)));
	EXPECT_EQ(0, kt_len(fd));
	ASSERT_EQ(1, kt_ioctl(fd, KCHAN_IOC_SEND_ONE, (uintptr_t)&v));
	EXPECT_EQ(-EFAULT, kt_ioctl(fd, KCHAN_IOC_RECV_ONE, (uintptr_t)kt_bad_ptr(8)));
	EXPECT_EQ(1, kt_len(fd));
	EXPECT_EQ(1, kt_ioctl(fd, KCHAN_IOC_RECV_ONE, (uintptr_t)&got));
	EXPECT_EQ(3, got);
	close(fd);
}

TEST(one_ops_on_dev_kchan_are_enotty)
{
	uint64_t v = 1;
	int dev = kt_open_dev();

	ASSERT_LE(0, dev);
	EXPECT_EQ(-ENOTTY, kt_ioctl(dev, KCHAN_IOC_SEND_ONE, (uintptr_t)&v));
	EXPECT_EQ(-ENOTTY, kt_ioctl(dev, KCHAN_IOC_RECV_ONE, (uintptr_t)&v));
	close(dev);
}

TEST_HARNESS_MAIN
