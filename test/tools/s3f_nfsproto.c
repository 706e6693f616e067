/*
 * s3f_nfsproto.c — test tool: NFSv4.0 requests no ordinary client sends in that order,
 * built by hand as COMPOUNDs over libnfs's raw RPC API, against a file (or directory, or
 * symlink, or handle) in every state it can be in. After each request it checks that the
 * server answered and that the server process is still alive.
 *
 *   s3f_nfsproto HOST PORT PSEUDO PID [--from N] [--only SUBSTR] [--cold DIR] [--list]
 *   s3f_nfsproto script HOST PORT PSEUDO < STEPS
 *
 *   PSEUDO   the export's pseudo path, e.g. /s3files; the tool works in PSEUDO/proto
 *            (made if missing)
 *   PID      the server process, checked with kill(PID, 0) after every request
 *   --from N skip the first N cases (a suite restarts a crashed server and goes on)
 *   --only S run only the cases whose name contains S
 *   --cold D state "cold": files never opened through NFS, one per operation, named
 *            D/<op> below PSEUDO/proto (the suite puts them into S3 beforehand)
 *   --list   print the case names and exit
 *
 * States: cold (imported, never opened), closed (written and closed: no open state),
 * open_read (an open for reading held by another owner), open_write (open for writing),
 * locked (open for writing, a write lock on [0,100) held), removed_open (open, then its
 * name removed), stale (closed, then removed: its old handle), forged (a handle of this
 * export naming an inode that does not exist), garbage (random bytes), dir, symlink.
 * Operations: every NFSv4.0 operation libnfs can encode, on the object's handle (or by its
 * name in its directory), with the stateid the state has (the open's, the lock's, or the
 * anonymous one when there is none); plus "anon_rw_burst", 64 READs and WRITEs with the
 * anonymous and the bypass stateid in flight at once (stateless I/O racing for the file's
 * shared descriptor).
 *
 * Output, one line per case:
 *   PASS proto/STATE.OP NFS4ERR_...        an answer came and the server lives
 *   FAIL proto/STATE.OP: why               no answer, the server died, or an answer that
 *                                          contradicts NFSv4 (LOCKT without a conflicting
 *                                          lock must be granted, with one denied; a stale
 *                                          handle must be refused as stale)
 *   DEAD N                                  the server died at case N (0-based): rerun
 *                                          with --from N+1 after restarting it
 * Exit: 0 all passed, 1 a case failed, 3 the server died, 2 usage or setup errors.
 *
 * script: file system calls as given users, each as the NFSv4.0 COMPOUNDs a client sends
 * for it, with none of the permission checks a client makes itself, so the server's own
 * checks answer. Each line of STEPS is
 *   LABEL UID GID OP ARGS...
 * with OP: unlink P | rmdir P | rename P Q | mkdir P MODE | create P MODE (GUARDED) |
 * mknod P fifo|sock MODE | mknod P chr|blk MODE MAJOR MINOR |
 * chmod P MODE | chown P UID|-1 GID|-1 | truncate P SIZE | write P (one byte at the end) |
 * mode P (prints "MODE UID GID", MODE in octal with the set-id and sticky bits); paths
 * relative to PSEUDO, modes octal. unlink and rmdir check the type first, as a client's
 * VFS does. Each step prints "LABEL: OK" (or the mode line), or "LABEL: ENAME" with the
 * error (the NFS status when it has no errno). One client (connection, AUTH_SYS
 * credentials, client id) per UID/GID. Exit 0; 2 on usage or connection errors.
 */
#include <sys/time.h>

#include <nfsc/libnfs.h>
#include <nfsc/libnfs-raw.h>
#include <nfsc/libnfs-raw-nfs4.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

#define MAX_OPS 8
#define CALL_TIMEOUT_MS 30000
#define BURST 64

struct fh {
	unsigned len;
	char data[NFS4_FHSIZE];
};

/* What one COMPOUND answered, copied out in the callback (libnfs frees the reply after). */
struct reply {
	bool done;
	int rpc_status;
	char err[256];
	nfsstat4 status;
	unsigned nres;
	struct fh fh;
	bool have_fh;
	stateid4 stateid;
	bool have_stateid;
	uint32_t rflags;
	clientid4 clientid;
	verifier4 confirm;
};

struct owner {
	char name[64];
	uint32_t seqid;
};

struct ctx {
	struct rpc_context *rpc;
	pid_t pid;
	clientid4 clientid;
	struct fh dir;			/* PSEUDO/proto */
	struct fh cold;			/* PSEUDO/proto/<cold dir> */
	bool have_cold;
	unsigned serial;
	bool dead;
	bool dead_reported;
};

/* The object of one case and the state that was set up for it. */
struct obj {
	char name[96];
	const struct fh *parent;	/* the directory holding name */
	struct fh fh;
	bool is_file;
	bool have_open;
	struct owner oo;
	stateid4 open_sid;
	bool have_lock;
	struct owner lo;		/* lock owner (its seqid counts lock-stateid ops) */
	stateid4 lock_sid;
	bool removed;
};

static const stateid4 ANON_SID;		/* all zeros */
/* script mode: where the next GETATTR's raw attribute values go (NULL: nowhere) */
static char *script_attrs;
static unsigned script_attrs_cap, *script_attrs_len;
static stateid4 BYPASS_SID;		/* all ones, set in main */

/* ---- RPC plumbing ---- */

static void compound_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct reply *r = priv;
	COMPOUND4res *res = data;

	(void)rpc;
	r->done = true;
	r->rpc_status = status;
	if (status != RPC_STATUS_SUCCESS) {
		snprintf(r->err, sizeof r->err, "%s",
			 status == RPC_STATUS_ERROR && data ? (const char *)data :
			 status == RPC_STATUS_TIMEOUT ? "timeout" : "cancelled");
		return;
	}
	r->status = res->status;
	r->nres = res->resarray.resarray_len;
	for (unsigned i = 0; i < res->resarray.resarray_len; i++) {
		nfs_resop4 *op = &res->resarray.resarray_val[i];
		/* every XXX4res starts with its nfsstat4 */
		if (*(nfsstat4 *)&op->nfs_resop4_u != NFS4_OK)
			break;
		switch (op->resop) {
		case OP_GETFH: {
			nfs_fh4 *f = &op->nfs_resop4_u.opgetfh.GETFH4res_u.resok4.object;

			if (f->nfs_fh4_len <= NFS4_FHSIZE) {
				r->fh.len = f->nfs_fh4_len;
				memcpy(r->fh.data, f->nfs_fh4_val, f->nfs_fh4_len);
				r->have_fh = true;
			}
			break;
		}
		case OP_OPEN:
			r->stateid = op->nfs_resop4_u.opopen.OPEN4res_u.resok4.stateid;
			r->rflags = op->nfs_resop4_u.opopen.OPEN4res_u.resok4.rflags;
			r->have_stateid = true;
			break;
		case OP_OPEN_CONFIRM:
			r->stateid = op->nfs_resop4_u.opopen_confirm.OPEN_CONFIRM4res_u.resok4.open_stateid;
			r->have_stateid = true;
			break;
		case OP_OPEN_DOWNGRADE:
			r->stateid = op->nfs_resop4_u.opopen_downgrade.OPEN_DOWNGRADE4res_u.resok4.open_stateid;
			r->have_stateid = true;
			break;
		case OP_LOCK:
			r->stateid = op->nfs_resop4_u.oplock.LOCK4res_u.resok4.lock_stateid;
			r->have_stateid = true;
			break;
		case OP_LOCKU:
			r->stateid = op->nfs_resop4_u.oplocku.LOCKU4res_u.lock_stateid;
			r->have_stateid = true;
			break;
		case OP_CLOSE:
			r->stateid = op->nfs_resop4_u.opclose.CLOSE4res_u.open_stateid;
			r->have_stateid = true;
			break;
		case OP_GETATTR: {
			attrlist4 *v = &op->nfs_resop4_u.opgetattr.GETATTR4res_u.resok4.obj_attributes.attr_vals;

			if (script_attrs && v->attrlist4_len <= script_attrs_cap) {
				memcpy(script_attrs, v->attrlist4_val, v->attrlist4_len);
				*script_attrs_len = v->attrlist4_len;
			}
			break;
		}
		case OP_SETCLIENTID:
			r->clientid = op->nfs_resop4_u.opsetclientid.SETCLIENTID4res_u.resok4.clientid;
			memcpy(r->confirm, op->nfs_resop4_u.opsetclientid.SETCLIENTID4res_u.resok4.setclientid_confirm,
			       sizeof r->confirm);
			break;
		default:
			break;
		}
	}
}

/* The server process is alive: it exists and is not a zombie (a server started in the
 * background by a shell stays a zombie until the shell reaps it, and kill(pid, 0) still
 * succeeds on it). */
static bool server_alive(struct ctx *c)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	if (c->dead || c->pid <= 0)
		return !c->dead;
	if (kill(c->pid, 0) != 0 && errno == ESRCH) {
		c->dead = true;
		return false;
	}
	snprintf(path, sizeof path, "/proc/%d/stat", (int)c->pid);
	f = fopen(path, "r");
	if (!f) {
		c->dead = true;
		return false;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		c->dead = true;
	return !c->dead;
}

/* Service the connection until every reply in r[0..n) came (or the time is up). */
static int wait_replies(struct ctx *c, struct reply *r, unsigned n)
{
	int64_t t0 = clock_mono_ms();

	for (;;) {
		unsigned pending = 0;
		struct pollfd p;
		int rc;

		for (unsigned i = 0; i < n; i++)
			pending += !r[i].done;
		if (!pending)
			return 0;
		if (clock_mono_ms() - t0 > CALL_TIMEOUT_MS)
			return ETIMEDOUT;
		p.fd = rpc_get_fd(c->rpc);
		p.events = (short)rpc_which_events(c->rpc);
		p.revents = 0;
		rc = poll(&p, 1, 200);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return errno;
		if (rpc_service(c->rpc, p.revents) < 0)
			return EPIPE;
	}
}

/* Send ops as one COMPOUND and wait for its answer. 0: answered (r->status is the NFS
 * status); else the call got no answer (r->err says why). */
static int call(struct ctx *c, nfs_argop4 *ops, unsigned n, struct reply *r)
{
	COMPOUND4args args;
	int rc;

	memset(r, 0, sizeof *r);
	memset(&args, 0, sizeof args);
	args.tag.utf8string_val = (char *)"s3f_nfsproto";
	args.tag.utf8string_len = (u_int)strlen(args.tag.utf8string_val);
	args.minorversion = 0;
	args.argarray.argarray_len = n;
	args.argarray.argarray_val = ops;
	if (rpc_nfs4_compound_async(c->rpc, compound_cb, &args, r) != 0) {
		snprintf(r->err, sizeof r->err, "could not send: %s", rpc_get_error(c->rpc));
		return EIO;
	}
	rc = wait_replies(c, r, 1);
	if (rc && !r->err[0])
		snprintf(r->err, sizeof r->err, "no answer: %s", strerror(rc));
	if (rc == 0 && r->rpc_status != RPC_STATUS_SUCCESS)
		rc = EIO;
	return rc;
}

static void connect_cb(struct rpc_context *rpc, int status, void *data, void *priv)
{
	struct reply *r = priv;

	(void)rpc;
	r->done = true;
	r->rpc_status = status;
	if (status != RPC_STATUS_SUCCESS)
		snprintf(r->err, sizeof r->err, "%s", data ? (const char *)data : "failed");
}

/* ---- argument builders ---- */

static void a_putfh(nfs_argop4 *op, const struct fh *fh)
{
	op->argop = OP_PUTFH;
	op->nfs_argop4_u.opputfh.object.nfs_fh4_len = fh->len;
	op->nfs_argop4_u.opputfh.object.nfs_fh4_val = (char *)fh->data;
}

static void a_simple(nfs_argop4 *op, nfs_opnum4 num)
{
	op->argop = num;
}

static void a_str(utf8string *s, const char *v)
{
	s->utf8string_val = (char *)v;
	s->utf8string_len = (u_int)strlen(v);
}

static void a_lookup(nfs_argop4 *op, const char *name)
{
	op->argop = OP_LOOKUP;
	a_str(&op->nfs_argop4_u.oplookup.objname, name);
}

/* fattr4 values are XDR: big-endian words. A builder fills a caller-owned buffer. */
struct fattr_buf {
	uint32_t mask[2];
	char vals[64];
	unsigned len;
};

static void fb_u32(struct fattr_buf *b, uint32_t v)
{
	b->vals[b->len++] = (char)(v >> 24);
	b->vals[b->len++] = (char)(v >> 16);
	b->vals[b->len++] = (char)(v >> 8);
	b->vals[b->len++] = (char)v;
}

/* Attributes must be encoded in attribute-number order. */
static void fb_size(struct fattr_buf *b, uint64_t size)
{
	b->mask[0] |= 1u << FATTR4_SIZE;
	fb_u32(b, (uint32_t)(size >> 32));
	fb_u32(b, (uint32_t)size);
}

static void fb_mode(struct fattr_buf *b, uint32_t mode)
{
	b->mask[1] |= 1u << (FATTR4_MODE - 32);
	fb_u32(b, mode);
}

static void fb_owner(struct fattr_buf *b, const char *who)
{
	size_t n = strlen(who);

	b->mask[1] |= 1u << (FATTR4_OWNER - 32);
	fb_u32(b, (uint32_t)n);
	memcpy(b->vals + b->len, who, n);
	b->len += (unsigned)n;
	while (b->len % 4)
		b->vals[b->len++] = 0;
}

static void fb_time_modify_server(struct fattr_buf *b)
{
	b->mask[1] |= 1u << (FATTR4_TIME_MODIFY_SET - 32);
	fb_u32(b, SET_TO_SERVER_TIME4);
}

static void fb_to(fattr4 *f, struct fattr_buf *b)
{
	f->attrmask.bitmap4_len = 2;
	f->attrmask.bitmap4_val = b->mask;
	f->attr_vals.attrlist4_len = b->len;
	f->attr_vals.attrlist4_val = b->vals;
}

static void owner_new(struct ctx *c, struct owner *o, const char *kind)
{
	snprintf(o->name, sizeof o->name, "%s-%d-%u", kind, (int)getpid(), ++c->serial);
	o->seqid = 0;
}

static void a_open(nfs_argop4 *op, struct ctx *c, struct owner *o, const char *name,
		   uint32_t access, uint32_t deny, bool create, struct fattr_buf *attrs)
{
	OPEN4args *a = &op->nfs_argop4_u.opopen;

	op->argop = OP_OPEN;
	a->seqid = o->seqid;
	a->share_access = access;
	a->share_deny = deny;
	a->owner.clientid = c->clientid;
	a->owner.owner.owner_val = o->name;
	a->owner.owner.owner_len = (u_int)strlen(o->name);
	if (create) {
		a->openhow.opentype = OPEN4_CREATE;
		a->openhow.openflag4_u.how.mode = UNCHECKED4;
		fb_to(&a->openhow.openflag4_u.how.createhow4_u.createattrs, attrs);
	} else {
		a->openhow.opentype = OPEN4_NOCREATE;
	}
	a->claim.claim = CLAIM_NULL;
	a_str(&a->claim.open_claim4_u.file, name);
}

static void a_read(nfs_argop4 *op, const stateid4 *sid, uint64_t off, uint32_t count)
{
	op->argop = OP_READ;
	op->nfs_argop4_u.opread.stateid = *sid;
	op->nfs_argop4_u.opread.offset = off;
	op->nfs_argop4_u.opread.count = count;
}

static char wbuf[4096];

static void a_write(nfs_argop4 *op, const stateid4 *sid, uint64_t off, uint32_t len,
		    stable_how4 how)
{
	op->argop = OP_WRITE;
	op->nfs_argop4_u.opwrite.stateid = *sid;
	op->nfs_argop4_u.opwrite.offset = off;
	op->nfs_argop4_u.opwrite.stable = how;
	op->nfs_argop4_u.opwrite.data.data_len = len;
	op->nfs_argop4_u.opwrite.data.data_val = wbuf;
}

static void a_lock_owner(lock_owner4 *lo, struct ctx *c, struct owner *o)
{
	lo->clientid = c->clientid;
	lo->owner.owner_val = o->name;
	lo->owner.owner_len = (u_int)strlen(o->name);
}

/* LOCK with a new lock owner lo, from the open state (or whatever stateid is given). */
static void a_lock_new(nfs_argop4 *op, struct ctx *c, struct owner *oo, const stateid4 *open_sid,
		       struct owner *lo, nfs_lock_type4 type, uint64_t off, uint64_t len)
{
	LOCK4args *a = &op->nfs_argop4_u.oplock;

	op->argop = OP_LOCK;
	a->locktype = type;
	a->reclaim = 0;
	a->offset = off;
	a->length = len;
	a->locker.new_lock_owner = 1;
	a->locker.locker4_u.open_owner.open_seqid = oo->seqid;
	a->locker.locker4_u.open_owner.open_stateid = *open_sid;
	a->locker.locker4_u.open_owner.lock_seqid = lo->seqid;
	a_lock_owner(&a->locker.locker4_u.open_owner.lock_owner, c, lo);
}

static void a_lockt(nfs_argop4 *op, struct ctx *c, struct owner *lo, uint64_t off, uint64_t len)
{
	op->argop = OP_LOCKT;
	op->nfs_argop4_u.oplockt.locktype = WRITE_LT;
	op->nfs_argop4_u.oplockt.offset = off;
	op->nfs_argop4_u.oplockt.length = len;
	a_lock_owner(&op->nfs_argop4_u.oplockt.owner, c, lo);
}

static void a_locku(nfs_argop4 *op, uint32_t seqid, const stateid4 *sid, uint64_t off,
		    uint64_t len)
{
	op->argop = OP_LOCKU;
	op->nfs_argop4_u.oplocku.locktype = WRITE_LT;
	op->nfs_argop4_u.oplocku.seqid = seqid;
	op->nfs_argop4_u.oplocku.lock_stateid = *sid;
	op->nfs_argop4_u.oplocku.offset = off;
	op->nfs_argop4_u.oplocku.length = len;
}

static void a_close(nfs_argop4 *op, uint32_t seqid, const stateid4 *sid)
{
	op->argop = OP_CLOSE;
	op->nfs_argop4_u.opclose.seqid = seqid;
	op->nfs_argop4_u.opclose.open_stateid = *sid;
}

static void a_getattr(nfs_argop4 *op, uint32_t *mask)
{
	mask[0] = 1u << FATTR4_TYPE | 1u << FATTR4_CHANGE | 1u << FATTR4_SIZE |
		  1u << FATTR4_FILEID;
	mask[1] = 1u << (FATTR4_MODE - 32) | 1u << (FATTR4_NUMLINKS - 32) |
		  1u << (FATTR4_OWNER - 32) | 1u << (FATTR4_OWNER_GROUP - 32) |
		  1u << (FATTR4_TIME_MODIFY - 32);
	op->argop = OP_GETATTR;
	op->nfs_argop4_u.opgetattr.attr_request.bitmap4_len = 2;
	op->nfs_argop4_u.opgetattr.attr_request.bitmap4_val = mask;
}

/* ---- results ---- */

static unsigned n_pass, n_fail;

static const char *st_name(nfsstat4 st)
{
	return st == NFS4_OK ? "NFS4_OK" : nfsstat4_to_str((int)st);
}

/* After a request: it must have been answered and the server must still be there. */
static bool check_alive(struct ctx *c, int rc, const struct reply *r, const char *cas,
			const char *what)
{
	if (!server_alive(c)) {
		if (c->dead_reported)
			return false;
		c->dead_reported = true;
		printf("FAIL proto/%s: the server (pid %d) died at %s%s%s\n", cas, (int)c->pid,
		       what, r && r->err[0] ? ": " : "", r ? r->err : "");
		n_fail++;
		return false;
	}
	if (rc) {
		/* The connection is lost (or the server hangs): nothing after this can run. */
		printf("FAIL proto/%s: no answer to %s: %s\n", cas, what, r ? r->err : "");
		n_fail++;
		c->dead = c->dead_reported = true;
		return false;
	}
	return true;
}

/* ---- setup ---- */

static int setclientid(struct ctx *c)
{
	nfs_argop4 op[1];
	struct reply r;
	char id[64], verf[NFS4_VERIFIER_SIZE];
	SETCLIENTID4args *a = &op[0].nfs_argop4_u.opsetclientid;

	memset(op, 0, sizeof op);
	static unsigned n_clients;

	/* One id per client of this process: a second SETCLIENTID with an id already in
	 * use and another verifier is that client rebooting (its state is dropped). */
	snprintf(id, sizeof id, "s3f_nfsproto-%d-%ld-%u", (int)getpid(), (long)time(NULL),
		 n_clients++);
	for (unsigned i = 0; i < sizeof verf; i++)
		verf[i] = (char)(rand() & 0xff);
	op[0].argop = OP_SETCLIENTID;
	memcpy(a->client.verifier, verf, sizeof verf);
	a->client.id.id_val = id;
	a->client.id.id_len = (u_int)strlen(id);
	a->callback.cb_program = 0x40000000;
	a->callback.cb_location.r_netid = (char *)"tcp";
	a->callback.cb_location.r_addr = (char *)"127.0.0.1.0.0";
	a->callback_ident = 1;
	if (call(c, op, 1, &r) || r.status != NFS4_OK) {
		fprintf(stderr, "s3f_nfsproto: SETCLIENTID: %s\n", r.err[0] ? r.err : st_name(r.status));
		return 1;
	}
	c->clientid = r.clientid;
	memset(op, 0, sizeof op);
	op[0].argop = OP_SETCLIENTID_CONFIRM;
	op[0].nfs_argop4_u.opsetclientid_confirm.clientid = r.clientid;
	memcpy(op[0].nfs_argop4_u.opsetclientid_confirm.setclientid_confirm, r.confirm,
	       sizeof r.confirm);
	if (call(c, op, 1, &r) || r.status != NFS4_OK) {
		fprintf(stderr, "s3f_nfsproto: SETCLIENTID_CONFIRM: %s\n",
			r.err[0] ? r.err : st_name(r.status));
		return 1;
	}
	return 0;
}

/* PUTROOTFH, LOOKUP each component of path, GETFH. */
static int lookup_path(struct ctx *c, const char *path, struct fh *out, nfsstat4 *st)
{
	nfs_argop4 op[MAX_OPS];
	char buf[256], *save = NULL, *comp;
	unsigned n = 0;
	struct reply r;

	memset(op, 0, sizeof op);
	snprintf(buf, sizeof buf, "%s", path);
	a_simple(&op[n++], OP_PUTROOTFH);
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save)) {
		if (n >= MAX_OPS - 1)
			return E2BIG;
		a_lookup(&op[n++], comp);
	}
	a_simple(&op[n++], OP_GETFH);
	if (call(c, op, n, &r))
		return EIO;
	*st = r.status;
	if (r.status != NFS4_OK || !r.have_fh)
		return ENOENT;
	*out = r.fh;
	return 0;
}

/* PUTFH dir; CREATE (directory or symlink) name; GETFH. */
static int create_nonreg(struct ctx *c, const struct fh *dir, const char *name, nfs_ftype4 type,
			 struct fh *out, struct reply *r)
{
	nfs_argop4 op[3];
	struct fattr_buf fb = { { 0, 0 }, { 0 }, 0 };
	CREATE4args *a = &op[1].nfs_argop4_u.opcreate;
	int rc;

	memset(op, 0, sizeof op);
	a_putfh(&op[0], dir);
	op[1].argop = OP_CREATE;
	a->objtype.type = type;
	if (type == NF4LNK)
		a_str(&a->objtype.createtype4_u.linkdata, "target/of/the/link");
	a_str(&a->objname, name);
	fb_mode(&fb, type == NF4DIR ? 0777 : 0777);
	fb_to(&a->createattrs, &fb);
	a_simple(&op[2], OP_GETFH);
	rc = call(c, op, 3, r);
	if (rc == 0 && r->status == NFS4_OK && r->have_fh)
		*out = r->fh;
	return rc;
}

/* Open name in dir for owner o (new owner: seqid 0), confirming the open if asked.
 * create: with mode 0666. */
static int open_name(struct ctx *c, const struct fh *dir, const char *name, struct owner *o,
		     uint32_t access, uint32_t deny, bool create, struct fh *fh, stateid4 *sid,
		     struct reply *r)
{
	nfs_argop4 op[3];
	struct fattr_buf fb = { { 0, 0 }, { 0 }, 0 };
	int rc;

	memset(op, 0, sizeof op);
	fb_mode(&fb, 0666);
	a_putfh(&op[0], dir);
	a_open(&op[1], c, o, name, access, deny, create, &fb);
	a_simple(&op[2], OP_GETFH);
	rc = call(c, op, 3, r);
	if (rc || r->nres >= 2)
		o->seqid++;
	if (rc || r->status != NFS4_OK)
		return rc;
	*fh = r->fh;
	*sid = r->stateid;
	if (r->rflags & OPEN4_RESULT_CONFIRM) {
		memset(op, 0, sizeof op);
		a_putfh(&op[0], fh);
		op[1].argop = OP_OPEN_CONFIRM;
		op[1].nfs_argop4_u.opopen_confirm.open_stateid = *sid;
		op[1].nfs_argop4_u.opopen_confirm.seqid = o->seqid;
		rc = call(c, op, 2, r);
		o->seqid++;
		if (rc || r->status != NFS4_OK)
			return rc;
		*sid = r->stateid;
	}
	return 0;
}

static int write_close(struct ctx *c, const struct fh *fh, struct owner *o, const stateid4 *sid,
		       bool close, struct reply *r)
{
	nfs_argop4 op[3];
	unsigned n = 0;
	int rc;

	memset(op, 0, sizeof op);
	a_putfh(&op[n++], fh);
	a_write(&op[n++], sid, 0, 200, FILE_SYNC4);
	if (close)
		a_close(&op[n++], o->seqid, sid);
	rc = call(c, op, n, r);
	if (close)
		o->seqid++;
	return rc;
}

static int remove_name(struct ctx *c, const struct fh *dir, const char *name, struct reply *r)
{
	nfs_argop4 op[2];

	memset(op, 0, sizeof op);
	a_putfh(&op[0], dir);
	op[1].argop = OP_REMOVE;
	a_str(&op[1].nfs_argop4_u.opremove.target, name);
	return call(c, op, 2, r);
}

/* ---- states ---- */

enum state {
	S_COLD, S_CLOSED, S_OPEN_READ, S_OPEN_WRITE, S_LOCKED, S_REMOVED_OPEN, S_STALE,
	S_FORGED, S_GARBAGE, S_DIR, S_SYMLINK, S_COUNT
};
static const char *const state_names[S_COUNT] = {
	"cold", "closed", "open_read", "open_write", "locked", "removed_open", "stale",
	"forged", "garbage", "dir", "symlink",
};

enum op {
	O_LOCKT, O_LOCK, O_LOCKU, O_OPEN_DOWNGRADE, O_CLOSE, O_READ, O_READ_BYPASS, O_WRITE,
	O_WRITE_STABLE, O_WRITE_ANON, O_COMMIT, O_SETATTR_SIZE, O_SETATTR_SIZE_ANON,
	O_SETATTR_MODE, O_SETATTR_OWNER, O_SETATTR_MTIME, O_GETATTR, O_ACCESS, O_OPEN_READ,
	O_OPEN_WRITE_DENY, O_OPEN_TRUNC, O_DELEGRETURN, O_LOOKUP, O_LOOKUPP, O_READDIR,
	O_READLINK, O_VERIFY, O_NVERIFY, O_LINK, O_RENAME, O_REMOVE, O_OPENATTR,
	O_RELEASE_LOCKOWNER, O_ANON_RW_BURST, O_COUNT
};
static const char *const op_names[O_COUNT] = {
	"LOCKT", "LOCK", "LOCKU", "OPEN_DOWNGRADE", "CLOSE", "READ", "READ_bypass", "WRITE",
	"WRITE_stable", "WRITE_anon", "COMMIT", "SETATTR_size", "SETATTR_size_anon",
	"SETATTR_mode", "SETATTR_owner", "SETATTR_mtime", "GETATTR", "ACCESS", "OPEN_read",
	"OPEN_write_deny", "OPEN_trunc", "DELEGRETURN", "LOOKUP", "LOOKUPP", "READDIR",
	"READLINK", "VERIFY", "NVERIFY", "LINK", "RENAME", "REMOVE", "OPENATTR",
	"RELEASE_LOCKOWNER", "anon_rw_burst",
};

/* Bring o into state s. 0 on success; else the case cannot be run (printed). */
static int setup(struct ctx *c, enum state s, enum op opi, struct obj *o, const char *cas)
{
	struct reply r;
	struct owner creator;
	stateid4 sid;
	int rc = 0;

	memset(o, 0, sizeof *o);
	snprintf(o->name, sizeof o->name, "%s.%s.%d.%u", state_names[s], op_names[opi],
		 (int)getpid(), c->serial++);
	o->is_file = s != S_DIR && s != S_SYMLINK && s != S_GARBAGE;
	o->parent = s == S_COLD ? &c->cold : &c->dir;
	switch (s) {
	case S_COLD: {
		nfs_argop4 op[3];

		if (!c->have_cold) {
			printf("FAIL proto/%s: no cold directory (--cold)\n", cas);
			n_fail++;
			return 1;
		}
		snprintf(o->name, sizeof o->name, "%s", op_names[opi]);
		memset(op, 0, sizeof op);
		a_putfh(&op[0], &c->cold);
		a_lookup(&op[1], o->name);
		a_simple(&op[2], OP_GETFH);
		rc = call(c, op, 3, &r);
		if (!check_alive(c, rc, &r, cas, "setup LOOKUP"))
			return 1;
		if (r.status != NFS4_OK) {
			printf("FAIL proto/%s: cold file %s: %s\n", cas, o->name, st_name(r.status));
			n_fail++;
			return 1;
		}
		o->fh = r.fh;
		return 0;
	}
	case S_DIR:
	case S_SYMLINK:
		rc = create_nonreg(c, &c->dir, o->name, s == S_DIR ? NF4DIR : NF4LNK, &o->fh, &r);
		if (!check_alive(c, rc, &r, cas, "setup CREATE"))
			return 1;
		if (r.status != NFS4_OK) {
			printf("FAIL proto/%s: setup CREATE: %s\n", cas, st_name(r.status));
			n_fail++;
			return 1;
		}
		return 0;
	case S_GARBAGE:
		o->fh.len = 20;
		for (unsigned i = 0; i < o->fh.len; i++)
			o->fh.data[i] = (char)(rand() & 0xff);
		return 0;
	default:
		break;
	}
	/* A regular file with 200 bytes, written and closed by its creator. */
	owner_new(c, &creator, "creator");
	rc = open_name(c, &c->dir, o->name, &creator, OPEN4_SHARE_ACCESS_BOTH, OPEN4_SHARE_DENY_NONE,
		       true, &o->fh, &sid, &r);
	if (!check_alive(c, rc, &r, cas, "setup OPEN"))
		return 1;
	if (r.status != NFS4_OK) {
		printf("FAIL proto/%s: setup OPEN (create): %s\n", cas, st_name(r.status));
		n_fail++;
		return 1;
	}
	rc = write_close(c, &o->fh, &creator, &sid, s != S_OPEN_WRITE && s != S_LOCKED &&
			 s != S_REMOVED_OPEN, &r);
	if (!check_alive(c, rc, &r, cas, "setup WRITE"))
		return 1;
	if (r.status != NFS4_OK) {
		printf("FAIL proto/%s: setup WRITE/CLOSE: %s\n", cas, st_name(r.status));
		n_fail++;
		return 1;
	}
	if (s == S_OPEN_WRITE || s == S_LOCKED || s == S_REMOVED_OPEN) {
		o->have_open = true;
		o->oo = creator;
		o->open_sid = sid;
	}
	if (s == S_OPEN_READ) {
		struct fh fh;

		owner_new(c, &o->oo, "reader");
		rc = open_name(c, &c->dir, o->name, &o->oo, OPEN4_SHARE_ACCESS_READ,
			       OPEN4_SHARE_DENY_NONE, false, &fh, &o->open_sid, &r);
		if (!check_alive(c, rc, &r, cas, "setup OPEN (read)"))
			return 1;
		if (r.status != NFS4_OK) {
			printf("FAIL proto/%s: setup OPEN (read): %s\n", cas, st_name(r.status));
			n_fail++;
			return 1;
		}
		o->have_open = true;
	}
	if (s == S_LOCKED) {
		nfs_argop4 op[2];

		owner_new(c, &o->lo, "locker");
		memset(op, 0, sizeof op);
		a_putfh(&op[0], &o->fh);
		a_lock_new(&op[1], c, &o->oo, &o->open_sid, &o->lo, WRITE_LT, 0, 100);
		rc = call(c, op, 2, &r);
		o->oo.seqid++;
		o->lo.seqid++;
		if (!check_alive(c, rc, &r, cas, "setup LOCK"))
			return 1;
		if (r.status != NFS4_OK) {
			printf("FAIL proto/%s: setup LOCK: %s\n", cas, st_name(r.status));
			n_fail++;
			return 1;
		}
		o->have_lock = true;
		o->lock_sid = r.stateid;
	}
	if (s == S_REMOVED_OPEN || s == S_STALE || s == S_FORGED) {
		rc = remove_name(c, &c->dir, o->name, &r);
		if (!check_alive(c, rc, &r, cas, "setup REMOVE"))
			return 1;
		if (r.status != NFS4_OK) {
			printf("FAIL proto/%s: setup REMOVE: %s\n", cas, st_name(r.status));
			n_fail++;
			return 1;
		}
		o->removed = true;
	}
	if (s == S_FORGED) {
		/* The file's handle with its inode number's high bytes (the handle's last ones,
		 * little-endian) set: a well-formed handle of this export naming no inode. */
		o->fh.data[o->fh.len - 1] = 0x7e;
		o->fh.data[o->fh.len - 2] = 0x5a;
	}
	return 0;
}

/* Best effort: unlock, close and forget what setup left (errors are fine here, but the
 * server must answer and live). */
static bool teardown(struct ctx *c, struct obj *o, const char *cas)
{
	nfs_argop4 op[3];
	struct reply r;
	int rc;

	if (o->have_lock) {
		memset(op, 0, sizeof op);
		a_putfh(&op[0], &o->fh);
		a_locku(&op[1], o->lo.seqid, &o->lock_sid, 0, 100);
		rc = call(c, op, 2, &r);
		if (!check_alive(c, rc, &r, cas, "teardown LOCKU"))
			return false;
		memset(op, 0, sizeof op);
		op[0].argop = OP_RELEASE_LOCKOWNER;
		a_lock_owner(&op[0].nfs_argop4_u.oprelease_lockowner.lock_owner, c, &o->lo);
		rc = call(c, op, 1, &r);
		if (!check_alive(c, rc, &r, cas, "teardown RELEASE_LOCKOWNER"))
			return false;
	}
	if (o->have_open) {
		memset(op, 0, sizeof op);
		a_putfh(&op[0], &o->fh);
		a_close(&op[1], o->oo.seqid, &o->open_sid);
		rc = call(c, op, 2, &r);
		if (!check_alive(c, rc, &r, cas, "teardown CLOSE"))
			return false;
	}
	return true;
}

/* The stateid a state offers for I/O: the lock's, the open's, else the anonymous one. */
static const stateid4 *io_sid(const struct obj *o)
{
	return o->have_lock ? &o->lock_sid : o->have_open ? &o->open_sid : &ANON_SID;
}

/* Many stateless READs and WRITEs in flight at once on one file. */
static int anon_burst(struct ctx *c, struct obj *o, struct reply *last, const char *cas)
{
	static struct reply rs[BURST];
	nfs_argop4 op[2];
	COMPOUND4args args;
	unsigned sent = 0, worst = 0;
	int rc;

	memset(rs, 0, sizeof rs);
	for (unsigned i = 0; i < BURST; i++) {
		memset(op, 0, sizeof op);
		memset(&args, 0, sizeof args);
		a_putfh(&op[0], &o->fh);
		if (i % 2)
			a_write(&op[1], i % 4 == 1 ? &ANON_SID : &BYPASS_SID, (i % 16) * 256, 256,
				UNSTABLE4);
		else
			a_read(&op[1], i % 4 == 0 ? &ANON_SID : &BYPASS_SID, (i % 16) * 256, 256);
		args.tag.utf8string_val = (char *)"burst";
		args.tag.utf8string_len = 5;
		args.argarray.argarray_len = 2;
		args.argarray.argarray_val = op;
		if (rpc_nfs4_compound_async(c->rpc, compound_cb, &args, &rs[i]) != 0) {
			snprintf(rs[i].err, sizeof rs[i].err, "could not send");
			rs[i].done = true;
			rs[i].rpc_status = RPC_STATUS_ERROR;
		}
		sent++;
	}
	rc = wait_replies(c, rs, sent);
	memset(last, 0, sizeof *last);
	for (unsigned i = 0; i < sent; i++) {
		if (!rs[i].done || rs[i].rpc_status != RPC_STATUS_SUCCESS) {
			*last = rs[i];
			if (!last->err[0])
				snprintf(last->err, sizeof last->err, "request %u unanswered", i);
			return rc ? rc : EIO;
		}
		if (rs[i].status != NFS4_OK && !worst)
			worst = i + 1;
	}
	*last = rs[worst ? worst - 1 : 0];
	(void)cas;
	return rc;
}

/* Run operation opi on o. The reply is in *r; returns the call's rc. */
static int run_op(struct ctx *c, enum op opi, struct obj *o, struct reply *r, const char *cas)
{
	nfs_argop4 op[MAX_OPS];
	struct fattr_buf fb = { { 0, 0 }, { 0 }, 0 };
	uint32_t mask[2];
	struct owner other;
	unsigned n = 0;
	int rc;

	memset(op, 0, sizeof op);
	if (opi == O_OPEN_READ || opi == O_OPEN_WRITE_DENY || opi == O_OPEN_TRUNC) {
		/* by name, from the directory, by another owner */
		struct fh fh;
		stateid4 sid;
		struct obj tmp;

		owner_new(c, &other, "opener");
		if (opi == O_OPEN_TRUNC) {
			memset(op, 0, sizeof op);
			fb_size(&fb, 0);
			a_putfh(&op[n++], o->parent);
			a_open(&op[n++], c, &other, o->name, OPEN4_SHARE_ACCESS_WRITE,
			       OPEN4_SHARE_DENY_NONE, true, &fb);
			a_simple(&op[n++], OP_GETFH);
			rc = call(c, op, n, r);
			other.seqid++;
			if (rc || r->status != NFS4_OK)
				return rc;
			sid = r->stateid;
			fh = r->fh;
			if (r->rflags & OPEN4_RESULT_CONFIRM) {
				memset(op, 0, sizeof op);
				a_putfh(&op[0], &fh);
				op[1].argop = OP_OPEN_CONFIRM;
				op[1].nfs_argop4_u.opopen_confirm.open_stateid = sid;
				op[1].nfs_argop4_u.opopen_confirm.seqid = other.seqid;
				rc = call(c, op, 2, r);
				other.seqid++;
				if (rc || r->status != NFS4_OK)
					return rc;
				sid = r->stateid;
			}
		} else {
			rc = open_name(c, o->parent, o->name, &other,
				       opi == O_OPEN_READ ? OPEN4_SHARE_ACCESS_READ :
				       OPEN4_SHARE_ACCESS_BOTH,
				       opi == O_OPEN_READ ? OPEN4_SHARE_DENY_NONE : OPEN4_SHARE_DENY_BOTH,
				       false, &fh, &sid, r);
			if (rc || r->status != NFS4_OK)
				return rc;
		}
		/* close what was opened (the case's answer is the OPEN's; the server must
		 * also answer the CLOSE, which teardown checks) */
		memset(&tmp, 0, sizeof tmp);
		tmp.fh = fh;
		tmp.have_open = true;
		tmp.oo = other;
		tmp.open_sid = sid;
		(void)teardown(c, &tmp, cas);
		return 0;
	}
	if (opi == O_ANON_RW_BURST)
		return anon_burst(c, o, r, cas);

	a_putfh(&op[n++], &o->fh);
	switch (opi) {
	case O_LOCKT:
		owner_new(c, &other, "tester");
		a_lockt(&op[n++], c, &other, 0, 100);
		break;
	case O_LOCK:
		owner_new(c, &other, "locker2");
		a_lock_new(&op[n++], c, &o->oo, o->have_open ? &o->open_sid : &ANON_SID, &other,
			   WRITE_LT, 200, 50);
		break;
	case O_LOCKU:
		a_locku(&op[n++], o->lo.seqid, io_sid(o), 0, 100);
		break;
	case O_OPEN_DOWNGRADE:
		op[n].argop = OP_OPEN_DOWNGRADE;
		op[n].nfs_argop4_u.opopen_downgrade.open_stateid = o->have_open ? o->open_sid : ANON_SID;
		op[n].nfs_argop4_u.opopen_downgrade.seqid = o->oo.seqid;
		op[n].nfs_argop4_u.opopen_downgrade.share_access = OPEN4_SHARE_ACCESS_READ;
		op[n].nfs_argop4_u.opopen_downgrade.share_deny = OPEN4_SHARE_DENY_NONE;
		n++;
		break;
	case O_CLOSE:
		a_close(&op[n++], o->oo.seqid, o->have_open ? &o->open_sid : &ANON_SID);
		break;
	case O_READ:
		a_read(&op[n++], io_sid(o), 0, 4096);
		break;
	case O_READ_BYPASS:
		a_read(&op[n++], &BYPASS_SID, 0, 4096);
		break;
	case O_WRITE:
		a_write(&op[n++], io_sid(o), 100, 300, UNSTABLE4);
		break;
	case O_WRITE_STABLE:
		a_write(&op[n++], io_sid(o), 5000, 1000, FILE_SYNC4);
		break;
	case O_WRITE_ANON:
		a_write(&op[n++], &ANON_SID, 0, 50, UNSTABLE4);
		break;
	case O_COMMIT:
		op[n].argop = OP_COMMIT;
		op[n].nfs_argop4_u.opcommit.offset = 0;
		op[n].nfs_argop4_u.opcommit.count = 0;
		n++;
		break;
	case O_SETATTR_SIZE:
	case O_SETATTR_SIZE_ANON:
	case O_SETATTR_MODE:
	case O_SETATTR_OWNER:
	case O_SETATTR_MTIME:
		if (opi == O_SETATTR_SIZE || opi == O_SETATTR_SIZE_ANON)
			fb_size(&fb, 10);
		if (opi == O_SETATTR_MODE)
			fb_mode(&fb, 06755);
		if (opi == O_SETATTR_OWNER)
			fb_owner(&fb, "1234");
		if (opi == O_SETATTR_MTIME)
			fb_time_modify_server(&fb);
		op[n].argop = OP_SETATTR;
		op[n].nfs_argop4_u.opsetattr.stateid = opi == O_SETATTR_SIZE ? *io_sid(o) : ANON_SID;
		fb_to(&op[n].nfs_argop4_u.opsetattr.obj_attributes, &fb);
		n++;
		break;
	case O_GETATTR:
		a_getattr(&op[n++], mask);
		break;
	case O_ACCESS:
		op[n].argop = OP_ACCESS;
		op[n].nfs_argop4_u.opaccess.access = ACCESS4_READ | ACCESS4_MODIFY | ACCESS4_EXTEND |
						     ACCESS4_EXECUTE | ACCESS4_LOOKUP | ACCESS4_DELETE;
		n++;
		break;
	case O_DELEGRETURN:
		op[n].argop = OP_DELEGRETURN;
		op[n].nfs_argop4_u.opdelegreturn.deleg_stateid = *io_sid(o);
		n++;
		break;
	case O_LOOKUP:
		a_lookup(&op[n++], "x");
		break;
	case O_LOOKUPP:
		a_simple(&op[n++], OP_LOOKUPP);
		a_simple(&op[n++], OP_GETFH);
		break;
	case O_READDIR:
		op[n].argop = OP_READDIR;
		op[n].nfs_argop4_u.opreaddir.cookie = 0;
		op[n].nfs_argop4_u.opreaddir.dircount = 4096;
		op[n].nfs_argop4_u.opreaddir.maxcount = 8192;
		mask[0] = 1u << FATTR4_TYPE | 1u << FATTR4_SIZE;
		mask[1] = 1u << (FATTR4_MODE - 32);
		op[n].nfs_argop4_u.opreaddir.attr_request.bitmap4_len = 2;
		op[n].nfs_argop4_u.opreaddir.attr_request.bitmap4_val = mask;
		n++;
		break;
	case O_READLINK:
		a_simple(&op[n++], OP_READLINK);
		break;
	case O_VERIFY:
	case O_NVERIFY:
		fb_size(&fb, 200);
		op[n].argop = opi == O_VERIFY ? OP_VERIFY : OP_NVERIFY;
		fb_to(opi == O_VERIFY ? &op[n].nfs_argop4_u.opverify.obj_attributes :
		      &op[n].nfs_argop4_u.opnverify.obj_attributes, &fb);
		n++;
		break;
	case O_LINK:
		a_simple(&op[n++], OP_SAVEFH);
		a_putfh(&op[n++], o->parent);
		op[n].argop = OP_LINK;
		a_str(&op[n].nfs_argop4_u.oplink.newname, "hardlink");
		n++;
		break;
	case O_RENAME:
		n = 0;
		a_putfh(&op[n++], o->parent);
		a_simple(&op[n++], OP_SAVEFH);
		op[n].argop = OP_RENAME;
		a_str(&op[n].nfs_argop4_u.oprename.oldname, o->name);
		{
			static char newname[128];

			snprintf(newname, sizeof newname, "%s.renamed", o->name);
			a_str(&op[n].nfs_argop4_u.oprename.newname, newname);
		}
		n++;
		break;
	case O_REMOVE:
		n = 0;
		a_putfh(&op[n++], o->parent);
		op[n].argop = OP_REMOVE;
		a_str(&op[n].nfs_argop4_u.opremove.target, o->name);
		n++;
		break;
	case O_OPENATTR:
		op[n].argop = OP_OPENATTR;
		op[n].nfs_argop4_u.opopenattr.createdir = 0;
		n++;
		break;
	case O_RELEASE_LOCKOWNER:
		n = 0;
		op[n].argop = OP_RELEASE_LOCKOWNER;
		if (o->have_lock) {
			a_lock_owner(&op[n].nfs_argop4_u.oprelease_lockowner.lock_owner, c, &o->lo);
		} else {
			owner_new(c, &other, "nolocks");
			a_lock_owner(&op[n].nfs_argop4_u.oprelease_lockowner.lock_owner, c, &other);
		}
		n++;
		break;
	default:
		break;
	}
	rc = call(c, op, n, r);
	/* seqid-bearing operations of the state's owners */
	if (opi == O_OPEN_DOWNGRADE || opi == O_CLOSE || opi == O_LOCK)
		o->oo.seqid++;
	if (opi == O_LOCKU)
		o->lo.seqid++;
	if (rc == 0 && r->status == NFS4_OK) {
		if (opi == O_CLOSE)
			o->have_open = false;
		if (opi == O_OPEN_DOWNGRADE && r->have_stateid)
			o->open_sid = r->stateid;
		if (opi == O_LOCKU && r->have_stateid)
			o->lock_sid = r->stateid;
		if (opi == O_RELEASE_LOCKOWNER && o->have_lock)
			o->have_lock = false;
	}
	return rc;
}

/* What NFSv4 itself requires of a few answers (RFC 7530): -1 = anything goes. */
static int expected(enum state s, enum op opi)
{
	if (s == S_STALE || s == S_FORGED) {
		/* the handle is refused at PUTFH; the by-name operations find no name */
		if (opi == O_OPEN_READ || opi == O_OPEN_WRITE_DENY || opi == O_REMOVE ||
		    opi == O_RENAME || opi == O_RELEASE_LOCKOWNER || opi == O_OPEN_TRUNC)
			return -1;
		return NFS4ERR_STALE;
	}
	if (opi == O_LOCKT) {
		switch (s) {
		case S_COLD: case S_CLOSED: case S_OPEN_READ: case S_OPEN_WRITE:
			return NFS4_OK;
		case S_LOCKED:
			return NFS4ERR_DENIED;
		default:
			return -1;
		}
	}
	/* (Not for removed_open: s3files drops a removed file's inode at once, open or not;
	 * the Linux client renames an open file instead of removing it. doc/SEMANTICS.md.) */
	if (opi == O_GETATTR && s != S_GARBAGE && s != S_REMOVED_OPEN)
		return NFS4_OK;
	return -1;
}

static int usage(void)
{
	fprintf(stderr, "usage: s3f_nfsproto HOST PORT PSEUDO PID [--from N] [--only SUBSTR] "
		"[--cold DIR] [--list]\n"
		"       s3f_nfsproto script HOST PORT PSEUDO < STEPS\n");
	return 2;
}

/* ---- script mode ---- */

/* One NFSv4.0 client per identity: its own connection, AUTH_SYS credentials, client id. */
struct who {
	unsigned uid, gid;
	struct ctx c;
};

static const char *err_name(nfsstat4 st)
{
	const char *n;

	if (st == NFS4_OK)
		return "OK";
	n = strerrorname_np(nfsstat4_to_errno((int)st) < 0 ? -nfsstat4_to_errno((int)st) :
			    nfsstat4_to_errno((int)st));
	return n && (st < 10000) ? n : st_name(st);
}

static int ctx_connect(struct ctx *c, const char *host, int port, unsigned uid, unsigned gid)
{
	struct reply r;

	memset(c, 0, sizeof *c);
	c->rpc = rpc_init_context();
	if (!c->rpc)
		return 1;
	rpc_set_auth(c->rpc, libnfs_authunix_create("s3f-nfsproto", uid, gid, 0, NULL));
	memset(&r, 0, sizeof r);
	if (rpc_connect_port_async(c->rpc, host, port, NFS4_PROGRAM, NFS_V4, connect_cb, &r) != 0 ||
	    wait_replies(c, &r, 1) != 0 || r.rpc_status != RPC_STATUS_SUCCESS) {
		fprintf(stderr, "s3f_nfsproto: connect %s:%d: %s\n", host, port,
			r.err[0] ? r.err : rpc_get_error(c->rpc));
		return 1;
	}
	return setclientid(c);
}

/* The handle of pseudo/rel's parent directory and rel's last component. */
static int script_parent(struct ctx *c, const char *pseudo, const char *rel, struct fh *dir,
			 const char **name, nfsstat4 *st)
{
	char path[1024];
	const char *slash = strrchr(rel, '/');

	if (slash) {
		snprintf(path, sizeof path, "%s/%.*s", pseudo, (int)(slash - rel), rel);
		*name = slash + 1;
	} else {
		snprintf(path, sizeof path, "%s", pseudo);
		*name = rel;
	}
	return lookup_path(c, path, dir, st) == EIO ? EIO : 0;
}

/* GETATTR of dir/name (type, mode, owner, owner_group) into out ("MODE UID GID") and
 * *type. */
static nfsstat4 script_getattr(struct ctx *c, const struct fh *dir, const char *name,
			       nfs_ftype4 *type, char *out, size_t cap)
{
	static char raw[512];
	static unsigned raw_len;
	nfs_argop4 op[3];
	struct reply r;
	uint32_t mask[2];
	const unsigned char *p;
	uint32_t mode, n;
	char owner[32], group[32];

	memset(op, 0, sizeof op);
	a_putfh(&op[0], dir);
	a_lookup(&op[1], name);
	mask[0] = 1u << FATTR4_TYPE;
	mask[1] = 1u << (FATTR4_MODE - 32) | 1u << (FATTR4_OWNER - 32) |
		  1u << (FATTR4_OWNER_GROUP - 32);
	op[2].argop = OP_GETATTR;
	op[2].nfs_argop4_u.opgetattr.attr_request.bitmap4_len = 2;
	op[2].nfs_argop4_u.opgetattr.attr_request.bitmap4_val = mask;
	raw_len = 0;
	script_attrs = raw;
	script_attrs_cap = sizeof raw;
	script_attrs_len = &raw_len;
	if (call(c, op, 3, &r))
		r.status = NFS4ERR_IO;
	script_attrs = NULL;
	if (r.status != NFS4_OK)
		return r.status;
	/* type (4), mode (4), owner (string), owner_group (string), in attribute order */
	p = (const unsigned char *)raw;
	if (raw_len < 12)
		return NFS4ERR_BADZDR;
	*type = (nfs_ftype4)((uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]);
	mode = (uint32_t)p[4] << 24 | p[5] << 16 | p[6] << 8 | p[7];
	p += 8;
	n = (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
	if (n >= sizeof owner || 12 + n > raw_len)
		return NFS4ERR_BADZDR;
	memcpy(owner, p + 4, n);
	owner[n] = 0;
	p += 4 + ((n + 3) & ~3u);
	n = (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
	if (n >= sizeof group)
		return NFS4ERR_BADZDR;
	memcpy(group, p + 4, n);
	group[n] = 0;
	snprintf(out, cap, "%o %s %s", mode & 07777, owner, group);
	return NFS4_OK;
}

static nfsstat4 script_setattr(struct ctx *c, const struct fh *dir, const char *name,
			       struct fattr_buf *fb)
{
	nfs_argop4 op[3];
	struct reply r;

	memset(op, 0, sizeof op);
	a_putfh(&op[0], dir);
	a_lookup(&op[1], name);
	op[2].argop = OP_SETATTR;
	op[2].nfs_argop4_u.opsetattr.stateid = ANON_SID;
	fb_to(&op[2].nfs_argop4_u.opsetattr.obj_attributes, fb);
	if (call(c, op, 3, &r))
		return NFS4ERR_IO;
	return r.status;
}

/* The size of fh. */
static nfsstat4 script_size(struct ctx *c, const struct fh *fh, uint64_t *size)
{
	static char raw[64];
	static unsigned raw_len;
	uint32_t m[2] = { 1u << FATTR4_SIZE, 0 };
	nfs_argop4 g[2];
	struct reply r;

	memset(g, 0, sizeof g);
	a_putfh(&g[0], fh);
	g[1].argop = OP_GETATTR;
	g[1].nfs_argop4_u.opgetattr.attr_request.bitmap4_len = 2;
	g[1].nfs_argop4_u.opgetattr.attr_request.bitmap4_val = m;
	raw_len = 0;
	script_attrs = raw;
	script_attrs_cap = sizeof raw;
	script_attrs_len = &raw_len;
	if (call(c, g, 2, &r))
		r.status = NFS4ERR_IO;
	script_attrs = NULL;
	if (r.status != NFS4_OK)
		return r.status;
	if (raw_len < 8)
		return NFS4ERR_BADZDR;
	*size = 0;
	for (int i = 0; i < 8; i++)
		*size = *size << 8 | (unsigned char)raw[i];
	return NFS4_OK;
}

static void fb_owner_group(struct fattr_buf *b, const char *who)
{
	size_t n = strlen(who);

	b->mask[1] |= 1u << (FATTR4_OWNER_GROUP - 32);
	fb_u32(b, (uint32_t)n);
	memcpy(b->vals + b->len, who, n);
	b->len += (unsigned)n;
	while (b->len % 4)
		b->vals[b->len++] = 0;
}

static nfsstat4 script_step(struct ctx *c, const char *pseudo, char **a, int na, char *out,
			    size_t cap)
{
	const char *op = a[0], *name;
	struct fattr_buf fb = { { 0, 0 }, { 0 }, 0 };
	struct fh dir, fh;
	struct reply r;
	nfsstat4 st;
	nfs_ftype4 type;
	char tmp[128];

	snprintf(out, cap, "OK");
	if (script_parent(c, pseudo, a[1], &dir, &name, &st))
		return NFS4ERR_IO;
	if (st != NFS4_OK)
		return st;
	if (strcmp(op, "mode") == 0)
		return script_getattr(c, &dir, name, &type, out, cap);
	if (strcmp(op, "unlink") == 0 || strcmp(op, "rmdir") == 0) {
		/* NFSv4 REMOVE takes any type: the caller's system call checks it (as a
		 * client's VFS does before it asks). */
		st = script_getattr(c, &dir, name, &type, tmp, sizeof tmp);
		if (st != NFS4_OK)
			return st;
		if (op[0] == 'u' && type == NF4DIR)
			return NFS4ERR_ISDIR;
		if (op[0] == 'r' && type != NF4DIR)
			return NFS4ERR_NOTDIR;
		if (remove_name(c, &dir, name, &r))
			return NFS4ERR_IO;
		return r.status;
	}
	if (strcmp(op, "rename") == 0 && na > 2) {
		struct fh ndir;
		const char *nname;
		nfs_argop4 ops[4];

		if (script_parent(c, pseudo, a[2], &ndir, &nname, &st))
			return NFS4ERR_IO;
		if (st != NFS4_OK)
			return st;
		memset(ops, 0, sizeof ops);
		a_putfh(&ops[0], &dir);
		a_simple(&ops[1], OP_SAVEFH);
		a_putfh(&ops[2], &ndir);
		ops[3].argop = OP_RENAME;
		a_str(&ops[3].nfs_argop4_u.oprename.oldname, name);
		a_str(&ops[3].nfs_argop4_u.oprename.newname, nname);
		if (call(c, ops, 4, &r))
			return NFS4ERR_IO;
		return r.status;
	}
	if (strcmp(op, "mkdir") == 0 && na > 2) {
		nfs_argop4 ops[2];
		CREATE4args *ca = &ops[1].nfs_argop4_u.opcreate;

		memset(ops, 0, sizeof ops);
		fb_mode(&fb, (uint32_t)strtoul(a[2], NULL, 8));
		a_putfh(&ops[0], &dir);
		ops[1].argop = OP_CREATE;
		ca->objtype.type = NF4DIR;
		a_str(&ca->objname, name);
		fb_to(&ca->createattrs, &fb);
		if (call(c, ops, 2, &r))
			return NFS4ERR_IO;
		return r.status;
	}
	if (strcmp(op, "mknod") == 0 && na > 3) {
		nfs_argop4 ops[2];
		CREATE4args *ca = &ops[1].nfs_argop4_u.opcreate;
		const char *t = a[2];

		memset(ops, 0, sizeof ops);
		fb_mode(&fb, (uint32_t)strtoul(a[3], NULL, 8));
		a_putfh(&ops[0], &dir);
		ops[1].argop = OP_CREATE;
		if (strcmp(t, "fifo") == 0) {
			ca->objtype.type = NF4FIFO;
		} else if (strcmp(t, "sock") == 0) {
			ca->objtype.type = NF4SOCK;
		} else if ((strcmp(t, "chr") == 0 || strcmp(t, "blk") == 0) && na > 5) {
			ca->objtype.type = t[0] == 'c' ? NF4CHR : NF4BLK;
			ca->objtype.createtype4_u.devdata.specdata1 = (uint32_t)strtoul(a[4], NULL, 0);
			ca->objtype.createtype4_u.devdata.specdata2 = (uint32_t)strtoul(a[5], NULL, 0);
		} else {
			return NFS4ERR_INVAL;
		}
		a_str(&ca->objname, name);
		fb_to(&ca->createattrs, &fb);
		if (call(c, ops, 2, &r))
			return NFS4ERR_IO;
		return r.status;
	}
	if ((strcmp(op, "create") == 0 && na > 2) || strcmp(op, "write") == 0) {
		struct owner o;
		stateid4 sid;
		bool create = op[0] == 'c';
		nfs_argop4 ops[4];

		owner_new(c, &o, "script");
		memset(ops, 0, sizeof ops);
		fb_mode(&fb, create ? (uint32_t)strtoul(a[2], NULL, 8) : 0);
		a_putfh(&ops[0], &dir);
		a_open(&ops[1], c, &o, name, OPEN4_SHARE_ACCESS_WRITE, OPEN4_SHARE_DENY_NONE,
		       create, &fb);
		if (create) {
			/* O_EXCL: an existing name is EEXIST */
			ops[1].nfs_argop4_u.opopen.openhow.openflag4_u.how.mode = GUARDED4;
		}
		a_simple(&ops[2], OP_GETFH);
		if (call(c, ops, 3, &r))
			return NFS4ERR_IO;
		o.seqid++;
		if (r.status != NFS4_OK)
			return r.status;
		fh = r.fh;
		sid = r.stateid;
		if (r.rflags & OPEN4_RESULT_CONFIRM) {
			memset(ops, 0, sizeof ops);
			a_putfh(&ops[0], &fh);
			ops[1].argop = OP_OPEN_CONFIRM;
			ops[1].nfs_argop4_u.opopen_confirm.open_stateid = sid;
			ops[1].nfs_argop4_u.opopen_confirm.seqid = o.seqid++;
			if (call(c, ops, 2, &r) || r.status != NFS4_OK)
				return r.status ? r.status : NFS4ERR_IO;
			sid = r.stateid;
		}
		st = NFS4_OK;
		if (!create) {
			uint64_t size = 0;

			/* one byte at the end */
			st = script_size(c, &fh, &size);
			if (st == NFS4_OK) {
				memset(ops, 0, sizeof ops);
				a_putfh(&ops[0], &fh);
				a_write(&ops[1], &sid, size, 1, FILE_SYNC4);
				st = call(c, ops, 2, &r) ? NFS4ERR_IO : r.status;
			}
		}
		memset(ops, 0, sizeof ops);
		a_putfh(&ops[0], &fh);
		a_close(&ops[1], o.seqid++, &sid);
		if (call(c, ops, 2, &r))
			return NFS4ERR_IO;
		return st != NFS4_OK ? st : r.status;
	}
	if (strcmp(op, "chmod") == 0 && na > 2) {
		fb_mode(&fb, (uint32_t)strtoul(a[2], NULL, 8));
		return script_setattr(c, &dir, name, &fb);
	}
	if (strcmp(op, "chown") == 0 && na > 3) {
		/* owner (36) before owner_group (37): attribute order */
		if (strcmp(a[2], "-1"))
			fb_owner(&fb, a[2]);
		if (strcmp(a[3], "-1"))
			fb_owner_group(&fb, a[3]);
		return script_setattr(c, &dir, name, &fb);
	}
	if (strcmp(op, "truncate") == 0 && na > 2) {
		fb_size(&fb, strtoull(a[2], NULL, 10));
		return script_setattr(c, &dir, name, &fb);
	}
	return NFS4ERR_NOTSUPP;
}

static int script_main(const char *host, int port, const char *pseudo)
{
	static struct who w[16];
	size_t nw = 0;
	char line[2048];
	int lineno = 0;

	while (fgets(line, sizeof line, stdin)) {
		char *a[12], *save = NULL, *t, out[128];
		int na = 0;
		unsigned uid, gid;
		struct ctx *c = NULL;
		nfsstat4 st;

		lineno++;
		for (t = strtok_r(line, " \t\n", &save); t && na < 12; t = strtok_r(NULL, " \t\n", &save))
			a[na++] = t;
		if (na == 0 || a[0][0] == '#')
			continue;
		if (na < 5) {
			fprintf(stderr, "s3f_nfsproto: line %d: LABEL UID GID OP ARGS...\n", lineno);
			return 2;
		}
		uid = (unsigned)atoi(a[1]);
		gid = (unsigned)atoi(a[2]);
		for (size_t i = 0; i < nw && !c; i++)
			if (w[i].uid == uid && w[i].gid == gid)
				c = &w[i].c;
		if (!c) {
			if (nw == sizeof w / sizeof w[0] || ctx_connect(&w[nw].c, host, port, uid, gid))
				return 2;
			w[nw].uid = uid;
			w[nw].gid = gid;
			c = &w[nw++].c;
		}
		st = script_step(c, pseudo, a + 3, na - 3, out, sizeof out);
		if (st == NFS4ERR_NOTSUPP && strcmp(a[3], "mode")) {
			fprintf(stderr, "s3f_nfsproto: line %d: unknown operation %s\n", lineno, a[3]);
			return 2;
		}
		printf("%s: %s\n", a[0], st == NFS4_OK ? out : err_name(st));
	}
	for (size_t i = 0; i < nw; i++)
		rpc_destroy_context(w[i].c.rpc);
	return 0;
}

int main(int argc, char **argv)
{
	struct ctx c;
	struct reply r;
	const char *host, *pseudo, *only = NULL, *cold = NULL;
	unsigned from = 0, idx = 0;
	bool list = false;
	int port, rc;
	char path[512];
	nfsstat4 st;

	for (unsigned i = 0; i < sizeof wbuf; i++)
		wbuf[i] = (char)('a' + i % 26);
	if (argc == 5 && strcmp(argv[1], "script") == 0)
		return script_main(argv[2], atoi(argv[3]), argv[4]);
	if (argc < 5)
		return usage();
	host = argv[1];
	port = atoi(argv[2]);
	pseudo = argv[3];
	memset(&c, 0, sizeof c);
	c.pid = (pid_t)atoi(argv[4]);
	for (int i = 5; i < argc; i++) {
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
			from = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			only = argv[++i];
		else if (strcmp(argv[i], "--cold") == 0 && i + 1 < argc)
			cold = argv[++i];
		else if (strcmp(argv[i], "--list") == 0)
			list = true;
		else
			return usage();
	}
	if (list) {
		for (int s = 0; s < S_COUNT; s++)
			for (int o = 0; o < O_COUNT; o++)
				printf("%s.%s\n", state_names[s], op_names[o]);
		return 0;
	}
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	memset(&BYPASS_SID, 0xff, sizeof BYPASS_SID);
	setvbuf(stdout, NULL, _IOLBF, 0);

	c.rpc = rpc_init_context();
	if (!c.rpc) {
		fprintf(stderr, "s3f_nfsproto: no RPC context\n");
		return 2;
	}
	rpc_set_auth(c.rpc, libnfs_authunix_create("s3f-nfsproto", 0, 0, 0, NULL));
	memset(&r, 0, sizeof r);
	if (rpc_connect_port_async(c.rpc, host, port, NFS4_PROGRAM, NFS_V4, connect_cb, &r) != 0 ||
	    wait_replies(&c, &r, 1) != 0 || r.rpc_status != RPC_STATUS_SUCCESS) {
		fprintf(stderr, "s3f_nfsproto: connect %s:%d: %s\n", host, port,
			r.err[0] ? r.err : rpc_get_error(c.rpc));
		rpc_destroy_context(c.rpc);
		return 2;
	}
	if (setclientid(&c)) {
		rpc_destroy_context(c.rpc);
		return 2;
	}
	snprintf(path, sizeof path, "%s/proto", pseudo);
	rc = lookup_path(&c, path, &c.dir, &st);
	if (rc == ENOENT && st == NFS4ERR_NOENT) {
		struct fh exp;

		if (lookup_path(&c, pseudo, &exp, &st) == 0 &&
		    create_nonreg(&c, &exp, "proto", NF4DIR, &c.dir, &r) == 0 && r.status == NFS4_OK)
			rc = 0;
	}
	if (rc) {
		fprintf(stderr, "s3f_nfsproto: %s: %s\n", path, rc == EIO ? "no answer" : st_name(st));
		rpc_destroy_context(c.rpc);
		return 2;
	}
	if (cold) {
		snprintf(path, sizeof path, "%s/proto/%s", pseudo, cold);
		c.have_cold = lookup_path(&c, path, &c.cold, &st) == 0;
	}

	for (int s = 0; s < S_COUNT && !c.dead; s++) {
		for (int o = 0; o < O_COUNT && !c.dead; o++, idx++) {
			char cas[128];
			struct obj ob;
			int want;

			snprintf(cas, sizeof cas, "%s.%s", state_names[s], op_names[o]);
			if (idx < from || (only && !strstr(cas, only)))
				continue;
			if (setup(&c, (enum state)s, (enum op)o, &ob, cas))
				goto next;
			rc = run_op(&c, (enum op)o, &ob, &r, cas);
			if (!check_alive(&c, rc, &r, cas, op_names[o]))
				goto next;
			want = expected((enum state)s, (enum op)o);
			if (want >= 0 && r.status != (nfsstat4)want) {
				printf("FAIL proto/%s: answered %s, NFSv4 wants %s\n", cas,
				       st_name(r.status), st_name((nfsstat4)want));
				n_fail++;
			} else {
				printf("PASS proto/%s %s\n", cas, st_name(r.status));
				n_pass++;
			}
			teardown(&c, &ob, cas);
next:
			if (c.dead) {
				printf("DEAD %u\n", idx);
				break;
			}
		}
	}
	fprintf(stderr, "s3f_nfsproto: %u passed, %u failed%s\n", n_pass, n_fail,
		c.dead ? ", the server died" : "");
	rpc_destroy_context(c.rpc);
	return c.dead ? 3 : n_fail ? 1 : 0;
}
