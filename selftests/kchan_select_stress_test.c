// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: many threads selecting over overlapping channel sets.
 *
 * Producer threads send tagged messages (producer, channel, sequence)
 * through kchan_select() over send cases on several channels; consumer
 * threads kchan_select() over receive cases on overlapping subsets until
 * every channel of theirs is closed and drained.  The channels mix
 * unbuffered and small buffered ones, so selects meet other selects,
 * plain sends and plain receives on both the ring and the rendezvous
 * paths.  Afterwards every message sent must have been received exactly
 * once, on the channel it was sent on, no message that was not sent may
 * appear, and each consumer must see each producer's messages on one
 * channel in the order they were sent.  Every blocking call has a
 * timeout, so a lost wake-up fails the test instead of hanging it.
 */
#include "kchan_test_util.h"
#include "kselftest_harness.h"

#define NR_CHANS	4
#define NR_SEL_PROD	4		/* producers that select */
#define NR_PROD		(NR_SEL_PROD + 1)	/* plus one plain sender */
#define NR_SEL_CONS	4		/* consumers that select */
#define NR_CONS		(NR_SEL_CONS + 1)	/* plus one plain receiver */
#define PER_PROD	5000
#define PLAIN_CHAN	2		/* the plain sender's channel */
#define PLAIN_RECV_CHAN	1		/* the plain receiver's channel */
#define OP_TIMEOUT	(10 * KT_NSEC)
/* Generous: a KASAN kernel under QEMU runs this several times slower. */
#define JOIN_TIMEOUT	(120 * KT_NSEC)

/* Capacities: two unbuffered, two small buffered. */
static const size_t chan_cap[NR_CHANS] = { 0, 1, 0, 3 };

struct msg {
	uint32_t prod;
	uint32_t chan;
	uint64_t seq;
};

struct world {
	int ch[NR_CHANS];
	/* sent_on[p][seq]: channel + 1 once the send succeeded, else 0. */
	_Atomic uint8_t sent_on[NR_PROD][PER_PROD];
	/* got[p][seq]: how often it was received. */
	_Atomic uint8_t got[NR_PROD][PER_PROD];
	/* got_on[p][seq]: channel + 1 it arrived on (last one). */
	_Atomic uint8_t got_on[NR_PROD][PER_PROD];
	atomic_long received;
	atomic_int producers_done;
};

struct prod {
	struct world *w;
	int id;
	int chans[NR_CHANS];	/* channel indices it sends on */
	int nr_chans;
	pthread_t thread;
	long sent;
	long epipe;
	int err;		/* first unexpected result, or 0 */
	char why[96];
};

struct cons {
	struct world *w;
	int id;
	int chans[NR_CHANS];
	int nr_chans;
	pthread_t thread;
	long received;
	int err;
	char why[96];
	/* Last sequence seen per producer and channel, + 1 (0: none). */
	uint64_t last[NR_PROD][NR_CHANS];
};

static bool chan_closed(int ch)
{
	struct kchan_info info;

	return kt_info(ch, &info) == 0 && (info.state & KCHAN_STATE_CLOSED);
}

/*
 * A selecting producer: for each sequence number, one select over a send
 * case per live channel of its set, each carrying the message tagged
 * with that case's channel.  EPIPE means a chosen channel is closed:
 * drop the closed channels and retry the same sequence number.
 */
static void *prod_main(void *arg)
{
	struct prod *p = arg;
	struct world *w = p->w;
	bool live[NR_CHANS];
	struct msg m[NR_CHANS];
	struct kchan_case c[NR_CHANS + 1];
	uint64_t seq = 0;

	for (int k = 0; k < p->nr_chans; k++)
		live[k] = true;

	while (seq < PER_PROD) {
		int n = 0, ret;
		int map[NR_CHANS + 1];

		for (int k = 0; k < p->nr_chans; k++) {
			if (!live[k])
				continue;
			m[k] = (struct msg){ .prod = p->id, .chan = p->chans[k], .seq = seq };
			c[n] = (struct kchan_case){ .ch = w->ch[p->chans[k]],
						    .op = KCHAN_CASE_SEND, .elem = &m[k] };
			map[n++] = k;
			/* A nil case in the middle, never chosen. */
			if (n == 1) {
				c[n] = (struct kchan_case){ .ch = -1, .op = KCHAN_CASE_SEND,
							    .elem = NULL };
				map[n++] = -1;
			}
		}
		if (n <= 1)
			break;		/* every channel closed */

		ret = kchan_select(c, n, OP_TIMEOUT);
		if (ret >= 0) {
			int k = map[ret];

			if (k < 0 || c[ret].closed) {
				p->err = EPROTO;
				snprintf(p->why, sizeof(p->why), "select chose case %d (nil=%d)",
					 ret, k < 0);
				break;
			}
			atomic_store(&w->sent_on[p->id][seq], (uint8_t)(p->chans[k] + 1));
			p->sent++;
			seq++;
			continue;
		}
		if (ret == -EPIPE) {
			bool any = false;

			p->epipe++;
			for (int k = 0; k < p->nr_chans; k++) {
				if (live[k] && chan_closed(w->ch[p->chans[k]])) {
					live[k] = false;
					any = true;
				}
			}
			if (!any) {
				p->err = EPROTO;
				snprintf(p->why, sizeof(p->why), "EPIPE but no channel closed");
				break;
			}
			continue;
		}
		p->err = -ret;
		snprintf(p->why, sizeof(p->why), "select at seq %llu: %s",
			 (unsigned long long)seq, strerror(-ret));
		break;
	}
	atomic_fetch_add(&w->producers_done, 1);
	return NULL;
}

/* The plain producer: kchan_send_timeout() on one channel. */
static void *plain_prod_main(void *arg)
{
	struct prod *p = arg;
	struct world *w = p->w;

	for (uint64_t seq = 0; seq < PER_PROD; seq++) {
		struct msg m = { .prod = p->id, .chan = p->chans[0], .seq = seq };
		int ret = kchan_send_timeout(w->ch[p->chans[0]], &m, OP_TIMEOUT);

		if (ret == -EPIPE) {
			p->epipe++;
			break;
		}
		if (ret) {
			p->err = -ret;
			snprintf(p->why, sizeof(p->why), "send at seq %llu: %s",
				 (unsigned long long)seq, strerror(-ret));
			break;
		}
		atomic_store(&w->sent_on[p->id][seq], (uint8_t)(p->chans[0] + 1));
		p->sent++;
	}
	atomic_fetch_add(&w->producers_done, 1);
	return NULL;
}

/* Account one received message; false (with c->why set) if it is wrong. */
static bool cons_account(struct cons *c, const struct msg *m, int chan)
{
	struct world *w = c->w;

	if (m->prod >= NR_PROD || m->seq >= PER_PROD || m->chan != (uint32_t)chan) {
		snprintf(c->why, sizeof(c->why), "bad message prod %u chan %u/%d seq %llu",
			 m->prod, m->chan, chan, (unsigned long long)m->seq);
		return false;
	}
	if (c->last[m->prod][chan] > m->seq) {
		snprintf(c->why, sizeof(c->why),
			 "order: prod %u chan %d seq %llu after %llu", m->prod, chan,
			 (unsigned long long)m->seq,
			 (unsigned long long)c->last[m->prod][chan] - 1);
		return false;
	}
	c->last[m->prod][chan] = m->seq + 1;
	atomic_fetch_add(&w->got[m->prod][m->seq], 1);
	atomic_store(&w->got_on[m->prod][m->seq], (uint8_t)(chan + 1));
	atomic_fetch_add(&w->received, 1);
	c->received++;
	return true;
}

/*
 * A selecting consumer: one select over a receive case per live channel
 * of its set; a channel that reports closed becomes a nil case (-1), as
 * in Go.  Done when every case is nil.
 */
static void *cons_main(void *arg)
{
	struct cons *c = arg;
	struct world *w = c->w;
	struct kchan_case cs[NR_CHANS];
	struct msg bufs[NR_CHANS];
	int live = c->nr_chans;

	for (int k = 0; k < c->nr_chans; k++)
		cs[k] = (struct kchan_case){ .ch = w->ch[c->chans[k]], .op = KCHAN_CASE_RECV,
					     .elem = &bufs[k] };
	while (live) {
		int ret;

		for (int k = 0; k < c->nr_chans; k++)
			bufs[k] = (struct msg){ .prod = ~0U };
		ret = kchan_select(cs, c->nr_chans, OP_TIMEOUT);
		if (ret < 0) {
			c->err = -ret;
			snprintf(c->why, sizeof(c->why), "select: %s", strerror(-ret));
			break;
		}
		if (cs[ret].ch < 0) {
			c->err = EPROTO;
			snprintf(c->why, sizeof(c->why), "nil case %d chosen", ret);
			break;
		}
		if (cs[ret].closed) {
			if (bufs[ret].prod != ~0U) {
				c->err = EPROTO;
				snprintf(c->why, sizeof(c->why), "closed case wrote its buffer");
				break;
			}
			cs[ret].ch = -1;
			live--;
			continue;
		}
		for (int k = 0; k < c->nr_chans; k++) {
			if (k != ret && bufs[k].prod != ~0U) {
				c->err = EPROTO;
				snprintf(c->why, sizeof(c->why), "case %d written, %d chosen", k,
					 ret);
				goto out;
			}
		}
		if (!cons_account(c, &bufs[ret], c->chans[ret])) {
			c->err = EPROTO;
			break;
		}
	}
out:
	return NULL;
}

/* The plain consumer: kchan_recv_timeout() on one channel until closed. */
static void *plain_cons_main(void *arg)
{
	struct cons *c = arg;
	struct world *w = c->w;

	for (;;) {
		struct msg m;
		int ret = kchan_recv_timeout(w->ch[c->chans[0]], &m, OP_TIMEOUT);

		if (ret == 0)
			break;
		if (ret < 0) {
			c->err = -ret;
			snprintf(c->why, sizeof(c->why), "recv: %s", strerror(-ret));
			break;
		}
		if (!cons_account(c, &m, c->chans[0])) {
			c->err = EPROTO;
			break;
		}
	}
	return NULL;
}

static int join_timed(pthread_t t, int64_t timeout_ns)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ns / KT_NSEC;
	return pthread_timedjoin_np(t, NULL, &ts);
}

FIXTURE(stress) {
	struct world *w;
	struct prod prod[NR_PROD];
	struct cons cons[NR_CONS];
};

FIXTURE_SETUP(stress)
{
	struct world *w = calloc(1, sizeof(*w));

	ASSERT_NE(NULL, w);
	self->w = w;
	for (int i = 0; i < NR_CHANS; i++)
		w->ch[i] = KT_MAKE_CHAN(sizeof(struct msg), chan_cap[i], 0);

	/* Selecting producer p sends on channels p, p+1, p+2. */
	for (int p = 0; p < NR_SEL_PROD; p++) {
		self->prod[p] = (struct prod){ .w = w, .id = p, .nr_chans = 3 };
		for (int k = 0; k < 3; k++)
			self->prod[p].chans[k] = (p + k) % NR_CHANS;
	}
	self->prod[NR_SEL_PROD] = (struct prod){
		.w = w, .id = NR_SEL_PROD, .nr_chans = 1, .chans = { PLAIN_CHAN },
	};
	/* Selecting consumer c receives from channels c, c+1, c+3. */
	for (int c = 0; c < NR_SEL_CONS; c++) {
		self->cons[c] = (struct cons){ .w = w, .id = c, .nr_chans = 3 };
		self->cons[c].chans[0] = c;
		self->cons[c].chans[1] = (c + 1) % NR_CHANS;
		self->cons[c].chans[2] = (c + 3) % NR_CHANS;
	}
	self->cons[NR_SEL_CONS] = (struct cons){
		.w = w, .id = NR_SEL_CONS, .nr_chans = 1, .chans = { PLAIN_RECV_CHAN },
	};
	signal(SIGPIPE, SIG_IGN);
}

FIXTURE_TEARDOWN(stress)
{
	for (int i = 0; i < NR_CHANS; i++)
		close(self->w->ch[i]);
	free(self->w);
}

static void start_all(struct __test_metadata *_metadata, FIXTURE_DATA(stress) *self)
{
	for (int c = 0; c < NR_CONS; c++) {
		ASSERT_EQ(0, pthread_create(&self->cons[c].thread, NULL,
					    c < NR_SEL_CONS ? cons_main : plain_cons_main,
					    &self->cons[c]));
	}
	for (int p = 0; p < NR_PROD; p++) {
		ASSERT_EQ(0, pthread_create(&self->prod[p].thread, NULL,
					    p < NR_SEL_PROD ? prod_main : plain_prod_main,
					    &self->prod[p]));
	}
}

/* Every sent message received exactly once, on its channel; nothing else. */
static void check_all(struct __test_metadata *_metadata, FIXTURE_DATA(stress) *self)
{
	struct world *w = self->w;
	long sent = 0, recvd = 0, lost = 0, dup = 0, phantom = 0, wrong_chan = 0;

	for (int p = 0; p < NR_PROD; p++) {
		EXPECT_EQ(0, self->prod[p].err) TH_LOG("producer %d: %s", p, self->prod[p].why);
		sent += self->prod[p].sent;
	}
	for (int c = 0; c < NR_CONS; c++) {
		EXPECT_EQ(0, self->cons[c].err) TH_LOG("consumer %d: %s", c, self->cons[c].why);
		recvd += self->cons[c].received;
	}
	for (int p = 0; p < NR_PROD; p++) {
		for (int s = 0; s < PER_PROD; s++) {
			uint8_t on = atomic_load(&w->sent_on[p][s]);
			uint8_t n = atomic_load(&w->got[p][s]);

			if (on && n == 0)
				lost++;
			else if (n > 1)
				dup++;
			else if (!on && n)
				phantom++;
			else if (on && atomic_load(&w->got_on[p][s]) != on)
				wrong_chan++;
		}
	}
	TH_LOG("sent %ld, received %ld", sent, recvd);
	EXPECT_EQ(0, lost);
	EXPECT_EQ(0, dup);
	EXPECT_EQ(0, phantom);
	EXPECT_EQ(0, wrong_chan);
	EXPECT_EQ(sent, recvd);
	for (int i = 0; i < NR_CHANS; i++) {
		struct kchan_info info;

		ASSERT_EQ(0, kt_info(w->ch[i], &info));
		EXPECT_EQ(0, info.len);
		EXPECT_EQ(0, info.sendq);
		EXPECT_EQ(0, info.recvq);
	}
}

TEST_F_TIMEOUT(stress, producers_finish_then_close_every_message_received_once, 300)
{
	struct world *w = self->w;

	start_all(_metadata, self);
	for (int p = 0; p < NR_PROD; p++) {
		ASSERT_EQ(0, join_timed(self->prod[p].thread, JOIN_TIMEOUT));
	}
	for (int i = 0; i < NR_CHANS; i++) {
		ASSERT_EQ(0, kchan_close(w->ch[i]));
	}
	for (int c = 0; c < NR_CONS; c++) {
		ASSERT_EQ(0, join_timed(self->cons[c].thread, JOIN_TIMEOUT));
	}
	for (int p = 0; p < NR_PROD; p++) {
		EXPECT_EQ(PER_PROD, self->prod[p].sent);
		EXPECT_EQ(0, self->prod[p].epipe);
	}
	check_all(_metadata, self);
	EXPECT_EQ((long)NR_PROD * PER_PROD, atomic_load(&w->received));
}

/* Wait until @n messages were received or every producer is done. */
static void wait_received(struct world *w, long n)
{
	int64_t end = kt_now_ns() + JOIN_TIMEOUT;

	while (atomic_load(&w->received) < n &&
	       atomic_load(&w->producers_done) < NR_PROD && kt_now_ns() < end)
		kt_sleep_us(200);
}

TEST_F_TIMEOUT(stress, channels_closed_while_producers_select_nothing_lost_or_duplicated, 300)
{
	const long total = (long)NR_PROD * PER_PROD;
	struct world *w = self->w;
	long epipe = 0;

	start_all(_metadata, self);
	/* Close three of the four channels while traffic flows. */
	wait_received(w, total / 4);
	ASSERT_EQ(0, kchan_close(w->ch[1]));
	wait_received(w, total / 2);
	ASSERT_EQ(0, kchan_close(w->ch[0]));
	wait_received(w, total * 3 / 5);
	ASSERT_EQ(0, kchan_close(w->ch[2]));

	for (int p = 0; p < NR_PROD; p++) {
		ASSERT_EQ(0, join_timed(self->prod[p].thread, JOIN_TIMEOUT));
		epipe += self->prod[p].epipe;
	}
	ASSERT_EQ(0, kchan_close(w->ch[3]));
	for (int c = 0; c < NR_CONS; c++) {
		ASSERT_EQ(0, join_timed(self->cons[c].thread, JOIN_TIMEOUT));
	}
	TH_LOG("EPIPE retries %ld", epipe);
	/* Producers 1..3 always keep channel 3 (or 2 and 3): they finish. */
	for (int p = 1; p < NR_SEL_PROD; p++)
		EXPECT_EQ(PER_PROD, self->prod[p].sent);
	check_all(_metadata, self);
}

TEST_HARNESS_MAIN
