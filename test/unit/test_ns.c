/* test_ns.c — namespace semantics over the store: POSIX rules, import, commit bookkeeping. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "base/err.h"
#include "ns/keymap.h"
#include "store/meta.h"
#include "ns/ns_sync.h"

struct fx {
	struct meta_env *me;
	struct keymap km;
	struct ns *ns;
};

static void fx_open(struct fx *f, const char *prefix)
{
	struct meta_opts o = { .nosync = true };

	CHECK_OK(meta_env_open(check_tmpdir(), &o, &f->me));
	CHECK_OK(keymap_init(&f->km, prefix));
	CHECK_OK(ns_open(f->me, &f->km, NULL, NULL, &f->ns));
}

static void fx_close(struct fx *f)
{
	ns_close(f->ns);
	keymap_fini(&f->km);
	meta_env_close(f->me);
}

static uint64_t mk(struct fx *f, uint64_t dir, const char *name, enum meta_type type)
{
	struct ns_new nw = { .type = type, .mode = 0640, .uid = 7, .gid = 8 };
	struct meta_inode in;

	if (type == META_T_LNK) {
		nw.target = "target";
		nw.target_len = 6;
	}
	CHECK_OK(ns_create(f->ns, dir, name, strlen(name), &nw, &in, NULL));
	return in.ino;
}

/* Attributes asked for with a create are set in the create's transaction: one commit. */
static void test_create_with_attrs(void)
{
	struct fx f;
	struct ns_setattr sa = { .mask = NS_SET_UID | NS_SET_MTIME | NS_SET_SIZE, .uid = 1234,
				 .mtime_ns = 1000000000LL * 1000000000LL, .size = 4096 };
	struct ns_new nw = { .type = META_T_REG, .mode = 0600, .uid = 7, .gid = 8, .attrs = &sa };
	struct meta_inode in, got;
	uint64_t groups0, jobs0, groups1, jobs1;

	fx_open(&f, "pre/fix");
	meta_write_counts(f.me, &groups0, &jobs0);
	CHECK_OK(ns_create(f.ns, META_ROOT_INO, "attrs", 5, &nw, &in, NULL));
	meta_write_counts(f.me, &groups1, &jobs1);
	CHECK_U64_EQ(jobs1 - jobs0, 1);
	CHECK_INT_EQ(in.uid, 1234);
	CHECK_INT_EQ(in.gid, 8);
	CHECK_U64_EQ(in.size, 4096);
	CHECK(in.mtime_ns == sa.mtime_ns);
	CHECK_OK(ns_lookup(f.ns, META_ROOT_INO, "attrs", 5, &got));
	CHECK_U64_EQ(got.ino, in.ino);
	CHECK_INT_EQ(got.uid, 1234);
	CHECK_U64_EQ(got.size, 4096);
	CHECK(got.mtime_ns == sa.mtime_ns);
	CHECK_INT_EQ(got.sync, META_S_DIRTY);
	/* An existing name: EEXIST, and the attributes are not applied to it. */
	sa.uid = 999;
	CHECK_INT_EQ(ns_create(f.ns, META_ROOT_INO, "attrs", 5, &nw, &got, NULL), EEXIST);
	CHECK_OK(ns_lookup(f.ns, META_ROOT_INO, "attrs", 5, &got));
	CHECK_INT_EQ(got.uid, 1234);
	fx_close(&f);
}

static void test_create_lookup(void)
{
	struct fx f;
	struct meta_inode in, d;
	struct ns_new nw = { .type = META_T_REG, .mode = 0600 };
	uint64_t dir, file;
	char buf[64], longname[300];
	size_t len;

	fx_open(&f, "pre/fix");
	dir = mk(&f, META_ROOT_INO, "dir", META_T_DIR);
	file = mk(&f, dir, "file", META_T_REG);
	mk(&f, dir, "link", META_T_LNK);
	CHECK_OK(ns_lookup(f.ns, dir, "file", 4, &in));
	CHECK_U64_EQ(in.ino, file);
	CHECK_INT_EQ(in.mode, 0640);
	CHECK_INT_EQ(in.uid, 7);
	CHECK_INT_EQ(in.sync, META_S_DIRTY);
	CHECK_OK(ns_lookup(f.ns, dir, "..", 2, &in));
	CHECK_U64_EQ(in.ino, META_ROOT_INO);
	CHECK_OK(ns_lookup(f.ns, dir, ".", 1, &in));
	CHECK_U64_EQ(in.ino, dir);
	CHECK_INT_EQ(ns_lookup(f.ns, dir, "nope", 4, &in), ENOENT);
	CHECK_INT_EQ(ns_lookup(f.ns, file, "x", 1, &in), ENOTDIR);
	CHECK_INT_EQ(ns_create(f.ns, dir, "file", 4, &nw, &in, NULL), EEXIST);
	CHECK_U64_EQ(in.ino, file);
	CHECK_INT_EQ(ns_create(f.ns, file, "x", 1, &nw, &in, NULL), ENOTDIR);
	CHECK(ns_create(f.ns, dir, "a/b", 3, &nw, &in, NULL) != 0);
	CHECK(ns_create(f.ns, dir, "..", 2, &nw, &in, NULL) != 0);
	memset(longname, 'x', 256);
	CHECK_INT_EQ(ns_create(f.ns, dir, longname, 256, &nw, &in, NULL), ENAMETOOLONG);
	CHECK_INT_EQ(ns_create(f.ns, META_ROOT_INO, "lost+found", 10, &nw, &in, NULL), EPERM);
	CHECK_OK(ns_create(f.ns, dir, "lost+found", 10, &nw, &in, NULL));	/* only the root's */
	CHECK_INT_EQ(ns_readlink(f.ns, in.ino, buf, sizeof buf, &len), EINVAL);	/* not a link */
	CHECK_OK(ns_lookup(f.ns, dir, "link", 4, &in));
	CHECK_INT_EQ(in.type, META_T_LNK);
	CHECK_OK(ns_readlink(f.ns, in.ino, buf, sizeof buf, &len));
	CHECK_STR_EQ(buf, "target");
	CHECK_U64_EQ(in.size, 6);
	CHECK_OK(ns_getattr(f.ns, dir, &d));
	CHECK_INT_EQ(d.nlink, 2);
	CHECK_OK(ns_getattr(f.ns, META_ROOT_INO, &d));
	CHECK_INT_EQ(d.nlink, 3);

	/* Keys: prefix + path; directories end in '/'. */
	CHECK_OK(ns_key_of(f.ns, file, buf, sizeof buf, &len));
	CHECK_STR_EQ(buf, "pre/fix/dir/file");
	CHECK_OK(ns_key_of(f.ns, dir, buf, sizeof buf, &len));
	CHECK_STR_EQ(buf, "pre/fix/dir/");
	fx_close(&f);
}

static void test_readdir_paging(void)
{
	struct fx f;
	struct ns_dirent ents[7];
	size_t n, total = 0;
	bool eof = false;
	uint64_t after = 0, dir;
	char name[32];

	fx_open(&f, "");
	dir = mk(&f, META_ROOT_INO, "d", META_T_DIR);
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof name, "f%02d", i);
		mk(&f, dir, name, META_T_REG);
	}
	/* Page through 7 at a time; delete and add entries mid-way: every original entry
	 * not deleted is seen exactly once, in creation order. */
	int seen[60] = { 0 };

	while (!eof) {
		CHECK_OK(ns_readdir(f.ns, dir, after, ents, 7, &n, &eof));
		for (size_t i = 0; i < n; i++) {
			int idx = atoi(ents[i].name + 1);

			CHECK(ents[i].cookie > after);
			after = ents[i].cookie;
			seen[idx]++;
			total++;
		}
		if (total == 14) {
			struct meta_inode v;

			CHECK_OK(ns_remove(f.ns, dir, "f03", 3, false, &v, NULL));	/* already seen */
			CHECK_OK(ns_remove(f.ns, dir, "f40", 3, false, &v, NULL));	/* not yet */
			mk(&f, dir, "f55", META_T_REG);
		}
	}
	CHECK_INT_EQ(total, 50);	/* 50 - f40 + f55 */
	for (int i = 0; i < 50; i++)
		CHECK_INT_EQ(seen[i], i == 40 ? 0 : 1);
	CHECK_INT_EQ(seen[55], 1);
	fx_close(&f);
}

static void test_remove_rules(void)
{
	struct fx f;
	struct meta_inode v, in;
	uint64_t dir, sub;
	struct ns_import_entry e[1];
	enum ns_import_result r[1];
	uint64_t inos[1];
	uint64_t dirty, deletes;

	fx_open(&f, "p/");
	dir = mk(&f, META_ROOT_INO, "dir", META_T_DIR);
	sub = mk(&f, dir, "sub", META_T_DIR);
	mk(&f, sub, "f", META_T_REG);
	CHECK_INT_EQ(ns_remove(f.ns, dir, "sub", 3, true, &v, NULL), ENOTEMPTY);
	CHECK_INT_EQ(ns_remove(f.ns, dir, "sub", 3, false, &v, NULL), EISDIR);
	CHECK_INT_EQ(ns_remove(f.ns, sub, "f", 1, true, &v, NULL), ENOTDIR);
	CHECK_INT_EQ(ns_remove(f.ns, sub, "zz", 2, false, &v, NULL), ENOENT);
	CHECK_OK(ns_remove(f.ns, sub, "f", 1, false, &v, NULL));
	CHECK_OK(ns_remove(f.ns, dir, "sub", 3, true, &v, NULL));
	CHECK_INT_EQ(ns_getattr(f.ns, sub, &in), ENOENT);
	/* Never committed: nothing to delete in S3, nothing left dirty. */
	CHECK_OK(ns_backlog(f.ns, &dirty, &deletes));
	CHECK_U64_EQ(deletes, 0);
	CHECK_U64_EQ(dirty, 1);		/* only "dir" itself */

	/* An imported file removed on the file side: a pending delete of its key with its
	 * ETag. An imported directory whose listing was never read: EAGAIN. */
	memset(e, 0, sizeof e);
	e[0] = (struct ns_import_entry){ .name = "obj", .len = 3, .size = 10, .mtime_s = 1000,
					 .etag = "e1" };
	CHECK_OK(ns_import_apply(f.ns, META_ROOT_INO, e, 1, meta_now_ns(), r, inos));
	CHECK_INT_EQ(r[0], NS_IMP_NEW);
	e[0] = (struct ns_import_entry){ .name = "remote", .len = 6, .is_dir = true };
	CHECK_OK(ns_import_apply(f.ns, META_ROOT_INO, e, 1, meta_now_ns(), r, inos));
	CHECK_INT_EQ(ns_remove(f.ns, META_ROOT_INO, "remote", 6, true, &v, NULL), EAGAIN);
	CHECK_OK(ns_remove(f.ns, META_ROOT_INO, "obj", 3, false, &v, NULL));
	CHECK_OK(ns_backlog(f.ns, &dirty, &deletes));
	CHECK_U64_EQ(deletes, 1);
	/* The listing still shows it (not yet deleted in S3): it stays hidden. */
	e[0] = (struct ns_import_entry){ .name = "obj", .len = 3, .size = 10, .mtime_s = 1000,
					 .etag = "e1" };
	CHECK_OK(ns_import_apply(f.ns, META_ROOT_INO, e, 1, meta_now_ns(), r, inos));
	CHECK_INT_EQ(r[0], NS_IMP_PENDING_DELETE);
	CHECK_INT_EQ(ns_lookup(f.ns, META_ROOT_INO, "obj", 3, &in), ENOENT);
	/* Changed in S3 after the removal: S3 wins, the object is shown, delete dropped. */
	e[0].etag = "e2";
	CHECK_OK(ns_import_apply(f.ns, META_ROOT_INO, e, 1, meta_now_ns(), r, inos));
	CHECK_INT_EQ(r[0], NS_IMP_DELETE_LOST);
	CHECK_OK(ns_backlog(f.ns, &dirty, &deletes));
	CHECK_U64_EQ(deletes, 0);
	fx_close(&f);
}

static void test_setattr_write(void)
{
	struct fx f;
	struct meta_inode in;
	struct ns_setattr sa = { 0 };
	struct rangeset rs = RANGESET_INIT;
	uint64_t file, gen0;

	fx_open(&f, "");
	file = mk(&f, META_ROOT_INO, "f", META_T_REG);
	CHECK_OK(ns_getattr(f.ns, file, &in));
	gen0 = in.dirty_gen;
	CHECK_OK(ns_write_done(f.ns, file, 100, 50, &in));
	CHECK_U64_EQ(in.size, 150);
	CHECK_U64_EQ(in.dirty_gen, gen0 + 1);
	CHECK_INT_EQ(in.data, META_D_FULL);
	sa.mask = NS_SET_MODE | NS_SET_UID | NS_SET_MTIME;
	sa.mode = 0755;
	sa.uid = 42;
	sa.mtime_ns = 5000000000LL;
	CHECK_OK(ns_setattr(f.ns, file, &sa, &in));
	CHECK_INT_EQ(in.mode, 0755);
	CHECK_INT_EQ(in.uid, 42);
	CHECK_INT_EQ(in.mtime_ns, 5000000000LL);
	CHECK_U64_EQ(in.dirty_gen, gen0 + 2);
	/* atime alone does not make the file dirty again. */
	sa.mask = NS_SET_ATIME;
	sa.atime_ns = 1;
	CHECK_OK(ns_setattr(f.ns, file, &sa, &in));
	CHECK_U64_EQ(in.dirty_gen, gen0 + 2);
	sa.mask = NS_SET_SIZE;
	sa.size = 10;
	CHECK_OK(ns_setattr(f.ns, file, &sa, &in));
	CHECK_U64_EQ(in.size, 10);
	CHECK_OK(ns_data_present(f.ns, file, &rs, &in));
	CHECK(rangeset_covers(&rs, 0, 10));

	/* A partially local (imported, large) file: writes add present ranges. */
	struct ns_import_entry e = { .name = "big", .len = 3, .size = 1 << 20, .mtime_s = 5,
				     .etag = "big1" };
	enum ns_import_result r;
	uint64_t big;

	CHECK_OK(ns_import_apply(f.ns, META_ROOT_INO, &e, 1, meta_now_ns(), &r, &big));
	CHECK_OK(ns_getattr(f.ns, big, &in));
	CHECK_INT_EQ(in.data, META_D_NONE);
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK_OK(ns_write_done(f.ns, big, 4096, 4096, &in));
	CHECK_INT_EQ(in.data, META_D_PARTIAL);
	CHECK_OK(ns_data_present(f.ns, big, &rs, &in));
	CHECK(rangeset_covers(&rs, 4096, 8192));
	CHECK(!rangeset_covers(&rs, 0, 4096));
	/* Fetched bytes of the wrong version are refused; of the right one recorded. */
	CHECK_INT_EQ(ns_data_fetched(f.ns, big, "other", 0, 4096, &in), S3F_E_S3_PRECOND);
	CHECK_OK(ns_data_fetched(f.ns, big, "big1", 0, 4096, &in));
	CHECK_OK(ns_data_fetched(f.ns, big, "big1", 8192, (1 << 20) - 8192, &in));
	CHECK_INT_EQ(in.data, META_D_FULL);
	rangeset_free(&rs);
	fx_close(&f);
}

struct seen_set {
	const char **names;
	int n;
};

static bool seen_fn(void *arg, const char *name, size_t len)
{
	struct seen_set *s = arg;

	for (int i = 0; i < s->n; i++)
		if (strlen(s->names[i]) == len && memcmp(s->names[i], name, len) == 0)
			return true;
	return false;
}

static int n_removed_cb;

static void removed_cb(void *arg, uint64_t ino, uint8_t type)
{
	(void)arg;
	(void)ino;
	(void)type;
	n_removed_cb++;
}

/* The kind of ino's last entry in the change feed (0: none). */
struct last_kind_arg {
	uint64_t ino;
	int kind;
};

static int last_kind_cb(void *arg, uint64_t seq, uint64_t ino, enum meta_change_kind kind)
{
	struct last_kind_arg *a = arg;

	(void)seq;
	if (ino == a->ino)
		a->kind = (int)kind;
	return 0;
}

static int last_kind_txn(struct meta_txn *t, void *arg)
{
	return meta_change_iter(t, 0, last_kind_cb, arg);
}

static int feed_last_kind(struct fx *f, uint64_t ino)
{
	struct last_kind_arg a = { ino, 0 };

	CHECK_OK(meta_read(f->me, last_kind_txn, &a));
	return a.kind;
}

static void test_import_cycle(void)
{
	struct fx f;
	struct ns_import_entry e[4];
	enum ns_import_result r[4];
	uint64_t inos[4], removed, subdir, deep;
	struct meta_inode in;
	int64_t t0 = meta_now_ns();

	fx_open(&f, "");
	e[0] = (struct ns_import_entry){ .name = "a", .len = 1, .size = 5, .mtime_s = 100, .etag = "ea" };
	e[1] = (struct ns_import_entry){ .name = "b", .len = 1, .size = 6, .mtime_s = 100, .etag = "eb" };
	e[2] = (struct ns_import_entry){ .name = "sub", .len = 3, .is_dir = true };
	e[3] = (struct ns_import_entry){ .name = "c", .len = 1, .size = 7, .mtime_s = 100, .etag = "ec" };
	CHECK_OK(ns_import_apply(f.ns, META_ROOT_INO, e, 4, t0, r, inos));
	for (int i = 0; i < 4; i++)
		CHECK_INT_EQ(r[i], NS_IMP_NEW);
	subdir = inos[2];
	CHECK_OK(ns_getattr(f.ns, inos[0], &in));
	CHECK_INT_EQ(in.mode, 0644);
	CHECK_INT_EQ(in.mtime_ns, 100000000000LL);
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK(in.flags & META_F_IN_S3);
	/* A clean subtree under sub. */
	e[0] = (struct ns_import_entry){ .name = "deep", .len = 4, .size = 1, .mtime_s = 1, .etag = "ed" };
	CHECK_OK(ns_import_apply(f.ns, subdir, e, 1, t0, r, &deep));
	/* Make "c" dirty on the file side. */
	CHECK_OK(ns_write_done(f.ns, inos[3], 0, 1, &in));
	uint64_t file_side = mk(&f, META_ROOT_INO, "new", META_T_REG);
	struct seen_set all = { (const char *[]){ "a", "b", "sub", "c" }, 4 };

	CHECK_OK(ns_import_finish(f.ns, META_ROOT_INO, t0, seen_fn, &all, NULL, NULL, &removed));
	CHECK_U64_EQ(removed, 0);

	/* Second listing: "a" changed, "b", "sub" and "c" gone. */
	int64_t t1 = meta_now_ns();

	e[0] = (struct ns_import_entry){ .name = "a", .len = 1, .size = 50, .mtime_s = 200, .etag = "ea2" };
	CHECK_OK(ns_import_apply(f.ns, META_ROOT_INO, e, 1, t1, r, inos));
	CHECK_INT_EQ(r[0], NS_IMP_CHANGED);
	/* A new version from S3: the kind after which delegations are recalled. */
	CHECK_INT_EQ(feed_last_kind(&f, inos[0]), META_CH_S3);
	{
		/* Its HEAD: metadata showing what the listing showed is no S3-side change to a
		 * client; a mode that differs is. */
		struct s3_object_info *oi = calloc(1, sizeof *oi);
		int orc = 0;

		snprintf(oi->etag, sizeof oi->etag, "ea2");
		oi->size = 50;
		oi->last_modified = 200;
		CHECK_OK(ns_import_objects(f.ns, &inos[0], oi, &orc, 1, false));
		CHECK_INT_EQ(feed_last_kind(&f, inos[0]), META_CH_ATTR);
		oi->n_meta = 1;
		snprintf(oi->meta[0].name, sizeof oi->meta[0].name, "mode");
		snprintf(oi->meta[0].value, sizeof oi->meta[0].value, "100600");
		CHECK_OK(ns_import_objects(f.ns, &inos[0], oi, &orc, 1, false));
		CHECK_INT_EQ(feed_last_kind(&f, inos[0]), META_CH_S3);
		CHECK_OK(ns_getattr(f.ns, inos[0], &in));
		CHECK_INT_EQ(in.mode, 0600);
		free(oi);
	}
	CHECK_OK(ns_getattr(f.ns, inos[0], &in));
	CHECK_U64_EQ(in.size, 50);
	CHECK_STR_EQ(in.etag, "ea2");
	CHECK_INT_EQ(in.data, META_D_NONE);
	struct seen_set only_a = { (const char *[]){ "a" }, 1 };

	n_removed_cb = 0;
	CHECK_OK(ns_import_finish(f.ns, META_ROOT_INO, t1, seen_fn, &only_a, removed_cb, NULL,
				  &removed));
	CHECK_U64_EQ(removed, 3);	/* b, sub, sub/deep */
	CHECK_INT_EQ(n_removed_cb, 3);
	CHECK_INT_EQ(ns_lookup(f.ns, META_ROOT_INO, "b", 1, &in), ENOENT);
	CHECK_INT_EQ(ns_getattr(f.ns, deep, &in), ENOENT);
	CHECK_OK(ns_lookup(f.ns, META_ROOT_INO, "c", 1, &in));	/* dirty: kept, conflict */
	CHECK_INT_EQ(in.sync, META_S_CONFLICT);
	CHECK_OK(ns_getattr(f.ns, file_side, &in));		/* never in S3: kept */
	CHECK_OK(ns_getattr(f.ns, META_ROOT_INO, &in));
	CHECK(in.flags & META_F_IMPORTED);
	fx_close(&f);
}

static void test_collision(void)
{
	struct fx f;
	struct ns_import_entry e;
	enum ns_import_result r;
	uint64_t ino;
	struct meta_inode in;

	fx_open(&f, "");
	e = (struct ns_import_entry){ .name = "x", .len = 1, .size = 3, .mtime_s = 1, .etag = "ex" };
	CHECK_OK(ns_import_apply(f.ns, META_ROOT_INO, &e, 1, meta_now_ns(), &r, &ino));
	CHECK_INT_EQ(r, NS_IMP_NEW);
	e = (struct ns_import_entry){ .name = "x", .len = 1, .is_dir = true };
	CHECK_OK(ns_import_apply(f.ns, META_ROOT_INO, &e, 1, meta_now_ns(), &r, &ino));
	CHECK_INT_EQ(r, NS_IMP_COLLISION);
	CHECK_OK(ns_lookup(f.ns, META_ROOT_INO, "x", 1, &in));
	CHECK_INT_EQ(in.type, META_T_DIR);	/* the directory wins */
	e = (struct ns_import_entry){ .name = "x", .len = 1, .size = 3, .mtime_s = 1, .etag = "ex" };
	CHECK_OK(ns_import_apply(f.ns, META_ROOT_INO, &e, 1, meta_now_ns(), &r, &ino));
	CHECK_INT_EQ(r, NS_IMP_COLLISION);
	CHECK_OK(ns_lookup(f.ns, META_ROOT_INO, "x", 1, &in));
	CHECK_INT_EQ(in.type, META_T_DIR);
	fx_close(&f);
}

static void test_commit_bookkeeping(void)
{
	struct fx f;
	struct ns_commit *c = malloc(sizeof *c);
	struct s3_object_info info = { 0 };
	struct meta_inode in;
	uint64_t file, dir, dirty, deletes, ino;

	fx_open(&f, "pfx");
	dir = mk(&f, META_ROOT_INO, "d", META_T_DIR);
	file = mk(&f, dir, "f", META_T_REG);
	CHECK_INT_EQ(ns_commit_prepare(f.ns, file, 3600LL * 1000000000LL, c), EAGAIN);
	CHECK_OK(ns_commit_prepare(f.ns, file, 0, c));
	CHECK_STR_EQ(c->key, "pfx/d/f");
	CHECK_STR_EQ(c->prev_etag, "");
	/* A write during the upload: the commit lands but the file stays dirty, now based on
	 * the uploaded ETag. */
	CHECK_OK(ns_write_done(f.ns, file, 0, 10, &in));
	strcpy(info.etag, "etag-1");
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	CHECK_OK(ns_getattr(f.ns, file, &in));
	CHECK_INT_EQ(in.sync, META_S_DIRTY);
	CHECK_STR_EQ(in.etag, "etag-1");
	CHECK(in.flags & META_F_IN_S3);
	CHECK_OK(ns_commit_prepare(f.ns, file, 0, c));
	CHECK_STR_EQ(c->prev_etag, "etag-1");
	strcpy(info.etag, "etag-2");
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	CHECK_OK(ns_getattr(f.ns, file, &in));
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK_INT_EQ(ns_commit_prepare(f.ns, file, 0, c), EALREADY);
	{
		struct meta_txn *t;

		CHECK_OK(meta_txn_begin(f.me, false, &t));
		CHECK_OK(meta_key_get(t, "pfx/d/f", 7, &ino));
		meta_txn_abort(t);
		CHECK_U64_EQ(ino, file);
	}
	/* Directory: marker key with '/'. */
	CHECK_OK(ns_commit_prepare(f.ns, dir, 0, c));
	CHECK_STR_EQ(c->key, "pfx/d/");
	/* Removed during the upload: the uploaded object must be deleted again. */
	uint64_t g = mk(&f, dir, "g", META_T_REG);
	struct meta_inode v;

	CHECK_OK(ns_commit_prepare(f.ns, g, 0, c));
	CHECK_OK(ns_remove(f.ns, dir, "g", 1, false, &v, NULL));
	strcpy(info.etag, "etag-g");
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	CHECK_OK(ns_backlog(f.ns, &dirty, &deletes));
	CHECK_U64_EQ(deletes, 1);
	CHECK_OK(ns_delete_done(f.ns, "pfx/d/g", 7));
	CHECK_OK(ns_backlog(f.ns, &dirty, &deletes));
	CHECK_U64_EQ(deletes, 0);
	free(c);
	fx_close(&f);
}

/* ---- rename ---- */

static uint64_t imp_file(struct fx *f, uint64_t dir, const char *name, const char *etag)
{
	struct ns_import_entry e = { .name = name, .len = strlen(name), .size = 10, .mtime_s = 100,
				     .etag = etag };
	enum ns_import_result r;
	uint64_t ino;

	CHECK_OK(ns_import_apply(f->ns, dir, &e, 1, meta_now_ns(), &r, &ino));
	CHECK_INT_EQ(r, NS_IMP_NEW);
	return ino;
}

static uint64_t imp_dir(struct fx *f, uint64_t dir, const char *name)
{
	struct ns_import_entry e = { .name = name, .len = strlen(name), .is_dir = true,
				     .is_marker = true };
	enum ns_import_result r;
	uint64_t ino;

	CHECK_OK(ns_import_apply(f->ns, dir, &e, 1, meta_now_ns(), &r, &ino));
	return ino;
}

static bool seen_all(void *arg, const char *name, size_t len)
{
	(void)arg;
	(void)name;
	(void)len;
	return true;
}

/* Mark dir's listing as imported (everything it holds was seen). */
static void imp_done(struct fx *f, uint64_t dir)
{
	CHECK_OK(ns_import_finish(f->ns, dir, meta_now_ns(), seen_all, NULL, NULL, NULL, NULL));
}

static int rn(struct fx *f, uint64_t od, const char *on, uint64_t nd, const char *nn,
	      struct ns_rename_result *r)
{
	return ns_rename(f->ns, od, on, strlen(on), nd, nn, strlen(nn), r);
}

static uint64_t look(struct fx *f, uint64_t dir, const char *name)
{
	struct meta_inode in;
	int rc = ns_lookup(f->ns, dir, name, strlen(name), &in);

	return rc ? 0 : in.ino;
}

static bool key_bound(struct fx *f, const char *key, uint64_t *ino)
{
	struct meta_txn *t;
	int rc;

	CHECK_OK(meta_txn_begin(f->me, false, &t));
	rc = meta_key_get(t, key, strlen(key), ino);
	meta_txn_abort(t);
	return rc == 0;
}

static bool pending_delete(struct fx *f, const char *key, char *etag)
{
	struct meta_txn *t;
	struct meta_delete d;
	int rc;

	CHECK_OK(meta_txn_begin(f->me, false, &t));
	rc = meta_delete_get(t, key, strlen(key), &d);
	if (rc == 0 && etag)
		strcpy(etag, d.etag);
	meta_txn_abort(t);
	return rc == 0;
}

static void test_rename_posix(void)
{
	struct fx f;
	struct ns_rename_result *r = malloc(sizeof *r);
	struct meta_inode in, d1a, d1b, d2a;
	uint64_t d1, d2, file, g, h, sub, x, empty, full, inner;
	char longname[300];

	meta_clock_set(1000000000000LL);
	fx_open(&f, "p");
	d1 = mk(&f, META_ROOT_INO, "d1", META_T_DIR);
	d2 = mk(&f, META_ROOT_INO, "d2", META_T_DIR);
	file = mk(&f, d1, "f", META_T_REG);
	g = mk(&f, d1, "g", META_T_REG);
	h = mk(&f, d2, "h", META_T_REG);
	sub = mk(&f, d1, "sub", META_T_DIR);
	x = mk(&f, sub, "x", META_T_REG);
	empty = mk(&f, d2, "empty", META_T_DIR);
	full = mk(&f, d2, "full", META_T_DIR);
	mk(&f, full, "inside", META_T_REG);

	/* Within one directory: the inode keeps its number; name, parent, times follow. */
	CHECK_OK(ns_getattr(f.ns, file, &in));
	CHECK_OK(ns_getattr(f.ns, d1, &d1a));
	meta_clock_set(2000000000000LL);
	CHECK_OK(rn(&f, d1, "f", d1, "f2", r));
	CHECK(!r->replaced && !r->noop);
	CHECK_U64_EQ(look(&f, d1, "f"), 0);
	CHECK_U64_EQ(look(&f, d1, "f2"), file);
	CHECK_OK(ns_getattr(f.ns, file, &r->moved));
	CHECK_STR_EQ(r->moved.name, "f2");
	CHECK_U64_EQ(r->moved.parent, d1);
	CHECK_INT_EQ(r->moved.ctime_ns, 2000000000000LL);
	CHECK_INT_EQ(r->moved.mtime_ns, in.mtime_ns);	/* rename is not a data change */
	CHECK(r->moved.change > in.change);
	CHECK_OK(ns_getattr(f.ns, d1, &d1b));
	CHECK_INT_EQ(d1b.mtime_ns, 2000000000000LL);
	CHECK_INT_EQ(d1b.ctime_ns, 2000000000000LL);
	CHECK(d1b.change > d1a.change);
	CHECK_INT_EQ(d1b.nlink, d1a.nlink);

	/* Across directories. */
	CHECK_OK(ns_getattr(f.ns, d2, &d2a));
	meta_clock_set(3000000000000LL);
	CHECK_OK(rn(&f, d1, "f2", d2, "f3", r));
	CHECK_U64_EQ(look(&f, d2, "f3"), file);
	CHECK_U64_EQ(look(&f, d1, "f2"), 0);
	CHECK_U64_EQ(r->moved.parent, d2);
	CHECK(r->olddir.change > d1b.change && r->newdir.change > d2a.change);
	CHECK_INT_EQ(r->newdir.mtime_ns, 3000000000000LL);

	/* File over file: the target is replaced and removed. */
	CHECK_OK(rn(&f, d1, "g", d2, "h", r));
	CHECK(r->replaced);
	CHECK_U64_EQ(r->victim.ino, h);
	CHECK_INT_EQ(ns_getattr(f.ns, h, &in), ENOENT);
	CHECK_U64_EQ(look(&f, d2, "h"), g);

	/* Directory over an empty directory; link counts follow. */
	CHECK_OK(ns_getattr(f.ns, d1, &d1a));
	CHECK_OK(ns_getattr(f.ns, d2, &d2a));
	CHECK_INT_EQ(d1a.nlink, 3);
	CHECK_INT_EQ(d2a.nlink, 4);
	CHECK_OK(rn(&f, d1, "sub", d2, "empty", r));
	CHECK(r->replaced);
	CHECK_U64_EQ(r->victim.ino, empty);
	CHECK(r->job != 0);
	CHECK_U64_EQ(look(&f, d2, "empty"), sub);
	CHECK_U64_EQ(look(&f, sub, "x"), x);
	CHECK_OK(ns_lookup(f.ns, sub, "..", 2, &in));
	CHECK_U64_EQ(in.ino, d2);
	CHECK_INT_EQ(r->olddir.nlink, 2);
	CHECK_INT_EQ(r->newdir.nlink, 4);
	CHECK_INT_EQ(ns_getattr(f.ns, empty, &in), ENOENT);

	/* The error cases, each leaving everything as it was. */
	CHECK_INT_EQ(rn(&f, d2, "empty", d2, "full", r), ENOTEMPTY);
	CHECK_INT_EQ(rn(&f, d2, "f3", d2, "full", r), EISDIR);
	CHECK_INT_EQ(rn(&f, d2, "empty", d2, "f3", r), ENOTDIR);
	CHECK_INT_EQ(rn(&f, d2, "empty", sub, "self", r), EINVAL);	/* into itself */
	inner = mk(&f, sub, "inner", META_T_DIR);
	CHECK_INT_EQ(rn(&f, d2, "empty", inner, "deeper", r), EINVAL);	/* into its subtree */
	CHECK_INT_EQ(rn(&f, META_ROOT_INO, "d2", inner, "d2", r), EINVAL);
	CHECK_INT_EQ(rn(&f, d2, "nope", d2, "x", r), ENOENT);
	CHECK_INT_EQ(rn(&f, file, "a", d2, "b", r), ENOTDIR);	/* old "dir" is a file */
	CHECK_INT_EQ(rn(&f, d2, "f3", file, "b", r), ENOTDIR);
	CHECK_INT_EQ(rn(&f, 999999, "a", d2, "b", r), ESTALE);
	CHECK_INT_EQ(rn(&f, d2, "f3", 999999, "b", r), ESTALE);
	CHECK_INT_EQ(rn(&f, d2, ".", d2, "z", r), EINVAL);
	CHECK_INT_EQ(rn(&f, d2, "..", d2, "z", r), EINVAL);
	CHECK_INT_EQ(rn(&f, d2, "f3", d2, ".", r), EINVAL);
	CHECK_INT_EQ(rn(&f, d2, "f3", d2, "..", r), EINVAL);
	CHECK_INT_EQ(rn(&f, d2, "f3", d2, "a/b", r), EINVAL);
	CHECK_INT_EQ(rn(&f, d2, "f3", d2, "", r), EINVAL);
	memset(longname, 'n', sizeof longname);
	longname[256] = '\0';
	CHECK_INT_EQ(rn(&f, d2, "f3", d2, longname, r), ENAMETOOLONG);
	CHECK_U64_EQ(look(&f, d2, "f3"), file);
	CHECK_U64_EQ(look(&f, d2, "full"), full);

	/* Same name in the same directory: nothing happens, not even the times. */
	CHECK_OK(ns_getattr(f.ns, d2, &d2a));
	meta_clock_set(4000000000000LL);
	CHECK_OK(rn(&f, d2, "f3", d2, "f3", r));
	CHECK(r->noop);
	CHECK_OK(ns_getattr(f.ns, d2, &in));
	CHECK_U64_EQ(in.change, d2a.change);

	/* The new key would pass 1,024 bytes. */
	{
		uint64_t deep = d2;
		char nm[251];

		memset(nm, 'l', 250);
		nm[250] = '\0';
		for (int i = 0; i < 4; i++) {
			nm[0] = (char)('a' + i);
			deep = mk(&f, deep, nm, META_T_DIR);
		}
		nm[0] = 'z';
		CHECK_INT_EQ(rn(&f, d2, "f3", deep, nm, r), ENAMETOOLONG);
		CHECK_U64_EQ(look(&f, d2, "f3"), file);
	}
	meta_clock_set(0);
	free(r);
	fx_close(&f);
}

struct feed_counts {
	int dir_d1, dir_d2, attr_a, gone_b;
};

struct feed_arg {
	uint64_t d1, d2, a, v;
	struct feed_counts *fd;
};

static int feed_cb(void *arg, uint64_t seq, uint64_t ino, enum meta_change_kind kind)
{
	struct feed_arg *c = arg;

	(void)seq;
	if (ino == c->d1 && kind == META_CH_DIR)
		c->fd->dir_d1++;
	if (ino == c->d2 && kind == META_CH_DIR)
		c->fd->dir_d2++;
	if (ino == c->a && kind == META_CH_ATTR)
		c->fd->attr_a++;
	if (ino == c->v && kind == META_CH_GONE)
		c->fd->gone_b++;
	return 0;
}

/* The export root's lost+found, as s3files makes it (reserved). */
static uint64_t mk_lostfound(struct fx *f)
{
	struct meta_txn *t;
	struct meta_inode root, lf;
	uint64_t ino;
	uint32_t gen;

	CHECK_OK(meta_txn_begin(f->me, true, &t));
	CHECK_OK(meta_inode_get(t, META_ROOT_INO, &root));
	CHECK_OK(meta_ino_alloc(t, &ino, &gen));
	meta_inode_init(&lf, ino, gen, META_ROOT_INO, META_T_DIR, 0700, 0, 0, meta_now_ns());
	CHECK_OK(meta_inode_set_name(&lf, "lost+found", 10));
	lf.flags |= META_F_RESERVED;
	CHECK_OK(meta_inode_put(t, &lf));
	root.nlink++;
	CHECK_OK(meta_dirent_add(t, &root, "lost+found", 10, ino, META_T_DIR, NULL));
	CHECK_OK(meta_txn_commit(t));
	return ino;
}

static void test_rename_lostfound(void)
{
	struct fx f;
	struct ns_rename_result *r = malloc(sizeof *r);
	uint64_t lf, d, loser;
	struct meta_txn *t;
	struct meta_inode lfi, li;
	uint32_t gen;

	fx_open(&f, "");
	lf = mk_lostfound(&f);
	d = mk(&f, META_ROOT_INO, "d", META_T_DIR);
	mk(&f, d, "f", META_T_REG);
	/* A file already in lost+found (put there by conflict resolution). */
	CHECK_OK(meta_txn_begin(f.me, true, &t));
	CHECK_OK(meta_inode_get(t, lf, &lfi));
	CHECK_OK(meta_ino_alloc(t, &loser, &gen));
	meta_inode_init(&li, loser, gen, lf, META_T_REG, 0644, 0, 0, meta_now_ns());
	CHECK_OK(meta_inode_set_name(&li, "loser", 5));
	CHECK_OK(meta_inode_put(t, &li));
	CHECK_OK(meta_dirent_add(t, &lfi, "loser", 5, loser, META_T_REG, NULL));
	CHECK_OK(meta_txn_commit(t));

	CHECK_INT_EQ(rn(&f, META_ROOT_INO, "lost+found", META_ROOT_INO, "lf2", r), EACCES);
	CHECK_INT_EQ(rn(&f, d, "f", lf, "f", r), EACCES);		/* into */
	CHECK_INT_EQ(rn(&f, lf, "loser", d, "won", r), EACCES);	/* out of */
	CHECK_INT_EQ(rn(&f, d, "f", META_ROOT_INO, "lost+found", r), EACCES);	/* onto */
	CHECK_INT_EQ(rn(&f, META_ROOT_INO, "d", lf, "d", r), EACCES);
	CHECK_U64_EQ(look(&f, lf, "loser"), loser);
	CHECK(look(&f, d, "f") != 0);
	/* Only the root's: a lost+found elsewhere is an ordinary name. */
	CHECK_OK(rn(&f, d, "f", d, "lost+found", r));
	free(r);
	fx_close(&f);
}

static void test_rename_cookies_feed(void)
{
	struct fx f;
	struct ns_rename_result *r = malloc(sizeof *r);
	struct ns_dirent ents[16];
	struct meta_inode d1i, d2i;
	struct meta_txn *t;
	uint64_t d1, d2, a, b, c, seq0 = 0, old_cookie = 0, next1, next2;
	size_t n;
	bool eof;
	struct feed_counts fd = { 0 };

	fx_open(&f, "");
	d1 = mk(&f, META_ROOT_INO, "d1", META_T_DIR);
	d2 = mk(&f, META_ROOT_INO, "d2", META_T_DIR);
	a = mk(&f, d1, "a", META_T_REG);
	b = mk(&f, d1, "b", META_T_REG);
	c = mk(&f, d1, "c", META_T_REG);
	CHECK_OK(ns_readdir(f.ns, d1, 0, ents, 16, &n, &eof));
	CHECK_INT_EQ(n, 3);
	for (size_t i = 0; i < n; i++)
		if (ents[i].ino == a)
			old_cookie = ents[i].cookie;
	CHECK(old_cookie != 0);
	CHECK_OK(ns_getattr(f.ns, d1, &d1i));
	next1 = d1i.next_cookie;

	/* Renamed within the directory: a new, larger cookie; the old one is gone but
	 * still a valid place to resume from. */
	CHECK_OK(rn(&f, d1, "a", d1, "z", r));
	CHECK_OK(ns_readdir(f.ns, d1, 0, ents, 16, &n, &eof));
	CHECK_INT_EQ(n, 3);
	CHECK_STR_EQ(ents[0].name, "b");
	CHECK_STR_EQ(ents[1].name, "c");
	CHECK_STR_EQ(ents[2].name, "z");
	CHECK_U64_EQ(ents[2].ino, a);
	CHECK(ents[2].cookie >= next1);
	for (size_t i = 0; i < n; i++)
		CHECK(ents[i].cookie != old_cookie);
	CHECK_OK(ns_readdir(f.ns, d1, old_cookie, ents, 16, &n, &eof));
	CHECK_INT_EQ(n, 3);	/* b and c came after a, z after all */
	CHECK(eof);

	/* Across: a cookie from the target's sequence. */
	CHECK_OK(ns_getattr(f.ns, d2, &d2i));
	next2 = d2i.next_cookie;
	CHECK_OK(meta_txn_begin(f.me, false, &t));
	CHECK_OK(meta_change_last(t, &seq0));
	meta_txn_abort(t);
	mk(&f, d2, "b", META_T_REG);
	CHECK_OK(rn(&f, d1, "z", d2, "b", r));	/* replaces d2/b */
	CHECK_OK(ns_readdir(f.ns, d2, 0, ents, 16, &n, &eof));
	CHECK_INT_EQ(n, 1);
	CHECK_U64_EQ(ents[0].ino, a);
	CHECK(ents[0].cookie > next2);
	CHECK_OK(ns_readdir(f.ns, d1, 0, ents, 16, &n, &eof));
	CHECK_INT_EQ(n, 2);

	/* The change feed names both directories, the moved inode and the replaced one. */
	{
		struct meta_txn *rt;
		int fn_rc;
		struct feed_arg cbarg = { d1, d2, a, r->victim.ino, &fd };

		CHECK_OK(meta_txn_begin(f.me, false, &rt));
		fn_rc = meta_change_iter(rt, seq0, feed_cb, &cbarg);
		meta_txn_abort(rt);
		CHECK_OK(fn_rc);
	}
	CHECK_INT_EQ(fd.dir_d1, 1);
	CHECK_INT_EQ(fd.dir_d2, 1);
	CHECK_INT_EQ(fd.attr_a, 1);
	CHECK_INT_EQ(fd.gone_b, 1);
	(void)b;
	(void)c;
	free(r);
	fx_close(&f);
}

static void test_rename_s3_file(void)
{
	struct fx f;
	struct ns_rename_result *r = malloc(sizeof *r);
	struct ns_commit *c = malloc(sizeof *c);
	struct s3_object_info info = { 0 };
	struct ns_import_entry e;
	enum ns_import_result res;
	struct meta_inode in, v;
	char key[S3_KEY_MAX + 1], etag[S3_ETAG_MAX];
	size_t keylen;
	uint64_t d, obj, back, ino, orig, tmp, rm;

	fx_open(&f, "p");
	d = imp_dir(&f, META_ROOT_INO, "d");
	obj = imp_file(&f, d, "obj", "e1");
	back = imp_file(&f, d, "back", "eb");
	imp_done(&f, d);

	/* A clean file in S3, renamed: dirty, no longer at its path key, its object
	 * remembered as the source. Reads come from there. */
	CHECK_OK(rn(&f, d, "obj", META_ROOT_INO, "new", r));
	CHECK_OK(ns_getattr(f.ns, obj, &in));
	CHECK_INT_EQ(in.sync, META_S_DIRTY);
	CHECK(!(in.flags & META_F_IN_S3));
	CHECK_OK(ns_data_source(f.ns, obj, key, sizeof key, &keylen, etag));
	CHECK_STR_EQ(key, "p/d/obj");
	CHECK_STR_EQ(etag, "e1");
	CHECK(key_bound(&f, "p/d/obj", &ino));
	CHECK_U64_EQ(ino, obj);
	/* The old directory's listing still shows the object: not a new file there. */
	e = (struct ns_import_entry){ .name = "obj", .len = 3, .size = 10, .mtime_s = 100, .etag = "e1" };
	CHECK_OK(ns_import_apply(f.ns, d, &e, 1, meta_now_ns(), &res, &ino));
	CHECK_INT_EQ(res, NS_IMP_MOVING);
	CHECK_U64_EQ(look(&f, d, "obj"), 0);
	/* Nor does the new name's missing object make it vanish. */
	CHECK_OK(ns_import_finish(f.ns, META_ROOT_INO, meta_now_ns(), seen_fn,
				  &(struct seen_set){ (const char *[]){ "d" }, 1 }, NULL, NULL, NULL));
	CHECK_U64_EQ(look(&f, META_ROOT_INO, "new"), obj);
	/* Its commit is a server-side copy from the old key, then the old key goes. */
	CHECK_OK(ns_commit_prepare(f.ns, obj, 0, c));
	CHECK(c->moved && c->copy);
	CHECK_STR_EQ(c->key, "p/new");
	CHECK_STR_EQ(c->src_key, "p/d/obj");
	CHECK_STR_EQ(c->src_etag, "e1");
	CHECK_STR_EQ(c->prev_etag, "");
	CHECK(!pending_delete(&f, "p/d/obj", NULL));	/* never before the copy exists */
	strcpy(info.etag, "e1copy");
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	CHECK_OK(ns_getattr(f.ns, obj, &in));
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK(in.flags & META_F_IN_S3);
	CHECK_STR_EQ(in.etag, "e1copy");
	CHECK(key_bound(&f, "p/new", &ino));
	CHECK_U64_EQ(ino, obj);
	CHECK(!key_bound(&f, "p/d/obj", &ino));
	CHECK(pending_delete(&f, "p/d/obj", etag));
	CHECK_STR_EQ(etag, "e1");
	CHECK_OK(ns_delete_done(f.ns, "p/d/obj", 7));

	/* Renamed away and back before a commit: clean again, nothing to do in S3. */
	CHECK_OK(rn(&f, d, "back", d, "away", r));
	CHECK_OK(rn(&f, d, "away", d, "back", r));
	CHECK_OK(ns_getattr(f.ns, back, &in));
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK(in.flags & META_F_IN_S3);
	CHECK_INT_EQ(ns_commit_prepare(f.ns, back, 0, c), EALREADY);

	/* Renamed and written: uploaded (not copied), the old key still goes after. */
	CHECK_OK(rn(&f, d, "back", d, "written", r));
	CHECK_OK(ns_write_done(f.ns, back, 0, 3, &in));
	CHECK_OK(ns_commit_prepare(f.ns, back, 0, c));
	CHECK(c->moved && !c->copy);
	CHECK_STR_EQ(c->src_key, "p/d/back");
	/* Renamed again during that upload: the upload is undone, the source stays. */
	CHECK_OK(rn(&f, d, "written", d, "again", r));
	strcpy(info.etag, "ew");
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	CHECK(pending_delete(&f, "p/d/written", NULL));
	CHECK(!pending_delete(&f, "p/d/back", NULL));
	CHECK_OK(ns_commit_prepare(f.ns, back, 0, c));
	CHECK_STR_EQ(c->src_key, "p/d/back");
	CHECK_STR_EQ(c->key, "p/d/again");

	/* A renamed file removed before its commit: its object (the old key) goes. */
	rm = imp_file(&f, d, "rm", "er");
	CHECK_OK(rn(&f, d, "rm", d, "rm2", r));
	CHECK_OK(ns_remove(f.ns, d, "rm2", 3, false, &v, NULL));
	CHECK(pending_delete(&f, "p/d/rm", etag));
	CHECK_STR_EQ(etag, "er");
	CHECK(!pending_delete(&f, "p/d/rm2", NULL));
	CHECK(!key_bound(&f, "p/d/rm", &ino));
	(void)rm;

	/* vim-style save: write a temporary file, rename it over the original. The upload
	 * replaces the original's object (If-Match its ETag), no delete of the key after. */
	orig = imp_file(&f, d, "doc", "edoc");
	tmp = mk(&f, d, "doc.swp", META_T_REG);
	CHECK_OK(rn(&f, d, "doc.swp", d, "doc", r));
	CHECK(r->replaced);
	CHECK_U64_EQ(r->victim.ino, orig);
	CHECK(pending_delete(&f, "p/d/doc", etag));
	CHECK_STR_EQ(etag, "edoc");
	/* Until then the listing shows the old object under that name: not a conflict. */
	e = (struct ns_import_entry){ .name = "doc", .len = 3, .size = 10, .mtime_s = 100, .etag = "edoc" };
	CHECK_OK(ns_import_apply(f.ns, d, &e, 1, meta_now_ns(), &res, &ino));
	CHECK_INT_EQ(res, NS_IMP_PENDING_DELETE);
	CHECK_OK(ns_getattr(f.ns, tmp, &in));
	CHECK_INT_EQ(in.sync, META_S_DIRTY);
	CHECK_OK(ns_commit_prepare(f.ns, tmp, 0, c));
	CHECK(!c->moved && c->replaces);
	CHECK_STR_EQ(c->prev_etag, "edoc");
	strcpy(info.etag, "enew");
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	CHECK(!pending_delete(&f, "p/d/doc", NULL));
	CHECK(key_bound(&f, "p/d/doc", &ino));
	CHECK_U64_EQ(ino, tmp);

	/* A file created under the old name of a renamed file waits for the move (the key
	 * still holds the old object); then replaces what is left there. */
	CHECK_OK(rn(&f, d, "again", d, "moved", r));
	mk(&f, d, "back", META_T_REG);
	CHECK_INT_EQ(ns_commit_prepare(f.ns, look(&f, d, "back"), 0, c), EAGAIN);

	/* A moved file whose old object changed in S3 before the move, data not local. */
	{
		uint64_t big = imp_file(&f, d, "big", "ebig");

		CHECK_OK(rn(&f, d, "big", d, "big2", r));
		CHECK_OK(ns_commit_prepare(f.ns, big, 0, c));
		CHECK(c->copy);
		CHECK_OK(ns_commit_source_lost(f.ns, c));
		CHECK_OK(ns_getattr(f.ns, big, &in));
		CHECK_INT_EQ(in.sync, META_S_CONFLICT);
		CHECK(in.flags & META_F_LOST);
		CHECK_INT_EQ(ns_data_source(f.ns, big, key, sizeof key, &keylen, etag), EIO);
		CHECK(!key_bound(&f, "p/d/big", &ino));
		/* ... so S3's version of the old key shows under the old name again. */
		e = (struct ns_import_entry){ .name = "big", .len = 3, .size = 10, .mtime_s = 100,
					      .etag = "ebig2" };
		CHECK_OK(ns_import_apply(f.ns, d, &e, 1, meta_now_ns(), &res, &ino));
		CHECK_INT_EQ(res, NS_IMP_NEW);
	}
	free(c);
	free(r);
	fx_close(&f);
}

/* The daemon killed between a directory job's COPY and its record, and the copied file
 * renamed away before the job runs again: the copy at the new prefix is an orphan no
 * record knows. ns_dirjob_guard named it for deletion before the copy, so the delete pass
 * removes it and a listing of the new directory does not show it as a new file. */
static void test_dirjob_orphan_copy(void)
{
	struct fx f;
	struct ns_rename_result *r = malloc(sizeof *r);
	struct meta_dirjob *j = malloc(sizeof *j);
	struct ns_move_item *it = calloc(2, sizeof *it);
	struct ns_dirjob_outcome o;
	struct ns_import_entry e;
	enum ns_import_result res;
	char etag[S3_ETAG_MAX];
	uint64_t a, f9, ino;

	fx_open(&f, "p");
	a = imp_dir(&f, META_ROOT_INO, "a");
	f9 = imp_file(&f, a, "f9", "e9");
	imp_file(&f, a, "f8", "e8");
	imp_done(&f, a);
	CHECK_OK(rn(&f, META_ROOT_INO, "a", META_ROOT_INO, "b", r));
	CHECK_OK(ns_dirjob_first(f.ns, j));
	/* The first run: planned, guarded, copied (S3 now has p/b/f8 and p/b/f9), killed
	 * before the record. */
	it[0] = (struct ns_move_item){ .key = "p/a/f8", .key_len = 6, .etag = "e8", .size = 10 };
	it[1] = (struct ns_move_item){ .key = "p/a/f9", .key_len = 6, .etag = "e9", .size = 10 };
	CHECK_OK(ns_dirjob_plan(f.ns, j->id, it, 2));
	CHECK_INT_EQ(it[1].action, NS_MOVE_COPY);
	CHECK_STR_EQ(it[1].dst, "p/b/f9");
	CHECK_OK(ns_dirjob_guard(f.ns, it, 2));
	CHECK(pending_delete(&f, "p/b/f9", etag));
	CHECK_STR_EQ(etag, "e9");
	/* Meanwhile the file is renamed away: its own commit will move it from p/a/f9. */
	CHECK_OK(rn(&f, a, "f9", META_ROOT_INO, "f5", r));
	/* The restarted daemon plans the page again: f9 is no longer the job's; f8 is
	 * copied (again) and recorded, and the job ends. */
	CHECK_OK(ns_dirjob_plan(f.ns, j->id, it, 2));
	CHECK_INT_EQ(it[0].action, NS_MOVE_COPY);
	CHECK_INT_EQ(it[1].action, NS_MOVE_SKIP);
	CHECK_OK(ns_dirjob_guard(f.ns, it, 2));
	strcpy(it[0].dst_etag, "e8");
	CHECK_OK(ns_dirjob_record(f.ns, j->id, it, 2, true, j, &o));
	CHECK_INT_EQ(o.done, 2);
	CHECK_OK(ns_dirjob_record(f.ns, j->id, it, 0, true, j, &o));
	CHECK(o.finished);
	CHECK(!pending_delete(&f, "p/b/f8", NULL));	/* recorded: its guard is gone */
	CHECK(key_bound(&f, "p/b/f8", &ino));
	CHECK(pending_delete(&f, "p/b/f9", etag));	/* the orphan goes */
	CHECK_STR_EQ(etag, "e9");
	/* A listing of b shows the orphan copy: not a new file. */
	e = (struct ns_import_entry){ .name = "f9", .len = 2, .size = 10, .etag = "e9" };
	CHECK_OK(ns_import_apply(f.ns, a, &e, 1, meta_now_ns(), &res, &ino));
	CHECK_INT_EQ(res, NS_IMP_PENDING_DELETE);
	CHECK_U64_EQ(look(&f, a, "f9"), 0);
	CHECK_U64_EQ(look(&f, META_ROOT_INO, "f5"), f9);
	free(it);
	free(j);
	free(r);
	fx_close(&f);
}

static void test_rename_dir_job(void)
{
	struct fx f;
	struct ns_rename_result *r = malloc(sizeof *r);
	struct ns_commit *c = malloc(sizeof *c);
	struct meta_dirjob *j = malloc(sizeof *j);
	struct ns_move_item *it = calloc(8, sizeof *it);
	struct ns_dirjob_outcome o;
	struct ns_import_entry e;
	enum ns_import_result res;
	struct meta_inode in, v;
	struct meta_txn *t;
	char key[S3_KEY_MAX + 1], etag[S3_ETAG_MAX];
	size_t keylen;
	bool moving;
	uint64_t a, x, s, y, gone, ino, cold;

	fx_open(&f, "p");
	a = imp_dir(&f, META_ROOT_INO, "a");
	x = imp_file(&f, a, "x", "ex");
	gone = imp_file(&f, a, "gone", "eg");
	s = imp_dir(&f, a, "s");
	y = imp_file(&f, s, "y", "ey");
	imp_done(&f, s);
	imp_done(&f, a);
	cold = imp_dir(&f, META_ROOT_INO, "cold");	/* listed in S3, never looked into */

	/* A directory whose listing was never read must be read first. */
	CHECK_INT_EQ(rn(&f, META_ROOT_INO, "cold", META_ROOT_INO, "warm", r), EAGAIN);
	CHECK_U64_EQ(r->need_import, cold);

	/* Rename: one transaction, one job, nothing per child. */
	CHECK_OK(rn(&f, META_ROOT_INO, "a", META_ROOT_INO, "b", r));
	CHECK(r->job != 0);
	CHECK_OK(ns_dirjob_first(f.ns, j));
	CHECK_U64_EQ(j->id, r->job);
	CHECK_STR_EQ(j->old_prefix, "p/a/");
	CHECK_STR_EQ(j->new_prefix, "p/b/");
	CHECK_INT_EQ(j->marker_len, 0);
	CHECK_OK(ns_getattr(f.ns, x, &in));
	CHECK_INT_EQ(in.sync, META_S_CLEAN);	/* children are not touched */
	/* Reads of a child come from where its object still is. */
	CHECK_OK(ns_data_source(f.ns, y, key, sizeof key, &keylen, etag));
	CHECK_STR_EQ(key, "p/a/s/y");
	/* Listings at or below either prefix are not imported; elsewhere the entries in
	 * transit are left alone. */
	CHECK_OK(meta_txn_begin(f.me, false, &t));
	CHECK_OK(ns_prefix_moving(f.ns, t, "p/b/s/", 6, &moving));
	CHECK(moving);
	CHECK_OK(ns_prefix_moving(f.ns, t, "p/a/", 4, &moving));
	CHECK(moving);
	CHECK_OK(ns_prefix_moving(f.ns, t, "p/", 2, &moving));
	CHECK(!moving);
	meta_txn_abort(t);
	e = (struct ns_import_entry){ .name = "a", .len = 1, .is_dir = true };
	CHECK_OK(ns_import_apply(f.ns, META_ROOT_INO, &e, 1, meta_now_ns(), &res, &ino));
	CHECK_INT_EQ(res, NS_IMP_MOVING);
	CHECK_U64_EQ(look(&f, META_ROOT_INO, "a"), 0);
	CHECK_OK(ns_import_finish(f.ns, META_ROOT_INO, meta_now_ns(), seen_fn,
				  &(struct seen_set){ (const char *[]){ "a", "cold" }, 2 }, NULL, NULL,
				  NULL));
	CHECK_U64_EQ(look(&f, META_ROOT_INO, "b"), a);	/* not taken for deleted in S3 */
	/* The old name, made again, waits with its uploads until the move is done. */
	{
		uint64_t na = mk(&f, META_ROOT_INO, "a", META_T_DIR);
		uint64_t nf = mk(&f, na, "x", META_T_REG);

		CHECK_INT_EQ(ns_commit_prepare(f.ns, nf, 0, c), EAGAIN);
		CHECK_INT_EQ(ns_commit_prepare(f.ns, na, 0, c), EAGAIN);
	}
	/* A child removed during the move: its object under the old key goes. */
	CHECK_OK(ns_remove(f.ns, a, "gone", 4, false, &v, NULL));
	CHECK(pending_delete(&f, "p/a/gone", NULL));
	CHECK(!pending_delete(&f, "p/b/gone", NULL));
	/* A child written during the move commits to its new key, from its old object. */
	CHECK_OK(ns_write_done(f.ns, x, 0, 4, &in));
	CHECK_OK(ns_commit_prepare(f.ns, x, 0, c));
	CHECK(c->moved && !c->copy);
	CHECK_STR_EQ(c->key, "p/b/x");
	CHECK_STR_EQ(c->src_key, "p/a/x");
	CHECK_STR_EQ(c->prev_etag, "");

	/* The daemon lists the old prefix and plans each object. */
	it[0] = (struct ns_move_item){ .key = "p/a/", .key_len = 4, .etag = "em" };
	it[1] = (struct ns_move_item){ .key = "p/a/gone", .key_len = 8, .etag = "eg" };
	it[2] = (struct ns_move_item){ .key = "p/a/s/y", .key_len = 7, .etag = "ey", .size = 10 };
	it[3] = (struct ns_move_item){ .key = "p/a/unlisted/z", .key_len = 14, .etag = "ez" };
	it[4] = (struct ns_move_item){ .key = "p/a/x", .key_len = 5, .etag = "ex", .size = 10 };
	CHECK_OK(ns_dirjob_plan(f.ns, r->job, it, 5));
	CHECK_INT_EQ(it[0].action, NS_MOVE_COPY);
	CHECK_STR_EQ(it[0].dst, "p/b/");		/* the marker: same place */
	CHECK_INT_EQ(it[1].action, NS_MOVE_SKIP);	/* removed: its delete takes it */
	CHECK_INT_EQ(it[2].action, NS_MOVE_COPY);
	CHECK_U64_EQ(it[2].ino, y);
	CHECK_STR_EQ(it[2].dst, "p/b/s/y");
	CHECK_INT_EQ(it[3].action, NS_MOVE_COPY);
	CHECK_U64_EQ(it[3].ino, 0);
	CHECK_STR_EQ(it[3].dst, "p/b/unlisted/z");
	CHECK_INT_EQ(it[4].action, NS_MOVE_COPY);

	/* First page: the copy of y fails on a transient error; the record stops there. */
	strcpy(it[0].dst_etag, "em2");
	it[2].rc = S3F_E_S3_NET;
	CHECK_OK(ns_dirjob_record(f.ns, r->job, it, 5, false, j, &o));
	CHECK_INT_EQ(o.done, 2);
	CHECK(!o.finished);
	CHECK(it[0].delete_src && it[0].moved);
	CHECK_STR_EQ(j->marker, "p/a/gone");
	CHECK_U64_EQ(j->listed, 2);
	CHECK(pending_delete(&f, "p/a/", NULL));
	/* Next try: meanwhile s was renamed (a second job) and x renamed on its own. The
	 * copy of y went to a place that is no longer its path: undone, planned again. */
	it[2].rc = 0;
	strcpy(it[2].dst_etag, "ey2");
	strcpy(it[3].dst_etag, "ez2");
	strcpy(it[4].dst_etag, "ex2");
	CHECK_OK(rn(&f, a, "s", a, "t", r));
	CHECK_OK(rn(&f, a, "x", a, "x2", r));
	CHECK_OK(ns_dirjob_record(f.ns, j->id, it + 2, 3, true, j, &o));
	CHECK_INT_EQ(o.done, 0);
	CHECK_STR_EQ(j->marker, "p/a/gone");
	CHECK(pending_delete(&f, "p/b/s/y", NULL));	/* the useless copy goes again */
	CHECK(key_bound(&f, "p/a/s/y", &ino));
	CHECK_OK(ns_dirjob_plan(f.ns, j->id, it + 2, 3));
	CHECK_INT_EQ(it[2].action, NS_MOVE_COPY);
	CHECK_STR_EQ(it[2].dst, "p/b/t/y");		/* straight to where it is now */
	CHECK_INT_EQ(it[4].action, NS_MOVE_SKIP);	/* x: its own commit moves it */
	CHECK_OK(ns_dirjob_record(f.ns, j->id, it + 2, 3, true, j, &o));
	CHECK_INT_EQ(o.done, 3);
	CHECK_U64_EQ(o.moved, 2);
	/* Old keys were left to delete: one more (empty) listing after the marker ends it. */
	CHECK(!o.finished);
	CHECK_STR_EQ(j->marker, "p/a/x");
	CHECK_OK(ns_dirjob_record(f.ns, j->id, it, 0, true, j, &o));
	CHECK(o.finished);
	CHECK(key_bound(&f, "p/b/t/y", &ino));
	CHECK_U64_EQ(ino, y);
	CHECK(!key_bound(&f, "p/a/s/y", &ino));
	CHECK_OK(ns_getattr(f.ns, y, &in));
	CHECK_STR_EQ(in.etag, "ey2");
	CHECK_OK(ns_data_source(f.ns, y, key, sizeof key, &keylen, etag));
	CHECK_STR_EQ(key, "p/b/t/y");
	CHECK_STR_EQ(etag, "ey2");
	CHECK(pending_delete(&f, "p/a/s/y", etag));
	CHECK_STR_EQ(etag, "ey");
	CHECK(!pending_delete(&f, "p/b/", NULL));	/* the marker's copy is not deleted */
	/* The first job is done; the second (s -> t) is next. */
	CHECK_OK(ns_dirjob_first(f.ns, j));
	CHECK_STR_EQ(j->old_prefix, "p/b/s/");
	CHECK_STR_EQ(j->new_prefix, "p/b/t/");
	CHECK_OK(meta_txn_begin(f.me, false, &t));
	CHECK_OK(ns_prefix_moving(f.ns, t, "p/b/", 4, &moving));
	CHECK(!moving);
	CHECK_OK(ns_prefix_moving(f.ns, t, "p/b/t/", 6, &moving));
	CHECK(moving);
	meta_txn_abort(t);
	CHECK_OK(ns_commit_prepare(f.ns, x, 0, c));
	CHECK_STR_EQ(c->key, "p/b/x2");
	CHECK_STR_EQ(c->src_key, "p/a/x");
	(void)s;
	(void)gone;
	free(it);
	free(j);
	free(c);
	free(r);
	fx_close(&f);
}

/* Renames on top of renames: the later job waits, objects go straight to their place. */
static void test_rename_dir_chain(void)
{
	struct fx f;
	struct ns_rename_result *r = malloc(sizeof *r);
	struct meta_dirjob *j = malloc(sizeof *j);
	struct ns_move_item it[2];
	struct ns_dirjob_outcome o;
	char key[S3_KEY_MAX + 1], etag[S3_ETAG_MAX];
	size_t keylen;
	uint64_t a, k, job1;

	fx_open(&f, "");
	a = imp_dir(&f, META_ROOT_INO, "a");
	k = imp_file(&f, a, "k", "ek");
	imp_done(&f, a);
	CHECK_OK(rn(&f, META_ROOT_INO, "a", META_ROOT_INO, "b", r));
	job1 = r->job;
	CHECK_OK(rn(&f, META_ROOT_INO, "b", META_ROOT_INO, "c", r));
	CHECK(r->job > job1);
	CHECK_OK(ns_dirjob_first(f.ns, j));
	CHECK_U64_EQ(j->id, job1);
	/* Reads still find k under the first name. */
	CHECK_OK(ns_data_source(f.ns, k, key, sizeof key, &keylen, etag));
	CHECK_STR_EQ(key, "a/k");
	memset(it, 0, sizeof it);
	it[0] = (struct ns_move_item){ .key = "a/k", .key_len = 3, .etag = "ek" };
	it[1] = (struct ns_move_item){ .key = "a/other", .key_len = 7, .etag = "eo" };
	CHECK_OK(ns_dirjob_plan(f.ns, job1, it, 2));
	CHECK_STR_EQ(it[0].dst, "c/k");
	CHECK_STR_EQ(it[1].dst, "c/other");
	strcpy(it[0].dst_etag, "ek");
	strcpy(it[1].dst_etag, "eo");
	CHECK_OK(ns_dirjob_record(f.ns, job1, it, 2, true, j, &o));
	CHECK(!o.finished);
	CHECK_OK(ns_dirjob_record(f.ns, job1, it, 0, true, j, &o));
	CHECK(o.finished);
	CHECK_OK(ns_dirjob_first(f.ns, j));
	CHECK_U64_EQ(j->id, r->job);
	CHECK_STR_EQ(j->old_prefix, "b/");
	CHECK_OK(ns_data_source(f.ns, k, key, sizeof key, &keylen, etag));
	CHECK_STR_EQ(key, "c/k");
	/* Renamed back where the objects are: nothing to copy. */
	CHECK_OK(rn(&f, META_ROOT_INO, "c", META_ROOT_INO, "b", r));
	memset(it, 0, sizeof it);
	it[0] = (struct ns_move_item){ .key = "c/k", .key_len = 3, .etag = "ek" };
	CHECK_OK(ns_dirjob_plan(f.ns, r->job, it, 1));
	CHECK_INT_EQ(it[0].action, NS_MOVE_COPY);
	CHECK_STR_EQ(it[0].dst, "b/k");
	free(j);
	free(r);
	fx_close(&f);
}

static void test_rename_persist(void)
{
	struct fx f;
	struct ns_rename_result *r = malloc(sizeof *r);
	struct meta_dirjob *j = malloc(sizeof *j);
	struct meta_opts o = { .nosync = true };
	struct ns_commit *c = malloc(sizeof *c);
	struct ns_dirent ents[4];
	const char *dir = check_tmpdir();
	uint64_t d, file, cookie;
	size_t n;
	bool eof;

	CHECK_OK(meta_env_open(dir, &o, &f.me));
	CHECK_OK(keymap_init(&f.km, ""));
	CHECK_OK(ns_open(f.me, &f.km, NULL, NULL, &f.ns));
	d = imp_dir(&f, META_ROOT_INO, "d");
	file = imp_file(&f, d, "f", "ef");
	imp_done(&f, d);
	CHECK_OK(rn(&f, d, "f", META_ROOT_INO, "g", r));
	CHECK_OK(rn(&f, META_ROOT_INO, "d", META_ROOT_INO, "e", r));
	CHECK_OK(ns_readdir(f.ns, META_ROOT_INO, 0, ents, 4, &n, &eof));
	CHECK_INT_EQ(n, 2);
	cookie = ents[1].cookie;
	fx_close(&f);

	CHECK_OK(meta_env_open(dir, &o, &f.me));
	CHECK_OK(keymap_init(&f.km, ""));
	CHECK_OK(ns_open(f.me, &f.km, NULL, NULL, &f.ns));
	CHECK_U64_EQ(look(&f, META_ROOT_INO, "g"), file);
	CHECK_U64_EQ(look(&f, META_ROOT_INO, "e"), d);
	CHECK_U64_EQ(look(&f, META_ROOT_INO, "d"), 0);
	CHECK_OK(ns_readdir(f.ns, META_ROOT_INO, 0, ents, 4, &n, &eof));
	CHECK_INT_EQ(n, 2);
	CHECK_U64_EQ(ents[1].cookie, cookie);
	CHECK_OK(ns_commit_prepare(f.ns, file, 0, c));
	CHECK(c->moved && c->copy);
	CHECK_STR_EQ(c->src_key, "d/f");
	CHECK_STR_EQ(c->key, "g");
	CHECK_OK(ns_dirjob_first(f.ns, j));
	CHECK_STR_EQ(j->old_prefix, "d/");
	CHECK_STR_EQ(j->new_prefix, "e/");
	free(c);
	free(j);
	free(r);
	fx_close(&f);
}

/* An object the job cannot move (the server refuses the copy for good, or its new key
 * would be too long) stays; its file keeps reading from it after the job is gone, and
 * its commit tries the move again. */
static void test_rename_dir_left(void)
{
	struct fx f;
	struct ns_rename_result *r = malloc(sizeof *r);
	struct ns_commit *c = malloc(sizeof *c);
	struct meta_dirjob *j = malloc(sizeof *j);
	struct ns_move_item it[2];
	struct ns_dirjob_outcome o;
	struct meta_inode in;
	char key[S3_KEY_MAX + 1], etag[S3_ETAG_MAX];
	size_t keylen;
	uint64_t a, k, u;

	fx_open(&f, "");
	a = imp_dir(&f, META_ROOT_INO, "a");
	k = imp_file(&f, a, "k", "ek");
	u = imp_file(&f, a, "u", "eu");
	imp_done(&f, a);
	CHECK_OK(rn(&f, META_ROOT_INO, "a", META_ROOT_INO, "b", r));
	{
		uint64_t n, other = mk(&f, META_ROOT_INO, "other", META_T_DIR);

		CHECK_OK(ns_dirjob_pending(f.ns, a, &n));
		CHECK_U64_EQ(n, 1);
		CHECK_OK(ns_dirjob_pending(f.ns, k, &n));
		CHECK_U64_EQ(n, 1);
		CHECK_OK(ns_dirjob_pending(f.ns, META_ROOT_INO, &n));
		CHECK_U64_EQ(n, 1);
		CHECK_OK(ns_dirjob_pending(f.ns, other, &n));
		CHECK_U64_EQ(n, 0);
	}
	memset(it, 0, sizeof it);
	it[0] = (struct ns_move_item){ .key = "a/k", .key_len = 3, .etag = "ek" };
	it[1] = (struct ns_move_item){ .key = "a/u", .key_len = 3, .etag = "eu" };
	CHECK_OK(ns_dirjob_plan(f.ns, r->job, it, 2));
	it[0].rc = S3F_E_S3_CLIENT;
	strcpy(it[1].dst_etag, "eu2");
	CHECK_OK(ns_dirjob_record(f.ns, r->job, it, 2, true, j, &o));
	CHECK_INT_EQ(o.done, 2);
	CHECK_U64_EQ(o.skipped, 1);
	CHECK(!it[0].delete_src);
	CHECK_OK(ns_dirjob_record(f.ns, r->job, it, 0, true, j, &o));
	CHECK(o.finished);
	{
		uint64_t n;

		CHECK_OK(ns_dirjob_pending(f.ns, a, &n));
		CHECK_U64_EQ(n, 0);
	}
	CHECK_OK(ns_data_source(f.ns, k, key, sizeof key, &keylen, etag));
	CHECK_STR_EQ(key, "a/k");
	CHECK_STR_EQ(etag, "ek");
	CHECK_OK(ns_getattr(f.ns, k, &in));
	CHECK_INT_EQ(in.sync, META_S_DIRTY);
	CHECK_OK(ns_commit_prepare(f.ns, k, 0, c));
	CHECK(c->moved && c->copy);
	CHECK_STR_EQ(c->key, "b/k");
	CHECK_STR_EQ(c->src_key, "a/k");
	CHECK_OK(ns_data_source(f.ns, u, key, sizeof key, &keylen, etag));
	CHECK_STR_EQ(key, "b/u");
	free(j);
	free(c);
	free(r);
	fx_close(&f);
}

/* Special files: made through the file view with their type (and a device's number), kept
 * across a reopen, committed as empty objects; imported from S3 (s3fs's format: the type
 * in x-amz-meta-mode) as such only when the object is empty, the entry's type following. */
static void test_special_files(void)
{
	struct fx f;
	struct ns_new nw = { .type = META_T_FIFO, .mode = 0600, .uid = 7, .gid = 8 };
	struct ns_commit *c = malloc(sizeof *c);
	struct meta_inode in;
	struct meta_txn *t;
	struct meta_dirent de;
	struct ns_import_entry e[3];
	enum ns_import_result r[3];
	uint64_t inos[3], fifo;
	struct keymap_attrs fifo_a = { .has_mode = true, .mode = S_IFIFO | 0640 };
	struct keymap_attrs chr_a = { .has_mode = true, .mode = S_IFCHR | 0600, .has_rdev = true,
				      .rdev = 0x103 };
	struct s3_object_info info = { 0 };

	struct meta_opts o = { .nosync = true };
	char dir[4096];

	CHECK(c != NULL);
	snprintf(dir, sizeof dir, "%s", check_tmpdir());
	CHECK_OK(meta_env_open(dir, &o, &f.me));
	CHECK_OK(keymap_init(&f.km, ""));
	CHECK_OK(ns_open(f.me, &f.km, NULL, NULL, &f.ns));
	CHECK_OK(ns_create(f.ns, META_ROOT_INO, "p", 1, &nw, &in, NULL));
	fifo = in.ino;
	CHECK_INT_EQ(in.type, META_T_FIFO);
	CHECK_U64_EQ(in.size, 0);
	nw.type = META_T_CHR;
	nw.rdev = 0x10203;
	CHECK_OK(ns_create(f.ns, META_ROOT_INO, "cdev", 4, &nw, &in, NULL));
	CHECK_U64_EQ(in.rdev, 0x10203);
	nw.type = 9;
	CHECK_INT_EQ(ns_create(f.ns, META_ROOT_INO, "bad", 3, &nw, &in, NULL), EINVAL);
	/* The record keeps type and device number (the optional tail of the record). */
	fx_close(&f);
	CHECK_OK(meta_env_open(dir, &o, &f.me));
	CHECK_OK(keymap_init(&f.km, ""));
	CHECK_OK(ns_open(f.me, &f.km, NULL, NULL, &f.ns));
	CHECK_OK(ns_lookup(f.ns, META_ROOT_INO, "cdev", 4, &in));
	CHECK_INT_EQ(in.type, META_T_CHR);
	CHECK_U64_EQ(in.rdev, 0x10203);
	CHECK_OK(ns_commit_prepare(f.ns, fifo, 0, c));
	CHECK_INT_EQ(c->in.type, META_T_FIFO);
	CHECK_STR_EQ(c->key, "p");
	strcpy(info.etag, "d41d8cd98f00b204e9800998ecf8427e");
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	CHECK_OK(ns_getattr(f.ns, fifo, &in));
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK_INT_EQ(in.type, META_T_FIFO);

	/* Imported: an empty object with a FIFO mode is a FIFO; one with bytes stays a
	 * regular file; a device keeps its number. */
	e[0] = (struct ns_import_entry){ .name = "q", .len = 1, .size = 0, .mtime_s = 100,
					 .etag = "e0", .attrs = &fifo_a };
	e[1] = (struct ns_import_entry){ .name = "r", .len = 1, .size = 3, .mtime_s = 100,
					 .etag = "e1", .attrs = &fifo_a };
	e[2] = (struct ns_import_entry){ .name = "d", .len = 1, .size = 0, .mtime_s = 100,
					 .etag = "e2", .attrs = &chr_a };
	CHECK_OK(ns_import_apply(f.ns, META_ROOT_INO, e, 3, meta_now_ns(), r, inos));
	CHECK_OK(ns_getattr(f.ns, inos[0], &in));
	CHECK_INT_EQ(in.type, META_T_FIFO);
	CHECK_INT_EQ(in.mode, 0640);
	CHECK_INT_EQ(in.data, META_D_NONE);
	CHECK_OK(ns_getattr(f.ns, inos[1], &in));
	CHECK_INT_EQ(in.type, META_T_REG);
	CHECK_OK(ns_getattr(f.ns, inos[2], &in));
	CHECK_INT_EQ(in.type, META_T_CHR);
	CHECK_U64_EQ(in.rdev, 0x103);
	CHECK_OK(meta_txn_begin(f.me, false, &t));
	CHECK_OK(meta_dirent_get(t, META_ROOT_INO, "q", 1, &de));
	CHECK_INT_EQ(de.type, META_T_FIFO);
	meta_txn_abort(t);

	/* Listed without metadata (a regular file), then its HEAD tells: the record and the
	 * entry both become a FIFO. */
	e[0] = (struct ns_import_entry){ .name = "late", .len = 4, .size = 0, .mtime_s = 100,
					 .etag = "e3" };
	CHECK_OK(ns_import_apply(f.ns, META_ROOT_INO, e, 1, meta_now_ns(), r, inos));
	CHECK_OK(ns_getattr(f.ns, inos[0], &in));
	CHECK_INT_EQ(in.type, META_T_REG);
	memset(&info, 0, sizeof info);
	strcpy(info.etag, "e3");
	info.n_meta = 1;
	strcpy(info.meta[0].name, "mode");
	snprintf(info.meta[0].value, sizeof info.meta[0].value, "%u", (unsigned)(S_IFIFO | 0644));
	CHECK_OK(ns_import_objects(f.ns, inos, &info, NULL, 1, false));
	CHECK_OK(ns_getattr(f.ns, inos[0], &in));
	CHECK_INT_EQ(in.type, META_T_FIFO);
	CHECK_INT_EQ(in.mode, 0644);
	CHECK_OK(meta_txn_begin(f.me, false, &t));
	CHECK_OK(meta_dirent_get(t, META_ROOT_INO, "late", 4, &de));
	CHECK_INT_EQ(de.type, META_T_FIFO);
	meta_txn_abort(t);
	free(c);
	fx_close(&f);
}

/* Two directories trade places (mv d t; mv e d; mv t e): three jobs, each one's
 * destination still held by objects the next one has to move. A job sends an object
 * to its final place only when no later job has still to empty that place; otherwise
 * one step, to its own new prefix. */
static void test_rename_dir_swap(void)
{
	struct fx f;
	struct ns_rename_result *r = malloc(sizeof *r);
	struct meta_dirjob *j = malloc(sizeof *j);
	struct ns_move_item it[3];
	struct ns_dirjob_outcome o;
	char key[S3_KEY_MAX + 1], etag[S3_ETAG_MAX];
	size_t keylen;
	uint64_t d, e, f1, f2, job1, job2, job3, ino;

	fx_open(&f, "");
	d = imp_dir(&f, META_ROOT_INO, "d");
	f1 = imp_file(&f, d, "f", "e1");
	imp_done(&f, d);
	e = imp_dir(&f, META_ROOT_INO, "e");
	f2 = imp_file(&f, e, "f", "e2");
	imp_done(&f, e);
	CHECK_OK(rn(&f, META_ROOT_INO, "d", META_ROOT_INO, "t", r));
	job1 = r->job;
	CHECK_OK(rn(&f, META_ROOT_INO, "e", META_ROOT_INO, "d", r));
	job2 = r->job;
	CHECK_OK(rn(&f, META_ROOT_INO, "t", META_ROOT_INO, "e", r));
	job3 = r->job;

	/* job 1 (d/ -> t/): f1's path is e/f, which job 2 has still to empty: t/f.
	 * An object the view does not track goes the same way. */
	memset(it, 0, sizeof it);
	it[0] = (struct ns_move_item){ .key = "d/f", .key_len = 3, .etag = "e1" };
	it[1] = (struct ns_move_item){ .key = "d/m", .key_len = 3, .etag = "em" };
	CHECK_OK(ns_dirjob_plan(f.ns, job1, it, 2));
	CHECK_INT_EQ(it[0].action, NS_MOVE_COPY);
	CHECK_STR_EQ(it[0].dst, "t/f");
	CHECK_STR_EQ(it[1].dst, "t/m");
	strcpy(it[0].dst_etag, "e1");
	strcpy(it[1].dst_etag, "em");
	CHECK_OK(ns_dirjob_record(f.ns, job1, it, 2, true, j, &o));
	CHECK_U64_EQ(o.moved, 2);
	CHECK(key_bound(&f, "t/f", &ino));
	CHECK_U64_EQ(ino, f1);
	CHECK_OK(ns_data_source(f.ns, f1, key, sizeof key, &keylen, etag));
	CHECK_STR_EQ(key, "t/f");
	CHECK_OK(ns_delete_done(f.ns, "d/f", 3));
	CHECK_OK(ns_delete_done(f.ns, "d/m", 3));
	CHECK_OK(ns_dirjob_record(f.ns, job1, it, 0, true, j, &o));
	CHECK(o.finished);

	/* job 2 (e/ -> d/): f2 straight to its path, d/f, emptied by job 1. */
	memset(it, 0, sizeof it);
	it[0] = (struct ns_move_item){ .key = "e/f", .key_len = 3, .etag = "e2" };
	CHECK_OK(ns_dirjob_plan(f.ns, job2, it, 1));
	CHECK_STR_EQ(it[0].dst, "d/f");
	strcpy(it[0].dst_etag, "e2");
	CHECK_OK(ns_dirjob_record(f.ns, job2, it, 1, true, j, &o));
	CHECK_U64_EQ(o.moved, 1);
	CHECK_OK(ns_delete_done(f.ns, "e/f", 3));
	CHECK_OK(ns_dirjob_record(f.ns, job2, it, 0, true, j, &o));
	CHECK(o.finished);
	CHECK_OK(ns_data_source(f.ns, f2, key, sizeof key, &keylen, etag));
	CHECK_STR_EQ(key, "d/f");

	/* job 3 (t/ -> e/): the rest of the way. */
	memset(it, 0, sizeof it);
	it[0] = (struct ns_move_item){ .key = "t/f", .key_len = 3, .etag = "e1" };
	it[1] = (struct ns_move_item){ .key = "t/m", .key_len = 3, .etag = "em" };
	CHECK_OK(ns_dirjob_plan(f.ns, job3, it, 2));
	CHECK_STR_EQ(it[0].dst, "e/f");
	CHECK_STR_EQ(it[1].dst, "e/m");
	CHECK(ns_dirjob_first(f.ns, j) == 0 && j->id == job3);
	free(j);
	free(r);
	fx_close(&f);
}

/* Files that trade places (mv a t; mv b a; mv t b): each one's key is the other's old
 * object. The wait is found to be a circle, and releasing one file's old object lets
 * the other commit; a plain chain is no circle. */
static void test_source_release(void)
{
	struct fx f;
	struct ns_rename_result *r = malloc(sizeof *r);
	struct ns_commit *c = malloc(sizeof *c);
	struct meta_inode in;
	char key[S3_KEY_MAX + 1], etag[S3_ETAG_MAX];
	size_t keylen;
	uint64_t dir, a, b, x, y, holder;
	bool cycle, done;

	fx_open(&f, "");
	dir = imp_dir(&f, META_ROOT_INO, "s");
	a = imp_file(&f, dir, "a", "ea");
	b = imp_file(&f, dir, "b", "eb");
	x = imp_file(&f, dir, "x", "ex");
	imp_done(&f, dir);
	CHECK_OK(rn(&f, dir, "a", dir, "t", r));
	CHECK_OK(rn(&f, dir, "b", dir, "a", r));
	CHECK_OK(rn(&f, dir, "t", dir, "b", r));
	/* a's file is at s/b, which b's file still reads from, and the other way round */
	CHECK_INT_EQ(ns_commit_prepare(f.ns, a, 0, c), EAGAIN);
	CHECK_U64_EQ(c->blocker, b);
	CHECK_OK(ns_source_holder(f.ns, "s/b", 3, a, &holder));
	CHECK_U64_EQ(holder, b);
	CHECK_OK(ns_commit_cycle(f.ns, a, b, &cycle));
	CHECK(cycle);
	/* Not before all of b's bytes are local. */
	CHECK_INT_EQ(ns_source_release(f.ns, b, "s/b", 3, &done), EAGAIN);
	CHECK_OK(ns_data_fetched(f.ns, b, "eb", 0, 10, &in));
	/* Not for a key the file does not read from. */
	CHECK_OK(ns_source_release(f.ns, b, "s/a", 3, &done));
	CHECK(!done);
	CHECK_OK(ns_source_release(f.ns, b, "s/b", 3, &done));
	CHECK(done);
	CHECK(!key_bound(&f, "s/b", &holder));
	CHECK(pending_delete(&f, "s/b", etag));
	CHECK_STR_EQ(etag, "eb");
	CHECK_OK(ns_getattr(f.ns, b, &in));
	CHECK_INT_EQ(in.sync, META_S_DIRTY);
	CHECK(!(in.flags & META_F_IN_S3));
	CHECK_INT_EQ(ns_data_source(f.ns, b, key, sizeof key, &keylen, etag), ENODATA);
	/* a's file goes now, replacing b's old object (conditional on its ETag). */
	CHECK_OK(ns_commit_prepare(f.ns, a, 0, c));
	CHECK_STR_EQ(c->key, "s/b");
	CHECK(c->moved && c->copy && c->replaces);
	CHECK_STR_EQ(c->src_key, "s/a");
	CHECK_STR_EQ(c->prev_etag, "eb");

	/* A chain (mv x y0; mv ... ) that ends in a free key is no circle. */
	CHECK_OK(rn(&f, dir, "x", dir, "y0", r));
	y = mk(&f, dir, "x", META_T_REG);
	CHECK_INT_EQ(ns_commit_prepare(f.ns, y, 0, c), EAGAIN);
	CHECK_U64_EQ(c->blocker, x);
	CHECK_OK(ns_commit_cycle(f.ns, y, x, &cycle));
	CHECK(!cycle);
	free(c);
	free(r);
	fx_close(&f);
}

/* A directory rename that would push a key below it past 1,024 bytes is refused. */
static void test_rename_subtree_too_long(void)
{
	struct fx f;
	struct ns_rename_result *r = malloc(sizeof *r);
	char name[256];
	uint64_t d;

	fx_open(&f, "");
	memset(name, 'n', 250);
	name[250] = '\0';
	d = mk(&f, META_ROOT_INO, "a", META_T_DIR);	/* "a/": 2 */
	for (int i = 0; i < 3; i++)
		d = mk(&f, d, name, META_T_DIR);	/* + 3 * 251 = 755 */
	d = mk(&f, d, "x", META_T_DIR);		/* 757 */
	memset(name, 'f', 255);
	name[255] = '\0';
	(void)mk(&f, d, name, META_T_REG);	/* 1,012 */
	CHECK_OK(rn(&f, META_ROOT_INO, "a", META_ROOT_INO, "abcdefghijkl", r));	/* 1,023 */
	CHECK_INT_EQ(rn(&f, META_ROOT_INO, "abcdefghijkl", META_ROOT_INO, "abcdefghijklmn", r),
		     ENAMETOOLONG);	/* would be 1,025 */
	CHECK(look(&f, META_ROOT_INO, "abcdefghijkl") != 0);
	CHECK(look(&f, META_ROOT_INO, "abcdefghijklmn") == 0);
	/* Creating: the key (a directory's marker key) must fit too. d's key is now 768. */
	{
		struct ns_new nw = { .type = META_T_REG, .mode = 0640 };
		struct meta_inode in;
		uint64_t z;

		memset(name, 'z', 250);
		name[250] = '\0';
		z = mk(&f, d, name, META_T_DIR);	/* 1,019 */
		CHECK_OK(ns_create(f.ns, z, "abcde", 5, &nw, &in, NULL));	/* 1,024 */
		CHECK_INT_EQ(ns_create(f.ns, z, "abcdef", 6, &nw, &in, NULL), ENAMETOOLONG);
		nw.type = META_T_DIR;
		CHECK_OK(ns_create(f.ns, z, "abcd", 4, &nw, &in, NULL));	/* "abcd/": 1,024 */
		CHECK_INT_EQ(ns_create(f.ns, z, "abcdx", 5, &nw, &in, NULL), ENAMETOOLONG);
	}
	CHECK_OK(rn(&f, META_ROOT_INO, "abcdefghijkl", META_ROOT_INO, "b", r));	/* shorter */
	free(r);
	fx_close(&f);
}

int main(void)
{
	CHECK_RUN(test_special_files);
	CHECK_RUN(test_create_lookup);
	CHECK_RUN(test_create_with_attrs);
	CHECK_RUN(test_readdir_paging);
	CHECK_RUN(test_remove_rules);
	CHECK_RUN(test_setattr_write);
	CHECK_RUN(test_import_cycle);
	CHECK_RUN(test_collision);
	CHECK_RUN(test_commit_bookkeeping);
	CHECK_RUN(test_rename_posix);
	CHECK_RUN(test_rename_lostfound);
	CHECK_RUN(test_rename_cookies_feed);
	CHECK_RUN(test_rename_s3_file);
	CHECK_RUN(test_rename_dir_job);
	CHECK_RUN(test_dirjob_orphan_copy);
	CHECK_RUN(test_rename_dir_chain);
	CHECK_RUN(test_rename_dir_swap);
	CHECK_RUN(test_source_release);
	CHECK_RUN(test_rename_subtree_too_long);
	CHECK_RUN(test_rename_dir_left);
	CHECK_RUN(test_rename_persist);
	return check_done();
}
