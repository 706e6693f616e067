/*
 * http_server.c — see http_server.h.
 *
 * Why one thread with poll() and not a thread per connection: the clients are an S3
 * server pushing events and a metrics scraper, a handful of connections; but the
 * notification endpoint may have to listen beyond loopback, and a thread per connection
 * would let anyone who can connect pin threads and memory with idle or trickling
 * connections. Here a connection costs one slot of a fixed table and a buffer bounded by
 * the head limit plus the route's body limit, and every state has a deadline.
 *
 * Answers are written with non-blocking sends; a connection that is sending is not read
 * from, so a pipelining client is served in order and cannot make us buffer without
 * bound. Handlers run on this thread (see the header: they must be quick).
 */
#include "http_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/clock.h"

#define HTTP_READ_CHUNK 16384

struct http_conn {
	int fd;
	char *in;			/* received and not yet consumed */
	size_t in_len, in_cap;
	bool have_head;			/* req/route: the request at the start of in */
	struct http_req req;
	const struct http_route *route;
	int early_status;		/* answer decided from the head alone (404, 413, ...) */
	const char *allow;		/* with 405: the method the path takes */
	char *out;			/* the answer being sent */
	size_t out_len, out_off;
	bool close_after;		/* close once out is sent */
	int64_t deadline_ms;		/* monotonic */
};

struct http_server {
	char *name;
	char *listen;
	int lfd;
	int wake[2];			/* a byte on wake[1] stops the thread */
	pthread_t thread;
	struct http_route *routes;
	size_t n_routes;
	/* connections: the server thread only, no lock */
	struct http_conn conns[HTTP_SERVER_CONNS_MAX];
	size_t n_conns;
};

void http_response_text(struct http_response *resp, int status, const char *fmt, ...)
{
	va_list ap;
	int n;

	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
	resp->status = status;
	resp->content_type = "text/plain; charset=utf-8";
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	resp->body = malloc((size_t)n + 1);
	if (!resp->body)
		return;	/* the status alone still goes out */
	va_start(ap, fmt);
	vsnprintf(resp->body, (size_t)n + 1, fmt, ap);
	va_end(ap);
	resp->len = (size_t)n;
}

/* ---- connections ---- */

static void http_conn_close(struct http_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

/* Queue an answer (head + body) for c; a HEAD request gets the head only. */
static void http_conn_answer(struct http_conn *c, struct http_response *r, bool head_only)
{
	char head[512];
	int hn;

	if (r->status == 0)
		r->status = 200;
	hn = snprintf(head, sizeof head,
		      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s"
		      "Connection: %s\r\n\r\n", r->status, http_status_text(r->status),
		      r->content_type ? r->content_type : "text/plain; charset=utf-8", r->len,
		      r->allow ? "Allow: " : "", r->allow ? r->allow : "", r->allow ? "\r\n" : "",
		      c->close_after ? "close" : "keep-alive");
	free(c->out);
	c->out_off = 0;
	c->out_len = (size_t)hn + (head_only ? 0 : r->len);
	c->out = malloc(c->out_len);
	if (!c->out) {
		c->out_len = 0;
		c->close_after = true;
	} else {
		memcpy(c->out, head, (size_t)hn);
		if (!head_only && r->len)
			memcpy(c->out + hn, r->body, r->len);
	}
	free(r->body);
	r->body = NULL;
}

/* An answer decided without a handler; the connection closes after it. */
static void http_conn_refuse(struct http_conn *c, int status, const char *allow)
{
	struct http_response r = { 0 };

	http_response_text(&r, status, "%d %s\n", status, http_status_text(status));
	r.allow = allow;
	c->close_after = true;
	http_conn_answer(c, &r, false);
}

static bool http_route_match(const struct http_route *rt, const struct http_req *req)
{
	return !rt->path || strcmp(rt->path, req->path) == 0;
}

/* The head of c's request is parsed: pick the route, or decide the answer now. */
static void http_conn_route(struct http_server *s, struct http_conn *c)
{
	c->route = NULL;
	c->early_status = 0;
	c->allow = NULL;
	for (size_t i = 0; i < s->n_routes; i++) {
		const struct http_route *rt = &s->routes[i];

		if (!http_route_match(rt, &c->req))
			continue;
		if (strcmp(rt->method, c->req.method) == 0 ||
		    (strcmp(c->req.method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
			c->route = rt;
			break;
		}
		if (!c->allow)
			c->allow = rt->method;
	}
	if (!c->route)
		c->early_status = c->allow ? 405 : 404;
	else if (c->req.content_length > c->route->body_max)
		c->early_status = 413;
}

static void http_conn_dispatch(struct http_conn *c)
{
	size_t need = c->req.head_len + (size_t)c->req.content_length;
	struct http_response r = { 0 };
	char saved = c->in[need];	/* in_cap > need: see http_conn_read */
	bool head_only = strcmp(c->req.method, "HEAD") == 0;

	c->in[need] = '\0';
	c->route->fn(c->route->arg, &c->req, c->in + c->req.head_len,
		     (size_t)c->req.content_length, &r);
	c->in[need] = saved;
	c->close_after = !c->req.keep_alive;
	http_conn_answer(c, &r, head_only);
	memmove(c->in, c->in + need, c->in_len - need);
	c->in_len -= need;
	c->have_head = false;
}

static int http_conn_write(struct http_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? EAGAIN : errno;
		}
		c->out_off += (size_t)n;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	return 0;
}

/* Make progress on c: parse, answer, send, for as many buffered requests as there are.
 * false: c is finished (closed or to be closed). */
static bool http_conn_step(struct http_server *s, struct http_conn *c, int64_t now)
{
	for (;;) {
		if (c->out) {
			int rc = http_conn_write(c);

			if (rc == EAGAIN)
				return true;
			if (rc || c->close_after)
				return false;
			c->deadline_ms = now + (c->in_len ? HTTP_SERVER_REQUEST_MS :
						HTTP_SERVER_IDLE_MS);
		}
		if (!c->have_head) {
			if (c->in_len == 0)
				return true;
			int rc = http_req_parse(c->in, c->in_len, &c->req);

			if (rc == EAGAIN)
				return true;
			if (rc) {
				LOG_DEBUG(LOG_C_SYNC, "%s: request refused: %d", s->name,
					  c->req.status);
				http_conn_refuse(c, c->req.status, NULL);
				c->deadline_ms = now + HTTP_SERVER_WRITE_MS;
				continue;
			}
			c->have_head = true;
			http_conn_route(s, c);
			if (c->early_status) {
				http_conn_refuse(c, c->early_status,
						 c->early_status == 405 ? c->allow : NULL);
				c->deadline_ms = now + HTTP_SERVER_WRITE_MS;
				continue;
			}
			if (c->req.expect_continue && c->req.content_length > 0 &&
			    c->in_len < c->req.head_len + c->req.content_length) {
				static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

				/* Nothing else is in flight on c: a 25-byte send fits. */
				if (send(c->fd, cont, sizeof cont - 1, MSG_NOSIGNAL) !=
				    (ssize_t)(sizeof cont - 1))
					return false;
			}
		}
		if (c->in_len < c->req.head_len + c->req.content_length)
			return true;	/* body still coming */
		http_conn_dispatch(c);
		c->deadline_ms = now + HTTP_SERVER_WRITE_MS;
	}
}

/* Read what is there. false: c is finished. */
static bool http_conn_read(struct http_server *s, struct http_conn *c, int64_t now)
{
	/* Room for the current request (head, then its body) plus the head of a pipelined
	 * next one, and one byte for the NUL the handler gets after the body. */
	size_t limit = HTTP_REQ_HEAD_MAX + 1;

	if (c->have_head)
		limit += c->req.head_len + (size_t)c->req.content_length;
	if (c->in_len + 1 >= limit)
		return http_conn_step(s, c, now);	/* full: the parser decides */
	if (c->in_cap < limit && c->in_cap - c->in_len < HTTP_READ_CHUNK) {
		size_t cap = c->in_cap ? c->in_cap * 2 : HTTP_READ_CHUNK;
		char *p;

		while (cap < c->in_len + HTTP_READ_CHUNK)
			cap *= 2;
		if (cap > limit)
			cap = limit;
		p = realloc(c->in, cap);
		if (!p)
			return false;
		c->in = p;
		c->in_cap = cap;
	}
	ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1, 0);

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
	if (n == 0)
		return false;	/* the peer is done */
	if (c->in_len == 0 && !c->have_head)
		c->deadline_ms = now + HTTP_SERVER_REQUEST_MS;
	c->in_len += (size_t)n;
	return http_conn_step(s, c, now);
}

/* The deadline of c passed. */
static void http_conn_expire(struct http_server *s, struct http_conn *c)
{
	if (!c->out && (c->in_len || c->have_head)) {
		static const char msg[] = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
					  "Connection: close\r\n\r\n";

		LOG_DEBUG(LOG_C_SYNC, "%s: request not complete in time; closing", s->name);
		(void)!send(c->fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	http_conn_close(c);
}

static void http_server_accept(struct http_server *s, int64_t now)
{
	while (s->n_conns < HTTP_SERVER_CONNS_MAX) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct http_conn *c;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				LOG_WARN(LOG_C_SYNC, "%s: accept: %s", s->name, strerror(errno));
			return;
		}
		c = &s->conns[s->n_conns++];
		memset(c, 0, sizeof *c);
		c->fd = fd;
		c->deadline_ms = now + HTTP_SERVER_IDLE_MS;
	}
}

static void *http_server_thread(void *arg)
{
	struct http_server *s = arg;
	struct pollfd pfd[2 + HTTP_SERVER_CONNS_MAX];

	for (;;) {
		int64_t now = clock_mono_ms(), wait = -1;
		size_t np = 2;

		pfd[0] = (struct pollfd){ .fd = s->wake[0], .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = s->n_conns < HTTP_SERVER_CONNS_MAX ? s->lfd : -1,
					  .events = POLLIN };
		for (size_t i = 0; i < s->n_conns; i++) {
			struct http_conn *c = &s->conns[i];
			int64_t left = c->deadline_ms - now;

			pfd[np++] = (struct pollfd){ .fd = c->fd,
						     .events = c->out ? POLLOUT : POLLIN };
			if (left < 0)
				left = 0;
			if (wait < 0 || left < wait)
				wait = left;
		}
		if (poll(pfd, np, wait > INT32_MAX ? INT32_MAX : (int)wait) < 0) {
			if (errno == EINTR)
				continue;
			LOG_ERROR(LOG_C_SYNC, "%s: poll: %s", s->name, strerror(errno));
			break;
		}
		if (pfd[0].revents)
			break;
		now = clock_mono_ms();
		/* Existing connections first (pfd[2..] follows conns[0..]), then new ones. */
		for (size_t i = 0; i < s->n_conns; i++) {
			struct http_conn *c = &s->conns[i];
			short re = pfd[2 + i].revents;
			bool alive = true;

			if (re & POLLNVAL)
				alive = false;
			else if (c->out && (re & (POLLOUT | POLLERR | POLLHUP)))
				alive = http_conn_step(s, c, now);
			else if (!c->out && (re & (POLLIN | POLLERR | POLLHUP)))
				alive = http_conn_read(s, c, now);
			if (alive && now >= c->deadline_ms) {
				http_conn_expire(s, c);
				continue;
			}
			if (!alive)
				http_conn_close(c);
		}
		/* Compact: closed slots have fd -1. */
		size_t k = 0;

		for (size_t i = 0; i < s->n_conns; i++)
			if (s->conns[i].fd >= 0)
				s->conns[k++] = s->conns[i];
		s->n_conns = k;
		if (pfd[1].revents & POLLIN)
			http_server_accept(s, now);
	}
	for (size_t i = 0; i < s->n_conns; i++)
		http_conn_close(&s->conns[i]);
	s->n_conns = 0;
	return NULL;
}

/* ---- start / stop ---- */

/* "host:port" or "[v6]:port" -> socket bound and listening. */
static int http_server_listen(const char *listen_on, int *fd_out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	const char *colon = strrchr(listen_on, ':');
	char host[300];
	size_t hl;
	int rc, fd = -1, one = 1;

	if (!colon || colon == listen_on)
		return EINVAL;
	hl = (size_t)(colon - listen_on);
	if (listen_on[0] == '[' && hl >= 2 && listen_on[hl - 1] == ']') {
		listen_on++;
		hl -= 2;
	}
	if (hl >= sizeof host)
		return EINVAL;
	memcpy(host, listen_on, hl);
	host[hl] = '\0';
	rc = getaddrinfo(host, colon + 1, &hints, &res);
	if (rc)
		return rc == EAI_SYSTEM ? errno : EINVAL;
	rc = EADDRNOTAVAIL;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			rc = errno;
			continue;
		}
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0) {
			rc = 0;
			break;
		}
		rc = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (rc == 0)
		*fd_out = fd;
	return rc;
}

int http_server_start(const char *listen_on, const char *name, const struct http_route *routes,
		      size_t n_routes, struct http_server **out)
{
	struct http_server *s;
	int rc;

	s = calloc(1, sizeof *s);
	if (!s)
		return ENOMEM;
	s->lfd = -1;
	s->wake[0] = s->wake[1] = -1;
	s->name = strdup(name);
	s->listen = strdup(listen_on);
	s->routes = calloc(n_routes ? n_routes : 1, sizeof *s->routes);
	if (!s->name || !s->listen || !s->routes) {
		rc = ENOMEM;
		goto fail_free;
	}
	memcpy(s->routes, routes, n_routes * sizeof *routes);
	s->n_routes = n_routes;
	rc = http_server_listen(listen_on, &s->lfd);
	if (rc)
		goto fail_free;
	if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		rc = errno;
		goto fail_listen;
	}
	rc = pthread_create(&s->thread, NULL, http_server_thread, s);
	if (rc)
		goto fail_pipe;
	LOG_INFO(LOG_C_SYNC, "%s: listening on %s", s->name, s->listen);
	*out = s;
	return 0;

fail_pipe:
	close(s->wake[0]);
	close(s->wake[1]);
fail_listen:
	close(s->lfd);
fail_free:
	free(s->routes);
	free(s->listen);
	free(s->name);
	free(s);
	return rc;
}

void http_server_stop(struct http_server *s)
{
	if (!s)
		return;
	(void)!write(s->wake[1], "x", 1);
	pthread_join(s->thread, NULL);
	close(s->wake[0]);
	close(s->wake[1]);
	close(s->lfd);
	free(s->routes);
	free(s->listen);
	free(s->name);
	free(s);
}
