/*
 * hex.c — see hex.h.
 */
#include "base/hex.h"

#include <errno.h>

static const char hex_lower[] = "0123456789abcdef";

int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void hex_encode(const void *in, size_t n, char *out)
{
	const unsigned char *p = in;

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_lower[p[i] >> 4];
		out[2 * i + 1] = hex_lower[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int hex_decode(const char *in, size_t len, void *out, bool lower_only)
{
	unsigned char *o = out;

	if (len % 2)
		return EINVAL;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hex_digit((unsigned char)in[i]), lo = hex_digit((unsigned char)in[i + 1]);

		if (hi < 0 || lo < 0)
			return EINVAL;
		if (lower_only && ((in[i] >= 'A' && in[i] <= 'F') ||
				   (in[i + 1] >= 'A' && in[i + 1] <= 'F')))
			return EINVAL;
		o[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}
