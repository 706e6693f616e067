/*
 * clock.h — the process's clocks, read one way everywhere.
 *
 * Two clocks, never mixed:
 *   monotonic (CLOCK_MONOTONIC): for intervals, timeouts and schedules inside one
 *     process. It does not jump when the wall clock is set, and means nothing across
 *     processes or restarts: never store it, never compare it with a time from elsewhere.
 *   real (CLOCK_REALTIME): wall-clock time, for what is stored (the metadata store, the
 *     journal) or compared with S3's Last-Modified and other hosts' times. It may jump;
 *     an interval measured on it may be negative.
 * The metadata store's own clock (meta_now_ns, store/meta.h) is the real clock with a
 * fixed value tests can set; times stored there come from it, not from here.
 *
 * Thread-safe, no state, never fail (clock_gettime cannot fail for these clocks).
 */
#ifndef S3F_CLOCK_H
#define S3F_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Monotonic time in ns / ms / s (with a fraction). Only differences mean anything. */
int64_t clock_mono_ns(void);
int64_t clock_mono_ms(void);
double clock_mono_s(void);

/* Wall-clock time in ns since the Unix epoch. */
int64_t clock_real_ns(void);

/* Timed waits on the monotonic clock: clock_cond_init makes a condition variable whose
 * pthread_cond_timedwait reads it (0 or an errno of pthread_cond_init; destroy it with
 * pthread_cond_destroy); clock_mono_abstime turns a clock_mono_ns() time into the
 * deadline such a wait takes, clock_mono_deadline the time ms from now. A condition
 * variable made otherwise waits on the wall clock: these deadlines do not fit it. */
int clock_cond_init(pthread_cond_t *cond);
struct timespec clock_mono_abstime(int64_t mono_ns);
struct timespec clock_mono_deadline(int64_t ms);

#endif
