// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: signals and blocked operations.
 *
 * A handler without SA_RESTART makes a blocked call fail with EINTR; with
 * SA_RESTART an untimed call restarts transparently and a timed call
 * fails with EINTR.  Either way nothing is half done: an interrupted
 * receiver consumed nothing and leaves no stale waiter behind, an
 * interrupted sender queued nothing.  Fatal signals end a blocked task,
 * exit() ends a process whose threads are blocked, and SIGSTOP/SIGCONT
 * resume a blocked call.  Every send-side, receive-side, read/write and
 * batch form is a variant.
 */
#include "kchan_test_util.h"
#include "kselftest_harness.h"

/* Every channel here holds one uint64_t; send-side tests fill it first with FULL_VALUE. */
#define FULL_VALUE	1ULL
#define SENT_VALUE	2ULL	/* what a blocked sender sends (then SENT_VALUE + 1) */
#define LATE_VALUE	7ULL	/* what the test sends to a blocked receiver */

struct op_variant {
	enum kt_op op;
	bool sends;		/* blocks because the channel is full */
	bool timed;		/* has a timeout: never restarted */
	long done;		/* its return value once it completed */
};

/* Set @w up to block for @v on @ch. */
static void prepare_worker(struct kt_worker *w, int ch, const struct op_variant *v)
{
	uint64_t elems[2] = { SENT_VALUE, SENT_VALUE + 1 };

	kt_worker_init(w, ch, v->op);
	if (v->sends)
		memcpy(w->elem, elems, sizeof(elems));
	else
		memset(w->elem, 0xa5, sizeof(w->elem));
	switch (v->op) {
	case KT_READ:
	case KT_WRITE:
		w->n = 2 * sizeof(uint64_t);
		break;
	case KT_SEND_MANY:
	case KT_RECV_MANY:
		w->n = 2;
		break;
	default:
		break;
	}
	if (v->timed)
		w->timeout_ns = 60 * KT_NSEC;
}

/* Wait until @v's task is blocked on @ch (or until none is). */
static int wait_blocked(int ch, const struct op_variant *v, bool blocked)
{
	if (!blocked)
		return kt_wait_queues(ch, 0, 0);
	return v->sends ? kt_wait_queues(ch, 1, 0) : kt_wait_queues(ch, 0, 1);
}

/*
 * Let a blocked call of @v complete: free a slot (and take FULL_VALUE) or
 * send LATE_VALUE.  Returns 0 or -errno.
 */
static int unblock(int ch, const struct op_variant *v)
{
	uint64_t got = 0;
	int ret;

	if (!v->sends)
		return kt_send_u64(ch, LATE_VALUE);
	ret = kchan_recv(ch, &got);
	if (ret != 1)
		return ret < 0 ? ret : -EPROTO;
	return got == FULL_VALUE ? 0 : -EPROTO;
}

/* After an interrupted or killed call: nothing of it is visible. */
#define ASSERT_NOTHING_TRANSFERRED(ch, v, w) do {				\
	const struct kt_worker *__w = (w);					\
	uint64_t __got = 0;							\
	ASSERT_EQ(0, wait_blocked(ch, v, false));				\
	if ((v)->sends) {							\
		/* Only the element that was there before. */			\
		ASSERT_EQ(1, kchan_len(ch));					\
		ASSERT_EQ(1, kchan_try_recv(ch, &__got));			\
		ASSERT_EQ(FULL_VALUE, __got);					\
		ASSERT_EQ(-EAGAIN, kchan_try_recv(ch, &__got));			\
	} else {								\
		/* The receive buffer is untouched and no stale waiter	\
		 * steals the next element. */					\
		if (__w) {							\
			ASSERT_EQ(KT_SENTINEL_U64, kt_worker_u64(__w));		\
		}								\
		ASSERT_EQ(0, kt_send_u64(ch, LATE_VALUE));			\
		ASSERT_EQ(1, kchan_len(ch));					\
		ASSERT_EQ(1, kchan_try_recv(ch, &__got));			\
		ASSERT_EQ(LATE_VALUE, __got);					\
	}									\
} while (0)


FIXTURE(sig) {
	int ch;
};

FIXTURE_VARIANT(sig) {
	struct op_variant v;
};

FIXTURE_VARIANT_ADD(sig, recv) {
	.v = { .op = KT_RECV, .done = 1 },
};
FIXTURE_VARIANT_ADD(sig, send) {
	.v = { .op = KT_SEND, .sends = true, .done = 0 },
};
FIXTURE_VARIANT_ADD(sig, read) {
	.v = { .op = KT_READ, .done = sizeof(uint64_t) },
};
FIXTURE_VARIANT_ADD(sig, write) {
	.v = { .op = KT_WRITE, .sends = true, .done = sizeof(uint64_t) },
};
FIXTURE_VARIANT_ADD(sig, recv_many) {
	.v = { .op = KT_RECV_MANY, .done = 1 },
};
FIXTURE_VARIANT_ADD(sig, send_many) {
	.v = { .op = KT_SEND_MANY, .sends = true, .done = 1 },
};
FIXTURE_VARIANT_ADD(sig, recv_timeout) {
	.v = { .op = KT_RECV_TIMEOUT, .timed = true, .done = 1 },
};
FIXTURE_VARIANT_ADD(sig, send_timeout) {
	.v = { .op = KT_SEND_TIMEOUT, .sends = true, .timed = true, .done = 0 },
};

FIXTURE_SETUP(sig)
{
	self->ch = KT_MAKE_CHAN(sizeof(uint64_t), 1, 0);
	if (variant->v.sends) {
		ASSERT_EQ(0, kt_send_u64(self->ch, FULL_VALUE));
	}
	signal(SIGPIPE, SIG_IGN);
}

FIXTURE_TEARDOWN(sig)
{
	close(self->ch);
}

TEST_F(sig, handler_without_sa_restart_eintr_nothing_transferred)
{
	const struct op_variant *v = &variant->v;
	struct kt_worker w;

	ASSERT_EQ(0, kt_install_sigusr1(0));
	prepare_worker(&w, self->ch, v);
	ASSERT_EQ(0, kt_worker_start(&w));
	ASSERT_EQ(0, wait_blocked(self->ch, v, true));

	ASSERT_EQ(0, pthread_kill(w.thread, SIGUSR1));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(1, atomic_load(&kt_sig_handled));
	EXPECT_EQ(-EINTR, w.ret);
	ASSERT_NOTHING_TRANSFERRED(self->ch, v, &w);
}

TEST_F(sig, handler_with_sa_restart_restarts_untimed_call_and_fails_timed_call)
{
	const struct op_variant *v = &variant->v;
	struct kt_worker w;

	ASSERT_EQ(0, kt_install_sigusr1(SA_RESTART));
	prepare_worker(&w, self->ch, v);
	ASSERT_EQ(0, kt_worker_start(&w));
	ASSERT_EQ(0, wait_blocked(self->ch, v, true));

	ASSERT_EQ(0, pthread_kill(w.thread, SIGUSR1));
	ASSERT_EQ(0, kt_wait_sig_handled(1));
	if (v->timed) {
		ASSERT_EQ(0, kt_worker_join(&w));
		EXPECT_EQ(-EINTR, w.ret);
		ASSERT_NOTHING_TRANSFERRED(self->ch, v, &w);
		return;
	}

	/* Blocked again, in the restarted call. */
	ASSERT_EQ(0, wait_blocked(self->ch, v, true));
	EXPECT_FALSE(atomic_load(&w.done));
	ASSERT_EQ(0, unblock(self->ch, v));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(v->done, w.ret);
	if (v->sends) {
		uint64_t got = 0;

		ASSERT_EQ(1, kchan_try_recv(self->ch, &got));
		EXPECT_EQ(SENT_VALUE, got);
	} else {
		EXPECT_EQ(LATE_VALUE, kt_worker_u64(&w));
	}
	EXPECT_EQ(0, kchan_len(self->ch));
}

TEST_F(sig, ignored_signal_does_not_interrupt)
{
	const struct op_variant *v = &variant->v;
	struct kt_worker w;

	ASSERT_NE(SIG_ERR, signal(SIGUSR2, SIG_IGN));
	prepare_worker(&w, self->ch, v);
	ASSERT_EQ(0, kt_worker_start(&w));
	ASSERT_EQ(0, wait_blocked(self->ch, v, true));
	ASSERT_EQ(0, pthread_kill(w.thread, SIGUSR2));
	ASSERT_EQ(0, wait_blocked(self->ch, v, true));
	EXPECT_FALSE(atomic_load(&w.done));
	ASSERT_EQ(0, unblock(self->ch, v));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(v->done, w.ret);
}

/*
 * Whole processes: a child blocks in the operation on the inherited
 * channel; the test stops, continues or kills it.
 */
static pid_t fork_blocked_child(int ch, const struct op_variant *v)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct kt_worker w;
		long ret;

		prepare_worker(&w, ch, v);
		ret = kt_run_op(&w);
		if (ret != v->done)
			_exit(10);
		if (!v->sends && kt_worker_u64(&w) != LATE_VALUE)
			_exit(11);
		_exit(0);
	}
	return pid;
}

TEST_F(sig, sigkill_ends_blocked_process_nothing_transferred)
{
	const struct op_variant *v = &variant->v;
	int status;
	pid_t pid;

	pid = fork_blocked_child(self->ch, v);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, wait_blocked(self->ch, v, true));
	ASSERT_EQ(0, kill(pid, SIGKILL));
	ASSERT_EQ(0, kt_waitpid(pid, &status));
	ASSERT_TRUE(WIFSIGNALED(status));
	EXPECT_EQ(SIGKILL, WTERMSIG(status));
	ASSERT_NOTHING_TRANSFERRED(self->ch, v, NULL);
}

TEST_F(sig, stop_and_continue_resume_blocked_call)
{
	const struct op_variant *v = &variant->v;
	int status;
	pid_t pid;

	pid = fork_blocked_child(self->ch, v);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, wait_blocked(self->ch, v, true));
	ASSERT_EQ(0, kill(pid, SIGSTOP));
	ASSERT_EQ(pid, waitpid(pid, &status, WUNTRACED));
	ASSERT_TRUE(WIFSTOPPED(status));
	ASSERT_EQ(0, kill(pid, SIGCONT));
	if (v->timed) {
		/*
		 * A timed wait may also end with EINTR after a stop, as
		 * several Linux calls do (signal(7)); either outcome is fine.
		 */
		ASSERT_EQ(0, unblock(self->ch, v));
		ASSERT_EQ(0, kt_waitpid(pid, &status));
		ASSERT_TRUE(WIFEXITED(status));
		EXPECT_TRUE(WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 10);
		return;
	}
	ASSERT_EQ(0, wait_blocked(self->ch, v, true));
	ASSERT_EQ(0, unblock(self->ch, v));
	ASSERT_EQ(0, kt_waitpid(pid, &status));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_F(sig, exit_ends_process_whose_thread_is_blocked)
{
	const struct op_variant *v = &variant->v;
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kt_worker w;

		prepare_worker(&w, self->ch, v);
		if (kt_worker_start(&w) || wait_blocked(self->ch, v, true))
			_exit(10);
		/* exit_group() must be able to kill the blocked thread. */
		_exit(0);
	}
	ASSERT_EQ(0, kt_waitpid(pid, &status));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_NOTHING_TRANSFERRED(self->ch, v, NULL);
}

TEST_HARNESS_MAIN
