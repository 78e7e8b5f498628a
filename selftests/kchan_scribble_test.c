// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel never trusts a mapped ring (Documentation/design/fastpath.rst,
 * "Trust"): a scribbler process writes random and adversarial values over
 * every word of the rings it maps - slot words, positions, elements -
 * while other processes send, receive, select, poll, wait on a selector
 * and close through the fast path and the kernel path.  Every call must
 * return by its timeout (plus slack), a channel the scribbler does not map
 * must keep exactly-once order, and the QEMU runner fails the run on any
 * kernel report and checks that the module unloads afterwards.
 *
 * KCHAN_STRESS_SECONDS sets the run time (3 s by default; the debug lane
 * runs longer).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kchan_test_util.h"

#define SCRIBBLED	3	/* channels the scribbler maps */
#define WORKERS		4
#define CALL_NS		(10 * 1000 * 1000LL)	/* each call's timeout */
#define SLACK_NS	(3 * 1000 * 1000 * 1000LL)	/* what lateness is a hang */
#define CLEAN_N		20000	/* elements through the clean channel */

static double run_seconds(void)
{
	const char *v = getenv("KCHAN_STRESS_SECONDS");
	double d = v && *v ? strtod(v, NULL) : 3.0;

	return d > 0 ? d : 3.0;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A value a careless or malicious process might write over a word. */
static uint64_t nasty(uint64_t *s, uint64_t near)
{
	uint64_t pos = near + (rnd(s) % 9) - 4;

	switch (rnd(s) % 8) {
	case 0:
		return rnd(s);
	case 1:
		return 0;
	case 2:
		return UINT64_MAX;
	case 3:	/* a plausible slot word: any state, any owner */
		return pos << 18 | (rnd(s) % 4) << 16 | (rnd(s) % 4);
	case 4:
		return pos;	/* a plausible position */
	case 5:
		return near + (1ULL << 46);	/* aliases modulo 2^46 */
	case 6:
		return near - 1;
	default:
		return pos << 18 | 2 << 16 | 1;	/* a void */
	}
}

/*
 * Map the writable area of @fd (a channel's ring, a subscriber's cursor
 * page) as a library would; its words in *@words.  Exits on failure.
 */
static uint64_t *map_writable(int fd, size_t *words)
{
	struct kchan_map_info mi = { .size = sizeof(mi) };
	void *p;

	if (kt_ioctl(fd, KCHAN_IOC_MAP_INFO, (unsigned long)&mi))
		_exit(1);
	p = mmap(NULL, mi.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 mi.ring_offset);
	if (p == MAP_FAILED)
		_exit(2);
	*words = mi.ring_size / 8;
	return p;
}

/*
 * Map the writable areas of @fds (at most 8) and scribble over them until
 * killed: rings, mostly their first pages - positions and slot words -
 * with values near the positions there; or, with @cursors, subscribers'
 * cursor pages, mostly the cursor and the close count, with values near
 * the cursor.
 */
static void scribble(const int *fds, int n, bool cursors)
{
	uint64_t seed = getpid() * 0x9e3779b97f4a7c15ULL | 1;
	uint64_t *area[8], near;
	size_t words[8], w;
	int i;

	for (i = 0; i < n; i++)
		area[i] = map_writable(fds[i], &words[i]);
	for (;;) {
		i = rnd(&seed) % n;
		if (cursors) {
			w = rnd(&seed) % 8 ? rnd(&seed) % 2 : rnd(&seed) % words[i];
			near = area[i][0];
		} else {
			w = rnd(&seed) % (rnd(&seed) % 4 ? 1024 : words[i]);
			w %= words[i];
			near = area[i][w] >> 18;
		}
		__atomic_store_n(&area[i][w], nasty(&seed, near), __ATOMIC_RELAXED);
	}
}

/*
 * One worker: random calls with timeouts on @fds, each timed; exits 20 +
 * the call that hung.  Sends go to @send_to when it is a descriptor (for
 * subscribers, which cannot send), else to the channel picked.
 */
static void work(const int *fds, int n, int send_to, int id)
{
	uint64_t seed = (id + 1) * 0x2545f4914f6cdd1dULL, elem[512];
	int64_t start, took, worst = 0;
	int sel = kchan_selector(0), k;

	if (sel < 0)
		_exit(10);
	for (k = 0; k < n; k++) {
		struct kchan_case c = {
			.ch = fds[k], .op = KCHAN_CASE_RECV, .elem = elem,
		};

		kchan_selector_add(sel, &c, k);
	}
	for (;;) {
		int ch = fds[rnd(&seed) % n], op = rnd(&seed) % 9;
		int to = send_to >= 0 ? send_to : ch;
		struct pollfd p = { .fd = ch, .events = POLLIN | POLLOUT };
		struct kchan_case c[2] = {
			{ .ch = fds[0], .op = KCHAN_CASE_RECV, .elem = elem },
			send_to >= 0 ?
			(struct kchan_case){ .ch = fds[n - 1], .op = KCHAN_CASE_RECV, .elem = elem } :
			(struct kchan_case){ .ch = fds[1], .op = KCHAN_CASE_SEND, .elem = elem },
		};
		uint64_t tag;

		memset(elem, (int)rnd(&seed), sizeof(elem));
		start = kt_now_ns();
		switch (op) {
		case 0:
			kchan_send_timeout(to, elem, CALL_NS);
			break;
		case 1:
			kchan_recv_timeout(ch, elem, CALL_NS);
			break;
		case 2:
			kchan_try_send(to, elem);
			break;
		case 3:
			kchan_try_recv(ch, elem);
			break;
		case 4:
			kchan_select(c, 2, CALL_NS);
			break;
		case 5:
			poll(&p, 1, CALL_NS / 1000000);
			break;
		case 6:
			kchan_selector_wait(sel, &tag, CALL_NS);
			break;
		case 7:
			if (send_to >= 0)
				kchan_lost(ch);
			else
				kchan_len(ch);
			break;
		default:
			if (rnd(&seed) % 64 == 0)
				kchan_close(ch);
			break;
		}
		took = kt_now_ns() - start;
		if (took > worst)
			worst = took;
		if (took > CALL_NS + SLACK_NS) {
			fprintf(stderr, "# worker %d: call %d took %lld ms\n",
				id, op, (long long)(took / 1000000));
			_exit(20 + op);
		}
	}
}

/*
 * The clean channel: mapped by everyone but the scribbler, so its order
 * and exactly-once must hold whatever happens to the others.
 */
static int clean_pair(int fd)
{
	uint64_t v, got;
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (v = 0; v < CLEAN_N; v++)
			if (kchan_send(fd, &v))
				_exit(1);
		_exit(0);
	}
	for (v = 0; v < CLEAN_N; v++)
		if (kchan_recv(fd, &got) != 1 || got != v)
			return -2;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return -3;
	return 0;
}

/*
 * Fork the scribbler over @fds (@cursors: their cursor pages) and the
 * WORKERS workers calling on them (sends to @send_to, see work()); each
 * dies with the test.  Returns the scribbler.
 */
static pid_t start_all(struct __test_metadata *_metadata, const int *fds,
		       int n, bool cursors, int send_to, pid_t *workers)
{
	pid_t scribbler = fork();
	int i;

	ASSERT_LE(0, scribbler);
	if (scribbler == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);	/* a failed test ends it */
		scribble(fds, n, cursors);
	}
	for (i = 0; i < WORKERS; i++) {
		workers[i] = fork();
		ASSERT_LE(0, workers[i]);
		if (workers[i] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			work(fds, n, send_to, i);
		}
	}
	return scribbler;
}

/*
 * The workers and the scribbler must all still be running - a worker
 * exits only when a call hung - then they are killed and reaped.
 */
static void stop_all(struct __test_metadata *_metadata, const pid_t *workers,
		     pid_t scribbler)
{
	int i, status;

	for (i = 0; i < WORKERS; i++) {
		ASSERT_EQ(0, waitpid(workers[i], &status, WNOHANG))
			TH_LOG("worker %d ended early: status %#x (20 + n: call n hung)",
			       i, status);
		kill(workers[i], SIGKILL);
		ASSERT_EQ(workers[i], waitpid(workers[i], &status, 0));
	}
	ASSERT_EQ(0, waitpid(scribbler, &status, WNOHANG)) TH_LOG("status %#x", status);
	kill(scribbler, SIGKILL);
	ASSERT_EQ(scribbler, waitpid(scribbler, &status, 0));
}

FIXTURE(scribble) {
	int unused;
};

FIXTURE_SETUP(scribble)
{
}

FIXTURE_TEARDOWN(scribble)
{
}

TEST_F_TIMEOUT(scribble, rings_hurt_nobody_else, 1200)
{
	int64_t end = kt_now_ns() + (int64_t)(run_seconds() * 1e9);
	uint32_t sizes[SCRIBBLED] = { 8, 64, 4096 };
	uint32_t caps[SCRIBBLED] = { 1, 16, 5 };
	pid_t scribbler, workers[WORKERS];
	int fds[SCRIBBLED], clean, i, rounds = 0;

	for (i = 0; i < SCRIBBLED; i++) {
		fds[i] = kt_create(sizes[i], caps[i], KCHAN_MAPPABLE);
		ASSERT_LE(0, fds[i]);
	}
	clean = kt_create(sizeof(uint64_t), 8, KCHAN_MAPPABLE);
	ASSERT_LE(0, clean);

	scribbler = start_all(_metadata, fds, SCRIBBLED, false, -1, workers);
	while (kt_now_ns() < end) {
		ASSERT_EQ(0, clean_pair(clean)) TH_LOG("round %d", rounds);
		rounds++;
	}
	stop_all(_metadata, workers, scribbler);
	TH_LOG("%d clean rounds of %d elements beside the scribbler", rounds, CLEAN_N);
	for (i = 0; i < SCRIBBLED; i++)
		close(fds[i]);
	close(clean);
}

/*
 * The same for mapped broadcast subscribers: a scribbler that shares some
 * subscribers writes over their cursor pages (the cursor, the close
 * count, the rest of the page) while workers receive from them, select,
 * poll and wait on a selector with timeouts and send to a lossy channel;
 * a clean subscriber of the same lossless channel must still receive
 * every element exactly once and in order, and the publisher must never
 * stall for long: a scribbled cursor is a hint the kernel bounds by what
 * the channel holds, so it can only make its own subscriber skip.
 */
#define DIRTY_SUBS	3	/* two of the lossless channel, one of the lossy */
#define BCAST_N		5000	/* elements per round through the clean subscriber */

TEST_F_TIMEOUT(scribble, subscriber_cursors_hurt_nobody_else, 1200)
{
	int64_t end = kt_now_ns() + (int64_t)(run_seconds() * 1e9);
	int pub, lossy, clean, dirty[DIRTY_SUBS], i, status, rounds = 0;
	pid_t scribbler, reader, workers[WORKERS];
	uint64_t v = 0, got;

	/* Mapped whatever KCHAN_FASTPATH says: the raw flag. */
	pub = kt_create(sizeof(uint64_t), 16, KCHAN_BROADCAST | KCHAN_MAPPABLE);
	lossy = kt_create(sizeof(uint64_t), 4,
			  KCHAN_BROADCAST | KCHAN_LOSSY | KCHAN_MAPPABLE);
	ASSERT_LE(0, pub);
	ASSERT_LE(0, lossy);
	clean = kchan_subscribe(pub, 0);
	dirty[0] = kchan_subscribe(pub, 0);
	dirty[1] = kchan_subscribe(pub, 0);
	dirty[2] = kchan_subscribe(lossy, 0);
	ASSERT_LE(0, clean);
	for (i = 0; i < DIRTY_SUBS; i++)
		ASSERT_LE(0, dirty[i]);

	scribbler = start_all(_metadata, dirty, DIRTY_SUBS, true, lossy, workers);
	/* The clean subscriber's reader: every element, in order, once. */
	reader = fork();
	ASSERT_LE(0, reader);
	if (reader == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (got = 0;; got++) {
			uint64_t x;
			int ret = kchan_recv(clean, &x);

			if (ret == 0)
				_exit(got % BCAST_N ? 3 : 0);	/* closed after whole rounds */
			if (ret != 1)
				_exit(1);
			if (x != got) {
				fprintf(stderr, "# reader: element %llu where %llu was due\n",
					(unsigned long long)x, (unsigned long long)got);
				_exit(2);
			}
		}
	}
	close(clean);
	/*
	 * Lossless: each send waits for the slowest subscriber, a dirty one
	 * the workers drain; 30 s for one element is a hang (a gate that
	 * missed a move), not slowness.
	 */
	while (kt_now_ns() < end || !rounds) {
		for (i = 0; i < BCAST_N; i++, v++) {
			int ret = kchan_send_timeout(pub, &v, 10 * SLACK_NS);

			ASSERT_EQ(0, ret) TH_LOG("element %llu: the publisher stalled",
						 (unsigned long long)v);
		}
		rounds++;
	}
	ASSERT_EQ(0, kchan_close(pub));
	ASSERT_EQ(reader, waitpid(reader, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("reader status %#x (1 error, 2 out of order, 3 short)", status);
	stop_all(_metadata, workers, scribbler);
	TH_LOG("%d rounds of %d elements to a clean subscriber beside the scribbler",
	       rounds, BCAST_N);
	for (i = 0; i < DIRTY_SUBS; i++)
		close(dirty[i]);
	close(lossy);
	close(pub);
}

TEST_HARNESS_MAIN
