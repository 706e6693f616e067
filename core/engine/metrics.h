/*
 * metrics.h — process-local counters, gauges and latency histograms, rendered in the
 * Prometheus text format by the daemon (and dumped by tests).
 *
 * Metrics are registered once (static storage, usually at start-up) and updated from
 * any thread with relaxed atomics; rendering takes the registry lock only to walk the
 * list. Names follow Prometheus rules: s3files_<module>_<what>[_total|_seconds|_bytes].
 */
#ifndef S3F_METRICS_H
#define S3F_METRICS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

#define METRIC_BUCKETS 16	/* latency buckets: 1 ms .. 32 s, powers of two, + Inf */

/* Define statically: static struct metric m = { .name = ..., .help = ..., .type = ... };
 * the counters start at zero. Read them with metric_get, not directly. */
struct metric {
	const char *name;
	const char *help;
	const char *labels;	/* e.g. "op=\"put\"" or NULL */
	enum metric_type type;
	/* counter / gauge value */
	_Atomic int64_t value;
	/* histogram (seconds): counts per bucket (not cumulative; bucket i holds
	 * observations <= 2^i ms, the last one the rest), sum in ns, total count */
	_Atomic uint64_t bucket[METRIC_BUCKETS + 1];
	_Atomic uint64_t sum_ns;
	_Atomic uint64_t count;
	struct metric *next;	/* registry list, under the registry lock */
};

/* Register m (caller-owned, lives until exit). Registering twice is a no-op. */
void metric_register(struct metric *m);

void metric_add(struct metric *m, int64_t delta);
void metric_set(struct metric *m, int64_t v);
int64_t metric_get(const struct metric *m);	/* histogram: the count */
void metric_observe_ns(struct metric *m, uint64_t ns);

/* Prometheus text exposition of every registered metric. */
void metrics_render(FILE *out);

/* A family computed at scrape time instead of kept in the registry (e.g. one series per
 * export, read from the daemon's own counters): its HELP and TYPE lines, then one line
 * per sample. Counters and gauges only; labels as in struct metric (already escaped,
 * see metrics_label_escape), NULL or "" for none. n == 0 writes nothing. */
struct metric_sample {
	const char *labels;
	int64_t value;
};
void metrics_render_family(FILE *out, const char *name, const char *help, enum metric_type type,
			   const struct metric_sample *samples, size_t n);

/* v as the inside of a quoted label value (backslash, double quote and newline escaped)
 * into buf (cap bytes, always NUL-terminated). Returns buf; a value that does not fit is
 * cut at a character boundary of the escaping, never in the middle of an escape. */
char *metrics_label_escape(const char *v, char *buf, size_t cap);

/* The S3 client's observer: per-op request counters, error counters, retries, bytes and
 * latency histograms. Pass as s3_config.observer (arg unused). */
struct s3_call_stats;
void metrics_s3_observer(void *arg, const struct s3_call_stats *st);

#endif
