// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: select - perform exactly one of several send and receive cases.
 *
 * Go's algorithm (runtime/select.go), in the kernel:
 *
 * 1. Read the cases and take a reference on every channel file.  Shuffle
 *    the live cases into a poll order (so the choice among ready cases is
 *    uniform) and sort the distinct channels by address: the lock order.
 * 2. Lock every channel, in lock order.  Walk the cases in poll order and
 *    perform the first one that can proceed without blocking; done.
 * 3. Nothing ready and blocking allowed: unlock, allocate one waiter
 *    message per case (copying in the elements of sends), lock again and
 *    repeat step 2, since the channels may have changed.  Still nothing:
 *    queue one waiter per case, all sharing one selector, unlock all and
 *    sleep (wait.c).
 * 4. The task that completes one of the waiters first claims the selector
 *    with cmpxchg(), so exactly one case wins; the other waiters are stale
 *    and are dropped by whoever meets them at the head of a queue.
 * 5. Once woken (or, on a signal or timeout, once the selector is
 *    aborted), lock each channel in turn to dequeue the waiters still
 *    queued, then report the winner.
 *
 * Locking: a select holds all of its channels' locks together only in
 * steps 2 and 3, always taken in ascending address order; every other path
 * holds one channel lock at a time, so no two tasks can deadlock.  Lockdep
 * sees the channel locks as nested under the pseudo-lock "kchan_select"
 * (mutex_lock_nest_lock()), which also folds them into one held-lock entry
 * (a select may hold more locks than lockdep's MAX_LOCK_DEPTH).
 */
#include <linux/file.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/random.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <linux/kchan.h>

#include "compat.h"
#include "kchan.h"
#include "trace.h"

#ifdef CONFIG_DEBUG_LOCK_ALLOC
static struct lock_class_key kchan_select_key;
static struct {
	struct lockdep_map dep_map;
} kchan_select_nest = {
	.dep_map = STATIC_LOCKDEP_MAP_INIT("kchan_select", &kchan_select_key),
};
#endif

/**
 * struct kchan_sel_case - one case, as the kernel keeps it
 * @file: the channel's file, referenced for the whole select; NULL for a
 *	case that is never ready (descriptor -1).
 * @ch: the channel, or NULL.
 * @elem: the element to send or the buffer to receive into.
 * @send: a send case, else a receive case.
 */
struct kchan_sel_case {
	struct file *file;
	struct kchan *ch;
	u8 __user *elem;
	bool send;
};

/**
 * struct kchan_sel - one select call; private to the calling task
 * @selector: what the queued waiters share.
 * @opts: non-blocking or deadline.
 * @nr_cases: number of cases.
 * @nr_poll: number of live cases, in @pollorder.
 * @nr_locks: number of distinct channels, in @lockorder.
 * @waiters: one per case, indexed like the cases.
 * @cases: [@nr_cases].
 * @lockorder: distinct channels by ascending address.
 * @pollorder: live case indices in random order.
 * @raw: the cases as user space passed them.
 * @heap: where the arrays live when they are not on the stack, or NULL.
 */
struct kchan_sel {
	struct kchan_selector selector;
	struct kchan_wait_opts opts;
	u32 nr_cases;
	u32 nr_poll;
	u32 nr_locks;
	struct kchan_waiter *waiters;
	struct kchan_sel_case *cases;
	struct kchan **lockorder;
	u8 *pollorder;
	struct kchan_select_case *raw;
	void *heap;
};

/* pollorder holds case indices in a byte. */
static_assert(KCHAN_SELECT_MAX_CASES <= 256);

/* Selects of up to this many cases keep their arrays on the stack. */
#define KCHAN_SEL_STACK_CASES	8

/**
 * struct kchan_sel_stack - the arrays of a small select, on the stack
 * @waiters: see struct kchan_sel.
 * @cases: likewise.
 * @lockorder: likewise.
 * @raw: likewise.
 * @pollorder: likewise.
 */
struct kchan_sel_stack {
	struct kchan_waiter waiters[KCHAN_SEL_STACK_CASES];
	struct kchan_sel_case cases[KCHAN_SEL_STACK_CASES];
	struct kchan *lockorder[KCHAN_SEL_STACK_CASES];
	struct kchan_select_case raw[KCHAN_SEL_STACK_CASES];
	u8 pollorder[KCHAN_SEL_STACK_CASES];
};

/* Point @s at arrays for @n cases: @stack when they fit, else the heap. */
static int kchan_sel_alloc(struct kchan_sel *s, u32 n,
			   struct kchan_sel_stack *stack)
{
	size_t one = sizeof(*s->waiters) + sizeof(*s->cases) +
		     sizeof(*s->lockorder) + sizeof(*s->raw) +
		     sizeof(*s->pollorder);
	u32 i;

	if (n <= KCHAN_SEL_STACK_CASES) {
		s->waiters = stack->waiters;
		s->cases = stack->cases;
		s->lockorder = stack->lockorder;
		s->raw = stack->raw;
		s->pollorder = stack->pollorder;
	} else {
		/* n <= KCHAN_SELECT_MAX_CASES, so this cannot overflow. */
		s->heap = kchan_alloc(n * one, false);
		if (!s->heap)
			return -ENOMEM;
		s->waiters = s->heap;
		s->cases = (struct kchan_sel_case *)(s->waiters + n);
		s->lockorder = (struct kchan **)(s->cases + n);
		s->raw = (struct kchan_select_case *)(s->lockorder + n);
		s->pollorder = (u8 *)(s->raw + n);
	}
	/* Only what kchan_sel_free() and the queues look at first. */
	for (i = 0; i < n; i++) {
		INIT_LIST_HEAD(&s->waiters[i].node);
		s->waiters[i].msg = NULL;
		s->cases[i].file = NULL;
		s->cases[i].ch = NULL;
	}
	s->nr_cases = n;
	return 0;
}

static void kchan_sel_free(struct kchan_sel *s)
{
	u32 i;

	for (i = 0; i < s->nr_cases; i++) {
		if (s->cases[i].file) {
			kchan_msg_free(s->cases[i].ch, s->waiters[i].msg);
			fput(s->cases[i].file);
		}
	}
	kvfree(s->heap);
}

/* Read the user's cases into @s->raw: in one copy when the layouts match. */
static int kchan_sel_copy_cases(struct kchan_sel *s, const u8 __user *ucase,
				u32 case_size)
{
	u32 i;
	int ret;

	if (case_size == sizeof(*s->raw)) {
		if (copy_from_user(s->raw, ucase, s->nr_cases * case_size))
			return -EFAULT;
		return 0;
	}
	for (i = 0; i < s->nr_cases; i++, ucase += case_size) {
		ret = copy_struct_from_user(&s->raw[i], sizeof(*s->raw), ucase,
					    case_size);
		if (ret)
			return ret;
	}
	return 0;
}

/* Validate case @i and take a reference on its channel. */
static int kchan_sel_read_case(struct kchan_sel *s, u32 i)
{
	const struct kchan_select_case *kc = &s->raw[i];
	struct kchan_sel_case *c = &s->cases[i];

	if (kc->flags || kc->__reserved)
		return -EINVAL;
	if (kc->op != KCHAN_CASE_RECV && kc->op != KCHAN_CASE_SEND)
		return -EINVAL;
	if (kc->fd == -1)
		return 0;

	c->file = fget(kc->fd);
	if (!c->file)
		return -EBADF;
	c->ch = kchan_from_file(c->file);
	if (!c->ch)
		return -EINVAL;
	c->elem = u64_to_user_ptr(kc->elem);
	c->send = kc->op == KCHAN_CASE_SEND;
	return 0;
}

/* Shuffle the live cases (inside-out Fisher-Yates) and sort the channels. */
static void kchan_sel_order(struct kchan_sel *s)
{
	u32 i, j, n = 0;

	for (i = 0; i < s->nr_cases; i++) {
		if (!s->cases[i].ch)
			continue;
		j = get_random_u32_below(s->nr_poll + 1);
		s->pollorder[s->nr_poll] = s->pollorder[j];
		s->pollorder[j] = i;
		s->lockorder[s->nr_poll++] = s->cases[i].ch;
	}

	/* Insertion sort: few cases, and no indirect calls. */
	for (i = 1; i < s->nr_poll; i++) {
		struct kchan *ch = s->lockorder[i];

		for (j = i; j && (uintptr_t)s->lockorder[j - 1] > (uintptr_t)ch; j--)
			s->lockorder[j] = s->lockorder[j - 1];
		s->lockorder[j] = ch;
	}
	for (i = 0; i < s->nr_poll; i++)
		if (!n || s->lockorder[n - 1] != s->lockorder[i])
			s->lockorder[n++] = s->lockorder[i];
	s->nr_locks = n;
}

static void kchan_sel_lock(struct kchan_sel *s)
{
	u32 i;

	lock_map_acquire(&kchan_select_nest.dep_map);
	for (i = 0; i < s->nr_locks; i++)
		mutex_lock_nest_lock(&s->lockorder[i]->lock, &kchan_select_nest);
}

static void kchan_sel_unlock(struct kchan_sel *s)
{
	u32 i = s->nr_locks;

	while (i--)
		mutex_unlock(&s->lockorder[i]->lock);
	lock_map_release(&kchan_select_nest.dep_map);
}

/*
 * Perform the first case, in poll order, that can proceed; all channels
 * are locked.  Returns the ioctl's result (case index, possibly with
 * KCHAN_SELECT_CLOSED, or -EPIPE/-EFAULT) and sets *@done to the channel
 * that changed, or returns KCHAN_WOULD_BLOCK.
 */
static long kchan_sel_poll(struct kchan_sel *s, struct kchan **done)
{
	u32 k;

	for (k = 0; k < s->nr_poll; k++) {
		u32 i = s->pollorder[k];
		struct kchan_sel_case *c = &s->cases[i];
		int ret;

		if (c->send)
			ret = kchan_send_step(c->ch, c->elem);
		else
			ret = kchan_recv_step(c->ch, c->elem);
		if (ret == KCHAN_WOULD_BLOCK)
			continue;

		*done = c->ch;
		if (ret < 0)
			return ret;
		c->ch->selects_won++;
		return ret ? i : i | KCHAN_SELECT_CLOSED;
	}
	return KCHAN_WOULD_BLOCK;
}

/* Give every live case a waiter with its message, before locking. */
static int kchan_sel_prepare(struct kchan_sel *s)
{
	u32 k;

	for (k = 0; k < s->nr_poll; k++) {
		u32 i = s->pollorder[k];
		struct kchan_sel_case *c = &s->cases[i];
		struct kchan_waiter *w = &s->waiters[i];

		w->msg = kchan_msg_alloc(c->ch);
		if (!w->msg)
			return -ENOMEM;
		if (c->send &&
		    copy_from_user(w->msg->data, c->elem, c->ch->ring.elem_size))
			return -EFAULT;
		w->task = current;
		w->sel = &s->selector;
		w->index = i;
		w->state = KCHAN_WAITING;
		w->sender = c->send;
	}
	return 0;
}

static void kchan_sel_enqueue(struct kchan_sel *s)
{
	u32 k;

	for (k = 0; k < s->nr_poll; k++) {
		u32 i = s->pollorder[k];
		struct kchan *ch = s->cases[i].ch;

		kchan_enqueue(ch, &s->waiters[i]);
		if (s->cases[i].send)
			ch->send_blocks++;
		else
			ch->recv_blocks++;
	}
}

/* A queued waiter makes the other side of its channel ready for poll. */
static void kchan_sel_wake_pollers(struct kchan_sel *s)
{
	u32 k;

	for (k = 0; k < s->nr_poll; k++) {
		struct kchan_sel_case *c = &s->cases[s->pollorder[k]];

		kchan_wake_pollers(c->ch, c->send ? EPOLLIN | EPOLLRDNORM :
						    EPOLLOUT | EPOLLWRNORM);
	}
}

/* Count a timeout once on every distinct channel of the select. */
static void kchan_sel_count_timeout(struct kchan_sel *s)
{
	u32 i;

	for (i = 0; i < s->nr_locks; i++) {
		struct kchan *ch = s->lockorder[i];

		mutex_lock(&ch->lock);
		ch->timeouts++;
		mutex_unlock(&ch->lock);
	}
}

/* Whether completed case @i lets the select return its index. */
static bool kchan_sel_won(struct kchan_sel *s, u32 i)
{
	return s->waiters[i].state == KCHAN_DONE || !s->cases[i].send;
}

/*
 * Take every waiter that nobody completed off its queue.  Under each
 * case's channel lock, also record the waits nobody completed, and count
 * the win of case @winner (or a negative errno: none).
 * A receive whose copy out then faults still counts as won.
 */
static void kchan_sel_dequeue(struct kchan_sel *s, long winner)
{
	u32 k;

	for (k = 0; k < s->nr_poll; k++) {
		u32 i = s->pollorder[k];
		struct kchan *ch = s->cases[i].ch;
		struct kchan_waiter *w = &s->waiters[i];

		mutex_lock(&ch->lock);
		if (!list_empty(&w->node))
			kchan_dequeue(ch, w);
		/* A completed waiter's wait was recorded by its completer. */
		if (w->state == KCHAN_WAITING)
			kchan_record_wait(ch, w, winner < 0 ?
					  kchan_abort_reason(winner) :
					  KCHAN_WAKE_ELSEWHERE);
		if (i == winner && kchan_sel_won(s, i))
			ch->selects_won++;
		mutex_unlock(&ch->lock);
	}
}

/* The ioctl's result once case @winner was completed. */
static long kchan_sel_result(struct kchan_sel *s, int winner)
{
	struct kchan_sel_case *c = &s->cases[winner];
	struct kchan_waiter *w = &s->waiters[winner];

	if (c->send)
		return w->state == KCHAN_DONE ? winner : -EPIPE;
	if (w->state == KCHAN_CLOSED)
		return winner | KCHAN_SELECT_CLOSED;
	if (copy_to_user(c->elem, w->msg->data, c->ch->ring.elem_size)) {
		kchan_give_back(c->ch, w->msg);
		w->msg = NULL;
		return -EFAULT;
	}
	return winner;
}

static long kchan_sel_run(struct kchan_sel *s)
{
	struct kchan *done = NULL;
	long ret;

	kchan_sel_lock(s);
	ret = kchan_sel_poll(s, &done);
	kchan_sel_unlock(s);
	if (ret != KCHAN_WOULD_BLOCK)
		goto out_done;

	ret = kchan_may_block(&s->opts);
	if (ret)
		return ret;
	ret = kchan_sel_prepare(s);
	if (ret)
		return ret;

	kchan_sel_lock(s);
	ret = kchan_sel_poll(s, &done);
	if (ret != KCHAN_WOULD_BLOCK) {
		kchan_sel_unlock(s);
		goto out_done;
	}
	kchan_sel_enqueue(s);
	kchan_sel_unlock(s);
	kchan_sel_wake_pollers(s);

	ret = kchan_sleep(&s->selector, &s->opts);
	kchan_sel_dequeue(s, ret);
	if (ret == -ETIMEDOUT)
		kchan_sel_count_timeout(s);
	return ret < 0 ? ret : kchan_sel_result(s, ret);

out_done:
	kchan_wake_pollers(done, EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLWRNORM);
	return ret;
}

/**
 * kchan_select() - the %KCHAN_IOC_SELECT ioctl
 * @uarg: struct kchan_select in user memory
 *
 * Return: the index of the case that proceeded, with %KCHAN_SELECT_CLOSED
 * for a receive that saw "closed"; or -EAGAIN, -ETIMEDOUT, -EPIPE,
 * -EINTR/-ERESTART*, -EFAULT, -EBADF, -EINVAL, -E2BIG or -ENOMEM.
 */
long kchan_select(const void __user *uarg)
{
	struct kchan_sel s = {
		.selector.winner = KCHAN_SEL_OPEN,
	};
	struct kchan_sel_stack stack;
	struct kchan_select args;
	long ret;
	u32 i;

	ret = kchan_copy_args(&args, sizeof(args), KCHAN_SELECT_SIZE_VER0, uarg);
	if (ret)
		return ret;
	if (args.flags & ~(KCHAN_SELECT_NONBLOCK | KCHAN_SELECT_DEADLINE))
		return -EINVAL;
	if (args.flags & KCHAN_SELECT_DEADLINE ? args.deadline_ns < 0 :
						 args.deadline_ns)
		return -EINVAL;
	if (args.nr_cases > KCHAN_SELECT_MAX_CASES ||
	    args.case_size < KCHAN_SELECT_CASE_SIZE_VER0)
		return -EINVAL;
	if (args.case_size > PAGE_SIZE)
		return -E2BIG;

	s.opts.nonblock = args.flags & KCHAN_SELECT_NONBLOCK;
	s.opts.has_deadline = args.flags & KCHAN_SELECT_DEADLINE;
	s.opts.deadline = kchan_monotonic_to_host(args.deadline_ns);

	ret = kchan_sel_alloc(&s, args.nr_cases, &stack);
	if (ret)
		return ret;
	s.selector.waiters = s.waiters;

	ret = kchan_sel_copy_cases(&s, u64_to_user_ptr(args.cases),
				   args.case_size);
	if (ret)
		goto out_free;
	for (i = 0; i < args.nr_cases; i++) {
		ret = kchan_sel_read_case(&s, i);
		if (ret)
			goto out_free;
	}
	kchan_sel_order(&s);

	ret = kchan_sel_run(&s);
	trace_kchan_select(ret < 0 ? NULL :
			   s.cases[ret & ~KCHAN_SELECT_CLOSED].ch,
			   args.nr_cases, ret);
out_free:
	kchan_sel_free(&s);
	return ret;
}
