// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: the per-user byte budget (module/limits.c).
 *
 * Module parameters user_bytes_soft, user_bytes_hard and
 * max_channels_per_user (0: no limit; by default soft = RAM/8 and
 * hard = RAM/4) bound what each user's channels may cost the kernel:
 *
 * - A channel costs its ring (elem_size * capacity) plus the channel object,
 *   a small constant well under 4 KiB.  A creation that would take its
 *   user's total beyond user_bytes_soft or user_bytes_hard fails with
 *   -ENOSPC, consumes no descriptor, allocates no ring and leaves the
 *   budget as it was; closing a channel gives its bytes back.
 * - The soft limit applies to creation only.  The hard limit also bounds the
 *   elements that blocked tasks park (one per blocked task: the element
 *   size, rounded up to 256 bytes for elements up to 224 bytes, charged to
 *   the channel's creator) and the bookkeeping of blocked selects: past it,
 *   a call that would block fails with -ENOSPC.
 * - Tasks with CAP_SYS_RESOURCE or CAP_SYS_ADMIN are exempt.  Everything
 *   else runs in children that drop to uids 1000-1002 (/dev/kchan is mode
 *   0666 in the guest) and report through a pipe.
 * - Budgets are per user: another uid is unaffected; a user namespace is
 *   charged to the user who created it, so made-up ids (and namespaces
 *   nested in it) cannot multiply the budget; channel ids (fdinfo
 *   "kchan-id") count per budget.
 * - With the default limits, a user that creates the largest channels
 *   until -ENOSPC takes at most user_bytes_soft of memory, and a bystander
 *   can still allocate and touch 200 MiB without being OOM-killed.
 * - /sys/class/misc/kchan/allocations is root only (0400).
 *
 * The fixture saves the three parameters and restores them afterwards,
 * also when a test fails, and reaps every child it started.
 */
#include <grp.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <linux/capability.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

#define KiB		1024LL
#define MiB		(1024 * KiB)

#define UID_A		1000	/* the user whose budget is tested */
#define UID_B		1001	/* a bystander */
#define UID_C		1002	/* channel ids */

/* The 1 MiB ring of most tests: 256 elements of 4 KiB. */
#define RING_ESZ	4096
#define RING_CAP	256
#define RING_BYTES	((long long)RING_ESZ * RING_CAP)

#define SOFT		(8 * MiB)
#define HARD		(10 * MiB)
/* SOFT / (RING_BYTES + a channel object): the object is far below 128 KiB. */
#define RINGS_IN_SOFT	7

/* An upper bound on the channel object, as the rules promise. */
#define OBJ_MAX		(4 * KiB)

/* How long the parent waits for a child's report or exit, in seconds. */
#define KID_WAIT_S	120

static const char *const saved_params[] = {
	"user_bytes_soft", "user_bytes_hard", "max_channels_per_user",
};

/*
 * Children.  Each runs one function as another user and reports a
 * struct kid_res through a pipe; where the parent must act in between,
 * the child reports, then waits for a byte on its command pipe (EOF: the
 * parent lets go: the child runs to its end).  The harness's ASSERTs work only in the
 * test's own process: children check with KID_CHECK(), which reports the
 * failing line and exits.
 */
#define KID_VALS	16

struct kid_res {
	int line;			/* 0, or the line of a failed KID_CHECK */
	long long v[KID_VALS];		/* what the child measured */
	char msg[200];
};

struct kid {
	pid_t pid;			/* 0: slot free */
	int res_fd;			/* read end of the report pipe */
	int cmd_fd;			/* write end of the command pipe */
};

#define MAX_KIDS	4

FIXTURE(budget) {
	char saved[ARRAY_SIZE(saved_params)][32];
	bool have_saved;
	long long soft0, hard0;		/* as found at setup: the load-time values */
	struct kid kids[MAX_KIDS];
};

/* In a child: its ends of the pipes. */
static int kid_res_fd = -1, kid_cmd_fd = -1;

static void kid_report(const struct kid_res *r)
{
	if (write(kid_res_fd, r, sizeof(*r)) != (ssize_t)sizeof(*r))
		_exit(3);
}

/*
 * In a child: wait for the parent's go.  EOF (the parent reaps the child,
 * or gave up) is a go too: the child then runs to its end and exits.
 */
static void kid_wait(void)
{
	ssize_t n;
	char c;

	do {
		n = read(kid_cmd_fd, &c, 1);
	} while (n < 0 && errno == EINTR);
}

static void __attribute__((noreturn, format(printf, 3, 4)))
kid_fail(struct kid_res *r, int line, const char *fmt, ...)
{
	va_list ap;

	r->line = line;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	kid_report(r);
	_exit(1);
}

#define KID_CHECK(r, cond, fmt, ...) do {					\
	if (!(cond))								\
		kid_fail(r, __LINE__, "%s: " fmt, #cond, ##__VA_ARGS__);	\
} while (0)

/* Effective capabilities: get (set false) or set to exactly *@mask. */
static int caps_io(bool set, uint64_t *mask)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (set) {
		data[0].effective = data[0].permitted = (uint32_t)*mask;
		data[1].effective = data[1].permitted = (uint32_t)(*mask >> 32);
	}
	if (syscall(set ? SYS_capset : SYS_capget, &hdr, data))
		return -errno;
	if (!set)
		*mask = data[0].effective | (uint64_t)data[1].effective << 32;
	return 0;
}

/*
 * Become @uid (real, effective, saved; gid likewise, no supplementary
 * groups) keeping exactly the capabilities @caps, and dumpable again (so
 * that /proc/self is ours, e.g. uid_map).
 */
static int become_user(uid_t uid, uint64_t caps)
{
	uint64_t eff;
	int ret;

	if (setgroups(0, NULL) || setresgid(uid, uid, uid))
		return -errno;
	if (caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0))
		return -errno;
	if (setresuid(uid, uid, uid))
		return -errno;
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		return -errno;
	ret = caps_io(true, &caps) ?: caps_io(false, &eff);
	if (ret)
		return ret;
	if (eff != caps || getuid() != uid || geteuid() != uid)
		return -EPERM;
	return 0;
}

typedef void (*kid_fn)(void *arg);

/* Fork a child that runs @fn(@arg) as @uid with capabilities @caps. */
static int kid_start(FIXTURE_DATA(budget) *self, struct kid **out, uid_t uid,
		     uint64_t caps, kid_fn fn, void *arg)
{
	struct kid *k = NULL;
	int res[2], cmd[2], i, ret;
	pid_t pid;

	for (i = 0; i < MAX_KIDS && !k; i++)
		if (!self->kids[i].pid)
			k = &self->kids[i];
	if (!k)
		return -EBUSY;
	if (pipe2(res, O_CLOEXEC))
		return -errno;
	if (pipe2(cmd, O_CLOEXEC)) {
		ret = -errno;
		close(res[0]);
		close(res[1]);
		return ret;
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(res[0]);
		close(res[1]);
		close(cmd[0]);
		close(cmd[1]);
		return ret;
	}
	if (pid == 0) {
		struct kid_res r = { 0 };

		/* Other children must see EOF when the parent lets go. */
		for (i = 0; i < MAX_KIDS; i++) {
			if (self->kids[i].pid) {
				close(self->kids[i].res_fd);
				close(self->kids[i].cmd_fd);
			}
		}
		close(res[0]);
		close(cmd[1]);
		kid_res_fd = res[1];
		kid_cmd_fd = cmd[0];
		ret = become_user(uid, caps);
		if (ret)
			kid_fail(&r, __LINE__, "cannot become uid %u with caps %#llx: %s",
				 uid, (unsigned long long)caps, strerror(-ret));
		fn(arg);
		_exit(0);
	}
	close(res[1]);
	close(cmd[0]);
	k->pid = pid;
	k->res_fd = res[0];
	k->cmd_fd = cmd[1];
	*out = k;
	return 0;
}

/* The child's next report: 0, -EPIPE (it exited without one), -ETIMEDOUT. */
static int kid_result(struct kid *k, struct kid_res *r)
{
	struct pollfd pfd = { .fd = k->res_fd, .events = POLLIN };
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(*r)) {
		n = poll(&pfd, 1, KID_WAIT_S * 1000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -ETIMEDOUT;
		n = read(k->res_fd, (char *)r + got, sizeof(*r) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -EPIPE;
		got += n;
	}
	return 0;
}

static int kid_go(struct kid *k)
{
	return write(k->cmd_fd, "g", 1) == 1 ? 0 : -errno;
}

/*
 * Let the child go (EOF on its command pipe) and reap it, SIGKILLing it
 * after @timeout_s seconds: 0 with *status, or -ETIMEDOUT (killed and
 * reaped), or -errno.
 */
static int kid_reap(struct kid *k, int timeout_s, int *status)
{
	int64_t end = kt_now_ns() + timeout_s * KT_NSEC;
	int ret = 0;
	pid_t p;

	if (!k->pid)
		return -ECHILD;
	close(k->cmd_fd);
	for (;;) {
		p = waitpid(k->pid, status, WNOHANG);
		if (p == k->pid)
			break;
		if (p < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		if (kt_now_ns() > end) {
			kill(k->pid, SIGKILL);
			waitpid(k->pid, status, 0);
			ret = -ETIMEDOUT;
			break;
		}
		kt_sleep_us(1000);
	}
	close(k->res_fd);
	k->pid = 0;
	return ret;
}

/* Next report of child @k into @r, which must show no failed check. */
#define ASSERT_KID_REPORT(k, r) do {						\
	int __ret = kid_result(k, r);						\
	ASSERT_EQ(0, __ret) TH_LOG("no report from child %d: %s",		\
				   (k)->pid, strerror(-__ret));			\
	ASSERT_EQ(0, (r)->line) TH_LOG("child %d, line %d: %s",		\
				       (k)->pid, (r)->line, (r)->msg);		\
} while (0)

/* Reap child @k, which must exit with status 0. */
#define ASSERT_KID_EXITS_0(k) do {						\
	int __st = 0, __ret = kid_reap(k, KID_WAIT_S, &__st);			\
	ASSERT_EQ(0, __ret) TH_LOG("reaping: %s", strerror(-__ret));		\
	ASSERT_TRUE(WIFEXITED(__st)) TH_LOG("child killed by signal %d",	\
					    WTERMSIG(__st));			\
	ASSERT_EQ(0, WEXITSTATUS(__st));					\
} while (0)

static int set_param_ll(const char *name, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	return kt_param_set(name, buf);
}

/* Set both byte limits; 0 or -errno. */
static int set_limits(long long soft, long long hard)
{
	return set_param_ll("user_bytes_soft", soft) ?: set_param_ll("user_bytes_hard", hard);
}

#define ASSERT_LIMITS(soft, hard) do {						\
	ASSERT_EQ(0, set_limits(soft, hard));					\
	ASSERT_EQ((long long)(soft), kt_param_get("user_bytes_soft"));		\
	ASSERT_EQ((long long)(hard), kt_param_get("user_bytes_hard"));		\
} while (0)

FIXTURE_SETUP(budget)
{
	for (size_t i = 0; i < ARRAY_SIZE(saved_params); i++) {
		char path[128];

		snprintf(path, sizeof(path), KT_PARAM_DIR "%s", saved_params[i]);
		ASSERT_LT(0, kt_read_file(path, self->saved[i], sizeof(self->saved[i])))
			TH_LOG("cannot read %s", path);
	}
	self->have_saved = true;
	self->soft0 = kt_param_get("user_bytes_soft");
	self->hard0 = kt_param_get("user_bytes_hard");
	ASSERT_LE(0, self->soft0);
	ASSERT_LE(0, self->hard0);
}

/*
 * No TH_LOG() after EXPECT_*() in a teardown: after a failed ASSERT in the
 * test, an older harness would print it whatever the outcome.
 */
FIXTURE_TEARDOWN(budget)
{
	int status, ret;

	for (int i = 0; i < MAX_KIDS; i++)
		if (self->kids[i].pid)
			kid_reap(&self->kids[i], 10, &status);
	if (!self->have_saved)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(saved_params); i++) {
		ret = kt_param_set(saved_params[i], self->saved[i]);
		if (ret)
			TH_LOG("cannot restore %s=%s", saved_params[i], self->saved[i]);
		EXPECT_EQ(0, ret);
	}
}

/*
 * Create channels of @esz x @cap until one fails or @max exist: how many
 * were created (their descriptors in @fds), the failure in *@err (0 if
 * none failed).  Plain channels (kt_create(), whatever KCHAN_FASTPATH says):
 * the costs measured here are a plain ring's.
 */
static int fill(int *fds, int max, uint32_t esz, uint64_t cap, int *err)
{
	int n, fd;

	*err = 0;
	for (n = 0; n < max; n++) {
		fd = kt_create(esz, cap, 0);
		if (fd < 0) {
			*err = fd;
			break;
		}
		fds[n] = fd;
	}
	return n;
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* A child that creates channels until one fails, reports, and waits. */
struct fill_args {
	uint32_t esz;
	uint64_t cap;
	int max;
};

#define FILL_MAX	64

static void kid_fill(void *arg)
{
	const struct fill_args *a = arg;
	struct kid_res r = { 0 };
	int fds[FILL_MAX], n, err;

	n = fill(fds, a->max < FILL_MAX ? a->max : FILL_MAX, a->esz, a->cap, &err);
	r.v[0] = n;
	r.v[1] = err;
	kid_report(&r);
	kid_wait();
	close_all(fds, n);
}

/*
 * Run kid_fill as @uid with @caps: the count in *@n, the failure in *@err.
 * The child holds its channels until reaped.
 */
#define RUN_FILL(uid, caps, args, n, err) do {					\
	struct kid *__k;							\
	struct kid_res __r;							\
	ASSERT_EQ(0, kid_start(self, &__k, uid, caps, kid_fill, args));	\
	ASSERT_KID_REPORT(__k, &__r);						\
	*(n) = __r.v[0];							\
	*(err) = __r.v[1];							\
	ASSERT_KID_EXITS_0(__k);						\
} while (0)

/* Rule: a creation beyond user_bytes_soft fails with -ENOSPC. */

#define FAILED_TRIES	20

/*
 * Uid 1000 at the soft limit: 7 rings of 1 MiB, then -ENOSPC; failures
 * leave no descriptor and no budget behind, a channel that fits in what
 * is left still works, and closing one ring makes room for one more.
 */
static void kid_soft_limit(void *arg)
{
	static unsigned char elem[RING_ESZ];
	struct kid_res r = { 0 };
	int fds[FILL_MAX], n, err, fd, lowest, i;

	(void)arg;
	n = fill(fds, 32, RING_ESZ, RING_CAP, &err);
	r.v[0] = n;
	r.v[1] = err;
	kid_report(&r);
	kid_wait();
	KID_CHECK(&r, n == RINGS_IN_SOFT && err == -ENOSPC, "%d rings, then %d", n, err);

	/* Many more failures, while the parent watches the allocations. */
	lowest = kt_lowest_free_fd();
	for (i = 0; i < FAILED_TRIES; i++) {
		fd = kt_create(RING_ESZ, RING_CAP, KCHAN_CLOEXEC);
		KID_CHECK(&r, fd == -ENOSPC, "failed creation %d returned %d", i, fd);
	}
	KID_CHECK(&r, kt_lowest_free_fd() == lowest, "lowest free fd %d, was %d",
		  kt_lowest_free_fd(), lowest);
	kid_report(&r);
	kid_wait();

	/* What is left under 8 MiB (1 MiB less 7 objects) still holds 512 KiB. */
	fd = kt_create(RING_ESZ, RING_CAP / 2, 0);
	r.v[2] = fd < 0 ? fd : 0;
	if (fd >= 0)
		close(fd);
	/* The budget is back as it was: closing one ring makes room for one. */
	close(fds[0]);
	fds[0] = kt_create(RING_ESZ, RING_CAP, 0);
	r.v[3] = fds[0] < 0 ? fds[0] : 0;
	KID_CHECK(&r, fds[0] >= 0, "after closing one ring: %s", strerror(-fds[0]));
	fd = kt_create(RING_ESZ, RING_CAP, 0);
	r.v[4] = fd < 0 ? fd : 0;
	if (fd >= 0)
		close(fd);
	/* Its channels still work. */
	r.v[5] = kchan_try_send(fds[0], elem);
	kid_report(&r);
	close_all(fds, n);
}

TEST_F(budget, soft_limit_bounds_creation)
{
	struct fill_args rings = { RING_ESZ, RING_CAP, 32 };
	long long before, after;
	struct kid_res r;
	struct kid *a;
	int n, err;

	ASSERT_LIMITS(SOFT, HARD);
	ASSERT_EQ(0, kid_start(self, &a, UID_A, 0, kid_soft_limit, NULL));
	ASSERT_KID_REPORT(a, &r);
	TH_LOG("uid %d, soft %lld: %lld rings of 1 MiB, then %s", UID_A, SOFT,
	       r.v[0], strerror(-r.v[1]));
	ASSERT_EQ(RINGS_IN_SOFT, r.v[0]);
	ASSERT_EQ(-ENOSPC, r.v[1]);

	/* Meanwhile another user has a budget of its own, untouched. */
	RUN_FILL(UID_B, 0, &rings, &n, &err);
	TH_LOG("bystander uid %d meanwhile: %d rings, then %s", UID_B, n, strerror(-err));
	EXPECT_EQ(RINGS_IN_SOFT, n);
	EXPECT_EQ(-ENOSPC, err);

	/* Failed creations allocate nothing: the budget is checked first. */
	before = kt_allocations();
	ASSERT_LE(0, before);
	ASSERT_EQ(0, kid_go(a));
	ASSERT_KID_REPORT(a, &r);
	after = kt_allocations();
	TH_LOG("%d failed creations: allocations %+lld", FAILED_TRIES, after - before);
	EXPECT_EQ(0, after - before);

	ASSERT_EQ(0, kid_go(a));
	ASSERT_KID_REPORT(a, &r);
	EXPECT_EQ(0, r.v[2]) TH_LOG("512 KiB ring in the rest: %s", strerror(-r.v[2]));
	EXPECT_EQ(0, r.v[3]);
	EXPECT_EQ(-ENOSPC, r.v[4]) TH_LOG("second ring after closing one: %s",
					  strerror(-r.v[4]));
	EXPECT_EQ(0, r.v[5]) TH_LOG("send: %s", strerror(-r.v[5]));
	ASSERT_KID_EXITS_0(a);

	/* All of it back once the child is gone. */
	RUN_FILL(UID_A, 0, &rings, &n, &err);
	EXPECT_EQ(RINGS_IN_SOFT, n);
	EXPECT_EQ(-ENOSPC, err);
}

/*
 * The channel object: "one byte" channels (elem 1, capacity 1) until the
 * soft limit tells its size, SOFT / (object + 1) of them; then rings of
 * other sizes fit exactly as ring + object predicts.
 */
#define OBJ_SOFT	(256 * KiB)
#define OBJ_FDS		3000

static void kid_object_size(void *arg)
{
	static const struct { uint32_t esz; uint64_t cap; } rings[] = {
		{ 1, 1 }, { 4096, 1 }, { 1024, 16 }, { 4096, 16 }, { 8, 0 }, { 65536, 0 },
	};
	static int fds[OBJ_FDS];
	struct kid_res r = { 0 };
	int n, err;

	(void)arg;
	for (size_t i = 0; i < ARRAY_SIZE(rings); i++) {
		n = fill(fds, OBJ_FDS, rings[i].esz, rings[i].cap, &err);
		KID_CHECK(&r, err == -ENOSPC, "ring %u x %llu: %d, then %d", rings[i].esz,
			  (unsigned long long)rings[i].cap, n, err);
		r.v[i] = n;
		close_all(fds, n);
	}
	kid_report(&r);
}

TEST_F(budget, channel_costs_ring_plus_object)
{
	static const long long rings[] = { 1, 4096, 16 * KiB, 64 * KiB, 0, 0 };
	struct rlimit rl = { OBJ_FDS + 64, OBJ_FDS + 64 };
	long long lo, hi, want_lo, want_hi;
	struct kid_res r;
	struct kid *k;

	/* Enough descriptors for thousands of small channels (inherited). */
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	ASSERT_LIMITS(OBJ_SOFT, 0);
	ASSERT_EQ(0, kid_start(self, &k, UID_A, 0, kid_object_size, NULL));
	ASSERT_KID_REPORT(k, &r);
	ASSERT_KID_EXITS_0(k);
	/* n = floor(SOFT / (obj + 1)): obj + 1 in (SOFT / (n + 1), SOFT / n]. */
	ASSERT_LT(0, r.v[0]);
	lo = OBJ_SOFT / (r.v[0] + 1);
	hi = OBJ_SOFT / r.v[0] - 1;
	TH_LOG("%lld one-byte channels in %lld: the object is %lld to %lld bytes",
	       r.v[0], OBJ_SOFT, lo, hi);
	EXPECT_LT(0, hi);
	EXPECT_GT(OBJ_MAX, hi);
	for (size_t i = 1; i < ARRAY_SIZE(rings); i++) {
		want_lo = OBJ_SOFT / (rings[i] + hi > 0 ? rings[i] + hi : 1);
		want_hi = OBJ_SOFT / (rings[i] + lo > 0 ? rings[i] + lo : 1);
		TH_LOG("ring %lld: %lld channels (expected %lld to %lld)",
		       rings[i], r.v[i], want_lo, want_hi);
		EXPECT_LE(want_lo, r.v[i]);
		EXPECT_GE(want_hi, r.v[i]);
	}
}

/*
 * Rule: the hard limit bounds creation too, the lower of the two binds,
 * and 0 is no limit.
 */
TEST_F(budget, hard_limit_and_zero)
{
	static const struct { long long soft, hard; int want; } cases[] = {
		{ SOFT, 0, RINGS_IN_SOFT },
		{ 0, SOFT, RINGS_IN_SOFT },
		{ 2 * SOFT, SOFT, RINGS_IN_SOFT },
		{ SOFT, 2 * SOFT, RINGS_IN_SOFT },
		{ 0, 0, -1 },			/* no limit: all 12 */
	};
	struct fill_args twelve = { RING_ESZ, RING_CAP, 12 };
	int n, err;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		ASSERT_LIMITS(cases[i].soft, cases[i].hard);
		RUN_FILL(UID_A, 0, &twelve, &n, &err);
		TH_LOG("soft %lld hard %lld: %d rings of 1 MiB, then %s",
		       cases[i].soft, cases[i].hard, n, err ? strerror(-err) : "none tried");
		if (cases[i].want < 0) {
			EXPECT_EQ(12, n);
			EXPECT_EQ(0, err);
		} else {
			EXPECT_EQ(cases[i].want, n);
			EXPECT_EQ(-ENOSPC, err);
		}
	}
}

/* Rule: CAP_SYS_RESOURCE or CAP_SYS_ADMIN exempts a task; others do not. */
TEST_F(budget, privileged_tasks_exempt)
{
	static const struct { uint64_t caps; const char *name; int want; } cases[] = {
		{ 1ULL << CAP_SYS_RESOURCE, "CAP_SYS_RESOURCE", 12 },
		{ 1ULL << CAP_SYS_ADMIN, "CAP_SYS_ADMIN", 12 },
		{ 1ULL << CAP_SYS_NICE | 1ULL << CAP_IPC_LOCK, "CAP_SYS_NICE|CAP_IPC_LOCK",
		  RINGS_IN_SOFT },
		{ 0, "none", RINGS_IN_SOFT },
	};
	struct fill_args twelve = { RING_ESZ, RING_CAP, 12 };
	int fds[12], n, err;

	ASSERT_LIMITS(SOFT, HARD);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		RUN_FILL(UID_A, cases[i].caps, &twelve, &n, &err);
		TH_LOG("uid %d with %s: %d rings of 1 MiB, then %s", UID_A, cases[i].name,
		       n, err ? strerror(-err) : "none tried");
		EXPECT_EQ(cases[i].want, n);
		EXPECT_EQ(cases[i].want == 12 ? 0 : -ENOSPC, err);
	}
	/* And root itself. */
	n = fill(fds, 12, RING_ESZ, RING_CAP, &err);
	close_all(fds, n);
	EXPECT_EQ(12, n) TH_LOG("root: %d rings, then %s", n, strerror(-err));
}

/*
 * Rule: parked elements count against the hard limit, not the soft one.
 *
 * The child creates two unbuffered channels first, then fills its budget
 * to the soft limit (rings of 1 MiB, 64 KiB, 4 KiB, 1 byte until each
 * fails), which leaves between hard - soft and hard - soft + one object of
 * room.  Senders that block park one element each until that is spent;
 * the next gets -ENOSPC, and so do a blocked receive and select.  Closing
 * the channel fails the parked senders with -EPIPE and returns their
 * bytes.
 */
#define MAX_SENDERS	64

struct park_args {
	uint32_t esz;
	int senders;
};

static void kid_park(void *arg)
{
	static const struct { uint32_t esz; uint64_t cap; } fillers[] = {
		{ RING_ESZ, RING_CAP }, { 4096, 16 }, { 4096, 1 }, { 1, 1 },
	};
	static unsigned char elem[65536], got[65536];
	static struct kt_worker w[MAX_SENDERS];
	const struct park_args *a = arg;
	struct kid_res r = { 0 };
	struct kchan_case cases[2];
	struct kchan_info info;
	int fds[200], n = 0, k, err, u, u2, ndone, nenospc, nepipe, i;
	int64_t end;

	u = kchan_make(a->esz, 0, 0);
	u2 = kchan_make(a->esz, 0, 0);
	KID_CHECK(&r, u >= 0 && u2 >= 0, "%d %d", u, u2);
	for (size_t f = 0; f < ARRAY_SIZE(fillers); f++) {
		k = fill(fds + n, 64, fillers[f].esz, fillers[f].cap, &err);
		KID_CHECK(&r, err == -ENOSPC, "filler %zu: %d, then %d", f, k, err);
		r.v[f] = k;
		n += k;
	}

	kt_fill(elem, a->esz, 7);
	for (i = 0; i < a->senders; i++) {
		kt_worker_init(&w[i], u, KT_SEND_TIMEOUT);
		w[i].buf = elem;
		w[i].timeout_ns = 20 * KT_NSEC;
		KID_CHECK(&r, kt_worker_start(&w[i]) == 0, "sender %d", i);
	}
	/* Every sender either blocked or returned. */
	end = kt_now_ns() + KT_WAIT_NS;
	for (;;) {
		ndone = 0;
		for (i = 0; i < a->senders; i++)
			ndone += atomic_load(&w[i].done);
		KID_CHECK(&r, kt_info(u, &info) == 0, "info");
		if ((int)info.sendq + ndone == a->senders)
			break;
		KID_CHECK(&r, kt_now_ns() < end, "sendq %u, %d returned", info.sendq, ndone);
		kt_sleep_us(1000);
	}
	nenospc = 0;
	for (i = 0; i < a->senders; i++)
		if (atomic_load(&w[i].done) && w[i].ret == -ENOSPC)
			nenospc++;
	r.v[4] = info.sendq;
	r.v[5] = nenospc;
	r.v[6] = ndone - nenospc;	/* anything else: wrong */

	/* At the hard limit a receive or select cannot block either. */
	r.v[7] = kchan_recv_timeout(u2, got, 2 * KT_NSEC);
	cases[0] = (struct kchan_case){ .ch = u2, .op = KCHAN_CASE_RECV, .elem = got };
	cases[1] = cases[0];
	r.v[8] = kchan_select(cases, 2, 2 * KT_NSEC);
	/* Nor does creation work. */
	k = kchan_make(1, 0, 0);
	r.v[9] = k < 0 ? k : 0;
	if (k >= 0)
		close(k);
	KID_CHECK(&r, kt_info(u, &info) == 0, "info");
	r.v[10] = info.sendq;

	/* Closing the channel releases the parked senders. */
	KID_CHECK(&r, kchan_close(u) == 0, "close");
	nepipe = 0;
	for (i = 0; i < a->senders; i++) {
		KID_CHECK(&r, kt_worker_join(&w[i]) == 0, "join %d", i);
		if (w[i].ret == -EPIPE)
			nepipe++;
	}
	r.v[11] = nepipe;
	/* And their bytes: a receive can park again (and time out). */
	r.v[12] = kchan_recv_timeout(u2, got, 200 * KT_MSEC);
	kid_report(&r);
	close_all(fds, n);
	close(u);
	close(u2);
}

static void park_case(struct __test_metadata *_metadata, FIXTURE_DATA(budget) *self,
		      const struct park_args *a, long long soft, long long hard,
		      int want_lo, int want_hi)
{
	long long ring_bytes, parked;
	struct kid_res r;
	struct kid *k;

	ASSERT_LIMITS(soft, hard);
	ASSERT_EQ(0, kid_start(self, &k, UID_A, 0, kid_park, (void *)a));
	ASSERT_KID_REPORT(k, &r);
	ASSERT_KID_EXITS_0(k);
	ring_bytes = r.v[0] * RING_BYTES + r.v[1] * 64 * KiB + r.v[2] * 4 * KiB + r.v[3];
	parked = r.v[4];
	TH_LOG("soft %lld, hard %lld: filled with %lld + %lld + %lld + %lld rings (%lld ring bytes)",
	       soft, hard, r.v[0], r.v[1], r.v[2], r.v[3], ring_bytes);
	TH_LOG("%d senders of %u bytes: %lld parked, %lld -ENOSPC, %lld other",
	       a->senders, a->esz, parked, r.v[5], r.v[6]);
	TH_LOG("then receive %s, select %s, create %s; %lld still parked, %lld -EPIPE on close, receive %s",
	       strerror(-r.v[7]), strerror(-r.v[8]), strerror(-r.v[9]), r.v[10], r.v[11],
	       strerror(-r.v[12]));
	/* The filler reached the soft limit: only the last object is unknown. */
	EXPECT_GE(soft, ring_bytes);
	EXPECT_LT(soft - (r.v[0] + r.v[1] + r.v[2] + r.v[3] + 3) * OBJ_MAX, ring_bytes);
	EXPECT_LE(1, r.v[5]);
	EXPECT_EQ(0, r.v[6]);
	EXPECT_EQ(a->senders, parked + r.v[5]);
	EXPECT_LE(want_lo, parked);
	EXPECT_GE(want_hi, parked);
	EXPECT_GE(hard, ring_bytes + parked * a->esz);
	EXPECT_EQ(-ENOSPC, r.v[7]);
	EXPECT_EQ(-ENOSPC, r.v[8]);
	EXPECT_EQ(-ENOSPC, r.v[9]);
	EXPECT_EQ(parked, r.v[10]);
	EXPECT_EQ(parked, r.v[11]);
	EXPECT_EQ(-ETIMEDOUT, r.v[12]);
}

/*
 * 64 KiB elements, hard = soft + 1 MiB: the room is 1 MiB to 1 MiB + one
 * object (< 4 KiB), each parked element 64 KiB and a small header: 15 or
 * 16 park.
 */
TEST_F_TIMEOUT(budget, parked_elements_bound_by_hard, 120)
{
	static const struct park_args a = { .esz = 65536, .senders = 24 };

	park_case(_metadata, self, &a, SOFT, SOFT + 1 * MiB, 15, 16);
}

/*
 * 8-byte elements cost 256 bytes each parked: with 8 KiB of room (to
 * 8 KiB + one object), 32 to 47 park, not the hundreds 8 bytes each
 * would allow.
 */
TEST_F_TIMEOUT(budget, small_parked_elements_cost_256, 120)
{
	static const struct park_args a = { .esz = 8, .senders = MAX_SENDERS };

	park_case(_metadata, self, &a, SOFT, SOFT + 8 * KiB, 32, 47);
}

/* Likewise 224-byte elements, the largest kept inline in 256 bytes. */
TEST_F_TIMEOUT(budget, parked_224_byte_elements_cost_256, 120)
{
	static const struct park_args a = { .esz = 224, .senders = MAX_SENDERS };

	park_case(_metadata, self, &a, SOFT, SOFT + 8 * KiB, 32, 47);
}

/*
 * Rule: with the default limits, one user cannot take more than
 * user_bytes_soft with channels, and a bystander keeps its memory.
 */
static long long proc_value(const char *path, const char *key)
{
	static char buf[16384];
	char *p;

	if (kt_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	for (p = buf; (p = strstr(p, key)); p++)
		if (p == buf || p[-1] == '\n')
			return strtoll(p + strlen(key), NULL, 10);
	return -1;
}

static long long meminfo_bytes(const char *key)
{
	long long kb = proc_value("/proc/meminfo", key);

	return kb < 0 ? kb : kb * 1024;
}

#define BIG_ESZ		65536
#define BIG_CAP		1024
#define BIG_RING	((long long)BIG_ESZ * BIG_CAP)	/* 64 MiB */
#define HOG_BYTES	(200 * MiB)
#define MEM_SLACK	(16 * MiB)

static void kid_hog(void *arg)
{
	size_t size = *(const long long *)arg;
	unsigned char *p = malloc(size);

	if (!p)
		_exit(2);
	memset(p, 0x5a, size);
	for (size_t i = 0; i < size; i += 4096)
		if (p[i] != 0x5a)
			_exit(3);
	free(p);
}

TEST_F(budget, defaults_are_fractions_of_ram)
{
	long long ram = meminfo_bytes("MemTotal:");

	ASSERT_LT(0, ram);
	TH_LOG("MemTotal %lld: user_bytes_soft %lld, user_bytes_hard %lld",
	       ram, self->soft0, self->hard0);
	EXPECT_EQ(ram / 8, self->soft0);
	EXPECT_EQ(ram / 4, self->hard0);
}

TEST_F_TIMEOUT(budget, bystander_survives_a_greedy_user, 300)
{
	struct fill_args greedy = { BIG_ESZ, BIG_CAP, 0 };
	long long ram = meminfo_bytes("MemTotal:");
	long long avail0, avail1, ooms0, ooms1, hog = HOG_BYTES;
	struct kid *attacker, *bystander;
	struct kid_res r;

	ASSERT_LT(0, ram);
	if (ram < 512 * MiB || ram > 2048 * MiB)
		SKIP(return, "MemTotal %lld MiB: the sizes here are for a 1 GiB guest",
		     ram / MiB);
	/* Back to the limits the module picked at load time. */
	ASSERT_LIMITS(self->soft0, self->hard0);
	ASSERT_LT(0, self->soft0);
	/* One channel more than the soft limit allows, should it not hold. */
	greedy.max = self->soft0 / BIG_RING + 1;

	ooms0 = proc_value("/proc/vmstat", "oom_kill ");
	avail0 = meminfo_bytes("MemAvailable:");
	ASSERT_LT(0, avail0);
	ASSERT_EQ(0, kid_start(self, &attacker, UID_A, 0, kid_fill, &greedy));
	ASSERT_KID_REPORT(attacker, &r);
	avail1 = meminfo_bytes("MemAvailable:");
	TH_LOG("MemTotal %lld MiB, soft %lld MiB: %lld rings of 64 MiB, then %s; MemAvailable %lld -> %lld MiB",
	       ram / MiB, self->soft0 / MiB, r.v[0], r.v[1] ? strerror(-r.v[1]) : "none tried",
	       avail0 / MiB, avail1 / MiB);
	EXPECT_GE(self->soft0 / BIG_RING, r.v[0]);
	if (self->soft0 >= BIG_RING + OBJ_MAX)
		EXPECT_LE(1, r.v[0]);
	EXPECT_EQ(-ENOSPC, r.v[1]);
	EXPECT_GE(self->soft0 + MEM_SLACK, avail0 - avail1);

	/* While the attacker holds its channels, another user's 200 MiB. */
	if (hog > ram / 4)
		hog = ram / 4;
	ASSERT_EQ(0, kid_start(self, &bystander, UID_B, 0, kid_hog, &hog));
	ASSERT_KID_EXITS_0(bystander);
	ooms1 = proc_value("/proc/vmstat", "oom_kill ");
	/* Without CONFIG_VM_EVENT_COUNTERS only the exit statuses tell. */
	if (ooms0 < 0)
		TH_LOG("bystander touched %lld MiB (no oom_kill counter)", hog / MiB);
	else
		TH_LOG("bystander touched %lld MiB; oom_kill %lld -> %lld",
		       hog / MiB, ooms0, ooms1);
	EXPECT_EQ(ooms0, ooms1);
	/* Nor was the attacker killed: it exits when let go. */
	ASSERT_KID_EXITS_0(attacker);
}

/*
 * Rule: a user namespace is charged to the user who created it.  Uid 1000
 * holds 4 rings of 1 MiB; a child of it in a new user namespace, root
 * there, gets only the 3 that remain of the 8 MiB.
 */
enum { NS_OK, NS_UNSUPPORTED, NS_SETUP_FAILED };

static void kid_userns(void *arg)
{
	struct kid_res r = { 0 };
	int fds[FILL_MAX], own[4], p[2], n, err, status, i;
	long long res[4];
	pid_t pid;

	(void)arg;
	for (i = 0; i < 4; i++) {
		own[i] = kt_create(RING_ESZ, RING_CAP, 0);
		KID_CHECK(&r, own[i] >= 0, "ring %d: %d", i, own[i]);
	}
	KID_CHECK(&r, pipe(p) == 0, "pipe");
	pid = fork();
	KID_CHECK(&r, pid >= 0, "fork");
	if (pid == 0) {
		memset(res, 0, sizeof(res));
		close(p[0]);
		if (unshare(CLONE_NEWUSER)) {
			res[0] = errno == EPERM || errno == EINVAL || errno == ENOSPC ?
				 NS_UNSUPPORTED : NS_SETUP_FAILED;
			res[1] = -errno;
		} else if ((err = kt_write_file("/proc/self/setgroups", "deny")) ||
			   (err = kt_write_file("/proc/self/uid_map", "0 1000 1")) ||
			   (err = kt_write_file("/proc/self/gid_map", "0 1000 1"))) {
			res[0] = NS_SETUP_FAILED;
			res[1] = err;
		} else if (getuid() != 0 || getgid() != 0) {
			res[0] = NS_SETUP_FAILED;
			res[1] = -EPERM;
		} else {
			n = fill(fds, 16, RING_ESZ, RING_CAP, &err);
			res[2] = n;
			res[3] = err;
		}
		_exit(write(p[1], res, sizeof(res)) == sizeof(res) ? 0 : 1);
	}
	close(p[1]);
	n = read(p[0], res, sizeof(res));
	close(p[0]);
	KID_CHECK(&r, kt_waitpid(pid, &status) == 0, "waitpid");
	KID_CHECK(&r, n == sizeof(res) && WIFEXITED(status) && !WEXITSTATUS(status),
		  "grandchild: read %d, status %#x", n, status);
	for (i = 0; i < 4; i++)
		r.v[i] = res[i];
	/* The namespace's channels are gone with it: 3 again, out here. */
	n = fill(fds, 16, RING_ESZ, RING_CAP, &err);
	r.v[4] = n;
	r.v[5] = err;
	close_all(fds, n);
	close_all(own, 4);
	kid_report(&r);
}

TEST_F(budget, user_namespace_shares_the_owners_budget)
{
	struct kid_res r;
	struct kid *k;

	ASSERT_LIMITS(SOFT, HARD);
	ASSERT_EQ(0, kid_start(self, &k, UID_A, 0, kid_userns, NULL));
	ASSERT_KID_REPORT(k, &r);
	ASSERT_KID_EXITS_0(k);
	if (r.v[0] == NS_UNSUPPORTED)
		SKIP(return, "unshare(CLONE_NEWUSER) as uid %d: %s", UID_A, strerror(-r.v[1]));
	ASSERT_EQ(NS_OK, r.v[0]) TH_LOG("user namespace setup: %s", strerror(-r.v[1]));
	TH_LOG("uid %d holds 4 rings of 1 MiB; root of its user namespace: %lld more, then %s",
	       UID_A, r.v[2], r.v[3] ? strerror(-r.v[3]) : "none tried");
	EXPECT_EQ(RINGS_IN_SOFT - 4, r.v[2]);
	EXPECT_EQ(-ENOSPC, r.v[3]);
	EXPECT_EQ(RINGS_IN_SOFT - 4, r.v[4]);
	EXPECT_EQ(-ENOSPC, r.v[5]);
}

/*
 * The same with ids that do not map to uid 1000: root (of the initial
 * namespace) maps the namespace's ids 0-99 to host uids 200000-200099, the
 * grandchild becomes uid 0 there (host uid 200000) and still spends uid
 * 1000's budget: 1 ring.  Then it creates a namespace of its own (owned by
 * host uid 200000, below uid 1000's): the outermost owner still pays, 2
 * more rings and -ENOSPC.
 */
#define NS_HOST_BASE	200000

static void kid_userns_mapped(void *arg)
{
	long long res[6] = { 0 };
	struct kid_res r = { 0 };
	int own[4], fds[FILL_MAX], g2k[2], k2g[2], n, err, status, i;
	pid_t pid;
	char c;

	(void)arg;
	for (i = 0; i < 4; i++) {
		own[i] = kt_create(RING_ESZ, RING_CAP, 0);
		KID_CHECK(&r, own[i] >= 0, "ring %d: %d", i, own[i]);
	}
	KID_CHECK(&r, pipe(g2k) == 0 && pipe(k2g) == 0, "pipe");
	pid = fork();
	KID_CHECK(&r, pid >= 0, "fork");
	if (pid == 0) {
		close(g2k[0]);
		close(k2g[1]);
		res[0] = unshare(CLONE_NEWUSER) ? -errno : 0;
		if (write(g2k[1], res, sizeof(res)) != sizeof(res) || res[0])
			_exit(1);
		/* Root writes the maps meanwhile. */
		if (read(k2g[0], &c, 1) != 1)
			_exit(2);
		/* Dumpable again after the uid change: /proc/self/uid_map is ours. */
		if (setresgid(0, 0, 0) || setresuid(0, 0, 0) ||
		    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)) {
			res[0] = -errno;
		} else {
			n = fill(fds, 1, RING_ESZ, RING_CAP, &err);
			res[1] = n;
			res[2] = err;
			if (unshare(CLONE_NEWUSER))
				res[0] = -errno;
			else if ((err = kt_write_file("/proc/self/setgroups", "deny")) ||
				 (err = kt_write_file("/proc/self/uid_map", "0 0 1")) ||
				 (err = kt_write_file("/proc/self/gid_map", "0 0 1")))
				res[0] = err;
			else {
				n = fill(fds + res[1], 16, RING_ESZ, RING_CAP, &err);
				res[3] = n;
				res[4] = err;
			}
		}
		_exit(write(g2k[1], res, sizeof(res)) == sizeof(res) ? 0 : 3);
	}
	close(g2k[1]);
	close(k2g[0]);
	n = read(g2k[0], res, sizeof(res));
	KID_CHECK(&r, n == sizeof(res), "read %d", n);
	r.v[0] = res[0];	/* unshare */
	r.v[1] = pid;
	kid_report(&r);
	if (!res[0]) {
		kid_wait();
		KID_CHECK(&r, write(k2g[1], "g", 1) == 1, "write");
		n = read(g2k[0], res, sizeof(res));
		KID_CHECK(&r, n == sizeof(res), "read %d", n);
	}
	close(k2g[1]);
	close(g2k[0]);
	KID_CHECK(&r, kt_waitpid(pid, &status) == 0, "waitpid");
	KID_CHECK(&r, WIFEXITED(status) && WEXITSTATUS(status) <= 1, "status %#x", status);
	for (i = 0; i < 5; i++)
		r.v[2 + i] = res[i];
	close_all(own, 4);
	kid_report(&r);
}

TEST_F(budget, user_namespace_made_up_ids_share_the_budget)
{
	char path[64], map[64];
	struct kid_res r;
	struct kid *k;
	int ret;

	ASSERT_LIMITS(SOFT, HARD);
	ASSERT_EQ(0, kid_start(self, &k, UID_A, 0, kid_userns_mapped, NULL));
	ASSERT_KID_REPORT(k, &r);
	if (r.v[0] == -EPERM || r.v[0] == -EINVAL || r.v[0] == -ENOSPC) {
		ASSERT_KID_EXITS_0(k);
		SKIP(return, "unshare(CLONE_NEWUSER) as uid %d: %s", UID_A, strerror(-r.v[0]));
	}
	ASSERT_EQ(0, r.v[0]) TH_LOG("unshare: %s", strerror(-r.v[0]));
	snprintf(map, sizeof(map), "0 %d 100", NS_HOST_BASE);
	snprintf(path, sizeof(path), "/proc/%lld/uid_map", r.v[1]);
	ret = kt_write_file(path, map);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", path, strerror(-ret));
	snprintf(path, sizeof(path), "/proc/%lld/gid_map", r.v[1]);
	ret = kt_write_file(path, map);
	ASSERT_EQ(0, ret) TH_LOG("%s: %s", path, strerror(-ret));
	ASSERT_EQ(0, kid_go(k));
	ASSERT_KID_REPORT(k, &r);
	ASSERT_KID_EXITS_0(k);
	ASSERT_EQ(0, r.v[2]) TH_LOG("grandchild setup: %s", strerror(-r.v[2]));
	TH_LOG("uid %d holds 4 rings; as host uid %d in its namespace: %lld (%s); in a nested one: %lld more, then %s",
	       UID_A, NS_HOST_BASE, r.v[3], r.v[4] ? strerror(-r.v[4]) : "none failed",
	       r.v[5], r.v[6] ? strerror(-r.v[6]) : "none tried");
	EXPECT_EQ(1, r.v[3]);
	EXPECT_EQ(0, r.v[4]);
	EXPECT_EQ(RINGS_IN_SOFT - 5, r.v[5]);
	EXPECT_EQ(-ENOSPC, r.v[6]);
}

/*
 * Rule: channel ids count per budget.  Uid 1002's consecutive creations
 * get consecutive ids although root creates channels in between, and
 * root's likewise.
 */
static void kid_ids(void *arg)
{
	struct kid_res r = { 0 };
	int fds[3], i;

	(void)arg;
	for (i = 0; i < 3; i++) {
		if (i)
			kid_wait();
		fds[i] = kchan_make(8, 1, 0);
		KID_CHECK(&r, fds[i] >= 0, "channel %d: %d", i, fds[i]);
		r.v[i] = kt_chan_id(fds[i]);
		KID_CHECK(&r, r.v[i] > 0, "id %lld", r.v[i]);
		kid_report(&r);
	}
	close_all(fds, 3);
}

TEST_F(budget, channel_ids_count_per_user)
{
	long long root_ids[4];
	int root_fds[4], i;
	struct kid_res r;
	struct kid *k;

	ASSERT_EQ(0, kid_start(self, &k, UID_C, 0, kid_ids, NULL));
	ASSERT_KID_REPORT(k, &r);
	for (i = 0; i < 3; i++) {
		root_fds[i] = KT_MAKE_CHAN(8, 1, 0);
		root_ids[i] = kt_chan_id(root_fds[i]);
	}
	ASSERT_EQ(0, kid_go(k));
	ASSERT_KID_REPORT(k, &r);
	root_fds[3] = KT_MAKE_CHAN(8, 1, 0);
	root_ids[3] = kt_chan_id(root_fds[3]);
	ASSERT_EQ(0, kid_go(k));
	ASSERT_KID_REPORT(k, &r);
	ASSERT_KID_EXITS_0(k);
	close_all(root_fds, 4);

	TH_LOG("uid %d: ids %lld, %lld, %lld; root in between: %lld %lld %lld, then %lld",
	       UID_C, r.v[0], r.v[1], r.v[2], root_ids[0], root_ids[1], root_ids[2],
	       root_ids[3]);
	EXPECT_EQ(r.v[0] + 1, r.v[1]);
	EXPECT_EQ(r.v[1] + 1, r.v[2]);
	for (i = 1; i < 4; i++)
		EXPECT_EQ(root_ids[i - 1] + 1, root_ids[i]);
}

/* Rule: the allocation counter is root's only. */
static void kid_open_allocations(void *arg)
{
	struct kid_res r = { 0 };
	int fd = open(KT_ALLOCATIONS_PATH, O_RDONLY | O_CLOEXEC);

	(void)arg;
	r.v[0] = fd < 0 ? -errno : 0;
	if (fd >= 0)
		close(fd);
	kid_report(&r);
}

TEST_F(budget, allocations_readable_by_root_only)
{
	struct kid_res r;
	struct stat st;
	struct kid *k;

	ASSERT_EQ(0, stat(KT_ALLOCATIONS_PATH, &st));
	EXPECT_EQ(0400, st.st_mode & 07777) TH_LOG("mode %o", st.st_mode & 07777);
	EXPECT_EQ(0, st.st_uid);
	EXPECT_LE(0, kt_allocations());
	ASSERT_EQ(0, kid_start(self, &k, UID_A, 0, kid_open_allocations, NULL));
	ASSERT_KID_REPORT(k, &r);
	ASSERT_KID_EXITS_0(k);
	EXPECT_EQ(-EACCES, r.v[0]) TH_LOG("open as uid %d: %s", UID_A,
					  r.v[0] ? strerror(-r.v[0]) : "success");
}

/* Rule: max_channels_per_user still counts channels, bytes aside. */
TEST_F(budget, max_channels_per_user_still_applies)
{
	struct fill_args small = { 8, 4, 10 };
	int n, err;

	ASSERT_EQ(0, kt_param_set("max_channels_per_user", "3"));
	ASSERT_LIMITS(0, 0);
	RUN_FILL(UID_A, 0, &small, &n, &err);
	EXPECT_EQ(3, n);
	EXPECT_EQ(-ENOSPC, err) TH_LOG("channel 4: %s", err ? strerror(-err) : "created");
	ASSERT_LIMITS(SOFT, HARD);
	RUN_FILL(UID_A, 0, &small, &n, &err);
	EXPECT_EQ(3, n);
	EXPECT_EQ(-ENOSPC, err);
}

TEST_HARNESS_MAIN
