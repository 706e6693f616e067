/* test_rangeset.c — byte-range sets (core/base/rangeset.c), checked against a bitmap model. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "check.h"
#include "base/err.h"
#include "base/rangeset.h"

#define UNIVERSE 4096

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* The invariant every operation must keep: sorted, non-empty, disjoint, not touching. */
static void check_canonical(const struct rangeset *rs)
{
	CHECK(rs->n <= rs->cap);
	for (size_t i = 0; i < rs->n; i++) {
		CHECK_MSG(rs->r[i].start < rs->r[i].end, "range %zu empty", i);
		if (i)
			CHECK_MSG(rs->r[i - 1].end < rs->r[i].start, "ranges %zu/%zu touch", i - 1, i);
	}
}

/* The set equals the bitmap. */
static void check_model(const struct rangeset *rs, const bool *bits)
{
	size_t k = 0;
	uint64_t total = 0;

	check_canonical(rs);
	for (uint64_t b = 0; b < UNIVERSE; b++) {
		bool in;

		while (k < rs->n && rs->r[k].end <= b)
			k++;
		in = k < rs->n && rs->r[k].start <= b;
		CHECK_MSG(in == bits[b], "byte %llu: set %d model %d", (unsigned long long)b, in,
			  bits[b]);
		total += bits[b];
	}
	CHECK_U64_EQ(rangeset_bytes(rs), total);
}

static void test_basics(void)
{
	struct rangeset rs = RANGESET_INIT;

	CHECK(rangeset_covers(&rs, 5, 5));	/* empty range */
	CHECK(!rangeset_covers(&rs, 0, 1));
	CHECK_OK(rangeset_add(&rs, 10, 20));
	CHECK_OK(rangeset_add(&rs, 30, 40));
	CHECK_INT_EQ(rs.n, 2);
	CHECK_OK(rangeset_add(&rs, 20, 30));	/* touching both: one range */
	CHECK_INT_EQ(rs.n, 1);
	CHECK_U64_EQ(rs.r[0].start, 10);
	CHECK_U64_EQ(rs.r[0].end, 40);
	CHECK_OK(rangeset_add(&rs, 7, 7));	/* empty: no-op */
	CHECK_OK(rangeset_add(&rs, 9, 3));	/* inverted: no-op */
	CHECK_INT_EQ(rs.n, 1);
	CHECK_OK(rangeset_remove(&rs, 15, 25));	/* split */
	CHECK_INT_EQ(rs.n, 2);
	CHECK(rangeset_covers(&rs, 10, 15));
	CHECK(!rangeset_covers(&rs, 10, 16));
	CHECK(rangeset_covers(&rs, 25, 40));
	CHECK_U64_EQ(rangeset_bytes(&rs), 20);
	/* bytes inside a window: [10,15) and [25,40) */
	CHECK_U64_EQ(rangeset_bytes_in(&rs, 0, 100), 20);
	CHECK_U64_EQ(rangeset_bytes_in(&rs, 12, 30), 3 + 5);
	CHECK_U64_EQ(rangeset_bytes_in(&rs, 15, 25), 0);
	CHECK_U64_EQ(rangeset_bytes_in(&rs, 26, 27), 1);
	CHECK_U64_EQ(rangeset_bytes_in(&rs, 40, 10), 0);
	CHECK_OK(rangeset_add(&rs, 0, UINT64_MAX));
	CHECK_INT_EQ(rs.n, 1);
	CHECK(rangeset_covers(&rs, 0, UINT64_MAX));
	CHECK_OK(rangeset_remove(&rs, UINT64_MAX - 1, UINT64_MAX));
	CHECK(!rangeset_covers(&rs, UINT64_MAX - 1, UINT64_MAX));
	CHECK(rangeset_covers(&rs, UINT64_MAX - 2, UINT64_MAX - 1));
	rangeset_clear(&rs);
	CHECK_INT_EQ(rs.n, 0);
	CHECK_U64_EQ(rangeset_bytes(&rs), 0);
	rangeset_free(&rs);
	CHECK(rs.r == NULL && rs.n == 0 && rs.cap == 0);
	rangeset_free(&rs);	/* idempotent */
}

static void test_missing(void)
{
	struct rangeset rs, out;

	rangeset_init(&rs);
	rangeset_init(&out);
	CHECK_OK(rangeset_missing(&rs, 0, 100, &out));
	CHECK_INT_EQ(out.n, 1);
	CHECK_U64_EQ(out.r[0].end, 100);
	CHECK_OK(rangeset_add(&rs, 10, 20));
	CHECK_OK(rangeset_add(&rs, 50, 60));
	CHECK_OK(rangeset_missing(&rs, 0, 100, &out));
	CHECK_INT_EQ(out.n, 3);
	CHECK(out.r[0].start == 0 && out.r[0].end == 10);
	CHECK(out.r[1].start == 20 && out.r[1].end == 50);
	CHECK(out.r[2].start == 60 && out.r[2].end == 100);
	CHECK_OK(rangeset_missing(&rs, 12, 18, &out));
	CHECK_INT_EQ(out.n, 0);
	CHECK_OK(rangeset_missing(&rs, 15, 55, &out));
	CHECK_INT_EQ(out.n, 1);
	CHECK(out.r[0].start == 20 && out.r[0].end == 50);
	CHECK_OK(rangeset_missing(&rs, 30, 30, &out));
	CHECK_INT_EQ(out.n, 0);
	/* out may be the set itself. */
	CHECK_OK(rangeset_missing(&rs, 0, 70, &rs));
	CHECK_INT_EQ(rs.n, 3);
	CHECK(rs.r[0].start == 0 && rs.r[0].end == 10 && rs.r[2].start == 60 && rs.r[2].end == 70);
	rangeset_free(&rs);
	rangeset_free(&out);
}

static void test_truncate(void)
{
	struct rangeset rs = RANGESET_INIT;

	CHECK_OK(rangeset_add(&rs, 0, 10));
	CHECK_OK(rangeset_add(&rs, 20, 30));
	CHECK_OK(rangeset_add(&rs, 40, 50));
	rangeset_truncate(&rs, 45);
	CHECK_INT_EQ(rs.n, 3);
	CHECK_U64_EQ(rs.r[2].end, 45);
	rangeset_truncate(&rs, 40);	/* a range starting at size goes */
	CHECK_INT_EQ(rs.n, 2);
	rangeset_truncate(&rs, 35);	/* in a gap */
	CHECK_INT_EQ(rs.n, 2);
	CHECK_U64_EQ(rs.r[1].end, 30);
	rangeset_truncate(&rs, 1000);	/* growing keeps everything */
	CHECK_INT_EQ(rs.n, 2);
	rangeset_truncate(&rs, 5);
	CHECK_INT_EQ(rs.n, 1);
	CHECK_U64_EQ(rs.r[0].end, 5);
	rangeset_truncate(&rs, 0);
	CHECK_INT_EQ(rs.n, 0);
	rangeset_free(&rs);
}

/* 100k random operations against a bitmap of a 4,096-byte universe. */
static void test_model_property(void)
{
	static bool bits[UNIVERSE];
	struct rangeset rs = RANGESET_INIT, miss = RANGESET_INIT;
	size_t max_n = 0;

	memset(bits, 0, sizeof bits);
	rng_state = 0xc0ffee1234ull;
	for (int iter = 0; iter < 100000; iter++) {
		uint64_t a = rng() % (UNIVERSE + 1), b;
		unsigned op = (unsigned)(rng() % 100);

		/* Mostly short ranges so the set fragments; sometimes long ones. */
		b = (rng() % 8) ? a + rng() % 24 : rng() % (UNIVERSE + 1);
		if (b > UNIVERSE)
			b = UNIVERSE;
		if (rng() % 16 == 0) {	/* inverted or empty: no-ops */
			uint64_t t = a;
			a = b;
			b = t;
		}
		if (op < 35) {
			CHECK_OK(rangeset_add(&rs, a, b));
			for (uint64_t x = a; x < b; x++)
				bits[x] = true;
		} else if (op < 65) {
			CHECK_OK(rangeset_remove(&rs, a, b));
			for (uint64_t x = a; x < b; x++)
				bits[x] = false;
		} else if (op < 80) {
			bool want = true;

			for (uint64_t x = a; x < b; x++)
				want = want && bits[x];
			CHECK_MSG(rangeset_covers(&rs, a, b) == want, "iter %d covers [%llu,%llu)",
				  iter, (unsigned long long)a, (unsigned long long)b);
			{
				uint64_t in = 0;

				for (uint64_t x = a; x < b; x++)
					in += bits[x];
				CHECK_MSG(rangeset_bytes_in(&rs, a, b) == in,
					  "iter %d bytes in [%llu,%llu)", iter,
					  (unsigned long long)a, (unsigned long long)b);
			}
		} else if (op < 95) {
			/* missing == complement of the model inside [a, b). */
			size_t k = 0;

			CHECK_OK(rangeset_missing(&rs, a, b, &miss));
			check_canonical(&miss);
			for (uint64_t x = a; x < b; x++) {
				bool m;

				while (k < miss.n && miss.r[k].end <= x)
					k++;
				m = k < miss.n && miss.r[k].start <= x;
				CHECK_MSG(m == !bits[x], "iter %d missing byte %llu", iter,
					  (unsigned long long)x);
			}
			CHECK(miss.n == 0 || (miss.r[0].start >= a && miss.r[miss.n - 1].end <= b));
		} else if (op < 97) {
			rangeset_truncate(&rs, a);
			for (uint64_t x = a; x < UNIVERSE; x++)
				bits[x] = false;
		} else {
			/* Encode/decode keeps the set. */
			size_t sz = rangeset_encoded_size(&rs);
			unsigned char *buf = malloc(sz);
			struct rangeset back = RANGESET_INIT;

			CHECK(buf != NULL);
			rangeset_encode(&rs, buf);
			CHECK_OK(rangeset_decode(&back, buf, sz));
			CHECK_INT_EQ(back.n, rs.n);
			CHECK(rs.n == 0 || memcmp(back.r, rs.r, rs.n * sizeof rs.r[0]) == 0);
			rangeset_free(&back);
			free(buf);
		}
		if (rs.n > max_n)
			max_n = rs.n;
		if (iter % 97 == 0 || op < 65)
			check_model(&rs, bits);
	}
	check_model(&rs, bits);
	CHECK_MSG(max_n > 50, "the set never fragmented (max %zu ranges)", max_n);
	rangeset_free(&rs);
	rangeset_free(&miss);
}

static void test_encode_decode(void)
{
	struct rangeset rs = RANGESET_INIT, back = RANGESET_INIT;
	unsigned char buf[4 + 16 * 3];
	static const unsigned char want[4 + 16 * 2] = {
		2, 0, 0, 0,
		1, 0, 0, 0, 0, 0, 0, 0,  2, 0, 0, 0, 0, 0, 0, 0,
		0, 1, 0, 0, 0, 0, 0, 0,  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};

	CHECK_INT_EQ(rangeset_encoded_size(&rs), 4);
	rangeset_encode(&rs, buf);
	CHECK_OK(rangeset_decode(&back, buf, 4));
	CHECK_INT_EQ(back.n, 0);

	CHECK_OK(rangeset_add(&rs, 1, 2));
	CHECK_OK(rangeset_add(&rs, 256, UINT64_MAX));
	CHECK_INT_EQ(rangeset_encoded_size(&rs), sizeof want);
	rangeset_encode(&rs, buf);
	CHECK_MEM_EQ(buf, want, sizeof want);	/* little-endian, exact layout */
	CHECK_OK(rangeset_add(&back, 5, 9));	/* decode replaces old contents */
	CHECK_OK(rangeset_decode(&back, buf, sizeof want));
	CHECK_INT_EQ(back.n, 2);
	CHECK(back.r[0].start == 1 && back.r[0].end == 2);
	CHECK(back.r[1].start == 256 && back.r[1].end == UINT64_MAX);
	rangeset_free(&rs);
	rangeset_free(&back);
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void test_decode_rejects_corrupt(void)
{
	struct rangeset rs = RANGESET_INIT;
	unsigned char buf[4 + 16 * 2];
	static const struct {
		uint64_t s0, e0, s1, e1;
	} bad[] = {
		{ 5, 5, 10, 20 },	/* empty range */
		{ 6, 5, 10, 20 },	/* inverted */
		{ 10, 20, 5, 8 },	/* unsorted */
		{ 10, 20, 15, 30 },	/* overlapping */
		{ 10, 20, 20, 30 },	/* touching: not canonical */
	};

	/* Keep something in rs: a failed decode leaves it as it was. */
	CHECK_OK(rangeset_add(&rs, 100, 200));

	buf[0] = 2; buf[1] = buf[2] = buf[3] = 0;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		put64(buf + 4, bad[i].s0);
		put64(buf + 12, bad[i].e0);
		put64(buf + 20, bad[i].s1);
		put64(buf + 28, bad[i].e1);
		CHECK_INT_EQ(rangeset_decode(&rs, buf, sizeof buf), S3F_E_META_CORRUPT);
		CHECK(rs.n == 1 && rs.r[0].start == 100 && rs.r[0].end == 200);
	}
	/* Lengths: too short for the count, count disagreeing with the length. */
	put64(buf + 4, 1);
	put64(buf + 12, 2);
	put64(buf + 20, 3);
	put64(buf + 28, 4);
	CHECK_OK(rangeset_decode(&rs, buf, sizeof buf));
	for (size_t len = 0; len < sizeof buf; len++)
		CHECK_INT_EQ(rangeset_decode(&rs, buf, len), S3F_E_META_CORRUPT);
	buf[0] = 1;
	CHECK_INT_EQ(rangeset_decode(&rs, buf, sizeof buf), S3F_E_META_CORRUPT);
	buf[0] = 0xff; buf[1] = 0xff; buf[2] = 0xff; buf[3] = 0xff;	/* huge count */
	CHECK_INT_EQ(rangeset_decode(&rs, buf, sizeof buf), S3F_E_META_CORRUPT);
	CHECK_INT_EQ(rs.n, 2);
	rangeset_free(&rs);
}

/* Many ranges: lookups stay correct when the array grows far past its first size. */
static void test_large(void)
{
	struct rangeset rs = RANGESET_INIT;

	for (uint64_t i = 0; i < 200000; i++)
		CHECK_OK(rangeset_add(&rs, i * 4, i * 4 + 2));
	CHECK_INT_EQ(rs.n, 200000);
	for (uint64_t i = 0; i < 200000; i += 997) {
		CHECK(rangeset_covers(&rs, i * 4, i * 4 + 2));
		CHECK(!rangeset_covers(&rs, i * 4 + 1, i * 4 + 3));
	}
	/* Fill the gaps backwards: each add merges with both neighbours. */
	for (uint64_t i = 200000; i-- > 1;)
		CHECK_OK(rangeset_add(&rs, i * 4 - 2, i * 4));
	CHECK_INT_EQ(rs.n, 1);
	CHECK_U64_EQ(rangeset_bytes(&rs), 800000 - 2);
	rangeset_free(&rs);
}

int main(void)
{
	CHECK_RUN(test_basics);
	CHECK_RUN(test_missing);
	CHECK_RUN(test_truncate);
	CHECK_RUN(test_model_property);
	CHECK_RUN(test_encode_decode);
	CHECK_RUN(test_decode_rejects_corrupt);
	CHECK_RUN(test_large);
	return check_done();
}
