/*
 * s3_credp.c — credential providers and their refresh, see s3_credp.h.
 *
 * Fetches use a libcurl easy handle of their own, synchronously, on the opening thread
 * (the first fetch) or on the provider's refresh thread (every later one): never on the
 * S3 client's I/O thread, whose transfers must not wait on a metadata endpoint. Only the
 * swap of the result takes p->mu, so a slow or hanging endpoint never blocks a signer.
 *
 * Metadata endpoints are asked without any proxy (a proxy has no business seeing
 * instance credentials, and could not reach a link-local address anyway) and without
 * following redirects (a redirect could carry the authorization token elsewhere).
 * Answers are bounded (64 KiB) and parsed as untrusted input.
 */
#include "s3/s3_credp.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/json.h"
#include "base/log.h"
#include "s3/s3_util.h"
#include "s3/s3_xml.h"

#define CREDP_BODY_MAX (64u << 10)
#define CREDP_TOKEN_FILE_MAX (64u << 10)	/* Kubernetes service account tokens: ~1 KiB */
#define CREDP_MARGIN_S 300			/* refresh this long before Expiration */
#define CREDP_BACKOFF_MAX_S 30
#define CREDP_IMDS_TOKEN_TTL 21600		/* seconds asked for an IMDSv2 session token, */
#define CREDP_IMDS_TOKEN_TTL_HDR "X-aws-ec2-metadata-token-ttl-seconds: 21600" /* the same */
#define CREDP_IMDS_CONNECT_MS 1000
#define CREDP_IMDS_TIMEOUT_MS 2000
#define CREDP_HTTP_CONNECT_MS 2000
#define CREDP_HTTP_TIMEOUT_MS 5000
#define CREDP_CONTAINER_HOST "http://169.254.170.2"
#define CREDP_IMDS_DEFAULT "http://169.254.169.254"

struct s3_credp {
	enum s3_credp_kind kind;
	/* ---- fetch settings, immutable after open ---- */
	char *url;		/* container: the full URL; imds: the endpoint; web id: STS */
	char *auth_token;	/* container: AWS_CONTAINER_AUTHORIZATION_TOKEN */
	char *auth_token_file;	/* container: ..._TOKEN_FILE (wins over the value) */
	char *token_file;	/* web identity */
	char *role_arn;
	char *session_name;
	char *ca_file;
	bool via_chain;		/* imds reached by the chain (for messages) */

	/* ---- the refresh thread's own (the opening thread's before it starts) ---- */
	char imds_token[1024];
	int64_t imds_token_exp;
	char imds_role[256];

	/* ---- protected by mu ---- */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct s3_creds cur;
	bool valid;		/* cur holds credentials (perhaps expired: see expiration) */
	int64_t expiration;	/* 0: never */
	int64_t next_at;	/* when the thread fetches next (Unix seconds) */
	uint64_t fetches, failures;
	unsigned fail_streak;	/* failed fetches since the last success */
	bool closing;

	bool thread_started;
	pthread_t thread;
};

static pthread_once_t credp_curl_once = PTHREAD_ONCE_INIT;
static CURLcode credp_curl_rc;

static void credp_curl_init(void)
{
	credp_curl_rc = curl_global_init(CURL_GLOBAL_ALL);
}

static const char *const credp_names[] = {
	[S3_CREDP_AUTO] = "auto", [S3_CREDP_CONFIG] = "config", [S3_CREDP_ENV] = "env",
	[S3_CREDP_WEB_IDENTITY] = "web_identity", [S3_CREDP_FILE] = "file",
	[S3_CREDP_CONTAINER] = "container", [S3_CREDP_IMDS] = "imds",
};

const char *s3_credp_kind_name(enum s3_credp_kind k)
{
	if ((size_t)k >= sizeof credp_names / sizeof credp_names[0])
		return "?";
	return credp_names[k];
}

int s3_credp_kind_parse(const char *name, enum s3_credp_kind *out)
{
	for (size_t i = 0; i < sizeof credp_names / sizeof credp_names[0]; i++) {
		if (name && strcasecmp(name, credp_names[i]) == 0) {
			*out = (enum s3_credp_kind)i;
			return 0;
		}
	}
	return EINVAL;
}

static bool credp_temporary(enum s3_credp_kind k)
{
	return k == S3_CREDP_WEB_IDENTITY || k == S3_CREDP_CONTAINER || k == S3_CREDP_IMDS;
}

/* ---- pure helpers ---- */

int64_t s3_credp_refresh_at(int64_t fetched, int64_t expiration)
{
	int64_t life, margin;

	if (expiration == 0)
		return INT64_MAX;
	life = expiration - fetched;
	/* Hourly credentials (IMDS, containers, STS) are replaced 5 minutes before their end,
	 * well inside the window in which AWS already serves the next ones; a lifetime
	 * shorter than twice that is refreshed half-way, so that a failed refresh still
	 * leaves time for retries before the end. */
	margin = life / 2 < CREDP_MARGIN_S ? life / 2 : CREDP_MARGIN_S;
	if (margin < 1)
		margin = 1;
	return expiration - margin;
}

unsigned s3_credp_backoff(unsigned n)
{
	if (n == 0)
		n = 1;
	if (n > 6)
		return CREDP_BACKOFF_MAX_S;
	return (1u << (n - 1)) < CREDP_BACKOFF_MAX_S ? 1u << (n - 1) : CREDP_BACKOFF_MAX_S;
}

bool s3_credp_full_uri_ok(const char *uri)
{
	static const char *const allowed[] = {
		"localhost", "169.254.170.2", "169.254.170.23", "::1", "fd00:ec2::23",
	};
	char host[256];
	const char *h, *e;
	unsigned char a6[16];
	struct in_addr a4;
	size_t n;

	if (strncasecmp(uri, "https://", 8) == 0)
		return uri[8] != '\0' && uri[8] != '/';
	if (strncasecmp(uri, "http://", 7) != 0)
		return false;
	h = uri + 7;
	if (*h == '[') {
		e = strchr(h, ']');
		if (!e)
			return false;
		h++;
	} else {
		e = h + strcspn(h, ":/?#");
	}
	n = (size_t)(e - h);
	if (n == 0 || n >= sizeof host || memchr(h, '@', n))
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
		if (strcasecmp(host, allowed[i]) == 0)
			return true;
	/* any of 127.0.0.0/8, written as a dotted quad */
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, a6) == 1) {
		static const unsigned char lo[16] = { [15] = 1 };

		return memcmp(a6, lo, 16) == 0;
	}
	return false;
}

static int credp_json_str(const struct json_doc *d, const char *name, char *buf, size_t cap,
			  bool required, char *err, size_t errlen)
{
	size_t i = json_obj_get(d, 0, name), len;

	buf[0] = '\0';
	if (!i) {
		if (!required)
			return 0;
		s3_errf(err, errlen, "answer lacks %s", name);
		return EBADMSG;
	}
	if (d->tok[i].type == JSON_NULL && !required)
		return 0;
	if (json_str_get(d, i, buf, cap, &len) != 0 || strlen(buf) != len) {
		buf[0] = '\0';
		s3_errf(err, errlen, "%s is not a string of at most %zu bytes", name, cap - 1);
		return EBADMSG;
	}
	return 0;
}

int s3_credp_parse_json(const char *body, size_t len, struct s3_creds *out,
			int64_t *expiration, char *err, size_t errlen)
{
	struct json_doc d = { 0 };
	char code[64], exp[64];
	int rc;

	memset(out, 0, sizeof *out);
	*expiration = 0;
	rc = json_parse(body, len, 4, 256, &d);
	if (rc) {
		s3_errf(err, errlen, "answer is not JSON");
		return EBADMSG;
	}
	if (d.tok[0].type != JSON_OBJECT) {
		s3_errf(err, errlen, "answer is not a JSON object");
		rc = EBADMSG;
		goto out;
	}
	rc = credp_json_str(&d, "Code", code, sizeof code, false, err, errlen);
	if (rc == 0 && code[0] && strcmp(code, "Success") != 0) {
		s3_errf(err, errlen, "answer has Code %s", code);
		rc = EBADMSG;
	}
	if (rc == 0)
		rc = credp_json_str(&d, "AccessKeyId", out->access_key_id,
				    sizeof out->access_key_id, true, err, errlen);
	if (rc == 0)
		rc = credp_json_str(&d, "SecretAccessKey", out->secret_access_key,
				    sizeof out->secret_access_key, true, err, errlen);
	if (rc == 0)
		rc = credp_json_str(&d, "Token", out->session_token, sizeof out->session_token,
				    false, err, errlen);
	if (rc == 0)
		rc = credp_json_str(&d, "Expiration", exp, sizeof exp, false, err, errlen);
	if (rc == 0 && (!out->access_key_id[0] || !out->secret_access_key[0])) {
		s3_errf(err, errlen, "answer has an empty AccessKeyId or SecretAccessKey");
		rc = EBADMSG;
	}
	if (rc == 0 && exp[0] && (s3_parse_iso8601(exp, expiration) != 0 || *expiration <= 0)) {
		s3_errf(err, errlen, "Expiration is not an ISO 8601 time");
		rc = EBADMSG;
	}
out:
	if (rc) {
		explicit_bzero(out, sizeof *out);
		*expiration = 0;
	}
	json_doc_free(&d);
	return rc;
}

/* ---- HTTP ---- */

struct credp_body {
	char *data;
	size_t len;
	bool over;
};

static size_t credp_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct credp_body *b = ud;
	size_t n = size * nmemb;
	char *d;

	if (b->len + n > CREDP_BODY_MAX) {
		b->over = true;
		return 0;
	}
	d = realloc(b->data, b->len + n + 1);
	if (!d)
		return 0;
	memcpy(d + b->len, ptr, n);
	b->len += n;
	d[b->len] = '\0';
	b->data = d;
	return n;
}

static void credp_body_free(struct credp_body *b)
{
	if (b->data)
		explicit_bzero(b->data, b->len);
	free(b->data);
	memset(b, 0, sizeof *b);
}

struct credp_http {
	const char *method;		/* "GET", "PUT", "POST" */
	const char *url;
	const char *hdrs[3];		/* "Name: value", NULL-terminated list */
	const char *body;		/* POST/PUT body or NULL */
	long connect_ms, timeout_ms;
	bool no_proxy;
};

/* One request; 0 with *status and the body, or S3F_E_S3_NET / ENOMEM / EIO with err set.
 * The URL is named in err; header values (tokens) never are. */
static int credp_http_do(const struct s3_credp *p, const struct credp_http *h, long *status,
			 struct credp_body *b, char *err, size_t errlen)
{
	struct curl_slist *sl = NULL, *n;
	CURL *e;
	CURLcode cc;
	int rc = 0;

	*status = 0;
	memset(b, 0, sizeof *b);
	pthread_once(&credp_curl_once, credp_curl_init);
	if (credp_curl_rc != CURLE_OK) {
		s3_errf(err, errlen, "libcurl did not initialize");
		return EIO;
	}
	e = curl_easy_init();
	if (!e)
		return ENOMEM;
	for (size_t i = 0; i < 3 && h->hdrs[i]; i++) {
		n = curl_slist_append(sl, h->hdrs[i]);
		if (!n) {
			rc = ENOMEM;
			goto out;
		}
		sl = n;
	}
	/* no "Expect: 100-continue" round trip for the small bodies we send */
	n = curl_slist_append(sl, "Expect:");
	if (!n) {
		rc = ENOMEM;
		goto out;
	}
	sl = n;
	curl_easy_setopt(e, CURLOPT_URL, h->url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->connect_ms);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, sl);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, credp_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
	if (h->no_proxy)
		curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	if (p->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, p->ca_file);
	if (strcmp(h->method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, h->method);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->body ? h->body : "");
	}
	cc = curl_easy_perform(e);
	if (cc != CURLE_OK) {
		if (b->over)
			s3_errf(err, errlen, "%s %s: answer larger than %u bytes", h->method,
				  h->url, CREDP_BODY_MAX);
		else
			s3_errf(err, errlen, "%s %s: %s", h->method, h->url,
				  curl_easy_strerror(cc));
		rc = cc == CURLE_OUT_OF_MEMORY ? ENOMEM : S3F_E_S3_NET;
		credp_body_free(b);
		goto out;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
out:
	curl_slist_free_all(sl);
	curl_easy_cleanup(e);
	return rc;
}

/* Non-2xx answer: one line with the status and the start of a printable body. */
static void credp_status_err(const struct credp_http *h, long status, const struct credp_body *b,
			     char *err, size_t errlen)
{
	char snip[121];
	size_t n = 0;

	for (size_t i = 0; b->data && i < b->len && n < sizeof snip - 1; i++)
		snip[n++] = isprint((unsigned char)b->data[i]) ? b->data[i] : ' ';
	snip[n] = '\0';
	s3_errf(err, errlen, "%s %s: HTTP %ld%s%s", h->method, h->url, status, n ? ": " : "",
		  snip);
}

/* Read a small token file; trailing white space dropped. */
static int credp_read_token(const char *path, char **out, char *err, size_t errlen)
{
	char *buf;
	ssize_t got;
	size_t len = 0;
	int fd, rc = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errno;
		s3_errf(err, errlen, "cannot open token file %s: %s", path, strerror(rc));
		return rc;
	}
	buf = malloc(CREDP_TOKEN_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return ENOMEM;
	}
	while (len < CREDP_TOKEN_FILE_MAX &&
	       (got = read(fd, buf + len, CREDP_TOKEN_FILE_MAX - len)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			rc = errno;
			s3_errf(err, errlen, "cannot read token file %s: %s", path, strerror(rc));
			goto fail;
		}
		len += (size_t)got;
	}
	close(fd);
	fd = -1;
	while (len && isspace((unsigned char)buf[len - 1]))
		len--;
	buf[len] = '\0';
	if (len == 0 || len >= CREDP_TOKEN_FILE_MAX || strlen(buf) != len ||
	    strpbrk(buf, "\r\n")) {
		s3_errf(err, errlen, "token file %s is empty, too long or not one line", path);
		rc = EINVAL;
		goto fail;
	}
	*out = buf;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	explicit_bzero(buf, CREDP_TOKEN_FILE_MAX + 1);
	free(buf);
	return rc;
}

/* ---- the three fetches: 0 with *cr and *exp, or an error with err set ---- */

static int credp_fetch_container(struct s3_credp *p, struct s3_creds *cr, int64_t *exp,
				 char *err, size_t errlen)
{
	struct credp_http h = { .method = "GET", .url = p->url, .no_proxy = true,
				.connect_ms = CREDP_HTTP_CONNECT_MS,
				.timeout_ms = CREDP_HTTP_TIMEOUT_MS };
	struct credp_body b;
	char *tok = NULL, *hdr = NULL;
	char perr[160];
	long status;
	int rc;

	if (p->auth_token_file) {
		rc = credp_read_token(p->auth_token_file, &tok, err, errlen);
		if (rc)
			return rc;
	}
	if (tok || p->auth_token) {
		if (asprintf(&hdr, "Authorization: %s", tok ? tok : p->auth_token) < 0) {
			hdr = NULL;
			rc = ENOMEM;
			goto out;
		}
		h.hdrs[0] = hdr;
	}
	rc = credp_http_do(p, &h, &status, &b, err, errlen);
	if (rc)
		goto out;
	if (status != 200) {
		credp_status_err(&h, status, &b, err, errlen);
		rc = status == 401 || status == 403 ? S3F_E_S3_AUTH : S3F_E_S3_SERVER;
	} else {
		rc = s3_credp_parse_json(b.data ? b.data : "", b.len, cr, exp, perr, sizeof perr);
		if (rc)
			s3_errf(err, errlen, "GET %s: %s", p->url, perr);
	}
	credp_body_free(&b);
out:
	if (hdr) {
		explicit_bzero(hdr, strlen(hdr));
		free(hdr);
	}
	if (tok) {
		explicit_bzero(tok, strlen(tok));
		free(tok);
	}
	return rc;
}

/* IMDSv2: a session token, then the role, then its credentials. A 401 means the session
 * token is no longer valid (the instance restarted, or it expired): one more try with a
 * new one. */
static int credp_imds_get(struct s3_credp *p, const char *path, struct credp_body *b,
			  char *err, size_t errlen)
{
	char url[1024], hdr[sizeof p->imds_token + 64];
	struct credp_http h = { .no_proxy = true, .connect_ms = CREDP_IMDS_CONNECT_MS,
				.timeout_ms = CREDP_IMDS_TIMEOUT_MS };
	long status;
	int rc;

	for (int attempt = 0; attempt < 2; attempt++) {
		int64_t now = (int64_t)time(NULL);

		if (!p->imds_token[0] || now >= p->imds_token_exp - 60) {
			struct credp_body tb;

			snprintf(url, sizeof url, "%s/latest/api/token", p->url);
			h.method = "PUT";
			h.url = url;
			h.hdrs[0] = CREDP_IMDS_TOKEN_TTL_HDR;
			h.hdrs[1] = NULL;
			rc = credp_http_do(p, &h, &status, &tb, err, errlen);
			if (rc)
				return rc;
			if (status != 200 || !tb.data || tb.len == 0 ||
			    tb.len >= sizeof p->imds_token || strlen(tb.data) != tb.len ||
			    strpbrk(tb.data, "\r\n")) {
				if (status == 200)
					s3_errf(err, errlen, "PUT %s: not a session token", url);
				else
					credp_status_err(&h, status, &tb, err, errlen);
				credp_body_free(&tb);
				return S3F_E_S3_SERVER;
			}
			memcpy(p->imds_token, tb.data, tb.len + 1);
			p->imds_token_exp = now + CREDP_IMDS_TOKEN_TTL;
			credp_body_free(&tb);
		}
		snprintf(url, sizeof url, "%s%s", p->url, path);
		snprintf(hdr, sizeof hdr, "X-aws-ec2-metadata-token: %s", p->imds_token);
		h.method = "GET";
		h.url = url;
		h.hdrs[0] = hdr;
		h.hdrs[1] = NULL;
		rc = credp_http_do(p, &h, &status, b, err, errlen);
		explicit_bzero(hdr, sizeof hdr);
		if (rc)
			return rc;
		if (status == 200)
			return 0;
		credp_status_err(&h, status, b, err, errlen);
		credp_body_free(b);
		if (status != 401)
			return status == 404 ? ENOENT : S3F_E_S3_SERVER;
		explicit_bzero(p->imds_token, sizeof p->imds_token);
	}
	return S3F_E_S3_AUTH;
}

static int credp_fetch_imds(struct s3_credp *p, struct s3_creds *cr, int64_t *exp, char *err,
			    size_t errlen)
{
	static const char base[] = "/latest/meta-data/iam/security-credentials/";
	char path[sizeof base + sizeof p->imds_role], perr[160];
	struct credp_body b;
	int rc;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (!p->imds_role[0]) {
			size_t n;

			rc = credp_imds_get(p, base, &b, err, errlen);
			if (rc == ENOENT)
				s3_errf(err, errlen, "IMDS %s: no IAM role attached to this "
					  "instance", p->url);
			if (rc)
				return rc;
			/* one role per instance profile: the first line */
			n = b.data ? strcspn(b.data, "\r\n") : 0;
			if (n == 0 || n >= sizeof p->imds_role || memchr(b.data, '/', n)) {
				s3_errf(err, errlen, "IMDS %s: no role name in the answer", p->url);
				credp_body_free(&b);
				return S3F_E_S3_PROTO;
			}
			memcpy(p->imds_role, b.data, n);
			p->imds_role[n] = '\0';
			credp_body_free(&b);
		}
		snprintf(path, sizeof path, "%s%s", base, p->imds_role);
		rc = credp_imds_get(p, path, &b, err, errlen);
		if (rc == ENOENT && attempt == 0) {
			/* the instance profile changed: ask for the role again */
			p->imds_role[0] = '\0';
			continue;
		}
		if (rc)
			return rc;
		rc = s3_credp_parse_json(b.data ? b.data : "", b.len, cr, exp, perr, sizeof perr);
		if (rc)
			s3_errf(err, errlen, "IMDS %s: %s", p->url, perr);
		credp_body_free(&b);
		return rc;
	}
	return ENOENT;
}

static int credp_fetch_web_identity(struct s3_credp *p, struct s3_creds *cr, int64_t *exp,
				    char *err, size_t errlen)
{
	struct credp_http h = { .method = "POST", .url = p->url,
				.hdrs = { "Content-Type: application/x-www-form-urlencoded" },
				.connect_ms = CREDP_HTTP_CONNECT_MS,
				.timeout_ms = CREDP_HTTP_TIMEOUT_MS };
	struct buf sb = { 0 };
	struct s3_xml_error xe;
	struct credp_body b;
	char *tok = NULL, *body = NULL;
	long status;
	int rc;

	rc = credp_read_token(p->token_file, &tok, err, errlen);
	if (rc)
		return rc;
	buf_adds(&sb, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=");
	s3_sb_add_uri(&sb, p->role_arn, strlen(p->role_arn), false);
	buf_adds(&sb, "&RoleSessionName=");
	s3_sb_add_uri(&sb, p->session_name, strlen(p->session_name), false);
	buf_adds(&sb, "&WebIdentityToken=");
	s3_sb_add_uri(&sb, tok, strlen(tok), false);
	rc = buf_done(&sb, &body);
	explicit_bzero(tok, strlen(tok));
	free(tok);
	if (rc)
		return rc;
	h.body = body;
	rc = credp_http_do(p, &h, &status, &b, err, errlen);
	explicit_bzero(body, strlen(body));
	free(body);
	if (rc)
		return rc;
	if (status != 200) {
		/* AWS answers an STS ErrorResponse; Ceph RGW an S3 <Error> document */
		if (b.data && (s3_xml_parse_sts_error(b.data, b.len, &xe) == 0 ||
			       s3_xml_parse_error(b.data, b.len, &xe) == 0))
			s3_errf(err, errlen, "STS %s AssumeRoleWithWebIdentity for %s: HTTP %ld "
				  "%s: %s", p->url, p->role_arn, status, xe.code, xe.message);
		else
			credp_status_err(&h, status, &b, err, errlen);
		rc = status >= 500 ? S3F_E_S3_SERVER : S3F_E_S3_AUTH;
	} else if (s3_xml_parse_sts_creds(b.data ? b.data : "", b.len, cr, exp) != 0) {
		s3_errf(err, errlen, "STS %s: the AssumeRoleWithWebIdentity answer does not "
			  "parse", p->url);
		rc = S3F_E_S3_PROTO;
	}
	credp_body_free(&b);
	return rc;
}

static int credp_fetch(struct s3_credp *p, struct s3_creds *cr, int64_t *exp, char *err,
		       size_t errlen)
{
	int rc;

	switch (p->kind) {
	case S3_CREDP_CONTAINER:
		rc = credp_fetch_container(p, cr, exp, err, errlen);
		break;
	case S3_CREDP_IMDS:
		rc = credp_fetch_imds(p, cr, exp, err, errlen);
		break;
	case S3_CREDP_WEB_IDENTITY:
		rc = credp_fetch_web_identity(p, cr, exp, err, errlen);
		break;
	default:
		return EINVAL;
	}
	if (rc == 0 && *exp && *exp <= (int64_t)time(NULL)) {
		s3_errf(err, errlen, "%s gave credentials that have already expired (check "
			  "this machine's clock)", s3_credp_kind_name(p->kind));
		explicit_bzero(cr, sizeof *cr);
		rc = S3F_E_S3_PROTO;
	}
	return rc;
}

static void credp_time_str(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (t == 0 || t == INT64_MAX || !gmtime_r(&tt, &tm) ||
	    !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, 32, "never");
}

/* Take the outcome of one fetch (fetch state is the caller's: the opening thread before
 * the refresh thread exists, that thread after). Logs, with the key id only. */
static void credp_apply(struct s3_credp *p, int rc, struct s3_creds *cr, int64_t exp,
			const char *why)
{
	int64_t now = (int64_t)time(NULL);
	char e1[32], e2[32];
	bool had, recovered;

	pthread_mutex_lock(&p->mu);
	if (rc == 0) {
		recovered = p->fail_streak > 0;
		p->fail_streak = 0;
		p->cur = *cr;
		p->valid = true;
		p->expiration = exp;
		p->next_at = s3_credp_refresh_at(now, exp);
		if (p->next_at < now + 1)	/* lifetimes of a second or two: no busy loop */
			p->next_at = now + 1;
		p->fetches++;
		credp_time_str(exp, e1);
		credp_time_str(p->next_at, e2);
		pthread_mutex_unlock(&p->mu);
		LOG_INFO(LOG_C_S3, "credentials from %s%s: key id %s, expire %s, next refresh %s",
			 s3_credp_kind_name(p->kind), recovered ? " (again, after failures)" : "",
			 cr->access_key_id, e1, e2);
		return;
	}
	p->fail_streak++;
	p->failures++;
	p->next_at = now + s3_credp_backoff(p->fail_streak);
	had = p->valid && (p->expiration == 0 || now < p->expiration);
	credp_time_str(p->expiration, e1);
	pthread_mutex_unlock(&p->mu);
	if (had)
		LOG_WARN(LOG_C_S3, "credentials from %s: refresh failed: %s; the current ones "
			 "(expire %s) are used meanwhile; retry in %us", s3_credp_kind_name(p->kind),
			 why, e1, s3_credp_backoff(p->fail_streak));
	else
		LOG_ERROR(LOG_C_S3, "credentials from %s: %s; S3 requests fail (no valid "
			  "credentials) until a fetch succeeds; retry in %us",
			  s3_credp_kind_name(p->kind), why, s3_credp_backoff(p->fail_streak));
}

static void *credp_thread(void *arg)
{
	struct s3_credp *p = arg;

	pthread_mutex_lock(&p->mu);
	while (!p->closing) {
		int64_t now = (int64_t)time(NULL);
		struct s3_creds cr;
		char why[512] = "";
		int64_t exp = 0;
		int rc;

		if (now < p->next_at) {
			/* at most a minute at a time: the wall clock may jump */
			struct timespec ts = { .tv_sec = (time_t)(p->next_at - now > 60 ?
								  now + 60 : p->next_at) };

			pthread_cond_timedwait(&p->cv, &p->mu, &ts);
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		rc = credp_fetch(p, &cr, &exp, why, sizeof why);
		credp_apply(p, rc, &cr, exp, why);
		explicit_bzero(&cr, sizeof cr);
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* ---- open ---- */

static const char *credp_env(const struct s3_credp_opts *o, const char *name)
{
	const char *v = o->src.use_env ? getenv(name) : NULL;

	return v && *v ? v : NULL;
}

static int credp_dup(char **dst, const char *s)
{
	if (!s)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : ENOMEM;
}

static void credp_free(struct s3_credp *p)
{
	free(p->url);
	if (p->auth_token)
		explicit_bzero(p->auth_token, strlen(p->auth_token));
	free(p->auth_token);
	free(p->auth_token_file);
	free(p->token_file);
	free(p->role_arn);
	free(p->session_name);
	free(p->ca_file);
	explicit_bzero(p->imds_token, sizeof p->imds_token);
	explicit_bzero(&p->cur, sizeof p->cur);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* Settings of a temporary provider from the environment; EINVAL when not configured. */
static int credp_setup_container(struct s3_credp *p, const struct s3_credp_opts *o, char *err,
				 size_t errlen)
{
	const char *rel = credp_env(o, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
	const char *full = credp_env(o, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
	const char *tok = credp_env(o, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
	int rc;

	if (rel) {
		if (rel[0] != '/') {
			s3_errf(err, errlen, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start "
				  "with /");
			return EINVAL;
		}
		if (asprintf(&p->url, "%s%s", CREDP_CONTAINER_HOST, rel) < 0) {
			p->url = NULL;
			return ENOMEM;
		}
	} else if (full) {
		if (!s3_credp_full_uri_ok(full)) {
			s3_errf(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI %s: over http only "
				  "a loopback address, localhost, 169.254.170.2, 169.254.170.23 or "
				  "fd00:ec2::23 may be used (else https)", full);
			return EINVAL;
		}
		rc = credp_dup(&p->url, full);
		if (rc)
			return rc;
	} else {
		s3_errf(err, errlen, "container credentials need "
			  "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI");
		return EINVAL;
	}
	if (tok && strpbrk(tok, "\r\n")) {
		s3_errf(err, errlen, "AWS_CONTAINER_AUTHORIZATION_TOKEN holds a line break");
		return EINVAL;
	}
	rc = credp_dup(&p->auth_token_file, credp_env(o, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"));
	if (rc == 0)
		rc = credp_dup(&p->auth_token, tok);
	return rc;
}

static int credp_setup_web_identity(struct s3_credp *p, const struct s3_credp_opts *o,
				    char *err, size_t errlen)
{
	const char *file = credp_env(o, "AWS_WEB_IDENTITY_TOKEN_FILE");
	const char *arn = credp_env(o, "AWS_ROLE_ARN");
	const char *name = credp_env(o, "AWS_ROLE_SESSION_NAME");
	const char *sts = o->sts_endpoint ? o->sts_endpoint : credp_env(o, "AWS_ENDPOINT_URL_STS");
	char gen[64];
	size_t n;
	int rc;

	if (!file || !arn) {
		s3_errf(err, errlen, "web identity credentials need AWS_WEB_IDENTITY_TOKEN_FILE "
			  "and AWS_ROLE_ARN");
		return EINVAL;
	}
	if (!name) {
		snprintf(gen, sizeof gen, "s3files-%lld", (long long)time(NULL));
		name = gen;
	}
	if (sts) {
		rc = credp_dup(&p->url, sts);
	} else if (asprintf(&p->url, "https://sts.%s.amazonaws.com",
			    o->region ? o->region : "us-east-1") < 0) {
		p->url = NULL;
		rc = ENOMEM;
	} else {
		rc = 0;
	}
	if (rc)
		return rc;
	/* "http://host/" and "http://host" are the same endpoint; the request goes to "/" */
	n = strlen(p->url);
	while (n > 8 && p->url[n - 1] == '/')
		p->url[--n] = '\0';
	if (strncmp(p->url, "http://", 7) != 0 && strncmp(p->url, "https://", 8) != 0) {
		s3_errf(err, errlen, "STS endpoint %s is not an http(s) URL", p->url);
		return EINVAL;
	}
	rc = credp_dup(&p->token_file, file);
	if (rc == 0)
		rc = credp_dup(&p->role_arn, arn);
	if (rc == 0)
		rc = credp_dup(&p->session_name, name);
	return rc;
}

static int credp_setup_imds(struct s3_credp *p, const struct s3_credp_opts *o, char *err,
			    size_t errlen)
{
	const char *off = credp_env(o, "AWS_EC2_METADATA_DISABLED");
	const char *ep = credp_env(o, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
	size_t n;
	int rc;

	if (off && strcasecmp(off, "true") == 0) {
		s3_errf(err, errlen, "instance metadata is disabled (AWS_EC2_METADATA_DISABLED)");
		return EINVAL;
	}
	rc = credp_dup(&p->url, ep ? ep : CREDP_IMDS_DEFAULT);
	if (rc)
		return rc;
	n = strlen(p->url);
	while (n > 8 && p->url[n - 1] == '/')
		p->url[--n] = '\0';
	if (strncmp(p->url, "http://", 7) != 0 && strncmp(p->url, "https://", 8) != 0) {
		s3_errf(err, errlen, "AWS_EC2_METADATA_SERVICE_ENDPOINT %s is not an http(s) URL",
			  p->url);
		return EINVAL;
	}
	return 0;
}

/* The chain: which provider applies. Static ones are loaded here (into *cr). */
static int credp_choose(struct s3_credp *p, const struct s3_credp_opts *o, struct s3_creds *cr,
			char *err, size_t errlen)
{
	enum s3_credp_kind k = o->kind;
	const struct s3_creds_source *s = &o->src;
	char ferr[512] = "";
	bool explicit_file = false;
	int rc;

	if (k == S3_CREDP_AUTO || k == S3_CREDP_CONFIG) {
		if (s->access_key_id || s->secret_access_key) {
			p->kind = S3_CREDP_CONFIG;
			struct s3_creds_source only = { .access_key_id = s->access_key_id,
							.secret_access_key = s->secret_access_key,
							.session_token = s->session_token };
			return s3_creds_load(&only, cr, err, errlen);
		}
		if (k == S3_CREDP_CONFIG) {
			s3_errf(err, errlen, "Credentials_Provider config: no Access_Key_Id and "
				  "Secret_Access_Key configured");
			return EINVAL;
		}
	}
	if (k == S3_CREDP_AUTO || k == S3_CREDP_ENV) {
		if (credp_env(o, "AWS_ACCESS_KEY_ID") || credp_env(o, "AWS_SECRET_ACCESS_KEY")) {
			struct s3_creds_source env = { .use_env = true };

			p->kind = S3_CREDP_ENV;
			if (!credp_env(o, "AWS_ACCESS_KEY_ID") ||
			    !credp_env(o, "AWS_SECRET_ACCESS_KEY")) {
				s3_errf(err, errlen, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
					  "must both be set");
				return EINVAL;
			}
			return s3_creds_load(&env, cr, err, errlen);
		}
		if (k == S3_CREDP_ENV) {
			s3_errf(err, errlen, "Credentials_Provider env: AWS_ACCESS_KEY_ID and "
				  "AWS_SECRET_ACCESS_KEY are not set");
			return EINVAL;
		}
	}
	if (k == S3_CREDP_WEB_IDENTITY ||
	    (k == S3_CREDP_AUTO && credp_env(o, "AWS_WEB_IDENTITY_TOKEN_FILE"))) {
		p->kind = S3_CREDP_WEB_IDENTITY;
		return credp_setup_web_identity(p, o, err, errlen);
	}
	if (k == S3_CREDP_AUTO || k == S3_CREDP_FILE) {
		p->kind = S3_CREDP_FILE;
		rc = s3_creds_load_file(s, cr, &explicit_file, ferr, sizeof ferr);
		/* a named file that does not serve is an error; only the default file may be
		 * absent (or lack the profile) for the chain to go on */
		if (rc == 0 || k == S3_CREDP_FILE || explicit_file || rc != ENOENT) {
			if (rc)
				s3_errf(err, errlen, "%s", ferr);
			return rc;
		}
	}
	if (k == S3_CREDP_CONTAINER ||
	    (k == S3_CREDP_AUTO && (credp_env(o, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") ||
				    credp_env(o, "AWS_CONTAINER_CREDENTIALS_FULL_URI")))) {
		p->kind = S3_CREDP_CONTAINER;
		return credp_setup_container(p, o, err, errlen);
	}
	p->kind = S3_CREDP_IMDS;
	p->via_chain = k == S3_CREDP_AUTO;
	rc = credp_setup_imds(p, o, err, errlen);
	if (rc && p->via_chain) {
		s3_errf(err, errlen, "no credentials: none configured, none in the environment, "
			  "%s; no container endpoint; instance metadata disabled", ferr);
		return ENOENT;
	}
	return rc;
}

int s3_credp_open(const struct s3_credp_opts *opts, struct s3_credp **out, char *err,
		  size_t errlen)
{
	struct s3_credp *p;
	struct s3_creds cr;
	char why[512] = "";
	int64_t exp = 0;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	p = calloc(1, sizeof *p);
	if (!p)
		return ENOMEM;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	memset(&cr, 0, sizeof cr);
	rc = credp_dup(&p->ca_file, opts->ca_file);
	if (rc)
		goto fail;
	rc = credp_choose(p, opts, &cr, err, errlen);
	if (rc)
		goto fail;
	if (!credp_temporary(p->kind)) {
		p->cur = cr;
		p->valid = true;
		LOG_INFO(LOG_C_S3, "credentials from %s: key id %s%s", s3_credp_kind_name(p->kind),
			 cr.access_key_id, cr.session_token[0] ? " (with a session token)" : "");
		goto done;
	}
	rc = credp_fetch(p, &cr, &exp, why, sizeof why);
	if (rc && p->via_chain) {
		s3_errf(err, errlen, "no credentials: none configured, none in the environment, "
			  "no credentials file, no container endpoint, and instance metadata does "
			  "not answer (%s)", why);
		rc = ENOENT;
		goto fail;
	}
	credp_apply(p, rc, &cr, exp, why);
	rc = pthread_create(&p->thread, NULL, credp_thread, p);
	if (rc)
		goto fail;
	p->thread_started = true;
done:
	explicit_bzero(&cr, sizeof cr);
	*out = p;
	return 0;
fail:
	explicit_bzero(&cr, sizeof cr);
	credp_free(p);
	return rc;
}

void s3_credp_close(struct s3_credp *p)
{
	if (!p)
		return;
	if (p->thread_started) {
		pthread_mutex_lock(&p->mu);
		p->closing = true;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
	}
	credp_free(p);
}

int s3_credp_get(struct s3_credp *p, struct s3_creds *out)
{
	int64_t now = (int64_t)time(NULL);
	int rc = 0;

	pthread_mutex_lock(&p->mu);
	if (!p->valid || (p->expiration && now >= p->expiration))
		rc = S3F_E_S3_CREDS;
	else
		*out = p->cur;
	pthread_mutex_unlock(&p->mu);
	return rc;
}

void s3_credp_info_get(struct s3_credp *p, struct s3_credp_info *out)
{
	int64_t now = (int64_t)time(NULL);

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&p->mu);
	out->kind = p->kind;
	out->valid = p->valid && (p->expiration == 0 || now < p->expiration);
	out->expiration = p->expiration;
	out->fetches = p->fetches;
	out->failures = p->failures;
	if (p->valid)
		memcpy(out->access_key_id, p->cur.access_key_id, sizeof out->access_key_id);
	pthread_mutex_unlock(&p->mu);
}
