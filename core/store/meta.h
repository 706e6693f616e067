/*
 * meta.h — the metadata store: the file view and its sync state in LMDB.
 *
 * One LMDB environment per export, opened by every process of the export (ganesha with
 * the FSAL, s3files-syncd, s3filesctl). LMDB makes that safe: one writer at a time across
 * processes, readers never block. Tables (named databases):
 *
 *   inodes    ino (u64)                 -> inode record (attributes + sync state)
 *   dirents   parent (u64 BE) + name    -> ino, readdir cookie, type
 *   cookies   parent (u64 BE) + cookie  -> ino, type, name      (readdir order)
 *   keys      S3 key                    -> ino bound to it      (S3 side of the binding)
 *   dirty     ino                       -> ()                   (file side changed)
 *   deletes   S3 key                    -> ETag, time           (file side removed it)
 *   extents   ino                       -> present byte ranges  (partially fetched data)
 *   symlinks  ino                       -> target
 *   changes   seq (u64)                 -> ino, kind            (feed for FSAL upcalls)
 *   badkeys   S3 key                    -> reason, time         (reported unrepresentable)
 *   info      name                      -> value                (schema, counters)
 *   moves     ino                       -> S3 key, ETag         (renamed file: where its object
 *                                                                still is until the daemon moves it)
 *   dirjobs   job id (u64)              -> old and new key prefix, progress (directory renames
 *                                                                being carried out in S3)
 *   s3dirs    ino                       -> ()                   (directories bound to S3: the
 *                                                                index the daemon polls; kept
 *                                                                by meta_inode_put/_del)
 *   prefetch  ino                       -> ()                   (small files whose data the
 *                                                                daemon fetches in the
 *                                                                background)
 *   intents   S3 key                    -> upload intent        (an upload or copy of the
 *                                                                daemon's whose outcome is not
 *                                                                recorded yet: ns_sync.h, "upload
 *                                                                intents")
 *
 * Readdir cookies: each directory hands out increasing cookies (from 3; 0-2 are NFS's);
 * an entry keeps its cookie for life, a new or renamed-in entry gets a new, larger one.
 * So a cookie stays valid across restarts and concurrent inserts/deletes: iteration
 * resumes after it, and a deleted entry's cookie still orders correctly.
 *
 * Transactions: short, never held across network I/O, a ganesha callback, or a sleep.
 * A write transaction must be committed/aborted on the thread that began it. Prefer
 * meta_write(), which retries after growing the map when LMDB reports it full (the map
 * grows, it never crashes) and after another process grew it.
 *
 * Errors: 0, ENOENT (not found), EEXIST, ENOMEM, LMDB codes (MDB_*), S3F_E_META_*.
 */
#ifndef S3F_META_H
#define S3F_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/rangeset.h"
#include "s3/s3.h"

#define META_ROOT_INO 1ULL
#define META_COOKIE_FIRST 3ULL
#define META_NAME_MAX 255

struct meta_env;
struct meta_txn;

/* FIFO, SOCK, CHR, BLK: special files (mknod). No bytes (size 0, data FULL, no data file);
 * CHR and BLK carry a device number (rdev). In S3 an empty object whose x-amz-meta-mode has
 * the type, plus x-amz-meta-rdev for devices: the format s3fs writes and reads. */
enum meta_type {
	META_T_REG = 1, META_T_DIR = 2, META_T_LNK = 3,
	META_T_FIFO = 4, META_T_SOCK = 5, META_T_CHR = 6, META_T_BLK = 7,
};
#define META_T_MAX META_T_BLK
/* Is type a special file (no bytes, no data file)? */
#define META_T_SPECIAL(t) ((t) >= META_T_FIFO && (t) <= META_T_BLK)

/* File-side vs S3 state of an inode. */
enum meta_sync {
	META_S_CLEAN = 0,	/* matches S3 (or is a directory with nothing to commit) */
	META_S_DIRTY = 1,	/* changed on the file side since dirty_since_ns */
	META_S_CONFLICT = 2,	/* both sides changed; resolution pending (S3 wins) */
};

/* How much of the file's data is in the local tier. */
enum meta_data {
	META_D_NONE = 0,	/* nothing local: reads fetch from S3 */
	META_D_PARTIAL = 1,	/* the ranges in `extents` are local */
	META_D_FULL = 2,	/* all of [0, size) is local */
};

/* Inode flags. */
#define META_F_IMPORTED  0x0001	/* dir: its S3 listing is in dirents */
#define META_F_IN_S3     0x0002	/* bound to an S3 object (file) or key prefix (dir) */
#define META_F_MARKER    0x0004	/* dir: an explicit marker object "dir/" exists in S3 */
#define META_F_RESERVED  0x0008	/* s3files' own (lost+found): never committed */
#define META_F_ATTRS     0x0020	/* file: mode, owner, mtime (and symlink type) are those of
				   its object's metadata, or ours uploaded (a listing carries
				   none: until then imported files show the defaults) */
#define META_F_CHANGING  0x0040	/* file: the file side announced a change of its bytes
				   (ns_write_begin bumped dirty_gen) that no commit has
				   snapshotted yet; ns_commit_prepare clears it */
#define META_F_MTIME_S3  0x0080	/* dir: imported from a listing's common prefix, its times
				   a placeholder (no LastModified there): the first import of
				   its own listing sets them to the newest object's; any change
				   made through the mount clears it */
#define META_F_LOST      0x0010	/* file: bytes not local whose S3 source is gone (the old
				   object of a renamed file was changed by another S3 client
				   before it was moved): reading them fails with EIO */

struct meta_inode {
	uint64_t ino;
	uint64_t parent;		/* containing directory (root: itself) */
	uint32_t gen;			/* generation: a reused ino never matches an old handle */
	uint8_t type;			/* enum meta_type */
	uint8_t sync;			/* enum meta_sync */
	uint8_t data;			/* enum meta_data */
	uint32_t flags;			/* META_F_* */
	uint32_t mode;			/* permission bits (07777) */
	uint32_t uid, gid;
	uint32_t nlink;
	uint64_t size;
	int64_t atime_ns, mtime_ns, ctime_ns;
	uint64_t change;		/* NFSv4 change attribute; bumps on every change */
	uint64_t next_cookie;		/* dir: next readdir cookie to hand out */
	int64_t dirty_since_ns;		/* last file-side change not yet in S3 (0 if none) */
	uint64_t dirty_gen;		/* bumps with each file-side change (commit race check) */
	uint64_t rdev;			/* CHR, BLK: the device number (Linux dev_t: makedev) */
	uint64_t due_gen;		/* Commit_On_Close: the file side asked for the state as of
					   this dirty_gen to be uploaded now, not after the commit
					   interval (0: not asked; never set on a clean inode) */
	/* S3 side, as last seen (import) or committed (sync) */
	uint64_t s3_size;
	int64_t s3_mtime;		/* Last-Modified, Unix seconds */
	int64_t synced_ns;		/* when the S3 state above was last confirmed */
	char etag[S3_ETAG_MAX];
	char version_id[S3_VERSION_ID_MAX];
	uint16_t name_len;
	char name[META_NAME_MAX + 1];	/* name in parent, NUL-terminated */
};

struct meta_opts {
	uint64_t map_size;		/* initial map size (default 1 GiB); grows by doubling */
	uint64_t map_size_max;		/* never grow beyond (default 1 TiB) */
	unsigned max_readers;		/* default 512 */
	bool nosync;			/* skip fsync on commit (tests, benchmarks only) */
	int64_t sync_ride_ns;		/* meta_sync's longest wait for a running group
					   commit (default 3 ms; tests set it longer) */
};

/* Open (creating dir and tables on first use). A new store gets the root directory
 * (META_ROOT_INO, mode 0755, uid/gid 0). S3F_E_META_VERSION if the schema differs. */
int meta_env_open(const char *dir, const struct meta_opts *opts, struct meta_env **out);
void meta_env_close(struct meta_env *env);

int meta_txn_begin(struct meta_env *env, bool write, struct meta_txn **out);
int meta_txn_commit(struct meta_txn *txn);	/* frees txn, also on error */
void meta_txn_abort(struct meta_txn *txn);	/* frees txn; NULL is fine */

/* Run fn in a write transaction and commit when it returns 0 (abort otherwise; its rc is
 * returned). Retried from the start after the map grew: fn must be idempotent up to
 * its writes through txn (no side effects outside the transaction).
 * Group commit: concurrent callers of one process share one commit (one fsync). fn may
 * run on another caller's thread, inside a nested transaction of that group's: it must
 * not depend on the calling thread (thread-locals, locks it expects to hold), and it
 * must never call meta_write itself. Each caller returns after the commit that holds its
 * writes, with the same durability as a transaction of its own; a failing fn takes back
 * only its own writes. */
typedef int (*meta_txn_fn)(struct meta_txn *txn, void *arg);
int meta_write(struct meta_env *env, meta_txn_fn fn, void *arg);
/* Same for a read-only transaction (always aborted at the end). */
int meta_read(struct meta_env *env, meta_txn_fn fn, void *arg);

/* Make every transaction committed so far (by any process of the store) durable: the
 * meta page included, which MDB_NOMETASYNC leaves to the next commit. Callers that
 * acknowledge an operation as stable (an NFS reply to a modifying operation, a stable
 * WRITE, a COMMIT) call it after their transaction and before the reply. It returns
 * without a sync of its own when that is so already: a sync of ours began after those
 * commits, or any process has committed a later transaction since (a commit fdatasyncs
 * the file before it writes its meta page, so the meta pages before it are on disk by
 * then). While a group commit of this process (meta_write) is running, it waits for
 * that, at most opts.sync_ride_ns, and syncs only if the group committed nothing.
 * Otherwise group sync: threads that ask while a sync runs share the next one, so N
 * concurrent callers cost about two fdatasyncs, not N. A no-op for a store opened with
 * nosync. Thread-safe; never called from inside a meta_write fn. */
int meta_sync(struct meta_env *env);
/* Syncs done by this process (for tests and metrics). */
uint64_t meta_sync_count(struct meta_env *env);
/* meta_sync calls that a later commit made durable while they waited (no sync of their
 * own; for tests and metrics). */
uint64_t meta_sync_ride_count(struct meta_env *env);
/* meta_write's group commit in this process: commits (groups) and callers served by them
 * (jobs); jobs / groups is the mean group size (for tests and benchmarks). */
void meta_write_counts(struct meta_env *env, uint64_t *groups, uint64_t *jobs);

/* ---- inodes ---- */
int meta_inode_get(struct meta_txn *txn, uint64_t ino, struct meta_inode *out);
int meta_inode_put(struct meta_txn *txn, const struct meta_inode *ino);
int meta_inode_del(struct meta_txn *txn, uint64_t ino);
/* Inodes with ino > after, in ino order; fn returning non-zero stops the walk. */
typedef int (*meta_inode_fn)(void *arg, const struct meta_inode *in);
int meta_inode_iter(struct meta_txn *txn, uint64_t after, meta_inode_fn fn, void *arg);
/* A fresh inode number and generation (never reused within a store). */
int meta_ino_alloc(struct meta_txn *txn, uint64_t *ino, uint32_t *gen);
/* Fill defaults for a new inode (times = now, nlink, change = 1, next_cookie). */
void meta_inode_init(struct meta_inode *in, uint64_t ino, uint32_t gen, uint64_t parent,
		     enum meta_type type, uint32_t mode, uint32_t uid, uint32_t gid, int64_t now_ns);
int meta_inode_set_name(struct meta_inode *in, const char *name, size_t len);

/* ---- directory entries ---- */
struct meta_dirent {
	uint64_t ino;
	uint64_t cookie;
	uint8_t type;
	size_t name_len;
	const char *name;	/* valid until the next call on txn */
};

int meta_dirent_get(struct meta_txn *txn, uint64_t parent, const char *name, size_t len,
		    struct meta_dirent *out);
/* Add an entry to directory *parent with a new cookie; parent->next_cookie advances and
 * *parent is written back to the store (callers pass their current copy and may keep
 * using it). EEXIST if the name exists. */
int meta_dirent_add(struct meta_txn *txn, struct meta_inode *parent, const char *name,
		    size_t len, uint64_t ino, uint8_t type, uint64_t *cookie);
int meta_dirent_del(struct meta_txn *txn, uint64_t parent, const char *name, size_t len);
/* The entry's type (in both the entry and its cookie row), when an import learns that a
 * file is a symlink or a special file. ENOENT if there is no such entry. */
int meta_dirent_set_type(struct meta_txn *txn, uint64_t parent, const char *name, size_t len,
			 uint8_t type);

/* Entries of dir with cookie > after, in cookie order; fn returning non-zero stops
 * the walk and is returned. */
typedef int (*meta_dirent_fn)(void *arg, const struct meta_dirent *de);
int meta_dir_iter(struct meta_txn *txn, uint64_t dir, uint64_t after, meta_dirent_fn fn,
		  void *arg);
int meta_dir_empty(struct meta_txn *txn, uint64_t dir, bool *empty);

/* ---- S3 key bindings ---- */
int meta_key_get(struct meta_txn *txn, const char *key, size_t len, uint64_t *ino);
int meta_key_put(struct meta_txn *txn, const char *key, size_t len, uint64_t ino);
int meta_key_del(struct meta_txn *txn, const char *key, size_t len);
/* The inodes bound to keys that start with prefix: fn(arg, ino) for each (a key longer
 * than 480 bytes is stored hashed after its first 448: beyond those, its rows are passed
 * on as candidates). fn returns 0 to go on, 1 to stop (the call then returns 0), anything
 * else to stop with that error. */
typedef int (*meta_key_under_fn)(void *arg, uint64_t ino);
int meta_key_under(struct meta_txn *txn, const char *prefix, size_t len, meta_key_under_fn fn,
		   void *arg);

/* ---- dirty queue ---- */
int meta_dirty_add(struct meta_txn *txn, uint64_t ino);
int meta_dirty_del(struct meta_txn *txn, uint64_t ino);
typedef int (*meta_ino_fn)(void *arg, uint64_t ino);
int meta_dirty_iter(struct meta_txn *txn, meta_ino_fn fn, void *arg);
/* Directories bound to S3 (META_F_IN_S3), in inode order, from the s3dirs index;
 * fn returning non-zero stops the walk and is returned. */
int meta_s3dir_iter(struct meta_txn *txn, meta_ino_fn fn, void *arg);
int meta_dirty_count(struct meta_txn *txn, uint64_t *n);

/* ---- prefetch queue: small files listed without their data, to fetch in the background
 * (the daemon, import_prefetch) ---- */
int meta_prefetch_add(struct meta_txn *txn, uint64_t ino);
int meta_prefetch_del(struct meta_txn *txn, uint64_t ino);	/* 0 if it was not queued */
int meta_prefetch_iter(struct meta_txn *txn, meta_ino_fn fn, void *arg);

/* ---- pending deletes of S3 keys ---- */
struct meta_delete {
	const char *key;	/* valid until the next call on txn */
	size_t key_len;
	char etag[S3_ETAG_MAX];	/* ETag the object had when the file side removed it */
	int64_t when_ns;
	uint64_t ino;		/* the removed inode (for conflict reporting) */
};
int meta_delete_add(struct meta_txn *txn, const char *key, size_t len, const char *etag,
		    int64_t when_ns, uint64_t ino);
int meta_delete_get(struct meta_txn *txn, const char *key, size_t len, struct meta_delete *out);
int meta_delete_del(struct meta_txn *txn, const char *key, size_t len);
typedef int (*meta_delete_fn)(void *arg, const struct meta_delete *d);
int meta_delete_iter(struct meta_txn *txn, meta_delete_fn fn, void *arg);
/* *any: some pending delete's key starts with prefix. */
int meta_delete_any_under(struct meta_txn *txn, const char *prefix, size_t len, bool *any);

/* ---- present ranges of partially local files ---- */
int meta_extents_get(struct meta_txn *txn, uint64_t ino, struct rangeset *out); /* empty if none */
int meta_extents_put(struct meta_txn *txn, uint64_t ino, const struct rangeset *rs); /* empty = del */

/* ---- symlink targets ---- */
int meta_symlink_get(struct meta_txn *txn, uint64_t ino, char *buf, size_t cap, size_t *len);
int meta_symlink_put(struct meta_txn *txn, uint64_t ino, const char *target, size_t len);
int meta_symlink_del(struct meta_txn *txn, uint64_t ino);

/* ---- change feed (namespace changes made outside the FSAL, for cache invalidation) ----
 * META_CH_S3 and META_CH_GONE are the kinds after which a client may no longer keep what
 * it cached of ino (the FSAL recalls NFSv4 delegations on them); META_CH_ATTR is a change
 * no client could have seen differently (sync state, metadata the same version already
 * showed, a rename the FSAL itself made). */
enum meta_change_kind {
	META_CH_ATTR = 1,	/* attributes of ino changed (not its content, as a client saw it) */
	META_CH_DIR = 2,	/* entries of directory ino changed */
	META_CH_GONE = 3,	/* ino was removed */
	META_CH_S3 = 4,		/* content or attributes of ino replaced from S3 (a new version,
				   its metadata differing from what was shown), or ino moved to
				   lost+found because S3's version took its name (a conflict) */
};
int meta_change_add(struct meta_txn *txn, uint64_t ino, enum meta_change_kind kind);
typedef int (*meta_change_fn)(void *arg, uint64_t seq, uint64_t ino, enum meta_change_kind kind);
int meta_change_iter(struct meta_txn *txn, uint64_t after_seq, meta_change_fn fn, void *arg);
int meta_change_last(struct meta_txn *txn, uint64_t *seq);	/* 0 if empty */
/* Delete feed entries with seq <= upto. */
int meta_change_trim(struct meta_txn *txn, uint64_t upto);

/* ---- keys already reported as unrepresentable (each is reported once) ---- */
/* 0 if newly recorded, EEXIST if it was known. */
int meta_badkey_add(struct meta_txn *txn, const char *key, size_t len, uint8_t reason);
int meta_badkey_del(struct meta_txn *txn, const char *key, size_t len);

/* ---- renamed files whose object has not been moved in S3 yet ---- */
struct meta_move {
	uint64_t dirty_gen;		/* the inode's dirty_gen when the move was recorded */
	bool clean;			/* the file matched the object then: while dirty_gen stays
					   the same, a server-side copy reproduces it */
	char etag[S3_ETAG_MAX];		/* of the object at key */
	size_t key_len;
	char key[S3_KEY_MAX + 1];	/* where the object is (NUL-terminated) */
};
int meta_move_get(struct meta_txn *txn, uint64_t ino, struct meta_move *out);	/* ENOENT */
int meta_move_put(struct meta_txn *txn, uint64_t ino, const struct meta_move *m);
int meta_move_del(struct meta_txn *txn, uint64_t ino);	/* 0 if there was none */

/* ---- directory renames being carried out in S3 (one job per renamed directory) ---- */
struct meta_dirjob {
	uint64_t id;			/* assigned by meta_dirjob_add; increases with each job */
	uint64_t ino;			/* the renamed directory */
	int64_t created_ns;
	uint64_t listed;		/* objects listed under old_prefix so far */
	uint64_t moved;			/* objects copied to their new key */
	uint64_t skipped;		/* objects left in place (going away, or moved otherwise) */
	bool warned;			/* the "large rename" event was journaled */
	size_t old_len, new_len, marker_len;
	char old_prefix[S3_KEY_MAX + 1];	/* key prefix before the rename, ends in '/' */
	char new_prefix[S3_KEY_MAX + 1];	/* after */
	char marker[S3_KEY_MAX + 1];	/* last old key done ("" none): the listing resumes after it */
};
/* Store a new job; sets j->id. ENAMETOOLONG for strings over S3_KEY_MAX. */
int meta_dirjob_add(struct meta_txn *txn, struct meta_dirjob *j);
int meta_dirjob_put(struct meta_txn *txn, const struct meta_dirjob *j);	/* update by id */
int meta_dirjob_get(struct meta_txn *txn, uint64_t id, struct meta_dirjob *out);	/* ENOENT */
int meta_dirjob_del(struct meta_txn *txn, uint64_t id);	/* ENOENT */
/* Jobs in id (creation) order; the job passed to fn is valid during the call only. fn
 * returning non-zero stops the walk and is returned. */
typedef int (*meta_dirjob_fn)(void *arg, const struct meta_dirjob *j);
int meta_dirjob_iter(struct meta_txn *txn, meta_dirjob_fn fn, void *arg);

/* ---- upload intents: what an upload of the daemon is about to leave at an S3 key ----
 * Written before the request that makes the object exist, deleted with the record of its
 * outcome; one left behind is an upload whose outcome a crash (or a failed request) kept
 * from being recorded (ns_sync.h says what is done with it). One per key. */
enum meta_intent_kind {
	META_INTENT_PUT = 1,	/* a PUT (single or multipart) of file-side bytes */
	META_INTENT_COPY = 2,	/* a CopyObject of a renamed file's object (metadata REPLACE) */
};
#define META_INTENT_MOVED    0x01	/* a renamed file's commit: src_key is its old object */
#define META_INTENT_KEEP_SRC 0x02	/* ... which stays where it is (changed in S3 meanwhile) */
#define META_TOKEN_MAX 48		/* upload token, NUL included */
struct meta_intent {
	uint8_t kind;			/* enum meta_intent_kind */
	uint8_t flags;			/* META_INTENT_* */
	uint64_t ino;			/* the inode committed, and its generation */
	uint32_t gen;
	uint64_t dirty_gen;		/* its dirty_gen at the commit snapshot */
	uint64_t size;			/* bytes the object will have */
	int64_t when_ns;		/* recorded at */
	char token[META_TOKEN_MAX];	/* carried by the object as user metadata (unique) */
	char etag[S3_ETAG_MAX];		/* the ETag it will have ("": not known) */
	char src_etag[S3_ETAG_MAX];	/* MOVED: the old object's ETag */
	size_t src_len;
	char src_key[S3_KEY_MAX + 1];	/* MOVED: the old object's key (NUL-terminated) */
	size_t key_len;
	char key[S3_KEY_MAX + 1];	/* where the object goes (NUL-terminated) */
};
/* ENAMETOOLONG for keys over S3_KEY_MAX, EINVAL for an empty key or token. */
int meta_intent_put(struct meta_txn *txn, const struct meta_intent *in);
int meta_intent_get(struct meta_txn *txn, const char *key, size_t len,
		    struct meta_intent *out);	/* ENOENT */
int meta_intent_del(struct meta_txn *txn, const char *key, size_t len);	/* 0 if none */
/* In key order; the record passed to fn is valid during the call only. fn returning
 * non-zero stops the walk and is returned. */
typedef int (*meta_intent_fn)(void *arg, const struct meta_intent *in);
int meta_intent_iter(struct meta_txn *txn, meta_intent_fn fn, void *arg);
/* *any: some intent's key starts with prefix. */
int meta_intent_any_under(struct meta_txn *txn, const char *prefix, size_t len, bool *any);

/* ---- small named values ---- */
int meta_info_get(struct meta_txn *txn, const char *name, void *buf, size_t cap, size_t *len);
int meta_info_put(struct meta_txn *txn, const char *name, const void *val, size_t len);
int meta_info_del(struct meta_txn *txn, const char *name);	/* 0 if it was not there */

/* ---- statistics ---- */
struct meta_stats {
	uint64_t map_size;		/* current map size */
	uint64_t used_bytes;		/* pages in use * page size */
	uint64_t entries[16];		/* per table, in the order of the list above */
	uint64_t inodes;
};
int meta_stats_get(struct meta_env *env, struct meta_stats *st);

/* Monotonic-enough wall clock in ns (CLOCK_REALTIME) for times stored here. Tests may
 * set a fixed clock with meta_clock_set (0 restores the real clock). */
int64_t meta_now_ns(void);
void meta_clock_set(int64_t fixed_ns);

/* ---- whole-table walks, for consistency checks (core/engine/fsck.c) ----
 * Read-only, in the caller's transaction (read or write). Each walk starts at a position
 * so that a checker can go through a large table in several short transactions: it
 * stops when fn returns non-zero (which is returned) and resumes from the last row seen.
 * Rows whose value cannot be decoded end the walk with S3F_E_META_CORRUPT. */

/* Tables keyed by an inode number. */
enum meta_itable {
	META_IT_INODES = 1, META_IT_DIRTY, META_IT_EXTENTS, META_IT_SYMLINKS, META_IT_MOVES,
	META_IT_S3DIRS, META_IT_PREFETCH,
};
/* The inode numbers with a row in table `which`, those > after, in increasing order
 * (rows are not decoded: an undecodable inode record is still listed). EINVAL for an
 * unknown table. */
int meta_itable_walk(struct meta_txn *txn, enum meta_itable which, uint64_t after,
		     meta_ino_fn fn, void *arg);
/* Has table `which` a row for ino? */
int meta_itable_has(struct meta_txn *txn, enum meta_itable which, uint64_t ino, bool *has);

/* Rows of the dirents table (parent, name -> ino, cookie, type) in (parent, name) order,
 * from the first row >= (parent, name) (name NULL: the first row of parent). */
typedef int (*meta_dirent_row_fn)(void *arg, uint64_t parent, const struct meta_dirent *de);
int meta_dirent_walk(struct meta_txn *txn, uint64_t parent, const char *name, size_t len,
		     meta_dirent_row_fn fn, void *arg);
/* Rows of the cookies table (parent, cookie -> ino, type, name) in (parent, cookie)
 * order, from the first row >= (parent, cookie). */
int meta_cookie_walk(struct meta_txn *txn, uint64_t parent, uint64_t cookie,
		     meta_dirent_row_fn fn, void *arg);

/* Rows of the keys table as stored (an S3 key longer than 480 bytes is stored as its first
 * 448 bytes and a hash: meta_key_stored), from the first row > after (after NULL: from the
 * start). */
#define META_KEY_STORED_MAX 481
struct meta_key_row {
	const uint8_t *stored;	/* valid during the call only */
	size_t stored_len;
	uint64_t ino;
};
typedef int (*meta_key_row_fn)(void *arg, const struct meta_key_row *r);
int meta_key_walk(struct meta_txn *txn, const void *after, size_t after_len, meta_key_row_fn fn,
		  void *arg);
/* The stored form of S3 key `key` (into out, META_KEY_STORED_MAX bytes); its length. */
size_t meta_key_stored(const char *key, size_t len, uint8_t *out);

#endif
