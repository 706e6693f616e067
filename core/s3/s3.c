/*
 * s3.c — the S3 operations of s3.h, built on the request engine of s3_io.c.
 *
 * Every operation builds one or more struct s3_req, submits them and waits on a group.
 * Operations with internal parallelism (multipart upload, parallel ranged GET, batched
 * DeleteObjects, s3_batch) keep at most N requests of their group in flight from the
 * calling thread: submit, s3_group_wait(g, N - 1), collect the finished ones, submit more.
 *
 * Conditional writes depend on what the server really does (s3_caps_probe): AWS takes a
 * quoted If-Match, Ceph RGW 16 only an unquoted one, and a server that honours neither
 * gets a HEAD-and-compare before the write (not atomic; documented in s3.h).
 */
#include "s3/s3_int.h"
#include "s3/s3_credp.h"
#include "base/err.h"
#include "base/log.h"
#include "base/tp.h"
#include "base/clock.h"
#include "base/hex.h"
#include "base/buf.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define S3_MIN_PART (5ull << 20)
#define S3_MAX_PARTS 10000u
#define S3_MAX_PUT (5ull << 30)			/* largest single PUT / CopyObject */
#define S3_DELETE_BATCH 1000u
#define S3_PARALLEL_CHUNK_MIN (8ull << 20)
#define S3_PARALLEL_CHUNK_MAX (64ull << 20)

const char *s3_op_name(enum s3_op op)
{
	static const char *const names[S3_OP_COUNT] = {
		[S3_OP_GET] = "GET", [S3_OP_HEAD] = "HEAD", [S3_OP_PUT] = "PUT",
		[S3_OP_DELETE] = "DELETE", [S3_OP_DELETE_MULTI] = "DELETE_MULTI",
		[S3_OP_COPY] = "COPY", [S3_OP_LIST] = "LIST", [S3_OP_MPU_CREATE] = "MPU_CREATE",
		[S3_OP_MPU_PART] = "MPU_PART", [S3_OP_MPU_COMPLETE] = "MPU_COMPLETE",
		[S3_OP_MPU_ABORT] = "MPU_ABORT", [S3_OP_MPU_LIST] = "MPU_LIST",
	};
	return (unsigned)op < S3_OP_COUNT ? names[op] : "?";
}

/* ---- configuration and life cycle ---- */

void s3_config_defaults(struct s3_config *cfg)
{
	if (!cfg->max_connections)
		cfg->max_connections = 16;
	if (!cfg->max_retries)
		cfg->max_retries = 8;
	if (!cfg->retry_base_ms)
		cfg->retry_base_ms = 100;
	if (!cfg->retry_max_ms)
		cfg->retry_max_ms = 20000;
	if (!cfg->connect_timeout_ms)
		cfg->connect_timeout_ms = 5000;
	if (!cfg->stall_timeout_s)
		cfg->stall_timeout_s = 30;
	if (!cfg->part_size)
		cfg->part_size = 16ull << 20;
	if (!cfg->multipart_threshold)
		cfg->multipart_threshold = 64ull << 20;
	if (!cfg->part_parallelism)
		cfg->part_parallelism = 8;
}

static pthread_once_t s3_curl_once = PTHREAD_ONCE_INIT;
static CURLcode s3_curl_init_rc;

static void s3_curl_init(void)
{
	s3_curl_init_rc = curl_global_init(CURL_GLOBAL_ALL);
}

/* Split the endpoint into scheme and host[:port]; the Host header and URLs derive from it. */
static int client_endpoint(struct s3_client *c)
{
	const char *ep = c->endpoint, *hp;
	char *scheme = NULL, *hostport = NULL;
	struct buf sh = { 0 }, hh = { 0 }, pp = { 0 };
	size_t n;
	int rc;

	hp = strstr(ep, "://");
	if (!hp)
		return EINVAL;
	scheme = strndup(ep, (size_t)(hp - ep));
	hp += 3;
	n = strcspn(hp, "/?#");
	hostport = strndup(hp, n);
	if (!scheme || !hostport) {
		rc = ENOMEM;
		goto out;
	}
	if (!*hostport || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
	    (hp[n] && strcmp(hp + n, "/") != 0)) {
		rc = EINVAL;
		goto out;
	}
	if (c->cfg.path_style) {
		buf_addf(&sh, "%s://%s", scheme, hostport);
		buf_adds(&hh, hostport);
		buf_addc(&pp, '/');
		s3_sb_add_uri(&pp, c->bucket, strlen(c->bucket), false);
	} else {
		buf_addf(&sh, "%s://%s.%s", scheme, c->bucket, hostport);
		buf_addf(&hh, "%s.%s", c->bucket, hostport);
		buf_add(&pp, "", 0);
	}
	rc = buf_done(&sh, &c->scheme_host);
	if (rc == 0)
		rc = buf_done(&hh, &c->host_hdr);
	if (rc == 0)
		rc = buf_done(&pp, &c->path_prefix);
	if (rc == 0 && c->cfg.tls_skip_verify)
		LOG_WARN(LOG_C_S3, "TLS certificate and host name verification is off for %s "
			 "(bucket %s)%s", ep, c->bucket,
			 strcmp(scheme, "https") == 0 ? "" : "; the endpoint is plain http anyway");
out:
	buf_free(&sh);
	buf_free(&hh);
	buf_free(&pp);
	free(scheme);
	free(hostport);
	return rc;
}

static void client_free(struct s3_client *c)
{
	free(c->endpoint);
	free(c->region);
	free(c->bucket);
	free(c->ca_file);
	free(c->scheme_host);
	free(c->host_hdr);
	free(c->path_prefix);
	explicit_bzero(&c->cfg.creds, sizeof c->cfg.creds);
	free(c);
}

int s3_client_open(const struct s3_config *cfg, struct s3_client **out)
{
	struct s3_client *c;
	int rc;

	*out = NULL;
	if (!cfg->region || !*cfg->region || !cfg->bucket || !*cfg->bucket ||
	    (!cfg->credp && (!cfg->creds.access_key_id[0] || !cfg->creds.secret_access_key[0])))
		return EINVAL;
	pthread_once(&s3_curl_once, s3_curl_init);
	if (s3_curl_init_rc != CURLE_OK)
		return EIO;
	c = calloc(1, sizeof *c);
	if (!c)
		return ENOMEM;
	c->cfg = *cfg;
	s3_config_defaults(&c->cfg);
	if (c->cfg.part_size < S3_MIN_PART)
		c->cfg.part_size = S3_MIN_PART;
	if (c->cfg.multipart_threshold > S3_MAX_PUT)
		c->cfg.multipart_threshold = S3_MAX_PUT;
	c->region = strdup(cfg->region);
	c->bucket = strdup(cfg->bucket);
	if (cfg->endpoint)
		c->endpoint = strdup(cfg->endpoint);
	else if (asprintf(&c->endpoint, "https://s3.%s.amazonaws.com", cfg->region) < 0)
		c->endpoint = NULL;
	c->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
	if (!c->region || !c->bucket || !c->endpoint || (cfg->ca_file && !c->ca_file)) {
		rc = ENOMEM;
		goto fail;
	}
	c->cfg.endpoint = c->endpoint;
	c->cfg.region = c->region;
	c->cfg.bucket = c->bucket;
	c->cfg.ca_file = c->ca_file;
	c->ops = &s3_curl_ops;
	c->copy_single_max = S3_MAX_PUT;
	rc = client_endpoint(c);
	if (rc)
		goto fail;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->fault_mu, NULL);
	pthread_mutex_init(&c->caps_mu, NULL);
	rc = s3_io_start(c);
	if (rc)
		goto fail_mutex;
	*out = c;
	return 0;
fail_mutex:
	pthread_mutex_destroy(&c->caps_mu);
	pthread_mutex_destroy(&c->fault_mu);
	pthread_mutex_destroy(&c->mu);
fail:
	client_free(c);
	return rc;
}

static void s3_curl_close(struct s3_client *c)
{
	s3_io_stop(c);
	s3_fault_set(c, NULL, 0);
	pthread_mutex_destroy(&c->caps_mu);
	pthread_mutex_destroy(&c->fault_mu);
	pthread_mutex_destroy(&c->mu);
	client_free(c);
}

void s3_client_copy_limit_set(struct s3_client *c, uint64_t bytes)
{
	c->copy_single_max = bytes;
}

/* ---- request building helpers ---- */

static int req_headerf(struct s3_req *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int req_headerf(struct s3_req *r, const char *name, const char *fmt, ...)
{
	char v[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(v, sizeof v, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof v)
		return E2BIG;
	return s3_req_header(r, name, v);
}

/* Append "&name=value" (strictly encoded) to a query under construction. */
static void query_add(struct buf *q, const char *name, const char *value)
{
	if (q->len)
		buf_addc(q, '&');
	buf_adds(q, name);
	if (value) {
		buf_addc(q, '=');
		s3_sb_add_uri(q, value, strlen(value), false);
	}
}

static int req_query(struct s3_req *r, struct buf *q)
{
	return buf_done(q, &r->query);
}

static bool key_ok(const char *key)
{
	size_t n = key ? strlen(key) : 0;

	return n > 0 && n <= S3_KEY_MAX;
}

static void info_copy(struct s3_object_info *dst, const struct s3_req *r)
{
	if (dst)
		*dst = r->info;
}

/* ---- conditional requests ---- */

static void s3_curl_caps_get(struct s3_client *c, struct s3_caps *out)
{
	pthread_mutex_lock(&c->caps_mu);
	*out = c->caps;
	pthread_mutex_unlock(&c->caps_mu);
}

static void s3_curl_caps_set(struct s3_client *c, const struct s3_caps *caps)
{
	pthread_mutex_lock(&c->caps_mu);
	c->caps = *caps;
	pthread_mutex_unlock(&c->caps_mu);
}

static void etag_bare(const char *in, char out[S3_ETAG_MAX])
{
	if (!s3_etag_copy(out, S3_ETAG_MAX, in, strlen(in)))
		out[0] = '\0';
}

/* Can the server check cond on this kind of write (PUT, or CompleteMultipartUpload)? */
static void cond_server_checks(const struct s3_caps *caps, bool complete, bool *match, bool *absent)
{
	bool unknown = caps->if_match == S3_COND_UNKNOWN;
	bool complete_ok = !complete || unknown || caps->complete_cond;

	*match = unknown || (caps->if_match != S3_COND_NONE && complete_ok);
	*absent = unknown || (caps->if_none_match && complete_ok);
}

/* If-Match / If-None-Match on a write, in the form this server honours. */
static int cond_write_headers(struct s3_client *c, struct s3_req *r, const struct s3_cond *cond,
			      bool complete)
{
	struct s3_caps caps;
	char et[S3_ETAG_MAX];
	bool match, absent;
	int rc = 0;

	if (!cond)
		return 0;
	s3_caps_get(c, &caps);
	cond_server_checks(&caps, complete, &match, &absent);
	if (cond->if_match && match) {
		etag_bare(cond->if_match, et);
		if (!et[0])
			return EINVAL;
		if (caps.if_match == S3_COND_UNQUOTED)
			rc = s3_req_header(r, "If-Match", et);
		else
			rc = req_headerf(r, "If-Match", "\"%s\"", et);
	}
	if (rc == 0 && cond->if_none_match_any && absent)
		rc = s3_req_header(r, "If-None-Match", "*");
	return rc;
}

/* Where the server cannot check a condition itself, HEAD and compare (not atomic). */
static int cond_write_precheck(struct s3_client *c, const char *key, const struct s3_cond *cond,
			       bool complete)
{
	struct s3_object_info info;
	struct s3_caps caps;
	char et[S3_ETAG_MAX];
	bool match, absent;
	int rc;

	if (!cond)
		return 0;
	s3_caps_get(c, &caps);
	cond_server_checks(&caps, complete, &match, &absent);
	bool check_match = cond->if_match && !match;
	bool check_absent = cond->if_none_match_any && !absent;

	if (!check_match && !check_absent)
		return 0;
	rc = s3_object_head(c, key, &info);
	if (rc == ENOENT)
		return check_match ? S3F_E_S3_PRECOND : 0;
	if (rc)
		return rc;
	if (check_absent)
		return S3F_E_S3_PRECOND;
	etag_bare(cond->if_match, et);
	return strcmp(et, info.etag) == 0 ? 0 : S3F_E_S3_PRECOND;
}

/* If-Match on reads: every server we know strips the quotes there; send the standard form. */
static int cond_read_headers(struct s3_req *r, const struct s3_cond *cond)
{
	char et[S3_ETAG_MAX];

	if (!cond || !cond->if_match)
		return 0;
	etag_bare(cond->if_match, et);
	if (!et[0])
		return EINVAL;
	return req_headerf(r, "If-Match", "\"%s\"", et);
}

/* ---- GET / HEAD ---- */

static int req_build_get(struct s3_client *c, const char *key, uint64_t off, uint64_t len,
			 const struct s3_cond *cond, struct s3_req **out)
{
	struct s3_req *r;
	int rc = 0;

	*out = NULL;
	if (!key_ok(key))
		return EINVAL;
	r = s3_req_new(c, S3_OP_GET, "GET", key);
	if (!r)
		return ENOMEM;
	if (off > 0 || len != UINT64_MAX) {
		if (len == UINT64_MAX || len > UINT64_MAX - off)
			rc = req_headerf(r, "Range", "bytes=%" PRIu64 "-", off);
		else
			rc = req_headerf(r, "Range", "bytes=%" PRIu64 "-%" PRIu64, off, off + len - 1);
		r->range_sent = true;
		r->range_off = off;
	}
	r->sink_max = len;
	if (rc == 0)
		rc = cond_read_headers(r, cond);
	if (rc) {
		s3_req_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* A range starting at or past the end is an empty read, not an error. */
static int get_result(struct s3_req *r, uint64_t *got, struct s3_object_info *info)
{
	int rc = r->rc;

	if (rc == S3F_E_S3_CLIENT && r->http_status == 416) {
		rc = 0;
		r->got = 0;
	}
	if (got)
		*got = rc ? 0 : r->got;
	if (rc == 0)
		info_copy(info, r);
	return rc;
}

static int s3_curl_object_get_fd(struct s3_client *c, const char *key, uint64_t off, uint64_t len,
				 int fd,
				 uint64_t fd_off, const struct s3_cond *cond, uint64_t *got,
				 struct s3_object_info *info)
{
	struct s3_req *r;
	int rc;

	if (got)
		*got = 0;
	if (len == 0)
		return info || cond ? s3_object_head(c, key, info) : 0;
	rc = req_build_get(c, key, off, len, cond, &r);
	if (rc)
		return rc;
	r->sink = S3_SINK_FD;
	r->sink_fd = fd;
	r->sink_off = fd_off;
	s3_req_run(r);
	rc = get_result(r, got, info);
	s3_req_free(r);
	return rc;
}

static int s3_curl_object_get_buf(struct s3_client *c, const char *key, uint64_t off, uint64_t len,
				  struct s3_buf *buf, const struct s3_cond *cond, struct s3_object_info *info)
{
	struct s3_req *r;
	int rc;

	buf->len = 0;
	if (len == 0)
		return info || cond ? s3_object_head(c, key, info) : 0;
	rc = req_build_get(c, key, off, len, cond, &r);
	if (rc)
		return rc;
	r->sink = S3_SINK_BUF;
	r->sink_buf = buf;
	s3_req_run(r);
	rc = get_result(r, NULL, info);
	if (rc)
		buf->len = 0;
	s3_req_free(r);
	return rc;
}

static struct s3_req *req_build_head(struct s3_client *c, const char *key)
{
	return key_ok(key) ? s3_req_new(c, S3_OP_HEAD, "HEAD", key) : NULL;
}

static int s3_curl_object_head(struct s3_client *c, const char *key, struct s3_object_info *info)
{
	struct s3_req *r;
	int rc;

	if (!key_ok(key))
		return EINVAL;
	r = req_build_head(c, key);
	if (!r)
		return ENOMEM;
	rc = s3_req_run(r);
	if (rc == 0)
		info_copy(info, r);
	s3_req_free(r);
	return rc;
}

/* Collect finished requests of a window; the first error wins. */
struct window {
	struct s3_req **slot;
	unsigned n;		/* slots in use */
	unsigned cap;
	struct s3_group g;
};

static int window_init(struct window *w, unsigned cap)
{
	w->slot = calloc(cap, sizeof *w->slot);
	if (!w->slot)
		return ENOMEM;
	w->cap = cap;
	w->n = 0;
	s3_group_init(&w->g);
	return 0;
}

/* Wait until at most `limit` are in flight, then hand each finished one to fn. */
static int window_reap(struct window *w, unsigned limit, int (*fn)(struct s3_req *r, void *arg),
		       void *arg)
{
	int first = 0;

	s3_group_wait(&w->g, limit);
	for (unsigned i = 0; i < w->n;) {
		bool done;

		pthread_mutex_lock(&w->g.mu);
		done = w->slot[i]->finished;
		pthread_mutex_unlock(&w->g.mu);
		if (!done) {
			i++;
			continue;
		}
		int rc = fn(w->slot[i], arg);

		if (rc && !first)
			first = rc;
		s3_req_free(w->slot[i]);
		w->slot[i] = w->slot[--w->n];
	}
	return first;
}

static void window_submit(struct window *w, struct s3_req *r)
{
	r->group = &w->g;
	w->slot[w->n++] = r;
	s3_io_submit(r);
}

static void window_destroy(struct window *w)
{
	s3_group_destroy(&w->g);
	free(w->slot);
}

static int chunk_done(struct s3_req *r, void *arg)
{
	(void)arg;
	if (r->rc)
		return r->rc;
	/* with If-Match pinned, a short chunk means the object is not what HEAD said */
	return r->got == r->sink_max ? 0 : S3F_E_S3_PROTO;
}

static int s3_curl_object_get_parallel(struct s3_client *c, const char *key, uint64_t off,
				       uint64_t len,
				       int fd, uint64_t fd_off, uint64_t chunk, unsigned streams,
				       const struct s3_cond *cond, struct s3_object_info *info)
{
	struct s3_object_info head;
	struct s3_cond pin = { 0 };
	struct window w;
	uint64_t end, pos;
	int rc, rc2;

	if (!streams)
		streams = c->cfg.max_connections < 8 ? c->cfg.max_connections : 8;
	/* One HEAD gives the size (the range is clipped to it) and the ETag every chunk is
	 * pinned to, so the pieces cannot come from different versions of the object. */
	rc = s3_object_head(c, key, &head);
	if (rc)
		return rc;
	pin.if_match = cond && cond->if_match ? cond->if_match : head.etag;
	if (cond && cond->if_match) {
		char et[S3_ETAG_MAX];

		etag_bare(cond->if_match, et);
		if (strcmp(et, head.etag) != 0)
			return S3F_E_S3_PRECOND;
	}
	if (!head.etag[0])
		pin.if_match = NULL;
	if (info)
		*info = head;
	if (off >= head.size)
		return 0;
	end = len > head.size - off ? head.size : off + len;
	if (!chunk) {
		/* about two requests per stream: each request costs the server a lookup and a
		 * fresh read-ahead, so fewer, larger ones are faster, but a retry re-reads a
		 * whole chunk, so not too large either */
		chunk = (end - off) / ((uint64_t)streams * 2);
		if (chunk < S3_PARALLEL_CHUNK_MIN)
			chunk = S3_PARALLEL_CHUNK_MIN;
		if (chunk > S3_PARALLEL_CHUNK_MAX)
			chunk = S3_PARALLEL_CHUNK_MAX;
		chunk = (chunk + (1 << 20) - 1) & ~(uint64_t)((1 << 20) - 1);
	}
	rc = window_init(&w, streams);
	if (rc)
		return rc;
	for (pos = off; pos < end && rc == 0; pos += chunk) {
		uint64_t n = end - pos < chunk ? end - pos : chunk;
		struct s3_req *r;

		rc = window_reap(&w, streams - 1, chunk_done, NULL);
		if (rc)
			break;
		rc = req_build_get(c, key, pos, n, pin.if_match ? &pin : NULL, &r);
		if (rc)
			break;
		r->sink = S3_SINK_FD;
		r->sink_fd = fd;
		r->sink_off = fd_off + (pos - off);
		window_submit(&w, r);
	}
	rc2 = window_reap(&w, 0, chunk_done, NULL);
	if (!rc)
		rc = rc2;
	window_destroy(&w);
	return rc;
}

/* ---- PUT ---- */

static bool meta_name_ok(const char *s)
{
	/* no '_': RGW 16 turns it into '-', so such a name would not come back */
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '-'))
			return false;
	return true;
}

static bool meta_value_ok(const char *s)
{
	size_t n = strlen(s);

	/* Printable ASCII that survives the trip unchanged: HTTP trims the ends of a header
	 * value, and SigV4 signs inner runs of spaces collapsed, which servers may not. */
	if (n && (s[0] == ' ' || s[n - 1] == ' '))
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || (p[0] == ' ' && p[1] == ' '))
			return false;
	return true;
}

/* Content-Type and x-amz-meta-* of opts (for PUT, CreateMultipartUpload, REPLACE copy). */
static int put_meta_headers(struct s3_req *r, const struct s3_put_opts *opts)
{
	char name[80];
	int rc;

	rc = s3_req_header(r, "Content-Type", opts && opts->content_type ? opts->content_type
									 : "application/octet-stream");
	if (rc || !opts)
		return rc;
	if (opts->n_meta > S3_META_MAX || (opts->n_meta && !opts->meta))
		return EINVAL;
	for (unsigned i = 0; i < opts->n_meta; i++) {
		const struct s3_meta_pair *m = &opts->meta[i];

		if (!meta_name_ok(m->name) || !meta_value_ok(m->value))
			return EINVAL;
		snprintf(name, sizeof name, "x-amz-meta-%s", m->name);
		for (char *p = name; *p; p++)
			*p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
		rc = s3_req_header(r, name, m->value);
		if (rc)
			return rc;
	}
	return 0;
}

/* Read fd [off, off+len) whole into a heap buffer; EIO when the file is shorter. */
static int body_read(int fd, uint64_t off, size_t len, void **out)
{
	char *buf = malloc(len ? len : 1);
	size_t done = 0;

	*out = NULL;
	if (!buf)
		return ENOMEM;
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return n < 0 ? errno : EIO;
		}
		done += (size_t)n;
	}
	*out = buf;
	return 0;
}

/* Content-MD5 (and with sign the payload's SHA-256) of r's body, taken from the bytes
 * that will be sent: an fd body of up to S3_MEM_BODY_MAX is read into memory first and
 * becomes a memory body, so a file written meanwhile cannot make digest and body
 * disagree. A larger one is hashed from the fd (s3.h: BadDigest if it then changes). */
static int req_body_digest(struct s3_req *r, bool sign)
{
	char md5[25];
	int rc;

	if (r->src == S3_SRC_FD && r->src_len <= S3_MEM_BODY_MAX) {
		rc = body_read(r->src_fd, r->src_off, (size_t)r->src_len, &r->src_owned);
		if (rc)
			return rc;
		r->src = S3_SRC_MEM;
		r->src_data = r->src_owned;
		r->src_fd = -1;
		r->src_off = 0;
	}
	if (r->src == S3_SRC_MEM) {
		rc = s3_md5_base64(r->src_data, (size_t)r->src_len, md5);
		if (rc == 0 && sign)
			rc = s3_sha256_hex(r->src_data, (size_t)r->src_len, r->payload_hash);
	} else {
		rc = s3_md5_fd_base64(r->src_fd, r->src_off, r->src_len, md5);
		if (rc == 0 && sign)
			rc = s3_sha256_fd_hex(r->src_fd, r->src_off, r->src_len, r->payload_hash);
	}
	return rc ? rc : s3_req_header(r, "Content-MD5", md5);
}

/* A PUT of memory or of an fd range, with metadata and condition headers. */
static int req_build_put(struct s3_client *c, const char *key, const void *data, int fd,
			 uint64_t off, uint64_t len, const struct s3_put_opts *opts,
			 struct s3_req **out)
{
	struct s3_req *r;
	int rc;

	*out = NULL;
	if (!key_ok(key) || len > S3_MAX_PUT || (!data && fd < 0 && len))
		return EINVAL;
	r = s3_req_new(c, S3_OP_PUT, "PUT", key);
	if (!r)
		return ENOMEM;
	r->src = data || fd < 0 ? S3_SRC_MEM : S3_SRC_FD;
	r->src_data = data ? data : "";
	r->src_fd = fd;
	r->src_off = off;
	r->src_len = len;
	rc = put_meta_headers(r, opts);
	if (rc == 0 && opts)
		rc = cond_write_headers(c, r, &opts->cond, false);
	if (rc == 0)
		rc = req_body_digest(r, opts && opts->sign_payload);
	if (rc) {
		s3_req_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static void put_result(const struct s3_req *r, struct s3_object_info *out)
{
	if (!out)
		return;
	memset(out, 0, sizeof *out);
	snprintf(out->etag, sizeof out->etag, "%s", r->info.etag);
	snprintf(out->version_id, sizeof out->version_id, "%s", r->info.version_id);
	out->size = r->src_len;
}

/* The raw MD5 of r's body, from the Content-MD5 header req_body_digest set. */
static int req_body_md5(const struct s3_req *r, unsigned char md5[16])
{
	unsigned char raw[18];

	for (size_t i = 0; i < r->n_hdrs; i++) {
		if (strcasecmp(r->hdrs[i].name, "Content-MD5") != 0)
			continue;
		if (strlen(r->hdrs[i].value) != 24 ||
		    EVP_DecodeBlock(raw, (const unsigned char *)r->hdrs[i].value, 24) != 18)
			return EINVAL;
		memcpy(md5, raw, 16);
		return 0;
	}
	return EINVAL;
}

/* opts->etag_hook with the ETag of md5 (n_parts 0: single-part; else the multipart rule
 * applied to the part MD5s md5[0..n_parts)). */
static int etag_announce(const struct s3_put_opts *opts, const char *key,
			 const unsigned char (*md5)[16], unsigned n_parts)
{
	unsigned char d[16];
	unsigned int dlen = 0;
	char etag[S3_ETAG_MAX];

	if (!opts || !opts->etag_hook)
		return 0;
	if (n_parts == 0) {
		memcpy(d, md5[0], 16);
	} else if (!EVP_Digest(md5, (size_t)n_parts * 16, d, &dlen, EVP_md5(), NULL) ||
		   dlen != 16) {
		return EIO;
	}
	hex_encode(d, 16, etag);
	if (n_parts)
		snprintf(etag + 32, sizeof etag - 32, "-%u", n_parts);
	return opts->etag_hook(opts->etag_hook_arg, key, etag);
}

static int put_single(struct s3_client *c, const char *key, const void *data, int fd,
		      uint64_t off, uint64_t len, const struct s3_put_opts *opts,
		      struct s3_object_info *out)
{
	unsigned char md5[1][16];
	struct s3_req *r;
	int rc;

	rc = cond_write_precheck(c, key, opts ? &opts->cond : NULL, false);
	if (rc)
		return rc;
	rc = req_build_put(c, key, data, fd, off, len, opts, &r);
	if (rc)
		return rc;
	if (opts && opts->etag_hook) {
		rc = req_body_md5(r, md5[0]);
		if (rc == 0)
			rc = etag_announce(opts, key, (const unsigned char (*)[16])md5, 0);
		if (rc) {
			s3_req_free(r);
			return rc;
		}
	}
	rc = s3_req_run(r);
	if (rc == 0)
		put_result(r, out);
	s3_req_free(r);
	return rc;
}

static int s3_curl_object_put_buf(struct s3_client *c, const char *key, const void *data,
				  size_t len,
				  const struct s3_put_opts *opts, struct s3_object_info *out)
{
	if (!data && len)
		return EINVAL;
	return put_single(c, key, data ? data : "", -1, 0, len, opts, out);
}

/* ---- multipart ---- */

static int mpu_query(struct s3_req *r, const char *upload_id, unsigned part)
{
	struct buf q = { 0 };
	char num[16];

	if (part) {
		snprintf(num, sizeof num, "%u", part);
		query_add(&q, "partNumber", num);
	}
	query_add(&q, "uploadId", upload_id);
	return req_query(r, &q);
}

static int s3_curl_mpu_create(struct s3_client *c, const char *key, const struct s3_put_opts *opts,
			      char upload_id[S3_UPLOAD_ID_MAX])
{
	struct s3_req *r;
	struct buf q = { 0 };
	int rc;

	upload_id[0] = '\0';
	if (!key_ok(key))
		return EINVAL;
	r = s3_req_new(c, S3_OP_MPU_CREATE, "POST", key);
	if (!r)
		return ENOMEM;
	r->xml_body = true;
	query_add(&q, "uploads", NULL);
	rc = req_query(r, &q);
	if (rc == 0)
		rc = put_meta_headers(r, opts);
	if (rc == 0)
		rc = s3_req_run(r);
	if (rc == 0)
		rc = s3_xml_parse_mpu_init(r->resp.data, r->resp.len, upload_id);
	s3_req_free(r);
	return rc;
}

static int req_build_part(struct s3_client *c, const char *key, const char *upload_id,
			  unsigned number, int fd, uint64_t off, uint64_t len, bool sign,
			  struct s3_req **out)
{
	struct s3_req *r;
	int rc;

	*out = NULL;
	if (!key_ok(key) || !upload_id || !*upload_id || number < 1 || number > S3_MAX_PARTS ||
	    len > S3_MAX_PUT)
		return EINVAL;
	r = s3_req_new(c, S3_OP_MPU_PART, "PUT", key);
	if (!r)
		return ENOMEM;
	r->src = S3_SRC_FD;
	r->src_fd = fd;
	r->src_off = off;
	r->src_len = len;
	rc = mpu_query(r, upload_id, number);
	if (rc == 0)
		rc = req_body_digest(r, sign);
	if (rc) {
		s3_req_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static int part_result(const struct s3_req *r, unsigned number, struct s3_part *out)
{
	if (r->rc)
		return r->rc;
	if (!r->info.etag[0])
		return S3F_E_S3_PROTO;	/* a part without an ETag cannot be completed */
	out->number = number;
	out->size = r->src_len;
	snprintf(out->etag, sizeof out->etag, "%s", r->info.etag);
	return 0;
}

static int s3_curl_mpu_part_fd(struct s3_client *c, const char *key, const char *upload_id,
			       unsigned number,
			       int fd, uint64_t off, uint64_t len, struct s3_part *out)
{
	struct s3_req *r;
	int rc;

	rc = req_build_part(c, key, upload_id, number, fd, off, len, false, &r);
	if (rc)
		return rc;
	s3_req_run(r);
	rc = part_result(r, number, out);
	s3_req_free(r);
	return rc;
}

/* Sleep for a caller-side retry (a 200 that carries an error document). */
static void backoff_sleep(const struct s3_client *c, unsigned attempt)
{
	uint64_t ms = c->cfg.retry_base_ms;

	for (unsigned i = 1; i < attempt && ms < c->cfg.retry_max_ms; i++)
		ms *= 2;
	if (ms > c->cfg.retry_max_ms)
		ms = c->cfg.retry_max_ms;
	uint64_t x = (uint64_t)clock_mono_ns() ^ (uint64_t)(uintptr_t)&ms;	/* jitter only, per thread */

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	ms = x % (ms + 1);
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The body of a 2xx that should be a result but is an <Error> (Complete, Copy). */
static int error_in_200(const struct s3_req *r, bool *retry)
{
	struct s3_xml_error xe;

	*retry = false;
	if (s3_xml_parse_error(r->resp.data, r->resp.len, &xe) != 0)
		return S3F_E_S3_PROTO;
	*retry = strcmp(xe.code, "InternalError") == 0 || strcmp(xe.code, "SlowDown") == 0 ||
		 strcmp(xe.code, "ServiceUnavailable") == 0;
	LOG_INFO(LOG_C_S3, "%s %s: HTTP %d carrying error %s", s3_op_name(r->op), r->key,
		 r->http_status, xe.code);
	int rc = s3_status_to_rc(r->http_status, xe.code);

	return rc ? rc : S3F_E_S3_SERVER;
}

static int complete_body(const struct s3_part *parts, size_t n, char **out, size_t *len)
{
	struct buf b = { 0 };
	int rc;

	buf_adds(&b, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (size_t i = 0; i < n; i++)
		buf_addf(&b, "<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>",
			   parts[i].number, parts[i].etag);
	buf_adds(&b, "</CompleteMultipartUpload>");
	*len = b.len;
	rc = buf_done(&b, out);
	return rc;
}

/* POST the completion; etag "" when the server did not say (RGW 16). Either cond (in the
 * form the server honours) or one raw header (the probe) is sent. */
static int mpu_complete_run(struct s3_client *c, const char *key, const char *upload_id,
			    const char *body, size_t blen, const struct s3_cond *cond,
			    const struct s3_header *raw, char etag[S3_ETAG_MAX],
			    struct s3_object_info *out)
{
	bool retry = true;
	int rc = 0;

	etag[0] = '\0';
	for (unsigned attempt = 1; retry; attempt++) {
		struct s3_req *r = s3_req_new(c, S3_OP_MPU_COMPLETE, "POST", key);

		retry = false;
		if (!r)
			return ENOMEM;
		r->xml_body = true;
		r->src = S3_SRC_MEM;
		r->src_data = body;
		r->src_len = blen;
		rc = mpu_query(r, upload_id, 0);
		if (rc == 0)
			rc = s3_req_header(r, "Content-Type", "application/xml");
		if (rc == 0)
			rc = raw ? s3_req_header(r, raw->name, raw->value)
				 : cond_write_headers(c, r, cond, true);
		if (rc == 0)
			rc = req_body_digest(r, true);
		if (rc == 0)
			rc = s3_req_run(r);
		if (rc == 0 && s3_xml_parse_mpu_complete(r->resp.data, r->resp.len, etag) != 0) {
			/* a 200 whose body is an <Error>: the completion failed after all */
			rc = error_in_200(r, &retry);
			retry = retry && attempt <= c->cfg.max_retries;
			if (retry)
				backoff_sleep(c, attempt);
		}
		if (rc == 0 && out) {
			memset(out, 0, sizeof *out);
			snprintf(out->version_id, sizeof out->version_id, "%s", r->info.version_id);
		}
		s3_req_free(r);
	}
	return rc;
}

/* RGW 16 answers <ETag/>: the object itself knows. */
static int mpu_etag_learn(struct s3_client *c, const char *key, char etag[S3_ETAG_MAX],
			  struct s3_object_info *out)
{
	struct s3_object_info hi;
	int rc;

	if (etag[0])
		return 0;
	rc = s3_object_head(c, key, &hi);
	if (rc)
		return rc;
	snprintf(etag, S3_ETAG_MAX, "%s", hi.etag);
	if (out)
		*out = hi;
	return 0;
}

static int s3_curl_mpu_complete(struct s3_client *c, const char *key, const char *upload_id,
				const struct s3_part *parts, size_t n, const struct s3_cond *cond,
				struct s3_object_info *out)
{
	char *body = NULL, etag[S3_ETAG_MAX];
	size_t blen = 0;
	int rc;

	if (!key_ok(key) || !upload_id || !*upload_id || n == 0 || n > S3_MAX_PARTS)
		return EINVAL;
	rc = cond_write_precheck(c, key, cond, true);
	if (rc)
		return rc;
	rc = complete_body(parts, n, &body, &blen);
	if (rc)
		return rc;
	rc = mpu_complete_run(c, key, upload_id, body, blen, cond, NULL, etag, out);
	free(body);
	if (rc == 0)
		rc = mpu_etag_learn(c, key, etag, out);
	if (rc)
		return rc;
	if (out) {
		snprintf(out->etag, sizeof out->etag, "%s", etag);
		if (!out->size)
			for (size_t i = 0; i < n; i++)
				out->size += parts[i].size;
	}
	return 0;
}

static int s3_curl_mpu_abort(struct s3_client *c, const char *key, const char *upload_id)
{
	struct s3_req *r;
	int rc;

	if (!key_ok(key) || !upload_id || !*upload_id)
		return EINVAL;
	r = s3_req_new(c, S3_OP_MPU_ABORT, "DELETE", key);
	if (!r)
		return ENOMEM;
	rc = mpu_query(r, upload_id, 0);
	if (rc == 0)
		rc = s3_req_run(r);
	if (rc == ENOENT)	/* some servers say NoSuchKey for a finished upload */
		rc = S3F_E_S3_NOUPLOAD;
	s3_req_free(r);
	return rc;
}

static int s3_curl_mpu_list(struct s3_client *c, const char *prefix, struct s3_upload **out,
			    size_t *n)
{
	struct s3_upload *all = NULL;
	size_t n_all = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	for (;;) {
		struct s3_req *r = s3_req_new(c, S3_OP_MPU_LIST, "GET", NULL);
		struct buf q = { 0 };
		struct s3_xml_uploads page;

		if (!r) {
			rc = ENOMEM;
			break;
		}
		r->xml_body = true;
		query_add(&q, "encoding-type", "url");
		/* continue after the last upload seen: RGW's NextKeyMarker is not encoded */
		if (n_all)
			query_add(&q, "key-marker", all[n_all - 1].key);
		if (prefix && *prefix)
			query_add(&q, "prefix", prefix);
		if (n_all)
			query_add(&q, "upload-id-marker", all[n_all - 1].upload_id);
		query_add(&q, "uploads", NULL);
		rc = req_query(r, &q);
		if (rc == 0)
			rc = s3_req_run(r);
		if (rc == 0)
			rc = s3_xml_parse_uploads(r->resp.data, r->resp.len, true, &page);
		s3_req_free(r);
		if (rc)
			break;
		if (page.n) {
			struct s3_upload *p = realloc(all, (n_all + page.n) * sizeof *p);

			if (!p) {
				s3_xml_uploads_free(&page);
				rc = ENOMEM;
				break;
			}
			all = p;
			memcpy(all + n_all, page.uploads, page.n * sizeof *p);
			n_all += page.n;
			free(page.uploads);	/* the keys moved into all[] */
			page.uploads = NULL;
			page.n = 0;
		}
		bool more = page.truncated;

		s3_xml_uploads_free(&page);
		if (!more)
			break;
	}
	if (rc) {
		s3_uploads_free(all, n_all);
		return rc;
	}
	*out = all;
	*n = n_all;
	return 0;
}

struct mpu_run {
	struct s3_part *parts;
	unsigned char (*md5)[16];	/* each part's MD5, as sent (with an etag_hook) */
};

/* The caller's upload hook (s3_put_opts.upload_hook), if any. */
static int upload_started(const struct s3_put_opts *opts, const char *key, const char *upload_id)
{
	if (!opts || !opts->upload_hook)
		return 0;
	return opts->upload_hook(opts->upload_hook_arg, S3_UPLOAD_STARTED, key, upload_id);
}

static void upload_gone(const struct s3_put_opts *opts, const char *key, const char *upload_id)
{
	if (opts && opts->upload_hook)
		(void)opts->upload_hook(opts->upload_hook_arg, S3_UPLOAD_GONE, key, upload_id);
}

static int mpu_part_done(struct s3_req *r, void *arg)
{
	struct mpu_run *m = arg;
	unsigned number = (unsigned)(uintptr_t)r->tag;
	int rc = part_result(r, number, &m->parts[number - 1]);

	if (rc == 0 && m->md5)
		rc = req_body_md5(r, m->md5[number - 1]);
	return rc;
}

/* Parallel multipart upload of fd [off, off+len): parts in flight up to part_parallelism. */
static int mpu_put_fd(struct s3_client *c, const char *key, int fd, uint64_t off, uint64_t len,
		      const struct s3_put_opts *opts, struct s3_object_info *out)
{
	char upload_id[S3_UPLOAD_ID_MAX];
	uint64_t part = c->cfg.part_size;
	struct mpu_run m = { 0 };
	struct window w;
	unsigned n_parts, par = c->cfg.part_parallelism;
	int rc, rc2;

	while ((len + part - 1) / part > S3_MAX_PARTS)
		part *= 2;
	n_parts = (unsigned)((len + part - 1) / part);
	/* fail before uploading anything; s3_mpu_complete checks again right before completing */
	rc = cond_write_precheck(c, key, opts ? &opts->cond : NULL, true);
	if (rc)
		return rc;
	m.parts = calloc(n_parts, sizeof *m.parts);
	if (opts && opts->etag_hook)
		m.md5 = calloc(n_parts, sizeof *m.md5);
	if (!m.parts || (opts && opts->etag_hook && !m.md5)) {
		free(m.parts);
		free(m.md5);
		return ENOMEM;
	}
	rc = window_init(&w, par);
	if (rc)
		goto out_parts;
	rc = s3_mpu_create(c, key, opts, upload_id);
	if (rc)
		goto out_window;
	rc = upload_started(opts, key, upload_id);
	for (unsigned i = 0; i < n_parts && rc == 0; i++) {
		uint64_t poff = (uint64_t)i * part, plen = len - poff < part ? len - poff : part;
		struct s3_req *r;

		rc = window_reap(&w, par - 1, mpu_part_done, &m);
		if (rc)
			break;
		rc = req_build_part(c, key, upload_id, i + 1, fd, off + poff, plen,
				    opts && opts->sign_payload, &r);
		if (rc)
			break;
		r->tag = (void *)(uintptr_t)(i + 1);
		window_submit(&w, r);
	}
	rc2 = window_reap(&w, 0, mpu_part_done, &m);
	if (!rc)
		rc = rc2;
	if (rc == 0)
		rc = etag_announce(opts, key, (const unsigned char (*)[16])m.md5, n_parts);
	if (rc == 0)
		rc = s3_mpu_complete(c, key, upload_id, m.parts, n_parts, opts ? &opts->cond : NULL,
				     out);
	rc2 = 0;
	if (rc) {
		/* never leave the parts behind; a failed abort is only logged (s3_mpu_list finds
		 * it, and so does a caller that recorded the upload through its hook) */
		rc2 = s3_mpu_abort(c, key, upload_id);
		if (rc2 && rc2 != S3F_E_S3_NOUPLOAD)
			LOG_WARN(LOG_C_S3, "multipart upload of %s failed (%s) and its abort too (%s)",
				 key, s3f_strerror(rc), s3f_strerror(rc2));
	}
	if (rc2 == 0 || rc2 == S3F_E_S3_NOUPLOAD)
		upload_gone(opts, key, upload_id);
out_window:
	window_destroy(&w);
out_parts:
	free(m.parts);
	free(m.md5);
	return rc;
}

static int s3_curl_object_put_fd(struct s3_client *c, const char *key, int fd, uint64_t off,
				 uint64_t len,
				 const struct s3_put_opts *opts, struct s3_object_info *out)
{
	if (fd < 0)
		return EBADF;
	if (len >= c->cfg.multipart_threshold)
		return mpu_put_fd(c, key, fd, off, len, opts, out);
	return put_single(c, key, NULL, fd, off, len, opts, out);
}

/* ---- DELETE ---- */

static int s3_curl_object_delete(struct s3_client *c, const char *key)
{
	struct s3_req *r;
	int rc;

	if (!key_ok(key))
		return EINVAL;
	r = s3_req_new(c, S3_OP_DELETE, "DELETE", key);
	if (!r)
		return ENOMEM;
	rc = s3_req_run(r);
	s3_req_free(r);
	return rc == ENOENT ? 0 : rc;
}

struct del_batch {
	const char *const *keys;
	const char *const *etags;	/* per-object <ETag> conditions, or NULL */
	bool etag_quoted;
	size_t *idx;		/* positions in keys[] of this batch */
	size_t n;
	int *results;
	char *body;
};

static int del_code_rc(const char *code)
{
	if (strcmp(code, "NoSuchKey") == 0)
		return 0;
	int rc = s3_status_to_rc(0, code);

	return rc == S3F_E_S3_PROTO ? S3F_E_S3_SERVER : rc;
}

static int del_batch_done(struct s3_req *r, void *arg)
{
	struct del_batch *b = r->tag;
	struct s3_xml_delete_item *items = NULL;
	size_t n_items = 0;
	int rc = r->rc;

	(void)arg;
	if (rc == 0)
		rc = s3_xml_parse_delete(r->resp.data, r->resp.len, &items, &n_items);
	for (size_t i = 0; i < b->n; i++)
		b->results[b->idx[i]] = rc;
	/* quiet mode: only the failures are listed */
	for (size_t k = 0; rc == 0 && k < n_items; k++) {
		if (items[k].deleted)
			continue;
		for (size_t i = 0; i < b->n; i++)
			if (strcmp(b->keys[b->idx[i]], items[k].key) == 0)
				b->results[b->idx[i]] = del_code_rc(items[k].code);
	}
	s3_xml_delete_free(items, n_items);
	return rc;
}

static int del_batch_request(struct s3_client *c, struct del_batch *b, struct s3_req **out)
{
	struct buf body = { 0 }, q = { 0 };
	struct s3_req *r;
	char md5[25];
	size_t blen;
	int rc;

	buf_adds(&body, "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>");
	for (size_t i = 0; i < b->n; i++) {
		const char *k = b->keys[b->idx[i]];

		buf_adds(&body, "<Object><Key>");
		s3_sb_add_xml(&body, k, strlen(k));
		buf_adds(&body, "</Key>");
		if (b->etags) {
			char et[S3_ETAG_MAX];

			etag_bare(b->etags[b->idx[i]], et);
			buf_addf(&body, b->etag_quoted ? "<ETag>\"%s\"</ETag>" : "<ETag>%s</ETag>",
				   et);
		}
		buf_adds(&body, "</Object>");
	}
	buf_adds(&body, "</Delete>");
	blen = body.len;
	rc = buf_done(&body, &b->body);
	if (rc)
		return rc;
	r = s3_req_new(c, S3_OP_DELETE_MULTI, "POST", NULL);
	if (!r)
		return ENOMEM;
	r->xml_body = true;
	r->tag = b;
	r->src = S3_SRC_MEM;
	r->src_data = b->body;
	r->src_len = blen;
	query_add(&q, "delete", NULL);
	rc = req_query(r, &q);
	if (rc == 0)
		rc = s3_md5_base64(b->body, blen, md5);
	if (rc == 0)
		rc = s3_req_header(r, "Content-MD5", md5);
	if (rc == 0)
		rc = s3_req_header(r, "Content-Type", "application/xml");
	if (rc == 0)
		rc = s3_sha256_hex(b->body, blen, r->payload_hash);
	if (rc) {
		s3_req_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

static void s3_curl_client_single_deletes_set(struct s3_client *c, bool on)
{
	__atomic_store_n(&c->single_deletes, on, __ATOMIC_RELAXED);
}

/* DeleteObjects of keys (with per-object ETag conditions when etags), single DELETEs for
 * keys XML cannot carry and with single deletes on (conditional ones: s3_object_delete_if). */
static int objects_delete(struct s3_client *c, const char *const *keys, const char *const *etags,
			  bool quoted, size_t n, int *results)
{
	size_t n_batches = 0, n_xml = 0, *idx = NULL;
	struct del_batch *batches = NULL;
	struct window w;
	unsigned par = c->cfg.part_parallelism;
	int rc = 0, first = 0;
	bool single;

	if (n == 0)
		return 0;
	idx = calloc(n, sizeof *idx);
	batches = calloc((n + S3_DELETE_BATCH - 1) / S3_DELETE_BATCH, sizeof *batches);
	if (!idx || !batches) {
		rc = ENOMEM;
		goto out;
	}
	/* Keys an XML 1.0 document cannot carry (control characters, bad UTF-8) are
	 * deleted one by one, and so is every key with single deletes on; the rest go in
	 * batches of up to 1,000. */
	single = __atomic_load_n(&c->single_deletes, __ATOMIC_RELAXED);
	for (size_t i = 0; i < n; i++) {
		if (!key_ok(keys[i])) {
			results[i] = EINVAL;
			continue;
		}
		if (!single && s3_xml_text_ok(keys[i], strlen(keys[i])))
			idx[n_xml++] = i;
		else if (etags)
			results[i] = s3_object_delete_if(c, keys[i], etags[i], NULL);
		else
			results[i] = s3_object_delete(c, keys[i]);
	}
	for (size_t i = 0; i < n_xml; i += S3_DELETE_BATCH) {
		struct del_batch *b = &batches[n_batches];

		b->keys = keys;
		b->etags = etags;
		b->etag_quoted = quoted;
		b->idx = idx + i;
		b->n = n_xml - i < S3_DELETE_BATCH ? n_xml - i : S3_DELETE_BATCH;
		b->results = results;
		n_batches++;
	}
	rc = window_init(&w, par);
	if (rc)
		goto out;
	if (etags && n_batches)
		TP("s3.delete.before");
	for (size_t i = 0; i < n_batches && rc == 0; i++) {
		struct s3_req *r;

		window_reap(&w, par - 1, del_batch_done, NULL);
		rc = del_batch_request(c, &batches[i], &r);
		if (rc) {
			for (size_t k = 0; k < batches[i].n; k++)
				results[batches[i].idx[k]] = rc;
			break;
		}
		window_submit(&w, r);
	}
	window_reap(&w, 0, del_batch_done, NULL);
	window_destroy(&w);
out:
	for (size_t i = 0; i < n_batches; i++)
		free(batches[i].body);
	free(batches);
	free(idx);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !first; i++)
		if (!etags || (results[i] != ENOENT && results[i] != S3F_E_S3_PRECOND))
			first = results[i];
	return first;
}

static int s3_curl_objects_delete(struct s3_client *c, const char *const *keys, size_t n,
				  int *results)
{
	return objects_delete(c, keys, NULL, false, n, results);
}

/* ---- conditional DELETE (s3.h: s3_object_delete_if) ---- */

/* One DELETE of key (of version vid when not NULL) with at most one extra header; info
 * (may be NULL) gets the answer's headers (a delete marker's version id). */
static int delete_run(struct s3_client *c, const char *key, const char *vid, const char *hname,
		      const char *hval, struct s3_object_info *info)
{
	struct buf q = { 0 };
	struct s3_req *r;
	int rc = 0;

	r = s3_req_new(c, S3_OP_DELETE, "DELETE", key);
	if (!r)
		return ENOMEM;
	if (vid) {
		query_add(&q, "versionId", vid);
		rc = req_query(r, &q);
	}
	if (rc == 0 && hname)
		rc = s3_req_header(r, hname, hval);
	if (rc == 0)
		rc = s3_req_run(r);
	if (rc == 0)
		info_copy(info, r);
	s3_req_free(r);
	return rc;
}

/* The condition of a delete failed: what does key hold now? ENOENT (nothing: the delete
 * had nothing to do) or S3F_E_S3_PRECOND with cur filled when a HEAD could tell. */
static int delete_refused(struct s3_client *c, const char *key, struct s3_object_info *cur)
{
	struct s3_object_info now;
	int rc = s3_object_head(c, key, &now);

	if (rc == ENOENT)
		return ENOENT;
	if (rc == 0 && cur)
		*cur = now;
	return S3F_E_S3_PRECOND;
}

/* "2026-12-05T10:10:12.000Z": RGW 16 parses x-amz-delete-if-unmodified-since with
 * utime_t::parse_date, which refuses the HTTP date form (InvalidArgument). */
static void iso8601_utc(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

/* The entry right below version `above` of key in its version list (newest first). */
struct ver_below {
	bool found_above, found;
	bool delete_marker;
	char version_id[S3_VERSION_ID_MAX];
	char etag[S3_ETAG_MAX];
};

static int versions_below(struct s3_client *c, const char *key, const char *above,
			  struct ver_below *out)
{
	struct s3_xml_versions v = { 0 };
	struct buf q = { 0 };
	struct s3_req *r;
	int rc;

	memset(out, 0, sizeof *out);
	if (!s3_xml_text_ok(key, strlen(key)))
		return EINVAL;	/* the listing could not carry the key */
	r = s3_req_new(c, S3_OP_LIST, "GET", NULL);
	if (!r)
		return ENOMEM;
	r->xml_body = true;
	query_add(&q, "max-keys", "100");
	query_add(&q, "prefix", key);
	query_add(&q, "versions", NULL);
	rc = req_query(r, &q);
	if (rc == 0)
		rc = s3_req_run(r);
	if (rc == 0)
		rc = s3_xml_parse_versions(r->resp.data, r->resp.len, &v);
	s3_req_free(r);
	for (size_t i = 0; rc == 0 && i < v.n && !out->found; i++) {
		const struct s3_xml_version *it = &v.items[i];

		if (strcmp(it->key, key) != 0)
			continue;
		if (!out->found_above) {
			out->found_above = strcmp(it->version_id, above) == 0;
			continue;
		}
		out->found = true;
		out->delete_marker = it->delete_marker;
		snprintf(out->version_id, sizeof out->version_id, "%s", it->version_id);
		snprintf(out->etag, sizeof out->etag, "%s", it->etag);
	}
	s3_xml_versions_free(&v);
	return rc;
}

/* Versioned bucket: the plain DELETE only adds a delete marker (no bytes go). If the
 * version right below our marker is not the one the HEAD saw, another client wrote
 * between the two requests: our marker is removed again, and that version is current. */
static int delete_versioned(struct s3_client *c, const char *key,
			    const struct s3_object_info *seen, struct s3_object_info *cur)
{
	struct s3_object_info dm = { 0 };
	struct ver_below b;
	int rc;

	rc = delete_run(c, key, NULL, NULL, NULL, &dm);
	if (rc)
		return rc;
	if (!dm.version_id[0] || !seen->version_id[0]) {
		LOG_DEBUG(LOG_C_S3, "DELETE %s: no version ids to check the delete by", key);
		return 0;
	}
	rc = versions_below(c, key, dm.version_id, &b);
	if (rc || !b.found_above) {
		LOG_WARN(LOG_C_S3, "DELETE %s: could not check which version the delete marker %s "
			 "hides (%s)", key, dm.version_id, rc ? s3f_strerror(rc) : "not listed");
		return 0;
	}
	if (!b.found || strcmp(b.version_id, seen->version_id) == 0)
		return 0;
	rc = delete_run(c, key, dm.version_id, NULL, NULL, NULL);
	if (rc && rc != ENOENT) {
		LOG_WARN(LOG_C_S3, "DELETE %s: version %s was written after the check, and removing "
			 "our delete marker %s failed (%s): that version is hidden (not lost)", key,
			 b.version_id, dm.version_id, s3f_strerror(rc));
		return rc;
	}
	LOG_INFO(LOG_C_S3, "DELETE %s: version %s was written between the check and the "
		 "delete; our delete marker was removed again, it stays", key, b.version_id);
	if (cur) {
		memset(cur, 0, sizeof *cur);
		snprintf(cur->etag, sizeof cur->etag, "%s", b.etag);
		snprintf(cur->version_id, sizeof cur->version_id, "%s", b.version_id);
	}
	return b.delete_marker ? ENOENT : S3F_E_S3_PRECOND;
}

static int s3_curl_object_delete_if(struct s3_client *c, const char *key, const char *etag,
				    struct s3_object_info *cur)
{
	struct s3_object_info seen;
	struct s3_caps caps;
	char want[S3_ETAG_MAX], hv[S3_ETAG_MAX + 2], ts[32];
	int rc;

	if (cur)
		memset(cur, 0, sizeof *cur);
	if (!key_ok(key) || !etag)
		return EINVAL;
	etag_bare(etag, want);
	if (!want[0])
		return EINVAL;
	s3_caps_get(c, &caps);
	if (caps.delete_if_match == S3_COND_NATIVE || caps.delete_if_match == S3_COND_UNQUOTED) {
		/* the server checks: no window */
		snprintf(hv, sizeof hv, caps.delete_if_match == S3_COND_NATIVE ? "\"%s\"" : "%s", want);
		TP("s3.delete.before");
		rc = delete_run(c, key, NULL, "If-Match", hv, NULL);
		return rc == S3F_E_S3_PRECOND ? delete_refused(c, key, cur) : rc;
	}
	rc = s3_object_head(c, key, &seen);
	if (rc)
		return rc;
	if (strcmp(seen.etag, want) != 0) {
		if (cur)
			*cur = seen;
		return S3F_E_S3_PRECOND;
	}
	TP("s3.delete.before");
	if (caps.versioned)
		return delete_versioned(c, key, &seen, cur);
	if (caps.delete_unmod_since && seen.last_modified > 0) {
		/* RGW refuses if the object changed in a later second than the one we saw */
		iso8601_utc(seen.last_modified, ts);
		rc = delete_run(c, key, NULL, "x-amz-delete-if-unmodified-since", ts, NULL);
		return rc == S3F_E_S3_PRECOND ? delete_refused(c, key, cur) : rc;
	}
	rc = delete_run(c, key, NULL, NULL, NULL, NULL);
	return rc == ENOENT ? 0 : rc;
}

/* Per-key conditional deletes, part_parallelism keys at a time: each key's check and
 * DELETE stay one round trip apart, whatever the others do. Once a request fails for
 * want of an answer, no further key is started (they get that error too). */
struct delif_work {
	struct s3_client *c;
	const char *const *keys, *const *etags;
	size_t n;
	int *results;
	size_t next;		/* (atomic) next key to take */
	int stop;		/* (atomic) the error that stopped the work, 0 if none */
};

static void *delif_run(void *arg)
{
	struct delif_work *w = arg;

	for (;;) {
		size_t i = __atomic_fetch_add(&w->next, 1, __ATOMIC_RELAXED);
		int stop, rc;

		if (i >= w->n)
			break;
		stop = __atomic_load_n(&w->stop, __ATOMIC_RELAXED);
		if (stop) {
			w->results[i] = stop;
			continue;
		}
		rc = key_ok(w->keys[i]) && w->etags[i]
			     ? s3_object_delete_if(w->c, w->keys[i], w->etags[i], NULL) : EINVAL;
		w->results[i] = rc;
		if (s3_err_transient(rc) || rc == S3F_E_S3_CANCELED)
			__atomic_store_n(&w->stop, rc, __ATOMIC_RELAXED);
	}
	return NULL;
}

static int s3_curl_objects_delete_if(struct s3_client *c, const char *const *keys,
				     const char *const *etags,
				     size_t n, int *results)
{
	struct delif_work w = { c, keys, etags, n, results, 0, 0 };
	pthread_t th[16];
	size_t started = 0, want;
	struct s3_caps caps;
	int first = 0;

	s3_caps_get(c, &caps);
	if (caps.delete_multi_etag &&
	    (caps.delete_if_match == S3_COND_NATIVE || caps.delete_if_match == S3_COND_UNQUOTED))
		return objects_delete(c, keys, etags, caps.delete_if_match == S3_COND_NATIVE, n,
				      results);
	want = c->cfg.part_parallelism < 16 ? c->cfg.part_parallelism : 16;
	while (started + 1 < want && started + 1 < n &&
	       pthread_create(&th[started], NULL, delif_run, &w) == 0)
		started++;
	delif_run(&w);		/* this thread works too (alone if none started) */
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < n && !first; i++)
		if (results[i] != ENOENT && results[i] != S3F_E_S3_PRECOND)
			first = results[i];
	return first;
}

/* ---- CopyObject ---- */

static int copy_source_header(struct s3_client *c, struct s3_req *r, const char *src_key)
{
	struct buf v = { 0 };
	char *val;
	int rc;

	buf_addc(&v, '/');
	s3_sb_add_uri(&v, c->bucket, strlen(c->bucket), false);
	buf_addc(&v, '/');
	s3_sb_add_uri(&v, src_key, strlen(src_key), true);
	rc = buf_done(&v, &val);
	if (rc)
		return rc;
	rc = s3_req_header(r, "x-amz-copy-source", val);
	free(val);
	return rc;
}

/* The source condition in the header this server honours (none where it honours neither:
 * s3_object_copy_if checks by itself then). */
static int copy_cond_header(struct s3_client *c, struct s3_req *r, const struct s3_cond *src_cond)
{
	struct s3_caps caps;
	char et[S3_ETAG_MAX];

	if (!src_cond || !src_cond->if_match)
		return 0;
	etag_bare(src_cond->if_match, et);
	if (!et[0])
		return EINVAL;
	s3_caps_get(c, &caps);
	switch (caps.copy_if_match) {
	case S3_COPY_COND_RGW:
		return req_headerf(r, "x-amz-copy-if-match", "\"%s\"", et);
	case S3_COPY_COND_NONE:
		return 0;
	default:
		return req_headerf(r, "x-amz-copy-source-if-match", "\"%s\"", et);
	}
}

/* A copy answers 200 and a document: CopyObjectResult/CopyPartResult or an <Error>. */
static int copy_run(struct s3_client *c, struct s3_req *(*build)(void *arg), void *arg,
		    char etag[S3_ETAG_MAX], struct s3_object_info *out_info)
{
	bool retry = true;
	int rc = 0;

	for (unsigned attempt = 1; retry; attempt++) {
		struct s3_req *r = build(arg);
		int64_t lm = 0;

		retry = false;
		if (!r)
			return ENOMEM;
		rc = s3_req_run(r);
		if (rc == 0 && s3_xml_parse_copy(r->resp.data, r->resp.len, etag, &lm) != 0) {
			rc = error_in_200(r, &retry);
			retry = retry && attempt <= c->cfg.max_retries;
			if (retry)
				backoff_sleep(c, attempt);
		}
		if (rc == 0 && out_info) {
			memset(out_info, 0, sizeof *out_info);
			snprintf(out_info->etag, sizeof out_info->etag, "%s", etag);
			snprintf(out_info->version_id, sizeof out_info->version_id, "%s",
				 r->info.version_id);
			out_info->last_modified = lm;
		}
		s3_req_free(r);
	}
	return rc;
}

struct copy_args {
	struct s3_client *c;
	const char *src_key, *dst_key;
	const struct s3_put_opts *opts;
	const struct s3_cond *src_cond;
	bool dst_absent;		/* If-None-Match: * (the server honours it on copies) */
	const struct s3_header *raw;	/* one extra header as given (the probe) */
	/* UploadPartCopy */
	const char *upload_id;
	unsigned part;
	uint64_t from, to;
	int err;
};

static struct s3_req *copy_build(void *arg)
{
	struct copy_args *a = arg;
	struct s3_req *r = s3_req_new(a->c, S3_OP_COPY, "PUT", a->dst_key);
	int rc;

	if (!r)
		return NULL;
	r->xml_body = true;
	r->src = S3_SRC_MEM;
	r->src_data = "";
	rc = copy_source_header(a->c, r, a->src_key);
	if (rc == 0)
		rc = copy_cond_header(a->c, r, a->src_cond);
	if (rc == 0 && a->raw)
		rc = s3_req_header(r, a->raw->name, a->raw->value);
	if (rc == 0 && a->dst_absent && !a->upload_id)
		rc = s3_req_header(r, "If-None-Match", "*");
	if (rc == 0 && a->upload_id) {
		r->op = S3_OP_MPU_PART;
		r->stats.op = S3_OP_MPU_PART;
		rc = mpu_query(r, a->upload_id, a->part);
		if (rc == 0)
			rc = req_headerf(r, "x-amz-copy-source-range", "bytes=%" PRIu64 "-%" PRIu64,
					 a->from, a->to);
	} else if (rc == 0) {
		rc = s3_req_header(r, "x-amz-metadata-directive", a->opts ? "REPLACE" : "COPY");
		if (rc == 0 && a->opts)
			rc = put_meta_headers(r, a->opts);
	}
	if (rc) {
		a->err = rc;
		s3_req_free(r);
		return NULL;
	}
	return r;
}

/* Above 5 GiB: CreateMultipartUpload + UploadPartCopy of ranges + Complete. */
static int copy_multipart(struct s3_client *c, const char *src_key, const char *dst_key,
			  const struct s3_put_opts *opts, const struct s3_cond *src_cond,
			  bool dst_absent, const struct s3_object_info *src,
			  struct s3_object_info *out)
{
	const struct s3_cond absent = { .if_none_match_any = true };
	struct s3_put_opts keep = { 0 };
	char upload_id[S3_UPLOAD_ID_MAX], want[S3_ETAG_MAX] = "";
	uint64_t part = c->cfg.part_size;
	struct s3_object_info after;
	struct s3_part *parts;
	struct s3_caps caps;
	unsigned n_parts;
	int rc = 0, rc2;

	/* Ceph RGW 16 checks no source condition on UploadPartCopy (measured, under either
	 * name): compare the HEAD taken before (src) now, and once more after the parts, so a
	 * copy whose parts may come from two versions is not taken for a good one. */
	s3_caps_get(c, &caps);
	if (src_cond && src_cond->if_match && caps.copy_if_match != S3_COPY_COND_STANDARD) {
		etag_bare(src_cond->if_match, want);
		if (strcmp(want, src->etag) != 0)
			return S3F_E_S3_PRECOND;
	}
	if (!opts) {
		/* metadata COPY: carry the source's type and user metadata over */
		keep.content_type = src->content_type[0] ? src->content_type : NULL;
		keep.n_meta = src->n_meta;
		keep.meta = src->meta;
		opts = &keep;
	}
	while ((src->size + part - 1) / part > S3_MAX_PARTS)
		part *= 2;
	n_parts = src->size ? (unsigned)((src->size + part - 1) / part) : 1;
	parts = calloc(n_parts, sizeof *parts);
	if (!parts)
		return ENOMEM;
	rc = s3_mpu_create(c, dst_key, opts, upload_id);
	if (rc)
		goto out;
	rc = upload_started(opts, dst_key, upload_id);
	for (unsigned i = 0; i < n_parts && rc == 0; i++) {
		struct copy_args a = { .c = c, .src_key = src_key, .dst_key = dst_key,
				       .src_cond = src_cond, .upload_id = upload_id, .part = i + 1,
				       .from = (uint64_t)i * part };

		a.to = (src->size - a.from < part ? src->size : a.from + part) - 1;
		rc = copy_run(c, copy_build, &a, parts[i].etag, NULL);
		if (rc == ENOMEM && a.err)
			rc = a.err;
		parts[i].number = i + 1;
		parts[i].size = a.to - a.from + 1;
	}
	if (rc == 0 && want[0]) {
		rc = s3_object_head(c, src_key, &after);
		if (rc == 0 && strcmp(after.etag, want) != 0)
			rc = S3F_E_S3_PRECOND;
		else if (rc == ENOENT)
			rc = S3F_E_S3_PRECOND;
	}
	if (rc == 0)
		rc = s3_mpu_complete(c, dst_key, upload_id, parts, n_parts,
				     dst_absent ? &absent : NULL, out);
	rc2 = rc ? s3_mpu_abort(c, dst_key, upload_id) : 0;
	if (rc2 == 0 || rc2 == S3F_E_S3_NOUPLOAD)
		upload_gone(opts, dst_key, upload_id);
out:
	free(parts);
	return rc;
}

/* The copy itself, conditions as the server takes them (a). */
static int copy_do(struct copy_args *a, struct s3_object_info *out)
{
	struct s3_client *c = a->c;
	const char *src_key = a->src_key, *dst_key = a->dst_key;
	const struct s3_put_opts *opts = a->opts;
	const struct s3_cond *src_cond = a->src_cond;
	struct s3_object_info src;
	char etag[S3_ETAG_MAX];
	int rc;

	if (c->copy_single_max < S3_MAX_PUT) {
		/* lowered limit (tests): decide up front */
		rc = s3_object_head(c, src_key, &src);
		if (rc)
			return rc;
		if (src.size > c->copy_single_max)
			return copy_multipart(c, src_key, dst_key, opts, src_cond, a->dst_absent, &src,
					      out);
	}
	rc = copy_run(c, copy_build, a, etag, out);
	if (rc == ENOMEM && a->err)
		rc = a->err;
	if (rc == S3F_E_S3_CLIENT) {
		/* "InvalidRequest: ... larger than the maximum allowable size for a copy source" */
		int rc2 = s3_object_head(c, src_key, &src);

		if (rc2 == 0 && src.size > S3_MAX_PUT)
			return copy_multipart(c, src_key, dst_key, opts, src_cond, a->dst_absent, &src,
					      out);
	}
	return rc;
}

static int s3_curl_object_copy_if(struct s3_client *c, const char *src_key, const char *dst_key,
				  const struct s3_put_opts *opts, const struct s3_cond *src_cond,
				  const struct s3_cond *dst_cond, struct s3_object_info *out)
{
	struct copy_args a = { .c = c, .src_key = src_key, .dst_key = dst_key, .opts = opts,
			       .src_cond = src_cond };
	struct s3_object_info h, res;
	struct s3_caps caps;
	char want[S3_ETAG_MAX] = "", dwant[S3_ETAG_MAX] = "";
	bool src_ours, dst_match = dst_cond && dst_cond->if_match;
	bool dst_absent = dst_cond && dst_cond->if_none_match_any;
	int rc;

	if (!key_ok(src_key) || !key_ok(dst_key) || (dst_match && dst_absent))
		return EINVAL;
	if (src_cond && src_cond->if_match) {
		etag_bare(src_cond->if_match, want);
		if (!want[0])
			return EINVAL;
	}
	if (dst_match) {
		etag_bare(dst_cond->if_match, dwant);
		if (!dwant[0])
			return EINVAL;
	}
	s3_caps_get(c, &caps);
	/* the source, where the server checks no header of ours: HEAD-compare */
	src_ours = want[0] && (caps.copy_if_match == S3_COPY_COND_NONE ||
			       caps.copy_if_match == S3_COPY_COND_UNKNOWN);
	if (src_ours) {
		rc = s3_object_head(c, src_key, &h);
		if (rc)
			return rc;
		if (strcmp(h.etag, want) != 0)
			return S3F_E_S3_PRECOND;
	}
	/* the destination: If-None-Match where honoured on copies, else HEAD-compare */
	a.dst_absent = dst_absent && caps.copy_if_none_match;
	if (dst_match || (dst_absent && !a.dst_absent)) {
		rc = s3_object_head(c, dst_key, &h);
		if (rc && rc != ENOENT)
			return rc;
		if (dst_absent && rc == 0)
			return S3F_E_S3_PRECOND;
		if (dst_match && (rc == ENOENT || strcmp(h.etag, dwant) != 0))
			return S3F_E_S3_PRECOND;
	}
	TP("s3.copy.before");
	rc = copy_do(&a, &res);
	/* Where the source was only HEAD-checked, the copy's own ETag tells which bytes it
	 * took, when both are single-part MD5s (a copy keeps the MD5 of the bytes). */
	if (rc == 0 && src_ours && s3_etag_is_md5(want) && s3_etag_is_md5(res.etag) &&
	    strcasecmp(res.etag, want) != 0) {
		LOG_INFO(LOG_C_S3, "COPY %s -> %s: the source changed after its check (copied %s, "
			 "expected %s)", src_key, dst_key, res.etag, want);
		rc = S3F_E_S3_PRECOND;
	}
	if (rc == 0 && out)
		*out = res;
	return rc;
}

/* ---- LIST ---- */

static int s3_curl_list(struct s3_client *c, const struct s3_list_req *req,
			struct s3_list_page *page)
{
	struct s3_req *r;
	struct buf q = { 0 };
	char mk[16];
	int rc;

	memset(page, 0, sizeof *page);
	r = s3_req_new(c, S3_OP_LIST, "GET", NULL);
	if (!r)
		return ENOMEM;
	r->xml_body = true;
	if (req->continuation_token && *req->continuation_token)
		query_add(&q, "continuation-token", req->continuation_token);
	if (req->delimiter && *req->delimiter)
		query_add(&q, "delimiter", req->delimiter);
	query_add(&q, "encoding-type", "url");
	query_add(&q, "list-type", "2");
	if (req->max_keys) {
		snprintf(mk, sizeof mk, "%u", req->max_keys);
		query_add(&q, "max-keys", mk);
	}
	if (req->prefix && *req->prefix)
		query_add(&q, "prefix", req->prefix);
	if (req->start_after && *req->start_after)
		query_add(&q, "start-after", req->start_after);
	r->no_retry = req->once;
	rc = req_query(r, &q);
	if (rc == 0)
		rc = s3_req_run(r);
	if (rc == 0)
		rc = s3_xml_parse_list(r->resp.data, r->resp.len, page);
	s3_req_free(r);
	return rc;
}

/* ---- capabilities ---- */

/* One PUT of the probe body with a raw condition header; returns rc, *etag updated. */
static int probe_put(struct s3_client *c, const char *key, const char *hname, const char *hval,
		     char etag[S3_ETAG_MAX])
{
	static const char body[] = "s3files conditional-write probe\n";
	struct s3_req *r;
	int rc;

	rc = req_build_put(c, key, body, -1, 0, sizeof body - 1, NULL, &r);
	if (rc)
		return rc;
	if (hname)
		rc = s3_req_header(r, hname, hval);
	if (rc == 0)
		rc = s3_req_run(r);
	if (rc == 0)
		snprintf(etag, S3_ETAG_MAX, "%s", r->info.etag);
	s3_req_free(r);
	return rc;
}

/* A 501/400 to a condition means "not supported", like ignoring it. */
static bool probe_unsupported(int rc)
{
	return rc == S3F_E_S3_CLIENT || rc == S3F_E_S3_SERVER;
}

/* A one-part multipart upload of the probe body completed with one raw condition header.
 * The upload is aborted when the completion is refused; *etag follows the object. */
static int probe_mpu(struct s3_client *c, const char *key, const char *hname, const char *hval,
		     char etag[S3_ETAG_MAX])
{
	static const char body[] = "s3files conditional-write probe\n";
	const struct s3_header raw = { hname, hval };
	char id[S3_UPLOAD_ID_MAX], *xml = NULL, got[S3_ETAG_MAX];
	struct s3_part part = { .number = 1, .size = sizeof body - 1 };
	struct s3_req *r;
	size_t xlen;
	int rc;

	rc = s3_mpu_create(c, key, NULL, id);
	if (rc)
		return rc;
	r = s3_req_new(c, S3_OP_MPU_PART, "PUT", key);
	if (!r) {
		rc = ENOMEM;
		goto abort;
	}
	r->src = S3_SRC_MEM;
	r->src_data = body;
	r->src_len = sizeof body - 1;
	rc = mpu_query(r, id, 1);
	if (rc == 0)
		rc = req_body_digest(r, false);
	if (rc == 0)
		rc = s3_req_run(r);
	if (rc == 0)
		rc = part_result(r, 1, &part);
	s3_req_free(r);
	if (rc == 0)
		rc = complete_body(&part, 1, &xml, &xlen);
	if (rc == 0)
		rc = mpu_complete_run(c, key, id, xml, xlen, NULL, &raw, got, NULL);
	free(xml);
	if (rc == 0) {
		rc = mpu_etag_learn(c, key, got, NULL);
		if (rc == 0)
			snprintf(etag, S3_ETAG_MAX, "%s", got);
		return rc;
	}
abort:
	s3_mpu_abort(c, key, id);
	return rc;
}

/* Are conditions honoured on CompleteMultipartUpload too? (RGW 16 ignores them there.) */
static int probe_complete(struct s3_client *c, const char *key, struct s3_caps *caps,
			  char etag[S3_ETAG_MAX])
{
	static const char wrong[] = "0123456789abcdef0123456789abcdef-1";
	char form[S3_ETAG_MAX + 2];
	bool quoted = caps->if_match == S3_COND_NATIVE;
	int rc;

	caps->complete_cond = false;
	if (caps->if_none_match) {
		rc = probe_mpu(c, key, "If-None-Match", "*", etag);
		if (rc == 0 || probe_unsupported(rc))
			return 0;
		if (rc != S3F_E_S3_PRECOND)
			return rc;
	}
	if (caps->if_match != S3_COND_NONE) {
		snprintf(form, sizeof form, quoted ? "\"%s\"" : "%s", wrong);
		rc = probe_mpu(c, key, "If-Match", form, etag);
		if (rc == 0 || probe_unsupported(rc))
			return 0;
		if (rc != S3F_E_S3_PRECOND)
			return rc;
		snprintf(form, sizeof form, quoted ? "\"%s\"" : "%s", etag);
		rc = probe_mpu(c, key, "If-Match", form, etag);
		if (rc == S3F_E_S3_PRECOND || probe_unsupported(rc))
			return 0;
		if (rc)
			return rc;
	}
	caps->complete_cond = caps->if_none_match || caps->if_match != S3_COND_NONE;
	return 0;
}

/* ---- probing conditional deletes and copies ---- */

/* A fresh probe object at key; info from a HEAD of it (ETag, Last-Modified). */
static int probe_fresh(struct s3_client *c, const char *key, struct s3_object_info *info)
{
	char etag[S3_ETAG_MAX];
	int rc = probe_put(c, key, NULL, NULL, etag);

	return rc ? rc : s3_object_head(c, key, info);
}

static int probe_exists(struct s3_client *c, const char *key, bool *exists)
{
	struct s3_object_info i;
	int rc = s3_object_head(c, key, &i);

	*exists = rc == 0;
	return rc == ENOENT ? 0 : rc;
}

/* The object at key exists. A DELETE whose condition (header hname) is false must be
 * refused and leave it, and one whose condition is true must delete it. */
static int probe_del_pair(struct s3_client *c, const char *key, const char *hname,
			  const char *hv_false, const char *hv_true, bool *honoured)
{
	bool exists;
	int rc, rc2;

	*honoured = false;
	rc = delete_run(c, key, NULL, hname, hv_false, NULL);
	if (rc && rc != S3F_E_S3_PRECOND)
		return probe_unsupported(rc) ? 0 : rc;
	rc2 = probe_exists(c, key, &exists);
	if (rc2 || rc == 0 || !exists)
		return rc2;	/* the condition was ignored: the object went */
	rc = delete_run(c, key, NULL, hname, hv_true, NULL);
	if (rc)
		return rc == S3F_E_S3_PRECOND || probe_unsupported(rc) ? 0 : rc;
	rc = probe_exists(c, key, &exists);
	*honoured = rc == 0 && !exists;
	return rc;
}

/* DeleteObjects of key alone, on condition etag; *result is the key's outcome. */
static int probe_multi_one(struct s3_client *c, const char *key, const char *etag, bool quoted,
			   int *result)
{
	const char *keys[1] = { key }, *etags[1] = { etag };
	size_t idx = 0;
	struct del_batch b = { .keys = keys, .etags = etags, .etag_quoted = quoted, .idx = &idx,
			       .n = 1, .results = result };
	struct s3_req *r;
	int rc = del_batch_request(c, &b, &r);

	if (rc == 0) {
		s3_req_run(r);
		rc = del_batch_done(r, NULL);
		s3_req_free(r);
	}
	free(b.body);
	return rc;
}

static int probe_multi_etag(struct s3_client *c, const char *key, bool quoted, const char *wrong,
			    const char *right, bool *honoured)
{
	bool exists;
	int res, rc;

	*honoured = false;
	rc = probe_multi_one(c, key, wrong, quoted, &res);
	if (rc == 0)
		rc = probe_exists(c, key, &exists);
	if (rc || res != S3F_E_S3_PRECOND || !exists)
		return rc && !probe_unsupported(rc) ? rc : 0;
	rc = probe_multi_one(c, key, right, quoted, &res);
	if (rc == 0)
		rc = probe_exists(c, key, &exists);
	if (rc)
		return probe_unsupported(rc) ? 0 : rc;
	*honoured = res == 0 && !exists;
	return 0;
}

/* Conditional DELETE: If-Match (quoted, else bare), DeleteObjects with <ETag>, and where
 * If-Match does not work, Ceph RGW's x-amz-delete-if-unmodified-since. */
static int probe_deletes(struct s3_client *c, const char *key, struct s3_caps *caps)
{
	static const char wrong[] = "0123456789abcdef0123456789abcdef";
	struct s3_object_info info;
	char f[S3_ETAG_MAX + 2], t[S3_ETAG_MAX + 2];
	bool ok;
	int rc;

	caps->delete_if_match = S3_COND_NONE;
	caps->delete_multi_etag = caps->delete_unmod_since = false;
	for (int quoted = 1; quoted >= 0 && caps->delete_if_match == S3_COND_NONE; quoted--) {
		rc = probe_fresh(c, key, &info);
		if (rc)
			return rc;
		snprintf(f, sizeof f, quoted ? "\"%s\"" : "%s", wrong);
		snprintf(t, sizeof t, quoted ? "\"%s\"" : "%s", info.etag);
		rc = probe_del_pair(c, key, "If-Match", f, t, &ok);
		if (rc)
			return rc;
		if (ok)
			caps->delete_if_match = quoted ? S3_COND_NATIVE : S3_COND_UNQUOTED;
	}
	if (caps->delete_if_match != S3_COND_NONE) {
		rc = probe_fresh(c, key, &info);
		if (rc == 0)
			rc = probe_multi_etag(c, key, caps->delete_if_match == S3_COND_NATIVE, wrong,
					      info.etag, &ok);
		caps->delete_multi_etag = rc == 0 && ok;
		return rc;
	}
	rc = probe_fresh(c, key, &info);
	if (rc)
		return rc;
	iso8601_utc(info.last_modified - 10, f);
	iso8601_utc(info.last_modified, t);
	rc = probe_del_pair(c, key, "x-amz-delete-if-unmodified-since", f, t, &ok);
	caps->delete_unmod_since = rc == 0 && ok;
	return rc;
}

/* One CopyObject key -> dst with one raw header (or none). */
static int probe_copy_one(struct s3_client *c, const char *key, const char *dst, const char *hname,
			  const char *hval)
{
	const struct s3_header raw = { hname, hval };
	struct copy_args a = { .c = c, .src_key = key, .dst_key = dst, .raw = hname ? &raw : NULL };
	char etag[S3_ETAG_MAX];
	int rc = copy_run(c, copy_build, &a, etag, NULL);

	return rc == ENOMEM && a.err ? a.err : rc;
}

/* The copy's source condition under its standard name, then under RGW's; If-None-Match: *
 * on the destination. dst is left to the caller to delete. */
static int probe_copies(struct s3_client *c, const char *key, const char *dst, struct s3_caps *caps)
{
	static const char *const names[2] = { "x-amz-copy-source-if-match", "x-amz-copy-if-match" };
	static const char wrong[] = "\"0123456789abcdef0123456789abcdef\"";
	struct s3_object_info info;
	char right[S3_ETAG_MAX + 2];
	bool exists;
	int rc;

	caps->copy_if_match = S3_COPY_COND_NONE;
	caps->copy_if_none_match = false;
	rc = probe_fresh(c, key, &info);
	if (rc)
		return rc;
	snprintf(right, sizeof right, "\"%s\"", info.etag);
	for (int i = 0; i < 2 && caps->copy_if_match == S3_COPY_COND_NONE; i++) {
		rc = probe_copy_one(c, key, dst, names[i], wrong);
		if (rc == 0 || probe_unsupported(rc)) {
			rc = s3_object_delete(c, dst);	/* ignored, and copied */
			if (rc)
				return rc;
			continue;
		}
		if (rc != S3F_E_S3_PRECOND)
			return rc;
		rc = probe_exists(c, dst, &exists);
		if (rc)
			return rc;
		if (exists)
			continue;
		rc = probe_copy_one(c, key, dst, names[i], right);
		if (rc == 0)
			caps->copy_if_match = i == 0 ? S3_COPY_COND_STANDARD : S3_COPY_COND_RGW;
		else if (rc != S3F_E_S3_PRECOND && !probe_unsupported(rc))
			return rc;
	}
	rc = probe_exists(c, dst, &exists);
	if (rc == 0 && !exists)
		rc = probe_copy_one(c, key, dst, NULL, NULL);
	if (rc)
		return rc;
	rc = probe_copy_one(c, key, dst, "If-None-Match", "*");
	if (rc == S3F_E_S3_PRECOND)
		caps->copy_if_none_match = true;
	else if (rc && !probe_unsupported(rc))
		return rc;
	return 0;
}

/* GET ?versioning: is versioning Enabled? A server that will not say is taken as not. */
static int probe_versioning(struct s3_client *c, bool *versioned)
{
	struct buf q = { 0 };
	struct s3_req *r;
	char status[16] = "";
	int rc;

	*versioned = false;
	r = s3_req_new(c, S3_OP_LIST, "GET", NULL);
	if (!r)
		return ENOMEM;
	r->xml_body = true;
	query_add(&q, "versioning", NULL);
	rc = req_query(r, &q);
	if (rc == 0)
		rc = s3_req_run(r);
	if (rc == 0)
		rc = s3_xml_parse_versioning(r->resp.data, r->resp.len, status);
	s3_req_free(r);
	if (rc == 0)
		*versioned = strcmp(status, "Enabled") == 0;
	else if (!s3_err_transient(rc) && rc != ENOMEM) {
		LOG_INFO(LOG_C_S3, "bucket versioning unknown (%s): taken as off", s3f_strerror(rc));
		rc = 0;
	}
	return rc;
}

/* A probe of deletes or copies that failed for another reason than the server being
 * away (a policy refusing a request, say) leaves those to the client's own checks and the
 * write conditions found so far in force. */
static int probe_further(int rc, const char *what, struct s3_caps *caps)
{
	if (rc == 0 || s3_err_transient(rc) || rc == S3F_E_S3_CANCELED || rc == ENOMEM)
		return rc;
	LOG_INFO(LOG_C_S3, "probing conditional %s failed (%s): the client checks them itself",
		 what, s3f_strerror(rc));
	if (strcmp(what, "deletes") == 0) {
		caps->delete_if_match = S3_COND_NONE;
		caps->delete_multi_etag = caps->delete_unmod_since = false;
	} else {
		caps->copy_if_match = S3_COPY_COND_NONE;
		caps->copy_if_none_match = false;
	}
	return 0;
}

static int s3_curl_caps_probe(struct s3_client *c, const char *probe_key, struct s3_caps *out)
{
	static const char wrong[] = "0123456789abcdef0123456789abcdef";
	struct s3_caps caps = { .if_match = S3_COND_NONE };
	char etag[S3_ETAG_MAX] = "", quoted[S3_ETAG_MAX + 2], dst[S3_KEY_MAX + 8];
	int rc, rc_del;

	if (!key_ok(probe_key) || strlen(probe_key) + 5 > S3_KEY_MAX)
		return EINVAL;
	snprintf(dst, sizeof dst, "%s.copy", probe_key);
	rc = probe_put(c, probe_key, NULL, NULL, etag);
	if (rc)
		return rc;
	if (!etag[0]) {
		rc = S3F_E_S3_PROTO;
		goto out;
	}
	/* If-None-Match: * on an existing key must be refused */
	rc = probe_put(c, probe_key, "If-None-Match", "*", etag);
	if (rc == S3F_E_S3_PRECOND)
		caps.if_none_match = true;
	else if (rc && !probe_unsupported(rc))
		goto out;
	/* a wrong quoted ETag must be refused, or the server ignores If-Match entirely */
	snprintf(quoted, sizeof quoted, "\"%s\"", wrong);
	rc = probe_put(c, probe_key, "If-Match", quoted, etag);
	if (rc == 0 || probe_unsupported(rc))
		goto done;
	if (rc != S3F_E_S3_PRECOND)
		goto out;
	snprintf(quoted, sizeof quoted, "\"%s\"", etag);
	rc = probe_put(c, probe_key, "If-Match", quoted, etag);
	if (rc == 0) {
		caps.if_match = S3_COND_NATIVE;
		goto done;
	}
	if (rc != S3F_E_S3_PRECOND)
		goto out;
	/* quoted refused although it matched: does the bare ETag work, and a wrong one fail? */
	rc = probe_put(c, probe_key, "If-Match", etag, etag);
	if (rc == 0) {
		rc = probe_put(c, probe_key, "If-Match", wrong, etag);
		if (rc == S3F_E_S3_PRECOND)
			caps.if_match = S3_COND_UNQUOTED;
		else if (rc && !probe_unsupported(rc))
			goto out;
	} else if (rc != S3F_E_S3_PRECOND && !probe_unsupported(rc)) {
		goto out;
	}
	rc = 0;
done:
	rc = probe_complete(c, probe_key, &caps, etag);
	if (rc == 0)
		rc = probe_versioning(c, &caps.versioned);
	if (rc == 0)
		rc = probe_further(probe_deletes(c, probe_key, &caps), "deletes", &caps);
	if (rc == 0)
		rc = probe_further(probe_copies(c, probe_key, dst, &caps), "copies", &caps);
	if (rc)
		goto out;
	pthread_mutex_lock(&c->caps_mu);
	c->caps = caps;
	pthread_mutex_unlock(&c->caps_mu);
	if (out)
		*out = caps;
	LOG_INFO(LOG_C_S3, "conditional writes: If-Match %s, If-None-Match %s, on multipart "
		 "completion %s",
		 caps.if_match == S3_COND_NATIVE ? "native" :
		 caps.if_match == S3_COND_UNQUOTED ? "unquoted ETag only" : "not supported",
		 caps.if_none_match ? "supported" : "not supported",
		 caps.complete_cond ? "honoured" : "checked by HEAD");
	LOG_INFO(LOG_C_S3, "conditional deletes: If-Match %s, per-object ETag in DeleteObjects "
		 "%s, x-amz-delete-if-unmodified-since %s, bucket versioning %s; copies: source "
		 "condition %s, destination If-None-Match %s",
		 caps.delete_if_match == S3_COND_NATIVE ? "native" :
		 caps.delete_if_match == S3_COND_UNQUOTED ? "unquoted ETag only" : "ignored",
		 caps.delete_multi_etag ? "honoured" : "not used",
		 caps.delete_if_match != S3_COND_NONE ? "not needed" :
		 caps.delete_unmod_since ? "honoured (whole seconds)" : "ignored",
		 caps.versioned ? "on (delete markers are checked)" : "off",
		 caps.copy_if_match == S3_COPY_COND_STANDARD ? "x-amz-copy-source-if-match" :
		 caps.copy_if_match == S3_COPY_COND_RGW ? "x-amz-copy-if-match (RGW's name)" :
		 "ignored (checked by HEAD and the copy's ETag)",
		 caps.copy_if_none_match ? "honoured" : "ignored (checked by HEAD)");
out:
	rc_del = s3_object_delete(c, probe_key);
	if (rc_del == 0)
		rc_del = s3_object_delete(c, dst);
	return rc ? rc : rc_del;
}

/* ---- presigned URLs ---- */

static int s3_curl_presign_get(struct s3_client *c, const char *key, unsigned expires_s, char **url)
{
	struct buf p = { 0 }, u = { 0 };
	const struct s3_header h[] = { { "host", c->host_hdr } };
	struct s3_sigv4_out so;
	struct s3_creds cr_copy;
	const struct s3_creds *cr = &c->cfg.creds;
	char *path = NULL, *q = NULL;
	int rc;

	*url = NULL;
	if (!key_ok(key))
		return EINVAL;
	if (c->cfg.credp) {
		rc = s3_credp_get(c->cfg.credp, &cr_copy);
		if (rc)
			return rc;
		cr = &cr_copy;
	}
	buf_adds(&p, c->path_prefix);
	buf_addc(&p, '/');
	s3_sb_add_uri(&p, key, strlen(key), true);
	rc = buf_done(&p, &path);
	if (rc)
		goto out;
	struct s3_sigv4_req sr = {
		.method = "GET", .path = path, .headers = h, .n_headers = 1,
		.payload_sha256 = "UNSIGNED-PAYLOAD", .region = c->region, .service = "s3",
		.now = (int64_t)time(NULL), .creds = cr,
	};
	rc = s3_sigv4_presign(&sr, expires_s, &so, &q);
	if (rc)
		goto out;
	s3_sigv4_out_free(&so);
	buf_addf(&u, "%s%s?%s", c->scheme_host, path, q);
	rc = buf_done(&u, url);
out:
	explicit_bzero(&cr_copy, sizeof cr_copy);
	free(path);
	free(q);
	return rc;
}

/* ---- batches ---- */

enum batch_kind { BATCH_PUT, BATCH_GET, BATCH_HEAD };

struct batch_item {
	struct s3_req *r;
	enum batch_kind kind;
	struct s3_object_info *info;
	uint64_t *got;
	struct s3_buf *buf;	/* GET into memory: emptied when the GET fails */
	int *rc;
};

struct s3_batch_impl {
	struct s3_client *c;
	struct s3_group g;
	struct batch_item *items;
	size_t n, cap;
};

static int s3_curl_batch_open(struct s3_client *c, struct s3_batch_impl **out)
{
	struct s3_batch_impl *b = calloc(1, sizeof *b);

	*out = NULL;
	if (!b)
		return ENOMEM;
	b->c = c;
	s3_group_init(&b->g);
	*out = b;
	return 0;
}

static int batch_add(struct s3_batch_impl *b, struct s3_req *r, enum batch_kind kind,
		     struct s3_object_info *info, uint64_t *got, struct s3_buf *buf, int *rc)
{
	if (BUF_GROW(&b->items, &b->cap, b->n + 1)) {
		s3_req_free(r);
		return ENOMEM;
	}
	b->items[b->n++] = (struct batch_item){ r, kind, info, got, buf, rc };
	r->group = &b->g;
	s3_io_submit(r);
	return 0;
}

static int s3_curl_batch_put_buf(struct s3_batch_impl *b, const char *key, const void *data,
				 size_t len,
				 const struct s3_put_opts *opts, struct s3_object_info *out, int *rc)
{
	struct s3_req *r;
	int err;

	if (!data && len)
		return EINVAL;
	err = cond_write_precheck(b->c, key, opts ? &opts->cond : NULL, false);
	if (err)
		return err;
	err = req_build_put(b->c, key, data ? data : "", -1, 0, len, opts, &r);
	if (err)
		return err;
	return batch_add(b, r, BATCH_PUT, out, NULL, NULL, rc);
}

static int s3_curl_batch_get_fd(struct s3_batch_impl *b, const char *key, uint64_t off,
				uint64_t len, int fd,
				uint64_t fd_off, uint64_t *got, struct s3_object_info *info, int *rc)
{
	struct s3_req *r;
	int err;

	if (len == 0)
		return EINVAL;
	err = req_build_get(b->c, key, off, len, NULL, &r);
	if (err)
		return err;
	r->sink = S3_SINK_FD;
	r->sink_fd = fd;
	r->sink_off = fd_off;
	return batch_add(b, r, BATCH_GET, info, got, NULL, rc);
}

static int s3_curl_batch_get_buf(struct s3_batch_impl *b, const char *key, uint64_t off,
				 uint64_t len,
				 struct s3_buf *buf, const struct s3_cond *cond, struct s3_object_info *info,
				 int *rc)
{
	struct s3_req *r;
	int err;

	if (len == 0 || !buf)
		return EINVAL;
	err = req_build_get(b->c, key, off, len, cond, &r);
	if (err)
		return err;
	/* the sink starts empty: a retried attempt rewinds to this length (s3_io.c) */
	buf->len = 0;
	r->sink = S3_SINK_BUF;
	r->sink_buf = buf;
	return batch_add(b, r, BATCH_GET, info, NULL, buf, rc);
}

static int s3_curl_batch_head(struct s3_batch_impl *b, const char *key, struct s3_object_info *info,
			      int *rc)
{
	struct s3_req *r = req_build_head(b->c, key);

	if (!r)
		return key_ok(key) ? ENOMEM : EINVAL;
	return batch_add(b, r, BATCH_HEAD, info, NULL, NULL, rc);
}

static int s3_curl_batch_wait(struct s3_batch_impl *b)
{
	int first = 0;

	s3_group_wait(&b->g, 0);
	for (size_t i = 0; i < b->n; i++) {
		struct batch_item *it = &b->items[i];
		int rc;

		switch (it->kind) {
		case BATCH_PUT:
			rc = it->r->rc;
			if (rc == 0)
				put_result(it->r, it->info);
			break;
		case BATCH_GET:
			rc = get_result(it->r, it->got, it->info);
			if (it->buf && rc)
				it->buf->len = 0;
			break;
		default:
			rc = it->r->rc;
			if (rc == 0)
				info_copy(it->info, it->r);
			break;
		}
		if (it->rc)
			*it->rc = rc;
		if (rc && !first)
			first = rc;
		s3_req_free(it->r);
	}
	s3_group_destroy(&b->g);
	free(b->items);
	free(b);
	return first;
}

const struct s3_ops s3_curl_ops = {
	.name = "curl",
	.close = s3_curl_close,
	.get_fd = s3_curl_object_get_fd,
	.get_buf = s3_curl_object_get_buf,
	.get_parallel = s3_curl_object_get_parallel,
	.head = s3_curl_object_head,
	.put_buf = s3_curl_object_put_buf,
	.put_fd = s3_curl_object_put_fd,
	.del = s3_curl_object_delete,
	.delete_if = s3_curl_object_delete_if,
	.objects_delete = s3_curl_objects_delete,
	.objects_delete_if = s3_curl_objects_delete_if,
	.single_deletes_set = s3_curl_client_single_deletes_set,
	.copy_if = s3_curl_object_copy_if,
	.list = s3_curl_list,
	.mpu_create = s3_curl_mpu_create,
	.mpu_part_fd = s3_curl_mpu_part_fd,
	.mpu_complete = s3_curl_mpu_complete,
	.mpu_abort = s3_curl_mpu_abort,
	.mpu_list = s3_curl_mpu_list,
	.caps_probe = s3_curl_caps_probe,
	.caps_get = s3_curl_caps_get,
	.caps_set = s3_curl_caps_set,
	.presign_get = s3_curl_presign_get,
	.fault_set = s3_curl_fault_set,
	.fault_fired = s3_curl_fault_fired,
	.batch_open = s3_curl_batch_open,
	.batch_put_buf = s3_curl_batch_put_buf,
	.batch_get_fd = s3_curl_batch_get_fd,
	.batch_get_buf = s3_curl_batch_get_buf,
	.batch_head = s3_curl_batch_head,
	.batch_wait = s3_curl_batch_wait,
};
