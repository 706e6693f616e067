/*
 * handle.c — FSAL_S3FILES object operations.
 *
 * Each operation is: lazy import of the directory if needed (S3 LIST, no transaction
 * held), one namespace call (one short LMDB transaction), and for data operations the
 * local data-tier file (opened per operation, so eviction never leaves a stale fd).
 * Nothing here holds a transaction across a ganesha callback.
 */
#include "s3f_fsal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sal_data.h"

#include "base/err.h"
#include "engine/fio.h"
#include "engine/hydrate.h"
#include "engine/import.h"
#include "base/log.h"
#include "engine/readahead.h"

#define S3F_READDIR_BATCH 128
/* Entries handed to MDCACHE past the one that filled its chunk (DIR_READAHEAD). Bounded:
 * MDCACHE drops what it cached of a directory whenever the directory's attributes change
 * (a first listing sets its mtime), so a READDIR that read the whole directory ahead
 * would have it read whole again by the next one. */
#define S3F_READDIR_AHEAD 1024

static inline struct s3f_handle *s3f_h(struct fsal_obj_handle *o)
{
	return container_of(o, struct s3f_handle, obj_handle);
}

static inline struct export_ctx *s3f_x(struct s3f_handle *h)
{
	return h->exp->x;
}

static object_file_type_t s3f_type(uint8_t t)
{
	switch (t) {
	case META_T_DIR: return DIRECTORY;
	case META_T_LNK: return SYMBOLIC_LINK;
	case META_T_FIFO: return FIFO_FILE;
	case META_T_SOCK: return SOCKET_FILE;
	case META_T_CHR: return CHARACTER_FILE;
	case META_T_BLK: return BLOCK_FILE;
	default: return REGULAR_FILE;
	}
}

static struct timespec s3f_ts(int64_t ns)
{
	struct timespec ts;

	ts.tv_sec = ns / 1000000000LL;
	ts.tv_nsec = ns % 1000000000LL;
	if (ts.tv_nsec < 0) {
		ts.tv_sec--;
		ts.tv_nsec += 1000000000LL;
	}
	return ts;
}

static int64_t s3f_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
}

void s3f_wire_make(struct s3f_wire *w, uint64_t ino, uint32_t gen)
{
	memset(w, 0, sizeof *w);
	w->magic = S3F_WIRE_MAGIC;
	w->version = S3F_WIRE_VERSION;
	w->gen = gen;
	w->ino = ino;
}

void s3f_attrs_fill(struct s3f_export *exp, const struct meta_inode *in, struct fsal_attrlist *a)
{
	a->type = s3f_type(in->type);
	a->filesize = in->size;
	a->fsid = exp->fsid;
	a->fileid = in->ino;
	a->mode = in->mode & 07777;
	a->numlinks = in->nlink;
	a->owner = in->uid;
	a->group = in->gid;
	a->rawdev.major = a->rawdev.minor = 0;
	if (in->type == META_T_CHR || in->type == META_T_BLK) {
		a->rawdev.major = major((dev_t)in->rdev);
		a->rawdev.minor = minor((dev_t)in->rdev);
	}
	a->atime = s3f_ts(in->atime_ns);
	a->mtime = s3f_ts(in->mtime_ns);
	a->ctime = s3f_ts(in->ctime_ns);
	a->creation = a->ctime;
	a->spaceused = (in->size + 4095) & ~4095ULL;
	a->change = in->change;
	a->generation = in->gen;
	a->valid_mask = ATTRS_POSIX | ATTR_GENERATION;
	a->supported = ATTRS_POSIX;
}

struct s3f_handle *s3f_handle_alloc(struct s3f_export *exp, const struct meta_inode *in)
{
	struct s3f_handle *h = gsh_calloc(1, sizeof *h);

	h->ino = in->ino;
	h->exp = exp;
	s3f_wire_make(&h->wire, in->ino, in->gen);
	fsal_obj_handle_init(&h->obj_handle, &exp->export, s3f_type(in->type));
	h->obj_handle.fileid = in->ino;
	h->obj_handle.fsid = exp->fsid;
	h->obj_handle.obj_ops = &S3F.handle_ops;
	return h;
}

static void s3f_release(struct fsal_obj_handle *obj)
{
	struct s3f_handle *h = s3f_h(obj);

	fsal_obj_handle_fini(obj);
	gsh_free(h);
}

/* Hand a new handle for in to the caller, with attributes if asked. */
static fsal_status_t s3f_new_obj(struct s3f_export *exp, const struct meta_inode *in,
				 struct fsal_obj_handle **out, struct fsal_attrlist *attrs_out)
{
	struct s3f_handle *h = s3f_handle_alloc(exp, in);

	if (attrs_out)
		s3f_attrs_fill(exp, in, attrs_out);
	*out = &h->obj_handle;
	return fsalstat(ERR_FSAL_NO_ERROR, 0);
}

/* Import the directory's S3 listing if this is its first use. A failure to reach S3 is
 * not fatal for entries already known: we serve what we have and log. */
static int s3f_dir_ready(struct s3f_handle *dir)
{
	int rc = import_dir_ensure(s3f_x(dir), dir->ino);

	if (s3_err_transient(rc)) {
		LOG_WARN(LOG_C_FSAL, "directory %llu: S3 unreachable (%s); serving local entries",
			 (unsigned long long)dir->ino, s3f_strerror(rc));
		return 0;
	}
	return rc;
}

static fsal_status_t s3f_lookup(struct fsal_obj_handle *parent, const char *name,
				struct fsal_obj_handle **handle, struct fsal_attrlist *attrs_out)
{
	struct s3f_handle *d = s3f_h(parent);
	struct meta_inode in;
	int rc;

	if (!name || !handle)
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	/* A directory never listed is not listed for a lookup: the name alone is asked for
	 * (a deep path on a cold mount costs two requests per level, not a listing of every
	 * directory on the way). readdir lists it whole. */
	rc = fio_lookup(s3f_x(d), d->ino, name, strlen(name), &in);
	if (rc == ENOENT) {
		rc = import_lookup(s3f_x(d), d->ino, name, strlen(name));
		if (s3_err_transient(rc)) {
			LOG_WARN(LOG_C_FSAL, "directory %llu: S3 unreachable (%s); serving local "
				 "entries", (unsigned long long)d->ino, s3f_strerror(rc));
			rc = 0;
		}
		if (rc == 0)
			rc = fio_lookup(s3f_x(d), d->ino, name, strlen(name), &in);
	}
	if (rc)
		return s3f_status(rc);
	return s3f_new_obj(d->exp, &in, handle, attrs_out);
}

/* One READDIR's progress: what has been handed to ganesha so far. */
struct s3f_rd {
	struct s3f_handle *d;
	struct ns_dirent *ents;
	fsal_readdir_cb cb;
	void *dir_state;
	attrmask_t attrmask;
	uint64_t after;		/* cookie of the last entry handed out */
	size_t ahead;		/* entries handed out after the first DIR_READAHEAD */
	bool readahead;		/* ganesha said DIR_READAHEAD once */
	bool stop;		/* ganesha wants no more entries (or read ahead enough) */
	bool end;		/* every entry the namespace has now was handed out */
	int rc;			/* a failure inside a page function */
};

/* Hand ganesha the entries after rd->after that the namespace has now. */
static int s3f_readdir_emit(struct s3f_rd *rd)
{
	struct export_ctx *x = s3f_x(rd->d);
	int rc = 0;

	rd->end = false;
	while (!rd->stop && !rd->end) {
		size_t n = 0;

		/* Entries are copied out of the transaction before any callback runs. */
		rc = ns_readdir(x->ns, rd->d->ino, rd->after, rd->ents, S3F_READDIR_BATCH, &n,
				&rd->end);
		if (rc)
			break;
		for (size_t i = 0; i < n && !rd->stop; i++) {
			struct fsal_attrlist attrs;
			struct fsal_obj_handle *obj;
			struct meta_inode in;
			enum fsal_dir_result res;

			rc = fio_getattr(x, rd->ents[i].ino, &in);
			if (rc == ENOENT) {
				rc = 0;		/* removed since the batch was read */
				continue;
			}
			if (rc)
				return rc;
			fsal_prepare_attrs(&attrs, rd->attrmask);
			s3f_new_obj(rd->d->exp, &in, &obj, &attrs);
			res = rd->cb(rd->ents[i].name, obj, &attrs, rd->dir_state,
				     rd->ents[i].cookie);
			fsal_release_attrs(&attrs);
			rd->after = rd->ents[i].cookie;
			if (rd->readahead)
				rd->ahead++;
			else if (res == DIR_READAHEAD)
				rd->readahead = true;
			if (res >= DIR_TERMINATE || rd->ahead >= S3F_READDIR_AHEAD)
				rd->stop = true;
		}
	}
	return rc;
}

static fsal_status_t s3f_readdir(struct fsal_obj_handle *dir_hdl, fsal_cookie_t *whence,
				 void *dir_state, fsal_readdir_cb cb, attrmask_t attrmask,
				 bool *eof)
{
	struct s3f_rd rd = {
		.d = s3f_h(dir_hdl),
		.cb = cb,
		.dir_state = dir_state,
		.attrmask = attrmask,
		.after = whence ? *whence : 0,
	};
	struct import_job *job = NULL;
	uint64_t pages = 0;
	bool listed = true;
	int rc, jrc = 0;

	if (!cb)
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	if (eof)
		*eof = false;
	rd.ents = gsh_malloc(S3F_READDIR_BATCH * sizeof *rd.ents);
	/* A directory never listed is listed by its first-listing job (import.h), which
	 * this READDIR joins or starts: the entries of each page go out as the page is in
	 * (new entries get larger cookies, meta.h, so "everything after the last cookie"
	 * misses nothing), and once ganesha has what it asked for the reply leaves while
	 * the next pages are listed; a later READDIR waits only for entries not listed
	 * yet. */
	rc = import_job_get(s3f_x(rd.d), rd.d->ino, &job);
	if (rc == 0 && job)
		listed = false;
	while (rc == 0) {
		rc = s3f_readdir_emit(&rd);
		if (rc || rd.stop || listed)
			break;
		/* every entry known so far is out: wait for the next page, or the end */
		import_job_wait(job, &pages, &listed, &jrc);
	}
	import_job_put(job);
	if (rc == 0)
		rc = jrc;
	/* A failure to reach S3 is not fatal for entries already known: we serve what we
	 * have and log (as s3f_dir_ready). */
	if (s3_err_transient(rc)) {
		LOG_WARN(LOG_C_FSAL, "directory %llu: S3 unreachable (%s); serving local entries",
			 (unsigned long long)rd.d->ino, s3f_strerror(rc));
		rc = 0;
		if (!rd.stop)
			rc = s3f_readdir_emit(&rd);
	}
	if (rc == 0 && !rd.stop && rd.end && listed && eof)
		*eof = true;
	gsh_free(rd.ents);
	return s3f_status(rc);
}

/* What of attrs_in a new inode made from nw still needs (owner and group the caller did
 * not get anyway, times, a size): into sa, set by ns_create in its own transaction. */
static void s3f_create_attrs(const struct ns_new *nw, const struct fsal_attrlist *attrs_in,
			     struct ns_setattr *sa)
{
	memset(sa, 0, sizeof *sa);
	if (!attrs_in)
		return;
	if (FSAL_TEST_MASK(attrs_in->valid_mask, ATTR_OWNER) && attrs_in->owner != nw->uid) {
		sa->mask |= NS_SET_UID;
		sa->uid = (uint32_t)attrs_in->owner;
	}
	if (FSAL_TEST_MASK(attrs_in->valid_mask, ATTR_GROUP) && attrs_in->group != nw->gid) {
		sa->mask |= NS_SET_GID;
		sa->gid = (uint32_t)attrs_in->group;
	}
	if (FSAL_TEST_MASK(attrs_in->valid_mask, ATTR_ATIME)) {
		sa->mask |= NS_SET_ATIME;
		sa->atime_ns = s3f_ns(&attrs_in->atime);
	}
	if (FSAL_TEST_MASK(attrs_in->valid_mask, ATTR_MTIME)) {
		sa->mask |= NS_SET_MTIME;
		sa->mtime_ns = s3f_ns(&attrs_in->mtime);
	}
	if (FSAL_TEST_MASK(attrs_in->valid_mask, ATTR_SIZE) && attrs_in->filesize != 0 &&
	    nw->type == META_T_REG) {
		sa->mask |= NS_SET_SIZE;
		sa->size = attrs_in->filesize;
	}
}

static fsal_status_t s3f_create_obj(struct s3f_handle *d, const char *name, enum meta_type type,
				    struct fsal_attrlist *attrs_in, const char *target,
				    struct fsal_obj_handle **new_obj, struct fsal_attrlist *attrs_out,
				    struct meta_inode *in)
{
	struct export_ctx *x = s3f_x(d);
	struct ns_new nw = {
		.type = type,
		.mode = type == META_T_DIR ? 0755 : type == META_T_LNK ? 0777 : 0644,
		.uid = op_ctx->creds.caller_uid,
		.gid = op_ctx->creds.caller_gid,
		.target = target,
		.target_len = target ? strlen(target) : 0,
		.rdev = (type == META_T_CHR || type == META_T_BLK) && attrs_in ?
			makedev(attrs_in->rawdev.major, attrs_in->rawdev.minor) : 0,
	};
	struct ns_setattr sa;
	struct meta_inode dir;
	int rc;

	if (!name || !new_obj || !in || (type == META_T_LNK && !target))
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	if (attrs_in && FSAL_TEST_MASK(attrs_in->valid_mask, ATTR_MODE))
		nw.mode = attrs_in->mode & 07777;
	rc = s3f_dir_ready(d);
	if (rc)
		return s3f_status(rc);
	/* Ganesha checks search permission on the directory of a new name, but leaves write
	 * permission to the FSAL, as a kernel file system below would refuse it. As in
	 * POSIX, an existing name answers EEXIST first, so an open with O_CREAT of an
	 * existing file needs no write permission. The directory's record also gives the
	 * new entry's group (set-group-ID directories). */
	s3f_access_lock();
	rc = ns_getattr(x->ns, d->ino, &dir);
	if (rc == ENOENT)
		rc = ESTALE;
	if (rc == 0 && dir.type != META_T_DIR)
		rc = ENOTDIR;
	if (rc == 0) {
		rc = s3f_access_may_create(&dir);
		if (rc && ns_lookup(x->ns, d->ino, name, strlen(name), in) == 0)
			rc = EEXIST;
	}
	/* As mknod(2): a device node needs privilege (CAP_MKNOD), a FIFO or socket not. */
	if (rc == 0 && (type == META_T_CHR || type == META_T_BLK) && !s3f_access_privileged())
		rc = EPERM;
	if (rc == 0) {
		s3f_access_new_inode(&dir, type, &nw.gid, &nw.mode);
		s3f_create_attrs(&nw, attrs_in, &sa);
		nw.attrs = &sa;
		rc = ns_create(x->ns, d->ino, name, strlen(name), &nw, in, NULL);
	}
	s3f_access_unlock();
	if (rc)
		return s3f_status(rc);
	/* A new name is stable when answered (knfsd's commit_metadata). */
	rc = ns_sync(x->ns);
	if (rc)
		return s3f_status(rc);
	return s3f_new_obj(d->exp, in, new_obj, attrs_out);
}

static fsal_status_t s3f_mkdir(struct fsal_obj_handle *dir_hdl, const char *name,
			       struct fsal_attrlist *attrs_in, struct fsal_obj_handle **new_obj,
			       struct fsal_attrlist *attrs_out)
{
	struct meta_inode in;

	return s3f_create_obj(s3f_h(dir_hdl), name, META_T_DIR, attrs_in, NULL, new_obj,
			      attrs_out, &in);
}

static fsal_status_t s3f_symlink(struct fsal_obj_handle *dir_hdl, const char *name,
				 const char *link_path, struct fsal_attrlist *attrs_in,
				 struct fsal_obj_handle **new_obj, struct fsal_attrlist *attrs_out)
{
	struct meta_inode in;

	return s3f_create_obj(s3f_h(dir_hdl), name, META_T_LNK, attrs_in, link_path, new_obj,
			      attrs_out, &in);
}

static fsal_status_t s3f_mknode(struct fsal_obj_handle *dir_hdl, const char *name,
				object_file_type_t nodetype, struct fsal_attrlist *attrs_in,
				struct fsal_obj_handle **new_obj, struct fsal_attrlist *attrs_out)
{
	struct meta_inode in;
	enum meta_type type;

	switch (nodetype) {
	case FIFO_FILE: type = META_T_FIFO; break;
	case SOCKET_FILE: type = META_T_SOCK; break;
	case CHARACTER_FILE: type = META_T_CHR; break;
	case BLOCK_FILE: type = META_T_BLK; break;
	default: return fsalstat(ERR_FSAL_BADTYPE, EINVAL);
	}
	/* Stored as s3fs stores them (core/store/meta.h): an empty object, the type in its mode. */
	return s3f_create_obj(s3f_h(dir_hdl), name, type, attrs_in, NULL, new_obj, attrs_out,
			      &in);
}

static fsal_status_t s3f_readlink(struct fsal_obj_handle *obj, struct gsh_buffdesc *link_content,
				  bool refresh)
{
	struct s3f_handle *h = s3f_h(obj);
	char buf[4096];
	size_t len;
	int rc;

	(void)refresh;
	rc = hydrate_symlink(s3f_x(h), h->ino, buf, sizeof buf, &len);
	if (rc)
		return s3f_status(rc);
	link_content->len = len + 1;
	link_content->addr = gsh_malloc(len + 1);
	memcpy(link_content->addr, buf, len + 1);
	return fsalstat(ERR_FSAL_NO_ERROR, 0);
}

static fsal_status_t s3f_getattrs(struct fsal_obj_handle *obj, struct fsal_attrlist *attrs)
{
	struct s3f_handle *h = s3f_h(obj);
	struct meta_inode in;
	int rc;

	if (!attrs)
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	rc = fio_getattr(s3f_x(h), h->ino, &in);
	if (rc == ENOENT)
		rc = ESTALE;
	if (rc) {
		if (attrs->request_mask & ATTR_RDATTR_ERR)
			attrs->valid_mask = ATTR_RDATTR_ERR;
		return s3f_status(rc);
	}
	s3f_attrs_fill(h->exp, &in, attrs);
	return fsalstat(ERR_FSAL_NO_ERROR, 0);
}

/* Truncate or extend: fio_resize (data lock, record first, durable on return). */
static int s3f_resize(struct s3f_handle *h, uint64_t size, const struct ns_setattr *rest,
		      struct meta_inode *out)
{
	return fio_resize(s3f_x(h), h->ino, size, rest, out);
}

static fsal_status_t s3f_setattr2(struct fsal_obj_handle *obj, bool bypass, struct state_t *state,
				  struct fsal_attrlist *attrs)
{
	struct s3f_handle *h = s3f_h(obj);
	struct export_ctx *x = s3f_x(h);
	struct ns_setattr sa = { 0 };
	struct meta_inode out;
	int64_t now = meta_now_ns();
	bool locked, kill, size, owner;
	int rc;

	(void)bypass;
	(void)state;
	if (!attrs)
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	size = FSAL_TEST_MASK(attrs->valid_mask, ATTR_SIZE);
	owner = FSAL_TEST_MASK(attrs->valid_mask, ATTR_OWNER) ||
		FSAL_TEST_MASK(attrs->valid_mask, ATTR_GROUP);
	if (size && obj->type != REGULAR_FILE)
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	/* Writes whose record is still deferred go first: their times must not land after
	 * (and over) the ones set here (fio.h). */
	if (obj->type == REGULAR_FILE && (rc = fio_flush(x, h->ino)) != 0)
		return s3f_status(rc);
	if (FSAL_TEST_MASK(attrs->valid_mask, ATTR_MODE)) {
		sa.mask |= NS_SET_MODE;
		sa.mode = attrs->mode & 07777;
	}
	if (FSAL_TEST_MASK(attrs->valid_mask, ATTR_OWNER)) {
		sa.mask |= NS_SET_UID;
		sa.uid = (uint32_t)attrs->owner;
	}
	if (FSAL_TEST_MASK(attrs->valid_mask, ATTR_GROUP)) {
		sa.mask |= NS_SET_GID;
		sa.gid = (uint32_t)attrs->group;
	}
	if (FSAL_TEST_MASK(attrs->valid_mask, ATTR_ATIME_SERVER)) {
		sa.mask |= NS_SET_ATIME;
		sa.atime_ns = now;
	} else if (FSAL_TEST_MASK(attrs->valid_mask, ATTR_ATIME)) {
		sa.mask |= NS_SET_ATIME;
		sa.atime_ns = s3f_ns(&attrs->atime);
	}
	if (FSAL_TEST_MASK(attrs->valid_mask, ATTR_MTIME_SERVER)) {
		sa.mask |= NS_SET_MTIME;
		sa.mtime_ns = now;
	} else if (FSAL_TEST_MASK(attrs->valid_mask, ATTR_MTIME)) {
		sa.mask |= NS_SET_MTIME;
		sa.mtime_ns = s3f_ns(&attrs->mtime);
	}
	/* Set-id bits go as Linux drops them (access.c): on a chown of a regular file by
	 * anyone, and on a truncate by an unprivileged caller. A mode or owner change may
	 * turn a permission decision of unlink or rename: both under s3f_access_lock. */
	kill = s3f_access_setid_drops(obj->type == REGULAR_FILE, size, owner);
	locked = kill || (sa.mask & (NS_SET_MODE | NS_SET_UID | NS_SET_GID)) != 0;
	if (locked)
		s3f_access_lock();
	if (kill) {
		struct meta_inode cur;

		rc = ns_getattr(x->ns, h->ino, &cur);
		if (rc) {
			s3f_access_unlock();
			return s3f_status(rc == ENOENT ? ESTALE : rc);
		}
		s3f_access_setattr_setid(&cur, &sa);
	}
	if (size) {
		rc = s3f_resize(h, attrs->filesize, &sa, &out);
	} else if (sa.mask) {
		rc = ns_setattr(x->ns, h->ino, &sa, &out);
	} else {
		rc = 0;
	}
	if (locked)
		s3f_access_unlock();
	/* A SETATTR is stable when answered (as knfsd's commit_metadata). */
	if (rc == 0 && sa.mask && !size)
		rc = ns_sync(x->ns);
	return s3f_status(rc);
}

/* unlink and rmdir: the caller's permission (access.c) and the removal are decided on
 * the same records, under s3f_access_lock. */
static fsal_status_t s3f_unlink(struct fsal_obj_handle *dir_hdl, struct fsal_obj_handle *obj,
				const char *name)
{
	struct s3f_handle *d = s3f_h(dir_hdl);
	struct export_ctx *x = s3f_x(d);
	struct meta_inode victim;
	uint64_t file = 0;	/* the regular file that goes, for fio_flush */
	bool want_dir;
	size_t len;
	int rc;

	if (!name)
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	len = strlen(name);
	rc = s3f_dir_ready(d);
	if (rc)
		return s3f_status(rc);
	if (obj) {
		want_dir = obj->type == DIRECTORY;
		if (obj->type == REGULAR_FILE)
			file = s3f_h(obj)->ino;
	} else {
		rc = ns_lookup(x->ns, d->ino, name, len, &victim);
		if (rc)
			return s3f_status(rc);
		want_dir = victim.type == META_T_DIR;
		if (victim.type == META_T_REG)
			file = victim.ino;
	}
	/* A file's deferred writes are recorded before it goes (never into a record the
	 * removal changed after them). */
	if (file && (rc = fio_flush(x, file)) != 0)
		return s3f_status(rc);
	for (int tries = 0;; tries++) {
		uint64_t import = 0;

		s3f_access_lock();
		rc = s3f_access_check_remove(x->ns, d->ino, name, len);
		if (rc == 0)
			rc = ns_remove(x->ns, d->ino, name, len, want_dir, &victim, NULL);
		/* The directory's listing was never imported: it may hold objects. */
		if (rc == EAGAIN && want_dir && tries == 0 &&
		    ns_lookup(x->ns, d->ino, name, len, &victim) == 0)
			import = victim.ino;
		s3f_access_unlock();
		if (!import)
			break;
		rc = import_dir(x, import, NULL);
		if (rc)
			break;
	}
	if (rc)
		return s3f_status(rc);
	/* Stable when answered (knfsd's commit_metadata): the name is gone for good. */
	rc = ns_sync(x->ns);
	if (victim.type == META_T_REG)
		(void)data_file_remove(x->data, victim.ino);
	return s3f_status(rc);
}

/* Rename is one namespace transaction (ns_rename); S3 follows through the daemon. Both
 * directories' listings must be known first, or a name that exists only in S3 could be
 * overwritten blindly; ns_rename asks for a directory it is about to move or replace. The
 * change feed then invalidates the moved object and both directories in every client's
 * view (mdcache updates the caller's own entries itself). */
static fsal_status_t s3f_rename(struct fsal_obj_handle *obj, struct fsal_obj_handle *olddir_hdl,
				const char *old_name, struct fsal_obj_handle *newdir_hdl,
				const char *new_name)
{
	struct s3f_handle *od = s3f_h(olddir_hdl), *nd = s3f_h(newdir_hdl);
	struct export_ctx *x = s3f_x(od);
	struct ns_rename_result *res;
	int rc;

	if (!old_name || !new_name)
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	/* Deferred writes of the file moved, and of one it replaces, are recorded first
	 * (their times must not land over the rename's ctime; fio.h). */
	if (obj && obj->type == REGULAR_FILE && (rc = fio_flush(x, s3f_h(obj)->ino)) != 0)
		return s3f_status(rc);
	{
		struct meta_inode old;

		if (ns_lookup(x->ns, nd->ino, new_name, strlen(new_name), &old) == 0 &&
		    old.type == META_T_REG && (rc = fio_flush(x, old.ino)) != 0)
			return s3f_status(rc);
	}
	res = gsh_malloc(sizeof *res);
	rc = s3f_dir_ready(od);
	if (rc == 0 && nd != od)
		rc = s3f_dir_ready(nd);
	for (int tries = 0; rc == 0; tries++) {
		/* The caller's permission (access.c) and the rename are decided on the same
		 * records, under s3f_access_lock; an import (S3) happens outside it. */
		s3f_access_lock();
		rc = s3f_access_check_rename(x->ns, od->ino, old_name, strlen(old_name), nd->ino,
					     new_name, strlen(new_name));
		if (rc == 0)
			rc = ns_rename(x->ns, od->ino, old_name, strlen(old_name), nd->ino, new_name,
				       strlen(new_name), res);
		else
			res->need_import = 0;
		s3f_access_unlock();
		if (rc != EAGAIN || !res->need_import || tries == 3)
			break;
		/* EAGAIN from the import too: below a directory still moving in S3. */
		rc = import_dir(x, res->need_import, NULL);
	}
	if (rc == 0)
		rc = ns_sync(x->ns);	/* stable when answered */
	if (rc == 0 && res->replaced && res->victim.type == META_T_REG)
		(void)data_file_remove(x->data, res->victim.ino);
	if (rc == 0 && res->job)
		LOG_INFO(LOG_C_FSAL, "directory %llu renamed to '%s': its objects move in S3 "
			 "(job %llu)", (unsigned long long)res->moved.ino, LOG_ESCS(new_name),
			 (unsigned long long)res->job);
	gsh_free(res);
	return s3f_status(rc);
}

static fsal_status_t s3f_link(struct fsal_obj_handle *obj, struct fsal_obj_handle *dir,
			      const char *name)
{
	(void)obj;
	(void)dir;
	(void)name;
	/* One object per key cannot be two names: hard links are refused, with link(2)'s
	 * own error for a file system that has none (EPERM, as vfat gives). NOTSUPP would
	 * reach programs as the kernel-internal ENOTSUPP (524, "Unknown error 524"): the
	 * Linux client passes NFS4ERR_NOTSUPP through untranslated. */
	return fsalstat(ERR_FSAL_PERM, EPERM);
}

/* ---- open / close ---- */

/* The "fd" of this FSAL is only its open flags: data-tier files are opened per operation.
 * fd is the global fd, a state's, or a temporary one in the caller's storage (ganesha's
 * fsal_reopen_obj opens one for a LOCKT or a stateless I/O that cannot use the global
 * fd); a NULL one is refused rather than written through. FSAL_O_ANY ("any descriptor
 * will do") opens for reading, as ganesha does for the global fd. */
static fsal_status_t s3f_open_func(struct fsal_obj_handle *obj, fsal_openflags_t openflags,
				   struct fsal_fd *fd)
{
	fsal_openflags_t flags = FSAL_O_NFS_FLAGS(openflags);

	(void)obj;
	if (!fd) {
		LOG_ERROR(LOG_C_FSAL, "open of inode %llu without a descriptor to open",
			  obj ? (unsigned long long)obj->fileid : 0ULL);
		return fsalstat(ERR_FSAL_SERVERFAULT, EINVAL);
	}
	if (!(flags & FSAL_O_RDWR))
		flags |= FSAL_O_READ;
	fd->openflags = flags;
	return fsalstat(ERR_FSAL_NO_ERROR, 0);
}

static fsal_status_t s3f_close_func(struct fsal_obj_handle *obj, struct fsal_fd *fd)
{
	(void)obj;
	if (!fd || fd->openflags == FSAL_O_CLOSED)
		return fsalstat(ERR_FSAL_NOT_OPENED, 0);
	fd->openflags = FSAL_O_CLOSED;
	return fsalstat(ERR_FSAL_NO_ERROR, 0);
}

/* Open states with write access (share counters, under obj_lock). */
static unsigned s3f_writers(struct s3f_handle *h)
{
	unsigned n;

	PTHREAD_RWLOCK_rdlock(&h->obj_handle.obj_lock);
	n = h->share.share_access_write;
	PTHREAD_RWLOCK_unlock(&h->obj_handle.obj_lock);
	return n;
}

/*
 * Commit_On_Close. The file is asked to be uploaded at the daemon's next pass (a flag in
 * its inode record, ns_commit_request; the FSAL never talks to S3 for it and never waits
 * for the upload) when a client is done writing it:
 *  - an open state with write access closes (CLOSE, OPEN_DOWNGRADE to read-only, the
 *    global fd closing) and no other open state of this gateway has write access (the
 *    share counters): with several writers, only the last one's close counts, so one
 *    client's close never uploads another's half-written data;
 *  - a client flushes it to stable storage (NFS COMMIT, or a stable WRITE, which is what
 *    the Linux client sends on fsync and on close, also when it flushes on its own) while
 *    at most one open state has write access (the flushing client's). NFS COMMIT carries
 *    no stateid, so with two writers it cannot tell whose flush it is: it does not count.
 * Only a dirty file is marked; ns_commit.c decides when the mark makes it due.
 */
static void s3f_commit_soon(struct s3f_handle *h, const char *why)
{
	bool marked = false;
	int rc;

	if (!h->exp->cfg->commit_on_close)
		return;
	rc = ns_commit_request(s3f_x(h)->ns, h->ino, &marked);
	if (rc && rc != ENOENT)
		LOG_WARN(LOG_C_FSAL, "export %u: commit on %s of inode %llu not recorded (%s): it "
			 "is uploaded after Commit_Interval", h->exp->cfg->export_id, why,
			 (unsigned long long)h->ino, s3f_strerror(rc));
	else if (marked)
		LOG_DEBUG(LOG_C_FSAL, "inode %llu due for upload (%s; %u open for writing)",
			  (unsigned long long)h->ino, why, s3f_writers(h));
}

static fsal_status_t s3f_truncate_on_open(struct s3f_handle *h)
{
	return s3f_status(s3f_resize(h, 0, NULL, NULL));
}

static fsal_status_t s3f_open2(struct fsal_obj_handle *obj, struct state_t *state,
			       fsal_openflags_t openflags, enum fsal_create_mode createmode,
			       const char *name, struct fsal_attrlist *attrs_set,
			       fsal_verifier_t verifier, struct fsal_obj_handle **new_obj,
			       struct fsal_attrlist *attrs_out, bool *caller_perm_check)
{
	struct s3f_handle *me = s3f_h(obj), *h;
	struct fsal_fd *my_fd = state ? &s3f_state_fd(state)->fd : NULL;
	struct fsal_attrlist verifier_attr;
	fsal_status_t status;
	bool created = false;
	struct meta_inode in;

	s3f_deleg_note_open(openflags);

	if (createmode >= FSAL_EXCLUSIVE) {
		if (!attrs_set) {
			memset(&verifier_attr, 0, sizeof verifier_attr);
			attrs_set = &verifier_attr;
		}
		set_common_verifier(attrs_set, verifier, false);
	}

	if (name == NULL) {
		/* Open by handle. */
		status = fsalstat(ERR_FSAL_NO_ERROR, 0);
		PTHREAD_RWLOCK_wrlock(&obj->obj_lock);
		if (state) {
			status = check_share_conflict(&me->share, openflags, false);
			if (FSAL_IS_ERROR(status)) {
				PTHREAD_RWLOCK_unlock(&obj->obj_lock);
				return status;
			}
			update_share_counters(&me->share, FSAL_O_CLOSED, openflags);
			s3f_state_fd(state)->share = openflags;
		} else {
			my_fd = &me->fd;
		}
		s3f_open_func(obj, openflags | ((openflags & FSAL_O_WRITE) ? FSAL_O_READ : 0),
			      my_fd);
		PTHREAD_RWLOCK_unlock(&obj->obj_lock);

		if (openflags & FSAL_O_TRUNC)
			status = s3f_truncate_on_open(me);
		if (!FSAL_IS_ERROR(status) && createmode >= FSAL_EXCLUSIVE &&
		    createmode != FSAL_EXCLUSIVE_9P) {
			struct fsal_attrlist cur;

			fsal_prepare_attrs(&cur, ATTR_ATIME | ATTR_MTIME);
			status = s3f_getattrs(obj, &cur);
			if (!FSAL_IS_ERROR(status) && !check_verifier_attrlist(&cur, verifier, false))
				status = fsalstat(ERR_FSAL_EXIST, EEXIST);
			fsal_release_attrs(&cur);
		}
		if (!FSAL_IS_ERROR(status)) {
			if (attrs_out)
				status = s3f_getattrs(obj, attrs_out);
			return status;
		}
		PTHREAD_RWLOCK_wrlock(&obj->obj_lock);
		(void)s3f_close_func(obj, my_fd);
		if (state) {
			update_share_counters(&me->share, openflags, FSAL_O_CLOSED);
			s3f_state_fd(state)->share = FSAL_O_CLOSED;
		}
		PTHREAD_RWLOCK_unlock(&obj->obj_lock);
		return status;
	}

	/* Open by name, creating if asked. */
	if (createmode == FSAL_NO_CREATE) {
		status = s3f_lookup(obj, name, new_obj, NULL);
		if (FSAL_IS_ERROR(status))
			return status;
		h = s3f_h(*new_obj);
	} else {
		status = s3f_create_obj(me, name, META_T_REG, attrs_set, NULL, new_obj, NULL, &in);
		if (status.major == ERR_FSAL_EXIST) {
			if (createmode == FSAL_GUARDED)
				return status;
			/* ns_create filled in the existing inode. */
			if (in.type != META_T_REG)
				return fsalstat(in.type == META_T_DIR ? ERR_FSAL_ISDIR :
						ERR_FSAL_SYMLINK, 0);
			s3f_new_obj(me->exp, &in, new_obj, NULL);
			if (createmode >= FSAL_EXCLUSIVE && createmode != FSAL_EXCLUSIVE_9P) {
				struct fsal_attrlist cur;

				fsal_prepare_attrs(&cur, ATTR_ATIME | ATTR_MTIME);
				s3f_attrs_fill(me->exp, &in, &cur);
				if (!check_verifier_attrlist(&cur, verifier, false)) {
					fsal_release_attrs(&cur);
					(*new_obj)->obj_ops->release(*new_obj);
					*new_obj = NULL;
					return fsalstat(ERR_FSAL_EXIST, EEXIST);
				}
				fsal_release_attrs(&cur);
			}
		} else if (FSAL_IS_ERROR(status)) {
			return status;
		} else {
			created = true;
		}
		h = s3f_h(*new_obj);
	}
	if ((*new_obj)->type != REGULAR_FILE) {
		fsal_status_t st = fsalstat((*new_obj)->type == DIRECTORY ? ERR_FSAL_ISDIR :
					    ERR_FSAL_SYMLINK, 0);

		(*new_obj)->obj_ops->release(*new_obj);
		*new_obj = NULL;
		return st;
	}
	if (caller_perm_check)
		*caller_perm_check = !created;

	if (!my_fd)
		my_fd = &h->fd;
	s3f_open_func(*new_obj, openflags | ((openflags & FSAL_O_WRITE) ? FSAL_O_READ : 0), my_fd);
	if (!created && (openflags & FSAL_O_TRUNC)) {
		status = s3f_truncate_on_open(h);
		if (FSAL_IS_ERROR(status))
			goto fail;
	}
	if (!created && attrs_set && attrs_set->valid_mask &&
	    createmode < FSAL_EXCLUSIVE) {
		status = s3f_setattr2(*new_obj, false, state, attrs_set);
		if (FSAL_IS_ERROR(status))
			goto fail;
	}
	if (attrs_out) {
		status = s3f_getattrs(*new_obj, attrs_out);
		if (FSAL_IS_ERROR(status) && !(attrs_out->request_mask & ATTR_RDATTR_ERR))
			goto fail;
	}
	if (state) {
		PTHREAD_RWLOCK_wrlock(&(*new_obj)->obj_lock);
		update_share_counters(&h->share, FSAL_O_CLOSED, openflags);
		s3f_state_fd(state)->share = openflags;
		PTHREAD_RWLOCK_unlock(&(*new_obj)->obj_lock);
	}
	return fsalstat(ERR_FSAL_NO_ERROR, 0);
fail:
	(void)s3f_close_func(*new_obj, my_fd);
	(*new_obj)->obj_ops->release(*new_obj);
	*new_obj = NULL;
	return status;
}

static fsal_status_t s3f_reopen2(struct fsal_obj_handle *obj, struct state_t *state,
				 fsal_openflags_t openflags)
{
	struct s3f_handle *h = s3f_h(obj);
	struct s3f_state_fd *sfd;
	struct fsal_fd *my_fd;
	fsal_openflags_t old;
	fsal_status_t status;
	bool last_writer;

	s3f_deleg_note_open(openflags);

	if (!state)	/* ganesha reopens only open states; refuse rather than crash */
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	sfd = s3f_state_fd(state);
	my_fd = &sfd->fd;
	old = sfd->share;

	PTHREAD_RWLOCK_wrlock(&obj->obj_lock);
	status = check_share_conflict(&h->share, openflags, false);
	if (FSAL_IS_ERROR(status)) {
		PTHREAD_RWLOCK_unlock(&obj->obj_lock);
		return status;
	}
	update_share_counters(&h->share, old, openflags);
	sfd->share = openflags;
	/* OPEN_DOWNGRADE from read-write to read-only: this state is done writing. */
	last_writer = (old & FSAL_O_WRITE) && !(openflags & FSAL_O_WRITE) &&
		      h->share.share_access_write == 0;
	PTHREAD_RWLOCK_unlock(&obj->obj_lock);
	if (last_writer)
		s3f_commit_soon(h, "downgrade");
	s3f_open_func(obj, openflags, my_fd);
	if (openflags & FSAL_O_TRUNC)
		return s3f_truncate_on_open(h);
	return fsalstat(ERR_FSAL_NO_ERROR, 0);
}

/*
 * The reader the read bypass keys a stream on (readahead.h: one object version per
 * reader). For NFSv4 it is the client behind the state, not the state: a client reads a
 * file through its open stateid, a lock stateid or its delegation's, and switches from
 * one to another mid-read (a delegation recalled because the object changed in S3 makes
 * the next READs carry the open stateid). Keyed on the state, that switch started a fresh
 * stream on the new version, and the reader got the old bytes, then the new ones, without
 * an error. All of a client's opens of a file share its page cache anyway. Stateless
 * reads (NFSv3, anonymous stateids): NULL, one reader per file.
 */
static const void *s3f_reader(struct state_t *state)
{
	state_owner_t *o = state ? state->state_owner : NULL;

	if (o && (o->so_type == STATE_OPEN_OWNER_NFSV4 || o->so_type == STATE_LOCK_OWNER_NFSV4 ||
		  o->so_type == STATE_CLIENTID_OWNER_NFSV4) && o->so_owner.so_nfs4_owner.so_clientrec)
		return o->so_owner.so_nfs4_owner.so_clientrec;
	return state;
}

/* The last writer closed: its deferred records go to the store now (a commit snapshot
 * would wait for them otherwise), and Commit_On_Close asks for an upload. */
static void s3f_last_close(struct s3f_handle *h)
{
	int rc = fio_flush(s3f_x(h), h->ino);

	if (rc)
		LOG_WARN(LOG_C_FSAL, "inode %llu: recording writes at close: %s",
			 (unsigned long long)h->ino, s3f_strerror(rc));
	s3f_commit_soon(h, "close");
}

static fsal_status_t s3f_close2(struct fsal_obj_handle *obj, struct state_t *state)
{
	struct s3f_handle *h = s3f_h(obj);
	struct s3f_state_fd *sfd;
	struct fsal_fd *my_fd;
	fsal_status_t status;
	bool last_writer = false;

	if (!state)
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	sfd = s3f_state_fd(state);
	my_fd = &sfd->fd;

	PTHREAD_RWLOCK_wrlock(&obj->obj_lock);
	if (state->state_type == STATE_TYPE_SHARE || state->state_type == STATE_TYPE_NLM_SHARE ||
	    state->state_type == STATE_TYPE_9P_FID) {
		last_writer = (sfd->share & FSAL_O_WRITE) && h->share.share_access_write == 1;
		update_share_counters(&h->share, sfd->share, FSAL_O_CLOSED);
		sfd->share = FSAL_O_CLOSED;
	}
	status = s3f_close_func(obj, my_fd);
	PTHREAD_RWLOCK_unlock(&obj->obj_lock);
	if (last_writer && !FSAL_IS_ERROR(status))
		s3f_last_close(h);
	/* the reader is done: its read-bypass stream (or abort) goes */
	readahead_release(h->exp->ra, h->ino, s3f_reader(state));
	return status;
}

static fsal_status_t s3f_close(struct fsal_obj_handle *obj)
{
	struct s3f_handle *h = s3f_h(obj);
	fsal_status_t status;
	bool last_writer;

	PTHREAD_RWLOCK_wrlock(&obj->obj_lock);
	/* The global fd serves stateless I/O; it counts in no share counter. */
	last_writer = (h->fd.openflags & FSAL_O_WRITE) && h->share.share_access_write == 0;
	status = s3f_close_func(obj, &h->fd);
	PTHREAD_RWLOCK_unlock(&obj->obj_lock);
	if (last_writer && !FSAL_IS_ERROR(status))
		s3f_last_close(h);
	readahead_release(h->exp->ra, h->ino, NULL);
	return status;
}

/* ---- I/O ---- */

/*
 * Share-reservation and state checks for an I/O or a lock (the "fd" itself is only
 * flags). fsal_find_fd answers with the state's fd, the open state's (for a lock state),
 * the global fd, or — when there is no state and the global fd is not open in a usable
 * mode (a LOCKT; stateless I/O; or another thread holds the handle's lock while the
 * global fd must be reopened) — a temporary fd that ganesha opens in storage the caller
 * provides and tells the caller to close (closefd). FSAL_VFS passes a stack fd the same
 * way. Nothing lives in the temporary fd beyond this check, so it is closed at once.
 */
static fsal_status_t s3f_io_check(struct s3f_handle *h, bool bypass, struct state_t *state,
				  fsal_openflags_t mode)
{
	struct fsal_fd temp_fd = { .openflags = FSAL_O_CLOSED };
	struct fsal_fd *out_fd = &temp_fd;
	bool has_lock = false, closefd = false, reusing = false;
	fsal_status_t status;

	status = fsal_find_fd(&out_fd, &h->obj_handle, &h->fd, &h->share, bypass, state, mode,
			      s3f_open_func, s3f_close_func, &has_lock, &closefd, false, &reusing);
	if (closefd && out_fd)
		(void)s3f_close_func(&h->obj_handle, out_fd);
	if (has_lock)
		PTHREAD_RWLOCK_unlock(&h->obj_handle.obj_lock);
	return status;
}

static void s3f_read2(struct fsal_obj_handle *obj, bool bypass, fsal_async_cb done_cb,
		      struct fsal_io_arg *arg, void *caller_arg)
{
	struct s3f_handle *h = s3f_h(obj);
	struct export_ctx *x = s3f_x(h);
	struct readahead_result rr;
	struct meta_inode in;
	fsal_status_t status;
	size_t got = 0;
	bool eof = false;
	int rc;

	if (!arg || arg->info) {
		done_cb(obj, fsalstat(arg ? ERR_FSAL_NOTSUPP : ERR_FSAL_INVAL, 0), arg, caller_arg);
		return;
	}
	status = s3f_io_check(h, bypass, arg->state, FSAL_O_READ);
	if (FSAL_IS_ERROR(status)) {
		done_cb(obj, status, arg, caller_arg);
		return;
	}
	arg->io_amount = 0;
	arg->end_of_file = false;
	rc = fio_getattr(x, h->ino, &in);
	if (rc == ENOENT)
		rc = ESTALE;
	if (rc)
		goto done;
	/* Large sequential reads come straight from S3 (readahead.h); the rest, and whatever
	 * the bypass leaves to us, through the data tier. The reader: s3f_reader. */
	if (arg->offset < in.size) {
		rc = readahead_read(h->exp->ra, &in, s3f_reader(arg->state), arg->offset, arg->iov,
				    arg->iov_count, &rr);
		if (rc)
			goto done;
		if (rr.served) {
			arg->io_amount = rr.got;
			arg->end_of_file = rr.eof;
			goto done;
		}
	}
	rc = fio_read(x, h->ino, arg->offset, arg->iov, arg->iov_count, &got, &eof);
	if (rc == 0) {
		arg->io_amount = got;
		arg->end_of_file = eof;
		readahead_count_tier(h->exp->ra, got);
	}
done:
	done_cb(obj, s3f_status(rc), arg, caller_arg);
}

static void s3f_write2(struct fsal_obj_handle *obj, bool bypass, fsal_async_cb done_cb,
		       struct fsal_io_arg *arg, void *caller_arg)
{
	struct s3f_handle *h = s3f_h(obj);
	struct export_ctx *x = s3f_x(h);
	struct fio_write w = { 0 };
	struct meta_inode in;
	fsal_status_t status;
	size_t want = 0, written = 0;
	int rc;

	if (!arg) {
		done_cb(obj, fsalstat(ERR_FSAL_INVAL, 0), arg, caller_arg);
		return;
	}
	status = s3f_io_check(h, bypass, arg->state, FSAL_O_WRITE);
	if (FSAL_IS_ERROR(status)) {
		done_cb(obj, status, arg, caller_arg);
		return;
	}
	arg->io_amount = 0;
	for (int i = 0; i < arg->iov_count; i++)
		want += arg->iov[i].iov_len;
	/* Data_Quota: hold the write back (or refuse it) before anything is written. */
	rc = s3f_quota_admit(h->exp, want);
	if (rc) {
		done_cb(obj, s3f_status(rc), arg, caller_arg);
		return;
	}
	/* The set-id bits this caller's write clears (read without a lock: a bit set by a
	 * chmod racing with the write may stay, as a local file system may let it). */
	if (!s3f_access_privileged() && ns_getattr(x->ns, h->ino, &in) == 0)
		w.clear_mode = s3f_access_write_clears(&in);
	w.off = arg->offset;
	w.iov = arg->iov;
	w.iovcnt = arg->iov_count;
	w.stable = arg->fsal_stable;
	rc = fio_write(x, h->ino, &w, &written, NULL);
	if (rc == 0) {
		s3f_quota_wrote(h->exp, written);
		arg->io_amount = written;
	}
	/* A stable write is the Linux client's fsync (or close flush) of a small file. */
	if (rc == 0 && arg->fsal_stable && h->exp->cfg->commit_on_close && s3f_writers(h) <= 1)
		s3f_commit_soon(h, "stable write");
	done_cb(obj, s3f_status(rc), arg, caller_arg);
}

static fsal_status_t s3f_commit2(struct fsal_obj_handle *obj, off_t offset, size_t len)
{
	struct s3f_handle *h = s3f_h(obj);
	int rc;

	(void)offset;
	(void)len;
	rc = fio_commit(s3f_x(h), h->ino);
	if (rc == 0 && h->exp->cfg->commit_on_close && s3f_writers(h) <= 1)
		s3f_commit_soon(h, "commit");
	return s3f_status(rc);
}

static fsal_status_t s3f_lock_op2(struct fsal_obj_handle *obj, struct state_t *state, void *owner,
				  fsal_lock_op_t lock_op, fsal_lock_param_t *request_lock,
				  fsal_lock_param_t *conflicting_lock)
{
	struct s3f_handle *h = s3f_h(obj);
	fsal_openflags_t openflags;
	fsal_status_t status;
	bool bypass = false;

	(void)owner;
	if (obj->type != REGULAR_FILE)
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	if (!request_lock)
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	if (request_lock->lock_type != FSAL_LOCK_R && request_lock->lock_type != FSAL_LOCK_W)
		return fsalstat(ERR_FSAL_NOTSUPP, 0);
	/* Every client reaches the file through this server, so ganesha's lock manager
	 * (SAL) sees every lock and arbitrates conflicts itself; here we only validate
	 * the open mode the lock needs. Only a test may come without a state (NFSv4 LOCKT,
	 * NLM TEST): a lock or unlock always belongs to one. */
	switch (lock_op) {
	case FSAL_OP_LOCKT:
		/* Any descriptor will do (a temporary one if none is open), and a deny
		 * mode never refuses a test. */
		bypass = true;
		openflags = FSAL_O_ANY;
		break;
	case FSAL_OP_LOCK:
		openflags = request_lock->lock_type == FSAL_LOCK_R ? FSAL_O_READ : FSAL_O_WRITE;
		break;
	case FSAL_OP_UNLOCK:
		openflags = FSAL_O_ANY;
		break;
	default:
		return fsalstat(ERR_FSAL_NOTSUPP, 0);
	}
	if (lock_op != FSAL_OP_LOCKT && !state) {
		LOG_WARN(LOG_C_FSAL, "inode %llu: lock operation %d without a state refused",
			 (unsigned long long)h->ino, (int)lock_op);
		return fsalstat(ERR_FSAL_INVAL, EINVAL);
	}
	status = s3f_io_check(h, bypass, state, openflags);
	/* No conflict is known here (SAL found none before asking). */
	if (!FSAL_IS_ERROR(status) && conflicting_lock) {
		conflicting_lock->lock_type = FSAL_NO_LOCK;
		conflicting_lock->lock_start = 0;
		conflicting_lock->lock_length = 0;
	}
	return status;
}

/* ---- handles ---- */

static fsal_status_t s3f_handle_to_wire(const struct fsal_obj_handle *obj,
					fsal_digesttype_t output_type, struct gsh_buffdesc *fh_desc)
{
	const struct s3f_handle *h = container_of(obj, const struct s3f_handle, obj_handle);

	switch (output_type) {
	case FSAL_DIGEST_NFSV3:
	case FSAL_DIGEST_NFSV4:
		if (fh_desc->len < sizeof h->wire)
			return fsalstat(ERR_FSAL_TOOSMALL, 0);
		memcpy(fh_desc->addr, &h->wire, sizeof h->wire);
		fh_desc->len = sizeof h->wire;
		return fsalstat(ERR_FSAL_NO_ERROR, 0);
	default:
		return fsalstat(ERR_FSAL_SERVERFAULT, 0);
	}
}

static void s3f_handle_to_key(struct fsal_obj_handle *obj, struct gsh_buffdesc *fh_desc)
{
	struct s3f_handle *h = s3f_h(obj);

	fh_desc->addr = &h->wire;
	fh_desc->len = sizeof h->wire;
}

static bool s3f_handle_cmp(struct fsal_obj_handle *a, struct fsal_obj_handle *b)
{
	return a == b || memcmp(&s3f_h(a)->wire, &s3f_h(b)->wire, sizeof(struct s3f_wire)) == 0;
}

static fsal_status_t s3f_merge(struct fsal_obj_handle *old_hdl, struct fsal_obj_handle *new_hdl)
{
	if (old_hdl == new_hdl || old_hdl->type != REGULAR_FILE || new_hdl->type != REGULAR_FILE)
		return fsalstat(ERR_FSAL_NO_ERROR, 0);
	return merge_share(old_hdl, &s3f_h(old_hdl)->share, &s3f_h(new_hdl)->share);
}

void s3f_handle_ops_init(struct fsal_obj_ops *ops)
{
	fsal_default_obj_ops_init(ops);
	ops->release = s3f_release;
	ops->merge = s3f_merge;
	ops->lookup = s3f_lookup;
	ops->readdir = s3f_readdir;
	ops->mkdir = s3f_mkdir;
	ops->mknode = s3f_mknode;
	ops->symlink = s3f_symlink;
	ops->readlink = s3f_readlink;
	ops->getattrs = s3f_getattrs;
	ops->setattr2 = s3f_setattr2;
	ops->link = s3f_link;
	ops->rename = s3f_rename;
	ops->unlink = s3f_unlink;
	ops->close = s3f_close;
	ops->open2 = s3f_open2;
	ops->reopen2 = s3f_reopen2;
	ops->read2 = s3f_read2;
	ops->write2 = s3f_write2;
	ops->commit2 = s3f_commit2;
	ops->lock_op2 = s3f_lock_op2;
	ops->lease_op2 = s3f_lease_op2;
	ops->close2 = s3f_close2;
	ops->handle_to_wire = s3f_handle_to_wire;
	ops->handle_to_key = s3f_handle_to_key;
	ops->handle_cmp = s3f_handle_cmp;
}
