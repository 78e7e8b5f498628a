// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: a broadcast channel under churn and SIGKILL.
 *
 * A publisher process sends sequence numbers 0, 1, 2, ... (kchan_send()
 * and, every eighth time, kchan_send_many() of four) and counts in a
 * MAP_SHARED word how many sends completed.  Subscriber processes, each in
 * a slot of the shared ledger, subscribe by themselves mid-stream and
 * receive with one of five receive forms (kchan_recv(), kchan_recv_many(),
 * read(2), kchan_select(), a selector), one of them slow (a 1 ms pause
 * every 16 elements).  Meanwhile the test
 *
 * - lets subscribers leave (close their descriptor after a quota) and
 *   starts new ones in their place: subscribers join and leave all along;
 * - SIGKILLs a subscriber now and then, mid-receive or wherever it is,
 *   and starts another in its place: the kill must unsubscribe it, so a
 *   lossless publisher it held back goes on.
 *
 * Then the publisher stops and closes the channel, and every live
 * subscriber drains to "closed".  Checked, for every subscriber not
 * killed, against the published count read just before (B) and just after
 * (A) it subscribed:
 *
 * - lossless: its first element is the first sent after it subscribed
 *   (B <= first <= A + BATCH: a send may complete before it is counted),
 *   and
 *   from there it received every element exactly once, in order, up to
 *   the last one sent (or its quota);
 * - lossy: its elements strictly increase, and received + kchan_lost()
 *   == sent since it subscribed: the start that implies lies in
 *   [B, A + BATCH], and it received the last element sent;
 *
 * and the publisher never waited a whole OP_TIMEOUT for room (a killed or
 * departed subscriber that still held it back, or a lost wake-up), and the
 * channel ends with no subscribers.
 *
 * Environment:
 *   KCHAN_STRESS_SECONDS  traffic time of each run (default 2)
 */
#include <sys/prctl.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

#define LIVE		6		/* subscribers at any time */
#define MAX_SLOTS	512		/* ledger slots, one per subscriber ever */
#define NFORMS		5
#define SLOW_SLOT	0		/* slot 0 and its replacements are slow */
#define CAPACITY	8
#define BATCH		4		/* the publisher's kchan_send_many() */
#define DEFAULT_SECONDS	2.0

/* A wait this long for room or for an element means a lost wake-up. */
#define OP_TIMEOUT	(30 * KT_NSEC)

enum { RUNNING = 1, CLOSED, LEFT, FAILED, KILLED };

struct slot {
	_Atomic int state;
	int form;
	bool slow;
	uint64_t quota;		/* leave after this many, 0: stay */
	uint64_t before, after;	/* published count around the subscribe */
	_Atomic uint64_t first, last, received;
	int64_t lost;
	int err;		/* what went wrong (FAILED) */
	pid_t pid;
};

struct ledger {
	_Atomic uint64_t published;
	_Atomic int stop;
	_Atomic int pub_err;
	struct slot slots[MAX_SLOTS];
};

static double run_seconds(void)
{
	const char *s = getenv("KCHAN_STRESS_SECONDS");
	double v = s ? atof(s) : DEFAULT_SECONDS;

	return v > 0 ? v : DEFAULT_SECONDS;
}

/* The publisher: sends until told to stop, then closes the channel. */
static int publisher(struct ledger *lg, int bch)
{
	uint64_t seq = 0, batch[BATCH];
	int64_t deadline;
	long ret;

	while (!atomic_load(&lg->stop)) {
		deadline = kt_now_ns() + OP_TIMEOUT;
		if (seq % 8 == 7) {
			for (int i = 0; i < BATCH; i++)
				batch[i] = seq + i;
			ret = kchan_send_many(bch, batch, BATCH);
		} else {
			ret = kchan_send_timeout(bch, &seq, OP_TIMEOUT);
			ret = ret ? ret : 1;
		}
		if (ret < 0 || kt_now_ns() > deadline) {
			atomic_store(&lg->pub_err, ret < 0 ? (int)-ret : ETIMEDOUT);
			return 1;
		}
		seq += ret;
		atomic_store(&lg->published, seq);
	}
	return kchan_close(bch) ? 2 : 0;
}

/* Receive up to @max elements into @buf the slot's way: n, 0 closed, -errno. */
static long receive(struct slot *s, int sub, int sel, uint64_t *buf, int max)
{
	struct kchan_case c = { .ch = sub, .op = KCHAN_CASE_RECV, .elem = buf };
	uint64_t tag;
	long n;

	switch (s->form) {
	case 0:
		return kchan_recv_timeout(sub, buf, OP_TIMEOUT);
	case 1:
		return kchan_recv_many(sub, buf, max);
	case 2:
		n = read(sub, buf, max * sizeof(*buf));
		return n < 0 ? -errno : n / (long)sizeof(*buf);
	case 3:
		n = kchan_select(&c, 1, OP_TIMEOUT);
		return n < 0 ? n : c.closed ? 0 : 1;
	default:
		return kchan_selector_wait(sel, &tag, OP_TIMEOUT);
	}
}

static int fail(struct slot *s, int err)
{
	s->err = err;
	atomic_store(&s->state, FAILED);
	return 1;
}

/* A subscriber: subscribe, receive and check until closed or the quota. */
static int subscriber(struct ledger *lg, struct slot *s, int bch, bool lossy)
{
	uint64_t buf[5], next = 0;
	bool started = false;
	int sub, sel = -1;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	s->before = atomic_load(&lg->published);
	sub = kchan_subscribe(bch, KCHAN_CLOEXEC);
	s->after = atomic_load(&lg->published);
	close(bch);
	if (sub < 0)
		return fail(s, 100 - sub);
	if (s->form == 4) {
		struct kchan_case c = { .ch = sub, .op = KCHAN_CASE_RECV, .elem = buf };

		sel = kchan_selector(KCHAN_CLOEXEC);
		if (sel < 0 || kchan_selector_add(sel, &c, 1))
			return fail(s, 2);
	}
	for (;;) {
		long n = receive(s, sub, sel, buf, 1 + s->form % 5);

		if (n == -EOVERFLOW && lossy)
			continue;
		if (n == 0)
			break;
		if (n < 0)
			return fail(s, 100 - n);
		for (long i = 0; i < n; i++) {
			if (!started) {
				atomic_store(&s->first, buf[i]);
				started = true;
			} else if (lossy ? buf[i] < next : buf[i] != next) {
				s->err = 3;
				atomic_store(&s->last, buf[i]);
				return fail(s, 3);
			}
			next = buf[i] + 1;
			atomic_store(&s->last, buf[i]);
		}
		atomic_fetch_add(&s->received, n);
		if (s->slow && atomic_load(&s->received) % 16 < (uint64_t)n)
			kt_sleep_us(1000);
		if (s->quota && atomic_load(&s->received) >= s->quota) {
			s->lost = kchan_lost(sub);
			close(sub);
			atomic_store(&s->state, LEFT);
			return 0;
		}
	}
	s->lost = kchan_lost(sub);
	close(sub);
	atomic_store(&s->state, CLOSED);
	return 0;
}

FIXTURE(bstress) {
	struct ledger *lg;
	int bch;
	pid_t pub;
	int nslots;
	int live[LIVE];		/* slot of each live subscriber */
	unsigned int rnd;
};

FIXTURE_VARIANT(bstress) {
	bool lossy;
};

FIXTURE_VARIANT_ADD(bstress, lossless) { .lossy = false };
FIXTURE_VARIANT_ADD(bstress, lossy) { .lossy = true };

FIXTURE_SETUP(bstress)
{
	self->lg = mmap(NULL, sizeof(*self->lg), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->lg);
	self->bch = kchan_make_broadcast(sizeof(uint64_t), CAPACITY,
					 variant->lossy ? KCHAN_LOSSY : 0);
	ASSERT_LE(0, self->bch);
	self->rnd = 12345;
}

FIXTURE_TEARDOWN(bstress)
{
	for (int i = 0; i < self->nslots; i++)
		if (atomic_load(&self->lg->slots[i].state) == RUNNING)
			kill(self->lg->slots[i].pid, SIGKILL);
	if (self->pub > 0)
		kill(self->pub, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0)
		;
	close(self->bch);
	munmap(self->lg, sizeof(*self->lg));
}

static unsigned int rnd(unsigned int *state)
{
	*state = *state * 1103515245 + 12345;
	return *state >> 16;
}

/* Start a subscriber in a fresh slot; the slot index or -1. */
static int start_subscriber(FIXTURE_DATA(bstress) *self, bool lossy, bool slow)
{
	int i = self->nslots;
	struct slot *s;
	pid_t pid;

	if (i >= MAX_SLOTS)
		return -1;
	s = &self->lg->slots[i];
	s->form = i % NFORMS;
	s->slow = slow;
	/* A third leave after a quota; the first such always, and soon. */
	if (i == 1)
		s->quota = 50;
	else if (!slow && !(rnd(&self->rnd) % 3))
		s->quota = 200 + rnd(&self->rnd) % 2000;
	atomic_store(&s->state, RUNNING);
	self->nslots++;
	pid = fork();
	if (pid < 0) {
		atomic_store(&s->state, 0);
		return -1;
	}
	if (!pid)
		_exit(subscriber(self->lg, s, self->bch, lossy));
	s->pid = pid;
	return i;
}

/* Log the channel's fdinfo: its subscribers, their lag, who blocks. */
static void log_channel(struct __test_metadata *_metadata, int bch)
{
	char path[64], buf[16384];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", bch);
	if (kt_read_file(path, buf, sizeof(buf)) > 0)
		TH_LOG("broadcast channel:\n%s", buf);
}

/* Log where process @pid sleeps in the kernel. */
static void log_stack(struct __test_metadata *_metadata, const char *who, pid_t pid)
{
	char path[64], buf[4096];

	snprintf(path, sizeof(path), "/proc/%d/stack", (int)pid);
	if (kt_read_file(path, buf, sizeof(buf)) >= 0)
		TH_LOG("%s %d:\n%s", who, (int)pid, buf);
}

/* Wait (bounded) until fdinfo of @bch says no subscriber is left. */
static int wait_no_subscribers(int bch)
{
	int64_t end = kt_now_ns() + KT_WAIT_NS;
	char path[64], buf[8192], *p;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", bch);
	for (;;) {
		if (kt_read_file(path, buf, sizeof(buf)) < 0)
			return -EIO;
		p = strstr(buf, "subscribers:\t");
		if (!p)
			return -EBADMSG;
		if (!atoi(p + strlen("subscribers:\t")))
			return 0;
		if (kt_now_ns() > end)
			return -ETIMEDOUT;
		kt_sleep_us(1000);
	}
}

TEST_F_TIMEOUT(bstress, churn_and_kills_exactly_once, 3600)
{
	int64_t end = kt_now_ns() + (int64_t)(run_seconds() * KT_NSEC), next_kill;
	int64_t kill_every = (int64_t)(run_seconds() * KT_NSEC) / 5;
	struct ledger *lg = self->lg;
	int kills = 0, leaves = 0, status, ret;
	uint64_t n, before_stop;

	for (int k = 0; k < LIVE; k++) {
		self->live[k] = start_subscriber(self, variant->lossy, k == SLOW_SLOT);
		ASSERT_LE(0, self->live[k]);
	}
	self->pub = fork();
	ASSERT_LE(0, self->pub);
	if (!self->pub) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(publisher(lg, self->bch));
	}

	next_kill = kt_now_ns() + kill_every;
	while (kt_now_ns() < end) {
		kt_sleep_us(2000);
		for (int k = 0; k < LIVE; k++) {
			struct slot *s = &lg->slots[self->live[k]];
			int st = atomic_load(&s->state);

			if (st == RUNNING)
				continue;
			ASSERT_EQ(LEFT, st) TH_LOG("slot %d: state %d err %d", self->live[k],
						   st, s->err);
			ASSERT_EQ(0, kt_waitpid(s->pid, &status));
			leaves++;
			self->live[k] = start_subscriber(self, variant->lossy, s->slow);
			ASSERT_LE(0, self->live[k]);
		}
		if (kt_now_ns() < next_kill)
			continue;
		/* Kill one - the slow one every other time - and replace it. */
		{
			int k = kills % 2 ? 1 + rnd(&self->rnd) % (LIVE - 1) : SLOW_SLOT;
			struct slot *s = &lg->slots[self->live[k]];

			if (atomic_load(&s->state) != RUNNING)
				continue;
			kill(s->pid, SIGKILL);
			ASSERT_EQ(0, kt_waitpid(s->pid, &status));
			ASSERT_TRUE(WIFSIGNALED(status));
			if (atomic_load(&s->state) == RUNNING)
				atomic_store(&s->state, KILLED);
			kills++;
			self->live[k] = start_subscriber(self, variant->lossy, k == SLOW_SLOT);
			ASSERT_LE(0, self->live[k]);
			next_kill += kill_every;
		}
	}

	/* The publisher went on after the kills (it would time out otherwise). */
	before_stop = atomic_load(&lg->published);
	atomic_store(&lg->stop, 1);
	ret = kt_waitpid(self->pub, &status);
	if (ret) {
		log_channel(_metadata, self->bch);
		log_stack(_metadata, "publisher", self->pub);
		for (int i = 0; i < self->nslots; i++) {
			if (atomic_load(&lg->slots[i].state) == RUNNING)
				log_stack(_metadata, "subscriber", lg->slots[i].pid);
			TH_LOG("slot %d pid %d state %d form %d received %llu last %llu", i,
			       lg->slots[i].pid, atomic_load(&lg->slots[i].state),
			       lg->slots[i].form,
			       (unsigned long long)atomic_load(&lg->slots[i].received),
			       (unsigned long long)atomic_load(&lg->slots[i].last));
		}
	}
	ASSERT_EQ(0, ret);
	self->pub = 0;
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("publisher: %s", strerror(lg->pub_err));
	n = atomic_load(&lg->published);
	for (int i = 0; i < self->nslots; i++) {
		struct slot *s = &lg->slots[i];

		if (atomic_load(&s->state) != RUNNING)
			continue;
		ASSERT_EQ(0, kt_waitpid(s->pid, &status));
		EXPECT_TRUE(WIFEXITED(status));
	}
	TH_LOG("%s: %llu sent (%llu before the stop), %d subscribers, %d left, %d killed",
	       variant->lossy ? "lossy" : "lossless", (unsigned long long)n,
	       (unsigned long long)before_stop, self->nslots, leaves, kills);
	EXPECT_LT(0, kills);
	EXPECT_LT(0, leaves);

	for (int i = 0; i < self->nslots; i++) {
		struct slot *s = &lg->slots[i];
		int st = atomic_load(&s->state);
		uint64_t first = atomic_load(&s->first), last = atomic_load(&s->last);
		uint64_t got = atomic_load(&s->received), start;

		if (st == KILLED)
			continue;
		ASSERT_NE(FAILED, st) TH_LOG("slot %d (form %d): error %d, first %llu last %llu",
					     i, s->form, s->err, (unsigned long long)first,
					     (unsigned long long)last);
		if (st == LEFT) {
			if (!variant->lossy)
				EXPECT_EQ(got, last - first + 1) TH_LOG("slot %d", i);
			EXPECT_LE(s->before, first);
			continue;
		}
		ASSERT_EQ(CLOSED, st) TH_LOG("slot %d", i);
		if (!got) {
			/* Subscribed after the last send. */
			EXPECT_LE(n, s->after + BATCH) TH_LOG("slot %d", i);
			continue;
		}
		EXPECT_EQ(n - 1, last) TH_LOG("slot %d", i);
		if (variant->lossy) {
			start = n - got - s->lost;
			EXPECT_GE(first, start) TH_LOG("slot %d", i);
		} else {
			EXPECT_EQ(0, s->lost);
			EXPECT_EQ(got, n - first) TH_LOG("slot %d", i);
			start = first;
		}
		EXPECT_LE(s->before, start) TH_LOG("slot %d: start %llu before %llu", i,
						   (unsigned long long)start,
						   (unsigned long long)s->before);
		EXPECT_GE(s->after + BATCH, start) TH_LOG("slot %d: start %llu after %llu", i,
						      (unsigned long long)start,
						      (unsigned long long)s->after);
	}
	/* Every subscriber is gone, killed ones included. */
	EXPECT_EQ(0, wait_no_subscribers(self->bch));
}

TEST_HARNESS_MAIN
