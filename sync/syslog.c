/*
 * syslog.c — the exports' journal events, also to the system log (Syslog).
 *
 * The event journal (core/store/journal.h) is the durable record; this is a copy for the
 * people and tools that watch the system log. One thread follows every export's journal
 * from its end at start (events of before the start are not sent again), every
 * SYSLOG_POLL_MS, and sends each new event as one datagram in the format of the local
 * syslog socket (/dev/log, as syslog(3) writes it: "<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG"),
 * facility daemon, with a severity by kind (sync_syslog_severity). Following the journal
 * rather than hooking journal_append catches the events every process writes (the FSAL
 * appends too: a key a listing found unrepresentable), in the journal's order.
 *
 * Why not syslog(3): it only ever talks to /dev/log, and a test must be able to read the
 * messages back from a socket of its own (test/integration/ops.sh).
 *
 * A syslog that is not there (no socket, its queue full) loses the copy, never the event:
 * the first failure is logged, then one line per SYSLOG_WARN_S while it lasts. A journal
 * replaced or truncated under us (fsck, an operator) is followed from its start again,
 * skipping the sequence numbers already sent.
 */
#include "syncd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "store/journal.h"
#include "base/json.h"
#include "base/log.h"
#include "base/clock.h"

#define SYSLOG_POLL_MS 500
#define SYSLOG_MSG_MAX 8192		/* longer events are cut (the journal has them whole) */
#define SYSLOG_READ 65536
#define SYSLOG_WARN_S 300
/* syslog.h's names clash with log.h's macros (LOG_INFO, LOG_DEBUG): the numbers, from
 * RFC 5424 section 6.2.1. */
#define SYSLOG_FAC_DAEMON (3 << 3)

struct sync_syslog_src {
	uint32_t export_id;
	const char *path;
	off_t off;			/* next byte to read: the start of a line */
	dev_t dev;
	ino_t ino;
	uint64_t last_seq;		/* highest seq sent (or skipped at start) */
};

struct sync_syslog {
	struct syncd *d;
	int fd;				/* unbound AF_UNIX datagram socket */
	struct sockaddr_un sa;
	struct sync_syslog_src *src;
	size_t n;
	char *buf;			/* SYSLOG_READ bytes of journal */
	pthread_t thread;
	pthread_mutex_t mu;		/* with cv: stopping */
	pthread_cond_t cv;
	bool stopping;
	int64_t warned_ns;		/* last failure logged, clock_mono_ns() (0: none yet) */
	uint64_t sent, lost;
};

int sync_syslog_severity(const char *kind)
{
	static const struct {
		const char *kind;
		int sev;
	} map[] = {
		{ JOURNAL_CONFLICT, 4 },	/* warning: one side's version moved aside */
		{ JOURNAL_BAD_KEY, 4 },		/* warning: an object the view cannot show */
		{ JOURNAL_IMPORT_WARN, 4 },
		{ JOURNAL_BACKLOG, 4 },
		{ JOURNAL_COMMIT_FAILED, 3 },	/* error: a change is not in S3 */
		{ JOURNAL_COMMIT_RETRY, 5 },	/* notice: retried by itself */
		{ JOURNAL_UPLOAD_ABORTED, 5 },
		{ JOURNAL_RENAME_LARGE, 5 },
		{ JOURNAL_RENAME_PROGRESS, 6 },	/* info */
		{ JOURNAL_EVICT, 6 },
	};

	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(map[i].kind, kind) == 0)
			return map[i].sev;
	return 5;	/* a kind added later: noticed, not alarming */
}

/* Position src at the end of its journal: after its last complete line. */
static void sync_syslog_seek_end(struct sync_syslog *s, struct sync_syslog_src *src)
{
	struct stat st;
	int fd = open(src->path, O_RDONLY | O_CLOEXEC);

	src->off = 0;
	if (fd < 0)
		return;		/* no journal yet: it will start at 0 */
	if (fstat(fd, &st) == 0) {
		off_t from = st.st_size > SYSLOG_READ ? st.st_size - SYSLOG_READ : 0;
		ssize_t r = pread(fd, s->buf, (size_t)(st.st_size - from), from);

		src->dev = st.st_dev;
		src->ino = st.st_ino;
		while (r > 0 && s->buf[r - 1] != '\n')
			r--;	/* a torn or half-written last line: read it when complete */
		src->off = from + (r > 0 ? r : 0);
		/* The last complete event's seq: should the journal be replaced later, what
		 * is read again from its start is not sent twice. */
		if (r > 1) {
			ssize_t b = r - 1;
			struct json_doc jd = { 0 };
			size_t i;

			while (b > 0 && s->buf[b - 1] != '\n')
				b--;
			if (json_parse(s->buf + b, (size_t)(r - 1 - b), 4, 64, &jd) == 0 &&
			    (i = json_obj_get(&jd, 0, "seq")))
				(void)json_u64_get(&jd, i, &src->last_seq);
			json_doc_free(&jd);
		}
	}
	close(fd);
}

static void sync_syslog_send(struct sync_syslog *s, const struct sync_syslog_src *src,
			     const char *kind, const char *line, size_t len)
{
	char *msg = malloc(SYSLOG_MSG_MAX), stamp[32];
	struct tm tm;
	time_t now = time(NULL);
	int n;

	if (!msg)
		return;
	localtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
	n = snprintf(msg, SYSLOG_MSG_MAX, "<%d>%s s3files-syncd[%ld]: export %u: %s: %.*s",
		     SYSLOG_FAC_DAEMON | sync_syslog_severity(kind), stamp, (long)getpid(),
		     src->export_id, kind, (int)len, line);
	if (n >= SYSLOG_MSG_MAX)
		n = SYSLOG_MSG_MAX - 1;
	if (sendto(s->fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&s->sa,
		   sizeof s->sa) == n) {
		s->sent++;
	} else {
		int64_t t = clock_mono_ns();

		s->lost++;
		if (!s->warned_ns || t - s->warned_ns >= SYSLOG_WARN_S * 1000000000LL) {
			LOG_WARN(LOG_C_SYNC, "syslog %s: %s; %llu event(s) not copied there so far "
				 "(the journal has them)", s->sa.sun_path, strerror(errno),
				 (unsigned long long)s->lost);
			s->warned_ns = t;
		}
	}
	free(msg);
}

/* Send the complete lines added to src's journal since the last call. */
static void sync_syslog_follow(struct sync_syslog *s, struct sync_syslog_src *src)
{
	struct stat st;
	int fd = open(src->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	if (fstat(fd, &st) != 0)
		goto out;
	if (st.st_ino != src->ino || st.st_dev != src->dev || st.st_size < src->off) {
		/* replaced or truncated: from its start, sequence numbers tell what was sent */
		src->dev = st.st_dev;
		src->ino = st.st_ino;
		src->off = 0;
	}
	while (src->off < st.st_size) {
		ssize_t r = pread(fd, s->buf, SYSLOG_READ, src->off);
		size_t used = 0;

		if (r <= 0)
			break;
		for (;;) {
			char *nl = memchr(s->buf + used, '\n', (size_t)r - used);
			struct json_doc jd = { 0 };
			char kind[64];
			size_t len, i, kl;
			uint64_t seq;

			if (!nl)
				break;
			len = (size_t)(nl - (s->buf + used));
			if (json_parse(s->buf + used, len, 4, 64, &jd) == 0 &&
			    (i = json_obj_get(&jd, 0, "seq")) && json_u64_get(&jd, i, &seq) == 0 &&
			    seq > src->last_seq && (i = json_obj_get(&jd, 0, "kind")) &&
			    json_str_get(&jd, i, kind, sizeof kind, &kl) == 0) {
				sync_syslog_send(s, src, kind, s->buf + used, len);
				src->last_seq = seq;
			}
			json_doc_free(&jd);
			used += len + 1;
		}
		if (used == 0) {
			/* a line longer than the buffer (journal.h allows long keys): skip it */
			if (r < SYSLOG_READ)
				break;	/* the end of a line still being written */
			char *nl = NULL;
			off_t at = src->off + r;

			while (!nl && (r = pread(fd, s->buf, SYSLOG_READ, at)) > 0) {
				nl = memchr(s->buf, '\n', (size_t)r);
				at += nl ? nl - s->buf + 1 : r;
			}
			if (!nl)
				break;
			src->off = at;
			continue;
		}
		src->off += (off_t)used;
	}
out:
	close(fd);
}

static void *sync_syslog_thread(void *arg)
{
	struct sync_syslog *s = arg;

	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		struct timespec until;

		pthread_mutex_unlock(&s->mu);
		for (size_t i = 0; i < s->n; i++)
			sync_syslog_follow(s, &s->src[i]);
		pthread_mutex_lock(&s->mu);
		until = clock_mono_deadline(SYSLOG_POLL_MS);
		if (!s->stopping)
			pthread_cond_timedwait(&s->cv, &s->mu, &until);
	}
	pthread_mutex_unlock(&s->mu);
	/* what was appended up to the stop */
	for (size_t i = 0; i < s->n; i++)
		sync_syslog_follow(s, &s->src[i]);
	return NULL;
}

static void sync_syslog_free(struct sync_syslog *s)
{
	if (s->fd >= 0)
		close(s->fd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->src);
	free(s->buf);
	free(s);
}

int sync_syslog_start(struct syncd *d, const char *path, struct sync_syslog **out)
{
	struct sync_syslog *s;
	int rc;

	if (strlen(path) >= sizeof s->sa.sun_path)
		return ENAMETOOLONG;
	s = calloc(1, sizeof *s);
	if (!s)
		return ENOMEM;
	s->d = d;
	s->fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	rc = clock_cond_init(&s->cv);	/* its waits are timed on the monotonic clock */
	if (rc) {
		free(s);
		return rc;
	}
	s->sa.sun_family = AF_UNIX;
	strcpy(s->sa.sun_path, path);
	s->buf = malloc(SYSLOG_READ);
	s->src = calloc(d->n_exports ? d->n_exports : 1, sizeof *s->src);
	if (!s->buf || !s->src) {
		rc = ENOMEM;
		goto fail;
	}
	s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		rc = errno;
		goto fail;
	}
	for (size_t i = 0; i < d->n_exports; i++) {
		s->src[i].export_id = d->exports[i].cfg->export_id;
		s->src[i].path = d->exports[i].cfg->journal_path;
		sync_syslog_seek_end(s, &s->src[i]);
	}
	s->n = d->n_exports;
	rc = pthread_create(&s->thread, NULL, sync_syslog_thread, s);
	if (rc)
		goto fail;
	LOG_INFO(LOG_C_SYNC, "journal events of %zu export(s) also go to syslog at %s", s->n, path);
	*out = s;
	return 0;
fail:
	sync_syslog_free(s);
	return rc;
}

void sync_syslog_stop(struct sync_syslog *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	sync_syslog_free(s);
}
