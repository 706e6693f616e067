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
 * error is returned). st (may be NULL) counts them in hydrated/hydrated_bytes. */
int import_prefetch(struct export_ctx *x, size_t max, struct import_stats *st);

/* Import dir only if it was never imported. */
int import_dir_ensure(struct export_ctx *x, uint64_t dir);

/* import_dir_ensure with a page function (import_dir_pages); fn is not called when dir
 * was imported already. */
int import_dir_ensure_pages(struct export_ctx *x, uint64_t dir, import_page_fn fn, void *arg);

/* Make the entry name (len bytes) of dir known if S3 has it, without listing dir: for a
 * lookup in a directory never listed (a deep path on a cold mount, `mkdir -p`, a stat of
 * one file among millions), one HEAD of its key and one LIST of at most one key of
 * "key/". A directory wins over a file of the same name, as in a listing. The directory
 * stays unlisted (readdir lists it whole). 0 whether or not S3 has the name (ns_lookup
 * tells); EAGAIN below a directory rename still moving in S3; S3 errors. Does nothing for
 * a directory already listed or not in S3 (its entries are all known). */
int import_lookup(struct export_ctx *x, uint64_t dir, const char *name, size_t len);

#endif
