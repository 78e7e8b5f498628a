// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * fastpath.c - sending and receiving through a mapped channel's shared
 * ring, the protocol of Documentation/design/fastpath.rst, in user space.
 *
 * A channel created with KCHAN_MAPPABLE (kchan_make() sets it for every
 * buffered channel unless KCHAN_FASTPATH=0) is mapped the first time a
 * send or receive names its descriptor in this process: the control page
 * read-only, the ring read-write.  The mappings are found by descriptor
 * number in a two-level table of 64 x 1024 entries, read without a lock;
 * a mutex serialises mapping and unmapping.
 *
 * A descriptor number can come to name another channel (close(2), then
 * a new descriptor with the same number).  The kernel counts the closes of
 * each mapped channel's descriptors on its control page (fd_closes), and
 * those of a mapped subscriber's on its cursor page; an
 * entry remembers the count it was checked at, and when the count moved,
 * KCHAN_IOC_MAP_INFO tells whether the number still names the channel of
 * the entry's cookie.  Mappings of descriptors closed for good are dropped
 * when a later call notices, or by kchan_unmap().
 *
 * Mappings are not inherited across fork(2) (the kernel marks them
 * VM_DONTCOPY): the child forgets them all and maps again on first use.
 *
 * Memory order: the slot words are read with acquire and written with
 * release or a sequentially consistent compare-and-swap, and between
 * publishing a slot and reading the other side's waiter word stands a full
 * fence (__atomic_thread_fence(__ATOMIC_SEQ_CST)): the pairs 1 to 4 of
 * the design's "Waking", the user-space half.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chanuser.h>
#include <linux/kchan.h>

#include "fastpath.h"
#include "syscall.h"

/* The slot word: position (mod 2^46), state, owner. */
#define SLOT_POS_SHIFT	18
#define SLOT_POS_MASK	((UINT64_C(1) << (64 - SLOT_POS_SHIFT)) - 1)
#define SLOT_POS_ONE	(UINT64_C(1) << SLOT_POS_SHIFT)	/* +1 position, in a word */
#define SLOT_EMPTY	UINT64_C(0)
#define SLOT_WRITING	UINT64_C(1)
#define SLOT_FULL	UINT64_C(2)
#define SLOT_READING	UINT64_C(3)
#define SLOT_VOID	UINT64_C(1)	/* owner of a FULL slot with no element */

/* Extra tries of a claim beyond one per slot, for hints moving under it. */
#define FP_SLACK	64

#define FP_CHUNK_BITS	10
#define FP_CHUNK	(1 << FP_CHUNK_BITS)
#define FP_CHUNKS	64
#define FP_MAX_FD	(FP_CHUNK * FP_CHUNKS)

/* An entry of a descriptor known not to be a mappable channel. */
#define FP_NONE		((struct fp_chan *)1)

/*
 * One mapped channel, as this process sees it: a channel's ring, or a
 * broadcast subscriber's view (@bctrl set: the channel's control page and
 * elements, read-only, and the subscriber's cursor).
 */
struct fp_chan {
	const struct kchan_map_ctrl *ctrl;
	const struct kchan_bcast_map_ctrl *bctrl;
	const uint32_t *closes;	/* fd_closes: the control page's, a cursor page's */
	uint64_t *cursor;
	uint8_t *ring;
	uint64_t *head;
	uint64_t *tail;
	uint64_t *slots;
	uint8_t *elems;
	uint32_t elem_size;
	uint32_t capacity;
	uint64_t owner;		/* this process's map id */
	uint64_t cookie;
	uint32_t fd_closes;	/* *@closes when checked */
	size_t ctrl_size;
	size_t ring_size;
};

static struct fp_chan **fp_table[FP_CHUNKS];
static pthread_mutex_t fp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fp_once = PTHREAD_ONCE_INIT;

static uint64_t slot_word(uint64_t pos, uint64_t state, uint64_t owner)
{
	return pos << SLOT_POS_SHIFT | state << 16 | owner;
}

/* Whether slot word @w is for position @pos (modulo 2^46). */
static int slot_is_for(uint64_t w, uint64_t pos)
{
	return (w >> SLOT_POS_SHIFT) == (pos & SLOT_POS_MASK);
}

static uint64_t slot_state(uint64_t w)
{
	return (w >> 16) & 3;
}

/* Whether the fast path is on: -1 until read from the environment. */
static int fp_on = -1;

/**
 * fp_enabled() - whether the fast path is on
 *
 * On unless the environment says KCHAN_FASTPATH=0.  Read once; a race
 * between two first calls reads the same value twice.
 */
int fp_enabled(void)
{
	int on = __atomic_load_n(&fp_on, __ATOMIC_RELAXED);

	if (on < 0) {
		const char *v = getenv("KCHAN_FASTPATH");

		on = !(v && !strcmp(v, "0"));
		__atomic_store_n(&fp_on, on, __ATOMIC_RELAXED);
	}
	return on;
}

static void fp_unmap(struct fp_chan *c)
{
	munmap((void *)c->ctrl, c->ctrl_size);
	munmap(c->ring, c->ring_size);
	free(c);
}

/* In a child after fork(): the mappings were not inherited. */
static void fp_atfork_child(void)
{
	int i, j;

	pthread_mutex_init(&fp_lock, NULL);
	for (i = 0; i < FP_CHUNKS; i++) {
		if (!fp_table[i])
			continue;
		for (j = 0; j < FP_CHUNK; j++) {
			if (fp_table[i][j] && fp_table[i][j] != FP_NONE)
				free(fp_table[i][j]);
			fp_table[i][j] = NULL;
		}
	}
}

static void fp_init_once(void)
{
	pthread_atfork(NULL, NULL, fp_atfork_child);
}

static int fp_map_info(int ch, struct kchan_map_info *mi)
{
	*mi = (struct kchan_map_info){ .size = sizeof(*mi) };
	return sys_ioctl(ch, KCHAN_IOC_MAP_INFO, mi);
}

/*
 * The rest of fp_map() for a broadcast subscriber: the read-only mapping
 * is the channel's control page and elements, the read-write one the
 * subscriber's cursor page.  Returns 1, or 0 after unmapping and freeing.
 */
static int fp_map_sub(int ch, struct fp_chan *c, const struct kchan_map_info *mi)
{
	const struct kchan_bcast_map_ctrl *b = (const void *)c->ctrl;
	struct kchan_map_info now;

	c->bctrl = b;
	c->closes = &((const struct kchan_sub_map_cursor *)c->ring)->fd_closes;
	c->fd_closes = __atomic_load_n(c->closes, __ATOMIC_ACQUIRE);
	if (fp_map_info(ch, &now) || now.cookie != mi->cookie ||
	    b->version != KCHAN_MAP_VERSION || !b->capacity || !b->elem_size ||
	    b->elems_offset + (uint64_t)b->elem_size * b->capacity > c->ctrl_size ||
	    c->ring_size < sizeof(struct kchan_sub_map_cursor)) {
		fp_unmap(c);
		return 0;
	}
	c->cookie = mi->cookie;
	c->elem_size = b->elem_size;
	c->capacity = b->capacity;
	c->elems = (uint8_t *)b + b->elems_offset;
	c->cursor = (uint64_t *)c->ring;
	/* A new cursor page holds no position until the kernel sets it. */
	sys_ioctl(ch, KCHAN_IOC_WAKE, NULL);
	return 1;
}

/* Map channel @ch: the entry, or NULL (and the kernel path) on failure. */
static struct fp_chan *fp_map(int ch, const struct kchan_map_info *mi)
{
	struct fp_chan *c = calloc(1, sizeof(*c));
	struct kchan_map_info now;
	const struct kchan_map_ctrl *k;
	void *p;

	if (!c)
		return NULL;
	p = mmap(NULL, mi->control_size, PROT_READ, MAP_SHARED, ch,
		 mi->control_offset);
	if (p == MAP_FAILED)
		goto out_free;
	c->ctrl = k = p;
	c->ctrl_size = mi->control_size;
	p = mmap(NULL, mi->ring_size, PROT_READ | PROT_WRITE, MAP_SHARED, ch,
		 mi->ring_offset);
	if (p == MAP_FAILED)
		goto out_unmap_ctrl;
	c->ring = p;
	c->ring_size = mi->ring_size;
	if (k->magic == KCHAN_BCAST_MAP_MAGIC)
		return fp_map_sub(ch, c, mi) ? c : NULL;
	c->closes = &k->fd_closes;
	c->fd_closes = __atomic_load_n(&k->fd_closes, __ATOMIC_ACQUIRE);
	/* The map id exists now; and the number still names the channel. */
	if (fp_map_info(ch, &now) || now.cookie != mi->cookie || !now.map_id ||
	    k->magic != KCHAN_MAP_MAGIC || k->version != KCHAN_MAP_VERSION ||
	    k->cookie != mi->cookie)
		goto out_unmap_ring;
	c->owner = now.map_id;
	c->cookie = mi->cookie;
	c->elem_size = k->elem_size;
	c->capacity = k->capacity;
	c->head = (uint64_t *)(c->ring + k->head_offset);
	c->tail = (uint64_t *)(c->ring + k->tail_offset);
	c->slots = (uint64_t *)(c->ring + k->slots_offset);
	c->elems = c->ring + k->elems_offset;
	return c;

out_unmap_ring:
	munmap(c->ring, c->ring_size);
out_unmap_ctrl:
	munmap((void *)k, c->ctrl_size);
out_free:
	free(c);
	return NULL;
}

/* The entry of @ch, its chunk allocated; fp_lock held.  NULL past the table. */
static struct fp_chan **fp_slot(int ch)
{
	struct fp_chan **chunk;

	if (ch < 0 || ch >= FP_MAX_FD)
		return NULL;
	chunk = fp_table[ch >> FP_CHUNK_BITS];
	if (!chunk) {
		chunk = calloc(FP_CHUNK, sizeof(*chunk));
		if (!chunk)
			return NULL;
		/* Pairs with the acquire in fp_lookup(). */
		__atomic_store_n(&fp_table[ch >> FP_CHUNK_BITS], chunk,
				 __ATOMIC_RELEASE);
	}
	return &chunk[ch & (FP_CHUNK - 1)];
}

/*
 * Drop the mappings whose descriptors no longer name their channel, as far
 * as the closes counted say; fp_lock held.  Run when a channel is mapped,
 * so that a process that cycles through channels keeps few stale ones.
 */
static void fp_sweep(void)
{
	struct kchan_map_info mi;
	struct fp_chan *c;
	int i, j;

	for (i = 0; i < FP_CHUNKS; i++) {
		if (!fp_table[i])
			continue;
		for (j = 0; j < FP_CHUNK; j++) {
			c = fp_table[i][j];
			if (!c || c == FP_NONE ||
			    __atomic_load_n(c->closes, __ATOMIC_RELAXED) ==
			    c->fd_closes)
				continue;
			if (!fp_map_info(i << FP_CHUNK_BITS | j, &mi) &&
			    mi.cookie == c->cookie)
				continue;	/* checked again when used */
			__atomic_store_n(&fp_table[i][j], NULL, __ATOMIC_RELEASE);
			fp_unmap(c);
		}
	}
}

/*
 * fp_lookup() when the entry is missing or its closes count moved.  Kept
 * out of line, so that the lookup of every call stays a few loads.
 */
static __attribute__((noinline)) struct fp_chan *fp_lookup_slow(int ch)
{
	struct fp_chan **slot, *c, *ret = NULL;
	struct kchan_map_info mi;
	uint32_t closes = 0;
	int err;

	pthread_once(&fp_once, fp_init_once);
	pthread_mutex_lock(&fp_lock);
	slot = fp_slot(ch);
	if (!slot)
		goto out_unlock;
	c = *slot;
	if (c == FP_NONE)
		goto out_unlock;
	/* Read before asking: a close after it moves the count again. */
	if (c)
		closes = __atomic_load_n(c->closes, __ATOMIC_ACQUIRE);
	err = fp_map_info(ch, &mi);
	if (c && !err && mi.cookie == c->cookie) {
		c->fd_closes = closes;
		ret = c;
		goto out_unlock;
	}
	if (c) {
		__atomic_store_n(slot, NULL, __ATOMIC_RELEASE);
		fp_unmap(c);
	}
	if (err) {
		/* Not mappable, or not a channel: the kernel path, for good. */
		if (err == -ENODEV || err == -ENOTTY)
			__atomic_store_n(slot, FP_NONE, __ATOMIC_RELEASE);
		goto out_unlock;
	}
	fp_sweep();
	ret = fp_map(ch, &mi);
	/* Pairs with the acquire in fp_cached(): the entry is complete. */
	__atomic_store_n(slot, ret ? ret : FP_NONE, __ATOMIC_RELEASE);
out_unlock:
	pthread_mutex_unlock(&fp_lock);
	return ret;
}

/* fp_cached(): the table cannot say, fp_lookup() must. */
#define FP_MISS		((struct fp_chan *)2)

/*
 * What the table says of @ch, without a lock or a system call: its
 * mapping, NULL for the kernel path, or FP_MISS (the switch not read yet,
 * no entry, or the close count moved).  Inline in the one-element steps.
 */
static inline __attribute__((always_inline)) struct fp_chan *fp_cached(int ch)
{
	int on = __atomic_load_n(&fp_on, __ATOMIC_RELAXED);
	struct fp_chan **chunk, *c;

	if (on <= 0)
		return on ? FP_MISS : NULL;
	if (ch < 0 || ch >= FP_MAX_FD)
		return NULL;
	chunk = __atomic_load_n(&fp_table[ch >> FP_CHUNK_BITS], __ATOMIC_ACQUIRE);
	if (!chunk)
		return FP_MISS;
	c = __atomic_load_n(&chunk[ch & (FP_CHUNK - 1)], __ATOMIC_ACQUIRE);
	if (c == FP_NONE)
		return NULL;
	if (c && __atomic_load_n(c->closes, __ATOMIC_RELAXED) == c->fd_closes)
		return c;
	return FP_MISS;
}

/**
 * fp_lookup() - the mapping of channel @ch, mapping it on first use
 * @ch: a descriptor
 *
 * Return: the mapping, or NULL when @ch takes the kernel path (the fast
 * path is off, @ch is not a mappable channel, or mapping failed).
 */
struct fp_chan *fp_lookup(int ch)
{
	struct fp_chan *c = fp_cached(ch);

	if (c != FP_MISS)
		return c;
	if (!fp_enabled())
		return NULL;
	c = fp_cached(ch);
	return c == FP_MISS ? fp_lookup_slow(ch) : c;
}

/**
 * fp_forget() - drop what is known of descriptor @ch
 * @ch: a descriptor that names a new channel now, or that is going away
 *
 * Unmaps the channel it named, if any: no other thread may be using the
 * mapping through @ch.
 */
void fp_forget(int ch)
{
	struct fp_chan **slot, *c;

	if (ch < 0 || ch >= FP_MAX_FD)
		return;
	pthread_mutex_lock(&fp_lock);
	slot = fp_table[ch >> FP_CHUNK_BITS] ?
	       &fp_table[ch >> FP_CHUNK_BITS][ch & (FP_CHUNK - 1)] : NULL;
	c = slot ? *slot : NULL;
	if (c) {
		__atomic_store_n(slot, NULL, __ATOMIC_RELEASE);
		if (c != FP_NONE)
			fp_unmap(c);
	}
	pthread_mutex_unlock(&fp_lock);
}

/* Whether [@p, @p + @n) can be no user buffer at all (the kernel says EFAULT). */
static int fp_surely_bad(const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p;

	if (a < 4096 || a + n < a)
		return 1;
#if defined(__x86_64__)
	if (a + n > UINT64_C(0x00007ffffffff000))
		return 1;
#endif
	return 0;
}

/*
 * Touch every page of the element at @p before a slot is claimed, so that
 * an inaccessible buffer faults while nothing is claimed: reading for a
 * send, an atomic no-op write for a receive.
 */
static void fp_touch(const void *p, size_t n, int write)
{
	const volatile uint8_t *b = p;
	size_t off;

	for (off = 0; off < n; off = (off | 4095) + 1) {
		if (write)
			__atomic_fetch_or((uint8_t *)&b[off], 0, __ATOMIC_RELAXED);
		else
			(void)b[off];
	}
	if (write)
		__atomic_fetch_or((uint8_t *)&b[n - 1], 0, __ATOMIC_RELAXED);
	else
		(void)b[n - 1];
}

/**
 * fp_elem_size() - the element size of a mapped channel
 * @c: its mapping
 *
 * Return: bytes per element.
 */
uint32_t fp_elem_size(const struct fp_chan *c)
{
	return c->elem_size;
}

static uint64_t *fp_slot_of(const struct fp_chan *c, uint64_t pos)
{
	return &c->slots[pos % c->capacity];
}

static uint8_t *fp_elem_of(const struct fp_chan *c, uint64_t pos)
{
	return c->elems + (size_t)(pos % c->capacity) * c->elem_size;
}

/* Move hint @hint from @pos to @pos + 1 unless someone else moved it. */
static void fp_advance(uint64_t *hint, uint64_t pos)
{
	__atomic_compare_exchange_n(hint, &pos, pos + 1, 0, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

static uint32_t fp_state(const struct fp_chan *c)
{
	return __atomic_load_n(&c->ctrl->state, __ATOMIC_ACQUIRE);
}

/*
 * Whether a receiver sleeps in the kernel: then a one-element send goes
 * there too, one system call that hands the element over, rather than a
 * publish followed by KCHAN_IOC_WAKE for the kernel to move it (two rounds
 * of the ring's protocol).  Only a hint, read without a barrier: a
 * receiver that comes just after is woken the usual way, (D) of fp_send().
 * Not for batches: after the kernel's one element, the rest of a batch
 * must still reach the other sleeping receivers and the ring, which the
 * runs and their KCHAN_IOC_WAKE do (fp_send_many()).
 */
static int fp_receiver_sleeps(const struct fp_chan *c)
{
	return __atomic_load_n(&c->ctrl->recv_waiters, __ATOMIC_RELAXED) &
	       ~KCHAN_MAP_WAITERS_ARMED;
}

/*
 * Whether the ring holds nothing, not even an element being written: the
 * oldest slot is free for its position (a hint, as the kernel's
 * kchan_shring_empty()).
 */
static int fp_ring_empty(const struct fp_chan *c)
{
	uint64_t h = __atomic_load_n(c->head, __ATOMIC_RELAXED);

	return __atomic_load_n(fp_slot_of(c, h), __ATOMIC_RELAXED) ==
	       slot_word(h, SLOT_EMPTY, 0);
}

/* After a store to a slot: tell the kernel if tasks wait on the other side. */
static void fp_wake_if_waiters(int ch, const uint32_t *waiters)
{
	/* Pairs with smp_mb() in the kernel after it counts or arms a waiter. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(waiters, __ATOMIC_RELAXED))
		sys_ioctl(ch, KCHAN_IOC_WAKE, NULL);
}

/*
 * Claim up to @n consecutive slots from the hint @hint on: each slot whose
 * word is @from for its position becomes @to, owned by this process, by a
 * compare-and-swap of its own (a full barrier, as in fp_send() and
 * fp_recv()).  The run ends at the first slot that is not @from; the
 * hint moves past the run unless someone moved it meanwhile.  Returns the
 * run's length, its first position in *@first.
 */
static uint32_t fp_claim_run(const struct fp_chan *c, uint64_t *hint,
			     uint64_t from, uint64_t to, uint32_t n,
			     uint64_t *first)
{
	uint64_t p = __atomic_load_n(hint, __ATOMIC_RELAXED);
	uint64_t want = slot_word(p, from, 0), mine = slot_word(p, to, c->owner);
	uint64_t *slot = fp_slot_of(c, p), *end = c->slots + c->capacity, w;
	uint32_t k;

	for (k = 0; k < n; k++) {
		w = want;
		/*
		 * On success an acquire: pairs with the release that freed
		 * (pair 1) or published (pair 2) the slot.
		 */
		if (!__atomic_compare_exchange_n(slot, &w, mine, 0,
						 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			break;
		want += SLOT_POS_ONE;	/* the next position's words */
		mine += SLOT_POS_ONE;
		if (++slot == end)
			slot = c->slots;
	}
	*first = p;
	if (k)	/* on failure this overwrites p, no longer needed */
		__atomic_compare_exchange_n(hint, &p, p + k, 0, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
	return k;
}

/*
 * Store a release into the words of the @k slots from position @p on:
 * slot_word(@p + @lap + j, @state, @owner) into the j-th.
 */
static void fp_store_run(const struct fp_chan *c, uint64_t p, uint32_t k,
			 uint64_t lap, uint64_t state, uint64_t owner)
{
	uint64_t word = slot_word(p + lap, state, owner);
	uint64_t *slot = fp_slot_of(c, p), *end = c->slots + c->capacity;

	while (k--) {
		__atomic_store_n(slot, word, __ATOMIC_RELEASE);
		word += SLOT_POS_ONE;
		if (++slot == end)
			slot = c->slots;
	}
}

/*
 * Copy @k elements between @buf and the ring from position @p on: at
 * most two memcpy() calls, the run split where the ring wraps.
 */
static inline __attribute__((always_inline)) void
fp_copy_run(const struct fp_chan *c, uint64_t p, uint32_t k, void *buf,
	    int to_ring)
{
	uint32_t i = p % c->capacity, first = c->capacity - i;
	size_t esz = c->elem_size;
	uint8_t *b = buf;

	if (first > k)
		first = k;
	if (to_ring)
		memcpy(c->elems + (size_t)i * esz, b, first * esz);
	else
		memcpy(b, c->elems + (size_t)i * esz, first * esz);
	if (first == k)
		return;		/* the common case: no wrap */
	if (to_ring)
		memcpy(c->elems, b + first * esz, (k - first) * esz);
	else
		memcpy(b + first * esz, c->elems, (k - first) * esz);
}

/*
 * Receive up to @n elements for a mapped broadcast subscriber (the
 * protocol of Documentation/design/fastpath.rst, "Broadcast"): read the
 * cursor c, copy the elements from c up to @tail, look at @head again (a
 * lossy send may have overwritten them meanwhile), and move the cursor
 * past them with a compare-and-swap - the commit, which decides between
 * processes sharing the subscriber.  Returns the number received,
 * -EAGAIN (@try_only: nothing there and the channel open), or 0: the
 * kernel decides (nothing there, a gap, the channel closed, a cursor the
 * kernel has yet to set, the buffer surely bad).
 */
static inline __attribute__((always_inline)) ssize_t
fp_sub_recv(int ch, struct fp_chan *c, void *elems, size_t n, int try_only)
{
	const struct kchan_bcast_map_ctrl *b = c->bctrl;
	uint32_t tries = FP_SLACK, k = n < c->capacity ? (uint32_t)n : c->capacity;
	uint64_t cur = 0, t = 0, avail;

	/*
	 * No fp_touch(): the copy comes before the commit, so a buffer that
	 * faults does so while nothing is taken.
	 */
	if (fp_surely_bad(elems, (size_t)k * c->elem_size))
		return 0;
	while (tries--) {
		cur = __atomic_load_n(c->cursor, __ATOMIC_RELAXED);
		/* Pairs with the kernel's release of @tail after the elements. */
		t = __atomic_load_n(&b->tail, __ATOMIC_ACQUIRE);
		if (cur >= t || cur < __atomic_load_n(&b->head, __ATOMIC_RELAXED))
			break;
		avail = t - cur;
		if (avail < k)
			k = (uint32_t)avail;
		fp_copy_run(c, cur, k, elems, 0);
		/*
		 * The copy before the second look at @head: pairs with the
		 * kernel's smp_wmb() between storing @head and overwriting.
		 */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (cur < __atomic_load_n(&b->head, __ATOMIC_RELAXED))
			break;		/* overwritten: the kernel tells the gap */
		/* A full barrier: the copy is done before the slots may go. */
		if (!__atomic_compare_exchange_n(c->cursor, &cur, cur + k, 0,
						 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			continue;	/* a process sharing it took them */
		/* Pairs with smp_mb() after the kernel counts a blocked sender. */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&b->send_waiters, __ATOMIC_RELAXED))
			sys_ioctl(ch, KCHAN_IOC_WAKE, NULL);
		return k;
	}
	if (try_only && cur == t &&
	    !(__atomic_load_n(&b->state, __ATOMIC_ACQUIRE) & KCHAN_MAP_CLOSED))
		return -EAGAIN;
	return 0;
}

/*
 * fp_sub_recv() of one element, compiled for that (a subscriber's
 * one-element receive): 1, -EAGAIN or %FP_KERNEL.
 */
static __attribute__((noinline)) int
fp_sub_recv_one(int ch, struct fp_chan *c, void *elem, int try_only)
{
	ssize_t got = fp_sub_recv(ch, c, elem, 1, try_only);

	return got == 1 || got == -EAGAIN ? (int)got : FP_KERNEL;
}

/*
 * fp_send() - send one element through the mapped ring
 * @ch: the channel's descriptor
 * @c: its mapping, a channel's ring (fp_send_to() has tested it)
 * @elem: the element
 * @try_only: a full ring is -EAGAIN rather than %FP_KERNEL
 *
 * Return: 0 (sent), -EPIPE (closed), -EAGAIN, or %FP_KERNEL: the kernel
 * decides (the ring is full, the channel closed, the buffer surely bad).
 */
static __attribute__((noinline)) int
fp_send(int ch, struct fp_chan *c, const void *elem, int try_only)
{
	uint32_t tries = c->capacity + FP_SLACK;
	uint64_t t, w, *slot;
	int touched = 0;

	if (fp_surely_bad(elem, c->elem_size) || (fp_state(c) & KCHAN_MAP_CLOSED))
		return FP_KERNEL;
	while (tries--) {
		t = __atomic_load_n(c->tail, __ATOMIC_RELAXED);
		slot = fp_slot_of(c, t);
		/* Pairs with the release of the receiver that freed it. */
		w = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
		if (w == slot_word(t, SLOT_EMPTY, 0)) {
			if (!touched) {
				fp_touch(elem, c->elem_size, 0);
				touched = 1;
			}
			/* (A): a full barrier, before CLOSED is read (pair 3). */
			if (!__atomic_compare_exchange_n(slot, &w,
					slot_word(t, SLOT_WRITING, c->owner), 0,
					__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
				continue;
			fp_advance(c->tail, t);
			if (fp_state(c) & KCHAN_MAP_CLOSED) {		/* (B) */
				__atomic_store_n(slot, slot_word(t, SLOT_FULL, SLOT_VOID),
						 __ATOMIC_RELEASE);
				return -EPIPE;
			}
			memcpy(fp_elem_of(c, t), elem, c->elem_size);
			/* (C): the element before FULL (pair 4). */
			__atomic_store_n(slot, slot_word(t, SLOT_FULL, 0),
					 __ATOMIC_RELEASE);
			fp_wake_if_waiters(ch, &c->ctrl->recv_waiters);	/* (D) */
			return 0;
		}
		if (slot_is_for(w, t))
			fp_advance(c->tail, t);		/* claimed: move on */
		else if (slot_is_for(w, t - c->capacity))
			break;				/* the previous lap: full */
	}
	return try_only && !(fp_state(c) & KCHAN_MAP_CLOSED) ? -EAGAIN : FP_KERNEL;
}

/*
 * fp_recv() - receive one element through the mapped ring
 * @ch: the channel's descriptor
 * @c: its mapping, a channel's ring (a subscriber's is fp_sub_recv()'s)
 * @elem: where the element goes
 * @try_only: an empty ring is -EAGAIN rather than %FP_KERNEL, when
 *	nothing else may be waiting for the kernel to hand out
 *
 * Return: 1 (received), -EAGAIN, or %FP_KERNEL: the kernel decides (the
 * ring is empty, elements were given back, the channel closed, the buffer
 * surely bad).
 */
static __attribute__((noinline)) int
fp_recv(int ch, struct fp_chan *c, void *elem, int try_only)
{
	uint32_t tries = c->capacity + FP_SLACK;
	uint64_t h, w, *slot;
	int touched = 0;

	if (fp_surely_bad(elem, c->elem_size) || (fp_state(c) & KCHAN_MAP_RETURNED))
		return FP_KERNEL;
	while (tries--) {
		h = __atomic_load_n(c->head, __ATOMIC_RELAXED);
		slot = fp_slot_of(c, h);
		/* Pairs with the release that published the element. */
		w = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
		if (w == slot_word(h, SLOT_FULL, 0)) {
			if (!touched) {
				fp_touch(elem, c->elem_size, 1);
				touched = 1;
			}
			if (!__atomic_compare_exchange_n(slot, &w,
					slot_word(h, SLOT_READING, c->owner), 0,
					__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
				continue;
			fp_advance(c->head, h);
			memcpy(elem, fp_elem_of(c, h), c->elem_size);
			/* (E): copied out before the slot is free again. */
			__atomic_store_n(slot, slot_word(h + c->capacity, SLOT_EMPTY, 0),
					 __ATOMIC_RELEASE);
			fp_wake_if_waiters(ch, &c->ctrl->send_waiters);	/* (F) */
			return 1;
		}
		if (w == slot_word(h, SLOT_FULL, SLOT_VOID)) {
			/* A send that never happened: free it, move on. */
			if (__atomic_compare_exchange_n(slot, &w,
					slot_word(h + c->capacity, SLOT_EMPTY, 0), 0,
					__ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
				fp_advance(c->head, h);
			continue;
		}
		if (slot_is_for(w, h + c->capacity) ||
		    (slot_is_for(w, h) && slot_state(w) == SLOT_READING))
			fp_advance(c->head, h);		/* taken: move on */
		else if (slot_is_for(w, h))
			break;				/* empty, or being written */
	}
	if (try_only && !(fp_state(c) & (KCHAN_MAP_CLOSED | KCHAN_MAP_RETURNED)) &&
	    !__atomic_load_n(&c->ctrl->send_waiters, __ATOMIC_RELAXED))
		return -EAGAIN;
	return FP_KERNEL;
}

/*
 * The tests of a one-element send before the ring (@c from fp_cached() or
 * fp_lookup()): the kernel path; a subscriber, which the kernel refuses
 * (EBADF); a receiver asleep in the kernel, which a send there hands the
 * element to in one system call (rather than a publish, then
 * %KCHAN_IOC_WAKE for the kernel to move it).
 */
static inline __attribute__((always_inline)) int
fp_send_to(int ch, struct fp_chan *c, const void *elem, int try_only)
{
	if (!c || c->bctrl || fp_receiver_sleeps(c))
		return FP_KERNEL;
	return fp_send(ch, c, elem, try_only);
}

/*
 * Likewise for a receive: a subscriber's goes to its cursor; a blocking
 * receive that finds the ring empty, the common case of one about to
 * sleep, goes to the kernel at once, which looks at the ring again under
 * its lock.
 */
static inline __attribute__((always_inline)) int
fp_recv_from(int ch, struct fp_chan *c, void *elem, int try_only)
{
	if (!c)
		return FP_KERNEL;
	if (c->bctrl)
		return fp_sub_recv_one(ch, c, elem, try_only);
	if (!try_only && fp_ring_empty(c))
		return FP_KERNEL;
	return fp_recv(ch, c, elem, try_only);
}

/* The one-element steps when the table cannot say: out of line. */
static __attribute__((noinline)) int
fp_send_looked_up(int ch, const void *elem, int try_only)
{
	return fp_send_to(ch, fp_lookup(ch), elem, try_only);
}

static __attribute__((noinline)) int
fp_recv_looked_up(int ch, void *elem, int try_only)
{
	return fp_recv_from(ch, fp_lookup(ch), elem, try_only);
}

/**
 * fp_send_one() - the fast path's try at sending one element on @ch
 * @ch: a descriptor
 * @elem: the element
 * @try_only: a full ring is -EAGAIN rather than %FP_KERNEL
 *
 * The table's lookup and the tests before the ring are inline here, and
 * everything after them a tail call: a send of a ping-pong, which finds
 * its receiver asleep each time, costs the lookup and those tests.
 *
 * Return: 0 (sent), -EPIPE (closed), -EAGAIN, or %FP_KERNEL: the kernel
 * decides (the kernel path, a receiver asleep, the ring full, the channel
 * closed, the buffer surely bad).
 */
int fp_send_one(int ch, const void *elem, int try_only)
{
	struct fp_chan *c = fp_cached(ch);

	if (c == FP_MISS)
		return fp_send_looked_up(ch, elem, try_only);
	return fp_send_to(ch, c, elem, try_only);
}

/**
 * fp_recv_one() - the fast path's try at receiving one element on @ch
 * @ch: a descriptor
 * @elem: where the element goes
 * @try_only: an empty ring is -EAGAIN rather than %FP_KERNEL, when
 *	nothing else may be waiting for the kernel to hand out
 *
 * As fp_send_one().
 *
 * Return: 1 (received), -EAGAIN, or %FP_KERNEL: the kernel decides (the
 * kernel path, an empty ring, elements given back, a gap, the channel
 * closed, the buffer surely bad).
 */
int fp_recv_one(int ch, void *elem, int try_only)
{
	struct fp_chan *c = fp_cached(ch);

	if (c == FP_MISS)
		return fp_recv_looked_up(ch, elem, try_only);
	return fp_recv_from(ch, c, elem, try_only);
}

/**
 * fp_send_many() - send a run of elements through the mapped ring
 * @ch: the channel's descriptor
 * @c: its mapping
 * @elems: the elements
 * @n: how many, at least 1
 *
 * The batched form of fp_send(): the slots of a run are claimed one by
 * one, then the close is checked once, the elements copied in at most two
 * pieces, the slots published, and the receivers' waiter word read once,
 * after one full fence.  When no run can be claimed it sends one element
 * as fp_send() does, hints moving and all.
 *
 * Return: the number sent, -EPIPE, or 0: the kernel decides.
 */
ssize_t fp_send_many(int ch, struct fp_chan *c, const void *elems, size_t n)
{
	uint32_t k = n < c->capacity ? (uint32_t)n : c->capacity;
	size_t bytes = (size_t)k * c->elem_size;	/* within the ring's size */
	uint64_t t;
	int ret;

	if (c->bctrl || fp_surely_bad(elems, bytes) ||
	    (fp_state(c) & KCHAN_MAP_CLOSED))
		return 0;
	fp_touch(elems, bytes, 0);
	k = fp_claim_run(c, c->tail, SLOT_EMPTY, SLOT_WRITING, k, &t);
	if (!k) {
		ret = fp_send(ch, c, elems, 0);
		return ret == FP_KERNEL ? 0 : ret ? ret : 1;
	}
	/* After the claims' full barriers (pair 3), as (B) of fp_send(). */
	if (fp_state(c) & KCHAN_MAP_CLOSED) {
		fp_store_run(c, t, k, 0, SLOT_FULL, SLOT_VOID);
		return -EPIPE;
	}
	fp_copy_run(c, t, k, (void *)elems, 1);
	fp_store_run(c, t, k, 0, SLOT_FULL, 0);		/* as (C): pair 4 */
	fp_wake_if_waiters(ch, &c->ctrl->recv_waiters);	/* as (D) */
	return k;
}

/**
 * fp_recv_many() - receive a run of elements through the mapped ring
 * @ch: the channel's descriptor
 * @c: its mapping
 * @elems: where the elements go
 * @n: how many at most, at least 1
 *
 * The batched form of fp_recv(), as fp_send_many() is of fp_send().
 *
 * Return: the number received, or 0: the kernel decides.
 */
ssize_t fp_recv_many(int ch, struct fp_chan *c, void *elems, size_t n)
{
	uint32_t k = n < c->capacity ? (uint32_t)n : c->capacity;
	size_t bytes = (size_t)k * c->elem_size;	/* within the ring's size */
	uint64_t h;
	int ret;

	if (c->bctrl)
		return fp_sub_recv(ch, c, elems, n, 0);
	if (fp_surely_bad(elems, bytes) || (fp_state(c) & KCHAN_MAP_RETURNED))
		return 0;
	fp_touch(elems, bytes, 1);
	k = fp_claim_run(c, c->head, SLOT_FULL, SLOT_READING, k, &h);
	if (!k) {
		ret = fp_recv(ch, c, elems, 0);
		return ret == FP_KERNEL ? 0 : ret;
	}
	fp_copy_run(c, h, k, elems, 0);
	fp_store_run(c, h, k, c->capacity, SLOT_EMPTY, 0);	/* as (E) */
	fp_wake_if_waiters(ch, &c->ctrl->send_waiters);		/* as (F) */
	return k;
}

int kchan_map(int ch)
{
	struct kchan_map_info mi;
	int ret;

	if (fp_lookup(ch))
		return 1;
	/* Why not: only a descriptor that is not open is an error. */
	ret = fp_map_info(ch, &mi);
	return ret == -EBADF ? ret : 0;
}

int kchan_unmap(int ch)
{
	fp_forget(ch);
	return 0;
}
