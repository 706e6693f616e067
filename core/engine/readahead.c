/*
 * readahead.c — see readahead.h.
 *
 * A stream's window is an array of `depth` slots; chunk i (bytes [i*chunk, (i+1)*chunk)
 * of the pinned object) lives in slot i % depth, so a window [lo, lo + depth) never needs
 * two chunks in one slot. Slots are pointers to chunks, so that a window can widen (more
 * slots, chunks moved to their new places) while GETs write into chunks and readers copy
 * out of them; a widening that would have to move a busy chunk onto another waits for a
 * later read. A slot goes EMPTY -> FETCHING (its GET is one s3_batch of one
 * request) -> READY or FAILED, and back to FETCHING for a later chunk once nobody copies
 * from it. A FETCHING slot stays so until some reader waits for its batch: GETs finish in
 * the background, and the first reader that needs the chunk collects the result (an
 * s3_batch must be waited for exactly once, and by then it returns at once).
 *
 * Streams are reference counted by the readers inside readahead_read. Ending a stream
 * (its reader jumped, the object changed, release, idle) unlinks it at once and marks it
 * dead; readers still inside finish with it, and the last one out puts it on the grave
 * list, which is emptied outside the lock (freeing waits for GETs still in flight).
 *
 * A reader never waits while it holds references on chunks: when a chunk it needs is
 * not there yet, it drops what it holds, waits, and tries again. So no two readers can
 * wait on each other.
 */
#include "engine/readahead.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/log.h"
#include "base/rangeset.h"
#include "base/clock.h"
#include "base/tp.h"

#define RA_FLUSH_NS 1000000000LL	/* counters go to the store at most once a second */
#define RA_SEEN_MAX 16			/* ranges a tracker remembers */

enum ra_state { RA_EMPTY, RA_FETCHING, RA_READY, RA_FAILED };

struct ra_chunk {
	uint64_t idx;			/* chunk held (not RA_EMPTY) */
	enum ra_state state;
	int rc;				/* RA_FAILED */
	unsigned refs;			/* readers copying out of buf */
	bool waiting;			/* a reader is in s3_batch_wait for it */
	struct s3_batch *batch;		/* RA_FETCHING */
	int get_rc;			/* the GET's result, written by s3_batch_wait */
	uint64_t want;			/* bytes the GET asked for */
	uint64_t used;			/* bytes the stream's reads copied out of it */
	struct s3_buf buf;		/* fixed buffer of `chunk` bytes, allocated on first use */
};

struct ra_stream {
	struct ra_stream *prev, *next;	/* table list, most recently used first; grave list */
	uint64_t ino;
	const void *owner;
	unsigned refs;			/* readers inside readahead_read */
	bool dead;			/* unlinked: the last reader out frees it */
	int64_t used_ns;
	uint64_t next_off;		/* furthest byte read so far (+1) */
	/* detection (not active): clusters of recent reads (reads less than `reorder` bytes
	 * apart), sorted, with the bytes read in each */
	struct ra_cluster {
		uint64_t start, end, bytes;
	} seen[RA_SEEN_MAX];
	unsigned n_seen;
	bool aborted;			/* the object changed under this reader: EIO */
	/* window (active) */
	bool active;
	bool saw_dirty;			/* the file was dirty at some read of the stream */
	char key[S3_KEY_MAX + 1];	/* pinned object */
	char etag[S3_ETAG_MAX];
	uint64_t obj_size;
	uint64_t lo;			/* first chunk of the window */
	uint64_t lag;			/* bytes the window keeps behind next_off */
	unsigned depth;			/* slots: lag's chunks + ra->ahead */
	struct ra_chunk **ch;		/* depth slots, each a chunk of its own */
};

struct readahead {
	struct export_ctx *x;
	struct readahead_opts o;
	pthread_mutex_t lock;		/* protects everything below and every stream's fields */
	pthread_cond_t cond;		/* a chunk was settled or released */
	struct ra_stream *head, *tail;	/* live streams and trackers */
	struct ra_stream *grave;	/* dead, no reader left: to free outside the lock */
	unsigned tracked;		/* streams in the list */
	unsigned active;		/* streams holding a window (live or in the grave) */
	unsigned slots;			/* their slots, at most max_streams x depth */
	unsigned ahead;			/* chunks a window reaches past the furthest read */
	uint64_t mem;			/* chunk buffers allocated */
	/* counters (atomic, any thread) */
	_Atomic uint64_t n_bypass, n_tier, n_fetched, n_streams, n_aborted, n_refused, n_widened;
	/* readahead_flush / readahead_tick only (one thread) */
	struct ns_read_stats flushed;
	int64_t flushed_ns;
};

static void ra_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t ra_load(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

int readahead_open(struct export_ctx *x, const struct readahead_opts *opts,
		   struct readahead **out)
{
	struct readahead *ra = calloc(1, sizeof *ra);

	*out = NULL;
	if (!ra)
		return ENOMEM;
	ra->x = x;
	if (opts)
		ra->o = *opts;
	if (!x->s3)
		ra->o.threshold = 0;
	if (!ra->o.chunk)
		ra->o.chunk = READAHEAD_CHUNK;
	if (!ra->o.depth)
		ra->o.depth = READAHEAD_DEPTH;
	if (!ra->o.max_streams)
		ra->o.max_streams = READAHEAD_STREAMS;
	if (!ra->o.max_tracked)
		ra->o.max_tracked = READAHEAD_TRACKED;
	if (!ra->o.seq_bytes)
		ra->o.seq_bytes = READAHEAD_SEQ_BYTES;
	if (!ra->o.reorder)
		ra->o.reorder = ra->o.chunk;
	if (ra->o.reorder > (uint64_t)(ra->o.depth - 1) * ra->o.chunk)
		ra->o.reorder = (uint64_t)(ra->o.depth - 1) * ra->o.chunk;
	if (!ra->o.idle_ms)
		ra->o.idle_ms = READAHEAD_IDLE_MS;
	if (!ra->o.depth_max)
		ra->o.depth_max = READAHEAD_WIDEN * ra->o.depth;
	if (ra->o.depth_max > READAHEAD_DEPTH_MAX)
		ra->o.depth_max = READAHEAD_DEPTH_MAX;
	if (ra->o.depth_max < ra->o.depth)
		ra->o.depth_max = ra->o.depth;
	ra->ahead = ra->o.depth - (unsigned)((ra->o.reorder + ra->o.chunk - 1) / ra->o.chunk);
	if (ra->o.depth > READAHEAD_DEPTH_MAX || ra->o.chunk > SIZE_MAX / 2) {
		free(ra);
		return EINVAL;
	}
	pthread_mutex_init(&ra->lock, NULL);
	pthread_cond_init(&ra->cond, NULL);
	ra->flushed_ns = clock_mono_ns();
	*out = ra;
	return 0;
}

/* ---- the table (ra->lock held) ---- */

static void ra_unlink(struct readahead *ra, struct ra_stream *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		ra->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		ra->tail = s->prev;
	s->prev = s->next = NULL;
	ra->tracked--;
}

static void ra_push_front(struct readahead *ra, struct ra_stream *s)
{
	s->prev = NULL;
	s->next = ra->head;
	if (ra->head)
		ra->head->prev = s;
	else
		ra->tail = s;
	ra->head = s;
	ra->tracked++;
}

static struct ra_stream *ra_find(struct readahead *ra, uint64_t ino, const void *owner)
{
	for (struct ra_stream *s = ra->head; s; s = s->next)
		if (s->ino == ino && s->owner == owner)
			return s;
	return NULL;
}

/* End s: no new reader finds it; freed once the last one inside has left. */
static void ra_retire(struct readahead *ra, struct ra_stream *s)
{
	ra_unlink(ra, s);
	s->dead = true;
	if (s->refs == 0) {
		s->next = ra->grave;
		ra->grave = s;
	}
}

static void ra_put(struct readahead *ra, struct ra_stream *s)
{
	if (--s->refs == 0 && s->dead) {
		s->next = ra->grave;
		ra->grave = s;
	}
}

/* A new tracker for (ino, owner), most recently used. When the table is full the least
 * recently used stream nobody is inside goes (an aborted one only if it is idle: it is
 * what keeps its reader from reading a mix of versions). NULL if nothing could go. */
static struct ra_stream *ra_track(struct readahead *ra, uint64_t ino, const void *owner,
				  int64_t now)
{
	struct ra_stream *s;

	if (ra->tracked >= ra->o.max_tracked) {
		struct ra_stream *victim = NULL;

		for (s = ra->tail; s && !victim; s = s->prev)
			if (s->refs == 0 &&
			    (!s->aborted || now - s->used_ns >= (int64_t)ra->o.idle_ms * 1000000LL))
				victim = s;
		if (!victim)
			return NULL;
		ra_retire(ra, victim);
	}
	s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->ino = ino;
	s->owner = owner;
	s->used_ns = now;
	ra_push_front(ra, s);
	return s;
}

/* Free the dead streams collected while the lock was held. Called without the lock. */
static void ra_drain(struct readahead *ra)
{
	struct ra_stream *g;

	pthread_mutex_lock(&ra->lock);
	g = ra->grave;
	ra->grave = NULL;
	pthread_mutex_unlock(&ra->lock);
	while (g) {
		struct ra_stream *s = g;
		uint64_t freed = 0;

		g = g->next;
		for (unsigned i = 0; s->ch && i < s->depth; i++) {
			struct ra_chunk *c = s->ch[i];

			/* nobody is inside the stream, so nobody waits for this GET */
			if (c->batch)
				(void)s3_batch_wait(c->batch);
			if (c->buf.data) {
				free(c->buf.data);
				freed += ra->o.chunk;
			}
			free(c);
		}
		pthread_mutex_lock(&ra->lock);
		ra->mem -= freed;
		if (s->active) {
			ra->active--;
			ra->slots -= s->depth;
		}
		pthread_mutex_unlock(&ra->lock);
		free(s->ch);
		free(s);
	}
}

void readahead_close(struct readahead *ra)
{
	if (!ra)
		return;
	(void)readahead_flush(ra);
	pthread_mutex_lock(&ra->lock);
	while (ra->head)
		ra_retire(ra, ra->head);
	pthread_mutex_unlock(&ra->lock);
	ra_drain(ra);
	pthread_cond_destroy(&ra->cond);
	pthread_mutex_destroy(&ra->lock);
	free(ra);
}

/* ---- chunks (ra->lock held) ---- */

static uint64_t ra_chunks(const struct readahead *ra, const struct ra_stream *s)
{
	return (s->obj_size + ra->o.chunk - 1) / ra->o.chunk;
}

static uint64_t ra_chunk_len(const struct readahead *ra, const struct ra_stream *s, uint64_t i)
{
	uint64_t start = i * ra->o.chunk;

	return s->obj_size - start < ra->o.chunk ? s->obj_size - start : ra->o.chunk;
}

static struct ra_chunk *ra_slot(const struct ra_stream *s, uint64_t i)
{
	return s->ch[i % s->depth];
}

static bool ra_busy(const struct ra_chunk *c)
{
	return c->state == RA_FETCHING || c->refs;
}

/*
 * Give s `depth` slots, more than it has (none: a new window). Every chunk moves to slot
 * idx % depth; a chunk whose new place is taken goes empty, keeping its buffer, if nobody
 * uses it, and stops the change (EBUSY: tried again at a later read) if a GET writes into
 * it or a reader copies from it, because those find it by its place. 0, EBUSY or ENOMEM;
 * nothing changed on error. ra->lock held.
 */
static int ra_window_grow(struct readahead *ra, struct ra_stream *s, unsigned depth)
{
	struct ra_chunk **ch = calloc(depth, sizeof *ch), *spare[READAHEAD_DEPTH_MAX];
	struct ra_chunk *fresh[READAHEAD_DEPTH_MAX];
	unsigned nspare = 0, nfresh = 0, t;
	int rc = 0;

	if (!ch)
		return ENOMEM;
	/* one new chunk per new slot: every old chunk keeps a slot */
	while (nfresh < depth - s->depth) {
		fresh[nfresh] = calloc(1, sizeof *fresh[nfresh]);
		if (!fresh[nfresh]) {
			rc = ENOMEM;
			goto fail;
		}
		nfresh++;
	}
	/* busy chunks first: they must keep being found at idx % depth */
	for (unsigned i = 0; i < s->depth; i++) {
		struct ra_chunk *c = s->ch[i];

		if (!ra_busy(c))
			continue;
		if (ch[c->idx % depth]) {
			rc = EBUSY;
			goto fail;
		}
		ch[c->idx % depth] = c;
	}
	for (unsigned i = 0; i < s->depth; i++) {
		struct ra_chunk *c = s->ch[i];

		if (ra_busy(c))
			continue;
		if (c->state != RA_EMPTY && !ch[c->idx % depth])
			ch[c->idx % depth] = c;
		else
			spare[nspare++] = c;
	}
	for (t = 0; t < depth; t++) {
		if (ch[t])
			continue;
		if (nspare) {
			ch[t] = spare[--nspare];
			ch[t]->state = RA_EMPTY;
		} else {
			ch[t] = fresh[--nfresh];
		}
	}
	free(s->ch);
	s->ch = ch;
	ra->slots += depth - s->depth;
	s->depth = depth;
	return 0;
fail:
	while (nfresh > 0)
		free(fresh[--nfresh]);
	free(ch);
	return rc;
}

/* Do n more slots fit within the bound of all windows, max_streams x depth? */
static bool ra_slots_fit(const struct readahead *ra, unsigned n)
{
	return ra->slots + n <= ra->o.max_streams * ra->o.depth;
}

/* Start the GET of chunk i into slot c (not FETCHING, nobody copying from it). */
static int ra_fetch(struct readahead *ra, struct ra_stream *s, struct ra_chunk *c, uint64_t i)
{
	struct s3_cond pin = { .if_match = s->etag };
	int rc;

	if (!c->buf.data) {
		c->buf.data = malloc(ra->o.chunk);
		if (!c->buf.data)
			return ENOMEM;
		c->buf.cap = ra->o.chunk;
		c->buf.fixed = true;
		ra->mem += ra->o.chunk;
	}
	c->idx = i;
	c->want = ra_chunk_len(ra, s, i);
	c->used = 0;
	c->get_rc = 0;
	c->state = RA_EMPTY;
	rc = s3_batch_open(ra->x->s3, &c->batch);
	if (rc) {
		c->batch = NULL;
		return rc;
	}
	rc = s3_batch_get_buf(c->batch, s->key, i * ra->o.chunk, c->want, &c->buf, &pin, NULL,
			      &c->get_rc);
	if (rc) {
		(void)s3_batch_wait(c->batch);	/* nothing was queued: frees it */
		c->batch = NULL;
		return rc;
	}
	c->state = RA_FETCHING;
	return 0;
}

/* Collect the GET of c (FETCHING, nobody else waiting). Drops the lock meanwhile. */
static void ra_collect(struct readahead *ra, struct ra_chunk *c)
{
	struct s3_batch *b = c->batch;
	int rc;

	c->waiting = true;
	pthread_mutex_unlock(&ra->lock);
	(void)s3_batch_wait(b);
	pthread_mutex_lock(&ra->lock);
	c->batch = NULL;
	c->waiting = false;
	rc = c->get_rc;
	if (rc == 0 && c->buf.len != c->want)
		rc = S3F_E_S3_PROTO;	/* pinned to one version: a short chunk is not it */
	if (rc) {
		c->state = RA_FAILED;
		c->rc = rc;
	} else {
		c->state = RA_READY;
		ra_count(&ra->n_fetched, c->want);
	}
	pthread_cond_broadcast(&ra->cond);
}

/* The last chunk a window fetches ahead: `ahead` chunks from the one holding the furthest
 * byte read, counting it. A window wider than that (widened for a deep reader) holds
 * chunks behind for READs still on their way, and does not fetch further ahead. */
static uint64_t ra_reach(const struct readahead *ra, const struct ra_stream *s)
{
	uint64_t at = s->next_off ? (s->next_off - 1) / ra->o.chunk : 0;

	return at + ra->ahead - 1;
}

/*
 * A chunk of another live stream of the same object (same inode, key and ETag: the same
 * bytes) that holds chunk i, READY or FETCHING, and that stream; NULL if none. Readers of
 * one object share what any of them fetched: a second reader copies from the first's
 * window (holding a reference on the chunk and on its stream) instead of fetching again.
 */
static struct ra_chunk *ra_peer_chunk(const struct readahead *ra, const struct ra_stream *s,
				      uint64_t i, struct ra_stream **peer)
{
	for (struct ra_stream *p = ra->head; p; p = p->next) {
		struct ra_chunk *c;

		if (p == s || !p->active || p->ino != s->ino || strcmp(p->etag, s->etag) != 0 ||
		    strcmp(p->key, s->key) != 0)
			continue;
		c = ra_slot(p, i);
		if (c->idx == i && (c->state == RA_READY || c->state == RA_FETCHING)) {
			*peer = p;
			return c;
		}
	}
	return NULL;
}

/* Start GETs for the chunks of the window up to its reach that are not there yet and whose
 * slots are free, skipping chunks that are all local or that a peer holds. */
static void ra_prefetch(struct readahead *ra, struct ra_stream *s, const struct rangeset *have)
{
	uint64_t n = ra_chunks(ra, s), reach = ra_reach(ra, s);
	struct ra_stream *p;

	if (n > reach + 1)
		n = reach + 1;
	for (uint64_t i = s->lo; i < s->lo + s->depth && i < n; i++) {
		struct ra_chunk *c = ra_slot(s, i);
		uint64_t start = i * ra->o.chunk;

		if (c->idx == i && c->state != RA_EMPTY)
			continue;
		if (c->state == RA_FETCHING || c->refs)
			continue;	/* still busy with an older chunk: fetched when needed */
		if (rangeset_covers(have, start, start + ra_chunk_len(ra, s, i)))
			continue;
		if (ra_peer_chunk(ra, s, i, &p))
			continue;	/* a peer has it, or is fetching it */
		if (ra_fetch(ra, s, c, i) != 0)
			return;	/* tried again by the reader that needs it */
	}
}

/* Let go of what a read holds: hc[] (chunks) and hs[] (their streams: s, or a peer, on
 * which the read holds a reference too), from chunk first to last; all NULL after. */
static void ra_unref(struct readahead *ra, const struct ra_stream *s, uint64_t first,
		     uint64_t last, struct ra_chunk **hc, struct ra_stream **hs)
{
	bool wake = false;

	for (uint64_t i = first; i <= last; i++) {
		struct ra_chunk *c = hc[i - first];

		if (!c)
			continue;
		if (--c->refs == 0)
			wake = true;
		if (hs[i - first] != s)
			ra_put(ra, hs[i - first]);
		hc[i - first] = NULL;
		hs[i - first] = NULL;
	}
	if (wake)
		pthread_cond_broadcast(&ra->cond);
}

/*
 * Hold every chunk in [first, last] marked in need[] READY (hc[] the chunk, hs[] the
 * stream whose window has it: s, or a peer of the same object), fetching and waiting as
 * needed. A chunk whose GET (started ahead, by an earlier read) failed is fetched again;
 * a GET started for this read that fails after the client's retries is the read's error
 * (the slot is emptied, so that a later read fetches it again). 0, that error, or
 * ENOMEM; nothing is held on error. An S3F_E_S3_PRECOND of any GET of the stream is
 * returned at once: the object changed.
 */
static int ra_acquire(struct readahead *ra, struct ra_stream *s, uint64_t first, uint64_t last,
		      const bool *need, struct ra_chunk **hc, struct ra_stream **hs)
{
	bool tried[READAHEAD_DEPTH_MAX] = { false };

	for (;;) {
		uint64_t blocked = UINT64_MAX;
		struct ra_chunk *c, *wait_c = NULL;
		struct ra_stream *wait_s = NULL;
		int rc;

		for (uint64_t i = first; i <= last && blocked == UINT64_MAX; i++) {
			struct ra_stream *p;
			struct ra_chunk *pc;

			if (!need[i - first] || hc[i - first])
				continue;
			c = ra_slot(s, i);
			if (c->idx == i && c->state == RA_READY) {
				c->refs++;
				hc[i - first] = c;
				hs[i - first] = s;
			} else if (c->idx == i && c->state == RA_FAILED) {
				rc = c->rc;
				c->state = RA_EMPTY;
				if (!tried[i - first] && rc != S3F_E_S3_PRECOND) {
					blocked = i;	/* a GET ahead failed: once more */
					continue;
				}
				ra_unref(ra, s, first, last, hc, hs);
				return rc;
			} else if (c->idx == i && c->state == RA_FETCHING) {
				blocked = i;
				wait_c = c;
				wait_s = s;
			} else if ((pc = ra_peer_chunk(ra, s, i, &p)) != NULL) {
				if (pc->state == RA_READY) {
					pc->refs++;
					p->refs++;
					hc[i - first] = pc;
					hs[i - first] = p;
				} else {
					blocked = i;
					wait_c = pc;
					wait_s = p;
				}
			} else {
				blocked = i;
			}
		}
		if (blocked == UINT64_MAX)
			return 0;
		/* never wait holding chunks (see the top of the file) */
		ra_unref(ra, s, first, last, hc, hs);
		if (wait_c) {
			/* its GET is in flight (ours or a peer's: the peer stays while we wait) */
			if (wait_s != s)
				wait_s->refs++;
			if (wait_c->waiting)
				pthread_cond_wait(&ra->cond, &ra->lock);
			else
				ra_collect(ra, wait_c);
			if (wait_s != s)
				ra_put(ra, wait_s);
			continue;
		}
		c = ra_slot(s, blocked);
		if (c->state == RA_FETCHING) {
			if (c->waiting)
				pthread_cond_wait(&ra->cond, &ra->lock);
			else
				ra_collect(ra, c);
		} else if (c->refs) {
			pthread_cond_wait(&ra->cond, &ra->lock);
		} else {
			rc = ra_fetch(ra, s, c, blocked);
			if (rc)
				return rc;
			tried[blocked - first] = true;
		}
	}
}

/* ---- copying out ---- */

struct ra_copy {
	const struct iovec *iov;
	int iovcnt;
	uint64_t off;			/* file offset of the start of the iovs */
	int fd;				/* data tier file, -1: none */
	const struct readahead *ra;
	struct ra_chunk *const *held;	/* the held chunks, from chunk `first` on (taken under
					   the lock: a window may widen while we copy) */
	uint64_t first;
	uint64_t tier, bypass;		/* bytes copied from each */
};

/* Copy file bytes [pos, pos+n) into the iovs from the tier (local) or the window. */
static int ra_copy_run(struct ra_copy *cp, uint64_t pos, uint64_t n, bool local)
{
	uint64_t at = pos - cp->off, base = 0;

	for (int i = 0; i < cp->iovcnt && n; i++) {
		uint64_t len = cp->iov[i].iov_len;

		if (at >= base + len) {
			base += len;
			continue;
		}
		while (n && at < base + len) {
			char *dst = (char *)cp->iov[i].iov_base + (at - base);
			uint64_t k = base + len - at;

			if (k > n)
				k = n;
			if (local) {
				size_t got = 0;
				int rc = data_file_read(cp->fd, dst, (size_t)k, pos, &got);

				if (rc)
					return rc;
				/* past the local file's end (sparse tail): zeros */
				if (got < k)
					memset(dst + got, 0, (size_t)(k - got));
				cp->tier += k;
			} else {
				uint64_t ci = pos / cp->ra->o.chunk, in = pos - ci * cp->ra->o.chunk;
				const struct ra_chunk *c = cp->held[ci - cp->first];

				if (k > cp->ra->o.chunk - in)
					k = cp->ra->o.chunk - in;
				memcpy(dst, (const char *)c->buf.data + in, (size_t)k);
				cp->bypass += k;
			}
			at += k;
			pos += k;
			n -= k;
		}
		base += len;
	}
	return 0;
}

/* Copy [off, end): local ranges from the tier, the others (miss) from the window. */
static int ra_copy_all(struct ra_copy *cp, uint64_t off, uint64_t end,
		       const struct rangeset *miss)
{
	uint64_t pos = off;
	int rc = 0;

	for (size_t i = 0; i <= miss->n && rc == 0; i++) {
		uint64_t ms = i < miss->n ? miss->r[i].start : end;

		if (pos < ms)
			rc = ra_copy_run(cp, pos, ms - pos, true);
		if (rc || i == miss->n)
			break;
		rc = ra_copy_run(cp, ms, miss->r[i].end - ms, false);
		pos = miss->r[i].end;
	}
	return rc;
}

/* ---- reads ---- */

/* Remember that [a, b) was read: into the cluster of reads it is less than `reorder`
 * bytes away from (merging clusters it joins), or a new one. Returns the bytes read in its
 * cluster: only bytes read count, not the gaps between them, so scattered reads never add
 * up while parallel READs arriving out of order do. When the list is full the lowest
 * cluster goes (a sequential reader moves up). */
static uint64_t ra_seen_add(const struct readahead *ra, struct ra_stream *s, uint64_t a,
			    uint64_t b)
{
	uint64_t gap = ra->o.reorder, bytes = b - a;
	unsigned i = 0, j;

	while (i < s->n_seen && s->seen[i].end + gap < a)
		i++;
	for (j = i; j < s->n_seen && s->seen[j].start <= b + gap; j++) {
		if (s->seen[j].start < a)
			a = s->seen[j].start;
		if (s->seen[j].end > b)
			b = s->seen[j].end;
		bytes += s->seen[j].bytes;
	}
	if (j == i) {
		if (s->n_seen == RA_SEEN_MAX) {
			memmove(&s->seen[0], &s->seen[1], (s->n_seen - 1) * sizeof s->seen[0]);
			s->n_seen--;
			if (i > 0)
				i--;
		}
		memmove(&s->seen[i + 1], &s->seen[i], (s->n_seen - i) * sizeof s->seen[0]);
		s->n_seen++;
	} else {
		memmove(&s->seen[i + 1], &s->seen[j], (s->n_seen - j) * sizeof s->seen[0]);
		s->n_seen -= j - i - 1;
	}
	s->seen[i].start = a;
	s->seen[i].end = b;
	s->seen[i].bytes = bytes;
	return bytes;
}

/* The first chunk of the window of a reader whose reads reached next_off. */
static uint64_t ra_want_lo(const struct readahead *ra, const struct ra_stream *s,
			   uint64_t next_off)
{
	return (next_off > s->lag ? next_off - s->lag : 0) / ra->o.chunk;
}

/* The stream aborts: its reader gets EIO from now on (ra->lock held). */
static void ra_abort(struct readahead *ra, struct ra_stream *s, const char *now_etag,
		     int64_t now)
{
	struct ra_stream *t;

	LOG_WARN(LOG_C_DATA, "'%s' changed in S3 during a sequential read (ETag %s%s%s): the "
		 "reader gets EIO until it closes the file", LOG_ESCS(s->key), s->etag,
		 now_etag ? " -> " : ", a GET found another version", now_etag ? now_etag : "");
	ra_count(&ra->n_aborted, 1);
	ra_retire(ra, s);
	t = ra_track(ra, s->ino, s->owner, now);
	if (t)
		t->aborted = true;
}

/* The stream ends without harm: detection starts over from [off, end) (a jump), or, when
 * eager (its object moved, or is this gateway's new upload of it), as if the reader had
 * just read seq_bytes up to end, so that its next read starts a new stream. */
static void ra_restart(struct readahead *ra, struct ra_stream *s, uint64_t off, uint64_t end,
		       bool eager, int64_t now)
{
	struct ra_stream *t;

	ra_retire(ra, s);
	t = ra_track(ra, s->ino, s->owner, now);
	if (t) {
		if (eager)
			off = end > ra->o.seq_bytes ? end - ra->o.seq_bytes : 0;
		t->next_off = end;
		(void)ra_seen_add(ra, t, off, end);
	}
}

/* The slots a window needs to keep lag bytes behind its furthest read. */
static unsigned ra_depth_for(const struct readahead *ra, uint64_t lag)
{
	return (unsigned)((lag + ra->o.chunk - 1) / ra->o.chunk) + ra->ahead;
}

/*
 * A deep client (many READs in flight, arriving out of order) reads further behind or
 * ahead of its stream's furthest byte than the window reaches. Let the window keep lag
 * bytes behind the furthest read, with the slots that takes, up to depth_max slots and
 * while the slots of all windows stay within max_streams x depth less one window's worth
 * (so that another reader can still start a stream). True if the window now keeps lag
 * bytes behind. ra->lock held.
 */
static bool ra_widen(struct readahead *ra, struct ra_stream *s, uint64_t lag)
{
	unsigned depth = ra_depth_for(ra, lag);

	if (lag <= s->lag)
		return true;
	if (depth > s->depth) {
		if (depth > ra->o.depth_max ||
		    !ra_slots_fit(ra, (depth - s->depth) + ra->o.depth) ||
		    ra_window_grow(ra, s, depth) != 0)
			return false;
		ra_count(&ra->n_widened, 1);
	}
	s->lag = lag;
	return true;
}

/* Has the stream's reader had every byte of chunk i it will want from the window? Yes
 * when the bytes copied out of it and the bytes of it that are local (the tier serves
 * those: written, or read before the stream began) make up the chunk. A re-read counts
 * twice, so a chunk may pass for spent a little early: the cost is a fetch, never a
 * wrong byte. */
static bool ra_spent(const struct readahead *ra, const struct ra_stream *s, uint64_t i,
		     const struct rangeset *have)
{
	const struct ra_chunk *c = ra_slot(s, i);
	uint64_t start = i * ra->o.chunk, len;
	struct ra_stream *p;

	if (i >= ra_chunks(ra, s))
		return true;
	len = ra_chunk_len(ra, s, i);
	if (rangeset_covers(have, start, start + len))
		return true;
	if (!(c->idx == i && c->state != RA_EMPTY))
		return ra_peer_chunk(ra, s, i, &p) != NULL;	/* read from a peer's window */
	return c->idx == i && c->state == RA_READY &&
	       c->used + rangeset_bytes_in(have, start, start + len) >= len;
}

/*
 * Move the window along for a read that needs chunks up to last. It would start lag
 * bytes behind the furthest read and reach ra_reach (the usual rule), but it does not
 * move past a chunk its reader has not read all of: a deep client's READs arrive out of
 * order, and a chunk left behind while some of its READs are still on their way would be
 * fetched a second time for them (and evict a chunk ahead, fetched again in turn). So the
 * window keeps such chunks and grows instead, within depth_max and the bound of all
 * windows (as ra_widen); only when it cannot does it slide past them. ra->lock held.
 */
static void ra_follow(struct readahead *ra, struct ra_stream *s, uint64_t last,
		      const struct rangeset *have)
{
	uint64_t want_lo = ra_want_lo(ra, s, s->next_off), lo = s->lo, top;
	uint64_t depth;

	if (want_lo < lo)
		want_lo = lo;
	top = ra_reach(ra, s);
	if (last > top)
		top = last;
	while (lo < want_lo && ra_spent(ra, s, lo, have))
		lo++;
	depth = top - lo + 1;
	if (depth > s->depth) {
		uint64_t grow = depth > ra->o.depth_max ? ra->o.depth_max : depth;

		if (grow > s->depth && ra_slots_fit(ra, (unsigned)(grow - s->depth) + ra->o.depth) &&
		    ra_window_grow(ra, s, (unsigned)grow) == 0)
			ra_count(&ra->n_widened, 1);
		if (depth > s->depth)
			lo = top - s->depth + 1;	/* cannot keep them all: slide */
	}
	if (lo > s->lo)
		s->lo = lo;
}

/* Count the bytes of a read copied out of s's window (miss: its ranges) against the
 * chunks held for it (hc[], hs[] from chunk first to last; a peer's chunks do not count:
 * their bytes are the peer's reader's to read). ra->lock held. */
static void ra_spend(const struct readahead *ra, const struct ra_stream *s,
		     const struct rangeset *miss, uint64_t first, struct ra_chunk *const *hc,
		     struct ra_stream *const *hs)
{
	for (size_t k = 0; k < miss->n; k++) {
		for (uint64_t i = miss->r[k].start / ra->o.chunk;
		     i * ra->o.chunk < miss->r[k].end; i++) {
			uint64_t a = i * ra->o.chunk, b = a + ra->o.chunk;

			if (a < miss->r[k].start)
				a = miss->r[k].start;
			if (b > miss->r[k].end)
				b = miss->r[k].end;
			if (hs[i - first] == s)
				hc[i - first]->used += b - a;
		}
	}
}

/* What the first look at a read decided (under the lock, before any I/O). */
enum ra_plan { RA_PASS, RA_FAIL_EIO, RA_GO };

static enum ra_plan ra_plan(struct readahead *ra, const struct meta_inode *in, const void *owner,
			    uint64_t off, uint64_t end, int64_t now, struct ra_stream **out)
{
	struct ra_stream *s = ra_find(ra, in->ino, owner);

	*out = NULL;
	if (s && s->aborted) {
		s->used_ns = now;
		return RA_FAIL_EIO;
	}
	if (in->data == META_D_FULL)
		return RA_PASS;
	if (!s) {
		s = ra_track(ra, in->ino, owner, now);
		if (!s)
			return RA_PASS;
	} else {
		s->used_ns = now;
		if (s != ra->head) {
			ra_unlink(ra, s);
			ra_push_front(ra, s);
		}
	}
	if (!s->active) {
		if (end > s->next_off)
			s->next_off = end;
		if (ra_seen_add(ra, s, off, end) < ra->o.seq_bytes)
			return RA_PASS;
		if (ra->active >= ra->o.max_streams) {
			ra_count(&ra->n_refused, 1);
			return RA_PASS;	/* stays a candidate: tried again at its next read */
		}
		goto go;
	}
	if (off < s->lo * ra->o.chunk) {
		/* behind the window: a straggler of a deep client (the window widens back to
		 * it) or a re-read (the usual path) */
		if (!ra_widen(ra, s, s->next_off - off))
			return RA_PASS;
		s->lo = off / ra->o.chunk;
	} else if (off >= (s->lo + s->depth + 1) * ra->o.chunk) {
		/* ahead of the window: a deep client's READs overtaking each other, up to
		 * depth_max's reach past the furthest read (the window widens forward, keeping
		 * its start, or when it cannot, slides forward to the read), or further: a
		 * jump, not this stream */
		uint64_t by = end > s->next_off ? end - s->next_off : 0;

		if (by > (uint64_t)(ra->o.depth_max - ra->ahead) * ra->o.chunk) {
			ra_restart(ra, s, off, end, false, now);
			return RA_PASS;
		}
		(void)ra_widen(ra, s, s->lag + by);
	}
	if (end > s->next_off)
		s->next_off = end;
go:
	s->refs++;
	*out = s;
	return RA_GO;
}

int readahead_read(struct readahead *ra, const struct meta_inode *in, const void *owner,
		   uint64_t off, const struct iovec *iov, int iovcnt, struct readahead_result *res)
{
	struct rangeset have = RANGESET_INIT, miss = RANGESET_INIT;
	struct meta_inode cur;
	struct ra_stream *s;
	char key[S3_KEY_MAX + 1], etag[S3_ETAG_MAX];
	size_t keylen;
	uint64_t len = 0, end, first = 0, last = 0;
	bool need[READAHEAD_DEPTH_MAX];
	struct ra_chunk *hc[READAHEAD_DEPTH_MAX] = { NULL };
	struct ra_stream *hs[READAHEAD_DEPTH_MAX] = { NULL };
	int64_t now;
	int fd = -1, rc = 0;
	enum ra_plan plan;

	memset(res, 0, sizeof *res);
	if (!ra || !ra->o.threshold || in->type != META_T_REG || in->size < ra->o.threshold)
		return 0;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	if (len == 0 || off >= in->size)
		return 0;
	end = off + len > in->size ? in->size : off + len;
	now = clock_mono_ns();

	pthread_mutex_lock(&ra->lock);
	plan = ra_plan(ra, in, owner, off, end, now, &s);
	pthread_mutex_unlock(&ra->lock);
	ra_drain(ra);
	if (plan == RA_FAIL_EIO)
		return EIO;
	if (plan == RA_PASS)
		return 0;

	/* What is local, under the data file's lock (eviction waits for it; writers record
	 * what they wrote before their reply, so a write acknowledged before this read began
	 * is in `have`). Without a data file nothing is local, unless one appeared since. */
	rc = data_file_open(ra->x->data, in->ino, 0, &fd);
	if (rc == 0) {
		rc = data_file_lock(fd, false);
		if (rc) {
			data_file_close(ra->x->data, fd);
			fd = -1;
		}
	}
	if (rc && rc != ENOENT)
		goto out_put;
	rc = ns_data_present(ra->x->ns, in->ino, &have, &cur);
	if (rc)
		goto out_put;
	if (cur.data == META_D_FULL || off >= cur.size || (fd < 0 && have.n))
		goto out_put;	/* all local now, shrunk, or local data without a file yet */
	if (end > cur.size)
		end = cur.size;
	rc = rangeset_missing(&have, off, end, &miss);
	if (rc || miss.n == 0)
		goto out_put;	/* nothing to fetch: the tier serves it */
	/* Where the missing bytes are in S3. Not in S3 (holes), lost, or no ETag to pin to:
	 * the usual path knows what to do. */
	if (ns_data_source(ra->x->ns, in->ino, key, sizeof key, &keylen, etag) != 0 || !etag[0])
		goto out_put;

	pthread_mutex_lock(&ra->lock);
	if (s->dead) {
		/* ended by another reader meanwhile: an abort must still fail this read */
		struct ra_stream *t = ra_find(ra, in->ino, owner);

		rc = t && t->aborted ? EIO : 0;
		goto out_unlock;
	}
	if (!s->active) {
		if (ra->active >= ra->o.max_streams || !ra_slots_fit(ra, ra->o.depth)) {
			ra_count(&ra->n_refused, 1);
			goto out_unlock;	/* stays a candidate: tried again at its next read */
		}
		if (ra_window_grow(ra, s, ra->o.depth) != 0)
			goto out_unlock;
		s->lag = ra->o.reorder;
		memcpy(s->key, key, keylen + 1);
		snprintf(s->etag, sizeof s->etag, "%s", etag);
		s->obj_size = cur.s3_size;
		s->lo = ra_want_lo(ra, s, s->next_off);
		s->active = true;
		s->saw_dirty = cur.sync != META_S_CLEAN;
		ra->active++;
		ra_count(&ra->n_streams, 1);
		LOG_DEBUG(LOG_C_DATA, "read bypass: stream of '%s' (ino %llu, %llu bytes) from "
			  "offset %llu", LOG_ESCS(key), (unsigned long long)in->ino,
			  (unsigned long long)cur.s3_size, (unsigned long long)off);
	} else if (strcmp(etag, s->etag) != 0 || strcmp(key, s->key) != 0) {
		if (strcmp(etag, s->etag) != 0 && strcmp(key, s->key) == 0 && !s->saw_dirty &&
		    cur.sync == META_S_CLEAN) {
			/* another version was imported at the same key: S3 changed it */
			ra_abort(ra, s, etag, now);
			rc = EIO;
		} else {
			/* our own upload of the file, or a move: same content, new pin */
			ra_restart(ra, s, off, end, true, now);
		}
		goto out_unlock;
	}
	if (cur.sync != META_S_CLEAN)
		s->saw_dirty = true;
	/* Missing bytes past the pinned object (a file extended on the file side and not
	 * written there): not ours to invent. */
	if (miss.r[miss.n - 1].end > s->obj_size)
		goto out_unlock;
	/* The window follows the reader; the chunks this read needs must fit in it. */
	first = miss.r[0].start / ra->o.chunk;
	last = (miss.r[miss.n - 1].end - 1) / ra->o.chunk;
	ra_follow(ra, s, last, &have);
	if (first < s->lo || last - first + 1 > sizeof need / sizeof need[0])
		goto out_unlock;	/* more than a window: the usual path */
	memset(need, 0, sizeof need);
	for (size_t i = 0; i < miss.n; i++)
		for (uint64_t c = miss.r[i].start / ra->o.chunk;
		     c <= (miss.r[i].end - 1) / ra->o.chunk; c++)
			need[c - first] = true;
	ra_prefetch(ra, s, &have);
	rc = ra_acquire(ra, s, first, last, need, hc, hs);
	if (rc == S3F_E_S3_PRECOND) {
		if (!s->dead)
			ra_abort(ra, s, NULL, now);
		rc = EIO;
		goto out_unlock;
	}
	if (rc == ENOENT) {
		/* gone from under its key (deleted or moved in S3): the usual path looks the
		 * source up again */
		if (!s->dead)
			ra_restart(ra, s, off, end, false, now);
		rc = 0;
		goto out_unlock;
	}
	if (rc)
		goto out_unlock;
	pthread_mutex_unlock(&ra->lock);

	TP("readahead.copy");	/* the chunks held, the lock not */
	{
		struct ra_copy cp = { .iov = iov, .iovcnt = iovcnt, .off = off, .fd = fd,
				      .ra = ra, .held = hc, .first = first };

		rc = ra_copy_all(&cp, off, end, &miss);
		ra_count(&ra->n_tier, cp.tier);
		ra_count(&ra->n_bypass, cp.bypass);
		if (rc == 0) {
			res->served = true;
			res->got = (size_t)(end - off);
			res->eof = end >= cur.size;
		}
	}
	pthread_mutex_lock(&ra->lock);
	if (rc == 0)
		ra_spend(ra, s, &miss, first, hc, hs);
	ra_unref(ra, s, first, last, hc, hs);
out_unlock:
	ra_put(ra, s);
	pthread_mutex_unlock(&ra->lock);
	goto out;
out_put:
	pthread_mutex_lock(&ra->lock);
	ra_put(ra, s);
	pthread_mutex_unlock(&ra->lock);
out:
	ra_drain(ra);
	if (fd >= 0) {
		data_file_unlock(fd);
		data_file_close(ra->x->data, fd);
	}
	rangeset_free(&have);
	rangeset_free(&miss);
	return rc;
}

void readahead_count_tier(struct readahead *ra, uint64_t bytes)
{
	if (ra)
		ra_count(&ra->n_tier, bytes);
}

void readahead_release(struct readahead *ra, uint64_t ino, const void *owner)
{
	struct ra_stream *s;

	if (!ra)
		return;
	pthread_mutex_lock(&ra->lock);
	s = ra_find(ra, ino, owner);
	if (s)
		ra_retire(ra, s);
	pthread_mutex_unlock(&ra->lock);
	ra_drain(ra);
}

void readahead_tick(struct readahead *ra)
{
	int64_t now = clock_mono_ns(), idle = (int64_t)ra->o.idle_ms * 1000000LL;

	pthread_mutex_lock(&ra->lock);
	for (struct ra_stream *s = ra->tail, *p; s; s = p) {
		p = s->prev;
		if (s->refs == 0 && now - s->used_ns >= idle)
			ra_retire(ra, s);
	}
	pthread_mutex_unlock(&ra->lock);
	ra_drain(ra);
	if (now - ra->flushed_ns >= RA_FLUSH_NS)
		(void)readahead_flush(ra);
}

int readahead_flush(struct readahead *ra)
{
	struct ns_read_stats now = {
		.bypass_bytes = ra_load(&ra->n_bypass),
		.tier_bytes = ra_load(&ra->n_tier),
		.fetched_bytes = ra_load(&ra->n_fetched),
		.streams = ra_load(&ra->n_streams),
		.aborted = ra_load(&ra->n_aborted),
		.refused = ra_load(&ra->n_refused),
	};
	struct ns_read_stats d = {
		.bypass_bytes = now.bypass_bytes - ra->flushed.bypass_bytes,
		.tier_bytes = now.tier_bytes - ra->flushed.tier_bytes,
		.fetched_bytes = now.fetched_bytes - ra->flushed.fetched_bytes,
		.streams = now.streams - ra->flushed.streams,
		.aborted = now.aborted - ra->flushed.aborted,
		.refused = now.refused - ra->flushed.refused,
	};
	int rc;

	ra->flushed_ns = clock_mono_ns();
	if (!d.bypass_bytes && !d.tier_bytes && !d.fetched_bytes && !d.streams && !d.aborted &&
	    !d.refused)
		return 0;
	rc = ns_read_stats_add(ra->x->ns, &d);
	if (rc) {
		LOG_WARN(LOG_C_DATA, "read statistics not stored: %s", s3f_strerror(rc));
		return rc;
	}
	ra->flushed = now;
	return 0;
}

void readahead_stats_get(struct readahead *ra, struct readahead_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!ra)
		return;
	out->bypass_bytes = ra_load(&ra->n_bypass);
	out->tier_bytes = ra_load(&ra->n_tier);
	out->fetched_bytes = ra_load(&ra->n_fetched);
	out->streams = ra_load(&ra->n_streams);
	out->aborted = ra_load(&ra->n_aborted);
	out->refused = ra_load(&ra->n_refused);
	out->widened = ra_load(&ra->n_widened);
	pthread_mutex_lock(&ra->lock);
	out->active = ra->active;
	out->mem_bytes = ra->mem;
	out->tracked = ra->tracked;
	pthread_mutex_unlock(&ra->lock);
}
