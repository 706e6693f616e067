/* test_metrics.c — counters, gauges, histograms and the Prometheus exposition
 * (core/engine/metrics.c). The registry is process-wide and has no unregister, so the exact
 * exposition test runs first and later tests look for their own lines. */
#include "check.h"

#include "engine/metrics.h"
#include "s3/s3.h"

#include <pthread.h>
#include <stdbool.h>

static char *render(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f != NULL);
	metrics_render(f);
	CHECK(fclose(f) == 0);
	return buf;
}

static struct metric t_req_get = { .name = "t_requests_total", .help = "Requests.",
				   .labels = "op=\"get\"", .type = METRIC_COUNTER };
static struct metric t_inflight = { .name = "t_inflight", .help = "In flight\\now\nnext line.",
				    .type = METRIC_GAUGE };
static struct metric t_req_put = { .name = "t_requests_total", .help = "ignored: first wins",
				   .labels = "op=\"put\"", .type = METRIC_COUNTER };
static struct metric t_lat = { .name = "t_latency_seconds", .help = "Latency.",
			       .type = METRIC_HISTOGRAM };
static struct metric t_lat_put = { .name = "t_latency_seconds", .labels = "op=\"put\"",
				   .type = METRIC_HISTOGRAM };

static void test_exposition_exact(void)
{
	char *text;

	metric_register(&t_req_get);
	metric_register(&t_inflight);
	metric_register(&t_req_put);
	metric_register(&t_lat);
	metric_register(&t_lat_put);
	metric_register(&t_req_get);	/* twice: no-op */

	metric_add(&t_req_get, 3);
	metric_add(&t_req_put, 1);
	metric_add(&t_req_put, 1);
	metric_set(&t_inflight, -2);
	metric_observe_ns(&t_lat, 1500000);		/* 1.5 ms -> le 0.002 */
	metric_observe_ns(&t_lat, 3000000000ull);	/* 3 s -> le 4.096 */
	metric_observe_ns(&t_lat_put, 500);		/* 0.5 us -> le 0.001 */

	text = render();
	CHECK_STR_EQ(text,
		"# HELP t_requests_total Requests.\n"
		"# TYPE t_requests_total counter\n"
		"t_requests_total{op=\"get\"} 3\n"
		"t_requests_total{op=\"put\"} 2\n"
		"# HELP t_inflight In flight\\\\now\\nnext line.\n"
		"# TYPE t_inflight gauge\n"
		"t_inflight -2\n"
		"# HELP t_latency_seconds Latency.\n"
		"# TYPE t_latency_seconds histogram\n"
		"t_latency_seconds_bucket{le=\"0.001\"} 0\n"
		"t_latency_seconds_bucket{le=\"0.002\"} 1\n"
		"t_latency_seconds_bucket{le=\"0.004\"} 1\n"
		"t_latency_seconds_bucket{le=\"0.008\"} 1\n"
		"t_latency_seconds_bucket{le=\"0.016\"} 1\n"
		"t_latency_seconds_bucket{le=\"0.032\"} 1\n"
		"t_latency_seconds_bucket{le=\"0.064\"} 1\n"
		"t_latency_seconds_bucket{le=\"0.128\"} 1\n"
		"t_latency_seconds_bucket{le=\"0.256\"} 1\n"
		"t_latency_seconds_bucket{le=\"0.512\"} 1\n"
		"t_latency_seconds_bucket{le=\"1.024\"} 1\n"
		"t_latency_seconds_bucket{le=\"2.048\"} 1\n"
		"t_latency_seconds_bucket{le=\"4.096\"} 2\n"
		"t_latency_seconds_bucket{le=\"8.192\"} 2\n"
		"t_latency_seconds_bucket{le=\"16.384\"} 2\n"
		"t_latency_seconds_bucket{le=\"32.768\"} 2\n"
		"t_latency_seconds_bucket{le=\"+Inf\"} 2\n"
		"t_latency_seconds_sum 3.0015\n"
		"t_latency_seconds_count 2\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"0.001\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"0.002\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"0.004\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"0.008\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"0.016\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"0.032\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"0.064\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"0.128\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"0.256\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"0.512\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"1.024\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"2.048\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"4.096\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"8.192\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"16.384\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"32.768\"} 1\n"
		"t_latency_seconds_bucket{op=\"put\",le=\"+Inf\"} 1\n"
		"t_latency_seconds_sum{op=\"put\"} 0.0000005\n"
		"t_latency_seconds_count{op=\"put\"} 1\n");
	free(text);
}

static void test_counter_gauge(void)
{
	static struct metric c = { .name = "t2_ops_total", .help = "h", .type = METRIC_COUNTER };
	static struct metric g = { .name = "t2_depth", .help = "h", .type = METRIC_GAUGE };

	CHECK_INT_EQ(metric_get(&c), 0);
	metric_add(&c, 1);
	metric_add(&c, 41);
	CHECK_INT_EQ(metric_get(&c), 42);
	metric_set(&g, 100);
	metric_add(&g, -30);
	CHECK_INT_EQ(metric_get(&g), 70);
	metric_add(&g, -100);
	CHECK_INT_EQ(metric_get(&g), -30);
	metric_set(&g, INT64_MAX);
	CHECK_INT_EQ(metric_get(&g), INT64_MAX);

	/* updates before registration count too */
	metric_register(&c);
	metric_register(&g);
	char *text = render();

	CHECK(strstr(text, "# TYPE t2_ops_total counter\nt2_ops_total 42\n") != NULL);
	CHECK(strstr(text, "# TYPE t2_depth gauge\nt2_depth 9223372036854775807\n") != NULL);
	free(text);
}

/* Bucket i holds (2^(i-1) ms, 2^i ms]; bucket 0 everything up to 1 ms; the last the rest. */
static void test_histogram_math(void)
{
	static struct metric h = { .name = "t3_seconds", .help = "h", .type = METRIC_HISTOGRAM };
	static const struct {
		uint64_t ns;
		unsigned bucket;
	} cases[] = {
		{ 0, 0 }, { 1, 0 }, { 999999, 0 }, { 1000000, 0 }, { 1000001, 1 }, { 2000000, 1 },
		{ 2000001, 2 }, { 4000000, 2 }, { 1024000000, 10 }, { 1024000001, 11 },
		{ 32768000000ull, 15 }, { 32768000001ull, 16 }, { 3600000000000ull, 16 },
		{ UINT64_MAX / 4, 16 },
	};
	uint64_t sum = 0;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint64_t before = atomic_load(&h.bucket[cases[i].bucket]);

		metric_observe_ns(&h, cases[i].ns);
		CHECK_MSG(atomic_load(&h.bucket[cases[i].bucket]) == before + 1, "%" PRIu64 " ns",
			  cases[i].ns);
		sum += cases[i].ns;
	}
	CHECK_INT_EQ(metric_get(&h), sizeof cases / sizeof cases[0]);
	CHECK_U64_EQ(atomic_load(&h.sum_ns), sum);

	/* cumulative in the exposition */
	metric_register(&h);
	char *text = render();

	CHECK(strstr(text, "t3_seconds_bucket{le=\"0.001\"} 4\n"));
	CHECK(strstr(text, "t3_seconds_bucket{le=\"0.002\"} 6\n"));
	CHECK(strstr(text, "t3_seconds_bucket{le=\"0.004\"} 8\n"));
	CHECK(strstr(text, "t3_seconds_bucket{le=\"1.024\"} 9\n"));
	CHECK(strstr(text, "t3_seconds_bucket{le=\"2.048\"} 10\n"));
	CHECK(strstr(text, "t3_seconds_bucket{le=\"32.768\"} 11\n"));
	CHECK(strstr(text, "t3_seconds_bucket{le=\"+Inf\"} 14\n"));
	CHECK(strstr(text, "t3_seconds_count 14\n"));
	free(text);
}

#define NTHREADS 4
#define NITER 100000

static struct metric t4_count = { .name = "t4_total", .help = "h", .type = METRIC_COUNTER };
static struct metric t4_hist = { .name = "t4_seconds", .help = "h", .type = METRIC_HISTOGRAM };
static atomic_bool t4_stop;

static void *t4_worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;

	for (unsigned i = 0; i < NITER; i++) {
		metric_add(&t4_count, 1);
		metric_observe_ns(&t4_hist, (uint64_t)(i % 40) * 1000000ull * (id + 1));
	}
	return NULL;
}

/* Scrapes while writers run: every histogram rendered must be self-consistent. */
static void *t4_scraper(void *arg)
{
	unsigned *scrapes = arg;

	while (!atomic_load(&t4_stop)) {
		char *buf = NULL, *p;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		uint64_t prev = 0, v, inf = 0, count = 0;

		if (!f)
			return NULL;
		metrics_render(f);
		fclose(f);
		for (p = buf; (p = strstr(p, "t4_seconds_bucket{le=\"")); p++) {
			char *sp = strchr(p, ' ');

			v = strtoull(sp + 1, NULL, 10);
			if (v < prev)
				*scrapes |= 0x80000000u;	/* not cumulative */
			prev = v;
			if (strncmp(p, "t4_seconds_bucket{le=\"+Inf\"}", 28) == 0)
				inf = v;
		}
		p = strstr(buf, "t4_seconds_count ");
		if (p)
			count = strtoull(p + 17, NULL, 10);
		if (inf != count)
			*scrapes |= 0x40000000u;
		free(buf);
		(*scrapes)++;
	}
	return NULL;
}

static void test_concurrency(void)
{
	pthread_t t[NTHREADS], s;
	unsigned scrapes = 0;
	uint64_t total = 0;

	metric_register(&t4_count);
	metric_register(&t4_hist);
	CHECK(pthread_create(&s, NULL, t4_scraper, &scrapes) == 0);
	for (uintptr_t i = 0; i < NTHREADS; i++)
		CHECK(pthread_create(&t[i], NULL, t4_worker, (void *)i) == 0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	atomic_store(&t4_stop, true);
	pthread_join(s, NULL);

	CHECK_INT_EQ(metric_get(&t4_count), NTHREADS * NITER);
	CHECK_INT_EQ(metric_get(&t4_hist), NTHREADS * NITER);
	for (int i = 0; i <= METRIC_BUCKETS; i++)
		total += atomic_load(&t4_hist.bucket[i]);
	CHECK_U64_EQ(total, NTHREADS * NITER);
	CHECK_MSG((scrapes & 0xC0000000u) == 0, "inconsistent scrape: %x", scrapes);
	CHECK(scrapes > 0);
	/* sum: each thread adds sum_{i} (i%40) ms * (id+1) */
	uint64_t per = 0;

	for (unsigned i = 0; i < NITER; i++)
		per += (uint64_t)(i % 40) * 1000000ull;
	CHECK_U64_EQ(atomic_load(&t4_hist.sum_ns), per * (1 + 2 + 3 + 4));
}

/* Every series line belongs to the family announced just before it, once per name. */
static void check_exposition_format(const char *text)
{
	char family[128] = "", type[32] = "";
	const char *line = text;
	int families = 0;

	while (*line) {
		const char *nl = strchr(line, '\n');
		char name[128];
		size_t n;

		CHECK(nl != NULL);
		if (strncmp(line, "# HELP ", 7) == 0) {
			CHECK(sscanf(line + 7, "%127s", family) == 1);
			/* the same family never reappears later */
			char needle[160];

			snprintf(needle, sizeof needle, "# HELP %s ", family);
			CHECK_MSG(strstr(nl, needle) == NULL, "HELP %s twice", family);
			families++;
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			CHECK(sscanf(line + 7, "%127s %31s", name, type) == 2);
			CHECK_STR_EQ(name, family);
		} else {
			n = strcspn(line, "{ ");
			CHECK(n < sizeof name);
			memcpy(name, line, n);
			name[n] = '\0';
			if (strcmp(type, "histogram") == 0) {
				size_t fl = strlen(family);

				CHECK_MSG(strncmp(name, family, fl) == 0 &&
					  (strcmp(name + fl, "_bucket") == 0 ||
					   strcmp(name + fl, "_sum") == 0 ||
					   strcmp(name + fl, "_count") == 0), "%s in %s", name, family);
			} else {
				CHECK_STR_EQ(name, family);
			}
		}
		line = nl + 1;
	}
	CHECK(families > 0);
}

static void test_s3_observer(void)
{
	struct s3_call_stats st = { .op = S3_OP_GET, .rc = 0, .http_status = 200,
				    .bytes_received = 1000, .latency_ns = 3000000 };
	char *text;

	metrics_s3_observer(NULL, &st);
	st.retries = 2;
	st.latency_ns = 40000000;
	metrics_s3_observer(NULL, &st);
	st = (struct s3_call_stats){ .op = S3_OP_PUT, .rc = -101, .http_status = 503,
				     .bytes_sent = 5000, .retries = 8, .latency_ns = 50000000000ull };
	metrics_s3_observer(NULL, &st);
	st.op = S3_OP_COUNT;		/* out of range: ignored */
	metrics_s3_observer(NULL, &st);
	metrics_s3_observer(NULL, NULL);

	text = render();
	CHECK(strstr(text, "s3files_s3_requests_total{op=\"get\"} 2\n"));
	CHECK(strstr(text, "s3files_s3_requests_total{op=\"put\"} 1\n"));
	CHECK(strstr(text, "s3files_s3_requests_total{op=\"mpu_complete\"} 0\n"));
	CHECK(strstr(text, "s3files_s3_requests_total{op=\"delete_multi\"} 0\n"));
	CHECK(strstr(text, "s3files_s3_errors_total{op=\"get\"} 0\n"));
	CHECK(strstr(text, "s3files_s3_errors_total{op=\"put\"} 1\n"));
	CHECK(strstr(text, "s3files_s3_retries_total{op=\"get\"} 2\n"));
	CHECK(strstr(text, "s3files_s3_retries_total{op=\"put\"} 8\n"));
	CHECK(strstr(text, "s3files_s3_received_bytes_total{op=\"get\"} 2000\n"));
	CHECK(strstr(text, "s3files_s3_sent_bytes_total{op=\"put\"} 5000\n"));
	CHECK(strstr(text, "# TYPE s3files_s3_request_duration_seconds histogram\n"));
	CHECK(strstr(text, "s3files_s3_request_duration_seconds_bucket{op=\"get\",le=\"0.002\"} 0\n"));
	CHECK(strstr(text, "s3files_s3_request_duration_seconds_bucket{op=\"get\",le=\"0.004\"} 1\n"));
	CHECK(strstr(text, "s3files_s3_request_duration_seconds_bucket{op=\"get\",le=\"0.064\"} 2\n"));
	CHECK(strstr(text, "s3files_s3_request_duration_seconds_sum{op=\"get\"} 0.043\n"));
	CHECK(strstr(text, "s3files_s3_request_duration_seconds_bucket{op=\"put\",le=\"32.768\"} 0\n"));
	CHECK(strstr(text, "s3files_s3_request_duration_seconds_bucket{op=\"put\",le=\"+Inf\"} 1\n"));
	CHECK(strstr(text, "s3files_s3_request_duration_seconds_count{op=\"put\"} 1\n"));
	/* one HELP per family; every op present */
	for (unsigned op = 0; op < S3_OP_COUNT; op++) {
		char needle[96], lower[32];
		const char *nm = s3_op_name((enum s3_op)op);
		size_t i;

		for (i = 0; nm[i] && i < sizeof lower - 1; i++)
			lower[i] = (char)(nm[i] >= 'A' && nm[i] <= 'Z' ? nm[i] + 32 : nm[i]);
		lower[i] = '\0';
		snprintf(needle, sizeof needle, "s3files_s3_requests_total{op=\"%s\"} ", lower);
		CHECK_MSG(strstr(text, needle) != NULL, "%s", needle);
	}
	check_exposition_format(text);
	free(text);
}

/* Families computed at scrape time (the daemon's per-export values) and label values. */
static void test_render_family(void)
{
	struct metric_sample s[2] = { { "export=\"1\"", 12 }, { "export=\"7\"", -3 } };
	char lab[64], tiny[6];
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	CHECK(f != NULL);
	metrics_render_family(f, "t_fam_total", "Per export\\things\nmore.", METRIC_COUNTER, s, 2);
	metrics_render_family(f, "t_empty", "Nothing.", METRIC_GAUGE, s, 0);
	metrics_render_family(f, "t_hist", "Refused.", METRIC_HISTOGRAM, s, 2);
	s[0].labels = NULL;
	metrics_render_family(f, "t_gauge", "G.", METRIC_GAUGE, s, 1);
	CHECK(fclose(f) == 0);
	CHECK_STR_EQ(buf,
		"# HELP t_fam_total Per export\\\\things\\nmore.\n"
		"# TYPE t_fam_total counter\n"
		"t_fam_total{export=\"1\"} 12\n"
		"t_fam_total{export=\"7\"} -3\n"
		"# HELP t_gauge G.\n"
		"# TYPE t_gauge gauge\n"
		"t_gauge 12\n");
	check_exposition_format(buf);
	free(buf);

	CHECK_STR_EQ(metrics_label_escape("a\"b\\c\nd/e", lab, sizeof lab), "a\\\"b\\\\c\\nd/e");
	CHECK_STR_EQ(metrics_label_escape(NULL, lab, sizeof lab), "");
	/* cut before an escape that does not fit whole, never inside it */
	CHECK_STR_EQ(metrics_label_escape("abcd\"e", tiny, sizeof tiny), "abcd");
	CHECK_STR_EQ(metrics_label_escape("abc\"e", tiny, sizeof tiny), "abc\\\"");
	CHECK_STR_EQ(metrics_label_escape("abcdefgh", tiny, sizeof tiny), "abcde");
}

int main(void)
{
	CHECK_RUN(test_exposition_exact);
	CHECK_RUN(test_counter_gauge);
	CHECK_RUN(test_histogram_math);
	CHECK_RUN(test_concurrency);
	CHECK_RUN(test_s3_observer);
	CHECK_RUN(test_render_family);
	return check_done();
}
