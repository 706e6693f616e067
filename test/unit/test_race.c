/*
 * test_race.c — the data-tier ownership protocol (doc/DURABILITY.md) under forced
 * interleavings, against the real RGW ($RGW_TEST_DIR/env).
 *
 * Each case holds one operation at a test point (core/base/tp.h) in a second thread, runs the
 * competing operation in the main thread, lets the first go on, and checks every byte:
 *  - prefetch_vs_write: a background fetch of a small file holds fetched bytes while a
 *    client truncates and writes the file (issue 9, point 1: the acknowledged write was
 *    replaced by the old object's bytes);
 *  - hydrate_vs_write: a read fetching a missing chunk of a large file holds the bytes
 *    while a client writes into that chunk (point 2);
 *  - read_vs_evict: a read stops between opening the data file and locking it while the
 *    file is evicted (point 3: the read returned zeros);
 *  - write_vs_import / resize_vs_import: a write or a size change of a clean file decided
 *    from its record while an import takes a new, shorter S3 version (stale bytes of the
 *    old version would read as the new file's zeros);
 *  - install_vs_evict: an install waits for the exclusive lock while an eviction runs;
 *  - announce_before_bytes: a write stopped between its bytes and its record (as a crash
 *    would leave it) while the daemon's commit snapshot is taken: the snapshot must see
 *    the change announced (dirty_gen bumped), so the commit cannot call the file clean;
 *  - write_vs_pending_write: a write stopped after letting go of the per-inode lock and
 *    before its record (fio.write.pending: its bytes in the file, its size not in the
 *    record) while a second write lands past its end: the second must not drop the
 *    first's bytes as stale ones beyond the recorded end;
 *  - resize_vs_pending_write: the same first write, and a truncate: the truncate waits
 *    for the record and cuts the file as it is after the write;
 *  - deferred_*: UNSTABLE writes whose records wait in memory (Write_Record_Delay_Ms):
 *    clients see them at once; a snapshot taken with the exclusive lock from another
 *    descriptor (as the daemon's) waits for their record; an exclusive locker of the
 *    same process records them first instead of waiting for itself; a truncate after
 *    them is not undone by their record; the tick records only what is old enough.
 *    The cases above run with deferral off (their test points are on the recorded path),
 *    and the ones that also hold with it run again (*_deferring).
 * These use exactly the functions ganesha's FSAL calls (fio_*) and the daemon calls
 * (import_prefetch, hydrate_*, ns_commit_prepare, data_file_evict_if).
 *
 * test/unit/race_mutants.sh reverts each fix in a copy of the tree and checks that the
 * matching case here fails.
 */
#include "check.h"
#include "store/data.h"
#include "base/err.h"
#include "engine/export_ctx.h"
#include "engine/fio.h"
#include "engine/hydrate.h"
#include "engine/import.h"
#include "ns/ns_sync.h"
#include "base/tp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct check_rgw rgw;
static char prefix[128];
/* Write_Record_Delay_Ms of the next fixture: 0 (each write recorded before its reply)
 * for the cases of the recorded path; the deferred cases set their own. */
static unsigned fx_delay_ms;

/* ---- a gate: the first thread to reach a test point waits there until opened ---- */

struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int reached;
	bool open;
};

static void gate_init(struct gate *g)
{
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	g->reached = 0;
	g->open = false;
}

static void gate_fini(struct gate *g)
{
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
}

static void gate_cb(const char *name, void *arg)
{
	struct gate *g = arg;

	(void)name;
	struct timespec ts;

	/* 20 s at most: a case that failed (longjmp out of its body) never opens its gate,
	 * and the thread stopped here must still finish. */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	pthread_mutex_lock(&g->mu);
	if (g->reached++ == 0) {
		pthread_cond_broadcast(&g->cv);
		while (!g->open)
			if (pthread_cond_timedwait(&g->cv, &g->mu, &ts) != 0)
				break;
	}
	pthread_mutex_unlock(&g->mu);
}

/* Wait (10 s at most) until a thread stopped at the gate. */
static bool gate_wait(struct gate *g)
{
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&g->mu);
	while (g->reached == 0)
		if (pthread_cond_timedwait(&g->cv, &g->mu, &ts) != 0)
			break;
	ok = g->reached > 0;
	pthread_mutex_unlock(&g->mu);
	return ok;
}

static void gate_release(struct gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* ---- fixture ---- */

struct fx {
	char state[PATH_MAX];
	struct conf *conf;
	struct export_ctx *x;
	char keys[4][512];	/* put by the case, deleted at close */
	int nkeys;
};

/* An export over state (NULL: a fresh directory). */
static void fx_open_at(struct fx *f, const char *state)
{
	char text[8192], err[4096];
	int rc;

	memset(f, 0, sizeof *f);
	CHECK(realpath(state ? state : check_tmpdir(), f->state) != NULL);
	snprintf(text, sizeof text,
		 "EXPORT { Export_Id = 1; Path = \"/t\"; Pseudo = \"/t\";\n"
		 "  FSAL { Name = S3FILES; Bucket = \"%s\"; Prefix = \"%s\"; Endpoint = \"%s\";\n"
		 "    Region = \"%s\"; Access_Key_Id = \"%s\"; Secret_Access_Key = \"%s\";\n"
		 "    State_Dir = \"%s\"; Write_Record_Delay_Ms = %u; } }\n",
		 rgw.bucket, prefix, rgw.endpoint, rgw.region, rgw.id, rgw.secret, f->state,
		 fx_delay_ms);
	rc = conf_load_string("test_race.conf", text, &f->conf, err, sizeof err);
	CHECK_MSG(rc == 0, "config: %s", err);
	CHECK_OK(export_ctx_open(&f->conf->exports[0], 0, &f->x));
}

static void fx_open(struct fx *f)
{
	fx_open_at(f, NULL);
}

static void fx_close(struct fx *f)
{
	tp_clear();
	for (int i = 0; i < f->nkeys; i++)
		(void)s3_object_delete(f->x->s3, f->keys[i]);
	export_ctx_close(f->x);
	conf_free(f->conf);
}

static void put(struct fx *f, const char *rel, const void *data, size_t len)
{
	char key[512];

	snprintf(key, sizeof key, "%s%s", prefix, rel);
	CHECK_OK(s3_object_put_buf(f->x->s3, key, data, len, NULL, NULL));
	if (f->nkeys < 4 && (f->nkeys == 0 || strcmp(f->keys[f->nkeys - 1], key) != 0))
		snprintf(f->keys[f->nkeys++], sizeof f->keys[0], "%s", key);
}

static uint64_t look(struct fx *f, uint64_t dir, const char *name)
{
	struct meta_inode in;

	CHECK_OK(ns_lookup(f->x->ns, dir, name, strlen(name), &in));
	return in.ino;
}

/* A directory of the export, listed (its small files queued for prefetch). */
static uint64_t listed_dir(struct fx *f, const char *name)
{
	uint64_t d;

	CHECK_OK(import_dir(f->x, META_ROOT_INO, NULL));
	d = look(f, META_ROOT_INO, name);
	CHECK_OK(import_dir(f->x, d, NULL));
	return d;
}

static void client_write(struct fx *f, uint64_t ino, uint64_t off, const void *data, size_t len)
{
	struct iovec iov = { (void *)data, len };
	struct fio_write w = { .off = off, .iov = &iov, .iovcnt = 1 };
	size_t written = 0;

	CHECK_OK(fio_write(f->x, ino, &w, &written, NULL));
	CHECK_U64_EQ(written, len);
}

/* The whole file as a client reads it; *len its size. */
static char *client_read_all(struct fx *f, uint64_t ino, size_t *len)
{
	struct meta_inode in;
	struct iovec iov;
	size_t got = 0;
	bool eof = false;
	char *buf;

	CHECK_OK(fio_getattr(f->x, ino, &in));
	buf = malloc(in.size + 1);
	CHECK(buf != NULL);
	iov.iov_base = buf;
	iov.iov_len = in.size;
	CHECK_OK(fio_read(f->x, ino, 0, &iov, 1, &got, &eof));
	CHECK_U64_EQ(got, in.size);
	*len = got;
	return buf;
}

/* ---- the cases ---- */

struct prefetch_arg {
	struct fx *f;
	int rc;
};

static void *prefetch_thread(void *arg)
{
	struct prefetch_arg *a = arg;

	a->rc = import_prefetch(a->f->x, 100, NULL);
	return NULL;
}

static void test_prefetch_vs_write(void)
{
	static const char old[] = "old object contents, longer than the new ones: 0123456789\n";
	static const char new[] = "new-1\n";
	static struct fx f;
	static struct gate g;
	static struct prefetch_arg a;
	struct meta_inode in;
	pthread_t th;
	uint64_t d, ino;
	size_t len;
	char *got;

	fx_open(&f);
	gate_init(&g);
	put(&f, "pf/f", old, sizeof old - 1);
	d = listed_dir(&f, "pf");
	ino = look(&f, d, "f");
	CHECK_OK(tp_set("import.prefetch.fetched", gate_cb, &g));
	a.f = &f;
	CHECK_INT_EQ(pthread_create(&th, NULL, prefetch_thread, &a), 0);
	CHECK_MSG(gate_wait(&g), "the prefetch never fetched");
	/* `echo new-1 > f` while the fetched bytes wait: O_TRUNC, then the write. */
	CHECK_OK(fio_resize(f.x, ino, 0, NULL, NULL));
	client_write(&f, ino, 0, new, sizeof new - 1);
	gate_release(&g);
	pthread_join(th, NULL);
	CHECK_OK(a.rc);
	got = client_read_all(&f, ino, &len);
	CHECK_U64_EQ(len, sizeof new - 1);
	CHECK_MEM_EQ(got, new, sizeof new - 1);
	free(got);
	CHECK_OK(ns_getattr(f.x->ns, ino, &in));
	CHECK_INT_EQ(in.sync, META_S_DIRTY);
	gate_fini(&g);
	fx_close(&f);
}

struct read_arg {
	struct fx *f;
	uint64_t ino, off;
	size_t len;
	char *buf;
	size_t got;
	int rc;
};

static void *read_thread(void *arg)
{
	struct read_arg *a = arg;
	struct iovec iov = { a->buf, a->len };
	bool eof;

	a->rc = fio_read(a->f->x, a->ino, a->off, &iov, 1, &a->got, &eof);
	return NULL;
}

static void test_hydrate_vs_write(void)
{
	static const char w[] = "WRITTEN-BY-A-CLIENT";
	const size_t size = 3 * 1024 * 1024 + 100;	/* above the prefetch threshold */
	char *obj = malloc(size), *got;
	static struct fx f;
	static struct gate g;
	static struct read_arg a;
	pthread_t th;
	uint64_t d, ino;
	size_t len;

	CHECK(obj != NULL);
	check_fill(obj, size, 7);
	fx_open(&f);
	gate_init(&g);
	put(&f, "hy/big", obj, size);
	d = listed_dir(&f, "hy");
	ino = look(&f, d, "big");
	CHECK_OK(tp_set("hydrate.fetched", gate_cb, &g));
	a.f = &f;
	a.ino = ino;
	a.off = 0;
	a.len = 4096;
	a.buf = malloc(a.len);
	CHECK_INT_EQ(pthread_create(&th, NULL, read_thread, &a), 0);
	CHECK_MSG(gate_wait(&g), "the read never fetched");
	/* A write into the chunk the read is fetching, not present yet. */
	client_write(&f, ino, 100, w, sizeof w - 1);
	gate_release(&g);
	pthread_join(th, NULL);
	CHECK_OK(a.rc);
	got = client_read_all(&f, ino, &len);
	CHECK_U64_EQ(len, size);
	memcpy(obj + 100, w, sizeof w - 1);
	CHECK_MEM_EQ(got, obj, size);
	free(got);
	free(a.buf);
	free(obj);
	gate_fini(&g);
	fx_close(&f);
}

/* The daemon's eviction of one file (sync/evict.c: data_file_evict_if + the record). */
static int evict_ok(void *arg, uint64_t ino)
{
	struct fx *f = arg;
	bool had;
	int rc = ns_data_evicting(f->x->ns, ino, &had);

	return rc ? rc : ns_sync(f->x->ns);
}

static void test_read_vs_evict(void)
{
	char obj[1000];
	static struct fx f;
	static struct gate g;
	static struct read_arg a;
	struct meta_inode in;
	pthread_t th;
	uint64_t d, ino;

	check_fill(obj, sizeof obj, 3);
	fx_open(&f);
	gate_init(&g);
	put(&f, "ev/f", obj, sizeof obj);
	d = listed_dir(&f, "ev");
	ino = look(&f, d, "f");
	CHECK_OK(import_prefetch(f.x, 100, NULL));
	CHECK_OK(ns_getattr(f.x->ns, ino, &in));
	CHECK_INT_EQ(in.data, META_D_FULL);
	CHECK_OK(tp_set("data.open_locked.opened", gate_cb, &g));
	a.f = &f;
	a.ino = ino;
	a.len = sizeof obj;
	a.buf = malloc(a.len);
	CHECK_INT_EQ(pthread_create(&th, NULL, read_thread, &a), 0);
	CHECK_MSG(gate_wait(&g), "the read never opened the data file");
	/* Between the reader's open and its lock: evicted. */
	CHECK_OK(data_file_evict_if(f.x->data, ino, evict_ok, &f));
	CHECK_OK(ns_getattr(f.x->ns, ino, &in));
	CHECK_INT_EQ(in.data, META_D_NONE);
	gate_release(&g);
	pthread_join(th, NULL);
	CHECK_OK(a.rc);
	CHECK_U64_EQ(a.got, sizeof obj);
	CHECK_MEM_EQ(a.buf, obj, sizeof obj);
	free(a.buf);
	gate_fini(&g);
	fx_close(&f);
}

struct write_arg {
	struct fx *f;
	uint64_t ino, off, size;
	const char *data;
	size_t len;
	bool resize;
	int rc;
};

static void *write_thread(void *arg)
{
	struct write_arg *a = arg;
	struct iovec iov = { (void *)a->data, a->len };
	struct fio_write w = { .off = a->off, .iov = &iov, .iovcnt = 1 };
	size_t written;

	if (a->resize)
		a->rc = fio_resize(a->f->x, a->ino, a->size, NULL, NULL);
	else
		a->rc = fio_write(a->f->x, a->ino, &w, &written, NULL);
	return NULL;
}

/* A clean, local file of 1,000 'A's; S3 then gets a version of 100 'B's. A write at 500
 * (or an extension to 600) decided from the old record runs while the import takes the
 * new one: the result is the new version, zeros up to the write, the write. */
static void race_vs_import(bool resize)
{
	char a1000[1000], b100[100], *got, *want;
	static const char w[] = "XXXX";
	static struct fx f;
	static struct gate g;
	static struct write_arg a;
	pthread_t th;
	uint64_t d, ino, size = resize ? 600 : 504;
	size_t len;

	memset(a1000, 'A', sizeof a1000);
	memset(b100, 'B', sizeof b100);
	fx_open(&f);
	gate_init(&g);
	put(&f, "im/f", a1000, sizeof a1000);
	d = listed_dir(&f, "im");
	ino = look(&f, d, "f");
	CHECK_OK(import_prefetch(f.x, 100, NULL));
	put(&f, "im/f", b100, sizeof b100);
	CHECK_OK(tp_set(resize ? "fio.resize.locked" : "fio.write.locked", gate_cb, &g));
	a.f = &f;
	a.ino = ino;
	a.off = 500;
	a.data = w;
	a.len = sizeof w - 1;
	a.resize = resize;
	a.size = size;
	CHECK_INT_EQ(pthread_create(&th, NULL, write_thread, &a), 0);
	CHECK_MSG(gate_wait(&g), "the %s never started", resize ? "resize" : "write");
	CHECK_OK(import_dir(f.x, d, NULL));	/* the new version, while the record is read */
	gate_release(&g);
	pthread_join(th, NULL);
	CHECK_OK(a.rc);
	got = client_read_all(&f, ino, &len);
	CHECK_U64_EQ(len, size);
	want = calloc(1, size);
	memcpy(want, b100, sizeof b100);
	if (!resize)
		memcpy(want + 500, w, sizeof w - 1);
	CHECK_MEM_EQ(got, want, size);
	free(want);
	free(got);
	gate_fini(&g);
	fx_close(&f);
}

static void test_write_vs_import(void)
{
	race_vs_import(false);
}

static void test_resize_vs_import(void)
{
	race_vs_import(true);
}

struct evict_arg {
	struct fx *f;
	uint64_t ino;
	int rc;
};

static void *evict_thread(void *arg)
{
	struct evict_arg *a = arg;

	a->rc = data_file_evict_if(a->f->x->data, a->ino, evict_ok, a->f);
	return NULL;
}

/* An eviction holds the exclusive lock (stopped inside, after "nothing local" was
 * recorded) while a read's fetch waits to install: the install must find the record
 * as the eviction left it and the read must return the object's bytes. */
static void test_install_vs_evict(void)
{
	char obj[2000];
	static struct fx f;
	static struct gate g;
	static struct read_arg r;
	static struct evict_arg e;
	pthread_t te, tr;
	uint64_t d, ino;

	check_fill(obj, sizeof obj, 11);
	fx_open(&f);
	gate_init(&g);
	put(&f, "ie/f", obj, sizeof obj);
	d = listed_dir(&f, "ie");
	ino = look(&f, d, "f");
	CHECK_OK(import_prefetch(f.x, 100, NULL));
	CHECK_OK(tp_set("meta.sync", gate_cb, &g));
	e.f = &f;
	e.ino = ino;
	CHECK_INT_EQ(pthread_create(&te, NULL, evict_thread, &e), 0);
	CHECK_MSG(gate_wait(&g), "the eviction never recorded");
	r.f = &f;
	r.ino = ino;
	r.len = sizeof obj;
	r.buf = malloc(r.len);
	CHECK_INT_EQ(pthread_create(&tr, NULL, read_thread, &r), 0);
	usleep(200000);		/* the reader now waits for the lock the eviction holds */
	gate_release(&g);
	pthread_join(te, NULL);
	pthread_join(tr, NULL);
	CHECK_OK(e.rc);
	CHECK_OK(r.rc);
	CHECK_MEM_EQ(r.buf, obj, sizeof obj);
	free(r.buf);
	gate_fini(&g);
	fx_close(&f);
}

/* A write stopped after its bytes, before its record (a crash there loses the record):
 * the commit snapshot taken now must already count the change (dirty_gen past the one a
 * previous snapshot saw), so ns_commit_done cannot turn the file clean. */
static void test_announce_before_bytes(void)
{
	static const char v1[] = "version one\n", v2[] = "VERSION TWO\n";
	static struct fx f;
	static struct gate g;
	static struct write_arg a;
	struct ns_commit *c1 = malloc(sizeof *c1), *c2 = malloc(sizeof *c2);
	struct meta_inode in;
	pthread_t th;
	uint64_t ino;

	fx_open(&f);
	gate_init(&g);
	{
		struct ns_new nw = { .type = META_T_REG, .mode = 0644 };

		CHECK_OK(ns_create(f.x->ns, META_ROOT_INO, "an", 2, &nw, &in, NULL));
		ino = in.ino;
	}
	client_write(&f, ino, 0, v1, sizeof v1 - 1);
	/* A commit snapshot of version one (as the daemon takes it: the exclusive lock). */
	CHECK_OK(ns_commit_prepare(f.x->ns, ino, 0, c1));
	CHECK_OK(tp_set("fio.write.written", gate_cb, &g));
	a.f = &f;
	a.ino = ino;
	a.off = 0;
	a.data = v2;
	a.len = sizeof v2 - 1;
	CHECK_INT_EQ(pthread_create(&th, NULL, write_thread, &a), 0);
	CHECK_MSG(gate_wait(&g), "the write never wrote");
	/* The write's bytes are in the data file, its record is not. */
	CHECK_OK(ns_getattr(f.x->ns, ino, &in));
	CHECK_MSG(in.dirty_gen > c1->dirty_gen,
		  "a write's bytes are in the file but its change was not announced (gen %llu)",
		  (unsigned long long)in.dirty_gen);
	gate_release(&g);
	pthread_join(th, NULL);
	CHECK_OK(a.rc);
	CHECK_OK(ns_commit_prepare(f.x->ns, ino, 0, c2));
	CHECK(c2->dirty_gen > c1->dirty_gen);
	CHECK(!(c2->in.flags & META_F_CHANGING));
	free(c1);
	free(c2);
	gate_fini(&g);
	fx_close(&f);
}

struct pend_arg {
	struct fx *f;
	uint64_t ino;
	uint64_t size;
	int rc;
};

static void *resize_thread(void *arg)
{
	struct pend_arg *a = arg;

	a->rc = fio_resize(a->f->x, a->ino, a->size, NULL, NULL);
	return NULL;
}

/* A file with stale bytes beyond its recorded end (as a shrink cut short by a crash
 * leaves it), and a first write appended at that end held before its record. */
static uint64_t pending_setup(struct fx *f, struct gate *g, struct write_arg *a, pthread_t *th,
			      const char *w1, size_t w1len)
{
	static const char stale[] = "STALE-STALE-STALE-STALE-STALE-STALE-STALE-STALE-STALE";
	struct ns_new nw = { .type = META_T_REG, .mode = 0644 };
	struct meta_inode in;
	int fd;

	CHECK_OK(ns_create(f->x->ns, META_ROOT_INO, "pw", 2, &nw, &in, NULL));
	client_write(f, in.ino, 0, "head", 4);
	CHECK_OK(data_file_open(f->x->data, in.ino, 0, &fd));
	CHECK_OK(data_file_write(fd, stale, sizeof stale - 1, 4));
	data_file_close(f->x->data, fd);
	CHECK_OK(tp_set("fio.write.pending", gate_cb, g));
	a->f = f;
	a->ino = in.ino;
	a->off = 4;
	a->data = w1;
	a->len = w1len;
	CHECK_INT_EQ(pthread_create(th, NULL, write_thread, a), 0);
	CHECK_MSG(gate_wait(g), "the first write never reached its record");
	CHECK_OK(ns_getattr(f->x->ns, in.ino, &in));
	CHECK_U64_EQ(in.size, 4);	/* its bytes are in, its size is not recorded */
	return in.ino;
}

static void test_write_vs_pending_write(void)
{
	static const char w1[] = "first-write-bytes", w2[] = "second";
	static struct fx f;
	static struct gate g;
	static struct write_arg a;
	pthread_t th;
	uint64_t ino;
	size_t len;
	char *got, want[64];

	fx_open(&f);
	gate_init(&g);
	ino = pending_setup(&f, &g, &a, &th, w1, sizeof w1 - 1);
	/* The second write lands past the first's end: [21, 25) is a hole between them. */
	client_write(&f, ino, 4 + sizeof w1 - 1 + 4, w2, sizeof w2 - 1);
	gate_release(&g);
	pthread_join(th, NULL);
	CHECK_OK(a.rc);
	got = client_read_all(&f, ino, &len);
	memset(want, 0, sizeof want);
	memcpy(want, "head", 4);
	memcpy(want + 4, w1, sizeof w1 - 1);
	memcpy(want + 4 + sizeof w1 - 1 + 4, w2, sizeof w2 - 1);
	CHECK_U64_EQ(len, 4 + sizeof w1 - 1 + 4 + sizeof w2 - 1);
	CHECK_MSG(memcmp(got, want, len) == 0,
		  "the pending write's bytes were dropped or stale bytes show: '%.*s'", (int)len, got);
	free(got);
	gate_fini(&g);
	fx_close(&f);
}

static void test_resize_vs_pending_write(void)
{
	static const char w1[] = "first-write-bytes";
	static struct fx f;
	static struct gate g;
	static struct write_arg a;
	static struct pend_arg r;
	pthread_t th, tr;
	uint64_t ino;
	size_t len;
	char *got;

	fx_open(&f);
	gate_init(&g);
	ino = pending_setup(&f, &g, &a, &th, w1, sizeof w1 - 1);
	/* A truncate to 10 bytes while the first write waits for its record. */
	r.f = &f;
	r.ino = ino;
	r.size = 10;
	CHECK_INT_EQ(pthread_create(&tr, NULL, resize_thread, &r), 0);
	usleep(300000);
	gate_release(&g);
	pthread_join(th, NULL);
	pthread_join(tr, NULL);
	CHECK_OK(a.rc);
	CHECK_OK(r.rc);
	/* Write then truncate is the only order the truncate can have taken (it started
	 * after the write had changed bytes): 10 bytes, "head" and the write's first six. */
	got = client_read_all(&f, ino, &len);
	CHECK_U64_EQ(len, 10);
	CHECK_MSG(memcmp(got, "headfirst-", 10) == 0, "after the truncate: '%.*s'", (int)len, got);
	free(got);
	gate_fini(&g);
	fx_close(&f);
}

/* A stable write and a COMMIT each leave the store synced (meta_sync ran after them). */
static void test_stable_syncs_store(void)
{
	static const char d1[] = "stable bytes";
	struct iovec iov = { (void *)d1, sizeof d1 - 1 };
	struct fio_write w = { .off = 0, .iov = &iov, .iovcnt = 1, .stable = true };
	struct meta_inode in;
	struct ns_new nw = { .type = META_T_REG, .mode = 0644 };
	struct fx f;
	uint64_t before;
	size_t written;

	fx_open(&f);
	CHECK_OK(ns_create(f.x->ns, META_ROOT_INO, "st", 2, &nw, &in, NULL));
	before = meta_sync_count(ns_store(f.x->ns));
	CHECK_OK(fio_write(f.x, in.ino, &w, &written, NULL));
	CHECK(meta_sync_count(ns_store(f.x->ns)) > before);
	w.stable = false;
	before = meta_sync_count(ns_store(f.x->ns));
	CHECK_OK(fio_write(f.x, in.ino, &w, &written, NULL));
	CHECK_U64_EQ(meta_sync_count(ns_store(f.x->ns)), before);	/* UNSTABLE: no sync */
	CHECK_OK(fio_commit(f.x, in.ino));
	CHECK(meta_sync_count(ns_store(f.x->ns)) > before);
	fx_close(&f);
}

/* A new file is announced by its creation (rule W): its first write records itself in
 * one transaction, with no announcement of its own. A resize to its size with nothing
 * else (an open with O_TRUNC of the file just made) writes nothing and keeps its times;
 * one that sets the times writes them. Each stays synced as before. */
static void test_new_file_announced(void)
{
	static const char d1[] = "first bytes";
	struct iovec iov = { (void *)d1, sizeof d1 - 1 };
	struct fio_write w = { .off = 0, .iov = &iov, .iovcnt = 1 };
	struct ns_new nw = { .type = META_T_REG, .mode = 0644 };
	struct ns_setattr sa = { .mask = NS_SET_MTIME, .mtime_ns = 1234567890123456789LL };
	struct meta_inode in, a, b;
	uint64_t g0, j0, g1, j1, syncs;
	size_t written;
	struct fx f;

	fx_open(&f);
	CHECK_OK(ns_create(f.x->ns, META_ROOT_INO, "nf", 2, &nw, &in, NULL));
	CHECK(in.sync == META_S_DIRTY && (in.flags & META_F_CHANGING));
	meta_write_counts(ns_store(f.x->ns), &g0, &j0);
	CHECK_OK(fio_write(f.x, in.ino, &w, &written, NULL));
	meta_write_counts(ns_store(f.x->ns), &g1, &j1);
	CHECK_U64_EQ(j1 - j0, 1);	/* the record; no ns_write_begin */
	CHECK_OK(ns_getattr(f.x->ns, in.ino, &a));
	CHECK_U64_EQ(a.size, sizeof d1 - 1);
	CHECK(a.dirty_gen > in.dirty_gen);

	syncs = meta_sync_count(ns_store(f.x->ns));
	CHECK_OK(fio_resize(f.x, in.ino, a.size, NULL, &b));
	meta_write_counts(ns_store(f.x->ns), &g0, &j0);
	CHECK_U64_EQ(j0, j1);		/* nothing written */
	CHECK(meta_sync_count(ns_store(f.x->ns)) > syncs);	/* the write's record synced */
	CHECK(b.mtime_ns == a.mtime_ns && b.change == a.change && b.size == a.size);
	CHECK_OK(ns_getattr(f.x->ns, in.ino, &b));
	CHECK(b.mtime_ns == a.mtime_ns && b.ctime_ns == a.ctime_ns && b.change == a.change);
	syncs = meta_sync_count(ns_store(f.x->ns));
	CHECK_OK(fio_resize(f.x, in.ino, a.size, NULL, NULL));
	CHECK_U64_EQ(meta_sync_count(ns_store(f.x->ns)), syncs);	/* nothing new to sync */

	CHECK_OK(fio_resize(f.x, in.ino, a.size, &sa, &b));
	meta_write_counts(ns_store(f.x->ns), &g1, &j1);
	CHECK_U64_EQ(j1 - j0, 1);
	CHECK(b.mtime_ns == sa.mtime_ns && b.change != a.change);
	fx_close(&f);
}

/* ---- deferred records (Write_Record_Delay_Ms; fio.c, struct fio_deferred) ---- */

/* A new file in f and three UNSTABLE writes whose records wait: "aaaabbbbcc". */
static uint64_t deferred_setup_in(struct fx *f, const char *name, struct meta_inode *store)
{
	struct ns_new nw = { .type = META_T_REG, .mode = 0644 };
	struct meta_inode in;

	CHECK_OK(ns_create(f->x->ns, META_ROOT_INO, name, strlen(name), &nw, &in, NULL));
	client_write(f, in.ino, 0, "aaaa", 4);
	client_write(f, in.ino, 4, "bbbb", 4);
	client_write(f, in.ino, 8, "cc", 2);
	CHECK_OK(ns_getattr(f->x->ns, in.ino, store));
	return in.ino;
}

/* The same in a fresh export that defers (nothing folds by itself during a case). */
static uint64_t deferred_setup(struct fx *f, const char *name, struct meta_inode *store)
{
	fx_delay_ms = 1000;
	fx_open(f);
	return deferred_setup_in(f, name, store);
}

/* Clients see deferred writes at once (size, change, bytes); the store gets them at a
 * COMMIT, with the same change attribute, synced. */
static void test_deferred_visible(void)
{
	struct meta_inode store, seen, after;
	struct fx f;
	uint64_t ino, syncs;
	size_t len;
	char *got;

	ino = deferred_setup(&f, "dv", &store);
	CHECK_U64_EQ(store.size, 0);		/* the store has only the announcement */
	CHECK(store.sync == META_S_DIRTY);
	CHECK_OK(fio_getattr(f.x, ino, &seen));
	CHECK_U64_EQ(seen.size, 10);
	CHECK_U64_EQ(seen.change, store.change + 3);
	got = client_read_all(&f, ino, &len);
	CHECK_U64_EQ(len, 10);
	CHECK_MSG(memcmp(got, "aaaabbbbcc", 10) == 0, "read '%.*s'", (int)len, got);
	free(got);
	syncs = meta_sync_count(ns_store(f.x->ns));
	CHECK_OK(fio_commit(f.x, ino));
	CHECK(meta_sync_count(ns_store(f.x->ns)) > syncs);
	CHECK_OK(ns_getattr(f.x->ns, ino, &after));
	CHECK_U64_EQ(after.size, 10);
	CHECK_U64_EQ(after.change, seen.change);
	CHECK(after.mtime_ns == seen.mtime_ns);
	CHECK(after.dirty_gen > store.dirty_gen);
	fx_close(&f);
	fx_delay_ms = 0;
}

/* A snapshot taken by another process (the daemon: the exclusive lock, then the record)
 * while writes are deferred waits for their record, and then sees them in the store: it
 * can never upload the file short and call it clean. The daemon is a child process with
 * an export of its own over the same State_Dir; it reports the size it read through a
 * pipe. */
static void test_deferred_vs_snapshot(void)
{
	struct meta_inode store;
	struct fx f;
	uint64_t ino, size = 0;
	int pfd[2], status, fd = -1;
	pid_t pid;
	struct pollfd pl;

	ino = deferred_setup(&f, "ds", &store);
	CHECK(pipe(pfd) == 0);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		static struct fx d;
		struct meta_inode in;

		close(pfd[0]);
		fx_open_at(&d, f.state);
		if (data_file_open_locked(d.x->data, ino, DATA_CREATE, true, &fd) != 0 ||
		    ns_getattr(d.x->ns, ino, &in) != 0)
			_exit(1);
		if (write(pfd[1], &in.size, sizeof in.size) != (ssize_t)sizeof in.size)
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	pl = (struct pollfd){ .fd = pfd[0], .events = POLLIN };
	CHECK_MSG(poll(&pl, 1, 1000) == 0,
		  "the other process got the exclusive lock while writes were deferred");
	CHECK_OK(fio_flush_all(f.x, 0));	/* the housekeeping tick */
	CHECK(read(pfd[0], &size, sizeof size) == (ssize_t)sizeof size);
	close(pfd[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_U64_EQ(size, 10);
	fx_close(&f);
	fx_delay_ms = 0;
}

struct settle_arg {
	struct fx *f;
	uint64_t ino;
	volatile int done;
	int rc;
};

static void *settle_thread(void *arg)
{
	struct settle_arg *a = arg;

	a->rc = fio_settle(a->f->x, a->ino);
	__atomic_store_n(&a->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* An exclusive locker of this process (settle; a fetch's install) records the deferred
 * writes first instead of waiting for its own process's lock. */
static void test_deferred_own_exclusive(void)
{
	struct meta_inode store, after;
	static struct settle_arg a;
	struct fx f;
	pthread_t th;

	a = (struct settle_arg){ .f = &f };
	a.ino = deferred_setup(&f, "do", &store);
	CHECK_INT_EQ(pthread_create(&th, NULL, settle_thread, &a), 0);
	for (int i = 0; i < 500 && !__atomic_load_n(&a.done, __ATOMIC_SEQ_CST); i++)
		usleep(10000);
	if (!__atomic_load_n(&a.done, __ATOMIC_SEQ_CST)) {
		(void)fio_flush_all(f.x, 0);	/* let the thread go before failing */
		pthread_join(th, NULL);
		CHECK_MSG(false, "fio_settle waited for its own process's deferred writes");
	}
	pthread_join(th, NULL);
	CHECK_OK(a.rc);
	CHECK_OK(ns_getattr(f.x->ns, a.ino, &after));
	CHECK_U64_EQ(after.size, 10);
	fx_close(&f);
	fx_delay_ms = 0;
}

/* A truncate after deferred writes cuts the file as the writes left it, and the
 * writes' record never comes back over it. */
static void test_deferred_then_resize(void)
{
	struct meta_inode store, after;
	struct fx f;
	uint64_t ino;
	size_t len;
	char *got;

	ino = deferred_setup(&f, "dr", &store);
	CHECK_OK(fio_resize(f.x, ino, 6, NULL, NULL));
	CHECK_OK(fio_flush_all(f.x, 0));
	CHECK_OK(ns_getattr(f.x->ns, ino, &after));
	CHECK_U64_EQ(after.size, 6);
	got = client_read_all(&f, ino, &len);
	CHECK_U64_EQ(len, 6);
	CHECK_MSG(memcmp(got, "aaaabb", 6) == 0, "after the truncate: '%.*s'", (int)len, got);
	free(got);
	fx_close(&f);
	fx_delay_ms = 0;
}

/* The tick records writes older than the delay, and only those. */
static void test_deferred_tick(void)
{
	struct meta_inode store, after;
	struct fx f;
	uint64_t ino;

	ino = deferred_setup(&f, "dt", &store);
	CHECK_OK(fio_flush_all(f.x, 60LL * 1000000000LL));
	CHECK_OK(ns_getattr(f.x->ns, ino, &after));
	CHECK_U64_EQ(after.size, 0);		/* younger than a minute: still deferred */
	usleep(20000);
	CHECK_OK(fio_flush_all(f.x, 10LL * 1000000));
	CHECK_OK(ns_getattr(f.x->ns, ino, &after));
	CHECK_U64_EQ(after.size, 10);
	fx_close(&f);
	fx_delay_ms = 0;
}

/* A writer process dies (as kill -9 of ganesha) with writes deferred: nothing it
 * answered is lost. Its log survives in the page cache; the next EXCLUSIVE locker of a
 * file (the daemon's snapshot) records that file's writes, and an FSAL starting again
 * (fio_recover) records the rest, before either decides anything from the record. */
static void test_deferred_writer_dies(void)
{
	char state[PATH_MAX];
	struct meta_inode in1, in2, after;
	struct fx f;
	pid_t pid;
	int status, fd = -1;
	size_t len;
	char *got;

	CHECK(realpath(check_tmpdir(), state) != NULL);
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct meta_inode st;

		fx_delay_ms = 1000;
		fx_open_at(&f, state);
		(void)deferred_setup_in(&f, "w1", &st);
		(void)deferred_setup_in(&f, "w2", &st);
		_exit(0);	/* no flush, no close: as a kill */
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer failed");
	fx_delay_ms = 1000;
	fx_open_at(&f, state);
	CHECK_OK(ns_lookup(f.x->ns, META_ROOT_INO, "w1", 2, &in1));
	CHECK_OK(ns_lookup(f.x->ns, META_ROOT_INO, "w2", 2, &in2));
	CHECK_U64_EQ(in1.size, 0);		/* only the announcements are recorded */
	CHECK_U64_EQ(in2.size, 0);
	/* The daemon's way in: the exclusive lock, then the record. */
	CHECK_OK(data_file_open_locked(f.x->data, in1.ino, DATA_CREATE, true, &fd));
	CHECK_OK(ns_getattr(f.x->ns, in1.ino, &after));
	data_file_unlock(fd);
	data_file_close(f.x->data, fd);
	CHECK_MSG(after.size == 10, "the snapshot's record has size %llu, not the 10 bytes "
		  "the dead writer answered", (unsigned long long)after.size);
	/* The FSAL's way in: recover before serving. */
	CHECK_OK(fio_recover(f.x));
	CHECK_OK(ns_getattr(f.x->ns, in2.ino, &after));
	CHECK_U64_EQ(after.size, 10);
	got = client_read_all(&f, in2.ino, &len);
	CHECK_U64_EQ(len, 10);
	CHECK_MSG(memcmp(got, "aaaabbbbcc", 10) == 0, "read '%.*s'", (int)len, got);
	free(got);
	fx_close(&f);
	fx_delay_ms = 0;
}

/* A power cut may keep a log slot's writes and lose its freeing, while the record that
 * folded it, and a truncate after it, reached the disk. Recovery must not apply such a
 * stale slot over them (the file would grow back over the truncate). */
static void test_deferred_stale_log(void)
{
	struct meta_inode store, after;
	unsigned char slot[64], cur[64];
	char path[PATH_MAX + 16];
	struct fx f;
	uint64_t ino, v;
	off_t at = -1;
	int lfd;

	ino = deferred_setup(&f, "dl", &store);
	snprintf(path, sizeof path, "%s/deferred", f.conf->exports[0].meta_dir);
	lfd = open(path, O_RDWR | O_CLOEXEC);
	CHECK(lfd >= 0);
	for (off_t o = 64; o < 64 * 1024 && at < 0; o += 64) {
		CHECK(pread(lfd, slot, sizeof slot, o) == (ssize_t)sizeof slot);
		memcpy(&v, slot, sizeof v);
		if (v == ino)
			at = o;
	}
	CHECK_MSG(at >= 0, "no log slot for the deferred writes");
	CHECK_OK(fio_flush(f.x, ino));
	CHECK(pread(lfd, cur, sizeof cur, at) == (ssize_t)sizeof cur);
	memcpy(&v, cur, sizeof v);
	CHECK_U64_EQ(v, 0);			/* recorded: freed */
	CHECK_OK(fio_resize(f.x, ino, 2, NULL, NULL));
	/* The power cut: the slot as it was before its freeing. */
	CHECK(pwrite(lfd, slot, sizeof slot, at) == (ssize_t)sizeof slot);
	close(lfd);
	CHECK_OK(fio_recover(f.x));
	CHECK_OK(ns_getattr(f.x->ns, ino, &after));
	CHECK_MSG(after.size == 2, "a stale log entry undid the truncate: size %llu",
		  (unsigned long long)after.size);
	fx_close(&f);
	fx_delay_ms = 0;
}

/* The cases of the recorded path that also hold with deferral (the default). */
static void test_prefetch_vs_write_deferring(void)
{
	fx_delay_ms = 20;
	test_prefetch_vs_write();
	fx_delay_ms = 0;
}

static void test_hydrate_vs_write_deferring(void)
{
	fx_delay_ms = 20;
	test_hydrate_vs_write();
	fx_delay_ms = 0;
}

static void test_write_vs_import_deferring(void)
{
	fx_delay_ms = 20;
	test_write_vs_import();
	fx_delay_ms = 0;
}

int main(void)
{
	if (check_rgw_load(&rgw))
		return check_done();
	snprintf(prefix, sizeof prefix, "test-race/%d/", (int)getpid());
	CHECK_RUN(test_prefetch_vs_write);
	CHECK_RUN(test_hydrate_vs_write);
	CHECK_RUN(test_read_vs_evict);
	CHECK_RUN(test_write_vs_import);
	CHECK_RUN(test_resize_vs_import);
	CHECK_RUN(test_install_vs_evict);
	CHECK_RUN(test_announce_before_bytes);
	CHECK_RUN(test_write_vs_pending_write);
	CHECK_RUN(test_resize_vs_pending_write);
	CHECK_RUN(test_stable_syncs_store);
	CHECK_RUN(test_new_file_announced);
	CHECK_RUN(test_deferred_visible);
	CHECK_RUN(test_deferred_vs_snapshot);
	CHECK_RUN(test_deferred_own_exclusive);
	CHECK_RUN(test_deferred_then_resize);
	CHECK_RUN(test_deferred_tick);
	CHECK_RUN(test_deferred_writer_dies);
	CHECK_RUN(test_deferred_stale_log);
	CHECK_RUN(test_prefetch_vs_write_deferring);
	CHECK_RUN(test_hydrate_vs_write_deferring);
	CHECK_RUN(test_write_vs_import_deferring);
	return check_done();
}
