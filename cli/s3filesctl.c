/*
 * s3filesctl — operator tool for s3files.
 *
 *   s3filesctl [-f GANESHA_CONF] status [--json]
 *   s3filesctl [-f GANESHA_CONF] commit [-e EXPORT_ID] [PATH]
 *   s3filesctl [-f GANESHA_CONF] wait-synced [-e EXPORT_ID] [--timeout SEC] [--json] [PATH]
 *   s3filesctl [-f GANESHA_CONF] evict [-e EXPORT_ID]
 *   s3filesctl [-f GANESHA_CONF] ls [-e EXPORT_ID] [--json] [PATH]
 *   s3filesctl [-f GANESHA_CONF] state [-e EXPORT_ID] [--json] PATH
 *   s3filesctl [-f GANESHA_CONF] conflicts [-e EXPORT_ID] [--json]
 *   s3filesctl [-f GANESHA_CONF] prefetch [-e EXPORT_ID] [PATH]
 *   s3filesctl [-f GANESHA_CONF] events [-e EXPORT_ID] [--from SEQ] [--kind KIND]
 *   s3filesctl [-f GANESHA_CONF] fsck [-e EXPORT_ID] [--repair] [--online] [--json]
 *   s3filesctl [-f GANESHA_CONF] config-check
 *   s3filesctl config-help [--man]
 *
 * PATH is relative to the export root ("/" or omitted: the whole export). The config
 * file defaults to $S3FILES_CONF, else /etc/s3files/ganesha.conf if it exists (what the
 * packaged units render), else /etc/ganesha/ganesha.conf. status and commit talk
 * to s3files-syncd over its control socket; events and config-check read files directly.
 * A request the daemon refuses as busy (all its control connections taken) is sent again
 * for up to 15 s; status gives up after 60 s without an answer, ls and wait-synced's
 * polls after 600 s (commit and evict wait as long as the work takes).
 *
 * wait-synced exits 0 when everything under PATH is in S3 (printing "ETAG PATH" for
 * each file, PATH relative to the export root, %-escaped like the protocol), 3 when it
 * got there but a file under PATH had a conflict meanwhile (S3 won; the conflict events
 * are printed on stderr), 124 on --timeout.
 *
 * ls prints what the daemon's metadata store holds for PATH (a directory's entries, or
 * the file), without listing S3 or importing anything: one line per entry,
 *   TYPE SIZE STATE ETAG NAME
 * TYPE f, d or l; STATE clean, dirty, conflict or local (lost+found: never in S3); ETAG
 * the S3 ETag last seen or "-";
 * NAME %-escaped like wait-synced's paths. A directory whose S3 listing was never
 * imported (no client looked into it yet) says so on stderr.
 *
 * --json (status, ls, state, conflicts, wait-synced; events are JSON lines already, fsck
 * has its own): status prints one object {"exports":[...]}, each export's directory
 * renames in "renames"; the others one object per line (an ls entry, a wait-synced file
 * {"etag","path"}, the state of PATH, a lost+found entry). Names and keys are decoded
 * (not %-escaped); bytes that are not UTF-8 show as U+FFFD; "-" of the text form is null.
 *
 * state prints what the daemon knows of one file: clean, dirty, committing, conflict or
 * local (lost+found), both sizes, the ETag, its times, and for a file not in S3 yet why it
 * waits (a word and a sentence): s3_unreachable, conflict, pending_rename, commit_failed,
 * due, settling (changed after its close), interval (Commit_Interval not reached). A file
 * below a directory whose rename is still moving in S3 is dirty (pending_rename) even
 * though its record is clean: S3 does not show it under its path yet. A directory also
 * gets what its subtree still owes S3.
 *
 * conflicts lists lost+found with, per entry, the conflict event that put it there: when,
 * the file-side version's time and the ETag it was based on, S3's version's time and ETag
 * (or that S3 deleted it), and the key.
 *
 * prefetch makes the data of every file under PATH local (the daemon does the work;
 * directories no client listed yet are listed first). On a terminal it draws a progress
 * bar (bytes, files, rate, time left), otherwise a plain line at most once a second.
 * Files already local are skipped, so running it again resumes an interrupted run. It
 * stops, exit 3, before a file whose missing bytes would take the data tier over
 * Data_Quota (evicting to make room would drop what it just fetched); 1 on other errors
 * (S3 unreachable: it stops at the first file it cannot fetch).
 *
 * fsck checks one export's local state (metadata store against itself and against the
 * data tier; core/engine/fsck.h lists what, the kinds and classes of findings, and what --repair
 * does). It opens the store directly (no daemon needed, no S3 call). One line per finding,
 *   CLASS KIND INODE PATH ACTION DETAIL
 * (PATH %-escaped like ls's names, "-" if unknown), then a summary line; --json prints
 * one JSON object per finding and a last object with "summary": true instead. A check
 * alone runs while ganesha and the daemon run. --repair fixes what fsck.h says it fixes;
 * without --online it first takes the single-instance locks of ganesha's FSAL and of the
 * daemon (refused, exit 2, naming the process, while either runs); --online --repair
 * makes only the repairs that are safe while they run. Data files are moved to
 * State_Dir/fsck-orphans/<UTC time>/ (with a MANIFEST), never deleted.
 * Exit status: 0 when nothing is left but legal states and garbage (harmless leftovers
 * that --repair cleans); 1 when a finding of class powercut, error or loss is left
 * unrepaired (a repair that failed included); 2 when the check could not run (usage,
 * configuration, the store or the tier unreadable, --repair refused).
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/conf.h"
#include "base/err.h"
#include "engine/export_ctx.h"
#include "engine/fsck.h"
#include "store/journal.h"
#include "base/json.h"
#include "base/log.h"
#include "base/clock.h"
#include "base/hex.h"
#include "base/ctlproto.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: s3filesctl [-f GANESHA_CONF] COMMAND [ARGS]\n"
		"commands:\n"
		"  status [--json]               backlog and counters of every export\n"
		"  commit [-e ID] [PATH]         upload everything dirty under PATH now\n"
		"  wait-synced [-e ID] [--timeout SEC] [--json] [PATH]\n"
		"                                wait until everything under PATH is in S3;\n"
		"                                print each file's ETag\n"
		"  evict [-e ID]                 drop local data now by the age and quota rules\n"
		"  ls [-e ID] [--json] [PATH]    what the file view holds for PATH (no S3 call):\n"
		"                                TYPE SIZE STATE ETAG NAME per entry\n"
		"  state [-e ID] [--json] PATH   one file's sync state and why it waits\n"
		"  conflicts [-e ID] [--json]    lost+found entries with both versions' times\n"
		"                                and ETags\n"
		"  prefetch [-e ID] [PATH]       fetch the data of every file under PATH into\n"
		"                                the local data tier (resumable, stops at\n"
		"                                Data_Quota: exit 3)\n"
		"  events [-e ID] [--from SEQ] [--kind KIND]\n"
		"                                print journal events as JSON lines\n"
		"  fsck [-e ID] [--repair] [--online] [--json]\n"
		"                                check the export's metadata store and data\n"
		"                                tier; --repair fixes what is safe to fix\n"
		"                                (gateway stopped, or --online: online-safe\n"
		"                                repairs only); exit 0 clean, 1 defects left,\n"
		"                                2 could not check\n"
		"  config-check                  validate the config file\n"
		"  config-help [--man]           list every S3FILES setting (--man: as roff)\n");
}

/* Seconds of silence after which requests that only read give up: the daemon serves them
 * at once, even during a long COMMIT, so silence means it hangs. STATUS reads counters;
 * LS and SYNCED may walk a large subtree before their first line. */
#define CTL_STATUS_TIMEOUT_S 60
#define CTL_READ_REPLY_TIMEOUT_S 600

/* Connect to the daemon and send req: 0 and *in (the answer), or 1 with a message. */
static int ctl_open(const char *sock, const char *req, int timeout_s, FILE **in)
{
	const char *step;
	int rc = ctlp_client_open(sock, req, timeout_s, in, &step);

	if (rc == ENAMETOOLONG && strcmp(step, "connect") == 0)
		fprintf(stderr, "s3filesctl: control socket path too long\n");
	else if (rc && strcmp(step, "connect") == 0)
		fprintf(stderr, "s3filesctl: cannot reach s3files-syncd at %s: %s\n", sock,
			strerror(rc));
	else if (rc && strcmp(step, "write") == 0)
		fprintf(stderr, "s3filesctl: write to %s: %s\n", sock, strerror(rc));
	return rc ? 1 : 0;
}

/* Send one request line to the daemon; copy its answer to `sink`, and its final line
 * (without the newline) to last (lastlen bytes, may be NULL). Returns 0 if the final
 * line starts with OK. timeout_s > 0: give up (1, with a message) when the daemon sends
 * nothing for that long. */
static int ctl_call_once(const char *sock, const char *req, FILE *sink, char *last,
			 size_t lastlen, int timeout_s, bool *busy)
{
	char line[8192];
	int rc = 1;
	bool got_last = false, first = true;
	FILE *in;

	*busy = false;
	if (ctl_open(sock, req, timeout_s, &in))
		return 1;
	errno = 0;
	while (fgets(line, sizeof line, in)) {
		enum ctlp_kind k = ctlp_line_kind(line);

		/* All the daemon's connections taken: the request was not run; ask again. */
		if (first && ctlp_busy(line))
			*busy = true;
		first = false;
		if (sink && !*busy)
			fputs(line, sink);
		if (k == CTLP_DATA)
			continue;
		rc = k == CTLP_OK ? 0 : 1;
		got_last = true;
		if (last)
			snprintf(last, lastlen, "%.*s", (int)strcspn(line, "\n"), line);
	}
	if (!got_last && ferror(in) && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		fprintf(stderr, "s3filesctl: no answer from s3files-syncd at %s within %d s\n",
			sock, timeout_s);
		rc = 1;
	}
	fclose(in);
	return rc;
}

/* ctl_call_once, asked again for up to CTL_BUSY_RETRY_S while the daemon answers busy. */
#define CTL_BUSY_RETRY_S 15
static int ctl_call_t(const char *sock, const char *req, FILE *sink, char *last, size_t lastlen,
		      int timeout_s)
{
	double t0 = clock_mono_s();
	useconds_t nap = 50000;
	bool busy;
	int rc;

	for (;;) {
		rc = ctl_call_once(sock, req, sink, last, lastlen, timeout_s, &busy);
		if (!busy || clock_mono_s() - t0 >= CTL_BUSY_RETRY_S)
			break;
		usleep(nap);
		if (nap < 1000000)
			nap *= 2;
	}
	if (busy)
		fprintf(stderr, "s3filesctl: s3files-syncd at %s is busy (every control "
			"connection taken for %d s)\n", sock, CTL_BUSY_RETRY_S);
	return rc;
}

static int ctl_call(const char *sock, const char *req, FILE *sink, char *last, size_t lastlen)
{
	return ctl_call_t(sock, req, sink, last, lastlen, 0);
}

static int ctl_request(const char *sock, const char *req)
{
	return ctl_call(sock, req, stdout, NULL, 0);
}

static int ctl_request_t(const char *sock, const char *req, int timeout_s)
{
	return ctl_call_t(sock, req, stdout, NULL, 0, timeout_s);
}

/* ---- conflicts seen while waiting (the journal) ---- */

struct conflicts_seen {
	const char *want;	/* S3 key of PATH: matches itself and keys below want + '/' */
	size_t want_len;
	uint64_t last_seq;	/* highest seq read */
	unsigned n;		/* conflict events for keys under want */
};

/* The event's exact key: "key_hex" when the key is not UTF-8, else "key". */
static bool event_key(const struct json_doc *d, char *buf, size_t cap, size_t *len)
{
	size_t i = json_obj_get(d, 0, "key_hex");

	if (i) {
		char hex[2 * 1024 + 1];
		size_t hl;

		if (json_str_get(d, i, hex, sizeof hex, &hl) || hl % 2 || hl / 2 >= cap ||
		    hex_decode(hex, hl, buf, false))
			return false;
		*len = hl / 2;
		return true;
	}
	i = json_obj_get(d, 0, "key");
	return i && json_str_get(d, i, buf, cap, len) == 0;
}

static int conflicts_seen_cb(void *arg, uint64_t seq, const char *kind, const char *line,
			     size_t len)
{
	struct conflicts_seen *cs = arg;
	struct json_doc d = { 0 };
	char key[1100];
	size_t klen;

	if (seq > cs->last_seq)
		cs->last_seq = seq;
	if (!cs->want || strcmp(kind, JOURNAL_CONFLICT) != 0)
		return 0;
	if (json_parse(line, len, 4, 64, &d) == 0 && event_key(&d, key, sizeof key, &klen) &&
	    klen >= cs->want_len && memcmp(key, cs->want, cs->want_len) == 0 &&
	    (klen == cs->want_len || cs->want_len == 0 || cs->want[cs->want_len - 1] == '/' ||
	     key[cs->want_len] == '/')) {
		cs->n++;
		fprintf(stderr, "s3filesctl: conflict: %s\n", line);
	}
	json_doc_free(&d);
	return 0;
}

/* Poll SYNCED until the subtree is in S3, or the timeout passes. The daemon commits on
 * its own schedule (or `s3filesctl commit`) and resolves conflicts at once; this only
 * watches. Conflicts under PATH that were resolved meanwhile (S3 won: the file-side
 * version went to lost+found) are read from the journal and make the result 3. */
static void json_put_str(FILE *out, const char *s);

static int wait_synced(const struct conf_export *ce, const char *sock, const char *path,
		       double timeout_s, bool json)
{
	uint32_t export_id = ce->export_id;
	char *esc = ctlp_escape_dup(path), req[16384], last[8192] = "", want[1100];
	struct conflicts_seen cs = { 0 };
	double t0 = clock_mono_s();
	useconds_t nap = 50000;
	bool stuck_warned = false;
	int rc = 1;

	if (!esc)
		return 1;
	/* Where the journal ends now: conflicts after this happened during the wait. */
	(void)journal_read(ce->journal_path, 0, conflicts_seen_cb, &cs);
	snprintf(want, sizeof want, "%s%s", ce->prefix, path + strspn(path, "/"));
	cs.want = want;
	cs.want_len = strlen(want);
	while (cs.want_len > strlen(ce->prefix) && want[cs.want_len - 1] == '/')
		want[--cs.want_len] = '\0';
	snprintf(req, sizeof req, "SYNCED %u %s", export_id, esc);
	for (;;) {
		char *buf = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&buf, &len);

		if (!mem)
			break;
		rc = ctl_call_t(sock, req, mem, last, sizeof last, CTL_READ_REPLY_TIMEOUT_S);
		fclose(mem);
		if (rc && ctlp_busy(last)) {
			/* the daemon's connections are all taken for now: ask again later */
			free(buf);
			buf = NULL;
			last[0] = '\0';
		} else if (rc) {
			fprintf(stderr, "s3filesctl: %s\n", last[0] ? last : "no answer");
			free(buf);
			rc = 1;
			break;
		} else if (ctlp_field_u(last, "synced") == 1) {
			/* "ETAG <etag> <rel>" -> "<etag>  <path>/<rel>" */
			const char *base = strcmp(path, "/") == 0 ? "" : path;

			for (char *l = buf, *nl; l && *l; l = nl ? nl + 1 : NULL) {
				nl = strchr(l, '\n');
				if (nl)
					*nl = '\0';
				if (strncmp(l, "ETAG ", 5) == 0) {
					char *etag = l + 5, *rel = strchr(etag, ' ');

					if (!rel)
						continue;
					*rel++ = '\0';
					if (json) {
						char *full = NULL;

						(void)ctlp_unescape(rel, false);
						if (asprintf(&full, "%s%s%s", base,
							     base[0] && rel[0] &&
							     base[strlen(base) - 1] != '/' ? "/" : "",
							     rel) < 0)
							continue;
						fputs("{\"etag\":", stdout);
						json_put_str(stdout, etag);
						fputs(",\"path\":", stdout);
						json_put_str(stdout, full);
						fputs("}\n", stdout);
						free(full);
						continue;
					}
					printf("%s  %s%s%s\n", etag, base,
					       base[0] && rel[0] && base[strlen(base) - 1] != '/' ? "/" : "",
					       rel);
				}
			}
			free(buf);
			(void)journal_read(ce->journal_path, cs.last_seq + 1, conflicts_seen_cb, &cs);
			rc = cs.n ? 3 : 0;
			if (cs.n)
				fprintf(stderr, "s3filesctl: %s: %u conflict(s) while waiting: S3's "
					"version is in place, the file-side version in lost+found\n",
					path, cs.n);
			break;
		}
		free(buf);
		if (ctlp_field_u(last, "conflicts") && !stuck_warned && clock_mono_s() - t0 >= 5) {
			const char *k = strstr(last, "conflict_key=");

			/* Normally resolved within a second; longer means S3 is unreachable. */
			fprintf(stderr, "s3filesctl: %s: %llu file(s) in conflict, not resolved yet%s%s\n",
				path, ctlp_field_u(last, "conflicts"), k ? ", e.g. S3 key " : "",
				k ? k + 13 : "");
			stuck_warned = true;
		}
		if (timeout_s >= 0 && clock_mono_s() - t0 >= timeout_s) {
			fprintf(stderr, "s3filesctl: %s: not in S3 after %.0f s: %llu dirty, %llu "
				"deletes pending\n", path, timeout_s, ctlp_field_u(last, "dirty"),
				ctlp_field_u(last, "deletes"));
			rc = 124;
			break;
		}
		usleep(nap);
		if (nap < 500000)
			nap *= 2;
	}
	free(esc);
	return rc;
}

/* LS: the daemon's "ENTRY ..." lines without the tag. */
static void json_put_str(FILE *out, const char *s);

static int list_path(const char *sock, uint32_t export_id, const char *path, bool json)
{
	char *esc = ctlp_escape_dup(path), req[16384], last[8192] = "";
	char *buf = NULL;
	size_t len = 0;
	FILE *mem;
	int rc;

	if (!esc)
		return 1;
	snprintf(req, sizeof req, "LS %u %s", export_id, esc);
	free(esc);
	mem = open_memstream(&buf, &len);
	if (!mem)
		return 1;
	rc = ctl_call_t(sock, req, mem, last, sizeof last, CTL_READ_REPLY_TIMEOUT_S);
	fclose(mem);
	if (rc) {
		fprintf(stderr, "s3filesctl: %s\n", last[0] ? last : "no answer");
		free(buf);
		return 1;
	}
	for (char *l = buf, *nl; l && *l; l = nl ? nl + 1 : NULL) {
		nl = strchr(l, '\n');
		if (nl)
			*nl = '\0';
		if (strncmp(l, "ENTRY ", 6) != 0)
			continue;
		if (!json) {
			printf("%s\n", l + 6);
			continue;
		}
		/* ENTRY TYPE SIZE STATE ETAG NAME */
		char type[8], st[16], etag[128];
		unsigned long long size;
		int off = 0;

		if (sscanf(l + 6, "%7s %llu %15s %127s %n", type, &size, st, etag, &off) < 4 ||
		    off == 0)
			continue;
		printf("{\"type\":\"%s\",\"size\":%llu,\"state\":\"%s\",\"etag\":", type, size, st);
		if (strcmp(etag, "-") == 0)
			fputs("null", stdout);
		else
			json_put_str(stdout, etag);
		fputs(",\"name\":", stdout);
		(void)ctlp_unescape(l + 6 + off, false);
		json_put_str(stdout, l + 6 + off);
		fputs("}\n", stdout);
	}
	free(buf);
	if (strstr(last, " listed=0"))
		fprintf(stderr, "s3filesctl: %s: not listed from S3 yet (no client has looked "
			"into it); showing what is known\n", path);
	return 0;
}

/* ---- protocol lines as text and as JSON ---- */

/* The same as a number with a fraction (0 if absent). */
static double field_d(const char *line, const char *key)
{
	char buf[64];

	return ctlp_field_s(line, key, buf, sizeof buf) ? strtod(buf, NULL) : 0;
}

static bool name_in(const char *name, size_t len, const char *const *set)
{
	for (; set && *set; set++)
		if (strlen(*set) == len && memcmp(*set, name, len) == 0)
			return true;
	return false;
}

static void json_put_str(FILE *out, const char *s);

/* The key=value fields of a protocol line (after its tag) as the members of a JSON object
 * (without braces): values of the keys in `numeric` that are integers as numbers, "-" as
 * null, everything else as strings, %-escapes decoded. */
static void kv_json_members(FILE *out, const char *fields, const char *const *numeric, bool first)
{
	const char *p = fields;

	while (*p) {
		size_t tl = strcspn(p, " \n");
		const char *eq = memchr(p, '=', tl);

		if (eq && eq > p) {
			size_t kl = (size_t)(eq - p), vl = tl - kl - 1;
			char *v = strndup(eq + 1, vl);
			char *k = strndup(p, kl);
			char *end = NULL;

			if (!v || !k) {
				free(v);
				free(k);
				return;
			}
			if (!first)
				fputc(',', out);
			first = false;
			json_put_str(out, k);
			fputc(':', out);
			if (strcmp(v, "-") == 0) {
				fputs("null", out);
			} else if (name_in(p, kl, numeric) && vl &&
				   (strtoll(v, &end, 10), end && *end == '\0')) {
				fputs(v, out);
			} else {
				(void)ctlp_unescape(v, false);
				json_put_str(out, v);
			}
			free(v);
			free(k);
		}
		p += tl;
		p += strspn(p, " \n");
	}
}

/* Run a request and collect its whole answer (data lines in *buf, final line in last). */
static int ctl_collect(const char *sock, const char *req, char **buf, char *last, size_t lastlen,
		       int timeout_s)
{
	size_t len = 0;
	FILE *mem = open_memstream(buf, &len);
	int rc;

	if (!mem)
		return 1;
	rc = ctl_call_t(sock, req, mem, last, lastlen, timeout_s);
	fclose(mem);
	if (rc)
		fprintf(stderr, "s3filesctl: %s\n", last[0] ? last : "no answer");
	return rc;
}

static char *next_line(char **cur)
{
	char *l = *cur, *nl;

	if (!l || !*l)
		return NULL;
	nl = strchr(l, '\n');
	if (nl) {
		*nl = '\0';
		*cur = nl + 1;
	} else {
		*cur = NULL;
	}
	return l;
}

static const char *const status_numeric[] = {
	"id", "dirty", "deletes", "commits", "errors", "conflicts", "polls", "evicted",
	"tier_bytes", "export", "job", "moved", "listed", "skipped", NULL
};

/* status --json: one object per export, its directory renames in "renames". */
static int status_json(const char *sock)
{
	char *buf = NULL, *cur, *l, last[8192] = "";
	bool open_obj = false, renames = false;
	int rc = ctl_collect(sock, "STATUS", &buf, last, sizeof last, CTL_STATUS_TIMEOUT_S);

	if (rc) {
		free(buf);
		return 1;
	}
	printf("{\"exports\":[");
	for (cur = buf; (l = next_line(&cur));) {
		if (strncmp(l, "EXPORT ", 7) == 0) {
			if (open_obj)
				printf("%s},", renames ? "]" : ",\"renames\":[]");
			putchar('{');
			kv_json_members(stdout, l + 7, status_numeric, true);
			open_obj = true;
			renames = false;
		} else if (strncmp(l, "RENAME ", 7) == 0 && open_obj) {
			printf(renames ? ",{" : ",\"renames\":[{");
			kv_json_members(stdout, l + 7, status_numeric, true);
			putchar('}');
			renames = true;
		}
	}
	if (open_obj)
		printf("%s}", renames ? "]" : ",\"renames\":[]");
	printf("]}\n");
	free(buf);
	return 0;
}

/* ---- state ---- */

static const char *const state_numeric[] = {
	"ino", "size", "s3_size", "local_bytes", "dirty_since", "last_modified", "confirmed",
	"subtree_dirty", "subtree_deletes", "subtree_conflicts", "subtree_renames", NULL
};

/* Unix seconds as UTC, "-" for 0 (unknown). */
static const char *utc(long long t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm))
		return "-";
	strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static int state_cmd(const char *sock, uint32_t export_id, const char *path, bool json)
{
	char *esc = ctlp_escape_dup(path), req[16384], last[8192] = "", *buf = NULL, *cur, *l;
	int rc;

	if (!esc)
		return 1;
	snprintf(req, sizeof req, "STATE %u %s", export_id, esc);
	free(esc);
	rc = ctl_collect(sock, req, &buf, last, sizeof last, CTL_READ_REPLY_TIMEOUT_S);
	for (cur = buf; rc == 0 && (l = next_line(&cur));) {
		char v[4200], w[64], t[64];

		if (strncmp(l, "STATE ", 6) != 0)
			continue;
		if (json) {
			putchar('{');
			kv_json_members(stdout, l + 6, state_numeric, true);
			printf("}\n");
			continue;
		}
		ctlp_field_s(l, "path", v, sizeof v);
		printf("path:           /%s\n", v + strspn(v, "/"));
		ctlp_field_s(l, "state", v, sizeof v);
		ctlp_field_s(l, "why", w, sizeof w);
		printf("state:          %s\n", v);
		ctlp_field_s(l, "detail", v, sizeof v);
		printf("why:            %s: %s\n", w[0] ? w : "-", v);
		printf("size:           %llu local, %llu in S3\n", ctlp_field_u(l, "size"),
		       ctlp_field_u(l, "s3_size"));
		ctlp_field_s(l, "data", v, sizeof v);
		if (v[0])
			printf("local data:     %s (%llu bytes)\n", v, ctlp_field_u(l, "local_bytes"));
		ctlp_field_s(l, "etag", v, sizeof v);
		printf("etag:           %s\n", v[0] ? v : "-");
		ctlp_field_s(l, "version", v, sizeof v);
		if (v[0])
			printf("version:        %s\n", v);
		ctlp_field_s(l, "key", v, sizeof v);
		printf("S3 key:         %s\n", v[0] ? v : "-");
		if (ctlp_field_s(l, "source", v, sizeof v))
			printf("reads from:     %s (its old key, until the commit moves it)\n", v);
		printf("dirty since:    %s\n", utc((long long)ctlp_field_u(l, "dirty_since"), t, sizeof t));
		printf("last modified:  %s (S3's Last-Modified of the version above)\n",
		       utc((long long)ctlp_field_u(l, "last_modified"), t, sizeof t));
		printf("confirmed:      %s (last commit or listing that showed it)\n",
		       utc((long long)ctlp_field_u(l, "confirmed"), t, sizeof t));
		if (strstr(l, " subtree_dirty="))
			printf("below it:       %llu dirty (%llu in conflict), %llu deletes pending, "
			       "%llu directory renames moving\n", ctlp_field_u(l, "subtree_dirty"),
			       ctlp_field_u(l, "subtree_conflicts"), ctlp_field_u(l, "subtree_deletes"),
			       ctlp_field_u(l, "subtree_renames"));
	}
	free(buf);
	return rc ? 1 : 0;
}

/* ---- conflicts ---- */

static const char *const conflict_numeric[] = {
	"ino", "size", "mtime_file", "mtime_s3", NULL
};

static int conflicts_cmd(const char *sock, uint32_t export_id, bool json)
{
	char req[64], last[8192] = "", *buf = NULL, *cur, *l;
	int rc;

	snprintf(req, sizeof req, "CONFLICTS %u", export_id);
	rc = ctl_collect(sock, req, &buf, last, sizeof last, CTL_READ_REPLY_TIMEOUT_S);
	if (rc == 0 && !json && ctlp_field_u(last, "entries"))
		printf("%-20s %-20s %-34s %-20s %-34s %-8s %s\n", "RESOLVED", "FILE_MTIME",
		       "ETAG_BASE", "S3_MTIME", "ETAG_S3", "S3", "LOST+FOUND -> KEY");
	for (cur = buf; rc == 0 && (l = next_line(&cur));) {
		char name[1100], key[1100], eb[128], es[128], s3[32], when[64], t1[64], t2[64];
		char *nesc, *kesc;

		if (strncmp(l, "CONFLICT ", 9) != 0)
			continue;
		if (json) {
			putchar('{');
			kv_json_members(stdout, l + 9, conflict_numeric, true);
			printf("}\n");
			continue;
		}
		ctlp_field_s(l, "name", name, sizeof name);
		ctlp_field_s(l, "key", key, sizeof key);
		ctlp_field_s(l, "etag_base", eb, sizeof eb);
		ctlp_field_s(l, "etag_s3", es, sizeof es);
		ctlp_field_s(l, "s3", s3, sizeof s3);
		ctlp_field_s(l, "resolved", when, sizeof when);
		nesc = ctlp_escape_dup(name);
		kesc = ctlp_escape_dup(key);
		printf("%-20.20s %-20s %-34s %-20s %-34s %-8s lost+found/%s -> %s\n",
		       when[0] ? when : "-", utc((long long)ctlp_field_u(l, "mtime_file"), t1, sizeof t1),
		       eb[0] ? eb : "-", utc((long long)ctlp_field_u(l, "mtime_s3"), t2, sizeof t2),
		       es[0] ? es : "-", s3[0] ? s3 : "-", nesc ? nesc : "?",
		       kesc && key[0] ? kesc : "-");
		free(nesc);
		free(kesc);
	}
	free(buf);
	return rc ? 1 : 0;
}

/* ---- prefetch ---- */

struct pf_view {
	bool tty;
	double last_s;		/* when the last plain line was printed */
	int width;		/* characters of the last bar drawn */
	unsigned long long files, bytes;	/* from PLAN */
};

static void human_bytes(unsigned long long b, char *buf, size_t cap)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, cap, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void pf_show(struct pf_view *v, const char *l, bool final)
{
	unsigned long long fd = ctlp_field_u(l, "files_done"), fs = ctlp_field_u(l, "files");
	unsigned long long bd = ctlp_field_u(l, "bytes_done"), bs = ctlp_field_u(l, "bytes");
	unsigned long long ms = ctlp_field_u(l, "elapsed_ms"), sk = ctlp_field_u(l, "skipped");
	double rate = ms ? (double)ctlp_field_u(l, "fetched") * 1000.0 / (double)ms : 0;
	char hb[32], hs[32], hr[32];

	human_bytes(bd, hb, sizeof hb);
	human_bytes(bs, hs, sizeof hs);
	human_bytes((unsigned long long)rate, hr, sizeof hr);
	if (v->tty) {
		int pct = bs ? (int)(bd * 100 / bs) : (fs ? (int)((fd + sk) * 100 / fs) : 100);
		char bar[31];
		int fill = pct * 30 / 100, n;

		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = '\0';
		n = printf("\r[%s] %3d%%  %s / %s  %llu/%llu files  %s/s", bar, pct, hb, hs,
			   fd, fs, hr);
		if (!final && rate > 0 && bs > bd) {
			unsigned long long eta = (unsigned long long)((double)(bs - bd) / rate);

			n += printf("  ETA %llu:%02llu", eta / 60, eta % 60);
		}
		if (sk)
			n += printf("  %llu skipped", sk);
		/* clear what a longer earlier line left */
		for (int i = n; i < v->width; i++)
			putchar(' ');
		v->width = n;
		if (final)
			putchar('\n');
		fflush(stdout);
		return;
	}
	if (!final && clock_mono_s() - v->last_s < 1.0)
		return;
	v->last_s = clock_mono_s();
	printf("prefetch: %llu/%llu files, %s of %s, %s/s%s\n", fd, fs, hb, hs, hr,
	       sk ? ", some skipped" : "");
	fflush(stdout);
}

/* PREFETCH streams its progress: lines are shown as they arrive, no timeout (a large
 * file's window may take long). Exit 0 done, 3 stopped at the quota, 1 otherwise. */
static int prefetch_cmd(const char *sock, uint32_t export_id, const char *path)
{
	struct pf_view v = { .tty = isatty(STDOUT_FILENO) == 1 };
	char *esc = ctlp_escape_dup(path), req[16384], line[16384], last[16384] = "";
	double t0 = clock_mono_s();
	int rc = 1;

	if (!esc)
		return 1;
	snprintf(req, sizeof req, "PREFETCH %u %s", export_id, esc);
	free(esc);
	for (;;) {
		bool busy = false, first = true;
		FILE *in;

		if (ctl_open(sock, req, 0, &in))
			return 1;
		last[0] = '\0';
		while (fgets(line, sizeof line, in)) {
			if (first && ctlp_busy(line))
				busy = true;
			first = false;
			line[strcspn(line, "\n")] = '\0';
			if (strncmp(line, "PLAN ", 5) == 0) {
				char hb[32], hl[32];

				v.files = ctlp_field_u(line, "fetch_files");
				v.bytes = ctlp_field_u(line, "fetch_bytes");
				human_bytes(ctlp_field_u(line, "fetch_bytes"), hb, sizeof hb);
				human_bytes(ctlp_field_u(line, "local_bytes"), hl, sizeof hl);
				printf("prefetch: %llu files under %s; %llu already local (%s); "
				       "%llu to fetch (%s)\n", ctlp_field_u(line, "files"), path,
				       ctlp_field_u(line, "local_files"), hl, v.files, hb);
				fflush(stdout);
			} else if (strncmp(line, "PROGRESS ", 9) == 0) {
				snprintf(last, sizeof last, "%s", line);
				pf_show(&v, line, false);
			} else if (ctlp_line_kind(line) != CTLP_DATA) {
				if (last[0] && ctlp_line_kind(line) == CTLP_OK)
					pf_show(&v, last, true);
				else if (last[0] && v.tty)
					putchar('\n');
				snprintf(last, sizeof last, "%s", line);
				break;
			}
		}
		fclose(in);
		if (!busy || clock_mono_s() - t0 >= CTL_BUSY_RETRY_S)
			break;
		usleep(200000);
	}
	if (ctlp_line_kind(last) == CTLP_OK) {
		char hb[32];

		human_bytes(ctlp_field_u(last, "fetched_bytes"), hb, sizeof hb);
		printf("prefetch: done: %llu files fetched (%s) in %.1f s; %llu were local; "
		       "%llu skipped (changed in S3, removed or never uploaded)\n",
		       ctlp_field_u(last, "fetched_files"), hb, field_d(last, "seconds"),
		       ctlp_field_u(last, "local_files"), ctlp_field_u(last, "skipped"));
		rc = 0;
	} else if (strncmp(last, "ERR quota", 9) == 0) {
		char hu[32], hq[32], hn[32], p[4200];

		human_bytes(ctlp_field_u(last, "tier"), hu, sizeof hu);
		human_bytes(ctlp_field_u(last, "quota"), hq, sizeof hq);
		human_bytes(ctlp_field_u(last, "need"), hn, sizeof hn);
		ctlp_field_s(last, "path", p, sizeof p);
		fprintf(stderr, "s3filesctl: prefetch stopped at the data tier's quota: %s of "
			"Data_Quota %s in use, the next file (%s) needs %s more. %llu files were "
			"fetched and stay local; %llu are left. Raise Data_Quota or prefetch a "
			"smaller subtree (nothing was evicted for this).\n", hu, hq,
			p[0] ? p : "?", hn, ctlp_field_u(last, "fetched_files"),
			ctlp_field_u(last, "left_files"));
		rc = 3;
	} else if (strncmp(last, "ERR fetch", 9) == 0 || strncmp(last, "ERR interrupted", 15) == 0) {
		char p[4200], e[256];

		ctlp_field_s(last, "path", p, sizeof p);
		ctlp_field_s(last, "error", e, sizeof e);
		if (last[4] == 'f')
			fprintf(stderr, "s3filesctl: prefetch stopped: fetching %s: %s. ",
				p[0] ? p : "?", e[0] ? e : "error");
		else
			fprintf(stderr, "s3filesctl: prefetch interrupted: s3files-syncd is "
				"stopping. ");
		fprintf(stderr, "%llu files were fetched and stay local, %llu are left; run it "
			"again to go on.\n", ctlp_field_u(last, "fetched_files"),
			ctlp_field_u(last, "left_files"));
		rc = 1;
	} else {
		fprintf(stderr, "s3filesctl: prefetch: %s\n", last[0] ? last :
			"no answer (s3files-syncd stopped?); what was fetched stays local, run it "
			"again to go on");
		rc = 1;
	}
	return rc;
}

static const struct conf_export *pick_export(const struct conf *c, long id)
{
	if (id >= 0)
		return conf_export_by_id(c, (uint32_t)id);
	return c->n_exports == 1 ? &c->exports[0] : NULL;
}

struct events_arg {
	const char *kind;
};

static int print_event(void *arg, uint64_t seq, const char *kind, const char *line, size_t len)
{
	struct events_arg *a = arg;

	(void)seq;
	if (a->kind && strcmp(a->kind, kind) != 0)
		return 0;
	fwrite(line, 1, len, stdout);
	fputc('\n', stdout);
	return 0;
}

/* ---- fsck ---- */

struct fsck_out {
	bool json;
	unsigned long long left[FSCK_NCLASS];	/* findings left unrepaired, by class */
};

/* A JSON string: quotes, backslash and control bytes escaped; bytes that are not UTF-8
 * as U+FFFD (JSON text must be UTF-8). */
static void json_put_str(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', out);
	while (*p) {
		unsigned char c = *p;
		size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
			   (c & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = n > 0;

		for (size_t i = 1; ok && i < n; i++)
			ok = (p[i] & 0xc0) == 0x80;
		/* overlong two-byte forms and values above U+10FFFF */
		if (ok && n == 2 && c < 0xc2)
			ok = false;
		if (ok && n == 4 && (c > 0xf4 || (c == 0xf4 && p[1] > 0x8f)))
			ok = false;
		if (!ok) {
			fputs("\\ufffd", out);
			p++;
			continue;
		}
		if (n > 1) {
			fwrite(p, 1, n, out);
		} else if (c == '"' || c == '\\') {
			fputc('\\', out);
			fputc(c, out);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(out, "\\u%04x", c);
		} else {
			fputc(c, out);
		}
		p += n;
	}
	fputc('"', out);
}

static void fsck_print(void *arg, const struct fsck_finding *f)
{
	struct fsck_out *o = arg;

	if (f->action != FSCK_A_REPAIRED && f->action != FSCK_A_GONE && (unsigned)f->cls < FSCK_NCLASS)
		o->left[f->cls]++;
	if (o->json) {
		fputs("{\"class\":", stdout);
		json_put_str(stdout, fsck_class_name(f->cls));
		fputs(",\"kind\":", stdout);
		json_put_str(stdout, f->kind);
		printf(",\"ino\":%llu,\"path\":", (unsigned long long)f->ino);
		json_put_str(stdout, f->path);
		fputs(",\"action\":", stdout);
		json_put_str(stdout, fsck_action_name(f->action));
		if (f->action == FSCK_A_FAILED) {
			fputs(",\"error\":", stdout);
			json_put_str(stdout, s3f_strerror(f->rc));
		}
		printf(",\"bytes\":%llu,\"detail\":", (unsigned long long)f->bytes);
		json_put_str(stdout, f->detail);
		fputs("}\n", stdout);
	} else {
		char *esc = f->path[0] ? ctlp_escape_dup(f->path) : NULL;

		printf("%s %s %llu %s %s", fsck_class_name(f->cls), f->kind,
		       (unsigned long long)f->ino, esc ? esc : "-", fsck_action_name(f->action));
		if (f->action == FSCK_A_FAILED)
			printf(" (%s)", s3f_strerror(f->rc));
		printf(" %s\n", f->detail);
		free(esc);
	}
}

static int fsck_cmd(const struct conf_export *ce, bool repair, bool online, bool json)
{
	struct fsck_out out = { .json = json };
	struct fsck_opts o = { .repair = repair, .online = online, .report = fsck_print,
			       .arg = &out };
	struct fsck_excl *excl = NULL;
	struct export_ctx *x = NULL;
	struct fsck_stats st;
	char who[640], mdb[4096];
	struct stat sb;
	int rc, status;

	/* Opening a store creates one where there is none: a wrong State_Dir would check as
	 * an empty, clean export. */
	snprintf(mdb, sizeof mdb, "%s/data.mdb", ce->meta_dir);
	if (stat(mdb, &sb) != 0) {
		fprintf(stderr, "s3filesctl: fsck: export %u: no metadata store at %s: %s\n",
			ce->export_id, mdb, strerror(errno));
		return 2;
	}
	if (repair && !online) {
		rc = fsck_exclusive_begin(ce->state_dir, &excl, who, sizeof who);
		if (rc == EWOULDBLOCK) {
			fprintf(stderr, "s3filesctl: fsck --repair: %s runs on %s; stop the gateway "
				"first, or repair what is safe while it runs with --online\n",
				who[0] ? who : "another process", ce->state_dir);
			return 2;
		}
		if (rc) {
			fprintf(stderr, "s3filesctl: fsck: lock %s: %s\n", ce->state_dir,
				s3f_strerror(rc));
			return 2;
		}
	}
	rc = export_ctx_open(ce, EXPORT_CTX_NO_S3, &x);
	if (rc) {
		fprintf(stderr, "s3filesctl: fsck: export %u: cannot open its state in %s: %s\n",
			ce->export_id, ce->state_dir, s3f_strerror(rc));
		status = 2;
		goto out;
	}
	rc = fsck_run(x, &o, &st);
	fflush(stdout);
	if (rc) {
		fprintf(stderr, "s3filesctl: fsck: export %u: the check stopped: %s\n",
			ce->export_id, s3f_strerror(rc));
		status = 2;
		goto out;
	}
	/* Legal states and garbage (harmless) left: 0; anything else left: 1. */
	status = out.left[FSCK_POWERCUT] || out.left[FSCK_ERROR] || out.left[FSCK_LOSS] ? 1 : 0;
	if (json) {
		printf("{\"summary\":true,\"export\":%u,\"inodes\":%llu,\"files\":%llu,"
		       "\"dirs\":%llu,\"symlinks\":%llu,\"specials\":%llu,\"data_files\":%llu,"
		       "\"data_bytes\":%llu,"
		       "\"unused_data_files\":%llu,\"legal\":%llu,\"garbage\":%llu,"
		       "\"powercut\":%llu,\"error\":%llu,\"loss\":%llu,\"repaired\":%llu,"
		       "\"unrepaired\":%llu,\"moved_files\":%llu,\"moved_bytes\":%llu,"
		       "\"status\":%d}\n", ce->export_id, (unsigned long long)st.inodes,
		       (unsigned long long)st.files, (unsigned long long)st.dirs,
		       (unsigned long long)st.symlinks, (unsigned long long)st.specials,
		       (unsigned long long)st.data_files,
		       (unsigned long long)st.data_bytes, (unsigned long long)st.unused_data_files,
		       (unsigned long long)st.found[FSCK_LEGAL],
		       (unsigned long long)st.found[FSCK_GARBAGE],
		       (unsigned long long)st.found[FSCK_POWERCUT],
		       (unsigned long long)st.found[FSCK_ERROR],
		       (unsigned long long)st.found[FSCK_LOSS], (unsigned long long)st.repaired,
		       (unsigned long long)st.unrepaired, (unsigned long long)st.moved_files,
		       (unsigned long long)st.moved_bytes, status);
	} else {
		printf("fsck export %u: %llu inodes (%llu files, %llu dirs, %llu symlinks, "
		       "%llu special), "
		       "%llu data files, %llu data bytes; found: %llu legal, %llu garbage, "
		       "%llu powercut, %llu error, %llu loss; %llu repaired, %llu unrepaired",
		       ce->export_id, (unsigned long long)st.inodes, (unsigned long long)st.files,
		       (unsigned long long)st.dirs, (unsigned long long)st.symlinks,
		       (unsigned long long)st.specials, (unsigned long long)st.data_files, (unsigned long long)st.data_bytes,
		       (unsigned long long)st.found[FSCK_LEGAL],
		       (unsigned long long)st.found[FSCK_GARBAGE],
		       (unsigned long long)st.found[FSCK_POWERCUT],
		       (unsigned long long)st.found[FSCK_ERROR],
		       (unsigned long long)st.found[FSCK_LOSS], (unsigned long long)st.repaired,
		       (unsigned long long)st.unrepaired);
		if (st.moved_files)
			printf(" (%llu files, %llu bytes moved to %s/fsck-orphans/)",
			       (unsigned long long)st.moved_files, (unsigned long long)st.moved_bytes,
			       ce->state_dir);
		printf("\n");
	}
out:
	export_ctx_close(x);
	fsck_exclusive_end(excl);
	return status;
}

int main(int argc, char **argv)
{
	const char *conf_path = getenv("S3FILES_CONF");
	struct conf *c = NULL;
	char err[8192] = "";
	const char *cmd;
	int rc;

	/* The packaged units render /etc/s3files/ganesha.conf (s3files-genconf); a host
	 * configured by hand keeps Debian's ganesha.conf. */
	if (!conf_path)
		conf_path = access("/etc/s3files/ganesha.conf", F_OK) == 0 ?
			"/etc/s3files/ganesha.conf" : "/etc/ganesha/ganesha.conf";
	if (argc >= 3 && strcmp(argv[1], "-f") == 0) {
		conf_path = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	argv++;
	argc--;
	if (strcmp(cmd, "config-help") == 0) {
		if (argc >= 2 && strcmp(argv[1], "--man") == 0)
			conf_describe_man(stdout);	/* the build's s3files.conf(5) */
		else
			conf_describe(stdout);
		return 0;
	}
	rc = conf_load(conf_path, &c, err, sizeof err);
	if (strcmp(cmd, "config-check") == 0) {
		if (rc) {
			fprintf(stderr, "%s", err);
			if (err[0] && err[strlen(err) - 1] != '\n')
				fputc('\n', stderr);
			return 1;
		}
		for (const char *w = c->warnings; w && *w;) {
			size_t n = strcspn(w, "\n");

			fprintf(stderr, "warning: %.*s\n", (int)n, w);
			w += n + (w[n] == '\n');
		}
		printf("OK %s: %zu S3FILES export(s)\n", conf_path, c->n_exports);
		conf_free(c);
		return 0;
	}
	if (rc) {
		fprintf(stderr, "s3filesctl: invalid configuration:\n%s\n", err);
		return strcmp(cmd, "fsck") == 0 ? 2 : 1;	/* fsck: "could not check" */
	}

	long export_id = -1;
	double timeout_s = -1;
	const char *from = NULL, *kind = NULL;
	bool repair = false, online = false, json = false;
	static const struct option longopts[] = {
		{ "export", required_argument, NULL, 'e' },
		{ "from", required_argument, NULL, 'F' },
		{ "kind", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "repair", no_argument, NULL, 'R' },
		{ "online", no_argument, NULL, 'O' },
		{ "json", no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "e:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'e': export_id = strtol(optarg, NULL, 10); break;
		case 'F': from = optarg; break;
		case 'k': kind = optarg; break;
		case 'R': repair = true; break;
		case 'O': online = true; break;
		case 'J': json = true; break;
		case 'T': {
			char *end;

			timeout_s = strtod(optarg, &end);
			if (*end || timeout_s < 0) {
				fprintf(stderr, "s3filesctl: --timeout wants seconds, got '%s'\n",
					optarg);
				conf_free(c);
				return 2;
			}
			break;
		}
		default: usage(stderr); conf_free(c); return 2;
		}
	}

	rc = 2;
	if (strcmp(cmd, "status") == 0) {
		if (!c->daemon.control_socket)
			rc = 1;
		else if (json)
			rc = status_json(c->daemon.control_socket);
		else
			rc = ctl_request_t(c->daemon.control_socket, "STATUS", CTL_STATUS_TIMEOUT_S);
	} else if (strcmp(cmd, "commit") == 0) {
		const struct conf_export *ce = pick_export(c, export_id);
		const char *path = optind < argc ? argv[optind] : "/";
		char *esc = ctlp_escape_dup(path), req[16384];

		if (!ce) {
			fprintf(stderr, "s3filesctl: name the export with -e ID\n");
			rc = 2;
		} else if (!esc || !c->daemon.control_socket) {
			rc = 1;
		} else {
			snprintf(req, sizeof req, "COMMIT %u %s", ce->export_id, esc);
			rc = ctl_request(c->daemon.control_socket, req);
		}
		free(esc);
	} else if (strcmp(cmd, "wait-synced") == 0) {
		const struct conf_export *ce = pick_export(c, export_id);
		const char *path = optind < argc ? argv[optind] : "/";

		if (!ce) {
			fprintf(stderr, "s3filesctl: name the export with -e ID\n");
			rc = 2;
		} else {
			rc = c->daemon.control_socket ?
			     wait_synced(ce, c->daemon.control_socket, path, timeout_s, json) : 1;
		}
	} else if (strcmp(cmd, "ls") == 0) {
		const struct conf_export *ce = pick_export(c, export_id);
		const char *path = optind < argc ? argv[optind] : "/";

		if (!ce) {
			fprintf(stderr, "s3filesctl: name the export with -e ID\n");
			rc = 2;
		} else {
			rc = c->daemon.control_socket ?
			     list_path(c->daemon.control_socket, ce->export_id, path, json) : 1;
		}
	} else if (strcmp(cmd, "state") == 0 || strcmp(cmd, "prefetch") == 0) {
		const struct conf_export *ce = pick_export(c, export_id);
		const char *path = optind < argc ? argv[optind] : NULL;

		if (!ce) {
			fprintf(stderr, "s3filesctl: name the export with -e ID\n");
			rc = 2;
		} else if (cmd[0] == 's' && !path) {
			fprintf(stderr, "s3filesctl: state wants a PATH\n");
			rc = 2;
		} else if (!c->daemon.control_socket) {
			rc = 1;
		} else if (cmd[0] == 's') {
			rc = state_cmd(c->daemon.control_socket, ce->export_id, path, json);
		} else {
			rc = prefetch_cmd(c->daemon.control_socket, ce->export_id, path ? path : "/");
		}
	} else if (strcmp(cmd, "conflicts") == 0) {
		const struct conf_export *ce = pick_export(c, export_id);

		if (!ce) {
			fprintf(stderr, "s3filesctl: name the export with -e ID\n");
			rc = 2;
		} else {
			rc = c->daemon.control_socket ?
			     conflicts_cmd(c->daemon.control_socket, ce->export_id, json) : 1;
		}
	} else if (strcmp(cmd, "evict") == 0) {
		const struct conf_export *ce = pick_export(c, export_id);
		char req[64];

		if (!ce) {
			fprintf(stderr, "s3filesctl: name the export with -e ID\n");
			rc = 2;
		} else {
			snprintf(req, sizeof req, "EVICT %u", ce->export_id);
			rc = c->daemon.control_socket ? ctl_request(c->daemon.control_socket, req) : 1;
		}
	} else if (strcmp(cmd, "fsck") == 0) {
		const struct conf_export *ce = pick_export(c, export_id);

		if (!ce) {
			fprintf(stderr, "s3filesctl: name the export with -e ID\n");
			rc = 2;
		} else if (optind < argc) {
			fprintf(stderr, "s3filesctl: fsck takes no PATH (it checks the whole "
				"export)\n");
			rc = 2;
		} else {
			rc = fsck_cmd(ce, repair, online, json);
		}
	} else if (strcmp(cmd, "events") == 0) {
		const struct conf_export *ce = pick_export(c, export_id);
		struct events_arg ea = { kind };

		if (!ce) {
			fprintf(stderr, "s3filesctl: name the export with -e ID\n");
		} else {
			rc = journal_read(ce->journal_path, from ? strtoull(from, NULL, 10) : 0,
					  print_event, &ea);
			if (rc == ENOENT)
				rc = 0;	/* no events yet */
			if (rc)
				fprintf(stderr, "s3filesctl: %s: %s\n", ce->journal_path,
					s3f_strerror(rc));
			rc = rc ? 1 : 0;
		}
	} else {
		usage(stderr);
	}
	conf_free(c);
	return rc;
}
