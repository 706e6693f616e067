/*
 * s3.h — S3 client: SigV4 over libcurl's multi interface, with retries.
 *
 * The client knows buckets and keys only: no paths, no inodes, no files except as
 * byte sources and sinks (an fd + offset). One client serves one bucket on one endpoint.
 * What is said below of HTTP, threads and retries is the libcurl implementation's
 * (s3_client_open); other implementations answer the same calls (s3_ops.h), among them
 * an in-memory bucket for unit tests (s3_mem.h).
 *
 * Threads and ownership
 *  - s3_client_open starts one I/O thread that owns a CURLM multi handle; every request
 *    from every caller thread runs on it, so connections are reused across callers and
 *    many requests proceed in parallel (up to max_connections).
 *  - All s3_* request functions are synchronous for the caller and may be called from any
 *    number of threads at once. Parallelism inside one call (multipart parts, ranged GETs)
 *    is done by the client. s3_batch_* runs many independent requests at once.
 *  - Strings passed in are only read during the call. Results written to caller structs
 *    are owned by the caller; heap results have a matching _free.
 *
 * Errors (see err.h): 0; ENOENT (NoSuchKey / 404); EACCES (AccessDenied);
 * S3F_E_S3_* for the rest. 5xx, 429/503 SlowDown, connection resets and timeouts are
 * retried with exponential backoff and full jitter, for idempotent operations only
 * (GET, HEAD, PUT of a complete body, DELETE, LIST, UploadPart, Complete/Abort MPU,
 * CopyObject). CreateMultipartUpload is retried too: a lost answer only leaks an upload
 * id, which s3_mpu_list/s3_mpu_abort clean up.
 *
 * Keys: any byte string S3 accepts, up to 1,024 bytes, including spaces, '+', '=', '%',
 * '~', UTF-8, control characters, "//", "." and ".." segments and a trailing '/'. Each
 * byte outside RFC 3986 "unreserved" is %-encoded (except '/' between segments); the URL
 * path is sent exactly as built (no dot-segment normalization).
 */
#ifndef S3F_S3_H
#define S3F_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define S3_KEY_MAX 1024
#define S3_ETAG_MAX 80		/* without quotes; md5 hex (32) or "md5-N" multipart */
#define S3_VERSION_ID_MAX 128
#define S3_UPLOAD_ID_MAX 256
#define S3_META_MAX 16		/* user metadata pairs carried per object */
#define S3_MEM_BODY_MAX (64ull << 20)	/* fd bodies up to this are sent from memory */

/* true when rc (of any s3_* call) says S3 could not be asked now and asking again later
 * may work: no answer (S3F_E_S3_NET), a server error (S3F_E_S3_SERVER), no valid
 * credentials yet (S3F_E_S3_CREDS: the provider keeps trying). What failed this way
 * waits and is tried again, never dropped; any other rc (0 included) is false. */
bool s3_err_transient(int rc);

struct s3_client;
struct s3_credp;

/* ---- configuration ---- */

struct s3_creds {
	char access_key_id[128];
	char secret_access_key[128];
	char session_token[4096];	/* "" if none; STS sets no fixed limit, temporary
					   tokens seen are 1-2 KiB */
};

/*
 * Where credentials come from, tried in this order unless a source is pinned:
 *   1. explicit values (config file)        2. environment AWS_ACCESS_KEY_ID / ..._SECRET_...
 *   3. credentials file (AWS INI format, profile; default ~/.aws/credentials, or
 *      AWS_SHARED_CREDENTIALS_FILE) — refused if readable by group or others.
 */
struct s3_creds_source {
	const char *access_key_id;	/* NULL: not configured */
	const char *secret_access_key;
	const char *session_token;
	const char *credentials_file;	/* NULL: default location */
	const char *profile;		/* NULL: AWS_PROFILE or "default" */
	bool use_env;			/* consult the environment (default true) */
};

/* Fill *out; 0, ENOENT (no source had credentials), EACCES (file permissions), EINVAL.
 * err gets a one-line reason that never contains the secret. src NULL: the environment,
 * then the default file and profile. use_env also governs AWS_SHARED_CREDENTIALS_FILE
 * and AWS_PROFILE. */
int s3_creds_load(const struct s3_creds_source *src, struct s3_creds *out, char *err, size_t errlen);
/* Step 3 alone: the credentials file and profile of src (src->access_key_id and the
 * environment keys are not looked at). *explicit_out (may be NULL) tells whether the file
 * was named (src->credentials_file or AWS_SHARED_CREDENTIALS_FILE) rather than the
 * default ~/.aws/credentials. Same results as s3_creds_load. */
int s3_creds_load_file(const struct s3_creds_source *src, struct s3_creds *out,
		       bool *explicit_out, char *err, size_t errlen);

/* Per-call statistics, delivered to s3_config.observer when a request finishes. */
enum s3_op {
	S3_OP_GET, S3_OP_HEAD, S3_OP_PUT, S3_OP_DELETE, S3_OP_DELETE_MULTI, S3_OP_COPY,
	S3_OP_LIST, S3_OP_MPU_CREATE, S3_OP_MPU_PART, S3_OP_MPU_COMPLETE, S3_OP_MPU_ABORT,
	S3_OP_MPU_LIST, S3_OP_COUNT
};
const char *s3_op_name(enum s3_op op);

struct s3_call_stats {
	enum s3_op op;
	int rc;			/* final result */
	int http_status;	/* last HTTP status, 0 if none */
	uint64_t bytes_sent;
	uint64_t bytes_received;
	uint64_t latency_ns;	/* first attempt start to final completion */
	unsigned retries;
};
typedef void (*s3_observer_fn)(void *arg, const struct s3_call_stats *st);

struct s3_config {
	const char *endpoint;	/* "http://127.0.0.1:7480", "https://s3.eu-west-1.amazonaws.com";
				   NULL: https://s3.<region>.amazonaws.com */
	const char *region;	/* SigV4 region, e.g. "us-east-1" */
	const char *bucket;
	bool path_style;	/* true: endpoint/bucket/key; false: bucket.host/key */
	bool tls_skip_verify;	/* true: no peer or host name verification (an explicit opt-out,
				   logged at open); the zero value verifies */
	const char *ca_file;	/* NULL: system store */
	struct s3_creds creds;	/* static credentials, used when credp is NULL */
	struct s3_credp *credp;	/* NULL: creds above; else where each request attempt takes
				   its key, secret and token (core/s3/s3_credp.h; borrowed: it
				   must outlive the client) */
	unsigned max_connections;	/* parallel transfers on the multi handle (default 16) */
	unsigned max_retries;		/* per request (default 8); 0 = default */
	unsigned retry_base_ms;		/* first backoff (default 100) */
	unsigned retry_max_ms;		/* cap on one backoff (default 20000) */
	unsigned connect_timeout_ms;	/* default 5000 */
	unsigned stall_timeout_s;	/* abort a transfer below 1 byte/s for this long (default 30) */
	uint64_t part_size;		/* multipart part size (default 16 MiB, min 5 MiB) */
	uint64_t multipart_threshold;	/* s3_object_put_fd uses multipart at/above this (default 64 MiB) */
	unsigned part_parallelism;	/* parts in flight per upload (default 8) */
	s3_observer_fn observer;	/* may be NULL; called on the I/O thread: keep it short
					   (a call refused before reaching it — client closing, no
					   memory — reports from the caller's thread) */
	void *observer_arg;
};

/* Fill in defaults for every zero field (not endpoint/region/bucket/creds). Fields whose
 * zero value is meaningful (tls_skip_verify) are left as they are, so this may be called
 * before or after they are set. */
void s3_config_defaults(struct s3_config *cfg);

int s3_client_open(const struct s3_config *cfg, struct s3_client **out);
void s3_client_close(struct s3_client *c);	/* waits for in-flight requests to end */

/* ---- objects ---- */

struct s3_meta_pair {
	char name[64];		/* without the "x-amz-meta-" prefix, lower case; [A-Za-z0-9-]
				   ('_' is refused: RGW 16 turns it into '-') */
	char value[256];	/* printable ASCII, no leading/trailing or double spaces (EINVAL) */
};

struct s3_object_info {
	char etag[S3_ETAG_MAX];		/* quotes stripped; "" if the server sent none */
	uint64_t size;
	int64_t last_modified;		/* Unix seconds */
	char version_id[S3_VERSION_ID_MAX];
	char content_type[128];
	unsigned n_meta;
	struct s3_meta_pair meta[S3_META_MAX];
};

/* Conditions for reads and writes. Strings NULL = not set. */
struct s3_cond {
	const char *if_match;		/* ETag the object must have (quotes optional) */
	bool if_none_match_any;		/* PUT only if the key does not exist ("*") */
};

/* Life of a multipart upload, for s3_put_opts.upload_hook. */
enum s3_upload_event {
	S3_UPLOAD_STARTED,	/* CreateMultipartUpload answered; no part sent yet */
	S3_UPLOAD_GONE,		/* completed, or aborted after a failure: nothing left on the
				   server */
};
/* Returning non-zero on S3_UPLOAD_STARTED aborts the upload and fails the write with that
 * code; the return value on S3_UPLOAD_GONE is ignored. */
typedef int (*s3_upload_hook_fn)(void *arg, enum s3_upload_event ev, const char *key,
				 const char *upload_id);
/* The ETag the object at key will have if the request about to be sent lands (see
 * s3_put_opts.etag_hook). Returning non-zero fails the write with that code, unsent. */
typedef int (*s3_etag_hook_fn)(void *arg, const char *key, const char *etag);

struct s3_put_opts {
	const char *content_type;	/* NULL: application/octet-stream */
	unsigned n_meta;
	const struct s3_meta_pair *meta;
	struct s3_cond cond;
	bool sign_payload;		/* SHA-256 of the body in the signature, else UNSIGNED-PAYLOAD */
	/* Optional, multipart writes only (s3_object_put_fd at/above the threshold, and
	 * s3_object_copy above 5 GiB): told when the upload exists and when it is gone. An
	 * upload that failed and whose abort failed too gets no S3_UPLOAD_GONE: it is left on
	 * the server, and so is one whose process died. A caller that records STARTED durably
	 * can abort those later (s3_mpu_abort). Called on the caller's thread. */
	s3_upload_hook_fn upload_hook;
	void *upload_hook_arg;
	/* Optional (s3_object_put_buf, s3_object_put_fd): called on the caller's thread right
	 * before the request that makes the object exist — a single PUT once its body is read
	 * and hashed, a multipart upload after its last part and before
	 * CompleteMultipartUpload — with the ETag the object will have if that request lands:
	 * the hex MD5 of the body, or for multipart the hex MD5 of the parts' binary MD5s
	 * followed by "-<parts>" (the rule of AWS and Ceph RGW; an SSE-KMS or SSE-C object
	 * gets another). Retries of the request send the same bytes. Not called by copies, nor
	 * when the write failed before (a part that failed, a single PUT's condition refused
	 * by the client's own HEAD); the request may still fail or be refused after it. */
	s3_etag_hook_fn etag_hook;
	void *etag_hook_arg;
};

/*
 * Byte sinks and sources. An fd source/sink uses pread/pwrite at off.., never the file
 * offset, so one fd may serve parallel transfers. A memory sink grows a heap buffer
 * (free with free()) unless a fixed buffer is given.
 */
struct s3_buf {
	void *data;
	size_t len;
	size_t cap;
	bool fixed;		/* data/cap given by caller; exceeding cap fails with EOVERFLOW */
};

/*
 * Verification of downloaded bytes (every GET below, s3_batch_get_* and
 * s3_object_get_parallel alike): when one response carries the whole object — no Range,
 * or a Range from byte 0 that the object ends inside — and its ETag is a plain MD5 (32
 * hex digits: a single-part upload) and it names no SSE-KMS or SSE-C encryption (whose
 * ETags are not the MD5), the MD5 of the bytes received must equal the ETag. A mismatch
 * is retried once; a second one fails the GET with S3F_E_S3_CORRUPT (logged with the key).
 * Not verifiable, and not verified: ranged GETs that do not cover the whole object (the
 * ETag says nothing about a part of it; s3_object_get_parallel's chunks and the read-ahead
 * and hydration ranges are such), multipart objects ("md5-N" ETags) and encrypted ones.
 * What a failed GET wrote to an fd sink is garbage the caller must not use.
 *
 * GET [off, off+len) — len UINT64_MAX means to the end. Data goes to fd at fd_off.
 * *got receives the number of bytes written. info may be NULL. cond.if_match makes the
 * read fail with S3F_E_S3_PRECOND if the object changed. A range that starts at or past
 * the end of the object reads 0 bytes (success, like read(2) at EOF). get_buf sets
 * buf->len to the bytes read. */
int s3_object_get_fd(struct s3_client *c, const char *key, uint64_t off, uint64_t len,
		     int fd, uint64_t fd_off, const struct s3_cond *cond, uint64_t *got,
		     struct s3_object_info *info);
int s3_object_get_buf(struct s3_client *c, const char *key, uint64_t off, uint64_t len,
		      struct s3_buf *buf, const struct s3_cond *cond, struct s3_object_info *info);

/* Parallel ranged GET of [off, off+len) into fd at fd_off, chunk bytes per request,
 * up to streams requests in flight (0: defaults: 8 streams, chunks of about a sixteenth
 * of the range, 8..64 MiB). For large sequential reads. One HEAD first gives the size
 * (the range is clipped to it: info->size tells how much was there) and the ETag every
 * chunk is pinned to (If-Match), so an overwrite during the read fails the call with
 * S3F_E_S3_PRECOND instead of mixing two versions. */
int s3_object_get_parallel(struct s3_client *c, const char *key, uint64_t off, uint64_t len,
			   int fd, uint64_t fd_off, uint64_t chunk, unsigned streams,
			   const struct s3_cond *cond, struct s3_object_info *info);

int s3_object_head(struct s3_client *c, const char *key, struct s3_object_info *info);

/*
 * Integrity of uploads: every PUT and every multipart part carries Content-MD5 of exactly
 * the bytes sent, and a server that received other bytes refuses them (400 BadDigest ->
 * S3F_E_S3_DIGEST: nothing was stored; try again later). A body from an fd of up to
 * S3_MEM_BODY_MAX bytes (every single PUT below the default multipart threshold, every
 * part of the default part size) is read into memory first, hashed and sent from there,
 * so a file written to meanwhile cannot make the digest and the body disagree (the
 * upload then holds the bytes as they were when read; the caller notices the change by
 * its own means). Memory in flight per upload: part_parallelism x part_size. A larger
 * body is hashed from the fd and then streamed from it: if the file changes in between,
 * the server refuses it with BadDigest (not retried by the client). x-amz-checksum-*
 * headers are not sent (Ceph RGW 16 accepts and ignores them, wrong values included; where
 * a server checks them they would check the same bytes Content-MD5 does).
 *
 * PUT from memory or from fd [off, off+len). out (may be NULL) gets etag/version. */
int s3_object_put_buf(struct s3_client *c, const char *key, const void *data, size_t len,
		      const struct s3_put_opts *opts, struct s3_object_info *out);
/* Single PUT below cfg.multipart_threshold, parallel multipart at/above it. The condition
 * is applied to the PUT or to CompleteMultipartUpload. When the server sends no ETag on
 * completion (RGW 16 sends an empty <ETag/>), the object is HEADed to learn it. */
int s3_object_put_fd(struct s3_client *c, const char *key, int fd, uint64_t off, uint64_t len,
		     const struct s3_put_opts *opts, struct s3_object_info *out);

/* ENOENT-tolerant: deleting a missing key is success (S3 semantics). Unconditional:
 * whatever the key holds when the request arrives is gone (see s3_object_delete_if). */
int s3_object_delete(struct s3_client *c, const char *key);

/*
 * Conditional delete: delete key only while it holds the version whose ETag is etag.
 *   0                  deleted (or, on a server that says nothing, the DELETE was accepted)
 *   ENOENT             nothing there (any more)
 *   S3F_E_S3_PRECOND   key holds another version: it stays; cur (may be NULL) gets what
 *                      a HEAD saw (its etag, "" if not known)
 *   S3F_E_S3_CONFLICT  a concurrent write raced the delete (AWS 409): try again later
 *   other errors       as for any request; nothing is known to be deleted
 * How depends on what s3_caps_probe found (strongest first):
 *   delete_if_match    DELETE If-Match: the server checks; no window.
 *   versioned          HEAD-compare, DELETE (a delete marker: the bytes of any version
 *                      stay), then the version list is checked: if another version was
 *                      written between the HEAD and the DELETE, our delete marker is
 *                      removed again (DELETE ?versionId=marker), which makes that version
 *                      current again. What remains: for one round trip that version is
 *                      hidden behind our marker, and stays so if this process dies there
 *                      (the bytes stay in the bucket as a noncurrent version).
 *   delete_unmod_since HEAD-compare, then DELETE with x-amz-delete-if-unmodified-since
 *                      set to the HEAD's Last-Modified (Ceph RGW, unversioned buckets):
 *                      the server refuses if the object changed in a later second. What
 *                      remains: a write that lands between the HEAD and the DELETE within
 *                      the same wall-clock second as the version the HEAD saw (RGW
 *                      compares whole seconds) is deleted.
 *   otherwise          HEAD-compare immediately before a plain DELETE: a write landing in
 *                      that one round trip is deleted.
 * Test point "s3.delete.before": after the check, right before the DELETE is sent.
 */
int s3_object_delete_if(struct s3_client *c, const char *key, const char *etag,
			struct s3_object_info *cur);
/* s3_object_delete_if for many keys: results[i] as above for keys[i] / etags[i]; returns
 * the first error other than ENOENT and S3F_E_S3_PRECOND (0 if none). DeleteObjects with a
 * per-object <ETag> (in batches of 1,000) where the server honours it (delete_multi_etag),
 * else one s3_object_delete_if per key, part_parallelism keys at a time (on threads of
 * this call: the test point may be reached on any of them). Once one fails for want of an
 * answer (S3F_E_S3_NET, S3F_E_S3_SERVER), the keys not started yet get that error too. */
int s3_objects_delete_if(struct s3_client *c, const char *const *keys, const char *const *etags,
			 size_t n, int *results);

/* DeleteObjects, in batches of up to 1,000. results[i] = 0 or the error for keys[i].
 * With single deletes on (below), one DELETE per key instead. */
int s3_objects_delete(struct s3_client *c, const char *const *keys, size_t n, int *results);
/* Make s3_objects_delete send one DELETE per key: Ceph RGW 16 (radosgw 16.2.15 at least)
 * aborts on DeleteObjects in a bucket that has a notification configuration. May be called
 * at any time; it applies to the calls of s3_objects_delete that start afterwards. */
void s3_client_single_deletes_set(struct s3_client *c, bool on);

/* CopyObject (server side; objects up to 5 GiB — larger uses UploadPartCopy internally).
 * opts == NULL: metadata COPY; opts != NULL: metadata REPLACE with opts->meta (opts->cond
 * is not used: see s3_object_copy_if). src_cond.if_match: copy only while the source is
 * that version, else S3F_E_S3_PRECOND (nothing copied). Checked by the server in the
 * header it honours (s3_caps.copy_if_match: x-amz-copy-source-if-match on AWS,
 * x-amz-copy-if-match on Ceph RGW 16, which ignores the standard name; RGW 16 ignores both
 * on UploadPartCopy, so a copy above 5 GiB there compares the source's HEAD before the
 * parts and again before completing, and the window is the whole copy); where neither
 * works, HEAD-compared before the copy, and when the expected ETag is a plain MD5 the
 * copy's ETag is compared after it (a copy of other bytes has another MD5): then the
 * copy exists but S3F_E_S3_PRECOND is returned, and the destination holds a copy the
 * caller must treat as garbage. Test point "s3.copy.before": right before the CopyObject. */
int s3_object_copy(struct s3_client *c, const char *src_key, const char *dst_key,
		   const struct s3_put_opts *opts, const struct s3_cond *src_cond,
		   struct s3_object_info *out);
/* s3_object_copy with a condition on the destination too: dst_cond.if_none_match_any
 * (the key must not exist) or dst_cond.if_match (it must hold that version), else
 * S3F_E_S3_PRECOND and nothing copied. The server checks If-None-Match: * where it honours
 * it on copies (s3_caps.copy_if_none_match; RGW 16 does not); otherwise, and for
 * if_match, a HEAD of the destination right before the copy does (a window of one round
 * trip). dst_cond NULL: as s3_object_copy. */
int s3_object_copy_if(struct s3_client *c, const char *src_key, const char *dst_key,
		      const struct s3_put_opts *opts, const struct s3_cond *src_cond,
		      const struct s3_cond *dst_cond, struct s3_object_info *out);

/* ---- listing ---- */

struct s3_list_entry {
	char *key;			/* decoded (encoding-type=url is always used) */
	uint64_t size;
	int64_t last_modified;
	char etag[S3_ETAG_MAX];
};

struct s3_list_page {
	struct s3_list_entry *entries;
	size_t n_entries;
	char **prefixes;		/* CommonPrefixes, decoded */
	size_t n_prefixes;
	bool truncated;
	char *next_token;		/* NextContinuationToken, NULL when !truncated */
};

struct s3_list_req {
	const char *prefix;		/* NULL or "" for the whole bucket */
	const char *delimiter;		/* NULL: none; usually "/" */
	const char *continuation_token;	/* from the previous page */
	const char *start_after;
	unsigned max_keys;		/* 0: server default (1,000) */
	bool once;			/* one attempt, no retries: "does the server answer
					   now?" (refused at once when nothing listens) */
};

int s3_list(struct s3_client *c, const struct s3_list_req *req, struct s3_list_page *page);
void s3_list_page_free(struct s3_list_page *page);

/* ---- multipart (the primitives; s3_object_put_fd drives them) ---- */

struct s3_part {
	unsigned number;		/* 1..10000 */
	char etag[S3_ETAG_MAX];
	uint64_t size;
};

int s3_mpu_create(struct s3_client *c, const char *key, const struct s3_put_opts *opts,
		  char upload_id[S3_UPLOAD_ID_MAX]);
int s3_mpu_part_fd(struct s3_client *c, const char *key, const char *upload_id,
		   unsigned number, int fd, uint64_t off, uint64_t len, struct s3_part *out);
int s3_mpu_complete(struct s3_client *c, const char *key, const char *upload_id,
		    const struct s3_part *parts, size_t n, const struct s3_cond *cond,
		    struct s3_object_info *out);
int s3_mpu_abort(struct s3_client *c, const char *key, const char *upload_id);

struct s3_upload {
	char *key;
	char upload_id[S3_UPLOAD_ID_MAX];
	int64_t initiated;		/* Unix seconds */
};
/* ListMultipartUploads under prefix (all pages). Free with s3_uploads_free. */
int s3_mpu_list(struct s3_client *c, const char *prefix, struct s3_upload **out, size_t *n);
void s3_uploads_free(struct s3_upload *u, size_t n);

/* ---- conditional-write support, probed once per client ---- */

enum s3_cond_mode {
	S3_COND_UNKNOWN = 0,
	S3_COND_NATIVE,		/* If-Match with the quoted ETag works (AWS) */
	S3_COND_UNQUOTED,	/* only the unquoted form works (Ceph RGW 16) */
	S3_COND_NONE,		/* not supported: the caller compares with HEAD before PUT */
};
/* How a copy's source condition reaches the server. */
enum s3_copy_cond {
	S3_COPY_COND_UNKNOWN = 0,	/* not probed: the standard header, and the checks of NONE */
	S3_COPY_COND_STANDARD,		/* x-amz-copy-source-if-match honoured (AWS) */
	S3_COPY_COND_RGW,		/* only x-amz-copy-if-match, Ceph RGW's own name (RGW 16) */
	S3_COPY_COND_NONE,		/* neither: HEAD-compare before, ETag compare after */
};
struct s3_caps {
	enum s3_cond_mode if_match;
	bool if_none_match;	/* If-None-Match: * honoured */
	bool complete_cond;	/* the conditions above also hold on CompleteMultipartUpload
				   (RGW 16: ignored there) */
	/* deletes and copies (s3_object_delete_if, s3_object_copy_if); the zero value of each
	 * means "not honoured, the client checks by itself" */
	enum s3_cond_mode delete_if_match;	/* DELETE If-Match (AWS; RGW 16 ignores it) */
	bool delete_multi_etag;	/* DeleteObjects honours a per-object <ETag> (AWS) */
	bool delete_unmod_since;	/* DELETE x-amz-delete-if-unmodified-since honoured (Ceph RGW,
					   unversioned buckets only; whole seconds) */
	bool versioned;		/* bucket versioning is Enabled */
	enum s3_copy_cond copy_if_match;
	bool copy_if_none_match;	/* If-None-Match: * on a copy's destination (AWS; RGW 16
					   ignores it) */
};
/* Probe by writing and deleting a scratch object at probe_key (a few PUTs and two
 * one-part multipart uploads; then a few conditional DELETEs and CopyObjects of it and of
 * probe_key + ".copy", and GET ?versioning). Both lines of results are logged (INFO).
 * Results are kept in the client and used by every later
 * conditional request (s3_put_opts.cond): where the server cannot check a condition
 * (S3_COND_NONE, !if_none_match, or a multipart put with !complete_cond) the client itself
 * does HEAD-compare before the write and returns S3F_E_S3_PRECOND on mismatch (a narrower
 * window, not atomic). Before any probe (S3_COND_UNKNOWN) conditions are sent in the
 * standard form (quoted If-Match) and left to the server. */
int s3_caps_probe(struct s3_client *c, const char *probe_key, struct s3_caps *out);
void s3_caps_get(struct s3_client *c, struct s3_caps *out);
/* Set the capabilities without probing, e.g. to S3_COND_NONE (HEAD-compare for every
 * condition) when the probe cannot be run at all. */
void s3_caps_set(struct s3_client *c, const struct s3_caps *caps);

/* ---- SigV4 (exposed for the test vectors and presigned URLs) ---- */

struct s3_header {
	const char *name;
	const char *value;
};

struct s3_sigv4_req {
	const char *method;
	const char *path;		/* as it will appear on the wire, already %-encoded */
	const char *query;		/* raw query string without '?', may be NULL */
	const struct s3_header *headers;
	size_t n_headers;
	const char *payload_sha256;	/* hex, or "UNSIGNED-PAYLOAD" */
	bool normalize_path;		/* false for S3 (never normalized) */
	const char *region;
	const char *service;		/* "s3" */
	int64_t now;			/* Unix seconds */
	const struct s3_creds *creds;
};

struct s3_sigv4_out {
	char *canonical_request;	/* heap; for tests and debug logs (no secret inside) */
	char *string_to_sign;		/* heap */
	char signature[65];
	char *authorization;		/* heap: full Authorization header value */
};
int s3_sigv4_sign(const struct s3_sigv4_req *req, struct s3_sigv4_out *out);
/* Query-string signing (presigned URL): returns the complete query string to append. */
int s3_sigv4_presign(const struct s3_sigv4_req *req, unsigned expires_s, struct s3_sigv4_out *out,
		     char **query_out);
void s3_sigv4_out_free(struct s3_sigv4_out *out);

/* Presigned GET URL for key, valid expires_s seconds (heap string). */
int s3_presign_get(struct s3_client *c, const char *key, unsigned expires_s, char **url);

/* ---- fault injection (tests) ----
 * Rules are checked in order for every attempt (including retries) before it is sent.
 * The client under faults behaves exactly as with a real misbehaving server: the same
 * retry, error mapping and statistics paths run. */
enum s3_fault_action {
	S3_FAULT_STATUS,	/* answer with HTTP `status` (e.g. 500, 503 SlowDown, 404) without sending */
	S3_FAULT_RESET,		/* send, then break the transfer after `after_bytes` of the body */
	S3_FAULT_DELAY,		/* hold the attempt `delay_ms` before sending */
	S3_FAULT_NET,		/* fail as if the connection could not be made */
	S3_FAULT_CORRUPT,	/* send, but flip one bit of the byte at offset `after_bytes` of
				   the request body (uploads) or else of the response body, as
				   a faulty network or disk would */
};
struct s3_fault_rule {
	int op;			/* enum s3_op, or -1 for any */
	unsigned nth;		/* fire from the nth matching attempt on (1-based); 0 = from the first */
	unsigned count;		/* stop after firing this many times; 0 = unlimited */
	enum s3_fault_action action;
	int status;
	uint64_t after_bytes;
	unsigned delay_ms;
	const char *key_prefix;	/* only keys with this prefix (NULL: any) */
};
/* Replace the rule set (copied; counters start at 0). n = 0 clears. Thread-safe.
 * The first rule that fires for an attempt wins; a rule counts the attempts that reach it.
 * Injected failures are indistinguishable from real ones to the caller (no
 * S3F_E_S3_FAULT): STATUS carries an S3 error document (503 SlowDown, 500 InternalError,
 * 404 NoSuchKey, ...), RESET breaks the request body when there is one, else the
 * response body. */
int s3_fault_set(struct s3_client *c, const struct s3_fault_rule *rules, size_t n);
/* Times each rule fired since it was set. */
void s3_fault_fired(struct s3_client *c, unsigned *counts, size_t n);

/* ---- batch of independent requests, run in parallel ---- */
struct s3_batch;
int s3_batch_open(struct s3_client *c, struct s3_batch **out);
/* Queue a request; it starts at once (up to max_connections run together). Results land
 * in the caller's structs, *rc at the end. A queueing call that fails (EINVAL, a failed
 * HEAD-compare of an emulated condition, ENOMEM) queued nothing; the batch stays usable
 * and must still end with s3_batch_wait. get_fd needs len > 0. */
int s3_batch_put_buf(struct s3_batch *b, const char *key, const void *data, size_t len,
		     const struct s3_put_opts *opts, struct s3_object_info *out, int *rc);
int s3_batch_get_fd(struct s3_batch *b, const char *key, uint64_t off, uint64_t len, int fd,
		    uint64_t fd_off, uint64_t *got, struct s3_object_info *info, int *rc);
/* GET [off, off+len) into buf, as s3_object_get_buf (a fixed buffer smaller than what
 * the range returns fails the GET with EOVERFLOW; a range at or past the end reads 0
 * bytes), pinned to a version with cond.if_match (S3F_E_S3_PRECOND if the object changed;
 * cond may be NULL). buf is the caller's and must stay valid until s3_batch_wait returns;
 * its len is the bytes read then (0 when the GET failed). len > 0. */
int s3_batch_get_buf(struct s3_batch *b, const char *key, uint64_t off, uint64_t len,
		     struct s3_buf *buf, const struct s3_cond *cond, struct s3_object_info *info,
		     int *rc);
int s3_batch_head(struct s3_batch *b, const char *key, struct s3_object_info *info, int *rc);
/* Wait for every queued request; returns the first non-zero rc, else 0. Frees b. */
int s3_batch_wait(struct s3_batch *b);

/* Percent-encode a key for a URL path (keeps '/'): heap string. */
char *s3_key_encode(const char *key);

#endif
