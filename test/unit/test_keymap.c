/* test_keymap.c — key <-> path mapping and the attribute metadata schema (core/ns/keymap.c). */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "check.h"
#include "base/err.h"
#include "ns/keymap.h"

/* One parse result, kept static: struct keymap_parsed is ~12 KiB. */
static struct keymap_parsed kp;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64*: fixed seed, so every run checks the same cases. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void km_init(struct keymap *km, const char *prefix)
{
	CHECK_OK(keymap_init(km, prefix));
}

static void parse(const struct keymap *km, const char *key, uint64_t size)
{
	keymap_key_parse(km, key, strlen(key), size, &kp);
}

/* The parsed components, joined with '/', into buf. */
static const char *joined(char *buf, size_t cap)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < kp.n; i++) {
		if (o + kp.len[i] + 2 > cap)
			break;
		memcpy(buf + o, kp.comp[i], kp.len[i]);
		o += kp.len[i];
		if (i + 1 < kp.n)
			buf[o++] = '/';
	}
	buf[o] = '\0';
	return buf;
}

#define CHECK_BAD(km, key, size, why, idx) \
	do { parse((km), (key), (size)); \
	     CHECK_MSG(kp.kind == KEYMAP_BAD && kp.bad == (why) && kp.bad_component == (idx), \
		       "key \"%s\": kind %d bad %s component %zu, want bad %s component %zu", \
		       (key), (int)kp.kind, keymap_bad_name(kp.bad), kp.bad_component, \
		       keymap_bad_name(why), (size_t)(idx)); } while (0)

static void test_init_normalizes_prefix(void)
{
	struct keymap km;
	char big[1100];

	km_init(&km, "a/b");
	CHECK_STR_EQ(km.prefix, "a/b/");
	CHECK_INT_EQ(km.prefix_len, 4);
	keymap_fini(&km);
	km_init(&km, "/a/b/");
	CHECK_STR_EQ(km.prefix, "a/b/");
	keymap_fini(&km);
	km_init(&km, "a//b");
	CHECK_STR_EQ(km.prefix, "a/b/");
	keymap_fini(&km);
	km_init(&km, "");
	CHECK_STR_EQ(km.prefix, "");
	CHECK_INT_EQ(km.prefix_len, 0);
	keymap_fini(&km);
	km_init(&km, "/");
	CHECK_STR_EQ(km.prefix, "");
	keymap_fini(&km);
	km_init(&km, NULL);
	CHECK_STR_EQ(km.prefix, "");
	keymap_fini(&km);
	keymap_fini(&km);	/* idempotent */

	CHECK_INT_EQ(keymap_init(&km, "a/./b"), EINVAL);
	CHECK_INT_EQ(keymap_init(&km, "../a"), EINVAL);
	CHECK_INT_EQ(keymap_init(&km, "a/.."), EINVAL);
	/* 999 bytes + '/' = 1000 is the limit. */
	memset(big, 'p', 999);
	big[999] = '\0';
	km_init(&km, big);
	CHECK_INT_EQ(km.prefix_len, 1000);
	keymap_fini(&km);
	memset(big, 'p', 1000);
	big[1000] = '\0';
	CHECK_INT_EQ(keymap_init(&km, big), EINVAL);
}

static void test_parse_file_and_marker(void)
{
	struct keymap km;
	char buf[2048];

	km_init(&km, "");
	parse(&km, "a/b/c", 10);
	CHECK_INT_EQ(kp.kind, KEYMAP_FILE);
	CHECK_INT_EQ(kp.bad, KEYMAP_OK);
	CHECK_INT_EQ(kp.n, 3);
	CHECK_STR_EQ(joined(buf, sizeof buf), "a/b/c");
	parse(&km, "a", 0);
	CHECK_INT_EQ(kp.kind, KEYMAP_FILE);
	CHECK_INT_EQ(kp.n, 1);
	parse(&km, "a/b/", 0);
	CHECK_INT_EQ(kp.kind, KEYMAP_DIR_MARKER);
	CHECK_INT_EQ(kp.n, 2);
	CHECK_STR_EQ(joined(buf, sizeof buf), "a/b");
	/* Names that look special but are valid POSIX names. */
	parse(&km, ".../.a/a./..a/ /-", 1);
	CHECK_INT_EQ(kp.kind, KEYMAP_FILE);
	CHECK_INT_EQ(kp.n, 6);
	keymap_fini(&km);

	km_init(&km, "data/set1");
	parse(&km, "data/set1/x/y.bin", 3);
	CHECK_INT_EQ(kp.kind, KEYMAP_FILE);
	CHECK_STR_EQ(joined(buf, sizeof buf), "x/y.bin");
	parse(&km, "data/set1/x/", 0);
	CHECK_INT_EQ(kp.kind, KEYMAP_DIR_MARKER);
	CHECK_STR_EQ(joined(buf, sizeof buf), "x");
	keymap_fini(&km);
}

static void test_parse_marker_with_data(void)
{
	struct keymap km;

	km_init(&km, "");
	CHECK_BAD(&km, "a/", 1, KEYMAP_BAD_MARKER_DATA, 0);
	CHECK_BAD(&km, "a/b/", 4096, KEYMAP_BAD_MARKER_DATA, 1);
	/* A bad component is reported before the data. */
	CHECK_BAD(&km, "a/../", 7, KEYMAP_BAD_DOTDOT, 1);
	keymap_fini(&km);
}

static void test_parse_root_marker(void)
{
	struct keymap km;

	km_init(&km, "p/q");
	parse(&km, "p/q/", 0);
	CHECK_INT_EQ(kp.kind, KEYMAP_ROOT);
	CHECK_INT_EQ(kp.n, 0);
	/* A root marker with content cannot be shown either: reported, not dropped. */
	CHECK_BAD(&km, "p/q/", 5, KEYMAP_BAD_MARKER_DATA, 0);
	keymap_fini(&km);
	km_init(&km, "");
	keymap_key_parse(&km, "", 0, 0, &kp);
	CHECK_INT_EQ(kp.kind, KEYMAP_ROOT);
	keymap_fini(&km);
}

static void test_parse_outside_prefix(void)
{
	struct keymap km;
	const char *outside[] = { "ab/c", "a", "ab", "b/a/c", "", "A/c", "/a/c" };

	km_init(&km, "a");
	for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
		parse(&km, outside[i], 1);
		CHECK_MSG(kp.kind == KEYMAP_OUTSIDE, "\"%s\" kind %d", outside[i], (int)kp.kind);
		CHECK_INT_EQ(kp.n, 0);
	}
	parse(&km, "a/c", 1);
	CHECK_INT_EQ(kp.kind, KEYMAP_FILE);
	keymap_fini(&km);
}

static void test_parse_dot_dotdot(void)
{
	struct keymap km;

	km_init(&km, "");
	CHECK_BAD(&km, ".", 1, KEYMAP_BAD_DOT, 0);
	CHECK_BAD(&km, "./a", 1, KEYMAP_BAD_DOT, 0);
	CHECK_BAD(&km, "a/./b", 1, KEYMAP_BAD_DOT, 1);
	CHECK_BAD(&km, "a/b/.", 1, KEYMAP_BAD_DOT, 2);
	CHECK_BAD(&km, "a/./", 0, KEYMAP_BAD_DOT, 1);
	CHECK_BAD(&km, "..", 1, KEYMAP_BAD_DOTDOT, 0);
	CHECK_BAD(&km, "../etc/passwd", 1, KEYMAP_BAD_DOTDOT, 0);
	CHECK_BAD(&km, "a/../b", 1, KEYMAP_BAD_DOTDOT, 1);
	CHECK_BAD(&km, "a/b/../", 0, KEYMAP_BAD_DOTDOT, 2);
	/* The first bad component from the left decides. */
	CHECK_BAD(&km, "a/../b/./c", 1, KEYMAP_BAD_DOTDOT, 1);
	CHECK_INT_EQ(kp.n, 2);
	keymap_fini(&km);
}

static void test_parse_empty_component(void)
{
	struct keymap km;

	km_init(&km, "");
	CHECK_BAD(&km, "/", 0, KEYMAP_BAD_EMPTY, 0);
	CHECK_BAD(&km, "/a", 1, KEYMAP_BAD_EMPTY, 0);
	CHECK_BAD(&km, "a//b", 1, KEYMAP_BAD_EMPTY, 1);
	CHECK_BAD(&km, "a//", 0, KEYMAP_BAD_EMPTY, 1);
	CHECK_BAD(&km, "a/b//", 0, KEYMAP_BAD_EMPTY, 2);
	CHECK_BAD(&km, "//", 0, KEYMAP_BAD_EMPTY, 0);
	keymap_fini(&km);
	km_init(&km, "p");
	CHECK_BAD(&km, "p//a", 1, KEYMAP_BAD_EMPTY, 0);
	CHECK_BAD(&km, "p//", 0, KEYMAP_BAD_EMPTY, 0);
	CHECK_BAD(&km, "p/a//b/", 0, KEYMAP_BAD_EMPTY, 1);
	keymap_fini(&km);
}

static void test_parse_long_component(void)
{
	struct keymap km;
	char key[600];

	km_init(&km, "");
	memset(key, 'n', 255);
	key[255] = '\0';
	parse(&km, key, 1);
	CHECK_INT_EQ(kp.kind, KEYMAP_FILE);
	CHECK_INT_EQ(kp.len[0], 255);
	memset(key, 'n', 256);
	key[256] = '\0';
	CHECK_BAD(&km, key, 1, KEYMAP_BAD_LONG, 0);
	/* In the middle, and as a directory marker. */
	key[0] = 'd';
	key[1] = '/';
	memset(key + 2, 'n', 256);
	strcpy(key + 258, "/f");
	CHECK_BAD(&km, key, 1, KEYMAP_BAD_LONG, 1);
	strcpy(key + 258, "/");
	CHECK_BAD(&km, key, 0, KEYMAP_BAD_LONG, 1);
	keymap_fini(&km);
}

static void test_parse_nul_byte(void)
{
	struct keymap km;
	static const char k1[] = "a\0b/c";
	static const char k2[] = "a/b\0/";
	static const char k3[] = "\0";

	km_init(&km, "");
	keymap_key_parse(&km, k1, sizeof k1 - 1, 1, &kp);
	CHECK_INT_EQ(kp.kind, KEYMAP_BAD);
	CHECK_INT_EQ(kp.bad, KEYMAP_BAD_NUL);
	CHECK_INT_EQ(kp.bad_component, 0);
	keymap_key_parse(&km, k2, sizeof k2 - 1, 0, &kp);
	CHECK_INT_EQ(kp.bad, KEYMAP_BAD_NUL);
	CHECK_INT_EQ(kp.bad_component, 1);
	keymap_key_parse(&km, k3, sizeof k3 - 1, 0, &kp);
	CHECK_INT_EQ(kp.bad, KEYMAP_BAD_NUL);
	keymap_fini(&km);
}

static void test_parse_reserved_lost_found(void)
{
	struct keymap km;

	km_init(&km, "");
	CHECK_BAD(&km, "lost+found", 3, KEYMAP_BAD_RESERVED, 0);
	CHECK_BAD(&km, "lost+found/", 0, KEYMAP_BAD_RESERVED, 0);
	CHECK_BAD(&km, "lost+found/x/y", 3, KEYMAP_BAD_RESERVED, 0);
	/* Only at the export root, and case-sensitive like POSIX names. */
	parse(&km, "a/lost+found", 1);
	CHECK_INT_EQ(kp.kind, KEYMAP_FILE);
	parse(&km, "Lost+Found/x", 1);
	CHECK_INT_EQ(kp.kind, KEYMAP_FILE);
	parse(&km, "lost+found2", 1);
	CHECK_INT_EQ(kp.kind, KEYMAP_FILE);
	keymap_fini(&km);
	/* The export root is bucket + prefix. */
	km_init(&km, "exp");
	CHECK_BAD(&km, "exp/lost+found/z", 1, KEYMAP_BAD_RESERVED, 0);
	parse(&km, "lost+found/z", 1);
	CHECK_INT_EQ(kp.kind, KEYMAP_OUTSIDE);
	keymap_fini(&km);
}

static void test_parse_1024_byte_keys(void)
{
	struct keymap km;
	char key[1100];

	/* 4 x 255 + 4 separators = 1024 bytes: the S3 maximum, valid. */
	km_init(&km, "");
	memset(key, 'k', 1024);
	key[255] = key[511] = key[767] = key[1023] = '/';
	key[1024] = '\0';
	parse(&km, key, 0);
	CHECK_INT_EQ(kp.kind, KEYMAP_DIR_MARKER);
	CHECK_INT_EQ(kp.n, 4);
	/* Without the trailing '/', the last component is 256 bytes. */
	key[1023] = 'k';
	CHECK_BAD(&km, key, 9, KEYMAP_BAD_LONG, 3);
	/* A 1,024-byte file key with valid components. */
	memset(key, 'k', 1024);
	key[200] = key[400] = key[600] = key[800] = key[1000] = '/';
	key[1024] = '\0';
	parse(&km, key, 9);
	CHECK_INT_EQ(kp.kind, KEYMAP_FILE);
	CHECK_INT_EQ(kp.n, 6);
	/* One byte more than S3 allows (a permissive server): reported, not truncated. */
	key[1024] = 'k';
	key[1025] = '\0';
	parse(&km, key, 9);
	CHECK_INT_EQ(kp.kind, KEYMAP_BAD);
	CHECK_INT_EQ(kp.bad, KEYMAP_BAD_KEY_LONG);
	CHECK_STR_EQ(keymap_bad_name(kp.bad), "key_too_long");
	keymap_fini(&km);
}

static void test_parse_512_components(void)
{
	struct keymap km;
	char key[1100];
	size_t o = 0;

	km_init(&km, "");
	for (int i = 0; i < 512; i++) {
		key[o++] = 'a';
		key[o++] = '/';
	}
	key[o] = '\0';	/* "a/a/.../a/": 1024 bytes, a marker 512 deep */
	CHECK_INT_EQ(o, 1024);
	parse(&km, key, 0);
	CHECK_INT_EQ(kp.kind, KEYMAP_DIR_MARKER);
	CHECK_INT_EQ(kp.n, 512);
	key[o - 1] = '\0';	/* "a/.../a": a file 512 deep */
	parse(&km, key, 1);
	CHECK_INT_EQ(kp.kind, KEYMAP_FILE);
	CHECK_INT_EQ(kp.n, KEYMAP_DEPTH_MAX);
	for (size_t i = 0; i < kp.n; i++)
		CHECK(kp.len[i] == 1 && kp.comp[i][0] == 'a');
	/* 513 components only fit in a key over 1024 bytes. */
	key[o - 1] = '/';
	key[o] = 'a';
	key[o + 1] = '\0';
	parse(&km, key, 1);
	CHECK_INT_EQ(kp.bad, KEYMAP_BAD_KEY_LONG);
	keymap_fini(&km);
}

static void test_parse_unicode_and_control(void)
{
	struct keymap km;
	char buf[256];
	/* UTF-8, control bytes, DEL, invalid UTF-8, tab, newline, backslash, colon. */
	const char *key = "\xc3\xbc/\xe6\x97\xa5\xe6\x9c\xac/\x01\x7f\xff\xfe/t\tn\nl/a\\b:c*?";

	km_init(&km, "");
	parse(&km, key, 1);
	CHECK_INT_EQ(kp.kind, KEYMAP_FILE);
	CHECK_INT_EQ(kp.n, 5);
	CHECK_STR_EQ(joined(buf, sizeof buf), key);
	CHECK_INT_EQ(kp.len[2], 4);
	keymap_fini(&km);
}

static void test_bad_names(void)
{
	CHECK_STR_EQ(keymap_bad_name(KEYMAP_OK), "ok");
	CHECK_STR_EQ(keymap_bad_name(KEYMAP_BAD_EMPTY), "empty_component");
	CHECK_STR_EQ(keymap_bad_name(KEYMAP_BAD_DOT), "dot");
	CHECK_STR_EQ(keymap_bad_name(KEYMAP_BAD_DOTDOT), "dotdot");
	CHECK_STR_EQ(keymap_bad_name(KEYMAP_BAD_LONG), "name_too_long");
	CHECK_STR_EQ(keymap_bad_name(KEYMAP_BAD_NUL), "nul_byte");
	CHECK_STR_EQ(keymap_bad_name(KEYMAP_BAD_MARKER_DATA), "marker_with_data");
	CHECK_STR_EQ(keymap_bad_name(KEYMAP_BAD_RESERVED), "reserved_name");
	CHECK_STR_EQ(keymap_bad_name(KEYMAP_BAD_COLLISION), "file_dir_collision");
	CHECK_STR_EQ(keymap_bad_name(KEYMAP_BAD_KEY_LONG), "key_too_long");
	CHECK_STR_EQ(keymap_bad_name((enum keymap_bad)999), "unknown");
}

static void test_name_check(void)
{
	char name[300];

	CHECK_INT_EQ(keymap_name_check("a", 1), 0);
	CHECK_INT_EQ(keymap_name_check("...", 3), 0);
	CHECK_INT_EQ(keymap_name_check("\xff\x01", 2), 0);
	CHECK_INT_EQ(keymap_name_check("", 0), EINVAL);
	CHECK_INT_EQ(keymap_name_check(".", 1), EINVAL);
	CHECK_INT_EQ(keymap_name_check("..", 2), EINVAL);
	CHECK_INT_EQ(keymap_name_check("a/b", 3), EINVAL);
	CHECK_INT_EQ(keymap_name_check("a\0b", 3), EINVAL);
	memset(name, 'x', sizeof name);
	CHECK_INT_EQ(keymap_name_check(name, 255), 0);
	CHECK_INT_EQ(keymap_name_check(name, 256), ENAMETOOLONG);
	name[100] = '/';
	CHECK_INT_EQ(keymap_name_check(name, 256), EINVAL);
}

static void test_key_build(void)
{
	struct keymap km;
	char out[S3_KEY_MAX + 1];
	size_t kl = 0;
	const char *c[] = { "a", "b", "c.txt" };
	const size_t l[] = { 1, 1, 5 };

	km_init(&km, "pre/fix");
	CHECK_OK(keymap_key_build(&km, c, l, 3, false, out, sizeof out, &kl));
	CHECK_STR_EQ(out, "pre/fix/a/b/c.txt");
	CHECK_INT_EQ(kl, strlen(out));
	CHECK_OK(keymap_key_build(&km, c, l, 2, true, out, sizeof out, NULL));
	CHECK_STR_EQ(out, "pre/fix/a/b/");
	/* The root's key is the prefix itself (its marker). */
	CHECK_OK(keymap_key_build(&km, NULL, NULL, 0, true, out, sizeof out, &kl));
	CHECK_STR_EQ(out, "pre/fix/");
	CHECK_INT_EQ(kl, 8);
	CHECK_OK(keymap_key_build(&km, NULL, NULL, 0, false, out, sizeof out, &kl));
	CHECK_STR_EQ(out, "pre/fix/");
	/* outlen too small for key + NUL. */
	CHECK_INT_EQ(keymap_key_build(&km, c, l, 3, false, out, strlen("pre/fix/a/b/c.txt"), NULL),
		     ENAMETOOLONG);
	CHECK_OK(keymap_key_build(&km, c, l, 3, false, out, strlen("pre/fix/a/b/c.txt") + 1, NULL));
	keymap_fini(&km);

	km_init(&km, "");
	CHECK_OK(keymap_key_build(&km, NULL, NULL, 0, true, out, sizeof out, &kl));
	CHECK_STR_EQ(out, "");	/* a whole-bucket export: the root has no key */
	CHECK_INT_EQ(kl, 0);
	CHECK_OK(keymap_key_build(&km, c, l, 1, false, out, sizeof out, NULL));
	CHECK_STR_EQ(out, "a");
	{
		const char *bad1[] = { "a", ".." };
		const char *bad2[] = { "a", "x/y" };
		const char *bad3[] = { "lost+found", "x" };
		const char *ok3[] = { "x", "lost+found" };
		const size_t l2[] = { 1, 2 };
		const size_t l3[] = { 1, 3 };
		const size_t l10[] = { 10, 1 };
		const size_t l10b[] = { 1, 10 };
		const size_t l0[] = { 1, 0 };

		CHECK_INT_EQ(keymap_key_build(&km, bad1, l2, 2, false, out, sizeof out, NULL), EINVAL);
		CHECK_INT_EQ(keymap_key_build(&km, bad2, l3, 2, false, out, sizeof out, NULL), EINVAL);
		CHECK_INT_EQ(keymap_key_build(&km, bad3, l10, 2, false, out, sizeof out, NULL), EINVAL);
		CHECK_OK(keymap_key_build(&km, ok3, l10b, 2, false, out, sizeof out, NULL));
		CHECK_STR_EQ(out, "x/lost+found");
		CHECK_INT_EQ(keymap_key_build(&km, bad1, l0, 2, false, out, sizeof out, NULL), EINVAL);
	}
	{
		/* 1024 bytes exactly is fine, one more is ENAMETOOLONG. */
		static char name[255];
		const char *cc[5];
		size_t ll[5] = { 255, 255, 255, 255, 0 };

		memset(name, 'z', sizeof name);
		for (int i = 0; i < 5; i++)
			cc[i] = name;
		ll[4] = 0;
		CHECK_OK(keymap_key_build(&km, cc, ll, 4, true, out, sizeof out, &kl));
		CHECK_INT_EQ(kl, 1024);
		CHECK_INT_EQ(keymap_key_build(&km, cc, ll, 4, true, out, sizeof out - 1, NULL),
			     ENAMETOOLONG);
		ll[3] = 254;
		CHECK_OK(keymap_key_build(&km, cc, ll, 4, false, out, sizeof out, &kl));
		CHECK_INT_EQ(kl, 1022);
		ll[4] = 1;	/* 1022 + '/' + 1 = 1024 */
		CHECK_OK(keymap_key_build(&km, cc, ll, 5, false, out, sizeof out, &kl));
		CHECK_INT_EQ(kl, 1024);
		ll[4] = 2;
		CHECK_INT_EQ(keymap_key_build(&km, cc, ll, 5, false, out, sizeof out, NULL),
			     ENAMETOOLONG);
		ll[4] = 255;
		CHECK_INT_EQ(keymap_key_build(&km, cc, ll, 5, false, out, sizeof out, NULL),
			     ENAMETOOLONG);
	}
	{
		static const char *deep[KEYMAP_DEPTH_MAX + 1];
		static size_t dl[KEYMAP_DEPTH_MAX + 1];

		for (int i = 0; i <= KEYMAP_DEPTH_MAX; i++) {
			deep[i] = "a";
			dl[i] = 1;
		}
		CHECK_OK(keymap_key_build(&km, deep, dl, KEYMAP_DEPTH_MAX, true, out, sizeof out, &kl));
		CHECK_INT_EQ(kl, 1024);
		CHECK_INT_EQ(keymap_key_build(&km, deep, dl, KEYMAP_DEPTH_MAX + 1, false, out,
					      sizeof out, NULL), ENAMETOOLONG);
	}
	keymap_fini(&km);

	/* The prefix counts against S3_KEY_MAX. */
	{
		char pre[1000];
		const char *cc[1];
		size_t ll[1];
		static char name[30];

		memset(pre, 'p', 998);
		pre[998] = '\0';
		km_init(&km, pre);	/* 999 bytes with the '/' */
		memset(name, 'n', sizeof name);
		cc[0] = name;
		ll[0] = 25;
		CHECK_OK(keymap_key_build(&km, cc, ll, 1, false, out, sizeof out, &kl));
		CHECK_INT_EQ(kl, 1024);
		ll[0] = 26;
		CHECK_INT_EQ(keymap_key_build(&km, cc, ll, 1, false, out, sizeof out, NULL),
			     ENAMETOOLONG);
		keymap_fini(&km);
	}
}

static void test_dir_prefix(void)
{
	struct keymap km;
	char out[S3_KEY_MAX + 1];
	const char *c[] = { "a", "b" };
	const size_t l[] = { 1, 1 };

	km_init(&km, "");
	CHECK_OK(keymap_dir_prefix(&km, NULL, NULL, 0, out, sizeof out));
	CHECK_STR_EQ(out, "");
	CHECK_OK(keymap_dir_prefix(&km, c, l, 2, out, sizeof out));
	CHECK_STR_EQ(out, "a/b/");
	keymap_fini(&km);
	km_init(&km, "x");
	CHECK_OK(keymap_dir_prefix(&km, NULL, NULL, 0, out, sizeof out));
	CHECK_STR_EQ(out, "x/");
	CHECK_OK(keymap_dir_prefix(&km, c, l, 1, out, sizeof out));
	CHECK_STR_EQ(out, "x/a/");
	CHECK_INT_EQ(keymap_dir_prefix(&km, c, l, 1, out, 4), ENAMETOOLONG);
	CHECK_OK(keymap_dir_prefix(&km, c, l, 1, out, 5));
	keymap_fini(&km);
}

/* Random valid component lists: parse(build(x)) == x, and build fails only for length. */
static void test_roundtrip_property(void)
{
	static const char *prefixes[] = { "", "p", "a/b/c", "\xe2\x82\xac/sp ace" };
	static char names[KEYMAP_DEPTH_MAX][KEYMAP_NAME_MAX];
	static const char *comp[KEYMAP_DEPTH_MAX];
	static size_t len[KEYMAP_DEPTH_MAX];
	char key[S3_KEY_MAX + 1];
	int built = 0, toolong = 0;

	rng_state = 0x5eed5eed5eedull;
	for (int iter = 0; iter < 20000; iter++) {
		struct keymap km;
		size_t n, total, klen;
		bool marker = rng() & 1;
		int rc;

		km_init(&km, prefixes[rng() % 4]);
		switch (rng() % 4) {
		case 0: n = 1 + rng() % 3; break;
		case 1: n = 1 + rng() % 20; break;
		case 2: n = 1 + rng() % 200; break;
		default: n = 1 + rng() % KEYMAP_DEPTH_MAX; break;
		}
		total = km.prefix_len;
		for (size_t i = 0; i < n; i++) {
			size_t l;

			switch (rng() % 8) {
			case 0: l = 1 + rng() % KEYMAP_NAME_MAX; break;
			case 1: l = 1 + rng() % 2; break;	/* near "." and ".." */
			default: l = 1 + rng() % 12; break;
			}
			for (;;) {
				for (size_t j = 0; j < l; j++) {
					unsigned char ch;

					do {
						ch = (rng() % 3) ? (unsigned char)('a' + rng() % 26 - (rng() % 5 == 0 ? 80 : 0))
								 : (unsigned char)(1 + rng() % 255);
					} while (ch == '/' || ch == '\0');
					if (rng() % 4 == 0)
						ch = '.';
					names[i][j] = (char)ch;
				}
				if (keymap_name_check(names[i], l) == 0 &&
				    !(i == 0 && l == 10 && memcmp(names[i], "lost+found", 10) == 0))
					break;
			}
			comp[i] = names[i];
			len[i] = l;
			total += l + (i + 1 < n || marker ? 1 : 0);
		}
		rc = keymap_key_build(&km, comp, len, n, marker, key, sizeof key, &klen);
		if (total > S3_KEY_MAX) {
			CHECK_MSG(rc == ENAMETOOLONG, "iter %d: total %zu rc %d", iter, total, rc);
			toolong++;
			keymap_fini(&km);
			continue;
		}
		CHECK_MSG(rc == 0, "iter %d: build rc %d", iter, rc);
		CHECK_INT_EQ(klen, total);
		built++;
		keymap_key_parse(&km, key, klen, marker ? 0 : rng() % 100000, &kp);
		CHECK_MSG(kp.kind == (marker ? KEYMAP_DIR_MARKER : KEYMAP_FILE),
			  "iter %d: kind %d bad %s", iter, (int)kp.kind, keymap_bad_name(kp.bad));
		CHECK_INT_EQ(kp.n, n);
		for (size_t i = 0; i < n; i++) {
			CHECK_INT_EQ(kp.len[i], len[i]);
			CHECK(memcmp(kp.comp[i], comp[i], len[i]) == 0);
		}
		keymap_fini(&km);
	}
	/* The generator must exercise both outcomes. */
	CHECK(built > 10000);
	CHECK(toolong > 500);
}

/* ---- metadata ---- */

static const char *pair_value(const struct s3_meta_pair *p, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(p[i].name, name) == 0)
			return p[i].value;
	return NULL;
}

static void decode1(const char *name, const char *value, struct keymap_attrs *a,
		    const char **bad)
{
	struct s3_meta_pair p;

	memset(&p, 0, sizeof p);
	snprintf(p.name, sizeof p.name, "%s", name);
	snprintf(p.value, sizeof p.value, "%s", value);
	keymap_meta_decode(&p, 1, a, bad);
}

static void test_meta_encode_canonical(void)
{
	struct s3_meta_pair p[S3_META_MAX];
	struct keymap_attrs a = { 0 };
	unsigned n = 99;

	/* Nothing set: nothing written. */
	CHECK_OK(keymap_meta_encode(&a, p, S3_META_MAX, &n));
	CHECK_INT_EQ(n, 0);

	a.has_mode = a.has_uid = a.has_gid = a.has_mtime = true;
	a.mode = S_IFREG | 0644;
	a.uid = 1000;
	a.gid = 100;
	a.mtime_sec = 1700000000;
	a.mtime_nsec = 0;
	CHECK_OK(keymap_meta_encode(&a, p, S3_META_MAX, &n));
	CHECK_INT_EQ(n, 4);
	CHECK_STR_EQ(pair_value(p, n, "mode"), "33188");	/* what s3fs writes */
	CHECK_STR_EQ(pair_value(p, n, "uid"), "1000");
	CHECK_STR_EQ(pair_value(p, n, "gid"), "100");
	CHECK_STR_EQ(pair_value(p, n, "mtime"), "1700000000");
	a.mtime_nsec = 1;
	CHECK_OK(keymap_meta_encode(&a, p, S3_META_MAX, &n));
	CHECK_STR_EQ(pair_value(p, n, "mtime"), "1700000000.000000001");
	a.mtime_nsec = 500000000;
	CHECK_OK(keymap_meta_encode(&a, p, S3_META_MAX, &n));
	CHECK_STR_EQ(pair_value(p, n, "mtime"), "1700000000.500000000");	/* 9 digits for s3fs */
	/* Pre-1970: the string is the value (rclone's reading). */
	a.mtime_sec = -2;
	a.mtime_nsec = 500000000;
	CHECK_OK(keymap_meta_encode(&a, p, S3_META_MAX, &n));
	CHECK_STR_EQ(pair_value(p, n, "mtime"), "-1.500000000");
	a.mtime_sec = -1;
	a.mtime_nsec = 1;
	CHECK_OK(keymap_meta_encode(&a, p, S3_META_MAX, &n));
	CHECK_STR_EQ(pair_value(p, n, "mtime"), "-0.999999999");
	a.mtime_sec = -1;
	a.mtime_nsec = 0;
	CHECK_OK(keymap_meta_encode(&a, p, S3_META_MAX, &n));
	CHECK_STR_EQ(pair_value(p, n, "mtime"), "-1");
	a.mtime_sec = INT64_MIN;
	CHECK_OK(keymap_meta_encode(&a, p, S3_META_MAX, &n));
	CHECK_STR_EQ(pair_value(p, n, "mtime"), "-9223372036854775808");
	a.mtime_nsec = 1;
	CHECK_OK(keymap_meta_encode(&a, p, S3_META_MAX, &n));
	CHECK_STR_EQ(pair_value(p, n, "mtime"), "-9223372036854775807.999999999");
	a.mtime_sec = 0;
	a.mtime_nsec = 0;
	a.uid = UINT32_MAX;
	a.mode = S_IFLNK | 0777;
	CHECK_OK(keymap_meta_encode(&a, p, S3_META_MAX, &n));
	CHECK_STR_EQ(pair_value(p, n, "uid"), "4294967295");
	CHECK_STR_EQ(pair_value(p, n, "mode"), "41471");
	CHECK_STR_EQ(pair_value(p, n, "mtime"), "0");

	/* Errors. */
	CHECK_INT_EQ(keymap_meta_encode(&a, p, 3, &n), ENOSPC);
	a.mtime_nsec = 1000000000;
	CHECK_INT_EQ(keymap_meta_encode(&a, p, S3_META_MAX, &n), EINVAL);
	a.mtime_nsec = 0;
	a.mode = 0x10000 | 0644;	/* a bit above S_IFMT */
	CHECK_INT_EQ(keymap_meta_encode(&a, p, S3_META_MAX, &n), EINVAL);
	a.mode = 0110644;		/* no such file type */
	CHECK_INT_EQ(keymap_meta_encode(&a, p, S3_META_MAX, &n), EINVAL);
	a.has_mode = false;
	CHECK_OK(keymap_meta_encode(&a, p, 3, &n));
	CHECK_INT_EQ(n, 3);
	CHECK(pair_value(p, n, "mode") == NULL);
}

static void test_meta_decode_peers(void)
{
	struct keymap_attrs a;
	const char *bad = "x";

	/* s3fs: decimal st_mode, 9-digit fraction. */
	decode1("mode", "33188", &a, &bad);
	CHECK(a.has_mode && a.mode == (S_IFREG | 0644) && bad == NULL);
	decode1("mode", "16877", &a, &bad);
	CHECK(a.has_mode && a.mode == (S_IFDIR | 0755));
	decode1("mode", "420", &a, &bad);	/* permissions only: decimal 420 = 0644 */
	CHECK(a.has_mode && a.mode == 0644);
	/* s3fs reads with strtoll base 0: "0..." octal, "0x..." hex. */
	decode1("mode", "0100644", &a, &bad);
	CHECK(a.has_mode && a.mode == (S_IFREG | 0644));
	decode1("mode", "0644", &a, &bad);
	CHECK(a.has_mode && a.mode == 0644);
	decode1("mode", "0x81a4", &a, &bad);
	CHECK(a.has_mode && a.mode == (S_IFREG | 0644));
	/* rclone --metadata: octal without the leading zero. */
	decode1("mode", "100664", &a, &bad);
	CHECK(a.has_mode && a.mode == (S_IFREG | 0664));
	decode1("mode", "40755", &a, &bad);
	CHECK(a.has_mode && a.mode == (S_IFDIR | 0755));
	decode1("mode", "120777", &a, &bad);
	CHECK(a.has_mode && a.mode == (S_IFLNK | 0777));
	decode1("mode", "0", &a, &bad);
	CHECK(a.has_mode && a.mode == 0);
	/* Blanks and case. */
	decode1("MODE", " 33188\t", &a, &bad);
	CHECK(a.has_mode && a.mode == (S_IFREG | 0644) && bad == NULL);

	/* rclone mtime: float seconds, trailing zeros trimmed. */
	decode1("mtime", "1700000000.5", &a, &bad);
	CHECK(a.has_mtime && a.mtime_sec == 1700000000 && a.mtime_nsec == 500000000);
	decode1("Mtime", "1354040105.123456789", &a, &bad);
	CHECK(a.has_mtime && a.mtime_sec == 1354040105 && a.mtime_nsec == 123456789);
	decode1("mtime", "1354040105.1234567891234", &a, &bad);	/* past 9 digits: dropped */
	CHECK(a.has_mtime && a.mtime_nsec == 123456789);
	decode1("mtime", "-1.5", &a, &bad);
	CHECK(a.has_mtime && a.mtime_sec == -2 && a.mtime_nsec == 500000000);
	decode1("mtime", "-0.5", &a, &bad);
	CHECK(a.has_mtime && a.mtime_sec == -1 && a.mtime_nsec == 500000000);
	decode1("mtime", "-0", &a, &bad);
	CHECK(a.has_mtime && a.mtime_sec == 0 && a.mtime_nsec == 0);
	decode1("mtime", "-9223372036854775808", &a, &bad);
	CHECK(a.has_mtime && a.mtime_sec == INT64_MIN && a.mtime_nsec == 0);
	decode1("mtime", "9223372036854775807.999999999", &a, &bad);
	CHECK(a.has_mtime && a.mtime_sec == INT64_MAX && a.mtime_nsec == 999999999);

	decode1("uid", "4294967295", &a, &bad);
	CHECK(a.has_uid && a.uid == UINT32_MAX && bad == NULL);
	decode1("gid", "0", &a, &bad);
	CHECK(a.has_gid && a.gid == 0 && bad == NULL);
}

static void test_meta_decode_rejects(void)
{
	static const struct {
		const char *name, *value;
	} cases[] = {
		{ "mode", "" }, { "mode", "abc" }, { "mode", "-1" }, { "mode", "+33188" },
		{ "mode", "33188x" }, { "mode", "99999999999999999999999" },
		{ "mode", "0100999" },	/* octal with a non-octal digit */
		{ "mode", "0x" }, { "mode", "0xfffff" }, { "mode", "1 2" },
		{ "mode", "70000" },	/* decimal > 0177777, octal 070000 has no valid type */
		{ "uid", "" }, { "uid", "-1" }, { "uid", "4294967296" }, { "uid", "1e3" },
		{ "uid", "0x10" }, { "gid", "12a" },
		{ "mtime", "" }, { "mtime", "." }, { "mtime", "1." }, { "mtime", ".5" },
		{ "mtime", "+1" }, { "mtime", "1e9" }, { "mtime", "1.5.2" }, { "mtime", "-" },
		{ "mtime", "2023-01-01T00:00:00Z" }, { "mtime", "9223372036854775808" },
		{ "mtime", "-9223372036854775808.5" }, { "mtime", "--1" }, { "mtime", "1.-5" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct keymap_attrs a;
		const char *bad = NULL;

		decode1(cases[i].name, cases[i].value, &a, &bad);
		CHECK_MSG(!a.has_mode && !a.has_uid && !a.has_gid && !a.has_mtime,
			  "%s=\"%s\" accepted", cases[i].name, cases[i].value);
		CHECK_MSG(bad && strcmp(bad, cases[i].name) == 0, "%s=\"%s\": bad_field %s",
			  cases[i].name, cases[i].value, bad ? bad : "(null)");
	}
}

static void test_meta_decode_mixed(void)
{
	struct s3_meta_pair p[6];
	struct keymap_attrs a;
	const char *bad = NULL;

	memset(p, 0, sizeof p);
	snprintf(p[0].name, sizeof p[0].name, "md5chksum");
	snprintf(p[0].value, sizeof p[0].value, "abc");
	snprintf(p[1].name, sizeof p[1].name, "uid");
	snprintf(p[1].value, sizeof p[1].value, "nope");
	snprintf(p[2].name, sizeof p[2].name, "gid");
	snprintf(p[2].value, sizeof p[2].value, "7");
	snprintf(p[3].name, sizeof p[3].name, "mtime");
	snprintf(p[3].value, sizeof p[3].value, "bad");
	snprintf(p[4].name, sizeof p[4].name, "gid");	/* duplicate: first wins */
	snprintf(p[4].value, sizeof p[4].value, "8");
	snprintf(p[5].name, sizeof p[5].name, "btime");	/* rclone, not ours */
	snprintf(p[5].value, sizeof p[5].value, "2020-01-01T00:00:00Z");
	keymap_meta_decode(p, 6, &a, &bad);
	CHECK(!a.has_mode && !a.has_uid && a.has_gid && !a.has_mtime);
	CHECK_INT_EQ(a.gid, 7);
	CHECK_STR_EQ(bad, "uid");	/* the first unparsable one */
	keymap_meta_decode(p, 6, &a, NULL);	/* bad_field may be NULL */
	keymap_meta_decode(NULL, 0, &a, &bad);
	CHECK(!a.has_mode && !a.has_uid && !a.has_gid && !a.has_mtime && bad == NULL);
	/* Names are compared within their 64 bytes even without a NUL. */
	memset(p[0].name, 'm', sizeof p[0].name);
	keymap_meta_decode(p, 1, &a, &bad);
	CHECK(bad == NULL && !a.has_mode);
}

static uint32_t random_mode(void)
{
	static const uint32_t types[] = { 0, S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFCHR,
					  S_IFBLK, S_IFSOCK };

	return types[rng() % 8] | (uint32_t)(rng() & 07777);
}

static void test_meta_roundtrip_property(void)
{
	rng_state = 0x4d455441ull;
	for (int iter = 0; iter < 50000; iter++) {
		struct s3_meta_pair p[4];
		struct keymap_attrs a = { 0 }, b;
		const char *bad = "x";
		unsigned n;

		a.has_mode = rng() & 1;
		a.has_uid = rng() & 1;
		a.has_gid = rng() & 1;
		a.has_mtime = rng() & 1;
		if (a.has_mode)
			a.mode = random_mode();
		if (a.has_uid)
			a.uid = (rng() & 1) ? (uint32_t)rng() : (uint32_t)(UINT32_MAX - rng() % 3);
		if (a.has_gid)
			a.gid = (uint32_t)(rng() % 70000);
		if (a.has_mtime) {
			switch (rng() % 4) {
			case 0: a.mtime_sec = (int64_t)rng(); break;	/* anything, incl. negative */
			case 1: a.mtime_sec = (int64_t)(rng() % 4000000000ull) - 2000000000; break;
			case 2: a.mtime_sec = (rng() & 1) ? INT64_MIN + (int64_t)(rng() % 3)
							  : INT64_MAX - (int64_t)(rng() % 3); break;
			default: a.mtime_sec = (int64_t)(rng() % 5) - 2; break;
			}
			a.mtime_nsec = (rng() % 3) ? (uint32_t)(rng() % 1000000000u)
						   : (uint32_t)(rng() % 3) * 499999999u;
		}
		CHECK_OK(keymap_meta_encode(&a, p, 4, &n));
		keymap_meta_decode(p, n, &b, &bad);
		CHECK_MSG(bad == NULL, "iter %d: bad %s", iter, bad);
		CHECK(a.has_mode == b.has_mode && a.has_uid == b.has_uid && a.has_gid == b.has_gid &&
		      a.has_mtime == b.has_mtime);
		CHECK_INT_EQ(b.mode, a.mode);
		CHECK_U64_EQ(b.uid, a.uid);
		CHECK_U64_EQ(b.gid, a.gid);
		CHECK_MSG(b.mtime_sec == a.mtime_sec && b.mtime_nsec == a.mtime_nsec,
			  "iter %d: %lld.%09u -> \"%s\" -> %lld.%09u", iter, (long long)a.mtime_sec,
			  a.mtime_nsec, pair_value(p, n, "mtime"), (long long)b.mtime_sec,
			  b.mtime_nsec);
	}
}


/* ---- trust in imported metadata (S3_Setid, S3_Root_Owner) ---- */

static unsigned import_pairs(const struct keymap *km, const char *mode, const char *uid,
			     const char *gid, struct keymap_attrs *a)
{
	struct s3_meta_pair p[3];
	unsigned n = 0;
	const char *bad = "x";

	memset(p, 0, sizeof p);
	if (mode) {
		snprintf(p[n].name, sizeof p[n].name, "mode");
		snprintf(p[n].value, sizeof p[n].value, "%s", mode);
		n++;
	}
	if (uid) {
		snprintf(p[n].name, sizeof p[n].name, "uid");
		snprintf(p[n].value, sizeof p[n].value, "%s", uid);
		n++;
	}
	if (gid) {
		snprintf(p[n].name, sizeof p[n].name, "gid");
		snprintf(p[n].value, sizeof p[n].value, "%s", gid);
		n++;
	}
	unsigned changed = keymap_meta_import(km, p, n, a, &bad);

	CHECK(bad == NULL);
	return changed;
}

static void test_meta_trust_defaults(void)
{
	struct keymap km;
	struct keymap_attrs a;

	CHECK_OK(keymap_init(&km, "p/"));
	CHECK(!km.trust.setid && !km.trust.root_owner);
	CHECK_INT_EQ(km.trust.squash_uid, 65534);
	CHECK_INT_EQ(km.trust.squash_gid, 65534);
	/* The planted setuid-root program: 04755 (decimal 35309 with S_IFREG), uid 0 gid 0. */
	CHECK_INT_EQ(import_pairs(&km, "35309", "0", "0", &a),
		     KEYMAP_DISTRUST_SETID | KEYMAP_DISTRUST_UID | KEYMAP_DISTRUST_GID);
	CHECK_INT_EQ(a.mode, S_IFREG | 0755);
	CHECK_INT_EQ(a.uid, 65534);
	CHECK_INT_EQ(a.gid, 65534);
	/* setgid alone, in octal as s3fs may write it; sticky stays (it only restricts). */
	CHECK_INT_EQ(import_pairs(&km, "0103775", "1000", "100", &a), KEYMAP_DISTRUST_SETID);
	CHECK_INT_EQ(a.mode, S_IFREG | 01775);
	CHECK_INT_EQ(a.uid, 1000);
	CHECK_INT_EQ(a.gid, 100);
	/* A setgid directory loses the bit too; uid 0 alone is squashed alone. */
	CHECK_INT_EQ(import_pairs(&km, "0042775", "0", "5", &a),
		     KEYMAP_DISTRUST_SETID | KEYMAP_DISTRUST_UID);
	CHECK_INT_EQ(a.mode, S_IFDIR | 0775);
	CHECK_INT_EQ(a.uid, 65534);
	CHECK_INT_EQ(a.gid, 5);
	/* Nothing to distrust: unchanged, and the decode is the plain one. */
	CHECK_INT_EQ(import_pairs(&km, "33188", "1000", "1000", &a), 0);
	CHECK_INT_EQ(a.mode, S_IFREG | 0644);
	/* Absent fields stay absent (the namespace's defaults apply, not the squash ids). */
	CHECK_INT_EQ(import_pairs(&km, NULL, NULL, NULL, &a), 0);
	CHECK(!a.has_mode && !a.has_uid && !a.has_gid);
	CHECK_INT_EQ(a.uid, 0);
	/* An unparsable uid is not a uid 0. */
	CHECK_INT_EQ(import_pairs(&km, NULL, NULL, "7", &a), 0);
	keymap_fini(&km);
	CHECK(!km.trust.setid);		/* fini leaves the defaults alone */
}

static void test_meta_trust_settings(void)
{
	struct keymap km;
	struct keymap_attrs a;

	CHECK_OK(keymap_init(&km, ""));
	km.trust.setid = true;
	CHECK_INT_EQ(import_pairs(&km, "35309", "0", "0", &a),
		     KEYMAP_DISTRUST_UID | KEYMAP_DISTRUST_GID);
	CHECK_INT_EQ(a.mode, S_IFREG | 04755);
	km.trust.setid = false;
	km.trust.root_owner = true;
	CHECK_INT_EQ(import_pairs(&km, "35309", "0", "0", &a), KEYMAP_DISTRUST_SETID);
	CHECK_INT_EQ(a.uid, 0);
	CHECK_INT_EQ(a.gid, 0);
	km.trust.root_owner = false;
	km.trust.squash_uid = 4242;
	km.trust.squash_gid = 4343;
	CHECK_INT_EQ(import_pairs(&km, NULL, "0", "0", &a),
		     KEYMAP_DISTRUST_UID | KEYMAP_DISTRUST_GID);
	CHECK_INT_EQ(a.uid, 4242);
	CHECK_INT_EQ(a.gid, 4343);
	/* keymap_attrs_trust alone, on attributes that did not come from pairs. */
	struct keymap_attrs b = { .has_mode = true, .mode = S_IFREG | 06777 };

	CHECK_INT_EQ(keymap_attrs_trust(&km.trust, &b), KEYMAP_DISTRUST_SETID);
	CHECK_INT_EQ(b.mode, S_IFREG | 0777);
	b.has_mode = false;
	b.mode = S_IFREG | 06777;
	CHECK_INT_EQ(keymap_attrs_trust(&km.trust, &b), 0);	/* only has_* fields count */
	/* A failed init still leaves safe defaults behind. */
	struct keymap bad;

	memset(&bad, 0xff, sizeof bad);
	CHECK_INT_EQ(keymap_init(&bad, "a/../b"), EINVAL);
	CHECK(!bad.trust.setid && !bad.trust.root_owner);
	keymap_fini(&km);
}

/* Devices: x-amz-meta-rdev as s3fs writes it (decimal dev_t) both ways; without
 * S3_Devices a device from S3 becomes a regular file (bits kept, number dropped), FIFOs
 * and sockets always pass. */
static void test_meta_rdev_and_devices(void)
{
	struct s3_meta_pair p[S3_META_MAX];
	struct keymap_attrs a = { .has_mode = true, .mode = S_IFCHR | 0620, .has_rdev = true,
				  .rdev = 34816 }, b;
	struct keymap km;
	const char *bad = "x";
	unsigned n = 0;

	CHECK_OK(keymap_meta_encode(&a, p, S3_META_MAX, &n));
	CHECK_INT_EQ(n, 2);
	CHECK_STR_EQ(pair_value(p, n, "rdev"), "34816");
	keymap_meta_decode(p, n, &b, &bad);
	CHECK(bad == NULL);
	CHECK(b.has_rdev);
	CHECK_U64_EQ(b.rdev, 34816);
	CHECK_INT_EQ(b.mode, S_IFCHR | 0620);
	snprintf(p[1].value, sizeof p[1].value, "12x");
	keymap_meta_decode(p, n, &b, &bad);
	CHECK(!b.has_rdev);
	CHECK_STR_EQ(bad, "rdev");

	CHECK_OK(keymap_init(&km, ""));
	keymap_meta_decode(p, 1, &b, NULL);
	CHECK_INT_EQ(keymap_attrs_trust(&km.trust, &b), KEYMAP_DISTRUST_DEVICE);
	CHECK_INT_EQ(b.mode, S_IFREG | 0620);
	CHECK(!b.has_rdev);
	km.trust.devices = true;
	keymap_meta_decode(p, 1, &b, NULL);
	CHECK_INT_EQ(keymap_attrs_trust(&km.trust, &b), 0);
	CHECK_INT_EQ(b.mode, S_IFCHR | 0620);
	km.trust.devices = false;
	a.mode = S_IFIFO | 0600;
	a.has_rdev = false;
	CHECK_OK(keymap_meta_encode(&a, p, S3_META_MAX, &n));
	keymap_meta_decode(p, n, &b, NULL);
	CHECK_INT_EQ(keymap_attrs_trust(&km.trust, &b), 0);
	CHECK_INT_EQ(b.mode, S_IFIFO | 0600);
	keymap_fini(&km);
}

int main(void)
{
	CHECK_RUN(test_init_normalizes_prefix);
	CHECK_RUN(test_parse_file_and_marker);
	CHECK_RUN(test_parse_marker_with_data);
	CHECK_RUN(test_parse_root_marker);
	CHECK_RUN(test_parse_outside_prefix);
	CHECK_RUN(test_parse_dot_dotdot);
	CHECK_RUN(test_parse_empty_component);
	CHECK_RUN(test_parse_long_component);
	CHECK_RUN(test_parse_nul_byte);
	CHECK_RUN(test_parse_reserved_lost_found);
	CHECK_RUN(test_parse_1024_byte_keys);
	CHECK_RUN(test_parse_512_components);
	CHECK_RUN(test_parse_unicode_and_control);
	CHECK_RUN(test_bad_names);
	CHECK_RUN(test_name_check);
	CHECK_RUN(test_key_build);
	CHECK_RUN(test_dir_prefix);
	CHECK_RUN(test_roundtrip_property);
	CHECK_RUN(test_meta_encode_canonical);
	CHECK_RUN(test_meta_rdev_and_devices);
	CHECK_RUN(test_meta_decode_peers);
	CHECK_RUN(test_meta_decode_rejects);
	CHECK_RUN(test_meta_decode_mixed);
	CHECK_RUN(test_meta_roundtrip_property);
	CHECK_RUN(test_meta_trust_defaults);
	CHECK_RUN(test_meta_trust_settings);
	return check_done();
}
