/*
 * ns_store.c — the store behind the namespace: read access for its checkers, durability,
 * and the binding of a store to one bucket and prefix. See ns.h, "the store".
 *
 * The namespace is the only writer of the metadata store outside core/store: everything
 * that changes the store is a named ns function with its contract in ns.h. What is here
 * is what does not belong to one operation of the file view.
 */
#include "ns/ns.h"

#include <errno.h>
#include <string.h>

#include "store/info_keys.h"

struct meta_env *ns_store(struct ns *ns)
{
	return ns_meta(ns);
}

int ns_sync(struct ns *ns)
{
	return meta_sync(ns_meta(ns));
}

struct ns_bind_ctx {
	const char *want;
	size_t want_len;
	char *have;
	size_t cap, have_len;
	bool mismatch;
};

/* Read the binding; record want if there is none. meta_write may run this twice: every
 * output is set again from the transaction. */
static int ns_bind_txn(struct meta_txn *t, void *arg)
{
	struct ns_bind_ctx *c = arg;
	int rc;

	c->mismatch = false;
	c->have_len = 0;
	rc = meta_info_get(t, META_INFO_BINDING, c->have, c->cap - 1, &c->have_len);
	if (rc == ENOENT)
		return meta_info_put(t, META_INFO_BINDING, c->want, c->want_len);
	if (rc)
		return rc;
	c->have[c->have_len] = '\0';
	if (c->have_len != c->want_len || memcmp(c->have, c->want, c->want_len) != 0)
		c->mismatch = true;
	return 0;
}

int ns_store_bind(struct meta_env *me, const char *want, size_t want_len, char *have,
		  size_t cap, bool *mismatch)
{
	struct ns_bind_ctx c = { .want = want, .want_len = want_len, .have = have, .cap = cap };
	int rc;

	if (cap == 0)
		return EINVAL;
	have[0] = '\0';
	rc = meta_write(me, ns_bind_txn, &c);
	*mismatch = rc == 0 && c.mismatch;
	return rc;
}
