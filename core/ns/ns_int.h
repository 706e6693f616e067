/*
 * ns_int.h — what the parts of the namespace layer share; included only by core/ns/ns*.c.
 *
 * The layer is split by protocol, one file each, whose statics stay static in it:
 *   ns.c               the handle, counters, change marks, where objects are (below),
 *                      keys bound to other inodes, upload intents a listing may show
 *   ns_lookup.c        getattr, lookup, readlink, readdir, paths and keys, data source
 *   ns_change.c        create, remove, setattr (and directory markers)
 *   ns_write.c         writes, fetched data and symlink targets, present ranges
 *   ns_import.c        listings applied, objects seen by GET/HEAD, the prefetch queue
 *   ns_import_finish.c what a listing no longer shows (finish, forget)
 *   ns_commit.c        commit request/prepare/done, deletes, upload tokens and intents
 *   ns_conflict.c      conflicts (S3 wins) and lost+found names
 *   ns_subtree.c       backlog, subtree state, eviction bookkeeping, read statistics
 *   ns_rename.c        rename and the sources in transit it leaves
 *   ns_dirjob.c        directory renames carried out in S3
 *
 * The functions below run inside the caller's transaction (t) unless they take ns alone;
 * none commits or aborts it. Errors are 0/errno/S3F_E_* as in ns.h.
 */
#ifndef S3F_NS_INT_H
#define S3F_NS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/rangeset.h"
#include "ns/ns_sync.h"

#define NS_LOSTFOUND "lost+found"

struct ns {
	struct meta_env *me;
	const struct keymap *km;
	struct journal *j;
	struct ns_defaults def;
};

/* ---- cumulative counters in the info table (ns.c) ---- */
/* Add n to counter name inside the caller's write transaction. */
int ns_counter_bump(struct meta_txn *t, const char *name, uint64_t n);
/* The same in a write transaction of its own. */
int ns_counter_add(struct ns *ns, const char *name, uint64_t n);
/* *v = the counter (0 if never added to), in a read transaction of its own. */
int ns_counter_get(struct ns *ns, const char *name, uint64_t *v);

/* ---- marks of a change (ns.c) ---- */
/* A file-side change to in: timestamps are the caller's, this marks it dirty. */
void ns_mark_dirty(struct meta_inode *in, int64_t now);
/* ctime (and mtime when mtime is true, no longer S3's) become now; change bumps. */
void ns_touch(struct meta_inode *in, int64_t now, bool mtime);
/* Is name in dir s3files' own (lost+found at the export root)? */
bool ns_is_reserved(uint64_t dir, const char *name, size_t len);

/* ---- where objects are while renames are carried out in S3 (ns.c) ----
 *
 * A rename changes the file view at once; S3 follows later (the daemon). Until then an
 * object stays under the key it had, and the keys table keeps binding that key to the
 * inode. Two records say where to look:
 *  - moves[ino] for a renamed file (its source key and ETag);
 *  - dirjobs for a renamed directory: every object below the old prefix is on its way to
 *    the new one. A file below it that the job has not reached yet is found by mapping
 *    its path key back through the jobs (newest first) until the keys table binds it.
 * Jobs are few and short-lived, so they are read per transaction when needed.
 */

struct ns_job_pfx {
	uint64_t id;
	size_t old_len, new_len;
	char old_prefix[S3_KEY_MAX + 1];
	char new_prefix[S3_KEY_MAX + 1];
};

struct ns_jobs {
	bool loaded;
	size_t n, cap;
	struct ns_job_pfx *j;	/* in id (creation) order */
};

/* Load the jobs into js (zeroed by the caller) once per transaction attempt (meta_write
 * may run a txn function again); ENOMEM. The caller frees js with ns_jobs_free. */
int ns_jobs_get(struct meta_txn *t, struct ns_jobs *js);
void ns_jobs_free(struct ns_jobs *js);
/* Do the first len bytes of key start with pfx (plen bytes)? */
bool ns_has_prefix(const char *key, size_t len, const char *pfx, size_t plen);
/* Is key (an object key or a directory prefix) at or below the old (want_old) or the new
 * (want_new) prefix of a job? */
bool ns_jobs_cover(const struct ns_jobs *js, const char *key, size_t len, bool want_old,
		   bool want_new);
/* Replace the leading from (flen bytes) of key by to (in place, key has S3_KEY_MAX + 1
 * bytes). ENAMETOOLONG if the result would not be a valid key length. */
int ns_key_swap(char *key, size_t *len, size_t flen, const char *to, size_t tlen);
/* Does the keys table bind key to ino? */
bool ns_key_binds(struct meta_txn *t, const char *key, size_t len, uint64_t ino);
/* Where the object of file inode in is: *found false if it has none (never uploaded).
 * js: the jobs (loaded here if not yet). key has S3_KEY_MAX + 1 bytes; m (may be NULL)
 * gets the moves record when *moved. */
int ns_file_source(struct ns *ns, struct meta_txn *t, const struct meta_inode *in,
		   struct ns_jobs *js, char *key, size_t *keylen, char etag[S3_ETAG_MAX],
		   bool *found, bool *moved, struct meta_move *m);

/* ---- keys bound to other inodes, and upload intents a listing may show (ns.c) ---- */
/* The live inode other than ino the object at key is bound to (a renamed file whose
 * object has not been moved yet): *holder, 0 if none; *other gets its record. */
int ns_key_holder(struct meta_txn *t, const char *key, size_t len, uint64_t ino,
		  uint64_t *holder, struct meta_inode *other);
/* *taken: does ns_key_holder find an inode other than ino at key? */
int ns_key_taken(struct meta_txn *t, const char *key, size_t len, uint64_t ino, bool *taken);
/* *held: does S3 keep objects below prefix (a directory's key, with its '/') that the
 * store accounts for elsewhere — the old object of a file renamed away (a key there bound
 * to a live inode) or an upload of ours not yet recorded (an intent)? A listing that
 * shows the prefix then shows those, not a directory of another client's. */
int ns_prefix_held(struct meta_txn *t, const char *prefix, size_t len, bool *held);
/* An ETag and size seen for an intent's key: the intent's object as far as they tell. */
bool ns_intent_seen(const struct meta_intent *in, const char *etag, uint64_t size);
/* Does an intent for key (of inode ino; 0: any) describe the object a listing shows
 * (etag, size)? Then the listing may show an upload of ours before its record. */
int ns_intent_covers(struct meta_txn *t, const char *key, size_t len, uint64_t ino,
		     const char *etag, uint64_t size, bool *ours);

/* ---- reads (ns_lookup.c) ---- */
/* Key of the entry name in dir (not yet or no longer linked), or of ino itself. */
int ns_key_in_dir(struct ns *ns, struct meta_txn *t, uint64_t dir, const char *name,
		  size_t name_len, bool is_dir, char *key, size_t cap, size_t *keylen);

/* A meta_dir_iter callback copying entries into out[0..max) (n counts them; eof false
 * and 1 returned once out is full). */
struct ns_readdir_ctx {
	uint64_t dir, after;
	struct ns_dirent *out;
	size_t max, n;
	bool eof;
};
int ns_readdir_cb(void *arg, const struct meta_dirent *de);

/* ---- remove (ns_change.c) ---- */
/* Drop every record of in (not its dirent); key is its key by path. A bound object loses
 * its binding wherever it is and, with record_delete, gets a pending delete. */
int ns_drop_inode(struct ns *ns, struct meta_txn *t, const struct meta_inode *in,
		  const char *key, size_t keylen, int64_t now, bool record_delete);

/* ---- data (ns_write.c) ---- */
/* The byte ranges of regular file in that are local, into rs (cleared first). */
int ns_present_in(struct meta_txn *t, const struct meta_inode *in, struct rangeset *rs);

#endif
