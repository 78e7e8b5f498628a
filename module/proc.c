// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: /proc/kchan, the system-wide listing of live channels, and the
 * index of all channels behind it.
 *
 * A header line, then one line per channel the reader may see:
 *
 *   id pid comm cgroup uid elem_size capacity len closed sendq recvq
 *   oldest_wait_ns kind subscribers lost
 *
 * pid, comm and cgroup describe the creator at creation: its thread group
 * id (in the pid namespace of this procfs mount, 0 if not visible there),
 * its command name and its cgroup v2 path as the reader's cgroup namespace
 * sees it (as in /proc/self/cgroup: "/.." leads out of the reader's
 * namespace; "-" without cgroups).  A channel holds references on that pid
 * and cgroup until it is destroyed, as a socket holds its cgroup.  comm
 * and cgroup are text from elsewhere: every byte that is not printable
 * ASCII, every space and the backslash are escaped as \ooo, so a line
 * never carries terminal escapes and the columns split on whitespace; an
 * empty comm shows as "-".  id is the channel's id among its owner's
 * channels (limits.c), as fdinfo shows it; uid is the creator's real uid,
 * in the reader's user namespace.  oldest_wait_ns is how long the oldest
 * task now blocked on the channel, sender or receiver, has waited; 0 if
 * none.  kind is "channel", "broadcast" or "broadcast-lossy"; subscribers
 * and lost are a broadcast channel's subscribers and the elements they
 * missed, all together (0 for a plain channel).  Columns are only ever
 * added at the end.
 *
 * A reader sees the channels whose creator's uid is its effective uid, as
 * the descriptor's opener (file->f_cred); an opener with CAP_SYS_ADMIN in
 * the initial user namespace sees all.
 *
 * Locking: every listed channel is in kchan_proc_chans, an allocating
 * xarray indexed by struct kchan.slot, from just before its descriptor is
 * installed until its file is released.  The listing walks it in slot
 * order: it finds the next channel under rcu_read_lock() (channel objects
 * are freed after a grace period, cache.c), takes a reference on it with
 * kref_get_unless_zero(), and prints it holding only that reference, so
 * each chunk of a read costs a lookup, not a walk from the start, and no
 * lock is held while a line is printed - which may sleep, for the cgroup
 * path.  The channel's state is read without its lock, which may be held
 * across a page fault for as long as the fault takes: the published poll
 * mask's pieces, the queue lengths and the wait starts, all written with
 * WRITE_ONCE() under the channel lock, so a line may mix values a moment
 * apart, which an overview can afford.  The xarray's own lock is taken
 * only by kchan_proc_add() and kchan_proc_del(), never with a channel lock
 * held.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/proc_fs.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/clock.h>
#include <linux/seq_file.h>
#include <linux/uidgid.h>
#include <linux/xarray.h>

#include "compat.h"
#include "kchan.h"
#include "shring.h"

static DEFINE_XARRAY_ALLOC(kchan_proc_chans);

/**
 * struct kchan_proc_reader - one open /proc/kchan
 * @all: the opener may see every channel.
 * @cur: the channel being shown, referenced, or NULL.
 * @path: room for a cgroup path.
 */
struct kchan_proc_reader {
	bool all;
	struct kchan *cur;
	char path[PATH_MAX];
};

/**
 * kchan_proc_add() - record the creator and list a new channel
 * @ch: a channel that is fully set up and about to get its descriptor
 *
 * Records the calling task as the creator, even when listing fails; the
 * channel's destruction drops what it recorded (kchan_origin_put()).
 *
 * Return: 0, or -ENOMEM (or -EBUSY, with 2^31 channels listed).
 */
int kchan_proc_add(struct kchan *ch)
{
	struct kchan_origin *o = &ch->origin;
	u32 slot;
	int ret;

	o->tgid = get_pid(task_tgid(current));
	o->cgrp = kchan_cgroup_get_current();
	get_task_comm(o->comm, current);

	ret = xa_alloc(&kchan_proc_chans, &slot, ch, xa_limit_31b,
		       GFP_KERNEL_ACCOUNT);
	if (!ret)
		ch->slot = slot;
	return ret;
}

/**
 * kchan_proc_del() - unlist a channel whose file is being released
 * @ch: the channel; it may still be shown by a reader that holds a
 *	reference
 */
void kchan_proc_del(struct kchan *ch)
{
	if (ch->slot != KCHAN_SLOT_UNLISTED)
		xa_erase(&kchan_proc_chans, ch->slot);
}

/**
 * kchan_origin_put() - drop the creator's references
 * @ch: a channel being destroyed, after kchan_proc_add()
 */
void kchan_origin_put(struct kchan *ch)
{
	kchan_cgroup_put(ch->origin.cgrp);
	put_pid(ch->origin.tgid);
}

/*
 * The first listed channel at or after slot @from, referenced; *@slot is
 * set to its slot.  NULL at the end.
 */
static struct kchan *kchan_proc_find(unsigned long from, unsigned long *slot)
{
	struct kchan *ch;

	rcu_read_lock();
	for (*slot = from;; (*slot)++) {
		ch = xa_find(&kchan_proc_chans, slot, ULONG_MAX, XA_PRESENT);
		/* A channel whose last reference is going is skipped. */
		if (!ch || kref_get_unless_zero(&ch->refs))
			break;
	}
	rcu_read_unlock();
	return ch;
}

/*
 * Position 0 is the header; the channel in slot s is at position s + 1,
 * and the positions of empty slots are skipped.
 */
static void *kchan_proc_start(struct seq_file *m, loff_t *pos)
{
	struct kchan_proc_reader *r = m->private;
	unsigned long slot;

	if (!*pos)
		return SEQ_START_TOKEN;
	r->cur = kchan_proc_find(*pos - 1, &slot);
	if (r->cur)
		*pos = slot + 1;
	return r->cur;
}

static void *kchan_proc_next(struct seq_file *m, void *v, loff_t *pos)
{
	struct kchan_proc_reader *r = m->private;
	unsigned long slot;

	if (r->cur)
		kchan_put(r->cur);
	r->cur = kchan_proc_find(*pos, &slot);
	*pos = r->cur ? slot + 1 : *pos + 1;
	return r->cur;
}

static void kchan_proc_stop(struct seq_file *m, void *v)
{
	struct kchan_proc_reader *r = m->private;

	if (r->cur)
		kchan_put(r->cur);
	r->cur = NULL;
}

/* Nanoseconds the oldest blocked task of @ch has waited at @now, or 0. */
static u64 kchan_oldest_wait(const struct kchan *ch, u64 now)
{
	u64 send = READ_ONCE(ch->sendq.since);
	u64 recv = READ_ONCE(ch->recvq.since);
	u64 since = send && recv ? min(send, recv) : max(send, recv);

	/* local_clock() of another CPU may be a little ahead of ours. */
	return since && now > since ? now - since : 0;
}

/*
 * A text column: every byte but printable ASCII other than the space and
 * the backslash as \ooo, or "-" when empty.
 */
static void kchan_proc_text(struct seq_file *m, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	seq_putc(m, ' ');
	if (!*p)
		seq_putc(m, '-');
	for (; *p; p++) {
		if (*p > ' ' && *p < 0x7f && *p != '\\')
			seq_putc(m, *p);
		else
			seq_printf(m, "\\%03o", *p);
	}
}

static int kchan_proc_show(struct seq_file *m, void *v)
{
	struct kchan_proc_reader *r = m->private;
	const struct cred *cred = m->file->f_cred;
	struct pid_namespace *pid_ns;
	const struct kchan *ch = v;
	const char *kind = "channel";
	bool lossy = false;
	u32 nr_subs = 0;
	u64 lost = 0, len;

	if (v == SEQ_START_TOKEN) {
		seq_puts(m, "id pid comm cgroup uid elem_size capacity len closed sendq recvq oldest_wait_ns kind subscribers lost\n");
		return 0;
	}
	if (!r->all && !uid_eq(ch->owner, cred->euid))
		return 0;

	pid_ns = proc_pid_ns(file_inode(m->file)->i_sb);
	seq_printf(m, "%llu %d", ch->id, pid_nr_ns(ch->origin.tgid, pid_ns));
	kchan_proc_text(m, ch->origin.comm);
	if (kchan_cgroup_path(ch->origin.cgrp, r->path, sizeof(r->path)))
		r->path[0] = '\0';
	kchan_proc_text(m, r->path);
	len = kchan_ring_len(&ch->ring) + READ_ONCE(ch->nr_returned);
	if (ch->bc) {
		kchan_bcast_summary(ch, &lossy, &nr_subs, &lost);
		kind = lossy ? "broadcast-lossy" : "broadcast";
	} else if (ch->shr) {
		len = kchan_shring_len(ch->shr) + READ_ONCE(ch->nr_returned);
	}
	seq_printf(m, " %u %u %u %llu %d %u %u %llu %s %u %llu\n",
		   from_kuid_munged(cred->user_ns, ch->owner),
		   ch->ring.elem_size, ch->ring.capacity,
		   len,
		   READ_ONCE(ch->closed), READ_ONCE(ch->sendq.nr),
		   READ_ONCE(ch->recvq.nr),
		   kchan_oldest_wait(ch, local_clock()), kind, nr_subs, lost);
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
 *
 * Waits for readers in the middle of a read, and so for the channel
 * references they hold.
 */
void kchan_proc_exit(void)
{
	remove_proc_entry("kchan", NULL);
	WARN_ON_ONCE(!xa_empty(&kchan_proc_chans));
}
