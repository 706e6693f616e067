/* test_ns_store.c — the namespace's functions for what is not the file view: the store's
 * binding, import cursors and one-time marks, bad keys, the change feed, recorded
 * uploads, a refused upload's conflict mark, fsck's repairs and the daemon's scans. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "base/err.h"
#include "ns/keymap.h"
#include "store/info_keys.h"
#include "store/meta.h"
#include "ns/ns_sync.h"

struct fx {
	struct meta_env *me;
	struct keymap km;
	struct ns *ns;
};

static void fx_open(struct fx *f)
{
	struct meta_opts o = { .nosync = true };

	CHECK_OK(meta_env_open(check_tmpdir(), &o, &f->me));
	CHECK_OK(keymap_init(&f->km, ""));
	CHECK_OK(ns_open(f->me, &f->km, NULL, NULL, &f->ns));
	CHECK(ns_store(f->ns) == f->me);
}

static void fx_close(struct fx *f)
{
	ns_close(f->ns);
	keymap_fini(&f->km);
	meta_env_close(f->me);
}

static uint64_t mk(struct fx *f, uint64_t dir, const char *name, enum meta_type type)
{
	struct ns_new nw = { .type = type, .mode = 0640 };
	struct meta_inode in;

	CHECK_OK(ns_create(f->ns, dir, name, strlen(name), &nw, &in, NULL));
	return in.ino;
}

/* The first binding stays; another bucket is told apart and shown what the store holds. */
static void test_bind(void)
{
	struct fx f;
	char have[64];
	bool mismatch = true;

	fx_open(&f);
	CHECK_OK(ns_store_bind(f.me, "s3://a/p/", 9, have, sizeof have, &mismatch));
	CHECK(!mismatch);
	CHECK_OK(ns_store_bind(f.me, "s3://a/p/", 9, have, sizeof have, &mismatch));
	CHECK(!mismatch);
	CHECK_STR_EQ(have, "s3://a/p/");
	CHECK_OK(ns_store_bind(f.me, "s3://b/", 7, have, sizeof have, &mismatch));
	CHECK(mismatch);
	CHECK_STR_EQ(have, "s3://a/p/");
	CHECK_INT_EQ(ns_store_bind(f.me, "s3://b/", 7, have, 4, &mismatch), ERANGE);
	CHECK(!mismatch);
	fx_close(&f);
}

static void test_cursor_once(void)
{
	struct fx f;
	char buf[16];
	size_t len = 99;

	fx_open(&f);
	CHECK_INT_EQ(ns_import_cursor_get(f.ns, 5, buf, sizeof buf, &len), ENOENT);
	CHECK_U64_EQ(len, 0);
	CHECK_OK(ns_import_cursor_put(f.ns, 5, "cursor", 6));
	CHECK_INT_EQ(ns_import_cursor_get(f.ns, 6, buf, sizeof buf, &len), ENOENT);
	CHECK_OK(ns_import_cursor_get(f.ns, 5, buf, sizeof buf, &len));
	CHECK_U64_EQ(len, 6);
	CHECK_MEM_EQ(buf, "cursor", 6);
	CHECK_INT_EQ(ns_import_cursor_get(f.ns, 5, buf, 3, &len), ERANGE);
	CHECK_INT_EQ(ns_import_cursor_put(f.ns, 5, NULL, 0), EINVAL);
	CHECK_OK(ns_import_cursor_del(f.ns, 5));
	CHECK_OK(ns_import_cursor_del(f.ns, 5));
	CHECK_INT_EQ(ns_import_cursor_get(f.ns, 5, buf, sizeof buf, &len), ENOENT);

	CHECK_OK(ns_once(f.ns, META_INFO_WARNED_DIR, 7));
	CHECK_INT_EQ(ns_once(f.ns, META_INFO_WARNED_DIR, 7), EEXIST);
	CHECK_OK(ns_once(f.ns, META_INFO_WARNED_DIR, 8));
	CHECK_OK(ns_once(f.ns, META_INFO_WARNED_VIEW, 7));
	fx_close(&f);
}

static void test_badkeys(void)
{
	struct fx f;
	struct ns_bad_key bad[2] = { { "a//b", 4, KEYMAP_BAD_EMPTY }, { "c", 1, KEYMAP_BAD_COLLISION } };
	bool fresh[2] = { false, false };

	fx_open(&f);
	CHECK_OK(ns_badkeys_add(f.ns, bad, 1, fresh));
	CHECK(fresh[0]);
	CHECK_OK(ns_badkeys_add(f.ns, bad, 2, fresh));
	CHECK(!fresh[0]);
	CHECK(fresh[1]);
	fx_close(&f);
}

static int change_add_txn(struct meta_txn *t, void *arg)
{
	const uint64_t *ino = arg;

	return meta_change_add(t, *ino, META_CH_S3);
}

static int count_change(void *arg, uint64_t seq, uint64_t ino, enum meta_change_kind kind)
{
	(void)seq;
	(void)kind;
	*(uint64_t *)arg += ino;
	return 0;
}

static int stop_change(void *arg, uint64_t seq, uint64_t ino, enum meta_change_kind kind)
{
	(void)arg;
	(void)seq;
	(void)ino;
	(void)kind;
	return 1;
}

static void test_changes(void)
{
	struct fx f;
	uint64_t last0, last, sum = 0, a = 10, b = 20;

	fx_open(&f);
	CHECK_OK(ns_changes_last(f.ns, &last0));
	CHECK_OK(meta_write(f.me, change_add_txn, &a));
	CHECK_OK(meta_write(f.me, change_add_txn, &b));
	CHECK_OK(ns_changes_last(f.ns, &last));
	CHECK_U64_EQ(last, last0 + 2);
	CHECK_OK(ns_changes_read(f.ns, last0, count_change, &sum));
	CHECK_U64_EQ(sum, 30);
	CHECK_INT_EQ(ns_changes_read(f.ns, last0, stop_change, NULL), 1);
	CHECK_OK(ns_changes_trim(f.ns, last0 + 1));
	sum = 0;
	CHECK_OK(ns_changes_read(f.ns, 0, count_change, &sum));
	CHECK_U64_EQ(sum, 20);
	fx_close(&f);
}

static void test_uploads(void)
{
	struct fx f;
	struct ns_upload *l;
	char long_key[S3_KEY_MAX + 2], id[32];
	size_t n;

	fx_open(&f);
	CHECK_OK(ns_upload_list(f.ns, &l, &n));
	CHECK(l == NULL && n == 0);
	CHECK_OK(ns_upload_add(f.ns, "k1", "id1"));
	CHECK_OK(ns_upload_add(f.ns, "k2", "id2"));
	CHECK_OK(ns_upload_list(f.ns, &l, &n));
	CHECK_U64_EQ(n, 2);
	CHECK_STR_EQ(l[0].key, "k1");
	CHECK_U64_EQ(l[0].key_len, 2);
	CHECK_STR_EQ(l[0].id, "id1");
	CHECK(l[0].started_ns > 0);
	CHECK_STR_EQ(l[1].key, "k2");
	free(l);
	CHECK_OK(ns_upload_drop(f.ns, "id1"));
	CHECK_OK(ns_upload_drop(f.ns, "unknown"));
	CHECK_OK(ns_upload_list(f.ns, &l, &n));
	CHECK_U64_EQ(n, 1);
	CHECK_STR_EQ(l[0].id, "id2");
	free(l);

	memset(long_key, 'k', sizeof long_key - 1);
	long_key[sizeof long_key - 1] = '\0';
	CHECK_INT_EQ(ns_upload_add(f.ns, long_key, "x"), EINVAL);
	CHECK_INT_EQ(ns_upload_add(f.ns, NULL, "x"), EINVAL);
	for (unsigned i = 1; i < NS_UPLOADS_MAX; i++) {
		snprintf(id, sizeof id, "more%u", i);
		CHECK_OK(ns_upload_add(f.ns, "k", id));
	}
	CHECK_INT_EQ(ns_upload_add(f.ns, "k", "one-too-many"), ENOSPC);
	CHECK_OK(ns_upload_list(f.ns, &l, &n));
	CHECK_U64_EQ(n, NS_UPLOADS_MAX);
	free(l);
	fx_close(&f);
}

/* Only the sync state changes; a gone inode is no error. */
static void test_conflict_mark(void)
{
	struct fx f;
	struct meta_inode before, after;
	uint64_t ino;

	fx_open(&f);
	ino = mk(&f, META_ROOT_INO, "f", META_T_REG);
	CHECK_OK(ns_write_done(f.ns, ino, 0, 4, &before));
	CHECK_INT_EQ(before.sync, META_S_DIRTY);
	CHECK_OK(ns_conflict_mark(f.ns, ino));
	CHECK_OK(ns_getattr(f.ns, ino, &after));
	CHECK_INT_EQ(after.sync, META_S_CONFLICT);
	CHECK_U64_EQ(after.dirty_gen, before.dirty_gen);
	CHECK_U64_EQ(after.change, before.change);
	CHECK_OK(ns_conflict_mark(f.ns, ino));
	CHECK_OK(ns_conflict_mark(f.ns, ino + 1000));
	fx_close(&f);
}

static int dirty_add_txn(struct meta_txn *t, void *arg)
{
	return meta_dirty_add(t, *(uint64_t *)arg);
}

static int count_ino(void *arg, uint64_t ino)
{
	(void)ino;
	(*(size_t *)arg)++;
	return 0;
}

/* A repair checks its finding again in its transaction: a second run finds it gone. */
static void test_repair(void)
{
	struct fx f;
	struct meta_inode in;
	struct ns_repair r = { .kind = NS_REPAIR_NLINK, .val = 7 };
	bool gone = true;
	uint64_t ino;
	size_t n = 0;

	fx_open(&f);
	ino = mk(&f, META_ROOT_INO, "d", META_T_DIR);
	r.ino = ino;
	CHECK_OK(ns_repair(f.ns, &r, &gone));
	CHECK(!gone);
	CHECK_OK(ns_getattr(f.ns, ino, &in));
	CHECK_U64_EQ(in.nlink, 7);
	CHECK_OK(ns_repair(f.ns, &r, &gone));
	CHECK(gone);

	/* The dirty row of a missing inode goes; none left: gone. */
	ino = 999999;
	CHECK_OK(meta_write(f.me, dirty_add_txn, &ino));
	CHECK_OK(ns_dirty_iter(f.ns, count_ino, &n));
	r = (struct ns_repair){ .kind = NS_REPAIR_DIRTY_DEL, .ino = ino };
	CHECK_OK(ns_repair(f.ns, &r, &gone));
	CHECK(!gone);
	{
		size_t m = 0;

		CHECK_OK(ns_dirty_iter(f.ns, count_ino, &m));
		CHECK_U64_EQ(m, n - 1);
	}
	CHECK_OK(ns_repair(f.ns, &r, &gone));
	CHECK(gone);
	r.kind = (enum ns_repair_kind)0;
	CHECK_INT_EQ(ns_repair(f.ns, &r, &gone), EINVAL);
	fx_close(&f);
}

struct seen {
	uint64_t want;
	bool found, clean;
	size_t n;
};

static int seen_dir(void *arg, const struct meta_inode *in)
{
	struct seen *s = arg;

	s->n++;
	if (in->ino == s->want)
		s->found = in->type == META_T_DIR;
	return 0;
}

static int seen_entry(void *arg, const struct meta_dirent *de, const struct meta_inode *in)
{
	struct seen *s = arg;

	s->n++;
	if (de->ino == s->want && in->ino == de->ino) {
		s->found = de->name_len == 3 && memcmp(de->name, "obj", 3) == 0;
		s->clean = in->sync == META_S_CLEAN;
	}
	return 0;
}

static int seen_delete(void *arg, const struct meta_delete *d)
{
	struct seen *s = arg;

	s->n++;
	s->found = d->key_len == 3 && memcmp(d->key, "obj", 3) == 0;
	return 0;
}

static void test_scans(void)
{
	struct fx f;
	struct ns_import_entry e[2] = {
		{ .name = "obj", .len = 3, .size = 10, .mtime_s = 1000, .etag = "e1" },
		{ .name = "remote", .len = 6, .is_dir = true },
	};
	enum ns_import_result r[2];
	uint64_t inos[2];
	struct meta_inode v;
	struct seen s = { 0 };
	char etag[S3_ETAG_MAX] = "unchanged";
	bool found = true;

	fx_open(&f);
	CHECK_OK(ns_import_apply(f.ns, META_ROOT_INO, e, 2, meta_now_ns(), r, inos));
	CHECK_INT_EQ(r[0], NS_IMP_NEW);
	CHECK_INT_EQ(r[1], NS_IMP_NEW);

	s = (struct seen){ .want = inos[1] };
	CHECK_OK(ns_s3dirs_iter(f.ns, seen_dir, &s));
	CHECK(s.found);
	s = (struct seen){ .want = inos[0] };
	CHECK_OK(ns_dir_entries(f.ns, META_ROOT_INO, seen_entry, &s));
	CHECK(s.found && s.clean);
	CHECK_U64_EQ(s.n, 2);

	CHECK_OK(ns_delete_pending(f.ns, "obj", 3, etag, &found));
	CHECK(!found);
	CHECK_STR_EQ(etag, "unchanged");
	CHECK_OK(ns_remove(f.ns, META_ROOT_INO, "obj", 3, false, &v, NULL));
	CHECK_OK(ns_delete_pending(f.ns, "obj", 3, etag, &found));
	CHECK(found);
	CHECK_STR_EQ(etag, "e1");
	s = (struct seen){ 0 };
	CHECK_OK(ns_deletes_iter(f.ns, seen_delete, &s));
	CHECK(s.found);
	CHECK_U64_EQ(s.n, 1);
	fx_close(&f);
}

int main(void)
{
	CHECK_RUN(test_bind);
	CHECK_RUN(test_cursor_once);
	CHECK_RUN(test_badkeys);
	CHECK_RUN(test_changes);
	CHECK_RUN(test_uploads);
	CHECK_RUN(test_conflict_mark);
	CHECK_RUN(test_repair);
	CHECK_RUN(test_scans);
	return check_done();
}
