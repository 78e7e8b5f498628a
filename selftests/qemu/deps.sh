#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian packages that building and testing kchan needs, but only
# those that are missing: when everything is present this returns at once
# without touching apt.
#
# usage: deps.sh [--matrix]
#   --matrix  also the other Debian 12 kernels that "make check-all" tests
#             on: 6.12 (from bookworm-security/backports) and PREEMPT_RT 6.1,
#             images and headers, through their meta-packages (the lanes
#             discover the installed versions: selftests/qemu/find-kernel.sh)
set -euo pipefail

pkgs=(
	build-essential		# gcc, make, libc6-dev
	pkg-config
	perl			# checkpatch.pl
	gzip
	xz-utils		# linux-source tarball
	cpio			# initramfs
	kmod
	sparse
	linux-libc-dev		# <asm/types.h> for the selftest harness
	linux-image-amd64	# the kernel QEMU boots
	linux-headers-amd64	# ... and the module is built against
	linux-source-6.1	# kselftest_harness.h, checkpatch.pl
	busybox-static		# the guest's userland
	qemu-system-x86
	bc flex bison libelf-dev	# the debug kernel (make check-debug)
	dkms			# the DKMS build test (selftests/host/dkms_test.sh)
	man-db groff-base	# the man page test (selftests/host/man_test.sh)
)
case "${1:-}" in
"") ;;
--matrix)
	pkgs+=(
		linux-image-6.12-amd64 linux-headers-6.12-amd64
		linux-image-rt-amd64 linux-headers-rt-amd64
	) ;;
*) echo "usage: deps.sh [--matrix]" >&2; exit 2 ;;
esac
# One dpkg-query for all: a package that is not installed is either missing
# from its output or listed without the "ii" status.
installed=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${pkgs[@]}" 2>/dev/null |
	awk '$1 == "ii" { print $2 }' || true)
missing=()
for p in "${pkgs[@]}"; do
	if ! grep -qx -e "$p" <<<"$installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

echo "deps: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null; then
		echo "deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
		exit 1
	fi
	sudo=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Use-Pty=0)
"${apt[@]}" update
"${apt[@]}" install --no-install-recommends "${missing[@]}"
