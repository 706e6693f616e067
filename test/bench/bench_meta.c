/*
 * bench_meta — metadata store scale: bytes per object, LIST-page insert rate and lookup
 * rate at N objects.
 *
 *   bench_meta [-n OBJECTS] [-p PAGE] [-l LOOKUPS] [-s] DIR
 *
 * Builds the namespace the way an import does: the objects are spread over directories of
 * PAGE entries each; every directory's listing is applied with one ns_import_apply call
 * (one LMDB write transaction, fsync'd unless -s), as the FSAL does for one LIST page of
 * 1,000 keys. Names look like real keys ("obj-000123456.jpg"), ETags are 32 hex digits.
 * Then LOOKUPS random ns_lookup calls (each its own read transaction), as a cold stat of a
 * path component would cost. DIR must not exist or be empty; it is left for inspection.
 *
 * Prints one "key=value" line per result, for test/bench/run.sh:
 *   objects= bytes_per_object= insert_pages_per_s= insert_objects_per_s=
 *   page_ms_p50= page_ms_p99= lookups_per_s= map_bytes= used_bytes=
 */

#include "ns/keymap.h"
#include "store/meta.h"
#include "ns/ns_sync.h"

#include "bench_util.h"
#include "base/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr, "usage: bench_meta [-n OBJECTS] [-p PAGE] [-l LOOKUPS] [-s] DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t n_obj = 1000000, page = 1000, n_lookups = 1000000, seed = 0x9e3779b97f4a7c15ull;
	struct meta_opts mo = { 0 };
	struct meta_env *me = NULL;
	struct keymap km = { 0 };
	struct ns *ns = NULL;
	struct ns_import_entry *ents = NULL;
	char (*names)[32] = NULL, etag[33];
	uint64_t *dir_inos = NULL, n_dirs;
	double *page_s = NULL, t0, t_ins = 0, t_look;
	struct meta_stats st;
	int opt, rc = 1;

	while ((opt = getopt(argc, argv, "n:p:l:s")) != -1) {
		switch (opt) {
		case 'n': n_obj = strtoull(optarg, NULL, 10); break;
		case 'p': page = strtoull(optarg, NULL, 10); break;
		case 'l': n_lookups = strtoull(optarg, NULL, 10); break;
		case 's': mo.nosync = true; break;
		default: usage();
		}
	}
	if (optind != argc - 1 || n_obj == 0 || page == 0 || page > 100000)
		usage();
	n_dirs = (n_obj + page - 1) / page;
	/* start small so the benchmark also exercises map growth */
	mo.map_size = 64ull << 20;
	mo.map_size_max = 1ull << 40;

	ents = calloc(page > n_dirs ? page : n_dirs, sizeof *ents);
	names = calloc(page > n_dirs ? page : n_dirs, sizeof *names);
	dir_inos = calloc(n_dirs, sizeof *dir_inos);
	page_s = calloc(n_dirs + 1, sizeof *page_s);
	if (!ents || !names || !dir_inos || !page_s) {
		fprintf(stderr, "bench_meta: out of memory\n");
		goto out;
	}
	if ((rc = meta_env_open(argv[optind], &mo, &me)) ||
	    (rc = keymap_init(&km, "bench/")) ||
	    (rc = ns_open(me, &km, NULL, NULL, &ns))) {
		fprintf(stderr, "bench_meta: open %s: %d (%s)\n", argv[optind], rc, strerror(rc));
		rc = 1;
		goto out;
	}

	/* the directories: the root's listing, in pages */
	for (uint64_t d0 = 0; d0 < n_dirs; d0 += page) {
		uint64_t k = n_dirs - d0 < page ? n_dirs - d0 : page;

		for (uint64_t i = 0; i < k; i++) {
			snprintf(names[i], sizeof names[i], "d%07" PRIu64, d0 + i);
			ents[i] = (struct ns_import_entry){ .name = names[i], .len = strlen(names[i]),
							    .is_dir = true };
		}
		rc = ns_import_apply(ns, META_ROOT_INO, ents, k, meta_now_ns(), NULL, dir_inos + d0);
		if (rc) {
			fprintf(stderr, "bench_meta: import of directories: %d\n", rc);
			goto out;
		}
	}

	/* the objects: one LIST page per directory, one transaction per page */
	for (uint64_t d = 0; d < n_dirs; d++) {
		uint64_t k = d == n_dirs - 1 ? n_obj - d * page : page;
		double t;

		for (uint64_t i = 0; i < k; i++) {
			uint64_t id = d * page + i;

			snprintf(names[i], sizeof names[i], "obj-%09" PRIu64 ".jpg", id);
			ents[i] = (struct ns_import_entry){
				.name = names[i], .len = strlen(names[i]),
				.size = 4096 + (id * 7919) % 10000000,
				.mtime_s = 1700000000 + (int64_t)(id % 86400),
			};
		}
		t = clock_mono_s();
		for (uint64_t i = 0; i < k; i++) {
			/* a distinct ETag per object: its size in the record is what matters */
			snprintf(etag, sizeof etag, "%016" PRIx64 "%016" PRIx64, bench_rnd(&seed), d * page + i);
			ents[i].etag = strdup(etag);
		}
		rc = ns_import_apply(ns, dir_inos[d], ents, k, meta_now_ns(), NULL, NULL);
		page_s[d] = clock_mono_s() - t;
		t_ins += page_s[d];
		for (uint64_t i = 0; i < k; i++)
			free((char *)ents[i].etag);
		if (rc) {
			fprintf(stderr, "bench_meta: import of page %" PRIu64 ": %d\n", d, rc);
			goto out;
		}
		if (d && d % 1000 == 0)
			fprintf(stderr, "bench_meta: %" PRIu64 " objects, %.0f objects/s\n",
				(d + 1) * page, (double)((d + 1) * page) / t_ins);
	}

	if ((rc = meta_stats_get(me, &st))) {
		fprintf(stderr, "bench_meta: stats: %d\n", rc);
		goto out;
	}

	/* random lookups of existing names */
	t0 = clock_mono_s();
	for (uint64_t i = 0; i < n_lookups; i++) {
		uint64_t id = bench_rnd(&seed) % n_obj;
		struct meta_inode in;
		char nm[32];

		snprintf(nm, sizeof nm, "obj-%09" PRIu64 ".jpg", id);
		rc = ns_lookup(ns, dir_inos[id / page], nm, strlen(nm), &in);
		if (rc) {
			fprintf(stderr, "bench_meta: lookup %s: %d\n", nm, rc);
			goto out;
		}
	}
	t_look = clock_mono_s() - t0;

	qsort(page_s, n_dirs, sizeof *page_s, bench_cmp_double);
	printf("objects=%" PRIu64 "\n", n_obj);
	printf("page_size=%" PRIu64 "\n", page);
	printf("synced=%s\n", mo.nosync ? "no" : "yes");
	printf("used_bytes=%" PRIu64 "\n", st.used_bytes);
	printf("map_bytes=%" PRIu64 "\n", st.map_size);
	printf("bytes_per_object=%.0f\n", (double)st.used_bytes / (double)(n_obj + n_dirs));
	printf("insert_objects_per_s=%.0f\n", (double)n_obj / t_ins);
	printf("insert_pages_per_s=%.1f\n", (double)n_dirs / t_ins);
	printf("page_ms_p50=%.2f\n", page_s[n_dirs / 2] * 1e3);
	printf("page_ms_p99=%.2f\n", page_s[(n_dirs * 99) / 100] * 1e3);
	printf("lookups_per_s=%.0f\n", (double)n_lookups / t_look);
	rc = 0;
out:
	ns_close(ns);
	if (me) {
		keymap_fini(&km);
		meta_env_close(me);
	}
	free(page_s);
	free(dir_inos);
	free(names);
	free(ents);
	return rc ? 1 : 0;
}
