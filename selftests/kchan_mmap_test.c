// SPDX-License-Identifier: GPL-2.0
/*
 * Mapping a mappable channel (uapi DOC: Mapped channels): the mmap rules,
 * the control page, the ring's shared format as user space sees it (a
 * send and receive done here by hand, as the fast path will do them, meet
 * the kernel's), map ids, and the repair of the claims a process left
 * when it died.  Documentation/design/fastpath.rst has the protocol.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kchan_test_util.h"

/* The slot word (fastpath.rst, "The slot word"). */
#define SLOT_EMPTY	0ULL
#define SLOT_WRITING	1ULL
#define SLOT_FULL	2ULL
#define SLOT_READING	3ULL
#define SLOT_VOID	1ULL

static uint64_t slot_word(uint64_t pos, uint64_t state, uint64_t owner)
{
	return pos << 18 | state << 16 | owner;
}

static int map_info(int fd, struct kchan_map_info *mi)
{
	memset(mi, 0, sizeof(*mi));
	mi->size = sizeof(*mi);
	return kt_ioctl(fd, KCHAN_IOC_MAP_INFO, (unsigned long)mi);
}

/* A mapped channel as a test sees it. */
struct mapped {
	int fd;
	struct kchan_map_info mi;
	const struct kchan_map_ctrl *ctrl;
	uint8_t *ring;
	uint64_t *head, *tail, *slots;
	uint8_t *elems;
};

/* Map both areas of @fd; 0 or -errno. */
static int map_both(struct mapped *m, int fd)
{
	void *p;
	int ret;

	m->fd = fd;
	ret = map_info(fd, &m->mi);
	if (ret)
		return ret;
	p = mmap(NULL, m->mi.control_size, PROT_READ, MAP_SHARED, fd,
		 m->mi.control_offset);
	if (p == MAP_FAILED)
		return -errno;
	m->ctrl = p;
	p = mmap(NULL, m->mi.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fd, m->mi.ring_offset);
	if (p == MAP_FAILED)
		return -errno;
	m->ring = p;
	m->head = (uint64_t *)(m->ring + m->ctrl->head_offset);
	m->tail = (uint64_t *)(m->ring + m->ctrl->tail_offset);
	m->slots = (uint64_t *)(m->ring + m->ctrl->slots_offset);
	m->elems = m->ring + m->ctrl->elems_offset;
	return map_info(fd, &m->mi);
}

static void unmap_both(struct mapped *m)
{
	munmap((void *)m->ctrl, m->mi.control_size);
	munmap(m->ring, m->mi.ring_size);
}

static uint64_t *slot_of(struct mapped *m, uint64_t pos)
{
	return &m->slots[pos % m->ctrl->capacity];
}

static uint8_t *elem_of(struct mapped *m, uint64_t pos)
{
	return m->elems + pos % m->ctrl->capacity * m->ctrl->elem_size;
}

/*
 * Claim by hand the slot at position hint @hint, which must be in state
 * @from, moving it to state @to under this process's map id: the
 * position, or -1.
 */
static int64_t claim(struct mapped *m, uint64_t *hint, uint64_t from, uint64_t to)
{
	uint64_t p = __atomic_load_n(hint, __ATOMIC_RELAXED);
	uint64_t w = slot_word(p, from, 0);

	if (!__atomic_compare_exchange_n(slot_of(m, p), &w,
					 slot_word(p, to, m->mi.map_id),
					 false, __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
		return -1;
	__atomic_compare_exchange_n(hint, &p, p + 1, false,
				    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	return p;
}

static int64_t claim_send(struct mapped *m)
{
	return claim(m, m->tail, SLOT_EMPTY, SLOT_WRITING);
}

static int64_t claim_recv(struct mapped *m)
{
	return claim(m, m->head, SLOT_FULL, SLOT_READING);
}

/*
 * Fork a process that maps @fd, claims the next slot for a send (else a
 * receive) and holds the claim until it is killed.  Its pid once it holds
 * the claim, or -1.
 */
static pid_t fork_claimer(int fd, bool send)
{
	int ready[2];
	pid_t pid;
	char c;

	if (pipe(ready))
		return -1;
	pid = fork();
	if (pid == 0) {
		struct mapped m;

		if (map_both(&m, fd) || (send ? claim_send(&m) : claim_recv(&m)) < 0)
			_exit(1);
		if (write(ready[1], "c", 1) != 1)
			_exit(2);
		pause();
		_exit(3);
	}
	if (pid > 0 && read(ready[0], &c, 1) != 1)
		pid = -1;
	close(ready[0]);
	close(ready[1]);
	return pid;
}

/* Kill a claimer from fork_claimer() and reap it: 0 or -1. */
static int kill_claimer(pid_t pid)
{
	int status;

	if (kill(pid, SIGKILL) || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFSIGNALED(status) ? 0 : -1;
}

TEST(not_mappable_is_enodev)
{
	struct kchan_map_info mi;
	int fd = kt_create(8, 4, 0);
	void *p;

	ASSERT_LE(0, fd);
	EXPECT_EQ(-ENODEV, map_info(fd, &mi));
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENODEV, errno);
	close(fd);
	/* A broadcast descriptor, even of a mappable channel: its subscribers are. */
	fd = kt_create(8, 4, KCHAN_BROADCAST | KCHAN_MAPPABLE);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-ENODEV, map_info(fd, &mi));
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(ENODEV, errno);
	close(fd);
}

TEST(map_info_says_how_to_map)
{
	long page = sysconf(_SC_PAGESIZE);
	struct kchan_map_info mi;
	int fd = kt_create(24, 100, KCHAN_MAPPABLE);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, map_info(fd, &mi));
	EXPECT_EQ(sizeof(mi), mi.size);
	EXPECT_EQ(0, mi.map_id) TH_LOG("not mapped yet");
	EXPECT_EQ(KCHAN_MAP_CONTROL, mi.control_offset);
	EXPECT_EQ(page, mi.control_size);
	EXPECT_EQ(page, mi.ring_offset);
	/* Positions page, 100 slot words, 100 elements of 24 bytes. */
	EXPECT_LE(page + 100 * 8 + 100 * 24, mi.ring_size);
	EXPECT_EQ(0, mi.ring_size % page);
	mi.size = KCHAN_MAP_INFO_SIZE_VER0 - 1;
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, KCHAN_IOC_MAP_INFO, (unsigned long)&mi));
	close(fd);
}

/* The control page is the kernel's: never writable, not even later. */
TEST(control_page_is_read_only_for_good)
{
	struct kchan_map_info mi;
	int fd = kt_create(8, 4, KCHAN_MAPPABLE);
	void *p;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, map_info(fd, &mi));
	p = mmap(NULL, mi.control_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EPERM, errno);
	p = mmap(NULL, mi.control_size, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EPERM, errno);
	p = mmap(NULL, mi.control_size, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(-1, mprotect(p, mi.control_size, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	munmap(p, mi.control_size);
	close(fd);
}

TEST(wrong_offset_length_or_sharing_is_einval)
{
	struct kchan_map_info mi;
	int fd = kt_create(8, 4, KCHAN_MAPPABLE);
	void *p;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, map_info(fd, &mi));
	p = mmap(NULL, 2 * mi.control_size, PROT_READ, MAP_SHARED, fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno) TH_LOG("control page and more");
	p = mmap(NULL, mi.ring_size - mi.control_size, PROT_READ | PROT_WRITE,
		 MAP_SHARED, fd, mi.ring_offset);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno) TH_LOG("part of the ring");
	p = mmap(NULL, mi.ring_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd,
		 mi.ring_offset);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno) TH_LOG("a private ring");
	p = mmap(NULL, mi.control_size, PROT_READ, MAP_SHARED, fd,
		 mi.ring_offset + mi.ring_size);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno) TH_LOG("past the ring");
	p = mmap(NULL, mi.ring_size, PROT_READ | PROT_EXEC, MAP_SHARED, fd,
		 mi.ring_offset);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EPERM, errno) TH_LOG("an executable ring");
	close(fd);
}

TEST(control_page_describes_the_ring)
{
	int fd = kt_create(24, 5, KCHAN_MAPPABLE);
	const struct kchan_map_ctrl *c;
	struct mapped m;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, map_both(&m, fd));
	c = m.ctrl;
	EXPECT_EQ(KCHAN_MAP_MAGIC, c->magic);
	EXPECT_EQ(KCHAN_MAP_VERSION, c->version);
	EXPECT_EQ(24, c->elem_size);
	EXPECT_EQ(5, c->capacity);
	EXPECT_EQ(m.mi.ring_size, c->ring_size);
	EXPECT_EQ(0, c->head_offset % 64);
	EXPECT_EQ(0, c->tail_offset % 64);
	EXPECT_NE(c->head_offset, c->tail_offset);
	EXPECT_LE(c->slots_offset + 5 * 8, c->elems_offset);
	EXPECT_GE(c->ring_size, c->elems_offset + 5 * 24);
	EXPECT_EQ(0, c->state);
	EXPECT_EQ(0, c->recv_waiters);
	EXPECT_EQ(0, c->send_waiters);
	EXPECT_NE(0, c->cookie);
	EXPECT_EQ(m.mi.cookie, c->cookie);
	/* Every close(2) of a descriptor of the channel is counted. */
	EXPECT_EQ(0, c->fd_closes);
	ASSERT_EQ(0, close(dup(fd)));
	EXPECT_EQ(1, c->fd_closes);
	/* A new ring: slot i free for position i, both positions 0. */
	EXPECT_EQ(slot_word(0, SLOT_EMPTY, 0), m.slots[0]);
	EXPECT_EQ(slot_word(4, SLOT_EMPTY, 0), m.slots[4]);
	EXPECT_EQ(0, *m.head);
	EXPECT_EQ(0, *m.tail);
	ASSERT_EQ(0, kchan_close(fd));
	EXPECT_EQ(KCHAN_MAP_CLOSED, c->state & KCHAN_MAP_CLOSED);
	unmap_both(&m);
	close(fd);
}

/* What the kernel sends and receives shows in the mapping. */
TEST(kernel_operations_show_in_the_ring)
{
	int fd = kt_create(sizeof(uint64_t), 3, KCHAN_MAPPABLE | KCHAN_NONBLOCK);
	uint64_t v, got;
	struct mapped m;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, map_both(&m, fd));
	for (v = 0; v < 3; v++)
		ASSERT_EQ(0, kchan_send(fd, &(uint64_t){ 100 + v }));
	EXPECT_EQ(3, *m.tail);
	for (v = 0; v < 3; v++) {
		EXPECT_EQ(slot_word(v, SLOT_FULL, 0), m.slots[v]);
		EXPECT_EQ(0, memcmp(elem_of(&m, v), &(uint64_t){ 100 + v }, 8));
	}
	ASSERT_EQ(1, kchan_recv(fd, &got));
	EXPECT_EQ(100, got);
	EXPECT_EQ(1, *m.head);
	EXPECT_EQ(slot_word(3, SLOT_EMPTY, 0), m.slots[0]) TH_LOG("next lap");
	unmap_both(&m);
	close(fd);
}

/*
 * A send and a receive done in user space by the slot protocol meet the
 * kernel's: what user space publishes the kernel receives, in order, and
 * what the kernel sends user space can claim.
 */
TEST(user_space_claims_meet_the_kernel)
{
	int fd = kt_create(sizeof(uint64_t), 4, KCHAN_MAPPABLE | KCHAN_NONBLOCK);
	uint64_t got, v = 7;
	struct mapped m;
	int64_t pos;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, map_both(&m, fd));
	ASSERT_LT(0, m.mi.map_id);
	ASSERT_EQ(0, kchan_send(fd, &(uint64_t){ 6 }));
	pos = claim_send(&m);
	ASSERT_EQ(1, pos);
	memcpy(elem_of(&m, pos), &v, sizeof(v));
	__atomic_store_n(slot_of(&m, pos), slot_word(pos, SLOT_FULL, 0),
			 __ATOMIC_RELEASE);
	ASSERT_EQ(0, kchan_send(fd, &(uint64_t){ 8 }));
	EXPECT_EQ(3, kt_len(fd));
	ASSERT_EQ(1, kchan_recv(fd, &got));
	EXPECT_EQ(6, got);
	/* The kernel's 6 was taken by the kernel, the 7 by hand. */
	pos = claim_recv(&m);
	ASSERT_EQ(1, pos);
	memcpy(&got, elem_of(&m, pos), sizeof(got));
	EXPECT_EQ(7, got);
	__atomic_store_n(slot_of(&m, pos), slot_word(pos + 4, SLOT_EMPTY, 0),
			 __ATOMIC_RELEASE);
	ASSERT_EQ(1, kchan_recv(fd, &got));
	EXPECT_EQ(8, got);
	EXPECT_EQ(-EAGAIN, kchan_recv(fd, &got));
	unmap_both(&m);
	close(fd);
}

/* A map id per process, the same for each of its mappings, freed at the end. */
/* Two channels never share a cookie. */
TEST(cookies_tell_channels_apart)
{
	struct kchan_map_info a, b;
	int fa = kt_create(8, 4, KCHAN_MAPPABLE);
	int fb = kt_create(8, 4, KCHAN_MAPPABLE);

	ASSERT_LE(0, fa);
	ASSERT_LE(0, fb);
	ASSERT_EQ(0, map_info(fa, &a));
	ASSERT_EQ(0, map_info(fb, &b));
	EXPECT_NE(a.cookie, b.cookie);
	close(fa);
	close(fb);
}

TEST(map_ids_are_per_process)
{
	int fd = kt_create(8, 4, KCHAN_MAPPABLE);
	struct kchan_map_info mi;
	struct mapped m, m2;
	int pipefd[2], status;
	uint32_t child_id = 0;
	pid_t pid;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, map_both(&m, fd));
	ASSERT_EQ(0, map_both(&m2, fd));
	EXPECT_LE(1, m.mi.map_id);
	EXPECT_GE(0xfffe, m.mi.map_id);
	EXPECT_EQ(m.mi.map_id, m2.mi.map_id);
	EXPECT_NE(m.ring, m2.ring);
	/* Both mappings are the same memory. */
	*m.tail = 3;
	EXPECT_EQ(3, *m2.tail);
	*m.tail = 0;

	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kchan_map_info cmi;
		struct mapped cm;

		/* Not inherited: the child has no id until it maps. */
		if (map_info(fd, &cmi) || cmi.map_id)
			_exit(1);
		if (map_both(&cm, fd))
			_exit(2);
		if (write(pipefd[1], &cm.mi.map_id, 4) != 4)
			_exit(3);
		_exit(0);
	}
	ASSERT_EQ(4, read(pipefd[0], &child_id, 4));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_NE(0, child_id);
	EXPECT_NE(m.mi.map_id, child_id);

	unmap_both(&m);
	ASSERT_EQ(0, map_info(fd, &mi));
	EXPECT_EQ(m2.mi.map_id, mi.map_id) TH_LOG("one ring mapping is left");
	unmap_both(&m2);
	ASSERT_EQ(0, map_info(fd, &mi));
	EXPECT_EQ(0, mi.map_id);
	close(pipefd[0]);
	close(pipefd[1]);
	close(fd);
}

/* A split VMA is still the same process's mapping. */
TEST(partial_munmap_keeps_the_id)
{
	int fd = kt_create(8, 1024, KCHAN_MAPPABLE);
	struct kchan_map_info mi;
	long page = sysconf(_SC_PAGESIZE);
	struct mapped m;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, map_both(&m, fd));
	ASSERT_LE(3 * page, m.mi.ring_size);
	ASSERT_EQ(0, munmap(m.ring + page, page));
	ASSERT_EQ(0, map_info(fd, &mi));
	EXPECT_EQ(m.mi.map_id, mi.map_id);
	ASSERT_EQ(0, munmap(m.ring, page));
	ASSERT_EQ(0, map_info(fd, &mi));
	EXPECT_EQ(m.mi.map_id, mi.map_id);
	ASSERT_EQ(0, munmap(m.ring + 2 * page, m.mi.ring_size - 2 * page));
	ASSERT_EQ(0, map_info(fd, &mi));
	EXPECT_EQ(0, mi.map_id);
	munmap((void *)m.ctrl, m.mi.control_size);
	close(fd);
}

/* The mappings keep the channel: usable after its last descriptor closed. */
TEST(mapping_outlives_the_descriptor)
{
	int fd = kt_create(sizeof(uint64_t), 2, KCHAN_MAPPABLE);
	long long id = kt_chan_id(fd);
	struct mapped m;
	uint64_t got;
	int64_t pos;

	ASSERT_LE(0, fd);
	ASSERT_LE(0, id);
	ASSERT_EQ(0, kchan_send(fd, &(uint64_t){ 31 }));
	ASSERT_EQ(0, map_both(&m, fd));
	ASSERT_EQ(0, close(fd));
	EXPECT_EQ(m.ctrl->magic, KCHAN_MAP_MAGIC);
	pos = claim_recv(&m);
	ASSERT_EQ(0, pos);
	memcpy(&got, elem_of(&m, pos), sizeof(got));
	EXPECT_EQ(31, got);
	unmap_both(&m);
}

/*
 * A process that dies between claiming a send and publishing it: its
 * slot becomes a void, and a receiver blocked behind it gets the next
 * element once the process is gone.
 */
TEST(dead_sender_claim_is_voided)
{
	int fd = kt_create(sizeof(uint64_t), 4, KCHAN_MAPPABLE);
	struct kt_worker w;
	uint64_t got;
	pid_t pid;

	ASSERT_LE(0, fd);
	pid = fork_claimer(fd, true);
	ASSERT_LT(0, pid);
	/* Position 0 is claimed and never published: nothing to receive. */
	EXPECT_EQ(-EAGAIN, kt_recv_raw(fd, &got, 1, KCHAN_XFER_NONBLOCK));
	ASSERT_EQ(0, kchan_send(fd, &(uint64_t){ 55 }));
	EXPECT_EQ(-EAGAIN, kt_recv_raw(fd, &got, 1, KCHAN_XFER_NONBLOCK));
	ASSERT_EQ(0, kt_start_recv(&w, fd));
	ASSERT_EQ(0, kt_wait_queues(fd, 0, 1));
	ASSERT_EQ(0, kill_claimer(pid));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(55, kt_worker_u64(&w));
	EXPECT_EQ(0, kt_len(fd));
	close(fd);
}

/*
 * A process that dies between claiming a receive and finishing it has
 * received the element (the claim is the commit point): its slot is free
 * again, and a sender blocked on the full ring gets in.
 */
TEST(dead_receiver_claim_counts_as_received)
{
	int fd = kt_create(sizeof(uint64_t), 2, KCHAN_MAPPABLE);
	struct kt_worker w;
	uint64_t got;
	pid_t pid;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kchan_send(fd, &(uint64_t){ 1 }));
	ASSERT_EQ(0, kchan_send(fd, &(uint64_t){ 2 }));
	pid = fork_claimer(fd, false);
	ASSERT_LT(0, pid);
	ASSERT_EQ(0, kt_start_send_u64(&w, fd, 3));
	ASSERT_EQ(0, kt_wait_queues(fd, 1, 0));
	ASSERT_EQ(0, kill_claimer(pid));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(0, w.ret);
	ASSERT_EQ(1, kchan_recv(fd, &got));
	EXPECT_EQ(2, got);
	ASSERT_EQ(1, kchan_recv(fd, &got));
	EXPECT_EQ(3, got);
	EXPECT_EQ(0, kt_len(fd));
	close(fd);
}

/* A claim the process finished is not touched when it exits. */
TEST(clean_exit_repairs_nothing)
{
	int fd = kt_create(sizeof(uint64_t), 2, KCHAN_MAPPABLE | KCHAN_NONBLOCK);
	int status;
	uint64_t got;
	pid_t pid;

	ASSERT_LE(0, fd);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct mapped cm;
		uint64_t v = 9;
		int64_t pos;

		if (map_both(&cm, fd))
			_exit(1);
		pos = claim_send(&cm);
		if (pos != 0)
			_exit(2);
		memcpy(elem_of(&cm, pos), &v, sizeof(v));
		__atomic_store_n(slot_of(&cm, pos), slot_word(pos, SLOT_FULL, 0),
				 __ATOMIC_RELEASE);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(1, kchan_recv(fd, &got));
	EXPECT_EQ(9, got);
	EXPECT_EQ(-EAGAIN, kchan_recv(fd, &got));
	close(fd);
}

/*
 * Run @step in a child that maps @fd and exits without %KCHAN_IOC_WAKE,
 * as a process killed between its step and the wake would: 0 when the
 * child did the step, else -1.
 */
static int fork_unwoken(int fd, int (*step)(struct mapped *m))
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct mapped cm;

		_exit(map_both(&cm, fd) || step(&cm) ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Send 9 by hand: claim, copy, publish; no wake. */
static int send_nine(struct mapped *m)
{
	uint64_t v = 9;
	int64_t pos = claim_send(m);

	if (pos < 0)
		return -1;
	memcpy(elem_of(m, pos), &v, sizeof(v));
	__atomic_store_n(slot_of(m, pos), slot_word(pos, SLOT_FULL, 0),
			 __ATOMIC_RELEASE);
	return 0;
}

/* Receive by hand: claim, free the slot for the next lap; no wake. */
static int recv_one(struct mapped *m)
{
	int64_t pos = claim_recv(m);

	if (pos < 0)
		return -1;
	__atomic_store_n(slot_of(m, pos),
			 slot_word(pos + m->ctrl->capacity, SLOT_EMPTY, 0),
			 __ATOMIC_RELEASE);
	return 0;
}

/*
 * A process that publishes an element while a receiver sleeps, and dies
 * before it can wake it: its exit does (fastpath.rst, "Dead owners").
 */
TEST(exit_before_the_wake_serves_a_blocked_receiver)
{
	int fd = kt_create(sizeof(uint64_t), 2, KCHAN_MAPPABLE);
	struct kt_worker w;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kt_start_recv(&w, fd));
	ASSERT_EQ(0, kt_wait_queues(fd, 0, 1));
	ASSERT_EQ(0, fork_unwoken(fd, send_nine));
	ASSERT_EQ(0, kt_wait_queues(fd, 0, 0));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(9, kt_worker_u64(&w));
	EXPECT_EQ(0, kt_len(fd));
	close(fd);
}

/* Likewise a process that frees a slot while a sender waits for room. */
TEST(exit_before_the_wake_serves_a_blocked_sender)
{
	int fd = kt_create(sizeof(uint64_t), 1, KCHAN_MAPPABLE);
	struct kt_worker w;
	uint64_t got;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kchan_send(fd, &(uint64_t){ 1 }));
	ASSERT_EQ(0, kt_start_send_u64(&w, fd, 2));
	ASSERT_EQ(0, kt_wait_queues(fd, 1, 0));
	ASSERT_EQ(0, fork_unwoken(fd, recv_one));
	ASSERT_EQ(0, kt_wait_queues(fd, 0, 0));
	ASSERT_EQ(0, kt_worker_join(&w));
	EXPECT_EQ(0, w.ret);
	ASSERT_EQ(1, kchan_recv(fd, &got));
	EXPECT_EQ(2, got);
	EXPECT_EQ(0, kt_len(fd));
	close(fd);
}

TEST_HARNESS_MAIN
