// SPDX-License-Identifier: GPL-2.0
/*
 * kchan: select - perform exactly one of several send and receive cases.
 *
 * Go's algorithm (runtime/select.go), in the kernel, with one difference:
 * Go holds every channel's lock at once while it polls and while it
 * queues; a select here holds one channel lock at a time, so that every
 * lock it waits for can be given up on a fatal signal (a lock holder may
 * be stalled in a user copy, kchan.h) and no lock order is needed.
 *
 * 1. Read the cases and look up every channel file (fdget(): no reference
 *    is taken when the caller's file table is not shared, as poll(2) does).
 *    Shuffle the live cases into a poll order, so that the choice among
 *    ready cases is uniform - or, for a biased select, keep them in array
 *    order, so that the first ready case wins.
 * 2. Poll: walk the cases in poll order; for each one whose channel's
 *    published poll mask says it may proceed, lock that channel alone and
 *    try it (the step functions of xfer.c).  The first that proceeds is
 *    the select's case; done.
 * 3. Nothing proceeded and blocking is allowed: allocate the wait (one
 *    waiter per case) and one message per case (copying in the elements of
 *    sends), then queue: walk the cases in poll order again, locking each
 *    channel in turn.  A case that cannot proceed gets its waiter queued.
 *    A case that has become able to proceed since step 2 is performed by
 *    the select itself, which first claims its own wait for that case, as
 *    a completer would (wait.c): from then on nobody completes the waiters
 *    it already queued.  Were the step to fail after all - the partner it
 *    counted on was claimed by a third task in between, or gave up - the
 *    select takes its waiters off again and starts over at step 2:
 *    nothing happened.
 *    And when some completer claimed one of its queued waiters meanwhile,
 *    the select stops queueing: it has its case.
 * 4. Sleep until a completer claims one of the waiters (wait.c), or the
 *    deadline or a signal aborts the wait.
 * 5. Lock each channel in turn to take the waiters still queued off, then
 *    report the winner.  A fatal signal may interrupt a lock wait here; the
 *    select then leaves those waiters, stale, to others (wait.c).
 *
 * Everything a case touches under its channel's lock is that channel's;
 * what the waiters share - the wait's winner and references - is atomic.
 * A select never proceeds with itself: its own waiters are not partners
 * for its other cases (kchan_case_ready()), as in Go.
 */
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/percpu.h>
#include <linux/random.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <linux/kchan.h>

#include "compat.h"
#include "kchan.h"
#include "trace.h"

/**
 * struct kchan_sel_case - one case, as the kernel keeps it
 * @f: the channel's file, held (fdget()) for the whole select; no file for
 *	a case that is never ready (descriptor -1).
 * @end: the channel's end (a channel, or one end of a broadcast), or NULL.
 * @elem: the element to send or the buffer to receive into.
 * @send: a send case, else a receive case.
 */
struct kchan_sel_case {
	struct fd f;
	struct kchan_end *end;
	u8 __user *elem;
	bool send;
};

/**
 * struct kchan_sel - one select call; private to the calling task
 * @opts: non-blocking or deadline.
 * @nr_cases: number of cases.
 * @nr_read: number of cases read so far (their files are held).
 * @nr_poll: number of live cases, in @pollorder.
 * @rand: the state of the generator that shuffles the cases.
 * @cases: [@nr_cases].
 * @pollorder: live case indices in random order.
 * @raw: the cases as user space passed them.
 * @wait: the wait, once the select must block; else NULL.
 * @user: the caller's budget, when @heap or @wait is charged to it.
 * @heap: the scratch object (cache.c) the arrays live in when they are not
 *	on the stack, or NULL; charged to @user.
 */
struct kchan_sel {
	struct kchan_wait_opts opts;
	u32 nr_cases;
	u32 nr_read;
	u32 nr_poll;
	u64 rand;
	struct kchan_sel_case *cases;
	u8 *pollorder;
	struct kchan_select_case *raw;
	struct kchan_wait *wait;
	struct kchan_user *user;
	void *heap;
};

/* pollorder holds case indices in a byte. */
static_assert(KCHAN_SELECT_MAX_CASES <= 256);

/* The arrays of every case, when they live in a scratch object. */
#define KCHAN_SEL_CASE_BYTES	(sizeof(struct kchan_sel_case) + \
				 sizeof(struct kchan_select_case) + sizeof(u8))
static_assert(KCHAN_SELECT_MAX_CASES * KCHAN_SEL_CASE_BYTES <=
	      KCHAN_SCRATCH_BYTES);

/* Selects of up to this many cases keep their arrays on the stack. */
#define KCHAN_SEL_STACK_CASES	8

/**
 * struct kchan_sel_stack - the arrays of a small select, on the stack
 * @cases: see struct kchan_sel.
 * @raw: likewise.
 * @pollorder: likewise.
 */
struct kchan_sel_stack {
	struct kchan_sel_case cases[KCHAN_SEL_STACK_CASES];
	struct kchan_select_case raw[KCHAN_SEL_STACK_CASES];
	u8 pollorder[KCHAN_SEL_STACK_CASES];
};

/* The outcomes of queueing (step 3) besides a case's result. */
#define KCHAN_SEL_SLEEP		(-EAGAIN)
#define KCHAN_SEL_RETRY		(-EALREADY)

/*
 * Point @s at arrays for @n cases: @stack when they fit, else a scratch
 * object, which a select that does not block takes from and gives back to
 * its CPU's spare (cache.c): no allocation, no zeroing.
 */
static int kchan_sel_alloc(struct kchan_sel *s, u32 n,
			   struct kchan_sel_stack *stack)
{
	if (n <= KCHAN_SEL_STACK_CASES) {
		s->cases = stack->cases;
		s->raw = stack->raw;
		s->pollorder = stack->pollorder;
	} else {
		s->user = kchan_user_current();
		if (!s->user)
			return -ENOMEM;
		if (kchan_budget_charge(s->user, KCHAN_SCRATCH_BYTES))
			return -ENOSPC;
		s->heap = kchan_scratch_alloc();
		if (!s->heap) {
			kchan_budget_uncharge(s->user, KCHAN_SCRATCH_BYTES);
			return -ENOMEM;
		}
		s->cases = s->heap;
		s->raw = (struct kchan_select_case *)(s->cases + n);
		s->pollorder = (u8 *)(s->raw + n);
	}
	s->nr_cases = n;
	return 0;
}

static void kchan_sel_free(struct kchan_sel *s)
{
	u32 i;

	if (s->wait)
		kchan_wait_put(s->wait);
	for (i = 0; i < s->nr_read; i++)
		if (s->cases[i].end)
			fdput(s->cases[i].f);
	if (s->heap) {
		kchan_scratch_free(s->heap);
		kchan_budget_uncharge(s->user, KCHAN_SCRATCH_BYTES);
	}
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

/*
 * Each CPU's Weyl sequence: a select's seed is the next value, mixed by
 * splitmix64.  Seeded from the kernel's generator at module load
 * (kchan_select_init()); a select migrated to another CPU meanwhile just
 * takes that CPU's next value.
 */
static DEFINE_PER_CPU(u64, kchan_sel_weyl);

/* A seed for one select's shuffle: never 0, never the same twice on a CPU. */
static u64 kchan_sel_seed(void)
{
	u64 z = this_cpu_add_return(kchan_sel_weyl, 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31)) | 1;
}

/*
 * A number in [0, @bound): xorshift64* from the call's seed.  The shuffle
 * needs uniformity, not secrecy, and a select of 64 cases should not pay
 * even one call into the CRNG (Go's cheaprand serves the same purpose).
 */
static u32 kchan_sel_rand_below(struct kchan_sel *s, u32 bound)
{
	u64 x = s->rand;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	s->rand = x;
	return ((x * 0x2545f4914f6cdd1dULL) >> 32) * bound >> 32;
}

/*
 * Validate case @i, look up its channel and put it into the poll order:
 * at a random place (inside-out Fisher-Yates), or last when @biased.
 */
static int kchan_sel_read_case(struct kchan_sel *s, u32 i, bool biased)
{
	const struct kchan_select_case *kc = &s->raw[i];
	struct kchan_sel_case *c = &s->cases[i];
	u32 j;

	c->end = NULL;
	if (kc->flags || kc->__reserved)
		return -EINVAL;
	if (kc->op != KCHAN_CASE_RECV && kc->op != KCHAN_CASE_SEND)
		return -EINVAL;
	if (kc->fd == -1)
		return 0;

	c->f = fdget(kc->fd);
	if (!kchan_fd_file(c->f))
		return -EBADF;
	c->end = kchan_end_from_file(kchan_fd_file(c->f));
	if (!c->end) {
		fdput(c->f);
		return -EINVAL;
	}
	if (!(c->end->ops->dirs & (kc->op == KCHAN_CASE_SEND ? KCHAN_END_SEND :
							   KCHAN_END_RECV))) {
		fdput(c->f);
		c->end = NULL;
		return -EBADF;
	}
	c->elem = u64_to_user_ptr(kc->elem);
	c->send = kc->op == KCHAN_CASE_SEND;

	j = biased ? s->nr_poll : kchan_sel_rand_below(s, s->nr_poll + 1);
	s->pollorder[s->nr_poll] = s->pollorder[j];
	s->pollorder[j] = i;
	s->nr_poll++;
	return 0;
}

/* Try case @c once; its channel is locked. */
static int kchan_sel_step(struct kchan_sel_case *c)
{
	return c->end->ops->step(c->end, c->send, c->elem);
}

/*
 * The select's result for case @i, whose step returned @ret (not
 * KCHAN_WOULD_BLOCK); its channel is locked.
 */
static long kchan_sel_stepped(struct kchan_sel *s, u32 i, int ret)
{
	if (ret < 0)
		return ret;
	s->cases[i].end->ch->selects_won++;
	return ret ? i : i | KCHAN_SELECT_CLOSED;
}

/*
 * Whether case @c may proceed, by its channel's published poll mask: a
 * hint that saves taking the lock of a channel that cannot.  A channel
 * becomes ready only under its lock, and kchan_unlock() publishes the
 * mask before it unlocks, so a mask read after the select started misses
 * no change that happened before.
 */
static bool kchan_sel_maybe_ready(const struct kchan_sel_case *c)
{
	__poll_t mask = c->end->ops->mask(c->end);

	return mask & (c->send ? EPOLLOUT : EPOLLIN);
}

/*
 * Step 2: perform the first case, in poll order, that can proceed now.
 * Returns the select's result, or KCHAN_WOULD_BLOCK, or -EINTR when a
 * fatal signal interrupted a lock wait (nothing happened).
 */
static long kchan_sel_poll(struct kchan_sel *s)
{
	u32 k;

	for (k = 0; k < s->nr_poll; k++) {
		u32 i = s->pollorder[k];
		struct kchan_sel_case *c = &s->cases[i];
		long ret;

		if (!kchan_sel_maybe_ready(c))
			continue;
		if (mutex_lock_killable(&c->end->ch->lock))
			return -EINTR;
		ret = kchan_sel_step(c);
		if (ret != KCHAN_WOULD_BLOCK)
			ret = kchan_sel_stepped(s, i, ret);
		c->end->ops->unlock(c->end, true);
		if (ret != KCHAN_WOULD_BLOCK)
			return ret;
	}
	return KCHAN_WOULD_BLOCK;
}

/* Step 3's preparation: the wait, its waiters and their messages. */
static int kchan_sel_prepare(struct kchan_sel *s)
{
	struct kchan_wait *wait;
	u32 k;

	if (s->nr_cases > 1 && !s->user) {
		s->user = kchan_user_current();
		if (!s->user)
			return -ENOMEM;
	}
	/* A select of one case costs what a plain send or receive does. */
	wait = kchan_wait_new(max(s->nr_cases, 1U),
			      s->nr_cases > 1 ? s->user : NULL);
	if (IS_ERR(wait))
		return PTR_ERR(wait);
	s->wait = wait;

	for (k = 0; k < s->nr_poll; k++) {
		u32 i = s->pollorder[k];
		struct kchan_sel_case *c = &s->cases[i];
		struct kchan_waiter *w = &wait->waiters[i];
		struct kchan_msg *msg;

		w->sender = c->send;
		/* Only a peer that hands over the element needs a message. */
		if (!c->end->ops->handoff)
			continue;
		msg = kchan_msg_alloc(c->end->ch);
		if (IS_ERR(msg))
			return PTR_ERR(msg);
		w->msg = msg;
		if (c->send && copy_from_user(msg->data, c->elem, msg->size))
			return -EFAULT;
	}
	return 0;
}

/*
 * Step 3: queue a waiter for each live case, or perform one that has
 * become ready.  Returns KCHAN_SEL_SLEEP (all queued, or a completer
 * already claimed one of them), KCHAN_SEL_RETRY (start over at step 2),
 * -EINTR (a fatal signal interrupted a lock wait), or the result of the
 * case performed.
 */
static long kchan_sel_enqueue(struct kchan_sel *s)
{
	struct kchan_wait *wait = s->wait;
	u32 k;

	for (k = 0; k < s->nr_poll; k++) {
		u32 i = s->pollorder[k];
		struct kchan_sel_case *c = &s->cases[i];
		struct kchan_end *end = c->end;
		struct kchan *ch = end->ch;
		long ret;

		if (mutex_lock_killable(&ch->lock))
			return -EINTR;
		if (READ_ONCE(wait->winner) != KCHAN_SEL_OPEN) {
			end->ops->unlock(end, false);
			return KCHAN_SEL_SLEEP;
		}
		if (!end->ops->case_ready(end, c->send, wait)) {
			end->ops->enqueue(end, &wait->waiters[i]);
			if (c->send)
				ch->send_blocks++;
			else
				ch->recv_blocks++;
			/* The waiter makes the other side ready for poll. */
			end->ops->unlock(end, true);
			continue;
		}
		/* Ready: claim our own wait for it, as a completer would. */
		if (cmpxchg(&wait->winner, KCHAN_SEL_OPEN, i) != KCHAN_SEL_OPEN) {
			end->ops->unlock(end, false);
			return KCHAN_SEL_SLEEP;
		}
		ret = kchan_sel_step(c);
		if (ret == KCHAN_WOULD_BLOCK)
			ret = KCHAN_SEL_RETRY;
		else
			ret = kchan_sel_stepped(s, i, ret);
		end->ops->unlock(end, true);
		return ret;
	}
	return KCHAN_SEL_SLEEP;
}

/* Whether case @i is the first case naming its channel. */
static bool kchan_sel_first_of_chan(struct kchan_sel *s, u32 i)
{
	u32 j;

	for (j = 0; j < i; j++)
		if (s->cases[j].end && s->cases[j].end->ch == s->cases[i].end->ch)
			return false;
	return true;
}

/*
 * Step 5: take every waiter still queued off its queue; @outcome is the
 * index of the completed case, or a negative errno (none).  Under each
 * case's channel lock, count a timeout once per distinct channel and the
 * win of a completed case.  A lock wait that a fatal signal interrupts
 * abandons that waiter (kchan_abandon()).
 */
static void kchan_sel_collect(struct kchan_sel *s, long outcome)
{
	struct kchan_wait *wait = s->wait;
	u32 k;

	for (k = 0; k < s->nr_poll; k++) {
		u32 i = s->pollorder[k];
		struct kchan_sel_case *c = &s->cases[i];
		struct kchan_waiter *w = &wait->waiters[i];

		struct kchan *ch = c->end->ch;

		if (mutex_lock_killable(&ch->lock)) {
			kchan_abandon(c->end, w);
			continue;
		}
		c->end->ops->dequeue(c->end, w);
		if (outcome == -ETIMEDOUT && kchan_sel_first_of_chan(s, i))
			ch->timeouts++;
		/* A send completed as "closed" did not win: it fails. */
		if (i == outcome && (w->state == KCHAN_DONE || !c->send))
			ch->selects_won++;
		c->end->ops->unlock(c->end, false);
	}
}

/* The select's result once case @winner was completed by another task. */
static long kchan_sel_result(struct kchan_sel *s, int winner)
{
	struct kchan_sel_case *c = &s->cases[winner];
	struct kchan_waiter *w = &s->wait->waiters[winner];
	int ret;

	if (c->send)
		return w->state == KCHAN_DONE ? winner : -EPIPE;
	if (w->state == KCHAN_CLOSED)
		return winner | KCHAN_SELECT_CLOSED;
	ret = kchan_take_delivered(c->end->ch, w, c->elem);
	return ret < 0 ? ret : winner;
}

/*
 * Block: steps 3 to 5.  Returns the select's result, with the wait's
 * waiters off their queues (or left to others by a killed select).
 */
static long kchan_sel_block(struct kchan_sel *s)
{
	struct kchan_wait *wait = s->wait;
	long ret;

	for (;;) {
		ret = kchan_sel_enqueue(s);
		if (ret == KCHAN_SEL_SLEEP) {
			ret = kchan_sleep(wait, &s->opts);
		} else if (ret == -EINTR) {
			/* Killed while queueing: give up like a sleep would. */
			wait->abort_reason = KCHAN_WAKE_SIGNAL;
			ret = cmpxchg(&wait->winner, KCHAN_SEL_OPEN,
				      KCHAN_SEL_ABORTED);
			if (ret == KCHAN_SEL_OPEN)
				ret = -EINTR;
			else	/* a completer claimed a waiter: await it */
				ret = kchan_sleep(wait, &s->opts);
		} else if (ret != KCHAN_SEL_RETRY) {
			/* The select performed a case itself: the others go. */
			kchan_sel_collect(s, -EAGAIN);
			return ret;
		}
		/*
		 * Start over when nothing happened: the select's own step
		 * failed (KCHAN_SEL_RETRY), or an end without handoff nudged
		 * one of its waiters (KCHAN_RETRY).
		 */
		if (ret >= 0 && wait->waiters[ret].state == KCHAN_RETRY) {
			wait->waiters[ret].state = KCHAN_WAITING;
		} else if (ret == KCHAN_SEL_RETRY) {
			/* A step that keeps failing still ends in time. */
			ret = kchan_may_retry(&s->opts);
			if (ret)
				break;
		} else {
			break;
		}
		kchan_sel_collect(s, -EAGAIN);
		if (fatal_signal_pending(current))
			return -EINTR;
		WRITE_ONCE(wait->winner, KCHAN_SEL_OPEN);
		ret = kchan_sel_poll(s);
		if (ret != KCHAN_WOULD_BLOCK)
			return ret;
	}

	kchan_sel_collect(s, ret);
	return ret < 0 ? ret : kchan_sel_result(s, ret);
}

static long kchan_sel_run(struct kchan_sel *s)
{
	long ret;

	ret = kchan_sel_poll(s);
	if (ret != KCHAN_WOULD_BLOCK)
		return ret;

	ret = kchan_may_block(&s->opts);
	if (ret)
		return ret;
	ret = kchan_sel_prepare(s);
	if (ret)
		return ret;
	return kchan_sel_block(s);
}

/* The channel of the case a select's result names, or NULL. */
static struct kchan *kchan_sel_chosen(struct kchan_sel *s, long ret)
{
	return ret < 0 ? NULL : s->cases[ret & KCHAN_SELECT_INDEX_MASK].end->ch;
}

/**
 * kchan_select() - the %KCHAN_IOC_SELECT ioctl
 * @uarg: struct kchan_select in user memory
 *
 * Return: the index of the case that proceeded, with %KCHAN_SELECT_CLOSED
 * for a receive that saw "closed"; or -EAGAIN, -ETIMEDOUT, -EPIPE,
 * -EINTR/-ERESTART*, -EFAULT, -EBADF, -EINVAL, -E2BIG, -ENOSPC or -ENOMEM.
 */
long kchan_select(const void __user *uarg)
{
	struct kchan_sel s = {};
	/* Written before it is read: no need for init_stack's zeroing. */
	struct kchan_sel_stack stack __uninitialized;
	struct kchan_select args;
	long ret;
	u32 i;

	ret = kchan_copy_args(&args, sizeof(args), KCHAN_SELECT_SIZE_VER0, uarg);
	if (ret)
		return ret;
	if (args.flags & ~(KCHAN_SELECT_NONBLOCK | KCHAN_SELECT_DEADLINE |
			   KCHAN_SELECT_BIASED))
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

	ret = kchan_sel_copy_cases(&s, u64_to_user_ptr(args.cases),
				   args.case_size);
	if (ret)
		goto out_free;
	s.rand = kchan_sel_seed();
	for (i = 0; i < args.nr_cases; i++, s.nr_read++) {
		ret = kchan_sel_read_case(&s, i, args.flags & KCHAN_SELECT_BIASED);
		if (ret)
			goto out_free;
	}

	ret = kchan_sel_run(&s);
	trace_kchan_select(kchan_sel_chosen(&s, ret), args.nr_cases, ret);
out_free:
	kchan_sel_free(&s);
	return ret;
}

/**
 * kchan_select_init() - seed every CPU's shuffle sequence, at module load
 */
void kchan_select_init(void)
{
	int cpu;

	for_each_possible_cpu(cpu)
		per_cpu(kchan_sel_weyl, cpu) = get_random_u64();
}
