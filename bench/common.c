// SPDX-License-Identifier: GPL-2.0
/*
 * common.c - timing, statistics, result lines, processes, shared memory and
 * the run barrier (see common.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/kchan.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

struct bench_opts bench = { .rounds = 3, .ncpus = 1 };

void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "bench[%d]: ", getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (errno)
		fprintf(stderr, " (errno: %s)", strerror(errno));
	fputc('\n', stderr);
	exit(1);
}

int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

long long read_file_ll(const char *path)
{
	FILE *f = fopen(path, "re");
	long long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static void raise_limit(int resource, rlim_t want)
{
	struct rlimit rl = { want, want };

	/* Root may raise the hard limit; nobody else needs these figures. */
	if (setrlimit(resource, &rl))
		die("setrlimit(%d, %llu)", resource, (unsigned long long)want);
}

void bench_init(int argc, char **argv)
{
	long long nr_open;
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "r:q")) != -1) {
		switch (opt) {
		case 'r':
			bench.rounds = atoi(optarg);
			break;
		case 'q':
			bench.quick = 1;
			break;
		default:
			die("usage: %s [-r ROUNDS] [-q]", argv[0]);
		}
	}
	if (bench.rounds < 1)
		die("-r wants a positive number of rounds");
	bench.ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (bench.ncpus < 1)
		bench.ncpus = 1;

	/*
	 * Enough descriptors for 100 000 pipes (two each), POSIX queues as
	 * deep and as many as the cases ask (root is exempt from the mqueue
	 * sysctls, not from RLIMIT_MSGQUEUE; the sysctls are raised too so
	 * that the guest's settings say what the run used).
	 */
	nr_open = read_file_ll("/proc/sys/fs/nr_open");
	raise_limit(RLIMIT_NOFILE, nr_open > 0 ? (rlim_t)nr_open : 65536);
	raise_limit(RLIMIT_MSGQUEUE, RLIM_INFINITY);
	write_file("/proc/sys/fs/mqueue/msg_max", "65536");
	write_file("/proc/sys/fs/mqueue/msgsize_max", "65536");
	write_file("/proc/sys/fs/mqueue/queues_max", "1000000");
	write_file("/proc/sys/fs/file-max", "4000000");
}

size_t bench_count(size_t n, size_t min)
{
	if (bench.quick)
		n /= 10;
	return n < min ? min : n;
}

void bench_settle(void)
{
	usleep(200000);
}

long long bench_kernel_bytes(void)
{
	static const char *const keys[] = {
		"Slab:", "VmallocUsed:", "Percpu:", "KernelStack:", "PageTables:",
	};
	FILE *f = fopen("/proc/meminfo", "re");
	char key[64];
	long long kb, sum = 0;

	CHECK(f);
	while (fscanf(f, "%63s %lld kB\n", key, &kb) == 2)
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (!strcmp(key, keys[i]))
				sum += kb;
	fclose(f);
	return sum * 1024;
}

void bench_result(int round, const char *bcase, unsigned int size,
		  const char *impl, const char *metric, double value,
		  const char *unit, enum better better)
{
	printf("BENCH\t%d\t%s\t%u\t%s\t%s\t%.6g\t%s\t%s\n", round, bcase, size,
	       impl, metric, value, unit, better == HIGHER ? "higher" : "lower");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Nearest-rank percentile, @p in (0, 100]. */
uint64_t percentile(uint64_t *v, size_t n, double p)
{
	size_t rank;

	qsort(v, n, sizeof(*v), cmp_u64);
	rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

void pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu % bench.ncpus, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity(%d)", cpu % bench.ncpus);
}

pid_t spawn(int cpu, void (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		pin_cpu(cpu);
		fn(arg);
		_exit(0);
	}
	return pid;
}

void reap(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		die("waitpid(%d)", pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		errno = 0;
		die("child %d failed (status 0x%x)", pid, status);
	}
}

void *shm_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap(%zu)", len);
	return p;
}

void shm_free(void *p, size_t len)
{
	munmap(p, len);
}

void futex_wait(_Atomic uint32_t *word, uint32_t val)
{
	if (syscall(SYS_futex, word, FUTEX_WAIT, val, NULL, NULL, 0) &&
	    errno != EAGAIN && errno != EINTR)
		die("futex_wait");
}

void futex_wake(_Atomic uint32_t *word, int n)
{
	if (syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0) < 0)
		die("futex_wake");
}

/* This process's switch count when it last left sync_arrive_wait(). */
static uint64_t switches_at_start;

uint64_t ctx_switches(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		die("getrusage");
	return (uint64_t)ru.ru_nvcsw + (uint64_t)ru.ru_nivcsw;
}

void sync_arrive_wait(struct sync *s, uint32_t phase)
{
	uint32_t cur;

	atomic_fetch_add(&s->arrived, 1);
	futex_wake(&s->arrived, 1);
	while ((cur = atomic_load(&s->phase)) < phase)
		futex_wait(&s->phase, cur);
	switches_at_start = ctx_switches();
}

void sync_wait_arrivals(struct sync *s, uint32_t count)
{
	uint32_t cur;

	while ((cur = atomic_load(&s->arrived)) < count)
		futex_wait(&s->arrived, cur);
}

void sync_release(struct sync *s, uint32_t phase)
{
	atomic_store(&s->phase, phase);
	futex_wake(&s->phase, 1 << 30);
}

void sync_done(struct sync *s, bool last_step)
{
	uint64_t t = now_ns(), cur = atomic_load(&s->t_end);

	atomic_fetch_add(&s->switches, ctx_switches() - switches_at_start);
	while (last_step && cur < t &&
	       !atomic_compare_exchange_weak(&s->t_end, &cur, t))
		;
}

void bench_describe(void)
{
	char cs[64] = "unknown";
	uint64_t t0, t1;
	FILE *f;
	int i;

	f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
	if (f) {
		if (fscanf(f, "%63s", cs) != 1)
			strcpy(cs, "unknown");
		fclose(f);
	}
	t0 = now_ns();
	for (i = 0; i < 10000; i++)
		now_ns();
	t1 = now_ns();
	printf("BENCHINFO\tclocksource\t%s\n", cs);
	printf("BENCHINFO\tclock_gettime_ns\t%.0f\n", (double)(t1 - t0) / 10001);
	printf("BENCHINFO\tcpus\t%d\n", bench.ncpus);
}

int plain_chan(size_t elem_size, size_t capacity)
{
	struct kchan_create c = {
		.size = sizeof(c), .flags = KCHAN_CLOEXEC,
		.elem_size = elem_size, .capacity = capacity,
	};
	int dev = open("/dev/kchan", O_RDWR | O_CLOEXEC), fd;

	if (dev < 0)
		die("open /dev/kchan");
	fd = ioctl(dev, KCHAN_IOC_CREATE, &c);
	if (fd < 0)
		die("KCHAN_IOC_CREATE(%zu, %zu)", elem_size, capacity);
	close(dev);
	return fd;
}
