/*
 * access.c — the POSIX permission rules ganesha 4.3 leaves to the FSAL.
 *
 * Ganesha checks search permission along a path and the owner rules of SETATTR, but —
 * built without ENABLE_RFC_ACL, as Debian's is — no permission at all for REMOVE and
 * RENAME (fsal_remove, fsal_rename in FSAL/fsal_helper.c), and it clears the set-id bits
 * only when an unprivileged caller chowns an executable file. A Linux file system below
 * knfsd refuses and clears more, and that is what NFS clients compare a server with, so
 * the rules here are Linux's:
 *   - removing a name (fs/namei.c may_delete): write and search permission on the
 *     directory (EACCES); in a sticky directory only the owner of the entry or of the
 *     directory, or root (EPERM);
 *   - creating a name (may_create): write and search permission on the directory;
 *   - rename (vfs_rename): may_delete on the source, may_delete on a target it replaces
 *     or may_create where there is none, and, when a directory moves to another parent,
 *     write permission on that directory itself (its ".." changes);
 *   - a new entry in a set-group-ID directory takes the directory's group, a new
 *     subdirectory also its S_ISGID bit (fs/inode.c inode_init_owner); a new file asking
 *     for S_ISGID with S_IXGRP there keeps it only for a member of the group or root
 *     (mode_strip_sgid);
 *   - set-id bits dropped (fs/attr.c setattr_should_drop_suidgid and
 *     setattr_should_drop_sgid, fs/open.c chown_common, knfsd's nfsd_sanitize_attrs): a
 *     chown or chgrp of a regular file clears S_ISUID whoever the caller, a truncate by an
 *     unprivileged caller too; both clear S_ISGID when S_IXGRP is set, or when the caller
 *     is neither in the file's group nor root. (A WRITE follows the truncate rule; the
 *     write path applies it.)
 * "Root" is uid 0 of the caller's credentials as ganesha squashed them (op_ctx->creds):
 * it has CAP_DAC_OVERRIDE, CAP_FOWNER and CAP_FSETID, a squashed root has none.
 */
#include "s3f_fsal.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "ns/ns.h"

/* One lock for the FSAL: a permission decision and the namespace change it allows are
 * made under it, and so are the changes that would turn the decision (a directory's or
 * an entry's mode or owner, which name names which inode). */
static pthread_mutex_t s3f_access_mu = PTHREAD_MUTEX_INITIALIZER;

void s3f_access_lock(void)
{
	pthread_mutex_lock(&s3f_access_mu);
}

void s3f_access_unlock(void)
{
	pthread_mutex_unlock(&s3f_access_mu);
}

bool s3f_access_privileged(void)
{
	return op_ctx->creds.caller_uid == 0;
}

bool s3f_access_in_group(uint32_t gid)
{
	const struct user_cred *cr = &op_ctx->creds;

	if (cr->caller_gid == gid)
		return true;
	for (unsigned i = 0; i < cr->caller_glen; i++)
		if (cr->caller_garray && cr->caller_garray[i] == gid)
			return true;
	return false;
}

/* The caller may (r 4, w 2, x 1) in, by its mode bits: owner class, else group class,
 * else other — as generic_permission, no fall-through from one class to the next. */
static bool s3f_may(const struct meta_inode *in, unsigned want)
{
	unsigned bits;

	if (s3f_access_privileged())
		return true;
	if (op_ctx->creds.caller_uid == in->uid)
		bits = (in->mode >> 6) & 7;
	else if (s3f_access_in_group(in->gid))
		bits = (in->mode >> 3) & 7;
	else
		bits = in->mode & 7;
	return (bits & want) == want;
}

int s3f_access_may_create(const struct meta_inode *dir)
{
	return s3f_may(dir, 2 | 1) ? 0 : EACCES;
}

int s3f_access_may_delete(const struct meta_inode *dir, const struct meta_inode *victim)
{
	uint32_t uid = op_ctx->creds.caller_uid;

	if (!s3f_may(dir, 2 | 1))
		return EACCES;
	if ((dir->mode & S_ISVTX) && uid != victim->uid && uid != dir->uid &&
	    !s3f_access_privileged())
		return EPERM;
	return 0;
}

/* Read dir and the entry name in it: ENOENT/ESTALE as the namespace says. */
static int s3f_access_get(struct ns *ns, uint64_t dir, const char *name, size_t len,
			  struct meta_inode *d, struct meta_inode *e)
{
	int rc = ns_getattr(ns, dir, d);

	if (rc)
		return rc == ENOENT ? ESTALE : rc;
	return ns_lookup(ns, dir, name, len, e);
}

int s3f_access_check_remove(struct ns *ns, uint64_t dir, const char *name, size_t len)
{
	struct meta_inode d, e;
	int rc;

	rc = s3f_access_get(ns, dir, name, len, &d, &e);
	if (rc)
		return rc;
	return s3f_access_may_delete(&d, &e);
}

int s3f_access_check_rename(struct ns *ns, uint64_t olddir, const char *oldname, size_t oldlen,
			    uint64_t newdir, const char *newname, size_t newlen)
{
	struct meta_inode od, src, nd, tgt;
	bool have_tgt;
	int rc;

	rc = s3f_access_get(ns, olddir, oldname, oldlen, &od, &src);
	if (rc)
		return rc;
	rc = s3f_access_get(ns, newdir, newname, newlen, &nd, &tgt);
	if (rc && rc != ENOENT)
		return rc;
	have_tgt = rc == 0;
	/* Both names are one inode: rename does nothing, and asks nothing. */
	if (have_tgt && tgt.ino == src.ino)
		return 0;
	rc = s3f_access_may_delete(&od, &src);
	if (rc)
		return rc;
	rc = have_tgt ? s3f_access_may_delete(&nd, &tgt) : s3f_access_may_create(&nd);
	if (rc)
		return rc;
	/* A directory moving to another parent: its ".." is rewritten. */
	if (newdir != olddir && src.type == META_T_DIR && !s3f_may(&src, 2))
		return EACCES;
	return 0;
}

void s3f_access_new_inode(const struct meta_inode *dir, enum meta_type type, uint32_t *gid,
			  uint32_t *mode)
{
	if (!(dir->mode & S_ISGID))
		return;
	*gid = dir->gid;
	if (type == META_T_DIR)
		*mode |= S_ISGID;
	else if ((*mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) &&
		 !s3f_access_in_group(dir->gid) && !s3f_access_privileged())
		*mode &= ~S_ISGID;
}

bool s3f_access_setid_drops(bool regular, bool size, bool owner)
{
	return regular && (owner || (size && !s3f_access_privileged()));
}

/* Linux's setattr_should_drop_sgid: S_ISGID goes with S_IXGRP (a real set-group-ID
 * program), and without it (a mandatory-locking mark) only when the caller is neither
 * in the file's group nor privileged. (Debian's 6.1 kernel has this rule; tmpfs in the
 * test guest shows it.) */
static bool s3f_sgid_drops(uint32_t mode, uint32_t gid)
{
	if (!(mode & S_ISGID))
		return false;
	return (mode & S_IXGRP) || (!s3f_access_privileged() && !s3f_access_in_group(gid));
}

uint32_t s3f_access_write_clears(const struct meta_inode *cur)
{
	uint32_t clear = 0;

	/* Linux file_remove_privs on write: without CAP_FSETID the set-user-ID bit goes, and
	 * the set-group-ID bit by setattr_should_drop_sgid's rule. */
	if (s3f_access_privileged() || !(cur->mode & (S_ISUID | S_ISGID)))
		return 0;
	if (cur->mode & S_ISUID)
		clear |= S_ISUID;
	if (s3f_sgid_drops(cur->mode, cur->gid))
		clear |= S_ISGID;
	return clear;
}

void s3f_access_setattr_setid(const struct meta_inode *cur, struct ns_setattr *sa)
{
	if (sa->mask & NS_SET_MODE) {
		/* knfsd: "we're setting mode too, just clear the s*id bits"; the group rule
		 * on the group the file had (a mode ganesha added itself to a chown is the
		 * current one). */
		bool sgid = s3f_sgid_drops(sa->mode, cur->gid);

		sa->mode &= ~S_ISUID;
		if (sgid)
			sa->mode &= ~S_ISGID;
		return;
	}
	if ((cur->mode & S_ISGID) && !(cur->mode & S_IXGRP) && s3f_sgid_drops(cur->mode, cur->gid)) {
		/* Beyond NS_SET_KILL_SUID's rule: the mode as read, without both bits. The
		 * caller holds s3f_access_lock, which every mode change of this gateway takes,
		 * so the mode read is still the mode stored. */
		sa->mask |= NS_SET_MODE;
		sa->mode = cur->mode & ~(uint32_t)(S_ISUID | S_ISGID);
		return;
	}
	sa->mask |= NS_SET_KILL_SUID;
}
