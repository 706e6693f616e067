/*
 * export.c — FSAL_S3FILES export: create/release, handle decoding, fs info, states.
 */
#include "s3f_fsal.h"

#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "export_mgr.h"
#include "nfs_core.h"
#include "nfs_exports.h"
#include "sal_data.h"

#include "base/err.h"
#include "store/instlock.h"
#include "base/log.h"
#include "base/clock.h"
#include "engine/fio.h"
#include "engine/readahead.h"

#define S3F_LOCK_NAME "fsal.lock"

static void s3f_release_export(struct fsal_export *exp_hdl)
{
	struct s3f_export *me = container_of(exp_hdl, struct s3f_export, export);

	uint64_t granted, recalled;
	int rc;

	s3f_up_stop(me);
	pthread_mutex_lock(&me->deleg_lock);
	granted = me->deleg_granted_total;
	recalled = me->deleg_recalls_total;
	pthread_mutex_unlock(&me->deleg_lock);
	if (granted)
		LogEvent(COMPONENT_FSAL, "S3FILES: export %u: %llu read delegations granted, "
			 "%llu recalled for S3-side changes", me->cfg->export_id,
			 (unsigned long long)granted, (unsigned long long)recalled);
	fsal_detach_export(exp_hdl->fsal, &exp_hdl->exports);
	free_export_ops(exp_hdl);
	readahead_close(me->ra);
	/* Deferred write records reach the store before it closes (fio.h). */
	if ((rc = fio_flush_all(me->x, 0)) != 0)
		LogCrit(COMPONENT_FSAL, "S3FILES: export %u: recording deferred writes failed: %s",
			me->cfg->export_id, s3f_strerror(rc));
	export_ctx_close(me->x);
	/* Closed: another ganesha may serve this State_Dir now. */
	instlock_release(me->lock);
	pthread_mutex_destroy(&me->up_lock);
	pthread_mutex_destroy(&me->quota_lock);
	pthread_cond_destroy(&me->up_cond);
	s3f_deleg_destroy(me);
	LogEvent(COMPONENT_FSAL, "S3FILES: export %u released", me->cfg->export_id);
	gsh_free(me);
}

/* One ganesha per State_Dir (instlock.h): the FSAL's own lock file, next to the daemon's.
 * Refused on a network file system (where flock does not reach the other host) unless
 * Allow_Network_State_Dir. 0, or S3F_E_CONFIG after a log line saying why. */
static int s3f_export_lock(const struct conf_export *ce, struct instlock **out)
{
	const char *const what[] = { "State_Dir", "Meta_Dir", "Data_Dir" };
	const char *const dirs[] = { ce->state_dir, ce->meta_dir, ce->data_dir };
	struct instlock_holder h;
	char who[512];
	int rc;

	for (size_t i = 0; i < 3; i++) {
		const char *fs = NULL;

		rc = instlock_fs_check(dirs[i], &fs);
		if (rc == EREMOTE && ce->allow_network_state_dir) {
			LogWarn(COMPONENT_FSAL, "S3FILES: export %u: %s %s is on a network file "
				"system (%s); Allow_Network_State_Dir is set: a second gateway on "
				"another host would not be kept out", ce->export_id, what[i], dirs[i],
				fs);
		} else if (rc == EREMOTE) {
			LogCrit(COMPONENT_FSAL, "S3FILES: export %u: %s %s is on a network file "
				"system (%s): its locks do not keep a gateway on another host out, "
				"and two gateways on one State_Dir lose data; refusing the export (put "
				"it on a local disk, or set Allow_Network_State_Dir = true if no other "
				"host uses it)", ce->export_id, what[i], dirs[i], fs);
			return S3F_E_CONFIG;
		} else if (rc) {
			LogCrit(COMPONENT_FSAL, "S3FILES: export %u: %s %s: %s", ce->export_id,
				what[i], dirs[i], strerror(rc));
			return rc;
		}
	}
	rc = instlock_acquire(ce->state_dir, S3F_LOCK_NAME, "ganesha.nfsd", out, &h);
	if (rc == EWOULDBLOCK && h.known && h.pid == getpid()) {
		LogCrit(COMPONENT_FSAL, "S3FILES: export %u: State_Dir %s is also the State_Dir "
			"of another S3FILES export here; each export needs its own; refusing it",
			ce->export_id, ce->state_dir);
		return S3F_E_CONFIG;
	}
	if (rc == EWOULDBLOCK) {
		LogCrit(COMPONENT_FSAL, "S3FILES: export %u: State_Dir %s is served by another "
			"ganesha: %s (lock %s/%s); refusing the export", ce->export_id,
			ce->state_dir, instlock_holder_str(&h, who, sizeof who), ce->state_dir,
			S3F_LOCK_NAME);
		return S3F_E_CONFIG;
	}
	if (rc)
		LogCrit(COMPONENT_FSAL, "S3FILES: export %u: lock %s/%s: %s", ce->export_id,
			ce->state_dir, S3F_LOCK_NAME, strerror(rc));
	return rc;
}

static fsal_status_t s3f_lookup_path(struct fsal_export *exp_hdl, const char *path,
				     struct fsal_obj_handle **handle,
				     struct fsal_attrlist *attrs_out)
{
	struct s3f_export *me = container_of(exp_hdl, struct s3f_export, export);
	struct meta_inode in;
	struct s3f_handle *h;
	int rc;

	/* The export's Path names the bucket root; sub-paths are not exported separately. */
	(void)path;
	rc = ns_getattr(me->x->ns, META_ROOT_INO, &in);
	if (rc)
		return s3f_status(rc);
	h = s3f_handle_alloc(me, &in);
	if (attrs_out)
		s3f_attrs_fill(me, &in, attrs_out);
	*handle = &h->obj_handle;
	return fsalstat(ERR_FSAL_NO_ERROR, 0);
}

static fsal_status_t s3f_wire_to_host(struct fsal_export *exp_hdl, fsal_digesttype_t in_type,
				      struct gsh_buffdesc *fh_desc, int flags)
{
	struct s3f_wire *w = fh_desc->addr;

	(void)exp_hdl;
	(void)in_type;
	if (fh_desc->len != sizeof(struct s3f_wire) || w->magic != S3F_WIRE_MAGIC ||
	    w->version != S3F_WIRE_VERSION) {
		LogMajor(COMPONENT_FSAL, "S3FILES: not one of our handles (len %zu)", fh_desc->len);
		return fsalstat(ERR_FSAL_BADHANDLE, 0);
	}
#if (BYTE_ORDER == LITTLE_ENDIAN)
	if (flags & FH_FSAL_BIG_ENDIAN) {
		w->gen = bswap_32(w->gen);
		w->ino = bswap_64(w->ino);
	}
#else
	if (!(flags & FH_FSAL_BIG_ENDIAN)) {
		w->gen = bswap_32(w->gen);
		w->ino = bswap_64(w->ino);
	}
#endif
	return fsalstat(ERR_FSAL_NO_ERROR, 0);
}

static fsal_status_t s3f_create_handle(struct fsal_export *exp_hdl, struct gsh_buffdesc *fh_desc,
				       struct fsal_obj_handle **handle,
				       struct fsal_attrlist *attrs_out)
{
	struct s3f_export *me = container_of(exp_hdl, struct s3f_export, export);
	struct s3f_wire w;
	struct meta_inode in;
	struct s3f_handle *h;
	int rc;

	if (fh_desc->len != sizeof w)
		return fsalstat(ERR_FSAL_BADHANDLE, 0);
	memcpy(&w, fh_desc->addr, sizeof w);
	rc = fio_getattr(me->x, w.ino, &in);
	if (rc == ENOENT || (rc == 0 && in.gen != w.gen))
		return fsalstat(ERR_FSAL_STALE, ESTALE);
	if (rc)
		return s3f_status(rc);
	h = s3f_handle_alloc(me, &in);
	if (attrs_out)
		s3f_attrs_fill(me, &in, attrs_out);
	*handle = &h->obj_handle;
	return fsalstat(ERR_FSAL_NO_ERROR, 0);
}

static fsal_status_t s3f_get_dynamic_info(struct fsal_export *exp_hdl,
					  struct fsal_obj_handle *obj_hdl,
					  fsal_dynamicfsinfo_t *info)
{
	struct s3f_export *me = container_of(exp_hdl, struct s3f_export, export);
	struct statvfs sv;
	struct meta_stats ms;

	(void)obj_hdl;
	memset(info, 0, sizeof *info);
	/* S3 has no capacity limit; report the local tier's room (or its quota), which is
	 * what bounds uncommitted data, and plenty of inodes. */
	if (statvfs(me->cfg->data_dir, &sv) == 0) {
		info->total_bytes = (uint64_t)sv.f_blocks * sv.f_frsize;
		info->free_bytes = (uint64_t)sv.f_bfree * sv.f_frsize;
		info->avail_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	}
	if (me->cfg->data_quota && me->cfg->data_quota < info->total_bytes) {
		uint64_t used = data_tier_usage(me->x->data);
		uint64_t left = used < me->cfg->data_quota ? me->cfg->data_quota - used : 0;

		info->total_bytes = me->cfg->data_quota;
		if (left < info->free_bytes)
			info->free_bytes = left;
		if (left < info->avail_bytes)
			info->avail_bytes = left;
	}
	if (meta_stats_get(ns_store(me->x->ns), &ms) == 0) {
		info->total_files = UINT32_MAX + ms.inodes;
		info->free_files = UINT32_MAX;
		info->avail_files = UINT32_MAX;
	}
	info->time_delta.tv_sec = 0;
	info->time_delta.tv_nsec = 1;
	return fsalstat(ERR_FSAL_NO_ERROR, 0);
}

static struct state_t *s3f_alloc_state(struct fsal_export *exp_hdl, enum state_type state_type,
				       struct state_t *related_state)
{
	return init_state(gsh_calloc(1, sizeof(struct state_t) + sizeof(struct s3f_state_fd)), exp_hdl,
			  state_type, related_state);
}

/* ganesha's default fs_supports (the module's static fs_info), kept by s3f_export_ops_init */
static bool (*s3f_fs_supports_default)(struct fsal_export *, fsal_fsinfo_options_t);

/* Delegations per export: read ones as the export's Delegations setting says (the
 * module's fs_info offers read delegations), never write ones (deleg.c). */
static bool s3f_fs_supports(struct fsal_export *exp_hdl, fsal_fsinfo_options_t option)
{
	struct s3f_export *me = container_of(exp_hdl, struct s3f_export, export);

	if (option == fso_delegations_r)
		return me->cfg->delegations &&
		       s3f_fs_supports_default(exp_hdl, fso_delegations_r);
	if (option == fso_delegations_w)
		return false;
	return s3f_fs_supports_default(exp_hdl, option);
}

static void s3f_export_ops_init(struct export_ops *ops)
{
	s3f_fs_supports_default = ops->fs_supports;
	ops->fs_supports = s3f_fs_supports;
	ops->release = s3f_release_export;
	ops->lookup_path = s3f_lookup_path;
	ops->wire_to_host = s3f_wire_to_host;
	ops->create_handle = s3f_create_handle;
	ops->get_fs_dynamic_info = s3f_get_dynamic_info;
	ops->alloc_state = s3f_alloc_state;
}

fsal_status_t s3f_create_export(struct fsal_module *fsal_hdl, void *parse_node,
				struct config_error_type *err_type,
				const struct fsal_up_vector *up_ops)
{
	const struct conf *c;
	const struct conf_export *ce;
	struct readahead_opts ro = { 0 };
	struct s3f_export *me;
	uint16_t export_id = op_ctx->ctx_export->export_id;
	int rc;

	(void)parse_node;
	(void)err_type;
	if (s3f_conf_get(&c) != 0)
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	ce = conf_export_by_id(c, export_id);
	if (!ce) {
		LogCrit(COMPONENT_FSAL, "S3FILES: export %u has no S3FILES settings in %s",
			export_id, nfs_config_path);
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	}

	me = gsh_calloc(1, sizeof *me);
	me->cfg = ce;
	me->fsid.major = 0x53334653;	/* "S3FS" */
	me->fsid.minor = export_id;
	pthread_mutex_init(&me->up_lock, NULL);
	if (clock_cond_init(&me->up_cond) != 0) {
		pthread_mutex_destroy(&me->up_lock);
		gsh_free(me);
		return fsalstat(ERR_FSAL_NOMEM, ENOMEM);
	}
	pthread_mutex_init(&me->quota_lock, NULL);
	s3f_deleg_init(me);
	fsal_export_init(&me->export);
	s3f_export_ops_init(&me->export.exp_ops);

	rc = s3f_export_lock(ce, &me->lock);
	if (rc)
		goto fail_ops;
	rc = export_ctx_open(ce, 0, &me->x);
	if (rc) {
		LogCrit(COMPONENT_FSAL, "S3FILES: export %u (s3://%s/%s) cannot start: %s",
			export_id, ce->bucket, ce->prefix, s3f_strerror(rc));
		goto fail_lock;
	}
	/* Writes a crashed ganesha answered but had not recorded yet (fio.h, deferred log)
	 * are recorded before anything is served. One that cannot be stays in the log for
	 * the next exclusive locker of its file. */
	rc = fio_recover(me->x);
	if (rc)
		LogCrit(COMPONENT_FSAL, "S3FILES: export %u: recording deferred writes of a crashed "
			"ganesha: %s", export_id, s3f_strerror(rc));
	ro.threshold = ce->read_bypass_threshold;
	rc = readahead_open(me->x, &ro, &me->ra);
	if (rc)
		goto fail_ctx;
	rc = fsal_attach_export(fsal_hdl, &me->export.exports);
	if (rc) {
		LogCrit(COMPONENT_FSAL, "S3FILES: could not attach export %u", export_id);
		goto fail_ra;
	}
	me->export.fsal = fsal_hdl;
	me->export.up_ops = up_ops;
	op_ctx->fsal_export = &me->export;

	rc = s3f_up_start(me);
	if (rc) {
		LogCrit(COMPONENT_FSAL, "S3FILES: export %u: upcall thread: %s", export_id,
			strerror(rc));
		goto fail_attach;
	}
	LogEvent(COMPONENT_FSAL, "S3FILES: export %u serves s3://%s/%s (state %s)", export_id,
		 ce->bucket, ce->prefix, ce->state_dir);
	LogEvent(COMPONENT_FSAL, "S3FILES: export %u: read delegations %s", export_id,
		!ce->delegations ? "off (Delegations = false)" :
		!nfs_param.nfsv4_param.allow_delegations ?
		"off (ganesha's NFSV4 { Delegations } is false)" :
		"on (where the EXPORT's Delegations include R)");
	if (ce->read_bypass_threshold)
		LogInfo(COMPONENT_FSAL, "S3FILES: export %u: sequential reads of files from %llu "
			"bytes bypass the data tier (%u streams x %u x %llu MiB read-ahead at most)",
			export_id, (unsigned long long)ce->read_bypass_threshold,
			READAHEAD_STREAMS, READAHEAD_DEPTH,
			(unsigned long long)(READAHEAD_CHUNK >> 20));
	return fsalstat(ERR_FSAL_NO_ERROR, 0);

fail_attach:
	fsal_detach_export(fsal_hdl, &me->export.exports);
fail_ra:
	readahead_close(me->ra);
fail_ctx:
	export_ctx_close(me->x);
fail_lock:
	instlock_release(me->lock);
fail_ops:
	free_export_ops(&me->export);
	pthread_mutex_destroy(&me->up_lock);
	pthread_mutex_destroy(&me->quota_lock);
	pthread_cond_destroy(&me->up_cond);
	s3f_deleg_destroy(me);
	gsh_free(me);
	return s3f_status(rc);
}
