#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot a Debian kernel in QEMU with kchan.ko loaded and run programs in it.
#
# usage: run.sh [options] PROGRAM...
#
#   PROGRAM is a host path to a static executable, optionally followed by its
#   arguments in the same word ("examples/bench -n 1000").  Programs run in
#   the order given, each in /tmp of the guest with stdin from /dev/null.
#
#   --mode tests    PROGRAMs are kselftest binaries (default): sum their
#                   "# Totals:" lines
#   --mode run      PROGRAMs pass when they exit 0
#   --kver KVER     kernel to boot (default: $KVER, else find-kernel.sh)
#   --kernel PATH   boot this kernel image instead of /boot/vmlinuz-KVER
#                   (the debug kernel of debug-kernel.sh)
#   --module PATH   module to insmod (default: kchan.ko at the top level)
#   --devnode PATH  device the module must create (default: /dev/kchan;
#                   "" to skip the check)
#   --modparam P=V  load the module with parameter P=V (repeatable)
#   --file PATH     also copy PATH into the guest's /tests (not run)
#   --env VAR=VALUE export VAR=VALUE in the guest before the programs run
#                   (repeatable; VALUE is taken verbatim)
#   --timeout SEC   give up on the guest after SEC seconds (default 900)
#   --log PATH      serial log (default selftests/qemu/out/last-run.log)
#   --extra-tap FILE  add the "# Totals:" of FILE, the kselftest output of a
#                   run outside the guest (selftests/host/), into the
#                   summary; may be repeated
#
# Environment:
#   QEMU_SMP=2 QEMU_MEM=1024 QEMU_CPU=max
#   QEMU_ARGS       extra qemu-system-x86_64 arguments
#   KERNEL_ARGS     extra kernel command line arguments
#   QEMU_ICOUNT=1   deterministic mode for benchmarks: one vCPU,
#                   -icount shift=0,sleep=off,align=off, a virtual RTC and
#                   norandmaps (guest time then counts instructions)
#   GUEST_TIMEOUT   kill each program after this many guest seconds (0: never)
#   QEMU_TIMEOUT    default of --timeout
#
# Prints the serial console as it comes (and keeps it in the log), then a
# summary whose last line is "N passed, N failed".  Exits 0 only if every
# program passed, the module loaded and unloaded cleanly, the guest finished
# in time and the kernel logged no warning, bug, lockdep, KASAN or UBSAN
# report after the start mark.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

mode=tests
kver=${KVER:-}
kernel=
module=$top/kchan.ko
devnode=/dev/kchan
timeout_s=${QEMU_TIMEOUT:-900}
log=$here/out/last-run.log
files=()
envs=()
modparams=()
progs=()
extra_taps=()

die() {
	echo "run.sh: $*" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--mode) mode=$2; shift 2 ;;
	--kver) kver=$2; shift 2 ;;
	--kernel) kernel=$2; shift 2 ;;
	--module) module=$2; shift 2 ;;
	--devnode) devnode=$2; shift 2 ;;
	--file) files+=("$2"); shift 2 ;;
	--modparam) modparams+=("$2"); shift 2 ;;
	--env) envs+=("$2"); shift 2 ;;
	--timeout) timeout_s=$2; shift 2 ;;
	--log) log=$2; shift 2 ;;
	--extra-tap) extra_taps+=("$2"); shift 2 ;;
	--help|-h) sed -n '4,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
	--) shift; progs+=("$@"); break ;;
	-*) die "unknown option $1" ;;
	*) progs+=("$1"); shift ;;
	esac
done

case "$mode" in
tests|run) ;;
*) die "--mode must be tests or run" ;;
esac
if [ -z "$kernel" ]; then
	kver=$("$here/find-kernel.sh" ${kver:+"$kver"}) || exit 2
	kernel=/boot/vmlinuz-$kver
fi
[ -r "$kernel" ] || die "$kernel is not readable"
[ -f "$module" ] || die "no module $module (run 'make module')"
busybox=/bin/busybox
[ -x "$busybox" ] || die "no $busybox (install busybox-static)"
command -v qemu-system-x86_64 >/dev/null || die "no qemu-system-x86_64 (run 'make deps')"
command -v cpio >/dev/null || die "no cpio (run 'make deps')"

smp=${QEMU_SMP:-2}
mem=${QEMU_MEM:-1024}
cpu=${QEMU_CPU:-max}
qemu_extra=()
kargs=""
watchdog=0
if [ "${QEMU_ICOUNT:-0}" = 1 ]; then
	smp=1
	# shellcheck disable=SC2054 # -icount takes one comma-separated word
	qemu_extra+=(-icount shift=0,sleep=off,align=off
		     -rtc base=2024-01-01T00:00:00,clock=vm)
	kargs="norandmaps"
elif [ "$timeout_s" -gt 90 ]; then
	# Guest time follows wall time here: dump blocked tasks a minute
	# before the host gives up.
	watchdog=$((timeout_s - 60))
fi
# shellcheck disable=SC2206 # QEMU_ARGS is a list of words
qemu_extra+=(${QEMU_ARGS:-})
kargs="$kargs ${KERNEL_ARGS:-}"

# --- the initramfs -----------------------------------------------------------
mkdir -p "$(dirname "$log")" "$here/out"
work=$(mktemp -d "$here/out/initramfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,proc,sys,tmp,root,etc,tests}
cp "$busybox" "$root/bin/busybox"
cp "$here/init.sh" "$root/init"
chmod 755 "$root/init"
modfile=$(basename "$module")
cp "$module" "$root/$modfile"
modname=${modfile%.ko}
modname=${modname//-/_}
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"

names=()
: > "$root/tests/list"
for p in "${progs[@]}"; do
	read -r path args <<<"$p"
	[ -f "$path" ] || die "no program $path"
	name=$(basename "$path")
	cp "$path" "$root/tests/$name"
	names+=("$name")
	printf '%d\t%s\t%s\n' ${#names[@]} "$name" "${args:-}" >> "$root/tests/list"
done
for f in "${files[@]}"; do
	cp -r "$f" "$root/tests/"
done
cat > "$root/kchan-qemu.conf" <<EOF
MODULE='$modfile'
MODNAME='$modname'
MODPARAMS='${modparams[*]}'
DEVNODE='$devnode'
GUEST_TIMEOUT='${GUEST_TIMEOUT:-0}'
WATCHDOG='$watchdog'
EOF
# --env: one "export VAR='VALUE'" line each, single quotes escaped for sh.
q="'\\''"
for e in "${envs[@]}"; do
	var=${e%%=*} val=${e#*=}
	[[ $e = *=* && $var =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "--env wants VAR=VALUE, not '$e'"
	printf "export %s='%s'\n" "$var" "${val//\'/$q}" >> "$root/kchan-qemu.conf"
done

# newc header of an entry without data (GNU cpio cannot archive a device node
# without creating one, which needs root).
newc() {
	local name=$1 mode=$2 nlink=$3 major=$4 minor=$5 ino=$6
	local namesize=$((${#name} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
		"$ino" "$mode" 0 0 "$nlink" 0 0 0 0 "$major" "$minor" "$namesize" 0 "$name"
	head -c $(((4 - (110 + namesize) % 4) % 4)) /dev/zero
}

initrd=$work/initrd.gz
{
	newc dev $((8#040755)) 2 0 0 1
	newc dev/console $((8#020600)) 1 5 1 2
	(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
	 cpio --quiet -o -H newc -R 0:0)
} | gzip -1 > "$initrd"

# --- boot ---------------------------------------------------------------------
qemu=(qemu-system-x86_64 -m "$mem" -smp "$smp" -cpu "$cpu" -nographic
      -no-reboot -nic none -kernel "$kernel" -initrd "$initrd"
      -append "console=ttyS0 quiet loglevel=5 oops=panic panic=-1 panic_on_warn=0 $kargs"
      "${qemu_extra[@]}")
echo "run.sh: booting $kver: ${qemu[*]}"
start=$SECONDS
set +e
# The serial output carries \r, and SeaBIOS sends terminal resets: drop both.
# A marker always starts a line (SeaBIOS' last line is sometimes cut short).
timeout --foreground -k 10 "$timeout_s" "${qemu[@]}" < /dev/null 2>&1 |
	sed -u -e 's/\r//g' -e 's/\x1bc//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' \
	    -e 's/\(.\)\(==== kchan-qemu: \)/\1\n\2/' |
	tee "$log"
qemu_rc=${PIPESTATUS[0]}
set -e
wall=$((SECONDS - start))

awk -v mode="$mode" -v expected="${names[*]}" -v qemu_rc="$qemu_rc" \
    -v timeout_s="$timeout_s" -v wall_s="$wall" -v extra="${extra_taps[*]}" \
    -f "$here/parse.awk" "$log"
