/*
 * fio.c — see fio.h.
 *
 * Why the record is read after the lock, never before: whatever changes a file's data
 * behind a client's back (a fetch from S3, an eviction, a commit marking it clean) does
 * so under the exclusive lock, so once we hold the shared lock the record we read stays
 * true for the bytes until we let go. A record read before the lock could describe a
 * file that was evicted (and would be recreated empty) in between.
 *
 * An import may take a new S3 version of a clean file without the data lock (it changes
 * only the record, in one transaction). That is why a write or resize decides from the
 * record ns_write_begin returns — the transaction that makes the file dirty, after which
 * imports no longer touch its data — and not from the one it read first.
 *
 * Why a retry loop in reads: an eviction can win between a fetch and our read; rare, so a
 * handful of rounds is plenty, after which the client is asked to retry.
 */
#include "engine/fio.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "store/data.h"
#include "base/err.h"
#include "engine/hydrate.h"
#include "base/log.h"
#include "base/rangeset.h"
#include "base/tp.h"

#define FIO_TRIES 8
#define FIO_STRIPES 64
#define FIO_PENDING 16

/*
 * Per-inode writer lock of this process, striped by inode (two inodes may share a
 * stripe, never one inode two); taken before the data lock. A write holds it while it
 * decides where the file ends and changes bytes (a write past the end first drops stale
 * bytes beyond the old end, which must not race another write there); a resize holds it
 * for the whole operation.
 *
 * A write lets go of it before recording what it wrote (ns_write_record), so writes to
 * one file record together: their transactions join one group commit of the store
 * instead of one fsync each. Until its record is committed, a write stays in the
 * stripe's pending table: the end of its bytes, which the record does not show yet. The
 * next write takes the file's end as the larger of the record's size and the pending
 * ends, so it never drops a pending write's bytes as stale (every byte between the
 * record's size and a pending end is a pending write's or a zero: a write that started
 * past the end cleared the tail before it wrote). A resize waits until the inode has no
 * pending write (idle), so it decides from a record that shows every write before it.
 * A write that finds the table full keeps the lock through its record, as before.
 */
struct fio_stripe {
	pthread_mutex_t lock;
	pthread_cond_t idle;		/* a pending write of this stripe was recorded */
	struct {
		uint64_t ino;		/* 0: free */
		uint64_t end;		/* the largest end of its pending writes */
		unsigned n;		/* its pending writes */
	} pending[FIO_PENDING];		/* protected by lock */
};

static struct fio_stripe fio_stripes[FIO_STRIPES] = {
	[0 ... FIO_STRIPES - 1] = {
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.idle = PTHREAD_COND_INITIALIZER,
	}
};

static struct fio_stripe *fio_stripe(uint64_t ino)
{
	return &fio_stripes[(ino * 0x9E3779B97F4A7C15ULL) >> 58];
}

/* ino's slot in the pending table, -1 when it has no pending write. Stripe lock held. */
static int fio_pending_find(struct fio_stripe *st, uint64_t ino)
{
	for (int i = 0; i < FIO_PENDING; i++)
		if (st->pending[i].ino == ino)
			return i;
	return -1;
}

/* Register a pending write ending at end; its slot, or -1 when the table is full. Stripe
 * lock held. */
static int fio_pending_add(struct fio_stripe *st, uint64_t ino, uint64_t end)
{
	int free_slot = -1;

	for (int i = 0; i < FIO_PENDING; i++) {
		if (st->pending[i].ino == ino) {
			st->pending[i].n++;
			if (end > st->pending[i].end)
				st->pending[i].end = end;
			return i;
		}
		if (!st->pending[i].ino && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0) {
		st->pending[free_slot].ino = ino;
		st->pending[free_slot].end = end;
		st->pending[free_slot].n = 1;
	}
	return free_slot;
}

/* A pending write's record is committed (or failed): out of the table. */
static void fio_pending_done(struct fio_stripe *st, int slot)
{
	pthread_mutex_lock(&st->lock);
	if (--st->pending[slot].n == 0) {
		st->pending[slot].ino = 0;
		st->pending[slot].end = 0;
		pthread_cond_broadcast(&st->idle);
	}
	pthread_mutex_unlock(&st->lock);
}

/* Lock the stripe with no pending write of ino left (for a resize). */
static void fio_stripe_lock_idle(struct fio_stripe *st, uint64_t ino)
{
	pthread_mutex_lock(&st->lock);
	while (fio_pending_find(st, ino) >= 0)
		pthread_cond_wait(&st->idle, &st->lock);
}

/* Bytes of the data file beyond the logical size belong to no one (an older, longer
 * version, or a shrink whose truncate a crash cut short): drop them before the size
 * grows over them. The truncate is made durable at once: a later record saying "zeros
 * here" may reach the disk (any ns_sync of any operation) before this file is synced
 * again, and a power cut would then show the dropped bytes as the file's. Shared data
 * lock and the stripe held. */
static int fio_clear_tail(struct export_ctx *x, uint64_t ino, int fd, uint64_t logical_size)
{
	uint64_t cur;
	int rc = data_file_size(fd, &cur);

	if (rc == 0 && cur > logical_size) {
		rc = data_file_truncate(fd, logical_size);
		if (rc == 0)
			rc = data_file_durable(x->data, ino, fd);
	}
	return rc;
}

/* Does a change of in's bytes need ns_write_begin first? (Not for s3files' own files,
 * nor when a change was announced since the last commit snapshot.) */
static bool fio_must_announce(const struct meta_inode *in)
{
	if (in->flags & META_F_RESERVED)
		return false;
	return in->sync == META_S_CLEAN || !(in->flags & META_F_CHANGING);
}

static size_t fio_iov_len(const struct iovec *iov, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

/* Zero [a, b) of the read that starts at off, spread over iov. */
static void fio_iov_zero(const struct iovec *iov, int n, uint64_t off, uint64_t a, uint64_t b)
{
	uint64_t pos = off;

	for (int i = 0; i < n && pos < b; i++) {
		uint64_t s = pos, e = pos + iov[i].iov_len;
		uint64_t za = a > s ? a : s, zb = b < e ? b : e;

		if (za < zb)
			memset((char *)iov[i].iov_base + (za - s), 0, (size_t)(zb - za));
		pos = e;
	}
}

int fio_write(struct export_ctx *x, uint64_t ino, const struct fio_write *w, size_t *written,
	      struct meta_inode *out)
{
	struct fio_stripe *st = fio_stripe(ino);
	size_t want = fio_iov_len(w->iov, w->iovcnt), total = 0;
	struct meta_inode in;
	int fd = -1, slot = -1, rc;
	bool stripe_held;

	*written = 0;
	if (w->off > INT64_MAX || want > INT64_MAX - w->off)
		return EFBIG;
	pthread_mutex_lock(&st->lock);
	stripe_held = true;
	rc = data_file_open_locked(x->data, ino, DATA_CREATE, false, &fd);
	if (rc == 0) {
		uint64_t end;
		int p;

		rc = ns_getattr(x->ns, ino, &in);
		if (rc == ENOENT)
			rc = ESTALE;
		if (rc == 0 && in.type != META_T_REG)
			rc = EINVAL;
		TP("fio.write.locked");
		/* Announced before the first byte changes (crash safety; ns_write_begin). */
		if (rc == 0 && fio_must_announce(&in))
			rc = ns_write_begin(x->ns, ino, &in);
		/* Where the file ends: its record, or a write not recorded yet. */
		end = in.size;
		p = fio_pending_find(st, ino);
		if (p >= 0 && st->pending[p].end > end)
			end = st->pending[p].end;
		if (rc == 0 && w->off > end)
			rc = fio_clear_tail(x, ino, fd, end);
		for (int i = 0; rc == 0 && i < w->iovcnt; i++) {
			rc = data_file_write(fd, w->iov[i].iov_base, w->iov[i].iov_len, w->off + total);
			total += w->iov[i].iov_len;
		}
		TP("fio.write.written");
		if (rc == 0 && w->stable)
			rc = data_file_durable(x->data, ino, fd);
		/* Recorded without the stripe, so that writes to this file group their
		 * commits (see struct fio_stripe); the data lock stays held. */
		if (rc == 0 && (slot = fio_pending_add(st, ino, w->off + want)) >= 0) {
			pthread_mutex_unlock(&st->lock);
			stripe_held = false;
		}
		TP("fio.write.pending");
		if (rc == 0)
			rc = ns_write_record(x->ns, ino, w->off, want, w->clear_mode, out);
		if (slot >= 0)
			fio_pending_done(st, slot);
		if (rc == 0 && w->stable)
			rc = ns_sync(x->ns);
		data_file_unlock(fd);
		data_file_close(x->data, fd);
	}
	if (stripe_held)
		pthread_mutex_unlock(&st->lock);
	if (rc == 0)
		*written = want;
	return rc;
}

int fio_read(struct export_ctx *x, uint64_t ino, uint64_t off, const struct iovec *iov,
	     int iovcnt, size_t *got, bool *eof)
{
	struct rangeset have = RANGESET_INIT, miss = RANGESET_INIT;
	size_t want = fio_iov_len(iov, iovcnt);
	bool holes = false;	/* missing bytes without an S3 source read as zeros */
	int rc = EAGAIN;

	*got = 0;
	*eof = false;
	for (int tries = 0; tries < FIO_TRIES && rc == EAGAIN; tries++) {
		struct meta_inode in;
		uint64_t end, pos;
		int fd = -1;

		rc = data_file_open_locked(x->data, ino, DATA_CREATE, false, &fd);
		if (rc)
			break;
		TP("fio.read.locked");
		rc = ns_data_present(x->ns, ino, &have, &in);
		if (rc == ENOENT)
			rc = ESTALE;
		if (rc == 0 && in.type != META_T_REG)
			rc = EINVAL;
		if (rc)
			goto unlock;
		if (off >= in.size || want == 0) {
			*eof = off >= in.size;
			goto unlock;
		}
		end = off + want > in.size ? in.size : off + want;
		rc = rangeset_missing(&have, off, end, &miss);
		if (rc)
			goto unlock;
		if (in.data == META_D_FULL)
			rangeset_clear(&miss);
		if (miss.n && !holes) {
			/* Fetch without the lock (hydrate takes it exclusive), then look again. */
			data_file_unlock(fd);
			data_file_close(x->data, fd);
			rc = hydrate_range(x, ino, off, end - off, NULL);
			if (rc == ENODATA)
				holes = true;
			if (rc == 0 || rc == ENODATA)
				rc = EAGAIN;
			continue;
		}
		pos = off;
		for (int i = 0; i < iovcnt && pos < end; i++) {
			size_t n = iov[i].iov_len, r = 0;

			if (n > end - pos)
				n = (size_t)(end - pos);
			rc = data_file_read(fd, iov[i].iov_base, n, pos, &r);
			if (rc)
				goto unlock;
			/* Past the local file's end (an extension never written out): zeros. */
			if (r < n)
				memset((char *)iov[i].iov_base + r, 0, n - r);
			pos += n;
		}
		for (size_t k = 0; k < miss.n; k++)	/* holes only: no source, zeros */
			fio_iov_zero(iov, iovcnt, off, miss.r[k].start, miss.r[k].end);
		*got = (size_t)(end - off);
		*eof = end >= in.size;
		/* A use, for eviction by age; at most one atime update per hour and file. */
		(void)data_file_touch(fd, meta_now_ns(), 3600LL * 1000000000LL);
unlock:
		data_file_unlock(fd);
		data_file_close(x->data, fd);
	}
	rangeset_free(&have);
	rangeset_free(&miss);
	return rc;
}

int fio_resize(struct export_ctx *x, uint64_t ino, uint64_t size, const struct ns_setattr *rest,
	       struct meta_inode *out)
{
	struct ns_setattr sa = rest ? *rest : (struct ns_setattr){ 0 };
	struct meta_inode in;
	int fd = -1, rc;

	if (size > INT64_MAX)
		return EFBIG;
	sa.mask |= NS_SET_SIZE;
	sa.size = size;
	fio_stripe_lock_idle(fio_stripe(ino), ino);
	rc = data_file_open_locked(x->data, ino, DATA_CREATE, false, &fd);
	if (rc == 0) {
		rc = ns_getattr(x->ns, ino, &in);
		if (rc == ENOENT)
			rc = ESTALE;
		if (rc == 0 && in.type != META_T_REG)
			rc = in.type == META_T_DIR ? EISDIR : EINVAL;
		TP("fio.resize.locked");
		/* A resize to the current size of a file that is not clean (open with O_TRUNC
		 * of a file just made) changes no byte and only the record's times, like a
		 * chmod: no announcement. A clean file is always announced first: an import
		 * may change its record until then (no data lock), and only the record
		 * ns_write_begin returns is one imports no longer touch. (A dirty file stays
		 * dirty while we hold the data lock: only a commit, under the exclusive lock,
		 * makes it clean.) */
		if (rc == 0 && fio_must_announce(&in) &&
		    (size != in.size || in.sync == META_S_CLEAN))
			rc = ns_write_begin(x->ns, ino, &in);
		if (rc == 0 && size < in.size) {
			/* Record first: a crash before the truncate leaves bytes beyond the end,
			 * which belong to no one (fio_clear_tail drops them); the other order
			 * would leave the old size reading as zeros. */
			rc = ns_setattr(x->ns, ino, &sa, out);
			TP("fio.resize.recorded");
			if (rc == 0)
				rc = fio_clear_tail(x, ino, fd, size);
		} else if (rc == 0) {
			/* Growing: the bytes the record is about to call zeros must be zeros. */
			rc = fio_clear_tail(x, ino, fd, in.size);
			if (rc == 0)
				rc = ns_setattr(x->ns, ino, &sa, out);
		}
		if (rc == 0)
			rc = ns_sync(x->ns);
		data_file_unlock(fd);
		data_file_close(x->data, fd);
	}
	pthread_mutex_unlock(&fio_stripe(ino)->lock);
	return rc;
}

int fio_commit(struct export_ctx *x, uint64_t ino)
{
	int fd = -1, rc;

	/* No lock: whatever writes returned before the COMMIT are in the file and the store
	 * (both in the page cache); this makes them durable. */
	rc = data_file_open(x->data, ino, 0, &fd);
	if (rc == 0) {
		rc = data_file_durable(x->data, ino, fd);
		data_file_close(x->data, fd);
	} else if (rc == ENOENT) {
		rc = 0;		/* no data file: nothing written (or all of it zeros) */
	}
	if (rc == 0)
		rc = ns_sync(x->ns);
	return rc;
}

int fio_settle(struct export_ctx *x, uint64_t ino)
{
	struct meta_inode in;
	uint64_t cur;
	int fd = -1, rc;

	rc = data_file_open_locked(x->data, ino, DATA_CREATE, true, &fd);
	if (rc)
		return rc;
	rc = ns_getattr(x->ns, ino, &in);
	if (rc == 0 && in.type == META_T_REG && in.data == META_D_FULL &&
	    (rc = data_file_size(fd, &cur)) == 0 && cur < in.size)
		rc = data_file_truncate(fd, in.size);
	data_file_unlock(fd);
	data_file_close(x->data, fd);
	return rc;
}
