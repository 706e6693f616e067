/* test_ns_conflict.c — S3 wins: conflicted inodes move to lost+found (ns_conflict_*). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void fx_open(struct fx *f)
{
	struct meta_opts o = { .nosync = true };

	CHECK_OK(meta_env_open(check_tmpdir(), &o, &f->me));
	CHECK_OK(keymap_init(&f->km, "pre"));
	CHECK_OK(ns_open(f->me, &f->km, NULL, NULL, &f->ns));
}

static void fx_close(struct fx *f)
{
	ns_close(f->ns);
	keymap_fini(&f->km);
	meta_env_close(f->me);
}

static bool seen_none(void *arg, const char *name, size_t len)
{
	(void)arg;
	(void)name;
	(void)len;
	return false;
}

/* Import one file into dir from a listing, as the daemon's poll would. */
static uint64_t import_file(struct fx *f, uint64_t dir, const char *name, uint64_t size,
			    const char *etag, enum ns_import_result *res)
{
	struct ns_import_entry e = { .name = name, .len = strlen(name), .size = size,
				     .mtime_s = 1000, .etag = etag };
	enum ns_import_result r;
	uint64_t ino = 0;

	CHECK_OK(ns_import_apply(f->ns, dir, &e, 1, meta_now_ns(), &r, &ino));
	if (res)
		*res = r;
	return ino;
}

static uint64_t import_dir_entry(struct fx *f, uint64_t dir, const char *name)
{
	struct ns_import_entry e = { .name = name, .len = strlen(name), .is_dir = true };
	enum ns_import_result r;
	uint64_t ino = 0;

	CHECK_OK(ns_import_apply(f->ns, dir, &e, 1, meta_now_ns(), &r, &ino));
	CHECK_INT_EQ(r, NS_IMP_NEW);
	return ino;
}

static uint64_t lookup(struct fx *f, uint64_t dir, const char *name)
{
	struct meta_inode in;
	int rc = ns_lookup(f->ns, dir, name, strlen(name), &in);

	return rc ? 0 : in.ino;
}

/* 2026-12-02T10:15:00Z */
#define T_RESOLVE 1796206500000000000LL

static void test_lostfound_name(void)
{
	char buf[META_NAME_MAX + 1], path[600];
	size_t n;

	n = ns_lostfound_name("docs/report.txt", 15, T_RESOLVE, 1, buf);
	CHECK_STR_EQ(buf, "docs%2Freport.txt.20261202T101500Z");
	CHECK_U64_EQ(n, strlen(buf));
	n = ns_lostfound_name("a%b/c", 5, T_RESOLVE, 3, buf);
	CHECK_STR_EQ(buf, "a%25b%2Fc.20261202T101500Z.3");
	/* Too long for one name: the end survives, marked by "...", and it fits. */
	memset(path, 'd', sizeof path);
	path[100] = '/';
	memcpy(path + sizeof path - 9, "/file.txt", 9);
	n = ns_lostfound_name(path, sizeof path, T_RESOLVE, 1, buf);
	CHECK(n <= META_NAME_MAX);
	CHECK_U64_EQ(n, strlen(buf));
	CHECK(strncmp(buf, "...", 3) == 0);
	CHECK(strstr(buf, "%2Ffile.txt.20261202T101500Z") != NULL);
	CHECK(strchr(buf, '/') == NULL);
	/* The cut never leaves half an escape behind. */
	for (size_t cut = 0; cut < 6; cut++) {
		char p2[400];

		memset(p2, '/', sizeof p2);
		memcpy(p2, "x", 1);
		n = ns_lostfound_name(p2, sizeof p2 - cut, T_RESOLVE, 1, buf);
		CHECK(n <= META_NAME_MAX);
		CHECK_MSG(strncmp(buf, "...%2F", 6) == 0, "cut %zu: %s", cut, buf);
	}
}

/* A clean file changed in S3 while dirty on the file side: it moves to lost+found with its
 * data, handle and attributes; the name is free for S3's version. */
static void test_resolve_changed(void)
{
	struct fx f;
	struct ns_conflict *c = malloc(sizeof *c);
	struct ns_conflict_result r;
	struct meta_inode in, lf, root;
	enum ns_import_result res;
	uint64_t d, ino, lfi, again;
	struct ns_pending p;
	char key[S3_KEY_MAX + 1];
	size_t keylen;

	fx_open(&f);
	d = import_dir_entry(&f, META_ROOT_INO, "d");
	ino = import_file(&f, d, "f", 10, "e1", &res);
	CHECK_INT_EQ(res, NS_IMP_NEW);
	CHECK_INT_EQ(ns_conflict_prepare(f.ns, ino, c), EALREADY);	/* clean */
	CHECK_OK(ns_write_done(f.ns, ino, 0, 10, &in));		/* all of it local, dirty */
	CHECK_INT_EQ(in.data, META_D_FULL);
	import_file(&f, d, "f", 12, "e2", &res);
	CHECK_INT_EQ(res, NS_IMP_CONFLICT);
	CHECK_OK(ns_getattr(f.ns, ino, &in));
	CHECK_INT_EQ(in.sync, META_S_CONFLICT);

	CHECK_OK(ns_conflict_prepare(f.ns, ino, c));
	CHECK_STR_EQ(c->key, "pre/d/f");
	CHECK_U64_EQ(c->parent, d);
	CHECK_OK(ns_conflict_resolve(f.ns, c, T_RESOLVE, &r));
	CHECK(r.created_lf);
	CHECK(!r.lost_bytes);
	CHECK_STR_EQ(r.lf_name, "d%2Ff.20261202T101500Z");
	uint64_t count;

	CHECK_OK(ns_conflicts_count(f.ns, &count));	/* one more over the store's life */
	CHECK_U64_EQ(count, 1);
	CHECK_OK(ns_conflicts_add(f.ns, 2));
	CHECK_OK(ns_conflicts_count(f.ns, &count));
	CHECK_U64_EQ(count, 3);

	/* lost+found: at the root, s3files' own, holding the very inode. */
	lfi = lookup(&f, META_ROOT_INO, "lost+found");
	CHECK_U64_EQ(lfi, r.lf_dir);
	CHECK_OK(ns_getattr(f.ns, lfi, &lf));
	CHECK(lf.flags & META_F_RESERVED);
	CHECK(lf.flags & META_F_IMPORTED);
	CHECK(!(lf.flags & META_F_IN_S3));
	CHECK_INT_EQ(lf.mode, 0700);
	CHECK_OK(ns_getattr(f.ns, META_ROOT_INO, &root));
	CHECK_INT_EQ(root.nlink, 4);	/* ., .., d, lost+found */
	CHECK_U64_EQ(lookup(&f, lfi, r.lf_name), ino);
	CHECK_U64_EQ(lookup(&f, d, "f"), 0);
	CHECK_OK(ns_getattr(f.ns, ino, &in));
	CHECK_U64_EQ(in.parent, lfi);
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK_INT_EQ(in.data, META_D_FULL);
	CHECK_U64_EQ(in.size, 10);
	CHECK(in.flags & META_F_RESERVED);
	CHECK(!(in.flags & (META_F_IN_S3 | META_F_LOST)));
	/* Nothing left to upload or delete for it. */
	CHECK_OK(ns_subtree_pending(f.ns, META_ROOT_INO, &p));
	CHECK_U64_EQ(p.dirty, 0);
	CHECK_U64_EQ(p.deletes, 0);
	CHECK_INT_EQ(ns_conflict_prepare(f.ns, ino, c), EALREADY);
	struct ns_conflict_result r2;

	CHECK_INT_EQ(ns_conflict_resolve(f.ns, c, T_RESOLVE, &r2), EALREADY);

	/* S3's version comes in with the next listing, as a new inode. */
	again = import_file(&f, d, "f", 12, "e2", &res);
	CHECK_INT_EQ(res, NS_IMP_NEW);
	CHECK(again != ino);
	CHECK_OK(ns_getattr(f.ns, again, &in));
	CHECK_STR_EQ(in.etag, "e2");
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK_OK(ns_key_of(f.ns, again, key, sizeof key, &keylen));
	CHECK_STR_EQ(key, "pre/d/f");

	/* The loser is kept but never uploaded: writes leave it clean, it can be chmod'ed and
	 * removed; nothing new can be made in lost+found. */
	struct ns_setattr sa = { .mask = NS_SET_MODE, .mode = 0600 };
	struct ns_new nw = { .type = META_T_REG, .mode = 0644 };

	CHECK_OK(ns_write_done(f.ns, ino, 10, 5, &in));
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK_U64_EQ(in.size, 15);
	CHECK_OK(ns_setattr(f.ns, ino, &sa, &in));
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK_OK(ns_subtree_pending(f.ns, META_ROOT_INO, &p));
	CHECK_U64_EQ(p.dirty, 0);
	CHECK_INT_EQ(ns_create(f.ns, lfi, "new", 3, &nw, &in, NULL), EACCES);
	CHECK_INT_EQ(ns_remove(f.ns, META_ROOT_INO, "lost+found", 10, true, &in, NULL), ENOTEMPTY);
	CHECK_OK(ns_remove(f.ns, lfi, r.lf_name, r.lf_len, false, &in, NULL));
	CHECK_OK(ns_subtree_pending(f.ns, META_ROOT_INO, &p));
	CHECK_U64_EQ(p.deletes, 0);	/* it had no object: nothing to delete in S3 */
	CHECK_INT_EQ(ns_remove(f.ns, META_ROOT_INO, "lost+found", 10, true, &in, NULL), EPERM);
	free(c);
	fx_close(&f);
}

/* Deleted in S3 while changed on the file side: the same, and the name stays free. A
 * partly local file keeps what it has; the rest of the old version is gone (EIO). */
static void test_resolve_deleted_partial(void)
{
	struct fx f;
	struct ns_conflict *c = malloc(sizeof *c);
	struct ns_conflict_result r;
	struct meta_inode in;
	enum ns_import_result res;
	uint64_t ino, n_removed;
	char key[S3_KEY_MAX + 1], etag[S3_ETAG_MAX];
	size_t keylen;
	struct rangeset rs = RANGESET_INIT;

	fx_open(&f);
	ino = import_file(&f, META_ROOT_INO, "big", 1 << 20, "eb", &res);
	CHECK_OK(ns_write_done(f.ns, ino, 4096, 100, &in));	/* 100 bytes local, dirty */
	CHECK_INT_EQ(in.data, META_D_PARTIAL);
	/* The next listing of the root does not show it any more. */
	CHECK_OK(ns_import_finish(f.ns, META_ROOT_INO, meta_now_ns(), seen_none, NULL, NULL,
				  NULL, &n_removed));
	CHECK_U64_EQ(n_removed, 0);
	CHECK_OK(ns_getattr(f.ns, ino, &in));
	CHECK_INT_EQ(in.sync, META_S_CONFLICT);

	CHECK_OK(ns_conflict_prepare(f.ns, ino, c));
	CHECK_OK(ns_conflict_resolve(f.ns, c, T_RESOLVE, &r));
	CHECK(r.lost_bytes);
	CHECK_STR_EQ(r.lf_name, "big.20261202T101500Z");
	CHECK_U64_EQ(lookup(&f, META_ROOT_INO, "big"), 0);
	CHECK_OK(ns_getattr(f.ns, ino, &in));
	CHECK(in.flags & META_F_LOST);
	CHECK_U64_EQ(in.size, 1 << 20);
	CHECK_INT_EQ(ns_data_source(f.ns, ino, key, sizeof key, &keylen, etag), EIO);
	CHECK_OK(ns_data_present(f.ns, ino, &rs, NULL));
	CHECK(rangeset_covers(&rs, 4096, 4196));
	rangeset_free(&rs);
	/* A second conflict of the same path in the same second gets its own name. */
	ino = import_file(&f, META_ROOT_INO, "big", 5, "ec", &res);
	CHECK_INT_EQ(res, NS_IMP_NEW);
	CHECK_OK(ns_write_done(f.ns, ino, 0, 5, &in));
	import_file(&f, META_ROOT_INO, "big", 6, "ed", &res);
	CHECK_INT_EQ(res, NS_IMP_CONFLICT);
	CHECK_OK(ns_conflict_prepare(f.ns, ino, c));
	CHECK_OK(ns_conflict_resolve(f.ns, c, T_RESOLVE, &r));
	CHECK(!r.created_lf);
	CHECK_STR_EQ(r.lf_name, "big.20261202T101500Z.2");
	free(c);
	fx_close(&f);
}

/* Both sides created the name: the file-side file was never uploaded. */
static void test_resolve_both_created(void)
{
	struct fx f;
	struct ns_conflict *c = malloc(sizeof *c);
	struct ns_conflict_result r;
	struct ns_new nw = { .type = META_T_LNK, .mode = 0777, .target = "there", .target_len = 5 };
	struct meta_inode in;
	enum ns_import_result res;
	char buf[16];
	size_t len;

	fx_open(&f);
	CHECK_OK(ns_create(f.ns, META_ROOT_INO, "n", 1, &nw, &in, NULL));
	import_file(&f, META_ROOT_INO, "n", 3, "en", &res);
	CHECK_INT_EQ(res, NS_IMP_CONFLICT);
	CHECK_OK(ns_conflict_prepare(f.ns, in.ino, c));
	CHECK_OK(ns_conflict_resolve(f.ns, c, T_RESOLVE, &r));
	CHECK(!r.lost_bytes);
	CHECK_OK(ns_readlink(f.ns, in.ino, buf, sizeof buf, &len));	/* a symlink stays one */
	CHECK_U64_EQ(len, 5);
	import_file(&f, META_ROOT_INO, "n", 3, "en", &res);
	CHECK_INT_EQ(res, NS_IMP_NEW);
	free(c);
	fx_close(&f);
}

/* The "conflict" was our own upload whose record was lost: marked clean, not moved. And
 * a change after prepare makes resolve look again (EAGAIN). */
static void test_same_and_races(void)
{
	struct fx f;
	struct ns_conflict *c = malloc(sizeof *c);
	struct ns_conflict_result r;
	struct s3_object_info info = { .size = 4, .last_modified = 2000 };
	struct meta_inode in;
	enum ns_import_result res;
	uint64_t ino, d;
	struct ns_rename_result *rr = malloc(sizeof *rr);

	fx_open(&f);
	ino = import_file(&f, META_ROOT_INO, "s", 4, "e1", &res);
	CHECK_OK(ns_write_done(f.ns, ino, 0, 4, &in));
	import_file(&f, META_ROOT_INO, "s", 4, "e2", &res);
	CHECK_INT_EQ(res, NS_IMP_CONFLICT);
	CHECK_OK(ns_conflict_prepare(f.ns, ino, c));
	snprintf(info.etag, sizeof info.etag, "e2");
	CHECK_OK(ns_conflict_same(f.ns, c, &info));
	CHECK_OK(ns_getattr(f.ns, ino, &in));
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK_STR_EQ(in.etag, "e2");
	CHECK_U64_EQ(lookup(&f, META_ROOT_INO, "s"), ino);
	import_file(&f, META_ROOT_INO, "s", 4, "e2", &res);
	CHECK_INT_EQ(res, NS_IMP_SAME);

	/* Written after prepare: not "the same" any more. */
	CHECK_OK(ns_write_done(f.ns, ino, 0, 4, &in));
	import_file(&f, META_ROOT_INO, "s", 4, "e3", &res);
	CHECK_INT_EQ(res, NS_IMP_CONFLICT);
	CHECK_OK(ns_conflict_prepare(f.ns, ino, c));
	CHECK_OK(ns_write_done(f.ns, ino, 4, 4, &in));
	snprintf(info.etag, sizeof info.etag, "e3");
	CHECK_INT_EQ(ns_conflict_same(f.ns, c, &info), EAGAIN);
	/* Renamed after prepare: resolve wants a fresh look. */
	d = import_dir_entry(&f, META_ROOT_INO, "d");
	CHECK_OK(ns_rename(f.ns, META_ROOT_INO, "s", 1, d, "s2", 2, rr));
	CHECK_INT_EQ(ns_conflict_resolve(f.ns, c, T_RESOLVE, &r), EAGAIN);
	CHECK_OK(ns_conflict_prepare(f.ns, ino, c));
	CHECK_STR_EQ(c->key, "pre/d/s2");
	CHECK_OK(ns_conflict_resolve(f.ns, c, T_RESOLVE, &r));
	CHECK_STR_EQ(r.lf_name, "d%2Fs2.20261202T101500Z");
	/* Its old key is free again: S3's object there shows under the old name. */
	import_file(&f, META_ROOT_INO, "s", 4, "e3", &res);
	CHECK_INT_EQ(res, NS_IMP_NEW);
	free(rr);
	free(c);
	fx_close(&f);
}

/* Removed through the mount, changed in S3 before the delete went out: S3 wins. */
static void test_delete_lost(void)
{
	struct fx f;
	struct meta_inode in;
	enum ns_import_result res;
	struct ns_pending p;
	uint64_t ino;

	fx_open(&f);
	ino = import_file(&f, META_ROOT_INO, "r", 3, "e1", &res);
	CHECK_OK(ns_remove(f.ns, META_ROOT_INO, "r", 1, false, &in, NULL));
	CHECK_OK(ns_subtree_pending(f.ns, META_ROOT_INO, &p));
	CHECK_U64_EQ(p.deletes, 1);
	import_file(&f, META_ROOT_INO, "r", 3, "e1", &res);	/* still the removed version */
	CHECK_INT_EQ(res, NS_IMP_PENDING_DELETE);
	CHECK_U64_EQ(lookup(&f, META_ROOT_INO, "r"), 0);
	ino = import_file(&f, META_ROOT_INO, "r", 4, "e2", &res);	/* another client's */
	CHECK_INT_EQ(res, NS_IMP_DELETE_LOST);
	CHECK_U64_EQ(lookup(&f, META_ROOT_INO, "r"), ino);
	CHECK_OK(ns_subtree_pending(f.ns, META_ROOT_INO, &p));
	CHECK_U64_EQ(p.deletes, 0);
	import_file(&f, META_ROOT_INO, "r", 4, "e2", &res);
	CHECK_INT_EQ(res, NS_IMP_SAME);
	fx_close(&f);
}

int main(void)
{
	CHECK_RUN(test_lostfound_name);
	CHECK_RUN(test_resolve_changed);
	CHECK_RUN(test_resolve_deleted_partial);
	CHECK_RUN(test_resolve_both_created);
	CHECK_RUN(test_same_and_races);
	CHECK_RUN(test_delete_lost);
	return check_done();
}
