/*
 * s3f-stress — the workload, the reference model and the checker of
 * test/integration/stress.sh. Built static on the host (gcc -static); the guest runs it
 * from /host, the host runs gen, model and check itself.
 *
 *   s3f-stress gen DIR COUNT MIN MAX SEED FMT PCT [text]
 *        COUNT candidate files DIR/<FMT % i>; about PCT % of them are written, each of
 *        MIN..MAX bytes (random bytes, or printable lines with "text"), the same for the
 *        same SEED. Prints how many were written.
 *   s3f-stress repro ROOT REL LOGDIR
 *        every file of ROOT/REL, in name order, opened O_TRUNC, "new-<name>\n" written,
 *        closed (the reported loss: run right after the directory's first listing).
 *   s3f-stress run PLAN
 *        the guest workload (writers, cold-listing workers, readers; see the plan keys
 *        below), one process each, until the plan's seconds have passed.
 *   s3f-stress model MODEL LOGDIR
 *        MODEL holds what S3 was given; every LOGDIR/NAME.state applied to it.
 *   s3f-stress check [-d] MODEL ROOT
 *        every regular file under MODEL compared byte by byte with ROOT (-d: O_DIRECT
 *        reads), and every regular file of ROOT must be in MODEL. Last line:
 *        "check files=N bytes=B lost_bytes=L missing=M extra=E wrong=W". Exit 1 on any
 *        difference.
 *
 * Ownership: every path is changed by one process only (a writer owns cold/cW, wW/ and its
 * "own" big files; cold-listing worker k owns the files i % K == k of each announced
 * directory; repro owns repro/). So each process's model of its own files is exact: it
 * changes a file's model only when the operation was acknowledged (every call, fsync when
 * asked, and close returned 0). At its end each process writes LOGDIR/NAME.state (the
 * final content of every path it touched, or that it is gone) and LOGDIR/NAME.log:
 *   OP T0 T1 PATH [details]          one acknowledged operation (ms, guest clock)
 *   list T0 T1 DIR                   a cold listing (readdir + lstat of every entry)
 *   bad T PATH ...                   an O_DIRECT read-back right after an acknowledgement
 *                                    differed from the model
 *   badread T PATH ...               a read of a stable object differed from S3's bytes
 *   err T OP PATH errno              an operation failed (the file is read back to go on)
 *   sum ops=.. reads=.. verifies=.. listed=.. races=.. bad_bytes=.. bad_reads=..
 *       bad_read_bytes=.. errors=..
 * State records: "F LEN PATH\n" + LEN bytes + "\n", or "D 0 PATH\n".
 *
 * Plan keys (one per line): root DIR | fix DIR (the host's copy of what S3 holds, by path)
 * | logs DIR | ann DIR (announced directories: N.dir holds a path) | seconds N | seed N |
 * readers N | coldworkers N | writer W COLDDIR | own W PATH | ro PATH | hs PATH.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1024 * 1024)
#define ALIGN 4096

/* ---- small helpers ---- */

static uint64_t rng_s;
static uint64_t rnd64(void)
{
	/* splitmix64 */
	uint64_t z = (rng_s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static size_t rnd(size_t n) { return n ? (size_t)(rnd64() % n) : 0; }

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "s3f-stress: out of memory (%zu bytes)\n", n);
		exit(3);
	}
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "s3f-stress: out of memory (%zu bytes)\n", n);
		exit(3);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	if (!d)
		exit(3);
	return d;
}

static void *xalign(size_t n)
{
	void *p = NULL;

	if (posix_memalign(&p, ALIGN, n ? n : ALIGN) != 0)
		exit(3);
	return p;
}

/* S3F_STRESS_NODIRECT=1: no O_DIRECT (a trial run on a local file system) */
static int o_direct(void)
{
	static int v = -1;

	if (v < 0)
		v = getenv("S3F_STRESS_NODIRECT") ? 0 : O_DIRECT;
	return v;
}

static size_t round_up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

/* read_file: the whole file at PATH into *buf (malloc'd, *len bytes); O_DIRECT with
 * direct. 0 or errno. */
static int read_file(const char *path, int direct, unsigned char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | (direct ? o_direct() : 0));
	size_t cap = 1 << 16, n = 0;
	unsigned char *b;
	ssize_t r;
	int e;

	if (fd < 0)
		return errno;
	b = direct ? xalign(cap) : xmalloc(cap);
	for (;;) {
		if (cap - n < 1 << 16) {
			unsigned char *nb;

			cap *= 2;
			nb = direct ? xalign(cap) : xmalloc(cap);
			memcpy(nb, b, n);
			free(b);
			b = nb;
		}
		r = read(fd, b + n, direct ? (cap - n) / ALIGN * ALIGN : cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			free(b);
			close(fd);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*buf = b;
	*len = n;
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = pwrite(fd, c, n, off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		c += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

static int mkdirs(const char *path) /* the parents of PATH */
{
	char *p = xstrdup(path), *s;

	for (s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			free(p);
			return errno;
		}
		*s = '/';
	}
	free(p);
	return 0;
}

/* diff_bytes: bytes of WANT that GOT does not hold at the same offset, plus GOT's bytes
 * beyond WANT's end; *first = first differing offset. */
static size_t diff_bytes(const unsigned char *want, size_t wl, const unsigned char *got,
			 size_t gl, size_t *first)
{
	size_t i, n = 0, m = wl < gl ? wl : gl;

	*first = (size_t)-1;
	for (i = 0; i < m; i++)
		if (want[i] != got[i]) {
			if (n == 0)
				*first = i;
			n++;
		}
	if (wl != gl) {
		if (n == 0)
			*first = m;
		n += wl > gl ? wl - gl : gl - wl;
	}
	return n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list_dir: the names in DIR (sorted), lstat of each when st (a listing as `ls -l` does). */
static int list_dir(const char *dir, int st, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 64;
	char path[4096];
	struct stat sb;

	*n = 0;
	if (!d)
		return errno;
	*names = xmalloc(cap * sizeof(char *));
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (st) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			lstat(path, &sb);
		}
		if (*n == cap) {
			cap *= 2;
			*names = xrealloc(*names, cap * sizeof(char *));
		}
		(*names)[(*n)++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(*names, *n, sizeof(char *), cmp_str);
	return 0;
}

static void free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* ---- gen ---- */

static int cmd_gen(int argc, char **argv)
{
	const char *dir, *fmt;
	size_t count, lo, hi, i, size, k;
	unsigned pct;
	int text, written = 0;
	char name[256], path[4096];

	if (argc < 8)
		return 2;
	dir = argv[1];
	count = strtoul(argv[2], NULL, 10);
	lo = strtoul(argv[3], NULL, 10);
	hi = strtoul(argv[4], NULL, 10);
	rng_s = strtoull(argv[5], NULL, 10);
	fmt = argv[6];
	pct = (unsigned)strtoul(argv[7], NULL, 10);
	text = argc > 8 && strcmp(argv[8], "text") == 0;
	if (hi < lo || mkdir(dir, 0755) != 0) {
		fprintf(stderr, "gen: %s: %s\n", dir, hi < lo ? "MAX < MIN" : strerror(errno));
		return 1;
	}
	for (i = 0; i < count; i++) {
		unsigned char *b;
		int fd;

		if (rnd(100) >= pct)
			continue;
		size = lo + rnd(hi - lo + 1);
		snprintf(name, sizeof(name), fmt, (int)i);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		b = xmalloc(size);
		if (text) {
			char line[320];
			size_t o = 0;

			while (o < size) {
				int l = snprintf(line, sizeof(line), "%s v%016" PRIx64 " line %zu\n", name,
						 rnd64(), o);
				size_t c = (size_t)l < size - o ? (size_t)l : size - o;

				memcpy(b + o, line, c);
				o += c;
			}
		} else {
			for (k = 0; k < size; k += 8) {
				uint64_t r = rnd64();

				memcpy(b + k, &r, size - k < 8 ? size - k : 8);
			}
		}
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write_all(fd, b, size) != 0 || close(fd) != 0) {
			fprintf(stderr, "gen: %s: %s\n", path, strerror(errno));
			return 1;
		}
		free(b);
		written++;
	}
	printf("%d\n", written);
	return 0;
}

/* ---- the per-process model and log ---- */

struct mfile {
	char *path;		/* relative to the root */
	unsigned char *buf;
	size_t len, cap;
	int exists, touched, big;
	unsigned char read_chunk[64];	/* chunks read or written here (big files) */
};

static struct {
	const char *root, *fix, *logs, *ann;
	long long deadline;
	uint64_t seed;
	char name[64];
	FILE *log;
	struct mfile *f;
	size_t nf, capf;
	/* counters */
	unsigned long long ops, reads, verifies, listed, races, bad_bytes, bad_reads,
		bad_read_bytes, errors;
} G;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(G.log, fmt, ap);
	va_end(ap);
	fputc('\n', G.log);
}

static struct mfile *mf_find(const char *path)
{
	size_t i;

	for (i = 0; i < G.nf; i++)
		if (strcmp(G.f[i].path, path) == 0)
			return &G.f[i];
	return NULL;
}

static struct mfile *mf_get(const char *path)
{
	struct mfile *m = mf_find(path);

	if (m)
		return m;
	if (G.nf == G.capf) {
		G.capf = G.capf ? G.capf * 2 : 64;
		G.f = xrealloc(G.f, G.capf * sizeof(*G.f));
	}
	m = &G.f[G.nf++];
	memset(m, 0, sizeof(*m));
	m->path = xstrdup(path);
	return m;
}

static void mf_resize(struct mfile *m, size_t len)
{
	if (len > m->cap) {
		m->cap = len + len / 2 + 256;
		m->buf = xrealloc(m->buf, m->cap);
	}
	if (len > m->len)
		memset(m->buf + m->len, 0, len - m->len);
	m->len = len;
}

static void mf_set(struct mfile *m, const unsigned char *b, size_t len)
{
	mf_resize(m, 0);
	mf_resize(m, len);
	memcpy(m->buf, b, len);
}

/* mf_load: the model of PATH starts as the host's copy of what S3 holds. */
static int mf_load(const char *path, int big)
{
	char full[4096];
	unsigned char *b;
	size_t n;
	int rc;
	struct mfile *m;

	snprintf(full, sizeof(full), "%s/%s", G.fix, path);
	rc = read_file(full, 0, &b, &n);
	if (rc != 0) {
		fprintf(stderr, "%s: fixture %s: %s\n", G.name, full, strerror(rc));
		return rc;
	}
	m = mf_get(path);
	mf_set(m, b, n);
	free(b);
	m->exists = 1;
	m->big = big;
	return 0;
}

static void full_path(char *out, size_t sz, const char *rel)
{
	snprintf(out, sz, "%s/%s", G.root, rel);
}

/* resync: after a failed operation the file's state is unknown: take what the view says. */
static void resync(struct mfile *m)
{
	char full[4096];
	unsigned char *b;
	size_t n;

	full_path(full, sizeof(full), m->path);
	m->touched = 1;
	if (read_file(full, 1, &b, &n) == 0) {
		mf_set(m, b, n);
		m->exists = 1;
		free(b);
	} else {
		m->exists = 0;
	}
}

static void op_err(const char *op, struct mfile *m, int e)
{
	G.errors++;
	logf_("err %lld %s %s %d %s", now_ms(), op, m->path, e, strerror(e));
	fprintf(stderr, "%s: %s %s: %s\n", G.name, op, m->path, strerror(e));
	resync(m);
}

/* verify: O_DIRECT read-back of M compared with its model. */
static void verify(struct mfile *m)
{
	char full[4096];
	unsigned char *b = NULL;
	size_t n = 0, d, first;
	int rc;

	full_path(full, sizeof(full), m->path);
	rc = read_file(full, 1, &b, &n);
	G.verifies++;
	if (!m->exists) {
		if (rc != ENOENT) {
			G.bad_bytes++;
			logf_("bad %lld %s exists after its unlink/rename (rc %d)", now_ms(), m->path, rc);
		}
		free(b);
		return;
	}
	if (rc != 0) {
		G.bad_bytes += m->len ? m->len : 1;
		logf_("bad %lld %s read-back failed: %s", now_ms(), m->path, strerror(rc));
		return;
	}
	d = diff_bytes(m->buf, m->len, b, n, &first);
	if (d) {
		G.bad_bytes += d;
		logf_("bad %lld %s want %zu bytes, got %zu, %zu differ from offset %zu", now_ms(),
		      m->path, m->len, n, d, first);
	}
	free(b);
}

static void fill_random(unsigned char *b, size_t n)
{
	size_t k;

	for (k = 0; k < n; k += 8) {
		uint64_t r = rnd64();

		memcpy(b + k, &r, n - k < 8 ? n - k : 8);
	}
}

/* finish: fsync (when asked) and close; 0 when acknowledged. */
static int finish(int fd, int do_fsync)
{
	int e = 0;

	if (do_fsync && fsync(fd) != 0)
		e = errno;
	if (close(fd) != 0 && e == 0)
		e = errno;
	return e;
}

enum { OP_PWRITE, OP_APPEND, OP_TRUNC, OP_REWRITE, OP_RENAME, OP_UNLINK, OP_CREATE, OP_N };
static const char *op_name[OP_N] = { "pwrite", "append", "trunc", "rewrite", "rename", "unlink",
				     "create" };

/* hydration race: a child reads chunk C of PATH (O_DIRECT, so the server serves it) while
 * the caller writes into it. */
struct hyd {
	pid_t pid;
	volatile int *flag;	/* 1 while the child's read is in flight, 2 after */
};

static void hyd_start(struct hyd *h, const char *full, size_t c)
{
	h->flag = mmap(NULL, ALIGN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (h->flag == MAP_FAILED) {
		h->flag = NULL;
		h->pid = -1;
		return;
	}
	*h->flag = 0;
	h->pid = fork();
	if (h->pid == 0) {
		unsigned char *b = xalign(CHUNK);
		int fd = open(full, O_RDONLY | o_direct());

		*h->flag = 1;
		if (fd >= 0) {
			if (pread(fd, b, CHUNK, (off_t)c * CHUNK) < 0)
				_exit(1);
			close(fd);
		}
		*h->flag = 2;
		_exit(0);
	}
	/* wait until the child is about to send its READ (fork is slow under TCG), then
	 * give it a moment to get the READ out */
	for (int i = 0; i < 20000 && *h->flag == 0; i++)
		usleep(100);
	usleep((useconds_t)(200 + rnd(2000)));
}

static int hyd_end(struct hyd *h)
{
	int st;

	if (h->pid > 0)
		waitpid(h->pid, &st, 0);
	if (h->flag)
		munmap((void *)h->flag, ALIGN);
	return 0;
}

/* do_op: one operation on M (owned by this process); DIR is where new names go. */
static void do_op(int op, struct mfile *m, const char *newdir, int allow_hole)
{
	char full[4096], full2[4096], path2[1024];
	unsigned char *data = NULL;
	size_t n = 0, off = 0, newlen;
	long long t0, t1;
	int fd, e = 0, direct = rnd(4) == 0, do_fsync = rnd(2), race = 0;
	struct hyd h = { 0, NULL };
	struct mfile *m2 = NULL;

	full_path(full, sizeof(full), m->path);
	m->touched = 1;
	t0 = now_ms();
	switch (op) {
	case OP_PWRITE:
		if (m->big && m->len > CHUNK / 4) {
			size_t nch = (m->len + CHUNK - 1) / CHUNK, c = rnd(nch), k;

			/* prefer a chunk nobody read here yet: its first read is a hydration */
			for (k = 0; k < nch && c < 64 && m->read_chunk[c]; k++)
				c = (c + 1) % nch;
			n = 1 + rnd(16384);
			off = c * CHUNK + rnd(CHUNK - n);
			if (off > m->len)
				off = m->len;
			if (c < 64)
				m->read_chunk[c] = 1;
			hyd_start(&h, full, c);
			t0 = now_ms();
			race = h.flag && *h.flag == 1;
		} else {
			n = 1 + rnd(m->len > 65536 ? 65536 : m->len + 4096);
			off = rnd(m->len + (allow_hole ? 8192 : 1));
		}
		data = direct ? xalign(round_up(n)) : xmalloc(n);
		fill_random(data, n);
		fd = open(full, O_WRONLY | (direct ? o_direct() : 0));
		if (fd < 0)
			e = errno;
		else if ((e = pwrite_all(fd, data, n, (off_t)off)) != 0)
			close(fd);
		else
			e = finish(fd, do_fsync);
		if (h.pid)
			hyd_end(&h);
		if (!e) {
			if (off + n > m->len)
				mf_resize(m, off + n);
			memcpy(m->buf + off, data, n);
		}
		break;
	case OP_APPEND:
		n = 1 + rnd(20000);
		data = xmalloc(n);
		fill_random(data, n);
		fd = open(full, O_WRONLY | O_APPEND);
		if (fd < 0)
			e = errno;
		else if ((e = write_all(fd, data, n)) != 0)
			close(fd);
		else
			e = finish(fd, do_fsync);
		if (!e) {
			off = m->len;
			mf_resize(m, m->len + n);
			memcpy(m->buf + off, data, n);
		}
		break;
	case OP_TRUNC:
		newlen = rnd(m->len + m->len / 2 + 4096);
		n = newlen;
		fd = open(full, O_WRONLY);
		if (fd < 0)
			e = errno;
		else if (ftruncate(fd, (off_t)newlen) != 0) {
			e = errno;
			close(fd);
		} else
			e = finish(fd, do_fsync);
		if (!e)
			mf_resize(m, newlen);
		break;
	case OP_REWRITE:
	case OP_CREATE:
		n = rnd(m->big ? 400000 : 60000);
		data = direct ? xalign(round_up(n)) : xmalloc(n);
		fill_random(data, n);
		fd = open(full, O_WRONLY | O_TRUNC | (op == OP_CREATE ? O_CREAT | O_EXCL : 0) |
				(direct ? o_direct() : 0), 0644);
		if (fd < 0)
			e = errno;
		else if ((e = write_all(fd, data, n)) != 0)
			close(fd);
		else
			e = finish(fd, do_fsync);
		if (!e) {
			mf_set(m, data, n);
			m->exists = 1;
		}
		break;
	case OP_RENAME: {
		/* onto another of this process's files in the same directory, or a new name */
		size_t i, cands = 0, pick;
		size_t dl = (size_t)(strrchr(m->path, '/') - m->path);

		for (i = 0; i < G.nf; i++)
			if (&G.f[i] != m && G.f[i].exists && strncmp(G.f[i].path, m->path, dl + 1) == 0 &&
			    !strchr(G.f[i].path + dl + 1, '/'))
				cands++;
		if (cands > 0 && rnd(2)) {
			pick = rnd(cands);
			for (i = 0; i < G.nf; i++)
				if (&G.f[i] != m && G.f[i].exists &&
				    strncmp(G.f[i].path, m->path, dl + 1) == 0 &&
				    !strchr(G.f[i].path + dl + 1, '/') && pick-- == 0)
					break;
			snprintf(path2, sizeof(path2), "%s", G.f[i].path);
		} else {
			snprintf(path2, sizeof(path2), "%.*s/%s-r%llu", (int)dl, m->path, G.name,
				 G.ops);
		}
		(void)newdir;
		full_path(full2, sizeof(full2), path2);
		if (rename(full, full2) != 0)
			e = errno;
		if (!e) {
			int big = m->big;
			size_t mi = (size_t)(m - G.f);

			m2 = mf_get(path2);	/* may move G.f */
			m = &G.f[mi];
			mf_set(m2, m->buf, m->len);
			m2->exists = 1;
			m2->touched = 1;
			m2->big = big;
			memcpy(m2->read_chunk, m->read_chunk, sizeof(m2->read_chunk));
			m->exists = 0;
			n = m2->len;
		}
		break;
	}
	case OP_UNLINK:
		if (unlink(full) != 0)
			e = errno;
		if (!e)
			m->exists = 0;
		break;
	}
	t1 = now_ms();
	free(data);
	if (e) {
		op_err(op_name[op], m, e);
		return;
	}
	G.ops++;
	if (race)
		G.races++;
	logf_("%s %lld %lld %s off=%zu n=%zu%s%s%s%s%s", op_name[op], t0, t1, m->path, off, n,
	      direct ? " direct" : "", do_fsync ? " fsync" : "", race ? " hydrating" : "",
	      m2 ? " to=" : "", m2 ? m2->path : "");
	if (rnd(3) == 0) {
		verify(m);
		if (m2)
			verify(m2);
	}
}

static int pick_op(const struct mfile *m, size_t nexist)
{
	unsigned r = (unsigned)rnd(100);

	if (!m->exists)
		return OP_CREATE;
	if (r < 35)
		return OP_PWRITE;
	if (r < 50)
		return OP_APPEND;
	if (r < 62)
		return OP_TRUNC;
	if (r < 80)
		return OP_REWRITE;
	if (r < 90)
		return OP_RENAME;
	return nexist > 4 ? OP_UNLINK : OP_PWRITE;
}

/* cold_listing: readdir + lstat of every entry of REL (what `ls -l` does). */
static int cold_listing(const char *rel)
{
	char full[4096], **names;
	size_t n;
	long long t0 = now_ms();
	int rc;

	full_path(full, sizeof(full), rel);
	rc = list_dir(full, 1, &names, &n);
	if (rc != 0) {
		G.errors++;
		logf_("err %lld list %s %d %s", now_ms(), rel, rc, strerror(rc));
		return rc;
	}
	free_names(names, n);
	G.listed++;
	logf_("list %lld %lld %s entries=%zu", t0, now_ms(), rel, n);
	return 0;
}

/* ---- the processes' ends ---- */

static int proc_end(void)
{
	char path[4096];
	FILE *st;
	size_t i;

	logf_("sum ops=%llu reads=%llu verifies=%llu listed=%llu races=%llu bad_bytes=%llu "
	      "bad_reads=%llu bad_read_bytes=%llu errors=%llu",
	      G.ops, G.reads, G.verifies, G.listed, G.races, G.bad_bytes, G.bad_reads,
	      G.bad_read_bytes, G.errors);
	if (fclose(G.log) != 0)
		return 1;
	snprintf(path, sizeof(path), "%s/%s.state", G.logs, G.name);
	st = fopen(path, "w");
	if (!st) {
		fprintf(stderr, "%s: %s: %s\n", G.name, path, strerror(errno));
		return 1;
	}
	for (i = 0; i < G.nf; i++) {
		struct mfile *m = &G.f[i];

		if (!m->touched)
			continue;
		if (m->exists) {
			fprintf(st, "F %zu %s\n", m->len, m->path);
			fwrite(m->buf, 1, m->len, st);
			fputc('\n', st);
		} else {
			fprintf(st, "D 0 %s\n", m->path);
		}
	}
	if (fclose(st) != 0)
		return 1;
	return G.errors || G.bad_bytes || G.bad_reads ? 1 : 0;
}

static int proc_begin(const char *name, uint64_t salt)
{
	char path[4096];

	snprintf(G.name, sizeof(G.name), "%s", name);
	rng_s = G.seed * 1000003u + salt;
	snprintf(path, sizeof(path), "%s/%s.log", G.logs, name);
	if (mkdir(G.logs, 0755) != 0 && errno != EEXIST)
		return errno;
	G.log = fopen(path, "w");
	if (!G.log) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return errno;
	}
	return 0;
}

/* ---- repro ---- */

static int cmd_repro(int argc, char **argv)
{
	char full[4096], rel[1024], text[600], **names;
	size_t n, i;
	int rc;
	long long t0, t1;

	if (argc < 4)
		return 2;
	G.root = argv[1];
	G.logs = argv[3];
	if ((rc = proc_begin("repro", 1)) != 0)
		return 1;
	snprintf(full, sizeof(full), "%s/%s", G.root, argv[2]);
	rc = list_dir(full, 0, &names, &n);
	if (rc != 0) {
		fprintf(stderr, "repro: %s: %s\n", full, strerror(rc));
		return 1;
	}
	/* the caller's `ls -l` just listed it: the race count starts here */
	t0 = now_ms();
	G.listed++;
	logf_("list %lld %lld %s entries=%zu", t0, t0, argv[2], n);
	for (i = 0; i < n; i++) {
		struct mfile *m;
		int fd, e = 0, l;

		snprintf(rel, sizeof(rel), "%s/%s", argv[2], names[i]);
		full_path(full, sizeof(full), rel);
		l = snprintf(text, sizeof(text), "new-%s\n", names[i]);
		m = mf_get(rel);
		m->touched = 1;
		t0 = now_ms();
		fd = open(full, O_WRONLY | O_TRUNC);
		if (fd < 0)
			e = errno;
		else if ((e = write_all(fd, text, (size_t)l)) != 0)
			close(fd);
		else
			e = finish(fd, 0);
		t1 = now_ms();
		if (e) {
			op_err("rewrite", m, e);
			continue;
		}
		mf_set(m, (unsigned char *)text, (size_t)l);
		m->exists = 1;
		G.ops++;
		logf_("rewrite %lld %lld %s n=%d", t0, t1, rel, l);
	}
	free_names(names, n);
	printf("repro: %llu files overwritten, %llu errors\n", G.ops, G.errors);
	return proc_end();
}

/* ---- run ---- */

struct plan {
	char root[1024], fix[1024], logs[1024], ann[1024];
	long secs;
	uint64_t seed;
	int readers, coldworkers, nwriters;
	char *wcold[16];
	char **own;
	int *own_w;
	size_t nown;
	char **ro, **hs;
	size_t nro, nhs;
};

static void push(char ***v, size_t *n, const char *s)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(char *));
	(*v)[(*n)++] = xstrdup(s);
}

static int plan_read(const char *file, struct plan *p)
{
	FILE *f = fopen(file, "r");
	char line[2048], a[1024];
	int w;

	memset(p, 0, sizeof(*p));
	if (!f) {
		fprintf(stderr, "plan %s: %s\n", file, strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "root %1023s", p->root) == 1 || sscanf(line, "fix %1023s", p->fix) == 1 ||
		    sscanf(line, "logs %1023s", p->logs) == 1 || sscanf(line, "ann %1023s", p->ann) == 1 ||
		    sscanf(line, "seconds %ld", &p->secs) == 1 ||
		    sscanf(line, "seed %" SCNu64, &p->seed) == 1 ||
		    sscanf(line, "readers %d", &p->readers) == 1 ||
		    sscanf(line, "coldworkers %d", &p->coldworkers) == 1)
			continue;
		if (sscanf(line, "writer %d %1023s", &w, a) == 2 && w >= 1 && w <= 16) {
			p->wcold[w - 1] = xstrdup(a);
			if (w > p->nwriters)
				p->nwriters = w;
		} else if (sscanf(line, "own %d %1023s", &w, a) == 2) {
			p->own_w = xrealloc(p->own_w, (p->nown + 1) * sizeof(int));
			p->own_w[p->nown] = w;
			push(&p->own, &p->nown, a);
		} else if (sscanf(line, "ro %1023s", a) == 1) {
			push(&p->ro, &p->nro, a);
		} else if (sscanf(line, "hs %1023s", a) == 1) {
			push(&p->hs, &p->nhs, a);
		} else if (line[0] && line[0] != '#') {
			fprintf(stderr, "plan %s: bad line: %s\n", file, line);
			fclose(f);
			return 1;
		}
	}
	fclose(f);
	if (!p->root[0] || !p->fix[0] || !p->logs[0] || p->secs <= 0) {
		fprintf(stderr, "plan %s: root, fix, logs and seconds are required\n", file);
		return 1;
	}
	return 0;
}

static int writer_main(const struct plan *p, int w)
{
	char name[32], rel[1024], full[4096], **names;
	size_t n, i, k;
	int rc;

	snprintf(name, sizeof(name), "w%d", w);
	if (proc_begin(name, 100 + (uint64_t)w) != 0)
		return 1;
	/* the model of the cold directory and of the large files, from the host's copy */
	snprintf(full, sizeof(full), "%s/%s", G.fix, p->wcold[w - 1]);
	if ((rc = list_dir(full, 0, &names, &n)) != 0) {
		fprintf(stderr, "%s: %s: %s\n", name, full, strerror(rc));
		return 1;
	}
	for (i = 0; i < n; i++) {
		snprintf(rel, sizeof(rel), "%s/%s", p->wcold[w - 1], names[i]);
		if (mf_load(rel, 0) != 0)
			return 1;
	}
	free_names(names, n);
	for (i = 0; i < p->nown; i++)
		if (p->own_w[i] == w && mf_load(p->own[i], 1) != 0)
			return 1;
	/* own directory with a few new files */
	snprintf(rel, sizeof(rel), "%s/w%d", G.root, w);
	if (mkdir(rel, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "%s: mkdir %s: %s\n", name, rel, strerror(errno));
		return 1;
	}
	for (i = 0; i < 6; i++) {
		snprintf(rel, sizeof(rel), "w%d/n%zu", w, i);
		do_op(OP_CREATE, mf_get(rel), NULL, 1);
	}
	/* the cold directory: listed for the first time, and written into at once while
	 * the daemon prefetches it */
	cold_listing(p->wcold[w - 1]);
	{
		size_t nfiles = G.nf, *ord = xmalloc(nfiles * sizeof(size_t));

		for (i = 0; i < nfiles; i++)
			ord[i] = i;
		for (i = nfiles; i > 1; i--) {
			size_t j = rnd(i), t = ord[i - 1];

			ord[i - 1] = ord[j];
			ord[j] = t;
		}
		for (i = 0; i < nfiles; i++) {
			struct mfile *m = &G.f[ord[i]];
			static const int cold_ops[] = { OP_PWRITE, OP_PWRITE, OP_APPEND, OP_TRUNC,
							OP_REWRITE };

			if (m->big || !m->exists || strncmp(m->path, p->wcold[w - 1],
							    strlen(p->wcold[w - 1])) != 0)
				continue;
			do_op(cold_ops[rnd(5)], m, NULL, 1);
		}
		free(ord);
	}
	/* then random operations on every file this writer owns */
	while (now_ms() < G.deadline) {
		size_t nexist = 0;
		struct mfile *m;

		for (k = 0; k < G.nf; k++)
			nexist += G.f[k].exists;
		/* the large files get a quarter of the operations */
		if (rnd(4) == 0) {
			size_t nb = 0, pick;

			for (k = 0; k < G.nf; k++)
				nb += G.f[k].big && G.f[k].exists;
			if (nb == 0)
				continue;
			pick = rnd(nb);
			for (k = 0; k < G.nf; k++)
				if (G.f[k].big && G.f[k].exists && pick-- == 0)
					break;
			m = &G.f[k];
			do_op(rnd(3) ? OP_PWRITE : pick_op(m, nexist), m, NULL, 1);
		} else {
			m = &G.f[rnd(G.nf)];
			if (m->big)
				continue;
			do_op(pick_op(m, nexist), m, NULL, 1);
		}
	}
	return proc_end();
}

static int coldworker_main(const struct plan *p, int k)
{
	char name[32], file[2048], dir[1024], rel[2048], full[4096], **names;
	size_t n, i;
	int num = 1, rc, K = p->coldworkers;
	static const int ops[] = { OP_PWRITE, OP_PWRITE, OP_APPEND, OP_TRUNC, OP_REWRITE };

	snprintf(name, sizeof(name), "c%d", k);
	if (proc_begin(name, 200 + (uint64_t)k) != 0)
		return 1;
	while (now_ms() < G.deadline) {
		FILE *f;
		size_t *ord;

		snprintf(file, sizeof(file), "%s/%d.dir", G.ann, num);
		f = fopen(file, "r");
		if (!f) {
			usleep(100000);
			continue;
		}
		if (!fgets(dir, sizeof(dir), f)) {
			fclose(f);
			usleep(100000);
			continue;
		}
		fclose(f);
		dir[strcspn(dir, "\n")] = '\0';
		num++;
		snprintf(full, sizeof(full), "%s/%s", G.fix, dir);
		if ((rc = list_dir(full, 0, &names, &n)) != 0) {
			fprintf(stderr, "%s: %s: %s\n", name, full, strerror(rc));
			return 1;
		}
		/* A directory put into S3 shows up in the view after the daemon's next poll of
		 * its parent (and the client's attribute cache): wait for it, then list it. */
		{
			long long t0 = now_ms();
			struct stat sb;
			char where[4096];

			full_path(where, sizeof(where), dir);
			while (stat(where, &sb) != 0 && now_ms() - t0 < 60000)
				usleep(200000);
			logf_("visible %lld %lld %s", t0, now_ms(), dir);
		}
		cold_listing(dir);
		ord = xmalloc((n ? n : 1) * sizeof(size_t));
		for (i = 0; i < n; i++)
			ord[i] = k == 1 ? n - 1 - i : i;
		if (k >= 2)
			for (i = n; i > 1; i--) {
				size_t j = rnd(i), t = ord[i - 1];

				ord[i - 1] = ord[j];
				ord[j] = t;
			}
		for (i = 0; i < n; i++) {
			struct mfile *m;

			if (ord[i] % (size_t)K != (size_t)k)
				continue;
			snprintf(rel, sizeof(rel), "%s/%s", dir, names[ord[i]]);
			if (mf_load(rel, strncmp(names[ord[i]], "big", 3) == 0) != 0)
				return 1;
			m = mf_find(rel);
			do_op(ops[rnd(5)], m, NULL, 1);
		}
		free(ord);
		free_names(names, n);
	}
	return proc_end();
}

static int reader_main(const struct plan *p, int r)
{
	char name[32], full[4096], **names;
	unsigned char **ro_buf, *b;
	size_t *ro_len, i, n, nn, d, first;
	int rc;

	snprintf(name, sizeof(name), "r%d", r);
	if (proc_begin(name, 300 + (uint64_t)r) != 0)
		return 1;
	ro_buf = xmalloc((p->nro + 1) * sizeof(*ro_buf));
	ro_len = xmalloc((p->nro + 1) * sizeof(*ro_len));
	for (i = 0; i < p->nro; i++) {
		snprintf(full, sizeof(full), "%s/%s", G.fix, p->ro[i]);
		if ((rc = read_file(full, 0, &ro_buf[i], &ro_len[i])) != 0) {
			fprintf(stderr, "%s: %s: %s\n", name, full, strerror(rc));
			return 1;
		}
	}
	while (now_ms() < G.deadline) {
		if (p->nro && rnd(10) < 7) {
			/* a stable object: every byte as S3 holds it */
			i = rnd(p->nro);
			full_path(full, sizeof(full), p->ro[i]);
			rc = read_file(full, 1, &b, &n);
			G.reads++;
			if (rc != 0) {
				G.bad_reads++;
				G.bad_read_bytes += ro_len[i];
				logf_("badread %lld %s %s", now_ms(), p->ro[i], strerror(rc));
				continue;
			}
			d = diff_bytes(ro_buf[i], ro_len[i], b, n, &first);
			if (d) {
				G.bad_reads++;
				G.bad_read_bytes += d;
				logf_("badread %lld %s want %zu bytes, got %zu, %zu differ from %zu",
				      now_ms(), p->ro[i], ro_len[i], n, d, first);
			}
			free(b);
		} else {
			/* hs/: the host keeps changing it (not checked here; the end compares) */
			full_path(full, sizeof(full), "hs");
			if (list_dir(full, 1, &names, &nn) == 0) {
				if (nn) {
					char rel[1024];

					snprintf(rel, sizeof(rel), "hs/%s", names[rnd(nn)]);
					full_path(full, sizeof(full), rel);
					if (read_file(full, rnd(2), &b, &n) == 0)
						free(b);
				}
				free_names(names, nn);
			}
			G.reads++;
			usleep(100000);
		}
	}
	return proc_end();
}

static int cmd_run(int argc, char **argv)
{
	struct plan p;
	pid_t pids[64];
	int np = 0, i, st, bad = 0;

	if (argc < 2)
		return 2;
	if (plan_read(argv[1], &p) != 0)
		return 1;
	G.root = p.root;
	G.fix = p.fix;
	G.logs = p.logs;
	G.ann = p.ann;
	G.seed = p.seed;
	G.deadline = now_ms() + p.secs * 1000;
	for (i = 0; i < p.nwriters + p.coldworkers + p.readers && np < 64; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			bad = 1;
			break;
		}
		if (pid == 0) {
			if (i < p.nwriters)
				_exit(p.wcold[i] ? writer_main(&p, i + 1) : 0);
			if (i < p.nwriters + p.coldworkers)
				_exit(coldworker_main(&p, i - p.nwriters));
			_exit(reader_main(&p, i - p.nwriters - p.coldworkers));
		}
		pids[np++] = pid;
	}
	for (i = 0; i < np; i++) {
		if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "run: process %d ended with status 0x%x\n", i, st);
			bad = 1;
		}
	}
	return bad;
}

/* ---- model ---- */

static int cmd_model(int argc, char **argv)
{
	char **names, path[4096], hdr[4200], rel[4096], kind;
	size_t n, i, len;
	int rc, nrec = 0;

	if (argc < 3)
		return 2;
	if ((rc = list_dir(argv[2], 0, &names, &n)) != 0) {
		fprintf(stderr, "model: %s: %s\n", argv[2], strerror(rc));
		return 1;
	}
	for (i = 0; i < n; i++) {
		FILE *f;
		size_t nl = strlen(names[i]);

		if (nl < 6 || strcmp(names[i] + nl - 6, ".state") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", argv[2], names[i]);
		f = fopen(path, "r");
		if (!f) {
			fprintf(stderr, "model: %s: %s\n", path, strerror(errno));
			return 1;
		}
		while (fgets(hdr, sizeof(hdr), f)) {
			char full[8300];

			hdr[strcspn(hdr, "\n")] = '\0';
			if (sscanf(hdr, "%c %zu %4095[^\n]", &kind, &len, rel) != 3) {
				fprintf(stderr, "model: %s: bad record: %s\n", path, hdr);
				return 1;
			}
			snprintf(full, sizeof(full), "%s/%s", argv[1], rel);
			if (kind == 'D') {
				if (unlink(full) != 0 && errno != ENOENT)
					return 1;
			} else {
				unsigned char *b = xmalloc(len);
				int fd;

				if (fread(b, 1, len, f) != len || fgetc(f) != '\n') {
					fprintf(stderr, "model: %s: %s: short record\n", path, rel);
					return 1;
				}
				mkdirs(full);
				fd = open(full, O_WRONLY | O_CREAT | O_TRUNC, 0644);
				if (fd < 0 || write_all(fd, b, len) != 0 || close(fd) != 0) {
					fprintf(stderr, "model: %s: %s\n", full, strerror(errno));
					return 1;
				}
				free(b);
			}
			nrec++;
		}
		fclose(f);
	}
	free_names(names, n);
	printf("model: %d records applied\n", nrec);
	return 0;
}

/* ---- check ---- */

static struct {
	const char *model, *root;
	int direct;
	unsigned long long files, bytes, lost, missing, extra, wrong;
} C;

static int check_model_file(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	const char *rel = fpath + strlen(C.model) + 1;
	char other[8300];
	unsigned char *want, *got;
	size_t wl, gl, d, first;
	int rc;

	(void)sb;
	(void)ftw;
	if (type != FTW_F)
		return 0;
	if ((rc = read_file(fpath, 0, &want, &wl)) != 0) {
		printf("model file %s unreadable: %s\n", fpath, strerror(rc));
		C.wrong++;
		return 0;
	}
	C.files++;
	C.bytes += wl;
	snprintf(other, sizeof(other), "%s/%s", C.root, rel);
	rc = read_file(other, C.direct, &got, &gl);
	if (rc != 0) {
		printf("missing %s (%zu bytes): %s\n", rel, wl, strerror(rc));
		C.missing++;
		C.lost += wl;
		free(want);
		return 0;
	}
	d = diff_bytes(want, wl, got, gl, &first);
	if (d) {
		printf("wrong %s: want %zu bytes, got %zu, %zu differ from offset %zu "
		       "(byte there: want %d, got %d)\n", rel, wl, gl, d, first,
		       first < wl ? want[first] : -1, first < gl ? got[first] : -1);
		C.wrong++;
		C.lost += d;
	}
	free(want);
	free(got);
	return 0;
}

static int check_root_file(const char *fpath, const struct stat *sb, int type, struct FTW *ftw)
{
	const char *rel = fpath + strlen(C.root) + 1;
	char other[8300];
	struct stat s2;

	(void)ftw;
	if (type != FTW_F)
		return 0;
	snprintf(other, sizeof(other), "%s/%s", C.model, rel);
	if (stat(other, &s2) != 0) {
		printf("extra %s (%lld bytes): not in the model\n", rel, (long long)sb->st_size);
		C.extra++;
	}
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	int i = 1;

	if (argc > 1 && strcmp(argv[1], "-d") == 0) {
		C.direct = 1;
		i++;
	}
	if (argc < i + 2)
		return 2;
	C.model = argv[i];
	C.root = argv[i + 1];
	if (nftw(C.model, check_model_file, 32, FTW_PHYS) != 0 ||
	    nftw(C.root, check_root_file, 32, FTW_PHYS) != 0) {
		printf("check: walk failed: %s\n", strerror(errno));
		return 1;
	}
	printf("check files=%llu bytes=%llu lost_bytes=%llu missing=%llu extra=%llu wrong=%llu\n",
	       C.files, C.bytes, C.lost, C.missing, C.extra, C.wrong);
	return C.lost || C.missing || C.extra || C.wrong ? 1 : 0;
}

int main(int argc, char **argv)
{
	int rc = 2;

	if (argc >= 2) {
		if (strcmp(argv[1], "gen") == 0)
			rc = cmd_gen(argc - 1, argv + 1);
		else if (strcmp(argv[1], "repro") == 0)
			rc = cmd_repro(argc - 1, argv + 1);
		else if (strcmp(argv[1], "run") == 0)
			rc = cmd_run(argc - 1, argv + 1);
		else if (strcmp(argv[1], "model") == 0)
			rc = cmd_model(argc - 1, argv + 1);
		else if (strcmp(argv[1], "check") == 0)
			rc = cmd_check(argc - 1, argv + 1);
	}
	if (rc == 2)
		fprintf(stderr, "usage: s3f-stress gen DIR COUNT MIN MAX SEED FMT PCT [text] | "
				"repro ROOT REL LOGDIR | run PLAN | model MODEL LOGDIR | "
				"check [-d] MODEL ROOT\n");
	return rc;
}
