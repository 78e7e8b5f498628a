// SPDX-License-Identifier: GPL-2.0
/*
 * prodcons - a producer and a consumer in two processes, one channel between
 * them: Go's "for v := range ch" across fork().
 *
 * The parent makes a buffered channel of uint64_t and forks.  The child
 * inherits the descriptor: it is the same channel.  The parent sends
 * 1..NR_ITEMS and then closes the channel (Go's close(ch)); the child
 * receives until kchan_recv() returns 0 ("closed and drained"), adds up
 * what it got and answers with the sum on a second channel.  Nothing is
 * lost: the elements still queued at the close are received first.
 *
 * Exits 0 when the child's sum is 1 + 2 + ... + NR_ITEMS.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chanuser.h>

#define NR_ITEMS	1000
#define CAPACITY	16	/* the producer runs at most 16 items ahead */

/* The consumer: drain @items, send the total on @sums. */
static int consume(int items, int sums)
{
	uint64_t v, sum = 0;
	int ret;

	while ((ret = kchan_recv(items, &v)) == 1)
		sum += v;
	if (ret < 0) {			/* 0 is the normal end: closed */
		fprintf(stderr, "consumer: kchan_recv: %s\n", strerror(-ret));
		return 1;
	}
	ret = kchan_send(sums, &sum);
	return ret < 0;
}

int main(void)
{
	uint64_t i, sum, want = (uint64_t)NR_ITEMS * (NR_ITEMS + 1) / 2;
	int items, sums, status, ret;
	pid_t pid;

	/* No KCHAN_CLOEXEC: fork() keeps descriptors either way, exec would not. */
	items = kchan_make(sizeof(uint64_t), CAPACITY, 0);
	sums = kchan_make(sizeof(uint64_t), 1, 0);
	if (items < 0 || sums < 0) {
		fprintf(stderr, "kchan_make: %s\n", strerror(-(items < 0 ? items : sums)));
		return 1;
	}

	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0)
		_exit(consume(items, sums));

	/* The producer: blocks whenever the consumer is CAPACITY behind. */
	for (i = 1; i <= NR_ITEMS; i++) {
		ret = kchan_send(items, &i);
		if (ret < 0) {
			fprintf(stderr, "producer: kchan_send: %s\n", strerror(-ret));
			return 1;
		}
	}
	kchan_close(items);		/* "no more": the consumer's loop ends */

	ret = kchan_recv(sums, &sum);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0 || ret != 1) {
		fprintf(stderr, "consumer failed\n");
		return 1;
	}
	printf("prodcons: %d items through a %d-element channel, sum %" PRIu64 " (want %" PRIu64 ")\n",
	       NR_ITEMS, CAPACITY, sum, want);
	close(items);
	close(sums);
	return sum == want ? 0 : 1;
}
