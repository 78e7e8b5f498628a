/* SPDX-License-Identifier: GPL-2.0 */
/*
 * xport.h - kchan and its peers behind one interface: a one-way queue of
 * fixed-size messages that is set up before fork() and used by the
 * processes that inherit it.
 *
 * Each peer is used the way its best users use it:
 *
 *   kchan     kchan_send/recv, kchan_send_many/recv_many
 *   pipe      write/read of whole messages; batches are one write of n
 *             messages and reads of whatever is there; F_SETPIPE_SZ to the
 *             capacity (one page at least)
 *   mq        POSIX message queue, mq_send/mq_receive, mq_maxmsg = capacity
 *   eventfd   8-byte messages only (the counter): EFD_SEMAPHORE, so each
 *             read takes one message
 *   seqpacket AF_UNIX SOCK_SEQPACKET socketpair, queue and send buffer sized
 *             to the capacity; batches with sendmmsg and
 *             recvmmsg(MSG_WAITFORONE)
 *   futex     a one-slot mailbox in shared memory; futex only to sleep
 *   shmring   single-producer single-consumer ring in shared memory that
 *             sleeps on a futex only when empty or full: no system call
 *             per message, the physical limit
 */
#ifndef BENCH_XPORT_H
#define BENCH_XPORT_H

#include <stdbool.h>
#include <stddef.h>

struct xport;

/* What a transport can do beyond one message per call. */
#define XP_BATCH	0x1	/* has a batched form */
#define XP_MPMC		0x2	/* several senders and receivers may share it */

struct xport_ops {
	const char *name;
	size_t max_size;	/* largest message; 0: no limit */
	unsigned int flags;
	void (*open)(struct xport *x);
	void (*close)(struct xport *x);
	void (*send)(struct xport *x, const void *msg);
	void (*recv)(struct xport *x, void *msg);
	/* Send all @n messages. */
	void (*send_many)(struct xport *x, const void *msgs, size_t n);
	/* Receive 1 to @n messages (blocking for the first); the count. */
	size_t (*recv_many)(struct xport *x, void *msgs, size_t n);
};

struct xport {
	const struct xport_ops *ops;
	size_t size;		/* message size in bytes */
	size_t cap;		/* capacity in messages, where settable */
	int fd[2];
	void *shm;
	size_t shm_len;
	void *scratch;		/* per-process batch state (mmsghdr arrays) */
};

/* kchan first, then the peers; NULL-terminated. */
extern const struct xport_ops *const xports[];

/* The transport called @name; dies if there is none. */
const struct xport_ops *xport_find(const char *name);

/* Can @ops carry @size-byte messages with all of @flags? */
bool xport_fits(const struct xport_ops *ops, size_t size, unsigned int flags);

/* Set up @x; every failure is fatal. */
void xport_open(struct xport *x, const struct xport_ops *ops, size_t size,
		size_t cap);
void xport_close(struct xport *x);

/* Whole batches: send @n messages in calls of at most @batch; receive @n. */
void xport_send_n(struct xport *x, const void *msgs, size_t n, size_t batch);
void xport_recv_n(struct xport *x, void *msgs, size_t n, size_t batch);

#endif /* BENCH_XPORT_H */
