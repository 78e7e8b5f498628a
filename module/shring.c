// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: the shared ring of a mappable channel.
 *
 * The layout, in pages allocated one by one (so that they can be mapped
 * into user space) and mapped contiguously for the kernel with vmap():
 *
 *	page 0		the control page, struct kchan_map_ctrl
 *	page 1		the position page: head at 0, tail at SMP_CACHE_BYTES
 *	page 2 ...	@capacity slot words, then, cache-line aligned,
 *			@capacity elements
 *
 * The protocol (Documentation/design/fastpath.rst, "Positions"): a sender
 * claims slot EMPTY(p) with a compare-and-swap to WRITING(p, owner),
 * copies its element in and publishes FULL(p) with a release; a receiver
 * claims FULL(p) as READING(p, owner), copies the element out and frees
 * the slot as EMPTY(p + capacity).  head and tail are hints that anyone
 * may move forward.  No lock: the functions here may run concurrently
 * with each other, in any number of tasks, and with user space doing the
 * same on the same pages.  Every value read from the pages is used only
 * as a hint; every loop is bounded by the capacity.
 */
#include <linux/atomic.h>
#include <linux/cache.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "kchan.h"
#include "shring.h"

/* Extra tries of a claim beyond one per slot, for hints moving under it. */
#define KCHAN_SHRING_SLACK	64

/* The pages before the slot words: control and positions. */
#define KCHAN_SHRING_HEADER_PAGES	2

/* struct kchan_map_ctrl is what user space sees of page 0. */
static_assert(sizeof(struct kchan_map_ctrl) <= PAGE_SIZE);
static_assert(offsetof(struct kchan_map_ctrl, recv_waiters) == 64);
static_assert(offsetof(struct kchan_map_ctrl, send_waiters) == 128);

/* Bytes of the slot words, rounded up to a cache line. */
static size_t kchan_shring_slot_bytes(u32 capacity)
{
	return ALIGN((size_t)capacity * sizeof(u64), SMP_CACHE_BYTES);
}

/**
 * kchan_shring_bytes() - the memory a shared ring takes
 * @elem_size: bytes per element
 * @capacity: slots
 * @bytes: out: whole pages, header pages included
 *
 * Return: 0, or -EINVAL if the size overflows.
 */
int kchan_shring_bytes(u32 elem_size, u32 capacity, size_t *bytes)
{
	size_t data;

	if (check_mul_overflow((size_t)elem_size, (size_t)capacity, &data) ||
	    check_add_overflow(data, kchan_shring_slot_bytes(capacity), &data) ||
	    check_add_overflow(data, (size_t)KCHAN_SHRING_HEADER_PAGES *
					 PAGE_SIZE, &data) ||
	    data > SIZE_MAX - PAGE_SIZE)
		return -EINVAL;
	*bytes = PAGE_ALIGN(data);
	return 0;
}

static atomic64_t kchan_cookies = ATOMIC64_INIT(0);

/**
 * kchan_next_cookie() - a new identity for a mapped channel or subscriber
 *
 * Return: a number no other mapped channel or subscriber has had since
 * boot (struct kchan_map_ctrl.cookie, struct kchan_map_info.cookie).
 */
u64 kchan_next_cookie(void)
{
	return atomic64_inc_return(&kchan_cookies);
}

/* What user space needs to follow the protocol: the control page. */
static void kchan_shring_init_ctrl(struct kchan_shring *r)
{
	struct kchan_map_ctrl *c = r->base;

	r->ctrl = c;
	c->magic = KCHAN_MAP_MAGIC;
	c->version = KCHAN_MAP_VERSION;
	c->elem_size = r->elem_size;
	c->capacity = r->capacity;
	c->ring_size = (size_t)(r->nr_pages - 1) << PAGE_SHIFT;
	/* Offsets in the ring mapping, which starts at page 1. */
	c->head_offset = (void *)r->head - r->base - PAGE_SIZE;
	c->tail_offset = (void *)r->tail - r->base - PAGE_SIZE;
	c->slots_offset = (void *)r->slots - r->base - PAGE_SIZE;
	c->elems_offset = (void *)r->elems - r->base - PAGE_SIZE;
	c->cookie = kchan_next_cookie();
}

/**
 * kchan_shring_init() - allocate and lay out an empty shared ring
 * @r: the ring
 * @elem_size: bytes per element, validated against the limits
 * @capacity: slots, validated, at least 1
 *
 * The pages are zeroed (they will be shown to user space) and charged to
 * the current task's memory cgroup.
 *
 * Return: 0, -EINVAL, -ENOMEM or -EINTR (killed while allocating).
 */
int kchan_shring_init(struct kchan_shring *r, u32 elem_size, u32 capacity)
{
	size_t bytes;
	unsigned int i;
	int ret;

	if (!capacity)
		return -EINVAL;
	ret = kchan_shring_bytes(elem_size, capacity, &bytes);
	if (ret)
		return ret;
	r->nr_pages = bytes >> PAGE_SHIFT;
	r->base = kchan_alloc_mappable(r->nr_pages, &r->pages);
	if (IS_ERR(r->base)) {
		ret = PTR_ERR(r->base);
		r->base = NULL;
		r->pages = NULL;
		return ret;
	}

	r->elem_size = elem_size;
	r->capacity = capacity;
	r->closed = false;
	r->head = r->base + PAGE_SIZE;
	r->tail = r->base + PAGE_SIZE + SMP_CACHE_BYTES;
	r->slots = r->base + KCHAN_SHRING_HEADER_PAGES * PAGE_SIZE;
	r->elems = (u8 *)r->slots + kchan_shring_slot_bytes(capacity);
	/* Slot i starts free for position i: EMPTY(i). */
	for (i = 0; i < capacity; i++)
		r->slots[i] = kchan_slot_word(i, KCHAN_SLOT_EMPTY, 0);
	kchan_shring_init_ctrl(r);
	mutex_init(&r->map_lock);
	INIT_LIST_HEAD(&r->mappers);
	ida_init(&r->map_ids);
	return 0;
}

/**
 * kchan_shring_extra() - what a shared ring costs beyond a plain ring
 * @elem_size: bytes per element
 * @capacity: slots
 * @extra: out: the bytes, for the channel's charge
 *
 * Return: 0, or -EINVAL if the size overflows.
 */
int kchan_shring_extra(u32 elem_size, u32 capacity, size_t *extra)
{
	size_t bytes;
	int ret;

	ret = kchan_shring_bytes(elem_size, capacity, &bytes);
	if (ret)
		return ret;
	*extra = sizeof(struct kchan_shring) + bytes -
		 (size_t)elem_size * capacity;
	return 0;
}

/**
 * kchan_shring_new() - allocate a shared ring
 * @elem_size: bytes per element, validated
 * @capacity: slots, validated, at least 1
 *
 * Return: the ring, or ERR_PTR(-EINVAL) or ERR_PTR(-ENOMEM).
 */
struct kchan_shring *kchan_shring_new(u32 elem_size, u32 capacity)
{
	struct kchan_shring *r;
	int ret;

	r = kchan_alloc(sizeof(*r), true);
	if (!r)
		return ERR_PTR(-ENOMEM);
	ret = kchan_shring_init(r, elem_size, capacity);
	if (ret) {
		kvfree(r);
		return ERR_PTR(ret);
	}
	return r;
}

/**
 * kchan_shring_free() - free a ring from kchan_shring_new()
 * @r: the ring, or NULL
 */
void kchan_shring_free(struct kchan_shring *r)
{
	if (!r)
		return;
	kchan_shring_destroy(r);
	kvfree(r);
}

/**
 * kchan_shring_destroy() - drop the kernel's references to the pages
 * @r: a ring set up by kchan_shring_init()
 *
 * A page still mapped into user space lives on until it is unmapped.
 */
void kchan_shring_destroy(struct kchan_shring *r)
{
	if (!r->pages)
		return;
	WARN_ON_ONCE(!list_empty(&r->mappers));
	ida_destroy(&r->map_ids);
	mutex_destroy(&r->map_lock);
	kchan_free_mappable(r->base, r->pages, r->nr_pages);
	r->pages = NULL;
}

/* Move hint @hint from @pos to @pos + 1 unless someone else moved it. */
static void kchan_shring_advance(u64 *hint, u64 pos)
{
	cmpxchg(hint, pos, pos + 1);
}

/*
 * If slot word @w of position @h (at @slot) is a voided claim, free it
 * for the next lap and move the receive hint past it, as a receive that
 * met it would.  Returns whether it was one.
 */
static bool kchan_shring_free_void(struct kchan_shring *r, u64 *slot, u64 h,
				   u64 w)
{
	if (w != kchan_slot_word(h, KCHAN_SLOT_FULL, KCHAN_SLOT_VOID))
		return false;
	if (cmpxchg(slot, w, kchan_slot_word(h + r->capacity,
					     KCHAN_SLOT_EMPTY, 0)) == w)
		kchan_shring_advance(r->head, h);
	return true;
}

/**
 * kchan_shring_claim_send() - claim the next free slot for a send
 * @r: the ring
 * @pos: out: the position claimed
 *
 * The claim is a compare-and-swap, a full barrier, before @closed is
 * read: either this sender sees the close, voids its claim and fails, or
 * the receiver that judges the channel drained (kchan_shring_drained())
 * sees the claim and waits for it.
 *
 * Return: 1 with the slot WRITING (publish or void it), %KCHAN_SHRING_NONE
 * when the ring is full (or its hints are garbage), or -EPIPE when closed.
 */
int kchan_shring_claim_send(struct kchan_shring *r, u64 *pos)
{
	u32 tries = r->capacity + KCHAN_SHRING_SLACK;
	u64 t, w, *slot;

	while (tries--) {
		t = READ_ONCE(*r->tail);
		slot = kchan_shring_slot(r, t);
		/* Pairs with the release of the receiver that freed it. */
		w = smp_load_acquire(slot);
		if (w == kchan_slot_word(t, KCHAN_SLOT_EMPTY, 0)) {
			if (cmpxchg(slot, w, kchan_slot_word(t, KCHAN_SLOT_WRITING,
							     KCHAN_MAP_ID_KERNEL)) != w)
				continue;
			kchan_shring_advance(r->tail, t);
			if (READ_ONCE(r->closed)) {
				kchan_shring_void(r, t);
				return -EPIPE;
			}
			*pos = t;
			return 1;
		}
		if (kchan_slot_is_for(w, t))
			kchan_shring_advance(r->tail, t);	/* claimed: move on */
		else if (kchan_slot_is_for(w, t - r->capacity))
			return READ_ONCE(r->closed) ? -EPIPE : KCHAN_SHRING_NONE;
	}
	return READ_ONCE(r->closed) ? -EPIPE : KCHAN_SHRING_NONE;
}

/**
 * kchan_shring_claim_recv() - claim the oldest element for a receive
 * @r: the ring
 * @pos: out: the position claimed
 *
 * Voided slots met on the way are freed and skipped.
 *
 * Return: 1 with the slot READING (release it), %KCHAN_SHRING_NONE when
 * the ring is empty, or %KCHAN_SHRING_PENDING when the oldest slot is
 * still being written.
 */
int kchan_shring_claim_recv(struct kchan_shring *r, u64 *pos)
{
	u32 tries = r->capacity + KCHAN_SHRING_SLACK;
	u64 h, w, *slot;

	while (tries--) {
		h = READ_ONCE(*r->head);
		slot = kchan_shring_slot(r, h);
		/* Pairs with the release that published the element. */
		w = smp_load_acquire(slot);
		if (w == kchan_slot_word(h, KCHAN_SLOT_FULL, 0)) {
			if (cmpxchg(slot, w, kchan_slot_word(h, KCHAN_SLOT_READING,
							     KCHAN_MAP_ID_KERNEL)) != w)
				continue;
			kchan_shring_advance(r->head, h);
			*pos = h;
			return 1;
		}
		if (kchan_shring_free_void(r, slot, h, w))
			continue;
		if (kchan_slot_is_for(w, h)) {
			switch (kchan_slot_state(w)) {
			case KCHAN_SLOT_EMPTY:
				return KCHAN_SHRING_NONE;
			case KCHAN_SLOT_WRITING:
				return KCHAN_SHRING_PENDING;
			default:	/* taken by another receiver */
				kchan_shring_advance(r->head, h);
			}
		} else if (kchan_slot_is_for(w, h + r->capacity)) {
			kchan_shring_advance(r->head, h);
		}
	}
	return KCHAN_SHRING_NONE;
}

/**
 * kchan_shring_publish() - make a claimed slot's element visible
 * @r: the ring
 * @pos: the position kchan_shring_claim_send() claimed
 */
void kchan_shring_publish(struct kchan_shring *r, u64 pos)
{
	/* Pairs with smp_load_acquire() in kchan_shring_claim_recv(). */
	smp_store_release(kchan_shring_slot(r, pos),
			  kchan_slot_word(pos, KCHAN_SLOT_FULL, 0));
}

/*
 * Free the voided slots at the head, as a receive would, so that a send
 * that sent nothing leaves nothing that counts in the length.
 */
static void kchan_shring_skip_voids(struct kchan_shring *r)
{
	u32 tries = r->capacity;
	u64 h, *slot;

	while (tries--) {
		h = READ_ONCE(*r->head);
		slot = kchan_shring_slot(r, h);
		if (!kchan_shring_free_void(r, slot, h, READ_ONCE(*slot)))
			return;
	}
}

/**
 * kchan_shring_void() - give up a send's claim: the slot holds nothing
 * @r: the ring
 * @pos: the position kchan_shring_claim_send() claimed
 */
void kchan_shring_void(struct kchan_shring *r, u64 pos)
{
	/*
	 * Whatever was copied in stays unread: a release like a publish,
	 * paired with smp_load_acquire() in kchan_shring_claim_recv().
	 */
	smp_store_release(kchan_shring_slot(r, pos),
			  kchan_slot_word(pos, KCHAN_SLOT_FULL, KCHAN_SLOT_VOID));
	kchan_shring_skip_voids(r);
}

/**
 * kchan_shring_release() - free a received slot for the next lap
 * @r: the ring
 * @pos: the position kchan_shring_claim_recv() claimed
 */
void kchan_shring_release(struct kchan_shring *r, u64 pos)
{
	/*
	 * The element was copied out before the slot is free again.  Pairs
	 * with smp_load_acquire() in kchan_shring_claim_send().
	 */
	smp_store_release(kchan_shring_slot(r, pos),
			  kchan_slot_word(pos + r->capacity, KCHAN_SLOT_EMPTY, 0));
}

/**
 * kchan_shring_drained() - whether a closed ring has nothing left
 * @r: the ring, @closed set
 *
 * @closed was read before this: the full barrier orders that read before
 * the slot's, so a sender that claimed after the slot was read sees
 * @closed (kchan_shring_claim_send()).
 *
 * Return: true if the oldest slot is free for its position.
 */
bool kchan_shring_drained(struct kchan_shring *r)
{
	smp_mb();	/* pairs with the claim's cmpxchg() before @closed */
	return kchan_shring_empty(r);
}

/**
 * kchan_shring_len() - the elements in the ring (a hint)
 * @r: the ring
 *
 * Return: tail - head, clamped to [0, capacity].
 */
u32 kchan_shring_len(struct kchan_shring *r)
{
	s64 n = READ_ONCE(*r->tail) - READ_ONCE(*r->head);

	return clamp_t(s64, n, 0, r->capacity);
}

/**
 * kchan_shring_sent() - the positions sent so far (a hint)
 * @r: the ring
 *
 * Return: the send position.
 */
u64 kchan_shring_sent(struct kchan_shring *r)
{
	return READ_ONCE(*r->tail);
}

/**
 * kchan_shring_taken() - the positions received (or skipped) so far (a hint)
 * @r: the ring
 *
 * Return: the receive position.
 */
u64 kchan_shring_taken(struct kchan_shring *r)
{
	return READ_ONCE(*r->head);
}

/**
 * kchan_shring_set_closed() - close the ring for senders
 * @r: the ring; the caller holds the channel lock
 *
 * Senders that claim after this see it; the caller wakes everybody.
 */
void kchan_shring_set_closed(struct kchan_shring *r)
{
	WRITE_ONCE(r->closed, true);
	WRITE_ONCE(r->ctrl->state, READ_ONCE(r->ctrl->state) | KCHAN_MAP_CLOSED);
	smp_mb();	/* pairs with the claim's cmpxchg() before @closed */
}

/**
 * kchan_shring_set_returned() - tell user space whether elements given
 * back wait at the front of the channel
 * @r: the ring; the caller holds the channel lock
 * @returned: whether any does
 *
 * A receive in user space that sees %KCHAN_MAP_RETURNED goes through the
 * kernel, which hands those out first.
 */
void kchan_shring_set_returned(struct kchan_shring *r, bool returned)
{
	u32 state = READ_ONCE(r->ctrl->state) & ~KCHAN_MAP_RETURNED;

	WRITE_ONCE(r->ctrl->state, state | (returned ? KCHAN_MAP_RETURNED : 0));
}

/**
 * kchan_shring_repair() - undo the claims of a process that is gone
 * @r: the ring
 * @owner: the map id the process had, no longer used by anyone
 *
 * A send claimed and not published never happened: its slot becomes a
 * void, which receives skip.  A receive claimed and not finished did
 * happen (the claim is its commit point): its slot is freed for the next
 * lap.  One pass over the slot words; a word that changes under the pass
 * was not the dead process's to change.
 *
 * Return: the number of claims repaired.
 */
u32 kchan_shring_repair(struct kchan_shring *r, u16 owner)
{
	u32 i, repaired = 0;
	u64 w, pos, to;

	for (i = 0; i < r->capacity; i++) {
		w = READ_ONCE(r->slots[i]);
		if (kchan_slot_owner(w) != owner)
			continue;
		pos = w >> KCHAN_SLOT_POS_SHIFT;
		switch (kchan_slot_state(w)) {
		case KCHAN_SLOT_WRITING:
			to = kchan_slot_word(pos, KCHAN_SLOT_FULL, KCHAN_SLOT_VOID);
			break;
		case KCHAN_SLOT_READING:
			to = kchan_slot_word(pos + r->capacity, KCHAN_SLOT_EMPTY, 0);
			break;
		default:
			continue;
		}
		/* A release as a publish or free is; see there. */
		if (cmpxchg_release(&r->slots[i], w, to) == w)
			repaired++;
		cond_resched();
	}
	kchan_shring_skip_voids(r);
	return repaired;
}
