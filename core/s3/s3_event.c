/*
 * s3_event.c — see s3_event.h.
 *
 * The body is untrusted (anyone who reaches the endpoint can POST), so everything is
 * bounded before it is looked at: the size, then the JSON reader's depth and value
 * count, then the record count. A record that names another bucket, an event we do not
 * act on or an over-long key is still well formed and is returned for the caller to
 * ignore; only bodies that are not what any S3 server sends are refused, so a bad
 * client is told (HTTP 400) and a good one never loses a batch over one odd record.
 *
 * Event names: AWS documents ObjectCreated:*, ObjectRemoved:* and, for lifecycle expiry
 * (which removes objects too), LifecycleExpiration:*. Ceph RGW uses the same names
 * (older versions with "s3:" in front), and ObjectLifecycle:Expiration:* and
 * ObjectSynced:Create/Delete for expiry and multisite sync.
 */
#include "s3/s3_event.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/hex.h"

#define S3_EVENT_KEY_MAX 4096	/* decoded; longer keys are returned as S3_EVENT_OTHER */

static void s3_event_why(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void s3_event_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static bool s3_event_prefixed(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

enum s3_event_kind s3_event_kind_of(const char *name)
{
	static const struct {
		const char *prefix;
		enum s3_event_kind kind;
	} names[] = {
		{ "ObjectCreated:", S3_EVENT_CREATED },
		{ "ObjectRemoved:", S3_EVENT_REMOVED },
		{ "LifecycleExpiration:", S3_EVENT_REMOVED },
		{ "ObjectLifecycle:Expiration", S3_EVENT_REMOVED },
		{ "ObjectSynced:Create", S3_EVENT_CREATED },
		{ "ObjectSynced:Delete", S3_EVENT_REMOVED },
	};

	if (s3_event_prefixed(name, "s3:"))
		name += 3;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (s3_event_prefixed(name, names[i].prefix))
			return names[i].kind;
	return S3_EVENT_OTHER;
}

/* Writes never overtake reads (an escape shrinks), so in == out works. */
int s3_event_key_decode(const char *in, size_t len, char *out, size_t cap, size_t *outlen)
{
	size_t o = 0;

	if (cap == 0)
		return ENAMETOOLONG;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi = i + 2 < len ? hex_digit((unsigned char)in[i + 1]) : -1;
			int lo = i + 2 < len ? hex_digit((unsigned char)in[i + 2]) : -1;

			if (hi < 0 || lo < 0)
				return EINVAL;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (o + 1 >= cap)
			return ENAMETOOLONG;
		out[o++] = c;
	}
	out[o] = '\0';
	*outlen = o;
	return 0;
}

/* A string member of obj into buf; false when absent, not a string or too long. */
static bool s3_event_str(const struct json_doc *d, size_t obj, const char *name, char *buf,
			 size_t cap)
{
	size_t v = json_obj_get(d, obj, name);

	buf[0] = '\0';
	return v && json_str_get(d, v, buf, cap, NULL) == 0;
}

static int s3_event_record(const struct json_doc *d, size_t r, size_t idx, struct s3_event_rec *e,
			   char *why, size_t whylen)
{
	size_t s3, bucket, object, v;
	char name[128], source[64];
	bool raw_key;
	size_t klen;
	int rc;

	if (d->tok[r].type != JSON_OBJECT) {
		s3_event_why(why, whylen, "record %zu is not an object", idx);
		return EBADMSG;
	}
	v = json_obj_get(d, r, "eventName");
	if (!v || d->tok[v].type != JSON_STRING) {
		s3_event_why(why, whylen, "record %zu has no eventName", idx);
		return EBADMSG;
	}
	if (json_str_get(d, v, name, sizeof name, NULL) == 0) {
		const char *n = s3_event_prefixed(name, "s3:") ? name + 3 : name;

		snprintf(e->name, sizeof e->name, "%.*s", (int)sizeof e->name - 1, n);
		e->kind = s3_event_kind_of(name);
	} else {
		snprintf(e->name, sizeof e->name, "(too long)");
		e->kind = S3_EVENT_OTHER;
	}
	(void)s3_event_str(d, r, "eventSource", source, sizeof source);
	raw_key = s3_event_prefixed(source, "ceph:");

	s3 = json_obj_get(d, r, "s3");
	bucket = json_obj_get(d, s3, "bucket");
	object = json_obj_get(d, s3, "object");
	if (!s3_event_str(d, bucket, "name", e->bucket, sizeof e->bucket) || !e->bucket[0]) {
		s3_event_why(why, whylen, "record %zu has no s3.bucket.name (or it is too long)",
			     idx);
		return EBADMSG;
	}
	v = json_obj_get(d, object, "key");
	if (!v || json_str_len(d, v, &klen) != 0) {
		s3_event_why(why, whylen, "record %zu has no s3.object.key", idx);
		return EBADMSG;
	}
	if (klen > S3_EVENT_KEY_MAX) {
		/* Not representable in any export (keys are at most 1,024 bytes there). */
		e->kind = S3_EVENT_OTHER;
		klen = 0;
		e->key = calloc(1, 1);
		if (!e->key)
			return ENOMEM;
	} else {
		e->key = malloc(klen + 1);
		if (!e->key)
			return ENOMEM;
		rc = json_str_get(d, v, e->key, klen + 1, &klen);
		if (rc)
			return rc;
		if (!raw_key) {
			rc = s3_event_key_decode(e->key, klen, e->key, klen + 1, &klen);
			if (rc) {
				s3_event_why(why, whylen, "record %zu: s3.object.key has a bad "
					     "%%-escape", idx);
				return EBADMSG;
			}
		}
	}
	e->key_len = klen;

	v = json_obj_get(d, object, "size");
	if (v) {
		if (json_u64_get(d, v, &e->size) != 0) {
			s3_event_why(why, whylen, "record %zu: s3.object.size is not a size", idx);
			return EBADMSG;
		}
		e->has_size = true;
	}
	/* AWS and RGW 16 say eTag; some servers etag. An over-long one is dropped: it can
	 * only ever be compared, and an unknown ETag just means "look". */
	if (!s3_event_str(d, object, "eTag", e->etag, sizeof e->etag))
		(void)s3_event_str(d, object, "etag", e->etag, sizeof e->etag);
	size_t el = strlen(e->etag);

	if (el >= 2 && e->etag[0] == '"' && e->etag[el - 1] == '"') {
		memmove(e->etag, e->etag + 1, el - 2);
		e->etag[el - 2] = '\0';
	}
	return 0;
}

/* The record form (or a test event) from a parsed document. */
static int s3_event_from_doc(const struct json_doc *d, struct s3_event_batch *out, char *why,
			     size_t whylen)
{
	size_t recs, ev;
	int rc;

	if (d->tok[0].type != JSON_OBJECT) {
		s3_event_why(why, whylen, "not a JSON object");
		return EBADMSG;
	}
	recs = json_obj_get(d, 0, "Records");
	if (!recs) {
		ev = json_obj_get(d, 0, "Event");
		if (ev && json_str_eq(d, ev, "s3:TestEvent")) {
			out->what = S3_EVENT_BODY_TEST;
			return 0;
		}
		s3_event_why(why, whylen, "no Records");
		return EBADMSG;
	}
	if (d->tok[recs].type != JSON_ARRAY) {
		s3_event_why(why, whylen, "Records is not an array");
		return EBADMSG;
	}
	if (d->tok[recs].count > S3_EVENT_RECORDS_MAX) {
		s3_event_why(why, whylen, "more than %u records", S3_EVENT_RECORDS_MAX);
		return EMSGSIZE;
	}
	out->what = S3_EVENT_BODY_RECORDS;
	out->rec = calloc(d->tok[recs].count ? d->tok[recs].count : 1, sizeof *out->rec);
	if (!out->rec)
		return ENOMEM;
	for (size_t r = json_arr_first(d, recs); r; r = json_arr_next(d, recs, r)) {
		rc = s3_event_record(d, r, out->n, &out->rec[out->n], why, whylen);
		out->n++;	/* counted even on failure, so its key is freed */
		if (rc)
			return rc;
	}
	return 0;
}

static int s3_event_json(const char *text, size_t len, struct json_doc *d, char *why,
			 size_t whylen)
{
	int rc = json_parse(text, len, S3_EVENT_DEPTH_MAX, S3_EVENT_TOKENS_MAX, d);

	if (rc == EBADMSG)
		s3_event_why(why, whylen, "not valid JSON");
	else if (rc == E2BIG) {
		s3_event_why(why, whylen, "JSON nested deeper than %d or with too many values",
			     S3_EVENT_DEPTH_MAX);
		rc = EMSGSIZE;
	}
	return rc;
}

/* An SNS envelope: unwrap a Notification's Message, keep a subscription's URL. */
static int s3_event_sns(const struct json_doc *d, size_t type, struct s3_event_batch *out,
			char *why, size_t whylen)
{
	struct json_doc inner = { 0 };
	char *msg = NULL;
	size_t v, mlen;
	int rc;

	out->sns = true;
	(void)s3_event_str(d, 0, "TopicArn", out->topic_arn, sizeof out->topic_arn);
	if (json_str_eq(d, type, "SubscriptionConfirmation")) {
		out->what = S3_EVENT_BODY_SUBSCRIBE;
		(void)s3_event_str(d, 0, "SubscribeURL", out->subscribe_url,
				   sizeof out->subscribe_url);
		return 0;
	}
	if (json_str_eq(d, type, "UnsubscribeConfirmation")) {
		out->what = S3_EVENT_BODY_UNSUBSCRIBE;
		return 0;
	}
	if (!json_str_eq(d, type, "Notification")) {
		s3_event_why(why, whylen, "unknown SNS message Type");
		return EBADMSG;
	}
	v = json_obj_get(d, 0, "Message");
	if (!v || json_str_len(d, v, &mlen) != 0) {
		s3_event_why(why, whylen, "SNS Notification without a Message string");
		return EBADMSG;
	}
	msg = malloc(mlen + 1);
	if (!msg)
		return ENOMEM;
	rc = json_str_get(d, v, msg, mlen + 1, &mlen);
	if (rc == 0)
		rc = s3_event_json(msg, mlen, &inner, why, whylen);
	/* The Message is the record form only: an envelope in an envelope is refused. */
	if (rc == 0 && inner.tok[0].type == JSON_OBJECT && json_obj_get(&inner, 0, "Type")) {
		s3_event_why(why, whylen, "SNS Message holds another envelope");
		rc = EBADMSG;
	}
	if (rc == 0)
		rc = s3_event_from_doc(&inner, out, why, whylen);
	json_doc_free(&inner);
	free(msg);
	return rc;
}

int s3_event_parse(const char *body, size_t len, struct s3_event_batch *out, char *why,
		   size_t whylen)
{
	struct json_doc d = { 0 };
	size_t type;
	int rc;

	memset(out, 0, sizeof *out);
	if (why && whylen)
		why[0] = '\0';
	if (len > S3_EVENT_BODY_MAX) {
		s3_event_why(why, whylen, "body over %u bytes", S3_EVENT_BODY_MAX);
		return EMSGSIZE;
	}
	rc = s3_event_json(body, len, &d, why, whylen);
	if (rc)
		return rc;
	type = d.tok[0].type == JSON_OBJECT ? json_obj_get(&d, 0, "Type") : 0;
	if (type)
		rc = s3_event_sns(&d, type, out, why, whylen);
	else
		rc = s3_event_from_doc(&d, out, why, whylen);
	json_doc_free(&d);
	if (rc)
		s3_event_batch_free(out);
	return rc;
}

bool s3_event_matches(const struct s3_event_rec *r, const char *bucket, const char *prefix)
{
	size_t pl = strlen(prefix);

	return strcmp(r->bucket, bucket) == 0 && r->key && r->key_len >= pl &&
	       memcmp(r->key, prefix, pl) == 0;
}

void s3_event_batch_free(struct s3_event_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->rec[i].key);
	free(b->rec);
	b->rec = NULL;
	b->n = 0;
}
