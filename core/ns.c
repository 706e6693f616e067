/*
 * ns.c — see ns.h.
 *
 * Every exported function is one transaction through meta_write/meta_read, with the
 * work in a *_txn function taking a context struct: meta_write may run it more than once
 * (after growing the map), so those functions only touch the transaction and their
 * output fields.
 */
#include "ns.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "journal.h"
#include "log.h"

#define NS_LOSTFOUND "lost+found"

struct ns {
	struct meta_env *me;
	const struct keymap *km;
	struct journal *j;
	struct ns_defaults def;
};

int ns_open(struct meta_env *me, const struct keymap *km, struct journal *j,
	    const struct ns_defaults *defaults, struct ns **out)
{
	struct ns *ns = calloc(1, sizeof *ns);

	if (!ns)
		return ENOMEM;
	ns->me = me;
	ns->km = km;
	ns->j = j;
	if (defaults) {
		ns->def = *defaults;
	} else {
		ns->def.file_mode = 0644;
		ns->def.dir_mode = 0755;
	}
	*out = ns;
	return 0;
}

void ns_close(struct ns *ns)
{
	free(ns);
}

struct meta_env *ns_meta(struct ns *ns)
{
	return ns->me;
}

/* A file-side change to in: timestamps are the caller's, this marks it dirty. */
static void ns_mark_dirty(struct meta_inode *in, int64_t now)
{
	if (in->sync != META_S_CONFLICT)
		in->sync = META_S_DIRTY;
	in->dirty_since_ns = now;
	in->dirty_gen++;
}

static void ns_touch(struct meta_inode *in, int64_t now, bool mtime)
{
	if (mtime)
		in->mtime_ns = now;
	in->ctime_ns = now;
	in->change++;
}

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

static bool ns_is_reserved(uint64_t dir, const char *name, size_t len)
{
	return dir == META_ROOT_INO && len == sizeof NS_LOSTFOUND - 1 &&
	       memcmp(name, NS_LOSTFOUND, len) == 0;
}

/* ---- reads ---- */

struct ns_get_ctx {
	uint64_t ino;
	uint64_t dir;
	const char *name;
	size_t len;
	struct meta_inode *out;
};

static int ns_getattr_txn(struct meta_txn *t, void *arg)
{
	struct ns_get_ctx *c = arg;

	return meta_inode_get(t, c->ino, c->out);
}

int ns_getattr(struct ns *ns, uint64_t ino, struct meta_inode *out)
{
	struct ns_get_ctx c = { .ino = ino, .out = out };

	return meta_read(ns->me, ns_getattr_txn, &c);
}

static int ns_lookup_txn(struct meta_txn *t, void *arg)
{
	struct ns_get_ctx *c = arg;
	struct meta_dirent de;
	int rc;

	rc = meta_inode_get(t, c->dir, c->out);
	if (rc)
		return rc == ENOENT ? ESTALE : rc;
	if (c->out->type != META_T_DIR)
		return ENOTDIR;
	if (c->len == 1 && c->name[0] == '.')
		return 0;
	if (c->len == 2 && c->name[0] == '.' && c->name[1] == '.')
		return meta_inode_get(t, c->out->parent, c->out);
	rc = meta_dirent_get(t, c->dir, c->name, c->len, &de);
	if (rc)
		return rc;
	return meta_inode_get(t, de.ino, c->out);
}

int ns_lookup(struct ns *ns, uint64_t dir, const char *name, size_t len, struct meta_inode *out)
{
	struct ns_get_ctx c = { .dir = dir, .name = name, .len = len, .out = out };

	if (len == 0 || len > META_NAME_MAX)
		return len ? ENAMETOOLONG : ENOENT;
	return meta_read(ns->me, ns_lookup_txn, &c);
}

struct ns_readlink_ctx {
	uint64_t ino;
	char *buf;
	size_t cap;
	size_t *len;
};

static int ns_readlink_txn(struct meta_txn *t, void *arg)
{
	struct ns_readlink_ctx *c = arg;
	struct meta_inode in;
	int rc;

	rc = meta_inode_get(t, c->ino, &in);
	if (rc)
		return rc;
	if (in.type != META_T_LNK)
		return EINVAL;
	return meta_symlink_get(t, c->ino, c->buf, c->cap, c->len);
}

int ns_readlink(struct ns *ns, uint64_t ino, char *buf, size_t cap, size_t *len)
{
	struct ns_readlink_ctx c = { ino, buf, cap, len };

	return meta_read(ns->me, ns_readlink_txn, &c);
}

struct ns_readdir_ctx {
	uint64_t dir, after;
	struct ns_dirent *out;
	size_t max, n;
	bool eof;
};

static int ns_readdir_cb(void *arg, const struct meta_dirent *de)
{
	struct ns_readdir_ctx *c = arg;
	struct ns_dirent *o;

	if (c->n == c->max) {
		c->eof = false;
		return 1;
	}
	o = &c->out[c->n++];
	o->ino = de->ino;
	o->cookie = de->cookie;
	o->type = de->type;
	o->name_len = (uint8_t)de->name_len;
	memcpy(o->name, de->name, de->name_len);
	o->name[de->name_len] = '\0';
	return 0;
}

static int ns_readdir_txn(struct meta_txn *t, void *arg)
{
	struct ns_readdir_ctx *c = arg;
	struct meta_inode in;
	int rc;

	rc = meta_inode_get(t, c->dir, &in);
	if (rc)
		return rc;
	if (in.type != META_T_DIR)
		return ENOTDIR;
	c->n = 0;
	c->eof = true;
	rc = meta_dir_iter(t, c->dir, c->after, ns_readdir_cb, c);
	return rc == 1 ? 0 : rc;
}

int ns_readdir(struct ns *ns, uint64_t dir, uint64_t after, struct ns_dirent *out, size_t max,
	       size_t *n, bool *eof)
{
	struct ns_readdir_ctx c = { .dir = dir, .after = after, .out = out, .max = max };
	int rc = meta_read(ns->me, ns_readdir_txn, &c);

	*n = c.n;
	*eof = c.eof;
	return rc;
}

/* ---- paths and keys ---- */

int ns_path(struct ns *ns, struct meta_txn *t, uint64_t ino, char *buf, size_t cap,
	    const char **comp, size_t *len, size_t *n)
{
	struct meta_inode in;
	size_t depth = 0, used = 0;
	int rc;

	(void)ns;
	/* Walk up, storing names from the end of buf backwards. */
	while (ino != META_ROOT_INO) {
		rc = meta_inode_get(t, ino, &in);
		if (rc)
			return rc == ENOENT ? ESTALE : rc;
		if (depth == KEYMAP_DEPTH_MAX || used + in.name_len > cap)
			return ENAMETOOLONG;
		used += in.name_len;
		memcpy(buf + cap - used, in.name, in.name_len);
		comp[depth] = buf + cap - used;
		len[depth] = in.name_len;
		depth++;
		if (in.parent == ino)
			return S3F_E_META_CORRUPT;
		ino = in.parent;
	}
	/* Reverse into root-first order. */
	for (size_t i = 0; i < depth / 2; i++) {
		const char *tc = comp[i];
		size_t tl = len[i];

		comp[i] = comp[depth - 1 - i];
		len[i] = len[depth - 1 - i];
		comp[depth - 1 - i] = tc;
		len[depth - 1 - i] = tl;
	}
	*n = depth;
	return 0;
}

/* Key of the entry name in dir (not yet or no longer linked), or of ino itself. */
static int ns_key_in_dir(struct ns *ns, struct meta_txn *t, uint64_t dir, const char *name,
			 size_t name_len, bool is_dir, char *key, size_t cap, size_t *keylen)
{
	char buf[S3_KEY_MAX + 1];
	const char *comp[KEYMAP_DEPTH_MAX];
	size_t len[KEYMAP_DEPTH_MAX], n;
	int rc;

	rc = ns_path(ns, t, dir, buf, sizeof buf, comp, len, &n);
	if (rc)
		return rc;
	if (name) {
		if (n == KEYMAP_DEPTH_MAX)
			return ENAMETOOLONG;
		comp[n] = name;
		len[n] = name_len;
		n++;
	}
	return keymap_key_build(ns->km, comp, len, n, is_dir, key, cap, keylen);
}

int ns_key(struct ns *ns, struct meta_txn *t, uint64_t ino, char *key, size_t cap, size_t *keylen)
{
	struct meta_inode in;
	int rc;

	rc = meta_inode_get(t, ino, &in);
	if (rc)
		return rc;
	if (ino == META_ROOT_INO)
		return keymap_key_build(ns->km, NULL, NULL, 0, false, key, cap, keylen);
	return ns_key_in_dir(ns, t, ino, NULL, 0, in.type == META_T_DIR, key, cap, keylen);
}

struct ns_key_ctx {
	struct ns *ns;
	uint64_t ino;
	char *key;
	size_t cap;
	size_t *keylen;
};

static int ns_key_txn(struct meta_txn *t, void *arg)
{
	struct ns_key_ctx *c = arg;

	return ns_key(c->ns, t, c->ino, c->key, c->cap, c->keylen);
}

int ns_key_of(struct ns *ns, uint64_t ino, char *key, size_t cap, size_t *keylen)
{
	struct ns_key_ctx c = { ns, ino, key, cap, keylen };

	return meta_read(ns->me, ns_key_txn, &c);
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
	if (rc != ENOENT)
		return rc;

	rc = meta_ino_alloc(t, &ino, &gen);
	if (rc)
		return rc;
	meta_inode_init(in, ino, gen, c->dir, c->nw->type, c->nw->mode, c->nw->uid, c->nw->gid, now);
	if ((rc = meta_inode_set_name(in, c->name, c->len)))
		return rc;
	if (c->nw->type == META_T_LNK)
		in->size = c->nw->target_len;
	/* New on the file side: nothing in S3 yet; commit creates the object / marker. */
	ns_mark_dirty(in, now);
	if ((rc = meta_inode_put(t, in)) || (rc = meta_dirty_add(t, ino)))
		return rc;
	if (c->nw->type == META_T_LNK &&
	    (rc = meta_symlink_put(t, ino, c->nw->target, c->nw->target_len)))
		return rc;

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
	if (nw->type == META_T_LNK && (nw->target_len == 0 || nw->target_len >= 4096))
		return nw->target_len ? ENAMETOOLONG : EINVAL;
	rc = meta_write(ns->me, ns_create_txn, &c);
	if (rc == 0 && dir_out)
		*dir_out = c.dir_in;
	return rc;
}

/* ---- remove ---- */

/* Drop every record of in (not its dirent). A bound object gets a pending delete. */
static int ns_drop_inode(struct ns *ns, struct meta_txn *t, const struct meta_inode *in,
			 const char *key, size_t keylen, int64_t now, bool record_delete)
{
	int rc;

	(void)ns;
	if (record_delete && (in->flags & META_F_IN_S3) &&
	    (in->type != META_T_DIR || (in->flags & META_F_MARKER))) {
		rc = meta_delete_add(t, key, keylen, in->etag, now, in->ino);
		if (rc)
			return rc;
	}
	if (in->flags & META_F_IN_S3) {
		rc = meta_key_del(t, key, keylen);
		if (rc && rc != ENOENT)
			return rc;
	}
	if ((rc = meta_inode_del(t, in->ino)) || (rc = meta_dirty_del(t, in->ino)) ||
	    (rc = meta_extents_put(t, in->ino, NULL)) || (rc = meta_symlink_del(t, in->ino)))
		return rc;
	return 0;
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
	if (v->flags & META_F_RESERVED)
		return EPERM;

	rc = ns_key_in_dir(c->ns, t, c->dir, c->name, c->len, v->type == META_T_DIR, key,
			   sizeof key, &keylen);
	if (rc)
		return rc;
	if ((rc = meta_dirent_del(t, c->dir, c->name, c->len)))
		return rc;
	if ((rc = ns_drop_inode(c->ns, t, v, key, keylen, now, true)))
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

struct ns_setattr_ctx {
	uint64_t ino;
	const struct ns_setattr *sa;
	struct meta_inode out;
};

static int ns_setattr_txn(struct meta_txn *t, void *arg)
{
	struct ns_setattr_ctx *c = arg;
	const struct ns_setattr *sa = c->sa;
	struct meta_inode *in = &c->out;
	int64_t now = meta_now_ns();
	bool content = false;
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
	if (sa->mask & NS_SET_UID)
		in->uid = sa->uid;
	if (sa->mask & NS_SET_GID)
		in->gid = sa->gid;
	if (sa->mask & NS_SET_ATIME)
		in->atime_ns = sa->atime_ns;
	if (sa->mask & NS_SET_MTIME)
		in->mtime_ns = sa->mtime_ns;
	in->ctime_ns = (sa->mask & NS_SET_CTIME) ? sa->ctime_ns : now;
	in->change++;
	/* Mode, owner and mtime travel as object metadata: any of them (or content) changing
	 * means the object must be written again. atime alone does not. */
	if (content || (sa->mask & (NS_SET_MODE | NS_SET_UID | NS_SET_GID | NS_SET_MTIME))) {
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

struct ns_write_ctx {
	uint64_t ino, off, len;
	struct meta_inode out;
};

static int ns_write_txn(struct meta_txn *t, void *arg)
{
	struct ns_write_ctx *c = arg;
	struct meta_inode *in = &c->out;
	int64_t now = meta_now_ns();
	uint64_t end = c->off + c->len;
	int rc;

	rc = meta_inode_get(t, c->ino, in);
	if (rc)
		return rc == ENOENT ? ESTALE : rc;
	if (in->type != META_T_REG)
		return EINVAL;
	if (in->data != META_D_FULL) {
		struct rangeset rs = RANGESET_INIT;

		rc = meta_extents_get(t, in->ino, &rs);
		if (rc == 0)
			rc = rangeset_add(&rs, c->off, end);
		/* A write past the end leaves a hole of zeros, which is local too. */
		if (rc == 0 && c->off > in->size)
			rc = rangeset_add(&rs, in->size, c->off);
		if (rc == 0) {
			uint64_t size = end > in->size ? end : in->size;

			if (rangeset_covers(&rs, 0, size)) {
				in->data = META_D_FULL;
				rc = meta_extents_put(t, in->ino, NULL);
			} else {
				in->data = META_D_PARTIAL;
				rc = meta_extents_put(t, in->ino, &rs);
			}
		}
		rangeset_free(&rs);
		if (rc)
			return rc;
	}
	if (end > in->size)
		in->size = end;
	ns_touch(in, now, true);
	ns_mark_dirty(in, now);
	if ((rc = meta_dirty_add(t, in->ino)))
		return rc;
	return meta_inode_put(t, in);
}

int ns_write_done(struct ns *ns, uint64_t ino, uint64_t off, uint64_t len, struct meta_inode *out)
{
	struct ns_write_ctx c = { .ino = ino, .off = off, .len = len };
	int rc = meta_write(ns->me, ns_write_txn, &c);

	if (rc == 0 && out)
		*out = c.out;
	return rc;
}

struct ns_fetch_ctx {
	uint64_t ino, off, len;
	const char *etag;
	struct meta_inode out;
	struct rangeset *rs;
};

static int ns_fetched_txn(struct meta_txn *t, void *arg)
{
	struct ns_fetch_ctx *c = arg;
	struct meta_inode *in = &c->out;
	struct rangeset rs = RANGESET_INIT;
	uint64_t end;
	int rc;

	rc = meta_inode_get(t, c->ino, in);
	if (rc)
		return rc;
	if (strcmp(in->etag, c->etag) != 0)
		return S3F_E_S3_PRECOND;
	if (in->data == META_D_FULL)
		return 0;
	end = c->off + c->len;
	if (end > in->size)
		end = in->size;
	rc = meta_extents_get(t, in->ino, &rs);
	if (rc == 0 && end > c->off)
		rc = rangeset_add(&rs, c->off, end);
	if (rc == 0) {
		if (rangeset_covers(&rs, 0, in->size)) {
			in->data = META_D_FULL;
			rc = meta_extents_put(t, in->ino, NULL);
		} else {
			in->data = META_D_PARTIAL;
			rc = meta_extents_put(t, in->ino, &rs);
		}
	}
	rangeset_free(&rs);
	if (rc)
		return rc;
	return meta_inode_put(t, in);
}

int ns_data_fetched(struct ns *ns, uint64_t ino, const char *etag, uint64_t off, uint64_t len,
		    struct meta_inode *out)
{
	struct ns_fetch_ctx c = { .ino = ino, .off = off, .len = len, .etag = etag };
	int rc = meta_write(ns->me, ns_fetched_txn, &c);

	if (rc == 0 && out)
		*out = c.out;
	return rc;
}

static int ns_present_txn(struct meta_txn *t, void *arg)
{
	struct ns_fetch_ctx *c = arg;
	int rc;

	rc = meta_inode_get(t, c->ino, &c->out);
	if (rc)
		return rc;
	rangeset_clear(c->rs);
	if (c->out.data == META_D_FULL)
		return c->out.size ? rangeset_add(c->rs, 0, c->out.size) : 0;
	if (c->out.data == META_D_NONE)
		return 0;
	return meta_extents_get(t, c->ino, c->rs);
}

int ns_data_present(struct ns *ns, uint64_t ino, struct rangeset *out, struct meta_inode *in)
{
	struct ns_fetch_ctx c = { .ino = ino, .rs = out };
	int rc = meta_read(ns->me, ns_present_txn, &c);

	if (rc == 0 && in)
		*in = c.out;
	return rc;
}

/* ---- import ---- */

struct ns_import_ctx {
	struct ns *ns;
	uint64_t dir;
	const struct ns_import_entry *e;
	size_t n;
	int64_t start;
	enum ns_import_result *results;
	uint64_t *inos;
};

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

	rc = meta_dirent_get(t, c->dir, e->name, e->len, &de);
	if (rc == ENOENT) {
		struct meta_delete pd;
		uint64_t ino;
		uint32_t gen;

		if (!e->is_dir) {
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
		if (e->attrs && e->attrs->has_mode && S_ISLNK(e->attrs->mode) && !e->is_dir)
			in.type = META_T_LNK;
		in.ctime_ns = in.mtime_ns;
		in.atime_ns = in.mtime_ns;
		in.flags |= META_F_IN_S3 | (e->is_marker ? META_F_MARKER : 0);
		in.synced_ns = now;
		if (!e->is_dir) {
			in.size = in.s3_size = e->size;
			in.s3_mtime = e->mtime_s;
			snprintf(in.etag, sizeof in.etag, "%s", e->etag ? e->etag : "");
			in.data = e->size ? META_D_NONE : META_D_FULL;
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
		*res = NS_IMP_NEW;
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
	if (in.sync != META_S_CLEAN) {
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
	if (e->attrs && e->attrs->has_mode && S_ISLNK(e->attrs->mode))
		in.type = META_T_LNK;
	in.size = in.s3_size = e->size;
	in.s3_mtime = e->mtime_s;
	snprintf(in.etag, sizeof in.etag, "%s", e->etag ? e->etag : "");
	in.version_id[0] = '\0';
	in.flags |= META_F_IN_S3;
	in.synced_ns = now;
	in.data = e->size ? META_D_NONE : META_D_FULL;
	ns_touch(&in, now, false);
	if ((rc = meta_extents_put(t, in.ino, NULL)) || (rc = meta_key_put(t, key, keylen, in.ino)) ||
	    (rc = meta_inode_put(t, &in)) || (rc = meta_change_add(t, in.ino, META_CH_ATTR)))
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
	int rc;

	rc = meta_inode_get(t, c->dir, &d);
	if (rc)
		return rc;
	if (d.type != META_T_DIR)
		return ENOTDIR;
	change0 = d.change;
	for (size_t i = 0; i < c->n; i++) {
		enum ns_import_result res;
		uint64_t ino;

		rc = ns_import_one(c, t, &d, &c->e[i], &res, &ino);
		if (rc)
			return rc;
		if (c->results)
			c->results[i] = res;
		if (c->inos)
			c->inos[i] = ino;
		if (res == NS_IMP_NEW)
			changed_dir = true;
	}
	if (d.change != change0 || changed_dir) {
		if ((rc = meta_inode_put(t, &d)) || (rc = meta_change_add(t, c->dir, META_CH_DIR)))
			return rc;
	}
	return 0;
}

int ns_import_apply(struct ns *ns, uint64_t dir, const struct ns_import_entry *entries, size_t n,
		    int64_t listing_start_ns, enum ns_import_result *results, uint64_t *inos)
{
	struct ns_import_ctx c = { ns, dir, entries, n, listing_start_ns, results, inos };

	return meta_write(ns->me, ns_import_txn, &c);
}

struct ns_finish_ctx {
	struct ns *ns;
	uint64_t dir;
	int64_t start;
	ns_seen_fn seen;
	void *seen_arg;
	uint64_t n_removed;
	/* names that vanished from S3, collected before changing the directory */
	struct ns_dirent *gone;
	size_t n_gone, cap_gone;
	/* removed inodes, reported after commit */
	struct { uint64_t ino; uint8_t type; } *rm;
	size_t n_rm, cap_rm;
};

static int ns_finish_collect(void *arg, const struct meta_dirent *de)
{
	struct ns_finish_ctx *c = arg;

	if (c->seen(c->seen_arg, de->name, de->name_len))
		return 0;
	if (c->n_gone == c->cap_gone) {
		size_t cap = c->cap_gone ? c->cap_gone * 2 : 64;
		struct ns_dirent *g = realloc(c->gone, cap * sizeof *g);

		if (!g)
			return ENOMEM;
		c->gone = g;
		c->cap_gone = cap;
	}
	struct ns_dirent *g = &c->gone[c->n_gone++];

	g->ino = de->ino;
	g->type = de->type;
	g->name_len = (uint8_t)de->name_len;
	memcpy(g->name, de->name, de->name_len);
	g->name[de->name_len] = '\0';
	return 0;
}

static int ns_rm_note(struct ns_finish_ctx *c, uint64_t ino, uint8_t type)
{
	if (c->n_rm == c->cap_rm) {
		size_t cap = c->cap_rm ? c->cap_rm * 2 : 64;
		void *p = realloc(c->rm, cap * sizeof *c->rm);

		if (!p)
			return ENOMEM;
		c->rm = p;
		c->cap_rm = cap;
	}
	c->rm[c->n_rm].ino = ino;
	c->rm[c->n_rm].type = type;
	c->n_rm++;
	return 0;
}

/* Can the subtree at dir be dropped because S3 no longer has it? Only if nothing in it
 * holds file-side state (dirty, conflict, or never committed). */
struct ns_clean_ctx {
	struct meta_txn *t;
	int depth;
	bool clean;
};

static int ns_subtree_clean_cb(void *arg, const struct meta_dirent *de);

static int ns_subtree_clean(struct meta_txn *t, uint64_t dir, int depth, bool *clean)
{
	struct ns_clean_ctx c = { t, depth, true };
	int rc;

	if (depth > KEYMAP_DEPTH_MAX) {
		*clean = false;
		return 0;
	}
	rc = meta_dir_iter(t, dir, 0, ns_subtree_clean_cb, &c);
	*clean = c.clean;
	return rc == 1 ? 0 : rc;
}

static int ns_subtree_clean_cb(void *arg, const struct meta_dirent *de)
{
	struct ns_clean_ctx *c = arg;
	struct meta_inode in;
	int rc;

	rc = meta_inode_get(c->t, de->ino, &in);
	if (rc)
		return rc;
	if (in.sync != META_S_CLEAN || !(in.flags & META_F_IN_S3)) {
		c->clean = false;
		return 1;
	}
	if (in.type == META_T_DIR) {
		bool sub;

		rc = ns_subtree_clean(c->t, in.ino, c->depth + 1, &sub);
		if (rc)
			return rc;
		if (!sub) {
			c->clean = false;
			return 1;
		}
	}
	return 0;
}

/* Remove the clean subtree under (and including) in, which is linked as name in parent. */
static int ns_drop_subtree(struct ns_finish_ctx *c, struct meta_txn *t, const struct meta_inode *in,
			   int depth)
{
	char key[S3_KEY_MAX + 1];
	size_t keylen;
	int rc;

	if (depth > KEYMAP_DEPTH_MAX)
		return ELOOP;
	if (in->type == META_T_DIR) {
		struct ns_dirent ents[64];
		size_t n;
		bool eof = false;

		/* Children first; re-read from the start each round since we delete. */
		while (!eof) {
			struct ns_readdir_ctx rc_ctx = { .dir = in->ino, .after = 0, .out = ents,
							 .max = 64 };

			rc = meta_dir_iter(t, in->ino, 0, ns_readdir_cb, &rc_ctx);
			if (rc && rc != 1)
				return rc;
			n = rc_ctx.n;
			eof = rc != 1;
			for (size_t i = 0; i < n; i++) {
				struct meta_inode child;

				if ((rc = meta_inode_get(t, ents[i].ino, &child)))
					return rc;
				if ((rc = ns_drop_subtree(c, t, &child, depth + 1)))
					return rc;
			}
			if (n == 0)
				break;
		}
	}
	rc = ns_key(c->ns, t, in->ino, key, sizeof key, &keylen);
	if (rc)
		return rc;
	if ((rc = meta_dirent_del(t, in->parent, in->name, in->name_len)))
		return rc;
	if ((rc = ns_drop_inode(c->ns, t, in, key, keylen, 0, false)))
		return rc;
	if ((rc = meta_change_add(t, in->ino, META_CH_GONE)))
		return rc;
	c->n_removed++;
	return ns_rm_note(c, in->ino, in->type);
}

static int ns_finish_txn(struct meta_txn *t, void *arg)
{
	struct ns_finish_ctx *c = arg;
	struct meta_inode d;
	int64_t now = meta_now_ns();
	bool dir_changed = false;
	int rc;

	c->n_gone = 0;
	c->n_rm = 0;
	c->n_removed = 0;
	rc = meta_inode_get(t, c->dir, &d);
	if (rc)
		return rc;
	rc = meta_dir_iter(t, c->dir, 0, ns_finish_collect, c);
	if (rc)
		return rc;
	for (size_t i = 0; i < c->n_gone; i++) {
		struct meta_inode in;
		bool clean;

		rc = meta_inode_get(t, c->gone[i].ino, &in);
		if (rc)
			return rc;
		/* Never in S3 (file-side new), reserved, or confirmed during this listing. */
		if (!(in.flags & META_F_IN_S3) || (in.flags & META_F_RESERVED) ||
		    in.synced_ns >= c->start)
			continue;
		if (in.type == META_T_DIR) {
			rc = ns_subtree_clean(t, in.ino, 0, &clean);
			if (rc)
				return rc;
			clean = clean && in.sync == META_S_CLEAN;
		} else {
			clean = in.sync == META_S_CLEAN;
		}
		if (!clean) {
			/* Gone from S3 but holds file-side changes. A directory just stops
			 * being bound (its contents will recreate it); a file is a conflict. */
			if (in.type == META_T_DIR) {
				in.flags &= ~(uint32_t)(META_F_IN_S3 | META_F_MARKER);
			} else if (in.sync != META_S_CONFLICT) {
				in.sync = META_S_CONFLICT;
				if ((rc = meta_dirty_add(t, in.ino)))
					return rc;
			}
			if ((rc = meta_inode_put(t, &in)))
				return rc;
			continue;
		}
		if ((rc = ns_drop_subtree(c, t, &in, 0)))
			return rc;
		dir_changed = true;
		if (in.type == META_T_DIR && d.nlink > 2)
			d.nlink--;
	}
	/* ns_drop_subtree rewrote the directory's cookies; re-read it before updating. */
	{
		uint32_t nlink = d.nlink;

		if ((rc = meta_inode_get(t, c->dir, &d)))
			return rc;
		d.nlink = nlink;
	}
	d.flags |= META_F_IMPORTED;
	d.synced_ns = now;
	if (dir_changed) {
		ns_touch(&d, now, false);
		if ((rc = meta_change_add(t, c->dir, META_CH_DIR)))
			return rc;
	}
	return meta_inode_put(t, &d);
}

int ns_import_finish(struct ns *ns, uint64_t dir, int64_t listing_start_ns, ns_seen_fn seen,
		     void *seen_arg, ns_removed_fn removed, void *removed_arg, uint64_t *n_removed)
{
	struct ns_finish_ctx c = { .ns = ns, .dir = dir, .start = listing_start_ns, .seen = seen,
				   .seen_arg = seen_arg };
	int rc = meta_write(ns->me, ns_finish_txn, &c);

	if (rc == 0) {
		for (size_t i = 0; i < c.n_rm; i++)
			if (removed)
				removed(removed_arg, c.rm[i].ino, c.rm[i].type);
		if (n_removed)
			*n_removed = c.n_removed;
	}
	free(c.gone);
	free(c.rm);
	return rc;
}

struct ns_obj_ctx {
	const uint64_t *inos;
	const struct s3_object_info *infos;
	const int *rcs;
	size_t n;
	bool fetched;
};

static int ns_object_one(struct meta_txn *t, uint64_t ino, const struct s3_object_info *info,
			 bool fetched)
{
	struct keymap_attrs a;
	struct meta_inode in;
	const char *bad = NULL;
	int rc;

	rc = meta_inode_get(t, ino, &in);
	if (rc)
		return rc == ENOENT ? 0 : rc;
	/* Only a clean inode still based on this version takes it. */
	if (in.sync != META_S_CLEAN || strcmp(in.etag, info->etag) != 0)
		return 0;
	keymap_meta_decode(info->meta, info->n_meta, &a, &bad);
	if (a.has_mode) {
		in.mode = a.mode & 07777;
		if (S_ISLNK(a.mode) && in.type == META_T_REG)
			in.type = META_T_LNK;
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
	if (fetched) {
		in.data = META_D_FULL;
		if ((rc = meta_extents_put(t, in.ino, NULL)))
			return rc;
	}
	in.change++;
	if ((rc = meta_inode_put(t, &in)))
		return rc;
	return meta_change_add(t, in.ino, META_CH_ATTR);
}

static int ns_objects_txn(struct meta_txn *t, void *arg)
{
	struct ns_obj_ctx *c = arg;
	int rc;

	for (size_t i = 0; i < c->n; i++) {
		if (c->rcs && c->rcs[i])
			continue;
		rc = ns_object_one(t, c->inos[i], &c->infos[i], c->fetched);
		if (rc)
			return rc;
	}
	return 0;
}

int ns_import_objects(struct ns *ns, const uint64_t *inos, const struct s3_object_info *infos,
		      const int *rcs, size_t n, bool data_fetched)
{
	struct ns_obj_ctx c = { inos, infos, rcs, n, data_fetched };

	if (n == 0)
		return 0;
	return meta_write(ns->me, ns_objects_txn, &c);
}

/* ---- commit bookkeeping ---- */

struct ns_commit_ctx {
	struct ns *ns;
	uint64_t ino;
	int64_t min_age;
	struct ns_commit *c;
	const struct s3_object_info *info;
};

static int ns_prepare_txn(struct meta_txn *t, void *arg)
{
	struct ns_commit_ctx *x = arg;
	struct ns_commit *c = x->c;
	int rc;

	rc = meta_inode_get(t, x->ino, &c->in);
	if (rc)
		return rc;
	if (c->in.sync == META_S_CLEAN)
		return EALREADY;
	if (c->in.sync == META_S_CONFLICT)
		return EBUSY;
	if (x->min_age && meta_now_ns() - c->in.dirty_since_ns < x->min_age)
		return EAGAIN;
	c->ino = x->ino;
	c->dirty_gen = c->in.dirty_gen;
	rc = ns_key(x->ns, t, x->ino, c->key, sizeof c->key, &c->key_len);
	if (rc)
		return rc;
	snprintf(c->prev_etag, sizeof c->prev_etag, "%s",
		 (c->in.flags & META_F_IN_S3) ? c->in.etag : "");
	c->target_len = 0;
	if (c->in.type == META_T_LNK)
		rc = meta_symlink_get(t, x->ino, c->target, sizeof c->target, &c->target_len);
	return rc;
}

int ns_commit_prepare(struct ns *ns, uint64_t ino, int64_t min_age_ns, struct ns_commit *c)
{
	struct ns_commit_ctx x = { .ns = ns, .ino = ino, .min_age = min_age_ns, .c = c };

	return meta_read(ns->me, ns_prepare_txn, &x);
}

static int ns_done_txn(struct meta_txn *t, void *arg)
{
	struct ns_commit_ctx *x = arg;
	const struct ns_commit *c = x->c;
	const struct s3_object_info *info = x->info;
	char key[S3_KEY_MAX + 1];
	size_t keylen;
	struct meta_inode in;
	int64_t now = meta_now_ns();
	int rc;

	rc = meta_inode_get(t, c->ino, &in);
	if (rc == ENOENT || (rc == 0 && in.gen != c->in.gen)) {
		/* Removed while we uploaded: the object we just wrote must go again. */
		return meta_delete_add(t, c->key, c->key_len, info->etag, now, c->ino);
	}
	if (rc)
		return rc;
	rc = ns_key(x->ns, t, c->ino, key, sizeof key, &keylen);
	if (rc)
		return rc;
	if (keylen != c->key_len || memcmp(key, c->key, keylen) != 0) {
		/* Renamed while we uploaded: the new name commits later, this object goes. */
		return meta_delete_add(t, c->key, c->key_len, info->etag, now, c->ino);
	}
	if ((in.flags & META_F_IN_S3) && in.type != META_T_DIR) {
		/* nothing: same key, binding stays */
	}
	in.flags |= META_F_IN_S3;
	if (in.type == META_T_DIR)
		in.flags |= META_F_MARKER;
	snprintf(in.etag, sizeof in.etag, "%s", info->etag);
	snprintf(in.version_id, sizeof in.version_id, "%s", info->version_id);
	in.s3_size = c->in.size;
	in.s3_mtime = info->last_modified ? info->last_modified : now / 1000000000LL;
	in.synced_ns = now;
	if (in.type != META_T_DIR && (rc = meta_key_put(t, key, keylen, in.ino)))
		return rc;
	if (in.dirty_gen == c->dirty_gen && in.sync == META_S_DIRTY) {
		in.sync = META_S_CLEAN;
		in.dirty_since_ns = 0;
		if ((rc = meta_dirty_del(t, in.ino)))
			return rc;
	}
	return meta_inode_put(t, &in);
}

int ns_commit_done(struct ns *ns, const struct ns_commit *c, const struct s3_object_info *info)
{
	struct ns_commit_ctx x = { .ns = ns, .c = (struct ns_commit *)c, .info = info };

	return meta_write(ns->me, ns_done_txn, &x);
}

struct ns_deldone_ctx {
	const char *key;
	size_t len;
};

static int ns_deldone_txn(struct meta_txn *t, void *arg)
{
	struct ns_deldone_ctx *c = arg;
	int rc = meta_delete_del(t, c->key, c->len);

	return rc == ENOENT ? 0 : rc;
}

int ns_delete_done(struct ns *ns, const char *key, size_t len)
{
	struct ns_deldone_ctx c = { key, len };

	return meta_write(ns->me, ns_deldone_txn, &c);
}

struct ns_backlog_ctx {
	uint64_t dirty, deletes;
};

static int ns_count_delete(void *arg, const struct meta_delete *d)
{
	(void)d;
	((struct ns_backlog_ctx *)arg)->deletes++;
	return 0;
}

static int ns_backlog_txn(struct meta_txn *t, void *arg)
{
	struct ns_backlog_ctx *c = arg;
	int rc = meta_dirty_count(t, &c->dirty);

	if (rc)
		return rc;
	return meta_delete_iter(t, ns_count_delete, c);
}

int ns_backlog(struct ns *ns, uint64_t *dirty, uint64_t *deletes)
{
	struct ns_backlog_ctx c = { 0, 0 };
	int rc = meta_read(ns->me, ns_backlog_txn, &c);

	*dirty = c.dirty;
	*deletes = c.deletes;
	return rc;
}

/* ---- sync state of a subtree (wait-synced) ---- */

/* Walk up from ino; parents are at most KEYMAP_DEPTH_MAX deep. */
static int ns_under_txn(struct meta_txn *t, uint64_t ino, uint64_t under, bool *inside)
{
	*inside = false;
	if (under == META_ROOT_INO) {
		*inside = true;
		return 0;
	}
	for (int depth = 0; depth <= KEYMAP_DEPTH_MAX + 1; depth++) {
		struct meta_inode in;
		int rc;

		if (ino == under) {
			*inside = true;
			return 0;
		}
		if (ino == META_ROOT_INO)
			return 0;
		rc = meta_inode_get(t, ino, &in);
		if (rc)
			return rc == ENOENT ? 0 : rc;
		ino = in.parent;
	}
	return 0;
}

struct ns_under_ctx {
	uint64_t ino, under;
	bool inside;
};

static int ns_is_under_txn(struct meta_txn *t, void *arg)
{
	struct ns_under_ctx *c = arg;

	return ns_under_txn(t, c->ino, c->under, &c->inside);
}

int ns_is_under(struct ns *ns, uint64_t ino, uint64_t under, bool *inside)
{
	struct ns_under_ctx c = { ino, under, false };
	int rc = meta_read(ns->me, ns_is_under_txn, &c);

	*inside = c.inside;
	return rc;
}

struct ns_pending_ctx {
	struct ns *ns;
	struct meta_txn *t;
	uint64_t under;
	char prefix[S3_KEY_MAX + 1];	/* key prefix of `under` (dirs end in '/') */
	size_t prefix_len;
	bool all;			/* under is the root: every delete counts */
	struct ns_pending *out;
};

static int ns_pending_dirty(void *arg, uint64_t ino)
{
	struct ns_pending_ctx *c = arg;
	struct meta_inode in;
	bool inside;
	int rc = ns_under_txn(c->t, ino, c->under, &inside);

	if (rc || !inside)
		return rc;
	rc = meta_inode_get(c->t, ino, &in);
	if (rc)
		return rc == ENOENT ? 0 : rc;
	c->out->dirty++;
	if (in.sync == META_S_CONFLICT) {
		c->out->conflicts++;
		if (!c->out->first_conflict)
			c->out->first_conflict = ino;
	}
	return 0;
}

static int ns_pending_delete(void *arg, const struct meta_delete *d)
{
	struct ns_pending_ctx *c = arg;

	/* A pending delete of a key below `under` (or of its own key: a file replaced by
	 * another or a directory whose marker goes). */
	if (c->all || (d->key_len >= c->prefix_len &&
		       memcmp(d->key, c->prefix, c->prefix_len) == 0))
		c->out->deletes++;
	return 0;
}

static int ns_pending_txn(struct meta_txn *t, void *arg)
{
	struct ns_pending_ctx *c = arg;
	int rc;

	c->t = t;
	memset(c->out, 0, sizeof *c->out);
	c->all = c->under == META_ROOT_INO;
	if (!c->all) {
		rc = ns_key(c->ns, t, c->under, c->prefix, sizeof c->prefix, &c->prefix_len);
		if (rc)
			return rc;
	}
	rc = meta_dirty_iter(t, ns_pending_dirty, c);
	if (rc)
		return rc;
	return meta_delete_iter(t, ns_pending_delete, c);
}

int ns_subtree_pending(struct ns *ns, uint64_t under, struct ns_pending *out)
{
	struct ns_pending_ctx *c = calloc(1, sizeof *c);
	int rc;

	if (!c)
		return ENOMEM;
	c->ns = ns;
	c->under = under;
	c->out = out;
	rc = meta_read(ns->me, ns_pending_txn, c);
	free(c);
	return rc;
}

/* One directory's entries, read in one transaction. */
struct ns_walk_ent {
	uint64_t ino;
	uint8_t type;
	uint16_t name_len;
	char name[META_NAME_MAX + 1];
};

struct ns_walk_dir {
	uint64_t dir;
	struct ns_walk_ent *e;
	size_t n, cap;
};

static int ns_walk_collect(void *arg, const struct meta_dirent *de)
{
	struct ns_walk_dir *w = arg;

	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct ns_walk_ent *p = realloc(w->e, cap * sizeof *p);

		if (!p)
			return ENOMEM;
		w->e = p;
		w->cap = cap;
	}
	w->e[w->n].ino = de->ino;
	w->e[w->n].type = de->type;
	w->e[w->n].name_len = (uint16_t)de->name_len;
	memcpy(w->e[w->n].name, de->name, de->name_len);
	w->e[w->n].name[de->name_len] = '\0';
	w->n++;
	return 0;
}

static int ns_walk_txn(struct meta_txn *t, void *arg)
{
	((struct ns_walk_dir *)arg)->n = 0;
	return meta_dir_iter(t, ((struct ns_walk_dir *)arg)->dir, 0, ns_walk_collect, arg);
}

struct ns_getino_ctx {
	uint64_t ino;
	struct meta_inode *in;
};

static int ns_getino_txn(struct meta_txn *t, void *arg)
{
	struct ns_getino_ctx *c = arg;

	return meta_inode_get(t, c->ino, c->in);
}

/* path holds the relative path of dir (len bytes); capacity S3_KEY_MAX + 1. */
static int ns_walk(struct ns *ns, uint64_t dir, char *path, size_t len, int depth,
		   ns_file_fn fn, void *arg)
{
	struct ns_walk_dir w = { .dir = dir };
	struct meta_inode *in = malloc(sizeof *in);
	int rc;

	if (!in)
		return ENOMEM;
	if (depth > KEYMAP_DEPTH_MAX) {
		rc = S3F_E_META_CORRUPT;
		goto out;
	}
	rc = meta_read(ns->me, ns_walk_txn, &w);
	for (size_t i = 0; rc == 0 && i < w.n; i++) {
		struct ns_getino_ctx g = { w.e[i].ino, in };
		size_t n = len + (len ? 1 : 0) + w.e[i].name_len;

		if (n > S3_KEY_MAX)
			continue;	/* cannot exist as a key either */
		if (len)
			path[len] = '/';
		memcpy(path + len + (len ? 1 : 0), w.e[i].name, w.e[i].name_len);
		path[n] = '\0';
		if (w.e[i].type == META_T_DIR) {
			rc = ns_walk(ns, w.e[i].ino, path, n, depth + 1, fn, arg);
		} else {
			rc = meta_read(ns->me, ns_getino_txn, &g);
			if (rc == ENOENT) {
				rc = 0;	/* removed meanwhile */
			} else if (rc == 0) {
				rc = fn(arg, path, n, in);
			}
		}
		path[len] = '\0';
	}
out:
	free(w.e);
	free(in);
	return rc;
}

int ns_subtree_files(struct ns *ns, uint64_t under, ns_file_fn fn, void *arg)
{
	struct meta_inode *in = malloc(sizeof *in);
	struct ns_getino_ctx g = { under, in };
	char *path = NULL;
	int rc;

	if (!in)
		return ENOMEM;
	rc = meta_read(ns->me, ns_getino_txn, &g);
	if (rc)
		goto out;
	if (in->type != META_T_DIR) {
		rc = fn(arg, "", 0, in);
		goto out;
	}
	path = malloc(S3_KEY_MAX + 1);
	if (!path) {
		rc = ENOMEM;
		goto out;
	}
	path[0] = '\0';
	rc = ns_walk(ns, under, path, 0, 0, fn, arg);
out:
	free(path);
	free(in);
	return rc;
}

/* ---- eviction ---- */

struct ns_evict_ctx {
	uint64_t ino;
	bool had_inode;
};

static int ns_evict_txn(struct meta_txn *t, void *arg)
{
	struct ns_evict_ctx *c = arg;
	struct meta_inode in;
	int rc = meta_inode_get(t, c->ino, &in);

	c->had_inode = rc == 0;
	if (rc == ENOENT)
		return 0;
	if (rc)
		return rc;
	/* Only data that S3 holds too: never dirty or conflicting data, never a file that was
	 * not uploaded yet, never s3files' own (lost+found). */
	if (in.type != META_T_REG || in.sync != META_S_CLEAN || !(in.flags & META_F_IN_S3) ||
	    (in.flags & META_F_RESERVED) || !in.etag[0])
		return EBUSY;
	if (in.data == META_D_NONE)
		return 0;
	in.data = META_D_NONE;
	if ((rc = meta_extents_put(t, in.ino, NULL)))
		return rc;
	return meta_inode_put(t, &in);
}

int ns_data_evicting(struct ns *ns, uint64_t ino, bool *had_inode)
{
	struct ns_evict_ctx c = { ino, false };
	int rc = meta_write(ns->me, ns_evict_txn, &c);

	if (had_inode)
		*had_inode = c.had_inode;
	return rc;
}

#define NS_EVICT_WANTED "evict_wanted"	/* int64 when (ns), uint64 bytes */

struct ns_evict_req {
	int64_t when_ns;
	uint64_t bytes;
};

static int ns_evict_req_txn(struct meta_txn *t, void *arg)
{
	return meta_info_put(t, NS_EVICT_WANTED, arg, sizeof(struct ns_evict_req));
}

int ns_evict_request(struct ns *ns, int64_t now_ns, uint64_t bytes)
{
	struct ns_evict_req r = { now_ns, bytes };

	return meta_write(ns->me, ns_evict_req_txn, &r);
}

static int ns_evict_reqd_txn(struct meta_txn *t, void *arg)
{
	size_t len = 0;
	int rc = meta_info_get(t, NS_EVICT_WANTED, arg, sizeof(struct ns_evict_req), &len);

	if (rc == ENOENT || (rc == 0 && len != sizeof(struct ns_evict_req))) {
		memset(arg, 0, sizeof(struct ns_evict_req));
		return 0;
	}
	return rc;
}

int ns_evict_requested(struct ns *ns, int64_t *when_ns, uint64_t *bytes)
{
	struct ns_evict_req r = { 0, 0 };
	int rc = meta_read(ns->me, ns_evict_reqd_txn, &r);

	*when_ns = r.when_ns;
	*bytes = r.bytes;
	return rc;
}

#define NS_EVICT_FREED "evict_freed"	/* uint64 bytes, cumulative */

static int ns_freed_get(struct meta_txn *t, uint64_t *v)
{
	size_t len = 0;
	int rc = meta_info_get(t, NS_EVICT_FREED, v, sizeof *v, &len);

	if (rc == ENOENT || (rc == 0 && len != sizeof *v)) {
		*v = 0;
		return 0;
	}
	return rc;
}

static int ns_freed_add_txn(struct meta_txn *t, void *arg)
{
	uint64_t v;
	int rc = ns_freed_get(t, &v);

	if (rc)
		return rc;
	v += *(uint64_t *)arg;
	return meta_info_put(t, NS_EVICT_FREED, &v, sizeof v);
}

int ns_evict_freed_add(struct ns *ns, uint64_t bytes)
{
	return meta_write(ns->me, ns_freed_add_txn, &bytes);
}

static int ns_freed_txn(struct meta_txn *t, void *arg)
{
	return ns_freed_get(t, arg);
}

int ns_evict_freed(struct ns *ns, uint64_t *total)
{
	*total = 0;
	return meta_read(ns->me, ns_freed_txn, total);
}
