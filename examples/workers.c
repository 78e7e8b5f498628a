// SPDX-License-Identifier: GPL-2.0
/*
 * workers - a pool of tasks fed through one channel and stopped by closing
 * another: Go's worker pool with ctx.Done(), in C.
 *
 * In Go the program would read:
 *
 *	done := make(chan struct{})		// closed to cancel
 *	jobs := make(chan uint64, 4)
 *	results := make(chan result, 4)
 *	var wg sync.WaitGroup
 *	wg.Go(producer)				// jobs 1, 2, 3, ... until done
 *	for i := 0; i < NR_WORKERS; i++ {
 *		wg.Go(worker)			// jobs in, results out, until done
 *	}
 *	for i := 0; i < NR_RESULTS; i++ {
 *		fmt.Println(<-results)
 *	}
 *	close(done)				// cancel everything
 *	wg.Wait()
 *
 * Here a task group (kchan_group_go(), kchan_group_wait()) plays the
 * WaitGroup, kchan_select() the select statements, and kchan_close(done)
 * the cancellation: nobody ever sends on "done", so a receive on it blocks
 * until it is closed, and then every receive on it, in every task, fires
 * at once.  Nothing has to know how many tasks are listening.
 *
 * usage: workers [CGROUP]
 *
 * With CGROUP (a threaded cgroup v2 directory in this process's domain,
 * see kchan_go(3)), the workers run in it.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <chanuser.h>

#define NR_WORKERS	4
#define NR_RESULTS	20

/* The channels every task shares. */
struct pool {
	int done;	/* never sent on: closing it is the cancel signal */
	int jobs;	/* uint64_t job numbers, producer to workers */
	int results;	/* struct result, workers to main */
};

/* One element of the results channel. */
struct result {
	uint64_t job;
	uint64_t steps;	/* the job's answer */
	int worker;
};

/* What each worker gets as its argument, and reports back through. */
struct worker {
	struct pool *pool;
	int id;
	unsigned int jobs_done;
	int err;	/* 0, or the -errno that stopped it early */
};

/* The "work": steps of the Collatz sequence from @n down to 1. */
static uint64_t collatz_steps(uint64_t n)
{
	uint64_t steps = 0;

	while (n > 1) {
		n = n % 2 ? 3 * n + 1 : n / 2;
		steps++;
	}
	return steps;
}

/*
 * Send @elem on @ch unless the pool is cancelled first (Go's
 * "select { case ch <- v: case <-done: }").  1 sent, 0 cancelled, or -errno.
 */
static int send_or_done(struct pool *pool, int ch, void *elem)
{
	char none;	/* "done" never delivers an element */
	struct kchan_case cases[] = {
		{ .ch = pool->done, .op = KCHAN_CASE_RECV, .elem = &none },
		{ .ch = ch, .op = KCHAN_CASE_SEND, .elem = elem },
	};
	int ret = kchan_select(cases, 2, -1);

	if (ret < 0)
		return ret;
	return ret == 1;	/* case 0 fired: done is closed */
}

/* Task: hand out jobs 1, 2, 3, ... until cancelled. */
static void *producer(void *arg)
{
	struct pool *pool = arg;
	uint64_t job;

	for (job = 1; send_or_done(pool, pool->jobs, &job) == 1; job++)
		;
	printf("producer: cancelled after %" PRIu64 " jobs\n", job - 1);
	return NULL;
}

/* Print the cgroup the calling thread runs in, as the kernel sees it. */
static void print_cgroup(int id)
{
	char line[256] = "?";
	FILE *f = fopen("/proc/thread-self/cgroup", "re");

	if (f) {
		if (!fgets(line, sizeof(line), f))
			strcpy(line, "?");
		fclose(f);
	}
	line[strcspn(line, "\n")] = '\0';
	printf("worker %d: running in cgroup \"%s\"\n", id, line);
}

/* Task: turn jobs into results until cancelled. */
static void *worker(void *arg)
{
	struct worker *w = arg;
	struct pool *pool = w->pool;

	print_cgroup(w->id);
	for (;;) {
		/* Go: select { case <-done: return; case job := <-jobs: } */
		char none;
		uint64_t job;
		struct kchan_case cases[] = {
			{ .ch = pool->done, .op = KCHAN_CASE_RECV, .elem = &none },
			{ .ch = pool->jobs, .op = KCHAN_CASE_RECV, .elem = &job },
		};
		struct result r;
		int ret = kchan_select(cases, 2, -1);

		if (ret < 0) {
			w->err = ret;
			break;
		}
		if (ret == 0) {
			/*
			 * A receive from "done" can only mean that it is
			 * closed, and kchan_select() says so: closed == 1.
			 */
			printf("worker %d: done fired with closed=%d\n",
			       w->id, cases[0].closed);
			break;
		}

		r = (struct result){
			.job = job,
			.steps = collatz_steps(job),
			.worker = w->id,
		};
		/* Cancelled while working: the result is dropped, as in Go. */
		ret = send_or_done(pool, pool->results, &r);
		if (ret <= 0) {
			w->err = ret;
			printf("worker %d: cancelled while sending a result\n", w->id);
			break;
		}
		w->jobs_done++;
	}
	printf("worker %d: exiting, %u jobs done\n", w->id, w->jobs_done);
	return NULL;
}

int main(int argc, char **argv)
{
	struct kchan_task_attr attr = { .cgroup = argc > 1 ? argv[1] : NULL };
	struct worker workers[NR_WORKERS];
	struct pool pool = { -1, -1, -1 };
	struct kchan_group *group = NULL;
	unsigned int total = 0;
	int ret, i, started = 0, nread = 0, failed = 0;
	struct result r;

	/* Whole lines, so that the tasks' output interleaves cleanly. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* 1. The channels and the group. */
	pool.done = kchan_make(1, 0, KCHAN_CLOEXEC);
	pool.jobs = kchan_make(sizeof(uint64_t), 4, KCHAN_CLOEXEC);
	pool.results = kchan_make(sizeof(struct result), 4, KCHAN_CLOEXEC);
	if (pool.done < 0 || pool.jobs < 0 || pool.results < 0) {
		ret = pool.done < 0 ? pool.done : pool.jobs < 0 ? pool.jobs : pool.results;
		fprintf(stderr, "kchan_make: %s\n", strerror(-ret));
		return 1;
	}
	ret = kchan_group_new(&group);
	if (ret < 0) {
		fprintf(stderr, "kchan_group_new: %s\n", strerror(-ret));
		return 1;
	}

	/* 2. Start the tasks: one producer, NR_WORKERS workers. */
	ret = kchan_group_go(group, producer, &pool, NULL);
	for (i = 0; ret == 0 && i < NR_WORKERS; i++) {
		workers[i] = (struct worker){ .pool = &pool, .id = i };
		ret = kchan_group_go(group, worker, &workers[i], &attr);
		if (ret == 0)
			started++;
	}
	if (ret < 0) {
		/* E.g. a bad CGROUP: cancel what runs already, below. */
		fprintf(stderr, "kchan_group_go: %s\n", strerror(-ret));
		failed = 1;
	}

	/* 3. Consume some results; the pool would go on forever. */
	while (!failed && nread < NR_RESULTS) {
		ret = kchan_recv(pool.results, &r);
		if (ret <= 0) {
			fprintf(stderr, "kchan_recv: %s\n", ret ? strerror(-ret) : "closed");
			failed = 1;
			break;
		}
		nread++;
		printf("main: job %2" PRIu64 " takes %3" PRIu64 " steps (worker %d)\n",
		       r.job, r.steps, r.worker);
	}

	/* 4. Cancel: one close wakes every task selecting on "done". */
	printf("main: closing done\n");
	ret = kchan_close(pool.done);
	if (ret < 0) {
		fprintf(stderr, "kchan_close: %s\n", strerror(-ret));
		return 1;	/* the tasks would never stop */
	}

	/* 5. Wait for all of them, then look at what they did. */
	ret = kchan_group_wait(group);
	if (ret < 0) {
		fprintf(stderr, "kchan_group_wait: %s\n", strerror(-ret));
		return 1;
	}
	printf("main: joined %d tasks\n", ret);
	for (i = 0; i < started; i++) {
		total += workers[i].jobs_done;
		if (workers[i].err) {
			fprintf(stderr, "worker %d: %s\n", i, strerror(-workers[i].err));
			failed = 1;
		}
	}
	/* Up to the results channel's capacity may be left unread in it. */
	printf("main: workers sent %u results, main read %d\n", total, nread);
	if (!failed && total < NR_RESULTS)
		failed = 1;

	kchan_group_free(group);
	close(pool.done);
	close(pool.jobs);
	close(pool.results);
	return failed;
}
