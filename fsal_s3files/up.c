/*
 * up.c — apply the store's change feed to ganesha's cache.
 *
 * The sync daemon (and the FSAL's own imports) change the namespace in the shared store
 * and append to its change feed. MDCACHE would keep serving what it cached, so one thread
 * per export reads the feed every 100 ms and invalidates the affected entries through
 * the upcall vector, then trims what it applied. The same thread does the read bypass's
 * housekeeping (readahead_tick: idle streams, counters into the store).
 *
 * A file replaced or removed from the S3 side (META_CH_S3, META_CH_GONE) also has its
 * NFSv4 delegations recalled (deleg.c), right after its invalidation: a client holding
 * one asks the server again after returning it. The feed carries no change made through
 * ganesha itself (its writes, setattrs, creates; its removes and renames only as the
 * store's bookkeeping, which ganesha already recalled for), so a client's own writes never
 * recall its delegation here.
 */
#include "s3f_fsal.h"

#include <errno.h>
#include <time.h>

#include "nfs_core.h"

#include "base/err.h"
#include "base/log.h"
#include "base/clock.h"
#include "engine/fio.h"
#include "engine/readahead.h"

#define S3F_UP_INTERVAL_MS 100
#define S3F_UP_BATCH 1024

struct s3f_up_item {
	uint64_t ino;
	enum meta_change_kind kind;
};

struct s3f_up_read {
	uint64_t after;
	uint64_t last;
	struct s3f_up_item items[S3F_UP_BATCH];
	size_t n;
};

static int s3f_up_collect(void *arg, uint64_t seq, uint64_t ino, enum meta_change_kind kind)
{
	struct s3f_up_read *r = arg;

	if (r->n == S3F_UP_BATCH)
		return 1;
	r->items[r->n].ino = ino;
	r->items[r->n].kind = kind;
	r->n++;
	r->last = seq;
	return 0;
}

/* The next batch of the change feed after r->after. */
static int s3f_up_read(struct s3f_export *me, struct s3f_up_read *r)
{
	int rc;

	r->n = 0;
	r->last = r->after;
	rc = ns_changes_read(me->x->ns, r->after, s3f_up_collect, r);
	return rc == 1 ? 0 : rc;
}

static uint32_t s3f_up_gen(struct s3f_export *me)
{
	struct meta_inode root;

	/* Every inode of a store shares the store's generation (meta_ino_alloc). */
	if (ns_getattr(me->x->ns, META_ROOT_INO, &root) == 0)
		return root.gen;
	return 0;
}

/* ino changed or went on the S3 side: recall the delegations held on it, if any. */
static void s3f_up_recall(struct s3f_export *me, uint64_t ino, struct gsh_buffdesc *key)
{
	state_status_t st;

	/* With delegations off nothing was granted: no marks to keep either. */
	if (!me->cfg->delegations || !nfs_param.nfsv4_param.allow_delegations ||
	    !s3f_deleg_changed(me, ino))
		return;
	st = me->export.up_ops->delegrecall(me->export.up_ops, key);
	if (st == STATE_SUCCESS)
		LOG_INFO(LOG_C_FSAL, "recalling delegations on inode %llu: changed in S3",
			 (unsigned long long)ino);
	else
		LOG_WARN(LOG_C_FSAL, "delegation recall on inode %llu: %s",
			 (unsigned long long)ino, state_err_str(st));
}

static void *s3f_up_thread(void *arg)
{
	struct s3f_export *me = arg;
	struct s3f_up_read *r = gsh_malloc(sizeof *r);
	uint32_t gen = s3f_up_gen(me);

	r->after = me->up_seq;
	for (;;) {
		/* up_cond waits on the monotonic clock (export.c): a wall clock set back would
		 * stretch the tick, and with it the recording of deferred writes. */
		struct timespec ts = clock_mono_deadline(S3F_UP_INTERVAL_MS);
		int rc;

		pthread_mutex_lock(&me->up_lock);
		if (!me->up_stop)
			pthread_cond_timedwait(&me->up_cond, &me->up_lock, &ts);
		bool stop = me->up_stop;

		pthread_mutex_unlock(&me->up_lock);
		if (stop)
			break;
		/* read bypass: idle streams go, counters reach the store (once a second) */
		readahead_tick(me->ra);
		/* deferred write records of files no longer written (fio.h) */
		(void)fio_flush_all(me->x, (int64_t)me->cfg->write_record_delay_ms * 1000000LL);

		rc = s3f_up_read(me, r);
		if (rc) {
			LOG_WARN(LOG_C_FSAL, "change feed read failed: %s", s3f_strerror(rc));
			continue;
		}
		for (size_t i = 0; i < r->n; i++) {
			struct s3f_wire w;
			struct gsh_buffdesc key = { .addr = &w, .len = sizeof w };
			fsal_status_t st;

			s3f_wire_make(&w, r->items[i].ino, gen);
			st = me->export.up_ops->invalidate(me->export.up_ops, &key,
							   FSAL_UP_INVALIDATE_CACHE);
			if (FSAL_IS_ERROR(st) && st.major != ERR_FSAL_NOENT &&
			    st.major != ERR_FSAL_STALE)
				LOG_DEBUG(LOG_C_FSAL, "invalidate of %llu: %s",
					  (unsigned long long)r->items[i].ino,
					  msg_fsal_err(st.major));
			if (r->items[i].kind == META_CH_S3 || r->items[i].kind == META_CH_GONE)
				s3f_up_recall(me, r->items[i].ino, &key);
		}
		s3f_deleg_sweep(me);
		if (r->n) {
			r->after = r->last;
			me->up_seq = r->last;
			rc = ns_changes_trim(me->x->ns, r->last);
			if (rc)
				LOG_WARN(LOG_C_FSAL, "change feed trim failed: %s", s3f_strerror(rc));
		}
	}
	gsh_free(r);
	return NULL;
}

int s3f_up_start(struct s3f_export *me)
{
	int rc;

	/* The cache starts empty: older changes need no invalidation. */
	rc = ns_changes_last(me->x->ns, &me->up_seq);
	if (rc)
		return rc > 0 ? rc : EIO;
	rc = pthread_create(&me->up_thread, NULL, s3f_up_thread, me);
	if (rc == 0)
		me->up_started = true;
	return rc;
}

void s3f_up_stop(struct s3f_export *me)
{
	if (!me->up_started)
		return;
	pthread_mutex_lock(&me->up_lock);
	me->up_stop = true;
	pthread_cond_signal(&me->up_cond);
	pthread_mutex_unlock(&me->up_lock);
	pthread_join(me->up_thread, NULL);
	me->up_started = false;
}
