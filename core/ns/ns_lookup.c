/*
 * ns_lookup.c — reads of the file view (see ns.h): getattr, lookup, readlink, readdir,
 * the path and key of an inode, and where the bytes of a file that are not local come
 * from (ns_data_source). Each is one read transaction; none changes a record, which is
 * why they live together: the FSAL's and the engine's questions about what the view
 * shows. The *_txn pattern is ns.c's.
 */
#include "ns/ns_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

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

int ns_readdir_cb(void *arg, const struct meta_dirent *de)
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
int ns_key_in_dir(struct ns *ns, struct meta_txn *t, uint64_t dir, const char *name,
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

/* ---- data source of a file (reads of bytes that are not local) ---- */

struct ns_source_ctx {
	struct ns *ns;
	uint64_t ino;
	char *key;
	size_t cap, *keylen;
	char *etag;
};

static int ns_source_txn(struct meta_txn *t, void *arg)
{
	struct ns_source_ctx *c = arg;
	struct ns_jobs js = { 0 };
	struct meta_inode in;
	char *key = NULL;
	bool found, moved;
	int rc;

	rc = meta_inode_get(t, c->ino, &in);
	if (rc)
		goto out;
	rc = EIO;
	if (in.flags & META_F_LOST)
		goto out;
	key = malloc(S3_KEY_MAX + 1);
	rc = ENOMEM;
	if (!key)
		goto out;
	rc = ns_file_source(c->ns, t, &in, &js, key, c->keylen, c->etag, &found, &moved, NULL);
	if (rc)
		goto out;
	rc = ENODATA;
	if (!found || !c->etag[0])
		goto out;
	rc = ENAMETOOLONG;
	if (*c->keylen >= c->cap)
		goto out;
	memcpy(c->key, key, *c->keylen + 1);
	rc = 0;
out:
	free(key);
	ns_jobs_free(&js);
	return rc;
}

int ns_data_source(struct ns *ns, uint64_t ino, char *key, size_t cap, size_t *keylen,
		   char etag[S3_ETAG_MAX])
{
	struct ns_source_ctx c = { ns, ino, key, cap, keylen, etag };

	etag[0] = '\0';
	return meta_read(ns->me, ns_source_txn, &c);
}

int ns_data_source_txn(struct ns *ns, struct meta_txn *txn, uint64_t ino, char *key, size_t cap,
		       size_t *keylen, char etag[S3_ETAG_MAX])
{
	struct ns_source_ctx c = { ns, ino, key, cap, keylen, etag };

	etag[0] = '\0';
	return ns_source_txn(txn, &c);
}
