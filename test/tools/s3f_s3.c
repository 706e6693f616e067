/*
 * s3f_s3 — a small command-line front end to core/s3 (debugging and benchmarks).
 *
 *   s3f_s3 [options] COMMAND ARGS...
 *     put KEY FILE              PUT a file (multipart at/above the threshold)
 *     get KEY FILE              GET into FILE (single request)
 *     get-parallel KEY FILE     parallel ranged GET into FILE (-k chunk MiB, -s streams)
 *     head KEY                  print etag, size, mtime, content type, metadata
 *     ls [PREFIX]               list keys (-d DELIM for one level), all pages
 *     rm KEY...                 delete (DeleteObjects in batches of 1,000)
 *     cp SRC DST                server-side copy (metadata COPY)
 *     mpu-ls [PREFIX]           list unfinished multipart uploads
 *     mpu-abort KEY UPLOAD_ID   abort one
 *     presign KEY [SECONDS]     print a presigned GET URL
 *     caps [PROBE_KEY]          probe conditional-write support
 *     bench-put N SIZE PAR      N PUTs of SIZE bytes in one s3_batch with PAR connections
 *                               (so PAR in flight all the time); deletes them
 *     put-dir DIR PREFIX        PUT every regular file of DIR (not recursive) as PREFIX +
 *                               its name, in one s3_batch (-c connections in flight); for
 *                               test fixtures of many small objects
 *     put-tree PREFIX N [BIG [PER_DIR [SIZE]]]
 *                               N objects of SIZE bytes (default 100) under PREFIX, kept:
 *                               BIG of them (default 10,000, at most N) in PREFIXbig/, the
 *                               rest in PREFIXd0000/, PREFIXd0001/... PER_DIR (default 1,000)
 *                               each; -c requests in flight (the benchmarks' cold tree)
 *
 *   options: -e ENVFILE (KEY=VALUE lines, e.g. an rgw.sh env file), -c CONNECTIONS,
 *            -p PART_MiB, -t THRESHOLD_MiB, -P PART_PARALLELISM, -k CHUNK_MiB, -s STREAMS,
 *            -d DELIM, -v (debug log)
 * Endpoint, region and bucket come from S3_ENDPOINT, S3_REGION, S3_BUCKET; credentials
 * from s3_creds_load (environment, then ~/.aws/credentials). Timings go to stderr.
 */
#include "base/err.h"
#include "base/log.h"
#include "s3/s3.h"
#include "base/clock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct s3_config cfg;
static uint64_t opt_chunk;
static unsigned opt_streams;
static const char *opt_delim;

static int load_env_file(const char *path)
{
	char line[4096];
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "s3f_s3: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		char *eq = strchr(line, '=');

		line[strcspn(line, "\n")] = '\0';
		if (!eq || line[0] == '#')
			continue;
		*eq = '\0';
		setenv(line, eq + 1, 1);
	}
	fclose(f);
	return 0;
}

static void rate(const char *what, uint64_t bytes, double secs)
{
	fprintf(stderr, "%s: %" PRIu64 " bytes in %.3f s = %.1f MB/s\n", what, bytes, secs,
		secs > 0 ? (double)bytes / secs / 1e6 : 0.0);
}

static int cmd_put(struct s3_client *c, char **av, int ac)
{
	struct s3_object_info out;
	struct stat st;
	double t0;
	int fd, rc;

	if (ac != 2)
		return EINVAL;
	fd = open(av[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st) != 0)
		return errno;
	t0 = clock_mono_s();
	rc = s3_object_put_fd(c, av[0], fd, 0, (uint64_t)st.st_size, NULL, &out);
	if (rc == 0) {
		rate("put", (uint64_t)st.st_size, clock_mono_s() - t0);
		printf("%s\n", out.etag);
	}
	close(fd);
	return rc;
}

static int cmd_get(struct s3_client *c, char **av, int ac, bool parallel)
{
	struct s3_object_info info;
	uint64_t got = 0;
	double t0;
	int fd, rc;

	if (ac != 2)
		return EINVAL;
	fd = open(av[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return errno;
	t0 = clock_mono_s();
	if (parallel) {
		rc = s3_object_get_parallel(c, av[0], 0, UINT64_MAX, fd, 0, opt_chunk, opt_streams,
					    NULL, &info);
		got = info.size;
	} else {
		rc = s3_object_get_fd(c, av[0], 0, UINT64_MAX, fd, 0, NULL, &got, &info);
	}
	if (rc == 0)
		rate(parallel ? "get-parallel" : "get", got, clock_mono_s() - t0);
	if (close(fd) != 0 && rc == 0)
		rc = errno;
	return rc;
}

static int cmd_head(struct s3_client *c, char **av, int ac)
{
	struct s3_object_info i;
	int rc;

	if (ac != 1)
		return EINVAL;
	rc = s3_object_head(c, av[0], &i);
	if (rc)
		return rc;
	printf("etag %s\nsize %" PRIu64 "\nmtime %" PRId64 "\ncontent-type %s\nversion %s\n",
	       i.etag, i.size, i.last_modified, i.content_type, i.version_id);
	for (unsigned k = 0; k < i.n_meta; k++)
		printf("meta %s=%s\n", i.meta[k].name, i.meta[k].value);
	return 0;
}

static int cmd_ls(struct s3_client *c, char **av, int ac)
{
	struct s3_list_req req = { .prefix = ac > 0 ? av[0] : NULL, .delimiter = opt_delim };
	char *token = NULL;
	uint64_t n = 0;
	double t0 = clock_mono_s();
	int rc;

	do {
		struct s3_list_page pg;

		req.continuation_token = token;
		rc = s3_list(c, &req, &pg);
		free(token);
		token = NULL;
		if (rc)
			break;
		for (size_t i = 0; i < pg.n_prefixes; i++)
			printf("PRE %s\n", pg.prefixes[i]);
		for (size_t i = 0; i < pg.n_entries; i++)
			printf("%12" PRIu64 " %s\n", pg.entries[i].size, pg.entries[i].key);
		n += pg.n_entries;
		if (pg.truncated) {
			token = pg.next_token;
			pg.next_token = NULL;
		}
		s3_list_page_free(&pg);
	} while (token);
	fprintf(stderr, "ls: %" PRIu64 " keys in %.3f s\n", n, clock_mono_s() - t0);
	return rc;
}

static int cmd_rm(struct s3_client *c, char **av, int ac)
{
	int *res = calloc((size_t)ac + 1, sizeof *res);
	int rc;

	if (!res)
		return ENOMEM;
	rc = s3_objects_delete(c, (const char *const *)av, (size_t)ac, res);
	for (int i = 0; i < ac; i++)
		if (res[i])
			fprintf(stderr, "rm %s: %s\n", av[i], s3f_strerror(res[i]));
	free(res);
	return rc;
}

static int cmd_mpu_ls(struct s3_client *c, char **av, int ac)
{
	struct s3_upload *u;
	size_t n;
	int rc = s3_mpu_list(c, ac > 0 ? av[0] : NULL, &u, &n);

	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		printf("%s %" PRId64 " %s\n", u[i].upload_id, u[i].initiated, u[i].key);
	s3_uploads_free(u, n);
	return 0;
}

static int cmd_presign(struct s3_client *c, char **av, int ac)
{
	char *url;
	int rc;

	if (ac < 1)
		return EINVAL;
	rc = s3_presign_get(c, av[0], ac > 1 ? (unsigned)atoi(av[1]) : 3600, &url);
	if (rc == 0) {
		printf("%s\n", url);
		free(url);
	}
	return rc;
}

static int cmd_caps(struct s3_client *c, char **av, int ac)
{
	struct s3_caps caps;
	int rc = s3_caps_probe(c, ac > 0 ? av[0] : ".s3f-caps-probe", &caps);

	if (rc == 0)
		printf("if_match %s\nif_none_match %s\n",
		       caps.if_match == S3_COND_NATIVE ? "native" :
		       caps.if_match == S3_COND_UNQUOTED ? "unquoted" : "none",
		       caps.if_none_match ? "yes" : "no");
	return rc;
}

static int cmd_bench_put(struct s3_client *c, char **av, int ac)
{
	unsigned n, size, par;
	char *data, **keys;
	int *res, rc = 0;
	double t0, secs;

	if (ac != 3)
		return EINVAL;
	n = (unsigned)atoi(av[0]);
	size = (unsigned)atoi(av[1]);
	par = (unsigned)atoi(av[2]);
	if (!n || !par)
		return EINVAL;
	data = calloc(1, size ? size : 1);
	keys = calloc(n, sizeof *keys);
	res = calloc(n, sizeof *res);
	if (!data || !keys || !res)
		return ENOMEM;
	for (unsigned i = 0; i < n; i++)
		if (asprintf(&keys[i], "bench-put/%d/%06u", (int)getpid(), i) < 0)
			return ENOMEM;
	/* one batch: the client keeps max_connections (= PAR, set in main) in flight */
	(void)par;
	t0 = clock_mono_s();
	{
		struct s3_batch *b;

		rc = s3_batch_open(c, &b);
		for (unsigned k = 0; rc == 0 && k < n; k++)
			rc = s3_batch_put_buf(b, keys[k], data, size, NULL, NULL, &res[k]);
		if (rc == 0)
			rc = s3_batch_wait(b);
		else
			s3_batch_wait(b);
	}
	secs = clock_mono_s() - t0;
	fprintf(stderr, "bench-put: %u PUTs of %u bytes, %u in flight: %.3f s = %.0f PUT/s\n", n,
		size, par, secs, n / secs);
	int rc3 = s3_objects_delete(c, (const char *const *)keys, n, res);

	for (unsigned i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	free(res);
	free(data);
	return rc ? rc : rc3;
}

struct put_dir_item {
	char *key;
	char *data;
	size_t len;
	int rc;
};

static int read_whole(const char *path, char **data, size_t *len)
{
	struct stat st;
	ssize_t got;
	int fd = open(path, O_RDONLY), rc = 0;

	if (fd < 0)
		return errno;
	if (fstat(fd, &st) != 0) {
		rc = errno;
		goto out;
	}
	*len = (size_t)st.st_size;
	*data = malloc(*len ? *len : 1);
	if (!*data) {
		rc = ENOMEM;
		goto out;
	}
	got = pread(fd, *data, *len, 0);
	if (got < 0 || (size_t)got != *len)
		rc = got < 0 ? errno : EIO;
out:
	close(fd);
	return rc;
}

static int cmd_put_dir(struct s3_client *c, char **av, int ac)
{
	struct put_dir_item *it = NULL;
	size_t n = 0, cap = 0, failed = 0;
	struct s3_batch *b = NULL;
	struct dirent *de;
	double t0;
	DIR *dir;
	int rc = 0;

	if (ac != 2)
		return EINVAL;
	dir = opendir(av[0]);
	if (!dir)
		return errno;
	while (rc == 0 && (de = readdir(dir)) != NULL) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof path, "%s/%s", av[0], de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			struct put_dir_item *p = realloc(it, (cap ? cap * 2 : 256) * sizeof *p);

			if (!p) {
				rc = ENOMEM;
				break;
			}
			it = p;
			cap = cap ? cap * 2 : 256;
		}
		memset(&it[n], 0, sizeof it[n]);
		if (asprintf(&it[n].key, "%s%s", av[1], de->d_name) < 0) {
			it[n].key = NULL;
			rc = ENOMEM;
			break;
		}
		rc = read_whole(path, &it[n].data, &it[n].len);
		n++;
	}
	closedir(dir);
	t0 = clock_mono_s();
	if (rc == 0)
		rc = s3_batch_open(c, &b);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = s3_batch_put_buf(b, it[i].key, it[i].data, it[i].len, NULL, NULL, &it[i].rc);
	if (b) {
		int rc2 = s3_batch_wait(b);

		if (rc == 0)
			rc = rc2;
	}
	for (size_t i = 0; i < n; i++) {
		if (it[i].rc) {
			fprintf(stderr, "put-dir %s: %s\n", it[i].key, s3f_strerror(it[i].rc));
			failed++;
		}
		free(it[i].key);
		free(it[i].data);
	}
	free(it);
	if (rc == 0)
		fprintf(stderr, "put-dir: %zu objects in %.3f s, %zu failed\n", n, clock_mono_s() - t0,
			failed);
	return rc ? rc : failed ? EIO : 0;
}

/* The cold tree of `make bench`: keys are named so that a listing sorts them in creation
 * order (fNNNNNNN), in batches of PUT_TREE_BATCH so that memory stays bounded whatever N;
 * each batch keeps max_connections requests in flight until its last few. */
#define PUT_TREE_BATCH 2000u

static int cmd_put_tree(struct s3_client *c, char **av, int ac)
{
	const char *prefix;
	unsigned n, big = 10000, per_dir = 1000, size = 100, done = 0, failed = 0;
	char *data = NULL, **keys = NULL;
	int *res = NULL, rc = 0;
	double t0;

	if (ac < 2 || ac > 5)
		return EINVAL;
	prefix = av[0];
	n = (unsigned)strtoul(av[1], NULL, 10);
	if (ac > 2)
		big = (unsigned)strtoul(av[2], NULL, 10);
	if (ac > 3)
		per_dir = (unsigned)strtoul(av[3], NULL, 10);
	if (ac > 4)
		size = (unsigned)strtoul(av[4], NULL, 10);
	if (!n || !per_dir)
		return EINVAL;
	if (big > n)
		big = n;
	data = malloc(size ? size : 1);
	keys = calloc(PUT_TREE_BATCH, sizeof *keys);
	res = calloc(PUT_TREE_BATCH, sizeof *res);
	if (!data || !keys || !res) {
		rc = ENOMEM;
		goto out;
	}
	for (unsigned i = 0; i < size; i++)
		data[i] = (char)('a' + i % 26);
	t0 = clock_mono_s();
	while (rc == 0 && done < n) {
		unsigned k = 0, m = n - done < PUT_TREE_BATCH ? n - done : PUT_TREE_BATCH;
		struct s3_batch *b;

		for (k = 0; k < m; k++) {
			unsigned i = done + k;
			int w = i < big ? asprintf(&keys[k], "%sbig/f%07u", prefix, i) :
				asprintf(&keys[k], "%sd%04u/f%07u", prefix, (i - big) / per_dir, i);

			if (w < 0) {
				keys[k] = NULL;
				rc = ENOMEM;
				break;
			}
		}
		if (rc == 0)
			rc = s3_batch_open(c, &b);
		if (rc == 0) {
			for (unsigned q = 0; rc == 0 && q < m; q++)
				rc = s3_batch_put_buf(b, keys[q], data, size, NULL, NULL, &res[q]);
			s3_batch_wait(b);
			for (unsigned q = 0; rc == 0 && q < m; q++)
				if (res[q]) {
					if (failed++ < 5)
						fprintf(stderr, "put-tree %s: %s\n", keys[q],
							s3f_strerror(res[q]));
					rc = res[q];
				}
		}
		for (unsigned q = 0; q < k; q++) {
			free(keys[q]);
			keys[q] = NULL;
		}
		if (rc == 0)
			done += m;
	}
	{
		double secs = clock_mono_s() - t0;

		fprintf(stderr, "put-tree: %u PUTs of %u bytes (%u in %sbig/), %u in flight: %.3f s = %.0f PUT/s\n",
			done, size, big, prefix, cfg.max_connections, secs,
			secs > 0 ? done / secs : 0.0);
	}
out:
	free(res);
	free(keys);
	free(data);
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: s3f_s3 [-e envfile] [-c conns] [-p part_MiB] [-t threshold_MiB] "
		"[-P part_par] [-k chunk_MiB] [-s streams] [-d delim] [-v]\n"
		"  put KEY FILE | get KEY FILE | get-parallel KEY FILE | head KEY | ls [PREFIX] |\n"
		"  rm KEY... | cp SRC DST | mpu-ls [PREFIX] | mpu-abort KEY ID | presign KEY [S] |\n"
		"  caps [KEY] | bench-put N SIZE PAR | put-dir DIR PREFIX |\n"
		"  put-tree PREFIX N [BIG [PER_DIR [SIZE]]]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct s3_client *c = NULL;
	char err[512];
	int opt, rc;

	s3_config_defaults(&cfg);
	while ((opt = getopt(argc, argv, "e:c:p:t:P:k:s:d:v")) != -1) {
		switch (opt) {
		case 'e': if (load_env_file(optarg)) return 1; break;
		case 'c': cfg.max_connections = (unsigned)atoi(optarg); break;
		case 'p': cfg.part_size = (uint64_t)atoi(optarg) << 20; break;
		case 't': cfg.multipart_threshold = (uint64_t)atoi(optarg) << 20; break;
		case 'P': cfg.part_parallelism = (unsigned)atoi(optarg); break;
		case 'k': opt_chunk = (uint64_t)atoi(optarg) << 20; break;
		case 's': opt_streams = (unsigned)atoi(optarg); break;
		case 'd': opt_delim = optarg; break;
		case 'v': log_level_set(LOG_LVL_DEBUG); break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	cfg.endpoint = getenv("S3_ENDPOINT");
	cfg.region = getenv("S3_REGION") ? getenv("S3_REGION") : "us-east-1";
	cfg.bucket = getenv("S3_BUCKET");
	cfg.path_style = true;
	if (!cfg.bucket) {
		fprintf(stderr, "s3f_s3: S3_BUCKET is not set\n");
		return 1;
	}
	rc = s3_creds_load(NULL, &cfg.creds, err, sizeof err);
	if (rc) {
		fprintf(stderr, "s3f_s3: %s\n", err);
		return 1;
	}
	rc = s3_client_open(&cfg, &c);
	if (rc) {
		fprintf(stderr, "s3f_s3: cannot open the client: %s\n", s3f_strerror(rc));
		return 1;
	}
	const char *cmd = argv[0];
	char **av = argv + 1;
	int ac = argc - 1;

	if (strcmp(cmd, "bench-put") == 0 && ac == 3 && atoi(av[2]) > 0) {
		s3_client_close(c);
		cfg.max_connections = (unsigned)atoi(av[2]);
		rc = s3_client_open(&cfg, &c);
		if (rc) {
			fprintf(stderr, "s3f_s3: cannot open the client: %s\n", s3f_strerror(rc));
			return 1;
		}
	}

	if (strcmp(cmd, "put") == 0)
		rc = cmd_put(c, av, ac);
	else if (strcmp(cmd, "get") == 0)
		rc = cmd_get(c, av, ac, false);
	else if (strcmp(cmd, "get-parallel") == 0)
		rc = cmd_get(c, av, ac, true);
	else if (strcmp(cmd, "head") == 0)
		rc = cmd_head(c, av, ac);
	else if (strcmp(cmd, "ls") == 0)
		rc = cmd_ls(c, av, ac);
	else if (strcmp(cmd, "rm") == 0)
		rc = cmd_rm(c, av, ac);
	else if (strcmp(cmd, "cp") == 0)
		rc = ac == 2 ? s3_object_copy(c, av[0], av[1], NULL, NULL, NULL) : EINVAL;
	else if (strcmp(cmd, "mpu-ls") == 0)
		rc = cmd_mpu_ls(c, av, ac);
	else if (strcmp(cmd, "mpu-abort") == 0)
		rc = ac == 2 ? s3_mpu_abort(c, av[0], av[1]) : EINVAL;
	else if (strcmp(cmd, "presign") == 0)
		rc = cmd_presign(c, av, ac);
	else if (strcmp(cmd, "caps") == 0)
		rc = cmd_caps(c, av, ac);
	else if (strcmp(cmd, "bench-put") == 0)
		rc = cmd_bench_put(c, av, ac);
	else if (strcmp(cmd, "put-dir") == 0)
		rc = cmd_put_dir(c, av, ac);
	else if (strcmp(cmd, "put-tree") == 0)
		rc = cmd_put_tree(c, av, ac);
	else
		usage();
	s3_client_close(c);
	if (rc) {
		fprintf(stderr, "s3f_s3 %s: %s\n", cmd, s3f_strerror(rc));
		return 1;
	}
	return 0;
}
