// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * task.c - tasks, threads that act as goroutines: kchan_go() and
 * kchan_join(), and task groups on top of them.
 *
 * A task is a POSIX thread that runs task_main(), which calls the user's
 * function.  With a cgroup the thread first moves itself into it, by
 * writing its thread ID to the cgroup's cgroup.threads; kchan_go() waits
 * for the outcome of that move (the start handshake below) so that a
 * failed move is the caller's error return and the function never runs.
 *
 * The path is checked, and cgroup.threads opened, before any thread
 * exists: every error the caller can cause with a bad path comes from
 * kchan_go() itself.  Only what the kernel decides at the move (the
 * cgroup v2 threaded-mode rules) needs the thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <chanuser.h>

#include "syscall.h"

/**
 * struct kchan_task - one task, from kchan_go() to kchan_join().
 * @thread: the thread that runs the task.
 * @fn: the user's function, called with @arg.
 * @arg: its argument.
 * @threads_fd: the target cgroup's cgroup.threads open for writing, or -1
 *	for a task that stays where it was created.  Owned by kchan_go(),
 *	which closes it once the handshake is over.
 * @lock: guards @moved and @move_err (the start handshake).
 * @moved_cond: signalled when @moved becomes true.
 * @moved: the thread has tried to move into the cgroup.
 * @move_err: 0 if the move succeeded, else the -errno of the write;
 *	on error the thread exits without calling @fn.
 * @next: link in &struct kchan_group.tasks (guarded by the group's lock).
 *
 * Allocated by kchan_go(), freed by kchan_join().
 */
struct kchan_task {
	pthread_t		thread;
	void			*(*fn)(void *arg);
	void			*arg;
	int			threads_fd;
	pthread_mutex_t		lock;
	pthread_cond_t		moved_cond;
	bool			moved;
	int			move_err;
	struct kchan_task	*next;
};

/**
 * struct kchan_group - tasks waited for together.
 * @lock: guards every other field.
 * @idle: broadcast when @busy drops to 0.
 * @tasks: tasks started and not yet claimed by a waiter (a stack).
 * @busy: calls in progress that will change @tasks: kchan_group_go()s
 *	starting a task, and kchan_group_wait()s joining one they took off
 *	@tasks.  A waiter returns only when @tasks is empty and @busy is 0,
 *	so it never misses a task that is still being started or joined.
 */
struct kchan_group {
	pthread_mutex_t		lock;
	pthread_cond_t		idle;
	struct kchan_task	*tasks;
	unsigned int		busy;
};

/*
 * Open @path's cgroup.threads for writing, checking on the way that
 * @path is a directory of a cgroup v2 hierarchy.  The descriptor, or
 * -errno: those of open(2) (-ENOENT, -ENOTDIR, -EACCES, ...), and -EINVAL
 * for a directory that is not on a cgroup2 file system.
 */
static int cgroup_threads_open(const char *path)
{
	struct statfs st;
	int dir, ret;

	/* O_PATH: neither read nor search permission on @path is needed. */
	dir = sys_open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return dir;
	ret = sys_fstatfs(dir, &st);
	if (ret < 0)
		goto out_close_dir;
	if (st.f_type != CGROUP2_SUPER_MAGIC) {
		ret = -EINVAL;
		goto out_close_dir;
	}
	ret = sys_openat(dir, "cgroup.threads", O_WRONLY | O_CLOEXEC);
out_close_dir:
	sys_close(dir);
	return ret;
}

/* Move the calling thread into the cgroup of @threads_fd; 0 or -errno. */
static int cgroup_enter(int threads_fd)
{
	char tid[16];
	int len, ret;

	len = snprintf(tid, sizeof(tid), "%d", (int)gettid());
	ret = sys_write(threads_fd, tid, len);
	if (ret < 0)
		return ret;
	return ret == len ? 0 : -EIO;
}

/* The thread of every task. */
static void *task_main(void *arg)
{
	struct kchan_task *task = arg;
	int err;

	if (task->threads_fd < 0)
		return task->fn(task->arg);

	err = cgroup_enter(task->threads_fd);
	pthread_mutex_lock(&task->lock);
	task->move_err = err;
	task->moved = true;
	pthread_cond_signal(&task->moved_cond);
	pthread_mutex_unlock(&task->lock);
	/*
	 * On error kchan_go() joins this thread and frees @task; on success
	 * @task lives until kchan_join(), which also joins first.
	 */
	if (err)
		return NULL;
	return task->fn(task->arg);
}

/* Wait for the thread of @task to report its move; 0 or its -errno. */
static int task_wait_moved(struct kchan_task *task)
{
	int err;

	pthread_mutex_lock(&task->lock);
	while (!task->moved)
		pthread_cond_wait(&task->moved_cond, &task->lock);
	err = task->move_err;
	pthread_mutex_unlock(&task->lock);
	return err;
}

static void task_free(struct kchan_task *task)
{
	pthread_cond_destroy(&task->moved_cond);
	pthread_mutex_destroy(&task->lock);
	free(task);
}

/* kchan_go() without the errno bookkeeping. */
static int task_start(struct kchan_task **taskp, void *(*fn)(void *),
		      void *arg, const struct kchan_task_attr *attr)
{
	struct kchan_task *task;
	int ret;

	if (!taskp || !fn)
		return -EINVAL;
	task = calloc(1, sizeof(*task));
	if (!task)
		return -ENOMEM;
	task->fn = fn;
	task->arg = arg;
	task->threads_fd = -1;
	/* Default attributes: these cannot fail. */
	pthread_mutex_init(&task->lock, NULL);
	pthread_cond_init(&task->moved_cond, NULL);

	if (attr && attr->cgroup) {
		ret = cgroup_threads_open(attr->cgroup);
		if (ret < 0)
			goto out_free;
		task->threads_fd = ret;
	}

	ret = -pthread_create(&task->thread, NULL, task_main, task);
	if (ret)
		goto out_close;

	if (task->threads_fd >= 0) {
		ret = task_wait_moved(task);
		if (ret) {
			/* The thread is returning without calling @fn. */
			pthread_join(task->thread, NULL);
			goto out_close;
		}
		/* The thread is done with it (the handshake orders this). */
		sys_close(task->threads_fd);
		task->threads_fd = -1;
	}
	*taskp = task;
	return 0;

out_close:
	if (task->threads_fd >= 0)
		sys_close(task->threads_fd);
out_free:
	task_free(task);
	return ret;
}

int kchan_go(struct kchan_task **task, void *(*fn)(void *), void *arg,
	     const struct kchan_task_attr *attr)
{
	/* calloc() and pthread_create() may set errno, even on success. */
	int saved_errno = errno;
	int ret = task_start(task, fn, arg, attr);

	errno = saved_errno;
	return ret;
}

int kchan_join(struct kchan_task *task, void **result)
{
	void *res;
	int err;

	if (!task)
		return -EINVAL;
	err = pthread_join(task->thread, &res);
	if (err)
		return -err;	/* -EDEADLK: a task joining itself */
	if (result)
		*result = res;
	task_free(task);
	return 0;
}

int kchan_group_new(struct kchan_group **groupp)
{
	int saved_errno = errno;
	struct kchan_group *group;

	if (!groupp)
		return -EINVAL;
	group = calloc(1, sizeof(*group));
	errno = saved_errno;
	if (!group)
		return -ENOMEM;
	pthread_mutex_init(&group->lock, NULL);
	pthread_cond_init(&group->idle, NULL);
	*groupp = group;
	return 0;
}

/* Drop one @busy count; the caller holds @group->lock. */
static void group_unbusy(struct kchan_group *group)
{
	if (--group->busy == 0)
		pthread_cond_broadcast(&group->idle);
}

int kchan_group_go(struct kchan_group *group, void *(*fn)(void *), void *arg,
		   const struct kchan_task_attr *attr)
{
	struct kchan_task *task;
	int ret;

	if (!group)
		return -EINVAL;

	pthread_mutex_lock(&group->lock);
	group->busy++;
	pthread_mutex_unlock(&group->lock);

	ret = kchan_go(&task, fn, arg, attr);

	pthread_mutex_lock(&group->lock);
	if (!ret) {
		task->next = group->tasks;
		group->tasks = task;
	}
	group_unbusy(group);
	pthread_mutex_unlock(&group->lock);
	return ret;
}

int kchan_group_wait(struct kchan_group *group)
{
	struct kchan_task *task;
	int joined = 0, ret = 0;

	if (!group)
		return -EINVAL;

	pthread_mutex_lock(&group->lock);
	for (;;) {
		task = group->tasks;
		if (!task) {
			if (!group->busy)
				break;
			/* A task is being started or joined elsewhere. */
			pthread_cond_wait(&group->idle, &group->lock);
			continue;
		}
		group->tasks = task->next;
		group->busy++;
		pthread_mutex_unlock(&group->lock);

		ret = kchan_join(task, NULL);

		pthread_mutex_lock(&group->lock);
		if (ret) {
			/* Not joined (a task waiting for its own group). */
			task->next = group->tasks;
			group->tasks = task;
			group_unbusy(group);
			break;
		}
		joined++;
		group_unbusy(group);
	}
	pthread_mutex_unlock(&group->lock);
	return ret ? ret : joined;
}

int kchan_group_free(struct kchan_group *group)
{
	bool busy;

	if (!group)
		return 0;
	pthread_mutex_lock(&group->lock);
	busy = group->tasks || group->busy;
	pthread_mutex_unlock(&group->lock);
	if (busy)
		return -EBUSY;
	pthread_cond_destroy(&group->idle);
	pthread_mutex_destroy(&group->lock);
	free(group);
	return 0;
}
