// SPDX-License-Identifier: GPL-2.0
/*
 * Mappable channels (KCHAN_MAPPABLE): a buffered channel whose ring is in
 * the shared format of the fast path (Documentation/design/fastpath.rst),
 * which the kernel moves elements of without the channel lock.  The rest
 * of the suite runs on mappable channels too (libchanuser creates them
 * unless KCHAN_FASTPATH=0); these tests check what is particular to them:
 * creation rules, the ring's laps, voided sends, given-back receives,
 * close while a send is claimed, and exactly-once under several producer
 * and consumer processes.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kchan_test_util.h"

static int make_mapped(uint32_t elem_size, uint64_t capacity, uint32_t flags)
{
	return kt_create(elem_size, capacity, flags | KCHAN_MAPPABLE);
}

TEST(creation_rules)
{
	int fd;

	EXPECT_EQ(-EINVAL, make_mapped(8, 0, 0)) TH_LOG("capacity 0 is a rendezvous");
	/* A mappable broadcast channel's subscribers are mapped (kchan_bcmap_test). */
	fd = make_mapped(8, 4, KCHAN_BROADCAST);
	EXPECT_LE(0, fd);
	close(fd);
	EXPECT_EQ(-EINVAL, make_mapped(8, 0, KCHAN_BROADCAST));
	EXPECT_EQ(-EINVAL, make_mapped(8, 4, KCHAN_LOSSY));
	EXPECT_EQ(-EINVAL, make_mapped(0, 4, 0));
	fd = make_mapped(8, 4, KCHAN_CLOEXEC);
	ASSERT_LE(0, fd);
	EXPECT_EQ(4, kchan_cap(fd));
	EXPECT_EQ(8, kchan_elem_size(fd));
	EXPECT_EQ(0, kt_len(fd));
	close(fd);
}

TEST(fdinfo_says_mappable)
{
	char path[64], buf[1024];
	int fd = make_mapped(8, 4, 0);
	int info;
	ssize_t n;

	ASSERT_LE(0, fd);
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	info = open(path, O_RDONLY);
	ASSERT_LE(0, info);
	n = read(info, buf, sizeof(buf) - 1);
	ASSERT_LT(0, n);
	buf[n] = '\0';
	EXPECT_NE(NULL, strstr(buf, "mappable:\t1\n")) TH_LOG("%s", buf);
	close(info);
	close(fd);
}

/* Many laps of a small ring, one element and batches: FIFO, nothing lost. */
TEST(laps_keep_fifo)
{
	uint64_t out[5], in[5];
	uint64_t next_out = 0, next_in = 0;
	int fd = make_mapped(sizeof(uint64_t), 3, KCHAN_NONBLOCK);
	int i, k;

	ASSERT_LE(0, fd);
	for (i = 0; i < 3000; i++) {
		int n = 1 + i % 3;
		long sent, got;

		for (k = 0; k < n; k++)
			out[k] = next_out + k;
		sent = kchan_send_many(fd, out, n);
		ASSERT_LT(0, sent);
		next_out += sent;
		got = kchan_recv_many(fd, in, 5);
		ASSERT_LT(0, got);
		for (k = 0; k < got; k++)
			ASSERT_EQ(next_in + k, in[k]);
		next_in += got;
	}
	while (next_in < next_out) {
		ASSERT_EQ(1, kchan_recv(fd, in));
		ASSERT_EQ(next_in, in[0]);
		next_in++;
	}
	EXPECT_EQ(-EAGAIN, kchan_recv(fd, in));
	close(fd);
}

TEST(full_ring_would_block)
{
	uint64_t v = 1;
	int fd = make_mapped(sizeof(v), 2, KCHAN_NONBLOCK);

	ASSERT_LE(0, fd);
	EXPECT_EQ(0, kchan_send(fd, &v));
	EXPECT_EQ(0, kchan_send(fd, &v));
	EXPECT_EQ(-EAGAIN, kchan_send(fd, &v));
	EXPECT_EQ(2, kt_len(fd));
	close(fd);
}

/* A send whose element faults claims a slot and voids it: nothing arrives. */
TEST(faulting_send_sends_nothing)
{
	uint64_t v = 7, got = 0;
	int fd = make_mapped(sizeof(v), 2, KCHAN_NONBLOCK);
	int i;

	ASSERT_LE(0, fd);
	for (i = 0; i < 5; i++) {
		EXPECT_EQ(-EFAULT, kt_ioctl(fd, KCHAN_IOC_SEND_ONE,
					    (uintptr_t)kt_bad_ptr(8)));
		v = 100 + i;
		ASSERT_EQ(0, kchan_send(fd, &v));
		ASSERT_EQ(1, kchan_recv(fd, &got));
		EXPECT_EQ(100 + i, got);
		EXPECT_EQ(-EAGAIN, kchan_recv(fd, &got));
	}
	close(fd);
}

/* A receive whose buffer faults gives the element back: it comes next. */
TEST(faulting_receive_gives_the_element_back)
{
	uint64_t v, got = 0;
	int fd = make_mapped(sizeof(v), 4, KCHAN_NONBLOCK);

	ASSERT_LE(0, fd);
	for (v = 1; v <= 3; v++)
		ASSERT_EQ(0, kchan_send(fd, &v));
	EXPECT_EQ(-EFAULT, kt_ioctl(fd, KCHAN_IOC_RECV_ONE,
				    (uintptr_t)kt_bad_ptr(8)));
	EXPECT_EQ(3, kt_len(fd));
	for (v = 1; v <= 3; v++) {
		ASSERT_EQ(1, kchan_recv(fd, &got));
		EXPECT_EQ(v, got);
	}
	EXPECT_EQ(-EAGAIN, kchan_recv(fd, &got));
	close(fd);
}

TEST(close_drains_then_reports_closed)
{
	uint64_t v, got = 99;
	int fd = make_mapped(sizeof(v), 4, 0);

	ASSERT_LE(0, fd);
	for (v = 1; v <= 2; v++)
		ASSERT_EQ(0, kchan_send(fd, &v));
	ASSERT_EQ(0, kchan_close(fd));
	EXPECT_EQ(-EPIPE, kchan_close(fd));
	EXPECT_EQ(-EPIPE, kchan_send(fd, &v));
	for (v = 1; v <= 2; v++) {
		ASSERT_EQ(1, kchan_recv(fd, &got));
		EXPECT_EQ(v, got);
	}
	got = 99;
	EXPECT_EQ(0, kchan_recv(fd, &got));
	EXPECT_EQ(99, got);
	close(fd);
}

TEST(poll_follows_the_ring)
{
	struct pollfd p;
	uint64_t v = 1;
	int fd = make_mapped(sizeof(v), 1, 0);

	ASSERT_LE(0, fd);
	p = (struct pollfd){ .fd = fd, .events = POLLIN | POLLOUT };
	ASSERT_EQ(1, poll(&p, 1, 0));
	EXPECT_EQ(POLLOUT, p.revents);
	ASSERT_EQ(0, kchan_send(fd, &v));
	ASSERT_EQ(1, poll(&p, 1, 0));
	EXPECT_EQ(POLLIN, p.revents);
	ASSERT_EQ(0, kchan_close(fd));
	ASSERT_EQ(1, poll(&p, 1, 0));
	EXPECT_EQ(POLLIN | POLLOUT | POLLHUP, p.revents);
	close(fd);
}

/* A receiver blocked in one process is woken by a send from another. */
TEST(blocked_receiver_woken_across_processes)
{
	uint64_t v = 42;
	int fd = make_mapped(sizeof(v), 2, 0);
	int status;
	pid_t pid;

	ASSERT_LE(0, fd);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		uint64_t got = 0;

		_exit(kchan_recv(fd, &got) == 1 && got == 42 ? 0 : 1);
	}
	ASSERT_EQ(0, kt_wait_queues(fd, 0, 1));
	ASSERT_EQ(0, kchan_send(fd, &v));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
}

/* A sender blocked on a full ring is released by a receive. */
TEST(blocked_sender_released_by_a_receive)
{
	uint64_t v = 1, got = 0;
	int fd = make_mapped(sizeof(v), 1, 0);
	struct kt_worker w;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kchan_send(fd, &v));
	ASSERT_EQ(0, kt_start_send_u64(&w, fd, 2));
	ASSERT_EQ(0, kt_wait_queues(fd, 1, 0));
	ASSERT_EQ(1, kchan_recv(fd, &got));
	EXPECT_EQ(1, got);
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(0, w.ret);
	ASSERT_EQ(1, kchan_recv(fd, &got));
	EXPECT_EQ(2, got);
	close(fd);
}

#define PRODUCERS	4
#define CONSUMERS	4
#define PER_PRODUCER	20000

/*
 * N producer and M consumer processes over a small ring: every element
 * (producer << 32 | sequence) is received exactly once, and each consumer
 * sees each producer's elements in increasing order.
 */
TEST(exactly_once_across_processes)
{
	size_t total = (size_t)PRODUCERS * PER_PRODUCER;
	_Atomic unsigned char *seen;
	int fd = make_mapped(sizeof(uint64_t), 8, 0);
	pid_t pids[PRODUCERS + CONSUMERS];
	int i, status, failed = 0;
	size_t k;

	ASSERT_LE(0, fd);
	seen = mmap(NULL, total, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, seen);
	for (i = 0; i < PRODUCERS + CONSUMERS; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i])
			continue;
		if (i < PRODUCERS) {
			for (k = 0; k < PER_PRODUCER; k++) {
				uint64_t v = (uint64_t)i << 32 | k;

				if (kchan_send(fd, &v))
					_exit(1);
			}
			_exit(0);
		} else {
			uint64_t last[PRODUCERS], v;

			memset(last, 0xff, sizeof(last));
			while (kchan_recv(fd, &v) == 1) {
				uint32_t p = v >> 32, s = (uint32_t)v;

				if (p >= PRODUCERS || s >= PER_PRODUCER)
					_exit(2);
				if (last[p] != UINT64_MAX && s <= last[p])
					_exit(3);
				last[p] = s;
				if (atomic_fetch_add(&seen[(size_t)p * PER_PRODUCER + s], 1))
					_exit(4);
			}
			_exit(0);
		}
	}
	for (i = 0; i < PRODUCERS; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		failed |= !WIFEXITED(status) || WEXITSTATUS(status);
	}
	ASSERT_EQ(0, kchan_close(fd));
	for (; i < PRODUCERS + CONSUMERS; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("consumer %d: status %#x", i - PRODUCERS, status);
	}
	EXPECT_EQ(0, failed);
	for (k = 0; k < total; k++)
		if (seen[k] != 1)
			break;
	EXPECT_EQ(total, k) TH_LOG("element %zu seen %u times", k,
				   k < total ? seen[k] : 0);
	munmap((void *)seen, total);
	close(fd);
}

TEST_HARNESS_MAIN
