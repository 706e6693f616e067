/*
 * main.c — FSAL_S3FILES module: registration, the ABI self-check, logging into ganesha.
 *
 * Ganesha checks only the FSAL API version number when it loads a module, never the
 * layouts of the structs it shares with us. Those layouts depend on config.h macros
 * (_USE_NFS3, _USE_NLM, _USE_RQUOTA, USE_NFSACL3, _HAVE_GSSAPI, ...). We are built out
 * of tree against a configure-only copy of the matching ganesha source, so before
 * registering we prove that our view of the layouts matches the running binary: we read
 * fields of nfs_param that sit behind those macros, at the offsets *we* were compiled
 * with, and compare them with the values the config file gives (or ganesha's defaults).
 * A shifted layout reads the wrong bytes and fails the comparison; we then refuse to
 * register, with a log line saying why, instead of corrupting memory later.
 */
#include "s3f_fsal.h"

#include <dlfcn.h>
#include <link.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "FSAL/fsal_init.h"
#include "gsh_config.h"
#include "nfs_core.h"

#include "base/err.h"
#include "base/log.h"

struct s3f_module S3F = {
	.fsal = {
		.fs_info = {
			.maxfilesize = INT64_MAX,
			.maxlink = 1,
			.maxnamelen = 255,
			.maxpathlen = 4096,
			.no_trunc = true,
			.chown_restricted = true,
			.case_insensitive = false,
			.case_preserving = true,
			.link_support = false,		/* hard links: refused, see SEMANTICS.md */
			.symlink_support = true,
			.lock_support = true,
			.lock_support_async_block = false,
			.named_attr = false,
			.unique_handles = true,
			.acl_support = 0,
			.cansettime = true,
			.homogenous = true,
			.supported_attrs = ATTRS_POSIX,
			.maxread = FSAL_MAXIOSIZE,
			.maxwrite = FSAL_MAXIOSIZE,
			.umask = 0,
			.auth_exportpath_xdev = false,
			.link_supports_permission_checks = false,
			.readdir_plus = true,
			.expire_time_parent = -1,
			.whence_is_name = false,
			/* read only (deleg.c); per export, Delegations (export.c) */
			.delegations = FSAL_OPTION_FILE_READ_DELEG,
		},
	},
	.conf_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* ---- logging ---- */

static void s3f_log_sink(enum log_level lvl, const char *component, const char *msg, void *arg)
{
	log_levels_t gl;

	(void)arg;
	switch (lvl) {
	case LOG_LVL_ERROR: gl = NIV_MAJ; break;
	case LOG_LVL_WARN: gl = NIV_WARN; break;
	case LOG_LVL_INFO: gl = NIV_EVENT; break;
	default: gl = NIV_DEBUG; break;
	}
	if (component_log_level[COMPONENT_FSAL] >= gl)
		DisplayLogComponentLevel(COMPONENT_FSAL, __FILE__, __LINE__, "s3files", gl,
					 "S3FILES %s: %s", component, msg);
}

void s3f_log_install(void)
{
	log_sink_set(s3f_log_sink, NULL);
	/* Let ganesha's per-component level decide what shows. */
	log_level_set(LOG_LVL_DEBUG);
}

/* ---- configuration (ganesha.conf, parsed with core/conf) ---- */

int s3f_conf_get(const struct conf **out)
{
	char err[4096] = "";
	int rc = 0;

	pthread_mutex_lock(&S3F.conf_lock);
	if (!S3F.conf) {
		rc = conf_load(nfs_config_path, &S3F.conf, err, sizeof err);
		if (rc) {
			char *line, *save = NULL;

			LogCrit(COMPONENT_FSAL, "S3FILES: invalid configuration in %s:",
				nfs_config_path);
			for (line = strtok_r(err, "\n", &save); line;
			     line = strtok_r(NULL, "\n", &save))
				LogCrit(COMPONENT_FSAL, "S3FILES: %s", line);
		} else if (S3F.conf->warnings) {
			char *w = strdup(S3F.conf->warnings), *line, *save = NULL;

			for (line = w ? strtok_r(w, "\n", &save) : NULL; line;
			     line = strtok_r(NULL, "\n", &save))
				LogWarn(COMPONENT_FSAL, "S3FILES: %s", line);
			free(w);
		}
	}
	*out = S3F.conf;
	pthread_mutex_unlock(&S3F.conf_lock);
	return rc;
}

/* ---- ABI self-check ---- */

struct s3f_abi_field {
	const char *name;
	long long have;		/* read from the running ganesha (at our compiled offset) */
	long long want;		/* what it must be */
	const char *source;	/* where want comes from */
};

static int s3f_abi_check(void)
{
	const struct conf *c;
	const struct conf_ganesha *g;
	struct s3f_abi_field f[20];
	int n = 0, bad = 0;

	if (s3f_conf_get(&c) != 0) {
		LogCrit(COMPONENT_FSAL,
			"S3FILES: ABI self-check cannot run without a valid config; not loading");
		return -1;
	}
	g = &c->ganesha;
	const nfs_core_parameter_t *cp = &nfs_param.core_param;

	/* The dynamic symbol table records the object's size as ganesha was built: any
	 * macro that adds or removes a member of nfs_param changes it. */
	{
		Dl_info info;
		const ElfW(Sym) *sym = NULL;
		void *addr = dlsym(RTLD_DEFAULT, "nfs_param");

		if (addr && dladdr1(addr, &info, (void **)&sym, RTLD_DL_SYMENT) && sym)
			f[n++] = (struct s3f_abi_field){ "nfs_param size (bytes)",
							 (long long)sym->st_size,
							 (long long)sizeof(nfs_param),
							 "this module's build" };
		else
			LogWarn(COMPONENT_FSAL, "S3FILES: ABI self-check: size of nfs_param unknown");
	}
	f[n++] = (struct s3f_abi_field){ "NFS_Port (core_param.port[P_NFS])",
					 cp->port[P_NFS], g->nfs_port };
#ifdef _USE_NFS3
	f[n++] = (struct s3f_abi_field){ "MNT_Port (core_param.port[P_MNT])",
					 cp->port[P_MNT], g->mnt_port };
#endif
#ifdef _USE_NLM
	f[n++] = (struct s3f_abi_field){ "NLM_Port (core_param.port[P_NLM])",
					 cp->port[P_NLM], g->nlm_port };
	f[n++] = (struct s3f_abi_field){ "Enable_NLM (core_param.enable_NLM)",
					 *(const unsigned char *)&cp->enable_NLM, g->enable_nlm };
#endif
#ifdef _USE_RQUOTA
	f[n++] = (struct s3f_abi_field){ "Rquota_Port (core_param.port[P_RQUOTA])",
					 cp->port[P_RQUOTA], g->rquota_port };
	f[n++] = (struct s3f_abi_field){ "Enable_RQUOTA (core_param.enable_RQUOTA)",
					 *(const unsigned char *)&cp->enable_RQUOTA,
					 g->enable_rquota };
#endif
#ifdef USE_NFSACL3
	f[n++] = (struct s3f_abi_field){ "Enable_NFSACL (core_param.enable_NFSACL)",
					 *(const unsigned char *)&cp->enable_NFSACL,
					 g->enable_nfsacl };
#endif
	f[n++] = (struct s3f_abi_field){ "Lease_Lifetime (nfsv4_param.lease_lifetime)",
					 nfs_param.nfsv4_param.lease_lifetime, g->lease_lifetime };
	f[n++] = (struct s3f_abi_field){ "Grace_Period (nfsv4_param.grace_period)",
					 nfs_param.nfsv4_param.grace_period, g->grace_period };
#ifdef _HAVE_GSSAPI
	f[n++] = (struct s3f_abi_field){ "Active_krb5 (krb5_param.active_krb5)",
					 *(const unsigned char *)&nfs_param.krb5_param.active_krb5,
					 g->active_krb5 };
#endif
	for (int i = 0; i < n; i++) {
		if (f[i].have == f[i].want)
			continue;
		bad++;
		LogCrit(COMPONENT_FSAL,
			"S3FILES: ABI self-check: %s reads %lld, %s says %lld", f[i].name,
			f[i].have, f[i].source ? f[i].source : "the config file", f[i].want);
	}
#ifdef _HAVE_GSSAPI
	/* Dereference the principal pointer only once every field before it matched. */
	if (!bad) {
		const char *p = nfs_param.krb5_param.svc.principal;

		if (!p || strcmp(p, g->principal_name) != 0) {
			bad++;
			LogCrit(COMPONENT_FSAL,
				"S3FILES: ABI self-check: PrincipalName reads '%s', config says '%s'",
				p ? p : "(null)", g->principal_name);
		}
	}
#endif
	if (bad) {
		LogCrit(COMPONENT_FSAL,
			"S3FILES: ABI self-check FAILED (%d of %d fields differ): this module was "
			"built against a ganesha config.h that does not match the running "
			"ganesha.nfsd (%s); refusing to register. Rebuild with 'make deps all' "
			"against the installed nfs-ganesha.", bad, n + 1, GANESHA_VERSION);
		return -1;
	}
	LogEvent(COMPONENT_FSAL, "S3FILES: ABI self-check passed (%d fields, ganesha %s)", n + 1,
		 GANESHA_VERSION);
	return 0;
}

/* ---- module ---- */

#define S3F_MALLOC_MMAP_MAX (32 << 20)		/* glibc's largest mmap threshold */
#define S3F_MALLOC_TRIM (128 << 20)

/*
 * Ganesha mallocs each READ's reply buffer (up to 1 MiB) and frees it after the reply.
 * glibc serves blocks that large with mmap and gives them back with munmap, so every
 * READ copied into freshly mapped pages and faulted each one in: in a cold read of a
 * large file, 91% of ganesha's page faults were in that copy (readahead's ra_copy_run,
 * perf) and the read ran at 0.72x raw S3. With blocks up to 32 MiB taken from the heap,
 * and a heap kept until 128 MiB of it is free, the buffers are reused. This is the whole
 * process's allocator: an operator who set glibc's own MALLOC_MMAP_THRESHOLD_ (or
 * MALLOC_TRIM_THRESHOLD_) keeps that setting.
 */
static void s3f_malloc_tune(void)
{
	bool mmap_set = getenv("MALLOC_MMAP_THRESHOLD_") != NULL;
	bool trim_set = getenv("MALLOC_TRIM_THRESHOLD_") != NULL;

	if (!mmap_set && mallopt(M_MMAP_THRESHOLD, S3F_MALLOC_MMAP_MAX) != 1)
		mmap_set = true;	/* refused: left as it was */
	if (!trim_set && mallopt(M_TRIM_THRESHOLD, S3F_MALLOC_TRIM) != 1)
		trim_set = true;
	LogInfo(COMPONENT_FSAL, "S3FILES: malloc: mmap threshold %s, trim threshold %s",
		mmap_set ? "left as set" : "32 MiB (READ buffers reused)",
		trim_set ? "left as set" : "128 MiB");
}

static fsal_status_t s3f_init_config(struct fsal_module *fsal_hdl, config_file_t config_struct,
				     struct config_error_type *err_type)
{
	const struct conf *c;

	(void)fsal_hdl;
	(void)config_struct;
	(void)err_type;
	if (s3f_conf_get(&c) != 0)
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	display_fsinfo(&S3F.fsal);
	return fsalstat(ERR_FSAL_NO_ERROR, 0);
}

MODULE_INIT void s3f_init(void)
{
	struct fsal_module *me = &S3F.fsal;

	s3f_log_install();
	if (s3f_abi_check() != 0)
		return;
	if (register_fsal(me, S3F_FSAL_NAME, FSAL_MAJOR_VERSION, FSAL_MINOR_VERSION,
			  FSAL_ID_NO_PNFS) != 0) {
		LogCrit(COMPONENT_FSAL, "S3FILES: register_fsal failed");
		return;
	}
	me->m_ops.create_export = s3f_create_export;
	me->m_ops.init_config = s3f_init_config;
	s3f_handle_ops_init(&S3F.handle_ops);
	s3f_malloc_tune();
	LogEvent(COMPONENT_FSAL, "S3FILES: module registered (FSAL API %d.%d)",
		 FSAL_MAJOR_VERSION, FSAL_MINOR_VERSION);
}

MODULE_FINI void s3f_fini(void)
{
	if (S3F.fsal.name == NULL)
		return;		/* never registered (ABI check failed) */
	if (unregister_fsal(&S3F.fsal) != 0)
		LogCrit(COMPONENT_FSAL, "S3FILES: unable to unload module");
	log_sink_set(NULL, NULL);
	conf_free(S3F.conf);
	S3F.conf = NULL;
}
