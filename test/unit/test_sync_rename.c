/*
 * test_sync_rename.c — renames carried out in S3 (sync/rename.c, and the copy of a renamed
 * file in sync/commit.c) against the in-memory S3 double: a renamed file becomes a
 * server-side copy plus a delete of the old key (no upload of its bytes); a directory
 * rename job moves every object below the old prefix, and one that an S3 error stopped
 * finishes at a later pass.
 */
#include "sync_fx.h"
#include "base/err.h"
#include "s3/s3_mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void rename_in(struct sync_fx *f, uint64_t dir, const char *from, const char *to)
{
	struct ns_rename_result r;

	CHECK_OK(ns_rename(f->x->ns, dir, from, strlen(from), dir, to, strlen(to), &r));
}

static void check_object(struct sync_fx *f, const char *key, const char *data)
{
	char *body = sync_fx_object(f, key, NULL);

	CHECK_MSG(body != NULL, "no object at %s", key);
	CHECK_STR_EQ(body, data);
	free(body);
}

/* Keys under prefix, joined by ' '. */
static void check_keys(struct sync_fx *f, const char *prefix, const char *want)
{
	struct s3_list_req req = { .prefix = prefix };
	struct s3_list_page pg;
	char got[1024] = "";

	CHECK_OK(s3_list(f->s3, &req, &pg));
	for (size_t i = 0; i < pg.n_entries; i++) {
		if (i)
			strcat(got, " ");
		strncat(got, pg.entries[i].key, sizeof got - strlen(got) - 2);
	}
	s3_list_page_free(&pg);
	CHECK_STR_EQ(got, want);
}

static void test_file_rename_is_copy(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };
	struct meta_inode in;
	struct s3_object_info info;
	uint64_t a;
	char *body;

	sync_fx_open(&f, NULL);
	a = sync_fx_file(&f, META_ROOT_INO, "a", "moving bytes");
	CHECK_OK(sync_fx_commit(&f, &res));
	rename_in(&f, META_ROOT_INO, "a", "b");
	memset(&res, 0, sizeof res);
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_U64_EQ(res.committed, 1);
	/* a copy on the server, not an upload of the bytes */
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_COPY, "t/a", 0), 1);
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_PUT, "t/b", S3_MEM_ANY_RC), 0);
	check_object(&f, "t/b", "moving bytes");
	in = sync_fx_stat(&f, a);
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	body = sync_fx_object(&f, "t/b", &info);
	free(body);
	CHECK_STR_EQ(in.etag, info.etag);
	/* the old key goes with the delete pass */
	memset(&res, 0, sizeof res);
	CHECK_OK(sync_fx_delete(&f, &res));
	CHECK_U64_EQ(res.deleted, 1);
	check_keys(&f, "t/", "t/b");
	sync_fx_close(&f);
}

/* d/ with x and y, committed, renamed to e/. */
static uint64_t dir_committed_renamed(struct sync_fx *f)
{
	struct sync_result res = { 0 };
	uint64_t d = sync_fx_dir(f, META_ROOT_INO, "d");

	sync_fx_file(f, d, "x", "xx");
	sync_fx_file(f, d, "y", "yyy");
	CHECK_OK(sync_fx_commit(f, &res));
	check_keys(f, "t/d/", "t/d/ t/d/x t/d/y");
	rename_in(f, META_ROOT_INO, "d", "e");
	return d;
}

static void test_dir_rename_job(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };
	uint64_t d;
	char *names;

	sync_fx_open(&f, NULL);
	d = dir_committed_renamed(&f);
	CHECK_INT_EQ(sync_fx_lookup(&f, META_ROOT_INO, "e"), d);
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK(res.moved >= 2);
	check_object(&f, "t/e/x", "xx");
	check_object(&f, "t/e/y", "yyy");
	CHECK_OK(sync_fx_delete(&f, &res));
	check_keys(&f, "t/d/", "");
	/* copies, no uploads of the files' bytes */
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_PUT, "t/e/x", S3_MEM_ANY_RC), 0);
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_COPY, "t/d/x", 0), 1);
	names = sync_fx_names(&f, d);
	CHECK_STR_EQ(names, "x y");
	free(names);
	CHECK_INT_EQ(sync_fx_stat(&f, sync_fx_lookup(&f, d, "x")).sync, META_S_CLEAN);
	sync_fx_close(&f);
}

static void test_dir_rename_resumes(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };

	sync_fx_open(&f, NULL);
	dir_committed_renamed(&f);
	CHECK_OK(s3_mem_fail(f.s3, S3_OP_COPY, "t/d/y", 1, S3F_E_S3_SERVER));
	(void)sync_fx_commit(&f, &res);
	/* y is still only under the old prefix: the job is not done */
	CHECK(sync_fx_exists(&f, "t/d/y"));
	CHECK(!sync_fx_exists(&f, "t/e/y"));
	memset(&res, 0, sizeof res);
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_OK(sync_fx_delete(&f, &res));
	check_object(&f, "t/e/x", "xx");
	check_object(&f, "t/e/y", "yyy");
	check_keys(&f, "t/d/", "");
	sync_fx_close(&f);
}

int main(void)
{
	CHECK_RUN(test_file_rename_is_copy);
	CHECK_RUN(test_dir_rename_job);
	CHECK_RUN(test_dir_rename_resumes);
	return check_done();
}
