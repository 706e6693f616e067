/*
 * uploads.c — the multipart uploads this daemon started and has not seen end.
 *
 * A multipart upload that is cut short (the daemon killed mid-upload, the machine down,
 * or S3 unreachable when the failed upload was to be aborted) leaves its parts on the
 * server: invisible to listings, still stored and billed, until someone aborts it. The S3
 * client reports each upload's start and end through s3_put_opts.upload_hook; the hook
 * here records the start in the metadata store (meta info "uploads") before the first
 * part is sent, and drops the record when the upload is gone (completed or aborted).
 *
 * Uploads run only inside commit passes, and those run one at a time per export (under
 * the commit_lock), so a record still there when a pass begins belongs to no running
 * upload: sync_uploads_abort_orphans aborts it then (the first pass after a start, and any
 * pass after an abort failed). Only uploads this gateway started are touched: others
 * under the prefix (other tools, other gateways) are none of its business.
 *
 * Record format, entries one after another: u16 key length, key, u16 upload id length,
 * upload id, i64 start time (ns), all little-endian as the host is (the store is local).
 */
#include "syncd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"

#define SYNC_UPLOADS_INFO "uploads"
/* Records kept at most: one upload runs at a time per export; more only pile up while
 * aborts fail, and then new uploads fail too. */
#define SYNC_UPLOADS_MAX 64
#define SYNC_UPLOADS_CAP (SYNC_UPLOADS_MAX * (4 + S3_KEY_MAX + S3_UPLOAD_ID_MAX + 8))

struct sync_upload_rec {
	const char *key;
	size_t key_len;
	const char *id;
	size_t id_len;
	int64_t started_ns;
};

/* The next record of buf[*off, len); false at the end or on a torn record. */
static bool sync_upload_next(const unsigned char *buf, size_t len, size_t *off,
			     struct sync_upload_rec *r)
{
	size_t o = *off;
	uint16_t kl, il;

	if (len - o < 2)
		return false;
	memcpy(&kl, buf + o, 2);
	o += 2;
	if (len - o < (size_t)kl + 2)
		return false;
	r->key = (const char *)buf + o;
	r->key_len = kl;
	o += kl;
	memcpy(&il, buf + o, 2);
	o += 2;
	if (len - o < (size_t)il + 8)
		return false;
	r->id = (const char *)buf + o;
	r->id_len = il;
	o += il;
	memcpy(&r->started_ns, buf + o, 8);
	o += 8;
	*off = o;
	return true;
}

struct sync_uploads_txn_ctx {
	const char *key, *id;		/* the record to add, or (key NULL) to drop by id */
	unsigned char *buf;		/* SYNC_UPLOADS_CAP bytes */
	size_t len;			/* out (read): bytes of records */
};

static int sync_uploads_read_txn(struct meta_txn *t, void *arg)
{
	struct sync_uploads_txn_ctx *c = arg;
	int rc = meta_info_get(t, SYNC_UPLOADS_INFO, c->buf, SYNC_UPLOADS_CAP, &c->len);

	if (rc == ENOENT) {
		c->len = 0;
		rc = 0;
	}
	return rc;
}

/* Add (c->key set) or drop (c->key NULL: every record of upload id c->id). */
static int sync_uploads_change_txn(struct meta_txn *t, void *arg)
{
	struct sync_uploads_txn_ctx *c = arg;
	unsigned char *out = c->buf + SYNC_UPLOADS_CAP;	/* second half of the buffer */
	size_t off = 0, olen = 0, n = 0;
	struct sync_upload_rec r;
	int rc = sync_uploads_read_txn(t, c);

	if (rc)
		return rc;
	while (sync_upload_next(c->buf, c->len, &off, &r)) {
		size_t rl = 2 + r.key_len + 2 + r.id_len + 8;

		if (!c->key && r.id_len == strlen(c->id) && memcmp(r.id, c->id, r.id_len) == 0)
			continue;
		memcpy(out + olen, c->buf + off - rl, rl);
		olen += rl;
		n++;
	}
	if (c->key) {
		uint16_t kl = (uint16_t)strlen(c->key), il = (uint16_t)strlen(c->id);
		int64_t now = meta_now_ns();

		if (n >= SYNC_UPLOADS_MAX)
			return ENOSPC;
		memcpy(out + olen, &kl, 2);
		memcpy(out + olen + 2, c->key, kl);
		olen += 2 + (size_t)kl;
		memcpy(out + olen, &il, 2);
		memcpy(out + olen + 2, c->id, il);
		olen += 2 + (size_t)il;
		memcpy(out + olen, &now, 8);
		olen += 8;
	} else if (olen == c->len) {
		return 0;	/* not recorded: nothing to write */
	}
	return meta_info_put(t, SYNC_UPLOADS_INFO, out, olen);
}

static int sync_uploads_change(struct sync_export *se, const char *key, const char *id)
{
	struct sync_uploads_txn_ctx c = { key, id, malloc(2 * SYNC_UPLOADS_CAP), 0 };
	int rc;

	if (!c.buf)
		return ENOMEM;
	rc = meta_write(se->x->meta, sync_uploads_change_txn, &c);
	free(c.buf);
	return rc;
}

int sync_upload_hook(void *arg, enum s3_upload_event ev, const char *key, const char *upload_id)
{
	struct sync_export *se = arg;
	int rc;

	if (strlen(key) > S3_KEY_MAX || strlen(upload_id) >= S3_UPLOAD_ID_MAX)
		return EINVAL;
	rc = sync_uploads_change(se, ev == S3_UPLOAD_STARTED ? key : NULL, upload_id);
	if (rc)
		LOG_WARN(LOG_C_SYNC, "export %u: %s the multipart upload of '%s' in the store "
			 "failed: %s%s", se->cfg->export_id,
			 ev == S3_UPLOAD_STARTED ? "recording" : "dropping the record of", LOG_ESCS(key),
			 s3f_strerror(rc), ev == S3_UPLOAD_STARTED ? " (not uploading)" : "");
	return rc;
}

int sync_uploads_abort_orphans(struct sync_export *se)
{
	struct sync_uploads_txn_ctx c = { NULL, NULL, malloc(SYNC_UPLOADS_CAP), 0 };
	struct sync_upload_rec r;
	size_t off = 0;
	int rc, first = 0;

	if (!c.buf)
		return ENOMEM;
	rc = meta_read(se->x->meta, sync_uploads_read_txn, &c);
	if (rc || c.len == 0)
		goto out;
	while (sync_upload_next(c.buf, c.len, &off, &r)) {
		char key[S3_KEY_MAX + 1], id[S3_UPLOAD_ID_MAX];
		struct journal_field f[3];

		if (r.key_len > S3_KEY_MAX || r.id_len >= S3_UPLOAD_ID_MAX)
			continue;
		memcpy(key, r.key, r.key_len);
		key[r.key_len] = '\0';
		memcpy(id, r.id, r.id_len);
		id[r.id_len] = '\0';
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
			f[0] = JF_B("key", key, r.key_len);
			f[1] = JF_S("upload_id", id);
			f[2] = JF_I("started_ns", r.started_ns);
			(void)journal_append(se->x->journal, JOURNAL_UPLOAD_ABORTED, f, 3, NULL);
			LOG_INFO(LOG_C_SYNC, "export %u: aborted the multipart upload of '%s' left "
				 "unfinished by an earlier commit", se->cfg->export_id, LOG_ESCS(key));
		}
		rc = sync_uploads_change(se, NULL, id);
		if (rc && !first)
			first = rc;
	}
	rc = first;
out:
	free(c.buf);
	return rc;
}
