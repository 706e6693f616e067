/*
 * main.c — s3files-syncd: reconciles every S3FILES export of a ganesha.conf with S3.
 *
 *   s3files-syncd -f /etc/ganesha/ganesha.conf [-p pidfile] [-L logfile] [-d]
 *
 * Per export, one worker thread loops: commit dirty files whose last change is older than
 * Commit_Interval (or that the FSAL marked due: Commit_On_Close, seen within one tick),
 * carry out pending deletes, and every Poll_Interval re-list the
 * directories the file view has imported. With Notify_Listen, S3 event notifications
 * re-list the directories they concern at once (notify.c); with Metrics_Listen, /metrics
 * is served (metrics_http.c). SIGTERM/SIGINT stop it cleanly; all state is
 * in the store, so a kill -9 loses nothing that was acknowledged.
 *
 * Under systemd (Type=notify) it sends READY=1 to $NOTIFY_SOCKET once every export's store
 * is open, its control socket serves and its workers run (sdnotify.c).
 *
 * One daemon per State_Dir: before anything of an export is opened, the daemon takes
 * <State_Dir>/syncd.lock (instlock.h) for its whole life; a second daemon on the same
 * State_Dir (or on a network file system, unless Allow_Network_State_Dir) exits 1 with a
 * message naming the first, without touching its control socket.
 */
#include "syncd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "engine/import.h"
#include "store/instlock.h"
#include "base/log.h"
#include "ns/ns_sync.h"
#include "s3/s3_event.h"
#include "base/clock.h"

#define SYNC_TICK_MS 200
#define SYNC_PREFETCH_PER_TICK 256	/* queued files fetched per tick: ~1,000/s at most */

static struct syncd g_syncd;
/* One single-instance lock per export's State_Dir (instlock.h), held from before the
 * export's store is opened until after it is closed. Main thread only. */
static struct instlock **g_locks;

#define SYNCD_LOCK_NAME "syncd.lock"

/* Sleep up to ms, waking early on shutdown (stop_cond waits on the monotonic clock: a
 * wall clock set back would stretch the nap). */
static void syncd_nap(struct syncd *d, unsigned ms)
{
	struct timespec ts = clock_mono_deadline(ms);

	pthread_mutex_lock(&d->stop_lock);
	if (!d->stop)
		pthread_cond_timedwait(&d->stop_cond, &d->stop_lock, &ts);
	pthread_mutex_unlock(&d->stop_lock);
}

/* Has the FSAL asked for room (ns_evict_request) since *seen? *bytes: how much. */
static bool syncd_evict_wanted(struct sync_export *se, int64_t *seen, uint64_t *bytes)
{
	int64_t when = 0;

	if (ns_evict_requested(se->x->ns, &when, bytes) != 0 || when <= *seen)
		return false;
	*seen = when;
	return true;
}

static void *syncd_worker(void *arg)
{
	struct sync_export *se = arg;
	struct syncd *d = &g_syncd;
	int64_t interval = (int64_t)se->cfg->commit_interval * 1000000000LL;
	int64_t evict_seen = 0;

	/* The schedule (next_poll_ns, next_evict_ns) is on the monotonic clock; what is
	 * compared with stored times (the eviction's age rule) reads the store's clock. */
	while (!d->stop) {
		struct sync_result res = { 0 };
		int64_t now = clock_mono_ns();

		/* While S3 is unreachable, commits, deletes and polls pause for a few seconds
		 * at a time (commit.c): each would only fail after its retries. */
		pthread_mutex_lock(&se->commit_lock);
		if (!sync_s3_down(se))
			(void)sync_commit_pass(se, interval, 0, &res);
		if (!sync_s3_down(se))
			(void)sync_delete_pass(se, interval, &res);
		pthread_mutex_unlock(&se->commit_lock);
		/* Data of small files and metadata of all files that listings left out
		 * (import.c queues them; the first ls never waits for them). */
		if (!sync_s3_down(se)) {
			struct import_stats pst = { 0 };
			int prc = import_prefetch(se->x, SYNC_PREFETCH_PER_TICK, &pst);

			if (prc)
				(void)sync_s3_unreachable(se, prc);
			if (pst.hydrated)
				__atomic_add_fetch(&se->n_prefetched, pst.hydrated, __ATOMIC_RELAXED);
		}
		if (res.committed || res.deleted || res.failed)
			LOG_INFO(LOG_C_SYNC, "export %u: committed %llu, deleted %llu, failed %llu",
				 se->cfg->export_id, (unsigned long long)res.committed,
				 (unsigned long long)res.deleted, (unsigned long long)res.failed);
		/* poll_soon: notify.c dropped events and relies on a full pass instead. */
		bool down = sync_s3_down(se);
		bool soon = !down && __atomic_exchange_n(&se->poll_soon, 0, __ATOMIC_RELAXED);

		if (!down && (soon || now >= se->next_poll_ns)) {
			pthread_mutex_lock(&se->import_lock);
			(void)sync_poll_pass(se);
			pthread_mutex_unlock(&se->import_lock);
			se->next_poll_ns = clock_mono_ns() +
					   (int64_t)se->cfg->poll_interval_ms * 1000000LL;
		}
		uint64_t room = 0;
		bool asked = syncd_evict_wanted(se, &evict_seen, &room);

		if (asked || now >= se->next_evict_ns) {
			struct sync_evict_result er;

			pthread_mutex_lock(&se->evict_lock);
			(void)sync_evict_pass(se, meta_now_ns(), asked, room, &er);
			pthread_mutex_unlock(&se->evict_lock);
			se->next_evict_ns = clock_mono_ns() + SYNC_EVICT_INTERVAL_S * 1000000000LL;
		}
		syncd_nap(d, SYNC_TICK_MS);
	}
	return NULL;
}

/* Refuse directories whose locks other hosts do not see (Allow_Network_State_Dir). */
static int syncd_check_fs(const struct conf_export *ce)
{
	const char *const what[] = { "State_Dir", "Meta_Dir", "Data_Dir" };
	const char *const dirs[] = { ce->state_dir, ce->meta_dir, ce->data_dir };

	for (size_t i = 0; i < 3; i++) {
		const char *fs = NULL;
		int rc = instlock_fs_check(dirs[i], &fs);

		if (rc == 0)
			continue;
		if (rc != EREMOTE) {
			LOG_ERROR(LOG_C_SYNC, "export %u: %s %s: %s", ce->export_id, what[i], dirs[i],
				  strerror(rc));
			return rc;
		}
		if (ce->allow_network_state_dir) {
			LOG_WARN(LOG_C_SYNC, "export %u: %s %s is on a network file system (%s); "
				 "Allow_Network_State_Dir is set: a second gateway on another host "
				 "would not be kept out", ce->export_id, what[i], dirs[i], fs);
			continue;
		}
		LOG_ERROR(LOG_C_SYNC, "export %u: %s %s is on a network file system (%s): its "
			  "locks do not keep a gateway on another host out, and two gateways on "
			  "one State_Dir lose data; refusing to start (put it on a local disk, or "
			  "set Allow_Network_State_Dir = true if no other host uses it)",
			  ce->export_id, what[i], dirs[i], fs);
		return S3F_E_CONFIG;
	}
	return 0;
}

/* Take every export's State_Dir lock before anything of the export is opened: a second
 * daemon on the same State_Dir stops here, having touched nothing (not even the control
 * socket of the first). */
static int syncd_lock_exports(const struct conf *c)
{
	g_locks = calloc(c->n_exports ? c->n_exports : 1, sizeof *g_locks);
	if (!g_locks)
		return ENOMEM;
	for (size_t i = 0; i < c->n_exports; i++) {
		const struct conf_export *ce = &c->exports[i];
		struct instlock_holder h;
		char who[512];
		int rc;

		rc = syncd_check_fs(ce);
		if (rc)
			return rc;
		rc = instlock_acquire(ce->state_dir, SYNCD_LOCK_NAME, "s3files-syncd", &g_locks[i],
				      &h);
		if (rc == EWOULDBLOCK && h.known && h.pid == getpid()) {
			LOG_ERROR(LOG_C_SYNC, "export %u: State_Dir %s is also the State_Dir of "
				  "another export of %s; each export needs its own", ce->export_id,
				  ce->state_dir, c->path);
			return S3F_E_CONFIG;
		}
		if (rc == EWOULDBLOCK) {
			LOG_ERROR(LOG_C_SYNC, "export %u: State_Dir %s is in use by another "
				  "s3files-syncd: %s (lock %s/%s); not starting a second one",
				  ce->export_id, ce->state_dir, instlock_holder_str(&h, who, sizeof who),
				  ce->state_dir, SYNCD_LOCK_NAME);
			return EWOULDBLOCK;
		}
		if (rc) {
			LOG_ERROR(LOG_C_SYNC, "export %u: lock %s/%s: %s", ce->export_id,
				  ce->state_dir, SYNCD_LOCK_NAME, strerror(rc));
			return rc;
		}
	}
	return 0;
}

static void syncd_unlock_exports(size_t n)
{
	if (!g_locks)
		return;
	for (size_t i = 0; i < n; i++)
		instlock_release(g_locks[i]);
	free(g_locks);
	g_locks = NULL;
}

static int syncd_write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return errno;
	fprintf(f, "%d\n", (int)getpid());
	return fclose(f) == 0 ? 0 : errno;
}

/* Notify_Listen and Metrics_Listen: the notification worker, then the HTTP servers that
 * feed it (one server with every route when both settings name the same address). */
static int syncd_http_start(struct syncd *d)
{
	const struct conf_daemon *dc = &d->conf->daemon;
	bool same = dc->notify_listen && dc->metrics_listen &&
		    strcmp(dc->notify_listen, dc->metrics_listen) == 0;
	struct http_route routes[3];
	size_t n = 0;
	int rc;

	if (dc->notify_listen) {
		rc = sync_notify_start(d, &d->notify);
		if (rc) {
			LOG_ERROR(LOG_C_SYNC, "notifications: %s", strerror(rc));
			return rc;
		}
	}
	if (dc->metrics_listen) {
		routes[n++] = (struct http_route){ "GET", "/metrics", 0, sync_metrics_get, d };
		routes[n++] = (struct http_route){ "GET", "/health", 0, sync_health_get, d };
		if (same)
			routes[n++] = (struct http_route){ "POST", NULL, S3_EVENT_BODY_MAX,
							   sync_notify_post, d->notify };
		rc = http_server_start(dc->metrics_listen, same ? "notification+metrics endpoint" :
				       "metrics endpoint", routes, n, &d->metrics_http);
		if (rc) {
			LOG_ERROR(LOG_C_SYNC, "%s %s: %s", same ? "Notify_Listen/Metrics_Listen" :
				  "Metrics_Listen", dc->metrics_listen, strerror(rc));
			return rc;
		}
	}
	if (dc->notify_listen && !same) {
		n = 0;
		routes[n++] = (struct http_route){ "GET", "/health", 0, sync_health_get, d };
		routes[n++] = (struct http_route){ "POST", NULL, S3_EVENT_BODY_MAX,
						   sync_notify_post, d->notify };
		rc = http_server_start(dc->notify_listen, "notification endpoint", routes, n,
				       &d->notify_http);
		if (rc) {
			LOG_ERROR(LOG_C_SYNC, "Notify_Listen %s: %s", dc->notify_listen,
				  strerror(rc));
			return rc;
		}
	}
	return 0;
}

/* Servers first: nothing new reaches the worker once it stops. */
static void syncd_http_stop(struct syncd *d)
{
	http_server_stop(d->notify_http);
	d->notify_http = NULL;
	http_server_stop(d->metrics_http);
	d->metrics_http = NULL;
	sync_notify_stop(d->notify);
	d->notify = NULL;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: s3files-syncd -f GANESHA_CONF [-p PIDFILE] [-L LOGFILE] [-d]\n"
		     "  -f  the ganesha.conf holding the S3FILES exports (required)\n"
		     "  -p  write the pid here\n"
		     "  -L  append log lines to this file instead of stderr\n"
		     "  -d  debug logging\n");
}

int main(int argc, char **argv)
{
	struct syncd *d = &g_syncd;
	const char *conf_path = NULL, *pidfile = NULL, *logfile = NULL;
	char err[8192] = "";
	sigset_t sigs;
	enum log_level lvl;
	bool debug = false, pidfile_ours = false;
	int opt, rc;

	while ((opt = getopt(argc, argv, "f:p:L:dh")) != -1) {
		switch (opt) {
		case 'f': conf_path = optarg; break;
		case 'p': pidfile = optarg; break;
		case 'L': logfile = optarg; break;
		case 'd': debug = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!conf_path) {
		usage(stderr);
		return 2;
	}
	if (logfile) {
		int fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
			fprintf(stderr, "s3files-syncd: %s: %s\n", logfile, strerror(errno));
			return 1;
		}
		close(fd);
	}
	rc = conf_load(conf_path, &d->conf, err, sizeof err);
	if (rc) {
		fprintf(stderr, "s3files-syncd: invalid configuration:\n%s\n", err);
		return 1;
	}
	if (d->conf->warnings)
		fprintf(stderr, "s3files-syncd: configuration warnings:\n%s", d->conf->warnings);
	if (d->conf->daemon.log_level && log_level_parse(d->conf->daemon.log_level, &lvl) == 0)
		log_level_set(lvl);
	if (debug)
		log_level_set(LOG_LVL_DEBUG);
	if (d->conf->n_exports == 0) {
		LOG_ERROR(LOG_C_SYNC, "%s has no S3FILES export", conf_path);
		conf_free(d->conf);
		return 1;
	}

	/* Every thread (including the S3 clients' I/O threads, started below) inherits
	 * this mask; only the main thread takes the signals, with sigwait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&d->stop_lock, NULL);
	rc = clock_cond_init(&d->stop_cond);
	if (rc) {
		LOG_ERROR(LOG_C_SYNC, "condition variable: %s", strerror(rc));
		conf_free(d->conf);
		return 1;
	}

	rc = syncd_lock_exports(d->conf);
	if (rc)
		goto out;
	d->exports = calloc(d->conf->n_exports, sizeof *d->exports);
	if (!d->exports) {
		rc = ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < d->conf->n_exports; i++) {
		struct sync_export *se = &d->exports[i];

		sync_export_init(se, &d->conf->exports[i]);
		rc = export_ctx_open(se->cfg, 0, &se->x);
		if (rc) {
			LOG_ERROR(LOG_C_SYNC, "export %u: cannot open: %s", se->cfg->export_id,
				  s3f_strerror(rc));
			goto out;
		}
		d->n_exports++;
		/* The conditional-write probe runs before the first commit pass
		 * (sync_s3_ready): the daemon starts and serves its control socket even while
		 * S3 is unreachable, and keeps every dirty file until S3 answers. */
		se->notify_hint = d->conf->daemon.notify_listen != NULL;
	}
	if (d->conf->daemon.control_socket) {
		rc = sync_control_start(d, d->conf->daemon.control_socket);
		if (rc)
			goto out;	/* logged */
	}
	rc = syncd_http_start(d);
	if (rc)
		goto out;
	if (d->conf->daemon.syslog) {
		rc = sync_syslog_start(d, d->conf->daemon.syslog, &d->syslog);
		if (rc) {
			LOG_ERROR(LOG_C_SYNC, "Syslog %s: %s", d->conf->daemon.syslog, strerror(rc));
			goto out;
		}
	}
	if (pidfile && (rc = syncd_write_pidfile(pidfile)) != 0) {
		LOG_ERROR(LOG_C_SYNC, "pid file %s: %s", pidfile, strerror(rc));
		goto out;
	}
	pidfile_ours = pidfile != NULL;
	for (size_t i = 0; i < d->n_exports; i++) {
		rc = pthread_create(&d->exports[i].thread, NULL, syncd_worker, &d->exports[i]);
		if (rc) {
			LOG_ERROR(LOG_C_SYNC, "worker thread: %s", strerror(rc));
			d->stop = 1;
			break;
		}
		d->exports[i].started = true;
	}
	LOG_INFO(LOG_C_SYNC, "s3files-syncd ready: %zu export(s), control %s", d->n_exports,
		 d->conf->daemon.control_socket ? d->conf->daemon.control_socket : "(none)");
	/* Type=notify: every store is open and the control socket serves, so ganesha
	 * (ordered after this unit) may start serving the exports. A failed notification is
	 * logged and not fatal: systemd then fails the start by its own timeout. */
	if (!d->stop)
		(void)sync_sdnotify_send("READY=1\nSTATUS=serving exports");

	if (!d->stop) {
		int sig = 0;

		sigwait(&sigs, &sig);
	}
	LOG_INFO(LOG_C_SYNC, "s3files-syncd stopping");
	(void)sync_sdnotify_send("STOPPING=1");
	rc = 0;
out:
	d->stop = 1;
	pthread_mutex_lock(&d->stop_lock);
	pthread_cond_broadcast(&d->stop_cond);
	pthread_mutex_unlock(&d->stop_lock);
	syncd_http_stop(d);
	sync_control_stop(d);
	for (size_t i = 0; i < d->n_exports; i++) {
		if (d->exports[i].started)
			pthread_join(d->exports[i].thread, NULL);
	}
	/* after the workers (their last events), before the journals close */
	sync_syslog_stop(d->syslog);
	d->syslog = NULL;
	for (size_t i = 0; i < d->n_exports; i++) {
		export_ctx_close(d->exports[i].x);
		sync_export_fini(&d->exports[i]);
	}
	free(d->exports);
	/* The stores are closed: another daemon may take over now. */
	syncd_unlock_exports(d->conf->n_exports);
	conf_free(d->conf);
	if (pidfile && pidfile_ours)
		(void)unlink(pidfile);
	return rc ? 1 : 0;
}
