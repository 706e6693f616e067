/* test_ns_sync.c — the subtree sync-state queries behind `s3filesctl wait-synced`. */
#include "check.h"
#include "base/err.h"
#include "ns/keymap.h"
#include "store/meta.h"
#include "ns/ns_sync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fx {
	struct meta_env *me;
	struct keymap km;
	struct ns *ns;
};

static void fx_open_at(struct fx *f, const char *dir)
{
	struct meta_opts o = { .nosync = true };

	CHECK_OK(meta_env_open(dir, &o, &f->me));
	CHECK_OK(keymap_init(&f->km, "pfx"));
	CHECK_OK(ns_open(f->me, &f->km, NULL, NULL, &f->ns));
}

static void fx_open(struct fx *f)
{
	fx_open_at(f, check_tmpdir());
}

static void fx_close(struct fx *f)
{
	ns_close(f->ns);
	keymap_fini(&f->km);
	meta_env_close(f->me);
}

static uint64_t mk(struct fx *f, uint64_t dir, const char *name, enum meta_type type)
{
	struct ns_new nw = { .type = type, .mode = 0644 };
	struct meta_inode in;

	CHECK_OK(ns_create(f->ns, dir, name, strlen(name), &nw, &in, NULL));
	return in.ino;
}

/* Commit ino as the daemon would, with this ETag. */
static void commit(struct fx *f, uint64_t ino, const char *etag)
{
	struct ns_commit *c = malloc(sizeof *c);
	struct s3_object_info info = { 0 };
	int rc = ns_commit_prepare(f->ns, ino, 0, c);

	if (rc != EALREADY) {
		CHECK_OK(rc);
		snprintf(info.etag, sizeof info.etag, "%s", etag);
		CHECK_OK(ns_commit_done(f->ns, c, &info));
	}
	free(c);
}

static struct ns_pending pending(struct fx *f, uint64_t under)
{
	struct ns_pending p;

	memset(&p, 0xff, sizeof p);
	CHECK_OK(ns_subtree_pending(f->ns, under, &p));
	return p;
}

struct seen {
	char lines[16][128];
	int n;
};

static int collect(void *arg, const char *rel, size_t len, const struct meta_inode *in)
{
	struct seen *s = arg;

	if (s->n < 16)
		snprintf(s->lines[s->n++], sizeof s->lines[0], "%.*s=%s", (int)len, rel, in->etag);
	return 0;
}

static int stop_after_one(void *arg, const char *rel, size_t len, const struct meta_inode *in)
{
	(void)rel;
	(void)len;
	(void)in;
	++*(int *)arg;
	return 42;
}

static void test_pending_and_files(void)
{
	struct fx f;
	struct meta_inode in;
	struct ns_pending p;
	struct seen s = { .n = 0 };
	uint64_t d, a, e, b, dd, z, x;
	bool inside;
	int calls = 0;

	fx_open(&f);
	d = mk(&f, META_ROOT_INO, "d", META_T_DIR);
	a = mk(&f, d, "a", META_T_REG);
	e = mk(&f, d, "e", META_T_DIR);
	b = mk(&f, e, "b", META_T_REG);
	dd = mk(&f, META_ROOT_INO, "dd", META_T_DIR);
	z = mk(&f, dd, "z", META_T_REG);
	x = mk(&f, META_ROOT_INO, "x", META_T_REG);

	/* everything new is pending somewhere */
	p = pending(&f, a);
	CHECK_U64_EQ(p.dirty, 1);
	p = pending(&f, META_ROOT_INO);
	CHECK(p.dirty >= 4);	/* at least the four files; new dirs may count too */
	CHECK_U64_EQ(p.conflicts, 0);

	uint64_t all[] = { d, a, e, b, dd, z, x };
	char tag[16];

	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		snprintf(tag, sizeof tag, "etag%zu", i);
		commit(&f, all[i], tag);
	}
	p = pending(&f, META_ROOT_INO);
	CHECK_U64_EQ(p.dirty, 0);
	CHECK_U64_EQ(p.deletes, 0);

	/* a write below d is pending for d, for the root and for the file, not for dd or x */
	CHECK_OK(ns_write_done(f.ns, b, 0, 5, &in));
	CHECK_U64_EQ(pending(&f, d).dirty, 1);
	CHECK_U64_EQ(pending(&f, e).dirty, 1);
	CHECK_U64_EQ(pending(&f, b).dirty, 1);
	CHECK_U64_EQ(pending(&f, META_ROOT_INO).dirty, 1);
	CHECK_U64_EQ(pending(&f, dd).dirty, 0);
	CHECK_U64_EQ(pending(&f, a).dirty, 0);
	CHECK_U64_EQ(pending(&f, x).dirty, 0);
	commit(&f, b, "etag-b2");

	/* a conflict is reported as such, with the inode */
	{
		struct meta_txn *t;

		CHECK_OK(meta_txn_begin(f.me, true, &t));
		CHECK_OK(meta_inode_get(t, a, &in));
		in.sync = META_S_CONFLICT;
		CHECK_OK(meta_inode_put(t, &in));
		CHECK_OK(meta_dirty_add(t, a));
		CHECK_OK(meta_txn_commit(t));
	}
	p = pending(&f, d);
	CHECK_U64_EQ(p.dirty, 1);
	CHECK_U64_EQ(p.conflicts, 1);
	CHECK_U64_EQ(p.first_conflict, a);
	CHECK_U64_EQ(pending(&f, e).conflicts, 0);

	/* a removed committed file leaves a pending delete under its directory only: the
	 * key prefix "pfx/dd/" must not count for "pfx/d/" */
	CHECK_OK(ns_remove(f.ns, dd, "z", 1, false, &in, NULL));
	CHECK_U64_EQ(pending(&f, dd).deletes, 1);
	CHECK_U64_EQ(pending(&f, d).deletes, 0);
	CHECK_U64_EQ(pending(&f, META_ROOT_INO).deletes, 1);
	CHECK_OK(ns_delete_done(f.ns, "pfx/dd/z", 8));
	CHECK_U64_EQ(pending(&f, dd).deletes, 0);

	/* the files of a subtree with their ETags, paths relative to it */
	CHECK_OK(ns_subtree_files(f.ns, d, collect, &s));
	CHECK_INT_EQ(s.n, 2);
	CHECK_STR_EQ(s.lines[0], "a=etag1");
	CHECK_STR_EQ(s.lines[1], "e/b=etag-b2");
	s.n = 0;
	CHECK_OK(ns_subtree_files(f.ns, b, collect, &s));
	CHECK_INT_EQ(s.n, 1);
	CHECK_STR_EQ(s.lines[0], "=etag-b2");
	s.n = 0;
	CHECK_OK(ns_subtree_files(f.ns, META_ROOT_INO, collect, &s));
	CHECK_INT_EQ(s.n, 3);	/* d/a, d/e/b, x */
	CHECK_STR_EQ(s.lines[2], "x=etag6");
	CHECK_INT_EQ(ns_subtree_files(f.ns, META_ROOT_INO, stop_after_one, &calls), 42);
	CHECK_INT_EQ(calls, 1);
	CHECK_INT_EQ(ns_subtree_files(f.ns, 999999, collect, &s), ENOENT);

	CHECK_OK(ns_is_under(f.ns, b, d, &inside));
	CHECK(inside);
	CHECK_OK(ns_is_under(f.ns, b, b, &inside));
	CHECK(inside);
	CHECK_OK(ns_is_under(f.ns, b, dd, &inside));
	CHECK(!inside);
	CHECK_OK(ns_is_under(f.ns, d, e, &inside));
	CHECK(!inside);
	CHECK_OK(ns_is_under(f.ns, x, META_ROOT_INO, &inside));
	CHECK(inside);
	fx_close(&f);
}

/* Which inodes may lose their local data, and what that records. */
/* A directory imported from S3 and removed through the mount (its file unlinked, then
 * rmdir) stays removed while its objects wait for the delete pass, although every
 * listing of its parent still shows its prefix; once the deletes are done, a listing that
 * still shows the prefix (another client's object there) brings it back. */
static bool seen_all(void *arg, const char *name, size_t len)
{
	(void)arg;
	(void)name;
	(void)len;
	return true;
}

static const struct ns_import_entry dir_d = { .name = "d", .len = 1, .is_dir = true };

/* "d/" listed in the root, "d/f" (an object) in d: *dir and *file. */
static void import_d_f(struct fx *f, uint64_t *dir, uint64_t *file)
{
	struct ns_import_entry e = { .name = "f", .len = 1, .size = 3, .mtime_s = 1,
				     .etag = "0123456789abcdef0123456789abcdef" };
	enum ns_import_result r;

	CHECK_OK(ns_import_apply(f->ns, META_ROOT_INO, &dir_d, 1, meta_now_ns(), &r, dir));
	CHECK_INT_EQ(r, NS_IMP_NEW);
	CHECK_OK(ns_import_apply(f->ns, *dir, &e, 1, meta_now_ns(), &r, file));
	CHECK_OK(ns_import_finish(f->ns, *dir, meta_now_ns(), seen_all, NULL, NULL, NULL, NULL));
}

/* The root's listing shows "d/" (d removed from the view): expect, and d still absent
 * unless the listing made it anew. */
static void list_d(struct fx *f, enum ns_import_result expect)
{
	struct meta_inode in;
	enum ns_import_result r;
	uint64_t ino;

	CHECK_OK(ns_import_apply(f->ns, META_ROOT_INO, &dir_d, 1, meta_now_ns(), &r, &ino));
	CHECK_INT_EQ(r, expect);
	CHECK_INT_EQ(ns_lookup(f->ns, META_ROOT_INO, "d", 1, &in), expect == NS_IMP_NEW ? 0 : ENOENT);
}

/* The pending delete of "pfx/d/f" is carried out: another client's object below "d/"
 * now shows the directory again. */
static void delete_done_shows_d(struct fx *f)
{
	const char *key = "pfx/d/f";

	CHECK_OK(ns_delete_done(f->ns, key, strlen(key)));
	list_d(f, NS_IMP_NEW);
}

static void test_removed_dir_stays_removed(void)
{
	struct fx f;
	struct meta_inode victim;
	uint64_t dir, file;

	fx_open(&f);
	import_d_f(&f, &dir, &file);
	CHECK_OK(ns_remove(f.ns, dir, "f", 1, false, &victim, NULL));
	CHECK_OK(ns_remove(f.ns, META_ROOT_INO, "d", 1, true, &victim, NULL));
	/* The parent's next listing still has "d/" (the object "pfx/d/f" is still there). */
	list_d(&f, NS_IMP_PENDING_DELETE);
	delete_done_shows_d(&f);
	fx_close(&f);
}

/* A directory whose file was renamed out of it, then removed: the file's old object
 * still waits for the file's move (a directory job leaves it there too), and the parent's
 * listing shows the prefix. It stays removed (a directory shown there would stand in the
 * way of the client's next mkdir of the name: EEXIST), and so does it while the move's
 * delete waits; once S3 holds nothing of ours there, another client's object shows it. */
static void test_renamed_out_dir_stays_removed(void)
{
	struct fx f;
	struct meta_inode victim;
	struct ns_rename_result *rr = malloc(sizeof *rr);
	uint64_t dir, file;

	fx_open(&f);
	import_d_f(&f, &dir, &file);
	CHECK_OK(ns_rename(f.ns, dir, "f", 1, META_ROOT_INO, "g", 1, rr));
	CHECK_OK(ns_remove(f.ns, META_ROOT_INO, "d", 1, true, &victim, NULL));
	/* "pfx/d/f" is g's source until g's commit moves it. */
	list_d(&f, NS_IMP_MOVING);
	/* g's commit copies it (its old key then a pending delete): still removed. */
	commit(&f, file, "0123456789abcdef0123456789abcdef");
	list_d(&f, NS_IMP_PENDING_DELETE);
	delete_done_shows_d(&f);
	free(rr);
	fx_close(&f);
}

/* The same for an upload of ours not yet recorded: a new file in a new directory,
 * uploaded, then removed with its directory before the upload's record (the intent holds
 * the key). The parent's listing shows the prefix of our object: not a directory. */
static void test_uploading_dir_stays_removed(void)
{
	struct fx f;
	struct meta_inode victim;
	struct ns_commit *c = malloc(sizeof *c);
	char token[META_TOKEN_MAX];
	uint64_t dir, file;

	fx_open(&f);
	dir = mk(&f, META_ROOT_INO, "d", META_T_DIR);
	file = mk(&f, dir, "f", META_T_REG);
	CHECK_OK(ns_commit_prepare(f.ns, file, 0, c));
	CHECK_OK(ns_token_new(f.ns, token));
	CHECK_OK(ns_intent_begin(f.ns, c, META_INTENT_PUT, token, "", 0));
	CHECK_OK(ns_remove(f.ns, dir, "f", 1, false, &victim, NULL));
	CHECK_OK(ns_remove(f.ns, META_ROOT_INO, "d", 1, true, &victim, NULL));
	list_d(&f, NS_IMP_MOVING);
	free(c);
	fx_close(&f);
}

static void test_data_evicting(void)
{
	struct fx f;
	struct meta_inode in;
	struct ns_import_entry e = { .name = "big", .len = 3, .size = 1000, .mtime_s = 1,
				     .etag = "0123456789abcdef0123456789abcdef" };
	enum ns_import_result r;
	uint64_t imported, fresh, dir;
	bool had = false;
	int64_t when = -1;
	uint64_t room = 99;

	fx_open(&f);
	CHECK_OK(ns_import_apply(f.ns, META_ROOT_INO, &e, 1, meta_now_ns(), &r, &imported));
	CHECK_OK(ns_data_fetched(f.ns, imported, e.etag, 0, 1000, &in));
	CHECK_OK(ns_getattr(f.ns, imported, &in));
	CHECK_INT_EQ(in.data, META_D_FULL);
	/* clean and in S3: may go; afterwards nothing is local */
	CHECK_OK(ns_data_evicting(f.ns, imported, &had));
	CHECK(had);
	CHECK_OK(ns_getattr(f.ns, imported, &in));
	CHECK_INT_EQ(in.data, META_D_NONE);
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK_U64_EQ(in.size, 1000);	/* metadata stays */
	/* written since: dirty data never goes */
	CHECK_OK(ns_write_done(f.ns, imported, 0, 10, &in));
	CHECK_INT_EQ(ns_data_evicting(f.ns, imported, &had), EBUSY);
	/* a file never uploaded, a directory: never */
	fresh = mk(&f, META_ROOT_INO, "new", META_T_REG);
	CHECK_INT_EQ(ns_data_evicting(f.ns, fresh, &had), EBUSY);
	dir = mk(&f, META_ROOT_INO, "dir", META_T_DIR);
	commit(&f, dir, "");
	CHECK_INT_EQ(ns_data_evicting(f.ns, dir, &had), EBUSY);
	/* in conflict: never */
	commit(&f, fresh, "etag-fresh");
	{
		struct meta_txn *t;

		CHECK_OK(meta_txn_begin(f.me, true, &t));
		CHECK_OK(meta_inode_get(t, fresh, &in));
		in.sync = META_S_CONFLICT;
		CHECK_OK(meta_inode_put(t, &in));
		CHECK_OK(meta_txn_commit(t));
	}
	CHECK_INT_EQ(ns_data_evicting(f.ns, fresh, &had), EBUSY);
	/* no such inode: an orphan data file, may go */
	had = true;
	CHECK_OK(ns_data_evicting(f.ns, 987654, &had));
	CHECK(!had);

	/* the FSAL's request for room reaches the daemon's side */
	CHECK_OK(ns_evict_requested(f.ns, &when, &room));
	CHECK_INT_EQ(when, 0);
	CHECK_U64_EQ(room, 0);
	CHECK_OK(ns_evict_request(f.ns, 1234567, 1 << 20));
	CHECK_OK(ns_evict_requested(f.ns, &when, &room));
	CHECK_INT_EQ(when, 1234567);
	CHECK_U64_EQ(room, 1 << 20);
	fx_close(&f);
}

#define SEC 1000000000LL
#define HOUR (3600 * SEC)

/* What the daemon's pass would do with ino at min_age: EAGAIN (not due), or 0 with
 * *early telling a commit on close from one due by age. The commit is not finished. */
static int prepare(struct fx *f, uint64_t ino, int64_t min_age, bool *early, uint64_t *gen)
{
	struct ns_commit *c = malloc(sizeof *c);
	int rc;

	CHECK(c != NULL);
	rc = ns_commit_prepare(f->ns, ino, min_age, c);
	if (early)
		*early = rc == 0 && c->early;
	if (gen)
		*gen = rc == 0 ? c->dirty_gen : 0;
	free(c);
	return rc;
}

/* prepare + done as the daemon's worker (Commit_Interval = 1 h) does it, with a write of
 * the file between the two when write_between (a change during the upload). */
static int commit_due(struct fx *f, uint64_t ino, bool write_between, bool request_after,
		      bool *early)
{
	struct ns_commit *c = malloc(sizeof *c);
	struct s3_object_info info = { 0 };
	struct meta_inode in;
	int rc;

	CHECK(c != NULL);
	rc = ns_commit_prepare(f->ns, ino, HOUR, c);
	if (rc == 0) {
		*early = c->early;
		if (write_between)
			CHECK_OK(ns_write_done(f->ns, ino, 0, 10, &in));
		if (request_after)
			CHECK_OK(ns_commit_request(f->ns, ino, NULL));
		snprintf(info.etag, sizeof info.etag, "etag-%llu", (unsigned long long)c->dirty_gen);
		CHECK_OK(ns_commit_done(f->ns, c, &info));
	}
	free(c);
	return rc;
}

static struct meta_inode get(struct fx *f, uint64_t ino)
{
	struct meta_inode in;

	CHECK_OK(ns_getattr(f->ns, ino, &in));
	return in;
}

/* Commit_On_Close in the store: a request makes a dirty file due at once (ahead of
 * Commit_Interval), the commit that covers it clears it, a change after the request
 * waits for the file to settle, a change during the upload needs a new request, and the
 * request survives closing and reopening the store. */
static void test_commit_on_close(void)
{
	const char *dir = check_tmpdir();
	int64_t t0 = 1800000000LL * SEC;
	struct fx f;
	struct meta_inode in;
	uint64_t a, d, gone = 999999, gen;
	bool marked, early;

	meta_clock_set(t0);
	fx_open_at(&f, dir);
	a = mk(&f, META_ROOT_INO, "a", META_T_REG);
	d = mk(&f, META_ROOT_INO, "d", META_T_DIR);
	CHECK_OK(ns_write_done(f.ns, a, 0, 100, &in));
	CHECK_INT_EQ(in.sync, META_S_DIRTY);
	CHECK_U64_EQ(in.due_gen, 0);

	/* not due by age; a request makes it due now, and says it was marked */
	CHECK_INT_EQ(prepare(&f, a, HOUR, NULL, NULL), EAGAIN);
	marked = false;
	CHECK_OK(ns_commit_request(f.ns, a, &marked));
	CHECK(marked);
	in = get(&f, a);
	CHECK_U64_EQ(in.due_gen, in.dirty_gen);
	/* ... once it has been left alone for a moment (a client also flushes before a second
	 * writer's open, which looks like an fsync) */
	CHECK_INT_EQ(prepare(&f, a, HOUR, NULL, NULL), EAGAIN);
	meta_clock_set(t0 + NS_COMMIT_QUIET_NS - 1);
	CHECK_INT_EQ(prepare(&f, a, HOUR, NULL, NULL), EAGAIN);
	t0 += NS_COMMIT_QUIET_NS;
	meta_clock_set(t0);
	CHECK_OK(prepare(&f, a, HOUR, &early, &gen));
	CHECK(early);
	CHECK_U64_EQ(gen, in.dirty_gen);
	/* an explicit commit (min_age 0) and one due by age are not "early" */
	CHECK_OK(prepare(&f, a, 0, &early, NULL));
	CHECK(!early);
	meta_clock_set(t0 + 2 * HOUR);
	CHECK_OK(prepare(&f, a, HOUR, &early, NULL));
	CHECK(!early);
	meta_clock_set(t0);

	/* the commit covering the request clears it: clean, not due, not marked again */
	CHECK_OK(commit_due(&f, a, false, false, &early));
	CHECK(early);
	in = get(&f, a);
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK_U64_EQ(in.due_gen, 0);
	CHECK_OK(ns_commit_request(f.ns, a, &marked));
	CHECK(!marked);
	CHECK_U64_EQ(get(&f, a).due_gen, 0);
	CHECK_INT_EQ(prepare(&f, a, HOUR, NULL, NULL), EALREADY);

	/* only dirty regular files are marked */
	CHECK_OK(ns_commit_request(f.ns, d, &marked));
	CHECK(!marked);
	CHECK_U64_EQ(get(&f, d).due_gen, 0);
	CHECK_INT_EQ(ns_commit_request(f.ns, gone, &marked), ENOENT);
	CHECK(!marked);

	/* a change after the request (a utimes after close): due once it has settled */
	CHECK_OK(ns_write_done(f.ns, a, 0, 10, &in));
	CHECK_OK(ns_commit_request(f.ns, a, &marked));
	CHECK(marked);
	meta_clock_set(t0 + SEC / 2);
	CHECK_OK(ns_write_done(f.ns, a, 10, 10, &in));
	CHECK(in.due_gen != 0 && in.due_gen < in.dirty_gen);
	CHECK_INT_EQ(prepare(&f, a, HOUR, NULL, NULL), EAGAIN);
	meta_clock_set(t0 + SEC / 2 + NS_COMMIT_SETTLE_NS - 1);
	CHECK_INT_EQ(prepare(&f, a, HOUR, NULL, NULL), EAGAIN);
	meta_clock_set(t0 + SEC / 2 + NS_COMMIT_SETTLE_NS);
	CHECK_OK(prepare(&f, a, HOUR, &early, &gen));
	CHECK(early);
	CHECK_U64_EQ(gen, in.dirty_gen);	/* the later change goes up with it */
	CHECK_OK(commit_due(&f, a, false, false, &early));
	CHECK_INT_EQ(get(&f, a).sync, META_S_CLEAN);
	meta_clock_set(t0 + 10 * SEC);

	/* a change during the upload, not followed by a request: stays dirty, no longer due */
	CHECK_OK(ns_write_done(f.ns, a, 0, 10, &in));
	CHECK_OK(ns_commit_request(f.ns, a, NULL));
	meta_clock_set(t0 + 10 * SEC + NS_COMMIT_QUIET_NS);
	CHECK_OK(commit_due(&f, a, true, false, &early));
	in = get(&f, a);
	CHECK_INT_EQ(in.sync, META_S_DIRTY);
	CHECK_U64_EQ(in.due_gen, 0);
	{
		char want[32];	/* the upload's ETag is the new base */

		snprintf(want, sizeof want, "etag-%llu", (unsigned long long)(in.dirty_gen - 1));
		CHECK_STR_EQ(in.etag, want);
	}
	meta_clock_set(t0 + 20 * SEC);
	CHECK_INT_EQ(prepare(&f, a, HOUR, NULL, NULL), EAGAIN);

	/* ... followed by a request (the writer closed again): due again at once */
	CHECK_OK(ns_commit_request(f.ns, a, NULL));
	CHECK_OK(commit_due(&f, a, true, true, &early));
	CHECK(early);
	in = get(&f, a);
	CHECK_INT_EQ(in.sync, META_S_DIRTY);
	CHECK_U64_EQ(in.due_gen, in.dirty_gen);
	meta_clock_set(t0 + 20 * SEC + NS_COMMIT_QUIET_NS);
	CHECK_OK(prepare(&f, a, HOUR, &early, NULL));
	CHECK(early);

	/* the request survives closing and reopening the store (a daemon restart) */
	fx_close(&f);
	fx_open_at(&f, dir);
	in = get(&f, a);
	CHECK_U64_EQ(in.due_gen, in.dirty_gen);
	CHECK_OK(commit_due(&f, a, false, false, &early));
	CHECK(early);
	in = get(&f, a);
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK_U64_EQ(in.due_gen, 0);

	/* a file in conflict is never marked */
	CHECK_OK(ns_write_done(f.ns, a, 0, 10, &in));
	{
		struct meta_txn *t;

		CHECK_OK(meta_txn_begin(f.me, true, &t));
		CHECK_OK(meta_inode_get(t, a, &in));
		in.sync = META_S_CONFLICT;
		CHECK_OK(meta_inode_put(t, &in));
		CHECK_OK(meta_txn_commit(t));
	}
	CHECK_OK(ns_commit_request(f.ns, a, &marked));
	CHECK(!marked);
	CHECK_U64_EQ(get(&f, a).due_gen, 0);
	fx_close(&f);
	meta_clock_set(0);
}

int main(void)
{
	CHECK_RUN(test_pending_and_files);
	CHECK_RUN(test_removed_dir_stays_removed);
	CHECK_RUN(test_renamed_out_dir_stays_removed);
	CHECK_RUN(test_uploading_dir_stays_removed);
	CHECK_RUN(test_data_evicting);
	CHECK_RUN(test_commit_on_close);
	return check_done();
}
