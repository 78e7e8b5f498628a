// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: limits an administrator reads and sets at run time, under
 * /sys/module/kchan/parameters/, and the per-user channel count they bound.
 *
 * max_elem_size, max_capacity and max_ring_bytes can be lowered below the
 * ABI's ceilings (KCHAN_ELEM_SIZE_MAX, KCHAN_CAPACITY_MAX,
 * KCHAN_RING_BYTES_MAX), never raised above them; a creation beyond any of
 * them fails with -EINVAL.  max_channels_per_user bounds the channels that
 * exist at once per real user id; one more fails with -ENOSPC.  A limit
 * lowered below what exists affects only later creations.
 *
 * The parameters are read with READ_ONCE() and need no lock.  The per-user
 * counts live in kchan_users (uid -> count as an xarray value), guarded by
 * kchan_users_lock; an entry is erased when its count drops to zero.
 */
#include <linux/cred.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/uidgid.h>
#include <linux/xarray.h>

#include <linux/kchan.h>

#include "kchan.h"

static unsigned int max_elem_size = KCHAN_ELEM_SIZE_MAX;
static unsigned int max_capacity = KCHAN_CAPACITY_MAX;
static unsigned int max_ring_bytes = KCHAN_RING_BYTES_MAX;
static unsigned int max_channels_per_user = 16384;

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

/**
 * kchan_user_charge() - count a new channel against its creator
 * @uid: the creator's real user id
 *
 * Return: 0, -ENOSPC when the user has max_channels_per_user channels, or
 * -ENOMEM.
 */
int kchan_user_charge(kuid_t uid)
{
	unsigned long index = from_kuid(&init_user_ns, uid);
	unsigned long count;
	int ret = 0;

	mutex_lock(&kchan_users_lock);
	count = xa_to_value(xa_load(&kchan_users, index) ?: xa_mk_value(0));
	if (count >= READ_ONCE(max_channels_per_user))
		ret = -ENOSPC;
	else
		ret = xa_err(xa_store(&kchan_users, index,
				      xa_mk_value(count + 1), GFP_KERNEL));
	mutex_unlock(&kchan_users_lock);
	return ret;
}

/**
 * kchan_user_uncharge() - a channel counted by kchan_user_charge() is gone
 * @uid: the user id it was charged to
 */
void kchan_user_uncharge(kuid_t uid)
{
	unsigned long index = from_kuid(&init_user_ns, uid);
	unsigned long count;

	mutex_lock(&kchan_users_lock);
	count = xa_to_value(xa_load(&kchan_users, index));
	if (WARN_ON_ONCE(!count) || count == 1)
		xa_erase(&kchan_users, index);
	else
		xa_store(&kchan_users, index, xa_mk_value(count - 1), GFP_KERNEL);
	mutex_unlock(&kchan_users_lock);
}
