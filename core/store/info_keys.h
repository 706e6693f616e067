/*
 * info_keys.h — the names of the metadata store's info table (meta.h, "small named
 * values"), every one in one place: the table is shared by every process and every
 * version of a store, so a name must mean one thing for the store's whole life. A new
 * value gets its name here, with its owner and its format.
 *
 * Owners: core/store/meta.c keeps the store's own counters; core/ns keeps everything
 * else (the namespace is the only writer of the store outside meta.c). Values are in host
 * byte order unless said otherwise: the store is local to one machine.
 */
#ifndef S3F_INFO_KEYS_H
#define S3F_INFO_KEYS_H

/* ---- core/store/meta.c ---- */
#define META_INFO_SCHEMA     "schema"		/* uint32: schema version of the tables */
#define META_INFO_NEXT_INO   "next_ino"		/* uint64: next inode number to hand out
						   (also read by core/engine/fsck.c) */
#define META_INFO_GEN        "gen"		/* uint32: generation of the store's inodes */
#define META_INFO_CHANGE_SEQ "change_seq"	/* uint64: last sequence of the change feed */
#define META_INFO_DIRJOB_SEQ "dirjob_seq"	/* uint64: next directory job id */

/* ---- core/ns ---- */
#define META_INFO_BINDING    "binding"		/* "s3://bucket/prefix" the store belongs to
						   (ns_store_bind) */
#define META_INFO_STORE_ID   "store_id"		/* 8 random bytes naming the store in upload
						   tokens (ns_token_new) */
#define META_INFO_CONFLICTS  "conflicts"	/* uint64: conflicts over the store's life */
#define META_INFO_EVICT_WANTED "evict_wanted"	/* int64 when (ns), uint64 bytes: the FSAL's
						   last request for room */
#define META_INFO_EVICT_FREED "evict_freed"	/* uint64: bytes evicted, cumulative */
#define META_INFO_READ_STATS "read_stats"	/* little-endian uint64 per field of
						   struct ns_read_stats, in its order */
#define META_INFO_UPLOADS    "uploads"		/* the daemon's multipart uploads not seen to
						   end (ns_uploads.c has the format) */
#define META_INFO_LISTING_AT "listing_at"	/* int64 (meta_now_ns): when a first listing
						   last put a page in (ns_import_cursor_put) */
/* Per-directory or per-event names: the prefix, '/', a decimal number. */
#define META_INFO_IMPORT_CURSOR "import_cursor"	/* /<dir ino>: where an interrupted first
						   listing of dir resumes (core/engine/import.c
						   has the format) */
#define META_INFO_WARNED_DIR "warned_dir"	/* /<dir ino>: "large directory" journaled */
#define META_INFO_WARNED_VIEW "warned_view"	/* /0: "large file view" journaled */

#endif
