/*
 * test_s3_mem.c — the in-memory S3 double (core/s3/s3_mem.h) keeps the S3 semantics the
 * daemon's tests rely on: ETags, conditions, ranged GETs, LIST pages, copies, deletes,
 * multipart uploads; and its recording, scripted faults and holds.
 */
#include "check.h"
#include "base/err.h"
#include "s3/s3.h"
#include "s3/s3_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct s3_client *mem_open(void)
{
	struct s3_client *c;

	CHECK_OK(s3_client_open_mem(NULL, &c));
	CHECK(s3_mem_is(c));
	return c;
}

static void put(struct s3_client *c, const char *key, const char *data)
{
	CHECK_OK(s3_object_put_buf(c, key, data, strlen(data), NULL, NULL));
}

static void test_put_get_etag(void)
{
	struct s3_client *c = mem_open();
	struct s3_meta_pair meta = { "mode", "0644" };
	struct s3_put_opts o = { .content_type = "text/plain", .n_meta = 1, .meta = &meta };
	struct s3_object_info info;
	struct s3_buf b = { 0 };

	CHECK_OK(s3_object_put_buf(c, "k", "hello", 5, &o, &info));
	CHECK_STR_EQ(info.etag, "5d41402abc4b2a76b9719d911017c592");	/* MD5("hello") */
	CHECK_OK(s3_object_head(c, "k", &info));
	CHECK_U64_EQ(info.size, 5);
	CHECK_STR_EQ(info.content_type, "text/plain");
	CHECK_INT_EQ(info.n_meta, 1);
	CHECK_STR_EQ(info.meta[0].value, "0644");
	CHECK(info.last_modified > 0);
	/* ranges: inside, clipped at the end, past the end (0 bytes) */
	CHECK_OK(s3_object_get_buf(c, "k", 1, 3, &b, NULL, NULL));
	CHECK_U64_EQ(b.len, 3);
	CHECK_MEM_EQ(b.data, "ell", 3);
	CHECK_OK(s3_object_get_buf(c, "k", 3, UINT64_MAX, &b, NULL, NULL));
	CHECK_U64_EQ(b.len, 2);
	CHECK_OK(s3_object_get_buf(c, "k", 9, 4, &b, NULL, NULL));
	CHECK_U64_EQ(b.len, 0);
	CHECK_INT_EQ(s3_object_get_buf(c, "nope", 0, 1, &b, NULL, NULL), ENOENT);
	CHECK_INT_EQ(s3_object_head(c, "nope", &info), ENOENT);
	free(b.data);
	s3_client_close(c);
}

static void test_conditions(void)
{
	struct s3_client *c = mem_open();
	struct s3_put_opts o = { .cond.if_none_match_any = true };
	struct s3_object_info v1, v2, cur;
	struct s3_buf b = { 0 };
	struct s3_cond pin;

	CHECK_OK(s3_object_put_buf(c, "k", "one", 3, &o, &v1));
	CHECK_INT_EQ(s3_object_put_buf(c, "k", "two", 3, &o, NULL), S3F_E_S3_PRECOND);
	o.cond = (struct s3_cond){ .if_match = "\"0000\"" };
	CHECK_INT_EQ(s3_object_put_buf(c, "k", "two", 3, &o, NULL), S3F_E_S3_PRECOND);
	CHECK_INT_EQ(s3_object_put_buf(c, "missing", "x", 1, &o, NULL), S3F_E_S3_PRECOND);
	o.cond.if_match = v1.etag;
	CHECK_OK(s3_object_put_buf(c, "k", "two", 3, &o, &v2));
	/* reads pinned to a version */
	pin.if_match = v1.etag;
	pin.if_none_match_any = false;
	CHECK_INT_EQ(s3_object_get_buf(c, "k", 0, 3, &b, &pin, NULL), S3F_E_S3_PRECOND);
	pin.if_match = v2.etag;
	CHECK_OK(s3_object_get_buf(c, "k", 0, 3, &b, &pin, NULL));
	/* conditional deletes */
	CHECK_INT_EQ(s3_object_delete_if(c, "k", v1.etag, &cur), S3F_E_S3_PRECOND);
	CHECK_STR_EQ(cur.etag, v2.etag);
	CHECK_OK(s3_object_delete_if(c, "k", v2.etag, NULL));
	CHECK_INT_EQ(s3_object_delete_if(c, "k", v2.etag, NULL), ENOENT);
	CHECK_OK(s3_object_delete(c, "k"));	/* missing: still success */
	free(b.data);
	s3_client_close(c);
}

static void test_copy(void)
{
	struct s3_client *c = mem_open();
	struct s3_meta_pair m1 = { "a", "1" }, m2 = { "b", "2" };
	struct s3_put_opts o = { .n_meta = 1, .meta = &m1 }, r = { .n_meta = 1, .meta = &m2 };
	struct s3_object_info src, dst;
	struct s3_cond stale = { .if_match = "ffff" }, absent = { .if_none_match_any = true };

	CHECK_OK(s3_object_put_buf(c, "src", "data", 4, &o, &src));
	CHECK_OK(s3_object_copy(c, "src", "dst", NULL, NULL, &dst));
	CHECK_STR_EQ(dst.etag, src.etag);
	CHECK_OK(s3_object_head(c, "dst", &dst));
	CHECK_STR_EQ(dst.meta[0].name, "a");		/* COPY keeps metadata */
	CHECK_OK(s3_object_copy(c, "src", "dst", &r, NULL, NULL));
	CHECK_OK(s3_object_head(c, "dst", &dst));
	CHECK_STR_EQ(dst.meta[0].name, "b");		/* REPLACE */
	CHECK_INT_EQ(s3_object_copy(c, "src", "x", NULL, &stale, NULL), S3F_E_S3_PRECOND);
	CHECK_INT_EQ(s3_object_copy_if(c, "src", "dst", NULL, NULL, &absent, NULL),
		     S3F_E_S3_PRECOND);
	CHECK_OK(s3_object_copy_if(c, "src", "new", NULL, NULL, &absent, NULL));
	CHECK_INT_EQ(s3_object_copy(c, "none", "x", NULL, NULL, NULL), ENOENT);
	CHECK_INT_EQ(s3_object_head(c, "x", &dst), ENOENT);
	s3_client_close(c);
}

static void test_list_pages(void)
{
	struct s3_client *c = mem_open();
	static const char *const keys[] = { "p/b", "p/a", "p/d/1", "p/d/2", "p/e", "q", "p/\xc3\xa9" };
	struct s3_list_req req = { .prefix = "p/", .delimiter = "/", .max_keys = 2 };
	struct s3_list_page pg;
	char got[256] = "";
	char *token = NULL;

	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		put(c, keys[i], "x");
	do {
		req.continuation_token = token;
		CHECK_OK(s3_list(c, &req, &pg));
		CHECK(pg.n_entries + pg.n_prefixes <= 2);
		for (size_t i = 0; i < pg.n_entries; i++)
			strcat(strcat(got, pg.entries[i].key), " ");
		for (size_t i = 0; i < pg.n_prefixes; i++)
			strcat(strcat(got, pg.prefixes[i]), "+ ");
		strcat(got, "| ");
		free(token);
		token = pg.truncated ? strdup(pg.next_token) : NULL;
		s3_list_page_free(&pg);
	} while (token);
	/* pages of two in bytewise order (a page's common prefixes after its keys); p/d/
	 * once for both its keys; nothing outside the prefix */
	CHECK_STR_EQ(got, "p/a p/b | p/e p/d/+ | p/\xc3\xa9 | ");
	req = (struct s3_list_req){ .start_after = "p/b" };
	CHECK_OK(s3_list(c, &req, &pg));
	CHECK_INT_EQ(pg.n_entries, 5);
	CHECK_STR_EQ(pg.entries[0].key, "p/d/1");
	CHECK(!pg.truncated);
	s3_list_page_free(&pg);
	s3_client_close(c);
}

struct hooks {
	char etag[S3_ETAG_MAX];
	int started, gone;
};

static int etag_hook(void *arg, const char *key, const char *etag)
{
	(void)key;
	snprintf(((struct hooks *)arg)->etag, S3_ETAG_MAX, "%s", etag);
	return 0;
}

static int upload_hook(void *arg, enum s3_upload_event ev, const char *key, const char *id)
{
	struct hooks *h = arg;

	(void)key;
	(void)id;
	if (ev == S3_UPLOAD_STARTED)
		h->started++;
	else
		h->gone++;
	return 0;
}

static void test_multipart(void)
{
	struct s3_config cfg = { .part_size = 5u << 20, .multipart_threshold = 6u << 20 };
	size_t len = (6u << 20) + 10;
	char *data = malloc(len), path[4096];
	struct hooks h = { .started = 0 };
	struct s3_put_opts o = { .etag_hook = etag_hook, .etag_hook_arg = &h,
				 .upload_hook = upload_hook, .upload_hook_arg = &h };
	struct s3_object_info info;
	struct s3_part parts[2];
	struct s3_upload *ups;
	struct s3_client *c;
	char id[S3_UPLOAD_ID_MAX];
	size_t n;
	int fd;

	CHECK(data != NULL);
	check_fill(data, len, 7);
	snprintf(path, sizeof path, "%s/body", check_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, data, len) == (ssize_t)len);
	CHECK_OK(s3_client_open_mem(&cfg, &c));
	CHECK_OK(s3_object_put_fd(c, "big", fd, 0, len, &o, &info));
	CHECK(strlen(info.etag) == 34 && strcmp(info.etag + 32, "-2") == 0);
	CHECK_STR_EQ(h.etag, info.etag);
	CHECK_INT_EQ(h.started, 1);
	CHECK_INT_EQ(h.gone, 1);
	CHECK_INT_EQ(s3_mem_count(c, S3_OP_MPU_PART, "big", 0), 2);
	/* the same parts by hand: the same ETag; a small part but the last is refused */
	CHECK_OK(s3_mpu_create(c, "b2", NULL, id));
	CHECK_OK(s3_mpu_part_fd(c, "b2", id, 1, fd, 0, 5u << 20, &parts[0]));
	CHECK_OK(s3_mpu_part_fd(c, "b2", id, 2, fd, 5u << 20, len - (5u << 20), &parts[1]));
	CHECK_OK(s3_mpu_list(c, "b", &ups, &n));
	CHECK_INT_EQ(n, 1);
	CHECK_STR_EQ(ups[0].upload_id, id);
	s3_uploads_free(ups, n);
	CHECK_OK(s3_mpu_complete(c, "b2", id, parts, 2, NULL, &info));
	CHECK_STR_EQ(info.etag, h.etag);
	CHECK_INT_EQ(s3_mpu_abort(c, "b2", id), S3F_E_S3_NOUPLOAD);
	CHECK_OK(s3_mpu_create(c, "b3", NULL, id));
	CHECK_OK(s3_mpu_part_fd(c, "b3", id, 1, fd, 0, 10, &parts[0]));
	CHECK_OK(s3_mpu_part_fd(c, "b3", id, 2, fd, 10, 10, &parts[1]));
	CHECK_INT_EQ(s3_mpu_complete(c, "b3", id, parts, 2, NULL, NULL), S3F_E_S3_CLIENT);
	CHECK_OK(s3_mpu_abort(c, "b3", id));
	/* what went up is what was read */
	struct s3_buf b = { 0 };

	CHECK_OK(s3_object_get_buf(c, "big", 0, UINT64_MAX, &b, NULL, NULL));
	CHECK_U64_EQ(b.len, len);
	CHECK_MEM_EQ(b.data, data, len);
	free(b.data);
	close(fd);
	free(data);
	s3_client_close(c);
}

static void test_batch_deletes(void)
{
	struct s3_client *c = mem_open();
	const char *keys[] = { "a", "b", "c" };
	struct s3_object_info ia, ib;
	const char *etags[3];
	int rcs[3];
	struct s3_batch *b;
	int r1, r2;

	CHECK_OK(s3_batch_open(c, &b));
	CHECK_OK(s3_batch_put_buf(b, "a", "1", 1, NULL, &ia, &r1));
	CHECK_OK(s3_batch_put_buf(b, "b", "2", 1, NULL, &ib, &r2));
	CHECK_OK(s3_batch_wait(b));
	CHECK_OK(r1);
	CHECK_OK(r2);
	etags[0] = ia.etag;
	etags[1] = ia.etag;	/* b holds another version */
	etags[2] = ia.etag;	/* c holds nothing */
	CHECK_OK(s3_objects_delete_if(c, keys, etags, 3, rcs));
	CHECK_OK(rcs[0]);
	CHECK_INT_EQ(rcs[1], S3F_E_S3_PRECOND);
	CHECK_INT_EQ(rcs[2], ENOENT);
	CHECK_OK(s3_objects_delete(c, keys, 3, rcs));
	CHECK_INT_EQ(s3_object_head(c, "b", &ib), ENOENT);
	s3_client_close(c);
}

static void test_faults_and_refusals(void)
{
	struct s3_client *c = mem_open();
	struct s3_fault_rule rule = { .op = -1, .action = S3_FAULT_NET };
	struct s3_mem_call calls[4];
	char *url;

	CHECK_OK(s3_mem_fail(c, S3_OP_PUT, "k", 2, S3F_E_S3_SERVER));
	CHECK_INT_EQ(s3_object_put_buf(c, "k", "x", 1, NULL, NULL), S3F_E_S3_SERVER);
	CHECK_OK(s3_object_put_buf(c, "other", "x", 1, NULL, NULL));
	CHECK_INT_EQ(s3_object_put_buf(c, "k", "x", 1, NULL, NULL), S3F_E_S3_SERVER);
	CHECK_OK(s3_object_put_buf(c, "k", "x", 1, NULL, NULL));
	CHECK_INT_EQ(s3_mem_calls(c, 0, calls, 4), 4);
	CHECK_INT_EQ(calls[0].op, S3_OP_PUT);
	CHECK_STR_EQ(calls[0].key, "k");
	CHECK_INT_EQ(calls[0].rc, S3F_E_S3_SERVER);
	CHECK_STR_EQ(calls[1].key, "other");
	CHECK_OK(calls[3].rc);
	CHECK_INT_EQ(s3_mem_count(c, S3_OP_PUT, "k", S3_MEM_ANY_RC), 3);
	s3_mem_log_clear(c);
	CHECK_INT_EQ(s3_mem_count(c, S3_OP_PUT, NULL, S3_MEM_ANY_RC), 0);
	/* what only a real endpoint has */
	CHECK_INT_EQ(s3_presign_get(c, "k", 60, &url), ENOTSUP);
	CHECK_INT_EQ(s3_fault_set(c, &rule, 1), ENOTSUP);
	s3_client_close(c);
}

struct held_put {
	struct s3_client *c;
	int rc;
};

static void *held_put_run(void *arg)
{
	struct held_put *h = arg;

	h->rc = s3_object_put_buf(h->c, "k", "late", 4, NULL, NULL);
	return NULL;
}

static void test_hold(void)
{
	struct s3_client *c = mem_open();
	struct held_put h = { .c = c, .rc = -1 };
	struct s3_buf b = { 0 };
	pthread_t t;

	put(c, "k", "early");
	CHECK_OK(s3_mem_hold(c, S3_OP_PUT, "k"));
	CHECK_INT_EQ(s3_mem_hold(c, S3_OP_GET, NULL), EBUSY);
	CHECK_OK(pthread_create(&t, NULL, held_put_run, &h));
	CHECK_OK(s3_mem_hold_wait(c, 10000));
	/* held before it landed: others go on meanwhile */
	CHECK_OK(s3_object_get_buf(c, "k", 0, UINT64_MAX, &b, NULL, NULL));
	CHECK_MEM_EQ(b.data, "early", 5);
	s3_mem_release(c);
	CHECK_OK(pthread_join(t, NULL));
	CHECK_OK(h.rc);
	CHECK_OK(s3_object_get_buf(c, "k", 0, UINT64_MAX, &b, NULL, NULL));
	CHECK_MEM_EQ(b.data, "late", 4);
	/* nothing arrives: the wait says so */
	CHECK_OK(s3_mem_hold(c, S3_OP_DELETE, NULL));
	CHECK_INT_EQ(s3_mem_hold_wait(c, 50), ETIMEDOUT);
	s3_mem_release(c);
	free(b.data);
	s3_client_close(c);
}

int main(void)
{
	CHECK_RUN(test_put_get_etag);
	CHECK_RUN(test_conditions);
	CHECK_RUN(test_copy);
	CHECK_RUN(test_list_pages);
	CHECK_RUN(test_multipart);
	CHECK_RUN(test_batch_deletes);
	CHECK_RUN(test_faults_and_refusals);
	CHECK_RUN(test_hold);
	return check_done();
}
