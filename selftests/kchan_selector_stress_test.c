// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: processes waiting on overlapping selectors.
 *
 * Producer processes send sequence-numbered uint64_t values round-robin
 * to eight channels with a plain blocking kchan_send(); consumer processes
 * take them: four each wait on a selector of their own
 * (kchan_selector_wait()) with receive cases on four channels, so that
 * every channel is in two selectors, one does a plain kchan_select() over
 * four channels and one a plain kchan_recv() on one channel.  A value is
 * (producer + 1) << 48 | sequence number, and sequence number s of
 * producer p goes to channel (s + p) % 8, so its channel is known.
 *
 * Everything is recorded in MAP_SHARED ledgers: how each send ended (0 or
 * EPIPE), how often and by whom each value was received.  Then the
 * channels are closed; each consumer sees "closed and drained" (0) for
 * each of its cases, deletes that case from its selector, and stops once
 * all are closed.  Checked: every value whose send returned 0 was
 * received exactly once, on its channel; no value whose send failed, nor
 * any other, was received; each consumer saw each producer's values on
 * one channel in the order sent; a wait performs one case only (the other
 * buffers stay untouched) and "closed" leaves its buffer untouched and
 * comes only from a closed channel; the channels end empty with nobody
 * queued.
 *
 * Three runs per channel mix (capacity 4, capacity 1, and a mix with
 * unbuffered channels, on which a selector's receive case proceeds with a
 * blocked sender):
 *
 * - the producers finish, then every channel is closed;
 * - channels are closed while the producers send (later sends get EPIPE);
 * - two selector consumers are SIGKILLed mid-run and replaced.  Their
 *   receive buffers are in the shared mapping, so a value the kernel had
 *   written there before the kill is visible to the test even if the
 *   consumer died before recording it: every value sent is then either
 *   recorded exactly once or sitting, unrecorded, in a killed consumer's
 *   buffer - the check stays exact.
 *
 * Every wait has a timeout and the test bounds each phase, so a lost
 * wake-up fails the test (with the channels' and selectors' state
 * logged) instead of hanging it.
 *
 * Environment:
 *   KCHAN_STRESS_SECONDS  traffic time of each run (default 2)
 */
#include <stdarg.h>
#include <sys/prctl.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

#define NCH		8
#define NPROD		4
#define NSELCONS	4		/* consumers with a selector each */
#define SEL_CHANS	4		/* channels in each selector */
#define SELECT_CONS	NSELCONS	/* the kchan_select() consumer */
#define RECV_CONS	(NSELCONS + 1)	/* the kchan_recv() consumer */
#define NCONS		(NSELCONS + 2)
#define MAX_KILLS	2
#define NSLOTS		(NCONS + MAX_KILLS)	/* replacements get slots of their own */
#define RECV_CHAN	6		/* the kchan_recv() consumer's channel */
#define DEFAULT_SECONDS	2.0

#define SENTINEL	(~0ULL)
#define SEQ_BITS	48
#define SEQ_MASK	((1ULL << SEQ_BITS) - 1)
#define TAG_BASE	0x5e1ec7000000000ULL	/* tag of channel k: TAG_BASE + k */

/* A wait that sees nothing for this long means a lost wake-up. */
#define OP_TIMEOUT	(60 * KT_NSEC)
/* How long each phase (producers ending, consumers draining) may take. */
#define PHASE_NS	(180 * KT_NSEC)

/* The kchan_select() consumer's channels. */
static const int select_chans[SEL_CHANS] = { 0, 3, 4, 7 };

/* Ledger of a send. */
enum { SENT_OK = 1, SENT_EPIPE = 2 };

struct pslot {
	_Atomic pid_t pid;
	_Atomic uint64_t next_seq;	/* sequence numbers used */
	uint64_t sent, epipe, capped;
	int err;
	char why[160];
};

struct cslot {
	_Atomic pid_t pid;
	_Atomic int ready, killed;
	int sel;			/* its selector's descriptor number */
	int nchans, chans[SEL_CHANS];
	/*
	 * The selector cases' receive buffers, one per channel: the kernel
	 * writes a value here and the consumer resets it to SENTINEL once
	 * it has recorded it.
	 */
	volatile uint64_t buf[NCH];
	uint64_t received, per_chan[NCH], closes_seen, waits;
	int err;
	char why[160];
};

struct world {
	int ch[NCH];
	uint64_t max_seq;
	_Atomic int go, stop;
	_Atomic uint64_t received;
	struct pslot p[NPROD];
	struct cslot c[NSLOTS];
	/* [p * max_seq + seq]: how the send ended; times received; by whom (slot + 1). */
	_Atomic uint8_t *sent, *got, *got_by;
};

static uint64_t val_make(int p, uint64_t seq)
{
	return (uint64_t)(p + 1) << SEQ_BITS | seq;
}

static int val_chan(int p, uint64_t seq)
{
	return (int)((seq + p) % NCH);
}

static double run_seconds(void)
{
	const char *v = getenv("KCHAN_STRESS_SECONDS");
	double d = v && *v ? strtod(v, NULL) : DEFAULT_SECONDS;

	return d > 0 ? d : DEFAULT_SECONDS;
}

static bool chan_closed(int fd)
{
	struct kchan_info info;

	return kt_info(fd, &info) == 0 && (info.state & KCHAN_STATE_CLOSED);
}

/* --- Children -------------------------------------------------------------- */

static void pfail(struct pslot *s, const char *what, uint64_t seq, long ret)
{
	if (s->err)
		return;
	s->err = ret < 0 ? (int)-ret : EPROTO;
	snprintf(s->why, sizeof(s->why), "%s at seq %llu: %ld (%s)", what,
		 (unsigned long long)seq, ret, ret < 0 ? strerror((int)-ret) : "unexpected");
}

static void cfail(struct cslot *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void cfail(struct cslot *s, const char *fmt, ...)
{
	va_list ap;

	if (s->err)
		return;
	s->err = EPROTO;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

static void child_start(struct world *w)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(1);
	while (!atomic_load(&w->go))
		kt_sleep_us(200);
}

/*
 * A producer: value after value, round-robin over the channels, with a
 * blocking kchan_send().  Stops when told to, or once every channel has
 * answered EPIPE (closed), or when its ledger is full.
 */
static void producer(struct world *w, int id)
{
	struct pslot *s = &w->p[id];
	unsigned int closed = 0;
	uint64_t seq;

	child_start(w);
	for (seq = 0; !atomic_load(&w->stop) && closed != (1U << NCH) - 1; seq++) {
		int k = val_chan(id, seq);
		uint64_t v = val_make(id, seq);
		int ret;

		if (seq >= w->max_seq) {
			s->capped++;
			break;
		}
		atomic_store(&s->next_seq, seq + 1);
		ret = kchan_send(w->ch[k], &v);
		if (ret == 0) {
			atomic_store(&w->sent[id * w->max_seq + seq], SENT_OK);
			s->sent++;
		} else if (ret == -EPIPE) {
			atomic_store(&w->sent[id * w->max_seq + seq], SENT_EPIPE);
			s->epipe++;
			closed |= 1U << k;
			if (!chan_closed(w->ch[k]))
				pfail(s, "EPIPE from an open channel", seq, ret);
		} else {
			atomic_store(&w->sent[id * w->max_seq + seq], SENT_EPIPE);
			pfail(s, "send", seq, ret);
			break;
		}
	}
	_exit(0);
}

/* The receiving side of one consumer: order per producer and channel. */
struct rx {
	struct world *w;
	struct cslot *s;
	int slot;
	uint64_t last[NPROD][NCH];	/* last sequence number + 1 */
};

static bool account(struct rx *r, uint64_t v, int k)
{
	struct world *w = r->w;
	uint64_t seq = v & SEQ_MASK, i;
	int p = (int)(v >> SEQ_BITS) - 1;

	/* A producer counts a sequence number as used before it sends it. */
	if (p < 0 || p >= NPROD || seq >= atomic_load(&w->p[p].next_seq) ||
	    val_chan(p, seq) != k) {
		cfail(r->s, "bad value 0x%llx on channel %d", (unsigned long long)v, k);
		return false;
	}
	if (r->last[p][k] > seq) {
		cfail(r->s, "order: producer %d channel %d seq %llu after %llu", p, k,
		      (unsigned long long)seq, (unsigned long long)r->last[p][k] - 1);
		return false;
	}
	r->last[p][k] = seq + 1;
	i = p * w->max_seq + seq;
	/* Who first: a kill between the two leaves the value unrecorded. */
	atomic_store(&w->got_by[i], (uint8_t)(r->slot + 1));
	atomic_fetch_add(&w->got[i], 1);
	atomic_fetch_add(&w->received, 1);
	r->s->received++;
	r->s->per_chan[k]++;
	return true;
}

/* "Closed and drained" from a receive on channel @k. */
static bool saw_closed(struct rx *r, int k)
{
	r->s->closes_seen++;
	if (!chan_closed(r->w->ch[k])) {
		cfail(r->s, "closed reported on open channel %d", k);
		return false;
	}
	return true;
}

/*
 * A selector consumer: one receive case per channel of its set, each with
 * its own buffer in the shared slot and the tag TAG_BASE + channel.
 */
static void sel_consumer(struct world *w, int slot)
{
	struct cslot *s = &w->c[slot];
	struct rx r = { .w = w, .s = s, .slot = slot };
	unsigned int live = 0;
	int sel, ret;

	for (int k = 0; k < NCH; k++)
		s->buf[k] = SENTINEL;
	sel = kchan_selector(KCHAN_CLOEXEC);
	if (sel < 0) {
		cfail(s, "kchan_selector: %s", strerror(-sel));
		_exit(1);
	}
	s->sel = sel;
	for (int i = 0; i < s->nchans; i++) {
		int k = s->chans[i];
		struct kchan_case c = { .ch = w->ch[k], .op = KCHAN_CASE_RECV,
					.elem = (void *)&s->buf[k] };

		ret = kchan_selector_add(sel, &c, TAG_BASE + k);
		if (ret) {
			cfail(s, "kchan_selector_add channel %d: %s", k, strerror(-ret));
			_exit(1);
		}
		/* Again: the same channel and direction is already in. */
		ret = kchan_selector_add(sel, &c, 0);
		if (ret != -EEXIST) {
			cfail(s, "second kchan_selector_add channel %d: %d", k, ret);
			_exit(1);
		}
		live |= 1U << k;
	}
	atomic_store(&s->ready, 1);
	child_start(w);

	while (live && !s->err) {
		uint64_t tag = SENTINEL, v;
		int k;

		s->waits++;
		ret = kchan_selector_wait(sel, &tag, OP_TIMEOUT);
		if (ret < 0) {
			cfail(s, "kchan_selector_wait: %s", strerror(-ret));
			break;
		}
		k = (int)(tag - TAG_BASE);
		if (tag < TAG_BASE || k >= NCH || !(live & 1U << k)) {
			cfail(s, "wait returned %d with tag 0x%llx", ret, (unsigned long long)tag);
			break;
		}
		for (int j = 0; j < NCH; j++) {
			if (j != k && s->buf[j] != SENTINEL) {
				cfail(s, "wait on channel %d wrote the buffer of channel %d", k, j);
				goto out;
			}
		}
		v = s->buf[k];
		if (ret == 0) {
			if (v != SENTINEL) {
				cfail(s, "closed case on channel %d wrote its buffer", k);
				break;
			}
			if (!saw_closed(&r, k))
				break;
			ret = kchan_selector_del(sel, w->ch[k], KCHAN_CASE_RECV);
			if (ret) {
				cfail(s, "kchan_selector_del channel %d: %d", k, ret);
				break;
			}
			ret = kchan_selector_del(sel, w->ch[k], KCHAN_CASE_RECV);
			if (ret != -ENOENT) {
				cfail(s, "second kchan_selector_del channel %d: %d", k, ret);
				break;
			}
			live &= ~(1U << k);
			continue;
		}
		if (ret != 1 || v == SENTINEL) {
			cfail(s, "wait returned %d, buffer of channel %d 0x%llx", ret, k,
			      (unsigned long long)v);
			break;
		}
		if (!account(&r, v, k))
			break;
		s->buf[k] = SENTINEL;
	}
	/* No case left: a wait that may not block says so at once. */
	if (!s->err) {
		uint64_t tag = 0;

		ret = kchan_selector_wait(sel, &tag, 0);
		if (ret != -EAGAIN)
			cfail(s, "wait on an empty selector: %d", ret);
	}
out:
	close(sel);
	_exit(s->err ? 1 : 0);
}

/* The kchan_select() consumer: a closed channel's case becomes a nil case. */
static void select_consumer(struct world *w, int slot)
{
	struct cslot *s = &w->c[slot];
	struct rx r = { .w = w, .s = s, .slot = slot };
	struct kchan_case cs[SEL_CHANS];
	uint64_t bufs[SEL_CHANS];
	int live = s->nchans;

	for (int i = 0; i < s->nchans; i++)
		cs[i] = (struct kchan_case){ .ch = w->ch[s->chans[i]], .op = KCHAN_CASE_RECV,
					     .elem = &bufs[i] };
	atomic_store(&s->ready, 1);
	child_start(w);
	while (live) {
		int ret, k;

		for (int i = 0; i < s->nchans; i++)
			bufs[i] = SENTINEL;
		s->waits++;
		ret = kchan_select(cs, s->nchans, OP_TIMEOUT);
		if (ret < 0 || ret >= s->nchans || cs[ret].ch < 0) {
			cfail(s, "kchan_select: %d", ret);
			break;
		}
		k = s->chans[ret];
		for (int i = 0; i < s->nchans; i++) {
			if (i != ret && bufs[i] != SENTINEL) {
				cfail(s, "select chose %d and wrote case %d", ret, i);
				goto out;
			}
		}
		if (cs[ret].closed) {
			if (bufs[ret] != SENTINEL) {
				cfail(s, "closed case wrote its buffer");
				break;
			}
			if (!saw_closed(&r, k))
				break;
			cs[ret].ch = -1;
			live--;
			continue;
		}
		if (!account(&r, bufs[ret], k))
			break;
	}
out:
	_exit(s->err ? 1 : 0);
}

/* The kchan_recv() consumer. */
static void recv_consumer(struct world *w, int slot)
{
	struct cslot *s = &w->c[slot];
	struct rx r = { .w = w, .s = s, .slot = slot };
	int k = s->chans[0];

	atomic_store(&s->ready, 1);
	child_start(w);
	for (;;) {
		uint64_t v = SENTINEL;
		int ret;

		s->waits++;
		ret = kchan_recv_timeout(w->ch[k], &v, OP_TIMEOUT);
		if (ret == 0) {
			if (v != SENTINEL)
				cfail(s, "closed receive wrote its buffer");
			else
				saw_closed(&r, k);
			break;
		}
		if (ret != 1) {
			cfail(s, "kchan_recv: %d", ret);
			break;
		}
		if (!account(&r, v, k))
			break;
	}
	_exit(s->err ? 1 : 0);
}

/* --- The test process ------------------------------------------------------ */

FIXTURE(sstress) {
	struct world *w;
	size_t ledger_size;
	pid_t prod[NPROD];
	pid_t cons[NSLOTS];
	int kills;
	double secs;
	int64_t start;
};

FIXTURE_VARIANT(sstress) {
	uint32_t cap[NCH];
};

FIXTURE_VARIANT_ADD(sstress, cap4) {
	.cap = { 4, 4, 4, 4, 4, 4, 4, 4 },
};

FIXTURE_VARIANT_ADD(sstress, cap1) {
	.cap = { 1, 1, 1, 1, 1, 1, 1, 1 },
};

/* Unbuffered channels in every selector, the select's and the receiver's. */
FIXTURE_VARIANT_ADD(sstress, mixed) {
	.cap = { 0, 4, 1, 0, 2, 8, 0, 1 },
};

FIXTURE_SETUP(sstress)
{
	struct world *w;
	char *ledger;
	size_t n;

	self->secs = run_seconds();
	w = mmap(NULL, sizeof(*w), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, w);
	self->w = w;
	/* Generous: untouched pages of the mapping cost nothing. */
	w->max_seq = 200000 + (uint64_t)(self->secs * 400000);
	n = NPROD * w->max_seq;
	self->ledger_size = 3 * n;
	ledger = mmap(NULL, self->ledger_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, ledger);
	w->sent = (_Atomic uint8_t *)ledger;
	w->got = w->sent + n;
	w->got_by = w->got + n;
	for (int k = 0; k < NCH; k++)
		w->ch[k] = KT_MAKE_CHAN(sizeof(uint64_t), variant->cap[k], 0);
	/*
	 * Selector consumer c: channels 2c .. 2c + 3, so channel k is in
	 * the selectors of consumers k / 2 and k / 2 - 1.
	 */
	for (int c = 0; c < NSELCONS; c++) {
		w->c[c].nchans = SEL_CHANS;
		for (int i = 0; i < SEL_CHANS; i++)
			w->c[c].chans[i] = (2 * c + i) % NCH;
	}
	w->c[SELECT_CONS].nchans = SEL_CHANS;
	memcpy(w->c[SELECT_CONS].chans, select_chans, sizeof(select_chans));
	w->c[RECV_CONS].nchans = 1;
	w->c[RECV_CONS].chans[0] = RECV_CHAN;
	signal(SIGPIPE, SIG_IGN);
}

FIXTURE_TEARDOWN(sstress)
{
	for (int p = 0; p < NPROD; p++)
		if (self->prod[p] > 0)
			kill(self->prod[p], SIGKILL);
	for (int c = 0; c < NSLOTS; c++)
		if (self->cons[c] > 0)
			kill(self->cons[c], SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	for (int k = 0; k < NCH; k++)
		close(self->w->ch[k]);
	munmap((void *)self->w->sent, self->ledger_size);
	munmap(self->w, sizeof(*self->w));
}

/* Fork consumer slot @slot (of kind @kind: a slot below NCONS). */
static pid_t spawn_consumer(struct world *w, int slot, int kind)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		atomic_store(&w->c[slot].pid, getpid());
		if (kind < NSELCONS)
			sel_consumer(w, slot);
		else if (kind == SELECT_CONS)
			select_consumer(w, slot);
		else
			recv_consumer(w, slot);
		_exit(1);
	}
	return pid;
}

static pid_t spawn_producer(struct world *w, int id)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		atomic_store(&w->p[id].pid, getpid());
		producer(w, id);
		_exit(1);
	}
	return pid;
}

static void start_all(struct __test_metadata *_metadata, FIXTURE_DATA(sstress) *self)
{
	struct world *w = self->w;
	int64_t end = kt_now_ns() + KT_WAIT_NS;

	for (int c = 0; c < NCONS; c++) {
		self->cons[c] = spawn_consumer(w, c, c);
		ASSERT_LT(0, self->cons[c]);
	}
	for (int p = 0; p < NPROD; p++) {
		self->prod[p] = spawn_producer(w, p);
		ASSERT_LT(0, self->prod[p]);
	}
	/* Every selector is set up before the first value is sent. */
	for (int c = 0; c < NCONS; c++) {
		while (!atomic_load(&w->c[c].ready) && !w->c[c].err) {
			ASSERT_GT(end, kt_now_ns()) TH_LOG("consumer %d not ready", c);
			kt_sleep_us(1000);
		}
		ASSERT_EQ(0, w->c[c].err) TH_LOG("consumer %d: %s", c, w->c[c].why);
	}
	self->start = kt_now_ns();
	atomic_store(&w->go, 1);
}

/* Log what every channel and every live selector looks like (on a hang). */
static void dump_state(FIXTURE_DATA(sstress) *self)
{
	struct world *w = self->w;

	for (int k = 0; k < NCH; k++) {
		struct kchan_info info;

		if (kt_info(w->ch[k], &info) == 0)
			ksft_print_msg("channel %d: state %u len %llu sendq %u recvq %u\n", k,
				       info.state, (unsigned long long)info.len, info.sendq,
				       info.recvq);
	}
	for (int c = 0; c < NSLOTS; c++) {
		char path[64], buf[512];
		struct cslot *s = &w->c[c];

		if (self->cons[c] <= 0 || atomic_load(&s->killed))
			continue;
		ksft_print_msg("consumer %d (pid %d): %llu received, %llu waits, %llu closes%s%s\n",
			       c, self->cons[c], (unsigned long long)s->received,
			       (unsigned long long)s->waits, (unsigned long long)s->closes_seen,
			       s->err ? ": " : "", s->err ? s->why : "");
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", self->cons[c], s->sel);
		if (c < NSELCONS || c >= NCONS) {
			if (kt_read_file(path, buf, sizeof(buf)) > 0)
				ksft_print_msg("  selector: %s\n", buf);
		}
		snprintf(path, sizeof(path), "/proc/%d/wchan", self->cons[c]);
		if (kt_read_file(path, buf, sizeof(buf)) > 0)
			ksft_print_msg("  wchan: %s\n", buf);
	}
	for (int p = 0; p < NPROD; p++) {
		char path[64], buf[128];

		snprintf(path, sizeof(path), "/proc/%d/wchan", self->prod[p]);
		ksft_print_msg("producer %d: next seq %llu%s\n", p,
			       (unsigned long long)atomic_load(&w->p[p].next_seq),
			       kt_read_file(path, buf, sizeof(buf)) > 0 ? buf : "");
	}
}

/* Reap @pid within @end (CLOCK_MONOTONIC ns): 0 with *status, or -ETIMEDOUT. */
static int reap_by(pid_t pid, int64_t end, int *status)
{
	for (;;) {
		pid_t ret = waitpid(pid, status, WNOHANG);

		if (ret == pid)
			return 0;
		if (ret < 0 && errno != EINTR)
			return -errno;
		if (kt_now_ns() > end)
			return -ETIMEDOUT;
		kt_sleep_us(1000);
	}
}

static void reap_producers(struct __test_metadata *_metadata, FIXTURE_DATA(sstress) *self)
{
	int64_t end = kt_now_ns() + PHASE_NS;

	for (int p = 0; p < NPROD; p++) {
		int status, ret = reap_by(self->prod[p], end, &status);

		if (ret)
			dump_state(self);
		ASSERT_EQ(0, ret) TH_LOG("producer %d did not finish", p);
		self->prod[p] = 0;
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

static void reap_consumers(struct __test_metadata *_metadata, FIXTURE_DATA(sstress) *self)
{
	int64_t end = kt_now_ns() + PHASE_NS;

	for (int c = 0; c < NSLOTS; c++) {
		int status, ret;

		if (self->cons[c] <= 0)
			continue;
		ret = reap_by(self->cons[c], end, &status);
		if (ret)
			dump_state(self);
		ASSERT_EQ(0, ret) TH_LOG("consumer %d did not finish", c);
		self->cons[c] = 0;
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("consumer %d: status 0x%x: %s", c, status, self->w->c[c].why);
	}
}

/* Close every channel still open. */
static void close_all(struct __test_metadata *_metadata, struct world *w)
{
	for (int k = 0; k < NCH; k++) {
		if (!chan_closed(w->ch[k])) {
			EXPECT_EQ(0, kchan_close(w->ch[k]));
		}
	}
}

/* Sleep until @t (CLOCK_MONOTONIC ns). */
static void sleep_until(int64_t t)
{
	int64_t now = kt_now_ns();

	if (t > now)
		kt_sleep_us((t - now) / 1000);
}

struct verdict {
	uint64_t sent, epipe, received, lost, dup, phantom, undecided, taken_by_killed;
};

#define MAX_LOST	64

/*
 * Go through the ledgers.  A value sent but recorded by nobody is lost -
 * unless it sits, unrecorded, in the buffer of a consumer that was killed
 * (the kernel wrote it there, the consumer died before recording it).
 */
static void judge(struct __test_metadata *_metadata, FIXTURE_DATA(sstress) *self,
		  struct verdict *v)
{
	struct world *w = self->w;
	uint64_t lost[MAX_LOST];
	int nlost = 0;

	memset(v, 0, sizeof(*v));
	for (int p = 0; p < NPROD; p++) {
		uint64_t used = atomic_load(&w->p[p].next_seq);

		for (uint64_t q = 0; q < w->max_seq; q++) {
			uint64_t i = p * w->max_seq + q;
			uint8_t st = atomic_load(&w->sent[i]), n = atomic_load(&w->got[i]);

			if (q >= used) {
				v->phantom += st || n;
				/*
				 * Ledger pages past the last used one are never
				 * touched (account() checks the sequence numbers).
				 */
				if (q > used + 4096)
					break;
				continue;
			}
			v->received += n;
			if (n > 1) {
				v->dup++;
			} else if (st == SENT_OK) {
				v->sent++;
				if (n == 0 && nlost < MAX_LOST)
					lost[nlost++] = i;
				v->lost += n == 0;
			} else if (st == SENT_EPIPE) {
				v->epipe++;
				v->phantom += n;
			} else {
				v->undecided++;
			}
		}
	}
	/* A killed consumer's buffers hold at most one value, a sent one. */
	for (int c = 0; c < NSLOTS; c++) {
		int held = 0;

		if (!atomic_load(&w->c[c].killed))
			continue;
		for (int k = 0; k < NCH; k++) {
			uint64_t b = w->c[c].buf[k], seq = b & SEQ_MASK, i;
			int p = (int)(b >> SEQ_BITS) - 1;

			if (b == SENTINEL)
				continue;
			held++;
			i = p * w->max_seq + seq;
			if (p < 0 || p >= NPROD || seq >= w->max_seq ||
			    atomic_load(&w->sent[i]) != SENT_OK || val_chan(p, seq) != k) {
				TH_LOG("killed consumer %d: buffer of channel %d holds 0x%llx",
				       c, k, (unsigned long long)b);
				v->phantom++;
				continue;
			}
			if (atomic_load(&w->got[i]) == 0) {
				/* Taken by the killed one: not lost. */
				for (int j = 0; j < nlost; j++) {
					if (lost[j] == i) {
						lost[j] = lost[--nlost];
						break;
					}
				}
				v->lost--;
				v->taken_by_killed++;
			} else if (atomic_load(&w->got_by[i]) != c + 1) {
				TH_LOG("producer %d seq %llu: in killed consumer %d's buffer and "
				       "received by consumer %d", p, (unsigned long long)seq, c,
				       atomic_load(&w->got_by[i]) - 1);
				v->dup++;
			}
		}
		EXPECT_GE(1, held) TH_LOG("killed consumer %d holds %d values", c, held);
	}
	for (int j = 0; j < nlost && j < 10; j++)
		TH_LOG("lost: producer %llu seq %llu (channel %d)",
		       (unsigned long long)(lost[j] / w->max_seq),
		       (unsigned long long)(lost[j] % w->max_seq),
		       val_chan((int)(lost[j] / w->max_seq), lost[j] % w->max_seq));
}

static void check_all(struct __test_metadata *_metadata, FIXTURE_DATA(sstress) *self,
		      const char *what, struct verdict *v)
{
	struct world *w = self->w;
	uint64_t sent = 0, epipe = 0, capped = 0, received = 0, sel_per_chan[NCH] = { 0 };
	uint64_t sel_total = 0;

	for (int p = 0; p < NPROD; p++) {
		EXPECT_EQ(0, w->p[p].err) TH_LOG("producer %d: %s", p, w->p[p].why);
		sent += w->p[p].sent;
		epipe += w->p[p].epipe;
		capped += w->p[p].capped;
	}
	for (int c = 0; c < NSLOTS; c++) {
		struct cslot *s = &w->c[c];

		if (atomic_load(&s->killed))
			continue;
		EXPECT_EQ(0, s->err) TH_LOG("consumer %d: %s", c, s->why);
		received += s->received;
		if (c < NSELCONS || c >= NCONS)
			for (int k = 0; k < NCH; k++)
				sel_per_chan[k] += s->per_chan[k];
	}
	for (int k = 0; k < NCH; k++)
		sel_total += sel_per_chan[k];
	judge(_metadata, self, v);
	ksft_print_msg("%s: %.1f s: %llu values sent, %llu EPIPE, %llu received (%llu through "
		       "selectors), %llu taken by killed consumers; ledger full %llu times\n",
		       what, (kt_now_ns() - self->start) / 1e9, (unsigned long long)v->sent,
		       (unsigned long long)v->epipe, (unsigned long long)v->received,
		       (unsigned long long)sel_total,
		       (unsigned long long)v->taken_by_killed, (unsigned long long)capped);
	EXPECT_EQ(sent, v->sent);
	EXPECT_EQ(epipe, v->epipe);
	EXPECT_EQ(0, v->lost);
	EXPECT_EQ(0, v->dup);
	EXPECT_EQ(0, v->phantom);
	EXPECT_EQ(0, v->undecided);
	if (!self->kills)
		EXPECT_EQ(v->received, atomic_load(&w->received));
	EXPECT_EQ(v->sent, v->received + v->taken_by_killed);
	EXPECT_GE((uint64_t)self->kills, v->taken_by_killed);
	if (!self->kills)
		EXPECT_EQ(received, v->received);
	/* The run did what it is for: every channel served by its selectors. */
	EXPECT_LT(0, v->sent);
	for (int k = 0; k < NCH; k++) {
		struct kchan_info info;

		EXPECT_LT(0, sel_per_chan[k]) TH_LOG("nothing through a selector on channel %d", k);
		ASSERT_EQ(0, kt_info(w->ch[k], &info));
		EXPECT_TRUE(info.state & KCHAN_STATE_CLOSED);
		EXPECT_EQ(0, info.len);
		EXPECT_EQ(0, info.sendq);
		EXPECT_EQ(0, info.recvq);
	}
	/* Every live consumer saw each of its channels closed, once. */
	for (int c = 0; c < NSLOTS; c++) {
		struct cslot *s = &w->c[c];

		if (self->cons[c] == 0 && s->nchans && !atomic_load(&s->killed) &&
		    atomic_load(&s->pid))
			EXPECT_EQ((uint64_t)s->nchans, s->closes_seen) TH_LOG("consumer %d", c);
	}
}

TEST_F_TIMEOUT(sstress, producers_finish_then_close_every_value_once_in_order, 3600)
{
	struct verdict v;

	start_all(_metadata, self);
	sleep_until(self->start + (int64_t)(self->secs * KT_NSEC));
	atomic_store(&self->w->stop, 1);
	reap_producers(_metadata, self);
	close_all(_metadata, self->w);
	reap_consumers(_metadata, self);
	check_all(_metadata, self, "finish then close", &v);
	EXPECT_EQ(0, v.epipe);
}

TEST_F_TIMEOUT(sstress, channels_closed_while_producers_send_epipe_values_never_received, 3600)
{
	/* Four channels closed during the run, the other four at its end. */
	static const int order[NCH] = { 5, 2, 7, 0, 1, 3, 4, 6 };
	struct world *w = self->w;
	struct verdict v;

	start_all(_metadata, self);
	for (int i = 0; i < NCH / 2; i++) {
		sleep_until(self->start + (int64_t)(self->secs * KT_NSEC) * (i + 1) / (NCH / 2 + 1));
		ASSERT_EQ(0, kchan_close(w->ch[order[i]]));
	}
	sleep_until(self->start + (int64_t)(self->secs * KT_NSEC));
	/* The producers are still sending: they stop on EPIPE from every channel. */
	for (int i = NCH / 2; i < NCH; i++) {
		ASSERT_EQ(0, kchan_close(w->ch[order[i]]));
	}
	reap_producers(_metadata, self);
	reap_consumers(_metadata, self);
	check_all(_metadata, self, "closed while sending", &v);
	EXPECT_LT(0, v.epipe);
	for (int p = 0; p < NPROD; p++) {
		EXPECT_EQ(0, w->p[p].capped) TH_LOG("producer %d stopped at a full ledger", p);
	}
}

TEST_F_TIMEOUT(sstress, selector_consumers_killed_and_replaced_nothing_duplicated, 3600)
{
	/* Kill consumer 1 at 1/3 of the run and consumer 2 at 2/3. */
	static const int victims[MAX_KILLS] = { 1, 2 };
	struct world *w = self->w;
	struct verdict v;

	start_all(_metadata, self);
	for (int i = 0; i < MAX_KILLS; i++) {
		int victim = victims[i], slot = NCONS + i, status;
		int64_t end = kt_now_ns() + KT_WAIT_NS;

		sleep_until(self->start + (int64_t)(self->secs * KT_NSEC) * (i + 1) / (MAX_KILLS + 1));
		/* Let it be in the middle of something. */
		while (w->c[victim].received < 100 && kt_now_ns() < end)
			kt_sleep_us(1000);
		atomic_store(&w->c[victim].killed, 1);
		ASSERT_EQ(0, kill(self->cons[victim], SIGKILL));
		ASSERT_EQ(0, reap_by(self->cons[victim], kt_now_ns() + PHASE_NS, &status));
		self->cons[victim] = 0;
		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		self->kills++;

		/* Its replacement: a new selector over the same channels. */
		w->c[slot].nchans = w->c[victim].nchans;
		memcpy(w->c[slot].chans, w->c[victim].chans, sizeof(w->c[slot].chans));
		self->cons[slot] = spawn_consumer(w, slot, victim);
		ASSERT_LT(0, self->cons[slot]);
	}
	sleep_until(self->start + (int64_t)(self->secs * KT_NSEC));
	atomic_store(&w->stop, 1);
	reap_producers(_metadata, self);
	close_all(_metadata, w);
	reap_consumers(_metadata, self);
	check_all(_metadata, self, "consumers killed", &v);
	EXPECT_EQ(0, v.epipe);
	for (int i = 0; i < MAX_KILLS; i++)
		ksft_print_msg("killed consumer %d had received %llu values\n", victims[i],
			       (unsigned long long)w->c[victims[i]].received);
}

TEST_HARNESS_MAIN
