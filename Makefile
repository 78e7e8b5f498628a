# SPDX-License-Identifier: GPL-2.0
#
# kchan: what people run.  On a fresh Debian 12 machine with only git and
# make, "make demo" and "make check" install what they need, build, and run
# in QEMU.  Everything is built for one kernel, KVER (default: the newest
# kernel with headers and an image; see selftests/qemu/find-kernel.sh);
# override with "make check KVER=6.12.117+deb12-amd64".
#
# The QEMU runner also reads QEMU_SMP, QEMU_MEM, QEMU_ARGS, KERNEL_ARGS,
# QEMU_ICOUNT=1 and QEMU_TIMEOUT (seconds, default 900): see
# selftests/qemu/run.sh.  RUN_ARGS adds options to its command line in
# check and check-debug, e.g. RUN_ARGS="--env KCHAN_STRESS_SECONDS=60".
#
# "make check" is the quick standard suite on one kernel; "make check-all"
# runs every lane: the suite on every installed Debian kernel and on the
# debug kernel, with the long fuzzer and stress runs
# (selftests/qemu/all-lanes.sh).

QEMU_DIR	:= selftests/qemu
RUN		:= $(QEMU_DIR)/run.sh
LIBCHANUSER	:= libchanuser/libchanuser.a
TESTS		:= $(patsubst %.c,%,$(sort $(wildcard selftests/*_test.c)))
LINUX_SOURCE	:= /usr/src/linux-source-6.1.tar.xz
CHECKPATCH_DIR	:= .checkpatch
CHECKPATCH	:= $(CHECKPATCH_DIR)/checkpatch.pl
STYLE_FILES	= $(wildcard module/*.[ch] uapi/linux/*.h)

# Discovered on first use, i.e. after "deps" has installed a kernel.
ifeq ($(origin KVER),undefined)
KVER = $(eval KVER := $(shell $(QEMU_DIR)/find-kernel.sh))$(KVER)
endif
KDIR = /lib/modules/$(KVER)/build

all: module lib

deps:
	@$(QEMU_DIR)/deps.sh

module:
	@test -n "$(KVER)" && test -d "$(KDIR)" || \
		{ echo "no headers for KVER=$(KVER): run 'make deps'" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

lib:
	$(MAKE) -C libchanuser

selftests: lib
	$(MAKE) -C selftests

EXAMPLES	:= $(patsubst %.c,%,$(wildcard examples/*.c))

examples: $(EXAMPLES)

examples/%: examples/%.c $(LIBCHANUSER)
	$(CC) -D_GNU_SOURCE -O2 -g -Wall -Iuapi -Ilibchanuser/include \
		-o $@ $< $(LIBCHANUSER) -static -pthread

# The library's own Makefile knows when it is stale.
$(LIBCHANUSER): FORCE
	$(MAKE) -C libchanuser

# The runner prints every program's output as it comes, then a summary
# whose last line is "N passed, N failed".
check: deps
	@$(MAKE) --no-print-directory KVER=$(KVER) module selftests
	@$(RUN) --kver $(KVER) --mode tests $(RUN_ARGS) $(TESTS)

demo: deps
	@$(MAKE) --no-print-directory KVER=$(KVER) module examples/pingpong
	@$(RUN) --kver $(KVER) --mode run examples/pingpong

# The reliability lane: the same tests on a debug kernel (KASAN, lockdep,
# kmemleak, UBSAN, debug objects) built from linux-source-6.1 and cached
# outside the repository (selftests/qemu/debug-kernel.sh; the first build
# takes about 15 minutes), booted with panic_on_warn.
check-debug: deps
	@dk=$$($(QEMU_DIR)/debug-kernel.sh) && \
	$(MAKE) --no-print-directory -C $$dk M=$(CURDIR) modules && \
	$(MAKE) --no-print-directory selftests && \
	KERNEL_ARGS="panic_on_warn=1 $(KERNEL_ARGS)" $(RUN) --kver debug \
		--kernel $$dk/arch/x86/boot/bzImage --mode tests $(RUN_ARGS) $(TESTS)

# Every lane, one after the other; the last line sums them up.
check-all:
	@$(QEMU_DIR)/all-lanes.sh

# kchan against pipes, POSIX queues, eventfd, AF_UNIX seqpacket, a futex
# mailbox and a shared-memory ring, in QEMU: tables on stdout and in
# bench/out/.  BENCH_MODE=det (one vCPU, -icount: the published table),
# cross (two vCPUs) or all; see bench/run.sh.
BENCH_MODE	?= all

bench: deps
	@$(MAKE) --no-print-directory KVER=$(KVER) module lib
	@$(MAKE) --no-print-directory -C bench
	@bench/run.sh --kver $(KVER) --mode $(BENCH_MODE)

# checkpatch.pl wants spelling.txt and const_structs.checkpatch beside it.
$(CHECKPATCH):
	@test -r $(LINUX_SOURCE) || \
		{ echo "$(LINUX_SOURCE) missing: run 'make deps'" >&2; exit 1; }
	mkdir -p $(CHECKPATCH_DIR)
	tar -xJf $(LINUX_SOURCE) -C $(CHECKPATCH_DIR) --strip-components=2 \
		linux-source-6.1/scripts/checkpatch.pl \
		linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch

style: $(CHECKPATCH)
	@rc=0; for f in $(STYLE_FILES); do \
		$(CHECKPATCH) --strict --no-tree --quiet -f $$f || rc=1; \
	done; \
	if [ $$rc = 0 ]; then echo "style: $(words $(STYLE_FILES)) files clean"; fi; \
	exit $$rc

# Sparse (C=2: every file, even if up to date) and W=1 in one build; any
# warning or error fails.
sparse:
	@command -v sparse >/dev/null || { echo "no sparse: run 'make deps'" >&2; exit 1; }
	@test -n "$(KVER)" && test -d "$(KDIR)" || \
		{ echo "no headers for KVER=$(KVER): run 'make deps'" >&2; exit 1; }
	@out=$$($(MAKE) -C $(KDIR) M=$(CURDIR) C=2 W=1 modules 2>&1); rc=$$?; \
	echo "$$out"; \
	if [ $$rc != 0 ] || echo "$$out" | grep -qE '(warning|error):'; then \
		echo "sparse: FAILED" >&2; exit 1; \
	fi; \
	echo "sparse: clean"

clean:
	rm -f kchan.ko kchan.o kchan.mod kchan.mod.c kchan.mod.o \
		module/*.o .*.cmd module/.*.cmd Module.symvers modules.order \
		$(EXAMPLES)
	$(MAKE) -C libchanuser clean
	$(MAKE) -C selftests clean
	$(MAKE) -C bench clean
	rm -rf $(QEMU_DIR)/out

# Also what was extracted from the linux-source tarball.
distclean: clean
	$(MAKE) -C selftests distclean
	rm -rf $(CHECKPATCH_DIR)

.PHONY: all deps module lib selftests examples check check-debug check-all demo bench \
	style sparse clean distclean FORCE
