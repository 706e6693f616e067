/*
 * log.c — see log.h.
 *
 * The default sink writes one line per message to stderr:
 *   2026-11-22T04:51:07.123Z WARN s3 message...
 * A whole line is written with one write(2) so lines from threads do not interleave.
 */
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

static enum log_level log_cur_level = LOG_LVL_INFO;
static log_sink_fn log_cur_sink;
static void *log_cur_arg;

static const char *const log_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

void log_sink_set(log_sink_fn fn, void *arg)
{
	log_cur_sink = fn;
	log_cur_arg = arg;
}

void log_level_set(enum log_level lvl)
{
	log_cur_level = lvl;
}

enum log_level log_level_get(void)
{
	return log_cur_level;
}

const char *log_level_name(enum log_level lvl)
{
	return (unsigned)lvl < 4 ? log_names[lvl] : "?";
}

int log_level_parse(const char *s, enum log_level *out)
{
	for (unsigned i = 0; i < 4; i++) {
		if (strcasecmp(s, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = LOG_LVL_WARN;
		return 0;
	}
	return EINVAL;
}

void log_vmsg(enum log_level lvl, const char *component, const char *fmt, va_list ap)
{
	char msg[2048];

	if (lvl > log_cur_level)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	if (log_cur_sink) {
		log_cur_sink(lvl, component, msg, log_cur_arg);
		return;
	}

	char line[2300];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s %s\n",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, log_level_name(lvl), component, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line) {
		n = sizeof line - 1;
		line[n - 1] = '\n';
	}
	/* A short or failed write to stderr has nowhere better to be reported. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

void log_msg(enum log_level lvl, const char *component, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, component, fmt, ap);
	va_end(ap);
}
