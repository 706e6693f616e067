/*
 * notify.c — S3 event notifications: an object created, changed or deleted directly in
 * S3 shows up in the file view within about a second instead of a poll interval.
 *
 * A notification is only a hint. It is never applied as such: it names a directory, and
 * that directory is listed again with import_dir, the code path polling uses, which
 * handles conflicts with file-side changes, collisions and unrepresentable keys, and
 * whose store changes the FSAL turns into cache invalidations. So a forged, duplicated,
 * reordered or stale notification can cost a LIST, never a wrong file view, and the
 * endpoint needs no authentication to be safe (it should still not be reachable by
 * everyone: see README "Notifications").
 *
 * Flow: the HTTP thread parses the body (core/s3/s3_event.c), keeps the records whose bucket
 * and key belong to an export, queues them (bounded) and answers 200 at once — Ceph RGW
 * pushes synchronously, before it answers the PUT that caused the event, so a slow
 * answer here would slow every S3 client of the bucket. The worker thread below waits
 * NOTIFY_WINDOW_MS from the oldest queued record, so a burst of records for one
 * directory costs one LIST, then resolves each record's directory in the store without
 * importing anything, and re-lists each directory once.
 *
 * Which directory: the key's parent, when the file view holds it and has listed it
 * (META_F_IMPORTED) — else nothing is cached and there is nothing to update. When the
 * parent is not there but an ancestor is listed, a created key brings a new
 * subdirectory into that ancestor, which is re-listed instead. After a removal leaves a
 * directory empty (and it has no marker object), the directory may be gone from S3 too,
 * so its parent is re-listed as well.
 *
 * Records whose effect the store already shows (our own uploads and deletes come back
 * as notifications too) cost no LIST: checked under the locks, a created file with the
 * same ETag and size, or a removed name that is not there, needs nothing.
 *
 * Locks: the worker takes the export's commit_lock, then its import_lock, per directory
 * (syncd.h says why). The queue has its own lock, held only to add or take records.
 * When the queue is full, records are dropped and the export is polled in full at the
 * worker's next tick (poll_soon): nothing is lost, it only costs more.
 */
#include "syncd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "engine/import.h"
#include "ns/keymap.h"
#include "base/log.h"
#include "engine/metrics.h"
#include "s3/s3_event.h"
#include "base/clock.h"

#define NOTIFY_QUEUE_MAX 4096		/* records waiting for the worker */
#define NOTIFY_WINDOW_MS 100		/* coalescing window from the oldest record */
#define NOTIFY_RETRY_MS 1000		/* a directory busy with a rename: try again */
#define NOTIFY_RETRY_MAX_MS 60000	/* then give up and poll */
#define NOTIFY_WARN_EVERY_S 10		/* rate of warnings about refused bodies */

static struct metric m_received = { .name = "s3files_notifications_received_total",
	.help = "S3 event records received (in bodies that parsed)", .type = METRIC_COUNTER };
static struct metric m_applied = { .name = "s3files_notifications_applied_total",
	.help = "Event records applied: their directory was listed again or already "
		"showed the change", .type = METRIC_COUNTER };
static struct metric m_ignored = { .name = "s3files_notifications_ignored_total",
	.help = "Event records ignored: another bucket or prefix, another kind of event, or "
		"a directory the file view does not hold", .type = METRIC_COUNTER };
static struct metric m_rejected = { .name = "s3files_notifications_rejected_total",
	.help = "Notification POST bodies refused as malformed (HTTP 400/413)",
	.type = METRIC_COUNTER };
static struct metric m_dropped = { .name = "s3files_notifications_dropped_total",
	.help = "Event records dropped because the queue was full or a directory stayed "
		"busy (a full poll of the export was requested instead)",
	.type = METRIC_COUNTER };
static struct metric m_relists = { .name = "s3files_notifications_relists_total",
	.help = "Directory listings made because of event records", .type = METRIC_COUNTER };
static struct metric m_queued = { .name = "s3files_notifications_queued",
	.help = "Event records waiting to be applied", .type = METRIC_GAUGE };
static struct metric m_delay = { .name = "s3files_notifications_delay_seconds",
	.help = "Time from receiving an event record to its directory being up to date",
	.type = METRIC_HISTOGRAM };

/* At most one warning of a kind per NOTIFY_WARN_EVERY_S; the others are counted. */
struct notify_rate {
	int64_t next_ns;
	uint64_t suppressed;
};

struct notify_item {
	struct sync_export *se;
	enum s3_event_kind kind;
	bool has_size;
	uint64_t size;
	char etag[S3_ETAG_MAX];
	char *key;			/* owned */
	size_t key_len;
	int64_t recv_ns;		/* monotonic */
};

struct sync_notify {
	struct syncd *d;
	pthread_t thread;
	/* The queue: the HTTP thread adds, the worker takes. */
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* (CLOCK_MONOTONIC) a record was added, or stop */
	struct notify_item *q;		/* ring of NOTIFY_QUEUE_MAX, under lock */
	size_t q_head, q_len;		/* under lock */
	bool stop;			/* under lock */
	/* worker thread only */
	struct notify_item *batch;	/* NOTIFY_QUEUE_MAX * 2: taken records + retries */
	struct notify_item *retry;	/* NOTIFY_QUEUE_MAX: directories busy with a rename */
	size_t n_retry;
	int64_t retry_at_ns;
	struct keymap_parsed *kp;
	/* HTTP thread only */
	struct notify_rate warn_refused, warn_full, warn_subscribe;
};

/* ------------------------------------------------------------------------------------
 * HTTP thread: accept records.
 */

/* true: warn now (and *suppressed tells how many were not since the last one). */
static bool notify_rate_ok(struct notify_rate *r, int64_t now, uint64_t *suppressed)
{
	if (now < r->next_ns) {
		r->suppressed++;
		return false;
	}
	r->next_ns = now + NOTIFY_WARN_EVERY_S * 1000000000LL;
	*suppressed = r->suppressed;
	r->suppressed = 0;
	return true;
}

/* Text from a POST, about to be logged: control characters (a forged line break) become
 * '?'. In place; s is the batch's own copy. */
static void notify_log_safe(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* Under n->lock. false: the queue is full (the caller drops the record). */
static bool notify_enqueue(struct sync_notify *n, struct sync_export *se,
			   const struct s3_event_rec *r, int64_t now)
{
	struct notify_item *it;
	char *key;

	if (n->q_len == NOTIFY_QUEUE_MAX)
		return false;
	key = malloc(r->key_len + 1);
	if (!key)
		return false;
	memcpy(key, r->key, r->key_len + 1);
	it = &n->q[(n->q_head + n->q_len) % NOTIFY_QUEUE_MAX];
	*it = (struct notify_item){ .se = se, .kind = r->kind, .has_size = r->has_size,
				    .size = r->size, .key = key, .key_len = r->key_len,
				    .recv_ns = now };
	memcpy(it->etag, r->etag, sizeof it->etag);
	n->q_len++;
	return true;
}

static void notify_records(struct sync_notify *n, const struct s3_event_batch *b)
{
	int64_t now = clock_mono_ns();
	size_t dropped = 0, ignored = 0, queued = 0;

	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < b->n; i++) {
		const struct s3_event_rec *r = &b->rec[i];
		bool matched = false;

		if (log_level_get() >= LOG_LVL_DEBUG) {
			char key[201], name[sizeof r->name], bucket[sizeof r->bucket];
			size_t kl = r->key_len < sizeof key - 1 ? r->key_len : sizeof key - 1;

			memcpy(key, r->key, kl);
			key[kl] = '\0';
			memcpy(name, r->name, sizeof name);
			memcpy(bucket, r->bucket, sizeof bucket);
			notify_log_safe(key);
			notify_log_safe(name);
			notify_log_safe(bucket);
			LOG_DEBUG(LOG_C_SYNC, "notification %s s3://%s/%s", name, bucket, key);
		}
		if (r->kind == S3_EVENT_OTHER) {
			ignored++;
			continue;
		}
		for (size_t e = 0; e < n->d->n_exports; e++) {
			struct sync_export *se = &n->d->exports[e];

			if (!s3_event_matches(r, se->cfg->bucket, se->cfg->prefix))
				continue;
			matched = true;
			if (notify_enqueue(n, se, r, now)) {
				queued++;
			} else {
				dropped++;
				__atomic_store_n(&se->poll_soon, 1, __ATOMIC_RELAXED);
			}
		}
		if (!matched)
			ignored++;
	}
	metric_set(&m_queued, (int64_t)n->q_len);
	if (queued)
		pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);

	metric_add(&m_received, (int64_t)b->n);
	metric_add(&m_ignored, (int64_t)ignored);
	if (dropped) {
		uint64_t earlier;

		metric_add(&m_dropped, (int64_t)dropped);
		if (notify_rate_ok(&n->warn_full, now, &earlier))
			LOG_WARN(LOG_C_SYNC, "notification queue full (%d records): %zu dropped "
				 "(and %" PRIu64 " bodies with drops since the last warning); the "
				 "export is polled in full instead", NOTIFY_QUEUE_MAX, dropped,
				 earlier);
	}
}

void sync_notify_post(void *arg, const struct http_req *req, const char *body, size_t len,
		      struct http_response *resp)
{
	struct sync_notify *n = arg;
	struct s3_event_batch b;
	char why[160];
	int rc;

	(void)req;
	rc = s3_event_parse(body, len, &b, why, sizeof why);
	if (rc == ENOMEM) {
		http_response_text(resp, 503, "out of memory\n");
		return;
	}
	if (rc) {
		uint64_t earlier;

		metric_add(&m_rejected, 1);
		if (notify_rate_ok(&n->warn_refused, clock_mono_ns(), &earlier))
			LOG_WARN(LOG_C_SYNC, "notification refused: %s (%zu bytes; %" PRIu64
				 " more refused since the last warning)", why, len, earlier);
		http_response_text(resp, rc == EMSGSIZE ? 413 : 400, "%s\n", why);
		return;
	}
	notify_log_safe(b.topic_arn);
	notify_log_safe(b.subscribe_url);
	switch (b.what) {
	case S3_EVENT_BODY_SUBSCRIBE: {
		uint64_t earlier;

		/* Confirming would subscribe us to whatever topic a POST names: that is the
		 * operator's decision, not something an unauthenticated request can make. */
		if (notify_rate_ok(&n->warn_subscribe, clock_mono_ns(), &earlier))
			LOG_WARN(LOG_C_SYNC, "SNS subscription confirmation for topic %s: s3files "
				 "does not confirm subscriptions itself; if this topic is yours, "
				 "confirm it by opening %s (%" PRIu64 " more confirmations not "
				 "shown since the last one)",
				 b.topic_arn[0] ? b.topic_arn : "(no TopicArn)",
				 b.subscribe_url[0] ? b.subscribe_url : "(no SubscribeURL)", earlier);
		break;
	}
	case S3_EVENT_BODY_UNSUBSCRIBE:
		LOG_INFO(LOG_C_SYNC, "SNS unsubscribe confirmation for topic %s",
			 b.topic_arn[0] ? b.topic_arn : "(no TopicArn)");
		break;
	case S3_EVENT_BODY_TEST:
		LOG_INFO(LOG_C_SYNC, "S3 test event received: notifications reach this endpoint");
		break;
	case S3_EVENT_BODY_RECORDS:
		notify_records(n, &b);
		break;
	}
	s3_event_batch_free(&b);
	http_response_text(resp, 200, "ok\n");
}

/* ------------------------------------------------------------------------------------
 * Worker thread: apply records.
 */

/* What one record asks for: re-list dir of se. exact: dir is the key's parent and
 * leaf/leaf_len its name in it, so the record may turn out to be already applied. */
struct notify_target {
	struct sync_export *se;
	uint64_t dir;
	bool exact;
	bool leaf_dir;			/* the key is a directory marker */
	const char *leaf;		/* into the item's key */
	size_t leaf_len;
	struct notify_item *it;
};

/* Is dir in the file view and listed? */
static bool notify_dir_listed(struct sync_export *se, uint64_t dir)
{
	struct meta_inode in;

	return ns_getattr(se->x->ns, dir, &in) == 0 && in.type == META_T_DIR &&
	       (in.flags & META_F_IMPORTED);
}

/* Find the directory a record concerns, reading the store only. false: nothing of it is
 * in the file view. */
static bool notify_resolve(struct sync_notify *n, struct notify_item *it, struct notify_target *t)
{
	struct sync_export *se = it->se;
	struct keymap_parsed *kp = n->kp;
	uint64_t cur = META_ROOT_INO;
	size_t depth;

	keymap_key_parse(&se->x->km, it->key, it->key_len, it->has_size ? it->size : 0, kp);
	switch (kp->kind) {
	case KEYMAP_FILE:
	case KEYMAP_DIR_MARKER:
		depth = kp->n - 1;
		break;
	case KEYMAP_BAD:
		if (kp->bad == KEYMAP_BAD_KEY_LONG)
			return false;
		depth = kp->bad_component;	/* its directory reports it when listed */
		break;
	default:
		return false;	/* the root marker, or outside the prefix */
	}
	*t = (struct notify_target){ .se = se, .it = it };
	for (size_t i = 0; i < depth; i++) {
		struct meta_inode in;
		int rc;

		if (!notify_dir_listed(se, cur))
			return false;
		rc = ns_lookup(se->x->ns, cur, kp->comp[i], kp->len[i], &in);
		if (rc || in.type != META_T_DIR) {
			/* A new directory (or one that replaces a file) in a listed one; for a
			 * removal there is nothing here to remove. */
			if (it->kind != S3_EVENT_CREATED || (rc && rc != ENOENT))
				return false;
			t->dir = cur;
			return true;
		}
		cur = in.ino;
	}
	if (!notify_dir_listed(se, cur))
		return false;
	t->dir = cur;
	if (kp->kind != KEYMAP_BAD) {
		t->exact = true;
		t->leaf = kp->comp[depth];
		t->leaf_len = kp->len[depth];
		t->leaf_dir = kp->kind == KEYMAP_DIR_MARKER;
	}
	return true;
}

/* Under the export's locks: does the store already show what t's record says? */
static bool notify_applied_already(const struct notify_target *t)
{
	struct meta_inode in;
	int rc;

	if (!t->exact)
		return false;
	rc = ns_lookup(t->se->x->ns, t->dir, t->leaf, t->leaf_len, &in);
	if (t->it->kind == S3_EVENT_REMOVED)
		return rc == ENOENT;
	if (rc)
		return false;
	if (t->leaf_dir)
		return in.type == META_T_DIR;
	return in.type != META_T_DIR && t->it->etag[0] && (in.flags & META_F_IN_S3) &&
	       strcmp(in.etag, t->it->etag) == 0 &&
	       (!t->it->has_size || in.s3_size == t->it->size);
}

static int notify_target_cmp(const void *a, const void *b)
{
	const struct notify_target *x = a, *y = b;

	if (x->se != y->se)
		return x->se < y->se ? -1 : 1;
	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	return 0;
}

/* Re-list dir (locks held). */
static int notify_relist(struct sync_export *se, uint64_t dir)
{
	struct import_stats st = { 0 };
	int rc = import_dir(se->x, dir, &st);

	if (rc)
		return rc;
	metric_add(&m_relists, 1);
	if (st.created || st.changed || st.removed || st.conflicts)
		LOG_INFO(LOG_C_SYNC, "export %u: notified: dir %llu: +%llu ~%llu -%llu !%llu",
			 se->cfg->export_id, (unsigned long long)dir,
			 (unsigned long long)st.created, (unsigned long long)st.changed,
			 (unsigned long long)st.removed, (unsigned long long)st.conflicts);
	return 0;
}

/* After removals emptied dir: while a directory without a marker object is empty, S3
 * may not have its prefix any more either; its parent's listing decides. */
static void notify_relist_up(struct sync_export *se, uint64_t dir)
{
	for (unsigned depth = 0; dir != META_ROOT_INO && depth < KEYMAP_DEPTH_MAX; depth++) {
		struct ns_dirent de;
		struct meta_inode in;
		size_t cnt = 0;
		bool eof = false;

		if (ns_getattr(se->x->ns, dir, &in) != 0 || (in.flags & META_F_MARKER))
			return;
		if (ns_readdir(se->x->ns, dir, 0, &de, 1, &cnt, &eof) != 0 || cnt > 0)
			return;
		if (!notify_dir_listed(se, in.parent) || notify_relist(se, in.parent) != 0)
			return;
		dir = in.parent;
	}
}

/* Keep an item for another try (its directory is being renamed in S3). */
static void notify_retry_later(struct sync_notify *n, struct notify_item *it, int64_t now)
{
	if (now - it->recv_ns > NOTIFY_RETRY_MAX_MS * 1000000LL ||
	    n->n_retry == NOTIFY_QUEUE_MAX) {
		__atomic_store_n(&it->se->poll_soon, 1, __ATOMIC_RELAXED);
		metric_add(&m_dropped, 1);
		free(it->key);
		return;
	}
	if (n->n_retry == 0)
		n->retry_at_ns = now + NOTIFY_RETRY_MS * 1000000LL;
	n->retry[n->n_retry++] = *it;
}

static void notify_apply(struct sync_notify *n, struct notify_item *items, size_t cnt)
{
	struct notify_target *t = malloc((cnt ? cnt : 1) * sizeof *t);
	size_t nt = 0;

	if (!t) {
		for (size_t i = 0; i < cnt; i++) {
			__atomic_store_n(&items[i].se->poll_soon, 1, __ATOMIC_RELAXED);
			free(items[i].key);
		}
		metric_add(&m_dropped, (int64_t)cnt);
		return;
	}
	for (size_t i = 0; i < cnt; i++) {
		if (notify_resolve(n, &items[i], &t[nt])) {
			nt++;
		} else {
			metric_add(&m_ignored, 1);
			free(items[i].key);
		}
	}
	qsort(t, nt, sizeof *t, notify_target_cmp);
	for (size_t g = 0, e; g < nt; g = e) {
		struct sync_export *se = t[g].se;
		bool current = true, removal = false;
		int rc = 0;

		for (e = g; e < nt && t[e].se == se && t[e].dir == t[g].dir; e++)
			;
		pthread_mutex_lock(&se->commit_lock);
		pthread_mutex_lock(&se->import_lock);
		for (size_t i = g; i < e; i++) {
			if (current && !notify_applied_already(&t[i]))
				current = false;
			if (t[i].it->kind == S3_EVENT_REMOVED)
				removal = true;
		}
		if (!current) {
			rc = notify_relist(se, t[g].dir);
			if (rc == 0 && removal)
				notify_relist_up(se, t[g].dir);
		}
		pthread_mutex_unlock(&se->import_lock);
		pthread_mutex_unlock(&se->commit_lock);

		int64_t now = clock_mono_ns();

		for (size_t i = g; i < e; i++) {
			struct notify_item *it = t[i].it;

			if (rc == EAGAIN) {
				notify_retry_later(n, it, now);
				continue;
			}
			if (rc == 0 || rc == ENOENT || rc == ENOTDIR) {
				/* ENOENT/ENOTDIR: the directory went away meanwhile */
				metric_add(&m_applied, 1);
				metric_observe_ns(&m_delay, (uint64_t)(now - it->recv_ns));
			} else {
				__atomic_store_n(&se->poll_soon, 1, __ATOMIC_RELAXED);
				metric_add(&m_dropped, 1);
			}
			free(it->key);
		}
		if (rc && rc != EAGAIN && rc != ENOENT && rc != ENOTDIR)
			LOG_WARN(LOG_C_SYNC, "export %u: listing dir %llu after a notification "
				 "failed: %s; polling the export instead", se->cfg->export_id,
				 (unsigned long long)t[g].dir, s3f_strerror(rc));
	}
	free(t);
}

static void *notify_thread(void *arg)
{
	struct sync_notify *n = arg;

	pthread_mutex_lock(&n->lock);
	while (!n->stop) {
		int64_t now = clock_mono_ns(), wake = INT64_MAX;
		struct timespec ts;
		size_t cnt = 0;

		if (n->q_len)
			wake = n->q[n->q_head].recv_ns + NOTIFY_WINDOW_MS * 1000000LL;
		if (n->n_retry && n->retry_at_ns < wake)
			wake = n->retry_at_ns;
		if (wake == INT64_MAX) {
			pthread_cond_wait(&n->cond, &n->lock);
			continue;
		}
		if (now < wake) {
			ts = clock_mono_abstime(wake);
			pthread_cond_timedwait(&n->cond, &n->lock, &ts);
			continue;
		}
		while (n->q_len) {
			n->batch[cnt++] = n->q[n->q_head];
			n->q_head = (n->q_head + 1) % NOTIFY_QUEUE_MAX;
			n->q_len--;
		}
		metric_set(&m_queued, 0);
		pthread_mutex_unlock(&n->lock);
		if (n->n_retry && now >= n->retry_at_ns) {
			memcpy(n->batch + cnt, n->retry, n->n_retry * sizeof *n->retry);
			cnt += n->n_retry;
			n->n_retry = 0;
		}
		notify_apply(n, n->batch, cnt);
		pthread_mutex_lock(&n->lock);
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

/* ------------------------------------------------------------------------------------
 * Start / stop.
 */

static void notify_free(struct sync_notify *n)
{
	while (n->q_len) {
		free(n->q[n->q_head].key);
		n->q_head = (n->q_head + 1) % NOTIFY_QUEUE_MAX;
		n->q_len--;
	}
	for (size_t i = 0; i < n->n_retry; i++)
		free(n->retry[i].key);
	free(n->kp);
	free(n->retry);
	free(n->batch);
	free(n->q);
	pthread_cond_destroy(&n->cond);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

int sync_notify_start(struct syncd *d, struct sync_notify **out)
{
	static struct metric *const metrics[] = { &m_received, &m_applied, &m_ignored,
		&m_rejected, &m_dropped, &m_relists, &m_queued, &m_delay };
	struct sync_notify *n;
	int rc;

	n = calloc(1, sizeof *n);
	if (!n)
		return ENOMEM;
	n->d = d;
	rc = clock_cond_init(&n->cond);
	if (rc)
		goto fail_free;
	pthread_mutex_init(&n->lock, NULL);
	n->q = calloc(NOTIFY_QUEUE_MAX, sizeof *n->q);
	n->batch = calloc(NOTIFY_QUEUE_MAX * 2, sizeof *n->batch);
	n->retry = calloc(NOTIFY_QUEUE_MAX, sizeof *n->retry);
	n->kp = malloc(sizeof *n->kp);
	if (!n->q || !n->batch || !n->retry || !n->kp) {
		rc = ENOMEM;
		goto fail_all;
	}
	for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++)
		metric_register(metrics[i]);
	rc = pthread_create(&n->thread, NULL, notify_thread, n);
	if (rc)
		goto fail_all;
	*out = n;
	return 0;

fail_all:
	notify_free(n);
	return rc;
fail_free:
	free(n);
	return rc;
}

void sync_notify_stop(struct sync_notify *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = true;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	notify_free(n);
}
