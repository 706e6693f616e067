/*
 * meta.c — see meta.h.
 *
 * Encoding choices
 *  - Integer-keyed tables (inodes, dirty, extents, symlinks, changes) use MDB_INTEGERKEY
 *    with native u64 keys: compact and ordered.
 *  - dirents/cookies keys start with the parent as big-endian u64 so that all entries of
 *    one directory are adjacent and memcmp order is (parent, name) / (parent, cookie).
 *  - Inode records are a version byte followed by LEB128 varints (zigzag for signed
 *    values) and length-prefixed strings: most fields are small, so a record is ~100
 *    bytes instead of ~200 for a fixed struct (the goal is <= 300 B per object overall).
 *    Fields added later go after the name, are written only when non-zero and read as 0
 *    when absent (due_gen): old and new records decode alike, no schema change.
 *  - LMDB keys are limited to 511 bytes but S3 keys reach 1,024: a key longer than 480
 *    bytes is stored as its first 448 bytes + SHA-256 of the whole key + 0xFF (481 bytes,
 *    a length no raw key has). The full key is kept in the value where it is needed.
 *
 * Map growth: LMDB fails a write with MDB_MAP_FULL when the map is too small. Growing
 * needs no transaction of this process open, so every transaction holds resize_lock
 * shared and meta_env_grow takes it exclusive. Other processes see MDB_MAP_RESIZED at
 * their next txn_begin and adopt the new size the same way.
 */
#include "store/meta.h"

#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/tp.h"
#include "store/info_keys.h"
#include "base/clock.h"
#include "base/hex.h"

/* Schema 3 added the moves and dirjobs tables (they start empty, which is exactly an
 * older store's state); schema 4 the s3dirs index, which an upgrade builds from the
 * inodes, and the prefetch queue (empty); schema 5 the intents table (empty: an older
 * daemon recorded no intents); schema 6 the special file types (FIFO, socket, devices:
 * no table changes, but an older build would take such records for corrupt, so it must
 * refuse the store). Stores of schema 2 to 5 are upgraded in place. */
#define META_SCHEMA 6
#define META_SCHEMA_S3DIRS 4	/* the first schema with the s3dirs index */
#define META_SCHEMA_UPGRADABLE_MIN 2
#define META_REC_VERSION 2
#define META_RAWKEY_MAX 480
#define META_HASHKEY_HEAD 448
#define META_BKEY_MAX (META_HASHKEY_HEAD + SHA256_DIGEST_LENGTH + 1)

enum meta_dbi_idx {
	DB_INODES, DB_DIRENTS, DB_COOKIES, DB_KEYS, DB_DIRTY, DB_DELETES, DB_EXTENTS,
	DB_SYMLINKS, DB_CHANGES, DB_BADKEYS, DB_INFO, DB_MOVES, DB_DIRJOBS, DB_S3DIRS, DB_PREFETCH,
	DB_INTENTS, DB_COUNT
};

static const struct {
	const char *name;
	unsigned flags;
} meta_tables[DB_COUNT] = {
	[DB_INODES] = { "inodes", MDB_INTEGERKEY },
	[DB_DIRENTS] = { "dirents", 0 },
	[DB_COOKIES] = { "cookies", 0 },
	[DB_KEYS] = { "keys", 0 },
	[DB_DIRTY] = { "dirty", MDB_INTEGERKEY },
	[DB_DELETES] = { "deletes", 0 },
	[DB_EXTENTS] = { "extents", MDB_INTEGERKEY },
	[DB_SYMLINKS] = { "symlinks", MDB_INTEGERKEY },
	[DB_CHANGES] = { "changes", MDB_INTEGERKEY },
	[DB_BADKEYS] = { "badkeys", 0 },
	[DB_INFO] = { "info", 0 },
	[DB_MOVES] = { "moves", MDB_INTEGERKEY },
	[DB_DIRJOBS] = { "dirjobs", MDB_INTEGERKEY },
	[DB_S3DIRS] = { "s3dirs", MDB_INTEGERKEY },
	[DB_PREFETCH] = { "prefetch", MDB_INTEGERKEY },
	[DB_INTENTS] = { "intents", 0 },
};

/* Longest wait for a group commit of ours that will make the caller's transactions
 * durable (meta_durable_locked) before the caller syncs itself: a bound, so a slow or
 * blocked transaction (the writer lock held by the other process) costs a sync, never
 * a wait without end. */
#define META_SYNC_RIDE_NS 3000000LL	/* default of meta_opts.sync_ride_ns */

struct meta_env {
	MDB_env *env;
	MDB_dbi dbi[DB_COUNT];
	uint64_t map_size_max;
	/* Held shared by every open transaction of this process, exclusive to resize. */
	pthread_rwlock_t resize_lock;
	char *dir;
	bool nosync;
	/* Group commit of meta_sync: sync_lock protects the four fields below; sync_cond
	 * wakes the waiters when a sync ends. A ticket is taken after the caller's commit; a
	 * sync covers every ticket taken before it started (sync_started). */
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_cond;
	uint64_t sync_ticket;		/* last ticket handed out */
	uint64_t sync_started;		/* tickets <= this are covered by the running sync */
	uint64_t sync_done;		/* tickets <= this are durable */
	bool syncing;
	uint64_t syncs;			/* syncs done (statistics) */
	uint64_t rides;			/* meta_sync calls a group commit made durable */
	int64_t sync_ride_ns;		/* meta_opts.sync_ride_ns */
	int sync_err;			/* error of the last sync (0: none) */
	uint64_t synced_txnid;		/* transactions (of any process) up to this one are
					   durable: committed before a sync of ours began */
	/* Group commit of meta_write: group_lock protects the queue and group_leading;
	 * group_cond wakes the queued callers when a group ends. */
	pthread_mutex_t group_lock;
	pthread_cond_t group_cond;
	struct meta_job *group_head, **group_tail;
	bool group_leading;
	uint64_t groups, group_jobs;	/* statistics: groups committed, jobs in them */
};

/* One caller of meta_write waiting in (or leading) a group. */
struct meta_job {
	meta_txn_fn fn;
	void *arg;
	int rc;
	bool done;
	struct meta_job *next;
};

struct meta_txn {
	struct meta_env *env;
	MDB_txn *txn;
	bool write;
};

static int64_t meta_fixed_clock;

int64_t meta_now_ns(void)
{
	return meta_fixed_clock ? meta_fixed_clock : clock_real_ns();
}

void meta_clock_set(int64_t fixed_ns)
{
	meta_fixed_clock = fixed_ns;
}

/* ---- varint record codec ---- */

struct meta_wbuf {
	uint8_t *p;
	size_t len, cap;
};

static void wb_u64(struct meta_wbuf *b, uint64_t v)
{
	do {
		uint8_t byte = v & 0x7f;

		v >>= 7;
		if (v)
			byte |= 0x80;
		if (b->len < b->cap)
			b->p[b->len] = byte;
		b->len++;
	} while (v);
}

static void wb_i64(struct meta_wbuf *b, int64_t v)
{
	wb_u64(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void wb_str(struct meta_wbuf *b, const char *s, size_t len)
{
	wb_u64(b, len);
	if (b->len + len <= b->cap)
		memcpy(b->p + b->len, s, len);
	b->len += len;
}

static void wb_bytes(struct meta_wbuf *b, const void *p, size_t len)
{
	if (b->len + len <= b->cap)
		memcpy(b->p + b->len, p, len);
	b->len += len;
}

struct meta_rbuf {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static uint64_t rb_u64(struct meta_rbuf *b)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (b->off < b->len && shift < 64) {
		uint8_t byte = b->p[b->off++];

		v |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80))
			return v;
		shift += 7;
	}
	b->bad = true;
	return 0;
}

static int64_t rb_i64(struct meta_rbuf *b)
{
	uint64_t u = rb_u64(b);

	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* len raw bytes, or NULL when the record is short. */
static const uint8_t *rb_bytes(struct meta_rbuf *b, size_t len)
{
	const uint8_t *p;

	if (b->bad || len > b->len - b->off) {
		b->bad = true;
		return NULL;
	}
	p = b->p + b->off;
	b->off += len;
	return p;
}

/* Copy a length-prefixed string into dst (capacity cap, NUL-terminated). */
static size_t rb_str(struct meta_rbuf *b, char *dst, size_t cap)
{
	uint64_t len = rb_u64(b);

	if (b->bad || len >= cap || len > b->len - b->off) {
		b->bad = true;
		dst[0] = '\0';
		return 0;
	}
	memcpy(dst, b->p + b->off, len);
	dst[len] = '\0';
	b->off += len;
	return len;
}

#define META_REC_MAX 1024

/*
 * Compact forms, because the inode record is most of the store's size (bytes per object
 * is a scale goal): an ETag that is an MD5 in lowercase hex ("<32 hex>" or the multipart
 * "<32 hex>-<parts>") is stored as 16 raw bytes (+ the part count) instead of 32+ text
 * bytes; atime and ctime are stored as differences from mtime and synced_ns from ctime,
 * which are 0 or small for imported objects. Differences are taken modulo 2^64 so every
 * value round-trips exactly.
 */
enum { META_ETAG_TEXT = 0, META_ETAG_MD5 = 1, META_ETAG_MD5_PARTS = 2 };

static void wb_etag(struct meta_wbuf *b, const char *etag)
{
	size_t n = strnlen(etag, S3_ETAG_MAX);
	uint8_t md5[16];
	uint64_t parts = 0;

	/* lowercase only: what rb_etag prints back must be the ETag stored */
	if (n >= 32 && hex_decode(etag, 32, md5, true) == 0) {
		if (n == 32) {
			wb_u64(b, META_ETAG_MD5);
			wb_bytes(b, md5, 16);
			return;
		}
		/* "-<decimal without leading zero>", small enough to print back the same */
		if (etag[32] == '-' && n > 33 && n <= 33 + 9 && etag[33] != '0') {
			size_t i;

			for (i = 33; i < n && etag[i] >= '0' && etag[i] <= '9'; i++)
				parts = parts * 10 + (uint64_t)(etag[i] - '0');
			if (i == n) {
				wb_u64(b, META_ETAG_MD5_PARTS);
				wb_bytes(b, md5, 16);
				wb_u64(b, parts);
				return;
			}
		}
	}
	wb_u64(b, META_ETAG_TEXT);
	wb_str(b, etag, n);
}

static void rb_etag(struct meta_rbuf *b, char *dst, size_t cap)
{
	uint64_t form = rb_u64(b);
	const uint8_t *md5;

	if (form == META_ETAG_TEXT) {
		rb_str(b, dst, cap);
		return;
	}
	md5 = rb_bytes(b, 16);
	if (!md5 || form > META_ETAG_MD5_PARTS || cap < 33 + 21) {
		b->bad = true;
		dst[0] = '\0';
		return;
	}
	hex_encode(md5, 16, dst);
	if (form == META_ETAG_MD5_PARTS)
		snprintf(dst + 32, cap - 32, "-%llu", (unsigned long long)rb_u64(b));
}

static void wb_delta(struct meta_wbuf *b, int64_t v, int64_t base)
{
	wb_i64(b, (int64_t)((uint64_t)v - (uint64_t)base));
}

static int64_t rb_delta(struct meta_rbuf *b, int64_t base)
{
	return (int64_t)((uint64_t)rb_i64(b) + (uint64_t)base);
}

static size_t meta_inode_encode(const struct meta_inode *in, uint8_t *buf, size_t cap)
{
	struct meta_wbuf b = { buf, 0, cap };

	wb_u64(&b, META_REC_VERSION);
	wb_u64(&b, in->type);
	wb_u64(&b, in->sync);
	wb_u64(&b, in->data);
	wb_u64(&b, in->flags);
	wb_u64(&b, in->mode);
	wb_u64(&b, in->uid);
	wb_u64(&b, in->gid);
	wb_u64(&b, in->nlink);
	wb_u64(&b, in->gen);
	wb_u64(&b, in->parent);
	wb_u64(&b, in->size);
	wb_u64(&b, in->change);
	wb_u64(&b, in->next_cookie);
	wb_u64(&b, in->dirty_gen);
	wb_u64(&b, in->s3_size);
	wb_i64(&b, in->mtime_ns);
	wb_delta(&b, in->atime_ns, in->mtime_ns);
	wb_delta(&b, in->ctime_ns, in->mtime_ns);
	wb_i64(&b, in->dirty_since_ns);
	wb_i64(&b, in->s3_mtime);
	wb_delta(&b, in->synced_ns, in->ctime_ns);
	wb_etag(&b, in->etag);
	wb_str(&b, in->version_id, strnlen(in->version_id, sizeof in->version_id));
	wb_str(&b, in->name, in->name_len);
	/* Optional trailing fields (see meta_inode_decode): written only when set. */
	if (in->due_gen || in->rdev)
		wb_u64(&b, in->due_gen);
	if (in->rdev)
		wb_u64(&b, in->rdev);
	return b.len;
}

static int meta_inode_decode(uint64_t ino, const void *data, size_t len, struct meta_inode *in)
{
	struct meta_rbuf b = { data, len, 0, false };

	memset(in, 0, sizeof *in);
	in->ino = ino;
	if (rb_u64(&b) != META_REC_VERSION)
		return S3F_E_META_CORRUPT;
	in->type = (uint8_t)rb_u64(&b);
	in->sync = (uint8_t)rb_u64(&b);
	in->data = (uint8_t)rb_u64(&b);
	in->flags = (uint32_t)rb_u64(&b);
	in->mode = (uint32_t)rb_u64(&b);
	in->uid = (uint32_t)rb_u64(&b);
	in->gid = (uint32_t)rb_u64(&b);
	in->nlink = (uint32_t)rb_u64(&b);
	in->gen = (uint32_t)rb_u64(&b);
	in->parent = rb_u64(&b);
	in->size = rb_u64(&b);
	in->change = rb_u64(&b);
	in->next_cookie = rb_u64(&b);
	in->dirty_gen = rb_u64(&b);
	in->s3_size = rb_u64(&b);
	in->mtime_ns = rb_i64(&b);
	in->atime_ns = rb_delta(&b, in->mtime_ns);
	in->ctime_ns = rb_delta(&b, in->mtime_ns);
	in->dirty_since_ns = rb_i64(&b);
	in->s3_mtime = rb_i64(&b);
	in->synced_ns = rb_delta(&b, in->ctime_ns);
	rb_etag(&b, in->etag, sizeof in->etag);
	rb_str(&b, in->version_id, sizeof in->version_id);
	in->name_len = (uint16_t)rb_str(&b, in->name, sizeof in->name);
	/* Fields after the name are optional and default to 0, so a record without them is
	 * the same record: adding one keeps META_REC_VERSION (older builds stop reading at
	 * the name and ignore what follows; writing such a record back drops the field). */
	if (!b.bad && b.off < b.len)
		in->due_gen = rb_u64(&b);
	if (!b.bad && b.off < b.len)
		in->rdev = rb_u64(&b);
	if (b.bad || in->type < META_T_REG || in->type > META_T_MAX) {
		LOG_ERROR(LOG_C_META, "corrupt inode record %llu (%zu bytes)",
			  (unsigned long long)ino, len);
		return S3F_E_META_CORRUPT;
	}
	return 0;
}

/* ---- environment ---- */

static int meta_mkdir_p(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof path)
		return EINVAL;
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return errno;
	return 0;
}

/* ---- s3dirs: directories bound to S3, the ones the daemon re-lists ----
 * Kept by meta_inode_put/meta_inode_del, so that a poll walks the directories, not every
 * inode of the store. */

static int meta_s3dirs_set(MDB_txn *txn, MDB_dbi dbi, uint64_t ino, bool on)
{
	MDB_val k = { sizeof ino, &ino }, v = { 0, NULL };
	int rc;

	if (on)
		return mdb_put(txn, dbi, &k, &v, 0);
	rc = mdb_del(txn, dbi, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Fill the index from the inodes (upgrade from a schema without it). */
static int meta_s3dirs_build(struct meta_env *me, MDB_txn *txn)
{
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t n = 0;
	int rc;

	rc = mdb_cursor_open(txn, me->dbi[DB_INODES], &cur);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct meta_inode in;
		uint64_t ino;

		memcpy(&ino, k.mv_data, 8);
		rc = meta_inode_decode(ino, v.mv_data, v.mv_size, &in);
		if (rc)
			break;
		if (in.type == META_T_DIR && (in.flags & META_F_IN_S3)) {
			rc = meta_s3dirs_set(txn, me->dbi[DB_S3DIRS], ino, true);
			if (rc)
				break;
			n++;
		}
	}
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (rc == 0)
		LOG_INFO(LOG_C_META, "%s: indexed %llu directories bound to S3", me->dir,
			 (unsigned long long)n);
	return rc;
}

static int meta_env_bootstrap(struct meta_env *me)
{
	MDB_txn *txn = NULL;
	MDB_val k, v;
	uint32_t schema = META_SCHEMA;
	int rc;

	rc = mdb_txn_begin(me->env, NULL, 0, &txn);
	if (rc == MDB_MAP_RESIZED) {
		/* Another process grew the map since our open: adopt it (no txn open yet). */
		rc = mdb_env_set_mapsize(me->env, 0);
		if (rc == 0)
			rc = mdb_txn_begin(me->env, NULL, 0, &txn);
	}
	if (rc)
		return rc;
	for (int i = 0; i < DB_COUNT; i++) {
		rc = mdb_dbi_open(txn, meta_tables[i].name, MDB_CREATE | meta_tables[i].flags,
				  &me->dbi[i]);
		if (rc)
			goto fail;
	}

	k.mv_data = (void *)META_INFO_SCHEMA;
	k.mv_size = sizeof META_INFO_SCHEMA - 1;
	rc = mdb_get(txn, me->dbi[DB_INFO], &k, &v);
	if (rc == 0) {
		uint32_t have;

		if (v.mv_size != sizeof have) {
			rc = S3F_E_META_CORRUPT;
			goto fail;
		}
		memcpy(&have, v.mv_data, sizeof have);
		if (have >= META_SCHEMA_UPGRADABLE_MIN && have < META_SCHEMA) {
			/* The tables opened above with MDB_CREATE, and the s3dirs index. */
			rc = have < META_SCHEMA_S3DIRS ? meta_s3dirs_build(me, txn) : 0;
			if (rc)
				goto fail;
			k.mv_data = (void *)META_INFO_SCHEMA;
			k.mv_size = sizeof META_INFO_SCHEMA - 1;
			v.mv_data = &schema;
			v.mv_size = sizeof schema;
			rc = mdb_put(txn, me->dbi[DB_INFO], &k, &v, 0);
			if (rc)
				goto fail;
			LOG_INFO(LOG_C_META, "%s: store upgraded from schema %u to %u", me->dir,
				 have, META_SCHEMA);
			have = META_SCHEMA;
		}
		if (have != META_SCHEMA) {
			LOG_ERROR(LOG_C_META, "%s: store schema %u, this build reads %u", me->dir,
				  have, META_SCHEMA);
			rc = S3F_E_META_VERSION;
			goto fail;
		}
		return mdb_txn_commit(txn);
	}
	if (rc != MDB_NOTFOUND)
		goto fail;

	/* New store: schema, counters, the root directory. */
	v.mv_data = &schema;
	v.mv_size = sizeof schema;
	rc = mdb_put(txn, me->dbi[DB_INFO], &k, &v, 0);
	if (rc)
		goto fail;
	{
		/* Generations start from a per-store random base, so a handle minted by an
		 * earlier, wiped store never resolves to an unrelated inode of this one. */
		uint64_t next_ino = META_ROOT_INO + 1;
		uint32_t gen_base;
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		gen_base = (uint32_t)(ts.tv_nsec ^ (ts.tv_sec << 8) ^ ((uint64_t)getpid() << 16));
		gen_base &= 0x7fffffff;
		gen_base |= 1;
		k.mv_data = (void *)META_INFO_NEXT_INO;
		k.mv_size = sizeof META_INFO_NEXT_INO - 1;
		v.mv_data = &next_ino;
		v.mv_size = sizeof next_ino;
		if ((rc = mdb_put(txn, me->dbi[DB_INFO], &k, &v, 0)))
			goto fail;
		k.mv_data = (void *)META_INFO_GEN;
		k.mv_size = sizeof META_INFO_GEN - 1;
		v.mv_data = &gen_base;
		v.mv_size = sizeof gen_base;
		if ((rc = mdb_put(txn, me->dbi[DB_INFO], &k, &v, 0)))
			goto fail;

		struct meta_inode root;
		uint8_t rec[META_REC_MAX];
		uint64_t ino = META_ROOT_INO;

		meta_inode_init(&root, META_ROOT_INO, gen_base, META_ROOT_INO, META_T_DIR, 0755,
				0, 0, meta_now_ns());
		root.flags |= META_F_IN_S3;
		k.mv_data = &ino;
		k.mv_size = sizeof ino;
		v.mv_data = rec;
		v.mv_size = meta_inode_encode(&root, rec, sizeof rec);
		if ((rc = mdb_put(txn, me->dbi[DB_INODES], &k, &v, 0)) ||
		    (rc = meta_s3dirs_set(txn, me->dbi[DB_S3DIRS], ino, true)))
			goto fail;
	}
	return mdb_txn_commit(txn);
fail:
	mdb_txn_abort(txn);
	return rc;
}

int meta_env_open(const char *dir, const struct meta_opts *opts, struct meta_env **out)
{
	struct meta_opts o = { 0 };
	struct meta_env *me;
	unsigned flags = MDB_NOTLS;
	int rc;

	if (opts)
		o = *opts;
	if (!o.map_size)
		o.map_size = 1ULL << 30;
	if (!o.map_size_max)
		o.map_size_max = 1ULL << 40;
	if (!o.max_readers)
		o.max_readers = 512;
	/* Durable: one fsync per commit (data pages); the meta page is synced by the next
	 * commit, so a crash loses at most the last transaction, never consistency. */
	flags |= o.nosync ? MDB_NOSYNC : MDB_NOMETASYNC;

	me = calloc(1, sizeof *me);
	if (!me)
		return ENOMEM;
	me->map_size_max = o.map_size_max;
	me->nosync = o.nosync;
	me->sync_ride_ns = o.sync_ride_ns > 0 ? o.sync_ride_ns : META_SYNC_RIDE_NS;
	pthread_mutex_init(&me->sync_lock, NULL);
	pthread_cond_init(&me->sync_cond, NULL);
	pthread_mutex_init(&me->group_lock, NULL);
	clock_cond_init(&me->group_cond);	/* meta_sync waits on it with a deadline */
	me->group_tail = &me->group_head;
	me->dir = strdup(dir);
	if (!me->dir) {
		rc = ENOMEM;
		goto fail_alloc;
	}
	{
		pthread_rwlockattr_t ra;

		pthread_rwlockattr_init(&ra);
		/* Writer preference: a resize must not starve behind a stream of readers. */
		pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		rc = pthread_rwlock_init(&me->resize_lock, &ra);
		pthread_rwlockattr_destroy(&ra);
		if (rc)
			goto fail_alloc;
	}
	rc = meta_mkdir_p(dir);
	if (rc) {
		LOG_ERROR(LOG_C_META, "cannot create %s: %s", dir, strerror(rc));
		goto fail_lock;
	}
	rc = mdb_env_create(&me->env);
	if (rc)
		goto fail_lock;
	if ((rc = mdb_env_set_maxdbs(me->env, DB_COUNT + 2)) ||
	    (rc = mdb_env_set_maxreaders(me->env, o.max_readers)) ||
	    (rc = mdb_env_set_mapsize(me->env, o.map_size)))
		goto fail_env;
	rc = mdb_env_open(me->env, dir, flags, 0600);
	if (rc) {
		LOG_ERROR(LOG_C_META, "cannot open LMDB store in %s: %s", dir, mdb_strerror(rc));
		goto fail_env;
	}
	if (mdb_env_get_maxkeysize(me->env) < META_BKEY_MAX) {
		LOG_ERROR(LOG_C_META, "LMDB max key size %d < %d", mdb_env_get_maxkeysize(me->env),
			  META_BKEY_MAX);
		rc = EINVAL;
		goto fail_env;
	}
	/* Clear reader slots left by crashed processes. */
	{
		int dead = 0;

		mdb_reader_check(me->env, &dead);
		if (dead)
			LOG_WARN(LOG_C_META, "%s: cleared %d stale reader slot(s)", dir, dead);
	}
	rc = meta_env_bootstrap(me);
	if (rc) {
		if (rc != S3F_E_META_VERSION)
			LOG_ERROR(LOG_C_META, "cannot initialize store in %s: %s", dir,
				  s3f_strerror(rc));
		goto fail_env;
	}
	*out = me;
	return 0;

fail_env:
	mdb_env_close(me->env);
fail_lock:
	pthread_rwlock_destroy(&me->resize_lock);
fail_alloc:
	pthread_cond_destroy(&me->group_cond);
	pthread_mutex_destroy(&me->group_lock);
	pthread_cond_destroy(&me->sync_cond);
	pthread_mutex_destroy(&me->sync_lock);
	free(me->dir);
	free(me);
	return rc;
}

void meta_env_close(struct meta_env *me)
{
	if (!me)
		return;
	mdb_env_close(me->env);
	pthread_rwlock_destroy(&me->resize_lock);
	pthread_cond_destroy(&me->group_cond);
	pthread_mutex_destroy(&me->group_lock);
	pthread_cond_destroy(&me->sync_cond);
	pthread_mutex_destroy(&me->sync_lock);
	free(me->dir);
	free(me);
}

/* The last transaction committed to the store, by any process (its meta page, in the
 * shared map). */
static uint64_t meta_last_txnid(struct meta_env *me)
{
	MDB_envinfo info;

	if (mdb_env_info(me->env, &info) != 0)
		return UINT64_MAX;	/* unknown: sync */
	return (uint64_t)info.me_last_txnid;
}

/*
 * Is every transaction up to `need` durable? Either a sync of ours began after it was
 * committed (synced_txnid), or a later transaction has been committed, by any process:
 * with MDB_NOMETASYNC a commit fdatasyncs the file (mdb_env_sync0) before it writes its
 * meta page, and the transactions before it wrote theirs before it began (the writer
 * lock orders them), so the meta page of a transaction <= need was on disk before a meta
 * page with a higher id could appear in the map. (Every opener of a store uses
 * MDB_NOMETASYNC; nosync is for tests alone, and returns before this.) Called with
 * sync_lock held; the second way raises synced_txnid too.
 */
static bool meta_durable_locked(struct meta_env *me, uint64_t need)
{
	uint64_t last = meta_last_txnid(me);

	if (last != UINT64_MAX && last > 0 && last - 1 > me->synced_txnid)
		me->synced_txnid = last - 1;
	return need <= me->synced_txnid;
}

/* A group commit of this process is running (meta_write's leader): wait, at most until
 * deadline, for it to end. True if one ran and ended. Its transaction began after the
 * caller's committed, so if it committed anything, the caller's are durable. */
static bool meta_group_ride(struct meta_env *me, int64_t deadline)
{
	struct timespec ts = clock_mono_abstime(deadline);
	uint64_t g;
	bool ended = false;

	pthread_mutex_lock(&me->group_lock);
	if (me->group_leading) {
		g = me->groups;
		while (me->group_leading && me->groups == g)
			if (pthread_cond_timedwait(&me->group_cond, &me->group_lock, &ts) == ETIMEDOUT)
				break;
		ended = me->groups != g;
	}
	pthread_mutex_unlock(&me->group_lock);
	return ended;
}

/*
 * What must be durable is every transaction committed when the caller asks (need: the
 * store's last id then). A later commit of anyone's makes it so (meta_durable_locked):
 * while a group commit of ours is running, the caller waits for it (bounded) instead of
 * syncing, so callers that commit one after another share the commits' own fdatasyncs
 * instead of adding one each. Otherwise one thread syncs at a time; the others wait for
 * the sync that starts after their ticket. A caller's own transaction was committed
 * before it took its ticket, so the first sync started after that covers it: a sync
 * already running when the ticket was taken may have begun before the commit reached
 * the file and does not count.
 */
int meta_sync(struct meta_env *me)
{
	uint64_t ticket, txnid, need;
	int64_t deadline;
	int rc = 0;

	TP("meta.sync");
	if (me->nosync)
		return 0;
	pthread_mutex_lock(&me->sync_lock);
	need = meta_last_txnid(me);
	if (meta_durable_locked(me, need)) {
		pthread_mutex_unlock(&me->sync_lock);
		return 0;
	}
	pthread_mutex_unlock(&me->sync_lock);
	deadline = clock_mono_ns() + me->sync_ride_ns;
	while (clock_mono_ns() < deadline && meta_group_ride(me, deadline)) {
		pthread_mutex_lock(&me->sync_lock);
		if (meta_durable_locked(me, need)) {
			me->rides++;
			pthread_mutex_unlock(&me->sync_lock);
			return 0;
		}
		pthread_mutex_unlock(&me->sync_lock);
	}
	pthread_mutex_lock(&me->sync_lock);
	if (meta_durable_locked(me, need)) {
		pthread_mutex_unlock(&me->sync_lock);
		return 0;
	}
	ticket = ++me->sync_ticket;
	while (me->sync_done < ticket) {
		if (me->syncing) {
			pthread_cond_wait(&me->sync_cond, &me->sync_lock);
			continue;
		}
		me->syncing = true;
		me->sync_started = me->sync_ticket;
		pthread_mutex_unlock(&me->sync_lock);
		txnid = meta_last_txnid(me);
		rc = mdb_env_sync(me->env, 1);
		pthread_mutex_lock(&me->sync_lock);
		me->syncing = false;
		me->syncs++;
		me->sync_err = rc;
		if (rc == 0 && txnid > me->synced_txnid)
			me->synced_txnid = txnid;
		if (rc == 0)
			me->sync_done = me->sync_started;
		pthread_cond_broadcast(&me->sync_cond);
		if (rc)
			break;
	}
	pthread_mutex_unlock(&me->sync_lock);
	if (rc)
		LOG_ERROR(LOG_C_META, "%s: sync failed: %s", me->dir, mdb_strerror(rc));
	return rc;
}

uint64_t meta_sync_ride_count(struct meta_env *me)
{
	uint64_t n;

	pthread_mutex_lock(&me->sync_lock);
	n = me->rides;
	pthread_mutex_unlock(&me->sync_lock);
	return n;
}

uint64_t meta_sync_count(struct meta_env *me)
{
	uint64_t n;

	pthread_mutex_lock(&me->sync_lock);
	n = me->syncs;
	pthread_mutex_unlock(&me->sync_lock);
	return n;
}

void meta_write_counts(struct meta_env *me, uint64_t *groups, uint64_t *jobs)
{
	pthread_mutex_lock(&me->group_lock);
	*groups = me->groups;
	*jobs = me->group_jobs;
	pthread_mutex_unlock(&me->group_lock);
}

/* Grow the map (called with no transaction of ours open). */
static int meta_env_grow(struct meta_env *me)
{
	MDB_envinfo info;
	uint64_t cur, next;
	int rc;

	pthread_rwlock_wrlock(&me->resize_lock);
	mdb_env_info(me->env, &info);
	cur = info.me_mapsize;
	next = cur * 2;
	if (next > me->map_size_max)
		next = me->map_size_max;
	if (next <= cur) {
		pthread_rwlock_unlock(&me->resize_lock);
		LOG_ERROR(LOG_C_META, "%s: store full at its maximum size %llu bytes", me->dir,
			  (unsigned long long)cur);
		return ENOSPC;
	}
	rc = mdb_env_set_mapsize(me->env, next);
	pthread_rwlock_unlock(&me->resize_lock);
	if (rc == 0)
		LOG_INFO(LOG_C_META, "%s: map grown from %llu to %llu bytes", me->dir,
			 (unsigned long long)cur, (unsigned long long)next);
	return rc;
}

/* Another process grew the map: adopt its size. */
static int meta_env_adopt(struct meta_env *me)
{
	int rc;

	pthread_rwlock_wrlock(&me->resize_lock);
	rc = mdb_env_set_mapsize(me->env, 0);
	pthread_rwlock_unlock(&me->resize_lock);
	return rc;
}

int meta_txn_begin(struct meta_env *me, bool write, struct meta_txn **out)
{
	struct meta_txn *t;
	int rc;

	t = malloc(sizeof *t);
	if (!t)
		return ENOMEM;
	t->env = me;
	t->write = write;
	for (int tries = 0;; tries++) {
		pthread_rwlock_rdlock(&me->resize_lock);
		rc = mdb_txn_begin(me->env, NULL, write ? 0 : MDB_RDONLY, &t->txn);
		if (rc == 0)
			break;
		pthread_rwlock_unlock(&me->resize_lock);
		if (rc != MDB_MAP_RESIZED || tries > 3) {
			free(t);
			return rc;
		}
		rc = meta_env_adopt(me);
		if (rc) {
			free(t);
			return rc;
		}
	}
	*out = t;
	return 0;
}

int meta_txn_commit(struct meta_txn *t)
{
	int rc = mdb_txn_commit(t->txn);

	pthread_rwlock_unlock(&t->env->resize_lock);
	free(t);
	return rc;
}

void meta_txn_abort(struct meta_txn *t)
{
	if (!t)
		return;
	mdb_txn_abort(t->txn);
	pthread_rwlock_unlock(&t->env->resize_lock);
	free(t);
}

/* One transaction for one caller: the plain path, and a group of one. */
static int meta_write_one(struct meta_env *me, meta_txn_fn fn, void *arg)
{
	struct meta_txn *t;
	int rc;

	for (int tries = 0; tries < 40; tries++) {
		rc = meta_txn_begin(me, true, &t);
		if (rc)
			return rc;
		rc = fn(t, arg);
		if (rc == 0)
			rc = meta_txn_commit(t);
		else
			meta_txn_abort(t);
		if (rc != MDB_MAP_FULL)
			return rc;
		rc = meta_env_grow(me);
		if (rc)
			return rc;
	}
	return MDB_MAP_FULL;
}

/*
 * A group: one write transaction, each job in a nested transaction of its own (so a job
 * that fails takes back only its own writes, as its own transaction would have), one
 * commit — one fsync — for all. Each job's rc is its fn's, or its nested commit's, or the
 * group commit's. A full map anywhere: everything is taken back, the map grows and the
 * whole group runs again (fn is idempotent up to its writes, meta_write's contract).
 */
static void meta_write_group(struct meta_env *me, struct meta_job *jobs)
{
	struct meta_txn *t;
	struct meta_job *j;
	int rc;

	for (int tries = 0; tries < 40; tries++) {
		bool full = false;

		rc = meta_txn_begin(me, true, &t);
		if (rc)
			break;
		for (j = jobs; j && !full; j = j->next) {
			struct meta_txn child = { .env = me, .write = true };

			j->rc = mdb_txn_begin(me->env, t->txn, 0, &child.txn);
			if (j->rc)
				continue;
			j->rc = j->fn(&child, j->arg);
			if (j->rc == 0)
				j->rc = mdb_txn_commit(child.txn);
			else
				mdb_txn_abort(child.txn);
			full = j->rc == MDB_MAP_FULL;
		}
		if (full) {
			meta_txn_abort(t);
			rc = MDB_MAP_FULL;
		} else {
			rc = meta_txn_commit(t);
		}
		if (rc != MDB_MAP_FULL)
			break;
		rc = meta_env_grow(me);
		if (rc)
			break;
	}
	for (j = jobs; j; j = j->next)
		if (rc || j->rc == MDB_MAP_FULL)
			j->rc = rc ? rc : MDB_MAP_FULL;
}

/*
 * Group commit. Callers queue their job; one of them (the leader) takes the whole queue
 * and runs it as one transaction while the next callers queue behind; each caller
 * returns when the group that held its job has committed, so what it wrote is exactly as
 * durable as with a transaction of its own (MDB_NOMETASYNC: data pages fsync'd by the
 * commit). Concurrent callers share one fsync instead of taking turns for one each. A
 * caller alone runs its own transaction, as before.
 */
int meta_write(struct meta_env *me, meta_txn_fn fn, void *arg)
{
	struct meta_job job = { .fn = fn, .arg = arg };
	struct meta_job *batch, *j, *next;
	uint64_t n = 0;

	pthread_mutex_lock(&me->group_lock);
	*me->group_tail = &job;
	me->group_tail = &job.next;
	while (!job.done && me->group_leading)
		pthread_cond_wait(&me->group_cond, &me->group_lock);
	if (job.done) {
		pthread_mutex_unlock(&me->group_lock);
		return job.rc;
	}
	/* Lead: the queue (this job included) is the group. */
	me->group_leading = true;
	batch = me->group_head;
	me->group_head = NULL;
	me->group_tail = &me->group_head;
	pthread_mutex_unlock(&me->group_lock);

	if (!batch->next)
		batch->rc = meta_write_one(me, batch->fn, batch->arg);
	else
		meta_write_group(me, batch);

	pthread_mutex_lock(&me->group_lock);
	for (j = batch; j; j = next) {
		next = j->next;	/* j lives on its caller's stack: read before it may return */
		j->done = true;
		n++;
	}
	me->groups++;
	me->group_jobs += n;
	me->group_leading = false;
	pthread_cond_broadcast(&me->group_cond);
	pthread_mutex_unlock(&me->group_lock);
	return job.rc;
}

int meta_read(struct meta_env *me, meta_txn_fn fn, void *arg)
{
	struct meta_txn *t;
	int rc;

	rc = meta_txn_begin(me, false, &t);
	if (rc)
		return rc;
	rc = fn(t, arg);
	meta_txn_abort(t);
	return rc;
}

/* LMDB "not found" is ENOENT for our callers. */
static int meta_rc(int rc)
{
	return rc == MDB_NOTFOUND ? ENOENT : rc;
}

#define DBI(t, i) ((t)->env->dbi[(i)])

static MDB_val meta_u64_val(uint64_t *v)
{
	return (MDB_val){ sizeof *v, v };
}

/* ---- inodes ---- */

void meta_inode_init(struct meta_inode *in, uint64_t ino, uint32_t gen, uint64_t parent,
		     enum meta_type type, uint32_t mode, uint32_t uid, uint32_t gid, int64_t now_ns)
{
	memset(in, 0, sizeof *in);
	in->ino = ino;
	in->gen = gen;
	in->parent = parent;
	in->type = (uint8_t)type;
	in->mode = mode & 07777;
	in->uid = uid;
	in->gid = gid;
	in->nlink = type == META_T_DIR ? 2 : 1;
	in->atime_ns = in->mtime_ns = in->ctime_ns = now_ns;
	in->change = 1;
	in->next_cookie = META_COOKIE_FIRST;
	in->data = type == META_T_REG ? META_D_FULL : META_D_NONE;
}

int meta_inode_set_name(struct meta_inode *in, const char *name, size_t len)
{
	if (len > META_NAME_MAX)
		return ENAMETOOLONG;
	memcpy(in->name, name, len);
	in->name[len] = '\0';
	in->name_len = (uint16_t)len;
	return 0;
}

int meta_inode_get(struct meta_txn *t, uint64_t ino, struct meta_inode *out)
{
	MDB_val k = meta_u64_val(&ino), v;
	int rc = mdb_get(t->txn, DBI(t, DB_INODES), &k, &v);

	if (rc)
		return meta_rc(rc);
	return meta_inode_decode(ino, v.mv_data, v.mv_size, out);
}

/* ---- walking a table ----
 *
 * Every iterator below is meta_walk plus a row function that checks and decodes one record
 * and hands it to the caller's callback; what differs between them is only that. */

/* A row function's result: 0 goes on, META_WALK_END ends the walk with 0 (a range walk
 * that left its range), anything else ends it and is the walk's result. */
#define META_WALK_END INT_MIN

typedef int (*meta_row_fn)(void *ctx, const MDB_val *k, const MDB_val *v);

/* What a row function needs: the caller's callback and argument, and per iterator a
 * decode buffer too big for the stack or the range being walked. */
struct meta_walk_cb {
	union {
		meta_ino_fn ino;
		meta_inode_fn inode;
		meta_dirent_fn dirent;
		meta_dirent_row_fn dirent_row;
		meta_delete_fn del;
		meta_change_fn change;
		meta_dirjob_fn dirjob;
		meta_intent_fn intent;
		meta_key_row_fn key_row;
	} fn;
	void *arg;
	void *scratch;
	uint64_t dir, after;
	const MDB_val *skip;	/* a key not to report (meta_key_walk's `after`) */
};

/* Call row for each record of db in key order, from the first key or, when from is not
 * NULL, from the first key >= *from. */
static int meta_walk(struct meta_txn *t, int db, const MDB_val *from, meta_row_fn row,
		     void *ctx)
{
	MDB_cursor *cur;
	MDB_val k = { 0, NULL }, v;
	int rc;

	rc = mdb_cursor_open(t->txn, DBI(t, db), &cur);
	if (rc)
		return rc;
	if (from)
		k = *from;
	for (rc = mdb_cursor_get(cur, &k, &v, from ? MDB_SET_RANGE : MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		rc = row(ctx, &k, &v);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == META_WALK_END ? 0 : rc;
}

static int meta_row_ino(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct meta_walk_cb *cb = ctx;
	uint64_t ino;

	(void)v;
	if (k->mv_size != sizeof ino)
		return S3F_E_META_CORRUPT;
	memcpy(&ino, k->mv_data, sizeof ino);
	return cb->fn.ino(cb->arg, ino);
}

/* ---- sets of inode numbers (dirty queue, prefetch queue): ino -> () ---- */

static int meta_iset_add(struct meta_txn *t, int db, uint64_t ino)
{
	MDB_val k = meta_u64_val(&ino), v = { 0, NULL };

	return mdb_put(t->txn, DBI(t, db), &k, &v, 0);
}

static int meta_iset_del(struct meta_txn *t, int db, uint64_t ino)
{
	MDB_val k = meta_u64_val(&ino);
	int rc = mdb_del(t->txn, DBI(t, db), &k, NULL);

	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int meta_iset_iter(struct meta_txn *t, int db, meta_ino_fn fn, void *arg)
{
	struct meta_walk_cb cb = { .fn.ino = fn, .arg = arg };

	return meta_walk(t, db, NULL, meta_row_ino, &cb);
}

int meta_inode_put(struct meta_txn *t, const struct meta_inode *in)
{
	uint8_t rec[META_REC_MAX];
	uint64_t ino = in->ino;
	size_t n = meta_inode_encode(in, rec, sizeof rec);
	MDB_val k = meta_u64_val(&ino), v = { n, rec };

	int rc;

	if (n > sizeof rec)
		return S3F_E_META_CORRUPT;
	rc = mdb_put(t->txn, DBI(t, DB_INODES), &k, &v, 0);
	/* Inode numbers are never reused and never change type: only directories can be
	 * (or stop being) in the index. */
	if (rc == 0 && in->type == META_T_DIR)
		rc = meta_s3dirs_set(t->txn, DBI(t, DB_S3DIRS), ino, (in->flags & META_F_IN_S3) != 0);
	return rc;
}

int meta_inode_del(struct meta_txn *t, uint64_t ino)
{
	MDB_val k = meta_u64_val(&ino);
	int rc = meta_rc(mdb_del(t->txn, DBI(t, DB_INODES), &k, NULL));

	if (rc == 0)
		rc = meta_s3dirs_set(t->txn, DBI(t, DB_S3DIRS), ino, false);
	if (rc == 0)
		rc = meta_iset_del(t, DB_PREFETCH, ino);
	return rc;
}

int meta_s3dir_iter(struct meta_txn *t, meta_ino_fn fn, void *arg)
{
	return meta_iset_iter(t, DB_S3DIRS, fn, arg);
}

static int meta_row_inode(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct meta_walk_cb *cb = ctx;
	struct meta_inode in;
	uint64_t ino;
	int rc;

	if (k->mv_size != sizeof ino)
		return S3F_E_META_CORRUPT;
	memcpy(&ino, k->mv_data, sizeof ino);
	rc = meta_inode_decode(ino, v->mv_data, v->mv_size, &in);
	return rc ? rc : cb->fn.inode(cb->arg, &in);
}

int meta_inode_iter(struct meta_txn *t, uint64_t after, meta_inode_fn fn, void *arg)
{
	struct meta_walk_cb cb = { .fn.inode = fn, .arg = arg };
	uint64_t from = after + 1;
	MDB_val k = meta_u64_val(&from);

	return meta_walk(t, DB_INODES, &k, meta_row_inode, &cb);
}

static int meta_info_u64(struct meta_txn *t, const char *name, uint64_t *v)
{
	size_t len;
	int rc = meta_info_get(t, name, v, sizeof *v, &len);

	if (rc == 0 && len != sizeof *v)
		rc = S3F_E_META_CORRUPT;
	return rc;
}

int meta_ino_alloc(struct meta_txn *t, uint64_t *ino, uint32_t *gen)
{
	uint64_t next;
	uint32_t g;
	size_t len;
	int rc;

	rc = meta_info_u64(t, META_INFO_NEXT_INO, &next);
	if (rc)
		return rc;
	rc = meta_info_get(t, META_INFO_GEN, &g, sizeof g, &len);
	if (rc)
		return rc;
	*ino = next++;
	*gen = g;
	return meta_info_put(t, META_INFO_NEXT_INO, &next, sizeof next);
}

/* ---- directory entries ---- */

/* dirents key: parent BE + name. */
static size_t meta_dkey(uint8_t *buf, uint64_t parent, const char *name, size_t len)
{
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(parent >> (56 - 8 * i));
	memcpy(buf + 8, name, len);
	return 8 + len;
}

static void meta_be64(uint8_t *buf, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t meta_get_be64(const uint8_t *buf)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | buf[i];
	return v;
}

/* dirents value: ino (u64 LE), cookie (u64 LE), type (u8). */
#define DIRENT_VAL 17

int meta_dirent_get(struct meta_txn *t, uint64_t parent, const char *name, size_t len,
		    struct meta_dirent *out)
{
	uint8_t kb[8 + META_NAME_MAX];
	MDB_val k, v;
	int rc;

	if (len > META_NAME_MAX)
		return ENAMETOOLONG;
	k.mv_data = kb;
	k.mv_size = meta_dkey(kb, parent, name, len);
	rc = mdb_get(t->txn, DBI(t, DB_DIRENTS), &k, &v);
	if (rc)
		return meta_rc(rc);
	if (v.mv_size != DIRENT_VAL)
		return S3F_E_META_CORRUPT;
	memcpy(&out->ino, v.mv_data, 8);
	memcpy(&out->cookie, (uint8_t *)v.mv_data + 8, 8);
	out->type = ((uint8_t *)v.mv_data)[16];
	out->name = name;
	out->name_len = len;
	return 0;
}

int meta_dirent_add(struct meta_txn *t, struct meta_inode *parent_io, const char *name,
		    size_t len, uint64_t ino, uint8_t type, uint64_t *cookie_out)
{
	uint8_t kb[8 + META_NAME_MAX], vb[DIRENT_VAL], ckb[16], cvb[9 + META_NAME_MAX];
	struct meta_inode *p = parent_io;
	MDB_val k, v;
	uint64_t cookie;
	int rc;

	if (len > META_NAME_MAX)
		return ENAMETOOLONG;
	cookie = p->next_cookie++;
	if (cookie < META_COOKIE_FIRST)
		cookie = META_COOKIE_FIRST, p->next_cookie = cookie + 1;

	k.mv_data = kb;
	k.mv_size = meta_dkey(kb, p->ino, name, len);
	memcpy(vb, &ino, 8);
	memcpy(vb + 8, &cookie, 8);
	vb[16] = type;
	v.mv_data = vb;
	v.mv_size = sizeof vb;
	rc = mdb_put(t->txn, DBI(t, DB_DIRENTS), &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST)
		return EEXIST;
	if (rc)
		return rc;

	meta_be64(ckb, p->ino);
	meta_be64(ckb + 8, cookie);
	memcpy(cvb, &ino, 8);
	cvb[8] = type;
	memcpy(cvb + 9, name, len);
	k.mv_data = ckb;
	k.mv_size = sizeof ckb;
	v.mv_data = cvb;
	v.mv_size = 9 + len;
	rc = mdb_put(t->txn, DBI(t, DB_COOKIES), &k, &v, 0);
	if (rc)
		return rc;
	if (cookie_out)
		*cookie_out = cookie;
	return meta_inode_put(t, p);
}

int meta_dirent_set_type(struct meta_txn *t, uint64_t parent, const char *name, size_t len,
			 uint8_t type)
{
	uint8_t kb[8 + META_NAME_MAX], vb[DIRENT_VAL], ckb[16], cvb[9 + META_NAME_MAX];
	MDB_val k, v;
	uint64_t cookie;
	int rc;

	if (len > META_NAME_MAX)
		return ENAMETOOLONG;
	k.mv_data = kb;
	k.mv_size = meta_dkey(kb, parent, name, len);
	rc = mdb_get(t->txn, DBI(t, DB_DIRENTS), &k, &v);
	if (rc)
		return meta_rc(rc);
	if (v.mv_size != DIRENT_VAL)
		return S3F_E_META_CORRUPT;
	memcpy(vb, v.mv_data, DIRENT_VAL);
	if (vb[16] == type)
		return 0;
	vb[16] = type;
	v.mv_data = vb;
	v.mv_size = sizeof vb;
	if ((rc = mdb_put(t->txn, DBI(t, DB_DIRENTS), &k, &v, 0)))
		return meta_rc(rc);
	memcpy(&cookie, vb + 8, 8);
	meta_be64(ckb, parent);
	meta_be64(ckb + 8, cookie);
	k.mv_data = ckb;
	k.mv_size = sizeof ckb;
	rc = mdb_get(t->txn, DBI(t, DB_COOKIES), &k, &v);
	if (rc)
		return meta_rc(rc);
	if (v.mv_size < 9 || v.mv_size > sizeof cvb)
		return S3F_E_META_CORRUPT;
	memcpy(cvb, v.mv_data, v.mv_size);
	cvb[8] = type;
	v.mv_data = cvb;
	return meta_rc(mdb_put(t->txn, DBI(t, DB_COOKIES), &k, &v, 0));
}

int meta_dirent_del(struct meta_txn *t, uint64_t parent, const char *name, size_t len)
{
	struct meta_dirent de;
	uint8_t kb[8 + META_NAME_MAX], ckb[16];
	MDB_val k;
	int rc;

	rc = meta_dirent_get(t, parent, name, len, &de);
	if (rc)
		return rc;
	k.mv_data = kb;
	k.mv_size = meta_dkey(kb, parent, name, len);
	rc = mdb_del(t->txn, DBI(t, DB_DIRENTS), &k, NULL);
	if (rc)
		return meta_rc(rc);
	meta_be64(ckb, parent);
	meta_be64(ckb + 8, de.cookie);
	k.mv_data = ckb;
	k.mv_size = sizeof ckb;
	rc = mdb_del(t->txn, DBI(t, DB_COOKIES), &k, NULL);
	return rc == MDB_NOTFOUND ? S3F_E_META_CORRUPT : rc;
}

/* A cookies record: key = parent, cookie (big-endian); value = ino, type, name. */
static int meta_cookie_decode(const MDB_val *k, const MDB_val *v, struct meta_dirent *de)
{
	if (k->mv_size != 16 || v->mv_size < 9)
		return S3F_E_META_CORRUPT;
	de->cookie = meta_get_be64((uint8_t *)k->mv_data + 8);
	memcpy(&de->ino, v->mv_data, 8);
	de->type = ((uint8_t *)v->mv_data)[8];
	de->name = (const char *)v->mv_data + 9;
	de->name_len = v->mv_size - 9;
	return 0;
}

static int meta_row_dir(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct meta_walk_cb *cb = ctx;
	struct meta_dirent de;
	int rc;

	if (k->mv_size != 16 || meta_get_be64(k->mv_data) != cb->dir)
		return META_WALK_END;
	rc = meta_cookie_decode(k, v, &de);
	if (rc)
		return rc;
	return de.cookie <= cb->after ? 0 : cb->fn.dirent(cb->arg, &de);
}

int meta_dir_iter(struct meta_txn *t, uint64_t dir, uint64_t after, meta_dirent_fn fn, void *arg)
{
	struct meta_walk_cb cb = { .fn.dirent = fn, .arg = arg, .dir = dir, .after = after };
	uint8_t ckb[16];
	MDB_val k = { sizeof ckb, ckb };

	meta_be64(ckb, dir);
	meta_be64(ckb + 8, after == UINT64_MAX ? after : after + 1);
	return meta_walk(t, DB_COOKIES, &k, meta_row_dir, &cb);
}

static int meta_dir_empty_cb(void *arg, const struct meta_dirent *de)
{
	(void)de;
	*(bool *)arg = false;
	return 1;
}

int meta_dir_empty(struct meta_txn *t, uint64_t dir, bool *empty)
{
	int rc;

	*empty = true;
	rc = meta_dir_iter(t, dir, 0, meta_dir_empty_cb, empty);
	return rc == 1 ? 0 : rc;
}

/* ---- keys (S3 key -> LMDB key) ---- */

static size_t meta_bkey(const char *key, size_t len, uint8_t *out)
{
	if (len <= META_RAWKEY_MAX) {
		memcpy(out, key, len);
		return len;
	}
	memcpy(out, key, META_HASHKEY_HEAD);
	SHA256((const unsigned char *)key, len, out + META_HASHKEY_HEAD);
	out[META_BKEY_MAX - 1] = 0xff;
	return META_BKEY_MAX;
}

int meta_key_get(struct meta_txn *t, const char *key, size_t len, uint64_t *ino)
{
	uint8_t kb[META_BKEY_MAX];
	MDB_val k = { meta_bkey(key, len, kb), kb }, v;
	int rc = mdb_get(t->txn, DBI(t, DB_KEYS), &k, &v);

	if (rc)
		return meta_rc(rc);
	if (v.mv_size != 8)
		return S3F_E_META_CORRUPT;
	memcpy(ino, v.mv_data, 8);
	return 0;
}

int meta_key_put(struct meta_txn *t, const char *key, size_t len, uint64_t ino)
{
	uint8_t kb[META_BKEY_MAX];
	MDB_val k = { meta_bkey(key, len, kb), kb }, v = { 8, &ino };

	return mdb_put(t->txn, DBI(t, DB_KEYS), &k, &v, 0);
}

int meta_key_del(struct meta_txn *t, const char *key, size_t len)
{
	uint8_t kb[META_BKEY_MAX];
	MDB_val k = { meta_bkey(key, len, kb), kb };

	return meta_rc(mdb_del(t->txn, DBI(t, DB_KEYS), &k, NULL));
}

/* ---- ino sets (dirty) ---- */

int meta_dirty_add(struct meta_txn *t, uint64_t ino)
{
	return meta_iset_add(t, DB_DIRTY, ino);
}

int meta_dirty_del(struct meta_txn *t, uint64_t ino)
{
	return meta_iset_del(t, DB_DIRTY, ino);
}

int meta_dirty_iter(struct meta_txn *t, meta_ino_fn fn, void *arg)
{
	return meta_iset_iter(t, DB_DIRTY, fn, arg);
}

int meta_prefetch_add(struct meta_txn *t, uint64_t ino)
{
	return meta_iset_add(t, DB_PREFETCH, ino);
}

int meta_prefetch_del(struct meta_txn *t, uint64_t ino)
{
	return meta_iset_del(t, DB_PREFETCH, ino);
}

int meta_prefetch_iter(struct meta_txn *t, meta_ino_fn fn, void *arg)
{
	return meta_iset_iter(t, DB_PREFETCH, fn, arg);
}

static int meta_count(struct meta_txn *t, int db, uint64_t *n)
{
	MDB_stat st;
	int rc = mdb_stat(t->txn, DBI(t, db), &st);

	if (rc == 0)
		*n = st.ms_entries;
	return rc;
}

int meta_dirty_count(struct meta_txn *t, uint64_t *n)
{
	return meta_count(t, DB_DIRTY, n);
}

/* ---- pending deletes: value = ino u64, when i64, etag len u8 + etag, full key ---- */

int meta_delete_add(struct meta_txn *t, const char *key, size_t len, const char *etag,
		    int64_t when_ns, uint64_t ino)
{
	uint8_t kb[META_BKEY_MAX], vb[17 + S3_ETAG_MAX + S3_KEY_MAX];
	size_t el = strnlen(etag ? etag : "", S3_ETAG_MAX - 1);
	MDB_val k = { meta_bkey(key, len, kb), kb }, v;

	if (len > S3_KEY_MAX)
		return ENAMETOOLONG;
	memcpy(vb, &ino, 8);
	memcpy(vb + 8, &when_ns, 8);
	vb[16] = (uint8_t)el;
	if (el)
		memcpy(vb + 17, etag, el);
	memcpy(vb + 17 + el, key, len);
	v.mv_data = vb;
	v.mv_size = 17 + el + len;
	return mdb_put(t->txn, DBI(t, DB_DELETES), &k, &v, 0);
}

static int meta_delete_decode(const MDB_val *v, struct meta_delete *d)
{
	const uint8_t *p = v->mv_data;
	size_t el;

	if (v->mv_size < 17)
		return S3F_E_META_CORRUPT;
	el = p[16];
	if (el >= S3_ETAG_MAX || v->mv_size < 17 + el)
		return S3F_E_META_CORRUPT;
	memcpy(&d->ino, p, 8);
	memcpy(&d->when_ns, p + 8, 8);
	memcpy(d->etag, p + 17, el);
	d->etag[el] = '\0';
	d->key = (const char *)p + 17 + el;
	d->key_len = v->mv_size - 17 - el;
	return 0;
}

int meta_delete_get(struct meta_txn *t, const char *key, size_t len, struct meta_delete *out)
{
	uint8_t kb[META_BKEY_MAX];
	MDB_val k = { meta_bkey(key, len, kb), kb }, v;
	int rc = mdb_get(t->txn, DBI(t, DB_DELETES), &k, &v);

	if (rc)
		return meta_rc(rc);
	return meta_delete_decode(&v, out);
}

int meta_delete_del(struct meta_txn *t, const char *key, size_t len)
{
	uint8_t kb[META_BKEY_MAX];
	MDB_val k = { meta_bkey(key, len, kb), kb };

	return meta_rc(mdb_del(t->txn, DBI(t, DB_DELETES), &k, NULL));
}

/* Rows of table db whose S3 key may begin with prefix. Stored keys keep their first
 * META_HASHKEY_HEAD bytes as they are (long ones are hashed after that), so a range scan
 * from the prefix's head finds every candidate; fn confirms each on its full key where
 * the row has it. fn's nonzero return ends the scan: 1 is "found" (0 returned), anything
 * else an error. */
typedef int (*meta_under_fn)(void *arg, const MDB_val *k, const MDB_val *v);
static int meta_scan_under(struct meta_txn *t, enum meta_dbi_idx db, const char *prefix,
			   size_t len, meta_under_fn fn, void *arg)
{
	size_t head = len < META_HASHKEY_HEAD ? len : META_HASHKEY_HEAD;
	MDB_cursor *cur;
	MDB_val k = { head, (void *)prefix }, v;
	int rc;

	rc = mdb_cursor_open(t->txn, DBI(t, db), &cur);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, head ? MDB_SET_RANGE : MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < head || memcmp(k.mv_data, prefix, head) != 0)
			break;
		if ((rc = fn(arg, &k, &v)))
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == 1 ? 0 : rc;
}

struct meta_under_ctx {
	const char *prefix;
	size_t len;
	bool *any;			/* the *_any_under scans: set at the first match */
	void *row;			/* ... their decoded row, where it is large (an intent) */
	meta_key_under_fn key_fn;	/* meta_key_under */
	void *key_arg;
};

/* A decoded row's full key starts with the prefix: *any set, the scan stops. */
static int meta_under_match(struct meta_under_ctx *c, const char *key, size_t key_len)
{
	if (key_len < c->len || memcmp(key, c->prefix, c->len) != 0)
		return 0;
	*c->any = true;
	return 1;
}

static int meta_delete_under_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct meta_delete d;
	int rc = meta_delete_decode(v, &d);

	(void)k;
	return rc ? rc : meta_under_match(arg, d.key, d.key_len);
}

int meta_delete_any_under(struct meta_txn *t, const char *prefix, size_t len, bool *any)
{
	struct meta_under_ctx c = { prefix, len, any, NULL, NULL, NULL };

	*any = false;
	return meta_scan_under(t, DB_DELETES, prefix, len, meta_delete_under_cb, &c);
}

/* A raw stored key is the S3 key; a hashed one (META_BKEY_MAX bytes) shows only its first
 * META_HASHKEY_HEAD bytes, which the scan matched: beyond them it cannot be told apart
 * and is passed on as a candidate (a caller asking "is anything there" then errs on yes). */
static int meta_key_under_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct meta_under_ctx *c = arg;
	uint64_t ino;

	if (k->mv_size <= META_RAWKEY_MAX &&
	    (k->mv_size < c->len || memcmp(k->mv_data, c->prefix, c->len) != 0))
		return 0;
	if (v->mv_size != 8)
		return S3F_E_META_CORRUPT;
	memcpy(&ino, v->mv_data, 8);
	return c->key_fn(c->key_arg, ino);
}

int meta_key_under(struct meta_txn *t, const char *prefix, size_t len, meta_key_under_fn fn,
		   void *arg)
{
	struct meta_under_ctx c = { prefix, len, NULL, NULL, fn, arg };

	return meta_scan_under(t, DB_KEYS, prefix, len, meta_key_under_cb, &c);
}

static int meta_row_delete(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct meta_walk_cb *cb = ctx;
	struct meta_delete d;
	int rc = meta_delete_decode(v, &d);

	(void)k;
	return rc ? rc : cb->fn.del(cb->arg, &d);
}

int meta_delete_iter(struct meta_txn *t, meta_delete_fn fn, void *arg)
{
	struct meta_walk_cb cb = { .fn.del = fn, .arg = arg };

	return meta_walk(t, DB_DELETES, NULL, meta_row_delete, &cb);
}

/* ---- extents ---- */

int meta_extents_get(struct meta_txn *t, uint64_t ino, struct rangeset *out)
{
	MDB_val k = meta_u64_val(&ino), v;
	int rc = mdb_get(t->txn, DBI(t, DB_EXTENTS), &k, &v);

	rangeset_clear(out);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	return rangeset_decode(out, v.mv_data, v.mv_size);
}

int meta_extents_put(struct meta_txn *t, uint64_t ino, const struct rangeset *rs)
{
	MDB_val k = meta_u64_val(&ino), v;
	int rc;

	if (!rs || rs->n == 0) {
		rc = mdb_del(t->txn, DBI(t, DB_EXTENTS), &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	v.mv_size = rangeset_encoded_size(rs);
	/* MDB_RESERVE: encode straight into the page. */
	rc = mdb_put(t->txn, DBI(t, DB_EXTENTS), &k, &v, MDB_RESERVE);
	if (rc)
		return rc;
	rangeset_encode(rs, v.mv_data);
	return 0;
}

/* ---- symlinks ---- */

int meta_symlink_get(struct meta_txn *t, uint64_t ino, char *buf, size_t cap, size_t *len)
{
	MDB_val k = meta_u64_val(&ino), v;
	int rc = mdb_get(t->txn, DBI(t, DB_SYMLINKS), &k, &v);

	if (rc)
		return meta_rc(rc);
	if (v.mv_size >= cap)
		return ERANGE;
	memcpy(buf, v.mv_data, v.mv_size);
	buf[v.mv_size] = '\0';
	*len = v.mv_size;
	return 0;
}

int meta_symlink_put(struct meta_txn *t, uint64_t ino, const char *target, size_t len)
{
	MDB_val k = meta_u64_val(&ino), v = { len, (void *)target };

	return mdb_put(t->txn, DBI(t, DB_SYMLINKS), &k, &v, 0);
}

int meta_symlink_del(struct meta_txn *t, uint64_t ino)
{
	MDB_val k = meta_u64_val(&ino);
	int rc = mdb_del(t->txn, DBI(t, DB_SYMLINKS), &k, NULL);

	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- change feed: value = ino u64, kind u8 ---- */

int meta_change_add(struct meta_txn *t, uint64_t ino, enum meta_change_kind kind)
{
	uint64_t seq = 0;
	uint8_t vb[9];
	MDB_val k, v = { sizeof vb, vb };
	int rc;

	rc = meta_change_last(t, &seq);
	if (rc)
		return rc;
	/* The feed may be trimmed to empty: keep numbering from the high-water mark. */
	{
		uint64_t hw = 0;

		rc = meta_info_u64(t, META_INFO_CHANGE_SEQ, &hw);
		if (rc && rc != ENOENT)
			return rc;
		if (hw > seq)
			seq = hw;
	}
	seq++;
	memcpy(vb, &ino, 8);
	vb[8] = (uint8_t)kind;
	k = meta_u64_val(&seq);
	rc = mdb_put(t->txn, DBI(t, DB_CHANGES), &k, &v, MDB_APPEND);
	if (rc)
		return rc;
	return meta_info_put(t, META_INFO_CHANGE_SEQ, &seq, sizeof seq);
}

static int meta_row_change(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct meta_walk_cb *cb = ctx;
	uint64_t seq, ino;

	if (k->mv_size != 8 || v->mv_size != 9)
		return S3F_E_META_CORRUPT;
	memcpy(&seq, k->mv_data, 8);
	memcpy(&ino, v->mv_data, 8);
	return cb->fn.change(cb->arg, seq, ino, (enum meta_change_kind)((uint8_t *)v->mv_data)[8]);
}

int meta_change_iter(struct meta_txn *t, uint64_t after, meta_change_fn fn, void *arg)
{
	struct meta_walk_cb cb = { .fn.change = fn, .arg = arg };
	uint64_t from = after + 1;
	MDB_val k = meta_u64_val(&from);

	return meta_walk(t, DB_CHANGES, &k, meta_row_change, &cb);
}

int meta_change_last(struct meta_txn *t, uint64_t *seq)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	*seq = 0;
	rc = mdb_cursor_open(t->txn, DBI(t, DB_CHANGES), &cur);
	if (rc)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0)
		memcpy(seq, k.mv_data, 8);
	mdb_cursor_close(cur);
	if (rc == MDB_NOTFOUND) {
		rc = meta_info_u64(t, META_INFO_CHANGE_SEQ, seq);
		if (rc == ENOENT)
			rc = 0;
	}
	return rc;
}

int meta_change_trim(struct meta_txn *t, uint64_t upto)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	rc = mdb_cursor_open(t->txn, DBI(t, DB_CHANGES), &cur);
	if (rc)
		return rc;
	while ((rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
		uint64_t seq;

		memcpy(&seq, k.mv_data, 8);
		if (seq > upto)
			break;
		rc = mdb_cursor_del(cur, 0);
		if (rc)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- bad keys: value = reason u8, time i64 ---- */

int meta_badkey_add(struct meta_txn *t, const char *key, size_t len, uint8_t reason)
{
	uint8_t kb[META_BKEY_MAX], vb[9];
	int64_t now = meta_now_ns();
	MDB_val k = { meta_bkey(key, len, kb), kb }, v = { sizeof vb, vb };
	int rc;

	vb[0] = reason;
	memcpy(vb + 1, &now, 8);
	rc = mdb_put(t->txn, DBI(t, DB_BADKEYS), &k, &v, MDB_NOOVERWRITE);
	return rc == MDB_KEYEXIST ? EEXIST : rc;
}

int meta_badkey_del(struct meta_txn *t, const char *key, size_t len)
{
	uint8_t kb[META_BKEY_MAX];
	MDB_val k = { meta_bkey(key, len, kb), kb };

	return meta_rc(mdb_del(t->txn, DBI(t, DB_BADKEYS), &k, NULL));
}

/* ---- moved files: value = version, dirty_gen, clean, etag, key (varints, strings) ---- */

#define META_MOVE_VERSION 1
#define META_MOVE_MAX (24 + S3_ETAG_MAX + S3_KEY_MAX)

int meta_move_put(struct meta_txn *t, uint64_t ino, const struct meta_move *m)
{
	uint8_t buf[META_MOVE_MAX];
	struct meta_wbuf b = { buf, 0, sizeof buf };
	MDB_val k = meta_u64_val(&ino), v;

	if (m->key_len == 0 || m->key_len > S3_KEY_MAX)
		return EINVAL;
	wb_u64(&b, META_MOVE_VERSION);
	wb_u64(&b, m->dirty_gen);
	wb_u64(&b, m->clean ? 1 : 0);
	wb_str(&b, m->etag, strnlen(m->etag, S3_ETAG_MAX - 1));
	wb_str(&b, m->key, m->key_len);
	if (b.len > sizeof buf)
		return S3F_E_META_CORRUPT;
	v.mv_data = buf;
	v.mv_size = b.len;
	return mdb_put(t->txn, DBI(t, DB_MOVES), &k, &v, 0);
}

int meta_move_get(struct meta_txn *t, uint64_t ino, struct meta_move *out)
{
	MDB_val k = meta_u64_val(&ino), v;
	struct meta_rbuf b;
	int rc = mdb_get(t->txn, DBI(t, DB_MOVES), &k, &v);

	if (rc)
		return meta_rc(rc);
	b = (struct meta_rbuf){ v.mv_data, v.mv_size, 0, false };
	if (rb_u64(&b) != META_MOVE_VERSION)
		return S3F_E_META_CORRUPT;
	out->dirty_gen = rb_u64(&b);
	out->clean = rb_u64(&b) != 0;
	rb_str(&b, out->etag, sizeof out->etag);
	out->key_len = rb_str(&b, out->key, sizeof out->key);
	if (b.bad || out->key_len == 0)
		return S3F_E_META_CORRUPT;
	return 0;
}

int meta_move_del(struct meta_txn *t, uint64_t ino)
{
	MDB_val k = meta_u64_val(&ino);
	int rc = mdb_del(t->txn, DBI(t, DB_MOVES), &k, NULL);

	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- directory-rename jobs: value = version, counters, flags, three strings ---- */

#define META_DIRJOB_VERSION 1
#define META_DIRJOB_MAX (96 + 3 * (S3_KEY_MAX + 2))

static int meta_dirjob_encode(struct meta_txn *t, const struct meta_dirjob *j)
{
	uint8_t *buf = malloc(META_DIRJOB_MAX);
	struct meta_wbuf b = { buf, 0, META_DIRJOB_MAX };
	uint64_t id = j->id;
	MDB_val k = meta_u64_val(&id), v;
	int rc;

	if (!buf)
		return ENOMEM;
	wb_u64(&b, META_DIRJOB_VERSION);
	wb_u64(&b, j->ino);
	wb_i64(&b, j->created_ns);
	wb_u64(&b, j->listed);
	wb_u64(&b, j->moved);
	wb_u64(&b, j->skipped);
	wb_u64(&b, j->warned ? 1 : 0);
	wb_str(&b, j->old_prefix, j->old_len);
	wb_str(&b, j->new_prefix, j->new_len);
	wb_str(&b, j->marker, j->marker_len);
	if (b.len > META_DIRJOB_MAX) {
		rc = S3F_E_META_CORRUPT;
		goto out;
	}
	v.mv_data = buf;
	v.mv_size = b.len;
	rc = mdb_put(t->txn, DBI(t, DB_DIRJOBS), &k, &v, 0);
out:
	free(buf);
	return rc;
}

static int meta_dirjob_decode(uint64_t id, const MDB_val *v, struct meta_dirjob *j)
{
	struct meta_rbuf b = { v->mv_data, v->mv_size, 0, false };

	j->id = id;
	if (rb_u64(&b) != META_DIRJOB_VERSION)
		return S3F_E_META_CORRUPT;
	j->ino = rb_u64(&b);
	j->created_ns = rb_i64(&b);
	j->listed = rb_u64(&b);
	j->moved = rb_u64(&b);
	j->skipped = rb_u64(&b);
	j->warned = rb_u64(&b) != 0;
	j->old_len = rb_str(&b, j->old_prefix, sizeof j->old_prefix);
	j->new_len = rb_str(&b, j->new_prefix, sizeof j->new_prefix);
	j->marker_len = rb_str(&b, j->marker, sizeof j->marker);
	return b.bad ? S3F_E_META_CORRUPT : 0;
}

int meta_dirjob_add(struct meta_txn *t, struct meta_dirjob *j)
{
	uint64_t next = 1;
	int rc;

	if (j->old_len > S3_KEY_MAX || j->new_len > S3_KEY_MAX || j->marker_len > S3_KEY_MAX)
		return ENAMETOOLONG;
	rc = meta_info_u64(t, META_INFO_DIRJOB_SEQ, &next);
	if (rc && rc != ENOENT)
		return rc;
	if (rc == ENOENT)
		next = 1;
	j->id = next++;
	rc = meta_info_put(t, META_INFO_DIRJOB_SEQ, &next, sizeof next);
	if (rc)
		return rc;
	return meta_dirjob_encode(t, j);
}

int meta_dirjob_put(struct meta_txn *t, const struct meta_dirjob *j)
{
	if (j->id == 0 || j->old_len > S3_KEY_MAX || j->new_len > S3_KEY_MAX ||
	    j->marker_len > S3_KEY_MAX)
		return EINVAL;
	return meta_dirjob_encode(t, j);
}

int meta_dirjob_get(struct meta_txn *t, uint64_t id, struct meta_dirjob *out)
{
	MDB_val k = meta_u64_val(&id), v;
	int rc = mdb_get(t->txn, DBI(t, DB_DIRJOBS), &k, &v);

	if (rc)
		return meta_rc(rc);
	return meta_dirjob_decode(id, &v, out);
}

int meta_dirjob_del(struct meta_txn *t, uint64_t id)
{
	MDB_val k = meta_u64_val(&id);

	return meta_rc(mdb_del(t->txn, DBI(t, DB_DIRJOBS), &k, NULL));
}

static int meta_row_dirjob(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct meta_walk_cb *cb = ctx;
	uint64_t id;
	int rc;

	if (k->mv_size != sizeof id)
		return S3F_E_META_CORRUPT;
	memcpy(&id, k->mv_data, sizeof id);
	rc = meta_dirjob_decode(id, v, cb->scratch);
	return rc ? rc : cb->fn.dirjob(cb->arg, cb->scratch);
}

int meta_dirjob_iter(struct meta_txn *t, meta_dirjob_fn fn, void *arg)
{
	struct meta_walk_cb cb = { .fn.dirjob = fn, .arg = arg };
	int rc;

	cb.scratch = malloc(sizeof(struct meta_dirjob));
	if (!cb.scratch)
		return ENOMEM;
	rc = meta_walk(t, DB_DIRJOBS, NULL, meta_row_dirjob, &cb);
	free(cb.scratch);
	return rc;
}

/* ---- upload intents: value = version, kind, flags, ino, gen, dirty_gen, size, when,
 * token, etag, src_etag, src_key, key (varints, strings; the full key, as the LMDB key
 * of a long one is hashed) ---- */

#define META_INTENT_VERSION 1
#define META_INTENT_MAX (96 + META_TOKEN_MAX + 2 * S3_ETAG_MAX + 2 * (S3_KEY_MAX + 2))

int meta_intent_put(struct meta_txn *t, const struct meta_intent *in)
{
	uint8_t kb[META_BKEY_MAX];
	uint8_t *buf;
	struct meta_wbuf b;
	MDB_val k, v;
	size_t tl = strnlen(in->token, META_TOKEN_MAX);
	int rc;

	if (in->key_len > S3_KEY_MAX || in->src_len > S3_KEY_MAX)
		return ENAMETOOLONG;
	if (in->key_len == 0 || tl == 0 || tl == META_TOKEN_MAX)
		return EINVAL;
	buf = malloc(META_INTENT_MAX);
	if (!buf)
		return ENOMEM;
	b = (struct meta_wbuf){ buf, 0, META_INTENT_MAX };
	wb_u64(&b, META_INTENT_VERSION);
	wb_u64(&b, in->kind);
	wb_u64(&b, in->flags);
	wb_u64(&b, in->ino);
	wb_u64(&b, in->gen);
	wb_u64(&b, in->dirty_gen);
	wb_u64(&b, in->size);
	wb_i64(&b, in->when_ns);
	wb_str(&b, in->token, tl);
	wb_str(&b, in->etag, strnlen(in->etag, S3_ETAG_MAX - 1));
	wb_str(&b, in->src_etag, strnlen(in->src_etag, S3_ETAG_MAX - 1));
	wb_str(&b, in->src_key, in->src_len);
	wb_str(&b, in->key, in->key_len);
	if (b.len > META_INTENT_MAX) {
		rc = S3F_E_META_CORRUPT;
		goto out;
	}
	k = (MDB_val){ meta_bkey(in->key, in->key_len, kb), kb };
	v = (MDB_val){ b.len, buf };
	rc = mdb_put(t->txn, DBI(t, DB_INTENTS), &k, &v, 0);
out:
	free(buf);
	return rc;
}

static int meta_intent_decode(const MDB_val *v, struct meta_intent *in)
{
	struct meta_rbuf b = { v->mv_data, v->mv_size, 0, false };

	if (rb_u64(&b) != META_INTENT_VERSION)
		return S3F_E_META_CORRUPT;
	in->kind = (uint8_t)rb_u64(&b);
	in->flags = (uint8_t)rb_u64(&b);
	in->ino = rb_u64(&b);
	in->gen = (uint32_t)rb_u64(&b);
	in->dirty_gen = rb_u64(&b);
	in->size = rb_u64(&b);
	in->when_ns = rb_i64(&b);
	rb_str(&b, in->token, sizeof in->token);
	rb_str(&b, in->etag, sizeof in->etag);
	rb_str(&b, in->src_etag, sizeof in->src_etag);
	in->src_len = rb_str(&b, in->src_key, sizeof in->src_key);
	in->key_len = rb_str(&b, in->key, sizeof in->key);
	if (b.bad || in->key_len == 0 || !in->token[0])
		return S3F_E_META_CORRUPT;
	return 0;
}

int meta_intent_get(struct meta_txn *t, const char *key, size_t len, struct meta_intent *out)
{
	uint8_t kb[META_BKEY_MAX];
	MDB_val k = { meta_bkey(key, len, kb), kb }, v;
	int rc;

	if (len == 0 || len > S3_KEY_MAX)
		return ENOENT;
	rc = mdb_get(t->txn, DBI(t, DB_INTENTS), &k, &v);
	if (rc)
		return meta_rc(rc);
	rc = meta_intent_decode(&v, out);
	/* a hashed LMDB key stands for one full key only */
	if (rc == 0 && (out->key_len != len || memcmp(out->key, key, len) != 0))
		rc = ENOENT;
	return rc;
}

int meta_intent_del(struct meta_txn *t, const char *key, size_t len)
{
	uint8_t kb[META_BKEY_MAX];
	MDB_val k = { meta_bkey(key, len, kb), kb };
	int rc;

	if (len == 0 || len > S3_KEY_MAX)
		return 0;
	rc = mdb_del(t->txn, DBI(t, DB_INTENTS), &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int meta_row_intent(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct meta_walk_cb *cb = ctx;
	int rc = meta_intent_decode(v, cb->scratch);

	(void)k;
	return rc ? rc : cb->fn.intent(cb->arg, cb->scratch);
}

int meta_intent_iter(struct meta_txn *t, meta_intent_fn fn, void *arg)
{
	struct meta_walk_cb cb = { .fn.intent = fn, .arg = arg };
	int rc;

	cb.scratch = malloc(sizeof(struct meta_intent));
	if (!cb.scratch)
		return ENOMEM;
	rc = meta_walk(t, DB_INTENTS, NULL, meta_row_intent, &cb);
	free(cb.scratch);
	return rc;
}

static int meta_intent_under_cb(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct meta_under_ctx *c = arg;
	struct meta_intent *in = c->row;
	int rc = meta_intent_decode(v, in);

	(void)k;
	return rc ? rc : meta_under_match(c, in->key, in->key_len);
}

int meta_intent_any_under(struct meta_txn *t, const char *prefix, size_t len, bool *any)
{
	struct meta_under_ctx c = { prefix, len, any, malloc(sizeof(struct meta_intent)), NULL,
				    NULL };
	int rc;

	*any = false;
	if (!c.row)
		return ENOMEM;
	rc = meta_scan_under(t, DB_INTENTS, prefix, len, meta_intent_under_cb, &c);
	free(c.row);
	return rc;
}

/* ---- info ---- */

int meta_info_get(struct meta_txn *t, const char *name, void *buf, size_t cap, size_t *len)
{
	MDB_val k = { strlen(name), (void *)name }, v;
	int rc = mdb_get(t->txn, DBI(t, DB_INFO), &k, &v);

	if (rc)
		return meta_rc(rc);
	if (v.mv_size > cap)
		return ERANGE;
	memcpy(buf, v.mv_data, v.mv_size);
	if (len)
		*len = v.mv_size;
	return 0;
}

int meta_info_put(struct meta_txn *t, const char *name, const void *val, size_t len)
{
	MDB_val k = { strlen(name), (void *)name }, v = { len, (void *)val };

	return mdb_put(t->txn, DBI(t, DB_INFO), &k, &v, 0);
}

int meta_info_del(struct meta_txn *t, const char *name)
{
	MDB_val k = { strlen(name), (void *)name };
	int rc = mdb_del(t->txn, DBI(t, DB_INFO), &k, NULL);

	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- stats ---- */

int meta_stats_get(struct meta_env *me, struct meta_stats *st)
{
	struct meta_txn *t;
	MDB_envinfo info;
	MDB_stat est;
	int rc;

	memset(st, 0, sizeof *st);
	rc = meta_txn_begin(me, false, &t);
	if (rc)
		return rc;
	mdb_env_info(me->env, &info);
	mdb_env_stat(me->env, &est);
	st->map_size = info.me_mapsize;
	st->used_bytes = (uint64_t)(info.me_last_pgno + 1) * est.ms_psize;
	for (int i = 0; i < DB_COUNT; i++) {
		rc = meta_count(t, i, &st->entries[i]);
		if (rc)
			break;
	}
	st->inodes = st->entries[DB_INODES];
	meta_txn_abort(t);
	return rc;
}

/* ---- whole-table walks (core/engine/fsck.c) ---- */

static int meta_itable_db(enum meta_itable which)
{
	switch (which) {
	case META_IT_INODES: return DB_INODES;
	case META_IT_DIRTY: return DB_DIRTY;
	case META_IT_EXTENTS: return DB_EXTENTS;
	case META_IT_SYMLINKS: return DB_SYMLINKS;
	case META_IT_MOVES: return DB_MOVES;
	case META_IT_S3DIRS: return DB_S3DIRS;
	case META_IT_PREFETCH: return DB_PREFETCH;
	}
	return -1;
}

int meta_itable_walk(struct meta_txn *t, enum meta_itable which, uint64_t after, meta_ino_fn fn,
		     void *arg)
{
	struct meta_walk_cb cb = { .fn.ino = fn, .arg = arg };
	int db = meta_itable_db(which);
	uint64_t from = after + 1;
	MDB_val k = meta_u64_val(&from);

	if (db < 0)
		return EINVAL;
	if (after == UINT64_MAX)
		return 0;
	return meta_walk(t, db, &k, meta_row_ino, &cb);
}

int meta_itable_has(struct meta_txn *t, enum meta_itable which, uint64_t ino, bool *has)
{
	int db = meta_itable_db(which);
	MDB_val k = meta_u64_val(&ino), v;
	int rc;

	*has = false;
	if (db < 0)
		return EINVAL;
	rc = mdb_get(t->txn, DBI(t, db), &k, &v);
	if (rc == 0)
		*has = true;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* A dirents record: key = parent (big-endian), name; value = ino, cookie, type. */
static int meta_row_dirent(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct meta_walk_cb *cb = ctx;
	struct meta_dirent de;

	if (k->mv_size < 8 || v->mv_size != DIRENT_VAL)
		return S3F_E_META_CORRUPT;
	memcpy(&de.ino, v->mv_data, 8);
	memcpy(&de.cookie, (uint8_t *)v->mv_data + 8, 8);
	de.type = ((uint8_t *)v->mv_data)[16];
	de.name = (const char *)k->mv_data + 8;
	de.name_len = k->mv_size - 8;
	return cb->fn.dirent_row(cb->arg, meta_get_be64(k->mv_data), &de);
}

int meta_dirent_walk(struct meta_txn *t, uint64_t parent, const char *name, size_t len,
		     meta_dirent_row_fn fn, void *arg)
{
	struct meta_walk_cb cb = { .fn.dirent_row = fn, .arg = arg };
	uint8_t kb[8 + META_NAME_MAX];
	MDB_val k = { 0, kb };

	if (!name)
		len = 0;
	if (len > META_NAME_MAX)
		return ENAMETOOLONG;
	k.mv_size = meta_dkey(kb, parent, name ? name : "", len);
	return meta_walk(t, DB_DIRENTS, &k, meta_row_dirent, &cb);
}

static int meta_row_cookie(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct meta_walk_cb *cb = ctx;
	struct meta_dirent de;
	int rc = meta_cookie_decode(k, v, &de);

	return rc ? rc : cb->fn.dirent_row(cb->arg, meta_get_be64(k->mv_data), &de);
}

int meta_cookie_walk(struct meta_txn *t, uint64_t parent, uint64_t cookie,
		     meta_dirent_row_fn fn, void *arg)
{
	struct meta_walk_cb cb = { .fn.dirent_row = fn, .arg = arg };
	uint8_t ckb[16];
	MDB_val k = { sizeof ckb, ckb };

	meta_be64(ckb, parent);
	meta_be64(ckb + 8, cookie);
	return meta_walk(t, DB_COOKIES, &k, meta_row_cookie, &cb);
}

static int meta_row_key(void *ctx, const MDB_val *k, const MDB_val *v)
{
	struct meta_walk_cb *cb = ctx;
	struct meta_key_row r = { k->mv_data, k->mv_size, 0 };

	/* The walk starts at `after` itself when it is still there: not reported. */
	if (cb->skip && k->mv_size == cb->skip->mv_size &&
	    memcmp(k->mv_data, cb->skip->mv_data, k->mv_size) == 0)
		return 0;
	if (v->mv_size != 8)
		return S3F_E_META_CORRUPT;
	memcpy(&r.ino, v->mv_data, 8);
	return cb->fn.key_row(cb->arg, &r);
}

int meta_key_walk(struct meta_txn *t, const void *after, size_t after_len, meta_key_row_fn fn,
		  void *arg)
{
	struct meta_walk_cb cb = { .fn.key_row = fn, .arg = arg };
	MDB_val k = { after_len, (void *)after };

	if (after && after_len)
		cb.skip = &k;
	return meta_walk(t, DB_KEYS, cb.skip, meta_row_key, &cb);
}

_Static_assert(META_KEY_STORED_MAX == META_BKEY_MAX, "meta.h's META_KEY_STORED_MAX");

size_t meta_key_stored(const char *key, size_t len, uint8_t *out)
{
	return meta_bkey(key, len, out);
}
