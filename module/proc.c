// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: /proc/kchan, the system-wide listing of live channels, and the
 * list of all channels behind it.
 *
 * A header line, then one line per channel the reader may see:
 *
 *   id pid comm cgroup uid elem_size capacity len closed sendq recvq
 *   oldest_wait_ns
 *
 * pid, comm and cgroup describe the creator at creation: its thread group
 * id (in the pid namespace of this procfs mount, 0 if not visible there),
 * its command name and its cgroup v2 path (from the hierarchy's root; "-"
 * without cgroups).  A channel holds references on that pid and cgroup
 * until it is destroyed, as a socket holds its cgroup.  comm and cgroup
 * are escaped the way seq_escape() does, whitespace and backslash as
 * \ooo, so the columns split on whitespace; an empty comm shows as "-".
 * uid is the owner the channel is charged to (limits.c), in the reader's
 * user namespace.  oldest_wait_ns is how long the oldest task now blocked
 * on the channel, sender or receiver, has waited; 0 if none.
 *
 * A reader sees the channels whose owner is its effective uid, as the
 * descriptor's opener (file->f_cred); an opener with CAP_SYS_ADMIN in the
 * initial user namespace sees all.
 *
 * Locking: kchan_all and every channel's struct kchan_origin.node are
 * guarded by kchan_all_lock, a spinlock.  A channel is listed once it is
 * fully set up, just before its descriptor is installed, and unlisted
 * first thing when it is destroyed, so a listed channel's memory stays
 * valid while the lock is held.  The listing holds kchan_all_lock from
 * ->start() to ->stop() and never takes a channel's lock: a channel lock
 * may be held across a page fault for as long as the fault takes, and no
 * reader of /proc/kchan (nor, through kchan_all_lock, any creation) may
 * wait for that.  The channel's state is read with READ_ONCE() - the
 * fields poll also reads, and the wait starts kept in sendq_since and
 * recvq_since (wait.c) - so a line may mix values a moment apart, which
 * an overview can afford.  Under kchan_all_lock the listing takes only
 * kernfs's path lock and nothing that sleeps; kchan_all_lock is never
 * taken with a channel lock held.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/list.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>
#include <linux/uidgid.h>

#include "compat.h"
#include "kchan.h"

/* Bytes escaped in the text columns: whitespace and the escape itself. */
#define KCHAN_PROC_ESC	" \t\n\v\f\r\\"

static LIST_HEAD(kchan_all);
static DEFINE_SPINLOCK(kchan_all_lock);

/**
 * struct kchan_proc_reader - one open /proc/kchan
 * @all: the opener may see every channel.
 * @path: room for a cgroup path; used under kchan_all_lock only.
 */
struct kchan_proc_reader {
	bool all;
	char path[PATH_MAX];
};

/**
 * kchan_proc_add() - record the creator and list a new channel
 * @ch: a channel that is fully set up and about to get its descriptor
 *
 * Records the calling task as the creator.  Cannot fail.
 */
void kchan_proc_add(struct kchan *ch)
{
	struct kchan_origin *o = &ch->origin;

	o->tgid = get_pid(task_tgid(current));
	o->cgrp = kchan_cgroup_get_current();
	get_task_comm(o->comm, current);

	spin_lock(&kchan_all_lock);
	list_add_tail(&o->node, &kchan_all);
	spin_unlock(&kchan_all_lock);
}

/**
 * kchan_proc_del() - unlist a channel and drop its creator's references
 * @ch: a channel listed by kchan_proc_add(), being destroyed
 */
void kchan_proc_del(struct kchan *ch)
{
	struct kchan_origin *o = &ch->origin;

	spin_lock(&kchan_all_lock);
	list_del(&o->node);
	spin_unlock(&kchan_all_lock);

	kchan_cgroup_put(o->cgrp);
	put_pid(o->tgid);
}

static void *kchan_proc_start(struct seq_file *m, loff_t *pos)
	__acquires(&kchan_all_lock)
{
	spin_lock(&kchan_all_lock);
	return seq_list_start_head(&kchan_all, *pos);
}

static void *kchan_proc_next(struct seq_file *m, void *v, loff_t *pos)
{
	return seq_list_next(v, &kchan_all, pos);
}

static void kchan_proc_stop(struct seq_file *m, void *v)
	__releases(&kchan_all_lock)
{
	spin_unlock(&kchan_all_lock);
}

/* Nanoseconds the oldest blocked task of @ch has waited at @now, or 0. */
static u64 kchan_oldest_wait(const struct kchan *ch, u64 now)
{
	u64 send = READ_ONCE(ch->sendq_since);
	u64 recv = READ_ONCE(ch->recvq_since);
	u64 since = send && recv ? min(send, recv) : max(send, recv);

	/* local_clock() of another CPU may be a little ahead of ours. */
	return since && now > since ? now - since : 0;
}

/* A text column: escaped, or "-" when empty. */
static void kchan_proc_text(struct seq_file *m, const char *s)
{
	seq_putc(m, ' ');
	if (*s)
		seq_escape(m, s, KCHAN_PROC_ESC);
	else
		seq_putc(m, '-');
}

static int kchan_proc_show(struct seq_file *m, void *v)
{
	struct kchan_proc_reader *r = m->private;
	const struct cred *cred = m->file->f_cred;
	struct pid_namespace *pid_ns;
	const struct kchan *ch;

	if (v == &kchan_all) {
		seq_puts(m, "id pid comm cgroup uid elem_size capacity len closed sendq recvq oldest_wait_ns\n");
		return 0;
	}
	ch = list_entry(v, struct kchan, origin.node);
	if (!r->all && !uid_eq(ch->owner, cred->euid))
		return 0;

	pid_ns = proc_pid_ns(file_inode(m->file)->i_sb);
	seq_printf(m, "%llu %d", ch->id, pid_nr_ns(ch->origin.tgid, pid_ns));
	kchan_proc_text(m, ch->origin.comm);
	if (kchan_cgroup_path(ch->origin.cgrp, r->path, sizeof(r->path)))
		r->path[0] = '\0';
	kchan_proc_text(m, r->path);
	seq_printf(m, " %u %u %u %llu %d %u %u %llu\n",
		   from_kuid_munged(cred->user_ns, ch->owner),
		   ch->ring.elem_size, ch->ring.capacity,
		   (u64)kchan_ring_len(&ch->ring) + READ_ONCE(ch->nr_returned),
		   READ_ONCE(ch->closed), READ_ONCE(ch->nr_sendq),
		   READ_ONCE(ch->nr_recvq),
		   kchan_oldest_wait(ch, local_clock()));
	return 0;
}

static const struct seq_operations kchan_proc_seq_ops = {
	.start	= kchan_proc_start,
	.next	= kchan_proc_next,
	.stop	= kchan_proc_stop,
	.show	= kchan_proc_show,
};

static int kchan_proc_open(struct inode *inode, struct file *file)
{
	struct kchan_proc_reader *r;

	r = __seq_open_private(file, &kchan_proc_seq_ops, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->all = file_ns_capable(file, &init_user_ns, CAP_SYS_ADMIN);
	return 0;
}

static const struct proc_ops kchan_proc_ops = {
	.proc_open	= kchan_proc_open,
	.proc_read_iter	= seq_read_iter,
	.proc_lseek	= seq_lseek,
	.proc_release	= seq_release_private,
};

/**
 * kchan_proc_init() - create /proc/kchan, at module load
 *
 * Return: 0 or -ENOMEM.
 */
int kchan_proc_init(void)
{
	return proc_create("kchan", 0444, NULL, &kchan_proc_ops) ? 0 : -ENOMEM;
}

/**
 * kchan_proc_exit() - remove /proc/kchan, at module unload
 */
void kchan_proc_exit(void)
{
	remove_proc_entry("kchan", NULL);
}
