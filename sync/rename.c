/*
 * rename.c — directory renames in S3: every object below the old key prefix moves below
 * the new one (CopyObject, then DeleteObjects).
 *
 * ns_rename changed the file view in one transaction and left a job (old prefix, new
 * prefix, progress marker) in the store. Here the jobs are carried out, oldest first and
 * one at a time (a later job may build on an earlier one: a directory renamed twice).
 * A page of the old prefix's listing at a time:
 *   1. LIST after the marker (the last key done, so a restarted daemon resumes there);
 *   2. plan in one read transaction where each object goes (ns_dirjob_plan: a file the
 *      view knows goes to its current path, anything else to the same place under the
 *      new prefix; objects about to be deleted or moved by a file commit stay; a place a
 *      later job has still to empty is reached in steps, through this job's new prefix);
 *   3. copy, up to SYNC_RENAME_THREADS at once, metadata and content type kept (COPY),
 *      each on condition that the source is still the version listed and the destination
 *      is free (s3_object_copy_if: by the server where it can, else by HEAD). A source
 *      changed since the listing is planned again from a new listing; a destination that
 *      holds a copy of the same version (ours, from an attempt whose record a crash lost)
 *      counts as copied; one that holds an object the file side removed (a pending
 *      delete) is replaced, as the view did; one that is still the old object of a file
 *      renamed away is released first (sync_source_release: the file's bytes made local,
 *      the object then a pending delete) and replaced; one that holds anything else is another
 *      client's object: the source stays where it is (an "object_left" event) and a
 *      file's commit resolves the clash as a conflict;
 *   4. record in one write transaction: bindings follow the copies, each old key gets a
 *      pending delete, the marker advances (ns_dirjob_record). A copy whose file was
 *      renamed or removed meanwhile is undone through the same pending deletes;
 *   5. delete the old keys of the page, each only while it still holds the version that
 *      was copied (s3_objects_delete_if: what remains of the window depends on the
 *      server, see s3.h). A source written to since its copy stays, and the delete pass
 *      then finds its pending delete in conflict (S3 wins). A crash between 4 and 5
 *      leaves pending deletes that the delete pass carries out (as conditionally).
 *      Test point "sync.rename.delete": after the record, before these deletes.
 * New keys are in place before old ones go, so other S3 clients may see an object under
 * both prefixes for a moment, never under neither.
 *
 * An object that cannot be moved (its new key would be longer than 1,024 bytes, or the
 * server refuses the copy for good) stays under the old prefix; if it is a file's, that
 * file becomes an ordinary renamed file (ns_record_left): it keeps reading from the old
 * key and its commit keeps trying the move, reporting failures as commits do.
 *
 * Events: "dir_rename" when a job starts and when it is done (with counts),
 * "dir_rename_large" once when a job has listed more than Dir_Rename_Warn_Objects,
 * "conflict" for a file changed in S3 since it was listed while it was also changed on
 * the file side, and "dir_rename" with state "object_left" and an "error" for an object
 * that stays.
 */
#include "syncd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/fio.h"
#include "engine/hydrate.h"
#include "base/log.h"
#include "ns/ns_sync.h"
#include "base/tp.h"
#include "base/buf.h"
#include "base/ctlproto.h"

#define SYNC_RENAME_PAGE 500
#define SYNC_RENAME_THREADS 8

struct sync_copy_work {
	struct export_ctx *x;
	struct ns_move_item *items;
	bool *dst_taken;	/* per item: the destination holds another client's object */
	size_t n;
	size_t next;		/* next item to take (atomic) */
};

int sync_source_release(struct export_ctx *x, uint64_t ino, const char *key, size_t len)
{
	struct meta_inode in;
	char target[4096];
	size_t tlen;
	int fd = -1, rc;
	bool done = false;

	rc = ns_getattr(x->ns, ino, &in);
	if (rc)
		return rc == ENOENT ? 0 : rc;
	switch (in.type) {
	case META_T_REG:
		/* All of it here first (from the very object being released), without the
		 * data lock (hydrate.h); the release re-checks under the lock. */
		rc = hydrate_range(x, ino, 0, in.size, NULL);
		if (rc == ENODATA)
			rc = 0;
		if (rc == 0)
			rc = fio_settle(x, ino);
		if (rc == 0)
			rc = data_file_open_locked(x->data, ino, DATA_CREATE, false, &fd);
		/* Fetched bytes are durable already (hydrate_install); client writes not
		 * yet synced may be in the page cache: all of it goes to disk now, as the
		 * object stops being a copy of it. */
		if (rc == 0)
			rc = data_file_durable(x->data, ino, fd);
		break;
	case META_T_LNK:
		rc = hydrate_symlink(x, ino, target, sizeof target, &tlen);
		break;
	default:
		break;
	}
	if (rc == 0)
		rc = ns_source_release(x->ns, ino, key, len, &done);
	if (fd >= 0) {
		data_file_unlock(fd);
		data_file_close(x->data, fd);
	}
	if (rc)
		LOG_WARN(LOG_C_SYNC, "releasing '%s' as the old object of inode %llu failed: %s "
			 "(will retry)", LOG_ESCS(key), (unsigned long long)ino, s3f_strerror(rc));
	else if (done)
		LOG_INFO(LOG_C_SYNC, "'%s' released as the old object of inode %llu: it is "
			 "uploaded whole from the file side", LOG_ESCS(key), (unsigned long long)ino);
	return rc;
}

/* The conditional copy of it was refused: why, and what now (the item's copy result). */
static int sync_copy_refused(struct sync_copy_work *w, struct ns_move_item *it,
			     const struct s3_cond *src, struct s3_object_info *out, bool *taken)
{
	char del_etag[S3_ETAG_MAX] = "";
	bool pending;
	struct s3_object_info cur;
	int rc;

	rc = s3_object_head(w->x->s3, it->dst, &cur);
	if (rc == ENOENT)
		return S3F_E_S3_PRECOND;	/* the source changed since the listing */
	if (rc)
		return rc;
	if (it->etag && it->etag[0] && strcmp(cur.etag, it->etag) == 0) {
		*out = cur;	/* a copy of this very version: an earlier attempt's */
		return 0;
	}
	rc = ns_delete_pending(w->x->ns, it->dst, it->dst_len, del_etag, &pending);
	if (rc)
		return rc;
	if (!pending) {
		/* Still the old object of a renamed file (one renamed away from here, not
		 * committed yet): released, it is replaced like a removed file's. */
		uint64_t holder;

		rc = ns_source_holder(w->x->ns, it->dst, it->dst_len, it->ino, &holder);
		if (rc == 0 && holder)
			rc = sync_source_release(w->x, holder, it->dst, it->dst_len);
		if (rc == 0 && holder)
			rc = ns_delete_pending(w->x->ns, it->dst, it->dst_len, del_etag, &pending);
		if (rc)
			return rc == S3F_E_S3_CLIENT ? EAGAIN : rc;	/* tried again */
	}
	if (pending && (!del_etag[0] || strcmp(del_etag, cur.etag) == 0))	/* removed in the view */
		return s3_object_copy_if(w->x->s3, it->key, it->dst, NULL, src, NULL, out);
	*taken = true;
	LOG_WARN(LOG_C_SYNC, "'%s' is not moved to '%s': that key holds another object (%s)",
		 LOG_ESCS(it->key), LOG_ESCS(it->dst), cur.etag);
	return S3F_E_S3_CLIENT;	/* refused for good: the object stays (ns_record_left) */
}

static void *sync_copy_run(void *arg)
{
	struct sync_copy_work *w = arg;

	for (;;) {
		size_t i = __atomic_fetch_add(&w->next, 1, __ATOMIC_RELAXED);
		struct ns_move_item *it;
		struct s3_object_info out;
		struct s3_cond src = { 0 }, dst = { .if_none_match_any = true };

		if (i >= w->n)
			break;
		it = &w->items[i];
		if (it->action != NS_MOVE_COPY)
			continue;
		src.if_match = it->etag && it->etag[0] ? it->etag : NULL;
		it->rc = s3_object_copy_if(w->x->s3, it->key, it->dst, NULL, &src, &dst, &out);
		if (it->rc == S3F_E_S3_PRECOND)
			it->rc = sync_copy_refused(w, it, &src, &out, &w->dst_taken[i]);
		if (it->rc == 0)
			snprintf(it->dst_etag, sizeof it->dst_etag, "%s", out.etag);
	}
	return NULL;
}

/* Copy every planned item; the S3 client is thread-safe and runs requests in parallel. */
static void sync_copy_all(struct export_ctx *x, struct ns_move_item *items, bool *dst_taken,
			  size_t n)
{
	struct sync_copy_work w = { x, items, dst_taken, n, 0 };
	pthread_t th[SYNC_RENAME_THREADS];
	size_t copies = 0, started = 0;

	for (size_t i = 0; i < n; i++)
		copies += items[i].action == NS_MOVE_COPY;
	for (size_t i = 0; i + 1 < SYNC_RENAME_THREADS && i + 1 < copies; i++) {
		if (pthread_create(&th[started], NULL, sync_copy_run, &w) != 0)
			break;
		started++;
	}
	sync_copy_run(&w);	/* this thread works too (and alone if none started) */
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

static void sync_rename_event(struct sync_export *se, const struct meta_dirjob *j,
			      const char *state, const char *key, size_t key_len, const char *error)
{
	struct journal_field f[9];
	size_t n = 0;

	f[n++] = JF_S("state", state);
	f[n++] = JF_U("job", j->id);
	f[n++] = JF_B("from", j->old_prefix, j->old_len);
	f[n++] = JF_B("to", j->new_prefix, j->new_len);
	f[n++] = JF_U("listed", j->listed);
	f[n++] = JF_U("moved", j->moved);
	f[n++] = JF_U("skipped", j->skipped);
	if (key)
		f[n++] = JF_B("key", key, key_len);
	if (error)
		f[n++] = JF_S("error", error);
	(void)journal_append(se->x->journal, JOURNAL_RENAME_PROGRESS, f, n, NULL);
}

/* Events and deletes that follow a recorded page. */
static void sync_rename_after(struct sync_export *se, const struct meta_dirjob *j,
			      struct ns_move_item *items, const bool *dst_taken, size_t n)
{
	struct export_ctx *x = se->x;
	const char **keys = calloc(n ? n : 1, sizeof *keys);
	const char **etags = calloc(n ? n : 1, sizeof *etags);
	int *rcs = calloc(n ? n : 1, sizeof *rcs);
	size_t nk = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		struct ns_move_item *it = &items[i];

		if (it->action == NS_MOVE_TOO_LONG) {
			sync_rename_event(se, j, "object_left", it->key, it->key_len,
					  "new key longer than 1024 bytes");
			LOG_WARN(LOG_C_SYNC, "export %u: '%s' stays: its key under '%s' would be "
				 "longer than 1024 bytes", se->cfg->export_id, LOG_ESCS(it->key),
				 LOG_ESCS(j->new_prefix));
		} else if (it->action == NS_MOVE_COPY && it->rc && it->rc != ENOENT) {
			sync_rename_event(se, j, "object_left", it->key, it->key_len,
					  dst_taken[i] ? "the new key holds another object"
						       : s3f_strerror(it->rc));
			LOG_WARN(LOG_C_SYNC, "export %u: '%s' cannot be copied to '%s': %s; it stays",
				 se->cfg->export_id, LOG_ESCS(it->key), LOG_ESCS(it->dst),
				 s3f_strerror(it->rc));
		}
		/* The conflict is resolved (and journaled) by the next commit pass. */
		if (it->conflict)
			LOG_INFO(LOG_C_SYNC, "export %u: '%s' changed in S3 and on the file side "
				 "while its directory moved to '%s'", se->cfg->export_id, LOG_ESCS(it->key),
				 LOG_ESCS(it->dst));
		if (it->delete_src && keys && etags && it->etag && it->etag[0]) {
			keys[nk] = it->key;
			etags[nk++] = it->etag;
		}
	}
	TP("sync.rename.delete");
	if (nk && keys && etags && rcs) {
		/* Only while each still holds the version copied: one written to since stays,
		 * and its pending delete meets it as a conflict in the delete pass. */
		rc = s3_objects_delete_if(x->s3, keys, etags, nk, rcs);
		for (size_t i = 0; i < nk; i++) {
			if (rcs[i] == 0 || rcs[i] == ENOENT)
				(void)ns_delete_done(x->ns, keys[i], strlen(keys[i]));
			else if (rcs[i] == S3F_E_S3_PRECOND)
				LOG_WARN(LOG_C_SYNC, "export %u: '%s' was written to in S3 after it was "
					 "copied to its new place; it stays", se->cfg->export_id,
					 LOG_ESCS(keys[i]));
		}
		/* What failed stays a pending delete: the delete pass retries it. */
		if (rc)
			LOG_WARN(LOG_C_SYNC, "export %u: deleting %zu moved keys failed: %s (the "
				 "delete pass retries)", se->cfg->export_id, nk, s3f_strerror(rc));
	}
	free(keys);
	free(etags);
	free(rcs);
}

/* One page of job j (updated to its stored state). *token: continuation within this
 * pass (NULL: start after the marker). *more: the job has more to do and made progress. */
static int sync_rename_page(struct sync_export *se, struct meta_dirjob *j, char **token,
			    struct sync_result *res, bool *more, bool *finished)
{
	struct export_ctx *x = se->x;
	struct s3_list_page pg = { 0 };
	struct s3_list_req req = {
		.prefix = j->old_prefix,
		.continuation_token = *token,
		.start_after = *token || !j->marker_len ? NULL : j->marker,
		.max_keys = SYNC_RENAME_PAGE,
	};
	struct ns_move_item *items = NULL;
	bool *dst_taken = NULL;
	struct ns_dirjob_outcome o = { 0 };
	size_t n;
	int rc;

	*more = *finished = false;
	rc = s3_list(x->s3, &req, &pg);
	free(*token);
	*token = NULL;
	if (rc) {
		LOG_WARN(LOG_C_SYNC, "export %u: LIST '%s' for a directory rename failed: %s "
			 "(will retry)", se->cfg->export_id, LOG_ESCS(j->old_prefix), s3f_strerror(rc));
		return rc;
	}
	n = pg.n_entries;
	items = calloc(n ? n : 1, sizeof *items);
	dst_taken = calloc(n ? n : 1, sizeof *dst_taken);
	if (!items || !dst_taken) {
		rc = ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		items[i].key = pg.entries[i].key;
		items[i].key_len = strlen(pg.entries[i].key);
		items[i].etag = pg.entries[i].etag;
		items[i].size = pg.entries[i].size;
	}
	rc = ns_dirjob_plan(x->ns, j->id, items, n);
	if (rc)
		goto out;
	/* Each copy's destination named for deletion until its record (a crash between the
	 * two must not leave an object no record knows: ns_dirjob_guard). */
	rc = ns_dirjob_guard(x->ns, items, n);
	if (rc)
		goto out;
	sync_copy_all(x, items, dst_taken, n);
	rc = ns_dirjob_record(x->ns, j->id, items, n, !pg.truncated, j, &o);
	if (rc)
		goto out;
	sync_rename_after(se, j, items, dst_taken, o.done);
	res->moved += o.moved;
	if (!j->warned && j->listed > se->cfg->dir_rename_warn_objects) {
		(void)journal_append(x->journal, JOURNAL_RENAME_LARGE,
				     (struct journal_field[]){
					     JF_U("job", j->id),
					     JF_B("from", j->old_prefix, j->old_len),
					     JF_B("to", j->new_prefix, j->new_len),
					     JF_U("listed", j->listed),
					     JF_U("warn_objects", se->cfg->dir_rename_warn_objects) },
				     5, NULL);
		LOG_WARN(LOG_C_SYNC, "export %u: renaming '%s' to '%s' moves more than %u objects "
			 "in S3 (%llu so far)", se->cfg->export_id, LOG_ESCS(j->old_prefix),
			 LOG_ESCS(j->new_prefix), se->cfg->dir_rename_warn_objects,
			 (unsigned long long)j->listed);
		if (!o.finished)
			(void)ns_dirjob_warned(x->ns, j->id);
	}
	if (o.finished) {
		*finished = true;
		sync_rename_event(se, j, "done", NULL, 0, NULL);
		LOG_INFO(LOG_C_SYNC, "export %u: '%s' -> '%s' done in S3: %llu objects moved, "
			 "%llu left or skipped", se->cfg->export_id, LOG_ESCS(j->old_prefix),
			 LOG_ESCS(j->new_prefix), (unsigned long long)j->moved,
			 (unsigned long long)j->skipped);
		goto out;
	}
	if (o.done < n) {
		/* Tried again from the marker: after a failed copy (its error), or at once when
		 * the view changed under the copy (EAGAIN). */
		const struct ns_move_item *it = &items[o.done];

		rc = it->action == NS_MOVE_COPY && it->rc ? it->rc : EAGAIN;
		goto out;
	}
	if (pg.truncated && pg.next_token) {
		*token = strdup(pg.next_token);
		if (!*token) {
			rc = ENOMEM;
			goto out;
		}
	}
	*more = true;
out:
	free(items);
	free(dst_taken);
	s3_list_page_free(&pg);
	return rc;
}

int sync_rename_pass(struct sync_export *se, unsigned max_pages, struct sync_result *res)
{
	struct meta_dirjob *j = malloc(sizeof *j);
	char *token = NULL;
	uint64_t token_job = 0;
	unsigned pages = 0, stalls = 0;
	int rc;

	if (!j)
		return ENOMEM;
	for (;;) {
		bool more, finished;

		rc = ns_dirjob_first(se->x->ns, j);
		if (rc == ENOENT) {
			rc = 0;
			break;
		}
		if (rc)
			break;
		if (token_job != j->id) {
			free(token);
			token = NULL;
			token_job = j->id;
		}
		if (j->listed == 0 && j->marker_len == 0 && !token)
			sync_rename_event(se, j, "started", NULL, 0, NULL);
		rc = sync_rename_page(se, j, &token, res, &more, &finished);
		pages++;
		if (rc == EAGAIN && ++stalls < 3 && (!max_pages || pages < max_pages))
			continue;	/* raced with a rename: plan those objects again */
		if (rc)
			break;
		stalls = 0;
		if (max_pages && pages >= max_pages)
			break;
		if (!more && !finished)
			break;
	}
	free(token);
	free(j);
	return rc == EAGAIN ? 0 : rc;
}

struct sync_jobs {
	struct meta_dirjob *j;
	size_t n, cap;
};

static int sync_jobs_collect(void *arg, const struct meta_dirjob *dj)
{
	struct sync_jobs *l = arg;

	if (BUF_GROW(&l->j, &l->cap, l->n + 1))
		return ENOMEM;
	l->j[l->n++] = *dj;
	return 0;
}

void sync_rename_status(struct sync_export *se, FILE *out)
{
	struct sync_jobs l = { 0 };

	/* Copied out first: no transaction stays open while the client reads. */
	if (ns_dirjob_iter(se->x->ns, sync_jobs_collect, &l) == 0) {
		for (size_t i = 0; i < l.n; i++) {
			const struct meta_dirjob *j = &l.j[i];

			fprintf(out, "RENAME export=%u job=%llu moved=%llu listed=%llu skipped=%llu "
				"state=%s from=", se->cfg->export_id, (unsigned long long)j->id,
				(unsigned long long)j->moved, (unsigned long long)j->listed,
				(unsigned long long)j->skipped, i == 0 ? "moving" : "queued");
			ctlp_put_escaped(out, j->old_prefix, j->old_len);
			fputs(" to=", out);
			ctlp_put_escaped(out, j->new_prefix, j->new_len);
			fputc('\n', out);
		}
	}
	free(l.j);
}
