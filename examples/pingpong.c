// SPDX-License-Identifier: GPL-2.0
/*
 * pingpong - two processes talk over a pair of kchan channels.
 *
 * The parent makes two channels, "ping" (parent to child) and "pong" (child
 * to parent), then forks: the child inherits both descriptors.  The parent
 * sends ROUNDS numbered pings and waits for each pong; then it closes the
 * ping channel (Go's close(ch)).  The child answers every ping, sees the
 * channel closed and drained, and exits.
 *
 * "make demo" builds it static against libchanuser.a and runs it in QEMU.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chanuser.h>

#define ROUNDS 5

/* One element of either channel: 64 bytes, a sequence number and text. */
struct msg {
	unsigned int seq;
	char text[60];
};

static_assert(sizeof(struct msg) == 64, "struct msg is one 64-byte element");

static const char * const words[ROUNDS] = {
	"hello", "how are you", "fine weather", "see you", "goodbye",
};

static void fail(const char *who, const char *what, int err)
{
	fprintf(stderr, "%s[%d]: %s: %s\n", who, getpid(), what, strerror(-err));
	exit(1);
}

static int run_child(int ping, int pong)
{
	struct msg m, reply;
	unsigned int pings = 0;
	int ret;

	for (;;) {
		ret = kchan_recv(ping, &m);
		if (ret < 0)
			fail("child", "kchan_recv(ping)", ret);
		if (ret == 0)
			break;		/* closed and drained */
		pings++;
		printf("child[%d]: got ping #%u \"%s\", replying\n",
		       getpid(), m.seq, m.text);

		memset(&reply, 0, sizeof(reply));
		reply.seq = m.seq;
		snprintf(reply.text, sizeof(reply.text), "pong to \"%.40s\"", m.text);
		ret = kchan_send(pong, &reply);
		if (ret < 0)
			fail("child", "kchan_send(pong)", ret);
	}
	printf("child[%d]: ping channel closed after %u pings, exiting\n",
	       getpid(), pings);
	return 0;
}

static int run_parent(int ping, int pong, pid_t pid)
{
	struct msg m;
	unsigned int pongs = 0;
	int status, ret, i;

	for (i = 0; i < ROUNDS; i++) {
		memset(&m, 0, sizeof(m));
		m.seq = i + 1;
		snprintf(m.text, sizeof(m.text), "%s", words[i]);
		/* Say it first: the child may answer before send returns. */
		printf("parent[%d]: sending ping #%u \"%s\"\n",
		       getpid(), m.seq, m.text);
		ret = kchan_send(ping, &m);
		if (ret < 0)
			fail("parent", "kchan_send(ping)", ret);

		ret = kchan_recv(pong, &m);
		if (ret < 0)
			fail("parent", "kchan_recv(pong)", ret);
		if (ret == 0) {
			fprintf(stderr, "parent[%d]: pong channel closed early\n",
				getpid());
			return 1;
		}
		pongs++;
		printf("parent[%d]: got pong #%u: %s\n", getpid(), m.seq, m.text);
	}

	printf("parent[%d]: closing the ping channel\n", getpid());
	ret = kchan_close(ping);
	if (ret < 0)
		fail("parent", "kchan_close(ping)", ret);

	if (waitpid(pid, &status, 0) < 0) {
		perror("waitpid");
		return 1;
	}
	printf("parent[%d]: child %d exited with status %d; %u pings sent, %u pongs received\n",
	       getpid(), pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	       ROUNDS, pongs);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	       pongs == ROUNDS ? 0 : 1;
}

int main(void)
{
	int ping, pong, ret;
	pid_t pid;

	/* Whole lines, so that the two processes' output interleaves cleanly. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	ping = kchan_make(sizeof(struct msg), 1, 0);
	if (ping < 0)
		fail("parent", "kchan_make(ping)", ping);
	pong = kchan_make(sizeof(struct msg), 1, 0);
	if (pong < 0)
		fail("parent", "kchan_make(pong)", pong);
	printf("parent[%d]: made channels ping (fd %d) and pong (fd %d), %zu-byte elements\n",
	       getpid(), ping, pong, sizeof(struct msg));

	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		ret = run_child(ping, pong);
		close(ping);
		close(pong);
		return ret;
	}

	ret = run_parent(ping, pong, pid);
	close(ping);
	close(pong);
	return ret;
}
