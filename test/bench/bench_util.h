/*
 * bench_util.h — small helpers the metadata benchmarks (bench_meta, bench_nsops) share:
 * a qsort comparator for latencies and a reproducible random sequence (their clock is
 * base/clock.h's). Header-only: each benchmark is one program of one source file.
 */
#ifndef S3F_BENCH_UTIL_H
#define S3F_BENCH_UTIL_H

#include <stdint.h>

/* qsort comparator of doubles, ascending (latencies before percentiles are read). */
static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* xorshift64*: the next number of the sequence in *s (not 0), reproducible from its start
 * and without libc's rand() state. */
static inline uint64_t bench_rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

#endif
