/*
 * test_sync_notify.c — S3 event notifications applied by the daemon (sync/notify.c)
 * against the in-memory S3 double: a record POSTed for an object created or deleted by
 * another client re-lists its directory, so the file view shows the change without a
 * poll; a record of another bucket or prefix costs nothing, and neither does one the
 * store already shows (our own upload coming back).
 */
#include "sync_fx.h"
#include "base/err.h"
#include "engine/import.h"
#include "s3/s3_mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct notify_fx {
	struct sync_fx f;
	struct syncd d;
	struct sync_notify *n;
};

static void nfx_open(struct notify_fx *nf)
{
	memset(nf, 0, sizeof *nf);
	sync_fx_open(&nf->f, NULL);
	nf->d.conf = nf->f.conf;
	nf->d.exports = &nf->f.se;
	nf->d.n_exports = 1;
	CHECK_OK(import_dir(nf->f.x, META_ROOT_INO, NULL));
	CHECK_OK(sync_notify_start(&nf->d, &nf->n));
}

static void nfx_close(struct notify_fx *nf)
{
	sync_notify_stop(nf->n);
	sync_fx_close(&nf->f);
}

/* POST one record, as the HTTP thread hands it over; the answer must be 200. */
static void post(struct notify_fx *nf, const char *event, const char *bucket, const char *key,
		 const char *etag, unsigned size)
{
	struct http_req req = { .method = "POST", .path = "/" };
	struct http_response resp = { 0 };
	char body[2048];
	int len;

	len = snprintf(body, sizeof body,
		       "{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\","
		       "\"eventName\":\"%s\",\"s3\":{\"bucket\":{\"name\":\"%s\"},"
		       "\"object\":{\"key\":\"%s\",\"size\":%u,\"eTag\":\"%s\","
		       "\"sequencer\":\"01\"}}}]}", event, bucket, key, size, etag);
	CHECK(len > 0 && (size_t)len < sizeof body);
	sync_notify_post(nf->n, &req, body, (size_t)len, &resp);
	free(resp.body);
	CHECK_INT_EQ(resp.status, 200);
}

static void nap_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Wait (up to 5 s) until name in the root is there (want) or not. */
static bool wait_name(struct notify_fx *nf, const char *name, bool want)
{
	for (int i = 0; i < 250; i++) {
		if ((sync_fx_lookup(&nf->f, META_ROOT_INO, name) != 0) == want)
			return true;
		nap_ms(20);
	}
	return false;
}

static void test_created_and_removed(void)
{
	struct notify_fx nf;
	struct s3_object_info info;
	char *body;

	nfx_open(&nf);
	s3_mem_log_clear(nf.f.s3);
	sync_fx_put(&nf.f, "t/new", "fresh");
	body = sync_fx_object(&nf.f, "t/new", &info);
	free(body);
	post(&nf, "ObjectCreated:Put", "mem", "t/new", info.etag, 5);
	CHECK_MSG(wait_name(&nf, "new", true), "the created object did not show");
	sync_fx_check_read(&nf.f, sync_fx_lookup(&nf.f, META_ROOT_INO, "new"), "fresh");
	/* one LIST of the root for it, no poll */
	CHECK_INT_EQ(s3_mem_count(nf.f.s3, S3_OP_LIST, "t/", 0), 1);

	CHECK_OK(s3_object_delete(nf.f.s3, "t/new"));
	post(&nf, "ObjectRemoved:Delete", "mem", "t/new", "", 0);
	CHECK_MSG(wait_name(&nf, "new", false), "the deleted object did not go");
	nfx_close(&nf);
}

static void test_ignored_and_already_applied(void)
{
	struct notify_fx nf;
	struct sync_result res = { 0 };
	struct s3_object_info info;
	char *body;

	nfx_open(&nf);
	sync_fx_file(&nf.f, META_ROOT_INO, "ours", "uploaded by us");
	CHECK_OK(sync_fx_commit(&nf.f, &res));
	body = sync_fx_object(&nf.f, "t/ours", &info);
	free(body);
	s3_mem_log_clear(nf.f.s3);
	/* another bucket, another prefix, and our own upload coming back */
	post(&nf, "ObjectCreated:Put", "other-bucket", "t/x", "0123", 1);
	post(&nf, "ObjectCreated:Put", "mem", "elsewhere/x", "0123", 1);
	post(&nf, "ObjectCreated:Put", "mem", "t/ours", info.etag, (unsigned)info.size);
	/* well past the coalescing window: a record that needed a listing had it by now */
	nap_ms(600);
	CHECK_INT_EQ(s3_mem_count(nf.f.s3, S3_OP_LIST, NULL, S3_MEM_ANY_RC), 0);
	/* while one that does need it gets it */
	sync_fx_put(&nf.f, "t/marker", "m");
	post(&nf, "ObjectCreated:Put", "mem", "t/marker", "", 1);
	CHECK(wait_name(&nf, "marker", true));
	CHECK_INT_EQ(s3_mem_count(nf.f.s3, S3_OP_LIST, NULL, S3_MEM_ANY_RC), 1);
	CHECK_INT_EQ(sync_fx_lookup(&nf.f, META_ROOT_INO, "x"), 0);
	nfx_close(&nf);
}

int main(void)
{
	CHECK_RUN(test_created_and_removed);
	CHECK_RUN(test_ignored_and_already_applied);
	return check_done();
}
