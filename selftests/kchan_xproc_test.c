// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: channels shared between processes.
 *
 * A channel inherited over fork() and one passed with SCM_RIGHTS to a
 * process that had no descriptor for it work both ways, including a
 * blocked task in one process woken by the other; closing descriptors is
 * not closing the channel; and an open channel descriptor holds a
 * reference on kchan.ko (delete_module fails).  Children report through
 * their exit status: 0 is success, anything else names the failed step.
 */
#include <sys/socket.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

/* In a child: exit with @step unless @cond. */
#define CHILD_CHECK(cond, step) do {	\
	if (!(cond))			\
		_exit(step);		\
} while (0)

#define ASSERT_CHILD_OK(pid) do {						\
	int __status;								\
	ASSERT_EQ(0, kt_waitpid(pid, &__status));				\
	ASSERT_TRUE(WIFEXITED(__status)) TH_LOG("child status %#x", __status);	\
	ASSERT_EQ(0, WEXITSTATUS(__status)) TH_LOG("child failed at step %d",	\
						   WEXITSTATUS(__status));	\
} while (0)

TEST(fork_parent_sends_child_receives_in_order)
{
	int ch = KT_MAKE_CHAN(sizeof(uint64_t), 2, 0);
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		for (uint64_t i = 0; i < 10; i++) {
			uint64_t v = 0;

			CHILD_CHECK(kchan_recv(ch, &v) == 1, 1);
			CHILD_CHECK(v == i, 2);
		}
		_exit(0);
	}
	/* The child blocks first: the parent's send wakes another process. */
	ASSERT_EQ(0, kt_wait_queues(ch, 0, 1));
	for (uint64_t i = 0; i < 10; i++) {
		ASSERT_EQ(0, kt_send_u64(ch, i));
	}
	ASSERT_CHILD_OK(pid);
	EXPECT_EQ(0, kchan_len(ch));
	close(ch);
}

TEST(fork_child_sends_parent_receives_in_order)
{
	int ch = KT_MAKE_CHAN(sizeof(uint64_t), 2, 0);
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		for (uint64_t i = 0; i < 10; i++)
			CHILD_CHECK(kt_send_u64(ch, 100 + i) == 0, 1);
		_exit(0);
	}
	/* The child blocks on the full ring: the parent's receive wakes it. */
	ASSERT_EQ(0, kt_wait_queues(ch, 1, 0));
	for (uint64_t i = 0; i < 10; i++) {
		uint64_t v = 0;

		ASSERT_EQ(1, kchan_recv(ch, &v));
		ASSERT_EQ(100 + i, v);
	}
	ASSERT_CHILD_OK(pid);
	close(ch);
}

TEST(fork_close_in_parent_wakes_receiver_in_child)
{
	int ch = KT_MAKE_CHAN(sizeof(uint64_t), 2, 0);
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		uint64_t v = KT_SENTINEL_U64;

		CHILD_CHECK(kchan_recv(ch, &v) == 0, 1);
		CHILD_CHECK(v == KT_SENTINEL_U64, 2);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait_queues(ch, 0, 1));
	ASSERT_EQ(0, kchan_close(ch));
	ASSERT_CHILD_OK(pid);
	close(ch);
}

TEST(descriptors_closed_by_exiting_child_do_not_close_the_channel)
{
	int ch = KT_MAKE_CHAN(sizeof(uint64_t), 2, 0);
	struct kchan_info info;
	uint64_t v = 0;
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		CHILD_CHECK(kt_send_u64(ch, 5) == 0, 1);
		CHILD_CHECK(close(ch) == 0, 2);
		_exit(0);
	}
	ASSERT_CHILD_OK(pid);
	ASSERT_EQ(0, kt_info(ch, &info));
	EXPECT_EQ(0, info.state);
	EXPECT_EQ(1, info.len);
	ASSERT_EQ(1, kchan_recv(ch, &v));
	EXPECT_EQ(5, v);
	EXPECT_EQ(0, kt_send_u64(ch, 6));
	close(ch);
}

/* SCM_RIGHTS */
static int send_fd(int sock, int fd)
{
	char data = 'c';
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cmsg = { 0 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cmsg.buf, .msg_controllen = sizeof(cmsg.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -errno;
}

static int recv_fd(int sock)
{
	char data;
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} cmsg = { 0 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cmsg.buf, .msg_controllen = sizeof(cmsg.buf),
	};
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -errno;
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
		return -EPROTO;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/*
 * The child is forked before the channel exists, so its only way to the
 * channel is the descriptor passed over the socket.
 */
FIXTURE(scm) {
	int sock[2];
	pid_t pid;
};

FIXTURE_SETUP(scm)
{
	self->pid = -1;
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, self->sock));
}

FIXTURE_TEARDOWN(scm)
{
	close(self->sock[0]);
	close(self->sock[1]);
	if (self->pid > 0)
		kill(self->pid, SIGKILL);
}

TEST_F(scm, passed_channel_works_both_ways)
{
	uint64_t v = 0;
	int ch;

	self->pid = fork();
	ASSERT_LE(0, self->pid);
	if (self->pid == 0) {
		struct kchan_info info;
		int got = recv_fd(self->sock[1]);

		CHILD_CHECK(got >= 0, 1);
		CHILD_CHECK(kt_info(got, &info) == 0, 2);
		CHILD_CHECK(info.elem_size == sizeof(uint64_t) && info.capacity == 3, 3);
		/* Parent -> child: the element queued before passing. */
		CHILD_CHECK(kchan_recv(got, &v) == 1 && v == 41, 4);
		/* Child -> parent: wake the parent blocked in recv. */
		CHILD_CHECK(kt_wait_queues(got, 0, 1) == 0, 5);
		CHILD_CHECK(kt_send_u64(got, 42) == 0, 6);
		/* Parent -> blocked child. */
		CHILD_CHECK(kchan_recv(got, &v) == 1 && v == 43, 7);
		/* Go's close(ch) from this side is seen by the other. */
		CHILD_CHECK(kchan_close(got) == 0, 8);
		_exit(0);
	}
	ch = KT_MAKE_CHAN(sizeof(uint64_t), 3, KCHAN_CLOEXEC);
	ASSERT_EQ(0, kt_send_u64(ch, 41));
	ASSERT_EQ(0, send_fd(self->sock[0], ch));
	/* The child takes 41, then the parent blocks until the child sends 42. */
	ASSERT_EQ(0, kt_wait_len(ch, 0));
	ASSERT_EQ(1, kchan_recv(ch, &v));
	EXPECT_EQ(42, v);
	ASSERT_EQ(0, kt_wait_queues(ch, 0, 1));
	ASSERT_EQ(0, kt_send_u64(ch, 43));
	ASSERT_CHILD_OK(self->pid);
	self->pid = -1;
	EXPECT_EQ(0, kchan_recv(ch, &v));
	EXPECT_EQ(-EPIPE, kt_send_u64(ch, 44));
	close(ch);
}

TEST_F(scm, channel_outlives_the_creators_descriptor)
{
	int ch;

	self->pid = fork();
	ASSERT_LE(0, self->pid);
	if (self->pid == 0) {
		int got = recv_fd(self->sock[1]);
		uint64_t v = 0;

		CHILD_CHECK(got >= 0, 1);
		/* Wait until the creator has closed its descriptor. */
		CHILD_CHECK(read(self->sock[1], &v, 1) == 1, 2);
		CHILD_CHECK(kchan_recv(got, &v) == 1 && v == 51, 3);
		CHILD_CHECK(kt_send_u64(got, 52) == 0, 4);
		CHILD_CHECK(kchan_recv(got, &v) == 1 && v == 52, 5);
		CHILD_CHECK(kchan_len(got) == 0, 6);
		_exit(0);
	}
	ch = KT_MAKE_CHAN(sizeof(uint64_t), 3, 0);
	ASSERT_EQ(0, kt_send_u64(ch, 51));
	ASSERT_EQ(0, send_fd(self->sock[0], ch));
	ASSERT_EQ(0, close(ch));
	ASSERT_EQ(1, write(self->sock[0], "x", 1));
	ASSERT_CHILD_OK(self->pid);
	self->pid = -1;
}

/* Module reference counting: an open channel pins kchan.ko. */
static long module_refcnt(void)
{
	char buf[32] = { 0 };
	int fd = open("/sys/module/kchan/refcnt", O_RDONLY | O_CLOEXEC);
	ssize_t len;

	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -EIO;
	return strtol(buf, NULL, 10);
}

/*
 * Only ever called while the refcount shows a reference: it must fail,
 * and the test never unloads the module.
 */
static int try_delete_module(void)
{
	return syscall(SYS_delete_module, "kchan", O_NONBLOCK) ? -errno : 0;
}

TEST(open_channel_descriptor_pins_the_module)
{
	long before, with_chan, after;
	int ch, ret;

	before = module_refcnt();
	if (before == -ENOENT)
		SKIP(return, "kchan is not a loadable module (no /sys/module/kchan/refcnt)");
	ASSERT_LE(0, before);

	/* The /dev/kchan descriptor is closed again by kt_create(). */
	ch = kt_create(sizeof(uint64_t), 2, KCHAN_CLOEXEC);
	ASSERT_LE(0, ch);
	with_chan = module_refcnt();
	ASSERT_LT(before, with_chan) TH_LOG("an open channel holds no module reference");

	ret = try_delete_module();
	if (ret == -EPERM)
		SKIP(goto out, "no CAP_SYS_MODULE");
	EXPECT_TRUE(ret == -EWOULDBLOCK || ret == -EAGAIN || ret == -EBUSY)
		TH_LOG("delete_module: %s", strerror(-ret));
	/* Still loaded and working. */
	EXPECT_EQ(0, kt_send_u64(ch, 1));
	EXPECT_EQ(1, kchan_len(ch));
out:
	close(ch);
	after = module_refcnt();
	EXPECT_EQ(before, after);
}

TEST(open_dev_descriptor_pins_the_module)
{
	long before, with_dev;
	int dev, ret;

	before = module_refcnt();
	if (before == -ENOENT)
		SKIP(return, "kchan is not a loadable module (no /sys/module/kchan/refcnt)");
	ASSERT_LE(0, before);

	dev = kt_open_dev();
	ASSERT_LE(0, dev);
	with_dev = module_refcnt();
	ASSERT_LT(before, with_dev) TH_LOG("an open /dev/kchan holds no module reference");
	ret = try_delete_module();
	if (ret != -EPERM) {
		EXPECT_TRUE(ret == -EWOULDBLOCK || ret == -EAGAIN || ret == -EBUSY)
			TH_LOG("delete_module: %s", strerror(-ret));
	}
	close(dev);
	EXPECT_EQ(before, module_refcnt());
}

TEST(channel_passed_to_a_child_keeps_pinning_the_module)
{
	long before;
	int ch, status;
	pid_t pid;

	before = module_refcnt();
	if (before == -ENOENT)
		SKIP(return, "kchan is not a loadable module (no /sys/module/kchan/refcnt)");
	ch = kt_create(sizeof(uint64_t), 1, 0);
	ASSERT_LE(0, ch);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		uint64_t v;

		/* Block until the parent has dropped its descriptor. */
		CHILD_CHECK(kchan_recv(ch, &v) == 1, 1);
		_exit(0);
	}
	ASSERT_EQ(0, kt_wait_queues(ch, 0, 1));
	close(ch);
	/* Only the child's descriptor is left, and it still counts. */
	EXPECT_LT(before, module_refcnt());
	kill(pid, SIGKILL);
	ASSERT_EQ(0, kt_waitpid(pid, &status));
	EXPECT_EQ(before, module_refcnt());
}

TEST_HARNESS_MAIN
