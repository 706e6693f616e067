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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "instlock.h"
#include "log.h"
#include "tp.h"

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

/* "ERR <what><escaped path>: <error>": the path as the client sent it (escaped), so
 * that a name with a newline cannot split the answer's last line. */
static void ctl_err_path(FILE *out, const char *what, const char *path, long len, int rc)
{
	fprintf(out, "ERR %s", what);
	ctl_put_escaped(out, path, len > 0 ? (size_t)len : 0);
	fprintf(out, ": %s\n", s3f_strerror(rc));
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

/* ---- connections ----
 *
 * Every connection gets a thread of its own (at most CTL_MAX_CLIENTS at once), so a COMMIT
 * or an EVICT that runs for minutes does not hold up STATUS, and a client that connects and
 * says nothing holds up nobody: its request line must be complete within
 * CTL_READ_TIMEOUT_MS, and stopping the daemon shuts every connection down at once instead
 * of waiting for a client to speak. A request already running (a COMMIT's uploads) is
 * finished first, as the worker's own pass is.
 */
#define CTL_MAX_CLIENTS 32
#define CTL_READ_TIMEOUT_MS 5000
#define CTL_WRITE_TIMEOUT_S 30	/* a client that stops reading its answer */
#define CTL_LINE_MAX 8192

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

/* Read one request line (without its newline) within CTL_READ_TIMEOUT_MS. 0, or ETIMEDOUT,
 * EMSGSIZE (no newline in CTL_LINE_MAX bytes), ECONNRESET (closed before a line: EOF
 * with no bytes, or the daemon stopping). A last line without newline counts at EOF. */
static int ctl_read_line(int fd, char *line, size_t cap)
{
	struct timespec t0, now;
	size_t len = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long left;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;
		int pr;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = CTL_READ_TIMEOUT_MS - ((now.tv_sec - t0.tv_sec) * 1000L +
					      (now.tv_nsec - t0.tv_nsec) / 1000000L);
		if (left <= 0)
			return ETIMEDOUT;
		pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return errno;
		if (pr == 0)
			return ETIMEDOUT;
		r = recv(fd, line + len, cap - 1 - len, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return errno;
		if (r == 0) {
			if (len == 0)
				return ECONNRESET;
			line[len] = '\0';
			return 0;
		}
		char *nl = memchr(line + len, '\n', (size_t)r);

		len += (size_t)r;
		if (nl) {
			*nl = '\0';
			return 0;
		}
		if (len >= cap - 1)
			return EMSGSIZE;
	}
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
	char *line = malloc(CTL_LINE_MAX);
	int rc = line ? ctl_read_line(cn->fd, line, CTL_LINE_MAX) : ENOMEM;

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
			"ERR busy: too many control connections open, try again\n");
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
		ctl_say(fd, "ERR busy: cannot serve the request now\n");
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
