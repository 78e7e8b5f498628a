// SPDX-License-Identifier: GPL-2.0
/*
 * select - waiting on K sources of 64-byte messages where one becomes
 * ready: kchan_select() over K channels against epoll_wait() plus read()
 * over K pipes (level-triggered, as an event loop uses it), K = 1, 8, 64;
 * and, as the baseline, a plain kchan_recv() and a plain pipe read().
 *
 *   selectK_ready  one process; 256 messages are queued on source j (j
 *                  turns round the K sources), then the clock runs over
 *                  256 select-and-receive calls.  Cost per call.
 *   recv_ready     the same with a plain receive from the one source.
 *   selectK_wake   two processes: one waits in the select, the other sends
 *                  one message to source j and waits for an acknowledgement
 *                  (a kchan_send, or a pipe write, back).  Round trip p50;
 *                  pingpong's 64-byte round trip is its K = 1 baseline
 *                  without a select.
 *   selectK_fanin  fan-in, what select is mostly used for: a producer
 *                  process sends message i to source i % K (one blocking
 *                  send or pipe write per message, sources of capacity
 *                  64), a consumer process takes them with the select, the
 *                  persistent selector (kchan_selector_wait, the K
 *                  channels registered once) or epoll_wait plus read, as
 *                  fast as it can; K = 1, 8, 64, and 1024 for the selector
 *                  and epoll (a select takes at most 128 cases).  Consumer
 *                  time per message from the release to the last message,
 *                  and context switches per thousand messages; recv_fanin
 *                  is the K = 1 baseline with a plain receive.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <chanuser.h>
#include <linux/kchan.h>

#include "common.h"
#include "xport.h"

#define MSG		64
#define BLOCK		256	/* messages queued per source per turn */
#define FANIN_CAP	64	/* capacity of each fan-in source */
#define KMAX		1024

struct multi {
	const struct multi_ops *ops;
	int k;
	struct xport src[KMAX];
	struct xport ack;
	int epfd;
	int sel;
	struct kchan_case cases[KMAX];
	struct epoll_event ev[KMAX];
	unsigned char buf[KMAX][MSG];
};

struct multi_ops {
	const char *name;	/* impl in the result lines */
	const char *family;	/* case prefix of kchan's forms; NULL: the peer */
	int kmax;		/* most sources it can wait on */
	const char *xport;	/* transport of the sources and the ack */
	bool plain;		/* one source, a plain receive: the baseline */
	void (*setup)(struct multi *m);
	/* Block until a source is ready, receive one message; its index. */
	int (*take)(struct multi *m);
};

static int plain_take(struct multi *m)
{
	m->src[0].ops->recv(&m->src[0], m->buf[0]);
	return 0;
}

static void kchan_setup(struct multi *m)
{
	int i;

	for (i = 0; i < m->k; i++) {
		m->cases[i].ch = m->src[i].fd[0];
		m->cases[i].op = KCHAN_CASE_RECV;
		m->cases[i].elem = m->buf[i];
	}
}

static int kchan_take(struct multi *m)
{
	int i = kchan_select(m->cases, (size_t)m->k, -1);

	if (i < 0) {
		errno = -i;
		die("kchan_select");
	}
	return i;
}

static void selector_setup(struct multi *m)
{
	int i;

	kchan_setup(m);
	m->sel = kchan_selector(KCHAN_CLOEXEC);
	CHECK(m->sel >= 0);
	for (i = 0; i < m->k; i++)
		CHECK(!kchan_selector_add(m->sel, &m->cases[i], (uint64_t)i));
}

static int selector_take(struct multi *m)
{
	uint64_t tag;
	int ret = kchan_selector_wait(m->sel, &tag, -1);

	if (ret != 1) {
		errno = ret < 0 ? -ret : EPIPE;
		die("kchan_selector_wait");
	}
	return (int)tag;
}

static void epoll_setup(struct multi *m)
{
	int i;

	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	CHECK(m->epfd >= 0);
	for (i = 0; i < m->k; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

		CHECK(!epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->src[i].fd[0], &ev));
	}
}

static int epoll_take(struct multi *m)
{
	int n, i;

	while ((n = epoll_wait(m->epfd, m->ev, m->k, -1)) < 0)
		if (errno != EINTR)
			die("epoll_wait");
	CHECK(n >= 1);
	i = (int)m->ev[0].data.u32;
	m->src[i].ops->recv(&m->src[i], m->buf[i]);
	return i;
}

static const struct multi_ops multis[] = {
	{ "kchan", "select",   KCHAN_SELECT_MAX_CASES, "kchan", false,
	  kchan_setup, kchan_take },
	{ "kchan", "selector", KMAX, "kchan", false,
	  selector_setup, selector_take },
	{ "epoll", NULL,       KMAX, "pipe",  false, epoll_setup, epoll_take },
	{ "kchan", "recv",     1,    "kchan", true,  NULL, plain_take },
	{ "pipe",  NULL,       1,    "pipe",  true,  NULL, plain_take },
};

#define NMULTIS	(sizeof(multis) / sizeof(multis[0]))

static struct multi *multi_open(const struct multi_ops *ops, int k, size_t cap)
{
	const struct xport_ops *xo = xport_find(ops->xport);
	struct multi *m = calloc(1, sizeof(*m));
	int i;

	CHECK(m);
	m->ops = ops;
	m->k = k;
	m->epfd = -1;
	m->sel = -1;
	for (i = 0; i < k; i++)
		xport_open(&m->src[i], xo, MSG, cap);
	xport_open(&m->ack, xo, MSG, 1);
	if (ops->setup)
		ops->setup(m);
	return m;
}

static void multi_close(struct multi *m)
{
	int i;

	for (i = 0; i < m->k; i++)
		xport_close(&m->src[i]);
	xport_close(&m->ack);
	if (m->epfd >= 0)
		close(m->epfd);
	if (m->sel >= 0)
		close(m->sel);
	free(m);
}

/* ns per take() with one source ready, 256 messages queued on it. */
static double run_ready(const struct multi_ops *ops, int k, size_t blocks)
{
	struct multi *m = multi_open(ops, k, BLOCK);
	static unsigned char msgs[BLOCK][MSG];
	uint64_t total = 0, t0;
	size_t b, i;

	for (b = 0; b < blocks + 1; b++) {
		int j = (int)(b % (size_t)k);

		xport_send_n(&m->src[j], msgs, BLOCK, BLOCK);
		t0 = now_ns();
		for (i = 0; i < BLOCK; i++)
			if (ops->take(m) != j)
				die("%s: took from the wrong source", ops->name);
		if (b)		/* the first block warms up */
			total += now_ns() - t0;
	}
	multi_close(m);
	return (double)total / (double)(blocks * BLOCK);
}

struct wake_run {
	struct multi *m;
	size_t warm, n;
	uint64_t *rtt;
};

static void waiter(void *arg)
{
	struct wake_run *w = arg;
	size_t i;

	for (i = 0; i < w->warm + w->n; i++) {
		int j = w->m->ops->take(w->m);

		w->m->ack.ops->send(&w->m->ack, w->m->buf[j]);
	}
}

static void waker(void *arg)
{
	struct wake_run *w = arg;
	struct multi *m = w->m;
	unsigned char buf[MSG] = { 0 };
	uint64_t t0;
	size_t i;

	for (i = 0; i < w->warm + w->n; i++) {
		struct xport *src = &m->src[i % (size_t)m->k];

		t0 = now_ns();
		src->ops->send(src, buf);
		m->ack.ops->recv(&m->ack, buf);
		if (i >= w->warm)
			w->rtt[i - w->warm] = now_ns() - t0;
	}
}

/* Round trip p50 in ns through a select over @k sources. */
static double run_wake(const struct multi_ops *ops, int k, size_t n)
{
	struct wake_run w = { .n = n, .warm = n / 10 };
	pid_t a, b;
	double v;

	w.m = multi_open(ops, k, 1);
	w.rtt = shm_alloc(n * sizeof(*w.rtt));
	b = spawn(1, waiter, &w);
	a = spawn(0, waker, &w);
	reap(a);
	reap(b);
	multi_close(w.m);
	v = (double)percentile(w.rtt, n, 50);
	shm_free(w.rtt, n * sizeof(*w.rtt));
	return v;
}

struct fanin_run {
	struct multi *m;
	struct sync *sync;
	size_t warm, n;
};

static void fanin_producer(void *arg)
{
	struct fanin_run *r = arg;
	unsigned char buf[MSG] = { 0 };
	size_t k = (size_t)r->m->k, i;

	for (i = 0; i < r->warm + r->n; i++) {
		struct xport *src = &r->m->src[i % k];

		if (i == r->warm)
			sync_arrive_wait(r->sync, 1);
		src->ops->send(src, buf);
	}
	sync_done(r->sync, false);
}

static void fanin_consumer(void *arg)
{
	struct fanin_run *r = arg;
	size_t i;

	for (i = 0; i < r->warm + r->n; i++) {
		if (i == r->warm)
			sync_arrive_wait(r->sync, 1);
		r->m->ops->take(r->m);
	}
	sync_done(r->sync, true);
}

/* Fan-in over @k sources: consumer ns per message and switches per kmsg. */
static void run_fanin(const struct multi_ops *ops, int k, size_t n,
		      double *cost, double *switches)
{
	struct fanin_run r = { .n = n, .warm = n / 10 };
	pid_t cons, prod;
	uint64_t t0;

	r.sync = shm_alloc(sizeof(*r.sync));
	r.m = multi_open(ops, k, FANIN_CAP);
	cons = spawn(1, fanin_consumer, &r);
	prod = spawn(0, fanin_producer, &r);
	sync_wait_arrivals(r.sync, 2);
	t0 = now_ns();
	sync_release(r.sync, 1);
	reap(prod);
	reap(cons);
	multi_close(r.m);
	*cost = (double)(r.sync->t_end - t0) / (double)n;
	*switches = (double)r.sync->switches * 1000 / (double)n;
	shm_free(r.sync, sizeof(*r.sync));
}

/* One measurement of a case: what it reports, for one implementation. */
enum kind { READY, FANIN, WAKE };

struct result {
	double v[2];	/* ns/msg (READY, FANIN) or rtt p50 ns (WAKE); switches */
};

static struct result measure(enum kind kind, const struct multi_ops *ops,
			     int k, size_t blocks, size_t n, size_t fanin)
{
	struct result r = { { 0, 0 } };

	if (kind == READY)
		r.v[0] = run_ready(ops, k, blocks);
	else if (kind == FANIN)
		run_fanin(ops, k, fanin, &r.v[0], &r.v[1]);
	else
		r.v[0] = run_wake(ops, k, n);
	return r;
}

static void report(int round, const char *bcase, enum kind kind,
		   const char *impl, const struct result *r)
{
	if (kind == WAKE) {
		bench_result(round, bcase, MSG, impl, "rtt_p50", r->v[0], "ns",
			     LOWER);
		return;
	}
	bench_result(round, bcase, MSG, impl, "cost", r->v[0], "ns/msg", LOWER);
	if (kind == FANIN)
		bench_result(round, bcase, MSG, impl, "switches", r->v[1],
			     "per kmsg", LOWER);
}

/*
 * Every kchan form that can wait on @k sources, each in a row of its own
 * ("select8_fanin", "selector8_fanin") beside the peer measured once.
 */
static void run_kind(int round, enum kind kind, int k, bool plain,
		     size_t blocks, size_t n, size_t fanin)
{
	static const char *const suffix[] = { "ready", "fanin", "wake" };
	struct result peer = { { 0, 0 } };
	const char *peer_name = NULL;
	char bcase[48];
	size_t i;

	for (i = 0; i < NMULTIS; i++) {
		if (multis[i].plain == plain && !multis[i].family &&
		    k <= multis[i].kmax) {
			peer = measure(kind, &multis[i], k, blocks, n, fanin);
			peer_name = multis[i].name;
		}
	}
	for (i = 0; i < NMULTIS; i++) {
		const struct multi_ops *ops = &multis[i];
		struct result r;

		if (ops->plain != plain || !ops->family || k > ops->kmax)
			continue;
		if (plain)
			snprintf(bcase, sizeof(bcase), "%s_%s", ops->family,
				 suffix[kind]);
		else
			snprintf(bcase, sizeof(bcase), "%s%d_%s", ops->family,
				 k, suffix[kind]);
		r = measure(kind, ops, k, blocks, n, fanin);
		report(round, bcase, kind, ops->name, &r);
		if (peer_name)
			report(round, bcase, kind, peer_name, &peer);
	}
}

int main(int argc, char **argv)
{
	static const int ks[] = { 1, 8, 64 };
	static const int fanin_ks[] = { 1, 8, 64, 1024 };
	size_t blocks, n, fanin, j;
	int round;

	bench_init(argc, argv);
	blocks = bench_count(10, 2);
	n = bench_count(2000, 100);
	fanin = bench_count(20000, 1000);
	for (round = 1; round <= bench.rounds; round++) {
		run_kind(round, READY, 1, true, blocks, n, fanin);
		for (j = 0; j < sizeof(ks) / sizeof(ks[0]); j++)
			run_kind(round, READY, ks[j], false, blocks, n, fanin);
		run_kind(round, FANIN, 1, true, blocks, n, fanin);
		for (j = 0; j < sizeof(fanin_ks) / sizeof(fanin_ks[0]); j++)
			run_kind(round, FANIN, fanin_ks[j], false, blocks, n,
				 fanin);
		for (j = 0; j < sizeof(ks) / sizeof(ks[0]); j++)
			run_kind(round, WAKE, ks[j], false, blocks, n, fanin);
	}
	return 0;
}
