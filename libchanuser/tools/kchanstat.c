// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * kchanstat - list kchan channels from /proc/kchan as a table, and find
 * tasks blocked on a channel for longer than a threshold (a goroutine-leak
 * detector).
 *
 * Reads the listing by its header, so columns the module adds later are
 * ignored and a missing one is an error - except the broadcast columns,
 * which a listing of an older module lacks: they read as a plain channel.  Exit status: 0 nothing over the
 * threshold (or none given), 1 some channel's oldest blocked task waited
 * longer than the threshold, 2 an error.  See man/kchanstat.1.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROC_KCHAN	"/proc/kchan"
#define MAX_COLS	32

/* The columns shown, in order: the listing's name and the table's title. */
static const struct column {
	const char *name;
	const char *title;
	bool text;		/* left-aligned, sorted ascending by strcmp() */
	bool ascending;		/* numeric, sorted smallest first */
	const char *absent;	/* the value when the listing lacks it, or NULL */
} columns[] = {
	{ "id", "ID", false, true, NULL },
	{ "pid", "PID", false, true, NULL },
	{ "comm", "COMM", true, true, NULL },
	{ "cgroup", "CGROUP", true, true, NULL },
	{ "uid", "UID", false, true, NULL },
	{ "elem_size", "ESIZE", false, false, NULL },
	{ "capacity", "CAP", false, false, NULL },
	{ "len", "LEN", false, false, NULL },
	{ "closed", "CLOSED", false, false, NULL },
	{ "sendq", "SENDQ", false, false, NULL },
	{ "recvq", "RECVQ", false, false, NULL },
	{ "kind", "KIND", true, true, "channel" },
	{ "subscribers", "SUBS", false, false, "0" },
	{ "lost", "LOST", false, false, "0" },
	{ "oldest_wait_ns", "WAITED", false, false, NULL },
};

#define NR_COLUMNS	(sizeof(columns) / sizeof(columns[0]))
#define COL_ID		0
#define COL_WAIT	(NR_COLUMNS - 1)

struct row {
	char *field[NR_COLUMNS];	/* point into the file's text */
	unsigned long long num[NR_COLUMNS];
	char waited[32];
};

static const char *prog = "kchanstat";
static int sort_col = COL_WAIT;

static void usage(FILE *out)
{
	fprintf(out,
		"usage: %s [-s KEY] [-t DURATION] [-f FILE] [-h]\n"
		"List the kchan channels of " PROC_KCHAN " as a table.\n\n"
		"  -s KEY       sort by KEY: blocked (default: longest wait first), id,\n"
		"               or any column of " PROC_KCHAN " (pid, comm, cgroup,\n"
		"               uid, elem_size, capacity, len, closed, sendq, recvq)\n"
		"  -t DURATION  only channels whose oldest blocked task has waited\n"
		"               longer than DURATION (e.g. 500ms, 2s; units ns, us,\n"
		"               ms, s, m, h; default s); exit 1 if there are any\n"
		"  -f FILE      read FILE instead of " PROC_KCHAN "\n"
		"  -h           this help\n\n"
		"Exit status: 0 none over the threshold, 1 some, 2 error.\n",
		prog);
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* DURATION in nanoseconds; exits on a malformed one. */
static unsigned long long parse_duration(const char *s)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = {
		{ "ns", 1 }, { "us", 1e3 }, { "ms", 1e6 }, { "s", 1e9 },
		{ "", 1e9 }, { "m", 60e9 }, { "h", 3600e9 },
	};
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || v < 0)
		die("bad duration '%s' (try 500ms or 2s)", s);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (!strcmp(end, units[i].unit))
			return (unsigned long long)(v * units[i].ns);
	die("bad duration unit in '%s' (ns, us, ms, s, m or h)", s);
}

static int parse_sort_key(const char *key)
{
	if (!strcmp(key, "blocked") || !strcmp(key, "wait"))
		return COL_WAIT;
	for (size_t i = 0; i < NR_COLUMNS; i++)
		if (!strcmp(key, columns[i].name))
			return i;
	die("unknown sort key '%s' (see -h)", key);
}

/* The whole of @path as a string; exits with a clear message on failure. */
static char *read_listing(const char *path, bool is_proc)
{
	size_t len = 0, size = 1 << 16;
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (!f) {
		if (is_proc && errno == ENOENT)
			die("%s: no such file: kchan module not loaded", path);
		die("%s: %s", path, strerror(errno));
	}
	buf = malloc(size);
	while (buf && (n = fread(buf + len, 1, size - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == size)
			buf = realloc(buf, size *= 2);
	}
	if (!buf)
		die("out of memory");
	if (ferror(f))
		die("%s: %s", path, strerror(errno));
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* Split @line at whitespace into at most @max words; returns the count. */
static int split(char *line, char **words, int max)
{
	int n = 0;
	char *save, *w;

	for (w = strtok_r(line, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n == max)
			return max + 1;
		words[n++] = w;
	}
	return n;
}

/* "-", or the wait in the largest unit that keeps it readable. */
static void format_wait(unsigned long long ns, char *buf, size_t size)
{
	if (!ns)
		snprintf(buf, size, "-");
	else if (ns < 1000ULL)
		snprintf(buf, size, "%lluns", ns);
	else if (ns < 1000000ULL)
		snprintf(buf, size, "%.1fus", ns / 1e3);
	else if (ns < 1000000000ULL)
		snprintf(buf, size, "%.1fms", ns / 1e6);
	else
		snprintf(buf, size, "%.2fs", ns / 1e9);
}

/*
 * Parse the listing in @text into *@rows; returns the number of rows.
 * Exits on a malformed listing.
 */
static size_t parse_listing(char *text, const char *path, struct row **rows)
{
	char *line, *save, *words[MAX_COLS + 1];
	int map[NR_COLUMNS], nr_words, lineno = 1;
	size_t nr = 0, alloc = 0;

	line = strtok_r(text, "\n", &save);
	nr_words = line ? split(line, words, MAX_COLS) : 0;
	if (nr_words > MAX_COLS)
		die("%s: not a kchan listing (header too long)", path);
	for (size_t c = 0; c < NR_COLUMNS; c++) {
		map[c] = -1;
		for (int i = 0; i < nr_words; i++)
			if (!strcmp(words[i], columns[c].name))
				map[c] = i;
		if (map[c] < 0 && !columns[c].absent)
			die("%s: not a kchan listing (no column '%s')", path,
			    columns[c].name);
	}

	*rows = NULL;
	while ((line = strtok_r(NULL, "\n", &save))) {
		struct row *r;
		int n = split(line, words, MAX_COLS);

		lineno++;
		if (n != nr_words)
			die("%s:%d: %d columns, the header has %d", path, lineno,
			    n, nr_words);
		if (nr == alloc) {
			alloc = alloc ? 2 * alloc : 64;
			*rows = realloc(*rows, alloc * sizeof(**rows));
			if (!*rows)
				die("out of memory");
		}
		r = &(*rows)[nr++];
		for (size_t c = 0; c < NR_COLUMNS; c++) {
			char *end;

			r->field[c] = map[c] < 0 ? (char *)columns[c].absent :
						   words[map[c]];
			if (columns[c].text)
				continue;
			errno = 0;
			r->num[c] = strtoull(r->field[c], &end, 10);
			if (end == r->field[c] || *end || errno)
				die("%s:%d: bad %s '%s'", path, lineno,
				    columns[c].name, r->field[c]);
		}
		format_wait(r->num[COL_WAIT], r->waited, sizeof(r->waited));
	}
	return nr;
}

static int compare_rows(const void *pa, const void *pb)
{
	const struct row *a = pa, *b = pb;
	const struct column *col = &columns[sort_col];
	int c;

	if (col->text)
		c = strcmp(a->field[sort_col], b->field[sort_col]);
	else if (a->num[sort_col] == b->num[sort_col])
		c = 0;
	else
		c = (a->num[sort_col] < b->num[sort_col]) == col->ascending ? -1 : 1;
	if (c)
		return c;
	return a->num[COL_ID] < b->num[COL_ID] ? -1 : a->num[COL_ID] > b->num[COL_ID];
}

/* What row @r shows in column @c. */
static const char *cell(const struct row *r, size_t c)
{
	return c == COL_WAIT ? r->waited : r->field[c];
}

static void print_table(struct row *rows, size_t nr)
{
	int width[NR_COLUMNS];

	for (size_t c = 0; c < NR_COLUMNS; c++) {
		width[c] = strlen(columns[c].title);
		for (size_t i = 0; i < nr; i++) {
			int w = strlen(cell(&rows[i], c));

			if (w > width[c])
				width[c] = w;
		}
	}
	for (size_t c = 0; c < NR_COLUMNS; c++)
		printf("%s%*s", c ? " " : "",
		       columns[c].text ? -width[c] : width[c], columns[c].title);
	putchar('\n');
	for (size_t i = 0; i < nr; i++) {
		for (size_t c = 0; c < NR_COLUMNS; c++)
			printf("%s%*s", c ? " " : "",
			       columns[c].text ? -width[c] : width[c],
			       cell(&rows[i], c));
		putchar('\n');
	}
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	unsigned long long threshold = 0;
	bool has_threshold = false;
	struct row *rows;
	size_t nr, kept = 0;
	char *text;
	int opt;

	while ((opt = getopt(argc, argv, "s:t:f:h")) != -1) {
		switch (opt) {
		case 's':
			sort_col = parse_sort_key(optarg);
			break;
		case 't':
			threshold = parse_duration(optarg);
			has_threshold = true;
			break;
		case 'f':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
		usage(stderr);
		return 2;
	}

	text = read_listing(path ? path : PROC_KCHAN, !path);
	path = path ? path : PROC_KCHAN;
	nr = parse_listing(text, path, &rows);
	for (size_t i = 0; i < nr; i++)
		if (!has_threshold || rows[i].num[COL_WAIT] > threshold)
			rows[kept++] = rows[i];
	qsort(rows, kept, sizeof(*rows), compare_rows);
	/* The leak detector is silent when it finds nothing. */
	if (kept || !has_threshold)
		print_table(rows, kept);
	if (fflush(stdout))
		die("stdout: %s", strerror(errno));
	free(rows);
	free(text);
	return has_threshold && kept ? 1 : 0;
}
