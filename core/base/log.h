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
#include <stddef.h>

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

/* Every message is one line: log_vmsg escapes what would break it (control bytes, invalid
 * UTF-8; as log_esc does, but leaving backslashes alone) before the sink sees it. */
void log_msg(enum log_level lvl, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_vmsg(enum log_level lvl, const char *component, const char *fmt, va_list ap);

/*
 * Keys, paths and names come from S3 or from clients and may hold any byte. Every log line
 * (and every message to ganesha's log) shows them through log_esc, so that a key cannot
 * start a forged line, move the cursor of whoever reads the log, or leave bytes that are
 * not text:
 *   \ -> \\   newline -> \n   CR -> \r   tab -> \t
 *   other bytes < 0x20, 0x7f, the C1 controls (U+0080..U+009F), U+2028/U+2029, and every
 *   byte that is not part of valid UTF-8 -> \xNN (each byte)
 * Valid UTF-8 otherwise stays as it is; the escaped text reads back to the exact bytes.
 * buf gets the escaped text, NUL-terminated; when it does not fit in cap bytes it ends
 * with "..." (never inside an escape). Returns buf, to be used as a printf argument:
 *   char kb[LOG_ESC_SIZE];
 *   LOG_WARN(LOG_C_SYNC, "'%s' failed", log_esc(kb, sizeof kb, key, keylen));
 * Thread-safe (caller's buffer). cap 0 returns buf untouched.
 */
#define LOG_ESC_SIZE 2048	/* as much as one log line shows */
const char *log_esc(char *buf, size_t cap, const char *s, size_t len);
/* log_esc of a NUL-terminated string; NULL shows as "(null)". */
const char *log_escs(char *buf, size_t cap, const char *s);
/* The same into a buffer of LOG_ESC_SIZE that lives until the end of the enclosing block
 * (a compound literal): for log arguments, without a buffer of one's own:
 *   LOG_WARN(LOG_C_SYNC, "commit of '%s' failed", LOG_ESCS(c->key));
 * Under LOG_DEBUG the escaping only happens when debug lines are shown. */
#define LOG_ESCS(s) log_escs((char[LOG_ESC_SIZE]){ 0 }, LOG_ESC_SIZE, (s))
#define LOG_ESC(s, len) log_esc((char[LOG_ESC_SIZE]){ 0 }, LOG_ESC_SIZE, (s), (len))

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
