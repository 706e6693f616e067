/*
 * readahead.h — read bypass: large sequential reads served straight from S3.
 *
 * A reader that reads a large file (size >= threshold) sequentially gets a *stream*: a
 * window of `depth` chunks of `chunk` bytes, fetched by ranged GETs in parallel into
 * memory ahead of the reader and copied from there into the caller's buffers. Nothing is
 * written to the data tier and nothing is recorded as present, so the stage does not fill
 * up with data nobody asked to keep. Everything else — small files, random reads, reads
 * behind a stream's window, files whose requested bytes are all local — is left to the
 * caller's ordinary path (hydrate.h, then the data tier): readahead_read says so with
 * served == false.
 *
 * Which bytes come from where. Every read looks at the file's present ranges under the
 * data file's shared lock, like any reader of the tier: bytes that are local (written
 * through the mount — dirty or not —, or fetched earlier) are read from the tier; only
 * bytes absent locally are copied from the window. A dirty file's unsynced bytes are
 * therefore never replaced by S3's.
 *
 * Versions. A stream is pinned to the object its inode is based on when it starts
 * (ns_data_source: key and ETag — for a renamed file its old key until the daemon moved
 * it), and every GET carries If-Match with that ETag. When the object changes in S3 — a
 * GET fails its condition, or an import already shows another ETag at the same key for a
 * file that is clean and was clean all along the stream — the stream is *aborted*: that
 * read and every later read of the same reader on that file fail with EIO, until the
 * reader releases it (readahead_release: the FSAL does so on NFS CLOSE) or it has been idle
 * for idle_ms. A reader thus never gets bytes of two versions of the object from one
 * stream, and does not drift into the new version after an error either (a retried read
 * fails the same way). An ETag change of a file the stream saw dirty (the new object is
 * this gateway's own upload of it) and a move to another key with the same ETag (rename)
 * are not changes of content: the stream ends quietly and a new one may start.
 *
 * Detection. Streams are per (inode, owner); owner is an opaque pointer naming the reader
 * (the FSAL passes the NFSv4 client behind the READ's stateid — open, lock or
 * delegation, which one client switches between mid-read —; NULL for stateless reads:
 * those share one stream per file). A reader becomes a stream once it read seq_bytes in one cluster of reads, each
 * less than `reorder` bytes from the next (a few clusters are kept per reader): parallel
 * READs arriving out of order count, scattered reads never add up (gaps do not count).
 * An active stream serves reads from its
 * window's first chunk up to one chunk past its end. The window follows the furthest
 * byte read so far, keeping `reorder` bytes behind it for READs that arrive late, and
 * reaching depth chunks in all.
 *
 * Deep readers. A client with many READs in flight sends them in order but they arrive
 * (and are answered) out of order, over a span wider than the window. A read behind the
 * window but within depth_max chunks of the furthest read widens the window back to it
 * (it keeps that many bytes behind from then on) and is served; a read ahead of the window
 * but within depth_max chunks of the furthest read widens it forward (or, when it cannot
 * widen, the window slides forward to the read). A window never shrinks until its stream
 * ends. A read further ahead than that ends the stream (a jump: detection starts over); one
 * further behind is left to the caller. The window fetches only `depth - reorder chunks`
 * past the chunk of the furthest read, however wide it is: its width holds chunks behind,
 * and it does not slide past a chunk whose bytes the reader has not all had (counting the
 * local ones) while it can still widen instead, so that each chunk is fetched once even
 * when the last READs of a chunk arrive many chunks late.
 *
 * Memory. At most max_streams streams hold a window at once, and their windows hold at
 * most max_streams x depth chunks in all (defaults: 8 x 4 x 8 MiB = 256 MiB); a window
 * widens only while that leaves room for one more window of depth chunks, and to
 * depth_max chunks at most (default 16: 128 MiB). While no window can start, further
 * sequential readers use the ordinary path. Up to max_tracked readers are tracked for detection (about
 * 1.3 KiB each). readahead_tick frees streams unused for idle_ms; readahead_release frees a
 * reader's at once.
 *
 * Threads. Every function may be called from any thread (readahead_close last, alone).
 * One mutex guards the table and every stream's window; it is never held across an S3
 * wait, an LMDB transaction, tier I/O or a copy into the caller's buffers (chunks are
 * reference-counted while copied out, and one reader waits for a chunk's GET while the
 * others wait on a condition variable).
 *
 * Shared fetches. Readers of the same object (same inode, key and ETag) share what their
 * windows fetched: a stream that needs a chunk another stream's window holds or is
 * fetching copies it from there (holding a reference on that chunk and on that stream
 * while it copies, so neither is reused nor freed under it) and does not fetch it itself;
 * a window's prefetch skips chunks a peer has. Readers in step fetch an object once.
 */
#ifndef S3F_READAHEAD_H
#define S3F_READAHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "engine/export_ctx.h"

#define READAHEAD_CHUNK (8ull << 20)	/* bytes per GET */
#define READAHEAD_DEPTH 4		/* chunks per window */
#define READAHEAD_STREAMS 8		/* windows at once */
#define READAHEAD_TRACKED 256		/* readers tracked for detection */
#define READAHEAD_SEQ_BYTES (2ull << 20)	/* contiguous bytes read that make a stream */
#define READAHEAD_IDLE_MS 30000		/* unused streams are freed after this */
#define READAHEAD_WIDEN 4		/* default depth_max: this many times depth */
#define READAHEAD_DEPTH_MAX 64		/* chunks per window, at the most */

struct readahead;

/* Zero fields take the defaults above (threshold 0 means: never bypass). */
struct readahead_opts {
	uint64_t threshold;	/* files of at least this size may stream; 0: never */
	uint64_t chunk;
	unsigned depth;
	unsigned max_streams;
	unsigned max_tracked;
	uint64_t seq_bytes;
	uint64_t reorder;	/* default: one chunk; at most depth - 1 chunks */
	unsigned idle_ms;
	unsigned depth_max;	/* a window may widen to this many chunks (default
				   READAHEAD_WIDEN x depth, at most READAHEAD_DEPTH_MAX) */
};

/* Open the read bypass of an export. x is borrowed (ns, data tier and S3 client are used)
 * and must outlive the result. Without an S3 client the bypass is off. 0 or ENOMEM. */
int readahead_open(struct export_ctx *x, const struct readahead_opts *opts,
		   struct readahead **out);
/* Free every stream (waiting for their GETs) after a final readahead_flush. No read may
 * be in progress. NULL is fine. */
void readahead_close(struct readahead *ra);

struct readahead_result {
	bool served;	/* the read was served here; false: the caller reads the usual way */
	size_t got;	/* bytes placed into the buffers, from off */
	bool eof;	/* the read reached the end of the file */
};

/*
 * A read of file `in` (the caller's current inode: type, size and data state decide
 * whether it may stream) at off into the iovs, by reader `owner`. Returns 0 with
 * res->served true (res->got bytes placed; a short count only at end of file) or false
 * (nothing placed: the caller serves the read itself). Errors: EIO when this reader's
 * stream of the file was aborted (the object changed in S3); the S3 client's errors of a
 * GET the read waited for (e.g. S3F_E_S3_NET after its retries; the next read fetches
 * again); ENOMEM; errors of the metadata store and the data tier.
 */
int readahead_read(struct readahead *ra, const struct meta_inode *in, const void *owner,
		   uint64_t off, const struct iovec *iov, int iovcnt, struct readahead_result *res);

/* The caller served `bytes` of a read from the data tier itself (for the statistics). */
void readahead_count_tier(struct readahead *ra, uint64_t bytes);

/* The reader is done with the file (NFS CLOSE): free its stream of ino, or forget that it
 * was aborted. */
void readahead_release(struct readahead *ra, uint64_t ino, const void *owner);

/* Housekeeping, every 100 ms or so from one thread: frees streams idle for idle_ms and,
 * once a second, adds the counters to the metadata store (readahead_flush). */
void readahead_tick(struct readahead *ra);
/* Add the counters gathered since the last flush to the store (ns_read_stats_add). */
int readahead_flush(struct readahead *ra);

struct readahead_stats {
	/* since open */
	uint64_t bypass_bytes;	/* read bytes copied from windows (fetched from S3, not staged) */
	uint64_t tier_bytes;	/* read bytes from the data tier: the local bytes of stream reads
				   plus readahead_count_tier */
	uint64_t fetched_bytes;	/* bytes GET into windows */
	uint64_t streams;	/* streams started */
	uint64_t aborted;	/* streams aborted because the object changed in S3 */
	uint64_t refused;	/* sequential readers sent the usual way: all windows taken */
	uint64_t widened;	/* windows widened for a deep reader */
	/* now */
	uint64_t active;	/* streams holding a window */
	uint64_t mem_bytes;	/* chunk memory allocated */
	uint64_t tracked;	/* readers tracked */
};
void readahead_stats_get(struct readahead *ra, struct readahead_stats *out);

#endif
