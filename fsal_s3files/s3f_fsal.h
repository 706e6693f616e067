/*
 * s3f_fsal.h — FSAL_S3FILES internals: the thin adapter from ganesha's FSAL API to
 * core/ (namespace, data tier, importer, hydration).
 *
 * Object handles carry only identity (ino + generation); attributes are read from the
 * metadata store on every getattrs (MDCACHE above caches them). The wire handle is 16
 * bytes and stays valid across ganesha restarts: it resolves as long as the inode
 * exists in the store.
 */
#ifndef S3F_FSAL_H
#define S3F_FSAL_H

#include "config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "fsal.h"
#include "fsal_api.h"
#include "fsal_types.h"
#include "FSAL/fsal_commonlib.h"
#include "fsal_convert.h"

#include "base/conf.h"
#include "engine/export_ctx.h"

#define S3F_FSAL_NAME "S3FILES"

/* Wire handle: magic, version, reserved, generation, inode (little-endian on the wire;
 * wire_to_host swaps when the client says big-endian). */
#define S3F_WIRE_MAGIC 0x53
#define S3F_WIRE_VERSION 1
struct s3f_wire {
	uint8_t magic;
	uint8_t version;
	uint16_t reserved;
	uint32_t gen;
	uint64_t ino;
} __attribute__((packed));

struct s3f_module {
	struct fsal_module fsal;
	struct fsal_obj_ops handle_ops;
	/* Loaded once from ganesha's config file (nfs_config_path) at first use;
	 * immutable afterwards. Protected by conf_lock while being loaded. */
	pthread_mutex_t conf_lock;
	struct conf *conf;
};

struct readahead;
struct s3f_deleg_ent;

#define S3F_DELEG_BUCKETS 1024

struct s3f_export {
	struct fsal_export export;
	struct export_ctx *x;
	const struct conf_export *cfg;
	struct readahead *ra;		/* read bypass (core/engine/readahead.h); ticked by up thread */
	struct instlock *lock;		/* <State_Dir>/fsal.lock, for the export's life (export.c) */
	fsal_fsid_t fsid;
	/* upcall thread: applies the store's change feed to MDCACHE */
	pthread_t up_thread;
	bool up_started;
	pthread_mutex_t up_lock;	/* protects up_stop; up_cond signals it */
	pthread_cond_t up_cond;
	bool up_stop;
	uint64_t up_seq;		/* last change applied (up thread only) */
	/* write admission under Data_Quota (quota.c); all fields under quota_lock */
	pthread_mutex_t quota_lock;
	int64_t quota_scan_ns;		/* monotonic time of the last data tier recount */
	uint64_t quota_used;		/* bytes the recount found */
	uint64_t quota_written;		/* bytes written since (an upper bound of growth) */
	int64_t quota_over_ns;		/* since when writes are held back (0: they are not) */
	uint64_t quota_over_freed;	/* ns_evict_freed when that began */
	int64_t quota_asked_ns;		/* last time the daemon was asked for room */
	/* read delegations (deleg.c): delegated and recently S3-changed inodes; all fields
	 * under deleg_lock (a leaf lock) */
	pthread_mutex_t deleg_lock;
	struct s3f_deleg_ent *deleg_tab[S3F_DELEG_BUCKETS];
	size_t deleg_entries;
	uint64_t deleg_granted_total;	/* grants lease_op2 accepted */
	uint64_t deleg_recalls_total;	/* S3-side changes of delegated inodes (recalls asked) */
};

struct s3f_handle {
	struct fsal_obj_handle obj_handle;
	struct s3f_wire wire;
	uint64_t ino;
	struct s3f_export *exp;
	/* regular files: share reservations and the global (stateless) fd */
	struct fsal_share share;
	struct fsal_fd fd;
};

/* What an NFSv4 open state (or NLM share, 9P fid) carries: ganesha's fd view, and the
 * share flags this state counts in the handle's share counters. They differ: an open for
 * writing may also read (the fd gets FSAL_O_READ added, as FSAL_VFS opens O_RDWR), but it
 * holds no read share, so the counters must be undone with the flags they were done with. */
struct s3f_state_fd {
	struct fsal_fd fd;		/* first: ganesha treats (state + 1) as a struct fsal_fd */
	fsal_openflags_t share;		/* counted in s3f_handle.share (FSAL_O_CLOSED: none) */
};

static inline struct s3f_state_fd *s3f_state_fd(struct state_t *state)
{
	return (struct s3f_state_fd *)(state + 1);
}

extern struct s3f_module S3F;

/* Reads record a use of the local data at most this often (eviction works in days). */
#define S3F_TOUCH_GRANULARITY_NS (3600LL * 1000000000LL)

/* quota.c: may a write of len bytes go ahead? 0; EAGAIN: hold it back (the client
 * retries: NFS4ERR_DELAY) while the daemon evicts or commits; EDQUOT once it has been held
 * back for Quota_Wait seconds. s3f_quota_wrote accounts what was written. */
int s3f_quota_admit(struct s3f_export *me, uint64_t len);
void s3f_quota_wrote(struct s3f_export *me, uint64_t len);

/* access.c: the POSIX permission rules ganesha 4.3 leaves to the FSAL (directory write
 * and search permission for removing and renaming, sticky directories, set-group-ID
 * directories, set-id bits dropped by chown and truncate), applied as Linux does to the
 * caller's credentials as ganesha squashed them (op_ctx->creds). Errors are errno values:
 * EACCES (permission), EPERM (sticky directory), or what the namespace answered.
 *
 * s3f_access_lock is held from a permission decision to the namespace change it allows
 * (unlink, rename, create), and by every change that could turn such a decision: a mode
 * or owner change (setattr). Lock order: s3f_access_lock, then fio's locks (fio.h); never
 * across an S3 request or a ganesha callback. It serializes this process only: the
 * daemon's imports (S3-side changes) are not held back by it. */
void s3f_access_lock(void);
void s3f_access_unlock(void);
/* The set-id bits a WRITE by the caller clears (Linux: S_ISUID unless privileged,
 * S_ISGID with group-execute or for a caller outside the file's group); 0 for a
 * privileged caller or a file without them. Passed to fio_write (clear_mode). */
uint32_t s3f_access_write_clears(const struct meta_inode *cur);
/* uid 0 after squashing (CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID). */
bool s3f_access_privileged(void);
/* The caller's primary or supplementary groups include gid. */
bool s3f_access_in_group(uint32_t gid);
/* May the caller add a name to dir (write and search)? 0 or EACCES. */
int s3f_access_may_create(const struct meta_inode *dir);
/* May the caller remove victim's name from dir? 0, EACCES, EPERM (sticky). */
int s3f_access_may_delete(const struct meta_inode *dir, const struct meta_inode *victim);
/* The checks of unlink/rmdir and of rename on the records as they are in the store now
 * (s3f_access_lock held by the caller until the namespace change is made). ENOENT when
 * a name is not there. */
int s3f_access_check_remove(struct ns *ns, uint64_t dir, const char *name, size_t len);
int s3f_access_check_rename(struct ns *ns, uint64_t olddir, const char *oldname, size_t oldlen,
			    uint64_t newdir, const char *newname, size_t newlen);
/* Group and mode of a new inode of type in dir (set-group-ID inheritance); gid and mode
 * come in as the caller's and the requested ones. */
void s3f_access_new_inode(const struct meta_inode *dir, enum meta_type type, uint32_t *gid,
			  uint32_t *mode);
/* Does a SETATTR of a regular file (or not) that changes its size and/or its owner or
 * group drop set-id bits? Then s3f_access_setattr_setid adds the dropping to sa, given
 * the inode as stored (read under s3f_access_lock): from the mode sa sets, else by
 * NS_SET_KILL_SUID, else (S_ISGID without S_IXGRP, the caller not in the file's group)
 * by an explicit NS_SET_MODE. */
bool s3f_access_setid_drops(bool regular, bool size, bool owner);
void s3f_access_setattr_setid(const struct meta_inode *cur, struct ns_setattr *sa);

/* deleg.c: NFSv4 read delegations against S3-side changes. s3f_deleg_grant: 0, or EAGAIN
 * when ino changed from S3 within the quiet time (no delegation then); s3f_deleg_return
 * undoes a grant; s3f_deleg_changed marks an S3-side change of ino (the up thread, after
 * invalidating it) and says whether delegations on it must be recalled; s3f_deleg_sweep
 * forgets what no longer matters (up thread). Each takes deleg_lock itself. */
void s3f_deleg_init(struct s3f_export *me);
void s3f_deleg_destroy(struct s3f_export *me);
int s3f_deleg_grant(struct s3f_export *me, uint64_t ino);
/* s3f_deleg_note_open: open2/reopen2 tell which claim this worker thread's OPEN is (a
 * reclaim: CLAIM_PREVIOUS, CLAIM_DELEGATE_CUR, CLAIM_DELEG_CUR_FH); lease_op2 of the same
 * OPEN refuses a grant for a reclaim (deleg.c says why). */
void s3f_deleg_note_open(fsal_openflags_t openflags);
void s3f_deleg_return(struct s3f_export *me, uint64_t ino);
bool s3f_deleg_changed(struct s3f_export *me, uint64_t ino);
void s3f_deleg_sweep(struct s3f_export *me);
fsal_status_t s3f_lease_op2(struct fsal_obj_handle *obj, struct state_t *state, void *owner,
			    fsal_deleg_t deleg);

/* status.c: the one place core return codes become fsal_status_t */
fsal_status_t s3f_status(int rc);

/* handle.c */
void s3f_handle_ops_init(struct fsal_obj_ops *ops);
struct s3f_handle *s3f_handle_alloc(struct s3f_export *exp, const struct meta_inode *in);
void s3f_attrs_fill(struct s3f_export *exp, const struct meta_inode *in, struct fsal_attrlist *a);
void s3f_wire_make(struct s3f_wire *w, uint64_t ino, uint32_t gen);

/* export.c */
fsal_status_t s3f_create_export(struct fsal_module *fsal_hdl, void *parse_node,
				struct config_error_type *err_type,
				const struct fsal_up_vector *up_ops);
int s3f_conf_get(const struct conf **out);

/* up.c */
int s3f_up_start(struct s3f_export *exp);
void s3f_up_stop(struct s3f_export *exp);

/* main.c: log sink into ganesha */
void s3f_log_install(void);

#endif
