/*
 * ns_commit.c — commit bookkeeping of the daemon (see ns_sync.h; ns_commit_request is
 * the FSAL's, ns.h): a commit's request, snapshot and outcome, a moved file whose source
 * was lost, pending deletes carried out or lost, upload tokens and upload intents. They
 * live together because an intent is the record of a commit in flight: ns_commit_done
 * and ns_intent_done record the same outcome, and ns_delete_lost reads intents. The
 * *_txn pattern is ns.c's.
 */
#include "ns/ns_int.h"
#include "base/buf.h"
#include "store/info_keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/err.h"

/* ---- commit bookkeeping ---- */

/* Asked for by ns_commit_request, and the file is as it was then and unchanged for
 * NS_COMMIT_QUIET_NS, or has been left alone since for NS_COMMIT_SETTLE_NS (a change right
 * after a close, like the utimes of cp -p or tar, goes up with it; a writer still at work
 * keeps it back). The quiet time matters because a client also flushes (WRITE + COMMIT,
 * which look like an fsync) before it opens or stats a file it has unwritten data for: a
 * second writer's open right after would otherwise upload the first one's data alone. */
static bool ns_commit_requested(const struct meta_inode *in)
{
	int64_t idle = meta_now_ns() - in->dirty_since_ns;

	return in->due_gen && (in->due_gen == in->dirty_gen ? idle >= NS_COMMIT_QUIET_NS :
			       idle >= NS_COMMIT_SETTLE_NS);
}

struct ns_request_ctx {
	uint64_t ino;
	bool marked;
};

static int ns_request_txn(struct meta_txn *t, void *arg)
{
	struct ns_request_ctx *c = arg;
	struct meta_inode in;
	int rc;

	c->marked = false;
	rc = meta_inode_get(t, c->ino, &in);
	if (rc)
		return rc;
	if (in.type != META_T_REG || in.sync != META_S_DIRTY || (in.flags & META_F_RESERVED) ||
	    in.dirty_gen == 0)
		return 0;
	c->marked = true;
	if (in.due_gen == in.dirty_gen)
		return 0;	/* asked already (the client's COMMIT, then its CLOSE) */
	in.due_gen = in.dirty_gen;
	return meta_inode_put(t, &in);
}

int ns_commit_request(struct ns *ns, uint64_t ino, bool *marked)
{
	struct ns_request_ctx c = { ino, false };
	int rc = meta_write(ns->me, ns_request_txn, &c);

	if (marked)
		*marked = rc == 0 && c.marked;
	return rc;
}

struct ns_commit_ctx {
	struct ns *ns;
	uint64_t ino;
	int64_t min_age;
	struct ns_commit *c;
	const struct s3_object_info *info;
	bool settle;		/* ns_intent_done: the outcome of an earlier upload */
};

static int ns_prepare_txn(struct meta_txn *t, void *arg)
{
	struct ns_commit_ctx *x = arg;
	struct ns_commit *c = x->c;
	struct ns_jobs js = { 0 };
	struct meta_delete pd;
	struct meta_move *m = NULL;
	struct meta_inode other;
	bool found = false;
	int rc;

	c->moved = c->copy = c->keep_src = c->replaces = false;
	c->blocker = 0;
	c->src_len = 0;
	c->src_key[0] = c->src_etag[0] = '\0';
	rc = meta_inode_get(t, x->ino, &c->in);
	if (rc)
		goto out;
	rc = EALREADY;
	if (c->in.sync == META_S_CLEAN)
		goto out;
	rc = EBUSY;
	if (c->in.sync == META_S_CONFLICT)
		goto out;
	rc = EAGAIN;
	c->early = false;
	if (x->min_age && meta_now_ns() - c->in.dirty_since_ns < x->min_age) {
		if (!ns_commit_requested(&c->in))
			goto out;
		c->early = true;
	}
	c->ino = x->ino;
	c->dirty_gen = c->in.dirty_gen;
	rc = ns_key(x->ns, t, x->ino, c->key, sizeof c->key, &c->key_len);
	if (rc)
		goto out;
	/* The key may still hold an object in transit: below a directory being moved away,
	 * or the old object of another renamed file. Upload after it has moved. */
	if ((rc = ns_jobs_get(t, &js)))
		goto out;
	if (ns_jobs_cover(&js, c->key, c->key_len, true, false)) {
		rc = EAGAIN;
		goto out;
	}
	if ((rc = ns_key_holder(t, c->key, c->key_len, x->ino, &c->blocker, &other)))
		goto out;
	if (c->blocker) {
		rc = EAGAIN;
		goto out;
	}
	if (c->in.type != META_T_DIR) {
		bool moved;

		m = malloc(sizeof *m);
		if (!m) {
			rc = ENOMEM;
			goto out;
		}
		rc = ns_file_source(x->ns, t, &c->in, &js, c->src_key, &c->src_len, c->src_etag,
				    &found, &moved, m);
		if (rc)
			goto out;
		c->moved = found && (c->src_len != c->key_len ||
				     memcmp(c->src_key, c->key, c->key_len) != 0);
		c->copy = c->moved && moved && m->clean && m->dirty_gen == c->in.dirty_gen;
	}
	snprintf(c->prev_etag, sizeof c->prev_etag, "%s",
		 (c->in.flags & META_F_IN_S3) && !c->moved ? c->in.etag : "");
	if (!c->prev_etag[0] && c->in.type != META_T_DIR) {
		/* A file removed or replaced at this key leaves its object until the delete
		 * pass: this upload replaces it (conditional on it being unchanged). */
		rc = meta_delete_get(t, c->key, c->key_len, &pd);
		if (rc == 0) {
			snprintf(c->prev_etag, sizeof c->prev_etag, "%s", pd.etag);
			c->replaces = c->prev_etag[0] != '\0';
		} else if (rc != ENOENT) {
			goto out;
		}
	}
	if (!c->moved)
		c->src_len = 0;
	c->target_len = 0;
	rc = 0;
	if (c->in.type == META_T_LNK) {
		rc = meta_symlink_get(t, x->ino, c->target, sizeof c->target, &c->target_len);
		if (rc == ENOENT) {
			/* imported from S3 and never read: its target is its object's content */
			c->target_len = 0;
			rc = 0;
		}
	}
out:
	free(m);
	ns_jobs_free(&js);
	return rc;
}

/* The snapshot, and with it the end of the announcement (META_F_CHANGING): a write
 * after it announces itself again before its bytes, so a write cut short by a crash
 * after its bytes but before its record can never be in a file this commit marks
 * clean. Rarely a write transaction: only when the flag is set. */
static int ns_prepare_claim_txn(struct meta_txn *t, void *arg)
{
	struct ns_commit_ctx *x = arg;
	int rc = ns_prepare_txn(t, x);

	if (rc == 0 && (x->c->in.flags & META_F_CHANGING)) {
		x->c->in.flags &= ~(uint32_t)META_F_CHANGING;
		rc = meta_inode_put(t, &x->c->in);
	}
	return rc;
}

int ns_commit_prepare(struct ns *ns, uint64_t ino, int64_t min_age_ns, struct ns_commit *c)
{
	struct ns_commit_ctx x = { .ns = ns, .ino = ino, .min_age = min_age_ns, .c = c };
	int rc = meta_read(ns->me, ns_prepare_txn, &x);

	if (rc == 0 && (c->in.flags & META_F_CHANGING))
		rc = meta_write(ns->me, ns_prepare_claim_txn, &x);
	return rc;
}

/* The object of commit c (info) is at c->key, but the inode is no longer there (removed,
 * or renamed since): the object must go again (a pending delete). Unless the key is still
 * the renamed file's source (bound to it: the file had an object there when it was
 * renamed, and a moves record or a directory rename will move it): the object is then
 * that source, taken as its base, and goes with the move, conditional on its own ETag.
 * A delete of the key now would take the source from under the move, and the move's,
 * still naming the version before, would later meet this object of ours and take it for
 * another client's (a conflict, the renamed file shown again under its old name). When
 * settling an intent, the key may also be bound to another file (the object is that
 * file's now: left alone). */
static int ns_done_elsewhere(struct ns_commit_ctx *x, struct meta_txn *t, struct meta_inode *in,
			     bool have_in, int64_t now)
{
	const struct ns_commit *c = x->c;
	const struct s3_object_info *info = x->info;
	struct meta_move m;
	bool taken;
	int rc;

	if (have_in && ns_key_binds(t, c->key, c->key_len, in->ino)) {
		bool same = in->dirty_gen == c->dirty_gen && in->sync != META_S_CONFLICT;

		snprintf(in->etag, sizeof in->etag, "%s", info->etag);
		snprintf(in->version_id, sizeof in->version_id, "%s", info->version_id);
		in->s3_size = c->in.size;
		in->synced_ns = now;
		rc = meta_move_get(t, in->ino, &m);
		if (rc == 0 && m.key_len == c->key_len && memcmp(m.key, c->key, m.key_len) == 0) {
			/* Its move starts from this object; unchanged since, a copy will do. */
			snprintf(m.etag, sizeof m.etag, "%s", info->etag);
			if (same) {
				m.clean = true;
				m.dirty_gen = in->dirty_gen;
			}
			if ((rc = meta_move_put(t, in->ino, &m)))
				return rc;
		} else if (rc == ENOENT) {
			/* Below a directory being moved: the job moves this object along. */
			in->flags |= META_F_IN_S3 | META_F_ATTRS;
			if (in->due_gen <= c->dirty_gen)
				in->due_gen = 0;
			if (same && in->sync == META_S_DIRTY) {
				in->sync = META_S_CLEAN;
				in->dirty_since_ns = 0;
				in->due_gen = 0;
				if ((rc = meta_dirty_del(t, in->ino)))
					return rc;
			}
		} else if (rc) {
			return rc;
		}
		return meta_inode_put(t, in);
	}
	if (x->settle) {
		if ((rc = ns_key_taken(t, c->key, c->key_len, c->ino, &taken)))
			return rc;
		if (taken)
			return 0;
	}
	return meta_delete_add(t, c->key, c->key_len, info->etag, now, c->ino);
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

	/* The upload's intent is over: this transaction records its outcome. */
	if ((rc = meta_intent_del(t, c->key, c->key_len)))
		return rc;
	rc = meta_inode_get(t, c->ino, &in);
	if (rc == ENOENT || (rc == 0 && in.gen != c->in.gen)) {
		/* Removed while we uploaded: the object we just wrote must go again. */
		return ns_done_elsewhere(x, t, &in, false, now);
	}
	if (rc)
		return rc;
	rc = ns_key(x->ns, t, c->ino, key, sizeof key, &keylen);
	if (rc)
		return rc;
	if (keylen != c->key_len || memcmp(key, c->key, keylen) != 0) {
		/* Renamed while we uploaded: the new name commits later, this object goes. */
		return ns_done_elsewhere(x, t, &in, true, now);
	}
	if (x->settle && in.sync == META_S_CLEAN && in.dirty_gen != c->dirty_gen)
		return 0;	/* based on another version since (cannot happen): left alone */
	if (x->settle && in.sync == META_S_CONFLICT && !(in.flags & META_F_RESERVED)) {
		/* Marked by a listing that showed this very object before its record (a store
		 * of an older version; imports now skip it): no conflict after all. */
		in.sync = META_S_DIRTY;
	}
	if (c->moved) {
		/* The source object's part is over: it goes (after this upload exists), unless
		 * it changed in S3 meanwhile and stays as S3's version. */
		if (ns_key_binds(t, c->src_key, c->src_len, in.ino) &&
		    (rc = meta_key_del(t, c->src_key, c->src_len)))
			return rc;
		if (!c->keep_src &&
		    (rc = meta_delete_add(t, c->src_key, c->src_len, c->src_etag, 0, in.ino)))
			return rc;
		if ((rc = meta_move_del(t, in.ino)))
			return rc;
	}
	/* Whatever a pending delete of this key meant to remove, this upload replaced it. */
	rc = meta_delete_del(t, key, keylen);
	if (rc && rc != ENOENT)
		return rc;
	in.flags |= META_F_IN_S3 | META_F_ATTRS;
	if (in.type == META_T_DIR)
		in.flags |= META_F_MARKER;
	snprintf(in.etag, sizeof in.etag, "%s", info->etag);
	snprintf(in.version_id, sizeof in.version_id, "%s", info->version_id);
	in.s3_size = c->in.size;
	in.s3_mtime = info->last_modified ? info->last_modified : now / 1000000000LL;
	in.synced_ns = now;
	if (in.type != META_T_DIR && (rc = meta_key_put(t, key, keylen, in.ino)))
		return rc;
	/* A request the upload covers is done; one made after a change during the upload
	 * (due_gen past what was uploaded) keeps the file due. */
	if (in.due_gen <= c->dirty_gen)
		in.due_gen = 0;
	if (in.dirty_gen == c->dirty_gen && in.sync == META_S_DIRTY) {
		in.sync = META_S_CLEAN;
		in.dirty_since_ns = 0;
		in.due_gen = 0;
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

/* ---- upload intents ---- */

struct ns_token_ctx {
	unsigned char id[8];	/* the store's id: read, or the one to make */
	bool missing;		/* out (read): the store has none yet */
};

static int ns_store_id_get_txn(struct meta_txn *t, void *arg)
{
	struct ns_token_ctx *c = arg;
	size_t len = 0;
	int rc = meta_info_get(t, META_INFO_STORE_ID, c->id, sizeof c->id, &len);

	c->missing = rc == ENOENT;
	if (rc)
		return rc == ENOENT ? 0 : rc;
	return len == sizeof c->id ? 0 : S3F_E_META_CORRUPT;
}

/* Make the id unless another process made one meanwhile (then that one stays). */
static int ns_store_id_make_txn(struct meta_txn *t, void *arg)
{
	struct ns_token_ctx *c = arg;
	unsigned char have[8];
	int rc = meta_info_get(t, META_INFO_STORE_ID, have, sizeof have, NULL);

	if (rc == ENOENT)
		return meta_info_put(t, META_INFO_STORE_ID, c->id, sizeof c->id);
	return rc;
}

static int ns_random(unsigned char *buf, size_t n)
{
	while (n) {
		ssize_t got = getrandom(buf, n, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? errno : EIO;
		buf += got;
		n -= (size_t)got;
	}
	return 0;
}

int ns_token_new(struct ns *ns, char token[META_TOKEN_MAX])
{
	struct ns_token_ctx c = { { 0 }, false };
	unsigned char r[8];
	int rc = meta_read(ns->me, ns_store_id_get_txn, &c);

	if (rc == 0 && c.missing) {
		/* the first upload of this store: its id, random */
		rc = ns_random(c.id, sizeof c.id);
		if (rc == 0)
			rc = meta_write(ns->me, ns_store_id_make_txn, &c);
		if (rc == 0)
			rc = meta_read(ns->me, ns_store_id_get_txn, &c);
		if (rc == 0 && c.missing)
			rc = S3F_E_META_CORRUPT;
	}
	if (rc == 0)
		rc = ns_random(r, sizeof r);
	if (rc)
		return rc;
	snprintf(token, META_TOKEN_MAX,
		 "%02x%02x%02x%02x%02x%02x%02x%02x-%02x%02x%02x%02x%02x%02x%02x%02x", c.id[0],
		 c.id[1], c.id[2], c.id[3], c.id[4], c.id[5], c.id[6], c.id[7], r[0], r[1], r[2],
		 r[3], r[4], r[5], r[6], r[7]);
	return 0;
}

struct ns_intent_ctx {
	struct meta_intent *in;
	struct meta_intent *list;	/* ns_intent_list */
	size_t n, cap;
};

static int ns_intent_put_txn(struct meta_txn *t, void *arg)
{
	return meta_intent_put(t, ((struct ns_intent_ctx *)arg)->in);
}

int ns_intent_begin(struct ns *ns, const struct ns_commit *c, enum meta_intent_kind kind,
		    const char *token, const char *etag, uint64_t size)
{
	struct meta_intent *in = calloc(1, sizeof *in);
	struct ns_intent_ctx x = { in, NULL, 0, 0 };
	int rc;

	if (!in)
		return ENOMEM;
	in->kind = (uint8_t)kind;
	in->flags = (c->moved ? META_INTENT_MOVED : 0) | (c->keep_src ? META_INTENT_KEEP_SRC : 0);
	in->ino = c->ino;
	in->gen = c->in.gen;
	in->dirty_gen = c->dirty_gen;
	in->size = size;
	in->when_ns = meta_now_ns();
	snprintf(in->token, sizeof in->token, "%s", token ? token : "");
	snprintf(in->etag, sizeof in->etag, "%s", etag ? etag : "");
	if (c->moved) {
		memcpy(in->src_key, c->src_key, c->src_len);
		in->src_key[c->src_len] = '\0';
		in->src_len = c->src_len;
		snprintf(in->src_etag, sizeof in->src_etag, "%s", c->src_etag);
	}
	memcpy(in->key, c->key, c->key_len);
	in->key[c->key_len] = '\0';
	in->key_len = c->key_len;
	rc = meta_write(ns->me, ns_intent_put_txn, &x);
	/* Durable before the request: a power cut after the object landed must find it. */
	if (rc == 0)
		rc = meta_sync(ns->me);
	free(in);
	return rc;
}

static int ns_intent_collect(void *arg, const struct meta_intent *in)
{
	struct ns_intent_ctx *x = arg;

	if (BUF_GROW(&x->list, &x->cap, x->n + 1))
		return ENOMEM;
	x->list[x->n++] = *in;
	return 0;
}

static int ns_intent_list_txn(struct meta_txn *t, void *arg)
{
	((struct ns_intent_ctx *)arg)->n = 0;
	return meta_intent_iter(t, ns_intent_collect, arg);
}

int ns_intent_list(struct ns *ns, struct meta_intent **out, size_t *n)
{
	struct ns_intent_ctx x = { NULL, NULL, 0, 0 };
	int rc = meta_read(ns->me, ns_intent_list_txn, &x);

	if (rc) {
		free(x.list);
		x.list = NULL;
		x.n = 0;
	}
	*out = x.list;
	*n = x.n;
	return rc;
}

struct ns_intent_get_ctx {
	const char *key;
	size_t len;
	struct meta_intent *out;
};

static int ns_intent_get_txn(struct meta_txn *t, void *arg)
{
	struct ns_intent_get_ctx *x = arg;

	return meta_intent_get(t, x->key, x->len, x->out);
}

int ns_intent_get(struct ns *ns, const char *key, size_t len, struct meta_intent *out)
{
	struct ns_intent_get_ctx x = { key, len, out };

	return meta_read(ns->me, ns_intent_get_txn, &x);
}

bool ns_intent_matches(const struct meta_intent *in, const struct s3_object_info *info)
{
	/* The token names this upload alone: another client's object does not carry it
	 * (one that copied ours with its metadata copied our bytes too; one that kept our
	 * metadata over other bytes differs in ETag or size). */
	for (unsigned i = 0; i < info->n_meta && i < S3_META_MAX; i++)
		if (strcmp(info->meta[i].name, NS_TOKEN_META) == 0)
			return strcmp(info->meta[i].value, in->token) == 0 &&
			       ns_intent_seen(in, info->etag, info->size);
	return false;
}

int ns_intent_done(struct ns *ns, const struct meta_intent *in, const struct s3_object_info *info)
{
	struct ns_commit *c = calloc(1, sizeof *c);
	struct ns_commit_ctx x = { .ns = ns, .info = info, .settle = true };
	struct s3_object_info oi = *info;
	int rc;

	if (!c)
		return ENOMEM;
	/* The commit as it was when the intent was recorded, as far as ns_done_txn reads it. */
	c->ino = in->ino;
	c->in.ino = in->ino;
	c->in.gen = in->gen;
	c->in.size = in->size;
	c->dirty_gen = in->dirty_gen;
	memcpy(c->key, in->key, in->key_len + 1);
	c->key_len = in->key_len;
	c->moved = (in->flags & META_INTENT_MOVED) != 0;
	c->keep_src = (in->flags & META_INTENT_KEEP_SRC) != 0;
	if (c->moved) {
		memcpy(c->src_key, in->src_key, in->src_len + 1);
		c->src_len = in->src_len;
		snprintf(c->src_etag, sizeof c->src_etag, "%s", in->src_etag);
	}
	oi.size = in->size;
	x.c = c;
	x.info = &oi;
	rc = meta_write(ns->me, ns_done_txn, &x);
	free(c);
	return rc;
}

struct ns_intent_drop_ctx {
	const struct meta_intent *in;
};

static int ns_intent_drop_txn(struct meta_txn *t, void *arg)
{
	const struct meta_intent *in = ((struct ns_intent_drop_ctx *)arg)->in;
	struct meta_intent *cur = malloc(sizeof *cur);
	int rc;

	if (!cur)
		return ENOMEM;
	rc = meta_intent_get(t, in->key, in->key_len, cur);
	if (rc == 0 && strcmp(cur->token, in->token) == 0)
		rc = meta_intent_del(t, in->key, in->key_len);
	else if (rc == ENOENT)
		rc = 0;
	free(cur);
	return rc;
}

int ns_intent_drop(struct ns *ns, const struct meta_intent *in)
{
	struct ns_intent_drop_ctx x = { in };

	return meta_write(ns->me, ns_intent_drop_txn, &x);
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

struct ns_dellost_ctx {
	const char *key;
	size_t len;
	int64_t when;
	const char *etag;	/* what the key holds in S3 */
	uint64_t size;
	bool dropped;
};

static int ns_dellost_txn(struct meta_txn *t, void *arg)
{
	struct ns_dellost_ctx *c = arg;
	struct meta_delete pd;
	bool ours;
	int rc;

	c->dropped = false;
	rc = meta_delete_get(t, c->key, c->len, &pd);
	/* Gone: a listing showed S3's version and reported it. Another time: the name
	 * was removed again since, a new delete. */
	if (rc == ENOENT || (rc == 0 && pd.when_ns != c->when))
		return 0;
	if (rc)
		return rc;
	/* Our own upload, removed while it ran (its record comes after the object): the
	 * delete waits for that record, which gives it the object's ETag. */
	if ((rc = ns_intent_covers(t, c->key, c->len, 0, c->etag, c->size, &ours)) || ours)
		return rc;
	if ((rc = meta_delete_del(t, c->key, c->len)) == 0)
		c->dropped = true;
	return rc;
}

int ns_delete_lost(struct ns *ns, const char *key, size_t len, int64_t when_ns,
		   const char *s3_etag, uint64_t s3_size, bool *dropped)
{
	struct ns_dellost_ctx c = { key, len, when_ns, s3_etag, s3_size, false };
	int rc = meta_write(ns->me, ns_dellost_txn, &c);

	*dropped = rc == 0 && c.dropped;
	return rc;
}

/* ---- a moved file whose source changed in S3 (the daemon) ---- */

static int ns_lost_txn(struct meta_txn *t, void *arg)
{
	struct ns_commit_ctx *x = arg;
	const struct ns_commit *c = x->c;
	struct meta_inode in;
	int rc;

	rc = meta_inode_get(t, c->ino, &in);
	if (rc == ENOENT || (rc == 0 && in.gen != c->in.gen))
		return 0;	/* removed meanwhile: nothing left to protect */
	if (rc)
		return rc;
	if (ns_key_binds(t, c->src_key, c->src_len, in.ino) &&
	    (rc = meta_key_del(t, c->src_key, c->src_len)))
		return rc;
	if ((rc = meta_move_del(t, in.ino)))
		return rc;
	in.sync = META_S_CONFLICT;
	if (in.data != META_D_FULL)
		in.flags |= META_F_LOST;
	in.change++;
	if ((rc = meta_dirty_add(t, in.ino)) || (rc = meta_inode_put(t, &in)))
		return rc;
	return meta_change_add(t, in.ino, META_CH_ATTR);
}

int ns_commit_source_lost(struct ns *ns, const struct ns_commit *c)
{
	struct ns_commit_ctx x = { .ns = ns, .c = (struct ns_commit *)c };

	return meta_write(ns->me, ns_lost_txn, &x);
}
