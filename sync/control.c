/*
 * control.c — the daemon's unix-socket control interface, used by s3filesctl.
 *
 * The protocol (framing, escaping, every request and its answer) is written down in
 * base/ctlproto.h, whose functions write and read it here and in s3filesctl.
 * Each connection is served by a thread of its own (up to CTL_MAX_CLIENTS at once; more
 * get "ERR busy ..."), so a long COMMIT or EVICT never holds up STATUS; a request line not
 * complete within 5 s gets "ERR no complete request line ..." and the connection is closed.
 * COMMIT takes the export's commit_lock, EVICT its evict_lock; the other requests read the
 * store only. The socket is replaced (unlink + bind) only under <Control_Socket>.lock
 * (instlock.h): a second daemon given the same path exits instead of taking it over.
 */
#include "syncd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "engine/hydrate.h"
#include "engine/import.h"
#include "store/instlock.h"
#include "store/journal.h"
#include "base/json.h"
#include "base/log.h"
#include "ns/ns_sync.h"
#include "base/rangeset.h"
#include "base/tp.h"
#include "base/clock.h"
#include "base/hex.h"
#include "base/buf.h"
#include "base/ctlproto.h"

/* "<export_id> <path>" of a request cmd: *se the export, *path (in args) the unescaped
 * path of *plen bytes, preceded by the separator (callers use *path + 1). Not 0: the
 * error was answered on out. */
static int ctl_export_path(struct syncd *d, char *args, const char *cmd, FILE *out,
			   struct sync_export **se, char **path, long *plen)
{
	char *sp = strchr(args, ' ');
	unsigned long id;

	if (!sp) {
		fprintf(out, "ERR usage: %s <export_id> <path>\n", cmd);
		return -1;
	}
	*sp = '\0';
	id = strtoul(args, NULL, 10);
	*se = syncd_export_by_id(d, (uint32_t)id);
	if (!*se) {
		fprintf(out, "ERR no S3FILES export with id %lu\n", id);
		return -1;
	}
	*plen = ctlp_unescape(sp + 1, true);
	if (*plen < 0) {
		fprintf(out, "ERR bad path escape\n");
		return -1;
	}
	*path = sp;
	return 0;
}


/* Resolve a path (components separated by '/') to an inode. import: list from S3 what no
 * client looked up yet (PREFETCH); else the store only. */
static int ctl_resolve_as(struct sync_export *se, const char *path, size_t len, bool import,
			  uint64_t *ino)
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
			if (rc == ENOENT && import) {
				rc = import_lookup(se->x, cur, path + i, j - i);
				if (rc == 0)
					rc = ns_lookup(se->x->ns, cur, path + i, j - i, &in);
			}
			if (rc)
				return rc;
			cur = in.ino;
		}
		i = j + 1;
	}
	*ino = cur;
	return 0;
}

static int ctl_resolve(struct sync_export *se, const char *path, size_t len, uint64_t *ino)
{
	return ctl_resolve_as(se, path, len, false, ino);
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

/* "ERR <what><escaped path>: <error>": the path as the client sent it (escaped), so
 * that a name with a newline cannot split the answer's last line. */
static void ctl_err_path(FILE *out, const char *what, const char *path, long len, int rc)
{
	fprintf(out, "ERR %s", what);
	ctlp_put_escaped(out, path, len > 0 ? (size_t)len : 0);
	fprintf(out, ": %s\n", s3f_strerror(rc));
}

static void ctl_commit(struct syncd *d, char *args, FILE *out)
{
	struct sync_result res = { 0 };
	struct sync_export *se;
	char *sp = NULL;
	uint64_t under;
	long plen;
	int rc, rc2;

	if (ctl_export_path(d, args, "COMMIT", out, &se, &sp, &plen) != 0)
		return;
	rc = ctl_resolve(se, sp + 1, (size_t)plen, &under);
	if (rc) {
		ctl_err_path(out, "", sp + 1, plen, rc);
		return;
	}
	/* Tests hold a COMMIT here to show that it holds up no other request. */
	TP("sync.control.commit");
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
	ctlp_put_escaped(f->out, rel, len);
	fputc('\n', f->out);
	f->n++;
	return ferror(f->out) ? EIO : 0;
}

static void ctl_synced(struct syncd *d, char *args, FILE *out)
{
	struct ns_pending p;
	struct sync_export *se;
	char *sp = NULL;
	uint64_t under;
	long plen;
	int rc;

	if (ctl_export_path(d, args, "SYNCED", out, &se, &sp, &plen) != 0)
		return;
	rc = ctl_resolve(se, sp + 1, (size_t)plen, &under);
	if (rc == 0)
		rc = ns_subtree_pending(se->x->ns, under, &p);
	if (rc) {
		ctl_err_path(out, "", sp + 1, plen, rc);
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
				ctlp_put_escaped(out, path, len);
			}
			free(path);
		}
		fputc('\n', out);
		return;
	}
	struct ctl_files f = { out, 0 };

	rc = ns_subtree_files(se->x->ns, under, ctl_file_line, &f);
	if (rc)
		ctl_err_path(out, "listing ", sp + 1, plen, rc);
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
	case META_T_FIFO: return "p";
	case META_T_SOCK: return "s";
	case META_T_CHR: return "c";
	case META_T_BLK: return "b";
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
	ctlp_put_escaped(out, name, len);
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
	char *sp = NULL;
	unsigned long long entries = 0;
	uint64_t ino, after = 0;
	bool eof = false;
	long plen;
	int rc;

	if (ctl_export_path(d, args, "LS", out, &se, &sp, &plen) != 0)
		return;
	rc = ctl_resolve(se, sp + 1, (size_t)plen, &ino);
	if (rc == 0)
		rc = ns_getattr(se->x->ns, ino, &in);
	if (rc) {
		ctl_err_path(out, "", sp + 1, plen, rc);
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
		ctl_err_path(out, "listing ", sp + 1, plen, rc);
	else
		fprintf(out, "OK entries=%llu listed=%d\n", entries,
			(in.flags & META_F_IMPORTED) != 0);
}

/* ---- PREFETCH: hydrate a subtree ahead of a job ----
 *
 * Two phases. The plan walks the subtree (listing from S3 the directories no client has
 * looked into yet, as a client's readdir would) and notes every regular file with bytes
 * missing locally; the fetch then makes them local one after the other through
 * hydrate_range, the same path as a client read (conditional GETs pinned to the version
 * the file is based on, staged and installed under the data lock), one HYDRATE_WINDOW at
 * a time so that a large file reports progress. Whatever is installed is recorded as
 * present at once: an interrupted run loses nothing, and a new run plans only what is
 * still missing.
 *
 * The quota. Prefetched data is clean, so the eviction by quota would drop it again (the
 * least recently used first, which may well be the files fetched first). The fetch stops
 * instead before a file whose missing bytes would take the tier over Data_Quota. The tier
 * usage is a recount (data_tier_scan: this process's counter does not see the FSAL's
 * writes) plus the bytes installed since, recounted every CTL_PF_RESCAN_NS.
 */
#define CTL_PF_EVERY_NS 250000000LL	/* progress lines: at most 4 a second */
#define CTL_PF_RESCAN_NS 10000000000LL	/* a recount walks the whole tier */
#define CTL_PF_BLOCK 4096ULL		/* allocation unit assumed for the quota estimate */

struct ctl_pf_file {
	uint64_t ino;
	uint64_t size;
	uint64_t missing;
};

struct ctl_pf {
	struct sync_export *se;
	volatile int *stop;
	FILE *out;
	struct ctl_pf_file *files;
	size_t n, cap;
	uint64_t *dirs;			/* directories still to walk (a stack) */
	size_t nd, capd;
	uint64_t dirs_seen;
	uint64_t files_total, bytes_total;	/* regular files of the subtree, their sizes */
	uint64_t local_files, local_bytes;	/* of those, already local at the plan */
	uint64_t want_bytes;			/* bytes missing (sum of files[].missing) */
	uint64_t done_files, done_bytes;	/* made local by this run (done_bytes: of want) */
	uint64_t fetched_bytes;			/* bytes GET returned */
	uint64_t skipped;			/* changed, removed or without an S3 source */
	int64_t t0_ns, last_ns;
	bool gone;				/* the client stopped reading */
};

/* One line, flushed now: the client shows progress as it comes. A client that went
 * away (Ctrl-C) ends the run at the next file. */
static void ctl_pf_say(struct ctl_pf *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ctl_pf_say(struct ctl_pf *p, const char *fmt, ...)
{
	va_list ap;

	if (p->gone)
		return;
	va_start(ap, fmt);
	vfprintf(p->out, fmt, ap);
	va_end(ap);
	if (fflush(p->out) != 0 || ferror(p->out))
		p->gone = true;
}

/* Has the client closed its end (killed, Ctrl-C)? It shut down its sending side after
 * the request, so reading tells nothing; a unix socket whose peer is closed altogether
 * polls as POLLHUP. Checked before each file: a run nobody watches any more stops there
 * instead of filling the tier. */
static bool ctl_pf_client_gone(struct ctl_pf *p)
{
	struct pollfd pfd = { .fd = fileno(p->out), .events = POLLOUT };

	if (!p->gone && poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR)))
		p->gone = true;
	return p->gone;
}

static void ctl_pf_progress(struct ctl_pf *p, bool force)
{
	int64_t now = clock_mono_ns();

	if (!force && now - p->last_ns < CTL_PF_EVERY_NS)
		return;
	p->last_ns = now;
	ctl_pf_say(p, "PROGRESS files_done=%llu files=%zu bytes_done=%llu bytes=%llu "
		   "fetched=%llu skipped=%llu elapsed_ms=%lld\n",
		   (unsigned long long)p->done_files, p->n, (unsigned long long)p->done_bytes,
		   (unsigned long long)p->want_bytes, (unsigned long long)p->fetched_bytes,
		   (unsigned long long)p->skipped, (long long)((now - p->t0_ns) / 1000000));
}

static int ctl_pf_push_dir(struct ctl_pf *p, uint64_t ino)
{
	if (BUF_GROW(&p->dirs, &p->capd, p->nd + 1))
		return ENOMEM;
	p->dirs[p->nd++] = ino;
	return 0;
}

/* Note a regular file: how much of it is missing locally. */
static int ctl_pf_plan_file(struct ctl_pf *p, uint64_t ino)
{
	struct meta_inode in;
	struct rangeset rs;
	uint64_t have;
	int rc;

	rangeset_init(&rs);
	rc = ns_data_present(p->se->x->ns, ino, &rs, &in);
	if (rc == ENOENT) {
		rc = 0;		/* removed meanwhile */
		goto out;
	}
	if (rc || in.type != META_T_REG || (in.flags & META_F_RESERVED))
		goto out;
	have = rangeset_bytes(&rs);
	if (have > in.size)
		have = in.size;
	p->files_total++;
	p->bytes_total += in.size;
	p->local_bytes += have;
	if (have == in.size) {
		p->local_files++;
		goto out;
	}
	if (BUF_GROW(&p->files, &p->cap, p->n + 1)) {
		rc = ENOMEM;
		goto out;
	}
	p->files[p->n++] = (struct ctl_pf_file){ ino, in.size, in.size - have };
	p->want_bytes += in.size - have;
out:
	rangeset_free(&rs);
	return rc;
}

/* List dir from S3 if no one did yet, under import_lock like every re-list of ours. */
static int ctl_pf_import(struct ctl_pf *p, uint64_t dir)
{
	int rc;

	pthread_mutex_lock(&p->se->import_lock);
	rc = import_dir_ensure(p->se->x, dir);
	pthread_mutex_unlock(&p->se->import_lock);
	return rc;
}

static int ctl_pf_plan(struct ctl_pf *p, uint64_t top)
{
	struct ns_dirent *ents = malloc(CTL_LS_BATCH * sizeof *ents);
	struct meta_inode in;
	int rc;

	if (!ents)
		return ENOMEM;
	rc = ns_getattr(p->se->x->ns, top, &in);
	if (rc)
		goto out;
	if (in.type != META_T_DIR) {
		rc = ctl_pf_plan_file(p, top);
		goto out;
	}
	rc = ctl_pf_push_dir(p, top);
	while (rc == 0 && p->nd > 0 && !*p->stop && !p->gone) {
		uint64_t dir = p->dirs[--p->nd], after = 0;
		bool eof = false;

		p->dirs_seen++;
		rc = ctl_pf_import(p, dir);
		if (rc == ENOENT || rc == ENOTDIR) {
			rc = 0;		/* removed meanwhile */
			continue;
		}
		if (rc)
			break;
		while (!eof && rc == 0) {
			size_t n = 0;

			rc = ns_readdir(p->se->x->ns, dir, after, ents, CTL_LS_BATCH, &n, &eof);
			for (size_t i = 0; rc == 0 && i < n; i++) {
				after = ents[i].cookie;
				if (ents[i].type == META_T_DIR) {
					/* lost+found: s3files' own, local by nature */
					if (ns_getattr(p->se->x->ns, ents[i].ino, &in) == 0 &&
					    !(in.flags & META_F_RESERVED))
						rc = ctl_pf_push_dir(p, ents[i].ino);
				} else if (ents[i].type == META_T_REG) {
					rc = ctl_pf_plan_file(p, ents[i].ino);
				}
			}
			if (n == 0)
				break;
		}
		if (clock_mono_ns() - p->last_ns >= CTL_PF_EVERY_NS) {
			p->last_ns = clock_mono_ns();
			ctl_pf_say(p, "SCAN dirs=%llu files=%llu bytes=%llu\n",
				   (unsigned long long)p->dirs_seen,
				   (unsigned long long)p->files_total,
				   (unsigned long long)p->bytes_total);
		}
	}
out:
	free(ents);
	return rc;
}

static uint64_t ctl_pf_blocks(uint64_t bytes)
{
	return (bytes + CTL_PF_BLOCK - 1) / CTL_PF_BLOCK * CTL_PF_BLOCK;
}

static const char *ctl_pf_summary(struct ctl_pf *p, char *buf, size_t cap)
{
	snprintf(buf, cap, "files=%llu bytes=%llu local_files=%llu fetched_files=%llu "
		 "fetched_bytes=%llu skipped=%llu left_files=%llu seconds=%.3f",
		 (unsigned long long)p->files_total, (unsigned long long)p->bytes_total,
		 (unsigned long long)p->local_files, (unsigned long long)p->done_files,
		 (unsigned long long)p->fetched_bytes, (unsigned long long)p->skipped,
		 (unsigned long long)(p->n - p->done_files - p->skipped),
		 (double)(clock_mono_ns() - p->t0_ns) / 1e9);
	return buf;
}

static void ctl_prefetch(struct syncd *d, char *args, FILE *out)
{
	struct ctl_pf p = { .stop = &d->stop, .out = out };
	struct sync_export *se;
	char *sp = NULL, sum[512];
	const char *shown;
	uint64_t top, used = 0, quota;
	int64_t scanned_ns;
	long plen;
	int rc;

	if (ctl_export_path(d, args, "PREFETCH", out, &se, &sp, &plen) != 0)
		return;
	p.se = se;
	shown = sp + 1 + strspn(sp + 1, "/");
	p.t0_ns = p.last_ns = clock_mono_ns();
	rc = ctl_resolve_as(se, sp + 1, (size_t)plen, true, &top);
	if (rc) {
		ctl_err_path(out, "", sp + 1, plen, rc);
		return;
	}
	rc = ctl_pf_plan(&p, top);
	if (rc) {
		ctl_err_path(out, "listing ", sp + 1, plen, rc);
		goto out;
	}
	quota = se->cfg->data_quota;
	if (quota) {
		rc = data_tier_scan(se->x->data, &used);
		if (rc) {
			fprintf(out, "ERR data tier: %s\n", s3f_strerror(rc));
			goto out;
		}
	}
	scanned_ns = clock_mono_ns();
	ctl_pf_say(&p, "PLAN files=%llu bytes=%llu local_files=%llu local_bytes=%llu "
		   "fetch_files=%zu fetch_bytes=%llu tier=%llu quota=%llu\n",
		   (unsigned long long)p.files_total, (unsigned long long)p.bytes_total,
		   (unsigned long long)p.local_files, (unsigned long long)p.local_bytes, p.n,
		   (unsigned long long)p.want_bytes, (unsigned long long)used,
		   (unsigned long long)quota);
	LOG_INFO(LOG_C_SYNC, "export %u: prefetch of /%s: %zu files, %llu bytes to fetch",
		 se->cfg->export_id, LOG_ESCS(shown), p.n,
		 (unsigned long long)p.want_bytes);
	for (size_t i = 0; i < p.n; i++) {
		struct ctl_pf_file *f = &p.files[i];
		uint64_t installed = 0;

		/* Tests slow a run down here to interrupt it between files. */
		TP("sync.control.prefetch");
		if (*p.stop || ctl_pf_client_gone(&p)) {
			LOG_INFO(LOG_C_SYNC, "export %u: prefetch of /%s interrupted (%s) after "
				 "%llu files", se->cfg->export_id, LOG_ESCS(shown),
				 p.gone ? "the client went away" : "stopping",
				 (unsigned long long)p.done_files);
			ctl_pf_say(&p, "ERR interrupted %s\n", ctl_pf_summary(&p, sum, sizeof sum));
			goto out;
		}
		if (quota && clock_mono_ns() - scanned_ns >= CTL_PF_RESCAN_NS) {
			if (data_tier_scan(se->x->data, &used) == 0)
				scanned_ns = clock_mono_ns();
		}
		if (quota && used + ctl_pf_blocks(f->missing) > quota) {
			char *path = malloc(S3_KEY_MAX + 1);
			size_t len = 0;

			ctl_pf_progress(&p, true);
			ctl_pf_say(&p, "ERR quota %s tier=%llu quota=%llu need=%llu path=",
				   ctl_pf_summary(&p, sum, sizeof sum), (unsigned long long)used,
				   (unsigned long long)quota,
				   (unsigned long long)ctl_pf_blocks(f->missing));
			if (!p.gone && path && ns_key_of(se->x->ns, f->ino, path, S3_KEY_MAX + 1,
							 &len) == 0)
				ctlp_put_escaped(out, path, len);
			ctl_pf_say(&p, "\n");
			free(path);
			LOG_WARN(LOG_C_SYNC, "export %u: prefetch of /%s stopped at the data tier's "
				 "quota (%llu of %llu bytes used, the next file needs %llu)",
				 se->cfg->export_id, LOG_ESCS(shown),
				 (unsigned long long)used, (unsigned long long)quota,
				 (unsigned long long)ctl_pf_blocks(f->missing));
			goto out;
		}
		for (uint64_t off = 0; off < f->size; off += HYDRATE_WINDOW) {
			struct hydrate_stats st = { 0 };

			rc = hydrate_range(se->x, f->ino, off, HYDRATE_WINDOW, &st);
			p.fetched_bytes += st.fetched_bytes;
			installed += st.installed_bytes;
			p.done_bytes += st.installed_bytes;
			if (rc)
				break;
			if (off + HYDRATE_WINDOW < f->size)
				ctl_pf_progress(&p, false);	/* a large file, part way */
		}
		if (rc == 0) {
			p.done_files++;
			/* Bytes a client read in meanwhile are done all the same. */
			if (f->missing > installed)
				p.done_bytes += f->missing - installed;
		} else if (rc == ENODATA || rc == ENOENT || rc == S3F_E_S3_PRECOND || rc == EIO) {
			/* never uploaded, removed, changed in S3 (the new version is listed by
			 * the next poll), or its source lost: nothing to fetch for this run */
			p.skipped++;
			p.done_bytes += f->missing > installed ? f->missing - installed : 0;
			rc = 0;
		} else {
			char *path = malloc(S3_KEY_MAX + 1);
			size_t len = 0;

			LOG_WARN(LOG_C_SYNC, "export %u: prefetch of /%s stopped: inode %llu: %s",
				 se->cfg->export_id, LOG_ESCS(shown), (unsigned long long)f->ino,
				 s3f_strerror(rc));
			ctl_pf_progress(&p, true);
			ctl_pf_say(&p, "ERR fetch %s error=", ctl_pf_summary(&p, sum, sizeof sum));
			if (!p.gone)
				ctlp_put_escaped(out, s3f_strerror(rc), strlen(s3f_strerror(rc)));
			if (!p.gone && path && ns_key_of(se->x->ns, f->ino, path, S3_KEY_MAX + 1,
							 &len) == 0) {
				fputs(" path=", out);
				ctlp_put_escaped(out, path, len);
			}
			ctl_pf_say(&p, "\n");
			free(path);
			goto out;
		}
		used += ctl_pf_blocks(installed);
		ctl_pf_progress(&p, false);
	}
	ctl_pf_progress(&p, true);
	ctl_pf_say(&p, "OK %s\n", ctl_pf_summary(&p, sum, sizeof sum));
	LOG_INFO(LOG_C_SYNC, "export %u: prefetch of /%s done: %s", se->cfg->export_id,
		 LOG_ESCS(shown), sum);
out:
	free(p.files);
	free(p.dirs);
}

/* ---- STATE: one file's sync state, and why it waits ----
 *
 * Everything here is what the daemon itself goes by: the inode's record (sync state, the
 * dirty time, the Commit_On_Close mark), the export's S3 back-off, the directory jobs and
 * renamed files' old objects that hold a commit back, and what commit.c says it is doing
 * or last failed at. The first reason that applies is given, in the order in which the
 * commit pass would be held up by them. One request reads several snapshots: a commit
 * running meanwhile may make the answer one step stale, never invented.
 */
static void ctl_kv_str(FILE *out, const char *key, const char *v)
{
	ctlp_put_kv(out, key, v, strlen(v));
}

static const char *ctl_data_name(uint8_t data)
{
	switch (data) {
	case META_D_NONE: return "none";
	case META_D_PARTIAL: return "partial";
	case META_D_FULL: return "full";
	default: return "?";
	}
}

/* Why a dirty file is not in S3 yet: *why (a word) and detail (prose). */
static void ctl_state_why(struct sync_export *se, const struct meta_inode *in, const char *key,
			  size_t keylen, const char **why, char *detail, size_t cap)
{
	struct ns *ns = se->x->ns;
	int64_t now = meta_now_ns(), interval = (int64_t)se->cfg->commit_interval * 1000000000LL;
	int64_t down = __atomic_load_n(&se->down_until_ns, __ATOMIC_RELAXED);
	uint64_t jobs = 0, holder = 0;

	if (sync_s3_down(se)) {
		int64_t mono = clock_mono_ns();

		*why = "s3_unreachable";
		snprintf(detail, cap, "S3 did not answer; commit passes pause and try again in "
			 "%lld s", (long long)((down - mono) / 1000000000LL + 1));
		return;
	}
	if (in->sync == META_S_CONFLICT) {
		*why = "conflict";
		snprintf(detail, cap, "changed on both sides; the next commit pass resolves it: S3 "
			 "wins, this version goes to lost+found");
		return;
	}
	if (ns_dirjob_pending(ns, in->ino, &jobs) == 0 && jobs) {
		*why = "pending_rename";
		snprintf(detail, cap, "%llu directory rename(s) still moving objects in S3 at or "
			 "above it; its commit waits for them", (unsigned long long)jobs);
		return;
	}
	if (keylen && ns_source_holder(ns, key, keylen, in->ino, &holder) == 0 && holder) {
		*why = "pending_rename";
		snprintf(detail, cap, "its key still holds the old object of renamed file inode "
			 "%llu, which moves first", (unsigned long long)holder);
		return;
	}
	if (__atomic_load_n(&se->fail_ino, __ATOMIC_RELAXED) == in->ino) {
		int64_t at = __atomic_load_n(&se->fail_ns, __ATOMIC_RELAXED);

		*why = "commit_failed";
		snprintf(detail, cap, "the last upload failed %lld s ago: %s; retried at the next "
			 "pass", (long long)((now - at) / 1000000000LL),
			 s3f_strerror(__atomic_load_n(&se->fail_rc, __ATOMIC_RELAXED)));
		return;
	}
	if (in->due_gen && in->due_gen >= in->dirty_gen) {
		*why = "due";
		snprintf(detail, cap, "closed by its last writer (Commit_On_Close): goes at the "
			 "next pass");
		return;
	}
	if (in->due_gen) {
		*why = "settling";
		snprintf(detail, cap, "changed again after its close: goes once unchanged for "
			 "%lld ms", (long long)(NS_COMMIT_SETTLE_NS / 1000000));
		return;
	}
	if (in->dirty_since_ns && now - in->dirty_since_ns < interval) {
		*why = "interval";
		snprintf(detail, cap, "Commit_Interval (%u s) not reached since its last change: due "
			 "in %lld s", se->cfg->commit_interval,
			 (long long)((in->dirty_since_ns + interval - now) / 1000000000LL + 1));
		return;
	}
	*why = "due";
	snprintf(detail, cap, "due: goes at the next pass");
}

static void ctl_state(struct syncd *d, char *args, FILE *out)
{
	struct sync_export *se;
	struct meta_inode in;
	struct rangeset rs;
	char *sp = NULL, *key = NULL, *src = NULL, detail[256] = "";
	char src_etag[S3_ETAG_MAX];
	const char *state, *why = "-";
	size_t keylen = 0, srclen = 0;
	uint64_t ino, local = 0, jobs = 0;
	long plen;
	int rc;

	rangeset_init(&rs);
	if (ctl_export_path(d, args, "STATE", out, &se, &sp, &plen) != 0)
		return;
	key = malloc(S3_KEY_MAX + 1);
	src = malloc(S3_KEY_MAX + 1);
	if (!key || !src) {
		fprintf(out, "ERR out of memory\n");
		goto out;
	}
	rc = ctl_resolve(se, sp + 1, (size_t)plen, &ino);
	if (rc == 0)
		rc = ns_data_present(se->x->ns, ino, &rs, &in);
	if (rc) {
		ctl_err_path(out, "", sp + 1, plen, rc);
		goto out;
	}
	local = in.type == META_T_REG ? rangeset_bytes(&rs) : 0;
	if (local > in.size)
		local = in.size;
	if (!(in.flags & META_F_RESERVED) && ns_key_of(se->x->ns, ino, key, S3_KEY_MAX + 1,
						       &keylen) != 0)
		keylen = 0;
	if (in.type != META_T_REG || ns_data_source(se->x->ns, ino, src, S3_KEY_MAX + 1, &srclen,
						    src_etag) != 0)
		srclen = 0;
	if (in.flags & META_F_RESERVED) {
		state = "local";
		why = "lost_found";
		snprintf(detail, sizeof detail, "s3files' own (lost+found): never uploaded");
	} else if (in.sync == META_S_CONFLICT) {
		state = "conflict";
		ctl_state_why(se, &in, key, keylen, &why, detail, sizeof detail);
	} else if (in.sync == META_S_DIRTY) {
		if (__atomic_load_n(&se->committing_ino, __ATOMIC_RELAXED) == ino) {
			state = "committing";
			why = "uploading";
			snprintf(detail, sizeof detail, "being uploaded now");
		} else {
			state = "dirty";
			ctl_state_why(se, &in, key, keylen, &why, detail, sizeof detail);
		}
	} else if (ns_dirjob_pending(se->x->ns, ino, &jobs) == 0 && jobs) {
		/* Clean by its record, but below a directory renamed whose objects are still
		 * moving in S3: S3 does not show it under this path yet. */
		state = "dirty";
		ctl_state_why(se, &in, key, keylen, &why, detail, sizeof detail);
	} else {
		state = "clean";
		snprintf(detail, sizeof detail, "%s", (in.flags & META_F_IN_S3) || ino == META_ROOT_INO ?
			 "in S3 as shown" : "nothing to upload");
	}
	fputs("STATE", out);
	ctlp_put_kv(out, "path", sp + 1, (size_t)plen);
	fprintf(out, " ino=%llu type=%s state=%s size=%llu s3_size=%llu",
		(unsigned long long)ino, ctl_type_name(in.type), state,
		(unsigned long long)in.size, (unsigned long long)in.s3_size);
	ctl_kv_str(out, "etag", in.etag);
	ctl_kv_str(out, "version", in.version_id);
	fprintf(out, " data=%s local_bytes=%llu dirty_since=%lld last_modified=%lld confirmed=%lld",
		in.type == META_T_REG ? ctl_data_name(in.data) : "-", (unsigned long long)local,
		(long long)(in.dirty_since_ns / 1000000000LL), (long long)in.s3_mtime,
		(long long)(in.synced_ns / 1000000000LL));
	ctlp_put_kv(out, "key", key, keylen);
	/* A renamed file still reads from its old object until its commit moves it. */
	if (srclen && (srclen != keylen || memcmp(src, key, srclen) != 0)) {
		ctlp_put_kv(out, "source", src, srclen);
		if (in.sync == META_S_DIRTY && strlen(detail) + 64 < sizeof detail)
			strcat(detail, " (renamed: its commit moves the old object to this key)");
	}
	fprintf(out, " why=%s", why);
	ctl_kv_str(out, "detail", detail);
	/* A directory: what its subtree still owes S3 (as wait-synced sees it). */
	if (in.type == META_T_DIR) {
		struct ns_pending pend;
		uint64_t moving = 0;

		if (ns_subtree_pending(se->x->ns, ino, &pend) == 0)
			fprintf(out, " subtree_dirty=%llu subtree_deletes=%llu subtree_conflicts=%llu",
				(unsigned long long)pend.dirty, (unsigned long long)pend.deletes,
				(unsigned long long)pend.conflicts);
		if (ns_dirjob_pending(se->x->ns, ino, &moving) == 0)
			fprintf(out, " subtree_renames=%llu", (unsigned long long)moving);
	}
	fputc('\n', out);
	fprintf(out, "OK\n");
out:
	rangeset_free(&rs);
	free(key);
	free(src);
}

/* ---- CONFLICTS: what lost+found holds, with the conflict events that put it there ----
 *
 * The entries are lost+found's as the store has them now (a file removed from it is gone
 * from the answer); each is matched to the last `conflict` event whose lost_found names
 * it (conflict.c), for the key, both ETags and S3's time. An entry without an event (a
 * journal removed by hand) is listed with what the inode alone tells.
 */
struct ctl_cf_event {
	char *lf;			/* "lost+found/<name>" as the event has it */
	size_t lf_len;
	char *line;			/* the event's JSON line */
	size_t len;
};

struct ctl_cf {
	struct ctl_cf_event *ev;
	size_t n, cap;
};

/* The exact bytes of field name: "<name>_hex" when not UTF-8 (journal.h), else "<name>". */
static int ctl_json_bytes(const struct json_doc *jd, const char *name, char *buf, size_t cap,
			  size_t *len)
{
	char hexname[64];
	size_t i;

	snprintf(hexname, sizeof hexname, "%s_hex", name);
	i = json_obj_get(jd, 0, hexname);
	if (i) {
		char *hex = malloc(2 * cap + 1);
		size_t hl;
		int rc = hex ? json_str_get(jd, i, hex, 2 * cap + 1, &hl) : ENOMEM;

		if (rc == 0 && (hl % 2 || hl / 2 >= cap))
			rc = EINVAL;
		if (rc == 0)
			rc = hex_decode(hex, hl, buf, false);
		free(hex);
		if (rc == 0) {
			*len = hl / 2;
			buf[*len] = '\0';
		}
		return rc;
	}
	i = json_obj_get(jd, 0, name);
	return i ? json_str_get(jd, i, buf, cap, len) : ENOENT;
}

static int ctl_cf_collect(void *arg, uint64_t seq, const char *kind, const char *line, size_t len)
{
	struct ctl_cf *cf = arg;
	struct json_doc jd = { 0 };
	char lf[sizeof "lost+found/" + META_NAME_MAX + 1];
	size_t lflen;
	int rc = 0;

	(void)seq;
	if (strcmp(kind, JOURNAL_CONFLICT) != 0)
		return 0;
	if (json_parse(line, len, 4, 64, &jd) != 0)
		return 0;	/* not ours to judge: skipped like any reader would */
	if (ctl_json_bytes(&jd, "lost_found", lf, sizeof lf, &lflen) != 0)
		goto out;
	if (BUF_GROW(&cf->ev, &cf->cap, cf->n + 1)) {
		rc = ENOMEM;
		goto out;
	}
	cf->ev[cf->n].lf = malloc(lflen + 1);
	cf->ev[cf->n].line = malloc(len + 1);
	if (!cf->ev[cf->n].lf || !cf->ev[cf->n].line) {
		free(cf->ev[cf->n].lf);
		free(cf->ev[cf->n].line);
		rc = ENOMEM;
		goto out;
	}
	memcpy(cf->ev[cf->n].lf, lf, lflen + 1);
	cf->ev[cf->n].lf_len = lflen;
	memcpy(cf->ev[cf->n].line, line, len + 1);
	cf->ev[cf->n].len = len;
	cf->n++;
out:
	json_doc_free(&jd);
	return rc;
}

/* One CONFLICT line's event part: key, s3, both ETags, S3's time, when resolved. */
static void ctl_cf_event_fields(FILE *out, const struct ctl_cf_event *e)
{
	struct json_doc jd = { 0 };
	char *buf = malloc(S3_KEY_MAX + 1);
	size_t len, i;
	uint64_t v;

	if (!buf || json_parse(e->line, e->len, 4, 64, &jd) != 0) {
		fputs(" key=- s3=- etag_base=- etag_s3=- mtime_s3=- resolved=-", out);
		goto out;
	}
	if (ctl_json_bytes(&jd, "key", buf, S3_KEY_MAX + 1, &len) != 0)
		len = 0;
	ctlp_put_kv(out, "key", buf, len);
	const char *names[] = { "s3", "etag_base", "etag_s3" };

	for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
		i = json_obj_get(&jd, 0, names[k]);
		if (!i || json_str_get(&jd, i, buf, S3_KEY_MAX + 1, &len) != 0)
			len = 0;
		ctlp_put_kv(out, names[k], buf, len);
	}
	i = json_obj_get(&jd, 0, "mtime_s3");
	if (i && json_u64_get(&jd, i, &v) == 0)
		fprintf(out, " mtime_s3=%llu", (unsigned long long)v);
	else
		fputs(" mtime_s3=-", out);
	i = json_obj_get(&jd, 0, "time");
	if (!i || json_str_get(&jd, i, buf, S3_KEY_MAX + 1, &len) != 0)
		len = 0;
	ctlp_put_kv(out, "resolved", buf, len);
out:
	json_doc_free(&jd);
	free(buf);
}

static void ctl_conflicts(struct syncd *d, char *args, FILE *out)
{
	struct ns_dirent *ents = NULL;
	struct ctl_cf cf = { 0 };
	struct sync_export *se;
	struct meta_inode lfdir;
	unsigned long id = strtoul(args, NULL, 10);
	unsigned long long entries = 0;
	uint64_t after = 0;
	bool eof = false;
	int rc;

	se = syncd_export_by_id(d, (uint32_t)id);
	if (!se) {
		fprintf(out, "ERR no S3FILES export with id %lu\n", id);
		return;
	}
	rc = ns_lookup(se->x->ns, META_ROOT_INO, "lost+found", 10, &lfdir);
	if (rc == ENOENT || (rc == 0 && !(lfdir.flags & META_F_RESERVED))) {
		fprintf(out, "OK entries=0\n");	/* no conflict ever (lost+found is made on use) */
		return;
	}
	if (rc) {
		fprintf(out, "ERR lost+found: %s\n", s3f_strerror(rc));
		return;
	}
	rc = journal_read(se->cfg->journal_path, 0, ctl_cf_collect, &cf);
	if (rc && rc != ENOENT) {
		fprintf(out, "ERR journal %s: %s\n", se->cfg->journal_path, s3f_strerror(rc));
		goto out;
	}
	ents = malloc(CTL_LS_BATCH * sizeof *ents);
	if (!ents) {
		fprintf(out, "ERR out of memory\n");
		goto out;
	}
	rc = 0;
	while (!eof && rc == 0) {
		size_t n = 0;

		rc = ns_readdir(se->x->ns, lfdir.ino, after, ents, CTL_LS_BATCH, &n, &eof);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			const struct ctl_cf_event *ev = NULL;
			struct meta_inode e;

			after = ents[i].cookie;
			if (ns_getattr(se->x->ns, ents[i].ino, &e) != 0)
				continue;	/* removed meanwhile */
			/* the last event naming it: a name is made unique by its time */
			for (size_t k = cf.n; k-- > 0 && !ev;)
				if (cf.ev[k].lf_len == 11 + (size_t)ents[i].name_len &&
				    memcmp(cf.ev[k].lf + 11, ents[i].name, ents[i].name_len) == 0)
					ev = &cf.ev[k];
			fputs("CONFLICT", out);
			ctlp_put_kv(out, "name", ents[i].name, ents[i].name_len);
			fprintf(out, " ino=%llu type=%s size=%llu mtime_file=%lld",
				(unsigned long long)e.ino, ctl_type_name(e.type),
				(unsigned long long)e.size, (long long)(e.mtime_ns / 1000000000LL));
			if (ev)
				ctl_cf_event_fields(out, ev);
			else
				fputs(" key=- s3=- etag_base=- etag_s3=- mtime_s3=- resolved=-", out);
			fputc('\n', out);
			entries++;
		}
		if (n == 0)
			break;
	}
	if (rc)
		fprintf(out, "ERR listing lost+found: %s\n", s3f_strerror(rc));
	else
		fprintf(out, "OK entries=%llu\n", entries);
out:
	for (size_t k = 0; k < cf.n; k++) {
		free(cf.ev[k].lf);
		free(cf.ev[k].line);
	}
	free(cf.ev);
	free(ents);
}

/* ---- connections ----
 *
 * Every connection gets a thread of its own (at most CTL_MAX_CLIENTS at once), so a COMMIT
 * or an EVICT that runs for minutes does not hold up STATUS, and a client that connects and
 * says nothing holds up nobody: its request line must be complete within
 * CTLP_REQUEST_TIMEOUT_MS, and stopping the daemon shuts every connection down at once instead
 * of waiting for a client to speak. A request already running (a COMMIT's uploads) is
 * finished first, as the worker's own pass is.
 */
#define CTL_MAX_CLIENTS 32
#define CTL_WRITE_TIMEOUT_S 30	/* a client that stops reading its answer */

struct ctl_conn {
	struct sync_ctl *c;
	int fd;
	struct ctl_conn *prev, *next;
};

struct sync_ctl {
	struct syncd *d;
	int fd;				/* listening socket */
	char *path;
	struct instlock *lock;		/* <path>.lock: who may replace the socket */
	int wake[2];			/* pipe: wakes the listener at stop */
	pthread_t listener;
	pthread_mutex_t mu;		/* conns, n, stopping */
	pthread_cond_t gone;		/* a connection ended */
	struct ctl_conn *conns;
	size_t n;
	bool stopping;
};

/* Best effort, never blocking: refusals and timeouts. */
static void ctl_say(int fd, const char *msg)
{
	ssize_t w = send(fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL);

	(void)w;
}

static void ctl_dispatch(struct syncd *d, char *line, FILE *out)
{
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
	else if (strncmp(line, "PREFETCH ", 9) == 0)
		ctl_prefetch(d, line + 9, out);
	else if (strncmp(line, "STATE ", 6) == 0)
		ctl_state(d, line + 6, out);
	else if (strncmp(line, "CONFLICTS ", 10) == 0)
		ctl_conflicts(d, line + 10, out);
	else
		fprintf(out, "ERR unknown request\n");
}

static void ctl_conn_end(struct ctl_conn *cn)
{
	struct sync_ctl *c = cn->c;

	/* Off the list first, then closed: a stop that shuts down listed connections never
	 * touches a descriptor number that was closed and given to someone else. */
	pthread_mutex_lock(&c->mu);
	if (cn->prev)
		cn->prev->next = cn->next;
	else
		c->conns = cn->next;
	if (cn->next)
		cn->next->prev = cn->prev;
	c->n--;
	pthread_cond_broadcast(&c->gone);
	pthread_mutex_unlock(&c->mu);
	close(cn->fd);
	free(cn);
}

static void *ctl_conn_thread(void *arg)
{
	struct ctl_conn *cn = arg;
	char *line = malloc(CTLP_LINE_MAX);
	int rc = line ? ctlp_read_request(cn->fd, line, CTLP_LINE_MAX, CTLP_REQUEST_TIMEOUT_MS)
		      : ENOMEM;

	if (rc == ETIMEDOUT) {
		ctl_say(cn->fd, "ERR no complete request line within 5 s\n");
	} else if (rc == EMSGSIZE) {
		ctl_say(cn->fd, "ERR request line too long\n");
	} else if (rc == 0) {
		int wfd = dup(cn->fd);
		FILE *out = wfd >= 0 ? fdopen(wfd, "w") : NULL;

		if (out) {
			ctl_dispatch(cn->c->d, line, out);
			fclose(out);
		} else if (wfd >= 0) {
			close(wfd);
		}
	}
	free(line);
	ctl_conn_end(cn);
	return NULL;
}

static void ctl_conn_start(struct sync_ctl *c, int fd)
{
	struct timeval wt = { .tv_sec = CTL_WRITE_TIMEOUT_S };
	struct ctl_conn *cn;
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	pthread_mutex_lock(&c->mu);
	if (c->stopping || c->n >= CTL_MAX_CLIENTS) {
		pthread_mutex_unlock(&c->mu);
		ctl_say(fd, c->stopping ? "ERR s3files-syncd is stopping\n" :
			CTLP_BUSY ": too many control connections open, try again\n");
		close(fd);
		return;
	}
	cn = calloc(1, sizeof *cn);
	if (!cn) {
		pthread_mutex_unlock(&c->mu);
		ctl_say(fd, "ERR out of memory\n");
		close(fd);
		return;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wt, sizeof wt);
	cn->c = c;
	cn->fd = fd;
	cn->next = c->conns;
	if (c->conns)
		c->conns->prev = cn;
	c->conns = cn;
	c->n++;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* Requests run in the thread: the default stack (8 MiB) for what ns and S3 need. */
	rc = pthread_create(&t, &attr, ctl_conn_thread, cn);
	pthread_attr_destroy(&attr);
	pthread_mutex_unlock(&c->mu);
	if (rc) {
		LOG_WARN(LOG_C_SYNC, "control socket: no thread for a connection: %s", strerror(rc));
		ctl_say(fd, CTLP_BUSY ": cannot serve the request now\n");
		ctl_conn_end(cn);
	}
}

static void *ctl_listener(void *arg)
{
	struct sync_ctl *c = arg;

	for (;;) {
		struct pollfd pfd[2] = { { .fd = c->fd, .events = POLLIN },
					 { .fd = c->wake[0], .events = POLLIN } };

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			LOG_WARN(LOG_C_SYNC, "control socket poll: %s", strerror(errno));
			usleep(100000);
			continue;
		}
		if (pfd[1].revents)
			break;	/* stop */
		if (!(pfd[0].revents & POLLIN))
			continue;
		int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
				continue;
			LOG_WARN(LOG_C_SYNC, "control socket accept: %s", strerror(errno));
			usleep(100000);	/* EMFILE & co: do not spin */
			continue;
		}
		ctl_conn_start(c, fd);
	}
	return NULL;
}

/* <path>.lock next to the socket: only its holder may unlink and bind the path. */
static int ctl_lock(struct sync_ctl *c, const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)], name[128], who[512];
	struct instlock_holder h;
	int rc;

	if (!slash || strlen(slash + 1) + 6 > sizeof name)
		return ENAMETOOLONG;
	snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	snprintf(name, sizeof name, "%s.lock", slash + 1);
	rc = instlock_acquire(dir, name, "s3files-syncd", &c->lock, &h);
	if (rc == EWOULDBLOCK)
		LOG_ERROR(LOG_C_SYNC, "control socket %s is in use by another s3files-syncd: %s; "
			  "not replacing it (give this one another Control_Socket)", path,
			  instlock_holder_str(&h, who, sizeof who));
	else if (rc)
		LOG_ERROR(LOG_C_SYNC, "control socket %s: lock %s/%s: %s", path, dir, name,
			  strerror(rc));
	return rc;
}

static void ctl_free(struct sync_ctl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	if (c->wake[0] >= 0)
		close(c->wake[0]);
	if (c->wake[1] >= 0)
		close(c->wake[1]);
	instlock_release(c->lock);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->gone);
	free(c->path);
	free(c);
}

int sync_control_start(struct syncd *d, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sync_ctl *c;
	mode_t um;
	int rc;

	if (strlen(path) >= sizeof sa.sun_path) {
		LOG_ERROR(LOG_C_SYNC, "control socket %s: path too long", path);
		return ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	c = calloc(1, sizeof *c);
	if (!c)
		return ENOMEM;
	c->d = d;
	c->fd = c->wake[0] = c->wake[1] = -1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->gone, NULL);
	c->path = strdup(path);
	if (!c->path) {
		rc = ENOMEM;
		goto fail;
	}
	rc = ctl_lock(c, path);
	if (rc)
		goto fail;
	if (pipe2(c->wake, O_CLOEXEC) != 0) {
		rc = errno;
		goto fail;
	}
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		rc = errno;
		goto fail;
	}
	/* We hold the lock: whatever is at the path is a dead daemon's socket. */
	(void)unlink(path);
	um = umask(0177);	/* no moment at which others may connect */
	rc = bind(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0 ? errno : 0;
	umask(um);
	if (rc == 0 && (chmod(path, 0600) != 0 || listen(c->fd, 64) != 0))
		rc = errno;
	if (rc) {
		LOG_ERROR(LOG_C_SYNC, "control socket %s: %s", path, strerror(rc));
		(void)unlink(path);
		goto fail;
	}
	rc = pthread_create(&c->listener, NULL, ctl_listener, c);
	if (rc) {
		LOG_ERROR(LOG_C_SYNC, "control socket %s: thread: %s", path, strerror(rc));
		(void)unlink(path);
		goto fail;
	}
	d->ctl = c;
	return 0;

fail:
	ctl_free(c);
	return rc;
}

void sync_control_stop(struct syncd *d)
{
	struct sync_ctl *c = d->ctl;
	char b = 1;

	if (!c)
		return;
	if (write(c->wake[1], &b, 1) != 1)
		LOG_WARN(LOG_C_SYNC, "control socket: waking the listener: %s", strerror(errno));
	pthread_join(c->listener, NULL);
	/* New connections are refused now; the open ones are cut: a client waiting to be
	 * read from or to send gets EOF at once, a request running ends its work first. */
	pthread_mutex_lock(&c->mu);
	c->stopping = true;
	for (struct ctl_conn *cn = c->conns; cn; cn = cn->next)
		shutdown(cn->fd, SHUT_RDWR);
	while (c->n > 0)
		pthread_cond_wait(&c->gone, &c->mu);
	pthread_mutex_unlock(&c->mu);
	/* Still holding the lock: the path is ours to remove. */
	(void)unlink(c->path);
	ctl_free(c);
	d->ctl = NULL;
}
