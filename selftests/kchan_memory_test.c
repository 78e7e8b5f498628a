// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: memory, memory cgroups and the run-time limits.
 *
 * Memory cgroups (cgroup v2 at /sys/fs/cgroup with the memory controller;
 * skipped without it): each test of the memcg fixture moves its process
 * into a fresh /sys/fs/cgroup/kchan-mem-P (enabling +memory in the root's
 * cgroup.subtree_control if it was off) and removes it again afterwards.
 * A channel's ring is charged to the creator's cgroup (memory.current grows
 * by about the ring, for rings served by kmalloc and by vmalloc alike) and
 * uncharged when the last descriptor goes, wherever that descriptor is.
 * Past memory.max, creation fails with -ENOMEM, the charge of the partial
 * ring is given back, nothing is OOM-killed (memory.events oom_kill stays
 * 0) and creation works again once memory is freed; a blocked send or
 * receive that cannot allocate its parked element gets -ENOMEM, not an OOM
 * kill.  A broadcast channel's ring is charged once however many
 * subscribe and whatever it holds; each subscriber costs a small constant.
 *
 * Limits (/sys/module/kchan/parameters/, saved and restored by the limits
 * fixture): each one lowered is enforced with its errno on otherwise valid
 * input (max_elem_size, max_capacity, max_ring_bytes: -EINVAL;
 * max_channels_per_user: -ENOSPC, counted per channel, not per descriptor,
 * and per real user id); values out of range are refused and leave the
 * parameter as it was; values at the ABI's ceilings are accepted; a
 * lowered limit spares channels that already exist.
 *
 * The allocation counter (/sys/class/misc/kchan/allocations): 100 000
 * buffered send/receive pairs allocate nothing, while a receive or send
 * that blocks allocates its parked element (so the counter is live).
 */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

#define CG_ROOT		"/sys/fs/cgroup"
#define CG_PATH_MAX	160

#define KiB		1024LL
#define MiB		(1024 * KiB)

/* The large channel of the issue: 4096 elements of 4 KiB, a 16 MiB ring. */
#define BIG_ELEM	4096
#define BIG_CAP		4096
#define BIG_RING	((long long)BIG_ELEM * BIG_CAP)

/*
 * memory.current is a page counter with per-CPU "stocks" of pre-charged
 * pages (64 pages, 256 KiB, per CPU): it moves in steps and may be up to a
 * few stocks off the bytes really in use.  Charges are checked against
 * these bounds: at least 90% of the ring, at most the ring plus 2 MiB (the
 * channel object, the file, the stocks); after the last close, back within
 * 1 MiB of where it started.
 */
#define GROWTH_MIN(ring)	((ring) * 9 / 10)
#define GROWTH_MAX(ring)	((ring) + 2 * MiB)
/*
 * What a channel costs besides its ring: struct kchan, its file and
 * dentry - about 1 KiB, 6 KiB on a KASAN kernel with its redzones.
 */
#define PER_CHANNEL_SLACK	(8 * 1024)
#define RELEASE_SLACK		(1 * MiB)

/* Touch this much stack before working near memory.max. */
#define STACK_PREFAULT		(256 * KiB)

static bool have_memcg(void)
{
	char buf[256];

	if (kt_read_file(CG_ROOT "/cgroup.controllers", buf, sizeof(buf)) < 0)
		return false;
	return strstr(buf, "memory") != NULL;
}

/*
 * Fault in the stack and have stdio set itself up, so that nothing the
 * test does itself needs new memory while its cgroup is at memory.max (a
 * user page fault at the limit is an OOM kill, whatever kchan does).
 */
static void __attribute__((noinline)) prefault(void)
{
	volatile char pad[STACK_PREFAULT];

	for (size_t i = 0; i < sizeof(pad); i += 1024)
		pad[i] = 1;
	fflush(stdout);
	fflush(stderr);
}

FIXTURE(memcg) {
	bool skip;
	bool moved;		/* this process was moved into @dir */
	bool root_memory;	/* we enabled +memory at the root */
	char dir[CG_PATH_MAX];
	char per_user[32];	/* saved max_channels_per_user, if changed */
};

static int cg_path(char *buf, const char *dir, const char *file)
{
	return snprintf(buf, CG_PATH_MAX, "%s/%s", dir, file) < CG_PATH_MAX ? 0 : -ENAMETOOLONG;
}

static int cg_write(const char *dir, const char *file, const char *s)
{
	char path[CG_PATH_MAX];

	return cg_path(path, dir, file) ?: kt_write_file(path, s);
}

static int cg_write_ll(const char *dir, const char *file, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	return cg_write(dir, file, buf);
}

/* A cgroup file holding one number: the number, or -errno. */
static long long cg_read_ll(const char *dir, const char *file)
{
	char path[CG_PATH_MAX];
	uint64_t v;
	int ret;

	ret = cg_path(path, dir, file) ?: kt_read_u64(path, &v);
	return ret < 0 ? ret : (long long)v;
}

/* A "key value" line of memory.events: the value, or -errno. */
static long long cg_event(const char *dir, const char *key)
{
	char path[CG_PATH_MAX], buf[1024], *line, *save;
	size_t klen = strlen(key);
	int ret;

	ret = cg_path(path, dir, "memory.events") ?: kt_read_file(path, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (!strncmp(line, key, klen) && line[klen] == ' ')
			return strtoll(line + klen + 1, NULL, 10);
	return -ENOENT;
}

static long long mem_current(FIXTURE_DATA(memcg) *self)
{
	return cg_read_ll(self->dir, "memory.current");
}

static int cg_open(FIXTURE_DATA(memcg) *self, const char *file, int flags)
{
	char path[CG_PATH_MAX];
	int fd, ret = cg_path(path, self->dir, file);

	if (ret)
		return ret;
	fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int fd_write_ll(int fd, long long v)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%lld", v);

	return pwrite(fd, buf, len, 0) == len ? 0 : -errno;
}

static long long fd_read_ll(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

/*
 * Set memory.max to leave exactly @room bytes for new charges.
 *
 * memory.current also counts pages pre-charged to per-CPU stocks (up to
 * 256 KiB per CPU), which later charges use without meeting memory.max:
 * hidden room.  The stocks are given back by raising memory.high over the
 * usage (which drains them, tries reclaim - nothing to find without swap -
 * and returns; unlike memory.max, memory.high never OOM-kills).  Opening a
 * cgroup file (struct file) or reading it the first time (its seq_file
 * buffer) is charged too and may refill a stock, so all of it is done
 * through descriptors opened and read beforehand.  The drain on other
 * CPUs runs in a work item: it gets a moment.
 *
 * Returns 0 or -errno; the usage the room is counted from in *usage.
 */
static int cg_set_room(FIXTURE_DATA(memcg) *self, long long room, long long *usage)
{
	int cur = cg_open(self, "memory.current", O_RDONLY);
	int max = cg_open(self, "memory.max", O_WRONLY);
	int high = cg_open(self, "memory.high", O_WRONLY);
	int ret = cur < 0 ? cur : max < 0 ? max : high < 0 ? high : 0;

	if (!ret && fd_read_ll(cur) < 0)
		ret = -EIO;
	if (!ret && pwrite(high, "0", 1, 0) != 1)
		ret = -errno;
	if (!ret && pwrite(high, "max", 3, 0) != 3)
		ret = -errno;
	if (!ret) {
		kt_sleep_us(50 * 1000);
		*usage = fd_read_ll(cur);
		ret = *usage < 0 ? (int)*usage : fd_write_ll(max, *usage + room);
	}
	if (cur >= 0)
		close(cur);
	if (max >= 0)
		close(max);
	if (high >= 0)
		close(high);
	return ret;
}

/* rmdir() a cgroup if it exists, retrying while it empties. */
static void cg_rmdir(const char *dir)
{
	int64_t end = kt_now_ns() + KT_WAIT_NS;

	while (dir[0] && rmdir(dir) && errno == EBUSY && kt_now_ns() < end)
		kt_sleep_us(1000);
}

static void cg_leave(FIXTURE_DATA(memcg) *self)
{
	char buf[32];

	if (self->per_user[0])
		kt_param_set("max_channels_per_user", self->per_user);
	if (self->moved) {
		snprintf(buf, sizeof(buf), "%d", getpid());
		if (!kt_write_file(CG_ROOT "/cgroup.procs", buf))
			self->moved = false;
	}
	cg_rmdir(self->dir);
	if (self->root_memory && !kt_write_file(CG_ROOT "/cgroup.subtree_control", "-memory"))
		self->root_memory = false;
}

static int cg_enter(FIXTURE_DATA(memcg) *self)
{
	char buf[256];
	int ret;

	ret = kt_read_file(CG_ROOT "/cgroup.subtree_control", buf, sizeof(buf));
	if (ret < 0)
		return ret;
	if (!strstr(buf, "memory")) {
		ret = kt_write_file(CG_ROOT "/cgroup.subtree_control", "+memory");
		if (ret)
			return ret;
		self->root_memory = true;
	}
	if (mkdir(self->dir, 0755))
		return -errno;
	ret = cg_write(self->dir, "cgroup.procs", "0");
	if (ret)
		return ret;
	self->moved = true;
	/* No swap: what is charged stays charged. */
	cg_write(self->dir, "memory.swap.max", "0");
	return mem_current(self) < 0 ? -ENOENT : 0;
}

FIXTURE_SETUP(memcg)
{
	int ret;

	if (!have_memcg()) {
		self->skip = true;
		return;
	}
	snprintf(self->dir, CG_PATH_MAX, CG_ROOT "/kchan-mem-%d", getpid());
	ret = cg_enter(self);
	if (ret)
		cg_leave(self);
	ASSERT_EQ(0, ret) TH_LOG("memory cgroup setup: %s", strerror(-ret));
}

/*
 * No TH_LOG() after EXPECT_*() in a teardown: after a failed ASSERT in the
 * test, the 6.1 harness would print it whatever the outcome.
 */
FIXTURE_TEARDOWN(memcg)
{
	cg_leave(self);
	if (self->moved)
		TH_LOG("could not move back to " CG_ROOT);
	EXPECT_FALSE(self->moved);
}

#define MEMCG_REQUIRE() do {						\
	if (self->skip)							\
		SKIP(return, "no cgroup2 memory controller at " CG_ROOT);	\
} while (0)

/* Assert that nothing in the cgroup was OOM-killed, and log its events. */
#define EXPECT_NO_OOM_KILL() do {					\
	long long __kills = cg_event(self->dir, "oom_kill");		\
	TH_LOG("memory.events: max %lld oom %lld oom_kill %lld",	\
	       cg_event(self->dir, "max"), cg_event(self->dir, "oom"),	\
	       __kills);						\
	EXPECT_EQ(0, __kills);						\
} while (0)

/* Requirement: the ring is charged to the creator and uncharged on the last close. */

TEST_F(memcg, fixture_holds_this_process)
{
	char buf[512], want[CG_PATH_MAX + 8];

	MEMCG_REQUIRE();
	ASSERT_LE(0, kt_read_file("/proc/self/cgroup", buf, sizeof(buf)));
	snprintf(want, sizeof(want), "0::%s", self->dir + strlen(CG_ROOT));
	EXPECT_NE(NULL, strstr(buf, want)) TH_LOG("/proc/self/cgroup: %s", buf);
	ASSERT_EQ(0, cg_path(want, self->dir, "memory.max"));
	ASSERT_LE(0, kt_read_file(want, buf, sizeof(buf)));
	EXPECT_STREQ("max", buf);
	EXPECT_LE(0, mem_current(self));
	EXPECT_EQ(0, cg_event(self->dir, "oom_kill"));
}

TEST_F(memcg, large_ring_charged_then_released)
{
	long long before, created, filled, after;
	static char elems[64][BIG_ELEM];
	int fd, i;

	MEMCG_REQUIRE();
	prefault();
	memset(elems, 0x5a, sizeof(elems));
	before = mem_current(self);
	ASSERT_LE(0, before);
	fd = KT_MAKE_CHAN(BIG_ELEM, BIG_CAP, 0);
	created = mem_current(self);
	/* A full ring holds its elements inline: nothing more is charged. */
	for (i = 0; i < BIG_CAP; i += 64)
		ASSERT_EQ(64, kchan_send_many(fd, elems, 64));
	ASSERT_EQ(BIG_CAP, kchan_len(fd));
	filled = mem_current(self);
	/* A mapping holds the ring's pages: drop libchanuser's first. */
	kchan_unmap(fd);
	ASSERT_EQ(0, close(fd));
	after = mem_current(self);

	TH_LOG("ring %lld: memory.current before %lld, created %lld (%+lld), full %lld (%+lld), closed %lld (%+lld)",
	       BIG_RING, before, created, created - before, filled, filled - before,
	       after, after - before);
	EXPECT_LE(GROWTH_MIN(BIG_RING), created - before);
	EXPECT_GE(GROWTH_MAX(BIG_RING), created - before);
	EXPECT_GE(RELEASE_SLACK, llabs(filled - created));
	EXPECT_GE(RELEASE_SLACK, llabs(after - before));
}

TEST_F(memcg, charge_stays_while_a_dup_is_open)
{
	static char elem[BIG_ELEM];
	long long before, created, one_left, after;
	int fd, fd2;

	MEMCG_REQUIRE();
	prefault();
	before = mem_current(self);
	fd = KT_MAKE_CHAN(BIG_ELEM, BIG_CAP, 0);
	created = mem_current(self);
	fd2 = dup(fd);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, close(fd));
	one_left = mem_current(self);
	/* The channel still works through the duplicate. */
	EXPECT_EQ(0, kchan_send(fd2, elem));
	kchan_unmap(fd2);	/* a mapping holds the ring's pages */
	ASSERT_EQ(0, close(fd2));
	after = mem_current(self);

	TH_LOG("memory.current before %lld, created %+lld, dup left %+lld, all closed %+lld",
	       before, created - before, one_left - before, after - before);
	EXPECT_LE(GROWTH_MIN(BIG_RING), created - before);
	EXPECT_GE(GROWTH_MAX(BIG_RING), created - before);
	EXPECT_GE(RELEASE_SLACK, llabs(one_left - created));
	EXPECT_GE(RELEASE_SLACK, llabs(after - before));
}

/*
 * A mapped ring (KCHAN_MAPPABLE) is charged to the creator once, however
 * often it is mapped, and freed only when the last descriptor is closed
 * and the last mapping is gone: the mappings keep the pages.
 */
TEST_F(memcg, mapped_ring_charged_until_the_last_mapping_goes)
{
	long long before, created, mapped, fd_closed, ring_unmapped, after;
	struct kchan_map_info mi = { .size = sizeof(mi) };
	void *ctrl, *ring;
	int fd;

	MEMCG_REQUIRE();
	prefault();
	before = mem_current(self);
	fd = kt_create(BIG_ELEM, BIG_CAP, KCHAN_MAPPABLE);
	ASSERT_LE(0, fd);
	created = mem_current(self);
	ASSERT_EQ(0, kt_ioctl(fd, KCHAN_IOC_MAP_INFO, (unsigned long)&mi));
	ctrl = mmap(NULL, mi.control_size, PROT_READ, MAP_SHARED, fd,
		    mi.control_offset);
	ASSERT_NE(MAP_FAILED, ctrl);
	ring = mmap(NULL, mi.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		    mi.ring_offset);
	ASSERT_NE(MAP_FAILED, ring);
	mapped = mem_current(self);
	ASSERT_EQ(0, close(fd));
	fd_closed = mem_current(self);
	ASSERT_EQ(0, munmap(ring, mi.ring_size));
	ring_unmapped = mem_current(self);
	ASSERT_EQ(0, munmap(ctrl, mi.control_size));
	after = mem_current(self);

	TH_LOG("memory.current before %lld, created %+lld, mapped %+lld, fd closed %+lld, ring unmapped %+lld, all gone %+lld",
	       before, created - before, mapped - before, fd_closed - before,
	       ring_unmapped - before, after - before);
	EXPECT_LE(GROWTH_MIN(BIG_RING), created - before);
	EXPECT_GE(GROWTH_MAX(BIG_RING), created - before);
	EXPECT_GE(RELEASE_SLACK, llabs(mapped - created)) TH_LOG("mapping charges nothing more");
	EXPECT_GE(RELEASE_SLACK, llabs(fd_closed - created));
	EXPECT_GE(RELEASE_SLACK, llabs(ring_unmapped - created));
	EXPECT_GE(RELEASE_SLACK, llabs(after - before));
}

/*
 * The charge belongs to the cgroup that created the channel, and stays
 * while another process (here a child that inherited the descriptor and
 * then left for the root cgroup) holds the channel.
 */
TEST_F(memcg, charge_stays_while_another_process_holds_it)
{
	long long before, parent_closed, after;
	int fd, go[2], ready[2], status;
	char c;
	pid_t pid;

	MEMCG_REQUIRE();
	prefault();
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(ready));
	fd = KT_MAKE_CHAN(BIG_ELEM, BIG_CAP, 0);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char buf[32];

		close(go[1]);
		close(ready[0]);
		snprintf(buf, sizeof(buf), "%d", getpid());
		if (kt_write_file(CG_ROOT "/cgroup.procs", buf))
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(2);
		/* Hold the channel until told to go. */
		if (read(go[0], &c, 1) < 0)
			_exit(3);
		close(fd);
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	ASSERT_EQ(1, read(ready[0], &c, 1));
	before = mem_current(self);
	ASSERT_EQ(0, close(fd));
	parent_closed = mem_current(self);
	ASSERT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(0, kt_waitpid(pid, &status));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	after = mem_current(self);

	TH_LOG("memory.current with the channel %lld, parent closed %+lld, child gone %+lld",
	       before, parent_closed - before, after - before);
	EXPECT_GE(RELEASE_SLACK, llabs(parent_closed - before));
	EXPECT_LE(GROWTH_MIN(BIG_RING), before - after);
	EXPECT_GE(GROWTH_MAX(BIG_RING), before - after);
	close(go[1]);
	close(ready[0]);
}

/*
 * A broadcast channel stores each element once: its ring is charged like
 * a plain channel's, each subscriber costs a small constant (its struct,
 * its file and dentry: at most SUB_COST_MAX, a quarter of what a pipe
 * costs before its first write), and a full ring read by many subscribers
 * costs no more than a full ring read by none.  Everything goes back when
 * the subscribers and the channel are closed (files and dentries are
 * freed after an RCU grace period: waited for, bounded).
 */
#define NSUBS		2000
#define SUB_COST_MAX	(4 * KiB)
#define BC_ELEM		4096
#define BC_CAP		1024
#define BC_RING		((long long)BC_ELEM * BC_CAP)

/* memory.current once it is back within @slack of @target, or as it is after 5 s. */
static long long mem_settle(FIXTURE_DATA(memcg) *self, long long target, long long slack)
{
	int64_t end = kt_now_ns() + 5 * KT_NSEC;
	long long cur;

	while ((cur = mem_current(self)) >= 0 && llabs(cur - target) > slack &&
	       kt_now_ns() < end)
		kt_sleep_us(10 * 1000);
	return cur;
}

TEST_F(memcg, broadcast_ring_charged_once_subscribers_cost_a_constant)
{
	struct rlimit old, rl = { NSUBS + 64, NSUBS + 64 };
	long long before, created, subscribed, filled, unsubscribed, after;
	static char elems[64][BC_ELEM];
	static int subs[NSUBS];
	int bch, i;

	MEMCG_REQUIRE();
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &old));
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	prefault();
	memset(elems, 0x3c, sizeof(elems));
	before = mem_current(self);
	bch = kchan_make_broadcast(BC_ELEM, BC_CAP, 0);
	ASSERT_LE(0, bch);
	created = mem_current(self);
	for (i = 0; i < NSUBS; i++) {
		subs[i] = kchan_subscribe(bch, KCHAN_CLOEXEC);
		ASSERT_LE(0, subs[i]) TH_LOG("subscriber %d: %s", i, strerror(-subs[i]));
	}
	subscribed = mem_current(self);
	/* A full ring: every subscriber has all of it to receive. */
	for (i = 0; i < BC_CAP; i += 64)
		ASSERT_EQ(64, kchan_send_many(bch, elems, 64));
	ASSERT_EQ(BC_CAP, kchan_len(subs[NSUBS - 1]));
	filled = mem_current(self);
	for (i = 0; i < NSUBS; i++)
		close(subs[i]);
	unsubscribed = mem_settle(self, created, RELEASE_SLACK);
	ASSERT_EQ(0, close(bch));
	after = mem_settle(self, before, RELEASE_SLACK);
	setrlimit(RLIMIT_NOFILE, &old);

	TH_LOG("ring %lld: created %+lld, %d subscribers %+lld (%lld each), full %+lld, "
	       "unsubscribed %+lld, closed %+lld", BC_RING, created - before, NSUBS,
	       subscribed - created, (subscribed - created) / NSUBS, filled - subscribed,
	       unsubscribed - created, after - before);
	EXPECT_LE(GROWTH_MIN(BC_RING), created - before);
	EXPECT_GE(GROWTH_MAX(BC_RING), created - before);
	EXPECT_LT(0, subscribed - created);
	EXPECT_GE(SUB_COST_MAX * NSUBS, subscribed - created);
	/* Elements are stored once, not once per subscriber. */
	EXPECT_GE(RELEASE_SLACK, llabs(filled - subscribed));
	EXPECT_GE(RELEASE_SLACK, llabs(unsubscribed - created));
	EXPECT_GE(RELEASE_SLACK, llabs(after - before));
}

/*
 * Rings of every size class are charged: slab-sized, kmalloc'd pages,
 * and vmalloc'd up to the 64 MiB ceiling.  Small rings are created by the
 * dozen so that the sum stands out of the counter's noise.
 */
TEST_F(memcg, rings_of_every_size_are_charged)
{
	static const struct { uint32_t elem; uint64_t cap; int n; } sizes[] = {
		{ 64, 64, 512 },		/* 4 KiB */
		{ 1024, 64, 256 },		/* 64 KiB */
		{ 1024, 1024, 32 },		/* 1 MiB */
		{ 4096, 1024, 8 },		/* 4 MiB */
		{ BIG_ELEM, BIG_CAP, 2 },	/* 16 MiB */
		{ 65536, 1024, 1 },		/* 64 MiB, KCHAN_RING_BYTES_MAX */
	};
	static int fds[512];
	struct rlimit rl;

	MEMCG_REQUIRE();
	prefault();
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_cur < 600) {
		rl.rlim_cur = rl.rlim_max < 600 ? rl.rlim_max : 600;
		ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	}
	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		long long ring = (long long)sizes[s].elem * sizes[s].cap;
		long long total = ring * sizes[s].n;
		long long before, created, after;
		int i;

		before = mem_current(self);
		/* Plain rings: a mappable one's pages are kchan_mapped_test's. */
		for (i = 0; i < sizes[s].n; i++) {
			fds[i] = kt_create(sizes[s].elem, sizes[s].cap, 0);
			ASSERT_LE(0, fds[i]);
		}
		created = mem_current(self);
		for (i = 0; i < sizes[s].n; i++)
			ASSERT_EQ(0, close(fds[i]));
		after = mem_current(self);
		TH_LOG("%d x ring %lld: memory.current %+lld (%lld per channel), closed %+lld",
		       sizes[s].n, ring, created - before, (created - before) / sizes[s].n,
		       after - before);
		EXPECT_LE(GROWTH_MIN(total), created - before);
		EXPECT_GE(GROWTH_MAX(total) + sizes[s].n * PER_CHANNEL_SLACK,
			  created - before);
		EXPECT_GE(RELEASE_SLACK, llabs(after - before));
	}
}

/* Requirement: past memory.max, -ENOMEM and no OOM kill. */

TEST_F(memcg, create_past_memory_max_fails_enomem)
{
	long long base, fulls, after_fail, after_close;
	int fds[8], n, i, ret, small;

	MEMCG_REQUIRE();
	prefault();
	base = mem_current(self);
	ASSERT_LE(0, base);
	/* Room for two 16 MiB rings and 8 MiB more: the third must fail. */
	ASSERT_EQ(0, cg_write_ll(self->dir, "memory.max", base + 2 * BIG_RING + 8 * MiB));
	for (n = 0; n < 8; n++) {
		ret = kchan_make(BIG_ELEM, BIG_CAP, 0);
		if (ret < 0)
			break;
		fds[n] = ret;
	}
	fulls = mem_current(self);
	EXPECT_EQ(2, n);
	EXPECT_EQ(-ENOMEM, ret) TH_LOG("creation %d: %s", n + 1, strerror(-ret));
	/* Again and again: still -ENOMEM, and each failure gives its charge back. */
	for (i = 0; i < 20; i++)
		EXPECT_EQ(-ENOMEM, kchan_make(BIG_ELEM, BIG_CAP, KCHAN_CLOEXEC));
	after_fail = mem_current(self);
	/* The 8 MiB left are really free: a 4 MiB ring fits. */
	small = kchan_make(4096, 1024, 0);
	EXPECT_LE(0, small) TH_LOG("4 MiB ring under the limit: %s", strerror(-small));
	TH_LOG("memory.max %lld: memory.current base %lld, %d rings %+lld, after 21 failures %+lld",
	       base + 2 * BIG_RING + 8 * MiB, base, n, fulls - base, after_fail - base);
	EXPECT_GE(RELEASE_SLACK, llabs(after_fail - fulls));
	EXPECT_LE(1, cg_event(self->dir, "max"));
	EXPECT_NO_OOM_KILL();

	/* Memory freed: creation works again. */
	if (small >= 0)
		close(small);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, close(fds[i]));
	after_close = mem_current(self);
	EXPECT_GE(RELEASE_SLACK, llabs(after_close - base));
	for (i = 0; i < 2; i++) {
		fds[i] = kchan_make(BIG_ELEM, BIG_CAP, 0);
		EXPECT_LE(0, fds[i]) TH_LOG("after closing: %s", strerror(-fds[i]));
	}
	for (i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	EXPECT_NO_OOM_KILL();
	EXPECT_EQ(0, cg_write(self->dir, "memory.max", "max"));
}

/* Many small (kmalloc'd) rings up to the limit: the same. */
TEST_F(memcg, many_rings_past_memory_max_fail_enomem)
{
	enum { MAX_FDS = 64 };
	long long base;
	int fds[MAX_FDS], n, i, ret = 0;

	MEMCG_REQUIRE();
	prefault();
	base = mem_current(self);
	ASSERT_EQ(0, cg_write_ll(self->dir, "memory.max", base + 24 * MiB + 512 * KiB));
	for (n = 0; n < MAX_FDS; n++) {
		ret = kchan_make(1024, 1024, 0);
		if (ret < 0)
			break;
		fds[n] = ret;
	}
	TH_LOG("memory.max base + 24.5 MiB: %d rings of 1 MiB, then %s", n, strerror(-ret));
	EXPECT_EQ(-ENOMEM, ret);
	EXPECT_LE(22, n);
	EXPECT_GE(25, n);
	EXPECT_EQ(-ENOMEM, kchan_make(1024, 1024, 0));
	EXPECT_NO_OOM_KILL();
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, close(fds[i]));
	/* All of it back: as many again. */
	for (i = 0; i < n; i++) {
		fds[i] = kchan_make(1024, 1024, 0);
		ASSERT_LE(0, fds[i]) TH_LOG("ring %d after closing: %s", i, strerror(-fds[i]));
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
	EXPECT_NO_OOM_KILL();
	EXPECT_EQ(0, cg_write(self->dir, "memory.max", "max"));
}

/*
 * A creation that fails with -ENOMEM after the channel was counted
 * against its user gives the count back.
 */
TEST_F(memcg, enomem_does_not_leak_the_user_count)
{
	int fds[3], i, ret;
	long long base;

	MEMCG_REQUIRE();
	prefault();
	ASSERT_LE(0, kt_read_file(KT_PARAM_DIR "max_channels_per_user",
				  self->per_user, sizeof(self->per_user)));
	ASSERT_EQ(0, kt_param_set("max_channels_per_user", "3"));
	base = mem_current(self);
	ASSERT_EQ(0, cg_write_ll(self->dir, "memory.max", base + 8 * MiB));
	for (i = 0; i < 10; i++)
		EXPECT_EQ(-ENOMEM, kchan_make(BIG_ELEM, BIG_CAP, 0));
	ASSERT_EQ(0, cg_write(self->dir, "memory.max", "max"));
	for (i = 0; i < 3; i++) {
		fds[i] = kchan_make(8, 1, 0);
		ASSERT_LE(0, fds[i]) TH_LOG("channel %d: %s", i, strerror(-fds[i]));
	}
	ret = kchan_make(8, 1, 0);
	EXPECT_EQ(-ENOSPC, ret);
	if (ret >= 0)
		close(ret);
	for (i = 0; i < 3; i++)
		close(fds[i]);
	EXPECT_NO_OOM_KILL();
}

/*
 * A send or receive that blocks parks its element in a buffer it
 * allocates (64 KiB and a bit here).  With almost no room left under
 * memory.max, that allocation fails: -ENOMEM (or, had it fitted, the
 * plain timeout), never an OOM kill; with room again it blocks as usual.
 */
#define PARK_TIMEOUT	(200 * KT_MSEC)

TEST_F(memcg, blocked_op_past_memory_max_is_enomem_not_oom)
{
	static char elem[65536];
	struct kchan_case cs;
	long long base = 0;
	int fd, send_ret, recv_ret, sel_ret;

	MEMCG_REQUIRE();
	prefault();
	fd = KT_MAKE_CHAN(sizeof(elem), 0, 0);
	/* Without a limit: the element is parked, the send times out. */
	EXPECT_EQ(-ETIMEDOUT, kchan_send_timeout(fd, elem, KT_MSEC));
	EXPECT_EQ(-ETIMEDOUT, kchan_recv_timeout(fd, elem, KT_MSEC));

	/* 32 KiB of real room, half the element. */
	ASSERT_EQ(0, cg_set_room(self, 32 * KiB, &base));

	/*
	 * The timeout is long enough not to run out before the call gets to
	 * allocate (under emulation a millisecond may): a call whose deadline
	 * has passed fails with -ETIMEDOUT before it would block.
	 */
	send_ret = kchan_send_timeout(fd, elem, PARK_TIMEOUT);
	recv_ret = kchan_recv_timeout(fd, elem, PARK_TIMEOUT);
	cs = (struct kchan_case){ .ch = fd, .op = KCHAN_CASE_SEND, .elem = elem };
	sel_ret = kchan_select(&cs, 1, PARK_TIMEOUT);

	ASSERT_EQ(0, cg_write(self->dir, "memory.max", "max"));
	TH_LOG("memory.current %lld, memory.max 32 KiB above: blocking send %s, receive %s, select %s",
	       base, strerror(-send_ret), strerror(-recv_ret), strerror(-sel_ret));
	EXPECT_TRUE(send_ret == -ENOMEM || send_ret == -ETIMEDOUT);
	EXPECT_TRUE(recv_ret == -ENOMEM || recv_ret == -ETIMEDOUT);
	EXPECT_TRUE(sel_ret == -ENOMEM || sel_ret == -ETIMEDOUT);
	/* As the margin is smaller than the element, expect the former. */
	EXPECT_EQ(-ENOMEM, send_ret);
	EXPECT_EQ(-ENOMEM, recv_ret);
	EXPECT_NO_OOM_KILL();

	/* Room again: the same calls block and time out. */
	EXPECT_EQ(-ETIMEDOUT, kchan_send_timeout(fd, elem, KT_MSEC));
	EXPECT_EQ(-ETIMEDOUT, kchan_recv_timeout(fd, elem, KT_MSEC));
	EXPECT_EQ(0, kchan_len(fd));
	close(fd);
}

/* Requirement: every limit enforced with its errno. */

static const char *const param_names[] = {
	"max_elem_size", "max_capacity", "max_ring_bytes", "max_channels_per_user",
};

FIXTURE(limits) {
	char saved[ARRAY_SIZE(param_names)][32];
};

FIXTURE_SETUP(limits)
{
	for (size_t i = 0; i < ARRAY_SIZE(param_names); i++) {
		char path[128];

		snprintf(path, sizeof(path), KT_PARAM_DIR "%s", param_names[i]);
		ASSERT_LT(0, kt_read_file(path, self->saved[i], sizeof(self->saved[i])))
			TH_LOG("cannot read %s", path);
	}
}

FIXTURE_TEARDOWN(limits)
{
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(param_names); i++) {
		ret = kt_param_set(param_names[i], self->saved[i]);
		if (ret)
			TH_LOG("cannot restore %s=%s", param_names[i], self->saved[i]);
		EXPECT_EQ(0, ret);
	}
}

/* kchan_make() and close the channel: 0 or -errno. */
static int try_make(size_t elem_size, size_t capacity)
{
	int fd = kchan_make(elem_size, capacity, 0);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int set_param(const char *name, long long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", v);
	return kt_param_set(name, buf);
}

TEST_F(limits, defaults_are_the_abi_ceilings)
{
	EXPECT_EQ(KCHAN_ELEM_SIZE_MAX, kt_param_get("max_elem_size"));
	EXPECT_EQ(KCHAN_CAPACITY_MAX, kt_param_get("max_capacity"));
	EXPECT_EQ(KCHAN_RING_BYTES_MAX, kt_param_get("max_ring_bytes"));
	EXPECT_LT(0, kt_param_get("max_channels_per_user"));
}

TEST_F(limits, max_elem_size_is_einval_beyond)
{
	ASSERT_EQ(0, set_param("max_elem_size", 1024));
	EXPECT_EQ(1024, kt_param_get("max_elem_size"));
	EXPECT_EQ(0, try_make(1024, 4));
	EXPECT_EQ(0, try_make(1024, 0));
	EXPECT_EQ(-EINVAL, try_make(1025, 4));
	EXPECT_EQ(-EINVAL, try_make(1025, 0));
	EXPECT_EQ(-EINVAL, try_make(KCHAN_ELEM_SIZE_MAX, 1));

	ASSERT_EQ(0, set_param("max_elem_size", 1));
	EXPECT_EQ(0, try_make(1, 1));
	EXPECT_EQ(-EINVAL, try_make(2, 1));

	ASSERT_EQ(0, set_param("max_elem_size", KCHAN_ELEM_SIZE_MAX));
	EXPECT_EQ(0, try_make(1025, 4));
	EXPECT_EQ(0, try_make(KCHAN_ELEM_SIZE_MAX, 1));
}

TEST_F(limits, max_capacity_is_einval_beyond)
{
	ASSERT_EQ(0, set_param("max_capacity", 100));
	EXPECT_EQ(100, kt_param_get("max_capacity"));
	EXPECT_EQ(0, try_make(8, 100));
	EXPECT_EQ(0, try_make(KCHAN_ELEM_SIZE_MAX, 100));
	EXPECT_EQ(0, try_make(8, 0));
	EXPECT_EQ(-EINVAL, try_make(8, 101));
	EXPECT_EQ(-EINVAL, try_make(1, KCHAN_CAPACITY_MAX));

	/* 0: unbuffered channels only. */
	ASSERT_EQ(0, set_param("max_capacity", 0));
	EXPECT_EQ(0, try_make(8, 0));
	EXPECT_EQ(-EINVAL, try_make(8, 1));

	ASSERT_EQ(0, set_param("max_capacity", KCHAN_CAPACITY_MAX));
	EXPECT_EQ(0, try_make(1, KCHAN_CAPACITY_MAX));
}

TEST_F(limits, max_ring_bytes_is_einval_beyond)
{
	ASSERT_EQ(0, set_param("max_ring_bytes", 65536));
	EXPECT_EQ(65536, kt_param_get("max_ring_bytes"));
	/* Each factor is within its own limit; only the product counts. */
	EXPECT_EQ(0, try_make(64, 1024));
	EXPECT_EQ(-EINVAL, try_make(64, 1025));
	EXPECT_EQ(0, try_make(65536, 1));
	EXPECT_EQ(-EINVAL, try_make(65536, 2));
	EXPECT_EQ(0, try_make(1, 65536));
	EXPECT_EQ(-EINVAL, try_make(1, 65537));
	EXPECT_EQ(-EINVAL, try_make(4096, 4096));
	/* An unbuffered channel has no ring. */
	EXPECT_EQ(0, try_make(65536, 0));

	ASSERT_EQ(0, set_param("max_ring_bytes", 0));
	EXPECT_EQ(0, try_make(1, 0));
	EXPECT_EQ(0, try_make(KCHAN_ELEM_SIZE_MAX, 0));
	EXPECT_EQ(-EINVAL, try_make(1, 1));

	ASSERT_EQ(0, set_param("max_ring_bytes", KCHAN_RING_BYTES_MAX));
	EXPECT_EQ(0, try_make(4096, 4096));
}

/* A limit lowered below what exists affects only later creations. */
TEST_F(limits, lowered_limits_spare_existing_channels)
{
	static char in[4096], out[4096];
	int big, wide;
	uint64_t v;

	big = KT_MAKE_CHAN(4096, 16, 0);
	wide = KT_MAKE_CHAN(8, 1000, 0);
	ASSERT_EQ(0, set_param("max_elem_size", 1024));
	ASSERT_EQ(0, set_param("max_capacity", 100));
	ASSERT_EQ(0, set_param("max_ring_bytes", 1024));

	EXPECT_EQ(-EINVAL, try_make(4096, 16));
	EXPECT_EQ(-EINVAL, try_make(8, 1000));
	kt_fill(in, sizeof(in), 1);
	for (int i = 0; i < 16; i++)
		ASSERT_EQ(0, kchan_try_send(big, in));
	EXPECT_EQ(16, kchan_len(big));
	EXPECT_EQ(16, kchan_cap(big));
	EXPECT_EQ(1, kchan_recv(big, out));
	EXPECT_TRUE(kt_check(out, sizeof(out), 1));
	for (uint64_t i = 0; i < 1000; i++)
		ASSERT_EQ(0, kchan_try_send(wide, &i));
	EXPECT_EQ(1000, kchan_cap(wide));
	EXPECT_EQ(1, kchan_recv(wide, &v));
	EXPECT_EQ(0, v);
	close(big);
	close(wide);
}

struct bad_value {
	const char *param;
	const char *value;
	int err;
};

TEST_F(limits, out_of_range_values_refused_and_unchanged)
{
	static const struct bad_value bad[] = {
		{ "max_elem_size", "0", EINVAL },
		{ "max_elem_size", "65537", EINVAL },
		{ "max_elem_size", "-1", EINVAL },
		{ "max_elem_size", "abc", EINVAL },
		{ "max_elem_size", "4294967296", ERANGE },
		{ "max_capacity", "1048577", EINVAL },
		{ "max_capacity", "-1", EINVAL },
		{ "max_capacity", "4294967296", ERANGE },
		{ "max_ring_bytes", "67108865", EINVAL },
		{ "max_ring_bytes", "-1", EINVAL },
		{ "max_ring_bytes", "4294967296", ERANGE },
		{ "max_channels_per_user", "-1", EINVAL },
		{ "max_channels_per_user", "abc", EINVAL },
		{ "max_channels_per_user", "4294967296", ERANGE },
	};

	/* Values other than the defaults, to see that nothing moves. */
	ASSERT_EQ(0, set_param("max_elem_size", 512));
	ASSERT_EQ(0, set_param("max_capacity", 300));
	ASSERT_EQ(0, set_param("max_ring_bytes", 4096));
	ASSERT_EQ(0, set_param("max_channels_per_user", 77));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		long long before = kt_param_get(bad[i].param);

		EXPECT_EQ(-bad[i].err, kt_param_set(bad[i].param, bad[i].value))
			TH_LOG("%s=%s", bad[i].param, bad[i].value);
		EXPECT_EQ(before, kt_param_get(bad[i].param))
			TH_LOG("%s changed by %s", bad[i].param, bad[i].value);
	}
	EXPECT_EQ(512, kt_param_get("max_elem_size"));
	EXPECT_EQ(300, kt_param_get("max_capacity"));
	EXPECT_EQ(4096, kt_param_get("max_ring_bytes"));
	EXPECT_EQ(77, kt_param_get("max_channels_per_user"));
	/* And still enforced as they were. */
	EXPECT_EQ(0, try_make(512, 8));
	EXPECT_EQ(-EINVAL, try_make(513, 1));
	EXPECT_EQ(-EINVAL, try_make(1, 301));
	EXPECT_EQ(-EINVAL, try_make(512, 9));
}

TEST_F(limits, values_at_the_ceilings_accepted)
{
	static const struct { const char *param; const char *value; long long want; } ok[] = {
		{ "max_elem_size", "1", 1 },
		{ "max_elem_size", "65536", KCHAN_ELEM_SIZE_MAX },
		{ "max_capacity", "0", 0 },
		{ "max_capacity", "1048576", KCHAN_CAPACITY_MAX },
		{ "max_ring_bytes", "0", 0 },
		{ "max_ring_bytes", "67108864", KCHAN_RING_BYTES_MAX },
		{ "max_channels_per_user", "0", 0 },
		{ "max_channels_per_user", "4294967295", 4294967295LL },
		/* As echo(1) writes it. */
		{ "max_elem_size", "65536\n", KCHAN_ELEM_SIZE_MAX },
		{ "max_channels_per_user", "16384\n", 16384 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		EXPECT_EQ(0, kt_param_set(ok[i].param, ok[i].value))
			TH_LOG("%s=%s", ok[i].param, ok[i].value);
		EXPECT_EQ(ok[i].want, kt_param_get(ok[i].param))
			TH_LOG("%s=%s", ok[i].param, ok[i].value);
	}
	/* All at the ceilings: the ABI's extremes are creatable. */
	ASSERT_EQ(0, set_param("max_capacity", KCHAN_CAPACITY_MAX));
	ASSERT_EQ(0, set_param("max_ring_bytes", KCHAN_RING_BYTES_MAX));
	EXPECT_EQ(0, try_make(KCHAN_ELEM_SIZE_MAX, KCHAN_RING_BYTES_MAX / KCHAN_ELEM_SIZE_MAX));
	EXPECT_EQ(0, try_make(1, KCHAN_CAPACITY_MAX));
	EXPECT_EQ(-EINVAL, try_make(KCHAN_ELEM_SIZE_MAX + 1, 1));
	EXPECT_EQ(-EINVAL, try_make(1, KCHAN_CAPACITY_MAX + 1));
	EXPECT_EQ(-EINVAL, try_make(KCHAN_ELEM_SIZE_MAX,
				    KCHAN_RING_BYTES_MAX / KCHAN_ELEM_SIZE_MAX + 1));
}

/*
 * max_channels_per_user counts channels (not descriptors) that exist:
 * N may exist, the next creation is -ENOSPC until one is gone - a
 * channel held by a dup or by another process still counts.
 */
TEST_F(limits, channels_per_user_is_enospc_beyond)
{
	enum { N = 8 };
	int fds[N], i, dup_fd, go[2], status;
	pid_t pid;
	char c;

	ASSERT_EQ(0, set_param("max_channels_per_user", N));
	for (i = 0; i < N; i++) {
		fds[i] = kchan_make(8, 4, 0);
		ASSERT_LE(0, fds[i]) TH_LOG("channel %d of %d: %s", i + 1, N, strerror(-fds[i]));
	}
	EXPECT_EQ(-ENOSPC, try_make(8, 4));
	EXPECT_EQ(-ENOSPC, try_make(1, 0));
	/* Failed creations consume nothing. */
	for (i = 0; i < 50; i++)
		ASSERT_EQ(-ENOSPC, try_make(8, 4));

	/* A duplicate keeps the channel, and its count. */
	dup_fd = dup(fds[0]);
	ASSERT_LE(0, dup_fd);
	ASSERT_EQ(0, close(fds[0]));
	EXPECT_EQ(-ENOSPC, try_make(8, 4));
	ASSERT_EQ(0, close(dup_fd));
	fds[0] = kchan_make(8, 4, 0);
	ASSERT_LE(0, fds[0]) TH_LOG("after the last close: %s", strerror(-fds[0]));
	EXPECT_EQ(-ENOSPC, try_make(8, 4));

	/* So does another process that inherited it. */
	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(go[1]);
		_exit(read(go[0], &c, 1) < 0);
	}
	close(go[0]);
	ASSERT_EQ(0, close(fds[1]));
	EXPECT_EQ(-ENOSPC, try_make(8, 4));
	ASSERT_EQ(0, close(go[1]));
	ASSERT_EQ(0, kt_waitpid(pid, &status));
	ASSERT_TRUE(WIFEXITED(status));
	fds[1] = kchan_make(8, 4, 0);
	ASSERT_LE(0, fds[1]) TH_LOG("after the child exited: %s", strerror(-fds[1]));
	EXPECT_EQ(-ENOSPC, try_make(8, 4));

	/* Lowered below what exists: nothing more until under it again. */
	ASSERT_EQ(0, set_param("max_channels_per_user", 4));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, close(fds[i]));
	EXPECT_EQ(-ENOSPC, try_make(8, 4));
	ASSERT_EQ(0, close(fds[4]));
	EXPECT_EQ(0, try_make(8, 4));
	/* The survivors still work. */
	EXPECT_EQ(0, kt_send_u64(fds[5], 5));
	for (i = 5; i < N; i++)
		ASSERT_EQ(0, close(fds[i]));

	/* 0: nobody may create one, root included. */
	ASSERT_EQ(0, set_param("max_channels_per_user", 0));
	EXPECT_EQ(-ENOSPC, try_make(8, 4));
}

/*
 * In a child: take the user ids, create channels until one fails, and
 * exit with how many were created (or 100 + errno of a setup error).
 * Creations must fail with -ENOSPC; anything else exits 200.
 */
static void child_count_channels(uid_t ruid, uid_t euid, int limit)
{
	int fds[64], n, ret;

	if (setresuid(ruid, euid, euid))
		_exit(100 + errno);
	for (n = 0; n <= limit && n < 64; n++) {
		ret = kchan_make(8, 4, 0);
		if (ret < 0)
			_exit(ret == -ENOSPC ? n : 200);
		fds[n] = ret;
	}
	(void)fds;
	_exit(99);	/* the limit did not hold */
}

static int count_in_child(uid_t ruid, uid_t euid, int limit)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		child_count_channels(ruid, euid, limit);
	if (kt_waitpid(pid, &status))
		return -ETIMEDOUT;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1000 - WTERMSIG(status);
}

/* Each real user id has a count of its own. */
TEST_F(limits, channels_per_user_counts_per_real_uid)
{
	enum { N = 4 };
	int fds[N], i;

	ASSERT_EQ(0, set_param("max_channels_per_user", N));
	for (i = 0; i < N; i++)
		fds[i] = KT_MAKE_CHAN(8, 4, 0);
	EXPECT_EQ(-ENOSPC, try_make(8, 4));

	/* uid 1000 has its own N (the inherited channels are root's). */
	EXPECT_EQ(N, count_in_child(1000, 1000, N));
	/* Its channels went with it: N again. */
	EXPECT_EQ(N, count_in_child(1000, 1000, N));
	/* The real uid counts, not the effective one. */
	EXPECT_EQ(N, count_in_child(1000, 0, N));
	EXPECT_EQ(0, count_in_child(0, 1000, N));
	EXPECT_EQ(-ENOSPC, try_make(8, 4));
	for (i = 0; i < N; i++)
		close(fds[i]);
	EXPECT_EQ(0, try_make(8, 4));
}

/* Requirement: the steady state of send and receive allocates nothing. */

#define PAIRS	100000

FIXTURE(alloc) {
	int unused;
};

FIXTURE_VARIANT(alloc) {
	uint32_t elem_size;
	uint64_t capacity;
	uint32_t preload;	/* elements kept queued, so the ring wraps */
};

FIXTURE_VARIANT_ADD(alloc, u64_cap1) {
	.elem_size = 8, .capacity = 1, .preload = 0,
};

FIXTURE_VARIANT_ADD(alloc, u64_cap64_wrapping) {
	.elem_size = 8, .capacity = 64, .preload = 63,
};

/* Larger than the cached parked-element size. */
FIXTURE_VARIANT_ADD(alloc, 4k_cap16_wrapping) {
	.elem_size = 4096, .capacity = 16, .preload = 7,
};

FIXTURE_SETUP(alloc)
{
}

FIXTURE_TEARDOWN(alloc)
{
}

TEST_F_TIMEOUT(alloc, buffered_send_recv_allocates_nothing, 300)
{
	static unsigned char in[4096], out[4096];
	size_t esz = variant->elem_size;
	long long before, after;
	uint64_t seq_in = 0, seq_out = 0;
	int fd, i, ret = 0;

	/* Each element carries its sequence number up front. */
	fd = KT_MAKE_CHAN(esz, variant->capacity, 0);
	for (i = 0; i < (int)variant->preload; i++, seq_in++) {
		memcpy(in, &seq_in, sizeof(seq_in));
		ASSERT_EQ(0, kchan_send(fd, in));
	}
	before = kt_allocations();
	ASSERT_LE(0, before);
	for (i = 0; i < PAIRS; i++, seq_in++, seq_out++) {
		memcpy(in, &seq_in, sizeof(seq_in));
		ret = kchan_send(fd, in);
		if (ret != 0)
			break;
		ret = kchan_recv(fd, out);
		if (ret != 1 || memcmp(out, &seq_out, sizeof(seq_out)))
			break;
	}
	after = kt_allocations();
	ASSERT_EQ(PAIRS, i) TH_LOG("pair %d: ret %d", i, ret);
	TH_LOG("%d pairs of %zu-byte elements: allocations %lld -> %lld",
	       PAIRS, esz, before, after);
	EXPECT_EQ(before, after);
	EXPECT_EQ(variant->preload, kchan_len(fd));
	close(fd);
}

TEST_F_TIMEOUT(alloc, nonblocking_and_batched_allocate_nothing, 300)
{
	static unsigned char buf[16 * 4096];
	size_t esz = variant->elem_size;
	long long before, after;
	int fd, i, ok = 1;

	fd = KT_MAKE_CHAN(esz, variant->capacity, 0);
	memset(buf, 0x3c, sizeof(buf));
	before = kt_allocations();
	for (i = 0; i < PAIRS / 10 && ok; i++) {
		ok = kchan_try_send(fd, buf) == 0 && kchan_try_recv(fd, buf) == 1 &&
		     kchan_try_recv(fd, buf) == -EAGAIN &&
		     kchan_send_many(fd, buf, variant->capacity) == (ssize_t)variant->capacity &&
		     kchan_try_send(fd, buf) == -EAGAIN &&
		     kchan_recv_many(fd, buf, variant->capacity) == (ssize_t)variant->capacity &&
		     write(fd, buf, esz) == (ssize_t)esz && read(fd, buf, esz) == (ssize_t)esz;
	}
	after = kt_allocations();
	ASSERT_TRUE(ok) TH_LOG("round %d failed", i);
	TH_LOG("%d rounds: allocations %lld -> %lld", PAIRS / 10, before, after);
	EXPECT_EQ(before, after);
	close(fd);
}

/*
 * The counter is live: tasks that block allocate their parked elements
 * (waited for with the queue counters, not with a timeout: a deadline that
 * runs out before the call gets to block allocates nothing).  The module
 * keeps one freed small message per CPU for reuse, so one more task than
 * there are CPUs blocks at once: at least one of them must allocate.
 */
#define MAX_BLOCKERS	17

TEST_F(alloc, blocking_ops_allocate)
{
	static unsigned char elem[4096], got[MAX_BLOCKERS][4096];
	size_t esz = variant->elem_size;
	struct kt_worker w[MAX_BLOCKERS];
	long long before, mid, after;
	int fd, i, n;

	n = sysconf(_SC_NPROCESSORS_CONF) + 1;
	ASSERT_GE(MAX_BLOCKERS, n);
	fd = KT_MAKE_CHAN(esz, variant->capacity, 0);

	/* Receives that block until sends hand them elements. */
	before = kt_allocations();
	for (i = 0; i < n; i++) {
		kt_worker_init(&w[i], fd, KT_RECV);
		w[i].buf = got[i];
		ASSERT_EQ(0, kt_worker_start(&w[i]));
		ASSERT_EQ(0, kt_wait_queues(fd, 0, i + 1));
	}
	mid = kt_allocations();
	kt_fill(elem, esz, 1);
	for (i = 0; i < n; i++)
		ASSERT_EQ(0, kchan_send(fd, elem));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, kt_worker_join(&w[i]));
		EXPECT_EQ(1, w[i].ret);
		EXPECT_TRUE(kt_check(got[i], esz, 1));
	}
	after = kt_allocations();
	TH_LOG("%d blocked receives: allocations %+lld, the sends to them %+lld",
	       n, mid - before, after - mid);
	EXPECT_LE(1, mid - before);
	/* Handing over to a blocked receiver allocates nothing. */
	EXPECT_EQ(mid, after);

	/* Sends that block on a full ring until receives make room. */
	for (i = 0; i < (int)variant->capacity; i++)
		ASSERT_EQ(0, kchan_send(fd, elem));
	before = kt_allocations();
	for (i = 0; i < n; i++) {
		kt_worker_init(&w[i], fd, KT_SEND);
		w[i].buf = elem;
		ASSERT_EQ(0, kt_worker_start(&w[i]));
		ASSERT_EQ(0, kt_wait_queues(fd, i + 1, 0));
	}
	mid = kt_allocations();
	for (i = 0; i < n; i++)
		ASSERT_EQ(1, kchan_recv(fd, got[0]));
	for (i = 0; i < n; i++) {
		ASSERT_EQ(0, kt_worker_join(&w[i]));
		EXPECT_EQ(0, w[i].ret);
	}
	after = kt_allocations();
	EXPECT_EQ(variant->capacity, kchan_len(fd));
	TH_LOG("%d blocked sends: allocations %+lld, the receives that released them %+lld",
	       n, mid - before, after - mid);
	EXPECT_LE(1, mid - before);
	EXPECT_EQ(mid, after);
	close(fd);
}

TEST_HARNESS_MAIN
