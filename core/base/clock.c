/*
 * clock.c — see clock.h. One place reads the clocks, so that an interval is never
 * measured on the wall clock by accident (it jumps when NTP or an operator sets it).
 */
#include "base/clock.h"

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t clock_mono_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

int64_t clock_mono_ms(void)
{
	return clock_ns(CLOCK_MONOTONIC) / 1000000;
}

double clock_mono_s(void)
{
	return (double)clock_ns(CLOCK_MONOTONIC) / 1e9;
}

int64_t clock_real_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

int clock_cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t ca;
	int rc = pthread_condattr_init(&ca);

	if (rc)
		return rc;
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (rc == 0)
		rc = pthread_cond_init(cond, &ca);
	pthread_condattr_destroy(&ca);
	return rc;
}

struct timespec clock_mono_abstime(int64_t mono_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(mono_ns / 1000000000LL),
			       .tv_nsec = (long)(mono_ns % 1000000000LL) };

	return ts;
}

struct timespec clock_mono_deadline(int64_t ms)
{
	return clock_mono_abstime(clock_mono_ns() + ms * 1000000LL);
}
