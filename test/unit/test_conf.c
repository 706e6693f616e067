/* test_conf.c — the ganesha.conf parser and the s3files settings tables (core/base/conf.c). */
#include "check.h"

#include "base/conf.h"
#include "base/err.h"
#include "engine/export_ctx.h"
#include "base/log.h"
#include "s3/s3_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char err[8192];

/* A minimal S3FILES export: lines 1..7, then the caller's lines, then the closing. */
#define EXP_HEAD \
	"EXPORT {\n" \
	"\tExport_Id = 1;\n" \
	"\tPath = /b;\n" \
	"\tFSAL {\n" \
	"\t\tName = S3FILES;\n" \
	"\t\tBucket = bkt;\n" \
	"\t\tState_Dir = /var/lib/s3f;\n"
#define EXP_TAIL "\t}\n}\n"

static struct conf *load_ok(const char *text)
{
	struct conf *c = NULL;
	int rc = conf_load_string("t.conf", text, &c, err, sizeof err);

	CHECK_MSG(rc == 0, "conf_load_string -> %d: %s", rc, err);
	CHECK(c != NULL);
	CHECK_STR_EQ(err, "");
	return c;
}

/* Loads must fail with exactly this error text. */
static void load_err(const char *text, const char *expect)
{
	struct conf *c = (struct conf *)1;
	int rc = conf_load_string("t.conf", text, &c, err, sizeof err);

	CHECK_INT_EQ(rc, S3F_E_CONFIG);
	CHECK(c == NULL);
	CHECK_STR_EQ(err, expect);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	CHECK_MSG(f != NULL, "fopen %s: %s", path, strerror(errno));
	CHECK(fputs(text, f) >= 0);
	CHECK(fclose(f) == 0);
	CHECK(chmod(path, mode) == 0);
}

/* ---- log capture (secret warnings) ---- */

static char logbuf[8192];

static void log_capture(enum log_level lvl, const char *component, const char *msg, void *arg)
{
	size_t n = strlen(logbuf);

	(void)arg;
	snprintf(logbuf + n, sizeof logbuf - n, "%s %s %s\n", log_level_name(lvl), component, msg);
}

/* ------------------------------------------------------------------------------------ */

static const char full_conf[] =
	"# a complete configuration\n"					/* 1 */
	"NFS_CORE_PARAM {\n"						/* 2 */
	"\tNFS_Port = 12049;\n"						/* 3 */
	"\tMNT_Port = 20048;\n"						/* 4 */
	"\tNLM_Port = 32803;\n"						/* 5 */
	"\tRquota_Port = 0x36b;\n"					/* 6 */
	"\tEnable_NLM = false;\n"					/* 7 */
	"\tEnable_RQUOTA = no;\n"					/* 8 */
	"\tEnable_NFSACL = on;\n"					/* 9 */
	"\tProtocols = 4;\n"						/* 10 */
	"}\n"								/* 11 */
	"NFSv4 { Lease_Lifetime = 30; Grace_Period = 45; Minor_Versions = 1, 2; }\n" /* 12 */
	"NFS_KRB5 { Active_krb5 = false; PrincipalName = \"nfs/host\"; }\n"	/* 13 */
	"S3FILES {\n"							/* 14 */
	"\tControl_Socket = /run/s3f/ctl.sock;\n"			/* 15 */
	"\tLog_Level = Debug;\n"					/* 16 */
	"\tNotify_Listen = \"127.0.0.1:8099\";\n"			/* 17 */
	"\tMetrics_Listen = \"[::1]:9100\";\n"				/* 18 */
	"}\n"								/* 19 */
	"EXPORT {\n"							/* 20 */
	"\tExport_Id = 42;\n"						/* 21 */
	"\tPath = /data;\n"						/* 22 */
	"\tPseudo = /s3/data;\n"					/* 23 */
	"\tAccess_Type = RW;\n"						/* 24 */
	"\tSquash = No_Root_Squash;\n"					/* 25 */
	"\tSecType = sys;\n"						/* 26 */
	"\tFSAL {\n"							/* 27 */
	"\t\tName = S3FILES;\n"						/* 28 */
	"\t\tBucket = my-bucket.example;\n"				/* 29 */
	"\t\tPrefix = \"/team/photos\";\n"				/* 30 */
	"\t\tEndpoint = \"https://s3.example.com:8443/\";\n"		/* 31 */
	"\t\tRegion = eu-west-3;\n"					/* 32 */
	"\t\tPath_Style = false;\n"					/* 33 */
	"\t\tTLS_Verify = yes;\n"					/* 34 */
	"\t\tCA_File = /etc/ssl/ca.pem;\n"				/* 35 */
	"\t\tAccess_Key_Id = AKIAIOSFODNN7EXAMPLE;\n"			/* 36 */
	"\t\tSecret_Access_Key = \"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\";\n" /* 37 */
	"\t\tCredentials_File = /etc/s3files/credentials;\n"		/* 38 */
	"\t\tProfile = backup;\n"					/* 39 */
	"\t\tState_Dir = /var/lib/s3files/42/;\n"			/* 40 */
	"\t\tMeta_Dir = /fast/meta42;\n"				/* 41 */
	"\t\tData_Dir = /big/data42;\n"					/* 42 */
	"\t\tJournal = /var/log/s3files/42.jsonl;\n"			/* 43 */
	"\t\tHydrate_Threshold = \"256K\";\n"				/* 44 */
	"\t\tCommit_Interval = 120;\n"					/* 45 */
	"\t\tCommit_On_Close = true;\n"					/* 46 */
	"\t\tRead_Bypass_Threshold = \"32M\";\n"			/* 47 */
	"\t\tPoll_Interval_Ms = 2500;\n"				/* 48 */
	"\t\tMultipart_Threshold = \"128M\";\n"				/* 49 */
	"\t\tPart_Size = \"8MiB\";\n"					/* 50 */
	"\t\tMax_Connections = 64;\n"					/* 51 */
	"\t\tData_Quota = \"2T\";\n"					/* 52 */
	"\t\tEvict_After_Days = 7;\n"					/* 53 */
	"\t\tMeta_Map_Size = \"4G\";\n"					/* 54 */
	"\t}\n"								/* 55 */
	"\tCLIENT { Clients = 10.0.0.0/8, 192.168.1.7, @trusted; Access_Type = RO; }\n" /* 56 */
	"}\n";								/* 57 */

static void test_full_roundtrip(void)
{
	struct conf *c = load_ok(full_conf);
	const struct conf_export *x;

	CHECK_STR_EQ(c->path, "t.conf");
	CHECK_INT_EQ(c->n_exports, 1);
	/* every setting of the file is acted on: nothing to warn about (a setting marked
	 * CF_PLANNED in conf.c would be reported here, "file:line: name: accepted but not
	 * implemented") */
	CHECK(c->warnings == NULL);
	x = conf_export_by_id(c, 42);
	CHECK(x == &c->exports[0]);
	CHECK(conf_export_by_id(c, 1) == NULL);
	CHECK_INT_EQ(x->export_id, 42);
	CHECK_STR_EQ(x->path, "/data");
	CHECK_STR_EQ(x->pseudo, "/s3/data");
	CHECK_STR_EQ(x->bucket, "my-bucket.example");
	CHECK_STR_EQ(x->prefix, "team/photos/");
	CHECK_STR_EQ(x->endpoint, "https://s3.example.com:8443");
	CHECK_STR_EQ(x->region, "eu-west-3");
	CHECK(!x->path_style);
	CHECK(x->tls_verify);
	CHECK_STR_EQ(x->ca_file, "/etc/ssl/ca.pem");
	CHECK_STR_EQ(x->access_key_id, "AKIAIOSFODNN7EXAMPLE");
	CHECK_STR_EQ(x->secret_access_key, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
	CHECK_STR_EQ(x->credentials_file, "/etc/s3files/credentials");
	CHECK_STR_EQ(x->profile, "backup");
	CHECK_STR_EQ(x->state_dir, "/var/lib/s3files/42");
	CHECK_STR_EQ(x->meta_dir, "/fast/meta42");
	CHECK_STR_EQ(x->data_dir, "/big/data42");
	CHECK_STR_EQ(x->journal_path, "/var/log/s3files/42.jsonl");
	CHECK_U64_EQ(x->hydrate_threshold, 256 * 1024);
	CHECK_INT_EQ(x->commit_interval, 120);
	CHECK(x->commit_on_close);
	CHECK_U64_EQ(x->read_bypass_threshold, 32ull << 20);
	CHECK_INT_EQ(x->poll_interval_ms, 2500);
	CHECK_U64_EQ(x->multipart_threshold, 128ull << 20);
	CHECK_U64_EQ(x->part_size, 8ull << 20);
	CHECK_INT_EQ(x->max_connections, 64);
	CHECK_U64_EQ(x->data_quota, 2ull << 40);
	CHECK_INT_EQ(x->evict_after_days, 7);
	CHECK_U64_EQ(x->meta_map_size, 4ull << 30);
	CHECK_STR_EQ(x->src_file, "t.conf");
	CHECK_INT_EQ(x->src_line, 20);

	CHECK_STR_EQ(c->daemon.control_socket, "/run/s3f/ctl.sock");
	CHECK_STR_EQ(c->daemon.log_level, "debug");
	CHECK_STR_EQ(c->daemon.notify_listen, "127.0.0.1:8099");
	CHECK_STR_EQ(c->daemon.metrics_listen, "[::1]:9100");

	CHECK_INT_EQ(c->ganesha.nfs_port, 12049);
	CHECK_INT_EQ(c->ganesha.mnt_port, 20048);
	CHECK_INT_EQ(c->ganesha.nlm_port, 32803);
	CHECK_INT_EQ(c->ganesha.rquota_port, 875);
	CHECK(!c->ganesha.enable_nlm);
	CHECK(!c->ganesha.enable_rquota);
	CHECK(c->ganesha.enable_nfsacl);
	CHECK_INT_EQ(c->ganesha.lease_lifetime, 30);
	CHECK_INT_EQ(c->ganesha.grace_period, 45);
	CHECK(!c->ganesha.active_krb5);
	CHECK_STR_EQ(c->ganesha.principal_name, "nfs/host");
	conf_free(c);
}

static void test_defaults(void)
{
	struct conf *c = load_ok(EXP_HEAD EXP_TAIL);
	const struct conf_export *x = &c->exports[0];

	CHECK_INT_EQ(c->n_exports, 1);
	CHECK(c->warnings == NULL);
	CHECK_INT_EQ(x->export_id, 1);
	CHECK_STR_EQ(x->path, "/b");
	CHECK(x->pseudo == NULL);
	CHECK_STR_EQ(x->prefix, "");
	CHECK(x->endpoint == NULL);
	CHECK_STR_EQ(x->region, "us-east-1");
	CHECK(!x->path_style);
	CHECK(x->tls_verify);
	CHECK(x->ca_file == NULL);
	CHECK(x->access_key_id == NULL);
	CHECK(x->secret_access_key == NULL);
	CHECK(x->credentials_file == NULL);
	CHECK(x->profile == NULL);
	CHECK_STR_EQ(x->state_dir, "/var/lib/s3f");
	CHECK_STR_EQ(x->meta_dir, "/var/lib/s3f/meta");
	CHECK_STR_EQ(x->data_dir, "/var/lib/s3f/data");
	CHECK_STR_EQ(x->journal_path, "/var/lib/s3f/events.jsonl");
	CHECK_U64_EQ(x->hydrate_threshold, 128 * 1024);
	CHECK_INT_EQ(x->commit_interval, 60);
	CHECK(!x->commit_on_close);
	CHECK_U64_EQ(x->read_bypass_threshold, 8ull << 20);
	CHECK_INT_EQ(x->poll_interval_ms, 5000);
	CHECK_U64_EQ(x->multipart_threshold, 64ull << 20);
	CHECK_U64_EQ(x->part_size, 16ull << 20);
	CHECK_INT_EQ(x->max_connections, 16);
	CHECK_U64_EQ(x->data_quota, 0);
	CHECK_INT_EQ(x->evict_after_days, 30);
	CHECK_U64_EQ(x->meta_map_size, 1ull << 30);
	CHECK_INT_EQ(x->dir_rename_warn_objects, 10000);
	/* nothing of the bucket's metadata trusted, local state only */
	CHECK(!x->allow_network_state_dir);
	CHECK(!x->s3_setid);
	CHECK(!x->s3_root_owner);
	CHECK_INT_EQ(x->s3_squash_uid, 65534);
	CHECK_INT_EQ(x->s3_squash_gid, 65534);

	CHECK_STR_EQ(c->daemon.control_socket, "/run/s3files/syncd.sock");
	CHECK_STR_EQ(c->daemon.log_level, "info");
	CHECK(c->daemon.notify_listen == NULL);
	CHECK(c->daemon.metrics_listen == NULL);
	conf_free(c);

	/* State_Dir "/" derives without a double slash */
	c = load_ok("EXPORT { Export_Id = 1; Path = /b; FSAL { Name = S3FILES; Bucket = bkt; "
		    "State_Dir = /; } }");
	CHECK_STR_EQ(c->exports[0].meta_dir, "/meta");
	conf_free(c);
}

/* Ganesha 4.3 defaults (src/support/nfs_read_conf.c) and several blocks: later wins. */
static void test_ganesha_core(void)
{
	struct conf *c = load_ok("");

	CHECK_INT_EQ(c->ganesha.nfs_port, 2049);
	CHECK_INT_EQ(c->ganesha.mnt_port, 0);
	CHECK_INT_EQ(c->ganesha.nlm_port, 0);
	CHECK_INT_EQ(c->ganesha.rquota_port, 875);
	CHECK(c->ganesha.enable_nlm);
	CHECK(c->ganesha.enable_rquota);
	CHECK(!c->ganesha.enable_nfsacl);
	CHECK_INT_EQ(c->ganesha.lease_lifetime, 60);
	CHECK_INT_EQ(c->ganesha.grace_period, 90);
	CHECK(c->ganesha.active_krb5);
	CHECK_STR_EQ(c->ganesha.principal_name, "nfs");
	conf_free(c);

	c = load_ok("nfs_core_param { nfs_port = 2050; Unknown_Ganesha_Key = whatever; }\n"
		    "NFS_CORE_PARAM { NFS_Port = 2051; Enable_NLM = false; }\n"
		    "NFSV4 { Grace_Period = 0; }\n"
		    "NFS_KRB5 { PrincipalName = nfs; PrincipalName = host; }\n");
	CHECK_INT_EQ(c->ganesha.nfs_port, 2051);
	CHECK(!c->ganesha.enable_nlm);
	CHECK_INT_EQ(c->ganesha.grace_period, 0);
	CHECK_STR_EQ(c->ganesha.principal_name, "host");
	conf_free(c);

	load_err("NFS_CORE_PARAM { NFS_Port = 70000; }\nNFSv4 { Lease_Lifetime = 181; }\n",
		 "t.conf:1: NFS_Port: 70000 is above the maximum 65535 (range 0..65535)\n"
		 "t.conf:2: Lease_Lifetime: 181 is above the maximum 180 (range 0..180)");
}

/* Every type's parse errors, all collected, exact text. */
static void test_type_errors(void)
{
	load_err(EXP_HEAD
		 "\t\tCommit_On_Close = maybe;\n"		/* 8 */
		 "\t\tCommit_Interval = 0;\n"			/* 9 */
		 "\t\tMax_Connections = 257;\n"			/* 10 */
		 "\t\tPoll_Interval_Ms = abc;\n"		/* 11 */
		 "\t\tPart_Size = \"4M\";\n"			/* 12 */
		 "\t\tMultipart_Threshold = \"6G\";\n"		/* 13 */
		 "\t\tHydrate_Threshold = \"64X\";\n"		/* 14 */
		 "\t\tData_Quota = \"99999999T\";\n"		/* 15 */
		 "\t\tRead_Bypass_Threshold = \"1.5G\";\n"	/* 16 */
		 "\t\tRegion = \"\";\n"				/* 17 */
		 "\t\tProfile = \"" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" "\";\n" /* 18 */
		 "\t\tMeta_Dir = relative/meta;\n"		/* 19 */
		 "\t\tEndpoint = \"ftp://host\";\n"		/* 20 */
		 "\t\tTLS_Verify = 2;\n"			/* 21 */
		 "\t\tEvict_After_Days = 1, 2;\n"		/* 22 */
		 "\t\tCommit_Interval = 08;\n"			/* 23: "08" is not a ganesha number */
		 EXP_TAIL
		 "S3FILES {\n"					/* 26 */
		 "\tLog_Level = verbose;\n"			/* 27 */
		 "\tMetrics_Listen = \"localhost\";\n"		/* 28 */
		 "\tNotify_Listen = \"::1:80\";\n"		/* 29 */
		 "}\n",
		 "t.conf:23: syntax error: Commit_Interval: 08 is not a valid unquoted value "
		 "(ganesha would reject it); put it in double quotes");

	load_err(EXP_HEAD
		 "\t\tCommit_On_Close = maybe;\n"		/* 8 */
		 "\t\tCommit_Interval = 0;\n"			/* 9 */
		 "\t\tMax_Connections = 257;\n"			/* 10 */
		 "\t\tPoll_Interval_Ms = abc;\n"		/* 11 */
		 "\t\tPart_Size = \"4M\";\n"			/* 12 */
		 "\t\tMultipart_Threshold = \"6G\";\n"		/* 13 */
		 "\t\tHydrate_Threshold = \"64X\";\n"		/* 14 */
		 "\t\tData_Quota = \"99999999T\";\n"		/* 15 */
		 "\t\tRead_Bypass_Threshold = \"1.5G\";\n"	/* 16 */
		 "\t\tRegion = \"\";\n"				/* 17 */
		 "\t\tProfile = \"" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" "\";\n" /* 18 */
		 "\t\tMeta_Dir = relative/meta;\n"		/* 19 */
		 "\t\tEndpoint = \"ftp://host\";\n"		/* 20 */
		 "\t\tTLS_Verify = 2;\n"			/* 21 */
		 "\t\tEvict_After_Days = 1, 2;\n"		/* 22 */
		 "\t\tCommit_Interval = \"08\";\n"		/* 23 */
		 EXP_TAIL
		 "S3FILES {\n"					/* 26 */
		 "\tLog_Level = verbose;\n"			/* 27 */
		 "\tMetrics_Listen = \"localhost\";\n"		/* 28 */
		 "\tNotify_Listen = \"::1:80\";\n"		/* 29 */
		 "}\n",
		 "t.conf:8: Commit_On_Close: expected true/false (or yes/no, on/off, 1/0), got \"maybe\"\n"
		 "t.conf:9: Commit_Interval: 0 is below the minimum 1 (range 1..86400)\n"
		 "t.conf:10: Max_Connections: 257 is above the maximum 256 (range 1..256)\n"
		 "t.conf:11: Poll_Interval_Ms: expected a number, got \"abc\"\n"
		 "t.conf:12: Part_Size: 4M is below the minimum 5M (range 5M..5G)\n"
		 "t.conf:13: Multipart_Threshold: 6G is above the maximum 5G (range 5M..5G)\n"
		 "t.conf:14: Hydrate_Threshold: expected a size like 64M (a number with an optional "
		 "K, M, G, T suffix), got \"64X\"\n"
		 "t.conf:15: Data_Quota: 99999999T is above the maximum 1P (range 0..1P)\n"
		 "t.conf:16: Read_Bypass_Threshold: expected a size like 64M (a number with an "
		 "optional K, M, G, T suffix), got \"1.5G\"\n"
		 "t.conf:17: Region: must not be empty\n"
		 "t.conf:18: Profile: longer than 128 characters\n"
		 "t.conf:19: Meta_Dir: must be an absolute path (ganesha runs from /)\n"
		 "t.conf:20: Endpoint: expected an http:// or https:// URL\n"
		 "t.conf:21: TLS_Verify: expected true/false (or yes/no, on/off, 1/0), got \"2\"\n"
		 "t.conf:22: Evict_After_Days: expected a single value, got a list of 2\n"
		 "t.conf:23: Commit_Interval: set more than once (first at line 9)\n"
		 "t.conf:27: Log_Level: expected one of error, warn, info, debug, got \"verbose\"\n"
		 "t.conf:28: Metrics_Listen: expected host:port like 127.0.0.1:9100 (port 1..65535)\n"
		 "t.conf:29: Notify_Listen: expected host:port like 127.0.0.1:9100 (port 1..65535)");

	/* u64 overflow of the number itself */
	load_err(EXP_HEAD "\t\tData_Quota = 99999999999999999999999;\n" EXP_TAIL,
		 "t.conf:8: Data_Quota: 99999999999999999999999 is above the maximum 1P "
		 "(range 0..1P)");
	/* URL without a host */
	load_err(EXP_HEAD "\t\tEndpoint = \"http://\";\n" EXP_TAIL,
		 "t.conf:8: Endpoint: URL has no host");
	/* FSAL Name too long for ganesha is not ours: the export is simply not S3FILES */
	struct conf *c = load_ok("EXPORT { Export_Id = 1; Path = /x; FSAL { Name = VFS; } }");

	CHECK_INT_EQ(c->n_exports, 0);
	conf_free(c);
}

static void test_unknown_key(void)
{
	load_err(EXP_HEAD
		 "\t\tBuckett = other;\n"			/* 8 */
		 "\t\tFrobnicate = 1;\n"			/* 9 */
		 "\t\tCLIENT { Clients = *; }\n"		/* 10 */
		 EXP_TAIL
		 "S3FILES { Metric_Listen = \"127.0.0.1:1\"; }\n",	/* 13 */
		 "t.conf:8: Buckett: unknown setting in FSAL block (did you mean Bucket?)\n"
		 "t.conf:9: Frobnicate: unknown setting in FSAL block\n"
		 "t.conf:10: CLIENT: unknown block inside FSAL\n"
		 "t.conf:13: Metric_Listen: unknown setting in S3FILES block (did you mean "
		 "Metrics_Listen?)");

	/* unknown keys of other blocks and of EXPORT itself are ganesha's business */
	struct conf *c = load_ok("LOG { Default_Log_Level = DEBUG; COMPONENTS { FSAL = FULL_DEBUG; } }\n"
				 "EXPORT { Export_Id = 1; Path = /b; Whatever = 1;\n"
				 "  FSAL { Name = S3FILES; Bucket = bkt; State_Dir = /s; } }\n"
				 "EXPORT { Export_Id = 1; Path = /v; FSAL { Name = VFS; Bogus = 1; } }\n");

	CHECK_INT_EQ(c->n_exports, 1);
	conf_free(c);
}

static void test_missing_required(void)
{
	load_err("EXPORT {\n"
		 "\tPseudo = /p;\n"
		 "\tFSAL {\n"
		 "\t\tName = s3files;\n"
		 "\t\tBucket = ;\n"		/* empty statement = unset, as in ganesha */
		 "\t}\n"
		 "}\n",
		 "t.conf:1: Export_Id: required setting missing from the EXPORT block\n"
		 "t.conf:1: Path: required setting missing from the EXPORT block\n"
		 "t.conf:3: Bucket: required setting missing from the S3FILES FSAL block\n"
		 "t.conf:3: State_Dir: required setting missing from the S3FILES FSAL block");

	load_err(EXP_HEAD "\t\tAccess_Key_Id = AKIA;\n" EXP_TAIL,
		 "t.conf:8: Access_Key_Id: Secret_Access_Key must be set too");
	load_err(EXP_HEAD "\t\tSecret_Access_Key = \"s3cr3t\";\n" EXP_TAIL,
		 "t.conf:8: Secret_Access_Key: Access_Key_Id must be set too");
}

static void test_duplicate_export_id(void)
{
	load_err(EXP_HEAD EXP_TAIL					/* 1..9 */
		 "EXPORT { Export_Id = 2; Path = /c; FSAL { Name = S3FILES; Bucket = b2c; "
		 "State_Dir = /s2; } }\n"					/* 10 */
		 "EXPORT {\n"							/* 11 */
		 "\tExport_Id = 1;\n"						/* 12 */
		 "\tPath = /d;\n"
		 "\tFSAL { Name = S3FILES; Bucket = b3c; State_Dir = /s3; }\n"
		 "}\n",
		 "t.conf:12: Export_Id: 1 is already used by the S3FILES export at t.conf:1");

	/* the same id on a non-S3FILES export is not ours to judge */
	struct conf *c = load_ok(EXP_HEAD EXP_TAIL
				 "EXPORT { Export_Id = 1; Path = /v; FSAL { Name = VFS; } }\n");

	CHECK_INT_EQ(c->n_exports, 1);
	conf_free(c);

	/* a key set twice in the S3FILES block, and two S3FILES blocks */
	load_err("S3FILES {\n\tLog_Level = info;\n\tlog_level = warn;\n}\nS3FILES { }\n",
		 "t.conf:3: Log_Level: set more than once (first at line 2)\n"
		 "t.conf:5: S3FILES: only one S3FILES block is allowed (the first is at t.conf:1)");
}

static void test_multiple_exports(void)
{
	struct conf *c = load_ok(
		"EXPORT { Export_Id = 10; Path = /a; Pseudo = /a;\n"
		"  FSAL { Name = S3FILES; Bucket = alpha; State_Dir = /s/a; Prefix = x; } }\n"
		"EXPORT { Export_Id = 20; Path = /v; FSAL { Name = VFS; } }\n"
		"EXPORT { Export_Id = 0; Path = /; Pseudo = /; FSAL { Name = PSEUDO; } }\n"
		"EXPORT { Export_Id = 30; Path = /b; Pseudo = /b;\n"
		"  FSAL { Name = S3FILES; Bucket = beta; State_Dir = /s/b;\n"
		"         Endpoint = \"http://127.0.0.1:7480\"; } }\n"
		"export { export_id = 40; path = /c; fsal { name = s3files; bucket = gamma; "
		"state_dir = /s/c; path_style = false; endpoint = \"https://x.y\"; } }\n");

	CHECK_INT_EQ(c->n_exports, 3);
	CHECK_STR_EQ(conf_export_by_id(c, 10)->bucket, "alpha");
	CHECK_STR_EQ(conf_export_by_id(c, 10)->prefix, "x/");
	CHECK(!conf_export_by_id(c, 10)->path_style);
	CHECK_STR_EQ(conf_export_by_id(c, 30)->bucket, "beta");
	CHECK(conf_export_by_id(c, 30)->path_style);	/* Endpoint set: path style */
	CHECK_INT_EQ(conf_export_by_id(c, 30)->src_line, 5);
	CHECK_STR_EQ(conf_export_by_id(c, 40)->bucket, "gamma");
	CHECK(!conf_export_by_id(c, 40)->path_style);	/* explicit */
	CHECK(conf_export_by_id(c, 20) == NULL);
	CHECK(conf_export_by_id(c, 0) == NULL);
	conf_free(c);
}

static void test_size_suffixes(void)
{
	static const struct {
		const char *text;
		uint64_t v;
	} cases[] = {
		{ "0", 0 }, { "4096", 4096 }, { "\"1K\"", 1024 }, { "\"1k\"", 1024 },
		{ "\"128KiB\"", 128 << 10 }, { "\"64M\"", 64ull << 20 }, { "\"64m\"", 64ull << 20 },
		{ "\"1G\"", 1ull << 30 }, { "\"1gib\"", 1ull << 30 }, { "'1T'", 1ull << 40 },
		{ "\"1P\"", 1ull << 50 }, { "0x1000", 4096 }, { "0100", 64 } /* octal, as ganesha */,
		{ "\"0x10M\"", 16ull << 20 },
	};
	char text[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct conf *c;

		snprintf(text, sizeof text, EXP_HEAD "\t\tData_Quota = %s;\n" EXP_TAIL, cases[i].text);
		c = load_ok(text);
		CHECK_MSG(c->exports[0].data_quota == cases[i].v, "%s -> %" PRIu64, cases[i].text,
			  c->exports[0].data_quota);
		conf_free(c);
	}
	static const char *const bad[] = {
		"\"1KB\"", "\"1 K\"", "\"K\"", "\"-1\"", "\"1Ki\"", "\"1.0G\"", "\"\"", "\"0x\"",
		"\"1KK\"", "\"09\"",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct conf *c = NULL;
		char expect[256], shown[32];

		snprintf(text, sizeof text, EXP_HEAD "\t\tData_Quota = %s;\n" EXP_TAIL, bad[i]);
		CHECK_INT_EQ(conf_load_string("t.conf", text, &c, err, sizeof err), S3F_E_CONFIG);
		snprintf(shown, sizeof shown, "%.*s", (int)strlen(bad[i]) - 2, bad[i] + 1);
		snprintf(expect, sizeof expect, "t.conf:8: Data_Quota: expected a size like 64M "
			 "(a number with an optional K, M, G, T suffix), got \"%s\"", shown);
		CHECK_STR_EQ(err, expect);
	}
	/* unquoted suffixes are a ganesha syntax error */
	load_err(EXP_HEAD "\t\tPart_Size = 64M;\n" EXP_TAIL,
		 "t.conf:8: syntax error: Part_Size: 64M is not a valid unquoted value (ganesha "
		 "would reject it); put it in double quotes");
}

static void test_bool_forms(void)
{
	static const struct {
		const char *text;
		bool v;
	} cases[] = {
		{ "true", true }, { "TRUE", true }, { "yes", true }, { "Yes", true }, { "on", true },
		{ "ON", true }, { "1", true }, { "\"true\"", true }, { "false", false },
		{ "False", false }, { "no", false }, { "NO", false }, { "off", false },
		{ "Off", false }, { "0", false }, { "'off'", false },
	};
	char text[512];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct conf *c;

		snprintf(text, sizeof text, EXP_HEAD "\t\tCommit_On_Close = %s;\n"
			 "\t\tTLS_Verify = %s;\n" EXP_TAIL, cases[i].text, cases[i].text);
		c = load_ok(text);
		CHECK_MSG(c->exports[0].commit_on_close == cases[i].v, "%s", cases[i].text);
		CHECK_MSG(c->exports[0].tls_verify == cases[i].v, "%s", cases[i].text);
		conf_free(c);
	}
	load_err(EXP_HEAD "\t\tCommit_On_Close = y;\n" EXP_TAIL,
		 "t.conf:8: Commit_On_Close: expected true/false (or yes/no, on/off, 1/0), got \"y\"");
	load_err(EXP_HEAD "\t\tCommit_On_Close = \"\";\n" EXP_TAIL,
		 "t.conf:8: Commit_On_Close: expected true/false (or yes/no, on/off, 1/0), got \"\"");
}

static void test_prefix(void)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "\"\"", "" }, { "/", "" }, { "a", "a/" }, { "/a", "a/" }, { "\"a/\"", "a/" },
		{ "/a/b/c", "a/b/c/" }, { "\"a b/c.d\"", "a b/c.d/" }, { "\"...\"", ".../" },
		{ "\".a/b.\"", ".a/b./" },
	};
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "\"a//b\"", "empty path component (\"//\")" },
		{ "\"//a\"", "empty path component (\"//\")" },
		{ "\"a//\"", "empty path component (\"//\")" },
		{ "\"a/./b\"", "\".\" and \"..\" components are not allowed" },
		{ "\"../x\"", "\".\" and \"..\" components are not allowed" },
		{ "\"a/..\"", "\".\" and \"..\" components are not allowed" },
		{ "\".\"", "\".\" and \"..\" components are not allowed" },
		{ "\"/./\"", "\".\" and \"..\" components are not allowed" },
		{ "\"a\\tb\"", "control characters are not allowed" },
	};
	char text[512], expect[256];

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		struct conf *c;

		snprintf(text, sizeof text, EXP_HEAD "\t\tPrefix = %s;\n" EXP_TAIL, ok[i].in);
		c = load_ok(text);
		CHECK_MSG(strcmp(c->exports[0].prefix, ok[i].out) == 0, "%s -> \"%s\"", ok[i].in,
			  c->exports[0].prefix);
		conf_free(c);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct conf *c = NULL;

		snprintf(text, sizeof text, EXP_HEAD "\t\tPrefix = %s;\n" EXP_TAIL, bad[i].in);
		CHECK_INT_EQ(conf_load_string("t.conf", text, &c, err, sizeof err), S3F_E_CONFIG);
		snprintf(expect, sizeof expect, "t.conf:8: Prefix: %s", bad[i].why);
		CHECK_MSG(strcmp(err, expect) == 0, "%s: %s", bad[i].in, err);
	}
}

static void test_comments_quoting(void)
{
	struct conf *c = load_ok(
		"# comment at the start\n"
		"export#comment glued to a name\n"
		"{   # comment after a brace\n"
		"  EXPORT_ID=5;Path=/x;# no blanks needed\n"
		"  fsal {\n"
		"    NAME = 's3files';\n"
		"    bucket = \"bkt\" ; # blank before ';'\n"
		"    state_dir = \"/st#not-a-comment\";\n"
		"    profile = \"a\\\"b\\\\c\\n\\t\\r\\qd\";\n"	/* dquote escapes */
		"    ca_file = '/lit\\n#x';\n"			/* squote is literal */
		"    credentials_file = \"/multi\n"
		"line\";\n"					/* strings span lines */
		"  }\n"
		"}\n");
	const struct conf_export *x = &c->exports[0];

	CHECK_INT_EQ(x->export_id, 5);
	CHECK_STR_EQ(x->state_dir, "/st#not-a-comment");
	CHECK_STR_EQ(x->profile, "a\"b\\c\n\t\rqd");
	CHECK_STR_EQ(x->ca_file, "/lit\\n#x");
	CHECK_STR_EQ(x->credentials_file, "/multi\nline");
	conf_free(c);

	/* the embedded newline fails Region's character check; line of the statement */
	CHECK_STR_EQ(err, "");
	c = NULL;
	CHECK_INT_EQ(conf_load_string("t.conf",
				      "EXPORT { Export_Id = 1; Path = /x; FSAL { Name = S3FILES;\n"
				      "Bucket = bkt; State_Dir = /s; Region = 'a\nb'; } }\n",
				      &c, err, sizeof err), S3F_E_CONFIG);
	CHECK_STR_EQ(err, "t.conf:2: Region: may only contain letters, digits, '.', '-' and '_'");
}

static void test_nested_blocks(void)
{
	struct conf *c = load_ok(
		"EXPORT_DEFAULTS { Access_Type = RO; }\n"
		"LOG {\n"
		"  COMPONENTS { ALL = EVENT; }\n"
		"  FORMAT { date_format = ISO-8601; }\n"
		"  FACILITY { name = FILE; destination = \"/var/log/ganesha.log\"; enable = active; }\n"
		"}\n"
		"EXPORT {\n"
		"  Export_Id = 3; Path = /n;\n"
		"  CLIENT { Clients = 192.168.0.0/16; Squash = root_squash; }\n"
		"  FSAL {\n"
		"    Name = S3FILES; Bucket = nested; State_Dir = /s;\n"
		"  }\n"
		"  CLIENT { Clients = *; Access_Type = None; }\n"
		"}\n"
		"EXPORT { Export_Id = 4; Path = /p;\n"
		"  FSAL { Name = NULL; FSAL { Name = S3FILES; Bucket = stacked; } } }\n");

	CHECK_INT_EQ(c->n_exports, 1);	/* a stacked S3FILES is not ours */
	CHECK_STR_EQ(c->exports[0].bucket, "nested");
	conf_free(c);
}

/* %include: relative to the top-level file's directory, as ganesha resolves it. */
static void test_include(void)
{
	static char expect[32768];
	char dir[4096], main_path[4200], p[4200];
	struct conf *c = NULL;
	int rc;

	/* absolute, so it can be written as an unquoted path */
	CHECK(realpath(check_tmpdir(), dir) != NULL);
	snprintf(p, sizeof p, "%s/exports", dir);
	CHECK(mkdir(p, 0755) == 0);
	snprintf(p, sizeof p, "%s/exports/e1.conf", dir);
	write_file(p, "# export 1\n"
		   "EXPORT { Export_Id = 1; Path = /one;\n"
		   "  FSAL { Name = S3FILES; Bucket = one; State_Dir = /s1; } }\n"
		   "%include \"common.conf\"\n", 0644);		/* top file's dir */
	snprintf(p, sizeof p, "%s/common.conf", dir);
	write_file(p, "NFSV4 { Grace_Period = 33; }\n", 0644);
	snprintf(p, sizeof p, "%s/abs.conf", dir);
	write_file(p, "S3FILES { Log_Level = warn; }\n", 0644);
	snprintf(main_path, sizeof main_path, "%s/ganesha.conf", dir);
	{
		char text[8192];

		snprintf(text, sizeof text,
			 "NFS_CORE_PARAM { NFS_Port = 2049; }\n"
			 "%%include \"exports/e1.conf\"\n"
			 "%%include %s/abs.conf\n"
			 "EXPORT { Export_Id = 2; Path = /two;\n"
			 "  FSAL { Name = S3FILES; Bucket = two; State_Dir = /s2; } }\n", dir);
		write_file(main_path, text, 0644);
	}
	rc = conf_load(main_path, &c, err, sizeof err);
	CHECK_MSG(rc == 0, "%d: %s", rc, err);
	CHECK_INT_EQ(c->n_exports, 2);
	CHECK_STR_EQ(c->exports[0].bucket, "one");
	snprintf(p, sizeof p, "%s/exports/e1.conf", dir);
	CHECK_STR_EQ(c->exports[0].src_file, p);
	CHECK_INT_EQ(c->exports[0].src_line, 2);
	CHECK_STR_EQ(c->exports[1].bucket, "two");
	CHECK_STR_EQ(c->exports[1].src_file, main_path);
	CHECK_INT_EQ(c->ganesha.grace_period, 33);
	CHECK_STR_EQ(c->daemon.log_level, "warn");
	CHECK_STR_EQ(c->path, main_path);
	conf_free(c);

	/* errors inside an included file name that file and its line */
	snprintf(p, sizeof p, "%s/exports/e1.conf", dir);
	write_file(p, "EXPORT { Export_Id = 1; Path = /one;\n"
		   "  FSAL { Name = S3FILES; Bucket = one; State_Dir = /s1;\n"
		   "         Commit_Interval = 0; } }\n", 0644);
	CHECK_INT_EQ(conf_load(main_path, &c, err, sizeof err), S3F_E_CONFIG);
	snprintf(expect, sizeof expect,
		 "%s/exports/e1.conf:3: Commit_Interval: 0 is below the minimum 1 (range 1..86400)",
		 dir);
	CHECK_STR_EQ(err, expect);

	/* a missing include, an include loop, and one inside a block */
	snprintf(p, sizeof p, "%s/loop.conf", dir);
	write_file(p, "%include \"ganesha.conf\"\n", 0644);
	write_file(main_path, "%include \"missing.conf\"\n"
		   "%include \"loop.conf\"\n"
		   "EXPORT { %include \"x.conf\"\n Export_Id = 1; }\n", 0644);
	CHECK_INT_EQ(conf_load(main_path, &c, err, sizeof err), S3F_E_CONFIG);
	snprintf(expect, sizeof expect,
		 "%s:1: %%include: cannot read %s/missing.conf: No such file or directory\n"
		 "%s/loop.conf:1: %%include: %s/ganesha.conf is already included (include loop?)\n"
		 "%s:3: syntax error: %%include is only allowed outside blocks",
		 main_path, dir, dir, dir, main_path);
	CHECK_STR_EQ(err, expect);

	/* %dir: every matching regular file in name order */
	snprintf(p, sizeof p, "%s/conf.d", dir);
	CHECK(mkdir(p, 0755) == 0);
	snprintf(p, sizeof p, "%s/conf.d/20-b.conf", dir);
	write_file(p, "EXPORT { Export_Id = 20; Path = /b; FSAL { Name = S3FILES; Bucket = bbb; "
		   "State_Dir = /s; } }\n", 0644);
	snprintf(p, sizeof p, "%s/conf.d/10-a.conf", dir);
	write_file(p, "EXPORT { Export_Id = 10; Path = /a; FSAL { Name = S3FILES; Bucket = aaa; "
		   "State_Dir = /s; } }\n", 0644);
	snprintf(p, sizeof p, "%s/conf.d/README", dir);
	write_file(p, "not a config\n", 0644);
	write_file(main_path, "%dir \"conf.d/*.conf\"\n", 0644);
	rc = conf_load(main_path, &c, err, sizeof err);
	CHECK_MSG(rc == 0, "%d: %s", rc, err);
	CHECK_INT_EQ(c->n_exports, 2);
	CHECK_INT_EQ(c->exports[0].export_id, 10);
	CHECK_INT_EQ(c->exports[1].export_id, 20);
	conf_free(c);

	/* %url is ganesha's RADOS include */
	load_err("%url rados://pool/ns/obj\n",
		 "t.conf:1: %url: not supported by s3files (keep the configuration in local files)");
}

static void test_syntax_errors(void)
{
	load_err("EXPORT {\n"
		 "\tExport_Id = 1;\n"
		 "\tPath = \"/unterminated;\n"
		 "}\n",
		 "t.conf:3: syntax error: unterminated double-quoted string");
	load_err("A {\n\tB = 'x;\n}\n",
		 "t.conf:2: syntax error: unterminated single-quoted string");
	load_err("EXPORT {\n"
		 "\tExport_Id = 1;\n"
		 "\tFSAL {\n"
		 "\t\tName = S3FILES;\n",
		 "t.conf:3: syntax error: block FSAL is not closed (missing '}' before the end of t.conf)\n"
		 "t.conf:1: syntax error: block EXPORT is not closed (missing '}' before the end of t.conf)");
	load_err("A {\n\tB = 1\n}\nC { D = 2; } }\nE { F = 3; };\n",
		 "t.conf:3: syntax error: B: missing ';' at the end of the setting\n"
		 "t.conf:4: syntax error: '}' without a matching '{'\n"
		 "t.conf:5: syntax error: expected a setting or block name, got ';'");
	load_err("A {\n\tB = a b;\n\tC = a,;\n\tD = ;\n\tE = = ;\n\tF { = }\n\tG.H = 1;\n\t= 5;\n}\n",
		 "t.conf:2: syntax error: B: expected ',' or ';' after a value, got a value\n"
		 "t.conf:3: syntax error: C: expected a value after ',', got ';'\n"
		 "t.conf:5: syntax error: E: expected a value, got '='\n"
		 "t.conf:6: syntax error: expected a setting or block name, got '='\n"
		 "t.conf:7: syntax error: unexpected character '.'\n"
		 "t.conf:8: syntax error: expected a setting or block name, got '='");
	load_err(EXP_HEAD "\t\tEndpoint = http://127.0.0.1:7480;\n" EXP_TAIL,
		 "t.conf:8: syntax error: Endpoint: http://127.0.0.1:7480 is not a valid unquoted "
		 "value (ganesha would reject it); put it in double quotes");
	load_err("A { B = x+y; }\nC { D = 1; } E\n",
		 "t.conf:1: syntax error: B: x+y is not a valid unquoted value (ganesha would reject "
		 "it); put it in double quotes\n"
		 "t.conf:2: syntax error: expected '=' or '{' after E, got end of file");
	load_err("\xc3\xa9t\xc3\xa9 { }\n", "t.conf:1: syntax error: unexpected byte 0xc3");
	load_err("A { %bogus }\n", "t.conf:1: syntax error: %bogus is only allowed outside blocks");
	load_err("%bogus x\n", "t.conf:1: syntax error: unknown directive %bogus");

	/* a NUL byte can only come from a file */
	const char *dir = check_tmpdir();
	char path[4200];
	struct conf *c = NULL;
	int fd;

	snprintf(path, sizeof path, "%s/nul.conf", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, "A {\n B = \"x\0y\";\n}\n", 18) == 18);
	close(fd);
	CHECK_INT_EQ(conf_load(path, &c, err, sizeof err), S3F_E_CONFIG);
	CHECK(strstr(err, ":2: syntax error: NUL byte inside a quoted string") != NULL);

	/* blocks nested absurdly deep stop with one error, not a stack overflow */
	{
		size_t depth = 5000, o = 0;
		char *deep = malloc(depth * 4 + 16);

		CHECK(deep != NULL);
		for (size_t i = 0; i < depth; i++)
			o += (size_t)sprintf(deep + o, "A {");
		deep[o] = '\0';
		CHECK_INT_EQ(conf_load_string("t.conf", deep, &c, err, sizeof err), S3F_E_CONFIG);
		free(deep);
		CHECK_STR_EQ(err, "t.conf:1: syntax error: A: blocks nested too deeply (over 32)");
	}
}

/*
 * Corners of ganesha 4.3's lexer and grammar that s3files reproduces (each was checked
 * against config_ParseFile in libganesha_nfsd): what ganesha refuses is refused here.
 */
static void test_ganesha_quirks(void)
{
	struct conf *c;

	/* an arithmetic sign may stand apart from its number; one leading ',' is valid */
	c = load_ok("A { B = - 5; C = ~\n 0x1; D = , x; E = , x, y; }\n");
	conf_free(c);
	load_err("A { B = ,; }\n", "t.conf:1: syntax error: B: expected a value after ',', got ';'");
	load_err("A { B = ,, x; }\n",
		 "t.conf:1: syntax error: B: expected a value after ',', got ','");
	load_err("A { B = - x; }\n",
		 "t.conf:1: syntax error: B: - is not a valid unquoted value (ganesha would reject "
		 "it); put it in double quotes");

	/* a comment that ends the file without a newline is fatal for ganesha */
	load_err("A { B = 1; }\n# the end", "t.conf:2: syntax error: the comment on the last "
		 "line needs a newline after it (ganesha rejects the file otherwise)");
	load_err("A { B = 1; } #", "t.conf:1: syntax error: the comment on the last line needs "
		 "a newline after it (ganesha rejects the file otherwise)");
	c = load_ok("A { B = 1; } # fine\n");
	conf_free(c);

	/* "..." ends at the first quote not preceded by a backslash: "x\\" runs on */
	load_err("A { B = \"x\\\\\"; C = \"y\"; }\n",
		 "t.conf:1: syntax error: B: expected ',' or ';' after a value, got a value");
	c = load_ok(EXP_HEAD "\t\tProfile = \"x\\\\y\";\n" EXP_TAIL);
	CHECK_STR_EQ(c->exports[0].profile, "x\\y");
	conf_free(c);
	/* with no unescaped quote left, the last quote closes and the \" before it counts */
	c = load_ok("A { B = \"x\\\"; }\n");
	conf_free(c);
	c = load_ok(EXP_HEAD "\t\tProfile = \"p\\\";\n" EXP_TAIL);
	CHECK_STR_EQ(c->exports[0].profile, "p\"");
	conf_free(c);
}

/* The secret never appears in an error message, whatever is wrong with it. */
static void test_secret_never_shown(void)
{
	static const char *const bad[] = {
		"Secret_Access_Key = abc+SECRETPART;",
		"Secret_Access_Key = \"SECRETPART with blank\";",
		"Secret_Access_Key = SECRETPART, SECRETPART;",
		"Secret_Access_Key = \"SECRETPARTxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\";",
		"Secret_Access_Key = http://SECRETPART;",
		"Secret_Access_Key = SECRETPART",
	};
	char text[1024];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct conf *c = NULL;

		snprintf(text, sizeof text, EXP_HEAD "\t\tAccess_Key_Id = AK;\n\t\t%s\n" EXP_TAIL,
			 bad[i]);
		CHECK_INT_EQ(conf_load_string("t.conf", text, &c, err, sizeof err), S3F_E_CONFIG);
		CHECK_MSG(strstr(err, "SECRETPART") == NULL, "secret shown: %s", err);
		CHECK_MSG(strstr(err, "Secret_Access_Key") != NULL, "%s", err);
	}
}

/* A secret in a file others can read is worth a warning (not an error). */
static void test_secret_file_mode(void)
{
	const char *dir = check_tmpdir();
	char path[4200];
	struct conf *c = NULL;
	int rc;

	snprintf(path, sizeof path, "%s/ganesha.conf", dir);
	write_file(path, EXP_HEAD "\t\tAccess_Key_Id = AK;\n\t\tSecret_Access_Key = \"TOPSECRET\";\n"
		   EXP_TAIL, 0644);
	logbuf[0] = '\0';
	log_sink_set(log_capture, NULL);
	rc = conf_load(path, &c, err, sizeof err);
	log_sink_set(NULL, NULL);
	CHECK_MSG(rc == 0, "%s", err);
	CHECK_STR_EQ(c->exports[0].secret_access_key, "TOPSECRET");
	conf_free(c);
	CHECK_MSG(strstr(logbuf, "WARN conf ") != NULL, "%s", logbuf);
	CHECK(strstr(logbuf, ":9: Secret_Access_Key is in a file readable by others (mode 0644)"));
	CHECK(strstr(logbuf, "TOPSECRET") == NULL);

	CHECK(chmod(path, 0600) == 0);
	logbuf[0] = '\0';
	log_sink_set(log_capture, NULL);
	rc = conf_load(path, &c, err, sizeof err);
	log_sink_set(NULL, NULL);
	CHECK_INT_EQ(rc, 0);
	conf_free(c);
	CHECK_STR_EQ(logbuf, "");
}

static void test_empty(void)
{
	struct conf *c = load_ok("");

	CHECK_INT_EQ(c->n_exports, 0);
	CHECK(c->exports == NULL);
	CHECK_STR_EQ(c->daemon.log_level, "info");
	conf_free(c);
	c = load_ok("# nothing but comments\n\n   \t# and blanks\r\n");
	CHECK_INT_EQ(c->n_exports, 0);
	conf_free(c);
	conf_free(NULL);
	CHECK(conf_export_by_id(NULL, 1) == NULL);
}

static void test_load_errors(void)
{
	const char *dir = check_tmpdir();
	struct conf *c = (struct conf *)1;
	char path[4200], expect[4400];

	snprintf(path, sizeof path, "%s/none.conf", dir);
	CHECK_INT_EQ(conf_load(path, &c, err, sizeof err), ENOENT);
	CHECK(c == NULL);
	snprintf(expect, sizeof expect, "%s: cannot read: No such file or directory", path);
	CHECK_STR_EQ(err, expect);
	CHECK_INT_EQ(conf_load(dir, &c, err, sizeof err), EISDIR);
}

/* Small err buffers are cut at a line boundary and always terminated. */
static void test_err_truncation(void)
{
	const char *text = "A { B = x+y; C = x+y; }\n";
	char small[80];
	struct conf *c = NULL;

	memset(small, 'Z', sizeof small);
	CHECK_INT_EQ(conf_load_string("t.conf", text, &c, small, 70), S3F_E_CONFIG);
	/* the first line alone is longer than 70: cut inside it, terminated */
	CHECK_INT_EQ(strlen(small), 69);
	CHECK(small[70] == 'Z');
	CHECK_INT_EQ(conf_load_string("t.conf", text, &c, small, 1), S3F_E_CONFIG);
	CHECK_STR_EQ(small, "");
	CHECK_INT_EQ(conf_load_string("t.conf", text, &c, NULL, 0), S3F_E_CONFIG);

	/* two lines, room for the first only: no partial second line */
	char mid[160];

	CHECK_INT_EQ(conf_load_string("t.conf", text, &c, mid, sizeof mid), S3F_E_CONFIG);
	CHECK_STR_EQ(mid, "t.conf:1: syntax error: B: x+y is not a valid unquoted value (ganesha "
		     "would reject it); put it in double quotes");

	/* hundreds of errors: capped, with a count of the rest */
	size_t n = 300, o = 0;
	char *many = malloc(n * 32 + 16), *big = malloc(1 << 16);

	CHECK(many && big);
	o += (size_t)sprintf(many, "S3FILES {\n");
	for (size_t i = 0; i < n; i++)
		o += (size_t)sprintf(many + o, "Bad_%zu = 1;\n", i);
	sprintf(many + o, "}\n");
	CHECK_INT_EQ(conf_load_string("t.conf", many, &c, big, 1 << 16), S3F_E_CONFIG);
	CHECK(strstr(big, "t.conf:101: Bad_99: unknown setting in S3FILES block") != NULL);
	CHECK(strstr(big, "Bad_100") == NULL);
	CHECK(strstr(big, "\n(200 more errors)") != NULL);
	free(many);
	free(big);
}

/* 1,000+ lines: 50 exports of 20 lines each, parsed well within a second. */
static void test_big_config(void)
{
	size_t cap = 1 << 20, o = 0;
	char *text = malloc(cap);
	struct timespec t0, t1;
	struct conf *c;

	CHECK(text != NULL);
	o += (size_t)snprintf(text + o, cap - o, "NFS_CORE_PARAM { NFS_Port = 2049; }\n");
	for (int i = 1; i <= 50; i++) {
		o += (size_t)snprintf(text + o, cap - o,
			"# export %d\n"
			"EXPORT {\n"
			"\tExport_Id = %d;\n"
			"\tPath = /e%d;\n"
			"\tPseudo = /e%d;\n"
			"\tAccess_Type = RW;\n"
			"\tFSAL {\n"
			"\t\tName = S3FILES;\n"
			"\t\tBucket = bucket-%d;\n"
			"\t\tPrefix = \"p/%d\";\n"
			"\t\tState_Dir = /var/lib/s3files/%d;\n"
			"\t\tCommit_Interval = %d;\n"
			"\t\tPart_Size = \"%dM\";\n"
			"\t\tEndpoint = \"http://10.0.0.%d:7480\";\n"
			"\t\tMax_Connections = %d;\n"
			"\t}\n"
			"\tCLIENT {\n"
			"\t\tClients = 10.%d.0.0/16;\n"
			"\t}\n"
			"}\n",
			i, i, i, i, i, i, i, i, 5 + i % 20, i, i, i);
	}
	CHECK(o < cap);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	c = load_ok(text);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(text);
	CHECK_INT_EQ(c->n_exports, 50);
	for (uint32_t i = 1; i <= 50; i++) {
		const struct conf_export *x = conf_export_by_id(c, i);
		char b[32];

		CHECK(x != NULL);
		snprintf(b, sizeof b, "bucket-%u", i);
		CHECK_STR_EQ(x->bucket, b);
		CHECK_INT_EQ(x->commit_interval, i);
		CHECK_U64_EQ(x->part_size, (uint64_t)(5 + i % 20) << 20);
		CHECK_INT_EQ(x->src_line, 3 + (int)(i - 1) * 20);
	}
	conf_free(c);
	CHECK((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) < 1000000000L);
}

static void test_describe(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	static const char *const keys[] = {
		"Name", "Bucket", "Prefix", "Endpoint", "Region", "Path_Style", "TLS_Verify",
		"CA_File", "Access_Key_Id", "Secret_Access_Key", "Credentials_File", "Profile",
		"State_Dir", "Meta_Dir", "Data_Dir", "Journal", "Hydrate_Threshold",
		"Commit_Interval", "Commit_On_Close", "Read_Bypass_Threshold", "Poll_Interval_Ms",
		"Multipart_Threshold", "Part_Size", "Max_Connections", "Data_Quota",
		"Evict_After_Days", "Meta_Map_Size", "Dir_Rename_Warn_Objects", "S3_Setid",
		"S3_Root_Owner", "S3_Squash_Uid", "S3_Squash_Gid", "Allow_Network_State_Dir",
		"Export_Id", "Path",
		"Pseudo",
		"Control_Socket", "Log_Level", "Notify_Listen", "Metrics_Listen", "Syslog", "NFS_Port",
		"Lease_Lifetime", "PrincipalName",
	};

	CHECK(f != NULL);
	conf_describe(f);
	fclose(f);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char needle[64];

		snprintf(needle, sizeof needle, "\n  %s ", keys[i]);
		CHECK_MSG(strstr(buf, needle) != NULL, "%s missing", keys[i]);
	}
	CHECK(strstr(buf, "  Part_Size              size     5M..5G          default: 16M\n"));
	CHECK(strstr(buf, "  Commit_Interval        integer  1..86400        default: 60\n"));
	CHECK(strstr(buf, "  Dir_Rename_Warn_Objects integer  1..1000000000   default: 10000\n"));
	CHECK(strstr(buf, "  Bucket                 string   3..255 chars    required\n"));
	CHECK(strstr(buf, "  Log_Level              enum     error|warn|info|debug default: info\n"));
	free(buf);

	/* The roff form (s3files.conf(5)): every key a .TP tag, minus signs escaped. */
	buf = NULL;
	len = 0;
	f = open_memstream(&buf, &len);
	CHECK(f != NULL);
	conf_describe_man(f);
	fclose(f);
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		char needle[64];

		snprintf(needle, sizeof needle, ".TP\n.B %s\n", keys[i]);
		CHECK_MSG(strstr(buf, needle) != NULL, "%s missing from the man form", keys[i]);
	}
	CHECK(strstr(buf, ".B Region\n\\fIstring\\fR, 1..64 chars; default: us\\-east\\-1\n"));
	CHECK(strstr(buf, ".SS \"S3FILES { ... } (top level, optional)\"\n"));
	free(buf);
}


/* The hardening settings: S3_Setid, S3_Root_Owner, S3_Squash_Uid/Gid,
 * Allow_Network_State_Dir. */
static void test_trust_settings(void)
{
	struct conf *c = load_ok(EXP_HEAD
				 "\t\tS3_Setid = true;\n"
				 "\t\tS3_Root_Owner = yes;\n"
				 "\t\tS3_Squash_Uid = 1001;\n"
				 "\t\tS3_Squash_Gid = 0x3e9;\n"
				 "\t\tAllow_Network_State_Dir = on;\n"
				 EXP_TAIL);
	const struct conf_export *x = &c->exports[0];

	CHECK(x->s3_setid);
	CHECK(x->s3_root_owner);
	CHECK_INT_EQ(x->s3_squash_uid, 1001);
	CHECK_INT_EQ(x->s3_squash_gid, 1001);
	CHECK(x->allow_network_state_dir);
	conf_free(c);
	/* Squashing root to root would keep root: refused, and so is uid -1. */
	load_err(EXP_HEAD "\t\tS3_Squash_Uid = 0;\n" EXP_TAIL,
		 "t.conf:8: S3_Squash_Uid: 0 is below the minimum 1 (range 1..4294967294)");
	load_err(EXP_HEAD "\t\tS3_Squash_Gid = 4294967295;\n" EXP_TAIL,
		 "t.conf:8: S3_Squash_Gid: 4294967295 is above the maximum 4294967294 (range "
		 "1..4294967294)");
	load_err(EXP_HEAD "\t\tS3_Setid = maybe;\n" EXP_TAIL,
		 "t.conf:8: S3_Setid: expected true/false (or yes/no, on/off, 1/0), got \"maybe\"");
}

/* TLS_Verify = false reaches the S3 client (it used to be forced back to true on the way,
 * by s3_config_defaults) and is said in a WARN line that names the export; the default
 * verifies and says nothing. */
static void test_tls_verify_off(void)
{
	static const char *const texts[2] = {
		EXP_HEAD "\t\tEndpoint = \"https://s3.example.net\";\n\t\tAccess_Key_Id = AK;\n"
		"\t\tSecret_Access_Key = SK;\n\t\tTLS_Verify = false;\n" EXP_TAIL,
		EXP_HEAD "\t\tEndpoint = \"https://s3.example.net\";\n\t\tAccess_Key_Id = AK;\n"
		"\t\tSecret_Access_Key = SK;\n" EXP_TAIL,
	};

	for (int i = 0; i < 2; i++) {
		bool off = i == 0;
		struct s3_client *s3 = NULL;
		struct s3_config sc;
		struct conf *c;
		char e[256];
		int rc;

		logbuf[0] = '\0';
		log_sink_set(log_capture, NULL);
		c = load_ok(texts[i]);
		rc = export_ctx_s3_config(&c->exports[0], &sc, e, sizeof e);
		if (rc == 0)
			rc = s3_client_open(&sc, &s3);
		log_sink_set(NULL, NULL);
		CHECK_MSG(rc == 0, "%s: %s", s3f_strerror(rc), e);
		CHECK(c->exports[0].tls_verify == !off);
		CHECK(sc.tls_skip_verify == off);
		CHECK(s3->cfg.tls_skip_verify == off);	/* what the transfers use (s3_io.c) */
		s3_client_close(s3);
		conf_free(c);
		if (off) {
			CHECK_MSG(strstr(logbuf, "WARN conf t.conf:1: export 1: TLS_Verify = false"),
				  "%s", logbuf);
			CHECK_MSG(strstr(logbuf, "WARN s3 TLS certificate and host name verification "
					 "is off for https://s3.example.net (bucket bkt)"), "%s", logbuf);
		} else {
			CHECK_MSG(!strstr(logbuf, "TLS"), "%s", logbuf);
		}
	}
}

int main(void)
{
	CHECK_RUN(test_full_roundtrip);
	CHECK_RUN(test_defaults);
	CHECK_RUN(test_ganesha_core);
	CHECK_RUN(test_type_errors);
	CHECK_RUN(test_unknown_key);
	CHECK_RUN(test_missing_required);
	CHECK_RUN(test_duplicate_export_id);
	CHECK_RUN(test_multiple_exports);
	CHECK_RUN(test_size_suffixes);
	CHECK_RUN(test_bool_forms);
	CHECK_RUN(test_prefix);
	CHECK_RUN(test_comments_quoting);
	CHECK_RUN(test_nested_blocks);
	CHECK_RUN(test_include);
	CHECK_RUN(test_syntax_errors);
	CHECK_RUN(test_ganesha_quirks);
	CHECK_RUN(test_secret_never_shown);
	CHECK_RUN(test_secret_file_mode);
	CHECK_RUN(test_empty);
	CHECK_RUN(test_load_errors);
	CHECK_RUN(test_err_truncation);
	CHECK_RUN(test_big_config);
	CHECK_RUN(test_describe);
	CHECK_RUN(test_trust_settings);
	CHECK_RUN(test_tls_verify_off);
	return check_done();
}
