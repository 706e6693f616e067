/*
 * http_server.h — a small HTTP/1.1 server for the daemon's endpoints (S3 event
 * notifications, Prometheus metrics, health).
 *
 * One thread per server runs a poll() loop over the listening socket and at most
 * HTTP_SERVER_CONNS_MAX connections: requests with Content-Length bodies (request heads
 * parsed by core/base/http_req.c), keep-alive and pipelining, Expect: 100-continue, and
 * deadlines so a slow or silent client only ever costs one connection slot for a while.
 * Handlers run on that thread, one request at a time, and must return quickly: they
 * may take short locks and LMDB read transactions, never do network I/O.
 *
 * Ownership: the server copies the route table; handler arguments are borrowed and must
 * outlive http_server_stop. The response body a handler sets is malloc'd and freed by
 * the server.
 */
#ifndef S3F_HTTP_SERVER_H
#define S3F_HTTP_SERVER_H

#include <stddef.h>

#include "base/http_req.h"

#define HTTP_SERVER_CONNS_MAX 64
#define HTTP_SERVER_IDLE_MS 30000	/* keep-alive connection without a request */
#define HTTP_SERVER_REQUEST_MS 10000	/* from a request's first byte to its last */
#define HTTP_SERVER_WRITE_MS 10000	/* to send one answer */

struct http_response {
	int status;			/* default 200 */
	const char *content_type;	/* static string; default text/plain */
	char *body;			/* malloc'd (or NULL), freed by the server */
	size_t len;
	const char *allow;		/* 405: the Allow header (static string) */
};

/* body is NUL-terminated for convenience (the NUL is not counted in len). */
typedef void (*http_handler_fn)(void *arg, const struct http_req *req, const char *body,
				size_t len, struct http_response *resp);

struct http_route {
	const char *method;		/* "GET", "POST" */
	const char *path;		/* exact path, or NULL: any path */
	size_t body_max;		/* larger bodies get 413 without being read */
	http_handler_fn fn;
	void *arg;
};

struct http_server;

/* Listen on listen ("host:port", "[v6]:port"; host may be a name) and serve routes in
 * order (the first route whose method and path match). name is used in log lines.
 * 0, EINVAL (bad address), or the errno of socket/bind/listen/thread creation. */
int http_server_start(const char *listen, const char *name, const struct http_route *routes,
		      size_t n_routes, struct http_server **out);
/* Stop serving, close every connection, join the thread, free. NULL is a no-op. */
void http_server_stop(struct http_server *s);

/* Set resp to status with a text/plain body made by printf. */
void http_response_text(struct http_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
