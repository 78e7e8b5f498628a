# SPDX-License-Identifier: GPL-2.0
#
# Turn benchmark result rows into a table of kchan against its peers, a
# summary file and, for the deterministic mode, the goals (POSIX awk).
#
#   awk -F '\t' -v mode=det|cross -v summary=FILE -f report.awk RESULTS.tsv
#
# RESULTS.tsv rows: mode round case size impl metric value unit better
# (a header row starting with "mode" is skipped).  For each case, size and
# metric, the table gives kchan's median over the rounds and, for each
# peer, its median and the ratio kchan / peer: the median of the per-round
# ratios (and their range in cross-CPU mode, where rounds differ).  The
# summary file gets one row per peer and row: mode case size metric impl
# kchan_median peer_median ratio_median ratio_min ratio_max rounds unit
# better.

BEGIN {
	nimpl = split("kchan kchan-k pipe chans mq eventfd seqpacket futex shmring epoll", order, " ")
	nrows = 0
	if (summary != "")
		printf "mode\tcase\tsize\tmetric\timpl\tkchan\tpeer\tratio\tratio_min\tratio_max\trounds\tunit\tbetter\n" > summary
}

$1 != mode || NF < 9 { next }

{
	key = $3 SUBSEP $4 SUBSEP $6
	if (!(key in seen)) {
		seen[key] = 1
		row[++nrows] = key
		rcase[key] = $3
		rsize[key] = $4
		rmetric[key] = $6
		runit[key] = $8
		rbetter[key] = $9
	}
	k = key SUBSEP $5
	n = ++cnt[k]
	val[k, n] = $7 + 0
	byround[k, $2] = $7 + 0
	if (!(key SUBSEP $2 in hasround)) {
		hasround[key SUBSEP $2] = 1
		nr = ++nrounds[key]
		roundid[key, nr] = $2
	}
	used[$5] = 1
}

# Sort a[1..n] in place (n is small).
function isort(a, n,    i, j, t) {
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--)
			a[j + 1] = a[j]
		a[j + 1] = t
	}
}

function med(a, n) {
	isort(a, n)
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}

function median_of(k,    a, i) {
	for (i = 1; i <= cnt[k]; i++)
		a[i] = val[k, i]
	return med(a, cnt[k])
}

function num(v) {
	if (v >= 10000 || v == int(v))
		return sprintf("%.0f", v)
	return sprintf("%.4g", v)
}

# A ratio: two decimals, or two significant digits below 0.01.
function rnum(v) {
	return v < 0.01 ? sprintf("%.2g", v) : sprintf("%.2f", v)
}

# Per-round ratios kchan / @impl for row @key: sets rmed, rmin, rmax, rn.
function ratios(key, impl,    a, i, r, kv, pv, n) {
	n = 0
	for (i = 1; i <= nrounds[key]; i++) {
		r = roundid[key, i]
		if (!((key SUBSEP "kchan", r) in byround) || !((key SUBSEP impl, r) in byround))
			continue
		kv = byround[key SUBSEP "kchan", r]
		pv = byround[key SUBSEP impl, r]
		if (pv == 0)
			continue
		a[++n] = kv / pv
	}
	rn = n
	if (!n)
		return 0
	isort(a, n)
	rmin = a[1]
	rmax = a[n]
	rmed = med(a, n)
	return 1
}

function label(c,    k) {
	if (c == "oneway") return "one-way, 1 msg/call"
	if (c == "batch64") return "one-way, 64 msgs/call"
	if (c == "sameproc") return "same process, 1 msg/call"
	if (c == "sameproc64") return "same process, 64 msgs/call"
	if (c == "pingpong") return "ping-pong round trip"
	if (c == "mpmc4x4") return "4 producers x 4 consumers"
	if (c == "recv_ready") return "receive, message ready"
	if (c ~ /^select[0-9]+_ready$/) {
		k = c; sub(/^select/, "", k); sub(/_ready$/, "", k)
		return "select over " k ", one ready"
	}
	if (c ~ /^select[0-9]+_wake$/) {
		k = c; sub(/^select/, "", k); sub(/_wake$/, "", k)
		return "select over " k ", woken"
	}
	if (c == "recv_fanin") return "fan-in, plain receive"
	if (c ~ /^select[0-9]+_fanin$/) {
		k = c; sub(/^select/, "", k); sub(/_fanin$/, "", k)
		return "fan-in, select over " k
	}
	if (c ~ /^selector[0-9]+_(ready|fanin|wake)$/) {
		k = c; sub(/^selector/, "", k); sub(/_[a-z]+$/, "", k)
		if (c ~ /_ready$/) return "selector of " k ", one ready"
		if (c ~ /_wake$/) return "selector of " k ", woken"
		return "fan-in, selector of " k
	}
	if (c == "empty16x8") return "empty 16 x 8 B queue"
	if (c == "subscriber") return "a hub's subscriber"
	if (c == "bcast_publish") return "hub: publish, none asleep"
	if (c == "bcast_deliver") return "hub: whole delivery"
	if (c == "bcast_soak") return "hub: soak, 10% slow, churn"
	if (c == "wakeall") return "10000 threads woken by close"
	return c
}

function metric_label(key,    m) {
	m = rmetric[key]
	gsub(/_/, " ", m)
	sub(/@/, " n=", m)
	return m " " runit[key] (rbetter[key] == "higher" ? " (more)" : " (less)")
}

# Print the cells of a table line padded to the column widths.
function emit(cells, ncells,    i, s) {
	s = "|"
	for (i = 1; i <= ncells; i++)
		s = s sprintf(" %-" width[i] "s |", cells[i])
	print s
}

END {
	ncol = 0
	col[++ncol] = "case"
	col[++ncol] = "bytes"
	col[++ncol] = "metric"
	for (i = 1; i <= nimpl; i++)
		if (order[i] in used)
			col[++ncol] = order[i]
	for (i = 1; i <= ncol; i++)
		width[i] = length(col[i])

	# Cells first, to size the columns.
	for (r = 1; r <= nrows; r++) {
		key = row[r]
		cell[r, 1] = label(rcase[key])
		cell[r, 2] = rsize[key]
		cell[r, 3] = metric_label(key)
		kk = key SUBSEP "kchan"
		kmed = (kk in cnt) ? median_of(kk) : ""
		for (c = 4; c <= ncol; c++) {
			impl = col[c]
			k = key SUBSEP impl
			if (!(k in cnt)) {
				cell[r, c] = ""
				continue
			}
			v = median_of(k)
			if (impl == "kchan") {
				cell[r, c] = num(v)
				continue
			}
			if (kmed != "" && ratios(key, impl)) {
				if (mode == "cross")
					cell[r, c] = sprintf("%s (%sx, %s-%s)", num(v), rnum(rmed), rnum(rmin), rnum(rmax))
				else
					cell[r, c] = sprintf("%s (%sx)", num(v), rnum(rmed))
				if (summary != "")
					printf "%s\t%s\t%s\t%s\t%s\t%.6g\t%.6g\t%.4f\t%.4f\t%.4f\t%d\t%s\t%s\n",
					    mode, rcase[key], rsize[key], rmetric[key], impl, kmed, v,
					    rmed, rmin, rmax, rn, runit[key], rbetter[key] > summary
				ratio[rcase[key], rsize[key], rmetric[key], impl] = rmed
			} else {
				cell[r, c] = num(v)
			}
			value[rcase[key], rsize[key], rmetric[key], impl] = v
		}
		if (kmed != "")
			value[rcase[key], rsize[key], rmetric[key], "kchan"] = kmed
		for (c = 1; c <= ncol; c++)
			if (length(cell[r, c]) > width[c])
				width[c] = length(cell[r, c])
	}

	for (c = 1; c <= ncol; c++) {
		head[c] = col[c]
		rule[c] = sprintf("%" width[c] "s", "")
		gsub(/ /, "-", rule[c])
	}
	emit(head, ncol)
	emit(rule, ncol)
	for (r = 1; r <= nrows; r++) {
		for (c = 1; c <= ncol; c++)
			line[c] = cell[r, c]
		emit(line, ncol)
	}
	print ""
	if (mode == "cross")
		print "Peer cells: median value (kchan / peer: median of the per-round ratios, min-max)."
	else
		print "Peer cells: median value (kchan / peer)."
	print "Rows marked (more): higher is better, so a ratio above 1 favours kchan; (less): below 1 does."

	if (mode == "det")
		goals()
	else
		fastpath_cross_goals()
}

function verdict(ok) {
	return ok ? "met   " : "MISSED"
}

function have(c, s, m, i) {
	return (c SUBSEP s SUBSEP m SUBSEP i) in value
}

# The goals of issue 5, judged on the deterministic figures.
function goals(    r, kv, pv, best, bestv, i, n, peers, s, sizes, okall, c, fk, fg) {
	print ""
	print "Goals (deterministic mode, 64-byte messages unless said):"
	if (have("oneway", 64, "throughput", "kchan")) {
		kv = value["oneway", 64, "throughput", "kchan"]
		split("pipe 2 mq 3", g, " ")
		for (i = 1; i <= 3; i += 2) {
			if (!have("oneway", 64, "throughput", g[i]))
				continue
			pv = value["oneway", 64, "throughput", g[i]]
			r = kv / pv
			printf "  [%s] 1 msg/call: kchan throughput %.2fx %s (goal >= %dx): %.0f vs %.0f ns/msg\n",
			    verdict(r >= g[i + 1]), r, g[i], g[i + 1], 1e6 / kv, 1e6 / pv
		}
	}
	if (have("batch64", 64, "throughput", "kchan") && have("batch64", 64, "throughput", "pipe")) {
		kv = 1e6 / value["batch64", 64, "throughput", "kchan"]
		pv = 1e6 / value["batch64", 64, "throughput", "pipe"]
		printf "  [%s] 64-msg batches: kchan %.0f ns/msg vs pipe %.0f ns/msg with 64-msg writes, %.2fx (goal <= 1x)\n",
		    verdict(kv <= pv), kv, pv, kv / pv
	}
	n = split("pipe mq eventfd seqpacket", peers, " ")
	split("8 64", sizes, " ")
	for (s = 1; s <= 2; s++) {
		if (!have("pingpong", sizes[s], "rtt_p50", "kchan"))
			continue
		kv = value["pingpong", sizes[s], "rtt_p50", "kchan"]
		best = ""
		for (i = 1; i <= n; i++)
			if (have("pingpong", sizes[s], "rtt_p50", peers[i]) &&
			    (best == "" || value["pingpong", sizes[s], "rtt_p50", peers[i]] < bestv)) {
				best = peers[i]
				bestv = value["pingpong", sizes[s], "rtt_p50", peers[i]]
			}
		if (best == "")
			continue
		printf "  [%s] ping-pong p50, %d B: kchan %.0f ns vs %s %.0f ns (fastest kernel peer), %.2fx (goal <= 1.1x)\n",
		    verdict(kv <= 1.1 * bestv), sizes[s], kv, best, bestv, kv / bestv
	}
	if (have("select8_ready", 64, "cost", "kchan") && have("recv_ready", 64, "cost", "kchan")) {
		kv = value["select8_ready", 64, "cost", "kchan"]
		pv = value["recv_ready", 64, "cost", "kchan"]
		printf "  [%s] select over 8, one ready: %.0f ns vs a single kchan_recv %.0f ns, %.2fx (goal <= 3x)\n",
		    verdict(kv <= 3 * pv), kv, pv, kv / pv
	}
	split("8 64", fk, " ")
	split("1.5 2", fg, " ")
	for (i = 1; i <= 2; i++) {
		c = "select" fk[i] "_fanin"
		if (!have(c, 64, "cost", "kchan") || !have(c, 64, "cost", "epoll"))
			continue
		kv = value[c, 64, "cost", "kchan"]
		pv = value[c, 64, "cost", "epoll"]
		printf "  [%s] fan-in over %d: select %.0f ns/msg vs epoll over %d pipes %.0f ns/msg, %.2fx (goal <= %sx)\n",
		    verdict(kv <= fg[i] * pv), fk[i], kv, fk[i], pv, kv / pv, fg[i]
	}
	if (have("selector1024_fanin", 64, "cost", "kchan") && have("selector1_fanin", 64, "cost", "kchan")) {
		kv = value["selector1024_fanin", 64, "cost", "kchan"]
		pv = value["selector1_fanin", 64, "cost", "kchan"]
		printf "  [%s] selector fan-in over 1024: %.0f ns/msg vs over 1 %.0f ns/msg, %.2fx (goal <= 1.5x, flat)\n",
		    verdict(kv <= 1.5 * pv), kv, pv, kv / pv
	}
	if (have("selector1024_fanin", 64, "cost", "kchan") && have("select64_fanin", 64, "cost", "epoll")) {
		kv = value["selector1024_fanin", 64, "cost", "kchan"]
		pv = value["select64_fanin", 64, "cost", "epoll"]
		printf "  [%s] selector fan-in over 1024: %.0f ns/msg vs epoll over 64 pipes %.0f ns/msg, %.2fx (goal <= 1x)\n",
		    verdict(kv <= pv), kv, pv, kv / pv
	}
	bcast_goals()
	fastpath_goals()
	if (have("select8_wake", 64, "rtt_p50", "kchan") && have("pingpong", 64, "rtt_p50", "kchan")) {
		kv = value["select8_wake", 64, "rtt_p50", "kchan"]
		pv = value["pingpong", 64, "rtt_p50", "kchan"]
		printf "  (info)   select over 8, woken: round trip %.0f ns vs kchan ping-pong %.0f ns, %.2fx\n",
		    kv, pv, kv / pv
	}
}

# The goals of the broadcast issue (14).
function bcast_goals(    ns, i, kv, pv, lo, hi, n, g, m, pm) {
	n = split("1 16 256 10000", ns, " ")
	lo = hi = ""
	for (i = 1; i <= n; i++) {
		m = "publish@" ns[i]
		if (!have("bcast_publish", 64, m, "kchan"))
			continue
		kv = value["bcast_publish", 64, m, "kchan"]
		if (lo == "" || kv < lo) lo = kv
		if (hi == "" || kv > hi) hi = kv
	}
	if (lo != "")
		printf "  [%s] broadcast publish cost from 1 to 10000 subscribers: %.0f to %.0f ns/msg, spread %.1f%% (goal <= 15%%)\n",
		    verdict(hi <= 1.15 * lo), lo, hi, 100 * (hi / lo - 1)
	split("16 10 256 100", g, " ")
	for (i = 1; i <= 3; i += 2) {
		m = "publish@" g[i]
		if (!have("bcast_publish", 64, m, "kchan") || !have("bcast_publish", 64, m, "pipe"))
			continue
		kv = value["bcast_publish", 64, m, "kchan"]
		pv = value["bcast_publish", 64, m, "pipe"]
		printf "  [%s] publish to %d: broadcast %.0f ns/msg vs %d pipes %.0f ns/msg, %.0fx cheaper (goal >= %dx)\n",
		    verdict(pv >= g[i + 1] * kv), g[i], kv, g[i], pv, pv / kv, g[i + 1]
	}
	if (have("bcast_deliver", 64, "deliver@256", "kchan") && have("bcast_deliver", 64, "deliver@256", "pipe")) {
		kv = value["bcast_deliver", 64, "deliver@256", "kchan"]
		pv = value["bcast_deliver", 64, "deliver@256", "pipe"]
		printf "  [%s] whole delivery to 256: broadcast %.0f ns/msg vs 256 pipes %.0f ns/msg, %.2fx (goal <= 0.5x)\n",
		    verdict(kv <= 0.5 * pv), kv, pv, kv / pv
	}
	for (i = 1; i <= n; i++) {
		m = "wakeups@" ns[i]
		if (!have("bcast_deliver", 64, m, "kchan"))
			continue
		kv = value["bcast_deliver", 64, m, "kchan"]
		printf "  [%s] wake-ups per sleeping subscriber per burst, %d subscribers: %.2f (goal <= 1)\n",
		    verdict(kv <= 1), ns[i], kv
	}
	split("lossless lossy", pm, " ")
	for (i = 1; i <= 2; i++) {
		g[1] = "kmem_drift_" pm[i] "@10000"
		if (!have("bcast_soak", 64, g[1], "kchan"))
			continue
		kv = value["bcast_soak", 64, g[1], "kchan"]
		printf "  [%s] soak, %s, 10000 subscribers: kernel memory %+.3f%% from the first to the last quarter (goal within 0.3%%)\n",
		    verdict(kv <= 0.3 && kv >= -0.3), pm[i], kv
	}
	if (have("subscriber", 8, "meminfo@10000", "kchan") && have("subscriber", 8, "meminfo@10000", "pipe")) {
		kv = value["subscriber", 8, "meminfo@10000", "kchan"]
		pv = value["subscriber", 8, "meminfo@10000", "pipe"]
		printf "  [%s] kernel memory per subscriber: %.0f B vs a pipe %.0f B, %.2fx (goal <= 0.25x)\n",
		    verdict(kv <= 0.25 * pv), kv, pv, kv / pv
	}
}

# kchan / @peer of row (@c, @s, @m), or "" when either is missing.
function kratio(c, s, m, peer) {
	if (!have(c, s, m, "kchan") || !have(c, s, m, peer))
		return ""
	return value[c, s, m, "kchan"] / value[c, s, m, peer]
}

# The goals of the mapped fast path (issue 15), deterministic mode;
# "kchan" is the fast path, "kchan-k" the same channels without it.
function fastpath_goals(    r, s) {
	r = kratio("oneway", 64, "throughput", "pipe")
	if (r != "")
		printf "  [%s] fast path, 1 msg/call, 2 processes: %.2fx pipe throughput (goal >= 5x)\n",
		    verdict(r >= 5), r
	r = kratio("batch64", 64, "throughput", "pipe")
	if (r != "")
		printf "  [%s] fast path, 64 msgs/call: %.2fx a pipe's cost per message (goal <= 0.5x)\n",
		    verdict(1 / r <= 0.5), 1 / r
	r = kratio("pingpong", 64, "rtt_p50", "kchan-k")
	if (r != "")
		printf "  [%s] fast path ping-pong p50, 64 B: %.2fx the kernel path (goal: no worse, <= 1.02x)\n",
		    verdict(r <= 1.02), r
	r = kratio("mpmc4x4", 64, "throughput", "pipe")
	if (r != "")
		printf "  [%s] fast path, 4 producers x 4 consumers: %.2fx pipe throughput (goal >= 2x)\n",
		    verdict(r >= 2), r
	r = kratio("bcast_deliver", 64, "deliver@256", "pipe")
	if (r != "")
		printf "  [%s] fast path, whole delivery to 256 mapped subscribers: %.2fx the pipe hub (goal <= 0.1x)\n",
		    verdict(r <= 0.1), r
	s = kratio("bcast_deliver", 64, "deliver@256", "shmring")
	if (r != "" && s != "")
		printf "  (info)   its floor, a shared-memory broadcast ring whose subscribers sleep on a futex: %.2fx the pipe hub; the broadcast channel %.2fx the floor\n",
		    r / s, s
	r = kratio("oneway", 64, "throughput", "kchan-k")
	if (r != "")
		printf "  (info)   fast path against the kernel path, 1 msg/call: %.2fx throughput\n", r
}

# The cross-CPU goals of the mapped fast path (issue 15).
function fastpath_cross_goals(    r, s) {
	r = kratio("oneway", 64, "throughput", "shmring")
	s = kratio("oneway", 64, "throughput", "pipe")
	if (r == "" || s == "")
		return
	print ""
	print "Goals (cross-CPU mode, 64-byte messages):"
	printf "  [%s] fast path, 1 msg/call: %.2fx the shared-memory ring's throughput (goal >= 0.67x, within 1.5x)\n",
	    verdict(r >= 1 / 1.5), r
	printf "  [%s] fast path, 1 msg/call: %.2fx pipe throughput (goal >= 3x)\n",
	    verdict(s >= 3), s
}
