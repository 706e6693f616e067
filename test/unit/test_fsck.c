/*
 * test_fsck.c — the consistency checker (core/engine/fsck.h) on scratch exports against the real
 * RGW ($RGW_TEST_DIR/env).
 *
 * Each case builds a tree through the functions the gateway runs (ns_*, fio_*, import_*,
 * hydrate through fio_read), checks that fsck finds nothing beyond legal states, then
 * damages the state as a bug or a crash would (records edited in a write transaction,
 * files of the data tier added, removed or cut), and checks:
 *  - the exact kind and class of every finding it expects, on the right inode;
 *  - that a read-only run changes nothing, that --repair fixes what fsck.h says it fixes
 *    (a second run is clean), moves data files aside into the quarantine (same bytes,
 *    listed in the MANIFEST) instead of deleting them, skips namespace repairs when
 *    online, and leaves the findings it calls manual untouched (the records compared);
 *  - that the files still read back right afterwards;
 *  - that a read-only run while other threads write, resize, create, remove, evict and
 *    fetch through core/fio reports no error, loss or powercut finding.
 */
#include "check.h"
#include "store/data.h"
#include "base/err.h"
#include "engine/export_ctx.h"
#include "engine/fio.h"
#include "engine/fsck.h"
#include "engine/import.h"
#include "store/instlock.h"
#include "ns/ns_sync.h"
#include "base/tp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct check_rgw rgw;
static char base_prefix[128];
static int fx_seq;

/* ---- fixture ---- */

#define FX_KEYS 16

struct fx {
	char state[512];
	char prefix[192];
	struct conf *conf;
	struct export_ctx *x;
	char keys[FX_KEYS][512];
	int nkeys;
};

static void fx_close(struct fx *f);

static void fx_open(struct fx *f)
{
	char text[8192], err[4096], rp[PATH_MAX];
	int rc;

	if (f->x)
		fx_close(f);	/* left open by a case that failed */
	memset(f, 0, sizeof *f);
	CHECK(realpath(check_tmpdir(), rp) != NULL);
	CHECK(strlen(rp) < 400);
	snprintf(f->state, sizeof f->state, "%.400s", rp);
	snprintf(f->prefix, sizeof f->prefix, "%s%d/", base_prefix, ++fx_seq);
	snprintf(text, sizeof text,
		 "EXPORT { Export_Id = 1; Path = \"/t\"; Pseudo = \"/t\";\n"
		 "  FSAL { Name = S3FILES; Bucket = \"%s\"; Prefix = \"%s\"; Endpoint = \"%s\";\n"
		 "    Region = \"%s\"; Access_Key_Id = \"%s\"; Secret_Access_Key = \"%s\";\n"
		 "    State_Dir = \"%s\"; } }\n",
		 rgw.bucket, f->prefix, rgw.endpoint, rgw.region, rgw.id, rgw.secret, f->state);
	rc = conf_load_string("test_fsck.conf", text, &f->conf, err, sizeof err);
	CHECK_MSG(rc == 0, "config: %s", err);
	CHECK_OK(export_ctx_open(&f->conf->exports[0], 0, &f->x));
}

static void fx_close(struct fx *f)
{
	for (int i = 0; i < f->nkeys; i++)
		(void)s3_object_delete(f->x->s3, f->keys[i]);
	export_ctx_close(f->x);
	conf_free(f->conf);
	memset(f, 0, sizeof *f);
}

static void put(struct fx *f, const char *rel, const void *data, size_t len)
{
	char key[512];

	snprintf(key, sizeof key, "%s%s", f->prefix, rel);
	CHECK_OK(s3_object_put_buf(f->x->s3, key, data, len, NULL, NULL));
	CHECK(f->nkeys < FX_KEYS);
	snprintf(f->keys[f->nkeys++], sizeof f->keys[0], "%s", key);
}

static uint64_t look(struct fx *f, uint64_t dir, const char *name)
{
	struct meta_inode in;

	CHECK_OK(ns_lookup(f->x->ns, dir, name, strlen(name), &in));
	return in.ino;
}

static struct meta_inode rec(struct fx *f, uint64_t ino)
{
	struct meta_inode in;

	CHECK_OK(ns_getattr(f->x->ns, ino, &in));
	return in;
}

static uint64_t mk(struct fx *f, uint64_t dir, const char *name, enum meta_type type)
{
	struct ns_new nw = { .type = type, .mode = type == META_T_DIR ? 0755 : 0644 };
	struct meta_inode in;

	if (type == META_T_LNK) {
		nw.mode = 0777;
		nw.target = "target/of/the/link";
		nw.target_len = strlen(nw.target);
	}
	CHECK_OK(ns_create(f->x->ns, dir, name, strlen(name), &nw, &in, NULL));
	return in.ino;
}

static void client_write(struct fx *f, uint64_t ino, uint64_t off, const void *data, size_t len)
{
	struct iovec iov = { (void *)data, len };
	struct fio_write w = { .off = off, .iov = &iov, .iovcnt = 1, .stable = true };
	size_t written = 0;

	CHECK_OK(fio_write(f->x, ino, &w, &written, NULL));
	CHECK_U64_EQ(written, len);
}

/* The whole file as a client reads it (fetching what is not local). */
static void expect_content(struct fx *f, uint64_t ino, const void *want, size_t len)
{
	struct meta_inode in = rec(f, ino);
	char *buf = malloc(len + 1);
	struct iovec iov = { buf, len + 1 };
	size_t got = 0;
	bool eof = false;

	CHECK(buf != NULL);
	CHECK_U64_EQ(in.size, len);
	CHECK_OK(fio_read(f->x, ino, 0, &iov, 1, &got, &eof));
	CHECK_U64_EQ(got, len);
	CHECK_MSG(memcmp(buf, want, len) == 0, "inode %" PRIu64 " reads back other bytes", ino);
	free(buf);
}

/* A path of the data tier. */
static void tier_path(struct fx *f, char *out, size_t cap, const char *rel)
{
	snprintf(out, cap, "%s/%s", f->x->cfg->data_dir, rel);
}

static void data_path(struct fx *f, char *out, size_t cap, uint64_t ino)
{
	snprintf(out, cap, "%s/%02x/%016" PRIx64, f->x->cfg->data_dir, (unsigned)(ino & 0xff), ino);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK_MSG(fd >= 0, "open %s: %s", path, strerror(errno));
	CHECK(write(fd, data, len) == (ssize_t)len);
	close(fd);
}

/* The whole content of a file, or NULL (*len its size). */
static char *slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf && read(fd, buf, (size_t)st.st_size) != st.st_size) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	close(fd);
	return buf;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* ---- record edits (a write transaction around a callback) ---- */

typedef int (*edit_fn)(struct meta_txn *t, uint64_t ino, void *arg);

struct edit {
	edit_fn fn;
	uint64_t ino;
	void *arg;
};

static int edit_txn(struct meta_txn *t, void *arg)
{
	struct edit *e = arg;

	return e->fn(t, e->ino, e->arg);
}

static void edit(struct fx *f, uint64_t ino, edit_fn fn, void *arg)
{
	struct edit e = { fn, ino, arg };

	CHECK_OK(meta_write(ns_store(f->x->ns), edit_txn, &e));
}

static int ed_dirty_del(struct meta_txn *t, uint64_t ino, void *arg)
{
	(void)arg;
	return meta_dirty_del(t, ino);
}

static int ed_dirty_add(struct meta_txn *t, uint64_t ino, void *arg)
{
	(void)arg;
	return meta_dirty_add(t, ino);
}

static int ed_flags_or(struct meta_txn *t, uint64_t ino, void *arg)
{
	struct meta_inode in;
	int rc = meta_inode_get(t, ino, &in);

	if (rc)
		return rc;
	in.flags |= *(uint32_t *)arg;
	return meta_inode_put(t, &in);
}

static int ed_nlink(struct meta_txn *t, uint64_t ino, void *arg)
{
	struct meta_inode in;
	int rc = meta_inode_get(t, ino, &in);

	if (rc)
		return rc;
	in.nlink = *(uint32_t *)arg;
	return meta_inode_put(t, &in);
}

static int ed_next_cookie(struct meta_txn *t, uint64_t ino, void *arg)
{
	struct meta_inode in;
	int rc = meta_inode_get(t, ino, &in);

	(void)arg;
	if (rc)
		return rc;
	in.next_cookie = META_COOKIE_FIRST;
	return meta_inode_put(t, &in);
}

static int ed_data(struct meta_txn *t, uint64_t ino, void *arg)
{
	struct meta_inode in;
	int rc = meta_inode_get(t, ino, &in);

	if (rc)
		return rc;
	in.data = (uint8_t)*(int *)arg;
	return meta_inode_put(t, &in);
}

/* Present ranges: arg is {start, end} (start == end: remove the row). */
static int ed_extents(struct meta_txn *t, uint64_t ino, void *arg)
{
	const uint64_t *r = arg;
	struct rangeset rs = RANGESET_INIT;
	int rc;

	if (r[0] == r[1])
		return meta_extents_put(t, ino, NULL);
	rc = rangeset_add(&rs, r[0], r[1]);
	if (rc == 0)
		rc = meta_extents_put(t, ino, &rs);
	rangeset_free(&rs);
	return rc;
}

static int ed_inode_del(struct meta_txn *t, uint64_t ino, void *arg)
{
	(void)arg;
	return meta_inode_del(t, ino);
}

static int ed_symlink_del(struct meta_txn *t, uint64_t ino, void *arg)
{
	(void)arg;
	return meta_symlink_del(t, ino);
}

static int ed_dirent_del(struct meta_txn *t, uint64_t parent, void *arg)
{
	return meta_dirent_del(t, parent, arg, strlen(arg));
}

struct tbl_has {
	enum meta_itable table;
	uint64_t ino;
	bool has;
};

static int tbl_has_txn(struct meta_txn *t, void *arg)
{
	struct tbl_has *h = arg;

	return meta_itable_has(t, h->table, h->ino, &h->has);
}

static bool in_table(struct fx *f, enum meta_itable table, uint64_t ino)
{
	struct tbl_has h = { table, ino, false };

	CHECK_OK(meta_read(ns_store(f->x->ns), tbl_has_txn, &h));
	return h.has;
}

/* ---- running fsck and looking at what it found ---- */

#define MAXF 256

struct found {
	enum fsck_class cls;
	char kind[32];
	uint64_t ino;
	enum fsck_action action;
	int rc;
	char path[256];
};

static struct found fnd[MAXF];
static int nfnd;
static struct fsck_stats last;

static void collect(void *arg, const struct fsck_finding *f)
{
	(void)arg;
	CHECK(f->kind && f->path && f->detail);
	CHECK((unsigned)f->cls < FSCK_NCLASS);
	CHECK(f->detail[0] != '\0');
	if (nfnd == MAXF)
		return;
	fnd[nfnd].cls = f->cls;
	snprintf(fnd[nfnd].kind, sizeof fnd[nfnd].kind, "%s", f->kind);
	fnd[nfnd].ino = f->ino;
	fnd[nfnd].action = f->action;
	fnd[nfnd].rc = f->rc;
	snprintf(fnd[nfnd].path, sizeof fnd[nfnd].path, "%s", f->path);
	nfnd++;
}

/* What was found, for failure messages. */
static const char *found_str(void)
{
	static char buf[4096];
	size_t o = 0;

	buf[0] = '\0';
	for (int i = 0; i < nfnd && o < sizeof buf - 200; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s/%s/%" PRIu64 "/%s(%d)",
				      i ? ", " : "", fnd[i].kind, fsck_class_name(fnd[i].cls),
				      fnd[i].ino, fsck_action_name(fnd[i].action), fnd[i].rc);
	return nfnd ? buf : "nothing";
}

static void run_q(struct fx *f, bool repair, bool online, const char *quarantine)
{
	struct fsck_opts o = { .repair = repair, .online = online, .report = collect,
			       .quarantine_dir = quarantine };
	int rc;

	nfnd = 0;
	rc = fsck_run(f->x, &o, &last);
	CHECK_MSG(rc == 0, "fsck_run -> %d (%s); found %s", rc, s3f_strerror(rc), found_str());
	CHECK_MSG(nfnd < MAXF, "too many findings");
	/* The statistics agree with the findings reported. */
	{
		uint64_t by[FSCK_NCLASS] = { 0 }, rep = 0;

		for (int i = 0; i < nfnd; i++) {
			if (fnd[i].action == FSCK_A_GONE)
				continue;
			by[fnd[i].cls]++;
			rep += fnd[i].action == FSCK_A_REPAIRED;
		}
		for (int c = 0; c < FSCK_NCLASS; c++)
			CHECK_U64_EQ(last.found[c], by[c]);
		CHECK_U64_EQ(last.repaired, rep);
	}
}

static void run(struct fx *f, bool repair, bool online)
{
	run_q(f, repair, online, NULL);
}

/* The finding of kind on ino (0: any inode), or NULL. */
static const struct found *find(const char *kind, uint64_t ino)
{
	for (int i = 0; i < nfnd; i++)
		if (strcmp(fnd[i].kind, kind) == 0 && (ino == 0 || fnd[i].ino == ino))
			return &fnd[i];
	return NULL;
}

static int count_kind(const char *kind)
{
	int n = 0;

	for (int i = 0; i < nfnd; i++)
		n += strcmp(fnd[i].kind, kind) == 0;
	return n;
}

#define EXPECT(kind_, ino_, cls_, act_) \
	do { const struct found *e_ = find((kind_), (ino_)); \
	     CHECK_MSG(e_ != NULL, "no %s on inode %" PRIu64 "; found %s", (kind_), \
		       (uint64_t)(ino_), found_str()); \
	     CHECK_MSG(e_->cls == (cls_) && e_->action == (act_), \
		       "%s on %" PRIu64 ": %s/%s, expected %s/%s; found %s", (kind_), \
		       (uint64_t)(ino_), fsck_class_name(e_->cls), fsck_action_name(e_->action), \
		       fsck_class_name(cls_), fsck_action_name(act_), found_str()); \
	} while (0)

/* Nothing but legal states. */
#define EXPECT_CLEAN() \
	do { for (int i_ = 0; i_ < nfnd; i_++) \
		CHECK_MSG(fnd[i_].cls == FSCK_LEGAL, "not clean: %s", found_str()); } while (0)

/* ---- a small tree: a directory bound to S3 with a clean file, a dirty file ---- */

struct tree {
	uint64_t d, clean, dirty, big, sub, lnk;
	char cbytes[2000], dbytes[5000];
	char *bbytes;
	size_t bsize;
};

static void tree_make(struct fx *f, struct tree *t, bool big)
{
	free(t->bbytes);	/* left by a case that failed */
	memset(t, 0, sizeof *t);
	check_fill(t->cbytes, sizeof t->cbytes, 11);
	check_fill(t->dbytes, sizeof t->dbytes, 12);
	put(f, "d/clean", t->cbytes, sizeof t->cbytes);
	if (big) {
		t->bsize = 3 * 1024 * 1024 + 123;	/* above the prefetch threshold */
		t->bbytes = malloc(t->bsize);
		CHECK(t->bbytes != NULL);
		check_fill(t->bbytes, t->bsize, 13);
		put(f, "d/big", t->bbytes, t->bsize);
	}
	CHECK_OK(import_dir(f->x, META_ROOT_INO, NULL));
	t->d = look(f, META_ROOT_INO, "d");
	CHECK_OK(import_dir(f->x, t->d, NULL));
	CHECK_OK(import_prefetch(f->x, 100, NULL));
	t->clean = look(f, t->d, "clean");
	CHECK_INT_EQ(rec(f, t->clean).data, META_D_FULL);
	CHECK_INT_EQ(rec(f, t->clean).sync, META_S_CLEAN);
	if (big)
		t->big = look(f, t->d, "big");
	t->dirty = mk(f, t->d, "dirty", META_T_REG);
	client_write(f, t->dirty, 0, t->dbytes, sizeof t->dbytes);
	t->sub = mk(f, t->d, "sub", META_T_DIR);
	t->lnk = mk(f, t->sub, "lnk", META_T_LNK);
}

static void tree_free(struct tree *t)
{
	free(t->bbytes);
	t->bbytes = NULL;
}

/* ---- the cases ---- */

static struct fx fx;
static struct tree tr;

/* A healthy tree: directories, clean files (local, not local, partly local), a dirty
 * file, a sparse file, an extended file, a symlink: nothing but legal states; a repair
 * run repairs nothing and changes no byte. */
static void test_healthy(void)
{
	static const char tail[] = "sparse tail";
	uint64_t sparse, ext;
	struct iovec iov;
	char buf[4096], *zeros;
	size_t got;
	bool eof;

	fx_open(&fx);
	tree_make(&fx, &tr, true);
	CHECK_INT_EQ(rec(&fx, tr.big).data, META_D_NONE);
	/* a read of the first bytes: partly local */
	iov = (struct iovec){ buf, sizeof buf };
	CHECK_OK(fio_read(fx.x, tr.big, 0, &iov, 1, &got, &eof));
	CHECK_INT_EQ(rec(&fx, tr.big).data, META_D_PARTIAL);
	sparse = mk(&fx, tr.d, "sparse", META_T_REG);
	client_write(&fx, sparse, 1 << 20, tail, sizeof tail - 1);
	ext = mk(&fx, tr.sub, "ext", META_T_REG);
	client_write(&fx, ext, 0, "0123456789", 10);
	CHECK_OK(fio_resize(fx.x, ext, 10000, NULL, NULL));

	run(&fx, false, false);
	EXPECT_CLEAN();
	/* The extension is never written out: a short data file, legal. */
	EXPECT("data_short", ext, FSCK_LEGAL, FSCK_A_NONE);
	CHECK_STR_EQ(find("data_short", ext)->path, "/d/sub/ext");
	CHECK_U64_EQ(last.files, 5);
	CHECK(last.dirs >= 3);
	CHECK_U64_EQ(last.symlinks, 1);
	CHECK(last.data_files >= 4);
	CHECK(last.data_bytes > 0);
	CHECK_U64_EQ(last.repaired, 0);
	CHECK_U64_EQ(last.unrepaired, 0);

	/* The same run online, and a repair run: nothing to repair. */
	run(&fx, false, true);
	EXPECT_CLEAN();
	run(&fx, true, false);
	EXPECT_CLEAN();
	CHECK_U64_EQ(last.repaired, 0);
	CHECK_U64_EQ(last.moved_files, 0);
	{
		char q[1024];

		snprintf(q, sizeof q, "%s/fsck-orphans", fx.state);
		CHECK_MSG(!exists(q), "a repair with nothing to repair made %s", q);
	}
	expect_content(&fx, tr.clean, tr.cbytes, sizeof tr.cbytes);
	expect_content(&fx, tr.dirty, tr.dbytes, sizeof tr.dbytes);
	expect_content(&fx, tr.big, tr.bbytes, tr.bsize);
	zeros = calloc(1, (1 << 20) + sizeof tail);
	CHECK(zeros != NULL);
	memcpy(zeros + (1 << 20), tail, sizeof tail - 1);
	expect_content(&fx, sparse, zeros, (1 << 20) + sizeof tail - 1);
	free(zeros);
	CHECK_INT_EQ(rec(&fx, tr.dirty).sync, META_S_DIRTY);
	tree_free(&tr);
	fx_close(&fx);
}

/* The namespace operations that leave work for the daemon are legal states too: a
 * renamed clean file (its object still at the old key), a renamed directory (a dirjob),
 * a removed file recreated under its name (a pending delete of the old object's key). */
static void test_healthy_pending(void)
{
	static const char a[] = "object a", b[] = "object b", y[] = "object y";
	static const char nb[] = "the new b, not uploaded yet";
	struct ns_rename_result rr;
	struct meta_inode victim;
	uint64_t n, m, a2, nbi;

	fx_open(&fx);
	put(&fx, "n/a", a, sizeof a - 1);
	put(&fx, "n/b", b, sizeof b - 1);
	put(&fx, "m/x/y", y, sizeof y - 1);
	CHECK_OK(import_dir(fx.x, META_ROOT_INO, NULL));
	n = look(&fx, META_ROOT_INO, "n");
	m = look(&fx, META_ROOT_INO, "m");
	CHECK_OK(import_dir(fx.x, n, NULL));
	CHECK_OK(import_dir(fx.x, m, NULL));
	CHECK_OK(import_dir(fx.x, look(&fx, m, "x"), NULL));
	CHECK_OK(import_prefetch(fx.x, 100, NULL));
	run(&fx, false, false);
	EXPECT_CLEAN();

	CHECK_OK(ns_rename(fx.x->ns, n, "a", 1, n, "a2", 2, &rr));
	a2 = rr.moved.ino;
	CHECK_OK(ns_rename(fx.x->ns, META_ROOT_INO, "m", 1, META_ROOT_INO, "m2", 2, &rr));
	CHECK(rr.job != 0);
	CHECK_OK(ns_remove(fx.x->ns, n, "b", 1, false, &victim, NULL));
	CHECK_OK(data_file_remove(fx.x->data, victim.ino));
	nbi = mk(&fx, n, "b", META_T_REG);
	client_write(&fx, nbi, 0, nb, sizeof nb - 1);
	run(&fx, false, false);
	EXPECT_CLEAN();
	run(&fx, true, false);
	EXPECT_CLEAN();
	CHECK_U64_EQ(last.repaired, 0);
	expect_content(&fx, a2, a, sizeof a - 1);
	expect_content(&fx, nbi, nb, sizeof nb - 1);
	fx_close(&fx);
}

/* Files of the tier that are no file's bytes: reported as garbage, moved aside into the
 * quarantine (never deleted), a staging leftover removed, a foreign directory left. */
static void test_tier_garbage(void)
{
	static const char orphan[] = "bytes of an inode that is gone";
	static const char junk[] = "someone else's file";
	static const char mis[] = "a data file in the wrong fan-out directory";
	static const char nonfile[] = "a directory's data file";
	char p[PATH_MAX], q[1024], *m;
	const uint64_t oino = 0x7654321;
	size_t len;
	pid_t pid;
	int st;

	fx_open(&fx);
	tree_make(&fx, &tr, false);
	/* a process that is gone, for the staging file's name */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(0);
	CHECK(waitpid(pid, &st, 0) == pid);
	data_path(&fx, p, sizeof p, oino);
	snprintf(q, sizeof q, "%s/%02x", fx.x->cfg->data_dir, (unsigned)(oino & 0xff));
	(void)mkdir(q, 0700);
	write_file(p, orphan, sizeof orphan - 1);
	tier_path(&fx, p, sizeof p, "junk");
	write_file(p, junk, sizeof junk - 1);
	tier_path(&fx, p, sizeof p, "ab");
	(void)mkdir(p, 0700);
	tier_path(&fx, p, sizeof p, "ab/not-a-number");
	write_file(p, junk, sizeof junk - 1);
	tier_path(&fx, p, sizeof p, "06");
	(void)mkdir(p, 0700);
	tier_path(&fx, p, sizeof p, "06/0000000000000005");
	write_file(p, mis, sizeof mis - 1);
	tier_path(&fx, p, sizeof p, "somedir");
	CHECK(mkdir(p, 0700) == 0);
	snprintf(q, sizeof q, ".stage-%ld-0000abcd", (long)pid);
	tier_path(&fx, p, sizeof p, q);
	write_file(p, junk, sizeof junk - 1);
	data_path(&fx, p, sizeof p, tr.sub);
	snprintf(q, sizeof q, "%s/%02x", fx.x->cfg->data_dir, (unsigned)(tr.sub & 0xff));
	(void)mkdir(q, 0700);
	write_file(p, nonfile, sizeof nonfile - 1);

	run(&fx, false, false);
	EXPECT("orphan_data", oino, FSCK_GARBAGE, FSCK_A_REPAIRABLE);
	EXPECT("nonfile_data", tr.sub, FSCK_GARBAGE, FSCK_A_REPAIRABLE);
	EXPECT("tier_misplaced", 0, FSCK_GARBAGE, FSCK_A_REPAIRABLE);
	EXPECT("staging_leftover", 0, FSCK_GARBAGE, FSCK_A_REPAIRABLE);
	CHECK_INT_EQ(count_kind("tier_foreign"), 3);
	CHECK_INT_EQ(last.found[FSCK_GARBAGE], 7);
	CHECK_INT_EQ(last.found[FSCK_ERROR] + last.found[FSCK_LOSS] + last.found[FSCK_POWERCUT], 0);
	/* read-only: nothing moved */
	data_path(&fx, p, sizeof p, oino);
	CHECK(exists(p));

	snprintf(q, sizeof q, "%s/q", fx.state);
	run_q(&fx, true, false, q);
	EXPECT("orphan_data", oino, FSCK_GARBAGE, FSCK_A_REPAIRED);
	EXPECT("nonfile_data", tr.sub, FSCK_GARBAGE, FSCK_A_REPAIRED);
	EXPECT("tier_misplaced", 0, FSCK_GARBAGE, FSCK_A_REPAIRED);
	EXPECT("staging_leftover", 0, FSCK_GARBAGE, FSCK_A_REPAIRED);
	CHECK_U64_EQ(last.moved_files, 5);
	CHECK_U64_EQ(last.repaired, 6);
	CHECK(!exists(p));
	tier_path(&fx, p, sizeof p, "somedir");
	CHECK_MSG(exists(p), "a foreign directory was removed");
	/* The bytes are in the quarantine, listed. */
	snprintf(p, sizeof p, "%s/%02x-%016" PRIx64, q, (unsigned)(oino & 0xff), oino);
	m = slurp(p, &len);
	CHECK_MSG(m && len == sizeof orphan - 1 && memcmp(m, orphan, len) == 0, "%s", p);
	free(m);
	snprintf(p, sizeof p, "%s/06-0000000000000005", q);
	m = slurp(p, &len);
	CHECK_MSG(m && len == sizeof mis - 1 && memcmp(m, mis, len) == 0, "%s", p);
	free(m);
	snprintf(p, sizeof p, "%s/junk", q);
	CHECK(exists(p));
	snprintf(p, sizeof p, "%s/ab-not-a-number", q);
	CHECK(exists(p));
	snprintf(p, sizeof p, "%s/MANIFEST", q);
	m = slurp(p, &len);
	CHECK(m != NULL);
	{
		int lines = 0;

		for (size_t i = 0; i < len; i++)
			lines += m[i] == '\n';
		CHECK_INT_EQ(lines, 5);
	}
	CHECK(strstr(m, "orphan_data") && strstr(m, "nonfile_data") && strstr(m, "tier_misplaced"));
	free(m);

	/* Again: only the directory is left (manual). */
	run(&fx, false, false);
	CHECK_INT_EQ(nfnd, 1);
	EXPECT("tier_foreign", 0, FSCK_GARBAGE, FSCK_A_MANUAL);
	tier_path(&fx, p, sizeof p, "somedir");
	CHECK(rmdir(p) == 0);
	run(&fx, false, false);
	EXPECT_CLEAN();
	/* The staging file of a live process (a fetch in flight): no leftover online. */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	snprintf(q, sizeof q, ".stage-%ld-00001234", (long)pid);
	tier_path(&fx, p, sizeof p, q);
	write_file(p, junk, sizeof junk - 1);
	run(&fx, true, true);
	EXPECT_CLEAN();
	CHECK_MSG(exists(p), "the staging file of a live process was removed online");
	kill(pid, SIGKILL);
	CHECK(waitpid(pid, &st, 0) == pid);
	run(&fx, true, true);
	EXPECT("staging_leftover", 0, FSCK_GARBAGE, FSCK_A_REPAIRED);
	CHECK(!exists(p));
	expect_content(&fx, tr.clean, tr.cbytes, sizeof tr.cbytes);
	expect_content(&fx, tr.dirty, tr.dbytes, sizeof tr.dbytes);
	tree_free(&tr);
	fx_close(&fx);
}

/* A clean file bound to S3 whose data file is gone or cut: an error; the repair forgets
 * the local bytes (online), the next read fetches them again. */
static void test_clean_data_lost(void)
{
	char p[PATH_MAX], small[300];
	uint64_t c2;
	struct iovec iov;
	char buf[8192];
	size_t got;
	bool eof;

	fx_open(&fx);
	check_fill(small, sizeof small, 21);
	put(&fx, "d/c2", small, sizeof small);
	tree_make(&fx, &tr, true);
	c2 = look(&fx, tr.d, "c2");
	CHECK_INT_EQ(rec(&fx, c2).data, META_D_FULL);
	iov = (struct iovec){ buf, sizeof buf };
	CHECK_OK(fio_read(fx.x, tr.big, 0, &iov, 1, &got, &eof));
	CHECK_INT_EQ(rec(&fx, tr.big).data, META_D_PARTIAL);
	run(&fx, false, false);
	EXPECT_CLEAN();

	data_path(&fx, p, sizeof p, tr.clean);
	CHECK(unlink(p) == 0);
	data_path(&fx, p, sizeof p, c2);
	CHECK(truncate(p, 100) == 0);
	data_path(&fx, p, sizeof p, tr.big);
	CHECK(truncate(p, 1000) == 0);
	run(&fx, false, true);
	EXPECT("data_missing", tr.clean, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("data_short", c2, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("data_short", tr.big, FSCK_ERROR, FSCK_A_REPAIRABLE);
	CHECK_STR_EQ(find("data_missing", tr.clean)->path, "/d/clean");
	CHECK_INT_EQ(last.found[FSCK_ERROR], 3);
	CHECK_INT_EQ(rec(&fx, tr.clean).data, META_D_FULL);	/* read-only */

	run(&fx, true, true);
	EXPECT("data_missing", tr.clean, FSCK_ERROR, FSCK_A_REPAIRED);
	EXPECT("data_short", c2, FSCK_ERROR, FSCK_A_REPAIRED);
	EXPECT("data_short", tr.big, FSCK_ERROR, FSCK_A_REPAIRED);
	CHECK_INT_EQ(rec(&fx, tr.clean).data, META_D_NONE);
	CHECK_INT_EQ(rec(&fx, c2).data, META_D_NONE);
	CHECK_INT_EQ(rec(&fx, tr.big).data, META_D_NONE);
	CHECK(!in_table(&fx, META_IT_EXTENTS, tr.big));
	run(&fx, false, false);
	EXPECT_CLEAN();
	expect_content(&fx, tr.clean, tr.cbytes, sizeof tr.cbytes);
	expect_content(&fx, c2, small, sizeof small);
	expect_content(&fx, tr.big, tr.bbytes, tr.bsize);
	run(&fx, false, false);
	EXPECT_CLEAN();
	tree_free(&tr);
	fx_close(&fx);
}

struct rec_snap {
	uint64_t ino;
	struct meta_inode in;
};

static void snap(struct fx *f, struct rec_snap *s, uint64_t ino)
{
	s->ino = ino;
	s->in = rec(f, ino);
}

/* The record is exactly as it was. */
static void unchanged(struct fx *f, const struct rec_snap *s)
{
	struct meta_inode in;
	int rc = ns_getattr(f->x->ns, s->ino, &in);

	CHECK_MSG(rc == 0, "inode %" PRIu64 " gone after a repair", s->ino);
	CHECK_MSG(memcmp(&in, &s->in, sizeof in) == 0, "inode %" PRIu64 " changed by a repair "
		  "of a manual finding", s->ino);
}

/* Bytes of files the file side wrote, with no copy in S3: a missing data file is a power
 * cut's (left alone), a short one legal, bytes without any source a loss, a symlink
 * without a target a loss, an unlinked inode an error: none of them is repaired. */
static void test_manual_untouched(void)
{
	char p[PATH_MAX], *m;
	uint64_t lost, noshort, l2, hid;
	struct rec_snap s[6];
	int none = META_D_NONE;
	size_t len;

	fx_open(&fx);
	tree_make(&fx, &tr, false);
	noshort = mk(&fx, tr.d, "short", META_T_REG);
	client_write(&fx, noshort, 0, tr.dbytes, sizeof tr.dbytes);
	lost = mk(&fx, tr.d, "lost", META_T_REG);
	client_write(&fx, lost, 0, tr.dbytes, 3000);
	l2 = mk(&fx, tr.d, "l2", META_T_LNK);
	hid = mk(&fx, tr.sub, "hidden", META_T_REG);
	client_write(&fx, hid, 0, "hidden", 6);
	run(&fx, false, false);
	EXPECT_CLEAN();

	data_path(&fx, p, sizeof p, tr.dirty);
	CHECK(unlink(p) == 0);
	data_path(&fx, p, sizeof p, noshort);
	CHECK(truncate(p, 10) == 0);
	data_path(&fx, p, sizeof p, lost);
	CHECK(unlink(p) == 0);
	edit(&fx, lost, ed_data, &none);
	edit(&fx, l2, ed_symlink_del, NULL);
	edit(&fx, tr.sub, ed_dirent_del, "hidden");
	snap(&fx, &s[0], tr.dirty);
	snap(&fx, &s[1], noshort);
	snap(&fx, &s[2], lost);
	snap(&fx, &s[3], l2);
	snap(&fx, &s[4], hid);
	snap(&fx, &s[5], tr.sub);

	run(&fx, false, false);
	EXPECT("data_missing", tr.dirty, FSCK_POWERCUT, FSCK_A_MANUAL);
	EXPECT("data_short", noshort, FSCK_LEGAL, FSCK_A_NONE);
	EXPECT("no_source", lost, FSCK_LOSS, FSCK_A_MANUAL);
	EXPECT("symlink_no_target", l2, FSCK_LOSS, FSCK_A_MANUAL);
	EXPECT("unlinked", hid, FSCK_ERROR, FSCK_A_MANUAL);
	CHECK_STR_EQ(find("unlinked", hid)->path, "/d/sub/hidden");	/* by its record */
	CHECK_STR_EQ(find("data_missing", tr.dirty)->path, "/d/dirty");

	run(&fx, true, false);
	EXPECT("data_missing", tr.dirty, FSCK_POWERCUT, FSCK_A_MANUAL);
	EXPECT("no_source", lost, FSCK_LOSS, FSCK_A_MANUAL);
	EXPECT("symlink_no_target", l2, FSCK_LOSS, FSCK_A_MANUAL);
	EXPECT("unlinked", hid, FSCK_ERROR, FSCK_A_MANUAL);
	CHECK_U64_EQ(last.repaired, 0);
	CHECK_U64_EQ(last.unrepaired, 4);
	for (int i = 0; i < 6; i++)
		unchanged(&fx, &s[i]);
	data_path(&fx, p, sizeof p, tr.dirty);
	CHECK_MSG(!exists(p), "a repair made a data file for a power cut's loss");
	/* The hidden file's bytes stay where they are. */
	data_path(&fx, p, sizeof p, hid);
	m = slurp(p, &len);
	CHECK(m && len == 6 && memcmp(m, "hidden", 6) == 0);
	free(m);
	CHECK(in_table(&fx, META_IT_DIRTY, tr.dirty));
	tree_free(&tr);
	fx_close(&fx);
}

/* Sync state against the dirty table and META_F_CHANGING: repaired online. */
static void test_sync_state(void)
{
	uint32_t changing = META_F_CHANGING;

	fx_open(&fx);
	tree_make(&fx, &tr, false);
	edit(&fx, tr.dirty, ed_dirty_del, NULL);
	edit(&fx, tr.clean, ed_dirty_add, NULL);
	edit(&fx, tr.clean, ed_flags_or, &changing);
	edit(&fx, tr.sub, ed_flags_or, &changing);
	CHECK(!in_table(&fx, META_IT_DIRTY, tr.dirty));

	run(&fx, false, true);
	EXPECT("dirty_untracked", tr.dirty, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("dirty_stale", tr.clean, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("changing_clean", tr.clean, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("changing_clean", tr.sub, FSCK_ERROR, FSCK_A_REPAIRABLE);
	CHECK_INT_EQ(last.found[FSCK_ERROR], 4);

	run(&fx, true, true);
	EXPECT("dirty_untracked", tr.dirty, FSCK_ERROR, FSCK_A_REPAIRED);
	EXPECT("dirty_stale", tr.clean, FSCK_ERROR, FSCK_A_REPAIRED);
	EXPECT("changing_clean", tr.clean, FSCK_ERROR, FSCK_A_REPAIRED);
	EXPECT("changing_clean", tr.sub, FSCK_ERROR, FSCK_A_REPAIRED);
	CHECK(in_table(&fx, META_IT_DIRTY, tr.dirty));
	CHECK(!in_table(&fx, META_IT_DIRTY, tr.clean));
	CHECK(!(rec(&fx, tr.clean).flags & META_F_CHANGING));
	CHECK(!(rec(&fx, tr.sub).flags & META_F_CHANGING));
	CHECK_INT_EQ(rec(&fx, tr.dirty).sync, META_S_DIRTY);
	CHECK_INT_EQ(rec(&fx, tr.clean).sync, META_S_CLEAN);
	run(&fx, false, false);
	EXPECT_CLEAN();
	expect_content(&fx, tr.dirty, tr.dbytes, sizeof tr.dbytes);
	tree_free(&tr);
	fx_close(&fx);
}

/* Present ranges that do not fit the data state: normalized (online). */
static void test_extents(void)
{
	char small[1000];
	uint64_t c2, c3, c4;
	int partial = META_D_PARTIAL, full = META_D_FULL;
	uint64_t r[2];

	fx_open(&fx);
	check_fill(small, sizeof small, 31);
	put(&fx, "d/c2", small, sizeof small);
	put(&fx, "d/c3", small, sizeof small);
	put(&fx, "d/c4", small, sizeof small);
	tree_make(&fx, &tr, false);
	c2 = look(&fx, tr.d, "c2");
	c3 = look(&fx, tr.d, "c3");
	c4 = look(&fx, tr.d, "c4");
	/* FULL with a range row */
	r[0] = 0;
	r[1] = 500;
	edit(&fx, tr.clean, ed_extents, r);
	/* PARTIAL covering every byte */
	edit(&fx, c2, ed_data, &partial);
	r[1] = sizeof small;
	edit(&fx, c2, ed_extents, r);
	/* PARTIAL past the size */
	edit(&fx, c3, ed_data, &partial);
	r[0] = 100;
	r[1] = 5000;
	edit(&fx, c3, ed_extents, r);
	/* PARTIAL without a range */
	edit(&fx, c4, ed_data, &partial);
	/* a directory with ranges, a symlink with a data state */
	r[0] = 0;
	r[1] = 10;
	edit(&fx, tr.sub, ed_extents, r);
	edit(&fx, tr.lnk, ed_data, &full);

	run(&fx, false, true);
	EXPECT("extents_on_full", tr.clean, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("extents_full", c2, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("extents_beyond_size", c3, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("extents_empty", c4, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("extents_on_nonfile", tr.sub, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("data_on_nonfile", tr.lnk, FSCK_ERROR, FSCK_A_REPAIRABLE);
	CHECK_INT_EQ(last.found[FSCK_ERROR], 6);

	run(&fx, true, true);
	CHECK_U64_EQ(last.repaired, 6);
	CHECK_INT_EQ(rec(&fx, tr.clean).data, META_D_FULL);
	CHECK(!in_table(&fx, META_IT_EXTENTS, tr.clean));
	CHECK_INT_EQ(rec(&fx, c2).data, META_D_FULL);
	CHECK(!in_table(&fx, META_IT_EXTENTS, c2));
	CHECK_INT_EQ(rec(&fx, c3).data, META_D_PARTIAL);
	CHECK_INT_EQ(rec(&fx, c4).data, META_D_NONE);
	CHECK(!in_table(&fx, META_IT_EXTENTS, tr.sub));
	CHECK_INT_EQ(rec(&fx, tr.lnk).data, META_D_NONE);
	run(&fx, false, false);
	EXPECT_CLEAN();
	expect_content(&fx, tr.clean, tr.cbytes, sizeof tr.cbytes);
	expect_content(&fx, c2, small, sizeof small);
	expect_content(&fx, c3, small, sizeof small);
	expect_content(&fx, c4, small, sizeof small);
	run(&fx, false, false);
	EXPECT_CLEAN();
	tree_free(&tr);
	fx_close(&fx);
}

/* The namespace: link counts, an entry naming a removed inode (and what that inode left:
 * its data file, its key binding, its dirty row), a cookie not below the next one.
 * Online these wait ("offline"); with the gateway kept away they are repaired. */
static void test_namespace_offline(void)
{
	struct fsck_excl *ex = NULL;
	struct instlock *il = NULL;
	struct instlock_holder h;
	uint32_t two = 2, seven = 7;
	char who[640], p[1024];
	struct meta_inode in;
	uint64_t victim, gone;
	int rc;

	fx_open(&fx);
	tree_make(&fx, &tr, false);
	victim = mk(&fx, tr.d, "victim", META_T_REG);
	client_write(&fx, victim, 0, "soon gone", 9);
	gone = tr.clean;
	edit(&fx, tr.dirty, ed_nlink, &two);
	edit(&fx, tr.sub, ed_nlink, &seven);
	edit(&fx, victim, ed_inode_del, NULL);
	edit(&fx, gone, ed_inode_del, NULL);
	edit(&fx, tr.d, ed_next_cookie, NULL);

	run(&fx, false, true);
	EXPECT("nlink", tr.dirty, FSCK_ERROR, FSCK_A_OFFLINE);
	EXPECT("nlink", tr.sub, FSCK_ERROR, FSCK_A_OFFLINE);
	EXPECT("dangling_dirent", victim, FSCK_ERROR, FSCK_A_OFFLINE);
	CHECK_STR_EQ(find("dangling_dirent", victim)->path, "/d/victim");
	EXPECT("dangling_dirent", gone, FSCK_ERROR, FSCK_A_OFFLINE);
	EXPECT("cookie_next", tr.d, FSCK_ERROR, FSCK_A_OFFLINE);
	EXPECT("dirty_orphan", victim, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("key_orphan", gone, FSCK_ERROR, FSCK_A_OFFLINE);
	EXPECT("orphan_data", victim, FSCK_GARBAGE, FSCK_A_REPAIRABLE);
	EXPECT("orphan_data", gone, FSCK_GARBAGE, FSCK_A_REPAIRABLE);

	/* online repair: the online-safe ones only */
	run(&fx, true, true);
	EXPECT("nlink", tr.dirty, FSCK_ERROR, FSCK_A_OFFLINE);
	EXPECT("dangling_dirent", victim, FSCK_ERROR, FSCK_A_OFFLINE);
	EXPECT("key_orphan", gone, FSCK_ERROR, FSCK_A_OFFLINE);
	EXPECT("dirty_orphan", victim, FSCK_ERROR, FSCK_A_REPAIRED);
	EXPECT("orphan_data", victim, FSCK_GARBAGE, FSCK_A_REPAIRED);
	EXPECT("orphan_data", gone, FSCK_GARBAGE, FSCK_A_REPAIRED);
	CHECK_INT_EQ(rec(&fx, tr.dirty).nlink, 2);

	/* offline: refused while "ganesha" holds its lock */
	rc = instlock_acquire(fx.state, "fsal.lock", "ganesha.nfsd", &il, &h);
	CHECK_OK(rc);
	rc = fsck_exclusive_begin(fx.state, &ex, who, sizeof who);
	CHECK_INT_EQ(rc, EWOULDBLOCK);
	CHECK(ex == NULL);
	CHECK_MSG(strstr(who, "ganesha") && strstr(who, "pid"), "who: %s", who);
	instlock_release(il);
	il = NULL;
	CHECK_OK(fsck_exclusive_begin(fx.state, &ex, who, sizeof who));
	/* held: neither the FSAL nor the daemon can start */
	CHECK_INT_EQ(instlock_acquire(fx.state, "syncd.lock", "s3files-syncd", &il, &h), EWOULDBLOCK);
	CHECK_INT_EQ(instlock_acquire(fx.state, "fsal.lock", "ganesha.nfsd", &il, &h), EWOULDBLOCK);
	run(&fx, true, false);
	fsck_exclusive_end(ex);
	ex = NULL;
	EXPECT("nlink", tr.dirty, FSCK_ERROR, FSCK_A_REPAIRED);
	EXPECT("nlink", tr.sub, FSCK_ERROR, FSCK_A_REPAIRED);
	EXPECT("dangling_dirent", victim, FSCK_ERROR, FSCK_A_REPAIRED);
	EXPECT("dangling_dirent", gone, FSCK_ERROR, FSCK_A_REPAIRED);
	EXPECT("cookie_next", tr.d, FSCK_ERROR, FSCK_A_REPAIRED);
	EXPECT("key_orphan", gone, FSCK_ERROR, FSCK_A_REPAIRED);
	CHECK_INT_EQ(rec(&fx, tr.dirty).nlink, 1);
	CHECK_INT_EQ(rec(&fx, tr.sub).nlink, 2);
	CHECK_INT_EQ(ns_lookup(fx.x->ns, tr.d, "victim", 6, &in), ENOENT);
	CHECK_INT_EQ(ns_lookup(fx.x->ns, tr.d, "clean", 5, &in), ENOENT);
	CHECK_OK(instlock_acquire(fx.state, "syncd.lock", "s3files-syncd", &il, &h));
	instlock_release(il);
	run(&fx, false, false);
	EXPECT_CLEAN();
	/* the data files went to the default quarantine */
	snprintf(p, sizeof p, "%s/fsck-orphans", fx.state);
	CHECK(exists(p));
	expect_content(&fx, tr.dirty, tr.dbytes, sizeof tr.dbytes);
	/* a new entry gets a cookie above the ones in use: readdir lists every entry */
	mk(&fx, tr.d, "after-repair", META_T_REG);
	{
		struct ns_dirent de[16];
		size_t n = 0;
		bool eof = false;

		CHECK_OK(ns_readdir(fx.x->ns, tr.d, 0, de, 16, &n, &eof));
		CHECK(eof);
		CHECK_INT_EQ(n, 3);	/* dirty, sub, after-repair */
	}
	run(&fx, false, false);
	EXPECT_CLEAN();
	tree_free(&tr);
	fx_close(&fx);
}

static int ed_key_del(struct meta_txn *t, uint64_t ino, void *arg)
{
	(void)ino;
	return meta_key_del(t, arg, strlen(arg));
}

static int ed_delete_add(struct meta_txn *t, uint64_t ino, void *arg)
{
	return meta_delete_add(t, arg, strlen(arg), "", meta_now_ns(), ino);
}

static int ed_s3_size(struct meta_txn *t, uint64_t ino, void *arg)
{
	struct meta_inode in;
	int rc = meta_inode_get(t, ino, &in);

	(void)arg;
	if (rc)
		return rc;
	in.s3_size++;
	return meta_inode_put(t, &in);
}

static int ed_symlink_put(struct meta_txn *t, uint64_t ino, void *arg)
{
	(void)arg;
	return meta_symlink_put(t, ino, "stray", 5);
}

static int ed_orphan_rows(struct meta_txn *t, uint64_t ino, void *arg)
{
	uint64_t r[2] = { 0, 100 };
	int rc;

	(void)arg;
	rc = ed_extents(t, ino, r);
	if (rc == 0)
		rc = meta_prefetch_add(t, ino);
	if (rc == 0)
		rc = meta_symlink_put(t, ino, "gone", 4);
	return rc;
}

/* The entry of a directory that says it is a file. */
static int ed_dirent_retype(struct meta_txn *t, uint64_t parent, void *arg)
{
	struct meta_inode p;
	struct meta_dirent de;
	uint64_t cookie;
	int rc = meta_inode_get(t, parent, &p);

	if (rc == 0)
		rc = meta_dirent_get(t, parent, arg, strlen(arg), &de);
	if (rc == 0)
		rc = meta_dirent_del(t, parent, arg, strlen(arg));
	if (rc == 0)
		rc = meta_dirent_add(t, &p, arg, strlen(arg), de.ino, META_T_REG, &cookie);
	return rc;
}

/* Bindings to S3 and rows of other tables: rows of missing inodes and a stray symlink
 * target are removed (online); what needs a person (a file whose object's key is not
 * bound to it, a pending delete of a live file's object, a clean size that is not the
 * object's, an entry of the wrong type) is reported and left. */
static void test_rows_and_bindings(void)
{
	char small[700], k2[512], k3[512];
	const uint64_t nobody = 0x999999;
	struct rec_snap s[3];
	uint64_t c2, c3;

	fx_open(&fx);
	check_fill(small, sizeof small, 41);
	put(&fx, "d/c2", small, sizeof small);
	put(&fx, "d/c3", small, sizeof small);
	tree_make(&fx, &tr, false);
	c2 = look(&fx, tr.d, "c2");
	c3 = look(&fx, tr.d, "c3");
	snprintf(k2, sizeof k2, "%sd/c2", fx.prefix);
	snprintf(k3, sizeof k3, "%sd/c3", fx.prefix);
	run(&fx, false, false);
	EXPECT_CLEAN();

	edit(&fx, c2, ed_key_del, k2);
	edit(&fx, c3, ed_delete_add, k3);
	edit(&fx, tr.clean, ed_s3_size, NULL);
	edit(&fx, tr.dirty, ed_symlink_put, NULL);
	edit(&fx, nobody, ed_orphan_rows, NULL);
	edit(&fx, tr.d, ed_dirent_retype, "sub");
	snap(&fx, &s[0], c2);
	snap(&fx, &s[1], c3);
	snap(&fx, &s[2], tr.clean);

	run(&fx, false, true);
	EXPECT("key_unbound", c2, FSCK_ERROR, FSCK_A_MANUAL);
	EXPECT("delete_live", c3, FSCK_ERROR, FSCK_A_MANUAL);
	EXPECT("clean_size", tr.clean, FSCK_ERROR, FSCK_A_MANUAL);
	EXPECT("symlink_stray", tr.dirty, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("extents_orphan", nobody, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("prefetch_orphan", nobody, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("symlink_orphan", nobody, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("dirent_type", tr.sub, FSCK_ERROR, FSCK_A_MANUAL);
	EXPECT("nlink", tr.d, FSCK_ERROR, FSCK_A_OFFLINE);

	run(&fx, true, true);
	EXPECT("symlink_stray", tr.dirty, FSCK_ERROR, FSCK_A_REPAIRED);
	EXPECT("extents_orphan", nobody, FSCK_ERROR, FSCK_A_REPAIRED);
	EXPECT("prefetch_orphan", nobody, FSCK_ERROR, FSCK_A_REPAIRED);
	EXPECT("symlink_orphan", nobody, FSCK_ERROR, FSCK_A_REPAIRED);
	EXPECT("key_unbound", c2, FSCK_ERROR, FSCK_A_MANUAL);
	EXPECT("delete_live", c3, FSCK_ERROR, FSCK_A_MANUAL);
	EXPECT("clean_size", tr.clean, FSCK_ERROR, FSCK_A_MANUAL);
	EXPECT("dirent_type", tr.sub, FSCK_ERROR, FSCK_A_MANUAL);
	CHECK_U64_EQ(last.repaired, 4);
	for (int i = 0; i < 3; i++)
		unchanged(&fx, &s[i]);
	CHECK(!in_table(&fx, META_IT_SYMLINKS, tr.dirty));
	CHECK(!in_table(&fx, META_IT_EXTENTS, nobody));
	CHECK(!in_table(&fx, META_IT_PREFETCH, nobody));
	run(&fx, false, false);
	CHECK_INT_EQ(count_kind("symlink_stray") + count_kind("extents_orphan") +
		     count_kind("prefetch_orphan") + count_kind("symlink_orphan"), 0);
	CHECK_INT_EQ(last.found[FSCK_ERROR], 5);
	expect_content(&fx, tr.dirty, tr.dbytes, sizeof tr.dbytes);
	tree_free(&tr);
	fx_close(&fx);
}

static int ed_parent(struct meta_txn *t, uint64_t ino, void *arg)
{
	struct meta_inode in;
	int rc = meta_inode_get(t, ino, &in);

	(void)arg;
	if (rc)
		return rc;
	in.parent = 0x888888;
	return meta_inode_put(t, &in);
}

/* An entry under a file (arg: the file's inode number). */
static int ed_dirent_under_file(struct meta_txn *t, uint64_t target, void *arg)
{
	struct meta_inode fi;
	uint64_t cookie;
	int rc = meta_inode_get(t, *(uint64_t *)arg, &fi);

	if (rc)
		return rc;
	return meta_dirent_add(t, &fi, "inside-a-file", 13, target, META_T_REG, &cookie);
}

static int ed_key_put(struct meta_txn *t, uint64_t ino, void *arg)
{
	return meta_key_put(t, arg, strlen(arg), ino);
}

static int ed_move_put(struct meta_txn *t, uint64_t ino, void *arg)
{
	static struct meta_move m;

	memset(&m, 0, sizeof m);
	snprintf(m.key, sizeof m.key, "%s", (const char *)arg);
	m.key_len = strlen(m.key);
	snprintf(m.etag, sizeof m.etag, "\"0123\"");
	return meta_move_put(t, ino, &m);
}

static int ed_dirjob_bad(struct meta_txn *t, uint64_t ino, void *arg)
{
	static struct meta_dirjob j;

	(void)arg;
	memset(&j, 0, sizeof j);
	j.ino = ino;
	snprintf(j.old_prefix, sizeof j.old_prefix, "a/");
	snprintf(j.new_prefix, sizeof j.new_prefix, "a/");
	j.old_len = j.new_len = 2;
	return meta_dirjob_add(t, &j);
}

/* Records no protocol leaves, each reported with its kind, none repaired (they would need
 * a guess): an inode whose parent is gone, entries under a file, s3files' own inode dirty,
 * a lost source outside a conflict, a key bound to a file with no object, a moves record
 * on a clean file, a directory-rename job from a prefix to itself. */
static void test_records_manual(void)
{
	uint32_t reserved = META_F_RESERVED, lostf = META_F_LOST;
	char small[600], k[512];
	struct rec_snap s[5];
	int none = META_D_NONE;
	uint64_t c2, c3, orphan_child, loc;

	fx_open(&fx);
	check_fill(small, sizeof small, 51);
	put(&fx, "d/c2", small, sizeof small);
	put(&fx, "d/c3", small, sizeof small);
	tree_make(&fx, &tr, false);
	c2 = look(&fx, tr.d, "c2");
	c3 = look(&fx, tr.d, "c3");
	orphan_child = mk(&fx, tr.sub, "child", META_T_REG);
	loc = mk(&fx, tr.sub, "local", META_T_REG);
	client_write(&fx, loc, 0, "local bytes", 11);
	run(&fx, false, false);
	EXPECT_CLEAN();

	edit(&fx, orphan_child, ed_parent, NULL);
	edit(&fx, loc, ed_dirent_under_file, &tr.dirty);
	edit(&fx, tr.dirty, ed_flags_or, &reserved);
	edit(&fx, c2, ed_data, &none);
	edit(&fx, c2, ed_flags_or, &lostf);
	snprintf(k, sizeof k, "%sstray-key", fx.prefix);
	edit(&fx, loc, ed_key_put, k);
	snprintf(k, sizeof k, "%sd/elsewhere", fx.prefix);
	edit(&fx, c3, ed_move_put, k);
	edit(&fx, tr.sub, ed_dirjob_bad, NULL);
	snap(&fx, &s[0], orphan_child);
	snap(&fx, &s[1], tr.dirty);
	snap(&fx, &s[2], c2);
	snap(&fx, &s[3], loc);
	snap(&fx, &s[4], c3);

	run(&fx, true, false);
	EXPECT("parent_missing", orphan_child, FSCK_ERROR, FSCK_A_MANUAL);
	EXPECT("dirent_orphan", tr.dirty, FSCK_ERROR, FSCK_A_MANUAL);
	EXPECT("reserved_dirty", tr.dirty, FSCK_ERROR, FSCK_A_MANUAL);
	EXPECT("source_lost", c2, FSCK_LOSS, FSCK_A_MANUAL);
	EXPECT("key_stale", loc, FSCK_ERROR, FSCK_A_MANUAL);
	EXPECT("move_bad", c3, FSCK_ERROR, FSCK_A_MANUAL);
	EXPECT("dirjob_bad", tr.sub, FSCK_ERROR, FSCK_A_MANUAL);
	CHECK_U64_EQ(last.repaired, 0);
	for (int i = 0; i < 5; i++)
		unchanged(&fx, &s[i]);
	tree_free(&tr);
	fx_close(&fx);
}

/* A conflict and its resolution are legal states: a dirty, partly local file whose
 * object S3 replaced, then moved into lost+found (its bytes that were never local lost
 * with the old version: source_lost, legal there). */
static void test_conflict_legal(void)
{
	static const char w[] = "file-side change";
	struct ns_conflict c;
	struct ns_conflict_result r;
	struct meta_inode in;
	char *v2;
	int nlegal_lost = 0;

	fx_open(&fx);
	tree_make(&fx, &tr, true);
	client_write(&fx, tr.big, 10, w, sizeof w - 1);
	CHECK_INT_EQ(rec(&fx, tr.big).data, META_D_PARTIAL);
	CHECK_INT_EQ(rec(&fx, tr.big).sync, META_S_DIRTY);
	v2 = malloc(tr.bsize);
	CHECK(v2 != NULL);
	check_fill(v2, tr.bsize, 99);
	put(&fx, "d/big", v2, tr.bsize);
	free(v2);
	CHECK_OK(import_dir(fx.x, tr.d, NULL));
	in = rec(&fx, tr.big);
	CHECK_MSG(in.sync == META_S_CONFLICT, "sync %u after S3 replaced a dirty file", in.sync);
	run(&fx, false, false);
	EXPECT_CLEAN();
	CHECK_OK(ns_conflict_prepare(fx.x->ns, tr.big, &c));
	CHECK_OK(ns_conflict_resolve(fx.x->ns, &c, meta_now_ns(), &r));
	CHECK(r.lost_bytes);
	run(&fx, false, false);
	EXPECT_CLEAN();
	for (int i = 0; i < nfnd; i++)
		nlegal_lost += strcmp(fnd[i].kind, "source_lost") == 0 && fnd[i].ino == tr.big;
	CHECK_MSG(nlegal_lost == 1, "found %s", found_str());
	CHECK(last.dirs >= 4);	/* root, d, sub, lost+found */
	tree_free(&tr);
	fx_close(&fx);
}

/* More rows than one read transaction takes (FSCK_CHUNK: 256): inodes, entries and
 * cookie rows of one directory are walked in chunks; nothing may be missed or seen twice,
 * the subdirectories counted once. */
static void test_large_dir(void)
{
	const int nfiles = 700, ndirs = 300;
	uint64_t big, mid = 0, last_ino = 0;
	char name[32];

	fx_open(&fx);
	big = mk(&fx, META_ROOT_INO, "big", META_T_DIR);
	for (int i = 0; i < nfiles; i++) {
		snprintf(name, sizeof name, "file-%04d", i);
		last_ino = mk(&fx, big, name, META_T_REG);
		if (i == nfiles / 2)
			mid = last_ino;
	}
	for (int i = 0; i < ndirs; i++) {
		snprintf(name, sizeof name, "dir-%04d", i);
		mk(&fx, big, name, META_T_DIR);
	}
	CHECK_INT_EQ(rec(&fx, big).nlink, 2 + ndirs);
	run(&fx, false, false);
	EXPECT_CLEAN();
	CHECK_U64_EQ(last.files, nfiles);
	CHECK_U64_EQ(last.dirs, 2 + ndirs);
	/* two entries naming no inode, in different chunks: each reported once */
	edit(&fx, mid, ed_inode_del, NULL);
	edit(&fx, last_ino, ed_inode_del, NULL);
	run(&fx, false, false);
	CHECK_INT_EQ(count_kind("dangling_dirent"), 2);
	EXPECT("dangling_dirent", mid, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("dangling_dirent", last_ino, FSCK_ERROR, FSCK_A_REPAIRABLE);
	/* new files are dirty: their dirty rows stay behind too */
	EXPECT("dirty_orphan", mid, FSCK_ERROR, FSCK_A_REPAIRABLE);
	EXPECT("dirty_orphan", last_ino, FSCK_ERROR, FSCK_A_REPAIRABLE);
	CHECK_MSG(last.found[FSCK_ERROR] == 4, "found %s", found_str());
	run(&fx, true, false);
	CHECK_U64_EQ(last.repaired, 4);
	run(&fx, false, false);
	EXPECT_CLEAN();
	CHECK_INT_EQ(rec(&fx, big).nlink, 2 + ndirs);
	fx_close(&fx);
}

/* ---- forced interleavings (core/base/tp.h) ---- */

struct aba {
	struct fx *f;
	uint64_t ino;
	char *buf;
	size_t len;
	int evicted, fetched;
};

static int aba_evict_ok(void *arg, uint64_t ino)
{
	struct aba *a = arg;
	bool had;
	int rc = ns_data_evicting(a->f->x->ns, ino, &had);

	return rc ? rc : ns_sync(a->f->x->ns);
}

/* fsck read the record (present): the daemon evicts the file before fsck looks. */
static void aba_evict(const char *name, void *arg)
{
	struct aba *a = arg;

	(void)name;
	if (a->evicted++ == 0 && data_file_evict_if(a->f->x->data, a->ino, aba_evict_ok, a) != 0)
		a->evicted = -100;
}

/* fsck found no data file: a reader fetches it again before fsck reads the record. */
static void aba_fetch(const char *name, void *arg)
{
	struct aba *a = arg;
	struct iovec iov = { a->buf, a->len };
	size_t got = 0;
	bool eof;

	(void)name;
	if (a->fetched++ == 0 && (fio_read(a->f->x, a->ino, 0, &iov, 1, &got, &eof) != 0 ||
				  got != a->len))
		a->fetched = -100;
}

/* Evicted and fetched again between fsck's first read of the record and its second: the
 * record is the same both times (neither bumps a counter), and there was no data file in
 * between. The file is there now: no finding. */
static void test_evict_fetch_between(void)
{
	static struct aba a;

	fx_open(&fx);
	tree_make(&fx, &tr, false);
	a = (struct aba){ .f = &fx, .ino = tr.clean, .len = sizeof tr.cbytes };
	a.buf = malloc(a.len);
	CHECK(a.buf != NULL);
	CHECK_OK(tp_set("fsck.data.recorded", aba_evict, &a));
	CHECK_OK(tp_set("fsck.data.absent", aba_fetch, &a));
	run(&fx, false, true);
	tp_clear();
	CHECK_MSG(a.evicted > 0 && a.fetched > 0, "the interleaving did not happen (%d, %d)",
		  a.evicted, a.fetched);
	EXPECT_CLEAN();
	CHECK_INT_EQ(rec(&fx, tr.clean).data, META_D_FULL);
	free(a.buf);
	expect_content(&fx, tr.clean, tr.cbytes, sizeof tr.cbytes);
	tree_free(&tr);
	fx_close(&fx);
}

/* ---- a read-only check while the file side and the daemon work ---- */

struct busy {
	struct fx *f;
	uint64_t dir, clean;
	const char *cbytes;
	size_t clen;
	atomic_bool stop;
	int rc;
	unsigned ops;
	atomic_uint opsa;	/* ops, as the main thread reads it meanwhile */
};

static int busy_evict_ok(void *arg, uint64_t ino)
{
	struct busy *b = arg;
	bool had;
	int rc = ns_data_evicting(b->f->x->ns, ino, &had);

	return rc ? rc : ns_sync(b->f->x->ns);
}

/* Writes, extensions, truncations, creates and removes (what the FSAL does). */
static void *busy_writer(void *arg)
{
	struct busy *b = arg;
	char buf[20000], name[32];
	unsigned seed = 77;
	uint64_t inos[8] = { 0 };

	check_fill(buf, sizeof buf, 5);
	for (unsigned i = 0; !atomic_load(&b->stop) && b->rc == 0; i++) {
		unsigned k = i % 8;
		struct ns_new nw = { .type = META_T_REG, .mode = 0644 };
		struct meta_inode in, victim;
		struct iovec iov;
		struct fio_write w = { 0 };
		size_t written;

		seed = seed * 1103515245u + 12345u;
		snprintf(name, sizeof name, "w%u", k);
		if (!inos[k]) {
			b->rc = ns_create(b->f->x->ns, b->dir, name, strlen(name), &nw, &in, NULL);
			if (b->rc)
				break;
			inos[k] = in.ino;
		}
		switch ((seed >> 8) % 5) {
		case 0: case 1: case 2:
			iov = (struct iovec){ buf, 1 + (seed >> 4) % sizeof buf };
			w = (struct fio_write){ .off = (seed >> 12) % 300000, .iov = &iov, .iovcnt = 1,
						.stable = (seed & 1) != 0 };
			b->rc = fio_write(b->f->x, inos[k], &w, &written, NULL);
			break;
		case 3:
			b->rc = fio_resize(b->f->x, inos[k], (seed >> 10) % 400000, NULL, NULL);
			break;
		default:
			b->rc = ns_remove(b->f->x->ns, b->dir, name, strlen(name), false, &victim, NULL);
			if (b->rc == 0)
				(void)data_file_remove(b->f->x->data, victim.ino);
			inos[k] = 0;
			break;
		}
		b->ops++;
		atomic_fetch_add(&b->opsa, 1);
	}
	return NULL;
}

/* Evictions and fetches of a clean file (what the daemon and a reader do). */
static void *busy_evictor(void *arg)
{
	struct busy *b = arg;
	char *buf = malloc(b->clen);

	if (!buf) {
		b->rc = ENOMEM;
		return NULL;
	}
	while (!atomic_load(&b->stop) && b->rc == 0) {
		struct iovec iov = { buf, b->clen };
		size_t got;
		bool eof;
		int rc = data_file_evict_if(b->f->x->data, b->clean, busy_evict_ok, b);

		if (rc && rc != EBUSY) {
			b->rc = rc;
			break;
		}
		b->rc = fio_read(b->f->x, b->clean, 0, &iov, 1, &got, &eof);
		if (b->rc == 0 && (got != b->clen || memcmp(buf, b->cbytes, got) != 0))
			b->rc = EIO;
		b->ops++;
		atomic_fetch_add(&b->opsa, 1);
	}
	free(buf);
	return NULL;
}

static void test_concurrent_readonly(void)
{
	static struct busy bw, be;
	pthread_t tw, te;
	int runs = 0, legal = 0, nkinds = 0, kcount[8] = { 0 };
	char bad[4096] = "", kinds[8][32];

	fx_open(&fx);
	tree_make(&fx, &tr, false);
	bw = (struct busy){ .f = &fx, .dir = tr.sub };
	be = (struct busy){ .f = &fx, .clean = tr.clean, .cbytes = tr.cbytes,
			    .clen = sizeof tr.cbytes };
	CHECK_INT_EQ(pthread_create(&tw, NULL, busy_writer, &bw), 0);
	CHECK_INT_EQ(pthread_create(&te, NULL, busy_evictor, &be), 0);
	/* Until both threads did a fair amount (30 s at most: a slow machine checks less). */
	for (time_t t0 = time(NULL);
	     runs < 25 || ((atomic_load(&bw.opsa) < 300 || atomic_load(&be.opsa) < 100) &&
			   time(NULL) - t0 < 30);
	     runs++) {
		struct fsck_opts o = { .online = true, .report = collect };
		int rc;

		nfnd = 0;
		rc = fsck_run(fx.x, &o, &last);
		if (rc) {
			snprintf(bad, sizeof bad, "fsck_run -> %d (%s)", rc, s3f_strerror(rc));
			break;
		}
		for (int i = 0; i < nfnd; i++) {
			if (fnd[i].cls == FSCK_LEGAL || fnd[i].cls == FSCK_GARBAGE) {
				int k = 0;

				while (k < nkinds && strcmp(kinds[k], fnd[i].kind) != 0)
					k++;
				if (k == nkinds && nkinds < 8)
					snprintf(kinds[nkinds++], sizeof kinds[0], "%s", fnd[i].kind);
				if (k < nkinds)
					kcount[k]++;
				legal++;
				continue;
			}
			snprintf(bad, sizeof bad, "run %d: %s", runs, found_str());
			break;
		}
		if (bad[0])
			break;
	}
	atomic_store(&bw.stop, true);
	atomic_store(&be.stop, true);
	pthread_join(tw, NULL);
	pthread_join(te, NULL);
	CHECK_MSG(!bad[0], "%s", bad);
	CHECK_OK(bw.rc);
	CHECK_OK(be.rc);
	CHECK_MSG(bw.ops > 0 && be.ops > 0, "the other threads did nothing (%u, %u ops)", bw.ops,
		  be.ops);
	printf("# concurrent: %d fsck runs, %u writer ops, %u evict+fetch ops, %d legal or "
	       "garbage findings:", runs, bw.ops, be.ops, legal);
	for (int k = 0; k < nkinds; k++)
		printf(" %s %d", kinds[k], kcount[k]);
	printf("\n");
	/* At rest: the garbage a remove racing the walk may leave aside, clean. */
	run(&fx, false, false);
	for (int i = 0; i < nfnd; i++)
		CHECK_MSG(fnd[i].cls == FSCK_LEGAL, "at rest: %s", found_str());
	tree_free(&tr);
	fx_close(&fx);
}

int main(void)
{
	if (check_rgw_load(&rgw))
		return check_done();
	snprintf(base_prefix, sizeof base_prefix, "test-fsck/%d/", (int)getpid());
	CHECK_RUN(test_healthy);
	CHECK_RUN(test_healthy_pending);
	CHECK_RUN(test_tier_garbage);
	CHECK_RUN(test_clean_data_lost);
	CHECK_RUN(test_manual_untouched);
	CHECK_RUN(test_sync_state);
	CHECK_RUN(test_extents);
	CHECK_RUN(test_namespace_offline);
	CHECK_RUN(test_rows_and_bindings);
	CHECK_RUN(test_records_manual);
	CHECK_RUN(test_conflict_legal);
	CHECK_RUN(test_large_dir);
	CHECK_RUN(test_evict_fetch_between);
	CHECK_RUN(test_concurrent_readonly);
	if (fx.x)
		fx_close(&fx);
	tree_free(&tr);
	return check_done();
}
