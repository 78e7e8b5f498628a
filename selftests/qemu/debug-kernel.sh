#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build, or reuse, the debug kernel that the reliability lane boots: Debian's
# linux-source-6.1 with `make tinyconfig`, merged with debug-kernel.config
# (KASAN, lockdep, kmemleak, UBSAN, debug objects, ...) and with what the
# selftests need (selftests/config).  A build takes about 15 minutes on two
# cores, so it is cached outside the repository, keyed by the source
# package's version and the two fragments; only a change to either
# rebuilds.  Prints the build directory: bzImage is in
# arch/x86/boot/bzImage and external modules build with M= against it.
#
# Cache: $KCHAN_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/kchan.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
tarball=/usr/src/linux-source-6.1.tar.xz
frags=("$here/debug-kernel.config" "$top/selftests/config")
cache=${KCHAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kchan}

version=$(dpkg-query -W -f='${Version}' linux-source-6.1)
key=$( { echo "$version"; cat "${frags[@]}"; } | sha256sum | cut -c1-16)
src=$cache/linux-source-$version
out=$cache/debug-kernel-$key

if [ -e "$out/.kchan-done" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$cache"
if [ ! -e "$src/.kchan-extracted" ]; then
	echo "debug-kernel: extracting $tarball" >&2
	rm -rf "$src"
	mkdir -p "$src"
	tar -xJf "$tarball" -C "$src" --strip-components=1
	touch "$src/.kchan-extracted"
fi

echo "debug-kernel: configuring $out" >&2
rm -rf "$out"
mkdir -p "$out"
make -s -C "$src" O="$out" tinyconfig >&2
"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
	"${frags[@]}" >&2
make -s -C "$src" O="$out" olddefconfig >&2

echo "debug-kernel: building (about 15 minutes on two cores)" >&2
make -s -C "$src" O="$out" -j"$(nproc)" >&2
touch "$out/.kchan-done"
echo "$out"
