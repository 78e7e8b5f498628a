// SPDX-License-Identifier: GPL-2.0
/*
 * kchan selftests: creating channels and the ABI's validation.
 *
 * KCHAN_IOC_CREATE and its flags, the limits, one test per validation
 * failure with otherwise valid input (EINVAL, E2BIG, EFAULT), ENOTTY for
 * ioctls on the wrong kind of descriptor, EBADF, and KCHAN_IOC_INFO.
 */
#include <limits.h>

#include "kchan_test_util.h"
#include "kselftest_harness.h"

FIXTURE(dev) {
	int dev;
};

FIXTURE_SETUP(dev)
{
	self->dev = kt_open_dev();
	ASSERT_LE(0, self->dev);
}

FIXTURE_TEARDOWN(dev)
{
	if (self->dev >= 0)
		close(self->dev);
}

static struct kchan_create create_arg(uint32_t elem_size, uint64_t capacity, uint32_t flags)
{
	return (struct kchan_create){
		.size = sizeof(struct kchan_create),
		.flags = flags,
		.elem_size = elem_size,
		.capacity = capacity,
	};
}

TEST_F(dev, create_returns_anon_inode_channel_descriptor)
{
	struct kchan_create c = create_arg(8, 4, 0);
	char path[64], link[64] = { 0 };
	struct kchan_info info;
	long fd;

	fd = kt_create_raw(self->dev, &c);
	ASSERT_LE(0, fd);
	ASSERT_NE(self->dev, fd);

	snprintf(path, sizeof(path), "/proc/self/fd/%ld", fd);
	ASSERT_LT(0, readlink(path, link, sizeof(link) - 1));
	EXPECT_STREQ("anon_inode:[kchan]", link);

	/* Read-write, blocking, inherited over exec: no flag asked for. */
	EXPECT_EQ(O_RDWR, fcntl(fd, F_GETFL) & O_ACCMODE);
	EXPECT_EQ(0, fcntl(fd, F_GETFL) & O_NONBLOCK);
	EXPECT_EQ(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);

	ASSERT_EQ(0, kt_info(fd, &info));
	EXPECT_EQ(8, info.elem_size);
	EXPECT_EQ(4, info.capacity);
	EXPECT_EQ(0, info.len);
	EXPECT_EQ(0, info.state);
	close(fd);
}

TEST_F(dev, create_cloexec_sets_fd_cloexec)
{
	struct kchan_create c = create_arg(8, 4, KCHAN_CLOEXEC);
	long fd = kt_create_raw(self->dev, &c);

	ASSERT_LE(0, fd);
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(0, fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
}

TEST_F(dev, create_nonblock_sets_o_nonblock)
{
	struct kchan_create c = create_arg(8, 1, KCHAN_NONBLOCK);
	uint64_t v = KT_SENTINEL_U64;
	long fd = kt_create_raw(self->dev, &c);

	ASSERT_LE(0, fd);
	EXPECT_EQ(O_NONBLOCK, fcntl(fd, F_GETFL) & O_NONBLOCK);
	EXPECT_EQ(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* Plain blocking calls fail with EAGAIN instead of blocking. */
	EXPECT_EQ(-EAGAIN, kchan_recv(fd, &v));
	EXPECT_EQ(KT_SENTINEL_U64, v);
	EXPECT_EQ(0, kt_send_u64(fd, 1));
	EXPECT_EQ(-EAGAIN, kt_send_u64(fd, 2));
	EXPECT_EQ(1, kchan_len(fd));
	close(fd);
}

TEST_F(dev, create_both_flags)
{
	struct kchan_create c = create_arg(8, 1, KCHAN_CLOEXEC | KCHAN_NONBLOCK);
	long fd = kt_create_raw(self->dev, &c);

	ASSERT_LE(0, fd);
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(O_NONBLOCK, fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
}

TEST(make_flags_through_library)
{
	int fd = KT_MAKE_CHAN(8, 1, KCHAN_CLOEXEC | KCHAN_NONBLOCK);

	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(O_NONBLOCK, fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);

	fd = KT_MAKE_CHAN(8, 1, 0);
	EXPECT_EQ(0, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(0, fcntl(fd, F_GETFL) & O_NONBLOCK);
	close(fd);
}

TEST(make_len_cap_elem_size_report_creation_values)
{
	int fd = KT_MAKE_CHAN(12, 5, 0);
	unsigned char elem[12] = { 0 };

	EXPECT_EQ(5, kchan_cap(fd));
	EXPECT_EQ(12, kchan_elem_size(fd));
	EXPECT_EQ(0, kchan_len(fd));
	ASSERT_EQ(0, kchan_send(fd, elem));
	ASSERT_EQ(0, kchan_send(fd, elem));
	EXPECT_EQ(2, kchan_len(fd));
	EXPECT_EQ(5, kchan_cap(fd));
	close(fd);
}

/* The limits themselves are accepted (each ring is freed before the next). */
TEST_F(dev, create_accepts_every_limit)
{
	static const struct { uint32_t elem_size; uint64_t capacity; } ok[] = {
		{ 1, 1 },
		{ KCHAN_ELEM_SIZE_MAX, 1 },
		{ 1, KCHAN_CAPACITY_MAX },
		{ KCHAN_RING_BYTES_MAX / KCHAN_CAPACITY_MAX, KCHAN_CAPACITY_MAX },
		{ KCHAN_ELEM_SIZE_MAX, KCHAN_RING_BYTES_MAX / KCHAN_ELEM_SIZE_MAX },
		{ 3, 7 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		struct kchan_create c = create_arg(ok[i].elem_size, ok[i].capacity, 0);
		struct kchan_info info;
		long fd = kt_create_raw(self->dev, &c);

		ASSERT_LE(0, fd) TH_LOG("elem_size %u capacity %llu: %s", ok[i].elem_size,
					(unsigned long long)ok[i].capacity, strerror(-fd));
		ASSERT_EQ(0, kt_info(fd, &info));
		EXPECT_EQ(ok[i].elem_size, info.elem_size);
		EXPECT_EQ(ok[i].capacity, info.capacity);
		close(fd);
	}
}

/* Capacity 0 makes an unbuffered channel (kchan_unbuffered_test.c). */
TEST_F(dev, capacity_zero_makes_an_unbuffered_channel)
{
	struct kchan_create c = create_arg(8, 0, 0);
	int fd;

	fd = kt_create_raw(self->dev, &c);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, kchan_cap(fd));
	EXPECT_EQ(0, kchan_len(fd));
	EXPECT_EQ(0, close(fd));
}

/* One validation failure per variant, everything else valid. */
FIXTURE(create_einval) {
	int dev;
};

FIXTURE_VARIANT(create_einval) {
	uint32_t size;
	uint32_t flags;
	uint32_t elem_size;
	uint32_t reserved;
	uint64_t capacity;
};

FIXTURE_VARIANT_ADD(create_einval, size_zero) {
	.size = 0, .elem_size = 8, .capacity = 4,
};
FIXTURE_VARIANT_ADD(create_einval, size_half_ver0) {
	.size = KCHAN_CREATE_SIZE_VER0 / 2, .elem_size = 8, .capacity = 4,
};
FIXTURE_VARIANT_ADD(create_einval, size_ver0_minus_one) {
	.size = KCHAN_CREATE_SIZE_VER0 - 1, .elem_size = 8, .capacity = 4,
};
FIXTURE_VARIANT_ADD(create_einval, unknown_flag_bit2) {
	.size = KCHAN_CREATE_SIZE_VER0, .flags = 1U << 2, .elem_size = 8, .capacity = 4,
};
FIXTURE_VARIANT_ADD(create_einval, unknown_flag_bit31) {
	.size = KCHAN_CREATE_SIZE_VER0, .flags = KCHAN_CLOEXEC | (1U << 31),
	.elem_size = 8, .capacity = 4,
};
FIXTURE_VARIANT_ADD(create_einval, o_cloexec_is_not_a_flag) {
	.size = KCHAN_CREATE_SIZE_VER0, .flags = O_CLOEXEC, .elem_size = 8, .capacity = 4,
};
FIXTURE_VARIANT_ADD(create_einval, reserved_nonzero) {
	.size = KCHAN_CREATE_SIZE_VER0, .reserved = 1, .elem_size = 8, .capacity = 4,
};
FIXTURE_VARIANT_ADD(create_einval, elem_size_zero) {
	.size = KCHAN_CREATE_SIZE_VER0, .elem_size = 0, .capacity = 4,
};
FIXTURE_VARIANT_ADD(create_einval, elem_size_over_max) {
	.size = KCHAN_CREATE_SIZE_VER0, .elem_size = KCHAN_ELEM_SIZE_MAX + 1, .capacity = 1,
};
FIXTURE_VARIANT_ADD(create_einval, elem_size_u32_max) {
	.size = KCHAN_CREATE_SIZE_VER0, .elem_size = UINT32_MAX, .capacity = 1,
};
FIXTURE_VARIANT_ADD(create_einval, capacity_over_max) {
	.size = KCHAN_CREATE_SIZE_VER0, .elem_size = 1, .capacity = KCHAN_CAPACITY_MAX + 1ULL,
};
FIXTURE_VARIANT_ADD(create_einval, capacity_not_truncated_to_32_bits) {
	.size = KCHAN_CREATE_SIZE_VER0, .elem_size = 8, .capacity = (1ULL << 32) | 4,
};
FIXTURE_VARIANT_ADD(create_einval, capacity_u64_max) {
	.size = KCHAN_CREATE_SIZE_VER0, .elem_size = 8, .capacity = UINT64_MAX,
};
FIXTURE_VARIANT_ADD(create_einval, ring_bytes_over_max_big_elems) {
	.size = KCHAN_CREATE_SIZE_VER0, .elem_size = KCHAN_ELEM_SIZE_MAX,
	.capacity = KCHAN_RING_BYTES_MAX / KCHAN_ELEM_SIZE_MAX + 1,
};
FIXTURE_VARIANT_ADD(create_einval, ring_bytes_over_max_max_capacity) {
	.size = KCHAN_CREATE_SIZE_VER0, .elem_size = KCHAN_RING_BYTES_MAX / KCHAN_CAPACITY_MAX + 1,
	.capacity = KCHAN_CAPACITY_MAX,
};

FIXTURE_SETUP(create_einval)
{
	self->dev = kt_open_dev();
	ASSERT_LE(0, self->dev);
}

FIXTURE_TEARDOWN(create_einval)
{
	if (self->dev >= 0)
		close(self->dev);
}

TEST_F(create_einval, rejected_without_allocating_a_descriptor)
{
	/* Room past the struct so that small sizes read defined memory. */
	struct {
		struct kchan_create c;
		unsigned char zero[8];
	} arg = {
		.c = {
			.size = variant->size,
			.flags = variant->flags,
			.elem_size = variant->elem_size,
			.__reserved = variant->reserved,
			.capacity = variant->capacity,
		},
	};
	int lowest = kt_lowest_free_fd();
	long ret;

	ret = kt_create_raw(self->dev, &arg);
	if (ret >= 0)
		close(ret);
	ASSERT_EQ(-EINVAL, ret);
	EXPECT_EQ(lowest, kt_lowest_free_fd());
}

/* The library must not truncate a size_t into the 32-bit ABI field. */
TEST(make_rejects_sizes_that_do_not_fit_the_abi)
{
	int fd = KT_MAKE_CHAN(8, 1, 0);

	close(fd);
	if (sizeof(size_t) > 4) {
		EXPECT_EQ(-EINVAL, kchan_make(((size_t)1 << 32) | 8, 4, 0));
	}
	EXPECT_EQ(-EINVAL, kchan_make(0, 4, 0));
	EXPECT_EQ(-EINVAL, kchan_make(8, 4, 1U << 5));
	EXPECT_EQ(-EINVAL, kchan_make(KCHAN_ELEM_SIZE_MAX + 1, 1, 0));
	EXPECT_EQ(-EINVAL, kchan_make(1, KCHAN_CAPACITY_MAX + 1, 0));
}

/* A struct bigger than the kernel's: a non-zero tail asks for a missing feature. */
TEST_F(dev, create_bigger_struct_nonzero_tail_e2big)
{
	struct {
		struct kchan_create c;
		uint64_t tail[2];
	} arg = { .c = create_arg(8, 4, 0) };
	int lowest = kt_lowest_free_fd();
	long ret;

	arg.c.size = sizeof(arg);
	arg.tail[1] = 1ULL << 60;
	ret = kt_create_raw(self->dev, &arg);
	if (ret >= 0)
		close(ret);
	EXPECT_EQ(-E2BIG, ret);

	/* The first byte past the known struct alone. */
	memset(arg.tail, 0, sizeof(arg.tail));
	arg.c.size = sizeof(arg.c) + 1;
	((unsigned char *)arg.tail)[0] = 1;
	ret = kt_create_raw(self->dev, &arg);
	if (ret >= 0)
		close(ret);
	EXPECT_EQ(-E2BIG, ret);
	EXPECT_EQ(lowest, kt_lowest_free_fd());
}

TEST_F(dev, create_bigger_struct_zero_tail_accepted)
{
	struct {
		struct kchan_create c;
		uint64_t tail[4];
	} arg = { .c = create_arg(16, 3, 0) };
	struct kchan_info info;
	long fd;

	arg.c.size = sizeof(arg);
	fd = kt_create_raw(self->dev, &arg);
	ASSERT_LE(0, fd) TH_LOG("%s", strerror(-fd));
	ASSERT_EQ(0, kt_info(fd, &info));
	EXPECT_EQ(16, info.elem_size);
	EXPECT_EQ(3, info.capacity);
	close(fd);

	arg.c.size = sizeof(arg.c) + 3;
	fd = kt_create_raw(self->dev, &arg);
	ASSERT_LE(0, fd) TH_LOG("%s", strerror(-fd));
	close(fd);
}

TEST_F(dev, create_struct_larger_than_a_page_e2big)
{
	long page = sysconf(_SC_PAGESIZE);
	struct kchan_create *c = calloc(1, page + 8);
	int lowest = kt_lowest_free_fd();
	long ret;

	ASSERT_NE(NULL, c);
	*c = create_arg(8, 4, 0);
	c->size = page + 8;
	ret = kt_create_raw(self->dev, c);
	if (ret >= 0)
		close(ret);
	EXPECT_EQ(-E2BIG, ret);
	EXPECT_EQ(lowest, kt_lowest_free_fd());
	free(c);
}

/* The kernel reads exactly @size bytes: a struct that ends at a page end works. */
TEST_F(dev, create_reads_only_size_bytes)
{
	struct kchan_create c = create_arg(8, 2, 0);
	struct kchan_create *at_end;
	char *map = kt_guard_alloc();
	long fd;

	ASSERT_NE(NULL, map);
	at_end = (struct kchan_create *)(kt_guard_end(map) - sizeof(c));
	memcpy(at_end, &c, sizeof(c));

	fd = kt_create_raw(self->dev, at_end);
	ASSERT_LE(0, fd) TH_LOG("%s", strerror(-fd));
	close(fd);

	/* Claiming a bigger struct makes the tail unreadable: EFAULT. */
	at_end->size = sizeof(c) + 8;
	EXPECT_EQ(-EFAULT, kt_create_raw(self->dev, at_end));
	kt_guard_free(map);
}

TEST_F(dev, create_bad_argument_pointer_efault)
{
	int lowest = kt_lowest_free_fd();

	EXPECT_EQ(-EFAULT, kt_create_raw(self->dev, NULL));
	EXPECT_EQ(-EFAULT, kt_create_raw(self->dev, kt_bad_ptr(1)));
	EXPECT_EQ(-EFAULT, kt_create_raw(self->dev, kt_noaccess_addr()));
	EXPECT_EQ(lowest, kt_lowest_free_fd());
}

TEST_F(dev, many_channels_from_one_dev_descriptor_are_independent)
{
	enum { N = 32 };
	int fds[N];

	for (int i = 0; i < N; i++) {
		struct kchan_create c = create_arg(8, 2, KCHAN_CLOEXEC);

		fds[i] = kt_create_raw(self->dev, &c);
		ASSERT_LE(0, fds[i]);
	}
	/* Channels outlive the /dev/kchan descriptor they came from. */
	close(self->dev);
	self->dev = -1;

	for (int i = 0; i < N; i++) {
		ASSERT_EQ(0, kt_send_u64(fds[i], 1000 + i));
	}
	for (int i = 0; i < N; i++) {
		uint64_t v = 0;

		EXPECT_EQ(1, kchan_len(fds[i]));
		ASSERT_EQ(1, kchan_recv(fds[i], &v));
		EXPECT_EQ(1000 + i, v);
		EXPECT_EQ(-EAGAIN, kchan_try_recv(fds[i], &v));
		close(fds[i]);
	}
}

TEST(dup_descriptor_refers_to_the_same_channel)
{
	int fd = KT_MAKE_CHAN(8, 2, 0);
	int fd2 = dup(fd);
	uint64_t v = 0;

	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, kt_send_u64(fd, 42));
	EXPECT_EQ(1, kchan_len(fd2));
	/* Closing one descriptor is not closing the channel. */
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(1, kchan_recv(fd2, &v));
	EXPECT_EQ(42, v);
	EXPECT_EQ(0, kt_send_u64(fd2, 43));
	ASSERT_EQ(1, kchan_try_recv(fd2, &v));
	EXPECT_EQ(43, v);
	close(fd2);
}

/* ENOTTY: commands that do not belong to the descriptor. */
static const unsigned long foreign_cmds[] = {
	_IO(KCHAN_IOC_MAGIC, 0x7f),
	_IO(KCHAN_IOC_MAGIC, 0xff),
	_IOWR(KCHAN_IOC_MAGIC, 0x00, struct kchan_create),	/* CREATE's nr, other encoding */
	_IO(KCHAN_IOC_MAGIC, 0x10),			/* SEND's nr, its old _IO() encoding */
	_IOWR(KCHAN_IOC_MAGIC, 0x20, struct kchan_select),	/* SELECT's nr, other direction */
	_IO('T', 0x01),						/* TCGETS */
};

/*
 * Every command number carries its direction and the size of what it
 * passes (Documentation/process/botching-up-ioctls.rst): a structure is
 * _IOW() when the kernel only reads it, _IOWR() when it also writes it
 * back; the one-element commands pass an element of the channel's size and
 * CLOSE passes nothing, so those three are _IO().
 */
static const struct {
	const char *name;
	unsigned long cmd;
	unsigned int nr;
	unsigned int dir;
	unsigned int size;
} ioctl_numbers[] = {
	{ "CREATE", KCHAN_IOC_CREATE, 0x00, _IOC_WRITE, KCHAN_CREATE_SIZE_VER0 },
	{ "SEND", KCHAN_IOC_SEND, 0x10, _IOC_WRITE, KCHAN_XFER_SIZE_VER0 },
	{ "RECV", KCHAN_IOC_RECV, 0x11, _IOC_WRITE, KCHAN_XFER_SIZE_VER0 },
	{ "CLOSE", KCHAN_IOC_CLOSE, 0x12, _IOC_NONE, 0 },
	{ "INFO", KCHAN_IOC_INFO, 0x13, _IOC_READ | _IOC_WRITE, KCHAN_INFO_SIZE_VER0 },
	{ "SEND_ONE", KCHAN_IOC_SEND_ONE, 0x14, _IOC_NONE, 0 },
	{ "RECV_ONE", KCHAN_IOC_RECV_ONE, 0x15, _IOC_NONE, 0 },
	{ "STATS", KCHAN_IOC_STATS, 0x16, _IOC_READ | _IOC_WRITE, KCHAN_STATS_SIZE_VER0 },
	{ "MAP_INFO", KCHAN_IOC_MAP_INFO, 0x17, _IOC_READ | _IOC_WRITE, KCHAN_MAP_INFO_SIZE_VER0 },
	{ "WAKE", KCHAN_IOC_WAKE, 0x18, _IOC_NONE, 0 },
	{ "SELECT", KCHAN_IOC_SELECT, 0x20, _IOC_WRITE, KCHAN_SELECT_SIZE_VER0 },
};

TEST(ioctl_numbers_encode_direction_and_size)
{
	for (size_t i = 0; i < ARRAY_SIZE(ioctl_numbers); i++) {
		unsigned long cmd = ioctl_numbers[i].cmd;

		EXPECT_EQ(KCHAN_IOC_MAGIC, _IOC_TYPE(cmd)) TH_LOG("%s", ioctl_numbers[i].name);
		EXPECT_EQ(ioctl_numbers[i].nr, _IOC_NR(cmd)) TH_LOG("%s", ioctl_numbers[i].name);
		EXPECT_EQ(ioctl_numbers[i].dir, _IOC_DIR(cmd)) TH_LOG("%s", ioctl_numbers[i].name);
		EXPECT_EQ(ioctl_numbers[i].size, _IOC_SIZE(cmd)) TH_LOG("%s", ioctl_numbers[i].name);
	}
}

TEST_F(dev, unknown_ioctl_on_dev_enotty)
{
	struct kchan_create c = create_arg(8, 1, 0);

	for (size_t i = 0; i < ARRAY_SIZE(foreign_cmds); i++) {
		long ret = kt_ioctl(self->dev, foreign_cmds[i], (unsigned long)&c);

		if (ret >= 0)
			close(ret);
		EXPECT_EQ(-ENOTTY, ret) TH_LOG("cmd %#lx", foreign_cmds[i]);
	}
}

TEST_F(dev, channel_ioctls_on_dev_enotty)
{
	uint64_t elem = 7;
	struct kchan_xfer x = {
		.size = sizeof(x), .elems = (uintptr_t)&elem, .count = 1,
	};
	struct kchan_info info = { .size = sizeof(info) };

	EXPECT_EQ(-ENOTTY, kt_ioctl(self->dev, KCHAN_IOC_SEND, (unsigned long)&x));
	EXPECT_EQ(-ENOTTY, kt_ioctl(self->dev, KCHAN_IOC_RECV, (unsigned long)&x));
	EXPECT_EQ(-ENOTTY, kt_ioctl(self->dev, KCHAN_IOC_CLOSE, 0));
	EXPECT_EQ(-ENOTTY, kt_ioctl(self->dev, KCHAN_IOC_INFO, (unsigned long)&info));
	/* The library reports the same when handed /dev/kchan. */
	EXPECT_EQ(-ENOTTY, kchan_send(self->dev, &elem));
	EXPECT_EQ(-ENOTTY, kchan_len(self->dev));
}

TEST(unknown_ioctl_on_channel_enotty)
{
	int fd = KT_MAKE_CHAN(8, 2, 0);
	uint64_t buf[8] = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(foreign_cmds); i++) {
		EXPECT_EQ(-ENOTTY, kt_ioctl(fd, foreign_cmds[i], (unsigned long)buf))
			TH_LOG("cmd %#lx", foreign_cmds[i]);
	}
	EXPECT_EQ(0, kchan_len(fd));
	close(fd);
}

TEST(create_on_channel_descriptor_enotty)
{
	int fd = KT_MAKE_CHAN(8, 2, 0);
	struct kchan_create c = create_arg(8, 1, 0);
	int lowest = kt_lowest_free_fd();
	long ret = kt_create_raw(fd, &c);

	if (ret >= 0)
		close(ret);
	EXPECT_EQ(-ENOTTY, ret);
	EXPECT_EQ(lowest, kt_lowest_free_fd());
	close(fd);
}

/* EBADF from every library call on a closed descriptor and on -1. */
TEST(closed_or_negative_descriptor_ebadf)
{
	int closed = KT_MAKE_CHAN(8, 2, 0);
	uint64_t v[2] = { 1, 2 };
	int fds[2];

	close(closed);
	fds[0] = closed;
	fds[1] = -1;
	for (int i = 0; i < 2; i++) {
		int fd = fds[i];

		EXPECT_EQ(-EBADF, kchan_send(fd, v));
		EXPECT_EQ(-EBADF, kchan_recv(fd, v));
		EXPECT_EQ(-EBADF, kchan_try_send(fd, v));
		EXPECT_EQ(-EBADF, kchan_try_recv(fd, v));
		EXPECT_EQ(-EBADF, kchan_send_timeout(fd, v, 0));
		EXPECT_EQ(-EBADF, kchan_recv_timeout(fd, v, KT_MSEC));
		EXPECT_EQ(-EBADF, kchan_send_many(fd, v, 2));
		EXPECT_EQ(-EBADF, kchan_recv_many(fd, v, 2));
		EXPECT_EQ(-EBADF, kchan_close(fd));
		EXPECT_EQ(-EBADF, kchan_len(fd));
		EXPECT_EQ(-EBADF, kchan_cap(fd));
		EXPECT_EQ(-EBADF, kchan_elem_size(fd));
		EXPECT_EQ(-1, read(fd, v, sizeof(v[0])));
		EXPECT_EQ(EBADF, errno);
		EXPECT_EQ(-1, write(fd, v, sizeof(v[0])));
		EXPECT_EQ(EBADF, errno);
	}
}

/* KCHAN_IOC_INFO */
TEST(info_reports_every_field)
{
	int fd = KT_MAKE_CHAN(12, 5, 0);
	unsigned char elem[12] = { 0 };
	struct kchan_info info;

	memset(&info, 0xff, sizeof(info));
	info.size = sizeof(info);
	ASSERT_EQ(0, kt_ioctl(fd, KCHAN_IOC_INFO, (unsigned long)&info));
	EXPECT_EQ(0, info.state);
	EXPECT_EQ(12, info.elem_size);
	EXPECT_EQ(0, info.__reserved);
	EXPECT_EQ(5, info.capacity);
	EXPECT_EQ(0, info.len);
	EXPECT_EQ(0, info.sendq);
	EXPECT_EQ(0, info.recvq);

	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, kchan_send(fd, elem));
	}
	ASSERT_EQ(0, kt_info(fd, &info));
	EXPECT_EQ(3, info.len);
	EXPECT_EQ(0, info.state);

	ASSERT_EQ(0, kchan_close(fd));
	ASSERT_EQ(0, kt_info(fd, &info));
	EXPECT_EQ(KCHAN_STATE_CLOSED, info.state);
	EXPECT_EQ(3, info.len);
	EXPECT_EQ(5, info.capacity);
	EXPECT_EQ(12, info.elem_size);
	close(fd);
}

TEST(info_counts_blocked_senders_and_receivers)
{
	int fd = KT_MAKE_CHAN(8, 2, 0);
	struct kt_worker r[2], s[3];
	struct kchan_info info;

	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, kt_start_recv(&r[i], fd));
		ASSERT_EQ(0, kt_wait_queues(fd, 0, i + 1));
	}
	ASSERT_EQ(0, kt_info(fd, &info));
	EXPECT_EQ(0, info.len);
	EXPECT_EQ(2, info.recvq);
	EXPECT_EQ(0, info.sendq);

	/* Two sends feed the two receivers; the ring stays empty. */
	ASSERT_EQ(0, kt_send_u64(fd, 1));
	ASSERT_EQ(0, kt_send_u64(fd, 2));
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, kt_worker_join(&r[i]));
		EXPECT_EQ(1, r[i].ret);
	}
	ASSERT_EQ(0, kt_wait_queues(fd, 0, 0));

	/* Fill the ring, then block three senders behind it. */
	ASSERT_EQ(0, kt_send_u64(fd, 3));
	ASSERT_EQ(0, kt_send_u64(fd, 4));
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, kt_start_send_u64(&s[i], fd, 5 + i));
		ASSERT_EQ(0, kt_wait_queues(fd, i + 1, 0));
	}
	ASSERT_EQ(0, kt_info(fd, &info));
	EXPECT_EQ(2, info.len);		/* blocked senders are not in the ring */
	EXPECT_EQ(3, info.sendq);
	EXPECT_EQ(0, info.recvq);

	ASSERT_EQ(0, kchan_close(fd));
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, kt_worker_join(&s[i]));
		EXPECT_EQ(-EPIPE, s[i].ret);
	}
	ASSERT_EQ(0, kt_info(fd, &info));
	EXPECT_EQ(0, info.sendq);
	EXPECT_EQ(2, info.len);
	close(fd);
}

TEST(info_bigger_struct_gets_zeroed_tail)
{
	int fd = KT_MAKE_CHAN(8, 3, 0);
	struct {
		struct kchan_info info;
		unsigned char tail[24];
	} arg;

	ASSERT_EQ(0, kt_send_u64(fd, 9));
	memset(&arg, 0xff, sizeof(arg));
	arg.info.size = sizeof(arg);
	ASSERT_EQ(0, kt_ioctl(fd, KCHAN_IOC_INFO, (unsigned long)&arg));
	/* size comes back as the bytes the kernel filled. */
	EXPECT_EQ(sizeof(struct kchan_info), arg.info.size);
	EXPECT_EQ(8, arg.info.elem_size);
	EXPECT_EQ(3, arg.info.capacity);
	EXPECT_EQ(1, arg.info.len);
	EXPECT_EQ(0, arg.info.__reserved);
	for (size_t i = 0; i < sizeof(arg.tail); i++) {
		ASSERT_EQ(0, arg.tail[i]) TH_LOG("tail byte %zu", i);
	}
	close(fd);
}

TEST(info_struct_larger_than_a_page_e2big)
{
	long page = sysconf(_SC_PAGESIZE);
	struct kchan_info *info = calloc(1, page + 8);
	int fd = KT_MAKE_CHAN(8, 3, 0);

	ASSERT_NE(NULL, info);
	info->size = page + 8;
	EXPECT_EQ(-E2BIG, kt_ioctl(fd, KCHAN_IOC_INFO, (unsigned long)info));
	free(info);
	close(fd);
}

TEST(info_size_below_ver0_einval)
{
	int fd = KT_MAKE_CHAN(8, 3, 0);
	struct kchan_info info = { 0 };
	static const uint32_t sizes[] = { 0, 4, KCHAN_INFO_SIZE_VER0 - 8, KCHAN_INFO_SIZE_VER0 - 1 };

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		memset(&info, 0, sizeof(info));
		info.size = sizes[i];
		EXPECT_EQ(-EINVAL, kt_ioctl(fd, KCHAN_IOC_INFO, (unsigned long)&info))
			TH_LOG("size %u", sizes[i]);
	}
	close(fd);
}

TEST(info_bad_pointer_efault)
{
	int fd = KT_MAKE_CHAN(8, 3, 0);

	EXPECT_EQ(-EFAULT, kt_ioctl(fd, KCHAN_IOC_INFO, 0));
	EXPECT_EQ(-EFAULT, kt_ioctl(fd, KCHAN_IOC_INFO, 1));
	close(fd);
}

TEST(close_ioctl_nonzero_argument_einval_and_channel_stays_open)
{
	int fd = KT_MAKE_CHAN(8, 3, 0);
	struct kchan_info info;

	EXPECT_EQ(-EINVAL, kt_ioctl(fd, KCHAN_IOC_CLOSE, 1));
	EXPECT_EQ(-EINVAL, kt_ioctl(fd, KCHAN_IOC_CLOSE, (unsigned long)&info));
	ASSERT_EQ(0, kt_info(fd, &info));
	EXPECT_EQ(0, info.state);
	EXPECT_EQ(0, kt_send_u64(fd, 1));

	EXPECT_EQ(0, kt_ioctl(fd, KCHAN_IOC_CLOSE, 0));
	ASSERT_EQ(0, kt_info(fd, &info));
	EXPECT_EQ(KCHAN_STATE_CLOSED, info.state);
	close(fd);
}

TEST_HARNESS_MAIN
