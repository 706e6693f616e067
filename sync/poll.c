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
 * A directory never listed but looked into by name (import_lookup: a deep path, a file
 * opened among many) is not listed either: the names it knows are asked for again, two
 * requests each (counted against Poll_Max_Lists), so what another client changes or
 * deletes there shows up too.
 *
 * Directories at or below a directory rename that the daemon is still carrying out in S3
 * are skipped (import_dir refuses them): their objects are half under the old prefix and
 * half under the new one, and reading that as deletions and creations by another client
 * would undo the rename. They are listed again once the move is done.
 */
#include "syncd.h"

#include "ns/ns_sync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "engine/import.h"
#include "base/log.h"
#include "base/tp.h"
#include "base/buf.h"

struct sync_inos {
	uint64_t *ino;
	size_t n, cap;
};

static int sync_inos_add(struct sync_inos *l, uint64_t ino)
{
	if (BUF_GROW(&l->ino, &l->cap, l->n + 1))
		return ENOMEM;
	l->ino[l->n++] = ino;
	return 0;
}

/* Directories bound to S3, in inode order: listed ones (re-listed whole) and ones only
 * looked into by name (import_lookup; bit 63 set), whose known names are asked for again
 * one by one. Inode numbers stay far below 2^63. */
#define SYNC_LOOKED (1ULL << 63)

/* From the store's index of directories bound to S3 (ns_s3dirs_iter): a poll costs what
 * the directories cost, not a walk over every inode. */
static int sync_dirs_cb(void *arg, const struct meta_inode *in)
{
	struct sync_inos *l = arg;

	if (in->type != META_T_DIR || !(in->flags & META_F_IN_S3))
		return 0;
	return sync_inos_add(l, in->ino | ((in->flags & META_F_IMPORTED) ? 0 : SYNC_LOOKED));
}

/* The names a directory not listed holds that came from S3 (clean and bound). */
struct sync_names {
	char (*name)[META_NAME_MAX + 1];
	size_t *len;
	size_t n, cap;
};

static int sync_names_cb(void *arg, const struct meta_dirent *de, const struct meta_inode *in)
{
	struct sync_names *c = arg;

	size_t cap_name = c->cap, cap_len = c->cap;
	int rc;

	if (!(in->flags & META_F_IN_S3) || in->sync != META_S_CLEAN)
		return 0;
	/* name and len grow alike: cap is the smaller of what each got */
	rc = BUF_GROW(&c->name, &cap_name, c->n + 1);
	if (rc == 0)
		rc = BUF_GROW(&c->len, &cap_len, c->n + 1);
	c->cap = cap_name < cap_len ? cap_name : cap_len;
	if (rc)
		return rc;
	memcpy(c->name[c->n], de->name, de->name_len);
	c->name[c->n][de->name_len] = '\0';
	c->len[c->n++] = de->name_len;
	return 0;
}

/* A directory only looked into by name: each name it knows is asked for again (what a
 * listing would have told: changed, gone). Two requests a name at most; *lists counts
 * them against the poll's budget. */
static int sync_poll_looked(struct sync_export *se, uint64_t dir, uint64_t *lists)
{
	struct sync_names c = { 0 };
	int rc, first = 0;

	rc = ns_dir_entries(se->x->ns, dir, sync_names_cb, &c);
	for (size_t i = 0; rc == 0 && i < c.n; i++) {
		int r = import_lookup(se->x, dir, c.name[i], c.len[i]);

		*lists += 2;
		if (r && r != EAGAIN && !first)
			first = r;
		if (r && sync_s3_unreachable(se, r))
			break;
	}
	free(c.name);
	free(c.len);
	return rc ? rc : first;
}

int sync_poll_pass(struct sync_export *se)
{
	struct sync_inos d = { 0 };
	uint64_t lists = 0;
	size_t from = 0;
	int rc, first = 0;

	TP("sync.poll.pass");
	rc = ns_s3dirs_iter(se->x->ns, sync_dirs_cb, &d);
	if (rc)
		goto out;
	/* Round robin under Poll_Max_Lists: start after the directory the last poll got
	 * to (inode order), wrap around, stop when the budget is spent. */
	while (from < d.n && (d.ino[from] & ~SYNC_LOOKED) <= se->poll_after)
		from++;
	if (from == d.n)
		from = 0;
	for (size_t k = 0; k < d.n; k++) {
		size_t i = (from + k) % d.n;
		uint64_t dir = d.ino[i] & ~SYNC_LOOKED;
		struct import_stats st = { 0 };

		if (lists >= se->cfg->poll_max_lists) {
			LOG_DEBUG(LOG_C_SYNC, "export %u: poll budget of %u LISTs spent after %zu of "
				  "%zu directories", se->cfg->export_id, se->cfg->poll_max_lists, k,
				  d.n);
			break;
		}
		se->poll_after = dir;
		if (d.ino[i] & SYNC_LOOKED)
			rc = sync_poll_looked(se, dir, &lists);
		else
			rc = import_dir(se->x, dir, &st);
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
				 se->cfg->export_id, (unsigned long long)dir,
				 (unsigned long long)st.created, (unsigned long long)st.changed,
				 (unsigned long long)st.removed, (unsigned long long)st.conflicts);
	}
	rc = first;
	__atomic_add_fetch(&se->n_polls, 1, __ATOMIC_RELAXED);
out:
	free(d.ino);
	return rc;
}
