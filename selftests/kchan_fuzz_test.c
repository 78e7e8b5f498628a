// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: a bounded, deterministic-seed ioctl fuzzer.
 *
 * Every iteration picks a descriptor (/dev/kchan, channels of several
 * element sizes and capacities, blocking and O_NONBLOCK, some closed,
 * mappable ones, broadcast channels lossless, lossy and mappable and
 * subscribers of them, selectors, a pipe, an eventfd, a closed descriptor
 * number, -1), a command (every kchan ioctl, the selector, broadcast and
 * mapping ones included, neighbouring and random numbers of type 0xC5 and
 * its neighbours) and an argument (NULL, wild pointers, a PROT_NONE page,
 * a read-only page, a struct straddling a guard page, and valid-looking
 * structs with mutated sizes, flags - the biased select's among them -,
 * reserved fields, counts, deadlines, select cases and selector cases:
 * random descriptors, operations, element pointers and tags).  Now and
 * then, instead of an ioctl, it mmap()s the descriptor with a random
 * offset, length, protection and sharing, reads and writes what maps and
 * unmaps it.  A second thread replaces channel and selector descriptors
 * under the fuzzer's feet (dup2() of a fresh one, or close() then dup2();
 * fresh selectors come with cases registered), and the fuzzer itself
 * installs the selectors it creates in the pool, so that channels are
 * closed while registered in selectors and selectors are closed with
 * channels registered.
 *
 * Asserted: every call returns an errno of the set its command allows
 * (EEXIST only from SELECTOR_ADD, ENOENT only from SELECTOR_DEL, EOVERFLOW
 * only from the receiving ones, ENODEV only from MAP_INFO and WAKE; an
 * mmap() one of kchan's and the VFS's), or a result of the range its
 * command allows (a selector wait 0 or 1, a select the index of one of its
 * cases, SELECTOR_ADD/DEL, LOST, MAP_INFO and WAKE 0, a new descriptor only
 * from /dev/kchan or SUBSCRIBE); the process survives; and afterwards
 * channels still work, every selector lost the cases of the channels that
 * are gone, no descriptor leaked and the per-user channel count came back
 * to zero (100 channels fit under max_channels_per_user=100, the 101st
 * gets ENOSPC).
 * The kernel's own checkers (KASAN, lockdep, ... on the debug kernel, WARN
 * scanning in every run) are watched by the QEMU runner.
 *
 * Nothing blocks without a bound: transfers, selects and selector waits
 * carry a non-blocking flag or a deadline in the past or at most ~1 ms
 * ahead, the lean SEND_ONE/RECV_ONE calls go to O_NONBLOCK channels only,
 * and a watchdog interrupts (SIGUSR2, no SA_RESTART: EINTR) any call that
 * still takes longer than 200 ms; the count of such interrupts is logged.
 *
 * Environment:
 *   KCHAN_FUZZ_SEED   seed (decimal or 0x hex; default 0x6b6368616e), logged
 *   KCHAN_FUZZ_CALLS  number of ioctl calls (default 50000, a few seconds
 *                     in QEMU TCG so that "make check" stays fast)
 *
 * One million calls (what "make check-all" runs on the debug kernel):
 *   selftests/qemu/run.sh --env KCHAN_FUZZ_CALLS=1000000 \
 *       selftests/kchan_fuzz_test
 * The harness timeout of this test is 1800 s to leave room for that.
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <dirent.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

#define FZ_DEFAULT_SEED		0x6b6368616eULL
#define FZ_DEFAULT_CALLS	50000UL
#define FZ_CLOSED_FD		900
#define FZ_ARENA_PAGES		80	/* > 65536-byte element + 4097-byte struct */
#define FZ_MAX_ERRNO		4096

struct fz_spec {
	uint32_t elem_size;
	uint64_t capacity;
	bool nonblock;
	bool closed;		/* KCHAN_IOC_CLOSE it when (re)created */
	uint32_t flags;		/* KCHAN_BROADCAST, KCHAN_LOSSY, KCHAN_MAPPABLE */
	bool subscriber;	/* a subscriber of slot @of instead */
	unsigned int of;
};

static const struct fz_spec fz_specs[] = {
	{ 8, 4, true, false },
	{ 1, 0, false, false },		/* unbuffered, blocking */
	{ 64, 1, true, false },
	{ 3, 16, false, false },
	{ 4096, 2, true, false },
	{ 8, 0, true, false },		/* unbuffered, O_NONBLOCK */
	{ 65536, 1, false, false },
	{ 16, 3, true, true },		/* closed */
	{ 8, 8, false, true },		/* closed, blocking */
#define FZ_BCAST	9
	{ 8, 4, true, false, KCHAN_BROADCAST },
	{ 16, 2, false, false, KCHAN_BROADCAST | KCHAN_LOSSY },
	{ 8, 2, true, true, KCHAN_BROADCAST },	/* closed */
	{ 8, 4, true, false, KCHAN_BROADCAST | KCHAN_LOSSY | KCHAN_MAPPABLE },
#define FZ_SUB		13
	{ 8, 4, true, false, 0, true, FZ_BCAST },
	{ 16, 2, false, false, 0, true, FZ_BCAST + 1 },	/* blocking */
	{ 8, 2, true, false, 0, true, FZ_BCAST + 2 },
	{ 8, 4, true, false, 0, true, FZ_BCAST + 3 },	/* mappable */
	/* Mappable: the shared ring of the fast path. */
	{ 8, 4, true, false, KCHAN_MAPPABLE },
	{ 64, 1, false, false, KCHAN_MAPPABLE },	/* blocking */
	{ 16, 3, true, true, KCHAN_MAPPABLE },		/* closed */
};
#define FZ_NBCAST	4
#define FZ_NSUB		4
#define FZ_NCHAN (sizeof(fz_specs) / sizeof(fz_specs[0]))

/* Selector slots, each created with these flags. */
static const uint32_t fz_sel_flags[] = {
	0, KCHAN_NONBLOCK, KCHAN_CLOEXEC, KCHAN_CLOEXEC | KCHAN_NONBLOCK,
};
#define FZ_NSEL (sizeof(fz_sel_flags) / sizeof(fz_sel_flags[0]))

/* Errors any command may return. */
static const int fz_allowed[] = {
	EINVAL, E2BIG, EFAULT, EBADF, ENOTTY, EAGAIN, ETIMEDOUT, EPIPE,
	EINTR, ENOMEM, ENOSPC, EMFILE, ENFILE,
};

/* Errors only some commands may return, beyond fz_allowed[]. */
static const struct {
	unsigned long cmd;
	int err;
} fz_allowed_cmd[] = {
	{ KCHAN_IOC_SELECTOR_ADD, EEXIST },	/* the case is in already */
	{ KCHAN_IOC_SELECTOR_DEL, ENOENT },	/* the case is not in */
	/* A lossy subscriber that fell behind. */
	{ KCHAN_IOC_RECV, EOVERFLOW },
	{ KCHAN_IOC_RECV_ONE, EOVERFLOW },
	{ KCHAN_IOC_SELECT, EOVERFLOW },
	{ KCHAN_IOC_SELECTOR_WAIT, EOVERFLOW },
	/* Not a mappable channel or subscriber. */
	{ KCHAN_IOC_MAP_INFO, ENODEV },
	{ KCHAN_IOC_WAKE, ENODEV },
};

/* Errors mmap(2) of any descriptor may give: kchan's rules and the VFS's. */
static const int fz_mmap_allowed[] = {
	EINVAL, EPERM, EACCES, ENODEV, ENOSPC, ENOMEM, EBADF, EOVERFLOW,
};

static const unsigned long fz_cmds[] = {
	KCHAN_IOC_CREATE, KCHAN_IOC_SEND, KCHAN_IOC_RECV, KCHAN_IOC_CLOSE,
	KCHAN_IOC_INFO, KCHAN_IOC_SEND_ONE, KCHAN_IOC_RECV_ONE, KCHAN_IOC_SELECT,
	KCHAN_IOC_SELECTOR_CREATE, KCHAN_IOC_SELECTOR_ADD, KCHAN_IOC_SELECTOR_DEL,
	KCHAN_IOC_SELECTOR_WAIT, KCHAN_IOC_SUBSCRIBE, KCHAN_IOC_LOST,
	KCHAN_IOC_MAP_INFO, KCHAN_IOC_WAKE,
};
#define FZ_NCMDS (sizeof(fz_cmds) / sizeof(fz_cmds[0]))

static bool fz_is_selector_cmd(unsigned long cmd)
{
	return cmd == KCHAN_IOC_SELECTOR_ADD || cmd == KCHAN_IOC_SELECTOR_DEL ||
	       cmd == KCHAN_IOC_SELECTOR_WAIT;
}

/* Shared between the fuzzing thread and the replacer/watchdog thread. */
static int fz_chan_fd[FZ_NCHAN];
static int fz_sel_fd[FZ_NSEL];
/*
 * Where the cases the replacer registers send from and receive into (a
 * case starts in the first 4 KiB and its element may be 64 KiB long), and
 * what it feeds the channels (one or two elements from the start).
 */
#define FZ_REPL_BUF_WORDS	((4096 + 2 * 65536) / 8)
static uint64_t fz_repl_buf[FZ_REPL_BUF_WORDS];
static atomic_bool fz_stop;
static atomic_llong fz_busy_since;	/* ns the current ioctl started, 0: none */
static atomic_ulong fz_busy_cmd;	/* its command and descriptor, for the log */
static atomic_int fz_busy_fd;
static atomic_long fz_kicks, fz_replaced, fz_sel_replaced, fz_max_cases;
static pthread_t fz_main_thread;

static inline uint64_t fz_next(uint64_t *s)
{
	/* xorshift64* */
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t fz_below(uint64_t *s, uint64_t n)
{
	return n ? fz_next(s) % n : 0;
}

static inline bool fz_pct(uint64_t *s, unsigned int pct)
{
	return fz_below(s, 100) < pct;
}

static void fz_on_sigusr2(int sig)
{
	(void)sig;
}

static int fz_make_chan(const struct fz_spec *sp)
{
	struct kchan_create c = {
		.size = sizeof(c),
		.flags = (sp->nonblock ? KCHAN_NONBLOCK : 0) | sp->flags,
		.elem_size = sp->elem_size,
		.capacity = sp->capacity,
	};
	struct kchan_subscribe sub = {
		.size = sizeof(sub),
		.flags = sp->nonblock ? KCHAN_NONBLOCK : 0,
	};
	int dev, fd;

	/* Of whatever channel the broadcast slot holds now. */
	if (sp->subscriber) {
		fd = ioctl(fz_chan_fd[sp->of], KCHAN_IOC_SUBSCRIBE, &sub);
		return fd < 0 ? -errno : fd;
	}
	dev = kt_open_dev();
	if (dev < 0)
		return dev;
	fd = ioctl(dev, KCHAN_IOC_CREATE, &c);
	if (fd < 0)
		fd = -errno;
	close(dev);
	if (fd >= 0 && sp->closed)
		ioctl(fd, KCHAN_IOC_CLOSE, 0);
	return fd;
}

/* A selector through the raw ABI, with @flags; the descriptor or -errno. */
static int fz_make_selector(uint32_t flags)
{
	struct kchan_selector_create c = { .size = sizeof(c), .flags = flags };
	int dev = kt_open_dev(), fd;

	if (dev < 0)
		return dev;
	fd = ioctl(dev, KCHAN_IOC_SELECTOR_CREATE, &c);
	if (fd < 0)
		fd = -errno;
	close(dev);
	return fd;
}

/* Register case (@fd, @op) in selector @sel: 0 or -errno. */
static int fz_sel_add(int sel, int fd, uint32_t op, void *elem, uint64_t tag)
{
	struct kchan_selector_ctl ctl = {
		.size = sizeof(ctl), .fd = fd, .op = op,
		.elem = (uintptr_t)elem, .tag = tag,
	};

	return ioctl(sel, KCHAN_IOC_SELECTOR_ADD, &ctl) ? -errno : 0;
}

/* The cases of selector @fd (fdinfo), or -1 if it is not a selector. */
static long fz_sel_cases(int fd)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (kt_read_file(path, buf, sizeof(buf)) < 0 || !strstr(buf, "kchan-selector-id:"))
		return -1;
	p = strstr(buf, "\ncases:");
	return p ? strtol(p + strlen("\ncases:"), NULL, 10) : -1;
}

/*
 * Replaces channel and selector descriptors (dup2() of a fresh one, or
 * close() and a later dup2()), interrupts any ioctl of the fuzzing thread
 * that takes more than 200 ms, and samples how many cases the selectors
 * hold (here, not in the fuzzing thread: a file that thread opened could
 * get a slot number this thread has just closed, and be replaced under
 * it).
 */
static void *fz_replacer(void *arg)
{
	uint64_t rng = *(uint64_t *)arg;

	while (!atomic_load(&fz_stop)) {
		long long since = atomic_load(&fz_busy_since);
		unsigned int i = fz_below(&rng, FZ_NCHAN);
		int fd;

		if (since && kt_now_ns() - since > 200 * KT_MSEC) {
			if (atomic_fetch_add(&fz_kicks, 1) < 5)
				fprintf(stderr, "# watchdog: cmd 0x%lx on fd %d busy %lld ms\n",
					atomic_load(&fz_busy_cmd), atomic_load(&fz_busy_fd),
					(kt_now_ns() - since) / KT_MSEC);
			pthread_kill(fz_main_thread, SIGUSR2);
		}
		if (fz_pct(&rng, 30)) {
			fd = fz_make_chan(&fz_specs[i]);
			if (fd >= 0) {
				if (fz_pct(&rng, 25)) {
					close(fz_chan_fd[i]);
					kt_sleep_us(fz_below(&rng, 300));
				}
				dup2(fd, fz_chan_fd[i]);
				close(fd);
				atomic_fetch_add(&fz_replaced, 1);
			}
		}
		/*
		 * A fresh selector with a few cases on the channel slots
		 * replaces a selector slot: the old one goes with its cases.
		 */
		if (fz_pct(&rng, 10)) {
			unsigned int j = fz_below(&rng, FZ_NSEL);

			fd = fz_make_selector(fz_sel_flags[j]);
			if (fd >= 0) {
				for (int n = fz_below(&rng, 4); n > 0; n--)
					fz_sel_add(fd, fz_chan_fd[fz_below(&rng, FZ_NCHAN)],
						   1 + fz_below(&rng, 2),
						   &fz_repl_buf[fz_below(&rng, 4096 / 8)],
						   fz_next(&rng));
				if (fz_pct(&rng, 25)) {
					close(fz_sel_fd[j]);
					kt_sleep_us(fz_below(&rng, 300));
				}
				dup2(fd, fz_sel_fd[j]);
				close(fd);
				atomic_fetch_add(&fz_sel_replaced, 1);
			}
		}
		/*
		 * Feed a channel now and then (non-blocking), so that the
		 * selectors' receive cases find something to perform, while
		 * the fuzzing thread waits on them.
		 */
		if (fz_pct(&rng, 20))
			kt_send_raw(fz_chan_fd[fz_below(&rng, FZ_NCHAN)], fz_repl_buf,
				    1 + fz_below(&rng, 2), KCHAN_XFER_NONBLOCK);
		if (fz_pct(&rng, 5)) {
			for (unsigned int j = 0; j < FZ_NSEL; j++) {
				long n = fz_sel_cases(fz_sel_fd[j]);

				if (n > atomic_load(&fz_max_cases))
					atomic_store(&fz_max_cases, n);
			}
		}
		kt_sleep_us(100 + fz_below(&rng, 400));
	}
	return NULL;
}

static int fz_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own descriptor */
}

static uint64_t fz_env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : def;
}

FIXTURE(fuzz) {
	int dev, pipefd[2], efd;
	char *arena;		/* FZ_ARENA_PAGES rw pages, then a PROT_NONE page */
	char *ro;		/* read-only view of ...  */
	char *rw;		/* ... this read-write page (one memfd) */
	long page;
	long long saved_max_per_user;
};

FIXTURE_SETUP(fuzz)
{
	int mfd;

	self->saved_max_per_user = -1;
	self->page = sysconf(_SC_PAGESIZE);
	self->dev = kt_open_dev();
	ASSERT_LE(0, self->dev);
	ASSERT_EQ(0, pipe(self->pipefd));
	self->efd = eventfd(0, EFD_NONBLOCK);
	ASSERT_LE(0, self->efd);

	self->arena = mmap(NULL, (FZ_ARENA_PAGES + 1) * self->page, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->arena);
	ASSERT_EQ(0, mprotect(self->arena + FZ_ARENA_PAGES * self->page, self->page,
			      PROT_NONE));

	mfd = memfd_create("kchan_fuzz", 0);
	ASSERT_LE(0, mfd);
	ASSERT_EQ(0, ftruncate(mfd, self->page));
	self->rw = mmap(NULL, self->page, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, self->rw);
	self->ro = mmap(NULL, self->page, PROT_READ, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, self->ro);
	close(mfd);
}

FIXTURE_TEARDOWN(fuzz)
{
	if (self->saved_max_per_user >= 0) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%lld", self->saved_max_per_user);
		kt_param_set("max_channels_per_user", buf);
	}
}

/* A pointer of the "wild" kind: never accessible. */
static uint64_t fz_wild_ptr(uint64_t *r, struct __test_metadata *_metadata,
			    FIXTURE_DATA(fuzz) *self)
{
	static const uint64_t wild[] = {
		0, 1, 8, 4095, 0x8000000000000000ULL, ~0ULL, ~0ULL - 7,
		0xffff888000000000ULL, 0xffffffff81000000ULL, 0x00007ffffffff000ULL,
	};

	if (fz_pct(r, 30))
		return (uintptr_t)kt_noaccess_addr() + fz_below(r, 64);
	return wild[fz_below(r, sizeof(wild) / sizeof(wild[0]))];
}

/*
 * A buffer for @need bytes: valid (arena), short before the guard page,
 * read-only, or wild.
 */
static uint64_t fz_buf(uint64_t *r, FIXTURE_DATA(fuzz) *self, uint64_t need,
		       struct __test_metadata *_metadata)
{
	char *guard = self->arena + FZ_ARENA_PAGES * self->page;
	uint64_t room = FZ_ARENA_PAGES * self->page;
	unsigned int k = fz_below(r, 100);

	if (need > room)
		need = room;
	if (k < 60)
		return (uintptr_t)self->arena + fz_below(r, room - need + 1);
	if (k < 75)	/* straddles the guard page */
		return (uintptr_t)guard - (need ? fz_below(r, need) : 0);
	if (k < 85)
		return (uintptr_t)self->ro + (need < (uint64_t)self->page ?
					      fz_below(r, self->page - need + 1) : 0);
	return fz_wild_ptr(r, _metadata, self);
}

/* A mutated @size field for a struct of @ver0 (== sizeof) bytes. */
static uint32_t fz_size(uint64_t *r, uint32_t ver0, bool *tail_dirty)
{
	*tail_dirty = false;
	switch (fz_below(r, 12)) {
	case 0: return 0;
	case 1: return ver0 - 1 - fz_below(r, ver0);
	case 2: return ver0 + 8;
	case 3: *tail_dirty = true; return ver0 + 8;
	case 4: return 4096;
	case 5: return 4097;
	case 6: *tail_dirty = true; return ver0 + fz_below(r, 200);
	case 7: return (uint32_t)fz_next(r);
	default: return ver0;
	}
}

static int64_t fz_deadline(uint64_t *r)
{
	switch (fz_below(r, 6)) {
	case 0: return -1 - (int64_t)fz_below(r, 1000);
	case 1: return 0;
	case 2: return INT64_MIN;
	case 3: return kt_now_ns() + (int64_t)fz_below(r, KT_MSEC);	/* near future */
	default: return kt_now_ns() - (int64_t)fz_below(r, KT_NSEC);	/* past */
	}
}

/* Flags that never block unboundedly, sometimes with unknown bits. */
static uint32_t fz_flags(uint64_t *r, int64_t *deadline)
{
	uint32_t f;

	switch (fz_below(r, 3)) {
	case 0: f = 0x1; *deadline = fz_pct(r, 90) ? 0 : fz_deadline(r); break;
	case 1: f = 0x2; *deadline = fz_deadline(r); break;
	default: f = 0x3; *deadline = fz_deadline(r); break;
	}
	if (fz_pct(r, 10))
		f |= (uint32_t)fz_next(r) & ~0x3U;
	if (fz_pct(r, 3))
		f |= 1U << fz_below(r, 32);
	return f;
}

static uint64_t fz_count(uint64_t *r)
{
	static const uint64_t odd[] = {
		0, 1ULL << 31, 1ULL << 32, 1ULL << 40, ~0ULL, ~0ULL >> 1, INT_MAX, 65536,
	};

	if (fz_pct(r, 80))
		return 1 + fz_below(r, 8);
	return odd[fz_below(r, sizeof(odd) / sizeof(odd[0]))];
}

static int fz_rand_fd(uint64_t *r, FIXTURE_DATA(fuzz) *self)
{
	switch (fz_below(r, 11)) {
	case 0: return -1;
	case 1: return self->dev;
	case 2: return self->pipefd[fz_below(r, 2)];
	case 3: return self->efd;
	case 4: return FZ_CLOSED_FD;
	case 5: return (int)fz_next(r);
	case 6: return fz_sel_fd[fz_below(r, FZ_NSEL)];
	default: return fz_chan_fd[fz_below(r, FZ_NCHAN)];
	}
}

/* The descriptor of a selector case: mostly a channel slot. */
static int fz_case_fd(uint64_t *r, FIXTURE_DATA(fuzz) *self)
{
	return fz_pct(r, 75) ? fz_chan_fd[fz_below(r, FZ_NCHAN)] : fz_rand_fd(r, self);
}

/* A tag: small, huge, or anything. */
static uint64_t fz_tag(uint64_t *r)
{
	switch (fz_below(r, 4)) {
	case 0: return fz_below(r, 16);
	case 1: return ~0ULL - fz_below(r, 4);
	default: return fz_next(r);
	}
}

/* Fills @p (in writable memory) with the argument struct for @cmd. */
static void fz_fill_struct(uint64_t *r, FIXTURE_DATA(fuzz) *self, unsigned long cmd,
			   char *p, uint32_t elem_size, struct __test_metadata *_metadata)
{
	bool dirty;
	uint32_t sz;

	switch (cmd) {
	case KCHAN_IOC_CREATE: {
		static const uint32_t es[] = { 0, 1, 8, 64, 65536, 65537, 4096 };
		static const uint64_t caps[] = {
			0, 1, 4, 100, KCHAN_CAPACITY_MAX, KCHAN_CAPACITY_MAX + 1, ~0ULL,
			KCHAN_RING_BYTES_MAX / 65536,
		};
		struct kchan_create *c = (void *)p;

		sz = fz_size(r, sizeof(*c), &dirty);
		c->size = sz;
		c->flags = fz_pct(r, 85) ? fz_below(r, 32) : (uint32_t)fz_next(r);
		c->elem_size = fz_pct(r, 80) ? es[fz_below(r, 7)] : (uint32_t)fz_next(r);
		c->__reserved = fz_pct(r, 90) ? 0 : (uint32_t)fz_next(r) | 1;
		/* Rings of 64 MiB now and then, small ones mostly. */
		c->capacity = fz_pct(r, 70) ? fz_below(r, 16) :
			      fz_pct(r, 90) ? caps[fz_below(r, 7)] : caps[7];
		memset(p + sizeof(*c), 0, 512);
		if (dirty)
			p[sizeof(*c) + fz_below(r, 8)] = 1 + fz_below(r, 255);
		break;
	}
	case KCHAN_IOC_SEND:
	case KCHAN_IOC_RECV: {
		struct kchan_xfer *x = (void *)p;
		int64_t dl;

		sz = fz_size(r, sizeof(*x), &dirty);
		x->size = sz;
		x->flags = fz_flags(r, &dl);
		x->deadline_ns = dl;
		x->count = fz_count(r);
		x->elems = fz_buf(r, self, x->count * elem_size > 262144 ? 262144 :
				  x->count * elem_size, _metadata);
		memset(p + sizeof(*x), 0, 512);
		if (dirty)
			p[sizeof(*x) + fz_below(r, 8)] = 1 + fz_below(r, 255);
		break;
	}
	case KCHAN_IOC_INFO: {
		struct kchan_info *in = (void *)p;

		memset(p, fz_pct(r, 50) ? 0 : 0xa5, 600);
		sz = fz_size(r, sizeof(*in), &dirty);
		in->size = sz;
		break;
	}
	case KCHAN_IOC_SELECT: {
		static const uint32_t csz[] = { 0, 23, 24, 24, 24, 32, 64, 4096, 4097 };
		struct kchan_select *s = (void *)p;
		uint32_t nr, cs;
		char *cases;
		int64_t dl;

		sz = fz_size(r, sizeof(*s), &dirty);
		s->size = sz;
		s->flags = fz_flags(r, &dl);
		if (fz_pct(r, 40))
			s->flags |= KCHAN_SELECT_BIASED;
		s->deadline_ns = dl;
		switch (fz_below(r, 6)) {
		case 0: nr = 0; break;
		case 1: nr = 128 + fz_below(r, 3); break;
		case 2: nr = fz_below(r, 201); break;
		case 3: nr = fz_pct(r, 50) ? (uint32_t)fz_next(r) : 200; break;
		default: nr = 1 + fz_below(r, 8); break;
		}
		cs = fz_pct(r, 95) ? csz[fz_below(r, 9)] : (uint32_t)fz_next(r);
		s->nr_cases = nr;
		s->case_size = cs;
		/* The cases: after this struct's 600 bytes, in the arena. */
		cases = self->arena + 2 * self->page;
		if (nr && cs && cs <= 4097 && (uint64_t)nr * cs <= 200 * 4097) {
			uint64_t total = (uint64_t)nr * cs;
			uint64_t room = (FZ_ARENA_PAGES - 2) * self->page;

			if (total < room && fz_pct(r, 85))
				cases += fz_below(r, room - total + 1) & ~7ULL;
			else if (total < room)
				cases = self->arena + FZ_ARENA_PAGES * self->page - total +
					8 * (1 + fz_below(r, 4));	/* straddles */
			char *end = self->arena + FZ_ARENA_PAGES * self->page;

			for (uint32_t i = 0; i < nr && cases + (uint64_t)i * cs < end; i++) {
				char *cp = cases + (uint64_t)i * cs;
				struct kchan_select_case *kc = (void *)cp;
				uint64_t left = end - cp;
				struct kchan_select_case tmp = {
					.fd = fz_rand_fd(r, self),
					.op = fz_pct(r, 90) ? 1 + fz_below(r, 2) :
					      (uint32_t)fz_next(r),
					.flags = fz_pct(r, 95) ? 0 : 1U << fz_below(r, 32),
					.__reserved = fz_pct(r, 97) ? 0 : (uint32_t)fz_next(r),
				};

				tmp.elem = fz_buf(r, self, fz_pct(r, 50) ? 8 : 65536, _metadata);
				memcpy(kc, &tmp, left < sizeof(tmp) ? left : sizeof(tmp));
				if (cs > sizeof(tmp) && left > cs)
					memset(cp + sizeof(tmp), fz_pct(r, 90) ? 0 : 0x5a,
					       cs - sizeof(tmp));
			}
		}
		if (fz_pct(r, 90))
			s->cases = (uintptr_t)cases;
		else
			s->cases = fz_wild_ptr(r, _metadata, self);
		memset(p + sizeof(*s), 0, 512);
		if (dirty)
			p[sizeof(*s) + fz_below(r, 8)] = 1 + fz_below(r, 255);
		break;
	}
	case KCHAN_IOC_SELECTOR_CREATE: {
		struct kchan_selector_create *c = (void *)p;

		sz = fz_size(r, sizeof(*c), &dirty);
		c->size = sz;
		c->flags = fz_pct(r, 85) ? fz_below(r, 4) : (uint32_t)fz_next(r);
		memset(p + sizeof(*c), 0, 512);
		if (dirty)
			p[sizeof(*c) + fz_below(r, 8)] = 1 + fz_below(r, 255);
		break;
	}
	case KCHAN_IOC_SELECTOR_ADD:
	case KCHAN_IOC_SELECTOR_DEL: {
		struct kchan_selector_ctl *c = (void *)p;
		bool add = cmd == KCHAN_IOC_SELECTOR_ADD;

		sz = fz_size(r, sizeof(*c), &dirty);
		c->size = sz;
		c->flags = fz_pct(r, 95) ? 0 : 1U << fz_below(r, 32);
		c->fd = fz_case_fd(r, self);
		c->op = fz_pct(r, 90) ? 1 + fz_below(r, 2) :
			fz_pct(r, 50) ? fz_below(r, 4) : (uint32_t)fz_next(r);
		/*
		 * The element a later wait dereferences: the arena, a guard
		 * page, the read-only page or a wild pointer.  DEL wants 0.
		 */
		c->elem = add || fz_pct(r, 10) ?
			  fz_buf(r, self, fz_pct(r, 50) ? 8 : 65536, _metadata) : 0;
		c->tag = add || fz_pct(r, 10) ? fz_tag(r) : 0;
		memset(p + sizeof(*c), 0, 512);
		if (dirty)
			p[sizeof(*c) + fz_below(r, 8)] = 1 + fz_below(r, 255);
		break;
	}
	case KCHAN_IOC_SUBSCRIBE: {
		static const uint32_t fl[] = {
			0, KCHAN_NONBLOCK, KCHAN_CLOEXEC, KCHAN_SUBSCRIBE_OLDEST,
			KCHAN_SUBSCRIBE_OLDEST | KCHAN_NONBLOCK, KCHAN_LOSSY,
		};
		struct kchan_subscribe *sb = (void *)p;

		sz = fz_size(r, sizeof(*sb), &dirty);
		sb->size = sz;
		sb->flags = fz_pct(r, 90) ? fl[fz_below(r, 6)] : (uint32_t)fz_next(r);
		memset(p + sizeof(*sb), 0, 512);
		if (dirty)
			p[sizeof(*sb) + fz_below(r, 8)] = 1 + fz_below(r, 255);
		break;
	}
	case KCHAN_IOC_SELECTOR_WAIT: {
		struct kchan_selector_wait *wt = (void *)p;
		int64_t dl;

		sz = fz_size(r, sizeof(*wt), &dirty);
		wt->size = sz;
		/* Never 0: NONBLOCK and/or a deadline at most ~1 ms ahead. */
		wt->flags = fz_flags(r, &dl);
		wt->deadline_ns = dl;
		wt->tag = fz_pct(r, 50) ? 0 : fz_next(r);	/* in: ignored */
		memset(p + sizeof(*wt), 0, 512);
		if (dirty)
			p[sizeof(*wt) + fz_below(r, 8)] = 1 + fz_below(r, 255);
		break;
	}
	case KCHAN_IOC_MAP_INFO: {
		struct kchan_map_info *mi = (void *)p;

		/* All out but the size: what the caller leaves there is ignored. */
		sz = fz_size(r, sizeof(*mi), &dirty);
		for (unsigned int i = 0; i < sizeof(*mi); i++)
			p[i] = fz_pct(r, 50) ? 0 : fz_next(r);
		mi->size = sz;
		memset(p + sizeof(*mi), 0, 512);
		if (dirty)
			p[sizeof(*mi) + fz_below(r, 8)] = 1 + fz_below(r, 255);
		break;
	}
	default:
		for (int i = 0; i < 64; i++)
			p[i] = fz_next(r);
		break;
	}
}

/* Whether errno @err is one that @cmd may return. */
static bool fz_err_allowed(unsigned long cmd, int err)
{
	for (unsigned int i = 0; i < sizeof(fz_allowed) / sizeof(fz_allowed[0]); i++)
		if (err == fz_allowed[i])
			return true;
	for (unsigned int i = 0; i < sizeof(fz_allowed_cmd) / sizeof(fz_allowed_cmd[0]); i++)
		if (cmd == fz_allowed_cmd[i].cmd && err == fz_allowed_cmd[i].err)
			return true;
	return false;
}

/*
 * Whether @ret >= 0 is a result @cmd may return (on descriptor @fd, with
 * argument @arg, which the kernel has read, so it is readable).
 */
static bool fz_ret_allowed(unsigned long cmd, long ret, int fd, uint64_t arg, int dev)
{
	switch (cmd) {
	case KCHAN_IOC_CREATE:
	case KCHAN_IOC_SELECTOR_CREATE:
		return fd == dev && fcntl((int)ret, F_GETFD) >= 0;
	case KCHAN_IOC_SUBSCRIBE:
		return fd != dev && fcntl((int)ret, F_GETFD) >= 0;
	case KCHAN_IOC_SELECTOR_ADD:
	case KCHAN_IOC_SELECTOR_DEL:
	case KCHAN_IOC_LOST:
	case KCHAN_IOC_MAP_INFO:
	case KCHAN_IOC_WAKE:
		return ret == 0;
	case KCHAN_IOC_SELECTOR_WAIT:
		return ret == 0 || ret == 1;
	case KCHAN_IOC_SELECT: {
		const struct kchan_select *s = (const void *)(uintptr_t)arg;

		return !(ret & ~(long)(KCHAN_SELECT_INDEX_MASK | KCHAN_SELECT_CLOSED)) &&
		       (ret & KCHAN_SELECT_INDEX_MASK) < s->nr_cases;
	}
	default:
		return true;
	}
}

/*
 * mmap(2) of @fd with a random offset, length, protection and sharing.
 * What maps is read and, when writable, now and then written: garbage in
 * a ring is what any process mapping it may write, and the kernel must
 * take it.  Unmapped at once.  Returns 1 if it mapped, 0 if it failed
 * with an allowed errno, -errno otherwise.
 */
static int fz_mmap(uint64_t *r, int fd, long page)
{
	static const int prots[] = {
		PROT_READ, PROT_READ | PROT_WRITE, PROT_WRITE, PROT_NONE,
		PROT_READ | PROT_EXEC,
	};
	struct kchan_map_info mi = { .size = sizeof(mi) };
	off_t off;
	size_t len;
	int prot = prots[fz_below(r, 5)], flags, err;
	void *p;

	/* Half the time one of the areas MAP_INFO tells, as a library maps it. */
	if (fz_pct(r, 50) && !ioctl(fd, KCHAN_IOC_MAP_INFO, &mi)) {
		bool ring = fz_pct(r, 50);

		off = ring ? (off_t)mi.ring_offset : (off_t)mi.control_offset;
		len = ring ? mi.ring_size : mi.control_size;
		if (fz_pct(r, 20))
			len = page;
		prot = ring ? PROT_READ | PROT_WRITE : PROT_READ;
		p = mmap(NULL, len, prot, MAP_SHARED, fd, off);
		goto mapped;
	}
	switch (fz_below(r, 4)) {
	case 0: case 1: off = (off_t)fz_below(r, 4) * page; break;
	case 2: off = (off_t)fz_below(r, 64) * page; break;
	default: off = (off_t)(fz_next(r) >> 1); break;	/* wild, unaligned too */
	}
	switch (fz_below(r, 4)) {
	case 0: case 1: len = (1 + fz_below(r, 4)) * page; break;
	case 2: len = fz_below(r, 64 * page); break;
	default: len = fz_next(r) >> fz_below(r, 64); break;
	}
	flags = fz_pct(r, 85) ? MAP_SHARED : MAP_PRIVATE;
	p = mmap(NULL, len, prot, flags, fd, off);
mapped:
	if (p == MAP_FAILED) {
		err = errno;
		for (unsigned int i = 0; i < sizeof(fz_mmap_allowed) / sizeof(int); i++)
			if (err == fz_mmap_allowed[i])
				return 0;
		return -err;
	}
	if (prot & PROT_READ)
		(void)*(volatile uint64_t *)p;
	if ((prot & PROT_WRITE) && fz_pct(r, 30))
		*(volatile uint64_t *)((char *)p + (fz_below(r, len) & ~7UL)) = fz_next(r);
	munmap(p, len);
	return 1;
}

/* Whether @fd is one of the numbers the pools keep. */
static bool fz_is_slot(int fd)
{
	for (unsigned int i = 0; i < FZ_NCHAN; i++)
		if (fz_chan_fd[i] == fd)
			return true;
	for (unsigned int i = 0; i < FZ_NSEL; i++)
		if (fz_sel_fd[i] == fd)
			return true;
	return false;
}

TEST_F_TIMEOUT(fuzz, random_ioctls, 1800)
{
	uint64_t seed = fz_env_u64("KCHAN_FUZZ_SEED", FZ_DEFAULT_SEED);
	uint64_t calls = fz_env_u64("KCHAN_FUZZ_CALLS", FZ_DEFAULT_CALLS);
	static unsigned long hist[FZ_MAX_ERRNO + 1], wait_hist[FZ_MAX_ERRNO + 1];
	unsigned long ok = 0, bad = 0, created = 0, sels_created = 0, sels_installed = 0;
	unsigned long sel_added = 0, sel_deleted = 0, sel_performed = 0, sel_closed = 0;
	unsigned long biased = 0, subscribed = 0, lost_read = 0, mapped = 0;
	uint64_t r = seed ? seed : 1, r2 = r ^ 0x9e3779b97f4a7c15ULL;
	struct sigaction sa = { .sa_handler = fz_on_sigusr2 };	/* no SA_RESTART */
	int fds_before = fz_count_fds();
	int64_t t0;
	pthread_t thr;
	char *st = self->arena;	/* struct scratch, first page(s) */

	TH_LOG("seed 0x%llx, %llu calls (KCHAN_FUZZ_SEED, KCHAN_FUZZ_CALLS)",
	       (unsigned long long)seed, (unsigned long long)calls);
	ASSERT_EQ(-1, fcntl(FZ_CLOSED_FD, F_GETFD));
	ASSERT_EQ(0, sigaction(SIGUSR2, &sa, NULL));

	/* The fd numbers of the channel slots stay fixed; their channels don't. */
	for (unsigned int i = 0; i < FZ_NCHAN; i++) {
		fz_chan_fd[i] = fz_make_chan(&fz_specs[i]);
		ASSERT_LE(0, fz_chan_fd[i]);
	}
	/* So are those of the selector slots. */
	for (unsigned int i = 0; i < FZ_NSEL; i++) {
		fz_sel_fd[i] = fz_make_selector(fz_sel_flags[i]);
		ASSERT_LE(0, fz_sel_fd[i]);
	}
	fz_main_thread = pthread_self();
	atomic_store(&fz_stop, false);
	ASSERT_EQ(0, pthread_create(&thr, NULL, fz_replacer, &r2));

	t0 = kt_now_ns();
	for (uint64_t it = 0; it < calls; it++) {
		unsigned int tk = fz_below(&r, 18), slot = fz_below(&r, FZ_NCHAN);
		const struct fz_spec *sp = NULL;
		unsigned long cmd;
		uint64_t arg;
		int fd;
		long ret;

		/* Target. */
		switch (tk) {
		case 0: case 1: fd = self->dev; break;
		case 2: fd = self->pipefd[fz_below(&r, 2)]; break;
		case 3: fd = self->efd; break;
		case 4: fd = FZ_CLOSED_FD; break;
		case 5: fd = -1; break;
		case 6: case 7: fd = fz_sel_fd[fz_below(&r, FZ_NSEL)]; break;
		default: sp = &fz_specs[slot]; fd = fz_chan_fd[slot]; break;
		}

		/* Now and then a mapping instead of an ioctl. */
		if (fz_pct(&r, 3)) {
			int m = fz_mmap(&r, fd, self->page);

			if (m > 0)
				mapped++;
			else if (m < 0 && bad++ < 20)
				TH_LOG("UNEXPECTED iteration %llu: mmap of fd %d (target %u slot %u) -> %s",
				       (unsigned long long)it, fd, tk, slot, strerror(-m));
			continue;
		}

		/* Command. */
		switch (fz_below(&r, 10)) {
		case 0:	/* random number of type 0xC5 */
			cmd = _IOC(fz_below(&r, 4), KCHAN_IOC_MAGIC, fz_below(&r, 256),
				   fz_below(&r, 1 << 14));
			break;
		case 1: {	/* neighbours: +-1, other direction/size, other type */
			unsigned long c = fz_cmds[fz_below(&r, FZ_NCMDS)];

			switch (fz_below(&r, 4)) {
			case 0: cmd = c + 1; break;
			case 1: cmd = c - 1; break;
			case 2: cmd = _IOC(1 + fz_below(&r, 3), KCHAN_IOC_MAGIC,
					   _IOC_NR(c), 8 << fz_below(&r, 3)); break;
			default: cmd = _IOC(_IOC_NONE, KCHAN_IOC_MAGIC + (fz_pct(&r, 50) ? 1 : -1),
					    _IOC_NR(c), 0); break;
			}
			break;
		}
		default:
			cmd = fz_cmds[fz_below(&r, FZ_NCMDS)];
			break;
		}
		/* Mostly where they belong: selectors, and /dev/kchan to create one. */
		if (fz_is_selector_cmd(cmd) && fz_pct(&r, 80)) {
			sp = NULL;
			fd = fz_sel_fd[fz_below(&r, FZ_NSEL)];
		} else if (cmd == KCHAN_IOC_SELECTOR_CREATE && fz_pct(&r, 80)) {
			sp = NULL;
			fd = self->dev;
		} else if (cmd == KCHAN_IOC_SUBSCRIBE && fz_pct(&r, 80)) {
			slot = FZ_BCAST + fz_below(&r, FZ_NBCAST);
			sp = &fz_specs[slot];
			fd = fz_chan_fd[slot];
		} else if (cmd == KCHAN_IOC_LOST && fz_pct(&r, 80)) {
			slot = FZ_SUB + fz_below(&r, FZ_NSUB);
			sp = &fz_specs[slot];
			fd = fz_chan_fd[slot];
		}
		/* The lean calls block on a blocking channel: O_NONBLOCK ones only. */
		if ((cmd == KCHAN_IOC_SEND_ONE || cmd == KCHAN_IOC_RECV_ONE) &&
		    sp && !sp->nonblock) {
			slot = 0;
			sp = &fz_specs[0];
			fd = fz_chan_fd[0];
		}

		/* Argument. */
		switch (fz_below(&r, 10)) {
		case 0:
			arg = fz_wild_ptr(&r, _metadata, self);
			break;
		case 1:	/* a valid-looking struct behind a read-only mapping */
			fz_fill_struct(&r, self, cmd, self->rw, sp ? sp->elem_size : 8,
				       _metadata);
			arg = (uintptr_t)self->ro;
			break;
		case 2: {	/* a struct that straddles the guard page */
			char *g = self->arena + FZ_ARENA_PAGES * self->page;
			unsigned int cut = 1 + fz_below(&r, 40);

			fz_fill_struct(&r, self, cmd, st, sp ? sp->elem_size : 8, _metadata);
			memcpy(g - cut, st, cut);
			arg = (uintptr_t)(g - cut);
			break;
		}
		default:
			if (cmd == KCHAN_IOC_CLOSE || cmd == KCHAN_IOC_WAKE) {
				arg = fz_pct(&r, 80) ? 0 : fz_next(&r);
			} else if (cmd == KCHAN_IOC_SEND_ONE || cmd == KCHAN_IOC_RECV_ONE) {
				arg = fz_buf(&r, self, sp ? sp->elem_size : 8, _metadata);
			} else {
				fz_fill_struct(&r, self, cmd, st, sp ? sp->elem_size : 8,
					       _metadata);
				arg = (uintptr_t)st;
			}
			break;
		}

		atomic_store(&fz_busy_cmd, cmd);
		atomic_store(&fz_busy_fd, fd);
		atomic_store(&fz_busy_since, kt_now_ns());
		ret = ioctl(fd, cmd, arg);
		if (ret < 0)
			ret = -errno;
		atomic_store(&fz_busy_since, 0);

		if (ret >= 0) {
			ok++;
			if (!fz_ret_allowed(cmd, ret, fd, arg, self->dev) && bad++ < 20)
				TH_LOG("UNEXPECTED iteration %llu: fd %d (target %u slot %u) cmd 0x%lx arg 0x%llx -> %ld",
				       (unsigned long long)it, fd, tk, slot, cmd,
				       (unsigned long long)arg, ret);
			switch (cmd) {
			case KCHAN_IOC_SELECTOR_ADD: sel_added++; break;
			case KCHAN_IOC_SELECTOR_DEL: sel_deleted++; break;
			case KCHAN_IOC_SELECTOR_WAIT:
				if (ret)
					sel_performed++;
				else
					sel_closed++;
				break;
			case KCHAN_IOC_SELECT:
				biased += !!(((const struct kchan_select *)(uintptr_t)arg)->flags &
					     KCHAN_SELECT_BIASED);
				break;
			case KCHAN_IOC_SUBSCRIBE: subscribed++; break;
			case KCHAN_IOC_LOST: lost_read++; break;
			}
			/*
			 * A new channel, subscriber or selector: close it (unless the
			 * replacer took the number), or put a new selector in
			 * the pool, closing the selector there with its cases.
			 */
			if (((cmd == KCHAN_IOC_CREATE || cmd == KCHAN_IOC_SELECTOR_CREATE) &&
			     fd == self->dev) || cmd == KCHAN_IOC_SUBSCRIBE) {
				bool ours = fz_is_slot(ret);

				if (cmd == KCHAN_IOC_CREATE)
					created++;
				else
					sels_created++;
				if (!ours && ret != self->dev && ret != self->efd &&
				    ret != self->pipefd[0] && ret != self->pipefd[1]) {
					if (cmd == KCHAN_IOC_SELECTOR_CREATE && fz_pct(&r, 50)) {
						dup2(ret, fz_sel_fd[fz_below(&r, FZ_NSEL)]);
						sels_installed++;
					}
					close(ret);
				}
			}
			continue;
		}
		hist[-ret > FZ_MAX_ERRNO ? FZ_MAX_ERRNO : -ret]++;
		if (cmd == KCHAN_IOC_SELECTOR_WAIT)
			wait_hist[-ret > FZ_MAX_ERRNO ? FZ_MAX_ERRNO : -ret]++;
		if (!fz_err_allowed(cmd, (int)-ret) && bad++ < 20)
			TH_LOG("UNEXPECTED iteration %llu: fd %d (target %u slot %u) cmd 0x%lx arg 0x%llx -> %s (%ld)",
			       (unsigned long long)it, fd, tk, slot, cmd,
			       (unsigned long long)arg, strerror(-ret), ret);
	}
	{
		int64_t dt = kt_now_ns() - t0;

		TH_LOG("%llu calls in %.2f s: %.0f calls/s; %lu ok (%lu channels created), "
		       "%ld descriptor replacements, %ld watchdog interrupts",
		       (unsigned long long)calls, dt / 1e9, calls * 1e9 / (dt ? dt : 1),
		       ok, created, atomic_load(&fz_replaced), atomic_load(&fz_kicks));
		TH_LOG("selectors: %lu created (%lu put in the pool), %ld replaced; %lu cases "
		       "added, %lu deleted, up to %ld in one selector; waits performed %lu "
		       "cases, %lu saw closed; %lu biased selects proceeded",
		       sels_created, sels_installed, atomic_load(&fz_sel_replaced), sel_added,
		       sel_deleted, atomic_load(&fz_max_cases), sel_performed, sel_closed, biased);
		TH_LOG("broadcast: %lu subscribers made, %lu lost counts read; %lu mappings",
		       subscribed, lost_read, mapped);
	}
	for (int e = 1; e <= FZ_MAX_ERRNO; e++)
		if (hist[e])
			TH_LOG("  errno %-4d %-10s %lu", e,
			       e == FZ_MAX_ERRNO ? "(other)" : strerrorname_np(e), hist[e]);
	{
		char line[512];
		int len = 0;

		for (int e = 1; e <= FZ_MAX_ERRNO && len < (int)sizeof(line) - 40; e++)
			if (wait_hist[e])
				len += snprintf(line + len, sizeof(line) - len, " %s %lu",
						e == FZ_MAX_ERRNO ? "(other)" : strerrorname_np(e),
						wait_hist[e]);
		TH_LOG("  selector waits failed with:%s", len ? line : " nothing");
	}

	atomic_store(&fz_stop, true);
	ASSERT_EQ(0, pthread_join(thr, NULL));
	EXPECT_EQ(0, bad);
	/* The selector ioctls were reached, not only rejected. */
	if (calls >= 10000) {
		EXPECT_LT(0, sels_created);
		EXPECT_LT(0, sel_added);
		EXPECT_LT(0, sel_deleted);
		EXPECT_LT(0, sel_performed);
		EXPECT_LT(0, subscribed);
		EXPECT_LT(0, lost_read);
		EXPECT_LT(0, mapped);
	}

	/*
	 * Once every channel is gone (a selector slot may hold a channel the
	 * fuzzer created while the replacer had the number closed: first
	 * those), no selector has a case left.
	 */
	for (unsigned int i = 0; i < FZ_NSEL; i++)
		if (fz_sel_cases(fz_sel_fd[i]) < 0)
			close(fz_sel_fd[i]);
	for (unsigned int i = 0; i < FZ_NCHAN; i++)
		close(fz_chan_fd[i]);
	for (unsigned int i = 0; i < FZ_NSEL; i++) {
		long n = fz_sel_cases(fz_sel_fd[i]);

		if (n >= 0) {
			EXPECT_EQ(0, n) TH_LOG("selector slot %u", i);
			close(fz_sel_fd[i]);
		}
	}

	/* A fresh channel round trip works. */
	{
		int fd = KT_MAKE_CHAN(8, 1, 0);
		uint64_t v = 0;

		ASSERT_EQ(1, kt_send_raw(fd, &(uint64_t){ 0x1234 }, 1, KCHAN_XFER_NONBLOCK));
		ASSERT_EQ(1, kt_recv_raw(fd, &v, 1, KCHAN_XFER_NONBLOCK));
		EXPECT_EQ(0x1234, v);
		close(fd);
	}
	/* No descriptor leaked (only our fixture's ones are open). */
	EXPECT_EQ(fds_before, fz_count_fds());

	/*
	 * No channel leaked in the per-user accounting: with the limit at 100,
	 * exactly 100 channels fit.
	 */
	self->saved_max_per_user = kt_param_get("max_channels_per_user");
	ASSERT_LE(0, self->saved_max_per_user);
	ASSERT_EQ(0, kt_param_set("max_channels_per_user", "100"));
	for (int pass = 0; pass < 1; pass++) {
		int fds[100], extra;

		for (int i = 0; i < 100; i++) {
			fds[i] = kt_create(8, 2, 0);
			ASSERT_LE(0, fds[i]) TH_LOG("channel %d: %s", i, strerror(-fds[i]));
		}
		extra = kt_create(8, 2, 0);
		EXPECT_EQ(-ENOSPC, extra);
		if (extra >= 0)
			close(extra);
		for (int i = 0; i < 100; i++)
			close(fds[i]);
	}
}

TEST_HARNESS_MAIN
