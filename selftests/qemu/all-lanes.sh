#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Every test lane of kchan, one after the other: what "make check-all" and
# CI run.
#
#   check     "make check": the standard suite on the default kernel
#             (Debian's 6.1, see find-kernel.sh)
#   kernelpath  the same suite on the default kernel with KCHAN_FASTPATH=0:
#             libchanuser makes no channel mappable and maps none, so every
#             call takes the kernel path (the other lanes take the fast path)
#   KVER      the same suite on every other installed Debian kernel that
#             has headers and an image (6.12 and 6.1 PREEMPT_RT once
#             "deps.sh --matrix" has installed them), one lane each
#   debug     "make check-debug": the suite on the KASAN, lockdep,
#             kmemleak and UBSAN kernel (built on first use, ~15 min, then
#             cached), with the fuzzer at a million calls and the chaos
#             stress test run for longer
#
# Each lane's output streams to the console as it comes.  At the end one
# line per lane, then, last, the sum over the lanes: "N passed, N failed".
# A lane that ends without its own summary line, or fails without counting
# a failure, counts one, and so does a failed "deps.sh --matrix" (the lanes
# then run on the kernels that are there).  Exits 1 if anything failed.
#
# Environment:
#   LANES                 lanes to run, of "check", "kernelpath", "matrix" (every other
#                         kernel) and "debug" (default: all three)
#   DEBUG_FUZZ_CALLS      fuzzer calls in the debug lane (default 1000000)
#   DEBUG_STRESS_SECONDS  run time of each chaos variant in the debug lane
#                         (default 30)
#   DEBUG_QEMU_TIMEOUT    the debug lane's QEMU_TIMEOUT (default 2400)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$top"

lanes=${LANES:-check kernelpath matrix debug}
fuzz_calls=${DEBUG_FUZZ_CALLS:-1000000}
stress_s=${DEBUG_STRESS_SECONDS:-30}
debug_timeout=${DEBUG_QEMU_TIMEOUT:-2400}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
summary=()
total_pass=0
total_fail=0
start_all=$SECONDS

# A failed install counts one failure; the lanes still run on what is there.
if ! "$here/deps.sh" --matrix; then
	summary+=("deps.sh --matrix failed: some lanes may be missing")
	total_fail=$((total_fail + 1))
fi

# lane NAME COMMAND...: run one lane, stream its output, record its counts.
lane() {
	local name=$1 out=$tmp/lane.out start=$SECONDS rc line pass fail skip
	shift
	echo
	echo "==== lane $name: $* ===="
	set +e
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	set -e
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
	skip=$(grep -E '^[0-9]+ skipped$' "$out" | tail -n 1 | cut -d' ' -f1 || true)
	if [ -n "$line" ]; then
		pass=${line%% passed*}
		fail=${line#*, }
		fail=${fail%% failed}
	else
		pass=0 fail=0
	fi
	if [ "$rc" != 0 ] && [ "$fail" = 0 ]; then
		fail=1	# a build or boot failure that counted nothing
	fi
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	summary+=("$(printf 'lane %-28s %5d passed, %d failed%s, exit %d, %d s' "$name:" \
		"$pass" "$fail" "${skip:+, $skip skipped}" "$rc" $((SECONDS - start)))")
}

default=$("$here/find-kernel.sh")
for l in $lanes; do
	case "$l" in
	check)
		lane "check $default" make --no-print-directory check KVER="$default"
		;;
	kernelpath)
		# The same suite with the mapped fast path off
		# (Documentation/design/fastpath.rst): plain rings, every
		# send and receive a system call.
		lane "check $default kernelpath" make --no-print-directory check \
			KVER="$default" HOST_TESTS= RUN_ARGS="--env KCHAN_FASTPATH=0"
		;;
	matrix)
		for v in $("$here/find-kernel.sh" --all); do
			# The host tests (install, man pages, DKMS builds
			# for every kernel) ran in the "check" lane already.
			if [ "$v" != "$default" ]; then
				lane "check $v" make --no-print-directory check \
					KVER="$v" HOST_TESTS=
			fi
		done
		;;
	debug)
		lane "check-debug" make --no-print-directory check-debug \
			QEMU_TIMEOUT="$debug_timeout" \
			RUN_ARGS="--env KCHAN_FUZZ_CALLS=$fuzz_calls --env KCHAN_STRESS_SECONDS=$stress_s"
		;;
	*)
		echo "all-lanes: unknown lane '$l' (check, kernelpath, matrix, debug)" >&2
		exit 2
		;;
	esac
done

echo
echo "==== all lanes ($((SECONDS - start_all)) s) ===="
printf '%s\n' "${summary[@]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
