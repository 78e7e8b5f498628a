// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: limits an administrator reads and sets at run time, under
 * /sys/module/kchan/parameters/, and the per-user budgets they bound.
 *
 * Sizes: max_elem_size, max_capacity and max_ring_bytes can be lowered
 * below the ABI's ceilings (KCHAN_ELEM_SIZE_MAX, KCHAN_CAPACITY_MAX,
 * KCHAN_RING_BYTES_MAX), never raised above them; a creation beyond any of
 * them fails with -EINVAL.
 *
 * Budgets, per user, as fs/pipe.c has pipe-user-pages-soft/hard:
 *
 * - max_channels_per_user: channels that exist at once; one more fails
 *   with -ENOSPC.
 * - user_bytes_soft: kernel bytes of the user's channels (the channel
 *   object and its ring) beyond which creating a channel fails with
 *   -ENOSPC.
 * - user_bytes_hard: kernel bytes of everything charged to the user -
 *   channels, the elements that tasks blocked on them park, the
 *   bookkeeping of selects, selectors and their cases - beyond which any
 *   of them fails with -ENOSPC.  It lies above the soft limit, so that at the soft limit the
 *   user's channels still work.
 *
 * A limit of 0 is no limit; by default the soft limit is an eighth of the
 * RAM and the hard limit a quarter.  A task with CAP_SYS_RESOURCE or
 * CAP_SYS_ADMIN in the initial user namespace is exempt from the byte
 * limits, as from the pipe's.  A limit lowered below what a user holds
 * affects only later charges.
 *
 * Who "the user" is: the budget key.  A task in the initial user
 * namespace is charged to its real user id.  A task in any other user
 * namespace is charged to the user who owns the outermost of its user
 * namespaces below the initial one - the host user who created the
 * container - whatever ids it has inside: ids made up in a user namespace
 * cannot multiply the budget.  (The kernel's ucounts do this for their own
 * resources, but a module can neither add a ucount type nor call
 * inc_ucount(); this is the part of their rule that matters here: every
 * namespace a user creates is charged to that user.)  Memory is charged to
 * the memory cgroup as well, as before (cache.c); the budget bounds a user
 * that no memory.max bounds.
 *
 * What is charged to whom: a channel (object and ring) to its creator's
 * key; an element a blocked task parks, to the key of the channel it parks
 * on (as a pipe's buffers are charged to the pipe's creator); a select's
 * bookkeeping (the scratch object of one of more than eight cases, for the
 * call; the wait of one that blocks) to the selecting task's key; a
 * selector and each case registered in it to the key of the task that
 * created or registered it (selector.c).
 *
 * Locking: the parameters are read with READ_ONCE() and need no lock.
 * Each key has a struct kchan_user in kchan_users, indexed by the key's
 * uid in the initial namespace; entries are created on first use under
 * kchan_users_lock, a mutex that also guards each entry's @channels,
 * @chan_bytes and @last_id, and are freed only at module unload, so a
 * pointer to one stays valid without a reference.  @bytes is an atomic, charged and uncharged
 * with no lock (also under a channel lock).
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uidgid.h>
#include <linux/user_namespace.h>
#include <linux/xarray.h>

#include <linux/kchan.h>

#include "kchan.h"

/**
 * struct kchan_user - the budget of one key
 * @bytes: kernel bytes charged, of every kind; atomic.
 * @chan_bytes: the part of @bytes that channels (objects and rings) take,
 *	which the soft limit bounds; under kchan_users_lock.
 * @channels: channels that exist; under kchan_users_lock.
 * @last_id: the last channel id handed out to this key; ids start at 1
 *	and are never reused while the module is loaded.  Under
 *	kchan_users_lock.
 * @last_selector_id: likewise for selectors; atomic.
 */
struct kchan_user {
	atomic_long_t bytes;
	unsigned long chan_bytes;
	unsigned int channels;
	u64 last_id;
	atomic64_t last_selector_id;
};

static unsigned int max_elem_size = KCHAN_ELEM_SIZE_MAX;
static unsigned int max_capacity = KCHAN_CAPACITY_MAX;
static unsigned int max_ring_bytes = KCHAN_RING_BYTES_MAX;
static unsigned int max_channels_per_user = 16384;
/* ULONG_MAX until kchan_limits_init() picks the default. */
static unsigned long user_bytes_soft = ULONG_MAX;
static unsigned long user_bytes_hard = ULONG_MAX;

static DEFINE_MUTEX(kchan_users_lock);
static DEFINE_XARRAY(kchan_users);

static int kchan_set_elem_size(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, KCHAN_ELEM_SIZE_MAX);
}

static int kchan_set_capacity(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 0, KCHAN_CAPACITY_MAX);
}

static int kchan_set_ring_bytes(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 0, KCHAN_RING_BYTES_MAX);
}

static const struct kernel_param_ops kchan_elem_size_ops = {
	.set = kchan_set_elem_size,
	.get = param_get_uint,
};

static const struct kernel_param_ops kchan_capacity_ops = {
	.set = kchan_set_capacity,
	.get = param_get_uint,
};

static const struct kernel_param_ops kchan_ring_bytes_ops = {
	.set = kchan_set_ring_bytes,
	.get = param_get_uint,
};

module_param_cb(max_elem_size, &kchan_elem_size_ops, &max_elem_size, 0644);
MODULE_PARM_DESC(max_elem_size,
		 "Largest element size in bytes (1-65536, default 65536)");
module_param_cb(max_capacity, &kchan_capacity_ops, &max_capacity, 0644);
MODULE_PARM_DESC(max_capacity,
		 "Largest capacity in elements (0-1048576, default 1048576)");
module_param_cb(max_ring_bytes, &kchan_ring_bytes_ops, &max_ring_bytes, 0644);
MODULE_PARM_DESC(max_ring_bytes,
		 "Largest ring, element size times capacity (default 64 MiB)");
module_param(max_channels_per_user, uint, 0644);
MODULE_PARM_DESC(max_channels_per_user,
		 "Channels that may exist at once per user (default 16384)");
module_param(user_bytes_soft, ulong, 0644);
MODULE_PARM_DESC(user_bytes_soft,
		 "Bytes of channels per user beyond which no channel is created (0: no limit; default 1/8 of RAM)");
module_param(user_bytes_hard, ulong, 0644);
MODULE_PARM_DESC(user_bytes_hard,
		 "Bytes of channels, parked elements and select bookkeeping per user (0: no limit; default 1/4 of RAM)");

/**
 * kchan_check_limits() - check a new channel's sizes against the limits
 * @elem_size: element size in bytes
 * @capacity: capacity in elements
 *
 * Return: 0, or -EINVAL when a size is out of range.
 */
int kchan_check_limits(u32 elem_size, u64 capacity)
{
	if (!elem_size || elem_size > READ_ONCE(max_elem_size))
		return -EINVAL;
	if (capacity > READ_ONCE(max_capacity))
		return -EINVAL;
	/* Both factors are bounded by u32 values, so the product fits. */
	if ((u64)elem_size * capacity > READ_ONCE(max_ring_bytes))
		return -EINVAL;
	return 0;
}

/*
 * The calling task's budget key: its real uid, or the owner of its
 * outermost user namespace below the initial one.
 */
static kuid_t kchan_budget_key(void)
{
	const struct user_namespace *ns = current_user_ns();
	kuid_t key = current_uid();

	for (; ns != &init_user_ns; ns = ns->parent)
		key = ns->owner;
	return key;
}

/**
 * kchan_user_current() - the budget of the calling task
 *
 * Creates the entry on first use; it lives until the module is unloaded.
 *
 * Return: the entry, or NULL when it could not be allocated.
 */
struct kchan_user *kchan_user_current(void)
{
	unsigned long index = from_kuid(&init_user_ns, kchan_budget_key());
	struct kchan_user *user = xa_load(&kchan_users, index);
	int ret;

	if (likely(user))
		return user;

	mutex_lock(&kchan_users_lock);
	user = xa_load(&kchan_users, index);
	if (!user) {
		/* A small constant per key: charged to the memory cgroup only. */
		user = kzalloc(sizeof(*user), GFP_KERNEL_ACCOUNT);
		ret = user ? xa_err(xa_store(&kchan_users, index, user,
					     GFP_KERNEL)) : -ENOMEM;
		if (ret) {
			kfree(user);
			user = NULL;
		}
	}
	mutex_unlock(&kchan_users_lock);
	return user;
}

/* Whether the calling task is exempt from the byte limits. */
static bool kchan_privileged(void)
{
	return capable(CAP_SYS_RESOURCE) || capable(CAP_SYS_ADMIN);
}

/**
 * kchan_budget_charge() - charge kernel bytes to a user
 * @user: the budget
 * @bytes: how many
 *
 * Bounded by user_bytes_hard, for every kind of charge.
 *
 * Return: 0, or -ENOSPC when the budget is spent.
 */
int kchan_budget_charge(struct kchan_user *user, size_t bytes)
{
	unsigned long hard = READ_ONCE(user_bytes_hard);
	unsigned long total;

	total = atomic_long_add_return(bytes, &user->bytes);
	/* Asked only when over, as capable() may log a denial. */
	if (hard && total > hard && !kchan_privileged()) {
		atomic_long_sub(bytes, &user->bytes);
		return -ENOSPC;
	}
	return 0;
}

/**
 * kchan_budget_charge_anyway() - charge bytes that must be had
 * @user: the budget
 * @bytes: how many
 *
 * For the copy of an element that would otherwise be lost (an element
 * given back, cache.c): counted, never refused.
 */
void kchan_budget_charge_anyway(struct kchan_user *user, size_t bytes)
{
	atomic_long_add(bytes, &user->bytes);
}

/**
 * kchan_budget_uncharge() - return bytes charged by kchan_budget_charge()
 * @user: the budget they were charged to
 * @bytes: how many
 */
void kchan_budget_uncharge(struct kchan_user *user, size_t bytes)
{
	atomic_long_sub(bytes, &user->bytes);
}

/**
 * kchan_user_add_channel() - count a new channel against its creator
 * @user: the creator's budget, from kchan_user_current()
 * @bytes: the channel's kernel bytes (object and ring)
 * @id: out: the channel's id among @user's channels
 *
 * Return: 0, or -ENOSPC when @user has max_channels_per_user channels or
 * @bytes would take it beyond user_bytes_soft or user_bytes_hard.
 */
int kchan_user_add_channel(struct kchan_user *user, size_t bytes, u64 *id)
{
	unsigned long soft = READ_ONCE(user_bytes_soft);
	int ret = -ENOSPC;

	mutex_lock(&kchan_users_lock);
	if (user->channels >= READ_ONCE(max_channels_per_user))
		goto out_unlock;
	if (soft && user->chan_bytes + bytes > soft && !kchan_privileged())
		goto out_unlock;
	ret = kchan_budget_charge(user, bytes);
	if (ret)
		goto out_unlock;
	user->channels++;
	user->chan_bytes += bytes;
	*id = ++user->last_id;
out_unlock:
	mutex_unlock(&kchan_users_lock);
	return ret;
}

/**
 * kchan_user_next_selector_id() - an id for a new selector of a user
 * @user: the creator's budget
 *
 * Return: the next id among @user's selectors, from 1.
 */
u64 kchan_user_next_selector_id(struct kchan_user *user)
{
	return atomic64_inc_return(&user->last_selector_id);
}

/**
 * kchan_user_del_channel() - a channel counted by kchan_user_add_channel()
 * is gone
 * @user: the budget it was counted against
 * @bytes: the bytes it was charged
 */
void kchan_user_del_channel(struct kchan_user *user, size_t bytes)
{
	kchan_budget_uncharge(user, bytes);
	mutex_lock(&kchan_users_lock);
	WARN_ON_ONCE(!user->channels || user->chan_bytes < bytes);
	user->channels--;
	user->chan_bytes -= bytes;
	mutex_unlock(&kchan_users_lock);
}

/**
 * kchan_limits_init() - pick the default byte limits, at module load
 *
 * Return: 0.
 */
int kchan_limits_init(void)
{
	unsigned long ram = totalram_pages() << PAGE_SHIFT;

	if (user_bytes_soft == ULONG_MAX)
		user_bytes_soft = ram / 8;
	if (user_bytes_hard == ULONG_MAX)
		user_bytes_hard = ram / 4;
	return 0;
}

/**
 * kchan_limits_exit() - free every budget entry, at module unload
 *
 * No channel exists any more, so nothing is charged.
 */
void kchan_limits_exit(void)
{
	struct kchan_user *user;
	unsigned long index;

	xa_for_each(&kchan_users, index, user) {
		WARN_ON_ONCE(user->channels || atomic_long_read(&user->bytes));
		kfree(user);
	}
	xa_destroy(&kchan_users);
}
