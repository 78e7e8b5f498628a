#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dkms.conf: its supported-kernel regex, and "dkms build" of the sources
# "make dkms-source" copies, for every installed kernel that has headers.
# DKMS works in a private tree (--dkmstree, --sourcetree) and signs with a
# throw-away key, so nothing outside the scratch directory is touched and
# root is not needed.
#
# shellcheck disable=SC2154 # $top and $ksft_tmp come from lib.sh
# shellcheck disable=SC2317 # the tests are functions that ksft_run calls
set -euo pipefail

# shellcheck source=selftests/host/lib.sh
. "$(dirname "$0")/lib.sh"

conf() {
	sed -n "s/^$1=\"\\(.*\\)\"$/\\1/p" "$top/dkms.conf"
}

version=$(conf PACKAGE_VERSION)
supported=$(conf BUILD_EXCLUSIVE_KERNEL)
tree=$ksft_tmp/dkms
src=$ksft_tmp/src
dkms_args=(-m kchan -v "$version" --dkmstree "$tree" --sourcetree "$src")
export mok_signing_key=$ksft_tmp/mok.key mok_certificate=$ksft_tmp/mok.pub

# 6.1 to 6.12, whatever the Debian suffix; nothing else.
supported_range() {
	local k
	for k in 6.1 6.1.0-56-amd64 6.1.0-56-rt-amd64 6.5.0-1-amd64 6.10.3 \
		 6.12 6.12.117+deb12-amd64; do
		[[ $k =~ $supported ]] || { echo "$k refused"; return 1; }
	done
	for k in 5.10.0-30-amd64 6.0.12 6.13.0-1-amd64 6.100.1 7.1.0 16.1.0; do
		[[ ! $k =~ $supported ]] || { echo "$k accepted"; return 1; }
	done
}

add() {
	command -v dkms >/dev/null || ksft_skip_test "no dkms (run 'make deps')"
	make -s --no-print-directory -C "$top" dkms-source DKMS_SRC="$src/kchan-$version"
	mkdir -p "$tree"
	dkms add "${dkms_args[@]}"
}

build() {
	local kver=$1 ko
	[ -d "$tree/kchan" ] || ksft_skip_test "not added"
	[[ $kver =~ $supported ]] || ksft_skip_test "$kver is outside $supported"
	dkms build "${dkms_args[@]}" -k "$kver"
	ko=$(find "$tree/kchan/$version/$kver" -name 'kchan.ko*' -print -quit)
	[ -n "$ko" ] || { echo "no kchan.ko"; return 1; }
	modinfo -F vermagic "$ko" | grep -q "^$kver "
	[ "$(modinfo -F version "$ko")" = "$version" ]
}

ksft_run supported_range supported_range
ksft_run dkms_add add
# Every kernel with headers, as DKMS finds them.
for build_dir in /lib/modules/*/build; do
	[ -e "$build_dir/Makefile" ] || continue
	kver=${build_dir#/lib/modules/}
	kver=${kver%/build}
	ksft_run "dkms_build $kver" build "$kver"
done
ksft_finish
