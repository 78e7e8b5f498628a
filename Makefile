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
# Copied into the guest next to the tests, which run it.
KCHANSTAT	:= libchanuser/kchanstat
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
	$(MAKE) -C libchanuser kchanstat
	$(MAKE) -C selftests

EXAMPLES	:= $(patsubst %.c,%,$(wildcard examples/*.c))
# Copied into the guest's /tests beside the test programs:
# kchan_examples_test runs the examples, kchan_observe_test kchanstat.
GUEST_FILES	= $(addprefix --file ,$(EXAMPLES) $(KCHANSTAT))

examples: $(EXAMPLES)

examples/%: examples/%.c $(LIBCHANUSER)
	$(CC) -D_GNU_SOURCE -O2 -g -Wall -Iuapi -Ilibchanuser/include \
		-o $@ $< $(LIBCHANUSER) -static -pthread

# The library's own Makefile knows when it is stale.
$(LIBCHANUSER): FORCE
	$(MAKE) -C libchanuser

# --- install ------------------------------------------------------------------
# "make install" puts the module, the library, the headers, the man pages,
# a udev rule and an example modprobe.d file in place; "make uninstall"
# removes them, given the same variables.  Both honour DESTDIR (then
# without depmod, group or udev changes) and the directories below.  See
# Documentation/admin-guide/kchan.rst.

# kchan's version, from its one place: PACKAGE_VERSION in dkms.conf.
VERSION		:= $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"$$/\1/p' dkms.conf)

PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
LIBDIR		?= $(PREFIX)/lib
INCLUDEDIR	?= $(PREFIX)/include
PKGCONFIGDIR	?= $(LIBDIR)/pkgconfig
DATADIR		?= $(PREFIX)/share
MANDIR		?= $(DATADIR)/man
DOCDIR		?= $(DATADIR)/doc/kchan
MODDIR		?= /lib/modules/$(KVER)/extra
UDEVDIR		?= /lib/udev/rules.d
# Who may open /dev/kchan (create channels): written into the udev rule.
KCHAN_GROUP	?= kchan
KCHAN_MODE	?= 0660
INSTALL		?= install

# The library installs its own part (lib, chanuser.h, .pc, man3, and
# kchanstat with its man1 page).
LIB_INSTALL	= -C libchanuser DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) \
		  BINDIR=$(BINDIR) LIBDIR=$(LIBDIR) INCLUDEDIR=$(INCLUDEDIR) \
		  MANDIR=$(MANDIR) PKGCONFIGDIR=$(PKGCONFIGDIR)
# kchan(4) and kchan(7), installed into man<section>.
SECTION_MANS	:= $(wildcard man/*.[1-9])
UDEV_RULE	:= 60-kchan.rules
MODPROBE_EXAMPLE := $(DOCDIR)/modprobe.d/kchan.conf

# On the live system only: module index and udev rules.
define refresh_system
	if [ -z "$(DESTDIR)" ]; then \
		depmod -a $(KVER); \
		if command -v udevadm >/dev/null && [ -d /run/udev ]; then \
			udevadm control --reload-rules; \
			udevadm trigger --subsystem-match=misc --sysname-match=kchan; \
		fi; \
	fi
endef

install: all
	$(MAKE) $(LIB_INSTALL) install
	$(INSTALL) -d $(DESTDIR)$(MODDIR) $(DESTDIR)$(INCLUDEDIR)/linux \
		$(DESTDIR)$(UDEVDIR) $(DESTDIR)$(dir $(MODPROBE_EXAMPLE))
	$(INSTALL) -m 644 kchan.ko $(DESTDIR)$(MODDIR)/
	$(INSTALL) -m 644 uapi/linux/kchan.h $(DESTDIR)$(INCLUDEDIR)/linux/
	for f in $(SECTION_MANS); do \
		d=$(DESTDIR)$(MANDIR)/man$${f##*.}; \
		$(INSTALL) -d $$d && $(INSTALL) -m 644 $$f $$d/ || exit 1; \
	done
	sed -e 's|@KCHAN_GROUP@|$(KCHAN_GROUP)|g' -e 's|@KCHAN_MODE@|$(KCHAN_MODE)|g' \
		dist/$(UDEV_RULE).in > $(DESTDIR)$(UDEVDIR)/$(UDEV_RULE)
	chmod 644 $(DESTDIR)$(UDEVDIR)/$(UDEV_RULE)
	$(INSTALL) -m 644 dist/kchan.conf $(DESTDIR)$(MODPROBE_EXAMPLE)
	if [ -z "$(DESTDIR)" ] && ! getent group $(KCHAN_GROUP) >/dev/null; then \
		groupadd --system $(KCHAN_GROUP); \
	fi
	@$(refresh_system)

# The group stays: files elsewhere may belong to it.
uninstall:
	$(MAKE) $(LIB_INSTALL) uninstall
	rm -f $(DESTDIR)$(MODDIR)/kchan.ko $(DESTDIR)$(INCLUDEDIR)/linux/kchan.h \
		$(foreach f,$(SECTION_MANS),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(f)))/$(notdir $(f))) \
		$(DESTDIR)$(UDEVDIR)/$(UDEV_RULE) $(DESTDIR)$(MODPROBE_EXAMPLE)
	-rmdir $(DESTDIR)$(MODDIR) $(DESTDIR)$(dir $(MODPROBE_EXAMPLE)) \
		$(DESTDIR)$(DOCDIR) 2>/dev/null
	@$(refresh_system)

# --- DKMS ---------------------------------------------------------------------
# "make dkms-install" registers the module's sources with DKMS, which
# builds and installs kchan.ko for KVER now and for every supported kernel
# installed later (dkms.conf).  DKMS_SRC: where the sources go.
DKMS_SRC	?= /usr/src/kchan-$(VERSION)
DKMS_MOD	= -m kchan -v $(VERSION)

dkms-source:
	$(INSTALL) -d $(DKMS_SRC)/module $(DKMS_SRC)/uapi/linux
	$(INSTALL) -m 644 Kbuild dkms.conf $(DKMS_SRC)/
	$(INSTALL) -m 644 $(wildcard module/*.[ch]) $(DKMS_SRC)/module/
	$(INSTALL) -m 644 uapi/linux/kchan.h $(DKMS_SRC)/uapi/linux/

dkms-install: dkms-source
	@command -v dkms >/dev/null || { echo "no dkms: apt-get install dkms" >&2; exit 1; }
	if [ -z "$$(dkms status $(DKMS_MOD))" ]; then dkms add $(DKMS_MOD); fi
	dkms build $(DKMS_MOD) -k $(KVER)
	dkms install $(DKMS_MOD) -k $(KVER)

dkms-uninstall:
	@command -v dkms >/dev/null || { echo "no dkms: apt-get install dkms" >&2; exit 1; }
	if [ -n "$$(dkms status $(DKMS_MOD))" ]; then dkms remove $(DKMS_MOD) --all; fi
	rm -rf $(DKMS_SRC)

# Host tests (selftests/host/*_test.sh): install, man pages, DKMS builds.
# Each writes kselftest output to $(HOST_OUT)/NAME.tap as well.
HOST_TESTS	:= $(sort $(wildcard selftests/host/*_test.sh))
HOST_OUT	:= $(QEMU_DIR)/out/host
HOST_TAPS	:= $(patsubst selftests/host/%.sh,$(HOST_OUT)/%.tap,$(HOST_TESTS))

define run_host_tests
	mkdir -p $(HOST_OUT); \
	for t in $(HOST_TESTS); do \
		KVER=$(KVER) $$t | tee $(HOST_OUT)/$$(basename $$t .sh).tap; \
	done
endef

check-host: all
	@$(run_host_tests); \
	rc=0; for f in $(HOST_TAPS); do \
		grep -q '^# Totals: pass:[0-9]* fail:0 .* error:0$$' $$f || \
			{ echo "check-host: $$f: failures" >&2; rc=1; }; \
	done; exit $$rc

# The host tests run first; the QEMU runner then prints every program's
# output as it comes, then a summary with the host tests' counts added,
# whose last line is "N passed, N failed".
# The examples go into the guest's /tests, where kchan_examples_test runs them.
check: deps
	@$(MAKE) --no-print-directory KVER=$(KVER) module selftests examples
	@$(run_host_tests)
	@$(RUN) --kver $(KVER) $(addprefix --extra-tap ,$(HOST_TAPS)) \
		$(GUEST_FILES) --mode tests $(RUN_ARGS) $(TESTS)

demo: deps
	@$(MAKE) --no-print-directory KVER=$(KVER) module examples/pingpong
	@$(RUN) --kver $(KVER) --mode run examples/pingpong

# The reliability lane: the same tests on a debug kernel (KASAN, lockdep,
# kmemleak, UBSAN, debug objects) built from linux-source-6.1 and cached
# outside the repository (selftests/qemu/debug-kernel.sh; the first build
# takes about 15 minutes), booted with panic_on_warn, with the per-CPU
# spare objects off so that KASAN sees every use after free (module/cache.c).
check-debug: deps
	@dk=$$($(QEMU_DIR)/debug-kernel.sh) && \
	$(MAKE) --no-print-directory -C $$dk M=$(CURDIR) modules && \
	$(MAKE) --no-print-directory selftests examples && \
	KERNEL_ARGS="panic_on_warn=1 $(KERNEL_ARGS)" $(RUN) --kver debug \
		--kernel $$dk/arch/x86/boot/bzImage --mode tests \
		--modparam percpu_spare=0 \
		$(GUEST_FILES) $(RUN_ARGS) $(TESTS)

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

.PHONY: all deps module lib selftests examples check check-host check-debug \
	check-all demo bench style sparse clean distclean install uninstall \
	dkms-source dkms-install dkms-uninstall FORCE
