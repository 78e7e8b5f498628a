// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: allocation of a channel's ring.
 *
 * The ring's storage is allocated once, at channel creation, and charged to
 * the creating task's memory cgroup (cache.c).  Locking is the owner's business: see
 * ring.h.
 */
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>

#include "kchan.h"

/**
 * kchan_ring_init() - allocate the storage of an empty ring
 * @ring: the ring to set up
 * @elem_size: bytes per element (non-zero)
 * @capacity: number of slots; 0 makes a ring that is always full and empty
 *
 * The caller has validated both values against the ABI limits; the product
 * is still checked so that no caller can make it wrap.
 *
 * Return: 0, -EINVAL if the size overflows, or -ENOMEM.
 */
int kchan_ring_init(struct kchan_ring *ring, u32 elem_size, u32 capacity)
{
	size_t bytes;

	if (check_mul_overflow((size_t)elem_size, (size_t)capacity, &bytes))
		return -EINVAL;

	ring->elem_size = elem_size;
	ring->capacity = capacity;
	ring->head = 0;
	ring->tail = 0;
	ring->slots = NULL;
	if (!bytes)
		return 0;

	ring->slots = kchan_alloc(bytes, false);
	return ring->slots ? 0 : -ENOMEM;
}

/**
 * kchan_ring_destroy() - free a ring's storage
 * @ring: a ring set up by kchan_ring_init(); queued elements are discarded
 */
void kchan_ring_destroy(struct kchan_ring *ring)
{
	kvfree(ring->slots);
	ring->slots = NULL;
}
