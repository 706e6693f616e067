/*
 * test_sync_conflict.c — both sides changed a file (sync/conflict.c, reached from the
 * commit pass and from a poll), against the in-memory S3 double: S3 wins, the file-side
 * bytes land in lost+found with one `conflict` event; an object S3 deleted meanwhile
 * loses the name too; S3 holding exactly the file-side bytes is no conflict.
 */
#include "sync_fx.h"
#include "base/err.h"
#include "engine/import.h"
#include "s3/s3_mem.h"
#include "store/journal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* lost+found holds one file, with these bytes. */
static void check_lost_found(struct sync_fx *f, const char *data)
{
	uint64_t lf = sync_fx_lookup(f, META_ROOT_INO, "lost+found");
	char *names;
	uint64_t ino;

	CHECK(lf != 0);
	names = sync_fx_names(f, lf);
	CHECK_MSG(names[0] && !strchr(names, ' '), "lost+found holds '%s'", names);
	ino = sync_fx_lookup(f, lf, names);
	free(names);
	CHECK(ino != 0);
	sync_fx_check_read(f, ino, data);
}

/* "a" committed as "base", then written on the file side. */
static uint64_t base_then_dirty(struct sync_fx *f, const char *local)
{
	struct sync_result res = { 0 };
	uint64_t a = sync_fx_file(f, META_ROOT_INO, "a", "base");

	CHECK_OK(sync_fx_commit(f, &res));
	CHECK_U64_EQ(res.committed, 1);
	sync_fx_write(f, a, 0, local);
	return a;
}

static void test_upload_refused_s3_wins(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };
	struct meta_inode in;
	uint64_t a, now;
	char *body;

	sync_fx_open(&f, NULL);
	a = base_then_dirty(&f, "LOCAL");
	sync_fx_put(&f, "t/a", "theirs");
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_U64_EQ(res.conflicts, 1);
	CHECK_U64_EQ(res.committed, 0);
	/* the conditional PUT was refused: S3's object is untouched */
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_PUT, "t/a", S3F_E_S3_PRECOND), 1);
	body = sync_fx_object(&f, "t/a", NULL);
	CHECK_STR_EQ(body, "theirs");
	free(body);
	/* the name shows S3's version (another inode), the file-side bytes are kept */
	now = sync_fx_lookup(&f, META_ROOT_INO, "a");
	CHECK(now != 0 && now != a);
	sync_fx_check_read(&f, now, "theirs");
	in = sync_fx_stat(&f, now);
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	check_lost_found(&f, "LOCAL");
	CHECK_INT_EQ(sync_fx_events(&f, JOURNAL_CONFLICT), 1);
	/* settled: the next pass uploads nothing and raises nothing */
	memset(&res, 0, sizeof res);
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_U64_EQ(res.committed, 0);
	CHECK_U64_EQ(res.conflicts, 0);
	CHECK_INT_EQ(sync_fx_events(&f, JOURNAL_CONFLICT), 1);
	/* ours (the base) and theirs: nothing of ours after the conflict */
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_PUT, "t/a", 0), 2);
	sync_fx_close(&f);
}

static void test_deleted_in_s3(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };

	sync_fx_open(&f, NULL);
	base_then_dirty(&f, "LOCAL");
	CHECK_OK(s3_object_delete(f.s3, "t/a"));
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_U64_EQ(res.conflicts, 1);
	CHECK(!sync_fx_exists(&f, "t/a"));
	CHECK_INT_EQ(sync_fx_lookup(&f, META_ROOT_INO, "a"), 0);
	check_lost_found(&f, "LOCAL");
	CHECK_INT_EQ(sync_fx_events(&f, JOURNAL_CONFLICT), 1);
	sync_fx_close(&f);
}

static void test_same_bytes_no_conflict(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };
	struct s3_object_info info;
	struct meta_inode in;
	uint64_t a;
	char *body;

	sync_fx_open(&f, NULL);
	a = base_then_dirty(&f, "BASE");
	/* another client wrote exactly what the file holds */
	sync_fx_put(&f, "t/a", "BASE");
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_U64_EQ(res.conflicts, 0);
	CHECK_INT_EQ(sync_fx_events(&f, JOURNAL_CONFLICT), 0);
	CHECK_INT_EQ(sync_fx_lookup(&f, META_ROOT_INO, "lost+found"), 0);
	CHECK_INT_EQ(sync_fx_lookup(&f, META_ROOT_INO, "a"), a);
	in = sync_fx_stat(&f, a);
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	body = sync_fx_object(&f, "t/a", &info);
	CHECK_STR_EQ(body, "BASE");
	free(body);
	CHECK_STR_EQ(in.etag, info.etag);
	sync_fx_close(&f);
}

static void test_listing_finds_conflict(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };
	uint64_t now;

	sync_fx_open(&f, NULL);
	CHECK_OK(import_dir(f.x, META_ROOT_INO, NULL));
	base_then_dirty(&f, "LOCAL");
	sync_fx_put(&f, "t/a", "theirs");
	/* the poll sees a new ETag under a dirty file: marked, not yet resolved */
	CHECK_OK(sync_fx_poll(&f));
	now = sync_fx_lookup(&f, META_ROOT_INO, "a");
	CHECK_INT_EQ(sync_fx_stat(&f, now).sync, META_S_CONFLICT);
	/* the commit pass resolves it without trying to upload */
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_U64_EQ(res.conflicts, 1);
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_PUT, "t/a", S3F_E_S3_PRECOND), 0);
	now = sync_fx_lookup(&f, META_ROOT_INO, "a");
	sync_fx_check_read(&f, now, "theirs");
	check_lost_found(&f, "LOCAL");
	CHECK_INT_EQ(sync_fx_events(&f, JOURNAL_CONFLICT), 1);
	sync_fx_close(&f);
}

int main(void)
{
	CHECK_RUN(test_upload_refused_s3_wins);
	CHECK_RUN(test_deleted_in_s3);
	CHECK_RUN(test_same_bytes_no_conflict);
	CHECK_RUN(test_listing_finds_conflict);
	return check_done();
}
