/*
 * test_sync_commit.c — the daemon's commit and delete passes (sync/commit.c) against the
 * in-memory S3 double: a dirty file goes up with its bytes and is then clean; a write
 * while its upload is in flight keeps it dirty for the next pass; an S3 error leaves it
 * dirty (delayed, never dropped); a removed file's object is deleted, unless S3 changed
 * it since (S3 wins).
 */
#include "sync_fx.h"
#include "base/err.h"
#include "s3/s3_mem.h"
#include "store/journal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void check_clean_as(struct sync_fx *f, uint64_t ino, const char *key, const char *data)
{
	struct s3_object_info info;
	struct meta_inode in = sync_fx_stat(f, ino);
	char *body = sync_fx_object(f, key, &info);

	CHECK_MSG(body != NULL, "no object at %s", key);
	CHECK_STR_EQ(body, data);
	free(body);
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK_STR_EQ(in.etag, info.etag);
	CHECK_U64_EQ(in.size, strlen(data));
}

static void test_dirty_file_put(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };
	struct s3_object_info info;
	uint64_t a;
	char *body;

	sync_fx_open(&f, NULL);
	a = sync_fx_file(&f, META_ROOT_INO, "a", "hello, world");
	CHECK_INT_EQ(sync_fx_stat(&f, a).sync, META_S_DIRTY);
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_U64_EQ(res.committed, 1);
	CHECK_U64_EQ(res.failed, 0);
	check_clean_as(&f, a, "t/a", "hello, world");
	/* one conditional PUT (a new key: If-None-Match), the file's attributes with it */
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_PUT, "t/a", 0), 1);
	body = sync_fx_object(&f, "t/a", &info);
	free(body);
	CHECK(info.n_meta >= 3);
	/* nothing left to do: the next pass uploads nothing */
	memset(&res, 0, sizeof res);
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_U64_EQ(res.committed, 0);
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_PUT, "t/a", S3_MEM_ANY_RC), 1);

	/* a change goes up as a new version, pinned to the one it was based on */
	sync_fx_write(&f, a, 0, "HELLO");
	CHECK_INT_EQ(sync_fx_stat(&f, a).sync, META_S_DIRTY);
	CHECK_OK(sync_fx_commit(&f, &res));
	check_clean_as(&f, a, "t/a", "HELLO, world");
	sync_fx_close(&f);
}

struct bg_commit {
	struct sync_fx *f;
	struct sync_result res;
	int rc;
};

static void *bg_commit_run(void *arg)
{
	struct bg_commit *b = arg;

	b->rc = sync_fx_commit(b->f, &b->res);
	return NULL;
}

static void test_write_during_upload(void)
{
	struct sync_fx f;
	struct bg_commit b = { .f = &f };
	struct sync_result res = { 0 };
	pthread_t t;
	uint64_t a;

	sync_fx_open(&f, NULL);
	a = sync_fx_file(&f, META_ROOT_INO, "a", "first");
	/* the upload has read the file and is on its way when a client writes */
	CHECK_OK(s3_mem_hold(f.s3, S3_OP_PUT, "t/a"));
	CHECK_OK(pthread_create(&t, NULL, bg_commit_run, &b));
	CHECK_OK(s3_mem_hold_wait(f.s3, 10000));
	sync_fx_write(&f, a, 5, " second");
	s3_mem_release(f.s3);
	CHECK_OK(pthread_join(t, NULL));
	CHECK_OK(b.rc);

	/* the object holds what was read; the file holds more and stays dirty */
	char *body = sync_fx_object(&f, "t/a", NULL);

	CHECK_STR_EQ(body, "first");
	free(body);
	CHECK_INT_EQ(sync_fx_stat(&f, a).sync, META_S_DIRTY);
	/* the next pass uploads the rest */
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_U64_EQ(res.committed, 1);
	check_clean_as(&f, a, "t/a", "first second");
	sync_fx_close(&f);
}

static void test_s3_error_delays(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };
	uint64_t a;

	sync_fx_open(&f, NULL);
	a = sync_fx_file(&f, META_ROOT_INO, "a", "kept");
	CHECK_OK(s3_mem_fail(f.s3, S3_OP_PUT, "t/a", 2, S3F_E_S3_SERVER));
	for (int pass = 1; pass <= 2; pass++) {
		memset(&res, 0, sizeof res);
		CHECK_INT_EQ(sync_fx_commit(&f, &res), S3F_E_S3_SERVER);
		CHECK_U64_EQ(res.failed, 1);
		CHECK_U64_EQ(res.committed, 0);
		CHECK_INT_EQ(sync_fx_stat(&f, a).sync, META_S_DIRTY);
		CHECK(!sync_fx_exists(&f, "t/a"));
		CHECK_INT_EQ(sync_fx_events(&f, JOURNAL_COMMIT_FAILED), pass);
	}
	/* the bucket answers its LIST: S3 is not down, only that request failed */
	CHECK(!sync_s3_down(&f.se));
	/* the file's bytes were never dropped: the next pass commits them */
	memset(&res, 0, sizeof res);
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_U64_EQ(res.committed, 1);
	check_clean_as(&f, a, "t/a", "kept");
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_PUT, "t/a", S3F_E_S3_SERVER), 2);
	sync_fx_close(&f);
}

static void remove_file(struct sync_fx *f, const char *name)
{
	struct meta_inode victim;

	CHECK_OK(ns_remove(f->x->ns, META_ROOT_INO, name, strlen(name), false, &victim, NULL));
}

static void test_delete(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };
	struct s3_object_info info;
	char *body;

	sync_fx_open(&f, NULL);
	sync_fx_file(&f, META_ROOT_INO, "gone", "bytes");
	sync_fx_file(&f, META_ROOT_INO, "kept", "bytes");
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_U64_EQ(res.committed, 2);
	body = sync_fx_object(&f, "t/gone", &info);
	free(body);

	remove_file(&f, "gone");
	/* the delete waits for the delete pass, and is pinned to the version removed */
	CHECK(sync_fx_exists(&f, "t/gone"));
	memset(&res, 0, sizeof res);
	CHECK_OK(sync_fx_delete(&f, &res));
	CHECK_U64_EQ(res.deleted, 1);
	CHECK(!sync_fx_exists(&f, "t/gone"));
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_DELETE, "t/gone", 0), 1);
	body = sync_fx_object(&f, "t/kept", NULL);
	CHECK_STR_EQ(body, "bytes");
	free(body);
	/* done: a second pass sends nothing */
	memset(&res, 0, sizeof res);
	CHECK_OK(sync_fx_delete(&f, &res));
	CHECK_U64_EQ(res.deleted, 0);
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_DELETE, NULL, S3_MEM_ANY_RC), 1);
	sync_fx_close(&f);
}

static void test_delete_failed_retried(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };

	sync_fx_open(&f, NULL);
	sync_fx_file(&f, META_ROOT_INO, "gone", "bytes");
	CHECK_OK(sync_fx_commit(&f, &res));
	remove_file(&f, "gone");
	CHECK_OK(s3_mem_fail(f.s3, S3_OP_DELETE, "t/gone", 1, S3F_E_S3_SERVER));
	memset(&res, 0, sizeof res);
	(void)sync_fx_delete(&f, &res);
	CHECK_U64_EQ(res.failed, 1);
	CHECK(sync_fx_exists(&f, "t/gone"));
	memset(&res, 0, sizeof res);
	CHECK_OK(sync_fx_delete(&f, &res));
	CHECK_U64_EQ(res.deleted, 1);
	CHECK(!sync_fx_exists(&f, "t/gone"));
	sync_fx_close(&f);
}

static void test_delete_after_s3_change(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };
	char *body;

	sync_fx_open(&f, NULL);
	sync_fx_file(&f, META_ROOT_INO, "x", "ours");
	CHECK_OK(sync_fx_commit(&f, &res));
	remove_file(&f, "x");
	/* another client writes the key after our remove: its version wins */
	sync_fx_put(&f, "t/x", "theirs");
	memset(&res, 0, sizeof res);
	CHECK_OK(sync_fx_delete(&f, &res));
	CHECK_U64_EQ(res.deleted, 0);
	CHECK_U64_EQ(res.conflicts, 1);
	body = sync_fx_object(&f, "t/x", NULL);
	CHECK_STR_EQ(body, "theirs");
	free(body);
	CHECK_INT_EQ(sync_fx_events(&f, JOURNAL_CONFLICT), 1);
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_DELETE, "t/x", S3F_E_S3_PRECOND), 1);
	sync_fx_close(&f);
}

int main(void)
{
	CHECK_RUN(test_dirty_file_put);
	CHECK_RUN(test_write_during_upload);
	CHECK_RUN(test_s3_error_delays);
	CHECK_RUN(test_delete);
	CHECK_RUN(test_delete_failed_retried);
	CHECK_RUN(test_delete_after_s3_change);
	return check_done();
}
