/*
 * s3f_nfs.c — test tool: the few NFS operations the host-side suites need and
 * libnfs-utils (nfs-ls, nfs-cp, nfs-cat) does not offer, over libnfs's user-space NFS
 * client (no kernel NFS client on the host).
 *
 *   s3f_nfs rm URL              remove a file
 *   s3f_nfs rmdir URL           remove an empty directory
 *   s3f_nfs mkdir URL           make a directory
 *   s3f_nfs chmod URL MODE      set the mode (octal)
 *   s3f_nfs rename URL NEWPATH  rename URL's entry to NEWPATH, relative to URL's directory
 *                               (libnfs mounts that directory): /sub/new.txt
 *   s3f_nfs mknod URL MODE DEV  mknod (MODE in octal with the type: 010644 a FIFO,
 *                               020600 a character device; DEV a dev_t, 0x103 = 1,3)
 *   s3f_nfs stat URL            print "MODE UID GID SIZE FILEID MTIME" (mode in octal, with type; seconds)
 *   s3f_nfs overwrite URL FILE  open the existing file O_WRONLY|O_TRUNC (no O_CREAT: libnfs's
 *                               v4 create is GUARDED and fails on an existing name), write
 *                               FILE's bytes (at most 1 MiB, in 3,000-byte WRITEs: libnfs's
 *                               v4 WRITE fails above ~4 KiB), close
 *   s3f_nfs create URL FILE     create a new file (mode 0644; fails if the name exists) with
 *                               FILE's bytes, written as overwrite does, then close: one
 *                               OPEN, WRITEs and one CLOSE, for files above nfs-cp's ~4 KiB
 *   s3f_nfs waitfor URL FILE MS one mount, then every 10 ms: open URL's file, read it whole,
 *                               close, until it reads exactly as FILE (at most 1 MiB) or
 *                               MS ms have passed; prints the wall-clock time (Unix ms) of
 *                               the read that matched. A probe of another gateway's view
 *                               that costs a few ms, not a mount per try
 *   s3f_nfs both URL_A URL_B    one existing file through two clients at once (e.g. an
 *                               NFSv4.0 and an NFSv3 URL): open it in both, write through
 *                               A and read through B, then write through B and read
 *                               through A (each write flushed with fsync/COMMIT first),
 *                               compare the file ids and sizes; prints "same FILEID"
 *
 * URL is libnfs's, e.g. nfs://127.0.0.1/s3files/d/x.txt?version=4&nfsport=2049 (or
 * ?version=3, which finds the ports through the server's rpcbind; uid=N&gid=N set the
 * credentials sent). Exit 0 on success, 1 with the NFS error (or the mismatch) on stderr,
 * 2 on usage errors.
 */
#include <nfsc/libnfs.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

/* A mounted URL: the parent directory is the mount point, the last component the name. */
struct tgt {
	struct nfs_context *nfs;
	struct nfs_url *url;
};

static int usage(void)
{
	fprintf(stderr, "usage: s3f_nfs rm|rmdir|mkdir|stat URL | mknod URL MODE DEV | chmod URL MODE | "
		"rename URL NEWPATH | overwrite|create URL FILE | waitfor URL FILE MS | both URL_A URL_B\n");
	return 2;
}

static int tgt_open(struct tgt *t, const char *arg)
{
	t->url = NULL;
	t->nfs = nfs_init_context();
	if (!t->nfs) {
		fprintf(stderr, "s3f_nfs: no NFS context\n");
		return 1;
	}
	t->url = nfs_parse_url_full(t->nfs, arg);
	if (!t->url || !t->url->server || !t->url->path || !t->url->file) {
		fprintf(stderr, "s3f_nfs: %s: %s\n", arg, nfs_get_error(t->nfs));
		return 1;
	}
	if (nfs_mount(t->nfs, t->url->server, t->url->path) != 0) {
		fprintf(stderr, "s3f_nfs: mount %s:%s: %s\n", t->url->server, t->url->path,
			nfs_get_error(t->nfs));
		return 1;
	}
	return 0;
}

static void tgt_close(struct tgt *t)
{
	if (t->url)
		nfs_destroy_url(t->url);
	if (t->nfs)
		nfs_destroy_context(t->nfs);
}

/* Write a pattern through w (flushed), read it back through r. */
static int both_pass(struct tgt *w, struct nfsfh *wf, struct tgt *r, struct nfsfh *rf,
		     char seed, const char *what)
{
	char out[1000], in[sizeof out];
	int n;

	/* libnfs's NFSv4 WRITE fails above about 4 KiB: one small write. */
	for (size_t i = 0; i < sizeof out; i++)
		out[i] = (char)(seed + i % 26);
	n = nfs_pwrite(w->nfs, wf, 0, sizeof out, out);
	if (n != (int)sizeof out || nfs_fsync(w->nfs, wf) != 0) {
		fprintf(stderr, "s3f_nfs: both: write through %s: %s\n", what,
			nfs_get_error(w->nfs));
		return 1;
	}
	n = nfs_pread(r->nfs, rf, 0, sizeof in, in);
	if (n != (int)sizeof in || memcmp(in, out, sizeof in) != 0) {
		fprintf(stderr, "s3f_nfs: both: read after the write through %s: %d bytes%s%s\n",
			what, n, n < 0 ? ", " : ", content differs",
			n < 0 ? nfs_get_error(r->nfs) : "");
		return 1;
	}
	return 0;
}

static int both(const char *arg_a, const char *arg_b)
{
	struct tgt a = { 0 }, b = { 0 };
	struct nfsfh *fa = NULL, *fb = NULL;
	struct nfs_stat_64 sa, sb;
	int rc = 1;

	if (tgt_open(&a, arg_a) || tgt_open(&b, arg_b))
		goto out;
	if (nfs_open(a.nfs, a.url->file, O_RDWR, &fa) != 0) {
		fprintf(stderr, "s3f_nfs: both: open A: %s\n", nfs_get_error(a.nfs));
		goto out;
	}
	if (nfs_open(b.nfs, b.url->file, O_RDWR, &fb) != 0) {
		fprintf(stderr, "s3f_nfs: both: open B: %s\n", nfs_get_error(b.nfs));
		goto out;
	}
	if (both_pass(&a, fa, &b, fb, 'a', "A") || both_pass(&b, fb, &a, fa, 'A', "B"))
		goto out;
	if (nfs_fstat64(a.nfs, fa, &sa) != 0 || nfs_fstat64(b.nfs, fb, &sb) != 0) {
		fprintf(stderr, "s3f_nfs: both: fstat: %s / %s\n", nfs_get_error(a.nfs),
			nfs_get_error(b.nfs));
		goto out;
	}
	if (sa.nfs_ino != sb.nfs_ino || sa.nfs_size != sb.nfs_size) {
		fprintf(stderr, "s3f_nfs: both: A has file id %" PRIu64 " size %" PRIu64
			", B file id %" PRIu64 " size %" PRIu64 "\n", sa.nfs_ino, sa.nfs_size,
			sb.nfs_ino, sb.nfs_size);
		goto out;
	}
	printf("same %" PRIu64 "\n", sa.nfs_ino);
	rc = 0;
out:
	if (fa && nfs_close(a.nfs, fa) != 0)
		rc = 1;
	if (fb && nfs_close(b.nfs, fb) != 0)
		rc = 1;
	tgt_close(&a);
	tgt_close(&b);
	return rc;
}

/* The first cap bytes of local file path into buf, *len of them; -1 (said) if it cannot
 * be opened. */
static int local_read(const char *path, char *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");

	if (!f) {
		perror(path);
		return -1;
	}
	*len = fread(buf, 1, cap, f);
	fclose(f);
	return 0;
}

/* Writes FILE's bytes into URL's file: the existing one truncated (create 0), or a new
 * one (create 1: O_CREAT|O_EXCL, mode 0644), then closes it. */
static int write_file(struct tgt *t, const char *path, int create)
{
	static char buf[1 << 20];
	struct nfsfh *fh = NULL;
	size_t len, off = 0;
	int rc;

	if (local_read(path, buf, sizeof buf, &len) != 0)
		return -1;
	if (create)
		rc = nfs_create(t->nfs, t->url->file, O_WRONLY | O_EXCL, 0644, &fh);
	else
		rc = nfs_open(t->nfs, t->url->file, O_WRONLY | O_TRUNC, &fh);
	while (rc == 0 && off < len) {
		size_t n = len - off > 3000 ? 3000 : len - off;
		int w = nfs_pwrite(t->nfs, fh, off, n, buf + off);

		if (w <= 0)
			rc = -1;
		else
			off += (size_t)w;
	}
	if (fh && nfs_close(t->nfs, fh) != 0)
		rc = -1;
	return rc;
}

/* One try of waitfor: the file reads exactly as want[0..len). */
static int reads_as(struct tgt *t, const char *want, size_t len)
{
	static char got[(1 << 20) + 1];
	struct nfsfh *fh = NULL;
	size_t off = 0;
	int ok = 0;

	if (nfs_open(t->nfs, t->url->file, O_RDONLY, &fh) != 0)
		return 0;
	for (;;) {
		int n = nfs_pread(t->nfs, fh, off, 32768, got + off);

		if (n < 0)
			break;
		off += (size_t)n;
		if (n == 0 || off > len) {
			ok = off == len && memcmp(got, want, len) == 0;
			break;
		}
	}
	nfs_close(t->nfs, fh);
	return ok;
}

static int waitfor(struct tgt *t, const char *path, const char *ms)
{
	static char want[1 << 20];
	long long end = clock_mono_ms() + atoll(ms);
	size_t len;

	if (local_read(path, want, sizeof want, &len) != 0)
		return -1;
	for (;;) {
		if (reads_as(t, want, len)) {
			printf("%lld\n", (long long)(clock_real_ns() / 1000000));
			return 0;
		}
		if (clock_mono_ms() >= end) {
			fprintf(stderr, "s3f_nfs: waitfor %s: not as %s after %s ms\n", t->url->file,
				path, ms);
			return 1;
		}
		usleep(10000);
	}
}

int main(int argc, char **argv)
{
	struct tgt t = { 0 };
	struct nfs_stat_64 st;
	const char *op;
	int rc = 1;

	if (argc < 3)
		return usage();
	op = argv[1];
	if (strcmp(op, "mknod") == 0 || strcmp(op, "waitfor") == 0) {
		if (argc != 5)
			return usage();
	} else if (strcmp(op, "rename") == 0 || strcmp(op, "chmod") == 0 || strcmp(op, "both") == 0 ||
	    strcmp(op, "overwrite") == 0 || strcmp(op, "create") == 0) {
		if (argc != 4)
			return usage();
	} else if (argc != 3 || (strcmp(op, "rm") != 0 && strcmp(op, "rmdir") != 0 &&
				 strcmp(op, "mkdir") != 0 && strcmp(op, "stat") != 0)) {
		return usage();
	}
	if (strcmp(op, "both") == 0)
		return both(argv[2], argv[3]);
	if (tgt_open(&t, argv[2]))
		goto out;
	if (strcmp(op, "rm") == 0) {
		rc = nfs_unlink(t.nfs, t.url->file);
	} else if (strcmp(op, "rmdir") == 0) {
		rc = nfs_rmdir(t.nfs, t.url->file);
	} else if (strcmp(op, "mkdir") == 0) {
		rc = nfs_mkdir(t.nfs, t.url->file);
	} else if (strcmp(op, "rename") == 0) {
		rc = nfs_rename(t.nfs, t.url->file, argv[3]);
	} else if (strcmp(op, "chmod") == 0) {
		rc = nfs_chmod(t.nfs, t.url->file, (int)strtol(argv[3], NULL, 8));
	} else if (strcmp(op, "overwrite") == 0) {
		rc = write_file(&t, argv[3], 0);
	} else if (strcmp(op, "create") == 0) {
		rc = write_file(&t, argv[3], 1);
	} else if (strcmp(op, "waitfor") == 0) {
		rc = waitfor(&t, argv[3], argv[4]);
		if (rc > 0)
			goto out;
	} else if (strcmp(op, "mknod") == 0) {
		rc = nfs_mknod(t.nfs, t.url->file, (int)strtol(argv[3], NULL, 8),
			       (int)strtol(argv[4], NULL, 0));
	} else {
		rc = nfs_stat64(t.nfs, t.url->file, &st);
		if (rc == 0)
			printf("%" PRIo64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
			       "\n", st.nfs_mode, st.nfs_uid, st.nfs_gid, st.nfs_size, st.nfs_ino,
			       st.nfs_mtime);
	}
	if (rc) {
		fprintf(stderr, "s3f_nfs: %s %s: %s\n", op, t.url->file, nfs_get_error(t.nfs));
		rc = 1;
	}
out:
	tgt_close(&t);
	return rc;
}
