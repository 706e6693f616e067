/*
 * test_s3_cond.c — conditional deletes and copies (s3_object_delete_if, s3_object_copy_if)
 * against the real Ceph RGW of test/run.sh, with the race each condition is there for
 * forced, not hoped for: a test point (core/base/tp.h) holds the operation between its check
 * and its request while another write lands, and the case checks that write survives.
 *
 * The same races are run with the client told the server can do nothing (s3_caps_set):
 * that is how deletes and copies were sent before (HEAD, then an unconditional request),
 * and there the write is lost: those cases show the races are real and what remains on a
 * server without any support. A versioned bucket of the case's own covers the
 * delete-marker path. Keys live under test-s3-cond/<pid>/; the last case checks nothing
 * was left behind.
 */
#include "check.h"
#include "base/err.h"
#include "s3/s3.h"
#include "s3/s3_int.h"
#include "base/tp.h"

#include <errno.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

static struct check_rgw rgw;
static char prefix[128];
static struct s3_client *C;
static struct s3_caps probed;

static void cfg_init(struct s3_config *cfg, const char *bucket)
{
	check_rgw_s3_config(&rgw, cfg);
	cfg->bucket = bucket;
}

static char *K(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *K(const char *fmt, ...)
{
	static char bufs[8][512];
	static int i;
	char *b = bufs[i++ & 7];
	va_list ap;
	int n = snprintf(b, sizeof bufs[0], "%s", prefix);

	va_start(ap, fmt);
	vsnprintf(b + n, sizeof bufs[0] - (size_t)n, fmt, ap);
	va_end(ap);
	return b;
}

/* PUT a short text body; its ETag into etag (may be NULL). */
static int put_text(struct s3_client *c, const char *key, const char *text, char *etag)
{
	struct s3_object_info o;
	int rc = s3_object_put_buf(c, key, text, strlen(text), NULL, &o);

	if (rc == 0 && etag)
		snprintf(etag, S3_ETAG_MAX, "%s", o.etag);
	return rc;
}

/* The object's body as text ("" when it is not there). */
static const char *body_of(struct s3_client *c, const char *key)
{
	static char text[256];
	struct s3_buf b = { .data = text, .cap = sizeof text - 1, .fixed = true };

	text[0] = '\0';
	if (s3_object_get_buf(c, key, 0, UINT64_MAX, &b, NULL, NULL) == 0)
		text[b.len] = '\0';
	return text;
}

/* RGW compares x-amz-delete-if-unmodified-since in whole seconds: a write the check can
 * see lands in a later second than the version it was given. */
static void next_second(void)
{
	time_t t0 = time(NULL);

	while (time(NULL) == t0)
		usleep(20000);
}

/* The racing writer: another client's PUT, run by the test point on the thread that
 * holds the operation between its check and its request. */
struct racer {
	struct s3_client *c;
	const char *key;
	const char *text;
	int rc;
	unsigned hits;
};

static void racer_fn(const char *name, void *arg)
{
	struct racer *r = arg;

	(void)name;
	if (r->hits++ == 0)
		r->rc = put_text(r->c, r->key, r->text, NULL);
}

static void caps_none(struct s3_client *c)
{
	struct s3_caps none = probed;

	none.delete_if_match = S3_COND_NONE;
	none.delete_multi_etag = false;
	none.delete_unmod_since = false;
	none.versioned = false;
	none.copy_if_match = S3_COPY_COND_NONE;
	none.copy_if_none_match = false;
	s3_caps_set(c, &none);
}

/* ---- cases ---- */

/* The two documents the versioned path reads, as RGW writes them, and broken ones. */
static void test_xml(void)
{
	static const char list[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListVersionsResult xmlns=\"http://s3."
		"amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix>v/a</Prefix><IsTruncated>"
		"false</IsTruncated><DeleteMarker><Key>v/a</Key><VersionId>M1</VersionId><IsLatest>"
		"true</IsLatest><LastModified>2026-12-05T10:10:12.687Z</LastModified></DeleteMarker>"
		"<Version><Key>v/a</Key><VersionId>V2</VersionId><IsLatest>false</IsLatest><ETag>"
		"&quot;1b267619c4812cc46ee281747884ca50&quot;</ETag><Size>2</Size></Version><Version>"
		"<Key>v/ab &amp; c</Key><VersionId>V1</VersionId><IsLatest>true</IsLatest><ETag>"
		"\"6654c734ccab8f440ff0825eb443dc7f-2\"</ETag></Version></ListVersionsResult>";
	static const char *const bad[] = {
		"<ListVersionsResult><IsTruncated>false</IsTruncated><Version><Key>k</Key>"
		"</Version></ListVersionsResult>",	/* no VersionId */
		"<ListVersionsResult><Version><Key>k</Key><VersionId>x</VersionId></Version>"
		"</ListVersionsResult>",		/* no IsTruncated */
		"<ListVersionsResult><IsTruncated>maybe</IsTruncated></ListVersionsResult>",
		"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
		"<ListVersionsResult><IsTruncated>false</IsTruncated><Version><Key>k",
	};
	struct s3_xml_versions v;
	char status[16];

	CHECK_OK(s3_xml_parse_versions(list, sizeof list - 1, &v));
	CHECK_INT_EQ(v.n, 3);
	CHECK(!v.truncated);
	CHECK(v.items[0].delete_marker && v.items[0].is_latest && !v.items[0].etag[0]);
	CHECK_STR_EQ(v.items[0].version_id, "M1");
	CHECK(!v.items[1].delete_marker && !v.items[1].is_latest);
	CHECK_STR_EQ(v.items[1].etag, "1b267619c4812cc46ee281747884ca50");
	CHECK_STR_EQ(v.items[2].key, "v/ab & c");
	CHECK_STR_EQ(v.items[2].etag, "6654c734ccab8f440ff0825eb443dc7f-2");
	s3_xml_versions_free(&v);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_MSG(s3_xml_parse_versions(bad[i], strlen(bad[i]), &v) == S3F_E_S3_PROTO,
			  "bad[%zu] accepted", i);
		CHECK(v.n == 0 && v.items == NULL);
	}
	static const char vcfg[] = "<VersioningConfiguration><Status>Enabled</Status>"
				   "<MfaDelete>Disabled</MfaDelete></VersioningConfiguration>";
	CHECK_OK(s3_xml_parse_versioning(vcfg, sizeof vcfg - 1, status));
	CHECK_STR_EQ(status, "Enabled");
	CHECK_OK(s3_xml_parse_versioning("<VersioningConfiguration/>", 26, status));
	CHECK_STR_EQ(status, "");
	CHECK_INT_EQ(s3_xml_parse_versioning("<Error><Code>x</Code></Error>", 29, status),
		     S3F_E_S3_PROTO);
	CHECK(s3_etag_is_md5("1b267619c4812cc46ee281747884ca50"));
	CHECK(s3_etag_is_md5("1B267619C4812CC46EE281747884CA50"));
	CHECK(!s3_etag_is_md5("1b267619c4812cc46ee281747884ca50-2"));
	CHECK(!s3_etag_is_md5("1b267619c4812cc46ee281747884ca5"));
	CHECK(!s3_etag_is_md5(""));
}

/* What the probe finds on Ceph RGW 16 (measured by hand too: see doc/SEMANTICS.md). */
static void test_probe(void)
{
	CHECK_OK(s3_caps_probe(C, K("probe"), &probed));
	CHECK_INT_EQ(probed.delete_if_match, S3_COND_NONE);
	CHECK(!probed.delete_multi_etag);
	CHECK(probed.delete_unmod_since);
	CHECK(!probed.versioned);
	CHECK_INT_EQ(probed.copy_if_match, S3_COPY_COND_RGW);
	CHECK(!probed.copy_if_none_match);
	CHECK_INT_EQ(s3_object_head(C, K("probe"), NULL), ENOENT);
	CHECK_INT_EQ(s3_object_head(C, K("probe.copy"), NULL), ENOENT);
}

/* Without a race: the right version goes, a wrong one stays, a missing key is ENOENT. */
static void test_delete_if_plain(void)
{
	char e1[S3_ETAG_MAX], e2[S3_ETAG_MAX];
	struct s3_object_info cur;

	s3_caps_set(C, &probed);
	CHECK_OK(put_text(C, K("dp/a"), "version one", e1));
	CHECK_OK(put_text(C, K("dp/a"), "version two", e2));
	CHECK_INT_EQ(s3_object_delete_if(C, K("dp/a"), e1, &cur), S3F_E_S3_PRECOND);
	CHECK_STR_EQ(cur.etag, e2);
	CHECK_STR_EQ(body_of(C, K("dp/a")), "version two");
	CHECK_OK(s3_object_delete_if(C, K("dp/a"), e2, NULL));
	CHECK_INT_EQ(s3_object_head(C, K("dp/a"), NULL), ENOENT);
	CHECK_INT_EQ(s3_object_delete_if(C, K("dp/a"), e2, NULL), ENOENT);
	CHECK_INT_EQ(s3_object_delete_if(C, K("dp/a"), "", NULL), EINVAL);
}

/* Another client's PUT between the check and the DELETE survives (RGW:
 * x-amz-delete-if-unmodified-since); with no server support it is lost: the window. */
static void test_delete_if_race(void)
{
	char e1[S3_ETAG_MAX];
	struct s3_object_info cur;
	struct racer r = { .c = C, .text = "another client's version" };
	int rc;

	s3_caps_set(C, &probed);
	CHECK_OK(put_text(C, K("dr/a"), "the version removed", e1));
	next_second();
	r.key = K("dr/a");
	CHECK_OK(tp_set("s3.delete.before", racer_fn, &r));
	rc = s3_object_delete_if(C, K("dr/a"), e1, &cur);
	tp_clear();
	CHECK_INT_EQ(r.hits, 1);
	CHECK_OK(r.rc);
	CHECK_INT_EQ(rc, S3F_E_S3_PRECOND);
	CHECK_STR_EQ(body_of(C, K("dr/a")), "another client's version");
	CHECK(cur.etag[0] != '\0');

	/* the same race where the server checks nothing: HEAD, then a plain DELETE */
	caps_none(C);
	CHECK_OK(put_text(C, K("dr/b"), "the version removed", e1));
	next_second();
	r = (struct racer){ .c = C, .key = K("dr/b"), .text = "another client's version" };
	CHECK_OK(tp_set("s3.delete.before", racer_fn, &r));
	rc = s3_object_delete_if(C, K("dr/b"), e1, NULL);
	tp_clear();
	s3_caps_set(C, &probed);
	CHECK_INT_EQ(r.hits, 1);
	CHECK_OK(rc);
	CHECK_INT_EQ(s3_object_head(C, K("dr/b"), NULL), ENOENT);	/* lost: the old way */
	CHECK_OK(s3_object_delete(C, K("dr/a")));
}

/* Many keys: each goes only if it still is the version given. */
static void test_deletes_if_many(void)
{
	enum { N = 6 };
	char etags[N][S3_ETAG_MAX];
	const char *keys[N], *ets[N];
	int res[N];

	s3_caps_set(C, &probed);
	for (int i = 0; i < N; i++) {
		keys[i] = strdup(K("dm/k%d", i));
		CHECK_OK(put_text(C, keys[i], "first", etags[i]));
		ets[i] = etags[i];
	}
	CHECK_OK(put_text(C, keys[2], "changed", NULL));
	CHECK_OK(s3_object_delete(C, keys[4]));
	CHECK_OK(s3_objects_delete_if(C, keys, ets, N, res));
	for (int i = 0; i < N; i++)
		CHECK_MSG(res[i] == (i == 2 ? S3F_E_S3_PRECOND : i == 4 ? ENOENT : 0),
			  "key %d: %d", i, res[i]);
	CHECK_STR_EQ(body_of(C, keys[2]), "changed");
	CHECK_INT_EQ(s3_object_head(C, keys[0], NULL), ENOENT);
	CHECK_OK(s3_object_delete(C, keys[2]));
	for (int i = 0; i < N; i++)
		free((char *)keys[i]);
}

/* A copy pinned to its source's version: a PUT to the source between the check and the
 * copy makes the copy fail (RGW: x-amz-copy-if-match) instead of moving a version the
 * caller never saw. With no server support the copy's own ETag gives it away, after
 * the fact: the destination then holds a copy the caller must discard. */
static void test_copy_source_race(void)
{
	char e1[S3_ETAG_MAX];
	struct s3_cond pin = { .if_match = e1 };
	struct racer r = { .c = C, .text = "source, rewritten" };
	int rc;

	s3_caps_set(C, &probed);
	CHECK_OK(put_text(C, K("cs/src"), "source as listed", e1));
	CHECK_OK(s3_object_copy_if(C, K("cs/src"), K("cs/dst0"), NULL, &pin, NULL, NULL));
	CHECK_STR_EQ(body_of(C, K("cs/dst0")), "source as listed");
	r.key = K("cs/src");
	CHECK_OK(tp_set("s3.copy.before", racer_fn, &r));
	rc = s3_object_copy_if(C, K("cs/src"), K("cs/dst1"), NULL, &pin, NULL, NULL);
	tp_clear();
	CHECK_INT_EQ(r.hits, 1);
	CHECK_INT_EQ(rc, S3F_E_S3_PRECOND);
	CHECK_INT_EQ(s3_object_head(C, K("cs/dst1"), NULL), ENOENT);	/* nothing copied */
	CHECK_STR_EQ(body_of(C, K("cs/src")), "source, rewritten");

	caps_none(C);
	CHECK_OK(put_text(C, K("cs/src"), "source as listed", e1));
	r = (struct racer){ .c = C, .key = K("cs/src"), .text = "source, rewritten" };
	CHECK_OK(tp_set("s3.copy.before", racer_fn, &r));
	rc = s3_object_copy_if(C, K("cs/src"), K("cs/dst2"), NULL, &pin, NULL, NULL);
	tp_clear();
	s3_caps_set(C, &probed);
	CHECK_INT_EQ(rc, S3F_E_S3_PRECOND);
	CHECK_STR_EQ(body_of(C, K("cs/dst2")), "source, rewritten");	/* the garbage copy */
	const char *keys[4] = { K("cs/src"), K("cs/dst0"), K("cs/dst1"), K("cs/dst2") };
	int res[4];
	CHECK_OK(s3_objects_delete(C, keys, 4, res));
}

/* Above the single-copy limit (lowered here) the copy goes through UploadPartCopy, where
 * RGW 16 checks no source condition: the client compares the source's ETag itself. */
static void test_copy_multipart_source(void)
{
	const size_t size = 6 << 20;
	struct s3_config cfg;
	struct s3_client *c;
	struct s3_object_info o;
	struct s3_cond pin = { 0 };
	struct racer r = { .text = "rewritten" };
	char *data = malloc(size);
	int rc, rc2;

	CHECK(data != NULL);
	memset(data, 'm', size);
	cfg_init(&cfg, rgw.bucket);
	cfg.part_size = 5 << 20;
	CHECK_OK(s3_client_open(&cfg, &c));
	s3_caps_set(c, &probed);
	s3_client_copy_limit_set(c, 5 << 20);
	rc = s3_object_put_buf(c, K("cm/src"), data, size, NULL, &o);
	free(data);
	pin.if_match = o.etag;
	if (rc == 0)
		rc = s3_object_copy_if(c, K("cm/src"), K("cm/dst"), NULL, &pin, NULL, NULL);
	r.c = c;
	r.key = K("cm/src");
	CHECK_OK(tp_set("s3.copy.before", racer_fn, &r));
	rc2 = s3_object_copy_if(c, K("cm/src"), K("cm/dst2"), NULL, &pin, NULL, NULL);
	tp_clear();
	s3_client_close(c);
	CHECK_OK(rc);
	CHECK_INT_EQ(r.hits, 1);
	CHECK_INT_EQ(rc2, S3F_E_S3_PRECOND);
	CHECK_INT_EQ(s3_object_head(C, K("cm/dst2"), NULL), ENOENT);
	const char *keys[2] = { K("cm/src"), K("cm/dst") };
	int res[2];
	CHECK_OK(s3_objects_delete(C, keys, 2, res));
}

/* The destination must be free: an object there stays (If-None-Match, checked by a HEAD on
 * RGW 16, which ignores it on copies; the window of that HEAD is the one case below). */
static void test_copy_destination(void)
{
	struct s3_cond absent = { .if_none_match_any = true }, match = { 0 };
	char e[S3_ETAG_MAX];
	struct racer r = { .c = C, .text = "another client's object" };
	int rc;

	s3_caps_set(C, &probed);
	CHECK_OK(put_text(C, K("cd/src"), "source", NULL));
	CHECK_OK(put_text(C, K("cd/dst"), "someone's object", e));
	CHECK_INT_EQ(s3_object_copy_if(C, K("cd/src"), K("cd/dst"), NULL, NULL, &absent, NULL),
		     S3F_E_S3_PRECOND);
	CHECK_STR_EQ(body_of(C, K("cd/dst")), "someone's object");
	match.if_match = e;
	CHECK_OK(s3_object_copy_if(C, K("cd/src"), K("cd/dst"), NULL, NULL, &match, NULL));
	CHECK_STR_EQ(body_of(C, K("cd/dst")), "source");
	CHECK_INT_EQ(s3_object_copy_if(C, K("cd/src"), K("cd/dst"), NULL, NULL, &match, NULL),
		     S3F_E_S3_PRECOND);
	/* what remains on RGW 16: a PUT between that HEAD and the copy is overwritten */
	r.key = K("cd/new");
	CHECK_OK(tp_set("s3.copy.before", racer_fn, &r));
	rc = s3_object_copy_if(C, K("cd/src"), K("cd/new"), NULL, NULL, &absent, NULL);
	tp_clear();
	CHECK_OK(rc);
	CHECK_INT_EQ(r.hits, 1);
	CHECK_STR_EQ(body_of(C, K("cd/new")), probed.copy_if_none_match ? "another client's object"
									: "source");
	const char *keys[3] = { K("cd/src"), K("cd/dst"), K("cd/new") };
	int res[3];
	CHECK_OK(s3_objects_delete(C, keys, 3, res));
}

/* ---- a versioned bucket of the case's own ---- */

/* One request on the bucket itself (key NULL) with an optional body and query. */
static int bucket_req(struct s3_client *c, const char *method, const char *query, const char *body)
{
	struct s3_req *r = s3_req_new(c, S3_OP_PUT, method, NULL);
	char md5[25];
	int rc = 0;

	if (!r)
		return ENOMEM;
	if (query)
		rc = (r->query = strdup(query)) ? 0 : ENOMEM;
	if (body) {
		r->src = S3_SRC_MEM;
		r->src_data = body;
		r->src_len = strlen(body);
		if (rc == 0)
			rc = s3_md5_base64(body, strlen(body), md5);
		if (rc == 0)
			rc = s3_req_header(r, "Content-MD5", md5);
	}
	if (rc == 0)
		rc = s3_req_run(r);
	s3_req_free(r);
	return rc;
}

/* Delete every version and delete marker under the bucket, then the bucket. */
static int bucket_purge(struct s3_client *c)
{
	for (int round = 0; round < 20; round++) {
		struct s3_req *r = s3_req_new(c, S3_OP_LIST, "GET", NULL);
		struct s3_xml_versions v = { 0 };
		int rc;

		if (!r)
			return ENOMEM;
		r->xml_body = true;
		r->query = strdup("versions");
		rc = r->query ? s3_req_run(r) : ENOMEM;
		if (rc == 0)
			rc = s3_xml_parse_versions(r->resp.data, r->resp.len, &v);
		s3_req_free(r);
		if (rc)
			return rc;
		for (size_t i = 0; i < v.n && rc == 0; i++) {
			char *enc = s3_uri_encode(v.items[i].version_id, false), q[300];

			r = s3_req_new(c, S3_OP_DELETE, "DELETE", v.items[i].key);
			snprintf(q, sizeof q, "versionId=%s", enc ? enc : "");
			free(enc);
			rc = r && (r->query = strdup(q)) ? s3_req_run(r) : ENOMEM;
			s3_req_free(r);
		}
		size_t n = v.n;
		s3_xml_versions_free(&v);
		if (rc)
			return rc;
		if (n == 0)
			return bucket_req(c, "DELETE", NULL, NULL);
	}
	return EAGAIN;
}

static void test_versioned(void)
{
	static const char enable[] =
		"<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Status>Enabled</Status></VersioningConfiguration>";
	char bucket[64], e1[S3_ETAG_MAX], e2[S3_ETAG_MAX];
	struct s3_config cfg;
	struct s3_client *v = NULL;
	struct s3_caps caps;
	struct s3_object_info cur;
	struct racer r = { 0 };
	int rc;

	snprintf(bucket, sizeof bucket, "s3f-cond-%d", (int)getpid());
	cfg_init(&cfg, bucket);
	CHECK_OK(s3_client_open(&cfg, &v));
	rc = bucket_req(v, "PUT", NULL, NULL);
	if (rc == 0)
		rc = bucket_req(v, "PUT", "versioning", enable);
	if (rc == 0)
		rc = s3_caps_probe(v, "probe", &caps);
	if (rc)
		goto out;
	CHECK_MSG(caps.versioned, "the probe did not see versioning");
	/* RGW 16 ignores x-amz-delete-if-unmodified-since in a versioned bucket */
	CHECK(!caps.delete_unmod_since);

	/* no race: the delete marker hides the version deleted, and nothing older shows */
	CHECK_OK(put_text(v, "a", "old version", NULL));
	CHECK_OK(put_text(v, "a", "current version", e1));
	CHECK_OK(s3_object_delete_if(v, "a", e1, NULL));
	CHECK_INT_EQ(s3_object_head(v, "a", NULL), ENOENT);

	/* the race: another client's version written between the check and the DELETE is
	 * current again afterwards (our delete marker was taken back) */
	CHECK_OK(put_text(v, "b", "the version removed", e2));
	r = (struct racer){ .c = v, .key = "b", .text = "another client's version" };
	CHECK_OK(tp_set("s3.delete.before", racer_fn, &r));
	rc = s3_object_delete_if(v, "b", e2, &cur);
	tp_clear();
	CHECK_INT_EQ(r.hits, 1);
	CHECK_OK(r.rc);
	CHECK_INT_EQ(rc, S3F_E_S3_PRECOND);
	CHECK_STR_EQ(body_of(v, "b"), "another client's version");

	/* the same without the check of the version list: hidden behind the marker */
	caps_none(v);
	CHECK_OK(put_text(v, "c", "the version removed", e2));
	r = (struct racer){ .c = v, .key = "c", .text = "another client's version" };
	CHECK_OK(tp_set("s3.delete.before", racer_fn, &r));
	rc = s3_object_delete_if(v, "c", e2, NULL);
	tp_clear();
	CHECK_OK(rc);
	CHECK_INT_EQ(s3_object_head(v, "c", NULL), ENOENT);
out:
	tp_clear();
	if (v) {
		int rc2 = bucket_purge(v);

		s3_client_close(v);
		CHECK_OK(rc);
		CHECK_OK(rc2);
	}
}

static void test_nothing_left(void)
{
	struct s3_list_req req = { .prefix = prefix };
	struct s3_list_page pg;

	CHECK_OK(s3_list(C, &req, &pg));
	size_t n = pg.n_entries;
	s3_list_page_free(&pg);
	CHECK_INT_EQ(n, 0);
}

int main(void)
{
	struct s3_config cfg;
	int rc;

	check_suite = "test_s3_cond";
	if (check_rgw_load(&rgw) != 0)
		return 1;
	snprintf(prefix, sizeof prefix, "test-s3-cond/%d/", (int)getpid());
	cfg_init(&cfg, rgw.bucket);
	rc = s3_client_open(&cfg, &C);
	if (rc) {
		printf("FAIL %s/open: %s\n", check_suite, s3f_strerror(rc));
		return 1;
	}
	CHECK_RUN(test_xml);
	CHECK_RUN(test_probe);
	CHECK_RUN(test_delete_if_plain);
	CHECK_RUN(test_delete_if_race);
	CHECK_RUN(test_deletes_if_many);
	CHECK_RUN(test_copy_source_race);
	CHECK_RUN(test_copy_multipart_source);
	CHECK_RUN(test_copy_destination);
	CHECK_RUN(test_versioned);
	CHECK_RUN(test_nothing_left);
	s3_client_close(C);
	return check_done();
}
