/*
 * ns_sync.h — the namespace layer's calls for the sync daemon (sync/) and the engine's
 * import, prefetch and fsck: S3 listings into the file view, commit bookkeeping, upload
 * intents, conflicts, the state of subtrees, eviction, directory renames in S3. The file
 * side's calls, and the rules of sync state all of them keep, are in ns.h (included).
 */
#ifndef S3F_NS_SYNC_H
#define S3F_NS_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ns/ns.h"

/* ---- import: S3 state -> file view ---- */
struct ns_import_entry {
	const char *name;	/* one component */
	size_t len;
	bool is_dir;		/* common prefix or directory marker */
	bool is_marker;		/* is_dir and an explicit "name/" object exists */
	uint64_t size;
	int64_t mtime_s;	/* Last-Modified */
	const char *etag;	/* files: without quotes */
	const struct keymap_attrs *attrs;	/* from metadata if known (GET/HEAD), else NULL */
};

/* Outcome of applying one entry, for the caller (to hydrate small files, raise events). */
enum ns_import_result {
	NS_IMP_SAME = 0,	/* already up to date */
	NS_IMP_NEW,		/* new inode created */
	NS_IMP_CHANGED,		/* clean inode updated; its local data was invalidated */
	NS_IMP_CONFLICT,	/* changed in S3 while dirty on the file side */
	NS_IMP_COLLISION,	/* file and directory of the same name: the directory is shown,
				   the file is not (a clean local file is replaced) */
	NS_IMP_PENDING_DELETE,	/* removed on the file side, not yet deleted in S3: skipped */
	NS_IMP_MOVING,		/* an object in transit after a rename (the old key of a renamed
				   file, or below a directory being moved in S3), or the prefix
				   of a directory no longer in the view that holds such an
				   object or an upload not yet recorded: skipped */
	NS_IMP_DELETE_LOST,	/* removed on the file side but changed in S3 since: S3 wins, the
				   pending delete is dropped and the object shown as a new inode
				   (a conflict: the caller journals it) */
	NS_IMP_UPLOADING,	/* the object an upload of the daemon's left there, whose outcome
				   is not recorded yet (an upload intent names it, see "upload
				   intents" below): skipped, the daemon records it */
};

/* Apply entries of dir's listing. results[i] (may be NULL) and inos[i] (may be NULL)
 * receive the outcome and inode of entries[i]. listing_start_ns is the time the listing
 * began (entries touched now are stamped so ns_import_finish can find the vanished). */
int ns_import_apply(struct ns *ns, uint64_t dir, const struct ns_import_entry *entries, size_t n,
		    int64_t listing_start_ns, enum ns_import_result *results, uint64_t *inos);

/* The listing of dir is complete. seen(arg, name, len) tells whether the listing showed
 * a name (seen_arg is passed to it). Entries bound to S3 that it did not show, and that were confirmed before the
 * listing started, are gone from S3: clean ones are removed (clean subtrees recursively,
 * removed(removed_arg, ino, type) called for each so the caller drops its data), dirty ones are
 * marked CONFLICT. Marks dir imported. *n_removed (may be NULL) gets the count. */
typedef bool (*ns_seen_fn)(void *arg, const char *name, size_t len);
typedef void (*ns_removed_fn)(void *arg, uint64_t ino, uint8_t type);
int ns_import_finish(struct ns *ns, uint64_t dir, int64_t listing_start_ns, ns_seen_fn seen,
		     void *seen_arg, ns_removed_fn removed, void *removed_arg, uint64_t *n_removed);

/* S3 no longer has name in dir (a HEAD and a LIST of name/ found nothing, see
 * import_lookup): as ns_import_finish would for a listing without it — a clean entry
 * confirmed before listing_start_ns is removed (a clean subtree with it), a dirty one is
 * marked CONFLICT — but for that name only, and dir is not marked imported. */
int ns_import_forget(struct ns *ns, uint64_t dir, const char *name, size_t len,
		     int64_t listing_start_ns, ns_removed_fn removed, void *removed_arg);

/* Attributes and state of objects seen by GET/HEAD (e.g. the import of small files
 * fetched their data): each clean inode whose ETag still equals info's takes the object
 * metadata (mode, owner, mtime; symlink type) and, with data_fetched, becomes fully
 * local. Entries with rcs[i] != 0 (a failed GET) are skipped. One transaction. */
int ns_import_objects(struct ns *ns, const uint64_t *inos, const struct s3_object_info *infos,
		      const int *rcs, size_t n, bool data_fetched);

/* ---- background fetch of small files listed without their data ---- */
/* Queue inos (one transaction). */
int ns_prefetch_add(struct ns *ns, const uint64_t *inos, size_t n);
/* Up to max queued inos, oldest listing first (inode order), without taking them off. */
int ns_prefetch_peek(struct ns *ns, uint64_t *inos, size_t max, size_t *n);
/* Take inos off the queue (fetched, or not to be fetched any more). */
int ns_prefetch_done(struct ns *ns, const uint64_t *inos, size_t n);

/* ---- paths and keys ---- */
/* Components of ino's path from the root (names copied into buf). */
int ns_path(struct ns *ns, struct meta_txn *txn, uint64_t ino, char *buf, size_t cap,
	    const char **comp, size_t *len, size_t *n);
/* The S3 key of ino by its current path (dirs: with the trailing '/'). */
int ns_key(struct ns *ns, struct meta_txn *txn, uint64_t ino, char *key, size_t cap, size_t *keylen);
/* Same, for a caller without a transaction. */
int ns_key_of(struct ns *ns, uint64_t ino, char *key, size_t cap, size_t *keylen);

/* ---- commit bookkeeping (the daemon) ---- */
struct ns_commit {
	uint64_t ino;
	uint64_t dirty_gen;	/* generation being committed */
	struct meta_inode in;	/* snapshot of the inode */
	char key[S3_KEY_MAX + 1];
	size_t key_len;
	char prev_etag[S3_ETAG_MAX];	/* ETag of the object at key it replaces ("": none, the
					   upload is If-None-Match) */
	bool replaces;		/* prev_etag is that of a removed or replaced file's object
				   (a pending delete of key), not the file's own */
	char target[4096];		/* symlink target */
	size_t target_len;
	/* A renamed file: its object is still at src_key (ETag src_etag) and moves to key.
	 * copy: data and attributes are unchanged since the rename, so a server-side copy
	 * reproduces the file; else the file is uploaded. After ns_commit_done the source
	 * object has a pending delete (carried out by the delete pass), unless the caller
	 * set keep_src: the source changed in S3 meanwhile and stays (S3 wins there). */
	bool moved, copy, keep_src;
	char src_key[S3_KEY_MAX + 1];
	size_t src_len;
	char src_etag[S3_ETAG_MAX];
	/* Due only because of ns_commit_request (its last change is younger than min_age):
	 * a commit on close, for the metrics. */
	bool early;
	/* EAGAIN from ns_commit_prepare because key is the source of another renamed file,
	 * not moved yet: that file (0: the wait has another cause). */
	uint64_t blocker;
};
/* A requested file that changed after the request is due once it has not changed for
 * this long: a close followed by a utimes or chmod (cp -p, tar) goes up as one upload,
 * and a writer still writing after a flush holds it back. */
#define NS_COMMIT_SETTLE_NS 1000000000LL
/* ... and one unchanged since the request, once it has not changed for this long. */
#define NS_COMMIT_QUIET_NS 300000000LL

/* Snapshot ino for committing if it is dirty (for a regular file the caller holds its data
 * lock EXCLUSIVELY: the snapshot clears META_F_CHANGING, see ns_write_begin) and its last change is older than
 * min_age_ns (0: commit now), or it was requested by ns_commit_request (and is as it was
 * then, or unchanged for NS_COMMIT_SETTLE_NS; c->early tells such a commit from one due
 * by age). ENOENT if gone; EAGAIN if not due yet, or if its key is
 * still occupied by an object in transit (the old object of another renamed file, or a
 * key below a directory being moved away in S3): retry after those moves; EALREADY if
 * clean; EBUSY if in conflict. */
int ns_commit_prepare(struct ns *ns, uint64_t ino, int64_t min_age_ns, struct ns_commit *c);
/* The object for c is in S3 with info: mark clean if nothing changed since prepare
 * (else stay dirty with the new S3 state as base). A pending delete of key (a replaced
 * object) is dropped: key now holds this upload. A commit request the upload covers
 * (due_gen <= c->dirty_gen) is cleared; a later one stays. */
int ns_commit_done(struct ns *ns, const struct ns_commit *c, const struct s3_object_info *info);
/* The source object of moved c changed or vanished in S3 before it could be copied, and
 * the file's data is not all local: the file-side version cannot be rebuilt. The file
 * is marked CONFLICT and LOST (its missing bytes read as EIO), and the source key is
 * released so that S3's version shows under the old name (S3 wins). */
int ns_commit_source_lost(struct ns *ns, const struct ns_commit *c);
/* A pending delete of key was carried out (or found already gone). */
int ns_delete_done(struct ns *ns, const char *key, size_t len);
/* The pending delete of key recorded at when_ns found another version in S3 (the delete
 * pass's conditional DELETE failed; s3_etag and s3_size are what a HEAD then showed). If an
 * upload of ours to key is in flight and describes that object (its intent: the file was
 * removed while it uploaded), it is not another client's change: the delete stays, and
 * the upload's outcome (ns_commit_done, ns_intent_done) gives it the new ETag. Otherwise
 * S3 won: the delete is dropped if it is still that one. *dropped says whether this call
 * dropped it. A listing may have dropped it first (ns_import_apply's NS_IMP_DELETE_LOST,
 * in its own transaction), and whoever drops it reports the conflict, so that it is
 * journaled and counted once. One write transaction: the intent and the delete are read
 * and changed together, so an upload's outcome recorded meanwhile is seen either whole
 * or not at all. */
int ns_delete_lost(struct ns *ns, const char *key, size_t len, int64_t when_ns,
		   const char *s3_etag, uint64_t s3_size, bool *dropped);

/* ---- sources in transit (the daemon) ----
 *
 * A renamed file keeps reading from its old object until that object has moved (its
 * commit copies or uploads it, or a directory job moves it). Renames can make such an
 * object stand in the way of another one: files that trade places (each one's new key
 * holds the other's old object), or a directory moved onto a name whose file was renamed
 * away. Such a wait is broken by releasing the source: the file's bytes are made local
 * first, then it stops depending on the object (an ordinary new file, uploaded whole),
 * and the object gets a pending delete that the new occupant's upload or copy replaces.
 */
/* The live inode, other than skip, that reads its data from the object at key (a renamed
 * file's old object, or a file below a directory being moved): *ino, 0 if none. */
int ns_source_holder(struct ns *ns, const char *key, size_t len, uint64_t skip, uint64_t *ino);
/* Does the wait of ino's commit on blocker (c->blocker of ns_commit_prepare) run in a
 * circle back to ino (every file of it waits for the next one's old object)? A chain
 * that ends in a free key, or in a key a directory job still has to empty, is no
 * circle: it resolves by itself. At most 64 links are followed. */
int ns_commit_cycle(struct ns *ns, uint64_t ino, uint64_t blocker, bool *cycle);
/* Release key as the source of ino. The caller holds ino's data file with its SHARED
 * data lock (no eviction can run) and has made every byte of [0, size) local and
 * durable (fdatasync): the record check below is then still true when S3's copy goes.
 * In one transaction: ino must still read from key (else 0 and *done false: moved on
 * meanwhile), hold all its bytes (EAGAIN otherwise) and not be in conflict (EBUSY); its
 * moves record and binding of key go, key gets a pending delete with the object's ETag,
 * and ino becomes a dirty file that is not in S3. The transaction is synced before the
 * return (meta_sync): only then may the object be overwritten or deleted. */
int ns_source_release(struct ns *ns, uint64_t ino, const char *key, size_t len, bool *done);

/* ---- upload intents (the daemon, sync/commit.c) ----
 *
 * An upload whose request reached S3 but whose outcome was never recorded (the daemon
 * killed between the two, or the answer lost on the way) would make its own object look
 * like another client's: the next upload, conditional on the old ETag, is refused and the
 * file becomes a conflict; a removed file's pending delete finds "another" version and
 * leaves it. So before the request that makes an object exist (a PUT, a multipart upload's
 * CompleteMultipartUpload, a renamed file's CopyObject), the daemon records an intent
 * (meta.h struct meta_intent): the key, the commit it belongs to (inode, generation,
 * dirty_gen of the snapshot, a renamed file's old object), the size and, where it can be
 * known before, the ETag the object will have, and a token unique to this upload that
 * names this store. The object carries the token as user metadata (x-amz-meta-
 * NS_TOKEN_META). ns_commit_done drops the intent in its transaction.
 *
 * An intent still there when a pass starts (none runs then: passes hold the commit lock)
 * is settled: the key is HEADed; if it holds the object the intent describes
 * (ns_intent_matches: the token, the size and the expected ETag), ns_intent_done records
 * it as ns_commit_done would have, whatever happened on the file side since (written:
 * stays dirty on the new base; renamed: the move starts from the new object; removed: the
 * new object gets the pending delete); else (the upload never landed, or another client
 * wrote after it: then the next upload is refused and is a conflict, S3 wins, as ever)
 * ns_intent_drop forgets it. A listing that shows, at a key with an intent, an object of
 * the intent's size and ETag is not applied to the inode (NS_IMP_UPLOADING): it may be
 * the upload's own object before its record.
 */
#define NS_TOKEN_META "s3files-upload"	/* the metadata name of the token */

/* A fresh upload token: this store's id (made once, kept in the store) and 64 random
 * bits, in hex ("<16 hex>-<16 hex>"). */
int ns_token_new(struct ns *ns, char token[META_TOKEN_MAX]);
/* Record the intent of commit c to write key c->key (kind PUT or COPY) with token, an
 * object of size bytes and (etag not "") that ETag, replacing an intent left for the key;
 * durable (meta_sync) when it returns 0. Called right before the request that makes the
 * object exist. */
int ns_intent_begin(struct ns *ns, const struct ns_commit *c, enum meta_intent_kind kind,
		    const char *token, const char *etag, uint64_t size);
/* Every intent, copied out (free *out); *n = 0 when there is none. One read txn. */
int ns_intent_list(struct ns *ns, struct meta_intent **out, size_t *n);
/* The intent of key (ENOENT). */
int ns_intent_get(struct ns *ns, const char *key, size_t len, struct meta_intent *out);
/* Is info (a HEAD of the intent's key) the object the intent describes? Its token, its
 * size, and its ETag where the intent knows it (a copy of a multipart object excepted:
 * servers give such a copy an ETag of their own). */
bool ns_intent_matches(const struct meta_intent *in, const struct s3_object_info *info);
/* The intent's object is in S3 (info, from ns_intent_matches): record it as
 * ns_commit_done would have and drop the intent, in one transaction. The inode as it is
 * now decides: still at the key: based on the object, clean if its dirty_gen is the
 * intent's (a conflict the object caused is undone); renamed since with the key as its
 * move's source: the move starts from this object; removed (or renamed away unbound):
 * the object gets a pending delete, unless the key is bound to another file. */
int ns_intent_done(struct ns *ns, const struct meta_intent *in, const struct s3_object_info *info);
/* The intent's upload did not land (or was overwritten): forget it, if the intent of its
 * key is still this one (same token). */
int ns_intent_drop(struct ns *ns, const struct meta_intent *in);

/* ---- conflicts: S3 wins (the daemon, sync/conflict.c) ----
 *
 * An inode in CONFLICT changed on the file side while its key changed (or appeared, or
 * vanished) in S3. It is resolved by moving the inode itself — file handle, data, open
 * files and all — into the export root's lost+found under a name that tells its origin
 * path and the time (ns_lostfound_name), and freeing its name and key: the next listing
 * of its directory then shows S3's version there (the daemon lists it at once). In
 * lost+found the inode is s3files' own (META_F_RESERVED): never uploaded, never evicted;
 * it can be read, written, chmod'ed and removed, not renamed. Bytes of it that were never
 * local are lost with the version they belonged to (META_F_LOST: they read as EIO).
 *
 * lost+found is created on first use (mode 0700, owner 0:0, never in S3).
 */
struct ns_conflict {
	uint64_t ino;
	uint32_t gen;
	uint64_t dirty_gen;
	struct meta_inode in;		/* snapshot */
	char key[S3_KEY_MAX + 1];	/* its key by path */
	size_t key_len;
	uint64_t parent;		/* directory holding it (listed again afterwards) */
};
/* Snapshot ino for resolving. EALREADY if it is not in conflict (any more), ENOENT. */
int ns_conflict_prepare(struct ns *ns, uint64_t ino, struct ns_conflict *c);

struct ns_conflict_result {
	uint64_t lf_dir;		/* ino of lost+found */
	char lf_name[META_NAME_MAX + 1];	/* the inode's name there */
	size_t lf_len;
	bool lost_bytes;		/* not all of it was local: META_F_LOST */
	bool created_lf;		/* lost+found was created by this call */
};
/* Move c's inode to lost+found (now_ns names it). EAGAIN if it changed place or state
 * since prepare (prepare again); EALREADY if it is no longer in conflict; ENOENT. */
int ns_conflict_resolve(struct ns *ns, const struct ns_conflict *c, int64_t now_ns,
			struct ns_conflict_result *out);
/* The conflict of c turned out to be none: S3 holds exactly the file-side version (an
 * upload of ours whose record was lost in a crash). Mark it clean, based on info, if
 * nothing changed since prepare. EAGAIN otherwise. */
int ns_conflict_same(struct ns *ns, const struct ns_conflict *c, const struct s3_object_info *info);

/* Conflicts counted over the store's life (every process, across restarts): each
 * ns_conflict_resolve adds one; ns_conflicts_add counts the kinds resolved otherwise (a
 * renamed file whose old object changed: both kept in S3; a file removed on the file side
 * while changed in S3: S3's stays). */
int ns_conflicts_add(struct ns *ns, uint64_t n);
int ns_conflicts_count(struct ns *ns, uint64_t *n);

/* The name the file with relative path rel (rel_len bytes, '/'-separated, no leading '/')
 * gets in lost+found at time now_ns: the path with '%' and '/' %-escaped, then
 * ".YYYYMMDDTHHMMSSZ" (UTC); a path too long for one name keeps its end (the file name)
 * and starts with "...". nth > 1 appends ".nth" (a name already taken). Returns the
 * length written to buf (META_NAME_MAX + 1 bytes, NUL-terminated). */
size_t ns_lostfound_name(const char *rel, size_t rel_len, int64_t now_ns, unsigned nth,
			 char buf[META_NAME_MAX + 1]);

/* Count of dirty inodes and pending deletes (the backlog). */
int ns_backlog(struct ns *ns, uint64_t *dirty, uint64_t *deletes);

/* ---- sync state of a subtree (wait-synced) ---- */
/* Is ino `under` itself or inside the directory `under`? One read transaction. */
int ns_is_under(struct ns *ns, uint64_t ino, uint64_t under, bool *inside);

/* What still separates the subtree at `under` (a directory or a file) from S3: dirty
 * inodes, inodes in conflict, and pending deletes of keys below it. A snapshot taken in
 * one read transaction (it walks the dirty and deletes tables, not the subtree). */
struct ns_pending {
	uint64_t dirty;		/* includes the conflicts */
	uint64_t conflicts;
	uint64_t deletes;
	uint64_t first_conflict;	/* ino of one conflicted inode (0: none) */
};
int ns_subtree_pending(struct ns *ns, uint64_t under, struct ns_pending *out);

/* Every regular file and symlink of the subtree at `under` (or `under` itself if it is
 * one), depth first, with its path relative to `under` ("" for `under` itself) and the
 * S3 state recorded for it. One short read transaction per directory, so entries added
 * or removed meanwhile may or may not be reported. fn returning non-zero stops the walk
 * and is returned. */
typedef int (*ns_file_fn)(void *arg, const char *relpath, size_t len, const struct meta_inode *in);
int ns_subtree_files(struct ns *ns, uint64_t under, ns_file_fn fn, void *arg);

/* ---- eviction (the FSAL's side is in ns.h) ---- */
/* The local data of ino is about to be dropped (called under the data file's exclusive
 * lock, see data_file_evict_if). In one write transaction: if ino is a regular file whose
 * content is in S3 (clean, bound to an object, not s3files' own) its data state becomes
 * "nothing local" and its present ranges are forgotten, and 0 is returned; EBUSY if it
 * must stay (dirty, in conflict, never uploaded, reserved). 0 too if ino no longer exists
 * (the file is an orphan and may go). *had_inode (may be NULL) says which. */
int ns_data_evicting(struct ns *ns, uint64_t ino, bool *had_inode);
/* The room the FSAL asked for last (ns_evict_request, ns.h); *when_ns 0: never asked. */
int ns_evict_requested(struct ns *ns, int64_t *when_ns, uint64_t *bytes);
/* Add what an eviction pass freed to the total ns_evict_freed (ns.h) reads. */
int ns_evict_freed_add(struct ns *ns, uint64_t bytes);

/* ---- read statistics (the FSAL adds them, ns.h) ---- */
/* The read statistics the FSAL added so far (ns_read_stats_add, ns.h), for /metrics.
 * All zero before the first add. */
int ns_read_stats_get(struct ns *ns, struct ns_read_stats *out);

/* ---- renamed files and directories (ns.h, "rename"), as import and fsck see them ---- */
/* The same as ns_data_source (ns.h) inside the caller's transaction (read-only), for checks
 * that must see the source in the same snapshot as other records (core/engine/fsck.c). */
int ns_data_source_txn(struct ns *ns, struct meta_txn *txn, uint64_t ino, char *key, size_t cap,
		       size_t *keylen, char etag[S3_ETAG_MAX]);

/* Is the key prefix (a directory's) at or below the old or new prefix of a directory
 * rename still being carried out in S3? (Its listing is partial: do not import it.) */
int ns_prefix_moving(struct ns *ns, struct meta_txn *txn, const char *prefix, size_t len,
		     bool *moving);

/* ---- directory renames in S3 (the daemon, sync/rename.c) ----
 * Jobs are carried out oldest first, one at a time: a later job may depend on an earlier
 * one (a directory renamed twice), never the other way round. */
int ns_dirjob_first(struct ns *ns, struct meta_dirjob *out);	/* ENOENT: no job */
int ns_dirjob_iter(struct ns *ns, meta_dirjob_fn fn, void *arg);	/* one read txn */

enum ns_move_action {
	NS_MOVE_SKIP = 0,	/* leave it: it goes anyway (pending delete), it is moved by a
				   file commit (renamed on its own), or it is where it belongs */
	NS_MOVE_COPY,		/* copy key -> dst, then delete key */
	NS_MOVE_TOO_LONG,	/* its new key would exceed 1,024 bytes: left in place */
};
struct ns_move_item {
	/* the caller: one listed object */
	const char *key;
	size_t key_len;
	const char *etag;
	uint64_t size;
	/* ns_dirjob_plan */
	enum ns_move_action action;
	uint64_t ino;			/* inode bound to key, 0: none */
	char dst[S3_KEY_MAX + 1];
	size_t dst_len;
	/* the caller, after copying: rc of the copy and the new object's ETag */
	int rc;
	char dst_etag[S3_ETAG_MAX];
	/* ns_dirjob_record */
	bool moved;			/* recorded as moved: key and dst now as planned */
	bool delete_src;		/* key has a pending delete: delete it now */
	bool conflict;			/* changed in S3 since imported, and on the file side */
};
/* Decide for each listed object of job's old prefix where it goes (one read txn). A
 * file the view knows goes to its current path key (following later renames of the
 * directories above it); anything else keeps its place relative to the prefix. */
int ns_dirjob_plan(struct ns *ns, uint64_t job, struct ns_move_item *items, size_t n);
/* Before the copies of planned items: each destination key of a COPY that no inode holds
 * and no pending delete names gets a pending delete of the object the copy will put there
 * (the source's ETag), in one transaction, synced. ns_dirjob_record drops it when it
 * records the copy; if the record never comes (the daemon killed between COPY and
 * record) and the job, planned again, does not copy that object any more (its file was
 * renamed or removed since), the copy is an orphan: the delete pass removes it, and no
 * listing shows it as a new file meanwhile (import skips a key whose pending delete names
 * its ETag). */
int ns_dirjob_guard(struct ns *ns, const struct ns_move_item *items, size_t n);

struct ns_dirjob_outcome {
	size_t done;		/* items[0..done) recorded; the job's marker is items[done-1] */
	uint64_t moved, skipped;
	bool finished;		/* last_page, all done and no old key left to delete: the job
				   is deleted (after a page with deletes, one more listing of
				   what follows the marker finds nothing and finishes it) */
};
/* Record the outcome of items[0..n) in one transaction: bindings follow the copies, old
 * keys get pending deletes (delete_src), the job's marker and counters advance. Stops at
 * the first item that must be tried again (copy failed on a transient error, or the view
 * changed under the copy); the marker stays before it. job_out gets the job as stored
 * (before its deletion when finished). */
int ns_dirjob_record(struct ns *ns, uint64_t job, struct ns_move_item *items, size_t n,
		     bool last_page, struct meta_dirjob *job_out, struct ns_dirjob_outcome *out);
/* The large-rename event of job was journaled. */
int ns_dirjob_warned(struct ns *ns, uint64_t job);
/* Directory renames still moving objects into, out of or within the subtree at `under`
 * (a directory or a file): until they are done, S3 does not hold the subtree as the view
 * shows it. One read transaction. */
int ns_dirjob_pending(struct ns *ns, uint64_t under, uint64_t *n);

/* ---- bookkeeping of imports (ns_state.c; core/engine/import.c) ---- */
/* Where the interrupted first listing of dir resumes (core/engine/import.c owns the value's
 * format, up to cap bytes): one read transaction. ENOENT if none; ERANGE if the stored
 * value is longer than cap. *len is 0 on error. */
int ns_import_cursor_get(struct ns *ns, uint64_t dir, void *buf, size_t cap, size_t *len);
/* Record (replace) dir's cursor, len bytes: one write transaction, not synced (a cursor
 * lost in a power cut only makes the listing start over). EINVAL for val NULL. */
int ns_import_cursor_put(struct ns *ns, uint64_t dir, const void *val, size_t len);
/* Drop dir's cursor (the listing completed); 0 if there was none. One write transaction. */
int ns_import_cursor_del(struct ns *ns, uint64_t dir);
/* Did a first listing (of any directory, by any process) put a page in within the last
 * within_ns (ns_import_cursor_put stamps META_INFO_LISTING_AT)? One read transaction. */
int ns_listing_recent(struct ns *ns, int64_t within_ns, bool *recent);
/* A one-time event (what: an info_keys.h name such as META_INFO_WARNED_DIR, id: its
 * subject, e.g. a directory's ino) is about to be journaled: mark it, in one write
 * transaction, not synced. 0 if this call marked it (journal it), EEXIST if it was marked
 * before (do not). */
int ns_once(struct ns *ns, const char *what, uint64_t id);
/* Keys a listing showed that the file view cannot represent (keymap.h, enum keymap_bad). */
struct ns_bad_key {
	const char *key;
	size_t len;
	enum keymap_bad why;
};
/* Record bad[0..n) in the badkeys table, in one write transaction (not synced); fresh[i]
 * (n entries, the caller's) says whether bad[i] is new (report it once) or was known.
 * Errors of the store; on error fresh[] is undefined. */
int ns_badkeys_add(struct ns *ns, const struct ns_bad_key *bad, size_t n, bool *fresh);
/* ---- the daemon's uploads (ns_uploads.c; sync/uploads.c, sync/commit.c) ---- */
/* Multipart uploads the daemon started and has not seen end (completed or aborted): each
 * is recorded before its first part is sent, so that one a crash cut short can be aborted
 * by the next pass. Passes run one at a time per export (the daemon's commit lock): a
 * record found when a pass begins belongs to no running upload. */
#define NS_UPLOADS_MAX 64	/* records kept at most */
struct ns_upload {
	char key[S3_KEY_MAX + 1];
	size_t key_len;
	char id[S3_UPLOAD_ID_MAX];	/* the upload id (NUL-terminated) */
	int64_t started_ns;		/* when it was recorded */
};
/* Record upload_id of key (started now): one write transaction, not synced (the pass that
 * aborts orphans runs in the same daemon or after its restart; the LMDB commit survives
 * a kill). ENOSPC with NS_UPLOADS_MAX records already (the upload must not start),
 * EINVAL for a key over S3_KEY_MAX or an id of S3_UPLOAD_ID_MAX bytes or more, ENOMEM. */
int ns_upload_add(struct ns *ns, const char *key, const char *upload_id);
/* Drop every record of upload_id (the upload completed or was aborted): one write
 * transaction, none when it was not recorded. EINVAL, ENOMEM as above. */
int ns_upload_drop(struct ns *ns, const char *upload_id);
/* Every record, copied out in the order recorded (free *out; NULL and *n = 0 when there is
 * none): one read transaction. A torn tail is ignored. */
int ns_upload_list(struct ns *ns, struct ns_upload **out, size_t *n);
/* S3 refused the upload of ino (412: the object changed since the file's base): mark it
 * CONFLICT for the conflict resolution that follows (ns_conflict_prepare, _resolve). Only
 * the sync state changes (not dirty_gen, change or the dirty table: the inode is dirty
 * already); nothing if it is in conflict already or gone (0). One write transaction, not
 * synced. Called by the daemon's commit pass (no lock of the file view held). */
int ns_conflict_mark(struct ns *ns, uint64_t ino);

/* ---- repairs (ns_repair.c; `s3filesctl fsck`, core/engine/fsck.c) ---- */
enum ns_repair_kind {
	NS_REPAIR_DIRTY_ADD = 1,	/* a dirty or conflicted inode missing from the dirty table */
	NS_REPAIR_DIRTY_DEL,		/* the dirty row of a clean or missing inode */
	NS_REPAIR_CHANGING,		/* META_F_CHANGING on a clean file or a non-file */
	NS_REPAIR_EXTENTS,		/* a regular file's data state and present ranges made
					   consistent (within size; FULL or NONE when they say so) */
	NS_REPAIR_NONFILE_DATA,		/* a directory's or symlink's data state (NONE) and ranges */
	NS_REPAIR_ROW_DEL,		/* the row of a missing inode in table `table` */
	NS_REPAIR_SYMLINK_DEL,		/* a symlink target of a non-symlink */
	NS_REPAIR_S3DIRS,		/* a directory's row in the s3dirs index, as its flags say */
	NS_REPAIR_NLINK,		/* the link count: val */
	NS_REPAIR_NEXT_COOKIE,		/* a directory's next cookie raised to val */
	NS_REPAIR_DIRENT_DEL,		/* entry name of parent that names the missing inode ino */
	NS_REPAIR_KEY_DEL,		/* the binding of stored key name (meta_key_stored form) to
					   the missing inode ino */
};
struct ns_repair {
	enum ns_repair_kind kind;
	uint64_t ino;
	enum meta_itable table;		/* NS_REPAIR_ROW_DEL */
	uint64_t val;			/* NS_REPAIR_NLINK, NS_REPAIR_NEXT_COOKIE */
	uint64_t parent;		/* NS_REPAIR_DIRENT_DEL */
	const char *name;		/* NS_REPAIR_DIRENT_DEL, NS_REPAIR_KEY_DEL */
	size_t name_len;
};
/* Repair one finding of fsck. In one write transaction the finding is checked again and,
 * if it still holds, repaired; then the store is synced (ns_sync) before the return.
 * *gone: the finding no longer held (nothing was changed, nothing synced). The repairs of
 * entries, link counts, cookies and bindings (NLINK, NEXT_COOKIE, DIRENT_DEL, KEY_DEL) are
 * for a stopped gateway only (ganesha caches them); the caller holds no lock of the file
 * view (the data-state repairs that need the data lock are fsck's own, through
 * ns_data_evicting). EINVAL for an unknown kind or table; errors of the store. */
int ns_repair(struct ns *ns, const struct ns_repair *r, bool *gone);


/* ---- scans of the daemon (ns_scan.c) ----
 * Each is one read transaction over one table; fn runs inside it (it must not call ns
 * and must copy out what it keeps: names and keys passed to it are valid during the call
 * only). fn returning non-zero stops the walk and is returned. */
/* The dirty queue, in inode order (dirty and conflicted inodes). */
int ns_dirty_iter(struct ns *ns, meta_ino_fn fn, void *arg);
/* The pending deletes, in key order. */
int ns_deletes_iter(struct ns *ns, meta_delete_fn fn, void *arg);
/* Is a delete of key pending (the file side removed the inode bound to it)? *found, and
 * etag (S3_ETAG_MAX bytes, unchanged when not found) the ETag it names ("": any). */
int ns_delete_pending(struct ns *ns, const char *key, size_t len, char etag[S3_ETAG_MAX],
		      bool *found);
/* The directories in the store's index of directories bound to S3 (meta.h, s3dirs), in
 * inode order, each with its record (an index row whose inode is gone is skipped). */
typedef int (*ns_inode_fn)(void *arg, const struct meta_inode *in);
int ns_s3dirs_iter(struct ns *ns, ns_inode_fn fn, void *arg);
/* The entries of directory dir in cookie order, each with its inode's record (an entry
 * whose inode is gone is skipped). */
typedef int (*ns_entry_fn)(void *arg, const struct meta_dirent *de, const struct meta_inode *in);
int ns_dir_entries(struct ns *ns, uint64_t dir, ns_entry_fn fn, void *arg);

#endif
