// SPDX-License-Identifier: GPL-2.0
/*
 * epoll_loop - an event loop that serves several channels with epoll, next
 * to whatever else the loop watches (sockets, timers, ...).
 *
 * A channel descriptor is pollable like a pipe: EPOLLIN when a receive
 * would not block, EPOLLHUP once the channel is closed.  The loop makes
 * NR_CHANS channels and forks a child that sends PER_CHAN numbers on each,
 * then closes them.  The parent registers every channel with one epoll
 * instance and, on each event, drains the channel with kchan_try_recv()
 * (never blocking the loop) until -EAGAIN; a return of 0 says the channel
 * is closed and drained, and it leaves the interest list.  The loop ends
 * when no channel is left.
 *
 * Exits 0 when every element arrived, in order per channel.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chanuser.h>

#define NR_CHANS	3
#define PER_CHAN	100

/* The child: PER_CHAN numbers on each channel, round robin, then close all. */
static int produce(const int *ch)
{
	uint32_t i;
	int c;

	for (i = 0; i < PER_CHAN; i++)
		for (c = 0; c < NR_CHANS; c++)
			if (kchan_send(ch[c], &i) < 0)
				return 1;
	for (c = 0; c < NR_CHANS; c++)
		kchan_close(ch[c]);
	return 0;
}

/* Take everything @ch has now.  1: more may come; 0: closed; -1: error. */
static int drain(int ch, uint32_t *next)
{
	uint32_t v;
	int ret;

	while ((ret = kchan_try_recv(ch, &v)) == 1) {
		if (v != (*next)++) {
			fprintf(stderr, "fd %d: got %u, want %u\n", ch, v, *next - 1);
			return -1;
		}
	}
	if (ret == -EAGAIN)
		return 1;		/* empty for now: back to epoll_wait() */
	return ret == 0 ? 0 : -1;
}

int main(void)
{
	uint32_t next[NR_CHANS] = { 0 };
	struct epoll_event ev, events[NR_CHANS];
	int ch[NR_CHANS], ep, open_chans = NR_CHANS, status, c, i, n;
	pid_t pid;

	ep = epoll_create1(EPOLL_CLOEXEC);
	for (c = 0; c < NR_CHANS; c++) {
		ch[c] = kchan_make(sizeof(uint32_t), 8, 0);
		ev.events = EPOLLIN;	/* EPOLLHUP is always reported */
		ev.data.u32 = c;
		if (ch[c] < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ch[c], &ev) < 0) {
			fprintf(stderr, "setup of channel %d failed\n", c);
			return 1;
		}
	}

	pid = fork();
	if (pid == 0)
		_exit(produce(ch));

	while (open_chans > 0) {
		n = epoll_wait(ep, events, NR_CHANS, 5000);
		if (n <= 0) {
			fprintf(stderr, "epoll_wait: %s\n", n ? strerror(errno) : "timed out");
			return 1;
		}
		for (i = 0; i < n; i++) {
			c = events[i].data.u32;
			switch (drain(ch[c], &next[c])) {
			case 0:		/* closed and drained: stop watching */
				epoll_ctl(ep, EPOLL_CTL_DEL, ch[c], NULL);
				open_chans--;
				break;
			case -1:
				return 1;
			}
		}
	}

	waitpid(pid, &status, 0);
	for (c = 0; c < NR_CHANS; c++) {
		printf("epoll_loop: channel %d: %u elements\n", c, next[c]);
		if (next[c] != PER_CHAN)
			return 1;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
