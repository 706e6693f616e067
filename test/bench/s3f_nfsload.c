/*
 * s3f_nfsload.c — server-side NFS load generator for `make bench` (test/bench/server.sh).
 *
 * A user-space client (libnfs's asynchronous API, NFSv4.0: Debian's libnfs 4.0 has no
 * v4.1) that keeps many requests in flight on one or several connections, so what is
 * measured is the server, not a client. One case per run; the result is one JSON line on
 * stdout:
 *
 *   {"case":"...","value":V,"unit":"...","ops":N,"seconds":S[,"p50_us":..,"p99_us":..]}
 *
 *   s3f_nfsload URL CASE [options]
 *     URL   nfs://HOST/EXPORT/DIR?version=4&nfsport=PORT (DIR: the case's directory, made
 *           if missing; files below it are the case's own)
 *   cases:
 *     create   -c CONNS -n FILES -s SIZE   each connection loops create (O_CREAT|O_TRUNC)
 *                                          + one WRITE of SIZE + CLOSE; files/s
 *     write    -q DEPTH -b TOTAL -s SIZE   one file, SIZE-byte UNSTABLE writes at
 *                                          increasing offsets, DEPTH in flight, then one
 *                                          COMMIT (in the time); MB/s
 *     mkfiles  -n FILES                    setup for stat: FILES empty files f0..f(N-1)
 *     stat     -q DEPTH -n FILES -r ROUNDS  stat of f0..f(N-1) (LOOKUP+GETATTR), DEPTH in
 *                                          flight, ROUNDS times; ops/s
 *     read     -f NAME -q DEPTH -s SIZE [-b BYTES] [-o OFFSET] [-R]
 *                                          READs of SIZE from OFFSET up to BYTES (default
 *                                          the file's size), DEPTH in flight, in order
 *                                          (or -R: random SIZE-aligned offsets); MB/s and
 *                                          the time to the first byte
 *     ls       -f NAME                     READDIR of the directory NAME whole, with the
 *                                          attributes of every entry (libnfs's opendir:
 *                                          what ls -l needs); seconds, entries
 *     lat      -f NAME -n COUNT            one request at a time: GETATTR (fstat), LOOKUP
 *                                          (stat of the name), 4 KiB READ, 3 KiB WRITE +
 *                                          COMMIT; p50/p99 of each, one JSON line each
 *
 * Sizes take K/M/G suffixes (powers of 1,024). libnfs's NFSv4 WRITE fails above about
 * 4 KiB, so writes are at most 4 KiB here. Exit 0 with the JSON; 1 when a request failed
 * (its error on stderr); 2 on usage errors.
 */
#include <nfsc/libnfs.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

#define LOAD_MAX_CONNS 64
#define LOAD_MAX_DEPTH 256

static uint64_t load_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);

	switch (*end) {
	case 'k': case 'K': return v << 10;
	case 'm': case 'M': return v << 20;
	case 'g': case 'G': return v << 30;
	default: return v;
	}
}

struct load_opts {
	int conns, depth, rounds;
	uint64_t files, size, total, offset;
	const char *name;
	bool random;
};

/* One connection: its libnfs context and the requests it has in flight. */
struct load_conn {
	struct nfs_context *nfs;
	int inflight;
	int failed;
};

static int load_conn_open(struct load_conn *c, const char *url_s)
{
	struct nfs_url *url;
	int rc = -1;

	memset(c, 0, sizeof(*c));
	c->nfs = nfs_init_context();
	if (!c->nfs)
		return -1;
	/* Every context its own NFSv4 client: libnfs names them all alike, and a second
	 * SETCLIENTID under one name and a new verifier ends the first one's state. */
	{
		static unsigned seq;
		char id[64];

		snprintf(id, sizeof(id), "s3f_nfsload-%d-%u", (int)getpid(), seq++);
		nfs4_set_client_name(c->nfs, id);
		nfs4_set_verifier(c->nfs, id);
	}
	url = nfs_parse_url_dir(c->nfs, url_s);
	if (!url) {
		fprintf(stderr, "s3f_nfsload: %s: %s\n", url_s, nfs_get_error(c->nfs));
		goto out;
	}
	if (nfs_mount(c->nfs, url->server, url->path) != 0) {
		fprintf(stderr, "s3f_nfsload: mount %s:%s: %s\n", url->server, url->path,
			nfs_get_error(c->nfs));
		goto out_url;
	}
	rc = 0;
out_url:
	nfs_destroy_url(url);
out:
	if (rc) {
		nfs_destroy_context(c->nfs);
		c->nfs = NULL;
	}
	return rc;
}

static void load_conn_close(struct load_conn *c)
{
	if (c->nfs)
		nfs_destroy_context(c->nfs);
	c->nfs = NULL;
}

/* Serve every connection until each has no request in flight, or until stop() says so
 * (called after every event). */
static int load_pump(struct load_conn *cs, int n, bool (*more)(void *), void *arg)
{
	struct pollfd pfd[LOAD_MAX_CONNS];
	int i, busy;

	for (;;) {
		busy = 0;
		for (i = 0; i < n; i++) {
			if (cs[i].failed)
				return -1;
			busy += cs[i].inflight;
		}
		if (!busy && !(more && more(arg)))
			return 0;
		if (!busy)
			continue;
		for (i = 0; i < n; i++) {
			pfd[i].fd = nfs_get_fd(cs[i].nfs);
			pfd[i].events = nfs_which_events(cs[i].nfs);
			pfd[i].revents = 0;
		}
		if (poll(pfd, n, 10000) < 0 && errno != EINTR)
			return -1;
		for (i = 0; i < n; i++)
			if (nfs_service(cs[i].nfs, pfd[i].revents) < 0) {
				fprintf(stderr, "s3f_nfsload: service: %s\n", nfs_get_error(cs[i].nfs));
				return -1;
			}
	}
}

static void load_json(const char *name, double value, const char *unit, uint64_t ops, double secs,
		      const char *extra)
{
	printf("{\"case\":\"%s\",\"value\":%.3f,\"unit\":\"%s\",\"ops\":%" PRIu64
	       ",\"seconds\":%.3f%s}\n", name, value, unit, ops, secs, extra ? extra : "");
	fflush(stdout);
}

/* ---- create: per connection a chain create -> write -> close -> next ---- */

struct create_st {
	struct load_conn *c;
	struct load_opts *o;
	uint64_t next, done, id;
	struct nfsfh *fh;
	char *buf;
};

static uint64_t g_create_next;

static void create_step(struct create_st *s);

static void create_closed(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct create_st *s = priv;

	(void)nfs; (void)data;
	s->c->inflight--;
	if (err < 0) {
		fprintf(stderr, "s3f_nfsload: close: %s\n", (char *)data);
		s->c->failed = 1;
		return;
	}
	s->done++;
	create_step(s);
}

static void create_written(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct create_st *s = priv;

	s->c->inflight--;
	if (err < 0) {
		fprintf(stderr, "s3f_nfsload: write: %s\n", (char *)data);
		s->c->failed = 1;
		return;
	}
	if (nfs_close_async(nfs, s->fh, create_closed, s) == 0)
		s->c->inflight++;
	else
		s->c->failed = 1;
}

static void create_opened(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct create_st *s = priv;

	s->c->inflight--;
	if (err < 0) {
		fprintf(stderr, "s3f_nfsload: create: %s\n", (char *)data);
		s->c->failed = 1;
		return;
	}
	s->fh = data;
	if (nfs_pwrite_async(nfs, s->fh, 0, s->o->size, s->buf, create_written, s) == 0)
		s->c->inflight++;
	else
		s->c->failed = 1;
}

static void create_step(struct create_st *s)
{
	char path[64];

	if (g_create_next >= s->o->files)
		return;
	snprintf(path, sizeof(path), "c%" PRIu64, g_create_next++);
	if (nfs_open2_async(s->c->nfs, path, O_WRONLY | O_CREAT | O_TRUNC, 0644, create_opened, s) == 0)
		s->c->inflight++;
	else
		s->c->failed = 1;
}

static int case_create(const char *url, struct load_opts *o)
{
	struct load_conn cs[LOAD_MAX_CONNS];
	struct create_st st[LOAD_MAX_CONNS];
	char *buf = malloc(o->size ? o->size : 1);
	int i, n = 0, rc = 1;
	double t0;

	memset(buf, 'c', o->size ? o->size : 1);
	for (; n < o->conns; n++)
		if (load_conn_open(&cs[n], url))
			goto out;
	t0 = clock_mono_s();
	for (i = 0; i < n; i++) {
		st[i] = (struct create_st){.c = &cs[i], .o = o, .buf = buf};
		create_step(&st[i]);
	}
	if (load_pump(cs, n, NULL, NULL) == 0) {
		double secs = clock_mono_s() - t0;

		load_json("create", o->files / secs, "files/s", o->files, secs, NULL);
		rc = 0;
	}
out:
	for (i = 0; i < n; i++)
		load_conn_close(&cs[i]);
	free(buf);
	return rc;
}

/* ---- write / read: DEPTH requests in flight on one open file ---- */

struct io_st {
	struct load_conn *c;
	struct nfsfh *fh;
	struct load_opts *o;
	uint64_t next, end, bytes;
	double t0, first;
	char *buf;
	bool writing;
	unsigned seed;
};

static void io_issue(struct io_st *s);

static void io_done(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct io_st *s = priv;

	(void)nfs;
	s->c->inflight--;
	if (err < 0) {
		fprintf(stderr, "s3f_nfsload: %s: %s\n", s->writing ? "write" : "read", (char *)data);
		s->c->failed = 1;
		return;
	}
	if (!s->first)
		s->first = clock_mono_s();
	s->bytes += (uint64_t)err;
	io_issue(s);
}

static void io_issue(struct io_st *s)
{
	while (s->c->inflight < s->o->depth && s->next < s->end && !s->c->failed) {
		uint64_t off = s->next, len = s->o->size;
		int r;

		if (s->o->random) {
			uint64_t blocks = (s->end - s->o->offset) / s->o->size;

			off = s->o->offset + (blocks ? (uint64_t)rand_r(&s->seed) % blocks : 0) * s->o->size;
		}
		if (off + len > s->end)
			len = s->end - off;
		s->next += len;
		r = s->writing ? nfs_pwrite_async(s->c->nfs, s->fh, off, len, s->buf, io_done, s)
			       : nfs_pread_async(s->c->nfs, s->fh, off, len, io_done, s);
		if (r)
			s->c->failed = 1;
		else
			s->c->inflight++;
	}
}

static void io_cb_sync(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct load_conn *c = priv;

	(void)nfs;
	c->inflight--;
	if (err < 0) {
		fprintf(stderr, "s3f_nfsload: %s\n", (char *)data);
		c->failed = 1;
	}
}

static int case_io(const char *url, struct load_opts *o, bool writing)
{
	struct load_conn c;
	struct io_st s = {.o = o, .writing = writing, .seed = 12345};
	struct nfs_stat_64 st;
	int rc = 1;
	double secs;
	char extra[128];

	if (load_conn_open(&c, url))
		return 1;
	s.c = &c;
	s.buf = calloc(1, o->size);
	memset(s.buf, 'w', o->size);
	if (writing) {
		if (nfs_open2(c.nfs, "w", O_WRONLY | O_CREAT | O_TRUNC, 0644, &s.fh)) {
			fprintf(stderr, "s3f_nfsload: create w: %s\n", nfs_get_error(c.nfs));
			goto out;
		}
		s.end = o->total;
	} else {
		if (nfs_open(c.nfs, o->name, O_RDONLY, &s.fh) || nfs_fstat64(c.nfs, s.fh, &st)) {
			fprintf(stderr, "s3f_nfsload: open %s: %s\n", o->name, nfs_get_error(c.nfs));
			goto out;
		}
		s.end = o->total ? o->offset + o->total : st.nfs_size;
		if (s.end > st.nfs_size)
			s.end = st.nfs_size;
	}
	s.next = o->offset;
	s.t0 = clock_mono_s();
	io_issue(&s);
	if (load_pump(&c, 1, NULL, NULL))
		goto out;
	if (writing) {
		if (nfs_fsync_async(c.nfs, s.fh, io_cb_sync, &c) == 0)
			c.inflight++;
		if (load_pump(&c, 1, NULL, NULL))
			goto out;
	}
	secs = clock_mono_s() - s.t0;
	snprintf(extra, sizeof(extra), ",\"ttfb_ms\":%.2f,\"depth\":%d,\"size\":%" PRIu64,
		 (s.first - s.t0) * 1e3, o->depth, o->size);
	load_json(writing ? "write" : "read", s.bytes / secs / 1e6, "MB/s",
		  (s.bytes + o->size - 1) / o->size, secs, extra);
	rc = 0;
out:
	if (s.fh)
		nfs_close(c.nfs, s.fh);
	free(s.buf);
	load_conn_close(&c);
	return rc;
}

/* ---- stat: DEPTH stats in flight over f0..f(N-1) ---- */

struct stat_st {
	struct load_conn *c;
	struct load_opts *o;
	uint64_t next, total;
};

static void stat_issue(struct stat_st *s);

static void stat_done(int err, struct nfs_context *nfs, void *data, void *priv)
{
	struct stat_st *s = priv;

	(void)nfs;
	s->c->inflight--;
	if (err < 0) {
		fprintf(stderr, "s3f_nfsload: stat: %s\n", (char *)data);
		s->c->failed = 1;
		return;
	}
	stat_issue(s);
}

static void stat_issue(struct stat_st *s)
{
	char path[64];

	while (s->c->inflight < s->o->depth && s->next < s->total && !s->c->failed) {
		snprintf(path, sizeof(path), "f%" PRIu64, s->next++ % s->o->files);
		if (nfs_stat64_async(s->c->nfs, path, stat_done, s))
			s->c->failed = 1;
		else
			s->c->inflight++;
	}
}

static int case_stat(const char *url, struct load_opts *o)
{
	struct load_conn c;
	struct stat_st s = {.o = o};
	double t0, secs;
	int rc = 1;

	if (load_conn_open(&c, url))
		return 1;
	s.c = &c;
	s.total = o->files * (uint64_t)o->rounds;
	t0 = clock_mono_s();
	stat_issue(&s);
	if (load_pump(&c, 1, NULL, NULL) == 0) {
		secs = clock_mono_s() - t0;
		load_json("stat", s.total / secs, "ops/s", s.total, secs, NULL);
		rc = 0;
	}
	load_conn_close(&c);
	return rc;
}

/* Setup for stat, not timed: FILES empty files f0..f(N-1), one at a time. */
static int case_mkfiles(const char *url, struct load_opts *o)
{
	struct load_conn c;
	struct nfsfh *fh;
	char path[64];
	uint64_t i;
	int rc = 0;

	if (load_conn_open(&c, url))
		return 1;
	for (i = 0; i < o->files && !rc; i++) {
		snprintf(path, sizeof(path), "f%" PRIu64, i);
		if (nfs_open2(c.nfs, path, O_WRONLY | O_CREAT, 0644, &fh)) {
			fprintf(stderr, "s3f_nfsload: create %s: %s\n", path, nfs_get_error(c.nfs));
			rc = 1;
		} else {
			nfs_close(c.nfs, fh);
		}
	}
	load_conn_close(&c);
	return rc;
}

/* ---- ls: one directory read whole with its attributes (ls -l) ---- */

static int case_ls(const char *url, struct load_opts *o)
{
	struct load_conn c;
	struct nfsdir *d;
	uint64_t n = 0;
	double t0, secs;

	if (load_conn_open(&c, url))
		return 1;
	t0 = clock_mono_s();
	if (nfs_opendir(c.nfs, o->name, &d)) {
		fprintf(stderr, "s3f_nfsload: opendir %s: %s\n", o->name, nfs_get_error(c.nfs));
		load_conn_close(&c);
		return 1;
	}
	while (nfs_readdir(c.nfs, d))
		n++;
	secs = clock_mono_s() - t0;
	nfs_closedir(c.nfs, d);
	load_json("ls", secs, "s", n, secs, NULL);
	load_conn_close(&c);
	return 0;
}

/* ---- lat: one request at a time ---- */

static int lat_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void lat_report(const char *name, double *v, int n)
{
	char extra[96];
	double sum = 0;
	int i;

	qsort(v, n, sizeof(*v), lat_cmp);
	for (i = 0; i < n; i++)
		sum += v[i];
	snprintf(extra, sizeof(extra), ",\"p50_us\":%.1f,\"p99_us\":%.1f", v[n / 2] * 1e6,
		 v[(n * 99) / 100] * 1e6);
	load_json(name, n / sum, "ops/s", n, sum, extra);
}

static int case_lat(const char *url, struct load_opts *o)
{
	struct load_conn c;
	struct nfsfh *fh = NULL, *wfh = NULL;
	struct nfs_stat_64 st;
	int n = (int)o->files, i, rc = 1;
	double *v = calloc(n, sizeof(*v)), t;
	char buf[4096];

	if (!v || load_conn_open(&c, url))
		return 1;
	if (nfs_open(c.nfs, o->name, O_RDONLY, &fh) ||
	    nfs_open2(c.nfs, "lat-w", O_WRONLY | O_CREAT | O_TRUNC, 0644, &wfh)) {
		fprintf(stderr, "s3f_nfsload: open: %s\n", nfs_get_error(c.nfs));
		goto out;
	}
	for (i = 0; i < n; i++) {
		t = clock_mono_s();
		if (nfs_fstat64(c.nfs, fh, &st))
			goto fail;
		v[i] = clock_mono_s() - t;
	}
	lat_report("getattr", v, n);
	for (i = 0; i < n; i++) {
		t = clock_mono_s();
		if (nfs_stat64(c.nfs, o->name, &st))
			goto fail;
		v[i] = clock_mono_s() - t;
	}
	lat_report("lookup", v, n);
	for (i = 0; i < n; i++) {
		t = clock_mono_s();
		if (nfs_pread(c.nfs, fh, (uint64_t)(i % 256) * 4096, 4096, buf) < 0)
			goto fail;
		v[i] = clock_mono_s() - t;
	}
	lat_report("read4k", v, n);
	memset(buf, 'l', sizeof(buf));
	for (i = 0; i < n; i++) {
		t = clock_mono_s();
		if (nfs_pwrite(c.nfs, wfh, (uint64_t)(i % 256) * 3072, 3072, buf) < 0 ||
		    nfs_fsync(c.nfs, wfh))
			goto fail;
		v[i] = clock_mono_s() - t;
	}
	lat_report("write3k_commit", v, n);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "s3f_nfsload: lat: %s\n", nfs_get_error(c.nfs));
out:
	if (fh)
		nfs_close(c.nfs, fh);
	if (wfh)
		nfs_close(c.nfs, wfh);
	load_conn_close(&c);
	free(v);
	return rc;
}

int main(int argc, char **argv)
{
	struct load_opts o = {.conns = 1, .depth = 16, .rounds = 1, .files = 1000,
			      .size = 3000, .total = 0, .name = "big"};
	const char *url, *cs;
	int opt;

	if (argc < 3) {
		fprintf(stderr, "usage: s3f_nfsload URL create|write|mkfiles|stat|read|lat [options]\n");
		return 2;
	}
	url = argv[1];
	cs = argv[2];
	optind = 3;
	while ((opt = getopt(argc, argv, "c:q:n:s:b:r:f:o:R")) != -1) {
		switch (opt) {
		case 'c': o.conns = atoi(optarg); break;
		case 'q': o.depth = atoi(optarg); break;
		case 'n': o.files = load_size(optarg); break;
		case 's': o.size = load_size(optarg); break;
		case 'b': o.total = load_size(optarg); break;
		case 'r': o.rounds = atoi(optarg); break;
		case 'f': o.name = optarg; break;
		case 'o': o.offset = load_size(optarg); break;
		case 'R': o.random = true; break;
		default: return 2;
		}
	}
	if (o.conns < 1 || o.conns > LOAD_MAX_CONNS || o.depth < 1 || o.depth > LOAD_MAX_DEPTH ||
	    o.size > (1 << 20) || !o.files) {
		fprintf(stderr, "s3f_nfsload: -c 1..%d, -q 1..%d, -s at most 1M, -n > 0\n",
			LOAD_MAX_CONNS, LOAD_MAX_DEPTH);
		return 2;
	}
	if (!strcmp(cs, "create"))
		return case_create(url, &o);
	if (!strcmp(cs, "write"))
		return o.size > 4096 || !o.size || !o.total ? 2 : case_io(url, &o, true);
	if (!strcmp(cs, "read"))
		return !o.size ? 2 : case_io(url, &o, false);
	if (!strcmp(cs, "mkfiles"))
		return case_mkfiles(url, &o);
	if (!strcmp(cs, "stat"))
		return case_stat(url, &o);
	if (!strcmp(cs, "ls"))
		return case_ls(url, &o);
	if (!strcmp(cs, "lat"))
		return case_lat(url, &o);
	fprintf(stderr, "s3f_nfsload: unknown case %s\n", cs);
	return 2;
}
