// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: the mapped form of a broadcast channel - its ring's pages, their
 * control page, and the mappings of subscribers (uapi DOC: Mapped
 * subscribers; Documentation/design/fastpath.rst, "Broadcast").
 *
 * A broadcast channel created with %KCHAN_MAPPABLE keeps its elements in
 * pages allocated one by one and mapped for the kernel with vmap():
 *
 *	page 0		the control page, struct kchan_bcast_map_ctrl
 *	page 1 ...	the ring's elements (struct kchan.ring.slots)
 *
 * Only the kernel writes them; every subscriber maps them read-only for
 * good (VM_MAYWRITE cleared).  Each mapped subscriber also maps a cursor
 * page of its own, read-write, which bcast.c reads as a hint.  The pages
 * belong to struct kchan_bcmap, which its own file owns ("[kchan_bcast_
 * ring]", never a descriptor): the channel holds the file, and so does
 * every mapping (vma_set_file()), so the pages live until the channel is
 * gone and the last mapping too.  A mapping holds neither the channel nor
 * the subscriber: closing a subscriber's last descriptor unsubscribes it,
 * mapped or not.
 *
 * Locking: the control page's positions and state are written under the
 * channel's lock (bcast.c); @send_waiters with atomic operations, since a
 * lockless poll arms it; a cursor page's @fd_closes atomically, from
 * ->flush().  The mmap handler and a cursor mapping's ->close() take no
 * channel lock: they run under the process's mmap_lock, which the channel
 * lock's holders take across page faults.  ->close() reaches the channel
 * through struct kchan_bcmap.ch, under @ch_lock (a spinlock taken with no
 * other lock of kchan's), and leaves its wake to a worker.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/vmalloc.h>

#include <linux/kchan.h>

#include "compat.h"
#include "kchan.h"

static_assert(sizeof(struct kchan_bcast_map_ctrl) <= PAGE_SIZE);
static_assert(offsetof(struct kchan_bcast_map_ctrl, head) == 64);
static_assert(offsetof(struct kchan_bcast_map_ctrl, send_waiters) == 128);

/* Bit 31 of the waiter word: a poll of the broadcast descriptor waits. */
#define KCHAN_BCMAP_ARMED	KCHAN_MAP_WAITERS_ARMED

/**
 * struct kchan_bcmap - the pages of a mapped broadcast channel's ring
 * @pages: the control page, then the elements' pages.
 * @nr_pages: how many.
 * @base: the kernel's mapping of @pages.
 * @ctrl: the control page, at @base.
 * @file: owns this; held by the channel and by every mapping.
 * @ch_lock: guards @ch.
 * @ch: the channel, while it lives; cleared when it is discarded, so
 *	that a mapping outliving it never reaches it.
 */
struct kchan_bcmap {
	struct page **pages;
	unsigned int nr_pages;
	void *base;
	struct kchan_bcast_map_ctrl *ctrl;
	struct file *file;
	spinlock_t ch_lock;	/* guards @ch */
	struct kchan *ch;
};

/**
 * kchan_bcmap_bytes() - the pages a mapped broadcast ring takes
 * @elem_size: bytes per element, validated
 * @capacity: elements, validated
 * @bytes: out: the control page and the elements, in whole pages
 *
 * Return: 0, or -EINVAL if the size overflows.
 */
int kchan_bcmap_bytes(u32 elem_size, u32 capacity, size_t *bytes)
{
	size_t elems;

	if (check_mul_overflow((size_t)elem_size, (size_t)capacity, &elems) ||
	    check_add_overflow(elems, PAGE_SIZE - 1 + PAGE_SIZE, bytes))
		return -EINVAL;
	*bytes &= PAGE_MASK;
	return 0;
}

static void kchan_bcmap_free(struct kchan_bcmap *m)
{
	kchan_free_mappable(m->base, m->pages, m->nr_pages);
	kfree(m);
}

static int kchan_bcmap_file_release(struct inode *inode, struct file *file)
{
	kchan_bcmap_free(file->private_data);
	return 0;
}

/* The pages' own file: never a descriptor, only what mappings hold. */
static const struct file_operations kchan_bcmap_fops = {
	.owner		= THIS_MODULE,
	.release	= kchan_bcmap_file_release,
};

/**
 * kchan_bcmap_new() - allocate the pages of a mapped broadcast ring
 * @elem_size: bytes per element, validated
 * @capacity: elements, validated, at least 1
 * @lossy: whether the channel is %KCHAN_LOSSY
 *
 * The pages are zeroed (user space sees them) and charged to the caller's
 * memory cgroup.
 *
 * Return: the ring's pages, or ERR_PTR(-EINVAL), ERR_PTR(-ENOMEM) or
 * ERR_PTR(-EINTR) (killed while allocating).
 */
struct kchan_bcmap *kchan_bcmap_new(u32 elem_size, u32 capacity, bool lossy)
{
	struct kchan_bcast_map_ctrl *c;
	struct kchan_bcmap *m;
	struct file *file;
	size_t bytes;
	int ret;

	ret = kchan_bcmap_bytes(elem_size, capacity, &bytes);
	if (ret)
		return ERR_PTR(ret);
	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (!m)
		return ERR_PTR(-ENOMEM);
	m->nr_pages = bytes >> PAGE_SHIFT;
	m->base = kchan_alloc_mappable(m->nr_pages, &m->pages);
	if (IS_ERR(m->base)) {
		ret = PTR_ERR(m->base);
		kfree(m);
		return ERR_PTR(ret);
	}
	c = m->base;
	c->magic = KCHAN_BCAST_MAP_MAGIC;
	c->version = KCHAN_MAP_VERSION;
	c->elem_size = elem_size;
	c->capacity = capacity;
	c->flags = lossy ? KCHAN_LOSSY : 0;
	c->elems_offset = PAGE_SIZE;
	m->ctrl = c;
	spin_lock_init(&m->ch_lock);

	file = anon_inode_getfile("[kchan_bcast_ring]", &kchan_bcmap_fops, m,
				  O_RDWR);
	if (IS_ERR(file)) {
		ret = PTR_ERR(file);
		kchan_bcmap_free(m);
		return ERR_PTR(ret);
	}
	m->file = file;
	return m;
}

/**
 * kchan_bcmap_attach() - tell a mapped ring its channel
 * @m: the ring's pages, not mapped yet
 * @ch: the broadcast channel that owns them, not reachable yet
 *
 * Nothing can read @m->ch before the channel's descriptor exists, so no
 * lock: kchan_bcmap_put() clears it under @ch_lock.
 */
void kchan_bcmap_attach(struct kchan_bcmap *m, struct kchan *ch)
{
	m->ch = ch;
}

/**
 * kchan_bcmap_put() - the channel is done with its mapped ring
 * @m: the ring's pages, or NULL
 *
 * The channel is being discarded: mappings that outlive it no longer
 * reach it.  The pages are freed now, or when their last mapping goes.
 */
void kchan_bcmap_put(struct kchan_bcmap *m)
{
	if (!m)
		return;
	spin_lock(&m->ch_lock);
	m->ch = NULL;
	spin_unlock(&m->ch_lock);
	fput(m->file);
}

/*
 * A process's cursor mapping goes (munmap(2), exit).  It may have moved
 * the cursor - room for a blocked sender, a change for an armed poller -
 * and died before its %KCHAN_IOC_WAKE: if anyone waits, do the wake in a
 * worker, since the channel lock is not taken under mmap_lock.
 */
static void kchan_bcmap_cursor_close(struct vm_area_struct *vma)
{
	struct kchan_bcmap *m = vma->vm_file->private_data;
	struct kchan *ch;

	if (!atomic_read((atomic_t *)&m->ctrl->send_waiters))
		return;		/* the common exit: nobody to tell */
	spin_lock(&m->ch_lock);
	ch = m->ch;
	if (ch && !kref_get_unless_zero(&ch->refs))
		ch = NULL;
	spin_unlock(&m->ch_lock);
	if (ch)
		kchan_defer_call(ch, kchan_bcast_mapper_gone);
}

static const struct vm_operations_struct kchan_bcmap_cursor_vm_ops = {
	.close	= kchan_bcmap_cursor_close,
};

/**
 * kchan_bcmap_elems() - where the ring's elements are, for the kernel
 * @m: the ring's pages
 *
 * Return: element 0.
 */
u8 *kchan_bcmap_elems(struct kchan_bcmap *m)
{
	return (u8 *)m->base + PAGE_SIZE;
}

/**
 * kchan_bcmap_set_head() - publish the oldest position held
 * @m: the ring's pages
 * @head: the position
 *
 * Called under the channel lock before a lossy send overwrites the
 * elements below @head: a subscriber that copied one of them and then
 * reads @head sees that it may have been overwritten.
 */
void kchan_bcmap_set_head(struct kchan_bcmap *m, u64 head)
{
	WRITE_ONCE(m->ctrl->head, head);
	/*
	 * @head before the elements: pairs with the subscriber's acquire
	 * fence between its copy and its second read of @head.
	 */
	smp_wmb();
}

/**
 * kchan_bcmap_set_tail() - publish the elements sent up to @tail
 * @m: the ring's pages
 * @tail: the position of the next element sent
 *
 * Called under the channel lock after the elements are in the ring.
 */
void kchan_bcmap_set_tail(struct kchan_bcmap *m, u64 tail)
{
	/* The elements before @tail: pairs with the subscriber's acquire. */
	smp_store_release(&m->ctrl->tail, tail);
}

/**
 * kchan_bcmap_set_closed() - tell the subscribers the channel is closed
 * @m: the ring's pages
 */
void kchan_bcmap_set_closed(struct kchan_bcmap *m)
{
	WRITE_ONCE(m->ctrl->state, KCHAN_MAP_CLOSED);
}

/**
 * kchan_bcmap_count_close() - a mapped subscriber's descriptor was closed
 * @word: the subscriber's cursor word (struct kchan_sub_map_cursor)
 */
void kchan_bcmap_count_close(u64 *word)
{
	struct kchan_sub_map_cursor *c =
		container_of(word, struct kchan_sub_map_cursor, cursor);

	/* Only a hint for libraries: the page is the subscriber's to write. */
	atomic_inc((atomic_t *)&c->fd_closes);
}

/**
 * kchan_bcmap_set_senders() - publish how many senders wait for room
 * @m: the ring's pages
 * @nr: blocked senders (struct kchan.sendq.nr), under the channel lock
 *
 * Return: true when senders wait now and did not before; then, after an
 * smp_mb(), the caller looks at the cursors again (pairs with the full
 * barrier between a subscriber's cursor move and its read of
 * @send_waiters): from there on every cursor move is told.
 */
bool kchan_bcmap_set_senders(struct kchan_bcmap *m, u32 nr)
{
	atomic_t *word = (atomic_t *)&m->ctrl->send_waiters;
	u32 old = atomic_read(word), new;

	nr &= ~KCHAN_BCMAP_ARMED;
	do {
		new = (old & KCHAN_BCMAP_ARMED) | nr;
		if (new == old)
			return false;
	} while (!atomic_try_cmpxchg(word, &old, new));
	if (!nr || (old & ~KCHAN_BCMAP_ARMED))
		return false;
	/* The count before the cursors are read again: see above. */
	smp_mb();
	return true;
}

/**
 * kchan_bcmap_arm() - a poll of the broadcast descriptor waits for room
 * @m: the ring's pages
 *
 * A subscriber that moves its cursor then calls %KCHAN_IOC_WAKE.  Followed
 * by smp_mb(): the caller looks at the cursors again afterwards.
 */
void kchan_bcmap_arm(struct kchan_bcmap *m)
{
	atomic_or(KCHAN_BCMAP_ARMED, (atomic_t *)&m->ctrl->send_waiters);
	/* Armed before the cursors are read again: as kchan_bcmap_set_senders(). */
	smp_mb__after_atomic();
}

/**
 * kchan_bcmap_disarm() - the armed polls are about to be woken
 * @m: the ring's pages
 *
 * Return: whether the word was armed.
 */
bool kchan_bcmap_disarm(struct kchan_bcmap *m)
{
	return atomic_fetch_andnot(KCHAN_BCMAP_ARMED,
				   (atomic_t *)&m->ctrl->send_waiters) &
	       KCHAN_BCMAP_ARMED;
}

/**
 * kchan_bcmap_cursor_page() - a subscriber's cursor page, made on demand
 * @pagep: the subscriber's pointer to it; set once, never cleared
 *
 * The page is made with its cursor word all ones - no position, which the
 * kernel replaces with the subscriber's cursor at its next operation on
 * the subscriber - and published with a compare-and-swap: two first
 * mappings racing keep one page.
 *
 * Return: the page, or NULL when out of memory.
 */
struct page *kchan_bcmap_cursor_page(struct page **pagep)
{
	struct page *page = READ_ONCE(*pagep), *old;

	if (page)
		return page;
	page = kchan_alloc_page();
	if (!page)
		return NULL;
	*(u64 *)page_address(page) = U64_MAX;
	/* The word before the pointer: pairs with kchan_sub_word()'s acquire. */
	old = cmpxchg_release(pagep, NULL, page);
	if (old) {
		put_page(page);
		return old;
	}
	return page;
}

static int kchan_bcmap_map_cursor(struct kchan_bcmap *m, struct page *page,
				  struct vm_area_struct *vma)
{
	if (vma_pages(vma) != 1)
		return -EINVAL;
	/* A private copy of the cursor would be a cursor nobody reads. */
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	kchan_vma_set_flags(vma, VM_DONTCOPY | VM_DONTEXPAND, VM_MAYEXEC);
	vma_set_file(vma, m->file);
	vma->vm_ops = &kchan_bcmap_cursor_vm_ops;
	return vm_insert_page(vma, vma->vm_start, page);
}

/**
 * kchan_bcmap_mmap() - mmap(2) of a mapped subscriber's descriptor
 * @m: its channel's pages
 * @cursor_page: the subscriber's pointer to its cursor page
 * @vma: the new mapping, its process's mmap_lock held for writing
 *
 * Return: 0, -EINVAL (offset, length, or a %MAP_PRIVATE cursor), -EPERM
 * (writable or executable elements, an executable cursor) or -ENOMEM.
 */
int kchan_bcmap_mmap(struct kchan_bcmap *m, struct page **cursor_page,
		     struct vm_area_struct *vma)
{
	struct page *page;

	if (vma->vm_pgoff == 0)
		return kchan_map_readonly(vma, m->file, m->pages, m->nr_pages);
	if (vma->vm_pgoff != m->nr_pages)
		return -EINVAL;
	page = kchan_bcmap_cursor_page(cursor_page);
	if (!page)
		return -ENOMEM;
	return kchan_bcmap_map_cursor(m, page, vma);
}

/**
 * kchan_bcmap_map_info() - %KCHAN_IOC_MAP_INFO on a mapped subscriber
 * @m: its channel's pages
 * @cookie: the subscriber's identity
 * @uinfo: struct kchan_map_info in user memory
 *
 * Return: 0, -EFAULT, -EINVAL or -E2BIG.
 */
long kchan_bcmap_map_info(struct kchan_bcmap *m, u64 cookie,
			  struct kchan_map_info __user *uinfo)
{
	struct kchan_map_info info;
	u32 usize;
	int ret;

	ret = kchan_copy_out_size(&uinfo->size, sizeof(info),
				  KCHAN_MAP_INFO_SIZE_VER0, &usize);
	if (ret < 0)
		return ret;
	memset(&info, 0, sizeof(info));
	info.size = ret;
	info.control_offset = KCHAN_MAP_CONTROL;
	info.control_size = (u64)m->nr_pages << PAGE_SHIFT;
	info.ring_offset = info.control_size;
	info.ring_size = PAGE_SIZE;
	info.cookie = cookie;
	return kchan_copy_out(uinfo, &info, sizeof(info), usize);
}
