// SPDX-License-Identifier: GPL-2.0
/*
 * Mapped broadcast subscribers (uapi DOC: Mapped subscribers; Documentation/
 * design/fastpath.rst, "Broadcast"): the mappings and their rules, receives
 * without a system call, one cursor shared by processes, the lossless gate
 * opened by receives made in user space, lossy gaps told, the kernel path
 * and the mapping on one cursor, a cursor scribbled over, a poll of the
 * broadcast descriptor woken by a mapped receive, and unsubscribing while
 * mapped.  Every test that needs the fast path skips without it
 * (KCHAN_FASTPATH=0).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kchan_test_util.h"
#include "kchan_seccomp.h"

#define U64	sizeof(uint64_t)

/* A mappable broadcast channel, or a SKIP without the fast path. */
#define MAPPED_BCAST(bch, cap, flags) do {				\
	bch = kchan_make_broadcast(U64, cap, flags);			\
	ASSERT_LE(0, bch);						\
	if (!kt_is_mappable_bcast(bch))					\
		SKIP(return, "the fast path is off (KCHAN_FASTPATH=0)");	\
} while (0)

/* Whether @bch's subscribers can be mapped: a subscriber answers MAP_INFO. */
static int kt_is_mappable_bcast(int bch)
{
	struct kchan_map_info mi = { .size = sizeof(mi) };
	int sub = kchan_subscribe(bch, 0), ret;

	if (sub < 0)
		return 0;
	ret = kt_ioctl(sub, KCHAN_IOC_MAP_INFO, (unsigned long)&mi);
	close(sub);
	return ret == 0;
}

/* Subscribe to @bch and map the subscriber through the library. */
static int subscribe_mapped(int bch, unsigned int flags)
{
	int sub = kchan_subscribe(bch, flags);

	if (sub >= 0 && kchan_map(sub) != 1) {
		close(sub);
		return -ENODEV;
	}
	return sub;
}

static void send_seq(struct __test_metadata *_metadata, int bch, uint64_t from,
		     uint64_t n)
{
	for (uint64_t v = from; v < from + n; v++)
		ASSERT_EQ(0, kchan_send(bch, &v));
}

/* The mappings' layout and rules, as the uapi header says. */
TEST(subscriber_mappings_follow_the_rules)
{
	struct kchan_map_info mi = { .size = sizeof(mi) };
	const struct kchan_bcast_map_ctrl *c;
	long page = sysconf(_SC_PAGESIZE);
	int bch, sub, plain_bch, plain_sub;
	uint64_t *cursor, got;
	void *p;

	MAPPED_BCAST(bch, 100, KCHAN_LOSSY);
	sub = kchan_subscribe(bch, 0);
	ASSERT_LE(0, sub);
	ASSERT_EQ(0, kt_ioctl(sub, KCHAN_IOC_MAP_INFO, (unsigned long)&mi));
	EXPECT_EQ(0, mi.map_id);
	EXPECT_EQ(KCHAN_MAP_CONTROL, mi.control_offset);
	/* The control page, then 100 * 8 bytes of elements: one page. */
	EXPECT_EQ(2 * page, (long)mi.control_size);
	EXPECT_EQ(mi.control_size, mi.ring_offset);
	EXPECT_EQ(page, (long)mi.ring_size);
	EXPECT_NE(0, mi.cookie);
	EXPECT_EQ(-ENODEV, kt_ioctl(bch, KCHAN_IOC_MAP_INFO, (unsigned long)&mi));
	EXPECT_EQ(-ENODEV, kt_ioctl(bch, KCHAN_IOC_WAKE, 0));
	EXPECT_EQ(-EINVAL, kt_ioctl(sub, KCHAN_IOC_WAKE, 1));

	p = mmap(NULL, mi.control_size, PROT_READ, MAP_SHARED, sub, 0);
	ASSERT_NE(MAP_FAILED, p);
	c = p;
	EXPECT_EQ(KCHAN_BCAST_MAP_MAGIC, c->magic);
	EXPECT_EQ(KCHAN_MAP_VERSION, c->version);
	EXPECT_EQ(U64, c->elem_size);
	EXPECT_EQ(100, c->capacity);
	EXPECT_EQ(KCHAN_LOSSY, c->flags);
	EXPECT_EQ(page, (long)c->elems_offset);
	EXPECT_EQ(0, c->tail);
	send_seq(_metadata, bch, 7, 3);
	EXPECT_EQ(10 - 7, c->tail);
	EXPECT_EQ(8, ((const uint64_t *)((const char *)p + c->elems_offset))[1]);
	/* Read-only for good. */
	EXPECT_EQ(-1, mprotect(p, mi.control_size, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, mi.control_size, PROT_READ | PROT_WRITE,
				   MAP_SHARED, sub, 0));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, page, PROT_READ, MAP_SHARED, sub, 0));
	EXPECT_EQ(EINVAL, errno);
	/* The cursor: shared only, one page, at its offset. */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, page, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE, sub, mi.ring_offset));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, page, PROT_READ, MAP_SHARED, sub,
				   mi.ring_offset + page));
	EXPECT_EQ(EINVAL, errno);
	cursor = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, sub,
		      mi.ring_offset);
	ASSERT_NE(MAP_FAILED, cursor);
	/* No position until the kernel sets it, at its next receive. */
	EXPECT_EQ(UINT64_MAX, *cursor);
	EXPECT_EQ(1, kt_recv_raw(sub, &got, 1, 0));
	EXPECT_EQ(7, got);
	EXPECT_EQ(1, *cursor);
	munmap(cursor, page);
	munmap(p, mi.control_size);
	close(sub);
	close(bch);

	/* Without KCHAN_MAPPABLE: no mapping. */
	plain_bch = kt_create(U64, 4, KCHAN_BROADCAST);
	ASSERT_LE(0, plain_bch);
	plain_sub = kchan_subscribe(plain_bch, 0);
	ASSERT_LE(0, plain_sub);
	EXPECT_EQ(-ENODEV, kt_ioctl(plain_sub, KCHAN_IOC_MAP_INFO,
				    (unsigned long)&mi));
	EXPECT_EQ(MAP_FAILED, mmap(NULL, page, PROT_READ, MAP_SHARED, plain_sub, 0));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(0, kchan_map(plain_sub));
	close(plain_sub);
	close(plain_bch);
}

/*
 * A mapped subscriber receives what is there without a system call: a
 * child forbidden ioctl(2), read(2) and write(2) receives 3 000 elements
 * in three rounds (one by one, in batches, with the try form).
 */
TEST(mapped_receive_needs_no_system_call)
{
	int bch, sub, status;
	pid_t pid;

	MAPPED_BCAST(bch, 1000, 0);
	sub = subscribe_mapped(bch, 0);
	ASSERT_LE(0, sub);
	send_seq(_metadata, bch, 0, 1000);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		uint64_t got[16], v = 0;
		int k;

		if (kchan_map(sub) != 1)
			_exit(1);
		if (forbid_kchan_syscalls())
			_exit(SECCOMP_MISSING);
		for (; v < 500; v++)
			if (kchan_recv(sub, got) != 1 || got[0] != v)
				_exit(2);
		for (; v < 1000; v += 10) {
			if (kchan_recv_many(sub, got, 10) != 10)
				_exit(3);
			for (k = 0; k < 10; k++)
				if (got[k] != v + k)
					_exit(4);
		}
		if (kchan_try_recv(sub, got) != -EAGAIN)
			_exit(5);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	if (WIFEXITED(status) && WEXITSTATUS(status) == SECCOMP_MISSING)
		SKIP(goto out, "no seccomp filters in this kernel");
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("status %#x (signal 31: a system call)", status);
	/* The child's receives count: the channel is drained for @sub. */
	EXPECT_EQ(0, kt_len(sub));
out:
	close(sub);
	close(bch);
}

#define SHARERS		3
#define SHARED_N	20000

/*
 * A subscriber descriptor shared by processes is one cursor: three
 * processes receive through their mappings (and now and then through the
 * kernel) from a lossless channel of 8 while the publisher sends 20 000
 * numbers; every number is received exactly once, each process sees its
 * numbers in order, and the publisher never waits for long.
 */
TEST(shared_subscriber_is_one_cursor)
{
	_Atomic unsigned char *seen;
	pid_t pids[SHARERS];
	int bch, sub, i, status;

	MAPPED_BCAST(bch, 8, 0);
	sub = kchan_subscribe(bch, 0);
	ASSERT_LE(0, sub);
	seen = mmap(NULL, SHARED_N, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, seen);
	for (i = 0; i < SHARERS; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			uint64_t v, last = UINT64_MAX;
			long n = 0, ret;

			for (;;) {
				ret = n++ % 7 == 3 ? kt_recv_raw(sub, &v, 1, 0) :
						     kchan_recv(sub, &v);
				if (ret != 1)
					_exit(ret == 0 ? 0 : 1);
				if (v >= SHARED_N || (last != UINT64_MAX && v <= last))
					_exit(2);
				last = v;
				if (atomic_fetch_add(&seen[v], 1))
					_exit(3);
			}
		}
	}
	send_seq(_metadata, bch, 0, SHARED_N);
	ASSERT_EQ(0, kchan_close(bch));
	for (i = 0; i < SHARERS; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("process %d: status %#x", i, status);
	}
	for (i = 0; i < SHARED_N; i++)
		ASSERT_EQ(1, seen[i]) TH_LOG("number %d", i);
	munmap((void *)seen, SHARED_N);
	close(sub);
	close(bch);
}

/*
 * Lossless: a sender blocked on the slowest subscriber is released by that
 * subscriber's receive through its mapping (%KCHAN_IOC_WAKE), by a
 * kernel-path receive, and by the subscriber's close while still mapped.
 */
TEST(mapped_receives_open_the_gate)
{
	struct kt_worker w;
	uint64_t got;
	int bch, sub, fast;

	MAPPED_BCAST(bch, 4, 0);
	fast = subscribe_mapped(bch, 0);
	ASSERT_LE(0, fast);
	sub = kchan_subscribe(bch, 0);	/* the kernel path only */
	ASSERT_LE(0, sub);
	send_seq(_metadata, bch, 0, 4);
	ASSERT_EQ(0, kt_start_send_u64(&w, bch, 4));
	ASSERT_EQ(0, kt_wait_queues(bch, 1, 0));
	ASSERT_EQ(1, kt_recv_raw(sub, &got, 1, 0));
	ASSERT_EQ(0, got);
	usleep(20000);
	EXPECT_EQ(4, kt_len(bch));		/* still held back by @fast */
	EXPECT_EQ(1, kt_wait_queues(bch, 1, 0) == 0);
	ASSERT_EQ(1, kchan_recv(fast, &got));	/* through the mapping */
	ASSERT_EQ(0, got);
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(0, w.ret);
	/* Full again, @fast the slowest: its close, mapped, releases it. */
	ASSERT_EQ(1, kchan_recv(sub, &got));
	ASSERT_EQ(1, got);
	ASSERT_EQ(0, kt_start_send_u64(&w, bch, 5));
	ASSERT_EQ(0, kt_wait_queues(bch, 1, 0));
	close(fast);	/* the library's mapping stays until it notices */
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(0, w.ret);
	close(sub);
	close(bch);
}

/*
 * Lossy: a mapped subscriber that fell behind gets -EOVERFLOW once, its
 * lost count says by how much, it goes on with the oldest held, and
 * received + lost == sent since it subscribed.
 */
TEST(lossy_gap_is_told_to_a_mapped_subscriber)
{
	uint64_t got, received = 0;
	int bch, sub;
	long ret;

	MAPPED_BCAST(bch, 4, KCHAN_LOSSY);
	sub = subscribe_mapped(bch, 0);
	ASSERT_LE(0, sub);
	send_seq(_metadata, bch, 0, 2);
	ASSERT_EQ(1, kchan_recv(sub, &got));
	ASSERT_EQ(0, got);
	received++;
	send_seq(_metadata, bch, 2, 9);	/* 1 .. 10: 1 .. 6 are overwritten */
	ASSERT_EQ(-EOVERFLOW, kchan_recv(sub, &got));
	EXPECT_EQ(6, kchan_lost(sub));
	for (uint64_t v = 7; v <= 10; v++) {
		ASSERT_EQ(1, kchan_recv(sub, &got));
		ASSERT_EQ(v, got);
		received++;
	}
	ASSERT_EQ(-EAGAIN, kchan_try_recv(sub, &got));
	EXPECT_EQ(11, received + kchan_lost(sub));
	/* A long run, with the publisher lapping now and then. */
	for (uint64_t v = 11; v < 5011; v++) {
		ASSERT_EQ(0, kchan_send(bch, &v));
		if (v % 3)
			continue;
		while ((ret = kchan_try_recv(sub, &got)) != -EAGAIN) {
			if (ret == 1)
				received++;
			else
				ASSERT_EQ(-EOVERFLOW, ret);
		}
	}
	EXPECT_EQ(5011, received + kchan_lost(sub));
	close(sub);
	close(bch);
}

/*
 * The kernel's receives and the mapping's move one cursor: alternating
 * fast, ioctl and read(2) receives see every element once, in order, and
 * the length the kernel reports counts what the mapping received.
 */
TEST(kernel_and_mapped_receives_share_the_cursor)
{
	uint64_t got, v;
	int bch, sub;

	MAPPED_BCAST(bch, 16, 0);
	sub = subscribe_mapped(bch, 0);
	ASSERT_LE(0, sub);
	for (v = 0; v < 3000; v++) {
		ASSERT_EQ(0, kchan_send(bch, &v));
		if (v % 4 != 3)
			continue;
		ASSERT_EQ(4, kt_len(sub));
		ASSERT_EQ(1, kchan_recv(sub, &got));
		ASSERT_EQ(v - 3, got);
		ASSERT_EQ(3, kt_len(sub));
		ASSERT_EQ(1, kt_recv_raw(sub, &got, 1, 0));
		ASSERT_EQ(v - 2, got);
		ASSERT_EQ((ssize_t)U64, read(sub, &got, U64));
		ASSERT_EQ(v - 1, got);
		ASSERT_EQ(1, kchan_recv(sub, &got));
		ASSERT_EQ(v, got);
	}
	close(sub);
	close(bch);
}

/*
 * A process that writes nonsense over its subscriber's cursor garbles its
 * own subscriber only: the kernel puts a cursor beyond the tail or below
 * its own back, the channel's other subscriber receives everything, and
 * the publisher of a lossless channel is not held back by a cursor moved
 * out of range.
 */
TEST(scribbled_cursor_hurts_only_its_subscriber)
{
	static const uint64_t nasty[] = { UINT64_MAX, 0, 1ULL << 62, 3, 1000 };
	struct kchan_map_info mi = { .size = sizeof(mi) };
	long page = sysconf(_SC_PAGESIZE);
	int bch, bad, good, i;
	uint64_t *cursor, got, v = 0, want = 0;

	MAPPED_BCAST(bch, 8, 0);
	bad = kchan_subscribe(bch, 0);
	good = subscribe_mapped(bch, 0);
	ASSERT_LE(0, bad);
	ASSERT_LE(0, good);
	ASSERT_EQ(0, kt_ioctl(bad, KCHAN_IOC_MAP_INFO, (unsigned long)&mi));
	cursor = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, bad,
		      mi.ring_offset);
	ASSERT_NE(MAP_FAILED, cursor);
	for (i = 0; i < 200; i++) {
		long ret;

		for (int k = 0; k < 4; k++, v++)
			ASSERT_EQ(0, kchan_send(bch, &v));
		*cursor = nasty[i % 5] + (i % 5 == 4 ? v : 0);
		ret = kt_recv_raw(bad, &got, 1, KCHAN_XFER_NONBLOCK);
		EXPECT_TRUE(ret == 1 || ret == -EAGAIN) TH_LOG("%ld", ret);
		EXPECT_GE(kt_len(bad), 0);
		/* Drain @bad the kernel's way, so that it holds nothing back. */
		while (kt_recv_raw(bad, &got, 1, KCHAN_XFER_NONBLOCK) == 1)
			;
		for (int k = 0; k < 4; k++, want++) {
			ASSERT_EQ(1, kchan_recv(good, &got));
			ASSERT_EQ(want, got);
		}
	}
	munmap(cursor, page);
	close(bad);
	close(good);
	close(bch);
}

/*
 * A poll of a full lossless broadcast descriptor for POLLOUT is woken by
 * a mapped subscriber's receive (the armed waiter word).
 */
TEST(poll_for_room_wakes_for_a_mapped_receive)
{
	struct pollfd p;
	uint64_t got;
	int bch, sub, status;
	pid_t pid;

	MAPPED_BCAST(bch, 2, 0);
	sub = subscribe_mapped(bch, 0);
	ASSERT_LE(0, sub);
	send_seq(_metadata, bch, 0, 2);
	p = (struct pollfd){ .fd = bch, .events = POLLOUT };
	ASSERT_EQ(0, poll(&p, 1, 0));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		usleep(100000);
		_exit(kchan_recv(sub, &got) == 1 && got == 0 ? 0 : 1);
	}
	ASSERT_EQ(1, poll(&p, 1, 10000));
	EXPECT_TRUE(p.revents & POLLOUT);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(sub);
	close(bch);
}

/*
 * A subscriber's descriptor closed and its number reused, behind the
 * library's back (a raw KCHAN_IOC_SUBSCRIBE), by a subscriber of another
 * channel: the library notices (the closes counted on the cursor page)
 * and receives from the new one; the other subscribers' mappings stay.
 */
TEST(reused_number_names_the_new_subscriber)
{
	struct kchan_subscribe args = { .size = sizeof(args) };
	int a, b, sa, keep, sb;
	uint64_t v = 1, got;

	MAPPED_BCAST(a, 4, 0);
	b = kchan_make_broadcast(U64, 4, 0);
	ASSERT_LE(0, b);
	keep = subscribe_mapped(a, 0);
	sa = subscribe_mapped(a, 0);
	ASSERT_LE(0, keep);
	ASSERT_LE(0, sa);
	ASSERT_EQ(0, kchan_send(a, &v));
	ASSERT_EQ(1, kchan_recv(sa, &got));
	ASSERT_EQ(1, got);
	ASSERT_EQ(0, close(sa));
	sb = kt_ioctl(b, KCHAN_IOC_SUBSCRIBE, (unsigned long)&args);
	ASSERT_EQ(sa, sb) TH_LOG("the lowest free number is reused");
	v = 2;
	ASSERT_EQ(0, kchan_send(b, &v));
	ASSERT_EQ(1, kchan_recv(sb, &got));
	EXPECT_EQ(2, got);
	ASSERT_EQ(1, kchan_recv(keep, &got));
	EXPECT_EQ(1, got);
	close(sb);
	close(keep);
	close(b);
	close(a);
}

/*
 * A process sharing a subscriber receives by hand - its cursor moved -
 * and exits before its KCHAN_IOC_WAKE while the publisher waits for that
 * room: the exit opens the gate (fastpath.rst, "Dead owners").
 */
TEST(exit_before_the_wake_opens_the_gate)
{
	struct kchan_map_info mi = { .size = sizeof(mi) };
	long page = sysconf(_SC_PAGESIZE);
	struct kt_worker w;
	int bch, sub, status;
	uint64_t *cursor, got;
	pid_t pid;

	MAPPED_BCAST(bch, 2, 0);
	sub = kchan_subscribe(bch, 0);
	ASSERT_LE(0, sub);
	ASSERT_EQ(0, kt_ioctl(sub, KCHAN_IOC_MAP_INFO, (unsigned long)&mi));
	/* Mapped here, so that the gate takes the word in and sets it. */
	cursor = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, sub,
		      mi.ring_offset);
	ASSERT_NE(MAP_FAILED, cursor);
	send_seq(_metadata, bch, 0, 2);
	ASSERT_EQ(0, kt_start_send_u64(&w, bch, 2));
	ASSERT_EQ(0, kt_wait_queues(bch, 1, 0));
	ASSERT_EQ(0, __atomic_load_n(cursor, __ATOMIC_ACQUIRE));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* The parent's mapping is not inherited (VM_DONTCOPY). */
		uint64_t *mine = mmap(NULL, page, PROT_READ | PROT_WRITE,
				      MAP_SHARED, sub, mi.ring_offset);
		uint64_t c = 0;

		if (mine == MAP_FAILED)
			_exit(1);
		_exit(__atomic_compare_exchange_n(mine, &c, 1, false,
						  __ATOMIC_SEQ_CST,
						  __ATOMIC_RELAXED) ? 0 : 2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child status 0x%x", status);
	ASSERT_EQ(0, kt_wait_queues(bch, 0, 0));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(0, w.ret);
	/* Element 0 went to the child; 1 and 2 are left. */
	ASSERT_EQ(1, kt_recv_raw(sub, &got, 1, 0));
	EXPECT_EQ(1, got);
	ASSERT_EQ(1, kt_recv_raw(sub, &got, 1, 0));
	EXPECT_EQ(2, got);
	munmap(cursor, page);
	close(sub);
	close(bch);
}

TEST_HARNESS_MAIN
