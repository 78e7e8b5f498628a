// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: memory - the slab caches, how every allocation is charged, and
 * the allocation counter.
 *
 * Every byte kchan allocates for a channel is charged to the allocating
 * task's memory cgroup (SLAB_ACCOUNT caches, __GFP_ACCOUNT), and the bytes
 * that user space sizes - rings, parked elements, select bookkeeping - to
 * a per-user budget as well (limits.c): a user that no memory.max bounds
 * is still bounded.  (The one exception is the small work item of an
 * element given back by a killed receiver, wait.c: rare, bounded by the
 * killed tasks, and not allowed to fail.)
 *
 * Allocations sized by user space fail rather than OOM-kill: the memory
 * cgroup charge carries __GFP_RETRY_MAYFAIL, so a cgroup at its memory.max
 * gets -ENOMEM back.  (The exception is kchan_msg_copy(), __GFP_NOFAIL:
 * the element it copies must not be lost.)  Above a page, kchan_alloc()
 * tries kmalloc() only lightly (__GFP_NORETRY, as kvmalloc() would without
 * the retry flag) and falls back to vmalloc() - order-0 pages - so that a
 * parked 64 KiB element, allocated under a channel lock, never waits for
 * compaction.
 *
 * Dedicated caches, created at module load and destroyed at unload, hold
 * channel objects (kchan), small parked elements (kchan_msg), the waits of
 * blocked calls with up to four cases (kchan_wait), a plain blocked send
 * or receive with its element of up to KCHAN_WAIT1_INLINE bytes in one
 * object (kchan_wait1) and the per-call bookkeeping of large selects
 * (kchan_scratch); SLUB serves them from per-CPU slabs.  Larger ones come
 * from kchan_alloc().
 *
 * Each CPU keeps one freed object of each of the last four caches for the
 * next task that needs one there (kchan_msg_spare, kchan_wait_spare,
 * kchan_wait1_spare, kchan_scratch_spare; the kernel's answer to Go's
 * sync.Pool): a ping-pong blocks on every message and a fan-in server
 * selects over many channels for every message, and a spare saves them a
 * slab round trip with its memory cgroup charge and, with init_on_alloc
 * (Debian's default), the zeroing.  A spare stays charged to the cgroup
 * that first allocated it - 256 + 2 * 512 bytes and KCHAN_SCRATCH_BYTES
 * per CPU at most - and to no budget while it waits.  The percpu_spare
 * parameter (on by default) turns all four off; a spare hides a use after
 * free of its object from KASAN, so the debug lane runs with
 * percpu_spare=0.
 *
 * kchan_nr_allocs counts every allocation made here - all but the per-user
 * budget entries and the work item of a give-back (wait.c) - so a test
 * can prove that the steady state of send and
 * receive allocates nothing.  It is a per-CPU counter: no lock, summed when
 * read.
 */
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/overflow.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "kchan.h"

/* User-sized memory: charged, and failing rather than OOM-killing. */
#define KCHAN_GFP	(GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL | __GFP_NOWARN)
/* The kmalloc() attempt above a page: light, vmalloc() takes over. */
#define KCHAN_GFP_LIGHT	(GFP_KERNEL_ACCOUNT | __GFP_NORETRY | __GFP_NOWARN)

/* Objects of kchan_msg_cachep hold elements up to this size inline. */
#define KCHAN_MSG_CACHE_OBJ	256
#define KCHAN_MSG_CACHED_SIZE	(KCHAN_MSG_CACHE_OBJ - sizeof(struct kchan_msg))
/* Objects of kchan_wait_cachep hold the waits of up to this many cases. */
#define KCHAN_WAIT_CACHED_CASES	4
/*
 * Objects of kchan_wait1_cachep hold the wait of one case and its element:
 * a plain blocked send or receive allocates one object, as it always has.
 */
#define KCHAN_WAIT1_OBJ		512
#define KCHAN_WAIT1_MSG_OFF	ALIGN(struct_size_t(struct kchan_wait, waiters, 1), 8)
#define KCHAN_WAIT1_INLINE	(KCHAN_WAIT1_OBJ - KCHAN_WAIT1_MSG_OFF - \
				 sizeof(struct kchan_msg))

static bool percpu_spare = true;
module_param(percpu_spare, bool, 0644);
MODULE_PARM_DESC(percpu_spare,
		 "Keep one freed message, wait and select scratch per CPU for reuse (default on; off for KASAN runs)");

static struct kmem_cache *kchan_chan_cachep;
static struct kmem_cache *kchan_msg_cachep;
static struct kmem_cache *kchan_wait_cachep;
static struct kmem_cache *kchan_wait1_cachep;
static struct kmem_cache *kchan_scratch_cachep;
static DEFINE_PER_CPU(unsigned long, kchan_nr_allocs);
static DEFINE_PER_CPU(struct kchan_msg *, kchan_msg_spare);
static DEFINE_PER_CPU(struct kchan_wait *, kchan_wait_spare);
static DEFINE_PER_CPU(struct kchan_wait *, kchan_wait1_spare);
static DEFINE_PER_CPU(void *, kchan_scratch_spare);

static void kchan_count_alloc(void)
{
	this_cpu_inc(kchan_nr_allocs);
}

/**
 * kchan_allocations() - allocations made since the module was loaded
 *
 * Return: the sum of the per-CPU counters; concurrent allocations may or
 * may not be included.
 */
unsigned long kchan_allocations(void)
{
	unsigned long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += per_cpu(kchan_nr_allocs, cpu);
	return sum;
}

/**
 * kchan_alloc_page() - a zeroed page that user space may map, charged to
 *	the caller
 *
 * For a shared ring (shring.c): zeroed, since user space will see it; at
 * memory.max the allocation fails rather than OOM-kill.
 *
 * Return: the page, or NULL; free with put_page().
 */
struct page *kchan_alloc_page(void)
{
	kchan_count_alloc();
	return alloc_page(KCHAN_GFP | __GFP_ZERO);
}

/**
 * kchan_alloc_mappable() - zeroed, charged pages that user space may map,
 *	and the kernel's contiguous mapping of them
 * @nr: how many pages, at least 1
 * @pagesp: out: the array of the @nr pages
 *
 * For the rings user space maps (shring.c, bcmap.c): each page comes from
 * kchan_alloc_page(), so that it can be inserted into user mappings one by
 * one, and vmap() lays them out for the kernel.  A ring of many megabytes
 * takes a while to allocate page by page: a task being killed stops.
 * Free with kchan_free_mappable().
 *
 * Return: the kernel's mapping, or ERR_PTR(-ENOMEM) or ERR_PTR(-EINTR).
 */
void *kchan_alloc_mappable(unsigned int nr, struct page ***pagesp)
{
	struct page **pages;
	unsigned int i;
	void *base;
	int ret = -ENOMEM;

	pages = kchan_alloc(array_size(nr, sizeof(*pages)), true);
	if (!pages)
		return ERR_PTR(-ENOMEM);
	for (i = 0; i < nr; i++) {
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			goto out_free;
		}
		pages[i] = kchan_alloc_page();
		if (!pages[i])
			goto out_free;
	}
	base = vmap(pages, nr, VM_MAP, PAGE_KERNEL);
	if (!base)
		goto out_free;
	*pagesp = pages;
	return base;

out_free:
	while (i--)
		put_page(pages[i]);
	kvfree(pages);
	return ERR_PTR(ret);
}

/**
 * kchan_free_mappable() - undo kchan_alloc_mappable()
 * @base: its mapping
 * @pages: its pages
 * @nr: how many
 *
 * A page still mapped into user space stays until its last mapping goes:
 * this drops the allocation's reference only.
 */
void kchan_free_mappable(void *base, struct page **pages, unsigned int nr)
{
	unsigned int i;

	vunmap(base);
	for (i = 0; i < nr; i++)
		put_page(pages[i]);
	kvfree(pages);
}

/**
 * kchan_alloc() - allocate user-sized memory, charged to the caller
 * @size: bytes
 * @zero: clear the memory
 *
 * Return: the memory, or NULL; free with kvfree().
 */
void *kchan_alloc(size_t size, bool zero)
{
	gfp_t zflag = zero ? __GFP_ZERO : 0;
	void *p;

	kchan_count_alloc();
	if (size <= PAGE_SIZE)
		return kmalloc(size, KCHAN_GFP | zflag);
	p = kmalloc(size, KCHAN_GFP_LIGHT | zflag);
	return p ?: __vmalloc(size, KCHAN_GFP | zflag);
}

/**
 * kchan_chan_alloc() - allocate a zeroed channel object
 *
 * Return: the channel, or NULL; free with kchan_chan_free().
 */
struct kchan *kchan_chan_alloc(void)
{
	kchan_count_alloc();
	return kmem_cache_zalloc(kchan_chan_cachep, KCHAN_GFP);
}

static void kchan_chan_free_rcu(struct rcu_head *rcu)
{
	kmem_cache_free(kchan_chan_cachep, container_of(rcu, struct kchan, rcu));
}

/**
 * kchan_chan_free() - free a channel object after an RCU grace period
 * @ch: from kchan_chan_alloc()
 *
 * /proc/kchan looks channels up under rcu_read_lock() (proc.c).
 */
void kchan_chan_free(struct kchan *ch)
{
	call_rcu(&ch->rcu, kchan_chan_free_rcu);
}

/* Take this CPU's spare, if sparing is on. */
#define kchan_take_spare(spare)						\
	(READ_ONCE(percpu_spare) ? this_cpu_xchg(spare, NULL) : NULL)

/* Keep @obj as this CPU's spare; false if it must be freed instead. */
#define kchan_keep_spare(spare, obj)					\
	(READ_ONCE(percpu_spare) && !this_cpu_cmpxchg(spare, NULL, obj))

/* The bytes a message of @esz takes, as charged to its budget. */
static size_t kchan_msg_bytes(u32 esz)
{
	return esz <= KCHAN_MSG_CACHED_SIZE ? KCHAN_MSG_CACHE_OBJ :
					      struct_size_t(struct kchan_msg, data, esz);
}

/**
 * kchan_msg_alloc() - allocate a buffer for one element outside the ring
 * @ch: the channel whose element size it takes and whose budget pays
 *
 * Return: the message, or ERR_PTR(-ENOSPC) when the budget is spent or
 * ERR_PTR(-ENOMEM); free with kchan_msg_free().
 */
struct kchan_msg *kchan_msg_alloc(const struct kchan *ch)
{
	u32 esz = ch->ring.elem_size;
	size_t bytes = kchan_msg_bytes(esz);
	struct kchan_msg *msg;

	if (kchan_budget_charge(ch->user, bytes))
		return ERR_PTR(-ENOSPC);
	if (esz <= KCHAN_MSG_CACHED_SIZE) {
		msg = kchan_take_spare(kchan_msg_spare);
		if (!msg) {
			kchan_count_alloc();
			msg = kmem_cache_alloc(kchan_msg_cachep, KCHAN_GFP);
		}
	} else {
		msg = kchan_alloc(bytes, false);
	}
	if (!msg) {
		kchan_budget_uncharge(ch->user, bytes);
		return ERR_PTR(-ENOMEM);
	}
	INIT_LIST_HEAD(&msg->node);
	msg->user = ch->user;
	msg->size = esz;
	return msg;
}

/**
 * kchan_msg_free() - free a message buffer
 * @msg: from kchan_msg_alloc(), or NULL
 */
void kchan_msg_free(struct kchan_msg *msg)
{
	if (!msg)
		return;
	kchan_budget_uncharge(msg->user, kchan_msg_bytes(msg->size));
	if (msg->size > KCHAN_MSG_CACHED_SIZE)
		kvfree(msg);
	else if (!kchan_keep_spare(kchan_msg_spare, msg))
		kmem_cache_free(kchan_msg_cachep, msg);
}

/**
 * kchan_wait_alloc() - allocate the wait of a call about to block
 * @nr: its number of cases, at least 1
 * @user: the budget to charge, or NULL (a wait of one case: a constant per
 *	blocked task)
 *
 * Only @nr, @user and @charged are set, and the waiters' @msg to NULL.
 *
 * Return: the wait, or ERR_PTR(-ENOSPC) or ERR_PTR(-ENOMEM); free with
 * kchan_wait_free().
 */
struct kchan_wait *kchan_wait_alloc(u32 nr, struct kchan_user *user)
{
	size_t bytes = struct_size_t(struct kchan_wait, waiters, nr);
	struct kchan_wait *wait;
	u32 i;

	if (nr <= KCHAN_WAIT_CACHED_CASES)
		bytes = struct_size_t(struct kchan_wait, waiters,
				      KCHAN_WAIT_CACHED_CASES);
	if (user && kchan_budget_charge(user, bytes))
		return ERR_PTR(-ENOSPC);
	if (nr <= KCHAN_WAIT_CACHED_CASES) {
		wait = kchan_take_spare(kchan_wait_spare);
		if (!wait) {
			kchan_count_alloc();
			wait = kmem_cache_alloc(kchan_wait_cachep, KCHAN_GFP);
		}
	} else {
		wait = kchan_alloc(bytes, false);
	}
	if (!wait) {
		if (user)
			kchan_budget_uncharge(user, bytes);
		return ERR_PTR(-ENOMEM);
	}
	wait->kind = nr <= KCHAN_WAIT_CACHED_CASES ? KCHAN_WAIT_CACHED :
						     KCHAN_WAIT_HEAP;
	wait->nr = nr;
	wait->user = user;
	wait->charged = user ? bytes : 0;
	for (i = 0; i < nr; i++)
		wait->waiters[i].msg = NULL;
	return wait;
}

/* The element of a %KCHAN_WAIT_ONE wait, in the same object. */
static struct kchan_msg *kchan_wait1_msg(const struct kchan_wait *wait)
{
	return (struct kchan_msg *)((u8 *)wait + KCHAN_WAIT1_MSG_OFF);
}

/**
 * kchan_wait1_max_elem() - the largest element kchan_wait1_alloc() holds
 *
 * Return: the size in bytes.
 */
u32 kchan_wait1_max_elem(void)
{
	return KCHAN_WAIT1_INLINE;
}

/**
 * kchan_wait1_alloc() - the wait of a plain blocked send or receive, with
 * its element in the same object
 * @ch: the channel, whose elements are at most kchan_wait1_max_elem()
 *	bytes and whose budget pays for the element as for a message
 *
 * The wait's one waiter's @msg is set; the rest as kchan_wait_alloc().
 * The element cannot outlive the wait: kchan_msg_copy() takes a copy.
 *
 * Return: the wait, or ERR_PTR(-ENOSPC) or ERR_PTR(-ENOMEM).
 */
struct kchan_wait *kchan_wait1_alloc(const struct kchan *ch)
{
	size_t bytes = kchan_msg_bytes(ch->ring.elem_size);
	struct kchan_wait *wait;
	struct kchan_msg *msg;

	if (kchan_budget_charge(ch->user, bytes))
		return ERR_PTR(-ENOSPC);
	wait = kchan_take_spare(kchan_wait1_spare);
	if (!wait) {
		kchan_count_alloc();
		wait = kmem_cache_alloc(kchan_wait1_cachep, KCHAN_GFP);
		if (!wait) {
			kchan_budget_uncharge(ch->user, bytes);
			return ERR_PTR(-ENOMEM);
		}
	}
	wait->kind = KCHAN_WAIT_ONE;
	wait->nr = 1;
	wait->user = NULL;
	wait->charged = 0;
	msg = kchan_wait1_msg(wait);
	INIT_LIST_HEAD(&msg->node);
	msg->user = ch->user;
	msg->size = ch->ring.elem_size;
	wait->waiters[0].msg = msg;
	return wait;
}

/**
 * kchan_msg_inline() - whether a message lives in its wait's object
 * @wait: the wait
 * @msg: one of its waiters' messages
 *
 * Return: true if @msg cannot outlive @wait.
 */
bool kchan_msg_inline(const struct kchan_wait *wait,
		      const struct kchan_msg *msg)
{
	return wait->kind == KCHAN_WAIT_ONE && msg == kchan_wait1_msg(wait);
}

/**
 * kchan_msg_from_data() - a message holding a copy of an element
 * @ch: the channel of the element
 * @data: the element, struct kchan.ring.elem_size bytes in kernel memory
 *
 * For an element that must not be lost: the allocation does not fail and
 * the budget is charged whatever it holds.
 *
 * Return: the copy; free with kchan_msg_free().
 */
struct kchan_msg *kchan_msg_from_data(const struct kchan *ch, const void *data)
{
	u32 esz = ch->ring.elem_size;
	size_t bytes = kchan_msg_bytes(esz);
	struct kchan_msg *msg;

	kchan_budget_charge_anyway(ch->user, bytes);
	if (esz <= KCHAN_MSG_CACHED_SIZE) {
		msg = kchan_take_spare(kchan_msg_spare);
		if (!msg) {
			kchan_count_alloc();
			msg = kmem_cache_alloc(kchan_msg_cachep,
					       GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
		}
	} else {
		kchan_count_alloc();
		msg = kvmalloc(bytes, GFP_KERNEL_ACCOUNT | __GFP_NOFAIL);
	}
	INIT_LIST_HEAD(&msg->node);
	msg->user = ch->user;
	msg->size = esz;
	memcpy(msg->data, data, esz);
	return msg;
}

/**
 * kchan_msg_copy() - a message of its own holding the element of @src
 * @ch: the channel of the element
 * @src: the element, e.g. one that lives in a wait (kchan_msg_inline())
 *
 * As kchan_msg_from_data().
 *
 * Return: the copy; free with kchan_msg_free().
 */
struct kchan_msg *kchan_msg_copy(const struct kchan *ch,
				 const struct kchan_msg *src)
{
	return kchan_msg_from_data(ch, src->data);
}

/**
 * kchan_wait_free() - free a wait and its waiters' messages
 * @wait: from kchan_wait_alloc()
 */
void kchan_wait_free(struct kchan_wait *wait)
{
	u32 i;

	for (i = 0; i < wait->nr; i++) {
		struct kchan_msg *msg = wait->waiters[i].msg;

		if (msg && kchan_msg_inline(wait, msg))
			kchan_budget_uncharge(msg->user,
					      kchan_msg_bytes(msg->size));
		else
			kchan_msg_free(msg);
	}
	if (wait->user)
		kchan_budget_uncharge(wait->user, wait->charged);
	switch (wait->kind) {
	case KCHAN_WAIT_HEAP:
		kvfree(wait);
		break;
	case KCHAN_WAIT_ONE:
		if (!kchan_keep_spare(kchan_wait1_spare, wait))
			kmem_cache_free(kchan_wait1_cachep, wait);
		break;
	default:
		if (!kchan_keep_spare(kchan_wait_spare, wait))
			kmem_cache_free(kchan_wait_cachep, wait);
	}
}

/**
 * kchan_scratch_alloc() - a scratch object for one call's bookkeeping
 *
 * %KCHAN_SCRATCH_BYTES bytes, not zeroed, whitelisted for user copies;
 * the caller charges its budget.
 *
 * Return: the object, or NULL; free with kchan_scratch_free().
 */
void *kchan_scratch_alloc(void)
{
	void *p = kchan_take_spare(kchan_scratch_spare);

	if (p)
		return p;
	kchan_count_alloc();
	return kmem_cache_alloc(kchan_scratch_cachep, KCHAN_GFP);
}

/**
 * kchan_scratch_free() - free a scratch object
 * @p: from kchan_scratch_alloc()
 */
void kchan_scratch_free(void *p)
{
	if (!kchan_keep_spare(kchan_scratch_spare, p))
		kmem_cache_free(kchan_scratch_cachep, p);
}

/**
 * kchan_cache_init() - create the slab caches, at module load
 *
 * Return: 0 or -ENOMEM.
 */
int kchan_cache_init(void)
{
	kchan_chan_cachep = KMEM_CACHE(kchan, SLAB_HWCACHE_ALIGN | SLAB_ACCOUNT);
	if (!kchan_chan_cachep)
		goto out;
	/* Elements are copied to and from user memory: whitelist @data. */
	kchan_msg_cachep =
		kmem_cache_create_usercopy("kchan_msg", KCHAN_MSG_CACHE_OBJ, 0,
					   SLAB_HWCACHE_ALIGN | SLAB_ACCOUNT,
					   offsetof(struct kchan_msg, data),
					   KCHAN_MSG_CACHED_SIZE, NULL);
	if (!kchan_msg_cachep)
		goto out_chan;
	kchan_wait_cachep =
		kmem_cache_create("kchan_wait",
				  struct_size_t(struct kchan_wait, waiters,
						KCHAN_WAIT_CACHED_CASES),
				  0, SLAB_HWCACHE_ALIGN | SLAB_ACCOUNT, NULL);
	if (!kchan_wait_cachep)
		goto out_msg;
	/* Its element is copied to and from user memory. */
	kchan_wait1_cachep =
		kmem_cache_create_usercopy("kchan_wait1", KCHAN_WAIT1_OBJ, 0,
					   SLAB_HWCACHE_ALIGN | SLAB_ACCOUNT,
					   KCHAN_WAIT1_MSG_OFF +
					   offsetof(struct kchan_msg, data),
					   KCHAN_WAIT1_INLINE, NULL);
	if (!kchan_wait1_cachep)
		goto out_wait;
	/* A select copies its cases from user space into it. */
	kchan_scratch_cachep =
		kmem_cache_create_usercopy("kchan_scratch", KCHAN_SCRATCH_BYTES,
					   0, SLAB_HWCACHE_ALIGN | SLAB_ACCOUNT,
					   0, KCHAN_SCRATCH_BYTES, NULL);
	if (!kchan_scratch_cachep)
		goto out_wait1;
	return 0;

out_wait1:
	kmem_cache_destroy(kchan_wait1_cachep);
out_wait:
	kmem_cache_destroy(kchan_wait_cachep);
out_msg:
	kmem_cache_destroy(kchan_msg_cachep);
out_chan:
	kmem_cache_destroy(kchan_chan_cachep);
out:
	return -ENOMEM;
}

/**
 * kchan_cache_exit() - destroy the slab caches, at module unload
 *
 * Waits for the channels still being freed after an RCU grace period.
 */
void kchan_cache_exit(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct kchan_msg *msg = per_cpu(kchan_msg_spare, cpu);
		struct kchan_wait *wait = per_cpu(kchan_wait_spare, cpu);
		struct kchan_wait *wait1 = per_cpu(kchan_wait1_spare, cpu);
		void *scratch = per_cpu(kchan_scratch_spare, cpu);

		if (msg)
			kmem_cache_free(kchan_msg_cachep, msg);
		if (wait)
			kmem_cache_free(kchan_wait_cachep, wait);
		if (wait1)
			kmem_cache_free(kchan_wait1_cachep, wait1);
		if (scratch)
			kmem_cache_free(kchan_scratch_cachep, scratch);
	}
	rcu_barrier();
	kmem_cache_destroy(kchan_scratch_cachep);
	kmem_cache_destroy(kchan_wait1_cachep);
	kmem_cache_destroy(kchan_wait_cachep);
	kmem_cache_destroy(kchan_msg_cachep);
	kmem_cache_destroy(kchan_chan_cachep);
}
