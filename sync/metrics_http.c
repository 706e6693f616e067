/*
 * metrics_http.c — GET /metrics (Metrics_Listen) and GET /health.
 *
 * The registry of core/engine/metrics.c (S3 client requests, latencies, notifications) is
 * rendered as it is. Per-export values are not registered metrics: the daemon already
 * keeps them (struct sync_export's counters, the store's backlog, the data tier's usage),
 * so they are read at scrape time, one short read transaction per export for the
 * backlog (ns_backlog), and rendered with an export="<Export_Id>" label. What reads were
 * served from (read bypass vs the data tier) is counted by the FSAL in the other process;
 * it adds its counters to the store once a second (ns_read_stats_add), and they are read
 * from there in one more short read transaction per export.
 */
#include "syncd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "engine/metrics.h"
#include "ns/ns_sync.h"

#define METRICS_LABELS_MAX 1200		/* export, bucket and prefix (up to 1,000 bytes) */

struct metrics_export_values {
	char labels[32];			/* export="<id>" */
	char info_labels[METRICS_LABELS_MAX];	/* + bucket, prefix */
	uint64_t dirty, deletes;
	bool backlog_ok;
	struct ns_read_stats reads;
	bool reads_ok;
};

/* One family over every export: get(se, v) gives the value. */
typedef int64_t (*metrics_value_fn)(const struct sync_export *se,
				    const struct metrics_export_values *v);

static int64_t mv_commits(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)v;
	return (int64_t)__atomic_load_n(&se->n_commits, __ATOMIC_RELAXED);
}

static int64_t mv_close_commits(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)v;
	return (int64_t)__atomic_load_n(&se->n_close_commits, __ATOMIC_RELAXED);
}

static int64_t mv_commit_errors(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)v;
	return (int64_t)__atomic_load_n(&se->n_commit_errors, __ATOMIC_RELAXED);
}

static int64_t mv_conflicts(const struct sync_export *se, const struct metrics_export_values *v)
{
	uint64_t n = 0;

	(void)v;
	(void)ns_conflicts_count(se->x->ns, &n);	/* kept in the store: survives restarts */
	return (int64_t)n;
}

static int64_t mv_deletes(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)v;
	return (int64_t)__atomic_load_n(&se->n_deletes, __ATOMIC_RELAXED);
}

static int64_t mv_polls(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)v;
	return (int64_t)__atomic_load_n(&se->n_polls, __ATOMIC_RELAXED);
}

static int64_t mv_prefetched(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)v;
	return (int64_t)__atomic_load_n(&se->n_prefetched, __ATOMIC_RELAXED);
}

static int64_t mv_evicted(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)v;
	return (int64_t)__atomic_load_n(&se->n_evicted, __ATOMIC_RELAXED);
}

static int64_t mv_dirty(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)se;
	return (int64_t)v->dirty;
}

static int64_t mv_pending_deletes(const struct sync_export *se,
				  const struct metrics_export_values *v)
{
	(void)se;
	return (int64_t)v->deletes;
}

static int64_t mv_tier_bytes(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)v;
	return (int64_t)data_tier_usage(se->x->data);
}

static int64_t mv_quota_bytes(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)v;
	return (int64_t)se->cfg->data_quota;
}

static int64_t mv_read_bypass(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)se;
	return (int64_t)v->reads.bypass_bytes;
}

static int64_t mv_read_tier(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)se;
	return (int64_t)v->reads.tier_bytes;
}

static int64_t mv_read_fetched(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)se;
	return (int64_t)v->reads.fetched_bytes;
}

static int64_t mv_read_streams(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)se;
	return (int64_t)v->reads.streams;
}

static int64_t mv_read_aborted(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)se;
	return (int64_t)v->reads.aborted;
}

static int64_t mv_read_refused(const struct sync_export *se, const struct metrics_export_values *v)
{
	(void)se;
	return (int64_t)v->reads.refused;
}

enum metrics_needs { MN_NONE, MN_BACKLOG, MN_READS };

static const struct {
	const char *name;
	const char *help;
	enum metric_type type;
	metrics_value_fn get;
	enum metrics_needs needs;	/* values read from the store: absent if that failed */
} metrics_export_families[] = {
	{ "s3files_sync_commits_total", "Files uploaded to S3", METRIC_COUNTER, mv_commits,
	  MN_NONE },
	{ "s3files_sync_close_commits_total", "Of the uploads, those started before "
	  "Commit_Interval because a writer closed or flushed the file (Commit_On_Close)",
	  METRIC_COUNTER, mv_close_commits, MN_NONE },
	{ "s3files_sync_commit_errors_total", "Uploads that failed (retried later)",
	  METRIC_COUNTER, mv_commit_errors, MN_NONE },
	{ "s3files_sync_conflicts_total", "Conflicts (changed both in S3 and through the "
	  "mount; S3 won), over the export's life",
	  METRIC_COUNTER, mv_conflicts, MN_NONE },
	{ "s3files_sync_deletes_total", "Objects deleted in S3 for files removed through the "
	  "mount", METRIC_COUNTER, mv_deletes, MN_NONE },
	{ "s3files_sync_polls_total", "Poll passes (re-lists of every listed directory)",
	  METRIC_COUNTER, mv_polls, MN_NONE },
	{ "s3files_sync_prefetched_files_total", "Small files whose data was fetched in the "
	  "background after a listing", METRIC_COUNTER, mv_prefetched, MN_NONE },
	{ "s3files_sync_evicted_files_total", "Files whose local data was dropped from the "
	  "data tier", METRIC_COUNTER, mv_evicted, MN_NONE },
	{ "s3files_sync_dirty_inodes", "Files and directories changed through the mount and "
	  "not yet in S3 (including conflicts)", METRIC_GAUGE, mv_dirty, MN_BACKLOG },
	{ "s3files_sync_pending_deletes", "Deletes not yet carried out in S3", METRIC_GAUGE,
	  mv_pending_deletes, MN_BACKLOG },
	{ "s3files_data_tier_bytes", "Bytes the local data tier uses on disk", METRIC_GAUGE,
	  mv_tier_bytes, MN_NONE },
	{ "s3files_data_quota_bytes", "Data_Quota of the export (0: unlimited)", METRIC_GAUGE,
	  mv_quota_bytes, MN_NONE },
	{ "s3files_read_bypass_bytes_total", "Bytes of NFS reads served straight from S3 by "
	  "the read bypass (not staged in the data tier)", METRIC_COUNTER, mv_read_bypass,
	  MN_READS },
	{ "s3files_read_tier_bytes_total", "Bytes of NFS reads served from the local data tier "
	  "(including data fetched into it for the read)", METRIC_COUNTER, mv_read_tier,
	  MN_READS },
	{ "s3files_read_bypass_fetched_bytes_total", "Bytes fetched from S3 into read-bypass "
	  "windows", METRIC_COUNTER, mv_read_fetched, MN_READS },
	{ "s3files_read_bypass_streams_total", "Sequential readers served by the read bypass",
	  METRIC_COUNTER, mv_read_streams, MN_READS },
	{ "s3files_read_bypass_aborted_total", "Read-bypass streams ended with EIO because the "
	  "object changed in S3 while it was read", METRIC_COUNTER, mv_read_aborted, MN_READS },
	{ "s3files_read_bypass_refused_total", "Reads of sequential readers served through the "
	  "data tier because every read-bypass window was taken", METRIC_COUNTER,
	  mv_read_refused, MN_READS },
};

static void metrics_exports_render(struct syncd *d, FILE *out)
{
	struct metrics_export_values *v;
	struct metric_sample *s;
	size_t n = d->n_exports;

	if (n == 0)
		return;
	v = calloc(n, sizeof *v);
	s = calloc(n, sizeof *s);
	if (!v || !s) {
		free(v);
		free(s);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct sync_export *se = &d->exports[i];
		char b[300], p[1100];
		int rc;

		snprintf(v[i].labels, sizeof v[i].labels, "export=\"%u\"", se->cfg->export_id);
		snprintf(v[i].info_labels, sizeof v[i].info_labels,
			 "export=\"%u\",bucket=\"%s\",prefix=\"%s\"", se->cfg->export_id,
			 metrics_label_escape(se->cfg->bucket, b, sizeof b),
			 metrics_label_escape(se->cfg->prefix, p, sizeof p));
		rc = ns_backlog(se->x->ns, &v[i].dirty, &v[i].deletes);
		v[i].backlog_ok = rc == 0;
		if (rc)
			LOG_DEBUG(LOG_C_SYNC, "export %u: backlog for metrics: %d",
				  se->cfg->export_id, rc);
		rc = ns_read_stats_get(se->x->ns, &v[i].reads);
		v[i].reads_ok = rc == 0;
		if (rc)
			LOG_DEBUG(LOG_C_SYNC, "export %u: read statistics for metrics: %d",
				  se->cfg->export_id, rc);
	}
	for (size_t i = 0; i < n; i++)
		s[i] = (struct metric_sample){ v[i].info_labels, 1 };
	metrics_render_family(out, "s3files_export_info", "One series per export: its bucket "
			      "and prefix", METRIC_GAUGE, s, n);
	for (size_t f = 0; f < sizeof metrics_export_families / sizeof metrics_export_families[0];
	     f++) {
		size_t k = 0;

		for (size_t i = 0; i < n; i++) {
			if ((metrics_export_families[f].needs == MN_BACKLOG && !v[i].backlog_ok) ||
			    (metrics_export_families[f].needs == MN_READS && !v[i].reads_ok))
				continue;	/* unknown is absent, not zero */
			s[k++] = (struct metric_sample){ v[i].labels,
				metrics_export_families[f].get(&d->exports[i], &v[i]) };
		}
		metrics_render_family(out, metrics_export_families[f].name,
				      metrics_export_families[f].help,
				      metrics_export_families[f].type, s, k);
	}
	free(s);
	free(v);
}

void sync_metrics_get(void *arg, const struct http_req *req, const char *body, size_t len,
		      struct http_response *resp)
{
	struct syncd *d = arg;
	char *buf = NULL;
	size_t blen = 0;
	FILE *f;

	(void)req;
	(void)body;
	(void)len;
	f = open_memstream(&buf, &blen);
	if (!f) {
		http_response_text(resp, 500, "cannot render: %s\n", strerror(errno));
		return;
	}
	metrics_render(f);
	metrics_exports_render(d, f);
	if (fclose(f) != 0) {
		free(buf);
		http_response_text(resp, 500, "cannot render\n");
		return;
	}
	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	resp->body = buf;
	resp->len = blen;
}

void sync_health_get(void *arg, const struct http_req *req, const char *body, size_t len,
		     struct http_response *resp)
{
	(void)arg;
	(void)req;
	(void)body;
	(void)len;
	http_response_text(resp, 200, "ok\n");
}
