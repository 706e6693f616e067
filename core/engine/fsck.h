/*
 * fsck.h — consistency check of one export's local state: the metadata store against
 * itself and against the data tier (`s3filesctl fsck`).
 *
 * What is checked (each finding has a stable kind, listed below with its class):
 *  - the data tier: every file is a data file of a regular file's inode, in its place
 *    (State_Dir/data/xx/<ino>); staging leftovers, foreign files, orphans;
 *  - each regular file's record against its data file, under the file's data lock: a
 *    record that calls bytes present needs a data file long enough for them, with the
 *    exceptions core/engine/fio.h documents (see data_missing, data_short below);
 *  - present ranges (extents) against the data state and the size;
 *  - sync state against the dirty table and META_F_CHANGING;
 *  - the namespace: each inode linked once by its parent under its name, entry types,
 *    directory link counts, the readdir cookie table against the entries;
 *  - S3 bindings: the keys table against each file's source (ns_data_source), moves and
 *    pending deletes against live inodes, rows of other tables of inodes that are gone;
 *  - bytes that can never be read or uploaded (not local, no S3 source).
 *
 * Classes:
 *   legal    a state the protocol allows (doc/DURABILITY.md); reported for information
 *   garbage  a leftover a crash can leave that is no file's bytes (an orphan data file,
 *            a staging file): harmless, cleaned by --repair
 *   powercut a state only a power cut can leave (bytes or a file name the gateway had
 *            not synced, which no reply promised): legal after a power cut, a defect
 *            after anything else (kill -9 keeps the page cache)
 *   error    an inconsistency the protocol never leaves, crash or not
 *   loss     bytes of a file that can never be read back or uploaded
 *
 * Kinds (class; what --repair does; "offline": only with the gateway stopped):
 *   staging_leftover   garbage; removed (a named staging file of a dead process; online,
 *                      one of a live process is a fetch in flight: not reported)
 *   tier_foreign       garbage; a regular file is moved aside, anything else is left
 *   tier_misplaced     garbage; moved aside (a data-file name in the wrong fan-out dir)
 *   orphan_data        garbage; moved aside (no inode has this number)
 *   nonfile_data       garbage; moved aside (the inode is a directory or symlink)
 *   data_missing       a record calls bytes present, its data file does not exist.
 *                      error for a clean file bound to S3 (repair: data NONE, the bytes
 *                      are fetched again); powercut otherwise (not repaired: the bytes
 *                      read as zeros, and only the client's resend can bring them back)
 *   data_short         the data file ends before the last present byte. error for a
 *                      clean file bound to S3 (repair: data NONE); legal otherwise
 *                      (fio.h: an extension is never written out, the tail reads as
 *                      zeros; so does an unstable write a power cut took)
 *   stale_tail         legal; the data file is longer than the file (bytes past the end
 *                      belong to no one; fio_clear_tail drops them before growing)
 *   extents_corrupt    error for a clean file bound to S3 (repair: data NONE); loss
 *                      otherwise (which bytes are the client's cannot be told)
 *   extents_on_full, extents_on_none, extents_on_nonfile, extents_empty, extents_full,
 *   extents_beyond_size
 *                      error; the record is normalized (a change no reader can see)
 *   data_on_nonfile    error; data state NONE
 *   no_source          bytes not local and no S3 object to fetch them from: loss for a
 *                      dirty file or one in lost+found, error for a clean one
 *   source_lost        bytes not local whose source is lost (META_F_LOST): legal after a
 *                      conflict (S3 won; the file is or goes to lost+found), loss else
 *   symlink_no_target  loss; a symlink without a recorded target and no S3 object
 *   clean_size         error; a clean file whose size is not its object's
 *   dirty_untracked    error; a dirty inode missing from the dirty table (it would never
 *                      be uploaded); added
 *   dirty_stale        error; a clean inode in the dirty table; removed from it
 *   changing_clean     error; META_F_CHANGING on a clean file (or a non-file) that is not
 *                      lost+found's (there the flag stays from before the conflict or
 *                      from a write, and nothing reads it); cleared
 *   reserved_dirty     error; a lost+found inode not clean
 *   move_bad           error; a moves record that does not fit its inode
 *   key_unbound        error; a file bound to S3 whose source key is not bound to it
 *   key_stale          error; a keys row bound to a live inode whose object is elsewhere
 *   key_orphan         error; a keys row bound to a missing inode; removed (offline)
 *   delete_live        error; a pending delete of a key bound to a live inode
 *   dirjob_bad         error; a directory-rename job with impossible prefixes
 *   dirty_orphan, extents_orphan, symlink_orphan, move_orphan, prefetch_orphan
 *                      error; a row of a missing inode; removed
 *   s3dirs_index       error; the index of directories bound to S3 disagrees with an
 *                      inode; rewritten (a row of a missing inode is left)
 *   symlink_stray      error; a symlink target of an inode that is no symlink; removed
 *   record_corrupt, record_bad, root_bad
 *                      error; an undecodable record, a field out of range
 *   parent_missing, unlinked, dirent_type, bad_name
 *                      error; an inode its parent does not list (as it is)
 *   nlink              error; a link count that is not what the entries say; set (offline)
 *   dangling_dirent    error; an entry naming a missing inode; removed (offline)
 *   cookie_mismatch    error; the readdir cookie table and the entries disagree
 *   cookie_next        error; a cookie not below its directory's next cookie; raised
 *                      (offline)
 *   dirent_orphan      error; entries of a directory that does not exist
 *   table_corrupt      error; a table walk stopped at an undecodable row
 * Anything that would lose or guess bytes is reported, never repaired.
 *
 * Concurrency (read-only by default; safe while ganesha and the daemon run): tables are
 * walked in short read transactions of a few hundred rows; every verdict that compares
 * records is taken inside one transaction (one snapshot). A record is compared with its
 * data file under the file's data lock held SHARED (data_file_open_locked without
 * DATA_CREATE: the check never creates a file), the record read after the lock (rule R
 * of doc/DURABILITY.md), so no fetch, eviction or commit snapshot changes them meanwhile;
 * a missing data file is confirmed by reading the record again (unchanged) and finding
 * the file still missing after that read (an eviction and a fetch between the two reads
 * leave the same record; test points fsck.data.recorded and fsck.data.absent force it);
 * a file found back each of three times gets no verdict. A file created or
 * removed during the run may or may not be seen (a data file whose inode an unlink just
 * removed is reported as garbage, orphan_data).
 *
 * Repair (opts.repair): each repair looks again under the lock that makes its check true
 * when it acts, and reports "gone" if the finding no longer holds: a data state change
 * under the file's EXCLUSIVE data lock followed by ns_sync (as an eviction: lock
 * order data lock, then a write transaction); record fixes in one write transaction that
 * re-reads what it changes (ns_repair); a data file is moved aside under its exclusive
 * lock after the inode's absence is re-checked. Files are moved to State_Dir/fsck-orphans/<UTC time>/
 * (MANIFEST lists them), never deleted: they may be the only copy of something. With
 * opts.online, repairs that change the namespace (entries, link counts, key bindings:
 * ganesha caches them) are skipped ("offline"); the others are safe while the gateway runs.
 * The caller keeps ganesha and the daemon away for an offline repair (fsck_exclusive).
 *
 * Errors of fsck_run: 0 (the verdict is in the findings and *st), or the error that
 * stopped it (the store or the tier could not be read). Never called with an LMDB
 * transaction open or a data lock held.
 */
#ifndef S3F_FSCK_H
#define S3F_FSCK_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/export_ctx.h"

enum fsck_class {
	FSCK_LEGAL = 0,
	FSCK_GARBAGE,
	FSCK_POWERCUT,
	FSCK_ERROR,
	FSCK_LOSS,
	FSCK_NCLASS
};

enum fsck_action {
	FSCK_A_NONE = 0,	/* legal: nothing to do */
	FSCK_A_REPAIRABLE,	/* a read-only run: --repair fixes it */
	FSCK_A_OFFLINE,		/* --repair fixes it with the gateway stopped (an --online run) */
	FSCK_A_MANUAL,		/* fixing it would lose or guess bytes: left to a person */
	FSCK_A_REPAIRED,
	FSCK_A_FAILED,		/* the repair failed (rc) */
	FSCK_A_GONE,		/* no longer true when the repair looked again: not counted */
};

struct fsck_finding {
	enum fsck_class cls;
	const char *kind;	/* one of the kinds above */
	uint64_t ino;		/* the inode concerned (0: none) */
	const char *path;	/* its path from the export root ("/d/f"), "" if unknown */
	const char *detail;	/* what is wrong, for people */
	enum fsck_action action;
	int rc;			/* FSCK_A_FAILED: why */
	uint64_t bytes;		/* bytes concerned (a data file moved aside ...), 0 */
};

/* Called once per finding, after its repair (if any); the finding is valid during the
 * call only. */
typedef void (*fsck_report_fn)(void *arg, const struct fsck_finding *f);

struct fsck_opts {
	bool repair;
	bool online;		/* the gateway may be running: online-safe repairs only */
	fsck_report_fn report;	/* may be NULL */
	void *arg;
	/* where repaired data files go (NULL: <State_Dir>/fsck-orphans/<UTC time>) */
	const char *quarantine_dir;
};

struct fsck_stats {
	uint64_t inodes, files, dirs, symlinks;
	uint64_t specials;			/* FIFOs, sockets, devices */
	uint64_t data_files, data_bytes;	/* data files of regular files, allocated bytes */
	uint64_t unused_data_files;		/* data files of files with nothing present (legal) */
	uint64_t found[FSCK_NCLASS];		/* findings by class (not "gone") */
	uint64_t repaired;
	uint64_t unrepaired;			/* findings not legal and not repaired */
	uint64_t moved_files, moved_bytes;	/* data files moved aside */
};

int fsck_run(struct export_ctx *x, const struct fsck_opts *o, struct fsck_stats *st);

/* "legal", "garbage", "powercut", "error", "loss" */
const char *fsck_class_name(enum fsck_class c);
/* "none", "repairable", "offline", "manual", "repaired", "failed", "gone" */
const char *fsck_action_name(enum fsck_action a);

/* An offline repair keeps the gateway away: takes the single-instance locks of ganesha's
 * FSAL and of the daemon on state_dir (core/store/instlock.h), so neither runs nor starts while
 * it is held. EWOULDBLOCK if one of them runs (who, may be NULL, names it); errno
 * otherwise. Undo with fsck_exclusive_end. */
struct fsck_excl;
int fsck_exclusive_begin(const char *state_dir, struct fsck_excl **out, char *who, size_t wholen);
void fsck_exclusive_end(struct fsck_excl *e);

#endif
