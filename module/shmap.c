// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: mapping a mappable channel's shared ring into user space - mmap,
 * map ids, and the repair of what a process left when it went.
 *
 * Two mappings (uapi DOC: Mapped channels): the control page, read-only
 * for good (VM_MAYWRITE cleared), and the ring (positions, slot words,
 * elements), read-write and shared.  Both are filled at mmap() time with
 * vm_insert_pages(), so nothing ever faults them in.  Neither holds the
 * channel's file: the channel ends when its last descriptor is closed,
 * as any channel does.  They hold the ring's own file instead
 * (struct kchan_shring.file, swapped in with vma_set_file()), which owns
 * the ring: its pages live until the channel is gone and the last
 * mapping too, so a ring cannot be freed while mapped.
 *
 * Each process (mm) that maps the ring gets a map id, the owner it writes
 * into the slots it claims; struct kchan_mapper counts the process's VMAs
 * of the ring, vm_ops->open() and ->close() keeping the count across
 * splits and moves.  When the last goes, the claims the id still holds are
 * repaired (kchan_shring_repair()) and the id is free again.
 *
 * Locking: struct kchan_shring.map_lock guards the list of mappers.  The
 * mmap handler and vm_ops run with the process's mmap_lock held, so the
 * operations of one process never race with each other; map_lock only
 * orders those of different processes and %KCHAN_IOC_MAP_INFO.  It is
 * taken under mmap_lock and never with the channel lock, which is held
 * across page faults (mmap_lock): serving blocked tasks after a process
 * went, which needs the channel lock, is done in a worker
 * (kchan_defer_call()).
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/slab.h>

#include "compat.h"
#include "kchan.h"
#include "shring.h"

/**
 * struct kchan_mapper - a process that has a channel's ring mapped
 * @node: on struct kchan_shring.mappers.
 * @mm: the process's address space; only compared, never dereferenced.
 * @vmas: its VMAs of the ring; written under its mmap_lock.
 * @id: its map id.
 */
struct kchan_mapper {
	struct list_head node;
	struct mm_struct *mm;
	unsigned long vmas;
	u16 id;
};

static int kchan_ring_file_release(struct inode *inode, struct file *file)
{
	kchan_shring_free(file->private_data);
	return 0;
}

/* The ring's own file: never a descriptor, only what mappings hold. */
static const struct file_operations kchan_ring_fops = {
	.owner		= THIS_MODULE,
	.release	= kchan_ring_file_release,
};

/**
 * kchan_shmap_init() - give a new mappable channel's ring its file
 * @ch: the channel, not yet reachable, its @shr set
 *
 * Return: 0, or -ENOMEM (or another error of anon_inode_getfile()).
 */
int kchan_shmap_init(struct kchan *ch)
{
	struct kchan_shring *r = ch->shr;
	struct file *file;

	file = anon_inode_getfile("[kchan_ring]", &kchan_ring_fops, r, O_RDWR);
	if (IS_ERR(file))
		return PTR_ERR(file);
	r->file = file;
	r->ch = ch;
	return 0;
}

/**
 * kchan_shmap_put() - the channel is done with its shared ring
 * @r: the ring, or NULL
 *
 * Drops the channel's reference: the ring is freed now, or when its last
 * mapping goes.
 */
void kchan_shmap_put(struct kchan_shring *r)
{
	if (!r)
		return;
	if (!r->file) {
		kchan_shring_free(r);	/* creation failed before the file */
		return;
	}
	mutex_lock(&r->map_lock);
	r->ch = NULL;
	mutex_unlock(&r->map_lock);
	fput(r->file);
}

/* The mapper of @mm, or NULL; map_lock held. */
static struct kchan_mapper *kchan_mapper_find(struct kchan_shring *r,
					      struct mm_struct *mm)
{
	struct kchan_mapper *m;

	lockdep_assert_held(&r->map_lock);
	list_for_each_entry(m, &r->mappers, node)
		if (m->mm == mm)
			return m;
	return NULL;
}

/*
 * The last ring mapping of @m's process went: repair what it claimed,
 * then, if the channel still lives, do what the process's
 * %KCHAN_IOC_WAKE would have done - for the slots it voided or freed by
 * the repair, and for an element it published or a slot it freed just
 * before it died, while tasks waited that it did not live to tell.
 */
static void kchan_mapper_gone(struct kchan_shring *r, struct kchan_mapper *m)
{
	bool repaired;
	struct kchan *ch;

	mutex_lock(&r->map_lock);
	list_del(&m->node);
	mutex_unlock(&r->map_lock);

	repaired = kchan_shring_repair(r, m->id);
	mutex_lock(&r->map_lock);
	ch = r->ch;
	if (ch && !(repaired || kchan_shared_has_waiters(ch)))
		ch = NULL;	/* the common exit: nothing to tell */
	if (ch && !kref_get_unless_zero(&ch->refs))
		ch = NULL;
	mutex_unlock(&r->map_lock);
	if (ch)
		kchan_defer_call(ch, kchan_shared_wake_unlock);
	/* Only now may another process claim under the same id. */
	ida_free(&r->map_ids, m->id);
	kfree(m);
}

static void kchan_ring_vma_open(struct vm_area_struct *vma)
{
	struct kchan_mapper *m = vma->vm_private_data;

	/* A split or a move: one more VMA of the same process. */
	m->vmas++;
}

static void kchan_ring_vma_close(struct vm_area_struct *vma)
{
	struct kchan_mapper *m = vma->vm_private_data;

	if (!--m->vmas)
		kchan_mapper_gone(vma->vm_file->private_data, m);	/* the ring */
}

static const struct vm_operations_struct kchan_ring_vm_ops = {
	.open	= kchan_ring_vma_open,
	.close	= kchan_ring_vma_close,
};

/* The control page has nothing to count; its VMA only holds the file. */
static const struct vm_operations_struct kchan_ctrl_vm_ops = {};

/* Give the calling process a map id for @vma, or count one more VMA. */
static int kchan_mapper_add(struct kchan_shring *r, struct vm_area_struct *vma)
{
	struct kchan_mapper *m;
	int id;

	mutex_lock(&r->map_lock);
	m = kchan_mapper_find(r, vma->vm_mm);
	if (m)
		m->vmas++;
	mutex_unlock(&r->map_lock);
	if (m)
		goto out;

	/* No race with ourselves: our mmap_lock is held for writing. */
	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (!m)
		return -ENOMEM;
	id = ida_alloc_range(&r->map_ids, 1, KCHAN_MAP_ID_MAX, GFP_KERNEL);
	if (id < 0) {
		kfree(m);
		return id == -ENOSPC ? -ENOSPC : -ENOMEM;
	}
	m->mm = vma->vm_mm;
	m->vmas = 1;
	m->id = id;
	mutex_lock(&r->map_lock);
	list_add(&m->node, &r->mappers);
	mutex_unlock(&r->map_lock);
out:
	vma->vm_private_data = m;
	return 0;
}

/* Undo kchan_mapper_add() when the mapping fails after it. */
static void kchan_mapper_undo(struct kchan_shring *r, struct vm_area_struct *vma)
{
	struct kchan_mapper *m = vma->vm_private_data;

	vma->vm_private_data = NULL;
	if (!--m->vmas)
		kchan_mapper_gone(r, m);
}

/**
 * kchan_map_readonly() - map pages only the kernel writes, read-only for
 * good
 * @vma: the new mapping, covering exactly @n pages
 * @file: what the mapping holds instead of the descriptor's file: the
 *	owner of @pages
 * @pages: the pages
 * @n: how many
 *
 * Return: 0, -EINVAL (another length), -EPERM (writable or executable),
 * or an error of vm_insert_pages().
 */
int kchan_map_readonly(struct vm_area_struct *vma, struct file *file,
		       struct page **pages, unsigned long n)
{
	if (vma_pages(vma) != n)
		return -EINVAL;
	/* The kernel's pages: nobody else writes them, now or later. */
	if (vma->vm_flags & (VM_WRITE | VM_EXEC))
		return -EPERM;
	kchan_vma_set_flags(vma, VM_DONTCOPY | VM_DONTEXPAND,
			    VM_MAYWRITE | VM_MAYEXEC);
	vma_set_file(vma, file);
	return vm_insert_pages(vma, vma->vm_start, pages, &n);
}

static int kchan_map_ctrl(struct kchan_shring *r, struct vm_area_struct *vma)
{
	vma->vm_ops = &kchan_ctrl_vm_ops;
	return kchan_map_readonly(vma, r->file, r->pages, 1);
}

static int kchan_map_ring(struct kchan_shring *r, struct vm_area_struct *vma)
{
	unsigned long n = r->nr_pages - 1;
	int ret;

	if (vma_pages(vma) != n)
		return -EINVAL;
	/* A private copy of the ring would be a ring of its own. */
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	kchan_vma_set_flags(vma, VM_DONTCOPY | VM_DONTEXPAND, VM_MAYEXEC);
	ret = kchan_mapper_add(r, vma);
	if (ret)
		return ret;
	ret = vm_insert_pages(vma, vma->vm_start, r->pages + 1, &n);
	if (ret) {
		kchan_mapper_undo(r, vma);
		return ret;
	}
	vma_set_file(vma, r->file);
	/* From here on, vm_ops->close() drops the VMA's count. */
	vma->vm_ops = &kchan_ring_vm_ops;
	return 0;
}

/**
 * kchan_chan_mmap() - mmap(2) of a channel descriptor
 * @file: the channel's file
 * @vma: the new mapping, its process's mmap_lock held for writing
 *
 * Return: 0, -ENODEV (not mappable), -EINVAL (offset, length or
 * %MAP_PRIVATE ring), -EPERM (a writable or executable control page, an
 * executable ring), -ENOSPC (no map id left) or -ENOMEM.
 */
int kchan_chan_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct kchan *ch = file->private_data;

	if (!ch->shr)
		return -ENODEV;
	switch (vma->vm_pgoff) {
	case 0:
		return kchan_map_ctrl(ch->shr, vma);
	case 1:
		return kchan_map_ring(ch->shr, vma);
	default:
		return -EINVAL;
	}
}

/**
 * kchan_ioctl_map_info() - the %KCHAN_IOC_MAP_INFO ioctl
 * @ch: the channel
 * @uinfo: struct kchan_map_info in user memory
 *
 * Return: 0, -ENODEV (not mappable), -EFAULT, -EINVAL or -E2BIG.
 */
long kchan_ioctl_map_info(struct kchan *ch, struct kchan_map_info __user *uinfo)
{
	struct kchan_shring *r = ch->shr;
	struct kchan_map_info info;
	struct kchan_mapper *m;
	u32 usize;
	int ret;

	if (!r)
		return -ENODEV;
	ret = kchan_copy_out_size(&uinfo->size, sizeof(info),
				  KCHAN_MAP_INFO_SIZE_VER0, &usize);
	if (ret < 0)
		return ret;

	memset(&info, 0, sizeof(info));
	info.size = ret;
	info.control_offset = KCHAN_MAP_CONTROL;
	info.control_size = PAGE_SIZE;
	info.ring_offset = PAGE_SIZE;
	info.ring_size = (u64)(r->nr_pages - 1) << PAGE_SHIFT;
	info.cookie = r->ctrl->cookie;
	mutex_lock(&r->map_lock);
	m = kchan_mapper_find(r, current->mm);
	if (m)
		info.map_id = m->id;
	mutex_unlock(&r->map_lock);

	return kchan_copy_out(uinfo, &info, sizeof(info), usize);
}
