/*
 * s3_io.c — the client's I/O thread: one CURLM, a submit queue, a ready list, a timer
 * list, retries with full-jitter exponential backoff, and the fault-injection layer.
 *
 * Why one thread: a single multi handle shares its connection cache among every caller,
 * so keep-alive connections are reused across threads, and the number of connections
 * is bounded by configuration rather than by the number of callers. Callers never touch
 * curl; they queue a struct s3_req and sleep on their group's condvar.
 *
 * Data moves without intermediate copies: the write callback pwrite()s straight from
 * curl's receive buffer into the caller's fd at the right offset, and the read callback
 * pread()s from the caller's fd into curl's send buffer. Retries restart a body from its
 * first byte (fd sources use pread, so there is nothing to rewind; memory sinks are
 * truncated back to where they started).
 *
 * Faults (tests) are applied where an attempt begins, so an injected 503 or reset goes
 * through exactly the classification, retry and statistics code a real one does.
 *
 * Whole-object GETs are verified here, on the bytes as they reach the sink (see s3.h):
 * the decision is taken at the first body byte, when the status, the Range answer, the
 * ETag and the encryption headers are known, and the MD5 is fed from the write callback,
 * so every caller (fd, buffer, batch, parallel) gets it without a second read.
 */
#include "s3/s3_int.h"
#include "s3/s3_credp.h"
#include "base/err.h"
#include "base/log.h"
#include "base/clock.h"
#include "base/hex.h"
#include "base/buf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define IO_BIG_BUFFER (512u << 10)	/* curl's receive buffer for bulk GETs (its maximum) */
#define IO_UPLOAD_BUFFER (1u << 20)	/* send buffer for large bodies */
#define IO_EXPECT_MIN (1u << 20)	/* smaller bodies never wait for 100-continue */

/* ---- groups ---- */

void s3_group_init(struct s3_group *g)
{
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->pending = 0;
}

void s3_group_destroy(struct s3_group *g)
{
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
}

void s3_group_wait(struct s3_group *g, unsigned limit)
{
	pthread_mutex_lock(&g->mu);
	while (g->pending > limit)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

/* ---- request objects ---- */

struct s3_req *s3_req_new(struct s3_client *c, enum s3_op op, const char *method, const char *key)
{
	struct s3_req *r = calloc(1, sizeof *r);

	if (!r)
		return NULL;
	r->c = c;
	r->op = op;
	r->method = method;
	r->src_fd = -1;
	r->sink_fd = -1;
	r->sink_max = UINT64_MAX;
	r->stats.op = op;
	strcpy(r->payload_hash, "UNSIGNED-PAYLOAD");
	if (key) {
		r->key = strdup(key);
		if (!r->key) {
			free(r);
			return NULL;
		}
	}
	return r;
}

void s3_req_free(struct s3_req *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_hdrs; i++) {
		free(r->hdrs[i].name);
		free(r->hdrs[i].value);
	}
	free(r->key);
	free(r->query);
	free(r->url);
	free(r->path);
	free(r->resp.data);
	free(r->src_owned);
	EVP_MD_CTX_free(r->md5);
	free(r);
}

/* Header values travel verbatim: a CR or LF would split the request. */
int s3_req_header(struct s3_req *r, const char *name, const char *value)
{
	struct s3_req_hdr *h;

	if (r->n_hdrs == S3_REQ_HDR_MAX)
		return E2BIG;
	if (!*name || strpbrk(name, "\r\n: \t") || strpbrk(value, "\r\n"))
		return EINVAL;
	h = &r->hdrs[r->n_hdrs];
	h->name = strdup(name);
	h->value = strdup(value);
	if (!h->name || !h->value) {
		free(h->name);
		free(h->value);
		return ENOMEM;
	}
	r->n_hdrs++;
	return 0;
}

/* ---- error mapping ---- */

int s3_status_to_rc(int status, const char *code)
{
	static const struct {
		const char *code;
		int rc;
	} by_code[] = {
		{ "NoSuchBucket", S3F_E_S3_NOBUCKET },
		{ "NoSuchUpload", S3F_E_S3_NOUPLOAD },
		{ "NoSuchKey", ENOENT },
		{ "AccessDenied", EACCES },
		{ "SignatureDoesNotMatch", S3F_E_S3_AUTH },
		{ "InvalidAccessKeyId", S3F_E_S3_AUTH },
		{ "InvalidToken", S3F_E_S3_AUTH },
		{ "ExpiredToken", S3F_E_S3_AUTH },
		{ "TokenRefreshRequired", S3F_E_S3_AUTH },
		{ "AuthorizationHeaderMalformed", S3F_E_S3_AUTH },
		{ "RequestTimeTooSkewed", S3F_E_S3_AUTH },
		{ "InvalidSecurity", S3F_E_S3_AUTH },
		{ "PreconditionFailed", S3F_E_S3_PRECOND },
		{ "BadDigest", S3F_E_S3_DIGEST },
		{ "SlowDown", S3F_E_S3_SERVER },
		{ "InternalError", S3F_E_S3_SERVER },
		{ "ServiceUnavailable", S3F_E_S3_SERVER },
		{ "RequestTimeout", S3F_E_S3_NET },
	};

	if (status >= 200 && status < 300 && !(code && *code))
		return 0;
	for (size_t i = 0; code && *code && i < sizeof by_code / sizeof by_code[0]; i++)
		if (strcmp(code, by_code[i].code) == 0)
			return by_code[i].rc;
	switch (status) {
	case 403: return S3F_E_S3_AUTH;	/* HEAD answers carry no code: mostly a bad key */
	case 404: return ENOENT;
	case 409: return S3F_E_S3_CONFLICT;
	case 412: return S3F_E_S3_PRECOND;
	case 429: return S3F_E_S3_SERVER;
	default: break;
	}
	if (status >= 500 && status < 600)
		return S3F_E_S3_SERVER;
	if (status >= 300 && status < 500)
		return S3F_E_S3_CLIENT;
	return S3F_E_S3_PROTO;
}

static bool io_status_retryable(int status, const char *code)
{
	if (status == 500 || status == 502 || status == 503 || status == 504 || status == 429)
		return true;
	return strcmp(code, "SlowDown") == 0 || strcmp(code, "InternalError") == 0 ||
	       strcmp(code, "RequestTimeout") == 0 || strcmp(code, "ServiceUnavailable") == 0;
}

static bool io_curl_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SEND_FAIL_REWIND:
	case CURLE_WEIRD_SERVER_REPLY:
		return true;
	default:
		return false;
	}
}

/* ---- finishing ---- */

/* The last thing done with r on the I/O thread (or on a submitter that never queued it). */
static void io_finish(struct s3_req *r, int rc)
{
	struct s3_client *c = r->c;
	struct s3_group *g = r->group;

	r->rc = rc;
	if (rc)
		r->got = 0;
	r->stats.rc = rc;
	r->stats.http_status = r->http_status;
	r->stats.latency_ns = (uint64_t)clock_mono_ns() - r->t_start_ns;
	if (c->cfg.observer)
		c->cfg.observer(c->cfg.observer_arg, &r->stats);
	pthread_mutex_lock(&g->mu);
	r->finished = true;
	g->pending--;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* ---- callbacks (I/O thread, inside curl_multi_perform) ---- */

static bool io_buf_append(struct s3_buf *b, const char *p, size_t n, size_t limit, bool grow_ok)
{
	if (n > limit - b->len || (b->len + n > b->cap && !grow_ok))
		return false;
	if (buf_grow(&b->data, &b->cap, b->len + n, 1))
		return false;
	memcpy((char *)b->data + b->len, p, n);
	b->len += n;
	return true;
}

static bool io_sink_write(struct s3_req *r, const char *p, size_t n)
{
	if (r->sink == S3_SINK_FD) {
		while (n) {
			ssize_t w = pwrite(r->sink_fd, p, n, (off_t)(r->sink_off + r->got));

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				r->local_err = w < 0 ? errno : EIO;
				return false;
			}
			p += w;
			n -= (size_t)w;
			r->got += (uint64_t)w;
		}
		return true;
	}
	if (r->sink == S3_SINK_BUF) {
		struct s3_buf *b = r->sink_buf;

		if (!io_buf_append(b, p, n, SIZE_MAX, !b->fixed)) {
			r->local_err = b->fixed ? EOVERFLOW : ENOMEM;
			return false;
		}
	}
	r->got += n;
	return true;
}

/* First byte of a 2xx body: check the server honoured our Range. */
static bool io_range_ok(struct s3_req *r)
{
	r->range_checked = true;
	if (!r->range_sent)
		return true;
	if (r->http_status == 200 && r->range_off == 0)
		return true;	/* whole object from 0: sink_max trims it */
	if (r->http_status == 206 && r->cr_start == r->range_off)
		return true;
	LOG_WARN(LOG_C_S3, "GET %s: asked for bytes from %" PRIu64 ", got status %d starting at %"
		 PRId64, r->key, r->range_off, r->http_status,
		 r->cr_start == UINT64_MAX ? (int64_t)-1 : (int64_t)r->cr_start);
	r->local_err = S3F_E_S3_PROTO;
	return false;
}

/* First byte of a 2xx GET body (the Range answer checked): may it be the whole object
 * with an MD5 ETag? Then the MD5 of the body is computed as it arrives (s3.h). */
static bool io_verify_begin(struct s3_req *r)
{
	r->verify = false;
	if (r->op != S3_OP_GET || (r->range_sent && r->range_off != 0) || r->etag_not_md5 ||
	    !s3_etag_is_md5(r->info.etag))
		return true;
	if (!r->md5)
		r->md5 = EVP_MD_CTX_new();
	if (!r->md5 || !EVP_DigestInit_ex(r->md5, EVP_md5(), NULL)) {
		r->local_err = ENOMEM;
		return false;
	}
	r->verify = true;
	return true;
}

/* End of a 2xx GET that verifies: S3F_E_S3_CORRUPT when the body was the whole object and
 * its MD5 is not the ETag; 0 otherwise (also when it was not the whole object after all). */
static int io_verify_end(struct s3_req *r)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * 16 + 1];
	bool whole;

	if (!r->verify)
		return 0;
	/* 200: Content-Length is the object's size; 206 from 0: Content-Range's total is */
	whole = r->have_size && r->got == r->info.size && !r->early_stop &&
		(r->http_status == 200 || (r->http_status == 206 && r->cr_start == 0));
	if (!whole)
		return 0;
	if (!EVP_DigestFinal_ex(r->md5, md, &mdlen) || mdlen != 16)
		return EIO;
	hex_encode(md, 16, hex);
	if (strcasecmp(hex, r->info.etag) == 0)
		return 0;
	r->corrupt_seen++;
	if (r->corrupt_seen < 2)
		LOG_WARN(LOG_C_S3, "GET %s: the %" PRIu64 " bytes received have MD5 %s, the ETag "
			 "says %s: reading it again", r->key, r->got, hex, r->info.etag);
	else
		LOG_ERROR(LOG_C_S3, "GET %s: the %" PRIu64 " bytes received have MD5 %s, the ETag "
			  "says %s, twice (request id %s): the read fails", r->key, r->got, hex,
			  r->info.etag, r->request_id[0] ? r->request_id : "-");
	return S3F_E_S3_CORRUPT;
}

static size_t io_write_cb(char *p, size_t size, size_t nmemb, void *ud)
{
	struct s3_req *r = ud;
	size_t n = size * nmemb, take = n;
	bool body2xx = r->http_status >= 200 && r->http_status < 300;

	if (r->fault_reset && r->src == S3_SRC_NONE) {
		if (r->rx >= r->fault_after) {
			r->fault_fired_reset = true;
			return 0;
		}
		if (r->fault_after - r->rx < take)
			take = (size_t)(r->fault_after - r->rx);
	}
	if (!body2xx || r->xml_body) {
		size_t limit = body2xx ? S3_RESP_XML_MAX : S3_RESP_ERR_MAX;

		if (!io_buf_append(&r->resp, p, take, limit, true)) {
			if (body2xx) {
				r->local_err = r->resp.len + take > limit ? S3F_E_S3_PROTO : ENOMEM;
				return 0;
			}
			/* an oversized error body: keep the beginning, drop the rest */
		}
	} else {
		if (!r->range_checked && (!io_range_ok(r) || !io_verify_begin(r)))
			return 0;
		if (r->fault_corrupt && r->fault_after >= r->rx && r->fault_after - r->rx < take)
			p[r->fault_after - r->rx] ^= 0x01;	/* as if the network flipped it */
		if (r->sink_max - r->got < take) {
			/* more than we asked for (a 200 to a Range from 0): stop here, and the
			 * body is not the whole object, so it is not verified */
			if (!io_sink_write(r, p, (size_t)(r->sink_max - r->got)))
				return 0;
			r->early_stop = true;
			return 0;
		}
		if (r->verify && !EVP_DigestUpdate(r->md5, p, take)) {
			r->local_err = EIO;
			return 0;
		}
		if (!io_sink_write(r, p, take))
			return 0;
	}
	r->rx += take;
	if (take < n) {
		r->fault_fired_reset = true;
		return take;	/* short count: curl aborts the transfer, like a reset */
	}
	return n;
}

static size_t io_read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	struct s3_req *r = ud;
	uint64_t left = r->src_len - r->src_pos;
	size_t n = size * nitems;

	if (left < n)
		n = (size_t)left;
	if (r->fault_reset) {
		if (r->src_pos >= r->fault_after) {
			r->fault_fired_reset = true;
			return CURL_READFUNC_ABORT;
		}
		if (r->fault_after - r->src_pos < n)
			n = (size_t)(r->fault_after - r->src_pos);
	}
	if (n == 0)
		return 0;
	if (r->src == S3_SRC_MEM) {
		memcpy(buf, (const char *)r->src_data + r->src_pos, n);
	} else {
		size_t done = 0;

		while (done < n) {
			ssize_t got = pread(r->src_fd, buf + done, n - done,
					    (off_t)(r->src_off + r->src_pos + done));

			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				/* a file shorter than promised cannot become a valid body */
				r->local_err = got < 0 ? errno : EIO;
				return CURL_READFUNC_ABORT;
			}
			done += (size_t)got;
		}
	}
	if (r->fault_corrupt && r->fault_after >= r->src_pos && r->fault_after - r->src_pos < n)
		buf[r->fault_after - r->src_pos] ^= 0x01;	/* after the digest was taken */
	r->src_pos += n;
	return n;
}

static int io_seek_cb(void *ud, curl_off_t offset, int origin)
{
	struct s3_req *r = ud;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->src_len)
		return CURL_SEEKFUNC_CANTSEEK;
	r->src_pos = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static bool hdr_is(const char *p, size_t n, const char *name)
{
	size_t l = strlen(name);

	return n > l && p[l] == ':' && strncasecmp(p, name, l) == 0;
}

static void hdr_copy(char *dst, size_t cap, const char *v, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static bool hdr_u64(const char *v, size_t n, uint64_t *out)
{
	char tmp[32];
	char *end;

	if (n == 0 || n >= sizeof tmp || v[0] < '0' || v[0] > '9')
		return false;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	errno = 0;
	*out = strtoull(tmp, &end, 10);
	return errno == 0 && *end == '\0';
}

/* "bytes 0-99/1234"; an unsatisfiable range has "*" for the first part */
static void hdr_content_range(struct s3_req *r, const char *v, size_t n)
{
	char tmp[96];
	const char *slash;
	uint64_t total;

	if (n >= sizeof tmp)
		return;
	memcpy(tmp, v, n);
	tmp[n] = '\0';
	slash = strchr(tmp, '/');
	if (!slash || strncmp(tmp, "bytes ", 6) != 0)
		return;
	r->cr_start = UINT64_MAX;
	if (tmp[6] >= '0' && tmp[6] <= '9')
		r->cr_start = strtoull(tmp + 6, NULL, 10);
	if (hdr_u64(slash + 1, strlen(slash + 1), &total)) {
		r->info.size = total;
		r->have_size = true;
	}
}

static void hdr_meta(struct s3_req *r, const char *name, size_t nlen, const char *v, size_t vlen)
{
	struct s3_meta_pair *m;

	if (r->info.n_meta == S3_META_MAX || nlen == 0 || nlen >= sizeof m->name ||
	    vlen >= sizeof m->value) {
		LOG_DEBUG(LOG_C_S3, "%s: user metadata entry dropped (count or size limit)", r->key);
		return;
	}
	m = &r->info.meta[r->info.n_meta++];
	for (size_t i = 0; i < nlen; i++)
		m->name[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
	m->name[nlen] = '\0';
	hdr_copy(m->value, sizeof m->value, v, vlen);
}

static size_t io_header_cb(char *p, size_t size, size_t nitems, void *ud)
{
	struct s3_req *r = ud;
	size_t n = size * nitems, vlen;
	const char *colon, *v;

	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* a new response (after 100-continue, say): forget the previous one's headers */
		const char *sp = memchr(p, ' ', n);

		r->http_status = sp && (size_t)(sp - p) + 4 <= n ? atoi(sp + 1) : 0;
		memset(&r->info, 0, sizeof r->info);
		r->etag_not_md5 = false;
		r->have_size = false;
		r->cr_start = UINT64_MAX;
		return n;
	}
	colon = memchr(p, ':', n);
	if (!colon)
		return n;
	v = colon + 1;
	vlen = n - (size_t)(v - p);
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (hdr_is(p, n, "etag")) {
		s3_etag_copy(r->info.etag, sizeof r->info.etag, v, vlen);
	} else if (hdr_is(p, n, "content-length")) {
		uint64_t len;

		if (hdr_u64(v, vlen, &len) && !(r->have_size && r->http_status == 206)) {
			r->info.size = len;
			r->have_size = true;
		}
	} else if (hdr_is(p, n, "content-range")) {
		hdr_content_range(r, v, vlen);
	} else if (hdr_is(p, n, "last-modified")) {
		char tmp[64];

		hdr_copy(tmp, sizeof tmp, v, vlen);
		if (s3_parse_http_date(tmp, &r->info.last_modified) != 0)
			r->info.last_modified = 0;
	} else if (hdr_is(p, n, "x-amz-version-id")) {
		hdr_copy(r->info.version_id, sizeof r->info.version_id, v, vlen);
	} else if (hdr_is(p, n, "content-type")) {
		hdr_copy(r->info.content_type, sizeof r->info.content_type, v, vlen);
	} else if (hdr_is(p, n, "x-amz-request-id")) {
		hdr_copy(r->request_id, sizeof r->request_id, v, vlen);
	} else if (hdr_is(p, n, "x-amz-server-side-encryption")) {
		/* SSE-KMS (aws:kms, aws:kms:dsse): the ETag is not the MD5 of the bytes */
		if (vlen >= 7 && strncasecmp(v, "aws:kms", 7) == 0)
			r->etag_not_md5 = true;
	} else if (hdr_is(p, n, "x-amz-server-side-encryption-customer-algorithm")) {
		r->etag_not_md5 = true;	/* SSE-C: neither */
	} else if ((size_t)(colon - p) > 11 && strncasecmp(p, "x-amz-meta-", 11) == 0) {
		hdr_meta(r, p + 11, (size_t)(colon - p) - 11, v, vlen);
	}
	return n;
}

/* ---- fault injection ---- */

static const char *io_fault_code(int status)
{
	switch (status) {
	case 403: return "AccessDenied";
	case 404: return "NoSuchKey";
	case 409: return "OperationAborted";
	case 412: return "PreconditionFailed";
	case 429:
	case 503: return "SlowDown";
	case 500: return "InternalError";
	default: return "InjectedFault";
	}
}

/* The first rule that fires for this attempt, copied into *out; false if none. */
static bool io_fault_pick(struct s3_client *c, const struct s3_req *r, struct s3_fault_rule *out)
{
	bool fire = false;

	pthread_mutex_lock(&c->fault_mu);
	for (size_t i = 0; i < c->n_faults && !fire; i++) {
		struct s3_fault_slot *s = &c->faults[i];

		if (s->rule.op >= 0 && s->rule.op != (int)r->op)
			continue;
		if (s->prefix && (!r->key || strncmp(r->key, s->prefix, strlen(s->prefix)) != 0))
			continue;
		s->seen++;
		if (s->rule.nth && s->seen < s->rule.nth)
			continue;
		if (s->rule.count && s->fired >= s->rule.count)
			continue;
		s->fired++;
		*out = s->rule;
		fire = true;
	}
	pthread_mutex_unlock(&c->fault_mu);
	return fire;
}

int s3_curl_fault_set(struct s3_client *c, const struct s3_fault_rule *rules, size_t n)
{
	struct s3_fault_slot *slots = NULL, *old;
	size_t n_old;

	if (n) {
		slots = calloc(n, sizeof *slots);
		if (!slots)
			return ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		slots[i].rule = rules[i];
		slots[i].rule.key_prefix = NULL;
		if (rules[i].key_prefix) {
			slots[i].prefix = strdup(rules[i].key_prefix);
			if (!slots[i].prefix) {
				while (i--)
					free(slots[i].prefix);
				free(slots);
				return ENOMEM;
			}
			slots[i].rule.key_prefix = slots[i].prefix;
		}
	}
	pthread_mutex_lock(&c->fault_mu);
	old = c->faults;
	n_old = c->n_faults;
	c->faults = slots;
	c->n_faults = n;
	pthread_mutex_unlock(&c->fault_mu);
	for (size_t i = 0; i < n_old; i++)
		free(old[i].prefix);
	free(old);
	return 0;
}

void s3_curl_fault_fired(struct s3_client *c, unsigned *counts, size_t n)
{
	pthread_mutex_lock(&c->fault_mu);
	for (size_t i = 0; i < n; i++)
		counts[i] = i < c->n_faults ? c->faults[i].fired : 0;
	pthread_mutex_unlock(&c->fault_mu);
}

/* ---- timers and lists (I/O thread) ---- */

static void io_list_push(struct s3_req **head, struct s3_req **tail, struct s3_req *r)
{
	r->next = NULL;
	if (*tail)
		(*tail)->next = r;
	else
		*head = r;
	*tail = r;
}

static struct s3_req *io_list_pop(struct s3_req **head, struct s3_req **tail)
{
	struct s3_req *r = *head;

	if (r) {
		*head = r->next;
		if (!*head)
			*tail = NULL;
		r->next = NULL;
	}
	return r;
}

static void io_timer_add(struct s3_client *c, struct s3_req *r, uint64_t due_ns)
{
	struct s3_req **pp = &c->timers;

	r->due_ns = due_ns;
	while (*pp && (*pp)->due_ns <= due_ns)
		pp = &(*pp)->next;
	r->next = *pp;
	*pp = r;
}

static uint64_t io_rand(struct s3_client *c)
{
	/* xorshift64*: only spreads retries apart, no security role */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545F4914F6CDD1DULL;
}

/* Full jitter: uniform in [0, min(cap, base * 2^(retry-1))]. */
static uint64_t io_backoff_ms(struct s3_client *c, unsigned retry)
{
	uint64_t ceil_ms = c->cfg.retry_base_ms;

	for (unsigned i = 1; i < retry && ceil_ms < c->cfg.retry_max_ms; i++)
		ceil_ms *= 2;
	if (ceil_ms > c->cfg.retry_max_ms)
		ceil_ms = c->cfg.retry_max_ms;
	return io_rand(c) % (ceil_ms + 1);
}

/* ---- attempts ---- */

static CURL *io_easy_get(struct s3_client *c)
{
	if (c->n_easy) {
		CURL *e = c->easy_pool[--c->n_easy];

		curl_easy_reset(e);
		return e;
	}
	return curl_easy_init();
}

static void io_easy_put(struct s3_client *c, CURL *e)
{
	if (c->n_easy < c->cfg.max_connections)
		c->easy_pool[c->n_easy++] = e;
	else
		curl_easy_cleanup(e);
}

static int io_slist_add(struct curl_slist **l, const char *name, const char *value)
{
	char line[4200];
	struct curl_slist *n;
	int len;

	/* "Name;" sends an empty header; "Name:" would remove it */
	if (*value)
		len = snprintf(line, sizeof line, "%s: %s", name, value);
	else
		len = snprintf(line, sizeof line, "%s;", name);
	if (len < 0 || (size_t)len >= sizeof line)
		return E2BIG;
	n = curl_slist_append(*l, line);
	if (!n)
		return ENOMEM;
	*l = n;
	return 0;
}

/* Sign this attempt (fresh date) and build its header list. */
static int io_sign(struct s3_req *r)
{
	struct s3_client *c = r->c;
	struct s3_header hs[S3_REQ_HDR_MAX + 2];
	struct s3_sigv4_out so;
	char amz_date[17];
	size_t n = 0;
	int rc;
	int64_t now = (int64_t)time(NULL);
	/* One consistent key/secret/token for this attempt, whatever a refresh does
	 * meanwhile: a copy taken under the provider's lock (s3_credp.h). */
	struct s3_creds cr_copy;
	const struct s3_creds *cr = &c->cfg.creds;

	if (c->cfg.credp) {
		rc = s3_credp_get(c->cfg.credp, &cr_copy);
		if (rc)
			return rc;
		cr = &cr_copy;
	}
	s3_amz_date(now, amz_date);
	for (size_t i = 0; i < r->n_hdrs; i++)
		hs[n++] = (struct s3_header){ r->hdrs[i].name, r->hdrs[i].value };
	hs[n++] = (struct s3_header){ "x-amz-date", amz_date };
	if (cr->session_token[0])
		hs[n++] = (struct s3_header){ "x-amz-security-token", cr->session_token };
	struct s3_sigv4_req sr = {
		.method = r->method, .path = r->path, .query = r->query, .headers = hs,
		.n_headers = n, .payload_sha256 = r->payload_hash, .normalize_path = false,
		.region = c->region, .service = "s3", .now = now, .creds = cr,
	};
	rc = s3_sigv4_sign(&sr, &so);
	if (rc == 0) {
		/* the list holds copies: the token copy can be wiped right after */
		for (size_t i = 0; rc == 0 && i < n; i++)
			rc = io_slist_add(&r->slist, hs[i].name, hs[i].value);
		if (rc == 0)
			rc = io_slist_add(&r->slist, "Authorization", so.authorization);
		s3_sigv4_out_free(&so);
	}
	if (cr == &cr_copy)
		explicit_bzero(&cr_copy, sizeof cr_copy);
	if (rc)
		return rc;
	/* small bodies go at once; large ones wait for 100-continue so a refusal is cheap.
	 * "Expect:" (colon, no value) is curl's syntax for "do not send this header". */
	if (rc == 0 && r->src != S3_SRC_NONE && r->src_len < IO_EXPECT_MIN) {
		struct curl_slist *l = curl_slist_append(r->slist, "Expect:");

		if (l)
			r->slist = l;
		else
			rc = ENOMEM;
	}
	return rc;
}

static int io_easy_setup(struct s3_req *r, CURL *e)
{
	struct s3_client *c = r->c;
	CURLcode cc = CURLE_OK;

#define SET(opt, val) do { if (cc == CURLE_OK) cc = curl_easy_setopt(e, opt, val); } while (0)
	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_PRIVATE, r);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PATH_AS_IS, 1L);
	SET(CURLOPT_TCP_NODELAY, 1L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)c->cfg.connect_timeout_ms);
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, (long)c->cfg.stall_timeout_s);
	SET(CURLOPT_SSL_VERIFYPEER, c->cfg.tls_skip_verify ? 0L : 1L);
	SET(CURLOPT_SSL_VERIFYHOST, c->cfg.tls_skip_verify ? 0L : 2L);
	if (c->ca_file)
		SET(CURLOPT_CAINFO, c->ca_file);
	SET(CURLOPT_HEADERFUNCTION, io_header_cb);
	SET(CURLOPT_HEADERDATA, r);
	SET(CURLOPT_WRITEFUNCTION, io_write_cb);
	SET(CURLOPT_WRITEDATA, r);
	if (r->sink == S3_SINK_FD || (r->sink == S3_SINK_BUF && r->sink_max > IO_BIG_BUFFER))
		SET(CURLOPT_BUFFERSIZE, (long)IO_BIG_BUFFER);
	if (strcmp(r->method, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else if (strcmp(r->method, "PUT") == 0) {
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->src_len);
	} else if (strcmp(r->method, "POST") == 0) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->src_len);
	} else if (strcmp(r->method, "DELETE") == 0) {
		SET(CURLOPT_CUSTOMREQUEST, "DELETE");
	}
	if (r->src != S3_SRC_NONE || strcmp(r->method, "PUT") == 0 || strcmp(r->method, "POST") == 0) {
		SET(CURLOPT_READFUNCTION, io_read_cb);
		SET(CURLOPT_READDATA, r);
		SET(CURLOPT_SEEKFUNCTION, io_seek_cb);
		SET(CURLOPT_SEEKDATA, r);
		if (r->src_len >= IO_EXPECT_MIN)
			SET(CURLOPT_UPLOAD_BUFFERSIZE, (long)IO_UPLOAD_BUFFER);
	}
	SET(CURLOPT_HTTPHEADER, r->slist);
#undef SET
	return cc == CURLE_OK ? 0 : (cc == CURLE_OUT_OF_MEMORY ? ENOMEM : EINVAL);
}

static void io_attempt_end(struct s3_req *r, CURLcode cc);

static void io_attempt_reset(struct s3_req *r)
{
	r->http_status = 0;
	r->err_code[0] = '\0';
	r->request_id[0] = '\0';
	memset(&r->info, 0, sizeof r->info);
	r->have_size = false;
	r->resp.len = 0;
	r->got = 0;
	r->rx = 0;
	r->src_pos = 0;
	r->local_err = 0;
	r->early_stop = false;
	r->range_checked = false;
	r->fault_fired_reset = false;
	r->verify = false;
	if (r->sink == S3_SINK_BUF)
		r->sink_buf->len = r->sink_buf_base;
}

/* Start one attempt: faults first, then the transfer. */
static void io_attempt_begin(struct s3_req *r)
{
	struct s3_client *c = r->c;
	struct s3_fault_rule f;
	CURLMcode mc;
	int rc;

	if (!r->delay_served) {
		r->fault_reset = false;
		r->fault_corrupt = false;
		if (io_fault_pick(c, r, &f)) {
			switch (f.action) {
			case S3_FAULT_DELAY:
				r->delay_served = true;
				io_timer_add(c, r, (uint64_t)clock_mono_ns() + (uint64_t)f.delay_ms * 1000000u);
				return;
			case S3_FAULT_STATUS: {
				char body[160];
				int len = snprintf(body, sizeof body, "<?xml version=\"1.0\" encoding="
						   "\"UTF-8\"?><Error><Code>%s</Code><Message>injected"
						   "</Message></Error>", io_fault_code(f.status));

				r->attempt++;
				io_attempt_reset(r);
				r->http_status = f.status;
				io_buf_append(&r->resp, body, (size_t)len, S3_RESP_ERR_MAX, true);
				io_attempt_end(r, CURLE_OK);
				return;
			}
			case S3_FAULT_NET:
				r->attempt++;
				io_attempt_reset(r);
				io_attempt_end(r, CURLE_COULDNT_CONNECT);
				return;
			case S3_FAULT_RESET:
				r->fault_reset = true;
				r->fault_after = f.after_bytes;
				break;
			case S3_FAULT_CORRUPT:
				r->fault_corrupt = true;
				r->fault_after = f.after_bytes;
				break;
			}
		}
	}
	r->delay_served = false;
	r->attempt++;
	io_attempt_reset(r);
	r->easy = io_easy_get(c);
	if (!r->easy) {
		io_finish(r, ENOMEM);
		return;
	}
	rc = io_sign(r);
	if (rc == 0)
		rc = io_easy_setup(r, r->easy);
	if (rc == 0) {
		mc = curl_multi_add_handle(c->multi, r->easy);
		if (mc != CURLM_OK)
			rc = mc == CURLM_OUT_OF_MEMORY ? ENOMEM : EIO;
	}
	if (rc) {
		io_easy_put(c, r->easy);
		r->easy = NULL;
		curl_slist_free_all(r->slist);
		r->slist = NULL;
		io_finish(r, rc);
		return;
	}
	c->active++;
}

static void io_log_final(const struct s3_req *r, int rc, CURLcode cc)
{
	/* 404, 412 and 416 are answers, not trouble, and a local error (a full disk, a
	 * short file, a small buffer) is the caller's to report; the rest is worth a line */
	if (rc == ENOENT || rc == S3F_E_S3_PRECOND || rc == 0 || r->http_status == 416 ||
	    r->local_err)
		return;
	if (cc != CURLE_OK && !r->local_err)
		LOG_WARN(LOG_C_S3, "%s %s: %s after %u attempt(s)", s3_op_name(r->op),
			 r->key ? r->key : "(bucket)", curl_easy_strerror(cc), r->attempt);
	else
		LOG_INFO(LOG_C_S3, "%s %s: HTTP %d %s (%s) after %u attempt(s), request id %s",
			 s3_op_name(r->op), r->key ? r->key : "(bucket)", r->http_status,
			 r->err_code[0] ? r->err_code : "-", s3f_strerror(rc), r->attempt,
			 r->request_id[0] ? r->request_id : "-");
}

static void io_attempt_end(struct s3_req *r, CURLcode cc)
{
	struct s3_client *c = r->c;
	bool retry = false;
	int rc;

	if (r->easy) {
		curl_off_t up = 0, down = 0;

		curl_easy_getinfo(r->easy, CURLINFO_SIZE_UPLOAD_T, &up);
		curl_easy_getinfo(r->easy, CURLINFO_SIZE_DOWNLOAD_T, &down);
		r->stats.bytes_sent += (uint64_t)up;
		r->stats.bytes_received += (uint64_t)down;
		io_easy_put(c, r->easy);
		r->easy = NULL;
		c->active--;
	}
	curl_slist_free_all(r->slist);
	r->slist = NULL;

	if (r->local_err) {
		rc = r->local_err;
	} else if (r->early_stop && cc == CURLE_WRITE_ERROR) {
		rc = 0;
	} else if (r->fault_fired_reset) {
		rc = S3F_E_S3_NET;
		retry = true;
	} else if (cc != CURLE_OK) {
		rc = cc == CURLE_OUT_OF_MEMORY ? ENOMEM : S3F_E_S3_NET;
		retry = io_curl_retryable(cc);
	} else if (r->http_status >= 200 && r->http_status < 300) {
		/* a whole object that does not match its MD5 is read once more */
		rc = io_verify_end(r);
		retry = rc == S3F_E_S3_CORRUPT && r->corrupt_seen < 2;
	} else {
		struct s3_xml_error xe;

		if (r->resp.len && s3_xml_parse_error(r->resp.data, r->resp.len, &xe) == 0) {
			snprintf(r->err_code, sizeof r->err_code, "%s", xe.code);
			if (!r->request_id[0])
				snprintf(r->request_id, sizeof r->request_id, "%s", xe.request_id);
		}
		rc = s3_status_to_rc(r->http_status, r->err_code);
		retry = io_status_retryable(r->http_status, r->err_code);
		/* BadDigest: the bytes were damaged on the way. A body in memory goes again as
		 * it is; one streamed from an fd may have changed under its digest (s3.h): the
		 * caller hashes it again later. */
		if (rc == S3F_E_S3_DIGEST)
			retry = r->src == S3_SRC_MEM;
	}
	if (retry && !r->no_retry && r->attempt <= c->cfg.max_retries && !c->io_closing) {
		uint64_t ms = io_backoff_ms(c, r->attempt);

		r->stats.retries++;
		LOG_DEBUG(LOG_C_S3, "%s %s: attempt %u failed (HTTP %d %s, curl %d), retry in %" PRIu64
			  " ms", s3_op_name(r->op), r->key ? r->key : "(bucket)", r->attempt,
			  r->http_status, r->err_code, (int)cc, ms);
		io_timer_add(c, r, (uint64_t)clock_mono_ns() + ms * 1000000u);
		return;
	}
	io_log_final(r, rc, cc);
	io_finish(r, rc);
}

/* ---- the loop ---- */

static void io_drain_done(struct s3_client *c)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(c->multi, &left))) {
		struct s3_req *r = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		CURLcode cc = m->data.result;

		curl_multi_remove_handle(c->multi, m->easy_handle);
		io_attempt_end(r, cc);
	}
}

static void *io_main(void *arg)
{
	struct s3_client *c = arg;

	for (;;) {
		struct s3_req *in, *r;
		uint64_t now;
		int running = 0, timeout_ms;

		pthread_mutex_lock(&c->mu);
		in = c->queue_head;
		c->queue_head = c->queue_tail = NULL;
		c->io_closing = c->closing;
		pthread_mutex_unlock(&c->mu);

		while ((r = in)) {
			in = r->next;
			if (c->io_closing)
				io_finish(r, S3F_E_S3_CANCELED);
			else
				io_list_push(&c->ready_head, &c->ready_tail, r);
		}
		now = (uint64_t)clock_mono_ns();
		while ((r = c->timers) && (r->due_ns <= now || c->io_closing)) {
			c->timers = r->next;
			if (c->io_closing)
				io_finish(r, S3F_E_S3_CANCELED);
			else
				io_list_push(&c->ready_head, &c->ready_tail, r);
		}
		while (c->ready_head && (c->active < c->cfg.max_connections || c->io_closing)) {
			r = io_list_pop(&c->ready_head, &c->ready_tail);
			if (c->io_closing)
				io_finish(r, S3F_E_S3_CANCELED);
			else
				io_attempt_begin(r);
		}
		curl_multi_perform(c->multi, &running);
		io_drain_done(c);

		if (c->io_closing && c->active == 0 && !c->ready_head && !c->timers)
			break;
		/* a finished transfer freed a slot, or a fault finished an attempt at once */
		if (c->ready_head && c->active < c->cfg.max_connections)
			continue;
		timeout_ms = 1000;
		if (c->timers) {
			now = (uint64_t)clock_mono_ns();
			uint64_t wait = c->timers->due_ns > now ? c->timers->due_ns - now : 0;

			timeout_ms = wait / 1000000u < 1000 ? (int)((wait + 999999u) / 1000000u) : 1000;
		}
		curl_multi_poll(c->multi, NULL, 0, timeout_ms, NULL);
	}
	return NULL;
}

/* ---- submit ---- */

static int io_prepare(struct s3_req *r)
{
	struct s3_client *c = r->c;
	struct buf p = { 0 }, u = { 0 };
	int rc;

	buf_adds(&p, c->path_prefix);
	if (r->key) {
		buf_addc(&p, '/');
		s3_sb_add_uri(&p, r->key, strlen(r->key), true);
	} else if (!c->path_prefix[0]) {
		buf_addc(&p, '/');
	}
	rc = buf_done(&p, &r->path);
	if (rc)
		return rc;
	buf_adds(&u, c->scheme_host);
	buf_adds(&u, r->path);
	if (r->query && *r->query) {
		buf_addc(&u, '?');
		buf_adds(&u, r->query);
	}
	rc = buf_done(&u, &r->url);
	if (rc)
		return rc;
	/* host and the payload hash lead the signed headers of every request */
	rc = s3_req_header(r, "host", c->host_hdr);
	if (rc == 0)
		rc = s3_req_header(r, "x-amz-content-sha256", r->payload_hash);
	if (rc == 0 && r->sink == S3_SINK_BUF)
		r->sink_buf_base = r->sink_buf->len;
	return rc;
}

void s3_io_submit(struct s3_req *r)
{
	struct s3_client *c = r->c;
	struct s3_group *g = r->group;
	bool closing;
	int rc;

	r->t_start_ns = (uint64_t)clock_mono_ns();
	pthread_mutex_lock(&g->mu);
	g->pending++;
	r->finished = false;
	pthread_mutex_unlock(&g->mu);
	rc = io_prepare(r);
	if (rc) {
		io_finish(r, rc);
		return;
	}
	pthread_mutex_lock(&c->mu);
	closing = c->closing;
	if (!closing) {
		r->next = NULL;
		if (c->queue_tail)
			c->queue_tail->next = r;
		else
			c->queue_head = r;
		c->queue_tail = r;
	}
	pthread_mutex_unlock(&c->mu);
	if (closing) {
		io_finish(r, S3F_E_S3_CANCELED);
		return;
	}
	curl_multi_wakeup(c->multi);
}

int s3_req_run(struct s3_req *r)
{
	struct s3_group g;

	s3_group_init(&g);
	r->group = &g;
	s3_io_submit(r);
	s3_group_wait(&g, 0);
	s3_group_destroy(&g);
	r->group = NULL;
	return r->rc;
}

/* ---- start / stop ---- */

int s3_io_start(struct s3_client *c)
{
	int rc;

	if (getrandom(&c->rng, sizeof c->rng, 0) != (ssize_t)sizeof c->rng)
		c->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)c;
	c->rng |= 1;
	c->easy_pool = calloc(c->cfg.max_connections, sizeof *c->easy_pool);
	c->multi = curl_multi_init();
	if (!c->easy_pool || !c->multi) {
		rc = ENOMEM;
		goto fail;
	}
	curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)c->cfg.max_connections);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->cfg.max_connections);
	curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->cfg.max_connections);
	rc = pthread_create(&c->io_thread, NULL, io_main, c);
	if (rc)
		goto fail;
	return 0;
fail:
	if (c->multi)
		curl_multi_cleanup(c->multi);
	c->multi = NULL;
	free(c->easy_pool);
	c->easy_pool = NULL;
	return rc;
}

void s3_io_stop(struct s3_client *c)
{
	pthread_mutex_lock(&c->mu);
	c->closing = true;
	pthread_mutex_unlock(&c->mu);
	curl_multi_wakeup(c->multi);
	pthread_join(c->io_thread, NULL);
	for (unsigned i = 0; i < c->n_easy; i++)
		curl_easy_cleanup(c->easy_pool[i]);
	free(c->easy_pool);
	c->easy_pool = NULL;
	c->n_easy = 0;
	curl_multi_cleanup(c->multi);
	c->multi = NULL;
}
