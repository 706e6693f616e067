/*
 * journal.h — append-only event journal (conflicts, unrepresentable keys, commit failures,
 * evictions, import warnings, ...), one per export, shared by every process of the export.
 *
 * Format: JSON lines, one event per line, each with a strictly increasing sequence number:
 *   {"seq":17,"time":"2026-11-22T04:51:07.123Z","kind":"conflict","key":"a/b.txt",...}
 * Field values are JSON strings or integers. Strings are escaped so that every line is
 * valid JSON and valid UTF-8; a value that is not valid UTF-8 (S3 keys are bytes) is
 * written as "<name>_hex" with the bytes in hex in addition to an escaped "<name>" in
 * which each invalid byte is U+FFFD, so the exact bytes stay recoverable.
 *
 * Concurrency: appends from several threads and processes are serialized with flock on
 * the journal file; an append is durable (fdatasync) before journal_append returns.
 * Readers never lock; a torn last line (crash during append) is skipped by readers and
 * repaired (truncated) by the next journal_open for writing.
 */
#ifndef S3F_JOURNAL_H
#define S3F_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

struct journal;

/* Event kinds (the "kind" field). */
#define JOURNAL_CONFLICT        "conflict"
#define JOURNAL_BAD_KEY         "unrepresentable_key"
#define JOURNAL_COMMIT_FAILED   "commit_failed"
#define JOURNAL_COMMIT_RETRY    "commit_retrying"
#define JOURNAL_EVICT           "evict"
#define JOURNAL_IMPORT_WARN     "import_warning"
#define JOURNAL_RENAME_PROGRESS "dir_rename"
#define JOURNAL_RENAME_LARGE    "dir_rename_large"
#define JOURNAL_BACKLOG         "backlog"
#define JOURNAL_UPLOAD_ABORTED  "upload_aborted"

enum journal_ftype { JF_STR, JF_BYTES, JF_U64, JF_I64 };

struct journal_field {
	const char *name;
	enum journal_ftype type;
	const char *str;	/* JF_STR: NUL-terminated; JF_BYTES: str + len */
	size_t len;
	uint64_t u64;
	int64_t i64;
};

/* Convenience initializers. */
#define JF_S(n, v)     ((struct journal_field){ .name = (n), .type = JF_STR, .str = (v) })
#define JF_B(n, v, l)  ((struct journal_field){ .name = (n), .type = JF_BYTES, .str = (v), .len = (l) })
#define JF_U(n, v)     ((struct journal_field){ .name = (n), .type = JF_U64, .u64 = (v) })
#define JF_I(n, v)     ((struct journal_field){ .name = (n), .type = JF_I64, .i64 = (v) })

/* Open (creating the file, mode 0640, if missing) for appending. */
int journal_open(const char *path, struct journal **out);
void journal_close(struct journal *j);

/* Append one event. *seq (may be NULL) receives its sequence number. kind is an identifier
 * ([a-z0-9_], 1..63 chars, like the JOURNAL_* kinds); field names must not be "seq",
 * "time" or "kind". EINVAL otherwise. */
int journal_append(struct journal *j, const char *kind, const struct journal_field *fields,
		   size_t n, uint64_t *seq);

/* Read events with seq >= from_seq in order; cb gets the seq, the kind and the raw JSON
 * line (without newline; NUL-terminated, valid during the call). cb returning non-zero
 * stops the walk with that value. ENOENT if the journal does not exist (yet). */
typedef int (*journal_read_fn)(void *arg, uint64_t seq, const char *kind, const char *line,
			       size_t len);
int journal_read(const char *path, uint64_t from_seq, journal_read_fn cb, void *arg);

/* Number of events of a kind (all kinds when kind is NULL); for metrics and tests. */
int journal_count(const char *path, const char *kind, uint64_t *count);

#endif
