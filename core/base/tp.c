/*
 * tp.c — see tp.h.
 *
 * The directory form polls the file system instead of using inotify or a socket: it is
 * only ever armed by tests, it must work the same in ganesha (where the FSAL owns no
 * event loop) and in the daemon, and a 5 ms poll is far below the intervals tests wait.
 */
#include "base/tp.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

atomic_int tp_armed;

struct tp_slot {
	char name[64];
	tp_fn fn;
	void *arg;
	unsigned long hits;
};

/* tp_lock protects tp_slots; tp_dir is set once, at load (constructor). */
static pthread_mutex_t tp_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tp_slot tp_slots[TP_MAX];
static char tp_dir[512];

__attribute__((constructor)) static void tp_init(void)
{
	const char *d = getenv("S3F_TP_DIR");

	if (d && *d && strlen(d) < sizeof tp_dir - 80) {
		snprintf(tp_dir, sizeof tp_dir, "%s", d);
		atomic_store(&tp_armed, 1);
	}
}

static void tp_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static bool tp_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* The S3F_TP_DIR protocol. One thread at a time is paused at a given name (a second one
 * that reaches it waits, then stops too if NAME.pause exists again, each stop reported by
 * its own .reached); threads at different names pause independently, so a test can hold
 * two operations of one process at once (a delete pass and a poll). tp_dir_busy holds the
 * names with a thread paused at them, under tp_dir_lock. */
static pthread_mutex_t tp_dir_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tp_dir_cond = PTHREAD_COND_INITIALIZER;
static const char *tp_dir_busy[TP_MAX];

static int tp_dir_slot(const char *name)
{
	for (int i = 0; i < TP_MAX; i++)
		if (tp_dir_busy[i] && strcmp(tp_dir_busy[i], name) == 0)
			return i;
	return -1;
}

static void tp_hit_dir(const char *name)
{
	char path[640], reached[640];
	FILE *f;
	int slot = -1;

	snprintf(path, sizeof path, "%s/%s.delay", tp_dir, name);
	f = fopen(path, "r");
	if (f) {
		long ms = 0;

		if (fscanf(f, "%ld", &ms) == 1 && ms > 0)
			tp_sleep_ms(ms);
		fclose(f);
	}
	snprintf(path, sizeof path, "%s/%s.pause", tp_dir, name);
	if (!tp_exists(path))
		return;
	pthread_mutex_lock(&tp_dir_lock);
	for (;;) {
		if (tp_dir_slot(name) < 0) {
			for (int i = 0; i < TP_MAX && slot < 0; i++)
				if (!tp_dir_busy[i])
					slot = i;
			if (slot >= 0)
				break;
		}
		pthread_cond_wait(&tp_dir_cond, &tp_dir_lock);
	}
	tp_dir_busy[slot] = name;
	pthread_mutex_unlock(&tp_dir_lock);

	snprintf(reached, sizeof reached, "%s/%s.reached", tp_dir, name);
	if (tp_exists(path)) {
		int fd = open(reached, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (fd >= 0) {
			char pid[32];
			int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());

			if (write(fd, pid, (size_t)n) < 0) {
				/* the test sees no .reached and fails on its own timeout */
			}
			close(fd);
		}
		while (tp_exists(path))
			tp_sleep_ms(5);
		(void)unlink(reached);
	}
	pthread_mutex_lock(&tp_dir_lock);
	tp_dir_busy[slot] = NULL;
	pthread_cond_broadcast(&tp_dir_cond);
	pthread_mutex_unlock(&tp_dir_lock);
}

void tp_hit(const char *name)
{
	tp_fn fn = NULL;
	void *arg = NULL;

	pthread_mutex_lock(&tp_lock);
	for (int i = 0; i < TP_MAX; i++) {
		if (tp_slots[i].fn && strcmp(tp_slots[i].name, name) == 0) {
			fn = tp_slots[i].fn;
			arg = tp_slots[i].arg;
			tp_slots[i].hits++;
			break;
		}
	}
	pthread_mutex_unlock(&tp_lock);
	if (fn)
		fn(name, arg);
	if (tp_dir[0])
		tp_hit_dir(name);
}

int tp_set(const char *name, tp_fn fn, void *arg)
{
	int rc = ENOSPC, free_slot = -1;

	if (strlen(name) >= sizeof tp_slots[0].name)
		return EINVAL;
	pthread_mutex_lock(&tp_lock);
	for (int i = 0; i < TP_MAX; i++) {
		if (tp_slots[i].fn && strcmp(tp_slots[i].name, name) == 0) {
			free_slot = i;
			break;
		}
		if (!tp_slots[i].fn && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0) {
		struct tp_slot *s = &tp_slots[free_slot];

		snprintf(s->name, sizeof s->name, "%s", name);
		s->fn = fn;
		s->arg = arg;
		s->hits = 0;
		atomic_store(&tp_armed, 1);
		rc = 0;
	}
	pthread_mutex_unlock(&tp_lock);
	return rc;
}

void tp_clear(void)
{
	pthread_mutex_lock(&tp_lock);
	memset(tp_slots, 0, sizeof tp_slots);
	atomic_store(&tp_armed, tp_dir[0] ? 1 : 0);
	pthread_mutex_unlock(&tp_lock);
}

unsigned long tp_hits(const char *name)
{
	unsigned long n = 0;

	pthread_mutex_lock(&tp_lock);
	for (int i = 0; i < TP_MAX; i++)
		if (tp_slots[i].fn && strcmp(tp_slots[i].name, name) == 0)
			n = tp_slots[i].hits;
	pthread_mutex_unlock(&tp_lock);
	return n;
}
