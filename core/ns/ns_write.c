/*
 * ns_write.c — the bytes of a file (see ns.h): the announcement and record of writes
 * (doc/DURABILITY.md, rule W), ranges fetched into the tier from S3, a symlink's fetched
 * target, and which ranges are present. They live together because they are what fio.c,
 * hydrate.c and readahead.c tell ns about the data tier, each under the data lock its
 * contract names. The *_txn pattern is ns.c's.
 */
#include "ns/ns_int.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "base/err.h"

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
int ns_present_in(struct meta_txn *t, const struct meta_inode *in, struct rangeset *rs)
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
