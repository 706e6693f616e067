/*
 * hydrate.c — see hydrate.h.
 */
#include "hydrate.h"

#include <errno.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "rangeset.h"

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
	/* The data of this inode lives under the key it is bound to in S3. */
	if (!(in.flags & META_F_IN_S3) || !in.etag[0]) {
		/* Never uploaded and not local: the missing bytes are a hole (zeros). */
		rc = 0;
		goto done;
	}
	rc = ns_key_of(x->ns, ino, key, sizeof key, &keylen);
	if (rc)
		goto out;
	if (fd < 0) {
		rc = data_file_open_locked(x->data, ino, DATA_CREATE, false, &fd);
		if (rc)
			goto out;
	}
	for (size_t i = 0; i < miss.n; i++) {
		struct s3_cond cond = { .if_match = in.etag };
		uint64_t roff = miss.r[i].start, rlen = miss.r[i].end - miss.r[i].start, got = 0;

		if (rlen >= HYDRATE_PARALLEL_MIN) {
			rc = s3_object_get_parallel(x->s3, key, roff, rlen, fd, roff, 0, 0, &cond,
						    NULL);
			got = rc ? 0 : rlen;
		} else {
			rc = s3_object_get_fd(x->s3, key, roff, rlen, fd, roff, &cond, &got, NULL);
		}
		if (rc) {
			if (rc != S3F_E_S3_PRECOND)
				LOG_WARN(LOG_C_DATA, "fetch of '%s' [%llu, +%llu) failed: %s", key,
					 (unsigned long long)roff, (unsigned long long)rlen,
					 s3f_strerror(rc));
			goto out;
		}
		if (got != rlen) {
			LOG_WARN(LOG_C_DATA, "fetch of '%s' [%llu, +%llu) returned %llu bytes", key,
				 (unsigned long long)roff, (unsigned long long)rlen,
				 (unsigned long long)got);
			rc = S3F_E_S3_PROTO;
			goto out;
		}
		if (st) {
			st->fetched_bytes += got;
			st->requests++;
		}
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
