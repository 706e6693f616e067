/*
 * check.h — the unit-test harness.
 *
 * A test program is a list of cases; each case reports one line that test/run.sh counts:
 *   PASS <suite>/<case>
 *   FAIL <suite>/<case>: <file>:<line>: <failed expression and values>
 * The first failed CHECK ends its case (later cases still run). main() returns non-zero
 * when any case failed.
 *
 *   static void test_roundtrip(void) { CHECK(x == 1); CHECK_INT_EQ(a, b); }
 *   int main(void) { CHECK_RUN(test_roundtrip); return check_done(); }
 */
#ifndef S3F_TEST_CHECK_H
#define S3F_TEST_CHECK_H

#include <inttypes.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char *check_suite;	/* defaults to the program name */
extern int check_failed_cases;
extern int check_passed_cases;
extern jmp_buf check_jmp;
extern char check_msg[1024];

void check_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
void check_run_case(const char *name, void (*fn)(void));
int check_done(void);

/* Directory for a test's scratch files: $BUILD/test-tmp/<suite>-<pid>-<n>, created empty. */
const char *check_tmpdir(void);

/* The shared RGW (test/run.sh starts it and sets RGW_TEST_DIR). */
struct check_rgw {
	char endpoint[256];
	char region[64];		/* "us-east-1" when its env file has none */
	char bucket[128];
	char id[128];
	char secret[128];
};
struct s3_config;

/* Its settings from $RGW_TEST_DIR/env. 0, or -1 after printing a FAIL line that says what
 * is missing. */
int check_rgw_load(struct check_rgw *r);

/* An S3 client configuration for it: s3_config_defaults, then its endpoint, region,
 * bucket and credentials, path-style requests. The strings are r's (r must outlive cfg). */
void check_rgw_s3_config(const struct check_rgw *r, struct s3_config *cfg);

/* An export over the in-memory S3 double (core/s3/s3_mem.h) instead of RGW: a config with
 * one EXPORT (Export_Id 1, Bucket "mem", Prefix "t/", State_Dir a new check_tmpdir()) and
 * the FSAL settings in `settings` added (NULL: none; e.g. "Commit_Interval = 1;"), its
 * context opened without S3 and then given a fresh s3_client_open_mem client (with the
 * export's Part_Size and Multipart_Threshold). *conf_out: the config, which must outlive the
 * context: export_ctx_close(*out) first, then conf_free(*conf_out). Fails the case (FAIL
 * line) when anything cannot be opened. */
struct conf;
struct export_ctx;
void check_export_open_mem(const char *settings, struct conf **conf_out, struct export_ctx **out);

/* The next number of a xorshift64 sequence in *x (never 0 if *x was not): the same start,
 * the same numbers. */
uint64_t check_rand(uint64_t *x);

/* n pseudo-random bytes from seed into p (check_rand: the same seed, the same bytes). */
void check_fill(void *p, size_t n, unsigned seed);

#define CHECK(cond) \
	do { if (!(cond)) check_fail_at(__FILE__, __LINE__, "%s", #cond); } while (0)

#define CHECK_MSG(cond, ...) \
	do { if (!(cond)) check_fail_at(__FILE__, __LINE__, __VA_ARGS__); } while (0)

#define CHECK_INT_EQ(a, b) \
	do { long long a_ = (long long)(a), b_ = (long long)(b); \
	     if (a_ != b_) check_fail_at(__FILE__, __LINE__, "%s == %s (%lld != %lld)", \
					 #a, #b, a_, b_); } while (0)

#define CHECK_U64_EQ(a, b) \
	do { uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b); \
	     if (a_ != b_) check_fail_at(__FILE__, __LINE__, "%s == %s (%" PRIu64 " != %" PRIu64 ")", \
					 #a, #b, a_, b_); } while (0)

#define CHECK_STR_EQ(a, b) \
	do { const char *a_ = (a), *b_ = (b); \
	     if (!a_ || !b_ || strcmp(a_, b_) != 0) \
		check_fail_at(__FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", #a, #b, \
			      a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } while (0)

#define CHECK_MEM_EQ(a, b, n) \
	do { if (memcmp((a), (b), (n)) != 0) \
		check_fail_at(__FILE__, __LINE__, "memcmp(%s, %s, %s) != 0", #a, #b, #n); } while (0)

/* rc == 0, printing s3f_strerror(rc) otherwise (needs core/base/err.h). */
#define CHECK_OK(expr) \
	do { int rc_ = (expr); \
	     if (rc_ != 0) check_fail_at(__FILE__, __LINE__, "%s -> %d (%s)", #expr, rc_, \
					 s3f_strerror(rc_)); } while (0)

/* Run one case (CHECK_ONLY=<case name> in the environment: only that case runs). */
#define CHECK_RUN(fn) check_run_case(#fn, fn)

#endif
