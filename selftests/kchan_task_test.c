// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: tasks (kchan_go(), kchan_join()), task groups and
 * cancellation by closing a channel.
 *
 * Tasks without a cgroup: the result comes back, NULL attributes, many
 * tasks at once, argument errors, errno left alone, a task joining itself.
 *
 * Tasks with a cgroup (cgroup v2 at /sys/fs/cgroup; skipped without it):
 * every bad path is rejected with the documented -errno before a thread
 * exists; a task started into a threaded cgroup of the process's domain
 * runs there from its first instruction (/proc/thread-self/cgroup,
 * cgroup.threads); cgroups the kernel refuses (another domain, the root
 * seen from a child domain, "domain invalid", a domain with domain
 * controllers on) give the kernel's -errno, fn never runs and no thread
 * stays behind.
 *
 * The cgroup fixture builds, for the test process P (each test runs in a
 * process of its own):
 *
 *	/sys/fs/cgroup/kchan-test-P		domain threaded, holds P
 *	/sys/fs/cgroup/kchan-test-P/child	threaded
 *	/sys/fs/cgroup/kchan-test-P-dom		domain, another domain
 *
 * and removes it all again, after moving P back to the root.
 *
 * Groups: waiting for all, tasks that start tasks, several waiters, free
 * while busy.  Cancellation: workers selecting on a "done" channel all
 * stop when it is closed, whether they wait for work or to deliver it.
 */
#include <dirent.h>
#include <grp.h>
#include <sys/stat.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

#define CG_ROOT		"/sys/fs/cgroup"
#define CG_PATH_MAX	160

/* How often a task function ran (each test is a process of its own). */
static atomic_int fn_calls;

static bool have_cgroup2(void)
{
	return access(CG_ROOT "/cgroup.controllers", F_OK) == 0;
}

/* Write @s to the file @path in one write(); 0 or -errno. */
static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	n = n < 0 ? -errno : 0;
	close(fd);
	return n;
}

static int write_int(const char *path, long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", v);
	return write_str(path, buf);
}

/* The calling thread's cgroup v2 line ("0::/path") of /proc/thread-self/cgroup. */
static int thread_cgroup(char *buf, size_t size)
{
	char all[1024], *line;
	int ret = kt_read_file("/proc/thread-self/cgroup", all, sizeof(all));

	if (ret < 0)
		return ret;
	for (line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strncmp(line, "0::", 3)) {
			snprintf(buf, size, "%s", line);
			return 0;
		}
	}
	return -ENOENT;
}

/* Threads of this process (entries of /proc/self/task), or -errno. */
static int nr_threads(void)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!dir)
		return -errno;
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/*
 * Wait until the process has @n threads again: a joined thread may stay
 * listed for a moment after pthread_join() returns (the kernel wakes the
 * joiner before it releases the task).  0 or -ETIMEDOUT.
 */
static int wait_nr_threads(int n)
{
	int64_t end = kt_now_ns() + KT_WAIT_NS;

	while (nr_threads() != n) {
		if (kt_now_ns() > end)
			return -ETIMEDOUT;
		kt_sleep_us(1000);
	}
	return 0;
}

/* Task functions. */

static void *fn_add_one(void *arg)
{
	atomic_fetch_add(&fn_calls, 1);
	return (void *)((uintptr_t)arg + 1);
}

/* Returns the task's cgroup line, malloc()ed (NULL on error). */
static void *fn_cgroup(void *arg)
{
	char *buf = malloc(CG_PATH_MAX);

	(void)arg;
	atomic_fetch_add(&fn_calls, 1);
	if (buf && thread_cgroup(buf, CG_PATH_MAX)) {
		free(buf);
		buf = NULL;
	}
	return buf;
}

static void *fn_tid(void *arg)
{
	(void)arg;
	atomic_fetch_add(&fn_calls, 1);
	return (void *)(uintptr_t)gettid();
}

/* Starts a task without attributes and returns what it returns. */
static void *fn_nested_cgroup(void *arg)
{
	struct kchan_task *task;
	void *res = NULL;

	(void)arg;
	if (kchan_go(&task, fn_cgroup, NULL, NULL) || kchan_join(task, &res))
		return NULL;
	return res;
}

/* Tasks without cgroups. */

TEST(go_join_returns_fn_result)
{
	struct kchan_task *task = NULL;
	void *res = NULL;

	ASSERT_EQ(0, kchan_go(&task, fn_add_one, (void *)41, NULL));
	ASSERT_NE(NULL, task);
	ASSERT_EQ(0, kchan_join(task, &res));
	EXPECT_EQ(42, (uintptr_t)res);
	EXPECT_EQ(1, atomic_load(&fn_calls));
}

TEST(join_without_result)
{
	struct kchan_task *task;

	ASSERT_EQ(0, kchan_go(&task, fn_add_one, NULL, NULL));
	ASSERT_EQ(0, kchan_join(task, NULL));
	EXPECT_EQ(1, atomic_load(&fn_calls));
}

/* A NULL attr and a NULL attr->cgroup: a new thread, in the caller's cgroup. */
TEST(null_attr_and_null_cgroup_stay_in_caller_cgroup)
{
	const struct kchan_task_attr null_cgroup = { .cgroup = NULL };
	const struct kchan_task_attr *attrs[] = { NULL, &null_cgroup };
	char mine[CG_PATH_MAX];
	struct kchan_task *task;
	void *res;

	ASSERT_EQ(0, thread_cgroup(mine, sizeof(mine)));
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, kchan_go(&task, fn_cgroup, NULL, attrs[i]));
		ASSERT_EQ(0, kchan_join(task, &res));
		ASSERT_NE(NULL, res);
		EXPECT_STREQ(mine, (char *)res);
		free(res);

		ASSERT_EQ(0, kchan_go(&task, fn_tid, NULL, attrs[i]));
		ASSERT_EQ(0, kchan_join(task, &res));
		EXPECT_NE(gettid(), (pid_t)(uintptr_t)res);
		EXPECT_NE(0, (uintptr_t)res);
	}
	EXPECT_EQ(4, atomic_load(&fn_calls));
}

TEST(many_tasks_at_once)
{
	enum { N = 64 };
	struct kchan_task *tasks[N];
	void *res;
	int i;

	for (i = 0; i < N; i++)
		ASSERT_EQ(0, kchan_go(&tasks[i], fn_add_one, (void *)(uintptr_t)(i * 10), NULL));
	for (i = N - 1; i >= 0; i--) {
		ASSERT_EQ(0, kchan_join(tasks[i], &res));
		EXPECT_EQ(i * 10 + 1, (uintptr_t)res);
	}
	EXPECT_EQ(N, atomic_load(&fn_calls));
}

TEST(invalid_arguments)
{
	struct kchan_task *task = kt_bad_ptr(0x1234);
	struct kchan_group *group = kt_bad_ptr(0x1234);
	int before = nr_threads();

	EXPECT_EQ(-EINVAL, kchan_go(NULL, fn_add_one, NULL, NULL));
	EXPECT_EQ(-EINVAL, kchan_go(&task, NULL, NULL, NULL));
	EXPECT_EQ(kt_bad_ptr(0x1234), task);
	EXPECT_EQ(-EINVAL, kchan_join(NULL, NULL));
	EXPECT_EQ(-EINVAL, kchan_group_new(NULL));
	EXPECT_EQ(-EINVAL, kchan_group_go(NULL, fn_add_one, NULL, NULL));
	EXPECT_EQ(-EINVAL, kchan_group_wait(NULL));
	EXPECT_EQ(0, kchan_group_free(NULL));
	ASSERT_EQ(0, kchan_group_new(&group));
	EXPECT_EQ(-EINVAL, kchan_group_go(group, NULL, NULL, NULL));
	EXPECT_EQ(0, kchan_group_wait(group));
	EXPECT_EQ(0, kchan_group_free(group));
	EXPECT_EQ(before, nr_threads());
	EXPECT_EQ(0, atomic_load(&fn_calls));
}

TEST(errno_is_left_alone)
{
	const struct kchan_task_attr bad = { .cgroup = "/kchan-no-such-directory" };
	struct kchan_group *group;
	struct kchan_task *task;

	errno = 4321;
	EXPECT_EQ(-ENOENT, kchan_go(&task, fn_add_one, NULL, &bad));
	EXPECT_EQ(4321, errno);
	ASSERT_EQ(0, kchan_go(&task, fn_add_one, NULL, NULL));
	EXPECT_EQ(4321, errno);
	ASSERT_EQ(0, kchan_join(task, NULL));
	EXPECT_EQ(4321, errno);
	ASSERT_EQ(0, kchan_group_new(&group));
	EXPECT_EQ(-ENOENT, kchan_group_go(group, fn_add_one, NULL, &bad));
	ASSERT_EQ(0, kchan_group_go(group, fn_add_one, NULL, NULL));
	EXPECT_EQ(1, kchan_group_wait(group));
	EXPECT_EQ(0, kchan_group_free(group));
	EXPECT_EQ(4321, errno);
}

/* The task receives its own handle on @arg (a channel) and joins it. */
static void *fn_join_self(void *arg)
{
	struct kchan_task *self;
	int ch = (int)(intptr_t)arg;

	if (kchan_recv(ch, &self) != 1)
		return (void *)(intptr_t)-EIO;
	return (void *)(intptr_t)kchan_join(self, NULL);
}

TEST(task_joining_itself_gets_edeadlk)
{
	int ch = KT_MAKE_CHAN(sizeof(struct kchan_task *), 1, 0);
	struct kchan_task *task;
	void *res;

	ASSERT_EQ(0, kchan_go(&task, fn_join_self, (void *)(intptr_t)ch, NULL));
	ASSERT_EQ(0, kchan_send(ch, &task));
	ASSERT_EQ(0, kchan_join(task, &res));
	EXPECT_EQ(-EDEADLK, (intptr_t)res);
	close(ch);
}

/* Bad cgroup paths: an error from kchan_go() itself, before any thread. */

FIXTURE(bad_cgroup) {
	bool skip;
};

FIXTURE_VARIANT(bad_cgroup) {
	const char *path;
	int err;
};

FIXTURE_VARIANT_ADD(bad_cgroup, nonexistent) {
	.path = CG_ROOT "/kchan-no-such-cgroup", .err = -ENOENT,
};
FIXTURE_VARIANT_ADD(bad_cgroup, missing_parent) {
	.path = "/kchan-no-such-dir/cgroup", .err = -ENOENT,
};
FIXTURE_VARIANT_ADD(bad_cgroup, empty_path) {
	.path = "", .err = -ENOENT,
};
FIXTURE_VARIANT_ADD(bad_cgroup, cgroup_file) {
	.path = CG_ROOT "/cgroup.procs", .err = -ENOTDIR,
};
FIXTURE_VARIANT_ADD(bad_cgroup, through_a_file) {
	.path = CG_ROOT "/cgroup.procs/child", .err = -ENOTDIR,
};
FIXTURE_VARIANT_ADD(bad_cgroup, device) {
	.path = "/dev/null", .err = -ENOTDIR,
};
FIXTURE_VARIANT_ADD(bad_cgroup, tmpfs_dir) {
	.path = "/tmp", .err = -EINVAL,
};
FIXTURE_VARIANT_ADD(bad_cgroup, proc_dir) {
	.path = "/proc/self", .err = -EINVAL,
};
FIXTURE_VARIANT_ADD(bad_cgroup, sysfs_parent_of_cgroup) {
	.path = "/sys/fs", .err = -EINVAL,
};

FIXTURE_SETUP(bad_cgroup)
{
	self->skip = !have_cgroup2();
}

FIXTURE_TEARDOWN(bad_cgroup)
{
}

TEST_F(bad_cgroup, go_fails_before_any_thread)
{
	const struct kchan_task_attr attr = { .cgroup = variant->path };
	struct kchan_task *task = kt_bad_ptr(0x1234);
	int before;

	if (self->skip)
		SKIP(return, "no cgroup2 at " CG_ROOT);
	before = nr_threads();
	ASSERT_LT(0, before);
	EXPECT_EQ(variant->err, kchan_go(&task, fn_add_one, NULL, &attr));
	/* No thread was ever made: no need to wait for one to go away. */
	EXPECT_EQ(before, nr_threads());
	EXPECT_EQ(kt_bad_ptr(0x1234), task);
	EXPECT_EQ(0, atomic_load(&fn_calls));
}

TEST_F(bad_cgroup, group_go_fails_and_adds_nothing)
{
	const struct kchan_task_attr attr = { .cgroup = variant->path };
	struct kchan_group *group;
	int before;

	if (self->skip)
		SKIP(return, "no cgroup2 at " CG_ROOT);
	ASSERT_EQ(0, kchan_group_new(&group));
	before = nr_threads();
	EXPECT_EQ(variant->err, kchan_group_go(group, fn_add_one, NULL, &attr));
	EXPECT_EQ(before, nr_threads());
	EXPECT_EQ(0, kchan_group_wait(group));
	EXPECT_EQ(0, kchan_group_free(group));
	EXPECT_EQ(0, atomic_load(&fn_calls));
}

/* A user who may not write cgroup.threads: -EACCES from the open. */
TEST(cgroup_not_writable_gives_eacces)
{
	int status;
	pid_t pid;

	if (!have_cgroup2())
		SKIP(return, "no cgroup2 at " CG_ROOT);
	if (geteuid() != 0)
		SKIP(return, "needs root to switch to an unprivileged user");

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		const struct kchan_task_attr attr = { .cgroup = CG_ROOT };
		struct kchan_task *task;
		int before, ret;

		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(100);
		before = nr_threads();
		ret = kchan_go(&task, fn_add_one, NULL, &attr);
		if (ret == 0)
			_exit(101);
		if (nr_threads() != before || atomic_load(&fn_calls))
			_exit(102);
		_exit(-ret);
	}
	ASSERT_EQ(0, kt_waitpid(pid, &status));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(EACCES, WEXITSTATUS(status));
}

/* Tasks in cgroups: the threaded hierarchy described at the top. */

FIXTURE(cgroup) {
	bool skip;
	bool moved;		/* this process was moved into @parent */
	bool root_memory;	/* we enabled +memory at the root */
	char parent[CG_PATH_MAX];
	char child[CG_PATH_MAX];
	char domain[CG_PATH_MAX];
	char extra[CG_PATH_MAX];	/* made by some tests */
	char want_parent[CG_PATH_MAX];	/* /proc/.../cgroup lines */
	char want_child[CG_PATH_MAX];
};

static int cg_file(char *buf, const char *dir, const char *file)
{
	return snprintf(buf, CG_PATH_MAX, "%s/%s", dir, file) < CG_PATH_MAX ? 0 : -ENAMETOOLONG;
}

static int cg_write(const char *dir, const char *file, const char *s)
{
	char path[CG_PATH_MAX];

	return cg_file(path, dir, file) ?: write_str(path, s);
}

static int cg_read(const char *dir, const char *file, char *buf, size_t size)
{
	char path[CG_PATH_MAX];

	return cg_file(path, dir, file) ?: kt_read_file(path, buf, size);
}

/* rmdir() a cgroup if it exists, retrying while its last threads go. */
static void cg_rmdir(const char *dir)
{
	int64_t end = kt_now_ns() + KT_WAIT_NS;

	while (dir[0] && rmdir(dir) && errno == EBUSY && kt_now_ns() < end)
		kt_sleep_us(1000);
}

static void cg_cleanup(FIXTURE_DATA(cgroup) *self)
{
	if (self->moved && !write_int(CG_ROOT "/cgroup.procs", getpid()))
		self->moved = false;
	cg_rmdir(self->extra);
	cg_rmdir(self->child);
	cg_rmdir(self->parent);
	cg_rmdir(self->domain);
	if (self->root_memory)
		write_str(CG_ROOT "/cgroup.subtree_control", "-memory");
}

static int cg_setup(FIXTURE_DATA(cgroup) *self)
{
	const char *name = self->parent + strlen(CG_ROOT);
	int ret;

	if (mkdir(self->parent, 0755))
		return -errno;
	/* Into the parent first: threads move only within their domain. */
	ret = cg_write(self->parent, "cgroup.procs", "0");
	if (ret)
		return ret;
	self->moved = true;
	if (mkdir(self->child, 0755))
		return -errno;
	ret = cg_write(self->child, "cgroup.type", "threaded");
	if (ret)
		return ret;
	if (mkdir(self->domain, 0755))
		return -errno;
	snprintf(self->want_parent, CG_PATH_MAX, "0::%s", name);
	snprintf(self->want_child, CG_PATH_MAX, "0::%s/child", name);
	return 0;
}

FIXTURE_SETUP(cgroup)
{
	int ret;

	if (!have_cgroup2()) {
		self->skip = true;
		return;
	}
	snprintf(self->parent, CG_PATH_MAX, CG_ROOT "/kchan-test-%d", getpid());
	snprintf(self->child, CG_PATH_MAX, CG_ROOT "/kchan-test-%d/child", getpid());
	snprintf(self->domain, CG_PATH_MAX, CG_ROOT "/kchan-test-%d-dom", getpid());
	ret = cg_setup(self);
	if (ret)
		cg_cleanup(self);
	ASSERT_EQ(0, ret) TH_LOG("cgroup setup: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(cgroup)
{
	cg_cleanup(self);
}

#define CG_REQUIRE() do {						\
	if (self->skip)							\
		SKIP(return, "no cgroup2 at " CG_ROOT);			\
} while (0)

/* What the fixture relies on: the kernel's view of the hierarchy. */
TEST_F(cgroup, fixture_is_a_threaded_subtree)
{
	char buf[CG_PATH_MAX];

	CG_REQUIRE();
	ASSERT_LE(0, cg_read(self->parent, "cgroup.type", buf, sizeof(buf)));
	EXPECT_STREQ("domain threaded", buf);
	ASSERT_LE(0, cg_read(self->child, "cgroup.type", buf, sizeof(buf)));
	EXPECT_STREQ("threaded", buf);
	ASSERT_LE(0, cg_read(self->domain, "cgroup.type", buf, sizeof(buf)));
	EXPECT_STREQ("domain", buf);
	ASSERT_EQ(0, thread_cgroup(buf, sizeof(buf)));
	EXPECT_STREQ(self->want_parent, buf);
}

TEST_F(cgroup, task_runs_in_threaded_child)
{
	const struct kchan_task_attr attr = { .cgroup = self->child };
	char mine[CG_PATH_MAX];
	struct kchan_task *task;
	void *res;

	CG_REQUIRE();
	ASSERT_EQ(0, kchan_go(&task, fn_cgroup, NULL, &attr));
	ASSERT_EQ(0, kchan_join(task, &res));
	ASSERT_NE(NULL, res);
	EXPECT_STREQ(self->want_child, (char *)res);
	free(res);
	/* Only the task moved. */
	ASSERT_EQ(0, thread_cgroup(mine, sizeof(mine)));
	EXPECT_STREQ(self->want_parent, mine);
}

/* Sends its TID on @arg[0], then waits for @arg[1] to be closed. */
static void *fn_tid_then_wait(void *arg)
{
	const int *ch = arg;
	uint64_t v = gettid();

	atomic_fetch_add(&fn_calls, 1);
	if (kchan_send(ch[0], &v))
		return NULL;
	kchan_recv(ch[1], &v);
	return NULL;
}

/* The move is done by the time kchan_go() returns. */
TEST_F(cgroup, task_is_in_cgroup_when_go_returns)
{
	const struct kchan_task_attr attr = { .cgroup = self->child };
	int ch[2] = {
		KT_MAKE_CHAN(sizeof(uint64_t), 1, 0),
		KT_MAKE_CHAN(sizeof(uint64_t), 1, 0),
	};
	char threads[64];
	struct kchan_task *task;
	uint64_t tid;

	CG_REQUIRE();
	ASSERT_EQ(0, kchan_go(&task, fn_tid_then_wait, ch, &attr));
	ASSERT_LE(0, cg_read(self->child, "cgroup.threads", threads, sizeof(threads)));
	ASSERT_EQ(1, kchan_recv(ch[0], &tid));
	EXPECT_EQ(tid, strtoull(threads, NULL, 10));
	EXPECT_EQ(NULL, strchr(threads, '\n'));	/* the only thread there */

	ASSERT_EQ(0, kchan_close(ch[1]));
	ASSERT_EQ(0, kchan_join(task, NULL));
	/*
	 * Gone from the cgroup once it has exited: the kernel drops an exited
	 * thread from its cgroup a little after pthread_join() returns, so
	 * poll (10 s at most).
	 */
	for (int i = 0; i < 1000; i++) {
		if (cg_read(self->child, "cgroup.threads", threads, sizeof(threads)) == 0)
			break;
		usleep(10000);
	}
	EXPECT_EQ(0, cg_read(self->child, "cgroup.threads", threads, sizeof(threads)));
	close(ch[0]);
	close(ch[1]);
}

/* The process's own cgroup is in its domain too. */
TEST_F(cgroup, task_runs_in_own_domain_cgroup)
{
	const struct kchan_task_attr attr = { .cgroup = self->parent };
	struct kchan_task *task;
	void *res;

	CG_REQUIRE();
	ASSERT_EQ(0, kchan_go(&task, fn_cgroup, NULL, &attr));
	ASSERT_EQ(0, kchan_join(task, &res));
	ASSERT_NE(NULL, res);
	EXPECT_STREQ(self->want_parent, (char *)res);
	free(res);
}

/* A task started without a cgroup runs where its creator runs. */
TEST_F(cgroup, task_started_by_task_inherits_cgroup)
{
	const struct kchan_task_attr attr = { .cgroup = self->child };
	struct kchan_task *task;
	void *res;

	CG_REQUIRE();
	ASSERT_EQ(0, kchan_go(&task, fn_nested_cgroup, NULL, &attr));
	ASSERT_EQ(0, kchan_join(task, &res));
	ASSERT_NE(NULL, res);
	EXPECT_STREQ(self->want_child, (char *)res);
	free(res);
}

/* Each task writes its cgroup line into the slot @arg. */
static void *fn_cgroup_into(void *arg)
{
	atomic_fetch_add(&fn_calls, 1);
	if (thread_cgroup(arg, CG_PATH_MAX))
		strcpy(arg, "?");
	return NULL;
}

TEST_F(cgroup, group_tasks_run_in_threaded_child)
{
	enum { N = 8 };
	const struct kchan_task_attr attr = { .cgroup = self->child };
	static char seen[N][CG_PATH_MAX];
	struct kchan_group *group;
	int i;

	CG_REQUIRE();
	ASSERT_EQ(0, kchan_group_new(&group));
	for (i = 0; i < N; i++)
		ASSERT_EQ(0, kchan_group_go(group, fn_cgroup_into, seen[i], &attr));
	EXPECT_EQ(N, kchan_group_wait(group));
	EXPECT_EQ(0, kchan_group_free(group));
	for (i = 0; i < N; i++)
		EXPECT_STREQ(self->want_child, seen[i]);
}

/*
 * The kernel refuses the move: kchan_go() returns its error, fn never
 * ran, the thread that tried is gone, and the cgroup holds no thread.
 */
static void expect_refused(struct __test_metadata *_metadata, const char *cgroup, int err)
{
	const struct kchan_task_attr attr = { .cgroup = cgroup };
	struct kchan_task *task = kt_bad_ptr(0x1234);
	char threads[64];
	int before = nr_threads();

	ASSERT_LT(0, before);
	EXPECT_EQ(err, kchan_go(&task, fn_add_one, NULL, &attr));
	EXPECT_EQ(kt_bad_ptr(0x1234), task);
	EXPECT_EQ(0, atomic_load(&fn_calls));
	EXPECT_EQ(0, wait_nr_threads(before));
	if (strcmp(cgroup, CG_ROOT)) {
		EXPECT_EQ(0, cg_read(cgroup, "cgroup.threads", threads, sizeof(threads)));
	}
}

/* A domain cgroup outside the process's domain: -EOPNOTSUPP. */
TEST_F(cgroup, other_domain_is_refused)
{
	CG_REQUIRE();
	expect_refused(_metadata, self->domain, -EOPNOTSUPP);
}

/* The root is another domain, seen from a process in a child domain. */
TEST_F(cgroup, root_from_child_domain_is_refused)
{
	CG_REQUIRE();
	expect_refused(_metadata, CG_ROOT, -EOPNOTSUPP);
}

/* A new non-threaded child of a "domain threaded" cgroup is "domain invalid". */
TEST_F(cgroup, domain_invalid_is_refused)
{
	char type[32];

	CG_REQUIRE();
	snprintf(self->extra, CG_PATH_MAX, CG_ROOT "/kchan-test-%d/invalid", getpid());
	ASSERT_EQ(0, mkdir(self->extra, 0755));
	ASSERT_LE(0, cg_read(self->extra, "cgroup.type", type, sizeof(type)));
	EXPECT_STREQ("domain invalid", type);
	expect_refused(_metadata, self->extra, -EOPNOTSUPP);
}

/*
 * A domain with a domain controller on for its children (the "no
 * internal processes" rule): the kernel checks that first, -EBUSY.
 */
TEST_F(cgroup, domain_with_controllers_is_refused_busy)
{
	char buf[256];

	CG_REQUIRE();
	ASSERT_LE(0, kt_read_file(CG_ROOT "/cgroup.controllers", buf, sizeof(buf)));
	if (!strstr(buf, "memory"))
		SKIP(return, "no memory controller");
	ASSERT_LE(0, kt_read_file(CG_ROOT "/cgroup.subtree_control", buf, sizeof(buf)));
	if (!strstr(buf, "memory")) {
		ASSERT_EQ(0, write_str(CG_ROOT "/cgroup.subtree_control", "+memory"));
		self->root_memory = true;
	}
	snprintf(self->extra, CG_PATH_MAX, CG_ROOT "/kchan-test-%d-dom/leaf", getpid());
	ASSERT_EQ(0, mkdir(self->extra, 0755));
	ASSERT_EQ(0, cg_write(self->domain, "cgroup.subtree_control", "+memory"));
	expect_refused(_metadata, self->domain, -EBUSY);
}

/* Groups. */

static void *fn_sleep_count(void *arg)
{
	kt_sleep_us((uintptr_t)arg);
	atomic_fetch_add(&fn_calls, 1);
	return NULL;
}

TEST(group_wait_joins_all_tasks)
{
	enum { N = 16 };
	struct kchan_group *group;
	int round, i, before = nr_threads();

	ASSERT_EQ(0, kchan_group_new(&group));
	for (round = 1; round <= 2; round++) {
		for (i = 0; i < N; i++) {
			uintptr_t us = 1000 * (i % 5) + 100;

			ASSERT_EQ(0, kchan_group_go(group, fn_sleep_count, (void *)us, NULL));
		}
		EXPECT_EQ(N, kchan_group_wait(group));
		EXPECT_EQ(round * N, atomic_load(&fn_calls));
		/* Empty now, and usable again. */
		EXPECT_EQ(0, kchan_group_wait(group));
	}
	EXPECT_EQ(0, kchan_group_free(group));
	EXPECT_EQ(0, wait_nr_threads(before));
}

/* Each task at depth > 0 starts two more in the same group. */
static struct kchan_group *fan_group;

static void *fn_fan_out(void *arg)
{
	uintptr_t depth = (uintptr_t)arg;

	atomic_fetch_add(&fn_calls, 1);
	if (depth > 0) {
		kt_sleep_us(200);
		if (kchan_group_go(fan_group, fn_fan_out, (void *)(depth - 1), NULL) ||
		    kchan_group_go(fan_group, fn_fan_out, (void *)(depth - 1), NULL))
			atomic_fetch_add(&fn_calls, 1000);
	}
	return NULL;
}

TEST(group_wait_includes_tasks_started_by_tasks)
{
	ASSERT_EQ(0, kchan_group_new(&fan_group));
	ASSERT_EQ(0, kchan_group_go(fan_group, fn_fan_out, (void *)4, NULL));
	EXPECT_EQ(31, kchan_group_wait(fan_group));
	EXPECT_EQ(31, atomic_load(&fn_calls));
	EXPECT_EQ(0, kchan_group_free(fan_group));
}

/* A task that waits for the channel @arg to close. */
static void *fn_wait_close(void *arg)
{
	uint64_t v;

	kchan_recv((int)(intptr_t)arg, &v);
	atomic_fetch_add(&fn_calls, 1);
	return NULL;
}

struct waiter {
	struct kchan_group *group;
	pthread_t thread;
	int ret;
	int calls_at_return;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;

	w->ret = kchan_group_wait(w->group);
	w->calls_at_return = atomic_load(&fn_calls);
	return NULL;
}

/* Two threads wait at once: both return, after every task, and share the joins. */
TEST(group_concurrent_waiters_both_see_all_done)
{
	enum { N = 8 };
	int gate = KT_MAKE_CHAN(sizeof(uint64_t), 1, 0);
	struct kchan_group *group;
	struct waiter w[2];
	int i;

	ASSERT_EQ(0, kchan_group_new(&group));
	for (i = 0; i < N; i++)
		ASSERT_EQ(0, kchan_group_go(group, fn_wait_close, (void *)(intptr_t)gate, NULL));
	ASSERT_EQ(0, kt_wait_queues(gate, 0, N));
	for (i = 0; i < 2; i++) {
		w[i] = (struct waiter){ .group = group, .ret = -1 };
		ASSERT_EQ(0, pthread_create(&w[i].thread, NULL, waiter_main, &w[i]));
	}
	kt_sleep_us(20000);
	ASSERT_EQ(0, kchan_close(gate));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, pthread_join(w[i].thread, NULL));
		EXPECT_LE(0, w[i].ret);
		EXPECT_EQ(N, w[i].calls_at_return);
	}
	EXPECT_EQ(N, w[0].ret + w[1].ret);
	EXPECT_EQ(0, kchan_group_free(group));
	close(gate);
}

TEST(group_free_refuses_while_tasks_remain)
{
	int gate = KT_MAKE_CHAN(sizeof(uint64_t), 1, 0);
	struct kchan_group *group;

	ASSERT_EQ(0, kchan_group_new(&group));
	ASSERT_EQ(0, kchan_group_go(group, fn_wait_close, (void *)(intptr_t)gate, NULL));
	EXPECT_EQ(-EBUSY, kchan_group_free(group));
	ASSERT_EQ(0, kchan_close(gate));
	/* Finished but not joined: still the group's. */
	ASSERT_EQ(0, kt_wait_len(gate, 0));
	EXPECT_EQ(-EBUSY, kchan_group_free(group));
	EXPECT_EQ(1, kchan_group_wait(group));
	EXPECT_EQ(0, kchan_group_free(group));
	close(gate);
}

static struct kchan_group *self_group;

/* Waits for its own group and reports the result on the channel @arg. */
static void *fn_wait_own_group(void *arg)
{
	int64_t ret = kchan_group_wait(self_group);

	kchan_send((int)(intptr_t)arg, &ret);
	return NULL;
}

/* The only task of a group waits for it: it comes to join itself. */
TEST(group_wait_from_own_task_gets_edeadlk)
{
	int ch = KT_MAKE_CHAN(sizeof(int64_t), 1, 0);
	int64_t ret;

	ASSERT_EQ(0, kchan_group_new(&self_group));
	ASSERT_EQ(0, kchan_group_go(self_group, fn_wait_own_group, (void *)(intptr_t)ch, NULL));
	ASSERT_EQ(1, kchan_recv(ch, &ret));
	EXPECT_EQ(-EDEADLK, ret);
	/* The task is still the group's, to be joined as usual. */
	EXPECT_EQ(1, kchan_group_wait(self_group));
	EXPECT_EQ(0, kchan_group_free(self_group));
	close(ch);
}

/* Cancellation: Go's ctx.Done(), a channel closed to stop every worker. */

struct tworker {
	int done, jobs, results;
	unsigned int processed;
	int err;
	int stop_closed;	/* @closed of the done case that fired */
	bool stop_in_send;	/* it fired while delivering a result */
};

static void *fn_worker(void *arg)
{
	struct tworker *w = arg;
	char none;

	for (;;) {
		uint64_t job, res;
		struct kchan_case in[] = {
			{ .ch = w->done, .op = KCHAN_CASE_RECV, .elem = &none, .closed = -1 },
			{ .ch = w->jobs, .op = KCHAN_CASE_RECV, .elem = &job, .closed = -1 },
		};
		struct kchan_case out[] = {
			{ .ch = w->done, .op = KCHAN_CASE_RECV, .elem = &none, .closed = -1 },
			{ .ch = w->results, .op = KCHAN_CASE_SEND, .elem = &res },
		};
		int ret = kchan_select(in, 2, -1);

		if (ret < 0) {
			w->err = ret;
			break;
		}
		if (ret == 0) {
			w->stop_closed = in[0].closed;
			break;
		}

		res = job * job;
		ret = kchan_select(out, 2, -1);
		if (ret < 0) {
			w->err = ret;
			break;
		}
		if (ret == 0) {
			w->stop_closed = out[0].closed;
			w->stop_in_send = true;
			break;
		}
		w->processed++;
	}
	return NULL;
}

enum { NR_TWORKERS = 8 };

struct pool {
	int done, jobs, results;
	struct kchan_group *group;
	struct tworker w[NR_TWORKERS];
};

static int pool_start(struct pool *p, size_t jobs_cap, size_t results_cap)
{
	int ret, i;

	p->done = kchan_make(1, 0, KCHAN_CLOEXEC);
	p->jobs = kchan_make(sizeof(uint64_t), jobs_cap, KCHAN_CLOEXEC);
	p->results = kchan_make(sizeof(uint64_t), results_cap, KCHAN_CLOEXEC);
	if (p->done < 0 || p->jobs < 0 || p->results < 0)
		return -ENOMEM;
	ret = kchan_group_new(&p->group);
	for (i = 0; !ret && i < NR_TWORKERS; i++) {
		p->w[i] = (struct tworker){ .done = p->done, .jobs = p->jobs,
					    .results = p->results, .stop_closed = -1 };
		ret = kchan_group_go(p->group, fn_worker, &p->w[i], NULL);
	}
	return ret;
}

static void pool_close(struct pool *p)
{
	close(p->done);
	close(p->jobs);
	close(p->results);
}

/* Workers idle in select on (done, jobs): closing done stops them all. */
TEST(cancel_stops_idle_workers)
{
	enum { NJOBS = 12 };	/* < 4 + NR_TWORKERS + 4: sends never block for long */
	uint64_t job, res, sum = 0, want = 0;
	unsigned int processed = 0;
	struct pool p;
	int i;

	ASSERT_EQ(0, pool_start(&p, 4, 4));
	for (job = 1; job <= NJOBS; job++) {
		ASSERT_EQ(0, kchan_send(p.jobs, &job));
		want += job * job;
	}
	for (i = 0; i < NJOBS; i++) {
		ASSERT_EQ(1, kchan_recv(p.results, &res));
		sum += res;
	}
	EXPECT_EQ(want, sum);

	/* Every worker blocked in its select: a waiter on done and on jobs each. */
	ASSERT_EQ(0, kt_wait_queues(p.done, 0, NR_TWORKERS));
	ASSERT_EQ(0, kt_wait_queues(p.jobs, 0, NR_TWORKERS));
	ASSERT_EQ(0, kchan_close(p.done));
	EXPECT_EQ(NR_TWORKERS, kchan_group_wait(p.group));
	EXPECT_EQ(0, kchan_group_free(p.group));
	for (i = 0; i < NR_TWORKERS; i++) {
		EXPECT_EQ(0, p.w[i].err);
		EXPECT_EQ(1, p.w[i].stop_closed);
		EXPECT_FALSE(p.w[i].stop_in_send);
		processed += p.w[i].processed;
	}
	EXPECT_EQ(NJOBS, processed);
	pool_close(&p);
}

/* Workers blocked delivering results nobody reads: closing done frees them too. */
TEST(cancel_stops_workers_blocked_sending)
{
	unsigned int processed = 0;
	struct pool p;
	uint64_t job;
	int i;

	/* Results hold one; NR_TWORKERS more jobs leave each worker holding one. */
	ASSERT_EQ(0, pool_start(&p, NR_TWORKERS + 1, 1));
	for (job = 1; job <= NR_TWORKERS + 1; job++)
		ASSERT_EQ(0, kchan_send(p.jobs, &job));
	ASSERT_EQ(0, kt_wait_len(p.results, 1));
	ASSERT_EQ(0, kt_wait_queues(p.results, NR_TWORKERS, 0));
	ASSERT_EQ(0, kt_wait_queues(p.done, 0, NR_TWORKERS));

	ASSERT_EQ(0, kchan_close(p.done));
	EXPECT_EQ(NR_TWORKERS, kchan_group_wait(p.group));
	EXPECT_EQ(0, kchan_group_free(p.group));
	for (i = 0; i < NR_TWORKERS; i++) {
		EXPECT_EQ(0, p.w[i].err);
		EXPECT_EQ(1, p.w[i].stop_closed);
		EXPECT_TRUE(p.w[i].stop_in_send);
		processed += p.w[i].processed;
	}
	/* Only the result in the ring was delivered; the rest were dropped. */
	EXPECT_EQ(1, processed);
	EXPECT_EQ(1, kchan_len(p.results));
	pool_close(&p);
}

TEST_HARNESS_MAIN
