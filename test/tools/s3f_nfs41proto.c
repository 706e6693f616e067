/*
 * s3f_nfs41proto.c — test tool: NFSv4.1 requests no ordinary client sends in that order,
 * built by hand against a file (or directory, or symlink, or handle) in every state it can
 * be in. After each request it checks that the server answered and that the server process
 * is still alive. It is the NFSv4.1 twin of s3f_nfsproto (NFSv4.0, libnfs): libnfs 4.0
 * cannot encode NFSv4.1 operations, so this tool is its own client: ONC RPC over TCP with
 * record marking, AUTH_SYS (uid 0), and a hand-written XDR encoder and decoder of
 * COMPOUND with minorversion 1 (RFC 8881).
 *
 *   s3f_nfs41proto HOST PORT PSEUDO PID [--from N] [--only SUBSTR] [--cold DIR] [--list]
 *
 *   PSEUDO   the export's pseudo path, e.g. /s3files; the tool works in PSEUDO/proto41
 *            (made if missing)
 *   PID      the server process, checked after every request (exists, not a zombie)
 *   --from N skip the first N cases (a suite restarts a crashed server and goes on)
 *   --only S run only the cases whose name contains S
 *   --cold D state "cold": files never opened through NFS, one per operation, named
 *            D/<op> below PSEUDO/proto41 (the suite puts them into S3 beforehand)
 *   --list   print the case names and exit
 *
 * Session: EXCHANGE_ID (SP4_NONE), CREATE_SESSION with flags 0 — no persistent reply
 * cache and no back channel (this tool serves no callbacks; the server cannot recall,
 * so it should grant no delegation, and it says so with SEQ4_STATUS_CB_PATH_DOWN, which
 * the tool ignores) — then RECLAIM_COMPLETE. Every later COMPOUND starts with SEQUENCE on
 * slot 0 (the tool tracks the slot's sequence id: it advances when SEQUENCE succeeded).
 * When the server forgets the session (BADSESSION, a restarted server) or the slot's
 * sequence id is lost, the tool makes a new session; when the server closes the
 * connection after a malformed request, it connects again (NFSv4.1 binds the new
 * connection to the session at its first SEQUENCE).
 *
 * States: cold (imported, never opened), closed (written and closed: no open state),
 * open_read (an open for reading held by another owner), open_write (open for writing),
 * locked (open for writing, a write lock on [0,100) held), removed_open (open, then its
 * name removed), stale (closed, then removed: its old handle), forged (a handle of this
 * export naming an inode that does not exist), garbage (random bytes), dir, symlink.
 * Operations: every NFSv4.1 operation (3..58; the NFSv4.0-only ones, which NFSv4.1
 * forbids, included), a few NFSv4.2 ones (59..75, with plausible arguments: must be
 * refused in a minorversion-1 COMPOUND) and OP_ILLEGAL, on the object's handle (or by its
 * name in its directory), with the stateid the state has (the lock's, the open's, the
 * anonymous one; the "current stateid" {1, 0} where it fits); and malformed requests: no
 * SEQUENCE first, a wrong slot sequence id, a slot that does not exist, a second SEQUENCE
 * mid-COMPOUND, a truncated body, a WRITE whose length exceeds its data, a 4 GiB READ,
 * READDIR with maxcount 0 and 0xffffffff, names of 0, 300 and 10,000 bytes, a GETATTR bitmap of
 * 1,000 words, 200 operations in one COMPOUND, an unknown operation number.
 *
 * Output, one line per case:
 *   PASS proto41/STATE.OP NFS4ERR_...      an answer came and the server lives (the
 *                                          status is the COMPOUND's; RPC_GARBAGE_ARGS
 *                                          when the server refused to decode it)
 *   FAIL proto41/STATE.OP: why             no answer, the server died, or an answer that
 *                                          contradicts NFSv4.1: LOCKT without a conflicting
 *                                          lock granted, with one denied; a stale handle
 *                                          refused as stale; an operation without SEQUENCE
 *                                          NFS4ERR_OP_NOT_IN_SESSION; a wrong sequence id
 *                                          NFS4ERR_SEQ_MISORDERED; a slot past the table
 *                                          NFS4ERR_BADSLOT; SEQUENCE mid-COMPOUND
 *                                          NFS4ERR_SEQUENCE_POS; the NFSv4.0-only operations
 *                                          NFS4ERR_NOTSUPP; OP_ILLEGAL NFS4ERR_OP_ILLEGAL;
 *                                          an NFSv4.2 operation NFS4ERR_OP_ILLEGAL or
 *                                          NFS4ERR_NOTSUPP; GETATTR of a live object OK
 *   DEAD N                                  the server died (or stopped answering) at case
 *                                          N (0-based): rerun with --from N+1 after
 *                                          restarting it
 * Exit: 0 all passed, 1 a case failed, 3 the server died, 2 usage or setup errors.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <errno.h>
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

#define CALL_TIMEOUT_MS 30000
#define REQ_CAP (256 * 1024)
#define REP_CAP (4 * 1024 * 1024)
#define MAX_RES 256
#define FHSIZE 128
#define NFS_PROG 100003
#define CB_PROG 0x40000000u

/* operation numbers (RFC 8881 / 7862 / 8276) */
enum {
	OP_ACCESS = 3, OP_CLOSE, OP_COMMIT, OP_CREATE, OP_DELEGPURGE, OP_DELEGRETURN,
	OP_GETATTR, OP_GETFH, OP_LINK, OP_LOCK, OP_LOCKT, OP_LOCKU, OP_LOOKUP, OP_LOOKUPP,
	OP_NVERIFY, OP_OPEN, OP_OPENATTR, OP_OPEN_CONFIRM, OP_OPEN_DOWNGRADE, OP_PUTFH,
	OP_PUTPUBFH, OP_PUTROOTFH, OP_READ, OP_READDIR, OP_READLINK, OP_REMOVE, OP_RENAME,
	OP_RENEW, OP_RESTOREFH, OP_SAVEFH, OP_SECINFO, OP_SETATTR, OP_SETCLIENTID,
	OP_SETCLIENTID_CONFIRM, OP_VERIFY, OP_WRITE, OP_RELEASE_LOCKOWNER, OP_BACKCHANNEL_CTL,
	OP_BIND_CONN_TO_SESSION, OP_EXCHANGE_ID, OP_CREATE_SESSION, OP_DESTROY_SESSION,
	OP_FREE_STATEID, OP_GET_DIR_DELEGATION, OP_GETDEVICEINFO, OP_GETDEVICELIST,
	OP_LAYOUTCOMMIT, OP_LAYOUTGET, OP_LAYOUTRETURN, OP_SECINFO_NO_NAME, OP_SEQUENCE,
	OP_SET_SSV, OP_TEST_STATEID, OP_WANT_DELEGATION, OP_DESTROY_CLIENTID,
	OP_RECLAIM_COMPLETE, OP_ALLOCATE, OP_COPY, OP_COPY_NOTIFY, OP_DEALLOCATE, OP_IO_ADVISE,
	OP_LAYOUTERROR, OP_LAYOUTSTATS, OP_OFFLOAD_CANCEL, OP_OFFLOAD_STATUS, OP_READ_PLUS,
	OP_SEEK, OP_WRITE_SAME, OP_CLONE, OP_GETXATTR, OP_SETXATTR, OP_LISTXATTRS,
	OP_REMOVEXATTR, OP_ILLEGAL = 10044
};

/* the statuses the tool checks for or must name */
enum {
	NFS4_OK = 0, NFS4ERR_STALE = 70, NFS4ERR_NOTSUPP = 10004, NFS4ERR_DENIED = 10010,
	NFS4ERR_OP_ILLEGAL = 10044, NFS4ERR_BADSESSION = 10052, NFS4ERR_BADSLOT = 10053,
	NFS4ERR_SEQ_MISORDERED = 10063, NFS4ERR_SEQUENCE_POS = 10064,
	NFS4ERR_OP_NOT_IN_SESSION = 10071, NFS4ERR_DEADSESSION = 10078,
	NFS4ERR_STALE_CLIENTID = 10022, NFS4ERR_EXPIRED = 10011,
	/* not NFS statuses: the RPC layer's refusals, offset so they print apart */
	RPC_REFUSED = 0x70000000,
};

static const struct {
	unsigned v;
	const char *n;
} status_names[] = {
	{ 0, "NFS4_OK" }, { 1, "NFS4ERR_PERM" }, { 2, "NFS4ERR_NOENT" }, { 5, "NFS4ERR_IO" },
	{ 6, "NFS4ERR_NXIO" }, { 13, "NFS4ERR_ACCESS" }, { 17, "NFS4ERR_EXIST" },
	{ 18, "NFS4ERR_XDEV" }, { 20, "NFS4ERR_NOTDIR" }, { 21, "NFS4ERR_ISDIR" },
	{ 22, "NFS4ERR_INVAL" }, { 27, "NFS4ERR_FBIG" }, { 28, "NFS4ERR_NOSPC" },
	{ 30, "NFS4ERR_ROFS" }, { 31, "NFS4ERR_MLINK" }, { 63, "NFS4ERR_NAMETOOLONG" },
	{ 66, "NFS4ERR_NOTEMPTY" }, { 69, "NFS4ERR_DQUOT" }, { 70, "NFS4ERR_STALE" },
	{ 10001, "NFS4ERR_BADHANDLE" }, { 10003, "NFS4ERR_BAD_COOKIE" },
	{ 10004, "NFS4ERR_NOTSUPP" }, { 10005, "NFS4ERR_TOOSMALL" },
	{ 10006, "NFS4ERR_SERVERFAULT" }, { 10007, "NFS4ERR_BADTYPE" },
	{ 10008, "NFS4ERR_DELAY" }, { 10009, "NFS4ERR_SAME" }, { 10010, "NFS4ERR_DENIED" },
	{ 10011, "NFS4ERR_EXPIRED" }, { 10012, "NFS4ERR_LOCKED" }, { 10013, "NFS4ERR_GRACE" },
	{ 10014, "NFS4ERR_FHEXPIRED" }, { 10015, "NFS4ERR_SHARE_DENIED" },
	{ 10016, "NFS4ERR_WRONGSEC" }, { 10017, "NFS4ERR_CLID_INUSE" },
	{ 10018, "NFS4ERR_RESOURCE" }, { 10019, "NFS4ERR_MOVED" },
	{ 10020, "NFS4ERR_NOFILEHANDLE" }, { 10021, "NFS4ERR_MINOR_VERS_MISMATCH" },
	{ 10022, "NFS4ERR_STALE_CLIENTID" }, { 10023, "NFS4ERR_STALE_STATEID" },
	{ 10024, "NFS4ERR_OLD_STATEID" }, { 10025, "NFS4ERR_BAD_STATEID" },
	{ 10026, "NFS4ERR_BAD_SEQID" }, { 10027, "NFS4ERR_NOT_SAME" },
	{ 10028, "NFS4ERR_LOCK_RANGE" }, { 10029, "NFS4ERR_SYMLINK" },
	{ 10030, "NFS4ERR_RESTOREFH" }, { 10031, "NFS4ERR_LEASE_MOVED" },
	{ 10032, "NFS4ERR_ATTRNOTSUPP" }, { 10033, "NFS4ERR_NO_GRACE" },
	{ 10034, "NFS4ERR_RECLAIM_BAD" }, { 10035, "NFS4ERR_RECLAIM_CONFLICT" },
	{ 10036, "NFS4ERR_BADXDR" }, { 10037, "NFS4ERR_LOCKS_HELD" },
	{ 10038, "NFS4ERR_OPENMODE" }, { 10039, "NFS4ERR_BADOWNER" },
	{ 10040, "NFS4ERR_BADCHAR" }, { 10041, "NFS4ERR_BADNAME" },
	{ 10042, "NFS4ERR_BAD_RANGE" }, { 10043, "NFS4ERR_LOCK_NOTSUPP" },
	{ 10044, "NFS4ERR_OP_ILLEGAL" }, { 10045, "NFS4ERR_DEADLOCK" },
	{ 10046, "NFS4ERR_FILE_OPEN" }, { 10047, "NFS4ERR_ADMIN_REVOKED" },
	{ 10048, "NFS4ERR_CB_PATH_DOWN" }, { 10049, "NFS4ERR_BADIOMODE" },
	{ 10050, "NFS4ERR_BADLAYOUT" }, { 10051, "NFS4ERR_BAD_SESSION_DIGEST" },
	{ 10052, "NFS4ERR_BADSESSION" }, { 10053, "NFS4ERR_BADSLOT" },
	{ 10054, "NFS4ERR_COMPLETE_ALREADY" }, { 10055, "NFS4ERR_CONN_NOT_BOUND_TO_SESSION" },
	{ 10056, "NFS4ERR_DELEG_ALREADY_WANTED" }, { 10057, "NFS4ERR_BACK_CHAN_BUSY" },
	{ 10058, "NFS4ERR_LAYOUTTRYLATER" }, { 10059, "NFS4ERR_LAYOUTUNAVAILABLE" },
	{ 10060, "NFS4ERR_NOMATCHING_LAYOUT" }, { 10061, "NFS4ERR_RECALLCONFLICT" },
	{ 10062, "NFS4ERR_UNKNOWN_LAYOUTTYPE" }, { 10063, "NFS4ERR_SEQ_MISORDERED" },
	{ 10064, "NFS4ERR_SEQUENCE_POS" }, { 10065, "NFS4ERR_REQ_TOO_BIG" },
	{ 10066, "NFS4ERR_REP_TOO_BIG" }, { 10067, "NFS4ERR_REP_TOO_BIG_TO_CACHE" },
	{ 10068, "NFS4ERR_RETRY_UNCACHED_REP" }, { 10069, "NFS4ERR_UNSAFE_COMPOUND" },
	{ 10070, "NFS4ERR_TOO_MANY_OPS" }, { 10071, "NFS4ERR_OP_NOT_IN_SESSION" },
	{ 10072, "NFS4ERR_HASH_ALG_UNSUPP" }, { 10074, "NFS4ERR_CLIENTID_BUSY" },
	{ 10075, "NFS4ERR_PNFS_IO_HOLE" }, { 10076, "NFS4ERR_SEQ_FALSE_RETRY" },
	{ 10077, "NFS4ERR_BAD_HIGH_SLOT" }, { 10078, "NFS4ERR_DEADSESSION" },
	{ 10079, "NFS4ERR_ENCR_ALG_UNSUPP" }, { 10080, "NFS4ERR_PNFS_NO_LAYOUT" },
	{ 10081, "NFS4ERR_NOT_ONLY_OP" }, { 10082, "NFS4ERR_WRONG_CRED" },
	{ 10083, "NFS4ERR_WRONG_TYPE" }, { 10084, "NFS4ERR_DIRDELEG_UNAVAIL" },
	{ 10085, "NFS4ERR_REJECT_DELEG" }, { 10086, "NFS4ERR_RETURNCONFLICT" },
	{ 10087, "NFS4ERR_DELEG_REVOKED" }, { 10088, "NFS4ERR_PARTNER_NOTSUPP" },
	{ 10089, "NFS4ERR_PARTNER_NO_AUTH" }, { 10090, "NFS4ERR_UNION_NOTSUPP" },
	{ 10091, "NFS4ERR_OFFLOAD_DENIED" }, { 10092, "NFS4ERR_WRONG_LFS" },
	{ 10093, "NFS4ERR_BADLABEL" }, { 10094, "NFS4ERR_OFFLOAD_NO_REQS" },
	{ 10095, "NFS4ERR_NOXATTR" }, { 10096, "NFS4ERR_XATTR2BIG" },
	{ RPC_REFUSED + 1, "RPC_PROG_UNAVAIL" }, { RPC_REFUSED + 2, "RPC_PROG_MISMATCH" },
	{ RPC_REFUSED + 3, "RPC_PROC_UNAVAIL" }, { RPC_REFUSED + 4, "RPC_GARBAGE_ARGS" },
	{ RPC_REFUSED + 5, "RPC_SYSTEM_ERR" }, { RPC_REFUSED + 100, "RPC_MSG_DENIED" },
};

static const char *st_name(unsigned st)
{
	static char buf[32];

	for (size_t i = 0; i < sizeof status_names / sizeof status_names[0]; i++)
		if (status_names[i].v == st)
			return status_names[i].n;
	snprintf(buf, sizeof buf, "status_%u", st);
	return buf;
}

struct fh {
	unsigned len;
	uint8_t data[FHSIZE];
};

struct sid {
	uint32_t seqid;
	uint8_t other[12];
};

static const struct sid ANON_SID;			/* all zeros */
static struct sid BYPASS_SID;				/* all ones, set in main */
static const struct sid CUR_SID = { 1, { 0 } };		/* the current stateid (v4.1) */

/* ---- XDR encoding ---- */

struct xb {
	uint8_t *p;
	size_t len, cap;
	bool over;
};

static void x_bytes(struct xb *b, const void *v, size_t n)
{
	if (b->len + n > b->cap) {
		b->over = true;
		return;
	}
	memcpy(b->p + b->len, v, n);
	b->len += n;
}

static void x_u32(struct xb *b, uint32_t v)
{
	uint8_t w[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	x_bytes(b, w, 4);
}

static void x_u64(struct xb *b, uint64_t v)
{
	x_u32(b, (uint32_t)(v >> 32));
	x_u32(b, (uint32_t)v);
}

static void x_pad(struct xb *b)
{
	static const uint8_t z[4];

	if (b->len % 4)
		x_bytes(b, z, 4 - b->len % 4);
}

/* variable-length opaque: length, bytes, padding */
static void x_opaque(struct xb *b, const void *v, size_t n)
{
	x_u32(b, (uint32_t)n);
	x_bytes(b, v, n);
	x_pad(b);
}

static void x_str(struct xb *b, const char *s)
{
	x_opaque(b, s, strlen(s));
}

static void x_sid(struct xb *b, const struct sid *s)
{
	x_u32(b, s->seqid);
	x_bytes(b, s->other, 12);
}

/* ---- XDR decoding ---- */

struct xr {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

static uint32_t r_u32(struct xr *r)
{
	uint32_t v;

	if (r->bad || r->off + 4 > r->len) {
		r->bad = true;
		return 0;
	}
	v = (uint32_t)r->p[r->off] << 24 | (uint32_t)r->p[r->off + 1] << 16 |
	    (uint32_t)r->p[r->off + 2] << 8 | r->p[r->off + 3];
	r->off += 4;
	return v;
}

static uint64_t r_u64(struct xr *r)
{
	uint64_t hi = r_u32(r);

	return hi << 32 | r_u32(r);
}

static void r_fixed(struct xr *r, void *out, size_t n)
{
	if (r->bad || r->off + n > r->len) {
		r->bad = true;
		return;
	}
	if (out)
		memcpy(out, r->p + r->off, n);
	r->off += (n + 3) & ~(size_t)3;
	if (r->off > r->len)
		r->bad = true;
}

/* variable-length opaque into out (cap bytes; longer ones are skipped, *n = 0) */
static void r_opaque(struct xr *r, void *out, size_t cap, unsigned *n)
{
	uint32_t len = r_u32(r);

	if (r->bad || len > r->len - r->off) {
		r->bad = true;
		return;
	}
	if (n)
		*n = len <= cap ? len : 0;
	r_fixed(r, len <= cap ? out : NULL, len);
}

static void r_sid(struct xr *r, struct sid *s)
{
	s->seqid = r_u32(r);
	r_fixed(r, s->other, 12);
}

static void r_bitmap(struct xr *r)
{
	uint32_t n = r_u32(r);

	for (uint32_t i = 0; i < n && !r->bad; i++)
		(void)r_u32(r);
}

/* ---- the connection, the session, one COMPOUND ---- */

struct reply {
	bool answered;			/* a reply with our xid came */
	char err[160];			/* why not */
	unsigned status;		/* the COMPOUND's status, or RPC_REFUSED + accept_stat */
	unsigned nres;
	uint32_t res_op[MAX_RES], res_st[MAX_RES];
	unsigned nparsed;		/* results whose status is known */
	struct fh fh;
	bool have_fh;
	struct sid sid;			/* the last stateid a result carried */
	bool have_sid;
	uint64_t clientid;
	uint32_t eid_seq;
	uint8_t sessionid[16];
	bool seq_ok;			/* the first result was a successful SEQUENCE */
};

struct ctx {
	const char *host;
	int port;
	int fd;
	pid_t pid;
	uint32_t xid;
	uint64_t clientid;
	uint32_t eid_seq;		/* EXCHANGE_ID's sequence id, for CREATE_SESSION */
	uint8_t sessionid[16];
	uint32_t slot_seq;		/* the sequence id the next SEQUENCE on slot 0 sends */
	char owner_id[96];
	uint8_t verifier[8];
	struct fh dir;			/* PSEUDO/proto41 */
	struct fh cold;			/* PSEUDO/proto41/<cold dir> */
	bool have_cold;
	unsigned serial;
	bool dead;
	bool dead_reported;
	/* the request being built */
	struct xb req;
	size_t nops_at;			/* where the COMPOUND's op count is */
	uint32_t nops;
	uint32_t sent_ops[MAX_RES];
};

static uint8_t reqbuf[REQ_CAP + 4];
static uint8_t repbuf[REP_CAP];

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

static int conn_open(struct ctx *c)
{
	struct sockaddr_in sa;
	int one = 1;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return errno;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)c->port);
	if (inet_pton(AF_INET, c->host, &sa.sin_addr) != 1)
		return EINVAL;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		int e = errno;

		close(c->fd);
		c->fd = -1;
		return e;
	}
	return 0;
}

/* Read exactly n bytes before the deadline: 0, ETIMEDOUT, EPIPE (closed) or errno. */
static int read_full(struct ctx *c, void *out, size_t n, int64_t deadline)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int64_t left = deadline - clock_mono_ms();
		ssize_t k;
		int rc;

		if (left <= 0)
			return ETIMEDOUT;
		rc = poll(&p, 1, left > 500 ? 500 : (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return errno;
		if (rc == 0) {
			if (!server_alive(c))
				return ESRCH;
			continue;
		}
		k = read(c->fd, (uint8_t *)out + got, n - got);
		if (k == 0)
			return EPIPE;
		if (k < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno;
		}
		got += (size_t)k;
	}
	return 0;
}

/* Start a COMPOUND: RPC call header (AUTH_SYS uid 0), tag, minorversion, op count. */
static void begin(struct ctx *c, uint32_t minorversion)
{
	struct xb cred = { .p = NULL };
	uint8_t credbuf[128];

	c->req.p = reqbuf + 4;		/* the record mark goes before */
	c->req.len = 0;
	c->req.cap = REQ_CAP;
	c->req.over = false;
	c->nops = 0;
	x_u32(&c->req, ++c->xid);
	x_u32(&c->req, 0);		/* CALL */
	x_u32(&c->req, 2);		/* RPC version */
	x_u32(&c->req, NFS_PROG);
	x_u32(&c->req, 4);
	x_u32(&c->req, 1);		/* COMPOUND */
	cred.p = credbuf;
	cred.cap = sizeof credbuf;
	x_u32(&cred, (uint32_t)time(NULL));
	x_str(&cred, "s3f-nfs41proto");
	x_u32(&cred, 0);		/* uid */
	x_u32(&cred, 0);		/* gid */
	x_u32(&cred, 0);		/* no other groups */
	x_u32(&c->req, 1);		/* AUTH_SYS */
	x_opaque(&c->req, credbuf, cred.len);
	x_u32(&c->req, 0);		/* verifier AUTH_NONE */
	x_u32(&c->req, 0);
	x_str(&c->req, "s3f_nfs41proto");
	x_u32(&c->req, minorversion);
	c->nops_at = c->req.len;
	x_u32(&c->req, 0);
}

/* Start an operation (its arguments follow). */
static struct xb *op(struct ctx *c, uint32_t num)
{
	if (c->nops < MAX_RES)
		c->sent_ops[c->nops] = num;
	c->nops++;
	x_u32(&c->req, num);
	return &c->req;
}

static void seq_args(struct ctx *c, uint32_t seqid, uint32_t slot)
{
	struct xb *b = op(c, OP_SEQUENCE);

	x_bytes(b, c->sessionid, 16);
	x_u32(b, seqid);
	x_u32(b, slot);
	x_u32(b, slot);		/* highest slot in use */
	x_u32(b, 0);		/* cachethis */
}

/* Start a COMPOUND of the session: SEQUENCE first. */
static void begin_seq(struct ctx *c)
{
	begin(c, 1);
	seq_args(c, c->slot_seq, 0);
}

static void parse_reply(const uint8_t *p, size_t n, struct reply *r)
{
	struct xr x = { .p = p, .len = n };
	uint32_t stat, flavor;

	(void)r_u32(&x);		/* xid, checked by the caller */
	(void)r_u32(&x);		/* REPLY */
	stat = r_u32(&x);
	if (stat != 0) {
		r->status = RPC_REFUSED + 100;
		return;
	}
	flavor = r_u32(&x);
	(void)flavor;
	r_opaque(&x, NULL, 0, NULL);
	stat = r_u32(&x);
	if (x.bad) {
		snprintf(r->err, sizeof r->err, "reply too short");
		r->answered = false;
		return;
	}
	if (stat != 0) {
		r->status = RPC_REFUSED + stat;
		return;
	}
	r->status = r_u32(&x);
	r_opaque(&x, NULL, 0, NULL);	/* tag */
	r->nres = r_u32(&x);
	for (unsigned i = 0; i < r->nres && i < MAX_RES && !x.bad; i++) {
		uint32_t o = r_u32(&x), st = r_u32(&x);

		if (x.bad)
			break;
		r->res_op[i] = o;
		r->res_st[i] = st;
		r->nparsed = i + 1;
		if (st != NFS4_OK)
			break;		/* the COMPOUND stops at its first error */
		switch (o) {
		case OP_SEQUENCE:
			r_fixed(&x, NULL, 16 + 5 * 4);
			if (i == 0 && !x.bad)
				r->seq_ok = true;
			continue;
		case OP_PUTFH: case OP_PUTROOTFH: case OP_PUTPUBFH: case OP_SAVEFH:
		case OP_RESTOREFH: case OP_LOOKUP: case OP_LOOKUPP: case OP_RECLAIM_COMPLETE:
		case OP_FREE_STATEID: case OP_DELEGRETURN: case OP_OPENATTR:
			continue;
		case OP_GETFH:
			r_opaque(&x, r->fh.data, sizeof r->fh.data, &r->fh.len);
			r->have_fh = !x.bad && r->fh.len > 0;
			continue;
		case OP_LOCK: case OP_LOCKU: case OP_CLOSE: case OP_OPEN_DOWNGRADE:
			r_sid(&x, &r->sid);
			r->have_sid = !x.bad;
			continue;
		case OP_REMOVE:
			r_fixed(&x, NULL, 20);
			continue;
		case OP_CREATE:
			r_fixed(&x, NULL, 20);
			r_bitmap(&x);
			continue;
		case OP_WRITE:
			r_fixed(&x, NULL, 16);
			continue;
		case OP_OPEN: {
			uint32_t dt;

			r_sid(&x, &r->sid);
			r->have_sid = !x.bad;
			r_fixed(&x, NULL, 20);	/* change_info4 */
			(void)r_u32(&x);	/* rflags */
			r_bitmap(&x);
			dt = r_u32(&x);
			if (dt == 0)		/* OPEN_DELEGATE_NONE */
				continue;
			if (dt == 3) {		/* OPEN_DELEGATE_NONE_EXT */
				uint32_t why = r_u32(&x);

				if (why == 1 || why == 2)
					(void)r_u32(&x);
				continue;
			}
			break;			/* a delegation: the rest is not decoded */
		}
		case OP_EXCHANGE_ID:
			r->clientid = r_u64(&x);
			r->eid_seq = r_u32(&x);
			break;
		case OP_CREATE_SESSION:
			r_fixed(&x, r->sessionid, 16);
			break;
		default:
			break;
		}
		break;			/* a result the tool does not decode: stop here */
	}
	if (r->nres == 0 || x.bad)
		return;
}

static int session_setup(struct ctx *c);

/*
 * Send the request built since begin() (its op count patched in, or not when raw) and
 * wait for the answer. 0: answered (r->status); else no answer (r->err says why; ESRCH:
 * the server died, ETIMEDOUT: it did not answer in time, EPIPE: it closed the
 * connection). The slot's sequence id advances when SEQUENCE succeeded.
 */
static int send_req(struct ctx *c, struct reply *r, bool patch_count)
{
	uint8_t mark[4];
	uint32_t len, xid = c->xid;
	int64_t deadline = clock_mono_ms() + CALL_TIMEOUT_MS;
	size_t off = 0;
	int rc;

	memset(r, 0, sizeof *r);
	if (c->req.over) {
		snprintf(r->err, sizeof r->err, "request too large for the tool's buffer");
		return E2BIG;
	}
	if (patch_count) {
		uint8_t *q = c->req.p + c->nops_at;

		q[0] = (uint8_t)(c->nops >> 24);
		q[1] = (uint8_t)(c->nops >> 16);
		q[2] = (uint8_t)(c->nops >> 8);
		q[3] = (uint8_t)c->nops;
	}
	len = (uint32_t)c->req.len;
	reqbuf[0] = (uint8_t)(0x80 | len >> 24);
	reqbuf[1] = (uint8_t)(len >> 16);
	reqbuf[2] = (uint8_t)(len >> 8);
	reqbuf[3] = (uint8_t)len;
	if (c->fd < 0 && (rc = conn_open(c)) != 0) {
		snprintf(r->err, sizeof r->err, "connect: %s", strerror(rc));
		return EPIPE;
	}
	while (off < len + 4) {
		ssize_t k = send(c->fd, reqbuf + off, len + 4 - off, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			snprintf(r->err, sizeof r->err, "send: %s", strerror(errno));
			close(c->fd);
			c->fd = -1;
			return EPIPE;
		}
		off += (size_t)k;
	}
	for (;;) {
		size_t got = 0;
		bool last = false;
		uint32_t rxid;

		while (!last) {
			uint32_t flen;

			rc = read_full(c, mark, 4, deadline);
			if (rc)
				goto lost;
			flen = (uint32_t)mark[0] << 24 | (uint32_t)mark[1] << 16 |
			       (uint32_t)mark[2] << 8 | mark[3];
			last = flen & 0x80000000u;
			flen &= 0x7fffffffu;
			if (flen > sizeof repbuf - got) {
				rc = EMSGSIZE;
				goto lost;
			}
			rc = read_full(c, repbuf + got, flen, deadline);
			if (rc)
				goto lost;
			got += flen;
		}
		if (got < 8)
			continue;
		rxid = (uint32_t)repbuf[0] << 24 | (uint32_t)repbuf[1] << 16 |
		       (uint32_t)repbuf[2] << 8 | repbuf[3];
		if (rxid != xid)
			continue;	/* an old reply (of a request given up on) */
		r->answered = true;
		parse_reply(repbuf, got, r);
		if (!r->answered) {
			rc = EPROTO;
			goto lost;
		}
		if (r->seq_ok)
			c->slot_seq++;
		return 0;
	}
lost:
	snprintf(r->err, sizeof r->err, "%s",
		 rc == EPIPE ? "the server closed the connection" :
		 rc == ESRCH ? "the server died" : strerror(rc));
	close(c->fd);
	c->fd = -1;
	return rc;
}

/* Send a COMPOUND of the session; when the server lost the session (or the slot's
 * sequence), make a new one and send it again (once). */
static int call(struct ctx *c, struct reply *r)
{
	static uint8_t save[REQ_CAP];
	size_t save_len = c->req.len;
	uint32_t save_nops = c->nops;
	int rc;

	memcpy(save, c->req.p, save_len);
	rc = send_req(c, r, true);
	if (rc == EPIPE && server_alive(c)) {
		/* closed under us (e.g. after a malformed request): connect again, resend */
		c->req.p = reqbuf + 4;
		memcpy(c->req.p, save, save_len);
		c->req.len = save_len;
		c->nops = save_nops;
		rc = send_req(c, r, true);
	}
	if (rc || r->nparsed == 0 || r->res_op[0] != OP_SEQUENCE)
		return rc;
	switch (r->res_st[0]) {
	case NFS4ERR_BADSESSION: case NFS4ERR_DEADSESSION: case NFS4ERR_SEQ_MISORDERED:
	case NFS4ERR_STALE_CLIENTID: case NFS4ERR_EXPIRED:
		fprintf(stderr, "s3f_nfs41proto: SEQUENCE answered %s: new session\n",
			st_name(r->res_st[0]));
		if (session_setup(c))
			return rc;
		/* the new session id and sequence id into the saved request */
		c->req.p = reqbuf + 4;
		memcpy(c->req.p, save, save_len);
		c->req.len = save_len;
		c->nops = save_nops;
		{
			/* SEQUENCE's arguments follow the op count and the op number */
			uint8_t *q = c->req.p + c->nops_at + 8;

			memcpy(q, c->sessionid, 16);
			q[16] = (uint8_t)(c->slot_seq >> 24);
			q[17] = (uint8_t)(c->slot_seq >> 16);
			q[18] = (uint8_t)(c->slot_seq >> 8);
			q[19] = (uint8_t)c->slot_seq;
		}
		return send_req(c, r, true);
	default:
		return rc;
	}
}

/* EXCHANGE_ID, CREATE_SESSION, RECLAIM_COMPLETE. */
static int session_setup(struct ctx *c)
{
	struct reply r;
	struct xb *b;

	begin(c, 1);
	b = op(c, OP_EXCHANGE_ID);
	x_bytes(b, c->verifier, 8);
	x_str(b, c->owner_id);
	x_u32(b, 0);			/* flags */
	x_u32(b, 0);			/* SP4_NONE */
	x_u32(b, 0);			/* no implementation id */
	if (send_req(c, &r, true) || r.status != NFS4_OK) {
		fprintf(stderr, "s3f_nfs41proto: EXCHANGE_ID: %s\n",
			r.err[0] ? r.err : st_name(r.status));
		return 1;
	}
	c->clientid = r.clientid;
	c->eid_seq = r.eid_seq;
	begin(c, 1);
	b = op(c, OP_CREATE_SESSION);
	x_u64(b, c->clientid);
	x_u32(b, c->eid_seq);
	x_u32(b, 0);			/* flags: no persistence, no back channel */
	/* fore channel */
	x_u32(b, 0);
	x_u32(b, 1024 * 1024);
	x_u32(b, 1024 * 1024);
	x_u32(b, 64 * 1024);
	x_u32(b, 64);
	x_u32(b, 8);
	x_u32(b, 0);
	/* back channel */
	x_u32(b, 0);
	x_u32(b, 4096);
	x_u32(b, 4096);
	x_u32(b, 0);
	x_u32(b, 2);
	x_u32(b, 1);
	x_u32(b, 0);
	x_u32(b, CB_PROG);
	x_u32(b, 1);			/* one security flavor: AUTH_NONE */
	x_u32(b, 0);
	if (send_req(c, &r, true) || r.status != NFS4_OK) {
		fprintf(stderr, "s3f_nfs41proto: CREATE_SESSION: %s\n",
			r.err[0] ? r.err : st_name(r.status));
		return 1;
	}
	memcpy(c->sessionid, r.sessionid, 16);
	c->slot_seq = 1;
	begin_seq(c);
	x_u32(op(c, OP_RECLAIM_COMPLETE), 0);
	if (send_req(c, &r, true) || (r.status != NFS4_OK && r.status != 10054)) {
		fprintf(stderr, "s3f_nfs41proto: RECLAIM_COMPLETE: %s\n",
			r.err[0] ? r.err : st_name(r.status));
		return 1;
	}
	return 0;
}

/* ---- argument builders ---- */

static void a_putfh(struct ctx *c, const struct fh *fh)
{
	x_opaque(op(c, OP_PUTFH), fh->data, fh->len);
}

/* fattr4: a bitmap of two words and the values (the caller encodes them in order) */
struct fattr {
	uint32_t mask[2];
	uint8_t vals[256];
	struct xb b;
};

static void fa_init(struct fattr *f)
{
	memset(f, 0, sizeof *f);
	f->b.p = f->vals;
	f->b.cap = sizeof f->vals;
}

static void fa_size(struct fattr *f, uint64_t v)
{
	f->mask[0] |= 1u << 4;
	x_u64(&f->b, v);
}

static void fa_mode(struct fattr *f, uint32_t mode)
{
	f->mask[1] |= 1u << (33 - 32);
	x_u32(&f->b, mode);
}

static void fa_owner(struct fattr *f, const char *who)
{
	f->mask[1] |= 1u << (36 - 32);
	x_str(&f->b, who);
}

static void fa_mtime_server(struct fattr *f)
{
	f->mask[1] |= 1u << (54 - 32);
	x_u32(&f->b, 0);	/* SET_TO_SERVER_TIME4 */
}

static void x_fattr(struct xb *b, const struct fattr *f)
{
	x_u32(b, 2);
	x_u32(b, f->mask[0]);
	x_u32(b, f->mask[1]);
	x_opaque(b, f->vals, f->b.len);
}

static void x_getattr_mask(struct xb *b)
{
	x_u32(b, 2);
	x_u32(b, 1u << 1 | 1u << 3 | 1u << 4 | 1u << 20);	/* type change size fileid */
	x_u32(b, 1u << 1 | 1u << 3 | 1u << 4 | 1u << 21);	/* mode numlinks owner mtime */
}

struct owner {
	char name[64];
};

static void owner_new(struct ctx *c, struct owner *o, const char *kind)
{
	snprintf(o->name, sizeof o->name, "%s-%d-%u", kind, (int)getpid(), ++c->serial);
}

static void x_owner(struct ctx *c, struct xb *b, const struct owner *o)
{
	x_u64(b, c->clientid);
	x_str(b, o->name);
}

#define ACC_READ 1
#define ACC_WRITE 2
#define ACC_BOTH 3
#define ACC_NO_DELEG 0x0400

/* OPEN by name (CLAIM_NULL) in the current directory; create UNCHECKED with attrs */
static void a_open(struct ctx *c, const struct owner *o, const char *name, uint32_t access,
		   uint32_t deny, bool create, const struct fattr *attrs)
{
	struct xb *b = op(c, OP_OPEN);

	x_u32(b, 0);			/* seqid: ignored in v4.1 */
	x_u32(b, access | ACC_NO_DELEG);
	x_u32(b, deny);
	x_owner(c, b, o);
	x_u32(b, create);
	if (create) {
		x_u32(b, 0);		/* UNCHECKED4 */
		x_fattr(b, attrs);
	}
	x_u32(b, 0);			/* CLAIM_NULL */
	x_str(b, name);
}

static void a_read(struct ctx *c, const struct sid *s, uint64_t off, uint32_t count)
{
	struct xb *b = op(c, OP_READ);

	x_sid(b, s);
	x_u64(b, off);
	x_u32(b, count);
}

static uint8_t wbuf[4096];

static void a_write(struct ctx *c, const struct sid *s, uint64_t off, uint32_t len, uint32_t how)
{
	struct xb *b = op(c, OP_WRITE);

	x_sid(b, s);
	x_u64(b, off);
	x_u32(b, how);
	x_opaque(b, wbuf, len);
}

/* LOCK by a new lock owner, from an open stateid */
static void a_lock_new(struct ctx *c, const struct sid *open_sid, const struct owner *lo,
		       uint32_t type, uint64_t off, uint64_t len)
{
	struct xb *b = op(c, OP_LOCK);

	x_u32(b, type);
	x_u32(b, 0);			/* reclaim */
	x_u64(b, off);
	x_u64(b, len);
	x_u32(b, 1);			/* new lock owner */
	x_u32(b, 0);			/* open seqid */
	x_sid(b, open_sid);
	x_u32(b, 0);			/* lock seqid */
	x_owner(c, b, lo);
}

static void a_lock_exist(struct ctx *c, const struct sid *lock_sid, uint32_t type, uint64_t off,
			 uint64_t len)
{
	struct xb *b = op(c, OP_LOCK);

	x_u32(b, type);
	x_u32(b, 0);
	x_u64(b, off);
	x_u64(b, len);
	x_u32(b, 0);			/* existing lock owner */
	x_sid(b, lock_sid);
	x_u32(b, 0);
}

static void a_locku(struct ctx *c, const struct sid *s, uint64_t off, uint64_t len)
{
	struct xb *b = op(c, OP_LOCKU);

	x_u32(b, 2);			/* WRITE_LT */
	x_u32(b, 0);
	x_sid(b, s);
	x_u64(b, off);
	x_u64(b, len);
}

static void a_close(struct ctx *c, const struct sid *s)
{
	struct xb *b = op(c, OP_CLOSE);

	x_u32(b, 0);
	x_sid(b, s);
}

/* ---- results ---- */

static unsigned n_pass, n_fail;

/* After a request: it must have been answered and the server must still be there. */
static bool check_alive(struct ctx *c, int rc, const struct reply *r, const char *cas,
			const char *what)
{
	if (!server_alive(c)) {
		if (c->dead_reported)
			return false;
		c->dead_reported = true;
		printf("FAIL proto41/%s: the server (pid %d) died at %s%s%s\n", cas, (int)c->pid,
		       what, r && r->err[0] ? ": " : "", r ? r->err : "");
		n_fail++;
		return false;
	}
	if (rc) {
		printf("FAIL proto41/%s: no answer to %s: %s\n", cas, what, r ? r->err : "");
		n_fail++;
		if (rc != EPIPE && rc != EPROTO) {
			/* the server hangs: nothing after this can run */
			c->dead = c->dead_reported = true;
		}
		return false;
	}
	return true;
}

static bool setup_fail(struct ctx *c, int rc, const struct reply *r, const char *cas,
		       const char *what)
{
	if (!check_alive(c, rc, r, cas, what))
		return true;
	if (r->status != NFS4_OK) {
		printf("FAIL proto41/%s: %s: %s\n", cas, what, st_name(r->status));
		n_fail++;
		return true;
	}
	return false;
}

/* ---- setup helpers ---- */

static int lookup_path(struct ctx *c, const char *path, struct fh *out, unsigned *st)
{
	char buf[256], *save = NULL, *comp;
	struct reply r;

	snprintf(buf, sizeof buf, "%s", path);
	begin_seq(c);
	op(c, OP_PUTROOTFH);
	for (comp = strtok_r(buf, "/", &save); comp; comp = strtok_r(NULL, "/", &save))
		x_str(op(c, OP_LOOKUP), comp);
	op(c, OP_GETFH);
	if (call(c, &r))
		return EIO;
	*st = r.status;
	if (r.status != NFS4_OK || !r.have_fh)
		return ENOENT;
	*out = r.fh;
	return 0;
}

/* CREATE (directory or symlink) name in dir; GETFH */
static int create_nonreg(struct ctx *c, const struct fh *dir, const char *name, bool is_dir,
			 struct fh *out, struct reply *r)
{
	struct fattr fa;
	struct xb *b;
	int rc;

	fa_init(&fa);
	fa_mode(&fa, 0755);
	begin_seq(c);
	a_putfh(c, dir);
	b = op(c, OP_CREATE);
	x_u32(b, is_dir ? 2 : 5);
	if (!is_dir)
		x_str(b, "target-of-link");
	x_str(b, name);
	x_fattr(b, &fa);
	op(c, OP_GETFH);
	rc = call(c, r);
	if (rc == 0 && r->status == NFS4_OK && r->have_fh)
		*out = r->fh;
	return rc;
}

/* OPEN name in dir (created when create), GETFH */
static int open_name(struct ctx *c, const struct fh *dir, const char *name, const struct owner *o,
		     uint32_t access, uint32_t deny, bool create, struct fh *fh, struct sid *sid,
		     struct reply *r)
{
	struct fattr fa;
	int rc;

	fa_init(&fa);
	fa_mode(&fa, 0644);
	begin_seq(c);
	a_putfh(c, dir);
	a_open(c, o, name, access, deny, create, &fa);
	op(c, OP_GETFH);
	rc = call(c, r);
	if (rc || r->status != NFS4_OK)
		return rc;
	if (!r->have_sid || !r->have_fh) {
		snprintf(r->err, sizeof r->err, "OPEN's answer not decoded (a delegation?)");
		r->status = 10006;
		return 0;
	}
	*fh = r->fh;
	*sid = r->sid;
	return 0;
}

/* ---- states and operations ---- */

enum state {
	S_COLD, S_CLOSED, S_OPEN_READ, S_OPEN_WRITE, S_LOCKED, S_REMOVED_OPEN, S_STALE,
	S_FORGED, S_GARBAGE, S_DIR, S_SYMLINK, S_COUNT
};
static const char *const state_names[S_COUNT] = {
	"cold", "closed", "open_read", "open_write", "locked", "removed_open", "stale",
	"forged", "garbage", "dir", "symlink",
};

#define OPS(X) \
	X(ACCESS) X(CLOSE) X(CLOSE_cur) X(COMMIT) X(CREATE_dir) X(CREATE_name10k) \
	X(DELEGPURGE) X(DELEGRETURN) X(GETATTR) X(GETATTR_bitmap1000) X(GETFH) X(LINK) \
	X(LOCK) X(LOCK_exist) X(LOCK_cur) X(LOCKT) X(LOCKU) X(LOOKUP) X(LOOKUP_name0) \
	X(LOOKUP_name10k) X(LOOKUPP) X(NVERIFY) X(OPEN_read) X(OPEN_write_deny) X(OPEN_trunc) \
	X(OPEN_excl41) X(OPEN_claim_fh) X(OPEN_cur_io) X(OPENATTR) X(OPEN_CONFIRM) \
	X(OPEN_DOWNGRADE) X(PUTFH) X(PUTPUBFH) X(PUTROOTFH) X(READ) X(READ_bypass) \
	X(READ_cur) X(READ_4GiB) X(READDIR) X(READDIR_max0) X(READDIR_maxhuge) X(READLINK) \
	X(REMOVE) X(RENAME) X(RENEW) X(SAVEFH_RESTOREFH) X(RESTOREFH_unsaved) X(SECINFO) \
	X(SETATTR_size) X(SETATTR_size_anon) X(SETATTR_mode) X(SETATTR_owner) \
	X(SETATTR_mtime) X(SETCLIENTID) X(SETCLIENTID_CONFIRM) X(VERIFY) X(WRITE) \
	X(WRITE_stable) X(WRITE_anon) X(WRITE_cur) X(WRITE_short) X(RELEASE_LOCKOWNER) \
	X(BACKCHANNEL_CTL) X(BIND_CONN_TO_SESSION) X(BIND_CONN_alone) X(EXCHANGE_ID) \
	X(CREATE_SESSION) X(DESTROY_SESSION) X(FREE_STATEID) X(GET_DIR_DELEGATION) \
	X(GETDEVICEINFO) X(GETDEVICELIST) X(LAYOUTCOMMIT) X(LAYOUTGET) X(LAYOUTRETURN) \
	X(SECINFO_NO_NAME) X(SEQUENCE_again) X(SET_SSV) X(TEST_STATEID) X(WANT_DELEGATION) \
	X(DESTROY_CLIENTID) X(RECLAIM_COMPLETE) X(ALLOCATE) X(COPY) X(DEALLOCATE) \
	X(OFFLOAD_STATUS) X(READ_PLUS) X(SEEK) X(CLONE) X(GETXATTR) X(LISTXATTRS) \
	X(LOOKUP_name300) X(LOOKUP_dotdot) X(CREATE_name300) X(CREATE_fifo) X(CREATE_chr) \
	X(CREATE_sock) X(OPEN_create_in_obj) X(RENAME_in_obj) X(LINK_in_obj) \
	X(READDIR_cookie_bad) X(SETATTR_size_max) X(WRITE_offset_max) X(READ_offset_max) \
	X(LOCK_len_overflow) X(LOCKT_len0) X(COMMIT_overflow) X(SETATTR_mode_dir_bits) \
	X(ILLEGAL) X(op_unknown) X(no_SEQUENCE) X(SEQUENCE_misordered) X(SEQUENCE_badslot) \
	X(truncated) X(ops_200)
#define X_ENUM(n) O_##n,
#define X_NAME(n) #n,
enum op { OPS(X_ENUM) O_COUNT };
static const char *const op_names[O_COUNT] = { OPS(X_NAME) };

/* The object of one case and the state that was set up for it. */
struct obj {
	char name[96];
	const struct fh *parent;	/* the directory holding name */
	struct fh fh;
	bool have_open;
	struct owner oo;
	struct sid open_sid;
	bool have_lock;
	struct owner lo;
	struct sid lock_sid;
};

static const struct sid *io_sid(const struct obj *o)
{
	return o->have_lock ? &o->lock_sid : o->have_open ? &o->open_sid : &ANON_SID;
}

static int setup(struct ctx *c, enum state s, enum op opi, struct obj *o, const char *cas)
{
	struct reply r;
	struct owner creator;
	struct sid sid;
	int rc;

	memset(o, 0, sizeof *o);
	snprintf(o->name, sizeof o->name, "%s.%s.%d.%u", state_names[s], op_names[opi],
		 (int)getpid(), c->serial++);
	o->parent = s == S_COLD ? &c->cold : &c->dir;
	switch (s) {
	case S_COLD:
		if (!c->have_cold) {
			printf("FAIL proto41/%s: no cold directory (--cold)\n", cas);
			n_fail++;
			return 1;
		}
		snprintf(o->name, sizeof o->name, "%s", op_names[opi]);
		begin_seq(c);
		a_putfh(c, &c->cold);
		x_str(op(c, OP_LOOKUP), o->name);
		op(c, OP_GETFH);
		rc = call(c, &r);
		if (setup_fail(c, rc, &r, cas, "setup LOOKUP (cold)"))
			return 1;
		o->fh = r.fh;
		return 0;
	case S_DIR:
	case S_SYMLINK:
		rc = create_nonreg(c, &c->dir, o->name, s == S_DIR, &o->fh, &r);
		return setup_fail(c, rc, &r, cas, "setup CREATE");
	case S_GARBAGE:
		o->fh.len = 20;
		for (unsigned i = 0; i < o->fh.len; i++)
			o->fh.data[i] = (uint8_t)(rand() & 0xff);
		return 0;
	default:
		break;
	}
	/* a regular file with 200 bytes, written by its creator (closed unless the state
	 * keeps it open) */
	owner_new(c, &creator, "creator");
	rc = open_name(c, &c->dir, o->name, &creator, ACC_BOTH, 0, true, &o->fh, &sid, &r);
	if (setup_fail(c, rc, &r, cas, "setup OPEN (create)"))
		return 1;
	begin_seq(c);
	a_putfh(c, &o->fh);
	a_write(c, &sid, 0, 200, 2);
	if (s != S_OPEN_WRITE && s != S_LOCKED && s != S_REMOVED_OPEN)
		a_close(c, &sid);
	rc = call(c, &r);
	if (setup_fail(c, rc, &r, cas, "setup WRITE/CLOSE"))
		return 1;
	if (s == S_OPEN_WRITE || s == S_LOCKED || s == S_REMOVED_OPEN) {
		o->have_open = true;
		o->oo = creator;
		o->open_sid = sid;
	}
	if (s == S_OPEN_READ) {
		struct fh fh;

		owner_new(c, &o->oo, "reader");
		rc = open_name(c, &c->dir, o->name, &o->oo, ACC_READ, 0, false, &fh, &o->open_sid,
			       &r);
		if (setup_fail(c, rc, &r, cas, "setup OPEN (read)"))
			return 1;
		o->have_open = true;
	}
	if (s == S_LOCKED) {
		owner_new(c, &o->lo, "locker");
		begin_seq(c);
		a_putfh(c, &o->fh);
		a_lock_new(c, &o->open_sid, &o->lo, 2, 0, 100);
		rc = call(c, &r);
		if (setup_fail(c, rc, &r, cas, "setup LOCK"))
			return 1;
		o->have_lock = true;
		o->lock_sid = r.sid;
	}
	if (s == S_REMOVED_OPEN || s == S_STALE || s == S_FORGED) {
		begin_seq(c);
		a_putfh(c, &c->dir);
		x_str(op(c, OP_REMOVE), o->name);
		rc = call(c, &r);
		if (setup_fail(c, rc, &r, cas, "setup REMOVE"))
			return 1;
	}
	if (s == S_FORGED) {
		/* the file's handle with its inode number's high bytes (the handle's last ones,
		 * little-endian) set: a well-formed handle of this export naming no inode */
		o->fh.data[o->fh.len - 1] = 0x7e;
		o->fh.data[o->fh.len - 2] = 0x5a;
	}
	return 0;
}

/* Best effort: unlock, free the lock stateid, close (errors are fine, answers needed). */
static bool teardown(struct ctx *c, struct obj *o, const char *cas)
{
	struct reply r;
	int rc;

	if (o->have_lock) {
		begin_seq(c);
		a_putfh(c, &o->fh);
		a_locku(c, &o->lock_sid, 0, 100);
		rc = call(c, &r);
		if (!check_alive(c, rc, &r, cas, "teardown LOCKU"))
			return false;
		if (r.status == NFS4_OK && r.have_sid)
			o->lock_sid = r.sid;
		begin_seq(c);
		x_sid(op(c, OP_FREE_STATEID), &o->lock_sid);
		rc = call(c, &r);
		if (!check_alive(c, rc, &r, cas, "teardown FREE_STATEID"))
			return false;
	}
	if (o->have_open) {
		begin_seq(c);
		a_putfh(c, &o->fh);
		a_close(c, &o->open_sid);
		rc = call(c, &r);
		if (!check_alive(c, rc, &r, cas, "teardown CLOSE"))
			return false;
	}
	return true;
}

static char longname[10001];

/* Build and send operation opi on o. The reply is in *r; returns the call's rc. */
static int run_op(struct ctx *c, enum op opi, struct obj *o, struct reply *r, const char *cas)
{
	struct fattr fa;
	struct owner other;
	struct xb *b;
	int rc;

	fa_init(&fa);
	switch (opi) {
	case O_OPEN_read:
	case O_OPEN_write_deny:
	case O_OPEN_trunc:
	case O_OPEN_excl41:
	case O_OPEN_cur_io: {
		/* by name, from the directory, by another owner; what was opened is closed */
		struct obj tmp;

		owner_new(c, &other, "opener");
		begin_seq(c);
		a_putfh(c, o->parent);
		if (opi == O_OPEN_excl41) {
			uint8_t verf[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

			b = op(c, OP_OPEN);
			x_u32(b, 0);
			x_u32(b, ACC_BOTH | ACC_NO_DELEG);
			x_u32(b, 0);
			x_owner(c, b, &other);
			x_u32(b, 1);		/* OPEN4_CREATE */
			x_u32(b, 3);		/* EXCLUSIVE4_1 */
			x_bytes(b, verf, 8);
			fa_mode(&fa, 0600);
			x_fattr(b, &fa);
			x_u32(b, 0);
			x_str(b, o->name);
		} else if (opi == O_OPEN_trunc) {
			fa_size(&fa, 0);
			a_open(c, &other, o->name, ACC_WRITE, 0, true, &fa);
		} else {
			a_open(c, &other, o->name, opi == O_OPEN_write_deny ? ACC_BOTH : ACC_READ,
			       opi == O_OPEN_write_deny ? 3 : 0, false, &fa);
		}
		op(c, OP_GETFH);
		if (opi == O_OPEN_cur_io) {
			/* I/O and CLOSE with the current stateid: the OPEN's */
			a_read(c, &CUR_SID, 0, 100);
			a_close(c, &CUR_SID);
		}
		rc = call(c, r);
		if (rc || r->status != NFS4_OK || opi == O_OPEN_cur_io || !r->have_sid ||
		    !r->have_fh)
			return rc;
		memset(&tmp, 0, sizeof tmp);
		tmp.fh = r->fh;
		tmp.have_open = true;
		tmp.open_sid = r->sid;
		{
			struct reply keep = *r;

			(void)teardown(c, &tmp, cas);
			*r = keep;
		}
		return 0;
	}
	case O_BIND_CONN_alone:
		begin(c, 1);
		b = op(c, OP_BIND_CONN_TO_SESSION);
		x_bytes(b, c->sessionid, 16);
		x_u32(b, 3);		/* CDFC4_FORE_OR_BOTH */
		x_u32(b, 0);
		return send_req(c, r, true);
	case O_no_SEQUENCE:
		begin(c, 1);
		a_putfh(c, &o->fh);
		x_getattr_mask(op(c, OP_GETATTR));
		return send_req(c, r, true);
	case O_SEQUENCE_misordered:
		begin(c, 1);
		seq_args(c, c->slot_seq + 5, 0);
		a_putfh(c, &o->fh);
		return send_req(c, r, true);
	case O_SEQUENCE_badslot:
		begin(c, 1);
		seq_args(c, 1, 100000);
		a_putfh(c, &o->fh);
		return send_req(c, r, true);
	case O_truncated:
		/* PUTFH, then a WRITE cut in the middle of its stateid */
		begin_seq(c);
		a_putfh(c, &o->fh);
		b = op(c, OP_WRITE);
		x_u32(b, 0);
		x_u32(b, 0);
		c->nops = 4;		/* the count claims more than there is */
		return send_req(c, r, true);
	case O_ops_200:
		begin_seq(c);
		for (unsigned i = 0; i < 100; i++) {
			a_putfh(c, &o->fh);
			x_getattr_mask(op(c, OP_GETATTR));
		}
		return call(c, r);
	default:
		break;
	}

	begin_seq(c);
	a_putfh(c, &o->fh);
	switch (opi) {
	case O_ACCESS:
		x_u32(op(c, OP_ACCESS), 0x3f);
		break;
	case O_CLOSE:
		a_close(c, o->have_open ? &o->open_sid : &ANON_SID);
		break;
	case O_CLOSE_cur:
		a_close(c, &CUR_SID);	/* no stateid set in this COMPOUND */
		break;
	case O_COMMIT:
		b = op(c, OP_COMMIT);
		x_u64(b, 0);
		x_u32(b, 0);
		break;
	case O_CREATE_dir:
		b = op(c, OP_CREATE);
		x_u32(b, 2);
		x_str(b, "sub");
		fa_mode(&fa, 0755);
		x_fattr(b, &fa);
		break;
	case O_CREATE_name10k:
		b = op(c, OP_CREATE);
		x_u32(b, 5);
		x_str(b, "t");
		x_str(b, longname);
		x_fattr(b, &fa);
		break;
	case O_DELEGPURGE:
		x_u64(op(c, OP_DELEGPURGE), c->clientid);
		break;
	case O_DELEGRETURN:
		x_sid(op(c, OP_DELEGRETURN), io_sid(o));
		break;
	case O_GETATTR:
		x_getattr_mask(op(c, OP_GETATTR));
		break;
	case O_GETATTR_bitmap1000:
		b = op(c, OP_GETATTR);
		x_u32(b, 1000);
		for (unsigned i = 0; i < 1000; i++)
			x_u32(b, 0xffffffffu);
		break;
	case O_GETFH:
		op(c, OP_GETFH);
		break;
	case O_LINK:
		op(c, OP_SAVEFH);
		a_putfh(c, o->parent);
		x_str(op(c, OP_LINK), "hardlink");
		break;
	case O_LOCK:
		owner_new(c, &other, "locker2");
		a_lock_new(c, o->have_open ? &o->open_sid : &ANON_SID, &other, 2, 200, 50);
		break;
	case O_LOCK_exist:
		a_lock_exist(c, io_sid(o), 1, 300, 10);
		break;
	case O_LOCK_cur:
		owner_new(c, &other, "locker3");
		a_lock_new(c, &CUR_SID, &other, 1, 400, 10);
		break;
	case O_LOCKT:
		owner_new(c, &other, "tester");
		b = op(c, OP_LOCKT);
		x_u32(b, 2);
		x_u64(b, 0);
		x_u64(b, 100);
		x_owner(c, b, &other);
		break;
	case O_LOCKU:
		a_locku(c, io_sid(o), 0, 100);
		break;
	case O_LOOKUP:
		x_str(op(c, OP_LOOKUP), "x");
		break;
	case O_LOOKUP_name0:
		x_str(op(c, OP_LOOKUP), "");
		break;
	case O_LOOKUP_name10k:
		x_str(op(c, OP_LOOKUP), longname);
		break;
	case O_LOOKUPP:
		op(c, OP_LOOKUPP);
		op(c, OP_GETFH);
		break;
	case O_VERIFY:
	case O_NVERIFY:
		fa_size(&fa, 200);
		x_fattr(op(c, opi == O_VERIFY ? OP_VERIFY : OP_NVERIFY), &fa);
		break;
	case O_OPEN_claim_fh:
		owner_new(c, &other, "fhopener");
		b = op(c, OP_OPEN);
		x_u32(b, 0);
		x_u32(b, ACC_READ | ACC_NO_DELEG);
		x_u32(b, 0);
		x_owner(c, b, &other);
		x_u32(b, 0);		/* NOCREATE */
		x_u32(b, 4);		/* CLAIM_FH */
		a_close(c, &CUR_SID);
		break;
	case O_OPENATTR:
		x_u32(op(c, OP_OPENATTR), 0);
		break;
	case O_OPEN_CONFIRM:
		b = op(c, OP_OPEN_CONFIRM);
		x_sid(b, io_sid(o));
		x_u32(b, 1);
		break;
	case O_OPEN_DOWNGRADE:
		b = op(c, OP_OPEN_DOWNGRADE);
		x_sid(b, o->have_open ? &o->open_sid : &ANON_SID);
		x_u32(b, 0);
		x_u32(b, ACC_READ);
		x_u32(b, 0);
		break;
	case O_PUTFH:
		a_putfh(c, &o->fh);
		break;
	case O_PUTPUBFH:
		op(c, OP_PUTPUBFH);
		op(c, OP_GETFH);
		break;
	case O_PUTROOTFH:
		op(c, OP_PUTROOTFH);
		op(c, OP_GETFH);
		break;
	case O_READ:
		a_read(c, io_sid(o), 0, 4096);
		break;
	case O_READ_bypass:
		a_read(c, &BYPASS_SID, 0, 4096);
		break;
	case O_READ_cur:
		a_read(c, &CUR_SID, 0, 4096);
		break;
	case O_READ_4GiB:
		a_read(c, io_sid(o), 0, 0xffffffffu);
		break;
	case O_READDIR:
	case O_READDIR_max0:
	case O_READDIR_maxhuge: {
		static const uint8_t zero[8];

		b = op(c, OP_READDIR);
		x_u64(b, 0);
		x_bytes(b, zero, 8);
		x_u32(b, opi == O_READDIR ? 4096 : opi == O_READDIR_max0 ? 0 : 0xffffffffu);
		x_u32(b, opi == O_READDIR ? 8192 : opi == O_READDIR_max0 ? 0 : 0xffffffffu);
		x_getattr_mask(b);
		break;
	}
	case O_READLINK:
		op(c, OP_READLINK);
		break;
	case O_REMOVE:
		c->nops = 0;
		c->req.len = c->nops_at + 4;
		seq_args(c, c->slot_seq, 0);
		a_putfh(c, o->parent);
		x_str(op(c, OP_REMOVE), o->name);
		break;
	case O_RENAME: {
		char newname[128];

		c->nops = 0;
		c->req.len = c->nops_at + 4;
		seq_args(c, c->slot_seq, 0);
		a_putfh(c, o->parent);
		op(c, OP_SAVEFH);
		b = op(c, OP_RENAME);
		x_str(b, o->name);
		snprintf(newname, sizeof newname, "%s.renamed", o->name);
		x_str(b, newname);
		break;
	}
	case O_RENEW:
		x_u64(op(c, OP_RENEW), c->clientid);
		break;
	case O_SAVEFH_RESTOREFH:
		op(c, OP_SAVEFH);
		op(c, OP_PUTROOTFH);
		op(c, OP_RESTOREFH);
		x_getattr_mask(op(c, OP_GETATTR));
		break;
	case O_RESTOREFH_unsaved:
		op(c, OP_RESTOREFH);
		break;
	case O_SECINFO:
		x_str(op(c, OP_SECINFO), "x");
		break;
	case O_SETATTR_size:
	case O_SETATTR_size_anon:
	case O_SETATTR_mode:
	case O_SETATTR_owner:
	case O_SETATTR_mtime:
		if (opi == O_SETATTR_size || opi == O_SETATTR_size_anon)
			fa_size(&fa, 10);
		if (opi == O_SETATTR_mode)
			fa_mode(&fa, 06755);
		if (opi == O_SETATTR_owner)
			fa_owner(&fa, "1234");
		if (opi == O_SETATTR_mtime)
			fa_mtime_server(&fa);
		b = op(c, OP_SETATTR);
		x_sid(b, opi == O_SETATTR_size ? io_sid(o) : &ANON_SID);
		x_fattr(b, &fa);
		break;
	case O_SETCLIENTID: {
		uint8_t verf[8] = { 9 };

		b = op(c, OP_SETCLIENTID);
		x_bytes(b, verf, 8);
		x_str(b, "s3f-nfs41proto-v40");
		x_u32(b, CB_PROG);
		x_str(b, "tcp");
		x_str(b, "127.0.0.1.0.0");
		x_u32(b, 1);
		break;
	}
	case O_SETCLIENTID_CONFIRM: {
		uint8_t verf[8] = { 9 };

		b = op(c, OP_SETCLIENTID_CONFIRM);
		x_u64(b, c->clientid);
		x_bytes(b, verf, 8);
		break;
	}
	case O_WRITE:
		a_write(c, io_sid(o), 100, 300, 0);
		break;
	case O_WRITE_stable:
		a_write(c, io_sid(o), 5000, 1000, 2);
		break;
	case O_WRITE_anon:
		a_write(c, &ANON_SID, 0, 50, 0);
		break;
	case O_WRITE_cur:
		a_write(c, &CUR_SID, 0, 50, 0);
		break;
	case O_WRITE_short:
		/* a WRITE whose data length says 1 MiB, with 64 bytes after it */
		b = op(c, OP_WRITE);
		x_sid(b, io_sid(o));
		x_u64(b, 0);
		x_u32(b, 0);
		x_u32(b, 1024 * 1024);
		x_bytes(b, wbuf, 64);
		break;
	case O_RELEASE_LOCKOWNER:
		b = op(c, OP_RELEASE_LOCKOWNER);
		if (o->have_lock) {
			x_owner(c, b, &o->lo);
		} else {
			owner_new(c, &other, "nolocks");
			x_owner(c, b, &other);
		}
		break;
	case O_BACKCHANNEL_CTL:
		b = op(c, OP_BACKCHANNEL_CTL);
		x_u32(b, CB_PROG);
		x_u32(b, 1);
		x_u32(b, 0);		/* AUTH_NONE */
		break;
	case O_BIND_CONN_TO_SESSION:
		b = op(c, OP_BIND_CONN_TO_SESSION);
		x_bytes(b, c->sessionid, 16);
		x_u32(b, 3);
		x_u32(b, 0);
		break;
	case O_EXCHANGE_ID: {
		char id[128];

		b = op(c, OP_EXCHANGE_ID);
		x_bytes(b, c->verifier, 8);
		snprintf(id, sizeof id, "%s-other-%u", c->owner_id, c->serial++);
		x_str(b, id);
		x_u32(b, 0);
		x_u32(b, 0);
		x_u32(b, 0);
		break;
	}
	case O_CREATE_SESSION:
		b = op(c, OP_CREATE_SESSION);
		x_u64(b, c->clientid);
		x_u32(b, c->eid_seq + 1000);	/* not the next one: refused as misordered */
		x_u32(b, 0);
		for (unsigned k = 0; k < 2; k++) {
			x_u32(b, 0);
			x_u32(b, 0xffffffffu);
			x_u32(b, 0xffffffffu);
			x_u32(b, 0xffffffffu);
			x_u32(b, 0xffffffffu);
			x_u32(b, 0xffffffffu);
			x_u32(b, 0);
		}
		x_u32(b, CB_PROG);
		x_u32(b, 0);
		break;
	case O_DESTROY_SESSION: {
		uint8_t bogus[16];

		memset(bogus, 0xa5, sizeof bogus);
		x_bytes(op(c, OP_DESTROY_SESSION), bogus, 16);
		break;
	}
	case O_FREE_STATEID:
		x_sid(op(c, OP_FREE_STATEID), io_sid(o));
		break;
	case O_GET_DIR_DELEGATION:
		b = op(c, OP_GET_DIR_DELEGATION);
		x_u32(b, 0);
		x_u32(b, 1);
		x_u32(b, 0xff);		/* notification types */
		x_u64(b, 0);
		x_u32(b, 0);
		x_u64(b, 0);
		x_u32(b, 0);
		x_getattr_mask(b);
		x_getattr_mask(b);
		break;
	case O_GETDEVICEINFO: {
		uint8_t dev[16] = { 1 };

		b = op(c, OP_GETDEVICEINFO);
		x_bytes(b, dev, 16);
		x_u32(b, 1);		/* LAYOUT4_NFSV4_1_FILES */
		x_u32(b, 0xffffffffu);
		x_u32(b, 1);
		x_u32(b, 0x7);
		break;
	}
	case O_GETDEVICELIST: {
		static const uint8_t zero[8];

		b = op(c, OP_GETDEVICELIST);
		x_u32(b, 1);
		x_u32(b, 0xffffffffu);
		x_u64(b, 0);
		x_bytes(b, zero, 8);
		break;
	}
	case O_LAYOUTCOMMIT:
		b = op(c, OP_LAYOUTCOMMIT);
		x_u64(b, 0);
		x_u64(b, 0xffffffffffffffffull);
		x_u32(b, 0);
		x_sid(b, io_sid(o));
		x_u32(b, 1);
		x_u64(b, 1ull << 40);
		x_u32(b, 1);
		x_u64(b, 0);
		x_u32(b, 0);
		x_u32(b, 1);		/* layoutupdate4: files */
		x_opaque(b, wbuf, 16);
		break;
	case O_LAYOUTGET:
		b = op(c, OP_LAYOUTGET);
		x_u32(b, 0);
		x_u32(b, 1);
		x_u32(b, 2);		/* LAYOUTIOMODE4_RW */
		x_u64(b, 0);
		x_u64(b, 0xffffffffffffffffull);
		x_u64(b, 0);
		x_sid(b, io_sid(o));
		x_u32(b, 0xffffffffu);
		break;
	case O_LAYOUTRETURN:
		b = op(c, OP_LAYOUTRETURN);
		x_u32(b, 0);
		x_u32(b, 1);
		x_u32(b, 3);		/* LAYOUTIOMODE4_ANY */
		x_u32(b, 1);		/* LAYOUTRETURN4_FILE */
		x_u64(b, 0);
		x_u64(b, 0xffffffffffffffffull);
		x_sid(b, io_sid(o));
		x_opaque(b, wbuf, 8);
		break;
	case O_SECINFO_NO_NAME:
		x_u32(op(c, OP_SECINFO_NO_NAME), 1);	/* SECINFO_STYLE4_PARENT */
		break;
	case O_SEQUENCE_again:
		seq_args(c, c->slot_seq, 0);
		break;
	case O_SET_SSV:
		b = op(c, OP_SET_SSV);
		x_opaque(b, wbuf, 32);
		x_opaque(b, wbuf, 20);
		break;
	case O_TEST_STATEID:
		b = op(c, OP_TEST_STATEID);
		x_u32(b, 4);
		x_sid(b, io_sid(o));
		x_sid(b, &ANON_SID);
		x_sid(b, &BYPASS_SID);
		x_sid(b, &CUR_SID);
		break;
	case O_WANT_DELEGATION:
		b = op(c, OP_WANT_DELEGATION);
		x_u32(b, 0x0300);	/* OPEN4_SHARE_ACCESS_WANT_ANY_DELEG */
		x_u32(b, 4);		/* CLAIM_FH */
		break;
	case O_DESTROY_CLIENTID:
		x_u64(op(c, OP_DESTROY_CLIENTID), c->clientid);
		break;
	case O_RECLAIM_COMPLETE:
		x_u32(op(c, OP_RECLAIM_COMPLETE), 1);	/* one fs: the current one */
		break;
	case O_ALLOCATE:
	case O_DEALLOCATE:
		b = op(c, opi == O_ALLOCATE ? OP_ALLOCATE : OP_DEALLOCATE);
		x_sid(b, io_sid(o));
		x_u64(b, 0);
		x_u64(b, 1 << 20);
		break;
	case O_COPY:
		op(c, OP_SAVEFH);
		b = op(c, OP_COPY);
		x_sid(b, io_sid(o));
		x_sid(b, io_sid(o));
		x_u64(b, 0);
		x_u64(b, 1000);
		x_u64(b, 100);
		x_u32(b, 1);
		x_u32(b, 1);
		x_u32(b, 0);		/* no source servers */
		break;
	case O_OFFLOAD_STATUS:
		x_sid(op(c, OP_OFFLOAD_STATUS), io_sid(o));
		break;
	case O_READ_PLUS:
		b = op(c, OP_READ_PLUS);
		x_sid(b, io_sid(o));
		x_u64(b, 0);
		x_u32(b, 4096);
		break;
	case O_SEEK:
		b = op(c, OP_SEEK);
		x_sid(b, io_sid(o));
		x_u64(b, 0);
		x_u32(b, 1);		/* NFS4_CONTENT_HOLE */
		break;
	case O_CLONE:
		op(c, OP_SAVEFH);
		b = op(c, OP_CLONE);
		x_sid(b, io_sid(o));
		x_sid(b, io_sid(o));
		x_u64(b, 0);
		x_u64(b, 1000);
		x_u64(b, 100);
		break;
	case O_GETXATTR:
		x_str(op(c, OP_GETXATTR), "user.x");
		break;
	case O_LISTXATTRS: {
		static const uint8_t zero[8];

		b = op(c, OP_LISTXATTRS);
		x_bytes(b, zero, 8);
		x_u32(b, 4096);
		break;
	}
	case O_LOOKUP_name300:
		x_opaque(op(c, OP_LOOKUP), longname, 300);
		break;
	case O_LOOKUP_dotdot:
		x_str(op(c, OP_LOOKUP), "..");
		break;
	case O_CREATE_name300:
	case O_CREATE_fifo:
	case O_CREATE_chr:
	case O_CREATE_sock:
		b = op(c, OP_CREATE);
		x_u32(b, opi == O_CREATE_name300 ? 2 : opi == O_CREATE_fifo ? 7 :
		      opi == O_CREATE_chr ? 4 : 6);
		if (opi == O_CREATE_chr) {
			x_u32(b, 1);
			x_u32(b, 3);
		}
		if (opi == O_CREATE_name300)
			x_opaque(b, longname, 300);
		else
			x_str(b, "special");
		x_fattr(b, &fa);
		break;
	case O_OPEN_create_in_obj:
		/* the object as the directory of an OPEN that creates */
		owner_new(c, &other, "increator");
		fa_mode(&fa, 0644);
		a_open(c, &other, "inner", ACC_BOTH, 0, true, &fa);
		a_close(c, &CUR_SID);
		break;
	case O_RENAME_in_obj:
		op(c, OP_SAVEFH);
		b = op(c, OP_RENAME);
		x_str(b, "a");
		x_str(b, "b");
		break;
	case O_LINK_in_obj:
		/* link the directory proto41 into the object */
		a_putfh(c, o->parent);
		op(c, OP_SAVEFH);
		a_putfh(c, &o->fh);
		x_str(op(c, OP_LINK), "dirlink");
		break;
	case O_READDIR_cookie_bad: {
		uint8_t verf[8] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4 };

		b = op(c, OP_READDIR);
		x_u64(b, 0xdeadbeefcafe1234ull);
		x_bytes(b, verf, 8);
		x_u32(b, 4096);
		x_u32(b, 8192);
		x_getattr_mask(b);
		break;
	}
	case O_SETATTR_size_max:
		fa_size(&fa, 0xffffffffffffffffull);
		b = op(c, OP_SETATTR);
		x_sid(b, io_sid(o));
		x_fattr(b, &fa);
		break;
	case O_WRITE_offset_max:
		a_write(c, io_sid(o), 0xffffffffffffff00ull, 1024, 2);
		break;
	case O_READ_offset_max:
		a_read(c, io_sid(o), 0xffffffffffffff00ull, 4096);
		break;
	case O_LOCK_len_overflow:
		owner_new(c, &other, "locker4");
		a_lock_new(c, o->have_open ? &o->open_sid : &ANON_SID, &other, 2,
			   0xfffffffffffff000ull, 0x100000);
		break;
	case O_LOCKT_len0:
		owner_new(c, &other, "tester0");
		b = op(c, OP_LOCKT);
		x_u32(b, 1);
		x_u64(b, 50);
		x_u64(b, 0);
		x_owner(c, b, &other);
		break;
	case O_COMMIT_overflow:
		b = op(c, OP_COMMIT);
		x_u64(b, 0xfffffffffffffff0ull);
		x_u32(b, 0xffffffffu);
		break;
	case O_SETATTR_mode_dir_bits:
		fa_mode(&fa, 0177777);	/* bits past the permission ones */
		b = op(c, OP_SETATTR);
		x_sid(b, &ANON_SID);
		x_fattr(b, &fa);
		break;
	case O_ILLEGAL:
		op(c, OP_ILLEGAL);
		break;
	case O_op_unknown:
		op(c, 20000);
		break;
	default:
		break;
	}
	rc = call(c, r);
	if (rc == 0 && r->status == NFS4_OK) {
		if (opi == O_CLOSE)
			o->have_open = false;
		if (opi == O_OPEN_DOWNGRADE && r->have_sid)
			o->open_sid = r->sid;
		if (opi == O_LOCKU && r->have_sid && o->have_lock)
			o->lock_sid = r->sid;
	}
	return rc;
}

/* The operation whose answer the case checks (the last one sent). */
static uint32_t case_op(enum op opi)
{
	switch (opi) {
	case O_DELEGPURGE: return OP_DELEGPURGE;
	case O_OPEN_CONFIRM: return OP_OPEN_CONFIRM;
	case O_RENEW: return OP_RENEW;
	case O_SETCLIENTID: return OP_SETCLIENTID;
	case O_SETCLIENTID_CONFIRM: return OP_SETCLIENTID_CONFIRM;
	case O_RELEASE_LOCKOWNER: return OP_RELEASE_LOCKOWNER;
	case O_ALLOCATE: return OP_ALLOCATE;
	case O_COPY: return OP_COPY;
	case O_DEALLOCATE: return OP_DEALLOCATE;
	case O_OFFLOAD_STATUS: return OP_OFFLOAD_STATUS;
	case O_READ_PLUS: return OP_READ_PLUS;
	case O_SEEK: return OP_SEEK;
	case O_CLONE: return OP_CLONE;
	case O_GETXATTR: return OP_GETXATTR;
	case O_LISTXATTRS: return OP_LISTXATTRS;
	case O_ILLEGAL: return OP_ILLEGAL;
	case O_SEQUENCE_again: return OP_SEQUENCE;
	default: return 0;
	}
}

/* What NFSv4.1 requires of the answer; NULL: fine, else why not. */
static const char *check(enum state s, enum op opi, const struct reply *r, char *why, size_t n)
{
	unsigned st = r->status;
	uint32_t last_op = r->nres ? r->res_op[r->nres - 1 < MAX_RES ? r->nres - 1 : 0] : 0;
	bool reached, handle_ok = s != S_STALE && s != S_FORGED && s != S_GARBAGE;
	uint32_t want_op = case_op(opi);

	/* the malformed ones, whatever the object */
	switch (opi) {
	case O_no_SEQUENCE:
		if (st != NFS4ERR_OP_NOT_IN_SESSION)
			goto want_exactly;
		return NULL;
	case O_SEQUENCE_misordered:
		if (st != NFS4ERR_SEQ_MISORDERED)
			goto want_exactly;
		return NULL;
	case O_SEQUENCE_badslot:
		if (st != NFS4ERR_BADSLOT)
			goto want_exactly;
		return NULL;
	default:
		break;
	}
	if ((s == S_STALE || s == S_FORGED) && r->nparsed >= 2 && r->res_op[1] == OP_PUTFH) {
		/* the handle is refused at PUTFH; the by-name operations find no name */
		switch (opi) {
		case O_OPEN_read: case O_OPEN_write_deny: case O_OPEN_trunc: case O_OPEN_excl41:
		case O_OPEN_cur_io: case O_REMOVE: case O_RENAME:
			return NULL;
		default:
			if (st != NFS4ERR_STALE) {
				snprintf(why, n, "answered %s, NFSv4.1 wants NFS4ERR_STALE",
					 st_name(st));
				return why;
			}
			return NULL;
		}
	}
	if (!handle_ok || r->nparsed == 0)
		return NULL;
	/* the check applies when the operation itself answered */
	reached = want_op && r->nparsed == r->nres && last_op == want_op;
	if (want_op == OP_SEQUENCE) {
		if (reached && st != NFS4ERR_SEQUENCE_POS)
			goto want_exactly;
		return NULL;
	}
	if (want_op == OP_ILLEGAL || opi == O_op_unknown) {
		if (st != NFS4ERR_OP_ILLEGAL)
			goto want_exactly;
		return NULL;
	}
	if (want_op >= OP_ALLOCATE && reached) {
		if (st != NFS4ERR_OP_ILLEGAL && st != NFS4ERR_NOTSUPP) {
			snprintf(why, n, "%s answered %s, NFSv4.1 wants NFS4ERR_OP_ILLEGAL or "
				 "NFS4ERR_NOTSUPP (an NFSv4.2 operation)", op_names[opi], st_name(st));
			return why;
		}
		return NULL;
	}
	if (want_op && reached) {
		/* NFSv4.0 operations NFSv4.1 does without (RFC 8881 section 18) */
		if (st != NFS4ERR_NOTSUPP)
			goto want_exactly;
		return NULL;
	}
	if (opi == O_LOCKT) {
		switch (s) {
		case S_COLD: case S_CLOSED: case S_OPEN_READ: case S_OPEN_WRITE:
			if (st != NFS4_OK)
				goto want_exactly;
			return NULL;
		case S_LOCKED:
			if (st != NFS4ERR_DENIED)
				goto want_exactly;
			return NULL;
		default:
			return NULL;
		}
	}
	/* (Not for removed_open: s3files drops a removed file's inode at once, open or not;
	 * doc/SEMANTICS.md.) */
	if (opi == O_GETATTR && s != S_REMOVED_OPEN && st != NFS4_OK)
		goto want_exactly;
	return NULL;
want_exactly:
	{
		unsigned want;

		switch (opi) {
		case O_no_SEQUENCE: want = NFS4ERR_OP_NOT_IN_SESSION; break;
		case O_SEQUENCE_misordered: want = NFS4ERR_SEQ_MISORDERED; break;
		case O_SEQUENCE_badslot: want = NFS4ERR_BADSLOT; break;
		case O_SEQUENCE_again: want = NFS4ERR_SEQUENCE_POS; break;
		case O_ILLEGAL: case O_op_unknown: want = NFS4ERR_OP_ILLEGAL; break;
		case O_LOCKT: want = s == S_LOCKED ? NFS4ERR_DENIED : NFS4_OK; break;
		case O_GETATTR: want = NFS4_OK; break;
		default: want = NFS4ERR_NOTSUPP; break;
		}
		snprintf(why, n, "answered %s, NFSv4.1 wants %s", st_name(st), st_name(want));
		return why;
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: s3f_nfs41proto HOST PORT PSEUDO PID [--from N] [--only SUBSTR] "
		"[--cold DIR] [--list]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct ctx c;
	struct reply r;
	const char *pseudo, *only = NULL, *cold = NULL;
	unsigned from = 0, idx = 0, st;
	bool list = false;
	char path[512];
	int rc;

	if (argc < 5)
		return usage();
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
	memset(&c, 0, sizeof c);
	c.fd = -1;
	c.host = argv[1];
	c.port = atoi(argv[2]);
	pseudo = argv[3];
	c.pid = (pid_t)atoi(argv[4]);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	c.xid = (uint32_t)rand();
	for (unsigned i = 0; i < sizeof c.verifier; i++)
		c.verifier[i] = (uint8_t)(rand() & 0xff);
	snprintf(c.owner_id, sizeof c.owner_id, "s3f_nfs41proto-%d-%ld", (int)getpid(),
		 (long)time(NULL));
	for (unsigned i = 0; i < sizeof wbuf; i++)
		wbuf[i] = (uint8_t)('a' + i % 26);
	memset(longname, 'n', sizeof longname - 1);
	memset(&BYPASS_SID, 0xff, sizeof BYPASS_SID);
	setvbuf(stdout, NULL, _IOLBF, 0);

	if ((rc = conn_open(&c)) != 0) {
		fprintf(stderr, "s3f_nfs41proto: connect %s:%d: %s\n", c.host, c.port, strerror(rc));
		return 2;
	}
	if (session_setup(&c))
		return 2;
	snprintf(path, sizeof path, "%s/proto41", pseudo);
	rc = lookup_path(&c, path, &c.dir, &st);
	if (rc == ENOENT && st == 2) {
		struct fh exp;

		if (lookup_path(&c, pseudo, &exp, &st) == 0 &&
		    create_nonreg(&c, &exp, "proto41", true, &c.dir, &r) == 0 && r.status == NFS4_OK)
			rc = 0;
	}
	if (rc) {
		fprintf(stderr, "s3f_nfs41proto: %s: %s\n", path, rc == EIO ? "no answer" : st_name(st));
		return 2;
	}
	if (cold) {
		snprintf(path, sizeof path, "%s/proto41/%s", pseudo, cold);
		c.have_cold = lookup_path(&c, path, &c.cold, &st) == 0;
	}

	for (int s = 0; s < S_COUNT && !c.dead; s++) {
		for (int o = 0; o < O_COUNT && !c.dead; o++, idx++) {
			char cas[128], why[256];
			const char *bad;
			struct obj ob;

			snprintf(cas, sizeof cas, "%s.%s", state_names[s], op_names[o]);
			if (idx < from || (only && !strstr(cas, only)))
				continue;
			if (setup(&c, (enum state)s, (enum op)o, &ob, cas))
				goto next;
			rc = run_op(&c, (enum op)o, &ob, &r, cas);
			if (!check_alive(&c, rc, &r, cas, op_names[o]))
				goto next;
			bad = check((enum state)s, (enum op)o, &r, why, sizeof why);
			if (bad) {
				printf("FAIL proto41/%s: %s\n", cas, bad);
				n_fail++;
			} else {
				printf("PASS proto41/%s %s\n", cas, st_name(r.status));
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
	fprintf(stderr, "s3f_nfs41proto: %u passed, %u failed%s\n", n_pass, n_fail,
		c.dead ? ", the server died" : "");
	if (c.fd >= 0)
		close(c.fd);
	return c.dead ? 3 : n_fail ? 1 : 0;
}
