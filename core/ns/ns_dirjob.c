/*
 * ns_dirjob.c — directory renames carried out in S3 (see ns_sync.h; the daemon's
 * sync/rename.c): whether a prefix is moving, the jobs in order, the plan of where each
 * listed object goes, the guard before the copies, the record of their outcome, and the
 * jobs that touch a subtree (wait-synced). The *_txn pattern is ns.c's.
 */
#include "ns/ns_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

/* ---- directory renames in S3 (the daemon) ---- */

int ns_prefix_moving(struct ns *ns, struct meta_txn *txn, const char *prefix, size_t len,
		     bool *moving)
{
	struct ns_jobs js = { 0 };
	int rc;

	(void)ns;
	*moving = false;
	rc = ns_jobs_get(txn, &js);
	if (rc == 0)
		*moving = ns_jobs_cover(&js, prefix, len, true, true);
	ns_jobs_free(&js);
	return rc;
}

struct ns_dirjob_ctx {
	struct ns *ns;
	uint64_t id;
	struct meta_dirjob *job;
	meta_dirjob_fn fn;
	void *arg;
	struct ns_move_item *items;
	size_t n;
	uint64_t listed;
	bool last_page;
	struct ns_dirjob_outcome *out;
};

static int ns_dirjob_first_cb(void *arg, const struct meta_dirjob *j)
{
	*(struct meta_dirjob *)arg = *j;
	return 1;
}

static int ns_dirjob_first_txn(struct meta_txn *t, void *arg)
{
	int rc = meta_dirjob_iter(t, ns_dirjob_first_cb, arg);

	return rc == 1 ? 0 : rc == 0 ? ENOENT : rc;
}

int ns_dirjob_first(struct ns *ns, struct meta_dirjob *out)
{
	return meta_read(ns->me, ns_dirjob_first_txn, out);
}

static int ns_dirjob_iter_txn(struct meta_txn *t, void *arg)
{
	struct ns_dirjob_ctx *c = arg;

	return meta_dirjob_iter(t, c->fn, c->arg);
}

int ns_dirjob_iter(struct ns *ns, meta_dirjob_fn fn, void *arg)
{
	struct ns_dirjob_ctx c = { .ns = ns, .fn = fn, .arg = arg };

	return meta_read(ns->me, ns_dirjob_iter_txn, &c);
}

/* Where job js->j[self] sends the object at key: a file the view knows (ino) to where
 * its path is now, any other object (a directory marker, a key in a directory never
 * listed, a key with no file name) to the same relative place under the new prefix and
 * on through the renames made since. Unless that place is below the old prefix of a
 * later job, which has still to empty it (directories that traded places: its objects
 * may still be there), or, for an object with no file, below this job's own old prefix
 * (which it lists): then one step only, to the same relative place under this job's
 * new prefix, from where the later jobs carry it on. dst has S3_KEY_MAX + 1 bytes. */
static int ns_plan_dst(struct ns *ns, struct meta_txn *t, const struct ns_jobs *js, size_t self,
		       uint64_t ino, const char *key, size_t key_len, char *dst, size_t *dst_len)
{
	const struct ns_job_pfx *j = &js->j[self];
	int rc;

	if (ino) {
		rc = ns_key(ns, t, ino, dst, S3_KEY_MAX + 1, dst_len);
		if (rc)
			return rc;
	} else {
		memcpy(dst, key, key_len + 1);
		*dst_len = key_len;
		if (ns_key_swap(dst, dst_len, j->old_len, j->new_prefix, j->new_len))
			return ENAMETOOLONG;
		for (size_t i = self + 1; i < js->n; i++) {
			const struct ns_job_pfx *p = &js->j[i];

			if (ns_has_prefix(dst, *dst_len, p->old_prefix, p->old_len) &&
			    ns_key_swap(dst, dst_len, p->old_len, p->new_prefix, p->new_len))
				return ENAMETOOLONG;
		}
	}
	/* Carried on through the later jobs, an object with no file may land back below this
	 * job's own old prefix (a directory renamed into the one it came out of: d1/d3 ->
	 * d2/d3, then d2 -> d1/d3). This job lists that prefix: it would take the copy again,
	 * one level deeper each time, until the key is too long. One step only, as for a later
	 * job's old prefix; the later jobs carry it on. */
	if (!ino && ns_has_prefix(dst, *dst_len, j->old_prefix, j->old_len)) {
		memcpy(dst, key, key_len + 1);
		*dst_len = key_len;
		return ns_key_swap(dst, dst_len, j->old_len, j->new_prefix, j->new_len) ?
			ENAMETOOLONG : 0;
	}
	for (size_t i = self + 1; i < js->n; i++) {
		const struct ns_job_pfx *p = &js->j[i];

		if (!ns_has_prefix(dst, *dst_len, p->old_prefix, p->old_len))
			continue;
		memcpy(dst, key, key_len + 1);
		*dst_len = key_len;
		return ns_key_swap(dst, dst_len, j->old_len, j->new_prefix, j->new_len) ?
			ENAMETOOLONG : 0;
	}
	return 0;
}

/* Where one listed object goes (see ns_dirjob_plan in ns_sync.h). */
static int ns_plan_one(struct ns_dirjob_ctx *c, struct meta_txn *t, const struct ns_jobs *js,
		       size_t self, struct ns_move_item *it)
{
	struct meta_delete pd;
	struct meta_move m;
	struct meta_inode in;
	const struct ns_job_pfx *j = &js->j[self];
	uint64_t ino;
	int rc;

	it->action = NS_MOVE_SKIP;
	it->ino = 0;
	it->dst_len = 0;
	it->dst[0] = '\0';
	if (it->key_len > S3_KEY_MAX || !ns_has_prefix(it->key, it->key_len, j->old_prefix, j->old_len))
		return 0;	/* not ours (the listing is by prefix: cannot happen) */
	rc = meta_delete_get(t, it->key, it->key_len, &pd);
	if (rc == 0)
		return 0;	/* removed on the file side: the delete pass takes it */
	if (rc != ENOENT)
		return rc;
	rc = meta_key_get(t, it->key, it->key_len, &ino);
	if (rc == 0) {
		rc = meta_inode_get(t, ino, &in);
		if (rc == ENOENT)
			return 0;
		if (rc)
			return rc;
		rc = meta_move_get(t, ino, &m);
		if (rc == 0)
			return 0;	/* renamed on its own as well: its commit copies it */
		if (rc != ENOENT)
			return rc;
		it->ino = ino;
	} else if (rc != ENOENT) {
		return rc;
	}
	rc = ns_plan_dst(c->ns, t, js, self, it->ino, it->key, it->key_len, it->dst, &it->dst_len);
	if (rc == ENAMETOOLONG) {
		it->action = NS_MOVE_TOO_LONG;
		return 0;
	}
	if (rc)
		return rc;
	if (it->dst_len == it->key_len && memcmp(it->dst, it->key, it->key_len) == 0)
		return 0;	/* already where it belongs (renamed back) */
	it->action = NS_MOVE_COPY;
	return 0;
}

static int ns_find_job(const struct ns_jobs *js, uint64_t id, size_t *self)
{
	for (size_t i = 0; i < js->n; i++)
		if (js->j[i].id == id) {
			*self = i;
			return 0;
		}
	return ENOENT;
}

static int ns_plan_txn(struct meta_txn *t, void *arg)
{
	struct ns_dirjob_ctx *c = arg;
	struct ns_jobs js = { 0 };
	size_t self;
	int rc;

	rc = ns_jobs_get(t, &js);
	if (rc == 0)
		rc = ns_find_job(&js, c->id, &self);
	for (size_t i = 0; rc == 0 && i < c->n; i++)
		rc = ns_plan_one(c, t, &js, self, &c->items[i]);
	ns_jobs_free(&js);
	return rc;
}

int ns_dirjob_plan(struct ns *ns, uint64_t job, struct ns_move_item *items, size_t n)
{
	struct ns_dirjob_ctx c = { .ns = ns, .id = job, .items = items, .n = n };

	return meta_read(ns->me, ns_plan_txn, &c);
}

struct ns_guard_ctx {
	const struct ns_move_item *items;
	size_t n;
};

static int ns_guard_txn(struct meta_txn *t, void *arg)
{
	struct ns_guard_ctx *c = arg;
	int rc;

	for (size_t i = 0; i < c->n; i++) {
		const struct ns_move_item *it = &c->items[i];
		struct meta_delete pd;
		uint64_t b;

		if (it->action != NS_MOVE_COPY || !it->etag || !it->etag[0])
			continue;
		/* A key the view holds is the view's (the plan does not copy onto it
		 * unless it is free); a pending delete already there stays as it is. */
		if (meta_key_get(t, it->dst, it->dst_len, &b) == 0)
			continue;
		rc = meta_delete_get(t, it->dst, it->dst_len, &pd);
		if (rc == 0)
			continue;
		if (rc != ENOENT)
			return rc;
		rc = meta_delete_add(t, it->dst, it->dst_len, it->etag, 0, it->ino);
		if (rc)
			return rc;
	}
	return 0;
}

int ns_dirjob_guard(struct ns *ns, const struct ns_move_item *items, size_t n)
{
	struct ns_guard_ctx c = { .items = items, .n = n };
	int rc = meta_write(ns->me, ns_guard_txn, &c);

	/* Durable before the first COPY: a power cut must not keep the copy and lose this. */
	return rc ? rc : meta_sync(ns->me);
}

/* Permanent copy failures: retrying cannot help, the object is left where it is. */
static bool ns_move_permanent(int rc)
{
	return rc == EINVAL || rc == S3F_E_S3_CLIENT || rc == ENAMETOOLONG;
}

/* A file's object the job cannot move stays under its old key: from now on the file is
 * a renamed file like any other (moves record, DIRTY), so reads keep finding its data
 * after the job is gone and its commit keeps trying (and reporting) the move. */
static int ns_record_left(struct meta_txn *t, const struct ns_move_item *it)
{
	struct meta_inode in;
	struct meta_move *m;
	int rc;

	if (!it->ino || !ns_key_binds(t, it->key, it->key_len, it->ino))
		return 0;
	rc = meta_inode_get(t, it->ino, &in);
	if (rc)
		return rc == ENOENT ? 0 : rc;
	m = calloc(1, sizeof *m);
	if (!m)
		return ENOMEM;
	rc = meta_move_get(t, in.ino, m);
	if (rc != ENOENT)
		goto out;
	m->dirty_gen = in.dirty_gen;
	m->clean = in.sync == META_S_CLEAN;
	snprintf(m->etag, sizeof m->etag, "%s", in.etag);
	memcpy(m->key, it->key, it->key_len);
	m->key[it->key_len] = '\0';
	m->key_len = it->key_len;
	in.flags &= ~(uint32_t)META_F_IN_S3;
	if (in.sync != META_S_CONFLICT)
		in.sync = META_S_DIRTY;
	if (!in.dirty_since_ns)
		in.dirty_since_ns = meta_now_ns();
	if ((rc = meta_move_put(t, in.ino, m)) || (rc = meta_dirty_add(t, in.ino)))
		goto out;
	rc = meta_inode_put(t, &in);
out:
	free(m);
	return rc;
}

/* The copy at dst is of no use (the file went or moved on meanwhile): it goes again,
 * unless dst is by now the file's own upload. */
static int ns_record_garbage(struct meta_txn *t, struct ns_move_item *it)
{
	uint64_t b;

	if (meta_key_get(t, it->dst, it->dst_len, &b) == 0)
		return 0;
	return meta_delete_add(t, it->dst, it->dst_len, it->dst_etag, 0, it->ino);
}

/* Record one copied object. *retry: the view changed under the copy in a way that needs
 * this object planned again. */
static int ns_record_one(struct ns_dirjob_ctx *c, struct meta_txn *t, const struct ns_jobs *js,
			 size_t self, struct ns_move_item *it, int64_t now, bool *retry)
{
	struct meta_inode in;
	struct meta_move m;
	char *path = NULL;
	size_t plen;
	int rc;

	*retry = false;
	it->delete_src = it->conflict = it->moved = false;
	if (it->action == NS_MOVE_TOO_LONG)
		return ns_record_left(t, it);
	if (it->action != NS_MOVE_COPY)
		return 0;
	if (it->rc) {
		*retry = it->rc != ENOENT && !ns_move_permanent(it->rc);
		/* ENOENT: gone from S3 meanwhile; permanent: left in place */
		return *retry || it->rc == ENOENT ? 0 : ns_record_left(t, it);
	}
	if (!it->ino) {
		struct meta_delete pd;
		uint64_t b;

		rc = meta_delete_get(t, it->key, it->key_len, &pd);
		if (rc == 0)
			return ns_record_garbage(t, it);	/* removed meanwhile (rmdir) */
		if (rc != ENOENT)
			return rc;
		if (meta_key_get(t, it->key, it->key_len, &b) == 0) {
			*retry = true;	/* the view bound it meanwhile: plan again */
			return 0;
		}
		goto moved;
	}
	rc = meta_inode_get(t, it->ino, &in);
	if (rc == ENOENT)
		return ns_record_garbage(t, it);	/* removed: its old key has its delete */
	if (rc)
		return rc;
	if (!ns_key_binds(t, it->key, it->key_len, it->ino))
		return ns_record_garbage(t, it);	/* committed elsewhere meanwhile */
	rc = meta_move_get(t, it->ino, &m);
	if (rc == 0)
		return ns_record_garbage(t, it);	/* renamed on its own: its commit moves it */
	if (rc != ENOENT)
		return rc;
	path = malloc(S3_KEY_MAX + 1);
	if (!path)
		return ENOMEM;
	rc = ns_plan_dst(c->ns, t, js, self, it->ino, it->key, it->key_len, path, &plen);
	if (rc == 0 && (plen != it->dst_len || memcmp(path, it->dst, plen) != 0)) {
		/* Renamed again during the copy: the copy is useless, the object is planned
		 * again from its old key. */
		free(path);
		*retry = true;
		return ns_record_garbage(t, it);
	}
	free(path);
	if (rc)
		return rc;
	if ((rc = meta_key_del(t, it->key, it->key_len)) ||
	    (rc = meta_key_put(t, it->dst, it->dst_len, it->ino)))
		return rc;
	if (strcmp(in.etag, it->etag) == 0) {
		snprintf(in.etag, sizeof in.etag, "%s", it->dst_etag);
	} else if (in.sync == META_S_CLEAN) {
		/* Changed in S3 since it was listed into the view (not noticed: polls skip a
		 * moving directory): the new version moved, the view takes it. */
		snprintf(in.etag, sizeof in.etag, "%s", it->dst_etag);
		in.size = in.s3_size = it->size;
		in.data = it->size ? META_D_NONE : META_D_FULL;
		in.change++;
		if ((rc = meta_extents_put(t, in.ino, NULL)) ||
		    (rc = meta_change_add(t, in.ino, META_CH_S3)))
			return rc;
	} else {
		/* ... while the file side changed it too: a conflict, as at import. */
		snprintf(in.etag, sizeof in.etag, "%s", it->dst_etag);
		if (in.sync != META_S_CONFLICT) {
			in.sync = META_S_CONFLICT;
			it->conflict = true;
			if ((rc = meta_dirty_add(t, in.ino)))
				return rc;
		}
	}
	in.version_id[0] = '\0';
	in.synced_ns = now;
	if ((rc = meta_inode_put(t, &in)))
		return rc;
moved:
	/* The old key goes now; its pending delete makes that survive a crash. Whatever a
	 * pending delete of dst meant to remove, the copy replaced it. */
	if ((rc = meta_delete_add(t, it->key, it->key_len, it->etag, 0, it->ino)))
		return rc;
	rc = meta_delete_del(t, it->dst, it->dst_len);
	if (rc && rc != ENOENT)
		return rc;
	it->delete_src = true;
	it->moved = true;
	return 0;
}

static int ns_record_txn(struct meta_txn *t, void *arg)
{
	struct ns_dirjob_ctx *c = arg;
	struct ns_dirjob_outcome *o = c->out;
	struct meta_dirjob *j = c->job;
	struct ns_jobs js = { 0 };
	int64_t now = meta_now_ns();
	size_t done = 0, self;
	bool deleting = false;
	int rc;

	memset(o, 0, sizeof *o);
	rc = meta_dirjob_get(t, c->id, j);
	if (rc == 0)
		rc = ns_jobs_get(t, &js);
	if (rc == 0)
		rc = ns_find_job(&js, c->id, &self);
	for (; rc == 0 && done < c->n; done++) {
		struct ns_move_item *it = &c->items[done];
		bool retry;

		rc = ns_record_one(c, t, &js, self, it, now, &retry);
		if (rc)
			break;
		if (retry)
			break;
		if (it->moved)
			o->moved++;
		else
			o->skipped++;
		deleting |= it->delete_src;
	}
	ns_jobs_free(&js);
	if (rc)
		return rc;
	o->done = done;
	if (done) {
		const struct ns_move_item *last = &c->items[done - 1];

		memcpy(j->marker, last->key, last->key_len);
		j->marker[last->key_len] = '\0';
		j->marker_len = last->key_len;
	}
	j->listed += done;
	j->moved += o->moved;
	j->skipped += o->skipped;
	/* Done when a last page leaves nothing to delete: a page that still has old keys to
	 * delete is followed by one more (empty) listing, so the old prefix is gone from S3
	 * before its directories are listed again. */
	if (c->last_page && done == c->n && !deleting) {
		o->finished = true;
		return meta_dirjob_del(t, c->id);
	}
	return meta_dirjob_put(t, j);
}

int ns_dirjob_record(struct ns *ns, uint64_t job, struct ns_move_item *items, size_t n,
		     bool last_page, struct meta_dirjob *job_out, struct ns_dirjob_outcome *out)
{
	struct ns_dirjob_ctx c = { .ns = ns, .id = job, .job = job_out, .items = items, .n = n,
				   .last_page = last_page, .out = out };

	return meta_write(ns->me, ns_record_txn, &c);
}

static int ns_warned_txn(struct meta_txn *t, void *arg)
{
	struct ns_dirjob_ctx *c = arg;
	int rc = meta_dirjob_get(t, c->id, c->job);

	if (rc)
		return rc;
	c->job->warned = true;
	return meta_dirjob_put(t, c->job);
}

int ns_dirjob_warned(struct ns *ns, uint64_t job)
{
	struct meta_dirjob *j = malloc(sizeof *j);
	struct ns_dirjob_ctx c = { .ns = ns, .id = job, .job = j };
	int rc;

	if (!j)
		return ENOMEM;
	rc = meta_write(ns->me, ns_warned_txn, &c);
	free(j);
	return rc;
}

/* ---- directory renames touching a subtree (for wait-synced) ---- */

struct ns_jobs_under_ctx {
	struct ns *ns;
	uint64_t under;
	uint64_t n;
};

static int ns_jobs_under_txn(struct meta_txn *t, void *arg)
{
	struct ns_jobs_under_ctx *c = arg;
	struct ns_jobs js = { 0 };
	char *pfx = malloc(S3_KEY_MAX + 1);
	size_t plen = 0;
	int rc;

	c->n = 0;
	if (!pfx)
		return ENOMEM;
	rc = ns_key(c->ns, t, c->under, pfx, S3_KEY_MAX + 1, &plen);
	if (rc == 0)
		rc = ns_jobs_get(t, &js);
	for (size_t i = 0; rc == 0 && i < js.n; i++) {
		const struct ns_job_pfx *p = &js.j[i];

		/* Overlap either way: the job moves objects into, out of or within the
		 * subtree, or the subtree lies inside what it moves. */
		if (ns_has_prefix(p->old_prefix, p->old_len, pfx, plen) ||
		    ns_has_prefix(p->new_prefix, p->new_len, pfx, plen) ||
		    ns_has_prefix(pfx, plen, p->old_prefix, p->old_len) ||
		    ns_has_prefix(pfx, plen, p->new_prefix, p->new_len))
			c->n++;
	}
	ns_jobs_free(&js);
	free(pfx);
	return rc;
}

int ns_dirjob_pending(struct ns *ns, uint64_t under, uint64_t *n)
{
	struct ns_jobs_under_ctx c = { ns, under, 0 };
	int rc = meta_read(ns->me, ns_jobs_under_txn, &c);

	*n = c.n;
	return rc;
}
