/*
 * keymap.h — S3 keys <-> POSIX paths, and file attributes <-> object user metadata.
 *
 * The export root is bucket + prefix. Mapping rules (doc/SEMANTICS.md is the contract):
 *   - a key  <prefix>a/b/c        is the regular file  /a/b/c
 *   - a key  <prefix>a/b/  (size 0, "directory marker") is the directory /a/b
 *   - a common prefix <prefix>a/  is the directory /a
 *   - the key <prefix> itself (marker of the root) is ignored
 * Keys that cannot be POSIX names are never silently dropped or shadowed: parsing tells
 * why (enum keymap_bad) and the caller raises an event with the exact key.
 *
 * Pure functions over caller memory; no locks, no I/O.
 */
#ifndef S3F_KEYMAP_H
#define S3F_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "s3/s3.h"

#define KEYMAP_NAME_MAX 255	/* bytes per component (NAME_MAX) */
#define KEYMAP_DEPTH_MAX 512	/* components per key (a 1,024-byte key has at most 512) */

/* How far an export trusts the attributes in the user metadata of objects it imports
 * (S3_Setid, S3_Root_Owner, S3_Squash_Uid/Gid): anyone who can write to the bucket writes
 * that metadata, so by default it cannot make a setuid or setgid file, nor a root-owned
 * one. */
struct keymap_trust {
	bool setid;		/* keep S_ISUID and S_ISGID (false: dropped) */
	bool devices;		/* show character and block devices as such (false: as empty
				   regular files of the same permissions) */
	bool root_owner;	/* keep uid 0 and gid 0 (false: squash_uid / squash_gid) */
	uint32_t squash_uid;	/* what uid 0 becomes (KEYMAP_SQUASH_ID) */
	uint32_t squash_gid;	/* what gid 0 becomes (KEYMAP_SQUASH_ID) */
};
#define KEYMAP_SQUASH_ID 65534u	/* nobody / nogroup */

struct keymap {
	char *prefix;		/* "" or ends with '/'; no leading '/' */
	size_t prefix_len;
	struct keymap_trust trust;	/* keymap_init: the safe defaults; the owner of the
					 * keymap sets the export's settings after init */
};

/* Normalize prefix ("a/b", "/a/b/", "a//b" -> "a/b/"; "" or "/" -> ""). EINVAL for a
 * prefix that itself has a bad component ("." / "..") or is over 1,000 bytes. km->trust
 * gets the safe defaults (nothing trusted, squash to KEYMAP_SQUASH_ID) in every case. */
int keymap_init(struct keymap *km, const char *prefix);
void keymap_fini(struct keymap *km);

enum keymap_kind {
	KEYMAP_FILE,		/* an object that is a regular file (or a symlink, see meta) */
	KEYMAP_DIR_MARKER,	/* zero-byte object ending in '/': a directory */
	KEYMAP_ROOT,		/* the key equals the prefix (root marker): nothing to show */
	KEYMAP_OUTSIDE,		/* key not under the prefix */
	KEYMAP_BAD,		/* no POSIX path: see bad */
};

enum keymap_bad {
	KEYMAP_OK = 0,
	KEYMAP_BAD_EMPTY,	/* an empty component: "a//b" or leading '/' after the prefix */
	KEYMAP_BAD_DOT,		/* a component "." */
	KEYMAP_BAD_DOTDOT,	/* a component ".." */
	KEYMAP_BAD_LONG,	/* a component over 255 bytes */
	KEYMAP_BAD_NUL,		/* a NUL byte (cannot be in a POSIX name) */
	KEYMAP_BAD_MARKER_DATA,	/* ends in '/' but has content */
	KEYMAP_BAD_RESERVED,	/* a name reserved by s3files at the root (lost+found) */
	KEYMAP_BAD_COLLISION,	/* object `a` while prefix `a/` also exists: the directory wins.
				 * Never returned by keymap_key_parse (one key cannot tell);
				 * set by the namespace layer at import. */
	KEYMAP_BAD_KEY_LONG,	/* whole key over S3_KEY_MAX bytes (a server that allows it) */
};
/* Stable reason names used in events and logs: "ok", "empty_component", "dot", "dotdot",
 * "name_too_long", "nul_byte", "marker_with_data", "reserved_name", "file_dir_collision",
 * "key_too_long". */
const char *keymap_bad_name(enum keymap_bad b);

/* Components of a key relative to the export root. comp[i] points into the key (not
 * NUL-terminated), len[i] is its length. A directory marker's trailing '/' is not a
 * component. KEYMAP_ROOT and KEYMAP_OUTSIDE have n == 0. For KEYMAP_BAD, comp[0..n) are
 * the components up to and including the offending one (bad_component == n - 1), except
 * for KEYMAP_BAD_KEY_LONG (n == 0, bad_component == 0). The first offending component,
 * left to right, decides; within one component the order is empty, ".", "..", reserved,
 * NUL, too long. A marker with content is only reported when every component is valid. */
struct keymap_parsed {
	enum keymap_kind kind;
	enum keymap_bad bad;
	size_t bad_component;	/* index of the offending component when kind == KEYMAP_BAD */
	size_t n;
	const char *comp[KEYMAP_DEPTH_MAX];
	size_t len[KEYMAP_DEPTH_MAX];
};

/* Parse key (keylen bytes, may contain any byte) of an object of size bytes. The key equal
 * to the prefix is KEYMAP_ROOT when size is 0, KEYMAP_BAD_MARKER_DATA otherwise. */
void keymap_key_parse(const struct keymap *km, const char *key, size_t keylen, uint64_t size,
		      struct keymap_parsed *out);

/* Is name (len bytes) a valid single POSIX component for a file-side create? 0 or
 * EINVAL ("." "..", '/' or NUL inside, empty), ENAMETOOLONG (> 255). */
int keymap_name_check(const char *name, size_t len);

/* Build the key of a path given as components (root first). dir_marker adds the
 * trailing '/'. Writes a NUL-terminated key into out; ENAMETOOLONG if it would exceed
 * S3_KEY_MAX or outlen, or n > KEYMAP_DEPTH_MAX. *keylen (may be NULL) gets the length.
 * Every component must pass keymap_name_check (its error is returned) and comp[0] must
 * not be "lost+found" (EINVAL), so that keymap_key_parse of the result gives back the
 * same components. n == 0 is the root: the key is the prefix itself, whatever dir_marker
 * (the root marker's key; "" for an export of the whole bucket, which has no marker). */
int keymap_key_build(const struct keymap *km, const char *const *comp, const size_t *len,
		     size_t n, bool dir_marker, char *out, size_t outlen, size_t *keylen);

/* Prefix to LIST for the children of a directory given as components ("" for root,
 * with the trailing '/'). Same limits as keymap_key_build. */
int keymap_dir_prefix(const struct keymap *km, const char *const *comp, const size_t *len,
		      size_t n, char *out, size_t outlen);

/*
 * File attributes as object user metadata, one schema readable by s3fs and rclone:
 *   x-amz-meta-mode   decimal st_mode including the file type bits (s3fs)
 *   x-amz-meta-uid    decimal
 *   x-amz-meta-gid    decimal
 *   x-amz-meta-mtime  decimal seconds, with a fractional part of exactly 9 digits when
 *                     nanoseconds != 0; the number is the time (pre-1970 times are
 *                     negative: sec -2 + 0.5 s is "-1.500000000"). rclone reads any
 *                     fraction length; s3fs reads the fraction as a nanosecond count, so
 *                     it must be 9 digits.
 * Decoding also accepts what the peers write or read (keymap.c has the evidence):
 * mode "0..." as octal and "0x..." as hex (s3fs parses with strtoll base 0), mode as
 * unprefixed octal when the decimal reading is not a valid st_mode but the octal one is
 * (rclone --metadata writes "100644"), mtime fractions of 1..n digits (rclone trims
 * trailing zeros; digits past 9 are dropped), surrounding blanks, names in any case.
 * A symlink is an object whose content is the target and whose mode has S_IFLNK (s3fs).
 * Missing or unparsable values leave has_* false (the caller applies defaults); an
 * unparsable value is reported through *bad_field (name of the first one, or NULL).
 */
struct keymap_attrs {
	bool has_mode, has_uid, has_gid, has_mtime, has_rdev;
	uint32_t mode;		/* st_mode incl. S_IFMT bits */
	uint64_t rdev;		/* x-amz-meta-rdev (s3fs): a device's number, Linux dev_t */
	uint32_t uid, gid;
	int64_t mtime_sec;	/* any int64 (floor); callers converting to ns must clamp */
	uint32_t mtime_nsec;	/* 0 .. 999,999,999 */
};

/* Write up to 5 pairs (only the has_* fields) into pairs[] (capacity cap); *n gets the
 * count. ENOSPC if cap is too small; EINVAL if mtime_nsec >= 1e9 or mode is not a valid
 * st_mode (bits outside S_IFMT|07777, unknown file type): what decode would reject. */
int keymap_meta_encode(const struct keymap_attrs *a, struct s3_meta_pair *pairs, unsigned cap,
		       unsigned *n);
void keymap_meta_decode(const struct s3_meta_pair *pairs, unsigned n, struct keymap_attrs *out,
			const char **bad_field);

/* Apply an export's trust to attributes decoded from an object's metadata: without
 * t->setid, S_ISUID and S_ISGID are cleared from a->mode (S_ISVTX stays: it only restricts);
 * without t->root_owner, a->uid 0 becomes t->squash_uid and a->gid 0 t->squash_gid. Only
 * has_* fields are looked at. Returns what was changed (KEYMAP_DISTRUST_* bits), for the
 * caller's log line. Attributes set through the file view never pass through here: the
 * file's owner or root set them, under the permission checks. */
#define KEYMAP_DISTRUST_SETID 0x1u
#define KEYMAP_DISTRUST_UID   0x2u
#define KEYMAP_DISTRUST_GID   0x4u
#define KEYMAP_DISTRUST_DEVICE 0x8u	/* a device type turned into a regular file */
unsigned keymap_attrs_trust(const struct keymap_trust *t, struct keymap_attrs *a);

/* keymap_meta_decode, then keymap_attrs_trust with km->trust: what every import of an
 * object's attributes into the file view calls. Returns the KEYMAP_DISTRUST_* bits. */
unsigned keymap_meta_import(const struct keymap *km, const struct s3_meta_pair *pairs,
			    unsigned n, struct keymap_attrs *out, const char **bad_field);

#endif
