/* test_meta.c — the LMDB metadata store: records, tables, cookies, growth, processes. */
#include <errno.h>
#include <pthread.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "base/err.h"
#include "store/meta.h"

static struct meta_env *open_env(const char *dir, uint64_t map)
{
	struct meta_opts o = { .map_size = map, .nosync = true };
	struct meta_env *me = NULL;

	CHECK_OK(meta_env_open(dir, &o, &me));
	return me;
}

static void test_root_exists(void)
{
	const char *dir = check_tmpdir();
	struct meta_env *me = open_env(dir, 0);
	struct meta_txn *t;
	struct meta_inode root;

	CHECK_OK(meta_txn_begin(me, false, &t));
	CHECK_OK(meta_inode_get(t, META_ROOT_INO, &root));
	meta_txn_abort(t);
	CHECK_INT_EQ(root.type, META_T_DIR);
	CHECK_INT_EQ(root.parent, META_ROOT_INO);
	CHECK_INT_EQ(root.mode, 0755);
	CHECK(root.gen != 0);
	meta_env_close(me);
}

static void test_inode_roundtrip(void)
{
	const char *dir = check_tmpdir();
	struct meta_env *me = open_env(dir, 0);
	struct meta_txn *t;
	struct meta_inode a, b;
	char name[256];

	memset(name, 'n', 255);
	name[255] = '\0';
	meta_inode_init(&a, 77, 0xdeadbeef, 5, META_T_REG, 04755, 1000, 4294967295u,
			-1234567890123456789LL);
	CHECK_OK(meta_inode_set_name(&a, name, 255));
	a.sync = META_S_DIRTY;
	a.data = META_D_PARTIAL;
	a.flags = META_F_IN_S3 | META_F_MARKER;
	a.size = UINT64_MAX - 1;
	a.change = 1ULL << 40;
	a.dirty_since_ns = INT64_MAX;
	a.dirty_gen = 12345678901ULL;
	a.due_gen = 12345678900ULL;
	a.s3_size = 99;
	a.s3_mtime = -5;
	a.synced_ns = 42;
	strcpy(a.etag, "0123456789abcdef0123456789abcdef-10000");
	memset(a.version_id, 'v', S3_VERSION_ID_MAX - 1);
	a.version_id[S3_VERSION_ID_MAX - 1] = '\0';
	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_inode_put(t, &a));
	CHECK_OK(meta_txn_commit(t));
	CHECK_OK(meta_txn_begin(me, false, &t));
	CHECK_OK(meta_inode_get(t, 77, &b));
	CHECK_INT_EQ(meta_inode_get(t, 78, &b) == ENOENT, 1);
	CHECK_OK(meta_inode_get(t, 77, &b));
	meta_txn_abort(t);
	CHECK_U64_EQ(b.ino, 77);
	CHECK_U64_EQ(b.parent, 5);
	CHECK_U64_EQ(b.gen, 0xdeadbeef);
	CHECK_INT_EQ(b.type, META_T_REG);
	CHECK_INT_EQ(b.sync, META_S_DIRTY);
	CHECK_INT_EQ(b.data, META_D_PARTIAL);
	CHECK_INT_EQ(b.flags, META_F_IN_S3 | META_F_MARKER);
	CHECK_INT_EQ(b.mode, 04755);
	CHECK_U64_EQ(b.uid, 1000);
	CHECK_U64_EQ(b.gid, 4294967295u);
	CHECK_U64_EQ(b.size, UINT64_MAX - 1);
	CHECK_U64_EQ(b.change, 1ULL << 40);
	CHECK_INT_EQ(b.atime_ns, -1234567890123456789LL);
	CHECK_INT_EQ(b.dirty_since_ns, INT64_MAX);
	CHECK_U64_EQ(b.dirty_gen, 12345678901ULL);
	CHECK_U64_EQ(b.due_gen, 12345678900ULL);
	CHECK_INT_EQ(b.s3_mtime, -5);
	CHECK_STR_EQ(b.etag, a.etag);
	CHECK_STR_EQ(b.version_id, a.version_id);
	CHECK_INT_EQ(b.name_len, 255);
	CHECK_STR_EQ(b.name, name);
	meta_env_close(me);
}

/* The compact record forms (binary MD5 ETags, time deltas) give back exactly what went in,
 * including the forms that must stay text and extreme times. */
static void test_inode_compact_forms(void)
{
	static const char *const etags[] = {
		"",
		"0123456789abcdef0123456789abcdef",		/* MD5: binary */
		"0123456789abcdef0123456789abcdef-1",		/* multipart: binary + parts */
		"ffffffffffffffffffffffffffffffff-999999999",
		"0123456789ABCDEF0123456789ABCDEF",		/* uppercase: text */
		"0123456789abcdef0123456789abcdef-01",		/* leading zero: text */
		"0123456789abcdef0123456789abcdef-1234567890",	/* 10 digits: text */
		"0123456789abcdef0123456789abcdef-",		/* no count: text */
		"0123456789abcdef0123456789abcdef-2x",
		"0123456789abcdef0123456789abcdef0",		/* 33 hex: text */
		"0123456789abcdef0123456789abcde",		/* 31 hex: text */
		"0123456789abcdeg0123456789abcdef",		/* not hex: text */
		"W/\"weak\"",
	};
	static const int64_t times[][4] = {	/* mtime, atime, ctime, synced */
		{ 0, 0, 0, 0 },
		{ 1700000000123456789LL, 1700000000123456789LL, 1700000000123456789LL,
		  1700000000123456789LL },
		{ INT64_MAX, INT64_MIN, INT64_MIN, INT64_MAX },
		{ INT64_MIN, INT64_MAX, -1, INT64_MIN },
		{ -1, 1, INT64_MAX, -2 },
	};
	const char *dir = check_tmpdir();
	struct meta_env *me = open_env(dir, 0);
	size_t n = sizeof etags / sizeof etags[0];

	for (size_t i = 0; i < n; i++) {
		struct meta_txn *t;
		struct meta_inode a, b;
		const int64_t *tm = times[i % (sizeof times / sizeof times[0])];

		meta_inode_init(&a, 100 + i, 1, 1, META_T_REG, 0644, 0, 0, tm[0]);
		CHECK_OK(meta_inode_set_name(&a, "f", 1));
		a.mtime_ns = tm[0];
		a.atime_ns = tm[1];
		a.ctime_ns = tm[2];
		a.synced_ns = tm[3];
		strcpy(a.etag, etags[i]);
		CHECK_OK(meta_txn_begin(me, true, &t));
		CHECK_OK(meta_inode_put(t, &a));
		CHECK_OK(meta_txn_commit(t));
		CHECK_OK(meta_txn_begin(me, false, &t));
		CHECK_OK(meta_inode_get(t, 100 + i, &b));
		meta_txn_abort(t);
		CHECK_STR_EQ(b.etag, etags[i]);
		CHECK_INT_EQ(b.mtime_ns, tm[0]);
		CHECK_INT_EQ(b.atime_ns, tm[1]);
		CHECK_INT_EQ(b.ctime_ns, tm[2]);
		CHECK_INT_EQ(b.synced_ns, tm[3]);
	}
	meta_env_close(me);
}

/* The raw inodes-table record of ino, read with LMDB itself (the store is closed). */
static size_t raw_record(const char *dir, uint64_t ino, uint8_t *buf, size_t cap)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { sizeof ino, &ino }, v;
	size_t n = 0;

	CHECK_INT_EQ(mdb_env_create(&env), 0);
	CHECK_INT_EQ(mdb_env_set_maxdbs(env, 32), 0);
	CHECK_INT_EQ(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
	CHECK_INT_EQ(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	CHECK_INT_EQ(mdb_dbi_open(txn, "inodes", MDB_INTEGERKEY, &dbi), 0);
	if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size <= cap) {
		memcpy(buf, v.mv_data, v.mv_size);
		n = v.mv_size;
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return n;
}

static void put_inode(const char *dir, const struct meta_inode *in)
{
	struct meta_env *me = open_env(dir, 0);
	struct meta_txn *t;

	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_inode_put(t, in));
	CHECK_OK(meta_txn_commit(t));
	meta_env_close(me);
}

/* due_gen (Commit_On_Close) is an optional field after the name: an inode without it is
 * stored exactly as before the field existed (no bytes added per object), one with it is
 * that same record plus the field (what older builds read, ignoring the tail), and a
 * record without the tail reads as due_gen 0. */
static void test_inode_optional_tail(void)
{
	const char *dir = check_tmpdir();
	struct meta_inode a, b;
	struct meta_env *me;
	struct meta_txn *t;
	uint8_t r0[1024], r1[1024];
	size_t n0, n1;

	meta_inode_init(&a, 55, 3, 1, META_T_REG, 0644, 1000, 1000, 1700000000000000000LL);
	CHECK_OK(meta_inode_set_name(&a, "report.txt", 10));
	a.sync = META_S_DIRTY;
	a.dirty_gen = 300;
	a.dirty_since_ns = a.mtime_ns;
	put_inode(dir, &a);
	n0 = raw_record(dir, 55, r0, sizeof r0);
	CHECK(n0 > 0);
	/* the last bytes of a record without the tail are the name */
	CHECK(n0 > 10 && memcmp(r0 + n0 - 10, "report.txt", 10) == 0);

	a.due_gen = 300;
	put_inode(dir, &a);
	n1 = raw_record(dir, 55, r1, sizeof r1);
	CHECK_INT_EQ(n1, n0 + 2);		/* 300 is a two-byte varint */
	CHECK_MEM_EQ(r0, r1, n0);

	me = open_env(dir, 0);
	CHECK_OK(meta_txn_begin(me, false, &t));
	CHECK_OK(meta_inode_get(t, 55, &b));
	meta_txn_abort(t);
	CHECK_U64_EQ(b.due_gen, 300);
	CHECK_STR_EQ(b.name, "report.txt");
	b.due_gen = 0;
	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_inode_put(t, &b));
	CHECK_OK(meta_txn_commit(t));
	CHECK_OK(meta_txn_begin(me, false, &t));
	CHECK_OK(meta_inode_get(t, 55, &b));
	meta_txn_abort(t);
	CHECK_U64_EQ(b.due_gen, 0);
	CHECK_U64_EQ(b.dirty_gen, 300);
	meta_env_close(me);
	CHECK_INT_EQ(raw_record(dir, 55, r1, sizeof r1), n0);
}

static void test_ino_alloc(void)
{
	const char *dir = check_tmpdir();
	struct meta_env *me = open_env(dir, 0);
	struct meta_txn *t;
	uint64_t a, b;
	uint32_t ga, gb;

	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_ino_alloc(t, &a, &ga));
	CHECK_OK(meta_ino_alloc(t, &b, &gb));
	CHECK_OK(meta_txn_commit(t));
	CHECK(a > META_ROOT_INO);
	CHECK_U64_EQ(b, a + 1);
	CHECK_INT_EQ(ga, gb);
	/* An aborted allocation is not reused by accident either way; a committed one never. */
	meta_env_close(me);
	me = open_env(dir, 0);
	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_ino_alloc(t, &a, &ga));
	CHECK_OK(meta_txn_commit(t));
	CHECK_U64_EQ(a, b + 1);
	meta_env_close(me);
}

struct collect {
	char names[64][32];
	uint64_t cookies[64];
	int n;
};

static int collect_cb(void *arg, const struct meta_dirent *de)
{
	struct collect *c = arg;

	if (c->n == 64)
		return 1;
	snprintf(c->names[c->n], 32, "%.*s", (int)de->name_len, de->name);
	c->cookies[c->n] = de->cookie;
	c->n++;
	return 0;
}

static void test_dirents_cookies(void)
{
	const char *dir = check_tmpdir();
	struct meta_env *me = open_env(dir, 0);
	struct meta_txn *t;
	struct meta_inode root;
	struct meta_dirent de;
	struct collect c = { 0 };
	uint64_t ck[5];
	const char *names[5] = { "zeta", "alpha", "mid", "b", "a" };

	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_inode_get(t, META_ROOT_INO, &root));
	for (int i = 0; i < 5; i++)
		CHECK_OK(meta_dirent_add(t, &root, names[i], strlen(names[i]), 100 + i, META_T_REG,
					 &ck[i]));
	CHECK_INT_EQ(meta_dirent_add(t, &root, "mid", 3, 200, META_T_REG, NULL), EEXIST);
	CHECK_OK(meta_txn_commit(t));
	for (int i = 0; i < 5; i++)
		CHECK_U64_EQ(ck[i], META_COOKIE_FIRST + i);

	/* Iteration is in cookie (creation) order, resumable after any cookie. */
	CHECK_OK(meta_txn_begin(me, false, &t));
	CHECK_OK(meta_dir_iter(t, META_ROOT_INO, 0, collect_cb, &c));
	CHECK_INT_EQ(c.n, 5);
	for (int i = 0; i < 5; i++)
		CHECK_STR_EQ(c.names[i], names[i]);
	c.n = 0;
	CHECK_OK(meta_dir_iter(t, META_ROOT_INO, ck[2], collect_cb, &c));
	CHECK_INT_EQ(c.n, 2);
	CHECK_STR_EQ(c.names[0], "b");
	CHECK_OK(meta_dirent_get(t, META_ROOT_INO, "alpha", 5, &de));
	CHECK_U64_EQ(de.ino, 101);
	CHECK_U64_EQ(de.cookie, ck[1]);
	meta_txn_abort(t);

	/* Delete one in the middle and add a new one: a client holding cookie ck[2] resumes
	 * correctly, the new entry comes last, across a reopen. */
	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_inode_get(t, META_ROOT_INO, &root));
	CHECK_OK(meta_dirent_del(t, META_ROOT_INO, "mid", 3));
	CHECK_INT_EQ(meta_dirent_del(t, META_ROOT_INO, "mid", 3), ENOENT);
	CHECK_OK(meta_dirent_add(t, &root, "new", 3, 300, META_T_DIR, NULL));
	CHECK_OK(meta_txn_commit(t));
	meta_env_close(me);
	me = open_env(dir, 0);
	c.n = 0;
	CHECK_OK(meta_txn_begin(me, false, &t));
	CHECK_OK(meta_dir_iter(t, META_ROOT_INO, ck[2], collect_cb, &c));
	meta_txn_abort(t);
	CHECK_INT_EQ(c.n, 3);
	CHECK_STR_EQ(c.names[0], "b");
	CHECK_STR_EQ(c.names[1], "a");
	CHECK_STR_EQ(c.names[2], "new");
	CHECK(c.cookies[2] > ck[4]);
	meta_env_close(me);
}

static void test_long_keys(void)
{
	const char *dir = check_tmpdir();
	struct meta_env *me = open_env(dir, 0);
	struct meta_txn *t;
	char k1[1025], k2[1025];
	uint64_t ino;
	struct meta_delete d;

	/* Same first 1,000 bytes, different tails: must stay distinct keys. */
	memset(k1, 'k', 1024);
	k1[1024] = '\0';
	memcpy(k2, k1, sizeof k1);
	k2[1023] = 'x';
	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_key_put(t, k1, 1024, 11));
	CHECK_OK(meta_key_put(t, k2, 1024, 22));
	CHECK_OK(meta_key_put(t, k1, 480, 33));	/* raw form */
	CHECK_OK(meta_delete_add(t, k2, 1024, "etag2", 5, 22));
	CHECK_OK(meta_txn_commit(t));
	CHECK_OK(meta_txn_begin(me, false, &t));
	CHECK_OK(meta_key_get(t, k1, 1024, &ino));
	CHECK_U64_EQ(ino, 11);
	CHECK_OK(meta_key_get(t, k2, 1024, &ino));
	CHECK_U64_EQ(ino, 22);
	CHECK_OK(meta_key_get(t, k1, 480, &ino));
	CHECK_U64_EQ(ino, 33);
	CHECK_INT_EQ(meta_key_get(t, k1, 1000, &ino), ENOENT);
	CHECK_OK(meta_delete_get(t, k2, 1024, &d));
	CHECK_INT_EQ(d.key_len, 1024);
	CHECK_MEM_EQ(d.key, k2, 1024);
	CHECK_STR_EQ(d.etag, "etag2");
	CHECK_U64_EQ(d.ino, 22);
	CHECK_INT_EQ(meta_delete_get(t, k1, 1024, &d), ENOENT);
	meta_txn_abort(t);
	meta_env_close(me);
}

static int count_ino(void *arg, uint64_t ino)
{
	(void)ino;
	(*(int *)arg)++;
	return 0;
}

static void test_dirty_extents_symlinks(void)
{
	const char *dir = check_tmpdir();
	struct meta_env *me = open_env(dir, 0);
	struct meta_txn *t;
	struct rangeset rs = RANGESET_INIT, got = RANGESET_INIT;
	char buf[64];
	size_t len;
	uint64_t n;
	int cnt = 0;

	CHECK_OK(rangeset_add(&rs, 0, 100));
	CHECK_OK(rangeset_add(&rs, 4096, 8192));
	CHECK_OK(meta_txn_begin(me, true, &t));
	for (uint64_t i = 10; i < 20; i++)
		CHECK_OK(meta_dirty_add(t, i));
	CHECK_OK(meta_dirty_add(t, 10));	/* idempotent */
	CHECK_OK(meta_dirty_del(t, 11));
	CHECK_OK(meta_dirty_del(t, 999));	/* absent is fine */
	CHECK_OK(meta_extents_put(t, 10, &rs));
	CHECK_OK(meta_symlink_put(t, 12, "../target", 9));
	CHECK_OK(meta_txn_commit(t));
	CHECK_OK(meta_txn_begin(me, false, &t));
	CHECK_OK(meta_dirty_count(t, &n));
	CHECK_U64_EQ(n, 9);
	CHECK_OK(meta_dirty_iter(t, count_ino, &cnt));
	CHECK_INT_EQ(cnt, 9);
	CHECK_OK(meta_extents_get(t, 10, &got));
	CHECK_INT_EQ(got.n, 2);
	CHECK_U64_EQ(got.r[1].end, 8192);
	CHECK_OK(meta_extents_get(t, 11, &got));
	CHECK_INT_EQ(got.n, 0);
	CHECK_OK(meta_symlink_get(t, 12, buf, sizeof buf, &len));
	CHECK_STR_EQ(buf, "../target");
	CHECK_INT_EQ(meta_symlink_get(t, 12, buf, 5, &len), ERANGE);
	meta_txn_abort(t);
	rangeset_free(&rs);
	rangeset_free(&got);
	meta_env_close(me);
}

struct chg {
	uint64_t seq[16], ino[16];
	int n;
};

static int chg_cb(void *arg, uint64_t seq, uint64_t ino, enum meta_change_kind kind)
{
	struct chg *c = arg;

	(void)kind;
	c->seq[c->n] = seq;
	c->ino[c->n] = ino;
	c->n++;
	return 0;
}

static void test_change_feed(void)
{
	const char *dir = check_tmpdir();
	struct meta_env *me = open_env(dir, 0);
	struct meta_txn *t;
	struct chg c = { 0 };
	uint64_t last;

	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_change_last(t, &last));
	CHECK_U64_EQ(last, 0);
	for (uint64_t i = 0; i < 5; i++)
		CHECK_OK(meta_change_add(t, 100 + i, META_CH_ATTR));
	CHECK_OK(meta_txn_commit(t));
	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_change_iter(t, 2, chg_cb, &c));
	CHECK_INT_EQ(c.n, 3);
	CHECK_U64_EQ(c.seq[0], 3);
	CHECK_U64_EQ(c.ino[0], 102);
	CHECK_OK(meta_change_trim(t, 5));
	CHECK_OK(meta_change_last(t, &last));
	CHECK_U64_EQ(last, 5);		/* numbering survives an empty feed */
	CHECK_OK(meta_change_add(t, 7, META_CH_DIR));
	CHECK_OK(meta_change_last(t, &last));
	CHECK_U64_EQ(last, 6);
	CHECK_OK(meta_txn_commit(t));
	meta_env_close(me);
}

/* Insert *(int *)arg new inodes (a meta_write function). */
static int fill(struct meta_txn *tx, void *arg)
{
	int n = *(int *)arg;

	for (int i = 0; i < n; i++) {
		struct meta_inode in;
		uint64_t ino;
		uint32_t gen;
		int rc = meta_ino_alloc(tx, &ino, &gen);

		if (rc)
			return rc;
		meta_inode_init(&in, ino, gen, 1, META_T_REG, 0644, 0, 0, 1);
		meta_inode_set_name(&in, "some-file-name-of-moderate-length", 33);
		rc = meta_inode_put(tx, &in);
		if (rc)
			return rc;
	}
	return 0;
}

/* The map starts tiny and must grow, never fail, under a large insert. */
static void test_map_growth(void)
{
	const char *dir = check_tmpdir();
	struct meta_env *me = open_env(dir, 256 * 1024);
	struct meta_stats st;
	struct meta_txn *t;

	for (int batch = 0; batch < 20; batch++) {
		CHECK_OK(meta_txn_begin(me, true, &t));
		for (int i = 0; i < 500; i++) {
			struct meta_inode in;
			uint64_t ino;
			uint32_t gen;
			int rc = meta_ino_alloc(t, &ino, &gen);

			if (rc == 0) {
				meta_inode_init(&in, ino, gen, 1, META_T_REG, 0644, 0, 0, 1);
				meta_inode_set_name(&in, "some-file-name-of-moderate-length", 33);
				rc = meta_inode_put(t, &in);
			}
			if (rc == MDB_MAP_FULL) {
				/* Direct transactions see MAP_FULL: that is what meta_write
				 * handles. Abort and use it. */
				break;
			}
			CHECK_OK(rc);
		}
		meta_txn_abort(t);
	}
	/* Through meta_write the same work always succeeds. */
	for (int batch = 0; batch < 20; batch++) {
		int n = 500;

		CHECK_OK(meta_write(me, fill, &n));
	}
	CHECK_OK(meta_stats_get(me, &st));
	CHECK(st.inodes >= 10000);
	CHECK(st.map_size > 256 * 1024);
	meta_env_close(me);
}

/* ---- group commit: callers queued behind a running transaction share one commit ---- */

struct grp {
	struct meta_env *me;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int entered;		/* fns running or run */
	bool release;		/* the leader's fn may return */
};

struct grp_job {
	struct grp *g;
	uint64_t ino;
	bool fail;		/* write, then fail: only this job's write is taken back */
	bool lead;		/* wait in fn until released */
	int rc;
};

static int grp_fn(struct meta_txn *t, void *arg)
{
	struct grp_job *j = arg;
	struct meta_inode in;
	int rc;

	meta_inode_init(&in, j->ino, 1, META_ROOT_INO, META_T_REG, 0644, 0, 0, 1);
	rc = meta_inode_put(t, &in);
	pthread_mutex_lock(&j->g->lock);
	j->g->entered++;
	pthread_cond_broadcast(&j->g->cond);
	while (j->lead && !j->g->release)
		pthread_cond_wait(&j->g->cond, &j->g->lock);
	pthread_mutex_unlock(&j->g->lock);
	return rc ? rc : j->fail ? EIO : 0;
}

static void *grp_thread(void *arg)
{
	struct grp_job *j = arg;

	j->rc = meta_write(j->g->me, grp_fn, j);
	return NULL;
}

static void test_group_commit(void)
{
	const char *dir = check_tmpdir();
	struct meta_env *me = open_env(dir, 0);
	struct grp g = { .me = me };
	struct grp_job jobs[5] = {
		{ .g = &g, .ino = 900001, .lead = true },
		{ .g = &g, .ino = 900002 },
		{ .g = &g, .ino = 900003, .fail = true },
		{ .g = &g, .ino = 900004 },
		{ .g = &g, .ino = 900005 },
	};
	pthread_t th[5];
	uint64_t groups0, jobs0, groups1, jobs1;
	struct meta_txn *t;
	struct meta_inode in;

	pthread_mutex_init(&g.lock, NULL);
	pthread_cond_init(&g.cond, NULL);
	meta_write_counts(me, &groups0, &jobs0);
	/* The leader enters its fn and stays there; the other four queue behind it. */
	CHECK_INT_EQ(pthread_create(&th[0], NULL, grp_thread, &jobs[0]), 0);
	pthread_mutex_lock(&g.lock);
	while (g.entered < 1)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);
	for (int i = 1; i < 5; i++)
		CHECK_INT_EQ(pthread_create(&th[i], NULL, grp_thread, &jobs[i]), 0);
	/* None of the four runs while the leader's transaction is open. */
	usleep(200000);
	pthread_mutex_lock(&g.lock);
	CHECK_INT_EQ(g.entered, 1);
	g.release = true;
	pthread_cond_broadcast(&g.cond);
	pthread_mutex_unlock(&g.lock);
	for (int i = 0; i < 5; i++)
		pthread_join(th[i], NULL);
	CHECK_INT_EQ(jobs[0].rc, 0);
	CHECK_INT_EQ(jobs[1].rc, 0);
	CHECK_INT_EQ(jobs[2].rc, EIO);
	CHECK_INT_EQ(jobs[3].rc, 0);
	CHECK_INT_EQ(jobs[4].rc, 0);
	/* Two commits for five callers: the leader's, then one for the four queued. */
	meta_write_counts(me, &groups1, &jobs1);
	CHECK_INT_EQ(groups1 - groups0, 2);
	CHECK_INT_EQ(jobs1 - jobs0, 5);
	/* The failed job's write was taken back, its group's others kept. */
	CHECK_OK(meta_txn_begin(me, false, &t));
	for (int i = 0; i < 5; i++) {
		int rc = meta_inode_get(t, jobs[i].ino, &in);

		CHECK_INT_EQ(rc, jobs[i].fail ? ENOENT : 0);
	}
	meta_txn_abort(t);
	pthread_cond_destroy(&g.cond);
	pthread_mutex_destroy(&g.lock);
	meta_env_close(me);
}

/* Two processes write the same store; a child grows the map under the parent. */
static void test_two_processes(void)
{
	const char *dir = check_tmpdir();
	struct meta_env *me = open_env(dir, 256 * 1024);
	struct meta_stats st;
	pid_t pid;
	int status, n = 200;

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct meta_env *ce = NULL;
		struct meta_opts o = { .map_size = 256 * 1024, .nosync = true };
		int ok = meta_env_open(dir, &o, &ce) == 0;

		for (int i = 0; ok && i < 30; i++)
			ok = meta_write(ce, fill, &n) == 0;
		meta_env_close(ce);
		_exit(ok ? 0 : 1);
	}
	for (int i = 0; i < 30; i++)
		CHECK_OK(meta_write(me, fill, &n));
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_OK(meta_stats_get(me, &st));
	CHECK_U64_EQ(st.inodes, 1 + 2 * 30 * 200);
	meta_env_close(me);
}

/* meta_sync syncs only what a sync of ours has not covered yet: a second sync with nothing
 * committed since is free, a commit of ours or of another process (the daemon and
 * ganesha share a store) makes the next one sync again. */
static void test_sync_when_committed(void)
{
	const char *dir = check_tmpdir();
	struct meta_opts o = { .map_size = 1 << 20 };
	struct meta_env *me = NULL;
	uint64_t n0;
	pid_t pid;
	int status, n = 1;

	CHECK_OK(meta_env_open(dir, &o, &me));
	CHECK_OK(meta_write(me, fill, &n));
	n0 = meta_sync_count(me);
	CHECK_OK(meta_sync(me));
	CHECK_U64_EQ(meta_sync_count(me), n0 + 1);
	CHECK_OK(meta_sync(me));
	CHECK_OK(meta_sync(me));
	CHECK_U64_EQ(meta_sync_count(me), n0 + 1);	/* nothing new */
	CHECK_OK(meta_write(me, fill, &n));
	CHECK_OK(meta_sync(me));
	CHECK_U64_EQ(meta_sync_count(me), n0 + 2);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct meta_env *ce = NULL;
		struct meta_opts co = { .map_size = 1 << 20, .nosync = true };
		int ok = meta_env_open(dir, &co, &ce) == 0 && meta_write(ce, fill, &n) == 0;

		meta_env_close(ce);
		_exit(ok ? 0 : 1);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_OK(meta_sync(me));
	CHECK_U64_EQ(meta_sync_count(me), n0 + 3);	/* the other process's commit */
	meta_env_close(me);
}

/* A group commit held open by its fn: the fn says it is in (leading), waits hold_ms and
 * then writes one inode, or fails (nothing committed). */
struct held {
	struct meta_env *me;
	int hold_ms;
	bool fail;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool inside;
	int rc;
};

static int held_fn(struct meta_txn *tx, void *arg)
{
	struct held *h = arg;
	int n = 1;

	pthread_mutex_lock(&h->lock);
	h->inside = true;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	usleep((useconds_t)h->hold_ms * 1000);
	return h->fail ? EIO : fill(tx, &n);
}

static void *held_main(void *arg)
{
	struct held *h = arg;

	h->rc = meta_write(h->me, held_fn, h);
	return NULL;
}

/* meta_sync while another thread's group commit runs: the commit, whose fdatasync comes
 * after the caller's transaction, makes it durable; the caller waits for it instead of
 * syncing. If the group commits nothing, the caller must sync itself (a sync count that
 * stays the same would mean its transaction was acknowledged on the strength of a commit
 * that never happened). */
static void test_sync_rides_group_commit(void)
{
	const char *dir = check_tmpdir();
	struct meta_opts o = { .map_size = 1 << 20, .sync_ride_ns = 30LL * 1000000000 };
	struct meta_env *me = NULL;
	uint64_t s0, r0;
	int n = 1;

	CHECK_OK(meta_env_open(dir, &o, &me));
	for (int fail = 0; fail < 2; fail++) {
		struct held h = { .me = me, .hold_ms = 50, .fail = fail };
		pthread_t th;

		pthread_mutex_init(&h.lock, NULL);
		pthread_cond_init(&h.cond, NULL);
		CHECK_OK(meta_write(me, fill, &n));	/* the caller's transaction */
		s0 = meta_sync_count(me);
		r0 = meta_sync_ride_count(me);
		CHECK(pthread_create(&th, NULL, held_main, &h) == 0);
		pthread_mutex_lock(&h.lock);
		while (!h.inside)
			pthread_cond_wait(&h.cond, &h.lock);
		pthread_mutex_unlock(&h.lock);
		CHECK_OK(meta_sync(me));	/* the group is running (50 ms) */
		pthread_join(th, NULL);
		if (!fail) {
			CHECK_OK(h.rc);
			CHECK_U64_EQ(meta_sync_count(me), s0);
			CHECK_U64_EQ(meta_sync_ride_count(me), r0 + 1);
		} else {
			CHECK_INT_EQ(h.rc, EIO);
			CHECK_U64_EQ(meta_sync_count(me), s0 + 1);
			CHECK_U64_EQ(meta_sync_ride_count(me), r0);
		}
		/* the group's own transaction (when it committed) is the newest: a sync now
		 * has it to do, and then nothing */
		CHECK_OK(meta_sync(me));
		CHECK_OK(meta_sync(me));
		CHECK_U64_EQ(meta_sync_count(me), s0 + 1);
		pthread_cond_destroy(&h.cond);
		pthread_mutex_destroy(&h.lock);
	}
	meta_env_close(me);
}

static void test_schema_mismatch(void)
{
	const char *dir = check_tmpdir();
	struct meta_env *me = open_env(dir, 0);
	struct meta_txn *t;
	uint32_t bad = 99;

	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_info_put(t, "schema", &bad, sizeof bad));
	CHECK_OK(meta_txn_commit(t));
	meta_env_close(me);
	me = NULL;
	CHECK_INT_EQ(meta_env_open(dir, NULL, &me), S3F_E_META_VERSION);
}

static void test_badkeys(void)
{
	const char *dir = check_tmpdir();
	struct meta_env *me = open_env(dir, 0);
	struct meta_txn *t;

	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_badkey_add(t, "a/../b", 6, 3));
	CHECK_INT_EQ(meta_badkey_add(t, "a/../b", 6, 3), EEXIST);
	CHECK_OK(meta_badkey_del(t, "a/../b", 6));
	CHECK_OK(meta_badkey_add(t, "a/../b", 6, 3));
	CHECK_OK(meta_txn_commit(t));
	meta_env_close(me);
}

static int dirjob_ids(void *arg, const struct meta_dirjob *j)
{
	uint64_t *ids = arg;

	ids[ids[0] + 1] = j->id;
	ids[0]++;
	return 0;
}

static void test_moves_dirjobs(void)
{
	const char *dir = check_tmpdir();
	struct meta_env *me = open_env(dir, 0);
	struct meta_txn *t;
	struct meta_move m = { .dirty_gen = 7, .clean = true }, m2;
	struct meta_dirjob *j = calloc(1, sizeof *j), *j2 = calloc(1, sizeof *j2);
	uint64_t ids[8] = { 0 }, id1;
	char longkey[S3_KEY_MAX + 1];

	/* A move record keeps the whole source key, even one too long for an LMDB key. */
	memset(longkey, 'k', S3_KEY_MAX);
	longkey[S3_KEY_MAX] = '\0';
	strcpy(m.etag, "0123456789abcdef0123456789abcdef-3");
	memcpy(m.key, longkey, S3_KEY_MAX + 1);
	m.key_len = S3_KEY_MAX;
	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_move_put(t, 42, &m));
	CHECK_INT_EQ(meta_move_get(t, 43, &m2), ENOENT);
	CHECK_OK(meta_move_del(t, 43));
	m.key_len = 0;
	CHECK_INT_EQ(meta_move_put(t, 44, &m), EINVAL);

	/* Jobs get increasing ids and come back in that order with every field. */
	strcpy(j->old_prefix, "a/b/");
	j->old_len = 4;
	strcpy(j->new_prefix, "c/");
	j->new_len = 2;
	j->ino = 9;
	j->created_ns = -5;
	CHECK_OK(meta_dirjob_add(t, j));
	id1 = j->id;
	CHECK_OK(meta_dirjob_add(t, j));
	CHECK(j->id > id1);
	CHECK_OK(meta_txn_commit(t));
	meta_env_close(me);

	me = open_env(dir, 0);
	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_move_get(t, 42, &m2));
	CHECK_U64_EQ(m2.dirty_gen, 7);
	CHECK(m2.clean);
	CHECK_STR_EQ(m2.etag, "0123456789abcdef0123456789abcdef-3");
	CHECK_INT_EQ(m2.key_len, S3_KEY_MAX);
	CHECK_STR_EQ(m2.key, longkey);
	CHECK_OK(meta_dirjob_get(t, id1, j2));
	CHECK_STR_EQ(j2->old_prefix, "a/b/");
	CHECK_STR_EQ(j2->new_prefix, "c/");
	CHECK_U64_EQ(j2->ino, 9);
	CHECK_INT_EQ(j2->created_ns, -5);
	CHECK_INT_EQ(j2->marker_len, 0);
	memcpy(j2->marker, longkey, S3_KEY_MAX + 1);
	j2->marker_len = S3_KEY_MAX;
	j2->listed = 1000;
	j2->moved = 998;
	j2->skipped = 2;
	j2->warned = true;
	CHECK_OK(meta_dirjob_put(t, j2));
	CHECK_OK(meta_dirjob_get(t, id1, j));
	CHECK_STR_EQ(j->marker, longkey);
	CHECK_U64_EQ(j->listed, 1000);
	CHECK_U64_EQ(j->moved, 998);
	CHECK_U64_EQ(j->skipped, 2);
	CHECK(j->warned);
	CHECK_OK(meta_dirjob_iter(t, dirjob_ids, ids));
	CHECK_U64_EQ(ids[0], 2);
	CHECK_U64_EQ(ids[1], id1);
	CHECK(ids[2] > id1);
	CHECK_OK(meta_dirjob_del(t, id1));
	CHECK_INT_EQ(meta_dirjob_del(t, id1), ENOENT);
	CHECK_INT_EQ(meta_dirjob_get(t, id1, j), ENOENT);
	CHECK_OK(meta_move_del(t, 42));
	CHECK_INT_EQ(meta_move_get(t, 42, &m2), ENOENT);
	CHECK_OK(meta_txn_commit(t));
	meta_env_close(me);
	free(j);
	free(j2);
}

/* A store of schema 2 (no moves, no dirjobs) opens and is upgraded in place. */
struct ino_list {
	uint64_t ino[16];
	int n;
};

static int collect_ino(void *arg, uint64_t ino)
{
	struct ino_list *l = arg;

	if (l->n < 16)
		l->ino[l->n++] = ino;
	return 0;
}

static struct ino_list s3dirs(struct meta_env *me)
{
	struct ino_list l = { .n = 0 };
	struct meta_txn *t;

	CHECK_OK(meta_txn_begin(me, false, &t));
	CHECK_OK(meta_s3dir_iter(t, collect_ino, &l));
	meta_txn_abort(t);
	return l;
}

/* Put a directory (or file) inode with the given flags; returns its number. */
static uint64_t put_node(struct meta_env *me, enum meta_type type, uint32_t flags)
{
	struct meta_txn *t;
	struct meta_inode in;
	uint64_t ino;
	uint32_t gen;

	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_ino_alloc(t, &ino, &gen));
	meta_inode_init(&in, ino, gen, META_ROOT_INO, type, 0755, 0, 0, meta_now_ns());
	in.flags = flags;
	CHECK_OK(meta_inode_put(t, &in));
	CHECK_OK(meta_txn_commit(t));
	return ino;
}

/* The s3dirs index follows the inodes: a directory bound to S3 is in it, one that stops
 * being bound or is deleted leaves it; files never are. */
static void test_s3dirs_index(void)
{
	struct meta_env *me = open_env(check_tmpdir(), 0);
	struct meta_txn *t;
	struct meta_inode in;
	struct ino_list l;
	uint64_t d1, d2, f;

	l = s3dirs(me);
	CHECK_INT_EQ(l.n, 1);
	CHECK_U64_EQ(l.ino[0], META_ROOT_INO);
	d1 = put_node(me, META_T_DIR, META_F_IN_S3 | META_F_IMPORTED);
	d2 = put_node(me, META_T_DIR, 0);
	f = put_node(me, META_T_REG, META_F_IN_S3);
	l = s3dirs(me);
	CHECK_INT_EQ(l.n, 2);
	CHECK_U64_EQ(l.ino[1], d1);
	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_inode_get(t, d2, &in));
	in.flags |= META_F_IN_S3;		/* its marker was uploaded */
	CHECK_OK(meta_inode_put(t, &in));
	CHECK_OK(meta_inode_get(t, d1, &in));
	in.flags &= ~(uint32_t)META_F_IN_S3;	/* gone from S3, kept for local changes */
	CHECK_OK(meta_inode_put(t, &in));
	CHECK_OK(meta_txn_commit(t));
	l = s3dirs(me);
	CHECK_INT_EQ(l.n, 2);
	CHECK_U64_EQ(l.ino[1], d2);
	CHECK_OK(meta_txn_begin(me, true, &t));
	CHECK_OK(meta_inode_del(t, d2));
	CHECK_OK(meta_inode_del(t, f));
	CHECK_OK(meta_txn_commit(t));
	l = s3dirs(me);
	CHECK_INT_EQ(l.n, 1);
	meta_env_close(me);
}

/* Stores of schema 2 and 3 are upgraded in place; the s3dirs index (new in 4) is built
 * from their inodes. */
static void test_schema_upgrade(void)
{
	for (uint32_t old = 2; old <= 3; old++) {
		const char *dir = check_tmpdir();
		struct meta_env *me = open_env(dir, 0);
		struct meta_txn *t;
		struct meta_inode root;
		struct ino_list l;
		uint32_t now = 0;
		uint64_t d1;
		size_t len;
		MDB_env *env;
		MDB_txn *txn;
		MDB_dbi dbi;

		d1 = put_node(me, META_T_DIR, META_F_IN_S3);
		put_node(me, META_T_DIR, 0);
		CHECK_OK(meta_txn_begin(me, true, &t));
		CHECK_OK(meta_info_put(t, "schema", &old, sizeof old));
		CHECK_OK(meta_txn_commit(t));
		meta_env_close(me);
		/* An old store had no index: empty it behind the store's back. */
		CHECK_OK(mdb_env_create(&env));
		CHECK_OK(mdb_env_set_maxdbs(env, 32));
		CHECK_OK(mdb_env_open(env, dir, 0, 0600));
		CHECK_OK(mdb_txn_begin(env, NULL, 0, &txn));
		CHECK_OK(mdb_dbi_open(txn, "s3dirs", MDB_INTEGERKEY, &dbi));
		CHECK_OK(mdb_drop(txn, dbi, 0));
		CHECK_OK(mdb_txn_commit(txn));
		mdb_env_close(env);

		me = open_env(dir, 0);
		CHECK_OK(meta_txn_begin(me, false, &t));
		CHECK_OK(meta_info_get(t, "schema", &now, sizeof now, &len));
		CHECK_OK(meta_inode_get(t, META_ROOT_INO, &root));
		meta_txn_abort(t);
		CHECK_INT_EQ(now, 6);	/* upgraded to the current schema (special files: 6) */
		l = s3dirs(me);
		CHECK_INT_EQ(l.n, 2);		/* the root and d1, not the unbound directory */
		CHECK_U64_EQ(l.ino[0], META_ROOT_INO);
		CHECK_U64_EQ(l.ino[1], d1);
		meta_env_close(me);
	}
}

int main(void)
{
	CHECK_RUN(test_root_exists);
	CHECK_RUN(test_inode_roundtrip);
	CHECK_RUN(test_inode_compact_forms);
	CHECK_RUN(test_inode_optional_tail);
	CHECK_RUN(test_ino_alloc);
	CHECK_RUN(test_dirents_cookies);
	CHECK_RUN(test_long_keys);
	CHECK_RUN(test_dirty_extents_symlinks);
	CHECK_RUN(test_change_feed);
	CHECK_RUN(test_map_growth);
	CHECK_RUN(test_group_commit);
	CHECK_RUN(test_two_processes);
	CHECK_RUN(test_sync_when_committed);
	CHECK_RUN(test_sync_rides_group_commit);
	CHECK_RUN(test_schema_mismatch);
	CHECK_RUN(test_badkeys);
	CHECK_RUN(test_moves_dirjobs);
	CHECK_RUN(test_s3dirs_index);
	CHECK_RUN(test_schema_upgrade);
	return check_done();
}
