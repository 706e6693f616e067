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
 *    UNSTABLE); the bytes and record are in the page cache, which survives a process
 *    crash but not a power cut.
 *  - fio_commit: the same for every write of the file that returned before it began.
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
 * same transaction. *out (may be NULL): the record after. */
int fio_resize(struct export_ctx *x, uint64_t ino, uint64_t size, const struct ns_setattr *rest,
	       struct meta_inode *out);

/* NFS COMMIT of ino: see "Durability" above. */
int fio_commit(struct export_ctx *x, uint64_t ino);

/* Before an upload (the daemon): if the record says all of [0, size) is present but the
 * data file is shorter (an extension or a write past the end whose zeros were never
 * written out), extend the data file with zeros under the exclusive lock, so that it can
 * be read as the object. 0 also when there is nothing to do. */
int fio_settle(struct export_ctx *x, uint64_t ino);

#endif
