/*
 * s3_mem.c — the in-memory S3 double (s3_mem.h): one bucket, exact conditions, a log of
 * calls, scripted faults and holds.
 *
 * Every operation has the same shape: read the caller's input (fd bodies included)
 * without the lock, then under m->mu "arrive" (hold, scripted fault), act on the bucket,
 * record; fd sinks are written after the lock is dropped. The bucket is a sorted array:
 * tests hold thousands of objects at most, and a sorted array is what LIST walks.
 */
#include "s3/s3_int.h"
#include "s3/s3_mem.h"
#include "base/err.h"
#include "base/hex.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MEM_MIN_PART (5ull << 20)	/* S3's smallest part but the last (EntityTooSmall) */
#define MEM_MAX_PARTS 10000
#define MEM_LIST_MAX 1000

struct mem_obj {
	char *key;
	unsigned char *data;
	size_t size;
	char etag[S3_ETAG_MAX];
	int64_t mtime;
	char content_type[128];
	unsigned n_meta;
	struct s3_meta_pair meta[S3_META_MAX];
};

struct mem_part {
	unsigned number;
	unsigned char *data;
	size_t size;
	unsigned char md5[16];
	char etag[S3_ETAG_MAX];
};

struct mem_upload {
	char *key;
	char id[S3_UPLOAD_ID_MAX];
	int64_t initiated;
	char content_type[128];
	unsigned n_meta;
	struct s3_meta_pair meta[S3_META_MAX];
	struct mem_part *parts;		/* sorted by number */
	size_t n_parts;
};

struct mem_rec {
	enum s3_op op;
	char *key;
	int rc;
};

struct mem_rule {
	enum s3_op op;
	char *key;			/* NULL: any */
	unsigned left;
	int err;
};

struct mem {
	pthread_mutex_t mu;		/* everything below */
	pthread_cond_t cv;		/* hold state changed */
	struct mem_obj *objs;		/* sorted by key, bytewise */
	size_t n_objs, cap_objs;
	struct mem_upload *ups;
	size_t n_ups;
	uint64_t next_upload;
	struct mem_rec *log;
	size_t n_log, cap_log;
	struct mem_rule *rules;
	size_t n_rules;
	struct {
		bool armed, arrived, released;
		enum s3_op op;
		char *key;
	} hold;
	struct s3_caps caps;
	uint64_t part_size, threshold;
};

static struct mem *mem_of(struct s3_client *c)
{
	return c->impl;
}

static bool key_ok(const char *key)
{
	size_t n = key ? strlen(key) : 0;

	return n > 0 && n <= S3_KEY_MAX;
}

static int64_t mem_now(void)
{
	return (int64_t)time(NULL);
}

static void md5_of(const void *data, size_t len, unsigned char out[16])
{
	unsigned int n = 16;

	(void)EVP_Digest(data, len, out, &n, EVP_md5(), NULL);
}

static void etag_of(const void *data, size_t len, char out[S3_ETAG_MAX])
{
	unsigned char md[16];

	md5_of(data, len, md);
	hex_encode(md, sizeof md, out);
}

/* The multipart rule: MD5 of the parts' binary MD5s, then "-<parts>". */
static void etag_multipart(const unsigned char (*md5)[16], size_t n, char out[S3_ETAG_MAX])
{
	unsigned char md[16];
	size_t len;

	md5_of(md5, n * 16, md);
	hex_encode(md, sizeof md, out);
	len = strlen(out);
	snprintf(out + len, S3_ETAG_MAX - len, "-%zu", n);
}

/* ---- the log, faults and holds (under mu) ---- */

static void mem_record(struct mem *m, enum s3_op op, const char *key, int rc)
{
	if (m->n_log == m->cap_log) {
		size_t cap = m->cap_log ? m->cap_log * 2 : 256;
		struct mem_rec *p = realloc(m->log, cap * sizeof *p);

		if (!p)
			return;		/* a test that reads the log then sees a call missing */
		m->log = p;
		m->cap_log = cap;
	}
	m->log[m->n_log].op = op;
	m->log[m->n_log].key = strdup(key ? key : "");
	m->log[m->n_log].rc = rc;
	if (m->log[m->n_log].key)
		m->n_log++;
}

static bool key_match(const char *want, const char *key)
{
	return !want || strcmp(want, key ? key : "") == 0;
}

/* The request reaches the server: a hold armed for it stops it here (mu is released while
 * it waits), then a scripted fault may fail it. 0 or the scripted error. */
static int mem_arrive(struct mem *m, enum s3_op op, const char *key)
{
	if (m->hold.armed && !m->hold.arrived && m->hold.op == op && key_match(m->hold.key, key)) {
		m->hold.arrived = true;
		pthread_cond_broadcast(&m->cv);
		while (!m->hold.released)
			pthread_cond_wait(&m->cv, &m->mu);
		free(m->hold.key);
		memset(&m->hold, 0, sizeof m->hold);
		pthread_cond_broadcast(&m->cv);
	}
	for (size_t i = 0; i < m->n_rules; i++) {
		struct mem_rule *r = &m->rules[i];

		if (r->left && r->op == op && key_match(r->key, key)) {
			r->left--;
			return r->err;
		}
	}
	return 0;
}

/* ---- the bucket (under mu) ---- */

/* Index of key, or where it would go (*found false). */
static size_t obj_find(struct mem *m, const char *key, bool *found)
{
	size_t lo = 0, hi = m->n_objs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = strcmp(m->objs[mid].key, key);

		if (d == 0) {
			*found = true;
			return mid;
		}
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static struct mem_obj *obj_get(struct mem *m, const char *key)
{
	bool found;
	size_t i = obj_find(m, key, &found);

	return found ? &m->objs[i] : NULL;
}

static void obj_free(struct mem_obj *o)
{
	free(o->key);
	free(o->data);
}

static void obj_info(const struct mem_obj *o, struct s3_object_info *info)
{
	if (!info)
		return;
	memset(info, 0, sizeof *info);
	snprintf(info->etag, sizeof info->etag, "%s", o->etag);
	info->size = o->size;
	info->last_modified = o->mtime;
	snprintf(info->content_type, sizeof info->content_type, "%s", o->content_type);
	info->n_meta = o->n_meta;
	memcpy(info->meta, o->meta, sizeof o->meta);
}

/* Content type and metadata of a write; opts NULL: the defaults. */
static void obj_attrs(const struct s3_put_opts *opts, char ct[128], unsigned *n_meta,
		      struct s3_meta_pair meta[S3_META_MAX])
{
	snprintf(ct, 128, "%s", opts && opts->content_type ? opts->content_type :
		 "application/octet-stream");
	*n_meta = 0;
	for (unsigned i = 0; opts && i < opts->n_meta && i < S3_META_MAX; i++)
		meta[(*n_meta)++] = opts->meta[i];
}

/* Does the object (NULL: none) satisfy cond as a write condition? */
static int cond_write(const struct mem_obj *o, const struct s3_cond *cond)
{
	char et[S3_ETAG_MAX];

	if (!cond)
		return 0;
	if (cond->if_none_match_any && o)
		return S3F_E_S3_PRECOND;
	if (cond->if_match) {
		if (!o || !s3_etag_copy(et, sizeof et, cond->if_match, strlen(cond->if_match)))
			return S3F_E_S3_PRECOND;
		if (strcasecmp(et, o->etag) != 0)
			return S3F_E_S3_PRECOND;
	}
	return 0;
}

/* Store (key, data) — data becomes the bucket's — with the attributes given; a copy of
 * the resulting object's info in out. */
static int obj_store(struct mem *m, const char *key, unsigned char *data, size_t size,
		     const char *etag, const char *ct, unsigned n_meta,
		     const struct s3_meta_pair *meta, struct s3_object_info *out)
{
	bool found;
	size_t i = obj_find(m, key, &found);
	struct mem_obj *o;

	if (!found) {
		char *k = strdup(key);

		if (!k)
			return ENOMEM;
		if (m->n_objs == m->cap_objs) {
			size_t cap = m->cap_objs ? m->cap_objs * 2 : 64;
			struct mem_obj *p = realloc(m->objs, cap * sizeof *p);

			if (!p) {
				free(k);
				return ENOMEM;
			}
			m->objs = p;
			m->cap_objs = cap;
		}
		memmove(&m->objs[i + 1], &m->objs[i], (m->n_objs - i) * sizeof *m->objs);
		m->n_objs++;
		o = &m->objs[i];
		memset(o, 0, sizeof *o);
		o->key = k;
	} else {
		o = &m->objs[i];
		free(o->data);
	}
	o->data = data;
	o->size = size;
	snprintf(o->etag, sizeof o->etag, "%s", etag);
	o->mtime = mem_now();
	snprintf(o->content_type, sizeof o->content_type, "%s", ct);
	o->n_meta = n_meta;
	memcpy(o->meta, meta, n_meta * sizeof *meta);
	obj_info(o, out);
	return 0;
}

static void obj_remove(struct mem *m, const char *key)
{
	bool found;
	size_t i = obj_find(m, key, &found);

	if (!found)
		return;
	obj_free(&m->objs[i]);
	memmove(&m->objs[i], &m->objs[i + 1], (m->n_objs - i - 1) * sizeof *m->objs);
	m->n_objs--;
}

/* ---- reads ---- */

/* Copy [off, off+len) of key (pinned by cond) to a heap buffer: the caller writes it out
 * after the lock. */
static int mem_read(struct s3_client *c, const char *key, uint64_t off, uint64_t len,
		    const struct s3_cond *cond, unsigned char **data, size_t *n,
		    struct s3_object_info *info)
{
	struct mem *m = mem_of(c);
	struct mem_obj *o;
	char et[S3_ETAG_MAX];
	int rc;

	*data = NULL;
	*n = 0;
	if (!key_ok(key))
		return EINVAL;
	pthread_mutex_lock(&m->mu);
	rc = mem_arrive(m, S3_OP_GET, key);
	if (rc)
		goto out;
	o = obj_get(m, key);
	if (!o) {
		rc = ENOENT;
		goto out;
	}
	if (cond && cond->if_match &&
	    (!s3_etag_copy(et, sizeof et, cond->if_match, strlen(cond->if_match)) ||
	     strcasecmp(et, o->etag) != 0)) {
		rc = S3F_E_S3_PRECOND;
		goto out;
	}
	if (off < o->size) {
		uint64_t avail = o->size - off;

		*n = (size_t)(len < avail ? len : avail);
		*data = malloc(*n ? *n : 1);
		if (!*data) {
			*n = 0;
			rc = ENOMEM;
			goto out;
		}
		memcpy(*data, o->data + off, *n);
	}
	obj_info(o, info);
out:
	mem_record(m, S3_OP_GET, key, rc);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int pwrite_all(int fd, const unsigned char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int mem_get_fd(struct s3_client *c, const char *key, uint64_t off, uint64_t len, int fd,
		      uint64_t fd_off, const struct s3_cond *cond, uint64_t *got,
		      struct s3_object_info *info)
{
	unsigned char *data;
	size_t n;
	int rc;

	if (got)
		*got = 0;
	rc = mem_read(c, key, off, len, cond, &data, &n, info);
	if (rc == 0)
		rc = pwrite_all(fd, data, n, fd_off);
	if (rc == 0 && got)
		*got = n;
	free(data);
	return rc;
}

static int mem_get_buf(struct s3_client *c, const char *key, uint64_t off, uint64_t len,
		       struct s3_buf *buf, const struct s3_cond *cond, struct s3_object_info *info)
{
	unsigned char *data;
	size_t n;
	int rc;

	buf->len = 0;
	rc = mem_read(c, key, off, len, cond, &data, &n, info);
	if (rc == 0 && n > buf->cap) {
		void *p;

		if (buf->fixed) {
			rc = EOVERFLOW;
		} else if (!(p = realloc(buf->data, n))) {
			rc = ENOMEM;
		} else {
			buf->data = p;
			buf->cap = n;
		}
	}
	if (rc == 0 && n) {
		memcpy(buf->data, data, n);
		buf->len = n;
	}
	free(data);
	return rc;
}

/* One request reads the whole range: it cannot see two versions. */
static int mem_get_parallel(struct s3_client *c, const char *key, uint64_t off, uint64_t len,
			    int fd, uint64_t fd_off, uint64_t chunk, unsigned streams,
			    const struct s3_cond *cond, struct s3_object_info *info)
{
	(void)chunk;
	(void)streams;
	return mem_get_fd(c, key, off, len, fd, fd_off, cond, NULL, info);
}

static int mem_head(struct s3_client *c, const char *key, struct s3_object_info *info)
{
	struct mem *m = mem_of(c);
	struct mem_obj *o;
	int rc;

	if (!key_ok(key))
		return EINVAL;
	pthread_mutex_lock(&m->mu);
	rc = mem_arrive(m, S3_OP_HEAD, key);
	if (rc == 0) {
		o = obj_get(m, key);
		if (o)
			obj_info(o, info);
		else
			rc = ENOENT;
	}
	mem_record(m, S3_OP_HEAD, key, rc);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* ---- single PUT ---- */

/* PUT data (a heap copy the bucket takes, freed here on failure). */
static int mem_put(struct s3_client *c, const char *key, unsigned char *data, size_t len,
		   const struct s3_put_opts *opts, struct s3_object_info *out)
{
	struct mem *m = mem_of(c);
	struct s3_meta_pair meta[S3_META_MAX];
	char etag[S3_ETAG_MAX], ct[128];
	unsigned n_meta;
	int rc = 0;

	etag_of(data, len, etag);
	if (opts && opts->etag_hook)
		rc = opts->etag_hook(opts->etag_hook_arg, key, etag);
	if (rc) {
		free(data);
		return rc;
	}
	obj_attrs(opts, ct, &n_meta, meta);
	pthread_mutex_lock(&m->mu);
	rc = mem_arrive(m, S3_OP_PUT, key);
	if (rc == 0)
		rc = cond_write(obj_get(m, key), opts ? &opts->cond : NULL);
	if (rc == 0)
		rc = obj_store(m, key, data, len, etag, ct, n_meta, meta, out);
	mem_record(m, S3_OP_PUT, key, rc);
	pthread_mutex_unlock(&m->mu);
	if (rc)
		free(data);
	return rc;
}

static int mem_put_buf(struct s3_client *c, const char *key, const void *data, size_t len,
		       const struct s3_put_opts *opts, struct s3_object_info *out)
{
	unsigned char *copy;

	if (!key_ok(key) || (!data && len))
		return EINVAL;
	copy = malloc(len ? len : 1);
	if (!copy)
		return ENOMEM;
	if (len)
		memcpy(copy, data, len);
	return mem_put(c, key, copy, len, opts, out);
}

/* Read fd [off, off+len) into a heap buffer: the bytes as they are now. */
static int read_fd(int fd, uint64_t off, uint64_t len, unsigned char **out)
{
	unsigned char *p;
	size_t done = 0;

	*out = NULL;
	if (len > SIZE_MAX - 1)
		return EFBIG;
	p = malloc(len ? (size_t)len : 1);
	if (!p)
		return ENOMEM;
	while (done < len) {
		ssize_t r = pread(fd, p + done, (size_t)len - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;	/* the file is shorter than len */

			free(p);
			return e;
		}
		done += (size_t)r;
	}
	*out = p;
	return 0;
}

/* ---- multipart ---- */

static struct mem_upload *upload_get(struct mem *m, const char *key, const char *id)
{
	for (size_t i = 0; i < m->n_ups; i++)
		if (strcmp(m->ups[i].id, id) == 0 && strcmp(m->ups[i].key, key) == 0)
			return &m->ups[i];
	return NULL;
}

static void upload_remove(struct mem *m, struct mem_upload *u)
{
	for (size_t i = 0; i < u->n_parts; i++)
		free(u->parts[i].data);
	free(u->parts);
	free(u->key);
	*u = m->ups[--m->n_ups];
}

static int mem_mpu_create(struct s3_client *c, const char *key, const struct s3_put_opts *opts,
			  char upload_id[S3_UPLOAD_ID_MAX])
{
	struct mem *m = mem_of(c);
	struct mem_upload *u;
	int rc;

	if (!key_ok(key))
		return EINVAL;
	pthread_mutex_lock(&m->mu);
	rc = mem_arrive(m, S3_OP_MPU_CREATE, key);
	if (rc == 0) {
		u = realloc(m->ups, (m->n_ups + 1) * sizeof *u);
		if (u)
			m->ups = u;
		rc = u ? 0 : ENOMEM;
	}
	if (rc == 0) {
		u = &m->ups[m->n_ups];
		memset(u, 0, sizeof *u);
		u->key = strdup(key);
		rc = u->key ? 0 : ENOMEM;
	}
	if (rc == 0) {
		snprintf(u->id, sizeof u->id, "mem-upload-%llu",
			 (unsigned long long)++m->next_upload);
		u->initiated = mem_now();
		obj_attrs(opts, u->content_type, &u->n_meta, u->meta);
		m->n_ups++;
		snprintf(upload_id, S3_UPLOAD_ID_MAX, "%s", u->id);
	}
	mem_record(m, S3_OP_MPU_CREATE, key, rc);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int mem_mpu_part_fd(struct s3_client *c, const char *key, const char *upload_id,
			   unsigned number, int fd, uint64_t off, uint64_t len, struct s3_part *out)
{
	struct mem *m = mem_of(c);
	struct mem_upload *u;
	struct mem_part p = { .number = number, .size = (size_t)len };
	size_t i;
	int rc;

	if (!key_ok(key) || !upload_id || number < 1 || number > MEM_MAX_PARTS)
		return EINVAL;
	rc = read_fd(fd, off, len, &p.data);
	if (rc)
		return rc;
	md5_of(p.data, p.size, p.md5);
	hex_encode(p.md5, sizeof p.md5, p.etag);
	pthread_mutex_lock(&m->mu);
	rc = mem_arrive(m, S3_OP_MPU_PART, key);
	u = rc ? NULL : upload_get(m, key, upload_id);
	if (rc == 0 && !u)
		rc = S3F_E_S3_NOUPLOAD;
	for (i = 0; u && i < u->n_parts && u->parts[i].number < number; i++)
		;
	if (u && i < u->n_parts && u->parts[i].number == number) {
		free(u->parts[i].data);
		u->parts[i] = p;
		p.data = NULL;
	} else if (u) {
		struct mem_part *np = realloc(u->parts, (u->n_parts + 1) * sizeof *np);

		if (!np) {
			rc = ENOMEM;
		} else {
			u->parts = np;
			memmove(&np[i + 1], &np[i], (u->n_parts - i) * sizeof *np);
			np[i] = p;
			u->n_parts++;
			p.data = NULL;
		}
	}
	if (rc == 0 && out) {
		out->number = number;
		out->size = len;
		snprintf(out->etag, sizeof out->etag, "%s", p.etag);
	}
	mem_record(m, S3_OP_MPU_PART, key, rc);
	pthread_mutex_unlock(&m->mu);
	free(p.data);
	return rc;
}

/* The parts named, in ascending order, each uploaded with that ETag, all but the last at
 * least MEM_MIN_PART: the object's bytes and ETag. Under mu. */
static int upload_assemble(const struct mem_upload *u, const struct s3_part *parts, size_t n,
			   unsigned char **data, size_t *size, char etag[S3_ETAG_MAX])
{
	unsigned char (*md5)[16];
	const struct mem_part **use;
	size_t total = 0, at = 0;
	int rc = 0;

	if (n == 0 || n > MEM_MAX_PARTS)
		return S3F_E_S3_CLIENT;
	md5 = calloc(n, sizeof *md5);
	use = calloc(n, sizeof *use);
	if (!md5 || !use) {
		rc = ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		char et[S3_ETAG_MAX];

		if (i && parts[i].number <= parts[i - 1].number) {
			rc = S3F_E_S3_CLIENT;	/* InvalidPartOrder */
			break;
		}
		for (size_t j = 0; j < u->n_parts; j++)
			if (u->parts[j].number == parts[i].number)
				use[i] = &u->parts[j];
		if (!use[i] || !s3_etag_copy(et, sizeof et, parts[i].etag, strlen(parts[i].etag)) ||
		    strcasecmp(et, use[i]->etag) != 0)
			rc = S3F_E_S3_CLIENT;	/* InvalidPart */
		else if (i + 1 < n && use[i]->size < MEM_MIN_PART)
			rc = S3F_E_S3_CLIENT;	/* EntityTooSmall */
		else
			total += use[i]->size;
	}
	if (rc)
		goto out;
	*data = malloc(total ? total : 1);
	if (!*data) {
		rc = ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(*data + at, use[i]->data, use[i]->size);
		at += use[i]->size;
		memcpy(md5[i], use[i]->md5, 16);
	}
	*size = total;
	etag_multipart((const unsigned char (*)[16])md5, n, etag);
out:
	free(md5);
	free(use);
	return rc;
}

static int mem_mpu_complete(struct s3_client *c, const char *key, const char *upload_id,
			    const struct s3_part *parts, size_t n, const struct s3_cond *cond,
			    struct s3_object_info *out)
{
	struct mem *m = mem_of(c);
	struct mem_upload *u;
	unsigned char *data = NULL;
	char etag[S3_ETAG_MAX];
	size_t size = 0;
	int rc;

	if (!key_ok(key) || !upload_id || (n && !parts))
		return EINVAL;
	pthread_mutex_lock(&m->mu);
	rc = mem_arrive(m, S3_OP_MPU_COMPLETE, key);
	u = rc ? NULL : upload_get(m, key, upload_id);
	if (rc == 0 && !u)
		rc = S3F_E_S3_NOUPLOAD;
	if (rc == 0)
		rc = cond_write(obj_get(m, key), cond);
	if (rc == 0)
		rc = upload_assemble(u, parts, n, &data, &size, etag);
	if (rc == 0)
		rc = obj_store(m, key, data, size, etag, u->content_type, u->n_meta, u->meta, out);
	if (rc == 0)
		upload_remove(m, u);
	else
		free(data);
	mem_record(m, S3_OP_MPU_COMPLETE, key, rc);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int mem_mpu_abort(struct s3_client *c, const char *key, const char *upload_id)
{
	struct mem *m = mem_of(c);
	struct mem_upload *u;
	int rc;

	if (!key_ok(key) || !upload_id)
		return EINVAL;
	pthread_mutex_lock(&m->mu);
	rc = mem_arrive(m, S3_OP_MPU_ABORT, key);
	u = rc ? NULL : upload_get(m, key, upload_id);
	if (rc == 0 && !u)
		rc = S3F_E_S3_NOUPLOAD;
	if (u)
		upload_remove(m, u);
	mem_record(m, S3_OP_MPU_ABORT, key, rc);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int upload_cmp(const void *a, const void *b)
{
	const struct s3_upload *x = a, *y = b;
	int d = strcmp(x->key, y->key);

	return d ? d : strcmp(x->upload_id, y->upload_id);
}

static int mem_mpu_list(struct s3_client *c, const char *prefix, struct s3_upload **out,
			size_t *n)
{
	struct mem *m = mem_of(c);
	size_t plen = prefix ? strlen(prefix) : 0, k = 0;
	struct s3_upload *v = NULL;
	int rc;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&m->mu);
	rc = mem_arrive(m, S3_OP_MPU_LIST, prefix);
	if (rc == 0 && m->n_ups) {
		v = calloc(m->n_ups, sizeof *v);
		rc = v ? 0 : ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < m->n_ups; i++) {
		if (plen && strncmp(m->ups[i].key, prefix, plen) != 0)
			continue;
		v[k].key = strdup(m->ups[i].key);
		if (!v[k].key) {
			rc = ENOMEM;
			break;
		}
		snprintf(v[k].upload_id, sizeof v[k].upload_id, "%s", m->ups[i].id);
		v[k].initiated = m->ups[i].initiated;
		k++;
	}
	mem_record(m, S3_OP_MPU_LIST, prefix, rc);
	pthread_mutex_unlock(&m->mu);
	if (rc) {
		s3_uploads_free(v, k);
		return rc;
	}
	if (k)
		qsort(v, k, sizeof *v, upload_cmp);
	*out = v;
	*n = k;
	return 0;
}

static void upload_hook_gone(const struct s3_put_opts *opts, const char *key, const char *id)
{
	if (opts && opts->upload_hook)
		(void)opts->upload_hook(opts->upload_hook_arg, S3_UPLOAD_GONE, key, id);
}

/* s3_object_put_fd at/above the threshold: the primitives, in the order and with the
 * hooks of the libcurl client (one part at a time: nothing here is slow). */
static int mem_put_multipart(struct s3_client *c, const char *key, int fd, uint64_t off,
			     uint64_t len, const struct s3_put_opts *opts,
			     struct s3_object_info *out)
{
	struct mem *m = mem_of(c);
	char upload_id[S3_UPLOAD_ID_MAX], etag[S3_ETAG_MAX];
	uint64_t part = m->part_size;
	unsigned n_parts;
	struct s3_part *parts;
	unsigned char (*md5)[16];
	int rc, rc2;

	while ((len + part - 1) / part > MEM_MAX_PARTS)
		part *= 2;
	n_parts = (unsigned)((len + part - 1) / part);
	parts = calloc(n_parts, sizeof *parts);
	md5 = calloc(n_parts, sizeof *md5);
	if (!parts || !md5) {
		rc = ENOMEM;
		goto out;
	}
	rc = s3_mpu_create(c, key, opts, upload_id);
	if (rc)
		goto out;
	if (opts && opts->upload_hook)
		rc = opts->upload_hook(opts->upload_hook_arg, S3_UPLOAD_STARTED, key, upload_id);
	for (unsigned i = 0; i < n_parts && rc == 0; i++) {
		uint64_t poff = (uint64_t)i * part, plen = len - poff < part ? len - poff : part;
		unsigned char hex[16];
		size_t k;

		rc = s3_mpu_part_fd(c, key, upload_id, i + 1, fd, off + poff, plen, &parts[i]);
		/* the part's MD5 back from its hex ETag, for the object's ETag */
		for (k = 0; rc == 0 && k < 16; k++) {
			unsigned v;

			if (sscanf(parts[i].etag + 2 * k, "%2x", &v) != 1)
				rc = S3F_E_S3_PROTO;
			hex[k] = (unsigned char)v;
		}
		if (rc == 0)
			memcpy(md5[i], hex, 16);
	}
	if (rc == 0 && opts && opts->etag_hook) {
		etag_multipart((const unsigned char (*)[16])md5, n_parts, etag);
		rc = opts->etag_hook(opts->etag_hook_arg, key, etag);
	}
	if (rc == 0)
		rc = s3_mpu_complete(c, key, upload_id, parts, n_parts, opts ? &opts->cond : NULL,
				     out);
	rc2 = rc ? s3_mpu_abort(c, key, upload_id) : 0;
	if (rc2 == 0 || rc2 == S3F_E_S3_NOUPLOAD)
		upload_hook_gone(opts, key, upload_id);
out:
	free(parts);
	free(md5);
	return rc;
}

static int mem_put_fd(struct s3_client *c, const char *key, int fd, uint64_t off, uint64_t len,
		      const struct s3_put_opts *opts, struct s3_object_info *out)
{
	unsigned char *data;
	int rc;

	if (fd < 0)
		return EBADF;
	if (!key_ok(key))
		return EINVAL;
	if (len >= mem_of(c)->threshold)
		return mem_put_multipart(c, key, fd, off, len, opts, out);
	rc = read_fd(fd, off, len, &data);
	if (rc)
		return rc;
	return mem_put(c, key, data, (size_t)len, opts, out);
}

/* ---- deletes ---- */

static int mem_delete(struct s3_client *c, const char *key)
{
	struct mem *m = mem_of(c);
	int rc;

	if (!key_ok(key))
		return EINVAL;
	pthread_mutex_lock(&m->mu);
	rc = mem_arrive(m, S3_OP_DELETE, key);
	if (rc == 0)
		obj_remove(m, key);
	mem_record(m, S3_OP_DELETE, key, rc);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int mem_delete_if(struct s3_client *c, const char *key, const char *etag,
			 struct s3_object_info *cur)
{
	struct mem *m = mem_of(c);
	struct mem_obj *o;
	char et[S3_ETAG_MAX];
	int rc;

	if (cur)
		memset(cur, 0, sizeof *cur);
	if (!key_ok(key) || !etag || !s3_etag_copy(et, sizeof et, etag, strlen(etag)) || !et[0])
		return EINVAL;
	pthread_mutex_lock(&m->mu);
	rc = mem_arrive(m, S3_OP_DELETE, key);
	o = rc ? NULL : obj_get(m, key);
	if (rc == 0 && !o) {
		rc = ENOENT;
	} else if (o && strcasecmp(et, o->etag) != 0) {
		obj_info(o, cur);
		rc = S3F_E_S3_PRECOND;
	} else if (o) {
		obj_remove(m, key);
	}
	mem_record(m, S3_OP_DELETE, key, rc);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int mem_objects_delete(struct s3_client *c, const char *const *keys, size_t n,
			      int *results)
{
	int first = 0;

	for (size_t i = 0; i < n; i++) {
		results[i] = mem_delete(c, keys[i]);
		if (results[i] && !first)
			first = results[i];
	}
	return first;
}

static int mem_objects_delete_if(struct s3_client *c, const char *const *keys,
				 const char *const *etags, size_t n, int *results)
{
	int first = 0;

	for (size_t i = 0; i < n; i++) {
		results[i] = mem_delete_if(c, keys[i], etags[i], NULL);
		if (results[i] && results[i] != ENOENT && results[i] != S3F_E_S3_PRECOND && !first)
			first = results[i];
	}
	return first;
}

/* One DELETE per key already. */
static void mem_single_deletes_set(struct s3_client *c, bool on)
{
	(void)c;
	(void)on;
}

/* ---- copy ---- */

static int mem_copy_if(struct s3_client *c, const char *src_key, const char *dst_key,
		       const struct s3_put_opts *opts, const struct s3_cond *src_cond,
		       const struct s3_cond *dst_cond, struct s3_object_info *out)
{
	struct mem *m = mem_of(c);
	struct s3_meta_pair meta[S3_META_MAX];
	struct mem_obj *src;
	unsigned char *data = NULL;
	char ct[128];
	unsigned n_meta;
	int rc;

	if (!key_ok(src_key) || !key_ok(dst_key))
		return EINVAL;
	pthread_mutex_lock(&m->mu);
	rc = mem_arrive(m, S3_OP_COPY, src_key);
	src = rc ? NULL : obj_get(m, src_key);
	if (rc == 0 && !src)
		rc = ENOENT;
	if (rc == 0 && src_cond && src_cond->if_match)
		rc = cond_write(src, &(struct s3_cond){ .if_match = src_cond->if_match });
	if (rc == 0)
		rc = cond_write(obj_get(m, dst_key), dst_cond);
	if (rc == 0) {
		data = malloc(src->size ? src->size : 1);
		rc = data ? 0 : ENOMEM;
	}
	if (rc == 0) {
		char etag[S3_ETAG_MAX];

		memcpy(data, src->data, src->size);
		memcpy(etag, src->etag, sizeof etag);
		if (opts) {
			obj_attrs(opts, ct, &n_meta, meta);
		} else {
			memcpy(ct, src->content_type, sizeof ct);
			n_meta = src->n_meta;
			memcpy(meta, src->meta, sizeof meta);
		}
		/* src may move when dst is inserted: everything needed was copied above */
		rc = obj_store(m, dst_key, data, src->size, etag, ct, n_meta, meta, out);
		if (rc)
			free(data);
	}
	mem_record(m, S3_OP_COPY, src_key, rc);
	pthread_mutex_unlock(&m->mu);
	return rc;
}

/* ---- LIST ---- */

static int page_add_entry(struct s3_list_page *pg, const struct mem_obj *o)
{
	struct s3_list_entry *e = realloc(pg->entries, (pg->n_entries + 1) * sizeof *e);

	if (!e)
		return ENOMEM;
	pg->entries = e;
	e = &pg->entries[pg->n_entries];
	memset(e, 0, sizeof *e);
	e->key = strdup(o->key);
	if (!e->key)
		return ENOMEM;
	e->size = o->size;
	e->last_modified = o->mtime;
	snprintf(e->etag, sizeof e->etag, "%s", o->etag);
	pg->n_entries++;
	return 0;
}

static int page_add_prefix(struct s3_list_page *pg, const char *key, size_t len)
{
	char **p = realloc(pg->prefixes, (pg->n_prefixes + 1) * sizeof *p);

	if (!p)
		return ENOMEM;
	pg->prefixes = p;
	p[pg->n_prefixes] = strndup(key, len);
	if (!p[pg->n_prefixes])
		return ENOMEM;
	pg->n_prefixes++;
	return 0;
}

/* One page under mu. The listing starts after the greater of start_after and the token
 * (the last key the previous page covered: a common prefix covers all its keys). */
static int list_locked(struct mem *m, const struct s3_list_req *req, struct s3_list_page *pg)
{
	const char *prefix = req->prefix ? req->prefix : "";
	const char *dl = req->delimiter && *req->delimiter ? req->delimiter : NULL;
	const char *after = req->start_after;
	size_t plen = strlen(prefix), max = req->max_keys ? req->max_keys : MEM_LIST_MAX;
	size_t items = 0, i;
	const char *last = NULL;
	bool found;
	int rc = 0;

	if (max > MEM_LIST_MAX)
		max = MEM_LIST_MAX;
	if (req->continuation_token && (!after || strcmp(req->continuation_token, after) > 0))
		after = req->continuation_token;
	i = obj_find(m, after && strcmp(after, prefix) > 0 ? after : prefix, &found);
	if (found && after && strcmp(m->objs[i].key, after) == 0)
		i++;
	while (i < m->n_objs && rc == 0) {
		const struct mem_obj *o = &m->objs[i];
		const char *d;

		if (strncmp(o->key, prefix, plen) != 0)
			break;
		if (items == max) {
			pg->truncated = true;
			break;
		}
		d = dl ? strstr(o->key + plen, dl) : NULL;
		if (!d) {
			rc = page_add_entry(pg, o);
			last = o->key;
			i++;
		} else {
			size_t cp = (size_t)(d - o->key) + strlen(dl);

			rc = page_add_prefix(pg, o->key, cp);
			/* skip every key under this common prefix */
			while (i < m->n_objs && strncmp(m->objs[i].key, o->key, cp) == 0)
				last = m->objs[i++].key;
		}
		items++;
	}
	if (rc == 0 && pg->truncated) {
		pg->next_token = strdup(last);
		if (!pg->next_token)
			rc = ENOMEM;
	}
	return rc;
}

static int mem_list(struct s3_client *c, const struct s3_list_req *req,
		    struct s3_list_page *page)
{
	struct mem *m = mem_of(c);
	int rc;

	memset(page, 0, sizeof *page);
	pthread_mutex_lock(&m->mu);
	rc = mem_arrive(m, S3_OP_LIST, req->prefix);
	if (rc == 0)
		rc = list_locked(m, req, page);
	mem_record(m, S3_OP_LIST, req->prefix, rc);
	pthread_mutex_unlock(&m->mu);
	if (rc)
		s3_list_page_free(page);
	return rc;
}

/* ---- capabilities, and what the double refuses ---- */

static void mem_caps_get(struct s3_client *c, struct s3_caps *out)
{
	struct mem *m = mem_of(c);

	pthread_mutex_lock(&m->mu);
	*out = m->caps;
	pthread_mutex_unlock(&m->mu);
}

static void mem_caps_set(struct s3_client *c, const struct s3_caps *caps)
{
	struct mem *m = mem_of(c);

	pthread_mutex_lock(&m->mu);
	m->caps = *caps;
	pthread_mutex_unlock(&m->mu);
}

/* Every condition is checked by the bucket itself. */
static int mem_caps_probe(struct s3_client *c, const char *probe_key, struct s3_caps *out)
{
	struct s3_caps caps = {
		.if_match = S3_COND_NATIVE, .if_none_match = true, .complete_cond = true,
		.delete_if_match = S3_COND_NATIVE, .delete_multi_etag = true,
		.copy_if_match = S3_COPY_COND_STANDARD, .copy_if_none_match = true,
	};

	if (!key_ok(probe_key))
		return EINVAL;
	mem_caps_set(c, &caps);
	if (out)
		*out = caps;
	return 0;
}

static int mem_presign_get(struct s3_client *c, const char *key, unsigned expires_s, char **url)
{
	(void)c;
	(void)key;
	(void)expires_s;
	*url = NULL;
	return ENOTSUP;		/* no endpoint to point a URL at */
}

static int mem_fault_set(struct s3_client *c, const struct s3_fault_rule *rules, size_t n)
{
	(void)c;
	(void)rules;
	return n ? ENOTSUP : 0;	/* HTTP-level faults: see s3_mem_fail and s3_mem_hold */
}

static void mem_fault_fired(struct s3_client *c, unsigned *counts, size_t n)
{
	(void)c;
	memset(counts, 0, n * sizeof *counts);
}

/* ---- life ---- */

static void mem_close(struct s3_client *c)
{
	struct mem *m = mem_of(c);

	for (size_t i = 0; i < m->n_objs; i++)
		obj_free(&m->objs[i]);
	free(m->objs);
	while (m->n_ups)
		upload_remove(m, &m->ups[0]);
	free(m->ups);
	for (size_t i = 0; i < m->n_log; i++)
		free(m->log[i].key);
	free(m->log);
	for (size_t i = 0; i < m->n_rules; i++)
		free(m->rules[i].key);
	free(m->rules);
	free(m->hold.key);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
	free(c);
}

static const struct s3_ops s3_mem_ops = {
	.name = "mem",
	.close = mem_close,
	.get_fd = mem_get_fd,
	.get_buf = mem_get_buf,
	.get_parallel = mem_get_parallel,
	.head = mem_head,
	.put_buf = mem_put_buf,
	.put_fd = mem_put_fd,
	.del = mem_delete,
	.delete_if = mem_delete_if,
	.objects_delete = mem_objects_delete,
	.objects_delete_if = mem_objects_delete_if,
	.single_deletes_set = mem_single_deletes_set,
	.copy_if = mem_copy_if,
	.list = mem_list,
	.mpu_create = mem_mpu_create,
	.mpu_part_fd = mem_mpu_part_fd,
	.mpu_complete = mem_mpu_complete,
	.mpu_abort = mem_mpu_abort,
	.mpu_list = mem_mpu_list,
	.caps_probe = mem_caps_probe,
	.caps_get = mem_caps_get,
	.caps_set = mem_caps_set,
	.presign_get = mem_presign_get,
	.fault_set = mem_fault_set,
	.fault_fired = mem_fault_fired,
	/* batch_open NULL: s3_client.c runs each queued request at once */
};

int s3_client_open_mem(const struct s3_config *cfg, struct s3_client **out)
{
	struct s3_config d = { 0 };
	struct s3_client *c;
	struct mem *m;

	*out = NULL;
	if (cfg) {
		d.part_size = cfg->part_size;
		d.multipart_threshold = cfg->multipart_threshold;
	}
	s3_config_defaults(&d);
	c = calloc(1, sizeof *c);
	m = calloc(1, sizeof *m);
	if (!c || !m) {
		free(c);
		free(m);
		return ENOMEM;
	}
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	m->part_size = d.part_size < MEM_MIN_PART ? MEM_MIN_PART : d.part_size;
	m->threshold = d.multipart_threshold;
	c->ops = &s3_mem_ops;
	c->impl = m;
	*out = c;
	return 0;
}

bool s3_mem_is(const struct s3_client *c)
{
	return c && c->ops == &s3_mem_ops;
}

/* ---- recording, faults, holds ---- */

size_t s3_mem_calls(struct s3_client *c, size_t from, struct s3_mem_call *out, size_t max)
{
	struct mem *m = mem_of(c);
	size_t n = 0;

	pthread_mutex_lock(&m->mu);
	for (size_t i = from; i < m->n_log && n < max; i++, n++) {
		out[n].op = m->log[i].op;
		snprintf(out[n].key, sizeof out[n].key, "%s", m->log[i].key);
		out[n].rc = m->log[i].rc;
	}
	pthread_mutex_unlock(&m->mu);
	return n;
}

size_t s3_mem_count(struct s3_client *c, enum s3_op op, const char *key, int rc)
{
	struct mem *m = mem_of(c);
	size_t n = 0;

	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->n_log; i++)
		if (m->log[i].op == op && key_match(key, m->log[i].key) &&
		    (rc == S3_MEM_ANY_RC || rc == m->log[i].rc))
			n++;
	pthread_mutex_unlock(&m->mu);
	return n;
}

void s3_mem_log_clear(struct s3_client *c)
{
	struct mem *m = mem_of(c);

	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->n_log; i++)
		free(m->log[i].key);
	m->n_log = 0;
	pthread_mutex_unlock(&m->mu);
}

int s3_mem_fail(struct s3_client *c, enum s3_op op, const char *key, unsigned n, int err)
{
	struct mem *m = mem_of(c);
	struct mem_rule *r = NULL;
	int rc = 0;

	if (err == 0 || (unsigned)op >= S3_OP_COUNT)
		return EINVAL;
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < m->n_rules && !r; i++)
		if (m->rules[i].op == op && (key ? m->rules[i].key && !strcmp(m->rules[i].key, key) :
					     !m->rules[i].key))
			r = &m->rules[i];
	if (!r) {
		char *k = key ? strdup(key) : NULL;

		r = realloc(m->rules, (m->n_rules + 1) * sizeof *r);
		if (!r || (key && !k)) {
			if (r)
				m->rules = r;
			free(k);
			rc = ENOMEM;
			goto out;
		}
		m->rules = r;
		r = &m->rules[m->n_rules++];
		r->op = op;
		r->key = k;
	}
	r->left = n;
	r->err = err;
out:
	pthread_mutex_unlock(&m->mu);
	return rc;
}

int s3_mem_hold(struct s3_client *c, enum s3_op op, const char *key)
{
	struct mem *m = mem_of(c);
	int rc = 0;

	pthread_mutex_lock(&m->mu);
	if (m->hold.armed) {
		rc = EBUSY;
	} else if (key && !(m->hold.key = strdup(key))) {
		rc = ENOMEM;
	} else {
		m->hold.armed = true;
		m->hold.op = op;
	}
	pthread_mutex_unlock(&m->mu);
	return rc;
}

int s3_mem_hold_wait(struct s3_client *c, unsigned timeout_ms)
{
	struct mem *m = mem_of(c);
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&m->mu);
	while (m->hold.armed && !m->hold.arrived && rc == 0)
		rc = pthread_cond_timedwait(&m->cv, &m->mu, &ts);
	if (!(m->hold.armed && m->hold.arrived))
		rc = ETIMEDOUT;
	pthread_mutex_unlock(&m->mu);
	return rc;
}

void s3_mem_release(struct s3_client *c)
{
	struct mem *m = mem_of(c);

	pthread_mutex_lock(&m->mu);
	if (m->hold.arrived) {
		m->hold.released = true;
		pthread_cond_broadcast(&m->cv);
	} else {
		free(m->hold.key);
		memset(&m->hold, 0, sizeof m->hold);
	}
	pthread_mutex_unlock(&m->mu);
}
