/*
 * ctlproto.h — the control protocol of s3files-syncd (sync/control.c serves it) and
 * s3filesctl (cli/s3filesctl.c asks): its wire format, written down here once, and what
 * both sides need to write and read it.
 *
 * Transport: a unix stream socket (the daemon's Control_Socket), one request per
 * connection.
 *
 * Request: one line, the request and its arguments separated by single spaces, ended
 * by "\n"; it and its "\n" take at most CTLP_LINE_MAX - 1 bytes (longer: "ERR request
 * line too long"). A last line without "\n" counts when the client shuts down its side; the
 * client does so after its line. A line not complete within CTLP_REQUEST_TIMEOUT_MS
 * gets "ERR no complete request line within 5 s". A trailing "\r" is ignored.
 *
 * Answer: zero or more data lines, then one final line that starts with "OK" or "ERR"
 * (a line starting with either is final), after which the daemon closes the connection.
 * An answer whose first line starts with CTLP_BUSY ("ERR busy") was not run: the daemon
 * had no room for the connection, and the client may ask again. Data lines are
 * "TAG key=value key=value ..." (or the forms listed below); the final line is
 * "OK key=value ...", or "ERR <message>" / "ERR <word> key=value ...".
 *
 * Escaping: paths, names, S3 keys and prose travel %-escaped, so that one line holds any
 * bytes: every byte <= 0x20 (space and control characters), '%' and 0x7f is written as
 * '%' and two uppercase hex digits, every other byte as itself (UTF-8 passes through
 * unchanged). Decoding takes hex digits of either case. In key=value fields, "-" is the
 * empty value (an empty string escapes to nothing, which a field cannot carry).
 *
 * Requests (<id> an export id in decimal, <path> relative to the export root, escaped):
 *   PING                  -> OK pong
 *   STATUS                -> EXPORT id=.. bucket=.. prefix=.. dirty=.. deletes=.. commits=..
 *                            errors=.. conflicts=.. polls=.. evicted=.. tier_bytes=..
 *                            [RENAME export=.. job=.. moved=.. listed=.. skipped=..
 *                             state=moving|queued from=<old prefix> to=<new prefix>, one per
 *                             directory rename still moving in S3]; OK
 *   COMMIT <id> <path>    -> commit everything dirty under path now, and pending deletes:
 *                            OK committed=.. deleted=.. failed=.. conflicts=.. (ERR and the
 *                            same fields when a commit failed, then " error=<message>",
 *                            not escaped: the rest of the line)
 *   EVICT <id>            -> one eviction pass now (age and quota rules): OK by_age=..
 *                            by_quota=.. freed=.. busy=.. failed=.. tier=.. quota=..
 *   SYNCED <id> <path>    -> is everything under path (a file or a directory) in S3?
 *                            Not yet: OK synced=0 dirty=.. deletes=.. conflicts=..
 *                            [conflict_key=<escaped S3 key of one conflicted file>].
 *                            Yes: one line "ETAG <etag> <escaped relative path>" per file
 *                            and symlink, then OK synced=1 files=.. (never blocks: a
 *                            client waits by asking again)
 *   LS <id> <path>        -> what the metadata store holds for path, never importing:
 *                            "ENTRY <f|d|l> <size> <clean|dirty|conflict|local> <etag|->
 *                            <escaped name>" per entry of a directory (or the file itself),
 *                            then OK entries=.. [listed=0|1: the directory's S3 listing
 *                            has been imported]; "local": s3files' own (lost+found and what
 *                            is in it), never in S3
 *   PREFETCH <id> <path>  -> make the data of every regular file under path local
 *                            (directories never listed are listed from S3 first):
 *                            "SCAN dirs=.. files=.. bytes=.." while walking, one "PLAN
 *                            files=.. bytes=.. local_files=.. local_bytes=.. fetch_files=..
 *                            fetch_bytes=.. tier=.. quota=..", then "PROGRESS files_done=..
 *                            files=.. bytes_done=.. bytes=.. fetched=.. skipped=..
 *                            elapsed_ms=.." (at most 4 a second, each flushed at once), and
 *                            OK files=.. bytes=.. local_files=.. fetched_files=..
 *                            fetched_bytes=.. skipped=.. left_files=.. seconds=..; or
 *                            "ERR quota <same fields> tier=.. quota=.. need=.. path=.."
 *                            (the next file would take the data tier over Data_Quota),
 *                            "ERR fetch <fields> error=.. path=..", "ERR interrupted
 *                            <fields>". Resumable: local files are skipped.
 *   STATE <id> <path>     -> "STATE path=.. ino=.. type=.. state=clean|dirty|committing|
 *                            conflict|local size=.. s3_size=.. etag=.. version=..
 *                            data=none|partial|full|- local_bytes=.. dirty_since=..
 *                            last_modified=.. confirmed=.. key=.. [source=<old key of a
 *                            renamed file>] why=<word> detail=<escaped prose> [a directory:
 *                            subtree_dirty=.. subtree_deletes=.. subtree_conflicts=..
 *                            subtree_renames=..]" (times: Unix seconds, 0 unknown); OK
 *   CONFLICTS <id>        -> one "CONFLICT name=.. ino=.. type=.. size=.. mtime_file=..
 *                            key=.. s3=changed|deleted etag_base=.. etag_s3=.. mtime_s3=..
 *                            resolved=<event time>" per lost+found entry ("-": no conflict
 *                            event names it); OK entries=..
 * Anything else: "ERR unknown request". A request with a bad escape in its path: "ERR bad
 * path escape"; an unknown export: "ERR no S3FILES export with id <id>".
 *
 * Compatibility: this is the format of every earlier version, byte for byte; a daemon
 * and a client of different versions understand each other. Add fields at the end of a
 * line and requests under new names; never change what an existing one means.
 *
 * Everything here is pure (strings and the caller's descriptors), thread-safe, and
 * allocates only where it says so.
 */
#ifndef S3F_CTLPROTO_H
#define S3F_CTLPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CTLP_LINE_MAX 8192		/* a request line, its "\n" and a NUL */
#define CTLP_REQUEST_TIMEOUT_MS 5000	/* for the whole request line to arrive */
#define CTLP_BUSY "ERR busy"		/* first line of an answer to a request not run */

/* ---- escaping ---- */

/* true for the bytes written %XX: <= 0x20, '%', 0x7f. */
bool ctlp_must_escape(unsigned char c);
/* s[0..len) escaped into out, which holds 3 * len + 1 bytes; NUL-terminated, returns the
 * length written. */
size_t ctlp_escape(char *out, const char *s, size_t len);
/* The escaped form of the string s on the heap (the caller frees it), or NULL (ENOMEM). */
char *ctlp_escape_dup(const char *s);
/* Write s[0..len) escaped to out. */
void ctlp_put_escaped(FILE *out, const char *s, size_t len);
/* Write the field " key=value": the value escaped, "-" when len is 0. */
void ctlp_put_kv(FILE *out, const char *key, const char *v, size_t len);

/* Decode the escapes of the string s in place (the result may hold NUL bytes: use the
 * length). strict: a '%' not followed by two hex digits fails the whole string (-1; s is
 * then partly decoded), as the daemon takes requests; not strict: it stays as it is, as
 * the client shows what a daemon sent. Returns the decoded length. */
long ctlp_unescape(char *s, bool strict);

/* ---- lines ---- */

enum ctlp_kind {
	CTLP_DATA = 0,		/* a data line: more follow */
	CTLP_OK,		/* final: the request was carried out */
	CTLP_ERR,		/* final: it was not (or not all of it) */
};

/* What the answer line `line` is (a trailing "\n" is allowed). */
enum ctlp_kind ctlp_line_kind(const char *line);
/* true when line is the refusal of a daemon with no room for the connection (only
 * meaningful as an answer's first line). */
bool ctlp_busy(const char *line);

/* The raw (still escaped) value of the field key of a line: "key=value" preceded by the
 * line's start or a space, ended by a space, "\n" or the end. true with *val and *len,
 * or false if the line has no such field. */
bool ctlp_field(const char *line, const char *key, const char **val, size_t *len);
/* The field as an unsigned decimal number; 0 when absent. */
unsigned long long ctlp_field_u(const char *line, const char *key);
/* The field decoded (not strict) into buf (cap bytes, truncated to fit, NUL-terminated);
 * "-" decodes to "". false (buf untouched) when absent. */
bool ctlp_field_s(const char *line, const char *key, char *buf, size_t cap);

/* ---- the two ends of a connection ---- */

/* Daemon: read the request line from fd into line (cap bytes, NUL-terminated, without
 * its "\n"), waiting at most timeout_ms for all of it. 0, or ETIMEDOUT, EMSGSIZE (no
 * "\n" in cap - 1 bytes), ECONNRESET (closed before any byte), or the errno of poll or
 * recv. */
int ctlp_read_request(int fd, char *line, size_t cap, int timeout_ms);

/* Client: connect to the daemon's socket at sock, send req (one line, without "\n")
 * and end the request; *in then reads the answer (the caller fcloses it). timeout_s > 0:
 * a read that waits that long for a byte fails with EAGAIN. A daemon that closed the
 * connection before reading (busy) is not an error: its answer is still there.
 * 0, or an errno with *step saying what failed ("connect": ENAMETOOLONG when sock is
 * too long for a socket address, or why the daemon could not be reached; "write"). */
int ctlp_client_open(const char *sock, const char *req, int timeout_s, FILE **in,
		     const char **step);

#endif
