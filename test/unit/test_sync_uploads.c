/*
 * test_sync_uploads.c — multipart commits and the uploads they leave (sync/uploads.c,
 * through the S3 client's upload hook) against the in-memory S3 double: a large file goes
 * up in parts and nothing stays behind; an upload whose completion and abort both failed
 * stays recorded and is aborted at the next pass, which then commits the file.
 */
#include "sync_fx.h"
#include "base/err.h"
#include "engine/fio.h"
#include "s3/s3_mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BIG_LEN ((5u << 20) + 100)	/* two parts of Part_Size 5M */
#define SETTINGS "Part_Size = \"5M\"; Multipart_Threshold = \"5M\";"

static uint64_t big_file(struct sync_fx *f, char **data)
{
	struct ns_new nw = { .type = META_T_REG, .mode = 0644 };
	struct meta_inode in;
	struct iovec iov;
	struct fio_write w = { .iov = &iov, .iovcnt = 1 };
	size_t n = 0;

	*data = malloc(BIG_LEN);
	CHECK(*data != NULL);
	check_fill(*data, BIG_LEN, 3);
	iov = (struct iovec){ *data, BIG_LEN };
	CHECK_OK(ns_create(f->x->ns, META_ROOT_INO, "big", 3, &nw, &in, NULL));
	CHECK_OK(fio_write(f->x, in.ino, &w, &n, NULL));
	CHECK_U64_EQ(n, BIG_LEN);
	return in.ino;
}

static size_t uploads_left(struct sync_fx *f)
{
	struct s3_upload *u;
	size_t n;

	CHECK_OK(s3_mpu_list(f->s3, "t/", &u, &n));
	s3_uploads_free(u, n);
	return n;
}

static void check_big(struct sync_fx *f, uint64_t ino, const char *data)
{
	struct s3_buf b = { 0 };
	struct s3_object_info info;
	struct meta_inode in = sync_fx_stat(f, ino);

	CHECK_OK(s3_object_get_buf(f->s3, "t/big", 0, UINT64_MAX, &b, NULL, &info));
	CHECK_U64_EQ(b.len, BIG_LEN);
	CHECK(memcmp(b.data, data, BIG_LEN) == 0);
	free(b.data);
	CHECK_MSG(strlen(info.etag) > 2 && strcmp(info.etag + strlen(info.etag) - 2, "-2") == 0,
		  "etag %s is not a two-part one", info.etag);
	CHECK_INT_EQ(in.sync, META_S_CLEAN);
	CHECK_STR_EQ(in.etag, info.etag);
}

static void test_multipart_commit(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };
	uint64_t ino;
	char *data;

	sync_fx_open(&f, SETTINGS);
	ino = big_file(&f, &data);
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_U64_EQ(res.committed, 1);
	check_big(&f, ino, data);
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_MPU_PART, "t/big", 0), 2);
	CHECK_INT_EQ(uploads_left(&f), 0);
	free(data);
	sync_fx_close(&f);
}

static void test_orphan_aborted_next_pass(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };
	uint64_t ino;
	char *data;

	sync_fx_open(&f, SETTINGS);
	ino = big_file(&f, &data);
	/* the completion fails, and so does the abort after it: the parts stay */
	CHECK_OK(s3_mem_fail(f.s3, S3_OP_MPU_COMPLETE, "t/big", 1, S3F_E_S3_SERVER));
	CHECK_OK(s3_mem_fail(f.s3, S3_OP_MPU_ABORT, "t/big", 1, S3F_E_S3_NET));
	CHECK_INT_EQ(sync_fx_commit(&f, &res), S3F_E_S3_SERVER);
	CHECK_U64_EQ(res.failed, 1);
	CHECK_INT_EQ(uploads_left(&f), 1);
	CHECK_INT_EQ(sync_fx_stat(&f, ino).sync, META_S_DIRTY);
	/* the next pass aborts it first, then uploads the file anew */
	memset(&res, 0, sizeof res);
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_U64_EQ(res.committed, 1);
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_MPU_ABORT, "t/big", 0), 1);
	CHECK_INT_EQ(uploads_left(&f), 0);
	check_big(&f, ino, data);
	free(data);
	sync_fx_close(&f);
}

int main(void)
{
	CHECK_RUN(test_multipart_commit);
	CHECK_RUN(test_orphan_aborted_next_pass);
	return check_done();
}
