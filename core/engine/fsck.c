/*
 * fsck.c — see fsck.h.
 *
 * The run, in order:
 *   1. the data tier, walked by name (data_tier_files skips what is not ours, and that is
 *      exactly what this walk must see);
 *   2. the inodes, FSCK_CHUNK per read transaction: every check that compares an inode
 *      with other tables (its entry, the dirty table, its extents, its key binding) is
 *      taken inside that transaction, so a gateway changing things meanwhile cannot make
 *      two tables look inconsistent;
 *   3. each regular file with present bytes against its data file, under the data lock;
 *   4. the data files no regular file claimed: orphans, data of directories and symlinks;
 *   5. each directory: its cookie rows and entries, link count, next cookie;
 *   6. the other tables row by row (rows of inodes that are gone, keys, deletes, jobs).
 * Findings are queued while a transaction is open and reported, and repaired, after it:
 * a repair takes a data lock or a write transaction, and neither may be taken with a read
 * transaction open (lock order: data lock, then a transaction; one transaction per thread).
 *
 * Why a verdict on a record against its data file needs the data lock: a fetch installs
 * bytes, an eviction removes the file and a commit snapshot marks it, all under the
 * EXCLUSIVE lock; client I/O changes it under the shared one, but always in the order
 * that keeps "present" true (bytes before the record, the record before a shrink). With
 * the shared lock held and the record read after it, what the record calls present is in
 * the file, or the protocol was broken. A file that does not exist cannot be locked: its
 * absence is confirmed by reading the record before and after looking (an eviction or a
 * remove changes the record first).
 */
#include "engine/fsck.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/data.h"
#include "base/err.h"
#include "store/instlock.h"
#include "ns/keymap.h"
#include "store/info_keys.h"
#include "store/meta.h"
#include "ns/ns_sync.h"
#include "base/rangeset.h"
#include "base/tp.h"
#include "base/buf.h"

#define FSCK_CHUNK 256			/* rows per read transaction */
#define FSCK_PATH_MAX 4096
#define FSCK_QUARANTINE "fsck-orphans"
#define FSCK_STAGE_PREFIX ".stage-"	/* data_stage_open's named fallback */

/* ---- names ---- */

static const char *const fsck_class_names[FSCK_NCLASS] = {
	"legal", "garbage", "powercut", "error", "loss"
};

const char *fsck_class_name(enum fsck_class c)
{
	return (unsigned)c < FSCK_NCLASS ? fsck_class_names[c] : "?";
}

const char *fsck_action_name(enum fsck_action a)
{
	switch (a) {
	case FSCK_A_NONE: return "none";
	case FSCK_A_REPAIRABLE: return "repairable";
	case FSCK_A_OFFLINE: return "offline";
	case FSCK_A_MANUAL: return "manual";
	case FSCK_A_REPAIRED: return "repaired";
	case FSCK_A_FAILED: return "failed";
	case FSCK_A_GONE: return "gone";
	}
	return "?";
}

/* ---- state of a run ---- */

/* The repairs of the store are the namespace's (ns_repair: the same numbers); the others
 * are done here, with the data tier's locks. */
enum fsck_fix {
	FIX_NONE = 0,
	FIX_DIRTY_ADD = NS_REPAIR_DIRTY_ADD,
	FIX_DIRTY_DEL = NS_REPAIR_DIRTY_DEL,
	FIX_CHANGING = NS_REPAIR_CHANGING,
	FIX_EXTENTS = NS_REPAIR_EXTENTS,
	FIX_NONFILE_DATA = NS_REPAIR_NONFILE_DATA,
	FIX_ROW_DEL = NS_REPAIR_ROW_DEL,
	FIX_SYMLINK_DEL = NS_REPAIR_SYMLINK_DEL,
	FIX_S3DIRS = NS_REPAIR_S3DIRS,
	FIX_NLINK = NS_REPAIR_NLINK,		/* offline */
	FIX_NEXT_COOKIE = NS_REPAIR_NEXT_COOKIE,	/* offline */
	FIX_DIRENT_DEL = NS_REPAIR_DIRENT_DEL,	/* offline */
	FIX_KEY_DEL = NS_REPAIR_KEY_DEL,	/* offline */
	FIX_DATA_NONE = 64,	/* clean file: data NONE, under the exclusive data lock */
	FIX_MOVE_ASIDE,		/* a file of the tier into the quarantine */
	FIX_STAGE_RM,		/* a staging leftover */
};

static bool fsck_fix_online(enum fsck_fix fix)
{
	/* Entries, link counts and key bindings are cached by ganesha (and bindings steer the
	 * daemon's imports and moves): those wait for the gateway to be stopped. */
	return fix != FIX_NLINK && fix != FIX_NEXT_COOKIE && fix != FIX_DIRENT_DEL &&
	       fix != FIX_KEY_DEL;
}

struct fsck_item {
	enum fsck_class cls;
	const char *kind;
	uint64_t ino;
	char *path;
	char *detail;
	uint64_t bytes;
	enum fsck_fix fix;
	enum meta_itable table;	/* FIX_ROW_DEL */
	uint64_t val;		/* FIX_NLINK: the count; FIX_NEXT_COOKIE: the cookie;
				   FIX_MOVE_ASIDE of a data file: the inode's type (0: none);
				   FIX_DIRENT_DEL: the inode the entry names */
	uint64_t parent;	/* FIX_DIRENT_DEL */
	char *name;		/* FIX_DIRENT_DEL: entry name; FIX_MOVE_ASIDE, FIX_STAGE_RM:
				   path in the tier; FIX_KEY_DEL: the stored key */
	size_t name_len;
	bool data_file;		/* FIX_MOVE_ASIDE: a data file of the tier (locked protocol) */
};

/* A file of the tier, from the walk. */
struct fsck_tfile {
	uint64_t ino;
	uint64_t size;		/* st_size */
	uint64_t bytes;		/* allocated */
	uint8_t seen;		/* type of the inode the inode walk saw (0: none) */
	bool claimed;		/* a regular file with present bytes */
};

struct fsck {
	struct export_ctx *x;
	const struct fsck_opts *o;
	struct fsck_stats *st;
	uint64_t next_ino;
	int datafd;
	bool oom;
	struct fsck_tfile *tf;
	size_t ntf, captf;
	uint64_t *files, *dirs;
	size_t nfiles, capfiles, ndirs, capdirs;
	struct fsck_item *q;
	size_t nq, capq;
	/* scratch */
	char *pbuf;
	const char **comp;
	size_t *clen;
	char *key;
	/* quarantine */
	int qfd;
	FILE *manifest;
};

static int fsck_push_u64(uint64_t **a, size_t *n, size_t *cap, uint64_t v)
{
	if (BUF_GROW(a, cap, *n + 1))
		return ENOMEM;
	(*a)[(*n)++] = v;
	return 0;
}

/* Printable, one line: bytes below 0x20, 0x7f, '%' and '\\' as %XX. */
static void fsck_esc(char *out, size_t cap, const char *s, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 4 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == '%' || c == '\\')
			o += (size_t)snprintf(out + o, cap - o, "%%%02X", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* The path of ino from the export root, or "?/<name>" when it cannot be resolved. */
static char *fsck_path(struct fsck *f, struct meta_txn *t, uint64_t ino)
{
	struct meta_inode in;
	size_t n = 0, total = 0, o = 0;
	char *out;
	int rc;

	if (!t || !ino)
		return strdup("");
	if (ino == META_ROOT_INO)
		return strdup("/");
	rc = ns_path(f->x->ns, t, ino, f->pbuf, FSCK_PATH_MAX, f->comp, f->clen, &n);
	if (rc) {
		char buf[META_NAME_MAX + 3];

		if (meta_inode_get(t, ino, &in) != 0)
			return strdup("?");
		snprintf(buf, sizeof buf, "?/%s", in.name);
		return strdup(buf);
	}
	for (size_t i = 0; i < n; i++)
		total += 1 + f->clen[i];
	out = malloc(total + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		out[o++] = '/';
		memcpy(out + o, f->comp[i], f->clen[i]);
		o += f->clen[i];
	}
	out[o] = '\0';
	return out;
}

/* Queue a finding (t: the transaction it was found in, for the path; may be NULL). The
 * returned item is valid until the next note; NULL when out of memory (f->oom). */
__attribute__((format(printf, 7, 8)))
static struct fsck_item *fsck_note(struct fsck *f, struct meta_txn *t, enum fsck_class cls,
				   const char *kind, uint64_t ino, enum fsck_fix fix,
				   const char *fmt, ...)
{
	struct fsck_item *it;
	va_list ap;
	char buf[1024];

	if (BUF_GROW(&f->q, &f->capq, f->nq + 1)) {
		f->oom = true;
		return NULL;
	}
	it = &f->q[f->nq];
	memset(it, 0, sizeof *it);
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	it->cls = cls;
	it->kind = kind;
	it->ino = ino;
	it->fix = fix;
	it->detail = strdup(buf);
	it->path = fsck_path(f, t, ino);
	if (!it->detail || !it->path) {
		free(it->detail);
		free(it->path);
		f->oom = true;
		return NULL;
	}
	f->nq++;
	return it;
}

static int fsck_item_name(struct fsck_item *it, const void *name, size_t len)
{
	it->name = malloc(len + 1);
	if (!it->name)
		return ENOMEM;
	memcpy(it->name, name, len);
	it->name[len] = '\0';
	it->name_len = len;
	return 0;
}

/* ---- records and the data tier ---- */

/* A clean regular file whose bytes S3 holds: the data state may drop to NONE (the bytes
 * are fetched again), as an eviction would (ns_data_evicting's conditions). */
static bool fsck_clean_sourced(const struct meta_inode *in)
{
	return in->type == META_T_REG && in->sync == META_S_CLEAN && (in->flags & META_F_IN_S3) &&
	       !(in->flags & META_F_RESERVED) && in->etag[0];
}

struct fsck_rec {
	struct meta_inode in;
	struct rangeset rs;
	int rs_rc;
	struct fsck *f;
	uint64_t ino;
	bool want_path;
	char *path;
};

static int fsck_rec_txn(struct meta_txn *t, void *arg)
{
	struct fsck_rec *r = arg;
	int rc = meta_inode_get(t, r->ino, &r->in);

	if (rc)
		return rc;
	r->rs_rc = meta_extents_get(t, r->ino, &r->rs);
	if (r->rs_rc && r->rs_rc != S3F_E_META_CORRUPT)
		return r->rs_rc;
	if (r->want_path) {
		free(r->path);
		r->path = fsck_path(r->f, t, r->ino);
		if (!r->path)
			return ENOMEM;
	}
	return 0;
}

/* The record and present ranges of ino in one read transaction. ENOENT if gone. */
static int fsck_rec_read(struct fsck *f, uint64_t ino, bool want_path, struct fsck_rec *r)
{
	r->f = f;
	r->ino = ino;
	r->want_path = want_path;
	return meta_read(ns_store(f->x->ns), fsck_rec_txn, r);
}

/* End of the last present byte a data file must hold (0: none). */
static uint64_t fsck_present_end(const struct fsck_rec *r)
{
	uint64_t end;

	if (r->in.type != META_T_REG || r->rs_rc)
		return 0;
	if (r->in.data == META_D_FULL)
		return r->in.size;
	if (r->in.data != META_D_PARTIAL || r->rs.n == 0)
		return 0;
	end = r->rs.r[r->rs.n - 1].end;
	return end < r->in.size ? end : r->in.size;
}

static bool fsck_rec_same(const struct meta_inode *a, const struct meta_inode *b)
{
	return a->gen == b->gen && a->change == b->change && a->data == b->data &&
	       a->size == b->size && a->sync == b->sync && a->dirty_gen == b->dirty_gen;
}

/* The verdict on a regular file's record against its data file (exists, len). *kind NULL
 * when it is fine. */
static void fsck_data_verdict(const struct fsck_rec *r, bool exists, uint64_t len,
			      const char **kind, enum fsck_class *cls, enum fsck_fix *fix)
{
	uint64_t need = fsck_present_end(r);
	bool clean = fsck_clean_sourced(&r->in);

	*kind = NULL;
	*fix = FIX_NONE;
	if (need == 0)
		return;
	if (!exists) {
		*kind = "data_missing";
		*cls = clean ? FSCK_ERROR : FSCK_POWERCUT;
	} else if (len < need) {
		*kind = "data_short";
		*cls = clean ? FSCK_ERROR : FSCK_LEGAL;
	} else {
		return;
	}
	if (clean)
		*fix = FIX_DATA_NONE;
}

static struct fsck_tfile *fsck_tf_find(struct fsck *f, uint64_t ino)
{
	size_t lo = 0, hi = f->ntf;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->tf[mid].ino == ino)
			return &f->tf[mid];
		if (f->tf[mid].ino < ino)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ---- repairs ---- */

/* The quarantine directory, made on first use: <State_Dir>/fsck-orphans/<UTC time>[.N]. */
static int fsck_quarantine(struct fsck *f)
{
	char base[PATH_MAX], name[48], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int bfd, rc;

	if (f->qfd >= 0)
		return 0;
	if (f->o->quarantine_dir) {
		if (mkdir(f->o->quarantine_dir, 0700) != 0 && errno != EEXIST)
			return errno;
		f->qfd = open(f->o->quarantine_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
		if ((size_t)snprintf(base, sizeof base, "%s/%s", f->x->cfg->state_dir,
				     FSCK_QUARANTINE) >= sizeof base)
			return ENAMETOOLONG;
		if (mkdir(base, 0700) != 0 && errno != EEXIST)
			return errno;
		bfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (bfd < 0)
			return errno;
		/* A second run within the same second gets its own directory. */
		snprintf(name, sizeof name, "%s", stamp);
		for (int n = 2; mkdirat(bfd, name, 0700) != 0; n++) {
			if (errno != EEXIST || n == 1000) {
				rc = errno;
				close(bfd);
				return rc;
			}
			snprintf(name, sizeof name, "%s.%d", stamp, n);
		}
		(void)fsync(bfd);
		f->qfd = openat(bfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		close(bfd);
	}
	if (f->qfd < 0)
		return errno;
	rc = openat(f->qfd, "MANIFEST", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (rc < 0 || !(f->manifest = fdopen(rc, "a"))) {
		rc = errno;
		close(f->qfd);
		f->qfd = -1;
		return rc;
	}
	return 0;
}

/* Copy name (in dirfd) to qname (in the quarantine), for a quarantine on another file
 * system. */
static int fsck_copy_out(struct fsck *f, int dirfd, const char *name, const char *qname)
{
	struct stat st;
	int src = -1, dst = -1, rc;

	src = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (src < 0)
		return errno;
	dst = openat(f->qfd, qname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (dst < 0) {
		rc = errno;
		goto out;
	}
	rc = fstat(src, &st) == 0 ? 0 : errno;
	if (rc == 0)
		rc = data_file_copy(dst, src, 0, (uint64_t)st.st_size);
	if (rc == 0)
		rc = data_file_sync(dst);
	if (rc)
		(void)unlinkat(f->qfd, qname, 0);
out:
	if (dst >= 0)
		close(dst);
	close(src);
	return rc;
}

/* Move the tier's file rel (relative to the tier) into the quarantine and list it in the
 * MANIFEST; both directories synced. */
static int fsck_move_aside(struct fsck *f, const struct fsck_item *it)
{
	char qname[NAME_MAX + 1];
	const char *slash = strrchr(it->name, '/');
	int rc;

	rc = fsck_quarantine(f);
	if (rc)
		return rc;
	snprintf(qname, sizeof qname, "%s", it->name);
	for (char *p = qname; *p; p++)
		if (*p == '/')
			*p = '-';
	for (int n = 2; faccessat(f->qfd, qname, F_OK, AT_SYMLINK_NOFOLLOW) == 0 && n < 10000; n++) {
		char tmp[NAME_MAX + 1];

		snprintf(tmp, sizeof tmp, "%.200s.%d", it->name, n);
		for (char *p = tmp; *p; p++)
			if (*p == '/')
				*p = '-';
		memcpy(qname, tmp, sizeof qname);
	}
	if (renameat(f->datafd, it->name, f->qfd, qname) != 0) {
		rc = errno;
		if (rc != EXDEV)
			return rc;
		rc = fsck_copy_out(f, f->datafd, it->name, qname);
		if (rc)
			return rc;
		if (unlinkat(f->datafd, it->name, 0) != 0)
			return errno;
	}
	fprintf(f->manifest, "%s\t%s\t%" PRIu64 "\t%" PRIu64 "\tdata/%s\n", qname, it->kind, it->ino,
		it->bytes, it->name);
	if (fflush(f->manifest) != 0 || fsync(fileno(f->manifest)) != 0 || fsync(f->qfd) != 0)
		return errno;
	/* The name is gone from the tier for good (the copy in the quarantine is durable). */
	if (slash) {
		char sub[PATH_MAX];
		int sfd;

		snprintf(sub, sizeof sub, "%.*s", (int)(slash - it->name), it->name);
		sfd = openat(f->datafd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd < 0)
			return errno;
		rc = fsync(sfd) == 0 ? 0 : errno;
		close(sfd);
		return rc;
	}
	return fsync(f->datafd) == 0 ? 0 : errno;
}

/* Under the file's exclusive data lock: is the finding still true? */
static int fsck_recheck_data(struct fsck *f, const struct fsck_item *it, int fd, bool *still)
{
	struct fsck_rec r = { .rs = RANGESET_INIT };
	enum fsck_class cls;
	enum fsck_fix fix;
	const char *kind;
	uint64_t len = 0;
	int rc;

	*still = false;
	rc = fsck_rec_read(f, it->ino, false, &r);
	if (rc == ENOENT) {
		rc = 0;
		goto out;
	}
	if (rc)
		goto out;
	if (strcmp(it->kind, "extents_corrupt") == 0) {
		*still = r.rs_rc == S3F_E_META_CORRUPT && fsck_clean_sourced(&r.in);
		goto out;
	}
	rc = data_file_size(fd, &len);
	if (rc)
		goto out;
	/* A file the repair's own DATA_CREATE made is empty: "missing" and "short" are one. */
	fsck_data_verdict(&r, true, len, &kind, &cls, &fix);
	*still = kind && fix == FIX_DATA_NONE;
out:
	rangeset_free(&r.rs);
	free(r.path);
	return rc;
}

static int fsck_fix_data_none(struct fsck *f, const struct fsck_item *it, bool *gone)
{
	bool still, had;
	int fd = -1, rc;

	*gone = false;
	/* DATA_CREATE: a missing file must be locked too (an install creates it the same
	 * way); the empty file left is what a data state of NONE allows. */
	rc = data_file_open_locked(f->x->data, it->ino, DATA_CREATE, true, &fd);
	if (rc)
		return rc;
	rc = fsck_recheck_data(f, it, fd, &still);
	if (rc == 0 && !still)
		*gone = true;
	if (rc == 0 && still) {
		rc = ns_data_evicting(f->x->ns, it->ino, &had);
		if (rc == 0 && !had)
			*gone = true;
		/* Durable before the lock goes, as an eviction's (rule E). */
		if (rc == 0)
			rc = ns_sync(f->x->ns);
	}
	data_file_unlock(fd);
	data_file_close(f->x->data, fd);
	return rc;
}

struct fsck_type_ctx {
	uint64_t ino;
	int rc;
	uint8_t type;
};

static int fsck_type_txn(struct meta_txn *t, void *arg)
{
	struct fsck_type_ctx *c = arg;
	struct meta_inode in;

	c->rc = meta_inode_get(t, c->ino, &in);
	c->type = c->rc == 0 ? in.type : 0;
	return c->rc == ENOENT ? 0 : c->rc;
}

/* A data file of no regular file: moved aside under its exclusive lock, after the inode
 * was looked up again under it. */
static int fsck_fix_move_data(struct fsck *f, const struct fsck_item *it, bool *gone)
{
	struct fsck_type_ctx c = { it->ino, 0, 0 };
	int fd = -1, rc;

	*gone = false;
	rc = data_file_open_locked(f->x->data, it->ino, 0, true, &fd);
	if (rc == ENOENT) {
		*gone = true;
		return 0;
	}
	if (rc)
		return rc;
	rc = meta_read(ns_store(f->x->ns), fsck_type_txn, &c);
	if (rc == 0 && (c.type == META_T_REG || (c.type == 0) != (it->val == 0)))
		*gone = true;
	if (rc == 0 && !*gone)
		rc = fsck_move_aside(f, it);
	if (rc == 0 && !*gone)
		data_tier_usage_adjust(f->x->data, -(int64_t)it->bytes);
	data_file_unlock(fd);
	data_file_close(f->x->data, fd);
	return rc;
}

/* Is the process that named staging file `name` alive (another process than this one)?
 * Its pid is in the name (data_stage_open: ".stage-<pid>-<random>"). */
static bool fsck_stage_owner_alive(const char *name)
{
	long pid = strtol(name + strlen(FSCK_STAGE_PREFIX), NULL, 10);

	return pid > 0 && pid != (long)getpid() && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* A named staging file: a live process may still be about to unlink it (only possible in
 * an online run: offline, ganesha and the daemon are held off, and nothing else stages;
 * a live pid then is another process's that got the number again). */
static int fsck_fix_stage(struct fsck *f, const struct fsck_item *it, bool *gone)
{
	*gone = false;
	if (f->o->online && fsck_stage_owner_alive(it->name)) {
		*gone = true;	/* not a leftover: its process unlinks it */
		return 0;
	}
	if (unlinkat(f->datafd, it->name, 0) != 0) {
		if (errno != ENOENT)
			return errno;
		*gone = true;
		return 0;
	}
	return fsync(f->datafd) == 0 ? 0 : errno;
}

static enum fsck_action fsck_repair(struct fsck *f, struct fsck_item *it, int *rcp)
{
	bool gone = false;
	int rc;

	switch (it->fix) {
	case FIX_DATA_NONE:
		rc = fsck_fix_data_none(f, it, &gone);
		break;
	case FIX_MOVE_ASIDE:
		if (it->data_file) {
			rc = fsck_fix_move_data(f, it, &gone);
		} else {
			rc = fsck_move_aside(f, it);
			if (rc == ENOENT) {
				gone = true;
				rc = 0;
			}
		}
		if (rc == 0 && !gone) {
			f->st->moved_files++;
			f->st->moved_bytes += it->bytes;
		}
		break;
	case FIX_STAGE_RM:
		rc = fsck_fix_stage(f, it, &gone);
		break;
	default: {
		struct ns_repair r = {
			.kind = (enum ns_repair_kind)it->fix, .ino = it->ino, .table = it->table,
			.val = it->val, .parent = it->parent, .name = it->name,
			.name_len = it->name_len,
		};

		rc = ns_repair(f->x->ns, &r, &gone);
		break;
	}
	}
	*rcp = rc;
	if (rc)
		return FSCK_A_FAILED;
	return gone ? FSCK_A_GONE : FSCK_A_REPAIRED;
}

/* Report (and repair) the queued findings. No transaction open. */
static void fsck_flush(struct fsck *f)
{
	for (size_t i = 0; i < f->nq; i++) {
		struct fsck_item *it = &f->q[i];
		struct fsck_finding fd = { 0 };
		enum fsck_action a;
		int rc = 0;

		if (it->fix == FIX_NONE)
			a = it->cls == FSCK_LEGAL ? FSCK_A_NONE : FSCK_A_MANUAL;
		else if (f->o->online && !fsck_fix_online(it->fix))
			a = FSCK_A_OFFLINE;
		else if (!f->o->repair)
			a = FSCK_A_REPAIRABLE;
		else
			a = fsck_repair(f, it, &rc);
		if (a != FSCK_A_GONE) {
			f->st->found[it->cls]++;
			if (a == FSCK_A_REPAIRED)
				f->st->repaired++;
			else if (it->cls != FSCK_LEGAL)
				f->st->unrepaired++;
		}
		fd.cls = it->cls;
		fd.kind = it->kind;
		fd.ino = it->ino;
		fd.path = it->path;
		fd.detail = it->detail;
		fd.action = a;
		fd.rc = rc;
		fd.bytes = it->bytes;
		if (f->o->report)
			f->o->report(f->o->arg, &fd);
		free(it->path);
		free(it->detail);
		free(it->name);
	}
	f->nq = 0;
}

/* ---- 1. the data tier, by name ---- */

static bool fsck_hexname(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int fsck_tf_cmp(const void *a, const void *b)
{
	const struct fsck_tfile *x = a, *y = b;

	return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static void fsck_tier_foreign(struct fsck *f, const char *rel, const struct stat *st)
{
	struct fsck_item *it;
	bool reg = S_ISREG(st->st_mode);

	it = fsck_note(f, NULL, FSCK_GARBAGE, "tier_foreign", 0, reg ? FIX_MOVE_ASIDE : FIX_NONE,
		       "data/%s: %s the data tier does not make", rel,
		       reg ? "a file" : S_ISDIR(st->st_mode) ? "a directory" : "an entry");
	if (it) {
		it->bytes = reg ? (uint64_t)st->st_blocks * 512 : 0;
		if (fsck_item_name(it, rel, strlen(rel)))
			f->oom = true;
	}
}

static int fsck_tier_sub(struct fsck *f, const char *sub)
{
	unsigned b = (unsigned)strtoul(sub, NULL, 16);
	struct dirent *e;
	DIR *d;
	int fd, rc = 0;

	fd = openat(f->datafd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : errno;
	d = fdopendir(fd);
	if (!d) {
		rc = errno;
		close(fd);
		return rc;
	}
	while (!f->oom) {
		char rel[2 * NAME_MAX + 4];
		struct fsck_item *it;
		struct stat st;
		uint64_t ino;

		errno = 0;
		e = readdir(d);
		if (!e) {
			rc = errno;
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(rel, sizeof rel, "%s/%s", sub, e->d_name);
		if (fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno == ENOENT)
				continue;
			rc = errno;
			break;
		}
		if (!S_ISREG(st.st_mode) || !fsck_hexname(e->d_name, 16)) {
			fsck_tier_foreign(f, rel, &st);
			continue;
		}
		ino = strtoull(e->d_name, NULL, 16);
		if ((ino & 0xff) != b) {
			it = fsck_note(f, NULL, FSCK_GARBAGE, "tier_misplaced", 0, FIX_MOVE_ASIDE,
				       "data/%s: the data file of inode %" PRIu64 " belongs in "
				       "data/%02x/ (never read there)", rel, ino,
				       (unsigned)(ino & 0xff));
			if (it) {
				it->bytes = (uint64_t)st.st_blocks * 512;
				if (fsck_item_name(it, rel, strlen(rel)))
					f->oom = true;
			}
			continue;
		}
		if (BUF_GROW(&f->tf, &f->captf, f->ntf + 1)) {
			f->oom = true;
			break;
		}
		f->tf[f->ntf++] = (struct fsck_tfile){ ino, (uint64_t)st.st_size,
						       (uint64_t)st.st_blocks * 512, 0, false };
	}
	closedir(d);
	return rc;
}

static int fsck_tier(struct fsck *f)
{
	struct dirent *e;
	DIR *d;
	int fd, rc = 0;

	fd = openat(f->datafd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	d = fdopendir(fd);
	if (!d) {
		rc = errno;
		close(fd);
		return rc;
	}
	while (rc == 0 && !f->oom) {
		struct fsck_item *it;
		struct stat st;

		errno = 0;
		e = readdir(d);
		if (!e) {
			rc = errno;
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(f->datafd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno != ENOENT)
				rc = errno;
			continue;
		}
		if (S_ISDIR(st.st_mode) && fsck_hexname(e->d_name, 2)) {
			rc = fsck_tier_sub(f, e->d_name);
		} else if (S_ISREG(st.st_mode) &&
			   strncmp(e->d_name, FSCK_STAGE_PREFIX, strlen(FSCK_STAGE_PREFIX)) == 0) {
			/* Online, the staging file of a live fetch is no leftover (it is unlinked
			 * right after it is made, and goes with its process). */
			if (f->o->online && fsck_stage_owner_alive(e->d_name))
				continue;
			it = fsck_note(f, NULL, FSCK_GARBAGE, "staging_leftover", 0, FIX_STAGE_RM,
				       "data/%s: a fetch's staging file left by a process that "
				       "ended before removing it (fetched S3 bytes, nobody's copy)",
				       e->d_name);
			if (it) {
				it->bytes = (uint64_t)st.st_blocks * 512;
				if (fsck_item_name(it, e->d_name, strlen(e->d_name)))
					f->oom = true;
			}
		} else {
			fsck_tier_foreign(f, e->d_name, &st);
		}
	}
	closedir(d);
	if (f->ntf)
		qsort(f->tf, f->ntf, sizeof *f->tf, fsck_tf_cmp);
	return f->oom ? ENOMEM : rc;
}

/* ---- 2. inodes ---- */

static void fsck_inode_links(struct fsck *f, struct meta_txn *t, const struct meta_inode *in)
{
	struct meta_inode p;
	struct meta_dirent de;
	char esc[3 * META_NAME_MAX + 1];
	struct fsck_item *it;
	int rc;

	if (in->ino == META_ROOT_INO) {
		if (in->type != META_T_DIR || in->parent != META_ROOT_INO)
			fsck_note(f, t, FSCK_ERROR, "root_bad", in->ino, FIX_NONE,
				  "the root is type %u with parent %" PRIu64 " (a directory, its "
				  "own parent, expected)", in->type, in->parent);
		return;
	}
	fsck_esc(esc, sizeof esc, in->name, in->name_len);
	if (in->parent == in->ino) {
		fsck_note(f, t, FSCK_ERROR, "parent_missing", in->ino, FIX_NONE,
			  "'%s' is its own parent", esc);
		return;
	}
	rc = meta_inode_get(t, in->parent, &p);
	if (rc || p.type != META_T_DIR) {
		fsck_note(f, t, FSCK_ERROR, "parent_missing", in->ino, FIX_NONE,
			  "'%s': its parent, inode %" PRIu64 ", %s", esc, in->parent,
			  rc ? "does not exist" : "is not a directory");
		return;
	}
	rc = meta_dirent_get(t, in->parent, in->name, in->name_len, &de);
	if (rc || de.ino != in->ino) {
		fsck_note(f, t, FSCK_ERROR, "unlinked", in->ino, FIX_NONE,
			  "directory %" PRIu64 " has %s '%s' (the inode is unreachable)",
			  in->parent, rc ? "no entry" : "another inode under", esc);
		return;
	}
	if (de.type != in->type)
		fsck_note(f, t, FSCK_ERROR, "dirent_type", in->ino, FIX_NONE,
			  "its entry says type %u, the inode is type %u", de.type, in->type);
	if (keymap_name_check(in->name, in->name_len) != 0)
		fsck_note(f, t, FSCK_ERROR, "bad_name", in->ino, FIX_NONE,
			  "'%s' is not a valid name", esc);
	if (in->type != META_T_DIR && in->nlink != 1) {
		it = fsck_note(f, t, FSCK_ERROR, "nlink", in->ino, FIX_NLINK,
			       "link count %u (no hard links: 1)", in->nlink);
		if (it)
			it->val = 1;
	}
}

static void fsck_inode_sync(struct fsck *f, struct meta_txn *t, const struct meta_inode *in)
{
	struct meta_move m;
	char tbuf[2];
	size_t tlen;
	bool has, moved = false;
	int rc;

	/* lost+found's inodes (RESERVED) are clean and never committed: a change announced
	 * before the conflict moved the file there, or a write there, keeps the flag, and
	 * nothing reads it (no commit, no eviction of a reserved inode). */
	if ((in->flags & META_F_CHANGING) && !(in->flags & META_F_RESERVED) &&
	    (in->type != META_T_REG || in->sync == META_S_CLEAN))
		fsck_note(f, t, FSCK_ERROR, "changing_clean", in->ino, FIX_CHANGING,
			  "META_F_CHANGING on a %s (only a dirty file announces a change)",
			  in->type != META_T_REG ? "non-file" : "clean file");
	if ((in->flags & META_F_RESERVED) && in->sync != META_S_CLEAN)
		fsck_note(f, t, FSCK_ERROR, "reserved_dirty", in->ino, FIX_NONE,
			  "s3files' own inode (lost+found) in sync state %u: it is never uploaded",
			  in->sync);
	rc = meta_itable_has(t, META_IT_DIRTY, in->ino, &has);
	if (rc == 0 && in->sync != META_S_CLEAN && !has)
		fsck_note(f, t, FSCK_ERROR, "dirty_untracked", in->ino, FIX_DIRTY_ADD,
			  "%s but not in the dirty table: the daemon would never commit it",
			  in->sync == META_S_DIRTY ? "dirty" : "in conflict");
	if (rc == 0 && in->sync == META_S_CLEAN && has)
		fsck_note(f, t, FSCK_ERROR, "dirty_stale", in->ino, FIX_DIRTY_DEL,
			  "clean but in the dirty table");
	rc = meta_itable_has(t, META_IT_S3DIRS, in->ino, &has);
	if (rc == 0 && in->type == META_T_DIR && has != ((in->flags & META_F_IN_S3) != 0))
		fsck_note(f, t, FSCK_ERROR, "s3dirs_index", in->ino, FIX_S3DIRS,
			  "a directory %sbound to S3 %s the index the daemon polls",
			  has ? "not " : "", has ? "in" : "missing from");
	if (rc == 0 && in->type != META_T_DIR && has)
		fsck_note(f, t, FSCK_ERROR, "s3dirs_index", in->ino, FIX_NONE,
			  "a non-directory in the index of directories bound to S3");
	rc = meta_move_get(t, in->ino, &m);
	if (rc == S3F_E_META_CORRUPT) {
		fsck_note(f, t, FSCK_ERROR, "move_bad", in->ino, FIX_NONE,
			  "its moves record cannot be decoded");
	} else if (rc == 0) {
		moved = true;
		if (in->type == META_T_DIR || in->sync == META_S_CLEAN || (in->flags & META_F_IN_S3))
			fsck_note(f, t, FSCK_ERROR, "move_bad", in->ino, FIX_NONE,
				  "a moves record (object still at its old key) on a %s",
				  in->type == META_T_DIR ? "directory" :
				  in->sync == META_S_CLEAN ? "clean file (its commit did the move)" :
				  "file bound to its path key");
	}
	if (in->type != META_T_LNK) {
		rc = meta_symlink_get(t, in->ino, tbuf, sizeof tbuf, &tlen);
		if (rc == 0 || rc == ERANGE)
			fsck_note(f, t, FSCK_ERROR, "symlink_stray", in->ino, FIX_SYMLINK_DEL,
				  "a symlink target recorded for a non-symlink");
	}
	/* The object a file is based on must be bound to it: imports tell its object from
	 * another client's by the binding, and directory moves find it by it. */
	if (in->type != META_T_DIR && !(in->flags & META_F_RESERVED) &&
	    ((in->flags & META_F_IN_S3) || moved)) {
		char etag[S3_ETAG_MAX], esc[256];
		size_t klen = 0;
		uint64_t b = 0;

		rc = ns_data_source_txn(f->x->ns, t, in->ino, f->key, S3_KEY_MAX + 1, &klen, etag);
		if (rc == 0) {
			rc = meta_key_get(t, f->key, klen, &b);
			if (rc == ENOENT || (rc == 0 && b != in->ino)) {
				fsck_esc(esc, sizeof esc, f->key, klen);
				fsck_note(f, t, FSCK_ERROR, "key_unbound", in->ino, FIX_NONE,
					  "its object's key '%s' is %s", esc,
					  rc ? "not bound to it" : "bound to another inode");
			}
		}
	}
}

static void fsck_inode_file(struct fsck *f, struct meta_txn *t, const struct meta_inode *in)
{
	struct rangeset rs = RANGESET_INIT, have = RANGESET_INIT, miss = RANGESET_INIT;
	bool clean = fsck_clean_sourced(in);
	struct fsck_tfile *tf;
	int rc;

	rc = meta_extents_get(t, in->ino, &rs);
	if (rc == S3F_E_META_CORRUPT) {
		fsck_note(f, t, clean ? FSCK_ERROR : FSCK_LOSS, "extents_corrupt", in->ino,
			  clean ? FIX_DATA_NONE : FIX_NONE,
			  "its present ranges cannot be decoded%s", clean ?
			  " (clean: the data is fetched again)" :
			  ": which local bytes are the file's cannot be told");
		goto out;
	}
	if (rc)
		goto out;
	if (in->data == META_D_FULL && rs.n) {
		fsck_note(f, t, FSCK_ERROR, "extents_on_full", in->ino, FIX_EXTENTS,
			  "fully local, yet %zu present ranges recorded", rs.n);
	} else if (in->data == META_D_NONE && rs.n) {
		fsck_note(f, t, FSCK_ERROR, "extents_on_none", in->ino, FIX_EXTENTS,
			  "nothing local, yet %zu present ranges recorded (ignored by readers)",
			  rs.n);
	} else if (in->data == META_D_PARTIAL) {
		if (rs.n == 0)
			fsck_note(f, t, FSCK_ERROR, "extents_empty", in->ino, FIX_EXTENTS,
				  "partly local without any present range");
		else if (rs.r[rs.n - 1].end > in->size)
			fsck_note(f, t, FSCK_ERROR, "extents_beyond_size", in->ino, FIX_EXTENTS,
				  "a present range ends at %" PRIu64 ", past the size %" PRIu64,
				  rs.r[rs.n - 1].end, in->size);
		else if (rangeset_covers(&rs, 0, in->size))
			fsck_note(f, t, FSCK_ERROR, "extents_full", in->ino, FIX_EXTENTS,
				  "partly local, yet every byte is present");
	}
	if (in->sync == META_S_CLEAN && (in->flags & META_F_IN_S3) && !(in->flags & META_F_RESERVED) &&
	    in->size != in->s3_size)
		fsck_note(f, t, FSCK_ERROR, "clean_size", in->ino, FIX_NONE,
			  "clean, size %" PRIu64 ", but its object has %" PRIu64 " bytes",
			  in->size, in->s3_size);
	/* Bytes that are not local must have a source to come from. */
	if (in->data == META_D_FULL && in->size && rangeset_add(&have, 0, in->size))
		goto oom;
	if (in->data == META_D_PARTIAL) {
		for (size_t i = 0; i < rs.n; i++)
			if (rangeset_add(&have, rs.r[i].start, rs.r[i].end))
				goto oom;
	}
	if (in->size && rangeset_missing(&have, 0, in->size, &miss))
		goto oom;
	if (miss.n) {
		char etag[S3_ETAG_MAX];
		size_t klen;
		uint64_t mb = rangeset_bytes(&miss);
		bool lost_ok = in->sync == META_S_CONFLICT || (in->flags & META_F_RESERVED);

		rc = ns_data_source_txn(f->x->ns, t, in->ino, f->key, S3_KEY_MAX + 1, &klen, etag);
		if (rc == EIO)
			fsck_note(f, t, lost_ok ? FSCK_LEGAL : FSCK_LOSS, "source_lost", in->ino,
				  FIX_NONE, "%" PRIu64 " bytes from %" PRIu64 " are not local and "
				  "their source object is lost%s", mb, miss.r[0].start,
				  lost_ok ? " (a conflict S3 won: they read as EIO)" :
				  ", yet the file is not in conflict");
		else if (rc == ENODATA)
			fsck_note(f, t, in->sync != META_S_CLEAN || (in->flags & META_F_RESERVED) ?
				  FSCK_LOSS : FSCK_ERROR, "no_source", in->ino, FIX_NONE,
				  "%" PRIu64 " bytes from %" PRIu64 " are not local and there is no "
				  "S3 object to fetch them from: they read as zeros%s", mb,
				  miss.r[0].start, in->sync != META_S_CLEAN ?
				  " and would be uploaded as zeros" : "");
	}
	if ((in->data == META_D_FULL && in->size) || (in->data == META_D_PARTIAL && rs.n)) {
		if (fsck_push_u64(&f->files, &f->nfiles, &f->capfiles, in->ino))
			goto oom;
		tf = fsck_tf_find(f, in->ino);
		if (tf)
			tf->claimed = true;
	}
	goto out;
oom:
	f->oom = true;
out:
	rangeset_free(&rs);
	rangeset_free(&have);
	rangeset_free(&miss);
}

static void fsck_inode_nonfile(struct fsck *f, struct meta_txn *t, const struct meta_inode *in)
{
	bool has = false;

	if (meta_itable_has(t, META_IT_EXTENTS, in->ino, &has) == 0 && (has || in->data != META_D_NONE))
		fsck_note(f, t, FSCK_ERROR, has ? "extents_on_nonfile" : "data_on_nonfile", in->ino,
			  FIX_NONFILE_DATA, "a %s with %s", in->type == META_T_DIR ? "directory" :
			  in->type == META_T_LNK ? "symlink" : "special file", has ? "present ranges" : "a data state");
	if (in->type == META_T_DIR && fsck_push_u64(&f->dirs, &f->ndirs, &f->capdirs, in->ino))
		f->oom = true;
	if (in->type == META_T_LNK) {
		char tbuf[2], etag[S3_ETAG_MAX];
		size_t tlen, klen;
		int rc = meta_symlink_get(t, in->ino, tbuf, sizeof tbuf, &tlen);

		if (rc == ENOENT) {
			rc = ns_data_source_txn(f->x->ns, t, in->ino, f->key, S3_KEY_MAX + 1, &klen,
						etag);
			if (rc == EIO || rc == ENODATA)
				fsck_note(f, t, FSCK_LOSS, "symlink_no_target", in->ino, FIX_NONE,
					  "a symlink without a recorded target and without an S3 "
					  "object to read it from");
		}
	}
}

static void fsck_inode(struct fsck *f, struct meta_txn *t, const struct meta_inode *in)
{
	struct fsck_tfile *tf;

	f->st->inodes++;
	if (in->type < META_T_REG || in->type > META_T_MAX || in->sync > META_S_CONFLICT ||
	    in->data > META_D_FULL) {
		fsck_note(f, t, FSCK_ERROR, "record_bad", in->ino, FIX_NONE,
			  "type %u, sync state %u, data state %u: out of range", in->type, in->sync,
			  in->data);
		return;
	}
	if (f->next_ino && in->ino >= f->next_ino)
		fsck_note(f, t, FSCK_ERROR, "record_bad", in->ino, FIX_NONE,
			  "inode number not below the next one to hand out (%" PRIu64 ")",
			  f->next_ino);
	if (in->type == META_T_REG)
		f->st->files++;
	else if (in->type == META_T_DIR)
		f->st->dirs++;
	else if (in->type == META_T_LNK)
		f->st->symlinks++;
	else
		f->st->specials++;
	fsck_inode_links(f, t, in);
	fsck_inode_sync(f, t, in);
	if (in->type == META_T_REG)
		fsck_inode_file(f, t, in);
	else
		fsck_inode_nonfile(f, t, in);
	tf = fsck_tf_find(f, in->ino);
	if (tf)
		tf->seen = in->type;
}

struct fsck_chunk {
	struct fsck *f;
	uint64_t after;
	uint64_t inos[FSCK_CHUNK];
	size_t n;
};

static int fsck_chunk_collect(void *arg, uint64_t ino)
{
	struct fsck_chunk *c = arg;

	c->inos[c->n++] = ino;
	return c->n == FSCK_CHUNK;
}

static int fsck_inodes_txn(struct meta_txn *t, void *arg)
{
	struct fsck_chunk *c = arg;
	struct fsck *f = c->f;
	int rc;

	if (!f->next_ino) {
		size_t len = 0;

		rc = meta_info_get(t, META_INFO_NEXT_INO, &f->next_ino, sizeof f->next_ino, &len);
		if (rc || len != sizeof f->next_ino)
			f->next_ino = 0;
		if (c->after == 0) {
			struct meta_inode root;

			if (meta_inode_get(t, META_ROOT_INO, &root) == ENOENT)
				fsck_note(f, t, FSCK_ERROR, "root_bad", META_ROOT_INO, FIX_NONE,
					  "the root directory has no record");
		}
	}
	c->n = 0;
	rc = meta_itable_walk(t, META_IT_INODES, c->after, fsck_chunk_collect, c);
	if (rc < 0 || (rc && rc != 1))
		return rc;
	for (size_t i = 0; i < c->n && !f->oom; i++) {
		struct meta_inode in;

		rc = meta_inode_get(t, c->inos[i], &in);
		if (rc == S3F_E_META_CORRUPT) {
			fsck_note(f, NULL, FSCK_ERROR, "record_corrupt", c->inos[i], FIX_NONE,
				  "the inode record cannot be decoded");
			continue;
		}
		if (rc)
			return rc;
		fsck_inode(f, t, &in);
	}
	return 0;
}

static int fsck_inodes(struct fsck *f)
{
	struct fsck_chunk *c = calloc(1, sizeof *c);
	int rc = 0;

	if (!c)
		return ENOMEM;
	c->f = f;
	do {
		rc = meta_read(ns_store(f->x->ns), fsck_inodes_txn, c);
		fsck_flush(f);
		if (c->n)
			c->after = c->inos[c->n - 1];
	} while (rc == 0 && !f->oom && c->n == FSCK_CHUNK);
	free(c);
	return rc ? rc : f->oom ? ENOMEM : 0;
}

/* ---- 3. regular files against their data files ---- */

static int fsck_note_data(struct fsck *f, const struct fsck_rec *r, bool exists, uint64_t len)
{
	struct fsck_item *it = NULL;
	enum fsck_class cls;
	enum fsck_fix fix;
	const char *kind;
	uint64_t need = fsck_present_end(r);

	fsck_data_verdict(r, exists, len, &kind, &cls, &fix);
	if (kind && !exists)
		it = fsck_note(f, NULL, cls, kind, r->ino, fix,
			       "no data file, yet %s: bytes up to %" PRIu64 " read as zeros%s",
			       r->in.data == META_D_FULL ? "fully local" : "partly local", need,
			       fix ? " (clean: the data is fetched again)" :
			       " (only a power cut loses a data file's name: the file was "
			       "written without a COMMIT)");
	else if (kind)
		it = fsck_note(f, NULL, cls, kind, r->ino, fix,
			       "the data file ends at %" PRIu64 ", the record calls bytes up to %"
			       PRIu64 " present: they read as zeros%s", len, need,
			       fix ? " (clean: the data is fetched again)" :
			       " (an extension never written out, or unstable writes)");
	if (kind && it) {
		free(it->path);
		it->path = strdup(r->path ? r->path : "");
		if (!it->path) {
			f->oom = true;
			return ENOMEM;
		}
	}
	if (exists && len > r->in.size && r->in.type == META_T_REG) {
		it = fsck_note(f, NULL, FSCK_LEGAL, "stale_tail", r->ino, FIX_NONE,
			       "the data file is %" PRIu64 " bytes, the file %" PRIu64 " (bytes "
			       "past the end belong to no one)", len, r->in.size);
		if (it) {
			free(it->path);
			it->path = strdup(r->path ? r->path : "");
			if (!it->path)
				f->oom = true;
		}
	}
	return f->oom ? ENOMEM : 0;
}

/* Looks at a file whose data file was missing this many times, each time finding it back
 * when it looked again, before it gives up without a verdict (a file evicted and fetched
 * over and over while the check runs). */
#define FSCK_ABSENT_TRIES 3

static int fsck_file_data(struct fsck *f, uint64_t ino)
{
	struct fsck_rec r1 = { .rs = RANGESET_INIT }, r2 = { .rs = RANGESET_INIT };
	uint64_t len = 0;
	int fd = -1, rc;

	for (int tries = 0;; tries++) {
		rc = fsck_rec_read(f, ino, false, &r1);
		if (rc)
			goto out;
		if (fsck_present_end(&r1) == 0)
			goto out;	/* nothing present (any more) */
		TP("fsck.data.recorded");
		rc = data_file_open_locked(f->x->data, ino, 0, false, &fd);
		if (rc != ENOENT)
			break;
		TP("fsck.data.absent");
		/* No file to lock: whatever removes one changes the record first (an eviction:
		 * "nothing local"; an unlink: the inode goes). */
		rc = fsck_rec_read(f, ino, true, &r2);
		if (rc || !fsck_rec_same(&r1.in, &r2.in) || fsck_present_end(&r2) == 0)
			goto out;
		/* The same record twice is not enough: an eviction and a fetch between the two
		 * reads leave the record as it was (neither bumps a counter) while the file was
		 * gone in between. It must still be missing after the second read. */
		rc = data_file_open(f->x->data, ino, 0, &fd);
		if (rc == ENOENT) {
			rc = fsck_note_data(f, &r2, false, 0);
			goto out;
		}
		if (rc)
			goto out;
		data_file_close(f->x->data, fd);
		fd = -1;
		if (tries + 1 == FSCK_ABSENT_TRIES)
			goto out;	/* a busy file: no verdict this time */
	}
	if (rc)
		goto out;
	/* Under the shared lock: the record read now stays true for the bytes. */
	rc = fsck_rec_read(f, ino, true, &r2);
	if (rc == 0)
		rc = data_file_size(fd, &len);
	if (rc == 0)
		rc = fsck_note_data(f, &r2, true, len);
	data_file_unlock(fd);
	data_file_close(f->x->data, fd);
out:
	rangeset_free(&r1.rs);
	rangeset_free(&r2.rs);
	free(r1.path);
	free(r2.path);
	return rc == ENOENT ? 0 : rc;
}

static int fsck_files(struct fsck *f)
{
	int rc = 0;

	for (size_t i = 0; i < f->nfiles && rc == 0; i++) {
		rc = fsck_file_data(f, f->files[i]);
		fsck_flush(f);
	}
	return rc;
}

/* ---- 4. data files no regular file claimed ---- */

static int fsck_unclaimed(struct fsck *f)
{
	int rc = 0;

	for (size_t i = 0; i < f->ntf && rc == 0; i++) {
		struct fsck_tfile *tf = &f->tf[i];
		struct fsck_type_ctx c = { tf->ino, 0, 0 };
		struct fsck_item *it;
		int fd = -1;

		if (tf->seen == META_T_REG) {
			f->st->data_files++;
			f->st->data_bytes += tf->bytes;
			if (!tf->claimed)
				f->st->unused_data_files++;
			continue;
		}
		/* Looked at again under its lock (an orphan's inode never comes back: numbers
		 * are not reused; one created after the walk is a regular file now). */
		rc = data_file_open_locked(f->x->data, tf->ino, 0, false, &fd);
		if (rc == ENOENT) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		rc = meta_read(ns_store(f->x->ns), fsck_type_txn, &c);
		data_file_unlock(fd);
		data_file_close(f->x->data, fd);
		if (rc || c.type == META_T_REG)
			continue;
		if (c.type == 0)
			it = fsck_note(f, NULL, FSCK_GARBAGE, "orphan_data", tf->ino, FIX_MOVE_ASIDE,
				       "data/%02x/%016" PRIx64 ": a data file of no inode (%" PRIu64
				       " bytes; a removed file's, or a crash's leftover)",
				       (unsigned)(tf->ino & 0xff), tf->ino, tf->size);
		else
			it = fsck_note(f, NULL, FSCK_GARBAGE, "nonfile_data", tf->ino, FIX_MOVE_ASIDE,
				       "data/%02x/%016" PRIx64 ": a data file of a %s (%" PRIu64
				       " bytes, never read)", (unsigned)(tf->ino & 0xff), tf->ino,
				       c.type == META_T_DIR ? "directory" : "symlink", tf->size);
		if (it) {
			char rel[40];

			it->bytes = tf->bytes;
			it->val = c.type;
			it->data_file = true;
			snprintf(rel, sizeof rel, "%02x/%016" PRIx64, (unsigned)(tf->ino & 0xff),
				 tf->ino);
			if (fsck_item_name(it, rel, strlen(rel)))
				f->oom = true;
		}
		fsck_flush(f);
	}
	return rc ? rc : f->oom ? ENOMEM : 0;
}

/* ---- 5. directories: cookie rows, entries, link count ---- */

struct fsck_dir {
	struct fsck *f;
	struct meta_txn *t;
	uint64_t dir;
	bool report;		/* row findings (the first pass only) */
	size_t n;		/* rows seen in this chunk */
	uint64_t last_cookie;
	char last_name[META_NAME_MAX + 1];
	size_t last_len;
	bool have_last;
	uint64_t subdirs, max_cookie;
	struct meta_inode in0;	/* the directory at the first chunk */
	bool changed;
};

static int fsck_dir_cookie_cb(void *arg, uint64_t parent, const struct meta_dirent *de)
{
	struct fsck_dir *d = arg;
	struct fsck *f = d->f;
	struct meta_dirent e;
	struct meta_inode in;
	char esc[3 * META_NAME_MAX + 1];
	int rc;

	if (parent != d->dir)
		return 1;
	if (d->n == FSCK_CHUNK)
		return 2;
	d->n++;
	d->last_cookie = de->cookie;
	if (de->type == META_T_DIR)
		d->subdirs++;
	if (de->cookie > d->max_cookie)
		d->max_cookie = de->cookie;
	if (!d->report)
		return 0;
	fsck_esc(esc, sizeof esc, de->name, de->name_len);
	if (de->cookie < META_COOKIE_FIRST)
		fsck_note(f, d->t, FSCK_ERROR, "cookie_mismatch", d->dir, FIX_NONE,
			  "entry '%s' has cookie %" PRIu64 " (NFS reserves 0-2)", esc, de->cookie);
	rc = meta_dirent_get(d->t, d->dir, de->name, de->name_len, &e);
	if (rc == ENOENT || (rc == 0 && (e.ino != de->ino || e.cookie != de->cookie ||
					 e.type != de->type)))
		fsck_note(f, d->t, FSCK_ERROR, "cookie_mismatch", d->dir, FIX_NONE,
			  "cookie %" PRIu64 " lists '%s' (inode %" PRIu64 "), the entries %s",
			  de->cookie, esc, de->ino, rc ? "have no such name" :
			  "say otherwise");
	else if (rc)
		return rc;
	rc = meta_inode_get(d->t, de->ino, &in);
	if (rc == ENOENT) {
		struct fsck_item *it = fsck_note(f, d->t, FSCK_ERROR, "dangling_dirent", d->dir,
						 FIX_DIRENT_DEL, "entry '%s' names inode %" PRIu64
						 ", which does not exist", esc, de->ino);

		if (it) {
			char *path = malloc(strlen(it->path) + de->name_len + 2);

			it->parent = d->dir;
			it->val = de->ino;
			/* the finding is about the entry: the missing inode, the entry's path
			 * (the repair re-checks that the inode is missing) */
			it->ino = de->ino;
			if (path) {
				sprintf(path, "%s%s%.*s", it->path,
					strcmp(it->path, "/") == 0 ? "" : "/", (int)de->name_len,
					de->name);
				free(it->path);
				it->path = path;
			}
			if (!path || fsck_item_name(it, de->name, de->name_len))
				f->oom = true;
		}
	} else if (rc) {
		return rc;
	}
	return 0;
}

struct fsck_probe {
	uint64_t parent;
	struct meta_dirent de;
	char name[META_NAME_MAX + 1];
	bool found;
};

static int fsck_probe_cb(void *arg, uint64_t parent, const struct meta_dirent *de)
{
	struct fsck_probe *p = arg;

	p->found = true;
	p->parent = parent;
	p->de = *de;
	memcpy(p->name, de->name, de->name_len);
	p->de.name = p->name;
	return 1;
}

static int fsck_dir_dirent_cb(void *arg, uint64_t parent, const struct meta_dirent *de)
{
	struct fsck_dir *d = arg;
	struct fsck_probe p = { 0 };
	char esc[3 * META_NAME_MAX + 1];
	int rc;

	if (parent != d->dir)
		return 1;
	if (d->have_last && de->name_len == d->last_len &&
	    memcmp(de->name, d->last_name, de->name_len) == 0)
		return 0;	/* where the previous chunk stopped */
	if (d->n == FSCK_CHUNK)
		return 2;
	d->n++;
	memcpy(d->last_name, de->name, de->name_len);
	d->last_len = de->name_len;
	d->have_last = true;
	/* Its cookie row: the first row at or after (dir, cookie) must be it. */
	rc = meta_cookie_walk(d->t, d->dir, de->cookie, fsck_probe_cb, &p);
	if (rc != 0 && rc != 1)
		return rc;
	if (!p.found || p.parent != d->dir || p.de.cookie != de->cookie || p.de.ino != de->ino ||
	    p.de.name_len != de->name_len || memcmp(p.name, de->name, de->name_len) != 0) {
		fsck_esc(esc, sizeof esc, de->name, de->name_len);
		fsck_note(d->f, d->t, FSCK_ERROR, "cookie_mismatch", d->dir, FIX_NONE,
			  "entry '%s' (inode %" PRIu64 ", cookie %" PRIu64 ") has no cookie row: "
			  "readdir never lists it", esc, de->ino, de->cookie);
	}
	return 0;
}

static int fsck_dir_names_txn(struct meta_txn *t, void *arg)
{
	struct fsck_dir *d = arg;
	int rc;

	d->t = t;
	d->n = 0;
	rc = meta_dirent_walk(t, d->dir, d->have_last ? d->last_name : NULL, d->last_len,
			      fsck_dir_dirent_cb, d);
	return rc == 1 || rc == 2 ? 0 : rc;
}

static int fsck_dir_walk_txn(struct meta_txn *t, void *arg)
{
	struct fsck_dir *d = arg;
	struct meta_inode in;
	int rc;

	d->t = t;
	d->n = 0;
	rc = meta_inode_get(t, d->dir, &in);
	if (rc)
		return rc;
	if (d->in0.ino == 0)
		d->in0 = in;
	else if (!fsck_rec_same(&d->in0, &in) || d->in0.next_cookie != in.next_cookie ||
		 d->in0.nlink != in.nlink)
		d->changed = true;
	rc = meta_cookie_walk(t, d->dir, d->in0.ino == in.ino && d->last_cookie ? d->last_cookie + 1 : 0,
			      fsck_dir_cookie_cb, d);
	return rc == 1 || rc == 2 ? 0 : rc;
}

static int fsck_dir(struct fsck *f, uint64_t dir)
{
	struct fsck_dir d = { .f = f, .dir = dir };
	int rc = 0;

	for (int attempt = 0; attempt < 3; attempt++) {
		d.report = attempt == 0;
		d.last_cookie = 0;
		d.subdirs = d.max_cookie = 0;
		d.in0.ino = 0;
		d.changed = false;
		do {
			rc = meta_read(ns_store(f->x->ns), fsck_dir_walk_txn, &d);
			fsck_flush(f);
		} while (rc == 0 && d.n == FSCK_CHUNK && !d.changed);
		if (rc == ENOENT)
			return 0;	/* removed meanwhile */
		if (rc)
			return rc;
		if (!d.changed)
			break;
	}
	/* Entries without their cookie row (readdir walks the cookies). */
	d.have_last = false;
	d.last_len = 0;
	do {
		rc = meta_read(ns_store(f->x->ns), fsck_dir_names_txn, &d);
		fsck_flush(f);
	} while (rc == 0 && d.n == FSCK_CHUNK);
	if (rc)
		return rc;
	if (d.changed)
		return 0;	/* busy directory: no verdict on its counts this time */
	if (d.in0.nlink != 2 + d.subdirs) {
		struct fsck_item *it = fsck_note(f, NULL, FSCK_ERROR, "nlink", dir, FIX_NLINK,
						 "link count %u, %" PRIu64 " subdirectories (%" PRIu64
						 " expected)", d.in0.nlink, d.subdirs, 2 + d.subdirs);

		if (it)
			it->val = 2 + d.subdirs;
	}
	if (d.max_cookie && d.max_cookie >= d.in0.next_cookie) {
		struct fsck_item *it = fsck_note(f, NULL, FSCK_ERROR, "cookie_next", dir,
						 FIX_NEXT_COOKIE, "cookie %" PRIu64 " in use, the next "
						 "one to hand out is %" PRIu64, d.max_cookie,
						 d.in0.next_cookie);

		if (it)
			it->val = d.max_cookie + 1;
	}
	fsck_flush(f);
	return f->oom ? ENOMEM : 0;
}

static int fsck_dirs(struct fsck *f)
{
	int rc = 0;

	for (size_t i = 0; i < f->ndirs && rc == 0; i++)
		rc = fsck_dir(f, f->dirs[i]);
	return rc;
}

/* ---- 6. the other tables, row by row ---- */

struct fsck_rows {
	struct fsck *f;
	enum meta_itable table;
	const char *kind;
	uint64_t after;
	size_t n;
	uint64_t inos[FSCK_CHUNK];
};

static int fsck_rows_collect(void *arg, uint64_t ino)
{
	struct fsck_rows *r = arg;

	r->inos[r->n++] = ino;
	return r->n == FSCK_CHUNK;
}

static int fsck_rows_txn(struct meta_txn *t, void *arg)
{
	struct fsck_rows *r = arg;
	struct fsck *f = r->f;
	int rc;

	r->n = 0;
	rc = meta_itable_walk(t, r->table, r->after, fsck_rows_collect, r);
	if (rc && rc != 1)
		return rc;
	for (size_t i = 0; i < r->n; i++) {
		struct meta_inode in;
		struct fsck_item *it;

		rc = meta_inode_get(t, r->inos[i], &in);
		if (rc == 0 && r->table == META_IT_S3DIRS && in.type != META_T_DIR)
			rc = 0;	/* reported with the inode */
		if (rc == 0 || rc == S3F_E_META_CORRUPT)
			continue;
		if (rc != ENOENT)
			return rc;
		it = fsck_note(f, NULL, FSCK_ERROR, r->kind, r->inos[i],
			       r->table == META_IT_S3DIRS ? FIX_NONE : FIX_ROW_DEL,
			       "a row of the %s table for inode %" PRIu64 ", which does not exist",
			       r->table == META_IT_DIRTY ? "dirty" : r->table == META_IT_EXTENTS ?
			       "extents" : r->table == META_IT_SYMLINKS ? "symlinks" :
			       r->table == META_IT_MOVES ? "moves" : r->table == META_IT_PREFETCH ?
			       "prefetch" : "s3dirs", r->inos[i]);
		if (it)
			it->table = r->table;
	}
	return 0;
}

static int fsck_rows(struct fsck *f, enum meta_itable table, const char *kind)
{
	struct fsck_rows *r = calloc(1, sizeof *r);
	int rc;

	if (!r)
		return ENOMEM;
	r->f = f;
	r->table = table;
	r->kind = kind;
	do {
		rc = meta_read(ns_store(f->x->ns), fsck_rows_txn, r);
		fsck_flush(f);
		if (r->n)
			r->after = r->inos[r->n - 1];
	} while (rc == 0 && !f->oom && r->n == FSCK_CHUNK);
	free(r);
	return rc ? rc : f->oom ? ENOMEM : 0;
}

struct fsck_keys {
	struct fsck *f;
	struct meta_txn *t;
	uint8_t after[META_KEY_STORED_MAX];
	size_t after_len;
	size_t n;
	uint8_t stored[META_KEY_STORED_MAX];
};

/* A stored key for people: escaped, "..." for the hashed tail of a long one. */
static void fsck_key_show(char *out, size_t cap, const uint8_t *stored, size_t len)
{
	bool hashed = len == META_KEY_STORED_MAX && stored[len - 1] == 0xff;

	fsck_esc(out, cap, (const char *)stored, hashed ? 448 : len);
	if (hashed && strlen(out) + 4 < cap)
		strcat(out, "...");
}

static int fsck_keys_cb(void *arg, const struct meta_key_row *r)
{
	struct fsck_keys *k = arg;
	struct fsck *f = k->f;
	struct meta_inode in;
	struct fsck_item *it;
	char show[3 * 448 + 8], etag[S3_ETAG_MAX];
	size_t klen = 0;
	int rc;

	if (k->n == FSCK_CHUNK)
		return 1;
	k->n++;
	memcpy(k->after, r->stored, r->stored_len);
	k->after_len = r->stored_len;
	rc = meta_inode_get(k->t, r->ino, &in);
	if (rc == S3F_E_META_CORRUPT)
		return 0;
	if (rc && rc != ENOENT)
		return rc;
	fsck_key_show(show, sizeof show, r->stored, r->stored_len);
	if (rc == ENOENT) {
		bool raw = r->stored_len < META_KEY_STORED_MAX;

		it = fsck_note(f, NULL, FSCK_ERROR, "key_orphan", r->ino, raw ? FIX_KEY_DEL : FIX_NONE,
			       "key '%s' is bound to inode %" PRIu64 ", which does not exist", show,
			       r->ino);
		if (it && raw && fsck_item_name(it, r->stored, r->stored_len))
			f->oom = true;
		return 0;
	}
	if (in.type == META_T_DIR) {
		fsck_note(f, k->t, FSCK_ERROR, "key_stale", r->ino, FIX_NONE,
			  "key '%s' is bound to a directory", show);
		return 0;
	}
	rc = ns_data_source_txn(f->x->ns, k->t, r->ino, f->key, S3_KEY_MAX + 1, &klen, etag);
	if (rc == 0 && (meta_key_stored(f->key, klen, k->stored) != r->stored_len ||
			memcmp(k->stored, r->stored, r->stored_len) != 0)) {
		char where[3 * 448 + 8];

		fsck_esc(where, sizeof where, f->key, klen < 448 ? klen : 448);
		fsck_note(f, k->t, FSCK_ERROR, "key_stale", r->ino, FIX_NONE,
			  "key '%s' is bound to this file, whose object is at '%s'", show, where);
	} else if (rc == EIO || rc == ENODATA) {
		fsck_note(f, k->t, FSCK_ERROR, "key_stale", r->ino, FIX_NONE,
			  "key '%s' is bound to this file, which has no S3 object", show);
	}
	return 0;
}

static int fsck_keys_txn(struct meta_txn *t, void *arg)
{
	struct fsck_keys *k = arg;
	int rc;

	k->t = t;
	k->n = 0;
	rc = meta_key_walk(t, k->after_len ? k->after : NULL, k->after_len, fsck_keys_cb, k);
	return rc == 1 ? 0 : rc;
}

static int fsck_keys(struct fsck *f)
{
	struct fsck_keys *k = calloc(1, sizeof *k);
	int rc;

	if (!k)
		return ENOMEM;
	k->f = f;
	do {
		rc = meta_read(ns_store(f->x->ns), fsck_keys_txn, k);
		fsck_flush(f);
	} while (rc == 0 && !f->oom && k->n == FSCK_CHUNK);
	free(k);
	return rc ? rc : f->oom ? ENOMEM : 0;
}

struct fsck_misc {
	struct fsck *f;
	struct meta_txn *t;
};

static int fsck_delete_cb(void *arg, const struct meta_delete *d)
{
	struct fsck_misc *m = arg;
	struct meta_inode in;
	char show[3 * 448 + 8];
	uint64_t b;

	if (meta_key_get(m->t, d->key, d->key_len, &b) != 0 || meta_inode_get(m->t, b, &in) != 0)
		return 0;
	fsck_esc(show, sizeof show, d->key, d->key_len < 448 ? d->key_len : 448);
	fsck_note(m->f, m->t, FSCK_ERROR, "delete_live", b, FIX_NONE,
		  "a pending delete of '%s' (ETag %s), the key bound to this file (ETag %s): the "
		  "delete pass would remove its object", show, d->etag[0] ? d->etag : "any",
		  in.etag[0] ? in.etag : "none");
	return m->f->oom ? ENOMEM : 0;
}

static bool fsck_prefix_ok(const char *p, size_t len)
{
	return len > 0 && p[len - 1] == '/';
}

static int fsck_dirjob_cb(void *arg, const struct meta_dirjob *j)
{
	struct fsck_misc *m = arg;
	const char *why = NULL;

	if (!fsck_prefix_ok(j->old_prefix, j->old_len) || !fsck_prefix_ok(j->new_prefix, j->new_len))
		why = "a prefix that is not a directory's";
	else if (j->old_len == j->new_len && memcmp(j->old_prefix, j->new_prefix, j->old_len) == 0)
		why = "the same old and new prefix";
	else if (j->marker_len && (j->marker_len < j->old_len ||
				   memcmp(j->marker, j->old_prefix, j->old_len) != 0))
		why = "a resume marker outside its old prefix";
	if (why)
		fsck_note(m->f, NULL, FSCK_ERROR, "dirjob_bad", j->ino, FIX_NONE,
			  "directory rename job %" PRIu64 " has %s", j->id, why);
	return m->f->oom ? ENOMEM : 0;
}

static int fsck_misc_txn(struct meta_txn *t, void *arg)
{
	struct fsck_misc *m = arg;
	int rc;

	m->t = t;
	/* The backlog tables: small (what waits for the daemon), one transaction each. */
	rc = meta_delete_iter(t, fsck_delete_cb, m);
	if (rc == 0)
		rc = meta_dirjob_iter(t, fsck_dirjob_cb, m);
	return rc;
}

/* Entries and cookie rows of inodes that are no directory: one row per parent. */
struct fsck_parents {
	struct fsck *f;
	bool cookies;
	uint64_t next;
	bool done;
};

static int fsck_parents_txn(struct meta_txn *t, void *arg)
{
	struct fsck_parents *p = arg;

	for (int i = 0; i < FSCK_CHUNK && !p->done; i++) {
		struct fsck_probe pr = { 0 };
		struct meta_inode in;
		int rc;

		rc = p->cookies ? meta_cookie_walk(t, p->next, 0, fsck_probe_cb, &pr) :
				  meta_dirent_walk(t, p->next, NULL, 0, fsck_probe_cb, &pr);
		if (rc != 0 && rc != 1)
			return rc;
		if (!pr.found || pr.parent == UINT64_MAX) {
			p->done = true;
		} else {
			p->next = pr.parent + 1;
		}
		if (!pr.found)
			break;
		rc = meta_inode_get(t, pr.parent, &in);
		if (rc && rc != ENOENT && rc != S3F_E_META_CORRUPT)
			return rc;
		if (rc == ENOENT || (rc == 0 && in.type != META_T_DIR))
			fsck_note(p->f, NULL, FSCK_ERROR, "dirent_orphan", pr.parent, FIX_NONE,
				  "%s of inode %" PRIu64 ", which %s", p->cookies ?
				  "readdir cookie rows" : "directory entries", pr.parent,
				  rc ? "does not exist" : "is not a directory");
	}
	return 0;
}

static int fsck_parents(struct fsck *f, bool cookies)
{
	struct fsck_parents p = { f, cookies, 0, false };
	int rc;

	do {
		rc = meta_read(ns_store(f->x->ns), fsck_parents_txn, &p);
		fsck_flush(f);
	} while (rc == 0 && !p.done && !f->oom);
	return rc ? rc : f->oom ? ENOMEM : 0;
}

static int fsck_tables(struct fsck *f)
{
	static const struct { enum meta_itable t; const char *kind; } rows[] = {
		{ META_IT_DIRTY, "dirty_orphan" }, { META_IT_EXTENTS, "extents_orphan" },
		{ META_IT_SYMLINKS, "symlink_orphan" }, { META_IT_MOVES, "move_orphan" },
		{ META_IT_PREFETCH, "prefetch_orphan" }, { META_IT_S3DIRS, "s3dirs_index" },
	};
	struct fsck_misc m = { f, NULL };
	int rc = 0;

	for (size_t i = 0; i < sizeof rows / sizeof rows[0] && rc == 0; i++)
		rc = fsck_rows(f, rows[i].t, rows[i].kind);
	if (rc == 0)
		rc = fsck_keys(f);
	if (rc == 0) {
		rc = meta_read(ns_store(f->x->ns), fsck_misc_txn, &m);
		fsck_flush(f);
	}
	if (rc == 0)
		rc = fsck_parents(f, false);
	if (rc == 0)
		rc = fsck_parents(f, true);
	return rc ? rc : f->oom ? ENOMEM : 0;
}

/* ---- the run ---- */

/* A walk that stopped at an undecodable row is a finding; the run goes on. */
static int fsck_phase(struct fsck *f, int rc, const char *what)
{
	if (rc != S3F_E_META_CORRUPT)
		return rc;
	f->oom = false;
	fsck_note(f, NULL, FSCK_ERROR, "table_corrupt", 0, FIX_NONE,
		  "the walk of %s stopped at an undecodable row", what);
	fsck_flush(f);
	return f->oom ? ENOMEM : 0;
}

static void fsck_discard(struct fsck *f)
{
	for (size_t i = 0; i < f->nq; i++) {
		free(f->q[i].path);
		free(f->q[i].detail);
		free(f->q[i].name);
	}
	f->nq = 0;
}

int fsck_run(struct export_ctx *x, const struct fsck_opts *o, struct fsck_stats *st)
{
	struct fsck f = { 0 };
	int rc;

	memset(st, 0, sizeof *st);
	f.x = x;
	f.o = o;
	f.st = st;
	f.qfd = -1;
	f.datafd = -1;
	f.pbuf = malloc(FSCK_PATH_MAX);
	f.comp = calloc(KEYMAP_DEPTH_MAX, sizeof *f.comp);
	f.clen = calloc(KEYMAP_DEPTH_MAX, sizeof *f.clen);
	f.key = malloc(S3_KEY_MAX + 1);
	rc = ENOMEM;
	if (!f.pbuf || !f.comp || !f.clen || !f.key)
		goto out;
	f.datafd = open(x->cfg->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f.datafd < 0) {
		rc = errno;
		goto out;
	}
	rc = fsck_tier(&f);
	fsck_flush(&f);
	if (rc == 0)
		rc = fsck_phase(&f, fsck_inodes(&f), "the inodes");
	if (rc == 0)
		rc = fsck_files(&f);
	if (rc == 0)
		rc = fsck_unclaimed(&f);
	if (rc == 0)
		rc = fsck_phase(&f, fsck_dirs(&f), "the directory entries");
	if (rc == 0)
		rc = fsck_phase(&f, fsck_tables(&f), "the tables");
	if (rc == 0)
		fsck_flush(&f);
out:
	fsck_discard(&f);
	if (f.manifest)
		fclose(f.manifest);
	if (f.qfd >= 0)
		close(f.qfd);
	if (f.datafd >= 0)
		close(f.datafd);
	free(f.q);
	free(f.tf);
	free(f.files);
	free(f.dirs);
	free(f.pbuf);
	free(f.comp);
	free(f.clen);
	free(f.key);
	return rc;
}

/* ---- keeping the gateway away ---- */

/* The lock files of fsal_s3files/export.c (S3F_LOCK_NAME) and sync/main.c
 * (SYNCD_LOCK_NAME). */
#define FSCK_FSAL_LOCK "fsal.lock"
#define FSCK_SYNCD_LOCK "syncd.lock"

struct fsck_excl {
	struct instlock *fsal, *syncd;
};

int fsck_exclusive_begin(const char *state_dir, struct fsck_excl **out, char *who, size_t wholen)
{
	struct instlock_holder h;
	struct fsck_excl *e;
	char hs[512];
	int rc;

	*out = NULL;
	if (who && wholen)
		who[0] = '\0';
	e = calloc(1, sizeof *e);
	if (!e)
		return ENOMEM;
	rc = instlock_acquire(state_dir, FSCK_FSAL_LOCK, "s3filesctl-fsck", &e->fsal, &h);
	if (rc == EWOULDBLOCK && who)
		snprintf(who, wholen, "ganesha (%s)", instlock_holder_str(&h, hs, sizeof hs));
	if (rc == 0) {
		rc = instlock_acquire(state_dir, FSCK_SYNCD_LOCK, "s3filesctl-fsck", &e->syncd, &h);
		if (rc == EWOULDBLOCK && who)
			snprintf(who, wholen, "s3files-syncd (%s)",
				 instlock_holder_str(&h, hs, sizeof hs));
	}
	if (rc) {
		fsck_exclusive_end(e);
		return rc;
	}
	*out = e;
	return 0;
}

void fsck_exclusive_end(struct fsck_excl *e)
{
	if (!e)
		return;
	instlock_release(e->syncd);
	instlock_release(e->fsal);
	free(e);
}
