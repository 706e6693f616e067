/*
 * ns.c — see ns.h.
 *
 * Every exported function is one transaction through meta_write/meta_read, with the
 * work in a *_txn function taking a context struct: meta_write may run it more than once
 * (after growing the map), so those functions only touch the transaction and their
 * output fields.
 */
#include "ns/ns.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "base/err.h"
#include "store/journal.h"
#include "base/log.h"

#define NS_LOSTFOUND "lost+found"

struct ns {
	struct meta_env *me;
	const struct keymap *km;
	struct journal *j;
	struct ns_defaults def;
};

int ns_open(struct meta_env *me, const struct keymap *km, struct journal *j,
	    const struct ns_defaults *defaults, struct ns **out)
{
	struct ns *ns = calloc(1, sizeof *ns);

	if (!ns)
		return ENOMEM;
	ns->me = me;
	ns->km = km;
	ns->j = j;
	if (defaults) {
		ns->def = *defaults;
	} else {
		ns->def.file_mode = 0644;
		ns->def.dir_mode = 0755;
	}
	*out = ns;
	return 0;
}

void ns_close(struct ns *ns)
{
	free(ns);
}

struct meta_env *ns_meta(struct ns *ns)
{
	return ns->me;
}

/* ---- cumulative counters in the info table (shared by every process of the store) ---- */

static int ns_counter_read(struct meta_txn *t, const char *name, uint64_t *v)
{
	size_t len = 0;
	int rc = meta_info_get(t, name, v, sizeof *v, &len);

	if (rc == ENOENT || (rc == 0 && len != sizeof *v)) {
		*v = 0;
		return 0;
	}
	return rc;
}

/* Add n to counter name inside the caller's write transaction. */
static int ns_counter_bump(struct meta_txn *t, const char *name, uint64_t n)
{
	uint64_t v;
	int rc = ns_counter_read(t, name, &v);

	if (rc)
		return rc;
	v += n;
	return meta_info_put(t, name, &v, sizeof v);
}

struct ns_counter_ctx {
	const char *name;
	uint64_t v;
};

static int ns_counter_add_txn(struct meta_txn *t, void *arg)
{
	struct ns_counter_ctx *c = arg;

	return ns_counter_bump(t, c->name, c->v);
}

static int ns_counter_get_txn(struct meta_txn *t, void *arg)
{
	struct ns_counter_ctx *c = arg;

	return ns_counter_read(t, c->name, &c->v);
}

static int ns_counter_add(struct ns *ns, const char *name, uint64_t n)
{
	struct ns_counter_ctx c = { name, n };

	return meta_write(ns->me, ns_counter_add_txn, &c);
}

static int ns_counter_get(struct ns *ns, const char *name, uint64_t *v)
{
	struct ns_counter_ctx c = { name, 0 };
	int rc = meta_read(ns->me, ns_counter_get_txn, &c);

	*v = c.v;
	return rc;
}

/* A file-side change to in: timestamps are the caller's, this marks it dirty. */
static void ns_mark_dirty(struct meta_inode *in, int64_t now)
{
	if (in->sync != META_S_CONFLICT)
		in->sync = META_S_DIRTY;
	in->dirty_since_ns = now;
	in->dirty_gen++;
}

static void ns_touch(struct meta_inode *in, int64_t now, bool mtime)
{
	if (mtime) {
		in->mtime_ns = now;
		in->flags &= ~(uint32_t)META_F_MTIME_S3;
	}
	in->ctime_ns = now;
	in->change++;
}

/* Seconds + nanoseconds from object metadata as ns, clamped to what int64 holds
 * (years 1678..2262): metadata from other tools may carry any number. */
static int64_t ns_time_ns(int64_t sec, uint32_t nsec)
{
	const int64_t lim = INT64_MAX / 1000000000LL - 1;

	if (sec > lim)
		return lim * 1000000000LL;
	if (sec < -lim)
		return -lim * 1000000000LL;
	return sec * 1000000000LL + (int64_t)(nsec % 1000000000U);
}

static bool ns_is_reserved(uint64_t dir, const char *name, size_t len)
{
	return dir == META_ROOT_INO && len == sizeof NS_LOSTFOUND - 1 &&
	       memcmp(name, NS_LOSTFOUND, len) == 0;
}

/* ---- reads ---- */

struct ns_get_ctx {
	uint64_t ino;
	uint64_t dir;
	const char *name;
	size_t len;
	struct meta_inode *out;
};

static int ns_getattr_txn(struct meta_txn *t, void *arg)
{
	struct ns_get_ctx *c = arg;

	return meta_inode_get(t, c->ino, c->out);
}

int ns_getattr(struct ns *ns, uint64_t ino, struct meta_inode *out)
{
	struct ns_get_ctx c = { .ino = ino, .out = out };

	return meta_read(ns->me, ns_getattr_txn, &c);
}

static int ns_lookup_txn(struct meta_txn *t, void *arg)
{
	struct ns_get_ctx *c = arg;
	struct meta_dirent de;
	int rc;

	rc = meta_inode_get(t, c->dir, c->out);
	if (rc)
		return rc == ENOENT ? ESTALE : rc;
	if (c->out->type != META_T_DIR)
		return ENOTDIR;
	if (c->len == 1 && c->name[0] == '.')
		return 0;
	if (c->len == 2 && c->name[0] == '.' && c->name[1] == '.')
		return meta_inode_get(t, c->out->parent, c->out);
	rc = meta_dirent_get(t, c->dir, c->name, c->len, &de);
	if (rc)
		return rc;
	return meta_inode_get(t, de.ino, c->out);
}

int ns_lookup(struct ns *ns, uint64_t dir, const char *name, size_t len, struct meta_inode *out)
{
	struct ns_get_ctx c = { .dir = dir, .name = name, .len = len, .out = out };

	if (len == 0 || len > META_NAME_MAX)
		return len ? ENAMETOOLONG : ENOENT;
	return meta_read(ns->me, ns_lookup_txn, &c);
}

struct ns_readlink_ctx {
	uint64_t ino;
	char *buf;
	size_t cap;
	size_t *len;
};

static int ns_readlink_txn(struct meta_txn *t, void *arg)
{
	struct ns_readlink_ctx *c = arg;
	struct meta_inode in;
	int rc;

	rc = meta_inode_get(t, c->ino, &in);
	if (rc)
		return rc;
	if (in.type != META_T_LNK)
		return EINVAL;
	return meta_symlink_get(t, c->ino, c->buf, c->cap, c->len);
}

int ns_readlink(struct ns *ns, uint64_t ino, char *buf, size_t cap, size_t *len)
{
	struct ns_readlink_ctx c = { ino, buf, cap, len };

	return meta_read(ns->me, ns_readlink_txn, &c);
}

struct ns_readdir_ctx {
	uint64_t dir, after;
	struct ns_dirent *out;
	size_t max, n;
	bool eof;
};

static int ns_readdir_cb(void *arg, const struct meta_dirent *de)
{
	struct ns_readdir_ctx *c = arg;
	struct ns_dirent *o;

	if (c->n == c->max) {
		c->eof = false;
		return 1;
	}
	o = &c->out[c->n++];
	o->ino = de->ino;
	o->cookie = de->cookie;
	o->type = de->type;
	o->name_len = (uint8_t)de->name_len;
	memcpy(o->name, de->name, de->name_len);
	o->name[de->name_len] = '\0';
	return 0;
}

static int ns_readdir_txn(struct meta_txn *t, void *arg)
{
	struct ns_readdir_ctx *c = arg;
	struct meta_inode in;
	int rc;

	rc = meta_inode_get(t, c->dir, &in);
	if (rc)
		return rc;
	if (in.type != META_T_DIR)
		return ENOTDIR;
	c->n = 0;
	c->eof = true;
	rc = meta_dir_iter(t, c->dir, c->after, ns_readdir_cb, c);
	return rc == 1 ? 0 : rc;
}

int ns_readdir(struct ns *ns, uint64_t dir, uint64_t after, struct ns_dirent *out, size_t max,
	       size_t *n, bool *eof)
{
	struct ns_readdir_ctx c = { .dir = dir, .after = after, .out = out, .max = max };
	int rc = meta_read(ns->me, ns_readdir_txn, &c);

	*n = c.n;
	*eof = c.eof;
	return rc;
}

/* ---- prefetch queue ---- */

struct ns_pf_ctx {
	const uint64_t *in;
	uint64_t *out;
	size_t n, max;
	bool add;
};

static int ns_pf_write_txn(struct meta_txn *t, void *arg)
{
	struct ns_pf_ctx *c = arg;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < c->n; i++)
		rc = c->add ? meta_prefetch_add(t, c->in[i]) : meta_prefetch_del(t, c->in[i]);
	return rc;
}

int ns_prefetch_add(struct ns *ns, const uint64_t *inos, size_t n)
{
	struct ns_pf_ctx c = { .in = inos, .n = n, .add = true };

	return n ? meta_write(ns->me, ns_pf_write_txn, &c) : 0;
}

int ns_prefetch_done(struct ns *ns, const uint64_t *inos, size_t n)
{
	struct ns_pf_ctx c = { .in = inos, .n = n, .add = false };

	return n ? meta_write(ns->me, ns_pf_write_txn, &c) : 0;
}

static int ns_pf_peek_cb(void *arg, uint64_t ino)
{
	struct ns_pf_ctx *c = arg;

	if (c->n == c->max)
		return 1;
	c->out[c->n++] = ino;
	return 0;
}

static int ns_pf_peek_txn(struct meta_txn *t, void *arg)
{
	int rc;

	((struct ns_pf_ctx *)arg)->n = 0;
	rc = meta_prefetch_iter(t, ns_pf_peek_cb, arg);
	return rc == 1 ? 0 : rc;
}

int ns_prefetch_peek(struct ns *ns, uint64_t *inos, size_t max, size_t *n)
{
	struct ns_pf_ctx c = { .out = inos, .max = max };
	int rc = meta_read(ns->me, ns_pf_peek_txn, &c);

	*n = c.n;
	return rc;
}

/* ---- paths and keys ---- */

int ns_path(struct ns *ns, struct meta_txn *t, uint64_t ino, char *buf, size_t cap,
	    const char **comp, size_t *len, size_t *n)
{
	struct meta_inode in;
	size_t depth = 0, used = 0;
	int rc;

	(void)ns;
	/* Walk up, storing names from the end of buf backwards. */
	while (ino != META_ROOT_INO) {
		rc = meta_inode_get(t, ino, &in);
		if (rc)
			return rc == ENOENT ? ESTALE : rc;
		if (depth == KEYMAP_DEPTH_MAX || used + in.name_len > cap)
			return ENAMETOOLONG;
		used += in.name_len;
		memcpy(buf + cap - used, in.name, in.name_len);
		comp[depth] = buf + cap - used;
		len[depth] = in.name_len;
		depth++;
		if (in.parent == ino)
			return S3F_E_META_CORRUPT;
		ino = in.parent;
	}
	/* Reverse into root-first order. */
	for (size_t i = 0; i < depth / 2; i++) {
		const char *tc = comp[i];
		size_t tl = len[i];

		comp[i] = comp[depth - 1 - i];
		len[i] = len[depth - 1 - i];
		comp[depth - 1 - i] = tc;
		len[depth - 1 - i] = tl;
	}
	*n = depth;
	return 0;
}

/* Key of the entry name in dir (not yet or no longer linked), or of ino itself. */
static int ns_key_in_dir(struct ns *ns, struct meta_txn *t, uint64_t dir, const char *name,
			 size_t name_len, bool is_dir, char *key, size_t cap, size_t *keylen)
{
	char buf[S3_KEY_MAX + 1];
	const char *comp[KEYMAP_DEPTH_MAX];
	size_t len[KEYMAP_DEPTH_MAX], n;
	int rc;

	rc = ns_path(ns, t, dir, buf, sizeof buf, comp, len, &n);
	if (rc)
		return rc;
	if (name) {
		if (n == KEYMAP_DEPTH_MAX)
			return ENAMETOOLONG;
		comp[n] = name;
		len[n] = name_len;
		n++;
	}
	return keymap_key_build(ns->km, comp, len, n, is_dir, key, cap, keylen);
}

int ns_key(struct ns *ns, struct meta_txn *t, uint64_t ino, char *key, size_t cap, size_t *keylen)
{
	struct meta_inode in;
	int rc;

	rc = meta_inode_get(t, ino, &in);
	if (rc)
		return rc;
	if (ino == META_ROOT_INO)
		return keymap_key_build(ns->km, NULL, NULL, 0, false, key, cap, keylen);
	return ns_key_in_dir(ns, t, ino, NULL, 0, in.type == META_T_DIR, key, cap, keylen);
}

struct ns_key_ctx {
	struct ns *ns;
	uint64_t ino;
	char *key;
	size_t cap;
	size_t *keylen;
};

static int ns_key_txn(struct meta_txn *t, void *arg)
{
	struct ns_key_ctx *c = arg;

	return ns_key(c->ns, t, c->ino, c->key, c->cap, c->keylen);
}

int ns_key_of(struct ns *ns, uint64_t ino, char *key, size_t cap, size_t *keylen)
{
	struct ns_key_ctx c = { ns, ino, key, cap, keylen };

	return meta_read(ns->me, ns_key_txn, &c);
}

/* ---- where objects are while renames are carried out in S3 ----
 *
 * A rename changes the file view at once; S3 follows later (the daemon). Until then an
 * object stays under the key it had, and the keys table keeps binding that key to the
 * inode. Two records say where to look:
 *  - moves[ino] for a renamed file (its source key and ETag);
 *  - dirjobs for a renamed directory: every object below the old prefix is on its way to
 *    the new one. A file below it that the job has not reached yet is found by mapping
 *    its path key back through the jobs (newest first) until the keys table binds it.
 * Jobs are few and short-lived, so they are read per transaction when needed.
 */

struct ns_job_pfx {
	uint64_t id;
	size_t old_len, new_len;
	char old_prefix[S3_KEY_MAX + 1];
	char new_prefix[S3_KEY_MAX + 1];
};

struct ns_jobs {
	bool loaded;
	size_t n, cap;
	struct ns_job_pfx *j;	/* in id (creation) order */
};

static int ns_jobs_collect(void *arg, const struct meta_dirjob *dj)
{
	struct ns_jobs *js = arg;
	struct ns_job_pfx *p;

	if (js->n == js->cap) {
		size_t cap = js->cap ? js->cap * 2 : 4;
		struct ns_job_pfx *g = realloc(js->j, cap * sizeof *g);

		if (!g)
			return ENOMEM;
		js->j = g;
		js->cap = cap;
	}
	p = &js->j[js->n++];
	p->id = dj->id;
	p->old_len = dj->old_len;
	p->new_len = dj->new_len;
	memcpy(p->old_prefix, dj->old_prefix, dj->old_len + 1);
	memcpy(p->new_prefix, dj->new_prefix, dj->new_len + 1);
	return 0;
}

/* Load once per transaction attempt (meta_write may run a txn function again). */
static int ns_jobs_get(struct meta_txn *t, struct ns_jobs *js)
{
	int rc;

	if (js->loaded)
		return 0;
	js->n = 0;
	rc = meta_dirjob_iter(t, ns_jobs_collect, js);
	if (rc == 0)
		js->loaded = true;
	return rc;
}

static void ns_jobs_free(struct ns_jobs *js)
{
	free(js->j);
	memset(js, 0, sizeof *js);
}

static bool ns_has_prefix(const char *key, size_t len, const char *pfx, size_t plen)
{
	return len >= plen && memcmp(key, pfx, plen) == 0;
}

/* Is key (an object key or a directory prefix) at or below the old (want_old) or the new
 * (want_new) prefix of a job? */
static bool ns_jobs_cover(const struct ns_jobs *js, const char *key, size_t len, bool want_old,
			  bool want_new)
{
	for (size_t i = 0; i < js->n; i++) {
		const struct ns_job_pfx *p = &js->j[i];

		if (want_old && ns_has_prefix(key, len, p->old_prefix, p->old_len))
			return true;
		if (want_new && ns_has_prefix(key, len, p->new_prefix, p->new_len))
			return true;
	}
	return false;
}

/* Replace the leading from (flen bytes) of key by to (in place, key has S3_KEY_MAX + 1
 * bytes). ENAMETOOLONG if the result would not be a valid key length. */
static int ns_key_swap(char *key, size_t *len, size_t flen, const char *to, size_t tlen)
{
	size_t rest = *len - flen;

	if (tlen + rest > S3_KEY_MAX)
		return ENAMETOOLONG;
	memmove(key + tlen, key + flen, rest);
	memcpy(key, to, tlen);
	*len = tlen + rest;
	key[*len] = '\0';
	return 0;
}

static bool ns_key_binds(struct meta_txn *t, const char *key, size_t len, uint64_t ino)
{
	uint64_t b;

	return meta_key_get(t, key, len, &b) == 0 && b == ino;
}

/* Where the object of file inode in is: *found false if it has none (never uploaded).
 * key has S3_KEY_MAX + 1 bytes; m (may be NULL) gets the moves record when *moved. */
static int ns_file_source(struct ns *ns, struct meta_txn *t, const struct meta_inode *in,
			  struct ns_jobs *js, char *key, size_t *keylen, char etag[S3_ETAG_MAX],
			  bool *found, bool *moved, struct meta_move *m)
{
	struct meta_move mv, *mp = m ? m : &mv;
	char *cand = NULL;
	size_t clen;
	int rc;

	*found = *moved = false;
	if (in->type == META_T_DIR)
		return 0;
	rc = meta_move_get(t, in->ino, mp);
	if (rc == 0) {
		memcpy(key, mp->key, mp->key_len + 1);
		*keylen = mp->key_len;
		snprintf(etag, S3_ETAG_MAX, "%s", mp->etag);
		*found = *moved = true;
		return 0;
	}
	if (rc != ENOENT)
		return rc;
	if (!(in->flags & META_F_IN_S3))
		return 0;
	rc = ns_key(ns, t, in->ino, key, S3_KEY_MAX + 1, keylen);
	if (rc)
		return rc;
	snprintf(etag, S3_ETAG_MAX, "%s", in->etag);
	*found = true;
	if (ns_key_binds(t, key, *keylen, in->ino))
		return 0;
	rc = ns_jobs_get(t, js);
	if (rc || js->n == 0)
		return rc;
	cand = malloc(S3_KEY_MAX + 1);
	if (!cand)
		return ENOMEM;
	memcpy(cand, key, *keylen + 1);
	clen = *keylen;
	/* Undo the renames newest first: the path is the result of all of them. */
	for (size_t i = js->n; i-- > 0;) {
		const struct ns_job_pfx *p = &js->j[i];

		if (!ns_has_prefix(cand, clen, p->new_prefix, p->new_len))
			continue;
		if (ns_key_swap(cand, &clen, p->new_len, p->old_prefix, p->old_len))
			continue;
		if (ns_key_binds(t, cand, clen, in->ino)) {
			memcpy(key, cand, clen + 1);
			*keylen = clen;
			break;
		}
	}
	free(cand);
	return 0;
}

/* Keys a directory marker of path key `key` may still have while directory renames above
 * it are carried out (the key itself first). Calls fn for each; stops at its error. */
static int ns_marker_keys(struct meta_txn *t, struct ns_jobs *js, const char *key, size_t len,
			  int (*fn)(struct meta_txn *t, void *arg, const char *k, size_t l),
			  void *arg)
{
	char *cand;
	size_t clen = len;
	int rc;

	rc = fn(t, arg, key, len);
	if (rc)
		return rc;
	rc = ns_jobs_get(t, js);
	if (rc || js->n == 0)
		return rc;
	cand = malloc(S3_KEY_MAX + 1);
	if (!cand)
		return ENOMEM;
	memcpy(cand, key, len + 1);
	for (size_t i = js->n; rc == 0 && i-- > 0;) {
		const struct ns_job_pfx *p = &js->j[i];

		if (!ns_has_prefix(cand, clen, p->new_prefix, p->new_len) ||
		    ns_key_swap(cand, &clen, p->new_len, p->old_prefix, p->old_len))
			continue;
		rc = fn(t, arg, cand, clen);
	}
	free(cand);
	return rc;
}

struct ns_marker_del {
	const char *etag;
	int64_t now;
	uint64_t ino;
	bool first;
};

static int ns_marker_del_one(struct meta_txn *t, void *arg, const char *k, size_t l)
{
	struct ns_marker_del *d = arg;
	/* Only the marker at its own key has a known ETag; an old location is deleted
	 * whatever it holds (it is below a prefix being moved away). */
	int rc = meta_delete_add(t, k, l, d->first ? d->etag : "", d->now, d->ino);

	d->first = false;
	return rc;
}

/* ---- create ---- */

struct ns_create_ctx {
	struct ns *ns;
	uint64_t dir;
	const char *name;
	size_t len;
	const struct ns_new *nw;
	struct meta_inode *out;
	struct meta_inode dir_in;
};

struct ns_setattr_ctx {
	uint64_t ino;
	const struct ns_setattr *sa;
	struct meta_inode out;
};

static int ns_setattr_txn(struct meta_txn *t, void *arg);

static int ns_create_txn(struct meta_txn *t, void *arg)
{
	struct ns_create_ctx *c = arg;
	struct meta_inode *d = &c->dir_in, *in = c->out;
	struct meta_dirent de;
	int64_t now = meta_now_ns();
	uint64_t ino;
	uint32_t gen;
	int rc;

	rc = meta_inode_get(t, c->dir, d);
	if (rc)
		return rc == ENOENT ? ESTALE : rc;
	if (d->type != META_T_DIR)
		return ENOTDIR;
	rc = meta_dirent_get(t, c->dir, c->name, c->len, &de);
	if (rc == 0) {
		rc = meta_inode_get(t, de.ino, in);
		return rc ? rc : EEXIST;
	}
	/* lost+found holds what conflicts put there, nothing else. */
	if (d->flags & META_F_RESERVED)
		return EACCES;
	if (rc != ENOENT)
		return rc;
	/* Its key (a directory's marker key) must fit in S3's 1,024 bytes, prefix included:
	 * a file that could never be uploaded is not made. */
	{
		char key[S3_KEY_MAX + 1];
		size_t keylen;

		rc = ns_key_in_dir(c->ns, t, c->dir, c->name, c->len, c->nw->type == META_T_DIR,
				   key, sizeof key, &keylen);
		if (rc)
			return rc;
	}

	rc = meta_ino_alloc(t, &ino, &gen);
	if (rc)
		return rc;
	meta_inode_init(in, ino, gen, c->dir, c->nw->type, c->nw->mode, c->nw->uid, c->nw->gid, now);
	if ((rc = meta_inode_set_name(in, c->name, c->len)))
		return rc;
	if (c->nw->type == META_T_LNK)
		in->size = c->nw->target_len;
	if (c->nw->type == META_T_CHR || c->nw->type == META_T_BLK)
		in->rdev = c->nw->rdev;
	/* New on the file side: nothing in S3 yet; commit creates the object / marker. */
	ns_mark_dirty(in, now);
	/* A new directory's listing is known: it is empty. Without the flag its first use
	 * after the marker's commit would list it in S3 (ns_commit_done sets IN_S3), and
	 * while S3 is unreachable every lookup in it would wait for that listing to fail. */
	if (c->nw->type == META_T_DIR)
		in->flags |= META_F_IMPORTED;
	if ((rc = meta_inode_put(t, in)) || (rc = meta_dirty_add(t, ino)))
		return rc;
	if (c->nw->type == META_T_LNK &&
	    (rc = meta_symlink_put(t, ino, c->nw->target, c->nw->target_len)))
		return rc;

	/* The attributes asked for with the create: one transaction, one sync for both. */
	if (c->nw->attrs && c->nw->attrs->mask) {
		struct ns_setattr_ctx sc = { .ino = ino, .sa = c->nw->attrs };

		if ((rc = ns_setattr_txn(t, &sc)))
			return rc;
		*in = sc.out;
	}

	ns_touch(d, now, true);
	if (c->nw->type == META_T_DIR)
		d->nlink++;
	return meta_dirent_add(t, d, c->name, c->len, ino, (uint8_t)c->nw->type, NULL);
}

int ns_create(struct ns *ns, uint64_t dir, const char *name, size_t len, const struct ns_new *nw,
	      struct meta_inode *out, struct meta_inode *dir_out)
{
	struct ns_create_ctx c = { .ns = ns, .dir = dir, .name = name, .len = len, .nw = nw,
				   .out = out };
	int rc;

	rc = keymap_name_check(name, len);
	if (rc)
		return rc;
	if (ns_is_reserved(dir, name, len))
		return EPERM;
	if (nw->type < META_T_REG || nw->type > META_T_MAX)
		return EINVAL;
	if (nw->type == META_T_LNK && (nw->target_len == 0 || nw->target_len >= 4096))
		return nw->target_len ? ENAMETOOLONG : EINVAL;
	rc = meta_write(ns->me, ns_create_txn, &c);
	if (rc == 0 && dir_out)
		*dir_out = c.dir_in;
	return rc;
}

/* ---- remove ---- */

/* Drop every record of in (not its dirent). A bound object gets a pending delete: a
 * file's wherever it is (renamed files and files below a directory being moved in S3
 * are not at their path key yet), a directory's marker at its key and at the keys it may
 * still have while directory renames above it are carried out. */
static int ns_drop_inode(struct ns *ns, struct meta_txn *t, const struct meta_inode *in,
			 const char *key, size_t keylen, int64_t now, bool record_delete)
{
	struct ns_jobs js = { 0 };
	char *src = NULL;
	char etag[S3_ETAG_MAX];
	size_t srclen;
	bool found, moved;
	int rc;

	if (in->type == META_T_DIR) {
		if (record_delete && (in->flags & META_F_IN_S3) && (in->flags & META_F_MARKER)) {
			struct ns_marker_del d = { in->etag, now, in->ino, true };

			rc = ns_marker_keys(t, &js, key, keylen, ns_marker_del_one, &d);
			if (rc)
				goto out;
		}
	} else {
		src = malloc(S3_KEY_MAX + 1);
		if (!src) {
			rc = ENOMEM;
			goto out;
		}
		rc = ns_file_source(ns, t, in, &js, src, &srclen, etag, &found, &moved, NULL);
		if (rc)
			goto out;
		if (found && record_delete &&
		    (rc = meta_delete_add(t, src, srclen, etag, now, in->ino)))
			goto out;
		if (found) {
			rc = meta_key_del(t, src, srclen);
			if (rc && rc != ENOENT)
				goto out;
		}
		if ((rc = meta_move_del(t, in->ino)))
			goto out;
	}
	if ((rc = meta_inode_del(t, in->ino)) || (rc = meta_dirty_del(t, in->ino)) ||
	    (rc = meta_extents_put(t, in->ino, NULL)) || (rc = meta_symlink_del(t, in->ino)))
		goto out;
	rc = 0;
out:
	free(src);
	ns_jobs_free(&js);
	return rc;
}

struct ns_remove_ctx {
	struct ns *ns;
	uint64_t dir;
	const char *name;
	size_t len;
	bool want_dir;
	struct meta_inode victim;
	struct meta_inode dir_in;
};

static int ns_remove_txn(struct meta_txn *t, void *arg)
{
	struct ns_remove_ctx *c = arg;
	struct meta_inode *d = &c->dir_in, *v = &c->victim;
	struct meta_dirent de;
	char key[S3_KEY_MAX + 1];
	size_t keylen;
	int64_t now = meta_now_ns();
	int rc;

	rc = meta_inode_get(t, c->dir, d);
	if (rc)
		return rc == ENOENT ? ESTALE : rc;
	if (d->type != META_T_DIR)
		return ENOTDIR;
	rc = meta_dirent_get(t, c->dir, c->name, c->len, &de);
	if (rc)
		return rc;
	rc = meta_inode_get(t, de.ino, v);
	if (rc)
		return rc;
	if (c->want_dir) {
		bool empty;

		if (v->type != META_T_DIR)
			return ENOTDIR;
		if (!(v->flags & META_F_IMPORTED) && (v->flags & META_F_IN_S3))
			return EAGAIN;
		if ((rc = meta_dir_empty(t, v->ino, &empty)))
			return rc;
		if (!empty)
			return ENOTEMPTY;
	} else if (v->type == META_T_DIR) {
		return EISDIR;
	}
	if (v->flags & META_F_RESERVED) {
		/* lost+found itself stays; what is in it may go (it has no object). */
		if (v->type == META_T_DIR)
			return EPERM;
		keylen = 0;
		key[0] = '\0';
	} else {
		rc = ns_key_in_dir(c->ns, t, c->dir, c->name, c->len, v->type == META_T_DIR,
				   key, sizeof key, &keylen);
		if (rc)
			return rc;
	}
	if ((rc = meta_dirent_del(t, c->dir, c->name, c->len)))
		return rc;
	if ((rc = ns_drop_inode(c->ns, t, v, key, keylen, now,
				!(v->flags & META_F_RESERVED))))
		return rc;
	ns_touch(d, now, true);
	if (v->type == META_T_DIR && d->nlink > 2)
		d->nlink--;
	return meta_inode_put(t, d);
}

int ns_remove(struct ns *ns, uint64_t dir, const char *name, size_t len, bool want_dir,
	      struct meta_inode *victim, struct meta_inode *dir_out)
{
	struct ns_remove_ctx c = { .ns = ns, .dir = dir, .name = name, .len = len,
				   .want_dir = want_dir };
	int rc;

	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return want_dir ? (len == 1 ? EINVAL : ENOTEMPTY) : EISDIR;
	rc = meta_write(ns->me, ns_remove_txn, &c);
	if (rc == 0) {
		if (victim)
			*victim = c.victim;
		if (dir_out)
			*dir_out = c.dir_in;
	}
	return rc;
}

/* ---- setattr / writes ---- */

/* Present ranges after a size change from old to new size. */
static int ns_resize_extents(struct meta_txn *t, struct meta_inode *in, uint64_t old_size,
			     uint64_t new_size)
{
	struct rangeset rs = RANGESET_INIT;
	int rc;

	if (in->data == META_D_FULL)
		return 0;
	rc = meta_extents_get(t, in->ino, &rs);
	if (rc)
		goto out;
	rangeset_truncate(&rs, new_size);
	/* Bytes beyond the old end are zeros we own locally. */
	if (new_size > old_size && (rc = rangeset_add(&rs, old_size, new_size)))
		goto out;
	if (rangeset_covers(&rs, 0, new_size)) {
		in->data = META_D_FULL;
		rc = meta_extents_put(t, in->ino, NULL);
	} else {
		in->data = rs.n ? META_D_PARTIAL : META_D_NONE;
		rc = meta_extents_put(t, in->ino, &rs);
	}
out:
	rangeset_free(&rs);
	return rc;
}

static int ns_setattr_txn(struct meta_txn *t, void *arg)
{
	struct ns_setattr_ctx *c = arg;
	const struct ns_setattr *sa = c->sa;
	struct meta_inode *in = &c->out;
	int64_t now = meta_now_ns();
	bool content = false, killed = false;
	int rc;

	rc = meta_inode_get(t, c->ino, in);
	if (rc)
		return rc == ENOENT ? ESTALE : rc;
	if (sa->mask & NS_SET_SIZE) {
		if (in->type == META_T_DIR)
			return EISDIR;
		if (in->type != META_T_REG)
			return EINVAL;
		if (sa->size != in->size) {
			uint64_t old = in->size;

			in->size = sa->size;
			rc = ns_resize_extents(t, in, old, sa->size);
			if (rc)
				return rc;
			in->mtime_ns = now;
		}
		content = true;	/* POSIX: truncate updates mtime/ctime even to the same size */
		in->mtime_ns = now;
	}
	if (sa->mask & NS_SET_MODE)
		in->mode = sa->mode & 07777;
	if ((sa->mask & NS_SET_KILL_SUID) && in->type == META_T_REG) {
		uint32_t kill = S_ISUID | ((in->mode & S_IXGRP) ? S_ISGID : 0);

		if (in->mode & kill) {
			in->mode &= ~kill;
			killed = true;
		}
	}
	if (sa->mask & NS_SET_UID)
		in->uid = sa->uid;
	if (sa->mask & NS_SET_GID)
		in->gid = sa->gid;
	if (sa->mask & NS_SET_ATIME)
		in->atime_ns = sa->atime_ns;
	if (sa->mask & NS_SET_MTIME) {
		in->mtime_ns = sa->mtime_ns;
		in->flags &= ~(uint32_t)META_F_MTIME_S3;
	}
	in->ctime_ns = (sa->mask & NS_SET_CTIME) ? sa->ctime_ns : now;
	in->change++;
	/* Mode, owner and mtime travel as object metadata: any of them (or content) changing
	 * means the object must be written again. atime alone does not. */
	if (content || killed || (sa->mask & (NS_SET_MODE | NS_SET_UID | NS_SET_GID | NS_SET_MTIME))) {
		if (!(in->flags & META_F_RESERVED)) {
			ns_mark_dirty(in, now);
			if ((rc = meta_dirty_add(t, in->ino)))
				return rc;
		}
	}
	return meta_inode_put(t, in);
}

int ns_setattr(struct ns *ns, uint64_t ino, const struct ns_setattr *sa, struct meta_inode *out)
{
	struct ns_setattr_ctx c = { .ino = ino, .sa = sa };
	int rc = meta_write(ns->me, ns_setattr_txn, &c);

	if (rc == 0 && out)
		*out = c.out;
	return rc;
}

struct ns_write_ctx {
	uint64_t ino, off, len;
	uint32_t clear_mode;
	uint64_t writes;	/* ns_write_fold: the writes it records (0: one, now) */
	int64_t when_ns;	/* ns_write_fold: when the last of them wrote */
	const uint64_t *if_change;	/* ns_write_fold: only onto this change attribute */
	struct meta_inode out;
};

static int ns_write_begin_txn(struct meta_txn *t, void *arg)
{
	struct ns_write_ctx *c = arg;
	struct meta_inode *in = &c->out;
	int rc;

	rc = meta_inode_get(t, c->ino, in);
	if (rc)
		return rc == ENOENT ? ESTALE : rc;
	if (in->type != META_T_REG)
		return EINVAL;
	if (in->flags & META_F_RESERVED)
		return 0;	/* s3files' own (lost+found): never uploaded */
	if (in->sync != META_S_CLEAN && (in->flags & META_F_CHANGING))
		return 0;	/* announced since the last commit snapshot already */
	ns_mark_dirty(in, meta_now_ns());
	in->flags |= META_F_CHANGING;
	if ((rc = meta_dirty_add(t, in->ino)))
		return rc;
	return meta_inode_put(t, in);
}

int ns_write_begin(struct ns *ns, uint64_t ino, struct meta_inode *out)
{
	struct ns_write_ctx c = { .ino = ino };
	int rc = meta_write(ns->me, ns_write_begin_txn, &c);

	if (rc == 0 && out)
		*out = c.out;
	return rc;
}

static int ns_write_txn(struct meta_txn *t, void *arg)
{
	struct ns_write_ctx *c = arg;
	struct meta_inode *in = &c->out;
	int64_t now = c->writes ? c->when_ns : meta_now_ns();
	uint64_t end = c->off + c->len;
	int rc;

	rc = meta_inode_get(t, c->ino, in);
	if (rc)
		return rc == ENOENT ? ESTALE : rc;
	if (in->type != META_T_REG)
		return EINVAL;
	if (c->if_change && in->change != *c->if_change)
		return ECANCELED;
	if (in->data != META_D_FULL) {
		struct rangeset rs = RANGESET_INIT;

		rc = meta_extents_get(t, in->ino, &rs);
		if (rc == 0)
			rc = rangeset_add(&rs, c->off, end);
		/* A write past the end leaves a hole of zeros, which is local too. */
		if (rc == 0 && c->off > in->size)
			rc = rangeset_add(&rs, in->size, c->off);
		if (rc == 0) {
			uint64_t size = end > in->size ? end : in->size;

			if (rangeset_covers(&rs, 0, size)) {
				in->data = META_D_FULL;
				rc = meta_extents_put(t, in->ino, NULL);
			} else {
				in->data = META_D_PARTIAL;
				rc = meta_extents_put(t, in->ino, &rs);
			}
		}
		rangeset_free(&rs);
		if (rc)
			return rc;
	}
	if (end > in->size)
		in->size = end;
	in->mode &= ~(c->clear_mode & (S_ISUID | S_ISGID));
	ns_touch(in, now, true);
	/* Folded writes: the change attribute moves once per write, as clients saw it in
	 * the meantime (fio merges the same count into the attributes it answers with). */
	if (c->writes > 1)
		in->change += c->writes - 1;
	if (in->flags & META_F_RESERVED)
		return meta_inode_put(t, in);	/* lost+found: kept here, never uploaded */
	ns_mark_dirty(in, now);
	if ((rc = meta_dirty_add(t, in->ino)))
		return rc;
	return meta_inode_put(t, in);
}

int ns_write_record(struct ns *ns, uint64_t ino, uint64_t off, uint64_t len, uint32_t clear_mode,
		    struct meta_inode *out)
{
	struct ns_write_ctx c = { .ino = ino, .off = off, .len = len, .clear_mode = clear_mode };
	int rc = meta_write(ns->me, ns_write_txn, &c);

	if (rc == 0 && out)
		*out = c.out;
	return rc;
}

int ns_write_fold(struct ns *ns, uint64_t ino, uint64_t off, uint64_t len, uint64_t writes,
		  int64_t when_ns, const uint64_t *if_change, struct meta_inode *out)
{
	struct ns_write_ctx c = { .ino = ino, .off = off, .len = len, .writes = writes ? writes : 1,
				  .when_ns = when_ns, .if_change = if_change };
	int rc = meta_write(ns->me, ns_write_txn, &c);

	if (rc == 0 && out)
		*out = c.out;
	return rc;
}

int ns_write_done(struct ns *ns, uint64_t ino, uint64_t off, uint64_t len, struct meta_inode *out)
{
	return ns_write_record(ns, ino, off, len, 0, out);
}

struct ns_fetch_ctx {
	uint64_t ino, off, len;
	const char *etag;
	struct meta_inode out;
	struct rangeset *rs;
};

static int ns_fetched_txn(struct meta_txn *t, void *arg)
{
	struct ns_fetch_ctx *c = arg;
	struct meta_inode *in = &c->out;
	struct rangeset rs = RANGESET_INIT;
	uint64_t end;
	int rc;

	rc = meta_inode_get(t, c->ino, in);
	if (rc)
		return rc;
	if (strcmp(in->etag, c->etag) != 0)
		return S3F_E_S3_PRECOND;
	if (in->data == META_D_FULL)
		return 0;
	end = c->off + c->len;
	if (end > in->size)
		end = in->size;
	rc = meta_extents_get(t, in->ino, &rs);
	if (rc == 0 && end > c->off)
		rc = rangeset_add(&rs, c->off, end);
	if (rc == 0) {
		if (rangeset_covers(&rs, 0, in->size)) {
			in->data = META_D_FULL;
			rc = meta_extents_put(t, in->ino, NULL);
		} else {
			in->data = META_D_PARTIAL;
			rc = meta_extents_put(t, in->ino, &rs);
		}
	}
	rangeset_free(&rs);
	if (rc)
		return rc;
	return meta_inode_put(t, in);
}

int ns_data_fetched(struct ns *ns, uint64_t ino, const char *etag, uint64_t off, uint64_t len,
		    struct meta_inode *out)
{
	struct ns_fetch_ctx c = { .ino = ino, .off = off, .len = len, .etag = etag };
	int rc = meta_write(ns->me, ns_fetched_txn, &c);

	if (rc == 0 && out)
		*out = c.out;
	return rc;
}

struct ns_symfetch_ctx {
	uint64_t ino;
	const char *etag, *target;
	size_t len;
};

static int ns_symfetch_txn(struct meta_txn *t, void *arg)
{
	struct ns_symfetch_ctx *c = arg;
	struct meta_inode in;
	char probe[2];
	size_t plen;
	int rc = meta_inode_get(t, c->ino, &in);

	if (rc)
		return rc;
	if (in.type != META_T_LNK || strcmp(in.etag, c->etag) != 0)
		return S3F_E_S3_PRECOND;
	rc = meta_symlink_get(t, c->ino, probe, sizeof probe, &plen);
	if (rc == 0 || rc == ERANGE)
		return 0;	/* recorded meanwhile */
	if (rc != ENOENT)
		return rc;
	return meta_symlink_put(t, c->ino, c->target, c->len);
}

int ns_symlink_fetched(struct ns *ns, uint64_t ino, const char *etag, const char *target,
		       size_t len)
{
	struct ns_symfetch_ctx c = { ino, etag, target, len };

	return meta_write(ns->me, ns_symfetch_txn, &c);
}

/* The byte ranges of regular file in that are local, into rs (cleared first). */
static int ns_present_in(struct meta_txn *t, const struct meta_inode *in, struct rangeset *rs)
{
	rangeset_clear(rs);
	if (in->data == META_D_FULL)
		return in->size ? rangeset_add(rs, 0, in->size) : 0;
	if (in->data == META_D_NONE)
		return 0;
	return meta_extents_get(t, in->ino, rs);
}

static int ns_present_txn(struct meta_txn *t, void *arg)
{
	struct ns_fetch_ctx *c = arg;
	int rc;

	rc = meta_inode_get(t, c->ino, &c->out);
	if (rc)
		return rc;
	return ns_present_in(t, &c->out, c->rs);
}

int ns_data_present(struct ns *ns, uint64_t ino, struct rangeset *out, struct meta_inode *in)
{
	struct ns_fetch_ctx c = { .ino = ino, .rs = out };
	int rc = meta_read(ns->me, ns_present_txn, &c);

	if (rc == 0 && in)
		*in = c.out;
	return rc;
}

/* ---- import ---- */

struct ns_import_ctx {
	struct ns *ns;
	uint64_t dir;
	const struct ns_import_entry *e;
	size_t n;
	int64_t start;
	enum ns_import_result *results;
	uint64_t *inos;
	struct ns_jobs js;	/* directory renames in progress (per transaction) */
	int64_t newest_s;	/* the newest LastModified of the batch (0: none) */
};

/* The live inode other than ino the object at key is bound to (a renamed file whose
 * object has not been moved yet): *holder, 0 if none; *other gets its record. */
static int ns_key_holder(struct meta_txn *t, const char *key, size_t len, uint64_t ino,
			 uint64_t *holder, struct meta_inode *other)
{
	uint64_t b;
	int rc;

	*holder = 0;
	rc = meta_key_get(t, key, len, &b);
	if (rc == ENOENT || (rc == 0 && b == ino))
		return 0;
	if (rc)
		return rc;
	rc = meta_inode_get(t, b, other);
	if (rc == ENOENT)
		return 0;
	if (rc == 0)
		*holder = b;
	return rc;
}

static int ns_key_taken(struct meta_txn *t, const char *key, size_t len, uint64_t ino, bool *taken)
{
	struct meta_inode other;
	uint64_t b;
	int rc = ns_key_holder(t, key, len, ino, &b, &other);

	*taken = b != 0;
	return rc;
}

/* An ETag and size seen for an intent's key: the intent's object as far as they tell.
 * A copy of a multipart object may get an ETag of the server's choosing (AWS makes such
 * a copy single-part, Ceph RGW keeps the source's ETag): only its size is compared. */
static bool ns_intent_seen(const struct meta_intent *in, const char *etag, uint64_t size)
{
	if (size != in->size)
		return false;
	if (!in->etag[0] || strcasecmp(in->etag, etag ? etag : "") == 0)
		return true;
	return in->kind == META_INTENT_COPY && strchr(in->etag, '-') != NULL;
}

/* Does an intent for key (of inode ino; 0: any) describe the object a listing shows
 * (etag, size)? Then the listing may show an upload of ours before its record. */
static int ns_intent_covers(struct meta_txn *t, const char *key, size_t len, uint64_t ino,
			    const char *etag, uint64_t size, bool *ours)
{
	struct meta_intent *in = malloc(sizeof *in);
	int rc;

	*ours = false;
	if (!in)
		return ENOMEM;
	rc = meta_intent_get(t, key, len, in);
	if (rc == 0)
		*ours = (!ino || in->ino == ino) && ns_intent_seen(in, etag, size);
	free(in);
	return rc == ENOENT ? 0 : rc;
}

/* The type an object's attributes give a non-directory of size bytes: a symlink, or a
 * special file (both as s3fs writes them: the type in x-amz-meta-mode, a special file an
 * empty object), else a regular file. An object with bytes is never a special file: its
 * bytes stay readable. */
static uint8_t ns_type_of(const struct keymap_attrs *a, uint64_t size)
{
	if (!a || !a->has_mode)
		return META_T_REG;
	switch (a->mode & S_IFMT) {
	case S_IFLNK:
		return META_T_LNK;
	case S_IFIFO:
		return size ? META_T_REG : META_T_FIFO;
	case S_IFSOCK:
		return size ? META_T_REG : META_T_SOCK;
	case S_IFCHR:
		return size ? META_T_REG : META_T_CHR;
	case S_IFBLK:
		return size ? META_T_REG : META_T_BLK;
	}
	return META_T_REG;
}

/* A regular file that an object's attributes say is a symlink or a special file takes that
 * type, in its record (*in, written by the caller) and its directory entry. */
static int ns_retype(struct meta_txn *t, struct meta_inode *in, const struct keymap_attrs *a,
		     uint64_t size)
{
	uint8_t type = ns_type_of(a, size);

	if (in->type != META_T_REG || type == META_T_REG)
		return 0;
	in->type = type;
	if (META_T_SPECIAL(type)) {
		in->data = META_D_NONE;
		in->rdev = (type == META_T_CHR || type == META_T_BLK) && a->has_rdev ? a->rdev : 0;
	}
	if (in->ino == META_ROOT_INO)
		return 0;
	return meta_dirent_set_type(t, in->parent, in->name, in->name_len, type);
}

static void ns_apply_attrs(struct ns *ns, struct meta_inode *in, const struct ns_import_entry *e)
{
	const struct keymap_attrs *a = e->attrs;

	in->mode = e->is_dir ? ns->def.dir_mode : ns->def.file_mode;
	in->uid = ns->def.uid;
	in->gid = ns->def.gid;
	in->mtime_ns = ns_time_ns(e->mtime_s, 0);
	if (!a)
		return;
	if (a->has_mode)
		in->mode = a->mode & 07777;
	if (a->has_uid)
		in->uid = a->uid;
	if (a->has_gid)
		in->gid = a->gid;
	if (a->has_mtime)
		in->mtime_ns = ns_time_ns(a->mtime_sec, a->mtime_nsec);
}

static int ns_import_one(struct ns_import_ctx *c, struct meta_txn *t, struct meta_inode *d,
			 const struct ns_import_entry *e, enum ns_import_result *res, uint64_t *ino_out)
{
	struct meta_dirent de;
	struct meta_inode in;
	char key[S3_KEY_MAX + 1];
	size_t keylen;
	int64_t now = meta_now_ns();
	int rc;

	*res = NS_IMP_SAME;
	*ino_out = 0;
	if (ns_is_reserved(c->dir, e->name, e->len))
		return 0;
	rc = ns_key_in_dir(c->ns, t, c->dir, e->name, e->len, e->is_dir, key, sizeof key, &keylen);
	if (rc)
		return rc;
	/* Below a directory being moved in S3, the listing shows objects in transit: the
	 * renamed directory already holds them in the file view. */
	if (ns_jobs_cover(&c->js, key, keylen, true, true)) {
		*res = NS_IMP_MOVING;
		return 0;
	}

	rc = meta_dirent_get(t, c->dir, e->name, e->len, &de);
	if (rc == ENOENT) {
		struct meta_delete pd;
		uint64_t ino;
		uint32_t gen;
		bool delete_lost = false;

		if (e->is_dir) {
			bool pending;

			/* A directory the file side removed (rmdir, or renamed away) whose
			 * objects still wait for their deletes: the listing shows its prefix
			 * until the delete pass is done; it stays removed. If other objects
			 * remain there after that, the next listing shows it again. */
			if ((rc = meta_delete_any_under(t, key, keylen, &pending)))
				return rc;
			if (pending) {
				*res = NS_IMP_PENDING_DELETE;
				return 0;
			}
		}
		if (!e->is_dir) {
			bool taken;

			/* The old object of a renamed file: shown under its new name. */
			if ((rc = ns_key_taken(t, key, keylen, 0, &taken)))
				return rc;
			if (taken) {
				*res = NS_IMP_MOVING;
				return 0;
			}
			/* An upload of a file removed (or renamed away) since: the daemon
			 * records it, and deletes it again. */
			if ((rc = ns_intent_covers(t, key, keylen, 0, e->etag, e->size, &taken)))
				return rc;
			if (taken) {
				*res = NS_IMP_UPLOADING;
				return 0;
			}
			rc = meta_delete_get(t, key, keylen, &pd);
			if (rc == 0 && strcmp(pd.etag, e->etag ? e->etag : "") == 0) {
				*res = NS_IMP_PENDING_DELETE;
				return 0;
			}
			if (rc == 0) {
				/* Changed in S3 after the file side removed it: S3 wins, the
				 * delete is dropped and the new object shown. */
				if ((rc = meta_delete_del(t, key, keylen)))
					return rc;
				delete_lost = true;
			} else if (rc != ENOENT) {
				return rc;
			}
		}
		if ((rc = meta_ino_alloc(t, &ino, &gen)))
			return rc;
		meta_inode_init(&in, ino, gen, c->dir, e->is_dir ? META_T_DIR : META_T_REG, 0, 0,
				0, now);
		if ((rc = meta_inode_set_name(&in, e->name, e->len)))
			return rc;
		ns_apply_attrs(c->ns, &in, e);
		if (!e->is_dir)
			in.type = ns_type_of(e->attrs, e->size);
		if (in.type == META_T_CHR || in.type == META_T_BLK)
			in.rdev = e->attrs->has_rdev ? e->attrs->rdev : 0;
		if (e->is_dir && in.mtime_ns == 0 && !(e->attrs && e->attrs->has_mtime)) {
			/* A common prefix has no time: until its own listing tells, it
			 * takes the newest object of this listing, or the time it was seen
			 * (never 1970: find -newer, make and rsync read it). */
			in.mtime_ns = c->newest_s ? ns_time_ns(c->newest_s, 0) : now;
			in.flags |= META_F_MTIME_S3;
		}
		in.ctime_ns = in.mtime_ns;
		in.atime_ns = in.mtime_ns;
		in.flags |= META_F_IN_S3 | (e->is_marker ? META_F_MARKER : 0) |
			    (e->attrs && !e->is_dir ? META_F_ATTRS : 0);
		in.synced_ns = now;
		if (!e->is_dir) {
			in.size = in.s3_size = e->size;
			in.s3_mtime = e->mtime_s;
			snprintf(in.etag, sizeof in.etag, "%s", e->etag ? e->etag : "");
			in.data = e->size || META_T_SPECIAL(in.type) ? META_D_NONE : META_D_FULL;
			if ((rc = meta_key_put(t, key, keylen, ino)))
				return rc;
		}
		if ((rc = meta_inode_put(t, &in)))
			return rc;
		ns_touch(d, now, false);
		if (e->is_dir)
			d->nlink++;
		if ((rc = meta_dirent_add(t, d, e->name, e->len, ino, in.type, NULL)))
			return rc;
		*res = delete_lost ? NS_IMP_DELETE_LOST : NS_IMP_NEW;
		*ino_out = ino;
		return 0;
	}
	if (rc)
		return rc;

	rc = meta_inode_get(t, de.ino, &in);
	if (rc)
		return rc;
	*ino_out = in.ino;
	if ((in.type == META_T_DIR) != e->is_dir) {
		if (e->is_dir && in.sync == META_S_CLEAN && (in.flags & META_F_IN_S3)) {
			/* "x" and "x/..." both exist: the directory is shown, so its
			 * children stay reachable; the file is reported, not shown. */
			char fkey[S3_KEY_MAX + 1];
			size_t fkeylen;

			rc = ns_key_in_dir(c->ns, t, c->dir, e->name, e->len, false, fkey,
					   sizeof fkey, &fkeylen);
			if (rc)
				return rc;
			if ((rc = meta_dirent_del(t, c->dir, e->name, e->len)) ||
			    (rc = ns_drop_inode(c->ns, t, &in, fkey, fkeylen, now, false)) ||
			    (rc = meta_change_add(t, in.ino, META_CH_GONE)))
				return rc;
			rc = ns_import_one(c, t, d, e, res, ino_out);
			if (rc == 0)
				*res = NS_IMP_COLLISION;
			return rc;
		}
		*res = NS_IMP_COLLISION;
		return 0;
	}
	if (e->is_dir) {
		uint32_t want = META_F_IN_S3 | (e->is_marker ? META_F_MARKER : 0);

		if ((in.flags & want) != want) {
			in.flags |= want;
			in.synced_ns = now;
			return meta_inode_put(t, &in);
		}
		return 0;
	}
	if (strcmp(in.etag, e->etag ? e->etag : "") == 0 && (in.flags & META_F_IN_S3))
		return 0;
	if (!(in.flags & META_F_IN_S3)) {
		struct meta_delete pd;
		bool taken;

		/* A file that is not in S3 under this name yet (new, or renamed here) while the
		 * listing shows an object there: the old object of a file renamed away, or the
		 * object of a file it replaced, which goes at the next commit. */
		if ((rc = ns_key_taken(t, key, keylen, in.ino, &taken)))
			return rc;
		if (taken) {
			*res = NS_IMP_MOVING;
			return 0;
		}
		rc = meta_delete_get(t, key, keylen, &pd);
		if (rc == 0 && strcmp(pd.etag, e->etag ? e->etag : "") == 0) {
			*res = NS_IMP_PENDING_DELETE;
			return 0;
		}
		if (rc && rc != ENOENT)
			return rc;
	}
	if (in.sync != META_S_CLEAN) {
		bool ours;

		/* Our own upload of it, before its record (or after a crash cut it off). */
		if ((rc = ns_intent_covers(t, key, keylen, in.ino, e->etag, e->size, &ours)))
			return rc;
		if (ours) {
			*res = NS_IMP_UPLOADING;
			return 0;
		}
		/* Both sides changed (or both created the name): the daemon resolves it. */
		if (in.sync != META_S_CONFLICT) {
			in.sync = META_S_CONFLICT;
			if ((rc = meta_inode_put(t, &in)) || (rc = meta_dirty_add(t, in.ino)))
				return rc;
		}
		*res = NS_IMP_CONFLICT;
		return 0;
	}
	/* Clean file changed in S3: take the new state, drop local data. */
	ns_apply_attrs(c->ns, &in, e);
	if ((rc = ns_retype(t, &in, e->attrs, e->size)))
		return rc;
	in.size = in.s3_size = e->size;
	in.s3_mtime = e->mtime_s;
	snprintf(in.etag, sizeof in.etag, "%s", e->etag ? e->etag : "");
	in.version_id[0] = '\0';
	in.flags |= META_F_IN_S3;
	if (e->attrs)
		in.flags |= META_F_ATTRS;
	else
		in.flags &= ~(uint32_t)META_F_ATTRS;	/* the new version's come with its fetch */
	in.synced_ns = now;
	in.data = e->size || META_T_SPECIAL(in.type) ? META_D_NONE : META_D_FULL;
	ns_touch(&in, now, false);
	if ((rc = meta_extents_put(t, in.ino, NULL)) || (rc = meta_symlink_del(t, in.ino)) ||
	    (rc = meta_key_put(t, key, keylen, in.ino)) ||
	    (rc = meta_inode_put(t, &in)) || (rc = meta_change_add(t, in.ino, META_CH_S3)))
		return rc;
	*res = NS_IMP_CHANGED;
	return 0;
}

static int ns_import_txn(struct meta_txn *t, void *arg)
{
	struct ns_import_ctx *c = arg;
	struct meta_inode d;
	bool changed_dir = false;
	uint64_t change0;
	int64_t newest_ns = 0;
	int rc;

	ns_jobs_free(&c->js);
	rc = meta_inode_get(t, c->dir, &d);
	if (rc)
		goto out;
	if (d.type != META_T_DIR) {
		rc = ENOTDIR;
		goto out;
	}
	if ((rc = ns_jobs_get(t, &c->js)))
		goto out;
	change0 = d.change;
	c->newest_s = 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->e[i].mtime_s > c->newest_s)
			c->newest_s = c->e[i].mtime_s;
	for (size_t i = 0; i < c->n; i++) {
		enum ns_import_result res;
		uint64_t ino;

		rc = ns_import_one(c, t, &d, &c->e[i], &res, &ino);
		if (rc)
			goto out;
		if (c->results)
			c->results[i] = res;
		if (c->inos)
			c->inos[i] = ino;
		if (res == NS_IMP_NEW || res == NS_IMP_DELETE_LOST)
			changed_dir = true;
		/* An object new to the view is a change of the directory made at its
		 * LastModified: the directory's mtime is at least that. */
		if ((res == NS_IMP_NEW || res == NS_IMP_DELETE_LOST || res == NS_IMP_CHANGED) &&
		    c->e[i].mtime_s > 0 && ns_time_ns(c->e[i].mtime_s, 0) > newest_ns)
			newest_ns = ns_time_ns(c->e[i].mtime_s, 0);
	}
	if (d.flags & META_F_MTIME_S3) {
		/* The placeholder of a common prefix: its own listing tells its time. */
		if (newest_ns) {
			d.mtime_ns = newest_ns;
			d.ctime_ns = d.atime_ns = d.mtime_ns;
			d.flags &= ~(uint32_t)META_F_MTIME_S3;
			changed_dir = true;
		}
	} else if (newest_ns > d.mtime_ns) {
		d.mtime_ns = newest_ns;
		if (d.ctime_ns < d.mtime_ns)
			d.ctime_ns = d.mtime_ns;
		changed_dir = true;
	}
	if (d.change != change0 || changed_dir) {
		if ((rc = meta_inode_put(t, &d)) || (rc = meta_change_add(t, c->dir, META_CH_DIR)))
			goto out;
	}
	rc = 0;
out:
	ns_jobs_free(&c->js);
	return rc;
}

int ns_import_apply(struct ns *ns, uint64_t dir, const struct ns_import_entry *entries, size_t n,
		    int64_t listing_start_ns, enum ns_import_result *results, uint64_t *inos)
{
	struct ns_import_ctx c = { ns, dir, entries, n, listing_start_ns, results, inos, { 0 }, 0 };

	return meta_write(ns->me, ns_import_txn, &c);
}

struct ns_finish_ctx {
	struct ns *ns;
	uint64_t dir;
	int64_t start;
	ns_seen_fn seen;
	void *seen_arg;
	uint64_t n_removed;
	/* names that vanished from S3, collected before changing the directory */
	struct ns_dirent *gone;
	size_t n_gone, cap_gone;
	/* removed inodes, reported after commit */
	struct { uint64_t ino; uint8_t type; } *rm;
	size_t n_rm, cap_rm;
	struct ns_jobs js;	/* directory renames in progress (per transaction) */
	bool partial;		/* one name only (ns_import_forget): dir stays as it was */
};

static int ns_finish_collect(void *arg, const struct meta_dirent *de)
{
	struct ns_finish_ctx *c = arg;

	if (c->seen(c->seen_arg, de->name, de->name_len))
		return 0;
	if (c->n_gone == c->cap_gone) {
		size_t cap = c->cap_gone ? c->cap_gone * 2 : 64;
		struct ns_dirent *g = realloc(c->gone, cap * sizeof *g);

		if (!g)
			return ENOMEM;
		c->gone = g;
		c->cap_gone = cap;
	}
	struct ns_dirent *g = &c->gone[c->n_gone++];

	g->ino = de->ino;
	g->type = de->type;
	g->name_len = (uint8_t)de->name_len;
	memcpy(g->name, de->name, de->name_len);
	g->name[de->name_len] = '\0';
	return 0;
}

static int ns_rm_note(struct ns_finish_ctx *c, uint64_t ino, uint8_t type)
{
	if (c->n_rm == c->cap_rm) {
		size_t cap = c->cap_rm ? c->cap_rm * 2 : 64;
		void *p = realloc(c->rm, cap * sizeof *c->rm);

		if (!p)
			return ENOMEM;
		c->rm = p;
		c->cap_rm = cap;
	}
	c->rm[c->n_rm].ino = ino;
	c->rm[c->n_rm].type = type;
	c->n_rm++;
	return 0;
}

/* Can the subtree at dir be dropped because S3 no longer has it? Only if nothing in it
 * holds file-side state (dirty, conflict, or never committed). */
struct ns_clean_ctx {
	struct meta_txn *t;
	int depth;
	bool clean;
};

static int ns_subtree_clean_cb(void *arg, const struct meta_dirent *de);

static int ns_subtree_clean(struct meta_txn *t, uint64_t dir, int depth, bool *clean)
{
	struct ns_clean_ctx c = { t, depth, true };
	int rc;

	if (depth > KEYMAP_DEPTH_MAX) {
		*clean = false;
		return 0;
	}
	rc = meta_dir_iter(t, dir, 0, ns_subtree_clean_cb, &c);
	*clean = c.clean;
	return rc == 1 ? 0 : rc;
}

static int ns_subtree_clean_cb(void *arg, const struct meta_dirent *de)
{
	struct ns_clean_ctx *c = arg;
	struct meta_inode in;
	int rc;

	rc = meta_inode_get(c->t, de->ino, &in);
	if (rc)
		return rc;
	if (in.sync != META_S_CLEAN || !(in.flags & META_F_IN_S3)) {
		c->clean = false;
		return 1;
	}
	if (in.type == META_T_DIR) {
		bool sub;

		rc = ns_subtree_clean(c->t, in.ino, c->depth + 1, &sub);
		if (rc)
			return rc;
		if (!sub) {
			c->clean = false;
			return 1;
		}
	}
	return 0;
}

/* Remove the clean subtree under (and including) in, which is linked as name in parent. */
static int ns_drop_subtree(struct ns_finish_ctx *c, struct meta_txn *t, const struct meta_inode *in,
			   int depth)
{
	char key[S3_KEY_MAX + 1];
	size_t keylen;
	int rc;

	if (depth > KEYMAP_DEPTH_MAX)
		return ELOOP;
	if (in->type == META_T_DIR) {
		struct ns_dirent ents[64];
		size_t n;
		bool eof = false;

		/* Children first; re-read from the start each round since we delete. */
		while (!eof) {
			struct ns_readdir_ctx rc_ctx = { .dir = in->ino, .after = 0, .out = ents,
							 .max = 64 };

			rc = meta_dir_iter(t, in->ino, 0, ns_readdir_cb, &rc_ctx);
			if (rc && rc != 1)
				return rc;
			n = rc_ctx.n;
			eof = rc != 1;
			for (size_t i = 0; i < n; i++) {
				struct meta_inode child;

				if ((rc = meta_inode_get(t, ents[i].ino, &child)))
					return rc;
				if ((rc = ns_drop_subtree(c, t, &child, depth + 1)))
					return rc;
			}
			if (n == 0)
				break;
		}
	}
	rc = ns_key(c->ns, t, in->ino, key, sizeof key, &keylen);
	if (rc)
		return rc;
	if ((rc = meta_dirent_del(t, in->parent, in->name, in->name_len)))
		return rc;
	if ((rc = ns_drop_inode(c->ns, t, in, key, keylen, 0, false)))
		return rc;
	if ((rc = meta_change_add(t, in->ino, META_CH_GONE)))
		return rc;
	c->n_removed++;
	return ns_rm_note(c, in->ino, in->type);
}

static int ns_finish_txn(struct meta_txn *t, void *arg)
{
	struct ns_finish_ctx *c = arg;
	struct meta_inode d;
	int64_t now = meta_now_ns();
	bool dir_changed = false;
	int rc;

	c->n_gone = 0;
	c->n_rm = 0;
	c->n_removed = 0;
	ns_jobs_free(&c->js);
	rc = meta_inode_get(t, c->dir, &d);
	if (rc)
		return rc;
	rc = meta_dir_iter(t, c->dir, 0, ns_finish_collect, c);
	if (rc)
		return rc;
	for (size_t i = 0; i < c->n_gone; i++) {
		struct meta_inode in;
		char key[S3_KEY_MAX + 1];
		size_t keylen;
		bool clean;

		rc = meta_inode_get(t, c->gone[i].ino, &in);
		if (rc)
			return rc;
		/* Never in S3 (file-side new), reserved, or confirmed during this listing. */
		if (!(in.flags & META_F_IN_S3) || (in.flags & META_F_RESERVED) ||
		    in.synced_ns >= c->start)
			continue;
		/* A directory renamed here, or renamed away from here, while its objects are
		 * on their way between the two prefixes: the listing cannot tell. */
		if ((rc = ns_jobs_get(t, &c->js)))
			return rc;
		if (c->js.n) {
			rc = ns_key_in_dir(c->ns, t, c->dir, in.name, in.name_len,
					   in.type == META_T_DIR, key, sizeof key, &keylen);
			if (rc)
				return rc;
			if (ns_jobs_cover(&c->js, key, keylen, true, true))
				continue;
		}
		if (in.type == META_T_DIR) {
			rc = ns_subtree_clean(t, in.ino, 0, &clean);
			if (rc)
				return rc;
			clean = clean && in.sync == META_S_CLEAN;
		} else {
			clean = in.sync == META_S_CLEAN;
		}
		if (!clean) {
			/* Gone from S3 but holds file-side changes. A directory just stops
			 * being bound (its contents will recreate it); a file is a conflict. */
			if (in.type == META_T_DIR) {
				in.flags &= ~(uint32_t)(META_F_IN_S3 | META_F_MARKER);
			} else if (in.sync != META_S_CONFLICT) {
				in.sync = META_S_CONFLICT;
				if ((rc = meta_dirty_add(t, in.ino)))
					return rc;
			}
			if ((rc = meta_inode_put(t, &in)))
				return rc;
			continue;
		}
		if ((rc = ns_drop_subtree(c, t, &in, 0)))
			return rc;
		dir_changed = true;
		if (in.type == META_T_DIR && d.nlink > 2)
			d.nlink--;
	}
	/* ns_drop_subtree rewrote the directory's cookies; re-read it before updating. */
	{
		uint32_t nlink = d.nlink;

		if ((rc = meta_inode_get(t, c->dir, &d)))
			return rc;
		d.nlink = nlink;
	}
	if (!c->partial) {
		d.flags |= META_F_IMPORTED;
		d.synced_ns = now;
	}
	if (dir_changed) {
		ns_touch(&d, now, false);
		if ((rc = meta_change_add(t, c->dir, META_CH_DIR)))
			return rc;
	}
	return meta_inode_put(t, &d);
}

int ns_import_finish(struct ns *ns, uint64_t dir, int64_t listing_start_ns, ns_seen_fn seen,
		     void *seen_arg, ns_removed_fn removed, void *removed_arg, uint64_t *n_removed)
{
	struct ns_finish_ctx c = { .ns = ns, .dir = dir, .start = listing_start_ns, .seen = seen,
				   .seen_arg = seen_arg };
	int rc = meta_write(ns->me, ns_finish_txn, &c);

	if (rc == 0) {
		for (size_t i = 0; i < c.n_rm; i++)
			if (removed)
				removed(removed_arg, c.rm[i].ino, c.rm[i].type);
		if (n_removed)
			*n_removed = c.n_removed;
	}
	free(c.gone);
	free(c.rm);
	ns_jobs_free(&c.js);
	return rc;
}

struct ns_forget_arg {
	const char *name;
	size_t len;
};

static bool ns_forget_seen(void *arg, const char *name, size_t len)
{
	const struct ns_forget_arg *a = arg;

	return !(len == a->len && memcmp(name, a->name, len) == 0);
}

int ns_import_forget(struct ns *ns, uint64_t dir, const char *name, size_t len,
		     int64_t listing_start_ns, ns_removed_fn removed, void *removed_arg)
{
	struct ns_forget_arg a = { name, len };
	struct ns_finish_ctx c = { .ns = ns, .dir = dir, .start = listing_start_ns,
				   .seen = ns_forget_seen, .seen_arg = &a, .partial = true };
	int rc = meta_write(ns->me, ns_finish_txn, &c);

	if (rc == 0 && removed)
		for (size_t i = 0; i < c.n_rm; i++)
			removed(removed_arg, c.rm[i].ino, c.rm[i].type);
	free(c.gone);
	free(c.rm);
	ns_jobs_free(&c.js);
	return rc;
}

struct ns_obj_ctx {
	const uint64_t *inos;
	const struct s3_object_info *infos;
	const int *rcs;
	size_t n;
	bool fetched;
	const struct keymap *km;	/* its trust in S3's attributes (S3_Setid, ...) */
};

/* Does in show a client anything else than shown did (type, mode, owner, size, mtime)? */
static bool ns_object_shown_differs(const struct meta_inode *shown, const struct meta_inode *in)
{
	return shown->type != in->type || shown->mode != in->mode || shown->uid != in->uid ||
	       shown->gid != in->gid || shown->size != in->size ||
	       shown->mtime_ns != in->mtime_ns || shown->rdev != in->rdev;
}

static int ns_object_one(struct meta_txn *t, const struct keymap *km, uint64_t ino,
			 const struct s3_object_info *info, bool fetched)
{
	struct keymap_attrs a;
	struct meta_inode in, shown;
	const char *bad = NULL;
	int rc;

	rc = meta_inode_get(t, ino, &in);
	if (rc)
		return rc == ENOENT ? 0 : rc;
	/* Only a clean inode still based on this version takes it. */
	if (in.sync != META_S_CLEAN || strcmp(in.etag, info->etag) != 0)
		return 0;
	shown = in;
	(void)keymap_meta_import(km, info->meta, info->n_meta, &a, &bad);
	if (a.has_mode) {
		in.mode = a.mode & 07777;
		if ((rc = ns_retype(t, &in, &a, info->size)))
			return rc;
	}
	if (a.has_uid)
		in.uid = a.uid;
	if (a.has_gid)
		in.gid = a.gid;
	if (a.has_mtime)
		in.mtime_ns = ns_time_ns(a.mtime_sec, a.mtime_nsec);
	in.size = in.s3_size = info->size;
	if (info->last_modified)
		in.s3_mtime = info->last_modified;
	snprintf(in.version_id, sizeof in.version_id, "%s", info->version_id);
	in.flags |= META_F_ATTRS;
	if (fetched && !META_T_SPECIAL(in.type)) {
		in.data = META_D_FULL;
		if ((rc = meta_extents_put(t, in.ino, NULL)))
			return rc;
	}
	in.change++;
	if ((rc = meta_inode_put(t, &in)))
		return rc;
	/* The listing showed this version with default metadata: a client saw it otherwise. */
	return meta_change_add(t, in.ino, ns_object_shown_differs(&shown, &in) ? META_CH_S3 :
				META_CH_ATTR);
}

static int ns_objects_txn(struct meta_txn *t, void *arg)
{
	struct ns_obj_ctx *c = arg;
	int rc;

	for (size_t i = 0; i < c->n; i++) {
		if (c->rcs && c->rcs[i])
			continue;
		rc = ns_object_one(t, c->km, c->inos[i], &c->infos[i], c->fetched);
		if (rc)
			return rc;
	}
	return 0;
}

int ns_import_objects(struct ns *ns, const uint64_t *inos, const struct s3_object_info *infos,
		      const int *rcs, size_t n, bool data_fetched)
{
	struct ns_obj_ctx c = { inos, infos, rcs, n, data_fetched, ns->km };

	if (n == 0)
		return 0;
	return meta_write(ns->me, ns_objects_txn, &c);
}

/* ---- commit bookkeeping ---- */

/* Asked for by ns_commit_request, and the file is as it was then and unchanged for
 * NS_COMMIT_QUIET_NS, or has been left alone since for NS_COMMIT_SETTLE_NS (a change right
 * after a close, like the utimes of cp -p or tar, goes up with it; a writer still at work
 * keeps it back). The quiet time matters because a client also flushes (WRITE + COMMIT,
 * which look like an fsync) before it opens or stats a file it has unwritten data for: a
 * second writer's open right after would otherwise upload the first one's data alone. */
static bool ns_commit_requested(const struct meta_inode *in)
{
	int64_t idle = meta_now_ns() - in->dirty_since_ns;

	return in->due_gen && (in->due_gen == in->dirty_gen ? idle >= NS_COMMIT_QUIET_NS :
			       idle >= NS_COMMIT_SETTLE_NS);
}

struct ns_request_ctx {
	uint64_t ino;
	bool marked;
};

static int ns_request_txn(struct meta_txn *t, void *arg)
{
	struct ns_request_ctx *c = arg;
	struct meta_inode in;
	int rc;

	c->marked = false;
	rc = meta_inode_get(t, c->ino, &in);
	if (rc)
		return rc;
	if (in.type != META_T_REG || in.sync != META_S_DIRTY || (in.flags & META_F_RESERVED) ||
	    in.dirty_gen == 0)
		return 0;
	c->marked = true;
	if (in.due_gen == in.dirty_gen)
		return 0;	/* asked already (the client's COMMIT, then its CLOSE) */
	in.due_gen = in.dirty_gen;
	return meta_inode_put(t, &in);
}

int ns_commit_request(struct ns *ns, uint64_t ino, bool *marked)
{
	struct ns_request_ctx c = { ino, false };
	int rc = meta_write(ns->me, ns_request_txn, &c);

	if (marked)
		*marked = rc == 0 && c.marked;
	return rc;
}

struct ns_commit_ctx {
	struct ns *ns;
	uint64_t ino;
	int64_t min_age;
	struct ns_commit *c;
	const struct s3_object_info *info;
	bool settle;		/* ns_intent_done: the outcome of an earlier upload */
};

static int ns_prepare_txn(struct meta_txn *t, void *arg)
{
	struct ns_commit_ctx *x = arg;
	struct ns_commit *c = x->c;
	struct ns_jobs js = { 0 };
	struct meta_delete pd;
	struct meta_move *m = NULL;
	struct meta_inode other;
	bool found = false;
	int rc;

	c->moved = c->copy = c->keep_src = c->replaces = false;
	c->blocker = 0;
	c->src_len = 0;
	c->src_key[0] = c->src_etag[0] = '\0';
	rc = meta_inode_get(t, x->ino, &c->in);
	if (rc)
		goto out;
	rc = EALREADY;
	if (c->in.sync == META_S_CLEAN)
		goto out;
	rc = EBUSY;
	if (c->in.sync == META_S_CONFLICT)
		goto out;
	rc = EAGAIN;
	c->early = false;
	if (x->min_age && meta_now_ns() - c->in.dirty_since_ns < x->min_age) {
		if (!ns_commit_requested(&c->in))
			goto out;
		c->early = true;
	}
	c->ino = x->ino;
	c->dirty_gen = c->in.dirty_gen;
	rc = ns_key(x->ns, t, x->ino, c->key, sizeof c->key, &c->key_len);
	if (rc)
		goto out;
	/* The key may still hold an object in transit: below a directory being moved away,
	 * or the old object of another renamed file. Upload after it has moved. */
	if ((rc = ns_jobs_get(t, &js)))
		goto out;
	if (ns_jobs_cover(&js, c->key, c->key_len, true, false)) {
		rc = EAGAIN;
		goto out;
	}
	if ((rc = ns_key_holder(t, c->key, c->key_len, x->ino, &c->blocker, &other)))
		goto out;
	if (c->blocker) {
		rc = EAGAIN;
		goto out;
	}
	if (c->in.type != META_T_DIR) {
		bool moved;

		m = malloc(sizeof *m);
		if (!m) {
			rc = ENOMEM;
			goto out;
		}
		rc = ns_file_source(x->ns, t, &c->in, &js, c->src_key, &c->src_len, c->src_etag,
				    &found, &moved, m);
		if (rc)
			goto out;
		c->moved = found && (c->src_len != c->key_len ||
				     memcmp(c->src_key, c->key, c->key_len) != 0);
		c->copy = c->moved && moved && m->clean && m->dirty_gen == c->in.dirty_gen;
	}
	snprintf(c->prev_etag, sizeof c->prev_etag, "%s",
		 (c->in.flags & META_F_IN_S3) && !c->moved ? c->in.etag : "");
	if (!c->prev_etag[0] && c->in.type != META_T_DIR) {
		/* A file removed or replaced at this key leaves its object until the delete
		 * pass: this upload replaces it (conditional on it being unchanged). */
		rc = meta_delete_get(t, c->key, c->key_len, &pd);
		if (rc == 0) {
			snprintf(c->prev_etag, sizeof c->prev_etag, "%s", pd.etag);
			c->replaces = c->prev_etag[0] != '\0';
		} else if (rc != ENOENT) {
			goto out;
		}
	}
	if (!c->moved)
		c->src_len = 0;
	c->target_len = 0;
	rc = 0;
	if (c->in.type == META_T_LNK) {
		rc = meta_symlink_get(t, x->ino, c->target, sizeof c->target, &c->target_len);
		if (rc == ENOENT) {
			/* imported from S3 and never read: its target is its object's content */
			c->target_len = 0;
			rc = 0;
		}
	}
out:
	free(m);
	ns_jobs_free(&js);
	return rc;
}

/* The snapshot, and with it the end of the announcement (META_F_CHANGING): a write
 * after it announces itself again before its bytes, so a write cut short by a crash
 * after its bytes but before its record can never be in a file this commit marks
 * clean. Rarely a write transaction: only when the flag is set. */
static int ns_prepare_claim_txn(struct meta_txn *t, void *arg)
{
	struct ns_commit_ctx *x = arg;
	int rc = ns_prepare_txn(t, x);

	if (rc == 0 && (x->c->in.flags & META_F_CHANGING)) {
		x->c->in.flags &= ~(uint32_t)META_F_CHANGING;
		rc = meta_inode_put(t, &x->c->in);
	}
	return rc;
}

int ns_commit_prepare(struct ns *ns, uint64_t ino, int64_t min_age_ns, struct ns_commit *c)
{
	struct ns_commit_ctx x = { .ns = ns, .ino = ino, .min_age = min_age_ns, .c = c };
	int rc = meta_read(ns->me, ns_prepare_txn, &x);

	if (rc == 0 && (c->in.flags & META_F_CHANGING))
		rc = meta_write(ns->me, ns_prepare_claim_txn, &x);
	return rc;
}

/* The object of commit c (info) is at c->key, but the inode is no longer there (removed,
 * or renamed since): the object must go again (a pending delete). When settling an
 * intent, that is not the whole story: the key may still be the renamed file's source
 * (bound to it: a moves record or a directory rename will move it; the object is then
 * that source, taken as its base), or bound to another file (the object is that file's
 * now: left alone). */
static int ns_done_elsewhere(struct ns_commit_ctx *x, struct meta_txn *t, struct meta_inode *in,
			     bool have_in, int64_t now)
{
	const struct ns_commit *c = x->c;
	const struct s3_object_info *info = x->info;
	struct meta_move m;
	bool taken;
	int rc;

	if (x->settle && have_in && ns_key_binds(t, c->key, c->key_len, in->ino)) {
		bool same = in->dirty_gen == c->dirty_gen && in->sync != META_S_CONFLICT;

		snprintf(in->etag, sizeof in->etag, "%s", info->etag);
		snprintf(in->version_id, sizeof in->version_id, "%s", info->version_id);
		in->s3_size = c->in.size;
		in->synced_ns = now;
		rc = meta_move_get(t, in->ino, &m);
		if (rc == 0 && m.key_len == c->key_len && memcmp(m.key, c->key, m.key_len) == 0) {
			/* Its move starts from this object; unchanged since, a copy will do. */
			snprintf(m.etag, sizeof m.etag, "%s", info->etag);
			if (same) {
				m.clean = true;
				m.dirty_gen = in->dirty_gen;
			}
			if ((rc = meta_move_put(t, in->ino, &m)))
				return rc;
		} else if (rc == ENOENT) {
			/* Below a directory being moved: the job moves this object along. */
			in->flags |= META_F_IN_S3 | META_F_ATTRS;
			if (in->due_gen <= c->dirty_gen)
				in->due_gen = 0;
			if (same && in->sync == META_S_DIRTY) {
				in->sync = META_S_CLEAN;
				in->dirty_since_ns = 0;
				in->due_gen = 0;
				if ((rc = meta_dirty_del(t, in->ino)))
					return rc;
			}
		} else if (rc) {
			return rc;
		}
		return meta_inode_put(t, in);
	}
	if (x->settle) {
		if ((rc = ns_key_taken(t, c->key, c->key_len, c->ino, &taken)))
			return rc;
		if (taken)
			return 0;
	}
	return meta_delete_add(t, c->key, c->key_len, info->etag, now, c->ino);
}

static int ns_done_txn(struct meta_txn *t, void *arg)
{
	struct ns_commit_ctx *x = arg;
	const struct ns_commit *c = x->c;
	const struct s3_object_info *info = x->info;
	char key[S3_KEY_MAX + 1];
	size_t keylen;
	struct meta_inode in;
	int64_t now = meta_now_ns();
	int rc;

	/* The upload's intent is over: this transaction records its outcome. */
	if ((rc = meta_intent_del(t, c->key, c->key_len)))
		return rc;
	rc = meta_inode_get(t, c->ino, &in);
	if (rc == ENOENT || (rc == 0 && in.gen != c->in.gen)) {
		/* Removed while we uploaded: the object we just wrote must go again. */
		return ns_done_elsewhere(x, t, &in, false, now);
	}
	if (rc)
		return rc;
	rc = ns_key(x->ns, t, c->ino, key, sizeof key, &keylen);
	if (rc)
		return rc;
	if (keylen != c->key_len || memcmp(key, c->key, keylen) != 0) {
		/* Renamed while we uploaded: the new name commits later, this object goes. */
		return ns_done_elsewhere(x, t, &in, true, now);
	}
	if (x->settle && in.sync == META_S_CLEAN && in.dirty_gen != c->dirty_gen)
		return 0;	/* based on another version since (cannot happen): left alone */
	if (x->settle && in.sync == META_S_CONFLICT && !(in.flags & META_F_RESERVED)) {
		/* Marked by a listing that showed this very object before its record (a store
		 * of an older version; imports now skip it): no conflict after all. */
		in.sync = META_S_DIRTY;
	}
	if (c->moved) {
		/* The source object's part is over: it goes (after this upload exists), unless
		 * it changed in S3 meanwhile and stays as S3's version. */
		if (ns_key_binds(t, c->src_key, c->src_len, in.ino) &&
		    (rc = meta_key_del(t, c->src_key, c->src_len)))
			return rc;
		if (!c->keep_src &&
		    (rc = meta_delete_add(t, c->src_key, c->src_len, c->src_etag, 0, in.ino)))
			return rc;
		if ((rc = meta_move_del(t, in.ino)))
			return rc;
	}
	/* Whatever a pending delete of this key meant to remove, this upload replaced it. */
	rc = meta_delete_del(t, key, keylen);
	if (rc && rc != ENOENT)
		return rc;
	in.flags |= META_F_IN_S3 | META_F_ATTRS;
	if (in.type == META_T_DIR)
		in.flags |= META_F_MARKER;
	snprintf(in.etag, sizeof in.etag, "%s", info->etag);
	snprintf(in.version_id, sizeof in.version_id, "%s", info->version_id);
	in.s3_size = c->in.size;
	in.s3_mtime = info->last_modified ? info->last_modified : now / 1000000000LL;
	in.synced_ns = now;
	if (in.type != META_T_DIR && (rc = meta_key_put(t, key, keylen, in.ino)))
		return rc;
	/* A request the upload covers is done; one made after a change during the upload
	 * (due_gen past what was uploaded) keeps the file due. */
	if (in.due_gen <= c->dirty_gen)
		in.due_gen = 0;
	if (in.dirty_gen == c->dirty_gen && in.sync == META_S_DIRTY) {
		in.sync = META_S_CLEAN;
		in.dirty_since_ns = 0;
		in.due_gen = 0;
		if ((rc = meta_dirty_del(t, in.ino)))
			return rc;
	}
	return meta_inode_put(t, &in);
}

int ns_commit_done(struct ns *ns, const struct ns_commit *c, const struct s3_object_info *info)
{
	struct ns_commit_ctx x = { .ns = ns, .c = (struct ns_commit *)c, .info = info };

	return meta_write(ns->me, ns_done_txn, &x);
}

/* ---- upload intents ---- */

struct ns_token_ctx {
	unsigned char id[8];	/* the store's id: read, or the one to make */
	bool missing;		/* out (read): the store has none yet */
};

static int ns_store_id_get_txn(struct meta_txn *t, void *arg)
{
	struct ns_token_ctx *c = arg;
	size_t len = 0;
	int rc = meta_info_get(t, "store_id", c->id, sizeof c->id, &len);

	c->missing = rc == ENOENT;
	if (rc)
		return rc == ENOENT ? 0 : rc;
	return len == sizeof c->id ? 0 : S3F_E_META_CORRUPT;
}

/* Make the id unless another process made one meanwhile (then that one stays). */
static int ns_store_id_make_txn(struct meta_txn *t, void *arg)
{
	struct ns_token_ctx *c = arg;
	unsigned char have[8];
	int rc = meta_info_get(t, "store_id", have, sizeof have, NULL);

	if (rc == ENOENT)
		return meta_info_put(t, "store_id", c->id, sizeof c->id);
	return rc;
}

static int ns_random(unsigned char *buf, size_t n)
{
	while (n) {
		ssize_t got = getrandom(buf, n, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got < 0 ? errno : EIO;
		buf += got;
		n -= (size_t)got;
	}
	return 0;
}

int ns_token_new(struct ns *ns, char token[META_TOKEN_MAX])
{
	struct ns_token_ctx c = { { 0 }, false };
	unsigned char r[8];
	int rc = meta_read(ns->me, ns_store_id_get_txn, &c);

	if (rc == 0 && c.missing) {
		/* the first upload of this store: its id, random */
		rc = ns_random(c.id, sizeof c.id);
		if (rc == 0)
			rc = meta_write(ns->me, ns_store_id_make_txn, &c);
		if (rc == 0)
			rc = meta_read(ns->me, ns_store_id_get_txn, &c);
		if (rc == 0 && c.missing)
			rc = S3F_E_META_CORRUPT;
	}
	if (rc == 0)
		rc = ns_random(r, sizeof r);
	if (rc)
		return rc;
	snprintf(token, META_TOKEN_MAX,
		 "%02x%02x%02x%02x%02x%02x%02x%02x-%02x%02x%02x%02x%02x%02x%02x%02x", c.id[0],
		 c.id[1], c.id[2], c.id[3], c.id[4], c.id[5], c.id[6], c.id[7], r[0], r[1], r[2],
		 r[3], r[4], r[5], r[6], r[7]);
	return 0;
}

struct ns_intent_ctx {
	struct meta_intent *in;
	struct meta_intent *list;	/* ns_intent_list */
	size_t n, cap;
};

static int ns_intent_put_txn(struct meta_txn *t, void *arg)
{
	return meta_intent_put(t, ((struct ns_intent_ctx *)arg)->in);
}

int ns_intent_begin(struct ns *ns, const struct ns_commit *c, enum meta_intent_kind kind,
		    const char *token, const char *etag, uint64_t size)
{
	struct meta_intent *in = calloc(1, sizeof *in);
	struct ns_intent_ctx x = { in, NULL, 0, 0 };
	int rc;

	if (!in)
		return ENOMEM;
	in->kind = (uint8_t)kind;
	in->flags = (c->moved ? META_INTENT_MOVED : 0) | (c->keep_src ? META_INTENT_KEEP_SRC : 0);
	in->ino = c->ino;
	in->gen = c->in.gen;
	in->dirty_gen = c->dirty_gen;
	in->size = size;
	in->when_ns = meta_now_ns();
	snprintf(in->token, sizeof in->token, "%s", token ? token : "");
	snprintf(in->etag, sizeof in->etag, "%s", etag ? etag : "");
	if (c->moved) {
		memcpy(in->src_key, c->src_key, c->src_len);
		in->src_key[c->src_len] = '\0';
		in->src_len = c->src_len;
		snprintf(in->src_etag, sizeof in->src_etag, "%s", c->src_etag);
	}
	memcpy(in->key, c->key, c->key_len);
	in->key[c->key_len] = '\0';
	in->key_len = c->key_len;
	rc = meta_write(ns->me, ns_intent_put_txn, &x);
	/* Durable before the request: a power cut after the object landed must find it. */
	if (rc == 0)
		rc = meta_sync(ns->me);
	free(in);
	return rc;
}

static int ns_intent_collect(void *arg, const struct meta_intent *in)
{
	struct ns_intent_ctx *x = arg;

	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 4;
		struct meta_intent *p = realloc(x->list, cap * sizeof *p);

		if (!p)
			return ENOMEM;
		x->list = p;
		x->cap = cap;
	}
	x->list[x->n++] = *in;
	return 0;
}

static int ns_intent_list_txn(struct meta_txn *t, void *arg)
{
	((struct ns_intent_ctx *)arg)->n = 0;
	return meta_intent_iter(t, ns_intent_collect, arg);
}

int ns_intent_list(struct ns *ns, struct meta_intent **out, size_t *n)
{
	struct ns_intent_ctx x = { NULL, NULL, 0, 0 };
	int rc = meta_read(ns->me, ns_intent_list_txn, &x);

	if (rc) {
		free(x.list);
		x.list = NULL;
		x.n = 0;
	}
	*out = x.list;
	*n = x.n;
	return rc;
}

struct ns_intent_get_ctx {
	const char *key;
	size_t len;
	struct meta_intent *out;
};

static int ns_intent_get_txn(struct meta_txn *t, void *arg)
{
	struct ns_intent_get_ctx *x = arg;

	return meta_intent_get(t, x->key, x->len, x->out);
}

int ns_intent_get(struct ns *ns, const char *key, size_t len, struct meta_intent *out)
{
	struct ns_intent_get_ctx x = { key, len, out };

	return meta_read(ns->me, ns_intent_get_txn, &x);
}

bool ns_intent_matches(const struct meta_intent *in, const struct s3_object_info *info)
{
	/* The token names this upload alone: another client's object does not carry it
	 * (one that copied ours with its metadata copied our bytes too; one that kept our
	 * metadata over other bytes differs in ETag or size). */
	for (unsigned i = 0; i < info->n_meta && i < S3_META_MAX; i++)
		if (strcmp(info->meta[i].name, NS_TOKEN_META) == 0)
			return strcmp(info->meta[i].value, in->token) == 0 &&
			       ns_intent_seen(in, info->etag, info->size);
	return false;
}

int ns_intent_done(struct ns *ns, const struct meta_intent *in, const struct s3_object_info *info)
{
	struct ns_commit *c = calloc(1, sizeof *c);
	struct ns_commit_ctx x = { .ns = ns, .info = info, .settle = true };
	struct s3_object_info oi = *info;
	int rc;

	if (!c)
		return ENOMEM;
	/* The commit as it was when the intent was recorded, as far as ns_done_txn reads it. */
	c->ino = in->ino;
	c->in.ino = in->ino;
	c->in.gen = in->gen;
	c->in.size = in->size;
	c->dirty_gen = in->dirty_gen;
	memcpy(c->key, in->key, in->key_len + 1);
	c->key_len = in->key_len;
	c->moved = (in->flags & META_INTENT_MOVED) != 0;
	c->keep_src = (in->flags & META_INTENT_KEEP_SRC) != 0;
	if (c->moved) {
		memcpy(c->src_key, in->src_key, in->src_len + 1);
		c->src_len = in->src_len;
		snprintf(c->src_etag, sizeof c->src_etag, "%s", in->src_etag);
	}
	oi.size = in->size;
	x.c = c;
	x.info = &oi;
	rc = meta_write(ns->me, ns_done_txn, &x);
	free(c);
	return rc;
}

struct ns_intent_drop_ctx {
	const struct meta_intent *in;
};

static int ns_intent_drop_txn(struct meta_txn *t, void *arg)
{
	const struct meta_intent *in = ((struct ns_intent_drop_ctx *)arg)->in;
	struct meta_intent *cur = malloc(sizeof *cur);
	int rc;

	if (!cur)
		return ENOMEM;
	rc = meta_intent_get(t, in->key, in->key_len, cur);
	if (rc == 0 && strcmp(cur->token, in->token) == 0)
		rc = meta_intent_del(t, in->key, in->key_len);
	else if (rc == ENOENT)
		rc = 0;
	free(cur);
	return rc;
}

int ns_intent_drop(struct ns *ns, const struct meta_intent *in)
{
	struct ns_intent_drop_ctx x = { in };

	return meta_write(ns->me, ns_intent_drop_txn, &x);
}

struct ns_deldone_ctx {
	const char *key;
	size_t len;
};

static int ns_deldone_txn(struct meta_txn *t, void *arg)
{
	struct ns_deldone_ctx *c = arg;
	int rc = meta_delete_del(t, c->key, c->len);

	return rc == ENOENT ? 0 : rc;
}

int ns_delete_done(struct ns *ns, const char *key, size_t len)
{
	struct ns_deldone_ctx c = { key, len };

	return meta_write(ns->me, ns_deldone_txn, &c);
}

struct ns_dellost_ctx {
	const char *key;
	size_t len;
	int64_t when;
	const char *etag;	/* what the key holds in S3 */
	uint64_t size;
	bool dropped;
};

static int ns_dellost_txn(struct meta_txn *t, void *arg)
{
	struct ns_dellost_ctx *c = arg;
	struct meta_delete pd;
	bool ours;
	int rc;

	c->dropped = false;
	rc = meta_delete_get(t, c->key, c->len, &pd);
	/* Gone: a listing showed S3's version and reported it. Another time: the name
	 * was removed again since, a new delete. */
	if (rc == ENOENT || (rc == 0 && pd.when_ns != c->when))
		return 0;
	if (rc)
		return rc;
	/* Our own upload, removed while it ran (its record comes after the object): the
	 * delete waits for that record, which gives it the object's ETag. */
	if ((rc = ns_intent_covers(t, c->key, c->len, 0, c->etag, c->size, &ours)) || ours)
		return rc;
	if ((rc = meta_delete_del(t, c->key, c->len)) == 0)
		c->dropped = true;
	return rc;
}

int ns_delete_lost(struct ns *ns, const char *key, size_t len, int64_t when_ns,
		   const char *s3_etag, uint64_t s3_size, bool *dropped)
{
	struct ns_dellost_ctx c = { key, len, when_ns, s3_etag, s3_size, false };
	int rc = meta_write(ns->me, ns_dellost_txn, &c);

	*dropped = rc == 0 && c.dropped;
	return rc;
}

/* ---- conflicts: S3 wins ----
 *
 * The loser is the inode itself, moved: its data file, extents, handle and open states
 * come along untouched, so nothing is copied and a client still writing through an open
 * file keeps writing into the lost+found copy (never uploaded) instead of having S3's
 * version change under it. Its name and key are freed in the same transaction; S3's
 * version comes in by the next listing of the directory, like any object.
 */

static const char ns_hex[] = "0123456789ABCDEF";

size_t ns_lostfound_name(const char *rel, size_t rel_len, int64_t now_ns, unsigned nth,
			 char buf[META_NAME_MAX + 1])
{
	char suffix[48], esc[3 * S3_KEY_MAX + 1];
	time_t secs = (time_t)(now_ns / 1000000000LL);
	struct tm tm;
	size_t n = 0, slen, start = 0, room;

	gmtime_r(&secs, &tm);
	slen = strftime(suffix, sizeof suffix, ".%Y%m%dT%H%M%SZ", &tm);
	if (nth > 1)
		slen += (size_t)snprintf(suffix + slen, sizeof suffix - slen, ".%u", nth);
	for (size_t i = 0; i < rel_len && i < S3_KEY_MAX; i++) {
		unsigned char ch = (unsigned char)rel[i];

		if (ch == '/' || ch == '%') {
			esc[n++] = '%';
			esc[n++] = ns_hex[ch >> 4];
			esc[n++] = ns_hex[ch & 15];
		} else {
			esc[n++] = (char)ch;
		}
	}
	room = META_NAME_MAX - slen;
	if (n > room) {
		/* Keep the end: the file name says more than the top directories. Never start
		 * inside an escape or a UTF-8 sequence. */
		start = n - (room - 3);
		while (start < n && ((esc[start] & 0xC0) == 0x80 ||
				     (start >= 1 && esc[start - 1] == '%') ||
				     (start >= 2 && esc[start - 2] == '%')))
			start++;
		memcpy(buf, "...", 3);
		memcpy(buf + 3, esc + start, n - start);
		n = 3 + (n - start);
	} else {
		memcpy(buf, esc, n);
	}
	memcpy(buf + n, suffix, slen);
	n += slen;
	buf[n] = '\0';
	return n;
}

struct ns_conflict_ctx {
	struct ns *ns;
	uint64_t ino;
	struct ns_conflict *c;			/* prepare: filled; resolve/same: read */
	const struct s3_object_info *info;	/* same */
	int64_t now;
	struct ns_conflict_result *out;
	char rel[S3_KEY_MAX + 1];
};

static int ns_conflict_prepare_txn(struct meta_txn *t, void *arg)
{
	struct ns_conflict_ctx *x = arg;
	struct ns_conflict *c = x->c;
	int rc;

	rc = meta_inode_get(t, x->ino, &c->in);
	if (rc)
		return rc;
	if (c->in.sync != META_S_CONFLICT || c->in.type == META_T_DIR ||
	    (c->in.flags & META_F_RESERVED))
		return EALREADY;
	c->ino = c->in.ino;
	c->gen = c->in.gen;
	c->dirty_gen = c->in.dirty_gen;
	c->parent = c->in.parent;
	return ns_key(x->ns, t, c->ino, c->key, sizeof c->key, &c->key_len);
}

int ns_conflict_prepare(struct ns *ns, uint64_t ino, struct ns_conflict *c)
{
	struct ns_conflict_ctx x = { .ns = ns, .ino = ino, .c = c };

	return meta_read(ns->me, ns_conflict_prepare_txn, &x);
}

/* Still the inode, in conflict, at the key prepare saw? 0, EALREADY, EAGAIN, ENOENT. */
static int ns_conflict_check(struct ns_conflict_ctx *x, struct meta_txn *t, struct meta_inode *in)
{
	const struct ns_conflict *c = x->c;
	char key[S3_KEY_MAX + 1];
	size_t keylen;
	int rc;

	rc = meta_inode_get(t, c->ino, in);
	if (rc)
		return rc;
	if (in->gen != c->gen)
		return ENOENT;
	if (in->sync != META_S_CONFLICT)
		return EALREADY;
	rc = ns_key(x->ns, t, c->ino, key, sizeof key, &keylen);
	if (rc)
		return rc;
	if (keylen != c->key_len || memcmp(key, c->key, keylen) != 0)
		return EAGAIN;
	return 0;
}

/* The export root's lost+found, created on first use. */
static int ns_lostfound_get(struct meta_txn *t, int64_t now, uint64_t *ino, bool *created)
{
	struct meta_inode root, lf;
	struct meta_dirent de;
	uint32_t gen;
	int rc;

	*created = false;
	rc = meta_dirent_get(t, META_ROOT_INO, NS_LOSTFOUND, sizeof NS_LOSTFOUND - 1, &de);
	if (rc == 0) {
		*ino = de.ino;
		return 0;
	}
	if (rc != ENOENT)
		return rc;
	if ((rc = meta_inode_get(t, META_ROOT_INO, &root)) || (rc = meta_ino_alloc(t, ino, &gen)))
		return rc;
	meta_inode_init(&lf, *ino, gen, META_ROOT_INO, META_T_DIR, 0700, 0, 0, now);
	if ((rc = meta_inode_set_name(&lf, NS_LOSTFOUND, sizeof NS_LOSTFOUND - 1)))
		return rc;
	/* Never in S3, nothing to list: imported (empty) from the start. */
	lf.flags |= META_F_RESERVED | META_F_IMPORTED;
	if ((rc = meta_inode_put(t, &lf)))
		return rc;
	ns_touch(&root, now, true);
	root.nlink++;
	if ((rc = meta_dirent_add(t, &root, NS_LOSTFOUND, sizeof NS_LOSTFOUND - 1, *ino,
				  META_T_DIR, NULL)) ||
	    (rc = meta_change_add(t, META_ROOT_INO, META_CH_DIR)))
		return rc;
	*created = true;
	return 0;
}

/* The inode's path relative to the export root, '/'-separated, into x->rel. */
static int ns_conflict_relpath(struct ns_conflict_ctx *x, struct meta_txn *t, size_t *len)
{
	char buf[S3_KEY_MAX + 1];
	const char *comp[KEYMAP_DEPTH_MAX];
	size_t clen[KEYMAP_DEPTH_MAX], n, used = 0;
	int rc;

	rc = ns_path(x->ns, t, x->c->ino, buf, sizeof buf, comp, clen, &n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (used + clen[i] + 1 > sizeof x->rel)
			return ENAMETOOLONG;
		if (i)
			x->rel[used++] = '/';
		memcpy(x->rel + used, comp[i], clen[i]);
		used += clen[i];
	}
	x->rel[used] = '\0';
	*len = used;
	return 0;
}

#define NS_CONFLICTS "conflicts"	/* uint64, cumulative */

int ns_conflicts_add(struct ns *ns, uint64_t n)
{
	return ns_counter_add(ns, NS_CONFLICTS, n);
}

int ns_conflicts_count(struct ns *ns, uint64_t *n)
{
	return ns_counter_get(ns, NS_CONFLICTS, n);
}

static int ns_conflict_resolve_txn(struct meta_txn *t, void *arg)
{
	struct ns_conflict_ctx *x = arg;
	struct ns_conflict_result *o = x->out;
	struct ns_jobs js = { 0 };
	struct meta_inode in, dir, lfd;
	struct meta_dirent de;
	char etag[S3_ETAG_MAX], *src = NULL;
	size_t rel_len, srclen;
	bool found, moved;
	int rc;

	memset(o, 0, sizeof *o);
	if ((rc = ns_conflict_check(x, t, &in)) || (rc = ns_conflict_relpath(x, t, &rel_len)))
		goto out;
	if ((rc = ns_lostfound_get(t, x->now, &o->lf_dir, &o->created_lf)))
		goto out;
	for (unsigned nth = 1;; nth++) {
		o->lf_len = ns_lostfound_name(x->rel, rel_len, x->now, nth, o->lf_name);
		rc = meta_dirent_get(t, o->lf_dir, o->lf_name, o->lf_len, &de);
		if (rc == ENOENT)
			break;
		if (rc)
			goto out;
		if (nth == 100000) {
			rc = EEXIST;
			goto out;
		}
	}

	/* Free its key: the object there is S3's, and shows through the next listing. A
	 * renamed file also lets go of the old key its object was still at. */
	src = malloc(S3_KEY_MAX + 1);
	rc = ENOMEM;
	if (!src)
		goto out;
	if ((rc = ns_file_source(x->ns, t, &in, &js, src, &srclen, etag, &found, &moved, NULL)))
		goto out;
	if (found && ns_key_binds(t, src, srclen, in.ino) && (rc = meta_key_del(t, src, srclen)))
		goto out;
	if (ns_key_binds(t, x->c->key, x->c->key_len, in.ino) &&
	    (rc = meta_key_del(t, x->c->key, x->c->key_len)))
		goto out;
	if ((rc = meta_move_del(t, in.ino)) || (rc = meta_dirty_del(t, in.ino)))
		goto out;

	/* Out of its directory ... */
	if ((rc = meta_inode_get(t, in.parent, &dir)) ||
	    (rc = meta_dirent_del(t, in.parent, in.name, in.name_len)))
		goto out;
	ns_touch(&dir, x->now, true);
	if ((rc = meta_inode_put(t, &dir)) || (rc = meta_change_add(t, dir.ino, META_CH_DIR)))
		goto out;

	/* ... into lost+found, as s3files' own. */
	in.parent = o->lf_dir;
	if ((rc = meta_inode_set_name(&in, o->lf_name, o->lf_len)))
		goto out;
	in.flags &= ~(uint32_t)(META_F_IN_S3 | META_F_MARKER);
	in.flags |= META_F_RESERVED;
	if (in.type == META_T_REG && in.data != META_D_FULL && in.size > 0) {
		in.flags |= META_F_LOST;
		o->lost_bytes = true;
	}
	in.sync = META_S_CLEAN;
	in.dirty_since_ns = 0;
	in.etag[0] = in.version_id[0] = '\0';
	ns_touch(&in, x->now, false);
	if ((rc = meta_inode_put(t, &in)) || (rc = meta_inode_get(t, o->lf_dir, &lfd)))
		goto out;
	ns_touch(&lfd, x->now, true);
	if ((rc = meta_dirent_add(t, &lfd, o->lf_name, o->lf_len, in.ino, in.type, NULL)) ||
	    (rc = meta_change_add(t, lfd.ino, META_CH_DIR)) ||
	    (rc = meta_change_add(t, in.ino, META_CH_S3)))
		goto out;
	rc = ns_counter_bump(t, NS_CONFLICTS, 1);
out:
	free(src);
	ns_jobs_free(&js);
	return rc;
}

int ns_conflict_resolve(struct ns *ns, const struct ns_conflict *c, int64_t now_ns,
			struct ns_conflict_result *out)
{
	struct ns_conflict_ctx *x = calloc(1, sizeof *x);
	int rc;

	if (!x)
		return ENOMEM;
	x->ns = ns;
	x->c = (struct ns_conflict *)c;
	x->now = now_ns;
	x->out = out;
	rc = meta_write(ns->me, ns_conflict_resolve_txn, x);
	free(x);
	return rc;
}

static int ns_conflict_same_txn(struct meta_txn *t, void *arg)
{
	struct ns_conflict_ctx *x = arg;
	struct meta_inode in;
	struct meta_move *m;
	bool taken;
	int rc;

	if ((rc = ns_conflict_check(x, t, &in)))
		return rc;
	if (in.dirty_gen != x->c->dirty_gen)
		return EAGAIN;
	/* A renamed file's object is elsewhere, and a key bound to another inode is that
	 * one's: not the simple case of a lost commit record. */
	if ((rc = ns_key_taken(t, x->c->key, x->c->key_len, in.ino, &taken)))
		return rc;
	if (taken)
		return EAGAIN;
	m = malloc(sizeof *m);
	if (!m)
		return ENOMEM;
	rc = meta_move_get(t, in.ino, m);
	free(m);
	if (rc == 0)
		return EAGAIN;
	if (rc != ENOENT)
		return rc;
	in.sync = META_S_CLEAN;
	in.dirty_since_ns = 0;
	in.flags |= META_F_IN_S3;
	snprintf(in.etag, sizeof in.etag, "%s", x->info->etag);
	snprintf(in.version_id, sizeof in.version_id, "%s", x->info->version_id);
	in.s3_size = x->info->size;
	in.s3_mtime = x->info->last_modified;
	in.synced_ns = x->now;
	if ((rc = meta_key_put(t, x->c->key, x->c->key_len, in.ino)) ||
	    (rc = meta_dirty_del(t, in.ino)))
		return rc;
	rc = meta_delete_del(t, x->c->key, x->c->key_len);
	if (rc && rc != ENOENT)
		return rc;
	return meta_inode_put(t, &in);
}

int ns_conflict_same(struct ns *ns, const struct ns_conflict *c, const struct s3_object_info *info)
{
	struct ns_conflict_ctx *x = calloc(1, sizeof *x);
	int rc;

	if (!x)
		return ENOMEM;
	x->ns = ns;
	x->c = (struct ns_conflict *)c;
	x->info = info;
	x->now = meta_now_ns();
	rc = meta_write(ns->me, ns_conflict_same_txn, x);
	free(x);
	return rc;
}

struct ns_backlog_ctx {
	uint64_t dirty, deletes;
};

static int ns_count_delete(void *arg, const struct meta_delete *d)
{
	(void)d;
	((struct ns_backlog_ctx *)arg)->deletes++;
	return 0;
}

static int ns_backlog_txn(struct meta_txn *t, void *arg)
{
	struct ns_backlog_ctx *c = arg;
	int rc = meta_dirty_count(t, &c->dirty);

	if (rc)
		return rc;
	return meta_delete_iter(t, ns_count_delete, c);
}

int ns_backlog(struct ns *ns, uint64_t *dirty, uint64_t *deletes)
{
	struct ns_backlog_ctx c = { 0, 0 };
	int rc = meta_read(ns->me, ns_backlog_txn, &c);

	*dirty = c.dirty;
	*deletes = c.deletes;
	return rc;
}

/* ---- sync state of a subtree (wait-synced) ---- */

/* Walk up from ino; parents are at most KEYMAP_DEPTH_MAX deep. */
static int ns_under_txn(struct meta_txn *t, uint64_t ino, uint64_t under, bool *inside)
{
	*inside = false;
	if (under == META_ROOT_INO) {
		*inside = true;
		return 0;
	}
	for (int depth = 0; depth <= KEYMAP_DEPTH_MAX + 1; depth++) {
		struct meta_inode in;
		int rc;

		if (ino == under) {
			*inside = true;
			return 0;
		}
		if (ino == META_ROOT_INO)
			return 0;
		rc = meta_inode_get(t, ino, &in);
		if (rc)
			return rc == ENOENT ? 0 : rc;
		ino = in.parent;
	}
	return 0;
}

struct ns_under_ctx {
	uint64_t ino, under;
	bool inside;
};

static int ns_is_under_txn(struct meta_txn *t, void *arg)
{
	struct ns_under_ctx *c = arg;

	return ns_under_txn(t, c->ino, c->under, &c->inside);
}

int ns_is_under(struct ns *ns, uint64_t ino, uint64_t under, bool *inside)
{
	struct ns_under_ctx c = { ino, under, false };
	int rc = meta_read(ns->me, ns_is_under_txn, &c);

	*inside = c.inside;
	return rc;
}

struct ns_pending_ctx {
	struct ns *ns;
	struct meta_txn *t;
	uint64_t under;
	char prefix[S3_KEY_MAX + 1];	/* key prefix of `under` (dirs end in '/') */
	size_t prefix_len;
	bool all;			/* under is the root: every delete counts */
	struct ns_pending *out;
};

static int ns_pending_dirty(void *arg, uint64_t ino)
{
	struct ns_pending_ctx *c = arg;
	struct meta_inode in;
	bool inside;
	int rc = ns_under_txn(c->t, ino, c->under, &inside);

	if (rc || !inside)
		return rc;
	rc = meta_inode_get(c->t, ino, &in);
	if (rc)
		return rc == ENOENT ? 0 : rc;
	c->out->dirty++;
	if (in.sync == META_S_CONFLICT) {
		c->out->conflicts++;
		if (!c->out->first_conflict)
			c->out->first_conflict = ino;
	}
	return 0;
}

static int ns_pending_delete(void *arg, const struct meta_delete *d)
{
	struct ns_pending_ctx *c = arg;

	/* A pending delete of a key below `under` (or of its own key: a file replaced by
	 * another or a directory whose marker goes). */
	if (c->all || (d->key_len >= c->prefix_len &&
		       memcmp(d->key, c->prefix, c->prefix_len) == 0))
		c->out->deletes++;
	return 0;
}

static int ns_pending_txn(struct meta_txn *t, void *arg)
{
	struct ns_pending_ctx *c = arg;
	int rc;

	c->t = t;
	memset(c->out, 0, sizeof *c->out);
	c->all = c->under == META_ROOT_INO;
	if (!c->all) {
		rc = ns_key(c->ns, t, c->under, c->prefix, sizeof c->prefix, &c->prefix_len);
		if (rc)
			return rc;
	}
	rc = meta_dirty_iter(t, ns_pending_dirty, c);
	if (rc)
		return rc;
	return meta_delete_iter(t, ns_pending_delete, c);
}

int ns_subtree_pending(struct ns *ns, uint64_t under, struct ns_pending *out)
{
	struct ns_pending_ctx *c = calloc(1, sizeof *c);
	int rc;

	if (!c)
		return ENOMEM;
	c->ns = ns;
	c->under = under;
	c->out = out;
	rc = meta_read(ns->me, ns_pending_txn, c);
	free(c);
	return rc;
}

/* One directory's entries, read in one transaction. */
struct ns_walk_ent {
	uint64_t ino;
	uint8_t type;
	uint16_t name_len;
	char name[META_NAME_MAX + 1];
};

struct ns_walk_dir {
	uint64_t dir;
	struct ns_walk_ent *e;
	size_t n, cap;
};

static int ns_walk_collect(void *arg, const struct meta_dirent *de)
{
	struct ns_walk_dir *w = arg;

	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		struct ns_walk_ent *p = realloc(w->e, cap * sizeof *p);

		if (!p)
			return ENOMEM;
		w->e = p;
		w->cap = cap;
	}
	w->e[w->n].ino = de->ino;
	w->e[w->n].type = de->type;
	w->e[w->n].name_len = (uint16_t)de->name_len;
	memcpy(w->e[w->n].name, de->name, de->name_len);
	w->e[w->n].name[de->name_len] = '\0';
	w->n++;
	return 0;
}

static int ns_walk_txn(struct meta_txn *t, void *arg)
{
	((struct ns_walk_dir *)arg)->n = 0;
	return meta_dir_iter(t, ((struct ns_walk_dir *)arg)->dir, 0, ns_walk_collect, arg);
}

struct ns_getino_ctx {
	uint64_t ino;
	struct meta_inode *in;
};

static int ns_getino_txn(struct meta_txn *t, void *arg)
{
	struct ns_getino_ctx *c = arg;

	return meta_inode_get(t, c->ino, c->in);
}

/* path holds the relative path of dir (len bytes); capacity S3_KEY_MAX + 1. */
static int ns_walk(struct ns *ns, uint64_t dir, char *path, size_t len, int depth,
		   ns_file_fn fn, void *arg)
{
	struct ns_walk_dir w = { .dir = dir };
	struct meta_inode *in = malloc(sizeof *in);
	int rc;

	if (!in)
		return ENOMEM;
	if (depth > KEYMAP_DEPTH_MAX) {
		rc = S3F_E_META_CORRUPT;
		goto out;
	}
	rc = meta_read(ns->me, ns_walk_txn, &w);
	for (size_t i = 0; rc == 0 && i < w.n; i++) {
		struct ns_getino_ctx g = { w.e[i].ino, in };
		size_t n = len + (len ? 1 : 0) + w.e[i].name_len;

		if (n > S3_KEY_MAX)
			continue;	/* cannot exist as a key either */
		if (len)
			path[len] = '/';
		memcpy(path + len + (len ? 1 : 0), w.e[i].name, w.e[i].name_len);
		path[n] = '\0';
		if (w.e[i].type == META_T_DIR) {
			rc = ns_walk(ns, w.e[i].ino, path, n, depth + 1, fn, arg);
		} else {
			rc = meta_read(ns->me, ns_getino_txn, &g);
			if (rc == ENOENT) {
				rc = 0;	/* removed meanwhile */
			} else if (rc == 0) {
				rc = fn(arg, path, n, in);
			}
		}
		path[len] = '\0';
	}
out:
	free(w.e);
	free(in);
	return rc;
}

int ns_subtree_files(struct ns *ns, uint64_t under, ns_file_fn fn, void *arg)
{
	struct meta_inode *in = malloc(sizeof *in);
	struct ns_getino_ctx g = { under, in };
	char *path = NULL;
	int rc;

	if (!in)
		return ENOMEM;
	rc = meta_read(ns->me, ns_getino_txn, &g);
	if (rc)
		goto out;
	if (in->type != META_T_DIR) {
		rc = fn(arg, "", 0, in);
		goto out;
	}
	path = malloc(S3_KEY_MAX + 1);
	if (!path) {
		rc = ENOMEM;
		goto out;
	}
	path[0] = '\0';
	rc = ns_walk(ns, under, path, 0, 0, fn, arg);
out:
	free(path);
	free(in);
	return rc;
}

/* ---- eviction ---- */

struct ns_evict_ctx {
	uint64_t ino;
	bool had_inode;
};

static int ns_evict_txn(struct meta_txn *t, void *arg)
{
	struct ns_evict_ctx *c = arg;
	struct meta_inode in;
	int rc = meta_inode_get(t, c->ino, &in);

	c->had_inode = rc == 0;
	if (rc == ENOENT)
		return 0;
	if (rc)
		return rc;
	/* Only data that S3 holds too: never dirty or conflicting data, never a file that was
	 * not uploaded yet, never s3files' own (lost+found). */
	if (in.type != META_T_REG || in.sync != META_S_CLEAN || !(in.flags & META_F_IN_S3) ||
	    (in.flags & META_F_RESERVED) || !in.etag[0])
		return EBUSY;
	if (in.data == META_D_NONE)
		return 0;
	in.data = META_D_NONE;
	if ((rc = meta_extents_put(t, in.ino, NULL)))
		return rc;
	return meta_inode_put(t, &in);
}

int ns_data_evicting(struct ns *ns, uint64_t ino, bool *had_inode)
{
	struct ns_evict_ctx c = { ino, false };
	int rc = meta_write(ns->me, ns_evict_txn, &c);

	if (had_inode)
		*had_inode = c.had_inode;
	return rc;
}

#define NS_EVICT_WANTED "evict_wanted"	/* int64 when (ns), uint64 bytes */

struct ns_evict_req {
	int64_t when_ns;
	uint64_t bytes;
};

static int ns_evict_req_txn(struct meta_txn *t, void *arg)
{
	return meta_info_put(t, NS_EVICT_WANTED, arg, sizeof(struct ns_evict_req));
}

int ns_evict_request(struct ns *ns, int64_t now_ns, uint64_t bytes)
{
	struct ns_evict_req r = { now_ns, bytes };

	return meta_write(ns->me, ns_evict_req_txn, &r);
}

static int ns_evict_reqd_txn(struct meta_txn *t, void *arg)
{
	size_t len = 0;
	int rc = meta_info_get(t, NS_EVICT_WANTED, arg, sizeof(struct ns_evict_req), &len);

	if (rc == ENOENT || (rc == 0 && len != sizeof(struct ns_evict_req))) {
		memset(arg, 0, sizeof(struct ns_evict_req));
		return 0;
	}
	return rc;
}

int ns_evict_requested(struct ns *ns, int64_t *when_ns, uint64_t *bytes)
{
	struct ns_evict_req r = { 0, 0 };
	int rc = meta_read(ns->me, ns_evict_reqd_txn, &r);

	*when_ns = r.when_ns;
	*bytes = r.bytes;
	return rc;
}

#define NS_EVICT_FREED "evict_freed"	/* uint64 bytes, cumulative */

int ns_evict_freed_add(struct ns *ns, uint64_t bytes)
{
	return ns_counter_add(ns, NS_EVICT_FREED, bytes);
}

int ns_evict_freed(struct ns *ns, uint64_t *total)
{
	return ns_counter_get(ns, NS_EVICT_FREED, total);
}

#define NS_READ_STATS "read_stats"	/* little-endian uint64 per field, in this order */
#define NS_READ_STORED_MAX 32		/* fields a newer version may have stored */

static const size_t ns_read_off[] = {
	offsetof(struct ns_read_stats, bypass_bytes),
	offsetof(struct ns_read_stats, tier_bytes),
	offsetof(struct ns_read_stats, fetched_bytes),
	offsetof(struct ns_read_stats, streams),
	offsetof(struct ns_read_stats, aborted),
	offsetof(struct ns_read_stats, refused),
};
#define NS_READ_FIELDS (sizeof ns_read_off / sizeof ns_read_off[0])

static uint64_t *ns_read_field(struct ns_read_stats *st, size_t i)
{
	return (uint64_t *)(void *)((char *)st + ns_read_off[i]);
}

/* A record of fewer fields (an older version) reads the rest as zero; fields of a newer
 * version beyond ours are kept as they are by neither side (they restart from zero). */
static int ns_read_stats_load(struct meta_txn *t, struct ns_read_stats *out)
{
	unsigned char buf[NS_READ_STORED_MAX * 8];
	size_t len = 0;
	int rc = meta_info_get(t, NS_READ_STATS, buf, sizeof buf, &len);

	memset(out, 0, sizeof *out);
	if (rc == ENOENT)
		return 0;
	if (rc)
		return rc;
	for (size_t i = 0; i < NS_READ_FIELDS && (i + 1) * 8 <= len; i++) {
		uint64_t v = 0;

		for (int k = 7; k >= 0; k--)
			v = v << 8 | buf[i * 8 + (size_t)k];
		*ns_read_field(out, i) = v;
	}
	return 0;
}

static int ns_read_add_txn(struct meta_txn *t, void *arg)
{
	struct ns_read_stats cur;
	unsigned char buf[NS_READ_FIELDS * 8];
	int rc = ns_read_stats_load(t, &cur);

	if (rc)
		return rc;
	for (size_t i = 0; i < NS_READ_FIELDS; i++) {
		uint64_t v = *ns_read_field(&cur, i) + *ns_read_field(arg, i);

		for (size_t k = 0; k < 8; k++)
			buf[i * 8 + k] = (unsigned char)(v >> (8 * k));
	}
	return meta_info_put(t, NS_READ_STATS, buf, sizeof buf);
}

int ns_read_stats_add(struct ns *ns, const struct ns_read_stats *delta)
{
	struct ns_read_stats d = *delta;

	return meta_write(ns->me, ns_read_add_txn, &d);
}

static int ns_read_get_txn(struct meta_txn *t, void *arg)
{
	return ns_read_stats_load(t, arg);
}

int ns_read_stats_get(struct ns *ns, struct ns_read_stats *out)
{
	return meta_read(ns->me, ns_read_get_txn, out);
}

/* ---- rename ----
 *
 * The file view changes in one transaction; S3 follows in the daemon (sync/commit.c for
 * files, sync/rename.c for directories). See "where objects are while renames are
 * carried out in S3" above for the records that bridge the two.
 */

/* Walk from dir up to the root: is `ino` (0: none) on the way (dir is inside it), and is
 * any directory on the way s3files' reserved one? */
static int ns_rename_walk(struct meta_txn *t, uint64_t dir, uint64_t ino, bool *inside,
			  bool *reserved)
{
	struct meta_inode in;
	int rc;

	*inside = *reserved = false;
	for (int depth = 0; depth <= KEYMAP_DEPTH_MAX + 1; depth++) {
		if (ino && dir == ino) {
			*inside = true;
			return 0;
		}
		rc = meta_inode_get(t, dir, &in);
		if (rc)
			return rc == ENOENT ? ESTALE : rc;
		if (in.flags & META_F_RESERVED)
			*reserved = true;
		if (dir == META_ROOT_INO)
			return 0;
		if (in.parent == dir)
			return S3F_E_META_CORRUPT;
		dir = in.parent;
	}
	return S3F_E_META_CORRUPT;
}

/* Keys below a directory, relative to the directory's own key (which ends in '/'), as far
 * as the view knows the subtree (a subdirectory never listed counts empty): a walk that
 * stops at the first one longer than limit. */
struct ns_longest_ctx {
	uint64_t *ino;
	size_t *rel;
	size_t n, cap;
	size_t cur;		/* relative length of the directory being walked */
	size_t limit;		/* stop at the first key longer than this */
};

static int ns_longest_cb(void *arg, const struct meta_dirent *de)
{
	struct ns_longest_ctx *c = arg;
	size_t rel = c->cur + de->name_len + (de->type == META_T_DIR ? 1 : 0);

	if (rel > c->limit)
		return 1;
	if (de->type != META_T_DIR)
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		uint64_t *i = realloc(c->ino, cap * sizeof *i);
		size_t *r;

		if (!i)
			return ENOMEM;
		c->ino = i;
		r = realloc(c->rel, cap * sizeof *r);
		if (!r)
			return ENOMEM;
		c->rel = r;
		c->cap = cap;
	}
	c->ino[c->n] = de->ino;
	c->rel[c->n++] = rel;
	return 0;
}

/* Does every key below dir still fit when dir's key is keylen bytes long? */
static int ns_subtree_fits(struct meta_txn *t, uint64_t dir, size_t keylen, bool *fits)
{
	struct ns_longest_ctx c = { .limit = S3_KEY_MAX - keylen };
	uint64_t cur = dir;
	int rc = 0;

	for (;;) {
		rc = meta_dir_iter(t, cur, 0, ns_longest_cb, &c);
		if (rc || c.n == 0)
			break;
		cur = c.ino[--c.n];
		c.cur = c.rel[c.n];
	}
	*fits = rc == 0;
	if (rc == 1)
		rc = 0;
	free(c.ino);
	free(c.rel);
	return rc;
}

struct ns_rename_ctx {
	struct ns *ns;
	uint64_t odir, ndir;
	const char *oname, *nname;
	size_t olen, nlen;
	struct ns_rename_result *r;
	char okey[S3_KEY_MAX + 1], nkey[S3_KEY_MAX + 1], skey[S3_KEY_MAX + 1];
	struct meta_move m;
	struct meta_dirjob job;
};

/* A renamed file's object stays where it is until the daemon moves it: remember where. */
static int ns_rename_file(struct ns_rename_ctx *c, struct meta_txn *t, struct ns_jobs *js,
			  struct meta_inode *src, size_t nkeylen, int64_t now)
{
	char etag[S3_ETAG_MAX];
	size_t slen;
	bool found, moved;
	int rc;

	rc = ns_file_source(c->ns, t, src, js, c->skey, &slen, etag, &found, &moved, &c->m);
	if (rc || !found)
		return rc;	/* never uploaded: it commits under its new key */
	if (slen == nkeylen && memcmp(c->skey, c->nkey, slen) == 0) {
		/* Back where its object is. */
		if (moved) {
			src->flags |= META_F_IN_S3;
			if ((rc = meta_move_del(t, src->ino)))
				return rc;
			if (c->m.clean && c->m.dirty_gen == src->dirty_gen &&
			    src->sync == META_S_DIRTY) {
				src->sync = META_S_CLEAN;
				src->dirty_since_ns = 0;
				src->due_gen = 0;
				if ((rc = meta_dirty_del(t, src->ino)))
					return rc;
			}
		}
		return 0;
	}
	if (moved)
		return 0;	/* renamed again: the source is still the first one */
	c->m.dirty_gen = src->dirty_gen;
	c->m.clean = src->sync == META_S_CLEAN;
	snprintf(c->m.etag, sizeof c->m.etag, "%s", etag);
	memcpy(c->m.key, c->skey, slen + 1);
	c->m.key_len = slen;
	if ((rc = meta_move_put(t, src->ino, &c->m)))
		return rc;
	/* Not at its path key any more: an object showing up there is someone else's. The
	 * keys table keeps binding the source key to it until the move is committed. */
	src->flags &= ~(uint32_t)META_F_IN_S3;
	if (src->sync != META_S_CONFLICT)
		src->sync = META_S_DIRTY;
	src->dirty_since_ns = now;
	return meta_dirty_add(t, src->ino);
}

static int ns_rename_txn(struct meta_txn *t, void *arg)
{
	struct ns_rename_ctx *c = arg;
	struct ns_rename_result *r = c->r;
	struct meta_inode *od = &r->olddir, *nd = &r->newdir, *src = &r->moved, *v = &r->victim;
	bool same_dir = c->odir == c->ndir, inside, in_old, res_old, res_new, is_dir;
	struct ns_jobs js = { 0 };
	struct meta_dirent de;
	size_t okeylen, nkeylen;
	int64_t now = meta_now_ns();
	int rc;

	memset(r, 0, sizeof *r);
	rc = meta_inode_get(t, c->odir, od);
	if (rc)
		goto out;
	if (same_dir)
		*nd = *od;
	else if ((rc = meta_inode_get(t, c->ndir, nd)))
		goto out;
	rc = ENOTDIR;
	if (od->type != META_T_DIR || nd->type != META_T_DIR)
		goto out;
	if ((rc = meta_dirent_get(t, c->odir, c->oname, c->olen, &de)))
		goto out;
	if ((rc = meta_inode_get(t, de.ino, src)))
		goto out;
	is_dir = src->type == META_T_DIR;
	if (same_dir && c->olen == c->nlen && memcmp(c->oname, c->nname, c->olen) == 0) {
		r->noop = true;	/* POSIX: renaming a file to itself does nothing */
		goto out;
	}

	/* lost+found: nothing goes in or out, it keeps its name. */
	rc = EACCES;
	if ((src->flags & META_F_RESERVED) || ns_is_reserved(c->ndir, c->nname, c->nlen))
		goto out;
	if ((rc = ns_rename_walk(t, c->ndir, is_dir ? src->ino : 0, &inside, &res_new)) ||
	    (rc = ns_rename_walk(t, c->odir, 0, &in_old, &res_old)))
		goto out;
	rc = EINVAL;
	if (inside)
		goto out;	/* a directory into its own subtree */
	rc = EACCES;
	if (res_new || res_old)
		goto out;
	if (is_dir && (src->flags & META_F_IN_S3) && !(src->flags & META_F_IMPORTED)) {
		/* Its listing must be known before its objects are sent on their way. */
		r->need_import = src->ino;
		rc = EAGAIN;
		goto out;
	}

	rc = meta_dirent_get(t, c->ndir, c->nname, c->nlen, &de);
	if (rc == 0) {
		if ((rc = meta_inode_get(t, de.ino, v)))
			goto out;
		if (is_dir) {
			bool empty;

			rc = ENOTDIR;
			if (v->type != META_T_DIR)
				goto out;
			if ((v->flags & META_F_IN_S3) && !(v->flags & META_F_IMPORTED)) {
				r->need_import = v->ino;
				rc = EAGAIN;
				goto out;
			}
			if ((rc = meta_dir_empty(t, v->ino, &empty)))
				goto out;
			rc = ENOTEMPTY;
			if (!empty)
				goto out;
		} else if (v->type == META_T_DIR) {
			rc = EISDIR;
			goto out;
		}
		r->replaced = true;
	} else if (rc != ENOENT) {
		goto out;
	}

	if ((rc = ns_key_in_dir(c->ns, t, c->odir, c->oname, c->olen, is_dir, c->okey,
				sizeof c->okey, &okeylen)) ||
	    (rc = ns_key_in_dir(c->ns, t, c->ndir, c->nname, c->nlen, is_dir, c->nkey,
				sizeof c->nkey, &nkeylen)))
		goto out;
	if (is_dir && nkeylen > okeylen) {
		/* A longer name must not push a key below it past the limit: that file could
		 * never be uploaded. */
		bool fits;

		if ((rc = ns_subtree_fits(t, src->ino, nkeylen, &fits)))
			goto out;
		rc = ENAMETOOLONG;
		if (!fits)
			goto out;
	}

	if (r->replaced) {
		/* The replaced inode goes exactly as with unlink/rmdir. */
		if ((rc = meta_dirent_del(t, c->ndir, c->nname, c->nlen)) ||
		    (rc = ns_drop_inode(c->ns, t, v, c->nkey, nkeylen, now, true)) ||
		    (rc = meta_change_add(t, v->ino, META_CH_GONE)))
			goto out;
		if (v->type == META_T_DIR && nd->nlink > 2)
			nd->nlink--;
		if (same_dir)
			od->nlink = nd->nlink;
	}

	/* S3 side, decided from the old path (the inode is not relinked yet). */
	if (is_dir) {
		memset(&c->job, 0, sizeof c->job);
		c->job.ino = src->ino;
		c->job.created_ns = now;
		memcpy(c->job.old_prefix, c->okey, okeylen + 1);
		c->job.old_len = okeylen;
		memcpy(c->job.new_prefix, c->nkey, nkeylen + 1);
		c->job.new_len = nkeylen;
		if ((rc = meta_dirjob_add(t, &c->job)))
			goto out;
		r->job = c->job.id;
	} else if ((rc = ns_rename_file(c, t, &js, src, nkeylen, now))) {
		goto out;
	}

	/* Relink: the entry leaves the old directory (its cookie with it) and gets a new,
	 * larger cookie in the new one. */
	if ((rc = meta_dirent_del(t, c->odir, c->oname, c->olen)))
		goto out;
	src->parent = c->ndir;
	if ((rc = meta_inode_set_name(src, c->nname, c->nlen)))
		goto out;
	ns_touch(src, now, false);
	if ((rc = meta_inode_put(t, src)))
		goto out;
	if (same_dir) {
		ns_touch(od, now, true);
		if ((rc = meta_dirent_add(t, od, c->nname, c->nlen, src->ino, src->type, NULL)))
			goto out;
		*nd = *od;
	} else {
		ns_touch(od, now, true);
		ns_touch(nd, now, true);
		if (is_dir) {
			if (od->nlink > 2)
				od->nlink--;
			nd->nlink++;
		}
		if ((rc = meta_inode_put(t, od)) ||
		    (rc = meta_dirent_add(t, nd, c->nname, c->nlen, src->ino, src->type, NULL)))
			goto out;
	}
	if ((rc = meta_change_add(t, c->odir, META_CH_DIR)) ||
	    (!same_dir && (rc = meta_change_add(t, c->ndir, META_CH_DIR))) ||
	    (rc = meta_change_add(t, src->ino, META_CH_ATTR)))
		goto out;
	rc = 0;
out:
	ns_jobs_free(&js);
	if (rc == ENOENT && (r->olddir.ino == 0 || (!same_dir && r->newdir.ino == 0)))
		rc = ESTALE;	/* a directory handle outlived its directory */
	return rc;
}

int ns_rename(struct ns *ns, uint64_t olddir, const char *oldname, size_t oldlen, uint64_t newdir,
	      const char *newname, size_t newlen, struct ns_rename_result *out)
{
	struct ns_rename_ctx *c;
	int rc;

	memset(out, 0, sizeof *out);
	if ((rc = keymap_name_check(oldname, oldlen)) || (rc = keymap_name_check(newname, newlen)))
		return rc;
	c = calloc(1, sizeof *c);
	if (!c)
		return ENOMEM;
	c->ns = ns;
	c->odir = olddir;
	c->ndir = newdir;
	c->oname = oldname;
	c->olen = oldlen;
	c->nname = newname;
	c->nlen = newlen;
	c->r = out;
	rc = meta_write(ns->me, ns_rename_txn, c);
	free(c);
	return rc;
}

/* ---- data source of a file (reads of bytes that are not local) ---- */

struct ns_source_ctx {
	struct ns *ns;
	uint64_t ino;
	char *key;
	size_t cap, *keylen;
	char *etag;
};

static int ns_source_txn(struct meta_txn *t, void *arg)
{
	struct ns_source_ctx *c = arg;
	struct ns_jobs js = { 0 };
	struct meta_inode in;
	char *key = NULL;
	bool found, moved;
	int rc;

	rc = meta_inode_get(t, c->ino, &in);
	if (rc)
		goto out;
	rc = EIO;
	if (in.flags & META_F_LOST)
		goto out;
	key = malloc(S3_KEY_MAX + 1);
	rc = ENOMEM;
	if (!key)
		goto out;
	rc = ns_file_source(c->ns, t, &in, &js, key, c->keylen, c->etag, &found, &moved, NULL);
	if (rc)
		goto out;
	rc = ENODATA;
	if (!found || !c->etag[0])
		goto out;
	rc = ENAMETOOLONG;
	if (*c->keylen >= c->cap)
		goto out;
	memcpy(c->key, key, *c->keylen + 1);
	rc = 0;
out:
	free(key);
	ns_jobs_free(&js);
	return rc;
}

int ns_data_source(struct ns *ns, uint64_t ino, char *key, size_t cap, size_t *keylen,
		   char etag[S3_ETAG_MAX])
{
	struct ns_source_ctx c = { ns, ino, key, cap, keylen, etag };

	etag[0] = '\0';
	return meta_read(ns->me, ns_source_txn, &c);
}

int ns_data_source_txn(struct ns *ns, struct meta_txn *txn, uint64_t ino, char *key, size_t cap,
		       size_t *keylen, char etag[S3_ETAG_MAX])
{
	struct ns_source_ctx c = { ns, ino, key, cap, keylen, etag };

	etag[0] = '\0';
	return ns_source_txn(txn, &c);
}

/* ---- a moved file whose source changed in S3 (the daemon) ---- */

static int ns_lost_txn(struct meta_txn *t, void *arg)
{
	struct ns_commit_ctx *x = arg;
	const struct ns_commit *c = x->c;
	struct meta_inode in;
	int rc;

	rc = meta_inode_get(t, c->ino, &in);
	if (rc == ENOENT || (rc == 0 && in.gen != c->in.gen))
		return 0;	/* removed meanwhile: nothing left to protect */
	if (rc)
		return rc;
	if (ns_key_binds(t, c->src_key, c->src_len, in.ino) &&
	    (rc = meta_key_del(t, c->src_key, c->src_len)))
		return rc;
	if ((rc = meta_move_del(t, in.ino)))
		return rc;
	in.sync = META_S_CONFLICT;
	if (in.data != META_D_FULL)
		in.flags |= META_F_LOST;
	in.change++;
	if ((rc = meta_dirty_add(t, in.ino)) || (rc = meta_inode_put(t, &in)))
		return rc;
	return meta_change_add(t, in.ino, META_CH_ATTR);
}

int ns_commit_source_lost(struct ns *ns, const struct ns_commit *c)
{
	struct ns_commit_ctx x = { .ns = ns, .c = (struct ns_commit *)c };

	return meta_write(ns->me, ns_lost_txn, &x);
}

/* ---- sources in transit (the daemon) ---- */

/* Does inode in read its data from the object at key? */
static int ns_reads_from(struct ns *ns, struct meta_txn *t, const struct meta_inode *in,
			 const char *key, size_t len, char etag[S3_ETAG_MAX], bool *moved,
			 bool *yes)
{
	struct ns_jobs js = { 0 };
	char *src = malloc(S3_KEY_MAX + 1);
	size_t slen = 0;
	bool found = false;
	int rc;

	*yes = false;
	if (!src)
		return ENOMEM;
	rc = ns_file_source(ns, t, in, &js, src, &slen, etag, &found, moved, NULL);
	if (rc == 0)
		*yes = found && slen == len && memcmp(src, key, len) == 0;
	ns_jobs_free(&js);
	free(src);
	return rc;
}

struct ns_holder_ctx {
	struct ns *ns;
	const char *key;
	size_t len;
	uint64_t skip, ino;
};

static int ns_holder_txn(struct meta_txn *t, void *arg)
{
	struct ns_holder_ctx *c = arg;
	struct meta_inode in;
	char etag[S3_ETAG_MAX];
	uint64_t b;
	bool moved, yes;
	int rc;

	c->ino = 0;
	rc = ns_key_holder(t, c->key, c->len, c->skip, &b, &in);
	if (rc || !b)
		return rc;
	rc = ns_reads_from(c->ns, t, &in, c->key, c->len, etag, &moved, &yes);
	if (rc == 0 && yes)
		c->ino = b;
	return rc == ENOENT ? 0 : rc;
}

int ns_source_holder(struct ns *ns, const char *key, size_t len, uint64_t skip, uint64_t *ino)
{
	struct ns_holder_ctx c = { ns, key, len, skip, 0 };
	int rc = meta_read(ns->me, ns_holder_txn, &c);

	*ino = rc == 0 ? c.ino : 0;
	return rc;
}

struct ns_cycle_ctx {
	struct ns *ns;
	uint64_t ino, blocker;
	bool cycle;
};

static int ns_cycle_txn(struct meta_txn *t, void *arg)
{
	struct ns_cycle_ctx *c = arg;
	struct meta_inode in;
	struct ns_jobs js = { 0 };
	char *key = malloc(S3_KEY_MAX + 1);
	size_t len;
	uint64_t cur = c->blocker, next;
	int rc = 0;

	c->cycle = false;
	if (!key)
		return ENOMEM;
	/* Each link: the file cur wants its own key, which the next one still reads from. */
	for (int i = 0; i < 64 && cur; i++, cur = next) {
		next = 0;
		rc = ns_key(c->ns, t, cur, key, S3_KEY_MAX + 1, &len);
		if (rc)
			break;
		if ((rc = ns_jobs_get(t, &js)))
			break;
		if (ns_jobs_cover(&js, key, len, true, false))
			break;	/* a directory job empties it: no circle */
		if ((rc = ns_key_holder(t, key, len, cur, &next, &in)))
			break;
		if (next == c->ino) {
			c->cycle = true;
			break;
		}
	}
	ns_jobs_free(&js);
	free(key);
	return rc == ENOENT ? 0 : rc;
}

int ns_commit_cycle(struct ns *ns, uint64_t ino, uint64_t blocker, bool *cycle)
{
	struct ns_cycle_ctx c = { ns, ino, blocker, false };
	int rc = meta_read(ns->me, ns_cycle_txn, &c);

	*cycle = rc == 0 && c.cycle;
	return rc;
}

struct ns_release_ctx {
	struct ns *ns;
	uint64_t ino;
	const char *key;
	size_t len;
	bool done;
};

/* Are all of in's bytes in the store (what its upload would read)? */
static int ns_all_local(struct meta_txn *t, const struct meta_inode *in, bool *all)
{
	struct rangeset have = RANGESET_INIT;
	char probe[1];
	size_t plen;
	int rc = 0;

	*all = true;
	switch (in->type) {
	case META_T_REG:
		rc = ns_present_in(t, in, &have);
		*all = rc == 0 && (in->size == 0 || rangeset_covers(&have, 0, in->size));
		break;
	case META_T_LNK:
		rc = meta_symlink_get(t, in->ino, probe, sizeof probe, &plen);
		if (rc == ERANGE)
			rc = 0;
		if (rc == ENOENT) {
			*all = false;	/* imported, target never read */
			rc = 0;
		}
		break;
	default:
		break;		/* a special file is its metadata */
	}
	rangeset_free(&have);
	return rc;
}

static int ns_release_txn(struct meta_txn *t, void *arg)
{
	struct ns_release_ctx *c = arg;
	struct meta_inode in;
	char etag[S3_ETAG_MAX];
	bool moved, yes, all;
	int rc;

	c->done = false;
	rc = meta_inode_get(t, c->ino, &in);
	if (rc)
		return rc == ENOENT ? 0 : rc;
	if ((rc = ns_reads_from(c->ns, t, &in, c->key, c->len, etag, &moved, &yes)))
		return rc;
	if (!yes)
		return 0;
	if (in.sync == META_S_CONFLICT)
		return EBUSY;
	if ((rc = ns_all_local(t, &in, &all)))
		return rc;
	if (!all)
		return EAGAIN;
	if (moved && (rc = meta_move_del(t, in.ino)))
		return rc;
	if (ns_key_binds(t, c->key, c->len, in.ino) && (rc = meta_key_del(t, c->key, c->len)))
		return rc;
	/* The object goes (or is replaced by whoever wanted the key), as long as it is the
	 * version the file read from. */
	if ((rc = meta_delete_add(t, c->key, c->len, etag, 0, in.ino)))
		return rc;
	in.flags &= ~(uint32_t)META_F_IN_S3;
	in.sync = META_S_DIRTY;
	if (!in.dirty_since_ns)
		in.dirty_since_ns = meta_now_ns();
	if ((rc = meta_dirty_add(t, in.ino)) || (rc = meta_inode_put(t, &in)))
		return rc;
	c->done = true;
	return 0;
}

int ns_source_release(struct ns *ns, uint64_t ino, const char *key, size_t len, bool *done)
{
	struct ns_release_ctx c = { ns, ino, key, len, false };
	int rc = meta_write(ns->me, ns_release_txn, &c);

	/* Durable before anything may overwrite or delete the object. */
	if (rc == 0 && c.done)
		rc = meta_sync(ns->me);
	*done = rc == 0 && c.done;
	return rc;
}

/* ---- directory renames in S3 (the daemon) ---- */

int ns_prefix_moving(struct ns *ns, struct meta_txn *txn, const char *prefix, size_t len,
		     bool *moving)
{
	struct ns_jobs js = { 0 };
	int rc;

	(void)ns;
	*moving = false;
	rc = ns_jobs_get(txn, &js);
	if (rc == 0)
		*moving = ns_jobs_cover(&js, prefix, len, true, true);
	ns_jobs_free(&js);
	return rc;
}

struct ns_dirjob_ctx {
	struct ns *ns;
	uint64_t id;
	struct meta_dirjob *job;
	meta_dirjob_fn fn;
	void *arg;
	struct ns_move_item *items;
	size_t n;
	uint64_t listed;
	bool last_page;
	struct ns_dirjob_outcome *out;
};

static int ns_dirjob_first_cb(void *arg, const struct meta_dirjob *j)
{
	*(struct meta_dirjob *)arg = *j;
	return 1;
}

static int ns_dirjob_first_txn(struct meta_txn *t, void *arg)
{
	int rc = meta_dirjob_iter(t, ns_dirjob_first_cb, arg);

	return rc == 1 ? 0 : rc == 0 ? ENOENT : rc;
}

int ns_dirjob_first(struct ns *ns, struct meta_dirjob *out)
{
	return meta_read(ns->me, ns_dirjob_first_txn, out);
}

static int ns_dirjob_iter_txn(struct meta_txn *t, void *arg)
{
	struct ns_dirjob_ctx *c = arg;

	return meta_dirjob_iter(t, c->fn, c->arg);
}

int ns_dirjob_iter(struct ns *ns, meta_dirjob_fn fn, void *arg)
{
	struct ns_dirjob_ctx c = { .ns = ns, .fn = fn, .arg = arg };

	return meta_read(ns->me, ns_dirjob_iter_txn, &c);
}

/* Where job js->j[self] sends the object at key: a file the view knows (ino) to where
 * its path is now, any other object (a directory marker, a key in a directory never
 * listed, a key with no file name) to the same relative place under the new prefix and
 * on through the renames made since. Unless that place is below the old prefix of a
 * later job, which has still to empty it (directories that traded places: its objects
 * may still be there), or, for an object with no file, below this job's own old prefix
 * (which it lists): then one step only, to the same relative place under this job's
 * new prefix, from where the later jobs carry it on. dst has S3_KEY_MAX + 1 bytes. */
static int ns_plan_dst(struct ns *ns, struct meta_txn *t, const struct ns_jobs *js, size_t self,
		       uint64_t ino, const char *key, size_t key_len, char *dst, size_t *dst_len)
{
	const struct ns_job_pfx *j = &js->j[self];
	int rc;

	if (ino) {
		rc = ns_key(ns, t, ino, dst, S3_KEY_MAX + 1, dst_len);
		if (rc)
			return rc;
	} else {
		memcpy(dst, key, key_len + 1);
		*dst_len = key_len;
		if (ns_key_swap(dst, dst_len, j->old_len, j->new_prefix, j->new_len))
			return ENAMETOOLONG;
		for (size_t i = self + 1; i < js->n; i++) {
			const struct ns_job_pfx *p = &js->j[i];

			if (ns_has_prefix(dst, *dst_len, p->old_prefix, p->old_len) &&
			    ns_key_swap(dst, dst_len, p->old_len, p->new_prefix, p->new_len))
				return ENAMETOOLONG;
		}
	}
	/* Carried on through the later jobs, an object with no file may land back below this
	 * job's own old prefix (a directory renamed into the one it came out of: d1/d3 ->
	 * d2/d3, then d2 -> d1/d3). This job lists that prefix: it would take the copy again,
	 * one level deeper each time, until the key is too long. One step only, as for a later
	 * job's old prefix; the later jobs carry it on. */
	if (!ino && ns_has_prefix(dst, *dst_len, j->old_prefix, j->old_len)) {
		memcpy(dst, key, key_len + 1);
		*dst_len = key_len;
		return ns_key_swap(dst, dst_len, j->old_len, j->new_prefix, j->new_len) ?
			ENAMETOOLONG : 0;
	}
	for (size_t i = self + 1; i < js->n; i++) {
		const struct ns_job_pfx *p = &js->j[i];

		if (!ns_has_prefix(dst, *dst_len, p->old_prefix, p->old_len))
			continue;
		memcpy(dst, key, key_len + 1);
		*dst_len = key_len;
		return ns_key_swap(dst, dst_len, j->old_len, j->new_prefix, j->new_len) ?
			ENAMETOOLONG : 0;
	}
	return 0;
}

/* Where one listed object goes (see ns_dirjob_plan in ns.h). */
static int ns_plan_one(struct ns_dirjob_ctx *c, struct meta_txn *t, const struct ns_jobs *js,
		       size_t self, struct ns_move_item *it)
{
	struct meta_delete pd;
	struct meta_move m;
	struct meta_inode in;
	const struct ns_job_pfx *j = &js->j[self];
	uint64_t ino;
	int rc;

	it->action = NS_MOVE_SKIP;
	it->ino = 0;
	it->dst_len = 0;
	it->dst[0] = '\0';
	if (it->key_len > S3_KEY_MAX || !ns_has_prefix(it->key, it->key_len, j->old_prefix, j->old_len))
		return 0;	/* not ours (the listing is by prefix: cannot happen) */
	rc = meta_delete_get(t, it->key, it->key_len, &pd);
	if (rc == 0)
		return 0;	/* removed on the file side: the delete pass takes it */
	if (rc != ENOENT)
		return rc;
	rc = meta_key_get(t, it->key, it->key_len, &ino);
	if (rc == 0) {
		rc = meta_inode_get(t, ino, &in);
		if (rc == ENOENT)
			return 0;
		if (rc)
			return rc;
		rc = meta_move_get(t, ino, &m);
		if (rc == 0)
			return 0;	/* renamed on its own as well: its commit copies it */
		if (rc != ENOENT)
			return rc;
		it->ino = ino;
	} else if (rc != ENOENT) {
		return rc;
	}
	rc = ns_plan_dst(c->ns, t, js, self, it->ino, it->key, it->key_len, it->dst, &it->dst_len);
	if (rc == ENAMETOOLONG) {
		it->action = NS_MOVE_TOO_LONG;
		return 0;
	}
	if (rc)
		return rc;
	if (it->dst_len == it->key_len && memcmp(it->dst, it->key, it->key_len) == 0)
		return 0;	/* already where it belongs (renamed back) */
	it->action = NS_MOVE_COPY;
	return 0;
}

static int ns_find_job(const struct ns_jobs *js, uint64_t id, size_t *self)
{
	for (size_t i = 0; i < js->n; i++)
		if (js->j[i].id == id) {
			*self = i;
			return 0;
		}
	return ENOENT;
}

static int ns_plan_txn(struct meta_txn *t, void *arg)
{
	struct ns_dirjob_ctx *c = arg;
	struct ns_jobs js = { 0 };
	size_t self;
	int rc;

	rc = ns_jobs_get(t, &js);
	if (rc == 0)
		rc = ns_find_job(&js, c->id, &self);
	for (size_t i = 0; rc == 0 && i < c->n; i++)
		rc = ns_plan_one(c, t, &js, self, &c->items[i]);
	ns_jobs_free(&js);
	return rc;
}

int ns_dirjob_plan(struct ns *ns, uint64_t job, struct ns_move_item *items, size_t n)
{
	struct ns_dirjob_ctx c = { .ns = ns, .id = job, .items = items, .n = n };

	return meta_read(ns->me, ns_plan_txn, &c);
}

struct ns_guard_ctx {
	const struct ns_move_item *items;
	size_t n;
};

static int ns_guard_txn(struct meta_txn *t, void *arg)
{
	struct ns_guard_ctx *c = arg;
	int rc;

	for (size_t i = 0; i < c->n; i++) {
		const struct ns_move_item *it = &c->items[i];
		struct meta_delete pd;
		uint64_t b;

		if (it->action != NS_MOVE_COPY || !it->etag || !it->etag[0])
			continue;
		/* A key the view holds is the view's (the plan does not copy onto it
		 * unless it is free); a pending delete already there stays as it is. */
		if (meta_key_get(t, it->dst, it->dst_len, &b) == 0)
			continue;
		rc = meta_delete_get(t, it->dst, it->dst_len, &pd);
		if (rc == 0)
			continue;
		if (rc != ENOENT)
			return rc;
		rc = meta_delete_add(t, it->dst, it->dst_len, it->etag, 0, it->ino);
		if (rc)
			return rc;
	}
	return 0;
}

int ns_dirjob_guard(struct ns *ns, const struct ns_move_item *items, size_t n)
{
	struct ns_guard_ctx c = { .items = items, .n = n };
	int rc = meta_write(ns->me, ns_guard_txn, &c);

	/* Durable before the first COPY: a power cut must not keep the copy and lose this. */
	return rc ? rc : meta_sync(ns->me);
}

/* Permanent copy failures: retrying cannot help, the object is left where it is. */
static bool ns_move_permanent(int rc)
{
	return rc == EINVAL || rc == S3F_E_S3_CLIENT || rc == ENAMETOOLONG;
}

/* A file's object the job cannot move stays under its old key: from now on the file is
 * a renamed file like any other (moves record, DIRTY), so reads keep finding its data
 * after the job is gone and its commit keeps trying (and reporting) the move. */
static int ns_record_left(struct meta_txn *t, const struct ns_move_item *it)
{
	struct meta_inode in;
	struct meta_move *m;
	int rc;

	if (!it->ino || !ns_key_binds(t, it->key, it->key_len, it->ino))
		return 0;
	rc = meta_inode_get(t, it->ino, &in);
	if (rc)
		return rc == ENOENT ? 0 : rc;
	m = calloc(1, sizeof *m);
	if (!m)
		return ENOMEM;
	rc = meta_move_get(t, in.ino, m);
	if (rc != ENOENT)
		goto out;
	m->dirty_gen = in.dirty_gen;
	m->clean = in.sync == META_S_CLEAN;
	snprintf(m->etag, sizeof m->etag, "%s", in.etag);
	memcpy(m->key, it->key, it->key_len);
	m->key[it->key_len] = '\0';
	m->key_len = it->key_len;
	in.flags &= ~(uint32_t)META_F_IN_S3;
	if (in.sync != META_S_CONFLICT)
		in.sync = META_S_DIRTY;
	if (!in.dirty_since_ns)
		in.dirty_since_ns = meta_now_ns();
	if ((rc = meta_move_put(t, in.ino, m)) || (rc = meta_dirty_add(t, in.ino)))
		goto out;
	rc = meta_inode_put(t, &in);
out:
	free(m);
	return rc;
}

/* The copy at dst is of no use (the file went or moved on meanwhile): it goes again,
 * unless dst is by now the file's own upload. */
static int ns_record_garbage(struct meta_txn *t, struct ns_move_item *it)
{
	uint64_t b;

	if (meta_key_get(t, it->dst, it->dst_len, &b) == 0)
		return 0;
	return meta_delete_add(t, it->dst, it->dst_len, it->dst_etag, 0, it->ino);
}

/* Record one copied object. *retry: the view changed under the copy in a way that needs
 * this object planned again. */
static int ns_record_one(struct ns_dirjob_ctx *c, struct meta_txn *t, const struct ns_jobs *js,
			 size_t self, struct ns_move_item *it, int64_t now, bool *retry)
{
	struct meta_inode in;
	struct meta_move m;
	char *path = NULL;
	size_t plen;
	int rc;

	*retry = false;
	it->delete_src = it->conflict = it->moved = false;
	if (it->action == NS_MOVE_TOO_LONG)
		return ns_record_left(t, it);
	if (it->action != NS_MOVE_COPY)
		return 0;
	if (it->rc) {
		*retry = it->rc != ENOENT && !ns_move_permanent(it->rc);
		/* ENOENT: gone from S3 meanwhile; permanent: left in place */
		return *retry || it->rc == ENOENT ? 0 : ns_record_left(t, it);
	}
	if (!it->ino) {
		struct meta_delete pd;
		uint64_t b;

		rc = meta_delete_get(t, it->key, it->key_len, &pd);
		if (rc == 0)
			return ns_record_garbage(t, it);	/* removed meanwhile (rmdir) */
		if (rc != ENOENT)
			return rc;
		if (meta_key_get(t, it->key, it->key_len, &b) == 0) {
			*retry = true;	/* the view bound it meanwhile: plan again */
			return 0;
		}
		goto moved;
	}
	rc = meta_inode_get(t, it->ino, &in);
	if (rc == ENOENT)
		return ns_record_garbage(t, it);	/* removed: its old key has its delete */
	if (rc)
		return rc;
	if (!ns_key_binds(t, it->key, it->key_len, it->ino))
		return ns_record_garbage(t, it);	/* committed elsewhere meanwhile */
	rc = meta_move_get(t, it->ino, &m);
	if (rc == 0)
		return ns_record_garbage(t, it);	/* renamed on its own: its commit moves it */
	if (rc != ENOENT)
		return rc;
	path = malloc(S3_KEY_MAX + 1);
	if (!path)
		return ENOMEM;
	rc = ns_plan_dst(c->ns, t, js, self, it->ino, it->key, it->key_len, path, &plen);
	if (rc == 0 && (plen != it->dst_len || memcmp(path, it->dst, plen) != 0)) {
		/* Renamed again during the copy: the copy is useless, the object is planned
		 * again from its old key. */
		free(path);
		*retry = true;
		return ns_record_garbage(t, it);
	}
	free(path);
	if (rc)
		return rc;
	if ((rc = meta_key_del(t, it->key, it->key_len)) ||
	    (rc = meta_key_put(t, it->dst, it->dst_len, it->ino)))
		return rc;
	if (strcmp(in.etag, it->etag) == 0) {
		snprintf(in.etag, sizeof in.etag, "%s", it->dst_etag);
	} else if (in.sync == META_S_CLEAN) {
		/* Changed in S3 since it was listed into the view (not noticed: polls skip a
		 * moving directory): the new version moved, the view takes it. */
		snprintf(in.etag, sizeof in.etag, "%s", it->dst_etag);
		in.size = in.s3_size = it->size;
		in.data = it->size ? META_D_NONE : META_D_FULL;
		in.change++;
		if ((rc = meta_extents_put(t, in.ino, NULL)) ||
		    (rc = meta_change_add(t, in.ino, META_CH_S3)))
			return rc;
	} else {
		/* ... while the file side changed it too: a conflict, as at import. */
		snprintf(in.etag, sizeof in.etag, "%s", it->dst_etag);
		if (in.sync != META_S_CONFLICT) {
			in.sync = META_S_CONFLICT;
			it->conflict = true;
			if ((rc = meta_dirty_add(t, in.ino)))
				return rc;
		}
	}
	in.version_id[0] = '\0';
	in.synced_ns = now;
	if ((rc = meta_inode_put(t, &in)))
		return rc;
moved:
	/* The old key goes now; its pending delete makes that survive a crash. Whatever a
	 * pending delete of dst meant to remove, the copy replaced it. */
	if ((rc = meta_delete_add(t, it->key, it->key_len, it->etag, 0, it->ino)))
		return rc;
	rc = meta_delete_del(t, it->dst, it->dst_len);
	if (rc && rc != ENOENT)
		return rc;
	it->delete_src = true;
	it->moved = true;
	return 0;
}

static int ns_record_txn(struct meta_txn *t, void *arg)
{
	struct ns_dirjob_ctx *c = arg;
	struct ns_dirjob_outcome *o = c->out;
	struct meta_dirjob *j = c->job;
	struct ns_jobs js = { 0 };
	int64_t now = meta_now_ns();
	size_t done = 0, self;
	bool deleting = false;
	int rc;

	memset(o, 0, sizeof *o);
	rc = meta_dirjob_get(t, c->id, j);
	if (rc == 0)
		rc = ns_jobs_get(t, &js);
	if (rc == 0)
		rc = ns_find_job(&js, c->id, &self);
	for (; rc == 0 && done < c->n; done++) {
		struct ns_move_item *it = &c->items[done];
		bool retry;

		rc = ns_record_one(c, t, &js, self, it, now, &retry);
		if (rc)
			break;
		if (retry)
			break;
		if (it->moved)
			o->moved++;
		else
			o->skipped++;
		deleting |= it->delete_src;
	}
	ns_jobs_free(&js);
	if (rc)
		return rc;
	o->done = done;
	if (done) {
		const struct ns_move_item *last = &c->items[done - 1];

		memcpy(j->marker, last->key, last->key_len);
		j->marker[last->key_len] = '\0';
		j->marker_len = last->key_len;
	}
	j->listed += done;
	j->moved += o->moved;
	j->skipped += o->skipped;
	/* Done when a last page leaves nothing to delete: a page that still has old keys to
	 * delete is followed by one more (empty) listing, so the old prefix is gone from S3
	 * before its directories are listed again. */
	if (c->last_page && done == c->n && !deleting) {
		o->finished = true;
		return meta_dirjob_del(t, c->id);
	}
	return meta_dirjob_put(t, j);
}

int ns_dirjob_record(struct ns *ns, uint64_t job, struct ns_move_item *items, size_t n,
		     bool last_page, struct meta_dirjob *job_out, struct ns_dirjob_outcome *out)
{
	struct ns_dirjob_ctx c = { .ns = ns, .id = job, .job = job_out, .items = items, .n = n,
				   .last_page = last_page, .out = out };

	return meta_write(ns->me, ns_record_txn, &c);
}

static int ns_warned_txn(struct meta_txn *t, void *arg)
{
	struct ns_dirjob_ctx *c = arg;
	int rc = meta_dirjob_get(t, c->id, c->job);

	if (rc)
		return rc;
	c->job->warned = true;
	return meta_dirjob_put(t, c->job);
}

int ns_dirjob_warned(struct ns *ns, uint64_t job)
{
	struct meta_dirjob *j = malloc(sizeof *j);
	struct ns_dirjob_ctx c = { .ns = ns, .id = job, .job = j };
	int rc;

	if (!j)
		return ENOMEM;
	rc = meta_write(ns->me, ns_warned_txn, &c);
	free(j);
	return rc;
}

/* ---- directory renames touching a subtree (for wait-synced) ---- */

struct ns_jobs_under_ctx {
	struct ns *ns;
	uint64_t under;
	uint64_t n;
};

static int ns_jobs_under_txn(struct meta_txn *t, void *arg)
{
	struct ns_jobs_under_ctx *c = arg;
	struct ns_jobs js = { 0 };
	char *pfx = malloc(S3_KEY_MAX + 1);
	size_t plen = 0;
	int rc;

	c->n = 0;
	if (!pfx)
		return ENOMEM;
	rc = ns_key(c->ns, t, c->under, pfx, S3_KEY_MAX + 1, &plen);
	if (rc == 0)
		rc = ns_jobs_get(t, &js);
	for (size_t i = 0; rc == 0 && i < js.n; i++) {
		const struct ns_job_pfx *p = &js.j[i];

		/* Overlap either way: the job moves objects into, out of or within the
		 * subtree, or the subtree lies inside what it moves. */
		if (ns_has_prefix(p->old_prefix, p->old_len, pfx, plen) ||
		    ns_has_prefix(p->new_prefix, p->new_len, pfx, plen) ||
		    ns_has_prefix(pfx, plen, p->old_prefix, p->old_len) ||
		    ns_has_prefix(pfx, plen, p->new_prefix, p->new_len))
			c->n++;
	}
	ns_jobs_free(&js);
	free(pfx);
	return rc;
}

int ns_dirjob_pending(struct ns *ns, uint64_t under, uint64_t *n)
{
	struct ns_jobs_under_ctx c = { ns, under, 0 };
	int rc = meta_read(ns->me, ns_jobs_under_txn, &c);

	*n = c.n;
	return rc;
}
