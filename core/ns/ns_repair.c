/*
 * ns_repair.c — the repairs of `s3filesctl fsck` (core/engine/fsck.c finds, this changes
 * the store). See ns.h, "repairs".
 *
 * Each repair checks its finding again inside its own write transaction and changes
 * nothing when the store moved on meanwhile (another process fixed it, or the finding
 * was a race): fsck reads in many short transactions, so what it saw may be stale by
 * the time it repairs. The sync follows only a transaction that changed something.
 */
#include "ns/ns_sync.h"

#include <errno.h>

#include "base/rangeset.h"

struct ns_repair_ctx {
	const struct ns_repair *it;
	bool gone;
};

static int ns_repair_txn(struct meta_txn *t, void *arg)
{
	struct ns_repair_ctx *c = arg;
	const struct ns_repair *it = c->it;
	struct meta_inode in;
	struct rangeset rs = RANGESET_INIT;
	bool has, changed = false;
	int rc;

	c->gone = false;
	rc = meta_inode_get(t, it->ino, &in);
	if (rc && rc != ENOENT)
		return rc;
	switch (it->kind) {
	case NS_REPAIR_DIRTY_ADD:
		if (rc || in.sync == META_S_CLEAN)
			goto gone;
		if ((rc = meta_itable_has(t, META_IT_DIRTY, it->ino, &has)))
			return rc;
		if (has)
			goto gone;
		return meta_dirty_add(t, it->ino);
	case NS_REPAIR_DIRTY_DEL:
		if (rc == 0 && in.sync != META_S_CLEAN)
			goto gone;
		if ((rc = meta_itable_has(t, META_IT_DIRTY, it->ino, &has)))
			return rc;
		if (!has)
			goto gone;
		return meta_dirty_del(t, it->ino);
	case NS_REPAIR_CHANGING:
		if (rc || !(in.flags & META_F_CHANGING) || (in.flags & META_F_RESERVED) ||
		    (in.type == META_T_REG && in.sync != META_S_CLEAN))
			goto gone;
		in.flags &= ~(uint32_t)META_F_CHANGING;
		return meta_inode_put(t, &in);
	case NS_REPAIR_EXTENTS:
		if (rc || in.type != META_T_REG)
			goto gone;
		rc = meta_extents_get(t, it->ino, &rs);
		if (rc)
			goto out;
		if (in.data != META_D_PARTIAL) {
			if (rs.n == 0)
				goto gone;
			rc = meta_extents_put(t, it->ino, NULL);
			goto out;
		}
		if (rs.n && rs.r[rs.n - 1].end > in.size) {
			rangeset_truncate(&rs, in.size);
			changed = true;
		}
		if (rs.n == 0) {
			in.data = META_D_NONE;
			changed = true;
		} else if (rangeset_covers(&rs, 0, in.size)) {
			in.data = META_D_FULL;
			rangeset_clear(&rs);
			changed = true;
		}
		if (!changed)
			goto gone;
		if ((rc = meta_extents_put(t, it->ino, &rs)) == 0)
			rc = meta_inode_put(t, &in);
		goto out;
	case NS_REPAIR_NONFILE_DATA:
		if (rc || in.type == META_T_REG)
			goto gone;
		if ((rc = meta_itable_has(t, META_IT_EXTENTS, it->ino, &has)))
			return rc;
		if (in.data == META_D_NONE && !has)
			goto gone;
		if (has && (rc = meta_extents_put(t, it->ino, NULL)))
			return rc;
		if (in.data == META_D_NONE)
			return 0;
		in.data = META_D_NONE;
		return meta_inode_put(t, &in);
	case NS_REPAIR_ROW_DEL:
		if (rc == 0)
			goto gone;	/* the inode exists (numbers are never reused: a race) */
		if ((rc = meta_itable_has(t, it->table, it->ino, &has)))
			return rc;
		if (!has)
			goto gone;
		switch (it->table) {
		case META_IT_DIRTY: return meta_dirty_del(t, it->ino);
		case META_IT_EXTENTS: return meta_extents_put(t, it->ino, NULL);
		case META_IT_SYMLINKS: return meta_symlink_del(t, it->ino);
		case META_IT_MOVES: return meta_move_del(t, it->ino);
		case META_IT_PREFETCH: return meta_prefetch_del(t, it->ino);
		default: return EINVAL;
		}
	case NS_REPAIR_SYMLINK_DEL:
		if (rc || in.type == META_T_LNK)
			goto gone;
		if ((rc = meta_itable_has(t, META_IT_SYMLINKS, it->ino, &has)))
			return rc;
		if (!has)
			goto gone;
		return meta_symlink_del(t, it->ino);
	case NS_REPAIR_S3DIRS:
		if (rc || in.type != META_T_DIR)
			goto gone;
		if ((rc = meta_itable_has(t, META_IT_S3DIRS, it->ino, &has)))
			return rc;
		if (has == ((in.flags & META_F_IN_S3) != 0))
			goto gone;
		return meta_inode_put(t, &in);	/* sets or clears the index row */
	case NS_REPAIR_NLINK:
		if (rc || in.nlink == it->val)
			goto gone;
		in.nlink = (uint32_t)it->val;
		return meta_inode_put(t, &in);
	case NS_REPAIR_NEXT_COOKIE:
		if (rc || in.type != META_T_DIR || in.next_cookie >= it->val)
			goto gone;
		in.next_cookie = it->val;
		return meta_inode_put(t, &in);
	case NS_REPAIR_DIRENT_DEL: {
		struct meta_dirent de;
		struct meta_inode p;

		if (rc == 0)
			goto gone;	/* the inode it names exists */
		rc = meta_dirent_get(t, it->parent, it->name, it->name_len, &de);
		if (rc == ENOENT || (rc == 0 && de.ino != it->ino))
			goto gone;
		if (rc)
			return rc;
		if ((rc = meta_dirent_del(t, it->parent, it->name, it->name_len)))
			return rc;
		rc = meta_inode_get(t, it->parent, &p);
		if (rc == ENOENT)
			return 0;
		if (rc)
			return rc;
		if (de.type == META_T_DIR && p.nlink > 2)
			p.nlink--;
		p.change++;
		if ((rc = meta_inode_put(t, &p)))
			return rc;
		return meta_change_add(t, it->parent, META_CH_DIR);
	}
	case NS_REPAIR_KEY_DEL: {
		uint64_t b;

		if (rc == 0)
			goto gone;
		rc = meta_key_get(t, it->name, it->name_len, &b);
		if (rc == ENOENT || (rc == 0 && b != it->ino))
			goto gone;
		if (rc)
			return rc;
		return meta_key_del(t, it->name, it->name_len);
	}
	default:
		return EINVAL;
	}
gone:
	c->gone = true;
	rc = 0;
out:
	rangeset_free(&rs);
	return rc;
}

int ns_repair(struct ns *ns, const struct ns_repair *r, bool *gone)
{
	struct ns_repair_ctx c = { r, false };
	int rc = meta_write(ns_meta(ns), ns_repair_txn, &c);

	*gone = rc == 0 && c.gone;
	if (rc == 0 && !c.gone)
		rc = meta_sync(ns_meta(ns));
	return rc;
}
