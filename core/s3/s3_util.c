/*
 * s3_util.c — see s3_util.h.
 */
#include "s3/s3_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/hex.h"
#include "s3/s3.h"

/* ---- strings (base/buf.h's byte strings) ---- */

static bool s3_unreserved(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

void s3_sb_add_uri(struct buf *sb, const char *s, size_t n, bool keep_slash)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t i, run;

	/* Worst case triples the length: reserve once, then copy runs of plain bytes. */
	if (!buf_reserve(sb, n * 3))
		return;
	for (i = 0; i < n; i += run) {
		unsigned char ch = (unsigned char)s[i];

		run = 1;
		if (s3_unreserved(ch) || (keep_slash && ch == '/')) {
			while (i + run < n && (s3_unreserved((unsigned char)s[i + run]) ||
					       (keep_slash && s[i + run] == '/')))
				run++;
			memcpy(sb->p + sb->len, s + i, run);
			sb->len += run;
		} else {
			sb->p[sb->len++] = '%';
			sb->p[sb->len++] = hexd[ch >> 4];
			sb->p[sb->len++] = hexd[ch & 15];
		}
	}
	sb->p[sb->len] = '\0';
}

void s3_sb_add_xml(struct buf *sb, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': buf_adds(sb, "&amp;"); break;
		case '<': buf_adds(sb, "&lt;"); break;
		case '>': buf_adds(sb, "&gt;"); break;
		case '"': buf_adds(sb, "&quot;"); break;
		case '\'': buf_adds(sb, "&apos;"); break;
		case '\t': buf_adds(sb, "&#x9;"); break;
		case '\n': buf_adds(sb, "&#xA;"); break;
		case '\r': buf_adds(sb, "&#xD;"); break;
		default: buf_addc(sb, s[i]); break;
		}
	}
}

/* ---- encoding ---- */

char *s3_uri_encode(const char *s, bool keep_slash)
{
	struct buf sb = { 0 };
	char *out;

	s3_sb_add_uri(&sb, s, strlen(s), keep_slash);
	return buf_done(&sb, &out) == 0 ? out : NULL;
}

int s3_uri_decode(const char *in, size_t n, bool plus_space, char **out, size_t *outlen)
{
	char *p = malloc(n + 1);
	size_t o = 0;

	*out = NULL;
	if (!p)
		return ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];

		if (ch == '%') {
			int hi, lo;

			if (n - i < 3)	/* need '%' and two hex digits */
				goto bad;
			hi = hex_digit((unsigned char)in[i + 1]);
			lo = hex_digit((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			ch = (char)(hi << 4 | lo);
			i += 2;
		} else if (ch == '+' && plus_space) {
			ch = ' ';
		}
		if (ch == '\0')
			goto bad;
		p[o++] = ch;
	}
	p[o] = '\0';
	*out = p;
	if (outlen)
		*outlen = o;
	return 0;
bad:
	free(p);
	return EINVAL;
}

/* ---- hashes ---- */

int s3_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
		return EIO;
	hex_encode(md, 32, out);
	return 0;
}

/* Digest of fd [off, off+len), read with pread; EIO when the file is shorter. */
static int digest_fd(const EVP_MD *type, int fd, uint64_t off, uint64_t len, unsigned char *md,
		     unsigned int want_len)
{
	enum { CHUNK = 1 << 20 };
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *buf = malloc(CHUNK);
	unsigned int mdlen = 0;
	int rc = 0;

	if (!ctx || !buf) {
		rc = ENOMEM;
		goto out;
	}
	if (!EVP_DigestInit_ex(ctx, type, NULL)) {
		rc = EIO;
		goto out;
	}
	while (len > 0) {
		size_t want = len < CHUNK ? (size_t)len : CHUNK;
		ssize_t n = pread(fd, buf, want, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = errno;
			goto out;
		}
		if (n == 0) {	/* the file is shorter than the range we were asked to send */
			rc = EIO;
			goto out;
		}
		if (!EVP_DigestUpdate(ctx, buf, (size_t)n)) {
			rc = EIO;
			goto out;
		}
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != want_len)
		rc = EIO;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int s3_sha256_fd_hex(int fd, uint64_t off, uint64_t len, char out[65])
{
	unsigned char md[32];
	int rc = digest_fd(EVP_sha256(), fd, off, len, md, 32);

	if (rc == 0)
		hex_encode(md, 32, out);
	return rc;
}

static int md5_base64_of(const unsigned char md[16], char out[25])
{
	return EVP_EncodeBlock((unsigned char *)out, md, 16) == 24 ? 0 : EIO;
}

int s3_md5_fd_base64(int fd, uint64_t off, uint64_t len, char out[25])
{
	unsigned char md[16];
	int rc = digest_fd(EVP_md5(), fd, off, len, md, 16);

	return rc ? rc : md5_base64_of(md, out);
}

bool s3_etag_is_md5(const char *etag)
{
	size_t n = 0;

	for (; etag[n]; n++)
		if (!((etag[n] >= '0' && etag[n] <= '9') || (etag[n] >= 'a' && etag[n] <= 'f') ||
		      (etag[n] >= 'A' && etag[n] <= 'F')))
			return false;
	return n == 32;
}

int s3_md5_base64(const void *data, size_t len, char out[25])
{
	unsigned char md[16];
	unsigned int mdlen = 0;

	if (!EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL) || mdlen != 16)
		return EIO;
	return md5_base64_of(md, out);
}

int s3_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
		   unsigned char out[32])
{
	unsigned int outlen = 0;

	if (keylen > INT32_MAX)
		return EINVAL;
	if (!HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &outlen) || outlen != 32)
		return EIO;
	return 0;
}

/* ---- dates ---- */

void s3_amz_date(int64_t now, char out[17])
{
	time_t t = (time_t)now;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

int s3_parse_iso8601(const char *s, int64_t *out)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return EINVAL;
	if (*end == '.') {	/* fractional seconds: ignored */
		end++;
		while (*end >= '0' && *end <= '9')
			end++;
	}
	if (*end != 'Z' && *end != '\0')
		return EINVAL;
	*out = (int64_t)timegm(&tm);
	return 0;
}

int s3_parse_http_date(const char *s, int64_t *out)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end)
		return s3_parse_iso8601(s, out);
	*out = (int64_t)timegm(&tm);
	return 0;
}

/* ---- XML character rules ---- */

bool s3_xml_text_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		unsigned extra;

		if (p[i] < 0x80) {
			cp = p[i];
			extra = 0;
		} else if ((p[i] & 0xE0) == 0xC0) {
			cp = p[i] & 0x1F;
			extra = 1;
		} else if ((p[i] & 0xF0) == 0xE0) {
			cp = p[i] & 0x0F;
			extra = 2;
		} else if ((p[i] & 0xF8) == 0xF0) {
			cp = p[i] & 0x07;
			extra = 3;
		} else {
			return false;
		}
		if (n - i <= extra)
			return false;
		for (unsigned k = 1; k <= extra; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3F);
		}
		/* overlong forms, surrogates, beyond Unicode */
		if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
		    (extra == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		/* XML 1.0 Char production */
		if (cp < 0x20 && cp != 0x9 && cp != 0xA && cp != 0xD)
			return false;
		if (cp == 0xFFFE || cp == 0xFFFF)
			return false;
		i += extra + 1;
	}
	return true;
}

bool s3_etag_copy(char *out, size_t cap, const char *in, size_t n)
{
	while (n && (*in == ' ' || *in == '\t')) {
		in++;
		n--;
	}
	while (n && (in[n - 1] == ' ' || in[n - 1] == '\t' || in[n - 1] == '\r' || in[n - 1] == '\n'))
		n--;
	if (n >= 2 && in[0] == '"' && in[n - 1] == '"') {
		in++;
		n -= 2;
	}
	if (n >= cap) {
		out[0] = '\0';
		return false;
	}
	memcpy(out, in, n);
	out[n] = '\0';
	return true;
}

bool s3_err_transient(int rc)
{
	return rc == S3F_E_S3_NET || rc == S3F_E_S3_SERVER || rc == S3F_E_S3_CREDS;
}

void s3_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
