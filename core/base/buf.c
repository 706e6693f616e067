/*
 * buf.c — see buf.h.
 */
#include "base/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int buf_grow(void *arrp, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p, *np;

	if (need <= *cap)
		return 0;
	if (elem == 0 || need > SIZE_MAX / elem)
		return ENOMEM;
	ncap = *cap ? *cap : BUF_MIN_CAP;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (ncap > SIZE_MAX / elem)
		ncap = need;
	/* The pointer is read and written through memcpy: arrp points to a pointer of the
	 * caller's element type, which may not be accessed as a void *. */
	memcpy(&p, arrp, sizeof p);
	np = realloc(p, ncap * elem);
	if (!np)
		return ENOMEM;
	memcpy(arrp, &np, sizeof np);
	*cap = ncap;
	return 0;
}

bool buf_reserve(struct buf *b, size_t more)
{
	if (b->oom)
		return false;
	if (more > SIZE_MAX - 1 - b->len || buf_grow(&b->p, &b->cap, b->len + more + 1, 1)) {
		b->oom = true;
		return false;
	}
	return true;
}

void buf_add(struct buf *b, const void *s, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void buf_addc(struct buf *b, char c)
{
	buf_add(b, &c, 1);
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if (!buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

int buf_done(struct buf *b, char **out)
{
	if (!buf_reserve(b, 0)) {
		buf_free(b);
		*out = NULL;
		return ENOMEM;
	}
	b->p[b->len] = '\0';
	*out = b->p;
	b->p = NULL;
	b->len = b->cap = 0;
	return 0;
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}
