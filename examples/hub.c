// SPDX-License-Identifier: GPL-2.0
/*
 * hub - one publisher, many subscriber processes, one broadcast channel:
 * each event is stored once and every subscriber reads it with a cursor
 * of its own, instead of the publisher copying it into a pipe per client.
 *
 * NR_SUBS child processes (fork) each get a subscriber descriptor, made
 * before they start so that none misses the first event; one of them is
 * slow (SLOW_NS per event).  The publisher sends NR_EVENTS numbered
 * events, one per PACE_NS at most, then closes the channel (kchan_close(), Go's close(ch)); each
 * subscriber receives until "closed" and reports on a results channel how
 * many events it received, how many it lost (kchan_lost()) and whether
 * they came in order.  Twice:
 *
 * - lossless (the default): the slow subscriber holds the publisher back
 *   - nobody loses anything, and the publishing takes as long as the slow
 *   one needs;
 * - lossy (KCHAN_LOSSY): the publisher never waits; the slow subscriber
 *   falls behind, its receive fails with -EOVERFLOW once per gap, and it
 *   goes on with the oldest event still held.  Loss is never silent:
 *   received + lost == sent, for every subscriber.
 *
 * Exits 0 and prints "hub: ok" when every subscriber's account is exact.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chanuser.h>

#define NR_SUBS		8
#define SLOW_SUB	0
#define NR_EVENTS	400
#define CAPACITY	16
#define SLOW_NS		2000000L	/* the slow subscriber: 2 ms per event */
#define PACE_NS		500000L		/* the publisher: an event per 0.5 ms */

struct event {
	uint64_t seq;
	char text[24];
};

struct report {
	uint32_t sub;
	uint32_t in_order;
	uint64_t received;
	uint64_t lost;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A subscriber: receive until closed, then report.  Exit status. */
static int run_subscriber(uint32_t id, int sub, int results)
{
	struct report rep = { .sub = id, .in_order = 1 };
	struct timespec pause = { 0, SLOW_NS };
	struct event ev;
	uint64_t next = 0;
	int ret;

	for (;;) {
		ret = kchan_recv(sub, &ev);
		if (ret == 0)
			break;			/* closed, and all received */
		if (ret == -EOVERFLOW)
			continue;		/* fell behind: counted in kchan_lost() */
		if (ret < 0) {
			fprintf(stderr, "subscriber %u: %s\n", id, strerror(-ret));
			return 1;
		}
		if (ev.seq < next)
			rep.in_order = 0;
		next = ev.seq + 1;
		rep.received++;
		if (id == SLOW_SUB)
			nanosleep(&pause, NULL);
	}
	rep.lost = kchan_lost(sub);
	return kchan_send(results, &rep) ? 1 : 0;
}

/* One round; 0 if every subscriber's account is exact. */
static int run_hub(unsigned int flags, const char *name)
{
	int hub, results, subs[NR_SUBS], bad = 0, status;
	pid_t pids[NR_SUBS];
	struct report rep;
	struct timespec pace = { 0, PACE_NS };
	struct event ev;
	double t0, dt;
	uint32_t i;

	hub = kchan_make_broadcast(sizeof(struct event), CAPACITY, flags);
	results = kchan_make(sizeof(struct report), NR_SUBS, 0);
	if (hub < 0 || results < 0) {
		fprintf(stderr, "%s: cannot make the channels\n", name);
		return 1;
	}
	for (i = 0; i < NR_SUBS; i++) {
		subs[i] = kchan_subscribe(hub, 0);
		if (subs[i] < 0) {
			fprintf(stderr, "%s: kchan_subscribe: %s\n", name, strerror(-subs[i]));
			return 1;
		}
		pids[i] = fork();
		if (pids[i] == 0) {
			close(hub);	/* a subscriber only receives */
			_exit(run_subscriber(i, subs[i], results));
		}
		close(subs[i]);	/* the child's now */
	}

	t0 = now_s();
	for (ev.seq = 0; ev.seq < NR_EVENTS; ev.seq++) {
		snprintf(ev.text, sizeof(ev.text), "event %llu", (unsigned long long)ev.seq);
		if (kchan_send(hub, &ev)) {
			fprintf(stderr, "%s: send failed\n", name);
			return 1;
		}
		nanosleep(&pace, NULL);
	}
	dt = now_s() - t0;
	kchan_close(hub);

	for (i = 0; i < NR_SUBS; i++) {
		if (kchan_recv_timeout(results, &rep, 20 * 1000000000LL) != 1) {
			fprintf(stderr, "%s: a subscriber did not report\n", name);
			return 1;
		}
		if (!rep.in_order || rep.received + rep.lost != NR_EVENTS ||
		    (!(flags & KCHAN_LOSSY) && rep.lost)) {
			fprintf(stderr, "%s: subscriber %u received %llu, lost %llu, %s\n",
				name, rep.sub, (unsigned long long)rep.received,
				(unsigned long long)rep.lost,
				rep.in_order ? "in order" : "OUT OF ORDER");
			bad++;
		}
		if (rep.sub == SLOW_SUB || rep.lost)
			printf("%s: subscriber %u%s received %llu, lost %llu\n", name,
			       rep.sub, rep.sub == SLOW_SUB ? " (slow)" : "",
			       (unsigned long long)rep.received,
			       (unsigned long long)rep.lost);
	}
	for (i = 0; i < NR_SUBS; i++)
		if (waitpid(pids[i], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			bad++;
	printf("%s: %d events to %d subscribers, published in %.3f s, %s\n", name,
	       NR_EVENTS, NR_SUBS, dt, bad ? "FAILED" : "every account exact");
	close(results);
	close(hub);
	return bad != 0;
}

int main(void)
{
	int bad = run_hub(0, "lossless");

	bad |= run_hub(KCHAN_LOSSY, "lossy");
	if (!bad)
		printf("hub: ok\n");
	return bad;
}
