#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the test guest (copied into the initramfs by run.sh).
#
# Loads the module, runs the programs listed in /tests/list one after the
# other, unloads the module and prints the kernel log written since the start
# mark.  Every step prints a line "==== kchan-qemu: KEY ... ====" on the
# console; run.sh parses the serial output for these.  Settings come from
# /kchan-qemu.conf (MODULE, MODNAME, MODPARAMS, DEVNODE, GUEST_TIMEOUT, WATCHDOG, and the
# "export VAR=..." lines of run.sh --env, which the programs inherit).

/bin/busybox --install -s /bin
export PATH=/bin HOME=/tmp
umask 022

M() {
	echo "==== kchan-qemu: $* ===="
}

kmsg() {
	# <5> (notice): kept out of the console, which shows warnings and worse
	echo "<5>kchan-qemu: $*" > /dev/kmsg
}

uptime_s() {
	cut -d' ' -f1 /proc/uptime
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
ln -s /proc/self/fd /dev/fd
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
if [ -d /sys/kernel/tracing ]; then
	mount -t tracefs tracefs /sys/kernel/tracing
fi
if [ -d /sys/kernel/debug ]; then
	mount -t debugfs debugfs /sys/kernel/debug
fi

. /kchan-qemu.conf

M BOOT "kernel=$(uname -r)" "cpus=$(nproc)" "uptime=$(uptime_s)"

# Shortly before the host gives up: dump blocked tasks and every CPU's stack,
# print the kernel log (in case the guest stays stuck), then kill every
# process but init so that the run can still unload the module and report.
if [ "${WATCHDOG:-0}" -gt 0 ]; then
	(
		sleep "$WATCHDOG"
		M WATCHDOG "after ${WATCHDOG}s: killing all programs"
		echo w > /proc/sysrq-trigger
		echo l > /proc/sysrq-trigger
		sleep 2
		M DMESG-BEGIN
		dmesg | sed -n '/kchan-qemu: start mark/,$p' | tail -n 500
		M DMESG-END
		touch /tmp/.watchdog
		kill -9 -1
	) &
fi

# Only leaks that appear from here on are kchan's.
kmemleak=/sys/kernel/debug/kmemleak
if [ -w "$kmemleak" ]; then
	echo clear > "$kmemleak"
fi

kmsg "start mark"
M START

loaded=0
# shellcheck disable=SC2086 # MODPARAMS is a list of words
if insmod "/$MODULE" $MODPARAMS; then
	loaded=1
	M INSMOD ok
else
	M INSMOD FAIL "rc=$?"
fi

if [ "$loaded" = 1 ] && [ -n "$DEVNODE" ]; then
	i=0
	while [ ! -c "$DEVNODE" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ -c "$DEVNODE" ]; then
		M DEVNODE ok "$DEVNODE"
	else
		M DEVNODE missing "$DEVNODE"
		loaded=0
	fi
fi

if [ "$loaded" = 1 ]; then
	while IFS='	' read -r idx name args; do
		if [ -e /tmp/.watchdog ]; then
			break
		fi
		kmsg "begin $name"
		M BEGIN "$idx" "$name"
		cd /tmp || exit 1
		if [ "${GUEST_TIMEOUT:-0}" -gt 0 ]; then
			eval "timeout -s KILL $GUEST_TIMEOUT /tests/$name $args" < /dev/null
		else
			eval "/tests/$name $args" < /dev/null
		fi
		rc=$?
		cd /
		M END "$idx" "$name" "rc=$rc" "uptime=$(uptime_s)"
		kmsg "end $name rc=$rc"
	done < /tests/list
fi

if [ "$loaded" = 1 ]; then
	# A descriptor passed over a unix socket can be released a little
	# after its last user exits: retry for a few seconds.
	i=0
	while ! out=$(rmmod "$MODNAME" 2>&1); do
		i=$((i + 1))
		if [ $i -ge 10 ]; then
			echo "$out"
			grep "^$MODNAME " /proc/modules
			break
		fi
		sleep 0.5
	done
	if [ -d "/sys/module/$MODNAME" ]; then
		M RMMOD FAIL
	else
		M RMMOD ok
	fi
fi

if [ -w "$kmemleak" ]; then
	# kmemleak only reports objects older than 5 s.
	echo scan > "$kmemleak"
	sleep 6
	echo scan > "$kmemleak"
	M KMEMLEAK-BEGIN
	cat "$kmemleak"
	M KMEMLEAK-END
fi

M DMESG-BEGIN
dmesg > /tmp/.dmesg
if grep -q 'kchan-qemu: start mark' /tmp/.dmesg; then
	sed -n '/kchan-qemu: start mark/,$p' /tmp/.dmesg
else
	cat /tmp/.dmesg
fi
M DMESG-END
M DONE "uptime=$(uptime_s)"

poweroff -f
sleep 2
reboot -f
