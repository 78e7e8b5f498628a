// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: a fully random stress test with signals, stops and
 * closes.
 *
 * Worker threads, in the test process and in forked processes, share a set
 * of buffered and unbuffered channels and for a bounded time do random
 * operations on random channels: blocking, timed (deadlines of 0 to 2 ms)
 * and non-blocking sends and receives, batches (raw ioctls with every flag,
 * read(2), write(2)), selects mixing send, receive and nil cases, and
 * poll(2) and epoll_wait(2) (every worker's epoll watches every channel).  A
 * signaller thread hits random workers with SIGUSR1 all the while, so
 * blocked calls fail with EINTR (processes whose handler lacks
 * SA_RESTART) or restart (the others), and now and then stops and
 * continues a whole worker process.  Half of the channels are closed
 * (KCHAN_IOC_CLOSE) during the run by workers racing to do it, the rest
 * at the end; then everything is drained.  One variant also SIGKILLs
 * worker processes in the middle of their calls and replaces them.
 *
 * Every message carries (producer, sequence number, channel, checksum).
 * Senders record each sequence number as sent (with its channel) or not
 * sent (EPIPE, EAGAIN, ETIMEDOUT, EINTR, the unsent tail of a batch, the
 * other cases of a select) in ledgers in a MAP_SHARED mapping; receivers
 * record what they got.  Checked: every sent message was received exactly
 * once, on its channel; no unsent message was received; checksums hold;
 * each receiver saw each producer's messages on one channel in increasing
 * order (no EFAULT is ever provoked, so the given-back exception of
 * semantics.rst does not apply); every error is one the form allows
 * (EINTR never from a call that SA_RESTART restarts, ETIMEDOUT only with a
 * deadline, EAGAIN only non-blocking); a failed receive and the cases a
 * select did not choose leave their buffers untouched; "closed" only on a
 * closed channel; poll and epoll report only documented bits, HUP only on
 * a closed channel and then with IN and OUT; each channel is closed
 * successfully exactly once; and the channels end empty with nobody
 * queued.
 *
 * Environment:
 *   KCHAN_STRESS_SECONDS  run time of each variant (default 3)
 *   KCHAN_STRESS_SEED     seed of the workers' generators (default 1)
 */
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

#define CH_N		8
#define CH_FIRST_CLOSABLE 4	/* channels 4.. are closed during the run */
#define BATCH_MAX	4
#define SEL_MAX		4
#define WORKERS_MAX	24
#define DEFAULT_SECONDS	3.0
/* After the run: how long the workers may take to notice and finish. */
#define FINISH_NS	(120 * KT_NSEC)

/*
 * Unbuffered and small buffered channels in both halves, with elements
 * from the header alone up to the largest size allowed (64 KiB: wait
 * buffers beyond a page); every size a multiple of 8.
 */
static const uint32_t ch_cap[CH_N] = { 0, 1, 4, 32, 0, 2, 1, 8 };
static const uint32_t ch_size[CH_N] = { 64, 24, 4096, 64, 65536, 32, 65536, 512 };
#define ELEM_MAX	65536
_Static_assert(BATCH_MAX <= SEL_MAX + 1, "a batch fits in a worker's buffer");

/* An element: this header, then a payload derived from @check. */
struct msg {
	uint32_t prod;
	uint32_t seq;
	uint32_t chan;
	uint32_t pad;
	uint64_t check;
};

/* Ledger of a sequence number: how its send ended, and its channel. */
enum { LG_OK = 1, LG_FAIL = 2 };
#define LG(state, chan)	((uint8_t)((state) | ((chan) + 1) << 2))
#define LG_STATE(v)	((v) & 3)
#define LG_CHAN(v)	(((v) >> 2) - 1)

/* One worker's public state: who it is, what it did, what went wrong. */
struct slot {
	_Atomic pid_t pid, tid;
	_Atomic uint32_t next_seq;	/* sequence numbers used */
	_Atomic int killed;		/* its process was SIGKILLed */
	_Atomic uint32_t recv_mask;	/* channels its current receive is on */
	bool no_close;			/* never closes a channel */
	uint64_t ops, sent, received, selects, polls, closes_seen;
	uint64_t eintr, etimedout, eagain, epipe, seq_cap_hit;
	int err;			/* first unexpected result, or 0 */
	char why[160];
};

/* Everything shared, in one MAP_SHARED mapping; the ledgers follow it. */
struct chaos {
	int ch[CH_N];
	uint32_t nworkers;
	uint32_t max_seq;		/* ledger entries per producer */
	int64_t close_at[CH_N];		/* CLOCK_MONOTONIC ns, 0: at the end */
	_Atomic int go, stop;
	_Atomic uint32_t closes[CH_N];	/* successful kchan_close() */
	_Atomic uint64_t sig_sent, sig_handled, stops;
	_Atomic uint64_t bad, out_of_order, dirty;
	uint32_t lossy;			/* channels a killed receiver was on */
	struct slot w[WORKERS_MAX];
	_Atomic uint8_t *sent, *got, *got_on;	/* [prod * max_seq + seq] */
};

/* The receiver side of one worker (or of the final drain). */
struct rx {
	struct chaos *c;
	struct slot *s;
	uint32_t last[WORKERS_MAX][CH_N];	/* last seq + 1 per producer, channel */
};

static struct chaos *chaos_g;	/* for the signal handler */
static bool chaos_restart;	/* this process's handler has SA_RESTART */

static void chaos_on_sigusr1(int sig)
{
	(void)sig;
	atomic_fetch_add(&chaos_g->sig_handled, 1);
}

static int chaos_handler(bool restart)
{
	struct sigaction sa = { .sa_handler = chaos_on_sigusr1,
				.sa_flags = restart ? SA_RESTART : 0 };

	chaos_restart = restart;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGUSR1, &sa, NULL) ? -errno : 0;
}

static inline uint64_t rnd(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static inline uint32_t below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(rnd(s) % n);
}

static uint64_t mix(uint64_t z)
{
	/* splitmix64 */
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t msg_check(uint32_t prod, uint32_t seq, uint32_t chan)
{
	return mix((uint64_t)prod << 40 ^ (uint64_t)chan << 32 ^ seq);
}

/* Payload word at byte @off of an element whose header has @check. */
static uint64_t msg_word(uint64_t check, size_t off)
{
	return mix(check ^ off);
}

/* Build element @e of channel @chan's size. */
static void msg_make(unsigned char *e, uint32_t prod, uint32_t seq, uint32_t chan)
{
	struct msg m = { .prod = prod, .seq = seq, .chan = chan,
			 .check = msg_check(prod, seq, chan) };

	memcpy(e, &m, sizeof(m));
	for (size_t off = sizeof(m); off < ch_size[chan]; off += 8) {
		uint64_t v = msg_word(m.check, off);

		memcpy(e + off, &v, 8);
	}
}

/* Element @e as received on channel @chan: its header, unless corrupt. */
static bool msg_ok(const unsigned char *e, int chan, struct msg *m)
{
	memcpy(m, e, sizeof(*m));
	if (m->check != msg_check(m->prod, m->seq, m->chan) || m->pad)
		return false;
	for (size_t off = sizeof(*m); off < ch_size[chan]; off += 8) {
		uint64_t v;

		memcpy(&v, e + off, 8);
		if (v != msg_word(m->check, off))
			return false;
	}
	return true;
}

static bool untouched(const void *buf, size_t size)
{
	const unsigned char *p = buf;

	for (size_t i = 0; i < size; i++)
		if (p[i] != 0xa5)
			return false;
	return true;
}

/* Record the first unexpected result of worker @s. */
static void fail(struct slot *s, const char *what, long ret)
{
	if (s->err)
		return;
	s->err = ret < 0 ? (int)-ret : EPROTO;
	snprintf(s->why, sizeof(s->why), "%s: %ld (%s)", what, ret,
		 ret < 0 ? strerror((int)-ret) : "unexpected");
}

/*
 * Check an error against what the form allows and count it.  @deadline:
 * the call had one (ETIMEDOUT allowed; EINTR even under SA_RESTART);
 * @nonblock: EAGAIN allowed; @send: EPIPE allowed.
 */
static void expect_err(struct slot *s, const char *what, long ret, bool deadline,
		       bool nonblock, bool send)
{
	switch (ret) {
	case -EINTR:
		s->eintr++;
		if (!nonblock && (deadline || !chaos_restart))
			return;
		break;
	case -ETIMEDOUT:
		s->etimedout++;
		if (deadline)
			return;
		break;
	case -EAGAIN:
		s->eagain++;
		if (nonblock)
			return;
		break;
	case -EPIPE:
		s->epipe++;
		if (send)
			return;
		break;
	}
	fail(s, what, ret);
}

static void ledger_sent(struct chaos *c, uint32_t prod, uint32_t seq, int chan, bool ok)
{
	atomic_store(&c->sent[(size_t)prod * c->max_seq + seq],
		     LG(ok ? LG_OK : LG_FAIL, chan < 0 ? 0 : chan));
}

/* Account one received message on channel @chan. */
static void account(struct rx *r, const unsigned char *e, int chan)
{
	struct chaos *c = r->c;
	struct msg hdr, *m = &hdr;
	size_t i;

	if (!msg_ok(e, chan, m) || m->prod >= c->nworkers || m->seq >= c->max_seq ||
	    m->chan != (uint32_t)chan) {
		atomic_fetch_add(&c->bad, 1);
		fail(r->s, "bad message", 0);
		return;
	}
	if (r->last[m->prod][chan] > m->seq) {
		atomic_fetch_add(&c->out_of_order, 1);
		fail(r->s, "order", 0);
	}
	r->last[m->prod][chan] = m->seq + 1;
	i = (size_t)m->prod * c->max_seq + m->seq;
	atomic_fetch_add(&c->got[i], 1);
	atomic_store(&c->got_on[i], (uint8_t)(chan + 1));
	r->s->received++;
}

static bool chan_closed(struct chaos *c, int k)
{
	struct kchan_info info;

	return !kt_info(c->ch[k], &info) && (info.state & KCHAN_STATE_CLOSED);
}

/* A receive said "closed and drained": the channel must be closed. */
static void saw_closed(struct rx *r, int chan)
{
	r->s->closes_seen++;
	if (!chan_closed(r->c, chan))
		fail(r->s, "closed reported on an open channel", chan);
}

static void dirty(struct rx *r, const char *what)
{
	atomic_fetch_add(&r->c->dirty, 1);
	fail(r->s, what, 0);
}

/* Worker state beyond the receiver's. */
struct worker {
	struct rx rx;
	uint32_t id;
	uint64_t rng;
	int epfd;		/* every channel, level-triggered */
	unsigned char *buf;	/* (SEL_MAX + 1) * ELEM_MAX: batches, select cases */
	pthread_t thread;
};

/* The next sequence number, or -1 when the ledger is full. */
static int64_t next_seq(struct worker *w, uint32_t n)
{
	uint32_t seq = atomic_load(&w->rx.s->next_seq);

	if (seq + n > w->rx.c->max_seq) {
		w->rx.s->seq_cap_hit++;
		return -1;
	}
	atomic_store(&w->rx.s->next_seq, seq + n);
	return seq;
}

static int pick_chan(struct worker *w)
{
	int k = (int)below(&w->rng, CH_N);

	/* Mostly open channels: a closed one answers at once. */
	if (atomic_load(&w->rx.c->closes[k]) && below(&w->rng, 4))
		k = (int)below(&w->rng, CH_FIRST_CLOSABLE);
	return k;
}

/* A timeout for the _timeout forms and select: 0 to 2 ms. */
static int64_t pick_timeout(struct worker *w)
{
	return below(&w->rng, 4) ? (int64_t)below(&w->rng, 2000) * 1000 : 0;
}

enum xmode { X_BLOCK, X_NONBLOCK, X_DEADLINE };

/* A batch (or one element) by raw ioctl, read(2) or write(2). */
static long batch_call(struct worker *w, int fd, bool send, unsigned char *m, uint32_t n,
		       size_t size, enum xmode mode, bool rw)
{
	unsigned long cmd = send ? KCHAN_IOC_SEND : KCHAN_IOC_RECV;
	long ret;

	if (rw) {
		ret = send ? write(fd, m, n * size) : read(fd, m, n * size);
		if (ret < 0)
			return -errno;
		if (ret % size)
			return -EPROTO;
		return ret / (long)size;
	}
	if (mode == X_NONBLOCK)
		return kt_xfer(fd, cmd, m, n, KCHAN_XFER_NONBLOCK, 0);
	if (mode == X_DEADLINE)
		return kt_xfer(fd, cmd, m, n, KCHAN_XFER_DEADLINE,
			       kt_now_ns() + pick_timeout(w));
	return kt_xfer(fd, cmd, m, n, 0, 0);
}

/*
 * One send or receive on a random channel, in one of five forms: blocking,
 * timed, try, a raw batch (blocking, non-blocking or with a deadline) and
 * write(2)/read(2) of a batch.
 */
static void op_xfer(struct worker *w, bool send)
{
	struct chaos *c = w->rx.c;
	struct slot *s = w->rx.s;
	int k = pick_chan(w), fd = c->ch[k];
	uint32_t form = below(&w->rng, 5), n = 1;
	enum xmode mode = form == 1 ? X_DEADLINE : form == 2 ? X_NONBLOCK : X_BLOCK;
	const size_t size = ch_size[k];
	unsigned char *m = w->buf;
	int64_t seq = 0;
	long ret;

	if (form >= 3)
		n = 1 + below(&w->rng, BATCH_MAX);
	if (form == 3)
		mode = (enum xmode)below(&w->rng, 3);
	memset(m, 0xa5, n * size);
	if (send) {
		seq = next_seq(w, n);
		if (seq < 0)
			return;
		for (uint32_t i = 0; i < n; i++)
			msg_make(m + i * size, w->id, seq + i, k);
	}
	if (!send)
		atomic_store(&s->recv_mask, 1U << k);
	switch (form) {
	case 0:
		ret = send ? kchan_send(fd, m) : kchan_recv(fd, m);
		break;
	case 1: {
		int64_t t = pick_timeout(w);

		ret = send ? kchan_send_timeout(fd, m, t) : kchan_recv_timeout(fd, m, t);
		break;
	}
	case 2:
		ret = send ? kchan_try_send(fd, m) : kchan_try_recv(fd, m);
		break;
	default:
		ret = batch_call(w, fd, send, m, n, size, mode, form == 4);
		break;
	}
	if (send && form < 3 && ret == 0)
		ret = 1;	/* the one-element send forms return 0 */
	if (ret < 0)
		expect_err(s, send ? "send" : "recv", ret, mode == X_DEADLINE,
			   mode == X_NONBLOCK, send);
	else if ((send && ret == 0) || ret > n)
		fail(s, "count", ret);
	if (send) {
		for (uint32_t i = 0; i < n; i++)
			ledger_sent(c, w->id, seq + i, k, (long)i < ret);
		s->sent += ret > 0 ? ret : 0;
		return;
	}
	if (ret == 0)
		saw_closed(&w->rx, k);
	for (long i = 0; i < ret && i < n; i++)
		account(&w->rx, m + i * size, k);
	if (ret >= 0 && ret <= n && !untouched(m + ret * size, (n - ret) * size))
		dirty(&w->rx, "recv wrote past what it returned");
	else if (ret < 0 && !untouched(m, n * size))
		dirty(&w->rx, "failed recv wrote its buffer");
	atomic_store(&s->recv_mask, 0);
}

/* A select over 1..SEL_MAX random send and receive cases, maybe a nil one. */
static void op_select(struct worker *w)
{
	struct chaos *c = w->rx.c;
	struct slot *s = w->rx.s;
	struct kchan_case cs[SEL_MAX + 1];
	int ks[SEL_MAX + 1];
	uint32_t n = 1 + below(&w->rng, SEL_MAX), nsend = 0, mask = 0;
	int64_t seq = next_seq(w, 1);
	int64_t t = below(&w->rng, 4) ? pick_timeout(w) : -1;
	int ret;

	/* Case i's element is at buf + i * ELEM_MAX, whatever its size. */
	for (uint32_t i = 0; i < n; i++) {
		int k = pick_chan(w);
		bool send = seq >= 0 && below(&w->rng, 2);
		unsigned char *e = w->buf + i * ELEM_MAX;

		ks[i] = k;
		cs[i] = (struct kchan_case){ .ch = c->ch[k], .elem = e,
					     .op = send ? KCHAN_CASE_SEND : KCHAN_CASE_RECV };
		if (send) {
			msg_make(e, w->id, seq, k);
			nsend++;
		} else {
			memset(e, 0xa5, ch_size[k]);
			mask |= 1U << k;
		}
	}
	if (!below(&w->rng, 8)) {
		cs[n] = (struct kchan_case){ .ch = -1, .op = KCHAN_CASE_RECV,
					     .elem = w->buf + n * ELEM_MAX };
		ks[n++] = -1;
	}
	s->selects++;
	atomic_store(&s->recv_mask, mask);
	ret = kchan_select(cs, n, t);
	if (ret >= (int)n || (ret >= 0 && cs[ret].ch < 0)) {
		fail(s, "select chose", ret);
		return;
	}
	if (ret < 0)
		expect_err(s, "select", ret, t > 0, t == 0, nsend > 0);
	for (uint32_t i = 0; i < n; i++) {
		int k = ks[i];
		const unsigned char *e = cs[i].elem;

		if ((int)i == ret && cs[i].op == KCHAN_CASE_SEND) {
			ledger_sent(c, w->id, seq, k, true);
			s->sent++;
		} else if ((int)i == ret && cs[i].closed) {
			if (!untouched(e, ch_size[k]))
				dirty(&w->rx, "closed case wrote its buffer");
			saw_closed(&w->rx, k);
		} else if ((int)i == ret) {
			account(&w->rx, e, k);
		} else if (k >= 0 && cs[i].op == KCHAN_CASE_RECV && !untouched(e, ch_size[k])) {
			dirty(&w->rx, "a case not chosen wrote its buffer");
		}
	}
	if (seq >= 0 && (ret < 0 || cs[ret].op != KCHAN_CASE_SEND))
		ledger_sent(c, w->id, seq, -1, false);
	atomic_store(&s->recv_mask, 0);
}

/* Close a closable channel whose time has come; racing closers get EPIPE. */
static void op_close(struct worker *w)
{
	struct chaos *c = w->rx.c;
	int64_t now = kt_now_ns();

	if (w->rx.s->no_close)
		return;
	for (int k = CH_FIRST_CLOSABLE; k < CH_N; k++) {
		long ret;

		if (!c->close_at[k] || now < c->close_at[k] || atomic_load(&c->closes[k]))
			continue;
		ret = kchan_close(c->ch[k]);
		if (ret == 0)
			atomic_fetch_add(&c->closes[k], 1);
		else if (ret != -EPIPE)
			fail(w->rx.s, "close", ret);
		return;
	}
}

#define EV_ALL	(EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLWRNORM | EPOLLHUP)

/*
 * What poll or epoll reported for channel @k: only the documented bits,
 * IN and OUT with their NORM twins, HUP only on a closed channel, and all
 * of them on a channel that was closed before the call (@was_closed).
 */
static void check_events(struct worker *w, int k, unsigned int ev, bool was_closed)
{
	if (ev & ~EV_ALL)
		fail(w->rx.s, "poll: undocumented bits", ev);
	else if (!(ev & EPOLLIN) != !(ev & EPOLLRDNORM) || !(ev & EPOLLOUT) != !(ev & EPOLLWRNORM))
		fail(w->rx.s, "poll: IN or OUT without its NORM twin", ev);
	else if ((was_closed || (ev & EPOLLHUP)) && ev != EV_ALL)
		fail(w->rx.s, "poll: a closed channel not IN, OUT and HUP", ev);
	else if ((ev & EPOLLHUP) && !chan_closed(w->rx.c, k))
		fail(w->rx.s, "poll: HUP on an open channel", ev);
}

/* poll(2) on 1..3 random channels, or epoll_wait(2) on all, for 0..2 ms. */
static void op_poll(struct worker *w)
{
	struct chaos *c = w->rx.c;
	struct epoll_event ev[CH_N];
	struct pollfd pfd[3];
	bool was_closed[3];
	int n = 1 + (int)below(&w->rng, 3), ms = (int)below(&w->rng, 3), ks[3], ret;

	w->rx.s->polls++;
	if (below(&w->rng, 2)) {
		ret = epoll_wait(w->epfd, ev, CH_N, ms);
		for (int i = 0; i < ret; i++)
			check_events(w, (int)ev[i].data.u32, ev[i].events, false);
	} else {
		for (int i = 0; i < n; i++) {
			ks[i] = pick_chan(w);
			was_closed[i] = chan_closed(c, ks[i]);
			pfd[i] = (struct pollfd){ .fd = c->ch[ks[i]], .events = EV_ALL };
		}
		ret = poll(pfd, n, ms);
		for (int i = 0; i < ret && i < n; i++)
			check_events(w, ks[i], pfd[i].revents, was_closed[i]);
	}
	/* Neither is ever restarted: EINTR whatever the handler. */
	if (ret < 0 && errno != EINTR)
		fail(w->rx.s, "poll", -errno);
}

/* An epoll instance watching every channel; -errno on failure. */
static int epoll_all(struct chaos *c)
{
	int epfd = epoll_create1(EPOLL_CLOEXEC);

	if (epfd < 0)
		return -errno;
	for (int k = 0; k < CH_N; k++) {
		struct epoll_event ev = { .events = EV_ALL, .data.u32 = k };

		if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->ch[k], &ev)) {
			close(epfd);
			return -errno;
		}
	}
	return epfd;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct chaos *c = w->rx.c;
	struct slot *s = w->rx.s;

	atomic_store(&s->pid, getpid());
	atomic_store(&s->tid, (pid_t)syscall(SYS_gettid));
	w->epfd = epoll_all(c);
	if (w->epfd < 0)
		fail(s, "epoll", w->epfd);
	while (!atomic_load(&c->go))
		kt_sleep_us(200);
	while (!atomic_load(&c->stop) && !s->err) {
		uint32_t r = below(&w->rng, 64);

		s->ops++;
		if (r == 0)
			op_close(w);
		else if (r < 44)
			op_xfer(w, r < 22);
		else if (r < 58)
			op_select(w);
		else
			op_poll(w);
	}
	close(w->epfd);
	return NULL;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

static double run_seconds(void)
{
	const char *v = getenv("KCHAN_STRESS_SECONDS");
	double d = v && *v ? strtod(v, NULL) : DEFAULT_SECONDS;

	return d > 0 ? d : DEFAULT_SECONDS;
}

static struct worker *worker_new(struct chaos *c, uint32_t id)
{
	struct worker *w = calloc(1, sizeof(*w));

	if (w)
		w->buf = malloc((SEL_MAX + 1) * ELEM_MAX);
	if (!w || !w->buf) {
		free(w);
		return NULL;
	}
	w->rx.c = c;
	w->rx.s = &c->w[id];
	w->id = id;
	w->rng = mix(env_u64("KCHAN_STRESS_SEED", 1) * 64 + id) | 1;
	return w;
}

/*
 * Start workers @first..@first+@n-1 as threads of this process; with
 * @wait, join them (a forked worker process).  0 or -errno.
 */
static int run_workers(struct chaos *c, uint32_t first, uint32_t n, struct worker **ws,
		       bool wait)
{
	for (uint32_t i = 0; i < n; i++) {
		ws[i] = worker_new(c, first + i);
		if (!ws[i])
			return -ENOMEM;
		if (pthread_create(&ws[i]->thread, NULL, worker_main, ws[i]))
			return -EAGAIN;
	}
	if (wait)
		for (uint32_t i = 0; i < n; i++)
			pthread_join(ws[i]->thread, NULL);
	return 0;
}

/* The signaller: SIGUSR1 to random workers, stop and continue processes. */
struct signaller {
	struct chaos *c;
	_Atomic pid_t *children;
	uint32_t nchildren;
	_Atomic int stop;
	pthread_t thread;
};

static void *signaller_main(void *arg)
{
	struct signaller *sg = arg;
	struct chaos *c = sg->c;
	uint64_t rng = 0x5167a11e7ULL;

	for (uint64_t i = 1; !atomic_load(&sg->stop); i++) {
		struct slot *s = &c->w[below(&rng, c->nworkers)];
		pid_t pid = atomic_load(&s->pid), tid = atomic_load(&s->tid);

		if (tid && !atomic_load(&s->killed) &&
		    !syscall(SYS_tgkill, pid, tid, SIGUSR1))
			atomic_fetch_add(&c->sig_sent, 1);
		if (sg->nchildren && i % 128 == 0) {
			pid = atomic_load(&sg->children[below(&rng, sg->nchildren)]);
			kill(pid, SIGSTOP);
			kt_sleep_us(500 + below(&rng, 2000));
			kill(pid, SIGCONT);
			atomic_fetch_add(&c->stops, 1);
		}
		kt_sleep_us(50 + below(&rng, 500));
	}
	return NULL;
}

FIXTURE(chaos) {
	struct chaos *c;
	size_t size, ledger_size;
};

FIXTURE_VARIANT(chaos) {
	uint32_t children;	/* forked worker processes */
	uint32_t per_child;	/* worker threads in each */
	uint32_t own;		/* worker threads in the test process */
	uint32_t kills;		/* children SIGKILLed (and replaced) mid-run */
};

/* Threads of one process, no SA_RESTART. */
FIXTURE_VARIANT_ADD(chaos, threads) {
	.children = 0, .per_child = 0, .own = 8,
};

/* Three processes of three threads (SA_RESTART in the middle one) and
 * two threads in the test process. */
FIXTURE_VARIANT_ADD(chaos, processes) {
	.children = 3, .per_child = 3, .own = 2,
};

/*
 * As processes, but twice a child is SIGKILLed in the middle of whatever
 * its threads do, and replaced.  A killed thread may take an element with
 * it (it had received it, or had been handed it while blocked) and leave
 * its own last send undecided; nothing may be duplicated or corrupted.
 */
FIXTURE_VARIANT_ADD(chaos, processes_killed) {
	.children = 3, .per_child = 3, .own = 2, .kills = 2,
};

FIXTURE_SETUP(chaos)
{
	uint32_t nw = variant->own + (variant->children + variant->kills) * variant->per_child;
	double secs = run_seconds();
	struct chaos *c;
	char *ledger;

	ASSERT_GE(WORKERS_MAX, nw);
	self->size = sizeof(*c);
	c = mmap(NULL, self->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, c);
	self->c = c;
	c->nworkers = nw;
	/* Generous: untouched pages of the mapping cost nothing. */
	c->max_seq = 65536 + (uint32_t)(secs * 40000);
	self->ledger_size = (size_t)3 * nw * c->max_seq;
	ledger = mmap(NULL, self->ledger_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, ledger);
	c->sent = (_Atomic uint8_t *)ledger;
	c->got = c->sent + (size_t)nw * c->max_seq;
	c->got_on = c->got + (size_t)nw * c->max_seq;
	for (int k = 0; k < CH_N; k++)
		c->ch[k] = KT_MAKE_CHAN(ch_size[k], ch_cap[k], 0);
	chaos_g = c;
	signal(SIGPIPE, SIG_IGN);
}

FIXTURE_TEARDOWN(chaos)
{
	for (int k = 0; k < CH_N; k++)
		close(self->c->ch[k]);
	munmap((void *)self->c->sent, self->ledger_size);
	munmap(self->c, self->size);
}

/*
 * Fork child @idx running workers @first..: SA_RESTART in odd children;
 * in a variant with kills no child closes channels (a kill could hide a
 * close that happened).  The pid, or -errno.
 */
static pid_t spawn_child(struct chaos *c, const FIXTURE_VARIANT(chaos) *v, uint32_t idx,
			 uint32_t first)
{
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		struct worker *ws[WORKERS_MAX];

		for (uint32_t i = 0; i < v->per_child; i++)
			c->w[first + i].no_close = v->kills > 0;
		if (chaos_handler(idx % 2 == 1) || run_workers(c, first, v->per_child, ws, true))
			_exit(1);
		_exit(0);
	}
	return pid;
}

/* waitpid() for at most FINISH_NS; SIGKILL and -ETIMEDOUT after that. */
static int reap(pid_t pid, int *status)
{
	int64_t end = kt_now_ns() + FINISH_NS;

	while (waitpid(pid, status, WNOHANG) != pid) {
		if (kt_now_ns() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			return -ETIMEDOUT;
		}
		kt_sleep_us(1000);
	}
	return 0;
}

/* SIGKILL the child @pid (workers @first..) and reap it. */
static int kill_child(struct chaos *c, const FIXTURE_VARIANT(chaos) *v, pid_t pid,
		      uint32_t first)
{
	int status, ret;

	for (uint32_t i = 0; i < v->per_child; i++)
		atomic_store(&c->w[first + i].killed, 1);
	kill(pid, SIGKILL);
	ret = reap(pid, &status);
	if (ret)
		return ret;
	/* What its receivers were on when they died may be lost there. */
	for (uint32_t i = 0; i < v->per_child; i++)
		c->lossy |= atomic_load(&c->w[first + i].recv_mask);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : -ECHILD;
}

static int join_within(pthread_t t, int64_t ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ns / KT_NSEC;
	return pthread_timedjoin_np(t, NULL, &ts);
}

/* Receive everything left on closed channel @k (non-blocking). */
static void drain(struct rx *r, int k)
{
	static unsigned char e[ELEM_MAX];
	long ret;

	while ((ret = kchan_try_recv(r->c->ch[k], e)) == 1)
		account(r, e, k);
	if (ret != 0)
		fail(r->s, "drain", ret);
}

/* What the ledgers say, over every producer's used sequence numbers. */
struct verdict {
	uint64_t ok, unsent, lost, lost_unexcused, dup, phantom, wrong_chan, undecided;
	uint64_t in_flight;
};

static void judge(struct chaos *c, struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	for (uint32_t p = 0; p < c->nworkers; p++) {
		uint32_t used = atomic_load(&c->w[p].next_seq);
		bool killed = atomic_load(&c->w[p].killed);

		for (uint32_t q = 0; q < c->max_seq; q++) {
			size_t i = (size_t)p * c->max_seq + q;
			uint8_t st = atomic_load(&c->sent[i]), n = atomic_load(&c->got[i]);

			if (q >= used) {
				v->phantom += n != 0 || st != 0;
			} else if (n > 1) {
				v->dup++;
			} else if (LG_STATE(st) == LG_OK) {
				v->ok++;
				v->lost += n == 0;
				v->lost_unexcused += n == 0 && !(c->lossy & 1U << LG_CHAN(st));
				v->wrong_chan += n && atomic_load(&c->got_on[i]) != LG_CHAN(st) + 1;
			} else if (LG_STATE(st) == LG_FAIL) {
				v->unsent++;
				v->phantom += n != 0;
			} else if (killed) {
				v->in_flight++;	/* killed during its send: 0 or 1 */
			} else {
				v->undecided++;
			}
		}
	}
}

TEST_F_TIMEOUT(chaos, random_ops_signals_closes_every_message_once_in_order, 3600)
{
	const uint32_t nw = self->c->nworkers, pc = variant->per_child;
	const double secs = run_seconds();
	struct chaos *c = self->c;
	struct worker *own[WORKERS_MAX] = { 0 };
	_Atomic pid_t children[WORKERS_MAX];
	struct signaller sg = { .c = c, .children = children,
				.nchildren = variant->children };
	struct slot drainer = { 0 };
	struct rx *drx = calloc(1, sizeof(*drx));
	uint64_t sent = 0, received = 0, ops = 0, selects = 0, polls = 0, eintr = 0;
	uint64_t etimedout = 0, eagain = 0, epipe = 0, capped = 0;
	/* Each killed thread may lose one batch it received and leave one undecided. */
	const uint64_t may_lose = (uint64_t)variant->kills * pc * BATCH_MAX;
	struct verdict v;
	uint32_t kills = 0;
	int64_t start, end;
	int status;

	ASSERT_NE(NULL, drx);
	ASSERT_EQ(0, chaos_handler(false));
	for (uint32_t p = 0; p < variant->children; p++) {
		children[p] = spawn_child(c, variant, p, variant->own + p * pc);
		ASSERT_LT(0, children[p]);
	}
	ASSERT_EQ(0, run_workers(c, 0, variant->own, own, false));
	for (uint32_t i = 0; i < variant->own + variant->children * pc; i++)
		while (!atomic_load(&c->w[i].tid))
			kt_sleep_us(1000);
	ASSERT_EQ(0, pthread_create(&sg.thread, NULL, signaller_main, &sg));

	start = kt_now_ns();
	end = start + (int64_t)(secs * KT_NSEC);
	for (int k = CH_FIRST_CLOSABLE; k < CH_N; k++)
		c->close_at[k] = start + (end - start) * (k - CH_FIRST_CLOSABLE + 1) /
				 (CH_N - CH_FIRST_CLOSABLE + 1);
	atomic_store(&c->go, 1);
	while (kt_now_ns() < end) {
		/* Kill child kills % children at 1/(kills+1), 2/(kills+1), ... */
		if (kills < variant->kills &&
		    kt_now_ns() >= start + (end - start) * (kills + 1) / (variant->kills + 1)) {
			uint32_t idx = kills % variant->children;
			uint32_t old = variant->own + idx * pc;
			uint32_t first = variant->own + (variant->children + kills) * pc;

			/* Its workers: the first ones, or a replacement's. */
			for (uint32_t k = 0; k < kills; k++)
				if (k % variant->children == idx)
					old = variant->own + (variant->children + k) * pc;
			ASSERT_EQ(0, kill_child(c, variant, children[idx], old));
			children[idx] = spawn_child(c, variant, idx, first);
			ASSERT_LT(0, children[idx]);
			kills++;
		}
		kt_sleep_us(10000);
	}

	/* Stop the signals (every stopped process continued), then the work. */
	atomic_store(&sg.stop, 1);
	ASSERT_EQ(0, join_within(sg.thread, FINISH_NS));
	atomic_store(&c->stop, 1);
	for (int k = 0; k < CH_N; k++) {
		int ret = kchan_close(c->ch[k]);

		if (ret == 0)
			atomic_fetch_add(&c->closes[k], 1);
		else
			EXPECT_EQ(-EPIPE, ret);
	}
	for (uint32_t i = 0; i < variant->own; i++)
		ASSERT_EQ(0, join_within(own[i]->thread, FINISH_NS));
	for (uint32_t p = 0; p < variant->children; p++) {
		ASSERT_EQ(0, reap(children[p], &status));
		EXPECT_EQ(0, status);
	}
	drx->c = c;
	drx->s = &drainer;
	for (int k = 0; k < CH_N; k++)
		drain(drx, k);
	EXPECT_EQ(0, drainer.err) TH_LOG("drain: %s", drainer.why);

	for (uint32_t i = 0; i < nw; i++) {
		struct slot *s = &c->w[i];

		EXPECT_EQ(0, s->err) TH_LOG("worker %u: %s", i, s->why);
		ops += s->ops;
		sent += s->sent;
		received += s->received;
		selects += s->selects;
		polls += s->polls;
		eintr += s->eintr;
		etimedout += s->etimedout;
		eagain += s->eagain;
		epipe += s->epipe;
		capped += s->seq_cap_hit;
	}
	received += drainer.received;
	judge(c, &v);

	ksft_print_msg("chaos %s: %.1f s, %u workers, %u processes killed: %llu operations "
		       "(%llu selects, %llu polls), %llu messages sent, %llu received (%llu in the "
		       "drain), %llu sequence numbers unsent, %llu in flight at a kill, "
		       "%llu lost to kills\n",
		       variant->kills ? "processes_killed" : variant->children ? "processes" :
		       "threads", (kt_now_ns() - start) / 1e9, nw, kills,
		       (unsigned long long)ops, (unsigned long long)selects,
		       (unsigned long long)polls, (unsigned long long)v.ok, (unsigned long long)received,
		       (unsigned long long)drainer.received, (unsigned long long)v.unsent,
		       (unsigned long long)v.in_flight,
		       (unsigned long long)(variant->kills ? v.lost : 0));
	ksft_print_msg("chaos: EINTR %llu, ETIMEDOUT %llu, EAGAIN %llu, EPIPE %llu; "
		       "SIGUSR1 %llu sent, %llu handled; %llu stop/continue; "
		       "ledger full %llu times; KCHAN_STRESS_SEED=%llu\n",
		       (unsigned long long)eintr, (unsigned long long)etimedout,
		       (unsigned long long)eagain, (unsigned long long)epipe,
		       (unsigned long long)atomic_load(&c->sig_sent),
		       (unsigned long long)atomic_load(&c->sig_handled),
		       (unsigned long long)atomic_load(&c->stops), (unsigned long long)capped,
		       (unsigned long long)env_u64("KCHAN_STRESS_SEED", 1));

	EXPECT_EQ(variant->kills, kills);
	EXPECT_GE(may_lose, v.lost);
	EXPECT_EQ(0, v.lost_unexcused) TH_LOG("lost on a channel no killed receiver was on");
	EXPECT_GE(may_lose, v.in_flight);
	EXPECT_EQ(0, v.dup);
	EXPECT_EQ(0, v.phantom);
	EXPECT_EQ(0, v.wrong_chan);
	EXPECT_EQ(0, v.undecided);
	EXPECT_EQ(0, atomic_load(&c->bad));
	EXPECT_EQ(0, atomic_load(&c->out_of_order));
	EXPECT_EQ(0, atomic_load(&c->dirty));
	if (!variant->kills)
		EXPECT_EQ(sent, received);
	for (int k = 0; k < CH_N; k++) {
		struct kchan_info info;

		EXPECT_EQ(1, atomic_load(&c->closes[k])) TH_LOG("channel %d", k);
		ASSERT_EQ(0, kt_info(c->ch[k], &info));
		EXPECT_EQ(0, info.len);
		EXPECT_EQ(0, info.sendq);
		EXPECT_EQ(0, info.recvq);
	}
	/* The run did what it is for. */
	EXPECT_LT(0, v.ok);
	EXPECT_LT(0, atomic_load(&c->sig_handled));
	EXPECT_LT(0, eintr);
	for (uint32_t i = 0; i < variant->own; i++) {
		if (own[i])
			free(own[i]->buf);
		free(own[i]);
	}
	free(drx);
}

TEST_HARNESS_MAIN
