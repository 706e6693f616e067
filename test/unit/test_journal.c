/* test_journal.c — the event journal (core/store/journal.c): seqs across processes, torn-line
 * repair, JSON/UTF-8 escaping, streaming reads. */
#include "check.h"

#include "base/err.h"
#include "store/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------
 * A strict JSON well-formedness checker (RFC 8259) with UTF-8 validation: every journal
 * line must pass it. Independent from journal.c on purpose.
 */

struct jp {
	const unsigned char *p, *end;
};

static bool jp_value(struct jp *j, int depth);

static void jp_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool jp_utf8(struct jp *j)
{
	unsigned char c = *j->p;
	unsigned cp, n;

	if (c < 0x80) {
		j->p++;
		return true;
	}
	if ((c & 0xE0) == 0xC0) {
		cp = c & 0x1F;
		n = 1;
	} else if ((c & 0xF0) == 0xE0) {
		cp = c & 0x0F;
		n = 2;
	} else if ((c & 0xF8) == 0xF0) {
		cp = c & 0x07;
		n = 3;
	} else {
		return false;
	}
	if ((size_t)(j->end - j->p) <= n)
		return false;
	for (unsigned i = 1; i <= n; i++) {
		if ((j->p[i] & 0xC0) != 0x80)
			return false;
		cp = (cp << 6) | (j->p[i] & 0x3F);
	}
	if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
	    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return false;
	j->p += n + 1;
	return true;
}

static bool jp_string(struct jp *j)
{
	if (j->p >= j->end || *j->p != '"')
		return false;
	j->p++;
	while (j->p < j->end && *j->p != '"') {
		if (*j->p < 0x20)
			return false;
		if (*j->p == '\\') {
			j->p++;
			if (j->p >= j->end)
				return false;
			if (*j->p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (j->p + i >= j->end || !strchr("0123456789abcdefABCDEF", j->p[i]))
						return false;
				j->p += 5;
			} else if (strchr("\"\\/bfnrt", *j->p) && *j->p) {
				j->p++;
			} else {
				return false;
			}
			continue;
		}
		if (!jp_utf8(j))
			return false;
	}
	if (j->p >= j->end)
		return false;
	j->p++;
	return true;
}

static bool jp_number(struct jp *j)
{
	const unsigned char *st = j->p;

	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p >= j->end)
		return false;
	if (*j->p == '0')
		j->p++;
	else if (*j->p >= '1' && *j->p <= '9')
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	else
		return false;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return false;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->end || *j->p < '0' || *j->p > '9')
			return false;
		while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			j->p++;
	}
	return j->p > st;
}

static bool jp_lit(struct jp *j, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0)
		return false;
	j->p += n;
	return true;
}

static bool jp_container(struct jp *j, int depth, char close)
{
	j->p++;
	jp_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return true;
	}
	for (;;) {
		jp_ws(j);
		if (close == '}') {
			if (!jp_string(j))
				return false;
			jp_ws(j);
			if (j->p >= j->end || *j->p != ':')
				return false;
			j->p++;
		}
		if (!jp_value(j, depth + 1))
			return false;
		jp_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return true;
		}
		return false;
	}
}

static bool jp_value(struct jp *j, int depth)
{
	if (depth > 64)
		return false;
	jp_ws(j);
	if (j->p >= j->end)
		return false;
	switch (*j->p) {
	case '{': return jp_container(j, depth, '}');
	case '[': return jp_container(j, depth, ']');
	case '"': return jp_string(j);
	case 't': return jp_lit(j, "true");
	case 'f': return jp_lit(j, "false");
	case 'n': return jp_lit(j, "null");
	default: return jp_number(j);
	}
}

/* One journal line: a JSON object and nothing else. */
static bool json_line_ok(const char *line, size_t len)
{
	struct jp j = { (const unsigned char *)line, (const unsigned char *)line + len };

	jp_ws(&j);
	if (j.p >= j.end || *j.p != '{' || !jp_value(&j, 0))
		return false;
	jp_ws(&j);
	return j.p == j.end;
}

/* The checker itself must be right for the test to mean anything. */
static void test_json_checker(void)
{
	static const char *const good[] = {
		"{}", "{\"a\":1}", "{\"a\":\"\\u00e9\\\"\\\\\",\"b\":-0.5e+3,\"c\":[true,false,null]}",
		"{\"k\":\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\"}",
	};
	static const char *const bad[] = {
		"", "{", "{\"a\":1,}", "{\"a\":01}", "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}",
		"{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}",
		"{\"a\":\"\xe2\x82\"}", "{\"a\":1}x", "[1]", "{a:1}",
	};

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		CHECK_MSG(json_line_ok(good[i], strlen(good[i])), "good %zu", i);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_MSG(!json_line_ok(bad[i], strlen(bad[i])), "bad %zu", i);
}

/* ------------------------------------------------------------------------------------ */

static char jpath[4200];

static const char *fresh_journal(void)
{
	snprintf(jpath, sizeof jpath, "%s/events.jsonl", check_tmpdir());
	return jpath;
}

struct collected {
	size_t n;
	uint64_t seq[4096];
	char kind[4096][24];
	char *line[4096];
	bool all_json;
	uint64_t stop_at;
};

static int collect_cb(void *arg, uint64_t seq, const char *kind, const char *line, size_t len)
{
	struct collected *c = arg;

	if (strlen(line) != len)
		return -1;
	if (!json_line_ok(line, len))
		c->all_json = false;
	if (c->n < 4096) {
		c->seq[c->n] = seq;
		snprintf(c->kind[c->n], sizeof c->kind[0], "%s", kind);
		c->line[c->n] = strdup(line);
	}
	c->n++;
	if (c->stop_at && seq == c->stop_at)
		return 99;
	return 0;
}

static void collected_free(struct collected *c)
{
	for (size_t i = 0; i < c->n && i < 4096; i++) {
		free(c->line[i]);
		c->line[i] = NULL;
	}
	c->n = 0;
}

static struct collected coll;

static struct collected *collect(const char *path, uint64_t from, int expect_rc)
{
	collected_free(&coll);
	memset(&coll, 0, sizeof coll);
	coll.all_json = true;
	CHECK_INT_EQ(journal_read(path, from, collect_cb, &coll), expect_rc);
	return &coll;
}

/* The part of a line after "time":"...". */
static const char *after_time(const char *line)
{
	const char *t = strstr(line, "\"time\":\"");

	CHECK(t != NULL);
	t = strchr(t + 8, '"');
	CHECK(t != NULL);
	return t + 1;
}

static void test_append_read(void)
{
	const char *path = fresh_journal();
	struct journal *j;
	struct journal_field f[4];
	uint64_t seq = 0;
	struct collected *c;
	struct stat st;

	CHECK_OK(journal_open(path, &j));
	CHECK(stat(path, &st) == 0);
	CHECK_INT_EQ(st.st_size, 0);
	CHECK_INT_EQ(st.st_mode & 0027, 0);	/* 0640 (umask may narrow it) */

	f[0] = JF_S("key", "a/b.txt");
	f[1] = JF_U("size", 42);
	f[2] = JF_I("delta", -5);
	f[3] = JF_B("etag", "abc", 3);
	CHECK_OK(journal_append(j, JOURNAL_CONFLICT, f, 4, &seq));
	CHECK_U64_EQ(seq, 1);
	CHECK_OK(journal_append(j, JOURNAL_EVICT, NULL, 0, &seq));
	CHECK_U64_EQ(seq, 2);
	f[0] = JF_U("max", UINT64_MAX);
	f[1] = JF_I("min", INT64_MIN);
	CHECK_OK(journal_append(j, JOURNAL_BACKLOG, f, 2, NULL));
	journal_close(j);

	c = collect(path, 0, 0);
	CHECK_INT_EQ(c->n, 3);
	CHECK(c->all_json);
	CHECK_U64_EQ(c->seq[0], 1);
	CHECK_U64_EQ(c->seq[2], 3);
	CHECK_STR_EQ(c->kind[0], "conflict");
	CHECK_STR_EQ(c->kind[1], "evict");
	CHECK_STR_EQ(c->kind[2], "backlog");
	CHECK(strncmp(c->line[0], "{\"seq\":1,\"time\":\"2", 18) == 0);
	CHECK_STR_EQ(after_time(c->line[0]),
		     ",\"kind\":\"conflict\",\"key\":\"a/b.txt\",\"size\":42,\"delta\":-5,\"etag\":\"abc\"}");
	CHECK_STR_EQ(after_time(c->line[1]), ",\"kind\":\"evict\"}");
	CHECK_STR_EQ(after_time(c->line[2]), ",\"kind\":\"backlog\",\"max\":18446744073709551615,"
		     "\"min\":-9223372036854775808}");
	/* time: 2026-11-22T04:51:07.123Z */
	{
		const char *t = strstr(c->line[0], "\"time\":\"") + 8;

		CHECK(strlen(t) > 25 && t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' &&
		      t[16] == ':' && t[19] == '.' && t[23] == 'Z' && t[24] == '"');
	}

	/* from_seq, and a callback stopping the walk */
	c = collect(path, 2, 0);
	CHECK_INT_EQ(c->n, 2);
	CHECK_U64_EQ(c->seq[0], 2);
	c = collect(path, 4, 0);
	CHECK_INT_EQ(c->n, 0);
	{
		static struct collected s;

		memset(&s, 0, sizeof s);
		s.all_json = true;
		s.stop_at = 2;
		CHECK_INT_EQ(journal_read(path, 0, collect_cb, &s), 99);
		CHECK_INT_EQ(s.n, 2);
		collected_free(&s);
	}

	/* reopening continues the sequence */
	CHECK_OK(journal_open(path, &j));
	CHECK_OK(journal_append(j, JOURNAL_IMPORT_WARN, NULL, 0, &seq));
	CHECK_U64_EQ(seq, 4);
	journal_close(j);
	collected_free(collect(path, 0, 0));
}

static void test_invalid_args(void)
{
	const char *path = fresh_journal();
	struct journal *j;
	struct journal_field f;
	uint64_t n = 99;

	CHECK_INT_EQ(journal_read(path, 0, collect_cb, NULL), ENOENT);
	CHECK_INT_EQ(journal_count(path, NULL, &n), ENOENT);
	CHECK_OK(journal_open(path, &j));
	f = JF_S("seq", "x");
	CHECK_INT_EQ(journal_append(j, "conflict", &f, 1, NULL), EINVAL);
	f = JF_S("kind", "x");
	CHECK_INT_EQ(journal_append(j, "conflict", &f, 1, NULL), EINVAL);
	f = JF_S(NULL, "x");
	CHECK_INT_EQ(journal_append(j, "conflict", &f, 1, NULL), EINVAL);
	CHECK_INT_EQ(journal_append(j, NULL, NULL, 0, NULL), EINVAL);
	CHECK_INT_EQ(journal_append(j, "", NULL, 0, NULL), EINVAL);
	CHECK_INT_EQ(journal_append(j, "Bad Kind", NULL, 0, NULL), EINVAL);
	CHECK_INT_EQ(journal_append(j, "conflict", NULL, 1, NULL), EINVAL);
	CHECK_OK(journal_count(path, NULL, &n));
	CHECK_U64_EQ(n, 0);
	journal_close(j);
	journal_close(NULL);
	snprintf(jpath, sizeof jpath, "%s/no/such/dir/j.jsonl", check_tmpdir());
	CHECK_INT_EQ(journal_open(jpath, &j), ENOENT);
}

static void test_count_by_kind(void)
{
	const char *path = fresh_journal();
	struct journal *j;
	uint64_t n;

	CHECK_OK(journal_open(path, &j));
	for (int i = 0; i < 30; i++) {
		const char *kind = i % 3 == 0 ? JOURNAL_CONFLICT :
				   i % 3 == 1 ? JOURNAL_COMMIT_FAILED : JOURNAL_BAD_KEY;
		struct journal_field f = JF_U("i", (uint64_t)i);

		CHECK_OK(journal_append(j, kind, &f, 1, NULL));
	}
	CHECK_OK(journal_append(j, JOURNAL_RENAME_PROGRESS, NULL, 0, NULL));
	journal_close(j);
	CHECK_OK(journal_count(path, NULL, &n));
	CHECK_U64_EQ(n, 31);
	CHECK_OK(journal_count(path, JOURNAL_CONFLICT, &n));
	CHECK_U64_EQ(n, 10);
	CHECK_OK(journal_count(path, JOURNAL_COMMIT_FAILED, &n));
	CHECK_U64_EQ(n, 10);
	CHECK_OK(journal_count(path, JOURNAL_BAD_KEY, &n));
	CHECK_U64_EQ(n, 10);
	CHECK_OK(journal_count(path, JOURNAL_RENAME_PROGRESS, &n));
	CHECK_U64_EQ(n, 1);
	CHECK_OK(journal_count(path, JOURNAL_EVICT, &n));
	CHECK_U64_EQ(n, 0);
}

/* Two handles in one process interleave: the second sees the first's appends. */
static void test_two_handles(void)
{
	const char *path = fresh_journal();
	struct journal *a, *b;
	uint64_t seq;

	CHECK_OK(journal_open(path, &a));
	CHECK_OK(journal_open(path, &b));
	for (uint64_t i = 1; i <= 20; i++) {
		CHECK_OK(journal_append(i % 2 ? a : b, JOURNAL_CONFLICT, NULL, 0, &seq));
		CHECK_U64_EQ(seq, i);
	}
	for (uint64_t i = 21; i <= 25; i++) {
		CHECK_OK(journal_append(b, JOURNAL_CONFLICT, NULL, 0, &seq));
		CHECK_U64_EQ(seq, i);
	}
	CHECK_OK(journal_append(a, JOURNAL_CONFLICT, NULL, 0, &seq));
	CHECK_U64_EQ(seq, 26);
	journal_close(a);
	journal_close(b);
}

static void child_append(const char *path, int who, int n)
{
	struct journal *j;
	uint64_t prev = 0, seq;

	if (journal_open(path, &j) != 0)
		_exit(10);
	for (int i = 0; i < n; i++) {
		struct journal_field f[2] = { JF_U("who", (uint64_t)who), JF_U("i", (uint64_t)i) };

		if (journal_append(j, JOURNAL_CONFLICT, f, 2, &seq) != 0)
			_exit(11);
		if (seq <= prev)
			_exit(12);	/* a process's own seqs must increase */
		prev = seq;
	}
	journal_close(j);
	_exit(0);
}

/* Two processes x 500 appends at once: 1..1000, each once, every line valid. */
static void test_two_processes(void)
{
	const char *path = fresh_journal();
	static bool seen[1001];
	int next_i[2] = { 0, 0 };
	pid_t pid[2];
	struct collected *c;

	/* both start on a missing file: creation races too */
	for (int k = 0; k < 2; k++) {
		pid[k] = fork();
		CHECK(pid[k] >= 0);
		if (pid[k] == 0)
			child_append(path, k, 500);
	}
	for (int k = 0; k < 2; k++) {
		int status;

		CHECK(waitpid(pid[k], &status, 0) == pid[k]);
		CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d status %d", k,
			  status);
	}
	memset(seen, 0, sizeof seen);
	c = collect(path, 0, 0);
	CHECK_INT_EQ(c->n, 1000);
	CHECK(c->all_json);
	for (size_t i = 0; i < 1000; i++) {
		unsigned who, idx;
		const char *w;

		CHECK_U64_EQ(c->seq[i], i + 1);	/* file order == seq order, no gaps */
		CHECK(!seen[c->seq[i]]);
		seen[c->seq[i]] = true;
		w = strstr(c->line[i], "\"who\":");
		CHECK(w && sscanf(w, "\"who\":%u,\"i\":%u}", &who, &idx) == 2 && who < 2);
		CHECK_INT_EQ(idx, next_i[who]);		/* each child's events in its order */
		next_i[who]++;
	}
	CHECK_INT_EQ(next_i[0], 500);
	CHECK_INT_EQ(next_i[1], 500);
	collected_free(c);
	if (system("command -v python3 >/dev/null") == 0) {
		char cmd[4400];

		snprintf(cmd, sizeof cmd, "python3 -c 'import json,sys\n"
			 "s=[json.loads(l)[\"seq\"] for l in open(sys.argv[1],encoding=\"utf-8\")]\n"
			 "assert s==list(range(1,1001))' '%s'", path);
		CHECK_MSG(system(cmd) == 0, "python3 rejected %s", path);
	}
}

struct thread_arg {
	struct journal *j;
	uint64_t last;
	int rc;
};

static void *thread_append(void *p)
{
	struct thread_arg *a = p;

	for (int i = 0; i < 100 && a->rc == 0; i++) {
		uint64_t seq;

		a->rc = journal_append(a->j, JOURNAL_BACKLOG, NULL, 0, &seq);
		if (a->rc == 0 && seq <= a->last)
			a->rc = -1;
		a->last = seq;
	}
	return NULL;
}

/* Threads share one handle (and its flock): the mutex keeps seqs unique. */
static void test_threads_one_handle(void)
{
	const char *path = fresh_journal();
	struct thread_arg a[4];
	pthread_t t[4];
	struct journal *j;
	uint64_t n;

	CHECK_OK(journal_open(path, &j));
	for (int i = 0; i < 4; i++) {
		a[i] = (struct thread_arg){ .j = j };
		CHECK(pthread_create(&t[i], NULL, thread_append, &a[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_INT_EQ(a[i].rc, 0);
	}
	journal_close(j);
	CHECK_OK(journal_count(path, NULL, &n));
	CHECK_U64_EQ(n, 400);
	struct collected *c = collect(path, 0, 0);

	for (size_t i = 0; i < 400; i++)
		CHECK_U64_EQ(c->seq[i], i + 1);
	collected_free(c);
}

static void append_raw(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static off_t file_size(const char *path)
{
	struct stat st;

	CHECK(stat(path, &st) == 0);
	return st.st_size;
}

static void test_torn_line(void)
{
	const char *path = fresh_journal();
	struct journal *j, *k;
	uint64_t seq, n;
	off_t good;

	CHECK_OK(journal_open(path, &j));
	CHECK_OK(journal_append(j, JOURNAL_CONFLICT, NULL, 0, NULL));
	CHECK_OK(journal_append(j, JOURNAL_CONFLICT, NULL, 0, NULL));
	journal_close(j);
	good = file_size(path);

	/* a crash mid-append: readers skip the partial line */
	append_raw(path, "{\"seq\":3,\"time\":\"2026-11-2");
	CHECK_OK(journal_count(path, NULL, &n));
	CHECK_U64_EQ(n, 2);

	/* the next open for writing cuts it off; the seq continues at 3 */
	CHECK_OK(journal_open(path, &j));
	CHECK_INT_EQ(file_size(path), good);
	CHECK_OK(journal_append(j, JOURNAL_CONFLICT, NULL, 0, &seq));
	CHECK_U64_EQ(seq, 3);

	/* another process crashes mid-line while we hold the journal open: our next
	 * append notices the size change and repairs before writing */
	good = file_size(path);
	append_raw(path, "{\"seq\":4,\"ti");
	CHECK_OK(journal_append(j, JOURNAL_CONFLICT, NULL, 0, &seq));
	CHECK_U64_EQ(seq, 4);
	journal_close(j);
	struct collected *c = collect(path, 0, 0);

	CHECK_INT_EQ(c->n, 4);
	CHECK(c->all_json);
	CHECK_U64_EQ(c->seq[3], 4);
	collected_free(c);

	/* a file that is nothing but a torn line */
	path = fresh_journal();
	CHECK_OK(journal_open(path, &k));
	journal_close(k);
	append_raw(path, "{\"seq\":1,\"time");
	CHECK_OK(journal_count(path, NULL, &n));
	CHECK_U64_EQ(n, 0);
	CHECK_OK(journal_open(path, &k));
	CHECK_INT_EQ(file_size(path), 0);
	CHECK_OK(journal_append(k, JOURNAL_EVICT, NULL, 0, &seq));
	CHECK_U64_EQ(seq, 1);
	journal_close(k);
	(void)good;
}

static void test_corrupt(void)
{
	const char *path = fresh_journal();
	struct journal *j;
	uint64_t n;

	CHECK_OK(journal_open(path, &j));
	CHECK_OK(journal_append(j, JOURNAL_CONFLICT, NULL, 0, NULL));
	journal_close(j);
	append_raw(path, "this is not an event\n");
	CHECK_INT_EQ(journal_count(path, NULL, &n), S3F_E_JOURNAL_CORRUPT);
	CHECK_INT_EQ(journal_open(path, &j), S3F_E_JOURNAL_CORRUPT);
}

/* Escaping: quotes, backslashes, control characters, Unicode, invalid UTF-8. */
#define B(lit) lit, sizeof(lit) - 1
static void test_escaping(void)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;	/* the rest of the line after "kind":"bad_key" */
	} cases[] = {
		{ B("plain/key.txt"), ",\"key\":\"plain/key.txt\"}" },
		{ B("q\"b\\s/"), ",\"key\":\"q\\\"b\\\\s/\"}" },
		{ B("\x01\x1f\n\t\r\b\f\x7f"),
		  ",\"key\":\"\\u0001\\u001f\\u000a\\u0009\\u000d\\u0008\\u000c\\u007f\"}" },
		{ B("nul\0byte"), ",\"key\":\"nul\\u0000byte\"}" },
		/* valid UTF-8 passes through: é, 日, 😀 and the boundaries */
		{ B("\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80"),
		  ",\"key\":\"\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80\"}" },
		{ B("\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"
		  "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"),
		  ",\"key\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"
		  "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"}" },
		/* invalid: each bad byte is U+FFFD, plus the exact bytes in key_hex */
		{ B("a\x80z"), ",\"key\":\"a\xef\xbf\xbdz\",\"key_hex\":\"61807a\"}" },
		{ B("\xc0\xaf"),				/* overlong '/' */
		  ",\"key\":\"\xef\xbf\xbd\xef\xbf\xbd\",\"key_hex\":\"c0af\"}" },
		{ B("\xc1\xbf"),				/* overlong */
		  ",\"key\":\"\xef\xbf\xbd\xef\xbf\xbd\",\"key_hex\":\"c1bf\"}" },
		{ B("\xe0\x80\xaf"),				/* overlong 3-byte */
		  ",\"key\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\",\"key_hex\":\"e080af\"}" },
		{ B("\xf0\x80\x80\xaf"),			/* overlong 4-byte */
		  ",\"key\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\",\"key_hex\":\"f08080af\"}" },
		{ B("\xed\xa0\x80"),				/* surrogate U+D800 */
		  ",\"key\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\",\"key_hex\":\"eda080\"}" },
		{ B("\xed\xbf\xbf"),				/* surrogate U+DFFF */
		  ",\"key\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\",\"key_hex\":\"edbfbf\"}" },
		{ B("\xf4\x90\x80\x80"),			/* U+110000 */
		  ",\"key\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\",\"key_hex\":\"f4908080\"}" },
		{ B("\xf5\x80\x80\x80"),
		  ",\"key\":\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\",\"key_hex\":\"f5808080\"}" },
		{ B("ok\xe2\x82"),				/* truncated at the end */
		  ",\"key\":\"ok\xef\xbf\xbd\xef\xbf\xbd\",\"key_hex\":\"6f6be282\"}" },
		{ B("\xe2\x82x\xff\""),				/* truncated, then 0xff, quote */
		  ",\"key\":\"\xef\xbf\xbd\xef\xbf\xbdx\xef\xbf\xbd\\\"\",\"key_hex\":\"e28278ff22\"}" },
	};
	const char *path = fresh_journal();
	struct journal *j;
	struct collected *c;
	size_t nc = sizeof cases / sizeof cases[0];

	CHECK_OK(journal_open(path, &j));
	for (size_t i = 0; i < nc; i++) {
		struct journal_field f = JF_B("key", cases[i].in, cases[i].len);

		CHECK_OK(journal_append(j, JOURNAL_BAD_KEY, &f, 1, NULL));
	}
	/* JF_STR takes the same path; the field name is escaped too */
	{
		struct journal_field f[2] = { JF_S("na\"me", "v\xff"), JF_S("empty", NULL) };

		CHECK_OK(journal_append(j, JOURNAL_BAD_KEY, f, 2, NULL));
	}
	journal_close(j);

	c = collect(path, 0, 0);
	CHECK_INT_EQ(c->n, nc + 1);
	CHECK_MSG(c->all_json, "a line is not valid JSON");
	for (size_t i = 0; i < nc; i++) {
		CHECK_MSG(strcmp(after_time(c->line[i]) + strlen(",\"kind\":\"unrepresentable_key\""),
				 cases[i].out) == 0, "case %zu: %s", i, c->line[i]);
	}
	CHECK_STR_EQ(after_time(c->line[nc]) + strlen(",\"kind\":\"unrepresentable_key\""),
		     ",\"na\\\"me\":\"v\xef\xbf\xbd\",\"na\\\"me_hex\":\"76ff\",\"empty\":\"\"}");
	collected_free(c);

	/* python's json module agrees (strict UTF-8 decoding of the file) */
	if (system("command -v python3 >/dev/null") == 0) {
		char cmd[4400];

		snprintf(cmd, sizeof cmd, "python3 -c 'import json,sys\n"
			 "L=[json.loads(l) for l in open(sys.argv[1],encoding=\"utf-8\")]\n"
			 "assert L[0][\"key\"]==\"plain/key.txt\"\n"
			 "assert L[2][\"key\"]==\"\\x01\\x1f\\n\\t\\r\\b\\f\\x7f\"\n"
			 "assert L[3][\"key\"]==\"nul\\x00byte\"\n"
			 "assert bytes.fromhex(L[16][\"key_hex\"])==b\"\\xe2\\x82x\\xff\\x22\"\n"
			 "assert all(\"key_hex\" not in l for l in L[:6])' '%s'", path);
		CHECK_MSG(system(cmd) == 0, "python3 rejected %s", path);
	}
}

struct big_reader {
	uint64_t n, next;
	size_t max_len;
	int bad;
};

static int big_cb(void *arg, uint64_t seq, const char *kind, const char *line, size_t len)
{
	struct big_reader *r = arg;

	(void)line;
	if (seq != r->next || strcmp(kind, "evict") != 0)
		r->bad++;
	r->next++;
	r->n++;
	if (len > r->max_len)
		r->max_len = len;
	return 0;
}

/* Streaming: many lines, and lines longer than the read buffer. */
static void test_big_file(void)
{
	const char *path = fresh_journal();
	struct big_reader r = { .next = 1 };
	struct journal *j;
	size_t big = 300000;
	char *val = malloc(big + 1);
	FILE *f;
	uint64_t seq;

	CHECK(val != NULL);
	memset(val, 'x', big);
	val[big] = '\0';
	f = fopen(path, "w");
	CHECK(f != NULL);
	for (uint64_t i = 1; i <= 200000; i++) {
		if (i % 50000 == 0)
			fprintf(f, "{\"seq\":%" PRIu64 ",\"time\":\"t\",\"kind\":\"evict\",\"v\":\"%s\"}\n",
				i, val);
		else
			fprintf(f, "{\"seq\":%" PRIu64 ",\"time\":\"t\",\"kind\":\"evict\"}\n", i);
	}
	CHECK(fclose(f) == 0);

	CHECK_OK(journal_read(path, 0, big_cb, &r));
	CHECK_U64_EQ(r.n, 200000);
	CHECK_INT_EQ(r.bad, 0);
	CHECK(r.max_len > big);

	/* the tail reader finds the last seq behind a long last line too */
	f = fopen(path, "a");
	CHECK(f != NULL);
	fprintf(f, "{\"seq\":200001,\"time\":\"t\",\"kind\":\"evict\",\"v\":\"%s\"}\n", val);
	CHECK(fclose(f) == 0);
	CHECK_OK(journal_open(path, &j));
	CHECK_OK(journal_append(j, JOURNAL_EVICT, NULL, 0, &seq));
	CHECK_U64_EQ(seq, 200002);
	journal_close(j);
	free(val);
}

int main(void)
{
	CHECK_RUN(test_json_checker);
	CHECK_RUN(test_append_read);
	CHECK_RUN(test_invalid_args);
	CHECK_RUN(test_count_by_kind);
	CHECK_RUN(test_two_handles);
	CHECK_RUN(test_two_processes);
	CHECK_RUN(test_threads_one_handle);
	CHECK_RUN(test_torn_line);
	CHECK_RUN(test_corrupt);
	CHECK_RUN(test_escaping);
	CHECK_RUN(test_big_file);
	collected_free(&coll);
	return check_done();
}
