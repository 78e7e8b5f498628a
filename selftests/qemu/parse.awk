# SPDX-License-Identifier: GPL-2.0
#
# Decide pass/fail from the serial log of a run.sh boot (POSIX awk).
#
#   awk -v mode=tests|run -v expected="name1 name2" -v qemu_rc=N \
#       -v timeout_s=N -v wall_s=N [-v extra="TAP..."] -f parse.awk LOG
#
# mode=tests: each program is a kselftest binary; its "# Totals:" line gives
# the pass and fail counts.  A binary that printed no Totals, never finished
# or exited non-zero without reporting a failure counts as one failure.
# mode=run: each program counts as passed when it exits 0.
# extra: files of kselftest output from outside the guest (the host tests);
# the last "# Totals:" line of each adds in, and a file without one counts
# as one failure.
#
# Every problem of the boot as a whole (QEMU timeout, the module failing to
# load or unload, a kernel complaint after the start mark, a kmemleak report)
# is listed and counts as one more failure, so that the last line,
# "N passed, N failed", has N failed > 0 exactly when the exit status is 1.

BEGIN {
	nexp = split(expected, exp_name, " ")
	cur = ""
	started = 0
	in_dmesg = 0
	in_kmemleak = 0
	nbad = 0
	ncomplaint = 0
	complaint_re = "WARNING:|BUG:|Oops|general protection|Call Trace|" \
		"possible circular locking|inconsistent lock state|" \
		"possible recursive locking|suspicious RCU usage|KASAN|UBSAN|" \
		"kernel BUG|refcount_t|list_add corruption|list_del corruption|" \
		"Kernel panic|soft lockup|hard LOCKUP|blocked for more than|" \
		"rcu_(sched|preempt) detected stall|self-detected stall|" \
		"unreferenced object|stack-protector|double fault"
}

{
	sub(/\r$/, "")
}

# A marker, possibly with a kernel console message spliced in front.
/==== kchan-qemu: / {
	m = $0
	sub(/.*==== kchan-qemu: /, "", m)
	sub(/ ====.*$/, "", m)
	nw = split(m, w, " ")
	key = w[1]
	if (key == "BOOT") {
		booted = 1
		boot_info = m
		sub(/^BOOT /, "", boot_info)
		boot_up = uptime_of(m)
	} else if (key == "START") {
		started = 1
	} else if (key == "INSMOD") {
		insmod = w[2]
	} else if (key == "DEVNODE") {
		devnode = w[2]
		devnode_path = w[3]
	} else if (key == "BEGIN") {
		cur = w[2]
		cur_name = w[3]
		began[cur] = 1
	} else if (key == "END") {
		ended[w[2]] = 1
		rc = w[4]
		sub(/^rc=/, "", rc)
		exit_rc[w[2]] = rc
		cur = ""
		cur_name = ""
	} else if (key == "RMMOD") {
		rmmod = w[2]
	} else if (key == "KMEMLEAK-BEGIN") {
		in_kmemleak = 1
	} else if (key == "KMEMLEAK-END") {
		in_kmemleak = 0
	} else if (key == "DMESG-BEGIN") {
		in_dmesg = 1
	} else if (key == "DMESG-END") {
		in_dmesg = 0
	} else if (key == "WATCHDOG") {
		watchdog = 1
	} else if (key == "DONE") {
		done = 1
		done_up = uptime_of(m)
	}
	next
}

# "# Totals: pass:N fail:N xfail:N xpass:N skip:N error:N" of the current
# binary; the last one printed counts.
cur != "" && /^# Totals: / {
	has_totals[cur] = 1
	for (i = 3; i <= NF; i++) {
		split($i, kv, ":")
		tot[cur, kv[1]] = kv[2] + 0
	}
}

# The guest writes "kchan-qemu: begin NAME" and "end NAME" into the kernel
# log around each program.
in_dmesg && /kchan-qemu: begin / {
	dm_name = $0
	sub(/.*kchan-qemu: begin /, "", dm_name)
}
in_dmesg && /kchan-qemu: end / {
	dm_name = ""
}

# Kernel complaints: every line of the dmesg section (it starts at the start
# mark), and kernel-formatted console lines after the start mark (these are
# all the evidence when the guest dies before printing its log).
(in_dmesg || (started && /^\[ *[0-9]+\.[0-9]+\]/)) && $0 ~ complaint_re {
	if (!(($0) in seen)) {
		seen[$0] = 1
		during = in_dmesg ? dm_name : cur_name
		complaint[++ncomplaint] = (during != "" ? "(" during ") " : "") $0
	}
}

in_kmemleak && /unreferenced object/ {
	nleak++
}

function uptime_of(s,    a, n, i) {
	n = split(s, a, " ")
	for (i = 1; i <= n; i++)
		if (a[i] ~ /^uptime=/) {
			sub(/^uptime=/, "", a[i])
			return a[i]
		}
	return ""
}

# Add the counts of the last "# Totals:" line of the kselftest output FILE.
function add_extra(file,    line, name, n, kv, t, found, a, i, p, f, s) {
	found = 0
	while ((getline line < file) > 0) {
		if (line !~ /^# Totals: /)
			continue
		found = 1
		n = split(line, a, " ")
		for (i = 3; i <= n; i++) {
			split(a[i], kv, ":")
			t[kv[1]] = kv[2] + 0
		}
	}
	close(file)
	name = file
	sub(/.*\//, "", name)
	printf "%-24s ", name
	if (!found) {
		print "printed no Totals (host)"
		failed++
		return
	}
	p = t["pass"]
	f = t["fail"] + t["error"]
	s = t["skip"]
	printf "pass %d, fail %d, skip %d (host)\n", p, f, s
	passed += p
	failed += f
	skipped += s
}

function problem(msg) {
	bad[++nbad] = msg
}

END {
	passed = 0
	failed = 0
	skipped = 0
	print ""
	print "==== summary ===="
	for (i = 1; i <= nexp; i++) {
		# Programs are known by their position in the list.
		n = i ""
		printf "%-24s ", exp_name[i]
		if (!(n in began)) {
			print "not run"
			failed++
			continue
		}
		if (!(n in ended)) {
			print "did not finish (crash or hang)"
			failed++
			continue
		}
		rc = exit_rc[n]
		if (mode == "run") {
			printf "exit %s\n", rc
			if (rc == 0)
				passed++
			else
				failed++
			continue
		}
		if (!(n in has_totals)) {
			printf "exit %s, printed no Totals\n", rc
			failed++
			continue
		}
		p = tot[n, "pass"]
		f = tot[n, "fail"] + tot[n, "error"]
		s = tot[n, "skip"]
		printf "pass %d, fail %d, skip %d, exit %s", p, f, s, rc
		passed += p
		failed += f
		skipped += s
		# The harness exits 0 (all passed), 1 (failures) or 4 (all skipped).
		if (f == 0 && rc != 0 && rc != 4) {
			printf " (non-zero exit counts as a failure)"
			failed++
		}
		printf "\n"
	}
	nextra = split(extra, extra_file, " ")
	for (i = 1; i <= nextra; i++)
		add_extra(extra_file[i])

	if (qemu_rc == 124 || qemu_rc == 137)
		problem(sprintf("guest timed out after %s s (hang?)", timeout_s))
	else if (qemu_rc != 0)
		problem(sprintf("qemu exited with status %s", qemu_rc))
	if (!booted)
		problem("guest did not reach /init")
	else if (insmod != "ok")
		problem("module failed to load")
	else if (devnode != "" && devnode != "ok")
		problem(sprintf("%s did not appear after loading the module", devnode_path))
	else if ((rmmod != "" || done) && rmmod != "ok")
		problem("module failed to unload (rmmod)")
	if (watchdog)
		problem("guest watchdog fired: it dumped the blocked tasks and killed the programs")
	if (ncomplaint > 0)
		problem(sprintf("kernel log has %d complaint line(s) after the start mark", ncomplaint))
	if (nleak > 0)
		problem(sprintf("kmemleak reports %d unreferenced object(s)", nleak))
	if (booted && !done && qemu_rc != 124 && qemu_rc != 137)
		problem("guest did not finish (crash?)")

	if (ncomplaint > 0) {
		print ""
		print "kernel complaints:"
		for (i = 1; i <= ncomplaint && i <= 30; i++)
			print "  " complaint[i]
		if (ncomplaint > 30)
			printf "  ... and %d more (see the log)\n", ncomplaint - 30
	}
	if (nbad > 0) {
		print ""
		for (i = 1; i <= nbad; i++)
			print "PROBLEM: " bad[i]
		failed += nbad
	}

	print ""
	if (booted)
		printf "guest: %s; finished at uptime %s s; wall %s s\n", boot_info,
			done ? done_up : "?", wall_s
	if (skipped > 0)
		printf "%d skipped\n", skipped
	printf "%d passed, %d failed\n", passed, failed
	exit failed > 0 ? 1 : 0
}
