/*
 * hydrate.h — make byte ranges of a file local by fetching them from S3.
 *
 * A file imported without data (large files) or invalidated by an S3 change is fetched
 * on demand, in aligned chunks, with GETs conditional on the ETag the inode is based on:
 * bytes of another version are never recorded as present.
 *
 * Ownership (doc/DURABILITY.md, rule F): a fetch never writes into the data file while
 * it talks to S3. Bytes land in an unnamed staging file first; then, holding the data
 * file's lock EXCLUSIVELY (so no client read or write is inside the file, in this process
 * or the other), the record is read again and only the ranges that are still missing and
 * still of the same version are copied in, made durable (fdatasync + directory), and
 * recorded (ns_data_fetched) before the lock is released. A client write that landed in
 * a range meanwhile made that range present: the fetched bytes for it are dropped. A
 * fetch never truncates the data file.
 *
 * Locks: hydrate_range and hydrate_install take the data lock themselves; the caller must
 * not hold it (flock is per open file description: holding it shared and asking for it
 * exclusive from another descriptor would wait for ever). No LMDB transaction is held
 * across an S3 call or the lock wait (lock order: data lock, then a transaction).
 */
#ifndef S3F_HYDRATE_H
#define S3F_HYDRATE_H

#include <stdint.h>

#include "engine/export_ctx.h"
#include "base/rangeset.h"

#define HYDRATE_CHUNK (1024 * 1024)	/* fetch granularity */
#define HYDRATE_PARALLEL_MIN (8 * 1024 * 1024)	/* ranges this large use parallel GETs */
#define HYDRATE_WINDOW (64ULL * 1024 * 1024)	/* staged (and installed) at a time */

struct hydrate_stats {
	uint64_t fetched_bytes;		/* bytes GET returned */
	uint64_t installed_bytes;	/* of those, copied in (still missing under the lock) */
	uint64_t requests;
};

/*
 * Make [off, off+len) of ino local (clipped to the file size). Returns 0 when every
 * byte of the range was present when it looked last (an eviction may remove them again
 * afterwards: callers re-check under their own lock and retry). ENODATA: missing bytes
 * have no S3 source (never uploaded): they are a hole and read as zeros.
 * S3F_E_S3_PRECOND / ENOENT if the object changed in S3 meanwhile (the caller may retry
 * after the change is imported). The bytes come from the object the file is based on
 * (ns_data_source: for a renamed file, its old key until the daemon has moved it); EIO if
 * that source was lost. st (may be NULL) accumulates.
 */
int hydrate_range(struct export_ctx *x, uint64_t ino, uint64_t off, uint64_t len,
		  struct hydrate_stats *st);

/*
 * Install fetched bytes: stage_fd holds, at their file offsets, the ranges `fetched` of
 * the object version `etag`. Under ino's exclusive data lock: if the file is still based
 * on etag, copy the parts of `fetched` that are still missing (clipped to the size), make
 * them durable, record them present. *installed (may be NULL) gets the bytes copied.
 * S3F_E_S3_PRECOND if the file moved to another version (nothing copied).
 */
int hydrate_install(struct export_ctx *x, uint64_t ino, const char *etag, int stage_fd,
		    const struct rangeset *fetched, uint64_t *installed);

/*
 * The target of symlink ino (into buf, cap bytes, NUL-terminated; *len its length): from
 * the store, or for a symlink imported from S3 (an object with S_IFLNK in its mode, as
 * s3fs writes them, whose content is the target) fetched once with a GET pinned to its
 * ETag and recorded (ns_symlink_fetched). EINVAL if ino is not a symlink, ENAMETOOLONG
 * for a target of 4,096 bytes or more, S3F_E_S3_PRECOND if the object changed meanwhile.
 */
int hydrate_symlink(struct export_ctx *x, uint64_t ino, char *buf, size_t cap, size_t *len);

#endif
