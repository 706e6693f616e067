/* test_base.c — the small utilities of core/base/: hex (hex.h), the clocks (clock.h), growable
 * arrays and byte strings (buf.h). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/hex.h"

/* ---- hex ---- */

static void test_hex_digit(void)
{
	for (int c = 0; c < 256; c++) {
		int want = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			   c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;

		CHECK_MSG(hex_digit(c) == want, "hex_digit(%d) = %d, want %d", c, hex_digit(c), want);
	}
	CHECK_INT_EQ(hex_digit(-1), -1);
	CHECK_INT_EQ(hex_digit((char)0xC1), -1);	/* a signed char above 0x7f */
}

/* Every byte value, and random buffers, go to lowercase hex and come back. */
static void test_hex_roundtrip(void)
{
	unsigned char all[256], back[256];
	char text[2 * 256 + 1];

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	hex_encode(all, sizeof all, text);
	CHECK_INT_EQ(strlen(text), 512);
	CHECK(strncmp(text, "000102", 6) == 0);
	CHECK(strcmp(text + 500, "fafbfcfdfeff") == 0);
	for (size_t i = 0; i < 512; i++)
		CHECK_MSG(hex_digit((unsigned char)text[i]) >= 0 &&
			  !(text[i] >= 'A' && text[i] <= 'F'), "not lowercase hex at %zu", i);
	memset(back, 0, sizeof back);
	CHECK_INT_EQ(hex_decode(text, 512, back, true), 0);
	CHECK(memcmp(all, back, sizeof all) == 0);

	for (unsigned seed = 1; seed <= 50; seed++) {
		unsigned char in[64], out[64];
		size_t n = seed % 64;

		check_fill(in, n, seed);
		hex_encode(in, n, text);
		CHECK_INT_EQ(strlen(text), 2 * n);
		CHECK_INT_EQ(hex_decode(text, 2 * n, out, false), 0);
		CHECK(memcmp(in, out, n) == 0);
	}
	hex_encode(all, 0, text);
	CHECK_STR_EQ(text, "");
	CHECK_INT_EQ(hex_decode("", 0, back, true), 0);
}

static void test_hex_bad_input(void)
{
	unsigned char out[8];

	CHECK_INT_EQ(hex_decode("abc", 3, out, false), EINVAL);		/* odd length */
	CHECK_INT_EQ(hex_decode("0g", 2, out, false), EINVAL);
	CHECK_INT_EQ(hex_decode("g0", 2, out, false), EINVAL);
	CHECK_INT_EQ(hex_decode("0 ", 2, out, false), EINVAL);
	CHECK_INT_EQ(hex_decode("-1", 2, out, false), EINVAL);
	CHECK_INT_EQ(hex_decode("\xc3\xa9", 2, out, false), EINVAL);
	/* uppercase: accepted, unless lower_only */
	CHECK_INT_EQ(hex_decode("ABcd", 4, out, false), 0);
	CHECK_INT_EQ(out[0], 0xab);
	CHECK_INT_EQ(out[1], 0xcd);
	CHECK_INT_EQ(hex_decode("ABcd", 4, out, true), EINVAL);
	CHECK_INT_EQ(hex_decode("abcD", 4, out, true), EINVAL);
	CHECK_INT_EQ(hex_decode("abcd", 4, out, true), 0);
	/* len counts: a NUL inside the digits is a bad digit, not an end */
	CHECK_INT_EQ(hex_decode("ab\0d", 4, out, false), EINVAL);
}

/* ---- clocks ---- */

static void test_clock_monotonic(void)
{
	int64_t prev = clock_mono_ns(), ms0 = clock_mono_ms();
	double s0 = clock_mono_s();
	struct timespec nap = { 0, 2000000 };

	CHECK(prev > 0);
	for (int i = 0; i < 100000; i++) {
		int64_t now = clock_mono_ns();

		CHECK_MSG(now >= prev, "clock_mono_ns went back: %lld after %lld", (long long)now,
			  (long long)prev);
		prev = now;
	}
	nanosleep(&nap, NULL);
	CHECK(clock_mono_ns() - prev >= 2000000);
	CHECK(clock_mono_ms() >= ms0 + 2);
	CHECK(clock_mono_s() >= s0 + 0.002);
	/* the three read the same clock */
	CHECK(llabs(clock_mono_ms() - clock_mono_ns() / 1000000) <= 1000);
	CHECK(clock_mono_s() * 1e3 - (double)clock_mono_ms() < 1000);
}

static void test_clock_real(void)
{
	struct timespec ts;
	int64_t a, b;

	clock_gettime(CLOCK_REALTIME, &ts);
	a = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	b = clock_real_ns();
	CHECK(b >= a);
	CHECK(b - a < 10LL * 1000000000LL);
	CHECK(b > 1577836800LL * 1000000000LL);	/* after 2020: the epoch, not boot time */
}

/* A condition variable of clock_cond_init times out at a clock_mono_deadline. */
static void test_clock_timed_wait(void)
{
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond;
	struct timespec ts, ab;
	int64_t t0, waited;
	int rc;

	CHECK_INT_EQ(clock_cond_init(&cond), 0);
	pthread_mutex_lock(&mu);
	t0 = clock_mono_ns();
	ts = clock_mono_deadline(30);
	do
		rc = pthread_cond_timedwait(&cond, &mu, &ts);
	while (rc == 0);
	waited = clock_mono_ns() - t0;
	pthread_mutex_unlock(&mu);
	pthread_cond_destroy(&cond);
	CHECK_INT_EQ(rc, ETIMEDOUT);
	CHECK_MSG(waited >= 29000000 && waited < 5000000000LL, "waited %lld ns", (long long)waited);
	ab = clock_mono_abstime(12LL * 1000000000LL + 345);
	CHECK_INT_EQ(ab.tv_sec, 12);
	CHECK_INT_EQ(ab.tv_nsec, 345);
}

/* ---- growable arrays ---- */

struct pair {
	uint64_t a;
	char b[13];
};

static void test_buf_grow(void)
{
	struct pair *p = NULL;
	uint64_t *u = NULL;
	size_t n = 0, cap = 0, ucap = 0;

	for (uint64_t i = 0; i < 100000; i++) {
		CHECK_INT_EQ(BUF_GROW(&u, &ucap, n + 1), 0);
		CHECK(ucap >= n + 1);
		u[n++] = i * 3;
	}
	for (uint64_t i = 0; i < n; i++)
		CHECK_U64_EQ(u[i], i * 3);
	CHECK(ucap < 2 * n + BUF_MIN_CAP);	/* doubling, not more */
	free(u);

	/* element size from the type; a larger need at once; no shrinking */
	CHECK_INT_EQ(BUF_GROW(&p, &cap, 1), 0);
	CHECK_INT_EQ(cap, BUF_MIN_CAP);
	CHECK_INT_EQ(BUF_GROW(&p, &cap, 1000), 0);
	CHECK(cap >= 1000);
	memset(p, 0x5a, 1000 * sizeof *p);
	p[999].a = 7;
	n = cap;
	CHECK_INT_EQ(BUF_GROW(&p, &cap, 10), 0);
	CHECK_INT_EQ(cap, n);
	CHECK_U64_EQ(p[999].a, 7);
	free(p);
}

/* A size that cannot be allocated or does not fit a size_t is refused, and the array the
 * caller has is left as it was. */
static void test_buf_grow_overflow(void)
{
	uint64_t *u = NULL;
	struct pair *p = NULL;
	size_t cap = 0, pcap = 0, was;

	CHECK_INT_EQ(BUF_GROW(&u, &cap, 4), 0);
	u[3] = 42;
	was = cap;
	CHECK_INT_EQ(BUF_GROW(&u, &cap, SIZE_MAX / sizeof *u + 1), ENOMEM);
	CHECK_INT_EQ(BUF_GROW(&u, &cap, SIZE_MAX), ENOMEM);
	CHECK_INT_EQ(cap, was);
	CHECK_U64_EQ(u[3], 42);
	CHECK_INT_EQ(BUF_GROW(&p, &pcap, SIZE_MAX / sizeof *p + 1), ENOMEM);
	CHECK(p == NULL);
	CHECK_INT_EQ(pcap, 0);
	CHECK_INT_EQ(buf_grow(&u, &cap, cap + 1, 0), ENOMEM);
	free(u);
}

/* ---- byte strings ---- */

static void test_buf_string(void)
{
	struct buf b = BUF_INIT;
	char *s;

	buf_adds(&b, "abc");
	buf_addc(&b, '-');
	buf_add(&b, "x\0y", 3);
	buf_addf(&b, "%d:%s", 42, "z");
	CHECK_INT_EQ(b.len, 3 + 1 + 3 + 4);
	CHECK(memcmp(b.p, "abc-x\0y42:z", b.len + 1) == 0);
	CHECK(!b.oom);
	CHECK_INT_EQ(buf_done(&b, &s), 0);
	CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
	CHECK(memcmp(s, "abc-x\0y42:z", 12) == 0);
	free(s);

	/* an empty buffer hands over "" */
	CHECK_INT_EQ(buf_done(&b, &s), 0);
	CHECK_STR_EQ(s, "");
	free(s);

	/* long appends grow it; the bytes stay */
	for (int i = 0; i < 10000; i++)
		buf_addf(&b, "%04d", i);
	CHECK_INT_EQ(b.len, 40000);
	CHECK(strncmp(b.p + 4 * 9999, "9999", 4) == 0);
	CHECK_INT_EQ(b.p[b.len], '\0');
	buf_free(&b);
	CHECK(b.p == NULL && b.len == 0);
}

/* A reservation that cannot be made sets oom, later appends do nothing, buf_done fails. */
static void test_buf_string_oom(void)
{
	struct buf b = BUF_INIT;
	char *s = (char *)&b;

	buf_adds(&b, "keep");
	CHECK(!buf_reserve(&b, SIZE_MAX - 2));
	CHECK(b.oom);
	buf_adds(&b, "more");
	CHECK_INT_EQ(b.len, 4);
	CHECK(!buf_reserve(&b, 1));
	CHECK_INT_EQ(buf_done(&b, &s), ENOMEM);
	CHECK(s == NULL);
	CHECK(b.p == NULL && !b.oom);
	buf_free(&b);
}

int main(void)
{
	CHECK_RUN(test_hex_digit);
	CHECK_RUN(test_hex_roundtrip);
	CHECK_RUN(test_hex_bad_input);
	CHECK_RUN(test_clock_monotonic);
	CHECK_RUN(test_clock_real);
	CHECK_RUN(test_clock_timed_wait);
	CHECK_RUN(test_buf_grow);
	CHECK_RUN(test_buf_grow_overflow);
	CHECK_RUN(test_buf_string);
	CHECK_RUN(test_buf_string_oom);
	return check_done();
}
