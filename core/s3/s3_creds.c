/*
 * s3_creds.c — s3_creds_load and s3_creds_load_file (static keys), see s3.h. The
 * providers of temporary credentials (web identity, container, IMDS) are in s3_credp.c.
 *
 * The credentials file is the AWS INI format ("[default]", "[name]" or "[profile name]";
 * aws_access_key_id, aws_secret_access_key, aws_session_token). A file that group or
 * others can read is refused outright rather than warned about: the secret in it may
 * already have leaked, and the fix (chmod 600) is one command the message names.
 * Messages name files, profiles and key ids, never secrets or tokens.
 */
#include "s3/s3.h"
#include "s3/s3_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool creds_set(char *dst, size_t cap, const char *v)
{
	size_t n = strlen(v);

	if (n >= cap)
		return false;
	memcpy(dst, v, n + 1);
	return true;
}

static int creds_fill(struct s3_creds *out, const char *id, const char *secret, const char *token)
{
	memset(out, 0, sizeof *out);
	if (!*id || !*secret || !creds_set(out->access_key_id, sizeof out->access_key_id, id) ||
	    !creds_set(out->secret_access_key, sizeof out->secret_access_key, secret) ||
	    (token && !creds_set(out->session_token, sizeof out->session_token, token))) {
		explicit_bzero(out, sizeof *out);
		return EINVAL;
	}
	return 0;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/* Does "[...]" name the profile we want? "[profile x]" is the config-file spelling. */
static bool section_is(char *line, const char *profile)
{
	char *end = strchr(line, ']');
	char *name;

	if (!end)
		return false;
	*end = '\0';
	name = trim(line + 1);
	if (strncmp(name, "profile ", 8) == 0)
		name = trim(name + 8);
	return strcmp(name, profile) == 0;
}

static int creds_file_parse(FILE *f, const char *path, const char *profile, struct s3_creds *out,
			    char *err, size_t errlen)
{
	char line[4096];
	char id[sizeof out->access_key_id] = "", secret[sizeof out->secret_access_key] = "";
	char *token = calloc(1, sizeof out->session_token);
	bool in = false, found = false;
	unsigned lineno = 0;
	int rc = 0;

	if (!token)
		return ENOMEM;
	while (fgets(line, sizeof line, f)) {
		char *s, *eq, *k, *v;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			s3_errf(err, errlen, "%s:%u: line too long", path, lineno);
			rc = EINVAL;
			goto out;
		}
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			in = section_is(s, profile);
			found |= in;
			continue;
		}
		if (!in)
			continue;
		eq = strchr(s, '=');
		if (!eq)
			continue;
		*eq = '\0';
		k = trim(s);
		v = trim(eq + 1);
		if (strcmp(k, "aws_access_key_id") == 0) {
			if (!creds_set(id, sizeof id, v))
				rc = EINVAL;
		} else if (strcmp(k, "aws_secret_access_key") == 0) {
			if (!creds_set(secret, sizeof secret, v))
				rc = EINVAL;
		} else if (strcmp(k, "aws_session_token") == 0 || strcmp(k, "aws_security_token") == 0) {
			if (!creds_set(token, sizeof out->session_token, v))
				rc = EINVAL;
		}
		if (rc) {
			s3_errf(err, errlen, "%s:%u: value of %s too long", path, lineno, k);
			goto out;
		}
	}
	if (ferror(f)) {
		rc = EIO;
		s3_errf(err, errlen, "%s: read error", path);
		goto out;
	}
	if (!found) {
		rc = ENOENT;
		s3_errf(err, errlen, "%s: no profile [%s]", path, profile);
		goto out;
	}
	if (!id[0] || !secret[0]) {
		rc = EINVAL;
		s3_errf(err, errlen, "%s: profile [%s] lacks aws_access_key_id or "
			  "aws_secret_access_key", path, profile);
		goto out;
	}
	rc = creds_fill(out, id, secret, token);
	if (rc)
		s3_errf(err, errlen, "%s: profile [%s]: invalid credentials", path, profile);
out:
	explicit_bzero(secret, sizeof secret);
	explicit_bzero(token, sizeof out->session_token);
	explicit_bzero(line, sizeof line);
	free(token);
	return rc;
}

static int creds_file(const char *path, bool explicit_path, const char *profile,
		      struct s3_creds *out, char *err, size_t errlen)
{
	struct stat st;
	FILE *f;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = errno;
		if (rc == ENOENT && !explicit_path)
			s3_errf(err, errlen, "no credentials: none configured, none in the "
				  "environment, and no file %s", path);
		else
			s3_errf(err, errlen, "cannot open credentials file %s: %s", path,
				  strerror(rc));
		return rc == ENOENT ? ENOENT : (rc == EACCES ? EACCES : rc);
	}
	if (fstat(fd, &st) != 0) {
		rc = errno;
		close(fd);
		s3_errf(err, errlen, "cannot stat credentials file %s: %s", path, strerror(rc));
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		s3_errf(err, errlen, "credentials file %s is not a regular file", path);
		return EINVAL;
	}
	if (st.st_mode & (S_IRGRP | S_IROTH)) {
		close(fd);
		s3_errf(err, errlen, "credentials file %s has mode %04o: readable by group or "
			  "others; refusing it (chmod 600 %s)", path, (unsigned)(st.st_mode & 07777),
			  path);
		return EACCES;
	}
	f = fdopen(fd, "r");
	if (!f) {
		rc = errno;
		close(fd);
		return rc;
	}
	rc = creds_file_parse(f, path, profile, out, err, errlen);
	fclose(f);
	return rc;
}

int s3_creds_load(const struct s3_creds_source *src, struct s3_creds *out, char *err, size_t errlen)
{
	static const struct s3_creds_source dflt = { .use_env = true };
	const char *id, *secret;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	memset(out, 0, sizeof *out);
	if (!src)
		src = &dflt;
	/* 1. explicit values */
	if (src->access_key_id || src->secret_access_key) {
		if (!src->access_key_id || !src->secret_access_key) {
			s3_errf(err, errlen, "configured credentials need both the access key id "
				  "and the secret access key");
			return EINVAL;
		}
		rc = creds_fill(out, src->access_key_id, src->secret_access_key,
				src->session_token);
		if (rc)
			s3_errf(err, errlen, "configured credentials are empty or too long");
		return rc;
	}
	/* 2. environment */
	if (src->use_env) {
		id = getenv("AWS_ACCESS_KEY_ID");
		secret = getenv("AWS_SECRET_ACCESS_KEY");
		if (id && *id && secret && *secret) {
			rc = creds_fill(out, id, secret, getenv("AWS_SESSION_TOKEN"));
			if (rc)
				s3_errf(err, errlen, "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/"
					  "AWS_SESSION_TOKEN: value too long");
			return rc;
		}
	}
	/* 3. credentials file */
	return s3_creds_load_file(src, out, NULL, err, errlen);
}

int s3_creds_load_file(const struct s3_creds_source *src, struct s3_creds *out,
		       bool *explicit_out, char *err, size_t errlen)
{
	const char *path, *profile, *home;
	char buf[4096];
	bool explicit_path;

	if (err && errlen)
		err[0] = '\0';
	memset(out, 0, sizeof *out);
	path = src->credentials_file;
	explicit_path = path != NULL;
	if (!path && src->use_env && (path = getenv("AWS_SHARED_CREDENTIALS_FILE")) && *path)
		explicit_path = true;
	if (explicit_out)
		*explicit_out = explicit_path;
	if (!path || !*path) {
		home = getenv("HOME");
		if (!home || !*home) {
			s3_errf(err, errlen, "no credentials: none configured or in the environment, "
				  "and no HOME for ~/.aws/credentials");
			return ENOENT;
		}
		snprintf(buf, sizeof buf, "%s/.aws/credentials", home);
		path = buf;
	}
	profile = src->profile;
	if (!profile && src->use_env)
		profile = getenv("AWS_PROFILE");
	if (!profile || !*profile)
		profile = "default";
	return creds_file(path, explicit_path, profile, out, err, errlen);
}
