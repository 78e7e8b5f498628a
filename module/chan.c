// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: the channel object as a file - creation, the channel descriptor's
 * file operations, and its lifetime.
 *
 * A channel is an anonymous inode file whose private_data is the struct
 * kchan; it lives until the last reference to that file goes, so it can be
 * inherited over fork(), passed with SCM_RIGHTS and watched with epoll.
 * The file holds one reference to the struct kchan (struct kchan.refs);
 * the two things that may hold it a little longer - /proc/kchan printing
 * it and an element given back by a killed receiver (wait.c) - take their
 * own, and the last reference destroys it.  Each file holds a reference on
 * this module (fops.owner); module unload waits for the other two (proc.c,
 * wait.c).  The ioctl, read and write handlers only parse and validate
 * arguments; xfer.c moves elements under the channel's lock.
 */
#include <linux/anon_inodes.h>
#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/minmax.h>
#include <linux/overflow.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <linux/kchan.h>

#include "compat.h"
#include "kchan.h"
#include "shring.h"
#include "trace.h"

/*
 * The kernel bytes a channel is charged for: object and ring.  The sizes
 * are within the ABI's limits (kchan_check_limits()), so this cannot wrap.
 */
static size_t kchan_chan_bytes(u32 elem_size, u32 capacity)
{
	return sizeof(struct kchan) + (size_t)elem_size * capacity;
}

static void kchan_destroy(struct kref *kref)
{
	struct kchan *ch = container_of(kref, struct kchan, refs);

	kchan_drop_waiters(ch);
	kchan_release_returned(ch);
	kchan_origin_put(ch);
	ch->end.ops->discard(ch);
}

/**
 * kchan_put() - drop a reference to a channel
 * @ch: the channel; destroyed when this was the last reference
 */
void kchan_put(struct kchan *ch)
{
	kref_put(&ch->refs, kchan_destroy);
}

/* Every close(2) of a descriptor; a mapped channel counts them. */
static int kchan_chan_flush(struct file *file, fl_owner_t id)
{
	struct kchan *ch = file->private_data;

	if (ch->shr)
		kchan_shared_flush(ch);
	return 0;
}

static int kchan_chan_release(struct inode *inode, struct file *file)
{
	struct kchan *ch = file->private_data;

	kchan_proc_del(ch);
	kchan_selector_end_gone(&ch->end);
	kchan_put(ch);
	return 0;
}

/**
 * kchan_rw_count() - turn a read/write length into whole elements
 * @ch: the channel
 * @len: the length
 * @count: out: the number of elements
 *
 * VFS clamps huge lengths to MAX_RW_COUNT, which need not be a multiple
 * of the element size: only then is the remainder dropped.
 *
 * Return: 0, or -EINVAL for a length that is not a multiple.
 */
int kchan_rw_count(const struct kchan *ch, size_t len, size_t *count)
{
	u32 esz = ch->ring.elem_size;

	if (len % esz && len < MAX_RW_COUNT)
		return -EINVAL;
	*count = len / esz;
	return 0;
}

static ssize_t kchan_chan_read(struct file *file, char __user *buf,
			       size_t len, loff_t *ppos)
{
	struct kchan_wait_opts opts = {
		.nonblock = file->f_flags & O_NONBLOCK,
	};
	struct kchan *ch = file->private_data;
	size_t count;
	long ret;

	ret = kchan_rw_count(ch, len, &count);
	if (ret || !count)
		return ret;
	ret = kchan_recv(ch, (u8 __user *)buf, count, &opts);
	return ret > 0 ? ret * ch->ring.elem_size : ret;
}

static ssize_t kchan_chan_write(struct file *file, const char __user *buf,
				size_t len, loff_t *ppos)
{
	struct kchan_wait_opts opts = {
		.nonblock = file->f_flags & O_NONBLOCK,
	};
	struct kchan *ch = file->private_data;
	size_t count;
	long ret;

	ret = kchan_rw_count(ch, len, &count);
	if (ret || !count)
		return ret;
	ret = kchan_send(ch, (const u8 __user *)buf, count, &opts);
	return ret > 0 ? ret * ch->ring.elem_size : ret;
}

static __poll_t kchan_chan_poll(struct file *file, poll_table *wait)
{
	struct kchan *ch = file->private_data;

	poll_wait(file, &ch->end.poll_wq, wait);
	/*
	 * Order the queueing above before reading the mask below.  Pairs
	 * with wq_has_sleeper() in kchan_wake_pollers(), which the wakers
	 * call after kchan_unlock_wake() published the new mask: either they see
	 * this poller queued, or this poller sees the new mask (the pattern
	 * of sock_poll_wait()).  The mask is one word written under the
	 * channel lock, so it never mixes two states.
	 */
	smp_mb();
	if (ch->shr)
		return kchan_shared_poll(ch);	/* changed without the lock */
	return READ_ONCE(ch->end.ready);
}

/**
 * kchan_xfer_args() - read the argument of %KCHAN_IOC_SEND or %KCHAN_IOC_RECV
 * @file: the descriptor it is issued on (for O_NONBLOCK)
 * @uarg: struct kchan_xfer in user memory
 * @elem_size: the element size of the descriptor's channel
 * @x: out: the argument
 * @opts: out: how the call may block
 *
 * Return: 0, -EFAULT, -EINVAL or -E2BIG.
 */
int kchan_xfer_args(struct file *file, const void __user *uarg, u32 elem_size,
		    struct kchan_xfer *x, struct kchan_wait_opts *opts)
{
	u64 bytes;
	int ret;

	ret = kchan_copy_args(x, sizeof(*x), KCHAN_XFER_SIZE_VER0, uarg);
	if (ret)
		return ret;
	if (x->flags & ~(KCHAN_XFER_NONBLOCK | KCHAN_XFER_DEADLINE))
		return -EINVAL;
	if (x->flags & KCHAN_XFER_DEADLINE ? x->deadline_ns < 0 : x->deadline_ns)
		return -EINVAL;
	if (!x->count || check_mul_overflow(x->count, (u64)elem_size, &bytes) ||
	    bytes > MAX_RW_COUNT)
		return -EINVAL;

	opts->nonblock = (x->flags & KCHAN_XFER_NONBLOCK) ||
			 (file->f_flags & O_NONBLOCK);
	opts->has_deadline = x->flags & KCHAN_XFER_DEADLINE;
	opts->deadline = kchan_monotonic_to_host(x->deadline_ns);
	return 0;
}

static long kchan_ioctl_xfer(struct file *file, void __user *uarg, bool send)
{
	struct kchan *ch = file->private_data;
	struct kchan_wait_opts opts = {};
	struct kchan_xfer x;
	int ret;

	ret = kchan_xfer_args(file, uarg, ch->ring.elem_size, &x, &opts);
	if (ret)
		return ret;
	if (send)
		return kchan_send(ch, u64_to_user_ptr(x.elems), x.count, &opts);
	return kchan_recv(ch, u64_to_user_ptr(x.elems), x.count, &opts);
}

/**
 * kchan_ioctl_info() - the %KCHAN_IOC_INFO ioctl on any end
 * @end: the end the descriptor names
 * @uinfo: struct kchan_info in user memory
 *
 * Return: 0, -EFAULT, -EINVAL, -E2BIG or -EINTR.
 */
long kchan_ioctl_info(struct kchan_end *end, struct kchan_info __user *uinfo)
{
	struct kchan *ch = end->ch;
	struct kchan_info info;
	u32 usize;
	int ret;

	ret = kchan_copy_out_size(&uinfo->size, sizeof(info),
				  KCHAN_INFO_SIZE_VER0, &usize);
	if (ret < 0)
		return ret;

	memset(&info, 0, sizeof(info));
	info.size = ret;
	info.elem_size = ch->ring.elem_size;
	info.capacity = ch->ring.capacity;
	if (mutex_lock_killable(&ch->lock))
		return -EINTR;
	info.state = ch->closed ? KCHAN_STATE_CLOSED : 0;
	end->ops->info(end, &info);
	mutex_unlock(&ch->lock);

	return kchan_copy_out(uinfo, &info, sizeof(info), usize);
}

/**
 * kchan_ioctl_stats() - the %KCHAN_IOC_STATS ioctl on any end
 * @ch: the channel the descriptor's end belongs to
 * @ust: struct kchan_stats in user memory
 *
 * Return: 0, -EFAULT, -EINVAL, -E2BIG or -EINTR.
 */
long kchan_ioctl_stats(struct kchan *ch, struct kchan_stats __user *ust)
{
	struct kchan_stats st;
	u32 usize;
	int ret;

	ret = kchan_copy_out_size(&ust->size, sizeof(st),
				  KCHAN_STATS_SIZE_VER0, &usize);
	if (ret < 0)
		return ret;

	memset(&st, 0, sizeof(st));
	st.size = ret;
	if (mutex_lock_killable(&ch->lock))
		return -EINTR;
	kchan_counts(ch, &st.sends, &st.recvs);
	st.selects_won = ch->selects_won;
	st.send_blocks = ch->send_blocks;
	st.recv_blocks = ch->recv_blocks;
	st.timeouts = ch->timeouts;
	memcpy(st.wait_hist, ch->wait_hist, sizeof(st.wait_hist));
	mutex_unlock(&ch->lock);

	return kchan_copy_out(ust, &st, sizeof(st), usize);
}

static long kchan_chan_ioctl(struct file *file, unsigned int cmd,
			     unsigned long arg)
{
	struct kchan *ch = file->private_data;
	void __user *uarg = (void __user *)arg;

	struct kchan_wait_opts opts = {
		.nonblock = file->f_flags & O_NONBLOCK,
	};

	switch (cmd) {
	case KCHAN_IOC_SEND_ONE:
		return kchan_send(ch, uarg, 1, &opts);
	case KCHAN_IOC_RECV_ONE:
		return kchan_recv(ch, uarg, 1, &opts);
	case KCHAN_IOC_SEND:
		return kchan_ioctl_xfer(file, uarg, true);
	case KCHAN_IOC_RECV:
		return kchan_ioctl_xfer(file, uarg, false);
	case KCHAN_IOC_CLOSE:
		return arg ? -EINVAL : kchan_close(ch);
	case KCHAN_IOC_INFO:
		return kchan_ioctl_info(&ch->end, uarg);
	case KCHAN_IOC_STATS:
		return kchan_ioctl_stats(ch, uarg);
	case KCHAN_IOC_MAP_INFO:
		return kchan_ioctl_map_info(ch, uarg);
	case KCHAN_IOC_WAKE:
		return kchan_ioctl_wake(ch, arg);
	case KCHAN_IOC_SELECT:
		return kchan_select(uarg);
	default:
		return -ENOTTY;
	}
}

#ifdef CONFIG_PROC_FS
/*
 * /proc/PID/fdinfo/FD: the channel's state and lifetime counters, one
 * consistent snapshot under the channel lock.  Prints nothing if a fatal
 * signal interrupts the wait for the lock.
 */
static void kchan_chan_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct kchan *ch = file->private_data;
	u64 sends, recvs;

	if (mutex_lock_killable(&ch->lock))
		return;
	seq_printf(m, "kchan-id:\t%llu\n", ch->id);
	if (ch->shr)
		seq_puts(m, "mappable:\t1\n");
	seq_printf(m, "elem-size:\t%u\n", ch->ring.elem_size);
	seq_printf(m, "capacity:\t%u\n", ch->ring.capacity);
	seq_printf(m, "len:\t%llu\n", kchan_queued(ch));
	seq_printf(m, "closed:\t%d\n", ch->closed);
	seq_printf(m, "sendq:\t%u\n", ch->sendq.nr);
	seq_printf(m, "recvq:\t%u\n", ch->recvq.nr);
	kchan_counts(ch, &sends, &recvs);
	seq_printf(m, "sends:\t%llu\n", sends);
	seq_printf(m, "recvs:\t%llu\n", recvs);
	seq_printf(m, "send-blocks:\t%llu\n", ch->send_blocks);
	seq_printf(m, "recv-blocks:\t%llu\n", ch->recv_blocks);
	seq_printf(m, "timeouts:\t%llu\n", ch->timeouts);
	mutex_unlock(&ch->lock);
}
#endif

static const struct file_operations kchan_chan_fops = {
	.owner		= THIS_MODULE,
#ifdef CONFIG_PROC_FS
	.show_fdinfo	= kchan_chan_show_fdinfo,
#endif
	.flush		= kchan_chan_flush,
	.release	= kchan_chan_release,
	.read		= kchan_chan_read,
	.write		= kchan_chan_write,
	.poll		= kchan_chan_poll,
	.mmap		= kchan_chan_mmap,
	.unlocked_ioctl	= kchan_chan_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

/* A channel as select, the selector and poll see it. */
static int kchan_chan_step(struct kchan_end *end, bool send, u8 __user *elem)
{
	return send ? kchan_send_step(end->ch, elem) :
		      kchan_recv_step(end->ch, elem);
}

static bool kchan_chan_case_ready(struct kchan_end *end, bool send,
				  const struct kchan_wait *self)
{
	return kchan_case_ready(end->ch, send, self);
}

static void kchan_chan_enqueue(struct kchan_end *end, struct kchan_waiter *w)
{
	struct kchan *ch = end->ch;

	kchan_enqueue(ch, w->sender ? &ch->sendq : &ch->recvq, w);
}

static void kchan_chan_dequeue(struct kchan_end *end, struct kchan_waiter *w)
{
	if (!list_empty(&w->node))
		kchan_dequeue(end->ch, w);
}

static void kchan_chan_unlock(struct kchan_end *end, bool wake)
{
	if (wake)
		kchan_unlock_wake(end->ch);
	else
		kchan_unlock(end->ch);
}

static void kchan_chan_get(struct kchan_end *end)
{
	kref_get(&end->ch->refs);
}

static void kchan_chan_put(struct kchan_end *end)
{
	kchan_put(end->ch);
}

/* KCHAN_IOC_INFO's state of a channel; it is locked. */
static void kchan_chan_info(struct kchan_end *end, struct kchan_info *info)
{
	struct kchan *ch = end->ch;

	info->len = kchan_queued(ch);
	info->sendq = ch->sendq.nr;
	info->recvq = ch->recvq.nr;
}

static const struct kchan_end_ops kchan_chan_end_ops = {
	.dirs		= KCHAN_END_SEND | KCHAN_END_RECV,
	.mask		= kchan_end_mask,
	.step		= kchan_chan_step,
	.case_ready	= kchan_chan_case_ready,
	.enqueue	= kchan_chan_enqueue,
	.dequeue	= kchan_chan_dequeue,
	.unlock		= kchan_chan_unlock,
	.get		= kchan_chan_get,
	.put		= kchan_chan_put,
	.arm		= kchan_end_arm_nothing,
	.info		= kchan_chan_info,
	.discard	= kchan_chan_discard,
	.handoff	= true,
};

/*
 * A mappable channel: user space changes its ring without the lock, so
 * its mask is computed each time, its pollers are armed, and a task that
 * blocks looks at the ring again once its waiter is counted (shwake.c).
 */
static const struct kchan_end_ops kchan_shared_end_ops = {
	.dirs		= KCHAN_END_SEND | KCHAN_END_RECV,
	.mask		= kchan_shared_end_mask,
	.step		= kchan_chan_step,
	.case_ready	= kchan_chan_case_ready,
	.enqueue	= kchan_shared_end_enqueue,
	.dequeue	= kchan_chan_dequeue,
	.unlock		= kchan_chan_unlock,
	.get		= kchan_chan_get,
	.put		= kchan_chan_put,
	.arm		= kchan_shared_end_arm,
	.info		= kchan_chan_info,
	.discard	= kchan_chan_discard,
	.handoff	= true,
};

/**
 * kchan_from_file() - the channel behind a file, if it is one
 * @file: any file
 *
 * Return: the channel, or NULL when @file is not a channel descriptor.
 */
struct kchan *kchan_from_file(struct file *file)
{
	return file->f_op == &kchan_chan_fops ? file->private_data : NULL;
}

/**
 * kchan_end_from_file() - the end behind a file that select can name
 * @file: any file
 *
 * Return: the end, or NULL when @file is no such descriptor.
 */
struct kchan_end *kchan_end_from_file(struct file *file)
{
	struct kchan *ch = kchan_from_file(file);

	return ch ? &ch->end : kchan_bcast_end_from_file(file);
}

/**
 * kchan_validate_create() - check the argument of %KCHAN_IOC_CREATE
 * @args: the argument
 * @kind_flags: the flags the caller's kind accepts besides %KCHAN_CLOEXEC
 *	and %KCHAN_NONBLOCK
 *
 * Return: 0, or -EINVAL.
 */
int kchan_validate_create(const struct kchan_create *args, u32 kind_flags)
{
	if (args->flags & ~(KCHAN_CLOEXEC | KCHAN_NONBLOCK | kind_flags))
		return -EINVAL;
	if (args->__reserved)
		return -EINVAL;
	return kchan_check_limits(args->elem_size, args->capacity);
}

/**
 * kchan_chan_new() - a new channel object with its ring, not yet reachable
 * @args: the creation's sizes, validated (kchan_check_limits())
 * @ops: what its end does
 * @extra: kernel bytes its kind adds, charged with it
 * @chan_flags: %KCHAN_CHAN_NO_RING: the ring gets its shape but no storage
 *
 * Charges the caller's budget first: over it, nothing is allocated.  The
 * caller sets the end's first poll mask and gives the channel its file
 * with kchan_chan_install(), or undoes it with kchan_chan_discard().
 *
 * Return: the channel, holding its one reference, or ERR_PTR(-ENOSPC) or
 * ERR_PTR(-ENOMEM).
 */
struct kchan *kchan_chan_new(const struct kchan_create *args,
			     const struct kchan_end_ops *ops, size_t extra,
			     u32 chan_flags)
{
	struct kchan_user *user;
	struct kchan *ch;
	size_t bytes;
	u64 id;
	int ret;

	user = kchan_user_current();
	if (!user)
		return ERR_PTR(-ENOMEM);
	bytes = kchan_chan_bytes(args->elem_size, args->capacity) + extra;
	ret = kchan_user_add_channel(user, bytes, &id);
	if (ret)
		return ERR_PTR(ret);

	ch = kchan_chan_alloc();
	if (!ch) {
		ret = -ENOMEM;
		goto out_uncharge;
	}
	ch->user = user;
	ch->charged = bytes;
	ch->owner = current_uid();
	ch->id = id;
	ch->slot = KCHAN_SLOT_UNLISTED;
	mutex_init(&ch->lock);
	kchan_queue_init(&ch->sendq);
	kchan_queue_init(&ch->recvq);
	INIT_LIST_HEAD(&ch->returned);
	kchan_end_init(&ch->end, ops, ch);
	kref_init(&ch->refs);
	if (chan_flags & KCHAN_CHAN_NO_RING) {
		/* The kind keeps the elements: the ring only has its shape. */
		ret = kchan_ring_init(&ch->ring, args->elem_size, 0);
		ch->ring.capacity = args->capacity;
	} else {
		ret = kchan_ring_init(&ch->ring, args->elem_size,
				      args->capacity);
	}
	if (ret)
		goto out_free_chan;
	return ch;

out_free_chan:
	mutex_destroy(&ch->lock);
	kchan_chan_free(ch);
out_uncharge:
	kchan_user_del_channel(user, bytes);
	return ERR_PTR(ret);
}

/**
 * kchan_chan_discard() - undo kchan_chan_new() for a channel that never
 * got a file
 * @ch: the channel; its kind's own parts are already undone
 */
void kchan_chan_discard(struct kchan *ch)
{
	kchan_shmap_put(ch->shr);
	kchan_ring_destroy(&ch->ring);
	mutex_destroy(&ch->lock);
	kchan_user_del_channel(ch->user, ch->charged);
	kchan_chan_free(ch);
}

/**
 * kchan_chan_install() - give a new channel its file and descriptor
 * @ch: from kchan_chan_new(), fully set up
 * @fops: the file operations of its kind
 * @name: the anonymous inode's name
 * @flags: %KCHAN_CLOEXEC and %KCHAN_NONBLOCK
 *
 * Lists the channel in /proc/kchan and installs the descriptor last.  On
 * failure the channel is gone: discarded, or released with its file.
 *
 * Return: the descriptor, or -EMFILE, -ENFILE or -ENOMEM.
 */
int kchan_chan_install(struct kchan *ch, const struct file_operations *fops,
		       const char *name, u32 flags)
{
	int oflags = O_RDWR | (flags & KCHAN_NONBLOCK ? O_NONBLOCK : 0);
	struct file *file;
	int fd, ret;

	fd = get_unused_fd_flags(flags & KCHAN_CLOEXEC ? O_CLOEXEC : 0);
	if (fd < 0) {
		ret = fd;
		goto out_discard;
	}
	file = anon_inode_getfile(name, fops, ch, oflags);
	if (IS_ERR(file)) {
		ret = PTR_ERR(file);
		goto out_put_fd;
	}
	stream_open(file_inode(file), file);
	ch->file = file;
	ret = kchan_proc_add(ch);
	if (ret) {
		/* Its release drops the channel. */
		put_unused_fd(fd);
		fput(file);
		return ret;
	}
	trace_kchan_create(ch, fd);
	fd_install(fd, file);
	return fd;

out_put_fd:
	put_unused_fd(fd);
out_discard:
	ch->end.ops->discard(ch);
	return ret;
}

/**
 * kchan_create_fd() - create a channel and a descriptor for it
 * @args: the validated-by-layout argument of %KCHAN_IOC_CREATE
 *
 * Return: the new descriptor, or -EINVAL for arguments out of range or
 * beyond the limits, -ENOSPC when the caller's budget (channels or bytes,
 * limits.c) is spent, -ENOMEM, or -EMFILE/-ENFILE when no descriptor is
 * left.
 */
int kchan_create_fd(const struct kchan_create *args)
{
	bool mappable = args->flags & KCHAN_MAPPABLE;
	size_t extra = 0;
	struct kchan *ch;
	int ret;

	ret = kchan_validate_create(args, KCHAN_MAPPABLE);
	if (ret)
		return ret;
	if (mappable) {
		/* A rendezvous needs the kernel as its one arbiter. */
		if (!args->capacity)
			return -EINVAL;
		ret = kchan_shring_extra(args->elem_size, args->capacity, &extra);
		if (ret)
			return ret;
	}
	ch = kchan_chan_new(args, mappable ? &kchan_shared_end_ops :
					     &kchan_chan_end_ops,
			    extra, mappable ? KCHAN_CHAN_NO_RING : 0);
	if (IS_ERR(ch))
		return PTR_ERR(ch);
	if (mappable) {
		ch->shr = kchan_shring_new(args->elem_size, args->capacity);
		if (IS_ERR(ch->shr)) {
			ret = PTR_ERR(ch->shr);
			ch->shr = NULL;
			kchan_chan_discard(ch);
			return ret;
		}
		ret = kchan_shmap_init(ch);
		if (ret) {
			kchan_chan_discard(ch);
			return ret;
		}
	}
	ch->end.ready = kchan_ready_mask(ch);
	return kchan_chan_install(ch, &kchan_chan_fops, "[kchan]", args->flags);
}
