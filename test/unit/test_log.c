/* test_log.c — core/base/log.c: log_esc (keys and names shown in log lines) and the one-line
 * guarantee of every message, whatever its arguments hold; the journal's lines for the
 * same keys. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "base/err.h"
#include "store/journal.h"
#include "base/log.h"

static uint64_t rng_state = 0x6c6f67657363ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static const char *esc(const char *s, size_t len)
{
	static char buf[LOG_ESC_SIZE];

	return log_esc(buf, sizeof buf, s, len);
}

#define ESC_EQ(lit, want) CHECK_STR_EQ(esc(lit, sizeof(lit) - 1), want)

static int hexv(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The reader's side: log_esc's text back to bytes; -1 if it is not log_esc's syntax. */
static long unesc(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	for (; *s; s++) {
		char c = *s;

		if (c == '\\') {
			s++;
			if (*s == 'n')
				c = '\n';
			else if (*s == 'r')
				c = '\r';
			else if (*s == 't')
				c = '\t';
			else if (*s == '\\')
				c = '\\';
			else if (*s == 'x' && hexv(s[1]) >= 0 && hexv(s[2]) >= 0) {
				c = (char)(hexv(s[1]) * 16 + hexv(s[2]));
				s += 2;
			} else
				return -1;
		} else if ((unsigned char)c < 0x20 || c == 0x7f) {
			return -1;	/* a raw control byte got through */
		}
		if (o == cap)
			return -1;
		out[o++] = c;
	}
	return (long)o;
}

static void test_esc_cases(void)
{
	ESC_EQ("photos/2024/a b.jpg", "photos/2024/a b.jpg");
	ESC_EQ("", "");
	ESC_EQ("a\nb", "a\\nb");
	ESC_EQ("a\r\n2026-01-01T00:00:00Z ERROR forged", "a\\r\\n2026-01-01T00:00:00Z ERROR forged");
	ESC_EQ("t\tab", "t\\tab");
	ESC_EQ("back\\slash", "back\\\\slash");
	ESC_EQ("\x01\x1b[2J\x7f", "\\x01\\x1b[2J\\x7f");
	/* valid UTF-8 stays */
	ESC_EQ("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x93\xb7", "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x93\xb7");
	/* invalid UTF-8: each byte */
	ESC_EQ("\xff", "\\xff");
	ESC_EQ("\xc0\xaf", "\\xc0\\xaf");		/* overlong '/' */
	ESC_EQ("\xed\xa0\x80", "\\xed\\xa0\\x80");	/* a surrogate */
	ESC_EQ("\xe6\x97", "\\xe6\\x97");		/* cut short */
	ESC_EQ("\xe6\x97x", "\\xe6\\x97x");
	ESC_EQ("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");	/* above U+10FFFF */
	ESC_EQ("\xf5\x80", "\\xf5\\x80");
	/* valid, but controls or line breaks where shown: C1 (NEL, CSI), U+2028, U+2029 */
	ESC_EQ("a\xc2\x85" "b\xc2\x9b" "c", "a\\xc2\\x85b\\xc2\\x9bc");
	ESC_EQ("\xe2\x80\xa8|\xe2\x80\xa9|\xe2\x80\xa6", "\\xe2\\x80\\xa8|\\xe2\\x80\\xa9|\xe2\x80\xa6");
	/* NUL inside a key (the length decides) */
	CHECK_STR_EQ(esc("a\0b", 3), "a\\x00b");
	/* NULL */
	char b[16];

	CHECK_STR_EQ(log_esc(b, sizeof b, NULL, 5), "(null)");
	CHECK_STR_EQ(log_escs(b, sizeof b, NULL), "(null)");
	CHECK_STR_EQ(log_escs(b, sizeof b, "x\ny"), "x\\ny");
	/* the argument forms, two in one call (each its own buffer) */
	char line[256];

	snprintf(line, sizeof line, "'%s' -> '%s'", LOG_ESCS("a\nb"), LOG_ESC("c\td\0e", 5));
	CHECK_STR_EQ(line, "'a\\nb' -> 'c\\td\\x00e'");
	/* cap 0: nothing written, buf returned */
	b[0] = 'Z';
	CHECK(log_esc(b, 0, "abc", 3) == b && b[0] == 'Z');
}

/* Any bytes: the text has no control byte and reads back to exactly those bytes. */
static void test_esc_roundtrip_property(void)
{
	char in[300], back[300], out[LOG_ESC_SIZE];

	for (int iter = 0; iter < 20000; iter++) {
		size_t n = rng() % sizeof in;

		for (size_t i = 0; i < n; i++) {
			switch (rng() % 4) {
			case 0: in[i] = (char)(rng() & 0xff); break;		/* anything */
			case 1: in[i] = (char)(rng() % 0x20); break;		/* controls */
			case 2: in[i] = (char)(0x80 | (rng() & 0x7f)); break;	/* high */
			default: in[i] = (char)(0x20 + rng() % 0x5f); break;	/* text */
			}
		}
		log_esc(out, sizeof out, in, n);
		CHECK_MSG(strlen(out) < sizeof out, "iter %d", iter);
		long bn = unesc(out, back, sizeof back);

		CHECK_MSG(bn == (long)n && memcmp(back, in, n) == 0, "iter %d: %zu bytes -> '%s'",
			  iter, n, out);
	}
}

/* Cut to fit: always NUL-terminated within cap, never in the middle of an escape or of a
 * UTF-8 sequence, "..." says so, and what is shown is a prefix of the whole. */
static void test_esc_truncation(void)
{
	const char key[] = "ab\ncd\xe6\x97\xa5\xff" "efgh\\ijkl";
	char full[256], buf[64];

	log_esc(full, sizeof full, key, sizeof key - 1);
	CHECK_STR_EQ(full, "ab\\ncd\xe6\x97\xa5\\xffefgh\\\\ijkl");
	for (size_t cap = 1; cap <= strlen(full) + 1; cap++) {
		memset(buf, 'Q', sizeof buf);
		log_esc(buf, cap, key, sizeof key - 1);
		size_t n = strlen(buf);

		CHECK_MSG(n < cap, "cap %zu: '%s'", cap, buf);
		if (cap == strlen(full) + 1) {
			CHECK_STR_EQ(buf, full);
			break;
		}
		if (cap >= 4) {
			CHECK_MSG(n >= 3 && strcmp(buf + n - 3, "...") == 0, "cap %zu: '%s'", cap, buf);
			n -= 3;
		} else {
			CHECK_MSG(n == 0, "cap %zu: '%s'", cap, buf);
		}
		/* the shown part is a prefix of the full text, ending at a piece boundary */
		CHECK_MSG(strncmp(buf, full, n) == 0, "cap %zu: '%s'", cap, buf);
		char piece[64];

		memcpy(piece, buf, n);
		piece[n] = '\0';
		char back[64];

		CHECK_MSG(unesc(piece, back, sizeof back) >= 0, "cap %zu: '%s' cut in an escape",
			  cap, buf);
		/* no UTF-8 sequence cut: the last lead byte has all its continuation bytes */
		for (size_t k = 0; k < n; k++) {
			unsigned char c = (unsigned char)piece[k];

			if (c >= 0xe0 && c < 0xf0)
				CHECK_MSG(k + 2 < n, "cap %zu: '%s'", cap, buf);
		}
	}
}

/* ---- every message is one line ---- */

static char sunk[4096];
static int sunk_n;

static void sink(enum log_level lvl, const char *component, const char *msg, void *arg)
{
	(void)lvl;
	(void)component;
	(void)arg;
	snprintf(sunk, sizeof sunk, "%s", msg);
	sunk_n++;
}

static void test_message_one_line(void)
{
	const char *key = "dir/evil\n2026-12-05T00:00:00.000Z ERROR sync forged\r\x1b[31m";
	char kb[LOG_ESC_SIZE];

	log_sink_set(sink, NULL);
	/* a caller that forgot log_esc: the line stays one line */
	LOG_WARN(LOG_C_SYNC, "export 1: '%s' failed", key);
	CHECK_INT_EQ(sunk_n, 1);
	CHECK(strchr(sunk, '\n') == NULL && strchr(sunk, '\r') == NULL &&
	      strchr(sunk, '\x1b') == NULL);
	CHECK_STR_EQ(sunk, "export 1: 'dir/evil\\n2026-12-05T00:00:00.000Z ERROR sync "
		     "forged\\r\\x1b[31m' failed");
	/* a caller that did: escaped once, not twice */
	LOG_WARN(LOG_C_SYNC, "'%s'", log_escs(kb, sizeof kb, "a\\b\nc"));
	CHECK_STR_EQ(sunk, "'a\\\\b\\nc'");
	/* a message longer than a line is cut, still one line */
	char big[3000];

	memset(big, '\n', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	LOG_ERROR(LOG_C_SYNC, "%s", big);
	CHECK(strchr(sunk, '\n') == NULL);
	CHECK(strlen(sunk) < 2048);
	log_sink_set(NULL, NULL);

	/* The stderr sink: exactly one line per message. */
	char path[4200];
	int fd, saved = dup(STDERR_FILENO);

	snprintf(path, sizeof path, "%s/stderr", check_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && saved >= 0);
	CHECK(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	LOG_WARN(LOG_C_SYNC, "one: '%s'", key);
	LOG_WARN(LOG_C_SYNC, "two: %s", big);
	dup2(saved, STDERR_FILENO);
	close(saved);
	char out[8192];
	ssize_t n = pread(fd, out, sizeof out - 1, 0);

	close(fd);
	CHECK(n > 0);
	out[n] = '\0';
	int lines = 0;

	for (ssize_t i = 0; i < n; i++)
		lines += out[i] == '\n';
	CHECK_MSG(lines == 2, "%d lines: %s", lines, out);
	CHECK(strstr(out, "ERROR sync forged") != NULL);	/* shown, inside line one */
	CHECK(strncmp(strchr(out, '\n') + 1, "20", 2) == 0);	/* line two is a real one */
}

/* The journal: a key with a newline is one JSON line, the key recoverable. */
struct jl {
	int n;
	char line[1024];
};

static int jl_cb(void *arg, uint64_t seq, const char *kind, const char *line, size_t len)
{
	struct jl *j = arg;

	(void)seq;
	(void)kind;
	j->n++;
	snprintf(j->line, sizeof j->line, "%.*s", (int)len, line);
	return 0;
}

static void test_journal_line(void)
{
	char path[4200], buf[4096];
	struct journal *j = NULL;
	struct journal_field f[1];
	struct jl got = { 0 };
	const char key[] = "a\nb\r\x01\xff";

	snprintf(path, sizeof path, "%s/events.jsonl", check_tmpdir());
	CHECK_OK(journal_open(path, &j));
	f[0] = JF_B("key", key, sizeof key - 1);
	CHECK_OK(journal_append(j, JOURNAL_BAD_KEY, f, 1, NULL));
	journal_close(j);
	int fd = open(path, O_RDONLY);
	ssize_t n = read(fd, buf, sizeof buf - 1);

	close(fd);
	CHECK(n > 0);
	buf[n] = '\0';
	CHECK_MSG(strchr(buf, '\n') == buf + n - 1, "not one line: %s", buf);
	CHECK_OK(journal_read(path, 0, jl_cb, &got));
	CHECK_INT_EQ(got.n, 1);
	CHECK_MSG(strstr(got.line, "\"key_hex\":\"610a620d01ff\"") != NULL, "%s", got.line);
	CHECK_MSG(strstr(got.line, "\"key\":\"a\\u000ab\\u000d\\u0001") != NULL, "%s", got.line);
}

int main(void)
{
	CHECK_RUN(test_esc_cases);
	CHECK_RUN(test_esc_roundtrip_property);
	CHECK_RUN(test_esc_truncation);
	CHECK_RUN(test_message_one_line);
	CHECK_RUN(test_journal_line);
	return check_done();
}
