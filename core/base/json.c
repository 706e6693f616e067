/*
 * json.c — see json.h.
 *
 * Recursive descent over the text with the nesting depth checked before each descent, so
 * the C stack is bounded by the caller's max_depth, and the token array grows by doubling
 * up to max_tokens, so memory is bounded by the caller too. Containers record where their
 * subtree ends (next), which makes skipping a member O(1) when looking up keys.
 *
 * Surrogates are checked while parsing (a high one must be followed by a low one, a low
 * one never stands alone), so decoding a string can only fail for lack of room.
 */
#include "base/json.h"
#include "base/hex.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct json_parser {
	const char *s;
	size_t len, pos;
	unsigned max_depth;
	size_t max_tokens;
	struct json_doc *doc;
};

static void json_skip_ws(struct json_parser *p)
{
	while (p->pos < p->len) {
		char c = p->s[p->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static int json_tok_add(struct json_parser *p, enum json_type type, size_t start, size_t *idx)
{
	struct json_doc *d = p->doc;

	if (d->n >= p->max_tokens)
		return E2BIG;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct json_tok *t;

		if (cap > p->max_tokens)
			cap = p->max_tokens;
		t = realloc(d->tok, cap * sizeof *t);
		if (!t)
			return ENOMEM;
		d->tok = t;
		d->cap = cap;
	}
	memset(&d->tok[d->n], 0, sizeof d->tok[d->n]);
	d->tok[d->n].type = (uint8_t)type;
	d->tok[d->n].start = (uint32_t)start;
	*idx = d->n++;
	return 0;
}

/* The four hex digits at s (which has at least 4 bytes), or -1. */
static long json_hex4(const char *s)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		int h = hex_digit((unsigned char)s[i]);

		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* At p->pos: the opening quote. */
static int json_parse_string(struct json_parser *p)
{
	size_t start = ++p->pos, idx;
	int rc;

	while (p->pos < p->len) {
		unsigned char c = (unsigned char)p->s[p->pos];

		if (c == '"')
			break;
		if (c < 0x20)
			return EBADMSG;
		if (c != '\\') {
			p->pos++;
			continue;
		}
		if (p->pos + 1 >= p->len)
			return EBADMSG;
		c = (unsigned char)p->s[p->pos + 1];
		if (c != 'u') {
			if (!strchr("\"\\/bfnrt", c) || c == '\0')
				return EBADMSG;
			p->pos += 2;
			continue;
		}
		if (p->len - p->pos < 6)
			return EBADMSG;
		long u = json_hex4(p->s + p->pos + 2);

		if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
			return EBADMSG;
		p->pos += 6;
		if (u >= 0xD800 && u <= 0xDBFF) {
			long lo;

			if (p->len - p->pos < 6 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
				return EBADMSG;
			lo = json_hex4(p->s + p->pos + 2);
			if (lo < 0xDC00 || lo > 0xDFFF)
				return EBADMSG;
			p->pos += 6;
		}
	}
	if (p->pos >= p->len)
		return EBADMSG;	/* unterminated */
	rc = json_tok_add(p, JSON_STRING, start, &idx);
	if (rc)
		return rc;
	p->doc->tok[idx].len = (uint32_t)(p->pos - start);
	p->doc->tok[idx].next = (uint32_t)p->doc->n;
	p->pos++;
	return 0;
}

static bool json_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int json_parse_number(struct json_parser *p)
{
	size_t start = p->pos, idx;
	int rc;

	if (p->s[p->pos] == '-')
		p->pos++;
	if (p->pos >= p->len || !json_digit(p->s[p->pos]))
		return EBADMSG;
	if (p->s[p->pos] == '0')
		p->pos++;	/* no leading zeros: "01" fails below as trailing garbage */
	else
		while (p->pos < p->len && json_digit(p->s[p->pos]))
			p->pos++;
	if (p->pos < p->len && p->s[p->pos] == '.') {
		p->pos++;
		if (p->pos >= p->len || !json_digit(p->s[p->pos]))
			return EBADMSG;
		while (p->pos < p->len && json_digit(p->s[p->pos]))
			p->pos++;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (p->pos >= p->len || !json_digit(p->s[p->pos]))
			return EBADMSG;
		while (p->pos < p->len && json_digit(p->s[p->pos]))
			p->pos++;
	}
	rc = json_tok_add(p, JSON_NUMBER, start, &idx);
	if (rc)
		return rc;
	p->doc->tok[idx].len = (uint32_t)(p->pos - start);
	p->doc->tok[idx].next = (uint32_t)p->doc->n;
	return 0;
}

static int json_parse_literal(struct json_parser *p, const char *word, enum json_type type)
{
	size_t n = strlen(word), idx;
	int rc;

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return EBADMSG;
	rc = json_tok_add(p, type, p->pos, &idx);
	if (rc)
		return rc;
	p->doc->tok[idx].len = (uint32_t)n;
	p->doc->tok[idx].next = (uint32_t)p->doc->n;
	p->pos += n;
	return 0;
}

static int json_parse_value(struct json_parser *p, unsigned depth);

/* At p->pos: '[' or '{'. depth: containers around this one. */
static int json_parse_container(struct json_parser *p, unsigned depth)
{
	bool obj = p->s[p->pos] == '{';
	char close = obj ? '}' : ']';
	size_t start = p->pos, idx;
	uint32_t count = 0;
	int rc;

	if (depth + 1 > p->max_depth)
		return E2BIG;
	rc = json_tok_add(p, obj ? JSON_OBJECT : JSON_ARRAY, start, &idx);
	if (rc)
		return rc;
	p->pos++;
	json_skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		goto done;
	}
	for (;;) {
		json_skip_ws(p);
		if (obj) {
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return EBADMSG;
			rc = json_parse_string(p);
			if (rc)
				return rc;
			json_skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return EBADMSG;
			p->pos++;
		}
		rc = json_parse_value(p, depth + 1);
		if (rc)
			return rc;
		count++;
		json_skip_ws(p);
		if (p->pos >= p->len)
			return EBADMSG;
		if (p->s[p->pos] == ',') {
			p->pos++;
			continue;
		}
		if (p->s[p->pos] != close)
			return EBADMSG;
		p->pos++;
		break;
	}
done:
	p->doc->tok[idx].count = count;
	p->doc->tok[idx].len = (uint32_t)(p->pos - start);
	p->doc->tok[idx].next = (uint32_t)p->doc->n;
	return 0;
}

static int json_parse_value(struct json_parser *p, unsigned depth)
{
	json_skip_ws(p);
	if (p->pos >= p->len)
		return EBADMSG;
	switch (p->s[p->pos]) {
	case '{':
	case '[':
		return json_parse_container(p, depth);
	case '"':
		return json_parse_string(p);
	case 't':
		return json_parse_literal(p, "true", JSON_TRUE);
	case 'f':
		return json_parse_literal(p, "false", JSON_FALSE);
	case 'n':
		return json_parse_literal(p, "null", JSON_NULL);
	default:
		if (p->s[p->pos] == '-' || json_digit(p->s[p->pos]))
			return json_parse_number(p);
		return EBADMSG;
	}
}

int json_parse(const char *text, size_t len, unsigned max_depth, size_t max_tokens,
	       struct json_doc *doc)
{
	struct json_parser p = { .s = text, .len = len, .max_depth = max_depth,
				 .max_tokens = max_tokens, .doc = doc };
	int rc;

	memset(doc, 0, sizeof *doc);
	doc->text = text;
	if (len > UINT32_MAX)
		return E2BIG;
	if (max_tokens == 0)
		return E2BIG;
	rc = json_parse_value(&p, 0);
	if (rc == 0) {
		json_skip_ws(&p);
		if (p.pos != p.len)
			rc = EBADMSG;
	}
	if (rc) {
		json_doc_free(doc);
		doc->text = text;
	}
	return rc;
}

void json_doc_free(struct json_doc *doc)
{
	free(doc->tok);
	doc->tok = NULL;
	doc->n = doc->cap = 0;
}

/* ---- access ---- */

/* Decoding sink: writes to out (when set, cap including the NUL) and/or compares with
 * cmp (when set); counts the decoded length either way. */
struct json_sink {
	char *out;
	size_t cap;
	const char *cmp;
	size_t cmp_len;
	size_t n;
	bool differs;
	bool full;
};

static void json_sink_put(struct json_sink *k, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++, k->n++) {
		if (k->out) {
			if (k->n + 1 >= k->cap)
				k->full = true;
			else
				k->out[k->n] = b[i];
		}
		if (k->cmp && (k->n >= k->cmp_len || k->cmp[k->n] != b[i]))
			k->differs = true;
	}
}

static size_t json_utf8(unsigned long cp, char *b)
{
	if (cp < 0x80) {
		b[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		b[0] = (char)(0xC0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		b[0] = (char)(0xE0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	b[0] = (char)(0xF0 | (cp >> 18));
	b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	b[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* The raw span was validated by the parser: every escape is complete and well formed. */
static void json_decode(const char *raw, size_t len, struct json_sink *k)
{
	size_t i = 0;

	while (i < len) {
		size_t run = i;
		char b[4];

		while (run < len && raw[run] != '\\')
			run++;
		json_sink_put(k, raw + i, run - i);
		i = run;
		if (i >= len)
			break;
		char e = raw[i + 1];

		i += 2;
		switch (e) {
		case 'b': json_sink_put(k, "\b", 1); break;
		case 'f': json_sink_put(k, "\f", 1); break;
		case 'n': json_sink_put(k, "\n", 1); break;
		case 'r': json_sink_put(k, "\r", 1); break;
		case 't': json_sink_put(k, "\t", 1); break;
		case 'u': {
			unsigned long cp = (unsigned long)json_hex4(raw + i);

			i += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				unsigned long lo = (unsigned long)json_hex4(raw + i + 2);

				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				i += 6;
			}
			json_sink_put(k, b, json_utf8(cp, b));
			break;
		}
		default: json_sink_put(k, &e, 1); break;	/* " \ / */
		}
	}
}

int json_str_get(const struct json_doc *doc, size_t i, char *buf, size_t cap, size_t *len)
{
	struct json_sink k = { .out = buf, .cap = cap };

	if (i >= doc->n || doc->tok[i].type != JSON_STRING || cap == 0)
		return EINVAL;
	json_decode(doc->text + doc->tok[i].start, doc->tok[i].len, &k);
	if (k.full) {
		buf[0] = '\0';
		return ENOSPC;
	}
	buf[k.n] = '\0';
	if (len)
		*len = k.n;
	return 0;
}

int json_str_len(const struct json_doc *doc, size_t i, size_t *len)
{
	struct json_sink k = { 0 };

	if (i >= doc->n || doc->tok[i].type != JSON_STRING)
		return EINVAL;
	json_decode(doc->text + doc->tok[i].start, doc->tok[i].len, &k);
	*len = k.n;
	return 0;
}

bool json_str_eq(const struct json_doc *doc, size_t i, const char *s)
{
	struct json_sink k = { .cmp = s, .cmp_len = strlen(s) };

	if (i >= doc->n || doc->tok[i].type != JSON_STRING)
		return false;
	json_decode(doc->text + doc->tok[i].start, doc->tok[i].len, &k);
	return !k.differs && k.n == k.cmp_len;
}

size_t json_obj_get(const struct json_doc *doc, size_t obj, const char *key)
{
	size_t k;

	if (obj >= doc->n || doc->tok[obj].type != JSON_OBJECT)
		return 0;
	k = obj + 1;
	for (uint32_t m = 0; m < doc->tok[obj].count; m++) {
		size_t v = k + 1;	/* a key is a string: no children */

		if (json_str_eq(doc, k, key))
			return v;
		k = doc->tok[v].next;
	}
	return 0;
}

size_t json_arr_first(const struct json_doc *doc, size_t arr)
{
	if (arr >= doc->n || doc->tok[arr].type != JSON_ARRAY || doc->tok[arr].count == 0)
		return 0;
	return arr + 1;
}

size_t json_arr_next(const struct json_doc *doc, size_t arr, size_t elem)
{
	size_t n;

	if (arr >= doc->n || elem >= doc->n)
		return 0;
	n = doc->tok[elem].next;
	return n < doc->tok[arr].next ? n : 0;
}

int json_u64_get(const struct json_doc *doc, size_t i, uint64_t *v)
{
	const char *s;
	uint64_t x = 0;

	if (i >= doc->n || doc->tok[i].type != JSON_NUMBER)
		return EINVAL;
	s = doc->text + doc->tok[i].start;
	for (uint32_t k = 0; k < doc->tok[i].len; k++) {
		if (!json_digit(s[k]))
			return EINVAL;
		if (x > (UINT64_MAX - (uint64_t)(s[k] - '0')) / 10)
			return ERANGE;
		x = x * 10 + (uint64_t)(s[k] - '0');
	}
	*v = x;
	return 0;
}
