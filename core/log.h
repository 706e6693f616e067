/*
 * log.h — leveled, per-component logging for core, the FSAL and the daemon.
 *
 * Where lines go is decided by the process: the daemon and the CLI write to stderr
 * (default sink), the FSAL installs a sink that forwards into ganesha's log.
 * Never log a secret (credentials, signatures, Authorization headers).
 *
 * Thread-safe: log_msg may be called from any thread; the sink and the level are
 * process-wide and set once at start-up (log_sink_set / log_level_set before threads).
 */
#ifndef S3F_LOG_H
#define S3F_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN = 1,
	LOG_LVL_INFO = 2,
	LOG_LVL_DEBUG = 3,
};

/* Components, used as the second field of every line. */
#define LOG_C_S3      "s3"
#define LOG_C_META    "meta"
#define LOG_C_DATA    "data"
#define LOG_C_KEYMAP  "keymap"
#define LOG_C_JOURNAL "journal"
#define LOG_C_CONF    "conf"
#define LOG_C_SYNC    "sync"
#define LOG_C_FSAL    "fsal"
#define LOG_C_CLI     "cli"
#define LOG_C_CORE    "core"

typedef void (*log_sink_fn)(enum log_level lvl, const char *component, const char *msg, void *arg);

/* Install a sink (NULL restores the stderr sink). Not thread-safe against log_msg. */
void log_sink_set(log_sink_fn fn, void *arg);
void log_level_set(enum log_level lvl);
enum log_level log_level_get(void);
/* Parse "error|warn|info|debug"; returns 0 or EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level lvl);

void log_msg(enum log_level lvl, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level lvl, const char *component, const char *fmt, va_list ap);

/* <syslog.h> (pulled in by ganesha's headers in the FSAL) defines LOG_INFO and LOG_DEBUG
 * as priorities; in files that include this header those names mean our macros. */
#ifdef LOG_INFO
#undef LOG_INFO
#endif
#ifdef LOG_DEBUG
#undef LOG_DEBUG
#endif
#define LOG_ERROR(c, ...) log_msg(LOG_LVL_ERROR, (c), __VA_ARGS__)
#define LOG_WARN(c, ...)  log_msg(LOG_LVL_WARN, (c), __VA_ARGS__)
#define LOG_INFO(c, ...)  log_msg(LOG_LVL_INFO, (c), __VA_ARGS__)
#define LOG_DEBUG(c, ...) \
	do { if (log_level_get() >= LOG_LVL_DEBUG) log_msg(LOG_LVL_DEBUG, (c), __VA_ARGS__); } while (0)

#endif
