/* SPDX-License-Identifier: GPL-2.0 */
/*
 * common.h - what every benchmark program shares: timing, statistics, the
 * result lines, processes pinned to CPUs, shared memory and the futex-based
 * barrier that starts and stops a timed run.
 *
 * A program prints one line per measurement:
 *
 *	BENCH <round> <case> <size> <impl> <metric> <value> <unit> <better>
 *
 * (tab-separated).  bench/run.sh collects those lines from the serial log
 * and bench/report.awk turns them into the tables and ratios.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Options every program accepts: -r ROUNDS, -q (quick: a tenth of the work). */
struct bench_opts {
	int rounds;	/* rounds that alternate kchan and its peers */
	int ncpus;	/* online CPUs: 1 in deterministic mode */
	int quick;	/* smoke test: scale every count down */
};

extern struct bench_opts bench;

/* Parse the options, make stdout line-buffered, raise the limits. */
void bench_init(int argc, char **argv);

/* @n scaled down in quick mode (never below @min). */
size_t bench_count(size_t n, size_t min);

/*
 * Let the kernel finish what earlier cases left behind (RCU callbacks,
 * freed stacks, memcg flushes) before the next measurement: a 200 ms
 * sleep, which costs no wall time in deterministic mode (-icount with
 * sleep=off skips idle time), but keeps that work out of the next
 * measurement's instruction count.
 */
void bench_settle(void);

/*
 * The kernel's memory in bytes by /proc/meminfo: Slab + VmallocUsed +
 * Percpu + KernelStack + PageTables, what kernel objects take.
 */
long long bench_kernel_bytes(void);

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Which way a metric is better; report.awk orients the ratios by it. */
enum better { HIGHER, LOWER };

void bench_result(int round, const char *bcase, unsigned int size,
		  const char *impl, const char *metric, double value,
		  const char *unit, enum better better);

/* Statistics.  Both sort @v in place. */
double median(double *v, size_t n);
uint64_t percentile(uint64_t *v, size_t n, double p);

/* Errors: a benchmark that cannot do what it measures stops the program. */
void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...);
#define CHECK(cond) \
	do { if (!(cond)) die("%s:%d: %s", __FILE__, __LINE__, #cond); } while (0)

/* Write @val to a /proc or /sys file; 0 or -errno (quietly). */
int write_file(const char *path, const char *val);
/* Read the first number in a /proc or /sys file; -1 on error. */
long long read_file_ll(const char *path);

/* Processes and CPUs. */
void pin_cpu(int cpu);		/* cpu modulo the online CPUs */
pid_t spawn(int cpu, void (*fn)(void *), void *arg);	/* fork, pin, fn, exit */
void reap(pid_t pid);		/* waitpid; dies unless the child exited 0 */

/* Shared anonymous memory, inherited over fork(); zeroed. */
/* A kchan channel without KCHAN_MAPPABLE: every call a system call. */
int plain_chan(size_t elem_size, size_t capacity);

void *shm_alloc(size_t len);
void shm_free(void *p, size_t len);

/* futex(2) on a 32-bit word, process-shared. */
void futex_wait(_Atomic uint32_t *word, uint32_t val);
void futex_wake(_Atomic uint32_t *word, int n);

/*
 * A start/stop line for the processes of one run, in shared memory.  Each
 * worker arrives, and waits until the coordinator releases the phase; the
 * coordinator waits until enough workers have arrived.
 */
struct sync {
	_Atomic uint32_t arrived;
	_Atomic uint32_t phase;
	_Atomic uint64_t t_end;		/* latest finish time of any worker */
	_Atomic uint64_t switches;	/* context switches while timed */
};

void sync_arrive_wait(struct sync *s, uint32_t phase);
void sync_wait_arrivals(struct sync *s, uint32_t count);
void sync_release(struct sync *s, uint32_t phase);
/*
 * A worker is done with the timed part: add its context switches since
 * its last sync_arrive_wait() and, if @last_step, t_end = max(t_end, now).
 */
void sync_done(struct sync *s, bool last_step);

/* Voluntary plus involuntary context switches of this process so far. */
uint64_t ctx_switches(void);

/* Say how the guest keeps time: BENCHINFO lines for the report. */
void bench_describe(void);

#endif /* BENCH_COMMON_H */
