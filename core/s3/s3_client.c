/*
 * s3_client.c — the s3_* calls of s3.h that take a client, dispatched to the client's
 * implementation (s3_ops.h). Nothing here talks to S3: the libcurl implementation is in
 * s3.c and s3_io.c, the in-memory one in s3_mem.c.
 */
#include "s3/s3_int.h"

#include <errno.h>
#include <stdlib.h>

void s3_client_close(struct s3_client *c)
{
	if (c)
		c->ops->close(c);
}

int s3_object_get_fd(struct s3_client *c, const char *key, uint64_t off, uint64_t len, int fd,
		     uint64_t fd_off, const struct s3_cond *cond, uint64_t *got,
		     struct s3_object_info *info)
{
	return c->ops->get_fd(c, key, off, len, fd, fd_off, cond, got, info);
}

int s3_object_get_buf(struct s3_client *c, const char *key, uint64_t off, uint64_t len,
		      struct s3_buf *buf, const struct s3_cond *cond, struct s3_object_info *info)
{
	return c->ops->get_buf(c, key, off, len, buf, cond, info);
}

int s3_object_get_parallel(struct s3_client *c, const char *key, uint64_t off, uint64_t len,
			   int fd, uint64_t fd_off, uint64_t chunk, unsigned streams,
			   const struct s3_cond *cond, struct s3_object_info *info)
{
	return c->ops->get_parallel(c, key, off, len, fd, fd_off, chunk, streams, cond, info);
}

int s3_object_head(struct s3_client *c, const char *key, struct s3_object_info *info)
{
	return c->ops->head(c, key, info);
}

int s3_object_put_buf(struct s3_client *c, const char *key, const void *data, size_t len,
		      const struct s3_put_opts *opts, struct s3_object_info *out)
{
	return c->ops->put_buf(c, key, data, len, opts, out);
}

int s3_object_put_fd(struct s3_client *c, const char *key, int fd, uint64_t off, uint64_t len,
		     const struct s3_put_opts *opts, struct s3_object_info *out)
{
	return c->ops->put_fd(c, key, fd, off, len, opts, out);
}

int s3_object_delete(struct s3_client *c, const char *key)
{
	return c->ops->del(c, key);
}

int s3_object_delete_if(struct s3_client *c, const char *key, const char *etag,
			struct s3_object_info *cur)
{
	return c->ops->delete_if(c, key, etag, cur);
}

int s3_objects_delete_if(struct s3_client *c, const char *const *keys, const char *const *etags,
			 size_t n, int *results)
{
	return c->ops->objects_delete_if(c, keys, etags, n, results);
}

int s3_objects_delete(struct s3_client *c, const char *const *keys, size_t n, int *results)
{
	return c->ops->objects_delete(c, keys, n, results);
}

void s3_client_single_deletes_set(struct s3_client *c, bool on)
{
	c->ops->single_deletes_set(c, on);
}

int s3_object_copy(struct s3_client *c, const char *src_key, const char *dst_key,
		   const struct s3_put_opts *opts, const struct s3_cond *src_cond,
		   struct s3_object_info *out)
{
	return c->ops->copy_if(c, src_key, dst_key, opts, src_cond, NULL, out);
}

int s3_object_copy_if(struct s3_client *c, const char *src_key, const char *dst_key,
		      const struct s3_put_opts *opts, const struct s3_cond *src_cond,
		      const struct s3_cond *dst_cond, struct s3_object_info *out)
{
	return c->ops->copy_if(c, src_key, dst_key, opts, src_cond, dst_cond, out);
}

int s3_list(struct s3_client *c, const struct s3_list_req *req, struct s3_list_page *page)
{
	return c->ops->list(c, req, page);
}

int s3_mpu_create(struct s3_client *c, const char *key, const struct s3_put_opts *opts,
		  char upload_id[S3_UPLOAD_ID_MAX])
{
	return c->ops->mpu_create(c, key, opts, upload_id);
}

int s3_mpu_part_fd(struct s3_client *c, const char *key, const char *upload_id,
		   unsigned number, int fd, uint64_t off, uint64_t len, struct s3_part *out)
{
	return c->ops->mpu_part_fd(c, key, upload_id, number, fd, off, len, out);
}

int s3_mpu_complete(struct s3_client *c, const char *key, const char *upload_id,
		    const struct s3_part *parts, size_t n, const struct s3_cond *cond,
		    struct s3_object_info *out)
{
	return c->ops->mpu_complete(c, key, upload_id, parts, n, cond, out);
}

int s3_mpu_abort(struct s3_client *c, const char *key, const char *upload_id)
{
	return c->ops->mpu_abort(c, key, upload_id);
}

int s3_mpu_list(struct s3_client *c, const char *prefix, struct s3_upload **out, size_t *n)
{
	return c->ops->mpu_list(c, prefix, out, n);
}

int s3_caps_probe(struct s3_client *c, const char *probe_key, struct s3_caps *out)
{
	return c->ops->caps_probe(c, probe_key, out);
}

void s3_caps_get(struct s3_client *c, struct s3_caps *out)
{
	c->ops->caps_get(c, out);
}

void s3_caps_set(struct s3_client *c, const struct s3_caps *caps)
{
	c->ops->caps_set(c, caps);
}

int s3_presign_get(struct s3_client *c, const char *key, unsigned expires_s, char **url)
{
	return c->ops->presign_get(c, key, expires_s, url);
}

int s3_fault_set(struct s3_client *c, const struct s3_fault_rule *rules, size_t n)
{
	return c->ops->fault_set(c, rules, n);
}

void s3_fault_fired(struct s3_client *c, unsigned *counts, size_t n)
{
	c->ops->fault_fired(c, counts, n);
}

/* ---- batches ---- */

/* impl NULL: an implementation without batches of its own (s3_ops.batch_open NULL): each
 * request ran when queued, first holds the first error in queueing order. */
struct s3_batch {
	struct s3_client *c;
	struct s3_batch_impl *impl;
	int first;
};

int s3_batch_open(struct s3_client *c, struct s3_batch **out)
{
	struct s3_batch *b = calloc(1, sizeof *b);
	int rc;

	*out = NULL;
	if (!b)
		return ENOMEM;
	b->c = c;
	if (c->ops->batch_open) {
		rc = c->ops->batch_open(c, &b->impl);
		if (rc) {
			free(b);
			return rc;
		}
	}
	*out = b;
	return 0;
}

/* A request of a serial batch has run: keep its result as the batch would. */
static int batch_ran(struct s3_batch *b, int rc, int *rcp)
{
	if (rcp)
		*rcp = rc;
	if (rc && !b->first)
		b->first = rc;
	return 0;
}

int s3_batch_put_buf(struct s3_batch *b, const char *key, const void *data, size_t len,
		     const struct s3_put_opts *opts, struct s3_object_info *out, int *rc)
{
	if (b->impl)
		return b->c->ops->batch_put_buf(b->impl, key, data, len, opts, out, rc);
	if (!data && len)
		return EINVAL;
	return batch_ran(b, s3_object_put_buf(b->c, key, data ? data : "", len, opts, out), rc);
}

int s3_batch_get_fd(struct s3_batch *b, const char *key, uint64_t off, uint64_t len, int fd,
		    uint64_t fd_off, uint64_t *got, struct s3_object_info *info, int *rc)
{
	uint64_t n = 0;
	int err;

	if (b->impl)
		return b->c->ops->batch_get_fd(b->impl, key, off, len, fd, fd_off, got, info, rc);
	if (len == 0)
		return EINVAL;
	err = s3_object_get_fd(b->c, key, off, len, fd, fd_off, NULL, &n, info);
	if (got)
		*got = err ? 0 : n;
	return batch_ran(b, err, rc);
}

int s3_batch_get_buf(struct s3_batch *b, const char *key, uint64_t off, uint64_t len,
		     struct s3_buf *buf, const struct s3_cond *cond, struct s3_object_info *info,
		     int *rc)
{
	int err;

	if (b->impl)
		return b->c->ops->batch_get_buf(b->impl, key, off, len, buf, cond, info, rc);
	if (len == 0 || !buf)
		return EINVAL;
	buf->len = 0;
	err = s3_object_get_buf(b->c, key, off, len, buf, cond, info);
	if (err)
		buf->len = 0;
	return batch_ran(b, err, rc);
}

int s3_batch_head(struct s3_batch *b, const char *key, struct s3_object_info *info, int *rc)
{
	if (b->impl)
		return b->c->ops->batch_head(b->impl, key, info, rc);
	return batch_ran(b, s3_object_head(b->c, key, info), rc);
}

int s3_batch_wait(struct s3_batch *b)
{
	int rc = b->impl ? b->c->ops->batch_wait(b->impl) : b->first;

	free(b);
	return rc;
}
