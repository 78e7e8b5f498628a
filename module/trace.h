/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kchan: tracepoints, in the "kchan" trace system.
 *
 * Every event carries the channel's id (as in fdinfo and /proc/kchan), so
 * "id == N" filters one channel.  The events copy what they show out of
 * the channel and the waiter in TP_fast_assign(), which runs only while
 * the event is enabled; a disabled event is a static key's patched-out
 * jump.  Callers hold whatever lock the fields they pass need: the
 * channel's lock for the queue lengths (kchan_block), nothing for the
 * immutable id, element size and capacity.
 *
 * module/trace.c instantiates the events (CREATE_TRACE_POINTS); Kbuild
 * puts module/ on that file's include path for TRACE_INCLUDE_PATH.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kchan

#if !defined(_KCHAN_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _KCHAN_TRACE_H

#include <linux/sched.h>
#include <linux/tracepoint.h>

#include "kchan.h"

#define kchan_show_op(sender)	((sender) ? "send" : "recv")

#define kchan_show_reason(reason)					\
	__print_symbolic(reason,					\
			 { KCHAN_WAKE_DONE, "completed" },		\
			 { KCHAN_WAKE_CLOSED, "closed" },		\
			 { KCHAN_WAKE_TIMEOUT, "timeout" },		\
			 { KCHAN_WAKE_SIGNAL, "signal" },		\
			 { KCHAN_WAKE_ELSEWHERE, "elsewhere" })

TRACE_EVENT(kchan_create,
	    TP_PROTO(const struct kchan *ch, int fd),
	    TP_ARGS(ch, fd),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u32, elem_size)
			     __field(u32, capacity)
			     __field(int, fd)),
	    TP_fast_assign(__entry->id = ch->id;
			   __entry->elem_size = ch->ring.elem_size;
			   __entry->capacity = ch->ring.capacity;
			   __entry->fd = fd;),
	    TP_printk("id=%llu elem_size=%u capacity=%u fd=%d",
		      __entry->id, __entry->elem_size, __entry->capacity,
		      __entry->fd)
);

DECLARE_EVENT_CLASS(kchan_xfer,
		    TP_PROTO(const struct kchan *ch, size_t count, long ret),
		    TP_ARGS(ch, count, ret),
		    TP_STRUCT__entry(__field(u64, id)
				     __field(u32, elem_size)
				     __field(u64, count)
				     __field(long, ret)
				     __field(u64, bytes)),
		    TP_fast_assign(__entry->id = ch->id;
				   __entry->elem_size = ch->ring.elem_size;
				   __entry->count = count;
				   __entry->ret = ret;
				   __entry->bytes = ret > 0 ?
					(u64)ret * ch->ring.elem_size : 0;),
		    TP_printk("id=%llu elem_size=%u count=%llu ret=%ld bytes=%llu",
			      __entry->id, __entry->elem_size, __entry->count,
			      __entry->ret, __entry->bytes)
);

/* A send(), write() or send ioctl returns: elements sent or -errno. */
DEFINE_EVENT(kchan_xfer, kchan_send,
	     TP_PROTO(const struct kchan *ch, size_t count, long ret),
	     TP_ARGS(ch, count, ret)
);

/* A receive returns: elements received, 0 closed and drained, or -errno. */
DEFINE_EVENT(kchan_xfer, kchan_recv,
	     TP_PROTO(const struct kchan *ch, size_t count, long ret),
	     TP_ARGS(ch, count, ret)
);

/* A task is queued on a channel and is about to sleep. */
TRACE_EVENT(kchan_block,
	    TP_PROTO(const struct kchan *ch, const struct kchan_waiter *w),
	    TP_ARGS(ch, w),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(pid_t, pid)
			     __field(bool, sender)
			     __field(u32, sendq)
			     __field(u32, recvq)),
	    TP_fast_assign(__entry->id = ch->id;
			   __entry->pid = w->wait->pid;
			   __entry->sender = w->sender;
			   __entry->sendq = ch->sendq.nr;
			   __entry->recvq = ch->recvq.nr;),
	    TP_printk("id=%llu pid=%d op=%s sendq=%u recvq=%u",
		      __entry->id, __entry->pid,
		      kchan_show_op(__entry->sender),
		      __entry->sendq, __entry->recvq)
);

/* A blocked wait ended: how long it lasted and why. */
TRACE_EVENT(kchan_wake,
	    TP_PROTO(const struct kchan *ch, const struct kchan_waiter *w,
		     u64 wait_ns, int reason),
	    TP_ARGS(ch, w, wait_ns, reason),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(pid_t, pid)
			     __field(bool, sender)
			     __field(u64, wait_ns)
			     __field(int, reason)),
	    TP_fast_assign(__entry->id = ch->id;
			   __entry->pid = w->wait->pid;
			   __entry->sender = w->sender;
			   __entry->wait_ns = wait_ns;
			   __entry->reason = reason;),
	    TP_printk("id=%llu pid=%d op=%s wait_ns=%llu reason=%s",
		      __entry->id, __entry->pid,
		      kchan_show_op(__entry->sender), __entry->wait_ns,
		      kchan_show_reason(__entry->reason))
);

/* Go's close(ch): 0 or -errno, and how many blocked tasks it completed. */
TRACE_EVENT(kchan_close,
	    TP_PROTO(const struct kchan *ch, int ret, u32 woken),
	    TP_ARGS(ch, ret, woken),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(int, ret)
			     __field(u32, woken)),
	    TP_fast_assign(__entry->id = ch->id;
			   __entry->ret = ret;
			   __entry->woken = woken;),
	    TP_printk("id=%llu ret=%d woken=%u",
		      __entry->id, __entry->ret, __entry->woken)
);

/*
 * A select returns.  @ch is the channel of the case that proceeded (id 0
 * when none did); @ret is the ioctl's result, a case index possibly with
 * KCHAN_SELECT_CLOSED, or -errno.
 */
TRACE_EVENT(kchan_select,
	    TP_PROTO(const struct kchan *ch, u32 nr_cases, long ret),
	    TP_ARGS(ch, nr_cases, ret),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u32, nr_cases)
			     __field(long, ret)),
	    TP_fast_assign(__entry->id = ch ? ch->id : 0;
			   __entry->nr_cases = nr_cases;
			   __entry->ret = ret;),
	    TP_printk("id=%llu nr_cases=%u case=%ld closed=%d ret=%ld",
		      __entry->id, __entry->nr_cases,
		      __entry->ret < 0 ? -1L :
			__entry->ret & ~(long)KCHAN_SELECT_CLOSED,
		      __entry->ret >= 0 &&
			(__entry->ret & KCHAN_SELECT_CLOSED),
		      __entry->ret)
);

/*
 * A case was added to or removed from a selector, or the attempt failed
 * once its descriptor was found to be a channel.  @sel_id is the
 * selector's id (fdinfo's kchan-selector-id), @ch the case's channel, @op
 * its direction, @ret 0 or -errno.
 */
TRACE_EVENT(kchan_selector_ctl,
	    TP_PROTO(u64 sel_id, const struct kchan *ch, u32 op, u64 tag,
		     bool add, int ret),
	    TP_ARGS(sel_id, ch, op, tag, add, ret),
	    TP_STRUCT__entry(__field(u64, sel_id)
			     __field(u64, id)
			     __field(u32, op)
			     __field(u64, tag)
			     __field(bool, add)
			     __field(int, ret)),
	    TP_fast_assign(__entry->sel_id = sel_id;
			   __entry->id = ch ? ch->id : 0;
			   __entry->op = op;
			   __entry->tag = tag;
			   __entry->add = add;
			   __entry->ret = ret;),
	    TP_printk("sel_id=%llu %s id=%llu op=%s tag=%llu ret=%d",
		      __entry->sel_id, __entry->add ? "add" : "del",
		      __entry->id,
		      kchan_show_op(__entry->op == KCHAN_CASE_SEND),
		      __entry->tag, __entry->ret)
);

/*
 * A selector wait returns.  @ch is the channel of the case it performed
 * (id 0 when none), @tag that case's tag, @ret the result (1, 0 or
 * -errno), @nr_cases the cases registered.
 */
TRACE_EVENT(kchan_selector_wait,
	    TP_PROTO(u64 sel_id, const struct kchan *ch, u64 tag, long ret,
		     u32 nr_cases),
	    TP_ARGS(sel_id, ch, tag, ret, nr_cases),
	    TP_STRUCT__entry(__field(u64, sel_id)
			     __field(u64, id)
			     __field(u64, tag)
			     __field(long, ret)
			     __field(u32, nr_cases)),
	    TP_fast_assign(__entry->sel_id = sel_id;
			   __entry->id = ch ? ch->id : 0;
			   __entry->tag = tag;
			   __entry->ret = ret;
			   __entry->nr_cases = nr_cases;),
	    TP_printk("sel_id=%llu id=%llu tag=%llu ret=%ld nr_cases=%u",
		      __entry->sel_id, __entry->id, __entry->tag,
		      __entry->ret, __entry->nr_cases)
);

/*
 * A subscriber joined a broadcast channel: its id among the channel's
 * subscribers, its first position, and its descriptor.
 */
TRACE_EVENT(kchan_subscribe,
	    TP_PROTO(const struct kchan *ch, u32 sub_id, u64 cursor,
		     u32 nr_subs, int fd),
	    TP_ARGS(ch, sub_id, cursor, nr_subs, fd),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u32, sub_id)
			     __field(u64, cursor)
			     __field(u32, nr_subs)
			     __field(int, fd)),
	    TP_fast_assign(__entry->id = ch->id;
			   __entry->sub_id = sub_id;
			   __entry->cursor = cursor;
			   __entry->nr_subs = nr_subs;
			   __entry->fd = fd;),
	    TP_printk("id=%llu sub_id=%u cursor=%llu nr_subs=%u fd=%d",
		      __entry->id, __entry->sub_id, __entry->cursor,
		      __entry->nr_subs, __entry->fd)
);

/*
 * A send on a lossless broadcast channel blocks: the subscriber that
 * holds it back (the slowest; its id, the pid that subscribed it, its lag).
 */
TRACE_EVENT(kchan_bcast_gated,
	    TP_PROTO(const struct kchan *ch, u32 sub_id, pid_t sub_pid,
		     u64 lag),
	    TP_ARGS(ch, sub_id, sub_pid, lag),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u32, sub_id)
			     __field(pid_t, sub_pid)
			     __field(u64, lag)),
	    TP_fast_assign(__entry->id = ch->id;
			   __entry->sub_id = sub_id;
			   __entry->sub_pid = sub_pid;
			   __entry->lag = lag;),
	    TP_printk("id=%llu sub_id=%u sub_pid=%d lag=%llu",
		      __entry->id, __entry->sub_id, __entry->sub_pid,
		      __entry->lag)
);

/*
 * A subscriber of a lossy broadcast channel learns of a gap (its receive
 * fails with EOVERFLOW): the elements it missed and its total so far.
 */
TRACE_EVENT(kchan_bcast_lost,
	    TP_PROTO(const struct kchan *ch, u32 sub_id, u64 gap, u64 lost),
	    TP_ARGS(ch, sub_id, gap, lost),
	    TP_STRUCT__entry(__field(u64, id)
			     __field(u32, sub_id)
			     __field(u64, gap)
			     __field(u64, lost)),
	    TP_fast_assign(__entry->id = ch->id;
			   __entry->sub_id = sub_id;
			   __entry->gap = gap;
			   __entry->lost = lost;),
	    TP_printk("id=%llu sub_id=%u gap=%llu lost=%llu",
		      __entry->id, __entry->sub_id, __entry->gap,
		      __entry->lost)
);

#endif /* _KCHAN_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
