// SPDX-License-Identifier: GPL-2.0
/*
 * fanin_server - one server loop for many clients, each on a channel of its
 * own, with a selector: the cases are registered once, and each
 * kchan_selector_wait() receives one request from whichever client has
 * one, chosen at random among the ready ones, however many clients are
 * idle.
 *
 * NR_CLIENTS child processes (fork) each own a request channel and a reply
 * channel.  A client sends PER_CLIENT requests numbered 0, 1, ..., waits
 * for the reply to each, checks it, then closes its request channel
 * (kchan_close(), Go's close(ch)) and exits.  The server registers every
 * request channel in one selector, tagged with the client's number, and
 * answers on that client's reply channel.  A receive case that reports 0
 * is a client that closed its channel: the server removes the case
 * (kchan_selector_del()), and stops when no client is left.
 *
 * Exits 0 when every request arrived in order and was answered exactly
 * once, and every client got the right answers.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chanuser.h>

#define NR_CLIENTS	8
#define PER_CLIENT	200
#define WAIT_NS		(5 * 1000000000LL)	/* a stuck peer is an error */

struct request {
	uint32_t client;
	uint32_t seq;
};

struct reply {
	uint32_t seq;
	uint32_t answer;
};

static uint32_t answer_of(uint32_t client, uint32_t seq)
{
	return client * 1000000 + seq * seq;
}

/* A client: PER_CLIENT requests, one reply each, then close.  Exit status. */
static int run_client(uint32_t c, int req, int rep)
{
	struct request rq = { .client = c };
	struct reply rp;
	int ret;

	for (rq.seq = 0; rq.seq < PER_CLIENT; rq.seq++) {
		ret = kchan_send_timeout(req, &rq, WAIT_NS);
		if (ret == 0)
			ret = kchan_recv_timeout(rep, &rp, WAIT_NS);
		if (ret != 1) {
			fprintf(stderr, "client %u: request %u: %s\n", c, rq.seq,
				ret ? strerror(-ret) : "no reply channel");
			return 1;
		}
		if (rp.seq != rq.seq || rp.answer != answer_of(c, rq.seq)) {
			fprintf(stderr, "client %u: request %u: wrong reply %u/%u\n",
				c, rq.seq, rp.seq, rp.answer);
			return 1;
		}
	}
	kchan_close(req);		/* the server sees "closed" */
	return 0;
}

/* Check and answer one request from client @c: 0, or -1 on a discrepancy. */
static int serve(uint32_t c, const struct request *rq, int rep,
		 uint32_t *next, uint8_t answered[][PER_CLIENT])
{
	struct reply rp = { .seq = rq->seq, .answer = answer_of(c, rq->seq) };
	int ret;

	if (rq->client != c || rq->seq != next[c] || rq->seq >= PER_CLIENT) {
		fprintf(stderr, "client %u: got request %u/%u, want %u/%u\n",
			c, rq->client, rq->seq, c, next[c]);
		return -1;
	}
	next[c]++;
	answered[c][rq->seq]++;
	ret = kchan_send(rep, &rp);
	if (ret < 0)
		fprintf(stderr, "client %u: reply: %s\n", c, strerror(-ret));
	return ret < 0 ? -1 : 0;
}

int main(void)
{
	static uint8_t answered[NR_CLIENTS][PER_CLIENT];
	struct request in[NR_CLIENTS];	/* each case's receive buffer */
	uint32_t next[NR_CLIENTS] = { 0 }, c, seq, waits = 0;
	int req[NR_CLIENTS], rep[NR_CLIENTS], sel, left, ret, status, ok = 1;
	pid_t pid[NR_CLIENTS];
	uint64_t tag;

	for (c = 0; c < NR_CLIENTS; c++) {
		req[c] = kchan_make(sizeof(struct request), 4, KCHAN_CLOEXEC);
		rep[c] = kchan_make(sizeof(struct reply), 1, KCHAN_CLOEXEC);
		if (req[c] < 0 || rep[c] < 0) {
			fprintf(stderr, "kchan_make: %s\n",
				strerror(-(req[c] < 0 ? req[c] : rep[c])));
			return 1;
		}
	}
	for (c = 0; c < NR_CLIENTS; c++) {
		pid[c] = fork();
		if (pid[c] < 0) {
			perror("fork");
			return 1;
		}
		if (pid[c] == 0)
			_exit(run_client(c, req[c], rep[c]));
	}

	/* Every request channel in one selector, the tag naming the client. */
	sel = kchan_selector(KCHAN_CLOEXEC);
	if (sel < 0) {
		fprintf(stderr, "kchan_selector: %s\n", strerror(-sel));
		return 1;
	}
	for (c = 0; c < NR_CLIENTS; c++) {
		struct kchan_case rc = {
			.ch = req[c], .op = KCHAN_CASE_RECV, .elem = &in[c],
		};

		ret = kchan_selector_add(sel, &rc, c);
		if (ret < 0) {
			fprintf(stderr, "kchan_selector_add: %s\n", strerror(-ret));
			return 1;
		}
	}

	for (left = NR_CLIENTS; left > 0; waits++) {
		ret = kchan_selector_wait(sel, &tag, WAIT_NS);
		if (ret < 0) {
			fprintf(stderr, "kchan_selector_wait: %s\n", strerror(-ret));
			return 1;
		}
		c = tag;
		if (ret == 1) {
			if (serve(c, &in[c], rep[c], next, answered) < 0)
				return 1;
			continue;
		}
		/* 0: client c closed its channel, and it is drained. */
		ret = kchan_selector_del(sel, req[c], KCHAN_CASE_RECV);
		if (ret < 0) {
			fprintf(stderr, "kchan_selector_del: %s\n", strerror(-ret));
			return 1;
		}
		close(req[c]);
		close(rep[c]);
		left--;
	}
	close(sel);

	for (c = 0; c < NR_CLIENTS; c++) {
		if (waitpid(pid[c], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			fprintf(stderr, "client %u failed\n", c);
			ok = 0;
		}
		for (seq = 0; seq < PER_CLIENT; seq++) {
			if (answered[c][seq] != 1) {
				fprintf(stderr, "client %u: request %u answered %u times\n",
					c, seq, answered[c][seq]);
				ok = 0;
			}
		}
	}
	printf("fanin_server: %u clients, %u requests in %u waits: %s\n",
	       NR_CLIENTS, NR_CLIENTS * PER_CLIENT, waits,
	       ok ? "each answered once" : "FAILED");
	return ok ? 0 : 1;
}
