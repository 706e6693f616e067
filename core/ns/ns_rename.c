/*
 * ns_rename.c — rename (see ns.h) and the sources in transit it leaves (see ns_sync.h):
 * the rename in one transaction, and the daemon's side of a renamed file's old object
 * (who reads from it, a circle of waits, releasing it). They live together because both
 * keep the moves record and the keys table's binding of the old key consistent. Directory
 * jobs are ns_dirjob.c's. The *_txn pattern is ns.c's.
 */
#include "ns/ns_int.h"
#include "base/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* ---- rename ----
 *
 * The file view changes in one transaction; S3 follows in the daemon (sync/commit.c for
 * files, sync/rename.c for directories). See "where objects are while renames are
 * carried out in S3" in ns_int.h for the records that bridge the two.
 */

/* Walk from dir up to the root: is `ino` (0: none) on the way (dir is inside it), and is
 * any directory on the way s3files' reserved one? */
static int ns_rename_walk(struct meta_txn *t, uint64_t dir, uint64_t ino, bool *inside,
			  bool *reserved)
{
	struct meta_inode in;
	int rc;

	*inside = *reserved = false;
	for (int depth = 0; depth <= KEYMAP_DEPTH_MAX + 1; depth++) {
		if (ino && dir == ino) {
			*inside = true;
			return 0;
		}
		rc = meta_inode_get(t, dir, &in);
		if (rc)
			return rc == ENOENT ? ESTALE : rc;
		if (in.flags & META_F_RESERVED)
			*reserved = true;
		if (dir == META_ROOT_INO)
			return 0;
		if (in.parent == dir)
			return S3F_E_META_CORRUPT;
		dir = in.parent;
	}
	return S3F_E_META_CORRUPT;
}

/* Keys below a directory, relative to the directory's own key (which ends in '/'), as far
 * as the view knows the subtree (a subdirectory never listed counts empty): a walk that
 * stops at the first one longer than limit. */
struct ns_longest_ctx {
	uint64_t *ino;
	size_t *rel;
	size_t n, cap;
	size_t cur;		/* relative length of the directory being walked */
	size_t limit;		/* stop at the first key longer than this */
};

static int ns_longest_cb(void *arg, const struct meta_dirent *de)
{
	struct ns_longest_ctx *c = arg;
	size_t rel = c->cur + de->name_len + (de->type == META_T_DIR ? 1 : 0);

	if (rel > c->limit)
		return 1;
	if (de->type != META_T_DIR)
		return 0;
	/* ino and rel grow alike: cap is the smaller of what each got */
	size_t cap_ino = c->cap, cap_rel = c->cap;
	int rc = BUF_GROW(&c->ino, &cap_ino, c->n + 1);

	if (rc == 0)
		rc = BUF_GROW(&c->rel, &cap_rel, c->n + 1);
	c->cap = cap_ino < cap_rel ? cap_ino : cap_rel;
	if (rc)
		return rc;
	c->ino[c->n] = de->ino;
	c->rel[c->n++] = rel;
	return 0;
}

/* Does every key below dir still fit when dir's key is keylen bytes long? */
static int ns_subtree_fits(struct meta_txn *t, uint64_t dir, size_t keylen, bool *fits)
{
	struct ns_longest_ctx c = { .limit = S3_KEY_MAX - keylen };
	uint64_t cur = dir;
	int rc = 0;

	for (;;) {
		rc = meta_dir_iter(t, cur, 0, ns_longest_cb, &c);
		if (rc || c.n == 0)
			break;
		cur = c.ino[--c.n];
		c.cur = c.rel[c.n];
	}
	*fits = rc == 0;
	if (rc == 1)
		rc = 0;
	free(c.ino);
	free(c.rel);
	return rc;
}

struct ns_rename_ctx {
	struct ns *ns;
	uint64_t odir, ndir;
	const char *oname, *nname;
	size_t olen, nlen;
	struct ns_rename_result *r;
	char okey[S3_KEY_MAX + 1], nkey[S3_KEY_MAX + 1], skey[S3_KEY_MAX + 1];
	struct meta_move m;
	struct meta_dirjob job;
};

/* A renamed file's object stays where it is until the daemon moves it: remember where. */
static int ns_rename_file(struct ns_rename_ctx *c, struct meta_txn *t, struct ns_jobs *js,
			  struct meta_inode *src, size_t nkeylen, int64_t now)
{
	char etag[S3_ETAG_MAX];
	size_t slen;
	bool found, moved;
	int rc;

	rc = ns_file_source(c->ns, t, src, js, c->skey, &slen, etag, &found, &moved, &c->m);
	if (rc || !found)
		return rc;	/* never uploaded: it commits under its new key */
	if (slen == nkeylen && memcmp(c->skey, c->nkey, slen) == 0) {
		/* Back where its object is. */
		if (moved) {
			src->flags |= META_F_IN_S3;
			if ((rc = meta_move_del(t, src->ino)))
				return rc;
			if (c->m.clean && c->m.dirty_gen == src->dirty_gen &&
			    src->sync == META_S_DIRTY) {
				src->sync = META_S_CLEAN;
				src->dirty_since_ns = 0;
				src->due_gen = 0;
				if ((rc = meta_dirty_del(t, src->ino)))
					return rc;
			}
		}
		return 0;
	}
	if (moved)
		return 0;	/* renamed again: the source is still the first one */
	c->m.dirty_gen = src->dirty_gen;
	c->m.clean = src->sync == META_S_CLEAN;
	snprintf(c->m.etag, sizeof c->m.etag, "%s", etag);
	memcpy(c->m.key, c->skey, slen + 1);
	c->m.key_len = slen;
	if ((rc = meta_move_put(t, src->ino, &c->m)))
		return rc;
	/* Not at its path key any more: an object showing up there is someone else's. The
	 * keys table keeps binding the source key to it until the move is committed. */
	src->flags &= ~(uint32_t)META_F_IN_S3;
	if (src->sync != META_S_CONFLICT)
		src->sync = META_S_DIRTY;
	src->dirty_since_ns = now;
	return meta_dirty_add(t, src->ino);
}

static int ns_rename_txn(struct meta_txn *t, void *arg)
{
	struct ns_rename_ctx *c = arg;
	struct ns_rename_result *r = c->r;
	struct meta_inode *od = &r->olddir, *nd = &r->newdir, *src = &r->moved, *v = &r->victim;
	bool same_dir = c->odir == c->ndir, inside, in_old, res_old, res_new, is_dir;
	struct ns_jobs js = { 0 };
	struct meta_dirent de;
	size_t okeylen, nkeylen;
	int64_t now = meta_now_ns();
	int rc;

	memset(r, 0, sizeof *r);
	rc = meta_inode_get(t, c->odir, od);
	if (rc)
		goto out;
	if (same_dir)
		*nd = *od;
	else if ((rc = meta_inode_get(t, c->ndir, nd)))
		goto out;
	rc = ENOTDIR;
	if (od->type != META_T_DIR || nd->type != META_T_DIR)
		goto out;
	if ((rc = meta_dirent_get(t, c->odir, c->oname, c->olen, &de)))
		goto out;
	if ((rc = meta_inode_get(t, de.ino, src)))
		goto out;
	is_dir = src->type == META_T_DIR;
	if (same_dir && c->olen == c->nlen && memcmp(c->oname, c->nname, c->olen) == 0) {
		r->noop = true;	/* POSIX: renaming a file to itself does nothing */
		goto out;
	}

	/* lost+found: nothing goes in or out, it keeps its name. */
	rc = EACCES;
	if ((src->flags & META_F_RESERVED) || ns_is_reserved(c->ndir, c->nname, c->nlen))
		goto out;
	if ((rc = ns_rename_walk(t, c->ndir, is_dir ? src->ino : 0, &inside, &res_new)) ||
	    (rc = ns_rename_walk(t, c->odir, 0, &in_old, &res_old)))
		goto out;
	rc = EINVAL;
	if (inside)
		goto out;	/* a directory into its own subtree */
	rc = EACCES;
	if (res_new || res_old)
		goto out;
	if (is_dir && (src->flags & META_F_IN_S3) && !(src->flags & META_F_IMPORTED)) {
		/* Its listing must be known before its objects are sent on their way. */
		r->need_import = src->ino;
		rc = EAGAIN;
		goto out;
	}

	rc = meta_dirent_get(t, c->ndir, c->nname, c->nlen, &de);
	if (rc == 0) {
		if ((rc = meta_inode_get(t, de.ino, v)))
			goto out;
		if (is_dir) {
			bool empty;

			rc = ENOTDIR;
			if (v->type != META_T_DIR)
				goto out;
			if ((v->flags & META_F_IN_S3) && !(v->flags & META_F_IMPORTED)) {
				r->need_import = v->ino;
				rc = EAGAIN;
				goto out;
			}
			if ((rc = meta_dir_empty(t, v->ino, &empty)))
				goto out;
			rc = ENOTEMPTY;
			if (!empty)
				goto out;
		} else if (v->type == META_T_DIR) {
			rc = EISDIR;
			goto out;
		}
		r->replaced = true;
	} else if (rc != ENOENT) {
		goto out;
	}

	if ((rc = ns_key_in_dir(c->ns, t, c->odir, c->oname, c->olen, is_dir, c->okey,
				sizeof c->okey, &okeylen)) ||
	    (rc = ns_key_in_dir(c->ns, t, c->ndir, c->nname, c->nlen, is_dir, c->nkey,
				sizeof c->nkey, &nkeylen)))
		goto out;
	if (is_dir && nkeylen > okeylen) {
		/* A longer name must not push a key below it past the limit: that file could
		 * never be uploaded. */
		bool fits;

		if ((rc = ns_subtree_fits(t, src->ino, nkeylen, &fits)))
			goto out;
		rc = ENAMETOOLONG;
		if (!fits)
			goto out;
	}

	if (r->replaced) {
		/* The replaced inode goes exactly as with unlink/rmdir. */
		if ((rc = meta_dirent_del(t, c->ndir, c->nname, c->nlen)) ||
		    (rc = ns_drop_inode(c->ns, t, v, c->nkey, nkeylen, now, true)) ||
		    (rc = meta_change_add(t, v->ino, META_CH_GONE)))
			goto out;
		if (v->type == META_T_DIR && nd->nlink > 2)
			nd->nlink--;
		if (same_dir)
			od->nlink = nd->nlink;
	}

	/* S3 side, decided from the old path (the inode is not relinked yet). */
	if (is_dir) {
		memset(&c->job, 0, sizeof c->job);
		c->job.ino = src->ino;
		c->job.created_ns = now;
		memcpy(c->job.old_prefix, c->okey, okeylen + 1);
		c->job.old_len = okeylen;
		memcpy(c->job.new_prefix, c->nkey, nkeylen + 1);
		c->job.new_len = nkeylen;
		if ((rc = meta_dirjob_add(t, &c->job)))
			goto out;
		r->job = c->job.id;
	} else if ((rc = ns_rename_file(c, t, &js, src, nkeylen, now))) {
		goto out;
	}

	/* Relink: the entry leaves the old directory (its cookie with it) and gets a new,
	 * larger cookie in the new one. */
	if ((rc = meta_dirent_del(t, c->odir, c->oname, c->olen)))
		goto out;
	src->parent = c->ndir;
	if ((rc = meta_inode_set_name(src, c->nname, c->nlen)))
		goto out;
	ns_touch(src, now, false);
	if ((rc = meta_inode_put(t, src)))
		goto out;
	if (same_dir) {
		ns_touch(od, now, true);
		if ((rc = meta_dirent_add(t, od, c->nname, c->nlen, src->ino, src->type, NULL)))
			goto out;
		*nd = *od;
	} else {
		ns_touch(od, now, true);
		ns_touch(nd, now, true);
		if (is_dir) {
			if (od->nlink > 2)
				od->nlink--;
			nd->nlink++;
		}
		if ((rc = meta_inode_put(t, od)) ||
		    (rc = meta_dirent_add(t, nd, c->nname, c->nlen, src->ino, src->type, NULL)))
			goto out;
	}
	if ((rc = meta_change_add(t, c->odir, META_CH_DIR)) ||
	    (!same_dir && (rc = meta_change_add(t, c->ndir, META_CH_DIR))) ||
	    (rc = meta_change_add(t, src->ino, META_CH_ATTR)))
		goto out;
	rc = 0;
out:
	ns_jobs_free(&js);
	if (rc == ENOENT && (r->olddir.ino == 0 || (!same_dir && r->newdir.ino == 0)))
		rc = ESTALE;	/* a directory handle outlived its directory */
	return rc;
}

int ns_rename(struct ns *ns, uint64_t olddir, const char *oldname, size_t oldlen, uint64_t newdir,
	      const char *newname, size_t newlen, struct ns_rename_result *out)
{
	struct ns_rename_ctx *c;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = keymap_name_check(oldname, oldlen)) || (rc = keymap_name_check(newname, newlen)))
		return rc;
	c = calloc(1, sizeof *c);
	if (!c)
		return ENOMEM;
	c->ns = ns;
	c->odir = olddir;
	c->ndir = newdir;
	c->oname = oldname;
	c->olen = oldlen;
	c->nname = newname;
	c->nlen = newlen;
	c->r = out;
	rc = meta_write(ns->me, ns_rename_txn, c);
	free(c);
	return rc;
}

/* ---- sources in transit (the daemon) ---- */

/* Does inode in read its data from the object at key? */
static int ns_reads_from(struct ns *ns, struct meta_txn *t, const struct meta_inode *in,
			 const char *key, size_t len, char etag[S3_ETAG_MAX], bool *moved,
			 bool *yes)
{
	struct ns_jobs js = { 0 };
	char *src = malloc(S3_KEY_MAX + 1);
	size_t slen = 0;
	bool found = false;
	int rc;

	*yes = false;
	if (!src)
		return ENOMEM;
	rc = ns_file_source(ns, t, in, &js, src, &slen, etag, &found, moved, NULL);
	if (rc == 0)
		*yes = found && slen == len && memcmp(src, key, len) == 0;
	ns_jobs_free(&js);
	free(src);
	return rc;
}

struct ns_holder_ctx {
	struct ns *ns;
	const char *key;
	size_t len;
	uint64_t skip, ino;
};

static int ns_holder_txn(struct meta_txn *t, void *arg)
{
	struct ns_holder_ctx *c = arg;
	struct meta_inode in;
	char etag[S3_ETAG_MAX];
	uint64_t b;
	bool moved, yes;
	int rc;

	c->ino = 0;
	rc = ns_key_holder(t, c->key, c->len, c->skip, &b, &in);
	if (rc || !b)
		return rc;
	rc = ns_reads_from(c->ns, t, &in, c->key, c->len, etag, &moved, &yes);
	if (rc == 0 && yes)
		c->ino = b;
	return rc == ENOENT ? 0 : rc;
}

int ns_source_holder(struct ns *ns, const char *key, size_t len, uint64_t skip, uint64_t *ino)
{
	struct ns_holder_ctx c = { ns, key, len, skip, 0 };
	int rc = meta_read(ns->me, ns_holder_txn, &c);

	*ino = rc == 0 ? c.ino : 0;
	return rc;
}

struct ns_cycle_ctx {
	struct ns *ns;
	uint64_t ino, blocker;
	bool cycle;
};

static int ns_cycle_txn(struct meta_txn *t, void *arg)
{
	struct ns_cycle_ctx *c = arg;
	struct meta_inode in;
	struct ns_jobs js = { 0 };
	char *key = malloc(S3_KEY_MAX + 1);
	size_t len;
	uint64_t cur = c->blocker, next;
	int rc = 0;

	c->cycle = false;
	if (!key)
		return ENOMEM;
	/* Each link: the file cur wants its own key, which the next one still reads from. */
	for (int i = 0; i < 64 && cur; i++, cur = next) {
		next = 0;
		rc = ns_key(c->ns, t, cur, key, S3_KEY_MAX + 1, &len);
		if (rc)
			break;
		if ((rc = ns_jobs_get(t, &js)))
			break;
		if (ns_jobs_cover(&js, key, len, true, false))
			break;	/* a directory job empties it: no circle */
		if ((rc = ns_key_holder(t, key, len, cur, &next, &in)))
			break;
		if (next == c->ino) {
			c->cycle = true;
			break;
		}
	}
	ns_jobs_free(&js);
	free(key);
	return rc == ENOENT ? 0 : rc;
}

int ns_commit_cycle(struct ns *ns, uint64_t ino, uint64_t blocker, bool *cycle)
{
	struct ns_cycle_ctx c = { ns, ino, blocker, false };
	int rc = meta_read(ns->me, ns_cycle_txn, &c);

	*cycle = rc == 0 && c.cycle;
	return rc;
}

struct ns_release_ctx {
	struct ns *ns;
	uint64_t ino;
	const char *key;
	size_t len;
	bool done;
};

/* Are all of in's bytes in the store (what its upload would read)? */
static int ns_all_local(struct meta_txn *t, const struct meta_inode *in, bool *all)
{
	struct rangeset have = RANGESET_INIT;
	char probe[1];
	size_t plen;
	int rc = 0;

	*all = true;
	switch (in->type) {
	case META_T_REG:
		rc = ns_present_in(t, in, &have);
		*all = rc == 0 && (in->size == 0 || rangeset_covers(&have, 0, in->size));
		break;
	case META_T_LNK:
		rc = meta_symlink_get(t, in->ino, probe, sizeof probe, &plen);
		if (rc == ERANGE)
			rc = 0;
		if (rc == ENOENT) {
			*all = false;	/* imported, target never read */
			rc = 0;
		}
		break;
	default:
		break;		/* a special file is its metadata */
	}
	rangeset_free(&have);
	return rc;
}

static int ns_release_txn(struct meta_txn *t, void *arg)
{
	struct ns_release_ctx *c = arg;
	struct meta_inode in;
	char etag[S3_ETAG_MAX];
	bool moved, yes, all;
	int rc;

	c->done = false;
	rc = meta_inode_get(t, c->ino, &in);
	if (rc)
		return rc == ENOENT ? 0 : rc;
	if ((rc = ns_reads_from(c->ns, t, &in, c->key, c->len, etag, &moved, &yes)))
		return rc;
	if (!yes)
		return 0;
	if (in.sync == META_S_CONFLICT)
		return EBUSY;
	if ((rc = ns_all_local(t, &in, &all)))
		return rc;
	if (!all)
		return EAGAIN;
	if (moved && (rc = meta_move_del(t, in.ino)))
		return rc;
	if (ns_key_binds(t, c->key, c->len, in.ino) && (rc = meta_key_del(t, c->key, c->len)))
		return rc;
	/* The object goes (or is replaced by whoever wanted the key), as long as it is the
	 * version the file read from. */
	if ((rc = meta_delete_add(t, c->key, c->len, etag, 0, in.ino)))
		return rc;
	in.flags &= ~(uint32_t)META_F_IN_S3;
	in.sync = META_S_DIRTY;
	if (!in.dirty_since_ns)
		in.dirty_since_ns = meta_now_ns();
	if ((rc = meta_dirty_add(t, in.ino)) || (rc = meta_inode_put(t, &in)))
		return rc;
	c->done = true;
	return 0;
}

int ns_source_release(struct ns *ns, uint64_t ino, const char *key, size_t len, bool *done)
{
	struct ns_release_ctx c = { ns, ino, key, len, false };
	int rc = meta_write(ns->me, ns_release_txn, &c);

	/* Durable before anything may overwrite or delete the object. */
	if (rc == 0 && c.done)
		rc = meta_sync(ns->me);
	*done = rc == 0 && c.done;
	return rc;
}
