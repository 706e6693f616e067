/*
 * conflict.c — both sides changed a file: S3 wins.
 *
 * A conflict is found in three places: a listing shows a new ETag (or no object) for a
 * dirty file (core/engine/import.c via ns_import_apply/ns_import_finish), a conditional upload is
 * refused with 412 (commit.c), or a directory move finds the object changed (rename.c).
 * Each only marks the inode CONFLICT; this file resolves it, at the next commit pass
 * (every worker tick, whatever Commit_Interval, and on `s3filesctl commit`):
 *
 *   1. HEAD the key: what S3 holds now (or that it deleted the object).
 *   2. If S3 holds exactly the file-side bytes (an upload of ours whose record a crash
 *      lost: same MD5 as the local data, single-part ETag), it was no conflict: the file
 *      is marked clean.
 *   3. Otherwise ns_conflict_resolve moves the inode into lost+found (one transaction),
 *      and the directory is listed again at once, so S3's version takes the name.
 *   4. One `conflict` event (key, path, lost+found name, both ETags and times) and the export's
 *      conflicts counter.
 * Nothing is ever deleted here: the file-side version is kept locally in lost+found (it
 * is never uploaded or evicted), S3's is untouched.
 */
#include "syncd.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "engine/import.h"
#include "base/log.h"
#include "ns/ns_sync.h"

#define SYNC_MD5_BUF (1024 * 1024)

/* MD5 (hex) of the first size bytes of ino's data file, or of a symlink target. */
static int sync_local_md5(struct sync_export *se, const struct ns_conflict *c, char hex[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *buf = NULL;
	int fd = -1, rc = ENOMEM;

	if (!ctx)
		goto out;
	if (!EVP_DigestInit_ex(ctx, EVP_md5(), NULL)) {
		rc = EIO;
		goto out;
	}
	if (c->in.type == META_T_LNK) {
		size_t len = 0;

		buf = malloc(4096);
		if (!buf)
			goto out;
		rc = ns_readlink(se->x->ns, c->ino, buf, 4096, &len);
		if (rc)
			goto out;
		if (!EVP_DigestUpdate(ctx, buf, len)) {
			rc = EIO;
			goto out;
		}
	} else {
		buf = malloc(SYNC_MD5_BUF);
		if (!buf)
			goto out;
		/* No data file: never written, all zeros (a hole or an empty file). */
		rc = data_file_open_locked(se->x->data, c->ino, 0, false, &fd);
		if (rc && rc != ENOENT)
			goto out;
		for (uint64_t off = 0; off < c->in.size;) {
			size_t want = c->in.size - off > SYNC_MD5_BUF ? SYNC_MD5_BUF :
				      (size_t)(c->in.size - off), got = 0;

			rc = fd >= 0 ? data_file_read(fd, buf, want, off, &got) : 0;
			if (rc)
				goto unlock;
			if (got < want)
				memset(buf + got, 0, want - got);	/* sparse tail */
			if (!EVP_DigestUpdate(ctx, buf, want)) {
				rc = EIO;
				goto unlock;
			}
			off += want;
		}
	}
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 16) {
		rc = EIO;
		goto unlock;
	}
	for (unsigned i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	rc = 0;
unlock:
	if (fd >= 0)
		data_file_unlock(fd);
out:
	if (fd >= 0)
		data_file_close(se->x->data, fd);
	free(buf);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* Does S3's object (info) hold exactly the file-side version? Only decidable for a
 * single-part ETag (an MD5) of a file that is all local; anything else counts as no. */
static bool sync_conflict_is_ours(struct sync_export *se, const struct ns_conflict *c,
				  const struct s3_object_info *info)
{
	char hex[33];

	if (strlen(info->etag) != 32 || strchr(info->etag, '-') || info->size != c->in.size)
		return false;
	if (c->in.type == META_T_REG && c->in.data != META_D_FULL)
		return false;
	if (sync_local_md5(se, c, hex) != 0)
		return false;
	return strcasecmp(hex, info->etag) == 0;
}

static void sync_conflict_event(struct sync_export *se, const struct ns_conflict *c,
				const struct ns_conflict_result *r, const struct s3_object_info *cur,
				bool s3_deleted)
{
	char lf[sizeof "lost+found/" + META_NAME_MAX];
	struct journal_field f[11];
	size_t n = 0;

	snprintf(lf, sizeof lf, "lost+found/%s", r->lf_name);
	f[n++] = JF_B("key", c->key, c->key_len);
	f[n++] = JF_S("s3", s3_deleted ? "deleted" : "changed");
	f[n++] = JF_S("etag_base", c->in.etag);
	f[n++] = JF_S("etag_s3", s3_deleted ? "" : cur->etag);
	f[n++] = JF_S("lost_found", lf);
	f[n++] = JF_U("ino", c->ino);
	f[n++] = JF_U("size", c->in.size);
	f[n++] = JF_U("lost_bytes", r->lost_bytes ? 1 : 0);
	/* Both versions' times (`s3filesctl conflicts`): the file side's last change, and
	 * S3's Last-Modified (absent when S3 deleted the object). */
	f[n++] = JF_I("mtime_file", c->in.mtime_ns / 1000000000LL);
	if (!s3_deleted)
		f[n++] = JF_I("mtime_s3", cur->last_modified);
	(void)journal_append(se->x->journal, JOURNAL_CONFLICT, f, n, NULL);
}

int sync_conflict_resolve(struct sync_export *se, uint64_t ino, struct sync_result *res)
{
	struct export_ctx *x = se->x;
	struct ns_conflict *c;
	struct ns_conflict_result r;
	struct s3_object_info cur;
	bool deleted;
	int rc;

	c = malloc(sizeof *c);
	if (!c)
		return ENOMEM;
	for (int attempt = 0;; attempt++) {
		rc = ns_conflict_prepare(x->ns, ino, c);
		if (rc == EALREADY || rc == ENOENT) {
			rc = 0;
			goto out;
		}
		if (rc)
			goto out;
		memset(&cur, 0, sizeof cur);
		rc = s3_object_head(x->s3, c->key, &cur);
		if (rc && rc != ENOENT)
			goto out;	/* S3 unreachable: the conflict waits for the next pass */
		deleted = rc == ENOENT;
		if (!deleted && sync_conflict_is_ours(se, c, &cur)) {
			rc = ns_conflict_same(x->ns, c, &cur);
			if (rc == 0) {
				LOG_INFO(LOG_C_SYNC, "export %u: '%s' in S3 is the file-side version "
					 "(etag %s): no conflict", se->cfg->export_id,
					 LOG_ESCS(c->key), cur.etag);
				goto out;
			}
			if (rc != EAGAIN)
				goto out;
		}
		rc = ns_conflict_resolve(x->ns, c, meta_now_ns(), &r);
		if (rc == EAGAIN && attempt < 3)
			continue;	/* renamed or written meanwhile: look again */
		if (rc == EALREADY || rc == ENOENT) {
			rc = 0;
			goto out;
		}
		if (rc)
			goto out;
		break;
	}
	sync_conflict_event(se, c, &r, &cur, deleted);
	res->conflicts++;
	LOG_WARN(LOG_C_SYNC, "export %u: conflict on '%s': %s in S3 (%s) while changed on the "
		 "file side; S3 wins, the file-side version is lost+found/%s%s",
		 se->cfg->export_id, LOG_ESCS(c->key), deleted ? "deleted" : "changed",
		 deleted ? "-" : cur.etag, LOG_ESCS(r.lf_name),
		 r.lost_bytes ? " (bytes never fetched from the old version read as EIO)" : "");
	/* S3's version takes the name now, not at the next poll. Lock order: the caller
	 * holds commit_lock. */
	pthread_mutex_lock(&se->import_lock);
	rc = import_dir(x, c->parent, NULL);
	pthread_mutex_unlock(&se->import_lock);
	if (rc && rc != EAGAIN && rc != ENOENT && rc != ENOTDIR)
		LOG_WARN(LOG_C_SYNC, "export %u: listing the directory of '%s' after its conflict: "
			 "%s (the next poll shows S3's version)", se->cfg->export_id, LOG_ESCS(c->key),
			 s3f_strerror(rc));
	rc = 0;
out:
	free(c);
	return rc;
}
