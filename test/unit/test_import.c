/*
 * test_import.c — directory import against the real RGW (settings in $RGW_TEST_DIR/env):
 * a first listing interrupted after two pages resumes where it stopped (one LIST for the
 * rest, nothing removed by the partial view), the next full listing converges, and a
 * listing over Import_Warn_Objects raises one import_warning event per directory.
 * Works under test-import/<pid>/ and deletes what it created.
 */
#include "check.h"
#include "base/err.h"
#include "engine/export_ctx.h"
#include "engine/hydrate.h"
#include "engine/import.h"
#include "store/journal.h"
#include "ns/ns_sync.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_OBJ 2500

static struct check_rgw rgw;
static char prefix[128];

static struct conf *conf_make(const char *state, unsigned warn)
{
	char text[8192], err[4096];
	struct conf *c = NULL;
	int rc;

	snprintf(text, sizeof text,
		 "EXPORT { Export_Id = 1; Path = \"/t\"; Pseudo = \"/t\";\n"
		 "  FSAL { Name = S3FILES; Bucket = \"%s\"; Prefix = \"%s\"; Endpoint = \"%s\";\n"
		 "    Region = \"%s\"; Access_Key_Id = \"%s\"; Secret_Access_Key = \"%s\";\n"
		 "    State_Dir = \"%s\"; Import_Warn_Objects = %u; } }\n",
		 rgw.bucket, prefix, rgw.endpoint, rgw.region, rgw.id, rgw.secret, state, warn);
	rc = conf_load_string("test_import.conf", text, &c, err, sizeof err);
	CHECK_MSG(rc == 0, "config: %s", err);
	return c;
}

static uint64_t look(struct export_ctx *x, uint64_t dir, const char *name)
{
	struct meta_inode in;

	return ns_lookup(x->ns, dir, name, strlen(name), &in) ? 0 : in.ino;
}

static size_t count_entries(struct export_ctx *x, uint64_t dir)
{
	struct ns_dirent *ents = malloc(256 * sizeof *ents);
	uint64_t after = 0;
	size_t total = 0, n;
	bool eof = false;

	while (!eof) {
		CHECK_OK(ns_readdir(x->ns, dir, after, ents, 256, &n, &eof));
		total += n;
		if (n)
			after = ents[n - 1].cookie;
	}
	free(ents);
	return total;
}

struct kind_count {
	const char *reason;
	unsigned n;
};

static int count_warn(void *arg, uint64_t seq, const char *kind, const char *line, size_t len)
{
	struct kind_count *k = arg;

	(void)seq;
	(void)len;
	if (strcmp(kind, JOURNAL_IMPORT_WARN) == 0 && strstr(line, k->reason))
		k->n++;
	return 0;
}

static unsigned warnings(struct export_ctx *x, const char *reason)
{
	struct kind_count k = { reason, 0 };

	(void)journal_read(x->cfg->journal_path, 0, count_warn, &k);
	return k.n;
}

static void put_objects(struct export_ctx *x)
{
	char key[256];

	for (int base = 0; base < N_OBJ; base += 500) {
		struct s3_batch *b;
		int rcs[500];

		CHECK_OK(s3_batch_open(x->s3, &b));
		for (int i = 0; i < 500; i++) {
			snprintf(key, sizeof key, "%sbig/k%05d", prefix, base + i);
			CHECK_OK(s3_batch_put_buf(b, key, "x", 1, NULL, NULL, &rcs[i]));
		}
		CHECK_OK(s3_batch_wait(b));
	}
	snprintf(key, sizeof key, "%sbig/sub/x", prefix);
	CHECK_OK(s3_object_put_buf(x->s3, key, "y", 1, NULL, NULL));
}

static void delete_objects(struct export_ctx *x)
{
	const char **keys = calloc(N_OBJ + 1, sizeof *keys);
	int *rcs = calloc(N_OBJ + 1, sizeof *rcs);
	char (*buf)[256] = calloc(N_OBJ + 1, sizeof *buf);

	for (int i = 0; i < N_OBJ; i++) {
		snprintf(buf[i], sizeof buf[i], "%sbig/k%05d", prefix, i);
		keys[i] = buf[i];
	}
	snprintf(buf[N_OBJ], sizeof buf[N_OBJ], "%sbig/sub/x", prefix);
	keys[N_OBJ] = buf[N_OBJ];
	CHECK_OK(s3_objects_delete(x->s3, keys, N_OBJ + 1, rcs));
	free(keys);
	free(rcs);
	free(buf);
}

/* Page function of the list-ahead check. The second LIST is held back AHEAD_DELAY_MS
 * (fault rule): with the next page listed while this one is applied, the function runs
 * for page 1 while that LIST waits, long before the delay is over; a serial listing
 * calls it only after the second LIST came back. */
#define AHEAD_DELAY_MS 4000

struct ahead_check {
	struct export_ctx *x;
	struct import_stats *st;
	unsigned calls;
	int64_t start_ns, first_ns;
	size_t entries_at_first;
	uint64_t dir;
};

static int ahead_page(void *arg)
{
	struct ahead_check *a = arg;

	a->calls++;
	CHECK_U64_EQ(a->st->pages, a->calls);	/* called once per page, after it */
	if (a->calls == 1) {
		a->first_ns = meta_now_ns();
		a->entries_at_first = count_entries(a->x, a->dir);
	}
	return 0;
}

/* The first listing of a cold directory as a job (import.h), on a fresh state dir over
 * the objects of test_resume_and_warn: a caller has page 1's entries while the second
 * LIST is still held back (the listing goes on without it); everyone who asks meanwhile
 * joins the same job (one listing: three LISTs in all); import_dir_ensure returns when it
 * is all in; after that there is no job to join. Closing the context waits for a job
 * still running (AddressSanitizer sees a use after free otherwise). */
static void first_listing_jobs(struct conf *c0)
{
	char state[4096];
	struct conf *c;
	struct export_ctx *x;
	struct import_job *j1, *j2, *j3;
	struct s3_fault_rule hold = { .op = S3_OP_LIST, .nth = 2, .count = 1,
				      .action = S3_FAULT_DELAY, .delay_ms = AHEAD_DELAY_MS };
	uint64_t big, pages = 0;
	int64_t t0, t1;
	unsigned fired;
	bool done = false;
	int rc = 0;

	(void)c0;
	CHECK(realpath(check_tmpdir(), state) != NULL);
	c = conf_make(state, 100000);
	CHECK_OK(export_ctx_open(&c->exports[0], 0, &x));
	CHECK(x->jobs != NULL);
	CHECK_OK(import_dir(x, META_ROOT_INO, NULL));
	big = look(x, META_ROOT_INO, "big");
	CHECK(big != 0);
	CHECK_OK(s3_fault_set(x->s3, &hold, 1));
	t0 = meta_now_ns();
	CHECK_OK(import_job_get(x, big, &j1));
	CHECK(j1 != NULL);
	import_job_wait(j1, &pages, &done, &rc);
	t1 = meta_now_ns();
	CHECK_OK(rc);
	CHECK(!done);
	CHECK_U64_EQ(pages, 1);
	CHECK_MSG(t1 - t0 < (int64_t)AHEAD_DELAY_MS * 1000000 * 3 / 4,
		  "page 1 reached its reader %.0f ms after the start: it waited for the rest",
		  (t1 - t0) / 1e6);
	CHECK_U64_EQ(count_entries(x, big), 1000);
	CHECK_OK(import_job_get(x, big, &j2));
	CHECK(j2 == j1);			/* one listing per directory */
	CHECK_OK(import_dir_ensure(x, big));	/* waits for that one */
	CHECK_U64_EQ(count_entries(x, big), N_OBJ);	/* k00005 deleted, + sub/ */
	s3_fault_fired(x->s3, &fired, 1);
	CHECK_INT_EQ(fired, 1);
	import_job_wait(j1, &pages, &done, &rc);
	CHECK(done);
	CHECK_OK(rc);
	CHECK_U64_EQ(pages, 3);
	CHECK_OK(import_job_get(x, big, &j3));
	CHECK(j3 == NULL);			/* listed: nothing to join */
	import_job_put(j1);
	import_job_put(j2);
	export_ctx_close(x);

	/* A job still listing when its context closes. */
	CHECK(realpath(check_tmpdir(), state) != NULL);
	conf_free(c);
	c = conf_make(state, 100000);
	CHECK_OK(export_ctx_open(&c->exports[0], 0, &x));
	CHECK_OK(import_dir(x, META_ROOT_INO, NULL));
	big = look(x, META_ROOT_INO, "big");
	hold.nth = 1;
	hold.delay_ms = 500;
	CHECK_OK(s3_fault_set(x->s3, &hold, 1));
	CHECK_OK(import_job_get(x, big, &j1));
	CHECK(j1 != NULL);
	import_job_put(j1);
	export_ctx_close(x);
	conf_free(c);
}

static void test_resume_and_warn(void)
{
	char state[4096];
	struct conf *c;

	CHECK(realpath(check_tmpdir(), state) != NULL);
	c = conf_make(state, 1500);
	struct export_ctx *x;
	struct import_stats st = { 0 };
	struct meta_inode in;
	unsigned fired;
	uint64_t big;
	char key[256];

	CHECK_OK(export_ctx_open(&c->exports[0], 0, &x));
	put_objects(x);
	CHECK_OK(import_dir(x, META_ROOT_INO, NULL));
	big = look(x, META_ROOT_INO, "big");
	CHECK(big != 0);

	/* The third LIST of "big" is refused (403: not retried): two pages are in. */
	struct s3_fault_rule deny = { .op = S3_OP_LIST, .nth = 3, .action = S3_FAULT_STATUS,
				      .status = 403 };

	CHECK_OK(s3_fault_set(x->s3, &deny, 1));
	CHECK_INT_EQ(import_dir(x, big, &st), EACCES);
	CHECK_U64_EQ(st.pages, 2);
	CHECK_U64_EQ(count_entries(x, big), 2000);
	CHECK_OK(ns_getattr(x->ns, big, &in));
	CHECK(!(in.flags & META_F_IMPORTED));

	/* Another client deletes an object the first pages showed. */
	snprintf(key, sizeof key, "%sbig/k00005", prefix);
	CHECK_OK(s3_object_delete(x->s3, key));

	/* A new process resumes: one LIST for the rest, nothing removed on a partial view. */
	export_ctx_close(x);
	CHECK_OK(export_ctx_open(&c->exports[0], 0, &x));
	struct s3_fault_rule count = { .op = S3_OP_LIST, .action = S3_FAULT_DELAY, .delay_ms = 0 };

	CHECK_OK(s3_fault_set(x->s3, &count, 1));
	memset(&st, 0, sizeof st);
	CHECK_OK(import_dir(x, big, &st));
	s3_fault_fired(x->s3, &fired, 1);
	CHECK_INT_EQ(fired, 1);
	CHECK_U64_EQ(st.removed, 0);
	CHECK_U64_EQ(count_entries(x, big), N_OBJ + 1);	/* + sub/ */
	CHECK(look(x, big, "k00005") != 0);
	CHECK(look(x, big, "k02499") != 0);
	CHECK(look(x, big, "sub") != 0);
	CHECK_OK(ns_getattr(x->ns, big, &in));
	CHECK(in.flags & META_F_IMPORTED);
	CHECK_INT_EQ(warnings(x, "large_directory"), 1);
	CHECK_INT_EQ(warnings(x, "large_file_view"), 1);

	/* The next (full) listing converges; the warnings are not repeated. */
	CHECK_OK(s3_fault_set(x->s3, &count, 1));
	memset(&st, 0, sizeof st);
	CHECK_OK(import_dir(x, big, &st));
	s3_fault_fired(x->s3, &fired, 1);
	CHECK_INT_EQ(fired, 3);
	CHECK_U64_EQ(st.removed, 1);
	CHECK(look(x, big, "k00005") == 0);
	CHECK_INT_EQ(warnings(x, "large_directory"), 1);
	CHECK_INT_EQ(warnings(x, "large_file_view"), 1);

	/* The LIST of the next page is sent while a page is applied (and its page function
	 * runs), and the function sees the page's entries. */
	struct ahead_check ac = { .x = x, .st = &st, .dir = big };
	struct s3_fault_rule hold = { .op = S3_OP_LIST, .nth = 2, .count = 1,
				      .action = S3_FAULT_DELAY, .delay_ms = AHEAD_DELAY_MS };

	CHECK_OK(s3_fault_set(x->s3, &hold, 1));
	memset(&st, 0, sizeof st);
	ac.start_ns = meta_now_ns();
	CHECK_OK(import_dir_pages(x, big, &st, ahead_page, &ac));
	s3_fault_fired(x->s3, &fired, 1);
	CHECK_INT_EQ(fired, 1);
	CHECK_INT_EQ(ac.calls, 3);
	CHECK_U64_EQ(st.pages, 3);
	CHECK_U64_EQ(ac.entries_at_first, N_OBJ);
	CHECK_MSG(ac.first_ns - ac.start_ns < (int64_t)AHEAD_DELAY_MS * 1000000 * 3 / 4,
		  "page 1 handed over %.0f ms after the start: the second LIST was not in "
		  "flight meanwhile", (ac.first_ns - ac.start_ns) / 1e6);

	/* An interrupted re-list of an imported directory keeps no cursor: it starts over. */
	CHECK_OK(s3_fault_set(x->s3, &deny, 1));
	CHECK_INT_EQ(import_dir(x, big, NULL), EACCES);
	CHECK_OK(s3_fault_set(x->s3, &count, 1));
	CHECK_OK(import_dir(x, big, NULL));
	s3_fault_fired(x->s3, &fired, 1);
	CHECK_INT_EQ(fired, 3);
	CHECK_OK(s3_fault_set(x->s3, NULL, 0));
	first_listing_jobs(c);
	delete_objects(x);
	export_ctx_close(x);
	conf_free(c);
}

static unsigned fired_of(struct export_ctx *x, size_t n, unsigned i)
{
	unsigned f[4] = { 0 };

	s3_fault_fired(x->s3, f, n);
	return f[i];
}

/* A lookup in a directory never listed asks for the name alone (one LIST of "name/",
 * one HEAD of "name"), finds files, directories (by prefix or marker) and s3fs-style
 * symlinks, looks again after a poll interval (and forgets a name S3 dropped), and the
 * directory stays unlisted until it is listed whole. */
static void test_lookup_probe(void)
{
	char state[4096], key[256];
	struct conf *c;
	struct export_ctx *x;
	struct meta_inode in;
	struct s3_meta_pair lmeta = { "mode", "41471" };	/* S_IFLNK | 0777 (s3fs) */
	struct s3_put_opts lopts = { .n_meta = 1, .meta = &lmeta };
	struct s3_fault_rule count[2] = {
		{ .op = S3_OP_LIST, .action = S3_FAULT_DELAY, .delay_ms = 0 },
		{ .op = S3_OP_HEAD, .action = S3_FAULT_DELAY, .delay_ms = 0 },
	};
	uint64_t lk, d, f, sub, m, ln;
	char target[64];
	size_t tlen;

	CHECK(realpath(check_tmpdir(), state) != NULL);
	c = conf_make(state, 1000000);
	CHECK_OK(export_ctx_open(&c->exports[0], 0, &x));
	const char *objs[] = { "lk/d/f", "lk/d/sub/x", "lk/d/m/", "lk/d/zz" };

	for (size_t i = 0; i < 4; i++) {
		snprintf(key, sizeof key, "%s%s", prefix, objs[i]);
		CHECK_OK(s3_object_put_buf(x->s3, key, objs[i][strlen(objs[i]) - 1] == '/' ? "" :
					   "data", objs[i][strlen(objs[i]) - 1] == '/' ? 0 : 4,
					   NULL, NULL));
	}
	snprintf(key, sizeof key, "%slk/d/ln", prefix);
	CHECK_OK(s3_object_put_buf(x->s3, key, "f", 1, &lopts, NULL));

	CHECK_OK(import_dir(x, META_ROOT_INO, NULL));
	lk = look(x, META_ROOT_INO, "lk");
	CHECK(lk != 0);
	CHECK_OK(s3_fault_set(x->s3, count, 2));
	CHECK_OK(import_lookup(x, lk, "d", 1));
	d = look(x, lk, "d");
	CHECK(d != 0);
	CHECK_OK(import_lookup(x, d, "f", 1));
	f = look(x, d, "f");
	CHECK(f != 0);
	CHECK_INT_EQ(fired_of(x, 2, 0), 2);	/* one LIST per lookup, never a listing */
	CHECK_INT_EQ(fired_of(x, 2, 1), 1);	/* "d" was a directory: no HEAD for it */
	CHECK_OK(ns_getattr(x->ns, f, &in));
	CHECK_U64_EQ(in.size, 4);
	CHECK(in.etag[0] != '\0');
	CHECK_U64_EQ(count_entries(x, d), 1);
	CHECK_OK(ns_getattr(x->ns, d, &in));
	CHECK(!(in.flags & META_F_IMPORTED));
	CHECK_OK(ns_getattr(x->ns, lk, &in));
	CHECK(!(in.flags & META_F_IMPORTED));

	CHECK_OK(import_lookup(x, d, "sub", 3));
	sub = look(x, d, "sub");
	CHECK_OK(ns_getattr(x->ns, sub, &in));
	CHECK_INT_EQ(in.type, META_T_DIR);
	CHECK_OK(import_lookup(x, d, "m", 1));
	m = look(x, d, "m");
	CHECK_OK(ns_getattr(x->ns, m, &in));
	CHECK_INT_EQ(in.type, META_T_DIR);
	CHECK(in.flags & META_F_MARKER);
	CHECK_OK(import_lookup(x, d, "nope", 4));
	CHECK(look(x, d, "nope") == 0);

	/* A symlink written by s3fs: the target is fetched once, then kept. */
	CHECK_OK(import_lookup(x, d, "ln", 2));
	ln = look(x, d, "ln");
	CHECK_OK(ns_getattr(x->ns, ln, &in));
	CHECK_INT_EQ(in.type, META_T_LNK);
	struct s3_fault_rule gets = { .op = S3_OP_GET, .action = S3_FAULT_DELAY, .delay_ms = 0 };

	CHECK_OK(s3_fault_set(x->s3, &gets, 1));
	CHECK_OK(hydrate_symlink(x, ln, target, sizeof target, &tlen));
	CHECK_STR_EQ(target, "f");
	CHECK_U64_EQ(tlen, 1);
	CHECK_OK(hydrate_symlink(x, ln, target, sizeof target, &tlen));
	CHECK_STR_EQ(target, "f");
	CHECK_INT_EQ(fired_of(x, 1, 0), 1);	/* fetched once, then from the store */

	/* Within a poll interval a known name costs nothing; after one, S3 is asked again
	 * and a name it dropped is forgotten. */
	snprintf(key, sizeof key, "%slk/d/f", prefix);
	CHECK_OK(s3_object_delete(x->s3, key));
	CHECK_OK(s3_fault_set(x->s3, count, 2));
	CHECK_OK(import_lookup(x, d, "f", 1));
	CHECK_INT_EQ(fired_of(x, 2, 0) + fired_of(x, 2, 1), 0);
	CHECK(look(x, d, "f") == f);
	meta_clock_set(meta_now_ns() + 3600LL * 1000000000LL);
	CHECK_OK(import_lookup(x, d, "f", 1));
	meta_clock_set(0);
	CHECK_INT_EQ(fired_of(x, 2, 0), 1);
	CHECK_INT_EQ(fired_of(x, 2, 1), 1);
	CHECK(look(x, d, "f") == 0);

	/* Listed whole by readdir: now imported, every name there. */
	CHECK_OK(import_dir(x, d, NULL));
	CHECK_OK(ns_getattr(x->ns, d, &in));
	CHECK(in.flags & META_F_IMPORTED);
	CHECK_U64_EQ(count_entries(x, d), 4);	/* sub, m, ln, zz */

	CHECK_OK(s3_fault_set(x->s3, NULL, 0));
	for (size_t i = 0; i < 4; i++) {
		snprintf(key, sizeof key, "%s%s", prefix, objs[i]);
		(void)s3_object_delete(x->s3, key);
	}
	snprintf(key, sizeof key, "%slk/d/ln", prefix);
	(void)s3_object_delete(x->s3, key);
	export_ctx_close(x);
	conf_free(c);
}

/* A listing queues its files: small ones get data and metadata in the background (one
 * GET each), larger ones their metadata (one HEAD each); the first listing itself makes
 * no request per file. */
static void test_prefetch(void)
{
	char state[4096], key[256];
	struct conf *c;
	struct export_ctx *x;
	struct meta_inode in;
	struct import_stats st = { 0 };
	struct s3_meta_pair meta[2] = { { "mode", "33184" }, { "uid", "1234" } };	/* 0100640 */
	struct s3_put_opts opts = { .n_meta = 2, .meta = meta };
	struct s3_fault_rule count[3] = {
		{ .op = S3_OP_GET, .action = S3_FAULT_DELAY, .delay_ms = 0 },
		{ .op = S3_OP_HEAD, .action = S3_FAULT_DELAY, .delay_ms = 0 },
		{ .op = S3_OP_LIST, .action = S3_FAULT_DELAY, .delay_ms = 0 },
	};
	char *big = calloc(1, 200000);
	uint64_t pf[8], d, small, large;
	size_t n;

	CHECK(realpath(check_tmpdir(), state) != NULL);
	c = conf_make(state, 1000000);
	CHECK_OK(export_ctx_open(&c->exports[0], 0, &x));
	snprintf(key, sizeof key, "%spf/small", prefix);
	CHECK_OK(s3_object_put_buf(x->s3, key, "tiny", 4, &opts, NULL));
	snprintf(key, sizeof key, "%spf/large", prefix);
	CHECK_OK(s3_object_put_buf(x->s3, key, big, 200000, &opts, NULL));	/* > 128 KiB */
	CHECK_OK(import_dir(x, META_ROOT_INO, NULL));
	d = look(x, META_ROOT_INO, "pf");
	CHECK_OK(s3_fault_set(x->s3, count, 3));
	CHECK_OK(import_dir(x, d, NULL));
	CHECK_INT_EQ(fired_of(x, 3, 0) + fired_of(x, 3, 1), 0);	/* the listing alone */
	small = look(x, d, "small");
	large = look(x, d, "large");
	CHECK_OK(ns_getattr(x->ns, small, &in));
	CHECK_INT_EQ(in.data, META_D_NONE);
	CHECK_INT_EQ(in.mode, 0644);		/* defaults until the metadata is fetched */
	CHECK(!(in.flags & META_F_ATTRS));
	CHECK_OK(ns_prefetch_peek(x->ns, pf, 8, &n));
	CHECK_U64_EQ(n, 2);

	/* While a first listing puts pages in (here: a cursor, as its second page would
	 * leave), the queue waits: the client waiting for that listing comes first. */
	CHECK_OK(ns_import_cursor_put(x->ns, 999999, "cursor", 6));
	CHECK_OK(import_prefetch(x, 100, &st));
	CHECK_U64_EQ(st.hydrated, 0);
	CHECK_INT_EQ(fired_of(x, 3, 0) + fired_of(x, 3, 1), 0);
	CHECK_OK(ns_prefetch_peek(x->ns, pf, 8, &n));
	CHECK_U64_EQ(n, 2);
	CHECK_OK(ns_import_cursor_del(x->ns, 999999));
	usleep(1100 * 1000);	/* IMPORT_PREFETCH_YIELD_NS: a listing that stopped */

	CHECK_OK(import_prefetch(x, 100, &st));
	CHECK_U64_EQ(st.hydrated, 1);
	CHECK_INT_EQ(fired_of(x, 3, 0), 1);	/* GET of the small file */
	CHECK_INT_EQ(fired_of(x, 3, 1), 1);	/* HEAD of the large one */
	CHECK_OK(ns_getattr(x->ns, small, &in));
	CHECK_INT_EQ(in.data, META_D_FULL);
	CHECK_INT_EQ(in.mode, 0640);
	CHECK_INT_EQ(in.uid, 1234);
	CHECK(in.flags & META_F_ATTRS);
	CHECK_OK(ns_getattr(x->ns, large, &in));
	CHECK_INT_EQ(in.data, META_D_NONE);	/* large: data on first read */
	CHECK_INT_EQ(in.mode, 0640);
	CHECK(in.flags & META_F_ATTRS);
	CHECK_OK(ns_prefetch_peek(x->ns, pf, 8, &n));
	CHECK_U64_EQ(n, 0);

	/* A re-list that finds nothing new queues nothing; a changed object is queued again. */
	CHECK_OK(import_dir(x, d, NULL));
	CHECK_OK(ns_prefetch_peek(x->ns, pf, 8, &n));
	CHECK_U64_EQ(n, 0);
	snprintf(key, sizeof key, "%spf/small", prefix);
	CHECK_OK(s3_object_put_buf(x->s3, key, "tiny2", 5, &opts, NULL));
	CHECK_OK(import_dir(x, d, NULL));
	CHECK_OK(ns_prefetch_peek(x->ns, pf, 8, &n));
	CHECK_U64_EQ(n, 1);
	CHECK_U64_EQ(pf[0], small);
	/* S3 unreachable: the file stays queued and the error says why. */
	struct s3_fault_rule down = { .op = S3_OP_GET, .action = S3_FAULT_NET };

	CHECK_OK(s3_fault_set(x->s3, &down, 1));
	CHECK(import_prefetch(x, 100, NULL) != 0);
	CHECK_OK(ns_prefetch_peek(x->ns, pf, 8, &n));
	CHECK_U64_EQ(n, 1);
	CHECK_OK(s3_fault_set(x->s3, NULL, 0));
	CHECK_OK(import_prefetch(x, 100, NULL));
	CHECK_OK(ns_getattr(x->ns, small, &in));
	CHECK_U64_EQ(in.size, 5);
	CHECK_INT_EQ(in.data, META_D_FULL);

	(void)s3_object_delete(x->s3, key);
	snprintf(key, sizeof key, "%spf/large", prefix);
	(void)s3_object_delete(x->s3, key);
	free(big);
	export_ctx_close(x);
	conf_free(c);
}

int main(void)
{
	if (check_rgw_load(&rgw))
		return check_done();
	snprintf(prefix, sizeof prefix, "test-import/%d/", (int)getpid());
	CHECK_RUN(test_resume_and_warn);
	CHECK_RUN(test_lookup_probe);
	CHECK_RUN(test_prefetch);
	return check_done();
}
