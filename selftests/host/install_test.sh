#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# "make install" into a DESTDIR: the tree it writes, programs built against
# it through pkg-config alone (dynamic and static), and "make uninstall"
# leaving no file behind.  Runs on the build machine; KVER as for make.
#
# shellcheck disable=SC2154 # $top and $ksft_tmp come from lib.sh
# shellcheck disable=SC2317 # the tests are functions that ksft_run calls
set -euo pipefail

# shellcheck source=selftests/host/lib.sh
. "$(dirname "$0")/lib.sh"

dest=$ksft_tmp/dest
prefix=/opt/kchan
mk=(make -s --no-print-directory -C "$top" ${KVER:+KVER="$KVER"})
kver=${KVER:-$("$top/selftests/qemu/find-kernel.sh")}
libdir=$dest$prefix/lib
pc_env=(env PKG_CONFIG_LIBDIR="$libdir/pkgconfig" PKG_CONFIG_PATH=
	PKG_CONFIG_SYSROOT_DIR="$dest")

# Every function of the library, from its symbol map.
functions() {
	sed -n 's/^[[:space:]]*\(kchan_[a-z0-9_]*\);$/\1/p' "$top/libchanuser/libchanuser.map"
}

# has REGEX COMMAND...: COMMAND's output has a line matching REGEX (grep -q
# in a pipe would end the command early, which pipefail reports).
has() {
	local re=$1 out
	shift
	out=$("$@")
	grep -q -e "$re" <<<"$out" || { echo "no '$re' in: $*"; return 1; }
}

expect_file() {
	[ -f "$1" ] || { echo "missing: ${1#"$dest"}"; return 1; }
}

install_tree() {
	"${mk[@]}" install DESTDIR="$dest" PREFIX="$prefix"
	find "$dest" ! -type d | sed "s|^$dest||" | sort
	expect_file "$dest/lib/modules/$kver/extra/kchan.ko"
	for f in libchanuser.a libchanuser.so.1.3.0 pkgconfig/libchanuser.pc; do
		expect_file "$libdir/$f"
	done
	[ "$(readlink "$libdir/libchanuser.so.1")" = libchanuser.so.1.3.0 ]
	[ "$(readlink "$libdir/libchanuser.so")" = libchanuser.so.1 ]
	has 'SONAME.*\[libchanuser\.so\.1\]' readelf -d "$libdir/libchanuser.so.1.3.0"
	expect_file "$dest$prefix/include/chanuser.h"
	expect_file "$dest$prefix/include/linux/kchan.h"
	for f in $(functions); do
		expect_file "$dest$prefix/share/man/man3/$f.3"
	done
	for f in "$top"/man/*.[1-9] "$top"/libchanuser/man/*.1; do
		[ -e "$f" ] || continue
		expect_file "$dest$prefix/share/man/man${f##*.}/${f##*/}"
	done
	expect_file "$dest$prefix/bin/kchanstat"
	expect_file "$dest$prefix/share/doc/kchan/modprobe.d/kchan.conf"
	grep -qx 'KERNEL=="kchan", SUBSYSTEM=="misc", GROUP="kchan", MODE="0660"' \
		"$dest/lib/udev/rules.d/60-kchan.rules"
}

pc_content() {
	local pc=$libdir/pkgconfig/libchanuser.pc
	cat "$pc"
	grep -qx "prefix=$prefix" "$pc"
	grep -qx "libdir=$prefix/lib" "$pc"
	grep -qx "includedir=$prefix/include" "$pc"
	# pkg-config ends its output with a blank.
	[ "$("${pc_env[@]}" pkg-config --cflags libchanuser)" = "-I$dest$prefix/include " ]
	[ "$("${pc_env[@]}" pkg-config --libs libchanuser)" = "-L$libdir -lchanuser " ]
}

# Other directories and another group, and nothing written outside them.
install_vars() {
	local d=$ksft_tmp/vars
	"${mk[@]}" install DESTDIR="$d" PREFIX=/usr \
		LIBDIR=/usr/lib/x86_64-linux-gnu MODDIR=/lib/modules/test/updates \
		UDEVDIR=/etc/udev/rules.d KCHAN_GROUP=users KCHAN_MODE=0640
	grep -qx 'libdir=/usr/lib/x86_64-linux-gnu' "$d/usr/lib/x86_64-linux-gnu/pkgconfig/libchanuser.pc"
	expect_file "$d/usr/lib/x86_64-linux-gnu/libchanuser.so.1.3.0"
	expect_file "$d/lib/modules/test/updates/kchan.ko"
	grep -q 'GROUP="users", MODE="0640"' "$d/etc/udev/rules.d/60-kchan.rules"
	"${mk[@]}" uninstall DESTDIR="$d" PREFIX=/usr \
		LIBDIR=/usr/lib/x86_64-linux-gnu MODDIR=/lib/modules/test/updates \
		UDEVDIR=/etc/udev/rules.d
	no_files "$d"
}

# Compile examples/NAME.c with nothing but what pkg-config says; "static"
# links it statically.
build_example() {
	local name=$1 out=$2 pc=() ld=()
	if [ "${3:-}" = static ]; then
		pc=(--static)
		ld=(-static)
	fi
	# shellcheck disable=SC2046 # pkg-config prints a list of words
	cc -D_GNU_SOURCE -Wall -Werror -O2 -o "$out" "$top/examples/$name.c" \
		$("${pc_env[@]}" pkg-config --cflags libchanuser) \
		"${ld[@]}" $("${pc_env[@]}" pkg-config "${pc[@]}" --libs libchanuser)
}

build_dynamic() {
	local c name
	for c in "$top"/examples/*.c; do
		name=$(basename "$c" .c)
		echo "examples/$name.c"
		build_example "$name" "$ksft_tmp/$name"
		has 'NEEDED.*\[libchanuser\.so\.1\]' readelf -d "$ksft_tmp/$name"
		has "libchanuser\.so\.1 => $libdir/libchanuser\.so\.1" \
			env LD_LIBRARY_PATH="$libdir" ldd "$ksft_tmp/$name"
	done
}

build_static() {
	build_example pingpong "$ksft_tmp/pingpong-static" static
	if has NEEDED readelf -d "$ksft_tmp/pingpong-static" >/dev/null; then
		echo "not static"
		return 1
	fi
	has ' T kchan_make$' nm "$ksft_tmp/pingpong-static"
}

no_files() {
	local left
	left=$(find "$1" ! -type d)
	[ -z "$left" ] || { echo "left behind:"; echo "$left"; return 1; }
}

uninstall_tree() {
	"${mk[@]}" uninstall DESTDIR="$dest" PREFIX="$prefix"
	no_files "$dest"
}

ksft_run install_tree install_tree
ksft_run pc_content pc_content
ksft_run build_dynamic build_dynamic
ksft_run build_static build_static
ksft_run uninstall_tree uninstall_tree
ksft_run install_vars install_vars
ksft_finish
