/*
 * fuzz_s3_xml.c — libFuzzer target for the S3 response parsers (core/s3/s3_xml.c).
 *
 * The first byte picks the parser (and, for uploads, whether url encoding was requested;
 * 0xfe and 0xff: the STS answer and error of AssumeRoleWithWebIdentity);
 * the rest is the document. Besides "no crash, no leak, no UB", each successful parse is
 * checked for the invariants callers rely on.
 */
// fuzz-sources: core/s3/s3_xml.c core/s3/s3_util.c core/base/log.c core/base/err.c core/base/buf.c core/base/hex.c
#include "base/err.h"
#include "s3/s3.h"
#include "s3/s3_xml.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

static void fuzz_list(const char *xml, size_t len)
{
	struct s3_list_page pg;
	int rc = s3_xml_parse_list(xml, len, &pg);

	if (rc) {
		check(rc == S3F_E_S3_PROTO || rc == ENOMEM);
		check(!pg.entries && !pg.prefixes && !pg.next_token);
		return;
	}
	check(pg.truncated == (pg.next_token != NULL));
	for (size_t i = 0; i < pg.n_entries; i++)
		check(pg.entries[i].key != NULL && strlen(pg.entries[i].etag) < S3_ETAG_MAX);
	for (size_t i = 0; i < pg.n_prefixes; i++)
		check(pg.prefixes[i] != NULL);
	s3_list_page_free(&pg);
}

static void fuzz_uploads(const char *xml, size_t len, bool url)
{
	struct s3_xml_uploads u;
	int rc = s3_xml_parse_uploads(xml, len, url, &u);

	if (rc) {
		check(!u.uploads && !u.n);
		return;
	}
	check(!u.truncated || u.n > 0);
	for (size_t i = 0; i < u.n; i++)
		check(u.uploads[i].key && u.uploads[i].upload_id[0]);
	s3_xml_uploads_free(&u);
}

static void fuzz_delete(const char *xml, size_t len)
{
	struct s3_xml_delete_item *it;
	size_t n;

	if (s3_xml_parse_delete(xml, len, &it, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			check(it[i].key && (it[i].deleted || it[i].code[0]));
		s3_xml_delete_free(it, n);
	} else {
		check(!it && !n);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct s3_xml_error e;
	char etag[S3_ETAG_MAX], id[S3_UPLOAD_ID_MAX];
	int64_t lm;

	if (size < 1)
		return 0;
	const char *xml = (const char *)data + 1;
	size_t len = size - 1;

	/* the STS parsers (core/s3/s3_credp.c) on two first-byte values of their own, so the
	 * corpus's earlier inputs keep reaching the parsers they were made for */
	if (data[0] == 0xfe) {
		struct s3_creds cr;

		if (s3_xml_parse_sts_creds(xml, len, &cr, &lm) == 0)
			check(cr.access_key_id[0] && cr.secret_access_key[0] &&
			      cr.session_token[0]);
		else
			check(!cr.access_key_id[0] && !cr.session_token[0] && lm == 0);
		return 0;
	}
	if (data[0] == 0xff) {
		if (s3_xml_parse_sts_error(xml, len, &e) == 0)
			check(e.code[0] != '\0');
		return 0;
	}
	switch (data[0] % 8) {
	case 0: fuzz_list(xml, len); break;
	case 1:
		if (s3_xml_parse_error(xml, len, &e) == 0)
			check(e.code[0] != '\0');
		break;
	case 2:
		if (s3_xml_parse_mpu_init(xml, len, id) == 0)
			check(id[0] && strlen(id) < S3_UPLOAD_ID_MAX);
		break;
	case 3:
		if (s3_xml_parse_mpu_complete(xml, len, etag) == 0)
			check(strlen(etag) < S3_ETAG_MAX);
		break;
	case 4:
		if (s3_xml_parse_copy(xml, len, etag, &lm) == 0)
			check(strlen(etag) < S3_ETAG_MAX);
		break;
	case 5: fuzz_delete(xml, len); break;
	case 6: fuzz_uploads(xml, len, false); break;
	default: fuzz_uploads(xml, len, true); break;
	}
	return 0;
}
