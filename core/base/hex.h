/*
 * hex.h — hexadecimal digits, bytes to text and back.
 *
 * Pure functions over caller buffers: no allocation, no state, thread-safe.
 */
#ifndef S3F_HEX_H
#define S3F_HEX_H

#include <stdbool.h>
#include <stddef.h>

/* The value (0-15) of the hex digit c, of either case, or -1 if c is not one. */
int hex_digit(int c);

/* The n bytes at in as 2n lowercase hex digits and a NUL: out holds 2n + 1 bytes. */
void hex_encode(const void *in, size_t n, char *out);

/* The len hex digits at in (len even) as len / 2 bytes into out (that many bytes).
 * lower_only: uppercase digits are refused too (for a form that must print back the
 * same, e.g. a packed MD5 ETag). 0, or EINVAL (odd len, a non-digit; out then holds
 * garbage). */
int hex_decode(const char *in, size_t len, void *out, bool lower_only);

#endif
