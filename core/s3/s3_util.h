/*
 * s3_util.h — small helpers of the S3 client (internal to core/s3_*.c and its tests).
 *
 * RFC 3986 encoding (into base/buf.h's strings), hashes, date formats and the XML character rules.
 * No state, no locks: every function is safe from any thread. Nothing here touches the
 * network or logs, so the XML parsers and the fuzz target can link it alone.
 */
#ifndef S3F_S3_UTIL_H
#define S3F_S3_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* printf into err (errlen bytes); nothing when err is NULL or errlen 0. */
void s3_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* %-encode s[0..n): every byte outside A-Z a-z 0-9 - . _ ~ (and '/' when keep_slash). */
void s3_sb_add_uri(struct buf *sb, const char *s, size_t n, bool keep_slash);
/* Escape for XML element content; \t \n \r become character references so that
 * line-end normalization on the other side cannot change them. */
void s3_sb_add_xml(struct buf *sb, const char *s, size_t n);

/* Heap %-encoding of a whole string (NULL on ENOMEM). */
char *s3_uri_encode(const char *s, bool keep_slash);
/* Decode %XX escapes (and '+' as space when plus_space) of in[0..n) into a heap string
 * of *outlen bytes plus a NUL. 0, EINVAL (bad escape, or a NUL byte), ENOMEM. */
int s3_uri_decode(const char *in, size_t n, bool plus_space, char **out, size_t *outlen);

/* SHA-256 hex of a buffer, or of fd [off, off+len) read with pread. 0 or errno. */
int s3_sha256_hex(const void *data, size_t len, char out[65]);
int s3_sha256_fd_hex(int fd, uint64_t off, uint64_t len, char out[65]);
/* Content-MD5 value: base64 of the binary MD5, of a buffer or of fd [off, off+len). */
int s3_md5_base64(const void *data, size_t len, char out[25]);
int s3_md5_fd_base64(int fd, uint64_t off, uint64_t len, char out[25]);
/* true when etag (without quotes) is 32 hex digits: what S3 gives a single-part object
 * stored without SSE-KMS/SSE-C, the MD5 of its bytes (a multipart ETag has "-N"). */
bool s3_etag_is_md5(const char *etag);
/* HMAC-SHA256 into out[32]. */
int s3_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
		   unsigned char out[32]);

/* "20150830T123600Z" (16 chars + NUL). */
void s3_amz_date(int64_t now, char out[17]);
/* ISO 8601 as S3 writes it ("2015-08-30T12:36:00.000Z"), or an HTTP date
 * ("Sun, 30 Aug 2015 12:36:00 GMT"). 0 and *out, or EINVAL. */
int s3_parse_iso8601(const char *s, int64_t *out);
int s3_parse_http_date(const char *s, int64_t *out);

/* true when s[0..n) is well-formed UTF-8 made only of XML 1.0 characters, i.e. it can
 * be sent inside an XML document (DeleteObjects) and read back unchanged. */
bool s3_xml_text_ok(const char *s, size_t n);

/* Copy an ETag without surrounding quotes into out[cap]; false if it does not fit. */
bool s3_etag_copy(char *out, size_t cap, const char *in, size_t n);


#endif
