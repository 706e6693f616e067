/*
 * ns.h — the namespace layer: POSIX semantics of the file view over the metadata store.
 *
 * Used by the FSAL (file-side operations) and by the sync daemon (import of S3 listings,
 * commit bookkeeping). Every function is one short LMDB transaction; no function here
 * moves file bytes or talks to S3 — callers do I/O before or after and tell ns what
 * happened. Thread-safe: all state is in the store.
 *
 * Sync state rules (doc/SEMANTICS.md has the user-facing version):
 *  - A file-side change (create, write, truncate, chmod/chown/utimes, symlink) makes a
 *    regular file or symlink DIRTY and bumps dirty_gen; the daemon commits it later.
 *  - Removing an inode bound to an S3 object records a pending delete of its key.
 *  - A directory created on the file side gets a marker object "dir/" at commit (so an
 *    empty directory survives); directories are DIRTY until the marker is written.
 *  - Import applies S3's state to CLEAN inodes; for DIRTY ones it records a conflict
 *    (resolved by the daemon: S3 wins, the file-side version goes to lost+found).
 *  - A rename is immediate in the view; the objects follow (see "rename" below): a
 *    renamed file bound to an object becomes DIRTY with a moves record, a renamed
 *    directory leaves a dirjob. Keys are always derived from paths (ns_key); where an
 *    object still is while it moves is ns_data_source's business.
 */
#ifndef S3F_NS_H
#define S3F_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ns/keymap.h"
#include "store/meta.h"

struct journal;
struct ns;

struct ns_defaults {
	uint32_t file_mode;	/* mode of imported files without x-amz-meta-mode (0644) */
	uint32_t dir_mode;	/* mode of imported directories (0755) */
	uint32_t uid, gid;	/* owner of imported entries without metadata (0, 0) */
};

/* The store, mapping and journal are borrowed and must outlive ns. j may be NULL. */
int ns_open(struct meta_env *me, const struct keymap *km, struct journal *j,
	    const struct ns_defaults *defaults, struct ns **out);
void ns_close(struct ns *ns);
struct meta_env *ns_meta(struct ns *ns);

/* ---- reads ---- */
int ns_getattr(struct ns *ns, uint64_t ino, struct meta_inode *out);
/* ENOENT, ENOTDIR (dir is not a directory). "." and ".." are resolved here. */
int ns_lookup(struct ns *ns, uint64_t dir, const char *name, size_t len, struct meta_inode *out);
int ns_readlink(struct ns *ns, uint64_t ino, char *buf, size_t cap, size_t *len);

/* Up to max entries of dir after cookie, copied out (names stay valid until the next
 * call with the same buffer). *eof is true when the directory has no more entries. */
struct ns_dirent {
	uint64_t ino;
	uint64_t cookie;
	uint8_t type;
	uint8_t name_len;
	char name[META_NAME_MAX + 1];
};
int ns_readdir(struct ns *ns, uint64_t dir, uint64_t after, struct ns_dirent *out, size_t max,
	       size_t *n, bool *eof);

/* ---- file-side changes ---- */
struct ns_setattr;

struct ns_new {
	enum meta_type type;
	uint32_t mode;		/* permission bits */
	uint32_t uid, gid;
	const char *target;	/* symlink target (type META_T_LNK) */
	size_t target_len;
	uint64_t rdev;		/* device number (META_T_CHR, META_T_BLK) */
	/* Attributes the client asked for at creation (owner, times, size), set in the
	 * create's own transaction as ns_setattr would; NULL or an empty mask: none. */
	const struct ns_setattr *attrs;
};
/* Create name in dir. EEXIST (and *out = the existing inode) if the name exists;
 * ENOTDIR; EINVAL/ENAMETOOLONG for bad names; EPERM for reserved names at the root.
 * dir_out (may be NULL) gets the updated directory. */
int ns_create(struct ns *ns, uint64_t dir, const char *name, size_t len, const struct ns_new *nw,
	      struct meta_inode *out, struct meta_inode *dir_out);

/* Remove name from dir. want_dir selects rmdir semantics (ENOTDIR for a non-directory,
 * ENOTEMPTY for a non-empty one, EAGAIN if the directory's S3 listing has not been
 * imported yet — import it, then retry); otherwise EISDIR for a directory. *victim gets
 * the removed inode (its data file is the caller's to remove). */
int ns_remove(struct ns *ns, uint64_t dir, const char *name, size_t len, bool want_dir,
	      struct meta_inode *victim, struct meta_inode *dir_out);

#define NS_SET_MODE  0x01
#define NS_SET_UID   0x02
#define NS_SET_GID   0x04
#define NS_SET_SIZE  0x08
#define NS_SET_ATIME 0x10
#define NS_SET_MTIME 0x20
#define NS_SET_CTIME 0x40	/* only with an explicit value (rare: restore tools) */
/* Clear S_ISUID, and S_ISGID when S_IXGRP is set, of a regular file, in the same
 * transaction (after NS_SET_MODE, on the mode it leaves): a truncate or chown that must
 * drop the set-id bits does it without reading the mode first, so no chmod can slip in
 * between. Ignored for other types; bits actually cleared count as a mode change. */
#define NS_SET_KILL_SUID 0x80
struct ns_setattr {
	unsigned mask;
	uint32_t mode, uid, gid;
	uint64_t size;
	int64_t atime_ns, mtime_ns, ctime_ns;	/* explicit times (the caller resolves "now") */
};
int ns_setattr(struct ns *ns, uint64_t ino, const struct ns_setattr *sa, struct meta_inode *out);

/* The file side is about to change ino's bytes (a write or a resize; doc/DURABILITY.md,
 * rule W). Before any byte of the data file changes, the change is announced: dirty_gen
 * bumps and META_F_CHANGING is set (a CLEAN file becomes DIRTY), so that a crash can
 * never leave client bytes in a file that a commit then calls clean (they would be
 * neither uploaded nor fetched again). Once announced, later writes skip it until a
 * commit snapshot (ns_commit_prepare) clears the flag. *out gets the record as this
 * transaction left it: the caller decides what to write from it, not from a record read
 * before (an import may have taken a new S3 version of the clean file in between; once
 * the file is dirty, imports no longer change its data). Caller holds the data lock
 * (shared) and fio's per-inode lock; callers may skip the call for a file that is not
 * clean and has META_F_CHANGING (it would change nothing). */
int ns_write_begin(struct ns *ns, uint64_t ino, struct meta_inode *out);

/* Record a completed write of [off, off+len): size, mtime/ctime, change, DIRTY, and the
 * range as present when the file is partially local. clear_mode: the bits among S_ISUID
 * and S_ISGID to clear in the same transaction (a write by an unprivileged caller; the
 * FSAL decides which, as Linux does). Caller holds the data lock (shared). */
int ns_write_record(struct ns *ns, uint64_t ino, uint64_t off, uint64_t len, uint32_t clear_mode,
		    struct meta_inode *out);
/* Record `writes` completed writes of a file whose data is all local (META_D_FULL) at once,
 * as fio does for UNSTABLE writes it kept in memory (fio.h, Write_Record_Delay_Ms): size
 * at least off+len, mtime and ctime when_ns (the last write's time), change up by
 * `writes`, DIRTY and dirty_gen as ns_write_record. [off, off+len) spans the writes (it
 * is marked present only if the file is partially local, which fio never defers).
 * if_change (may be NULL): only onto a record whose change attribute is still that, else
 * ECANCELED and nothing changes (the recovery of a dead writer's entry: fio.c). Caller
 * holds the data lock (shared, or exclusive for a dead writer's entry). */
int ns_write_fold(struct ns *ns, uint64_t ino, uint64_t off, uint64_t len, uint64_t writes,
		  int64_t when_ns, const uint64_t *if_change, struct meta_inode *out);
/* ns_write_record with clear_mode 0. */
int ns_write_done(struct ns *ns, uint64_t ino, uint64_t off, uint64_t len, struct meta_inode *out);

/* Record that [off, off+len) of ino's data was fetched into the tier (the range is
 * present). Only while the file is still based on the object version etag (its ETag:
 * the base version, also for a dirty file); else S3F_E_S3_PRECOND (the caller's fetched
 * bytes are stale and must not be marked present). The caller holds the data lock
 * exclusively and wrote only ranges that were missing when it re-read the record under
 * that lock (hydrate.h), so no client byte is ever marked as fetched. */
int ns_data_fetched(struct ns *ns, uint64_t ino, const char *etag, uint64_t off, uint64_t len,
		    struct meta_inode *out);
/* Record the target of symlink ino fetched from its object (hydrate_symlink), if ino is
 * still a symlink based on etag without a recorded target; else S3F_E_S3_PRECOND. */
int ns_symlink_fetched(struct ns *ns, uint64_t ino, const char *etag, const char *target,
		       size_t len);
/* The present ranges of ino (all of [0,size) for META_D_FULL). */
int ns_data_present(struct ns *ns, uint64_t ino, struct rangeset *out, struct meta_inode *in);

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
				   file, or below a directory being moved in S3): skipped */
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
/* Commit_On_Close: the file side is done with ino for now (its last writer closed it, or
 * a client flushed it to stable storage with no other writer open), so the daemon should
 * upload it at its next pass rather than Commit_Interval after its last change. Records
 * the current dirty_gen as the inode's due_gen (kept in the store: it survives restarts
 * until a commit covers it). Only a dirty regular file (not in conflict, not s3files'
 * own) is marked; *marked (may be NULL) says whether it is due now. ENOENT if gone. */
int ns_commit_request(struct ns *ns, uint64_t ino, bool *marked);
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

/* ---- eviction ---- */
/* The local data of ino is about to be dropped (called under the data file's exclusive
 * lock, see data_file_evict_if). In one write transaction: if ino is a regular file whose
 * content is in S3 (clean, bound to an object, not s3files' own) its data state becomes
 * "nothing local" and its present ranges are forgotten, and 0 is returned; EBUSY if it
 * must stay (dirty, in conflict, never uploaded, reserved). 0 too if ino no longer exists
 * (the file is an orphan and may go). *had_inode (may be NULL) says which. */
int ns_data_evicting(struct ns *ns, uint64_t ino, bool *had_inode);
/* The FSAL asks the daemon for room (the data tier is over its quota): records the time
 * and how many bytes it wants to write. The daemon reads them with ns_evict_requested
 * (when 0: never asked). */
int ns_evict_request(struct ns *ns, int64_t now_ns, uint64_t bytes);
int ns_evict_requested(struct ns *ns, int64_t *when_ns, uint64_t *bytes);
/* Bytes evicted from the data tier so far, over all passes and processes: the daemon adds
 * what each pass freed; the FSAL reads it to tell a tier that is making room from one
 * that is stuck with dirty data. */
int ns_evict_freed_add(struct ns *ns, uint64_t bytes);
int ns_evict_freed(struct ns *ns, uint64_t *total);

/* ---- read statistics ----
 * Where the FSAL's reads were served from (counted by core/engine/readahead.c, added here by
 * the FSAL about once a second, shown by the daemon on /metrics). Cumulative over the
 * life of the store, across gateway restarts. */
struct ns_read_stats {
	uint64_t bypass_bytes;	/* copied from S3 straight into NFS replies (read bypass) */
	uint64_t tier_bytes;	/* read from the local data tier */
	uint64_t fetched_bytes;	/* fetched into memory by bypass streams (GET) */
	uint64_t streams;	/* bypass streams started */
	uint64_t aborted;	/* bypass streams ended because the object changed in S3 */
	uint64_t refused;	/* sequential readers sent the usual way: all windows taken */
};
int ns_read_stats_add(struct ns *ns, const struct ns_read_stats *delta);
/* All zero before the first add. */
int ns_read_stats_get(struct ns *ns, struct ns_read_stats *out);

/* ---- rename ----
 *
 * POSIX rename in one transaction. The entry leaves olddir (and its readdir cookie with
 * it) and gets a new cookie in newdir; the inode keeps its number, generation and data.
 * An existing target is replaced and removed exactly as by unlink/rmdir (a pending delete
 * of its object). S3 follows later, through the daemon:
 *  - a renamed file bound to an object gets a moves record (its object's key and ETag),
 *    stops being META_F_IN_S3 at its new path and becomes DIRTY; its commit copies the
 *    object to the new key (or uploads it, if the data changed too) and only then deletes
 *    the old one. The keys table binds the old key to it until then.
 *  - a renamed directory gets a dirjob: every object below the old key prefix is moved
 *    below the new one by the daemon (sync/rename.c), page by page, resumably. Nothing
 *    per child happens here. While the job runs, listings of directories at or below
 *    either prefix are not imported (import_dir: EAGAIN), and entries there in other
 *    listings are left alone (NS_IMP_MOVING).
 * Errors: ENOENT (no oldname), ESTALE (a directory is gone), ENOTDIR (a parent is not a
 * directory, or a directory onto a non-directory), EISDIR (a non-directory onto a
 * directory), ENOTEMPTY (onto a non-empty directory), EINVAL (".", "..", '/' or NUL in a
 * name, or a directory into its own subtree), ENAMETOOLONG (a name over 255 bytes or the
 * new key over 1,024), EACCES (the export root's lost+found: renaming it, or anything into,
 * out of or onto it), EAGAIN with need_import set (that directory's S3 listing is not
 * known yet: import it, then retry). Renaming a name onto itself succeeds doing nothing.
 */
struct ns_rename_result {
	struct meta_inode moved;	/* the renamed inode, after */
	struct meta_inode olddir, newdir;	/* after (the same inode when they are one) */
	bool replaced;			/* victim was replaced */
	struct meta_inode victim;	/* its data file is the caller's to remove */
	bool noop;			/* oldname and newname were the same entry */
	uint64_t job;			/* directory: id of its dirjob */
	uint64_t need_import;		/* with EAGAIN */
};
int ns_rename(struct ns *ns, uint64_t olddir, const char *oldname, size_t oldlen, uint64_t newdir,
	      const char *newname, size_t newlen, struct ns_rename_result *out);

/* Where the bytes of file ino that are not local come from: the key and ETag of the S3
 * object it is based on (for a renamed file, its old key until the daemon moved it; for a
 * file below a directory being moved, wherever the move has got to). ENODATA if it has no
 * object (never uploaded: bytes not written are a hole); EIO if its source is lost
 * (META_F_LOST). cap: size of key (S3_KEY_MAX + 1 is enough). */
int ns_data_source(struct ns *ns, uint64_t ino, char *key, size_t cap, size_t *keylen,
		   char etag[S3_ETAG_MAX]);
/* The same inside the caller's transaction (read-only), for checks that must see the source
 * in the same snapshot as other records (core/engine/fsck.c). */
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

#endif
