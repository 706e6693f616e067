/*
 * keymap.c — see keymap.h; the user-facing contract is doc/SEMANTICS.md, section
 * "S3 keys and the file view".
 *
 * Why the metadata format is what it is (peer evidence, read from their sources):
 *
 *   s3fs-fuse, src/metaheader.cpp:
 *     get_mode()  reads x-amz-meta-mode with cvt_strtoofft(s, base 0), i.e. strtoll base
 *                 0: "33188" decimal, "0100644" octal, "0x81a4" hex; the whole string
 *                 must parse or the value becomes 0. Fallbacks x-amz-meta-permissions
 *                 (s3sync) and x-amz-meta-goog-reserved-posix-mode (GCS, octal).
 *     get_uid() / get_gid()  same parser on x-amz-meta-uid / -gid.
 *     cvt_string_to_time()  splits x-amz-meta-mtime at '.', integer part strtoll base
 *                 10, and the fraction *as a nanosecond count* ("1.5" -> 5 ns): so our
 *                 fraction must always have 9 digits. get_mtime() ignores values <= 0
 *                 (falls back to Last-Modified), so pre-1970 times are not shown by s3fs
 *                 whatever the encoding. x-amz-meta-ctime / -atime are read the same way.
 *   s3fs-fuse, src/s3fs.cpp (create_file_object, create_directory_object) and
 *     src/string_util.cpp str(struct timespec): writes mode/uid/gid with str() (decimal,
 *     mode includes S_IFMT bits) and times as "<sec>" or "<sec>.<9-digit nsec>".
 *   rclone, backend/s3/s3.go: metaMtime = "mtime"; ModTime() reads it with
 *     swift.FloatStringToTime, SetModTime/upload write swift.TimeToFloatString.
 *   ncw/swift, meta.go: nsToFloatString() writes total ns as "<sec>[.<frac>]" with
 *     trailing zeros trimmed and a leading '-' for the whole value when negative;
 *     floatStringToNs() pads/truncates the fraction to 9 digits and applies the sign to
 *     the whole number ("-1.5" is -1.5 s). So "<sec>.<9 digits>" is read exactly by both,
 *     and we decode rclone's shorter fractions by padding.
 *   rclone, backend/local/metadata_linux.go readMetadataFromFileStatx(): with --metadata,
 *     "mode" is fmt.Sprintf("%0o") (octal, no leading zero: "100664"), "uid"/"gid"
 *     decimal, "atime"/"mtime"/"btime" RFC 3339; the S3 backend stores unknown keys as
 *     user metadata verbatim (backend/oracleobjectstorage/object.go prepareUpload shows
 *     the same pattern; "btime" is kept as metadata) while "mtime" is re-written as the
 *     float string above. backend/local/metadata.go parses "mode" back with base 8.
 *     Hence: we accept unprefixed octal when decimal makes no valid st_mode; we write
 *     decimal because s3fs (every version, including the old hand-written decimal
 *     s3fs_strtoofft) reads decimal, and s3fs shares the live view with us. rclone
 *     --metadata to a local disk misreads decimal modes — as it does for s3fs objects.
 *
 * Key parsing never allocates: components point into the caller's key.
 */
#include "ns/keymap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define KEYMAP_PREFIX_MAX 1000	/* leaves room under S3_KEY_MAX for at least a short name */
#define KEYMAP_RESERVED "lost+found"

int keymap_init(struct keymap *km, const char *prefix)
{
	const char *p = prefix ? prefix : "";
	size_t in_len = strlen(p);
	char *buf = NULL;
	size_t o = 0;
	int rc = 0;

	km->prefix = NULL;
	km->prefix_len = 0;
	km->trust = (struct keymap_trust){ .setid = false, .root_owner = false,
					   .squash_uid = KEYMAP_SQUASH_ID,
					   .squash_gid = KEYMAP_SQUASH_ID };
	/* Normalized form is never longer than the input plus one trailing '/'. */
	buf = malloc(in_len + 2);
	if (!buf) {
		rc = ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < in_len;) {
		size_t j = i;

		while (j < in_len && p[j] != '/')
			j++;
		size_t clen = j - i;
		if (clen == 0) {	/* "//", leading or trailing '/': dropped */
			i = j + 1;
			continue;
		}
		if ((clen == 1 && p[i] == '.') || (clen == 2 && p[i] == '.' && p[i + 1] == '.')) {
			rc = EINVAL;
			goto out;
		}
		memcpy(buf + o, p + i, clen);
		o += clen;
		buf[o++] = '/';
		i = j + 1;
	}
	buf[o] = '\0';
	if (o > KEYMAP_PREFIX_MAX) {
		rc = EINVAL;
		goto out;
	}
	km->prefix = buf;
	km->prefix_len = o;
	buf = NULL;
out:
	free(buf);
	return rc;
}

void keymap_fini(struct keymap *km)
{
	free(km->prefix);
	km->prefix = NULL;
	km->prefix_len = 0;
}

const char *keymap_bad_name(enum keymap_bad b)
{
	switch (b) {
	case KEYMAP_OK: return "ok";
	case KEYMAP_BAD_EMPTY: return "empty_component";
	case KEYMAP_BAD_DOT: return "dot";
	case KEYMAP_BAD_DOTDOT: return "dotdot";
	case KEYMAP_BAD_LONG: return "name_too_long";
	case KEYMAP_BAD_NUL: return "nul_byte";
	case KEYMAP_BAD_MARKER_DATA: return "marker_with_data";
	case KEYMAP_BAD_RESERVED: return "reserved_name";
	case KEYMAP_BAD_COLLISION: return "file_dir_collision";
	case KEYMAP_BAD_KEY_LONG: return "key_too_long";
	}
	return "unknown";
}

static bool keymap_is_reserved(const char *c, size_t len)
{
	return len == sizeof KEYMAP_RESERVED - 1 && memcmp(c, KEYMAP_RESERVED, len) == 0;
}

/* Why component c (index idx) cannot be a POSIX name, or KEYMAP_OK. */
static enum keymap_bad keymap_comp_check(const char *c, size_t len, size_t idx)
{
	if (len == 0)
		return KEYMAP_BAD_EMPTY;
	if (len == 1 && c[0] == '.')
		return KEYMAP_BAD_DOT;
	if (len == 2 && c[0] == '.' && c[1] == '.')
		return KEYMAP_BAD_DOTDOT;
	if (idx == 0 && keymap_is_reserved(c, len))
		return KEYMAP_BAD_RESERVED;
	if (memchr(c, '\0', len))
		return KEYMAP_BAD_NUL;
	if (len > KEYMAP_NAME_MAX)
		return KEYMAP_BAD_LONG;
	return KEYMAP_OK;
}

void keymap_key_parse(const struct keymap *km, const char *key, size_t keylen, uint64_t size,
		      struct keymap_parsed *out)
{
	const char *rest;
	size_t restlen;
	bool marker = false;

	out->kind = KEYMAP_OUTSIDE;
	out->bad = KEYMAP_OK;
	out->bad_component = 0;
	out->n = 0;

	/* The prefix ends with '/', so "a/" never matches "ab/c". */
	if (keylen < km->prefix_len || memcmp(key, km->prefix, km->prefix_len) != 0)
		return;
	if (keylen > S3_KEY_MAX) {
		out->kind = KEYMAP_BAD;
		out->bad = KEYMAP_BAD_KEY_LONG;
		return;
	}
	rest = key + km->prefix_len;
	restlen = keylen - km->prefix_len;
	if (restlen == 0) {
		/* The root marker: nothing to show, unless it carries data we would hide. */
		if (size == 0) {
			out->kind = KEYMAP_ROOT;
		} else {
			out->kind = KEYMAP_BAD;
			out->bad = KEYMAP_BAD_MARKER_DATA;
		}
		return;
	}
	if (rest[restlen - 1] == '/') {
		marker = true;
		restlen--;	/* the trailing '/' is not a component */
	}

	/* Split on '/'. restlen == 0 here means the key was prefix + "/": one empty
	 * component. A key of at most S3_KEY_MAX bytes has at most KEYMAP_DEPTH_MAX
	 * non-empty components; an empty one is reported before the array can overflow. */
	size_t i = 0;
	for (;;) {
		const char *sl = memchr(rest + i, '/', restlen - i);
		size_t end = sl ? (size_t)(sl - rest) : restlen;
		size_t clen = end - i;
		enum keymap_bad why;

		if (out->n == KEYMAP_DEPTH_MAX) {	/* unreachable for keylen <= S3_KEY_MAX */
			out->kind = KEYMAP_BAD;
			out->bad = KEYMAP_BAD_KEY_LONG;
			out->bad_component = 0;
			out->n = 0;
			return;
		}
		out->comp[out->n] = rest + i;
		out->len[out->n] = clen;
		out->n++;
		why = keymap_comp_check(rest + i, clen, out->n - 1);
		if (why != KEYMAP_OK) {
			out->kind = KEYMAP_BAD;
			out->bad = why;
			out->bad_component = out->n - 1;
			return;
		}
		if (!sl)
			break;
		i = end + 1;
	}

	if (marker && size > 0) {
		out->kind = KEYMAP_BAD;
		out->bad = KEYMAP_BAD_MARKER_DATA;
		out->bad_component = out->n - 1;
		return;
	}
	out->kind = marker ? KEYMAP_DIR_MARKER : KEYMAP_FILE;
}

int keymap_name_check(const char *name, size_t len)
{
	if (len == 0)
		return EINVAL;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '/' || name[i] == '\0')
			return EINVAL;
	}
	if (len > KEYMAP_NAME_MAX)
		return ENAMETOOLONG;
	return 0;
}

/* Shared by key_build and dir_prefix: prefix, components joined by '/', optional '/'. */
static int keymap_join(const struct keymap *km, const char *const *comp, const size_t *len,
		       size_t n, bool trailing_slash, char *out, size_t outlen, size_t *keylen)
{
	size_t total = km->prefix_len;
	int rc;

	if (n > KEYMAP_DEPTH_MAX)
		return ENAMETOOLONG;
	if (n > 0 && (!comp || !len))
		return EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!comp[i])
			return EINVAL;
		rc = keymap_name_check(comp[i], len[i]);
		if (rc)
			return rc;
		if (i == 0 && keymap_is_reserved(comp[0], len[0]))
			return EINVAL;
		total += len[i] + (i + 1 < n || trailing_slash ? 1 : 0);
		if (total > S3_KEY_MAX)	/* checked per step: no overflow of total */
			return ENAMETOOLONG;
	}
	if (total >= outlen)	/* room for the NUL */
		return ENAMETOOLONG;

	size_t o = km->prefix_len;

	memcpy(out, km->prefix, km->prefix_len);
	for (size_t i = 0; i < n; i++) {
		memcpy(out + o, comp[i], len[i]);
		o += len[i];
		if (i + 1 < n || trailing_slash)
			out[o++] = '/';
	}
	out[o] = '\0';
	if (keylen)
		*keylen = o;
	return 0;
}

int keymap_key_build(const struct keymap *km, const char *const *comp, const size_t *len,
		     size_t n, bool dir_marker, char *out, size_t outlen, size_t *keylen)
{
	/* n == 0: the root's key is the prefix (its marker), "" for a whole bucket. */
	return keymap_join(km, comp, len, n, n > 0 && dir_marker, out, outlen, keylen);
}

int keymap_dir_prefix(const struct keymap *km, const char *const *comp, const size_t *len,
		      size_t n, char *out, size_t outlen)
{
	return keymap_join(km, comp, len, n, n > 0, out, outlen, NULL);
}

/* ---- metadata ---- */

#define KEYMAP_META_MODE "mode"
#define KEYMAP_META_UID "uid"
#define KEYMAP_META_GID "gid"
#define KEYMAP_META_MTIME "mtime"
#define KEYMAP_META_RDEV "rdev"

/* A plausible st_mode: no bits above S_IFMT|07777, and the type is none or a real one. */
static bool keymap_mode_valid(uint64_t m)
{
	if (m > (S_IFMT | 07777))
		return false;
	switch (m & S_IFMT) {
	case 0:
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFIFO:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFSOCK:
		return true;
	}
	return false;
}

int keymap_meta_encode(const struct keymap_attrs *a, struct s3_meta_pair *pairs, unsigned cap,
		       unsigned *n)
{
	unsigned k = 0;

#define KEYMAP_PUT(nm, ...) \
	do { \
		if (k == cap) \
			return ENOSPC; \
		snprintf(pairs[k].name, sizeof pairs[k].name, "%s", (nm)); \
		snprintf(pairs[k].value, sizeof pairs[k].value, __VA_ARGS__); \
		k++; \
	} while (0)

	*n = 0;
	/* Refuse what keymap_meta_decode would not read back. */
	if (a->has_mtime && a->mtime_nsec >= 1000000000u)
		return EINVAL;
	if (a->has_mode && !keymap_mode_valid(a->mode))
		return EINVAL;
	if (a->has_mode)
		KEYMAP_PUT(KEYMAP_META_MODE, "%" PRIu32, a->mode);
	if (a->has_uid)
		KEYMAP_PUT(KEYMAP_META_UID, "%" PRIu32, a->uid);
	if (a->has_rdev)
		KEYMAP_PUT(KEYMAP_META_RDEV, "%" PRIu64, a->rdev);
	if (a->has_gid)
		KEYMAP_PUT(KEYMAP_META_GID, "%" PRIu32, a->gid);
	if (a->has_mtime) {
		if (a->mtime_nsec == 0) {
			KEYMAP_PUT(KEYMAP_META_MTIME, "%" PRId64, a->mtime_sec);
		} else if (a->mtime_sec >= 0) {
			KEYMAP_PUT(KEYMAP_META_MTIME, "%" PRId64 ".%09" PRIu32, a->mtime_sec,
				   a->mtime_nsec);
		} else {
			/* The string is the value: sec + nsec/1e9 < 0 is written as
			 * -(|sec| - 1).(1e9 - nsec). sec >= INT64_MIN + 1 here, so
			 * -(sec + 1) does not overflow. */
			uint64_t whole = (uint64_t)(-(a->mtime_sec + 1));

			KEYMAP_PUT(KEYMAP_META_MTIME, "-%" PRIu64 ".%09" PRIu32, whole,
				   1000000000u - a->mtime_nsec);
		}
	}
#undef KEYMAP_PUT
	*n = k;
	return 0;
}

/* Trim surrounding blanks (some gateways keep them; s3fs's strtoll skips leading ones). */
static void keymap_trim(const char **s, size_t *len)
{
	while (*len && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

/* Unsigned integer of digits in base (8, 10 or 16), whole string, value <= max. */
static bool keymap_parse_uint(const char *s, size_t len, unsigned base, uint64_t max,
			      uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d;
		char c = s[i];

		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a') + 10;
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A') + 10;
		else
			return false;
		if (d >= base)
			return false;
		if (v > (max - d) / base)
			return false;
		v = v * base + d;
	}
	*out = v;
	return true;
}

static bool keymap_parse_mode(const char *s, size_t len, uint32_t *out)
{
	uint64_t v;

	/* s3fs: strtoll base 0. */
	if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		if (!keymap_parse_uint(s + 2, len - 2, 16, UINT32_MAX, &v) || !keymap_mode_valid(v))
			return false;
	} else if (len > 1 && s[0] == '0') {
		if (!keymap_parse_uint(s + 1, len - 1, 8, UINT32_MAX, &v) || !keymap_mode_valid(v))
			return false;
	} else if (keymap_parse_uint(s, len, 10, UINT32_MAX, &v) && keymap_mode_valid(v)) {
		/* canonical decimal (s3fs, us) */
	} else if (keymap_parse_uint(s, len, 8, UINT32_MAX, &v) && keymap_mode_valid(v) &&
		   (v & S_IFMT) != 0) {
		/* rclone --metadata: "%0o", e.g. "100644"; only with a file type, so
		 * a short ambiguous value ("644") stays decimal-or-nothing. */
	} else {
		return false;
	}
	*out = (uint32_t)v;
	return true;
}

static bool keymap_parse_id(const char *s, size_t len, uint32_t *out)
{
	uint64_t v;

	if (!keymap_parse_uint(s, len, 10, UINT32_MAX, &v))
		return false;
	*out = (uint32_t)v;
	return true;
}

/* "[-]digits[.digits]", value = the decimal number; floor-normalized to sec + nsec. */
static bool keymap_parse_mtime(const char *s, size_t len, int64_t *sec, uint32_t *nsec)
{
	bool neg = false;
	size_t i = 0, int_end;
	uint64_t whole;
	uint32_t frac = 0;

	if (len && s[0] == '-') {
		neg = true;
		i = 1;
	}
	int_end = i;
	while (int_end < len && s[int_end] >= '0' && s[int_end] <= '9')
		int_end++;
	/* "-9223372036854775808" is INT64_MIN, so one more when negative. */
	if (!keymap_parse_uint(s + i, int_end - i, 10, (uint64_t)INT64_MAX + (neg ? 1 : 0), &whole))
		return false;
	if (int_end < len) {
		size_t f = int_end + 1, nd = 0;

		if (s[int_end] != '.' || f == len)
			return false;
		for (size_t j = f; j < len; j++) {
			if (s[j] < '0' || s[j] > '9')
				return false;
			if (nd < 9) {	/* rclone truncates past 9 digits too */
				frac = frac * 10 + (uint32_t)(s[j] - '0');
				nd++;
			}
		}
		for (; nd < 9; nd++)
			frac *= 10;
	}
	if (!neg) {
		*sec = (int64_t)whole;
		*nsec = frac;
	} else if (frac == 0) {
		*sec = whole > INT64_MAX ? INT64_MIN : -(int64_t)whole;
		*nsec = 0;
	} else {
		/* -(w + f) = -(w + 1) + (1 - f): needs w + 1 <= 2^63. */
		if (whole > INT64_MAX)
			return false;
		*sec = -(int64_t)whole - 1;
		*nsec = 1000000000u - frac;
	}
	return true;
}

/* Pair names are lower case per s3.h, but compare without case: S3 servers differ. */
static bool keymap_meta_name_is(const struct s3_meta_pair *p, const char *lit)
{
	size_t l = strlen(lit);

	return strnlen(p->name, sizeof p->name) == l && strncasecmp(p->name, lit, l) == 0;
}

void keymap_meta_decode(const struct s3_meta_pair *pairs, unsigned n, struct keymap_attrs *out,
			const char **bad_field)
{
	bool seen_mode = false, seen_uid = false, seen_gid = false, seen_mtime = false;
	bool seen_rdev = false;
	const char *bad = NULL;

	memset(out, 0, sizeof *out);
	for (unsigned i = 0; i < n; i++) {
		const struct s3_meta_pair *p = &pairs[i];
		const char *v = pairs[i].value;
		size_t vlen = strnlen(v, sizeof p->value);
		bool ok;

		keymap_trim(&v, &vlen);
		/* The first pair of a name decides; duplicates are ignored. */
		if (!seen_mode && keymap_meta_name_is(p, KEYMAP_META_MODE)) {
			seen_mode = true;
			ok = keymap_parse_mode(v, vlen, &out->mode);
			out->has_mode = ok;
			if (!ok && !bad)
				bad = KEYMAP_META_MODE;
		} else if (!seen_uid && keymap_meta_name_is(p, KEYMAP_META_UID)) {
			seen_uid = true;
			ok = keymap_parse_id(v, vlen, &out->uid);
			out->has_uid = ok;
			if (!ok && !bad)
				bad = KEYMAP_META_UID;
		} else if (!seen_gid && keymap_meta_name_is(p, KEYMAP_META_GID)) {
			seen_gid = true;
			ok = keymap_parse_id(v, vlen, &out->gid);
			out->has_gid = ok;
			if (!ok && !bad)
				bad = KEYMAP_META_GID;
		} else if (!seen_mtime && keymap_meta_name_is(p, KEYMAP_META_MTIME)) {
			seen_mtime = true;
			ok = keymap_parse_mtime(v, vlen, &out->mtime_sec, &out->mtime_nsec);
			out->has_mtime = ok;
			if (!ok && !bad)
				bad = KEYMAP_META_MTIME;
		} else if (!seen_rdev && keymap_meta_name_is(p, KEYMAP_META_RDEV)) {
			seen_rdev = true;
			ok = keymap_parse_uint(v, vlen, 10, UINT64_MAX, &out->rdev);
			out->has_rdev = ok;
			if (!ok && !bad)
				bad = KEYMAP_META_RDEV;
		}
	}
	if (!out->has_mode)
		out->mode = 0;
	if (!out->has_uid)
		out->uid = 0;
	if (!out->has_gid)
		out->gid = 0;
	if (!out->has_mtime) {
		out->mtime_sec = 0;
		out->mtime_nsec = 0;
	}
	if (!out->has_rdev)
		out->rdev = 0;
	if (bad_field)
		*bad_field = bad;
}

unsigned keymap_attrs_trust(const struct keymap_trust *t, struct keymap_attrs *a)
{
	unsigned changed = 0;

	if (!t->setid && a->has_mode && (a->mode & (S_ISUID | S_ISGID))) {
		a->mode &= ~(uint32_t)(S_ISUID | S_ISGID);
		changed |= KEYMAP_DISTRUST_SETID;
	}
	if (!t->devices && a->has_mode && (S_ISCHR(a->mode) || S_ISBLK(a->mode))) {
		/* A device node planted in the bucket would open the client's device of
		 * that number wherever the mount allows devices. */
		a->mode = S_IFREG | (a->mode & 07777);
		a->has_rdev = false;
		a->rdev = 0;
		changed |= KEYMAP_DISTRUST_DEVICE;
	}
	if (!t->root_owner && a->has_uid && a->uid == 0) {
		a->uid = t->squash_uid;
		changed |= KEYMAP_DISTRUST_UID;
	}
	if (!t->root_owner && a->has_gid && a->gid == 0) {
		a->gid = t->squash_gid;
		changed |= KEYMAP_DISTRUST_GID;
	}
	return changed;
}

unsigned keymap_meta_import(const struct keymap *km, const struct s3_meta_pair *pairs,
			    unsigned n, struct keymap_attrs *out, const char **bad_field)
{
	keymap_meta_decode(pairs, n, out, bad_field);
	return keymap_attrs_trust(&km->trust, out);
}
