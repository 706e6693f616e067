/* check.c — see check.h. Linked into every unit-test program. */
#include "check.h"
#include "s3/s3.h"
#include "s3/s3_mem.h"
#include "base/conf.h"
#include "base/err.h"
#include "engine/export_ctx.h"

#include <limits.h>
#include <stdlib.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

const char *check_suite;
int check_failed_cases;
int check_passed_cases;
jmp_buf check_jmp;
char check_msg[1024];

static const char *check_case;
static int check_tmp_seq;
static char check_tmp_path[4096];

extern const char *__progname;

void check_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(check_msg, sizeof check_msg, "%s:%d: ", file, line);

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof check_msg)
		vsnprintf(check_msg + n, sizeof check_msg - (size_t)n, fmt, ap);
	va_end(ap);
	longjmp(check_jmp, 1);
}

void check_run_case(const char *name, void (*fn)(void))
{
	const char *only = getenv("CHECK_ONLY");

	/* CHECK_ONLY=name runs that case alone (race_mutants.py: a reverted fix may leave
	 * the other cases hanging) */
	if (only && *only && strcmp(only, name) != 0)
		return;
	if (!check_suite)
		check_suite = __progname;
	check_case = name;
	if (setjmp(check_jmp) == 0) {
		fn();
		printf("PASS %s/%s\n", check_suite, name);
		check_passed_cases++;
	} else {
		printf("FAIL %s/%s: %s\n", check_suite, name, check_msg);
		check_failed_cases++;
	}
	fflush(stdout);
	check_case = NULL;
}

int check_done(void)
{
	return check_failed_cases ? 1 : 0;
}

static void mkdirs(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			(void)mkdir(path, 0755);
			*p = '/';
		}
	}
	(void)mkdir(path, 0755);
}

const char *check_tmpdir(void)
{
	const char *build = getenv("BUILD");
	char cmd[4200];

	if (!build || !*build)
		build = "build";
	snprintf(check_tmp_path, sizeof check_tmp_path, "%s/test-tmp/%s-%d-%d", build,
		 check_suite ? check_suite : __progname, (int)getpid(), ++check_tmp_seq);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", check_tmp_path);
	if (system(cmd) != 0)
		check_fail_at(__FILE__, __LINE__, "cannot clean %s", check_tmp_path);
	mkdirs(check_tmp_path);
	if (access(check_tmp_path, W_OK) != 0)
		check_fail_at(__FILE__, __LINE__, "cannot create %s: %s", check_tmp_path,
			      strerror(errno));
	return check_tmp_path;
}

int check_rgw_load(struct check_rgw *r)
{
	const char *dir = getenv("RGW_TEST_DIR");
	char path[4096], line[1024];
	FILE *f;

	memset(r, 0, sizeof *r);
	if (!dir || !*dir) {
		printf("FAIL %s/env: RGW_TEST_DIR is not set (test/run.sh starts the shared RGW "
		       "and sets it)\n", check_suite);
		return -1;
	}
	snprintf(path, sizeof path, "%s/env", dir);
	f = fopen(path, "r");
	if (!f) {
		printf("FAIL %s/env: cannot read %s: %s\n", check_suite, path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char *eq = strchr(line, '=');

		line[strcspn(line, "\n")] = '\0';
		if (!eq)
			continue;
		*eq++ = '\0';
		if (strcmp(line, "S3_ENDPOINT") == 0)
			snprintf(r->endpoint, sizeof r->endpoint, "%s", eq);
		else if (strcmp(line, "S3_REGION") == 0)
			snprintf(r->region, sizeof r->region, "%s", eq);
		else if (strcmp(line, "S3_BUCKET") == 0)
			snprintf(r->bucket, sizeof r->bucket, "%s", eq);
		else if (strcmp(line, "AWS_ACCESS_KEY_ID") == 0)
			snprintf(r->id, sizeof r->id, "%s", eq);
		else if (strcmp(line, "AWS_SECRET_ACCESS_KEY") == 0)
			snprintf(r->secret, sizeof r->secret, "%s", eq);
	}
	fclose(f);
	if (!r->endpoint[0] || !r->bucket[0] || !r->id[0] || !r->secret[0]) {
		printf("FAIL %s/env: %s lacks S3_ENDPOINT, S3_BUCKET or credentials\n", check_suite,
		       path);
		return -1;
	}
	if (!r->region[0])
		snprintf(r->region, sizeof r->region, "us-east-1");
	return 0;
}

void check_rgw_s3_config(const struct check_rgw *r, struct s3_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	s3_config_defaults(cfg);
	cfg->endpoint = r->endpoint;
	cfg->region = r->region;
	cfg->bucket = r->bucket;
	cfg->path_style = true;
	snprintf(cfg->creds.access_key_id, sizeof cfg->creds.access_key_id, "%s", r->id);
	snprintf(cfg->creds.secret_access_key, sizeof cfg->creds.secret_access_key, "%s",
		 r->secret);
}

uint64_t check_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

void check_fill(void *p, size_t n, unsigned seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	unsigned char *q = p;

	for (size_t i = 0; i < n; i++)
		q[i] = (unsigned char)check_rand(&x);
}

void check_export_open_mem(const char *settings, struct conf **conf_out, struct export_ctx **out)
{
	char state[PATH_MAX], text[8192], err[4096];
	struct conf *c = NULL;
	struct export_ctx *x = NULL;
	struct s3_config sc;
	int rc;

	*conf_out = NULL;
	*out = NULL;
	CHECK(realpath(check_tmpdir(), state) != NULL);
	snprintf(text, sizeof text,
		 "EXPORT { Export_Id = 1; Path = \"/t\"; Pseudo = \"/t\";\n"
		 "  FSAL { Name = S3FILES; Bucket = \"mem\"; Prefix = \"t/\";\n"
		 "    Endpoint = \"http://127.0.0.1:9\"; Region = \"us-east-1\";\n"
		 "    Access_Key_Id = \"mem\"; Secret_Access_Key = \"mem\";\n"
		 "    State_Dir = \"%s\"; %s } }\n", state, settings ? settings : "");
	rc = conf_load_string("check_mem.conf", text, &c, err, sizeof err);
	CHECK_MSG(rc == 0, "config: %s", err);
	rc = export_ctx_open(&c->exports[0], EXPORT_CTX_NO_S3, &x);
	if (rc) {
		conf_free(c);
		CHECK_OK(rc);
	}
	rc = export_ctx_s3_config(&c->exports[0], &sc, err, sizeof err);
	if (rc == 0)
		rc = s3_client_open_mem(&sc, &x->s3);
	if (rc) {
		export_ctx_close(x);
		conf_free(c);
		CHECK_OK(rc);
	}
	*conf_out = c;
	*out = x;
}
