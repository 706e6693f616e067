/*
 * test_sync_evict.c — the eviction pass (sync/evict.c) with its data in the in-memory S3
 * double: only clean data S3 holds is dropped (and read back from S3 afterwards); dirty
 * data, data never uploaded and data in use (its lock held) stay.
 */
#include "sync_fx.h"
#include "base/err.h"
#include "s3/s3_mem.h"
#include "store/data.h"
#include "store/journal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DAY_NS (86400LL * 1000000000LL)

/* An eviction pass at a time when every file is past Evict_After_Days (30). */
static void evict_all_old(struct sync_fx *f, struct sync_evict_result *er)
{
	pthread_mutex_lock(&f->se.evict_lock);
	int rc = sync_evict_pass(&f->se, meta_now_ns() + 31 * DAY_NS, false, 0, er);

	pthread_mutex_unlock(&f->se.evict_lock);
	CHECK_OK(rc);
}

static void test_only_clean_data_goes(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };
	struct sync_evict_result er;
	uint64_t clean, dirty, fresh;

	sync_fx_open(&f, NULL);
	clean = sync_fx_file(&f, META_ROOT_INO, "clean", "in S3 too");
	dirty = sync_fx_file(&f, META_ROOT_INO, "dirty", "v1");
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_U64_EQ(res.committed, 2);
	sync_fx_write(&f, dirty, 0, "v2 not yet in S3");
	fresh = sync_fx_file(&f, META_ROOT_INO, "fresh", "never uploaded");

	evict_all_old(&f, &er);
	CHECK_U64_EQ(er.by_age, 1);
	CHECK_U64_EQ(er.busy, 2);
	CHECK_INT_EQ(sync_fx_stat(&f, clean).data, META_D_NONE);
	CHECK_INT_EQ(sync_fx_stat(&f, dirty).data, META_D_FULL);
	CHECK_INT_EQ(sync_fx_stat(&f, fresh).data, META_D_FULL);
	CHECK_INT_EQ(sync_fx_events(&f, JOURNAL_EVICT), 1);

	/* the dirty and new files read from local data; the evicted one from S3 */
	s3_mem_log_clear(f.s3);
	sync_fx_check_read(&f, dirty, "v2 not yet in S3");
	sync_fx_check_read(&f, fresh, "never uploaded");
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_GET, NULL, S3_MEM_ANY_RC), 0);
	sync_fx_check_read(&f, clean, "in S3 too");
	CHECK_INT_EQ(s3_mem_count(f.s3, S3_OP_GET, "t/clean", 0), 1);
	/* and what was dirty goes up intact */
	memset(&res, 0, sizeof res);
	CHECK_OK(sync_fx_commit(&f, &res));
	CHECK_U64_EQ(res.committed, 2);
	char *body = sync_fx_object(&f, "t/dirty", NULL);

	CHECK_STR_EQ(body, "v2 not yet in S3");
	free(body);
	sync_fx_close(&f);
}

static void test_in_use_stays(void)
{
	struct sync_fx f;
	struct sync_result res = { 0 };
	struct sync_evict_result er;
	uint64_t a;
	int fd;

	sync_fx_open(&f, NULL);
	a = sync_fx_file(&f, META_ROOT_INO, "a", "busy bytes");
	CHECK_OK(sync_fx_commit(&f, &res));
	/* a reader holds the file's data lock */
	CHECK_OK(data_file_open_locked(f.x->data, a, 0, false, &fd));
	evict_all_old(&f, &er);
	data_file_unlock(fd);
	data_file_close(f.x->data, fd);
	CHECK_U64_EQ(er.by_age, 0);
	CHECK_U64_EQ(er.busy, 1);
	CHECK_INT_EQ(sync_fx_stat(&f, a).data, META_D_FULL);
	/* once let go, it may go */
	evict_all_old(&f, &er);
	CHECK_U64_EQ(er.by_age, 1);
	CHECK_INT_EQ(sync_fx_stat(&f, a).data, META_D_NONE);
	sync_fx_check_read(&f, a, "busy bytes");
	sync_fx_close(&f);
}

int main(void)
{
	CHECK_RUN(test_only_clean_data_goes);
	CHECK_RUN(test_in_use_stays);
	return check_done();
}
