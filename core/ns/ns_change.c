/*
 * ns_change.c — file-side changes of names and attributes (see ns.h): create, remove and
 * setattr. Each is one write transaction that changes the view at once and leaves S3's
 * side to the daemon (a DIRTY mark, a pending delete, a directory marker to write or
 * drop), which is why the markers' bookkeeping lives here too. The *_txn pattern is
 * ns.c's.
 */
#include "ns/ns_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Keys a directory marker of path key `key` may still have while directory renames above
 * it are carried out (the key itself first). Calls fn for each; stops at its error. */
static int ns_marker_keys(struct meta_txn *t, struct ns_jobs *js, const char *key, size_t len,
			  int (*fn)(struct meta_txn *t, void *arg, const char *k, size_t l),
			  void *arg)
{
	char *cand;
	size_t clen = len;
	int rc;

	rc = fn(t, arg, key, len);
	if (rc)
		return rc;
	rc = ns_jobs_get(t, js);
	if (rc || js->n == 0)
		return rc;
	cand = malloc(S3_KEY_MAX + 1);
	if (!cand)
		return ENOMEM;
	memcpy(cand, key, len + 1);
	for (size_t i = js->n; rc == 0 && i-- > 0;) {
		const struct ns_job_pfx *p = &js->j[i];

		if (!ns_has_prefix(cand, clen, p->new_prefix, p->new_len) ||
		    ns_key_swap(cand, &clen, p->new_len, p->old_prefix, p->old_len))
			continue;
		rc = fn(t, arg, cand, clen);
	}
	free(cand);
	return rc;
}

struct ns_marker_del {
	const char *etag;
	int64_t now;
	uint64_t ino;
	bool first;
};

static int ns_marker_del_one(struct meta_txn *t, void *arg, const char *k, size_t l)
{
	struct ns_marker_del *d = arg;
	/* Only the marker at its own key has a known ETag; an old location is deleted
	 * whatever it holds (it is below a prefix being moved away). */
	int rc = meta_delete_add(t, k, l, d->first ? d->etag : "", d->now, d->ino);

	d->first = false;
	return rc;
}

/* ---- create ---- */

struct ns_create_ctx {
	struct ns *ns;
	uint64_t dir;
	const char *name;
	size_t len;
	const struct ns_new *nw;
	struct meta_inode *out;
	struct meta_inode dir_in;
};

struct ns_setattr_ctx {
	uint64_t ino;
	const struct ns_setattr *sa;
	struct meta_inode out;
};

static int ns_setattr_txn(struct meta_txn *t, void *arg);

static int ns_create_txn(struct meta_txn *t, void *arg)
{
	struct ns_create_ctx *c = arg;
	struct meta_inode *d = &c->dir_in, *in = c->out;
	struct meta_dirent de;
	int64_t now = meta_now_ns();
	uint64_t ino;
	uint32_t gen;
	int rc;

	rc = meta_inode_get(t, c->dir, d);
	if (rc)
		return rc == ENOENT ? ESTALE : rc;
	if (d->type != META_T_DIR)
		return ENOTDIR;
	rc = meta_dirent_get(t, c->dir, c->name, c->len, &de);
	if (rc == 0) {
		rc = meta_inode_get(t, de.ino, in);
		return rc ? rc : EEXIST;
	}
	/* lost+found holds what conflicts put there, nothing else. */
	if (d->flags & META_F_RESERVED)
		return EACCES;
	if (rc != ENOENT)
		return rc;
	/* Its key (a directory's marker key) must fit in S3's 1,024 bytes, prefix included:
	 * a file that could never be uploaded is not made. */
	{
		char key[S3_KEY_MAX + 1];
		size_t keylen;

		rc = ns_key_in_dir(c->ns, t, c->dir, c->name, c->len, c->nw->type == META_T_DIR,
				   key, sizeof key, &keylen);
		if (rc)
			return rc;
	}

	rc = meta_ino_alloc(t, &ino, &gen);
	if (rc)
		return rc;
	meta_inode_init(in, ino, gen, c->dir, c->nw->type, c->nw->mode, c->nw->uid, c->nw->gid, now);
	if ((rc = meta_inode_set_name(in, c->name, c->len)))
		return rc;
	if (c->nw->type == META_T_LNK)
		in->size = c->nw->target_len;
	if (c->nw->type == META_T_CHR || c->nw->type == META_T_BLK)
		in->rdev = c->nw->rdev;
	/* New on the file side: nothing in S3 yet; commit creates the object / marker. A
	 * new file's bytes are announced with it (rule W): no commit has snapshotted it, so
	 * its first writes need no announcement of their own (ns_write_begin). */
	ns_mark_dirty(in, now);
	if (c->nw->type == META_T_REG)
		in->flags |= META_F_CHANGING;
	/* A new directory's listing is known: it is empty. Without the flag its first use
	 * after the marker's commit would list it in S3 (ns_commit_done sets IN_S3), and
	 * while S3 is unreachable every lookup in it would wait for that listing to fail. */
	if (c->nw->type == META_T_DIR)
		in->flags |= META_F_IMPORTED;
	if ((rc = meta_inode_put(t, in)) || (rc = meta_dirty_add(t, ino)))
		return rc;
	if (c->nw->type == META_T_LNK &&
	    (rc = meta_symlink_put(t, ino, c->nw->target, c->nw->target_len)))
		return rc;

	/* The attributes asked for with the create: one transaction, one sync for both. */
	if (c->nw->attrs && c->nw->attrs->mask) {
		struct ns_setattr_ctx sc = { .ino = ino, .sa = c->nw->attrs };

		if ((rc = ns_setattr_txn(t, &sc)))
			return rc;
		*in = sc.out;
	}

	ns_touch(d, now, true);
	if (c->nw->type == META_T_DIR)
		d->nlink++;
	return meta_dirent_add(t, d, c->name, c->len, ino, (uint8_t)c->nw->type, NULL);
}

int ns_create(struct ns *ns, uint64_t dir, const char *name, size_t len, const struct ns_new *nw,
	      struct meta_inode *out, struct meta_inode *dir_out)
{
	struct ns_create_ctx c = { .ns = ns, .dir = dir, .name = name, .len = len, .nw = nw,
				   .out = out };
	int rc;

	rc = keymap_name_check(name, len);
	if (rc)
		return rc;
	if (ns_is_reserved(dir, name, len))
		return EPERM;
	if (nw->type < META_T_REG || nw->type > META_T_MAX)
		return EINVAL;
	if (nw->type == META_T_LNK && (nw->target_len == 0 || nw->target_len >= 4096))
		return nw->target_len ? ENAMETOOLONG : EINVAL;
	rc = meta_write(ns->me, ns_create_txn, &c);
	if (rc == 0 && dir_out)
		*dir_out = c.dir_in;
	return rc;
}

/* ---- remove ---- */

/* Drop every record of in (not its dirent). A bound object gets a pending delete: a
 * file's wherever it is (renamed files and files below a directory being moved in S3
 * are not at their path key yet), a directory's marker at its key and at the keys it may
 * still have while directory renames above it are carried out. */
int ns_drop_inode(struct ns *ns, struct meta_txn *t, const struct meta_inode *in,
		  const char *key, size_t keylen, int64_t now, bool record_delete)
{
	struct ns_jobs js = { 0 };
	char *src = NULL;
	char etag[S3_ETAG_MAX];
	size_t srclen;
	bool found, moved;
	int rc;

	if (in->type == META_T_DIR) {
		if (record_delete && (in->flags & META_F_IN_S3) && (in->flags & META_F_MARKER)) {
			struct ns_marker_del d = { in->etag, now, in->ino, true };

			rc = ns_marker_keys(t, &js, key, keylen, ns_marker_del_one, &d);
			if (rc)
				goto out;
		}
	} else {
		src = malloc(S3_KEY_MAX + 1);
		if (!src) {
			rc = ENOMEM;
			goto out;
		}
		rc = ns_file_source(ns, t, in, &js, src, &srclen, etag, &found, &moved, NULL);
		if (rc)
			goto out;
		if (found && record_delete &&
		    (rc = meta_delete_add(t, src, srclen, etag, now, in->ino)))
			goto out;
		if (found) {
			rc = meta_key_del(t, src, srclen);
			if (rc && rc != ENOENT)
				goto out;
		}
		if ((rc = meta_move_del(t, in->ino)))
			goto out;
	}
	if ((rc = meta_inode_del(t, in->ino)) || (rc = meta_dirty_del(t, in->ino)) ||
	    (rc = meta_extents_put(t, in->ino, NULL)) || (rc = meta_symlink_del(t, in->ino)))
		goto out;
	rc = 0;
out:
	free(src);
	ns_jobs_free(&js);
	return rc;
}

struct ns_remove_ctx {
	struct ns *ns;
	uint64_t dir;
	const char *name;
	size_t len;
	bool want_dir;
	struct meta_inode victim;
	struct meta_inode dir_in;
};

static int ns_remove_txn(struct meta_txn *t, void *arg)
{
	struct ns_remove_ctx *c = arg;
	struct meta_inode *d = &c->dir_in, *v = &c->victim;
	struct meta_dirent de;
	char key[S3_KEY_MAX + 1];
	size_t keylen;
	int64_t now = meta_now_ns();
	int rc;

	rc = meta_inode_get(t, c->dir, d);
	if (rc)
		return rc == ENOENT ? ESTALE : rc;
	if (d->type != META_T_DIR)
		return ENOTDIR;
	rc = meta_dirent_get(t, c->dir, c->name, c->len, &de);
	if (rc)
		return rc;
	rc = meta_inode_get(t, de.ino, v);
	if (rc)
		return rc;
	if (c->want_dir) {
		bool empty;

		if (v->type != META_T_DIR)
			return ENOTDIR;
		if (!(v->flags & META_F_IMPORTED) && (v->flags & META_F_IN_S3))
			return EAGAIN;
		if ((rc = meta_dir_empty(t, v->ino, &empty)))
			return rc;
		if (!empty)
			return ENOTEMPTY;
	} else if (v->type == META_T_DIR) {
		return EISDIR;
	}
	if (v->flags & META_F_RESERVED) {
		/* lost+found itself stays; what is in it may go (it has no object). */
		if (v->type == META_T_DIR)
			return EPERM;
		keylen = 0;
		key[0] = '\0';
	} else {
		rc = ns_key_in_dir(c->ns, t, c->dir, c->name, c->len, v->type == META_T_DIR,
				   key, sizeof key, &keylen);
		if (rc)
			return rc;
	}
	if ((rc = meta_dirent_del(t, c->dir, c->name, c->len)))
		return rc;
	if ((rc = ns_drop_inode(c->ns, t, v, key, keylen, now,
				!(v->flags & META_F_RESERVED))))
		return rc;
	ns_touch(d, now, true);
	if (v->type == META_T_DIR && d->nlink > 2)
		d->nlink--;
	return meta_inode_put(t, d);
}

int ns_remove(struct ns *ns, uint64_t dir, const char *name, size_t len, bool want_dir,
	      struct meta_inode *victim, struct meta_inode *dir_out)
{
	struct ns_remove_ctx c = { .ns = ns, .dir = dir, .name = name, .len = len,
				   .want_dir = want_dir };
	int rc;

	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return want_dir ? (len == 1 ? EINVAL : ENOTEMPTY) : EISDIR;
	rc = meta_write(ns->me, ns_remove_txn, &c);
	if (rc == 0) {
		if (victim)
			*victim = c.victim;
		if (dir_out)
			*dir_out = c.dir_in;
	}
	return rc;
}

/* ---- setattr / writes ---- */

/* Present ranges after a size change from old to new size. */
static int ns_resize_extents(struct meta_txn *t, struct meta_inode *in, uint64_t old_size,
			     uint64_t new_size)
{
	struct rangeset rs = RANGESET_INIT;
	int rc;

	if (in->data == META_D_FULL)
		return 0;
	rc = meta_extents_get(t, in->ino, &rs);
	if (rc)
		goto out;
	rangeset_truncate(&rs, new_size);
	/* Bytes beyond the old end are zeros we own locally. */
	if (new_size > old_size && (rc = rangeset_add(&rs, old_size, new_size)))
		goto out;
	if (rangeset_covers(&rs, 0, new_size)) {
		in->data = META_D_FULL;
		rc = meta_extents_put(t, in->ino, NULL);
	} else {
		in->data = rs.n ? META_D_PARTIAL : META_D_NONE;
		rc = meta_extents_put(t, in->ino, &rs);
	}
out:
	rangeset_free(&rs);
	return rc;
}

static int ns_setattr_txn(struct meta_txn *t, void *arg)
{
	struct ns_setattr_ctx *c = arg;
	const struct ns_setattr *sa = c->sa;
	struct meta_inode *in = &c->out;
	int64_t now = meta_now_ns();
	bool content = false, killed = false;
	int rc;

	rc = meta_inode_get(t, c->ino, in);
	if (rc)
		return rc == ENOENT ? ESTALE : rc;
	if (sa->mask & NS_SET_SIZE) {
		if (in->type == META_T_DIR)
			return EISDIR;
		if (in->type != META_T_REG)
			return EINVAL;
		if (sa->size != in->size) {
			uint64_t old = in->size;

			in->size = sa->size;
			rc = ns_resize_extents(t, in, old, sa->size);
			if (rc)
				return rc;
			in->mtime_ns = now;
		}
		content = true;	/* POSIX: truncate updates mtime/ctime even to the same size */
		in->mtime_ns = now;
	}
	if (sa->mask & NS_SET_MODE)
		in->mode = sa->mode & 07777;
	if ((sa->mask & NS_SET_KILL_SUID) && in->type == META_T_REG) {
		uint32_t kill = S_ISUID | ((in->mode & S_IXGRP) ? S_ISGID : 0);

		if (in->mode & kill) {
			in->mode &= ~kill;
			killed = true;
		}
	}
	if (sa->mask & NS_SET_UID)
		in->uid = sa->uid;
	if (sa->mask & NS_SET_GID)
		in->gid = sa->gid;
	if (sa->mask & NS_SET_ATIME)
		in->atime_ns = sa->atime_ns;
	if (sa->mask & NS_SET_MTIME) {
		in->mtime_ns = sa->mtime_ns;
		in->flags &= ~(uint32_t)META_F_MTIME_S3;
	}
	in->ctime_ns = (sa->mask & NS_SET_CTIME) ? sa->ctime_ns : now;
	in->change++;
	/* Mode, owner and mtime travel as object metadata: any of them (or content) changing
	 * means the object must be written again. atime alone does not. */
	if (content || killed || (sa->mask & (NS_SET_MODE | NS_SET_UID | NS_SET_GID | NS_SET_MTIME))) {
		if (!(in->flags & META_F_RESERVED)) {
			ns_mark_dirty(in, now);
			if ((rc = meta_dirty_add(t, in->ino)))
				return rc;
		}
	}
	return meta_inode_put(t, in);
}

int ns_setattr(struct ns *ns, uint64_t ino, const struct ns_setattr *sa, struct meta_inode *out)
{
	struct ns_setattr_ctx c = { .ino = ino, .sa = sa };
	int rc = meta_write(ns->me, ns_setattr_txn, &c);

	if (rc == 0 && out)
		*out = c.out;
	return rc;
}
