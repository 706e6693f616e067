/*
 * test_sync_poll.c — the poll pass (sync/poll.c) against the in-memory S3 double: objects
 * another client creates, changes or deletes show up in the namespace of the directories
 * already listed; a directory first listed later shows what it holds then; a failed LIST
 * removes nothing.
 */
#include "sync_fx.h"
#include "base/err.h"
#include "engine/import.h"
#include "s3/s3_mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void check_reads(struct sync_fx *f, uint64_t dir, const char *name, const char *data)
{
	uint64_t ino = sync_fx_lookup(f, dir, name);

	CHECK_MSG(ino != 0, "no '%s'", name);
	sync_fx_check_read(f, ino, data);
}

static void check_names(struct sync_fx *f, uint64_t dir, const char *want)
{
	char *names = sync_fx_names(f, dir);

	CHECK_STR_EQ(names, want);
	free(names);
}

static void test_new_changed_deleted(void)
{
	struct sync_fx f;
	struct meta_inode in;
	struct s3_object_info info;
	uint64_t ino;
	char *body;

	sync_fx_open(&f, NULL);
	CHECK_OK(import_dir(f.x, META_ROOT_INO, NULL));
	check_names(&f, META_ROOT_INO, "");

	sync_fx_put(&f, "t/new", "one");
	sync_fx_put(&f, "t/other", "1");
	sync_fx_put(&f, "elsewhere", "outside the prefix");
	CHECK_OK(sync_fx_poll(&f));
	check_names(&f, META_ROOT_INO, "new other");
	check_reads(&f, META_ROOT_INO, "new", "one");
	ino = sync_fx_lookup(&f, META_ROOT_INO, "new");
	in = sync_fx_stat(&f, ino);
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK_U64_EQ(in.size, 3);

	/* changed: the same name, the new bytes and ETag */
	sync_fx_put(&f, "t/new", "two, longer");
	CHECK_OK(sync_fx_poll(&f));
	ino = sync_fx_lookup(&f, META_ROOT_INO, "new");
	in = sync_fx_stat(&f, ino);
	body = sync_fx_object(&f, "t/new", &info);
	free(body);
	CHECK_STR_EQ(in.etag, info.etag);
	CHECK_U64_EQ(in.size, strlen("two, longer"));
	check_reads(&f, META_ROOT_INO, "new", "two, longer");

	/* deleted */
	CHECK_OK(s3_object_delete(f.s3, "t/new"));
	CHECK_OK(sync_fx_poll(&f));
	check_names(&f, META_ROOT_INO, "other");
	CHECK_INT_EQ(sync_fx_lookup(&f, META_ROOT_INO, "new"), 0);
	sync_fx_close(&f);
}

static void test_subdirectory(void)
{
	struct sync_fx f;
	uint64_t d;

	sync_fx_open(&f, NULL);
	CHECK_OK(import_dir(f.x, META_ROOT_INO, NULL));
	sync_fx_put(&f, "t/d/x", "x");
	CHECK_OK(sync_fx_poll(&f));
	d = sync_fx_lookup(&f, META_ROOT_INO, "d");
	CHECK(d != 0);
	CHECK_INT_EQ(sync_fx_stat(&f, d).type, META_T_DIR);
	/* listed when first looked into, then polled like the root */
	CHECK_OK(import_dir_ensure(f.x, d));
	check_names(&f, d, "x");
	sync_fx_put(&f, "t/d/y", "y");
	CHECK_OK(sync_fx_poll(&f));
	check_names(&f, d, "x y");
	check_reads(&f, d, "y", "y");
	/* the last object under d/ gone: d goes too */
	CHECK_OK(s3_object_delete(f.s3, "t/d/x"));
	CHECK_OK(s3_object_delete(f.s3, "t/d/y"));
	CHECK_OK(sync_fx_poll(&f));
	CHECK_INT_EQ(sync_fx_lookup(&f, META_ROOT_INO, "d"), 0);
	sync_fx_close(&f);
}

static void test_failed_list_removes_nothing(void)
{
	struct sync_fx f;

	sync_fx_open(&f, NULL);
	sync_fx_put(&f, "t/a", "a");
	sync_fx_put(&f, "t/b", "b");
	CHECK_OK(import_dir(f.x, META_ROOT_INO, NULL));
	check_names(&f, META_ROOT_INO, "a b");
	CHECK_OK(s3_object_delete(f.s3, "t/a"));
	CHECK_OK(s3_mem_fail(f.s3, S3_OP_LIST, NULL, 1, S3F_E_S3_SERVER));
	CHECK_INT_EQ(sync_fx_poll(&f), S3F_E_S3_SERVER);
	check_names(&f, META_ROOT_INO, "a b");
	/* the next poll sees the bucket as it is */
	CHECK_OK(sync_fx_poll(&f));
	check_names(&f, META_ROOT_INO, "b");
	sync_fx_close(&f);
}

int main(void)
{
	CHECK_RUN(test_new_changed_deleted);
	CHECK_RUN(test_subdirectory);
	CHECK_RUN(test_failed_list_removes_nothing);
	return check_done();
}
