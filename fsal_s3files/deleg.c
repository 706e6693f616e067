/*
 * deleg.c — NFSv4 read delegations: what the FSAL keeps so that a delegation is recalled
 * when its file changes on the S3 side.
 *
 * Ganesha's state layer grants delegations, recalls them on conflicting opens, writes,
 * setattrs, removes and renames of its own clients, and calls lease_op2 on each grant and
 * return. The one writer it does not see is S3 (through the sync daemon, whose changes
 * reach the store's change feed, up.c). So the FSAL keeps, per export, the inodes that
 * hold delegations (a count per inode) and the inodes the feed reported as changed from
 * S3 in the last S3F_DELEG_QUIET_NS. The up thread, after invalidating MDCACHE for such a
 * change, marks the inode changed and recalls if it is delegated (s3f_deleg_changed).
 * lease_op2 refuses a grant on an inode marked within the quiet time: an OPEN that read
 * the cached (old) attributes before the invalidation and registers its grant after the
 * up thread looked would otherwise keep a delegation on the old version. A refused grant
 * is only "no delegation" (WND4_CONTENTION); the OPEN succeeds.
 *
 * Write delegations are not offered (fs_info.delegations, export.c): a write delegation
 * lets the client keep written data in its own cache past close() (the Linux client
 * starts the write-back at close but does not wait when it holds one), while the daemon
 * uploads what the data tier holds (Commit_On_Close, wait-synced) and cannot recall;
 * doc/SEMANTICS.md, Delegations.
 *
 * No delegation is granted with an OPEN that reclaims (FSAL_O_RECLAIM: CLAIM_PREVIOUS,
 * CLAIM_DELEGATE_CUR, CLAIM_DELEG_CUR_FH). Ganesha 4.3 refuses one for CLAIM_DELEGATE_CUR
 * but not for its NFSv4.1 form CLAIM_DELEG_CUR_FH, which the Linux client sends to turn
 * the opens it covered with a delegation into real opens when it returns that delegation
 * (before a rename over the file, on a recall). A delegation in that reply is an error to
 * the client ("Broken NFSv4 server ... is returning a delegation for
 * OPEN(CLAIM_DELEGATE_CUR)"), after which a reader on that client kept seeing an old
 * version of a file replaced by rename (conformance.sh, os_replace). lease_op2 cannot see
 * the claim, but it runs on the worker thread of the OPEN, right after the FSAL's open2 or
 * reopen2, which see it in the open flags: they note it in a thread-local flag that
 * lease_op2 reads and clears.
 *
 * Lock: me->deleg_lock guards the table; it is a leaf lock, never held across a ganesha
 * call or a store transaction. lease_op2 runs under ganesha's state lock of the file, the
 * up thread calls delegrecall (which takes that state lock) without deleg_lock held.
 */
#include "s3f_fsal.h"

#include <errno.h>
#include <time.h>

#include "base/log.h"
#include "base/clock.h"

/* How long after an S3-side change of an inode no delegation is granted on it. */
#define S3F_DELEG_QUIET_NS (2LL * 1000000000LL)

struct s3f_deleg_ent {
	struct s3f_deleg_ent *next;
	uint64_t ino;
	uint32_t granted;		/* delegations held on ino (lease_op2 grants minus returns) */
	int64_t changed_ns;		/* monotonic time of the last S3-side change (0: none) */
};

static size_t s3f_deleg_bucket(uint64_t ino)
{
	return (size_t)((ino * 0x9E3779B97F4A7C15ULL) >> 32) % S3F_DELEG_BUCKETS;
}

/* The entry of ino, made if make (NULL if absent and !make). deleg_lock held. */
static struct s3f_deleg_ent *s3f_deleg_find(struct s3f_export *me, uint64_t ino, bool make)
{
	struct s3f_deleg_ent **b = &me->deleg_tab[s3f_deleg_bucket(ino)], *e;

	for (e = *b; e; e = e->next)
		if (e->ino == ino)
			return e;
	if (!make)
		return NULL;
	e = gsh_calloc(1, sizeof *e);
	e->ino = ino;
	e->next = *b;
	*b = e;
	me->deleg_entries++;
	return e;
}

void s3f_deleg_init(struct s3f_export *me)
{
	pthread_mutex_init(&me->deleg_lock, NULL);
	me->deleg_entries = 0;
	for (size_t i = 0; i < S3F_DELEG_BUCKETS; i++)
		me->deleg_tab[i] = NULL;
}

void s3f_deleg_destroy(struct s3f_export *me)
{
	for (size_t i = 0; i < S3F_DELEG_BUCKETS; i++) {
		struct s3f_deleg_ent *e = me->deleg_tab[i], *n;

		for (; e; e = n) {
			n = e->next;
			gsh_free(e);
		}
		me->deleg_tab[i] = NULL;
	}
	pthread_mutex_destroy(&me->deleg_lock);
}

int s3f_deleg_grant(struct s3f_export *me, uint64_t ino)
{
	struct s3f_deleg_ent *e;
	int64_t now = clock_mono_ns();
	int rc = 0;

	pthread_mutex_lock(&me->deleg_lock);
	e = s3f_deleg_find(me, ino, true);
	if (e->changed_ns && now - e->changed_ns < S3F_DELEG_QUIET_NS) {
		rc = EAGAIN;
		goto out;
	}
	e->granted++;
	me->deleg_granted_total++;
out:
	pthread_mutex_unlock(&me->deleg_lock);
	return rc;
}

void s3f_deleg_return(struct s3f_export *me, uint64_t ino)
{
	struct s3f_deleg_ent *e;

	pthread_mutex_lock(&me->deleg_lock);
	e = s3f_deleg_find(me, ino, false);
	if (e && e->granted)
		e->granted--;
	pthread_mutex_unlock(&me->deleg_lock);
}

bool s3f_deleg_changed(struct s3f_export *me, uint64_t ino)
{
	struct s3f_deleg_ent *e;
	bool held;

	pthread_mutex_lock(&me->deleg_lock);
	e = s3f_deleg_find(me, ino, true);
	e->changed_ns = clock_mono_ns();
	held = e->granted > 0;
	if (held)
		me->deleg_recalls_total++;
	pthread_mutex_unlock(&me->deleg_lock);
	return held;
}

void s3f_deleg_sweep(struct s3f_export *me)
{
	int64_t now = clock_mono_ns();

	pthread_mutex_lock(&me->deleg_lock);
	for (size_t i = 0; i < S3F_DELEG_BUCKETS && me->deleg_entries; i++) {
		struct s3f_deleg_ent **p = &me->deleg_tab[i], *e;

		while ((e = *p)) {
			if (e->granted == 0 &&
			    (!e->changed_ns || now - e->changed_ns >= S3F_DELEG_QUIET_NS)) {
				*p = e->next;
				gsh_free(e);
				me->deleg_entries--;
			} else {
				p = &e->next;
			}
		}
	}
	pthread_mutex_unlock(&me->deleg_lock);
}

/* This worker thread's current OPEN reclaims (see the top of this file). */
static __thread bool s3f_deleg_open_reclaims;

void s3f_deleg_note_open(fsal_openflags_t openflags)
{
	s3f_deleg_open_reclaims = (openflags & FSAL_O_RECLAIM) != 0;
}

fsal_status_t s3f_lease_op2(struct fsal_obj_handle *obj, struct state_t *state, void *owner,
			    fsal_deleg_t deleg)
{
	struct s3f_handle *h = container_of(obj, struct s3f_handle, obj_handle);
	int rc = 0;

	(void)state;
	(void)owner;
	switch (deleg) {
	case FSAL_DELEG_RD:
		if (obj->type != REGULAR_FILE || !h->exp->cfg->delegations) {
			rc = ENOTSUP;
			break;
		}
		if (s3f_deleg_open_reclaims) {
			s3f_deleg_open_reclaims = false;
			LOG_DEBUG(LOG_C_FSAL, "no delegation on %llu: the OPEN reclaims",
				  (unsigned long long)h->ino);
			rc = EAGAIN;
			break;
		}
		rc = s3f_deleg_grant(h->exp, h->ino);
		if (rc == EAGAIN)
			LOG_DEBUG(LOG_C_FSAL, "no delegation on %llu: changed in S3 just now",
				  (unsigned long long)h->ino);
		break;
	case FSAL_DELEG_WR:
		rc = ENOTSUP;	/* never offered (fso_delegations_w is false) */
		break;
	case FSAL_DELEG_NONE:
		s3f_deleg_return(h->exp, h->ino);
		break;
	}
	return s3f_status(rc);
}
