// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: module init and exit, the /dev/kchan misc device and its ioctl.
 *
 * /dev/kchan holds no state of its own: its ioctls create a channel and
 * return a descriptor for it (see chan.c), create a selector (see
 * selector.c) or select over channels (see select.c); this file only
 * dispatches them.  Module load sets up the slab
 * caches (cache.c), the byte limits (limits.c), the give-back workqueue
 * (wait.c), /proc/kchan (proc.c) and the device, in that order; unload
 * undoes them in reverse.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/device.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

#include <linux/kchan.h>

#include "kchan.h"

static long kchan_dev_create(const void __user *uarg)
{
	struct kchan_create args;
	int ret;

	ret = kchan_copy_args(&args, sizeof(args), KCHAN_CREATE_SIZE_VER0, uarg);
	if (ret)
		return ret;
	if (args.flags & KCHAN_BROADCAST)
		return kchan_bcast_create_fd(&args);
	return kchan_create_fd(&args);
}

static long kchan_dev_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	switch (cmd) {
	case KCHAN_IOC_CREATE:
		return kchan_dev_create((const void __user *)arg);
	case KCHAN_IOC_SELECT:
		return kchan_select((const void __user *)arg);
	case KCHAN_IOC_SELECTOR_CREATE:
		return kchan_selector_create_fd((const void __user *)arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations kchan_dev_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= kchan_dev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

/*
 * /sys/class/misc/kchan/allocations: see kchan_allocations().  Root only:
 * the count moves with every user's channels and blocked calls.
 */
static ssize_t allocations_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", kchan_allocations());
}
static DEVICE_ATTR_ADMIN_RO(allocations);

static struct attribute *kchan_dev_attrs[] = {
	&dev_attr_allocations.attr,
	NULL,
};
ATTRIBUTE_GROUPS(kchan_dev);

/*
 * Anyone may create channels, as anyone may create pipes or eventfds: the
 * memory is charged to the creator's memory cgroup and the count to the
 * creator's user (limits.c).  Distributions narrow this with a udev rule.
 */
static struct miscdevice kchan_miscdev = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kchan",
	.fops	= &kchan_dev_fops,
	.groups	= kchan_dev_groups,
	.mode	= 0666,
};

static int __init kchan_init(void)
{
	int ret;

	BUILD_BUG_ON(sizeof(struct kchan_create) != KCHAN_CREATE_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct kchan_xfer) != KCHAN_XFER_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct kchan_info) != KCHAN_INFO_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct kchan_select) != KCHAN_SELECT_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct kchan_select_case) !=
		     KCHAN_SELECT_CASE_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct kchan_stats) != KCHAN_STATS_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct kchan_selector_create) !=
		     KCHAN_SELECTOR_CREATE_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct kchan_selector_ctl) !=
		     KCHAN_SELECTOR_CTL_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct kchan_selector_wait) !=
		     KCHAN_SELECTOR_WAIT_SIZE_VER0);
	BUILD_BUG_ON(sizeof(struct kchan_subscribe) != KCHAN_SUBSCRIBE_SIZE_VER0);

	ret = kchan_cache_init();
	if (ret)
		return ret;
	kchan_select_init();
	ret = kchan_limits_init();
	if (ret)
		goto out_cache_exit;
	ret = kchan_give_back_init();
	if (ret)
		goto out_limits_exit;
	ret = kchan_proc_init();
	if (ret) {
		pr_err("cannot create /proc/kchan: %d\n", ret);
		goto out_give_back_exit;
	}
	ret = misc_register(&kchan_miscdev);
	if (ret) {
		pr_err("cannot register /dev/kchan: %d\n", ret);
		goto out_proc_exit;
	}
	return 0;

out_proc_exit:
	kchan_proc_exit();
out_give_back_exit:
	kchan_give_back_exit();
out_limits_exit:
	kchan_limits_exit();
out_cache_exit:
	kchan_cache_exit();
	return ret;
}

static void __exit kchan_exit(void)
{
	misc_deregister(&kchan_miscdev);
	kchan_proc_exit();
	kchan_give_back_exit();
	kchan_limits_exit();
	kchan_cache_exit();
}

module_init(kchan_init);
module_exit(kchan_exit);

MODULE_DESCRIPTION("Go-style channels between tasks and processes");
MODULE_AUTHOR("The kchan developers");
MODULE_LICENSE("GPL");
MODULE_VERSION(KCHAN_VERSION);
