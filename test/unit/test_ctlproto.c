/* test_ctlproto.c — the control protocol (core/base/ctlproto.c): escaping and its round
 * trips, fields, answer lines, and the two ends of a connection over real sockets. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "base/clock.h"
#include "base/ctlproto.h"

/* ---- escaping ---- */

/* The set of escaped bytes is exactly <= 0x20, '%' and 0x7f, each as %XX uppercase: the
 * format earlier versions write and read. */
static void test_escape_every_byte(void)
{
	for (int c = 0; c < 256; c++) {
		char in[1] = { (char)c }, out[4], want[4];
		bool special = c <= 0x20 || c == '%' || c == 0x7f;

		CHECK_MSG(ctlp_must_escape((unsigned char)c) == special, "byte 0x%02x", c);
		if (special)
			snprintf(want, sizeof want, "%%%02X", c);
		else
			snprintf(want, sizeof want, "%c", c);
		CHECK_INT_EQ(ctlp_escape(out, in, 1), strlen(want));
		CHECK_MSG(strcmp(out, want) == 0, "byte 0x%02x: \"%s\", want \"%s\"", c, out, want);
	}
}

/* Every byte string comes back from its escaped form, which holds no byte that would end
 * or split a line or a field; the FILE form writes the same bytes. */
static void test_escape_roundtrip(void)
{
	char all[256], esc[3 * 256 + 1], *mem = NULL;
	size_t memlen = 0, len;
	FILE *f;

	for (int i = 0; i < 256; i++)
		all[i] = (char)i;
	len = ctlp_escape(esc, all, 256);
	CHECK_INT_EQ(len, strlen(esc));
	for (const char *p = esc; *p; p++)
		CHECK_MSG((unsigned char)*p > 0x20 && *p != 0x7f, "raw byte 0x%02x in escaped form",
			  (unsigned char)*p);
	f = open_memstream(&mem, &memlen);
	CHECK(f);
	ctlp_put_escaped(f, all, 256);
	fclose(f);
	CHECK_STR_EQ(mem, esc);
	free(mem);
	CHECK_INT_EQ(ctlp_unescape(esc, true), 256);
	/* byte 0 decodes too: the length tells */
	CHECK(memcmp(esc, all, 256) == 0);

	for (unsigned seed = 1; seed <= 200; seed++) {
		char in[300], e[3 * 300 + 1], *dup;
		size_t n = seed % 300;

		check_fill(in, n, seed);
		ctlp_escape(e, in, n);
		CHECK_INT_EQ(ctlp_unescape(e, true), n);
		CHECK(memcmp(e, in, n) == 0);
		/* the heap form, of a string (no NUL inside) */
		for (size_t i = 0; i < n; i++)
			if (!in[i])
				in[i] = '%';
		in[n] = '\0';
		dup = ctlp_escape_dup(in);
		CHECK(dup);
		CHECK_INT_EQ(ctlp_unescape(dup, false), n);
		CHECK(memcmp(dup, in, n) == 0);
		free(dup);
	}
}

static void test_unescape_malformed(void)
{
	static const char *const bad[] = { "%", "a%", "%4", "%4g", "%g4", "x%zz", "%%41",
					   "%\xc3\xa9", "ok%2", NULL };

	for (size_t i = 0; bad[i]; i++) {
		char s[32], t[32];

		snprintf(s, sizeof s, "%s", bad[i]);
		CHECK_MSG(ctlp_unescape(s, true) == -1, "\"%s\" accepted", bad[i]);
		/* not strict: what cannot be decoded stays as it was */
		snprintf(t, sizeof t, "%s", bad[i]);
		CHECK(ctlp_unescape(t, false) >= 0);
	}
	{
		char s[] = "%4g%41%", t[] = "%41%2";

		CHECK_INT_EQ(ctlp_unescape(s, false), 5);
		CHECK_STR_EQ(s, "%4gA%");
		CHECK_INT_EQ(ctlp_unescape(t, false), 3);
		CHECK_STR_EQ(t, "A%2");
	}
	{
		char s[] = "a%2fB%2FC%20";	/* either case of hex digits */

		CHECK_INT_EQ(ctlp_unescape(s, true), 6);
		CHECK_STR_EQ(s, "a/B/C ");
	}
}

/* ---- fields and lines ---- */

static void test_kv(void)
{
	char *mem = NULL, buf[64];
	size_t memlen = 0;
	FILE *f = open_memstream(&mem, &memlen);

	CHECK(f);
	fputs("STATE", f);
	ctlp_put_kv(f, "path", "a b/c%d", 7);
	ctlp_put_kv(f, "etag", "", 0);
	ctlp_put_kv(f, "detail", "line\nbreak", 10);
	fputc('\n', f);
	fclose(f);
	CHECK_STR_EQ(mem, "STATE path=a%20b/c%25d etag=- detail=line%0Abreak\n");
	CHECK(ctlp_field_s(mem, "path", buf, sizeof buf));
	CHECK_STR_EQ(buf, "a b/c%d");
	CHECK(ctlp_field_s(mem, "etag", buf, sizeof buf));
	CHECK_STR_EQ(buf, "");
	CHECK(ctlp_field_s(mem, "detail", buf, sizeof buf));
	CHECK_STR_EQ(buf, "line\nbreak");
	CHECK(!ctlp_field_s(mem, "missing", buf, sizeof buf));
	CHECK_STR_EQ(buf, "line\nbreak");	/* untouched */
	/* truncated to the buffer */
	CHECK(ctlp_field_s(mem, "path", buf, 4));
	CHECK_STR_EQ(buf, "a%2");
	free(mem);
}

static void test_fields(void)
{
	const char *line = "OK synced=0 dirty=12 undirty=7 deletes=3 conflict_key=x%20y\n";
	const char *v;
	size_t len;

	CHECK_U64_EQ(ctlp_field_u(line, "dirty"), 12);	/* not undirty's */
	CHECK_U64_EQ(ctlp_field_u(line, "undirty"), 7);
	CHECK_U64_EQ(ctlp_field_u(line, "deletes"), 3);
	CHECK_U64_EQ(ctlp_field_u(line, "synced"), 0);
	CHECK_U64_EQ(ctlp_field_u(line, "absent"), 0);
	CHECK_U64_EQ(ctlp_field_u("x=18446744073709551615", "x"), UINT64_MAX);
	CHECK(ctlp_field(line, "conflict_key", &v, &len));
	CHECK_INT_EQ(len, 5);	/* ends at the "\n" */
	CHECK(strncmp(v, "x%20y", len) == 0);
	CHECK(!ctlp_field(line, "conflict", &v, &len));	/* a prefix of a key is not the key */
	CHECK(!ctlp_field(line, "OK", &v, &len));
	CHECK(ctlp_field("a=1", "a", &v, &len) && len == 1);	/* at the line's start */
	CHECK(!ctlp_field("xa=1", "a", &v, &len));
}

static void test_line_kind(void)
{
	static const struct {
		const char *line;
		enum ctlp_kind kind;
	} cases[] = {
		{ "OK\n", CTLP_OK }, { "OK pong", CTLP_OK }, { "ERR unknown request\n", CTLP_ERR },
		{ "ERR", CTLP_ERR }, { "ETAG abc x\n", CTLP_DATA }, { "EXPORT id=1", CTLP_DATA },
		{ "O", CTLP_DATA }, { "", CTLP_DATA }, { " OK", CTLP_DATA },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		CHECK_MSG(ctlp_line_kind(cases[i].line) == cases[i].kind, "\"%s\": %d", cases[i].line,
			  (int)ctlp_line_kind(cases[i].line));
	CHECK(ctlp_busy("ERR busy: too many control connections open, try again\n"));
	CHECK(ctlp_busy(CTLP_BUSY));
	CHECK(!ctlp_busy("ERR bus"));
	CHECK(!ctlp_busy("OK busy"));
}

/* ---- the daemon's end: the request line ---- */

struct writer {
	int fd;
	const char *data;
	size_t len;
	int pause_ms;		/* between the two halves */
	bool close_after;
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;
	size_t half = w->len / 2;

	if (half && write(w->fd, w->data, half) != (ssize_t)half)
		return NULL;
	if (w->pause_ms)
		usleep((useconds_t)w->pause_ms * 1000);
	if (write(w->fd, w->data + half, w->len - half) != (ssize_t)(w->len - half))
		return NULL;
	if (w->close_after)
		shutdown(w->fd, SHUT_WR);
	return NULL;
}

/* Feed data into a socket pair (in two writes, pause_ms apart), read the request. */
static int read_req(const char *data, size_t len, int pause_ms, bool close_after, int timeout_ms,
		    char *line, size_t cap)
{
	int sv[2], rc;
	struct writer w;
	pthread_t t;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	w = (struct writer){ sv[1], data, len, pause_ms, close_after };
	CHECK(pthread_create(&t, NULL, writer_run, &w) == 0);
	rc = ctlp_read_request(sv[0], line, cap, timeout_ms);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	return rc;
}

static void test_read_request(void)
{
	static char line[CTLP_LINE_MAX];

	CHECK_INT_EQ(read_req("PING\n", 5, 0, false, 1000, line, sizeof line), 0);
	CHECK_STR_EQ(line, "PING");
	/* in two pieces; what follows the "\n" is not part of it */
	CHECK_INT_EQ(read_req("LS 1 a%20b\nJUNK", 15, 20, false, 1000, line, sizeof line), 0);
	CHECK_STR_EQ(line, "LS 1 a%20b");
	/* a last line without "\n" counts when the client shuts its side */
	CHECK_INT_EQ(read_req("STATUS", 6, 0, true, 1000, line, sizeof line), 0);
	CHECK_STR_EQ(line, "STATUS");
	/* closed before any byte */
	CHECK_INT_EQ(read_req("", 0, 0, true, 1000, line, sizeof line), ECONNRESET);
	/* incomplete within the time: the client says half and waits */
	CHECK_INT_EQ(read_req("PI", 2, 0, false, 50, line, sizeof line), ETIMEDOUT);
	CHECK_INT_EQ(read_req("PING\n", 5, 400, false, 100, line, sizeof line), ETIMEDOUT);
}

/* The longest line that fits: CTLP_LINE_MAX - 2 bytes and its "\n"; one byte more is
 * refused, as by every earlier daemon. */
static void test_read_request_limit(void)
{
	static char big[CTLP_LINE_MAX + 16], line[CTLP_LINE_MAX];
	size_t n = CTLP_LINE_MAX - 2;

	memset(big, 'a', sizeof big);
	big[n] = '\n';
	CHECK_INT_EQ(read_req(big, n + 1, 0, false, 2000, line, sizeof line), 0);
	CHECK_INT_EQ(strlen(line), n);
	big[n] = 'a';
	big[n + 1] = '\n';
	CHECK_INT_EQ(read_req(big, n + 2, 0, false, 2000, line, sizeof line), EMSGSIZE);
	CHECK_INT_EQ(read_req(big, sizeof big, 0, true, 2000, line, sizeof line), EMSGSIZE);
	/* a smaller buffer, the same rule */
	CHECK_INT_EQ(read_req("abcdef\n", 7, 0, false, 1000, line, 8), 0);
	CHECK_INT_EQ(read_req("abcdefg\n", 8, 0, false, 1000, line, 8), EMSGSIZE);
}

/* ---- the client's end ---- */

struct server {
	int lfd;
	char got[256];		/* the bytes the client sent, all of them */
	size_t got_len;
	const char *answer;
	bool refuse;		/* close before reading, as a busy daemon does */
};

static void *server_run(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	ssize_t r;

	if (fd < 0)
		return NULL;
	if (s->refuse) {
		(void)!write(fd, s->answer, strlen(s->answer));
		usleep(50000);
		close(fd);
		return NULL;
	}
	while ((r = read(fd, s->got + s->got_len, sizeof s->got - 1 - s->got_len)) > 0)
		s->got_len += (size_t)r;
	(void)!write(fd, s->answer, strlen(s->answer));
	close(fd);
	return NULL;
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	CHECK(strlen(path) < sizeof sa.sun_path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	CHECK(fd >= 0);
	CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	CHECK(listen(fd, 4) == 0);
	return fd;
}

static void test_client(void)
{
	char path[512], line[256], big[300];
	struct server s = { 0 };
	const char *step = NULL;
	pthread_t t;
	FILE *in;
	int rc;

	snprintf(path, sizeof path, "%s/ctl.sock", check_tmpdir());
	s.lfd = listen_at(path);
	s.answer = "ETAG abc a%20b\nOK synced=1 files=1\n";
	CHECK(pthread_create(&t, NULL, server_run, &s) == 0);
	rc = ctlp_client_open(path, "SYNCED 1 a%20b", 5, &in, &step);
	CHECK_INT_EQ(rc, 0);
	CHECK(fgets(line, sizeof line, in));
	CHECK_STR_EQ(line, "ETAG abc a%20b\n");
	CHECK_INT_EQ(ctlp_line_kind(line), CTLP_DATA);
	CHECK(fgets(line, sizeof line, in));
	CHECK_INT_EQ(ctlp_line_kind(line), CTLP_OK);
	CHECK(!fgets(line, sizeof line, in));
	fclose(in);
	pthread_join(t, NULL);
	/* exactly the request and its "\n" */
	CHECK_INT_EQ(s.got_len, strlen("SYNCED 1 a%20b\n"));
	CHECK(memcmp(s.got, "SYNCED 1 a%20b\n", s.got_len) == 0);

	/* a busy daemon closes at once: its answer is still read */
	s = (struct server){ .lfd = s.lfd, .answer = "ERR busy: try again\n", .refuse = true };
	CHECK(pthread_create(&t, NULL, server_run, &s) == 0);
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	rc = ctlp_client_open(path, big, 5, &in, &step);
	CHECK_INT_EQ(rc, 0);
	CHECK(fgets(line, sizeof line, in));
	CHECK(ctlp_busy(line));
	fclose(in);
	pthread_join(t, NULL);
	close(s.lfd);
	unlink(path);

	/* nobody there */
	rc = ctlp_client_open(path, "PING", 0, &in, &step);
	CHECK_INT_EQ(rc, ENOENT);
	CHECK_STR_EQ(step, "connect");
	CHECK(in == NULL);
	/* a path no socket address holds */
	memset(big, 'p', sizeof big - 1);
	rc = ctlp_client_open(big, "PING", 0, &in, &step);
	CHECK_INT_EQ(rc, ENAMETOOLONG);
	CHECK_STR_EQ(step, "connect");
}

int main(void)
{
	CHECK_RUN(test_escape_every_byte);
	CHECK_RUN(test_escape_roundtrip);
	CHECK_RUN(test_unescape_malformed);
	CHECK_RUN(test_kv);
	CHECK_RUN(test_fields);
	CHECK_RUN(test_line_kind);
	CHECK_RUN(test_read_request);
	CHECK_RUN(test_read_request_limit);
	CHECK_RUN(test_client);
	return check_done();
}
