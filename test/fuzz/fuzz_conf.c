// fuzz-sources: core/base/conf.c core/base/log.c core/base/err.c core/base/buf.c
/*
 * fuzz_conf.c — libFuzzer target for the ganesha.conf parser and binder (core/base/conf.c).
 *
 * Any input: no crash, no leak, no UB; err always terminated within its buffer, non-empty
 * on failure; on success the invariants conf.h promises hold (required settings present,
 * derived paths filled in, Prefix normalized, Export_Ids unique and findable).
 *
 * %include / %dir are fuzzed against a scratch directory holding two small files; an
 * input pointing a directive at an absolute path or ".." is skipped so the fuzzer does
 * not wander the host's file system.
 */
#include "base/conf.h"
#include "base/err.h"
#include "base/log.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char fuzz_dir[64];
static char fuzz_name[96];

static void fuzz_log_sink(enum log_level lvl, const char *component, const char *msg, void *arg)
{
	(void)lvl;
	(void)component;
	(void)msg;
	(void)arg;
}

static void fuzz_write(const char *name, const char *text)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", fuzz_dir, name);
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
}

static void fuzz_cleanup(void)
{
	char path[160];

	snprintf(path, sizeof path, "%s/a.conf", fuzz_dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/b.conf", fuzz_dir);
	unlink(path);
	rmdir(fuzz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/fuzz_conf.XXXXXX");
	if (!mkdtemp(fuzz_dir))
		abort();
	fuzz_write("a.conf", "NFSV4 { Grace_Period = 10; }\n");
	fuzz_write("b.conf", "EXPORT { Export_Id = 9; Path = /i; FSAL { Name = S3FILES; "
		   "Bucket = inc; State_Dir = /s; } }\n");
	snprintf(fuzz_name, sizeof fuzz_name, "%s/fuzz.conf", fuzz_dir);
	atexit(fuzz_cleanup);
	log_sink_set(fuzz_log_sink, NULL);
	return 0;
}

/* A directive whose argument starts with '/' or holds ".." could read anything. */
static bool fuzz_escapes(const char *t)
{
	for (const char *p = strchr(t, '%'); p; p = strchr(p + 1, '%')) {
		const char *a = p + 1;

		while (*a >= 'a' && *a <= 'z')
			a++;
		while (*a == ' ' || *a == '\t' || *a == '\r' || *a == '\f')
			a++;
		if (*a == '"')
			a++;
		if (*a == '/')
			return true;
		for (; *a && !strchr(" \t\r\f\n#;{}\"", *a); a++)
			if (a[0] == '.' && a[1] == '.')
				return true;
	}
	return false;
}

static void fuzz_check(const struct conf *c)
{
	for (size_t i = 0; i < c->n_exports; i++) {
		const struct conf_export *x = &c->exports[i];
		size_t pl;

		if (!x->bucket || !x->path || !x->state_dir || !x->meta_dir || !x->data_dir ||
		    !x->journal_path || !x->region || !x->prefix || !x->src_file)
			abort();
		if (x->state_dir[0] != '/' || x->meta_dir[0] != '/' || x->export_id == 0 ||
		    x->export_id > 65535)
			abort();
		pl = strlen(x->prefix);
		if (pl && (x->prefix[0] == '/' || x->prefix[pl - 1] != '/' || strstr(x->prefix, "//")))
			abort();
		if (x->part_size < (5u << 20) || x->commit_interval < 1 || x->max_connections < 1)
			abort();
		if (x->endpoint && strncasecmp(x->endpoint, "http", 4) != 0)
			abort();
		if (conf_export_by_id(c, x->export_id) != x)
			abort();	/* ids are unique */
	}
	if (!c->daemon.log_level || !c->daemon.control_socket || !c->ganesha.principal_name)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], small[24];
	struct conf *c = NULL;
	char *text;
	int rc;

	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';	/* an embedded NUL ends the text, as for a C string */
	if (fuzz_escapes(text)) {
		free(text);
		return 0;
	}

	memset(err, 'X', sizeof err);
	rc = conf_load_string(fuzz_name, text, &c, err, sizeof err);
	if (memchr(err, '\0', sizeof err) == NULL)
		abort();
	if (rc == 0) {
		if (!c || err[0] != '\0')
			abort();
		fuzz_check(c);
		conf_free(c);
	} else {
		if (c || (rc == S3F_E_CONFIG && err[0] == '\0'))
			abort();
		/* the same failure into a tiny buffer: cut, never overrun */
		memset(small, 'X', sizeof small);
		if (conf_load_string(fuzz_name, text, &c, small, 1 + size % (sizeof small - 1)) != rc)
			abort();
		if (memchr(small, '\0', 1 + size % (sizeof small - 1)) == NULL)
			abort();
	}
	free(text);
	return 0;
}
