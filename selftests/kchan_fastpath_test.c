// SPDX-License-Identifier: GPL-2.0
/*
 * libchanuser's mapped fast path (Documentation/design/fastpath.rst):
 * sends and receives without a system call while neither side sleeps, the
 * wake-up protocol between user space and tasks asleep in the kernel (a
 * lost-wake-up stress, a one-slot channel ping-ponged in both paths),
 * exactly-once among producers and consumers that mix the fast path, the
 * ioctls and read/write, with closes, timeouts, signals and SIGKILL, and
 * the library's bookkeeping: descriptors reused, fork, bad buffers.
 *
 * KCHAN_PINGPONG_ROUNDS and KCHAN_MIXED_PER_PRODUCER lengthen the stress
 * runs (the debug lane sets them); the defaults keep "make check" short.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kchan_test_util.h"
#include "kchan_seccomp.h"

static unsigned long env_ulong(const char *name, unsigned long def)
{
	const char *v = getenv(name);
	unsigned long n = v ? strtoul(v, NULL, 10) : 0;

	return n ? n : def;
}

/* A mappable channel, mapped by the library, or a SKIP without the fast path. */
#define MAPPED_CHAN(fd, esz, cap, flags) do {				\
	fd = kchan_make(esz, cap, flags);				\
	ASSERT_LE(0, fd);						\
	if (kchan_map(fd) != 1)						\
		SKIP(return, "the fast path is off (KCHAN_FASTPATH=0)");	\
} while (0)

TEST(map_says_which_path)
{
	int fd = kt_create(8, 4, 0);

	ASSERT_LE(0, fd);
	EXPECT_EQ(0, kchan_map(fd)) TH_LOG("a plain channel");
	close(fd);
	fd = kt_create(8, 0, 0);
	EXPECT_EQ(0, kchan_map(fd)) TH_LOG("unbuffered");
	close(fd);
	EXPECT_EQ(-EBADF, kchan_map(fd));
	EXPECT_EQ(0, kchan_unmap(fd));
}

/*
 * While neither side sleeps, not one send or receive enters the kernel:
 * a child forbidden every ioctl(2), read(2) and write(2) (seccomp kills
 * it at the first) moves 100 000 elements one by one, 8 000 in batches,
 * and meets a full and an empty ring with the try forms.
 */
TEST(no_system_call_while_nobody_sleeps)
{
	int fd, status;
	pid_t pid;

	MAPPED_CHAN(fd, sizeof(uint64_t), 8, 0);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		uint64_t v, got[8], out[8];
		int i, k;

		if (kchan_map(fd) != 1)
			_exit(1);
		if (forbid_kchan_syscalls())
			_exit(SECCOMP_MISSING);
		for (v = 0; v < 100000; v++) {
			if (kchan_send(fd, &v) || kchan_recv(fd, got) != 1 || got[0] != v)
				_exit(3);
		}
		for (i = 0; i < 1000; i++, v += 8) {
			for (k = 0; k < 8; k++)
				out[k] = v + k;
			if (kchan_send_many(fd, out, 8) != 8 ||
			    kchan_try_send(fd, &v) != -EAGAIN ||
			    kchan_recv_many(fd, got, 8) != 8 ||
			    kchan_try_recv(fd, got) != -EAGAIN)
				_exit(4);
			for (k = 0; k < 8; k++)
				if (got[k] != v + k)
					_exit(5);
		}
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	if (WIFEXITED(status) && WEXITSTATUS(status) == SECCOMP_MISSING)
		SKIP(goto out, "no seccomp filters in this kernel");
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("status %#x (signal 31: a system call)", status);
	EXPECT_EQ(0, kt_len(fd));
out:
	close(fd);
}

/* The fast path and the kernel path see one FIFO. */
TEST(fast_and_kernel_paths_share_one_fifo)
{
	uint64_t v, got;
	int fd;

	MAPPED_CHAN(fd, sizeof(uint64_t), 16, 0);
	for (v = 0; v < 3000; v++) {
		long ret;

		if (v % 3 == 0)
			ret = kt_send_raw(fd, &v, 1, 0) == 1 ? 0 : -1;
		else if (v % 3 == 1)
			ret = write(fd, &v, sizeof(v)) == sizeof(v) ? 0 : -1;
		else
			ret = kchan_send(fd, &v);
		ASSERT_EQ(0, ret) TH_LOG("element %llu", (unsigned long long)v);
		if (v % 5 != 4)
			continue;
		for (uint64_t w = v - 4; w <= v; w++) {
			ret = w % 2 ? kchan_recv(fd, &got) : kt_recv_raw(fd, &got, 1, 0);
			ASSERT_EQ(1, ret);
			ASSERT_EQ(w, got);
		}
	}
	close(fd);
}

/*
 * Batches claim runs of slots: runs that wrap the ring, runs cut short by
 * a full or an empty ring, and single kernel-path elements between them
 * keep one FIFO.
 */
TEST(batches_wrap_the_ring_in_order)
{
	uint64_t out[9], in[9], next = 0, expect = 0;
	int fd, round;

	MAPPED_CHAN(fd, sizeof(uint64_t), 5, 0);
	for (round = 0; round < 400; round++) {
		size_t want = 1 + round % 9, room = 5 - (next - expect), j;
		size_t take;
		ssize_t n;

		for (j = 0; j < want; j++)
			out[j] = next + j;
		if (room) {	/* as many as fit, no more */
			n = kchan_send_many(fd, out, want);
			ASSERT_EQ((ssize_t)(want < room ? want : room), n);
			next += n;
		}
		if (round % 3 == 2) {	/* one through the kernel path */
			ASSERT_EQ(1, kt_recv_raw(fd, in, 1, 0));
			ASSERT_EQ(expect, in[0]);
			expect++;
		}
		take = 1 + round % 4 < next - expect ? 1 + round % 4 : next - expect;
		if (!take)
			continue;
		n = kchan_recv_many(fd, in, take);
		ASSERT_EQ((ssize_t)take, n);
		for (j = 0; j < take; j++)
			ASSERT_EQ(expect + j, in[j]);
		expect += take;
	}
	ASSERT_EQ(next - expect, (uint64_t)kt_len(fd));
	close(fd);
}

/* Close stops every later fast-path send; receivers drain, then see 0. */
TEST(close_stops_fast_sends_and_drains)
{
	uint64_t v = 5, got;
	int fd;

	MAPPED_CHAN(fd, sizeof(uint64_t), 4, 0);
	ASSERT_EQ(0, kchan_send(fd, &v));
	ASSERT_EQ(0, kchan_close(fd));
	EXPECT_EQ(-EPIPE, kchan_send(fd, &v));
	EXPECT_EQ(-EPIPE, kchan_try_send(fd, &v));
	ASSERT_EQ(1, kchan_recv(fd, &got));
	EXPECT_EQ(5, got);
	EXPECT_EQ(0, kchan_recv(fd, &got));
	EXPECT_EQ(0, kchan_try_recv(fd, &got));
	close(fd);
}

/*
 * A descriptor number that comes to name another channel: the library
 * notices the close and follows the number to the new channel.
 */
TEST(reused_descriptor_names_the_new_channel)
{
	uint64_t v = 1, got;
	int fd, fd2;

	MAPPED_CHAN(fd, sizeof(uint64_t), 4, 0);
	ASSERT_EQ(0, kchan_send(fd, &v));
	ASSERT_EQ(0, close(fd));
	fd2 = kt_create(sizeof(uint64_t), 4, KCHAN_MAPPABLE);
	ASSERT_EQ(fd, fd2) TH_LOG("the lowest free number comes back");
	v = 2;
	ASSERT_EQ(0, kchan_send(fd2, &v));
	EXPECT_EQ(1, kt_len(fd2));
	ASSERT_EQ(1, kt_recv_raw(fd2, &got, 1, 0));
	EXPECT_EQ(2, got);
	ASSERT_EQ(0, close(fd2));
	/* Now a plain channel under the same number. */
	fd2 = kt_create(sizeof(uint64_t), 4, 0);
	ASSERT_EQ(fd, fd2);
	v = 3;
	ASSERT_EQ(0, kchan_send(fd2, &v));
	ASSERT_EQ(1, kchan_recv(fd2, &got));
	EXPECT_EQ(3, got);
	close(fd2);
}

/* A child maps the inherited channel afresh; the parent's mapping stays. */
TEST(fork_child_maps_again)
{
	uint64_t v = 7, got;
	int fd, status;
	pid_t pid;

	MAPPED_CHAN(fd, sizeof(uint64_t), 4, 0);
	ASSERT_EQ(0, kchan_send(fd, &v));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		uint64_t w = 0;

		if (kchan_recv(fd, &w) != 1 || w != 7)
			_exit(1);
		w = 8;
		_exit(kchan_send(fd, &w) ? 2 : 0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(1, kchan_recv(fd, &got));
	EXPECT_EQ(8, got);
	close(fd);
}

/*
 * A bad buffer: NULL is EFAULT as on the kernel path; an inaccessible
 * page faults (SIGSEGV) before any slot is claimed, so nothing is lost.
 */
TEST(bad_buffer_faults_before_a_claim)
{
	uint64_t v = 9, got;
	int fd, status;
	pid_t pid;

	MAPPED_CHAN(fd, sizeof(uint64_t), 4, 0);
	EXPECT_EQ(-EFAULT, kchan_send(fd, NULL));
	ASSERT_EQ(0, kchan_send(fd, &v));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (kchan_map(fd) != 1)
			_exit(3);
		_exit(-kchan_send(fd, kt_noaccess_addr()));
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
		TH_LOG("status %#x", status);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		_exit(-kchan_recv(fd, kt_noaccess_addr()));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
		TH_LOG("status %#x", status);
	EXPECT_EQ(1, kt_len(fd));
	/* NULL takes the kernel path, which gives the element back. */
	EXPECT_EQ(-EFAULT, kchan_recv(fd, NULL));
	ASSERT_EQ(1, kchan_recv(fd, &got));
	EXPECT_EQ(9, got);
	EXPECT_EQ(-EAGAIN, kchan_try_recv(fd, &got));
	close(fd);
}

/* A poller asleep on an empty mapped channel wakes for a fast-path send. */
TEST(poll_wakes_for_a_fast_send)
{
	struct pollfd p;
	uint64_t v;
	int fd, status;
	pid_t pid;

	MAPPED_CHAN(fd, sizeof(uint64_t), 4, 0);
	for (v = 0; v < 200; v++) {
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			kt_sleep_us(v % 4 * 500);
			_exit(kchan_send(fd, &v) ? 1 : 0);
		}
		p = (struct pollfd){ .fd = fd, .events = POLLIN };
		ASSERT_EQ(1, poll(&p, 1, 10000)) TH_LOG("round %llu", (unsigned long long)v);
		ASSERT_EQ(POLLIN, p.revents & POLLIN);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_EQ(1, kchan_recv(fd, &(uint64_t){ 0 }));
	}
	close(fd);
}

FIXTURE(pingpong) {
	int ping, pong;
};

FIXTURE_VARIANT(pingpong) {
	bool mapped;
};

FIXTURE_VARIANT_ADD(pingpong, fast_path) {
	.mapped = true,
};

FIXTURE_VARIANT_ADD(pingpong, kernel_path) {
	.mapped = false,
};

FIXTURE_SETUP(pingpong)
{
	uint32_t flags = variant->mapped ? KCHAN_MAPPABLE : 0;

	self->ping = kt_create(sizeof(uint64_t), 1, flags);
	self->pong = kt_create(sizeof(uint64_t), 1, flags);
	ASSERT_LE(0, self->ping);
	ASSERT_LE(0, self->pong);
	if (variant->mapped && (kchan_map(self->ping) != 1 || kchan_map(self->pong) != 1))
		SKIP(return, "the fast path is off (KCHAN_FASTPATH=0)");
}

FIXTURE_TEARDOWN(pingpong)
{
	close(self->ping);
	close(self->pong);
}

/*
 * Lost wake-ups: two processes bounce a counter through two one-slot
 * channels, so that every send finds the other side asleep or about to
 * sleep.  One lost wake-up hangs the test (the harness's timeout); each
 * value must come back incremented.
 */
TEST_F_TIMEOUT(pingpong, one_slot_never_loses_a_wake_up, 600)
{
	unsigned long rounds = env_ulong("KCHAN_PINGPONG_ROUNDS", 20000), i;
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		uint64_t v;

		for (i = 0; i < rounds; i++) {
			if (kchan_recv(self->ping, &v) != 1 || v != 2 * i)
				_exit(1);
			v++;
			if (kchan_send(self->pong, &v))
				_exit(2);
		}
		_exit(0);
	}
	for (i = 0; i < rounds; i++) {
		uint64_t v = 2 * i;

		ASSERT_EQ(0, kchan_send(self->ping, &v));
		ASSERT_EQ(1, kchan_recv(self->pong, &v));
		ASSERT_EQ(2 * i + 1, v);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	TH_LOG("%lu round trips", rounds);
}

#define MIX_PRODUCERS	5
#define MIX_CONSUMERS	5

/* How a producer or consumer moves elements. */
enum mix_way { MIX_FAST, MIX_IOCTL, MIX_RW, MIX_TIMEOUT, MIX_MANY, MIX_WAYS };

/* Shared between the processes of the mixed test. */
struct mix_shared {
	_Atomic uint64_t sent[MIX_PRODUCERS];	/* how many each producer sent */
	_Atomic unsigned char seen[];		/* per element: times received */
};

static int mix_send(int fd, enum mix_way way, uint64_t v)
{
	long ret;

	switch (way) {
	case MIX_FAST:
		return kchan_send(fd, &v);
	case MIX_IOCTL:
		ret = kt_send_raw(fd, &v, 1, 0);
		return ret == 1 ? 0 : (int)ret;
	case MIX_RW:
		return write(fd, &v, sizeof(v)) == sizeof(v) ? 0 : -errno;
	default:
		do	/* a call with a deadline is not restarted: -EINTR */
			ret = kchan_send_timeout(fd, &v, 1000000);
		while (ret == -ETIMEDOUT || ret == -EINTR);
		return ret;
	}
}

static int mix_recv(int fd, enum mix_way way, uint64_t *v)
{
	ssize_t n;
	int ret;

	switch (way) {
	case MIX_FAST:
		return kchan_recv(fd, v);
	case MIX_IOCTL:
		return kt_recv_raw(fd, v, 1, 0);
	case MIX_RW:
		n = read(fd, v, sizeof(*v));
		return n == sizeof(*v) ? 1 : n == 0 ? 0 : -errno;
	default:
		do
			ret = kchan_recv_timeout(fd, v, 1000000);
		while (ret == -ETIMEDOUT || ret == -EINTR);
		return ret;
	}
}

/* A producer: elements i << 32 | k, one by one or in batches of 1 to 7. */
static void mix_produce(int fd, enum mix_way way, int i, size_t per,
			struct mix_shared *sh)
{
	uint64_t batch[7];
	size_t k = 0, b, j;
	ssize_t ret;

	while (k < per) {
		if (way != MIX_MANY) {
			if (mix_send(fd, way, (uint64_t)i << 32 | k))
				_exit(1);
			atomic_store(&sh->sent[i], ++k);
			continue;
		}
		b = 1 + k % 7 < per - k ? 1 + k % 7 : per - k;
		for (j = 0; j < b; j++)
			batch[j] = (uint64_t)i << 32 | (k + j);
		ret = kchan_send_many(fd, batch, b);
		if (ret == -EINTR)
			continue;
		if (ret <= 0 || (size_t)ret > b)
			_exit(1);
		k += (size_t)ret;
		atomic_store(&sh->sent[i], k);
	}
	_exit(0);
}

/* A consumer: checks order per producer and counts what it receives. */
static void mix_consume(int fd, enum mix_way way, size_t per,
			struct mix_shared *sh)
{
	uint64_t last[MIX_PRODUCERS], got[8];
	ssize_t ret, j;
	size_t round = 0;

	memset(last, 0xff, sizeof(last));
	for (;;) {
		if (way == MIX_MANY)
			ret = kchan_recv_many(fd, got, 1 + round++ % 8);
		else
			ret = mix_recv(fd, way, got);
		if (ret == -EINTR)
			continue;
		if (ret <= 0)
			_exit(ret == 0 ? 0 : 5);
		for (j = 0; j < ret; j++) {
			uint32_t p = got[j] >> 32, s = (uint32_t)got[j];

			if (p >= MIX_PRODUCERS || s >= per)
				_exit(2);
			if (last[p] != UINT64_MAX && s <= last[p])
				_exit(3);
			last[p] = s;
			if (atomic_fetch_add(&sh->seen[(size_t)p * per + s], 1))
				_exit(4);
		}
	}
}

static void on_usr1(int sig)
{
	(void)sig;
}

/*
 * Producers and consumers in separate processes, each moving elements
 * its own way (fast path one by one or in batches, ioctl, read/write,
 * with timeouts), signals
 * flying, one producer SIGKILLed halfway: every element a producer
 * counted as sent is received exactly once, nothing is received twice,
 * and each consumer sees each producer's elements in order.
 */
FIXTURE(mixed) {
	int unused;
};

FIXTURE_SETUP(mixed)
{
}

FIXTURE_TEARDOWN(mixed)
{
}

TEST_F_TIMEOUT(mixed, processes_exactly_once, 600)
{
	unsigned long per = env_ulong("KCHAN_MIXED_PER_PRODUCER", 20000);
	size_t total = MIX_PRODUCERS * per, k;
	pid_t pids[MIX_PRODUCERS + MIX_CONSUMERS];
	struct mix_shared *sh;
	int fd, i, status;
	uint64_t extra = 0;

	MAPPED_CHAN(fd, sizeof(uint64_t), 16, 0);
	/* Inherited by the children before the first signal reaches them. */
	signal(SIGUSR1, on_usr1);	/* SA_RESTART: calls restart */
	sh = mmap(NULL, sizeof(*sh) + total, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	for (i = 0; i < MIX_PRODUCERS + MIX_CONSUMERS; i++) {
		enum mix_way way = (enum mix_way)(i % MIX_WAYS);

		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i])
			continue;
		if (i < MIX_PRODUCERS)
			mix_produce(fd, way, i, per, sh);
		else
			mix_consume(fd, way, per, sh);
	}
	/* Signals at everyone, then producer 0 dies halfway. */
	while (atomic_load(&sh->sent[0]) < per / 2) {
		for (i = 1; i < MIX_PRODUCERS + MIX_CONSUMERS; i++)
			kill(pids[i], SIGUSR1);
		kt_sleep_us(2000);
	}
	ASSERT_EQ(0, kill(pids[0], SIGKILL));
	for (i = 0; i < MIX_PRODUCERS; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		if (i)
			EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
				TH_LOG("producer %d: status %#x", i, status);
	}
	ASSERT_EQ(0, kchan_close(fd));
	for (; i < MIX_PRODUCERS + MIX_CONSUMERS; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("consumer %d: status %#x", i - MIX_PRODUCERS, status);
	}
	for (i = 0; i < MIX_PRODUCERS; i++) {
		uint64_t sent = atomic_load(&sh->sent[i]);

		for (k = 0; k < per; k++) {
			unsigned char n = sh->seen[(size_t)i * per + k];

			/* One may be sent by a producer killed before counting it. */
			if (k == sent && n == 1) {
				extra++;
				continue;
			}
			ASSERT_EQ(k < sent, n) TH_LOG("producer %d element %zu", i, k);
		}
	}
	EXPECT_GE(1, extra);
	EXPECT_EQ(0, kt_len(fd));
	signal(SIGUSR1, SIG_DFL);
	munmap(sh, sizeof(*sh) + total);
	close(fd);
}

TEST_HARNESS_MAIN
