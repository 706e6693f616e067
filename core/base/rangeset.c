/*
 * rangeset.c — see rangeset.h.
 *
 * Invariant: r[0..n) sorted, every range non-empty, and r[i].end < r[i+1].start
 * (disjoint AND not touching: touching ranges are merged). Because of that both starts
 * and ends are strictly increasing, so every lookup is a binary search on one of them.
 * Growth doubles the array (amortized O(1) per insert, plus the memmove of the tail).
 */
#include "base/rangeset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"

#define RANGESET_MIN_CAP 8
/* The encoded count is a u32; refuse to grow past what can be encoded. */
#define RANGESET_MAX_N UINT32_MAX

void rangeset_init(struct rangeset *rs)
{
	rs->r = NULL;
	rs->n = 0;
	rs->cap = 0;
}

void rangeset_free(struct rangeset *rs)
{
	free(rs->r);
	rangeset_init(rs);
}

void rangeset_clear(struct rangeset *rs)
{
	rs->n = 0;
}

/* Make room for at least want ranges. */
static int rangeset_reserve(struct rangeset *rs, size_t want)
{
	size_t cap;
	struct range *nr;

	if (want <= rs->cap)
		return 0;
	if (want > RANGESET_MAX_N)
		return ENOMEM;
	cap = rs->cap ? rs->cap : RANGESET_MIN_CAP;
	while (cap < want)
		cap = cap > RANGESET_MAX_N / 2 ? RANGESET_MAX_N : cap * 2;
	if (cap > SIZE_MAX / sizeof *nr)
		return ENOMEM;
	nr = realloc(rs->r, cap * sizeof *nr);
	if (!nr)
		return ENOMEM;
	rs->r = nr;
	rs->cap = cap;
	return 0;
}

/* First index i with r[i].end >= x (n if none). */
static size_t rangeset_first_end_ge(const struct rangeset *rs, uint64_t x)
{
	size_t lo = 0, hi = rs->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rs->r[mid].end >= x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* First index i with r[i].start > x (n if none). */
static size_t rangeset_first_start_gt(const struct rangeset *rs, uint64_t x)
{
	size_t lo = 0, hi = rs->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rs->r[mid].start > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Replace r[i..j) by the m ranges in repl (m <= 2). */
static int rangeset_splice(struct rangeset *rs, size_t i, size_t j, const struct range *repl,
			   size_t m)
{
	size_t tail = rs->n - j;
	int rc;

	if (m > j - i) {
		rc = rangeset_reserve(rs, rs->n + (m - (j - i)));
		if (rc)
			return rc;
	}
	if (tail && i + m != j)
		memmove(&rs->r[i + m], &rs->r[j], tail * sizeof rs->r[0]);
	if (m)
		memcpy(&rs->r[i], repl, m * sizeof rs->r[0]);
	rs->n = i + m + tail;
	return 0;
}

int rangeset_add(struct rangeset *rs, uint64_t start, uint64_t end)
{
	struct range m = { start, end };
	size_t i, j;

	if (start >= end)
		return 0;
	/* Ranges touching or overlapping [start, end): end >= start and start <= end. */
	i = rangeset_first_end_ge(rs, start);
	j = rangeset_first_start_gt(rs, end);
	if (i < j) {
		if (rs->r[i].start < m.start)
			m.start = rs->r[i].start;
		if (rs->r[j - 1].end > m.end)
			m.end = rs->r[j - 1].end;
	}
	return rangeset_splice(rs, i, j, &m, 1);
}

int rangeset_remove(struct rangeset *rs, uint64_t start, uint64_t end)
{
	struct range keep[2];
	size_t i, j, m = 0;

	if (start >= end)
		return 0;
	/* Ranges overlapping [start, end): end > start and start < end. */
	i = start == UINT64_MAX ? rs->n : rangeset_first_end_ge(rs, start + 1);
	j = end == 0 ? 0 : rangeset_first_start_gt(rs, end - 1);
	if (i >= j)
		return 0;
	if (rs->r[i].start < start)
		keep[m++] = (struct range){ rs->r[i].start, start };
	if (rs->r[j - 1].end > end)
		keep[m++] = (struct range){ end, rs->r[j - 1].end };
	return rangeset_splice(rs, i, j, keep, m);
}

void rangeset_truncate(struct rangeset *rs, uint64_t size)
{
	/* Keep ranges that start below size; clip the last one. */
	size_t k = size == 0 ? 0 : rangeset_first_start_gt(rs, size - 1);

	rs->n = k;
	if (k && rs->r[k - 1].end > size)
		rs->r[k - 1].end = size;
}

bool rangeset_covers(const struct rangeset *rs, uint64_t start, uint64_t end)
{
	size_t k;

	if (start >= end)
		return true;
	/* Coalesced, so one range must hold it all: the first ending after start. */
	k = rangeset_first_end_ge(rs, start + 1);
	return k < rs->n && rs->r[k].start <= start && rs->r[k].end >= end;
}

int rangeset_missing(const struct rangeset *rs, uint64_t start, uint64_t end,
		     struct rangeset *out)
{
	struct rangeset tmp = RANGESET_INIT;	/* out may alias rs */
	uint64_t cur = start;
	int rc = 0;

	if (start < end) {
		for (size_t k = rangeset_first_end_ge(rs, start + 1);
		     k < rs->n && rs->r[k].start < end; k++) {
			if (cur < rs->r[k].start) {
				rc = rangeset_add(&tmp, cur, rs->r[k].start);
				if (rc)
					goto out;
			}
			if (rs->r[k].end > cur)
				cur = rs->r[k].end;
		}
		if (cur < end) {
			rc = rangeset_add(&tmp, cur, end);
			if (rc)
				goto out;
		}
	}
	rangeset_free(out);
	*out = tmp;
	tmp.r = NULL;
out:
	rangeset_free(&tmp);
	return rc;
}

uint64_t rangeset_bytes(const struct rangeset *rs)
{
	uint64_t sum = 0;

	for (size_t k = 0; k < rs->n; k++)
		sum += rs->r[k].end - rs->r[k].start;
	return sum;
}

uint64_t rangeset_bytes_in(const struct rangeset *rs, uint64_t start, uint64_t end)
{
	uint64_t sum = 0;

	for (size_t k = 0; k < rs->n && rs->r[k].start < end; k++) {
		uint64_t a = rs->r[k].start > start ? rs->r[k].start : start;
		uint64_t b = rs->r[k].end < end ? rs->r[k].end : end;

		if (a < b)
			sum += b - a;
	}
	return sum;
}

/* ---- encoding: u32 count, then count x (u64 start, u64 end), little-endian ---- */

static void rangeset_put_u32(unsigned char *p, uint32_t v)
{
	for (int b = 0; b < 4; b++)
		p[b] = (unsigned char)(v >> (8 * b));
}

static void rangeset_put_u64(unsigned char *p, uint64_t v)
{
	for (int b = 0; b < 8; b++)
		p[b] = (unsigned char)(v >> (8 * b));
}

static uint32_t rangeset_get_u32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int b = 3; b >= 0; b--)
		v = (v << 8) | p[b];
	return v;
}

static uint64_t rangeset_get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int b = 7; b >= 0; b--)
		v = (v << 8) | p[b];
	return v;
}

size_t rangeset_encoded_size(const struct rangeset *rs)
{
	return 4 + rs->n * 16;
}

void rangeset_encode(const struct rangeset *rs, void *buf)
{
	unsigned char *p = buf;

	rangeset_put_u32(p, (uint32_t)rs->n);	/* n <= RANGESET_MAX_N by construction */
	p += 4;
	for (size_t k = 0; k < rs->n; k++) {
		rangeset_put_u64(p, rs->r[k].start);
		rangeset_put_u64(p + 8, rs->r[k].end);
		p += 16;
	}
}

int rangeset_decode(struct rangeset *rs, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	struct rangeset tmp = RANGESET_INIT;
	uint32_t count;
	int rc = 0;

	if (len < 4) {
		rc = S3F_E_META_CORRUPT;
		goto out;
	}
	count = rangeset_get_u32(p);
	if ((uint64_t)len != 4 + (uint64_t)count * 16) {
		rc = S3F_E_META_CORRUPT;
		goto out;
	}
	rc = rangeset_reserve(&tmp, count);
	if (rc)
		goto out;
	p += 4;
	for (uint32_t k = 0; k < count; k++, p += 16) {
		struct range r = { rangeset_get_u64(p), rangeset_get_u64(p + 8) };

		/* Only the canonical form is accepted: non-empty, sorted, not touching. */
		if (r.start >= r.end || (k > 0 && r.start <= tmp.r[k - 1].end)) {
			rc = S3F_E_META_CORRUPT;
			goto out;
		}
		tmp.r[k] = r;
		tmp.n = k + 1;
	}
	rangeset_free(rs);
	*rs = tmp;
	tmp.r = NULL;
out:
	rangeset_free(&tmp);
	return rc;
}
