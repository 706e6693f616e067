/*
 * bench_nsops — per-operation cost of the namespace's own transactions on the LMDB store,
 * from THREADS concurrent callers: the baseline that doc/SCALE-OUT.md compares distributed
 * stores against (test/bench/scaleout.sh runs it next to etcd and RADOS).
 *
 *   bench_nsops [-t THREADS] [-n OPS] [-d own|shared] [-p PAGE] [-s] DIR
 *
 * Three phases, each with THREADS threads doing OPS operations each:
 *   create   ns_create of a regular file, then meta_sync, as the FSAL does before it
 *            answers a CREATE (one write transaction: ino counter, inode, dirty row,
 *            parent inode, dirent, cookie row; fsync'd unless -s). -d own: every thread
 *            creates in a directory of its own; -d shared: all threads in one directory.
 *   lookup   ns_lookup of a random name created above (one read transaction).
 *   readdir  ns_readdir of one page of PAGE entries (default 128) at a random cookie of a
 *            directory created above (one read transaction).
 * DIR must not exist or be empty; it is removed by the caller.
 *
 * Prints "key=value" lines: threads= ops= dirs= then, for each phase P,
 * P_ops_per_s= P_us_p50= P_us_p99= (latency of one call, as its caller sees it),
 * P_server_cpu_us= (CPU of this process per operation: the store's own cost, as LMDB runs in
 * the caller).
 */

#include "ns/keymap.h"
#include "store/meta.h"
#include "ns/ns.h"

#include "bench_util.h"
#include "base/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum phase { PH_CREATE, PH_LOOKUP, PH_READDIR };

struct worker {
	pthread_t th;
	unsigned id;
	enum phase ph;
	struct ns *ns;
	uint64_t dir;		/* create: where; lookup/readdir: per-thread dirs below */
	uint64_t *dirs;		/* every directory, for lookups and readdirs */
	unsigned n_dirs;
	uint64_t ops, page;
	unsigned creators;	/* threads that created files (lookup names) */
	uint64_t names_per_dir;	/* entries of each directory (readdir) */
	double *lat;		/* seconds, one per op */
	uint64_t seed;
	int rc;
};

/* The name of the i-th file thread t created (in its own or the shared directory). */
static int file_name(char *buf, size_t cap, unsigned t, uint64_t i)
{
	return snprintf(buf, cap, "f-%03u-%09" PRIu64 ".dat", t, i);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	struct ns_dirent *ents = NULL;
	char nm[64];

	if (w->ph == PH_READDIR && !(ents = calloc(w->page, sizeof *ents))) {
		w->rc = ENOMEM;
		return NULL;
	}
	for (uint64_t i = 0; i < w->ops; i++) {
		struct meta_inode in, d;
		double t0 = clock_mono_s();
		int rc = 0;

		if (w->ph == PH_CREATE) {
			struct ns_new nw = { .type = META_T_REG, .mode = 0644 };
			int len = file_name(nm, sizeof nm, w->id, i);

			rc = ns_create(w->ns, w->dir, nm, (size_t)len, &nw, &in, &d);
			if (!rc)
				rc = ns_sync(w->ns);
		} else if (w->ph == PH_LOOKUP) {
			/* a random file of a random creator, in the directory it went to */
			uint64_t k = bench_rnd(&w->seed) % (w->creators * w->ops);
			unsigned t = (unsigned)(k % w->creators);
			int len = file_name(nm, sizeof nm, t, k / w->creators);

			t = w->n_dirs == 1 ? 0 : t;
			rc = ns_lookup(w->ns, w->dirs[t], nm, (size_t)len, &in);
		} else {
			/* a page at a random place: cookies run from META_COOKIE_FIRST up */
			unsigned t = (unsigned)(bench_rnd(&w->seed) % w->n_dirs);
			uint64_t after = META_COOKIE_FIRST - 1 + bench_rnd(&w->seed) % w->names_per_dir;
			size_t n = 0;
			bool eof = false;

			rc = ns_readdir(w->ns, w->dirs[t], after < META_COOKIE_FIRST ? 0 : after,
					ents, w->page, &n, &eof);
			if (!rc && n == 0 && !eof)
				rc = EIO;
		}
		w->lat[i] = clock_mono_s() - t0;
		if (rc) {
			fprintf(stderr, "bench_nsops: thread %u op %" PRIu64 ": %d (%s)\n", w->id, i, rc,
				strerror(rc));
			w->rc = rc;
			break;
		}
	}
	free(ents);
	return NULL;
}

static int run_phase(const char *name, enum phase ph, struct worker *ws, unsigned threads,
		     uint64_t ops)
{
	double t0, wall, c0, *all;
	struct timespec cts;
	int rc = 0;

	for (unsigned i = 0; i < threads; i++) {
		ws[i].ph = ph;
		ws[i].rc = 0;
	}
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cts);
	c0 = (double)cts.tv_sec + (double)cts.tv_nsec / 1e9;
	t0 = clock_mono_s();
	for (unsigned i = 0; i < threads; i++)
		if (pthread_create(&ws[i].th, NULL, work, &ws[i]))
			return EAGAIN;
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(ws[i].th, NULL);
		if (ws[i].rc)
			rc = ws[i].rc;
	}
	wall = clock_mono_s() - t0;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cts);
	if (rc)
		return rc;
	all = malloc((size_t)threads * ops * sizeof *all);
	if (!all)
		return ENOMEM;
	for (unsigned i = 0; i < threads; i++)
		memcpy(all + (size_t)i * ops, ws[i].lat, ops * sizeof *all);
	qsort(all, (size_t)threads * ops, sizeof *all, bench_cmp_double);
	printf("%s_ops_per_s=%.0f\n", name, (double)threads * (double)ops / wall);
	printf("%s_us_p50=%.1f\n", name, all[(size_t)threads * ops / 2] * 1e6);
	printf("%s_us_p99=%.1f\n", name, all[(size_t)threads * ops * 99 / 100] * 1e6);
	/* the store's CPU per operation: here the store runs in this process */
	printf("%s_server_cpu_us=%.1f\n", name,
	       ((double)cts.tv_sec + (double)cts.tv_nsec / 1e9 - c0) / ((double)threads * (double)ops) * 1e6);
	fflush(stdout);
	free(all);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_nsops [-t THREADS] [-n OPS] [-d own|shared] [-p PAGE] [-s] DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned threads = 1, n_dirs;
	uint64_t ops = 2000, page = 128;
	bool shared = false;
	struct meta_opts mo = { .map_size = 256ull << 20 };
	struct meta_env *me = NULL;
	struct keymap km = { 0 };
	struct ns *ns = NULL;
	struct worker *ws = NULL;
	uint64_t *dirs = NULL;
	int opt, rc = 1;

	while ((opt = getopt(argc, argv, "t:n:d:p:s")) != -1) {
		switch (opt) {
		case 't': threads = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'n': ops = strtoull(optarg, NULL, 10); break;
		case 'd':
			if (!strcmp(optarg, "shared"))
				shared = true;
			else if (strcmp(optarg, "own"))
				usage();
			break;
		case 'p': page = strtoull(optarg, NULL, 10); break;
		case 's': mo.nosync = true; break;
		default: usage();
		}
	}
	if (optind != argc - 1 || threads == 0 || threads > 999 || ops == 0 || ops > 999999999 ||
	    page == 0)
		usage();
	n_dirs = shared ? 1 : threads;
	ws = calloc(threads, sizeof *ws);
	dirs = calloc(n_dirs, sizeof *dirs);
	if (!ws || !dirs)
		goto oom;
	if ((rc = meta_env_open(argv[optind], &mo, &me)) ||
	    (rc = keymap_init(&km, "bench/")) ||
	    (rc = ns_open(me, &km, NULL, NULL, &ns))) {
		fprintf(stderr, "bench_nsops: open %s: %d (%s)\n", argv[optind], rc, strerror(rc));
		rc = 1;
		goto out;
	}
	for (unsigned i = 0; i < n_dirs; i++) {
		struct ns_new nw = { .type = META_T_DIR, .mode = 0755 };
		struct meta_inode in;
		char nm[32];
		int len = snprintf(nm, sizeof nm, "dir-%03u", i);

		if ((rc = ns_create(ns, META_ROOT_INO, nm, (size_t)len, &nw, &in, NULL))) {
			fprintf(stderr, "bench_nsops: mkdir %s: %d\n", nm, rc);
			goto out;
		}
		dirs[i] = in.ino;
	}
	for (unsigned i = 0; i < threads; i++) {
		ws[i] = (struct worker){
			.id = i, .ns = ns, .dir = dirs[shared ? 0 : i], .dirs = dirs,
			.n_dirs = n_dirs, .ops = ops, .page = page,
			.seed = 0x9e3779b97f4a7c15ull * (i + 1),
		};
		if (!(ws[i].lat = calloc(ops, sizeof *ws[i].lat)))
			goto oom;
	}
	printf("threads=%u\nops=%" PRIu64 "\ndirs=%s\nsynced=%s\n", threads, ops,
	       shared ? "shared" : "own", mo.nosync ? "no" : "yes");
	if ((rc = run_phase("create", PH_CREATE, ws, threads, ops)))
		goto out;
	for (unsigned i = 0; i < threads; i++) {
		ws[i].creators = threads;
		ws[i].names_per_dir = shared ? ops * threads : ops;
	}
	if ((rc = run_phase("lookup", PH_LOOKUP, ws, threads, ops)))
		goto out;
	rc = run_phase("readdir", PH_READDIR, ws, threads, ops);
	goto out;
oom:
	fprintf(stderr, "bench_nsops: out of memory\n");
	rc = ENOMEM;
out:
	ns_close(ns);
	if (me) {
		keymap_fini(&km);
		meta_env_close(me);
	}
	if (ws)
		for (unsigned i = 0; i < threads; i++)
			free(ws[i].lat);
	free(ws);
	free(dirs);
	return rc ? 1 : 0;
}
