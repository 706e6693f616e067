/*
 * s3_xml.c — S3 response parsers over expat, see s3_xml.h.
 *
 * One small SAX driver (struct xp) keeps the stack of element names and the text of the
 * current element; each document type supplies start/end callbacks that pick the fields
 * they know by their path below the root and ignore everything else, so new elements
 * from newer servers do not break us. Inputs come from the network: no DTDs (a DOCTYPE
 * aborts the parse, which also rules out entity expansion), bounded depth and text size,
 * and every number and date is validated.
 */
#include "s3/s3_xml.h"
#include "base/err.h"
#include "s3/s3_util.h"
#include "base/buf.h"

#include <errno.h>
#include <expat.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define XP_DEPTH_MAX 16
#define XP_NAME_MAX 48
#define XP_TEXT_MAX (1u << 20)

struct xp;
typedef int (*xp_start_fn)(struct xp *x);
typedef int (*xp_end_fn)(struct xp *x, const char *text, size_t len);

struct xp {
	XML_Parser p;
	int depth;				/* 1 inside the root element */
	char names[XP_DEPTH_MAX + 1][XP_NAME_MAX];
	struct buf text;			/* character data of the current element */
	int rc;
	const char *root;			/* a second accepted root, or NULL: */
	const char *root2;
	xp_start_fn on_start;
	xp_end_fn on_end;
	void *ctx;
	uint32_t pua_base;			/* see xp_refs_fix; 0 when not needed */
};

static void xp_fail(struct xp *x, int rc)
{
	if (!x->rc)
		x->rc = rc;
	XML_StopParser(x->p, XML_FALSE);
}

/* True when the current element is <root>/a (b == NULL) or <root>/a/b. */
static bool xp_at(const struct xp *x, const char *a, const char *b)
{
	if (!b)
		return x->depth == 2 && strcmp(x->names[1], a) == 0;
	return x->depth == 3 && strcmp(x->names[1], a) == 0 && strcmp(x->names[2], b) == 0;
}

static void XMLCALL xp_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct xp *x = ud;
	size_t n = strlen(name);

	(void)attrs;
	if (x->rc)
		return;
	if (x->depth >= XP_DEPTH_MAX) {
		xp_fail(x, S3F_E_S3_PROTO);
		return;
	}
	x->depth++;
	/* an over-long name is stored empty: it matches nothing and is ignored */
	if (n < XP_NAME_MAX)
		memcpy(x->names[x->depth - 1], name, n + 1);
	else
		x->names[x->depth - 1][0] = '\0';
	if (x->depth == 1 && strcmp(name, x->root) != 0 && !(x->root2 && strcmp(name, x->root2) == 0)) {
		xp_fail(x, S3F_E_S3_PROTO);
		return;
	}
	x->text.len = 0;
	if (x->text.p)
		x->text.p[0] = '\0';
	if (x->on_start) {
		int rc = x->on_start(x);

		if (rc)
			xp_fail(x, rc);
	}
}

static void XMLCALL xp_end(void *ud, const XML_Char *name)
{
	struct xp *x = ud;

	(void)name;
	if (x->rc)
		return;
	if (x->on_end) {
		int rc = x->on_end(x, x->text.p ? x->text.p : "", x->text.len);

		if (rc) {
			xp_fail(x, rc);
			return;
		}
	}
	x->depth--;
	x->text.len = 0;
	if (x->text.p)
		x->text.p[0] = '\0';
}

static void XMLCALL xp_chars(void *ud, const XML_Char *s, int len)
{
	struct xp *x = ud;

	if (x->rc || len <= 0)
		return;
	if (x->text.len + (size_t)len > XP_TEXT_MAX) {
		xp_fail(x, S3F_E_S3_PROTO);
		return;
	}
	buf_add(&x->text, s, (size_t)len);
	if (x->text.oom)
		xp_fail(x, ENOMEM);
}

static void XMLCALL xp_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
			       const XML_Char *pubid, int has_internal_subset)
{
	(void)name;
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	xp_fail(ud, S3F_E_S3_PROTO);
}

static void XMLCALL xp_entity(void *ud, const XML_Char *name, int is_param, const XML_Char *value,
			      int value_len, const XML_Char *base, const XML_Char *sysid,
			      const XML_Char *pubid, const XML_Char *notation)
{
	(void)name;
	(void)is_param;
	(void)value;
	(void)value_len;
	(void)base;
	(void)sysid;
	(void)pubid;
	(void)notation;
	xp_fail(ud, S3F_E_S3_PROTO);
}

/*
 * Character references to code points XML 1.0 forbids (RGW 16 writes a key byte 0x01 as
 * "&#x01;" in fields it does not url-encode: NextContinuationToken, Prefix, StartAfter)
 * make a strict parser reject the whole page. They are carried through instead: each
 * becomes a reference to U+base+cp in a private-use block that provably does not occur
 * in the document (neither raw nor as a reference), and xp_unmap turns those back into
 * the original bytes in the strings we return. Exact and reversible; documents without
 * such references (all of them, normally) are parsed untouched.
 */
static bool xp_ref_at(const char *p, const char *end, uint32_t *cp, size_t *len)
{
	const char *q = p + 2;
	uint64_t v = 0;
	bool hex = q < end && *q == 'x';
	int digits = 0;

	if (end - p < 4 || p[0] != '&' || p[1] != '#')
		return false;
	if (hex)
		q++;
	for (; q < end && *q != ';' && digits < 8; q++, digits++) {
		int d;

		if (*q >= '0' && *q <= '9')
			d = *q - '0';
		else if (hex && ((*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F')))
			d = (*q | 0x20) - 'a' + 10;
		else
			return false;
		v = v * (hex ? 16 : 10) + (uint64_t)d;
	}
	if (q >= end || *q != ';' || digits == 0 || v > 0x10FFFF)
		return false;
	*cp = (uint32_t)v;
	*len = (size_t)(q - p) + 1;
	return true;
}

static bool xp_cp_forbidden(uint32_t cp)
{
	return cp < 0x20 && cp != 0x9 && cp != 0xA && cp != 0xD;
}

/* Does the document mention any of U+base .. U+base+31, raw or as a reference? */
static bool xp_block_used(const char *xml, size_t len, uint32_t base)
{
	unsigned char b0 = (unsigned char)(0xE0 | (base >> 12));
	unsigned char b1 = (unsigned char)(0x80 | ((base >> 6) & 0x3F));

	for (size_t i = 0; i < len; i++) {
		uint32_t cp;
		size_t rl;

		if ((unsigned char)xml[i] == b0 && i + 2 < len && (unsigned char)xml[i + 1] == b1 &&
		    (unsigned char)xml[i + 2] >= 0x80 && (unsigned char)xml[i + 2] < 0xA0)
			return true;
		if (xml[i] == '&' && xp_ref_at(xml + i, xml + len, &cp, &rl) && cp >= base &&
		    cp < base + 32)
			return true;
	}
	return false;
}

/* 0 and *out NULL (nothing to do), 0 and a rewritten copy, or an error. */
static int xp_refs_fix(const char *xml, size_t len, char **out, size_t *outlen, uint32_t *base)
{
	struct buf sb = { 0 };
	bool needed = false;
	uint32_t cp;
	size_t rl;
	int rc;

	*out = NULL;
	*base = 0;
	for (const char *p = memchr(xml, '&', len); p && !needed;
	     p = memchr(p + 1, '&', len - (size_t)(p + 1 - xml)))
		needed = xp_ref_at(p, xml + len, &cp, &rl) && xp_cp_forbidden(cp);
	if (!needed)
		return 0;
	for (uint32_t b = 0xE000; b < 0xF900; b += 0x100) {
		if (!xp_block_used(xml, len, b)) {
			*base = b;
			break;
		}
	}
	if (!*base)
		return S3F_E_S3_PROTO;
	for (size_t i = 0; i < len;) {
		if (xml[i] == '&' && xp_ref_at(xml + i, xml + len, &cp, &rl) && xp_cp_forbidden(cp)) {
			buf_addf(&sb, "&#x%X;", (unsigned)(*base + cp));
			i += rl;
		} else {
			buf_addc(&sb, xml[i++]);
		}
	}
	*outlen = sb.len;
	rc = buf_done(&sb, out);
	return rc;
}

/* Undo xp_refs_fix in a returned string (in place: the bytes only shrink). */
static int xp_unmap(const struct xp *x, char *s)
{
	unsigned char b0, b1;
	char *w = s;

	if (!x->pua_base || !s)
		return 0;
	b0 = (unsigned char)(0xE0 | (x->pua_base >> 12));
	b1 = (unsigned char)(0x80 | ((x->pua_base >> 6) & 0x3F));
	for (char *r = s; *r;) {
		if ((unsigned char)r[0] == b0 && (unsigned char)r[1] == b1 &&
		    (unsigned char)r[2] >= 0x80 && (unsigned char)r[2] < 0xA0) {
			char ch = (char)((unsigned char)r[2] - 0x80);

			if (ch == '\0')
				return S3F_E_S3_PROTO;	/* a NUL cannot live in a C string */
			*w++ = ch;
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return 0;
}

static int xp_run(struct xp *x, const char *xml, size_t len)
{
	char *fixed = NULL;
	size_t fixed_len = 0;
	int rc = 0;

	if (!xml || len > INT_MAX)
		return S3F_E_S3_PROTO;
	rc = xp_refs_fix(xml, len, &fixed, &fixed_len, &x->pua_base);
	if (rc)
		return rc;
	if (fixed) {
		if (fixed_len > INT_MAX) {
			free(fixed);
			return S3F_E_S3_PROTO;
		}
		xml = fixed;
		len = fixed_len;
	}
	x->p = XML_ParserCreate("UTF-8");
	if (!x->p) {
		free(fixed);
		return ENOMEM;
	}
	XML_SetUserData(x->p, x);
	XML_SetElementHandler(x->p, xp_start, xp_end);
	XML_SetCharacterDataHandler(x->p, xp_chars);
	XML_SetStartDoctypeDeclHandler(x->p, xp_doctype);
	XML_SetEntityDeclHandler(x->p, xp_entity);
	XML_SetParamEntityParsing(x->p, XML_PARAM_ENTITY_PARSING_NEVER);
	if (XML_Parse(x->p, xml, (int)len, XML_TRUE) != XML_STATUS_OK && !x->rc)
		x->rc = S3F_E_S3_PROTO;
	rc = x->rc;
	XML_ParserFree(x->p);
	x->p = NULL;
	buf_free(&x->text);
	free(fixed);
	return rc;
}

/* ---- field helpers ---- */

static int xp_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	/* surrounding white space is tolerated, nothing else */
	while (n && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	if (n == 0 || n > 20)
		return S3F_E_S3_PROTO;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return S3F_E_S3_PROTO;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return S3F_E_S3_PROTO;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int xp_bool(const char *s, bool *out)
{
	if (strcmp(s, "true") == 0)
		*out = true;
	else if (strcmp(s, "false") == 0)
		*out = false;
	else
		return S3F_E_S3_PROTO;
	return 0;
}

static int xp_date(const char *s, int64_t *out)
{
	return s3_parse_iso8601(s, out) == 0 ? 0 : S3F_E_S3_PROTO;
}

static int xp_etag(const char *s, size_t n, char etag[S3_ETAG_MAX])
{
	return s3_etag_copy(etag, S3_ETAG_MAX, s, n) ? 0 : S3F_E_S3_PROTO;
}

/* Replace *dst by a copy of s (a repeated element keeps the last value). */
static int xp_dup(char **dst, const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (!p)
		return ENOMEM;
	free(*dst);
	*dst = p;
	return 0;
}

static int xp_copy(char *dst, size_t cap, const char *s, size_t n, bool truncate)
{
	if (n >= cap) {
		if (!truncate)
			return S3F_E_S3_PROTO;
		n = cap - 1;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
	return 0;
}

/* In-place %-decoding of a heap string when the document is url-encoded. */
static int xp_decode(char **s)
{
	char *d = NULL;
	int rc;

	if (!*s)
		return 0;
	rc = s3_uri_decode(*s, strlen(*s), true, &d, NULL);
	if (rc)
		return rc == EINVAL ? S3F_E_S3_PROTO : rc;
	free(*s);
	*s = d;
	return 0;
}

/* Room for element n of *arrp, every element past n zeroed (the parser fills them in). */
static int xp_grow(void *arrp, size_t *cap, size_t n, size_t elem)
{
	size_t old = *cap;
	char *p;
	int rc = buf_grow(arrp, cap, n + 1, elem);

	if (rc == 0 && *cap > old) {
		memcpy(&p, arrp, sizeof p);
		memset(p + old * elem, 0, (*cap - old) * elem);
	}
	return rc;
}

/* ---- Error ---- */

struct err_ctx {
	struct s3_xml_error *e;
};

static int err_end(struct xp *x, const char *t, size_t n)
{
	struct err_ctx *c = x->ctx;

	if (xp_at(x, "Code", NULL))
		return xp_copy(c->e->code, sizeof c->e->code, t, n, false);
	if (xp_at(x, "Message", NULL))
		return xp_copy(c->e->message, sizeof c->e->message, t, n, true);
	if (xp_at(x, "RequestId", NULL))
		return xp_copy(c->e->request_id, sizeof c->e->request_id, t, n, true);
	return 0;
}

int s3_xml_parse_error(const char *xml, size_t len, struct s3_xml_error *out)
{
	struct err_ctx c = { out };
	struct xp x = { .root = "Error", .on_end = err_end, .ctx = &c };
	int rc;

	memset(out, 0, sizeof *out);
	rc = xp_run(&x, xml, len);
	if (rc == 0 && !out->code[0])
		rc = S3F_E_S3_PROTO;
	if (rc)
		memset(out, 0, sizeof *out);
	return rc;
}

/* ---- ListBucketResult (V2) ---- */

struct list_ctx {
	struct s3_list_page *pg;
	size_t cap_e, cap_p;
	bool url;
	bool have_truncated;
};

static int list_start(struct xp *x)
{
	struct list_ctx *c = x->ctx;
	struct s3_list_page *pg = c->pg;
	int rc;

	if (xp_at(x, "Contents", NULL)) {
		rc = xp_grow(&pg->entries, &c->cap_e, pg->n_entries, sizeof *pg->entries);
		if (rc)
			return rc;
		pg->n_entries++;
	}
	return 0;
}

static int list_end(struct xp *x, const char *t, size_t n)
{
	struct list_ctx *c = x->ctx;
	struct s3_list_page *pg = c->pg;
	struct s3_list_entry *e = pg->n_entries ? &pg->entries[pg->n_entries - 1] : NULL;
	int rc;

	if (e && x->depth == 3 && strcmp(x->names[1], "Contents") == 0) {
		if (xp_at(x, "Contents", "Key"))
			return xp_dup(&e->key, t, n);
		if (xp_at(x, "Contents", "Size"))
			return xp_u64(t, n, &e->size);
		if (xp_at(x, "Contents", "LastModified"))
			return xp_date(t, &e->last_modified);
		if (xp_at(x, "Contents", "ETag"))
			return xp_etag(t, n, e->etag);
		return 0;
	}
	if (xp_at(x, "Contents", NULL))
		return e && e->key ? 0 : S3F_E_S3_PROTO;
	if (xp_at(x, "CommonPrefixes", "Prefix")) {
		rc = xp_grow(&pg->prefixes, &c->cap_p, pg->n_prefixes, sizeof *pg->prefixes);
		if (rc)
			return rc;
		pg->prefixes[pg->n_prefixes] = strndup(t, n);
		if (!pg->prefixes[pg->n_prefixes])
			return ENOMEM;
		pg->n_prefixes++;
		return 0;
	}
	if (xp_at(x, "IsTruncated", NULL)) {
		c->have_truncated = true;
		return xp_bool(t, &pg->truncated);
	}
	if (xp_at(x, "NextContinuationToken", NULL))
		return xp_dup(&pg->next_token, t, n);
	if (xp_at(x, "EncodingType", NULL))
		c->url = strcmp(t, "url") == 0;
	return 0;
}

void s3_list_page_free(struct s3_list_page *page)
{
	if (!page)
		return;
	for (size_t i = 0; i < page->n_entries; i++)
		free(page->entries[i].key);
	for (size_t i = 0; i < page->n_prefixes; i++)
		free(page->prefixes[i]);
	free(page->entries);
	free(page->prefixes);
	free(page->next_token);
	memset(page, 0, sizeof *page);
}

int s3_xml_parse_list(const char *xml, size_t len, struct s3_list_page *page)
{
	struct list_ctx c = { .pg = page };
	struct xp x = { .root = "ListBucketResult", .on_start = list_start, .on_end = list_end,
			.ctx = &c };
	int rc;

	memset(page, 0, sizeof *page);
	rc = xp_run(&x, xml, len);
	if (rc)
		goto out;
	/* a page that says it is truncated but gives no way on would loop forever */
	if (!c.have_truncated || (page->truncated && (!page->next_token || !page->next_token[0]))) {
		rc = S3F_E_S3_PROTO;
		goto out;
	}
	if (!page->truncated) {
		free(page->next_token);
		page->next_token = NULL;
	}
	rc = xp_unmap(&x, page->next_token);
	for (size_t i = 0; rc == 0 && i < page->n_entries; i++) {
		rc = xp_unmap(&x, page->entries[i].key);
		if (rc == 0 && c.url)
			rc = xp_decode(&page->entries[i].key);
	}
	for (size_t i = 0; rc == 0 && i < page->n_prefixes; i++) {
		rc = xp_unmap(&x, page->prefixes[i]);
		if (rc == 0 && c.url)
			rc = xp_decode(&page->prefixes[i]);
	}
out:
	if (rc)
		s3_list_page_free(page);
	return rc;
}

/* ---- InitiateMultipartUploadResult ---- */

struct init_ctx {
	char *upload_id;
};

static int init_end(struct xp *x, const char *t, size_t n)
{
	struct init_ctx *c = x->ctx;

	if (xp_at(x, "UploadId", NULL))
		return xp_copy(c->upload_id, S3_UPLOAD_ID_MAX, t, n, false);
	return 0;
}

int s3_xml_parse_mpu_init(const char *xml, size_t len, char upload_id[S3_UPLOAD_ID_MAX])
{
	struct init_ctx c = { upload_id };
	struct xp x = { .root = "InitiateMultipartUploadResult", .on_end = init_end, .ctx = &c };
	int rc;

	upload_id[0] = '\0';
	rc = xp_run(&x, xml, len);
	if (rc == 0 && !upload_id[0])
		rc = S3F_E_S3_PROTO;
	if (rc)
		upload_id[0] = '\0';
	return rc;
}

/* ---- CompleteMultipartUploadResult, CopyObjectResult, CopyPartResult ---- */

struct etag_ctx {
	char *etag;
	int64_t last_modified;
};

static int etag_end(struct xp *x, const char *t, size_t n)
{
	struct etag_ctx *c = x->ctx;

	if (xp_at(x, "ETag", NULL))
		return xp_etag(t, n, c->etag);
	if (xp_at(x, "LastModified", NULL))
		return xp_date(t, &c->last_modified);
	return 0;
}

int s3_xml_parse_mpu_complete(const char *xml, size_t len, char etag[S3_ETAG_MAX])
{
	struct etag_ctx c = { etag, 0 };
	struct xp x = { .root = "CompleteMultipartUploadResult", .on_end = etag_end, .ctx = &c };
	int rc;

	etag[0] = '\0';
	rc = xp_run(&x, xml, len);
	if (rc)
		etag[0] = '\0';
	return rc;
}

int s3_xml_parse_copy(const char *xml, size_t len, char etag[S3_ETAG_MAX], int64_t *last_modified)
{
	struct etag_ctx c = { etag, 0 };
	struct xp x = { .root = "CopyObjectResult", .root2 = "CopyPartResult", .on_end = etag_end,
			.ctx = &c };
	int rc;

	etag[0] = '\0';
	rc = xp_run(&x, xml, len);
	if (rc)
		etag[0] = '\0';
	*last_modified = rc ? 0 : c.last_modified;
	return rc;
}

/* ---- DeleteResult ---- */

struct del_ctx {
	struct s3_xml_delete_item *items;
	size_t n, cap;
	bool url;
};

static int del_start(struct xp *x)
{
	struct del_ctx *c = x->ctx;
	int rc;

	if (xp_at(x, "Deleted", NULL) || xp_at(x, "Error", NULL)) {
		rc = xp_grow(&c->items, &c->cap, c->n, sizeof *c->items);
		if (rc)
			return rc;
		c->items[c->n].deleted = strcmp(x->names[1], "Deleted") == 0;
		c->n++;
	}
	return 0;
}

static int del_end(struct xp *x, const char *t, size_t n)
{
	struct del_ctx *c = x->ctx;
	struct s3_xml_delete_item *it = c->n ? &c->items[c->n - 1] : NULL;

	if (xp_at(x, "EncodingType", NULL))
		c->url = strcmp(t, "url") == 0;
	if (!it)	/* nothing below is reachable before a <Deleted> or <Error> began */
		return 0;
	if (xp_at(x, "Deleted", "Key") || xp_at(x, "Error", "Key"))
		return xp_dup(&it->key, t, n);
	if (xp_at(x, "Error", "Code"))
		return xp_copy(it->code, sizeof it->code, t, n, true);
	if (xp_at(x, "Deleted", NULL) || xp_at(x, "Error", NULL))
		return it->key && (it->deleted || it->code[0]) ? 0 : S3F_E_S3_PROTO;
	return 0;
}

void s3_xml_delete_free(struct s3_xml_delete_item *items, size_t n)
{
	for (size_t i = 0; items && i < n; i++)
		free(items[i].key);
	free(items);
}

int s3_xml_parse_delete(const char *xml, size_t len, struct s3_xml_delete_item **items, size_t *n)
{
	struct del_ctx c = { 0 };
	struct xp x = { .root = "DeleteResult", .on_start = del_start, .on_end = del_end, .ctx = &c };
	int rc;

	*items = NULL;
	*n = 0;
	rc = xp_run(&x, xml, len);
	for (size_t i = 0; rc == 0 && i < c.n; i++) {
		rc = xp_unmap(&x, c.items[i].key);
		if (rc == 0 && c.url)
			rc = xp_decode(&c.items[i].key);
	}
	if (rc) {
		s3_xml_delete_free(c.items, c.n);
		return rc;
	}
	*items = c.items;
	*n = c.n;
	return 0;
}

/* ---- ListMultipartUploadsResult ---- */

struct up_ctx {
	struct s3_xml_uploads *u;
	size_t cap;
	bool url;
	bool have_truncated;
};

static int up_start(struct xp *x)
{
	struct up_ctx *c = x->ctx;
	int rc;

	if (xp_at(x, "Upload", NULL)) {
		rc = xp_grow(&c->u->uploads, &c->cap, c->u->n, sizeof *c->u->uploads);
		if (rc)
			return rc;
		c->u->n++;
	}
	return 0;
}

static int up_end(struct xp *x, const char *t, size_t n)
{
	struct up_ctx *c = x->ctx;
	struct s3_upload *up = c->u->n ? &c->u->uploads[c->u->n - 1] : NULL;

	if (up && xp_at(x, "Upload", "Key"))
		return xp_dup(&up->key, t, n);
	if (up && xp_at(x, "Upload", "UploadId"))
		return xp_copy(up->upload_id, sizeof up->upload_id, t, n, false);
	if (up && xp_at(x, "Upload", "Initiated"))
		return xp_date(t, &up->initiated);
	if (up && xp_at(x, "Upload", NULL))
		return up->key && up->upload_id[0] ? 0 : S3F_E_S3_PROTO;
	if (xp_at(x, "IsTruncated", NULL)) {
		c->have_truncated = true;
		return xp_bool(t, &c->u->truncated);
	}
	if (xp_at(x, "NextKeyMarker", NULL))
		return xp_dup(&c->u->next_key_marker, t, n);
	if (xp_at(x, "NextUploadIdMarker", NULL))
		return xp_dup(&c->u->next_upload_id_marker, t, n);
	if (xp_at(x, "EncodingType", NULL))
		c->url = strcmp(t, "url") == 0;
	return 0;
}

void s3_xml_uploads_free(struct s3_xml_uploads *u)
{
	if (!u)
		return;
	s3_uploads_free(u->uploads, u->n);
	free(u->next_key_marker);
	free(u->next_upload_id_marker);
	memset(u, 0, sizeof *u);
}

void s3_uploads_free(struct s3_upload *u, size_t n)
{
	for (size_t i = 0; u && i < n; i++)
		free(u[i].key);
	free(u);
}

int s3_xml_parse_uploads(const char *xml, size_t len, bool url_requested,
			 struct s3_xml_uploads *out)
{
	struct up_ctx c = { .u = out };
	struct xp x = { .root = "ListMultipartUploadsResult", .on_start = up_start, .on_end = up_end,
			.ctx = &c };
	int rc;

	memset(out, 0, sizeof *out);
	rc = xp_run(&x, xml, len);
	/* the next page starts after the last upload listed: a truncated page must list one */
	if (rc == 0 && (!c.have_truncated || (out->truncated && out->n == 0)))
		rc = S3F_E_S3_PROTO;
	for (size_t i = 0; rc == 0 && i < out->n; i++) {
		rc = xp_unmap(&x, out->uploads[i].key);
		if (rc == 0 && (c.url || url_requested))
			rc = xp_decode(&out->uploads[i].key);
	}
	if (rc == 0)
		rc = xp_unmap(&x, out->next_key_marker);
	if (rc == 0)
		rc = xp_unmap(&x, out->next_upload_id_marker);
	if (rc)
		s3_xml_uploads_free(out);
	return rc;
}

/* ---- VersioningConfiguration ---- */

static int vcfg_end(struct xp *x, const char *t, size_t n)
{
	char *status = x->ctx;

	if (xp_at(x, "Status", NULL))
		return xp_copy(status, 16, t, n, false);
	return 0;
}

int s3_xml_parse_versioning(const char *xml, size_t len, char status[16])
{
	struct xp x = { .root = "VersioningConfiguration", .on_end = vcfg_end, .ctx = status };
	int rc;

	status[0] = '\0';
	rc = xp_run(&x, xml, len);
	if (rc)
		status[0] = '\0';
	return rc;
}

/* ---- ListVersionsResult ---- */

struct ver_ctx {
	struct s3_xml_versions *v;
	size_t cap;
	bool url;
	bool have_truncated;
};

static int ver_start(struct xp *x)
{
	struct ver_ctx *c = x->ctx;
	int rc;

	if (xp_at(x, "Version", NULL) || xp_at(x, "DeleteMarker", NULL)) {
		rc = xp_grow(&c->v->items, &c->cap, c->v->n, sizeof *c->v->items);
		if (rc)
			return rc;
		c->v->items[c->v->n].delete_marker = strcmp(x->names[1], "DeleteMarker") == 0;
		c->v->n++;
	}
	return 0;
}

static int ver_end(struct xp *x, const char *t, size_t n)
{
	struct ver_ctx *c = x->ctx;
	struct s3_xml_version *it = c->v->n ? &c->v->items[c->v->n - 1] : NULL;
	bool in = x->depth == 3 && (strcmp(x->names[1], "Version") == 0 ||
				    strcmp(x->names[1], "DeleteMarker") == 0);

	if (it && in && strcmp(x->names[2], "Key") == 0)
		return xp_dup(&it->key, t, n);
	if (it && in && strcmp(x->names[2], "VersionId") == 0)
		return xp_copy(it->version_id, sizeof it->version_id, t, n, false);
	if (it && in && strcmp(x->names[2], "IsLatest") == 0)
		return xp_bool(t, &it->is_latest);
	if (it && in && strcmp(x->names[2], "ETag") == 0)
		return xp_etag(t, n, it->etag);
	if (it && (xp_at(x, "Version", NULL) || xp_at(x, "DeleteMarker", NULL)))
		return it->key && it->version_id[0] ? 0 : S3F_E_S3_PROTO;
	if (xp_at(x, "IsTruncated", NULL)) {
		c->have_truncated = true;
		return xp_bool(t, &c->v->truncated);
	}
	if (xp_at(x, "EncodingType", NULL))
		c->url = strcmp(t, "url") == 0;
	return 0;
}

void s3_xml_versions_free(struct s3_xml_versions *v)
{
	if (!v)
		return;
	for (size_t i = 0; v->items && i < v->n; i++)
		free(v->items[i].key);
	free(v->items);
	memset(v, 0, sizeof *v);
}

int s3_xml_parse_versions(const char *xml, size_t len, struct s3_xml_versions *out)
{
	struct ver_ctx c = { .v = out };
	struct xp x = { .root = "ListVersionsResult", .on_start = ver_start, .on_end = ver_end,
			.ctx = &c };
	int rc;

	memset(out, 0, sizeof *out);
	rc = xp_run(&x, xml, len);
	if (rc == 0 && !c.have_truncated)
		rc = S3F_E_S3_PROTO;
	for (size_t i = 0; rc == 0 && i < out->n; i++) {
		rc = xp_unmap(&x, out->items[i].key);
		if (rc == 0 && c.url)
			rc = xp_decode(&out->items[i].key);
	}
	if (rc)
		s3_xml_versions_free(out);
	return rc;
}

/* ---- STS AssumeRoleWithWebIdentity ---- */

struct sts_ctx {
	struct s3_creds *cr;
	int64_t *expiration;
	bool have_exp;
};

static int sts_end(struct xp *x, const char *t, size_t n)
{
	struct sts_ctx *c = x->ctx;
	const char *f;

	/* <Response>/<Result>/Credentials/<field>: depth 4 */
	if (x->depth != 4 || strcmp(x->names[1], "AssumeRoleWithWebIdentityResult") != 0 ||
	    strcmp(x->names[2], "Credentials") != 0)
		return 0;
	f = x->names[3];
	if (strcmp(f, "AccessKeyId") == 0)
		return xp_copy(c->cr->access_key_id, sizeof c->cr->access_key_id, t, n, false);
	if (strcmp(f, "SecretAccessKey") == 0)
		return xp_copy(c->cr->secret_access_key, sizeof c->cr->secret_access_key, t, n,
			       false);
	if (strcmp(f, "SessionToken") == 0)
		return xp_copy(c->cr->session_token, sizeof c->cr->session_token, t, n, false);
	if (strcmp(f, "Expiration") == 0) {
		c->have_exp = true;
		return xp_date(t, c->expiration);
	}
	return 0;
}

int s3_xml_parse_sts_creds(const char *xml, size_t len, struct s3_creds *out, int64_t *expiration)
{
	struct sts_ctx c = { .cr = out, .expiration = expiration };
	struct xp x = { .root = "AssumeRoleWithWebIdentityResponse", .on_end = sts_end, .ctx = &c };
	int rc;

	memset(out, 0, sizeof *out);
	*expiration = 0;
	rc = xp_run(&x, xml, len);
	/* temporary credentials always come with a token and an end */
	if (rc == 0 && (!out->access_key_id[0] || !out->secret_access_key[0] ||
			!out->session_token[0] || !c.have_exp))
		rc = S3F_E_S3_PROTO;
	if (rc) {
		explicit_bzero(out, sizeof *out);
		*expiration = 0;
	}
	return rc;
}

static int sts_err_end(struct xp *x, const char *t, size_t n)
{
	struct err_ctx *c = x->ctx;

	if (xp_at(x, "Error", "Code"))
		return xp_copy(c->e->code, sizeof c->e->code, t, n, false);
	if (xp_at(x, "Error", "Message"))
		return xp_copy(c->e->message, sizeof c->e->message, t, n, true);
	if (xp_at(x, "RequestId", NULL))
		return xp_copy(c->e->request_id, sizeof c->e->request_id, t, n, true);
	return 0;
}

int s3_xml_parse_sts_error(const char *xml, size_t len, struct s3_xml_error *out)
{
	struct err_ctx c = { out };
	struct xp x = { .root = "ErrorResponse", .on_end = sts_err_end, .ctx = &c };
	int rc;

	memset(out, 0, sizeof *out);
	rc = xp_run(&x, xml, len);
	if (rc == 0 && !out->code[0])
		rc = S3F_E_S3_PROTO;
	if (rc)
		memset(out, 0, sizeof *out);
	return rc;
}
