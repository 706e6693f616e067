/*
 * s3f_nfswork.c — the crash suite's workload driver and reference model
 * (test/integration/crash.sh), over libnfs's user-space NFSv3 client.
 *
 *   s3f_nfswork run      OPTIONS -n STEPS -s SEED   run STEPS random steps, continuing LOG
 *   s3f_nfswork check    OPTIONS                    compare the file view with the model
 *   s3f_nfswork check-s3 -l LOG -r ROOT -P PREFIX -k KEYS -o DIR
 *                                                   compare S3 (as listed and downloaded
 *                                                   by an independent client) with it
 *   OPTIONS: -l LOG -r ROOT -H HOST [-E EXPORT] [-p V4PORT] [-c CAP_MiB] [-i IMPORT_PCT]
 *            [-v]
 *
 * The workload lives in the directory ROOT of the export EXPORT (default /s3files) served
 * at HOST (NFSv3: MOUNT through the server's rpcbind; with -p, NFSv4.0 at that port too).
 * A step is one of: create (O_TRUNC, so an existing file is emptied, usually followed by a
 * write; with -p sometimes a whole small file over NFSv4.0: OPEN, WRITEs, CLOSE, the
 * close that Commit_On_Close acts on), write at the end (append)
 * or in the middle, truncate (shrink or extend), rename of a file or a directory (onto an
 * existing name too), unlink, mkdir, rmdir, fsync (NFS COMMIT), or an *import*: objects
 * put straight into S3 (core's S3 client; S3_* and AWS_* from the environment, S3_PREFIX
 * the export's prefix) into a new directory of ROOT, the directory looked up once the
 * gateway's poll shows it, listed, and its files overwritten, appended to and written in
 * the middle at once — the pattern of issue 9 point 1 (prefetch against a fresh write)
 * and point 2 (hydration of a larger file against a write). Writes are 1 B to 3 MiB,
 * UNSTABLE (then sometimes COMMITted) or FILE_SYNC (O_SYNC); files stay below 4 MiB and
 * the tree below CAP_MiB (default 48).
 *
 * The log. Every operation is appended to LOG before it is sent ("B seq OP args") and its
 * acknowledgement after the reply ("A seq"), each line written with O_APPEND and
 * fdatasync'd, so the log is exact whatever is killed. The bytes written by operation
 * `seq` at file offset p are a function of (seq, p) alone (pat_fill), so the expected
 * content of every file follows from the log: the model is rebuilt by replaying it.
 * Other lines: "R run seed" (a run started), "M seq" (the operation seq, in flight when
 * its connection died, was resolved: it has taken effect now, below), "X seq why" (the
 * connection died during seq), "F seq errno why" (the server refused seq: a failure of
 * the gateway, the run stops), "C text" (comments).
 *
 * What must survive. Every acknowledged operation must be in the file view after the
 * gateway restarts, UNSTABLE writes never COMMITted included: the suite kills processes
 * (kill -9), it does not cut power, and what the gateway wrote to its data tier is in the
 * page cache whatever happens to the process. (A real client would also resend such
 * writes: the write verifier changes with the restart; libnfs does not, and we do not
 * either, so a lost UNSTABLE write is caught.) The operation in flight when a connection
 * died may have taken effect or not: `check` accepts the file view as the model without
 * it or with it — the whole view, so a rename in flight is either done or not, never
 * half, and a truncate leaves the old bytes and size or the new ones —, for a WRITE also
 * each byte of its range old or new and the size anywhere from the old to the new one
 * (libnfs sends a large write as several WRITEs at once), and for a V4PUT also the file
 * truncated and written in part (each byte new or zero, the size at most the new one).
 * Then it resolves the operation: sends it again (a write of the same bytes, a truncate to
 * the same size, a create, a rename that had not happened) and logs "M seq", so the model
 * is exact again for the rest of the workload.
 *
 * Directories and S3. Directories made through the mount become marker objects
 * ("dir/"); a marker is required for an empty one and allowed for any other existing
 * directory. An imported directory has no marker: when it is empty S3 has nothing of it,
 * and the gateway may drop it at its next poll (doc/SEMANTICS.md), so the workload never
 * empties one except to remove it (unlink of every file, then rmdir accepting ENOENT),
 * and `check` finishes such a removal before comparing.
 *
 * `check` (exit 0 when equal) reads the whole tree under ROOT through NFS and compares
 * every name, type, size and byte (a listing answered EAGAIN — a directory below one
 * being renamed in S3 — is tried again for up to 2 minutes); it also fails when the
 * export root's lost+found holds a file of ROOT (moved there by a conflict). `check-s3` needs a resolved log (run `check`
 * first), the list of keys under PREFIX ROOT/ (KEYS, one per line) and the objects'
 * bytes under DIR/<key relative to PREFIX>: every file byte-exact, markers as above,
 * nothing else. Both print what differs (which acknowledged operation's bytes are
 * missing, and whose bytes are there instead), then "RESULT lost L wrong W extra E":
 * lost = acknowledged operations whose effect is missing or wrong, wrong = an operation
 * in flight that left neither its old nor its new state (or a server error), extra =
 * names or keys that should not be there.
 *
 * Exit: 0 equal / run completed; 1 differences or a failure of the gateway; 2 usage or
 * internal error; 3 (run) the connection died: the operation in flight is in the log.
 */
#include <sys/time.h>
#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw-nfs.h>

#include "base/err.h"
#include "s3/s3.h"
#include "base/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PATH_LEN 256
#define FILE_MAX ((uint64_t)4 << 20)
#define MAX_DEPTH 3		/* directories below ROOT */
#define N_FILE_NAMES 12
#define N_DIR_NAMES 4
#define MSG_MAX 60		/* difference lines printed per comparison */

enum op_kind {
	OP_CREATE, OP_WRITE, OP_TRUNC, OP_RENAME, OP_UNLINK, OP_MKDIR, OP_RMDIR, OP_FSYNC,
	OP_S3PUT, OP_LISTDIR, OP_V4PUT, OP_COUNT
};
static const char *const op_names[OP_COUNT] = {
	"CREATE", "WRITE", "TRUNC", "RENAME", "UNLINK", "MKDIR", "RMDIR", "FSYNC", "S3PUT",
	"LISTDIR", "V4PUT"
};

/* One operation as logged. WRITE: off, len, flag 0 UNSTABLE / 1 FILE_SYNC / 2 UNSTABLE
 * then COMMIT. TRUNC: len = new size. S3PUT: len. RMDIR: flag 1 = ENOENT is success (an
 * imported directory the gateway may have dropped once empty). V4PUT: a whole file of len
 * bytes through NFSv4.0 (OPEN with O_TRUNC, and O_CREAT if the name is new; WRITEs of at
 * most 3,000 bytes in order; CLOSE: the close that Commit_On_Close acts on). */
struct op {
	uint64_t seq;
	enum op_kind kind;
	char a[PATH_LEN], b[PATH_LEN];
	uint64_t off, len;
	int flag;
};

/* Bytes [start, end) of a file: written by operation op (0: zeros); who is the operation
 * whose acknowledgement made them so (for zeros: the truncate or the write past EOF). */
struct ext {
	uint64_t start, end, op, who;
};

struct node {
	char path[PATH_LEN];	/* relative to ROOT, no leading '/' */
	bool dir, imported;
	uint64_t size, who_name, who_size;
	struct ext *ext;	/* sorted, covering [0, size) */
	size_t n_ext;
};

struct pending {		/* an object put into S3, its directory not listed yet */
	char path[PATH_LEN];
	uint64_t len, seq;
};

struct model {
	struct node *n;
	size_t nn, cap;
	struct pending *p;
	size_t np, capp;
};

/* Everything the log says. */
struct history {
	struct model m;		/* acknowledged (and resolved) operations applied */
	struct op *ops;		/* by seq (index seq - 1), every operation begun */
	size_t n_ops, cap_ops;
	bool inflight;		/* ops[n_ops - 1] begun, neither acknowledged nor resolved */
	unsigned runs;
	uint64_t acked;
};

struct ctx {
	const char *log_path, *root, *host, *export, *prefix;
	int log_fd, v4_port;
	struct nfs_context *nfs, *nfs4;	/* NFSv3; NFSv4.0 (-p PORT; else V4PUT is not used) */
	struct s3_client *s3;
	struct s3_config s3cfg;
	struct history h;
	uint64_t rng;
	uint64_t cap_bytes;
	unsigned import_pct;
	bool verbose;
};

/* ---------------------------------------------------------------- utilities */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "s3f_nfswork: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		die("out of memory (%zu bytes)", n);
	return q;
}

static void *xcalloc(size_t n)
{
	void *q = calloc(1, n ? n : 1);

	if (!q)
		die("out of memory (%zu bytes)", n);
	return q;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t rnd(struct ctx *x)
{
	x->rng += 0x9e3779b97f4a7c15ULL;
	return mix64(x->rng);
}

/* Uniform in [0, n). */
static uint64_t rnd_below(struct ctx *x, uint64_t n)
{
	return n ? rnd(x) % n : 0;
}

/* The bytes written by operation op at file offset p are a function of (op, p) alone:
 * 8 bytes per mix64((op << 32) ^ (p / 8)); op 0 means zeros. */
static void pat_fill(uint8_t *buf, uint64_t op, uint64_t off, uint64_t len)
{
	uint64_t i = 0;

	if (op == 0) {
		memset(buf, 0, len);
		return;
	}
	while (i < len) {
		uint64_t p = off + i, w = mix64((op << 32) ^ (p >> 3));

		for (unsigned b = (unsigned)(p & 7); b < 8 && i < len; b++, i++)
			buf[i] = (uint8_t)(w >> (b * 8));
	}
}

/* Same as pat_fill, compared instead of written: first offset (relative) that differs,
 * or len. */
static uint64_t pat_cmp(const uint8_t *buf, uint64_t op, uint64_t off, uint64_t len)
{
	uint8_t tmp[4096];

	for (uint64_t i = 0; i < len; i += sizeof tmp) {
		uint64_t n = len - i < sizeof tmp ? len - i : sizeof tmp;

		pat_fill(tmp, op, off + i, n);
		if (memcmp(tmp, buf + i, n) != 0) {
			for (uint64_t j = 0; j < n; j++)
				if (tmp[j] != buf[i + j])
					return i + j;
		}
	}
	return len;
}

static const char *parent_of(const char *path, char *out)
{
	const char *s = strrchr(path, '/');

	if (!s)
		out[0] = '\0';
	else {
		memcpy(out, path, (size_t)(s - path));
		out[s - path] = '\0';
	}
	return out;
}

static unsigned depth_of(const char *path)
{
	unsigned d = path[0] ? 1 : 0;

	for (const char *s = path; *s; s++)
		d += *s == '/';
	return d;
}

/* path is dir or below it ("" is the root: everything is below it). */
static bool is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 0)
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

static void join(char *out, const char *dir, const char *name)
{
	int n = dir[0] ? snprintf(out, PATH_LEN, "%s/%s", dir, name) :
		snprintf(out, PATH_LEN, "%s", name);

	if (n < 0 || n >= PATH_LEN)
		die("path too long: %s/%s", dir, name);
}

/* ---------------------------------------------------------------- the model */

static struct node *m_find(struct model *m, const char *path)
{
	for (size_t i = 0; i < m->nn; i++)
		if (strcmp(m->n[i].path, path) == 0)
			return &m->n[i];
	return NULL;
}

static struct node *m_add(struct model *m, const char *path, bool dir, uint64_t who)
{
	struct node *nd;

	if (m->nn == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->n = xrealloc(m->n, m->cap * sizeof *m->n);
	}
	nd = &m->n[m->nn++];
	memset(nd, 0, sizeof *nd);
	snprintf(nd->path, sizeof nd->path, "%s", path);
	nd->dir = dir;
	nd->who_name = nd->who_size = who;
	return nd;
}

static void m_del(struct model *m, struct node *nd)
{
	size_t i = (size_t)(nd - m->n);

	free(nd->ext);
	m->n[i] = m->n[--m->nn];
}

static void m_free(struct model *m)
{
	for (size_t i = 0; i < m->nn; i++)
		free(m->n[i].ext);
	free(m->n);
	free(m->p);
	memset(m, 0, sizeof *m);
}

static void m_copy(struct model *dst, const struct model *src)
{
	memset(dst, 0, sizeof *dst);
	dst->nn = dst->cap = src->nn;
	dst->n = xcalloc(src->nn * sizeof *dst->n);
	for (size_t i = 0; i < src->nn; i++) {
		dst->n[i] = src->n[i];
		dst->n[i].ext = xcalloc(src->n[i].n_ext * sizeof(struct ext));
		memcpy(dst->n[i].ext, src->n[i].ext, src->n[i].n_ext * sizeof(struct ext));
	}
	dst->np = dst->capp = src->np;
	dst->p = xcalloc(src->np * sizeof *dst->p);
	memcpy(dst->p, src->p, src->np * sizeof *dst->p);
}

static size_t m_children(const struct model *m, const char *dir)
{
	char par[PATH_LEN];
	size_t k = 0;

	for (size_t i = 0; i < m->nn; i++)
		if (strcmp(parent_of(m->n[i].path, par), dir) == 0)
			k++;
	return k;
}

static uint64_t m_bytes(const struct model *m)
{
	uint64_t t = 0;

	for (size_t i = 0; i < m->nn; i++)
		t += m->n[i].size;
	return t;
}

/* Bytes [s, e) of nd now come from operation op (0: zeros), made so by who. */
static void ext_set(struct node *nd, uint64_t s, uint64_t e, uint64_t op, uint64_t who)
{
	struct ext *out = xcalloc((nd->n_ext + 2) * sizeof *out);
	struct ext nw = { s, e, op, who };
	size_t k = 0;
	bool placed = false;

	if (s >= e) {
		free(out);
		return;
	}
	for (size_t i = 0; i < nd->n_ext; i++) {
		struct ext x = nd->ext[i];

		if (x.end <= s) {
			out[k++] = x;
			continue;
		}
		if (x.start < s) {
			struct ext l = x;

			l.end = s;
			out[k++] = l;
		}
		if (!placed) {
			out[k++] = nw;
			placed = true;
		}
		if (x.end > e) {
			struct ext r = x;

			r.start = x.start > e ? x.start : e;
			out[k++] = r;
		}
	}
	if (!placed)
		out[k++] = nw;
	free(nd->ext);
	nd->ext = out;
	nd->n_ext = k;
}

static void node_truncate(struct node *nd, uint64_t size, uint64_t who)
{
	if (size > nd->size) {
		ext_set(nd, nd->size, size, 0, who);
	} else {
		size_t k = 0;

		for (size_t i = 0; i < nd->n_ext; i++) {
			if (nd->ext[i].start >= size)
				continue;
			nd->ext[k] = nd->ext[i];
			if (nd->ext[k].end > size)
				nd->ext[k].end = size;
			k++;
		}
		nd->n_ext = k;
	}
	nd->size = size;
	nd->who_size = who;
}

static void node_write(struct node *nd, uint64_t off, uint64_t len, uint64_t op)
{
	if (off > nd->size)
		ext_set(nd, nd->size, off, 0, op);
	ext_set(nd, off, off + len, op, op);
	if (off + len > nd->size) {
		nd->size = off + len;
		nd->who_size = op;
	}
}

/* The expected content of a file (size bytes) into buf. */
static void node_content(const struct node *nd, uint8_t *buf)
{
	for (size_t i = 0; i < nd->n_ext; i++)
		pat_fill(buf + nd->ext[i].start, nd->ext[i].op, nd->ext[i].start,
			 nd->ext[i].end - nd->ext[i].start);
}

/* Apply an operation that has taken effect. Returns 0, or -1 if it does not fit the
 * model (a corrupt log or a bug here). */
static int m_apply(struct model *m, const struct op *o)
{
	struct node *nd = o->kind == OP_S3PUT || o->kind == OP_LISTDIR ? NULL : m_find(m, o->a);
	char par[PATH_LEN];

	switch (o->kind) {
	case OP_CREATE:
		if (nd && nd->dir)
			return -1;
		if (nd)
			node_truncate(nd, 0, o->seq);
		else
			m_add(m, o->a, false, o->seq);
		return 0;
	case OP_WRITE:
		if (!nd || nd->dir)
			return -1;
		node_write(nd, o->off, o->len, o->seq);
		return 0;
	case OP_TRUNC:
		if (!nd || nd->dir)
			return -1;
		node_truncate(nd, o->len, o->seq);
		return 0;
	case OP_RENAME: {
		struct node *dst = m_find(m, o->b);
		size_t la = strlen(o->a);

		if (!nd || is_under(o->b, o->a))
			return -1;
		if (dst) {
			if (dst->dir != nd->dir || (dst->dir && m_children(m, o->b) > 0))
				return -1;
			m_del(m, dst);
		}
		for (size_t i = 0; i < m->nn; i++) {
			struct node *c = &m->n[i];
			char np[PATH_LEN];

			if (!is_under(c->path, o->a))
				continue;
			snprintf(np, sizeof np, "%s%s", o->b, c->path + la);
			snprintf(c->path, sizeof c->path, "%s", np);
			c->who_name = o->seq;
		}
		return 0;
	}
	case OP_UNLINK:
		if (!nd || nd->dir)
			return -1;
		m_del(m, nd);
		return 0;
	case OP_MKDIR:
		if (nd)
			return -1;
		m_add(m, o->a, true, o->seq);
		return 0;
	case OP_RMDIR:
		if (!nd || !nd->dir || m_children(m, o->a) > 0)
			return -1;
		m_del(m, nd);
		return 0;
	case OP_FSYNC:
		return nd && !nd->dir ? 0 : -1;
	case OP_V4PUT:
		if (nd && nd->dir)
			return -1;
		if (nd)
			node_truncate(nd, 0, o->seq);
		else
			nd = m_add(m, o->a, false, o->seq);
		node_write(nd, 0, o->len, o->seq);
		return 0;
	case OP_S3PUT:
		for (size_t i = 0; i < m->np; i++)
			if (strcmp(m->p[i].path, o->a) == 0) {
				m->p[i].len = o->len;
				m->p[i].seq = o->seq;
				return 0;
			}
		if (m->np == m->capp) {
			m->capp = m->capp ? m->capp * 2 : 32;
			m->p = xrealloc(m->p, m->capp * sizeof *m->p);
		}
		snprintf(m->p[m->np].path, PATH_LEN, "%s", o->a);
		m->p[m->np].len = o->len;
		m->p[m->np].seq = o->seq;
		m->np++;
		return 0;
	case OP_LISTDIR: {
		struct node *d = m_find(m, o->a);

		if (!d)
			d = m_add(m, o->a, true, o->seq);
		d->imported = true;
		for (size_t i = 0; i < m->np;) {
			struct pending *p = &m->p[i];

			if (strcmp(parent_of(p->path, par), o->a) != 0) {
				i++;
				continue;
			}
			nd = m_add(m, p->path, false, p->seq);
			node_write(nd, 0, p->len, p->seq);
			m->p[i] = m->p[--m->np];
		}
		return 0;
	}
	default:
		return -1;
	}
}

/* ---------------------------------------------------------------- the log */

static void op_format(const struct op *o, char *buf, size_t n)
{
	switch (o->kind) {
	case OP_WRITE:
		snprintf(buf, n, "%s %s %" PRIu64 " %" PRIu64 " %d", op_names[o->kind], o->a,
			 o->off, o->len, o->flag);
		break;
	case OP_TRUNC:
	case OP_S3PUT:
	case OP_V4PUT:
		snprintf(buf, n, "%s %s %" PRIu64, op_names[o->kind], o->a, o->len);
		break;
	case OP_RENAME:
		snprintf(buf, n, "%s %s %s", op_names[o->kind], o->a, o->b);
		break;
	case OP_RMDIR:
		snprintf(buf, n, "%s %s %d", op_names[o->kind], o->a, o->flag);
		break;
	default:
		snprintf(buf, n, "%s %s", op_names[o->kind], o->a);
	}
}

static int op_parse(const char *s, struct op *o)
{
	char kind[16];
	int k, n = 0;

	memset(o, 0, sizeof *o);
	if (sscanf(s, "%15s %255s%n", kind, o->a, &n) != 2)
		return -1;
	for (k = 0; k < OP_COUNT; k++)
		if (strcmp(kind, op_names[k]) == 0)
			break;
	if (k == OP_COUNT)
		return -1;
	o->kind = (enum op_kind)k;
	s += n;
	switch (o->kind) {
	case OP_WRITE:
		return sscanf(s, "%" SCNu64 " %" SCNu64 " %d", &o->off, &o->len, &o->flag) == 3 ? 0 : -1;
	case OP_TRUNC:
	case OP_S3PUT:
	case OP_V4PUT:
		return sscanf(s, "%" SCNu64, &o->len) == 1 ? 0 : -1;
	case OP_RENAME:
		return sscanf(s, "%255s", o->b) == 1 ? 0 : -1;
	case OP_RMDIR:
		return sscanf(s, "%d", &o->flag) == 1 ? 0 : -1;
	default:
		return 0;
	}
}

static void log_line(struct ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(struct ctx *x, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof buf - 1)
		die("log line too long");
	for (int i = 0; i < n; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	buf[n++] = '\n';
	if (write(x->log_fd, buf, (size_t)n) != n || fdatasync(x->log_fd) != 0)
		die("%s: %s", x->log_path, strerror(errno));
}

static struct op *h_push(struct history *h, const struct op *o)
{
	if (o->seq != h->n_ops + 1)
		return NULL;
	if (h->n_ops == h->cap_ops) {
		h->cap_ops = h->cap_ops ? h->cap_ops * 2 : 1024;
		h->ops = xrealloc(h->ops, h->cap_ops * sizeof *h->ops);
	}
	h->ops[h->n_ops++] = *o;
	return &h->ops[h->n_ops - 1];
}

static void log_replay(struct ctx *x)
{
	struct history *h = &x->h;
	FILE *f = fopen(x->log_path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned lineno = 0;

	memset(h, 0, sizeof *h);
	if (!f) {
		if (errno == ENOENT)
			return;
		die("%s: %s", x->log_path, strerror(errno));
	}
	while ((len = getline(&line, &cap, f)) > 0) {
		uint64_t seq = 0;
		struct op o;
		int n = 0;

		lineno++;
		if (line[len - 1] != '\n')
			break;	/* a line cut short: cannot happen with fdatasync'd appends */
		line[len - 1] = '\0';
		switch (line[0]) {
		case 'R':
			h->runs++;
			break;
		case 'B':
			if (sscanf(line, "B %" SCNu64 " %n", &seq, &n) != 1 || op_parse(line + n, &o))
				die("%s:%u: bad line: %s", x->log_path, lineno, line);
			if (h->inflight)
				die("%s:%u: operation %zu still unresolved", x->log_path, lineno, h->n_ops);
			o.seq = seq;
			if (!h_push(h, &o))
				die("%s:%u: sequence %" PRIu64 " out of order", x->log_path, lineno, seq);
			h->inflight = true;
			break;
		case 'A':
		case 'M':
			if (sscanf(line + 1, " %" SCNu64, &seq) != 1 || !h->inflight || seq != h->n_ops)
				die("%s:%u: does not match the operation in flight: %s", x->log_path,
				    lineno, line);
			if (m_apply(&h->m, &h->ops[seq - 1]) != 0)
				die("%s:%u: operation %" PRIu64 " does not fit the model", x->log_path,
				    lineno, seq);
			h->inflight = false;
			h->acked += line[0] == 'A';
			break;
		default:	/* X, F, C: information */
			break;
		}
	}
	free(line);
	fclose(f);
}

/* ---------------------------------------------------------------- NFS */

static void nfs_path(struct ctx *x, const char *rel, char *out)
{
	if (rel[0])
		snprintf(out, PATH_LEN + 64, "/%s/%s", x->root, rel);
	else
		snprintf(out, PATH_LEN + 64, "/%s", x->root);
}

static void conn_open(struct ctx *x)
{
	x->nfs = nfs_init_context();
	if (!x->nfs)
		die("no NFS context");
	nfs_set_version(x->nfs, NFS_V3);
	nfs_set_dircache(x->nfs, 0);
	nfs_set_autoreconnect(x->nfs, 0);
	nfs_set_timeout(x->nfs, 120000);
	if (nfs_mount(x->nfs, x->host, x->export) != 0) {
		fprintf(stderr, "s3f_nfswork: mount %s:%s: %s\n", x->host, x->export,
			nfs_get_error(x->nfs));
		exit(3);
	}
	/* Set again: the mount may have set up its own connection settings. A dead server
	 * must fail the call in flight, not have it sent again after a reconnect. */
	nfs_set_autoreconnect(x->nfs, 0);
}

static void conn_close(struct ctx *x)
{
	if (x->nfs)
		nfs_destroy_context(x->nfs);
	if (x->nfs4)
		nfs_destroy_context(x->nfs4);
	x->nfs = x->nfs4 = NULL;
}

/* The NFSv4.0 context, mounted on first use. NULL: no -p PORT given. */
static struct nfs_context *conn_v4(struct ctx *x)
{
	if (x->nfs4 || x->v4_port == 0)
		return x->nfs4;
	char u[PATH_LEN + 128];
	struct nfs_url *url;
	int rc;

	x->nfs4 = nfs_init_context();
	if (!x->nfs4)
		die("no NFS context");
	/* The port can only be given in a URL (libnfs 4.0 has no setter for it). */
	snprintf(u, sizeof u, "nfs://%s%s?version=4&nfsport=%d", x->host, x->export, x->v4_port);
	url = nfs_parse_url_dir(x->nfs4, u);
	if (!url)
		die("%s: %s", u, nfs_get_error(x->nfs4));
	nfs_set_dircache(x->nfs4, 0);
	nfs_set_autoreconnect(x->nfs4, 0);
	nfs_set_timeout(x->nfs4, 120000);
	rc = nfs_mount(x->nfs4, url->server, url->path);
	nfs_destroy_url(url);
	if (rc != 0) {
		fprintf(stderr, "s3f_nfswork: NFSv4 mount %s: %s\n", u, nfs_get_error(x->nfs4));
		return NULL;
	}
	nfs_set_autoreconnect(x->nfs4, 0);
	return x->nfs4;
}

static void s3_open(struct ctx *x)
{
	char err[256];
	int rc;

	if (x->s3)
		return;
	s3_config_defaults(&x->s3cfg);
	x->s3cfg.endpoint = getenv("S3_ENDPOINT");
	x->s3cfg.region = getenv("S3_REGION") ? getenv("S3_REGION") : "us-east-1";
	x->s3cfg.bucket = getenv("S3_BUCKET");
	x->s3cfg.path_style = true;
	if (!x->s3cfg.bucket)
		die("S3_BUCKET is not set");
	rc = s3_creds_load(NULL, &x->s3cfg.creds, err, sizeof err);
	if (rc)
		die("S3 credentials: %s", err);
	rc = s3_client_open(&x->s3cfg, &x->s3);
	if (rc)
		die("S3 client: %s", s3f_strerror(rc));
}

/* Read a whole file: *buf (malloc'd) and *len; 0 or -errno. */
static int nfs_read_all(struct ctx *x, const char *abs, uint8_t **buf, uint64_t *len,
			uint64_t *attr_size)
{
	struct nfsfh *fh = NULL;
	struct nfs_stat_64 st;
	uint64_t cap, got = 0, chunk = nfs_get_readmax(x->nfs);
	double t0 = clock_mono_s();
	uint8_t *b;
	int rc;

	if (chunk == 0 || chunk > (1u << 20))
		chunk = 1u << 20;
	rc = nfs_open(x->nfs, abs, O_RDONLY, &fh);
	if (rc)
		return rc;
	rc = nfs_fstat64(x->nfs, fh, &st);
	if (rc) {
		nfs_close(x->nfs, fh);
		return rc;
	}
	*attr_size = st.nfs_size;
	cap = st.nfs_size + chunk;
	b = xcalloc(cap);
	for (;;) {
		if (got + chunk > cap) {
			cap = cap * 2 + chunk;
			b = xrealloc(b, cap);
		}
		rc = nfs_pread(x->nfs, fh, got, chunk, b + got);
		if (rc == -EAGAIN && clock_mono_s() - t0 < 120) {	/* NFS3ERR_JUKEBOX: later */
			sleep_ms(200);
			continue;
		}
		if (rc < 0)
			break;
		if (rc == 0) {
			rc = 0;
			break;
		}
		got += (uint64_t)rc;
	}
	nfs_close(x->nfs, fh);
	if (rc < 0) {
		free(b);
		return rc;
	}
	*buf = b;
	*len = got;
	return 0;
}

/* Is the connection still there? (After an error: a refused operation leaves it up.) */
static bool conn_alive(struct ctx *x)
{
	struct nfs_stat_64 st;

	return nfs_stat64(x->nfs, "/", &st) == 0;
}

static bool conn_alive_v4(struct ctx *x)
{
	struct nfs_stat_64 st;

	return x->nfs4 && nfs_stat64(x->nfs4, "/", &st) == 0;
}

static const char *conn_error(struct ctx *x, bool v4)
{
	return nfs_get_error(v4 && x->nfs4 ? x->nfs4 : x->nfs);
}

/* ---------------------------------------------------------------- operations */

/* Send one operation. 0 or -errno (NFS) / -EIO with *s3fail set (the S3 PUT failed);
 * *v4err: the error came from the NFSv4.0 connection. */
static int op_send(struct ctx *x, const struct op *o, bool *s3fail, bool *v4err)
{
	char p[PATH_LEN + 64], q[PATH_LEN + 64];
	struct nfsfh *fh = NULL;
	uint8_t *buf;
	int rc, rc2;

	*s3fail = false;
	*v4err = false;
	nfs_path(x, o->a, p);
	switch (o->kind) {
	case OP_CREATE:
		rc = nfs_open2(x->nfs, p, O_CREAT | O_WRONLY | O_TRUNC, 0644, &fh);
		if (rc == 0)
			rc = nfs_close(x->nfs, fh);
		return rc;
	case OP_WRITE:
		rc = nfs_open(x->nfs, p, O_WRONLY | (o->flag == 1 ? O_SYNC : 0), &fh);
		if (rc)
			return rc;
		buf = xcalloc(o->len);
		pat_fill(buf, o->seq, o->off, o->len);
		rc = nfs_pwrite(x->nfs, fh, o->off, o->len, buf);
		free(buf);
		if (rc >= 0 && (uint64_t)rc != o->len) {
			fprintf(stderr, "s3f_nfswork: short write: %d of %" PRIu64 "\n", rc, o->len);
			rc = -EIO;
		} else if (rc >= 0) {
			rc = o->flag == 2 ? nfs_fsync(x->nfs, fh) : 0;
		}
		rc2 = nfs_close(x->nfs, fh);
		return rc ? rc : rc2;
	case OP_TRUNC:
		return nfs_truncate(x->nfs, p, o->len);
	case OP_RENAME:
		nfs_path(x, o->b, q);
		return nfs_rename(x->nfs, p, q);
	case OP_UNLINK:
		return nfs_unlink(x->nfs, p);
	case OP_MKDIR:
		return nfs_mkdir2(x->nfs, p, 0755);
	case OP_RMDIR:
		rc = nfs_rmdir(x->nfs, p);
		return rc == -ENOENT && o->flag == 1 ? 0 : rc;
	case OP_FSYNC:
		rc = nfs_open(x->nfs, p, O_WRONLY, &fh);
		if (rc)
			return rc;
		rc = nfs_fsync(x->nfs, fh);
		rc2 = nfs_close(x->nfs, fh);
		return rc ? rc : rc2;
	case OP_V4PUT: {
		struct nfs_context *n4 = conn_v4(x);

		struct nfs_stat_64 st;

		if (!n4)
			return -ENOTCONN;
		/* libnfs 4.0 creates GUARDED: O_CREAT only for a name that does not exist
		 * (asked over v3: the model may not know, for an operation sent again). */
		rc = nfs_stat64(x->nfs, p, &st);
		if (rc && rc != -ENOENT)
			return rc;
		rc = nfs_open2(n4, p, O_WRONLY | O_TRUNC | (rc ? O_CREAT : 0), 0644, &fh);
		if (rc) {
			*v4err = true;
			return rc;
		}
		buf = xcalloc(o->len);
		pat_fill(buf, o->seq, 0, o->len);
		/* libnfs 4.0 cannot encode an NFSv4 WRITE of 4,000 bytes (3,000 work): in order,
		 * 3,000 at a time */
		for (uint64_t off = 0; off < o->len && rc == 0;) {
			uint64_t n = o->len - off < 3000 ? o->len - off : 3000;

			rc = nfs_pwrite(n4, fh, off, n, buf + off);
			if (rc >= 0 && (uint64_t)rc != n) {
				fprintf(stderr, "s3f_nfswork: short v4 write: %d of %" PRIu64 "\n", rc, n);
				rc = -EIO;
			} else if (rc >= 0) {
				off += n;
				rc = 0;
			}
		}
		free(buf);
		rc2 = nfs_close(n4, fh);
		*v4err = true;
		return rc ? rc : rc2;
	}
	case OP_S3PUT: {
		char key[S3_KEY_MAX];

		s3_open(x);
		snprintf(key, sizeof key, "%s%s/%s", x->prefix, x->root, o->a);
		buf = xcalloc(o->len);
		pat_fill(buf, o->seq, 0, o->len);
		rc = s3_object_put_buf(x->s3, key, buf, o->len, NULL, NULL);
		free(buf);
		if (rc) {
			fprintf(stderr, "s3f_nfswork: PUT %s: %s\n", key, s3f_strerror(rc));
			*s3fail = true;
			return -EIO;
		}
		return 0;
	}
	case OP_LISTDIR: {
		/* The gateway's poll of ROOT shows the new directory; then one listing of it
		 * (its first: the import, which queues the background prefetch). Every object
		 * put must be listed. */
		struct nfs_stat_64 st;
		double t0 = clock_mono_s();
		size_t want = 0, found;
		char par[PATH_LEN];

		for (size_t i = 0; i < x->h.m.np; i++)
			want += strcmp(parent_of(x->h.m.p[i].path, par), o->a) == 0;
		while ((rc = nfs_stat64(x->nfs, p, &st)) == -ENOENT && clock_mono_s() - t0 < 60)
			sleep_ms(50);
		if (rc)
			return rc;
		for (;;) {
			struct nfsdir *d;
			struct nfsdirent *de;

			rc = nfs_opendir(x->nfs, p, &d);
			if (rc)
				return rc;
			found = 0;
			while ((de = nfs_readdir(x->nfs, d)) != NULL) {
				char rel[PATH_LEN + 8];

				snprintf(rel, sizeof rel, "%s/%s", o->a, de->name);
				for (size_t i = 0; i < x->h.m.np; i++)
					found += strcmp(x->h.m.p[i].path, rel) == 0;
			}
			nfs_closedir(x->nfs, d);
			if (found == want)
				return 0;
			if (clock_mono_s() - t0 > 60) {
				fprintf(stderr, "s3f_nfswork: %s lists %zu of the %zu objects put\n",
					p, found, want);
				return -ENOENT;
			}
			sleep_ms(200);
		}
	}
	default:
		return -EINVAL;
	}
}

static const char *errname(int rc)
{
	return strerror(rc < 0 ? -rc : rc);
}

/* Log, send, acknowledge, apply. Transient refusals (NFS3ERR_JUKEBOX: EAGAIN; EDQUOT
 * while the daemon makes room) are retried for up to 2 minutes. A dead connection ends
 * the process with exit 3 (the operation stays in flight in the log); any other error
 * is a failure of the gateway: logged, exit 1. */
static void op_run(struct ctx *x, struct op *o)
{
	char desc[PATH_LEN * 2 + 64];
	double t0 = clock_mono_s();
	bool s3fail, v4;
	int rc;

	o->seq = x->h.n_ops + 1;
	op_format(o, desc, sizeof desc);
	log_line(x, "B %" PRIu64 " %s", o->seq, desc);
	if (!h_push(&x->h, o))
		die("internal: sequence");
	x->h.inflight = true;
	for (;;) {
		rc = op_send(x, o, &s3fail, &v4);
		if (rc == 0)
			break;
		if ((rc == -EAGAIN || rc == -EDQUOT) && clock_mono_s() - t0 < 120) {
			sleep_ms(200);
			continue;
		}
		if (s3fail) {
			log_line(x, "F %" PRIu64 " %d S3 PUT failed", o->seq, -rc);
			fprintf(stderr, "s3f_nfswork: %s: the S3 PUT failed\n", desc);
			exit(1);
		}
		if (!(v4 ? conn_alive_v4(x) : conn_alive(x))) {
			log_line(x, "X %" PRIu64 " connection lost: %s", o->seq, conn_error(x, v4));
			if (x->verbose)
				fprintf(stderr, "s3f_nfswork: connection lost during %" PRIu64 " %s\n",
					o->seq, desc);
			exit(3);
		}
		log_line(x, "F %" PRIu64 " %d %s", o->seq, -rc, conn_error(x, v4));
		printf("FAILURE operation %" PRIu64 " %s refused: %s (%s)\n", o->seq, desc,
		       errname(rc), conn_error(x, v4));
		printf("RESULT lost 0 wrong 1 extra 0\n");
		exit(1);
	}
	log_line(x, "A %" PRIu64, o->seq);
	if (m_apply(&x->h.m, o) != 0)
		die("internal: operation %" PRIu64 " %s does not fit the model", o->seq, desc);
	x->h.inflight = false;
	x->h.acked++;
}

/* ---------------------------------------------------------------- the file view */

struct ventry {
	char path[PATH_LEN];
	bool dir;
	uint32_t type;
	uint64_t size, attr_size;
	uint8_t *data;
	int err;		/* reading it failed: -errno */
};

struct view {
	struct ventry *e;
	size_t n, cap;
	bool lost_found;
	char lf_names[512];
	char err_path[PATH_LEN];	/* the directory that could not be listed */
};

static void view_free(struct view *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->e[i].data);
	free(v->e);
	memset(v, 0, sizeof *v);
}

static const struct ventry *view_find(const struct view *v, const char *path)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->e[i].path, path) == 0)
			return &v->e[i];
	return NULL;
}

/* Read the tree below rel ("" = ROOT). 0, or -errno if a directory cannot be listed. */
static int view_load_dir(struct ctx *x, struct view *v, const char *rel)
{
	char p[PATH_LEN + 64];
	struct nfsdir *d;
	struct nfsdirent *de;
	size_t first = v->n;
	int rc;

	nfs_path(x, rel, p);
	rc = nfs_opendir(x->nfs, p, &d);
	if (rc) {
		snprintf(v->err_path, sizeof v->err_path, "%s", rel[0] ? rel : ".");
		return rc;
	}
	while ((de = nfs_readdir(x->nfs, d)) != NULL) {
		struct ventry *e;

		if (strcmp(de->name, ".") == 0 || strcmp(de->name, "..") == 0)
			continue;
		if (v->n == v->cap) {
			v->cap = v->cap ? v->cap * 2 : 64;
			v->e = xrealloc(v->e, v->cap * sizeof *v->e);
		}
		e = &v->e[v->n++];
		memset(e, 0, sizeof *e);
		join(e->path, rel, de->name);
		e->type = de->type;
		e->dir = de->type == NF3DIR;
		e->size = de->size;
	}
	nfs_closedir(x->nfs, d);
	for (size_t i = first, n = v->n; i < n; i++) {
		char path[PATH_LEN];

		/* v->e may move while recursing: copy what is needed. */
		snprintf(path, sizeof path, "%s", v->e[i].path);
		if (v->e[i].dir) {
			rc = view_load_dir(x, v, path);
			if (rc)
				return rc;
		} else if (v->e[i].type == NF3REG) {
			struct ventry *e = &v->e[i];
			uint64_t len = 0, asz = 0;
			uint8_t *buf = NULL;

			nfs_path(x, path, p);
			rc = nfs_read_all(x, p, &buf, &len, &asz);
			e = &v->e[i];
			if (rc) {
				if (!conn_alive(x))
					return rc;
				e->err = rc;
				continue;
			}
			e->data = buf;
			e->size = len;
			e->attr_size = asz;
		}
	}
	return 0;
}

static int view_load(struct ctx *x, struct view *v)
{
	struct nfsdir *d;
	struct nfsdirent *de;
	int rc;

	memset(v, 0, sizeof *v);
	/* The export root's lost+found: an entry of a file of ROOT (named after its path,
	 * '/' as %2F: "ROOT%2F...") means a conflict moved a file of this tree away. (Entries
	 * of other trees, from earlier failed iterations, are not this check's business.) */
	rc = nfs_opendir(x->nfs, "/", &d);
	if (rc) {
		snprintf(v->err_path, sizeof v->err_path, "/");
		return rc;
	}
	while ((de = nfs_readdir(x->nfs, d)) != NULL)
		if (strcmp(de->name, "lost+found") == 0)
			v->lost_found = true;
	nfs_closedir(x->nfs, d);
	if (v->lost_found) {
		char mine[PATH_LEN + 8];
		size_t k = 0;

		v->lost_found = false;
		snprintf(mine, sizeof mine, "%s%%2F", x->root);
		rc = nfs_opendir(x->nfs, "/lost+found", &d);
		if (rc) {
			snprintf(v->err_path, sizeof v->err_path, "/lost+found");
			return rc;
		}
		while ((de = nfs_readdir(x->nfs, d)) != NULL) {
			if (strncmp(de->name, mine, strlen(mine)) != 0)
				continue;
			v->lost_found = true;
			if (k < sizeof v->lf_names)
				k += (size_t)snprintf(v->lf_names + k, sizeof v->lf_names - k, "%s ",
						      de->name);
		}
		nfs_closedir(x->nfs, d);
	}
	return view_load_dir(x, v, "");
}

/* ---------------------------------------------------------------- comparison */

struct result {
	uint64_t *lost;
	size_t nlost, cap;
	unsigned wrong, extra, nmsg;
	char *msg;
	size_t msg_len, msg_cap;
};

static void res_free(struct result *r)
{
	free(r->lost);
	free(r->msg);
	memset(r, 0, sizeof *r);
}

static void res_lost(struct result *r, uint64_t seq)
{
	if (seq == 0)
		return;
	for (size_t i = 0; i < r->nlost; i++)
		if (r->lost[i] == seq)
			return;
	if (r->nlost == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->lost = xrealloc(r->lost, r->cap * sizeof *r->lost);
	}
	r->lost[r->nlost++] = seq;
}

static void res_msg(struct result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void res_msg(struct result *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->nmsg++ >= MSG_MAX)
		return;
	if (r->msg_cap - r->msg_len < 1024) {
		r->msg_cap = r->msg_cap * 2 + 4096;
		r->msg = xrealloc(r->msg, r->msg_cap);
	}
	va_start(ap, fmt);
	n = vsnprintf(r->msg + r->msg_len, r->msg_cap - r->msg_len - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > r->msg_cap - r->msg_len - 2)
		n = (int)(r->msg_cap - r->msg_len - 2);
	r->msg_len += (size_t)n;
	r->msg[r->msg_len++] = '\n';
	r->msg[r->msg_len] = '\0';
}

static void res_lost_node(struct result *r, const struct node *nd)
{
	res_lost(r, nd->who_name);
	res_lost(r, nd->who_size);
	for (size_t i = 0; i < nd->n_ext; i++)
		res_lost(r, nd->ext[i].who);
}

static const char *op_desc(const struct history *h, uint64_t seq, char *buf, size_t n)
{
	if (seq == 0 || seq > h->n_ops) {
		snprintf(buf, n, "-");
		return buf;
	}
	snprintf(buf, n, "%" PRIu64 " ", seq);
	op_format(&h->ops[seq - 1], buf + strlen(buf), n - strlen(buf));
	return buf;
}

/* Whose bytes are at obs[0..n) (file offset off)? Zeros, or the data operation whose
 * pattern matches the first min(n, 32) bytes. */
static void identify(const struct history *h, const uint8_t *obs, uint64_t off, uint64_t n,
		     char *out, size_t outn)
{
	uint64_t k = n < 32 ? n : 32;
	bool zero = true;
	char d[PATH_LEN * 2 + 64];

	for (uint64_t i = 0; i < k; i++)
		zero = zero && obs[i] == 0;
	if (zero) {
		snprintf(out, outn, "zeros");
		return;
	}
	for (size_t i = h->n_ops; i-- > 0;) {
		const struct op *o = &h->ops[i];

		if (o->kind != OP_WRITE && o->kind != OP_S3PUT)
			continue;
		if (pat_cmp(obs, o->seq, off, k) == k) {
			snprintf(out, outn, "bytes of op %s", op_desc(h, o->seq, d, sizeof d));
			return;
		}
	}
	snprintf(out, outn, "bytes of no operation (%02x %02x %02x %02x ...)", obs[0],
		 k > 1 ? obs[1] : 0, k > 2 ? obs[2] : 0, k > 3 ? obs[3] : 0);
}

/* Which extents of nd overlap [a, b): their operations are lost; describe the first. */
static void lost_range(struct result *r, const struct history *h, const struct node *nd,
		       const char *where, const uint8_t *obs, uint64_t a, uint64_t b)
{
	char want[PATH_LEN * 2 + 64], got[PATH_LEN * 2 + 96];

	want[0] = '\0';
	for (size_t i = 0; i < nd->n_ext; i++) {
		const struct ext *e = &nd->ext[i];

		if (e->end <= a || e->start >= b)
			continue;
		res_lost(r, e->who);
		if (!want[0]) {
			char d[PATH_LEN * 2 + 64];

			snprintf(want, sizeof want, "%s from op %s", e->op ? "data" : "zeros",
				 op_desc(h, e->who, d, sizeof d));
		}
	}
	identify(h, obs + a, a, b - a, got, sizeof got);
	res_msg(r, "%s %s: bytes %" PRIu64 "..%" PRIu64 " differ: expected %s; found %s", where,
		nd->path, a, b, want, got);
}

/* Exact comparison of one file's bytes. */
static void cmp_file_exact(struct result *r, const struct history *h, const struct node *nd,
			   const struct ventry *e, const char *where)
{
	uint64_t n = nd->size < e->size ? nd->size : e->size;
	uint8_t *exp = xcalloc(nd->size);
	unsigned runs = 0;

	node_content(nd, exp);
	for (uint64_t p = 0; p < n;) {
		uint64_t q;

		if (exp[p] == e->data[p]) {
			p++;
			continue;
		}
		/* a run of differences, allowing gaps of equal bytes shorter than 64 */
		for (q = p + 1; q < n; q++) {
			if (exp[q] != e->data[q])
				continue;
			uint64_t same = 0;

			while (q + same < n && exp[q + same] == e->data[q + same] && same < 64)
				same++;
			if (same >= 64 || q + same == n)
				break;
			q += same - 1;
		}
		if (runs++ < 4)
			lost_range(r, h, nd, where, e->data, p, q);
		else
			for (size_t i = 0; i < nd->n_ext; i++)
				if (nd->ext[i].start < q && nd->ext[i].end > p)
					res_lost(r, nd->ext[i].who);
		p = q;
	}
	if (nd->size != e->size) {
		char d[PATH_LEN * 2 + 64];

		res_msg(r, "%s %s: size %" PRIu64 ", expected %" PRIu64 " (op %s)", where,
			nd->path, e->size, nd->size, op_desc(h, nd->who_size, d, sizeof d));
		res_lost(r, nd->who_size);
		if (e->size < nd->size)
			for (size_t i = 0; i < nd->n_ext; i++)
				if (nd->ext[i].end > e->size)
					res_lost(r, nd->ext[i].who);
	}
	free(exp);
}

/* The file of an operation in flight that may have partly taken effect. A WRITE: each
 * byte old or new, the size from the old to the new one (old and nw: the file without
 * and with it). A V4PUT (old NULL): the truncate done and the WRITEs in part, so each
 * byte new or zero and the size at most the new one. */
struct mixspec {
	const struct node *old, *nw;
};

static void cmp_file_mixed(struct result *r, const struct history *h, const struct mixspec *mx,
			   const struct ventry *e)
{
	const struct node *nw = mx->nw, *old = mx->old ? mx->old : mx->nw;
	uint8_t *o = xcalloc(nw->size), *w = xcalloc(nw->size);
	uint64_t n = e->size < nw->size ? e->size : nw->size;
	uint64_t min_size = mx->old ? mx->old->size : 0;

	if (mx->old)
		node_content(old, o);
	node_content(nw, w);
	for (uint64_t p = 0; p < n; p++) {
		if (e->data[p] == o[p] || e->data[p] == w[p])
			continue;
		uint64_t q = p + 1;

		while (q < n && e->data[q] != o[q] && e->data[q] != w[q])
			q++;
		lost_range(r, h, old, "view (in flight)", e->data, p, q);
		break;
	}
	if (e->size < min_size || e->size > nw->size) {
		res_msg(r, "view (in flight) %s: size %" PRIu64 ", expected %" PRIu64
			"..%" PRIu64, nw->path, e->size, min_size, nw->size);
		res_lost(r, old->who_size);
	}
	free(o);
	free(w);
}

/* Compare the view with model m. mx: the file of an operation in flight compared as
 * partly done (NULL: all exact). */
static void cmp_view(struct result *r, const struct history *h, const struct model *m,
		     const struct view *v, const struct mixspec *mx)
{
	char d[PATH_LEN * 2 + 64];

	for (size_t i = 0; i < m->nn; i++) {
		const struct node *nd = &m->n[i];
		const struct ventry *e = view_find(v, nd->path);

		if (!e) {
			res_msg(r, "view %s: missing (%s, named by op %s)", nd->path,
				nd->dir ? "directory" : "file", op_desc(h, nd->who_name, d, sizeof d));
			res_lost_node(r, nd);
			continue;
		}
		if (e->dir != nd->dir || (!e->dir && e->type != NF3REG)) {
			res_msg(r, "view %s: type %u, expected a %s (op %s)", nd->path, e->type,
				nd->dir ? "directory" : "file", op_desc(h, nd->who_name, d, sizeof d));
			res_lost_node(r, nd);
			continue;
		}
		if (nd->dir)
			continue;
		if (e->err) {
			res_msg(r, "view %s: read failed: %s", nd->path, errname(e->err));
			res_lost_node(r, nd);
			continue;
		}
		if (e->attr_size != e->size) {
			res_msg(r, "view %s: attributes say %" PRIu64 " bytes, reads gave %" PRIu64,
				nd->path, e->attr_size, e->size);
			r->wrong++;
		}
		if (mx && strcmp(nd->path, mx->nw->path) == 0)
			cmp_file_mixed(r, h, mx, e);
		else
			cmp_file_exact(r, h, nd, e, "view");
	}
	for (size_t i = 0; i < v->n; i++) {
		const struct ventry *e = &v->e[i];
		const struct node *nd = NULL;

		for (size_t j = 0; j < m->nn && !nd; j++)
			if (strcmp(m->n[j].path, e->path) == 0)
				nd = &m->n[j];
		if (!nd) {
			res_msg(r, "view %s: extra %s (%" PRIu64 " bytes)", e->path,
				e->dir ? "directory" : "file", e->size);
			r->extra++;
		}
	}
	if (v->lost_found) {
		res_msg(r, "view: lost+found holds files of this tree (conflicts): %s", v->lf_names);
		r->extra++;
	}
}

static unsigned res_score(const struct result *r)
{
	return (unsigned)r->nlost + r->wrong + r->extra;
}

static void res_print(const struct result *r, const char *what)
{
	if (r->msg_len)
		fputs(r->msg, stdout);
	if (r->nmsg > MSG_MAX)
		printf("(%u more differences in %s not shown)\n", r->nmsg - MSG_MAX, what);
	if (r->nlost) {
		printf("lost operations (%s):", what);
		for (size_t i = 0; i < r->nlost && i < 40; i++)
			printf(" %" PRIu64, r->lost[i]);
		printf("%s\n", r->nlost > 40 ? " ..." : "");
	}
}

/* ---------------------------------------------------------------- resolution */

/* Send the operation in flight again, then log it as taken effect. */
static void resolve_redo(struct ctx *x, const char *why)
{
	struct op *o = &x->h.ops[x->h.n_ops - 1];
	char desc[PATH_LEN * 2 + 64];
	double t0 = clock_mono_s();
	bool s3fail, v4;
	int rc;

	op_format(o, desc, sizeof desc);
	if (why) {
		for (;;) {
			rc = op_send(x, o, &s3fail, &v4);
			if (rc == 0)
				break;
			if ((rc == -EAGAIN || rc == -EDQUOT) && clock_mono_s() - t0 < 120) {
				sleep_ms(200);
				continue;
			}
			if (!s3fail && !(v4 ? conn_alive_v4(x) : conn_alive(x))) {
				fprintf(stderr, "s3f_nfswork: connection lost while resolving %" PRIu64
					"\n", o->seq);
				exit(3);
			}
			printf("FAILURE sending op %" PRIu64 " %s again (%s): %s\n", o->seq, desc,
			       why, errname(rc));
			printf("RESULT lost 0 wrong 1 extra 0\n");
			exit(1);
		}
	}
	log_line(x, "M %" PRIu64 " %s", o->seq, why ? why : "had taken effect");
	if (m_apply(&x->h.m, o) != 0)
		die("internal: op %" PRIu64 " does not fit the model", o->seq);
	x->h.inflight = false;
	printf("# op in flight %" PRIu64 " %s: %s\n", o->seq, desc,
	       why ? why : "had taken effect");
}

/* What can be settled before comparing: an S3 PUT or a listing in flight (sent again:
 * the same bytes, the same listing), objects put whose directory was not listed yet
 * (listed now), imported directories left empty (removed: the gateway may already have
 * dropped them). */
static void resolve_before(struct ctx *x)
{
	struct model *m = &x->h.m;

	if (x->h.inflight) {
		struct op *o = &x->h.ops[x->h.n_ops - 1];

		if (o->kind == OP_S3PUT || o->kind == OP_LISTDIR ||
		    (o->kind == OP_RMDIR && o->flag == 1))
			resolve_redo(x, "sent again");
		else if (m->np > 0)
			die("internal: objects not listed with operation %zu in flight", x->h.n_ops);
		else
			return;	/* compared first (check_view) */
	}
	while (m->np > 0) {
		struct op o = { .kind = OP_LISTDIR };
		char par[PATH_LEN];

		parent_of(m->p[0].path, par);
		snprintf(o.a, sizeof o.a, "%s", par);
		op_run(x, &o);
	}
	for (size_t i = 0; i < m->nn; i++) {
		if (!m->n[i].dir || !m->n[i].imported || m_children(m, m->n[i].path) > 0)
			continue;
		struct op o = { .kind = OP_RMDIR, .flag = 1 };

		snprintf(o.a, sizeof o.a, "%s", m->n[i].path);
		op_run(x, &o);
		i = (size_t)-1;	/* the array changed: again from the start */
	}
}

/* Compare the file view with the model; settle the operation in flight. Returns the
 * exit code (0 equal, 1 differences). */
static int check_view(struct ctx *x, bool quiet_ok)
{
	struct history *h = &x->h;
	struct view v;
	struct result rn = { 0 }, ro = { 0 }, rm = { 0 };
	struct model mnew;
	const struct op *o;
	struct result *best;
	const char *outcome = NULL;
	uint64_t bytes = 0;
	int rc;

	resolve_before(x);
	o = h->inflight ? &h->ops[h->n_ops - 1] : NULL;
	/* Listed again on EAGAIN (NFS3ERR_JUKEBOX: a directory below one being renamed in S3
	 * cannot be listed until the job is done, doc/SEMANTICS.md) for up to 2 minutes, and
	 * on ENOENT (a directory listed by its parent gone when opened) a few times. */
	for (double t0 = clock_mono_s(), tries = 0;; tries++) {
		rc = view_load(x, &v);
		if (rc == 0 || !conn_alive(x))
			break;
		if (!((rc == -EAGAIN && clock_mono_s() - t0 < 120) || (rc == -ENOENT && tries < 5)))
			break;
		printf("# listing %s: %s; again in 1 s\n", v.err_path, errname(rc));
		view_free(&v);
		sleep_ms(1000);
	}
	if (rc) {
		if (!conn_alive(x)) {
			fprintf(stderr, "s3f_nfswork: connection lost while reading the view\n");
			exit(3);
		}
		printf("FAILURE listing the tree: %s: %s\n", v.err_path, errname(rc));
		view_free(&v);
		printf("RESULT lost 0 wrong 1 extra 0\n");
		return 1;
	}
	for (size_t i = 0; i < v.n; i++)
		bytes += v.e[i].size;
	cmp_view(&ro, h, &h->m, &v, NULL);
	best = &ro;
	if (o) {
		m_copy(&mnew, &h->m);
		if (m_apply(&mnew, o) != 0)
			die("internal: op in flight does not fit the model");
		cmp_view(&rn, h, &mnew, &v, NULL);
		if (res_score(&rn) == 0) {
			outcome = "new";
			best = &rn;
		} else if (res_score(&ro) == 0) {
			outcome = "old";
		} else if (o->kind == OP_WRITE) {
			struct mixspec mx = { m_find(&h->m, o->a), m_find(&mnew, o->a) };

			cmp_view(&rm, h, &h->m, &v, &mx);
			best = &rm;
			if (res_score(&rm) == 0)
				outcome = "mixed";
		} else if (o->kind == OP_V4PUT) {
			struct mixspec mx = { NULL, m_find(&mnew, o->a) };

			cmp_view(&rm, h, &mnew, &v, &mx);
			best = &rm;
			if (res_score(&rm) == 0)
				outcome = "mixed";
		}
		if (!outcome && best == &ro && res_score(&rn) < res_score(&ro))
			best = &rn;
		m_free(&mnew);
	}
	printf("# view: %zu entries, %" PRIu64 " bytes; model: %zu entries, %" PRIu64
	       " bytes; %zu operations, %" PRIu64 " acknowledged\n", v.n, bytes, h->m.nn,
	       m_bytes(&h->m), h->n_ops, h->acked);
	view_free(&v);
	if (res_score(best) == 0) {
		if (o && strcmp(outcome, "new") == 0)
			resolve_redo(x, NULL);
		else if (o && o->kind == OP_FSYNC)
			resolve_redo(x, NULL);
		else if (o)
			resolve_redo(x, strcmp(outcome, "old") == 0 ?
				     "had not taken effect: sent again" :
				     "had partly taken effect: sent again");
		if (!quiet_ok)
			printf("RESULT lost 0 wrong 0 extra 0\n");
		res_free(&rn);
		res_free(&ro);
		res_free(&rm);
		return 0;
	}
	if (o) {
		char d[PATH_LEN * 2 + 64];

		printf("# operation in flight: %s (the view is neither without it nor with it)\n",
		       op_desc(h, o->seq, d, sizeof d));
		if (best != &ro) {
			printf("compared with the model without it:\n");
			res_print(&ro, "view without it");
		}
		if (best != &rn) {
			printf("compared with the model with it:\n");
			res_print(&rn, "view with it");
		}
		printf("compared with the model %s:\n", best == &rn ? "with it" :
		       best == &ro ? "without it" : "with it partly done");
		/* Its own effect may be anything; what it does not explain is lost. */
		for (size_t i = 0; i < best->nlost; i++)
			if (best->lost[i] == o->seq) {
				best->lost[i] = best->lost[--best->nlost];
				best->wrong++;
				break;
			}
	}
	res_print(best, "view");
	printf("RESULT lost %zu wrong %u extra %u\n", best->nlost, best->wrong, best->extra);
	res_free(&rn);
	res_free(&ro);
	res_free(&rm);
	return 1;
}

/* ---------------------------------------------------------------- the workload */

static uint64_t pick_size(struct ctx *x)
{
	uint64_t r = rnd_below(x, 100);

	if (r < 55)
		return 1 + rnd_below(x, 4096);
	if (r < 85)
		return 4097 + rnd_below(x, 256 * 1024);
	return 256 * 1024 + rnd_below(x, 3 * 1024 * 1024 - 256 * 1024);
}

static int pick_sync(struct ctx *x)
{
	uint64_t r = rnd_below(x, 100);

	return r < 25 ? 1 : r < 45 ? 2 : 0;
}

/* A random node satisfying pred, or NULL. */
static struct node *pick_node(struct ctx *x, bool (*pred)(const struct model *, const struct node *))
{
	struct model *m = &x->h.m;
	size_t k = 0, want;

	for (size_t i = 0; i < m->nn; i++)
		k += pred(m, &m->n[i]);
	if (k == 0)
		return NULL;
	want = rnd_below(x, k);
	for (size_t i = 0; i < m->nn; i++)
		if (pred(m, &m->n[i]) && want-- == 0)
			return &m->n[i];
	return NULL;
}

static bool p_file(const struct model *m, const struct node *n)
{
	(void)m;
	return !n->dir;
}

/* A file whose removal (or move away) leaves its directory non-empty if imported. */
static bool p_file_movable(const struct model *m, const struct node *n)
{
	char par[PATH_LEN];
	const struct node *d;

	if (n->dir)
		return false;
	d = m_find((struct model *)m, parent_of(n->path, par));
	return !d || !d->imported || m_children(m, par) >= 2;
}

static bool p_plain_dir(const struct model *m, const struct node *n)
{
	(void)m;
	return n->dir && !n->imported;
}

static bool p_empty_plain_dir(const struct model *m, const struct node *n)
{
	return n->dir && !n->imported && m_children(m, n->path) == 0;
}

static bool p_imported_dir(const struct model *m, const struct node *n)
{
	(void)m;
	return n->dir && n->imported;
}

/* A directory for a new name ("" = ROOT): ROOT or a plain directory, or any directory. */
static void pick_dir(struct ctx *x, char *out, bool plain_only, unsigned max_depth)
{
	struct model *m = &x->h.m;
	size_t k = 1, want;

	for (size_t i = 0; i < m->nn; i++)
		k += m->n[i].dir && (!plain_only || !m->n[i].imported) &&
		     depth_of(m->n[i].path) <= max_depth;
	want = rnd_below(x, k);
	out[0] = '\0';
	if (want-- == 0)
		return;
	for (size_t i = 0; i < m->nn; i++)
		if (m->n[i].dir && (!plain_only || !m->n[i].imported) &&
		    depth_of(m->n[i].path) <= max_depth && want-- == 0) {
			snprintf(out, PATH_LEN, "%s", m->n[i].path);
			return;
		}
}

/* Height of the tree below dir (0: no subdirectories). */
static unsigned height_below(const struct model *m, const char *dir)
{
	unsigned d0 = depth_of(dir), h = 0;

	for (size_t i = 0; i < m->nn; i++)
		if (m->n[i].dir && is_under(m->n[i].path, dir) && depth_of(m->n[i].path) - d0 > h)
			h = depth_of(m->n[i].path) - d0;
	return h;
}

static void step_write(struct ctx *x, struct node *nd, bool append)
{
	struct op o = { .kind = OP_WRITE, .flag = pick_sync(x) };
	uint64_t len = pick_size(x);

	snprintf(o.a, sizeof o.a, "%s", nd->path);
	o.off = append ? nd->size : rnd_below(x, nd->size + 1);
	if (o.off >= FILE_MAX)
		o.off = rnd_below(x, FILE_MAX / 2);
	if (o.off + len > FILE_MAX)
		len = FILE_MAX - o.off;
	o.len = len ? len : 1;
	op_run(x, &o);
}

static void step_create(struct ctx *x)
{
	struct op o = { .kind = OP_CREATE };
	char dir[PATH_LEN], name[16];
	struct node *nd;

	for (int tries = 0; tries < 10; tries++) {
		pick_dir(x, dir, false, MAX_DEPTH);
		snprintf(name, sizeof name, "f%u", (unsigned)rnd_below(x, N_FILE_NAMES));
		join(o.a, dir, name);
		nd = m_find(&x->h.m, o.a);
		if (!nd || !nd->dir)
			break;
		o.a[0] = '\0';
	}
	if (!o.a[0])
		return;
	if (x->v4_port && rnd_below(x, 100) < 30) {
		o.kind = OP_V4PUT;
		o.len = rnd_below(x, 100) < 80 ? rnd_below(x, 4001) : rnd_below(x, 40001);
		op_run(x, &o);
		return;
	}
	op_run(x, &o);
	if (rnd_below(x, 100) < 75) {
		nd = m_find(&x->h.m, o.a);
		step_write(x, nd, true);
	}
}

static void step_rename_file(struct ctx *x)
{
	struct node *src = pick_node(x, p_file_movable), *dst;
	struct op o = { .kind = OP_RENAME };
	char dir[PATH_LEN], name[16];

	if (!src)
		return;
	snprintf(o.a, sizeof o.a, "%s", src->path);
	for (int tries = 0; tries < 10; tries++) {
		pick_dir(x, dir, false, MAX_DEPTH);
		snprintf(name, sizeof name, "f%u", (unsigned)rnd_below(x, N_FILE_NAMES));
		join(o.b, dir, name);
		dst = m_find(&x->h.m, o.b);
		if (strcmp(o.a, o.b) != 0 && (!dst || !dst->dir)) {
			op_run(x, &o);
			return;
		}
	}
}

static void step_rename_dir(struct ctx *x)
{
	struct node *src = pick_node(x, p_plain_dir), *dst;
	struct op o = { .kind = OP_RENAME };
	char dir[PATH_LEN], name[16];

	if (!src)
		return;
	snprintf(o.a, sizeof o.a, "%s", src->path);
	for (int tries = 0; tries < 10; tries++) {
		unsigned h = height_below(&x->h.m, o.a);

		if (h >= MAX_DEPTH)
			return;
		pick_dir(x, dir, true, MAX_DEPTH - 1 - h);
		if (is_under(dir, o.a))
			continue;
		snprintf(name, sizeof name, "d%u", (unsigned)rnd_below(x, N_DIR_NAMES));
		join(o.b, dir, name);
		dst = m_find(&x->h.m, o.b);
		if (strcmp(o.a, o.b) == 0 || is_under(o.b, o.a))
			continue;
		if (dst && (!dst->dir || dst->imported || m_children(&x->h.m, o.b) > 0))
			continue;
		op_run(x, &o);
		return;
	}
}

static void step_mkdir(struct ctx *x)
{
	struct op o = { .kind = OP_MKDIR };
	char dir[PATH_LEN], name[16];

	pick_dir(x, dir, true, MAX_DEPTH - 1);
	snprintf(name, sizeof name, "d%u", (unsigned)rnd_below(x, N_DIR_NAMES));
	join(o.a, dir, name);
	if (m_find(&x->h.m, o.a))
		return;
	op_run(x, &o);
}

/* Objects straight into S3, the directory listed once the poll shows it, its files
 * written at once (issue 9 points 1 and 2). */
static void step_import(struct ctx *x)
{
	unsigned n = 6 + (unsigned)rnd_below(x, 20);
	char dir[32];
	char (*names)[PATH_LEN] = xcalloc(n * sizeof *names);

	snprintf(dir, sizeof dir, "i%zu", x->h.n_ops + 1);
	for (unsigned i = 0; i < n; i++) {
		struct op o = { .kind = OP_S3PUT };
		uint64_t r = rnd_below(x, 100);

		snprintf(o.a, sizeof o.a, "%s/o%u", dir, i);
		o.len = r < 75 ? 1 + rnd_below(x, 2048) :
			r < 90 ? 128 * 1024 + rnd_below(x, 256 * 1024) :
			1 + rnd_below(x, 1024 * 1024 + 512 * 1024);
		snprintf(names[i], PATH_LEN, "%s", o.a);
		op_run(x, &o);
	}
	{
		struct op o = { .kind = OP_LISTDIR };

		snprintf(o.a, sizeof o.a, "%s", dir);
		op_run(x, &o);
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned j = i + (unsigned)rnd_below(x, n - i);
		char t[PATH_LEN];
		struct node *nd;
		uint64_t r = rnd_below(x, 100);

		memcpy(t, names[i], PATH_LEN);
		memcpy(names[i], names[j], PATH_LEN);
		memcpy(names[j], t, PATH_LEN);
		nd = m_find(&x->h.m, names[i]);
		if (!nd)
			continue;
		if (r < 15 && x->v4_port) {	/* the same, over NFSv4.0 */
			struct op o = { .kind = OP_V4PUT };

			snprintf(o.a, sizeof o.a, "%s", names[i]);
			o.len = 1 + rnd_below(x, 512);
			op_run(x, &o);
		} else if (r < 45) {		/* echo new > f */
			struct op o = { .kind = OP_CREATE };
			struct op w = { .kind = OP_WRITE, .off = 0, .flag = pick_sync(x) };

			snprintf(o.a, sizeof o.a, "%s", names[i]);
			op_run(x, &o);
			snprintf(w.a, sizeof w.a, "%s", names[i]);
			w.len = 1 + rnd_below(x, 512);
			op_run(x, &w);
		} else if (r < 65) {	/* append */
			struct op w = { .kind = OP_WRITE, .flag = pick_sync(x) };

			snprintf(w.a, sizeof w.a, "%s", names[i]);
			w.off = nd->size;
			w.len = 1 + rnd_below(x, 4096);
			op_run(x, &w);
		} else if (r < 85) {	/* in the middle: into bytes perhaps not fetched yet */
			struct op w = { .kind = OP_WRITE, .flag = pick_sync(x) };

			snprintf(w.a, sizeof w.a, "%s", names[i]);
			w.off = rnd_below(x, nd->size + 1);
			w.len = 1 + rnd_below(x, 8192);
			op_run(x, &w);
		}
	}
	free(names);
}

static void step_rmtree(struct ctx *x, struct node *d)
{
	struct model *m = &x->h.m;
	char dir[PATH_LEN], par[PATH_LEN];

	snprintf(dir, sizeof dir, "%s", d->path);
	for (size_t i = 0; i < m->nn; i++) {
		if (m->n[i].dir || strcmp(parent_of(m->n[i].path, par), dir) != 0)
			continue;
		struct op o = { .kind = OP_UNLINK };

		snprintf(o.a, sizeof o.a, "%s", m->n[i].path);
		op_run(x, &o);
		i = (size_t)-1;
	}
	struct op o = { .kind = OP_RMDIR, .flag = 1 };

	snprintf(o.a, sizeof o.a, "%s", dir);
	op_run(x, &o);
}

static void step(struct ctx *x)
{
	struct model *m = &x->h.m;
	bool full = m_bytes(m) > x->cap_bytes;
	uint64_t r = rnd_below(x, 100);
	struct node *nd;
	size_t imported = 0, files = 0;

	for (size_t i = 0; i < m->nn; i++) {
		imported += m->n[i].dir && m->n[i].imported;
		files += !m->n[i].dir;
	}
	if (r < x->import_pct && !full) {
		step_import(x);
		return;
	}
	r = rnd_below(x, 100);
	if (!full && files < 16 && r < 40) {	/* keep a few dozen names about */
		step_create(x);
		return;
	}
	r = rnd_below(x, 100);
	if (full || (imported > 2 && r < 10)) {
		/* make room: remove an imported directory, a file, or shrink one */
		if (imported > 0 && r < 40) {
			step_rmtree(x, pick_node(x, p_imported_dir));
			return;
		}
		nd = pick_node(x, p_file_movable);
		if (nd && r < 70) {
			struct op o = { .kind = OP_UNLINK };

			snprintf(o.a, sizeof o.a, "%s", nd->path);
			op_run(x, &o);
		} else if (nd) {
			struct op o = { .kind = OP_TRUNC };

			snprintf(o.a, sizeof o.a, "%s", nd->path);
			o.len = rnd_below(x, nd->size / 4 + 1);
			op_run(x, &o);
		}
		return;
	}
	if (r < 14) {
		step_create(x);
	} else if (r < 34) {
		if ((nd = pick_node(x, p_file)))
			step_write(x, nd, false);
		else
			step_create(x);
	} else if (r < 50) {
		if ((nd = pick_node(x, p_file)))
			step_write(x, nd, true);
		else
			step_create(x);
	} else if (r < 58) {
		if ((nd = pick_node(x, p_file))) {
			struct op o = { .kind = OP_TRUNC };

			snprintf(o.a, sizeof o.a, "%s", nd->path);
			o.len = rnd_below(x, 100) < 60 ? rnd_below(x, nd->size + 1) :
				nd->size + rnd_below(x, 256 * 1024);
			if (o.len > FILE_MAX)
				o.len = FILE_MAX;
			op_run(x, &o);
		}
	} else if (r < 67) {
		step_rename_file(x);
	} else if (r < 71) {
		step_rename_dir(x);
	} else if (r < 78) {
		if ((nd = pick_node(x, p_file_movable))) {
			struct op o = { .kind = OP_UNLINK };

			snprintf(o.a, sizeof o.a, "%s", nd->path);
			op_run(x, &o);
		}
	} else if (r < 85) {
		step_mkdir(x);
	} else if (r < 89) {
		if ((nd = pick_node(x, p_empty_plain_dir))) {
			struct op o = { .kind = OP_RMDIR };

			snprintf(o.a, sizeof o.a, "%s", nd->path);
			op_run(x, &o);
		}
	} else {
		if ((nd = pick_node(x, p_file))) {
			struct op o = { .kind = OP_FSYNC };

			snprintf(o.a, sizeof o.a, "%s", nd->path);
			op_run(x, &o);
		}
	}
}

static int cmd_run(struct ctx *x, unsigned steps, uint64_t seed)
{
	char p[PATH_LEN + 64];
	struct nfsdir *d;
	int rc;

	x->rng = mix64(seed ^ mix64(x->h.runs + 1));
	log_line(x, "R %u %" PRIu64, x->h.runs + 1, seed);
	x->h.runs++;
	/* ROOT itself is not in the model: made by the first run (again if that one died
	 * before its mkdir was answered). */
	nfs_path(x, "", p);
	rc = nfs_mkdir2(x->nfs, p, 0755);
	if (rc && rc != -EEXIST) {
		fprintf(stderr, "s3f_nfswork: mkdir %s: %s\n", p, nfs_get_error(x->nfs));
		return conn_alive(x) ? 1 : 3;
	}
	if (x->h.inflight) {
		rc = check_view(x, true);
		if (rc)
			return rc;
	} else {
		resolve_before(x);
	}
	/* List ROOT: the gateway then polls it (a new imported directory shows up). */
	nfs_path(x, "", p);
	rc = nfs_opendir(x->nfs, p, &d);
	if (rc) {
		fprintf(stderr, "s3f_nfswork: opendir %s: %s\n", p, nfs_get_error(x->nfs));
		return conn_alive(x) ? 1 : 3;
	}
	nfs_closedir(x->nfs, d);
	for (unsigned i = 0; i < steps; i++)
		step(x);
	printf("# run %u: %zu operations in the log, %" PRIu64 " acknowledged, %zu entries, %"
	       PRIu64 " bytes\n", x->h.runs, x->h.n_ops, x->h.acked, x->h.m.nn, m_bytes(&x->h.m));
	return 0;
}

/* ---------------------------------------------------------------- check-s3 */

static int read_local(const char *path, uint8_t **buf, uint64_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	size_t got;

	if (!f)
		return -errno;
	if (fstat(fileno(f), &st) != 0) {
		fclose(f);
		return -errno;
	}
	*buf = xcalloc((size_t)st.st_size);
	got = fread(*buf, 1, (size_t)st.st_size, f);
	fclose(f);
	if (got != (size_t)st.st_size) {
		free(*buf);
		return -EIO;
	}
	*len = got;
	return 0;
}

static int cmd_check_s3(struct ctx *x, const char *keys_path, const char *objdir)
{
	struct history *h = &x->h;
	struct model *m = &h->m;
	struct result r = { 0 };
	FILE *f;
	char *line = NULL, base[S3_KEY_MAX];
	size_t cap = 0, nkeys = 0;
	ssize_t len;
	int rc;
	bool *seen;
	char d[PATH_LEN * 2 + 64];
	uint64_t bytes = 0;

	if (h->inflight || m->np > 0) {
		fprintf(stderr, "s3f_nfswork: check-s3: the log has an operation in flight or "
			"objects not listed: run check first\n");
		return 2;
	}
	f = fopen(keys_path, "r");
	if (!f)
		die("%s: %s", keys_path, strerror(errno));
	seen = xcalloc(m->nn * sizeof *seen);
	snprintf(base, sizeof base, "%s%s/", x->prefix, x->root);
	while ((len = getline(&line, &cap, f)) > 0) {
		const char *rel;
		char path[PATH_LEN];
		struct node *nd;
		bool marker;

		if (line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0)
			continue;
		nkeys++;
		if (strncmp(line, base, strlen(base)) != 0) {
			res_msg(&r, "s3 %s: extra key (outside ROOT)", line);
			r.extra++;
			continue;
		}
		rel = line + strlen(base);
		if (rel[0] == '\0')
			continue;	/* ROOT's own marker */
		marker = line[len - 1] == '/';
		snprintf(path, sizeof path, "%.*s", (int)(marker ? strlen(rel) - 1 : strlen(rel)), rel);
		nd = m_find(m, path);
		if (!nd || nd->dir != marker) {
			res_msg(&r, "s3 %s: extra %s", line, marker ? "marker" : "object");
			r.extra++;
			continue;
		}
		seen[nd - m->n] = true;
		if (marker)
			continue;
		{
			char lp[4096];
			uint8_t *buf = NULL;
			uint64_t blen = 0;
			struct ventry e = { 0 };

			snprintf(lp, sizeof lp, "%s/%s", objdir, line + strlen(x->prefix));
			rc = read_local(lp, &buf, &blen);
			if (rc) {
				res_msg(&r, "s3 %s: listed but not downloaded (%s)", line, errname(rc));
				res_lost_node(&r, nd);
				continue;
			}
			e.data = buf;
			e.size = blen;
			bytes += blen;
			cmp_file_exact(&r, h, nd, &e, "s3");
			free(buf);
		}
	}
	free(line);
	fclose(f);
	for (size_t i = 0; i < m->nn; i++) {
		const struct node *nd = &m->n[i];

		if (seen[i])
			continue;
		if (!nd->dir) {
			res_msg(&r, "s3 %s: no object (file named by op %s)", nd->path,
				op_desc(h, nd->who_name, d, sizeof d));
			res_lost_node(&r, nd);
		} else if (!nd->imported && m_children(m, nd->path) == 0) {
			res_msg(&r, "s3 %s/: no marker for the empty directory (op %s)", nd->path,
				op_desc(h, nd->who_name, d, sizeof d));
			res_lost(&r, nd->who_name);
		}
	}
	free(seen);
	printf("# s3: %zu keys, %" PRIu64 " bytes; model: %zu entries, %" PRIu64 " bytes\n",
	       nkeys, bytes, m->nn, m_bytes(m));
	res_print(&r, "s3");
	printf("RESULT lost %zu wrong %u extra %u\n", r.nlost, r.wrong, r.extra);
	rc = res_score(&r) ? 1 : 0;
	res_free(&r);
	return rc;
}

/* ---------------------------------------------------------------- main */

static void usage(void)
{
	fprintf(stderr,
		"usage: s3f_nfswork run -l LOG -r ROOT -H HOST [-E EXPORT] [-p V4PORT] -n STEPS\n"
		"                       -s SEED [-c CAP_MiB] [-i IMPORT_PCT] [-v]\n"
		"       s3f_nfswork check -l LOG -r ROOT -H HOST [-E EXPORT] [-p V4PORT]\n"
		"       s3f_nfswork check-s3 -l LOG -r ROOT -P PREFIX -k KEYS -o DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct ctx x = { .export = "/s3files", .cap_bytes = (uint64_t)48 << 20, .import_pct = 3 };
	const char *cmd, *keys = NULL, *objdir = NULL;
	unsigned steps = 0;
	uint64_t seed = 1;
	int opt, rc;

	if (argc < 2)
		usage();
	cmd = argv[1];
	optind = 2;
	x.prefix = getenv("S3_PREFIX") ? getenv("S3_PREFIX") : "";
	while ((opt = getopt(argc, argv, "l:r:H:E:p:n:s:c:i:P:k:o:v")) != -1) {
		switch (opt) {
		case 'l': x.log_path = optarg; break;
		case 'r': x.root = optarg; break;
		case 'H': x.host = optarg; break;
		case 'E': x.export = optarg; break;
		case 'p': x.v4_port = atoi(optarg); break;
		case 'n': steps = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		case 'c': x.cap_bytes = strtoull(optarg, NULL, 10) << 20; break;
		case 'i': x.import_pct = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'P': x.prefix = optarg; break;
		case 'k': keys = optarg; break;
		case 'o': objdir = optarg; break;
		case 'v': x.verbose = true; break;
		default: usage();
		}
	}
	if (!x.log_path || !x.root || !x.root[0] || strchr(x.root, '/'))
		usage();
	log_replay(&x);
	if (strcmp(cmd, "check-s3") == 0) {
		if (!keys || !objdir)
			usage();
		rc = cmd_check_s3(&x, keys, objdir);
	} else if (strcmp(cmd, "run") == 0 || strcmp(cmd, "check") == 0) {
		if (!x.host)
			usage();
		x.log_fd = open(x.log_path, O_WRONLY | O_APPEND | O_CREAT, 0644);
		if (x.log_fd < 0)
			die("%s: %s", x.log_path, strerror(errno));
		conn_open(&x);
		rc = strcmp(cmd, "run") == 0 ? cmd_run(&x, steps, seed) : check_view(&x, false);
		conn_close(&x);
		close(x.log_fd);
	} else {
		usage();
	}
	if (x.s3)
		s3_client_close(x.s3);
	m_free(&x.h.m);
	free(x.h.ops);
	return rc;
}
