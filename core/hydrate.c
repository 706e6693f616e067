/*
 * hydrate.c — see hydrate.h.
 */
#include "hydrate.h"

#include <errno.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "rangeset.h"

/* GET the ranges of miss from key, pinned to etag, into fd. */
static int hydrate_fetch(struct export_ctx *x, const char *key, const char *etag, int fd,
			 const struct rangeset *miss, struct hydrate_stats *st)
{
	int rc = 0;

	for (size_t i = 0; i < miss->n; i++) {
		struct s3_cond cond = { .if_match = etag };
		uint64_t roff = miss->r[i].start, rlen = miss->r[i].end - miss->r[i].start, got = 0;

		if (rlen >= HYDRATE_PARALLEL_MIN) {
			rc = s3_object_get_parallel(x->s3, key, roff, rlen, fd, roff, 0, 0, &cond,
						    NULL);
			got = rc ? 0 : rlen;
		} else {
			rc = s3_object_get_fd(x->s3, key, roff, rlen, fd, roff, &cond, &got, NULL);
		}
		if (rc) {
			if (rc != S3F_E_S3_PRECOND && rc != ENOENT)
				LOG_WARN(LOG_C_DATA, "fetch of '%s' [%llu, +%llu) failed: %s", key,
					 (unsigned long long)roff, (unsigned long long)rlen,
					 s3f_strerror(rc));
			return rc;
		}
		if (got != rlen) {
			LOG_WARN(LOG_C_DATA, "fetch of '%s' [%llu, +%llu) returned %llu bytes", key,
				 (unsigned long long)roff, (unsigned long long)rlen,
				 (unsigned long long)got);
			return S3F_E_S3_PROTO;
		}
		if (st) {
			st->fetched_bytes += got;
			st->requests++;
		}
	}
	return 0;
}

int hydrate_range(struct export_ctx *x, uint64_t ino, int fd_in, uint64_t off, uint64_t len,
		  struct meta_inode *in_out, struct hydrate_stats *st)
{
	struct rangeset have = RANGESET_INIT, miss = RANGESET_INIT;
	struct meta_inode in;
	char key[S3_KEY_MAX + 1];
	size_t keylen;
	uint64_t start, end;
	int fd = fd_in, rc;

	if (!x->s3)
		return EINVAL;
	rc = ns_data_present(x->ns, ino, &have, &in);
	if (rc)
		goto out;
	if (in.type != META_T_REG) {
		rc = EINVAL;
		goto out;
	}
	if (in.data == META_D_FULL || off >= in.size || len == 0)
		goto done;
	/* Whole chunks, clipped to the file. */
	start = off - off % HYDRATE_CHUNK;
	end = off + len > in.size ? in.size : off + len;
	end = end + (HYDRATE_CHUNK - end % HYDRATE_CHUNK) % HYDRATE_CHUNK;
	if (end > in.size)
		end = in.size;
	rc = rangeset_missing(&have, start, end, &miss);
	if (rc || miss.n == 0)
		goto done;
	/* The data of this inode lives in the object it is based on: under its key, or still
	 * under an old key while a rename is carried out in S3. That can move between our
	 * lookup and the GET; a vanished or changed source is looked up again. */
	for (int attempt = 0;; attempt++) {
		char etag[S3_ETAG_MAX], etag2[S3_ETAG_MAX], key2[S3_KEY_MAX + 1];
		size_t keylen2;

		rc = ns_data_source(x->ns, ino, key, sizeof key, &keylen, etag);
		if (rc == ENODATA) {
			/* Never uploaded and not local: the missing bytes are a hole (zeros). */
			rc = 0;
			goto done;
		}
		if (rc)
			goto out;
		if (fd < 0) {
			rc = data_file_open_locked(x->data, ino, DATA_CREATE, false, &fd);
			if (rc)
				goto out;
		}
		rc = hydrate_fetch(x, key, etag, fd, &miss, st);
		if (rc == 0) {
			snprintf(in.etag, sizeof in.etag, "%s", etag);
			break;
		}
		if ((rc != ENOENT && rc != S3F_E_S3_PRECOND) || attempt == 2)
			goto out;
		if (ns_data_source(x->ns, ino, key2, sizeof key2, &keylen2, etag2) != 0 ||
		    (keylen2 == keylen && memcmp(key2, key, keylen) == 0 && strcmp(etag, etag2) == 0))
			goto out;
	}
	rc = data_file_sync(fd);
	if (rc)
		goto out;
	for (size_t i = 0; i < miss.n; i++) {
		rc = ns_data_fetched(x->ns, ino, in.etag, miss.r[i].start,
				     miss.r[i].end - miss.r[i].start, &in);
		if (rc)
			goto out;
	}
done:
	if (in_out)
		*in_out = in;
out:
	if (fd >= 0 && fd_in < 0) {
		data_file_unlock(fd);
		data_file_close(x->data, fd);
	}
	rangeset_free(&have);
	rangeset_free(&miss);
	return rc;
}

int hydrate_symlink(struct export_ctx *x, uint64_t ino, char *buf, size_t cap, size_t *len)
{
	char key[S3_KEY_MAX + 1], etag[S3_ETAG_MAX];
	struct s3_cond cond = { .if_match = etag };
	struct s3_buf b = { .data = buf, .cap = cap - 1, .fixed = true };
	size_t keylen;
	int rc;

	rc = ns_readlink(x->ns, ino, buf, cap, len);
	if (rc != ENOENT)
		return rc;
	/* A symlink without a recorded target: one imported from S3. */
	if (!x->s3)
		return EINVAL;
	rc = ns_data_source(x->ns, ino, key, sizeof key, &keylen, etag);
	if (rc == ENODATA)
		return EIO;	/* a symlink never uploaded always has its target recorded */
	if (rc)
		return rc;
	rc = s3_object_get_buf(x->s3, key, 0, UINT64_MAX, &b, &cond, NULL);
	if (rc == EOVERFLOW)
		return ENAMETOOLONG;
	if (rc)
		return rc;
	if (b.len == 0 || memchr(buf, '\0', b.len))
		return EIO;	/* not a path: an empty or binary "target" */
	buf[b.len] = '\0';
	*len = b.len;
	rc = ns_symlink_fetched(x->ns, ino, etag, buf, b.len);
	return rc == S3F_E_S3_PRECOND ? 0 : rc;	/* changed meanwhile: serve, do not record */
}
