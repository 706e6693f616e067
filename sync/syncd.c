/*
 * syncd.c — the daemon's exports: setting one up and finding one by id. In the sync
 * library (libs3fsyncd.a) with the rest of sync/, so that the unit tests set an export
 * up as s3files-syncd does; main.c keeps only the program.
 */
#include "syncd.h"

#include <string.h>

void sync_export_init(struct sync_export *se, const struct conf_export *cfg)
{
	memset(se, 0, sizeof *se);
	se->cfg = cfg;
	pthread_mutex_init(&se->commit_lock, NULL);
	pthread_mutex_init(&se->evict_lock, NULL);
	pthread_mutex_init(&se->import_lock, NULL);
}

void sync_export_fini(struct sync_export *se)
{
	pthread_mutex_destroy(&se->commit_lock);
	pthread_mutex_destroy(&se->evict_lock);
	pthread_mutex_destroy(&se->import_lock);
}

struct sync_export *syncd_export_by_id(struct syncd *d, uint32_t id)
{
	for (size_t i = 0; i < d->n_exports; i++)
		if (d->exports[i].cfg->export_id == id)
			return &d->exports[i];
	return NULL;
}
