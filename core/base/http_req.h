/*
 * http_req.h — the request head of HTTP/1.0 and HTTP/1.1 (RFC 9112), for the daemon's
 * small HTTP endpoints (S3 event notifications, Prometheus metrics).
 *
 * Only what those endpoints need: the request line, Content-Length bodies, Connection
 * (keep-alive / close) and Expect: 100-continue. Transfer-Encoding (chunked) is refused
 * with 411 Length Required, as RFC 9112 allows a server to; S3 servers and Prometheus
 * send Content-Length. Request smuggling shapes are refused with 400: both
 * Content-Length and Transfer-Encoding, differing repeated Content-Length values,
 * whitespace before a header's colon, obsolete line folding.
 *
 * Pure function over caller memory; no locks, no I/O.
 */
#ifndef S3F_HTTP_REQ_H
#define S3F_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_REQ_HEAD_MAX 16384		/* request line + headers */
#define HTTP_REQ_HEADERS_MAX 100
#define HTTP_REQ_PATH_MAX 1024

struct http_req {
	char method[16];
	char path[HTTP_REQ_PATH_MAX + 1];	/* the target without its query */
	int minor;				/* HTTP/1.<minor>: 0 or 1 */
	bool has_length;
	uint64_t content_length;		/* 0 without a body */
	bool keep_alive;			/* the connection stays open after the answer */
	bool expect_continue;			/* Expect: 100-continue */
	size_t head_len;			/* bytes up to and including the empty line */
	int status;				/* on EPROTO: the status to answer with */
};

/*
 * Parse the head at the start of buf (len bytes received so far).
 *   0       complete: *req filled, the body (content_length bytes) starts at head_len
 *   EAGAIN  incomplete, and still within HTTP_REQ_HEAD_MAX: read more
 *   EPROTO  refused: req->status is the answer (400 malformed, 411 chunked or a body
 *           without a length, 414 target too long, 431 head too large, 501 method not
 *           known, 505 not HTTP/1.x); the connection should be closed after it
 * Bare LF line ends are accepted as well as CRLF (RFC 9112 2.2).
 */
int http_req_parse(const char *buf, size_t len, struct http_req *req);

/* Reason phrase of a status code ("OK", "Bad Request", ...; "" for an unknown code). */
const char *http_status_text(int status);

#endif
