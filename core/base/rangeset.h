/*
 * rangeset.h — sets of byte ranges [start, end), kept sorted, disjoint and coalesced.
 * Used for the hydrated (present) ranges of a partially fetched file.
 *
 * Pure data structure over heap memory owned by the set; not thread-safe (callers hold
 * whatever protects the set). Encoded form (for the metadata store): little-endian
 * u32 count, then count pairs of u64 start, u64 end.
 */
#ifndef S3F_RANGESET_H
#define S3F_RANGESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct range {
	uint64_t start;
	uint64_t end;		/* exclusive */
};

struct rangeset {
	struct range *r;
	size_t n;
	size_t cap;
};

#define RANGESET_INIT { NULL, 0, 0 }

void rangeset_init(struct rangeset *rs);
void rangeset_free(struct rangeset *rs);
void rangeset_clear(struct rangeset *rs);

/* Add [start, end), merging with neighbours it touches or overlaps. 0 or ENOMEM. */
int rangeset_add(struct rangeset *rs, uint64_t start, uint64_t end);
/* Remove [start, end) (may split a range). 0 or ENOMEM. */
int rangeset_remove(struct rangeset *rs, uint64_t start, uint64_t end);
/* Drop everything at or beyond size (truncate). */
void rangeset_truncate(struct rangeset *rs, uint64_t size);
/* True if [start, end) is entirely inside the set (an empty range is covered). */
bool rangeset_covers(const struct rangeset *rs, uint64_t start, uint64_t end);
/* The parts of [start, end) NOT in the set, into out (its contents replaced; out may be
 * rs itself). 0 or ENOMEM (out unchanged). */
int rangeset_missing(const struct rangeset *rs, uint64_t start, uint64_t end,
		     struct rangeset *out);
/* Total bytes in the set. */
uint64_t rangeset_bytes(const struct rangeset *rs);
/* Bytes of [start, end) that are in the set. */
uint64_t rangeset_bytes_in(const struct rangeset *rs, uint64_t start, uint64_t end);

size_t rangeset_encoded_size(const struct rangeset *rs);
void rangeset_encode(const struct rangeset *rs, void *buf);
/* Replace the contents of rs (initialized) with the decoded set; rs is unchanged on error.
 * 0, ENOMEM, or S3F_E_META_CORRUPT for a malformed buffer (bad length, empty, unsorted,
 * overlapping or touching ranges: only what rangeset_encode writes is accepted). */
int rangeset_decode(struct rangeset *rs, const void *buf, size_t len);

#endif
