/*
 * quota.c — admission of writes while the data tier is at its capacity (Data_Quota).
 *
 * The data tier is shared with s3files-syncd, which is what frees space (by evicting
 * committed data, sync/evict.c). This process cannot see those evictions in its usage
 * counter, so it works from a recount of the tier (data_tier_scan) plus the bytes written
 * since — an upper bound, as overwrites and holes do not grow the tier. A recount happens
 * only when that bound says the tier is full, at most once per QUOTA_RESCAN_NS, so a tier
 * far from its quota costs nothing per write.
 *
 * When the tier really is full: the daemon is asked for room (ns_evict_request) and the
 * write is answered with "try again later" (EAGAIN -> NFS4ERR_DELAY; clients retry with
 * backoff). Dirty data is never dropped, so if only dirty data is left, room comes only
 * from commits; after Quota_Wait seconds without the daemon freeing anything (its
 * cumulative ns_evict_freed counter does not move), writes fail with EDQUOT instead of
 * hanging the client forever.
 */
#include "s3f_fsal.h"

#include <errno.h>
#include <time.h>

#include "base/err.h"
#include "base/log.h"
#include "base/clock.h"

#define QUOTA_RESCAN_NS 1000000000LL	/* recount at most once a second */
#define QUOTA_ASK_NS    1000000000LL	/* ask the daemon at most once a second */

int s3f_quota_admit(struct s3f_export *me, uint64_t len)
{
	uint64_t quota = me->cfg->data_quota, bytes, freed = 0;
	int64_t now;
	int rc = 0;

	if (!quota)
		return 0;
	pthread_mutex_lock(&me->quota_lock);
	if (me->quota_scan_ns && me->quota_used + me->quota_written + len <= quota) {
		me->quota_over_ns = 0;
		goto out;
	}
	now = clock_mono_ns();
	if (!me->quota_scan_ns || now - me->quota_scan_ns >= QUOTA_RESCAN_NS) {
		rc = data_tier_scan(me->x->data, &bytes);
		if (rc) {
			LOG_WARN(LOG_C_FSAL, "export %u: recount of the data tier: %s",
				 me->cfg->export_id, s3f_strerror(rc));
			rc = 0;	/* no worse than no quota: let the write go */
			goto out;
		}
		me->quota_scan_ns = now;
		me->quota_used = bytes;
		me->quota_written = 0;
		if (bytes + len <= quota) {
			me->quota_over_ns = 0;
			goto out;
		}
	}
	if (now - me->quota_asked_ns >= QUOTA_ASK_NS) {
		me->quota_asked_ns = now;
		/* wall clock: the daemon compares it with what it saw last */
		if (ns_evict_request(me->x->ns, meta_now_ns(), len) != 0)
			LOG_WARN(LOG_C_FSAL, "export %u: cannot ask the daemon for room",
				 me->cfg->export_id);
	}
	/* Room is being made (the daemon evicted something since the hold-back began): the
	 * wait starts over; Quota_Wait counts only time without progress. */
	if (me->quota_over_ns && ns_evict_freed(me->x->ns, &freed) == 0 &&
	    freed != me->quota_over_freed)
		me->quota_over_ns = 0;
	if (!me->quota_over_ns) {
		me->quota_over_ns = now;
		(void)ns_evict_freed(me->x->ns, &me->quota_over_freed);
		LOG_WARN(LOG_C_FSAL, "export %u: data tier full (%llu of %llu bytes): holding "
			 "writes back for up to %u s", me->cfg->export_id,
			 (unsigned long long)me->quota_used, (unsigned long long)quota,
			 me->cfg->quota_wait);
	}
	rc = now - me->quota_over_ns < (int64_t)me->cfg->quota_wait * 1000000000LL ?
	     EAGAIN : EDQUOT;
out:
	pthread_mutex_unlock(&me->quota_lock);
	return rc;
}

void s3f_quota_wrote(struct s3f_export *me, uint64_t len)
{
	if (!me->cfg->data_quota)
		return;
	pthread_mutex_lock(&me->quota_lock);
	me->quota_written += len;
	pthread_mutex_unlock(&me->quota_lock);
}
