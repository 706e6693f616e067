/*
 * syncd.h — s3files-syncd internals.
 *
 * One worker thread per export runs the loop: commit due dirty inodes, carry out pending
 * deletes, re-list imported directories every poll interval. A control thread serves
 * s3filesctl on a unix socket; its requests run on the requesting connection's thread
 * under the export's commit_lock, so no inode is ever committed twice at once (a second
 * conditional PUT would see its own first one as a conflict).
 */
#ifndef S3F_SYNCD_H
#define S3F_SYNCD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "export_ctx.h"

struct sync_export {
	const struct conf_export *cfg;
	struct export_ctx *x;
	struct s3_caps caps;
	pthread_t thread;
	bool started;
	/* Held for a whole commit or delete pass (worker or control request). */
	pthread_mutex_t commit_lock;
	/* Held for a whole eviction pass (worker or control request). */
	pthread_mutex_t evict_lock;
	int64_t next_poll_ns;		/* worker thread only */
	int64_t next_evict_ns;		/* worker thread only */
	/* counters (atomic) */
	uint64_t n_commits, n_commit_errors, n_deletes, n_conflicts, n_polls;
	uint64_t n_evicted;
};

struct sync_result {
	uint64_t committed;
	uint64_t deleted;
	uint64_t failed;
	uint64_t conflicts;
	uint64_t skipped;	/* not due yet */
};

/* commit.c */
/* Commit dirty inodes older than min_age_ns (0: all) under subtree `under` (0: all). */
int sync_commit_pass(struct sync_export *se, int64_t min_age_ns, uint64_t under,
		     struct sync_result *res);
/* Carry out pending deletes (min_age_ns as for commits). */
int sync_delete_pass(struct sync_export *se, int64_t min_age_ns, struct sync_result *res);

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
int sync_control_start(struct syncd *d, const char *path);
void sync_control_stop(struct syncd *d);

struct syncd {
	struct conf *conf;
	struct sync_export *exports;
	size_t n_exports;
	volatile int stop;		/* set by main on SIGTERM/SIGINT, read by all threads */
	pthread_mutex_t stop_lock;	/* with stop_cond: wakes workers on shutdown */
	pthread_cond_t stop_cond;
	/* control socket */
	int ctl_fd;
	char *ctl_path;
	pthread_t ctl_thread;
	bool ctl_started;
};

struct sync_export *syncd_export_by_id(struct syncd *d, uint32_t id);

#endif
