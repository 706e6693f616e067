/*
 * ns_subtree.c — what the daemon tells about the store as a whole or a subtree of it
 * (see ns_sync.h): the backlog, the sync state of a subtree (wait-synced: ns_is_under,
 * ns_subtree_pending, ns_subtree_files), the eviction bookkeeping shared by the FSAL and
 * the daemon (ns_data_evicting, the room asked for and the bytes freed), and the FSAL's
 * read statistics. Each is a short transaction over the store's tables or info records,
 * not over one file's change. The *_txn pattern is ns.c's.
 */
#include "ns/ns_int.h"
#include "base/buf.h"
#include "store/info_keys.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

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

	if (BUF_GROW(&w->e, &w->cap, w->n + 1))
		return ENOMEM;
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

#define NS_EVICT_WANTED META_INFO_EVICT_WANTED

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

#define NS_EVICT_FREED META_INFO_EVICT_FREED

int ns_evict_freed_add(struct ns *ns, uint64_t bytes)
{
	return ns_counter_add(ns, NS_EVICT_FREED, bytes);
}

int ns_evict_freed(struct ns *ns, uint64_t *total)
{
	return ns_counter_get(ns, NS_EVICT_FREED, total);
}

#define NS_READ_STATS META_INFO_READ_STATS	/* little-endian uint64 per field, in this order */
#define NS_READ_STORED_MAX 32		/* fields a newer version may have stored */

static const size_t ns_read_off[] = {
	offsetof(struct ns_read_stats, bypass_bytes),
	offsetof(struct ns_read_stats, tier_bytes),
	offsetof(struct ns_read_stats, fetched_bytes),
	offsetof(struct ns_read_stats, streams),
	offsetof(struct ns_read_stats, aborted),
	offsetof(struct ns_read_stats, refused),
};
#define NS_READ_FIELDS (sizeof ns_read_off / sizeof ns_read_off[0])

static uint64_t *ns_read_field(struct ns_read_stats *st, size_t i)
{
	return (uint64_t *)(void *)((char *)st + ns_read_off[i]);
}

/* A record of fewer fields (an older version) reads the rest as zero; fields of a newer
 * version beyond ours are kept as they are by neither side (they restart from zero). */
static int ns_read_stats_load(struct meta_txn *t, struct ns_read_stats *out)
{
	unsigned char buf[NS_READ_STORED_MAX * 8];
	size_t len = 0;
	int rc = meta_info_get(t, NS_READ_STATS, buf, sizeof buf, &len);

	memset(out, 0, sizeof *out);
	if (rc == ENOENT)
		return 0;
	if (rc)
		return rc;
	for (size_t i = 0; i < NS_READ_FIELDS && (i + 1) * 8 <= len; i++) {
		uint64_t v = 0;

		for (int k = 7; k >= 0; k--)
			v = v << 8 | buf[i * 8 + (size_t)k];
		*ns_read_field(out, i) = v;
	}
	return 0;
}

static int ns_read_add_txn(struct meta_txn *t, void *arg)
{
	struct ns_read_stats cur;
	unsigned char buf[NS_READ_FIELDS * 8];
	int rc = ns_read_stats_load(t, &cur);

	if (rc)
		return rc;
	for (size_t i = 0; i < NS_READ_FIELDS; i++) {
		uint64_t v = *ns_read_field(&cur, i) + *ns_read_field(arg, i);

		for (size_t k = 0; k < 8; k++)
			buf[i * 8 + k] = (unsigned char)(v >> (8 * k));
	}
	return meta_info_put(t, NS_READ_STATS, buf, sizeof buf);
}

int ns_read_stats_add(struct ns *ns, const struct ns_read_stats *delta)
{
	struct ns_read_stats d = *delta;

	return meta_write(ns->me, ns_read_add_txn, &d);
}

static int ns_read_get_txn(struct meta_txn *t, void *arg)
{
	return ns_read_stats_load(t, arg);
}

int ns_read_stats_get(struct ns *ns, struct ns_read_stats *out)
{
	return meta_read(ns->me, ns_read_get_txn, out);
}
