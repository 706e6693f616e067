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
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/data.h"
#include "base/err.h"
#include "engine/hydrate.h"
#include "base/log.h"
#include "base/rangeset.h"
#include "base/tp.h"

#define FIO_TRIES 8
#define FIO_STRIPES 64
#define FIO_PENDING 16
#define FIO_DEFERRED 8

/*
 * Deferred records (Write_Record_Delay_Ms; doc/DURABILITY.md, rule D). An UNSTABLE write
 * to a file whose data is all local need not reach the store before its reply: NFS
 * promises nothing of it until a COMMIT. What it changes in the record (size, times,
 * change, DIRTY) waits in the stripe's deferred table, and one meta_write records all
 * the writes of a file in that time (ns_write_fold), with one sync instead of one per
 * write group.
 *
 * What keeps that safe:
 *  - The announcement (ns_write_begin: DIRTY, dirty_gen, CHANGING) is never deferred: it
 *    is in the store before the first byte changes, as without deferral.
 *  - The entry keeps the data file open with its SHARED data lock held until the record
 *    is folded. Whatever acts on the bytes behind a client's back takes the EXCLUSIVE
 *    lock (the daemon's commit snapshot, eviction, a fetch's install, fsck's repairs),
 *    in any process, and so waits for the fold: it decides from a record that shows
 *    every write before it. In this process, the data tier's before-exclusive hook
 *    (fio_log_own) folds first, since flock would make them wait for our own lock.
 *  - Every other change of the file's record through this process folds first too
 *    (fio_flush from setattr, rename, remove, the last close, COMMIT, a stable write, a
 *    resize), so
 *    that the fold's times never overwrite a later change.
 *  - What clients are answered with merges the entry into the record (fio_getattr,
 *    fio_lookup, fio_read's size) under the stripe lock, which the fold holds from
 *    before its transaction until the entry is gone: a reader sees the record and the
 *    entry, or the folded record, never the record without the entry.
 *  - Only files with all data local (META_D_FULL) are deferred, and that cannot change
 *    while the shared lock is held (a fetch or an eviction needs it exclusive), so the
 *    fold never has to say which ranges became present.
 *  - Each entry is mirrored in the export's deferred log (<Meta_Dir>/deferred, mapped
 *    shared: struct fio_log), which the page cache keeps when the process dies. So a kill
 *    of ganesha loses none of them, as it loses no recorded write: whoever next takes
 *    such a file's lock EXCLUSIVE (the data tier calls fio_log_orphan), or the FSAL
 *    starting again (fio_recover), records what the dead writer left. A power cut may lose
 *    them, as it may any UNSTABLE write (the write verifier changes, so clients send them
 *    again); bytes they wrote past the recorded end then belong to no one
 *    (fio_clear_tail).
 */
struct fio_deferred {
	struct export_ctx *x;		/* NULL: free slot */
	struct fio_slot *slot;		/* its mirror in x's deferred log */
	uint64_t ino;
	int fd;				/* the data file, its shared data lock held */
	uint64_t off, end;		/* the lowest offset and the largest end written */
	uint64_t writes;
	int64_t first_ns, last_ns;	/* when the first and the last of them wrote */
	uint64_t base_change;		/* the record's change attribute when it began */
};

/*
 * The deferred log: one page-cache-backed table per export, so that deferred entries
 * outlive a crash of their process (not a power cut: it is never synced). Slot k mirrors
 * entry k of the stripe tables (stripe k / FIO_DEFERRED, entry k % FIO_DEFERRED) for this
 * export; ino is 0 in a free slot. The owning process writes its slots under the stripe
 * lock; another process reads a slot only while it holds that inode's data lock
 * EXCLUSIVE, which no live owner of an entry for it lets it have (the entry holds the
 * lock shared): so a slot seen by another process is one whose writer died.
 */
#define FIO_LOG_MAGIC "S3FDEFR1"
#define FIO_SLOTS (FIO_STRIPES * FIO_DEFERRED)

struct fio_slot {
	_Atomic uint64_t ino;		/* written last when taken, first when freed */
	uint64_t off, end, writes;
	int64_t last_ns;
	uint64_t base_change;		/* recovery applies the slot only to this record */
	uint64_t spare[2];
};

struct fio_log {
	int fd;
	struct fio_slot *map;		/* [0]: the header (magic, slot count); then the slots */
	size_t len;
};

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
		const struct export_ctx *x;
		uint64_t ino;		/* 0: free */
		uint64_t end;		/* the largest end of its pending writes */
		unsigned n;		/* its pending writes */
	} pending[FIO_PENDING];		/* protected by lock */
	struct fio_deferred deferred[FIO_DEFERRED];	/* protected by lock */
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

/* x's ino's slot in the pending table, -1 when it has no pending write (the table is
 * per process: two exports may both have an inode ino). Stripe lock held. */
static int fio_pending_find(struct fio_stripe *st, const struct export_ctx *x, uint64_t ino)
{
	for (int i = 0; i < FIO_PENDING; i++)
		if (st->pending[i].ino == ino && st->pending[i].x == x)
			return i;
	return -1;
}

/* Register a pending write ending at end; its slot, or -1 when the table is full. Stripe
 * lock held. */
static int fio_pending_add(struct fio_stripe *st, const struct export_ctx *x, uint64_t ino,
			   uint64_t end)
{
	int free_slot = -1;

	for (int i = 0; i < FIO_PENDING; i++) {
		if (st->pending[i].ino == ino && st->pending[i].x == x) {
			st->pending[i].n++;
			if (end > st->pending[i].end)
				st->pending[i].end = end;
			return i;
		}
		if (!st->pending[i].ino && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0) {
		st->pending[free_slot].x = x;
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
		st->pending[slot].x = NULL;
		st->pending[slot].ino = 0;
		st->pending[slot].end = 0;
		pthread_cond_broadcast(&st->idle);
	}
	pthread_mutex_unlock(&st->lock);
}

/* Lock the stripe with no pending write of ino left (for a resize). */
static void fio_stripe_lock_idle(struct fio_stripe *st, const struct export_ctx *x, uint64_t ino)
{
	pthread_mutex_lock(&st->lock);
	while (fio_pending_find(st, x, ino) >= 0)
		pthread_cond_wait(&st->idle, &st->lock);
}

/* The log slot that mirrors entry k of stripe st for export x (struct fio_log). */
static struct fio_slot *fio_log_slot(const struct export_ctx *x, const struct fio_stripe *st,
				     int k)
{
	return &x->fio_log->map[1 + (st - fio_stripes) * FIO_DEFERRED + k];
}

/* x's ino's deferred entry, or NULL. Stripe lock held. */
static struct fio_deferred *fio_deferred_find(struct fio_stripe *st, const struct export_ctx *x,
					      uint64_t ino)
{
	for (int i = 0; i < FIO_DEFERRED; i++)
		if (st->deferred[i].x == x && st->deferred[i].ino == ino)
			return &st->deferred[i];
	return NULL;
}

/* Record d's writes (ns_write_fold) and let go of its data file. On an error the entry
 * stays (a later flush tries again), so what clients were answered is not forgotten;
 * ESTALE (the file was removed) ends it. Stripe lock held, throughout the transaction
 * (see struct fio_deferred). */
static int fio_deferred_fold(struct fio_deferred *d)
{
	struct export_ctx *x = d->x;
	int rc;

	TP("fio.fold.before");
	rc = ns_write_fold(x->ns, d->ino, d->off, d->end - d->off, d->writes, d->last_ns, NULL,
			   NULL);
	if (rc == ENOENT)
		rc = ESTALE;
	if (rc && rc != ESTALE) {
		LOG_WARN(LOG_C_META, "inode %llu: recording %llu deferred writes failed: %s",
			 (unsigned long long)d->ino, (unsigned long long)d->writes,
			 s3f_strerror(rc));
		return rc;
	}
	/* Recorded: the mirror goes before the lock (a later writer may take the slot). */
	atomic_store(&d->slot->ino, 0);
	data_file_unlock(d->fd);
	data_file_close(x->data, d->fd);
	*d = (struct fio_deferred){ .fd = -1 };
	return 0;
}

/* Mirror d into its log slot (stripe lock held). The fields first, ino last. */
static void fio_slot_write(const struct fio_deferred *d)
{
	d->slot->off = d->off;
	d->slot->end = d->end;
	d->slot->writes = d->writes;
	d->slot->last_ns = d->last_ns;
	d->slot->base_change = d->base_change;
	atomic_store(&d->slot->ino, d->ino);
}

/* The attributes clients are answered with: in, x's ino's record, with what its deferred
 * entry (if any) has not recorded yet, exactly as ns_write_fold will record it. Stripe
 * lock held since before the record was read (see struct fio_deferred). */
static void fio_deferred_merge(struct fio_stripe *st, const struct export_ctx *x, uint64_t ino,
			       struct meta_inode *in)
{
	const struct fio_deferred *d = fio_deferred_find(st, x, ino);

	if (!d)
		return;
	if (d->end > in->size)
		in->size = d->end;
	in->mtime_ns = in->ctime_ns = d->last_ns;
	in->flags &= ~(uint32_t)META_F_MTIME_S3;
	in->change += d->writes;
}

int fio_flush(struct export_ctx *x, uint64_t ino)
{
	struct fio_stripe *st = fio_stripe(ino);
	struct fio_deferred *d;
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	if ((d = fio_deferred_find(st, x, ino)) != NULL)
		rc = fio_deferred_fold(d);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int fio_flush_all(struct export_ctx *x, int64_t older_than_ns)
{
	int64_t now = meta_now_ns();
	int rc = 0;

	for (int s = 0; s < FIO_STRIPES; s++) {
		struct fio_stripe *st = &fio_stripes[s];

		pthread_mutex_lock(&st->lock);
		for (int i = 0; i < FIO_DEFERRED; i++) {
			struct fio_deferred *d = &st->deferred[i];
			int r;

			if (d->x != x || now - d->first_ns < older_than_ns)
				continue;
			if ((r = fio_deferred_fold(d)) != 0 && rc == 0)
				rc = r;
		}
		pthread_mutex_unlock(&st->lock);
	}
	return rc;
}

/* ---- the deferred log ---- */

/* Record what a dead writer left in slot sl (ns_write_fold) and free it. ESTALE (the file
 * was removed since) frees it too, and so does a record that changed since the entry
 * began (ECANCELED): within one boot a freed slot is never seen set (the page cache is
 * one), but a power cut may keep a slot's writes and lose its freeing, whose record (and
 * whatever came after it, a truncate say) did reach the disk; such a slot is stale. */
static int fio_slot_recover(struct export_ctx *x, struct fio_slot *sl)
{
	uint64_t ino = atomic_load(&sl->ino), base = sl->base_change;
	int rc;

	if (!ino)
		return 0;
	rc = ns_write_fold(x->ns, ino, sl->off, sl->end > sl->off ? sl->end - sl->off : 0,
			   sl->writes, sl->last_ns, &base, NULL);
	if (rc == ENOENT)
		rc = ESTALE;
	if (rc == ECANCELED) {
		LOG_INFO(LOG_C_META, "inode %llu: deferred writes in the log are already "
			 "recorded (stale entry dropped)", (unsigned long long)ino);
		atomic_store(&sl->ino, 0);
		return 0;
	}
	if (rc && rc != ESTALE) {
		LOG_ERROR(LOG_C_META, "inode %llu: recording %llu writes a crashed writer deferred "
			  "failed: %s", (unsigned long long)ino, (unsigned long long)sl->writes,
			  s3f_strerror(rc));
		return rc;
	}
	LOG_INFO(LOG_C_META, "inode %llu: recorded %llu writes a crashed writer deferred "
		 "(size at least %llu)", (unsigned long long)ino, (unsigned long long)sl->writes,
		 (unsigned long long)sl->end);
	atomic_store(&sl->ino, 0);
	return 0;
}

/* data_tier_on_exclusive, before: an exclusive locker of this process (the daemon's code
 * in a test, a fetch's install, settle) would wait for ever for our own entry's shared
 * lock; the entry is recorded first. */
static int fio_log_own(void *arg, uint64_t ino)
{
	return fio_flush(arg, ino);
}

/* data_tier_on_exclusive, after: ino's lock was just taken exclusive, so no live writer has an
 * entry for it; a slot for it is a dead writer's. */
static int fio_log_orphan(void *arg, uint64_t ino)
{
	struct export_ctx *x = arg;
	int rc = 0;

	for (size_t k = 1; k <= FIO_SLOTS && rc == 0; k++)
		if (atomic_load(&x->fio_log->map[k].ino) == ino)
			rc = fio_slot_recover(x, &x->fio_log->map[k]);
	return rc;
}

int fio_log_open(struct export_ctx *x)
{
	struct fio_log *l;
	struct stat st;
	char path[PATH_MAX];
	size_t len = (1 + FIO_SLOTS) * sizeof(struct fio_slot);
	int rc;

	_Static_assert(sizeof(struct fio_slot) == 64, "fio_slot is one cache line");
	if (snprintf(path, sizeof path, "%s/deferred", x->cfg->meta_dir) >= (int)sizeof path)
		return ENAMETOOLONG;
	l = calloc(1, sizeof *l);
	if (!l)
		return ENOMEM;
	l->len = len;
	l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (l->fd < 0) {
		rc = errno;
		goto fail_free;
	}
	if (fstat(l->fd, &st) != 0) {
		rc = errno;
		goto fail_close;
	}
	if ((size_t)st.st_size != len && st.st_size != 0) {
		/* Another layout (another version): only an empty one may be replaced. */
		LOG_ERROR(LOG_C_META, "%s: %lld bytes, expected %zu: not a deferred-write log of "
			  "this version (move it away if no ganesha crashed with writes in it)",
			  path, (long long)st.st_size, len);
		rc = S3F_E_CONFIG;
		goto fail_close;
	}
	if (st.st_size == 0 && ftruncate(l->fd, (off_t)len) != 0) {
		rc = errno;
		goto fail_close;
	}
	l->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, l->fd, 0);
	if (l->map == MAP_FAILED) {
		rc = errno;
		goto fail_close;
	}
	if (memcmp(l->map, FIO_LOG_MAGIC, 8) != 0) {
		/* New (all zeros): claimed. Anything else there is not ours. */
		static const char zero[8];

		if (memcmp(l->map, zero, 8) != 0) {
			LOG_ERROR(LOG_C_META, "%s: not a deferred-write log", path);
			rc = S3F_E_CONFIG;
			goto fail_unmap;
		}
		memcpy(l->map, FIO_LOG_MAGIC, 8);
	}
	x->fio_log = l;
	data_tier_on_exclusive(x->data, fio_log_own, fio_log_orphan, x);
	return 0;

fail_unmap:
	munmap(l->map, len);
fail_close:
	close(l->fd);
fail_free:
	free(l);
	return rc;
}

void fio_log_close(struct export_ctx *x)
{
	struct fio_log *l = x->fio_log;

	if (!l)
		return;
	/* What is still deferred is recorded; what cannot be stays in the log (its slots
	 * are kept), for fio_recover or an exclusive locker. */
	(void)fio_flush_all(x, 0);
	for (int s = 0; s < FIO_STRIPES; s++) {
		struct fio_stripe *st = &fio_stripes[s];

		pthread_mutex_lock(&st->lock);
		for (int i = 0; i < FIO_DEFERRED; i++) {
			struct fio_deferred *d = &st->deferred[i];

			if (d->x != x)
				continue;
			data_file_unlock(d->fd);
			data_file_close(x->data, d->fd);
			*d = (struct fio_deferred){ .fd = -1 };
		}
		pthread_mutex_unlock(&st->lock);
	}
	x->fio_log = NULL;
	munmap(l->map, l->len);
	close(l->fd);
	free(l);
}

int fio_recover(struct export_ctx *x)
{
	int rc = 0;

	if (!x->fio_log)
		return 0;
	for (size_t k = 1; k <= FIO_SLOTS; k++) {
		uint64_t ino = atomic_load(&x->fio_log->map[k].ino);
		int fd = -1, r;

		if (!ino)
			continue;
		/* The exclusive lock waits for a daemon's exclusive use, and its hook records
		 * the slot (fio_log_orphan). No data file: nothing to protect, recorded here. */
		r = data_file_open_locked(x->data, ino, 0, true, &fd);
		if (r == 0) {
			data_file_unlock(fd);
			data_file_close(x->data, fd);
		} else if (r == ENOENT) {
			r = fio_slot_recover(x, &x->fio_log->map[k]);
		}
		if (r && rc == 0)
			rc = r;
	}
	return rc;
}

int fio_getattr(struct export_ctx *x, uint64_t ino, struct meta_inode *out)
{
	struct fio_stripe *st = fio_stripe(ino);
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = ns_getattr(x->ns, ino, out);
	if (rc == 0)
		fio_deferred_merge(st, x, ino, out);
	pthread_mutex_unlock(&st->lock);
	return rc;
}

int fio_lookup(struct export_ctx *x, uint64_t dir, const char *name, size_t len,
	       struct meta_inode *out)
{
	int rc = ns_lookup(x->ns, dir, name, len, out);

	/* Only a file with a deferred entry is read again, under its stripe lock. */
	if (rc == 0 && out->type == META_T_REG) {
		struct fio_stripe *st = fio_stripe(out->ino);

		pthread_mutex_lock(&st->lock);
		if (fio_deferred_find(st, x, out->ino) != NULL) {
			uint64_t ino = out->ino;

			rc = ns_getattr(x->ns, ino, out);
			if (rc == 0)
				fio_deferred_merge(st, x, ino, out);
		}
		pthread_mutex_unlock(&st->lock);
	}
	return rc;
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

/* May this write's record wait in the deferred table? (struct fio_deferred.) Not a
 * stable write, nor one that clears set-id bits (a security change is recorded before
 * the reply), nor one of a file not all local or of s3files' own. */
static bool fio_may_defer(const struct export_ctx *x, const struct fio_write *w,
			  const struct meta_inode *in)
{
	return x->fio_log && x->cfg->write_record_delay_ms > 0 && !w->stable && !w->clear_mode &&
	       in->data == META_D_FULL && !(in->flags & META_F_RESERVED);
}

/* A written, unstable write joins ino's deferred entry, or starts one that takes over
 * *fd (and its shared lock: *fd becomes -1). false when the table is full (the caller
 * records as without deferral). An entry older than the delay is folded at once (the
 * writes of a long stream are recorded every Write_Record_Delay_Ms). Stripe lock held. */
static bool fio_defer(struct export_ctx *x, struct fio_stripe *st, uint64_t ino, int *fd,
		      const struct meta_inode *in, uint64_t off, uint64_t end)
{
	struct fio_deferred *d = fio_deferred_find(st, x, ino);
	int64_t now = meta_now_ns();

	if (!d) {
		int k = -1;

		/* A record of this file still on its way would move the change attribute
		 * under the entry's base (fio_slot_recover): none may be. */
		if (fio_pending_find(st, x, ino) >= 0)
			return false;
		/* A slot a dead writer left (not recovered yet) is not free. */
		for (int i = 0; i < FIO_DEFERRED && k < 0; i++)
			if (!st->deferred[i].x && !atomic_load(&fio_log_slot(x, st, i)->ino))
				k = i;
		if (k < 0)
			return false;
		d = &st->deferred[k];
		*d = (struct fio_deferred){ .x = x, .ino = ino, .fd = *fd, .off = off, .end = end,
					    .first_ns = now, .base_change = in->change };
		d->slot = fio_log_slot(x, st, k);
		*fd = -1;
	}
	if (off < d->off)
		d->off = off;
	if (end > d->end)
		d->end = end;
	d->writes++;
	if (now > d->last_ns)
		d->last_ns = now;
	fio_slot_write(d);
	TP("fio.write.deferred");
	/* A failed fold keeps the entry (logged; the next flush tries again, and a COMMIT
	 * reports it): this write is held, not lost. */
	if (now - d->first_ns >= (int64_t)x->cfg->write_record_delay_ms * 1000000LL)
		(void)fio_deferred_fold(d);
	return true;
}

int fio_write(struct export_ctx *x, uint64_t ino, const struct fio_write *w, size_t *written,
	      struct meta_inode *out)
{
	struct fio_stripe *st = fio_stripe(ino);
	size_t want = fio_iov_len(w->iov, w->iovcnt), total = 0;
	struct fio_deferred *d;
	struct meta_inode in;
	int fd = -1, slot = -1, rc = 0;
	bool stripe_held, deferred = false, borrowed = false;

	*written = 0;
	if (w->off > INT64_MAX || want > INT64_MAX - w->off)
		return EFBIG;
	pthread_mutex_lock(&st->lock);
	stripe_held = true;
	/* A write recorded before its reply goes after the deferred ones (its times are
	 * later), and reuses nothing of theirs. */
	d = fio_deferred_find(st, x, ino);
	if (d && (w->stable || w->clear_mode || !x->cfg->write_record_delay_ms)) {
		rc = fio_deferred_fold(d);
		d = NULL;
	}
	/* The next write of a file with deferred writes uses the entry's descriptor, whose
	 * shared data lock the entry holds (no open, lock and close per WRITE). */
	if (d) {
		fd = d->fd;
		borrowed = true;
	} else if (rc == 0) {
		rc = data_file_open_locked(x->data, ino, DATA_CREATE, false, &fd);
	}
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
		p = fio_pending_find(st, x, ino);
		if (p >= 0 && st->pending[p].end > end)
			end = st->pending[p].end;
		if ((d = fio_deferred_find(st, x, ino)) != NULL && d->end > end)
			end = d->end;
		if (rc == 0 && w->off > end)
			rc = fio_clear_tail(x, ino, fd, end);
		for (int i = 0; rc == 0 && i < w->iovcnt; i++) {
			rc = data_file_write(fd, w->iov[i].iov_base, w->iov[i].iov_len, w->off + total);
			total += w->iov[i].iov_len;
		}
		TP("fio.write.written");
		if (rc == 0 && w->stable)
			rc = data_file_durable(x->data, ino, fd);
		if (rc == 0 && fio_may_defer(x, w, &in))
			deferred = fio_defer(x, st, ino, &fd, &in, w->off, w->off + want);
		if (borrowed)
			fd = -1;	/* the entry's (and closed with it if it was just recorded) */
		if (deferred) {
			if (rc == 0 && out) {
				rc = ns_getattr(x->ns, ino, out);
				if (rc == 0)
					fio_deferred_merge(st, x, ino, out);
			}
			goto unlock;
		}
		/* Recorded without the stripe, so that writes to this file group their
		 * commits (see struct fio_stripe); the data lock stays held. */
		if (rc == 0 && (slot = fio_pending_add(st, x, ino, w->off + want)) >= 0) {
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
unlock:
		if (fd >= 0) {
			data_file_unlock(fd);
			data_file_close(x->data, fd);
		}
	}
	if (stripe_held)
		pthread_mutex_unlock(&st->lock);
	if (rc == 0)
		*written = want;
	return rc;
}

/* ns_data_present with ino's deferred writes merged (a read sees every write answered
 * before it). Data lock held (shared); takes the stripe lock. */
static int fio_present(struct export_ctx *x, uint64_t ino, struct rangeset *have,
		       struct meta_inode *in)
{
	struct fio_stripe *st = fio_stripe(ino);
	int rc;

	pthread_mutex_lock(&st->lock);
	rc = ns_data_present(x->ns, ino, have, in);
	if (rc == 0)
		fio_deferred_merge(st, x, ino, in);
	pthread_mutex_unlock(&st->lock);
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
		rc = fio_present(x, ino, &have, &in);
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

/* Would setattr sa (with NS_SET_SIZE) leave record in as it is? The size is its size, and
 * nothing else is asked but the set-id bits' drop of a truncate (NS_SET_KILL_SUID) when
 * there are none to drop. The caller has the record from under the data lock, of a file
 * that is not clean (imports leave it alone), and the FSAL holds its access lock for a
 * truncate that drops set-id bits (no mode change of ours in between). */
static bool fio_resize_is_noop(const struct meta_inode *in, const struct ns_setattr *sa)
{
	bool setid = (in->mode & S_ISUID) || ((in->mode & S_ISGID) && (in->mode & S_IXGRP));

	if (sa->size != in->size || (sa->mask & ~(unsigned)(NS_SET_SIZE | NS_SET_KILL_SUID)))
		return false;
	return !(sa->mask & NS_SET_KILL_SUID) || !setid;
}

int fio_resize(struct export_ctx *x, uint64_t ino, uint64_t size, const struct ns_setattr *rest,
	       struct meta_inode *out)
{
	struct ns_setattr sa = rest ? *rest : (struct ns_setattr){ 0 };
	struct fio_deferred *d;
	struct meta_inode in;
	int fd = -1, rc = 0;

	if (size > INT64_MAX)
		return EFBIG;
	sa.mask |= NS_SET_SIZE;
	sa.size = size;
	fio_stripe_lock_idle(fio_stripe(ino), x, ino);
	/* The deferred writes first: the resize decides from a record that has them. */
	if ((d = fio_deferred_find(fio_stripe(ino), x, ino)) != NULL)
		rc = fio_deferred_fold(d);
	if (rc == 0)
		rc = data_file_open_locked(x->data, ino, DATA_CREATE, false, &fd);
	if (rc == 0) {
		rc = ns_getattr(x->ns, ino, &in);
		if (rc == ENOENT)
			rc = ESTALE;
		if (rc == 0 && in.type != META_T_REG)
			rc = in.type == META_T_DIR ? EISDIR : EINVAL;
		TP("fio.resize.locked");
		/* A resize to the current size of a file that is not clean (open with O_TRUNC
		 * of a file just made) changes no byte, at most the record's times, like a
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
		} else if (rc == 0 && fio_resize_is_noop(&in, &sa)) {
			/* A resize to the current size and nothing else (open with O_TRUNC of a
			 * file just made) changes nothing, as truncate(2) of a local file to its
			 * size: no transaction; the sync below still makes the record durable. */
			if (out)
				*out = in;
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

	/* Deferred records reach the store first. Then no lock: whatever writes returned
	 * before the COMMIT are in the file and the store (both in the page cache); this
	 * makes them durable. */
	if ((rc = fio_flush(x, ino)) != 0)
		return rc;
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

	/* Exclusive: our own deferred entry is recorded first (fio_log_own). */
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
