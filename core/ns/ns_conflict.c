/*
 * ns_conflict.c — conflicts, S3 wins (see ns_sync.h; the daemon's sync/conflict.c): the
 * snapshot, the move of the loser into lost+found (with its name, ns_lostfound_name), the
 * conflict that turns out to be none, and the count of conflicts. The *_txn pattern is
 * ns.c's.
 */
#include "ns/ns_int.h"
#include "store/info_keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

#define NS_CONFLICTS META_INFO_CONFLICTS

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
