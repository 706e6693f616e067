/*
 * fuzz_notify.c — libFuzzer target for what the daemon's HTTP endpoints read from the
 * network: S3 event notification bodies (core/s3/s3_event.c over core/base/json.c) and HTTP
 * request heads (core/base/http_req.c).
 *
 * The first byte picks the parser; the rest is the input. Besides "no crash, no leak, no
 * UB", each result is checked for what the daemon relies on.
 */
// fuzz-sources: core/s3/s3_event.c core/base/json.c core/base/http_req.c core/base/hex.c
#include "base/http_req.h"
#include "base/json.h"
#include "s3/s3_event.h"

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

static void fuzz_event(const char *s, size_t len)
{
	struct s3_event_batch b;
	char why[160];
	int rc = s3_event_parse(s, len, &b, why, sizeof why);

	if (rc) {
		check(rc == EBADMSG || rc == EMSGSIZE || rc == ENOMEM);
		check(b.rec == NULL && b.n == 0);
		check(why[0] != '\0' || rc == ENOMEM);
		return;
	}
	check(b.what != S3_EVENT_BODY_RECORDS || b.rec != NULL);
	check(b.n <= S3_EVENT_RECORDS_MAX);
	check(strlen(b.subscribe_url) <= S3_EVENT_URL_MAX);
	for (size_t i = 0; i < b.n; i++) {
		const struct s3_event_rec *r = &b.rec[i];

		check(r->key != NULL && r->key[r->key_len] == '\0');
		check(r->key_len <= 4096);
		check(r->bucket[0] != '\0' && strlen(r->bucket) <= S3_EVENT_BUCKET_MAX);
		check(strlen(r->etag) < S3_ETAG_MAX);
		check(r->kind == s3_event_kind_of(r->name) || r->kind == S3_EVENT_OTHER);
		check(s3_event_matches(r, r->bucket, ""));
	}
	s3_event_batch_free(&b);
}

static void fuzz_json(const char *s, size_t len)
{
	struct json_doc d;
	char buf[256];

	if (json_parse(s, len, 8, 512, &d) != 0) {
		check(d.tok == NULL && d.n == 0);
		return;
	}
	check(d.n >= 1 && d.n <= 512 && d.tok[0].next == d.n);
	for (size_t i = 0; i < d.n; i++) {
		size_t l1 = 0, l2 = 0;

		check(d.tok[i].next > i && d.tok[i].next <= d.n);
		check((size_t)d.tok[i].start + d.tok[i].len <= len);
		if (d.tok[i].type != JSON_STRING)
			continue;
		check(json_str_len(&d, i, &l1) == 0);
		if (json_str_get(&d, i, buf, sizeof buf, &l2) == 0)
			check(l1 == l2 && buf[l2] == '\0');
		else
			check(l1 >= sizeof buf - 1);
	}
	json_doc_free(&d);
}

static void fuzz_http(const char *s, size_t len)
{
	struct http_req r;
	int rc = http_req_parse(s, len, &r);

	if (rc == EAGAIN) {
		check(len < HTTP_REQ_HEAD_MAX);
		return;
	}
	if (rc == EPROTO) {
		check(r.status >= 400 && r.status <= 505 && http_status_text(r.status)[0]);
		return;
	}
	check(rc == 0);
	check(r.head_len > 0 && r.head_len <= len && r.head_len <= HTTP_REQ_HEAD_MAX);
	check(r.path[0] == '/' || strcmp(r.path, "*") == 0);
	check(strlen(r.path) <= HTTP_REQ_PATH_MAX);
	check(r.minor == 0 || r.minor == 1);
	check(r.has_length || r.content_length == 0);
	check(r.method[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	/* a copy of exactly the input, so reads past it are caught */
	s = malloc(size - 1 ? size - 1 : 1);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	switch (data[0] % 3) {
	case 0: fuzz_event(s, size - 1); break;
	case 1: fuzz_json(s, size - 1); break;
	default: fuzz_http(s, size - 1); break;
	}
	free(s);
	return 0;
}
