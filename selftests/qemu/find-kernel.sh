#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Print the kernel version (KVER) that kchan is built for and booted with.
#
# A usable kernel has both /lib/modules/KVER/build (headers to build the
# module against) and /boot/vmlinuz-KVER (the image QEMU boots).  Among the
# usable ones, prefer the newest plain Debian 6.1 "-amd64" kernel (not -rt,
# not -cloud); otherwise take the newest usable kernel.  With KVER set in the
# environment or given as $1, only check that it is usable and print it.
# With --all, print every usable kernel, one a line, the preferred first.
set -euo pipefail

usable() {
	[ -e "/lib/modules/$1/build/Makefile" ] && [ -e "/boot/vmlinuz-$1" ]
}

all=0
if [ "${1:-}" = --all ]; then
	all=1
	shift
fi
want=${1:-${KVER:-}}
if [ "$all" = 0 ] && [ -n "$want" ]; then
	if ! usable "$want"; then
		echo "find-kernel: KVER=$want needs /lib/modules/$want/build and /boot/vmlinuz-$want" >&2
		exit 1
	fi
	echo "$want"
	exit 0
fi

cands=()
for build in /lib/modules/*/build; do
	v=${build#/lib/modules/}
	v=${v%/build}
	if usable "$v"; then
		cands+=("$v")
	fi
done

if [ ${#cands[@]} -eq 0 ]; then
	echo "find-kernel: no kernel has both /lib/modules/KVER/build and /boot/vmlinuz-KVER; run 'make deps'" >&2
	exit 1
fi

pick=$(printf '%s\n' "${cands[@]}" | grep -E '^6\.1\.[0-9]+-[0-9]+-amd64$' | sort -V | tail -n 1 || true)
if [ -z "$pick" ]; then
	pick=$(printf '%s\n' "${cands[@]}" | sort -V | tail -n 1)
fi
echo "$pick"
if [ "$all" = 1 ]; then
	printf '%s\n' "${cands[@]}" | sort -V | grep -vxF -e "$pick" || true
fi
