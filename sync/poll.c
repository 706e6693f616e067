/*
 * poll.c — S3 side -> file view: re-list the directories the file view has imported,
 * so objects created, changed or deleted by other S3 clients show up by themselves.
 *
 * One poll makes at most Poll_Max_Lists LIST requests (default 1,000; a directory is
 * always listed whole, so one very large directory may take more): the directories are
 * taken in turn, each poll going on after the last one listed. So with D listed
 * directories of about P pages each, every one is re-listed at least every
 * ceil(D * P / Poll_Max_Lists) poll intervals, and the LIST cost is bounded by
 * Poll_Max_Lists per Poll_Interval_Ms.
 *
 * Directories at or below a directory rename that the daemon is still carrying out in S3
 * are skipped (import_dir refuses them): their objects are half under the old prefix and
 * half under the new one, and reading that as deletions and creations by another client
 * would undo the rename. They are listed again once the move is done.
 */
#include "syncd.h"

#include <errno.h>
#include <stdlib.h>

#include "err.h"
#include "import.h"
#include "log.h"

struct sync_dirs {
	uint64_t *ino;
	size_t n, cap;
};

static int sync_dirs_cb(void *arg, const struct meta_inode *in)
{
	struct sync_dirs *d = arg;

	if (in->type != META_T_DIR || !(in->flags & META_F_IMPORTED) ||
	    !(in->flags & META_F_IN_S3))
		return 0;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		uint64_t *p = realloc(d->ino, cap * sizeof *p);

		if (!p)
			return ENOMEM;
		d->ino = p;
		d->cap = cap;
	}
	d->ino[d->n++] = in->ino;
	return 0;
}

static int sync_dirs_txn(struct meta_txn *t, void *arg)
{
	((struct sync_dirs *)arg)->n = 0;
	return meta_inode_iter(t, 0, sync_dirs_cb, arg);
}

int sync_poll_pass(struct sync_export *se)
{
	struct sync_dirs d = { 0 };
	uint64_t lists = 0;
	size_t from = 0;
	int rc, first = 0;

	rc = meta_read(se->x->meta, sync_dirs_txn, &d);
	if (rc)
		goto out;
	/* Round robin under Poll_Max_Lists: start after the directory the last poll got
	 * to (inode order), wrap around, stop when the budget is spent. */
	while (from < d.n && d.ino[from] <= se->poll_after)
		from++;
	if (from == d.n)
		from = 0;
	for (size_t k = 0; k < d.n; k++) {
		size_t i = (from + k) % d.n;
		struct import_stats st = { 0 };

		if (lists >= se->cfg->poll_max_lists) {
			LOG_DEBUG(LOG_C_SYNC, "export %u: poll budget of %u LISTs spent after %zu of "
				  "%zu directories", se->cfg->export_id, se->cfg->poll_max_lists, k,
				  d.n);
			break;
		}
		se->poll_after = d.ino[i];
		rc = import_dir(se->x, d.ino[i], &st);
		lists += st.pages;
		if (rc == ENOENT || rc == ENOTDIR)
			continue;	/* removed meanwhile */
		if (rc == EAGAIN)
			continue;	/* below a directory rename still moving in S3 */
		if (rc) {
			if (!first)
				first = rc;
			if (sync_s3_unreachable(se, rc))
				break;	/* the other listings wait for the next pass */
			continue;
		}
		if (st.created || st.changed || st.removed || st.conflicts)
			LOG_INFO(LOG_C_SYNC, "export %u: dir %llu: +%llu ~%llu -%llu !%llu",
				 se->cfg->export_id, (unsigned long long)d.ino[i],
				 (unsigned long long)st.created, (unsigned long long)st.changed,
				 (unsigned long long)st.removed, (unsigned long long)st.conflicts);
	}
	rc = first;
	__atomic_add_fetch(&se->n_polls, 1, __ATOMIC_RELAXED);
out:
	free(d.ino);
	return rc;
}
