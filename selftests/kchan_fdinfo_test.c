// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: /proc/PID/fdinfo/FD of a channel descriptor.
 *
 * After a known sequence of operations every kchan line of fdinfo must
 * show exactly the channel's state (id, element size, capacity, length,
 * closed, blocked senders and receivers) and its lifetime counters (sends,
 * recvs, send-blocks, recv-blocks, timeouts).  Blocked tasks are waited
 * for with KCHAN_IOC_INFO's queue counts, never with sleeps.
 */
#include <inttypes.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

struct kt_fdinfo {
	uint64_t id, elem_size, capacity, len, closed, sendq, recvq;
	uint64_t sends, recvs, send_blocks, recv_blocks, timeouts;
};

static const struct {
	const char *name;
	size_t off;
} kt_fdinfo_fields[] = {
#define F(n, m)	{ n ":", offsetof(struct kt_fdinfo, m) }
	F("kchan-id", id), F("elem-size", elem_size), F("capacity", capacity),
	F("len", len), F("closed", closed), F("sendq", sendq),
	F("recvq", recvq), F("sends", sends), F("recvs", recvs),
	F("send-blocks", send_blocks), F("recv-blocks", recv_blocks),
	F("timeouts", timeouts),
#undef F
};

#define KT_NFIELDS	(sizeof(kt_fdinfo_fields) / sizeof(kt_fdinfo_fields[0]))

/*
 * Parse /proc/@pid/fdinfo/@fd (pid 0: self).  Every field must appear
 * exactly once.  0 or -errno (-EBADMSG for a missing/duplicate field).
 */
static int kt_read_fdinfo(pid_t pid, int fd, struct kt_fdinfo *fi)
{
	char path[64], buf[4096];
	int seen[KT_NFIELDS] = { 0 };
	char *line, *save;
	int ret;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	else
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	ret = kt_read_file(path, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	memset(fi, 0, sizeof(*fi));
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		for (size_t i = 0; i < KT_NFIELDS; i++) {
			size_t n = strlen(kt_fdinfo_fields[i].name);
			char *end;

			if (strncmp(line, kt_fdinfo_fields[i].name, n))
				continue;
			errno = 0;
			*(uint64_t *)((char *)fi + kt_fdinfo_fields[i].off) =
				strtoull(line + n, &end, 10);
			if (end == line + n || *end || errno)
				return -EBADMSG;
			seen[i]++;
		}
	}
	for (size_t i = 0; i < KT_NFIELDS; i++)
		if (seen[i] != 1)
			return -EBADMSG;
	return 0;
}

#define READ_FDINFO(fd, fi) \
	ASSERT_EQ(0, kt_read_fdinfo(0, fd, fi)) TH_LOG("fdinfo of %d", fd)

/* An 8-byte, capacity-4 channel. */
#define CAP	4

KT_U64_CHAN_FIXTURE(chan, CAP)

/* A new channel: its geometry, and everything else zero. */
TEST_F(chan, fresh)
{
	struct kt_fdinfo fi;
	char buf[4096];
	char path[64];

	READ_FDINFO(self->ch, &fi);
	EXPECT_LT(0, fi.id);
	EXPECT_EQ(sizeof(uint64_t), fi.elem_size);
	EXPECT_EQ(CAP, fi.capacity);
	EXPECT_EQ(0, fi.len);
	EXPECT_EQ(0, fi.closed);
	EXPECT_EQ(0, fi.sendq);
	EXPECT_EQ(0, fi.recvq);
	EXPECT_EQ(0, fi.sends);
	EXPECT_EQ(0, fi.recvs);
	EXPECT_EQ(0, fi.send_blocks);
	EXPECT_EQ(0, fi.recv_blocks);
	EXPECT_EQ(0, fi.timeouts);

	/* The generic lines are still there. */
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", self->ch);
	ASSERT_LT(0, kt_read_file(path, buf, sizeof(buf)));
	EXPECT_NE(NULL, strstr(buf, "flags:"));
	TH_LOG("fdinfo:\n%s", buf);
}

/* Create cap 4 elem 8, send 3, receive 1. */
TEST_F(chan, send3_recv1)
{
	struct kt_fdinfo fi;
	uint64_t v;

	for (v = 1; v <= 3; v++)
		ASSERT_EQ(0, kchan_send(self->ch, &v));
	ASSERT_EQ(1, kchan_recv(self->ch, &v));
	ASSERT_EQ(1, v);

	READ_FDINFO(self->ch, &fi);
	EXPECT_EQ(2, fi.len);
	EXPECT_EQ(3, fi.sends);
	EXPECT_EQ(1, fi.recvs);
	EXPECT_EQ(0, fi.send_blocks);
	EXPECT_EQ(0, fi.recv_blocks);
	EXPECT_EQ(0, fi.timeouts);
	EXPECT_EQ(0, fi.closed);
}

/* Batches count every element; failed non-blocking calls count nothing. */
TEST_F(chan, batches)
{
	uint64_t in[CAP + 1] = { 1, 2, 3, 4, 5 }, out[CAP + 1];
	struct kt_fdinfo fi;

	ASSERT_EQ(CAP, kchan_send_many(self->ch, in, CAP + 1));
	ASSERT_EQ(-EAGAIN, kchan_try_send(self->ch, &in[0]));
	READ_FDINFO(self->ch, &fi);
	EXPECT_EQ(CAP, fi.len);
	EXPECT_EQ(CAP, fi.sends);

	ASSERT_EQ(CAP, kchan_recv_many(self->ch, out, CAP + 1));
	ASSERT_EQ(-EAGAIN, kchan_try_recv(self->ch, &out[0]));
	READ_FDINFO(self->ch, &fi);
	EXPECT_EQ(0, fi.len);
	EXPECT_EQ(CAP, fi.sends);
	EXPECT_EQ(CAP, fi.recvs);
	EXPECT_EQ(0, fi.send_blocks);
	EXPECT_EQ(0, fi.recv_blocks);
	EXPECT_EQ(0, fi.timeouts);
}

/* A blocked receiver shows in recvq and recv-blocks. */
TEST_F(chan, blocked_receiver)
{
	struct kt_fdinfo fi;
	struct kt_worker w;

	ASSERT_EQ(0, kt_start_recv(&w, self->ch));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));

	READ_FDINFO(self->ch, &fi);
	EXPECT_EQ(1, fi.recvq);
	EXPECT_EQ(0, fi.sendq);
	EXPECT_EQ(1, fi.recv_blocks);
	EXPECT_EQ(0, fi.send_blocks);
	EXPECT_EQ(0, fi.sends);
	EXPECT_EQ(0, fi.recvs);

	/* Handed straight to the receiver: sent and received at once. */
	ASSERT_EQ(0, kt_send_u64(self->ch, 42));
	ASSERT_EQ(0, kt_worker_join(&w));
	ASSERT_EQ(1, w.ret);
	ASSERT_EQ(42, kt_worker_u64(&w));

	READ_FDINFO(self->ch, &fi);
	EXPECT_EQ(0, fi.recvq);
	EXPECT_EQ(0, fi.len);
	EXPECT_EQ(1, fi.sends);
	EXPECT_EQ(1, fi.recvs);
	EXPECT_EQ(1, fi.recv_blocks);
}

/* A blocked sender shows in sendq and send-blocks; a receive releases it. */
TEST_F(chan, blocked_sender)
{
	struct kt_fdinfo fi;
	struct kt_worker w;
	uint64_t v;

	for (v = 0; v < CAP; v++)
		ASSERT_EQ(0, kchan_send(self->ch, &v));
	ASSERT_EQ(0, kt_start_send_u64(&w, self->ch, 99));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));

	READ_FDINFO(self->ch, &fi);
	EXPECT_EQ(1, fi.sendq);
	EXPECT_EQ(0, fi.recvq);
	EXPECT_EQ(CAP, fi.len);
	EXPECT_EQ(CAP, fi.sends);
	EXPECT_EQ(1, fi.send_blocks);
	EXPECT_EQ(0, fi.recv_blocks);

	ASSERT_EQ(1, kchan_recv(self->ch, &v));
	ASSERT_EQ(0, kt_worker_join(&w));
	ASSERT_EQ(0, w.ret);

	READ_FDINFO(self->ch, &fi);
	EXPECT_EQ(0, fi.sendq);
	EXPECT_EQ(CAP, fi.len);
	EXPECT_EQ(CAP + 1, fi.sends);
	EXPECT_EQ(1, fi.recvs);
	EXPECT_EQ(1, fi.send_blocks);
}

/* Timed-out sends and receives count a block and a timeout each. */
TEST_F(chan, timeouts)
{
	struct kt_fdinfo fi;
	uint64_t v = 0;

	ASSERT_EQ(-ETIMEDOUT, kchan_recv_timeout(self->ch, &v, 10 * KT_MSEC));
	READ_FDINFO(self->ch, &fi);
	EXPECT_EQ(1, fi.timeouts);
	EXPECT_EQ(1, fi.recv_blocks);
	EXPECT_EQ(0, fi.recvq);

	for (v = 0; v < CAP; v++)
		ASSERT_EQ(0, kchan_send(self->ch, &v));
	ASSERT_EQ(-ETIMEDOUT, kchan_send_timeout(self->ch, &v, 10 * KT_MSEC));
	READ_FDINFO(self->ch, &fi);
	EXPECT_EQ(2, fi.timeouts);
	EXPECT_EQ(1, fi.send_blocks);
	EXPECT_EQ(0, fi.sendq);
	EXPECT_EQ(CAP, fi.sends);
	EXPECT_EQ(CAP, fi.len);
}

/* Selects count like sends and receives, and a timeout per channel. */
TEST_F(chan, select)
{
	int other = KT_MAKE_CHAN(sizeof(uint64_t), 1, 0);
	uint64_t a = 7, b = 0, c = 0;
	struct kchan_case cases[3];
	struct kt_fdinfo fi;

	/* Two receive cases on this channel, one on the other: both time out. */
	cases[0] = (struct kchan_case){ .ch = self->ch, .op = KCHAN_CASE_RECV, .elem = &b };
	cases[1] = (struct kchan_case){ .ch = self->ch, .op = KCHAN_CASE_RECV, .elem = &c };
	cases[2] = (struct kchan_case){ .ch = other, .op = KCHAN_CASE_RECV, .elem = &c };
	ASSERT_EQ(-ETIMEDOUT, kchan_select(cases, 3, 10 * KT_MSEC));
	READ_FDINFO(self->ch, &fi);
	EXPECT_EQ(1, fi.timeouts);
	EXPECT_EQ(2, fi.recv_blocks);
	EXPECT_EQ(0, fi.recvq);
	READ_FDINFO(other, &fi);
	EXPECT_EQ(1, fi.timeouts);
	EXPECT_EQ(1, fi.recv_blocks);

	/* A ready send case sends; a ready receive case receives. */
	cases[0] = (struct kchan_case){ .ch = self->ch, .op = KCHAN_CASE_SEND, .elem = &a };
	ASSERT_EQ(0, kchan_select(cases, 1, 0));
	cases[0] = (struct kchan_case){ .ch = self->ch, .op = KCHAN_CASE_RECV, .elem = &b };
	ASSERT_EQ(0, kchan_select(cases, 1, 0));
	ASSERT_EQ(7, b);
	READ_FDINFO(self->ch, &fi);
	EXPECT_EQ(1, fi.sends);
	EXPECT_EQ(1, fi.recvs);
	EXPECT_EQ(0, fi.len);
	EXPECT_EQ(1, fi.timeouts);

	close(other);
}

/* Close shows closed 1 and keeps the counters. */
TEST_F(chan, closed)
{
	struct kt_fdinfo fi;

	ASSERT_EQ(0, kt_send_u64(self->ch, 5));
	ASSERT_EQ(0, kchan_close(self->ch));
	READ_FDINFO(self->ch, &fi);
	EXPECT_EQ(1, fi.closed);
	EXPECT_EQ(1, fi.len);
	EXPECT_EQ(1, fi.sends);
	EXPECT_EQ(0, fi.recvs);
}

/* Unbuffered: a blocked sender's element taken directly. */
TEST(unbuffered)
{
	int ch = KT_MAKE_CHAN(sizeof(uint64_t), 0, 0);
	struct kt_fdinfo fi;
	struct kt_worker w;
	uint64_t v = 0;

	READ_FDINFO(ch, &fi);
	EXPECT_EQ(0, fi.capacity);
	ASSERT_EQ(0, kt_start_send_u64(&w, ch, 3));
	ASSERT_EQ(0, kt_wait_queues(ch, 1, 0));
	ASSERT_EQ(1, kchan_recv(ch, &v));
	ASSERT_EQ(3, v);
	ASSERT_EQ(0, kt_worker_join(&w));
	ASSERT_EQ(0, w.ret);
	READ_FDINFO(ch, &fi);
	EXPECT_EQ(1, fi.sends);
	EXPECT_EQ(1, fi.recvs);
	EXPECT_EQ(1, fi.send_blocks);
	EXPECT_EQ(0, fi.recv_blocks);
	EXPECT_EQ(0, fi.len);
	close(ch);
}

/* Ids: distinct per channel, shared by dup'd and inherited descriptors. */
TEST(ids)
{
	int a = KT_MAKE_CHAN(4, 2, 0);
	int b = KT_MAKE_CHAN(16, 1, 0);
	struct kt_fdinfo fa, fb, fd;
	int dup_fd, status;
	pid_t pid;

	READ_FDINFO(a, &fa);
	READ_FDINFO(b, &fb);
	EXPECT_NE(fa.id, fb.id);
	EXPECT_LT(fa.id, fb.id);
	EXPECT_EQ(4, fa.elem_size);
	EXPECT_EQ(16, fb.elem_size);
	EXPECT_EQ(2, fa.capacity);
	EXPECT_EQ(1, fb.capacity);

	dup_fd = dup(a);
	ASSERT_LE(0, dup_fd);
	READ_FDINFO(dup_fd, &fd);
	EXPECT_EQ(fa.id, fd.id);

	/* The parent sees a child's send on the inherited descriptor. */
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kt_fdinfo fc;
		uint32_t v = 1;

		if (kt_read_fdinfo(0, a, &fc) || fc.id != fa.id)
			_exit(1);
		if (kchan_send(a, &v))
			_exit(2);
		_exit(0);
	}
	ASSERT_EQ(0, kt_waitpid(pid, &status));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	READ_FDINFO(a, &fa);
	EXPECT_EQ(1, fa.sends);
	EXPECT_EQ(1, fa.len);

	close(dup_fd);
	close(a);
	close(b);
}

TEST_HARNESS_MAIN
