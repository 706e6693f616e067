/*
 * sync_fx.h — the fixture of the daemon's unit tests (test_sync_*.c): one export over the
 * in-memory S3 double (check_export_open_mem), set up as s3files-syncd sets up its
 * exports (sync_export_init), and the file-side and S3-side moves the tests make.
 * Linked only into test_sync_* (it needs the sync library). Every helper fails the case
 * (check.h) when what it does fails.
 */
#ifndef S3F_TEST_SYNC_FX_H
#define S3F_TEST_SYNC_FX_H

#include "check.h"
#include "sync/syncd.h"

struct sync_fx {
	struct conf *conf;
	struct export_ctx *x;
	struct s3_client *s3;		/* x->s3: the double */
	struct sync_export se;
};

/* settings: extra FSAL settings (check_export_open_mem), NULL for none. */
void sync_fx_open(struct sync_fx *f, const char *settings);
void sync_fx_close(struct sync_fx *f);

/* A new regular file name in dir holding data (written as a client writes: fio_write). */
uint64_t sync_fx_file(struct sync_fx *f, uint64_t dir, const char *name, const char *data);
uint64_t sync_fx_dir(struct sync_fx *f, uint64_t dir, const char *name);
void sync_fx_write(struct sync_fx *f, uint64_t ino, uint64_t off, const char *data);
/* The inode of name in dir, 0 if there is none. */
uint64_t sync_fx_lookup(struct sync_fx *f, uint64_t dir, const char *name);
/* The names in dir, sorted and joined by ' ' ("" when empty), as a heap string. */
char *sync_fx_names(struct sync_fx *f, uint64_t dir);
struct meta_inode sync_fx_stat(struct sync_fx *f, uint64_t ino);
/* The whole file as a client reads it (fio_read), as a heap string. */
char *sync_fx_read(struct sync_fx *f, uint64_t ino);

/* The file reads as data (sync_fx_read). */
void sync_fx_check_read(struct sync_fx *f, uint64_t ino, const char *data);

/* A commit pass of everything (min_age 0, whole export) and a delete pass, under the
 * commit_lock as the worker runs them; the commit pass's result. */
int sync_fx_commit(struct sync_fx *f, struct sync_result *res);
int sync_fx_delete(struct sync_fx *f, struct sync_result *res);

/* A poll pass, under the import_lock as the worker runs it. */
int sync_fx_poll(struct sync_fx *f);

/* The S3 side. The object's body as a heap string, NULL if there is no object; info
 * (may be NULL) gets its HEAD. */
char *sync_fx_object(struct sync_fx *f, const char *key, struct s3_object_info *info);
/* Is there an object at key? (HEAD) */
bool sync_fx_exists(struct sync_fx *f, const char *key);
/* Another client writes key. */
void sync_fx_put(struct sync_fx *f, const char *key, const char *data);

/* How many `kind` events the export's journal holds. */
unsigned sync_fx_events(struct sync_fx *f, const char *kind);

#endif
