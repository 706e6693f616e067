/*
 * test_s3_fault.c — retries, backoff, error mapping and statistics under injected faults,
 * against the real RGW ($RGW_TEST_DIR/env). Faults are applied where an attempt begins
 * (s3_fault_set), so everything after that — classification, backoff timers, resending
 * bodies, observer statistics — is the production path. Byte-exact results are checked
 * after every recovered failure.
 */
#include "check.h"
#include "base/err.h"
#include "s3/s3.h"
#include "s3/s3_int.h"
#include "base/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <unistd.h>

static struct check_rgw rgw;
static char prefix[128];
static struct s3_client *C;

#define MAX_RETRIES 4
#define BASE_MS 5
#define CAP_MS 40

/* Everything the observer saw, in order (written on the I/O thread). */
static pthread_mutex_t obs_mu = PTHREAD_MUTEX_INITIALIZER;
static struct s3_call_stats obs[4096];
static unsigned obs_n;

static void observer(void *arg, const struct s3_call_stats *st)
{
	(void)arg;
	pthread_mutex_lock(&obs_mu);
	if (obs_n < sizeof obs / sizeof obs[0])
		obs[obs_n] = *st;
	obs_n++;
	pthread_mutex_unlock(&obs_mu);
}

static unsigned obs_mark(void)
{
	pthread_mutex_lock(&obs_mu);
	unsigned n = obs_n;
	pthread_mutex_unlock(&obs_mu);
	return n;
}

/* The stats of the only call made since mark (fails the case otherwise). */
static struct s3_call_stats obs_one(unsigned mark)
{
	struct s3_call_stats st;
	unsigned n;

	pthread_mutex_lock(&obs_mu);
	n = obs_n;
	st = obs[mark];
	pthread_mutex_unlock(&obs_mu);
	CHECK_MSG(n == mark + 1, "expected 1 observed call, saw %u", n - mark);
	return st;
}

static void cfg_init(struct s3_config *cfg)
{
	check_rgw_s3_config(&rgw, cfg);
	cfg->max_retries = MAX_RETRIES;
	cfg->retry_base_ms = BASE_MS;
	cfg->retry_max_ms = CAP_MS;
	cfg->observer = observer;
}

static char *K(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *K(const char *fmt, ...)
{
	static char bufs[8][512];
	static int i;
	char *b = bufs[i++ & 7];
	va_list ap;
	int n = snprintf(b, sizeof bufs[0], "%s", prefix);

	va_start(ap, fmt);
	vsnprintf(b + n, sizeof bufs[0] - (size_t)n, fmt, ap);
	va_end(ap);
	return b;
}

static uint64_t ms_since(uint64_t t0)
{
	return ((uint64_t)clock_mono_ns() - t0) / 1000000u;
}

static void faults(const struct s3_fault_rule *r, size_t n)
{
	CHECK_OK(s3_fault_set(C, r, n));
}

static unsigned fired(void)
{
	unsigned f[1];

	s3_fault_fired(C, f, 1);
	return f[0];
}

/* ---- cases ---- */

static void test_500_once_then_ok(void)
{
	const struct s3_fault_rule r = { .op = S3_OP_PUT, .nth = 1, .count = 1,
					 .action = S3_FAULT_STATUS, .status = 500 };
	char data[3000];
	struct s3_buf b = { 0 };
	struct s3_call_stats st;
	unsigned m;

	check_fill(data, sizeof data, 1);
	faults(&r, 1);
	m = obs_mark();
	CHECK_OK(s3_object_put_buf(C, K("f500/x"), data, sizeof data, NULL, NULL));
	st = obs_one(m);
	CHECK_INT_EQ(fired(), 1);
	CHECK_INT_EQ(st.retries, 1);
	CHECK_INT_EQ(st.rc, 0);
	CHECK_INT_EQ(st.http_status, 200);
	CHECK_INT_EQ(st.op, S3_OP_PUT);
	CHECK_U64_EQ(st.bytes_sent, sizeof data);	/* the injected attempt sent nothing */
	CHECK(st.latency_ns > 0);
	faults(NULL, 0);
	CHECK_OK(s3_object_get_buf(C, K("f500/x"), 0, UINT64_MAX, &b, NULL, NULL));
	bool same = b.len == sizeof data && memcmp(b.data, data, sizeof data) == 0;
	free(b.data);
	CHECK(same);
	CHECK_OK(s3_object_delete(C, K("f500/x")));
}

/* The third GET fails with 500: only that call retries. */
static void test_nth_call(void)
{
	const struct s3_fault_rule r = { .op = S3_OP_GET, .nth = 3, .count = 1,
					 .action = S3_FAULT_STATUS, .status = 500 };
	unsigned retries[5];

	CHECK_OK(s3_object_put_buf(C, K("nth/x"), "abc", 3, NULL, NULL));
	faults(&r, 1);
	for (int i = 0; i < 5; i++) {
		struct s3_buf b = { 0 };
		unsigned m = obs_mark();

		CHECK_OK(s3_object_get_buf(C, K("nth/x"), 0, UINT64_MAX, &b, NULL, NULL));
		bool same = b.len == 3 && memcmp(b.data, "abc", 3) == 0;
		free(b.data);
		CHECK(same);
		retries[i] = obs_one(m).retries;
	}
	CHECK(retries[0] == 0 && retries[1] == 0 && retries[2] == 1 && retries[3] == 0 &&
	      retries[4] == 0);
	CHECK_INT_EQ(fired(), 1);
	faults(NULL, 0);
	CHECK_OK(s3_object_delete(C, K("nth/x")));
}

static void test_slowdown_k_times(void)
{
	const unsigned k = 3;
	const struct s3_fault_rule r = { .op = S3_OP_HEAD, .nth = 1, .count = k,
					 .action = S3_FAULT_STATUS, .status = 503 };
	struct s3_object_info i;
	struct s3_call_stats st;
	uint64_t t0;
	unsigned m;

	CHECK_OK(s3_object_put_buf(C, K("slow/x"), "abc", 3, NULL, NULL));
	faults(&r, 1);
	m = obs_mark();
	t0 = (uint64_t)clock_mono_ns();
	CHECK_OK(s3_object_head(C, K("slow/x"), &i));
	uint64_t ms = ms_since(t0);
	st = obs_one(m);
	CHECK_INT_EQ(fired(), k);
	CHECK_INT_EQ(st.retries, k);
	CHECK_U64_EQ(i.size, 3);
	/* full jitter: each wait is in [0, min(cap, base * 2^n)] — 5 + 10 + 20 ms at most */
	CHECK_MSG(ms < 35 + 500, "took %" PRIu64 " ms", ms);
	faults(NULL, 0);
	CHECK_OK(s3_object_delete(C, K("slow/x")));
}

static void test_permanent_500(void)
{
	const struct s3_fault_rule r = { .op = -1, .action = S3_FAULT_STATUS, .status = 500 };
	struct s3_call_stats st;
	uint64_t t0, ms;
	unsigned m;

	faults(&r, 1);
	m = obs_mark();
	t0 = (uint64_t)clock_mono_ns();
	int rc = s3_object_put_buf(C, K("perm/x"), "abc", 3, NULL, NULL);
	ms = ms_since(t0);
	st = obs_one(m);
	faults(NULL, 0);
	CHECK_INT_EQ(rc, S3F_E_S3_SERVER);
	CHECK_INT_EQ(st.retries, MAX_RETRIES);
	CHECK_INT_EQ(st.rc, S3F_E_S3_SERVER);
	CHECK_INT_EQ(st.http_status, 500);
	/* backoff is bounded by base * (1 + 2 + 4 + ...) capped at CAP_MS: 5+10+20+40 = 75 ms */
	CHECK_MSG(ms < 75 + 500, "took %" PRIu64 " ms", ms);
	CHECK_INT_EQ(s3_object_head(C, K("perm/x"), NULL), ENOENT);
}

/* With a large base the total time really is the backoff (and bounded by the cap). */
static void test_backoff_bounds(void)
{
	struct s3_config cfg;
	struct s3_client *c;
	const struct s3_fault_rule r = { .op = -1, .action = S3_FAULT_STATUS, .status = 503 };
	uint64_t total = 0, worst = 0;

	cfg_init(&cfg);
	cfg.max_retries = 3;
	cfg.retry_base_ms = 40;
	cfg.retry_max_ms = 60;
	CHECK_OK(s3_client_open(&cfg, &c));
	CHECK_OK(s3_fault_set(c, &r, 1));
	for (int i = 0; i < 8; i++) {
		uint64_t t0 = (uint64_t)clock_mono_ns(), ms;
		int rc = s3_object_head(c, K("bo/x"), NULL);

		ms = ms_since(t0);
		total += ms;
		worst = ms > worst ? ms : worst;
		if (rc != S3F_E_S3_SERVER) {
			s3_client_close(c);
			CHECK_INT_EQ(rc, S3F_E_S3_SERVER);
		}
	}
	s3_client_close(c);
	/* per call: waits in [0,40] + [0,60] + [0,60]: at most 160 ms, on average 80 ms */
	CHECK_MSG(worst < 160 + 100, "worst %" PRIu64 " ms", worst);
	CHECK_MSG(total / 8 > 20, "mean %" PRIu64 " ms: no backoff happened", total / 8);
}

static int tmp_fd(const char *name)
{
	char path[4300];

	snprintf(path, sizeof path, "%s/%s", check_tmpdir(), name);
	return open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
}

/* A GET broken after 1 MiB of its body is retried from the start: the result is exact. */
static void test_reset_mid_get(void)
{
	const size_t size = 3 << 20;
	const struct s3_fault_rule r = { .op = S3_OP_GET, .nth = 1, .count = 1,
					 .action = S3_FAULT_RESET, .after_bytes = 1 << 20 };
	char *data = malloc(size), *back = malloc(size);
	int fd = tmp_fd("get");
	uint64_t got = 0;
	struct s3_call_stats st;
	unsigned m;

	CHECK(data && back && fd >= 0);
	check_fill(data, size, 2);
	/* the file starts with stale bytes that the retry must overwrite exactly */
	memset(back, 0xAA, size);
	CHECK(pwrite(fd, back, size, 0) == (ssize_t)size);
	CHECK_OK(s3_object_put_buf(C, K("reset/x"), data, size, NULL, NULL));
	faults(&r, 1);
	m = obs_mark();
	CHECK_OK(s3_object_get_fd(C, K("reset/x"), 0, UINT64_MAX, fd, 0, NULL, &got, NULL));
	st = obs_one(m);
	faults(NULL, 0);
	CHECK_INT_EQ(fired(), 0);	/* the rule set was replaced */
	CHECK_U64_EQ(got, size);
	CHECK_INT_EQ(st.retries, 1);
	CHECK(st.bytes_received >= size + (1 << 20) - (512 << 10));	/* both attempts counted */
	CHECK(pread(fd, back, size, 0) == (ssize_t)size);
	bool same = memcmp(back, data, size) == 0;
	/* the same into a growing memory buffer */
	struct s3_buf b = { 0 };
	faults(&r, 1);
	int rc = s3_object_get_buf(C, K("reset/x"), 0, UINT64_MAX, &b, NULL, NULL);
	faults(NULL, 0);
	bool same2 = rc == 0 && b.len == size && memcmp(b.data, data, size) == 0;
	free(b.data);
	free(data);
	free(back);
	close(fd);
	CHECK(same);
	CHECK(same2);
	CHECK_OK(s3_object_delete(C, K("reset/x")));
}

/* A PUT whose body is cut after 256 KiB is re-sent from its first byte (fd source). */
static void test_reset_mid_put(void)
{
	const size_t size = 2 << 20;
	const struct s3_fault_rule r = { .op = S3_OP_PUT, .nth = 1, .count = 2,
					 .action = S3_FAULT_RESET, .after_bytes = 256 << 10 };
	char *data = malloc(size);
	int fd = tmp_fd("put");
	struct s3_buf b = { 0 };
	struct s3_call_stats st;
	unsigned m;

	CHECK(data && fd >= 0);
	check_fill(data, size, 3);
	CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
	faults(&r, 1);
	m = obs_mark();
	CHECK_OK(s3_object_put_fd(C, K("resetput/x"), fd, 0, size, NULL, NULL));
	st = obs_one(m);
	CHECK_INT_EQ(fired(), 2);
	faults(NULL, 0);
	CHECK_INT_EQ(st.retries, 2);
	CHECK_OK(s3_object_get_buf(C, K("resetput/x"), 0, UINT64_MAX, &b, NULL, NULL));
	bool same = b.len == size && memcmp(b.data, data, size) == 0;
	free(b.data);
	free(data);
	close(fd);
	CHECK(same);
	CHECK_OK(s3_object_delete(C, K("resetput/x")));
}

static void test_delay(void)
{
	const struct s3_fault_rule r = { .op = S3_OP_HEAD, .action = S3_FAULT_DELAY,
					 .delay_ms = 300, .count = 1 };
	struct s3_call_stats st;
	uint64_t t0, ms;
	unsigned m;

	CHECK_OK(s3_object_put_buf(C, K("delay/x"), "abc", 3, NULL, NULL));
	faults(&r, 1);
	m = obs_mark();
	t0 = (uint64_t)clock_mono_ns();
	CHECK_OK(s3_object_head(C, K("delay/x"), NULL));
	ms = ms_since(t0);
	st = obs_one(m);
	CHECK_MSG(ms >= 300 && ms < 300 + 1000, "took %" PRIu64 " ms", ms);
	CHECK(st.latency_ns >= 300000000ull);
	CHECK_INT_EQ(st.retries, 0);	/* a delay is not a failure */
	/* other requests are not held up behind a delayed one */
	faults(&r, 1);
	struct s3_batch *b;
	int rc1 = -1, rc2 = -1;
	CHECK_OK(s3_batch_open(C, &b));
	CHECK_OK(s3_batch_head(b, K("delay/x"), NULL, &rc1));
	t0 = (uint64_t)clock_mono_ns();
	CHECK_OK(s3_object_put_buf(C, K("delay/y"), "y", 1, NULL, NULL));
	ms = ms_since(t0);
	CHECK_OK(s3_batch_wait(b));
	faults(NULL, 0);
	CHECK_MSG(ms < 250, "a PUT waited %" PRIu64 " ms behind a delayed HEAD", ms);
	CHECK_OK(rc1);
	(void)rc2;
	CHECK_OK(s3_object_delete(C, K("delay/x")));
	CHECK_OK(s3_object_delete(C, K("delay/y")));
}

static void test_net(void)
{
	const struct s3_fault_rule r = { .op = -1, .action = S3_FAULT_NET };
	struct s3_call_stats st;
	unsigned m;

	faults(&r, 1);
	m = obs_mark();
	int rc = s3_object_head(C, K("net/x"), NULL);
	st = obs_one(m);
	CHECK_INT_EQ(fired(), MAX_RETRIES + 1);
	faults(NULL, 0);
	CHECK_INT_EQ(rc, S3F_E_S3_NET);
	CHECK_INT_EQ(st.retries, MAX_RETRIES);
	CHECK_INT_EQ(st.http_status, 0);
	/* recovers once the network does: net then success */
	const struct s3_fault_rule r2 = { .op = -1, .nth = 1, .count = 2, .action = S3_FAULT_NET };
	faults(&r2, 1);
	CHECK_OK(s3_object_put_buf(C, K("net/y"), "y", 1, NULL, NULL));
	faults(NULL, 0);
	CHECK_OK(s3_object_delete(C, K("net/y")));
}

/* A real connection failure (nothing listens) goes the same way. */
static void test_real_connect_refused(void)
{
	struct s3_config cfg;
	struct s3_client *c;
	uint64_t t0;

	cfg_init(&cfg);
	cfg.endpoint = "http://127.0.0.1:1";
	cfg.max_retries = 2;
	CHECK_OK(s3_client_open(&cfg, &c));
	unsigned m = obs_mark();
	t0 = (uint64_t)clock_mono_ns();
	int rc = s3_object_head(c, "x", NULL);
	uint64_t ms = ms_since(t0);
	s3_client_close(c);
	struct s3_call_stats st = obs_one(m);
	CHECK_INT_EQ(rc, S3F_E_S3_NET);
	CHECK_INT_EQ(st.retries, 2);
	CHECK(ms < 2000);
}

static void test_error_mapping(void)
{
	static const struct { int status; int rc; } cases[] = {
		{ 404, ENOENT }, { 412, S3F_E_S3_PRECOND }, { 403, EACCES }, { 409, S3F_E_S3_CONFLICT },
		{ 400, S3F_E_S3_CLIENT }, { 501, S3F_E_S3_SERVER },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct s3_fault_rule r = { .op = S3_OP_GET, .action = S3_FAULT_STATUS,
						 .status = cases[i].status };
		struct s3_buf b = { 0 };
		unsigned m;

		faults(&r, 1);
		m = obs_mark();
		int rc = s3_object_get_buf(C, K("map/x"), 0, UINT64_MAX, &b, NULL, NULL);
		struct s3_call_stats st = obs_one(m);
		faults(NULL, 0);
		free(b.data);
		CHECK_MSG(rc == cases[i].rc, "status %d: rc %d, want %d", cases[i].status, rc,
			  cases[i].rc);
		/* none of these is worth a retry (a 501 will not start working) */
		CHECK_MSG(st.retries == 0, "status %d retried %u times", cases[i].status, st.retries);
	}
}

/* Rules are scoped by op and key prefix; other requests pass untouched. */
static void test_scoping(void)
{
	const struct s3_fault_rule r[2] = {
		{ .op = S3_OP_GET, .action = S3_FAULT_STATUS, .status = 404,
		  .key_prefix = K("scope/a/") },
		{ .op = S3_OP_DELETE, .action = S3_FAULT_STATUS, .status = 500,
		  .key_prefix = K("scope/b/") },
	};
	struct s3_buf b = { 0 };
	unsigned counts[2];

	CHECK_OK(s3_object_put_buf(C, K("scope/a/1"), "a", 1, NULL, NULL));
	CHECK_OK(s3_object_put_buf(C, K("scope/b/1"), "b", 1, NULL, NULL));
	faults(r, 2);
	/* PUT under a/ is not a GET; GET under b/ is not under a/ */
	CHECK_OK(s3_object_put_buf(C, K("scope/a/2"), "a", 1, NULL, NULL));
	CHECK_OK(s3_object_get_buf(C, K("scope/b/1"), 0, UINT64_MAX, &b, NULL, NULL));
	free(b.data);
	b = (struct s3_buf){ 0 };
	CHECK_INT_EQ(s3_object_get_buf(C, K("scope/a/1"), 0, UINT64_MAX, &b, NULL, NULL), ENOENT);
	free(b.data);
	CHECK_OK(s3_object_delete(C, K("scope/a/1")));
	CHECK_INT_EQ(s3_object_delete(C, K("scope/b/1")), S3F_E_S3_SERVER);
	s3_fault_fired(C, counts, 2);
	faults(NULL, 0);
	CHECK_INT_EQ(counts[0], 1);
	CHECK_INT_EQ(counts[1], MAX_RETRIES + 1);
	CHECK_OK(s3_object_delete(C, K("scope/a/2")));
	CHECK_OK(s3_object_delete(C, K("scope/b/1")));
}

/* One part of a multipart upload fails twice: retried, the object is exact. A part that
 * never succeeds fails the upload, which is aborted (no orphan left). */
static void test_multipart_part_faults(void)
{
	struct s3_config cfg;
	struct s3_client *c;
	const size_t size = 12 << 20;
	char *data = malloc(size);
	int fd = tmp_fd("mpu");
	struct s3_buf b = { 0 };
	struct s3_upload *ups;
	size_t n;

	CHECK(data && fd >= 0);
	check_fill(data, size, 4);
	CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
	cfg_init(&cfg);
	cfg.part_size = 5 << 20;
	cfg.multipart_threshold = 5 << 20;
	CHECK_OK(s3_client_open(&cfg, &c));
	const struct s3_fault_rule r1 = { .op = S3_OP_MPU_PART, .nth = 2, .count = 2,
					  .action = S3_FAULT_STATUS, .status = 503 };
	CHECK_OK(s3_fault_set(c, &r1, 1));
	int rc1 = s3_object_put_fd(c, K("mpuf/ok"), fd, 0, size, NULL, NULL);
	const struct s3_fault_rule r2 = { .op = S3_OP_MPU_PART, .nth = 3,
					  .action = S3_FAULT_STATUS, .status = 500 };
	CHECK_OK(s3_fault_set(c, &r2, 1));
	int rc2 = s3_object_put_fd(c, K("mpuf/bad"), fd, 0, size, NULL, NULL);
	const struct s3_fault_rule r3 = { .op = S3_OP_MPU_PART, .nth = 1, .count = 1,
					  .action = S3_FAULT_RESET, .after_bytes = 100000 };
	CHECK_OK(s3_fault_set(c, &r3, 1));
	int rc3 = s3_object_put_fd(c, K("mpuf/reset"), fd, 0, size, NULL, NULL);
	s3_client_close(c);
	CHECK_OK(rc1);
	CHECK_INT_EQ(rc2, S3F_E_S3_SERVER);
	CHECK_OK(rc3);
	const char *keys[2] = { K("mpuf/ok"), K("mpuf/reset") };
	for (int k = 0; k < 2; k++) {
		CHECK_OK(s3_object_get_buf(C, keys[k], 0, UINT64_MAX, &b, NULL, NULL));
		bool same = b.len == size && memcmp(b.data, data, size) == 0;
		free(b.data);
		b = (struct s3_buf){ 0 };
		CHECK(same);
	}
	free(data);
	close(fd);
	CHECK_INT_EQ(s3_object_head(C, K("mpuf/bad"), NULL), ENOENT);
	CHECK_OK(s3_mpu_list(C, K("mpuf/"), &ups, &n));
	s3_uploads_free(ups, n);
	CHECK_INT_EQ(n, 0);
	CHECK_OK(s3_object_delete(C, K("mpuf/ok")));
	CHECK_OK(s3_object_delete(C, K("mpuf/reset")));
}

/* s3_put_opts.upload_hook: STARTED before the parts, GONE once nothing is left on the
 * server (completed, or aborted after a failure), no GONE when the abort failed too (the
 * upload stays: the caller's record is all that finds it), and a refusing hook aborts. */
struct hook_log {
	int started, gone;
	char id[S3_UPLOAD_ID_MAX], gone_id[S3_UPLOAD_ID_MAX];
	int refuse;
};

static int hook_cb(void *arg, enum s3_upload_event ev, const char *key, const char *upload_id)
{
	struct hook_log *h = arg;

	(void)key;
	if (ev == S3_UPLOAD_STARTED) {
		h->started++;
		snprintf(h->id, sizeof h->id, "%s", upload_id);
		return h->refuse;
	}
	h->gone++;
	snprintf(h->gone_id, sizeof h->gone_id, "%s", upload_id);
	return 0;
}

static void test_upload_hook(void)
{
	struct s3_config cfg;
	struct s3_client *c;
	const size_t size = 11 << 20;
	char *data = malloc(size);
	int fd = tmp_fd("hook");
	struct hook_log h = { 0 };
	struct s3_put_opts opts = { .upload_hook = hook_cb, .upload_hook_arg = &h };
	struct s3_upload *ups;
	size_t n;

	CHECK(data && fd >= 0);
	check_fill(data, size, 9);
	CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
	cfg_init(&cfg);
	cfg.part_size = 5 << 20;
	cfg.multipart_threshold = 5 << 20;
	CHECK_OK(s3_client_open(&cfg, &c));
	/* completed */
	CHECK_OK(s3_object_put_fd(c, K("hook/ok"), fd, 0, size, &opts, NULL));
	CHECK(h.started == 1 && h.gone == 1 && h.id[0] && strcmp(h.id, h.gone_id) == 0);
	/* a part fails for good, the abort works: gone */
	const struct s3_fault_rule r1 = { .op = S3_OP_MPU_PART, .nth = 2, .action = S3_FAULT_STATUS,
					  .status = 400 };
	memset(&h, 0, sizeof h);
	CHECK_OK(s3_fault_set(c, &r1, 1));
	CHECK(s3_object_put_fd(c, K("hook/bad"), fd, 0, size, &opts, NULL) != 0);
	CHECK(h.started == 1 && h.gone == 1 && strcmp(h.id, h.gone_id) == 0);
	/* the abort fails too: no GONE, and the upload is still there */
	const struct s3_fault_rule r2[2] = {
		{ .op = S3_OP_MPU_PART, .nth = 2, .action = S3_FAULT_STATUS, .status = 400 },
		{ .op = S3_OP_MPU_ABORT, .action = S3_FAULT_STATUS, .status = 400 },
	};
	memset(&h, 0, sizeof h);
	CHECK_OK(s3_fault_set(c, r2, 2));
	CHECK(s3_object_put_fd(c, K("hook/left"), fd, 0, size, &opts, NULL) != 0);
	CHECK_OK(s3_fault_set(c, NULL, 0));
	CHECK(h.started == 1 && h.gone == 0 && h.id[0]);
	CHECK_OK(s3_mpu_list(C, K("hook/"), &ups, &n));
	bool found = n == 1 && strcmp(ups[0].upload_id, h.id) == 0;
	s3_uploads_free(ups, n);
	CHECK(found);
	CHECK_OK(s3_mpu_abort(C, K("hook/left"), h.id));
	/* a hook that cannot record the upload: nothing is sent, the upload is aborted */
	memset(&h, 0, sizeof h);
	h.refuse = ENOSPC;
	CHECK_INT_EQ(s3_object_put_fd(c, K("hook/refused"), fd, 0, size, &opts, NULL), ENOSPC);
	CHECK(h.started == 1 && h.gone == 1);
	s3_client_close(c);
	CHECK_OK(s3_mpu_list(C, K("hook/"), &ups, &n));
	s3_uploads_free(ups, n);
	CHECK_INT_EQ(n, 0);
	CHECK_INT_EQ(s3_object_head(C, K("hook/refused"), NULL), ENOENT);
	CHECK_OK(s3_object_delete(C, K("hook/ok")));
	free(data);
	close(fd);
}

/* s3_list_req.once: one attempt, whatever the failure. */
static void test_list_once(void)
{
	const struct s3_fault_rule r = { .op = S3_OP_LIST, .action = S3_FAULT_NET };
	struct s3_list_req req = { .prefix = K("once/"), .max_keys = 1, .once = true };
	struct s3_list_page pg = { 0 };

	faults(&r, 1);
	int rc = s3_list(C, &req, &pg);
	unsigned f = fired();

	req.once = false;
	int rc2 = s3_list(C, &req, &pg);
	unsigned f2 = fired();

	faults(NULL, 0);
	CHECK_INT_EQ(rc, S3F_E_S3_NET);
	CHECK_INT_EQ(f, 1);
	CHECK_INT_EQ(rc2, S3F_E_S3_NET);
	CHECK_INT_EQ(f2 - f, MAX_RETRIES + 1);
	req.once = true;
	CHECK_OK(s3_list(C, &req, &pg));
	s3_list_page_free(&pg);
}

/* Parallel ranged GET with chunks failing here and there: exact result. */
static void test_parallel_get_faults(void)
{
	const size_t size = 9 << 20;
	const struct s3_fault_rule r[2] = {
		{ .op = S3_OP_GET, .nth = 2, .count = 3, .action = S3_FAULT_STATUS, .status = 503 },
		{ .op = S3_OP_GET, .nth = 1, .count = 2, .action = S3_FAULT_RESET,
		  .after_bytes = 300000 },
	};
	char *data = malloc(size), *back = malloc(size);
	int fd = tmp_fd("par");

	CHECK(data && back && fd >= 0);
	check_fill(data, size, 5);
	CHECK_OK(s3_object_put_buf(C, K("parf/x"), data, size, NULL, NULL));
	faults(r, 2);
	int rc = s3_object_get_parallel(C, K("parf/x"), 0, UINT64_MAX, fd, 0, 1 << 20, 4, NULL, NULL);
	unsigned counts[2];
	s3_fault_fired(C, counts, 2);
	faults(NULL, 0);
	bool same = rc == 0 && pread(fd, back, size, 0) == (ssize_t)size &&
		    memcmp(back, data, size) == 0;
	free(data);
	free(back);
	close(fd);
	CHECK_OK(rc);
	CHECK(same);
	CHECK(counts[0] == 3 && counts[1] == 2);
	CHECK_OK(s3_object_delete(C, K("parf/x")));
}

/* GETs into memory buffers recover from 503s and from bodies cut short (each retried
 * attempt starts its buffer over), and report a permanent failure with an empty buffer. */
static void test_batch_get_buf_faults(void)
{
	const size_t size = 3 << 20;
	const struct s3_fault_rule r[2] = {
		{ .op = S3_OP_GET, .nth = 1, .count = 2, .action = S3_FAULT_STATUS, .status = 503 },
		{ .op = S3_OP_GET, .nth = 1, .count = 2, .action = S3_FAULT_RESET,
		  .after_bytes = 200000 },
	};
	const struct s3_fault_rule perm = { .op = S3_OP_GET, .action = S3_FAULT_STATUS,
					    .status = 500 };
	char *data = malloc(size);
	struct s3_buf bufs[3];
	struct s3_object_info out;
	struct s3_cond pin = { 0 };
	struct s3_batch *b;
	int rcs[3];
	unsigned counts[2];

	CHECK(data != NULL);
	check_fill(data, size, 9);
	CHECK_OK(s3_object_put_buf(C, K("bgbf/x"), data, size, NULL, &out));
	pin.if_match = out.etag;
	memset(bufs, 0, sizeof bufs);
	for (int i = 0; i < 3; i++) {
		bufs[i].data = malloc(1 << 20);
		bufs[i].cap = 1 << 20;
		bufs[i].fixed = true;
	}
	faults(r, 2);
	CHECK_OK(s3_batch_open(C, &b));
	for (int i = 0; i < 3; i++)
		CHECK_OK(s3_batch_get_buf(b, K("bgbf/x"), (uint64_t)i << 20, 1 << 20, &bufs[i],
					  &pin, NULL, &rcs[i]));
	int rc = s3_batch_wait(b);
	s3_fault_fired(C, counts, 2);
	faults(NULL, 0);
	CHECK_OK(rc);
	CHECK(counts[0] == 2 && counts[1] == 2);
	for (int i = 0; i < 3; i++) {
		CHECK_INT_EQ(rcs[i], 0);
		CHECK_U64_EQ(bufs[i].len, 1 << 20);
		CHECK_MEM_EQ(bufs[i].data, data + ((size_t)i << 20), 1 << 20);
	}
	faults(&perm, 1);
	CHECK_OK(s3_batch_open(C, &b));
	CHECK_OK(s3_batch_get_buf(b, K("bgbf/x"), 0, 1 << 20, &bufs[0], &pin, NULL, &rcs[0]));
	rc = s3_batch_wait(b);
	faults(NULL, 0);
	CHECK_INT_EQ(rc, S3F_E_S3_SERVER);
	CHECK_INT_EQ(rcs[0], S3F_E_S3_SERVER);
	CHECK_U64_EQ(bufs[0].len, 0);
	for (int i = 0; i < 3; i++)
		free(bufs[i].data);
	free(data);
	CHECK_OK(s3_object_delete(C, K("bgbf/x")));
}

/* Every call reports to the observer once, with its bytes and latency. */
static void test_observer_every_call(void)
{
	char data[777];
	struct s3_buf b = { 0 };
	struct s3_list_page pg;
	struct s3_list_req lr = { .prefix = K("obs/") };
	unsigned m = obs_mark();

	check_fill(data, sizeof data, 6);
	CHECK_OK(s3_object_put_buf(C, K("obs/x"), data, sizeof data, NULL, NULL));
	CHECK_OK(s3_object_head(C, K("obs/x"), NULL));
	CHECK_OK(s3_object_get_buf(C, K("obs/x"), 10, 100, &b, NULL, NULL));
	free(b.data);
	CHECK_OK(s3_list(C, &lr, &pg));
	s3_list_page_free(&pg);
	CHECK_OK(s3_object_copy(C, K("obs/x"), K("obs/y"), NULL, NULL, NULL));
	const char *keys[2] = { K("obs/x"), K("obs/y") };
	int res[2];
	CHECK_OK(s3_objects_delete(C, keys, 2, res));
	pthread_mutex_lock(&obs_mu);
	unsigned n = obs_n - m;
	struct s3_call_stats s[6];
	memcpy(s, &obs[m], sizeof s);
	pthread_mutex_unlock(&obs_mu);
	CHECK_INT_EQ(n, 6);
	CHECK(s[0].op == S3_OP_PUT && s[0].bytes_sent == sizeof data && s[0].http_status == 200);
	CHECK(s[1].op == S3_OP_HEAD && s[1].bytes_received == 0);
	CHECK(s[2].op == S3_OP_GET && s[2].bytes_received == 100 && s[2].http_status == 206);
	CHECK(s[3].op == S3_OP_LIST && s[3].bytes_received > 100);
	CHECK(s[4].op == S3_OP_COPY && s[4].http_status == 200);
	CHECK(s[5].op == S3_OP_DELETE_MULTI && s[5].bytes_sent > 0);
	for (int i = 0; i < 6; i++)
		CHECK(s[i].latency_ns > 0 && s[i].latency_ns < 10000000000ull && s[i].rc == 0);
}

/* Closing the client cancels requests waiting in backoff instead of sitting them out. */
static void *close_helper(void *arg)
{
	struct s3_client *c = arg;
	int *rc = malloc(sizeof *rc);

	*rc = s3_object_head(c, "cancel/x", NULL);
	return rc;
}

static void test_close_cancels_backoff(void)
{
	struct s3_config cfg;
	struct s3_client *c;
	const struct s3_fault_rule r = { .op = -1, .action = S3_FAULT_STATUS, .status = 503 };
	pthread_t t;
	void *res;
	uint64_t t0;

	cfg_init(&cfg);
	cfg.retry_base_ms = 20000;
	cfg.retry_max_ms = 20000;
	CHECK_OK(s3_client_open(&cfg, &c));
	CHECK_OK(s3_fault_set(c, &r, 1));
	CHECK(pthread_create(&t, NULL, close_helper, c) == 0);
	usleep(200000);
	t0 = (uint64_t)clock_mono_ns();
	/* the helper is in a (probably long) backoff now; close must not wait it out */
	s3_client_close(c);
	pthread_join(t, &res);
	uint64_t ms = ms_since(t0);
	int rc = *(int *)res;
	free(res);
	CHECK_MSG(rc == S3F_E_S3_CANCELED || rc == S3F_E_S3_SERVER, "rc %d", rc);
	CHECK_MSG(ms < 2000, "close took %" PRIu64 " ms", ms);
}


/* ---- integrity: Content-MD5 on uploads, MD5 check of whole-object GETs ---- */

/* One bit flipped in a PUT body on the way: the server refuses it (BadDigest, so the
 * Content-MD5 is sent and is of the bytes meant), the client sends the body again, and
 * what is stored is exact. Flipped every time: S3F_E_S3_DIGEST and nothing stored. */
static void test_put_corrupt_digest(void)
{
	const size_t size = 200000;
	const struct s3_fault_rule once = { .op = S3_OP_PUT, .count = 1,
					    .action = S3_FAULT_CORRUPT, .after_bytes = 12345 };
	const struct s3_fault_rule always = { .op = S3_OP_PUT, .action = S3_FAULT_CORRUPT,
					      .after_bytes = 7 };
	char *data = malloc(size);
	int fd = tmp_fd("digest");
	struct s3_buf b = { 0 };
	struct s3_call_stats st;
	unsigned m;

	CHECK(data && fd >= 0);
	check_fill(data, size, 31);
	CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
	faults(&once, 1);
	m = obs_mark();
	CHECK_OK(s3_object_put_fd(C, K("digest/x"), fd, 0, size, NULL, NULL));
	st = obs_one(m);
	CHECK_INT_EQ(fired(), 1);
	CHECK_INT_EQ(st.retries, 1);
	faults(NULL, 0);
	CHECK_OK(s3_object_get_buf(C, K("digest/x"), 0, UINT64_MAX, &b, NULL, NULL));
	bool same = b.len == size && memcmp(b.data, data, size) == 0;
	free(b.data);
	CHECK(same);
	CHECK_OK(s3_object_delete(C, K("digest/x")));
	faults(&always, 1);
	int rc = s3_object_put_buf(C, K("digest/y"), data, size, NULL, NULL);
	faults(NULL, 0);
	free(data);
	close(fd);
	CHECK_INT_EQ(rc, S3F_E_S3_DIGEST);
	CHECK_INT_EQ(fired(), 0);
	CHECK_INT_EQ(s3_object_head(C, K("digest/y"), NULL), ENOENT);
}

/* The same for a multipart part: the part is sent again, the object is exact. */
static void test_part_corrupt_digest(void)
{
	const size_t size = 11 << 20;
	const struct s3_fault_rule r = { .op = S3_OP_MPU_PART, .nth = 2, .count = 1,
					 .action = S3_FAULT_CORRUPT, .after_bytes = 3 << 20 };
	struct s3_config cfg;
	struct s3_client *c;
	char *data = malloc(size), *back = malloc(size);
	int fd = tmp_fd("mpdigest");
	struct s3_object_info info;
	unsigned f = 0;

	CHECK(data && back && fd >= 0);
	check_fill(data, size, 32);
	CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);
	cfg_init(&cfg);
	cfg.part_size = 5 << 20;
	cfg.multipart_threshold = 5 << 20;
	CHECK_OK(s3_client_open(&cfg, &c));
	CHECK_OK(s3_fault_set(c, &r, 1));
	int rc = s3_object_put_fd(c, K("mpdigest/x"), fd, 0, size, NULL, &info);
	s3_fault_fired(c, &f, 1);
	s3_client_close(c);
	CHECK_OK(rc);
	CHECK_INT_EQ(f, 1);
	CHECK(strstr(info.etag, "-3") != NULL);
	CHECK_OK(s3_object_get_fd(C, K("mpdigest/x"), 0, UINT64_MAX, fd, 0, NULL, NULL, NULL));
	bool same = pread(fd, back, size, 0) == (ssize_t)size && memcmp(back, data, size) == 0;
	free(data);
	free(back);
	close(fd);
	CHECK(same);
	CHECK_OK(s3_object_delete(C, K("mpdigest/x")));
}

struct scribble {
	int fd;
	uint64_t off;
	unsigned delay_ms;
	int rc;
};

/* Overwrite one byte of the file while the upload waits in its DELAY fault. */
static void *scribble_main(void *arg)
{
	struct scribble *s = arg;
	char x = 'X';

	usleep(s->delay_ms * 1000u);
	s->rc = pwrite(s->fd, &x, 1, (off_t)s->off) == 1 ? 0 : errno;
	return NULL;
}

/* A file written to while its upload is under way (between the digest and the body on
 * the wire, held there by a DELAY fault). Up to S3_MEM_BODY_MAX the body was read into
 * memory with its digest: the upload succeeds with the bytes as they were when read.
 * Above it the body streams from the file: the server sees bytes that do not match the
 * Content-MD5 and refuses them (S3F_E_S3_DIGEST, not retried: the caller tries again
 * later with a fresh digest); nothing is stored. */
static void test_put_file_changes(void)
{
	const size_t small = 300000, big = S3_MEM_BODY_MAX + (1 << 20);
	const struct s3_fault_rule hold = { .op = S3_OP_PUT, .count = 1, .action = S3_FAULT_DELAY,
					    .delay_ms = 400 };
	const struct s3_fault_rule hold_long = { .op = S3_OP_PUT, .count = 1,
						 .action = S3_FAULT_DELAY, .delay_ms = 2500 };
	struct s3_config cfg;
	struct s3_client *c;
	char *data = malloc(big), *back = malloc(small);
	int fd = tmp_fd("changes");
	struct s3_object_info info;
	struct scribble sc = { .fd = fd, .off = 1000, .delay_ms = 100 };
	pthread_t t;
	int rc;

	CHECK(data && back && fd >= 0);
	check_fill(data, big, 33);
	CHECK(pwrite(fd, data, big, 0) == (ssize_t)big);
	cfg_init(&cfg);
	cfg.multipart_threshold = 2 * S3_MEM_BODY_MAX;
	CHECK_OK(s3_client_open(&cfg, &c));
	/* memory body */
	CHECK_OK(s3_fault_set(c, &hold, 1));
	CHECK(pthread_create(&t, NULL, scribble_main, &sc) == 0);
	rc = s3_object_put_fd(c, K("chg/small"), fd, 0, small, NULL, &info);
	pthread_join(t, NULL);
	CHECK_OK(sc.rc);
	if (rc == 0)
		rc = s3_object_get_buf(C, K("chg/small"), 0, UINT64_MAX,
				       &(struct s3_buf){ .data = back, .cap = small, .fixed = true },
				       NULL, NULL);
	bool old_bytes = rc == 0 && memcmp(back, data, small) == 0;
	/* streamed body: hashing it takes a while, the write comes after that */
	CHECK(pwrite(fd, data, big, 0) == (ssize_t)big);
	sc.off = big - 5;
	sc.delay_ms = 1200;
	CHECK_OK(s3_fault_set(c, &hold_long, 1));
	CHECK(pthread_create(&t, NULL, scribble_main, &sc) == 0);
	int rc2 = s3_object_put_fd(c, K("chg/big"), fd, 0, big, NULL, NULL);
	pthread_join(t, NULL);
	s3_client_close(c);
	free(data);
	free(back);
	close(fd);
	CHECK_OK(rc);
	CHECK(old_bytes);
	CHECK_INT_EQ(rc2, S3F_E_S3_DIGEST);
	CHECK_INT_EQ(s3_object_head(C, K("chg/big"), NULL), ENOENT);
	CHECK_OK(s3_object_delete(C, K("chg/small")));
}

/* A whole-object GET whose body is damaged on the way: the MD5 check fires, the GET is
 * read again once and the result is exact; damaged twice: S3F_E_S3_CORRUPT, for every
 * kind of sink. Ranged GETs are not verifiable: a damaged byte there goes through. */
static void test_get_corrupt(void)
{
	const size_t size = 700000;
	const struct s3_fault_rule once = { .op = S3_OP_GET, .count = 1,
					    .action = S3_FAULT_CORRUPT, .after_bytes = 654321 };
	const struct s3_fault_rule twice = { .op = S3_OP_GET, .count = 2,
					     .action = S3_FAULT_CORRUPT, .after_bytes = 3 };
	const struct s3_fault_rule always = { .op = S3_OP_GET, .action = S3_FAULT_CORRUPT,
					      .after_bytes = 100 };
	char *data = malloc(size), *back = malloc(size);
	int fd = tmp_fd("corrupt");
	struct s3_buf b = { 0 };
	struct s3_call_stats st;
	struct s3_batch *bt;
	uint64_t got = 0;
	unsigned m;
	int rc, brc = -1;

	CHECK(data && back && fd >= 0);
	check_fill(data, size, 34);
	CHECK_OK(s3_object_put_buf(C, K("corrupt/x"), data, size, NULL, NULL));
	/* once: read again, exact */
	faults(&once, 1);
	m = obs_mark();
	CHECK_OK(s3_object_get_buf(C, K("corrupt/x"), 0, UINT64_MAX, &b, NULL, NULL));
	st = obs_one(m);
	CHECK_INT_EQ(fired(), 1);
	CHECK_INT_EQ(st.retries, 1);
	bool same = b.len == size && memcmp(b.data, data, size) == 0;
	free(b.data);
	b = (struct s3_buf){ 0 };
	CHECK(same);
	/* a Range from 0 that covers the object is the whole object too */
	faults(&once, 1);
	CHECK_OK(s3_object_get_fd(C, K("corrupt/x"), 0, size, fd, 0, NULL, &got, NULL));
	CHECK_INT_EQ(fired(), 1);
	CHECK(got == size && pread(fd, back, size, 0) == (ssize_t)size &&
	      memcmp(back, data, size) == 0);
	/* twice: the GET fails, for memory, fd, batch and parallel sinks alike */
	faults(&twice, 1);
	CHECK_INT_EQ(s3_object_get_buf(C, K("corrupt/x"), 0, UINT64_MAX, &b, NULL, NULL),
		     S3F_E_S3_CORRUPT);
	CHECK_INT_EQ(b.len, 0);
	free(b.data);
	faults(&twice, 1);
	CHECK_INT_EQ(s3_object_get_fd(C, K("corrupt/x"), 0, UINT64_MAX, fd, 0, NULL, &got, NULL),
		     S3F_E_S3_CORRUPT);
	CHECK_U64_EQ(got, 0);
	faults(&twice, 1);
	CHECK_OK(s3_batch_open(C, &bt));
	CHECK_OK(s3_batch_get_fd(bt, K("corrupt/x"), 0, UINT64_MAX, fd, 0, &got, NULL, &brc));
	CHECK_INT_EQ(s3_batch_wait(bt), S3F_E_S3_CORRUPT);
	CHECK_INT_EQ(brc, S3F_E_S3_CORRUPT);
	faults(&twice, 1);
	CHECK_INT_EQ(s3_object_get_parallel(C, K("corrupt/x"), 0, UINT64_MAX, fd, 0, 0, 0, NULL,
					    NULL), S3F_E_S3_CORRUPT);
	/* a range that is not the whole object cannot be checked against the ETag */
	faults(&always, 1);
	rc = s3_object_get_fd(C, K("corrupt/x"), 1, size - 1, fd, 0, NULL, &got, NULL);
	faults(NULL, 0);
	CHECK_OK(rc);
	CHECK(got == size - 1 && pread(fd, back, size - 1, 0) == (ssize_t)(size - 1));
	CHECK(back[100] != data[101] && memcmp(back + 101, data + 102, size - 102) == 0);
	free(data);
	free(back);
	close(fd);
	CHECK_OK(s3_object_delete(C, K("corrupt/x")));
}

int main(void)
{
	struct s3_config cfg;
	int rc;

	check_suite = "test_s3_fault";
	if (check_rgw_load(&rgw) != 0)
		return 1;
	snprintf(prefix, sizeof prefix, "test-s3-fault/%d/", (int)getpid());
	cfg_init(&cfg);
	rc = s3_client_open(&cfg, &C);
	if (rc) {
		printf("FAIL %s/open: %s\n", check_suite, s3f_strerror(rc));
		return 1;
	}
	CHECK_RUN(test_500_once_then_ok);
	CHECK_RUN(test_nth_call);
	CHECK_RUN(test_slowdown_k_times);
	CHECK_RUN(test_permanent_500);
	CHECK_RUN(test_backoff_bounds);
	CHECK_RUN(test_reset_mid_get);
	CHECK_RUN(test_reset_mid_put);
	CHECK_RUN(test_delay);
	CHECK_RUN(test_net);
	CHECK_RUN(test_real_connect_refused);
	CHECK_RUN(test_error_mapping);
	CHECK_RUN(test_scoping);
	CHECK_RUN(test_multipart_part_faults);
	CHECK_RUN(test_upload_hook);
	CHECK_RUN(test_list_once);
	CHECK_RUN(test_parallel_get_faults);
	CHECK_RUN(test_batch_get_buf_faults);
	CHECK_RUN(test_observer_every_call);
	CHECK_RUN(test_close_cancels_backoff);
	CHECK_RUN(test_put_corrupt_digest);
	CHECK_RUN(test_part_corrupt_digest);
	CHECK_RUN(test_put_file_changes);
	CHECK_RUN(test_get_corrupt);
	s3_fault_set(C, NULL, 0);
	s3_client_close(C);
	return check_done();
}
