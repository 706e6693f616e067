/*
 * fio.h — client file I/O on the data tier: what an NFS READ, WRITE, SETATTR(size) and
 * COMMIT do to a file's bytes and its record. The FSAL is a thin adapter over these; the
 * race tests drive them directly, so what is tested is what ganesha runs.
 *
 * Ownership and locks (doc/DURABILITY.md is the full protocol):
 *  - Every function here holds the file's data lock (data.h) SHARED for the whole
 *    operation, from reading the record to recording the result, so a fetch installing
 *    bytes, an eviction or a commit marking the file clean (all EXCLUSIVE) sees either
 *    none or all of it — in this process and in the daemon.
 *  - fio's own per-inode lock (striped), taken before the data lock: a resize holds it
 *    throughout and waits until no write of the inode is pending; a write holds it until
 *    its bytes are in the file and lets go before its record (pending until that commits),
 *    so writes to one file record in shared group commits (fio.c, struct fio_stripe).
 *  - A write or resize of a CLEAN file marks it dirty (ns_write_begin) before the data
 *    file changes; the record it decides from is read under the data lock.
 *  - Reads re-read the record under the data lock and read only what it says is
 *    present; what is missing is fetched (hydrate_range, without the lock) and the read
 *    starts over.
 *  - Never called with an LMDB transaction open or the data lock held.
 *
 * Durability, exactly (what is on disk when the function returns 0):
 *  - fio_write with stable: the written bytes (fdatasync), the data file's name (fsync
 *    of its directory) and the record that makes them reachable and dirty (size, present
 *    ranges, DIRTY, dirty_gen; ns_sync). Without stable: nothing is promised (NFS
 *    UNSTABLE); the announcement (DIRTY, dirty_gen) is in the store, the bytes in the page
 *    cache, and the record's size and times in the page cache or, deferred, in this
 *    process's memory, mirrored in the page cache (below): a process crash loses none
 *    of them, a power cut may lose any.
 *  - fio_commit: the same for every write of the file that returned before it began
 *    (deferred records are written first).
 *  - fio_resize: the record (ns_sync). The data file follows the record: a shrink
 *    truncates the data file after the record changed, an extension writes nothing (the
 *    new bytes are zeros: a data file shorter than its record reads as zeros, and
 *    fio_settle extends it before an upload).
 */
#ifndef S3F_FIO_H
#define S3F_FIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "engine/export_ctx.h"

struct fio_write {
	uint64_t off;
	const struct iovec *iov;
	int iovcnt;
	bool stable;		/* FILE_SYNC / DATA_SYNC: durable before return */
	uint32_t clear_mode;	/* S_ISUID / S_ISGID to clear (a write by an unprivileged
				   caller; the FSAL applies the Linux rule) */
};

/* Write w->iov at w->off. *written: bytes written (all of them on 0). *out (may be NULL):
 * the record after. ESTALE if the inode is gone, EINVAL if not a regular file. */
int fio_write(struct export_ctx *x, uint64_t ino, const struct fio_write *w, size_t *written,
	      struct meta_inode *out);

/* Read into iov from off, at most to the file's size. *got: bytes read; *eof: the read
 * reached the end of the file. Missing ranges are fetched from S3 (errors of
 * hydrate_range: S3F_E_S3_*, EIO for a lost source). EAGAIN if an eviction kept winning. */
int fio_read(struct export_ctx *x, uint64_t ino, uint64_t off, const struct iovec *iov,
	     int iovcnt, size_t *got, bool *eof);

/* Truncate or extend ino to size, with the other attributes of rest (may be NULL) in the
 * same transaction. *out (may be NULL): the record after. A resize to the current size
 * with nothing else in rest changes nothing (no transaction, times kept: truncate(2)). */
int fio_resize(struct export_ctx *x, uint64_t ino, uint64_t size, const struct ns_setattr *rest,
	       struct meta_inode *out);

/* NFS COMMIT of ino: see "Durability" above. */
int fio_commit(struct export_ctx *x, uint64_t ino);

/*
 * Deferred records (Write_Record_Delay_Ms, default 20 ms; doc/DURABILITY.md, rule D).
 * An UNSTABLE write to a file whose data is all local may return before its record
 * reaches the store; the record of every such write of a file in that time is written
 * at once, later. Until then the writer's process keeps the data file's SHARED data
 * lock, so nothing that takes it EXCLUSIVE, in any process, acts on a record without
 * them. In this process, attributes come with them merged (fio_getattr, fio_lookup,
 * fio_read), and whatever else changes the record must call fio_flush first.
 */

/* The export's deferred log (<Meta_Dir>/deferred): deferred entries mirrored in the page
 * cache, so that they outlive a crash of their process. Opened by export_ctx_open in
 * every process (it also makes every EXCLUSIVE data lock record what a dead writer left
 * for that file: data_tier_on_exclusive), closed by export_ctx_close. S3F_E_CONFIG if the
 * file is not a log of this version. Without a log, no write is deferred. */
int fio_log_open(struct export_ctx *x);
void fio_log_close(struct export_ctx *x);
/* Record every entry a dead writer left in the log (the FSAL, at export open, before it
 * serves). Waits for any EXCLUSIVE holder of those files. The first error (the entry
 * stays, for the next exclusive locker). */
int fio_recover(struct export_ctx *x);

/* Record ino's deferred writes now (one meta_write) and let go of its data file. 0 also
 * when there were none. On an error the writes stay deferred (a later flush tries
 * again). Takes the stripe lock; no data lock or transaction held by the caller. */
int fio_flush(struct export_ctx *x, uint64_t ino);
/* fio_flush for every file of x whose oldest deferred write is older_than_ns old (0:
 * all; at export close, and from the FSAL's housekeeping tick). The first error. */
int fio_flush_all(struct export_ctx *x, int64_t older_than_ns);
/* ns_getattr / ns_lookup with this process's deferred writes merged into a regular
 * file's attributes (size, mtime, ctime, change): what clients are answered with. */
int fio_getattr(struct export_ctx *x, uint64_t ino, struct meta_inode *out);
int fio_lookup(struct export_ctx *x, uint64_t dir, const char *name, size_t len,
	       struct meta_inode *out);

/* Before an upload (the daemon): if the record says all of [0, size) is present but the
 * data file is shorter (an extension or a write past the end whose zeros were never
 * written out), extend the data file with zeros under the exclusive lock, so that it can
 * be read as the object. 0 also when there is nothing to do. */
int fio_settle(struct export_ctx *x, uint64_t ino);

#endif
