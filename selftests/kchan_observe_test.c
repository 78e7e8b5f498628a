// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: system-wide observability - /proc/kchan, the kchan
 * tracepoints and the kchanstat tool.
 *
 * /proc/kchan: the header line is exact; a channel's line shows the
 * creator's pid, comm (escaped: a space is \040, a backslash \134) and
 * cgroup v2 path (the test moves itself into a fresh child cgroup; skipped
 * only without cgroup2), the owner uid, the geometry, the length, the
 * closed flag, the blocked senders and receivers and how long the oldest
 * of them has waited, which grows while a receiver stays blocked and drops
 * to 0 once it is served; the line goes with the last descriptor.  An
 * unprivileged reader (uid 1000, no capabilities) sees its own channels
 * and not root's; root sees both; the opener's credentials decide, not the
 * reader's.  The file stays plain text whatever the comm (terminal
 * escapes, control bytes, bytes >= 0x80 come out as \ooo); the cgroup
 * column is the path as the reader's cgroup namespace sees it; a listing
 * read in small chunks resumes where it stopped, each channel once, also
 * while channels come and go.
 *
 * Tracepoints (tracefs at /sys/kernel/tracing, skipped without it): a
 * send, a receive, a blocking receive woken by a send and a close emit
 * exactly the expected events for the channel's id, with their fields;
 * waits ended by a timeout, a close and a signal carry those reasons.  The
 * tracepoint table of Documentation/admin-guide/observability.rst, compiled
 * in by the Makefile, names every kchan event and exactly the fields of its
 * format file.
 *
 * kchanstat (next to this program, or $KCHANSTAT): -t 100ms finds a
 * deliberately stuck receiver (exit 1, its id in the output) and a large
 * threshold finds nothing (exit 0); on a prepared listing (-f) it sorts,
 * filters and rejects what it cannot read.
 */
#include <dirent.h>
#include <grp.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

#define PROC_KCHAN	"/proc/kchan"
#define OLD_HEADER	"id pid comm cgroup uid elem_size capacity len closed " \
			"sendq recvq oldest_wait_ns"
#define HEADER		OLD_HEADER " kind subscribers lost"
#define NR_COLUMNS	15
#define CG_ROOT		"/sys/fs/cgroup"
#define TRACEFS		"/sys/kernel/tracing"
#define OTHER_UID	1000

/* One line of /proc/kchan. */
struct kt_row {
	unsigned long long id, pid, uid, elem_size, capacity, len, closed;
	unsigned long long sendq, recvq, oldest, subscribers, lost;
	char comm[128];
	char cgroup[1024];
	char kind[32];
};

/* All of @fd from where it is into a malloc()ed string, or NULL. */
static char *kt_slurp_fd(int fd)
{
	size_t len = 0, size = 1 << 16;
	char *buf = malloc(size), *bigger;
	ssize_t n;

	while (buf) {
		if (len + 1 == size) {
			bigger = realloc(buf, size *= 2);
			if (!bigger)
				break;
			buf = bigger;
		}
		n = read(fd, buf + len, size - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0) {
				buf[len] = '\0';
				return buf;
			}
			break;
		}
		len += n;
	}
	free(buf);
	return NULL;
}

static char *kt_slurp(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *text;

	if (fd < 0)
		return NULL;
	text = kt_slurp_fd(fd);
	close(fd);
	return text;
}

/* Parse one listing line; 0 or -EBADMSG. */
static int kt_parse_row(const char *line, struct kt_row *r)
{
	int end = -1;

	if (sscanf(line, "%llu %llu %127s %1023s %llu %llu %llu %llu %llu %llu %llu %llu "
		   "%31s %llu %llu%n",
		   &r->id, &r->pid, r->comm, r->cgroup, &r->uid, &r->elem_size,
		   &r->capacity, &r->len, &r->closed, &r->sendq, &r->recvq,
		   &r->oldest, r->kind, &r->subscribers, &r->lost, &end) != NR_COLUMNS ||
	    line[end])
		return -EBADMSG;
	return 0;
}

/*
 * Find channel @id in listing @text: 1 with *@r set, 0 if absent, or
 * -EBADMSG if the header or any line is malformed.
 */
static int kt_find_row(char *text, unsigned long long id, struct kt_row *r)
{
	char *line, *save;
	struct kt_row tmp;
	int found = 0;

	line = strtok_r(text, "\n", &save);
	if (!line || strcmp(line, HEADER))
		return -EBADMSG;
	while ((line = strtok_r(NULL, "\n", &save))) {
		if (kt_parse_row(line, &tmp))
			return -EBADMSG;
		if (tmp.id == id) {
			*r = tmp;
			found++;
		}
	}
	return found > 1 ? -EBADMSG : found;
}

/* Channel @id in /proc/kchan read through @fd (-1: open it now). */
static int kt_proc_row_fd(int fd, unsigned long long id, struct kt_row *r)
{
	char *text;
	int ret;

	if (fd < 0)
		text = kt_slurp(PROC_KCHAN);
	else
		text = lseek(fd, 0, SEEK_SET) ? NULL : kt_slurp_fd(fd);
	if (!text)
		return -errno;
	ret = kt_find_row(text, id, r);
	free(text);
	return ret;
}

static int kt_proc_row(unsigned long long id, struct kt_row *r)
{
	return kt_proc_row_fd(-1, id, r);
}

#define PROC_ROW(id, r) \
	ASSERT_EQ(1, kt_proc_row(id, r)) TH_LOG("channel %llu in " PROC_KCHAN, id)

/* @s escaped as /proc/kchan escapes it. */
static void kt_escape(const char *s, char *out)
{
	for (; *s; s++) {
		if (strchr(" \t\n\v\f\r\\", *s))
			out += sprintf(out, "\\%03o", (unsigned char)*s);
		else
			*out++ = *s;
	}
	*out = '\0';
}

static unsigned long long kt_id(int fd)
{
	long long id = kt_chan_id(fd);

	return id > 0 ? id : 0;
}

/*
 * A broadcast channel's line: its kind, its subscribers as they come and
 * go, the elements held, the losses of all its subscribers together, and
 * a lossless sender blocked by a slow subscriber in sendq.
 */
TEST(row_of_broadcast_channel)
{
	int bch = kchan_make_broadcast(8, 4, KCHAN_LOSSY), lossless, subs[3];
	unsigned long long id = kt_id(bch), id2;
	struct kt_worker w;
	struct kt_row r;
	uint64_t v;

	ASSERT_LE(0, bch);
	PROC_ROW(id, &r);
	EXPECT_STREQ("broadcast-lossy", r.kind);
	EXPECT_EQ(0, r.subscribers);
	for (int i = 0; i < 3; i++)
		subs[i] = kchan_subscribe(bch, 0);
	for (v = 0; v < 10; v++)
		ASSERT_EQ(0, kchan_send(bch, &v));
	PROC_ROW(id, &r);
	EXPECT_EQ(3, r.subscribers);
	EXPECT_EQ(4, r.len);
	EXPECT_EQ(0, r.lost);	/* nobody has learnt of its gap yet */
	EXPECT_EQ(-EOVERFLOW, kchan_recv(subs[0], &v));
	EXPECT_EQ(-EOVERFLOW, kchan_recv(subs[1], &v));
	PROC_ROW(id, &r);
	EXPECT_EQ(12, r.lost);
	close(subs[2]);
	PROC_ROW(id, &r);
	EXPECT_EQ(2, r.subscribers);

	lossless = kchan_make_broadcast(8, 1, 0);
	ASSERT_LE(0, lossless);
	id2 = kt_id(lossless);
	subs[2] = kchan_subscribe(lossless, 0);
	ASSERT_EQ(0, kt_send_u64(lossless, 1));
	ASSERT_EQ(0, kt_start_send_u64(&w, lossless, 2));
	ASSERT_EQ(0, kt_wait_queues(lossless, 1, 0));
	PROC_ROW(id2, &r);
	EXPECT_STREQ("broadcast", r.kind);
	EXPECT_EQ(1, r.subscribers);
	EXPECT_EQ(1, r.sendq);
	EXPECT_EQ(1, r.len);
	ASSERT_EQ(1, kchan_recv(subs[2], &v));
	ASSERT_EQ(0, kt_worker_join(&w));
	close(subs[2]);
	close(lossless);

	/*
	 * Its broadcast descriptor's close(2) closes the channel, which stays
	 * listed while subscribers hold it, and goes with the last of them.
	 */
	close(bch);
	PROC_ROW(id, &r);
	EXPECT_EQ(1, r.closed);
	EXPECT_EQ(2, r.subscribers);
	close(subs[1]);
	close(subs[0]);
	EXPECT_EQ(0, kt_proc_row(id, &r));
}

/* A new channel's line: the creator, the geometry, nothing queued. */
TEST(row_of_new_channel)
{
	char comm[32], want[160];
	struct kt_row r;
	int ch = KT_MAKE_CHAN(8, 4, 0);
	unsigned long long id = kt_id(ch);
	uint64_t v;

	ASSERT_LT(0, id);
	ASSERT_LT(0, kt_read_file("/proc/self/comm", comm, sizeof(comm)));
	kt_escape(comm, want);
	PROC_ROW(id, &r);
	EXPECT_EQ(getpid(), r.pid);
	EXPECT_STREQ(want, r.comm);
	EXPECT_EQ(getuid(), r.uid);
	EXPECT_EQ(8, r.elem_size);
	EXPECT_EQ(4, r.capacity);
	EXPECT_EQ(0, r.len);
	EXPECT_EQ(0, r.closed);
	EXPECT_EQ(0, r.sendq);
	EXPECT_EQ(0, r.recvq);
	EXPECT_EQ(0, r.oldest);
	EXPECT_STREQ("channel", r.kind);
	EXPECT_EQ(0, r.subscribers);
	EXPECT_EQ(0, r.lost);

	for (v = 1; v <= 3; v++)
		ASSERT_EQ(0, kchan_send(ch, &v));
	PROC_ROW(id, &r);
	EXPECT_EQ(3, r.len);

	ASSERT_EQ(0, kchan_close(ch));
	PROC_ROW(id, &r);
	EXPECT_EQ(1, r.closed);
	EXPECT_EQ(3, r.len);

	/* The line goes with the last descriptor. */
	close(ch);
	EXPECT_EQ(0, kt_proc_row(id, &r));
}

/* A comm with a space and a backslash stays one column. */
TEST(comm_is_escaped)
{
	char old[32];
	struct kt_row r;
	unsigned long long id;
	int ch;

	ASSERT_LT(0, kt_read_file("/proc/self/comm", old, sizeof(old)));
	ASSERT_EQ(0, prctl(PR_SET_NAME, "kt obs\\x"));
	ch = KT_MAKE_CHAN(8, 0, 0);
	prctl(PR_SET_NAME, old);
	id = kt_id(ch);
	PROC_ROW(id, &r);
	EXPECT_STREQ("kt\\040obs\\134x", r.comm);
	close(ch);
}

/* A blocked receiver: recvq 1 and a wait that grows; 0 once served. */
TEST(blocked_receiver_wait_grows)
{
	struct kt_row r1, r2, r3;
	struct kt_worker w;
	int ch = KT_MAKE_CHAN(8, 0, 0);
	unsigned long long id = kt_id(ch);
	int64_t t0, t1;

	ASSERT_EQ(0, kt_start_recv(&w, ch));
	ASSERT_EQ(0, kt_wait_queues(ch, 0, 1));
	PROC_ROW(id, &r1);
	t0 = kt_now_ns();
	EXPECT_EQ(0, r1.sendq);
	EXPECT_EQ(1, r1.recvq);
	EXPECT_LT(0, r1.oldest);

	kt_sleep_us(100 * 1000);
	t1 = kt_now_ns();
	PROC_ROW(id, &r2);
	EXPECT_EQ(1, r2.recvq);
	/*
	 * r1 was read before t0 and r2 after t1, so the wait grew by more
	 * than t1 - t0 (less 1 ms for the kernel's and the vDSO's clocks).
	 */
	EXPECT_LE(r1.oldest + (t1 - t0) - KT_MSEC, r2.oldest)
		TH_LOG("oldest_wait_ns %llu then %llu", r1.oldest, r2.oldest);

	ASSERT_EQ(0, kt_send_u64(ch, 7));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(1, w.ret);
	PROC_ROW(id, &r3);
	EXPECT_EQ(0, r3.recvq);
	EXPECT_EQ(0, r3.oldest);
	close(ch);
}

/* A sender blocked on a full ring: sendq 1, len 1, then released. */
TEST(blocked_sender)
{
	struct kt_worker w;
	struct kt_row r;
	int ch = KT_MAKE_CHAN(8, 1, 0);
	unsigned long long id = kt_id(ch);
	uint64_t v;

	ASSERT_EQ(0, kt_send_u64(ch, 1));
	ASSERT_EQ(0, kt_start_send_u64(&w, ch, 2));
	ASSERT_EQ(0, kt_wait_queues(ch, 1, 0));
	PROC_ROW(id, &r);
	EXPECT_EQ(1, r.len);
	EXPECT_EQ(1, r.sendq);
	EXPECT_EQ(0, r.recvq);
	EXPECT_LT(0, r.oldest);

	ASSERT_EQ(1, kchan_recv(ch, &v));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(0, w.ret);
	PROC_ROW(id, &r);
	EXPECT_EQ(1, r.len);
	EXPECT_EQ(0, r.sendq);
	EXPECT_EQ(0, r.oldest);
	close(ch);
}

/* rmdir() a cgroup, retrying while it empties. */
static void kt_cg_rmdir(const char *dir)
{
	int64_t end = kt_now_ns() + KT_WAIT_NS;

	while (rmdir(dir) && errno == EBUSY && kt_now_ns() < end)
		kt_sleep_us(1000);
}

/* The creator's cgroup v2 path, for a child cgroup and for the root. */
TEST(cgroup_path)
{
	char dir[64], procs[96], pid[32];
	struct kt_row r;
	int ch, ret;

	if (access(CG_ROOT "/cgroup.controllers", F_OK))
		SKIP(return, "no cgroup2 at " CG_ROOT);
	snprintf(dir, sizeof(dir), CG_ROOT "/kt-observe-%d", getpid());
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	snprintf(pid, sizeof(pid), "%d", getpid());
	ASSERT_EQ(0, mkdir(dir, 0755)) TH_LOG("mkdir %s: %m", dir);
	ret = kt_write_file(procs, "0");
	if (ret) {
		kt_cg_rmdir(dir);
		ASSERT_EQ(0, ret) TH_LOG("move into %s: %s", dir, strerror(-ret));
	}
	ch = kchan_make(8, 0, 0);
	ret = kt_write_file(CG_ROOT "/cgroup.procs", pid);
	if (ch >= 0) {
		if (kt_proc_row(kt_id(ch), &r) != 1)
			strcpy(r.cgroup, "(no line)");
		close(ch);
	}
	kt_cg_rmdir(dir);
	ASSERT_EQ(0, ret) TH_LOG("move back to " CG_ROOT);
	ASSERT_LE(0, ch);
	EXPECT_STREQ(dir + strlen(CG_ROOT), r.cgroup);

	ch = KT_MAKE_CHAN(8, 0, 0);
	PROC_ROW(kt_id(ch), &r);
	EXPECT_STREQ("/", r.cgroup);
	close(ch);
}

/*
 * cgroup namespaces: the cgroup column is the creator's cgroup as the
 * reader's cgroup namespace sees it.  A channel made in kt-secret/inner
 * reads "/kt-secret/inner" from the initial namespace, "/inner" from a
 * namespace rooted at kt-secret and "/" from one rooted at
 * kt-secret/inner - a namespaced reader never learns the name kt-secret.
 * A channel made in the root cgroup reads "/.." and "/../.." there.
 */
#define KT_SECRET	CG_ROOT "/kt-secret"
#define KT_INNER	KT_SECRET "/inner"

/* What a reader child saw, sent to the test. */
struct kt_cg_seen {
	int err;		/* 0, or -errno of the step that failed */
	int step;		/* 1 entering the cgroup, 2 unshare, 3 reading */
	int found;		/* kt_proc_row() of the creator's channel */
	int found_root;		/* kt_proc_row() of the test's channel */
	char self_cgroup[256];	/* its /proc/self/cgroup */
	char cgroup[1024];	/* the cgroup column of the creator's channel */
	char root_cgroup[1024];	/* ... and of the test's */
};

FIXTURE(cgns) {
	const char *skip;
	bool made_secret, made_inner;
	pid_t creator, reader;
	int to_creator;		/* closed: the creator exits */
	int root_ch;
};

FIXTURE_SETUP(cgns)
{
	self->to_creator = -1;
	self->root_ch = -1;
	if (geteuid()) {
		self->skip = "needs root";
		return;
	}
	if (access(CG_ROOT "/cgroup.controllers", F_OK)) {
		self->skip = "no cgroup2 at " CG_ROOT;
		return;
	}
	ASSERT_TRUE(!mkdir(KT_SECRET, 0755) || errno == EEXIST)
		TH_LOG("mkdir " KT_SECRET ": %m");
	self->made_secret = true;
	ASSERT_TRUE(!mkdir(KT_INNER, 0755) || errno == EEXIST)
		TH_LOG("mkdir " KT_INNER ": %m");
	self->made_inner = true;
}

FIXTURE_TEARDOWN(cgns)
{
	int status;

	if (self->to_creator >= 0)
		close(self->to_creator);
	if (self->creator > 0)
		kt_waitpid(self->creator, &status);
	if (self->reader > 0)
		kt_waitpid(self->reader, &status);
	if (self->root_ch >= 0)
		close(self->root_ch);
	if (self->made_inner)
		kt_cg_rmdir(KT_INNER);
	if (self->made_secret)
		kt_cg_rmdir(KT_SECRET);
}

/* The creator: into @dir, make a channel, report its id, wait for EOF. */
static void kt_cg_creator(const char *dir, int out, int in)
{
	char procs[128], c;
	long long id;
	int ch;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	id = kt_write_file(procs, "0");
	if (!id) {
		ch = kchan_make(8, 0, 0);
		id = ch < 0 ? ch : kt_chan_id(ch);
	}
	if (write(out, &id, sizeof(id)) != sizeof(id))
		_exit(1);
	while (read(in, &c, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

/* A reader: into @dir, a new cgroup namespace there, read the listing. */
static void kt_cg_reader(const char *dir, unsigned long long id,
			 unsigned long long root_id, int out)
{
	struct kt_cg_seen seen = { 0 };
	char procs[128];
	struct kt_row r;

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	seen.step = 1;
	seen.err = kt_write_file(procs, "0");
	if (!seen.err) {
		seen.step = 2;
		seen.err = unshare(CLONE_NEWCGROUP) ? -errno : 0;
	}
	if (!seen.err) {
		seen.step = 3;
		seen.err = kt_read_file("/proc/self/cgroup", seen.self_cgroup,
					sizeof(seen.self_cgroup));
		if (seen.err > 0)
			seen.err = 0;
	}
	if (!seen.err) {
		seen.found = kt_proc_row(id, &r);
		if (seen.found == 1)
			snprintf(seen.cgroup, sizeof(seen.cgroup), "%s", r.cgroup);
		seen.found_root = kt_proc_row(root_id, &r);
		if (seen.found_root == 1)
			snprintf(seen.root_cgroup, sizeof(seen.root_cgroup), "%s", r.cgroup);
	}
	if (write(out, &seen, sizeof(seen)) != sizeof(seen))
		_exit(1);
	_exit(0);
}

/* Run a reader in a namespace rooted at @dir; 0 or -errno. */
static int kt_cg_read_from(pid_t *pidp, const char *dir, unsigned long long id,
			   unsigned long long root_id, struct kt_cg_seen *seen)
{
	int pipefd[2], status, ret;
	ssize_t n;
	pid_t pid;

	if (pipe(pipefd))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		close(pipefd[0]);
		kt_cg_reader(dir, id, root_id, pipefd[1]);
	}
	*pidp = pid;
	close(pipefd[1]);
	n = read(pipefd[0], seen, sizeof(*seen));
	close(pipefd[0]);
	ret = kt_waitpid(pid, &status);
	*pidp = 0;
	if (ret)
		return ret;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return -ECHILD;
	return n == sizeof(*seen) ? 0 : -EIO;
}

TEST_F(cgns, cgroup_column_as_the_readers_namespace_sees_it)
{
	int to_creator[2], to_parent[2];
	char own[256];
	struct kt_cg_seen seen;
	struct kt_row r;
	unsigned long long root_id;
	long long id;
	bool in_root;

	if (self->skip)
		SKIP(return, "%s", self->skip);
	/* The test's own channel, in its cgroup: the root one here. */
	ASSERT_LT(0, kt_read_file("/proc/self/cgroup", own, sizeof(own)));
	in_root = !strcmp(own, "0::/");
	self->root_ch = KT_MAKE_CHAN(8, 0, 0);
	root_id = kt_id(self->root_ch);
	ASSERT_LT(0, root_id);

	ASSERT_EQ(0, pipe(to_creator));
	ASSERT_EQ(0, pipe(to_parent));
	self->creator = fork();
	ASSERT_LE(0, self->creator);
	if (!self->creator) {
		close(to_parent[0]);
		close(to_creator[1]);
		kt_cg_creator(KT_INNER, to_parent[1], to_creator[0]);
	}
	close(to_parent[1]);
	close(to_creator[0]);
	self->to_creator = to_creator[1];
	ASSERT_EQ(sizeof(id), read(to_parent[0], &id, sizeof(id)));
	close(to_parent[0]);
	ASSERT_LT(0, id) TH_LOG("creator in " KT_INNER ": %s", strerror(-id));

	/* The initial cgroup namespace sees the whole path. */
	PROC_ROW((unsigned long long)id, &r);
	EXPECT_STREQ("/kt-secret/inner", r.cgroup);
	EXPECT_EQ(self->creator, r.pid);

	/* Rooted at kt-secret. */
	ASSERT_EQ(0, kt_cg_read_from(&self->reader, KT_SECRET, id, root_id, &seen));
	if (seen.err && seen.step == 2 && (seen.err == -EINVAL || seen.err == -EPERM))
		SKIP(return, "unshare(CLONE_NEWCGROUP): %s", strerror(-seen.err));
	ASSERT_EQ(0, seen.err) TH_LOG("reader in kt-secret, step %d: %s",
				      seen.step, strerror(-seen.err));
	EXPECT_STREQ("0::/", seen.self_cgroup);
	ASSERT_EQ(1, seen.found);
	EXPECT_STREQ("/inner", seen.cgroup);
	EXPECT_EQ(NULL, strstr(seen.cgroup, "kt-secret")) TH_LOG("%s", seen.cgroup);
	ASSERT_EQ(1, seen.found_root);
	if (in_root)
		EXPECT_STREQ("/..", seen.root_cgroup);
	EXPECT_EQ(NULL, strstr(seen.root_cgroup, "kt-secret")) TH_LOG("%s", seen.root_cgroup);

	/* Rooted at kt-secret/inner: the creator's cgroup is the root. */
	ASSERT_EQ(0, kt_cg_read_from(&self->reader, KT_INNER, id, root_id, &seen));
	ASSERT_EQ(0, seen.err) TH_LOG("reader in kt-secret/inner, step %d: %s",
				      seen.step, strerror(-seen.err));
	EXPECT_STREQ("0::/", seen.self_cgroup);
	ASSERT_EQ(1, seen.found);
	EXPECT_STREQ("/", seen.cgroup);
	ASSERT_EQ(1, seen.found_root);
	if (in_root)
		EXPECT_STREQ("/../..", seen.root_cgroup);
	EXPECT_EQ(NULL, strstr(seen.root_cgroup, "kt-secret")) TH_LOG("%s", seen.root_cgroup);
	EXPECT_EQ(NULL, strstr(seen.root_cgroup, "inner")) TH_LOG("%s", seen.root_cgroup);

	/* The test's namespace did not change. */
	PROC_ROW((unsigned long long)id, &r);
	EXPECT_STREQ("/kt-secret/inner", r.cgroup);
}

/* More than any listing of these tests: a read that never ends repeats. */
#define KT_LISTING_MAX	(8 << 20)

/*
 * All of @fd from where it is, in read(2)s of at most @chunk bytes: a
 * malloc()ed, NUL-terminated buffer with *@len bytes, or NULL (errno set;
 * EFBIG past KT_LISTING_MAX bytes).
 */
static char *kt_read_chunks(int fd, size_t chunk, size_t *len)
{
	size_t size = 1 << 16;
	char *buf = malloc(size), *bigger;
	ssize_t n;

	*len = 0;
	while (buf) {
		if (*len > KT_LISTING_MAX) {
			errno = EFBIG;
			break;
		}
		if (*len + chunk + 1 > size) {
			bigger = realloc(buf, size *= 2);
			if (!bigger)
				break;
			buf = bigger;
		}
		n = read(fd, buf + *len, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (n == 0) {
			buf[*len] = '\0';
			return buf;
		}
		*len += n;
	}
	n = errno;
	free(buf);
	errno = n;
	return NULL;
}

/* One line of a listing: its id and uid, and where it is. */
struct kt_line {
	unsigned long long id, uid;
	const char *start;
	size_t len;
};

static int kt_line_cmp(const void *a, const void *b)
{
	const struct kt_line *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Split the listing @text (@len bytes) into lines: the header first, then
 * whole lines that parse, each in *@lines (malloc()ed, sorted by uid and
 * id), and no channel twice.  The number of lines, or -EBADMSG with @why
 * set.
 */
static int kt_split_listing(const char *text, size_t len, struct kt_line **lines,
			    char *why, size_t why_size)
{
	const char *p = text, *end = text + len, *nl;
	struct kt_line *l;
	int n = 0;

	*lines = l = calloc(len / 24 + 1, sizeof(*l));
	if (!l) {
		snprintf(why, why_size, "out of memory");
		return -ENOMEM;
	}
	if (strlen(text) != len) {
		snprintf(why, why_size, "a NUL byte at offset %zu", strlen(text));
		return -EBADMSG;
	}
	if (!len || text[len - 1] != '\n') {
		snprintf(why, why_size, "the listing does not end with a newline");
		return -EBADMSG;
	}
	nl = memchr(p, '\n', end - p);
	if ((size_t)(nl - p) != strlen(HEADER) || memcmp(p, HEADER, nl - p)) {
		snprintf(why, why_size, "bad header \"%.*s\"", (int)(nl - p), p);
		return -EBADMSG;
	}
	for (p = nl + 1; p < end; p = nl + 1) {
		char line[2048];
		struct kt_row r;

		nl = memchr(p, '\n', end - p);
		if ((size_t)(nl - p) >= sizeof(line) ||
		    (memcpy(line, p, nl - p), line[nl - p] = '\0', kt_parse_row(line, &r))) {
			snprintf(why, why_size, "torn or bad line %d: \"%.*s\"",
				 n + 1, (int)(nl - p), p);
			return -EBADMSG;
		}
		l[n].id = r.id;
		l[n].uid = r.uid;
		l[n].start = p;
		l[n].len = nl - p;
		n++;
	}
	qsort(l, n, sizeof(*l), kt_line_cmp);
	for (int i = 1; i < n; i++) {
		if (!kt_line_cmp(&l[i - 1], &l[i])) {
			snprintf(why, why_size, "channel %llu (uid %llu) listed twice",
				 l[i].id, l[i].uid);
			return -EBADMSG;
		}
	}
	return n;
}

/* The line of channel @id of uid @uid among @lines, or NULL. */
static const struct kt_line *kt_line_of(const struct kt_line *lines, int n,
					unsigned long long id, unsigned long long uid)
{
	struct kt_line key = { .id = id, .uid = uid };

	return bsearch(&key, lines, n, sizeof(*lines), kt_line_cmp);
}

#define NR_LISTED	300

FIXTURE(listing) {
	int ch[NR_LISTED];
	unsigned long long id[NR_LISTED];
};

FIXTURE_SETUP(listing)
{
	struct rlimit rl;

	/* The channels, the churn's and a few more descriptors. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < 1024 &&
	    rl.rlim_max >= 1024) {
		rl.rlim_cur = 1024;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (int i = 0; i < NR_LISTED; i++)
		self->ch[i] = -1;
	for (int i = 0; i < NR_LISTED; i++) {
		self->ch[i] = KT_MAKE_CHAN(8, i % 3, 0);
		self->id[i] = kt_id(self->ch[i]);
		ASSERT_LT(0, self->id[i]);
	}
}

FIXTURE_TEARDOWN(listing)
{
	for (int i = 0; i < NR_LISTED; i++)
		if (self->ch[i] >= 0)
			close(self->ch[i]);
}

/*
 * Read /proc/kchan in @chunk-byte reads and check it: whole lines, no
 * channel twice, each of the fixture's channels exactly once.  0, or
 * -errno / -EBADMSG with @why set; the text and its lines are returned
 * for more checks (free both).
 */
static int kt_check_chunked(const FIXTURE_DATA(listing) *self, size_t chunk,
			    char **textp, struct kt_line **linesp, int *nr,
			    char *why, size_t why_size)
{
	int fd = open(PROC_KCHAN, O_RDONLY | O_CLOEXEC);
	uid_t uid = geteuid();
	size_t len;
	int n;

	*textp = NULL;
	*linesp = NULL;
	if (fd < 0) {
		snprintf(why, why_size, "open: %m");
		return -errno;
	}
	*textp = kt_read_chunks(fd, chunk, &len);
	close(fd);
	if (!*textp) {
		snprintf(why, why_size, "read: %m");
		return -EIO;
	}
	n = kt_split_listing(*textp, len, linesp, why, why_size);
	if (n < 0)
		return n;
	*nr = n;
	for (int i = 0; i < NR_LISTED; i++) {
		if (!kt_line_of(*linesp, n, self->id[i], uid)) {
			snprintf(why, why_size, "channel %llu (%d of %d) missing",
				 self->id[i], i, NR_LISTED);
			return -EBADMSG;
		}
	}
	return 0;
}

/*
 * A read of the listing in small chunks resumes where the last one
 * stopped: the same channels, each once, each line whole and the same as
 * a single large read shows it.
 */
TEST_F(listing, chunked_reads_resume_without_skipping_or_repeating)
{
	static const size_t chunks[] = { 1, 7, 64, 100, 4096 };
	struct kt_line *big_lines, *lines;
	char *big, *text, why[512];
	uid_t uid = geteuid();
	int big_n, n, ret;

	ret = kt_check_chunked(self, 1 << 16, &big, &big_lines, &big_n, why, sizeof(why));
	ASSERT_EQ(0, ret) TH_LOG("one read: %s", why);
	for (size_t c = 0; c < ARRAY_SIZE(chunks); c++) {
		ret = kt_check_chunked(self, chunks[c], &text, &lines, &n, why, sizeof(why));
		EXPECT_EQ(0, ret) TH_LOG("%zu-byte reads: %s", chunks[c], why);
		if (!ret) {
			EXPECT_EQ(big_n, n) TH_LOG("%zu-byte reads", chunks[c]);
			for (int i = 0; i < NR_LISTED; i++) {
				const struct kt_line *a = kt_line_of(big_lines, big_n, self->id[i], uid);
				const struct kt_line *b = kt_line_of(lines, n, self->id[i], uid);

				ASSERT_TRUE(a && b);
				EXPECT_TRUE(a->len == b->len && !memcmp(a->start, b->start, a->len))
					TH_LOG("%zu-byte reads, channel %llu: \"%.*s\" vs \"%.*s\"",
					       chunks[c], self->id[i], (int)a->len, a->start,
					       (int)b->len, b->start);
			}
		}
		free(lines);
		free(text);
	}
	free(big_lines);
	free(big);
}

/* Creates and closes channels until told to stop. */
struct kt_churn {
	pthread_t thread;
	_Atomic pid_t tid;
	atomic_bool stop;
	atomic_long made;
	int err;
};

#define CHURN_LIVE	32

static void *kt_churn_main(void *arg)
{
	struct kt_churn *c = arg;
	int fds[CHURN_LIVE], live = 0, oldest = 0;

	atomic_store(&c->tid, (pid_t)syscall(SYS_gettid));
	while (!atomic_load(&c->stop)) {
		int fd = kchan_make(8, 1, 0);

		if (fd < 0) {
			c->err = fd;
			break;
		}
		if (live == CHURN_LIVE) {
			/* The oldest goes: its slot is reused, lower down. */
			close(fds[oldest]);
			fds[oldest] = fd;
			oldest = (oldest + 1) % CHURN_LIVE;
		} else {
			fds[live++] = fd;
		}
		atomic_fetch_add(&c->made, 1);
	}
	while (live)
		close(fds[--live]);
	return NULL;
}

/*
 * The same while another thread creates and closes channels: every pass
 * still shows whole lines, no channel twice and each of the fixture's
 * channels (which stay open) exactly once.
 */
TEST_F(listing, chunked_reads_with_concurrent_create_and_close)
{
	static const size_t chunks[] = { 64, 1, 64, 200, 64, 4096 };
	struct kt_churn churn = { 0 };
	int64_t end = kt_now_ns() + 8 * KT_NSEC;
	struct kt_line *lines;
	int passes = 0, failed = 0, n, ret;
	long made_before;
	char *text, why[512];

	ASSERT_EQ(0, kt_thread_start(&churn.thread, kt_churn_main, &churn, &churn.tid));
	while (!failed && (passes < 30 || atomic_load(&churn.made) < 500) &&
	       kt_now_ns() < end) {
		size_t chunk = chunks[passes % ARRAY_SIZE(chunks)];

		made_before = atomic_load(&churn.made);
		ret = kt_check_chunked(self, chunk, &text, &lines, &n, why, sizeof(why));
		EXPECT_EQ(0, ret) {
			TH_LOG("pass %d, %zu-byte reads, %ld channels churned meanwhile: %s",
			       passes, chunk, atomic_load(&churn.made) - made_before, why);
			failed = 1;
		}
		free(lines);
		free(text);
		passes++;
	}
	atomic_store(&churn.stop, true);
	ASSERT_EQ(0, kt_thread_join(churn.thread));
	EXPECT_EQ(0, churn.err) TH_LOG("churn: kchan_make: %s", strerror(-churn.err));
	EXPECT_LT(0, atomic_load(&churn.made));
	TH_LOG("%d passes, %ld channels created and closed meanwhile",
	       passes, atomic_load(&churn.made));
}

/*
 * The whole of /proc/kchan is plain text: no control byte but the
 * newlines, no DEL, nothing >= 0x80.  0, or the offset of the first bad
 * byte plus one.
 */
static size_t kt_bad_byte(const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;

	for (size_t i = 0; i < len; i++)
		if ((p[i] < 0x20 && p[i] != '\n') || p[i] >= 0x7f)
			return i + 1;
	return 0;
}

/* Whitespace-separated columns of @line (up to its newline). */
static int kt_columns(const char *line)
{
	int n = 0;

	while (*line && *line != '\n') {
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line || *line == '\n')
			break;
		n++;
		while (*line && *line != '\n' && *line != ' ' && *line != '\t')
			line++;
	}
	return n;
}

/*
 * Comms made of terminal escapes, control bytes, a space, a backslash,
 * DEL and bytes >= 0x80 (at most 15 bytes, the kernel's limit), and how
 * /proc/kchan must show them: each such byte as \ooo, "-" for an empty one.
 */
static const struct {
	const char *comm;
	const char *shown;
} kt_nasty_comms[] = {
	{ "\x1b[2J\a b\\\t\xe9x", "\\033[2J\\007\\040b\\134\\011\\351x" },
	{ "\n\r\x7f\x01\xff-z\x1b]0;", "\\012\\015\\177\\001\\377-z\\033]0;" },
	{ "", "-" },
};

#define NR_NASTY	ARRAY_SIZE(kt_nasty_comms)

/* Make one channel under each nasty comm; report the ids; wait for EOF. */
static void kt_nasty_child(int out, int in)
{
	long long ids[NR_NASTY];
	char c;

	for (size_t i = 0; i < NR_NASTY; i++) {
		int ch;

		if (prctl(PR_SET_NAME, kt_nasty_comms[i].comm)) {
			ids[i] = -errno;
			continue;
		}
		ch = kchan_make(8, 0, 0);
		ids[i] = ch < 0 ? ch : kt_chan_id(ch);
	}
	if (write(out, ids, sizeof(ids)) != sizeof(ids))
		_exit(1);
	while (read(in, &c, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

/*
 * A creator's comm full of escapes, control bytes and non-ASCII bytes
 * comes out as \ooo escapes: the file stays plain text, every line keeps
 * its NR_COLUMNS columns and the comm column is exactly the escaped name.
 */
TEST(comm_escaping_keeps_the_listing_plain_text)
{
	int to_child[2], to_parent[2], status;
	long long ids[NR_NASTY];
	char *text, *line, *end;
	struct kt_row r;
	size_t bad, len;
	int fd;
	pid_t pid;
	int lines = 0;

	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(to_parent[0]);
		close(to_child[1]);
		kt_nasty_child(to_parent[1], to_child[0]);
	}
	close(to_parent[1]);
	close(to_child[0]);
	ASSERT_EQ(sizeof(ids), read(to_parent[0], ids, sizeof(ids)));
	for (size_t i = 0; i < NR_NASTY; i++) {
		ASSERT_LT(0, ids[i]) TH_LOG("child, comm %zu: %s", i, strerror(-ids[i]));
	}

	fd = open(PROC_KCHAN, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG(PROC_KCHAN ": %m");
	text = kt_read_chunks(fd, 1 << 16, &len);
	close(fd);
	ASSERT_NE(NULL, text) TH_LOG(PROC_KCHAN ": %m");
	ASSERT_LT(0, len);
	bad = kt_bad_byte(text, len);
	EXPECT_EQ(0, bad) {
		TH_LOG("byte %#x at offset %zu of " PROC_KCHAN,
		       (unsigned char)text[bad - 1], bad - 1);
	}
	for (line = text; *line; line = *end ? end + 1 : end) {
		end = strchrnul(line, '\n');
		EXPECT_EQ(NR_COLUMNS, kt_columns(line))
			TH_LOG("line %d: %.*s", lines, (int)(end - line), line);
		lines++;
	}
	EXPECT_EQ('\n', text[len - 1]);
	EXPECT_LE(1 + NR_NASTY, lines);
	free(text);

	for (size_t i = 0; i < NR_NASTY; i++) {
		PROC_ROW((unsigned long long)ids[i], &r);
		EXPECT_STREQ(kt_nasty_comms[i].shown, r.comm) TH_LOG("comm %zu", i);
		EXPECT_EQ(pid, r.pid);
	}

	close(to_child[1]);
	ASSERT_EQ(0, kt_waitpid(pid, &status));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	close(to_parent[0]);
}

/* What the unprivileged child saw, sent to the parent. */
struct kt_seen {
	long long own_id;	/* its channel, or -errno */
	int own_new;		/* 1 if its channel is listed, through a new open */
	int own_uid_ok;		/* its channel's uid column is OTHER_UID */
	int root_new;		/* root's channel listed, through a new open */
	int root_early;		/* root's channel listed, through a root open */
};

static void kt_unprivileged_child(unsigned long long root_id, int out, int in)
{
	struct kt_seen seen = { .own_id = -EPERM };
	int early = open(PROC_KCHAN, O_RDONLY | O_CLOEXEC);
	struct kt_row r;
	char c;
	int ch;

	if (!setgroups(0, NULL) && !setresgid(OTHER_UID, OTHER_UID, OTHER_UID) &&
	    !setresuid(OTHER_UID, OTHER_UID, OTHER_UID)) {
		/* No capability survives the switch to non-zero uids. */
		ch = kchan_make(8, 0, 0);
		seen.own_id = ch < 0 ? ch : (long long)kt_id(ch);
		seen.own_new = kt_proc_row(seen.own_id, &r);
		seen.own_uid_ok = seen.own_new == 1 && r.uid == OTHER_UID;
		seen.root_new = kt_proc_row(root_id, &r);
		seen.root_early = kt_proc_row_fd(early, root_id, &r);
	}
	if (write(out, &seen, sizeof(seen)) != sizeof(seen))
		_exit(1);
	/* Keep the channel until the parent has looked. */
	while (read(in, &c, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

/* Readers see their own uid's channels; CAP_SYS_ADMIN openers see all. */
TEST(visibility_by_uid)
{
	int ch = KT_MAKE_CHAN(8, 0, 0);
	unsigned long long id = kt_id(ch);
	int to_child[2], to_parent[2], status;
	struct kt_seen seen;
	struct kt_row r;
	pid_t pid;

	if (geteuid())
		SKIP(return, "needs root");
	ASSERT_EQ(0, pipe(to_child));
	ASSERT_EQ(0, pipe(to_parent));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(to_parent[0]);
		close(to_child[1]);
		kt_unprivileged_child(id, to_parent[1], to_child[0]);
	}
	close(to_parent[1]);
	close(to_child[0]);

	ASSERT_EQ(sizeof(seen), read(to_parent[0], &seen, sizeof(seen)));
	ASSERT_LT(0, seen.own_id) TH_LOG("child: %s", strerror(-seen.own_id));
	EXPECT_EQ(1, seen.own_new);
	EXPECT_TRUE(seen.own_uid_ok);
	EXPECT_EQ(0, seen.root_new);
	EXPECT_EQ(1, seen.root_early);

	/* Root sees both, the child's with its uid. */
	PROC_ROW(id, &r);
	EXPECT_EQ(0, r.uid);
	PROC_ROW((unsigned long long)seen.own_id, &r);
	EXPECT_EQ(OTHER_UID, r.uid);
	EXPECT_EQ(pid, r.pid);

	close(to_child[1]);
	ASSERT_EQ(0, kt_waitpid(pid, &status));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status));
	/* Gone with the child. */
	EXPECT_EQ(0, kt_proc_row(seen.own_id, &r));
	close(to_parent[0]);
	close(ch);
}

/* One traced kchan event: its name and its arguments. */
struct kt_event {
	char name[32];
	char args[256];
};

#define MAX_EVENTS	32

FIXTURE(trace) {
	bool skip;
	int ch;
	unsigned long long id;
	struct kt_event ev[MAX_EVENTS];
	int nr;
};

/* Enable the kchan events with an empty buffer. */
/* Whether the kchan events are enabled already (by an earlier test). */
static bool kt_events_enabled(void)
{
	char *text = kt_slurp(TRACEFS "/events/kchan/enable");
	bool on = text && text[0] == '1';

	free(text);
	return on;
}

FIXTURE_SETUP(trace)
{
	int fd;

	self->ch = -1;
	self->skip = access(TRACEFS "/events/kchan/enable", W_OK) != 0;
	if (self->skip)
		return;
	ASSERT_EQ(0, kt_write_file(TRACEFS "/tracing_on", "0"));
	fd = open(TRACEFS "/trace", O_WRONLY | O_TRUNC | O_CLOEXEC);
	ASSERT_LE(0, fd);
	close(fd);
	/*
	 * Enabled once, by the first test, and left on: each enabling or
	 * disabling patches the kernel's text (static calls, text_poke_bp()),
	 * and on two TCG vCPUs that has livelocked the guest - one CPU in
	 * the int3 handler, the other waiting for it - so the tests start
	 * and stop recording with tracing_on instead.
	 */
	if (!kt_events_enabled())
		ASSERT_EQ(0, kt_write_file(TRACEFS "/events/kchan/enable", "1"));
	ASSERT_EQ(0, kt_write_file(TRACEFS "/tracing_on", "1"));
}

FIXTURE_TEARDOWN(trace)
{
	if (!self->skip)
		kt_write_file(TRACEFS "/tracing_on", "0");
	if (self->ch >= 0)
		close(self->ch);
}

#define TRACE_REQUIRE() do {						\
	if (self->skip)							\
		SKIP(return, "no kchan events in " TRACEFS);		\
} while (0)

/*
 * Stop tracing and collect the events of channel @id from the buffer, in
 * order: their count, or -errno.
 */
static int kt_trace_collect(unsigned long long id, struct kt_event *ev, int max)
{
	char *text, *line, *save, *p, prefix[32];
	int n = 0;

	kt_write_file(TRACEFS "/tracing_on", "0");
	text = kt_slurp(TRACEFS "/trace");
	if (!text)
		return -errno;
	snprintf(prefix, sizeof(prefix), "id=%llu ", id);
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		p = strstr(line, ": kchan_");
		if (!p)
			continue;
		p += 2;
		if (n == max || sscanf(p, "%31[a-z_]", ev[n].name) != 1)
			break;
		p += strlen(ev[n].name);
		if (strncmp(p, ": ", 2) || strncmp(p + 2, prefix, strlen(prefix)))
			continue;
		snprintf(ev[n].args, sizeof(ev[n].args), "%s", p + 2);
		n++;
	}
	free(text);
	return n;
}

/* Whether @ev's arguments include "@field" (e.g. "reason=timeout"). */
static bool kt_has(const struct kt_event *ev, const char *field)
{
	size_t n = strlen(field);
	const char *p;

	for (p = ev->args; (p = strstr(p, field)); p += n)
		if ((p == ev->args || p[-1] == ' ') && (!p[n] || p[n] == ' '))
			return true;
	return false;
}

/* The value of numeric field @name= of @ev, or -1. */
static long long kt_field(const struct kt_event *ev, const char *name)
{
	char key[40];
	const char *p;

	snprintf(key, sizeof(key), " %s=", name);
	p = strstr(ev->args, key);
	return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

static void kt_log_events(struct __test_metadata *_metadata,
			  const struct kt_event *ev, int n)
{
	for (int i = 0; i < n; i++)
		TH_LOG("  %s: %s", ev[i].name, ev[i].args);
}

#define EXPECT_EVENT(i, want) do {					\
	EXPECT_STREQ(want, self->ev[i].name) {				\
		TH_LOG("event %d of %d:", i, self->nr);			\
		kt_log_events(_metadata, self->ev, self->nr);		\
	}								\
} while (0)

/*
 * create, a send and a receive through the ring, a receive that blocks
 * until a send completes it, and close: exactly these events, in order
 * (the woken receiver's return may come before or after its sender's).
 */
TEST_F(trace, send_recv_block_wake)
{
	struct kt_worker w;
	uint64_t v = 1;
	pid_t tid;
	int late;

	TRACE_REQUIRE();
	/* A plain channel: the fast path's sends are no kernel events. */
	self->ch = kt_create(8, 1, 0);
	ASSERT_LE(0, self->ch);
	self->id = kt_id(self->ch);
	ASSERT_EQ(0, kchan_send(self->ch, &v));
	ASSERT_EQ(1, kchan_recv(self->ch, &v));
	ASSERT_EQ(0, kt_start_recv(&w, self->ch));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	ASSERT_EQ(0, kt_send_u64(self->ch, 2));
	ASSERT_EQ(0, kt_worker_join(&w));
	ASSERT_EQ(1, w.ret);
	ASSERT_EQ(0, kchan_close(self->ch));
	tid = atomic_load(&w.tid);

	self->nr = kt_trace_collect(self->id, self->ev, MAX_EVENTS);
	ASSERT_EQ(8, self->nr) kt_log_events(_metadata, self->ev, self->nr);
	EXPECT_EVENT(0, "kchan_create");
	EXPECT_TRUE(kt_has(&self->ev[0], "elem_size=8"));
	EXPECT_TRUE(kt_has(&self->ev[0], "capacity=1"));
	EXPECT_EVENT(1, "kchan_send");
	EXPECT_TRUE(kt_has(&self->ev[1], "ret=1"));
	EXPECT_TRUE(kt_has(&self->ev[1], "bytes=8"));
	EXPECT_EVENT(2, "kchan_recv");
	EXPECT_TRUE(kt_has(&self->ev[2], "ret=1"));
	EXPECT_EVENT(3, "kchan_block");
	EXPECT_EQ(tid, kt_field(&self->ev[3], "pid"));
	EXPECT_TRUE(kt_has(&self->ev[3], "op=recv"));
	EXPECT_TRUE(kt_has(&self->ev[3], "recvq=1"));
	EXPECT_EVENT(4, "kchan_wake");
	EXPECT_EQ(tid, kt_field(&self->ev[4], "pid"));
	EXPECT_TRUE(kt_has(&self->ev[4], "reason=completed"));
	EXPECT_LT(0, kt_field(&self->ev[4], "wait_ns"));
	/* The sender's return and the woken receiver's, in either order. */
	late = strcmp(self->ev[5].name, "kchan_send") ? 5 : 6;
	EXPECT_EVENT(11 - late, "kchan_send");
	EXPECT_EVENT(late, "kchan_recv");
	EXPECT_TRUE(kt_has(&self->ev[11 - late], "bytes=8"));
	EXPECT_TRUE(kt_has(&self->ev[late], "bytes=8"));
	EXPECT_EVENT(7, "kchan_close");
	EXPECT_TRUE(kt_has(&self->ev[7], "ret=0"));
	EXPECT_TRUE(kt_has(&self->ev[7], "woken=0"));
}

/* Find the first event @name at or after @from; its index or -1. */
static int kt_find_event(const struct kt_event *ev, int n, int from,
			 const char *name)
{
	for (int i = from; i < n; i++)
		if (!strcmp(ev[i].name, name))
			return i;
	return -1;
}

/*
 * Broadcast events: each subscribe (its id and first position), the
 * lossless sender gated by its slowest subscriber (which, and its lag),
 * and a lossy subscriber's gap (how many it missed, its total).
 */
TEST_F(trace, broadcast)
{
	int fast, slow, lossy, sub;
	unsigned long long id2;
	char *text, want[96];
	struct kt_worker w;
	uint64_t v;
	int i;

	TRACE_REQUIRE();
	self->ch = kchan_make_broadcast(8, 2, 0);
	ASSERT_LE(0, self->ch);
	self->id = kt_id(self->ch);
	fast = kchan_subscribe(self->ch, 0);
	slow = kchan_subscribe(self->ch, 0);
	ASSERT_EQ(0, kt_send_u64(self->ch, 1));
	ASSERT_EQ(0, kt_send_u64(self->ch, 2));
	ASSERT_EQ(1, kchan_recv(fast, &v));
	ASSERT_EQ(0, kt_start_send_u64(&w, self->ch, 3));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 1, 0));
	ASSERT_EQ(1, kchan_recv(slow, &v));
	ASSERT_EQ(0, kt_worker_join(&w));
	lossy = kchan_make_broadcast(8, 2, KCHAN_LOSSY);
	ASSERT_LE(0, lossy);
	id2 = kt_id(lossy);
	sub = kchan_subscribe(lossy, 0);
	for (v = 0; v < 5; v++)
		ASSERT_EQ(0, kchan_send(lossy, &v));
	ASSERT_EQ(-EOVERFLOW, kchan_recv(sub, &v));

	self->nr = kt_trace_collect(self->id, self->ev, MAX_EVENTS);
	i = kt_find_event(self->ev, self->nr, 0, "kchan_subscribe");
	ASSERT_LE(0, i) kt_log_events(_metadata, self->ev, self->nr);
	EXPECT_EQ(1, kt_field(&self->ev[i], "sub_id"));
	EXPECT_EQ(0, kt_field(&self->ev[i], "cursor"));
	EXPECT_EQ(fast, kt_field(&self->ev[i], "fd"));
	i = kt_find_event(self->ev, self->nr, i + 1, "kchan_subscribe");
	ASSERT_LE(0, i) kt_log_events(_metadata, self->ev, self->nr);
	EXPECT_EQ(2, kt_field(&self->ev[i], "sub_id"));
	EXPECT_EQ(2, kt_field(&self->ev[i], "nr_subs"));
	i = kt_find_event(self->ev, self->nr, i + 1, "kchan_bcast_gated");
	ASSERT_LE(0, i) kt_log_events(_metadata, self->ev, self->nr);
	EXPECT_EQ(2, kt_field(&self->ev[i], "sub_id"));
	EXPECT_EQ(getpid(), kt_field(&self->ev[i], "sub_pid"));
	EXPECT_EQ(2, kt_field(&self->ev[i], "lag"));
	/* Then it blocks. */
	EXPECT_LE(0, kt_find_event(self->ev, self->nr, i + 1, "kchan_block"));

	/* The lossy channel's events were collected with the others: read again. */
	text = kt_slurp(TRACEFS "/trace");
	ASSERT_NE(NULL, text);
	snprintf(want, sizeof(want), "kchan_bcast_lost: id=%llu sub_id=1 gap=3 lost=3", id2);
	EXPECT_NE(NULL, strstr(text, want)) TH_LOG("no '%s' in the trace", want);
	free(text);
	close(sub);
	close(lossy);
	close(slow);
	close(fast);
}

/* Waits ended by a timeout, a close and a signal say so. */
TEST_F(trace, wake_reasons)
{
	struct kt_worker w;
	int64_t t0, elapsed;
	uint64_t v;
	int i;

	TRACE_REQUIRE();
	self->ch = KT_MAKE_CHAN(8, 0, 0);
	self->id = kt_id(self->ch);

	t0 = kt_now_ns();
	ASSERT_EQ(-ETIMEDOUT, kchan_recv_timeout(self->ch, &v, 100 * KT_MSEC));
	elapsed = kt_now_ns() - t0;

	ASSERT_EQ(0, kt_install_sigusr1(0));
	ASSERT_EQ(0, kt_start_recv(&w, self->ch));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	ASSERT_EQ(0, pthread_kill(w.thread, SIGUSR1));
	ASSERT_EQ(0, kt_worker_join(&w));
	ASSERT_EQ(-EINTR, w.ret);

	ASSERT_EQ(0, kt_start_recv(&w, self->ch));
	ASSERT_EQ(0, kt_wait_queues(self->ch, 0, 1));
	ASSERT_EQ(0, kchan_close(self->ch));
	ASSERT_EQ(0, kt_worker_join(&w));
	ASSERT_EQ(0, w.ret);

	self->nr = kt_trace_collect(self->id, self->ev, MAX_EVENTS);
	i = kt_find_event(self->ev, self->nr, 0, "kchan_wake");
	ASSERT_LE(0, i) kt_log_events(_metadata, self->ev, self->nr);
	EXPECT_TRUE(kt_has(&self->ev[i], "reason=timeout"));
	/*
	 * The deadline runs from before the call, the wait from the moment the
	 * task was queued: most of the 100 ms (a busy host has held a vCPU
	 * for 6.6 ms between the two), and no more than the call took - give
	 * or take the drift between two CPUs' local_clock(), which the wait
	 * is measured with (kchan_record_wait()); under TCG it reached 1 ms.
	 */
	EXPECT_LE(50 * KT_MSEC, kt_field(&self->ev[i], "wait_ns"));
	EXPECT_GE(elapsed + 2 * KT_MSEC, kt_field(&self->ev[i], "wait_ns"));
	i = kt_find_event(self->ev, self->nr, i + 1, "kchan_wake");
	ASSERT_LE(0, i) kt_log_events(_metadata, self->ev, self->nr);
	EXPECT_TRUE(kt_has(&self->ev[i], "reason=signal"));
	i = kt_find_event(self->ev, self->nr, i + 1, "kchan_wake");
	ASSERT_LE(0, i) kt_log_events(_metadata, self->ev, self->nr);
	EXPECT_TRUE(kt_has(&self->ev[i], "reason=closed"));
	EXPECT_EQ(-1, kt_find_event(self->ev, self->nr, i + 1, "kchan_wake"));
	i = kt_find_event(self->ev, self->nr, 0, "kchan_close");
	ASSERT_LE(0, i);
	EXPECT_TRUE(kt_has(&self->ev[i], "woken=1"));
}

/* A select that proceeds reports the winning channel and case. */
TEST_F(trace, select)
{
	uint64_t v = 5, got = 0;
	struct kchan_case c[2] = {
		{ .ch = -1, .op = KCHAN_CASE_RECV, .elem = &got },
		{ .op = KCHAN_CASE_RECV, .elem = &got },
	};
	int i;

	TRACE_REQUIRE();
	self->ch = KT_MAKE_CHAN(8, 1, 0);
	self->id = kt_id(self->ch);
	c[1].ch = self->ch;
	ASSERT_EQ(0, kchan_send(self->ch, &v));
	ASSERT_EQ(1, kchan_select(c, 2, 0));

	self->nr = kt_trace_collect(self->id, self->ev, MAX_EVENTS);
	i = kt_find_event(self->ev, self->nr, 0, "kchan_select");
	ASSERT_LE(0, i) kt_log_events(_metadata, self->ev, self->nr);
	EXPECT_TRUE(kt_has(&self->ev[i], "nr_cases=2"));
	EXPECT_TRUE(kt_has(&self->ev[i], "case=1"));
	EXPECT_TRUE(kt_has(&self->ev[i], "closed=0"));
}

/*
 * The tracepoint table of Documentation/admin-guide/observability.rst, as
 * the Makefile parsed it at build time: "event=field,...;event=...".
 */
#ifndef KCHAN_TRACE_TABLE
#define KCHAN_TRACE_TABLE	""
#endif

#define KT_MAX_FIELDS	16

/* One event: its name and fields, from the table or from a format file. */
struct kt_event_fields {
	char name[64];
	char field[KT_MAX_FIELDS][32];
	int nr;
};

static bool kt_fields_have(const struct kt_event_fields *e, const char *name)
{
	for (int i = 0; i < e->nr; i++)
		if (!strcmp(e->field[i], name))
			return true;
	return false;
}

/* Add @name, of @len bytes, to @e's fields; false when it does not fit. */
static bool kt_fields_add(struct kt_event_fields *e, const char *name, size_t len)
{
	if (e->nr == KT_MAX_FIELDS || !len || len >= sizeof(e->field[0]))
		return false;
	memcpy(e->field[e->nr], name, len);
	e->field[e->nr++][len] = '\0';
	return true;
}

/* Parse KCHAN_TRACE_TABLE into @ev: the number of events, or -EBADMSG. */
static int kt_doc_table(struct kt_event_fields *ev, int max)
{
	char table[] = KCHAN_TRACE_TABLE, *row, *name, *field, *save, *fsave;
	int n = 0;

	for (row = strtok_r(table, ";", &save); row;
	     row = strtok_r(NULL, ";", &save)) {
		name = row;
		field = strchr(row, '=');
		if (!field || n == max)
			return -EBADMSG;
		*field++ = '\0';
		memset(&ev[n], 0, sizeof(ev[n]));
		if (snprintf(ev[n].name, sizeof(ev[n].name), "%s", name) >=
		    (int)sizeof(ev[n].name))
			return -EBADMSG;
		for (field = strtok_r(field, ",", &fsave); field;
		     field = strtok_r(NULL, ",", &fsave))
			if (!kt_fields_add(&ev[n], field, strlen(field)))
				return -EBADMSG;
		n++;
	}
	return n;
}

/*
 * The fields of kchan event @name from its tracefs format file, without
 * the common_* ones every event has: 0, or -errno.  A field line reads
 * "\tfield:TYPE NAME[N];\toffset:...": the name is the last word before
 * ';' or '['.
 */
static int kt_format_fields(const char *name, struct kt_event_fields *e)
{
	char path[PATH_MAX], *text, *p, *end;
	const char *word;

	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%.63s", name);
	snprintf(path, sizeof(path), TRACEFS "/events/kchan/%.63s/format", name);
	text = kt_slurp(path);
	if (!text)
		return -errno;
	for (p = text; (p = strstr(p, "field:")); p = end) {
		end = strchr(p, ';');
		if (!end)
			break;
		*end++ = '\0';
		if (strchr(p, '['))
			*strchr(p, '[') = '\0';
		word = strrchr(p, ' ');
		word = word ? word + 1 : p + strlen("field:");
		if (!strncmp(word, "common_", 7))
			continue;
		if (!kt_fields_add(e, word, strlen(word))) {
			free(text);
			return -E2BIG;
		}
	}
	free(text);
	return 0;
}

/*
 * The guide's tracepoint table and the module cannot drift apart: each
 * event the table names exists and has exactly the fields the table lists
 * (a field dropped from the table, or one the event does not have, fails),
 * and every kchan event has a row.
 */
TEST_F(trace, table_matches_format_files)
{
	struct kt_event_fields doc[32], fmt;
	struct dirent *d;
	int n, i, j;
	DIR *dir;

	TRACE_REQUIRE();
	n = kt_doc_table(doc, ARRAY_SIZE(doc));
	ASSERT_LT(0, n) TH_LOG("no tracepoint table compiled in (\"%s\"): build "
			       "with make -C selftests, which parses it from "
			       "observability.rst", KCHAN_TRACE_TABLE);
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, kt_format_fields(doc[i].name, &fmt))
			TH_LOG("table event %s: no %s/events/kchan/%s/format",
			       doc[i].name, TRACEFS, doc[i].name);
		/* Braces: an EXPECT's TH_LOG is a statement of its own. */
		for (j = 0; j < doc[i].nr; j++) {
			EXPECT_TRUE(kt_fields_have(&fmt, doc[i].field[j]))
				TH_LOG("%s: the table lists field %s, the event has "
				       "no such field", doc[i].name, doc[i].field[j]);
		}
		for (j = 0; j < fmt.nr; j++) {
			EXPECT_TRUE(kt_fields_have(&doc[i], fmt.field[j]))
				TH_LOG("%s: field %s is missing from the table",
				       doc[i].name, fmt.field[j]);
		}
	}

	dir = opendir(TRACEFS "/events/kchan");
	ASSERT_NE(NULL, dir);
	while ((d = readdir(dir))) {
		struct stat st;
		char path[PATH_MAX];
		bool found = false;

		snprintf(path, sizeof(path), TRACEFS "/events/kchan/%s", d->d_name);
		if (d->d_name[0] == '.' || stat(path, &st) || !S_ISDIR(st.st_mode))
			continue;
		for (i = 0; i < n && !found; i++)
			found = !strcmp(doc[i].name, d->d_name);
		EXPECT_TRUE(found) TH_LOG("event %s has no row in the table",
					  d->d_name);
	}
	closedir(dir);
}

/* kchanstat next to this program (or $KCHANSTAT). */
static void kt_kchanstat_path(char *path, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n;

	if (getenv("KCHANSTAT")) {
		snprintf(path, size, "%s", getenv("KCHANSTAT"));
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n < 0 ? 0 : n] = '\0';
	snprintf(path, size, "%s/kchanstat", dirname(exe));
}

/*
 * Run kchanstat with @args (NULL-terminated), its stdout and stderr into
 * @out: its exit status, or -errno.
 */
static int kt_kchanstat(char *out, size_t size, const char *const *args)
{
	char path[PATH_MAX];
	const char *argv[16] = { "kchanstat" };
	int pipefd[2], status, ret;
	ssize_t n, len = 0;
	pid_t pid;

	kt_kchanstat_path(path, sizeof(path));
	for (int i = 0; args[i] && i < 14; i++)
		argv[i + 1] = args[i];
	if (pipe(pipefd))
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		execv(path, (char *const *)argv);
		dprintf(2, "exec %s: %m\n", path);
		_exit(127);
	}
	close(pipefd[1]);
	while (len < (ssize_t)size - 1 &&
	       (n = read(pipefd[0], out + len, size - 1 - len)) > 0)
		len += n;
	out[len] = '\0';
	close(pipefd[0]);
	ret = kt_waitpid(pid, &status);
	if (ret)
		return ret;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -ECHILD;
}

/* The ids of the table's lines, in order (lines starting with a number). */
static int kt_table_ids(const char *out, unsigned long long *ids, int max)
{
	const char *p = out;
	int n = 0;

	while (*p && n < max) {
		char *end;
		unsigned long long id = strtoull(p, &end, 10);

		if (end != p && (*end == ' ' || *end == '\t'))
			ids[n++] = id;
		p = strchrnul(p, '\n');
		if (*p)
			p++;
	}
	return n;
}

static bool kt_table_has(const char *out, unsigned long long id)
{
	unsigned long long ids[64];
	int n = kt_table_ids(out, ids, 64);

	for (int i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* The goroutine-leak detector finds a receiver stuck for > 100 ms. */
TEST(kchanstat_finds_stuck_receiver)
{
	const char *over[] = { "-t", "100ms", NULL };
	const char *big[] = { "-t", "1h", NULL };
	const char *all[] = { NULL };
	char path[PATH_MAX], out[16384];
	struct kt_worker w;
	unsigned long long id;
	int ch;

	kt_kchanstat_path(path, sizeof(path));
	ASSERT_EQ(0, access(path, X_OK)) TH_LOG("%s: %m", path);
	ch = KT_MAKE_CHAN(8, 0, 0);
	id = kt_id(ch);
	ASSERT_EQ(0, kt_start_recv(&w, ch));
	ASSERT_EQ(0, kt_wait_queues(ch, 0, 1));
	kt_sleep_us(300 * 1000);

	EXPECT_EQ(1, kt_kchanstat(out, sizeof(out), over)) TH_LOG("%s", out);
	EXPECT_TRUE(kt_table_has(out, id)) TH_LOG("%s", out);
	EXPECT_EQ(0, kt_kchanstat(out, sizeof(out), big)) TH_LOG("%s", out);
	EXPECT_FALSE(kt_table_has(out, id)) TH_LOG("%s", out);
	EXPECT_EQ(0, kt_kchanstat(out, sizeof(out), all)) TH_LOG("%s", out);
	EXPECT_TRUE(kt_table_has(out, id)) TH_LOG("%s", out);

	ASSERT_EQ(0, kt_send_u64(ch, 1));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(0, kt_kchanstat(out, sizeof(out), over)) TH_LOG("%s", out);
	EXPECT_FALSE(kt_table_has(out, id)) TH_LOG("%s", out);
	close(ch);
}

#define LISTING	"/tmp/kt-listing"

/* Sorting, the threshold and errors, on a prepared listing. */
TEST(kchanstat_reads_a_file)
{
	const char *by_id[] = { "-f", LISTING, "-s", "id", NULL };
	const char *by_wait[] = { "-f", LISTING, NULL };
	const char *by_len[] = { "-f", LISTING, "-s", "len", NULL };
	const char *over1s[] = { "-f", LISTING, "-t", "1s", NULL };
	const char *over3s[] = { "-f", LISTING, "-t", "3s", NULL };
	const char *missing[] = { "-f", LISTING ".none", NULL };
	const char *bad_t[] = { "-f", LISTING, "-t", "soon", NULL };
	const char *bad_s[] = { "-f", LISTING, "-s", "colour", NULL };
	const char *by_subs[] = { "-f", LISTING, "-s", "subscribers", NULL };
	char out[8192];
	unsigned long long ids[8];

	/* The listing of a module without broadcast channels. */
	ASSERT_EQ(0, kt_create_file(LISTING, OLD_HEADER "\n"
		"7 100 a\\040b / 0 8 0 0 0 0 1 2500000000\n"
		"3 101 w /x 1000 8 16 5 0 1 0 0\n"
		"12 102 z /y 0 4 0 0 0 0 1 700000000\n"));

	ASSERT_EQ(0, kt_kchanstat(out, sizeof(out), by_id)) TH_LOG("%s", out);
	ASSERT_EQ(3, kt_table_ids(out, ids, 8)) TH_LOG("%s", out);
	EXPECT_EQ(3, ids[0]);
	EXPECT_EQ(7, ids[1]);
	EXPECT_EQ(12, ids[2]);
	EXPECT_NE(NULL, strstr(out, "a\\040b")) TH_LOG("%s", out);

	ASSERT_EQ(0, kt_kchanstat(out, sizeof(out), by_wait)) TH_LOG("%s", out);
	ASSERT_EQ(3, kt_table_ids(out, ids, 8)) TH_LOG("%s", out);
	EXPECT_EQ(7, ids[0]);
	EXPECT_EQ(12, ids[1]);
	EXPECT_EQ(3, ids[2]);

	ASSERT_EQ(0, kt_kchanstat(out, sizeof(out), by_len)) TH_LOG("%s", out);
	ASSERT_EQ(3, kt_table_ids(out, ids, 8)) TH_LOG("%s", out);
	EXPECT_EQ(3, ids[0]);
	/* Its channels are plain ones. */
	EXPECT_NE(NULL, strstr(out, "KIND")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "channel")) TH_LOG("%s", out);
	EXPECT_EQ(NULL, strstr(out, "broadcast")) TH_LOG("%s", out);

	ASSERT_EQ(1, kt_kchanstat(out, sizeof(out), over1s)) TH_LOG("%s", out);
	ASSERT_EQ(1, kt_table_ids(out, ids, 8)) TH_LOG("%s", out);
	EXPECT_EQ(7, ids[0]);
	ASSERT_EQ(0, kt_kchanstat(out, sizeof(out), over3s)) TH_LOG("%s", out);
	EXPECT_EQ(0, kt_table_ids(out, ids, 8)) TH_LOG("%s", out);

	EXPECT_EQ(2, kt_kchanstat(out, sizeof(out), missing)) TH_LOG("%s", out);
	EXPECT_EQ(2, kt_kchanstat(out, sizeof(out), bad_t)) TH_LOG("%s", out);
	EXPECT_EQ(2, kt_kchanstat(out, sizeof(out), bad_s)) TH_LOG("%s", out);

	/* Broadcast channels: sorted by subscribers, most first. */
	ASSERT_EQ(0, kt_create_file(LISTING, HEADER "\n"
		"7 100 a / 0 8 4 0 0 0 0 0 broadcast 3 0\n"
		"3 101 w /x 1000 8 16 5 0 0 0 0 channel 0 0\n"
		"12 102 z /y 0 4 2 2 0 0 0 0 broadcast-lossy 9000 17\n"));
	ASSERT_EQ(0, kt_kchanstat(out, sizeof(out), by_subs)) TH_LOG("%s", out);
	ASSERT_EQ(3, kt_table_ids(out, ids, 8)) TH_LOG("%s", out);
	EXPECT_EQ(12, ids[0]);
	EXPECT_EQ(7, ids[1]);
	EXPECT_EQ(3, ids[2]);
	EXPECT_NE(NULL, strstr(out, "broadcast-lossy")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "9000")) TH_LOG("%s", out);

	/* A file that is not a listing. */
	ASSERT_EQ(0, kt_create_file(LISTING, "hello world\n"));
	EXPECT_EQ(2, kt_kchanstat(out, sizeof(out), by_id)) TH_LOG("%s", out);
	unlink(LISTING);
}

TEST_HARNESS_MAIN
