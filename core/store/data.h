/*
 * data.h — the local data tier ("stage"): one sparse local file per inode.
 *
 * The tier knows inode numbers, never paths or keys. Files live under
 * <dir>/<xx>/<ino as 16 hex digits> (xx = low byte of ino, 256-way fan-out) and are
 * sparse: a partially fetched large file holds what was fetched, at the right offsets.
 * Which ranges are present is recorded by the caller in the metadata store (meta.h,
 * meta_extents_*) in the same transaction that changes the inode, so data state and
 * sync state never disagree across processes.
 *
 * Durability: data_file_durable makes a file's written bytes and its name stable
 * (fdatasync of the file, fsync of its fan-out directory); callers call it before
 * acknowledging a stable write or COMMIT, and before recording a range as present.
 *
 * Concurrency: the data lock of a file is an advisory flock on the backing file, so it
 * works across processes (ganesha's FSAL and the daemon) and between open file
 * descriptions inside one. doc/DURABILITY.md is the protocol; in short: client I/O
 * (read, write, resize) holds it shared for the whole operation including its metadata
 * update; anything that writes bytes it did not get from a client (a fetch from S3), that
 * removes the file (eviction) or that marks the file clean holds it exclusive and
 * re-reads the record under it. data.c only provides the lock; the protocol is its
 * callers' (fio.c, hydrate.c, import.c, sync/).
 *
 * Space: data_tier_usage reports allocated bytes (st_blocks) of all files, kept as a
 * running counter adjusted by callers' reported growth and recomputed by data_tier_scan.
 */
#ifndef S3F_DATA_H
#define S3F_DATA_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct data_tier;

struct data_opts {
	uint64_t quota_bytes;		/* 0 = unlimited */
};

/* Open the tier at dir (created, one level, mode 0700, if missing; opts may be NULL) and
 * scan it for the usage counter. The tier is thread-safe; close it after every fd. */
int data_tier_open(const char *dir, const struct data_opts *opts, struct data_tier **out);
void data_tier_close(struct data_tier *t);

#define DATA_CREATE 0x1			/* create the backing file if missing */

/* Open the backing file of ino read-write, O_CLOEXEC. ENOENT if missing and !DATA_CREATE
 * (created with mode 0600, its fan-out directory on first use). Takes no lock.
 * The caller owns *fd and closes it with data_file_close. */
int data_file_open(struct data_tier *t, uint64_t ino, int flags, int *fd);
void data_file_close(struct data_tier *t, int fd);

/* data_file_open + data_file_lock, retried when an eviction removed the file between
 * the two (so the caller never writes into an unlinked file). On success *fd is open and
 * locked; undo with data_file_unlock + data_file_close. */
int data_file_open_locked(struct data_tier *t, uint64_t ino, int flags, bool exclusive, int *fd);

/* Hooks of the EXCLUSIVE lock (the engine's deferred write records: fio.h). before:
 * called by data_file_open_locked before it waits for ino's lock exclusive (the engine
 * records this process's own deferred writes of ino, whose shared lock would otherwise
 * hold it off for ever); nonzero: the error is returned, no lock taken. after: called by
 * data_file_open_locked and data_file_evict_if as soon as they hold the lock exclusive,
 * before their caller goes on (the engine records what a writer that died left for ino);
 * nonzero: the lock is let go and that error returned. Either may be NULL. Set once,
 * after data_tier_open and before any lock is taken; they run on the locking thread with
 * no other lock of data.c held. */
typedef int (*data_excl_fn)(void *arg, uint64_t ino);
void data_tier_on_exclusive(struct data_tier *t, data_excl_fn before, data_excl_fn after,
			    void *arg);

/* Shared / exclusive advisory lock on an open backing file (flock semantics; blocks).
 * ENOENT if the file was evicted or removed between data_file_open and the lock: the
 * caller closes the fd and opens again (DATA_CREATE gives a fresh, empty file). */
int data_file_lock(int fd, bool exclusive);
void data_file_unlock(int fd);

/* pread/pwrite the whole range (loops over short I/O and EINTR). Reading a hole returns
 * zeros; a read stops at end of file: *got (may be NULL) is the byte count read and the
 * rest of buf is untouched. EINVAL if off + len does not fit in off_t. */
int data_file_read(int fd, void *buf, size_t len, uint64_t off, size_t *got);
int data_file_write(int fd, const void *buf, size_t len, uint64_t off);
int data_file_sync(int fd);
/* fdatasync(fd), then fsync of ino's fan-out directory: the bytes written so far and the
 * file's name survive a power cut. */
int data_file_durable(struct data_tier *t, uint64_t ino, int fd);
/* Current length of the file (st_size). */
int data_file_size(int fd, uint64_t *size);
/* An unnamed staging file in the tier's file system (O_TMPFILE), read-write; it goes
 * away with its descriptor (close it with data_file_close). Fetches land here first and
 * are copied into the data file under its exclusive lock (hydrate.h). */
int data_stage_open(struct data_tier *t, int *fd);
/* Copy [off, off+len) of src to the same offsets of dst (copy_file_range, which shares
 * blocks where the file system can; read/write otherwise). EIO if src is shorter. */
int data_file_copy(int dst, int src, uint64_t off, uint64_t len);
int data_file_truncate(int fd, uint64_t size);
/* Drop the data of [off, off+len) keeping the file size (hole punch). EOPNOTSUPP if the
 * file system cannot punch (logged once): no zeros are written instead. */
int data_file_punch(int fd, uint64_t off, uint64_t len);
/* Allocated bytes of the file (st_blocks * 512). */
int data_file_allocated(int fd, uint64_t *bytes);

/* Remove the backing file of ino (ENOENT-tolerant). Used after unlink of the inode.
 * Subtracts the file's allocated bytes from the usage counter. */
int data_file_remove(struct data_tier *t, uint64_t ino);

/* Remove the backing file of ino unless someone holds its lock: takes the exclusive lock
 * without blocking (EBUSY if held), then unlinks. The caller has already checked, in the
 * metadata store, that the inode is clean. 0 if there was no file; subtracts the file's
 * allocated bytes from the usage counter. */
int data_file_evict(struct data_tier *t, uint64_t ino);
/* The same, calling still_ok(arg, ino) while holding the exclusive lock, right before
 * the unlink: a non-zero return skips the eviction and is returned. still_ok is where the
 * caller re-checks (and records) in the metadata store that the data may go, so that no
 * writer can slip in between the check and the unlink. */
int data_file_evict_if(struct data_tier *t, uint64_t ino, int (*still_ok)(void *arg, uint64_t ino),
		       void *arg);

/* Record a use of the file (for eviction by age): sets its atime to now_ns unless the
 * recorded use is less than granularity_ns old (so frequent reads cost one fstat). The
 * atime is set explicitly, so it works on noatime mounts too. */
int data_file_touch(int fd, int64_t now_ns, int64_t granularity_ns);

/* Every file of the tier, for eviction: its inode, last use (the later of atime, set by
 * data_file_touch or the kernel, and mtime, set by writes) and allocated bytes. fn
 * returning non-zero stops the walk and is returned. Also recounts the usage counter
 * (like data_tier_scan); *bytes (may be NULL) gets the total. */
struct data_file_info {
	uint64_t ino;
	int64_t used_ns;
	uint64_t bytes;
};
typedef int (*data_file_fn)(void *arg, const struct data_file_info *fi);
int data_tier_files(struct data_tier *t, data_file_fn fn, void *arg, uint64_t *bytes);

/* Bytes allocated by the whole tier (from a scan at open plus adjustments). Callers
 * report growth of their writes/truncates/punches with data_tier_usage_adjust (e.g. the
 * difference of data_file_allocated before and after); remove and evict adjust by
 * themselves. Thread-safe (atomic). */
uint64_t data_tier_usage(struct data_tier *t);
void data_tier_usage_adjust(struct data_tier *t, int64_t delta);
/* Recount allocated bytes by walking the tier; the counter is set to the result. *bytes
 * may be NULL. */
int data_tier_scan(struct data_tier *t, uint64_t *bytes);
uint64_t data_tier_quota(struct data_tier *t);

#endif
