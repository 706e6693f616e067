/*
 * s3_ops.h — the operations behind struct s3_client, so that another implementation can
 * stand in for the libcurl one (s3.c) under the same s3_* calls.
 *
 * Every s3_* function of s3.h that takes a client (or a batch) calls the matching
 * operation of c->ops (s3_client.c); callers never see which implementation serves them.
 * Implementations:
 *   s3_curl_ops   s3.c + s3_io.c: SigV4 over libcurl, retries, fault injection
 *                 (s3_client_open)
 *   s3_mem_ops    s3_mem.c: one bucket in memory, for unit tests (s3_mem.h)
 *
 * Contract shared by all operations: the arguments, results and errors of the s3.h
 * function of the same name, which they implement (what that comment says about HTTP,
 * retries and server capabilities is the libcurl implementation's way of keeping it).
 * They are called from any number of threads at once. An implementation that cannot do
 * an operation at all returns ENOTSUP from it (the void ones do nothing), so a caller
 * that needs it fails plainly instead of seeing a result that was never true.
 */
#ifndef S3F_S3_OPS_H
#define S3F_S3_OPS_H

#include "s3/s3.h"

/* One implementation's state of an open batch (s3_batch_open), owned by the batch. */
struct s3_batch_impl;

struct s3_ops {
	const char *name;	/* "curl", "mem": for logs */
	/* Wait for the calls in flight, free everything the client holds, c included. */
	void (*close)(struct s3_client *c);

	/* GET [off, off+len) into an fd or a buffer, pinned with cond->if_match; a range
	 * from at or past the end reads 0 bytes. get_parallel: one version for the whole
	 * range (S3F_E_S3_PRECOND if it changed), clipped to the object's size. */
	int (*get_fd)(struct s3_client *c, const char *key, uint64_t off, uint64_t len, int fd,
		      uint64_t fd_off, const struct s3_cond *cond, uint64_t *got,
		      struct s3_object_info *info);
	int (*get_buf)(struct s3_client *c, const char *key, uint64_t off, uint64_t len,
		       struct s3_buf *buf, const struct s3_cond *cond,
		       struct s3_object_info *info);
	int (*get_parallel)(struct s3_client *c, const char *key, uint64_t off, uint64_t len,
			    int fd, uint64_t fd_off, uint64_t chunk, unsigned streams,
			    const struct s3_cond *cond, struct s3_object_info *info);
	/* ENOENT when there is no object. */
	int (*head)(struct s3_client *c, const char *key, struct s3_object_info *info);

	/* Whole-object writes under opts->cond (If-Match / If-None-Match: *, else
	 * S3F_E_S3_PRECOND and nothing written); opts->etag_hook before the write lands,
	 * opts->upload_hook around a multipart one. */
	int (*put_buf)(struct s3_client *c, const char *key, const void *data, size_t len,
		       const struct s3_put_opts *opts, struct s3_object_info *out);
	int (*put_fd)(struct s3_client *c, const char *key, int fd, uint64_t off, uint64_t len,
		      const struct s3_put_opts *opts, struct s3_object_info *out);

	/* Deletes: del is ENOENT-tolerant; delete_if as s3_object_delete_if (0, ENOENT,
	 * S3F_E_S3_PRECOND with cur, ...); the batch forms fill results[i]. */
	int (*del)(struct s3_client *c, const char *key);
	int (*delete_if)(struct s3_client *c, const char *key, const char *etag,
			 struct s3_object_info *cur);
	int (*objects_delete)(struct s3_client *c, const char *const *keys, size_t n,
			      int *results);
	int (*objects_delete_if)(struct s3_client *c, const char *const *keys,
				 const char *const *etags, size_t n, int *results);
	void (*single_deletes_set)(struct s3_client *c, bool on);

	/* Server-side copy; dst_cond NULL: none (s3_object_copy). */
	int (*copy_if)(struct s3_client *c, const char *src_key, const char *dst_key,
		       const struct s3_put_opts *opts, const struct s3_cond *src_cond,
		       const struct s3_cond *dst_cond, struct s3_object_info *out);

	/* One page; page is the caller's to free with s3_list_page_free (heap strings). */
	int (*list)(struct s3_client *c, const struct s3_list_req *req,
		    struct s3_list_page *page);

	int (*mpu_create)(struct s3_client *c, const char *key, const struct s3_put_opts *opts,
			  char upload_id[S3_UPLOAD_ID_MAX]);
	int (*mpu_part_fd)(struct s3_client *c, const char *key, const char *upload_id,
			   unsigned number, int fd, uint64_t off, uint64_t len,
			   struct s3_part *out);
	int (*mpu_complete)(struct s3_client *c, const char *key, const char *upload_id,
			    const struct s3_part *parts, size_t n, const struct s3_cond *cond,
			    struct s3_object_info *out);
	int (*mpu_abort)(struct s3_client *c, const char *key, const char *upload_id);
	int (*mpu_list)(struct s3_client *c, const char *prefix, struct s3_upload **out,
			size_t *n);

	/* Conditional-write capabilities: probed (or known) once, kept in the client. */
	int (*caps_probe)(struct s3_client *c, const char *probe_key, struct s3_caps *out);
	void (*caps_get)(struct s3_client *c, struct s3_caps *out);
	void (*caps_set)(struct s3_client *c, const struct s3_caps *caps);

	int (*presign_get)(struct s3_client *c, const char *key, unsigned expires_s,
			   char **url);
	/* s3.h's fault rules (the libcurl implementation's; s3_mem.h has its own). */
	int (*fault_set)(struct s3_client *c, const struct s3_fault_rule *rules, size_t n);
	void (*fault_fired)(struct s3_client *c, unsigned *counts, size_t n);

	/* Batches. batch_open NULL: s3_client.c runs each queued request at once through
	 * the operations above, on the caller's thread (results are then ready before
	 * s3_batch_wait, which the contract allows). Otherwise the queueing calls may run
	 * the request in the background until batch_wait, which frees b. */
	int (*batch_open)(struct s3_client *c, struct s3_batch_impl **out);
	int (*batch_put_buf)(struct s3_batch_impl *b, const char *key, const void *data,
			     size_t len, const struct s3_put_opts *opts,
			     struct s3_object_info *out, int *rc);
	int (*batch_get_fd)(struct s3_batch_impl *b, const char *key, uint64_t off, uint64_t len,
			    int fd, uint64_t fd_off, uint64_t *got, struct s3_object_info *info,
			    int *rc);
	int (*batch_get_buf)(struct s3_batch_impl *b, const char *key, uint64_t off,
			     uint64_t len, struct s3_buf *buf, const struct s3_cond *cond,
			     struct s3_object_info *info, int *rc);
	int (*batch_head)(struct s3_batch_impl *b, const char *key, struct s3_object_info *info,
			  int *rc);
	int (*batch_wait)(struct s3_batch_impl *b);
};

/* The libcurl implementation (s3.c, s3_io.c). */
extern const struct s3_ops s3_curl_ops;

#endif
