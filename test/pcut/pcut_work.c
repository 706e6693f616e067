/*
 * pcut_work.c — the workload driver of the power-cut tests, over libnfs (NFSv3 for the
 * workload: real UNSTABLE / DATA_SYNC / FILE_SYNC WRITEs and COMMIT), with an
 * acknowledgement log whose times are CLOCK_MONOTONIC, the clock the recorder (pcut_fuse)
 * stamps its operations with, so that every reply can be placed before or after each sync
 * point of the recording.
 *
 *   pcut_work init URL ACKLOG NFILES
 *       create NFILES files /i0.. in the export (FILE_SYNC writes, then COMMIT): the
 *       files present before the recording
 *   pcut_work run URL ACKLOG SEED NOPS [NINIT]
 *       a seeded random sequence of NOPS operations on the NINIT initial files and on new
 *       files and directories: create, write (UNSTABLE, DATA_SYNC, FILE_SYNC), COMMIT,
 *       truncate (SETATTR size), rename, remove, mkdir. Names are never reused.
 *   pcut_work dump URL OUTDIR
 *       copy the whole file view below URL's path into OUTDIR (files and directories)
 *
 * URL: libnfs's, naming a directory, e.g. nfs://198.18.0.2/s3files?version=3 or
 * nfs://127.0.0.1/s3files?version=4&nfsport=2049.
 *
 * Data: every write covers whole 16-byte chunks; chunk p of write number OP holds
 * "w%05u@%08x\n" (OP, p / 16), so the checker tells from any chunk of a file which
 * write put it there (all zeros: a hole, or never written).
 *
 * ACKLOG: one line per operation, appended as it completes:
 *     OPID T_SEND T_ACK OP FID ARGS... RESULT
 *   OP and ARGS:  CREATE fid path | MKDIR 0 path | WRITE fid off len stable committed |
 *                 COMMIT fid | TRUNC fid size | RENAME fid oldpath newpath | REMOVE fid path
 *   stable/committed: 0 UNSTABLE, 1 DATA_SYNC, 2 FILE_SYNC (asked / as the reply says);
 *   RESULT: ok, or err:<text> (the operation may or may not have taken effect).
 */
#include <sys/time.h>
#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 16
#define MAX_FILES 256
#define MAX_DIRS 8
#define MAX_SIZE (192 * 1024)
#define MAX_WRITE (8 * 1024)

/* libnfs 4.0 keeps struct nfs_fh private; this is its layout (include/libnfs-private.h). */
struct pcut_nfs_fh {
	int len;
	char *val;
};

static struct nfs_context *nfs;
static FILE *acklog;
static unsigned opid = 1000;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("pcut_work: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void ack(unsigned id, uint64_t t0, const char *fmt, ...)
{
	uint64_t t1 = now_ns();
	va_list ap;

	fprintf(acklog, "%u %" PRIu64 " %" PRIu64 " ", id, t0, t1);
	va_start(ap, fmt);
	vfprintf(acklog, fmt, ap);
	va_end(ap);
	fputc('\n', acklog);
	fflush(acklog);
}

static const char *result(int rc)
{
	static char buf[256];

	if (rc == 0)
		return "ok";
	snprintf(buf, sizeof buf, "err:%s", nfs_get_error(nfs));
	for (char *p = buf; *p; p++)
		if (*p == ' ' || *p == '\n')
			*p = '_';
	return buf;
}

static void mount_url(const char *url)
{
	struct nfs_url *u;

	nfs = nfs_init_context();
	if (!nfs)
		die("no NFS context");
	u = nfs_parse_url_dir(nfs, url);
	if (!u)
		die("%s: %s", url, nfs_get_error(nfs));
	if (nfs_mount(nfs, u->server, u->path) != 0)
		die("mount %s:%s: %s", u->server, u->path, nfs_get_error(nfs));
	nfs_destroy_url(u);
}

/* ---- raw NFSv3 WRITE and COMMIT, waited for on the context's socket ---- */

struct wait {
	bool done;
	int status;		/* RPC status */
	uint32_t nfs_status;
	uint32_t committed;
	uint32_t count;
	char err[128];
};

static void write_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct wait *w = priv;

	(void)rpc;
	w->done = true;
	w->status = status;
	if (status == RPC_STATUS_SUCCESS) {
		WRITE3res *r = data;
		w->nfs_status = r->status;
		if (r->status == NFS3_OK) {
			w->committed = r->WRITE3res_u.resok.committed;
			w->count = r->WRITE3res_u.resok.count;
		}
	} else if (status == RPC_STATUS_ERROR && data)
		snprintf(w->err, sizeof w->err, "%s", (const char *)data);
}

static void commit_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct wait *w = priv;

	(void)rpc;
	w->done = true;
	w->status = status;
	if (status == RPC_STATUS_SUCCESS)
		w->nfs_status = ((COMMIT3res *)data)->status;
	else if (status == RPC_STATUS_ERROR && data)
		snprintf(w->err, sizeof w->err, "%s", (const char *)data);
}

static int wait_rpc(struct rpc_context *rpc, struct wait *w)
{
	uint64_t deadline = now_ns() + 60ull * 1000000000ull;

	while (!w->done) {
		struct pollfd p = { .fd = rpc_get_fd(rpc), .events = (short)rpc_which_events(rpc) };
		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			return errno;
		if (rpc_service(rpc, p.revents) < 0)
			return EIO;
		if (now_ns() > deadline)
			return ETIMEDOUT;
	}
	return 0;
}

static void raw_fh(struct nfsfh *fh, nfs_fh3 *out)
{
	struct pcut_nfs_fh *f = (struct pcut_nfs_fh *)nfs_get_fh(fh);

	if (f->len <= 0 || f->len > 64)
		die("unexpected file handle length %d (libnfs layout changed?)", f->len);
	out->data.data_len = (u_int)f->len;
	out->data.data_val = f->val;
}

static int nfs3_write(struct nfsfh *fh, uint64_t off, char *data, uint32_t len, int stable,
		      uint32_t *committed, char *err, size_t errlen)
{
	struct rpc_context *rpc = nfs_get_rpc_context(nfs);
	struct wait w = { 0 };
	WRITE3args a;
	int rc;

	memset(&a, 0, sizeof a);
	raw_fh(fh, &a.file);
	a.offset = off;
	a.count = len;
	a.stable = (stable_how)stable;
	a.data.data_len = len;
	a.data.data_val = data;
	if (rpc_nfs3_write_async(rpc, write_cb, &a, &w) != 0) {
		snprintf(err, errlen, "queue:%s", rpc_get_error(rpc));
		return EIO;
	}
	rc = wait_rpc(rpc, &w);
	if (rc) {
		snprintf(err, errlen, "wait:%s", strerror(rc));
		return rc;
	}
	if (w.status != RPC_STATUS_SUCCESS) {
		snprintf(err, errlen, "rpc:%s", w.err);
		return EIO;
	}
	if (w.nfs_status != NFS3_OK) {
		snprintf(err, errlen, "nfs3:%u", w.nfs_status);
		return EIO;
	}
	if (w.count != len) {
		snprintf(err, errlen, "short:%u", w.count);
		return EIO;
	}
	*committed = w.committed;
	return 0;
}

static int nfs3_commit(struct nfsfh *fh, char *err, size_t errlen)
{
	struct rpc_context *rpc = nfs_get_rpc_context(nfs);
	struct wait w = { 0 };
	COMMIT3args a;
	int rc;

	memset(&a, 0, sizeof a);
	raw_fh(fh, &a.file);
	if (rpc_nfs3_commit_async(rpc, commit_cb, &a, &w) != 0) {
		snprintf(err, errlen, "queue:%s", rpc_get_error(rpc));
		return EIO;
	}
	rc = wait_rpc(rpc, &w);
	if (rc) {
		snprintf(err, errlen, "wait:%s", strerror(rc));
		return rc;
	}
	if (w.status != RPC_STATUS_SUCCESS || w.nfs_status != NFS3_OK) {
		snprintf(err, errlen, "commit:%d/%u:%s", w.status, w.nfs_status, w.err);
		return EIO;
	}
	return 0;
}

/* ---- the workload ---- */

struct pfile {
	unsigned fid;
	char path[128];
	uint64_t size;
	struct nfsfh *fh;
	bool live;
};

static struct pfile files[MAX_FILES];
static unsigned nfiles;
static char dirs[MAX_DIRS][64] = { "" };	/* "" is the export root */
static unsigned ndirs = 1;
static unsigned name_seq;

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	/* splitmix64: reproducible from the seed on every machine */
	uint64_t z = (rnd_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void fill(char *buf, unsigned op, uint64_t off, uint32_t len)
{
	for (uint32_t i = 0; i < len; i += CHUNK) {
		char tmp[CHUNK + 1];
		snprintf(tmp, sizeof tmp, "w%05u@%08x\n", op % 100000u, (unsigned)((off + i) / CHUNK));
		memcpy(buf + i, tmp, CHUNK);
	}
}

static void new_name(char *out, size_t n, const char *prefix)
{
	const char *dir = dirs[below(ndirs)];

	snprintf(out, n, "%s/%s%u", dir, prefix, name_seq++);
}

static void do_write(struct pfile *f, int stable)
{
	static char buf[MAX_WRITE];
	uint64_t off = below((f->size + 4096) / CHUNK) * CHUNK;
	uint32_t len = (uint32_t)(1 + below(MAX_WRITE / CHUNK)) * CHUNK;
	uint32_t committed = 0;
	unsigned id = ++opid;
	char err[160] = "";
	uint64_t t0;
	int rc;

	if (off + len > MAX_SIZE)
		off = below((MAX_SIZE - len) / CHUNK) * CHUNK;
	fill(buf, id, off, len);
	t0 = now_ns();
	rc = nfs3_write(f->fh, off, buf, len, stable, &committed, err, sizeof err);
	if (rc == 0 && off + len > f->size)
		f->size = off + len;
	ack(id, t0, "WRITE %u %" PRIu64 " %u %d %u %s", f->fid, off, len, stable, committed,
	    rc ? err : "ok");
}

static void do_commit(struct pfile *f)
{
	unsigned id = ++opid;
	char err[160] = "";
	uint64_t t0 = now_ns();
	int rc = nfs3_commit(f->fh, err, sizeof err);

	ack(id, t0, "COMMIT %u %s", f->fid, rc ? err : "ok");
}

static void do_create(void)
{
	struct pfile *f;
	unsigned id = ++opid;
	uint64_t t0;
	int rc;

	if (nfiles == MAX_FILES)
		return;
	f = &files[nfiles];
	f->fid = nfiles + 1;
	new_name(f->path, sizeof f->path, "f");
	t0 = now_ns();
	rc = nfs_creat(nfs, f->path, 0644, &f->fh);
	ack(id, t0, "CREATE %u %s %s", f->fid, f->path, result(rc));
	if (rc == 0) {
		f->live = true;
		f->size = 0;
		nfiles++;
	}
}

static void do_mkdir(void)
{
	unsigned id = ++opid;
	char path[64];
	uint64_t t0;
	int rc;

	if (ndirs == MAX_DIRS)
		return;
	snprintf(path, sizeof path, "/d%u", name_seq++);
	t0 = now_ns();
	rc = nfs_mkdir(nfs, path);
	ack(id, t0, "MKDIR 0 %s %s", path, result(rc));
	if (rc == 0)
		snprintf(dirs[ndirs++], sizeof dirs[0], "%s", path);
}

static void do_trunc(struct pfile *f)
{
	unsigned id = ++opid;
	uint64_t size = below(f->size / CHUNK + 64) * CHUNK, t0 = now_ns();
	int rc = nfs_truncate(nfs, f->path, size);

	ack(id, t0, "TRUNC %u %" PRIu64 " %s", f->fid, size, result(rc));
	if (rc == 0)
		f->size = size;
}

static void do_rename(struct pfile *f)
{
	unsigned id = ++opid;
	char to[128];
	uint64_t t0;
	int rc;

	new_name(to, sizeof to, "r");
	t0 = now_ns();
	rc = nfs_rename(nfs, f->path, to);
	ack(id, t0, "RENAME %u %s %s %s", f->fid, f->path, to, result(rc));
	if (rc == 0)
		snprintf(f->path, sizeof f->path, "%s", to);
}

static void do_remove(struct pfile *f)
{
	unsigned id = ++opid;
	uint64_t t0 = now_ns();
	int rc = nfs_unlink(nfs, f->path);

	ack(id, t0, "REMOVE %u %s %s", f->fid, f->path, result(rc));
	if (rc == 0) {
		f->live = false;
		nfs_close(nfs, f->fh);
		f->fh = NULL;
	}
}

static struct pfile *pick_live(void)
{
	unsigned live = 0, k;

	for (unsigned i = 0; i < nfiles; i++)
		live += files[i].live;
	if (!live)
		return NULL;
	k = (unsigned)below(live);
	for (unsigned i = 0; i < nfiles; i++)
		if (files[i].live && k-- == 0)
			return &files[i];
	return NULL;
}

static void open_initial(unsigned ninit)
{
	for (unsigned i = 0; i < ninit; i++) {
		struct pfile *f = &files[nfiles];
		struct nfs_stat_64 st;

		f->fid = nfiles + 1;
		snprintf(f->path, sizeof f->path, "/i%u", i);
		if (nfs_stat64(nfs, f->path, &st) != 0 || nfs_open(nfs, f->path, O_RDWR, &f->fh) != 0)
			die("initial file %s: %s", f->path, nfs_get_error(nfs));
		f->size = st.nfs_size;
		f->live = true;
		nfiles++;
	}
}

static int cmd_init(unsigned n)
{
	opid = 0;
	for (unsigned i = 0; i < n; i++) {
		struct pfile *f = &files[nfiles];
		unsigned id = ++opid;
		uint64_t t0 = now_ns();
		int rc;

		f->fid = nfiles + 1;
		snprintf(f->path, sizeof f->path, "/i%u", i);
		rc = nfs_creat(nfs, f->path, 0644, &f->fh);
		ack(id, t0, "CREATE %u %s %s", f->fid, f->path, result(rc));
		if (rc)
			return 1;
		f->live = true;
		nfiles++;
		/* two stable writes of a few KiB, then a COMMIT */
		for (int k = 0; k < 2; k++)
			do_write(f, 2);
		do_commit(f);
	}
	return 0;
}

static int cmd_run(uint64_t seed, unsigned nops, unsigned ninit)
{
	rnd_state = seed;
	name_seq = (unsigned)(seed % 1000) * 1000;
	open_initial(ninit);
	for (unsigned i = 0; i < nops; i++) {
		struct pfile *f = pick_live();
		unsigned r = (unsigned)below(100);

		if (!f || (r < 12 && nfiles < MAX_FILES)) {
			do_create();
			continue;
		}
		if (r < 32)
			do_write(f, 2);		/* FILE_SYNC */
		else if (r < 56)
			do_write(f, 0);		/* UNSTABLE */
		else if (r < 61)
			do_write(f, 1);		/* DATA_SYNC */
		else if (r < 73)
			do_commit(f);
		else if (r < 81)
			do_trunc(f);
		else if (r < 89)
			do_rename(f);
		else if (r < 94)
			do_remove(f);
		else
			do_mkdir();
	}
	/* The last operations of a file are often unstable: leave them so (no final COMMIT). */
	return 0;
}

/* ---- dump ---- */

static int dump_dir(const char *path, const char *out)
{
	struct nfsdir *d;
	struct nfsdirent *e;
	int rc = 0;

	if (mkdir(out, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "pcut_work: mkdir %s: %s\n", out, strerror(errno));
		return 1;
	}
	if (nfs_opendir(nfs, path[0] ? path : "/", &d) != 0) {
		fprintf(stderr, "pcut_work: opendir %s: %s\n", path, nfs_get_error(nfs));
		return 1;
	}
	while ((e = nfs_readdir(nfs, d))) {
		char sub[1024], dst[1024];
		struct nfs_stat_64 st;

		if (!strcmp(e->name, ".") || !strcmp(e->name, ".."))
			continue;
		snprintf(sub, sizeof sub, "%s/%s", path, e->name);
		snprintf(dst, sizeof dst, "%s/%s", out, e->name);
		if (nfs_stat64(nfs, sub, &st) != 0) {
			fprintf(stderr, "pcut_work: stat %s: %s\n", sub, nfs_get_error(nfs));
			rc = 1;
			continue;
		}
		if ((st.nfs_mode & S_IFMT) == S_IFDIR) {
			rc |= dump_dir(sub, dst);
			continue;
		}
		struct nfsfh *fh;
		FILE *o;
		static char buf[32768];
		uint64_t off = 0;
		if (nfs_open(nfs, sub, O_RDONLY, &fh) != 0) {
			fprintf(stderr, "pcut_work: open %s: %s\n", sub, nfs_get_error(nfs));
			rc = 1;
			continue;
		}
		o = fopen(dst, "we");
		if (!o) {
			nfs_close(nfs, fh);
			return 1;
		}
		for (;;) {
			int n = nfs_pread(nfs, fh, off, sizeof buf, buf);
			if (n < 0) {
				fprintf(stderr, "pcut_work: read %s: %s\n", sub, nfs_get_error(nfs));
				rc = 1;
				break;
			}
			if (n == 0)
				break;
			fwrite(buf, 1, (size_t)n, o);
			off += (uint64_t)n;
		}
		if (off != st.nfs_size) {
			fprintf(stderr, "pcut_work: %s: read %" PRIu64 " bytes, size %" PRIu64 "\n", sub, off,
				st.nfs_size);
			rc = 1;
		}
		fclose(o);
		nfs_close(nfs, fh);
	}
	nfs_closedir(nfs, d);
	return rc;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc < 4) {
		fprintf(stderr, "usage: pcut_work init URL ACKLOG NFILES | run URL ACKLOG SEED NOPS [NINIT] |"
			" dump URL OUTDIR\n");
		return 2;
	}
	mount_url(argv[2]);
	if (!strcmp(argv[1], "dump")) {
		rc = dump_dir("", argv[3]);
	} else {
		acklog = fopen(argv[3], "ae");
		if (!acklog)
			die("%s: %s", argv[3], strerror(errno));
		if (!strcmp(argv[1], "init") && argc == 5)
			rc = cmd_init((unsigned)strtoul(argv[4], NULL, 10));
		else if (!strcmp(argv[1], "run") && argc >= 6)
			rc = cmd_run(strtoull(argv[4], NULL, 10), (unsigned)strtoul(argv[5], NULL, 10),
				     argc > 6 ? (unsigned)strtoul(argv[6], NULL, 10) : 0);
		else
			rc = 2;
		fclose(acklog);
	}
	for (unsigned i = 0; i < nfiles; i++)
		if (files[i].fh)
			nfs_close(nfs, files[i].fh);
	nfs_destroy_context(nfs);
	return rc;
}
