/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kchan: the shared ring of a mappable channel - the data structure and
 * the lock-free protocol of Documentation/design/fastpath.rst.
 *
 * The ring lives in pages that user space may map and write, so nothing
 * in them is trusted: positions are reduced modulo the capacity the kernel
 * owns, slot words are only compared and swapped, every loop is bounded.
 * struct kchan_shring itself is kernel memory and read-only after
 * kchan_shring_init(), except @closed (set once, under the channel lock).
 * The protocol needs no lock; the channel lock only serialises the waits.
 */
#ifndef _KCHAN_SHRING_H
#define _KCHAN_SHRING_H

#include <linux/bits.h>
#include <linux/idr.h>
#include <linux/list.h>
#include <linux/math64.h>
#include <linux/mutex.h>
#include <linux/types.h>

struct page;

/*
 * A slot word: bits 63..18 the position (mod 2^46) the slot is for, 17..16
 * its state, 15..0 the owner (the map id of the claimer; 0 the kernel).
 */
#define KCHAN_SLOT_POS_SHIFT	18
#define KCHAN_SLOT_STATE_SHIFT	16
#define KCHAN_SLOT_POS_MASK	(BIT_ULL(64 - KCHAN_SLOT_POS_SHIFT) - 1)
#define KCHAN_SLOT_OWNER_MASK	0xffffU

#define KCHAN_SLOT_EMPTY	0U	/* free for the sender of its position */
#define KCHAN_SLOT_WRITING	1U	/* claimed by a sender */
#define KCHAN_SLOT_FULL		2U	/* holds the element of its position */
#define KCHAN_SLOT_READING	3U	/* claimed by a receiver */

/* The owner field of a FULL slot whose claim was voided: no element. */
#define KCHAN_SLOT_VOID		1U

/* The kernel's map id: its claims are never voided. */
#define KCHAN_MAP_ID_KERNEL	0U
/* The map ids of processes: 1 to this. */
#define KCHAN_MAP_ID_MAX	0xfffeU

/* The waiter words (shwake.c): blocked tasks, and a poller armed. */
#define KCHAN_WAITERS_COUNT	0x7fffffffU
#define KCHAN_WAITERS_ARMED	KCHAN_MAP_WAITERS_ARMED

struct kchan;
struct kchan_map_ctrl;

/**
 * struct kchan_shring - a channel's ring in shared pages
 * @pages: the pages, @nr_pages of them, each charged to the creator's
 *	memory cgroup and zeroed.
 * @nr_pages: how many.
 * @base: the kernel's mapping of @pages (vmap()).
 * @ctrl: the control page, which user space maps read-only; the kernel
 *	writes @ctrl->state and the waiter words under the channel lock.
 * @head: the receive position hint, in the position page.
 * @tail: the send position hint, on its own cache line.
 * @slots: @capacity slot words.
 * @elems: @capacity elements of @elem_size bytes.
 * @elem_size: bytes per element, the kernel's copy.
 * @capacity: slots, at least 1, the kernel's copy.
 * @closed: the channel was closed; read after a claim (see
 *	kchan_shring_claim_send()).
 * @map_lock: guards @mappers and @ch (shmap.c).  Taken with the mapping
 *	process's mmap_lock held, never with the channel lock.
 * @mappers: the processes with the ring mapped, struct kchan_mapper.
 * @map_ids: hands out their map ids, 1 to %KCHAN_MAP_ID_MAX.
 * @file: the file the mappings hold (shmap.c), which owns the ring: the
 *	channel holds one reference until it is destroyed, each mapping
 *	another; the last one frees the ring.  NULL until set up.
 * @ch: the channel, while it lives; cleared under @map_lock when it is
 *	destroyed, so that a mapping outliving it never reaches it.
 */
struct kchan_shring {
	struct page **pages;
	unsigned int nr_pages;
	void *base;
	struct kchan_map_ctrl *ctrl;
	u64 *head;
	u64 *tail;
	u64 *slots;
	u8 *elems;
	u32 elem_size;
	u32 capacity;
	bool closed;
	struct mutex map_lock;	/* guards @mappers and @ch */
	struct list_head mappers;
	struct ida map_ids;
	struct file *file;
	struct kchan *ch;
};

/* Results of the claims, besides 1 (claimed). */
#define KCHAN_SHRING_NONE	0	/* full (send) or empty (receive) */
#define KCHAN_SHRING_PENDING	2	/* receive: the next slot is being written */

int kchan_shring_bytes(u32 elem_size, u32 capacity, size_t *bytes);
int kchan_shring_extra(u32 elem_size, u32 capacity, size_t *extra);
struct kchan_shring *kchan_shring_new(u32 elem_size, u32 capacity);
void kchan_shring_free(struct kchan_shring *r);
int kchan_shring_init(struct kchan_shring *r, u32 elem_size, u32 capacity);
void kchan_shring_destroy(struct kchan_shring *r);
int kchan_shring_claim_send(struct kchan_shring *r, u64 *pos);
int kchan_shring_claim_recv(struct kchan_shring *r, u64 *pos);
void kchan_shring_publish(struct kchan_shring *r, u64 pos);
void kchan_shring_void(struct kchan_shring *r, u64 pos);
void kchan_shring_release(struct kchan_shring *r, u64 pos);
bool kchan_shring_drained(struct kchan_shring *r);
u32 kchan_shring_len(struct kchan_shring *r);
u64 kchan_shring_sent(struct kchan_shring *r);
u64 kchan_shring_taken(struct kchan_shring *r);
void kchan_shring_set_closed(struct kchan_shring *r);
void kchan_shring_set_returned(struct kchan_shring *r, bool returned);
u32 kchan_shring_repair(struct kchan_shring *r, u16 owner);

/*
 * The ring's words, and the predicates the lock-holding paths ask on
 * every operation: inline, for the kernel path of a mapped channel costs
 * what a plain channel's does (the ping-pong of make bench).
 */
static inline u64 kchan_slot_word(u64 pos, u32 state, u32 owner)
{
	return pos << KCHAN_SLOT_POS_SHIFT |
	       (u64)state << KCHAN_SLOT_STATE_SHIFT | owner;
}

static inline u32 kchan_slot_state(u64 word)
{
	return (word >> KCHAN_SLOT_STATE_SHIFT) & 3;
}

static inline u16 kchan_slot_owner(u64 word)
{
	return word & KCHAN_SLOT_OWNER_MASK;
}

/* Whether slot word @word is for position @pos (modulo 2^46). */
static inline bool kchan_slot_is_for(u64 word, u64 pos)
{
	return (word >> KCHAN_SLOT_POS_SHIFT) == (pos & KCHAN_SLOT_POS_MASK);
}

static inline u64 *kchan_shring_slot(const struct kchan_shring *r, u64 pos)
{
	u32 i;

	div_u64_rem(pos, r->capacity, &i);
	return &r->slots[i];
}

/**
 * kchan_shring_readable() - whether a receive may find something (a hint)
 * @r: the ring
 *
 * Return: true if the oldest slot holds an element (or a voided claim,
 * which a receive skips).
 */
static inline bool kchan_shring_readable(struct kchan_shring *r)
{
	u64 h = READ_ONCE(*r->head);
	u64 w = READ_ONCE(*kchan_shring_slot(r, h));

	return kchan_slot_is_for(w, h) &&
	       kchan_slot_state(w) == KCHAN_SLOT_FULL;
}

/**
 * kchan_shring_empty() - whether the ring holds nothing, not even an
 * element being written (a hint)
 * @r: the ring
 *
 * Return: true if the oldest slot is free for its position: no position
 * from there on was claimed (a send claims positions in order).
 */
static inline bool kchan_shring_empty(struct kchan_shring *r)
{
	u64 h = READ_ONCE(*r->head);

	return READ_ONCE(*kchan_shring_slot(r, h)) ==
	       kchan_slot_word(h, KCHAN_SLOT_EMPTY, 0);
}

/**
 * kchan_shring_writable() - whether a send may find room (a hint)
 * @r: the ring
 *
 * Return: true unless the slot at the send hint still holds the previous
 * lap.
 */
static inline bool kchan_shring_writable(struct kchan_shring *r)
{
	u64 t = READ_ONCE(*r->tail);
	u64 w = READ_ONCE(*kchan_shring_slot(r, t));

	return !kchan_slot_is_for(w, t - r->capacity);
}

/* The element of position @pos. */
static inline u8 *kchan_shring_elem(const struct kchan_shring *r, u64 pos)
{
	u32 i;

	div_u64_rem(pos, r->capacity, &i);
	return r->elems + (size_t)i * r->elem_size;
}

#endif /* _KCHAN_SHRING_H */
