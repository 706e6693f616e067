// fuzz-sources: core/ns/keymap.c core/base/log.c core/base/err.c
/*
 * fuzz_keymap.c — libFuzzer target for key parsing and metadata decoding (core/ns/keymap.c).
 *
 * Input: byte 0 picks what is fuzzed, the rest is its input.
 *   0  key parse: byte 1 picks a prefix, byte 2 the object size, the rest is the key.
 *      Invariants: components are valid names; FILE/DIR_MARKER keys rebuild to the
 *      same bytes; BAD points at a component that is really bad.
 *   1  metadata decode: lines "name=value" (up to S3_META_MAX). Invariant: what decodes
 *      re-encodes, and the canonical form decodes to the same attributes.
 *   2  prefix: keymap_init on the rest as a C string. Invariant: normalized form.
 *   3  build: components split on '/' (byte 1 bit 0: marker). Invariant: when build
 *      succeeds, parse gives the components back.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ns/keymap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(c) do { if (!(c)) __builtin_trap(); } while (0)

static const char *const fuzz_prefixes[] = { "", "p", "a/b", "lost+found", "x//y/", "a" };

static struct keymap_parsed fuzz_kp, fuzz_kp2;

static void fuzz_parse(const uint8_t *data, size_t size)
{
	struct keymap km;
	char rebuilt[S3_KEY_MAX + 1];
	size_t rlen = 0;
	uint64_t osize;

	if (size < 2)
		return;
	if (keymap_init(&km, fuzz_prefixes[data[0] % 6]) != 0)
		return;
	osize = data[1] < 128 ? 0 : data[1];
	data += 2;
	size -= 2;
	keymap_key_parse(&km, (const char *)data, size, osize, &fuzz_kp);
	FUZZ_ASSERT(fuzz_kp.n <= KEYMAP_DEPTH_MAX);
	switch (fuzz_kp.kind) {
	case KEYMAP_FILE:
	case KEYMAP_DIR_MARKER:
		FUZZ_ASSERT(fuzz_kp.bad == KEYMAP_OK && fuzz_kp.n >= 1);
		FUZZ_ASSERT(fuzz_kp.kind == KEYMAP_FILE || osize == 0);
		for (size_t i = 0; i < fuzz_kp.n; i++)
			FUZZ_ASSERT(keymap_name_check(fuzz_kp.comp[i], fuzz_kp.len[i]) == 0);
		FUZZ_ASSERT(keymap_key_build(&km, fuzz_kp.comp, fuzz_kp.len, fuzz_kp.n,
					     fuzz_kp.kind == KEYMAP_DIR_MARKER, rebuilt,
					     sizeof rebuilt, &rlen) == 0);
		FUZZ_ASSERT(rlen == size && memcmp(rebuilt, data, size) == 0);
		break;
	case KEYMAP_ROOT:
		FUZZ_ASSERT(size == km.prefix_len && osize == 0 && fuzz_kp.n == 0);
		break;
	case KEYMAP_OUTSIDE:
		FUZZ_ASSERT(size < km.prefix_len || memcmp(data, km.prefix, km.prefix_len) != 0);
		break;
	case KEYMAP_BAD:
		FUZZ_ASSERT(fuzz_kp.bad != KEYMAP_OK && fuzz_kp.bad != KEYMAP_BAD_COLLISION);
		if (fuzz_kp.bad == KEYMAP_BAD_KEY_LONG) {
			FUZZ_ASSERT(size > S3_KEY_MAX && fuzz_kp.n == 0);
		} else if (fuzz_kp.bad == KEYMAP_BAD_MARKER_DATA) {
			FUZZ_ASSERT(osize > 0);
			if (fuzz_kp.n)
				FUZZ_ASSERT(fuzz_kp.bad_component == fuzz_kp.n - 1);
		} else {
			size_t b = fuzz_kp.bad_component;

			FUZZ_ASSERT(b == fuzz_kp.n - 1);
			FUZZ_ASSERT(keymap_name_check(fuzz_kp.comp[b], fuzz_kp.len[b]) != 0 ||
				    (b == 0 && fuzz_kp.bad == KEYMAP_BAD_RESERVED));
			for (size_t i = 0; i < b; i++)
				FUZZ_ASSERT(keymap_name_check(fuzz_kp.comp[i], fuzz_kp.len[i]) == 0);
		}
		break;
	}
	FUZZ_ASSERT(strcmp(keymap_bad_name(fuzz_kp.bad), "unknown") != 0);
	keymap_fini(&km);
}

static void fuzz_meta(const uint8_t *data, size_t size)
{
	struct s3_meta_pair pairs[S3_META_MAX], enc[S3_META_MAX];
	struct keymap_attrs a, b;
	const char *bad = NULL;
	unsigned n = 0, ne = 0;
	size_t i = 0;

	memset(pairs, 0, sizeof pairs);
	while (i < size && n < S3_META_MAX) {
		size_t eol = i, eq;

		while (eol < size && data[eol] != '\n')
			eol++;
		for (eq = i; eq < eol && data[eq] != '='; eq++)
			;
		/* Names and values as the S3 client would hand them over: NUL-terminated,
		 * truncated to the field (a NUL inside the input just ends the string). */
		size_t nl = eq - i < sizeof pairs[n].name - 1 ? eq - i : sizeof pairs[n].name - 1;
		memcpy(pairs[n].name, data + i, nl);
		if (eq < eol) {
			size_t vl = eol - eq - 1;

			if (vl > sizeof pairs[n].value - 1)
				vl = sizeof pairs[n].value - 1;
			memcpy(pairs[n].value, data + eq + 1, vl);
		}
		n++;
		i = eol + 1;
	}
	keymap_meta_decode(pairs, n, &a, &bad);
	FUZZ_ASSERT(a.mtime_nsec < 1000000000u);
	if (!a.has_mode)
		FUZZ_ASSERT(a.mode == 0);
	if (!a.has_rdev)
		FUZZ_ASSERT(a.rdev == 0);
	FUZZ_ASSERT(keymap_meta_encode(&a, enc, S3_META_MAX, &ne) == 0);
	FUZZ_ASSERT(ne == (unsigned)a.has_mode + a.has_uid + a.has_gid + a.has_mtime + a.has_rdev);
	keymap_meta_decode(enc, ne, &b, &bad);
	FUZZ_ASSERT(bad == NULL);
	FUZZ_ASSERT(a.has_mode == b.has_mode && a.has_uid == b.has_uid &&
		    a.has_gid == b.has_gid && a.has_mtime == b.has_mtime &&
		    a.has_rdev == b.has_rdev);
	FUZZ_ASSERT(a.rdev == b.rdev);
	FUZZ_ASSERT(a.mode == b.mode && a.uid == b.uid && a.gid == b.gid);
	FUZZ_ASSERT(a.mtime_sec == b.mtime_sec && a.mtime_nsec == b.mtime_nsec);
}

static void fuzz_prefix(const uint8_t *data, size_t size)
{
	struct keymap km;
	char *s = malloc(size + 1);

	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (keymap_init(&km, s) == 0) {
		size_t l = km.prefix_len;

		FUZZ_ASSERT(l == strlen(km.prefix) && l <= 1000);
		FUZZ_ASSERT(l == 0 || (km.prefix[l - 1] == '/' && km.prefix[0] != '/'));
		FUZZ_ASSERT(strstr(km.prefix, "//") == NULL);
		keymap_fini(&km);
	}
	free(s);
}

static void fuzz_build(const uint8_t *data, size_t size)
{
	static const char *comp[KEYMAP_DEPTH_MAX + 1];
	static size_t len[KEYMAP_DEPTH_MAX + 1];
	struct keymap km;
	char key[S3_KEY_MAX + 1];
	size_t n = 0, klen = 0, i = 1, start;
	bool marker;

	if (size < 1)
		return;
	marker = data[0] & 1;
	if (keymap_init(&km, fuzz_prefixes[(data[0] >> 1) % 6]) != 0)
		return;
	start = i;
	for (; i <= size && n <= KEYMAP_DEPTH_MAX; i++) {
		if (i == size || data[i] == '/') {
			comp[n] = (const char *)data + start;
			len[n] = i - start;
			n++;
			start = i + 1;
		}
	}
	if (size == 1)
		n = 0;
	if (keymap_key_build(&km, comp, len, n, marker, key, sizeof key, &klen) == 0 && n > 0) {
		keymap_key_parse(&km, key, klen, 0, &fuzz_kp2);
		FUZZ_ASSERT(fuzz_kp2.kind == (marker ? KEYMAP_DIR_MARKER : KEYMAP_FILE));
		FUZZ_ASSERT(fuzz_kp2.n == n);
		for (size_t k = 0; k < n; k++)
			FUZZ_ASSERT(fuzz_kp2.len[k] == len[k] &&
				    memcmp(fuzz_kp2.comp[k], comp[k], len[k]) == 0);
	}
	keymap_fini(&km);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0: fuzz_parse(data + 1, size - 1); break;
	case 1: fuzz_meta(data + 1, size - 1); break;
	case 2: fuzz_prefix(data + 1, size - 1); break;
	default: fuzz_build(data + 1, size - 1); break;
	}
	return 0;
}
