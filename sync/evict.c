/*
 * evict.c — keep the local data tier within its limits by dropping data S3 also holds.
 *
 * Two rules, one pass:
 *   - age: a file whose data was not used (read or written) for Evict_After_Days loses
 *     its local data;
 *   - capacity: when the tier holds more than Data_Quota (or a writer waits for room),
 *     the least recently used data goes first, down to SYNC_EVICT_LOW_PCT of the quota
 *     (lower if the waiting writer needs more), so a tier at its limit does not evict on
 *     every write.
 * Only clean data that is in S3 is ever dropped (ns_data_evicting decides, under the data
 * file's exclusive lock, so no writer can slip in); metadata stays, and the next read
 * fetches the data again. Dirty data is never touched: when only dirty data fills the
 * quota, the FSAL holds writes back (see fsal_s3files/handle.c) until commits make room.
 *
 * The walk of the tier (one fstatat per file) is the cost: it runs every
 * SYNC_EVICT_INTERVAL_S seconds, when the FSAL asks for room (meta info "evict_wanted"),
 * or on `s3filesctl evict`.
 */
#include "syncd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "store/journal.h"
#include "base/log.h"
#include "ns/ns_sync.h"
#include "base/buf.h"

#define SYNC_EVICT_LOW_PCT 90
#define SYNC_ORPHAN_AGE_NS (3600LL * 1000000000LL)	/* data files without an inode */

struct sync_evict_files {
	struct data_file_info *f;
	size_t n, cap;
};

static int sync_evict_collect(void *arg, const struct data_file_info *fi)
{
	struct sync_evict_files *l = arg;

	if (BUF_GROW(&l->f, &l->cap, l->n + 1))
		return ENOMEM;
	l->f[l->n++] = *fi;
	return 0;
}

static int sync_evict_cmp(const void *a, const void *b)
{
	const struct data_file_info *x = a, *y = b;

	return x->used_ns < y->used_ns ? -1 : x->used_ns > y->used_ns;
}

struct sync_evict_check {
	struct sync_export *se;
	int64_t now_ns;
	int64_t used_ns;
};

/* Called under the data file's exclusive lock (data_file_evict_if). */
static int sync_evict_ok(void *arg, uint64_t ino)
{
	struct sync_evict_check *c = arg;
	bool had_inode = false;
	int rc = ns_data_evicting(c->se->x->ns, ino, &had_inode);

	if (rc)
		return rc;
	/* "Nothing local" must be on disk before the file goes: after a power cut the
	 * record must never say present for a file that is not there (it would read as
	 * zeros). doc/DURABILITY.md, rule E. */
	if (had_inode && (rc = ns_sync(c->se->x->ns)) != 0)
		return rc;
	/* No inode: a leftover of a removed file, unless it is being created right now. */
	if (!had_inode && c->now_ns - c->used_ns < SYNC_ORPHAN_AGE_NS)
		return EBUSY;
	return 0;
}

/* Evict one file; 0 and *freed on success, EBUSY when it must stay. */
static int sync_evict_one(struct sync_export *se, const struct data_file_info *fi, int64_t now_ns)
{
	struct sync_evict_check c = { se, now_ns, fi->used_ns };

	return data_file_evict_if(se->x->data, fi->ino, sync_evict_ok, &c);
}

int sync_evict_pass(struct sync_export *se, int64_t now_ns, bool force, uint64_t room,
		    struct sync_evict_result *res)
{
	struct sync_evict_files l = { 0 };
	uint64_t quota = se->cfg->data_quota, total = 0, low;
	bool by_quota_mode;
	int64_t cutoff = now_ns - (int64_t)se->cfg->evict_after_days * 86400LL * 1000000000LL;
	int rc;

	memset(res, 0, sizeof *res);
	rc = data_tier_files(se->x->data, sync_evict_collect, &l, &total);
	if (rc) {
		LOG_WARN(LOG_C_SYNC, "export %u: eviction: cannot walk the data tier: %s",
			 se->cfg->export_id, s3f_strerror(rc));
		goto out;
	}
	res->before_bytes = total;
	if (l.n)	/* l.f is NULL for an empty tier, which qsort must not be given */
		qsort(l.f, l.n, sizeof *l.f, sync_evict_cmp);
	low = quota / 100 * SYNC_EVICT_LOW_PCT + quota % 100 * SYNC_EVICT_LOW_PCT / 100;
	/* The capacity rule starts above the quota (or when asked) and goes down to the low
	 * mark, lower still if a writer waits for `room` bytes. */
	by_quota_mode = quota && (total > quota || force);
	if (room && quota)
		low = room < quota ? (quota - room < low ? quota - room : low) : 0;

	/* Oldest first: the age rule and the capacity rule walk the same order. */
	for (size_t i = 0; i < l.n; i++) {
		const struct data_file_info *fi = &l.f[i];
		bool by_age = fi->used_ns < cutoff;
		bool by_quota = by_quota_mode && total > low;

		if (!by_age && !by_quota)
			break;	/* sorted: nothing later qualifies either */
		rc = sync_evict_one(se, fi, now_ns);
		if (rc == EBUSY || rc == ENOENT) {
			res->busy++;
			continue;
		}
		if (rc) {
			LOG_WARN(LOG_C_SYNC, "export %u: evicting ino %" PRIu64 ": %s",
				 se->cfg->export_id, fi->ino, s3f_strerror(rc));
			res->failed++;
			continue;
		}
		total = total > fi->bytes ? total - fi->bytes : 0;
		if (by_age) {
			res->by_age++;
		} else {
			res->by_quota++;
		}
		res->freed_bytes += fi->bytes;
	}
	rc = 0;
	res->after_bytes = total;
	res->over_quota = quota && total > quota;
	if (res->freed_bytes && (rc = ns_evict_freed_add(se->x->ns, res->freed_bytes)) != 0) {
		LOG_WARN(LOG_C_SYNC, "export %u: recording evicted bytes: %s", se->cfg->export_id,
			 s3f_strerror(rc));
		rc = 0;
	}
	if (res->by_age || res->by_quota) {
		struct journal_field f[6];

		f[0] = JF_U("by_age", res->by_age);
		f[1] = JF_U("by_quota", res->by_quota);
		f[2] = JF_U("freed_bytes", res->freed_bytes);
		f[3] = JF_U("busy", res->busy);
		f[4] = JF_U("tier_bytes", res->after_bytes);
		f[5] = JF_U("quota_bytes", quota);
		(void)journal_append(se->x->journal, JOURNAL_EVICT, f, 6, NULL);
		LOG_INFO(LOG_C_SYNC, "export %u: evicted %" PRIu64 " files by age, %" PRIu64
			 " by quota, %" PRIu64 " bytes freed; tier %" PRIu64 " of %" PRIu64
			 " bytes", se->cfg->export_id, res->by_age, res->by_quota,
			 res->freed_bytes, res->after_bytes, quota);
	}
	if (res->over_quota)
		LOG_WARN(LOG_C_SYNC, "export %u: data tier holds %" PRIu64 " bytes, over its quota "
			 "of %" PRIu64 ", and the rest is dirty or in use: writes are held back "
			 "until commits make room", se->cfg->export_id, total, quota);
	__atomic_add_fetch(&se->n_evicted, res->by_age + res->by_quota, __ATOMIC_RELAXED);
out:
	free(l.f);
	return rc;
}
