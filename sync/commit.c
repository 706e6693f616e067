/*
 * commit.c — file side -> S3: one whole-object PUT per changed file, deletes.
 *
 * A commit is conditional on the S3 state the file was based on: If-Match on the last
 * seen ETag, or If-None-Match: * for a key that did not exist (the S3 client falls back
 * to HEAD-compare where the server supports neither). Mode, owner and mtime travel as
 * object metadata in the same PUT. A failed commit leaves the inode dirty; the next pass
 * tries again, so an outage delays commits and never drops them. When a request fails for
 * lack of an answer and a single listing fails too, S3 is taken to be unreachable: the
 * pass stops there (the rest would fail the same way, each after its retries) and the
 * worker's passes pause for SYNC_DOWN_WAIT_NS (sync_s3_down). Nothing is written before
 * the server's conditional writes are probed (sync_s3_ready), so the daemon can start
 * while S3 is away.
 *
 * Renamed files (ns_rename): the new key is written first, the old one deleted after,
 * so other S3 clients see the new key appear before the old one goes. A file unchanged
 * since its rename is copied on the server (CopyObject); one also written is uploaded.
 * The old key's delete is a pending delete, carried out by the delete pass right after
 * (it survives a crash and is conditional on the old object being the one moved).
 * Directory renames are carried out first in each pass (rename.c), so the files below a
 * renamed directory find their objects where the view says they are.
 *
 * Crashes between an upload and its record (ns_sync.h, "upload intents"): right before the
 * request that makes an object exist, the intent is recorded (the S3 client tells the
 * ETag through s3_put_opts.etag_hook once it has hashed the body; a copy's is its
 * source's), and every object carries its upload's token as x-amz-meta-s3files-upload.
 * An intent left when a pass starts (sync_s3_ready) is settled first: the key is HEADed
 * and an object of ours is recorded as committed, without a second upload and without a
 * conflict; and an upload refused with 412 checks its own intent before it calls the
 * refusal a conflict (a retry after an answer lost on the way is refused by its own
 * first attempt). Test point "sync.commit.uploaded": the object is in S3, its record not
 * yet written.
 *
 * Commit_On_Close: the FSAL marks a file due when its last writer closes or flushes it
 * (ns_commit_request); ns_commit_prepare then lets it through despite min_age, and the
 * upload is the same conditional PUT as any other (conflicts, retries, renames alike).
 * The mark is in the store, so it outlives a failed upload or a restart of this daemon.
 */
#include "syncd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "engine/fio.h"
#include "engine/hydrate.h"
#include "base/log.h"
#include "ns/ns_sync.h"
#include "base/rangeset.h"
#include "base/tp.h"
#include "base/clock.h"
#include "base/buf.h"

/* After S3 was found unreachable, the worker's passes pause this long. */
#define SYNC_DOWN_WAIT_NS (5LL * 1000000000LL)


static void sync_s3_down_mark(struct sync_export *se)
{
	__atomic_store_n(&se->down_until_ns, clock_mono_ns() + SYNC_DOWN_WAIT_NS, __ATOMIC_RELAXED);
}

bool sync_s3_down(struct sync_export *se)
{
	return clock_mono_ns() < __atomic_load_n(&se->down_until_ns, __ATOMIC_RELAXED);
}

/* The conditional-write probe, until it gets an answer. Until then nothing is written:
 * before the probe the client would send If-Match in the standard (quoted) form, which
 * Ceph RGW 16 refuses even for the right ETag, so every overwrite would look like a
 * conflict. A probe that fails for another reason than S3 being unreachable falls back
 * to HEAD-compare, as the probe's failure always meant. */
static int sync_caps_ensure(struct sync_export *se)
{
	char probe[S3_KEY_MAX];
	int rc;

	if (se->caps_known)
		return 0;
	snprintf(probe, sizeof probe, "%s.s3files-probe-%d-%u", se->cfg->prefix, (int)getpid(),
		 se->cfg->export_id);
	rc = s3_caps_probe(se->x->s3, probe, &se->caps);
	if (s3_err_transient(rc)) {
		if (!se->caps_warned)
			LOG_WARN(LOG_C_SYNC, "export %u: S3 does not answer (%s): uploads and "
				 "deletes wait until it does", se->cfg->export_id, s3f_strerror(rc));
		se->caps_warned = true;
		sync_s3_down_mark(se);
		return rc;
	}
	if (rc) {
		memset(&se->caps, 0, sizeof se->caps);
		se->caps.if_match = S3_COND_NONE;
		s3_caps_set(se->x->s3, &se->caps);
		LOG_WARN(LOG_C_SYNC, "export %u: conditional-write probe failed (%s); using "
			 "HEAD-compare", se->cfg->export_id, s3f_strerror(rc));
	} else {
		LOG_INFO(LOG_C_SYNC, "export %u: s3://%s/%s: If-Match %s, If-None-Match %s",
			 se->cfg->export_id, se->cfg->bucket, se->cfg->prefix,
			 se->caps.if_match == S3_COND_NATIVE ? "native" :
			 se->caps.if_match == S3_COND_UNQUOTED ? "unquoted ETag only" :
			 "unsupported (HEAD-compare)",
			 se->caps.if_none_match ? "yes" : "no (HEAD-compare)");
	}
	/* Only Ceph RGW 16 wants If-Match unquoted, and its radosgw aborts on a DeleteObjects
	 * in a bucket with a notification configuration, which a Notify_Listen setting
	 * suggests this bucket has. */
	if (se->notify_hint && se->caps.if_match == S3_COND_UNQUOTED) {
		s3_client_single_deletes_set(se->x->s3, true);
		LOG_INFO(LOG_C_SYNC, "export %u: server behaves like Ceph RGW 16, whose "
			 "DeleteObjects fails in buckets with notifications: deleting one key per "
			 "request", se->cfg->export_id);
	}
	se->caps_known = true;
	return 0;
}

/* The intent in: did its upload land? HEAD the key; *landed: the object is ours, and is
 * now recorded (ns_intent_done). Not ours, or nothing there: the intent is dropped. An
 * S3 error leaves it for the next pass. */
static int sync_intent_settle(struct sync_export *se, const struct meta_intent *in, bool *landed)
{
	struct s3_object_info cur;
	int rc;

	*landed = false;
	memset(&cur, 0, sizeof cur);
	rc = s3_object_head(se->x->s3, in->key, &cur);
	if (rc == 0 && ns_intent_matches(in, &cur)) {
		rc = ns_intent_done(se->x->ns, in, &cur);
		if (rc) {
			LOG_ERROR(LOG_C_SYNC, "export %u: recording the upload of '%s' found in S3 "
				  "failed: %s", se->cfg->export_id, LOG_ESCS(in->key), s3f_strerror(rc));
			return rc;
		}
		*landed = true;
		__atomic_add_fetch(&se->n_commits, 1, __ATOMIC_RELAXED);
		LOG_INFO(LOG_C_SYNC, "export %u: the %s of '%s' (etag %s) had landed before its "
			 "record was written: recorded now", se->cfg->export_id,
			 in->kind == META_INTENT_COPY ? "copy" : "upload", LOG_ESCS(in->key), cur.etag);
		return 0;
	}
	if (rc == 0 || rc == ENOENT) {
		LOG_DEBUG(LOG_C_SYNC, "export %u: the upload of '%s' recorded as intended did not "
			  "land (%s)", se->cfg->export_id, LOG_ESCS(in->key),
			  rc == ENOENT ? "no object" : cur.etag);
		return ns_intent_drop(se->x->ns, in);
	}
	return rc;
}

/* Intents an earlier pass left (the daemon killed, a request whose answer was lost):
 * settled before anything is uploaded, deleted or moved, so that no file's own object
 * is taken for another client's. Under the commit_lock (no upload runs). */
static int sync_intents_settle(struct sync_export *se)
{
	struct meta_intent *l = NULL;
	size_t n = 0;
	int rc, first = 0;

	rc = ns_intent_list(se->x->ns, &l, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		bool landed;
		int r = sync_intent_settle(se, &l[i], &landed);

		if (r && !first)
			first = r;
		if (r && sync_s3_unreachable(se, r))
			break;
	}
	free(l);
	return rc ? rc : first;
}

int sync_s3_ready(struct sync_export *se)
{
	int rc = sync_caps_ensure(se);

	if (rc)
		return rc;
	/* a failed abort is logged and tried again at the next pass; it holds nothing up */
	(void)sync_uploads_abort_orphans(se);
	rc = sync_intents_settle(se);
	if (rc)
		LOG_WARN(LOG_C_SYNC, "export %u: uploads of an earlier pass could not be checked "
			 "(%s): nothing is written until they are", se->cfg->export_id,
			 s3f_strerror(rc));
	return rc;
}

bool sync_s3_unreachable(struct sync_export *se, int rc)
{
	struct s3_list_req req = {
		.prefix = se->cfg->prefix[0] ? se->cfg->prefix : NULL,
		.max_keys = 1,
		.once = true,
	};
	struct s3_list_page pg = { 0 };

	if (!s3_err_transient(rc))
		return false;
	rc = s3_list(se->x->s3, &req, &pg);
	s3_list_page_free(&pg);
	if (!s3_err_transient(rc))
		return false;
	sync_s3_down_mark(se);
	return true;
}

/* Rounds of one commit pass at most (see sync_commit_pass). */
#define SYNC_COMMIT_ROUNDS 16

struct sync_dirty_list {
	uint64_t *ino;
	size_t n, cap;
};

static int sync_dirty_collect(void *arg, uint64_t ino)
{
	struct sync_dirty_list *l = arg;

	if (BUF_GROW(&l->ino, &l->cap, l->n + 1))
		return ENOMEM;
	l->ino[l->n++] = ino;
	return 0;
}

static int sync_meta_for(const struct meta_inode *in, struct s3_meta_pair *pairs, unsigned *n)
{
	struct keymap_attrs a = {
		.has_mode = true, .has_uid = true, .has_gid = true, .has_mtime = true,
		.uid = in->uid, .gid = in->gid,
	};
	static const uint32_t types[] = {
		[META_T_REG] = S_IFREG, [META_T_DIR] = S_IFDIR, [META_T_LNK] = S_IFLNK,
		[META_T_FIFO] = S_IFIFO, [META_T_SOCK] = S_IFSOCK, [META_T_CHR] = S_IFCHR,
		[META_T_BLK] = S_IFBLK,
	};
	uint32_t type = in->type <= META_T_MAX && types[in->type] ? types[in->type] : S_IFREG;
	int64_t sec = in->mtime_ns / 1000000000LL, nsec = in->mtime_ns % 1000000000LL;

	if (nsec < 0) {
		sec--;
		nsec += 1000000000LL;
	}
	a.mode = type | (in->mode & 07777);
	/* A device's number, as s3fs writes it (decimal dev_t). */
	a.has_rdev = in->type == META_T_CHR || in->type == META_T_BLK;
	a.rdev = a.has_rdev ? in->rdev : 0;
	a.mtime_sec = sec;
	a.mtime_nsec = (uint32_t)nsec;
	return keymap_meta_encode(&a, pairs, S3_META_MAX, n);
}

/* Both sides changed the key (the upload was refused): mark it; sync_conflict_resolve
 * settles it right after (S3 wins, the file-side version goes to lost+found). */
static void sync_conflict(struct sync_export *se, const struct ns_commit *c)
{
	int rc = ns_conflict_mark(se->x->ns, c->ino);

	if (rc)
		LOG_WARN(LOG_C_SYNC, "marking conflict failed: %s", s3f_strerror(rc));
	LOG_INFO(LOG_C_SYNC, "export %u: upload of '%s' refused: the object changed in S3 "
		 "since %s", se->cfg->export_id, LOG_ESCS(c->key), c->prev_etag[0] ? c->prev_etag : "(new)");
}

/* A renamed file whose data and attributes are as they were at the rename: copy its
 * object to the new key on the server, with the file's attributes as metadata (REPLACE,
 * the headers an upload would send). The source is checked by HEAD first: RGW ignores
 * x-amz-copy-source-if-match, so the ETag compare is ours (a window of one round trip).
 * CopyObject takes no condition on the destination either: a HEAD checks that the new key
 * is free, or holds the object this file replaces, or our own copy from an attempt whose
 * record was lost in a crash (same ETag as the source). *src_changed: the source was
 * changed or deleted in S3 since the rename; nothing was copied. */
static int sync_copy_moved(struct sync_export *se, const struct ns_commit *c,
			   const struct s3_put_opts *opts, const char *token,
			   struct s3_object_info *info, bool *src_changed,
			   char cur_etag[S3_ETAG_MAX])
{
	struct s3_object_info cur;
	int rc;

	*src_changed = false;
	cur_etag[0] = '\0';
	rc = s3_object_head(se->x->s3, c->src_key, &cur);
	if (rc == ENOENT || (rc == 0 && strcmp(cur.etag, c->src_etag) != 0)) {
		if (rc == 0)
			snprintf(cur_etag, S3_ETAG_MAX, "%s", cur.etag);
		*src_changed = true;
		return 0;
	}
	if (rc)
		return rc;
	rc = s3_object_head(se->x->s3, c->key, &cur);
	if (rc == 0 && strcmp(cur.etag, c->src_etag) != 0 &&
	    !(c->prev_etag[0] && strcmp(cur.etag, c->prev_etag) == 0))
		return S3F_E_S3_PRECOND;
	if (rc && rc != ENOENT)
		return rc;
	/* The copy keeps the source's bytes, and on every server a single-part source's
	 * ETag (their MD5); the token comes with the REPLACEd metadata. */
	rc = ns_intent_begin(se->x->ns, c, META_INTENT_COPY, token, c->src_etag, c->in.size);
	if (rc)
		return rc;
	rc = s3_object_copy(se->x->s3, c->src_key, c->key, opts, NULL, info);
	if (rc == ENOENT) {
		*src_changed = true;	/* deleted between the HEAD and the copy */
		return 0;
	}
	info->size = c->in.size;
	return rc;
}

/* The old object of renamed c changed in S3 before it was moved. Neither version is
 * lost: S3's stays under the old key (and shows under the old name once the binding is
 * released); the file's is uploaded under the new key if all its bytes are local. */
static void sync_source_changed(struct sync_export *se, struct ns_commit *c, const char *cur_etag,
				bool *upload)
{
	struct journal_field f[5];
	int rc;

	*upload = c->in.data == META_D_FULL;
	if (*upload) {
		/* Both versions stay in S3, under two names: this is the conflict's record.
		 * (Otherwise the file is held in conflict, and its resolution records it.) */
		f[0] = JF_B("key", c->key, c->key_len);
		f[1] = JF_B("renamed_from", c->src_key, c->src_len);
		f[2] = JF_S("etag_base", c->src_etag);
		f[3] = JF_S("etag_s3", cur_etag);
		f[4] = JF_U("ino", c->ino);
		(void)journal_append(se->x->journal, JOURNAL_CONFLICT, f, 5, NULL);
		(void)ns_conflicts_add(se->x->ns, 1);
	}
	LOG_WARN(LOG_C_SYNC, "export %u: '%s' (renamed to '%s') changed in S3 before it was moved "
		 "(%s); S3's version stays there%s", se->cfg->export_id, LOG_ESCS(c->src_key),
		 LOG_ESCS(c->key),
		 cur_etag[0] ? cur_etag : "deleted",
		 *upload ? ", the file is uploaded under its new name" :
		 "; the renamed file's data was not local: it is held in conflict");
	if (*upload) {
		c->keep_src = true;
		return;
	}
	rc = ns_commit_source_lost(se->x->ns, c);
	if (rc)
		LOG_WARN(LOG_C_SYNC, "recording the lost source of '%s' failed: %s", LOG_ESCS(c->key),
			 s3f_strerror(rc));
}

/* Upload one inode. 0 = committed (or nothing to do), EAGAIN = not due. */
/* Under the upload's shared data lock: every byte of [0, size) must be present now (the
 * fetch above may have lost a race with an eviction, or an import may have taken a
 * new version): EAGAIN otherwise, and the file is tried again at the next pass. */
static int sync_upload_ready(struct export_ctx *x, uint64_t ino, uint64_t size)
{
	struct rangeset have = RANGESET_INIT;
	struct meta_inode in;
	int rc = ns_data_present(x->ns, ino, &have, &in);

	if (rc == 0 && in.data != META_D_FULL && !rangeset_covers(&have, 0, size))
		rc = EAGAIN;
	rangeset_free(&have);
	return rc;
}

/* ns_commit_prepare. For a regular file, under its EXCLUSIVE data lock (doc/DURABILITY.md,
 * rule C): every client write is then either wholly before the snapshot (its bytes are
 * in the file the upload reads) or announces itself after it (ns_write_begin bumps
 * dirty_gen before its bytes), so ns_commit_done can only call the file clean when the
 * object holds every byte the data file holds, even if a writer dies half-way. */
static int sync_commit_snapshot(struct export_ctx *x, uint64_t ino, int64_t min_age,
				struct ns_commit *c)
{
	struct meta_inode in;
	int fd = -1, rc;

	rc = ns_getattr(x->ns, ino, &in);
	if (rc)
		return rc;
	if (in.type != META_T_REG || in.sync == META_S_CLEAN)
		return ns_commit_prepare(x->ns, ino, min_age, c);
	rc = data_file_open_locked(x->data, ino, DATA_CREATE, true, &fd);
	if (rc)
		return rc;
	TP("sync.commit.snapshot");
	rc = ns_commit_prepare(x->ns, ino, min_age, c);
	data_file_unlock(fd);
	data_file_close(x->data, fd);
	return rc;
}

/* One upload of sync_commit_one, for the S3 client's etag_hook. */
struct sync_upload_ctx {
	struct sync_export *se;
	const struct ns_commit *c;
	char token[META_TOKEN_MAX];
	uint64_t size;		/* bytes the object will have */
};

/* s3_etag_hook_fn: the body is hashed, the request that makes the object exist is next:
 * record the intent (durably) first, or send nothing. */
static int sync_intent_hook(void *arg, const char *key, const char *etag)
{
	struct sync_upload_ctx *u = arg;
	int rc = ns_intent_begin(u->se->x->ns, u->c, META_INTENT_PUT, u->token, etag, u->size);

	if (rc)
		LOG_WARN(LOG_C_SYNC, "export %u: recording the upload of '%s' failed: %s (not "
			 "uploading)", u->se->cfg->export_id, LOG_ESCS(key), s3f_strerror(rc));
	return rc;
}

/* The write of c was refused (412): was it by an earlier attempt of its own, whose answer
 * was lost (the client retries a request that timed out)? Then the object is ours and
 * recorded (*landed). Without an intent of this commit there is nothing to check. */
static int sync_refused_own(struct sync_export *se, const struct ns_commit *c, const char *token,
			    bool *landed)
{
	struct meta_intent *in = malloc(sizeof *in);
	int rc;

	*landed = false;
	if (!in)
		return ENOMEM;
	rc = ns_intent_get(se->x->ns, c->key, c->key_len, in);
	if (rc == 0 && strcmp(in->token, token) == 0)
		rc = sync_intent_settle(se, in, landed);
	else if (rc == 0 || rc == ENOENT)
		rc = 0;
	free(in);
	return rc;
}

static int sync_commit_one(struct sync_export *se, uint64_t ino, int64_t min_age,
			   struct sync_result *res)
{
	struct export_ctx *x = se->x;
	struct ns_commit *c;
	struct s3_meta_pair meta[S3_META_MAX];
	struct s3_put_opts opts = { 0 };
	struct s3_object_info info = { 0 };
	struct sync_upload_ctx up = { .se = se };
	int fd = -1, rc;

	c = malloc(sizeof *c);
	if (!c)
		return ENOMEM;
	c->blocker = 0;
	rc = sync_commit_snapshot(x, ino, min_age, c);
	if (rc == EAGAIN && c->blocker) {
		/* Its key is still another renamed file's old object. That file commits
		 * first and frees it, unless it waits for this one in turn (files that traded
		 * places): then it lets go of its old object (fetched whole, uploaded whole
		 * later) and this one goes now. */
		bool cycle = false;

		if (ns_commit_cycle(x->ns, ino, c->blocker, &cycle) == 0 && cycle &&
		    sync_source_release(x, c->blocker, c->key, c->key_len) == 0)
			rc = sync_commit_snapshot(x, ino, min_age, c);
		if (rc == EAGAIN && c->blocker)
			res->blocked++;
	}
	if (rc == EAGAIN) {
		res->skipped++;
		goto out;
	}
	if (rc == EBUSY) {
		rc = sync_conflict_resolve(se, ino, res);
		goto out;
	}
	if (rc == EALREADY || rc == ENOENT) {
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	if (c->in.flags & META_F_RESERVED) {
		rc = 0;
		goto out;
	}
	__atomic_store_n(&se->committing_ino, ino, __ATOMIC_RELAXED);
	rc = sync_meta_for(&c->in, meta, &opts.n_meta);
	if (rc)
		goto out;
	/* This upload's token, for an intent (ns_sync.h) to recognise the object by. */
	up.c = c;
	rc = ns_token_new(x->ns, up.token);
	if (rc == 0 && opts.n_meta >= S3_META_MAX)
		rc = EOVERFLOW;
	if (rc)
		goto out;
	snprintf(meta[opts.n_meta].name, sizeof meta[opts.n_meta].name, "%s", NS_TOKEN_META);
	snprintf(meta[opts.n_meta].value, sizeof meta[opts.n_meta].value, "%s", up.token);
	opts.n_meta++;
	opts.meta = meta;
	opts.upload_hook = sync_upload_hook;
	opts.upload_hook_arg = se;
	opts.etag_hook = sync_intent_hook;
	opts.etag_hook_arg = &up;
	if (c->in.type != META_T_DIR) {
		if (c->prev_etag[0])
			opts.cond.if_match = c->prev_etag;
		else
			opts.cond.if_none_match_any = true;
	}

	if (c->copy) {
		char cur_etag[S3_ETAG_MAX];
		bool src_changed, upload;

		rc = sync_copy_moved(se, c, &opts, up.token, &info, &src_changed, cur_etag);
		if (rc == 0 && !src_changed)
			goto copied;
		if (rc == 0) {
			sync_source_changed(se, c, cur_etag, &upload);
			if (!upload)
				goto out;	/* held in conflict: resolved at the next pass */
			res->conflicts++;
		} else {
			goto put_done;
		}
	}

	switch (c->in.type) {
	case META_T_DIR:
		opts.content_type = "application/x-directory";
		up.size = 0;
		rc = s3_object_put_buf(x->s3, c->key, "", 0, &opts, &info);
		break;
	case META_T_LNK:
		if (c->target_len == 0) {
			/* imported from S3, target never read: fetch it now (pinned to its
			 * version), then upload it with the new attributes */
			rc = hydrate_symlink(x, ino, c->target, sizeof c->target, &c->target_len);
			if (rc == ENOENT || rc == S3F_E_S3_PRECOND) {
				/* the object changed in S3: the chmod/chown lost against it */
				sync_conflict(se, c);
				rc = sync_conflict_resolve(se, ino, res);
				goto out;
			}
			if (rc)
				break;
		}
		up.size = c->target_len;
		rc = s3_object_put_buf(x->s3, c->key, c->target, c->target_len, &opts, &info);
		break;
	case META_T_FIFO:
	case META_T_SOCK:
	case META_T_CHR:
	case META_T_BLK:
		/* A special file is its metadata: an empty object (s3fs's format). */
		up.size = 0;
		rc = s3_object_put_buf(x->s3, c->key, "", 0, &opts, &info);
		break;
	default:
		/* The whole object goes up: fetch what is not local yet (from the version
		 * the file is based on), without holding the data lock (hydrate.h). */
		if (c->in.data != META_D_FULL)
			rc = hydrate_range(x, ino, 0, c->in.size, NULL);
		if (rc == ENODATA)
			rc = 0;		/* a hole without a source: zeros */
		if (c->moved && !c->keep_src && (rc == ENOENT || rc == S3F_E_S3_PRECOND)) {
			/* The renamed file's old object changed before its bytes were here. */
			bool upload;

			sync_source_changed(se, c, "", &upload);
			rc = 0;
			goto out;
		}
		/* Zeros the record promises but the data file never got (an extension) are
		 * written out, so the file reads as the object. */
		if (rc == 0)
			rc = fio_settle(x, ino);
		if (rc == 0)
			rc = data_file_open_locked(x->data, ino, DATA_CREATE, false, &fd);
		if (rc)
			break;
		/* Shared lock for the upload: no fetch or eviction changes the bytes under it;
		 * client writes may, and show as a newer dirty_gen at ns_commit_done. */
		rc = sync_upload_ready(x, ino, c->in.size);
		TP("sync.commit.upload");
		up.size = c->in.size;
		if (rc == 0)
			rc = s3_object_put_fd(x->s3, c->key, fd, 0, c->in.size, &opts, &info);
		data_file_unlock(fd);
		break;
	}
put_done:
	if (rc == EAGAIN) {	/* not all local after all: the next pass tries again */
		res->skipped++;
		rc = 0;
		goto out;
	}
	if (rc == S3F_E_S3_PRECOND) {
		bool landed;
		struct s3_object_info cur;

		rc = sync_refused_own(se, c, up.token, &landed);
		if (rc == 0 && landed) {
			res->committed++;
			goto out;
		}
		if (rc)
			goto failed;	/* not known: tried again at the next pass */
		if (c->replaces && (rc = s3_object_head(x->s3, c->key, &cur)) != 0) {
			/* The removed file's object it was to replace is gone: deleted by the
			 * delete pass in the meantime. Nothing of anyone's is in the way: the
			 * next pass uploads to a free key. */
			if (rc != ENOENT)
				goto failed;
			res->skipped++;
			rc = 0;
			goto out;
		}
		sync_conflict(se, c);
		rc = sync_conflict_resolve(se, ino, res);
		goto out;
	}
	if (rc) {
		struct journal_field f[2];
failed:

		res->failed++;
		__atomic_add_fetch(&se->n_commit_errors, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&se->fail_rc, rc, __ATOMIC_RELAXED);
		__atomic_store_n(&se->fail_ns, meta_now_ns(), __ATOMIC_RELAXED);
		__atomic_store_n(&se->fail_ino, ino, __ATOMIC_RELAXED);
		f[0] = JF_B("key", c->key, c->key_len);
		f[1] = JF_S("error", s3f_strerror(rc));
		(void)journal_append(x->journal, JOURNAL_COMMIT_FAILED, f, 2, NULL);
		LOG_WARN(LOG_C_SYNC, "export %u: commit of '%s' failed: %s (will retry)",
			 se->cfg->export_id, LOG_ESCS(c->key), s3f_strerror(rc));
		goto out;
	}
copied:
	TP("sync.commit.uploaded");
	rc = ns_commit_done(x->ns, c, &info);
	if (rc) {
		LOG_ERROR(LOG_C_SYNC, "export %u: recording commit of '%s' failed: %s",
			  se->cfg->export_id, LOG_ESCS(c->key), s3f_strerror(rc));
		goto out;
	}
	res->committed++;
	__atomic_add_fetch(&se->n_commits, 1, __ATOMIC_RELAXED);
	/* A success clears the record of an earlier failure of the same inode. */
	__atomic_compare_exchange_n(&se->fail_ino, &(uint64_t){ ino }, 0, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
	if (c->early)
		__atomic_add_fetch(&se->n_close_commits, 1, __ATOMIC_RELAXED);
	LOG_DEBUG(LOG_C_SYNC, "committed '%s' etag %s (%llu bytes)%s", LOG_ESCS(c->key), info.etag,
		  (unsigned long long)c->in.size, c->early ? " on close" : "");
out:
	__atomic_store_n(&se->committing_ino, 0, __ATOMIC_RELAXED);
	if (fd >= 0)
		data_file_close(x->data, fd);
	free(c);
	return rc;
}

/* The pass stopped before any upload because S3 did not answer: the dirty files failed
 * all the same, for whoever watches the journal and the error count (one event per
 * pass, without a key). */
static void sync_pass_failed(struct sync_export *se, int rc, struct sync_result *res)
{
	uint64_t dirty = 0, deletes = 0;
	struct journal_field f[2];

	if (ns_backlog(se->x->ns, &dirty, &deletes) != 0 || !dirty)
		return;
	res->failed++;
	__atomic_add_fetch(&se->n_commit_errors, 1, __ATOMIC_RELAXED);
	f[0] = JF_S("error", s3f_strerror(rc));
	f[1] = JF_U("dirty", dirty);
	(void)journal_append(se->x->journal, JOURNAL_COMMIT_FAILED, f, 2, NULL);
	LOG_WARN(LOG_C_SYNC, "export %u: S3 unreachable (%s): %llu dirty inodes wait",
		 se->cfg->export_id, s3f_strerror(rc), (unsigned long long)dirty);
}

int sync_commit_pass(struct sync_export *se, int64_t min_age_ns, uint64_t under,
		     struct sync_result *res)
{
	struct sync_dirty_list l = { 0 };
	int rc, first_err = 0;

	rc = sync_s3_ready(se);
	if (rc) {
		sync_pass_failed(se, rc, res);
		return rc;
	}
	/* An explicit commit (min_age 0) finishes every directory rename; the worker moves
	 * one page per pass, so that commits and polls keep their pace during a large one. */
	first_err = sync_rename_pass(se, min_age_ns ? 1 : 0, res);
	if (first_err && sync_s3_unreachable(se, first_err)) {
		sync_pass_failed(se, first_err, res);
		return first_err;
	}
	/* A file waiting for another one's old object to move goes in a later round of
	 * the same pass, once that one has committed (a chain of renames: one link per
	 * round). */
	for (unsigned round = 0; round < SYNC_COMMIT_ROUNDS; round++) {
		uint64_t blocked = res->blocked, committed = res->committed;
		bool stop = false;

		l.n = 0;
		rc = ns_dirty_iter(se->x->ns, sync_dirty_collect, &l);
		if (rc)
			goto out;
		for (size_t i = 0; i < l.n; i++) {
			if (under && under != META_ROOT_INO) {
				bool inside;

				rc = ns_is_under(se->x->ns, l.ino[i], under, &inside);
				if (rc || !inside)
					continue;
			}
			rc = sync_commit_one(se, l.ino[i], min_age_ns, res);
			if (rc == EAGAIN)
				rc = 0;	/* not due, or waiting (res->skipped): not a failure */
			if (rc && !first_err)
				first_err = rc;
			if (rc && sync_s3_unreachable(se, rc)) {
				LOG_INFO(LOG_C_SYNC, "export %u: S3 unreachable; %zu more dirty inodes "
					 "wait for the next pass", se->cfg->export_id, l.n - i - 1);
				stop = true;
				break;
			}
		}
		if (stop || res->blocked == blocked || res->committed == committed)
			break;
	}
	rc = first_err;
out:
	free(l.ino);
	return rc;
}

/* ---- deletes ---- */

struct sync_del {
	char *key;
	size_t len;
	char etag[S3_ETAG_MAX];
	int64_t when;
};

struct sync_del_list {
	struct sync_del *d;
	size_t n, cap;
	int64_t cutoff;
};

static int sync_del_collect(void *arg, const struct meta_delete *md)
{
	struct sync_del_list *l = arg;

	if (md->when_ns > l->cutoff)
		return 0;
	if (l->n == 1000)
		return 1;
	if (BUF_GROW(&l->d, &l->cap, l->n + 1))
		return ENOMEM;
	struct sync_del *d = &l->d[l->n];

	d->key = malloc(md->key_len + 1);
	if (!d->key)
		return ENOMEM;
	memcpy(d->key, md->key, md->key_len);
	d->key[md->key_len] = '\0';
	d->len = md->key_len;
	memcpy(d->etag, md->etag, sizeof d->etag);
	d->when = md->when_ns;
	l->n++;
	return 0;
}

/* The pending delete d found the key holding another version (cur, as a HEAD showed it):
 * S3 wins, the object stays and will show through import; the conflict is journaled,
 * unless a listing (a poll in the worker thread while this pass runs from the control
 * socket, or the FSAL's) saw the new version first, dropped the delete and journaled it
 * itself, or the version is our own upload of the removed file, still in flight (a commit
 * from the control socket while this pass runs in the worker, or the other way round):
 * then the delete stays and takes that upload's ETag when the upload is recorded. */
static void sync_del_conflict(struct sync_export *se, const struct sync_del *d,
			      const struct s3_object_info *cur, struct sync_result *res)
{
	struct export_ctx *x = se->x;
	struct journal_field f[4];
	bool dropped = false;

	if (ns_delete_lost(x->ns, d->key, d->len, d->when, cur->etag, cur->size, &dropped) != 0 ||
	    !dropped)
		return;	/* reported by a listing, or our own upload in flight (ns_sync.h) */
	f[0] = JF_B("key", d->key, d->len);
	f[1] = JF_S("s3", "changed_after_remove");
	f[2] = JF_S("etag_base", d->etag);
	f[3] = JF_S("etag_s3", cur->etag);
	(void)journal_append(x->journal, JOURNAL_CONFLICT, f, 4, NULL);
	(void)ns_conflicts_add(x->ns, 1);
	LOG_WARN(LOG_C_SYNC, "export %u: '%s' changed in S3 after it was removed on the file side; "
		 "S3 wins, it stays", se->cfg->export_id, LOG_ESCS(d->key));
	res->conflicts++;
}

/*
 * Pending deletes older than min_age. A delete that knows the ETag the object had when the
 * file side removed it (every one but the old locations below a prefix being moved away,
 * ns_change.c) goes only while the key still holds that version: s3_object_delete_if, as
 * conditional as the server allows (s3.h says what remains on which server). An object
 * changed in S3 since then wins and will reappear through import. The others are
 * deleted whatever they hold, in DeleteObjects batches.
 */
int sync_delete_pass(struct sync_export *se, int64_t min_age_ns, struct sync_result *res)
{
	struct export_ctx *x = se->x;
	struct sync_del_list l = { .cutoff = meta_now_ns() - min_age_ns };
	const char **keys = NULL, **ckeys = NULL, **cetags = NULL;
	struct sync_del **cdel = NULL;
	int *rcs = NULL, *crcs = NULL;
	size_t nk = 0, nc = 0;
	int rc, first = 0;

	rc = ns_deletes_iter(x->ns, sync_del_collect, &l);
	if (rc == 1)
		rc = 0;	/* the batch is full (sync_del_collect) */
	if (rc || l.n == 0)
		goto out;
	rc = sync_s3_ready(se);
	if (rc)
		goto out;
	keys = calloc(l.n, sizeof *keys);
	rcs = calloc(l.n, sizeof *rcs);
	ckeys = calloc(l.n, sizeof *ckeys);
	cetags = calloc(l.n, sizeof *cetags);
	crcs = calloc(l.n, sizeof *crcs);
	cdel = calloc(l.n, sizeof *cdel);
	if (!keys || !rcs || !ckeys || !cetags || !crcs || !cdel) {
		rc = ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (l.d[i].etag[0]) {
			cdel[nc] = &l.d[i];
			ckeys[nc] = l.d[i].key;
			cetags[nc++] = l.d[i].etag;
		} else {
			keys[nk++] = l.d[i].key;
		}
	}
	/* each key's check and DELETE one round trip apart, several keys at a time */
	if (nc)
		(void)s3_objects_delete_if(x->s3, ckeys, cetags, nc, crcs);
	TP("sync.delete.deleted");
	for (size_t i = 0; i < nc; i++) {
		struct s3_object_info cur;

		rc = crcs[i];
		if (rc == S3F_E_S3_PRECOND) {
			/* what the key holds now, for the record (it may be gone by now) */
			rc = s3_object_head(x->s3, ckeys[i], &cur);
			if (rc == 0)
				sync_del_conflict(se, cdel[i], &cur, res);
			else if (rc == ENOENT)
				(void)ns_delete_done(x->ns, cdel[i]->key, cdel[i]->len);
			else if (!first)
				first = rc;
			continue;
		}
		if (rc == 0 || rc == ENOENT) {
			(void)ns_delete_done(x->ns, cdel[i]->key, cdel[i]->len);
			if (rc == 0) {
				res->deleted++;
				__atomic_add_fetch(&se->n_deletes, 1, __ATOMIC_RELAXED);
			}
			continue;
		}
		res->failed++;
		if (!first)
			first = rc;
		LOG_WARN(LOG_C_SYNC, "export %u: delete of '%s': %s (will retry)", se->cfg->export_id,
			 LOG_ESCS(cdel[i]->key), s3f_strerror(rc));
	}
	if (first && sync_s3_unreachable(se, first)) {
		rc = first;
		goto out;
	}
	rc = 0;
	if (nk) {
		rc = s3_objects_delete(x->s3, keys, nk, rcs);
		for (size_t i = 0; i < nk; i++) {
			if (rc == 0 && (rcs[i] == 0 || rcs[i] == ENOENT)) {
				(void)ns_delete_done(x->ns, keys[i], strlen(keys[i]));
				res->deleted++;
				__atomic_add_fetch(&se->n_deletes, 1, __ATOMIC_RELAXED);
			} else {
				res->failed++;
			}
		}
		if (rc)
			LOG_WARN(LOG_C_SYNC, "export %u: delete of %zu keys failed: %s (will retry)",
				 se->cfg->export_id, nk, s3f_strerror(rc));
	}
out:
	for (size_t i = 0; i < l.n; i++)
		free(l.d[i].key);
	free(l.d);
	free(keys);
	free(rcs);
	free(ckeys);
	free(cetags);
	free(crcs);
	free(cdel);
	return rc;
}
