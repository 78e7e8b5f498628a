#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The man pages: every public function of libchanuser (declared in
# chanuser.h, exported by libchanuser.map: the two must agree) has a man(3)
# page, directly or through a ".so" link, with the sections NAME, SYNOPSIS,
# DESCRIPTION, RETURN VALUE, ERRORS, EXAMPLES and SEE ALSO, which man-db
# indexes under the function's name; every page of every section
# renders through man(1) and groff without a warning; and the ioctls the
# UAPI header defines are those Documentation/userspace-api/kchan.rst
# names, no more, no fewer.
#
# shellcheck disable=SC2154 # $top and $ksft_tmp come from lib.sh
# shellcheck disable=SC2317 # the tests are functions that ksft_run calls
set -euo pipefail

# shellcheck source=selftests/host/lib.sh
. "$(dirname "$0")/lib.sh"

header=$top/libchanuser/include/chanuser.h
map=$top/libchanuser/libchanuser.map
# The pages laid out as installed (man3/x.3 ...), which ".so" lines name.
mantree=$ksft_tmp/man

for page in "$top"/libchanuser/man/*.[1-9] "$top"/man/*.[1-9]; do
	[ -e "$page" ] || continue
	mkdir -p "$mantree/man${page##*.}"
	ln -s "$page" "$mantree/man${page##*.}/"
done

declared() {
	sed -n 's/^[a-z][a-z0-9_ ]*[ *]\(kchan_[a-z0-9_]*\)(.*/\1/p' "$header" | sort
}

exported() {
	sed -n 's/^[[:space:]]*\(kchan_[a-z0-9_]*\);$/\1/p' "$map" | sort
}

header_matches_map() {
	diff <(declared) <(exported)
}

ioctls_of() {
	grep -o 'KCHAN_IOC_[A-Z_]*' "$1" | sort -u
}

uapi_ioctls_documented() {
	diff <(sed -n 's/^#define \(KCHAN_IOC_[A-Z_]*\).*/\1/p' \
		"$top/uapi/linux/kchan.h" | sort -u) \
	     <(ioctls_of "$top/Documentation/userspace-api/kchan.rst")
}

# has_sections PAGE SECTION...: each SECTION is a ".SH" of PAGE (A|B: either).
has_sections() {
	local page=$1 s rc=0
	shift
	for s in "$@"; do
		grep -qE "^\\.SH \"?($s)\"?\$" "$mantree/$page" ||
			{ echo "$page has no section $s"; rc=1; }
	done
	return "$rc"
}

# Renders through man(1) and groff, each with every warning on.
renders() {
	local page=$1 out
	cd "$mantree"
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=all -l "$page" 2>&1 >/dev/null)
	out+=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z -b -I . "$(target_of "$page")" 2>&1)
	[ -z "$out" ] || { echo "$out"; return 1; }
}

# The page PAGE shows, after its ".so" link if it is one.
target_of() {
	local so
	so=$(sed -n '1s/^\.so //p' "$mantree/$1")
	echo "${so:-$1}"
}

function_page() {
	local f=$1 page
	[ -e "$mantree/man3/$f.3" ] || { echo "no man3/$f.3"; return 1; }
	page=$(target_of "man3/$f.3")
	[ -e "$mantree/$page" ] || { echo "man3/$f.3 links to missing $page"; return 1; }
	has_sections "$page" NAME SYNOPSIS DESCRIPTION "RETURN VALUE" ERRORS \
		"EXAMPLES|EXAMPLE" "SEE ALSO"
	grep -q "$f(" <(sed -n '/^\.SH SYNOPSIS/,/^\.SH /p' "$mantree/$page") ||
		{ echo "$page: $f is not in the SYNOPSIS"; return 1; }
	command -v lexgrog >/dev/null || ksft_skip_test "no lexgrog (run 'make deps')"
	(cd "$mantree" && lexgrog "man3/$f.3") | grep -q "\"$f - " ||
		{ echo "man-db does not index $f in man3/$f.3"; return 1; }
	renders "man3/$f.3"
}

other_page() {
	local page=$1
	case $page in
	man7/*) has_sections "$page" NAME DESCRIPTION "SEE ALSO" ;;
	*) has_sections "$page" NAME SYNOPSIS DESCRIPTION "SEE ALSO" ;;
	esac
	command -v man >/dev/null || ksft_skip_test "no man (run 'make deps')"
	renders "$page"
}

ksft_run header_matches_map header_matches_map
ksft_run uapi_ioctls_documented uapi_ioctls_documented
for f in $(exported); do
	ksft_run "man3 $f" function_page "$f"
done
for page in "$mantree"/man[124-9]/*; do
	[ -e "$page" ] || continue
	page=${page#"$mantree"/}
	ksft_run "$page" other_page "$page"
done
ksft_finish
