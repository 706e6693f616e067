/*
 * control.c — the daemon's unix-socket control interface, used by s3filesctl.
 *
 * Protocol: one request line per connection, answered by zero or more data lines and a
 * final line starting with "OK" or "ERR". Paths are relative to the export root and
 * %-escaped by the client (bytes < 0x21, '%' and 0x7f), so one line holds any path.
 *   PING                          -> OK pong
 *   STATUS                        -> EXPORT id=.. bucket=.. prefix=.. dirty=.. deletes=..
 *                                    commits=.. errors=.. conflicts=.. polls=..
 *                                    [RENAME export=.. job=.. moved=.. listed=.. skipped=..
 *                                     state=moving|queued from=<old prefix> to=<new prefix>,
 *                                     one per directory rename still moving in S3]  ; OK
 *   COMMIT <export_id> <path>     -> commit everything dirty under path now, and pending
 *                                    deletes: OK committed=.. deleted=.. failed=.. conflicts=..
 *   EVICT <export_id>             -> one eviction pass now (age and quota rules):
 *                                    OK by_age=.. by_quota=.. freed=.. busy=.. tier=.. quota=..
 *   SYNCED <export_id> <path>     -> is everything under path (a file or a directory) in S3?
 *                                    Not yet: OK synced=0 dirty=.. deletes=.. conflicts=..
 *                                    [conflict_key=<escaped S3 key of one conflicted file>]
 *                                    Yes: one line "ETAG <etag> <escaped relative path>" per
 *                                    file and symlink, then OK synced=1 files=..
 *                                    (s3filesctl wait-synced polls this; it never blocks)
 *   LS <export_id> <path>         -> what the metadata store holds for path, never importing:
 *                                    "ENTRY <f|d|l> <size> <clean|dirty|conflict|local> <etag|->
 *                                    <escaped name>" per entry of a directory (or the file
 *                                    itself), then OK entries=.. [listed=0|1: the directory's
 *                                    S3 listing has been imported]; "local": s3files' own
 *                                    (lost+found and what is in it), never in S3
 * Requests are served one at a time; COMMIT takes the export's commit_lock.
 */
#include "syncd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode %XX in place; returns the length or -1 on a bad escape. */
static long ctl_unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (*r != '%') {
			*w++ = *r;
			continue;
		}
		int hi = hexval(r[1]), lo = hi < 0 ? -1 : hexval(r[2]);

		if (hi < 0 || lo < 0)
			return -1;
		*w++ = (char)(hi * 16 + lo);
		r += 2;
	}
	*w = '\0';
	return w - s;
}

/* Resolve a path (components separated by '/') to an inode, without importing. */
static int ctl_resolve(struct sync_export *se, const char *path, size_t len, uint64_t *ino)
{
	struct meta_inode in;
	uint64_t cur = META_ROOT_INO;
	size_t i = 0;

	while (i < len) {
		size_t j = i;
		int rc;

		while (j < len && path[j] != '/')
			j++;
		if (j > i) {
			rc = ns_lookup(se->x->ns, cur, path + i, j - i, &in);
			if (rc)
				return rc;
			cur = in.ino;
		}
		i = j + 1;
	}
	*ino = cur;
	return 0;
}

static void ctl_status(struct syncd *d, FILE *out)
{
	for (size_t i = 0; i < d->n_exports; i++) {
		struct sync_export *se = &d->exports[i];
		uint64_t dirty = 0, deletes = 0, conflicts = 0;

		(void)ns_backlog(se->x->ns, &dirty, &deletes);
		(void)ns_conflicts_count(se->x->ns, &conflicts);
		fprintf(out, "EXPORT id=%u bucket=%s prefix=%s dirty=%llu deletes=%llu commits=%llu "
			"errors=%llu conflicts=%llu polls=%llu evicted=%llu tier_bytes=%llu\n",
			se->cfg->export_id,
			se->cfg->bucket, se->cfg->prefix[0] ? se->cfg->prefix : "/",
			(unsigned long long)dirty, (unsigned long long)deletes,
			(unsigned long long)__atomic_load_n(&se->n_commits, __ATOMIC_RELAXED),
			(unsigned long long)__atomic_load_n(&se->n_commit_errors, __ATOMIC_RELAXED),
			(unsigned long long)conflicts,
			(unsigned long long)__atomic_load_n(&se->n_polls, __ATOMIC_RELAXED),
			(unsigned long long)__atomic_load_n(&se->n_evicted, __ATOMIC_RELAXED),
			(unsigned long long)data_tier_usage(se->x->data));
		sync_rename_status(se, out);
	}
	fprintf(out, "OK\n");
}

static void ctl_commit(struct syncd *d, char *args, FILE *out)
{
	struct sync_result res = { 0 };
	struct sync_export *se;
	char *sp = strchr(args, ' ');
	unsigned long id;
	uint64_t under;
	long plen;
	int rc, rc2;

	if (!sp) {
		fprintf(out, "ERR usage: COMMIT <export_id> <path>\n");
		return;
	}
	*sp = '\0';
	id = strtoul(args, NULL, 10);
	se = syncd_export_by_id(d, (uint32_t)id);
	if (!se) {
		fprintf(out, "ERR no S3FILES export with id %lu\n", id);
		return;
	}
	plen = ctl_unescape(sp + 1);
	if (plen < 0) {
		fprintf(out, "ERR bad path escape\n");
		return;
	}
	rc = ctl_resolve(se, sp + 1, (size_t)plen, &under);
	if (rc) {
		fprintf(out, "ERR %s: %s\n", sp + 1, s3f_strerror(rc));
		return;
	}
	pthread_mutex_lock(&se->commit_lock);
	rc = sync_commit_pass(se, 0, under, &res);
	rc2 = sync_delete_pass(se, 0, &res);
	pthread_mutex_unlock(&se->commit_lock);
	if (rc == 0)
		rc = rc2;
	fprintf(out, "%s committed=%llu deleted=%llu failed=%llu conflicts=%llu%s%s\n",
		rc || res.failed ? "ERR" : "OK", (unsigned long long)res.committed,
		(unsigned long long)res.deleted, (unsigned long long)res.failed,
		(unsigned long long)res.conflicts, rc ? " error=" : "", rc ? s3f_strerror(rc) : "");
}

/* %-escape what the client unescapes: bytes <= 0x20, '%' and 0x7f. */
static void ctl_put_escaped(FILE *out, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c <= 0x20 || c == '%' || c == 0x7f)
			fprintf(out, "%%%02X", c);
		else
			fputc(c, out);
	}
}

struct ctl_files {
	FILE *out;
	uint64_t n;
};

static int ctl_file_line(void *arg, const char *rel, size_t len, const struct meta_inode *in)
{
	struct ctl_files *f = arg;

	if (in->flags & META_F_RESERVED)
		return 0;	/* lost+found: never in S3 by design */
	fprintf(f->out, "ETAG %s ", in->etag[0] ? in->etag : "-");
	ctl_put_escaped(f->out, rel, len);
	fputc('\n', f->out);
	f->n++;
	return ferror(f->out) ? EIO : 0;
}

static void ctl_synced(struct syncd *d, char *args, FILE *out)
{
	struct ns_pending p;
	struct sync_export *se;
	char *sp = strchr(args, ' ');
	unsigned long id;
	uint64_t under;
	long plen;
	int rc;

	if (!sp) {
		fprintf(out, "ERR usage: SYNCED <export_id> <path>\n");
		return;
	}
	*sp = '\0';
	id = strtoul(args, NULL, 10);
	se = syncd_export_by_id(d, (uint32_t)id);
	if (!se) {
		fprintf(out, "ERR no S3FILES export with id %lu\n", id);
		return;
	}
	plen = ctl_unescape(sp + 1);
	if (plen < 0) {
		fprintf(out, "ERR bad path escape\n");
		return;
	}
	rc = ctl_resolve(se, sp + 1, (size_t)plen, &under);
	if (rc == 0)
		rc = ns_subtree_pending(se->x->ns, under, &p);
	if (rc) {
		fprintf(out, "ERR %s: %s\n", sp + 1, s3f_strerror(rc));
		return;
	}
	if (p.dirty || p.deletes) {
		fprintf(out, "OK synced=0 dirty=%llu deletes=%llu conflicts=%llu",
			(unsigned long long)p.dirty, (unsigned long long)p.deletes,
			(unsigned long long)p.conflicts);
		if (p.first_conflict) {
			char *path = malloc(S3_KEY_MAX + 1);
			size_t len = 0;

			if (path && ns_key_of(se->x->ns, p.first_conflict, path, S3_KEY_MAX + 1,
					      &len) == 0) {
				fputs(" conflict_key=", out);
				ctl_put_escaped(out, path, len);
			}
			free(path);
		}
		fputc('\n', out);
		return;
	}
	struct ctl_files f = { out, 0 };

	rc = ns_subtree_files(se->x->ns, under, ctl_file_line, &f);
	if (rc)
		fprintf(out, "ERR listing %s: %s\n", sp + 1, s3f_strerror(rc));
	else
		fprintf(out, "OK synced=1 files=%llu\n", (unsigned long long)f.n);
}

static void ctl_evict(struct syncd *d, char *args, FILE *out)
{
	struct sync_evict_result r;
	struct sync_export *se;
	unsigned long id = strtoul(args, NULL, 10);
	int rc;

	se = syncd_export_by_id(d, (uint32_t)id);
	if (!se) {
		fprintf(out, "ERR no S3FILES export with id %lu\n", id);
		return;
	}
	pthread_mutex_lock(&se->evict_lock);
	rc = sync_evict_pass(se, meta_now_ns(), true, 0, &r);
	pthread_mutex_unlock(&se->evict_lock);
	if (rc) {
		fprintf(out, "ERR eviction: %s\n", s3f_strerror(rc));
		return;
	}
	fprintf(out, "OK by_age=%llu by_quota=%llu freed=%llu busy=%llu failed=%llu tier=%llu "
		"quota=%llu\n", (unsigned long long)r.by_age, (unsigned long long)r.by_quota,
		(unsigned long long)r.freed_bytes, (unsigned long long)r.busy,
		(unsigned long long)r.failed, (unsigned long long)r.after_bytes,
		(unsigned long long)se->cfg->data_quota);
}

static const char *ctl_type_name(uint8_t type)
{
	switch (type) {
	case META_T_REG: return "f";
	case META_T_DIR: return "d";
	case META_T_LNK: return "l";
	default: return "?";
	}
}

static const char *ctl_sync_name(uint8_t sync)
{
	switch (sync) {
	case META_S_CLEAN: return "clean";
	case META_S_DIRTY: return "dirty";
	case META_S_CONFLICT: return "conflict";
	default: return "?";
	}
}

static void ctl_ls_line(FILE *out, const struct meta_inode *in, const char *name, size_t len)
{
	fprintf(out, "ENTRY %s %llu %s %s ", ctl_type_name(in->type), (unsigned long long)in->size,
		(in->flags & META_F_RESERVED) ? "local" : ctl_sync_name(in->sync),
		in->etag[0] ? in->etag : "-");
	ctl_put_escaped(out, name, len);
	fputc('\n', out);
}

#define CTL_LS_BATCH 256

/* What the store holds for path, without importing: operators see what the file view
 * shows (and tests can watch it change) without going through NFS. */
static void ctl_ls(struct syncd *d, char *args, FILE *out)
{
	struct ns_dirent *ents = NULL;
	struct sync_export *se;
	struct meta_inode in;
	char *sp = strchr(args, ' ');
	unsigned long long entries = 0;
	uint64_t ino, after = 0;
	unsigned long id;
	bool eof = false;
	long plen;
	int rc;

	if (!sp) {
		fprintf(out, "ERR usage: LS <export_id> <path>\n");
		return;
	}
	*sp = '\0';
	id = strtoul(args, NULL, 10);
	se = syncd_export_by_id(d, (uint32_t)id);
	if (!se) {
		fprintf(out, "ERR no S3FILES export with id %lu\n", id);
		return;
	}
	plen = ctl_unescape(sp + 1);
	if (plen < 0) {
		fprintf(out, "ERR bad path escape\n");
		return;
	}
	rc = ctl_resolve(se, sp + 1, (size_t)plen, &ino);
	if (rc == 0)
		rc = ns_getattr(se->x->ns, ino, &in);
	if (rc) {
		fprintf(out, "ERR %s: %s\n", sp + 1, s3f_strerror(rc));
		return;
	}
	if (in.type != META_T_DIR) {
		ctl_ls_line(out, &in, in.name, in.name_len);
		fprintf(out, "OK entries=1\n");
		return;
	}
	ents = malloc(CTL_LS_BATCH * sizeof *ents);
	if (!ents) {
		fprintf(out, "ERR out of memory\n");
		return;
	}
	while (!eof) {
		size_t n = 0;

		rc = ns_readdir(se->x->ns, ino, after, ents, CTL_LS_BATCH, &n, &eof);
		if (rc)
			break;
		for (size_t i = 0; i < n; i++) {
			struct meta_inode e;

			after = ents[i].cookie;
			if (ns_getattr(se->x->ns, ents[i].ino, &e) != 0)
				continue;	/* removed meanwhile */
			ctl_ls_line(out, &e, ents[i].name, ents[i].name_len);
			entries++;
		}
		if (n == 0)
			break;
	}
	free(ents);
	if (rc)
		fprintf(out, "ERR listing %s: %s\n", sp + 1, s3f_strerror(rc));
	else
		fprintf(out, "OK entries=%llu listed=%d\n", entries,
			(in.flags & META_F_IMPORTED) != 0);
}

static void ctl_serve(struct syncd *d, int fd)
{
	char line[8192];
	FILE *in = fdopen(dup(fd), "r"), *out = fdopen(fd, "w");

	if (!in || !out) {
		if (in)
			fclose(in);
		if (out)
			fclose(out);
		else
			close(fd);
		return;
	}
	if (fgets(line, sizeof line, in)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "PING") == 0)
			fprintf(out, "OK pong\n");
		else if (strcmp(line, "STATUS") == 0)
			ctl_status(d, out);
		else if (strncmp(line, "COMMIT ", 7) == 0)
			ctl_commit(d, line + 7, out);
		else if (strncmp(line, "SYNCED ", 7) == 0)
			ctl_synced(d, line + 7, out);
		else if (strncmp(line, "EVICT ", 6) == 0)
			ctl_evict(d, line + 6, out);
		else if (strncmp(line, "LS ", 3) == 0)
			ctl_ls(d, line + 3, out);
		else
			fprintf(out, "ERR unknown request\n");
	}
	fclose(in);
	fclose(out);
}

static void *ctl_thread(void *arg)
{
	struct syncd *d = arg;

	while (!d->stop) {
		int fd = accept(d->ctl_fd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (d->stop)
				break;
			LOG_WARN(LOG_C_SYNC, "control socket accept: %s", strerror(errno));
			usleep(100000);
			continue;
		}
		ctl_serve(d, fd);
	}
	return NULL;
}

int sync_control_start(struct syncd *d, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int rc;

	if (strlen(path) >= sizeof sa.sun_path)
		return ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	d->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (d->ctl_fd < 0)
		return errno;
	(void)unlink(path);
	if (bind(d->ctl_fd, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(path, 0600) != 0 ||
	    listen(d->ctl_fd, 16) != 0) {
		rc = errno;
		close(d->ctl_fd);
		d->ctl_fd = -1;
		return rc;
	}
	d->ctl_path = strdup(path);
	rc = pthread_create(&d->ctl_thread, NULL, ctl_thread, d);
	if (rc) {
		close(d->ctl_fd);
		d->ctl_fd = -1;
		return rc;
	}
	d->ctl_started = true;
	return 0;
}

void sync_control_stop(struct syncd *d)
{
	if (!d->ctl_started)
		return;
	/* shutdown() wakes the blocked accept(). */
	shutdown(d->ctl_fd, SHUT_RDWR);
	pthread_join(d->ctl_thread, NULL);
	close(d->ctl_fd);
	if (d->ctl_path)
		(void)unlink(d->ctl_path);
	free(d->ctl_path);
	d->ctl_started = false;
}
