/*
 * test_s3_rgw.c — the S3 client against the real Ceph RGW started by test/run.sh
 * (settings in $RGW_TEST_DIR/env). Every case works under its own key prefix
 * test-s3-rgw/<pid>/<case>/ and deletes what it created; the last case checks that
 * nothing was left behind. Results are checked with independent means where it matters
 * (plain curl for presigned URLs, byte comparison of what was written).
 */
#include "check.h"
#include "base/err.h"
#include "s3/s3.h"
#include "s3/s3_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

static struct check_rgw rgw;
static char prefix[128];
static struct s3_client *C;

/* observer totals (called on the I/O thread) */
static atomic_uint obs_calls;
static atomic_ullong obs_sent, obs_recv;

static void observer(void *arg, const struct s3_call_stats *st)
{
	(void)arg;
	atomic_fetch_add(&obs_calls, 1);
	atomic_fetch_add(&obs_sent, st->bytes_sent);
	atomic_fetch_add(&obs_recv, st->bytes_received);
}

static void cfg_init(struct s3_config *cfg)
{
	check_rgw_s3_config(&rgw, cfg);
	cfg->observer = observer;
}

static char *K(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* prefix + formatted suffix, in a rotating set of static buffers */
static char *K(const char *fmt, ...)
{
	static char bufs[8][1200];
	static int i;
	char *b = bufs[i++ & 7];
	va_list ap;
	int n = snprintf(b, sizeof bufs[0], "%s", prefix);

	va_start(ap, fmt);
	vsnprintf(b + n, sizeof bufs[0] - (size_t)n, fmt, ap);
	va_end(ap);
	return b;
}

static int tmpfile_fd(const char *name, size_t size, unsigned seed, char *path_out, size_t cap)
{
	char path[4200];
	char *buf = malloc(1 << 20);
	int fd;

	snprintf(path, sizeof path, "%s/%s", check_tmpdir(), name);
	if (path_out)
		snprintf(path_out, cap, "%s", path);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	for (size_t off = 0; fd >= 0 && buf && off < size; off += 1 << 20) {
		size_t n = size - off < (1 << 20) ? size - off : (1 << 20);

		check_fill(buf, n, seed + (unsigned)(off >> 20));
		if (pwrite(fd, buf, n, (off_t)off) != (ssize_t)n) {
			close(fd);
			fd = -1;
		}
	}
	free(buf);
	return fd;
}

static bool fd_equal(int a, uint64_t aoff, int b, uint64_t boff, uint64_t len)
{
	char *x = malloc(1 << 20), *y = malloc(1 << 20);
	bool same = x && y;

	for (uint64_t o = 0; same && o < len; o += 1 << 20) {
		size_t n = len - o < (1 << 20) ? (size_t)(len - o) : (1 << 20);

		same = pread(a, x, n, (off_t)(aoff + o)) == (ssize_t)n &&
		       pread(b, y, n, (off_t)(boff + o)) == (ssize_t)n && memcmp(x, y, n) == 0;
	}
	free(x);
	free(y);
	return same;
}

/* Every key under p (recursive), sorted as S3 returns them. */
static size_t list_all(const char *p, char ***keys_out, unsigned max_keys, unsigned *pages)
{
	struct s3_list_req req = { .prefix = p, .max_keys = max_keys };
	char **keys = NULL, *token = NULL;
	size_t n = 0;

	if (pages)
		*pages = 0;
	do {
		struct s3_list_page pg;

		req.continuation_token = token;
		int rc = s3_list(C, &req, &pg);

		free(token);
		token = NULL;
		CHECK_OK(rc);
		if (pages)
			(*pages)++;
		keys = realloc(keys, (n + pg.n_entries + 1) * sizeof *keys);
		for (size_t i = 0; i < pg.n_entries; i++) {
			keys[n++] = pg.entries[i].key;
			pg.entries[i].key = NULL;
		}
		if (pg.truncated) {
			token = pg.next_token;
			pg.next_token = NULL;
		}
		s3_list_page_free(&pg);
	} while (token);
	if (keys_out)
		*keys_out = keys;
	else {
		for (size_t i = 0; i < n; i++)
			free(keys[i]);
		free(keys);
	}
	return n;
}

static void free_keys(char **keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

/* ---- cases ---- */

static bool has_meta(const struct s3_object_info *i, const char *name, const char *value)
{
	for (unsigned k = 0; k < i->n_meta; k++)
		if (strcmp(i->meta[k].name, name) == 0 && strcmp(i->meta[k].value, value) == 0)
			return true;
	return false;
}


static void test_roundtrip_buf(void)
{
	char *data = malloc(100000), *key = K("rt/buf");
	struct s3_object_info out, hi, gi;
	struct s3_buf b = { 0 };
	struct s3_meta_pair meta[2] = { { "mode", "0100644" }, { "Owner-UID", "1000" } };
	struct s3_put_opts opts = { .content_type = "text/plain", .n_meta = 2, .meta = meta };

	check_fill(data, 100000, 1);
	CHECK_OK(s3_object_put_buf(C, key, data, 100000, &opts, &out));
	CHECK(strlen(out.etag) == 32);
	CHECK_OK(s3_object_head(C, key, &hi));
	CHECK_U64_EQ(hi.size, 100000);
	CHECK_STR_EQ(hi.etag, out.etag);
	CHECK_STR_EQ(hi.content_type, "text/plain");
	CHECK(hi.last_modified > 1600000000);
	CHECK_INT_EQ(hi.n_meta, 2);
	bool m1 = false, m2 = false;
	for (unsigned i = 0; i < hi.n_meta; i++) {
		m1 |= strcmp(hi.meta[i].name, "mode") == 0 && strcmp(hi.meta[i].value, "0100644") == 0;
		m2 |= strcmp(hi.meta[i].name, "owner-uid") == 0 && strcmp(hi.meta[i].value, "1000") == 0;
	}
	CHECK(m1 && m2);
	CHECK_OK(s3_object_get_buf(C, key, 0, UINT64_MAX, &b, NULL, &gi));
	bool same = b.len == 100000 && memcmp(b.data, data, 100000) == 0;
	free(b.data);
	free(data);
	CHECK(same);
	CHECK_STR_EQ(gi.etag, out.etag);
	CHECK_U64_EQ(gi.size, 100000);
	CHECK_OK(s3_object_delete(C, key));
	CHECK_INT_EQ(s3_object_head(C, key, &hi), ENOENT);
	CHECK_OK(s3_object_delete(C, key));	/* deleting a missing key is fine */
	/* an empty object */
	CHECK_OK(s3_object_put_buf(C, key, NULL, 0, NULL, &out));
	CHECK_STR_EQ(out.etag, "d41d8cd98f00b204e9800998ecf8427e");
	b = (struct s3_buf){ 0 };
	CHECK_OK(s3_object_get_buf(C, key, 0, UINT64_MAX, &b, NULL, &gi));
	free(b.data);
	CHECK_U64_EQ(b.len, 0);
	CHECK_U64_EQ(gi.size, 0);
	CHECK_OK(s3_object_delete(C, key));
}

/* Metadata that would not come back unchanged is refused before any request. */
static void test_meta_validation(void)
{
	static const struct s3_meta_pair bad[] = {
		{ "", "x" }, { "a b", "x" }, { "a:b", "x" }, { "under_score", "x" }, { "ok", " lead" }, { "ok", "trail " },
		{ "ok", "two  spaces" }, { "ok", "nl\nx" }, { "ok", "caf\xc3\xa9" },
	};
	struct s3_meta_pair good[2] = { { "Mixed-Case-1", "a b=c;d" }, { "e", "" } };
	struct s3_put_opts o = { .n_meta = 1 };
	struct s3_object_info hi;
	unsigned calls = atomic_load(&obs_calls);

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		o.meta = &bad[i];
		CHECK_MSG(s3_object_put_buf(C, K("meta/x"), "x", 1, &o, NULL) == EINVAL, "case %zu", i);
	}
	o.content_type = "text/plain\r\nX-Evil: 1";
	o.meta = good;
	CHECK_INT_EQ(s3_object_put_buf(C, K("meta/x"), "x", 1, &o, NULL), EINVAL);
	o.content_type = NULL;
	o.n_meta = S3_META_MAX + 1;
	CHECK_INT_EQ(s3_object_put_buf(C, K("meta/x"), "x", 1, &o, NULL), EINVAL);
	CHECK_INT_EQ(atomic_load(&obs_calls), calls);	/* nothing was sent */
	o.n_meta = 2;
	CHECK_OK(s3_object_put_buf(C, K("meta/x"), "x", 1, &o, NULL));
	CHECK_OK(s3_object_head(C, K("meta/x"), &hi));
	CHECK(has_meta(&hi, "mixed-case-1", "a b=c;d"));
	CHECK(has_meta(&hi, "e", ""));
	CHECK_OK(s3_object_delete(C, K("meta/x")));
}

static void test_roundtrip_fd(void)
{
	char *key = K("rt/fd");
	int src = tmpfile_fd("src", (3 << 20) + 4096 + 123, 2, NULL, 0);
	int dst = tmpfile_fd("dst", 0, 0, NULL, 0);
	uint64_t got = 0;
	struct s3_object_info out, gi;

	CHECK(src >= 0 && dst >= 0);
	/* a range of the file: [4096, 4096 + 3 MiB) */
	CHECK_OK(s3_object_put_fd(C, key, src, 4096, 3 << 20, NULL, &out));
	CHECK_OK(s3_object_get_fd(C, key, 0, UINT64_MAX, dst, 777, NULL, &got, &gi));
	CHECK_U64_EQ(got, 3 << 20);
	CHECK_U64_EQ(gi.size, 3 << 20);
	CHECK_STR_EQ(gi.etag, out.etag);
	CHECK(fd_equal(src, 4096, dst, 777, 3 << 20));
	close(src);
	close(dst);
	CHECK_OK(s3_object_delete(C, key));
}

static void test_ranged_get(void)
{
	char *key = K("range/obj");
	char data[10000], small[16];
	struct s3_buf b = { 0 }, fixed = { .data = small, .cap = sizeof small, .fixed = true };
	struct s3_object_info gi;

	check_fill(data, sizeof data, 3);
	CHECK_OK(s3_object_put_buf(C, key, data, sizeof data, NULL, NULL));
	static const struct { uint64_t off, len, want; } cases[] = {
		{ 0, 1, 1 }, { 1000, 500, 500 }, { 9990, UINT64_MAX, 10 }, { 9995, 100, 5 },
		{ 0, 10000, 10000 }, { 0, 20000, 10000 }, { 10000, 10, 0 }, { 50000, UINT64_MAX, 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int rc = s3_object_get_buf(C, key, cases[i].off, cases[i].len, &b, NULL, &gi);
		bool ok = rc == 0 && b.len == cases[i].want &&
			  (b.len == 0 || memcmp(b.data, data + cases[i].off, b.len) == 0);

		CHECK_MSG(ok, "range %zu: rc %d len %zu", i, rc, b.len);
		if (cases[i].want)
			CHECK_U64_EQ(gi.size, 10000);
	}
	free(b.data);
	CHECK_OK(s3_object_get_buf(C, key, 100, 16, &fixed, NULL, NULL));
	CHECK_MEM_EQ(small, data + 100, 16);
	CHECK_INT_EQ(s3_object_get_buf(C, key, 0, 17, &fixed, NULL, NULL), EOVERFLOW);
	CHECK_OK(s3_object_delete(C, key));
}

static void test_get_missing(void)
{
	struct s3_buf b = { 0 };
	struct s3_object_info i;
	uint64_t got = 1;

	CHECK_INT_EQ(s3_object_get_buf(C, K("missing/x"), 0, UINT64_MAX, &b, NULL, NULL), ENOENT);
	CHECK_INT_EQ(s3_object_get_fd(C, K("missing/x"), 0, 10, 1, 0, NULL, &got, NULL), ENOENT);
	CHECK_U64_EQ(got, 0);
	CHECK_INT_EQ(s3_object_head(C, K("missing/x"), &i), ENOENT);
	free(b.data);
}

static void test_list_delimiter(void)
{
	const char *names[] = { "a/1", "a/2", "a/b/3", "c", "d/e/f" };
	struct s3_list_page pg;
	char p[1200];

	snprintf(p, sizeof p, "%s", K("ld/"));

	for (size_t i = 0; i < 5; i++)
		CHECK_OK(s3_object_put_buf(C, K("ld/%s", names[i]), "x", 1, NULL, NULL));
	struct s3_list_req req = { .prefix = p, .delimiter = "/" };
	CHECK_OK(s3_list(C, &req, &pg));
	char got[1024];
	snprintf(got, sizeof got, "%zu entries (%s %" PRIu64 " %s), %zu prefixes (%s, %s), %s",
		 pg.n_entries, pg.n_entries ? pg.entries[0].key : "-",
		 pg.n_entries ? pg.entries[0].size : 0, pg.n_entries ? pg.entries[0].etag : "-",
		 pg.n_prefixes, pg.n_prefixes > 0 ? pg.prefixes[0] : "-",
		 pg.n_prefixes > 1 ? pg.prefixes[1] : "-", pg.truncated ? "truncated" : "complete");
	int ok = pg.n_entries == 1 && strcmp(pg.entries[0].key, K("ld/c")) == 0 &&
		 pg.entries[0].size == 1 && strlen(pg.entries[0].etag) == 32 &&
		 pg.n_prefixes == 2 && strcmp(pg.prefixes[0], K("ld/a/")) == 0 &&
		 strcmp(pg.prefixes[1], K("ld/d/")) == 0 && !pg.truncated;
	s3_list_page_free(&pg);
	CHECK_MSG(ok, "%s", got);
	req.prefix = K("ld/a/");
	CHECK_OK(s3_list(C, &req, &pg));
	ok = pg.n_entries == 2 && pg.n_prefixes == 1 && strcmp(pg.prefixes[0], K("ld/a/b/")) == 0;
	s3_list_page_free(&pg);
	CHECK(ok);
	/* start-after skips up to and including that key */
	req = (struct s3_list_req){ .prefix = p, .start_after = K("ld/a/b/3") };
	CHECK_OK(s3_list(C, &req, &pg));
	ok = pg.n_entries == 2 && strcmp(pg.entries[0].key, K("ld/c")) == 0 &&
	     strcmp(pg.entries[1].key, K("ld/d/e/f")) == 0;
	s3_list_page_free(&pg);
	CHECK(ok);
	for (size_t i = 0; i < 5; i++)
		CHECK_OK(s3_object_delete(C, K("ld/%s", names[i])));
	CHECK_INT_EQ(list_all(p, NULL, 0, NULL), 0);
}

/* 1,500 keys (written with s3_batch), listed in pages of 100: each seen exactly once. */
static void test_list_pagination(void)
{
	enum { N = 1500 };
	char **keys = calloc(N, sizeof *keys), **listed = NULL;
	int *rcs = calloc(N, sizeof *rcs), *del = calloc(N, sizeof *del);
	unsigned pages = 0;
	size_t n;

	CHECK(keys && rcs && del);
	for (int i = 0; i < N; i++)
		keys[i] = strdup(K("pg/k%05d", i));
	for (int i = 0; i < N; i += 100) {
		struct s3_batch *b;

		CHECK_OK(s3_batch_open(C, &b));
		for (int k = i; k < i + 100; k++)
			CHECK_OK(s3_batch_put_buf(b, keys[k], keys[k], strlen(keys[k]), NULL, NULL,
						  &rcs[k]));
		CHECK_OK(s3_batch_wait(b));
	}
	n = list_all(K("pg/"), &listed, 100, &pages);
	bool ok = n == N && pages == 15;
	for (size_t i = 0; ok && i < n; i++)
		ok = strcmp(listed[i], keys[i]) == 0;	/* sorted, no duplicates, none missing */
	free_keys(listed, n);
	int rc = s3_objects_delete(C, (const char *const *)keys, N, del);
	free_keys(keys, N);
	free(rcs);
	free(del);
	CHECK_MSG(ok, "listed %zu keys in %u pages", n, pages);
	CHECK_OK(rc);
	CHECK_INT_EQ(list_all(K("pg/"), NULL, 0, NULL), 0);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keys with every kind of byte S3 allows: PUT -> LIST -> GET -> DELETE. */
static void test_key_bytes(void)
{
	static const char *const tails[] = {
		"space in name", "plus+sign", "eq=ual", "pct%25%", "tilde~", "caf\xc3\xa9 \xe1\x88\xb4",
		("ctl\x01" "a"), "tab\there", "nl\nhere", "a//b", "/lead", "a/./b", "a/../b", "trail/",
		"./x", "../y", ".", "..", "q?uery#frag&amp;", "star*", "quote'\"<>", "del\x7f",
		"back\\slash", "semi;colon,comma", "~!@$^()[]{}|`", "x  two  spaces ",
	};
	enum { NT = sizeof tails / sizeof tails[0] };
	char *keys[NT + 1], **listed = NULL, **sorted;
	char longkey[S3_KEY_MAX + 1];
	int res[NT + 1];
	size_t n, nk = 0;

	for (size_t i = 0; i < NT; i++)
		keys[nk++] = strdup(K("kb/%s", tails[i]));
	/* exactly 1,024 bytes */
	snprintf(longkey, sizeof longkey, "%s", K("kb/long-"));
	for (size_t i = strlen(longkey); i < S3_KEY_MAX; i++)
		longkey[i] = (char)('a' + i % 26);
	longkey[S3_KEY_MAX] = '\0';
	keys[nk++] = strdup(longkey);
	for (size_t i = 0; i < nk; i++) {
		int rc = s3_object_put_buf(C, keys[i], keys[i], strlen(keys[i]), NULL, NULL);

		CHECK_MSG(rc == 0, "PUT of key %zu (%s): %s", i, keys[i], s3f_strerror(rc));
	}
	n = list_all(K("kb/"), &listed, 0, NULL);
	sorted = malloc(nk * sizeof *sorted);
	memcpy(sorted, keys, nk * sizeof *sorted);
	qsort(sorted, nk, sizeof *sorted, str_cmp);
	bool ok = n == nk;
	size_t bad = 0;
	for (size_t i = 0; ok && i < n; i++)
		if (strcmp(listed[i], sorted[i]) != 0) {
			ok = false;
			bad = i;
		}
	if (!ok) {
		char msg[512];

		snprintf(msg, sizeof msg, "listed %zu of %zu keys; first difference at %zu: %s", n, nk,
			 bad, bad < n ? listed[bad] : "-");
		free_keys(listed, n);
		free(sorted);
		CHECK_MSG(false, "%s", msg);
	}
	free_keys(listed, n);
	/* one key per page: RGW's continuation tokens then carry the raw keys, control
	 * characters included ("&#x01;" in its XML) */
	unsigned pages = 0;
	n = list_all(K("kb/"), &listed, 1, &pages);
	ok = n == nk && pages >= nk;
	for (size_t i = 0; ok && i < n; i++)
		ok = strcmp(listed[i], sorted[i]) == 0;
	free_keys(listed, n);
	free(sorted);
	CHECK_MSG(ok, "paged listing: %zu keys in %u pages", n, pages);
	/* and with a delimiter: "a/", "trail/", ... come back as common prefixes */
	struct s3_list_req dreq = { .prefix = K("kb/"), .delimiter = "/", .max_keys = 1 };
	char *token = NULL;
	size_t n_pref = 0, n_ent = 0;
	bool found_ctl = false;
	do {
		struct s3_list_page pg;

		dreq.continuation_token = token;
		int rc = s3_list(C, &dreq, &pg);
		free(token);
		token = NULL;
		CHECK_OK(rc);
		n_pref += pg.n_prefixes;
		n_ent += pg.n_entries;
		for (size_t i = 0; i < pg.n_entries; i++)
			found_ctl |= strstr(pg.entries[i].key, "ctl\x01" "a") != NULL;
		if (pg.truncated) {
			token = pg.next_token;
			pg.next_token = NULL;
		}
		s3_list_page_free(&pg);
	} while (token);
	CHECK(found_ctl);
	CHECK_MSG(n_pref + n_ent < nk && n_pref >= 4, "%zu prefixes, %zu keys", n_pref, n_ent);
	for (size_t i = 0; i < nk; i++) {
		struct s3_buf b = { 0 };
		int rc = s3_object_get_buf(C, keys[i], 0, UINT64_MAX, &b, NULL, NULL);
		bool same = rc == 0 && b.len == strlen(keys[i]) && memcmp(b.data, keys[i], b.len) == 0;

		free(b.data);
		CHECK_MSG(same, "GET of key %zu: rc %d", i, rc);
	}
	/* DeleteObjects: the XML-unsafe ones (\x01) go one by one */
	CHECK_OK(s3_objects_delete(C, (const char *const *)keys, nk, res));
	for (size_t i = 0; i < nk; i++)
		free(keys[i]);
	CHECK_INT_EQ(list_all(K("kb/"), NULL, 0, NULL), 0);
	/* a key above 1,024 bytes is refused before any request */
	char toolong[S3_KEY_MAX + 2];
	memset(toolong, 'k', S3_KEY_MAX + 1);
	toolong[S3_KEY_MAX + 1] = '\0';
	CHECK_INT_EQ(s3_object_put_buf(C, toolong, "x", 1, NULL, NULL), EINVAL);
}

static void test_multipart_put(void)
{
	struct s3_config cfg;
	struct s3_client *c;
	char *key = K("mpu/40m");
	int src = tmpfile_fd("src", 40 << 20, 4, NULL, 0), dst = tmpfile_fd("dst", 0, 0, NULL, 0);
	struct s3_object_info out, hi;
	struct s3_upload *ups;
	size_t n;
	uint64_t got;
	struct s3_meta_pair meta[1] = { { "mode", "0100600" } };
	struct s3_put_opts opts = { .content_type = "application/x-test", .n_meta = 1, .meta = meta };

	CHECK(src >= 0 && dst >= 0);
	cfg_init(&cfg);
	cfg.part_size = 5 << 20;
	cfg.multipart_threshold = 8 << 20;
	cfg.part_parallelism = 8;
	CHECK_OK(s3_client_open(&cfg, &c));
	int rc = s3_object_put_fd(c, key, src, 0, 40 << 20, &opts, &out);
	s3_client_close(c);
	CHECK_OK(rc);
	/* RGW sends <ETag/> on completion: the client learned it with HEAD */
	CHECK_OK(s3_object_head(C, key, &hi));
	CHECK_STR_EQ(out.etag, hi.etag);
	CHECK(strlen(hi.etag) > 3 && strcmp(hi.etag + strlen(hi.etag) - 2, "-8") == 0);
	CHECK_U64_EQ(hi.size, 40 << 20);
	CHECK_STR_EQ(hi.content_type, "application/x-test");
	CHECK(hi.n_meta == 1 && strcmp(hi.meta[0].value, "0100600") == 0);
	CHECK_OK(s3_object_get_fd(C, key, 0, UINT64_MAX, dst, 0, NULL, &got, NULL));
	CHECK_U64_EQ(got, 40 << 20);
	CHECK(fd_equal(src, 0, dst, 0, 40 << 20));
	close(src);
	close(dst);
	CHECK_OK(s3_mpu_list(C, K("mpu/"), &ups, &n));
	s3_uploads_free(ups, n);
	CHECK_INT_EQ(n, 0);
	CHECK_OK(s3_object_delete(C, key));
}

static void test_mpu_list_abort(void)
{
	char id[S3_UPLOAD_ID_MAX], *key = K("orphan/a b");
	int src = tmpfile_fd("part", 1 << 20, 5, NULL, 0);
	struct s3_upload *ups;
	struct s3_part part;
	size_t n;
	bool found = false;

	CHECK(src >= 0);
	CHECK_OK(s3_mpu_create(C, key, NULL, id));
	CHECK_OK(s3_mpu_part_fd(C, key, id, 1, src, 0, 1 << 20, &part));
	close(src);
	CHECK(part.number == 1 && part.size == 1 << 20 && strlen(part.etag) == 32);
	CHECK_OK(s3_mpu_list(C, K("orphan/"), &ups, &n));
	for (size_t i = 0; i < n; i++)
		found |= strcmp(ups[i].key, key) == 0 && strcmp(ups[i].upload_id, id) == 0 &&
			 ups[i].initiated > 1600000000;
	s3_uploads_free(ups, n);
	CHECK(found);
	CHECK_OK(s3_mpu_abort(C, key, id));
	CHECK_OK(s3_mpu_list(C, K("orphan/"), &ups, &n));
	s3_uploads_free(ups, n);
	CHECK_INT_EQ(n, 0);
	CHECK_INT_EQ(s3_mpu_abort(C, key, id), S3F_E_S3_NOUPLOAD);
	CHECK_INT_EQ(s3_object_head(C, key, NULL), ENOENT);
}

static void test_copy(void)
{
	struct s3_meta_pair m1[2] = { { "mode", "0100644" }, { "uid", "1000" } };
	struct s3_meta_pair m2[1] = { { "mode", "0100755" } };
	struct s3_put_opts o1 = { .content_type = "text/plain", .n_meta = 2, .meta = m1 };
	struct s3_put_opts o2 = { .content_type = "text/x-new", .n_meta = 1, .meta = m2 };
	struct s3_object_info out, hi, co;
	struct s3_buf b = { 0 };

	CHECK_OK(s3_object_put_buf(C, K("cp/src +%%"), "copy me", 7, &o1, &out));
	CHECK_OK(s3_object_copy(C, K("cp/src +%%"), K("cp/dst1"), NULL, NULL, &co));
	CHECK_STR_EQ(co.etag, out.etag);
	CHECK_OK(s3_object_head(C, K("cp/dst1"), &hi));
	CHECK(has_meta(&hi, "mode", "0100644") && has_meta(&hi, "uid", "1000"));
	CHECK_STR_EQ(hi.content_type, "text/plain");
	CHECK_OK(s3_object_copy(C, K("cp/src +%%"), K("cp/dst2"), &o2, NULL, NULL));
	CHECK_OK(s3_object_head(C, K("cp/dst2"), &hi));
	CHECK(hi.n_meta == 1 && has_meta(&hi, "mode", "0100755"));
	CHECK_STR_EQ(hi.content_type, "text/x-new");
	CHECK_OK(s3_object_get_buf(C, K("cp/dst2"), 0, UINT64_MAX, &b, NULL, NULL));
	bool same = b.len == 7 && memcmp(b.data, "copy me", 7) == 0;
	free(b.data);
	CHECK(same);
	CHECK_INT_EQ(s3_object_copy(C, K("cp/none"), K("cp/dst3"), NULL, NULL, NULL), ENOENT);
	const char *keys[] = { K("cp/src +%%"), K("cp/dst1"), K("cp/dst2") };
	int res[3];
	CHECK_OK(s3_objects_delete(C, keys, 3, res));
}

/* A source above the single-copy limit goes through UploadPartCopy (limit lowered). */
static void test_copy_multipart(void)
{
	struct s3_config cfg;
	struct s3_client *c;
	struct s3_meta_pair m[1] = { { "mode", "0100640" } };
	struct s3_put_opts o = { .content_type = "text/x-big", .n_meta = 1, .meta = m };
	int src = tmpfile_fd("src", 12 << 20, 6, NULL, 0), dst = tmpfile_fd("dst", 0, 0, NULL, 0);
	struct s3_object_info out, hi;
	uint64_t got;

	CHECK(src >= 0 && dst >= 0);
	cfg_init(&cfg);
	cfg.part_size = 5 << 20;
	CHECK_OK(s3_client_open(&cfg, &c));
	s3_client_copy_limit_set(c, 5 << 20);
	int rc = s3_object_put_fd(c, K("cpm/src"), src, 0, 12 << 20, &o, NULL);
	if (rc == 0)
		rc = s3_object_copy(c, K("cpm/src"), K("cpm/dst"), NULL, NULL, &out);
	s3_client_close(c);
	CHECK_OK(rc);
	CHECK_OK(s3_object_head(C, K("cpm/dst"), &hi));
	CHECK_STR_EQ(out.etag, hi.etag);
	CHECK(strcmp(hi.etag + strlen(hi.etag) - 2, "-3") == 0);	/* 5 + 5 + 2 MiB */
	CHECK(has_meta(&hi, "mode", "0100640"));
	CHECK_STR_EQ(hi.content_type, "text/x-big");
	CHECK_OK(s3_object_get_fd(C, K("cpm/dst"), 0, UINT64_MAX, dst, 0, NULL, &got, NULL));
	CHECK_U64_EQ(got, 12 << 20);
	CHECK(fd_equal(src, 0, dst, 0, 12 << 20));
	close(src);
	close(dst);
	CHECK_OK(s3_object_delete(C, K("cpm/src")));
	CHECK_OK(s3_object_delete(C, K("cpm/dst")));
}

static void test_delete_batches(void)
{
	enum { N = 1200 };
	char **keys = calloc(N + 1, sizeof *keys);
	int *res = calloc(N + 1, sizeof *res), *prc = calloc(N + 1, sizeof *prc);
	struct s3_batch *b;

	CHECK(keys && res && prc);
	for (int i = 0; i < N; i++)
		keys[i] = strdup(K("db/%04d%s", i, i == 7 ? "\x01" "ctl" : i == 9 ? "\t&<>" : ""));
	keys[N] = strdup(K("db/never-existed"));
	CHECK_OK(s3_batch_open(C, &b));
	for (int i = 0; i < N; i++)
		CHECK_OK(s3_batch_put_buf(b, keys[i], "d", 1, NULL, NULL, &prc[i]));
	CHECK_OK(s3_batch_wait(b));
	CHECK_INT_EQ(list_all(K("db/"), NULL, 0, NULL), N);
	for (int i = 0; i <= N; i++)
		res[i] = -1;
	int rc = s3_objects_delete(C, (const char *const *)keys, N + 1, res);
	int bad = 0;
	for (int i = 0; i <= N; i++)
		bad += res[i] != 0;
	free_keys(keys, N + 1);
	free(res);
	free(prc);
	CHECK_OK(rc);
	CHECK_INT_EQ(bad, 0);
	CHECK_INT_EQ(list_all(K("db/"), NULL, 0, NULL), 0);
}

/* Per-operation request counts of a client of its own. */
static atomic_uint op_calls[S3_OP_COUNT];

static void op_observer(void *arg, const struct s3_call_stats *st)
{
	(void)arg;
	if ((unsigned)st->op < S3_OP_COUNT)
		atomic_fetch_add(&op_calls[st->op], 1);
}

/* Single deletes (for RGW 16 buckets with notifications): one DELETE per key, never a
 * DeleteObjects; the same results. */
static void test_single_deletes(void)
{
	const char *keys[3] = { K("sd/a"), K("sd/b c"), K("sd/never-existed") };
	struct s3_client *c2 = NULL;
	struct s3_config cfg;
	int res[3] = { -1, -1, -1 };
	int rc;

	cfg_init(&cfg);
	cfg.observer = op_observer;
	CHECK_OK(s3_client_open(&cfg, &c2));
	CHECK_OK(s3_object_put_buf(c2, keys[0], "a", 1, NULL, NULL));
	CHECK_OK(s3_object_put_buf(c2, keys[1], "b", 1, NULL, NULL));
	s3_client_single_deletes_set(c2, true);
	rc = s3_objects_delete(c2, keys, 3, res);
	s3_client_close(c2);	/* waits for the observer calls */
	CHECK_OK(rc);
	CHECK(res[0] == 0 && res[1] == 0 && res[2] == 0);
	CHECK_INT_EQ(atomic_load(&op_calls[S3_OP_DELETE]), 3);
	CHECK_INT_EQ(atomic_load(&op_calls[S3_OP_DELETE_MULTI]), 0);
	CHECK_INT_EQ(list_all(K("sd/"), NULL, 0, NULL), 0);
}

static void test_caps_and_conditional_put(void)
{
	struct s3_caps caps;
	struct s3_object_info o1, o2, o3;
	char *key = K("cond/obj"), quoted[S3_ETAG_MAX + 2];
	struct s3_put_opts none_match = { .cond = { .if_none_match_any = true } };
	struct s3_put_opts match = { 0 };

	CHECK_OK(s3_caps_probe(C, K("cond/probe"), &caps));
	/* RGW 16 refuses a quoted If-Match even when it matches and honours the bare ETag */
	CHECK_INT_EQ(caps.if_match, S3_COND_UNQUOTED);
	CHECK(caps.if_none_match);
	CHECK_INT_EQ(s3_object_head(C, K("cond/probe"), NULL), ENOENT);
	s3_caps_get(C, &caps);
	CHECK_INT_EQ(caps.if_match, S3_COND_UNQUOTED);

	CHECK_OK(s3_object_put_buf(C, key, "one", 3, &none_match, &o1));	/* absent: ok */
	CHECK_INT_EQ(s3_object_put_buf(C, key, "two", 3, &none_match, NULL), S3F_E_S3_PRECOND);
	match.cond.if_match = o1.etag;
	CHECK_OK(s3_object_put_buf(C, key, "two", 3, &match, &o2));
	CHECK(strcmp(o1.etag, o2.etag) != 0);
	/* o1 is stale now */
	CHECK_INT_EQ(s3_object_put_buf(C, key, "three", 5, &match, NULL), S3F_E_S3_PRECOND);
	snprintf(quoted, sizeof quoted, "\"%s\"", o2.etag);	/* quotes are optional */
	match.cond.if_match = quoted;
	CHECK_OK(s3_object_put_buf(C, key, "three", 5, &match, &o3));
	/* conditional reads */
	struct s3_buf b = { 0 };
	struct s3_cond rc_ok = { .if_match = o3.etag }, rc_stale = { .if_match = o1.etag };
	CHECK_OK(s3_object_get_buf(C, key, 0, UINT64_MAX, &b, &rc_ok, NULL));
	bool same = b.len == 5 && memcmp(b.data, "three", 5) == 0;
	free(b.data);
	CHECK(same);
	b = (struct s3_buf){ 0 };
	CHECK_INT_EQ(s3_object_get_buf(C, key, 0, UINT64_MAX, &b, &rc_stale, NULL), S3F_E_S3_PRECOND);
	free(b.data);
	CHECK_OK(s3_object_delete(C, key));
	/* If-Match on a missing key fails too */
	match.cond.if_match = o3.etag;
	CHECK_INT_EQ(s3_object_put_buf(C, key, "x", 1, &match, NULL), S3F_E_S3_PRECOND);
	CHECK_INT_EQ(s3_object_head(C, key, NULL), ENOENT);
}

/* The condition of a multipart put applies to CompleteMultipartUpload. */
static void test_conditional_multipart(void)
{
	struct s3_config cfg;
	struct s3_client *c;
	struct s3_caps caps;
	int src = tmpfile_fd("src", 11 << 20, 7, NULL, 0);
	struct s3_put_opts nm = { .cond = { .if_none_match_any = true } };
	struct s3_object_info o1;
	struct s3_upload *ups;
	size_t n;
	int rc1, rc2, rc3, rc4;

	CHECK(src >= 0);
	cfg_init(&cfg);
	cfg.part_size = 5 << 20;
	cfg.multipart_threshold = 6 << 20;
	CHECK_OK(s3_client_open(&cfg, &c));
	rc1 = s3_caps_probe(c, K("cmpu/probe"), &caps);
	rc2 = s3_object_put_fd(c, K("cmpu/obj"), src, 0, 11 << 20, &nm, &o1);
	rc3 = s3_object_put_fd(c, K("cmpu/obj"), src, 0, 11 << 20, &nm, NULL);
	struct s3_put_opts stale = { .cond = { .if_match = "0123456789abcdef0123456789abcdef-3" } };
	rc4 = s3_object_put_fd(c, K("cmpu/obj"), src, 0, 11 << 20, &stale, NULL);
	s3_client_close(c);
	close(src);
	CHECK_OK(rc1);
	/* RGW 16 ignores conditions on CompleteMultipartUpload: the probe must notice, and
	 * the client falls back to HEAD-and-compare */
	CHECK(!caps.complete_cond);
	CHECK_OK(rc2);
	CHECK_INT_EQ(rc3, S3F_E_S3_PRECOND);
	CHECK_INT_EQ(rc4, S3F_E_S3_PRECOND);
	/* the refused uploads were aborted */
	CHECK_OK(s3_mpu_list(C, K("cmpu/"), &ups, &n));
	s3_uploads_free(ups, n);
	CHECK_INT_EQ(n, 0);
	CHECK_OK(s3_object_delete(C, K("cmpu/obj")));
}

static void test_get_parallel(void)
{
	const uint64_t size = 64ull << 20;
	char *key = K("par/64m");
	int src = tmpfile_fd("src", size, 8, NULL, 0), dst = tmpfile_fd("dst", 0, 0, NULL, 0);
	struct s3_object_info out, gi;
	struct s3_cond stale = { .if_match = "0123456789abcdef0123456789abcdef" };

	CHECK(src >= 0 && dst >= 0);
	CHECK_OK(s3_object_put_fd(C, key, src, 0, size, NULL, &out));
	CHECK_OK(s3_object_get_parallel(C, key, 0, UINT64_MAX, dst, 0, 4 << 20, 8, NULL, &gi));
	CHECK_U64_EQ(gi.size, size);
	CHECK_STR_EQ(gi.etag, out.etag);
	CHECK(fd_equal(src, 0, dst, 0, size));
	/* a sub-range with odd bounds and a chunk that does not divide it */
	CHECK(ftruncate(dst, 0) == 0);
	CHECK_OK(s3_object_get_parallel(C, key, 12345, 10000000, dst, 7, 999999, 3, NULL, NULL));
	CHECK(fd_equal(src, 12345, dst, 7, 10000000));
	/* past the end: clipped to the object */
	CHECK_OK(s3_object_get_parallel(C, key, size - 100, 1000, dst, 0, 0, 0, NULL, &gi));
	CHECK(fd_equal(src, size - 100, dst, 0, 100));
	struct s3_cond cur = { .if_match = out.etag };
	CHECK_OK(s3_object_get_parallel(C, key, 0, 1 << 20, dst, 0, 1 << 18, 2, &cur, NULL));
	CHECK_INT_EQ(s3_object_get_parallel(C, key, 0, 1 << 20, dst, 0, 0, 0, &stale, NULL),
		     S3F_E_S3_PRECOND);
	CHECK_INT_EQ(s3_object_get_parallel(C, K("par/none"), 0, 10, dst, 0, 0, 0, NULL, NULL),
		     ENOENT);
	close(src);
	close(dst);
	CHECK_OK(s3_object_delete(C, key));
}

static void test_batch_200(void)
{
	enum { N = 200 };
	char *keys[N], data[N][64];
	int rcs[N], hrc[N], grc[N], del[N];
	struct s3_object_info infos[N], hinfo[N];
	uint64_t got[N];
	struct s3_batch *b;
	int fd = tmpfile_fd("out", 0, 0, NULL, 0);

	CHECK(fd >= 0);
	for (int i = 0; i < N; i++) {
		keys[i] = strdup(K("batch/%03d", i));
		snprintf(data[i], sizeof data[i], "object number %03d", i);
	}
	CHECK_OK(s3_batch_open(C, &b));
	for (int i = 0; i < N; i++)
		CHECK_OK(s3_batch_put_buf(b, keys[i], data[i], strlen(data[i]), NULL, &infos[i],
					  &rcs[i]));
	CHECK_OK(s3_batch_wait(b));
	for (int i = 0; i < N; i++)
		CHECK(rcs[i] == 0 && strlen(infos[i].etag) == 32);
	CHECK_OK(s3_batch_open(C, &b));
	for (int i = 0; i < N; i++) {
		CHECK_OK(s3_batch_head(b, keys[i], &hinfo[i], &hrc[i]));
		CHECK_OK(s3_batch_get_fd(b, keys[i], 0, UINT64_MAX, fd, (uint64_t)i * 64, &got[i],
					 NULL, &grc[i]));
	}
	CHECK_OK(s3_batch_wait(b));
	for (int i = 0; i < N; i++) {
		char back[64] = "";

		CHECK(hrc[i] == 0 && grc[i] == 0);
		CHECK_STR_EQ(hinfo[i].etag, infos[i].etag);
		CHECK_U64_EQ(got[i], strlen(data[i]));
		CHECK(pread(fd, back, got[i], i * 64) == (ssize_t)got[i]);
		CHECK_STR_EQ(back, data[i]);
	}
	/* a batch reports the first failure but runs everything */
	CHECK_OK(s3_batch_open(C, &b));
	CHECK_OK(s3_batch_head(b, keys[0], NULL, &hrc[0]));
	CHECK_OK(s3_batch_head(b, K("batch/none"), NULL, &hrc[1]));
	CHECK_INT_EQ(s3_batch_wait(b), ENOENT);
	CHECK(hrc[0] == 0 && hrc[1] == ENOENT);
	close(fd);
	CHECK_OK(s3_objects_delete(C, (const char *const *)keys, N, del));
	for (int i = 0; i < N; i++)
		free(keys[i]);
}

/* GETs into memory buffers, many at once, each pinned to a version. */
static void test_batch_get_buf(void)
{
	enum { N = 6, PIECE = 300000 };
	const size_t size = (size_t)N * PIECE + 1234;
	char *data = malloc(size), *key = K("bgb/obj");
	struct s3_buf bufs[N + 3];
	struct s3_object_info out, gi;
	struct s3_batch *b;
	int rcs[N + 3];
	char small[100];
	struct s3_cond pin, stale = { .if_match = "0123456789abcdef0123456789abcdef" };

	CHECK(data != NULL);
	check_fill(data, size, 21);
	CHECK_OK(s3_object_put_buf(C, key, data, size, NULL, &out));
	pin.if_match = out.etag;
	pin.if_none_match_any = false;
	memset(bufs, 0, sizeof bufs);
	CHECK_OK(s3_batch_open(C, &b));
	/* growing buffers, pinned, the last piece running past the end (clipped) */
	for (int i = 0; i < N; i++)
		CHECK_OK(s3_batch_get_buf(b, key, (uint64_t)i * PIECE, i == N - 1 ? 10 * PIECE : PIECE,
					  &bufs[i], &pin, i == 0 ? &gi : NULL, &rcs[i]));
	/* a fixed buffer that is too small, a stale pin, a range past the end */
	bufs[N] = (struct s3_buf){ .data = small, .cap = sizeof small, .fixed = true };
	CHECK_OK(s3_batch_get_buf(b, key, 0, 1000, &bufs[N], NULL, NULL, &rcs[N]));
	CHECK_OK(s3_batch_get_buf(b, key, 0, 1000, &bufs[N + 1], &stale, NULL, &rcs[N + 1]));
	CHECK_OK(s3_batch_get_buf(b, key, size + 10, 1000, &bufs[N + 2], &pin, NULL, &rcs[N + 2]));
	CHECK_INT_EQ(s3_batch_wait(b), EOVERFLOW);
	for (int i = 0; i < N; i++) {
		size_t want = i == N - 1 ? size - (size_t)i * PIECE : PIECE;

		CHECK_INT_EQ(rcs[i], 0);
		CHECK_U64_EQ(bufs[i].len, want);
		CHECK_MEM_EQ(bufs[i].data, data + (size_t)i * PIECE, want);
	}
	CHECK_STR_EQ(gi.etag, out.etag);
	CHECK_INT_EQ(rcs[N], EOVERFLOW);
	CHECK_U64_EQ(bufs[N].len, 0);
	CHECK_INT_EQ(rcs[N + 1], S3F_E_S3_PRECOND);
	CHECK_U64_EQ(bufs[N + 1].len, 0);
	CHECK_INT_EQ(rcs[N + 2], 0);
	CHECK_U64_EQ(bufs[N + 2].len, 0);
	/* len 0 queues nothing */
	CHECK_OK(s3_batch_open(C, &b));
	CHECK_INT_EQ(s3_batch_get_buf(b, key, 0, 0, &bufs[0], NULL, NULL, &rcs[0]), EINVAL);
	CHECK_INT_EQ(s3_batch_get_buf(b, K("bgb/none"), 0, 10, &bufs[N + 1], NULL, NULL,
				      &rcs[N + 1]), 0);
	CHECK_INT_EQ(s3_batch_wait(b), ENOENT);
	CHECK_INT_EQ(rcs[N + 1], ENOENT);
	for (int i = 0; i < N + 3; i++)
		if (bufs[i].data != small)
			free(bufs[i].data);
	free(data);
	CHECK_OK(s3_object_delete(C, key));
}

static void test_presigned_get(void)
{
	char *key = K("presign/a b+c%%d"), *url = NULL, cmd[10000], path[4200];
	int fd = tmpfile_fd("x", 0, 0, path, sizeof path);
	char back[64] = "";

	CHECK(fd >= 0);
	CHECK_OK(s3_object_put_buf(C, key, "presigned body", 14, NULL, NULL));
	CHECK_OK(s3_presign_get(C, key, 300, &url));
	snprintf(cmd, sizeof cmd, "curl -s -f --path-as-is -o '%s' '%s'", path, url);
	free(url);
	CHECK_INT_EQ(system(cmd), 0);
	CHECK(pread(fd, back, sizeof back - 1, 0) == 14);
	CHECK_STR_EQ(back, "presigned body");
	/* the signature covers the key: another key with the same query is refused */
	CHECK_OK(s3_presign_get(C, key, 300, &url));
	char *q = strchr(url, '?');
	snprintf(cmd, sizeof cmd, "curl -s -f -o /dev/null '%s/%s/%s%s'", rgw.endpoint, rgw.bucket,
		 "other", q);
	free(url);
	CHECK(system(cmd) != 0);
	close(fd);
	CHECK_OK(s3_object_delete(C, key));
}

static void test_wrong_secret(void)
{
	struct s3_config cfg;
	struct s3_client *c;
	struct s3_buf b = { 0 };
	int rc1, rc2, rc3;

	cfg_init(&cfg);
	cfg.creds.secret_access_key[0] ^= 1;
	cfg.max_retries = 1;
	CHECK_OK(s3_client_open(&cfg, &c));
	rc1 = s3_object_put_buf(c, K("auth/x"), "x", 1, NULL, NULL);
	rc2 = s3_object_get_buf(c, K("auth/x"), 0, UINT64_MAX, &b, NULL, NULL);
	rc3 = s3_object_head(c, K("auth/x"), NULL);
	s3_client_close(c);
	free(b.data);
	CHECK_INT_EQ(rc1, S3F_E_S3_AUTH);
	CHECK_INT_EQ(rc2, S3F_E_S3_AUTH);
	CHECK_INT_EQ(rc3, S3F_E_S3_AUTH);
	/* an unknown key id */
	cfg_init(&cfg);
	cfg.creds.access_key_id[0] = 'X';
	CHECK_OK(s3_client_open(&cfg, &c));
	rc1 = s3_object_put_buf(c, K("auth/x"), "x", 1, NULL, NULL);
	s3_client_close(c);
	CHECK_INT_EQ(rc1, S3F_E_S3_AUTH);
}

static void test_missing_bucket(void)
{
	struct s3_config cfg;
	struct s3_client *c;
	struct s3_list_page pg;
	struct s3_list_req req = { 0 };
	int rc1, rc2, rc3;

	cfg_init(&cfg);
	cfg.bucket = "s3files-no-such-bucket";
	CHECK_OK(s3_client_open(&cfg, &c));
	rc1 = s3_object_put_buf(c, "x", "x", 1, NULL, NULL);
	rc2 = s3_list(c, &req, &pg);
	struct s3_buf b = { 0 };
	rc3 = s3_object_get_buf(c, "x", 0, UINT64_MAX, &b, NULL, NULL);
	free(b.data);
	s3_client_close(c);
	CHECK_INT_EQ(rc1, S3F_E_S3_NOBUCKET);
	CHECK_INT_EQ(rc2, S3F_E_S3_NOBUCKET);
	CHECK_INT_EQ(rc3, S3F_E_S3_NOBUCKET);
}

static void test_signed_payload(void)
{
	struct s3_put_opts o = { .sign_payload = true };
	int src = tmpfile_fd("src", 2 << 20, 9, NULL, 0);
	struct s3_buf b = { 0 };
	struct s3_object_info out;

	CHECK(src >= 0);
	CHECK_OK(s3_object_put_buf(C, K("sig/buf"), "signed body", 11, &o, NULL));
	CHECK_OK(s3_object_put_fd(C, K("sig/fd"), src, 100, 1 << 20, &o, &out));
	CHECK_OK(s3_object_get_buf(C, K("sig/buf"), 0, UINT64_MAX, &b, NULL, NULL));
	bool same = b.len == 11 && memcmp(b.data, "signed body", 11) == 0;
	free(b.data);
	close(src);
	CHECK(same);
	CHECK_OK(s3_object_delete(C, K("sig/buf")));
	CHECK_OK(s3_object_delete(C, K("sig/fd")));
}

/* Many threads on one client at once: every call gets its own answer. */
struct worker {
	int id;
	int rc;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char key[256], data[4096];

	for (int i = 0; i < 20 && !w->rc; i++) {
		struct s3_buf b = { 0 };

		snprintf(key, sizeof key, "%sthreads/%d/%d", prefix, w->id, i);
		check_fill(data, sizeof data, (unsigned)(w->id * 100 + i));
		w->rc = s3_object_put_buf(C, key, data, sizeof data, NULL, NULL);
		if (!w->rc)
			w->rc = s3_object_get_buf(C, key, 0, UINT64_MAX, &b, NULL, NULL);
		if (!w->rc && (b.len != sizeof data || memcmp(b.data, data, sizeof data) != 0))
			w->rc = EIO;
		free(b.data);
		if (!w->rc)
			w->rc = s3_object_delete(C, key);
	}
	return NULL;
}

static void test_threads(void)
{
	pthread_t t[8];
	struct worker w[8];

	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ .id = i };
		CHECK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 8; i++)
		CHECK_OK(w[i].rc);
}

static void test_observer_totals(void)
{
	unsigned calls0 = atomic_load(&obs_calls);
	unsigned long long sent0 = atomic_load(&obs_sent), recv0 = atomic_load(&obs_recv);
	char data[5000];
	struct s3_buf b = { 0 };

	check_fill(data, sizeof data, 10);
	CHECK_OK(s3_object_put_buf(C, K("obs/x"), data, sizeof data, NULL, NULL));
	CHECK_OK(s3_object_get_buf(C, K("obs/x"), 0, UINT64_MAX, &b, NULL, NULL));
	free(b.data);
	CHECK_OK(s3_object_delete(C, K("obs/x")));
	CHECK_INT_EQ(atomic_load(&obs_calls) - calls0, 3);
	CHECK_U64_EQ(atomic_load(&obs_sent) - sent0, sizeof data);
	CHECK_U64_EQ(atomic_load(&obs_recv) - recv0, sizeof data);
}

static void test_nothing_left(void)
{
	struct s3_upload *ups;
	size_t n;

	CHECK_INT_EQ(list_all(prefix, NULL, 0, NULL), 0);
	CHECK_OK(s3_mpu_list(C, prefix, &ups, &n));
	s3_uploads_free(ups, n);
	CHECK_INT_EQ(n, 0);
}

int main(void)
{
	struct s3_config cfg;
	int rc;

	check_suite = "test_s3_rgw";
	if (check_rgw_load(&rgw) != 0)
		return 1;
	snprintf(prefix, sizeof prefix, "test-s3-rgw/%d/", (int)getpid());
	cfg_init(&cfg);
	rc = s3_client_open(&cfg, &C);
	if (rc) {
		printf("FAIL %s/open: %s\n", check_suite, s3f_strerror(rc));
		return 1;
	}
	CHECK_RUN(test_roundtrip_buf);
	CHECK_RUN(test_meta_validation);
	CHECK_RUN(test_roundtrip_fd);
	CHECK_RUN(test_ranged_get);
	CHECK_RUN(test_get_missing);
	CHECK_RUN(test_list_delimiter);
	CHECK_RUN(test_list_pagination);
	CHECK_RUN(test_key_bytes);
	CHECK_RUN(test_multipart_put);
	CHECK_RUN(test_mpu_list_abort);
	CHECK_RUN(test_copy);
	CHECK_RUN(test_copy_multipart);
	CHECK_RUN(test_delete_batches);
	CHECK_RUN(test_single_deletes);
	CHECK_RUN(test_caps_and_conditional_put);
	CHECK_RUN(test_conditional_multipart);
	CHECK_RUN(test_get_parallel);
	CHECK_RUN(test_batch_200);
	CHECK_RUN(test_batch_get_buf);
	CHECK_RUN(test_presigned_get);
	CHECK_RUN(test_wrong_secret);
	CHECK_RUN(test_missing_bucket);
	CHECK_RUN(test_signed_payload);
	CHECK_RUN(test_threads);
	CHECK_RUN(test_observer_totals);
	CHECK_RUN(test_nothing_left);
	s3_client_close(C);
	return check_done();
}
