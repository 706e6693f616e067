/*
 * tp.h — test points: named places in the code where a test can hold or delay an
 * operation, so that a race is forced instead of hoped for.
 *
 * A test point costs one relaxed atomic load when nothing is armed (production). It is
 * armed in one of two ways:
 *
 *  - in-process (unit tests): tp_set(name, fn, arg) calls fn(name, arg) on the thread that
 *    reaches the point, before it goes on. fn may block (wait for another thread), sleep,
 *    or record. tp_clear() disarms every point.
 *
 *  - across processes (integration tests: the FSAL inside ganesha, the daemon): the
 *    environment variable S3F_TP_DIR names a directory, read once when the library loads. When
 *    a process reaches point NAME:
 *      DIR/NAME.delay   exists: sleep the number of milliseconds it holds (one line);
 *      DIR/NAME.pause   exists: create DIR/NAME.reached (its content: the pid) and wait
 *                       until NAME.pause is removed (polled every 5 ms), then remove
 *                       NAME.reached. One waiter at a time per name: a second thread that
 *                       reaches a paused point waits behind the first (and stops too
 *                       if NAME.pause exists again by then); threads at different
 *                       names stop independently (up to TP_MAX names at once).
 *    A test arms a point by creating NAME.pause, waits for NAME.reached, does the
 *    interleaving it wants, and removes NAME.pause.
 *
 * Names are lowercase dotted words: "<module>.<operation>.<where>", and every one in use
 * is listed in doc/DURABILITY.md next to the rule it lets a test break.
 *
 * Thread-safe. The in-process table holds up to TP_MAX armed names.
 */
#ifndef S3F_TP_H
#define S3F_TP_H

#include <stdatomic.h>

#define TP_MAX 16

typedef void (*tp_fn)(const char *name, void *arg);

extern atomic_int tp_armed;	/* non-zero: some point may be armed (checked first) */

void tp_hit(const char *name);

#define TP(name)                                                                      \
	do {                                                                          \
		if (atomic_load_explicit(&tp_armed, memory_order_relaxed))             \
			tp_hit(name);                                                 \
	} while (0)

/* Arm name in this process (replacing an earlier fn for it). ENOSPC if TP_MAX names are
 * armed already. */
int tp_set(const char *name, tp_fn fn, void *arg);
/* Disarm every in-process point (S3F_TP_DIR stays in force). */
void tp_clear(void);
/* Times name was hit in this process since it was armed with tp_set (0 if not armed). */
unsigned long tp_hits(const char *name);

#endif
