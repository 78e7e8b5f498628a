/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kchan: the bounded ring that stores a buffered channel's elements inline.
 *
 * The ring is a plain array of @capacity slots of @elem_size bytes, allocated
 * once when the channel is created; no element is ever allocated on its own.
 * @head indexes the oldest element and @len counts the queued ones, so head
 * and length are always read and written together under the owning
 * channel's lock (struct kchan.lock).  The only lockless reader is
 * kchan_ring_len(), used by poll.
 */
#ifndef _KCHAN_RING_H
#define _KCHAN_RING_H

#include <linux/compiler.h>
#include <linux/types.h>

/**
 * struct kchan_ring - fixed-size FIFO of equally sized elements
 * @slots: @capacity * @elem_size bytes, or NULL when @capacity is 0.
 * @elem_size: bytes per element, 1 to KCHAN_ELEM_SIZE_MAX.
 * @capacity: number of slots.
 * @head: slot index of the oldest queued element, in [0, @capacity).
 * @len: number of queued elements, in [0, @capacity].
 *
 * @head and @len are guarded by the owning channel's lock.
 */
struct kchan_ring {
	u8 *slots;
	u32 elem_size;
	u32 capacity;
	u32 head;
	u32 len;
};

int kchan_ring_init(struct kchan_ring *ring, u32 elem_size, u32 capacity);
void kchan_ring_destroy(struct kchan_ring *ring);

static inline bool kchan_ring_empty(const struct kchan_ring *ring)
{
	return ring->len == 0;
}

static inline bool kchan_ring_full(const struct kchan_ring *ring)
{
	return ring->len == ring->capacity;
}

/* Lockless snapshot of the length, for poll and info: may be stale. */
static inline u32 kchan_ring_len(const struct kchan_ring *ring)
{
	return READ_ONCE(ring->len);
}

static inline u8 *kchan_ring_slot(const struct kchan_ring *ring, u32 index)
{
	u32 pos = ring->head + index;

	if (pos >= ring->capacity)
		pos -= ring->capacity;
	return ring->slots + (size_t)pos * ring->elem_size;
}

/* The oldest element; the ring must not be empty. */
static inline u8 *kchan_ring_front(const struct kchan_ring *ring)
{
	return kchan_ring_slot(ring, 0);
}

/* The free slot after the newest element; the ring must not be full. */
static inline u8 *kchan_ring_back(const struct kchan_ring *ring)
{
	return kchan_ring_slot(ring, ring->len);
}

/* Publish the slot returned by kchan_ring_back() as the newest element. */
static inline void kchan_ring_push(struct kchan_ring *ring)
{
	WRITE_ONCE(ring->len, ring->len + 1);
}

/* Drop the oldest element, returned by kchan_ring_front(). */
static inline void kchan_ring_pop(struct kchan_ring *ring)
{
	ring->head = ring->head + 1 == ring->capacity ? 0 : ring->head + 1;
	WRITE_ONCE(ring->len, ring->len - 1);
}

#endif /* _KCHAN_RING_H */
