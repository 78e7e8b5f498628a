// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: every wait for a channel ends on SIGKILL, even while
 * another task holds the channel's lock across a user copy that never
 * completes.
 *
 * A task sharing a channel may hold the channel's lock across a fault on
 * user memory for as long as it likes.  Here that task (the "staller") is
 * a thread of the test whose element lies in a userfaultfd-registered page
 * whose fault nobody serves: its kchan_send() stalls in copy_from_user()
 * into the ring or into a blocked receiver's buffer, its kchan_recv() in
 * copy_to_user() out of the ring or of a claimed unbuffered sender's
 * element, both under the channel's lock.
 *
 * Every other task blocked on that channel (the "victims", child
 * processes: their copies of the page are not registered) must then end
 * within one second of SIGKILL, in every form:
 * - waiting for the lock: send, send_timeout (long and already expired),
 *   try_send, write(2), send_many and their receive twins, a select of
 *   several cases on that channel and another one (also with an expired
 *   timeout), kchan_close(), KCHAN_IOC_INFO, KCHAN_IOC_STATS and a read of
 *   the channel's /proc fdinfo;
 * - queued and asleep before the stall: its abort path needs the lock to
 *   take its waiter off (also when its deadline passes during the stall),
 *   and a receiver queued on a different channel;
 * - all of them at once.
 * Once the fault is served the stalled call completes, and nothing is lost
 * or duplicated: the elements queued before appear exactly once and in
 * order, the killed victims moved nothing, the counters agree and no
 * waiter is left on the queues.
 *
 * An unbuffered sender whose element the stalled receiver took is released
 * before that copy: its send returns while the receiver still stalls, and
 * killing it then does not take its element back.
 */
#include <linux/userfaultfd.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

/* Every channel here carries one uint64_t; a buffered one holds CAP. */
#define CAP		4
#define PREFILL_SEQ	0x1000ULL	/* queued before the stall: +0, +1, ... */
#define STALL_SEQ	0x2000ULL	/* what the stalled send sends */
#define SENDER_SEQ	0x4000ULL	/* the claimed unbuffered sender's element */
#define VICTIM_SEQ	0x3000ULL	/* what victims send: must never arrive */
#define VICTIM_SEQ_END	0x3100ULL
#define STALL_OFFSET	64		/* the staller's element in its page */
#define KILL_NS		KT_NSEC		/* a killed task is reaped within this */
#define MAX_VICTIMS	32

/* --- The stalled copy ------------------------------------------------ */

/*
 * One page registered with a userfaultfd (missing mode), and the thread
 * whose send or receive faults on it with the channel lock held.  The test
 * thread never touches the page before stall_resolve(): it would stall too.
 */
struct stall {
	int uffd;
	size_t page;
	char *area;		/* the registered page */
	char *src;		/* what UFFDIO_COPY puts there */
	bool registered;
	bool resolved;

	int ch;
	bool recv;		/* kchan_recv() into the page, else kchan_send() */
	pthread_t thread;
	bool started;
	_Atomic pid_t tid;
	_Atomic int done;
	long ret;		/* valid once joined */
	uint64_t fault_addr;
	uint64_t fault_flags;
};

static uint64_t *stall_elem(struct stall *st)
{
	return (uint64_t *)(st->area + STALL_OFFSET);
}

/* 0, or -errno (-ENOSYS or -EPERM: no userfaultfd here). */
static int stall_setup(struct stall *st)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { 0 };
	uint64_t v = STALL_SEQ;

	st->page = sysconf(_SC_PAGESIZE);
	/* No UFFD_USER_MODE_ONLY: the faults that matter are the kernel's. */
	st->uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (st->uffd < 0)
		return -errno;
	if (ioctl(st->uffd, UFFDIO_API, &api))
		return -errno;
	st->src = mmap(NULL, st->page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (st->src == MAP_FAILED) {
		st->src = NULL;
		return -errno;
	}
	memset(st->src, 0xee, st->page);
	memcpy(st->src + STALL_OFFSET, &v, sizeof(v));
	st->area = mmap(NULL, st->page, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (st->area == MAP_FAILED) {
		st->area = NULL;
		return -errno;
	}
	reg.range.start = (uintptr_t)st->area;
	reg.range.len = st->page;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(st->uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	st->registered = true;
	if (!(reg.ioctls & (1ULL << _UFFDIO_COPY)))
		return -EOPNOTSUPP;
	return 0;
}

static void *staller_main(void *arg)
{
	struct stall *st = arg;

	atomic_store(&st->tid, (pid_t)syscall(SYS_gettid));
	st->ret = st->recv ? kchan_recv(st->ch, stall_elem(st)) :
			     kchan_send(st->ch, stall_elem(st));
	atomic_store(&st->done, 1);
	return NULL;
}

/*
 * Start the staller on @ch and wait until its copy faults on the page:
 * from then on it holds @ch's lock until stall_resolve().  0 or -errno
 * (-ENOLCK: the call ended without faulting).
 */
static int stall_start(struct stall *st, int ch, bool recv)
{
	struct pollfd pfd = { .fd = st->uffd, .events = POLLIN };
	int64_t end = kt_now_ns() + KT_WAIT_NS;
	struct uffd_msg msg;
	int ret;

	st->ch = ch;
	st->recv = recv;
	ret = kt_thread_start(&st->thread, staller_main, st, &st->tid);
	if (ret)
		return ret;
	st->started = true;
	for (;;) {
		ssize_t n = read(st->uffd, &msg, sizeof(msg));

		if (n == sizeof(msg)) {
			if (msg.event != UFFD_EVENT_PAGEFAULT)
				return -EPROTO;
			st->fault_addr = msg.arg.pagefault.address;
			st->fault_flags = msg.arg.pagefault.flags;
			if ((st->fault_addr & ~(uint64_t)(st->page - 1)) !=
			    (uintptr_t)st->area)
				return -EPROTO;
			return 0;
		}
		if (n >= 0)
			return -EIO;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		if (atomic_load(&st->done))
			return -ENOLCK;
		if (kt_now_ns() > end)
			return -ETIMEDOUT;
		poll(&pfd, 1, 100);
	}
}

/* Serve the fault: fill the page; the stalled copy then completes. */
static int stall_resolve(struct stall *st)
{
	struct uffdio_copy copy = {
		.dst = (uintptr_t)st->area,
		.src = (uintptr_t)st->src,
		.len = st->page,
	};

	if (ioctl(st->uffd, UFFDIO_COPY, &copy))
		return -errno;
	if (copy.copy != (int64_t)st->page)
		return -EIO;
	st->resolved = true;
	return 0;
}

static int stall_join(struct stall *st)
{
	int ret = kt_thread_join(st->thread);

	if (!ret)
		st->started = false;
	return ret;
}

static void stall_teardown(struct stall *st)
{
	struct uffdio_range range = {
		.start = (uintptr_t)st->area,
		.len = st->page,
	};

	if (st->started && !st->resolved && stall_resolve(st)) {
		/* Closing the userfaultfd releases the fault (EFAULT). */
		close(st->uffd);
		st->uffd = -1;
	}
	if (st->started)
		stall_join(st);
	if (st->registered && st->uffd >= 0)
		ioctl(st->uffd, UFFDIO_UNREGISTER, &range);
	if (st->uffd >= 0)
		close(st->uffd);
	if (st->area)
		munmap(st->area, st->page);
	if (st->src)
		munmap(st->src, st->page);
}

/* --- Looking at a victim --------------------------------------------- */

/* The state letter of @pid (/proc/PID/stat), or 0. */
static char pid_state(pid_t pid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (kt_read_file(path, buf, sizeof(buf)) < 0)
		return 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

/* The system call @pid sleeps in (/proc/PID/syscall), -1 when running. */
static long pid_syscall(pid_t pid)
{
	char path[64], buf[256], *end;
	long nr;
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	ret = kt_read_file(path, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	nr = strtol(buf, &end, 10);
	return end == buf ? -1 : nr;
}

/* Print what @pid is doing: its state, wchan, syscall and kernel stack. */
static void dump_task(pid_t pid)
{
	char path[64], buf[4096], *line, *save;

	fprintf(stderr, "# pid %d: state %c\n", (int)pid, pid_state(pid) ?: '?');
	snprintf(path, sizeof(path), "/proc/%d/wchan", (int)pid);
	if (kt_read_file(path, buf, sizeof(buf)) >= 0)
		fprintf(stderr, "# pid %d: wchan %s\n", (int)pid, buf);
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	if (kt_read_file(path, buf, sizeof(buf)) >= 0)
		fprintf(stderr, "# pid %d: syscall %s\n", (int)pid, buf);
	snprintf(path, sizeof(path), "/proc/%d/stack", (int)pid);
	if (kt_read_file(path, buf, sizeof(buf)) >= 0)
		for (line = strtok_r(buf, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			fprintf(stderr, "# pid %d: stack %s\n", (int)pid, line);
}

/*
 * Wait until @pid sleeps (a state letter in @states) inside system call
 * @nr, seen three times in a row 2 ms apart.  0; 1 when it exited instead
 * (a zombie, not reaped); -ETIMEDOUT after printing where it is.
 */
static int wait_sleeping_in(pid_t pid, long nr, const char *states)
{
	int64_t end = kt_now_ns() + KT_WAIT_NS;
	int seen = 0;

	for (;;) {
		char s = pid_state(pid);

		if (s == 'Z')
			return 1;
		if (s && strchr(states, s) && pid_syscall(pid) == nr &&
		    pid_state(pid) == s)
			seen++;
		else
			seen = 0;
		if (seen == 3)
			return 0;
		if (kt_now_ns() > end) {
			fprintf(stderr, "# pid %d never slept (%s) in syscall %ld\n",
				(int)pid, states, nr);
			dump_task(pid);
			return -ETIMEDOUT;
		}
		kt_sleep_us(2000);
	}
}

/* Reap @pid within @ns: 0 with *status set, -ETIMEDOUT or -errno. */
static int reap_within(pid_t pid, int64_t ns, int *status)
{
	int64_t end = kt_now_ns() + ns;

	for (;;) {
		pid_t ret = waitpid(pid, status, WNOHANG);

		if (ret == pid)
			return 0;
		if (ret < 0 && errno != EINTR)
			return -errno;
		if (kt_now_ns() > end)
			return -ETIMEDOUT;
		kt_sleep_us(1000);
	}
}

/* 0 while @pid runs or sleeps, 1 once it exited (not reaped), or -errno. */
static int pid_exited(pid_t pid)
{
	siginfo_t si = { 0 };

	if (waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT))
		return -errno;
	return si.si_pid == pid;
}

/* --- A channel pair, the stall and the victims ------------------------ */

struct scene {
	int a;			/* the channel whose lock the staller holds */
	int b;			/* another channel */
	struct stall st;
	pid_t pids[MAX_VICTIMS];	/* unreaped children, 0 once reaped */
	int nr_pids;
	bool skip;
};

/* 0, or 1 to skip (no userfaultfd), or -errno. */
static int scene_setup(struct scene *s, uint64_t cap_a)
{
	int ret;

	s->a = s->b = -1;
	s->st.uffd = -1;
	signal(SIGPIPE, SIG_IGN);
	ret = stall_setup(&s->st);
	if (ret == -ENOSYS || ret == -EPERM)
		return 1;
	if (ret)
		return ret;
	/*
	 * Plain channels: the scenes stall a copy made under the channel
	 * lock, which libchanuser's mapped fast path never takes.
	 */
	s->a = kt_create(sizeof(uint64_t), cap_a, 0);
	if (s->a < 0)
		return s->a;
	s->b = kt_create(sizeof(uint64_t), CAP, 0);
	return s->b < 0 ? s->b : 0;
}

static void forget_pid(struct scene *s, pid_t pid)
{
	for (int i = 0; i < s->nr_pids; i++)
		if (s->pids[i] == pid)
			s->pids[i] = 0;
}

/*
 * Serve the fault first: a victim that did not die can then take the lock
 * and end; then reap everyone, join the staller and free it all.
 */
static void scene_teardown(struct scene *s)
{
	int status;

	if (s->st.started && !s->st.resolved)
		stall_resolve(&s->st);
	for (int i = 0; i < s->nr_pids; i++) {
		if (!s->pids[i])
			continue;
		kill(s->pids[i], SIGKILL);
		kt_waitpid(s->pids[i], &status);
	}
	stall_teardown(&s->st);
	if (s->a >= 0)
		close(s->a);
	if (s->b >= 0)
		close(s->b);
}

/* Fork a child that runs @fn(@arg, s) and exits with its result. */
static pid_t scene_fork(struct scene *s, int (*fn)(const void *, struct scene *),
			const void *arg)
{
	pid_t pid;

	if (s->nr_pids == MAX_VICTIMS)
		return -ENOSPC;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		/* Its copy of the page is not registered anyway. */
		close(s->st.uffd);
		_exit(fn(arg, s));
	}
	s->pids[s->nr_pids++] = pid;
	return pid;
}

/*
 * SIGKILL @pid and reap it within KILL_NS; on failure print where it
 * sleeps (the teardown reaps it once the fault is served).
 */
static int kill_and_reap(struct scene *s, pid_t pid, int *status)
{
	int64_t start = kt_now_ns();
	int ret;

	if (kill(pid, SIGKILL))
		return -errno;
	ret = reap_within(pid, KILL_NS, status);
	if (ret) {
		fprintf(stderr, "# pid %d not reaped %lld ms after SIGKILL\n",
			(int)pid, (long long)((kt_now_ns() - start) / KT_MSEC));
		dump_task(pid);
		return ret;
	}
	forget_pid(s, pid);
	return 0;
}

/* Receive until -EAGAIN into @got (at most @max): the count or -errno. */
static int drain(int ch, uint64_t *got, int max)
{
	int n = 0;

	for (;;) {
		uint64_t v = KT_SENTINEL_U64;
		int ret = kchan_try_recv(ch, &v);

		if (ret == -EAGAIN)
			return n;
		if (ret != 1)
			return ret < 0 ? ret : -EPIPE;
		if (n == max)
			return -E2BIG;
		got[n++] = v;
	}
}

/*
 * Close @ch (it must not have been closed: a killed kchan_close() did
 * nothing) and check it settled: empty, no waiter left on its queues,
 * @sends and @recvs counted, every ended wait recorded once.
 */
static void check_settled(struct __test_metadata *_metadata, int ch,
			  uint64_t sends, uint64_t recvs)
{
	struct kchan_chan_stats st;
	struct kchan_info info;
	uint64_t v = KT_SENTINEL_U64, hist = 0;

	ASSERT_EQ(0, kchan_len(ch));
	ASSERT_EQ(0, kchan_close(ch));
	ASSERT_EQ(0, kchan_try_recv(ch, &v));
	EXPECT_EQ(KT_SENTINEL_U64, v);
	ASSERT_EQ(0, kt_info(ch, &info));
	EXPECT_EQ(KCHAN_STATE_CLOSED, info.state);
	EXPECT_EQ(0, info.len);
	EXPECT_EQ(0, info.sendq);
	EXPECT_EQ(0, info.recvq);
	ASSERT_EQ(0, kchan_stats(ch, &st));
	EXPECT_EQ(sends, st.sends);
	EXPECT_EQ(recvs, st.recvs);
	for (int i = 0; i < 32; i++)
		hist += st.wait_hist[i];
	EXPECT_EQ(st.send_blocks + st.recv_blocks, hist);
}

/* --- The victims ----------------------------------------------------- */

enum vop {
	OP_SEND,	/* kchan_send, or kchan_send_timeout with a timeout */
	OP_TRY_SEND,	/* kchan_try_send */
	OP_WRITE,	/* write(2) of one element */
	OP_SEND_MANY,	/* kchan_send_many of 2 */
	OP_RECV,	/* kchan_recv, or kchan_recv_timeout with a timeout */
	OP_TRY_RECV,	/* kchan_try_recv */
	OP_READ,	/* read(2) of one element */
	OP_RECV_MANY,	/* kchan_recv_many of CAP */
	OP_SELECT,	/* recv a, send a, recv b and a nil case */
	OP_SELECT_RECV,	/* recv a, recv b */
	OP_SELECT_SEND,	/* send a, recv b */
	OP_CLOSE,	/* kchan_close */
	OP_INFO,	/* kchan_len (KCHAN_IOC_INFO) */
	OP_STATS,	/* kchan_stats (KCHAN_IOC_STATS) */
	OP_FDINFO,	/* read(2) of /proc/self/fdinfo/FD */
};

struct victim {
	enum vop op;
	int timeout_ms;		/* 0: none (forever) */
	bool on_b;		/* a plain op on the other channel */
};

/* Exit codes of a victim whose call returned. */
enum { VX_DONE = 1, VX_TIMEDOUT = 2, VX_FAILED = 3 };

static const char *const vx_names[] = { "killed?", "done", "ETIMEDOUT", "failed" };

static long victim_call(const struct victim *v, int a, int b)
{
	uint64_t out[2] = { VICTIM_SEQ + 2 * v->op, VICTIM_SEQ + 2 * v->op + 1 };
	int64_t t = v->timeout_ms ? v->timeout_ms * KT_MSEC : -1;
	int ch = v->on_b ? b : a;
	struct kchan_chan_stats st;
	uint64_t in[CAP];
	char path[64], buf[1024];
	long ret;
	int fd;

	memset(in, 0xa5, sizeof(in));
	switch (v->op) {
	case OP_SEND:
		return t < 0 ? kchan_send(ch, out) : kchan_send_timeout(ch, out, t);
	case OP_TRY_SEND:
		return kchan_try_send(ch, out);
	case OP_WRITE:
		ret = write(ch, out, sizeof(out[0]));
		return ret < 0 ? -errno : ret;
	case OP_SEND_MANY:
		return kchan_send_many(ch, out, 2);
	case OP_RECV:
		return t < 0 ? kchan_recv(ch, in) : kchan_recv_timeout(ch, in, t);
	case OP_TRY_RECV:
		return kchan_try_recv(ch, in);
	case OP_READ:
		ret = read(ch, in, sizeof(in[0]));
		return ret < 0 ? -errno : ret;
	case OP_RECV_MANY:
		return kchan_recv_many(ch, in, CAP);
	case OP_SELECT: {
		struct kchan_case c[] = {
			{ .ch = a, .op = KCHAN_CASE_RECV, .elem = &in[0] },
			{ .ch = a, .op = KCHAN_CASE_SEND, .elem = &out[0] },
			{ .ch = b, .op = KCHAN_CASE_RECV, .elem = &in[1] },
			{ .ch = -1, .op = KCHAN_CASE_RECV, .elem = &in[2] },
		};

		return kchan_select(c, 4, t);
	}
	case OP_SELECT_RECV: {
		struct kchan_case c[] = {
			{ .ch = a, .op = KCHAN_CASE_RECV, .elem = &in[0] },
			{ .ch = b, .op = KCHAN_CASE_RECV, .elem = &in[1] },
		};

		return kchan_select(c, 2, t);
	}
	case OP_SELECT_SEND: {
		struct kchan_case c[] = {
			{ .ch = a, .op = KCHAN_CASE_SEND, .elem = &out[0] },
			{ .ch = b, .op = KCHAN_CASE_RECV, .elem = &in[1] },
		};

		return kchan_select(c, 2, t);
	}
	case OP_CLOSE:
		return kchan_close(ch);
	case OP_INFO:
		return kchan_len(ch);
	case OP_STATS:
		return kchan_stats(ch, &st);
	case OP_FDINFO:
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", ch);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		ret = read(fd, buf, sizeof(buf));
		return ret < 0 ? -errno : ret;
	}
	return -EINVAL;
}

static int victim_main(const void *arg, struct scene *s)
{
	const struct victim *v = arg;
	long ret = victim_call(v, s->a, s->b);

	/* Only reached when the call returned instead of being killed. */
	fprintf(stderr, "# victim op %d (timeout %d ms) returned %ld\n",
		v->op, v->timeout_ms, ret);
	return ret == -ETIMEDOUT ? VX_TIMEDOUT : ret < 0 ? VX_FAILED : VX_DONE;
}

/* The system call @v sleeps in. */
static long victim_syscall(const struct victim *v)
{
	switch (v->op) {
	case OP_WRITE:
		return SYS_write;
	case OP_READ:
	case OP_FDINFO:
		return SYS_read;
	default:
		return SYS_ioctl;
	}
}

/* Whether @v has a deadline: it may end by itself with ETIMEDOUT. */
static bool victim_timed(const struct victim *v)
{
	return v->timeout_ms > 0;
}

/*
 * Where a victim queued before the stall waits: its waiters on a's and
 * b's send and receive queues.
 */
static void victim_queues(const struct victim *v, unsigned int *a_send,
			  unsigned int *a_recv, unsigned int *b_recv)
{
	*a_send = *a_recv = *b_recv = 0;
	if (v->on_b) {
		*b_recv = 1;
		return;
	}
	switch (v->op) {
	case OP_SEND:
	case OP_WRITE:
	case OP_SEND_MANY:
		*a_send = 1;
		break;
	case OP_SELECT_SEND:
		*a_send = 1;
		*b_recv = 1;
		break;
	case OP_SELECT_RECV:
		*a_recv = 1;
		*b_recv = 1;
		break;
	default:
		*a_recv = 1;
		break;
	}
}

/*
 * The end of a killed victim: SIGKILL, or - for a timed call only - a
 * return of ETIMEDOUT (a deadline may end a wait for the lock too).
 */
#define ASSERT_KILLED(status, timed) do {					\
	int __st = (status);							\
	if (WIFEXITED(__st) && (timed) && WEXITSTATUS(__st) == VX_TIMEDOUT) {	\
		TH_LOG("the victim timed out by itself");			\
		break;								\
	}									\
	ASSERT_TRUE(WIFSIGNALED(__st))						\
		TH_LOG("victim exited with %d (%s)", WEXITSTATUS(__st),		\
		       WEXITSTATUS(__st) < 4 ? vx_names[WEXITSTATUS(__st)] : "?"); \
	ASSERT_EQ(SIGKILL, WTERMSIG(__st));					\
} while (0)

/* --- One victim per form --------------------------------------------- */

FIXTURE(killable) {
	struct scene s;
};

/*
 * @stall_recv: the staller receives (copy_to_user out of the ring) instead
 * of sending (copy_from_user into the ring, or into a queued receiver's
 * buffer).  @queued: the victim is queued and asleep before the stall;
 * otherwise it starts during the stall and waits for the lock.
 */
FIXTURE_VARIANT(killable) {
	struct victim v;
	bool stall_recv;
	bool queued;
};

#define LOCK_VARIANT(name, ...)							\
	FIXTURE_VARIANT_ADD(killable, name##_during_stalled_send) {		\
		.v = { __VA_ARGS__ },						\
	};									\
	FIXTURE_VARIANT_ADD(killable, name##_during_stalled_recv) {		\
		.v = { __VA_ARGS__ }, .stall_recv = true,			\
	}

LOCK_VARIANT(send, .op = OP_SEND);
LOCK_VARIANT(send_timeout, .op = OP_SEND, .timeout_ms = 60000);
LOCK_VARIANT(send_timeout_expired, .op = OP_SEND, .timeout_ms = 1);
LOCK_VARIANT(try_send, .op = OP_TRY_SEND);
LOCK_VARIANT(write, .op = OP_WRITE);
LOCK_VARIANT(send_many, .op = OP_SEND_MANY);
LOCK_VARIANT(recv, .op = OP_RECV);
LOCK_VARIANT(recv_timeout, .op = OP_RECV, .timeout_ms = 60000);
LOCK_VARIANT(recv_timeout_expired, .op = OP_RECV, .timeout_ms = 1);
LOCK_VARIANT(try_recv, .op = OP_TRY_RECV);
LOCK_VARIANT(read, .op = OP_READ);
LOCK_VARIANT(recv_many, .op = OP_RECV_MANY);
LOCK_VARIANT(select, .op = OP_SELECT);
LOCK_VARIANT(select_timeout_expired, .op = OP_SELECT, .timeout_ms = 1);
LOCK_VARIANT(close, .op = OP_CLOSE);
LOCK_VARIANT(info, .op = OP_INFO);
LOCK_VARIANT(stats, .op = OP_STATS);
LOCK_VARIANT(fdinfo, .op = OP_FDINFO);

/* Receivers queued on an empty channel: the stalled send fills their buffer. */
#define QUEUED_RECV_VARIANT(name, ...)						\
	FIXTURE_VARIANT_ADD(killable, queued_##name##_during_stalled_send) {	\
		.v = { __VA_ARGS__ }, .queued = true,				\
	}
/* Senders queued on a full channel: the stalled receive would refill from them. */
#define QUEUED_SEND_VARIANT(name, ...)						\
	FIXTURE_VARIANT_ADD(killable, queued_##name##_during_stalled_recv) {	\
		.v = { __VA_ARGS__ }, .queued = true, .stall_recv = true,	\
	}

QUEUED_RECV_VARIANT(recv, .op = OP_RECV);
QUEUED_RECV_VARIANT(recv_timeout, .op = OP_RECV, .timeout_ms = 60000);
/* Its deadline passes during the stall: the abort path needs the lock. */
QUEUED_RECV_VARIANT(recv_timeout_expiring, .op = OP_RECV, .timeout_ms = 500);
QUEUED_RECV_VARIANT(read, .op = OP_READ);
QUEUED_RECV_VARIANT(recv_many, .op = OP_RECV_MANY);
QUEUED_RECV_VARIANT(select_recv, .op = OP_SELECT_RECV);
QUEUED_RECV_VARIANT(select_recv_timeout_expiring, .op = OP_SELECT_RECV, .timeout_ms = 500);
/* Asleep on the other channel, whose lock is free. */
QUEUED_RECV_VARIANT(recv_other_channel, .op = OP_RECV, .on_b = true);
QUEUED_SEND_VARIANT(send, .op = OP_SEND);
QUEUED_SEND_VARIANT(send_timeout, .op = OP_SEND, .timeout_ms = 60000);
QUEUED_SEND_VARIANT(send_timeout_expiring, .op = OP_SEND, .timeout_ms = 500);
QUEUED_SEND_VARIANT(write, .op = OP_WRITE);
QUEUED_SEND_VARIANT(send_many, .op = OP_SEND_MANY);
QUEUED_SEND_VARIANT(select_send, .op = OP_SELECT_SEND);
QUEUED_SEND_VARIANT(select_send_timeout_expiring, .op = OP_SELECT_SEND, .timeout_ms = 500);

FIXTURE_SETUP(killable)
{
	int ret = scene_setup(&self->s, CAP);

	if (ret == 1) {
		self->s.skip = true;
		SKIP(return, "userfaultfd unavailable");
	}
	ASSERT_EQ(0, ret) TH_LOG("setup: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(killable)
{
	scene_teardown(&self->s);
}

/*
 * How many elements a queues before the stall: a stalled receive needs
 * one, queued senders a full ring, queued receivers an empty one.
 */
static int prefill_of(const FIXTURE_VARIANT(killable) *variant)
{
	if (variant->stall_recv)
		return variant->queued ? CAP : CAP - 1;
	return variant->queued && !variant->v.on_b ? 0 : CAP - 2;
}

TEST_F(killable, sigkill_ends_waiter_within_1s_nothing_lost)
{
	const struct victim *v = &variant->v;
	struct scene *s = &self->s;
	int prefill = prefill_of(variant);
	uint64_t want[CAP + 1], got[CAP + 2];
	int nwant = 0, n, ret, status;
	int64_t queued_at = 0;
	pid_t pid = -1;

	if (s->skip)
		SKIP(return, "userfaultfd unavailable");
	for (int i = 0; i < prefill; i++) {
		ASSERT_EQ(0, kt_send_u64(s->a, PREFILL_SEQ + i));
	}

	if (variant->queued) {
		unsigned int a_send, a_recv, b_recv;

		victim_queues(v, &a_send, &a_recv, &b_recv);
		pid = scene_fork(s, victim_main, v);
		ASSERT_LT(0, pid);
		ASSERT_EQ(0, kt_wait_queues(s->a, a_send, a_recv));
		ASSERT_EQ(0, kt_wait_queues(s->b, 0, b_recv));
		/* Its deadline, if any, is before this plus its timeout. */
		queued_at = kt_now_ns();
	}

	ret = stall_start(&s->st, s->a, variant->stall_recv);
	ASSERT_EQ(0, ret) TH_LOG("no stalled copy: %s", strerror(-ret));
	EXPECT_EQ(variant->stall_recv, !!(s->st.fault_flags & UFFD_PAGEFAULT_FLAG_WRITE));

	if (!variant->queued) {
		pid = scene_fork(s, victim_main, v);
		ASSERT_LT(0, pid);
		/* It needs the lock the staller holds. */
		ret = wait_sleeping_in(pid, victim_syscall(v), "DS");
		ASSERT_LE(0, ret);
		ASSERT_TRUE(ret == 0 || victim_timed(v))
			TH_LOG("the victim returned without the lock");
	} else {
		ASSERT_EQ(0, pid_exited(pid))
			TH_LOG("the queued victim ended before the stall");
		if (victim_timed(v) && v->timeout_ms < 1000) {
			/*
			 * Past its deadline it gives up, and needs the lock
			 * to take its waiter off: it sleeps again, waiting
			 * for the lock (or it returned ETIMEDOUT).
			 */
			int64_t left = queued_at + (v->timeout_ms + 100) * KT_MSEC -
				       kt_now_ns();

			if (left > 0)
				kt_sleep_us(left / 1000);
			ret = wait_sleeping_in(pid, victim_syscall(v), "DS");
			ASSERT_LE(0, ret);
		}
	}
	/* Still there a moment later, and the staller still stalls. */
	kt_sleep_us(50 * 1000);
	ASSERT_FALSE(atomic_load(&s->st.done));
	if (!victim_timed(v))
		ASSERT_EQ(0, pid_exited(pid));

	ret = kill_and_reap(s, pid, &status);
	ASSERT_EQ(0, ret) TH_LOG("SIGKILL did not end the victim: %s", strerror(-ret));
	ASSERT_KILLED(status, victim_timed(v));
	/* The kill did not wait for the stall to end. */
	ASSERT_FALSE(atomic_load(&s->st.done));

	ASSERT_EQ(0, stall_resolve(&s->st));
	ASSERT_EQ(0, stall_join(&s->st));

	/* The stalled call completed; the victim moved nothing. */
	for (int i = 0; i < prefill; i++)
		want[nwant++] = PREFILL_SEQ + i;
	if (variant->stall_recv) {
		EXPECT_EQ(1, s->st.ret);
		EXPECT_EQ(PREFILL_SEQ, *stall_elem(&s->st));
		memmove(want, want + 1, --nwant * sizeof(want[0]));
	} else {
		EXPECT_EQ(0, s->st.ret);
		want[nwant++] = STALL_SEQ;
	}
	n = drain(s->a, got, CAP + 2);
	ASSERT_EQ(nwant, n);
	for (int i = 0; i < n; i++) {
		EXPECT_EQ(want[i], got[i]) TH_LOG("element %d", i);
	}
	ASSERT_EQ(0, drain(s->b, got, CAP + 2));

	check_settled(_metadata, s->a, prefill + !variant->stall_recv,
		      prefill + !variant->stall_recv);
	check_settled(_metadata, s->b, 0, 0);
}

/* --- Every form at once ---------------------------------------------- */

static const struct victim crowd[] = {
	{ .op = OP_SEND }, { .op = OP_SEND, .timeout_ms = 60000 },
	{ .op = OP_SEND, .timeout_ms = 1 }, { .op = OP_TRY_SEND },
	{ .op = OP_WRITE }, { .op = OP_SEND_MANY },
	{ .op = OP_RECV }, { .op = OP_RECV, .timeout_ms = 60000 },
	{ .op = OP_RECV, .timeout_ms = 1 }, { .op = OP_TRY_RECV },
	{ .op = OP_READ }, { .op = OP_RECV_MANY },
	{ .op = OP_SELECT }, { .op = OP_SELECT, .timeout_ms = 1 },
	{ .op = OP_CLOSE }, { .op = OP_INFO }, { .op = OP_STATS },
	{ .op = OP_FDINFO },
};
#define NR_CROWD	(sizeof(crowd) / sizeof(crowd[0]))

FIXTURE(crowd) {
	struct scene s;
};

FIXTURE_VARIANT(crowd) {
	bool stall_recv;
};

FIXTURE_VARIANT_ADD(crowd, during_stalled_send) {
	.stall_recv = false,
};
FIXTURE_VARIANT_ADD(crowd, during_stalled_recv) {
	.stall_recv = true,
};

FIXTURE_SETUP(crowd)
{
	int ret = scene_setup(&self->s, CAP);

	if (ret == 1) {
		self->s.skip = true;
		SKIP(return, "userfaultfd unavailable");
	}
	ASSERT_EQ(0, ret) TH_LOG("setup: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(crowd)
{
	scene_teardown(&self->s);
}

/*
 * One waiter of every form on the stalled lock and a receiver asleep on
 * the other channel, all killed at once: each is reaped within 1 s.
 */
TEST_F(crowd, sigkill_ends_every_waiter_at_once)
{
	static const struct victim other = { .op = OP_RECV, .on_b = true };
	struct scene *s = &self->s;
	int prefill = variant->stall_recv ? CAP - 1 : CAP - 2;
	uint64_t got[CAP + 2];
	pid_t pids[NR_CROWD + 1], sleeper;
	int64_t end;
	int n, ret, status;

	if (s->skip)
		SKIP(return, "userfaultfd unavailable");
	for (int i = 0; i < prefill; i++) {
		ASSERT_EQ(0, kt_send_u64(s->a, PREFILL_SEQ + i));
	}
	sleeper = scene_fork(s, victim_main, &other);
	ASSERT_LT(0, sleeper);
	ASSERT_EQ(0, kt_wait_queues(s->b, 0, 1));

	ASSERT_EQ(0, stall_start(&s->st, s->a, variant->stall_recv));
	for (size_t i = 0; i < NR_CROWD; i++) {
		pids[i] = scene_fork(s, victim_main, &crowd[i]);
		ASSERT_LT(0, pids[i]);
	}
	for (size_t i = 0; i < NR_CROWD; i++) {
		ret = wait_sleeping_in(pids[i], victim_syscall(&crowd[i]), "DS");
		ASSERT_LE(0, ret) TH_LOG("victim %zu", i);
		ASSERT_TRUE(ret == 0 || victim_timed(&crowd[i]))
			TH_LOG("victim %zu returned without the lock", i);
	}
	pids[NR_CROWD] = sleeper;
	ASSERT_FALSE(atomic_load(&s->st.done));

	for (size_t i = 0; i <= NR_CROWD; i++) {
		ASSERT_EQ(0, kill(pids[i], SIGKILL));
	}
	end = kt_now_ns() + KILL_NS;
	for (size_t i = 0; i <= NR_CROWD; i++) {
		int64_t left = end - kt_now_ns();

		ret = reap_within(pids[i], left > 0 ? left : 0, &status);
		if (ret)
			dump_task(pids[i]);
		ASSERT_EQ(0, ret) TH_LOG("victim %zu not reaped 1 s after SIGKILL", i);
		forget_pid(s, pids[i]);
		ASSERT_KILLED(status, i < NR_CROWD && victim_timed(&crowd[i]));
	}
	ASSERT_FALSE(atomic_load(&s->st.done));

	ASSERT_EQ(0, stall_resolve(&s->st));
	ASSERT_EQ(0, stall_join(&s->st));
	if (variant->stall_recv) {
		EXPECT_EQ(1, s->st.ret);
		EXPECT_EQ(PREFILL_SEQ, *stall_elem(&s->st));
	} else {
		EXPECT_EQ(0, s->st.ret);
	}
	n = drain(s->a, got, CAP + 2);
	ASSERT_EQ(variant->stall_recv ? prefill - 1 : prefill + 1, n);
	for (int i = 0; i < n; i++) {
		uint64_t want = variant->stall_recv ? PREFILL_SEQ + 1 + i :
				i < prefill ? PREFILL_SEQ + i : STALL_SEQ;

		EXPECT_EQ(want, got[i]) TH_LOG("element %d", i);
	}
	ASSERT_EQ(0, drain(s->b, got, CAP + 2));
	check_settled(_metadata, s->a, prefill + !variant->stall_recv,
		      prefill + !variant->stall_recv);
	check_settled(_metadata, s->b, 0, 0);
}

/* --- The claimed unbuffered sender ----------------------------------- */

enum claimed_mode {
	CLAIMED_RETURNS,	/* its send returns while the receiver stalls */
	CLAIMED_KILLED,		/* SIGKILLed as soon as the receiver stalls */
	CLAIMED_SENDS_AGAIN,	/* a second send waits for the lock: killed */
};

FIXTURE(claimed) {
	struct scene s;
	int pipe[2];
};

FIXTURE_VARIANT(claimed) {
	enum claimed_mode mode;
};

FIXTURE_VARIANT_ADD(claimed, sender_returns) {
	.mode = CLAIMED_RETURNS,
};
FIXTURE_VARIANT_ADD(claimed, sender_killed) {
	.mode = CLAIMED_KILLED,
};
FIXTURE_VARIANT_ADD(claimed, sender_sends_again_and_is_killed) {
	.mode = CLAIMED_SENDS_AGAIN,
};

FIXTURE_SETUP(claimed)
{
	int ret;

	self->pipe[0] = self->pipe[1] = -1;
	ret = scene_setup(&self->s, 0);
	if (ret == 1) {
		self->s.skip = true;
		SKIP(return, "userfaultfd unavailable");
	}
	ASSERT_EQ(0, ret) TH_LOG("setup: %s", strerror(-ret));
	ASSERT_EQ(0, pipe2(self->pipe, O_CLOEXEC | O_NONBLOCK));
}

FIXTURE_TEARDOWN(claimed)
{
	scene_teardown(&self->s);
	if (self->pipe[0] >= 0)
		close(self->pipe[0]);
	if (self->pipe[1] >= 0)
		close(self->pipe[1]);
}

struct sender_arg {
	int pipe;
	bool again;
};

/* Send SENDER_SEQ, report the result on the pipe, maybe send once more. */
static int sender_main(const void *arg, struct scene *s)
{
	const struct sender_arg *sa = arg;
	uint64_t v = SENDER_SEQ, v2 = VICTIM_SEQ;
	int ret = kchan_send(s->a, &v);

	if (write(sa->pipe, &ret, sizeof(ret)) != sizeof(ret))
		return VX_FAILED;
	if (ret)
		return VX_FAILED;
	if (sa->again) {
		ret = kchan_send(s->a, &v2);
		fprintf(stderr, "# second send returned %d\n", ret);
		return ret ? VX_FAILED : VX_DONE;
	}
	return 0;
}

/* The sender's reported result: 0 once read, -EAGAIN before. */
static int read_report(int fd, int *result)
{
	ssize_t n = read(fd, result, sizeof(*result));

	if (n == sizeof(*result))
		return 0;
	return n < 0 ? -errno : -EIO;
}

/*
 * An unbuffered channel with a blocked sender; the staller receives into
 * the unserved page.  The kernel completes the sender before the copy
 * out, so the sender returns while the receiver stalls, and a SIGKILL of
 * it - even in a second send that waits for the lock - ends it within 1 s
 * without taking its first element back.
 */
TEST_F(claimed, sender_completes_before_stalled_copy)
{
	struct sender_arg sa = {
		.pipe = self->pipe[1],
		.again = variant->mode == CLAIMED_SENDS_AGAIN,
	};
	struct scene *s = &self->s;
	int ret, status, result = -1;
	int64_t end;
	uint64_t v;
	pid_t pid;

	if (s->skip)
		SKIP(return, "userfaultfd unavailable");
	pid = scene_fork(s, sender_main, &sa);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, kt_wait_queues(s->a, 1, 0));

	ASSERT_EQ(0, stall_start(&s->st, s->a, true));
	EXPECT_TRUE(s->st.fault_flags & UFFD_PAGEFAULT_FLAG_WRITE);

	switch (variant->mode) {
	case CLAIMED_RETURNS:
		/* Not a kill: the send returned 0 by itself. */
		ret = reap_within(pid, KILL_NS, &status);
		if (ret)
			dump_task(pid);
		ASSERT_EQ(0, ret) TH_LOG("the claimed sender waits for the stalled copy");
		forget_pid(s, pid);
		ASSERT_TRUE(WIFEXITED(status));
		ASSERT_EQ(0, WEXITSTATUS(status));
		ASSERT_EQ(0, read_report(self->pipe[0], &result));
		ASSERT_EQ(0, result);
		break;
	case CLAIMED_KILLED:
		ASSERT_EQ(0, kill_and_reap(s, pid, &status));
		/* Killed, or gone already with its send done. */
		if (WIFEXITED(status)) {
			ASSERT_EQ(0, WEXITSTATUS(status));
		} else {
			ASSERT_EQ(SIGKILL, WTERMSIG(status));
		}
		ret = read_report(self->pipe[0], &result);
		if (!ret)
			ASSERT_EQ(0, result);
		break;
	case CLAIMED_SENDS_AGAIN:
		end = kt_now_ns() + KILL_NS;
		while ((ret = read_report(self->pipe[0], &result)) == -EAGAIN &&
		       kt_now_ns() < end)
			kt_sleep_us(1000);
		if (ret)
			dump_task(pid);
		ASSERT_EQ(0, ret) TH_LOG("the claimed sender waits for the stalled copy");
		ASSERT_EQ(0, result);
		ASSERT_EQ(0, wait_sleeping_in(pid, SYS_ioctl, "DS"));
		kt_sleep_us(50 * 1000);
		ASSERT_EQ(0, pid_exited(pid));
		ASSERT_EQ(0, kill_and_reap(s, pid, &status));
		ASSERT_KILLED(status, false);
		break;
	}
	/* All that while the receiver stalled. */
	ASSERT_FALSE(atomic_load(&s->st.done));

	ASSERT_EQ(0, stall_resolve(&s->st));
	ASSERT_EQ(0, stall_join(&s->st));
	EXPECT_EQ(1, s->st.ret);
	EXPECT_EQ(SENDER_SEQ, *stall_elem(&s->st));
	/* The second send (if any) sent nothing. */
	ASSERT_EQ(-EAGAIN, kchan_try_recv(s->a, &v));
	check_settled(_metadata, s->a, 1, 1);
	check_settled(_metadata, s->b, 0, 0);
}

TEST_HARNESS_MAIN
