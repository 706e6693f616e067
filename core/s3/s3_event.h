/*
 * s3_event.h — S3 event notification bodies, as POSTed by Ceph RGW to an HTTP-endpoint
 * topic, or by AWS (directly as the record JSON, or wrapped in an SNS envelope).
 *
 * Accepted bodies (doc/SEMANTICS.md and README "Notifications" tell operators):
 *   {"Records":[{"eventName":"ObjectCreated:Put", "eventSource":"ceph:s3",
 *                "s3":{"bucket":{"name":B},"object":{"key":K,"size":N,"eTag":E}}}, ...]}
 *   {"Type":"Notification","Message":"<the same JSON, as a string>", ...}     (SNS)
 *   {"Type":"SubscriptionConfirmation","SubscribeURL":U,"TopicArn":T, ...}    (SNS)
 *   {"Type":"UnsubscribeConfirmation", ...}                                   (SNS)
 *   {"Event":"s3:TestEvent", ...}      (what AWS sends when a configuration is saved)
 * eventName may carry an "s3:" prefix (older RGW). ObjectCreated:* and ObjectRemoved:*
 * are recognized; every other event is returned as S3_EVENT_OTHER (callers ignore it).
 * The object key is percent-encoded with '+' for space by AWS and MinIO (as in a form
 * field); Ceph RGW sends it as it is. The key is decoded unless eventSource starts with
 * "ceph:" (RGW 16 up to at least 18 sends keys raw).
 *
 * Limits: S3_EVENT_BODY_MAX bytes, S3_EVENT_DEPTH_MAX nesting, S3_EVENT_RECORDS_MAX
 * records. Pure functions over caller memory; no locks, no I/O.
 */
#ifndef S3F_S3_EVENT_H
#define S3F_S3_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3/s3.h"

#define S3_EVENT_BODY_MAX (1u << 20)	/* bytes of one POST body */
#define S3_EVENT_DEPTH_MAX 32		/* JSON nesting (a record is about 5 deep) */
#define S3_EVENT_TOKENS_MAX 131072	/* JSON values of one body (a record has ~40) */
#define S3_EVENT_RECORDS_MAX 10000	/* records of one body */
#define S3_EVENT_BUCKET_MAX 255		/* S3 allows 63; some servers more */
#define S3_EVENT_URL_MAX 2048		/* SubscribeURL kept for the operator */

enum s3_event_kind {
	S3_EVENT_OTHER = 0,	/* any other event (tagging, ACL, restore, ...): ignore */
	S3_EVENT_CREATED,	/* ObjectCreated:* (Put, Post, Copy, CompleteMultipartUpload) */
	S3_EVENT_REMOVED,	/* ObjectRemoved:* (Delete, DeleteMarkerCreated) */
};

struct s3_event_rec {
	enum s3_event_kind kind;
	char name[64];			/* eventName without "s3:", truncated (for logs) */
	char bucket[S3_EVENT_BUCKET_MAX + 1];
	char *key;			/* decoded key, malloc'd, NUL-terminated; may hold NUL
					 * bytes (from %00): key_len is the length */
	size_t key_len;
	bool has_size;
	uint64_t size;
	char etag[S3_ETAG_MAX];		/* without quotes; "" when absent */
};

enum s3_event_body {
	S3_EVENT_BODY_RECORDS,		/* rec[0..n) (n may be 0) */
	S3_EVENT_BODY_TEST,		/* s3:TestEvent: nothing to do */
	S3_EVENT_BODY_SUBSCRIBE,	/* SNS SubscriptionConfirmation: subscribe_url */
	S3_EVENT_BODY_UNSUBSCRIBE,	/* SNS UnsubscribeConfirmation: nothing to do */
};

struct s3_event_batch {
	enum s3_event_body what;
	bool sns;			/* came in an SNS envelope */
	struct s3_event_rec *rec;	/* malloc'd array */
	size_t n;
	char subscribe_url[S3_EVENT_URL_MAX + 1];	/* SUBSCRIBE ("" if absent or longer) */
	char topic_arn[256];		/* SNS TopicArn, truncated ("" if absent) */
};

/*
 * Parse one POST body. 0 and *out (free with s3_event_batch_free), or:
 *   EMSGSIZE  body over S3_EVENT_BODY_MAX, or more than S3_EVENT_RECORDS_MAX records,
 *             or nested deeper than S3_EVENT_DEPTH_MAX
 *   EBADMSG   not JSON, or JSON that is none of the accepted bodies (a record without
 *             s3.bucket.name or s3.object.key, a key that does not decode, ...)
 *   ENOMEM
 * On error, why (whylen bytes, may be NULL) says what was wrong in a few words, never
 * quoting the body.
 */
int s3_event_parse(const char *body, size_t len, struct s3_event_batch *out, char *why,
		   size_t whylen);
void s3_event_batch_free(struct s3_event_batch *b);

/* Decode a percent-encoded key with '+' as space (how AWS puts keys into events) into
 * out (cap bytes incl. a NUL). EINVAL for a bad escape, ENAMETOOLONG when it does not
 * fit. The decoded key may contain NUL bytes; *outlen is its length. */
int s3_event_key_decode(const char *in, size_t len, char *out, size_t cap, size_t *outlen);

/* Does r concern the export of bucket + prefix (normalized: "" or ending in '/')? The
 * bucket names must be equal and the key must start with the prefix; the key equal to
 * the prefix (the export root's marker) is in it too. */
bool s3_event_matches(const struct s3_event_rec *r, const char *bucket, const char *prefix);

/* Classify an eventName ("ObjectCreated:Put", "s3:ObjectRemoved:Delete", ...). */
enum s3_event_kind s3_event_kind_of(const char *name);

#endif
