/*
 * log.c — see log.h.
 *
 * The default sink writes one line per message to stderr:
 *   2026-11-22T04:51:07.123Z WARN s3 message...
 * A whole line is written with one write(2) so lines from threads do not interleave.
 */
#include "base/log.h"

#include <stdbool.h>
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

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if none starts there. */
static size_t log_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xBF;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;	/* overlong */
		else if (c == 0xED)
			hi = 0x9F;	/* surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;	/* overlong */
		else if (c == 0xF4)
			hi = 0x8F;	/* above U+10FFFF */
	} else {
		return 0;
	}
	if (n < need + 1)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i <= need; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return need + 1;
}

/* The escaping of log_esc; bslash: also double backslashes (log_esc), or leave them (the
 * whole-line pass of log_vmsg, whose text may hold log_esc's output already). */
static const char *log_esc_into(char *buf, size_t cap, const char *s, size_t len, bool bslash)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, i = 0, safe = 0;

	if (cap == 0)
		return buf;
	while (i < len) {
		char e[4 * 4 + 1];
		size_t el = 0, in = 1;
		unsigned char c = p[i];

		if (c == '\\' && bslash) {
			e[el++] = '\\';
			e[el++] = '\\';
		} else if (c == '\n' || c == '\r' || c == '\t') {
			e[el++] = '\\';
			e[el++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else if (c >= 0x20 && c < 0x7f) {
			e[el++] = (char)c;
		} else {
			size_t u = c < 0x20 || c == 0x7f ? 0 : log_utf8_len(p + i, len - i);
			/* Valid, but a control or line separator where it is shown. */
			bool hide = u == 0 || (u == 2 && c == 0xC2 && p[i + 1] <= 0x9F) ||
				    (u == 3 && c == 0xE2 && p[i + 1] == 0x80 &&
				     (p[i + 2] == 0xA8 || p[i + 2] == 0xA9));

			in = u ? u : 1;
			for (size_t k = 0; k < in; k++) {
				if (hide) {
					e[el++] = '\\';
					e[el++] = 'x';
					e[el++] = hex[p[i + k] >> 4];
					e[el++] = hex[p[i + k] & 15];
				} else {
					e[el++] = (char)p[i + k];
				}
			}
		}
		if (o + 4 <= cap)
			safe = o;	/* a cut here still leaves room for "..." */
		if (o + el + 1 > cap) {
			/* Cut at the last piece boundary that leaves room for "...". */
			o = safe;
			if (o + 4 <= cap) {
				memcpy(buf + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(buf + o, e, el);
		o += el;
		i += in;
	}
	buf[o] = '\0';
	return buf;
}

const char *log_esc(char *buf, size_t cap, const char *s, size_t len)
{
	return log_esc_into(buf, cap, s ? s : "(null)", s ? len : 6, true);
}

const char *log_escs(char *buf, size_t cap, const char *s)
{
	return log_esc(buf, cap, s ? s : "(null)", s ? strlen(s) : 6);
}

void log_vmsg(enum log_level lvl, const char *component, const char *fmt, va_list ap)
{
	char raw[2048], msg[2048];
	int rn;

	if (lvl > log_cur_level)
		return;
	rn = vsnprintf(raw, sizeof raw, fmt, ap);
	if (rn < 0)
		return;
	/* One message, one line, whatever a caller forgot to escape. */
	log_esc_into(msg, sizeof msg, raw, (size_t)rn < sizeof raw ? (size_t)rn : sizeof raw - 1,
		     false);
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
