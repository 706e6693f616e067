/* sync_fx.c — the daemon's unit-test fixture (sync_fx.h). */
#include "sync_fx.h"

#include "base/err.h"
#include "engine/fio.h"
#include "store/journal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void sync_fx_open(struct sync_fx *f, const char *settings)
{
	memset(f, 0, sizeof *f);
	check_export_open_mem(settings, &f->conf, &f->x);
	f->s3 = f->x->s3;
	sync_export_init(&f->se, &f->conf->exports[0]);
	f->se.x = f->x;
}

void sync_fx_close(struct sync_fx *f)
{
	export_ctx_close(f->x);
	sync_export_fini(&f->se);
	conf_free(f->conf);
}

static uint64_t sync_fx_create(struct sync_fx *f, uint64_t dir, const char *name,
			       enum meta_type type)
{
	struct ns_new nw = { .type = type, .mode = type == META_T_DIR ? 0755 : 0644 };
	struct meta_inode in;

	CHECK_OK(ns_create(f->x->ns, dir, name, strlen(name), &nw, &in, NULL));
	return in.ino;
}

void sync_fx_write(struct sync_fx *f, uint64_t ino, uint64_t off, const char *data)
{
	struct iovec iov = { (void *)data, strlen(data) };
	struct fio_write w = { .off = off, .iov = &iov, .iovcnt = 1 };
	size_t n = 0;

	CHECK_OK(fio_write(f->x, ino, &w, &n, NULL));
	CHECK_U64_EQ(n, iov.iov_len);
}

uint64_t sync_fx_file(struct sync_fx *f, uint64_t dir, const char *name, const char *data)
{
	uint64_t ino = sync_fx_create(f, dir, name, META_T_REG);

	sync_fx_write(f, ino, 0, data);
	return ino;
}

uint64_t sync_fx_dir(struct sync_fx *f, uint64_t dir, const char *name)
{
	return sync_fx_create(f, dir, name, META_T_DIR);
}

uint64_t sync_fx_lookup(struct sync_fx *f, uint64_t dir, const char *name)
{
	struct meta_inode in;
	int rc = ns_lookup(f->x->ns, dir, name, strlen(name), &in);

	if (rc == ENOENT)
		return 0;
	CHECK_OK(rc);
	return in.ino;
}

static int sync_fx_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *sync_fx_names(struct sync_fx *f, uint64_t dir)
{
	struct ns_dirent *ents = calloc(64, sizeof *ents);
	char *names[64], *out;
	size_t n = 0, len = 1;
	bool eof = false;

	CHECK(ents != NULL);
	CHECK_OK(ns_readdir(f->x->ns, dir, 0, ents, 64, &n, &eof));
	CHECK(eof);
	for (size_t i = 0; i < n; i++) {
		names[i] = ents[i].name;
		len += ents[i].name_len + 1;
	}
	qsort(names, n, sizeof *names, sync_fx_name_cmp);
	out = calloc(1, len);
	CHECK(out != NULL);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(out, " ");
		strcat(out, names[i]);
	}
	free(ents);
	return out;
}

struct meta_inode sync_fx_stat(struct sync_fx *f, uint64_t ino)
{
	struct meta_inode in;

	CHECK_OK(ns_getattr(f->x->ns, ino, &in));
	return in;
}

char *sync_fx_read(struct sync_fx *f, uint64_t ino)
{
	struct meta_inode in;
	char *buf;
	struct iovec iov;
	size_t got = 0;
	bool eof = false;

	/* the size a client sees: writes whose record is still deferred included (fio.h) */
	CHECK_OK(fio_getattr(f->x, ino, &in));
	buf = calloc(1, in.size + 1);
	iov = (struct iovec){ buf, in.size };

	CHECK(buf != NULL);
	CHECK_OK(fio_read(f->x, ino, 0, &iov, 1, &got, &eof));
	CHECK_U64_EQ(got, in.size);
	return buf;
}

void sync_fx_check_read(struct sync_fx *f, uint64_t ino, const char *data)
{
	char *body = sync_fx_read(f, ino);

	CHECK_STR_EQ(body, data);
	free(body);
}

int sync_fx_commit(struct sync_fx *f, struct sync_result *res)
{
	int rc;

	pthread_mutex_lock(&f->se.commit_lock);
	rc = sync_commit_pass(&f->se, 0, 0, res);
	pthread_mutex_unlock(&f->se.commit_lock);
	return rc;
}

int sync_fx_delete(struct sync_fx *f, struct sync_result *res)
{
	int rc;

	pthread_mutex_lock(&f->se.commit_lock);
	rc = sync_delete_pass(&f->se, 0, res);
	pthread_mutex_unlock(&f->se.commit_lock);
	return rc;
}

int sync_fx_poll(struct sync_fx *f)
{
	int rc;

	pthread_mutex_lock(&f->se.import_lock);
	rc = sync_poll_pass(&f->se);
	pthread_mutex_unlock(&f->se.import_lock);
	return rc;
}

char *sync_fx_object(struct sync_fx *f, const char *key, struct s3_object_info *info)
{
	struct s3_buf b = { 0 };
	char *s;
	int rc = s3_object_get_buf(f->s3, key, 0, UINT64_MAX, &b, NULL, info);

	if (rc == ENOENT)
		return NULL;
	CHECK_OK(rc);
	s = malloc(b.len + 1);
	CHECK(s != NULL);
	if (b.len)
		memcpy(s, b.data, b.len);
	s[b.len] = '\0';
	free(b.data);
	return s;
}

bool sync_fx_exists(struct sync_fx *f, const char *key)
{
	struct s3_object_info info;
	int rc = s3_object_head(f->s3, key, &info);

	if (rc != ENOENT)
		CHECK_OK(rc);
	return rc == 0;
}

void sync_fx_put(struct sync_fx *f, const char *key, const char *data)
{
	CHECK_OK(s3_object_put_buf(f->s3, key, data, strlen(data), NULL, NULL));
}

unsigned sync_fx_events(struct sync_fx *f, const char *kind)
{
	uint64_t n = 0;
	int rc = journal_count(f->conf->exports[0].journal_path, kind, &n);

	if (rc != ENOENT)
		CHECK_OK(rc);
	return (unsigned)n;
}
