#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the benchmarks in QEMU and print kchan against its peers.
#
# usage: bench/run.sh [--mode det|cross|all] [--kver KVER] [--quick]
#
#   det     deterministic mode, the published table: one vCPU,
#           -icount shift=0,sleep=off,align=off, a fixed RTC and norandmaps
#           (QEMU_ICOUNT=1 of the runner).  Guest time follows the
#           instruction count, so a ratio is a ratio of code-path lengths
#           and the output repeats from boot to boot.  3 rounds, medians
#           (1 round of memory and the wake-up, which repeat to the bit).
#   cross   cross-CPU mode: -smp 2 -accel tcg,thread=single (and tsc=reliable
#           on the kernel command line, for a vDSO clock), the two sides
#           of every two-sided case pinned to different vCPUs, 5 rounds
#           that each run kchan and all its peers; the table gives the
#           median and range of the per-round ratios.  Memory, the
#           10 000-thread wake-up and the broadcast hub are left to det
#           (memory does not depend on the mode; the wake-up and the
#           hub's whole delivery measure one CPU's work).
#   all     both, det first (default; BENCH_MODE sets the default).
#   --quick a tenth of the work and one round: a smoke test, not a result.
#
# BENCH_TIMEOUT (seconds, default 2400) bounds each mode's boot: the det
# run takes about 15 minutes, most of it the 10 000-subscriber soak.
#
# The programs are built by "make -C bench" (the top-level "make bench"
# does that and everything before it).  Output, in bench/out/:
#   results.tsv        every measurement: mode round case size impl metric
#                      value unit better
#   summary.tsv        per row and peer: kchan and peer medians, ratio
#                      median/min/max
#   table-MODE.md      the table (and, for det, the goals) as printed
#   serial-MODE.log    the guest's console
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
out=$here/out
bin=$out/bin
runner=$top/selftests/qemu/run.sh

mode=${BENCH_MODE:-all}
kver=${KVER:-}
quick=0

while [ $# -gt 0 ]; do
	case "$1" in
	--mode) mode=$2; shift 2 ;;
	--kver) kver=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	--help|-h) sed -n '4,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench/run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

case "$mode" in
det) modes=(det) ;;
cross) modes=(cross) ;;
all) modes=(det cross) ;;
*) echo "bench/run.sh: --mode must be det, cross or all" >&2; exit 2 ;;
esac

for p in throughput pingpong mpmc select memory wakeall bcast bsoak; do
	[ -x "$bin/$p" ] || { echo "bench/run.sh: no $bin/$p: run 'make -C bench'" >&2; exit 2; }
done
[ -n "$kver" ] || kver=$("$top/selftests/qemu/find-kernel.sh")

mkdir -p "$out"
results=$out/results.tsv
summary=$out/summary.tsv
printf 'mode\tround\tcase\tsize\timpl\tmetric\tvalue\tunit\tbetter\n' > "$results.new"
start_all=$SECONDS

run_mode() {
	local m=$1 rounds progs=() env=() log=$out/serial-$m.log t0=$SECONDS
	local words=() p r

	# Each program with its rounds: in det mode memory and wakeall repeat
	# to the bit, so one round of them is enough.
	if [ "$m" = det ]; then
		rounds=3
		env=(QEMU_ICOUNT=1)
		progs=(throughput:3 pingpong:3 mpmc:3 select:3 memory:1 wakeall:1 bcast:3 bsoak:1)
	else
		rounds=5
		# Without tsc=reliable the clocksource watchdog drops the TSC
		# for the HPET, and every clock_gettime() becomes a system call.
		env=(QEMU_SMP=2 "QEMU_ARGS=-accel tcg,thread=single ${QEMU_ARGS:-}"
		     "KERNEL_ARGS=tsc=reliable ${KERNEL_ARGS:-}")
		progs=(throughput:5 pingpong:5 mpmc:5 select:5)
	fi
	for p in "${progs[@]}"; do
		r=${p#*:}
		p=${p%:*}
		if [ "$quick" = 1 ]; then
			words+=("$bin/$p -r 1 -q")
		else
			words+=("$bin/$p -r $r")
		fi
	done

	echo "bench: $m mode: booting $kver: ${progs[*]} (program:rounds)"
	# The console goes to the log; show only which program runs.
	if ! env QEMU_MEM="${QEMU_MEM:-2048}" "${env[@]}" \
		"$runner" --kver "$kver" --mode run --timeout "${BENCH_TIMEOUT:-2400}" \
		--log "$log" "${words[@]}" \
		> "$out/runner-$m.txt" 2>&1; then
		tail -n 40 "$out/runner-$m.txt" >&2
		echo "bench: the $m run failed; console in $log" >&2
		return 1
	fi
	grep -a '^==== kchan-qemu: END' "$log" | sed 's/^==== kchan-qemu: /bench:   /; s/ ====$//'

	grep -a '^BENCH	' "$log" | sed "s/^BENCH/$m/" >> "$results.new"
	{
		if [ "$m" = det ]; then
			echo "### Deterministic mode: 1 vCPU, -icount shift=0,sleep=off,align=off"
			echo
			echo "Guest nanoseconds count instructions (1 ns = 1 instruction), so each ratio is"
			echo "a ratio of code-path lengths; absolute values are in QEMU on this machine."
		else
			echo "### Cross-CPU mode: 2 vCPUs, -accel tcg,thread=single"
			echo
			echo "The two sides of each case on different vCPUs; $rounds rounds, each running"
			echo "kchan and all peers; absolute values are in QEMU on this machine."
		fi
		awk -F '\t' '$1 == "BENCHINFO" { info = info sep $2 " " $3; sep = ", " }
			END { if (info != "") print "Guest: " info "." }' "$log"
		echo "Kernel $kver; $(date -u +%Y-%m-%d); wall time $((SECONDS - t0)) s."
		[ "$quick" = 1 ] && echo "QUICK RUN (--quick): a smoke test, not a result."
		echo
		awk -F '\t' -v mode="$m" -v summary="$summary.$m" -f "$here/report.awk" "$results.new"
	} > "$out/table-$m.md"
	echo
	cat "$out/table-$m.md"
	echo
}

rc=0
for m in "${modes[@]}"; do
	run_mode "$m" || rc=1
done

mv "$results.new" "$results"
{
	head -n 1 "$summary.${modes[0]}" 2>/dev/null || true
	for m in "${modes[@]}"; do
		tail -n +2 "$summary.$m" 2>/dev/null || true
		rm -f "$summary.$m"
	done
} > "$summary"
echo "bench: results in ${results#"$top"/}, ${summary#"$top"/} and bench/out/table-*.md;" \
	"total wall time $((SECONDS - start_all)) s"
exit $rc
