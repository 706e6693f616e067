/*
 * s3_mem.h — an S3 client over one bucket held in memory: the test double for code that
 * talks to S3 through s3.h (the sync daemon, import, hydration).
 *
 * A client from s3_client_open_mem answers every s3_* call of s3.h the way S3 does, with
 * no network and no retries:
 *  - keys sorted bytewise; LIST with prefix, delimiter (CommonPrefixes), start_after,
 *    max_keys (default 1,000) and continuation tokens (opaque: the last key a page
 *    covered);
 *  - ETag: hex MD5 of the body for a single PUT; for a multipart upload the MD5 of the
 *    parts' binary MD5s followed by "-<parts>"; a copy keeps the source's ETag;
 *    Last-Modified: the second of the write (CLOCK_REALTIME); user metadata and the
 *    content type as written (a copy keeps them, or replaces them when given opts);
 *  - conditions exactly, always checked by the "server" (no window): If-Match and
 *    If-None-Match: * on PUT and CompleteMultipartUpload (S3F_E_S3_PRECOND, nothing
 *    written; If-Match on a missing key too), If-Match on GET (ENOENT when missing),
 *    s3_object_delete_if / s3_objects_delete_if, source and destination conditions of
 *    s3_object_copy_if;
 *  - ranged GET (a range at or past the end reads 0 bytes), HEAD, COPY, deletes (single,
 *    batch, conditional), multipart create / part / complete / abort / list (parts other
 *    than the last below 5 MiB are refused at completion with S3F_E_S3_CLIENT, as S3's
 *    EntityTooSmall); s3_object_put_fd at/above cfg.multipart_threshold goes multipart,
 *    with the upload and ETag hooks of s3_put_opts called as the libcurl client calls them.
 * Refused with ENOTSUP: s3_presign_get, s3_fault_set (the libcurl client's rules; use the
 * scripted faults below); s3_fault_fired reports zeros. s3_caps_probe answers that every
 * condition is honoured natively; s3_caps_set is kept and read back but changes nothing
 * (conditions are always exact). Batches run each request when it is queued.
 * Not modelled: versioning, encryption, storage classes, ACLs, other buckets.
 *
 * Threads: every call may come from any thread; one mutex serializes the bucket, and no
 * call holds it while blocked at a hold (below) or while reading or writing an fd.
 *
 * Recording: every call that reaches the bucket (after argument checks) appends one
 * record — its operation (enum s3_op, as the observer would name it), key (the source key
 * for copies, "" for bucket-level calls) and result — to a log the test reads with
 * s3_mem_calls / s3_mem_count. Batch deletes record one S3_OP_DELETE per key.
 *
 * Scripted faults and holds, matched by operation and key (key NULL: any key), checked at
 * the point where a request "reaches the server": after its body was read from the
 * caller's fd or buffer, before the bucket is looked at.
 *  - s3_mem_fail: the next n matching calls fail with err, change nothing and are recorded
 *    with that result.
 *  - s3_mem_hold: the next matching call stops there until s3_mem_release; a test waits
 *    for it to arrive with s3_mem_hold_wait, acts, then releases it.
 */
#ifndef S3F_S3_MEM_H
#define S3F_S3_MEM_H

#include "s3/s3.h"

#include <limits.h>

/* An empty bucket. cfg may be NULL; of it only part_size and multipart_threshold are used
 * (zero: s3_config_defaults; part_size at least 5 MiB). 0 or ENOMEM. Close with
 * s3_client_close. */
int s3_client_open_mem(const struct s3_config *cfg, struct s3_client **out);

/* Is c a client of this double? (The functions below take only such a client.) */
bool s3_mem_is(const struct s3_client *c);

struct s3_mem_call {
	enum s3_op op;
	char key[S3_KEY_MAX + 1];
	int rc;
};

#define S3_MEM_ANY_RC INT_MIN

/* Copy records [from, from + max) of the log into out; returns how many were copied. */
size_t s3_mem_calls(struct s3_client *c, size_t from, struct s3_mem_call *out, size_t max);
/* How many records so far match op, key (NULL: any) and rc (S3_MEM_ANY_RC: any). */
size_t s3_mem_count(struct s3_client *c, enum s3_op op, const char *key, int rc);
/* Forget the records so far (s3_mem_count counts from here). */
void s3_mem_log_clear(struct s3_client *c);

/* Make the next n calls of op on key (NULL: any) fail with err (non-zero). Replaces an
 * earlier rule for the same op and key; n 0 removes it. 0, EINVAL, ENOMEM. */
int s3_mem_fail(struct s3_client *c, enum s3_op op, const char *key, unsigned n, int err);
/* Stop the next call of op on key (NULL: any) until s3_mem_release. One hold at a time:
 * EBUSY while another is armed or holds a call. */
int s3_mem_hold(struct s3_client *c, enum s3_op op, const char *key);
/* Wait up to timeout_ms for the held call to arrive: 0, or ETIMEDOUT. */
int s3_mem_hold_wait(struct s3_client *c, unsigned timeout_ms);
/* Let the held call go on (or disarm a hold nothing reached yet). */
void s3_mem_release(struct s3_client *c);

#endif
