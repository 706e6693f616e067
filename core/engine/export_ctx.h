/*
 * export_ctx.h — everything one export needs at run time, opened from its config:
 * key mapping, metadata store, data tier, event journal, S3 client, namespace.
 *
 * Opened by the FSAL (per ganesha export), the daemon (per export) and the CLI.
 * A state directory belongs to one bucket + prefix: opening it for another is refused,
 * so a config edit can never mix two buckets' metadata.
 *
 * Ownership: the context borrows cfg (it must outlive the context) and owns the rest.
 * All members are thread-safe objects; the struct itself is immutable after open.
 *
 * The metadata store is not a member: the context owns it privately and hands out the
 * namespace over it. Everything that changes the store goes through ns (ns.h); readers
 * that look at the store as a whole (fsck, statistics) get it from ns_store(x->ns), and
 * durability is ns_sync(x->ns).
 */
#ifndef S3F_EXPORT_CTX_H
#define S3F_EXPORT_CTX_H

#include "base/conf.h"
#include "store/data.h"
#include "store/journal.h"
#include "ns/keymap.h"
#include "store/meta.h"
#include "ns/ns.h"
#include "s3/s3.h"
#include "s3/s3_credp.h"

struct fio_log;
struct import_jobs;

struct export_ctx {
	const struct conf_export *cfg;
	struct keymap km;
	struct data_tier *data;
	struct journal *journal;
	struct s3_credp *credp;	/* the S3 client's credentials (s3_credp.h); NULL with
				   EXPORT_CTX_NO_S3 */
	struct s3_client *s3;	/* NULL when opened with EXPORT_CTX_NO_S3 */
	struct ns *ns;		/* the file view over the context's metadata store */
	struct fio_log *fio_log;	/* deferred write records (fio.h); NULL in a context
					   made by hand (tests): no write is deferred */
	struct import_jobs *jobs;	/* first listings in the background (import.h); NULL
					   without S3 or in a context made by hand: listings
					   run in their caller's thread */
};

#define EXPORT_CTX_NO_S3 0x1	/* local state only (CLI status, offline tools) */

/* 0, S3F_E_CONFIG (state dir of another bucket, bad credentials source; logged), or the
 * error of the part that failed (logged with the export id). */
int export_ctx_open(const struct conf_export *cfg, unsigned flags, struct export_ctx **out);
void export_ctx_close(struct export_ctx *x);

/* The S3 client settings of an export with static credentials resolved (s3_creds_load:
 * config, environment, file); for tools and tests. export_ctx_open uses the export's
 * credential provider instead (Credentials_Provider, s3_credp.h). */
int export_ctx_s3_config(const struct conf_export *cfg, struct s3_config *out, char *err,
			 size_t errlen);

#endif
