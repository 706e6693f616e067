/*
 * ns_state.c — the store's bookkeeping beside the file view: where interrupted first
 * listings resume, which one-time events were journaled, which keys were reported
 * unrepresentable, and the change feed the FSAL drains. See ns.h, "bookkeeping".
 *
 * Each exported function is one transaction, as in ns.c: a *_txn function that touches
 * only the transaction and its context's output fields (meta_write may run it again after
 * growing the map).
 */
#include "ns/ns_sync.h"

#include <errno.h>
#include <stdio.h>

#include "store/info_keys.h"

/* The info name of a per-directory or per-event value: "<what>/<id>". */
#define NS_INFO_NAME_MAX 48

static void ns_info_name(char buf[NS_INFO_NAME_MAX], const char *what, uint64_t id)
{
	snprintf(buf, NS_INFO_NAME_MAX, "%s/%llu", what, (unsigned long long)id);
}

/* ---- import cursors ---- */

struct ns_cursor_ctx {
	char name[NS_INFO_NAME_MAX];
	void *buf;		/* get: where the value goes */
	const void *val;	/* put: the value (NULL: delete) */
	size_t cap, len;
};

static int ns_cursor_get_txn(struct meta_txn *t, void *arg)
{
	struct ns_cursor_ctx *c = arg;

	c->len = 0;
	return meta_info_get(t, c->name, c->buf, c->cap, &c->len);
}

static int ns_cursor_put_txn(struct meta_txn *t, void *arg)
{
	struct ns_cursor_ctx *c = arg;
	int64_t now = meta_now_ns();
	int rc;

	if (!c->val)
		return meta_info_del(t, c->name);
	rc = meta_info_put(t, c->name, c->val, c->len);
	if (rc == 0)
		rc = meta_info_put(t, META_INFO_LISTING_AT, &now, sizeof now);
	return rc;
}

static int ns_listing_at_txn(struct meta_txn *t, void *arg)
{
	int64_t *at = arg;
	size_t len = 0;
	int rc = meta_info_get(t, META_INFO_LISTING_AT, at, sizeof *at, &len);

	if (rc == ENOENT || (rc == 0 && len != sizeof *at)) {
		*at = 0;
		rc = 0;
	}
	return rc;
}

int ns_listing_recent(struct ns *ns, int64_t within_ns, bool *recent)
{
	int64_t at = 0;
	int rc = meta_read(ns_meta(ns), ns_listing_at_txn, &at);

	*recent = rc == 0 && at != 0 && meta_now_ns() - at < within_ns;
	return rc;
}

int ns_import_cursor_get(struct ns *ns, uint64_t dir, void *buf, size_t cap, size_t *len)
{
	struct ns_cursor_ctx c = { .buf = buf, .cap = cap };
	int rc;

	ns_info_name(c.name, META_INFO_IMPORT_CURSOR, dir);
	rc = meta_read(ns_meta(ns), ns_cursor_get_txn, &c);
	*len = rc ? 0 : c.len;
	return rc;
}

int ns_import_cursor_put(struct ns *ns, uint64_t dir, const void *val, size_t len)
{
	struct ns_cursor_ctx c = { .val = val, .len = len };

	if (!val)
		return EINVAL;
	ns_info_name(c.name, META_INFO_IMPORT_CURSOR, dir);
	return meta_write(ns_meta(ns), ns_cursor_put_txn, &c);
}

int ns_import_cursor_del(struct ns *ns, uint64_t dir)
{
	struct ns_cursor_ctx c = { .val = NULL };

	ns_info_name(c.name, META_INFO_IMPORT_CURSOR, dir);
	return meta_write(ns_meta(ns), ns_cursor_put_txn, &c);
}

/* ---- one-time events ---- */

static int ns_once_txn(struct meta_txn *t, void *arg)
{
	const char *name = arg;
	char one = 1, v;
	size_t len;
	int rc = meta_info_get(t, name, &v, 1, &len);

	if (rc == 0)
		return EEXIST;
	if (rc != ENOENT)
		return rc;
	return meta_info_put(t, name, &one, 1);
}

int ns_once(struct ns *ns, const char *what, uint64_t id)
{
	char name[NS_INFO_NAME_MAX];

	ns_info_name(name, what, id);
	return meta_write(ns_meta(ns), ns_once_txn, name);
}

/* ---- keys reported as unrepresentable ---- */

struct ns_badkeys_ctx {
	const struct ns_bad_key *bad;
	size_t n;
	bool *fresh;
};

static int ns_badkeys_txn(struct meta_txn *t, void *arg)
{
	struct ns_badkeys_ctx *c = arg;
	int rc;

	for (size_t i = 0; i < c->n; i++) {
		rc = meta_badkey_add(t, c->bad[i].key, c->bad[i].len, (uint8_t)c->bad[i].why);
		if (rc && rc != EEXIST)
			return rc;
		c->fresh[i] = rc == 0;
	}
	return 0;
}

int ns_badkeys_add(struct ns *ns, const struct ns_bad_key *bad, size_t n, bool *fresh)
{
	struct ns_badkeys_ctx c = { bad, n, fresh };

	return meta_write(ns_meta(ns), ns_badkeys_txn, &c);
}

/* ---- the change feed ---- */

struct ns_changes_ctx {
	uint64_t after;
	meta_change_fn fn;
	void *arg;
};

static int ns_changes_txn(struct meta_txn *t, void *arg)
{
	struct ns_changes_ctx *c = arg;

	return meta_change_iter(t, c->after, c->fn, c->arg);
}

int ns_changes_read(struct ns *ns, uint64_t after, meta_change_fn fn, void *arg)
{
	struct ns_changes_ctx c = { after, fn, arg };

	return meta_read(ns_meta(ns), ns_changes_txn, &c);
}

static int ns_changes_last_txn(struct meta_txn *t, void *arg)
{
	return meta_change_last(t, arg);
}

int ns_changes_last(struct ns *ns, uint64_t *seq)
{
	return meta_read(ns_meta(ns), ns_changes_last_txn, seq);
}

static int ns_changes_trim_txn(struct meta_txn *t, void *arg)
{
	return meta_change_trim(t, *(const uint64_t *)arg);
}

int ns_changes_trim(struct ns *ns, uint64_t upto)
{
	return meta_write(ns_meta(ns), ns_changes_trim_txn, &upto);
}
