/*
 * journal.c — see journal.h.
 *
 * Appending. Several processes (ganesha with the FSAL, s3files-syncd, s3filesctl) append
 * to one file, so the sequence number cannot come from memory alone: under flock(LOCK_EX)
 * we look at the file's size, and if it is not the size we left it at, somebody else
 * appended (or crashed mid-line) and the last line is read again to learn its seq. Then
 * the line is written with one write(2) on an O_APPEND descriptor and fdatasync'ed before
 * the lock is dropped, so a seq is never handed out twice and a returned seq is on disk.
 * flock belongs to the open file description, which threads of one process share, so a
 * mutex serializes the threads of a handle first.
 *
 * Torn lines. A crash during write(2) can leave a last line without its '\n'. Every
 * complete line ends with '\n' (it is the last byte of each write), so "does not end in
 * '\n'" is exactly "torn". journal_open — and any append that finds the file changed —
 * truncates it back to the last '\n' under the lock; readers, which never lock, skip an
 * unterminated last line (it may also be an append in progress).
 *
 * Reading streams the file through a 64 KiB buffer (grown only for a longer line), so
 * big journals are never held in memory. Only the prefix {"seq":N,"time":"...","kind":"..."
 * of a line is parsed: that is all a reader needs, and it is what we always write first.
 */
#include "store/journal.h"

#include "base/err.h"
#include "base/log.h"
#include "base/buf.h"
#include "base/hex.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define JOURNAL_MAX_LINE  (16u << 20)	/* longer is corruption, not an event */
#define JOURNAL_READ_BUF  (64u << 10)
#define JOURNAL_KIND_MAX  64		/* with the NUL */

struct journal {
	char *path;
	int fd;				/* O_RDWR | O_APPEND */
	pthread_mutex_t lock;		/* serializes this handle's appends (flock does not
					   exclude threads sharing fd); protects: */
	uint64_t last_seq;		/* seq of the last line when the file was ... */
	off_t known_size;		/* ... this long; -1: unknown */
};

/* ------------------------------------------------------------------------------------
 * Growing buffer.
 */

/* ------------------------------------------------------------------------------------
 * UTF-8 and JSON strings.
 */

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629 table 3-7), 0 if none:
 * no overlongs (C0, C1, E0 80..9F, F0 80..8F), no surrogates (ED A0..BF), nothing above
 * U+10FFFF (F4 90.., F5..FF), no lone continuation bytes, no truncated sequences.
 */
static size_t journal_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		len = 2;
	} else if (c < 0xF0) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c < 0xF5) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

static bool journal_utf8_valid(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = journal_utf8_len(s + i, n - i);

		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

/* "..." with JSON escapes; each byte that is not part of valid UTF-8 becomes U+FFFD. */
static void journal_put_string(struct buf *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	(void)buf_reserve(b, n + 2);
	buf_add(b, "\"", 1);
	for (size_t i = 0; i < n;) {
		size_t l = journal_utf8_len(s + i, n - i);

		if (l == 0) {
			buf_add(b, "\xEF\xBF\xBD", 3);
			i++;
			continue;
		}
		if (l == 1) {
			unsigned char c = s[i];

			if (c == '"')
				buf_add(b, "\\\"", 2);
			else if (c == '\\')
				buf_add(b, "\\\\", 2);
			else if (c < 0x20 || c == 0x7F)
				buf_addf(b, "\\u%04x", c);
			else
				buf_add(b, &s[i], 1);
		} else {
			buf_add(b, &s[i], l);
		}
		i += l;
	}
	buf_add(b, "\"", 1);
}

static void journal_put_hex(struct buf *b, const char *str, size_t n)
{
	if (!buf_reserve(b, 2 * n + 2))
		return;
	buf_addc(b, '"');
	hex_encode(str, n, b->p + b->len);
	b->len += 2 * n;
	buf_addc(b, '"');
}

/* ,"name":value — and ,"name_hex":"..." when a string is not valid UTF-8. */
static void journal_put_field(struct buf *b, const struct journal_field *f)
{
	const char *s = f->str;
	size_t n = 0;

	buf_add(b, ",", 1);
	journal_put_string(b, f->name, strlen(f->name));
	buf_add(b, ":", 1);
	switch (f->type) {
	case JF_U64:
		buf_addf(b, "%" PRIu64, f->u64);
		return;
	case JF_I64:
		buf_addf(b, "%" PRId64, f->i64);
		return;
	case JF_STR:
		n = s ? strlen(s) : 0;
		break;
	case JF_BYTES:
		n = s ? f->len : 0;
		break;
	}
	journal_put_string(b, s ? s : "", n);
	if (!journal_utf8_valid((const unsigned char *)(s ? s : ""), n)) {
		size_t nl = strlen(f->name);
		char *hn = malloc(nl + 5);

		if (!hn) {
			b->oom = true;
			return;
		}
		memcpy(hn, f->name, nl);
		memcpy(hn + nl, "_hex", 5);
		buf_add(b, ",", 1);
		journal_put_string(b, hn, nl + 4);
		buf_add(b, ":", 1);
		journal_put_hex(b, s, n);
		free(hn);
	}
}

/* ------------------------------------------------------------------------------------
 * Reading a line's prefix.
 */

/* {"seq":N,"time":"...","kind":"..." → seq and the kind decoded into kind[kindlen]. */
static int journal_parse_prefix(const char *line, size_t len, uint64_t *seq, char *kind,
				size_t kindlen)
{
	static const char p_seq[] = "{\"seq\":", p_time[] = ",\"time\":\"",
			  p_kind[] = "\",\"kind\":\"";
	const char *p = line, *end = line + len;
	uint64_t v = 0;
	size_t k = 0;

	if (len < sizeof p_seq || memcmp(p, p_seq, sizeof p_seq - 1) != 0)
		return S3F_E_JOURNAL_CORRUPT;
	p += sizeof p_seq - 1;
	if (p >= end || *p < '1' || *p > '9')
		return S3F_E_JOURNAL_CORRUPT;
	while (p < end && *p >= '0' && *p <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return S3F_E_JOURNAL_CORRUPT;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	if ((size_t)(end - p) < sizeof p_time - 1 || memcmp(p, p_time, sizeof p_time - 1) != 0)
		return S3F_E_JOURNAL_CORRUPT;
	p += sizeof p_time - 1;
	while (p < end && *p != '"')
		p++;
	if ((size_t)(end - p) < sizeof p_kind - 1 || memcmp(p, p_kind, sizeof p_kind - 1) != 0)
		return S3F_E_JOURNAL_CORRUPT;
	p += sizeof p_kind - 1;
	/* kinds are identifiers (journal_kind_ok): no escapes to decode */
	for (; p < end && *p != '"'; p++) {
		if (*p == '\\' || k + 1 >= kindlen)
			return S3F_E_JOURNAL_CORRUPT;
		kind[k++] = *p;
	}
	if (p >= end || end[-1] != '}')
		return S3F_E_JOURNAL_CORRUPT;
	kind[k] = '\0';
	*seq = v;
	return 0;
}

static int journal_pread_full(int fd, char *buf, size_t n, off_t off)
{
	while (n > 0) {
		ssize_t r = pread(fd, buf, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno;
		if (r == 0)
			return EIO;	/* shorter than fstat said: truncated under us */
		buf += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/*
 * The seq of the last complete line of a file of size bytes, and where that line ends
 * (*good_end < size means a torn tail). Reads backwards, doubling the window until it
 * holds the whole last line.
 */
static int journal_tail(int fd, off_t size, uint64_t *last_seq, off_t *good_end)
{
	size_t want = 4096;
	char *buf = NULL;
	int rc = 0;

	*last_seq = 0;
	*good_end = 0;
	while (size > 0) {
		size_t n = (off_t)want < size ? want : (size_t)size;
		off_t start = size - (off_t)n;
		size_t end, ls;
		char *nb, kind[JOURNAL_KIND_MAX];

		nb = realloc(buf, n);
		if (!nb) {
			rc = ENOMEM;
			goto out;
		}
		buf = nb;
		rc = journal_pread_full(fd, buf, n, start);
		if (rc)
			goto out;
		end = n;
		while (end > 0 && buf[end - 1] != '\n')
			end--;
		if (end == 0 && start > 0)
			goto grow;	/* torn tail longer than the window */
		if (end == 0)
			goto out;	/* no complete line at all */
		ls = end - 1;
		while (ls > 0 && buf[ls - 1] != '\n')
			ls--;
		if (ls == 0 && start > 0)
			goto grow;	/* last line starts before the window */
		rc = journal_parse_prefix(buf + ls, end - 1 - ls, last_seq, kind, sizeof kind);
		if (rc)
			goto out;
		*good_end = start + (off_t)end;
		goto out;
grow:
		if (want >= JOURNAL_MAX_LINE * 2) {
			rc = S3F_E_JOURNAL_CORRUPT;
			goto out;
		}
		want *= 2;
	}
out:
	free(buf);
	return rc;
}

/* Under the flock: bring last_seq up to date with the file, repairing a torn tail. */
static int journal_sync_tail(struct journal *j)
{
	struct stat st;
	uint64_t seq;
	off_t good;
	int rc;

	if (fstat(j->fd, &st) != 0)
		return errno;
	if (st.st_size == j->known_size)
		return 0;
	rc = journal_tail(j->fd, st.st_size, &seq, &good);
	if (rc)
		return rc;
	if (good < st.st_size) {
		if (ftruncate(j->fd, good) != 0)
			return errno;
		if (fdatasync(j->fd) != 0)
			return errno;
		LOG_WARN(LOG_C_JOURNAL, "%s: dropped a torn last line (%lld bytes) left by a crash",
			 j->path, (long long)(st.st_size - good));
	}
	j->last_seq = seq;
	j->known_size = good;
	return 0;
}

static int journal_flock(int fd, int op)
{
	while (flock(fd, op) != 0) {
		if (errno != EINTR)
			return errno;
	}
	return 0;
}

/* ------------------------------------------------------------------------------------
 * API.
 */

/* Kinds are identifiers, so readers can match them without decoding JSON. */
static bool journal_kind_ok(const char *kind)
{
	size_t n = 0;

	if (!kind)
		return false;
	for (; kind[n]; n++) {
		char c = kind[n];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return n > 0 && n < JOURNAL_KIND_MAX;
}

/* fsync the directory so a newly created journal survives a crash. */
static void journal_sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;

	if (!slash)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

int journal_open(const char *path, struct journal **out)
{
	struct journal *j;
	bool created = false;
	int rc;

	*out = NULL;
	j = calloc(1, sizeof *j);
	if (!j)
		return ENOMEM;
	j->known_size = -1;
	j->path = strdup(path);
	if (!j->path) {
		rc = ENOMEM;
		goto fail_alloc;
	}
	j->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (j->fd >= 0)
		created = true;
	else if (errno == EEXIST)
		j->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (j->fd < 0) {
		rc = errno;
		goto fail_path;
	}
	if (created)
		journal_sync_dir(path);
	rc = pthread_mutex_init(&j->lock, NULL);
	if (rc)
		goto fail_fd;

	rc = journal_flock(j->fd, LOCK_EX);
	if (rc)
		goto fail_mutex;
	rc = journal_sync_tail(j);
	(void)journal_flock(j->fd, LOCK_UN);
	if (rc) {
		LOG_ERROR(LOG_C_JOURNAL, "%s: cannot open: %s", path, s3f_strerror(rc));
		goto fail_mutex;
	}
	*out = j;
	return 0;

fail_mutex:
	pthread_mutex_destroy(&j->lock);
fail_fd:
	close(j->fd);
fail_path:
	free(j->path);
fail_alloc:
	free(j);
	return rc;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	pthread_mutex_destroy(&j->lock);
	close(j->fd);
	free(j->path);
	free(j);
}

int journal_append(struct journal *j, const char *kind, const struct journal_field *fields,
		   size_t n, uint64_t *seq)
{
	struct buf body = { 0 }, line = { 0 };
	struct timespec ts;
	struct tm tm;
	off_t start;
	size_t done = 0;
	int rc;

	if (!j || !journal_kind_ok(kind) || (n && !fields))
		return EINVAL;
	for (size_t i = 0; i < n; i++) {
		const char *nm = fields[i].name;

		if (!nm || !*nm || strcmp(nm, "seq") == 0 || strcmp(nm, "time") == 0 ||
		    strcmp(nm, "kind") == 0)
			return EINVAL;
	}

	/* everything after "time" is built before taking the lock */
	buf_adds(&body, ",\"kind\":");
	journal_put_string(&body, kind, strlen(kind));
	for (size_t i = 0; i < n; i++)
		journal_put_field(&body, &fields[i]);
	buf_adds(&body, "}\n");
	if (body.oom) {
		rc = ENOMEM;
		goto out_body;
	}

	pthread_mutex_lock(&j->lock);
	rc = journal_flock(j->fd, LOCK_EX);
	if (rc)
		goto out_mutex;
	rc = journal_sync_tail(j);
	if (rc)
		goto out_unlock;

	/* time under the lock, so times follow seqs */
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	buf_addf(&line, "{\"seq\":%" PRIu64 ",", j->last_seq + 1);
	buf_addf(&line, "\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\"", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	buf_add(&line, body.p, body.len);
	if (line.oom) {
		rc = ENOMEM;
		goto out_unlock;
	}

	start = j->known_size;
	while (done < line.len) {
		ssize_t w = write(j->fd, line.p + done, line.len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rc = errno;
			break;
		}
		done += (size_t)w;
	}
	if (rc == 0 && fdatasync(j->fd) != 0)
		rc = errno;
	if (rc) {
		/* leave no torn line behind us (ENOSPC, EIO) */
		if (done > 0 && ftruncate(j->fd, start) != 0)
			j->known_size = -1;
		LOG_ERROR(LOG_C_JOURNAL, "%s: append failed: %s", j->path, strerror(rc));
		goto out_unlock;
	}
	j->last_seq++;
	j->known_size = start + (off_t)line.len;
	if (seq)
		*seq = j->last_seq;
out_unlock:
	(void)journal_flock(j->fd, LOCK_UN);
out_mutex:
	pthread_mutex_unlock(&j->lock);
	free(line.p);
out_body:
	free(body.p);
	return rc;
}

int journal_read(const char *path, uint64_t from_seq, journal_read_fn cb, void *arg)
{
	size_t cap = JOURNAL_READ_BUF, have = 0;
	char *buf;
	bool eof = false;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	buf = malloc(cap);
	if (!buf) {
		close(fd);
		return ENOMEM;
	}
	while (!eof) {
		size_t off = 0;
		ssize_t r;

		if (have == cap) {
			/* one line fills the buffer: grow (it doubles), within reason */
			if (cap >= JOURNAL_MAX_LINE) {
				rc = S3F_E_JOURNAL_CORRUPT;
				break;
			}
			rc = BUF_GROW(&buf, &cap, cap + 1);
			if (rc)
				break;
		}
		r = read(fd, buf + have, cap - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = errno;
			break;
		}
		if (r == 0)
			eof = true;	/* what is left has no '\n': torn or in progress */
		have += (size_t)r;

		for (;;) {
			char *nl = memchr(buf + off, '\n', have - off);
			size_t len;
			uint64_t seq;
			char kind[JOURNAL_KIND_MAX];

			if (!nl)
				break;
			len = (size_t)(nl - (buf + off));
			*nl = '\0';
			rc = journal_parse_prefix(buf + off, len, &seq, kind, sizeof kind);
			if (rc)
				goto out;
			if (seq >= from_seq) {
				rc = cb(arg, seq, kind, buf + off, len);
				if (rc)
					goto out;
			}
			off += len + 1;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
out:
	free(buf);
	close(fd);
	return rc;
}

struct journal_counter {
	const char *kind;
	uint64_t n;
};

static int journal_count_cb(void *arg, uint64_t seq, const char *kind, const char *line, size_t len)
{
	struct journal_counter *c = arg;

	(void)seq;
	(void)line;
	(void)len;
	if (!c->kind || strcmp(c->kind, kind) == 0)
		c->n++;
	return 0;
}

int journal_count(const char *path, const char *kind, uint64_t *count)
{
	struct journal_counter c = { .kind = kind };
	int rc = journal_read(path, 0, journal_count_cb, &c);

	if (rc == 0)
		*count = c.n;
	return rc;
}
