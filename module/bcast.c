// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: broadcast channels - one ring, many subscribers, each with a
 * cursor of its own.
 *
 * A broadcast channel is a struct kchan whose @bc points here: its ring
 * stores each element once, at the free-running position @tail, and its
 * end (struct kchan.end) is the send end, the broadcast descriptor.  Each
 * subscriber is a struct kchan_sub with a descriptor of its own: a receive
 * end (its @end, whose @ch is the broadcast's channel) and a 64-bit
 * @cursor, the position of the next element it receives.  The ring knows
 * no subscribers; which slots are free follows from the cursors alone, so
 * there are no per-slot reference counts.  Positions are 64-bit counts
 * that never wrap in practice, so a slot is never mistaken for another
 * (no ABA).
 *
 * Lossless (the default): a send needs room, tail - min(cursor) <
 * capacity.  The minimum is cached in @min_cursor with the number of
 * subscribers standing at it (@min_count); a subscriber that moves off it
 * decrements the count, and only when the count reaches zero - the slowest
 * moved - is the minimum found again, by a walk over the subscribers, and
 * only if someone wants room now (a blocked sender, or a poller of the
 * broadcast descriptor); otherwise at the next send that finds the cache
 * full (the LMAX Disruptor's gating sequence).  So a send that finds room
 * costs the same whatever the number of subscribers.  Blocked senders park
 * their element and are served in the order they blocked: whoever makes
 * room (a receive by the slowest subscriber, an unsubscribe) moves their
 * elements into the ring (kchan_bcast_refill()), as a receive of a plain
 * channel does.
 *
 * Lossy (%KCHAN_LOSSY): a send never waits; when the ring is full it
 * overwrites the oldest element, moving @head (the oldest held) on.  A
 * subscriber whose cursor fell behind @head gets -EOVERFLOW from its next
 * receive, which adds the gap to its @lost and moves its cursor to @head:
 * loss is never silent.
 *
 * Wake-ups.  A subscriber that can receive nothing and is waited on - a
 * blocked receive or select (a nudged waiter on its poll_wq, wait.c), a
 * poller, a selector case - is on the channel's @sleepers list.  A send
 * takes the sleepers off the list and, after dropping the channel lock,
 * wakes their poll_wq in batches of %KCHAN_BCAST_WAKE_BATCH, the list's
 * lock dropped between batches, as tokio's broadcast does: each sleeping
 * subscriber is woken once per change from empty to not empty, and a
 * subscriber that is not waited on costs a send nothing.  A woken receiver
 * tries again (%KCHAN_RETRY): with each subscriber its own cursor, nothing
 * is handed over.
 *
 * Locking: the channel's lock (struct kchan.lock) guards the ring's
 * positions, every subscriber's @cursor, @lost and @node, @subs, the gate
 * (@min_cursor, @min_count) and the blocked senders (struct kchan.sendq).
 * @sleep_lock, a spinlock, guards @sleepers and every subscriber's
 * @sleep_node; it is taken under the channel lock by a send and alone by a
 * poller, and nothing is taken under it.  Lockless readers (poll, select's
 * and the selector's hints) read @tail, @head, @closed and a cursor with
 * READ_ONCE(); their writers use WRITE_ONCE() under the channel lock.
 */
#include <linux/anon_inodes.h>
#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/math64.h>
#include <linux/minmax.h>
#include <linux/poll.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>

#include <linux/kchan.h>

#include "compat.h"
#include "kchan.h"
#include "trace.h"

/* Sleeping subscribers woken per pass of the list's lock. */
#define KCHAN_BCAST_WAKE_BATCH	32

/**
 * struct kchan_bcast - the broadcast part of a struct kchan
 * @ch: the channel it is part of.
 * @subs: the subscribers (struct kchan_sub.node).
 * @nr_subs: how many.
 * @last_sub_id: the last subscriber id handed out; ids start at 1.
 * @min_cursor: lossless: the cursor of the slowest subscriber, exact while
 *	@min_count is not zero, never above the real minimum - of cursors
 *	counted no lower than a ring behind the tail (the gate's floor: only
 *	a mapped word moved back by user space goes below it).
 * @min_count: subscribers whose cursor is @min_cursor; 0 when the cache
 *	is stale.
 * @lossy: %KCHAN_LOSSY; set at creation, then read-only.
 * @news: elements arrived (or the channel closed) since the sleepers were
 *	last woken: the next unlock wakes them.
 * @lost: elements lost by all subscribers.
 *
 * @nr_subs and @lost are written with WRITE_ONCE() for /proc/kchan,
 * which reads them without the lock (kchan_bcast_proc_show()).
 * @sleep_lock: guards @sleepers.
 * @sleepers: subscribers to wake at the next send (struct
 *	kchan_sub.sleep_node).
 * @release: closes the channel when the broadcast descriptor is released
 *	and the channel lock is out of reach (kchan_bcast_release()).
 * @map: the ring's pages of a %KCHAN_MAPPABLE channel (bcmap.c), else
 *	NULL; set at creation.
 * @has_mapped: a subscriber has mapped its cursor: cursors move outside
 *	the kernel, so @min_count may be stale.  Set once, without the lock.
 *
 * All but @sleepers and @has_mapped are guarded by the channel's lock.
 */
struct kchan_bcast {
	struct kchan *ch;
	struct list_head subs;
	u32 nr_subs;
	u32 last_sub_id;
	u64 min_cursor;
	u32 min_count;
	bool lossy;
	bool news;
	u64 lost;
	spinlock_t sleep_lock;	/* guards @sleepers */
	struct list_head sleepers;
	struct work_struct release;
	struct kchan_bcmap *map;
	bool has_mapped;
};

/**
 * struct kchan_sub - one subscriber of a broadcast channel
 * @end: its receive end; @end.ch is the broadcast's channel, referenced.
 * @node: on the channel's @subs, under its lock; empty once unsubscribed.
 * @sleep_node: on the channel's @sleepers, under @sleep_lock; empty
 *	while it is not.
 * @cursor: the position of the next element it receives; under the
 *	channel lock, WRITE_ONCE(), read locklessly by poll.
 * @lost: elements it missed (lossy); under the channel lock.
 * @recvs: elements it received; under the channel lock.
 * @id: its id among the channel's subscribers, from 1.
 * @pid: the subscribing process, for fdinfo.
 * @user: the budget it is charged to.
 * @refs: its file's reference and a selector wait's.
 * @release: unsubscribes it when its file is released and the channel
 *	lock is out of reach (kchan_sub_release()).
 * @cursor_page: a mapped subscriber's cursor page, whose first word user
 *	space moves as it receives (a hint: kchan_sub_sync()); NULL until
 *	first mapped, then set for good.  (Nothing else: 192 bytes, the
 *	kmalloc size, keep a subscriber at a quarter of a pipe.)
 * @cookie: a mappable subscriber's identity, for %KCHAN_IOC_MAP_INFO.
 */
struct kchan_sub {
	struct kchan_end end;
	struct list_head node;
	struct list_head sleep_node;
	u64 cursor;
	u64 lost;
	u64 recvs;
	u32 id;
	pid_t pid;
	struct kchan_user *user;
	struct kref refs;
	struct work_struct release;
	struct page *cursor_page;
	u64 cookie;
};

static const struct kchan_end_ops kchan_bcast_end_ops;
static const struct kchan_end_ops kchan_sub_end_ops;
static const struct file_operations kchan_bcast_fops;
static const struct file_operations kchan_sub_fops;
static void kchan_sub_put(struct kchan_sub *sub);

static struct kchan_sub *kchan_to_sub(struct kchan_end *end)
{
	return container_of(end, struct kchan_sub, end);
}

/* --- Mapped cursors ------------------------------------------------------ */

/* Tries of a cursor move that user space keeps beating, then forced. */
#define KCHAN_SUB_MOVE_TRIES	8

/* The mapped cursor word of @sub, or NULL while it has none. */
static u64 *kchan_sub_word(struct kchan_sub *sub)
{
	/* The word before the page: pairs with kchan_bcmap_cursor_page(). */
	struct page *page = smp_load_acquire(&sub->cursor_page);

	return page ? page_address(page) : NULL;
}

/*
 * The position of @sub's next element, seen without the lock: its mapped
 * word when that is ahead and not beyond @tail (what user space received
 * is received), else the kernel's cursor.
 */
static u64 kchan_sub_cursor_to(struct kchan_sub *sub, u64 tail)
{
	u64 cursor = READ_ONCE(sub->cursor), *word = kchan_sub_word(sub), u;

	if (word) {
		u = READ_ONCE(*word);
		if (u > cursor && u <= tail)
			cursor = u;
	}
	return cursor;
}

static u64 kchan_sub_cursor(struct kchan_sub *sub)
{
	return kchan_sub_cursor_to(sub, READ_ONCE(sub->end.ch->ring.tail));
}

static void kchan_sub_advance(struct kchan_sub *sub, u64 n);
static void kchan_sub_lose(struct kchan_sub *sub, u64 to);

/*
 * Take in what user space received through the mapping, the channel
 * locked.  The word is a hint: it counts only when it lies ahead of the
 * kernel's cursor and within what was sent.  A word below the cursor or
 * beyond the tail - never set (all ones), or scribbled over - is put back
 * to the cursor.
 */
static void kchan_sub_sync(struct kchan_sub *sub)
{
	u64 *word = kchan_sub_word(sub), u;

	lockdep_assert_held(&sub->end.ch->lock);
	if (!word)
		return;
	u = READ_ONCE(*word);
	if (u == sub->cursor)
		return;
	if (u > sub->cursor && u <= sub->end.ch->ring.tail)
		kchan_sub_advance(sub, u - sub->cursor);
	else
		cmpxchg(word, u, sub->cursor);
}

/*
 * Before the kernel moves @sub's cursor by @n (a receive, a gap), move the
 * mapped word the same way, with a compare-and-swap against user space
 * sharing the subscriber: false if user space moved it first (the caller
 * syncs and starts over).  After KCHAN_SUB_MOVE_TRIES such losses the
 * word is simply set: a process that keeps rewriting its own cursor only
 * garbles its own subscriber.
 */
static bool kchan_sub_move_word(struct kchan_sub *sub, u64 n, int *tries)
{
	u64 *word = kchan_sub_word(sub);

	if (!word)
		return true;
	/* A full barrier: the elements are copied after it. */
	if (cmpxchg(word, sub->cursor, sub->cursor + n) == sub->cursor)
		return true;
	if (--*tries > 0)
		return false;
	WRITE_ONCE(*word, sub->cursor + n);
	return true;
}

/* --- The gate of a lossless channel, under the channel lock -------------- */

/* Find the slowest subscriber again; with none, nothing is held. */
static void kchan_bcast_gate_scan(struct kchan *ch)
{
	struct kchan_bcast *bc = ch->bc;
	bool mapped = READ_ONCE(bc->has_mapped);
	bool take_in = mapped && ch->sendq.nr;
	u64 tail = ch->ring.tail, min = tail, cursor;
	/* A full ring behind the tail, the lowest a cursor can hold anything. */
	u64 floor = tail - min_t(u64, tail, ch->ring.capacity);
	struct kchan_sub *sub;
	u32 count = 0;

	lockdep_assert_held(&ch->lock);
	/*
	 * While senders wait, mapped cursors are taken in: @min_count is
	 * then exact, and each subscriber that moves off the minimum says so
	 * (%KCHAN_IOC_WAKE, kchan_sub_sync(), kchan_bcast_gate_leave()), so
	 * that only the last one makes the next walk.  Otherwise they are
	 * only read, a few loads per subscriber (taking in also counts the
	 * receives), once per capacity's worth of sends at most.
	 */
	list_for_each_entry(sub, &bc->subs, node) {
		if (take_in)
			kchan_sub_sync(sub);
		cursor = mapped && !take_in ? kchan_sub_cursor_to(sub, tail) :
					      sub->cursor;
		/*
		 * Below @floor only when user space moved a mapped word back
		 * after the gate counted it (scribbling: nothing else does):
		 * the elements there were written over already.  They are
		 * lost to that subscriber, which goes on from @floor: the
		 * gate never computes a negative room, and its count stays
		 * exact (a cursor below the minimum would never leave it).
		 */
		if (cursor < floor) {
			kchan_sub_lose(sub, floor);
			cursor = floor;
		}

		if (cursor < min) {
			min = cursor;
			count = 0;
		}
		if (cursor == min)
			count++;
	}
	bc->min_cursor = min;
	bc->min_count = count;
	WRITE_ONCE(ch->ring.head, min);
	if (bc->map)
		kchan_bcmap_set_head(bc->map, min);
	if (mapped)
		/*
		 * The cursors read before any slot below them is written
		 * again: pairs with a mapped subscriber's compare-and-swap
		 * of its cursor, a full barrier after its copy out.
		 */
		smp_mb();
}

/* Whether the gate's cache may be stale, so that "full" needs a scan. */
static bool kchan_bcast_gate_stale(struct kchan_bcast *bc)
{
	return !bc->min_count || READ_ONCE(bc->has_mapped);
}

/* Room for @n more elements?  A stale gate is refreshed only if full. */
static u64 kchan_bcast_room(struct kchan *ch)
{
	struct kchan_bcast *bc = ch->bc;
	u32 cap = ch->ring.capacity;

	if (bc->lossy)
		return U64_MAX;
	if (ch->ring.tail - bc->min_cursor >= cap && kchan_bcast_gate_stale(bc))
		kchan_bcast_gate_scan(ch);
	if (!bc->nr_subs)
		return U64_MAX;
	/* A scan never leaves the minimum more than a ring behind. */
	if (WARN_ON_ONCE(ch->ring.tail - bc->min_cursor > cap))
		return 0;
	return cap - (ch->ring.tail - bc->min_cursor);
}

/* A subscriber at the gate moves on from @old: the gate may open. */
static void kchan_bcast_gate_leave(struct kchan *ch, u64 old)
{
	struct kchan_bcast *bc = ch->bc;

	if (!bc->lossy && bc->min_count && old == bc->min_cursor)
		bc->min_count--;
}

/* The elements before @tail are in the ring: publish them. */
static void kchan_bcast_set_tail(struct kchan *ch, u64 tail)
{
	WRITE_ONCE(ch->ring.tail, tail);
	if (ch->bc->map)
		kchan_bcmap_set_tail(ch->bc->map, tail);
}

/*
 * The gate opened (or may have): move the elements of blocked senders
 * into the ring, oldest first, while there is room.  Returns how many
 * moved.
 */
static u32 kchan_bcast_refill(struct kchan *ch)
{
	struct kchan_ring *ring = &ch->ring;
	struct kchan_waiter *w;
	u32 moved = 0;

	lockdep_assert_held(&ch->lock);
	while (kchan_first_waiter(ch, &ch->sendq) && kchan_bcast_room(ch)) {
		w = kchan_claim_first(ch, &ch->sendq);
		if (!w)
			break;
		memcpy(kchan_ring_slot(ring, ring->tail), w->msg->data,
		       ring->elem_size);
		kchan_bcast_set_tail(ch, ring->tail + 1);
		kchan_complete(ch, w, KCHAN_DONE);
		ch->sends++;
		moved++;
	}
	if (moved)
		ch->bc->news = true;
	return moved;
}

/* --- Sending ------------------------------------------------------------- */

/*
 * A lossy channel's next @n slots are about to be written over: the
 * elements they hold are gone, and a subscriber still on one is told at
 * its next receive.  Published before the slots are written, so that a
 * mapped subscriber copying one of them sees it may be torn.
 */
static void kchan_bcast_overwrite(struct kchan *ch, u64 n)
{
	struct kchan_ring *ring = &ch->ring;
	u64 held = ring->tail - ring->head;

	if (held + n <= ring->capacity)
		return;
	WRITE_ONCE(ring->head, ring->tail + n - ring->capacity);
	if (ch->bc->map)
		kchan_bcmap_set_head(ch->bc->map, ring->head);
}

/*
 * A lossy send that faulted wrote only @n of the slots it published as
 * overwritten: the oldest held goes back to what @n slots overwrite from
 * @head.  The channel lock was held throughout, so no receive saw the
 * other value but a mapped one, which then asked the kernel.
 */
static void kchan_bcast_overwrite_undo(struct kchan *ch, u64 head, u64 n)
{
	WRITE_ONCE(ch->ring.head, head);
	if (ch->bc->map)
		kchan_bcmap_set_head(ch->bc->map, head);
	kchan_bcast_overwrite(ch, n);
}

/*
 * Copy @bytes from user space into ring slots.  Unlike copy_from_user(),
 * nothing past a fault is written (zeroed): in a lossy ring the slots
 * there still hold elements.  Returns the bytes not copied.
 */
static size_t kchan_bcast_copy_in(void *dst, const u8 __user *src,
				  size_t bytes)
{
	if (!access_ok(src, bytes))
		return bytes;
	return __copy_from_user(dst, src, bytes);
}

/*
 * Copy up to @n elements from @src to the ring in contiguous runs and
 * publish each run.  Returns the number sent, 0 without room, -EFAULT if
 * the first faulted.
 */
static long kchan_bcast_push_user(struct kchan *ch, const u8 __user *src,
				  u64 n)
{
	struct kchan_ring *ring = &ch->ring;
	u32 esz = ring->elem_size;
	u64 done = 0, head;

	n = min(n, kchan_bcast_room(ch));
	while (done < n) {
		u32 slot, run;
		size_t bytes, left;

		div_u64_rem(ring->tail, ring->capacity, &slot);
		run = min_t(u64, n - done, ring->capacity - slot);
		bytes = (size_t)run * esz;
		/*
		 * The run's slots are published as overwritten before they
		 * are written; a fault puts back the ones it left as they
		 * were (a slot written in part lost its element too).
		 */
		head = ring->head;
		if (ch->bc->lossy)
			kchan_bcast_overwrite(ch, run);
		left = kchan_bcast_copy_in(kchan_ring_slot(ring, ring->tail),
					   src + done * esz, bytes);
		if (left && ch->bc->lossy)
			kchan_bcast_overwrite_undo(ch, head,
						   DIV_ROUND_UP(bytes - left, esz));
		run = (bytes - left) / esz;
		kchan_bcast_set_tail(ch, ring->tail + run);
		done += run;
		if (done)
			ch->bc->news = true;
		if (left)
			return done ? done : -EFAULT;
	}
	if (!ch->bc->nr_subs && !ch->bc->lossy)
		kchan_bcast_gate_scan(ch);	/* nobody holds anything */
	ch->sends += done;
	return done;
}

/* One send without blocking: 1, -EPIPE, -EFAULT or KCHAN_WOULD_BLOCK. */
static int kchan_bcast_send_step(struct kchan *ch, const u8 __user *src)
{
	long ret;

	lockdep_assert_held(&ch->lock);
	if (ch->closed)
		return -EPIPE;
	/* Blocked senders go first: a new one may not overtake them. */
	if (kchan_first_waiter(ch, &ch->sendq))
		return KCHAN_WOULD_BLOCK;
	ret = kchan_bcast_push_user(ch, src, 1);
	return ret ? ret : KCHAN_WOULD_BLOCK;
}

/*
 * The broadcast end's poll mask, the channel locked; with @scan, exact
 * even when mapped subscribers moved their cursors.
 */
static __poll_t kchan_bcast_mask(struct kchan *ch, bool scan)
{
	struct kchan_bcast *bc = ch->bc;

	if (ch->closed)
		return KCHAN_EV_OUT | EPOLLHUP;
	if (bc->lossy || !bc->nr_subs)
		return KCHAN_EV_OUT;
	/*
	 * Cursors moved by user space: only a scan tells, and only a poller
	 * needs to know - one polling now (@scan), or one that comes later
	 * (kchan_bcast_end_mask() scans then); else the cache's guess.
	 */
	if (READ_ONCE(bc->has_mapped)) {
		if (!scan && !wq_has_sleeper(&ch->end.poll_wq))
			return ch->ring.tail - bc->min_cursor < ch->ring.capacity ?
			       KCHAN_EV_OUT : 0;
		return kchan_bcast_room(ch) ? KCHAN_EV_OUT : 0;
	}
	/* A stale gate may be open: say writable, the send will see. */
	if (!bc->min_count || ch->ring.tail - bc->min_cursor < ch->ring.capacity)
		return KCHAN_EV_OUT;
	return 0;
}

/*
 * A mapped channel: tell the subscribers how many senders wait for room
 * and, when the first starts waiting, look at the cursors again after the
 * full barrier (pairs with the one between a subscriber's cursor move and
 * its read of the count): a subscriber that moved before it saw the count
 * made room that nobody would otherwise notice.  From then on every move
 * is told (%KCHAN_IOC_WAKE), and the gate's count is exact.
 */
static void kchan_bcast_publish_senders(struct kchan *ch)
{
	struct kchan_bcast *bc = ch->bc;

	if (!bc->map)
		return;
	if (kchan_bcmap_set_senders(bc->map, ch->sendq.nr) &&
	    READ_ONCE(bc->has_mapped)) {
		kchan_bcast_gate_scan(ch);
		if (kchan_bcast_refill(ch))
			kchan_bcmap_set_senders(bc->map, ch->sendq.nr);
	}
}

/*
 * Pollers of the broadcast end wait for room that mapped subscribers make
 * without the kernel: arm the waiter word (a full barrier), so that the
 * next cursor move calls %KCHAN_IOC_WAKE, and look again.  Returns the
 * mask; *@wake is set when the look found room after all.
 */
static __poll_t kchan_bcast_arm_pollers(struct kchan *ch, __poll_t mask,
					bool *wake)
{
	struct kchan_bcast *bc = ch->bc;

	if (mask & KCHAN_EV_OUT || !bc->map || !READ_ONCE(bc->has_mapped) ||
	    !wq_has_sleeper(&ch->end.poll_wq))
		return mask;
	kchan_bcmap_arm(bc->map);
	mask = kchan_bcast_mask(ch, true);
	if (mask & KCHAN_EV_OUT) {
		kchan_bcmap_disarm(bc->map);
		*wake = true;
	}
	return mask;
}

/* For the tracepoint: find the subscriber a blocking send waits for. */
static void kchan_bcast_trace_gated(struct kchan *ch)
{
	struct kchan_sub *sub, *slowest = NULL;

	list_for_each_entry(sub, &ch->bc->subs, node)
		if (!slowest || kchan_sub_cursor(sub) < kchan_sub_cursor(slowest))
			slowest = sub;
	if (slowest)
		trace_kchan_bcast_gated(ch, slowest->id, slowest->pid,
					ch->ring.tail - kchan_sub_cursor(slowest));
}

/*
 * Wake the sleeping subscribers: take them off the list in batches, each
 * referenced, and wake each one's poll_wq with the list's lock dropped.
 * Called without the channel lock.
 */
static void kchan_bcast_wake_sleepers(struct kchan *ch)
{
	struct kchan_sub *batch[KCHAN_BCAST_WAKE_BATCH];
	struct kchan_bcast *bc = ch->bc;
	int n, i;

	do {
		n = 0;
		spin_lock(&bc->sleep_lock);
		while (n < KCHAN_BCAST_WAKE_BATCH &&
		       !list_empty(&bc->sleepers)) {
			struct kchan_sub *sub;

			sub = list_first_entry(&bc->sleepers, struct kchan_sub,
					       sleep_node);
			list_del_init(&sub->sleep_node);
			kref_get(&sub->refs);
			batch[n++] = sub;
		}
		spin_unlock(&bc->sleep_lock);
		for (i = 0; i < n; i++) {
			wake_up_interruptible_poll(&batch[i]->end.poll_wq,
						   KCHAN_EV_IN);
			kchan_sub_put(batch[i]);
		}
	} while (n == KCHAN_BCAST_WAKE_BATCH);
}

/*
 * Publish the broadcast end's mask and unlock.  With @wake, wake the
 * broadcast end's pollers; the sleeping subscribers are woken only if
 * elements arrived or the channel closed since they were last woken.
 */
static void kchan_bcast_unlock(struct kchan_end *end, bool wake)
{
	struct kchan *ch = end->ch;
	__poll_t mask;
	bool news;

	kchan_bcast_publish_senders(ch);
	mask = kchan_bcast_arm_pollers(ch, kchan_bcast_mask(ch, false), &wake);
	news = ch->bc->news;

	ch->bc->news = false;
	WRITE_ONCE(end->ready, mask);
	if (wake)
		kchan_wake_pollers(end, mask);
	mutex_unlock(&ch->lock);
	if (news)
		kchan_bcast_wake_sleepers(ch);
}

/*
 * Send up to @count elements: block (as @opts allow) for the first, then
 * as many as fit.  Returns the number sent or a negative errno.
 */
static long kchan_bcast_send(struct kchan *ch, const u8 __user *elems,
			     size_t count, const struct kchan_wait_opts *opts)
{
	struct kchan_end *end = &ch->end;
	struct kchan_wait *wait;
	long ret;

	if (mutex_lock_killable(&ch->lock))
		return -EINTR;
	ret = kchan_bcast_send_step(ch, elems);
	if (ret == 1 && count > 1) {
		ret = kchan_bcast_push_user(ch, elems + ch->ring.elem_size,
					    count - 1);
		ret = ret > 0 ? ret + 1 : 1;
	}
	if (ret != KCHAN_WOULD_BLOCK) {
		kchan_bcast_unlock(end, ret > 0);
		return ret;
	}

	ret = kchan_may_block(opts);
	if (ret)
		goto out_unlock;
	if (trace_kchan_bcast_gated_enabled())
		kchan_bcast_trace_gated(ch);
	wait = kchan_wait_one(ch, true, elems);
	if (IS_ERR(wait)) {
		ret = PTR_ERR(wait);
		goto out_unlock;
	}
	/* Whoever makes room moves the element and wakes the subscribers. */
	ret = kchan_block(end, wait, opts);
	if (ret == KCHAN_DONE)
		ret = 1;
	else if (ret == KCHAN_CLOSED)
		ret = -EPIPE;
	kchan_wait_put(wait);
	return ret;

out_unlock:
	kchan_bcast_unlock(end, false);
	return ret;
}

/* --- Receiving ----------------------------------------------------------- */

/* A subscriber's poll mask, from the shared positions; no lock needed. */
static __poll_t kchan_sub_mask(struct kchan_end *end)
{
	struct kchan_sub *sub = kchan_to_sub(end);
	struct kchan *ch = end->ch;
	u64 cursor = kchan_sub_cursor(sub);
	__poll_t mask = 0;

	if (cursor < READ_ONCE(ch->ring.head) && ch->bc->lossy)
		mask |= KCHAN_EV_IN | EPOLLERR | EPOLLPRI;
	else if (cursor != READ_ONCE(ch->ring.tail))
		mask |= KCHAN_EV_IN;
	if (READ_ONCE(ch->closed))
		mask |= KCHAN_EV_IN | EPOLLHUP;
	return mask;
}

/* Elements waiting for @sub, the channel locked. */
static u64 kchan_sub_len(struct kchan_sub *sub)
{
	struct kchan_ring *ring = &sub->end.ch->ring;

	return ring->tail - max(sub->cursor, ring->head);
}

/* @sub received @n elements. */
static void kchan_sub_advance(struct kchan_sub *sub, u64 n)
{
	struct kchan *ch = sub->end.ch;

	kchan_bcast_gate_leave(ch, sub->cursor);
	WRITE_ONCE(sub->cursor, sub->cursor + n);
	sub->recvs += n;
	ch->recvs += n;
}

/*
 * A lagging subscriber of a lossy channel learns of its gap: count it and
 * move on to the oldest element held.
 */
static int kchan_sub_report_gap(struct kchan_sub *sub)
{
	struct kchan *ch = sub->end.ch;
	u64 gap = ch->ring.head - sub->cursor;

	sub->lost += gap;
	WRITE_ONCE(ch->bc->lost, ch->bc->lost + gap);
	WRITE_ONCE(sub->cursor, ch->ring.head);
	trace_kchan_bcast_lost(ch, sub->id, gap, sub->lost);
	return -EOVERFLOW;
}

/*
 * The elements from @sub's cursor to @to are lost to it: a receive that
 * faulted could not give back what it claimed in the mapped word (user
 * space received after them), or the gate found the cursor more than a
 * ring behind (kchan_bcast_gate_scan()).  Its cursor moves on to @to.
 */
static void kchan_sub_lose(struct kchan_sub *sub, u64 to)
{
	struct kchan *ch = sub->end.ch;
	u64 gap = to - sub->cursor;

	kchan_bcast_gate_leave(ch, sub->cursor);
	sub->lost += gap;
	WRITE_ONCE(ch->bc->lost, ch->bc->lost + gap);
	WRITE_ONCE(sub->cursor, to);
	trace_kchan_bcast_lost(ch, sub->id, gap, sub->lost);
}

/*
 * Copy up to @n elements to @dst in contiguous runs.  Returns the number
 * received, 0 when closed and drained, -EOVERFLOW (a gap, nothing
 * copied), -EFAULT if the first faulted, or KCHAN_WOULD_BLOCK.
 *
 * A mapped subscriber's word moves before the copy, as user space's does
 * after its own (kchan_sub_move_word()): the elements are this receive's
 * once the word says so, so that a process sharing the subscriber cannot
 * take them too.  A copy that faults gives back what it did not copy if
 * the word is still where this receive left it; else user space received
 * after it, and the elements not copied are counted as lost.
 */
static long kchan_sub_pop_user(struct kchan_sub *sub, u8 __user *dst, u64 n)
{
	struct kchan *ch = sub->end.ch;
	struct kchan_ring *ring = &ch->ring;
	int tries = KCHAN_SUB_MOVE_TRIES;
	u32 esz = ring->elem_size;
	u64 done = 0, start, *word;

	lockdep_assert_held(&ch->lock);
again:
	kchan_sub_sync(sub);
	if (sub->cursor < ring->head) {
		if (!kchan_sub_move_word(sub, ring->head - sub->cursor, &tries))
			goto again;
		return kchan_sub_report_gap(sub);
	}
	if (sub->cursor == ring->tail)
		return ch->closed ? 0 : KCHAN_WOULD_BLOCK;
	n = min(n, ring->tail - sub->cursor);
	if (!kchan_sub_move_word(sub, n, &tries))
		goto again;
	start = sub->cursor;
	while (done < n) {
		u32 slot, run;
		size_t bytes, left;

		div_u64_rem(start + done, ring->capacity, &slot);
		run = min_t(u64, n - done, ring->capacity - slot);
		bytes = (size_t)run * esz;
		left = copy_to_user(dst + done * esz,
				    kchan_ring_slot(ring, start + done), bytes);
		done += (bytes - left) / esz;
		if (left)
			break;
	}
	if (done)
		kchan_sub_advance(sub, done);
	word = kchan_sub_word(sub);
	if (done < n && word &&
	    cmpxchg(word, start + n, start + done) != start + n)
		kchan_sub_lose(sub, start + n);
	return done ? done : -EFAULT;
}

/* Arm @sub: make the next send wake its poll_wq. */
static void kchan_sub_arm(struct kchan_end *end)
{
	struct kchan_sub *sub = kchan_to_sub(end);
	struct kchan_bcast *bc = end->ch->bc;

	spin_lock(&bc->sleep_lock);
	if (list_empty(&sub->sleep_node) && !list_empty(&sub->node))
		list_add_tail(&sub->sleep_node, &bc->sleepers);
	spin_unlock(&bc->sleep_lock);
}

/*
 * After a receive: open the gate for blocked senders if the slowest moved,
 * publish the broadcast end's mask, and tell the subscriber's own waiters
 * what is left: if it can still receive, wake them (a selector's case
 * goes back into its ready set, another receiver of a shared descriptor
 * takes its turn), as a plain channel's receive does; if it is empty,
 * re-arm it for the next send.  Unlocks the channel.
 */
static void kchan_sub_unlock(struct kchan_end *end, bool wake)
{
	struct kchan *ch = end->ch;
	struct kchan_bcast *bc = ch->bc;
	bool gate = !bc->lossy && !bc->min_count;
	__poll_t mask, sub_mask;
	bool news, wake_pollers;

	kchan_bcast_publish_senders(ch);
	if (gate && (kchan_first_waiter(ch, &ch->sendq) ||
		     wq_has_sleeper(&ch->end.poll_wq))) {
		kchan_bcast_gate_scan(ch);
		kchan_bcast_refill(ch);
	}
	news = bc->news;
	bc->news = false;
	wake_pollers = wake && gate;
	mask = kchan_bcast_arm_pollers(ch, kchan_bcast_mask(ch, false),
				       &wake_pollers);
	WRITE_ONCE(ch->end.ready, mask);
	if (wake_pollers)
		kchan_wake_pollers(&ch->end, mask);
	sub_mask = kchan_sub_mask(end);
	if (!(sub_mask & KCHAN_EV_IN)) {
		if (wq_has_sleeper(&end->poll_wq))
			kchan_sub_arm(end);
	} else if (wake) {
		kchan_wake_pollers(end, sub_mask);
	}
	mutex_unlock(&ch->lock);
	/*
	 * Elements that blocked senders moved in reach the subscribers; with
	 * none moved, the sleepers (this one, maybe, just armed) stay armed.
	 */
	if (news)
		kchan_bcast_wake_sleepers(ch);
}

/*
 * Receive up to @count elements for @sub: block (as @opts allow) for the
 * first, then as many as are there.
 */
static long kchan_sub_recv(struct kchan_sub *sub, u8 __user *elems,
			   size_t count, const struct kchan_wait_opts *opts)
{
	struct kchan_end *end = &sub->end;
	struct kchan *ch = end->ch;
	struct kchan_wait *wait;
	long ret;

	for (;;) {
		if (mutex_lock_killable(&ch->lock))
			return -EINTR;
		ret = kchan_sub_pop_user(sub, elems, count);
		if (ret != KCHAN_WOULD_BLOCK)
			break;
		ret = kchan_may_block(opts);
		if (ret)
			break;
		wait = kchan_wait_new(1, NULL);
		if (IS_ERR(wait)) {
			ret = PTR_ERR(wait);
			break;
		}
		ret = kchan_block(end, wait, opts);
		kchan_wait_put(wait);
		if (ret != KCHAN_RETRY)
			return ret;
	}
	kchan_sub_unlock(end, ret > 0);
	return ret;
}

/* --- Close and the ends' operations -------------------------------------- */

/*
 * Go's close(ch) on a broadcast channel: blocked senders fail with EPIPE,
 * every subscriber drains what was sent and then sees "closed".
 */
static int kchan_bcast_close_locked(struct kchan *ch)
{
	struct kchan_waiter *w, *next;
	u32 woken = 0;
	int ret = -EPIPE;

	if (!ch->closed) {
		WRITE_ONCE(ch->closed, true);
		if (ch->bc->map)
			kchan_bcmap_set_closed(ch->bc->map);
		ch->bc->news = true;
		list_for_each_entry_safe(w, next, &ch->sendq.list, node) {
			if (kchan_claim(ch, w)) {
				kchan_complete(ch, w, KCHAN_CLOSED);
				woken++;
			}
		}
		ret = 0;
	}
	kchan_bcast_unlock(&ch->end, !ret);
	trace_kchan_close(ch, ret, woken);
	return ret;
}

static int kchan_bcast_close(struct kchan *ch)
{
	if (mutex_lock_killable(&ch->lock))
		return -EINTR;
	return kchan_bcast_close_locked(ch);
}

static int kchan_bcast_step(struct kchan_end *end, bool send, u8 __user *elem)
{
	return kchan_bcast_send_step(end->ch, elem);
}

static bool kchan_bcast_case_ready(struct kchan_end *end, bool send,
				   const struct kchan_wait *self)
{
	struct kchan *ch = end->ch;

	return ch->closed || (!kchan_has_partner(ch, &ch->sendq, self) &&
			      kchan_bcast_room(ch));
}

static void kchan_bcast_enqueue(struct kchan_end *end, struct kchan_waiter *w)
{
	kchan_enqueue(end->ch, &end->ch->sendq, w);
}

static void kchan_bcast_dequeue(struct kchan_end *end, struct kchan_waiter *w)
{
	if (!list_empty(&w->node))
		kchan_dequeue(end->ch, w);
}

static void kchan_bcast_get(struct kchan_end *end)
{
	kref_get(&end->ch->refs);
}

static void kchan_bcast_put(struct kchan_end *end)
{
	kchan_put(end->ch);
}

static void kchan_bcast_info(struct kchan_end *end, struct kchan_info *info)
{
	struct kchan *ch = end->ch;

	if (!ch->bc->lossy)
		kchan_bcast_gate_scan(ch);
	info->len = ch->ring.tail - ch->ring.head;
	info->sendq = ch->sendq.nr;
	info->recvq = 0;
}

/*
 * The broadcast end's mask for a lockless reader (poll, the selector):
 * the published one, unless subscribers move their cursors outside the
 * kernel; then a scan tells, if the lock is free - if not, say writable:
 * the send will see.
 */
static __poll_t kchan_bcast_end_mask(struct kchan_end *end)
{
	struct kchan *ch = end->ch;
	__poll_t mask;

	if (!READ_ONCE(ch->bc->has_mapped))
		return kchan_end_mask(end);
	if (!mutex_trylock(&ch->lock))
		return KCHAN_EV_OUT;
	mask = kchan_bcast_mask(ch, true);
	WRITE_ONCE(end->ready, mask);
	mutex_unlock(&ch->lock);
	return mask;
}

/*
 * A poller of the broadcast end waits for room: with mapped subscribers,
 * arm the waiter word, so that the next cursor move calls
 * %KCHAN_IOC_WAKE.  The caller reads the mask again after it.
 */
static void kchan_bcast_end_arm(struct kchan_end *end)
{
	struct kchan_bcast *bc = end->ch->bc;

	if (bc->map && READ_ONCE(bc->has_mapped))
		kchan_bcmap_arm(bc->map);
}

static void kchan_bcast_discard(struct kchan *ch)
{
	WARN_ON_ONCE(ch->bc && !list_empty(&ch->bc->subs));
	/* Listed until now: subscribers may outlive the broadcast descriptor. */
	kchan_proc_del(ch);
	if (ch->bc && ch->bc->map) {
		ch->ring.slots = NULL;	/* the pages' own, not the ring's */
		kchan_bcmap_put(ch->bc->map);
	}
	kvfree(ch->bc);
	ch->bc = NULL;
	kchan_chan_discard(ch);
}

static const struct kchan_end_ops kchan_bcast_end_ops = {
	.dirs		= KCHAN_END_SEND,
	.mask		= kchan_bcast_end_mask,
	.step		= kchan_bcast_step,
	.case_ready	= kchan_bcast_case_ready,
	.enqueue	= kchan_bcast_enqueue,
	.dequeue	= kchan_bcast_dequeue,
	.unlock		= kchan_bcast_unlock,
	.get		= kchan_bcast_get,
	.put		= kchan_bcast_put,
	.arm		= kchan_bcast_end_arm,
	.info		= kchan_bcast_info,
	.discard	= kchan_bcast_discard,
	.handoff	= true,
};

static int kchan_sub_step(struct kchan_end *end, bool send, u8 __user *elem)
{
	return kchan_sub_pop_user(kchan_to_sub(end), elem, 1);
}

static bool kchan_sub_case_ready(struct kchan_end *end, bool send,
				 const struct kchan_wait *self)
{
	struct kchan_sub *sub = kchan_to_sub(end);
	struct kchan *ch = end->ch;

	kchan_sub_sync(sub);
	return ch->closed || sub->cursor != ch->ring.tail;
}

static void kchan_sub_enqueue(struct kchan_end *end, struct kchan_waiter *w)
{
	kchan_nudge_enqueue(end, w, KCHAN_EV_IN);
}

static void kchan_sub_dequeue(struct kchan_end *end, struct kchan_waiter *w)
{
	kchan_nudge_dequeue(end, w);
	kchan_record_wait(end->ch, w, w->state == KCHAN_RETRY ?
				      KCHAN_WAKE_DONE : KCHAN_WAKE_ELSEWHERE);
}

static void kchan_sub_get(struct kchan_end *end)
{
	kref_get(&kchan_to_sub(end)->refs);
}

static void kchan_sub_put_end(struct kchan_end *end)
{
	kchan_sub_put(kchan_to_sub(end));
}

static void kchan_sub_info(struct kchan_end *end, struct kchan_info *info)
{
	kchan_sub_sync(kchan_to_sub(end));
	info->len = min_t(u64, kchan_sub_len(kchan_to_sub(end)),
			  end->ch->ring.capacity);
	kchan_nudge_count(end, &info->sendq, &info->recvq);
}

static const struct kchan_end_ops kchan_sub_end_ops = {
	.dirs		= KCHAN_END_RECV,
	.mask		= kchan_sub_mask,
	.step		= kchan_sub_step,
	.case_ready	= kchan_sub_case_ready,
	.enqueue	= kchan_sub_enqueue,
	.dequeue	= kchan_sub_dequeue,
	.unlock		= kchan_sub_unlock,
	.get		= kchan_sub_get,
	.put		= kchan_sub_put_end,
	.arm		= kchan_sub_arm,
	.info		= kchan_sub_info,
	.handoff	= false,
};

/* --- Subscribers' lifetime ----------------------------------------------- */

/* A subscriber's charge: a mappable one may get a cursor page. */
static size_t kchan_sub_bytes(struct kchan *ch)
{
	return sizeof(struct kchan_sub) + (ch->bc->map ? PAGE_SIZE : 0);
}

static void kchan_sub_free(struct kref *kref)
{
	struct kchan_sub *sub = container_of(kref, struct kchan_sub, refs);
	struct kchan *ch = sub->end.ch;

	kchan_budget_uncharge(sub->user, kchan_sub_bytes(ch));
	if (sub->cursor_page)
		put_page(sub->cursor_page);	/* a mapping holds its own */
	kvfree(sub);
	kchan_put(ch);
}

/* Drop a reference to @sub; the last frees it and drops its channel's. */
static void kchan_sub_put(struct kchan_sub *sub)
{
	kref_put(&sub->refs, kchan_sub_free);
}

/* Take @sub off its channel, the channel locked. */
static void kchan_sub_unlink(struct kchan_sub *sub)
{
	struct kchan *ch = sub->end.ch;
	struct kchan_bcast *bc = ch->bc;

	lockdep_assert_held(&ch->lock);
	if (list_empty(&sub->node)) {	/* never subscribed */
		mutex_unlock(&ch->lock);
		return;
	}
	kchan_bcast_gate_leave(ch, sub->cursor);
	list_del_init(&sub->node);
	WRITE_ONCE(bc->nr_subs, bc->nr_subs - 1);
	spin_lock(&bc->sleep_lock);
	list_del_init(&sub->sleep_node);
	spin_unlock(&bc->sleep_lock);
	/* A lossless sender waiting for it proceeds. */
	kchan_sub_unlock(&sub->end, true);
}

static void kchan_sub_release_work(struct work_struct *work)
{
	struct kchan_sub *sub = container_of(work, struct kchan_sub, release);

	/* A worker cannot be killed; killable keeps it out of hung-task reports. */
	if (!WARN_ON_ONCE(mutex_lock_killable(&sub->end.ch->lock)))
		kchan_sub_unlink(sub);
	kchan_sub_put(sub);
}

static int kchan_sub_release(struct inode *inode, struct file *file)
{
	struct kchan_sub *sub = file->private_data;
	struct kchan *ch = sub->end.ch;

	kchan_selector_end_gone(&sub->end);
	/*
	 * The channel lock may be held across a stalled user copy: a task
	 * exiting must not wait for it.  A work item unsubscribes then.
	 */
	if (mutex_trylock(&ch->lock)) {
		kchan_sub_unlink(sub);
		kchan_sub_put(sub);
		return 0;
	}
	INIT_WORK(&sub->release, kchan_sub_release_work);
	kchan_defer(&sub->release);
	return 0;
}

/* --- Descriptors ---------------------------------------------------------- */

static ssize_t kchan_bcast_write(struct file *file, const char __user *buf,
				 size_t len, loff_t *ppos)
{
	struct kchan_wait_opts opts = {
		.nonblock = file->f_flags & O_NONBLOCK,
	};
	struct kchan *ch = file->private_data;
	size_t count;
	long ret;

	ret = kchan_rw_count(ch, len, &count);
	if (ret || !count)
		return ret;
	ret = kchan_bcast_send(ch, (const u8 __user *)buf, count, &opts);
	trace_kchan_send(ch, count, ret);
	return ret > 0 ? ret * ch->ring.elem_size : ret;
}

static ssize_t kchan_sub_read(struct file *file, char __user *buf,
			      size_t len, loff_t *ppos)
{
	struct kchan_wait_opts opts = {
		.nonblock = file->f_flags & O_NONBLOCK,
	};
	struct kchan_sub *sub = file->private_data;
	struct kchan *ch = sub->end.ch;
	size_t count;
	long ret;

	ret = kchan_rw_count(ch, len, &count);
	if (ret || !count)
		return ret;
	ret = kchan_sub_recv(sub, (u8 __user *)buf, count, &opts);
	trace_kchan_recv(ch, count, ret);
	return ret > 0 ? ret * ch->ring.elem_size : ret;
}

/* read(2) on the broadcast descriptor, write(2) on a subscriber. */
static ssize_t kchan_bcast_read(struct file *file, char __user *buf,
				size_t len, loff_t *ppos)
{
	return -EBADF;
}

static ssize_t kchan_sub_write(struct file *file, const char __user *buf,
			       size_t len, loff_t *ppos)
{
	return -EBADF;
}

static __poll_t kchan_bcast_poll(struct file *file, poll_table *wait)
{
	struct kchan *ch = file->private_data;
	__poll_t mask;

	poll_wait(file, &ch->end.poll_wq, wait);
	/* As kchan_chan_poll(): pairs with wq_has_sleeper() in the wakers. */
	smp_mb();
	mask = kchan_bcast_end_mask(&ch->end);
	if (mask & KCHAN_EV_OUT || !ch->bc->map)
		return mask;
	/* Armed (with a full barrier), then look again. */
	kchan_bcast_end_arm(&ch->end);
	return kchan_bcast_end_mask(&ch->end);
}

static __poll_t kchan_sub_poll(struct file *file, poll_table *wait)
{
	struct kchan_sub *sub = file->private_data;

	poll_wait(file, &sub->end.poll_wq, wait);
	kchan_sub_arm(&sub->end);
	/*
	 * On the sleepers list before the positions are read; pairs with the
	 * send's store of the tail before it takes the list's lock
	 * (kchan_bcast_wake_sleepers()): either the send finds the
	 * subscriber listed and wakes it, or the read below sees the tail.
	 */
	smp_mb();
	return kchan_sub_mask(&sub->end);
}

static long kchan_sub_create_fd(struct kchan *ch, const void __user *uarg);

static long kchan_bcast_ioctl_xfer(struct file *file, void __user *uarg,
				   bool send)
{
	struct kchan_end *end = kchan_end_from_file(file);
	struct kchan *ch = end->ch;
	struct kchan_wait_opts opts = {};
	struct kchan_xfer x;
	long ret;

	ret = kchan_xfer_args(file, uarg, ch->ring.elem_size, &x, &opts);
	if (ret)
		return ret;
	if (send) {
		ret = kchan_bcast_send(ch, u64_to_user_ptr(x.elems), x.count,
				       &opts);
		trace_kchan_send(ch, x.count, ret);
	} else {
		ret = kchan_sub_recv(kchan_to_sub(end), u64_to_user_ptr(x.elems),
				     x.count, &opts);
		trace_kchan_recv(ch, x.count, ret);
	}
	return ret;
}

static long kchan_bcast_ioctl(struct file *file, unsigned int cmd,
			      unsigned long arg)
{
	struct kchan *ch = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct kchan_wait_opts opts = {
		.nonblock = file->f_flags & O_NONBLOCK,
	};
	long ret;

	switch (cmd) {
	case KCHAN_IOC_SEND_ONE:
		ret = kchan_bcast_send(ch, uarg, 1, &opts);
		trace_kchan_send(ch, 1, ret);
		return ret;
	case KCHAN_IOC_SEND:
		return kchan_bcast_ioctl_xfer(file, uarg, true);
	case KCHAN_IOC_RECV_ONE:
	case KCHAN_IOC_RECV:
	case KCHAN_IOC_LOST:
		return -EBADF;
	case KCHAN_IOC_MAP_INFO:
	case KCHAN_IOC_WAKE:
		return -ENODEV;		/* its subscribers are mapped */
	case KCHAN_IOC_CLOSE:
		return arg ? -EINVAL : kchan_bcast_close(ch);
	case KCHAN_IOC_INFO:
		return kchan_ioctl_info(&ch->end, uarg);
	case KCHAN_IOC_STATS:
		return kchan_ioctl_stats(ch, uarg);
	case KCHAN_IOC_SELECT:
		return kchan_select(uarg);
	case KCHAN_IOC_SUBSCRIBE:
		return kchan_sub_create_fd(ch, uarg);
	default:
		return -ENOTTY;
	}
}

/*
 * %KCHAN_IOC_WAKE on a mapped subscriber: user space moved its cursor
 * while a sender waited for room or a poll of the broadcast descriptor
 * was armed.  Take the cursor in, move blocked senders' elements into the
 * room, and wake the broadcast end's pollers (kchan_sub_unlock()).
 */
static long kchan_sub_wake(struct kchan_sub *sub, unsigned long arg)
{
	struct kchan *ch = sub->end.ch;

	if (!ch->bc->map)
		return -ENODEV;
	if (arg)
		return -EINVAL;
	if (mutex_lock_killable(&ch->lock))
		return -EINTR;
	kchan_sub_sync(sub);
	kchan_bcmap_disarm(ch->bc->map);
	kchan_sub_unlock(&sub->end, true);
	return 0;
}

/**
 * kchan_bcast_mapper_gone() - a process's cursor mapping of one of the
 * channel's subscribers went, while senders waited or a poll was armed
 * @ch: the mapped broadcast channel, locked; unlocked on return
 *
 * The process may have moved the cursor and died before its
 * %KCHAN_IOC_WAKE (Documentation/design/fastpath.rst, "Dead owners"): do
 * that wake for whichever subscriber it was - take every mapped cursor
 * in, move blocked senders' elements into the room, wake the pollers.
 * Called by a worker (kchan_defer_call()).
 */
void kchan_bcast_mapper_gone(struct kchan *ch)
{
	struct kchan_bcast *bc = ch->bc;

	lockdep_assert_held(&ch->lock);
	if (!bc->lossy && ch->sendq.nr) {
		kchan_bcast_gate_scan(ch);
		kchan_bcast_refill(ch);
	}
	kchan_bcmap_disarm(bc->map);
	kchan_bcast_unlock(&ch->end, true);
}

static long kchan_sub_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct kchan_sub *sub = file->private_data;
	struct kchan *ch = sub->end.ch;
	void __user *uarg = (void __user *)arg;
	struct kchan_wait_opts opts = {
		.nonblock = file->f_flags & O_NONBLOCK,
	};
	u64 lost;
	long ret;

	switch (cmd) {
	case KCHAN_IOC_RECV_ONE:
		ret = kchan_sub_recv(sub, uarg, 1, &opts);
		trace_kchan_recv(ch, 1, ret);
		return ret;
	case KCHAN_IOC_RECV:
		return kchan_bcast_ioctl_xfer(file, uarg, false);
	case KCHAN_IOC_SEND_ONE:
	case KCHAN_IOC_SEND:
	case KCHAN_IOC_CLOSE:
	case KCHAN_IOC_SUBSCRIBE:
		return -EBADF;
	case KCHAN_IOC_LOST:
		if (mutex_lock_killable(&ch->lock))
			return -EINTR;
		lost = sub->lost;
		mutex_unlock(&ch->lock);
		return put_user(lost, (u64 __user *)uarg) ? -EFAULT : 0;
	case KCHAN_IOC_INFO:
		return kchan_ioctl_info(&sub->end, uarg);
	case KCHAN_IOC_STATS:
		return kchan_ioctl_stats(ch, uarg);
	case KCHAN_IOC_SELECT:
		return kchan_select(uarg);
	case KCHAN_IOC_MAP_INFO:
		if (!ch->bc->map)
			return -ENODEV;
		return kchan_bcmap_map_info(ch->bc->map, sub->cookie, uarg);
	case KCHAN_IOC_WAKE:
		return kchan_sub_wake(sub, arg);
	default:
		return -ENOTTY;
	}
}

#ifdef CONFIG_PROC_FS
/*
 * /proc/PID/fdinfo/FD of a broadcast descriptor: the channel, then one
 * line per subscriber with its lag and losses, and the subscriber that
 * holds a lossless sender back.
 */
static void kchan_bcast_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct kchan *ch = file->private_data;
	struct kchan_bcast *bc = ch->bc;
	struct kchan_sub *sub, *slowest = NULL;

	if (mutex_lock_killable(&ch->lock))
		return;
	if (!bc->lossy)
		kchan_bcast_gate_scan(ch);
	seq_printf(m, "kchan-id:\t%llu\n", ch->id);
	seq_printf(m, "kind:\tbroadcast%s\n", bc->lossy ? "-lossy" : "");
	seq_printf(m, "elem-size:\t%u\n", ch->ring.elem_size);
	seq_printf(m, "capacity:\t%u\n", ch->ring.capacity);
	seq_printf(m, "held:\t%llu\n", ch->ring.tail - ch->ring.head);
	seq_printf(m, "closed:\t%d\n", ch->closed);
	seq_printf(m, "sendq:\t%u\n", ch->sendq.nr);
	seq_printf(m, "subscribers:\t%u\n", bc->nr_subs);
	seq_printf(m, "sends:\t%llu\n", ch->sends);
	seq_printf(m, "lost:\t%llu\n", bc->lost);
	list_for_each_entry(sub, &bc->subs, node) {
		kchan_sub_sync(sub);
		seq_printf(m, "subscriber:\t%u lag %llu lost %llu pid %d\n",
			   sub->id, ch->ring.tail - sub->cursor, sub->lost,
			   sub->pid);
		if (!slowest || sub->cursor < slowest->cursor)
			slowest = sub;
	}
	if (slowest && !bc->lossy &&
	    ch->ring.tail - slowest->cursor >= ch->ring.capacity)
		seq_printf(m, "blocked-by:\t%u\n", slowest->id);
	mutex_unlock(&ch->lock);
}

static void kchan_sub_show_fdinfo(struct seq_file *m, struct file *file)
{
	struct kchan_sub *sub = file->private_data;
	struct kchan *ch = sub->end.ch;

	if (mutex_lock_killable(&ch->lock))
		return;
	seq_printf(m, "kchan-id:\t%llu\n", ch->id);
	kchan_sub_sync(sub);
	seq_puts(m, "kind:\tsubscriber\n");
	seq_printf(m, "subscriber:\t%u\n", sub->id);
	seq_printf(m, "elem-size:\t%u\n", ch->ring.elem_size);
	seq_printf(m, "capacity:\t%u\n", ch->ring.capacity);
	seq_printf(m, "len:\t%llu\n", kchan_sub_len(sub));
	seq_printf(m, "closed:\t%d\n", ch->closed);
	seq_printf(m, "recvs:\t%llu\n", sub->recvs);
	seq_printf(m, "lost:\t%llu\n", sub->lost);
	mutex_unlock(&ch->lock);
}
#endif

/* Close the channel, unless it is closed already, and unlock. */
static void kchan_bcast_close_on_release(struct kchan *ch)
{
	if (ch->closed)
		mutex_unlock(&ch->lock);
	else
		kchan_bcast_close_locked(ch);
}

static void kchan_bcast_release_work(struct work_struct *work)
{
	struct kchan_bcast *bc = container_of(work, struct kchan_bcast, release);
	struct kchan *ch = bc->ch;

	/* A worker cannot be killed; killable keeps it out of hung-task reports. */
	if (!WARN_ON_ONCE(mutex_lock_killable(&ch->lock)))
		kchan_bcast_close_on_release(ch);
	kchan_put(ch);
}

/*
 * The broadcast descriptor's last close: nothing can send any more, so
 * the channel is closed, as a pipe's readers see the end of the file -
 * the subscribers drain what was sent, then see "closed".  The channel
 * lock may be held across a stalled user copy: a task exiting must not
 * wait for it, so a work item closes the channel then.
 */
static int kchan_bcast_release(struct inode *inode, struct file *file)
{
	struct kchan *ch = file->private_data;

	kchan_selector_end_gone(&ch->end);
	if (mutex_trylock(&ch->lock)) {
		kchan_bcast_close_on_release(ch);
		kchan_put(ch);
		return 0;
	}
	INIT_WORK(&ch->bc->release, kchan_bcast_release_work);
	kchan_defer(&ch->bc->release);
	return 0;
}

/*
 * mmap(2) of a subscriber of a mappable channel: the channel's pages, or
 * the subscriber's cursor page (bcmap.c).  The subscriber counts as
 * mapped from then on: cursors move outside the kernel.
 */
static int kchan_sub_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct kchan_sub *sub = file->private_data;
	struct kchan_bcast *bc = sub->end.ch->bc;
	int ret;

	if (!bc->map)
		return -ENODEV;
	ret = kchan_bcmap_mmap(bc->map, &sub->cursor_page, vma);
	if (ret || !vma->vm_pgoff)
		return ret;
	WRITE_ONCE(bc->has_mapped, true);
	return 0;
}

/* Every close(2) of a mapped subscriber's descriptor: tell its libraries. */
static int kchan_sub_flush(struct file *file, fl_owner_t id)
{
	struct kchan_sub *sub = file->private_data;
	u64 *word = kchan_sub_word(sub);

	if (word)
		kchan_bcmap_count_close(word);
	return 0;
}

static const struct file_operations kchan_bcast_fops = {
	.owner		= THIS_MODULE,
#ifdef CONFIG_PROC_FS
	.show_fdinfo	= kchan_bcast_show_fdinfo,
#endif
	.release	= kchan_bcast_release,
	.read		= kchan_bcast_read,
	.write		= kchan_bcast_write,
	.poll		= kchan_bcast_poll,
	.unlocked_ioctl	= kchan_bcast_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static const struct file_operations kchan_sub_fops = {
	.owner		= THIS_MODULE,
#ifdef CONFIG_PROC_FS
	.show_fdinfo	= kchan_sub_show_fdinfo,
#endif
	.release	= kchan_sub_release,
	.flush		= kchan_sub_flush,
	.mmap		= kchan_sub_mmap,
	.read		= kchan_sub_read,
	.write		= kchan_sub_write,
	.poll		= kchan_sub_poll,
	.unlocked_ioctl	= kchan_sub_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

/**
 * kchan_bcast_end_from_file() - the end behind a broadcast or subscriber
 * descriptor
 * @file: any file
 *
 * Return: the end, or NULL when @file is neither.
 */
struct kchan_end *kchan_bcast_end_from_file(struct file *file)
{
	if (file->f_op == &kchan_bcast_fops)
		return &((struct kchan *)file->private_data)->end;
	if (file->f_op == &kchan_sub_fops)
		return &((struct kchan_sub *)file->private_data)->end;
	return NULL;
}

/**
 * kchan_bcast_summary() - what /proc/kchan shows of a broadcast channel
 * @ch: a broadcast channel, referenced; its lock need not be held
 * @lossy: out: whether it is %KCHAN_LOSSY
 * @nr_subs: out: its subscribers now
 * @lost: out: the elements its subscribers have missed, all together
 */
void kchan_bcast_summary(const struct kchan *ch, bool *lossy, u32 *nr_subs,
			 u64 *lost)
{
	*lossy = ch->bc->lossy;
	*nr_subs = READ_ONCE(ch->bc->nr_subs);
	*lost = READ_ONCE(ch->bc->lost);
}

/**
 * kchan_bcast_create_fd() - create a broadcast channel and its descriptor
 * @args: the argument of %KCHAN_IOC_CREATE, with %KCHAN_BROADCAST
 *
 * Return: the new descriptor, or -EINVAL (also for a capacity of 0),
 * -ENOSPC, -ENOMEM, -EMFILE or -ENFILE.
 */
int kchan_bcast_create_fd(const struct kchan_create *args)
{
	struct kchan_bcast *bc;
	struct kchan *ch;
	int ret;

	bool mappable = args->flags & KCHAN_MAPPABLE;
	size_t extra = sizeof(*bc);
	struct kchan_bcmap *map;

	ret = kchan_validate_create(args, KCHAN_BROADCAST | KCHAN_LOSSY |
				    KCHAN_MAPPABLE);
	if (ret)
		return ret;
	if (!args->capacity)
		return -EINVAL;
	if (mappable) {
		/* The control page and the elements' pages, ring included. */
		ret = kchan_bcmap_bytes(args->elem_size, args->capacity, &extra);
		if (ret)
			return ret;
		extra += sizeof(*bc) - (size_t)args->elem_size * args->capacity;
	}
	ch = kchan_chan_new(args, &kchan_bcast_end_ops, extra,
			    mappable ? KCHAN_CHAN_NO_RING : 0);
	if (IS_ERR(ch))
		return PTR_ERR(ch);
	bc = kchan_alloc(sizeof(*bc), true);
	if (!bc) {
		kchan_chan_discard(ch);
		return -ENOMEM;
	}
	bc->ch = ch;
	INIT_LIST_HEAD(&bc->subs);
	INIT_LIST_HEAD(&bc->sleepers);
	spin_lock_init(&bc->sleep_lock);
	bc->lossy = args->flags & KCHAN_LOSSY;
	ch->bc = bc;
	if (mappable) {
		map = kchan_bcmap_new(args->elem_size, args->capacity,
				      bc->lossy);
		if (IS_ERR(map)) {
			kchan_bcast_discard(ch);
			return PTR_ERR(map);
		}
		bc->map = map;
		kchan_bcmap_attach(map, ch);
		ch->ring.slots = kchan_bcmap_elems(map);
	}
	ch->end.ready = kchan_bcast_mask(ch, false);
	return kchan_chan_install(ch, &kchan_bcast_fops, "[kchan_broadcast]",
				  args->flags);
}

/* The %KCHAN_IOC_SUBSCRIBE ioctl: a new subscriber and its descriptor. */
static long kchan_sub_create_fd(struct kchan *ch, const void __user *uarg)
{
	struct kchan_bcast *bc = ch->bc;
	struct kchan_subscribe args;
	struct kchan_user *user;
	struct kchan_sub *sub;
	struct file *file;
	int fd, ret;

	ret = kchan_copy_args(&args, sizeof(args), KCHAN_SUBSCRIBE_SIZE_VER0,
			      uarg);
	if (ret)
		return ret;
	if (args.flags & ~(KCHAN_CLOEXEC | KCHAN_NONBLOCK |
			   KCHAN_SUBSCRIBE_OLDEST))
		return -EINVAL;
	user = kchan_user_current();
	if (!user)
		return -ENOMEM;
	ret = kchan_budget_charge(user, kchan_sub_bytes(ch));
	if (ret)
		return ret;
	sub = kchan_alloc(sizeof(*sub), true);
	if (!sub) {
		kchan_budget_uncharge(user, kchan_sub_bytes(ch));
		return -ENOMEM;
	}
	kchan_end_init(&sub->end, &kchan_sub_end_ops, ch);
	INIT_LIST_HEAD(&sub->node);
	INIT_LIST_HEAD(&sub->sleep_node);
	kref_init(&sub->refs);
	kref_get(&ch->refs);
	sub->user = user;
	sub->pid = task_tgid_vnr(current);
	if (bc->map)
		sub->cookie = kchan_next_cookie();

	/* From here the subscriber's last reference undoes everything. */
	fd = get_unused_fd_flags(args.flags & KCHAN_CLOEXEC ? O_CLOEXEC : 0);
	if (fd < 0) {
		ret = fd;
		goto out_put;
	}
	file = anon_inode_getfile("[kchan_subscriber]", &kchan_sub_fops, sub,
				  O_RDWR | (args.flags & KCHAN_NONBLOCK ?
					    O_NONBLOCK : 0));
	if (IS_ERR(file)) {
		ret = PTR_ERR(file);
		goto out_put_fd;
	}
	stream_open(file_inode(file), file);

	if (mutex_lock_killable(&ch->lock)) {
		/* Not on the channel yet: the release finds nothing to undo. */
		put_unused_fd(fd);
		fput(file);
		return -EINTR;
	}
	sub->id = ++bc->last_sub_id;
	/* The oldest held is what the slowest has still to receive. */
	if (!bc->lossy && (args.flags & KCHAN_SUBSCRIBE_OLDEST))
		kchan_bcast_gate_scan(ch);
	sub->cursor = args.flags & KCHAN_SUBSCRIBE_OLDEST ? ch->ring.head :
							    ch->ring.tail;
	list_add_tail(&sub->node, &bc->subs);
	WRITE_ONCE(bc->nr_subs, bc->nr_subs + 1);
	if (!bc->lossy)
		kchan_bcast_gate_scan(ch);
	trace_kchan_subscribe(ch, sub->id, sub->cursor, bc->nr_subs, fd);
	kchan_bcast_unlock(&ch->end, false);
	fd_install(fd, file);
	return fd;

out_put_fd:
	put_unused_fd(fd);
out_put:
	kchan_sub_put(sub);
	return ret;
}
