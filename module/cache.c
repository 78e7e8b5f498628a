// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: memory - the slab caches, how every allocation is charged, and
 * the allocation counter.
 *
 * Every byte kchan allocates for a channel is charged to the creating
 * task's memory cgroup (SLAB_ACCOUNT caches, __GFP_ACCOUNT); the one
 * exception is limits.c's small per-user count entry.  Allocations sized by
 * user space - rings, parked elements, select bookkeeping - also carry
 * __GFP_RETRY_MAYFAIL, so that a cgroup at its memory.max gets -ENOMEM
 * back instead of an OOM kill.
 *
 * Channel objects and small parked elements (struct kchan_msg) come from
 * dedicated caches, created at module load and destroyed at unload; SLUB
 * serves them from per-CPU slabs.  Larger elements fall back to kvmalloc().
 *
 * kchan_nr_allocs counts every allocation made here - all but the per-user
 * count entries - so a test can prove that the steady state of send and
 * receive allocates nothing.  It is
 * a per-CPU counter: no lock, summed when read.
 */
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/percpu.h>
#include <linux/slab.h>

#include "kchan.h"

/* User-sized memory: charged, and failing rather than OOM-killing. */
#define KCHAN_GFP	(GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL | __GFP_NOWARN)

/* Objects of kchan_msg_cachep hold elements up to this size inline. */
#define KCHAN_MSG_CACHE_OBJ	256
#define KCHAN_MSG_CACHED_SIZE	(KCHAN_MSG_CACHE_OBJ - sizeof(struct kchan_msg))

static struct kmem_cache *kchan_chan_cachep;
static struct kmem_cache *kchan_msg_cachep;
static DEFINE_PER_CPU(unsigned long, kchan_nr_allocs);
/*
 * One freed small message per CPU, kept for the next task that blocks
 * there: a ping-pong blocks on every message, and this spares it the slab
 * round trip with its memory cgroup charge (the kernel's answer to Go's
 * sync.Pool).  The object stays charged to the cgroup that first
 * allocated it: at most one 256-byte object per CPU.
 */
static DEFINE_PER_CPU(struct kchan_msg *, kchan_msg_spare);

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
 * kchan_alloc() - allocate user-sized memory, charged to the caller
 * @size: bytes
 * @zero: clear the memory
 *
 * Return: the memory, or NULL; free with kvfree().
 */
void *kchan_alloc(size_t size, bool zero)
{
	kchan_count_alloc();
	return kvmalloc(size, KCHAN_GFP | (zero ? __GFP_ZERO : 0));
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

/**
 * kchan_chan_free() - free a channel object
 * @ch: from kchan_chan_alloc()
 */
void kchan_chan_free(struct kchan *ch)
{
	kmem_cache_free(kchan_chan_cachep, ch);
}

/**
 * kchan_msg_alloc() - allocate a buffer for one element outside the ring
 * @ch: the channel whose element size it takes
 *
 * Return: the message, or NULL; free with kchan_msg_free().
 */
struct kchan_msg *kchan_msg_alloc(const struct kchan *ch)
{
	u32 esz = ch->ring.elem_size;
	struct kchan_msg *msg;

	if (esz <= KCHAN_MSG_CACHED_SIZE) {
		msg = this_cpu_xchg(kchan_msg_spare, NULL);
		if (!msg) {
			kchan_count_alloc();
			msg = kmem_cache_alloc(kchan_msg_cachep, KCHAN_GFP);
		}
	} else {
		msg = kchan_alloc(struct_size(msg, data, esz), false);
	}
	if (msg)
		INIT_LIST_HEAD(&msg->node);
	return msg;
}

/**
 * kchan_msg_free() - free a message buffer
 * @ch: the channel it was allocated for
 * @msg: from kchan_msg_alloc(), or NULL
 */
void kchan_msg_free(const struct kchan *ch, struct kchan_msg *msg)
{
	if (!msg)
		return;
	if (ch->ring.elem_size > KCHAN_MSG_CACHED_SIZE)
		kvfree(msg);
	else if (this_cpu_cmpxchg(kchan_msg_spare, NULL, msg))
		kmem_cache_free(kchan_msg_cachep, msg);
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
		return -ENOMEM;
	/* Elements are copied to and from user memory: whitelist @data. */
	kchan_msg_cachep =
		kmem_cache_create_usercopy("kchan_msg", KCHAN_MSG_CACHE_OBJ, 0,
					   SLAB_HWCACHE_ALIGN | SLAB_ACCOUNT,
					   offsetof(struct kchan_msg, data),
					   KCHAN_MSG_CACHED_SIZE, NULL);
	if (!kchan_msg_cachep) {
		kmem_cache_destroy(kchan_chan_cachep);
		return -ENOMEM;
	}
	return 0;
}

/**
 * kchan_cache_exit() - destroy the slab caches, at module unload
 */
void kchan_cache_exit(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct kchan_msg *msg = per_cpu(kchan_msg_spare, cpu);

		if (msg)
			kmem_cache_free(kchan_msg_cachep, msg);
	}
	kmem_cache_destroy(kchan_msg_cachep);
	kmem_cache_destroy(kchan_chan_cachep);
}
