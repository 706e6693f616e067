/*
 * conf.h — the one configuration format of s3files, shared by the FSAL, the daemon and
 * the CLI: ganesha.conf itself.
 *
 * The file is parsed with ganesha's syntax (blocks `NAME { ... }`, `Key = value;`,
 * quoted strings, comma lists, `#` comments, `%include "file"`; names case-insensitive).
 * s3files reads:
 *   - every EXPORT block whose FSAL block has `Name = S3FILES`: the keys of that FSAL
 *     block (table conf_export_items in conf.c) plus Export_Id/Path/Pseudo of the EXPORT;
 *   - an optional top-level `S3FILES { ... }` block with daemon-wide settings;
 *   - a few ganesha core values (NFS_CORE_PARAM, NFSV4, NFS_KRB5) the FSAL's ABI
 *     self-check compares with what the running ganesha holds in nfs_param.
 * Everything else is ganesha's business and ignored here.
 *
 * Each setting is described by a table row: name, type, limits, default. Every error
 * names file, line and setting, e.g.
 *   /etc/ganesha/ganesha.conf:42: Commit_Interval: 0 is below the minimum 1
 * and conf_load reports all errors of the file, not just the first.
 *
 * Ownership: conf_load returns a struct conf the caller frees with conf_free; all strings
 * inside belong to it. Immutable after load; safe to read from any thread.
 */
#ifndef S3F_CONF_H
#define S3F_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One S3FILES export. Sizes are bytes, intervals seconds unless named _ms. */
struct conf_export {
	uint32_t export_id;		/* EXPORT { Export_Id } */
	char *path;			/* EXPORT { Path } */
	char *pseudo;			/* EXPORT { Pseudo } (NULL if absent) */

	char *bucket;			/* required */
	char *prefix;			/* "" or normalized to end with '/', no leading '/' */
	char *endpoint;			/* NULL: AWS regional endpoint */
	char *region;			/* default "us-east-1" */
	bool path_style;		/* default true when endpoint is set, else false */
	bool tls_verify;		/* default true */
	char *ca_file;

	/* credentials: explicit, environment, or credentials file (see s3.h) */
	char *access_key_id;
	char *secret_access_key;
	char *credentials_file;
	char *profile;
	char *credentials_provider;	/* auto|config|env|web_identity|file|container|imds
					   (auto: the chain of core/s3/s3_credp.h) */
	char *sts_endpoint;		/* NULL: AWS_ENDPOINT_URL_STS or https://sts.<region>... */

	char *state_dir;		/* required: holds meta/, data/, events.jsonl */
	char *meta_dir;			/* default <state_dir>/meta */
	char *data_dir;			/* default <state_dir>/data */
	char *journal_path;		/* default <state_dir>/events.jsonl */
	bool allow_network_state_dir;	/* start on a network/FUSE file system (false) */

	uint64_t hydrate_threshold;	/* files below this get data on import (128 KiB) */
	uint32_t commit_interval;	/* seconds from last change to upload (60) */
	bool commit_on_close;		/* also commit when the last writer closes or fsyncs (false) */
	uint32_t write_record_delay_ms;	/* how long an UNSTABLE write's record may wait in
					   memory (20; 0: recorded before the reply;
					   core/engine/fio.h) */
	bool delegations;		/* grant NFSv4 read delegations (true) */
	uint64_t read_bypass_threshold;	/* sequential reads of files this large bypass the
					   stage (8 MiB; 0: never; core/engine/readahead.h) */
	uint32_t poll_interval_ms;	/* re-list of hydrated directories (5000) */
	uint32_t poll_max_lists;	/* LIST requests per poll, round robin (1000) */
	uint64_t multipart_threshold;	/* (64 MiB) */
	uint64_t part_size;		/* (16 MiB) */
	uint32_t max_connections;	/* (16) */
	uint64_t data_quota;		/* data tier capacity, 0 = unlimited */
	uint32_t evict_after_days;	/* (30) */
	uint32_t quota_wait;		/* seconds writes wait for room before EDQUOT (30) */
	uint64_t meta_map_size;		/* initial LMDB map size (1 GiB); grown when full */
	uint32_t dir_rename_warn_objects; /* dir_rename_large event above this many objects (10000) */
	uint32_t import_warn_objects;	/* import_warning above this many objects (50,000,000) */
	/* trust in the x-amz-meta-* attributes of objects imported from S3 (keymap.h) */
	bool s3_setid;			/* keep setuid/setgid bits (false) */
	bool s3_devices;		/* show device objects as devices (false) */
	bool s3_root_owner;		/* keep uid 0 / gid 0 (false) */
	uint32_t s3_squash_uid;		/* what uid 0 becomes otherwise (65534) */
	uint32_t s3_squash_gid;		/* what gid 0 becomes otherwise (65534) */

	/* where this export was defined */
	char *src_file;
	int src_line;
};

/* Daemon-wide settings: top-level S3FILES block. */
struct conf_daemon {
	char *control_socket;		/* default /run/s3files/syncd.sock */
	char *log_level;		/* error|warn|info|debug (info) */
	char *notify_listen;		/* "127.0.0.1:PORT" for S3 event notifications, NULL = off */
	char *metrics_listen;		/* "127.0.0.1:PORT" Prometheus text, NULL = off */
	char *syslog;			/* syslog datagram socket for journal events, NULL = off */
};

/* Ganesha core values, with ganesha 4.3's defaults where the file is silent. */
struct conf_ganesha {
	uint16_t nfs_port;		/* NFS_CORE_PARAM NFS_Port (2049) */
	uint16_t mnt_port;		/* MNT_Port (0) */
	uint16_t nlm_port;		/* NLM_Port (0) */
	uint16_t rquota_port;		/* Rquota_Port (875) */
	bool enable_nlm;		/* Enable_NLM (true) */
	bool enable_rquota;		/* Enable_RQUOTA (true) */
	bool enable_nfsacl;		/* Enable_NFSACL (false) */
	uint32_t lease_lifetime;	/* NFSV4 Lease_Lifetime (60) */
	uint32_t grace_period;		/* NFSV4 Grace_Period (90) */
	bool active_krb5;		/* NFS_KRB5 Active_krb5 (true) */
	char *principal_name;		/* NFS_KRB5 PrincipalName ("nfs") */
};

struct conf {
	char *path;			/* the file conf_load read */
	char *warnings;			/* NULL, or "file:line: setting: why\n" lines of
					 * non-fatal findings (settings not acted on yet);
					 * callers log them */
	struct conf_daemon daemon;
	struct conf_ganesha ganesha;
	size_t n_exports;
	struct conf_export *exports;
};

/*
 * Parse and validate path. On success 0 and *out. On failure S3F_E_CONFIG (or errno
 * for an unreadable file) and err holds every problem, one per line, each starting
 * with "file:line: Setting: ". errlen of 4 KiB is plenty for a handful of errors.
 */
int conf_load(const char *path, struct conf **out, char *err, size_t errlen);
/* Same, from a string (tests); name is used in messages in place of the file name. */
int conf_load_string(const char *name, const char *text, struct conf **out, char *err, size_t errlen);
void conf_free(struct conf *c);

/* The export with this Export_Id, or NULL. */
const struct conf_export *conf_export_by_id(const struct conf *c, uint32_t export_id);

/* Write the settings table (name, type, default, limits, description) as text, for docs
 * and `s3filesctl config-help`. */
void conf_describe(FILE *out);
/* The same table as roff (.SS per block, .TP per setting), the body of the
 * s3files.conf(5) page that the build makes from doc/man/s3files.conf.5.in. */
void conf_describe_man(FILE *out);

#endif
