// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: selectors - persistent sets of cases whose wait performs one.
 *
 * A selector is what epoll is for descriptors, with a wait that performs
 * the case instead of reporting it.  Three nouns:
 *
 * - struct kchan_selector, the descriptor ("[kchan_selector]");
 * - struct kchan_sel_item, one registered case (a channel and a
 *   direction, the element pointer and the tag), like epoll's epitem;
 * - the item's wait-queue entry on the channel's poll_wq, like epoll's
 *   eppoll_entry: a case is hooked onto its channel once, when it is
 *   added, never per wait.
 *
 * The ready set.  Every change of a channel's state ends in
 * kchan_wake_pollers() with the events that are true now (xfer.c);
 * kchan_sel_item_wake(), the item's entry, puts the item into its
 * selector's ready set when the events include the item's (EPOLLIN for a
 * receive, EPOLLOUT for a send) and wakes one waiter.  The set is an array
 * with each item's index in it, so adding, removing and picking a uniformly
 * random member are O(1), and its room is reserved when an item is added,
 * since the wake-up cannot allocate.  The set is a hint, as epoll's ready
 * list is: a wait picks a member at random, takes it out, drops it at once
 * when its channel's published mask says it cannot proceed, and otherwise
 * tries the case under the channel's lock (the step functions of xfer.c).
 * A case that proceeded and can proceed again is put back by its own
 * channel's wake-up, as is one that became ready while it was out.  So a
 * wait costs the ready cases it looks at, never the registered ones that
 * are not ready, and among the cases that can proceed each is equally
 * likely to be performed (a random pick, rejecting the ones that cannot).
 *
 * Lifetime: the epoll way.  A selector does not pin its channels: an item
 * holds a pointer to its channel's end (struct kchan_end: the channel, or
 * one end of a broadcast), and the release of that end's file removes the
 * end's items from every selector (kchan_selector_end_gone(),
 * eventpoll_release_file()'s counterpart).  A wait that performs a case
 * holds a reference on the item and on the end (struct kchan_end_ops
 * get/put) for the moment it needs them.  The selector lives while its file does, or
 * while a channel release is removing one of its items (struct
 * kchan_selector.refs).
 *
 * Locking:
 *
 * - struct kchan_selector.mtx (a mutex) guards the item tree and the
 *   adding and removing of items.  Nothing under it copies user memory or
 *   waits for a channel lock, so it is held briefly and taken
 *   uninterruptibly where a file release needs it.
 * - struct kchan_selector.lock (a spinlock, interrupts off: it is taken in
 *   the wake-up of a channel's poll_wq, under that queue's lock) guards the
 *   ready set and each item's @ready_idx and @dead.
 * - struct kchan_end.sel_lock (a spinlock) guards the end's list of items.
 * - Order: a channel's lock, then its poll_wq lock (the wake-up of
 *   kchan_unlock_wake()); a selector's mtx, then a channel's poll_wq lock
 *   or sel_lock; either of those, then the selector's lock, then its wait
 *   queues' locks.  A channel release takes a channel's sel_lock and drops
 *   it before each selector's mtx.  Nothing under a selector's locks takes
 *   a channel's lock, and a wait holds none of them while it takes one.
 */
#include <linux/anon_inodes.h>
#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hrtimer.h>
#include <linux/kref.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/random.h>
#include <linux/rbtree.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include <linux/kchan.h>

#include "compat.h"
#include "kchan.h"
#include "trace.h"

/**
 * struct kchan_selector - one selector descriptor
 * @mtx: guards @items and @nr_items; see the locking rules above.
 * @lock: guards @ready, @nr_ready, @ready_cap and every item's
 *	@ready_idx and @dead.
 * @wq: tasks in a wait, exclusive: a case that becomes ready wakes one.
 * @poll_wq: poll/epoll waiters of the selector descriptor.
 * @refs: the file's reference and those of channel releases in progress.
 * @items: the registered cases, by channel and direction.
 * @nr_items: how many.
 * @ready: the ready set, @nr_ready items, room for @ready_cap.
 * @nr_ready: members of @ready; read locklessly by a wait about to sleep.
 * @ready_cap: room in @ready, at least @nr_items.
 * @user: the creator's budget; @id counts among its selectors.
 * @id: the selector's id, for fdinfo and the tracepoints.
 */
struct kchan_selector {
	struct mutex mtx;	/* guards the item tree; see above */
	spinlock_t lock;	/* guards the ready set; see above */
	wait_queue_head_t wq;
	wait_queue_head_t poll_wq;
	struct kref refs;
	struct rb_root items;
	u32 nr_items;
	struct kchan_sel_item **ready;
	u32 nr_ready;
	u32 ready_cap;
	struct kchan_user *user;
	u64 id;
};

/**
 * struct kchan_sel_item - one registered case
 * @node: in the selector's @items, under its @mtx.
 * @end_node: on the end's @sel_items, under the end's @sel_lock.
 * @wait: the entry on the end's poll_wq.
 * @sel: the selector.
 * @end: the channel's end (a channel, or one end of a broadcast); valid
 *	while the item is registered (see above).
 * @elem: the element to send or the buffer to receive into, in the
 *	memory of the task that waits.
 * @tag: what a wait reports when it performs the case.
 * @user: the budget the item is charged to.
 * @events: EPOLLIN for a receive, EPOLLOUT for a send.
 * @send: a send case, else a receive case.
 * @dead: removed from its selector; under the selector's @lock.
 * @ready_idx: the item's index in the ready set, or -1; under the
 *	selector's @lock.
 * @refs: the selector's reference and that of a wait performing it.
 *
 * @end, @elem, @tag, @events and @send are set before the item is
 * registered and never change.
 */
struct kchan_sel_item {
	struct rb_node node;
	struct list_head end_node;
	wait_queue_entry_t wait;
	struct kchan_selector *sel;
	struct kchan_end *end;
	u8 __user *elem;
	u64 tag;
	struct kchan_user *user;
	__poll_t events;
	bool send;
	bool dead;
	int ready_idx;
	refcount_t refs;
};

static void kchan_selector_free(struct kref *kref)
{
	struct kchan_selector *sel = container_of(kref, struct kchan_selector,
						  refs);

	WARN_ON_ONCE(!RB_EMPTY_ROOT(&sel->items));
	kchan_budget_uncharge(sel->user, sizeof(*sel));
	kvfree(sel->ready);
	mutex_destroy(&sel->mtx);
	kvfree(sel);
}

static void kchan_sel_item_put(struct kchan_sel_item *item)
{
	if (refcount_dec_and_test(&item->refs))
		kvfree(item);
}

/* --- The ready set, under sel->lock ------------------------------------- */

static void kchan_sel_ready_add(struct kchan_selector *sel,
				struct kchan_sel_item *item)
{
	lockdep_assert_held(&sel->lock);
	if (item->ready_idx >= 0 || item->dead)
		return;
	/* Room was reserved when the item was added. */
	item->ready_idx = sel->nr_ready;
	sel->ready[sel->nr_ready] = item;
	WRITE_ONCE(sel->nr_ready, sel->nr_ready + 1);
}

static void kchan_sel_ready_del(struct kchan_selector *sel,
				struct kchan_sel_item *item)
{
	struct kchan_sel_item *last;

	lockdep_assert_held(&sel->lock);
	if (item->ready_idx < 0)
		return;
	last = sel->ready[sel->nr_ready - 1];
	sel->ready[item->ready_idx] = last;
	last->ready_idx = item->ready_idx;
	item->ready_idx = -1;
	WRITE_ONCE(sel->nr_ready, sel->nr_ready - 1);
}

/*
 * Whether @item's channel says, by its published mask, it may proceed.
 * If not, the item leaves the ready set and relies on the end's next
 * wake-up, so the end is armed again first: an end that wakes only armed
 * waiters (a subscriber, bcast.c) may have spent its arming on the
 * wake-up that put the item here, one that came for an element already
 * received.  Then the mask is read again.
 */
static bool kchan_sel_item_maybe_ready(const struct kchan_sel_item *item)
{
	struct kchan_end *end = item->end;

	if (end->ops->mask(end) & item->events)
		return true;
	end->ops->arm(end);
	/*
	 * Arming before reading the mask; pairs with the waker's store of the
	 * state before it looks for armed waiters (kchan_sub_poll() pairs the
	 * same way): either the waker finds the end armed, or the read below
	 * sees the new state.
	 */
	smp_mb();
	return end->ops->mask(end) & item->events;
}

/*
 * Take a random member out of the ready set that may proceed, dropping
 * the ones that cannot on the way; it comes referenced, and so does its
 * channel.  NULL when the set is empty.
 */
static struct kchan_sel_item *kchan_sel_ready_pick(struct kchan_selector *sel)
{
	struct kchan_sel_item *item = NULL;
	unsigned long flags;

	spin_lock_irqsave(&sel->lock, flags);
	while (sel->nr_ready) {
		item = sel->ready[get_random_u32_below(sel->nr_ready)];
		kchan_sel_ready_del(sel, item);
		if (kchan_sel_item_maybe_ready(item)) {
			refcount_inc(&item->refs);
			/* Not dead, so the end's file holds a reference. */
			item->end->ops->get(item->end);
			break;
		}
		item = NULL;
	}
	spin_unlock_irqrestore(&sel->lock, flags);
	return item;
}

/*
 * The item's entry on its channel's poll_wq: called with that queue's lock
 * held, after every change of the channel's state, with the events true
 * now as @key.
 */
static int kchan_sel_item_wake(wait_queue_entry_t *wait, unsigned int mode,
			       int sync, void *key)
{
	struct kchan_sel_item *item = container_of(wait, struct kchan_sel_item,
						   wait);
	struct kchan_selector *sel = item->sel;
	unsigned long flags;

	if (key && !(key_to_poll(key) & item->events))
		return 0;
	spin_lock_irqsave(&sel->lock, flags);
	kchan_sel_ready_add(sel, item);
	spin_unlock_irqrestore(&sel->lock, flags);
	/* Pair with the checks of @nr_ready after prepare_to_wait()/poll_wait(). */
	wake_up_interruptible(&sel->wq);
	if (wq_has_sleeper(&sel->poll_wq))
		wake_up_interruptible_poll(&sel->poll_wq, EPOLLIN | EPOLLRDNORM);
	return 0;
}

/* --- Items ---------------------------------------------------------------- */

static struct kchan_sel_item *kchan_sel_item_find(struct kchan_selector *sel,
						  const struct kchan_end *end,
						  bool send)
{
	struct rb_node *n = sel->items.rb_node;

	lockdep_assert_held(&sel->mtx);
	while (n) {
		struct kchan_sel_item *item = rb_entry(n, struct kchan_sel_item,
						       node);

		if (end == item->end && send == item->send)
			return item;
		if (end < item->end || (end == item->end && send < item->send))
			n = n->rb_left;
		else
			n = n->rb_right;
	}
	return NULL;
}

static void kchan_sel_item_link(struct kchan_selector *sel,
				struct kchan_sel_item *new)
{
	struct rb_node **p = &sel->items.rb_node, *parent = NULL;

	while (*p) {
		struct kchan_sel_item *item = rb_entry(*p, struct kchan_sel_item,
						       node);

		parent = *p;
		if (new->end < item->end ||
		    (new->end == item->end && new->send < item->send))
			p = &(*p)->rb_left;
		else
			p = &(*p)->rb_right;
	}
	rb_link_node(&new->node, parent, p);
	rb_insert_color(&new->node, &sel->items);
	sel->nr_items++;
}

/* Make room in the ready set for @nr items; under sel->mtx. */
static int kchan_sel_ready_reserve(struct kchan_selector *sel, u32 nr)
{
	struct kchan_sel_item **ready, **old;
	unsigned long flags;
	u32 cap;

	lockdep_assert_held(&sel->mtx);
	if (nr <= sel->ready_cap)
		return 0;
	cap = max(nr, 2 * sel->ready_cap);
	ready = kchan_alloc(array_size(cap, sizeof(*ready)), false);
	if (!ready)
		return -ENOMEM;
	spin_lock_irqsave(&sel->lock, flags);
	memcpy(ready, sel->ready, sel->nr_ready * sizeof(*ready));
	old = sel->ready;
	sel->ready = ready;
	sel->ready_cap = cap;
	spin_unlock_irqrestore(&sel->lock, flags);
	kvfree(old);
	return 0;
}

/* The budget an item costs: itself and its room in the ready set. */
#define KCHAN_SEL_ITEM_BYTES	(sizeof(struct kchan_sel_item) + \
				 2 * sizeof(struct kchan_sel_item *))

/*
 * Remove @item from its selector and its channel; under sel->mtx.  After
 * remove_wait_queue() no wake-up of the channel reaches the item any more.
 */
static void kchan_sel_item_remove(struct kchan_selector *sel,
				  struct kchan_sel_item *item)
{
	struct kchan_end *end = item->end;
	unsigned long flags;

	lockdep_assert_held(&sel->mtx);
	rb_erase(&item->node, &sel->items);
	sel->nr_items--;
	remove_wait_queue(&end->poll_wq, &item->wait);
	spin_lock(&end->sel_lock);
	list_del(&item->end_node);
	spin_unlock(&end->sel_lock);
	spin_lock_irqsave(&sel->lock, flags);
	item->dead = true;
	kchan_sel_ready_del(sel, item);
	spin_unlock_irqrestore(&sel->lock, flags);
	kchan_budget_uncharge(item->user, KCHAN_SEL_ITEM_BYTES);
	kchan_sel_item_put(item);
}

/* Read a struct kchan_selector_ctl and find its channel's end. */
static int kchan_selector_read_ctl(const void __user *uarg,
				   struct kchan_selector_ctl *ctl,
				   struct fd *f, struct kchan_end **end)
{
	int ret;

	ret = kchan_copy_args(ctl, sizeof(*ctl), KCHAN_SELECTOR_CTL_SIZE_VER0,
			      uarg);
	if (ret)
		return ret;
	if (ctl->flags)
		return -EINVAL;
	if (ctl->op != KCHAN_CASE_RECV && ctl->op != KCHAN_CASE_SEND)
		return -EINVAL;
	*f = fdget(ctl->fd);
	if (!kchan_fd_file(*f))
		return -EBADF;
	*end = kchan_end_from_file(kchan_fd_file(*f));
	if (!*end) {
		fdput(*f);
		return -EINVAL;
	}
	if (!((*end)->ops->dirs & (ctl->op == KCHAN_CASE_SEND ?
				   KCHAN_END_SEND : KCHAN_END_RECV))) {
		fdput(*f);
		return -EBADF;
	}
	return 0;
}

static long kchan_selector_add(struct kchan_selector *sel,
			       const void __user *uarg)
{
	struct kchan_selector_ctl ctl;
	struct kchan_sel_item *item;
	struct kchan_user *user;
	unsigned long flags;
	struct kchan_end *end;
	struct fd f;
	int ret;

	ret = kchan_selector_read_ctl(uarg, &ctl, &f, &end);
	if (ret)
		return ret;
	user = kchan_user_current();
	ret = -ENOMEM;
	if (!user)
		goto out_fdput;
	ret = kchan_budget_charge(user, KCHAN_SEL_ITEM_BYTES);
	if (ret)
		goto out_fdput;
	ret = -ENOMEM;
	item = kchan_alloc(sizeof(*item), true);
	if (!item)
		goto out_uncharge;
	item->sel = sel;
	item->end = end;
	item->elem = u64_to_user_ptr(ctl.elem);
	item->tag = ctl.tag;
	item->user = user;
	item->send = ctl.op == KCHAN_CASE_SEND;
	item->events = item->send ? EPOLLOUT : EPOLLIN;
	item->ready_idx = -1;
	refcount_set(&item->refs, 1);
	init_waitqueue_func_entry(&item->wait, kchan_sel_item_wake);

	ret = -EINTR;
	if (mutex_lock_killable(&sel->mtx))
		goto out_free;
	ret = -EEXIST;
	if (kchan_sel_item_find(sel, end, item->send))
		goto out_unlock;
	ret = kchan_sel_ready_reserve(sel, sel->nr_items + 1);
	if (ret)
		goto out_unlock;
	kchan_sel_item_link(sel, item);
	spin_lock(&end->sel_lock);
	list_add_tail(&item->end_node, &end->sel_items);
	spin_unlock(&end->sel_lock);
	add_wait_queue(&end->poll_wq, &item->wait);
	end->ops->arm(end);
	/*
	 * Order the queueing above before reading the mask below; pairs with
	 * wq_has_sleeper() in kchan_wake_pollers(), as kchan_chan_poll() does:
	 * either the channel's next change wakes the item, or the item sees
	 * the mask that change published.
	 */
	smp_mb();
	if (kchan_sel_item_maybe_ready(item)) {
		spin_lock_irqsave(&sel->lock, flags);
		kchan_sel_ready_add(sel, item);
		spin_unlock_irqrestore(&sel->lock, flags);
		wake_up_interruptible(&sel->wq);
		wake_up_interruptible_poll(&sel->poll_wq, EPOLLIN | EPOLLRDNORM);
	}
	mutex_unlock(&sel->mtx);
	trace_kchan_selector_ctl(sel->id, end->ch, ctl.op, ctl.tag, true, 0);
	fdput(f);
	return 0;

out_unlock:
	mutex_unlock(&sel->mtx);
out_free:
	kvfree(item);
out_uncharge:
	kchan_budget_uncharge(user, KCHAN_SEL_ITEM_BYTES);
out_fdput:
	trace_kchan_selector_ctl(sel->id, end->ch, ctl.op, ctl.tag, true, ret);
	fdput(f);
	return ret;
}

static long kchan_selector_del(struct kchan_selector *sel,
			       const void __user *uarg)
{
	struct kchan_selector_ctl ctl;
	struct kchan_sel_item *item;
	struct kchan_end *end;
	struct fd f;
	int ret;

	ret = kchan_selector_read_ctl(uarg, &ctl, &f, &end);
	if (ret)
		return ret;
	ret = -EINVAL;
	if (ctl.elem || ctl.tag)
		goto out_fdput;
	ret = -EINTR;
	if (mutex_lock_killable(&sel->mtx))
		goto out_fdput;
	item = kchan_sel_item_find(sel, end, ctl.op == KCHAN_CASE_SEND);
	ret = -ENOENT;
	if (item) {
		kchan_sel_item_remove(sel, item);
		ret = 0;
	}
	mutex_unlock(&sel->mtx);
out_fdput:
	trace_kchan_selector_ctl(sel->id, end->ch, ctl.op, 0, false, ret);
	fdput(f);
	return ret;
}

/**
 * kchan_selector_end_gone() - remove an end's cases from every selector
 * @end: an end whose file is being released
 *
 * No task can register the end any more: that takes a descriptor.
 */
void kchan_selector_end_gone(struct kchan_end *end)
{
	struct kchan_sel_item *item;
	struct kchan_selector *sel;
	bool send;

	spin_lock(&end->sel_lock);
	while ((item = list_first_entry_or_null(&end->sel_items,
						struct kchan_sel_item,
						end_node))) {
		/* The item lives while it is on this list. */
		sel = item->sel;
		send = item->send;
		kref_get(&sel->refs);
		spin_unlock(&end->sel_lock);

		/* Gone meanwhile (deleted, or its selector released)? */
		mutex_lock(&sel->mtx);
		item = kchan_sel_item_find(sel, end, send);
		if (item)
			kchan_sel_item_remove(sel, item);
		mutex_unlock(&sel->mtx);
		kref_put(&sel->refs, kchan_selector_free);

		spin_lock(&end->sel_lock);
	}
	spin_unlock(&end->sel_lock);
}

/* --- Waiting ------------------------------------------------------------- */

/*
 * Perform @item's case once; its end is referenced.  Returns the
 * step's result (1, 0, -EPIPE, -EFAULT or KCHAN_WOULD_BLOCK) or -EINTR.
 */
static int kchan_sel_item_perform(struct kchan_sel_item *item)
{
	struct kchan_end *end = item->end;
	int ret;

	if (mutex_lock_killable(&end->ch->lock))
		return -EINTR;
	ret = end->ops->step(end, item->send, item->elem);
	if (ret >= 0)
		end->ch->selects_won++;
	/* Puts the item back into the ready set if it can proceed again. */
	end->ops->unlock(end, true);
	return ret;
}

/*
 * Sleep until the ready set is not empty.  Returns 0, or -ETIMEDOUT,
 * -ERESTARTNOHAND or -ERESTARTSYS.
 */
static int kchan_selector_sleep(struct kchan_selector *sel,
				const struct kchan_wait_opts *opts)
{
	DEFINE_WAIT(wait);
	int ret;

	do {
		prepare_to_wait_exclusive(&sel->wq, &wait, TASK_INTERRUPTIBLE);
		/* Pairs with wake_up_interruptible() in kchan_sel_item_wake(). */
		if (READ_ONCE(sel->nr_ready)) {
			ret = 0;
			break;
		}
		ret = kchan_schedule(opts);
		/*
		 * A case may have woken this waiter, the only one it woke,
		 * just as the deadline passed: try it rather than leave it to
		 * waiters nobody will wake.
		 */
		if (ret == -ETIMEDOUT && READ_ONCE(sel->nr_ready))
			ret = 0;
	} while (!ret && !READ_ONCE(sel->nr_ready));
	finish_wait(&sel->wq, &wait);
	return ret;
}

/*
 * Perform one case that can proceed, waiting as @opts allow.  Returns the
 * result and sets *@item_out to the performed item (referenced, with its
 * channel) for any result concerning a case.
 */
static long kchan_selector_perform(struct kchan_selector *sel,
				   const struct kchan_wait_opts *opts,
				   struct kchan_sel_item **item_out)
{
	struct kchan_sel_item *item;
	long ret;

	for (;;) {
		item = kchan_sel_ready_pick(sel);
		if (item) {
			ret = kchan_sel_item_perform(item);
			if (ret != KCHAN_WOULD_BLOCK && ret != -EINTR) {
				*item_out = item;
				return ret;
			}
			item->end->ops->put(item->end);
			kchan_sel_item_put(item);
			if (ret == -EINTR)
				return ret;
			ret = kchan_may_retry(opts);
			if (ret)
				return ret;
			continue;
		}
		ret = kchan_may_block(opts);
		if (!ret)
			ret = kchan_selector_sleep(sel, opts);
		if (ret)
			return ret;
	}
}

static long kchan_selector_wait(struct kchan_selector *sel,
				struct file *file, void __user *uarg)
{
	struct kchan_selector_wait __user *uw = uarg;
	struct kchan_sel_item *item = NULL;
	struct kchan_wait_opts opts = {};
	struct kchan_selector_wait w;
	long ret;

	ret = kchan_copy_args(&w, sizeof(w), KCHAN_SELECTOR_WAIT_SIZE_VER0,
			      uarg);
	if (ret)
		return ret;
	if (w.flags & ~(KCHAN_SELECTOR_WAIT_NONBLOCK |
			KCHAN_SELECTOR_WAIT_DEADLINE))
		return -EINVAL;
	if (w.flags & KCHAN_SELECTOR_WAIT_DEADLINE ? w.deadline_ns < 0 :
						     w.deadline_ns)
		return -EINVAL;
	opts.nonblock = (w.flags & KCHAN_SELECTOR_WAIT_NONBLOCK) ||
			(file->f_flags & O_NONBLOCK);
	opts.has_deadline = w.flags & KCHAN_SELECTOR_WAIT_DEADLINE;
	opts.deadline = kchan_monotonic_to_host(w.deadline_ns);
	/*
	 * The tag goes back after the case was performed: make sure now that
	 * it can (writing back what is there), so that EFAULT means nothing
	 * happened, unless the memory is unmapped in the middle of the call.
	 */
	if (put_user(w.tag, &uw->tag))
		return -EFAULT;

	ret = kchan_selector_perform(sel, &opts, &item);
	if (item && put_user(item->tag, &uw->tag))
		ret = -EFAULT;
	trace_kchan_selector_wait(sel->id, item ? item->end->ch : NULL,
				  item ? item->tag : 0, ret,
				  READ_ONCE(sel->nr_items));
	if (item) {
		item->end->ops->put(item->end);
		kchan_sel_item_put(item);
	}
	return ret;
}

/* --- The descriptor ------------------------------------------------------ */

static int kchan_selector_release(struct inode *inode, struct file *file)
{
	struct kchan_selector *sel = file->private_data;
	struct rb_node *n;

	mutex_lock(&sel->mtx);
	while ((n = rb_first(&sel->items)))
		kchan_sel_item_remove(sel, rb_entry(n, struct kchan_sel_item,
						    node));
	mutex_unlock(&sel->mtx);
	kref_put(&sel->refs, kchan_selector_free);
	return 0;
}

/* Drop the members of the ready set that cannot proceed. */
static void kchan_sel_ready_prune(struct kchan_selector *sel)
{
	unsigned long flags;
	u32 i;

	spin_lock_irqsave(&sel->lock, flags);
	for (i = 0; i < sel->nr_ready;) {
		struct kchan_sel_item *item = sel->ready[i];

		if (kchan_sel_item_maybe_ready(item))
			i++;
		else
			kchan_sel_ready_del(sel, item);
	}
	spin_unlock_irqrestore(&sel->lock, flags);
}

static __poll_t kchan_selector_poll(struct file *file, poll_table *pt)
{
	struct kchan_selector *sel = file->private_data;

	poll_wait(file, &sel->poll_wq, pt);
	/*
	 * Order the queueing above before reading the set below; pairs with
	 * wq_has_sleeper() in kchan_sel_item_wake().
	 */
	smp_mb();
	kchan_sel_ready_prune(sel);
	return READ_ONCE(sel->nr_ready) ? EPOLLIN | EPOLLRDNORM : 0;
}

static long kchan_selector_ioctl(struct file *file, unsigned int cmd,
				 unsigned long arg)
{
	struct kchan_selector *sel = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case KCHAN_IOC_SELECTOR_ADD:
		return kchan_selector_add(sel, uarg);
	case KCHAN_IOC_SELECTOR_DEL:
		return kchan_selector_del(sel, uarg);
	case KCHAN_IOC_SELECTOR_WAIT:
		return kchan_selector_wait(sel, file, uarg);
	default:
		return -ENOTTY;
	}
}

#ifdef CONFIG_PROC_FS
/* /proc/PID/fdinfo/FD: the selector's id, cases and ready cases. */
static void kchan_selector_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct kchan_selector *sel = file->private_data;

	seq_printf(m, "kchan-selector-id:\t%llu\n", sel->id);
	seq_printf(m, "cases:\t%u\n", READ_ONCE(sel->nr_items));
	seq_printf(m, "ready:\t%u\n", READ_ONCE(sel->nr_ready));
}
#endif

static const struct file_operations kchan_selector_fops = {
	.owner		= THIS_MODULE,
#ifdef CONFIG_PROC_FS
	.show_fdinfo	= kchan_selector_show_fdinfo,
#endif
	.release	= kchan_selector_release,
	.poll		= kchan_selector_poll,
	.unlocked_ioctl	= kchan_selector_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

/**
 * kchan_selector_create_fd() - the %KCHAN_IOC_SELECTOR_CREATE ioctl
 * @uarg: struct kchan_selector_create in user memory
 *
 * Return: the new selector descriptor, or -EINVAL, -E2BIG, -EFAULT,
 * -ENOSPC, -ENOMEM, -EMFILE or -ENFILE.
 */
long kchan_selector_create_fd(const void __user *uarg)
{
	struct kchan_selector_create args;
	struct kchan_selector *sel;
	struct kchan_user *user;
	struct file *file;
	int fd, ret;

	ret = kchan_copy_args(&args, sizeof(args),
			      KCHAN_SELECTOR_CREATE_SIZE_VER0, uarg);
	if (ret)
		return ret;
	if (args.flags & ~(KCHAN_CLOEXEC | KCHAN_NONBLOCK))
		return -EINVAL;
	user = kchan_user_current();
	if (!user)
		return -ENOMEM;
	ret = kchan_budget_charge(user, sizeof(*sel));
	if (ret)
		return ret;
	ret = -ENOMEM;
	sel = kchan_alloc(sizeof(*sel), true);
	if (!sel)
		goto out_uncharge;
	mutex_init(&sel->mtx);
	spin_lock_init(&sel->lock);
	init_waitqueue_head(&sel->wq);
	init_waitqueue_head(&sel->poll_wq);
	kref_init(&sel->refs);
	sel->items = RB_ROOT;
	sel->user = user;
	sel->id = kchan_user_next_selector_id(user);

	fd = get_unused_fd_flags(args.flags & KCHAN_CLOEXEC ? O_CLOEXEC : 0);
	if (fd < 0) {
		ret = fd;
		goto out_free;
	}
	file = anon_inode_getfile("[kchan_selector]", &kchan_selector_fops, sel,
				  O_RDWR | (args.flags & KCHAN_NONBLOCK ?
					    O_NONBLOCK : 0));
	if (IS_ERR(file)) {
		ret = PTR_ERR(file);
		goto out_put_fd;
	}
	fd_install(fd, file);
	return fd;

out_put_fd:
	put_unused_fd(fd);
out_free:
	mutex_destroy(&sel->mtx);
	kvfree(sel);
out_uncharge:
	kchan_budget_uncharge(user, sizeof(*sel));
	return ret;
}
