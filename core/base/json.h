/*
 * json.h — a small, bounded JSON reader (RFC 8259) for untrusted input.
 *
 * json_parse checks the whole text and records every value as a token in one flat array
 * (document order, a container before its children), so callers walk objects and arrays
 * by index without allocating per value. Strings stay in the caller's text; json_str_get
 * decodes one (escapes, \u surrogate pairs -> UTF-8) into a caller buffer.
 *
 * Limits are the caller's: nesting depth and token count (E2BIG when exceeded), text
 * length at most UINT32_MAX. Anything that is not exactly one JSON value, optionally
 * surrounded by whitespace, is EBADMSG: raw control characters in strings, bad escapes,
 * lone surrogates, leading zeros, trailing commas, trailing garbage. Duplicate object
 * keys are kept; json_obj_get finds the first. Bytes >= 0x80 in strings are passed
 * through unchecked (the reader does not validate UTF-8).
 *
 * Ownership: a json_doc borrows the text (it must outlive the doc) and owns its token
 * array (json_doc_free). No global state; a doc is not shared between threads.
 */
#ifndef S3F_JSON_H
#define S3F_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_type {
	JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT
};

struct json_tok {
	uint8_t type;		/* enum json_type */
	uint32_t start, len;	/* text span; strings: between the quotes, still escaped */
	uint32_t count;		/* arrays: elements; objects: members (key + value pairs) */
	uint32_t next;		/* index of the first token after this value and its subtree */
};

struct json_doc {
	const char *text;
	struct json_tok *tok;	/* tok[0] is the top-level value */
	size_t n, cap;
};

/* Parse text (len bytes, need not be NUL-terminated). 0, EBADMSG (not JSON), E2BIG (deeper
 * than max_depth or more than max_tokens values), ENOMEM. On error *doc is empty. */
int json_parse(const char *text, size_t len, unsigned max_depth, size_t max_tokens,
	       struct json_doc *doc);
void json_doc_free(struct json_doc *doc);

/* Index of the value of member `key` of the object at index obj, or 0 when obj is not an
 * object or has no such member (0 is never a member: it is the top-level value). */
size_t json_obj_get(const struct json_doc *doc, size_t obj, const char *key);

/* Elements of the array at index arr: first is arr + 1 (when count > 0), each next one
 * is tok[i].next. These helpers return 0 at the end. */
size_t json_arr_first(const struct json_doc *doc, size_t arr);
size_t json_arr_next(const struct json_doc *doc, size_t arr, size_t elem);

/* Decode the string at index i into buf (cap bytes, NUL-terminated; the string itself
 * may hold NUL bytes from \u0000, *len counts them). EINVAL if i is not a string,
 * ENOSPC if it does not fit. */
int json_str_get(const struct json_doc *doc, size_t i, char *buf, size_t cap, size_t *len);
/* Decoded length of the string at index i (for sizing buf: len + 1). */
int json_str_len(const struct json_doc *doc, size_t i, size_t *len);
/* Does the string at index i decode to exactly s? */
bool json_str_eq(const struct json_doc *doc, size_t i, const char *s);

/* The number at index i as a non-negative integer: EINVAL for anything else (a string,
 * a fraction, an exponent, a sign), ERANGE above UINT64_MAX. */
int json_u64_get(const struct json_doc *doc, size_t i, uint64_t *v);

#endif
