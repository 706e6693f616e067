/*
 * ns.h — the namespace layer: POSIX semantics of the file view over the metadata store.
 *
 * ns.h declares what the file side calls: the FSAL, and the engine's fio, hydrate and
 * readahead on its behalf; ns_sync.h adds what only the sync daemon and the engine's
 * import and fsck call (import of S3 listings, commit bookkeeping, conflicts, subtree
 * state, eviction, directory renames in S3). Every function is one short LMDB
 * transaction; no function here moves file bytes or talks to S3 — callers do I/O before
 * or after and tell ns what happened. Thread-safe: all state is in the store.
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

/* ---- Commit_On_Close (the daemon's side of commits is in ns_sync.h) ---- */
/* Commit_On_Close: the file side is done with ino for now (its last writer closed it, or
 * a client flushed it to stable storage with no other writer open), so the daemon should
 * upload it at its next pass rather than Commit_Interval after its last change. Records
 * the current dirty_gen as the inode's due_gen (kept in the store: it survives restarts
 * until a commit covers it). Only a dirty regular file (not in conflict, not s3files'
 * own) is marked; *marked (may be NULL) says whether it is due now. ENOENT if gone. */
int ns_commit_request(struct ns *ns, uint64_t ino, bool *marked);

/* ---- eviction (the daemon's side is in ns_sync.h) ---- */
/* The FSAL asks the daemon for room (the data tier is over its quota): records the time
 * and how many bytes it wants to write. The daemon reads them with ns_evict_requested
 * (when 0: never asked). */
int ns_evict_request(struct ns *ns, int64_t now_ns, uint64_t bytes);
/* Bytes evicted from the data tier so far, over all passes and processes: the daemon adds
 * what each pass freed; the FSAL reads it to tell a tier that is making room from one
 * that is stuck with dirty data. */
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


/* ---- the store (ns_store.c) ---- */
/* The store for READING only: for the checkers and statistics that look at it as a whole
 * (core/engine/fsck.c, meta_stats_get, metrics) with meta_read and meta.h's walks, in
 * their own read transactions. Every write goes through a function of this header: no
 * caller outside core/ns may pass it to meta_write or to a meta_*_put/_del. The store
 * lives as long as ns. */
struct meta_env *ns_store(struct ns *ns);
/* Make every transaction committed so far to the store (by any process of it) durable,
 * the meta page included: after it returns 0, a power cut keeps all of them
 * (meta_sync = mdb_env_sync(force); doc/DURABILITY.md, "What is on disk when a reply
 * leaves"). It says nothing of data-tier files (their fdatasync is the caller's). Call it
 * after the transactions of an operation that is acknowledged as stable (an NFS reply to
 * a modifying operation, a stable WRITE, a COMMIT) and before the reply, and after
 * "nothing local" is recorded and before an evicted data file goes (rule E). Group
 * commit: concurrent callers share one sync. Errors: those of fdatasync (EIO, ...). */
int ns_sync(struct ns *ns);
/* The state directory's store belongs to one bucket and prefix (want: "s3://bucket/
 * prefix", want_len bytes). In one write transaction: records want if the store has no
 * binding yet, else compares. *mismatch: the store is bound to another; have (cap bytes,
 * NUL-terminated) gets the binding found (ERANGE from the store if it is longer than
 * cap - 1). Called by export_ctx_open on the store it opened, before the namespace over
 * it is opened (so it takes the store, not ns). EINVAL for cap 0. */
int ns_store_bind(struct meta_env *me, const char *want, size_t want_len, char *have,
		  size_t cap, bool *mismatch);

/* ---- the change feed (ns_state.c; the FSAL's upcall thread) ---- */
/* The change feed (meta.h: namespace changes made outside the FSAL) for the FSAL's upcall
 * thread. ns_changes_read calls fn for each entry with seq > after, in order, in one read
 * transaction, until fn returns non-zero (returned). ns_changes_last: the last seq (0 if
 * the feed is empty), one read transaction. ns_changes_trim: drop entries with seq <=
 * upto (applied), one write transaction, not synced (entries a power cut brings back
 * are skipped: a restarted FSAL, its cache empty, starts after ns_changes_last). */
int ns_changes_read(struct ns *ns, uint64_t after, meta_change_fn fn, void *arg);
int ns_changes_last(struct ns *ns, uint64_t *seq);
int ns_changes_trim(struct ns *ns, uint64_t upto);

#endif
