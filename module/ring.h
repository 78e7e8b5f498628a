/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kchan: the bounded ring that stores a buffered channel's elements inline.
 *
 * The ring is a plain array of @capacity slots of @elem_size bytes, allocated
 * once when the channel is created; no element is ever allocated on its own.
 * @head (the consumer's position) and @tail (the producer's) are 64-bit
 * counts that never wrap in practice (2^64 elements); their difference is
 * the length and each maps to a slot modulo @capacity, which need not be a
 * power of two, as in Go.  (32-bit counts would wrap, and 2^32 is not a
 * multiple of every capacity.)  They sit on separate cache lines.  Both
 * are written only under the owning channel's lock (struct kchan.lock);
 * the only lockless reader is kchan_ring_len(), used by /proc/kchan.
 */
#ifndef _KCHAN_RING_H
#define _KCHAN_RING_H

#include <linux/cache.h>
#include <linux/compiler.h>
#include <linux/math64.h>
#include <linux/minmax.h>
#include <linux/types.h>

/**
 * struct kchan_ring - fixed-size FIFO of equally sized elements
 * @slots: @capacity * @elem_size bytes, or NULL when @capacity is 0.
 * @elem_size: bytes per element, 1 to KCHAN_ELEM_SIZE_MAX.
 * @capacity: number of slots.
 * @head: count of elements ever taken out.
 * @tail: count of elements ever put in; @tail - @head is the number
 *	queued, in [0, @capacity].
 *
 * @head and @tail are guarded by the owning channel's lock.
 */
struct kchan_ring {
	u8 *slots;
	u32 elem_size;
	u32 capacity;
	u64 head ____cacheline_aligned_in_smp;
	u64 tail ____cacheline_aligned_in_smp;
};

int kchan_ring_init(struct kchan_ring *ring, u32 elem_size, u32 capacity);
void kchan_ring_destroy(struct kchan_ring *ring);

/* Number of queued elements; the channel lock is held. */
static inline u32 kchan_ring_count(const struct kchan_ring *ring)
{
	return (u32)(ring->tail - ring->head);
}

static inline bool kchan_ring_empty(const struct kchan_ring *ring)
{
	return ring->tail == ring->head;
}

static inline bool kchan_ring_full(const struct kchan_ring *ring)
{
	return kchan_ring_count(ring) == ring->capacity;
}

/*
 * Lockless snapshot of the length, for /proc/kchan.  The two positions are read
 * one after the other, so the pair may mix an older and a newer value;
 * clamping keeps the answer within the ring, and every change is followed
 * by a poll wake-up that makes the poller look again.
 */
static inline u32 kchan_ring_len(const struct kchan_ring *ring)
{
	u64 head = READ_ONCE(ring->head);
	u64 tail = READ_ONCE(ring->tail);

	return min_t(u64, tail - head, ring->capacity);
}

static inline u8 *kchan_ring_slot(const struct kchan_ring *ring, u64 pos)
{
	u32 slot;

	div_u64_rem(pos, ring->capacity, &slot);
	return ring->slots + (size_t)slot * ring->elem_size;
}

/* The oldest element; the ring must not be empty. */
static inline u8 *kchan_ring_front(const struct kchan_ring *ring)
{
	return kchan_ring_slot(ring, ring->head);
}

/* The free slot after the newest element; the ring must not be full. */
static inline u8 *kchan_ring_back(const struct kchan_ring *ring)
{
	return kchan_ring_slot(ring, ring->tail);
}

/* Publish the slot returned by kchan_ring_back() as the newest element. */
static inline void kchan_ring_push(struct kchan_ring *ring)
{
	WRITE_ONCE(ring->tail, ring->tail + 1);
}

/* Drop the oldest element, returned by kchan_ring_front(). */
static inline void kchan_ring_pop(struct kchan_ring *ring)
{
	WRITE_ONCE(ring->head, ring->head + 1);
}

#endif /* _KCHAN_RING_H */
