/*
 * hydrate.c — see hydrate.h.
 *
 * Why a staging file rather than a lock held across the GET: a GET can take seconds (or
 * the whole retry budget during an S3 outage), and client writes must not wait for S3.
 * The exclusive lock is held only for a local copy (copy_file_range, which shares blocks
 * on file systems that can) and one fdatasync.
 */
#include "engine/hydrate.h"

#include <errno.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/rangeset.h"
#include "base/tp.h"

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
				LOG_WARN(LOG_C_DATA, "fetch of '%s' [%llu, +%llu) failed: %s", LOG_ESCS(key),
					 (unsigned long long)roff, (unsigned long long)rlen,
					 s3f_strerror(rc));
			return rc;
		}
		if (got != rlen) {
			LOG_WARN(LOG_C_DATA, "fetch of '%s' [%llu, +%llu) returned %llu bytes", LOG_ESCS(key),
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

int hydrate_install(struct export_ctx *x, uint64_t ino, const char *etag, int stage_fd,
		    const struct rangeset *fetched, uint64_t *installed)
{
	struct rangeset have = RANGESET_INIT, still = RANGESET_INIT;
	struct meta_inode in;
	uint64_t copied = 0;
	int fd = -1, rc;

	if (installed)
		*installed = 0;
	/* Exclusive: this process's deferred writes of ino are recorded first (fio.c). */
	rc = data_file_open_locked(x->data, ino, DATA_CREATE, true, &fd);
	if (rc)
		return rc;
	TP("hydrate.install.locked");
	/* The record as it is now, with every client operation of the file excluded. */
	rc = ns_data_present(x->ns, ino, &have, &in);
	if (rc)
		goto out;
	if (in.type != META_T_REG || strcmp(in.etag, etag) != 0) {
		rc = S3F_E_S3_PRECOND;
		goto out;
	}
	if (in.data == META_D_FULL)
		goto out;
	/* still = fetched \ have, within [0, size): copied, made durable, then recorded. */
	for (size_t i = 0; i < fetched->n && rc == 0; i++) {
		struct rangeset part = RANGESET_INIT;
		uint64_t lo = fetched->r[i].start, hi = fetched->r[i].end;

		if (hi > in.size)
			hi = in.size;
		if (lo >= hi)
			continue;
		rc = rangeset_missing(&have, lo, hi, &part);
		for (size_t j = 0; j < part.n && rc == 0; j++)
			rc = rangeset_add(&still, part.r[j].start, part.r[j].end);
		rangeset_free(&part);
	}
	for (size_t j = 0; j < still.n && rc == 0; j++) {
		rc = data_file_copy(fd, stage_fd, still.r[j].start, still.r[j].end - still.r[j].start);
		copied += still.r[j].end - still.r[j].start;
	}
	if (rc == 0 && still.n)
		rc = data_file_durable(x->data, ino, fd);
	for (size_t j = 0; j < still.n && rc == 0; j++)
		rc = ns_data_fetched(x->ns, ino, etag, still.r[j].start,
				     still.r[j].end - still.r[j].start, NULL);
	if (rc == 0 && installed)
		*installed = copied;
out:
	data_file_unlock(fd);
	data_file_close(x->data, fd);
	rangeset_free(&have);
	rangeset_free(&still);
	return rc;
}

/* The next window of miss: its ranges from *idx (*part bytes into it already taken) up
 * to HYDRATE_WINDOW bytes, split where the window ends. */
static int hydrate_window(const struct rangeset *miss, size_t *idx, uint64_t *part,
			  struct rangeset *win)
{
	uint64_t room = HYDRATE_WINDOW;

	rangeset_clear(win);
	while (*idx < miss->n && room > 0) {
		uint64_t a = miss->r[*idx].start + *part, b = miss->r[*idx].end;

		if (b - a > room)
			b = a + room;
		if (rangeset_add(win, a, b))
			return ENOMEM;
		room -= b - a;
		if (b == miss->r[*idx].end) {
			(*idx)++;
			*part = 0;
		} else {
			*part += b - a;
		}
	}
	return 0;
}

/* Fetch miss from key (pinned to etag) window by window through a staging file and
 * install each window. */
static int hydrate_fetch_install(struct export_ctx *x, uint64_t ino, const char *key,
				 const char *etag, const struct rangeset *miss,
				 struct hydrate_stats *st)
{
	struct rangeset win = RANGESET_INIT;
	uint64_t part = 0, installed;
	size_t idx = 0;
	int sfd = -1, rc;

	rc = data_stage_open(x->data, &sfd);
	if (rc)
		return rc;
	while (idx < miss->n) {
		rc = hydrate_window(miss, &idx, &part, &win);
		if (rc == 0)
			rc = hydrate_fetch(x, key, etag, sfd, &win, st);
		TP("hydrate.fetched");
		if (rc == 0)
			rc = hydrate_install(x, ino, etag, sfd, &win, &installed);
		if (rc)
			break;
		if (st)
			st->installed_bytes += installed;
		/* Give the window's blocks back before the next one. */
		rc = data_file_truncate(sfd, 0);
		if (rc)
			break;
	}
	data_file_close(x->data, sfd);
	rangeset_free(&win);
	return rc;
}

int hydrate_range(struct export_ctx *x, uint64_t ino, uint64_t off, uint64_t len,
		  struct hydrate_stats *st)
{
	struct rangeset have = RANGESET_INIT, miss = RANGESET_INIT;
	struct meta_inode in;
	char key[S3_KEY_MAX + 1];
	size_t keylen;
	uint64_t start, end;
	int rc;

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
		goto out;
	/* Whole chunks, clipped to the file. */
	start = off - off % HYDRATE_CHUNK;
	end = off + len > in.size || off + len < off ? in.size : off + len;
	end = end + (HYDRATE_CHUNK - end % HYDRATE_CHUNK) % HYDRATE_CHUNK;
	if (end > in.size)
		end = in.size;
	rc = rangeset_missing(&have, start, end, &miss);
	if (rc || miss.n == 0)
		goto out;
	/* The data of this inode lives in the object it is based on: under its key, or still
	 * under an old key while a rename is carried out in S3. That can move between our
	 * lookup and the GET; a vanished or changed source is looked up again. */
	for (int attempt = 0;; attempt++) {
		char etag[S3_ETAG_MAX], etag2[S3_ETAG_MAX], key2[S3_KEY_MAX + 1];
		size_t keylen2;

		rc = ns_data_source(x->ns, ino, key, sizeof key, &keylen, etag);
		if (rc)
			goto out;	/* ENODATA: never uploaded and not local: a hole */
		rc = hydrate_fetch_install(x, ino, key, etag, &miss, st);
		if (rc == 0)
			break;
		if ((rc != ENOENT && rc != S3F_E_S3_PRECOND) || attempt == 2)
			goto out;
		if (ns_data_source(x->ns, ino, key2, sizeof key2, &keylen2, etag2) != 0 ||
		    (keylen2 == keylen && memcmp(key2, key, keylen) == 0 && strcmp(etag, etag2) == 0))
			goto out;
	}
out:
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
