/*
 * ns_uploads.c — the daemon's own uploads in the store: the multipart uploads it started
 * and has not seen end, and the conflict mark of an upload S3 refused. See ns.h, "the
 * daemon's uploads" (sync/uploads.c and sync/commit.c are the callers).
 *
 * Recorded uploads are one info value (META_INFO_UPLOADS), entries one after another: u16
 * key length, key, u16 upload id length, upload id, i64 start time (ns), all in the
 * host's byte order (the store is local). One value, not a table: there are a handful at
 * most, and adding one is then a single read-modify-write in one transaction.
 */
#include "ns/ns_sync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/info_keys.h"

#define NS_UPLOADS_CAP (NS_UPLOADS_MAX * (4 + S3_KEY_MAX + S3_UPLOAD_ID_MAX + 8))

struct ns_upload_rec {
	const char *key;
	size_t key_len;
	const char *id;
	size_t id_len;
	int64_t started_ns;
};

/* The next record of buf[*off, len); false at the end or on a torn record. */
static bool ns_upload_next(const unsigned char *buf, size_t len, size_t *off,
			   struct ns_upload_rec *r)
{
	size_t o = *off;
	uint16_t kl, il;

	if (len - o < 2)
		return false;
	memcpy(&kl, buf + o, 2);
	o += 2;
	if (len - o < (size_t)kl + 2)
		return false;
	r->key = (const char *)buf + o;
	r->key_len = kl;
	o += kl;
	memcpy(&il, buf + o, 2);
	o += 2;
	if (len - o < (size_t)il + 8)
		return false;
	r->id = (const char *)buf + o;
	r->id_len = il;
	o += il;
	memcpy(&r->started_ns, buf + o, 8);
	o += 8;
	*off = o;
	return true;
}

struct ns_uploads_ctx {
	const char *key, *id;		/* the record to add, or (key NULL) to drop by id */
	unsigned char *buf;		/* NS_UPLOADS_CAP bytes (twice that to change) */
	size_t len;			/* out (read): bytes of records */
};

static int ns_uploads_read_txn(struct meta_txn *t, void *arg)
{
	struct ns_uploads_ctx *c = arg;
	int rc = meta_info_get(t, META_INFO_UPLOADS, c->buf, NS_UPLOADS_CAP, &c->len);

	if (rc == ENOENT) {
		c->len = 0;
		rc = 0;
	}
	return rc;
}

/* Add (c->key set) or drop (c->key NULL: every record of upload id c->id). */
static int ns_uploads_change_txn(struct meta_txn *t, void *arg)
{
	struct ns_uploads_ctx *c = arg;
	unsigned char *out = c->buf + NS_UPLOADS_CAP;	/* second half of the buffer */
	size_t off = 0, olen = 0, n = 0;
	struct ns_upload_rec r;
	int rc = ns_uploads_read_txn(t, c);

	if (rc)
		return rc;
	while (ns_upload_next(c->buf, c->len, &off, &r)) {
		size_t rl = 2 + r.key_len + 2 + r.id_len + 8;

		if (!c->key && r.id_len == strlen(c->id) && memcmp(r.id, c->id, r.id_len) == 0)
			continue;
		memcpy(out + olen, c->buf + off - rl, rl);
		olen += rl;
		n++;
	}
	if (c->key) {
		uint16_t kl = (uint16_t)strlen(c->key), il = (uint16_t)strlen(c->id);
		int64_t now = meta_now_ns();

		if (n >= NS_UPLOADS_MAX)
			return ENOSPC;
		memcpy(out + olen, &kl, 2);
		memcpy(out + olen + 2, c->key, kl);
		olen += 2 + (size_t)kl;
		memcpy(out + olen, &il, 2);
		memcpy(out + olen + 2, c->id, il);
		olen += 2 + (size_t)il;
		memcpy(out + olen, &now, 8);
		olen += 8;
	} else if (olen == c->len) {
		return 0;	/* not recorded: nothing to write */
	}
	return meta_info_put(t, META_INFO_UPLOADS, out, olen);
}

static int ns_uploads_change(struct ns *ns, const char *key, const char *id)
{
	struct ns_uploads_ctx c = { key, id, NULL, 0 };
	int rc;

	if (!id || strlen(id) >= S3_UPLOAD_ID_MAX || (key && strlen(key) > S3_KEY_MAX))
		return EINVAL;
	c.buf = malloc(2 * NS_UPLOADS_CAP);
	if (!c.buf)
		return ENOMEM;
	rc = meta_write(ns_meta(ns), ns_uploads_change_txn, &c);
	free(c.buf);
	return rc;
}

int ns_upload_add(struct ns *ns, const char *key, const char *upload_id)
{
	if (!key)
		return EINVAL;
	return ns_uploads_change(ns, key, upload_id);
}

int ns_upload_drop(struct ns *ns, const char *upload_id)
{
	return ns_uploads_change(ns, NULL, upload_id);
}

int ns_upload_list(struct ns *ns, struct ns_upload **out, size_t *n)
{
	struct ns_uploads_ctx c = { NULL, NULL, malloc(NS_UPLOADS_CAP), 0 };
	struct ns_upload *l = NULL;
	struct ns_upload_rec r;
	size_t off = 0, k = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (!c.buf)
		return ENOMEM;
	rc = meta_read(ns_meta(ns), ns_uploads_read_txn, &c);
	if (rc || c.len == 0)
		goto out;
	while (ns_upload_next(c.buf, c.len, &off, &r))
		k++;
	if (k == 0)
		goto out;	/* torn from the start: nothing to list */
	l = calloc(k, sizeof *l);
	if (!l) {
		rc = ENOMEM;
		goto out;
	}
	off = 0;
	while (ns_upload_next(c.buf, c.len, &off, &r)) {
		struct ns_upload *u = &l[*n];

		/* Longer than any key or id ever recorded: not a record of ours. */
		if (r.key_len > S3_KEY_MAX || r.id_len >= S3_UPLOAD_ID_MAX)
			continue;
		memcpy(u->key, r.key, r.key_len);
		u->key[r.key_len] = '\0';
		u->key_len = r.key_len;
		memcpy(u->id, r.id, r.id_len);
		u->id[r.id_len] = '\0';
		u->started_ns = r.started_ns;
		(*n)++;
	}
	*out = l;
out:
	free(c.buf);
	return rc;
}

/* ---- a refused upload ---- */

static int ns_conflict_mark_txn(struct meta_txn *t, void *arg)
{
	const uint64_t *ino = arg;
	struct meta_inode in;
	int rc = meta_inode_get(t, *ino, &in);

	if (rc)
		return rc == ENOENT ? 0 : rc;
	if (in.sync == META_S_CONFLICT)
		return 0;
	in.sync = META_S_CONFLICT;
	return meta_inode_put(t, &in);
}

int ns_conflict_mark(struct ns *ns, uint64_t ino)
{
	return meta_write(ns_meta(ns), ns_conflict_mark_txn, &ino);
}
