/*
 * pcut_fuse.c — the recorder of the power-cut tests: a pass-through FUSE file system that
 * logs, in one global order, every operation that changes what is stored under a
 * directory, with its data.
 *
 *   pcut_fuse BACKING MOUNTPOINT LOG [-o opt,...]
 *
 * Serves BACKING at MOUNTPOINT (allow_other) until unmounted or signalled; stays in the
 * foreground and creates MOUNTPOINT/.. nothing: the caller waits for the mount (mountpoint -q)
 * before it starts the programs under test with their state directory on MOUNTPOINT.
 *
 * Why FUSE and not strace (see also test/integration/pcut.sh): the gateway's two processes
 * (ganesha with the FSAL, s3files-syncd) and their threads write the same files. The
 * server here is single-threaded, so the order in which it performs the operations is a
 * linearization of what the processes did, with nothing to merge by timestamp; a syscall
 * that returned before another started is logged before it. It sees the FSAL's and
 * liblmdb's I/O although ganesha loads them RTLD_DEEPBIND (which an LD_PRELOAD shim would
 * miss), writes made through shared writable mappings (when the kernel writes the pages
 * back), and it sees results, not arguments (short writes, failures, paths resolved
 * relative to directory fds). flock and fcntl locks stay in the kernel (no lock
 * operations are implemented, so the kernel handles them locally, as on any local file
 * system) and work across the processes.
 *
 * Identity: every file and directory gets a log id, stable while it exists: the entries
 * present at start are logged first as I records (walk of BACKING); new ones get a fresh
 * id when created (C, M, S, T), so a reused inode number never merges two files.
 *
 * The log: one record per operation, a text line
 *     SEQ T_NS OP FIELDS... DATALEN\n
 * followed by DATALEN raw bytes (DATALEN is the last field; 0 for most records). T_NS is
 * CLOCK_MONOTONIC, the clock the workload driver stamps its acknowledgements with. Names
 * are percent-encoded. Records:
 *     I id kind parent name        entry present at start (kind f, d, l; root is id 1, parent 0)
 *     C id parent name mode        file created
 *     M id parent name mode        directory created
 *     S id parent name target      symlink created
 *     T id parent                  O_TMPFILE file created (no name)
 *     L id parent name             hard link (also linkat of an O_TMPFILE)
 *     U parent name id             unlink
 *     D parent name id             rmdir
 *     R oparent oname nparent nname flags id replaced_id   rename (replaced_id 0: none)
 *     W id off len                 write, DATALEN = len bytes follow
 *     Z id size                    truncate (setattr size, open O_TRUNC)
 *     P id mode off len            fallocate (mode as the syscall's)
 *     X srcid soff id off len      copy_file_range; the copied bytes follow (DATALEN = len)
 *     F id datasync                fsync (datasync 1: fdatasync) of a file
 *     FD id datasync               fsync of a directory
 *     Y id                         syncfs (id: the node the fd referred to)
 *     A id what                    attribute change without effect on contents (mode, owner, times)
 *     E end                        written at unmount
 * Operations that failed are not logged. Data of LMDB's lock file (lock.mdb, reset when
 * the environment is opened) is not logged (its W records have DATALEN 0 and a "-" flag).
 *
 * syncfs: the kernel does not pass syncfs(2) on to a FUSE server (FUSE_SYNCFS goes to
 * virtiofs only; measured: the recorder gets no request). pcut_shim.so, preloaded into a
 * program, marks each syncfs(fd) with a getxattr of "user.pcut.syncfs" on fd right before
 * the real call; that is logged as Y. The FSAL inside ganesha cannot be preloaded into
 * (RTLD_DEEPBIND), so a syncfs from it would go unseen: today only the daemon calls it.
 *
 * Syncing: fsync, fdatasync and syncfs are logged and NOT performed on BACKING (nothing
 * here is about the durability of BACKING itself); PCUT_REAL_SYNC=1 performs them.
 * FUSE_SYNCFS and FUSE_TMPFILE are handled here from the raw request (libfuse 3.14 does
 * not know them); whether the kernel sends them is reported in the log's end record.
 */
#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <linux/fuse.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* ---- nodes: one per backing inode the kernel knows (nodeid = pointer) ---- */

struct pnode {
	int fd;			/* O_PATH */
	dev_t dev;
	ino_t ino;
	uint64_t nlookup;
	uint64_t id;		/* log id */
	struct pnode *next;	/* hash chain */
};

struct pfile {
	int fd;
	uint64_t id;
	bool nodata;		/* lock.mdb: data not logged */
};

struct pdir {
	DIR *dp;
	struct dirent *entry;
	off_t offset;
};

#define NBUCKET 4096
static struct pnode root;
static struct pnode *buckets[NBUCKET];

/* log id of each backing inode number (ids of files that still exist) */
struct idmap {
	ino_t ino;
	uint64_t id;
	struct idmap *next;
};
static struct idmap *ids[NBUCKET];
static uint64_t next_id = 2;	/* 1 is the root */

static FILE *plog;
static uint64_t seq;
static bool real_sync;
static unsigned long n_syncfs_raw, n_tmpfile_raw;
static char backing[PATH_MAX];

static double attr_timeout = 1.0;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct pnode *node(fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &root : (struct pnode *)(uintptr_t)ino;
}

static uint64_t id_get(ino_t ino)
{
	for (struct idmap *m = ids[ino % NBUCKET]; m; m = m->next)
		if (m->ino == ino)
			return m->id;
	return 0;
}

static void id_set(ino_t ino, uint64_t id)
{
	struct idmap **pp = &ids[ino % NBUCKET];

	for (struct idmap *m = *pp; m; m = m->next)
		if (m->ino == ino) {
			m->id = id;
			return;
		}
	struct idmap *m = calloc(1, sizeof *m);
	if (!m)
		abort();
	m->ino = ino;
	m->id = id;
	m->next = *pp;
	*pp = m;
}

/* ---- the log ---- */

static void put_name(const char *s)
{
	if (!*s) {
		fputs("%", plog);	/* the empty name */
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '.' || *p == '_' || *p == '-' || *p == '+')
			fputc(*p, plog);
		else
			fprintf(plog, "%%%02X", *p);
	}
}

/* rec(OP, fmt, ...): fmt uses %s for names (encoded), %u for uint64_t, %i for int64_t. */
static void rec(const char *op, const char *fmt, ...)
{
	va_list ap;

	fprintf(plog, "%" PRIu64 " %" PRIu64 " %s", ++seq, now_ns(), op);
	va_start(ap, fmt);
	for (const char *f = fmt; *f; f++) {
		fputc(' ', plog);
		switch (*f) {
		case 's':
			put_name(va_arg(ap, const char *));
			break;
		case 'u':
			fprintf(plog, "%" PRIu64, va_arg(ap, uint64_t));
			break;
		case 'i':
			fprintf(plog, "%" PRId64, va_arg(ap, int64_t));
			break;
		default:
			abort();
		}
	}
	va_end(ap);
}

static void rec_end(const void *data, size_t len)
{
	fprintf(plog, " %zu\n", len);
	if (len)
		fwrite(data, 1, len, plog);
}

static void log_flush(void)
{
	fflush(plog);
}

/* ---- helpers ---- */

static int proc_path(int fd, char *buf, size_t n)
{
	return snprintf(buf, n, "/proc/self/fd/%d", fd) >= (int)n ? ENAMETOOLONG : 0;
}

static struct pnode *find_node(dev_t dev, ino_t ino)
{
	for (struct pnode *n = buckets[ino % NBUCKET]; n; n = n->next)
		if (n->ino == ino && n->dev == dev)
			return n;
	return NULL;
}

static void fill_attr(struct fuse_entry_param *e, const struct stat *st)
{
	e->attr = *st;
	e->attr_timeout = attr_timeout;
	e->entry_timeout = attr_timeout;
}

/* do_lookup: the node for parent/name (created if the kernel did not know it), nlookup+1.
 * new_id: non-zero when the entry was just created through us (a fresh log id). */
static int do_lookup(fuse_ino_t parent, const char *name, struct fuse_entry_param *e, uint64_t new_id)
{
	struct pnode *p = node(parent), *n;
	struct stat st;
	int fd;

	memset(e, 0, sizeof *e);
	fd = openat(p->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
		int rc = errno;
		close(fd);
		return rc;
	}
	if (new_id)
		id_set(st.st_ino, new_id);
	else if (!id_get(st.st_ino)) {
		/* Not seen at start and not created through us: someone bypassed the mount. */
		uint64_t id = next_id++;
		id_set(st.st_ino, id);
		rec("Q", "uus", id, p->id, name);
		rec_end(NULL, 0);
	}
	n = find_node(st.st_dev, st.st_ino);
	if (n) {
		close(fd);
		n->id = id_get(st.st_ino);
	} else {
		n = calloc(1, sizeof *n);
		if (!n) {
			close(fd);
			return ENOMEM;
		}
		n->fd = fd;
		n->dev = st.st_dev;
		n->ino = st.st_ino;
		n->id = id_get(st.st_ino);
		n->next = buckets[st.st_ino % NBUCKET];
		buckets[st.st_ino % NBUCKET] = n;
	}
	n->nlookup++;
	e->ino = (fuse_ino_t)(uintptr_t)n;
	fill_attr(e, &st);
	return 0;
}

static void forget_one(fuse_ino_t ino, uint64_t nlookup)
{
	struct pnode *n = node(ino);

	if (n == &root)
		return;
	n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
	if (n->nlookup)
		return;
	for (struct pnode **pp = &buckets[n->ino % NBUCKET]; *pp; pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			break;
		}
	close(n->fd);
	free(n);
}

/* ---- operations ---- */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* Truncation on open arrives as SETATTR (logged as Z); no splice (the raw loop reads
	 * requests from memory); no writeback cache (writes reach us when they are made). */
	conn->want &= ~(FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
			FUSE_CAP_SPLICE_MOVE | FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_READDIRPLUS);
}

static void op_destroy(void *userdata)
{
	(void)userdata;
	rec("E", "uu", (uint64_t)n_syncfs_raw, (uint64_t)n_tmpfile_raw);
	rec_end(NULL, 0);
	log_flush();
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int rc = do_lookup(parent, name, &e, 0);

	if (rc == ENOENT) {
		memset(&e, 0, sizeof e);
		e.entry_timeout = 0;	/* no negative caching: other processes create names */
		fuse_reply_entry(req, &e);
	} else if (rc)
		fuse_reply_err(req, rc);
	else
		fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forget_one(ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	for (size_t i = 0; i < count; i++)
		forget_one(f[i].ino, f[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int rc = fi ? fstat(((struct pfile *)(uintptr_t)fi->fh)->fd, &st)
		    : fstatat(node(ino)->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);

	if (rc != 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_attr(req, &st, attr_timeout);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		       struct fuse_file_info *fi)
{
	struct pnode *n = node(ino);
	char path[64];
	int rc = 0, ffd = fi ? ((struct pfile *)(uintptr_t)fi->fh)->fd : -1;

	proc_path(n->fd, path, sizeof path);
	if (valid & FUSE_SET_ATTR_MODE) {
		if ((ffd >= 0 ? fchmod(ffd, attr->st_mode) : chmod(path, attr->st_mode)) != 0)
			goto err;
		rec("A", "us", n->id, "mode");
		rec_end(NULL, 0);
	}
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		uid_t u = (valid & FUSE_SET_ATTR_UID) ? attr->st_uid : (uid_t)-1;
		gid_t g = (valid & FUSE_SET_ATTR_GID) ? attr->st_gid : (gid_t)-1;
		if (fchownat(n->fd, "", u, g, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0)
			goto err;
		rec("A", "us", n->id, "owner");
		rec_end(NULL, 0);
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		if ((ffd >= 0 ? ftruncate(ffd, attr->st_size) : truncate(path, attr->st_size)) != 0)
			goto err;
		rec("Z", "uu", n->id, (uint64_t)attr->st_size);
		rec_end(NULL, 0);
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec tv[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
		if (valid & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (valid & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		if ((ffd >= 0 ? futimens(ffd, tv) : utimensat(AT_FDCWD, path, tv, 0)) != 0)
			goto err;
		rec("A", "us", n->id, "times");
		rec_end(NULL, 0);
	}
	op_getattr(req, ino, fi);
	return;
err:
	rc = errno;
	fuse_reply_err(req, rc);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	ssize_t n = readlinkat(node(ino)->fd, "", buf, sizeof buf - 1);

	if (n < 0)
		fuse_reply_err(req, errno);
	else {
		buf[n] = 0;
		fuse_reply_readlink(req, buf);
	}
}

/* made: an entry was created in parent; log it and reply with its entry. */
static void made(fuse_req_t req, fuse_ino_t parent, const char *name, const char *op, mode_t mode,
		 const char *target)
{
	struct fuse_entry_param e;
	uint64_t id = next_id++;
	int rc = do_lookup(parent, name, &e, id);

	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	if (target)
		rec(op, "uuss", id, node(parent)->id, name, target);
	else
		rec(op, "uusu", id, node(parent)->id, name, (uint64_t)mode);
	rec_end(NULL, 0);
	fuse_reply_entry(req, &e);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	if (mknodat(node(parent)->fd, name, mode, rdev) != 0) {
		fuse_reply_err(req, errno);
		return;
	}
	made(req, parent, name, "C", mode, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	if (mkdirat(node(parent)->fd, name, mode) != 0) {
		fuse_reply_err(req, errno);
		return;
	}
	made(req, parent, name, "M", mode, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	if (symlinkat(link, node(parent)->fd, name) != 0) {
		fuse_reply_err(req, errno);
		return;
	}
	made(req, parent, name, "S", 0, link);
}

static uint64_t child_id(fuse_ino_t parent, const char *name)
{
	struct stat st;

	if (fstatat(node(parent)->fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 0;
	return id_get(st.st_ino);
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
	uint64_t cid = child_id(parent, name);

	if (unlinkat(node(parent)->fd, name, dir ? AT_REMOVEDIR : 0) != 0) {
		fuse_reply_err(req, errno);
		return;
	}
	rec(dir ? "D" : "U", "usu", node(parent)->id, name, cid);
	rec_end(NULL, 0);
	fuse_reply_err(req, 0);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, false);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_entry(req, parent, name, true);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	uint64_t cid = child_id(parent, name), rid = child_id(newparent, newname);

	if (renameat2(node(parent)->fd, name, node(newparent)->fd, newname, flags) != 0) {
		fuse_reply_err(req, errno);
		return;
	}
	rec("R", "ususuuu", node(parent)->id, name, node(newparent)->id, newname, (uint64_t)flags,
	    cid, rid);
	rec_end(NULL, 0);
	fuse_reply_err(req, 0);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct pnode *n = node(ino);
	struct fuse_entry_param e;
	int rc;

	if (linkat(n->fd, "", node(newparent)->fd, newname, AT_EMPTY_PATH) != 0) {
		fuse_reply_err(req, errno);
		return;
	}
	rc = do_lookup(newparent, newname, &e, n->id);
	if (rc) {
		fuse_reply_err(req, rc);
		return;
	}
	rec("L", "uus", n->id, node(newparent)->id, newname);
	rec_end(NULL, 0);
	fuse_reply_entry(req, &e);
}

static bool is_lock_mdb(const char *name)
{
	return name && strcmp(name, "lock.mdb") == 0;
}

static struct pfile *pfile_new(int fd, uint64_t id, bool nodata)
{
	struct pfile *f = calloc(1, sizeof *f);

	if (!f)
		return NULL;
	f->fd = fd;
	f->id = id;
	f->nodata = nodata;
	return f;
}

/* The name of a node, for the lock.mdb rule: its link in /proc. */
static bool node_is_lock_mdb(struct pnode *n)
{
	char path[64], target[PATH_MAX];
	ssize_t len;

	proc_path(n->fd, path, sizeof path);
	len = readlink(path, target, sizeof target - 1);
	if (len < 0)
		return false;
	target[len] = 0;
	const char *base = strrchr(target, '/');
	return is_lock_mdb(base ? base + 1 : target);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pnode *n = node(ino);
	char path[64];
	int fd, flags = fi->flags & ~(O_NOFOLLOW | O_APPEND | O_CREAT | O_EXCL);
	struct pfile *f;

	proc_path(n->fd, path, sizeof path);
	fd = open(path, (flags & ~O_TRUNC) | O_CLOEXEC);
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	if (flags & O_TRUNC) {
		if (ftruncate(fd, 0) != 0) {
			int rc = errno;
			close(fd);
			fuse_reply_err(req, rc);
			return;
		}
		rec("Z", "uu", n->id, (uint64_t)0);
		rec_end(NULL, 0);
	}
	f = pfile_new(fd, n->id, node_is_lock_mdb(n));
	if (!f) {
		close(fd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)f;
	fi->keep_cache = 1;	/* every change goes through this mount: the page cache stays valid */
	if (fuse_reply_open(req, fi) == -ENOENT) {	/* interrupted */
		close(fd);
		free(f);
	}
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct pnode *p = node(parent);
	struct fuse_entry_param e;
	int flags = fi->flags & ~(O_NOFOLLOW | O_APPEND | O_CREAT | O_EXCL | O_TRUNC);
	bool created = true;
	uint64_t id;
	int fd, rc;
	struct pfile *f;

	fd = openat(p->fd, name, flags | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0 && errno == EEXIST && !(fi->flags & O_EXCL)) {
		created = false;
		fd = openat(p->fd, name, flags | O_CLOEXEC);
	}
	if (fd < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	id = created ? next_id++ : 0;
	rc = do_lookup(parent, name, &e, id);
	if (rc) {
		close(fd);
		fuse_reply_err(req, rc);
		return;
	}
	if (created) {
		rec("C", "uusu", id, p->id, name, (uint64_t)mode);
		rec_end(NULL, 0);
	} else {
		id = node(e.ino)->id;
		if ((fi->flags & O_TRUNC) && ftruncate(fd, 0) == 0) {
			rec("Z", "uu", id, (uint64_t)0);
			rec_end(NULL, 0);
		}
	}
	f = pfile_new(fd, id, is_lock_mdb(name));
	if (!f) {
		close(fd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)f;
	fi->keep_cache = 1;
	fuse_reply_create(req, &e, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct pfile *f = (struct pfile *)(uintptr_t)fi->fh;
	char *buf = malloc(size ? size : 1);
	ssize_t n;

	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = pread(f->fd, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct pfile *f = (struct pfile *)(uintptr_t)fi->fh;
	ssize_t n = pwrite(f->fd, buf, size, off);

	(void)ino;
	if (n < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	if (f->nodata) {
		rec("W", "uuus", f->id, (uint64_t)off, (uint64_t)n, "-");
		rec_end(NULL, 0);
	} else {
		rec("W", "uuus", f->id, (uint64_t)off, (uint64_t)n, "+");
		rec_end(buf, (size_t)n);
	}
	fuse_reply_write(req, (size_t)n);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pfile *f = (struct pfile *)(uintptr_t)fi->fh;

	(void)ino;
	close(f->fd);
	free(f);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct pfile *f = (struct pfile *)(uintptr_t)fi->fh;

	(void)ino;
	if (real_sync && (datasync ? fdatasync(f->fd) : fsync(f->fd)) != 0) {
		fuse_reply_err(req, errno);
		return;
	}
	rec("F", "uu", f->id, (uint64_t)(datasync ? 1 : 0));
	rec_end(NULL, 0);
	log_flush();
	fuse_reply_err(req, 0);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pdir *d = calloc(1, sizeof *d);
	int fd;

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fd = openat(node(ino)->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d->dp = fdopendir(fd))) {
		int rc = errno;
		if (fd >= 0)
			close(fd);
		free(d);
		fuse_reply_err(req, rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	fuse_reply_open(req, fi);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct pdir *d = (struct pdir *)(uintptr_t)fi->fh;
	char *buf = calloc(1, size ? size : 1);
	size_t used = 0;

	(void)ino;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off != d->offset) {
		seekdir(d->dp, off);
		d->entry = NULL;
		d->offset = off;
	}
	for (;;) {
		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry)
				break;
		}
		struct stat st = { .st_ino = d->entry->d_ino, .st_mode = (mode_t)d->entry->d_type << 12 };
		off_t next = telldir(d->dp);
		size_t len = fuse_add_direntry(req, buf + used, size - used, d->entry->d_name, &st, next);
		if (len > size - used)
			break;
		used += len;
		d->entry = NULL;
		d->offset = next;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct pdir *d = (struct pdir *)(uintptr_t)fi->fh;

	(void)ino;
	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct pdir *d = (struct pdir *)(uintptr_t)fi->fh;

	if (real_sync && fsync(dirfd(d->dp)) != 0) {
		fuse_reply_err(req, errno);
		return;
	}
	rec("FD", "uu", node(ino)->id, (uint64_t)(datasync ? 1 : 0));
	rec_end(NULL, 0);
	log_flush();
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	if (statvfs(backing, &sv) != 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct pfile *f = (struct pfile *)(uintptr_t)fi->fh;

	(void)ino;
	if (fallocate(f->fd, mode, off, len) != 0) {
		fuse_reply_err(req, errno);
		return;
	}
	rec("P", "uuuu", f->id, (uint64_t)mode, (uint64_t)off, (uint64_t)len);
	rec_end(NULL, 0);
	fuse_reply_err(req, 0);
}

static void op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, struct fuse_file_info *fi_in,
			       fuse_ino_t ino_out, off_t off_out, struct fuse_file_info *fi_out, size_t len,
			       int flags)
{
	struct pfile *in = (struct pfile *)(uintptr_t)fi_in->fh, *out = (struct pfile *)(uintptr_t)fi_out->fh;
	loff_t oi = off_in, oo = off_out;
	ssize_t n;
	char *data;

	(void)ino_in;
	(void)ino_out;
	n = copy_file_range(in->fd, &oi, out->fd, &oo, len, (unsigned)flags);
	if (n < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	/* What landed in the destination is what the log replays. */
	data = malloc(n ? (size_t)n : 1);
	if (!data || pread(out->fd, data, (size_t)n, off_out) != n) {
		free(data);
		fuse_reply_err(req, EIO);
		return;
	}
	rec("X", "uuuuu", in->id, (uint64_t)off_in, out->id, (uint64_t)off_out, (uint64_t)n);
	rec_end(data, (size_t)n);
	free(data);
	fuse_reply_write(req, (size_t)n);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	struct pfile *f = (struct pfile *)(uintptr_t)fi->fh;
	off_t r = lseek(f->fd, off, whence);

	(void)ino;
	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}

/* The syncfs marker: FUSE does not pass syncfs(2) on (the kernel sends FUSE_SYNCFS to
 * virtiofs only), so pcut_shim.so, preloaded into a program, asks for this attribute of
 * the fd's file right before it calls the real syncfs. Every other attribute: none. */
#define SYNCFS_MARKER "user.pcut.syncfs"

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	(void)size;
	if (!strcmp(name, SYNCFS_MARKER)) {
		if (real_sync) {
			int fd = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd >= 0) {
				(void)syncfs(fd);
				close(fd);
			}
		}
		rec("Y", "u", node(ino)->id);
		rec_end(NULL, 0);
		log_flush();
	}
	fuse_reply_err(req, ENODATA);
}

static const struct fuse_lowlevel_ops ops = {
	.getxattr = op_getxattr,
	.init = op_init,
	.destroy = op_destroy,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.symlink = op_symlink,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.fallocate = op_fallocate,
	.copy_file_range = op_copy_file_range,
	.lseek = op_lseek,
};

/* ---- requests libfuse 3.14 does not know ---- */

static void raw_reply(int devfd, uint64_t unique, int error, const void *a, size_t alen, const void *b,
		      size_t blen)
{
	struct fuse_out_header oh = { .len = (uint32_t)(sizeof oh + alen + blen), .error = -error,
				      .unique = unique };
	struct iovec iov[3] = { { &oh, sizeof oh }, { (void *)a, alen }, { (void *)b, blen } };

	if (writev(devfd, iov, 3) < 0 && errno != ENOENT)
		fprintf(stderr, "pcut_fuse: reply to %" PRIu64 ": %s\n", unique, strerror(errno));
}

static void raw_syncfs(int devfd, const struct fuse_in_header *ih)
{
	n_syncfs_raw++;
	if (real_sync) {
		int fd = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			(void)syncfs(fd);
			close(fd);
		}
	}
	rec("Y", "u", node(ih->nodeid)->id);
	rec_end(NULL, 0);
	log_flush();
	raw_reply(devfd, ih->unique, 0, NULL, 0, NULL, 0);
}

/* FUSE_TMPFILE: like CREATE, without a name: an O_TMPFILE file in the parent. */
static void raw_tmpfile(int devfd, const struct fuse_in_header *ih, const void *arg)
{
	const struct fuse_create_in *ci = arg;
	struct pnode *p = node(ih->nodeid), *n;
	struct fuse_entry_out eo;
	struct fuse_open_out oo;
	struct stat st;
	char path[64];
	struct pfile *f;
	int fd, pfd, flags = (int)ci->flags & ~(O_NOFOLLOW | O_APPEND | O_CREAT | O_EXCL | O_TRUNC);

	n_tmpfile_raw++;
	proc_path(p->fd, path, sizeof path);
	fd = open(path, (flags & ~O_ACCMODE) | O_RDWR | O_TMPFILE | O_CLOEXEC, ci->mode & ~ci->umask);
	if (fd < 0) {
		raw_reply(devfd, ih->unique, errno, NULL, 0, NULL, 0);
		return;
	}
	proc_path(fd, path, sizeof path);
	pfd = open(path, O_PATH | O_CLOEXEC);
	if (pfd < 0 || fstat(fd, &st) != 0 || !(n = calloc(1, sizeof *n))) {
		int rc = errno ? errno : ENOMEM;
		if (pfd >= 0)
			close(pfd);
		close(fd);
		raw_reply(devfd, ih->unique, rc, NULL, 0, NULL, 0);
		return;
	}
	n->fd = pfd;
	n->dev = st.st_dev;
	n->ino = st.st_ino;
	n->id = next_id++;
	n->nlookup = 1;
	id_set(st.st_ino, n->id);
	n->next = buckets[st.st_ino % NBUCKET];
	buckets[st.st_ino % NBUCKET] = n;
	f = pfile_new(fd, n->id, false);
	rec("T", "uu", n->id, p->id);
	rec_end(NULL, 0);

	memset(&eo, 0, sizeof eo);
	eo.nodeid = (uint64_t)(uintptr_t)n;
	eo.attr_valid = 1;
	eo.entry_valid = 1;
	eo.attr.ino = st.st_ino;
	eo.attr.size = (uint64_t)st.st_size;
	eo.attr.blocks = (uint64_t)st.st_blocks;
	eo.attr.atime = (uint64_t)st.st_atim.tv_sec;
	eo.attr.mtime = (uint64_t)st.st_mtim.tv_sec;
	eo.attr.ctime = (uint64_t)st.st_ctim.tv_sec;
	eo.attr.mode = st.st_mode;
	eo.attr.nlink = (uint32_t)st.st_nlink;
	eo.attr.uid = st.st_uid;
	eo.attr.gid = st.st_gid;
	eo.attr.blksize = (uint32_t)st.st_blksize;
	memset(&oo, 0, sizeof oo);
	oo.fh = (uint64_t)(uintptr_t)f;
	oo.open_flags = FOPEN_KEEP_CACHE;
	raw_reply(devfd, ih->unique, 0, &eo, sizeof eo, &oo, sizeof oo);
}

/* ---- start ---- */

static int walk(int dirfd, uint64_t parent_id)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *de;

	if (!d)
		return errno;
	while ((de = readdir(d))) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		uint64_t id = id_get(st.st_ino);
		bool seen = id != 0;
		if (!seen) {
			id = next_id++;
			id_set(st.st_ino, id);
		}
		const char *kind = S_ISDIR(st.st_mode) ? "d" : S_ISLNK(st.st_mode) ? "l" : "f";
		rec("I", "usus", id, kind, parent_id, de->d_name);
		rec_end(NULL, 0);
		if (S_ISDIR(st.st_mode) && !seen) {
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sub >= 0)
				walk(sub, id);
		}
	}
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se;
	struct fuse_buf buf = { .mem = NULL };
	struct stat st;
	int rc = 1, devfd;
	const char *extra = NULL;

	if (argc != 4 && !(argc == 6 && !strcmp(argv[4], "-o"))) {
		fprintf(stderr, "usage: %s BACKING MOUNTPOINT LOG [-o opts]\n", argv[0]);
		return 2;
	}
	if (argc == 6)
		extra = argv[5];
	if (!realpath(argv[1], backing)) {
		fprintf(stderr, "pcut_fuse: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	real_sync = getenv("PCUT_REAL_SYNC") && !strcmp(getenv("PCUT_REAL_SYNC"), "1");
	plog = fopen(argv[3], "we");
	if (!plog) {
		fprintf(stderr, "pcut_fuse: %s: %s\n", argv[3], strerror(errno));
		return 1;
	}
	setvbuf(plog, NULL, _IOFBF, 1 << 20);

	root.fd = open(backing, O_PATH | O_CLOEXEC);
	if (root.fd < 0 || fstat(root.fd, &st) != 0) {
		fprintf(stderr, "pcut_fuse: %s: %s\n", backing, strerror(errno));
		return 1;
	}
	root.dev = st.st_dev;
	root.ino = st.st_ino;
	root.id = 1;
	root.nlookup = 2;
	id_set(st.st_ino, 1);
	walk(open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC), 1);
	log_flush();

	if (fuse_opt_add_arg(&args, argv[0]) || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, "allow_other,fsname=pcut,subtype=pcut") ||
	    (extra && (fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, extra)))) {
		fprintf(stderr, "pcut_fuse: out of memory\n");
		return 1;
	}
	se = fuse_session_new(&args, &ops, sizeof ops, NULL);
	if (!se)
		goto out_args;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_se;
	if (fuse_session_mount(se, argv[2]) != 0)
		goto out_sig;
	devfd = fuse_session_fd(se);

	/* One request at a time, in the order the kernel hands them out: the global order. */
	while (!fuse_session_exited(se)) {
		int n = fuse_session_receive_buf(se, &buf);
		if (n == -EINTR)
			continue;
		if (n <= 0)
			break;
		const struct fuse_in_header *ih = buf.mem;
		if ((size_t)n >= sizeof *ih && ih->opcode == FUSE_SYNCFS)
			raw_syncfs(devfd, ih);
		else if ((size_t)n >= sizeof *ih + sizeof(struct fuse_create_in) && ih->opcode == FUSE_TMPFILE)
			raw_tmpfile(devfd, ih, (const char *)buf.mem + sizeof *ih);
		else
			fuse_session_process_buf(se, &buf);
	}
	rc = 0;
	free(buf.mem);
	fuse_session_unmount(se);
out_sig:
	fuse_remove_signal_handlers(se);
out_se:
	fuse_session_destroy(se);
out_args:
	fuse_opt_free_args(&args);
	log_flush();
	fclose(plog);
	return rc;
}
