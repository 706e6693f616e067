/*
 * instlock.h — single-instance locks: one process of a kind per State_Dir.
 *
 * Two s3files-syncd on one State_Dir would both upload the same files (and the second
 * would take over the first's control socket); two ganesha processes serving one State_Dir
 * would each believe they own the data tier. Each kind of process therefore holds, for its
 * whole life, an exclusive lock on its own lock file in the directory:
 *   <State_Dir>/syncd.lock   the daemon (one per export's State_Dir)
 *   <State_Dir>/fsal.lock    the FSAL (one per export, inside ganesha)
 *   <Control_Socket>.lock    the daemon, before it replaces a control socket
 * The daemon and the FSAL of one gateway share a State_Dir by design: they take different
 * lock files.
 *
 * The lock is flock(LOCK_EX | LOCK_NB) on the lock file: the kernel drops it when the
 * holder exits, however it exits (kill -9 included), so a stale file never blocks a
 * restart. The file's content is only for the error message of the next process: one line
 *   pid=1234 host=gw1 start=2026-12-05T10:08:00Z prog=s3files-syncd
 * written after the lock is taken. The file is never unlinked (a process that unlinks a
 * lock file lets the next two lock two different inodes).
 *
 * flock means nothing between two hosts that mount one directory over a network file
 * system, so instlock_fs_check refuses such a directory (the caller may let a setting
 * override it).
 *
 * Ownership: the struct instlock belongs to the caller until instlock_release; the lock's
 * descriptor is O_CLOEXEC (a program the process execs does not inherit it, but a fork
 * child does, and keeps the lock alive while it lives). Not thread-safe per lock; distinct
 * locks are independent. Two acquisitions of one file conflict even inside one process
 * (each has its own open file description).
 */
#ifndef S3F_INSTLOCK_H
#define S3F_INSTLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct instlock;

/* What the lock file says about its holder (or last holder). */
struct instlock_holder {
	bool known;		/* the file held a parsable line */
	pid_t pid;
	char host[256];
	char start[32];		/* UTC, ISO 8601, as written */
	char prog[64];
};

/* Take the exclusive lock on dir/name (the file is created mode 0600 if missing, dir and
 * its parents mode 0700) and record this process in it (prog: a short program name, no
 * blanks).
 *   0          *out holds the lock until instlock_release
 *   EWOULDBLOCK another open file description holds it; *holder (may be NULL) gets what the
 *              file says about that holder (known == false if it has not written it yet)
 *   errno      the file could not be created or opened
 */
int instlock_acquire(const char *dir, const char *name, const char *prog, struct instlock **out,
		     struct instlock_holder *holder);
/* Drop the lock and free l (NULL is fine). The file stays. */
void instlock_release(struct instlock *l);

/* Is dir/name held by some process (this one included)? Never blocks, never creates.
 *   0 not held; EWOULDBLOCK held (*holder as above); ENOENT no such file; errno otherwise. */
int instlock_query(const char *dir, const char *name, struct instlock_holder *holder);

/* "pid 1234 on host gw1 (s3files-syncd, started 2026-12-05T10:08:00Z)", or "an unknown
 * process" when !h->known. Always NUL-terminated; returns buf. */
const char *instlock_holder_str(const struct instlock_holder *h, char *buf, size_t len);

/* The name of a network or user-space file system whose locks cannot be trusted across
 * hosts ("nfs", "cifs", "smb2", "fuse", "9p", "ceph", ...), or NULL for a local one.
 * f_type is statfs(2)'s. */
const char *instlock_fs_remote_name(long f_type);

/* statfs(path) (or, while it does not exist, of its nearest existing ancestor: where it
 * will be made): 0 for a local file system; EREMOTE when it is on one that
 * instlock_fs_remote_name names (*fsname, may be NULL, gets that name); errno if statfs
 * fails otherwise. */
int instlock_fs_check(const char *path, const char **fsname);

#endif
