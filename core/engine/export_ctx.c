/*
 * export_ctx.c — see export_ctx.h.
 */
#include "engine/export_ctx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "engine/fio.h"
#include "engine/import.h"
#include "engine/metrics.h"

static void export_ctx_s3_base(const struct conf_export *cfg, struct s3_config *out)
{
	memset(out, 0, sizeof *out);
	out->endpoint = cfg->endpoint;
	out->region = cfg->region;
	out->bucket = cfg->bucket;
	out->path_style = cfg->path_style;
	out->tls_skip_verify = !cfg->tls_verify;
	out->ca_file = cfg->ca_file;
	out->max_connections = cfg->max_connections;
	out->part_size = cfg->part_size;
	out->multipart_threshold = cfg->multipart_threshold;
	out->observer = metrics_s3_observer;
	s3_config_defaults(out);
}

static struct s3_creds_source export_ctx_creds_source(const struct conf_export *cfg)
{
	return (struct s3_creds_source){
		.access_key_id = cfg->access_key_id,
		.secret_access_key = cfg->secret_access_key,
		.credentials_file = cfg->credentials_file,
		.profile = cfg->profile,
		.use_env = true,
	};
}

int export_ctx_s3_config(const struct conf_export *cfg, struct s3_config *out, char *err,
			 size_t errlen)
{
	struct s3_creds_source src = export_ctx_creds_source(cfg);

	export_ctx_s3_base(cfg, out);
	return s3_creds_load(&src, &out->creds, err, errlen);
}

/* The export's credential provider: chosen once here, logged by s3_credp_open. */
static int export_ctx_credp_open(const struct conf_export *cfg, struct s3_credp **out)
{
	struct s3_credp_opts o = {
		.src = export_ctx_creds_source(cfg),
		.sts_endpoint = cfg->sts_endpoint,
		.region = cfg->region,
		.ca_file = cfg->ca_file,
	};
	char err[512] = "";
	int rc;

	if (cfg->credentials_provider &&
	    s3_credp_kind_parse(cfg->credentials_provider, &o.kind) != 0) {
		LOG_ERROR(LOG_C_CORE, "export %u: unknown Credentials_Provider %s", cfg->export_id,
			  cfg->credentials_provider);
		return S3F_E_CONFIG;
	}
	rc = s3_credp_open(&o, out, err, sizeof err);
	if (rc) {
		LOG_ERROR(LOG_C_CORE, "export %u: credentials: %s", cfg->export_id, err);
		return rc == ENOMEM ? rc : S3F_E_CONFIG;
	}
	return 0;
}

/* What export_ctx_open allocates: the public part and the store, which only ns reaches
 * (export_ctx.h). */
struct export_ctx_own {
	struct export_ctx x;	/* first: a struct export_ctx * is one of these */
	struct meta_env *meta;
};

static struct export_ctx_own *export_ctx_own(struct export_ctx *x)
{
	return (struct export_ctx_own *)x;
}

/* Refuse a state dir that was created for another bucket or prefix. */
static int export_ctx_bind(struct export_ctx *x, struct meta_env *me)
{
	char want[2048], have[2048];
	bool mismatch;
	int n, rc;

	n = snprintf(want, sizeof want, "s3://%s/%s", x->cfg->bucket, x->cfg->prefix);
	if (n < 0 || (size_t)n >= sizeof want)
		return ENAMETOOLONG;
	rc = ns_store_bind(me, want, (size_t)n, have, sizeof have, &mismatch);
	if (rc)
		return rc;
	if (mismatch) {
		LOG_ERROR(LOG_C_CORE,
			  "export %u: state directory %s belongs to %s, not %s; refusing to mix "
			  "them (use another State_Dir)", x->cfg->export_id, x->cfg->state_dir,
			  have, want);
		return S3F_E_CONFIG;
	}
	return 0;
}

int export_ctx_open(const struct conf_export *cfg, unsigned flags, struct export_ctx **out)
{
	struct export_ctx_own *o;
	struct export_ctx *x;
	struct meta_opts mo = { .map_size = cfg->meta_map_size };
	struct data_opts dop = { .quota_bytes = cfg->data_quota };
	struct ns_defaults nd = { .file_mode = 0644, .dir_mode = 0755 };
	int rc;

	o = calloc(1, sizeof *o);
	if (!o)
		return ENOMEM;
	x = &o->x;
	x->cfg = cfg;
	rc = keymap_init(&x->km, cfg->prefix ? cfg->prefix : "");
	if (rc) {
		LOG_ERROR(LOG_C_CORE, "export %u: bad prefix '%s'", cfg->export_id, cfg->prefix);
		goto fail_free;
	}
	/* What the metadata of imported objects may set (S3_Setid, S3_Root_Owner); a
	 * hand-made cfg without squash ids keeps keymap_init's. */
	x->km.trust.setid = cfg->s3_setid;
	x->km.trust.devices = cfg->s3_devices;
	x->km.trust.root_owner = cfg->s3_root_owner;
	if (cfg->s3_squash_uid)
		x->km.trust.squash_uid = cfg->s3_squash_uid;
	if (cfg->s3_squash_gid)
		x->km.trust.squash_gid = cfg->s3_squash_gid;
	rc = meta_env_open(cfg->meta_dir, &mo, &o->meta);
	if (rc)
		goto fail_keymap;
	rc = export_ctx_bind(x, o->meta);
	if (rc)
		goto fail_meta;
	rc = data_tier_open(cfg->data_dir, &dop, &x->data);
	if (rc) {
		LOG_ERROR(LOG_C_CORE, "export %u: data tier %s: %s", cfg->export_id, cfg->data_dir,
			  s3f_strerror(rc));
		goto fail_meta;
	}
	rc = journal_open(cfg->journal_path, &x->journal);
	if (rc) {
		LOG_ERROR(LOG_C_CORE, "export %u: journal %s: %s", cfg->export_id,
			  cfg->journal_path, s3f_strerror(rc));
		goto fail_data;
	}
	if (!(flags & EXPORT_CTX_NO_S3)) {
		struct s3_config sc;

		rc = export_ctx_credp_open(cfg, &x->credp);
		if (rc)
			goto fail_journal;
		export_ctx_s3_base(cfg, &sc);
		sc.credp = x->credp;
		rc = s3_client_open(&sc, &x->s3);
		if (rc) {
			LOG_ERROR(LOG_C_CORE, "export %u: S3 client: %s", cfg->export_id,
				  s3f_strerror(rc));
			goto fail_credp;
		}
	}
	rc = ns_open(o->meta, &x->km, x->journal, &nd, &x->ns);
	if (rc)
		goto fail_s3;
	rc = fio_log_open(x);
	if (rc) {
		LOG_ERROR(LOG_C_CORE, "export %u: deferred-write log in %s: %s", cfg->export_id,
			  cfg->meta_dir, s3f_strerror(rc));
		goto fail_ns;
	}
	if (x->s3 && (rc = import_jobs_open(&x->jobs)) != 0)
		goto fail_fio_log;
	*out = x;
	return 0;

fail_fio_log:
	fio_log_close(x);
fail_ns:
	ns_close(x->ns);
fail_s3:
	s3_client_close(x->s3);
fail_credp:
	s3_credp_close(x->credp);
fail_journal:
	journal_close(x->journal);
fail_data:
	data_tier_close(x->data);
fail_meta:
	meta_env_close(o->meta);
fail_keymap:
	keymap_fini(&x->km);
fail_free:
	free(o);
	return rc;
}

void export_ctx_close(struct export_ctx *x)
{
	if (!x)
		return;
	import_jobs_close(x->jobs);	/* first: its listings use everything below */
	fio_log_close(x);
	ns_close(x->ns);
	if (x->s3)
		s3_client_close(x->s3);
	s3_credp_close(x->credp);	/* after its user, the client */
	journal_close(x->journal);
	data_tier_close(x->data);
	meta_env_close(export_ctx_own(x)->meta);
	keymap_fini(&x->km);
	free(export_ctx_own(x));
}
