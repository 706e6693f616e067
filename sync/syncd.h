/*
 * syncd.h — s3files-syncd internals.
 *
 * One worker thread per export runs the loop: commit due dirty inodes, carry out pending
 * deletes, re-list imported directories every poll interval. A control thread serves
 * s3filesctl on a unix socket; its requests run on the requesting connection's thread
 * under the export's commit_lock, so no inode is ever committed twice at once (a second
 * conditional PUT would see its own first one as a conflict).
 * With Notify_Listen and Metrics_Listen set, HTTP servers (http_server.h, one thread
 * each) take S3 event notifications and serve /metrics; notifications are applied by a
 * notify worker thread (notify.c) that re-lists directories under the export's
 * commit_lock and import_lock.
 */
#ifndef S3F_SYNCD_H
#define S3F_SYNCD_H

#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/conf.h"
#include "engine/export_ctx.h"
#include "http_server.h"

struct sync_export {
	const struct conf_export *cfg;
	struct export_ctx *x;
	/* How the server does conditional writes: probed before the first commit or delete
	 * pass (not at start, so that the daemon starts while S3 is unreachable), again at
	 * every pass until the probe gets an answer. Under commit_lock. */
	struct s3_caps caps;
	bool caps_known;
	bool caps_warned;
	bool notify_hint;		/* Notify_Listen is set (see sync_s3_ready) */
	/* (atomic) CLOCK_MONOTONIC ns: S3 was found unreachable, the worker's passes wait
	 * until then (sync_s3_down) instead of failing one retry series after another */
	int64_t down_until_ns;
	pthread_t thread;
	bool started;
	/* Held for a whole commit or delete pass (worker or control request). */
	pthread_mutex_t commit_lock;
	/* Held for a whole eviction pass (worker or control request). */
	pthread_mutex_t evict_lock;
	/* Held around the daemon's own re-lists of directories: a whole poll pass (worker)
	 * or one notification re-list (notify.c, which takes commit_lock first: an upload
	 * of ours must be recorded before our listing shows it, or it would look like a
	 * conflict). Two listings of one directory taken at different times and applied in
	 * the other order would bring back an object deleted in between. Lock order:
	 * commit_lock, then import_lock. */
	pthread_mutex_t import_lock;
	int poll_soon;			/* (atomic) set by notify.c when it dropped events:
					 * the worker polls at its next tick */
	int64_t next_poll_ns;		/* worker thread only; clock_mono_ns() */
	uint64_t poll_after;		/* under import_lock: the directory the last poll
					 * listed last (round robin, see poll.c) */
	int64_t next_evict_ns;		/* worker thread only; clock_mono_ns() */
	/* counters (atomic) */
	uint64_t n_commits, n_commit_errors, n_deletes, n_polls;
	/* conflicts: counted in the store (ns_conflicts_count), across restarts */
	uint64_t n_evicted;
	uint64_t n_prefetched;		/* small files fetched in the background (import_prefetch) */
	uint64_t n_close_commits;	/* of n_commits: due only because of Commit_On_Close */
	/* What the commit pass is doing, for `s3filesctl state` (atomic, written by commit.c
	 * under commit_lock, read without it): the inode being uploaded now (0: none), and the
	 * last commit of an inode that failed: which, its error, when (CLOCK_REALTIME ns).
	 * The three fail_ fields are not read as one snapshot: a diagnostic, not a state. */
	uint64_t committing_ino;
	uint64_t fail_ino;
	int fail_rc;
	int64_t fail_ns;
};

struct sync_result {
	uint64_t moved;		/* objects moved by directory renames */
	uint64_t committed;
	uint64_t deleted;
	uint64_t failed;
	uint64_t conflicts;
	uint64_t skipped;	/* not due yet */
	uint64_t blocked;	/* of those, waiting for another renamed file's old object */
};

/* commit.c */
/* Commit dirty inodes older than min_age_ns (0: all) under subtree `under` (0: all). */
int sync_commit_pass(struct sync_export *se, int64_t min_age_ns, uint64_t under,
		     struct sync_result *res);
/* Carry out pending deletes (min_age_ns as for commits). */
int sync_delete_pass(struct sync_export *se, int64_t min_age_ns, struct sync_result *res);

/* conflict.c */
/* Resolve ino if it is in conflict: S3 wins, the file-side version goes to lost+found
 * (ns_conflict_resolve), its directory is listed again, one `conflict` event. 0 when done
 * or nothing to do; an S3 error leaves it for the next pass. Caller holds commit_lock. */
int sync_conflict_resolve(struct sync_export *se, uint64_t ino, struct sync_result *res);

/* Before uploads and deletes (called by both passes, under the commit_lock): probe the
 * server's conditional writes once, and abort multipart uploads an earlier pass left
 * unfinished. Non-zero: S3 did not answer the probe; the pass must not write. */
int sync_s3_ready(struct sync_export *se);
/* After an S3 call of a pass failed with rc: is S3 unreachable as a whole (one LIST,
 * without retries, fails too)? Then the rest of the pass would only fail the same way,
 * one retry series after another: the pass stops, and the worker's passes wait a few
 * seconds (sync_s3_down) before trying again from the start. */
bool sync_s3_unreachable(struct sync_export *se, int rc);
bool sync_s3_down(struct sync_export *se);

/* uploads.c — multipart uploads started and not seen to end, kept in the store */
/* s3_upload_hook_fn; arg: the struct sync_export. Records STARTED, drops GONE. */
int sync_upload_hook(void *arg, enum s3_upload_event ev, const char *key, const char *upload_id);
/* Abort every recorded upload (none runs: called under the commit_lock at the start of a
 * pass) and drop its record; one that failed for lack of an answer stays recorded for the
 * next pass. */
int sync_uploads_abort_orphans(struct sync_export *se);

/* rename.c */
/* Carry out directory renames in S3 (ns_rename's dirjobs), oldest job first: up to
 * max_pages pages of the old prefix's listing (0: until every job is done or one stops
 * making progress). Called from sync_commit_pass, under the commit_lock. */
int sync_rename_pass(struct sync_export *se, unsigned max_pages, struct sync_result *res);
/* "RENAME ..." status lines, one per job in progress (see control.c STATUS). */
void sync_rename_status(struct sync_export *se, FILE *out);
/* Release the object at key as the source of file ino (ns_sync.h, "sources in transit"): its
 * bytes are fetched and made durable, then, under its SHARED data lock, ns_source_release.
 * 0 also when ino no longer reads from key. Under the commit_lock. */
int sync_source_release(struct export_ctx *x, uint64_t ino, const char *key, size_t len);

/* poll.c */
/* Re-list every imported directory. */
int sync_poll_pass(struct sync_export *se);

/* evict.c */
struct sync_evict_result {
	uint64_t by_age, by_quota;	/* files whose local data was dropped */
	uint64_t freed_bytes;
	uint64_t busy;			/* wanted to go but dirty, in use or not in S3 */
	uint64_t failed;
	uint64_t before_bytes, after_bytes;	/* data tier usage around the pass */
	bool over_quota;		/* still over Data_Quota afterwards */
};
/* One eviction pass over the export's data tier (age and quota rules, see evict.c).
 * force: make room even if the tier is not over its quota yet (the FSAL asked for room,
 * or an operator did), for `room` more bytes. Serialized by the caller (evict_lock). */
int sync_evict_pass(struct sync_export *se, int64_t now_ns, bool force, uint64_t room,
		    struct sync_evict_result *res);
#define SYNC_EVICT_INTERVAL_S 60

/* control.c */
struct syncd;
/* Lock <path>.lock, bind path and serve it; every failure is logged here. */
int sync_control_start(struct syncd *d, const char *path);
/* Refuses new connections, cuts the open ones, waits for requests still running. */
void sync_control_stop(struct syncd *d);

struct sync_ctl;

struct syncd {
	struct conf *conf;
	struct sync_export *exports;
	size_t n_exports;
	volatile int stop;		/* set by main on SIGTERM/SIGINT, read by all threads */
	pthread_mutex_t stop_lock;	/* with stop_cond: wakes workers on shutdown */
	pthread_cond_t stop_cond;
	/* control socket (control.c; NULL when not serving) */
	struct sync_ctl *ctl;
	/* HTTP endpoints (Notify_Listen, Metrics_Listen; one server when both are equal) */
	struct sync_notify *notify;
	struct http_server *notify_http;
	struct http_server *metrics_http;
	struct sync_syslog *syslog;	/* Syslog (syslog.c; NULL when off) */
};

/* syncd.c */
/* Zero se and set it up for cfg: its locks. The caller opens se->x (export_ctx_open) and
 * closes it before sync_export_fini. */
void sync_export_init(struct sync_export *se, const struct conf_export *cfg);
void sync_export_fini(struct sync_export *se);
/* The export of d with this Export_Id, or NULL. */
struct sync_export *syncd_export_by_id(struct syncd *d, uint32_t id);

/* notify.c — S3 event notifications (Notify_Listen): records POSTed by the S3 server are
 * queued by the HTTP thread and applied by notify.c's own worker, which re-lists each
 * affected directory the file view holds (coalesced over NOTIFY_WINDOW_MS). */
struct sync_notify;
int sync_notify_start(struct syncd *d, struct sync_notify **out);
/* Stops the worker (a re-list in progress finishes first) and frees what is queued. */
void sync_notify_stop(struct sync_notify *n);
/* http_handler_fn for POST (any path); arg: the struct sync_notify. */
void sync_notify_post(void *arg, const struct http_req *req, const char *body, size_t len,
		      struct http_response *resp);

/* syslog.c — journal events copied to a syslog socket (Syslog): a thread follows every
 * export's journal from its end at start and sends each new event, facility daemon, at
 * the severity of its kind. Start after the exports are open; stop before they close
 * (what was appended until then is sent first). */
struct sync_syslog;
int sync_syslog_start(struct syncd *d, const char *path, struct sync_syslog **out);
void sync_syslog_stop(struct sync_syslog *s);
/* The syslog severity of an event kind (RFC 5424: 3 error, 4 warning, 5 notice, 6 info). */
int sync_syslog_severity(const char *kind);

/* metrics_http.c — http_handler_fn for GET /metrics (arg: the struct syncd): the
 * registry of core/engine/metrics.c plus per-export counters and backlog. */
void sync_metrics_get(void *arg, const struct http_req *req, const char *body, size_t len,
		      struct http_response *resp);
/* GET /health on either endpoint: 200 "ok". */
void sync_health_get(void *arg, const struct http_req *req, const char *body, size_t len,
		     struct http_response *resp);

/* sdnotify.c — the service manager's readiness protocol (sd_notify(3)), spoken directly:
 * one datagram of "KEY=VALUE" lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path,
 * or '@' for the abstract namespace). Without $NOTIFY_SOCKET it does nothing and returns 0
 * (not run by systemd with Type=notify); otherwise 0 once sent, or an errno. Main thread. */
int sync_sdnotify_send(const char *state);

#endif
