// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: reading and writing the size-versioned structures of the ioctls.
 *
 * Every argument structure starts with a __u32 size that user space sets
 * to the sizeof() it was built with (uapi/linux/kchan.h).  Structures the
 * kernel reads follow copy_struct_from_user(); structures it fills are
 * written up to the smaller of the two sizes, and the caller's tail beyond
 * the kernel's structure is zeroed.  No state, no locks.
 */
#include <linux/minmax.h>
#include <linux/mm.h>
#include <linux/uaccess.h>

#include "kchan.h"

/**
 * kchan_copy_args() - read a size-versioned ioctl argument
 * @karg: the kernel's copy, @ksize bytes
 * @ksize: sizeof the kernel's struct
 * @ver0_size: size of the first published version of the struct
 * @uarg: the user's struct, whose first member is its __u32 size
 *
 * Follows copy_struct_from_user(): a shorter (older) struct is zero
 * extended, a longer (newer) one is accepted when its unknown tail is zero.
 *
 * Return: 0, -EFAULT, -EINVAL when the size is below @ver0_size, or -E2BIG
 * when it exceeds a page or the unknown tail is not zero.
 */
int kchan_copy_args(void *karg, size_t ksize, size_t ver0_size,
		    const void __user *uarg)
{
	u32 usize;

	if (get_user(usize, (const u32 __user *)uarg))
		return -EFAULT;
	if (usize < ver0_size)
		return -EINVAL;
	if (usize > PAGE_SIZE)
		return -E2BIG;
	/* The common case, the caller built with this kernel's ABI. */
	if (usize == ksize)
		return copy_from_user(karg, uarg, ksize) ? -EFAULT : 0;
	return copy_struct_from_user(karg, ksize, uarg, usize);
}

/**
 * kchan_copy_out_size() - read the size of a structure the kernel fills
 * @usizep: the structure's __u32 size in user memory
 * @ksize: sizeof the kernel's struct
 * @ver0_size: size of the first published version of the struct
 * @size: out: the caller's size
 *
 * Return: the number of bytes the kernel fills, min(*@size, @ksize), which
 * the caller stores in the structure's size field; -EFAULT, -EINVAL when
 * the size is below @ver0_size, or -E2BIG when it exceeds a page.
 */
int kchan_copy_out_size(u32 __user *usizep, size_t ksize, size_t ver0_size,
			u32 *size)
{
	if (get_user(*size, usizep))
		return -EFAULT;
	if (*size < ver0_size)
		return -EINVAL;
	if (*size > PAGE_SIZE)
		return -E2BIG;
	return min_t(size_t, *size, ksize);
}

/**
 * kchan_copy_out() - write a structure the kernel fills
 * @uarg: the user's structure, @usize bytes
 * @karg: the kernel's filled structure, @ksize bytes, all of it
 *	initialised (padding included)
 * @ksize: sizeof the kernel's struct
 * @usize: the size kchan_copy_out_size() read
 *
 * Return: 0 or -EFAULT.
 */
int kchan_copy_out(void __user *uarg, const void *karg, size_t ksize,
		   u32 usize)
{
	if (copy_to_user(uarg, karg, min_t(size_t, usize, ksize)))
		return -EFAULT;
	if (usize > ksize && clear_user((u8 __user *)uarg + ksize, usize - ksize))
		return -EFAULT;
	return 0;
}
