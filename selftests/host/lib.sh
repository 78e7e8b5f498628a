# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0
#
# Sourced by the host tests (selftests/host/*_test.sh): kselftest-style TAP
# on stdout, ending with the "# Totals:" line that selftests/qemu/run.sh
# --extra-tap adds into the summary of "make check".
#
#	ksft_run NAME FUNCTION [ARG...]	  one test: FUNCTION runs under
#					  set -e; its output becomes "# "
#					  lines; exit 0 passes, 4 skips
#					  (the reason: its last line), else fails
#	ksft_skip_test REASON		  from a test: skip it
#	ksft_finish			  the plan and the Totals line; exits
#					  1 on any failure, 4 if all skipped
#
# $top is the repository, $ksft_tmp a scratch directory removed at exit.

ksft_n=0
ksft_pass=0
ksft_fail=0
ksft_skip=0
# shellcheck disable=SC2034 # used by the tests
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ksft_tmp=$(mktemp -d)
ksft_log=$ksft_tmp/log
trap 'rm -rf "$ksft_tmp"' EXIT

echo "TAP version 13"

ksft_run() {
	local name=$1 rc=0
	shift
	ksft_n=$((ksft_n + 1))
	# In the background, set -e holds inside the function (it is off in
	# any function called from an "if" condition).
	("$@") > "$ksft_log" 2>&1 &
	wait $! || rc=$?
	sed -e 's/^/# /' "$ksft_log"
	case $rc in
	0)
		echo "ok $ksft_n $name"
		ksft_pass=$((ksft_pass + 1))
		;;
	4)
		echo "ok $ksft_n $name # SKIP $(tail -n 1 "$ksft_log")"
		ksft_skip=$((ksft_skip + 1))
		;;
	*)
		echo "not ok $ksft_n $name"
		ksft_fail=$((ksft_fail + 1))
		;;
	esac
}

# Say why and skip the current test (from inside its function).
ksft_skip_test() {
	echo "$*"
	exit 4
}

ksft_finish() {
	echo "1..$ksft_n"
	echo "# Totals: pass:$ksft_pass fail:$ksft_fail xfail:0 xpass:0 skip:$ksft_skip error:0"
	if [ "$ksft_fail" -gt 0 ]; then
		exit 1
	elif [ "$ksft_pass" -eq 0 ] && [ "$ksft_skip" -gt 0 ]; then
		exit 4
	fi
	exit 0
}
