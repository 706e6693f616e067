/*
 * http_req.c — see http_req.h.
 *
 * The head is only parsed once it is complete (the empty line has arrived), so a slow
 * client costs a buffer and a timer in the server, never a half-parsed state here.
 * Everything the endpoints do not use (other headers, the query string) is checked for
 * shape and skipped.
 */
#include "base/http_req.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 5.6.2 token characters. */
static bool http_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int http_req_refuse(struct http_req *req, int status)
{
	req->status = status;
	return EPROTO;
}

/* Offset just past the empty line that ends the head, or 0 when not there yet. */
static size_t http_head_end(const char *buf, size_t len, size_t from)
{
	for (size_t i = from; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* One line [*pos, end): its start and length without CR LF; *pos moves past it. */
static void http_line(const char *buf, size_t end, size_t *pos, const char **line, size_t *n)
{
	size_t s = *pos, e = s;

	while (e < end && buf[e] != '\n')
		e++;
	*line = buf + s;
	*n = e - s;
	if (*n > 0 && buf[e - 1] == '\r')
		(*n)--;
	*pos = e < end ? e + 1 : e;
}

static bool http_name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

static bool http_token_is(const char *s, size_t n, const char *want)
{
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	return http_name_is(s, n, want);
}

static int http_request_line(const char *line, size_t n, struct http_req *req)
{
	static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "DELETE",
					       "OPTIONS", "PATCH", "TRACE", "CONNECT" };
	size_t i = 0, m, t0, tn, plen;
	bool known = false;

	while (i < n && http_tchar((unsigned char)line[i]))
		i++;
	m = i;
	if (m == 0 || i >= n || line[i] != ' ')
		return http_req_refuse(req, 400);
	if (m >= sizeof req->method)
		return http_req_refuse(req, 501);
	memcpy(req->method, line, m);
	req->method[m] = '\0';
	t0 = ++i;
	while (i < n && line[i] != ' ') {
		unsigned char c = (unsigned char)line[i];

		if (c < 0x21 || c == 0x7f)
			return http_req_refuse(req, 400);
		i++;
	}
	tn = i - t0;
	if (tn == 0 || i >= n)
		return http_req_refuse(req, 400);
	if (line[t0] != '/' && !(tn == 1 && line[t0] == '*'))
		return http_req_refuse(req, 400);
	/* the version: exactly "HTTP/1.0" or "HTTP/1.1" after one space */
	i++;
	if (n - i == 8 && memcmp(line + i, "HTTP/1.", 7) == 0 &&
	    (line[i + 7] == '0' || line[i + 7] == '1'))
		req->minor = line[i + 7] - '0';
	else if (n - i == 8 && memcmp(line + i, "HTTP/", 5) == 0 && line[i + 6] == '.' &&
		 line[i + 5] >= '0' && line[i + 5] <= '9' && line[i + 7] >= '0' &&
		 line[i + 7] <= '9')
		return http_req_refuse(req, 505);
	else
		return http_req_refuse(req, 400);
	for (size_t k = 0; k < sizeof methods / sizeof methods[0]; k++)
		if (strcmp(req->method, methods[k]) == 0)
			known = true;
	if (!known)
		return http_req_refuse(req, 501);
	plen = 0;
	while (plen < tn && line[t0 + plen] != '?' && line[t0 + plen] != '#')
		plen++;
	if (plen > HTTP_REQ_PATH_MAX)
		return http_req_refuse(req, 414);
	memcpy(req->path, line + t0, plen);
	req->path[plen] = '\0';
	return 0;
}

/* Content-Length: 1 to 19 digits (a larger body is refused by the caller's limit). */
static int http_content_length(const char *v, size_t n, struct http_req *req)
{
	uint64_t x = 0;

	if (n == 0 || n > 19)
		return http_req_refuse(req, 400);
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return http_req_refuse(req, 400);
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	if (req->has_length && req->content_length != x)
		return http_req_refuse(req, 400);
	req->has_length = true;
	req->content_length = x;
	return 0;
}

int http_req_parse(const char *buf, size_t len, struct http_req *req)
{
	bool te = false, conn_close = false, conn_keep = false;
	size_t pos = 0, end, n, headers = 0;
	const char *line;
	int rc;

	memset(req, 0, sizeof *req);
	/* RFC 9112 2.2: empty lines before the request line are ignored. */
	while (pos < len && pos < 8 && (buf[pos] == '\r' || buf[pos] == '\n'))
		pos++;
	end = http_head_end(buf, len, pos);
	if (end == 0)
		return len >= HTTP_REQ_HEAD_MAX ? http_req_refuse(req, 431) : EAGAIN;
	if (end > HTTP_REQ_HEAD_MAX)
		return http_req_refuse(req, 431);

	http_line(buf, end, &pos, &line, &n);
	rc = http_request_line(line, n, req);
	if (rc)
		return rc;
	for (;;) {
		const char *colon, *v;
		size_t nl, vl;

		http_line(buf, end, &pos, &line, &n);
		if (n == 0)
			break;
		if (++headers > HTTP_REQ_HEADERS_MAX)
			return http_req_refuse(req, 431);
		if (line[0] == ' ' || line[0] == '\t')
			return http_req_refuse(req, 400);	/* obsolete line folding */
		colon = memchr(line, ':', n);
		if (!colon || colon == line)
			return http_req_refuse(req, 400);
		nl = (size_t)(colon - line);
		for (size_t i = 0; i < nl; i++)
			if (!http_tchar((unsigned char)line[i]))
				return http_req_refuse(req, 400);
		v = colon + 1;
		vl = n - nl - 1;
		for (size_t i = 0; i < vl; i++) {
			unsigned char c = (unsigned char)v[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return http_req_refuse(req, 400);
		}
		while (vl && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			vl--;
		if (http_name_is(line, nl, "Content-Length")) {
			rc = http_content_length(v, vl, req);
			if (rc)
				return rc;
		} else if (http_name_is(line, nl, "Transfer-Encoding")) {
			te = true;
		} else if (http_name_is(line, nl, "Connection")) {
			for (size_t s = 0; s <= vl;) {
				size_t e = s;

				while (e < vl && v[e] != ',')
					e++;
				if (http_token_is(v + s, e - s, "close"))
					conn_close = true;
				else if (http_token_is(v + s, e - s, "keep-alive"))
					conn_keep = true;
				s = e + 1;
			}
		} else if (http_name_is(line, nl, "Expect")) {
			if (http_token_is(v, vl, "100-continue"))
				req->expect_continue = true;
		}
	}
	if (te && req->has_length)
		return http_req_refuse(req, 400);
	if (te)
		return http_req_refuse(req, 411);
	if (!req->has_length && (strcmp(req->method, "POST") == 0 ||
				 strcmp(req->method, "PUT") == 0))
		return http_req_refuse(req, 411);
	req->keep_alive = req->minor == 1 ? !conn_close : conn_keep && !conn_close;
	req->head_len = end;
	return 0;
}

const char *http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "";
	}
}
