// SPDX-License-Identifier: GPL-2.0
/*
 * select_timeout - wait on two channels at once, with a timeout: Go's
 *
 *	select {
 *	case v := <-fast:
 *	case v := <-slow:
 *	case <-time.After(timeout):
 *	}
 *
 * A task (kchan_go()) sends one value on "fast" after 10 ms and nothing on
 * "slow".  The first select, with a 2 s timeout, returns the fast case; the
 * second, with 50 ms, times out (-ETIMEDOUT); the third, with timeout 0, is
 * Go's "default:" case and fails at once with -EAGAIN.
 *
 * Exits 0 when all three behave so.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <chanuser.h>

#define MS	1000000LL	/* nanoseconds */

static int fast, slow;

/* The task: sleep a little, then send 42 on "fast". */
static void *sender(void *arg)
{
	struct timespec ts = { 0, 10 * MS };
	int v = 42;

	(void)arg;
	nanosleep(&ts, NULL);
	return (void *)(intptr_t)kchan_send(fast, &v);
}

/* One select over both channels; prints and returns what happened. */
static int select_both(int64_t timeout_ns)
{
	int from_fast = 0, from_slow = 0, ret;
	struct kchan_case cases[] = {
		{ .ch = fast, .op = KCHAN_CASE_RECV, .elem = &from_fast },
		{ .ch = slow, .op = KCHAN_CASE_RECV, .elem = &from_slow },
	};

	ret = kchan_select(cases, 2, timeout_ns);
	if (ret >= 0)
		printf("timeout %lld ms: case %d (%s), value %d\n",
		       (long long)(timeout_ns / MS), ret, ret ? "slow" : "fast",
		       ret ? from_slow : from_fast);
	else
		printf("timeout %lld ms: %s\n", (long long)(timeout_ns / MS),
		       strerror(-ret));
	return ret;
}

int main(void)
{
	struct kchan_task *task;
	void *sent;
	int ok;

	fast = kchan_make(sizeof(int), 0, KCHAN_CLOEXEC);	/* unbuffered */
	slow = kchan_make(sizeof(int), 0, KCHAN_CLOEXEC);
	if (fast < 0 || slow < 0 || kchan_go(&task, sender, NULL, NULL) < 0) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}

	ok = select_both(2000 * MS) == 0;	/* the sender comes in time */
	ok &= select_both(50 * MS) == -ETIMEDOUT;	/* nobody sends */
	ok &= select_both(0) == -EAGAIN;	/* "default:", no waiting */

	kchan_join(task, &sent);
	ok &= (intptr_t)sent == 0;
	printf("select_timeout: %s\n", ok ? "ok" : "FAILED");
	return ok ? 0 : 1;
}
