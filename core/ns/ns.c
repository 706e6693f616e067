/*
 * ns.c — see ns.h and ns_sync.h; the namespace layer's parts live in core/ns/ns_*.c, one
 * protocol each (ns_int.h lists them), and this file holds what they share: the handle
 * (ns_open/ns_close), the cumulative counters, the marks of a file-side change, the
 * records that say where an object is while renames are carried out in S3, and the keys
 * bound to other inodes and upload intents that imports, commits, conflicts and renames
 * all consult.
 *
 * Every exported function is one transaction through meta_write/meta_read, with the
 * work in a *_txn function taking a context struct: meta_write may run it more than once
 * (after growing the map), so those functions only touch the transaction and their
 * output fields.
 */
#include "ns/ns_int.h"
#include "base/buf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
int ns_counter_bump(struct meta_txn *t, const char *name, uint64_t n)
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

int ns_counter_add(struct ns *ns, const char *name, uint64_t n)
{
	struct ns_counter_ctx c = { name, n };

	return meta_write(ns->me, ns_counter_add_txn, &c);
}

int ns_counter_get(struct ns *ns, const char *name, uint64_t *v)
{
	struct ns_counter_ctx c = { name, 0 };
	int rc = meta_read(ns->me, ns_counter_get_txn, &c);

	*v = c.v;
	return rc;
}

/* A file-side change to in: timestamps are the caller's, this marks it dirty. */
void ns_mark_dirty(struct meta_inode *in, int64_t now)
{
	if (in->sync != META_S_CONFLICT)
		in->sync = META_S_DIRTY;
	in->dirty_since_ns = now;
	in->dirty_gen++;
}

void ns_touch(struct meta_inode *in, int64_t now, bool mtime)
{
	if (mtime) {
		in->mtime_ns = now;
		in->flags &= ~(uint32_t)META_F_MTIME_S3;
	}
	in->ctime_ns = now;
	in->change++;
}

bool ns_is_reserved(uint64_t dir, const char *name, size_t len)
{
	return dir == META_ROOT_INO && len == sizeof NS_LOSTFOUND - 1 &&
	       memcmp(name, NS_LOSTFOUND, len) == 0;
}

/* ---- where objects are while renames are carried out in S3 (see ns_int.h) ---- */

static int ns_jobs_collect(void *arg, const struct meta_dirjob *dj)
{
	struct ns_jobs *js = arg;
	struct ns_job_pfx *p;

	if (BUF_GROW(&js->j, &js->cap, js->n + 1))
		return ENOMEM;
	p = &js->j[js->n++];
	p->id = dj->id;
	p->old_len = dj->old_len;
	p->new_len = dj->new_len;
	memcpy(p->old_prefix, dj->old_prefix, dj->old_len + 1);
	memcpy(p->new_prefix, dj->new_prefix, dj->new_len + 1);
	return 0;
}

/* Load once per transaction attempt (meta_write may run a txn function again). */
int ns_jobs_get(struct meta_txn *t, struct ns_jobs *js)
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

void ns_jobs_free(struct ns_jobs *js)
{
	free(js->j);
	memset(js, 0, sizeof *js);
}

bool ns_has_prefix(const char *key, size_t len, const char *pfx, size_t plen)
{
	return len >= plen && memcmp(key, pfx, plen) == 0;
}

/* Is key (an object key or a directory prefix) at or below the old (want_old) or the new
 * (want_new) prefix of a job? */
bool ns_jobs_cover(const struct ns_jobs *js, const char *key, size_t len, bool want_old,
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
int ns_key_swap(char *key, size_t *len, size_t flen, const char *to, size_t tlen)
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

bool ns_key_binds(struct meta_txn *t, const char *key, size_t len, uint64_t ino)
{
	uint64_t b;

	return meta_key_get(t, key, len, &b) == 0 && b == ino;
}

/* Where the object of file inode in is: *found false if it has none (never uploaded).
 * key has S3_KEY_MAX + 1 bytes; m (may be NULL) gets the moves record when *moved. */
int ns_file_source(struct ns *ns, struct meta_txn *t, const struct meta_inode *in,
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

/* ---- keys bound to other inodes, and upload intents a listing may show ---- */

/* The live inode other than ino the object at key is bound to (a renamed file whose
 * object has not been moved yet): *holder, 0 if none; *other gets its record. */
int ns_key_holder(struct meta_txn *t, const char *key, size_t len, uint64_t ino,
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

int ns_key_taken(struct meta_txn *t, const char *key, size_t len, uint64_t ino, bool *taken)
{
	struct meta_inode other;
	uint64_t b;
	int rc = ns_key_holder(t, key, len, ino, &b, &other);

	*taken = b != 0;
	return rc;
}

struct ns_held_ctx {
	struct meta_txn *t;
	bool *held;
};

static int ns_held_cb(void *arg, uint64_t ino)
{
	struct ns_held_ctx *c = arg;
	struct meta_inode in;
	int rc = meta_inode_get(c->t, ino, &in);

	if (rc == ENOENT)
		return 0;	/* a binding its inode outlived: nothing of it in transit */
	if (rc)
		return rc;
	*c->held = true;
	return 1;
}

int ns_prefix_held(struct meta_txn *t, const char *prefix, size_t len, bool *held)
{
	struct ns_held_ctx c = { t, held };
	int rc;

	*held = false;
	rc = meta_key_under(t, prefix, len, ns_held_cb, &c);
	if (rc == 0 && !*held)
		rc = meta_intent_any_under(t, prefix, len, held);
	return rc;
}

/* An ETag and size seen for an intent's key: the intent's object as far as they tell.
 * A copy of a multipart object may get an ETag of the server's choosing (AWS makes such
 * a copy single-part, Ceph RGW keeps the source's ETag): only its size is compared. */
bool ns_intent_seen(const struct meta_intent *in, const char *etag, uint64_t size)
{
	if (size != in->size)
		return false;
	if (!in->etag[0] || strcasecmp(in->etag, etag ? etag : "") == 0)
		return true;
	return in->kind == META_INTENT_COPY && strchr(in->etag, '-') != NULL;
}

/* Does an intent for key (of inode ino; 0: any) describe the object a listing shows
 * (etag, size)? Then the listing may show an upload of ours before its record. */
int ns_intent_covers(struct meta_txn *t, const char *key, size_t len, uint64_t ino,
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
