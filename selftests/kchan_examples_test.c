// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: the programs of examples/ run as a user would run them,
 * each in a child process with a 20 s limit, and must exit 0 having printed
 * what they print when they work.
 *
 * The examples are looked for beside this program (the QEMU runner copies
 * them into the guest's /tests with run.sh --file) and then in
 * ../examples/ (a run on the build machine); a missing one is skipped.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#define EXAMPLE_TIMEOUT_S	20
#define OUTPUT_MAX		16384

/* Where the example @name is, in @path; false if it is nowhere. */
static bool find_example(const char *name, char *path, size_t size)
{
	static const char * const dirs[] = { "", "/../examples" };
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	size_t i;

	if (n < 0)
		return false;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (snprintf(path, size, "%s%s/%s", self, dirs[i], name) >= (int)size)
			continue;
		if (access(path, X_OK) == 0)
			return true;
	}
	return false;
}

/*
 * Run @path with no arguments and stdin from /dev/null; its stdout and
 * stderr go to @out (NUL-terminated, the rest dropped) and to our stdout.
 * Returns the wait status, or -1.
 */
static int run_example(const char *path, char *out, size_t size)
{
	size_t len = 0;
	int pipefd[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		alarm(EXAMPLE_TIMEOUT_S);	/* SIGALRM survives exec */
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], out + len, size - 1 - len)) > 0 ||
	       (n < 0 && errno == EINTR)) {
		if (n > 0)
			len += n;
		if (len == size - 1)
			break;
	}
	out[len] = '\0';
	close(pipefd[0]);
	printf("%s", out);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return status;
}

FIXTURE(example) {
	char out[OUTPUT_MAX];
};

FIXTURE_SETUP(example)
{
	if (access("/dev/kchan", F_OK))
		SKIP(return, "no /dev/kchan (kchan.ko not loaded)");
}

FIXTURE_TEARDOWN(example)
{
}

FIXTURE_VARIANT(example) {
	const char *name;
	const char *expect;	/* a line it prints when it works */
};

FIXTURE_VARIANT_ADD(example, pingpong) {
	.name = "pingpong",
	.expect = "5 pings sent, 5 pongs received",
};

FIXTURE_VARIANT_ADD(example, prodcons) {
	.name = "prodcons",
	.expect = "sum 500500 (want 500500)",
};

FIXTURE_VARIANT_ADD(example, workers) {
	.name = "workers",
	.expect = "main: joined",
};

FIXTURE_VARIANT_ADD(example, select_timeout) {
	.name = "select_timeout",
	.expect = "select_timeout: ok",
};

FIXTURE_VARIANT_ADD(example, epoll_loop) {
	.name = "epoll_loop",
	.expect = "channel 2: 100 elements",
};

FIXTURE_VARIANT_ADD(example, fanin_server) {
	.name = "fanin_server",
	.expect = "8 clients, 1600 requests in 1608 waits: each answered once",
};

FIXTURE_VARIANT_ADD(example, hub) {
	.name = "hub",
	.expect = "hub: ok",
};

TEST_F_TIMEOUT(example, runs, 2 * EXAMPLE_TIMEOUT_S)
{
	char path[PATH_MAX];
	int status;

	if (!find_example(variant->name, path, sizeof(path)))
		SKIP(return, "%s not built (make examples)", variant->name);
	status = run_example(path, self->out, sizeof(self->out));
	ASSERT_NE(-1, status);
	ASSERT_TRUE(WIFEXITED(status)) {
		TH_LOG("%s killed by signal %d", variant->name, WTERMSIG(status));
	}
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_NE(NULL, strstr(self->out, variant->expect)) {
		TH_LOG("%s did not print \"%s\"", variant->name, variant->expect);
	}
}

TEST_HARNESS_MAIN
