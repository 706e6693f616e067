/*
 * ns_import_finish.c — what vanished from S3 (see ns_sync.h): the end of a complete
 * listing (ns_import_finish) and a single name S3 no longer has (ns_import_forget). Both
 * remove clean entries (clean subtrees with them) and mark dirty ones CONFLICT by the
 * same walk, which is why they live together, apart from what a listing adds
 * (ns_import.c). The *_txn pattern is ns.c's.
 */
#include "ns/ns_int.h"
#include "base/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	struct ns_jobs js;	/* directory renames in progress (per transaction) */
	bool partial;		/* one name only (ns_import_forget): dir stays as it was */
};

static int ns_finish_collect(void *arg, const struct meta_dirent *de)
{
	struct ns_finish_ctx *c = arg;

	if (c->seen(c->seen_arg, de->name, de->name_len))
		return 0;
	if (BUF_GROW(&c->gone, &c->cap_gone, c->n_gone + 1))
		return ENOMEM;
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
	if (BUF_GROW(&c->rm, &c->cap_rm, c->n_rm + 1))
		return ENOMEM;
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
	ns_jobs_free(&c->js);
	rc = meta_inode_get(t, c->dir, &d);
	if (rc)
		return rc;
	rc = meta_dir_iter(t, c->dir, 0, ns_finish_collect, c);
	if (rc)
		return rc;
	for (size_t i = 0; i < c->n_gone; i++) {
		struct meta_inode in;
		char key[S3_KEY_MAX + 1];
		size_t keylen;
		bool clean;

		rc = meta_inode_get(t, c->gone[i].ino, &in);
		if (rc)
			return rc;
		/* Never in S3 (file-side new), reserved, or confirmed during this listing. */
		if (!(in.flags & META_F_IN_S3) || (in.flags & META_F_RESERVED) ||
		    in.synced_ns >= c->start)
			continue;
		/* A directory renamed here, or renamed away from here, while its objects are
		 * on their way between the two prefixes: the listing cannot tell. */
		if ((rc = ns_jobs_get(t, &c->js)))
			return rc;
		if (c->js.n) {
			rc = ns_key_in_dir(c->ns, t, c->dir, in.name, in.name_len,
					   in.type == META_T_DIR, key, sizeof key, &keylen);
			if (rc)
				return rc;
			if (ns_jobs_cover(&c->js, key, keylen, true, true))
				continue;
		}
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
	if (!c->partial) {
		d.flags |= META_F_IMPORTED;
		d.synced_ns = now;
	}
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
	ns_jobs_free(&c.js);
	return rc;
}

struct ns_forget_arg {
	const char *name;
	size_t len;
};

static bool ns_forget_seen(void *arg, const char *name, size_t len)
{
	const struct ns_forget_arg *a = arg;

	return !(len == a->len && memcmp(name, a->name, len) == 0);
}

int ns_import_forget(struct ns *ns, uint64_t dir, const char *name, size_t len,
		     int64_t listing_start_ns, ns_removed_fn removed, void *removed_arg)
{
	struct ns_forget_arg a = { name, len };
	struct ns_finish_ctx c = { .ns = ns, .dir = dir, .start = listing_start_ns,
				   .seen = ns_forget_seen, .seen_arg = &a, .partial = true };
	int rc = meta_write(ns->me, ns_finish_txn, &c);

	if (rc == 0 && removed)
		for (size_t i = 0; i < c.n_rm; i++)
			removed(removed_arg, c.rm[i].ino, c.rm[i].type);
	free(c.gone);
	free(c.rm);
	ns_jobs_free(&c.js);
	return rc;
}
