/*
 * hydrate.h — make byte ranges of a file local by fetching them from S3.
 *
 * A file imported without data (large files) or invalidated by an S3 change is fetched
 * on demand, in aligned chunks, with GETs conditional on the ETag the inode is based on:
 * bytes of another version are never recorded as present. Fetched bytes are made
 * durable (fdatasync) before the metadata says they are local.
 *
 * Concurrent hydration of the same range by two threads or processes is harmless (both
 * write the same bytes of the same version). Holds no transaction across S3 calls.
 */
#ifndef S3F_HYDRATE_H
#define S3F_HYDRATE_H

#include <stdint.h>

#include "export_ctx.h"

#define HYDRATE_CHUNK (1024 * 1024)	/* fetch granularity */
#define HYDRATE_PARALLEL_MIN (8 * 1024 * 1024)	/* ranges this large use parallel GETs */

struct hydrate_stats {
	uint64_t fetched_bytes;
	uint64_t requests;
};

/*
 * Make [off, off+len) of ino local (clipped to the file size). fd, if >= 0, is an open
 * data-tier fd of ino to write into (else one is opened). *in (may be NULL) gets the
 * inode after the fetch. S3F_E_S3_PRECOND if the object changed in S3 meanwhile (the
 * caller may retry after the change is imported). The bytes come from the object the
 * file is based on (ns_data_source: for a renamed file, its old key until the daemon has
 * moved it); EIO if that source was lost.
 */
int hydrate_range(struct export_ctx *x, uint64_t ino, int fd, uint64_t off, uint64_t len,
		  struct meta_inode *in, struct hydrate_stats *st);

/*
 * The target of symlink ino (into buf, cap bytes, NUL-terminated; *len its length): from
 * the store, or for a symlink imported from S3 (an object with S_IFLNK in its mode, as
 * s3fs writes them, whose content is the target) fetched once with a GET pinned to its
 * ETag and recorded (ns_symlink_fetched). EINVAL if ino is not a symlink, ENAMETOOLONG
 * for a target of 4,096 bytes or more, S3F_E_S3_PRECOND if the object changed meanwhile.
 */
int hydrate_symlink(struct export_ctx *x, uint64_t ino, char *buf, size_t cap, size_t *len);

#endif
