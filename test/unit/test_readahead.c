/*
 * test_readahead.c — the read bypass (core/engine/readahead.c) against the real RGW
 * ($RGW_TEST_DIR/env), with a real metadata store, data tier and S3 client, and the
 * client's fault injector. Reads go through fsal_read(), which does what the FSAL's read2
 * does: readahead_read first, and when it declines, hydrate_range + the data tier.
 *
 * Small geometry so that the windows are visible: chunks of 256 KiB, windows of 3 chunks,
 * reads of 64 KiB (split over two iovecs of uneven size), streams after 192 KiB read.
 */
#include "check.h"
#include "store/data.h"
#include "base/err.h"
#include "base/tp.h"
#include "engine/export_ctx.h"
#include "engine/fio.h"
#include "engine/hydrate.h"
#include "store/meta.h"
#include "ns/ns_sync.h"
#include "engine/readahead.h"
#include "s3/s3.h"
#include "s3/s3_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHUNK (256u << 10)
#define DEPTH 3u
#define RD (64u << 10)
#define SEQ (3 * RD)		/* contiguous bytes read that make a stream */

static struct check_rgw rgw;
static char prefix[128];
static struct s3_client *C;

/* GETs seen by the client (observer, on the I/O thread) */
static atomic_ullong get_bytes, get_calls;

static void observer(void *arg, const struct s3_call_stats *st)
{
	(void)arg;
	if (st->op == S3_OP_GET) {
		atomic_fetch_add(&get_calls, 1);
		atomic_fetch_add(&get_bytes, st->bytes_received);
	}
}

/* ---- fixture: one export's store, tier and bypass over the shared client ---- */

struct fx {
	char kpfx[256];			/* key prefix of the case */
	struct meta_env *me;
	struct keymap km;
	struct ns *ns;
	struct data_tier *dt;
	struct export_ctx x;
	struct readahead *ra;
};

static void fx_open(struct fx *f, const char *name, const struct readahead_opts *o)
{
	struct meta_opts mo = { .nosync = true };
	char dir[4200];
	struct readahead_opts def = { .threshold = 1 << 20, .chunk = CHUNK, .depth = DEPTH,
				      .seq_bytes = SEQ };

	memset(f, 0, sizeof *f);
	snprintf(f->kpfx, sizeof f->kpfx, "%s%s/", prefix, name);
	snprintf(dir, sizeof dir, "%s/meta", check_tmpdir());
	CHECK_OK(meta_env_open(dir, &mo, &f->me));
	CHECK_OK(keymap_init(&f->km, f->kpfx));
	CHECK_OK(ns_open(f->me, &f->km, NULL, NULL, &f->ns));
	snprintf(dir, sizeof dir, "%s/data", check_tmpdir());
	CHECK_OK(data_tier_open(dir, NULL, &f->dt));
	f->x.data = f->dt;
	f->x.s3 = C;
	f->x.ns = f->ns;
	CHECK_OK(readahead_open(&f->x, o ? o : &def, &f->ra));
}

static void fx_close(struct fx *f)
{
	readahead_close(f->ra);
	data_tier_close(f->dt);
	ns_close(f->ns);
	keymap_fini(&f->km);
	meta_env_close(f->me);
}

static char *fx_key(struct fx *f, const char *name)
{
	static char bufs[4][512];
	static int i;
	char *b = bufs[i++ & 3];

	snprintf(b, sizeof bufs[0], "%s%s", f->kpfx, name);
	return b;
}

/* PUT data as object `name`; its ETag into etag. */
static void put(struct fx *f, const char *name, const char *data, size_t size,
		char etag[S3_ETAG_MAX])
{
	struct s3_object_info info;

	CHECK_OK(s3_object_put_buf(C, fx_key(f, name), data, size, NULL, &info));
	snprintf(etag, S3_ETAG_MAX, "%s", info.etag);
}

/* Import object `name` into the root as the daemon's listing would: a file with no local
 * data. Returns its inode (also when it replaces an older version). */
static uint64_t import(struct fx *f, const char *name, uint64_t size, const char *etag)
{
	struct ns_import_entry e = { .name = name, .len = strlen(name), .size = size,
				     .mtime_s = 1700000000, .etag = etag };
	enum ns_import_result r;
	uint64_t ino = 0;

	CHECK_OK(ns_import_apply(f->ns, META_ROOT_INO, &e, 1, meta_now_ns(), &r, &ino));
	return ino;
}

static uint64_t object(struct fx *f, const char *name, const char *data, size_t size)
{
	char etag[S3_ETAG_MAX];

	put(f, name, data, size, etag);
	return import(f, name, size, etag);
}

/* A write through the mount, as write2 does it (fio_write). */
static void local_write(struct fx *f, uint64_t ino, uint64_t off, const char *data, size_t len)
{
	struct iovec iov = { (void *)data, len };
	struct fio_write w = { .off = off, .iov = &iov, .iovcnt = 1 };
	size_t written;

	CHECK_OK(fio_write(&f->x, ino, &w, &written, NULL));
	CHECK_U64_EQ(written, len);
}

/* A read as the FSAL's read2 does it. *served (may be NULL): the bypass served it. */
static int fsal_read(struct fx *f, uint64_t ino, const void *owner, uint64_t off, size_t len,
		     char *buf, bool *served)
{
	struct meta_inode in;
	struct readahead_result rr;
	struct iovec iov[2] = { { buf, len / 3 }, { buf + len / 3, len - len / 3 } };
	uint64_t end;
	size_t got = 0;
	bool eof;
	int rc;

	if (served)
		*served = false;
	rc = ns_getattr(f->ns, ino, &in);
	if (rc)
		return rc;
	if (off >= in.size)
		return 0;
	end = off + len > in.size ? in.size : off + len;
	rc = readahead_read(f->ra, &in, owner, off, iov, 2, &rr);
	if (rc)
		return rc;
	if (rr.served) {
		if (served)
			*served = true;
		CHECK_U64_EQ(rr.got, end - off);
		CHECK(rr.eof == (end == in.size));
		return 0;
	}
	rc = fio_read(&f->x, ino, off, iov, 2, &got, &eof);
	if (rc == 0) {
		CHECK_U64_EQ(got, end - off);
		readahead_count_tier(f->ra, got);
	}
	return rc;
}

static uint64_t tier_allocated(struct fx *f, uint64_t ino)
{
	uint64_t bytes = 0;
	int fd;

	if (data_file_open(f->dt, ino, 0, &fd) != 0)
		return 0;
	CHECK_OK(data_file_allocated(fd, &bytes));
	data_file_close(f->dt, fd);
	return bytes;
}

static struct readahead_stats stats(struct fx *f)
{
	struct readahead_stats st;

	readahead_stats_get(f->ra, &st);
	return st;
}

/* Read [0, upto) sequentially as `owner`, checking the bytes. The first reads are staged
 * (a stream needs SEQ bytes read, and hydration fetches HYDRATE_CHUNK at a time), so a
 * stream exists once upto is past HYDRATE_CHUNK. */
#define WARM (HYDRATE_CHUNK + 2 * CHUNK)
static void warm(struct fx *f, uint64_t ino, const void *owner, const char *data, uint64_t upto)
{
	char *got = malloc(RD);

	CHECK(got != NULL);
	for (uint64_t off = 0; off < upto; off += RD) {
		CHECK_OK(fsal_read(f, ino, owner, off, RD, got, NULL));
		CHECK_MSG(memcmp(got, data + off, RD) == 0, "bytes at %llu differ",
			  (unsigned long long)off);
	}
	free(got);
}

/* ---- cases ---- */

/* A sequential reader is served from the window once it read SEQ bytes; everything it
 * reads is exact; only the reads before that were staged; what was fetched ahead stays
 * within the window at every step. */
static void test_sequential_bypass(void)
{
	const size_t size = 24 * CHUNK + 1000;
	char *data = malloc(size), *got = malloc(RD);
	struct fx f;
	uint64_t ino, served_bytes = 0, g0;
	unsigned not_served = 0;
	struct rangeset have = RANGESET_INIT;
	struct meta_inode in;
	int owner;

	CHECK(data && got);
	check_fill(data, size, 1);
	fx_open(&f, "seq", NULL);
	ino = object(&f, "big", data, size);
	g0 = atomic_load(&get_bytes);
	for (uint64_t off = 0; off < size; off += RD) {
		size_t n = size - off < RD ? size - off : RD;
		bool served;

		CHECK_OK(fsal_read(&f, ino, &owner, off, RD, got, &served));
		CHECK_MSG(memcmp(got, data + off, n) == 0, "bytes at %llu differ",
			  (unsigned long long)off);
		if (served)
			served_bytes += n;
		else
			not_served++;
		/* the window: never more fetched than read + depth chunks (+ the staged start) */
		CHECK_MSG(atomic_load(&get_bytes) - g0 <= off + n + DEPTH * CHUNK + HYDRATE_CHUNK,
			  "fetched %llu bytes having read %llu",
			  (unsigned long long)(atomic_load(&get_bytes) - g0),
			  (unsigned long long)(off + n));
		CHECK(stats(&f).mem_bytes <= DEPTH * CHUNK);
	}
	struct readahead_stats st = stats(&f);
	/* the first two reads hydrated HYDRATE_CHUNK, read from the tier; the rest streamed */
	CHECK_INT_EQ(not_served, HYDRATE_CHUNK / RD);
	CHECK_U64_EQ(served_bytes, size - HYDRATE_CHUNK);
	CHECK_U64_EQ(st.bypass_bytes, served_bytes);
	CHECK_U64_EQ(st.tier_bytes, HYDRATE_CHUNK);
	CHECK_U64_EQ(st.streams, 1);
	CHECK_U64_EQ(st.active, 1);
	CHECK(st.fetched_bytes >= size - HYDRATE_CHUNK && st.fetched_bytes <= size);
	/* the stage holds only what the first reads hydrated, and says so */
	CHECK(tier_allocated(&f, ino) <= HYDRATE_CHUNK + 65536);
	CHECK_OK(ns_data_present(f.ns, ino, &have, &in));
	CHECK(rangeset_bytes(&have) <= HYDRATE_CHUNK);
	CHECK_INT_EQ(in.data, META_D_PARTIAL);
	/* release frees the window */
	readahead_release(f.ra, ino, &owner);
	st = stats(&f);
	CHECK_U64_EQ(st.active, 0);
	CHECK_U64_EQ(st.mem_bytes, 0);
	rangeset_free(&have);
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "big")));
	free(data);
	free(got);
}

/* READs of one sequential reader arriving out of order (as parallel READs do: here in
 * groups of eight, each group shuffled) are a stream all the same, served exactly. */
static void test_reordered_reads(void)
{
	static const unsigned order[8] = { 3, 1, 0, 2, 7, 5, 4, 6 };
	const size_t size = 32 * CHUNK;
	char *data = malloc(size), *got = malloc(RD);
	struct fx f;
	uint64_t ino, served = 0;
	int owner;

	CHECK(data && got);
	check_fill(data, size, 18);
	fx_open(&f, "reord", NULL);
	ino = object(&f, "big", data, size);
	for (uint64_t g = 0; g < size / (8 * RD); g++) {
		for (unsigned k = 0; k < 8; k++) {
			uint64_t off = (g * 8 + order[k]) * RD;
			bool s;

			CHECK_OK(fsal_read(&f, ino, &owner, off, RD, got, &s));
			CHECK_MSG(memcmp(got, data + off, RD) == 0, "bytes at %llu differ",
				  (unsigned long long)off);
			served += s ? RD : 0;
		}
	}
	CHECK_U64_EQ(stats(&f).streams, 1);
	CHECK_U64_EQ(served, size - HYDRATE_CHUNK);
	CHECK(tier_allocated(&f, ino) <= HYDRATE_CHUNK + 65536);
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "big")));
	free(data);
	free(got);
}

/* A deep client: Q READs in flight, served in random order (each completion lets the
 * client send the next READ), so that reads arrive up to Q x RD ahead of and far behind
 * the furthest one read. The stream widens its window (within depth_max and the memory
 * bound) instead of taking the reads ahead for jumps and the late ones for re-reads: one
 * stream serves nearly all of it, every byte is exact, and every chunk is fetched once.
 * Fails when a read ahead of a fixed window ends the stream, or when the window slides
 * past a chunk whose late READs are still coming (they fetch it again). */
static void test_deep_client(void)
{
	enum { Q = 32 };
	const size_t size = 96 * CHUNK;
	struct readahead_opts o = { .threshold = 1 << 20, .chunk = CHUNK, .depth = DEPTH,
				    .seq_bytes = SEQ, .depth_max = 32, .max_streams = 16 };
	char *data = malloc(size), *got = malloc(RD);
	uint64_t ino, out[Q], next = WARM, served = 0, total = 0, x = 88172645463325252ull;
	unsigned n = 0;
	struct readahead_stats st;
	struct fx f;
	int owner;

	CHECK(data && got);
	check_fill(data, size, 19);
	fx_open(&f, "deep", &o);
	ino = object(&f, "big", data, size);
	warm(&f, ino, &owner, data, WARM);
	CHECK_U64_EQ(stats(&f).active, 1);
	while (n < Q && next < size) {
		out[n++] = next;
		next += RD;
	}
	while (n > 0) {
		unsigned k;
		uint64_t off;
		bool s;

		k = (unsigned)(check_rand(&x) % n);
		off = out[k];
		CHECK_OK(fsal_read(&f, ino, &owner, off, RD, got, &s));
		CHECK_MSG(memcmp(got, data + off, RD) == 0, "bytes at %llu differ",
			  (unsigned long long)off);
		served += s ? RD : 0;
		total += RD;
		CHECK(stats(&f).mem_bytes <= o.depth_max * (uint64_t)CHUNK);
		if (next < size) {
			out[k] = next;
			next += RD;
		} else {
			out[k] = out[--n];
		}
	}
	st = stats(&f);
	printf("# deep client, %d in flight: %llu of %llu bytes from the window, %llu fetched, "
	       "%llu stream(s), widened %llu time(s)\n", Q, (unsigned long long)served,
	       (unsigned long long)total, (unsigned long long)st.fetched_bytes,
	       (unsigned long long)st.streams, (unsigned long long)st.widened);
	CHECK_U64_EQ(total, size - WARM);
	CHECK_U64_EQ(st.streams, 1);
	CHECK(st.widened > 0);
	CHECK_MSG(served >= total - total / 10, "served %llu of %llu bytes from the window",
		  (unsigned long long)served, (unsigned long long)total);
	/* No chunk is fetched twice: the window keeps a chunk until its READs have all come
	 * (the whole chunks the warm-up staged are local and never fetched). */
	CHECK_MSG(st.fetched_bytes <= size - HYDRATE_CHUNK / CHUNK * CHUNK,
		  "fetched %llu bytes for %llu not local: chunks fetched again",
		  (unsigned long long)st.fetched_bytes,
		  (unsigned long long)(size - HYDRATE_CHUNK / CHUNK * CHUNK));
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "big")));
	free(data);
	free(got);
}

/* Two readers (two opens) of one object reading it at once, in step: the second copies
 * what the first's window fetched (and the other way round) instead of fetching it
 * again, so the object is fetched about once, not twice; both are served from windows,
 * every byte exact. Fails when each reader fetches for itself. */
static void test_shared_readers(void)
{
	const size_t size = 32 * CHUNK;
	char *data = malloc(size), *got = malloc(RD);
	uint64_t ino, served[2] = { 0, 0 }, fetched, g0;
	struct fx f;
	int oa, ob;

	CHECK(data && got);
	check_fill(data, size, 23);
	fx_open(&f, "shr", NULL);
	ino = object(&f, "big", data, size);
	warm(&f, ino, &oa, data, WARM);
	warm(&f, ino, &ob, data, WARM);
	g0 = stats(&f).fetched_bytes;
	for (uint64_t off = WARM; off < size; off += RD) {
		for (int k = 0; k < 2; k++) {
			bool s;

			CHECK_OK(fsal_read(&f, ino, k ? (const void *)&ob : (const void *)&oa, off,
					   RD, got, &s));
			CHECK_MSG(memcmp(got, data + off, RD) == 0, "reader %d: bytes at %llu differ",
				  k, (unsigned long long)off);
			served[k] += s ? RD : 0;
		}
	}
	fetched = stats(&f).fetched_bytes - g0;
	printf("# two readers in step: %llu and %llu bytes from windows, %llu fetched for %llu "
	       "read by each\n", (unsigned long long)served[0], (unsigned long long)served[1],
	       (unsigned long long)fetched, (unsigned long long)(size - WARM));
	CHECK(served[0] >= (size - WARM) * 9 / 10 && served[1] >= (size - WARM) * 9 / 10);
	CHECK_MSG(fetched <= size - WARM + CHUNK,
		  "fetched %llu bytes for one object read twice: the readers did not share",
		  (unsigned long long)fetched);
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "big")));
	free(data);
	free(got);
}

/* A reader copying out of a peer's chunk keeps the peer's stream: the peer's reader
 * closing the file (readahead_release) right then, while the copy has not begun, frees
 * nothing under it. Fails (AddressSanitizer: use after free) when a borrowed chunk does
 * not hold its stream. */
struct release_arg {
	struct fx *f;
	uint64_t ino;
	const void *owner;
	bool done;
};

static void release_peer(const char *name, void *arg)
{
	struct release_arg *r = arg;

	(void)name;
	if (r->done)
		return;
	r->done = true;
	readahead_release(r->f->ra, r->ino, r->owner);
}

static void test_shared_release_mid_copy(void)
{
	const size_t size = 16 * CHUNK;
	char *data = malloc(size), *got = malloc(RD);
	struct release_arg r = { 0 };
	uint64_t ino, g0;
	struct fx f;
	int oa, ob;
	bool s;

	CHECK(data && got);
	check_fill(data, size, 29);
	fx_open(&f, "shrel", NULL);
	ino = object(&f, "big", data, size);
	warm(&f, ino, &oa, data, WARM);
	warm(&f, ino, &ob, data, WARM);
	CHECK_OK(fsal_read(&f, ino, &oa, WARM, RD, got, &s));
	CHECK(s && memcmp(got, data + WARM, RD) == 0);
	g0 = stats(&f).fetched_bytes;
	r = (struct release_arg){ .f = &f, .ino = ino, .owner = &oa };
	CHECK_OK(tp_set("readahead.copy", release_peer, &r));
	CHECK_OK(fsal_read(&f, ino, &ob, WARM, RD, got, &s));
	tp_clear();
	CHECK(r.done);
	CHECK(s);
	CHECK_MSG(memcmp(got, data + WARM, RD) == 0, "the borrowed chunk's bytes differ");
	CHECK_U64_EQ(stats(&f).fetched_bytes, g0);	/* it was the peer's chunk */
	/* the reader goes on alone, fetching for itself */
	for (uint64_t off = WARM + RD; off < size; off += RD) {
		CHECK_OK(fsal_read(&f, ino, &ob, off, RD, got, NULL));
		CHECK_MSG(memcmp(got, data + off, RD) == 0, "bytes at %llu differ",
			  (unsigned long long)off);
	}
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "big")));
	free(data);
	free(got);
}

/* Random small reads never make a stream: they are staged as before, and exact. */
static void test_random_reads_hydrate(void)
{
	const size_t size = 32 * CHUNK;
	char *data = malloc(size), got[4096];
	struct fx f;
	uint64_t ino, x = 12345;
	int owner;

	CHECK(data != NULL);
	check_fill(data, size, 2);
	fx_open(&f, "rnd", NULL);
	ino = object(&f, "big", data, size);
	for (int i = 0; i < 40; i++) {
		uint64_t off;
		bool served;

		x = x * 6364136223846793005ull + 1442695040888963407ull;
		off = (x >> 20) % (size - sizeof got);
		CHECK_OK(fsal_read(&f, ino, &owner, off, sizeof got, got, &served));
		CHECK(!served);
		CHECK_MEM_EQ(got, data + off, sizeof got);
	}
	CHECK_U64_EQ(stats(&f).streams, 0);
	CHECK_U64_EQ(stats(&f).bypass_bytes, 0);
	CHECK_U64_EQ(stats(&f).mem_bytes, 0);
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "big")));
	free(data);
}

/* Small files and a threshold of 0 never stream. */
static void test_threshold(void)
{
	const size_t size = 8 * CHUNK;
	char *data = malloc(size), *got = malloc(RD);
	struct readahead_opts never = { .threshold = 0, .chunk = CHUNK, .depth = DEPTH,
					.seq_bytes = SEQ };
	struct readahead_opts big = { .threshold = size + 1, .chunk = CHUNK, .depth = DEPTH,
				      .seq_bytes = SEQ };
	const struct readahead_opts *opts[2] = { &never, &big };
	int owner;

	CHECK(data && got);
	check_fill(data, size, 3);
	for (int k = 0; k < 2; k++) {
		struct fx f;
		uint64_t ino;

		fx_open(&f, k ? "thr1" : "thr0", opts[k]);
		ino = object(&f, "f", data, size);
		for (uint64_t off = 0; off < size; off += RD) {
			bool served;

			CHECK_OK(fsal_read(&f, ino, &owner, off, RD, got, &served));
			CHECK(!served);
			CHECK_MEM_EQ(got, data + off, RD);
		}
		CHECK_U64_EQ(stats(&f).streams, 0);
		fx_close(&f);
		CHECK_OK(s3_object_delete(C, fx_key(&f, "f")));
	}
	free(data);
	free(got);
}

/* Bytes written through the mount (dirty, never uploaded) come from the tier, the rest
 * from S3; a chunk that is all local is not fetched at all. */
static void test_local_ranges_preferred(void)
{
	const size_t size = 12 * CHUNK;
	char *data = malloc(size), *want = malloc(size), *got = malloc(RD), patch[10000];
	struct fx f;
	uint64_t ino, served = 0;
	int owner;

	CHECK(data && want && got);
	check_fill(data, size, 4);
	check_fill(patch, sizeof patch, 99);
	fx_open(&f, "loc", NULL);
	ino = object(&f, "big", data, size);
	memcpy(want, data, size);
	/* inside chunk 5, across the boundary of chunks 7/8, and all of chunk 9 */
	local_write(&f, ino, 5 * CHUNK + 1000, patch, sizeof patch);
	memcpy(want + 5 * CHUNK + 1000, patch, sizeof patch);
	local_write(&f, ino, 8 * CHUNK - 5, patch, 12);
	memcpy(want + 8 * CHUNK - 5, patch, 12);
	{
		char *whole = malloc(CHUNK);

		CHECK(whole != NULL);
		check_fill(whole, CHUNK, 77);
		local_write(&f, ino, 9 * CHUNK, whole, CHUNK);
		memcpy(want + 9 * CHUNK, whole, CHUNK);
		free(whole);
	}
	for (uint64_t off = 0; off < size; off += RD) {
		bool s;

		CHECK_OK(fsal_read(&f, ino, &owner, off, RD, got, &s));
		CHECK_MSG(memcmp(got, want + off, RD) == 0, "bytes at %llu differ",
			  (unsigned long long)off);
		served += s;
	}
	struct readahead_stats st = stats(&f);
	CHECK(served > 0);
	CHECK(st.tier_bytes >= HYDRATE_CHUNK + sizeof patch + 12 + CHUNK);
	/* chunk 9 never came from S3: all of it was local */
	CHECK(st.fetched_bytes <= size - CHUNK);
	/* the dirty bytes are still what was written, and still dirty */
	struct meta_inode in;
	CHECK_OK(ns_getattr(f.ns, ino, &in));
	CHECK_INT_EQ(in.sync, META_S_DIRTY);
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "big")));
	free(data);
	free(want);
	free(got);
}

/* The object is overwritten in S3 (not yet imported) while a stream reads it: the reader
 * gets version 1 bytes only, then EIO — from then on for this reader, even where version 1
 * bytes were served before — until it releases the stream. */
static void test_overwrite_mid_stream(void)
{
	const size_t size = 20 * CHUNK;
	char *v1 = malloc(size), *v2 = malloc(size), *got = malloc(RD), etag2[S3_ETAG_MAX];
	struct fx f;
	uint64_t ino, off, failed_at = 0;
	bool failed = false;
	int owner, rc;

	CHECK(v1 && v2 && got);
	check_fill(v1, size, 5);
	check_fill(v2, size, 6);
	fx_open(&f, "ow", NULL);
	ino = object(&f, "big", v1, size);
	warm(&f, ino, &owner, v1, WARM);
	CHECK_U64_EQ(stats(&f).active, 1);
	put(&f, "big", v2, size, etag2);
	for (off = WARM; off < size; off += RD) {
		rc = fsal_read(&f, ino, &owner, off, RD, got, NULL);
		if (rc) {
			CHECK_INT_EQ(rc, EIO);
			failed = true;
			failed_at = off;
			break;
		}
		CHECK_MSG(memcmp(got, v1 + off, RD) == 0, "bytes at %llu are not version 1",
			  (unsigned long long)off);
	}
	CHECK(failed);
	/* at most the window fetched before the overwrite was served after it */
	CHECK(failed_at <= WARM + (DEPTH + 1) * CHUNK);
	CHECK_INT_EQ(fsal_read(&f, ino, &owner, failed_at, RD, got, NULL), EIO);
	CHECK_INT_EQ(fsal_read(&f, ino, &owner, 0, RD, got, NULL), EIO);
	CHECK_U64_EQ(stats(&f).aborted, 1);
	CHECK_U64_EQ(stats(&f).active, 0);
	/* another reader is not affected by this one's abort (it is served the usual way,
	 * which waits for the import: S3F_E_S3_PRECOND until then) */
	int other;
	CHECK_INT_EQ(fsal_read(&f, ino, &other, size - RD, RD, got, NULL), S3F_E_S3_PRECOND);
	/* released (NFS CLOSE): the reader starts over; once the new version is imported it
	 * reads version 2, all of it */
	readahead_release(f.ra, ino, &owner);
	CHECK_INT_EQ(import(&f, "big", size, etag2), ino);
	for (off = 0; off < size; off += RD) {
		CHECK_OK(fsal_read(&f, ino, &owner, off, RD, got, NULL));
		CHECK_MSG(memcmp(got, v2 + off, RD) == 0, "bytes at %llu are not version 2",
			  (unsigned long long)off);
	}
	CHECK_U64_EQ(stats(&f).streams, 2);
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "big")));
	free(v1);
	free(v2);
	free(got);
}

/* The new version was already imported when the stream reads on: EIO at once (the
 * window's version 1 chunks are not served after the file changed). */
static void test_overwrite_imported(void)
{
	const size_t size = 16 * CHUNK;
	char *v1 = malloc(size), *v2 = malloc(size), *got = malloc(RD), etag2[S3_ETAG_MAX];
	struct fx f;
	uint64_t ino, off;
	int owner;

	CHECK(v1 && v2 && got);
	check_fill(v1, size, 7);
	check_fill(v2, size, 8);
	fx_open(&f, "owi", NULL);
	ino = object(&f, "big", v1, size);
	warm(&f, ino, &owner, v1, WARM);
	off = WARM;
	CHECK_U64_EQ(stats(&f).active, 1);
	put(&f, "big", v2, size, etag2);
	CHECK_INT_EQ(import(&f, "big", size, etag2), ino);
	CHECK_INT_EQ(fsal_read(&f, ino, &owner, off, RD, got, NULL), EIO);
	CHECK_U64_EQ(stats(&f).aborted, 1);
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "big")));
	free(v1);
	free(v2);
	free(got);
}

/* A dirty file committed by this gateway gets a new ETag: not a change of content, so the
 * stream goes on (re-pinned to the new object), exact, without EIO. */
static void test_own_commit_repins(void)
{
	const size_t size = 16 * CHUNK;
	char *data = malloc(size), *got = malloc(RD), etag2[S3_ETAG_MAX], patch[100];
	struct fx f;
	struct ns_commit *c = malloc(sizeof *c);
	struct s3_object_info info = { 0 };
	uint64_t ino, off;
	int owner;

	CHECK(data && got && c);
	check_fill(data, size, 9);
	check_fill(patch, sizeof patch, 10);
	fx_open(&f, "own", NULL);
	ino = object(&f, "big", data, size);
	local_write(&f, ino, 100, patch, sizeof patch);
	memcpy(data + 100, patch, sizeof patch);
	warm(&f, ino, &owner, data, WARM);
	off = WARM;
	CHECK_U64_EQ(stats(&f).active, 1);
	/* the daemon uploads the file (all of it) and records the new ETag */
	CHECK_OK(ns_commit_prepare(f.ns, ino, 0, c));
	put(&f, "big", data, size, etag2);
	snprintf(info.etag, sizeof info.etag, "%s", etag2);
	info.size = size;
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	for (; off < size; off += RD) {
		CHECK_OK(fsal_read(&f, ino, &owner, off, RD, got, NULL));
		CHECK_MSG(memcmp(got, data + off, RD) == 0, "bytes at %llu differ",
			  (unsigned long long)off);
	}
	CHECK_U64_EQ(stats(&f).aborted, 0);
	CHECK_U64_EQ(stats(&f).streams, 2);	/* re-pinned */
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "big")));
	free(c);
	free(data);
	free(got);
}

/* A renamed file streams from where its object is (ns_data_source: the old key until the
 * daemon moved it); when the move lands mid-stream (copy to the new key, old key deleted),
 * the reader goes on from the new key, exact, without EIO. */
static void test_renamed_file(void)
{
	const size_t size = 24 * CHUNK;
	char *data = malloc(size), *got = malloc(RD);
	struct fx f;
	struct ns_commit *c = malloc(sizeof *c);
	struct ns_rename_result *rr = malloc(sizeof *rr);
	struct s3_object_info info;
	uint64_t ino, off;
	int owner;

	CHECK(data && got && c && rr);
	check_fill(data, size, 19);
	fx_open(&f, "ren", NULL);
	ino = object(&f, "orig", data, size);
	CHECK_OK(ns_rename(f.ns, META_ROOT_INO, "orig", 4, META_ROOT_INO, "moved", 5, rr));
	warm(&f, ino, &owner, data, WARM);
	CHECK_U64_EQ(stats(&f).active, 1);
	for (off = WARM; off < 8 * CHUNK; off += RD) {
		CHECK_OK(fsal_read(&f, ino, &owner, off, RD, got, NULL));
		CHECK_MEM_EQ(got, data + off, RD);
	}
	/* the daemon moves the object: copy, record, delete the old key */
	CHECK_OK(ns_commit_prepare(f.ns, ino, 0, c));
	CHECK(c->moved && c->copy);
	CHECK_OK(s3_object_copy(C, c->src_key, c->key, NULL, NULL, &info));
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	CHECK_OK(s3_object_delete(C, c->src_key));
	CHECK_OK(ns_delete_done(f.ns, c->src_key, c->src_len));
	for (; off < size; off += RD) {
		CHECK_OK(fsal_read(&f, ino, &owner, off, RD, got, NULL));
		CHECK_MSG(memcmp(got, data + off, RD) == 0, "bytes at %llu differ",
			  (unsigned long long)off);
	}
	CHECK_U64_EQ(stats(&f).aborted, 0);
	CHECK_U64_EQ(stats(&f).streams, 2);	/* re-pinned to the new key */
	CHECK(stats(&f).bypass_bytes >= size - 3 * HYDRATE_CHUNK);
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "moved")));
	free(c);
	free(rr);
	free(data);
	free(got);
}

/* max_streams windows at once: a second sequential reader is served the usual way (and
 * exactly) until the first releases its window. */
static void test_stream_limit(void)
{
	const size_t size = 12 * CHUNK;
	char *a = malloc(size), *b = malloc(size), *got = malloc(RD);
	struct readahead_opts o = { .threshold = 1 << 20, .chunk = CHUNK, .depth = DEPTH,
				    .seq_bytes = SEQ, .max_streams = 1 };
	struct fx f;
	uint64_t ia, ib, off;
	int oa, ob;
	bool served;

	CHECK(a && b && got);
	check_fill(a, size, 11);
	check_fill(b, size, 12);
	fx_open(&f, "lim", &o);
	ia = object(&f, "a", a, size);
	ib = object(&f, "b", b, size);
	warm(&f, ia, &oa, a, WARM);
	CHECK_U64_EQ(stats(&f).active, 1);
	for (off = 0; off < WARM; off += RD) {
		CHECK_OK(fsal_read(&f, ib, &ob, off, RD, got, &served));
		CHECK(!served);
		CHECK_MEM_EQ(got, b + off, RD);
		CHECK(stats(&f).mem_bytes <= DEPTH * CHUNK);
	}
	CHECK(stats(&f).refused > 0);
	CHECK_OK(readahead_flush(f.ra));
	{
		struct ns_read_stats rs;

		CHECK_OK(ns_read_stats_get(f.ns, &rs));
		CHECK_U64_EQ(rs.refused, stats(&f).refused);
	}
	readahead_release(f.ra, ia, &oa);
	/* what it read so far was staged (hydration goes by HYDRATE_CHUNK): past that, the
	 * window serves it */
	for (; off < 2 * HYDRATE_CHUNK + RD; off += RD) {
		CHECK_OK(fsal_read(&f, ib, &ob, off, RD, got, &served));
		CHECK_MEM_EQ(got, b + off, RD);
	}
	CHECK(served);
	CHECK_U64_EQ(stats(&f).active, 1);
	CHECK(stats(&f).mem_bytes <= DEPTH * CHUNK);
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "a")));
	CHECK_OK(s3_object_delete(C, fx_key(&f, "b")));
	free(a);
	free(b);
	free(got);
}

/* A stream unused for idle_ms is freed by the tick; a reader that jumps far ahead ends
 * its stream (and starts a new one if it reads on sequentially from there). */
static void test_idle_and_jump(void)
{
	const size_t size = 40 * CHUNK;
	char *data = malloc(size), *got = malloc(RD);
	struct readahead_opts o = { .threshold = 1 << 20, .chunk = CHUNK, .depth = DEPTH,
				    .seq_bytes = SEQ, .idle_ms = 100 };
	struct fx f;
	uint64_t ino, off;
	int owner;
	bool served;

	CHECK(data && got);
	check_fill(data, size, 13);
	fx_open(&f, "idle", &o);
	ino = object(&f, "big", data, size);
	warm(&f, ino, &owner, data, WARM);
	CHECK_U64_EQ(stats(&f).active, 1);
	/* jump: far ahead */
	off = 25 * CHUNK;
	CHECK_OK(fsal_read(&f, ino, &owner, off, RD, got, &served));
	CHECK(!served);
	CHECK_MEM_EQ(got, data + off, RD);
	CHECK_U64_EQ(stats(&f).active, 0);
	for (off += RD; off < 25 * CHUNK + 2 * HYDRATE_CHUNK; off += RD) {
		CHECK_OK(fsal_read(&f, ino, &owner, off, RD, got, NULL));
		CHECK_MEM_EQ(got, data + off, RD);
	}
	CHECK_U64_EQ(stats(&f).streams, 2);
	CHECK_U64_EQ(stats(&f).active, 1);
	readahead_tick(f.ra);
	CHECK_U64_EQ(stats(&f).active, 1);	/* not idle yet */
	usleep(150 * 1000);
	readahead_tick(f.ra);
	CHECK_U64_EQ(stats(&f).active, 0);
	CHECK_U64_EQ(stats(&f).mem_bytes, 0);
	CHECK_U64_EQ(stats(&f).tracked, 0);
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "big")));
	free(data);
	free(got);
}

/* A GET that fails for good fails the read that waits for it (S3 unreachable: the client
 * retries the READ); the next read fetches the chunk again and is exact. */
static void test_get_failure(void)
{
	const size_t size = 16 * CHUNK;
	char *data = malloc(size), *got = malloc(RD);
	const struct s3_fault_rule perm = { .op = S3_OP_GET, .action = S3_FAULT_STATUS,
					    .status = 500 };
	const struct s3_fault_rule reset = { .op = S3_OP_GET, .count = 3,
					     .action = S3_FAULT_RESET, .after_bytes = 50000 };
	struct fx f;
	uint64_t ino, off;
	int owner, rc = 0;

	CHECK(data && got);
	check_fill(data, size, 14);
	fx_open(&f, "fail", NULL);
	ino = object(&f, "big", data, size);
	warm(&f, ino, &owner, data, WARM);
	off = WARM;
	CHECK_U64_EQ(stats(&f).active, 1);
	CHECK_OK(s3_fault_set(C, &perm, 1));
	/* the window's GETs in flight may have finished: read on until one is needed */
	for (; off < size && rc == 0; off += RD)
		rc = fsal_read(&f, ino, &owner, off, RD, got, NULL);
	CHECK_OK(s3_fault_set(C, NULL, 0));
	CHECK_INT_EQ(rc, S3F_E_S3_SERVER);
	off -= RD;
	/* cut bodies are retried by the client: exact */
	CHECK_OK(s3_fault_set(C, &reset, 1));
	for (; off < size; off += RD) {
		CHECK_OK(fsal_read(&f, ino, &owner, off, RD, got, NULL));
		CHECK_MSG(memcmp(got, data + off, RD) == 0, "bytes at %llu differ",
			  (unsigned long long)off);
	}
	CHECK_OK(s3_fault_set(C, NULL, 0));
	CHECK_U64_EQ(stats(&f).aborted, 0);
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "big")));
	free(data);
	free(got);
}

/* Several threads: one reader's READs arriving on four threads (interleaved pieces, as
 * parallel READs of one client do) and two other readers of another file, at once. */
struct thr {
	struct fx *f;
	uint64_t ino;
	const void *owner;
	const char *data;
	size_t size;
	unsigned first, step;
	int rc;
	bool bad;
	unsigned served;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	char *got = malloc(RD);

	for (uint64_t p = t->first; p * RD < t->size && t->rc == 0; p += t->step) {
		uint64_t off = p * RD, n = t->size - off < RD ? t->size - off : RD;
		bool served;

		t->rc = fsal_read(t->f, t->ino, t->owner, off, RD, got, &served);
		if (t->rc == 0 && memcmp(got, t->data + off, n) != 0)
			t->bad = true;
		t->served += served;
	}
	free(got);
	return NULL;
}

static void test_threads(void)
{
	const size_t size = 48 * CHUNK + 777;
	char *a = malloc(size), *b = malloc(size);
	struct fx f;
	struct thr t[6];
	pthread_t th[6];
	uint64_t ia, ib;
	int oa, ob1, ob2;
	unsigned served_a = 0;

	CHECK(a && b);
	check_fill(a, size, 15);
	check_fill(b, size, 16);
	fx_open(&f, "thr", NULL);
	ia = object(&f, "a", a, size);
	ib = object(&f, "b", b, size);
	for (int i = 0; i < 6; i++) {
		t[i] = (struct thr){ .f = &f, .size = size };
		if (i < 4) {
			t[i].ino = ia;
			t[i].owner = &oa;
			t[i].data = a;
			t[i].first = (unsigned)i;
			t[i].step = 4;
		} else {
			t[i].ino = ib;
			t[i].owner = i == 4 ? (const void *)&ob1 : (const void *)&ob2;
			t[i].data = b;
			t[i].first = 0;
			t[i].step = 1;
		}
		CHECK(pthread_create(&th[i], NULL, thr_main, &t[i]) == 0);
	}
	for (int i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 6; i++) {
		CHECK_OK(t[i].rc);
		CHECK_MSG(!t[i].bad, "thread %d read wrong bytes", i);
	}
	for (int i = 0; i < 4; i++)
		served_a += t[i].served;
	CHECK(served_a > 0);
	CHECK(t[4].served > 0 && t[5].served > 0);
	/* three streams, the four threads' one out of order (it may widen): all windows
	 * within the bound of the default options */
	CHECK_U64_EQ(stats(&f).active, 3);
	CHECK(stats(&f).mem_bytes <= READAHEAD_STREAMS * DEPTH * CHUNK);
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "a")));
	CHECK_OK(s3_object_delete(C, fx_key(&f, "b")));
	free(a);
	free(b);
}

/* The counters reach the store (for the daemon's /metrics) and are added only once. */
static void test_stats_flush(void)
{
	const size_t size = 8 * CHUNK;
	char *data = malloc(size), *got = malloc(RD);
	struct fx f;
	struct ns_read_stats ns1, ns2;
	uint64_t ino;
	int owner;

	CHECK(data && got);
	check_fill(data, size, 17);
	fx_open(&f, "flush", NULL);
	ino = object(&f, "big", data, size);
	CHECK_OK(ns_read_stats_get(f.ns, &ns1));
	CHECK_U64_EQ(ns1.bypass_bytes + ns1.tier_bytes + ns1.streams, 0);
	for (uint64_t off = 0; off < size; off += RD)
		CHECK_OK(fsal_read(&f, ino, &owner, off, RD, got, NULL));
	CHECK_OK(readahead_flush(f.ra));
	CHECK_OK(readahead_flush(f.ra));
	CHECK_OK(ns_read_stats_get(f.ns, &ns2));
	struct readahead_stats st = stats(&f);
	CHECK_U64_EQ(ns2.bypass_bytes, st.bypass_bytes);
	CHECK_U64_EQ(ns2.tier_bytes, st.tier_bytes);
	CHECK_U64_EQ(ns2.fetched_bytes, st.fetched_bytes);
	CHECK_U64_EQ(ns2.streams, 1);
	CHECK_U64_EQ(ns2.bypass_bytes + ns2.tier_bytes, size);
	fx_close(&f);
	CHECK_OK(s3_object_delete(C, fx_key(&f, "big")));
	free(data);
	free(got);
}

int main(void)
{
	struct s3_config cfg;
	int rc;

	check_suite = "test_readahead";
	if (check_rgw_load(&rgw) != 0)
		return 1;
	snprintf(prefix, sizeof prefix, "test-readahead/%d/", (int)getpid());
	check_rgw_s3_config(&rgw, &cfg);
	cfg.max_retries = 3;
	cfg.retry_base_ms = 5;
	cfg.retry_max_ms = 40;
	cfg.observer = observer;
	rc = s3_client_open(&cfg, &C);
	if (rc) {
		printf("FAIL %s/open: %s\n", check_suite, s3f_strerror(rc));
		return 1;
	}
	CHECK_RUN(test_sequential_bypass);
	CHECK_RUN(test_reordered_reads);
	CHECK_RUN(test_deep_client);
	CHECK_RUN(test_shared_readers);
	CHECK_RUN(test_shared_release_mid_copy);
	CHECK_RUN(test_random_reads_hydrate);
	CHECK_RUN(test_threshold);
	CHECK_RUN(test_local_ranges_preferred);
	CHECK_RUN(test_overwrite_mid_stream);
	CHECK_RUN(test_overwrite_imported);
	CHECK_RUN(test_own_commit_repins);
	CHECK_RUN(test_renamed_file);
	CHECK_RUN(test_stream_limit);
	CHECK_RUN(test_idle_and_jump);
	CHECK_RUN(test_get_failure);
	CHECK_RUN(test_threads);
	CHECK_RUN(test_stats_flush);
	s3_client_close(C);
	return check_done();
}
