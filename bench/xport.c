// SPDX-License-Identifier: GPL-2.0
/*
 * xport.c - kchan and its peers behind one interface (see xport.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chanuser.h>

#include "common.h"
#include "xport.h"

/* Largest batch any case uses: the mmsghdr arrays are this long. */
#define XP_MAX_BATCH	64

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Write or read all of @len bytes (pipes may split large transfers). */
static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t r = write(fd, p, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("write(%d, %zu)", fd, len);
		}
		p += r;
		len -= (size_t)r;
	}
}

static void read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t r = read(fd, p, len);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			die("read(%d, %zu) = %zd", fd, len, r);
		}
		p += r;
		len -= (size_t)r;
	}
}

/* --- kchan ----------------------------------------------------------------- */

static void kchan_x_open(struct xport *x)
{
	x->fd[0] = kchan_make(x->size, x->cap, KCHAN_CLOEXEC);
	if (x->fd[0] < 0) {
		errno = -x->fd[0];
		die("kchan_make(%zu, %zu)", x->size, x->cap);
	}
}

static void fd_close(struct xport *x)
{
	close(x->fd[0]);
	if (x->fd[1] >= 0)
		close(x->fd[1]);
}

static void kchan_x_send(struct xport *x, const void *msg)
{
	int ret = kchan_send(x->fd[0], msg);

	if (ret < 0) {
		errno = -ret;
		die("kchan_send");
	}
}

static void kchan_x_recv(struct xport *x, void *msg)
{
	int ret = kchan_recv(x->fd[0], msg);

	if (ret != 1) {
		errno = ret < 0 ? -ret : 0;
		die("kchan_recv = %d", ret);
	}
}

static void kchan_x_send_many(struct xport *x, const void *msgs, size_t n)
{
	const char *p = msgs;

	while (n) {
		ssize_t ret = kchan_send_many(x->fd[0], p, n);

		if (ret <= 0) {
			errno = ret < 0 ? (int)-ret : 0;
			die("kchan_send_many");
		}
		p += (size_t)ret * x->size;
		n -= (size_t)ret;
	}
}

static size_t kchan_x_recv_many(struct xport *x, void *msgs, size_t n)
{
	ssize_t ret = kchan_recv_many(x->fd[0], msgs, n);

	if (ret <= 0) {
		errno = ret < 0 ? (int)-ret : 0;
		die("kchan_recv_many = %zd", ret);
	}
	return (size_t)ret;
}

/* The same channel without KCHAN_MAPPABLE: every call a system call. */
static void kchan_k_x_open(struct xport *x)
{
	x->fd[0] = plain_chan(x->size, x->cap);
}

static const struct xport_ops kchan_ops = {
	.name		= "kchan",
	.flags		= XP_BATCH | XP_MPMC,
	.open		= kchan_x_open,
	.close		= fd_close,
	.send		= kchan_x_send,
	.recv		= kchan_x_recv,
	.send_many	= kchan_x_send_many,
	.recv_many	= kchan_x_recv_many,
};

/* kchan's kernel path, side by side with the mapped fast path above. */
static const struct xport_ops kchan_k_ops = {
	.name		= "kchan-k",
	.flags		= XP_BATCH | XP_MPMC,
	.open		= kchan_k_x_open,
	.close		= fd_close,
	.send		= kchan_x_send,
	.recv		= kchan_x_recv,
	.send_many	= kchan_x_send_many,
	.recv_many	= kchan_x_recv_many,
};

/* --- pipe ------------------------------------------------------------------ */

static void pipe_x_open(struct xport *x)
{
	size_t bytes = x->cap * x->size;

	if (pipe2(x->fd, O_CLOEXEC))
		die("pipe2");
	if (bytes < 4096)
		bytes = 4096;
	if (fcntl(x->fd[1], F_SETPIPE_SZ, (int)bytes) < 0)
		die("F_SETPIPE_SZ %zu", bytes);
}

static void pipe_x_send(struct xport *x, const void *msg)
{
	write_all(x->fd[1], msg, x->size);
}

static void pipe_x_recv(struct xport *x, void *msg)
{
	read_all(x->fd[0], msg, x->size);
}

static void pipe_x_send_many(struct xport *x, const void *msgs, size_t n)
{
	write_all(x->fd[1], msgs, n * x->size);
}

/* One read of whatever is there, completed to a whole message. */
static size_t pipe_x_recv_many(struct xport *x, void *msgs, size_t n)
{
	ssize_t r;

	do
		r = read(x->fd[0], msgs, n * x->size);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		die("read(pipe) = %zd", r);
	if (r % x->size)
		read_all(x->fd[0], (char *)msgs + r, x->size - r % x->size);
	return ((size_t)r + x->size - 1) / x->size;
}

static const struct xport_ops pipe_ops = {
	.name		= "pipe",
	.flags		= XP_BATCH | XP_MPMC,
	.open		= pipe_x_open,
	.close		= fd_close,
	.send		= pipe_x_send,
	.recv		= pipe_x_recv,
	.send_many	= pipe_x_send_many,
	.recv_many	= pipe_x_recv_many,
};

/* --- POSIX message queue ----------------------------------------------------- */

static void mq_x_open(struct xport *x)
{
	static unsigned int seq;
	struct mq_attr attr = {
		.mq_maxmsg	= (long)x->cap,
		.mq_msgsize	= (long)x->size,
	};
	char name[64];
	mqd_t q;

	snprintf(name, sizeof(name), "/kbench.%d.%u", getpid(), seq++);
	q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
	if (q == (mqd_t)-1)
		die("mq_open(%s, maxmsg %zu, msgsize %zu)", name, x->cap, x->size);
	mq_unlink(name);	/* lives while descriptors refer to it */
	x->fd[0] = q;
}

static void mq_x_send(struct xport *x, const void *msg)
{
	while (mq_send(x->fd[0], msg, x->size, 0))
		if (errno != EINTR)
			die("mq_send");
}

static void mq_x_recv(struct xport *x, void *msg)
{
	ssize_t r;

	while ((r = mq_receive(x->fd[0], msg, x->size, NULL)) < 0)
		if (errno != EINTR)
			die("mq_receive");
	CHECK((size_t)r == x->size);
}

static const struct xport_ops mq_ops = {
	.name		= "mq",
	.flags		= XP_MPMC,
	.open		= mq_x_open,
	.close		= fd_close,
	.send		= mq_x_send,
	.recv		= mq_x_recv,
};

/* --- eventfd ----------------------------------------------------------------- */

static void eventfd_x_open(struct xport *x)
{
	x->fd[0] = eventfd(0, EFD_SEMAPHORE | EFD_CLOEXEC);
	if (x->fd[0] < 0)
		die("eventfd");
}

/* The message is the count: a write adds one, a read takes one. */
static void eventfd_x_send(struct xport *x, const void *msg)
{
	uint64_t one = 1;

	(void)msg;
	write_all(x->fd[0], &one, sizeof(one));
}

static void eventfd_x_recv(struct xport *x, void *msg)
{
	read_all(x->fd[0], msg, sizeof(uint64_t));
}

static const struct xport_ops eventfd_ops = {
	.name		= "eventfd",
	.max_size	= sizeof(uint64_t),
	.open		= eventfd_x_open,
	.close		= fd_close,
	.send		= eventfd_x_send,
	.recv		= eventfd_x_recv,
};

/* --- AF_UNIX SOCK_SEQPACKET ---------------------------------------------------- */

struct mmsg_scratch {
	struct mmsghdr hdr[XP_MAX_BATCH];
	struct iovec iov[XP_MAX_BATCH];
};

/*
 * Room for the capacity: the receive queue holds net.unix.max_dgram_qlen
 * datagrams (10 by default), read when the socket is made, and the sender
 * may have SO_SNDBUF bytes of them in flight, counted with their overhead.
 */
static void seqpacket_x_open(struct xport *x)
{
	int sndbuf = (int)(x->cap * (x->size + 1024));
	char qlen[32];

	snprintf(qlen, sizeof(qlen), "%zu", x->cap < 10 ? 10 : x->cap);
	write_file("/proc/sys/net/unix/max_dgram_qlen", qlen);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, x->fd))
		die("socketpair(AF_UNIX, SOCK_SEQPACKET)");
	if (setsockopt(x->fd[0], SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf,
		       sizeof(sndbuf)) &&
	    setsockopt(x->fd[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)))
		die("SO_SNDBUF %d", sndbuf);
}

static void seqpacket_x_close(struct xport *x)
{
	free(x->scratch);
	x->scratch = NULL;
	fd_close(x);
}

static void seqpacket_x_send(struct xport *x, const void *msg)
{
	while (send(x->fd[0], msg, x->size, 0) != (ssize_t)x->size)
		if (errno != EINTR)
			die("send(seqpacket)");
}

static void seqpacket_x_recv(struct xport *x, void *msg)
{
	while (recv(x->fd[1], msg, x->size, 0) != (ssize_t)x->size)
		if (errno != EINTR)
			die("recv(seqpacket)");
}

/* Point the first @n headers at consecutive messages from @msgs. */
static struct mmsghdr *mmsg_fill(struct xport *x, const void *msgs, size_t n)
{
	struct mmsg_scratch *s = x->scratch;
	size_t i;

	CHECK(n <= XP_MAX_BATCH);
	if (!s) {
		s = calloc(1, sizeof(*s));
		CHECK(s);
		x->scratch = s;
	}
	for (i = 0; i < n; i++) {
		s->iov[i].iov_base = (char *)msgs + i * x->size;
		s->iov[i].iov_len = x->size;
		s->hdr[i].msg_hdr.msg_iov = &s->iov[i];
		s->hdr[i].msg_hdr.msg_iovlen = 1;
	}
	return s->hdr;
}

static void seqpacket_x_send_many(struct xport *x, const void *msgs, size_t n)
{
	const char *p = msgs;

	while (n) {
		struct mmsghdr *h = mmsg_fill(x, p, n);
		int r = sendmmsg(x->fd[0], h, (unsigned int)n, 0);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			die("sendmmsg = %d", r);
		}
		p += (size_t)r * x->size;
		n -= (size_t)r;
	}
}

static size_t seqpacket_x_recv_many(struct xport *x, void *msgs, size_t n)
{
	struct mmsghdr *h = mmsg_fill(x, msgs, n);
	int r;

	while ((r = recvmmsg(x->fd[1], h, (unsigned int)n, MSG_WAITFORONE,
			     NULL)) <= 0)
		if (r == 0 || errno != EINTR)
			die("recvmmsg = %d", r);
	return (size_t)r;
}

static const struct xport_ops seqpacket_ops = {
	.name		= "seqpacket",
	.flags		= XP_BATCH,
	.open		= seqpacket_x_open,
	.close		= seqpacket_x_close,
	.send		= seqpacket_x_send,
	.recv		= seqpacket_x_recv,
	.send_many	= seqpacket_x_send_many,
	.recv_many	= seqpacket_x_recv_many,
};

/* --- futex mailbox ----------------------------------------------------------- */

/*
 * One slot.  state: MB_FULL while a message waits, MB_WAITING while the
 * other side sleeps (or is about to) on the word.  With one sender and one
 * receiver, whoever flips MB_FULL wakes the other only if it said it waits.
 */
#define MB_FULL		0x1u
#define MB_WAITING	0x2u

struct mailbox {
	_Atomic uint32_t state;
	alignas(64) unsigned char data[];
};

static void shm_x_close(struct xport *x)
{
	shm_free(x->shm, x->shm_len);
}

static void futex_x_open(struct xport *x)
{
	x->shm_len = sizeof(struct mailbox) + x->size;
	x->shm = shm_alloc(x->shm_len);
}

/* Wait until (state & MB_FULL) == @full. */
static void mailbox_wait(struct mailbox *mb, uint32_t full)
{
	for (;;) {
		uint32_t s = atomic_load(&mb->state);

		if ((s & MB_FULL) == full)
			return;
		if (!(s & MB_WAITING) &&
		    !atomic_compare_exchange_strong(&mb->state, &s,
						    s | MB_WAITING))
			continue;
		futex_wait(&mb->state, s | MB_WAITING);
	}
}

/* Flip to @state; wake the other side if it waits. */
static void mailbox_set(struct mailbox *mb, uint32_t state)
{
	if (atomic_exchange(&mb->state, state) & MB_WAITING)
		futex_wake(&mb->state, 1);
}

static void futex_x_send(struct xport *x, const void *msg)
{
	struct mailbox *mb = x->shm;

	mailbox_wait(mb, 0);
	memcpy(mb->data, msg, x->size);
	mailbox_set(mb, MB_FULL);
}

static void futex_x_recv(struct xport *x, void *msg)
{
	struct mailbox *mb = x->shm;

	mailbox_wait(mb, MB_FULL);
	memcpy(msg, mb->data, x->size);
	mailbox_set(mb, 0);
}

static const struct xport_ops futex_ops = {
	.name		= "futex",
	.open		= futex_x_open,
	.close		= shm_x_close,
	.send		= futex_x_send,
	.recv		= futex_x_recv,
};

/* --- shared-memory SPSC ring ------------------------------------------------- */

/*
 * head and tail run freely (mod 2^32); each side sleeps on its own flag word
 * only when the ring is full (producer) or empty (consumer).  The flag is set
 * before the last look at the other index, and the other side looks at the
 * flag after publishing its index, both with full fences, so one of them
 * always sees the other (Dekker).
 */
struct ring {
	alignas(64) _Atomic uint32_t head;	/* written by the producer */
	_Atomic uint32_t prod_sleep;
	alignas(64) _Atomic uint32_t tail;	/* written by the consumer */
	_Atomic uint32_t cons_sleep;
	alignas(64) unsigned char data[];
};

static void shmring_x_open(struct xport *x)
{
	size_t cap = 1;

	while (cap < x->cap)
		cap <<= 1;
	x->cap = cap;
	x->shm_len = sizeof(struct ring) + cap * x->size;
	x->shm = shm_alloc(x->shm_len);
}

static uint32_t ring_room(struct xport *x, uint32_t head, uint32_t tail)
{
	return (uint32_t)x->cap - (head - tail);
}

/* Sleep on @flag unless @other has moved from @seen meanwhile. */
static void ring_sleep(_Atomic uint32_t *flag, _Atomic uint32_t *other,
		       uint32_t seen)
{
	atomic_store(flag, 1);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load(other) == seen)
		futex_wait(flag, 1);
	atomic_store_explicit(flag, 0, memory_order_relaxed);
}

/* After publishing our index: wake the other side if it sleeps on @flag. */
static void ring_kick(_Atomic uint32_t *flag)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(flag, memory_order_relaxed)) {
		atomic_store_explicit(flag, 0, memory_order_relaxed);
		futex_wake(flag, 1);
	}
}

/* Copy @k messages between the ring slots from @pos and @buf. */
static void ring_copy(struct xport *x, struct ring *r, uint32_t pos, void *buf,
		      size_t k, bool in)
{
	size_t first = min_sz(k, x->cap - (pos & (x->cap - 1)));
	unsigned char *slot = r->data + (pos & (x->cap - 1)) * x->size;
	unsigned char *b = buf;

	if (in) {
		memcpy(slot, b, first * x->size);
		memcpy(r->data, b + first * x->size, (k - first) * x->size);
	} else {
		memcpy(b, slot, first * x->size);
		memcpy(b + first * x->size, r->data, (k - first) * x->size);
	}
}

static void shmring_x_send_many(struct xport *x, const void *msgs, size_t n)
{
	struct ring *r = x->shm;
	const unsigned char *p = msgs;

	while (n) {
		uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
		uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		size_t k = min_sz(ring_room(x, head, tail), n);

		if (!k) {
			ring_sleep(&r->prod_sleep, &r->tail, tail);
			continue;
		}
		ring_copy(x, r, head, (void *)p, k, true);
		atomic_store_explicit(&r->head, head + (uint32_t)k,
				      memory_order_release);
		ring_kick(&r->cons_sleep);
		p += k * x->size;
		n -= k;
	}
}

static size_t shmring_x_recv_many(struct xport *x, void *msgs, size_t n)
{
	struct ring *r = x->shm;
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t avail;
	size_t k;

	while (!(avail = atomic_load_explicit(&r->head, memory_order_acquire) - tail))
		ring_sleep(&r->cons_sleep, &r->head, tail);
	k = min_sz(avail, n);
	ring_copy(x, r, tail, msgs, k, false);
	atomic_store_explicit(&r->tail, tail + (uint32_t)k, memory_order_release);
	ring_kick(&r->prod_sleep);
	return k;
}

static void shmring_x_send(struct xport *x, const void *msg)
{
	shmring_x_send_many(x, msg, 1);
}

static void shmring_x_recv(struct xport *x, void *msg)
{
	shmring_x_recv_many(x, msg, 1);
}

static const struct xport_ops shmring_ops = {
	.name		= "shmring",
	.flags		= XP_BATCH,
	.open		= shmring_x_open,
	.close		= shm_x_close,
	.send		= shmring_x_send,
	.recv		= shmring_x_recv,
	.send_many	= shmring_x_send_many,
	.recv_many	= shmring_x_recv_many,
};

/* --- the table --------------------------------------------------------------- */

const struct xport_ops *const xports[] = {
	&kchan_ops, &kchan_k_ops, &pipe_ops, &mq_ops, &eventfd_ops, &seqpacket_ops,
	&futex_ops, &shmring_ops, NULL,
};

const struct xport_ops *xport_find(const char *name)
{
	size_t i;

	for (i = 0; xports[i]; i++)
		if (!strcmp(xports[i]->name, name))
			return xports[i];
	die("no transport %s", name);
}

bool xport_fits(const struct xport_ops *ops, size_t size, unsigned int flags)
{
	if (ops->max_size && size > ops->max_size)
		return false;
	return (ops->flags & flags) == flags;
}

void xport_open(struct xport *x, const struct xport_ops *ops, size_t size,
		size_t cap)
{
	memset(x, 0, sizeof(*x));
	x->ops = ops;
	x->size = size;
	x->cap = cap;
	x->fd[0] = x->fd[1] = -1;
	ops->open(x);
}

void xport_close(struct xport *x)
{
	x->ops->close(x);
}

void xport_send_n(struct xport *x, const void *msgs, size_t n, size_t batch)
{
	while (n) {
		size_t k = min_sz(n, batch);

		if (batch == 1)
			x->ops->send(x, msgs);
		else
			x->ops->send_many(x, msgs, k);
		n -= k;
	}
}

void xport_recv_n(struct xport *x, void *msgs, size_t n, size_t batch)
{
	while (n) {
		if (batch == 1) {
			x->ops->recv(x, msgs);
			n--;
		} else {
			n -= x->ops->recv_many(x, msgs, min_sz(n, batch));
		}
	}
}
