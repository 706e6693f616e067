/*
 * test_s3_creds.c — s3_creds_load: source order (explicit, environment, file), profiles,
 * the refusal of credentials files that group or others can read, and that no message
 * ever contains a secret.
 */
#include "check.h"
#include "base/err.h"
#include "s3/s3.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

static char path[4200];

static void write_file(const char *content, mode_t mode)
{
	int fd;

	snprintf(path, sizeof path, "%s/credentials", check_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
	CHECK(fchmod(fd, mode) == 0);
	close(fd);
}

static void env_clear(void)
{
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_PROFILE");
}

static const char file_text[] =
	"# comment\n"
	"[default]\n"
	"aws_access_key_id = AKIDDEFAULT\n"
	"aws_secret_access_key=" SECRET "\n"
	"\n"
	"; another comment\n"
	"[profile other]\n"
	"  aws_access_key_id =   AKIDOTHER  \n"
	"aws_secret_access_key = other-secret\n"
	"aws_session_token = TOKEN/+=\n"
	"[broken]\n"
	"aws_access_key_id = AKIDBROKEN\n";

static void test_explicit_first(void)
{
	struct s3_creds_source src = { .access_key_id = "AKIDX", .secret_access_key = "sx",
				       .session_token = "tok", .use_env = true };
	struct s3_creds cr;
	char err[256];

	env_clear();
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "senv", 1);
	CHECK_OK(s3_creds_load(&src, &cr, err, sizeof err));
	CHECK_STR_EQ(cr.access_key_id, "AKIDX");
	CHECK_STR_EQ(cr.secret_access_key, "sx");
	CHECK_STR_EQ(cr.session_token, "tok");
	src.secret_access_key = NULL;
	CHECK_INT_EQ(s3_creds_load(&src, &cr, err, sizeof err), EINVAL);
	CHECK(strstr(err, "secret") != NULL);
	env_clear();
}

static void test_environment(void)
{
	struct s3_creds_source src = { .use_env = true, .credentials_file = "/nonexistent" };
	struct s3_creds cr;
	char err[256];

	env_clear();
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "senv", 1);
	setenv("AWS_SESSION_TOKEN", "tenv", 1);
	CHECK_OK(s3_creds_load(&src, &cr, err, sizeof err));
	CHECK_STR_EQ(cr.access_key_id, "AKIDENV");
	CHECK_STR_EQ(cr.session_token, "tenv");
	/* use_env = false: the environment is not consulted */
	src.use_env = false;
	CHECK_INT_EQ(s3_creds_load(&src, &cr, err, sizeof err), ENOENT);
	CHECK(strstr(err, "/nonexistent") != NULL);
	/* NULL source: environment then the default file */
	CHECK_OK(s3_creds_load(NULL, &cr, err, sizeof err));
	CHECK_STR_EQ(cr.access_key_id, "AKIDENV");
	env_clear();
}

static void test_file_profiles(void)
{
	struct s3_creds_source src = { .use_env = true };
	struct s3_creds cr;
	char err[256];

	env_clear();
	write_file(file_text, 0600);
	src.credentials_file = path;
	CHECK_OK(s3_creds_load(&src, &cr, err, sizeof err));
	CHECK_STR_EQ(cr.access_key_id, "AKIDDEFAULT");
	CHECK_STR_EQ(cr.secret_access_key, SECRET);
	CHECK_STR_EQ(cr.session_token, "");
	src.profile = "other";
	CHECK_OK(s3_creds_load(&src, &cr, err, sizeof err));
	CHECK_STR_EQ(cr.access_key_id, "AKIDOTHER");
	CHECK_STR_EQ(cr.secret_access_key, "other-secret");
	CHECK_STR_EQ(cr.session_token, "TOKEN/+=");
	/* AWS_PROFILE picks the profile when none is configured */
	src.profile = NULL;
	setenv("AWS_PROFILE", "other", 1);
	CHECK_OK(s3_creds_load(&src, &cr, err, sizeof err));
	CHECK_STR_EQ(cr.access_key_id, "AKIDOTHER");
	env_clear();
	src.profile = "broken";
	CHECK_INT_EQ(s3_creds_load(&src, &cr, err, sizeof err), EINVAL);
	CHECK(strstr(err, "[broken]") != NULL);
	src.profile = "nope";
	CHECK_INT_EQ(s3_creds_load(&src, &cr, err, sizeof err), ENOENT);
	CHECK(strstr(err, "[nope]") != NULL);
	/* AWS_SHARED_CREDENTIALS_FILE names the file when none is configured */
	src = (struct s3_creds_source){ .use_env = true };
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	CHECK_OK(s3_creds_load(&src, &cr, err, sizeof err));
	CHECK_STR_EQ(cr.access_key_id, "AKIDDEFAULT");
	env_clear();
}

static void test_file_permissions(void)
{
	static const mode_t bad[] = { 0644, 0640, 0604, 0666, 0440 };
	struct s3_creds_source src = { .use_env = false };
	struct s3_creds cr;
	char err[512], mode[16];

	env_clear();
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		write_file(file_text, bad[i]);
		src.credentials_file = path;
		memset(&cr, 0x5a, sizeof cr);
		CHECK_INT_EQ(s3_creds_load(&src, &cr, err, sizeof err), EACCES);
		/* the message names the file and its mode, and leaks nothing */
		snprintf(mode, sizeof mode, "%04o", (unsigned)bad[i]);
		CHECK_MSG(strstr(err, path) && strstr(err, mode), "message: %s", err);
		CHECK(strstr(err, SECRET) == NULL);
		CHECK(cr.secret_access_key[0] == '\0');
	}
	write_file(file_text, 0400);	/* owner-only is fine, writable or not */
	CHECK_OK(s3_creds_load(&src, &cr, err, sizeof err));
	write_file(file_text, 0620);	/* group-writable but not readable: not a leak */
	CHECK_OK(s3_creds_load(&src, &cr, err, sizeof err));
}

static void test_bad_files(void)
{
	struct s3_creds_source src = { .use_env = false };
	struct s3_creds cr;
	char err[512], *big;

	env_clear();
	src.credentials_file = check_tmpdir();	/* a directory */
	CHECK_INT_EQ(s3_creds_load(&src, &cr, err, sizeof err), EINVAL);
	big = malloc(6000);
	CHECK(big != NULL);
	memset(big, 'a', 5999);
	big[5999] = '\0';
	memcpy(big, "[default]\naws_access_key_id=", 28);
	write_file(big, 0600);
	free(big);
	src.credentials_file = path;
	CHECK_INT_EQ(s3_creds_load(&src, &cr, err, sizeof err), EINVAL);
	write_file("[default]\naws_access_key_id = A\naws_secret_access_key = "
		   "0123456789012345678901234567890123456789012345678901234567890123456789"
		   "012345678901234567890123456789012345678901234567890123456789\n", 0600);
	CHECK_INT_EQ(s3_creds_load(&src, &cr, err, sizeof err), EINVAL);
	CHECK(strstr(err, "0123456789") == NULL);
	/* a missing HOME with nothing else configured */
	char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	unsetenv("HOME");
	src = (struct s3_creds_source){ .use_env = true };
	int rc = s3_creds_load(&src, &cr, err, sizeof err);
	if (home) {
		setenv("HOME", home, 1);
		free(home);
	}
	CHECK_INT_EQ(rc, ENOENT);
}

int main(void)
{
	CHECK_RUN(test_explicit_first);
	CHECK_RUN(test_environment);
	CHECK_RUN(test_file_profiles);
	CHECK_RUN(test_file_permissions);
	CHECK_RUN(test_bad_files);
	return check_done();
}
