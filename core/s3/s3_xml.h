/*
 * s3_xml.h — parsers for the S3 response documents (internal; the client, the unit tests
 * and the fuzz target use them).
 *
 * Every parser takes the whole body (xml, len), never reads past len, and returns 0 or:
 *   S3F_E_S3_PROTO  not well-formed XML, a DOCTYPE/entity declaration, nesting deeper than
 *                   16, a text node above 1 MiB, the wrong root element, a required field
 *                   missing, a number or date that does not parse, a bad %-escape
 *   ENOMEM
 * On failure nothing is left allocated in the out structures (they are zeroed).
 * Keys are %-decoded when the document says <EncodingType>url</EncodingType> ('+' is a
 * space there: AWS writes spaces as '+', and a literal '+' always arrives as %2B).
 * Character references to code points XML 1.0 forbids (RGW writes a 0x01 in a key as
 * "&#x01;" in the fields it does not encode, e.g. NextContinuationToken) are accepted and
 * give back the original byte; a reference to NUL is S3F_E_S3_PROTO.
 * ETags are stored without quotes. Stateless and thread-safe.
 */
#ifndef S3F_S3_XML_H
#define S3F_S3_XML_H

#include "s3/s3.h"

#include <stddef.h>

struct s3_xml_error {
	char code[64];		/* "NoSuchKey", "SlowDown", ... (required) */
	char message[256];	/* truncated if longer */
	char request_id[128];
};
int s3_xml_parse_error(const char *xml, size_t len, struct s3_xml_error *out);

/* ListBucketResult (ListObjectsV2). Free with s3_list_page_free. */
int s3_xml_parse_list(const char *xml, size_t len, struct s3_list_page *page);

/* InitiateMultipartUploadResult: the UploadId (required, < S3_UPLOAD_ID_MAX). */
int s3_xml_parse_mpu_init(const char *xml, size_t len, char upload_id[S3_UPLOAD_ID_MAX]);

/* CompleteMultipartUploadResult: etag "" when absent or empty (RGW sends <ETag/>).
 * A 200 answer may carry an <Error> document instead: that is S3F_E_S3_PROTO here and
 * the caller parses it with s3_xml_parse_error. */
int s3_xml_parse_mpu_complete(const char *xml, size_t len, char etag[S3_ETAG_MAX]);

/* CopyObjectResult or CopyPartResult: etag ("" if absent) and LastModified (0 if absent). */
int s3_xml_parse_copy(const char *xml, size_t len, char etag[S3_ETAG_MAX], int64_t *last_modified);

/* DeleteResult: one item per <Deleted> or <Error>, in document order. */
struct s3_xml_delete_item {
	char *key;
	bool deleted;
	char code[64];		/* for errors */
};
int s3_xml_parse_delete(const char *xml, size_t len, struct s3_xml_delete_item **items, size_t *n);
void s3_xml_delete_free(struct s3_xml_delete_item *items, size_t n);

/*
 * ListMultipartUploadsResult (one page). Free with s3_xml_uploads_free.
 * url_requested: the request said encoding-type=url. RGW 16 then encodes Upload/Key but
 * does not say so (no <EncodingType>), so the caller's knowledge decides too. The next
 * markers are returned as sent (RGW: raw; AWS: encoded), so callers continue from the
 * last upload's key and id instead. A truncated page must list at least one upload.
 */
struct s3_xml_uploads {
	struct s3_upload *uploads;
	size_t n;
	bool truncated;
	char *next_key_marker;		/* NULL when absent */
	char *next_upload_id_marker;
};
int s3_xml_parse_uploads(const char *xml, size_t len, bool url_requested,
			 struct s3_xml_uploads *out);
void s3_xml_uploads_free(struct s3_xml_uploads *u);

/* VersioningConfiguration: status "Enabled", "Suspended", or "" (never enabled). */
int s3_xml_parse_versioning(const char *xml, size_t len, char status[16]);

/* ListVersionsResult (one page): versions and delete markers in document order (for one
 * key, newest first). Free with s3_xml_versions_free. */
struct s3_xml_version {
	char *key;
	char version_id[S3_VERSION_ID_MAX];
	char etag[S3_ETAG_MAX];		/* "" for a delete marker */
	bool delete_marker;
	bool is_latest;
};
struct s3_xml_versions {
	struct s3_xml_version *items;
	size_t n;
	bool truncated;
};
int s3_xml_parse_versions(const char *xml, size_t len, struct s3_xml_versions *out);
void s3_xml_versions_free(struct s3_xml_versions *v);

/* STS AssumeRoleWithWebIdentity (core/s3/s3_credp.c). The answer
 * AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials with
 * AccessKeyId, SecretAccessKey, SessionToken and Expiration (ISO 8601, required, into
 * *expiration as Unix seconds); a field too long for struct s3_creds is S3F_E_S3_PROTO.
 * The error document ErrorResponse/Error/{Code,Message}, RequestId. */
int s3_xml_parse_sts_creds(const char *xml, size_t len, struct s3_creds *out, int64_t *expiration);
int s3_xml_parse_sts_error(const char *xml, size_t len, struct s3_xml_error *out);

#endif
