/*
 * import.h — bring S3's view of a directory into the file view.
 *
 * import_dir lists the directory's key prefix with delimiter '/', page by page, and
 * applies each page to the namespace (ns_import_apply); objects smaller than the
 * export's hydrate threshold are queued to get their data (and metadata) in the
 * background (import_prefetch, run by the daemon); at the end, entries S3 no longer has
 * are removed (ns_import_finish). Keys that cannot be
 * POSIX names raise one "unrepresentable_key" journal event each (first time seen).
 *
 * Used by the FSAL on first access to a directory and by the daemon's poller. Safe to
 * run concurrently for the same directory (both apply the same S3 state). Holds no
 * transaction across S3 calls.
 */
#ifndef S3F_IMPORT_H
#define S3F_IMPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/export_ctx.h"

struct import_stats {
	uint64_t pages;
	uint64_t listed;	/* objects + prefixes seen */
	uint64_t created;
	uint64_t changed;
	uint64_t removed;
	uint64_t conflicts;
	uint64_t bad_keys;	/* newly reported */
	uint64_t hydrated;	/* small files fetched */
	uint64_t hydrated_bytes;
};

/* Import dir (an inode number of a directory). stats may be NULL. EAGAIN while a
 * directory rename at or above dir is being carried out in S3 (its listing would show
 * half of the move; see ns_rename): try again after the move. The LIST of the next page
 * runs (in a thread of its own) while a page is applied; a LIST that fails ends the
 * import after the pages before it are in, as a serial listing would. */
int import_dir(struct export_ctx *x, uint64_t dir, struct import_stats *stats);

/* A page function: called by import_dir_pages after each page is in the store, with no
 * transaction open and no lock of this module held, while the next page's LIST runs; it
 * may read the namespace (the FSAL's READDIR hands the new entries to the client waiting
 * for them) and must not import the same directory. Non-zero: no more calls (the import
 * goes on). */
typedef int (*import_page_fn)(void *arg);

/* import_dir, calling fn(arg) after each page (fn may be NULL). */
int import_dir_pages(struct export_ctx *x, uint64_t dir, struct import_stats *stats,
		     import_page_fn fn, void *arg);

/* Fetch the data of up to max small files a listing queued (ns_prefetch_*), 64 GETs at
 * a time, and record them as local; files changed, written or removed meanwhile are
 * dropped from the queue, files whose GET failed for lack of an answer stay queued (that
 * error is returned). st (may be NULL) counts them in hydrated/hydrated_bytes. Fetches
 * nothing (0) while a first listing is under way (a page put in within the last second,
 * ns_listing_recent): the client waiting for it comes first. */
int import_prefetch(struct export_ctx *x, size_t max, struct import_stats *st);

/* Import dir only if it was never imported (through its first-listing job, below: one
 * listing at a time per directory), and return when it is in. */
int import_dir_ensure(struct export_ctx *x, uint64_t dir);

/*
 * First listings in the background. A directory's first listing runs as a job on a
 * thread of its own, so that a READDIR can hand out each page's entries as that page is
 * in the store, answer its client, and leave the next pages listing: the client's next
 * READDIRs wait only for entries not listed yet, and the round trips of a large
 * directory overlap its LIST requests instead of following them. One job per directory
 * at a time: every first use of a cold directory (READDIR, import_dir_ensure) joins the
 * running one. The jobs of a context live in x->jobs (export_ctx_open makes it when
 * there is an S3 client); export_ctx_close waits for the jobs still running.
 *
 * Locks: x->jobs' mutex guards the job list and every job's counters; it is held only
 * to read or change them (never across a listing, an S3 call or a transaction).
 */
struct import_job;

int import_jobs_open(struct import_jobs **out);	/* 0 or ENOMEM */
void import_jobs_close(struct import_jobs *js);	/* waits for running jobs; NULL is fine */

/* The first-listing job of dir, started now or already running, with a reference for
 * the caller (import_job_put); *out NULL (and 0) when dir's listing is known already
 * (listed before, or never in S3). Without x->jobs, or when no thread can be started,
 * the listing runs here and *out is a finished job. Errors of reading the record. */
int import_job_get(struct export_ctx *x, uint64_t dir, struct import_job **out);

/* Wait until job j has more pages in the store than *pages, or has ended; *pages and
 * *done are updated, and *rc is the listing's result once it ended (import_dir's
 * errors). Returns at once when there is news already. */
void import_job_wait(struct import_job *j, uint64_t *pages, bool *done, int *rc);

void import_job_put(struct import_job *j);

/* Make the entry name (len bytes) of dir known if S3 has it, without listing dir: for a
 * lookup in a directory never listed (a deep path on a cold mount, `mkdir -p`, a stat of
 * one file among millions), one HEAD of its key and one LIST of at most one key of
 * "key/". A directory wins over a file of the same name, as in a listing. The directory
 * stays unlisted (readdir lists it whole). 0 whether or not S3 has the name (ns_lookup
 * tells); EAGAIN below a directory rename still moving in S3; S3 errors. Does nothing for
 * a directory already listed or not in S3 (its entries are all known). */
int import_lookup(struct export_ctx *x, uint64_t dir, const char *name, size_t len);

#endif
