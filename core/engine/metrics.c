/*
 * metrics.c — see metrics.h.
 *
 * Updates are single relaxed atomic operations on the metric itself: the hot paths (every
 * S3 request, every NFS operation that counts something) never take a lock, and nothing
 * needs ordering between two metrics. A scrape may therefore see a histogram whose
 * buckets and count were updated a few observations apart; to keep the exposition
 * self-consistent (le="+Inf" must equal _count) both are rendered from the same bucket
 * sum. The registry lock only guards the list.
 *
 * Histogram buckets are powers of two from 1 ms to 32.768 s (le="0.001" .. le="32.768")
 * plus +Inf, kept per bucket and made cumulative when rendered.
 */
#include "engine/metrics.h"

#include "s3/s3.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric *metrics_head;		/* under metrics_lock, in registration order */
static struct metric **metrics_tail = &metrics_head;	/* under metrics_lock */

#define NS_PER_MS 1000000ull

void metric_register(struct metric *m)
{
	pthread_mutex_lock(&metrics_lock);
	for (struct metric *it = metrics_head; it; it = it->next) {
		if (it == m) {
			pthread_mutex_unlock(&metrics_lock);
			return;
		}
	}
	m->next = NULL;
	*metrics_tail = m;
	metrics_tail = &m->next;
	pthread_mutex_unlock(&metrics_lock);
}

void metric_add(struct metric *m, int64_t delta)
{
	atomic_fetch_add_explicit(&m->value, delta, memory_order_relaxed);
}

void metric_set(struct metric *m, int64_t v)
{
	atomic_store_explicit(&m->value, v, memory_order_relaxed);
}

int64_t metric_get(const struct metric *m)
{
	if (m->type == METRIC_HISTOGRAM)
		return (int64_t)atomic_load_explicit(&m->count, memory_order_relaxed);
	return atomic_load_explicit(&m->value, memory_order_relaxed);
}

void metric_observe_ns(struct metric *m, uint64_t ns)
{
	unsigned i = 0;

	while (i < METRIC_BUCKETS && ns > (NS_PER_MS << i))
		i++;
	atomic_fetch_add_explicit(&m->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sum_ns, ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
}

/* Nanoseconds as decimal seconds without trailing zeros: 1500000 -> "0.0015". */
static void metrics_fmt_seconds(char *buf, size_t len, uint64_t ns)
{
	uint64_t s = ns / 1000000000ull, frac = ns % 1000000000ull;
	int digits = 9;

	if (frac == 0) {
		snprintf(buf, len, "%" PRIu64, s);
		return;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	snprintf(buf, len, "%" PRIu64 ".%0*" PRIu64, s, digits, frac);
}

/* HELP text: backslash and newline escaped, as the format requires. */
static void metrics_put_help(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static const char *metrics_type_name(enum metric_type t)
{
	switch (t) {
	case METRIC_COUNTER: return "counter";
	case METRIC_GAUGE: return "gauge";
	case METRIC_HISTOGRAM: return "histogram";
	}
	return "untyped";
}

/* name{labels} or name{labels,extra} or name{extra} or name. */
static void metrics_put_series(FILE *out, const char *name, const char *suffix,
			       const char *labels, const char *extra)
{
	bool l = labels && *labels, e = extra && *extra;

	fprintf(out, "%s%s", name, suffix);
	if (l || e)
		fprintf(out, "{%s%s%s}", l ? labels : "", l && e ? "," : "", e ? extra : "");
}

static void metrics_render_one(FILE *out, const struct metric *m)
{
	uint64_t cum = 0;
	char le[48], num[32];

	if (m->type != METRIC_HISTOGRAM) {
		metrics_put_series(out, m->name, "", m->labels, NULL);
		fprintf(out, " %" PRId64 "\n", atomic_load_explicit(&m->value, memory_order_relaxed));
		return;
	}
	for (unsigned i = 0; i <= METRIC_BUCKETS; i++) {
		cum += atomic_load_explicit(&m->bucket[i], memory_order_relaxed);
		if (i < METRIC_BUCKETS) {
			metrics_fmt_seconds(num, sizeof num, NS_PER_MS << i);
			snprintf(le, sizeof le, "le=\"%s\"", num);
		} else {
			snprintf(le, sizeof le, "le=\"+Inf\"");
		}
		metrics_put_series(out, m->name, "_bucket", m->labels, le);
		fprintf(out, " %" PRIu64 "\n", cum);
	}
	metrics_fmt_seconds(num, sizeof num, atomic_load_explicit(&m->sum_ns, memory_order_relaxed));
	metrics_put_series(out, m->name, "_sum", m->labels, NULL);
	fprintf(out, " %s\n", num);
	metrics_put_series(out, m->name, "_count", m->labels, NULL);
	fprintf(out, " %" PRIu64 "\n", cum);
}

/*
 * Every series of one name must follow its single HELP/TYPE pair, so metrics are grouped
 * by name (first registration fixes the order, the help and the type). Quadratic in the
 * number of metrics, which is a few hundred at most.
 */
void metrics_render(FILE *out)
{
	pthread_mutex_lock(&metrics_lock);
	for (const struct metric *m = metrics_head; m; m = m->next) {
		bool first = true;

		for (const struct metric *p = metrics_head; p != m; p = p->next) {
			if (strcmp(p->name, m->name) == 0) {
				first = false;
				break;
			}
		}
		if (!first)
			continue;
		fprintf(out, "# HELP %s ", m->name);
		metrics_put_help(out, m->help);
		fprintf(out, "\n# TYPE %s %s\n", m->name, metrics_type_name(m->type));
		for (const struct metric *s = m; s; s = s->next)
			if (strcmp(s->name, m->name) == 0)
				metrics_render_one(out, s);
	}
	pthread_mutex_unlock(&metrics_lock);
}

void metrics_render_family(FILE *out, const char *name, const char *help, enum metric_type type,
			   const struct metric_sample *samples, size_t n)
{
	if (n == 0 || type == METRIC_HISTOGRAM)
		return;
	fprintf(out, "# HELP %s ", name);
	metrics_put_help(out, help);
	fprintf(out, "\n# TYPE %s %s\n", name, metrics_type_name(type));
	for (size_t i = 0; i < n; i++) {
		metrics_put_series(out, name, "", samples[i].labels, NULL);
		fprintf(out, " %" PRId64 "\n", samples[i].value);
	}
}

char *metrics_label_escape(const char *v, char *buf, size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return buf;
	for (; v && *v; v++) {
		const char *esc = NULL;
		size_t k;

		if (*v == '\\')
			esc = "\\\\";
		else if (*v == '"')
			esc = "\\\"";
		else if (*v == '\n')
			esc = "\\n";
		k = esc ? 2 : 1;

		if (o + k >= cap)
			break;
		if (esc)
			memcpy(buf + o, esc, 2);
		else
			buf[o] = *v;
		o += k;
	}
	buf[o] = '\0';
	return buf;
}

/* ------------------------------------------------------------------------------------
 * S3 client observer.
 */

struct metrics_s3_op {
	char labels[40];		/* op="get" */
	struct metric requests, errors, retries, sent, received, latency;
};

static struct metrics_s3_op metrics_s3[S3_OP_COUNT];
static pthread_once_t metrics_s3_once = PTHREAD_ONCE_INIT;

/* All ops at once, so every op shows (at zero) from the first request on. */
static void metrics_s3_init(void)
{
	for (unsigned op = 0; op < S3_OP_COUNT; op++) {
		struct metrics_s3_op *o = &metrics_s3[op];
		const char *name = s3_op_name((enum s3_op)op);
		size_t n = 0;

		n += (size_t)snprintf(o->labels, sizeof o->labels, "op=\"");
		for (; *name && n + 3 < sizeof o->labels; name++)
			o->labels[n++] = (char)(*name >= 'A' && *name <= 'Z' ? *name + 32 : *name);
		o->labels[n++] = '"';
		o->labels[n] = '\0';

		o->requests = (struct metric){ .name = "s3files_s3_requests_total",
			.help = "S3 requests completed (after retries), by operation",
			.labels = o->labels, .type = METRIC_COUNTER };
		o->errors = (struct metric){ .name = "s3files_s3_errors_total",
			.help = "S3 requests that failed in the end, by operation",
			.labels = o->labels, .type = METRIC_COUNTER };
		o->retries = (struct metric){ .name = "s3files_s3_retries_total",
			.help = "S3 request attempts retried, by operation",
			.labels = o->labels, .type = METRIC_COUNTER };
		o->sent = (struct metric){ .name = "s3files_s3_sent_bytes_total",
			.help = "Request body bytes sent to S3, by operation",
			.labels = o->labels, .type = METRIC_COUNTER };
		o->received = (struct metric){ .name = "s3files_s3_received_bytes_total",
			.help = "Response body bytes received from S3, by operation",
			.labels = o->labels, .type = METRIC_COUNTER };
		o->latency = (struct metric){ .name = "s3files_s3_request_duration_seconds",
			.help = "S3 request latency from first attempt to completion, by operation",
			.labels = o->labels, .type = METRIC_HISTOGRAM };
	}
	/* registered name by name, so each family is contiguous even before rendering */
	for (unsigned op = 0; op < S3_OP_COUNT; op++)
		metric_register(&metrics_s3[op].requests);
	for (unsigned op = 0; op < S3_OP_COUNT; op++)
		metric_register(&metrics_s3[op].errors);
	for (unsigned op = 0; op < S3_OP_COUNT; op++)
		metric_register(&metrics_s3[op].retries);
	for (unsigned op = 0; op < S3_OP_COUNT; op++)
		metric_register(&metrics_s3[op].sent);
	for (unsigned op = 0; op < S3_OP_COUNT; op++)
		metric_register(&metrics_s3[op].received);
	for (unsigned op = 0; op < S3_OP_COUNT; op++)
		metric_register(&metrics_s3[op].latency);
}

void metrics_s3_observer(void *arg, const struct s3_call_stats *st)
{
	struct metrics_s3_op *o;

	(void)arg;
	if (!st || (unsigned)st->op >= S3_OP_COUNT)
		return;
	pthread_once(&metrics_s3_once, metrics_s3_init);
	o = &metrics_s3[st->op];
	metric_add(&o->requests, 1);
	if (st->rc != 0)
		metric_add(&o->errors, 1);
	if (st->retries)
		metric_add(&o->retries, st->retries);
	if (st->bytes_sent)
		metric_add(&o->sent, (int64_t)st->bytes_sent);
	if (st->bytes_received)
		metric_add(&o->received, (int64_t)st->bytes_received);
	metric_observe_ns(&o->latency, st->latency_ns);
}
