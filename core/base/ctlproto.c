/*
 * ctlproto.c — see ctlproto.h. The daemon and the client each carried their own copy of
 * the escaping and the line handling; a byte escaped on one side and not understood on
 * the other would have split a line, so both now use these.
 */
#include "base/ctlproto.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/hex.h"

static const char ctlp_hex[] = "0123456789ABCDEF";

bool ctlp_must_escape(unsigned char c)
{
	return c <= 0x20 || c == '%' || c == 0x7f;
}

size_t ctlp_escape(char *out, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (ctlp_must_escape(c)) {
			out[o++] = '%';
			out[o++] = ctlp_hex[c >> 4];
			out[o++] = ctlp_hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return o;
}

char *ctlp_escape_dup(const char *s)
{
	size_t n = strlen(s);
	char *out = n < (SIZE_MAX - 1) / 3 ? malloc(3 * n + 1) : NULL;

	if (out)
		ctlp_escape(out, s, n);
	return out;
}

void ctlp_put_escaped(FILE *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (ctlp_must_escape(c)) {
			fputc('%', out);
			fputc(ctlp_hex[c >> 4], out);
			fputc(ctlp_hex[c & 15], out);
		} else {
			fputc(c, out);
		}
	}
}

void ctlp_put_kv(FILE *out, const char *key, const char *v, size_t len)
{
	fprintf(out, " %s=", key);
	if (len == 0)
		fputc('-', out);
	else
		ctlp_put_escaped(out, v, len);
}

long ctlp_unescape(char *s, bool strict)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		int hi = *r == '%' ? hex_digit((unsigned char)r[1]) : -1;
		int lo = hi < 0 ? -1 : hex_digit((unsigned char)r[2]);

		if (*r == '%' && lo >= 0) {
			*w++ = (char)(hi << 4 | lo);
			r += 2;
		} else if (*r == '%' && strict) {
			return -1;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return w - s;
}

enum ctlp_kind ctlp_line_kind(const char *line)
{
	if (strncmp(line, "OK", 2) == 0)
		return CTLP_OK;
	if (strncmp(line, "ERR", 3) == 0)
		return CTLP_ERR;
	return CTLP_DATA;
}

bool ctlp_busy(const char *line)
{
	return strncmp(line, CTLP_BUSY, sizeof CTLP_BUSY - 1) == 0;
}

bool ctlp_field(const char *line, const char *key, const char **val, size_t *len)
{
	size_t n = strlen(key);

	for (const char *p = line; (p = strstr(p, key)); p += n) {
		if ((p == line || p[-1] == ' ') && p[n] == '=') {
			*val = p + n + 1;
			*len = strcspn(*val, " \n");
			return true;
		}
	}
	return false;
}

unsigned long long ctlp_field_u(const char *line, const char *key)
{
	const char *v;
	size_t len;

	return ctlp_field(line, key, &v, &len) ? strtoull(v, NULL, 10) : 0;
}

bool ctlp_field_s(const char *line, const char *key, char *buf, size_t cap)
{
	const char *v;
	size_t len;

	if (cap == 0 || !ctlp_field(line, key, &v, &len))
		return false;
	if (len >= cap)
		len = cap - 1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	if (strcmp(buf, "-") == 0)
		buf[0] = '\0';
	ctlp_unescape(buf, false);
	return true;
}

int ctlp_read_request(int fd, char *line, size_t cap, int timeout_ms)
{
	int64_t t0 = clock_mono_ms();
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = timeout_ms - (clock_mono_ms() - t0);
		ssize_t r;
		char *nl;
		int pr;

		if (left <= 0)
			return ETIMEDOUT;
		pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return errno;
		if (pr == 0)
			return ETIMEDOUT;
		r = recv(fd, line + len, cap - 1 - len, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return errno;
		if (r == 0) {
			if (len == 0)
				return ECONNRESET;
			line[len] = '\0';	/* a last line without "\n" */
			return 0;
		}
		nl = memchr(line + len, '\n', (size_t)r);
		len += (size_t)r;
		if (nl) {
			*nl = '\0';
			return 0;
		}
		if (len >= cap - 1)
			return EMSGSIZE;
	}
}

int ctlp_client_open(const char *sock, const char *req, int timeout_s, FILE **in,
		     const char **step)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(req), off = 0;
	char *msg;
	int fd, rc = 0;

	*in = NULL;
	*step = "connect";
	if (strlen(sock) >= sizeof sa.sun_path)
		return ENAMETOOLONG;
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	msg = malloc(n + 1);
	if (!msg)
		return ENOMEM;
	memcpy(msg, req, n);
	msg[n++] = '\n';
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		rc = errno;
		goto out;
	}
	/* MSG_NOSIGNAL: a daemon that refused the connection (busy) has closed it already;
	 * its answer is still there to be read. */
	*step = "write";
	while (off < n) {
		ssize_t w = send(fd, msg + off, n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EPIPE || errno == ECONNRESET))
			break;
		if (w < 0) {
			rc = errno;
			goto out;
		}
		off += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	if (timeout_s > 0) {
		struct timeval tv = { .tv_sec = timeout_s };

		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	}
	*in = fdopen(fd, "r");
	if (!*in) {
		*step = "read";
		rc = errno;
		goto out;
	}
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	free(msg);
	return rc;
}
