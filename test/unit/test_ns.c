/* test_ns.c — namespace semantics over the store: POSIX rules, import, commit bookkeeping. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "err.h"
#include "keymap.h"
#include "meta.h"
#include "ns.h"

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
	CHECK_INT_EQ(r[0], NS_IMP_NEW);
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

int main(void)
{
	CHECK_RUN(test_create_lookup);
	CHECK_RUN(test_readdir_paging);
	CHECK_RUN(test_remove_rules);
	CHECK_RUN(test_setattr_write);
	CHECK_RUN(test_import_cycle);
	CHECK_RUN(test_collision);
	CHECK_RUN(test_commit_bookkeeping);
	return check_done();
}
