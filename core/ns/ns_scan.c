/*
 * ns_scan.c — reads of the daemon that walk a table of the store: the dirty queue, the
 * pending deletes, the directories bound to S3, the entries of one directory. See ns.h,
 * "scans". Each is one read transaction; the callbacks run inside it and must not call
 * back into ns (they copy out what they need).
 */
#include "ns/ns_sync.h"

#include <errno.h>
#include <string.h>

struct ns_scan_ctx {
	struct meta_txn *t;
	uint64_t dir;
	const char *key;
	size_t len;
	meta_ino_fn ino_fn;
	meta_delete_fn del_fn;
	ns_inode_fn inode_fn;
	ns_entry_fn entry_fn;
	void *arg;
	char *etag;
	bool found;
};

static int ns_dirty_txn(struct meta_txn *t, void *arg)
{
	struct ns_scan_ctx *c = arg;

	return meta_dirty_iter(t, c->ino_fn, c->arg);
}

int ns_dirty_iter(struct ns *ns, meta_ino_fn fn, void *arg)
{
	struct ns_scan_ctx c = { .ino_fn = fn, .arg = arg };

	return meta_read(ns_meta(ns), ns_dirty_txn, &c);
}

static int ns_deletes_txn(struct meta_txn *t, void *arg)
{
	struct ns_scan_ctx *c = arg;

	return meta_delete_iter(t, c->del_fn, c->arg);
}

int ns_deletes_iter(struct ns *ns, meta_delete_fn fn, void *arg)
{
	struct ns_scan_ctx c = { .del_fn = fn, .arg = arg };

	return meta_read(ns_meta(ns), ns_deletes_txn, &c);
}

static int ns_delete_get_txn(struct meta_txn *t, void *arg)
{
	struct ns_scan_ctx *c = arg;
	struct meta_delete d;
	int rc = meta_delete_get(t, c->key, c->len, &d);

	c->found = rc == 0;
	if (rc == 0)
		memcpy(c->etag, d.etag, S3_ETAG_MAX);
	return rc == ENOENT ? 0 : rc;
}

int ns_delete_pending(struct ns *ns, const char *key, size_t len, char etag[S3_ETAG_MAX],
		      bool *found)
{
	struct ns_scan_ctx c = { .key = key, .len = len, .etag = etag };
	int rc = meta_read(ns_meta(ns), ns_delete_get_txn, &c);

	*found = rc == 0 && c.found;
	return rc;
}

static int ns_s3dir_cb(void *arg, uint64_t ino)
{
	struct ns_scan_ctx *c = arg;
	struct meta_inode in;
	int rc = meta_inode_get(c->t, ino, &in);

	if (rc)
		return rc == ENOENT ? 0 : rc;
	return c->inode_fn(c->arg, &in);
}

static int ns_s3dirs_txn(struct meta_txn *t, void *arg)
{
	struct ns_scan_ctx *c = arg;

	c->t = t;
	return meta_s3dir_iter(t, ns_s3dir_cb, c);
}

int ns_s3dirs_iter(struct ns *ns, ns_inode_fn fn, void *arg)
{
	struct ns_scan_ctx c = { .inode_fn = fn, .arg = arg };

	return meta_read(ns_meta(ns), ns_s3dirs_txn, &c);
}

static int ns_entry_cb(void *arg, const struct meta_dirent *de)
{
	struct ns_scan_ctx *c = arg;
	struct meta_inode in;
	int rc = meta_inode_get(c->t, de->ino, &in);

	if (rc)
		return rc == ENOENT ? 0 : rc;
	return c->entry_fn(c->arg, de, &in);
}

static int ns_entries_txn(struct meta_txn *t, void *arg)
{
	struct ns_scan_ctx *c = arg;

	c->t = t;
	return meta_dir_iter(t, c->dir, 0, ns_entry_cb, c);
}

int ns_dir_entries(struct ns *ns, uint64_t dir, ns_entry_fn fn, void *arg)
{
	struct ns_scan_ctx c = { .dir = dir, .entry_fn = fn, .arg = arg };

	return meta_read(ns_meta(ns), ns_entries_txn, &c);
}
