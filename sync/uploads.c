/*
 * uploads.c — the multipart uploads this daemon started and has not seen end.
 *
 * A multipart upload that is cut short (the daemon killed mid-upload, the machine down,
 * or S3 unreachable when the failed upload was to be aborted) leaves its parts on the
 * server: invisible to listings, still stored and billed, until someone aborts it. The S3
 * client reports each upload's start and end through s3_put_opts.upload_hook; the hook
 * here records the start in the metadata store (ns_upload_add) before the first part is
 * sent, and drops the record when the upload is gone (completed or aborted).
 *
 * Uploads run only inside commit passes, and those run one at a time per export (under
 * the commit_lock), so a record still there when a pass begins belongs to no running
 * upload: sync_uploads_abort_orphans aborts it then (the first pass after a start, and any
 * pass after an abort failed). Only uploads this gateway started are touched: others
 * under the prefix (other tools, other gateways) are none of its business.
 */
#include "syncd.h"

#include "ns/ns_sync.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"

int sync_upload_hook(void *arg, enum s3_upload_event ev, const char *key, const char *upload_id)
{
	struct sync_export *se = arg;
	int rc;

	if (strlen(key) > S3_KEY_MAX || strlen(upload_id) >= S3_UPLOAD_ID_MAX)
		return EINVAL;
	rc = ev == S3_UPLOAD_STARTED ? ns_upload_add(se->x->ns, key, upload_id) :
				       ns_upload_drop(se->x->ns, upload_id);
	if (rc)
		LOG_WARN(LOG_C_SYNC, "export %u: %s the multipart upload of '%s' in the store "
			 "failed: %s%s", se->cfg->export_id,
			 ev == S3_UPLOAD_STARTED ? "recording" : "dropping the record of", LOG_ESCS(key),
			 s3f_strerror(rc), ev == S3_UPLOAD_STARTED ? " (not uploading)" : "");
	return rc;
}

int sync_uploads_abort_orphans(struct sync_export *se)
{
	struct ns_upload *l = NULL;
	size_t n = 0;
	int rc, first = 0;

	rc = ns_upload_list(se->x->ns, &l, &n);
	if (rc || n == 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const char *key = l[i].key, *id = l[i].id;
		struct journal_field f[3];

		rc = s3_mpu_abort(se->x->s3, key, id);
		if (s3_err_transient(rc)) {
			LOG_WARN(LOG_C_SYNC, "export %u: aborting the unfinished multipart upload of "
				 "'%s' failed: %s (will retry)", se->cfg->export_id, LOG_ESCS(key),
				 s3f_strerror(rc));
			if (!first)
				first = rc;
			continue;
		}
		/* Refused for good (no permission, ...): trying again would not help. */
		if (rc && rc != S3F_E_S3_NOUPLOAD)
			LOG_WARN(LOG_C_SYNC, "export %u: the unfinished multipart upload %s of '%s' "
				 "cannot be aborted (%s); it stays on the server", se->cfg->export_id,
				 LOG_ESCS(id), LOG_ESCS(key), s3f_strerror(rc));
		/* NoSuchUpload: it completed (or was aborted) before the record was dropped */
		if (rc == 0) {
			f[0] = JF_B("key", key, l[i].key_len);
			f[1] = JF_S("upload_id", id);
			f[2] = JF_I("started_ns", l[i].started_ns);
			(void)journal_append(se->x->journal, JOURNAL_UPLOAD_ABORTED, f, 3, NULL);
			LOG_INFO(LOG_C_SYNC, "export %u: aborted the multipart upload of '%s' left "
				 "unfinished by an earlier commit", se->cfg->export_id, LOG_ESCS(key));
		}
		rc = ns_upload_drop(se->x->ns, id);
		if (rc && !first)
			first = rc;
	}
	rc = first;
out:
	free(l);
	return rc;
}
