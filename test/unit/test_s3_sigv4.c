/*
 * test_s3_sigv4.c — SigV4 against the AWS test suite (../shared/vectors/sigv4, 38 cases,
 * header and query signing: canonical request, string to sign and signature must be
 * byte-identical), plus the S3 examples of the AWS S3 documentation (single-encoded,
 * never-normalized paths, x-amz-content-sha256, presigned GET) and the encoders.
 *
 * request.txt is parsed here: request line (the target may contain spaces), headers with
 * folded continuation lines (kept with their line breaks: the signer must collapse them),
 * then the body. The target path in the files is raw; it goes on the wire %-encoded once
 * per segment (s3_key_encode), which is what the signer receives.
 */
#include "check.h"
#include "base/err.h"
#include "s3/s3.h"
#include "s3/s3_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_HDRS 32

struct vector {
	char dir[8192];
	char name[256];
	/* context.json */
	struct s3_creds creds;
	bool normalize, sign_body, omit_token;
	char region[64], service[64];
	int64_t now;
	unsigned expires;
	/* request.txt */
	char *raw;
	char *method, *path, *query;
	struct s3_header hdrs[MAX_HDRS];
	size_t n_hdrs;
	const char *body;
	size_t body_len;
};

static char vec_root[4096];
static struct vector *cur;

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		}
		if (buf) {
			buf[n] = '\0';
			if (len)
				*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

static char *vec_file(const struct vector *v, const char *name)
{
	char path[8600];

	snprintf(path, sizeof path, "%s/%s", v->dir, name);
	return slurp(path, NULL);
}

/* Minimal JSON field lookups: the context files are flat and machine-written. */
static bool json_str(const char *js, const char *key, char *out, size_t cap)
{
	char pat[128];
	const char *p, *e;

	snprintf(pat, sizeof pat, "\"%s\"", key);
	p = strstr(js, pat);
	if (!p)
		return false;
	p = strchr(p + strlen(pat), ':');
	if (!p)
		return false;
	p = strchr(p, '"');
	if (!p)
		return false;
	e = strchr(++p, '"');
	if (!e || (size_t)(e - p) >= cap)
		return false;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return true;
}

static bool json_bool(const char *js, const char *key, bool dflt)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof pat, "\"%s\"", key);
	p = strstr(js, pat);
	if (!p || !(p = strchr(p, ':')))
		return dflt;
	while (*++p == ' ')
		;
	return strncmp(p, "true", 4) == 0;
}

static long json_long(const char *js, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof pat, "\"%s\"", key);
	p = strstr(js, pat);
	if (!p || !(p = strchr(p, ':')))
		return -1;
	return strtol(p + 1, NULL, 10);
}

static void vector_free(struct vector *v)
{
	free(v->raw);
	free(v->path);
	free(v);
}

static int vector_load(const char *dir, const char *name, struct vector **out)
{
	struct vector *v = calloc(1, sizeof *v);
	char *ctx = NULL, ts[64];
	size_t raw_len;
	char *p, *line_end;

	if (!v)
		return ENOMEM;
	snprintf(v->dir, sizeof v->dir, "%s/%s", dir, name);
	snprintf(v->name, sizeof v->name, "%s", name);
	ctx = vec_file(v, "context.json");
	if (!ctx)
		goto bad;
	if (!json_str(ctx, "access_key_id", v->creds.access_key_id, sizeof v->creds.access_key_id) ||
	    !json_str(ctx, "secret_access_key", v->creds.secret_access_key,
		      sizeof v->creds.secret_access_key) ||
	    !json_str(ctx, "region", v->region, sizeof v->region) ||
	    !json_str(ctx, "service", v->service, sizeof v->service) ||
	    !json_str(ctx, "timestamp", ts, sizeof ts) || s3_parse_iso8601(ts, &v->now) != 0)
		goto bad;
	json_str(ctx, "token", v->creds.session_token, sizeof v->creds.session_token);
	v->normalize = json_bool(ctx, "normalize", true);
	v->sign_body = json_bool(ctx, "sign_body", false);
	/* omit_session_token: the token is added after signing, so it is not signed. */
	v->omit_token = json_bool(ctx, "omit_session_token", false);
	if (v->omit_token)
		v->creds.session_token[0] = '\0';
	v->expires = (unsigned)json_long(ctx, "expiration_in_seconds");
	free(ctx);
	ctx = NULL;

	v->raw = vec_file(v, "request.txt");
	if (!v->raw)
		goto bad;
	raw_len = strlen(v->raw);
	/* request line: METHOD SP target SP HTTP/1.1 — the target may contain spaces */
	line_end = strchr(v->raw, '\n');
	if (!line_end)
		line_end = v->raw + raw_len;
	*line_end = '\0';
	{
		char *sp1 = strchr(v->raw, ' ');
		char *sp2 = strrchr(v->raw, ' ');
		char *target, *qm;

		if (!sp1 || sp2 == sp1)
			goto bad;
		*sp1 = '\0';
		*sp2 = '\0';
		v->method = v->raw;
		target = sp1 + 1;
		qm = strchr(target, '?');
		if (qm) {
			*qm = '\0';
			v->query = qm + 1;
		}
		v->path = s3_key_encode(target);
		if (!v->path)
			goto bad;
	}
	/* headers until an empty line; continuation lines start with white space */
	p = line_end < v->raw + raw_len ? line_end + 1 : line_end;
	while (*p && *p != '\n') {
		char *eol = strchr(p, '\n');
		char *colon;

		if (eol)
			*eol = '\0';
		if ((*p == ' ' || *p == '\t') && v->n_hdrs) {
			/* folded line: join onto the previous value, keeping the line break */
			char *prev_end = (char *)v->hdrs[v->n_hdrs - 1].value;

			prev_end += strlen(prev_end);
			*prev_end = '\n';	/* the NUL we wrote over the previous '\n' */
		} else {
			colon = strchr(p, ':');
			if (!colon || v->n_hdrs == MAX_HDRS)
				goto bad;
			*colon = '\0';
			v->hdrs[v->n_hdrs].name = p;
			v->hdrs[v->n_hdrs].value = colon + 1;
			v->n_hdrs++;
		}
		if (!eol) {
			p += strlen(p);
			break;
		}
		p = eol + 1;
	}
	if (*p == '\n')
		p++;
	v->body = p;
	v->body_len = raw_len - (size_t)(p - v->raw);
	*out = v;
	return 0;
bad:
	free(ctx);
	vector_free(v);
	return EINVAL;
}

static char *expected(const char *file)
{
	char *s = vec_file(cur, file);

	CHECK_MSG(s != NULL, "missing %s/%s", cur->dir, file);
	return s;
}

static void check_same(const char *what, const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		check_fail_at(__FILE__, __LINE__, "%s differs:\n--- got\n%s\n--- want\n%s", what, got,
			      want);
}

static void sigv4_req_init(struct s3_sigv4_req *r, char hash[65])
{
	memset(r, 0, sizeof *r);
	CHECK_OK(s3_sha256_hex(cur->body, cur->body_len, hash));
	r->method = cur->method;
	r->path = cur->path;
	r->query = cur->query;
	r->headers = cur->hdrs;
	r->n_headers = cur->n_hdrs;
	r->payload_sha256 = hash;
	r->normalize_path = cur->normalize;
	r->region = cur->region;
	r->service = cur->service;
	r->now = cur->now;
	r->creds = &cur->creds;
}

static void run_header(void)
{
	struct s3_sigv4_req r;
	struct s3_sigv4_out o;
	char hash[65];
	char got_cr[8192], got_sts[1024], got_sig[65], got_auth[2048];
	char c1[8192], c2[1024], c3[128];
	char *cr = expected("header-canonical-request.txt");
	char *sts = expected("header-string-to-sign.txt");
	char *sig = expected("header-signature.txt");

	/* copy and free first: a failed CHECK longjmps out of the case */
	snprintf(c1, sizeof c1, "%s", cr);
	snprintf(c2, sizeof c2, "%s", sts);
	snprintf(c3, sizeof c3, "%s", sig);
	free(cr);
	free(sts);
	free(sig);
	sigv4_req_init(&r, hash);
	/* sign_body: the payload hash also travels as the x-amz-content-sha256 header */
	if (cur->sign_body) {
		CHECK(cur->n_hdrs < MAX_HDRS);
		cur->hdrs[cur->n_hdrs] = (struct s3_header){ "x-amz-content-sha256", hash };
		r.n_headers = cur->n_hdrs + 1;
	}
	CHECK_OK(s3_sigv4_sign(&r, &o));
	snprintf(got_cr, sizeof got_cr, "%s", o.canonical_request);
	snprintf(got_sts, sizeof got_sts, "%s", o.string_to_sign);
	snprintf(got_sig, sizeof got_sig, "%s", o.signature);
	snprintf(got_auth, sizeof got_auth, "%s", o.authorization);
	s3_sigv4_out_free(&o);
	check_same("canonical request", got_cr, c1);
	check_same("string to sign", got_sts, c2);
	check_same("signature", got_sig, c3);
	CHECK(strstr(got_auth, c3) != NULL);
	CHECK(strncmp(got_auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/", 48) == 0);
}

static void run_query(void)
{
	struct s3_sigv4_req r;
	struct s3_sigv4_out o;
	char hash[65], *q = NULL;
	char got_cr[8192], got_sts[1024], got_sig[65], got_q[8192];
	char c1[8192], c2[1024], c3[128];
	char *cr = expected("query-canonical-request.txt");
	char *sts = expected("query-string-to-sign.txt");
	char *sig = expected("query-signature.txt");

	snprintf(c1, sizeof c1, "%s", cr);
	snprintf(c2, sizeof c2, "%s", sts);
	snprintf(c3, sizeof c3, "%s", sig);
	free(cr);
	free(sts);
	free(sig);
	sigv4_req_init(&r, hash);
	CHECK_OK(s3_sigv4_presign(&r, cur->expires, &o, &q));
	snprintf(got_cr, sizeof got_cr, "%s", o.canonical_request);
	snprintf(got_sts, sizeof got_sts, "%s", o.string_to_sign);
	snprintf(got_sig, sizeof got_sig, "%s", o.signature);
	snprintf(got_q, sizeof got_q, "%s", q);
	s3_sigv4_out_free(&o);
	free(q);
	check_same("canonical request", got_cr, c1);
	check_same("string to sign", got_sts, c2);
	check_same("signature", got_sig, c3);
	/* the query to append ends with the signature and carries every X-Amz field */
	CHECK(strstr(got_q, "X-Amz-Signature=") != NULL);
	CHECK_STR_EQ(strstr(got_q, "X-Amz-Signature=") + 16, c3);
	CHECK(strstr(got_q, "X-Amz-Expires=3600") != NULL);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_vectors(void)
{
	DIR *d = opendir(vec_root);
	char *names[128];
	size_t n = 0;
	struct dirent *e;

	if (!d) {
		printf("FAIL %s/vectors: cannot open %s: %s\n", check_suite, vec_root, strerror(errno));
		check_failed_cases++;
		return;
	}
	while ((e = readdir(d)) && n < 128) {
		if (e->d_name[0] == '.')
			continue;
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, name_cmp);
	if (n != 38) {
		printf("FAIL %s/vectors: expected 38 vector directories in %s, found %zu\n",
		       check_suite, vec_root, n);
		check_failed_cases++;
	}
	for (size_t i = 0; i < n; i++) {
		char cname[300];

		if (vector_load(vec_root, names[i], &cur) != 0) {
			printf("FAIL %s/%s: cannot load the vector\n", check_suite, names[i]);
			check_failed_cases++;
			free(names[i]);
			continue;
		}
		snprintf(cname, sizeof cname, "%s/header", names[i]);
		check_run_case(cname, run_header);
		snprintf(cname, sizeof cname, "%s/query", names[i]);
		check_run_case(cname, run_query);
		vector_free(cur);
		cur = NULL;
		free(names[i]);
	}
}

/* ---- S3 examples from the AWS S3 SigV4 documentation ---- */

static const struct s3_creds doc_creds = {
	.access_key_id = "AKIAIOSFODNN7EXAMPLE",
	.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
};
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void s3_doc_sign(const char *method, const char *path, const char *query,
			const struct s3_header *h, size_t n, const char *payload, const char *want)
{
	struct s3_sigv4_req r = {
		.method = method, .path = path, .query = query, .headers = h, .n_headers = n,
		.payload_sha256 = payload, .normalize_path = false, .region = "us-east-1",
		.service = "s3", .now = 1369353600 /* 2013-05-24T00:00:00Z */, .creds = &doc_creds,
	};
	struct s3_sigv4_out o;
	char sig[65];

	CHECK_OK(s3_sigv4_sign(&r, &o));
	memcpy(sig, o.signature, sizeof sig);
	s3_sigv4_out_free(&o);
	CHECK_STR_EQ(sig, want);
}

static void test_s3_doc_get_object(void)
{
	const struct s3_header h[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "Range", "bytes=0-9" },
		{ "x-amz-content-sha256", EMPTY_SHA },
		{ "x-amz-date", "20130524T000000Z" },
	};
	s3_doc_sign("GET", "/test.txt", NULL, h, 4, EMPTY_SHA,
		    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

static void test_s3_doc_put_object(void)
{
	const char *body = "Welcome to Amazon S3.";
	char hash[65], *path;

	CHECK_OK(s3_sha256_hex(body, strlen(body), hash));
	CHECK_STR_EQ(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
	const struct s3_header h[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "Date", "Fri, 24 May 2013 00:00:00 GMT" },
		{ "x-amz-date", "20130524T000000Z" },
		{ "x-amz-storage-class", "REDUCED_REDUNDANCY" },
		{ "x-amz-content-sha256", hash },
	};
	path = s3_key_encode("/test$file.text");
	CHECK(path != NULL);
	char p[64];
	snprintf(p, sizeof p, "%s", path);
	free(path);
	CHECK_STR_EQ(p, "/test%24file.text");
	s3_doc_sign("PUT", p, NULL, h, 5, hash,
		    "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

static void test_s3_doc_get_lifecycle(void)
{
	const struct s3_header h[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "x-amz-date", "20130524T000000Z" },
		{ "x-amz-content-sha256", EMPTY_SHA },
	};
	/* a value-less sub-resource canonicalizes as "lifecycle=" */
	s3_doc_sign("GET", "/", "lifecycle", h, 3, EMPTY_SHA,
		    "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

static void test_s3_doc_list_objects(void)
{
	const struct s3_header h[] = {
		{ "Host", "examplebucket.s3.amazonaws.com" },
		{ "x-amz-date", "20130524T000000Z" },
		{ "x-amz-content-sha256", EMPTY_SHA },
	};
	s3_doc_sign("GET", "/", "max-keys=2&prefix=J", h, 3, EMPTY_SHA,
		    "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

static void test_s3_doc_presigned_get(void)
{
	const struct s3_header h[] = { { "Host", "examplebucket.s3.amazonaws.com" } };
	struct s3_sigv4_req r = {
		.method = "GET", .path = "/test.txt", .headers = h, .n_headers = 1,
		.payload_sha256 = "UNSIGNED-PAYLOAD", .region = "us-east-1", .service = "s3",
		.now = 1369353600, .creds = &doc_creds,
	};
	struct s3_sigv4_out o;
	char *q = NULL, sig[65], qs[1024];

	CHECK_OK(s3_sigv4_presign(&r, 86400, &o, &q));
	memcpy(sig, o.signature, sizeof sig);
	snprintf(qs, sizeof qs, "%s", q);
	s3_sigv4_out_free(&o);
	free(q);
	CHECK_STR_EQ(sig, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	CHECK_STR_EQ(qs, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE"
		     "%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z"
		     "&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature="
		     "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

/* S3 flavour: the path is signed exactly as sent, "." / ".." / "//" included. */
static void test_s3_path_not_normalized(void)
{
	const struct s3_header h[] = { { "host", "b.example" } };
	struct s3_sigv4_req r = {
		.method = "GET", .path = "/bkt/a/../b//c/./%20", .headers = h, .n_headers = 1,
		.payload_sha256 = "UNSIGNED-PAYLOAD", .region = "r", .service = "s3", .now = 0,
		.creds = &doc_creds,
	};
	struct s3_sigv4_out o;
	char line[256];

	CHECK_OK(s3_sigv4_sign(&r, &o));
	snprintf(line, sizeof line, "%s", o.canonical_request);
	s3_sigv4_out_free(&o);
	CHECK(strncmp(line, "GET\n/bkt/a/../b//c/./%20\n\nhost:b.example\n", 41) == 0);
	CHECK(strstr(line, "\nUNSIGNED-PAYLOAD") != NULL);
}

static void test_s3_token_signed(void)
{
	struct s3_creds cr = doc_creds;
	const struct s3_header h[] = { { "host", "b.example" } };
	struct s3_sigv4_req r = {
		.method = "GET", .path = "/", .headers = h, .n_headers = 1,
		.payload_sha256 = EMPTY_SHA, .region = "r", .service = "s3", .now = 0, .creds = &cr,
	};
	struct s3_sigv4_out o;
	char line[2048], auth[512];

	snprintf(cr.session_token, sizeof cr.session_token, "TOKEN+/=");
	CHECK_OK(s3_sigv4_sign(&r, &o));
	snprintf(line, sizeof line, "%s", o.canonical_request);
	snprintf(auth, sizeof auth, "%s", o.authorization);
	s3_sigv4_out_free(&o);
	CHECK(strstr(line, "x-amz-security-token:TOKEN+/=\n") != NULL);
	CHECK(strstr(auth, "SignedHeaders=host;x-amz-date;x-amz-security-token,") != NULL);
	CHECK(strstr(auth, doc_creds.secret_access_key) == NULL);
}

static void test_encode_decode(void)
{
	char *e = s3_key_encode("a b+c=d%e~f/./..//g\x01\t\n\xe1\x88\xb4/");
	char got[256], *d = NULL;
	size_t dl = 0;

	CHECK(e != NULL);
	snprintf(got, sizeof got, "%s", e);
	free(e);
	CHECK_STR_EQ(got, "a%20b%2Bc%3Dd%25e~f/./..//g%01%09%0A%E1%88%B4/");
	CHECK_OK(s3_uri_decode(got, strlen(got), false, &d, &dl));
	snprintf(got, sizeof got, "%s", d);
	free(d);
	CHECK_STR_EQ(got, "a b+c=d%e~f/./..//g\x01\t\n\xe1\x88\xb4/");
	CHECK_OK(s3_uri_decode("a+b%2B", 6, true, &d, &dl));
	snprintf(got, sizeof got, "%s", d);
	free(d);
	CHECK_STR_EQ(got, "a b+");
	CHECK_INT_EQ(s3_uri_decode("a%2", 3, false, &d, &dl), EINVAL);
	CHECK_INT_EQ(s3_uri_decode("a%zz", 4, false, &d, &dl), EINVAL);
	CHECK_INT_EQ(s3_uri_decode("%00", 3, false, &d, &dl), EINVAL);
	CHECK(s3_xml_text_ok("caf\xc3\xa9 \t\n", 8));
	CHECK(!s3_xml_text_ok("a\x01", 2));
	CHECK(!s3_xml_text_ok("\xc3", 1));
	CHECK(!s3_xml_text_ok("\xc0\xaf", 2));		/* overlong '/' */
	CHECK(!s3_xml_text_ok("\xed\xa0\x80", 3));	/* surrogate */
	CHECK(!s3_xml_text_ok("\xef\xbf\xbf", 3));	/* U+FFFF */
}

/* URLs of both addressing styles (built by the client; presigning shows them whole). */
static void test_url_styles(void)
{
	struct s3_config cfg = { 0 };
	struct s3_client *c;
	char *url = NULL, u1[1024], u2[1024];
	int rc;

	s3_config_defaults(&cfg);
	cfg.endpoint = "http://127.0.0.1:9/";
	cfg.region = "eu-west-3";
	cfg.bucket = "bkt";
	cfg.path_style = true;
	cfg.creds = doc_creds;
	CHECK_OK(s3_client_open(&cfg, &c));
	rc = s3_presign_get(c, "a b/../c+%", 60, &url);
	snprintf(u1, sizeof u1, "%s", url ? url : "");
	free(url);
	s3_client_close(c);
	CHECK_OK(rc);
	cfg.path_style = false;
	CHECK_OK(s3_client_open(&cfg, &c));
	rc = s3_presign_get(c, "a b/../c+%", 60, &url);
	snprintf(u2, sizeof u2, "%s", url ? url : "");
	free(url);
	s3_client_close(c);
	CHECK_OK(rc);
	CHECK_MSG(strncmp(u1, "http://127.0.0.1:9/bkt/a%20b/../c%2B%25?X-Amz-Algorithm=", 56) == 0,
		  "%s", u1);
	CHECK_MSG(strncmp(u2, "http://bkt.127.0.0.1:9/a%20b/../c%2B%25?X-Amz-Algorithm=", 56) == 0,
		  "%s", u2);
	CHECK(strstr(u1, "%2Feu-west-3%2Fs3%2Faws4_request") != NULL);
	/* endpoints we cannot use are refused up front */
	cfg.endpoint = "ftp://x";
	CHECK_INT_EQ(s3_client_open(&cfg, &c), EINVAL);
	cfg.endpoint = "http://host/path";
	CHECK_INT_EQ(s3_client_open(&cfg, &c), EINVAL);
	cfg.endpoint = NULL;	/* AWS by region */
	cfg.path_style = true;
	CHECK_OK(s3_client_open(&cfg, &c));
	rc = s3_presign_get(c, "k", 60, &url);
	snprintf(u1, sizeof u1, "%s", url ? url : "");
	free(url);
	s3_client_close(c);
	CHECK(strncmp(u1, "https://s3.eu-west-3.amazonaws.com/bkt/k?", 41) == 0);
}

static void test_bad_args(void)
{
	struct s3_sigv4_req r = { .method = "GET", .path = "nope", .payload_sha256 = EMPTY_SHA,
				  .region = "r", .service = "s3", .creds = &doc_creds };
	struct s3_sigv4_out o;
	char *q;

	CHECK_INT_EQ(s3_sigv4_sign(&r, &o), EINVAL);	/* path must start with '/' */
	r.path = "/";
	CHECK_INT_EQ(s3_sigv4_presign(&r, 0, &o, &q), EINVAL);
	CHECK_INT_EQ(s3_sigv4_presign(&r, 8 * 24 * 3600, &o, &q), EINVAL);
	r.creds = NULL;
	CHECK_INT_EQ(s3_sigv4_sign(&r, &o), EINVAL);
}

int main(void)
{
	const char *root = getenv("S3F_ROOT");
	const char *shared = getenv("S3F_SHARED");	/* default: ../shared beside the root */
	char cwd[4096];

	if (!root || !*root)
		root = getcwd(cwd, sizeof cwd);
	if (shared && *shared)
		snprintf(vec_root, sizeof vec_root, "%s/vectors/sigv4", shared);
	else
		snprintf(vec_root, sizeof vec_root, "%s/../shared/vectors/sigv4",
			 root ? root : ".");
	run_vectors();
	CHECK_RUN(test_s3_doc_get_object);
	CHECK_RUN(test_s3_doc_put_object);
	CHECK_RUN(test_s3_doc_get_lifecycle);
	CHECK_RUN(test_s3_doc_list_objects);
	CHECK_RUN(test_s3_doc_presigned_get);
	CHECK_RUN(test_s3_path_not_normalized);
	CHECK_RUN(test_s3_token_signed);
	CHECK_RUN(test_encode_decode);
	CHECK_RUN(test_url_styles);
	CHECK_RUN(test_bad_args);
	return check_done();
}
