/*
 * ns_import.c — S3 state into the file view (see ns_sync.h): a listing's entries applied
 * to a directory (ns_import_apply), the attributes of objects seen by GET/HEAD
 * (ns_import_objects), and the queue of small files a listing left to fetch (prefetch).
 * They share the rules by which an object's attributes make an inode (type, times,
 * mode). What a listing no longer shows is ns_import_finish.c's. The *_txn pattern is
 * ns.c's.
 */
#include "ns/ns_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ---- import ---- */

struct ns_import_ctx {
	struct ns *ns;
	uint64_t dir;
	const struct ns_import_entry *e;
	size_t n;
	int64_t start;
	enum ns_import_result *results;
	uint64_t *inos;
	struct ns_jobs js;	/* directory renames in progress (per transaction) */
	int64_t newest_s;	/* the newest LastModified of the batch (0: none) */
};

/* Seconds + nanoseconds from object metadata as ns, clamped to what int64 holds
 * (years 1678..2262): metadata from other tools may carry any number. */
static int64_t ns_time_ns(int64_t sec, uint32_t nsec)
{
	const int64_t lim = INT64_MAX / 1000000000LL - 1;

	if (sec > lim)
		return lim * 1000000000LL;
	if (sec < -lim)
		return -lim * 1000000000LL;
	return sec * 1000000000LL + (int64_t)(nsec % 1000000000U);
}

/* The type an object's attributes give a non-directory of size bytes: a symlink, or a
 * special file (both as s3fs writes them: the type in x-amz-meta-mode, a special file an
 * empty object), else a regular file. An object with bytes is never a special file: its
 * bytes stay readable. */
static uint8_t ns_type_of(const struct keymap_attrs *a, uint64_t size)
{
	if (!a || !a->has_mode)
		return META_T_REG;
	switch (a->mode & S_IFMT) {
	case S_IFLNK:
		return META_T_LNK;
	case S_IFIFO:
		return size ? META_T_REG : META_T_FIFO;
	case S_IFSOCK:
		return size ? META_T_REG : META_T_SOCK;
	case S_IFCHR:
		return size ? META_T_REG : META_T_CHR;
	case S_IFBLK:
		return size ? META_T_REG : META_T_BLK;
	}
	return META_T_REG;
}

/* A regular file that an object's attributes say is a symlink or a special file takes that
 * type, in its record (*in, written by the caller) and its directory entry. */
static int ns_retype(struct meta_txn *t, struct meta_inode *in, const struct keymap_attrs *a,
		     uint64_t size)
{
	uint8_t type = ns_type_of(a, size);

	if (in->type != META_T_REG || type == META_T_REG)
		return 0;
	in->type = type;
	if (META_T_SPECIAL(type)) {
		in->data = META_D_NONE;
		in->rdev = (type == META_T_CHR || type == META_T_BLK) && a->has_rdev ? a->rdev : 0;
	}
	if (in->ino == META_ROOT_INO)
		return 0;
	return meta_dirent_set_type(t, in->parent, in->name, in->name_len, type);
}

static void ns_apply_attrs(struct ns *ns, struct meta_inode *in, const struct ns_import_entry *e)
{
	const struct keymap_attrs *a = e->attrs;

	in->mode = e->is_dir ? ns->def.dir_mode : ns->def.file_mode;
	in->uid = ns->def.uid;
	in->gid = ns->def.gid;
	in->mtime_ns = ns_time_ns(e->mtime_s, 0);
	if (!a)
		return;
	if (a->has_mode)
		in->mode = a->mode & 07777;
	if (a->has_uid)
		in->uid = a->uid;
	if (a->has_gid)
		in->gid = a->gid;
	if (a->has_mtime)
		in->mtime_ns = ns_time_ns(a->mtime_sec, a->mtime_nsec);
}

static int ns_import_one(struct ns_import_ctx *c, struct meta_txn *t, struct meta_inode *d,
			 const struct ns_import_entry *e, enum ns_import_result *res, uint64_t *ino_out)
{
	struct meta_dirent de;
	struct meta_inode in;
	char key[S3_KEY_MAX + 1];
	size_t keylen;
	int64_t now = meta_now_ns();
	int rc;

	*res = NS_IMP_SAME;
	*ino_out = 0;
	if (ns_is_reserved(c->dir, e->name, e->len))
		return 0;
	rc = ns_key_in_dir(c->ns, t, c->dir, e->name, e->len, e->is_dir, key, sizeof key, &keylen);
	if (rc)
		return rc;
	/* Below a directory being moved in S3, the listing shows objects in transit: the
	 * renamed directory already holds them in the file view. */
	if (ns_jobs_cover(&c->js, key, keylen, true, true)) {
		*res = NS_IMP_MOVING;
		return 0;
	}

	rc = meta_dirent_get(t, c->dir, e->name, e->len, &de);
	if (rc == ENOENT) {
		struct meta_delete pd;
		uint64_t ino;
		uint32_t gen;
		bool delete_lost = false;

		if (e->is_dir) {
			bool pending;

			/* A directory the file side removed (rmdir, or renamed away) whose
			 * objects still wait for their deletes: the listing shows its prefix
			 * until the delete pass is done; it stays removed. If other objects
			 * remain there after that, the next listing shows it again. */
			if ((rc = meta_delete_any_under(t, key, keylen, &pending)))
				return rc;
			if (pending) {
				*res = NS_IMP_PENDING_DELETE;
				return 0;
			}
			/* Likewise one that holds the old object of a file renamed out of it
			 * (a directory job leaves that object for the file's own move), or an
			 * upload of ours not yet recorded: shown as a directory, it would stand
			 * in the way of the client's next mkdir or rename of that name. */
			if ((rc = ns_prefix_held(t, key, keylen, &pending)))
				return rc;
			if (pending) {
				*res = NS_IMP_MOVING;
				return 0;
			}
		}
		if (!e->is_dir) {
			bool taken;

			/* The old object of a renamed file: shown under its new name. */
			if ((rc = ns_key_taken(t, key, keylen, 0, &taken)))
				return rc;
			if (taken) {
				*res = NS_IMP_MOVING;
				return 0;
			}
			/* An upload of a file removed (or renamed away) since: the daemon
			 * records it, and deletes it again. */
			if ((rc = ns_intent_covers(t, key, keylen, 0, e->etag, e->size, &taken)))
				return rc;
			if (taken) {
				*res = NS_IMP_UPLOADING;
				return 0;
			}
			rc = meta_delete_get(t, key, keylen, &pd);
			if (rc == 0 && strcmp(pd.etag, e->etag ? e->etag : "") == 0) {
				*res = NS_IMP_PENDING_DELETE;
				return 0;
			}
			if (rc == 0) {
				/* Changed in S3 after the file side removed it: S3 wins, the
				 * delete is dropped and the new object shown. */
				if ((rc = meta_delete_del(t, key, keylen)))
					return rc;
				delete_lost = true;
			} else if (rc != ENOENT) {
				return rc;
			}
		}
		if ((rc = meta_ino_alloc(t, &ino, &gen)))
			return rc;
		meta_inode_init(&in, ino, gen, c->dir, e->is_dir ? META_T_DIR : META_T_REG, 0, 0,
				0, now);
		if ((rc = meta_inode_set_name(&in, e->name, e->len)))
			return rc;
		ns_apply_attrs(c->ns, &in, e);
		if (!e->is_dir)
			in.type = ns_type_of(e->attrs, e->size);
		if (in.type == META_T_CHR || in.type == META_T_BLK)
			in.rdev = e->attrs->has_rdev ? e->attrs->rdev : 0;
		if (e->is_dir && in.mtime_ns == 0 && !(e->attrs && e->attrs->has_mtime)) {
			/* A common prefix has no time: until its own listing tells, it
			 * takes the newest object of this listing, or the time it was seen
			 * (never 1970: find -newer, make and rsync read it). */
			in.mtime_ns = c->newest_s ? ns_time_ns(c->newest_s, 0) : now;
			in.flags |= META_F_MTIME_S3;
		}
		in.ctime_ns = in.mtime_ns;
		in.atime_ns = in.mtime_ns;
		in.flags |= META_F_IN_S3 | (e->is_marker ? META_F_MARKER : 0) |
			    (e->attrs && !e->is_dir ? META_F_ATTRS : 0);
		in.synced_ns = now;
		if (!e->is_dir) {
			in.size = in.s3_size = e->size;
			in.s3_mtime = e->mtime_s;
			snprintf(in.etag, sizeof in.etag, "%s", e->etag ? e->etag : "");
			in.data = e->size || META_T_SPECIAL(in.type) ? META_D_NONE : META_D_FULL;
			if ((rc = meta_key_put(t, key, keylen, ino)))
				return rc;
		}
		if ((rc = meta_inode_put(t, &in)))
			return rc;
		ns_touch(d, now, false);
		if (e->is_dir)
			d->nlink++;
		if ((rc = meta_dirent_add(t, d, e->name, e->len, ino, in.type, NULL)))
			return rc;
		*res = delete_lost ? NS_IMP_DELETE_LOST : NS_IMP_NEW;
		*ino_out = ino;
		return 0;
	}
	if (rc)
		return rc;

	rc = meta_inode_get(t, de.ino, &in);
	if (rc)
		return rc;
	*ino_out = in.ino;
	if ((in.type == META_T_DIR) != e->is_dir) {
		if (e->is_dir && in.sync == META_S_CLEAN && (in.flags & META_F_IN_S3)) {
			/* "x" and "x/..." both exist: the directory is shown, so its
			 * children stay reachable; the file is reported, not shown. */
			char fkey[S3_KEY_MAX + 1];
			size_t fkeylen;

			rc = ns_key_in_dir(c->ns, t, c->dir, e->name, e->len, false, fkey,
					   sizeof fkey, &fkeylen);
			if (rc)
				return rc;
			if ((rc = meta_dirent_del(t, c->dir, e->name, e->len)) ||
			    (rc = ns_drop_inode(c->ns, t, &in, fkey, fkeylen, now, false)) ||
			    (rc = meta_change_add(t, in.ino, META_CH_GONE)))
				return rc;
			rc = ns_import_one(c, t, d, e, res, ino_out);
			if (rc == 0)
				*res = NS_IMP_COLLISION;
			return rc;
		}
		*res = NS_IMP_COLLISION;
		return 0;
	}
	if (e->is_dir) {
		uint32_t want = META_F_IN_S3 | (e->is_marker ? META_F_MARKER : 0);

		if ((in.flags & want) != want) {
			in.flags |= want;
			in.synced_ns = now;
			return meta_inode_put(t, &in);
		}
		return 0;
	}
	if (strcmp(in.etag, e->etag ? e->etag : "") == 0 && (in.flags & META_F_IN_S3))
		return 0;
	if (!(in.flags & META_F_IN_S3)) {
		struct meta_delete pd;
		bool taken;

		/* A file that is not in S3 under this name yet (new, or renamed here) while the
		 * listing shows an object there: the old object of a file renamed away, or the
		 * object of a file it replaced, which goes at the next commit. */
		if ((rc = ns_key_taken(t, key, keylen, in.ino, &taken)))
			return rc;
		if (taken) {
			*res = NS_IMP_MOVING;
			return 0;
		}
		rc = meta_delete_get(t, key, keylen, &pd);
		if (rc == 0 && strcmp(pd.etag, e->etag ? e->etag : "") == 0) {
			*res = NS_IMP_PENDING_DELETE;
			return 0;
		}
		if (rc && rc != ENOENT)
			return rc;
	}
	if (in.sync != META_S_CLEAN) {
		bool ours;

		/* Our own upload of it, before its record (or after a crash cut it off). */
		if ((rc = ns_intent_covers(t, key, keylen, in.ino, e->etag, e->size, &ours)))
			return rc;
		if (ours) {
			*res = NS_IMP_UPLOADING;
			return 0;
		}
		/* Both sides changed (or both created the name): the daemon resolves it. */
		if (in.sync != META_S_CONFLICT) {
			in.sync = META_S_CONFLICT;
			if ((rc = meta_inode_put(t, &in)) || (rc = meta_dirty_add(t, in.ino)))
				return rc;
		}
		*res = NS_IMP_CONFLICT;
		return 0;
	}
	/* Clean file changed in S3: take the new state, drop local data. */
	ns_apply_attrs(c->ns, &in, e);
	if ((rc = ns_retype(t, &in, e->attrs, e->size)))
		return rc;
	in.size = in.s3_size = e->size;
	in.s3_mtime = e->mtime_s;
	snprintf(in.etag, sizeof in.etag, "%s", e->etag ? e->etag : "");
	in.version_id[0] = '\0';
	in.flags |= META_F_IN_S3;
	if (e->attrs)
		in.flags |= META_F_ATTRS;
	else
		in.flags &= ~(uint32_t)META_F_ATTRS;	/* the new version's come with its fetch */
	in.synced_ns = now;
	in.data = e->size || META_T_SPECIAL(in.type) ? META_D_NONE : META_D_FULL;
	ns_touch(&in, now, false);
	if ((rc = meta_extents_put(t, in.ino, NULL)) || (rc = meta_symlink_del(t, in.ino)) ||
	    (rc = meta_key_put(t, key, keylen, in.ino)) ||
	    (rc = meta_inode_put(t, &in)) || (rc = meta_change_add(t, in.ino, META_CH_S3)))
		return rc;
	*res = NS_IMP_CHANGED;
	return 0;
}

static int ns_import_txn(struct meta_txn *t, void *arg)
{
	struct ns_import_ctx *c = arg;
	struct meta_inode d;
	bool changed_dir = false;
	uint64_t change0;
	int64_t newest_ns = 0;
	int rc;

	ns_jobs_free(&c->js);
	rc = meta_inode_get(t, c->dir, &d);
	if (rc)
		goto out;
	if (d.type != META_T_DIR) {
		rc = ENOTDIR;
		goto out;
	}
	if ((rc = ns_jobs_get(t, &c->js)))
		goto out;
	change0 = d.change;
	c->newest_s = 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->e[i].mtime_s > c->newest_s)
			c->newest_s = c->e[i].mtime_s;
	for (size_t i = 0; i < c->n; i++) {
		enum ns_import_result res;
		uint64_t ino;

		rc = ns_import_one(c, t, &d, &c->e[i], &res, &ino);
		if (rc)
			goto out;
		if (c->results)
			c->results[i] = res;
		if (c->inos)
			c->inos[i] = ino;
		if (res == NS_IMP_NEW || res == NS_IMP_DELETE_LOST)
			changed_dir = true;
		/* An object new to the view is a change of the directory made at its
		 * LastModified: the directory's mtime is at least that. */
		if ((res == NS_IMP_NEW || res == NS_IMP_DELETE_LOST || res == NS_IMP_CHANGED) &&
		    c->e[i].mtime_s > 0 && ns_time_ns(c->e[i].mtime_s, 0) > newest_ns)
			newest_ns = ns_time_ns(c->e[i].mtime_s, 0);
	}
	if (d.flags & META_F_MTIME_S3) {
		/* The placeholder of a common prefix: its own listing tells its time. */
		if (newest_ns) {
			d.mtime_ns = newest_ns;
			d.ctime_ns = d.atime_ns = d.mtime_ns;
			d.flags &= ~(uint32_t)META_F_MTIME_S3;
			changed_dir = true;
		}
	} else if (newest_ns > d.mtime_ns) {
		d.mtime_ns = newest_ns;
		if (d.ctime_ns < d.mtime_ns)
			d.ctime_ns = d.mtime_ns;
		changed_dir = true;
	}
	if (d.change != change0 || changed_dir) {
		if ((rc = meta_inode_put(t, &d)) || (rc = meta_change_add(t, c->dir, META_CH_DIR)))
			goto out;
	}
	rc = 0;
out:
	ns_jobs_free(&c->js);
	return rc;
}

int ns_import_apply(struct ns *ns, uint64_t dir, const struct ns_import_entry *entries, size_t n,
		    int64_t listing_start_ns, enum ns_import_result *results, uint64_t *inos)
{
	struct ns_import_ctx c = { ns, dir, entries, n, listing_start_ns, results, inos, { 0 }, 0 };

	return meta_write(ns->me, ns_import_txn, &c);
}

struct ns_obj_ctx {
	const uint64_t *inos;
	const struct s3_object_info *infos;
	const int *rcs;
	size_t n;
	bool fetched;
	const struct keymap *km;	/* its trust in S3's attributes (S3_Setid, ...) */
};

/* Does in show a client anything else than shown did (type, mode, owner, size, mtime)? */
static bool ns_object_shown_differs(const struct meta_inode *shown, const struct meta_inode *in)
{
	return shown->type != in->type || shown->mode != in->mode || shown->uid != in->uid ||
	       shown->gid != in->gid || shown->size != in->size ||
	       shown->mtime_ns != in->mtime_ns || shown->rdev != in->rdev;
}

static int ns_object_one(struct meta_txn *t, const struct keymap *km, uint64_t ino,
			 const struct s3_object_info *info, bool fetched)
{
	struct keymap_attrs a;
	struct meta_inode in, shown;
	const char *bad = NULL;
	int rc;

	rc = meta_inode_get(t, ino, &in);
	if (rc)
		return rc == ENOENT ? 0 : rc;
	/* Only a clean inode still based on this version takes it. */
	if (in.sync != META_S_CLEAN || strcmp(in.etag, info->etag) != 0)
		return 0;
	shown = in;
	(void)keymap_meta_import(km, info->meta, info->n_meta, &a, &bad);
	if (a.has_mode) {
		in.mode = a.mode & 07777;
		if ((rc = ns_retype(t, &in, &a, info->size)))
			return rc;
	}
	if (a.has_uid)
		in.uid = a.uid;
	if (a.has_gid)
		in.gid = a.gid;
	if (a.has_mtime)
		in.mtime_ns = ns_time_ns(a.mtime_sec, a.mtime_nsec);
	in.size = in.s3_size = info->size;
	if (info->last_modified)
		in.s3_mtime = info->last_modified;
	snprintf(in.version_id, sizeof in.version_id, "%s", info->version_id);
	in.flags |= META_F_ATTRS;
	if (fetched && !META_T_SPECIAL(in.type)) {
		in.data = META_D_FULL;
		if ((rc = meta_extents_put(t, in.ino, NULL)))
			return rc;
	}
	in.change++;
	if ((rc = meta_inode_put(t, &in)))
		return rc;
	/* The listing showed this version with default metadata: a client saw it otherwise. */
	return meta_change_add(t, in.ino, ns_object_shown_differs(&shown, &in) ? META_CH_S3 :
				META_CH_ATTR);
}

static int ns_objects_txn(struct meta_txn *t, void *arg)
{
	struct ns_obj_ctx *c = arg;
	int rc;

	for (size_t i = 0; i < c->n; i++) {
		if (c->rcs && c->rcs[i])
			continue;
		rc = ns_object_one(t, c->km, c->inos[i], &c->infos[i], c->fetched);
		if (rc)
			return rc;
	}
	return 0;
}

int ns_import_objects(struct ns *ns, const uint64_t *inos, const struct s3_object_info *infos,
		      const int *rcs, size_t n, bool data_fetched)
{
	struct ns_obj_ctx c = { inos, infos, rcs, n, data_fetched, ns->km };

	if (n == 0)
		return 0;
	return meta_write(ns->me, ns_objects_txn, &c);
}

/* ---- prefetch queue ---- */

struct ns_pf_ctx {
	const uint64_t *in;
	uint64_t *out;
	size_t n, max;
	bool add;
};

static int ns_pf_write_txn(struct meta_txn *t, void *arg)
{
	struct ns_pf_ctx *c = arg;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < c->n; i++)
		rc = c->add ? meta_prefetch_add(t, c->in[i]) : meta_prefetch_del(t, c->in[i]);
	return rc;
}

int ns_prefetch_add(struct ns *ns, const uint64_t *inos, size_t n)
{
	struct ns_pf_ctx c = { .in = inos, .n = n, .add = true };

	return n ? meta_write(ns->me, ns_pf_write_txn, &c) : 0;
}

int ns_prefetch_done(struct ns *ns, const uint64_t *inos, size_t n)
{
	struct ns_pf_ctx c = { .in = inos, .n = n, .add = false };

	return n ? meta_write(ns->me, ns_pf_write_txn, &c) : 0;
}

static int ns_pf_peek_cb(void *arg, uint64_t ino)
{
	struct ns_pf_ctx *c = arg;

	if (c->n == c->max)
		return 1;
	c->out[c->n++] = ino;
	return 0;
}

static int ns_pf_peek_txn(struct meta_txn *t, void *arg)
{
	int rc;

	((struct ns_pf_ctx *)arg)->n = 0;
	rc = meta_prefetch_iter(t, ns_pf_peek_cb, arg);
	return rc == 1 ? 0 : rc;
}

int ns_prefetch_peek(struct ns *ns, uint64_t *inos, size_t max, size_t *n)
{
	struct ns_pf_ctx c = { .out = inos, .max = max };
	int rc = meta_read(ns->me, ns_pf_peek_txn, &c);

	*n = c.n;
	return rc;
}
