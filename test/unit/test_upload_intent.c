/*
 * test_upload_intent.c — upload intents (ns_sync.h): an upload of the daemon's whose outcome a
 * crash kept from being recorded is recognised as its own, whatever the file side did
 * since, and never taken for another client's object. The store cases run on a scratch
 * store; the S3 client cases (the ETag announced before the request equals the one the
 * server gives the object; a copy keeps the source's ETag and takes the token) run against
 * the shared Ceph RGW started by test/run.sh ($RGW_TEST_DIR/env), under the key prefix
 * test-upload-intent/<pid>/, and delete what they wrote.
 */
#include "check.h"
#include "base/err.h"
#include "ns/keymap.h"
#include "store/meta.h"
#include "ns/ns_sync.h"
#include "s3/s3.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define E0 "0123456789abcdef0123456789abcdef"
#define E1 "fedcba9876543210fedcba9876543210"
#define E2 "00112233445566778899aabbccddeeff"

struct fx {
	struct meta_env *me;
	struct keymap km;
	struct ns *ns;
	char dir[4096];
};

static void fx_open(struct fx *f)
{
	struct meta_opts o = { .nosync = true };

	snprintf(f->dir, sizeof f->dir, "%s", check_tmpdir());
	CHECK_OK(meta_env_open(f->dir, &o, &f->me));
	CHECK_OK(keymap_init(&f->km, "pfx/"));
	CHECK_OK(ns_open(f->me, &f->km, NULL, NULL, &f->ns));
}

static void fx_close(struct fx *f)
{
	ns_close(f->ns);
	keymap_fini(&f->km);
	meta_env_close(f->me);
}

static uint64_t mk(struct fx *f, uint64_t dir, const char *name, enum meta_type type)
{
	struct ns_new nw = { .type = type, .mode = 0644 };
	struct meta_inode in;

	CHECK_OK(ns_create(f->ns, dir, name, strlen(name), &nw, &in, NULL));
	return in.ino;
}

/* A write of len bytes at 0, as the FSAL records it (announced, then done). */
static void wr(struct fx *f, uint64_t ino, uint64_t len)
{
	struct meta_inode in;

	CHECK_OK(ns_write_begin(f->ns, ino, &in));
	CHECK_OK(ns_write_done(f->ns, ino, 0, len, &in));
}

/* The commit of ino, recorded as done with etag. */
static void commit(struct fx *f, uint64_t ino, const char *etag)
{
	struct ns_commit *c = malloc(sizeof *c);
	struct s3_object_info info = { 0 };

	CHECK_OK(ns_commit_prepare(f->ns, ino, 0, c));
	snprintf(info.etag, sizeof info.etag, "%s", etag);
	CHECK_OK(ns_commit_done(f->ns, c, &info));
	free(c);
}

/* The daemon's side up to the request: the snapshot, then the intent (the request lands,
 * the daemon dies before ns_commit_done). c is the caller's (heap). */
static void upload_cut(struct fx *f, uint64_t ino, struct ns_commit *c, char token[META_TOKEN_MAX],
		       const char *etag)
{
	CHECK_OK(ns_commit_prepare(f->ns, ino, 0, c));
	CHECK_OK(ns_token_new(f->ns, token));
	CHECK_OK(ns_intent_begin(f->ns, c, META_INTENT_PUT, token, etag, c->in.size));
}

/* What a HEAD of the intent's object shows. */
static struct s3_object_info landed(const char *token, const char *etag, uint64_t size)
{
	struct s3_object_info info;

	memset(&info, 0, sizeof info);
	snprintf(info.etag, sizeof info.etag, "%s", etag);
	info.size = size;
	info.n_meta = 2;
	snprintf(info.meta[0].name, sizeof info.meta[0].name, "mode");
	snprintf(info.meta[0].value, sizeof info.meta[0].value, "33188");
	snprintf(info.meta[1].name, sizeof info.meta[1].name, "%s", NS_TOKEN_META);
	snprintf(info.meta[1].value, sizeof info.meta[1].value, "%s", token);
	return info;
}

/* The only intent of the store (fails if there is not exactly one). */
static struct meta_intent one_intent(struct fx *f)
{
	struct meta_intent *l = NULL, in;
	size_t n = 0;

	CHECK_OK(ns_intent_list(f->ns, &l, &n));
	if (n != 1)
		free(l);
	CHECK_U64_EQ(n, 1);
	in = l[0];
	free(l);
	return in;
}

static size_t n_intents(struct fx *f)
{
	struct meta_intent *l = NULL;
	size_t n = 0;

	CHECK_OK(ns_intent_list(f->ns, &l, &n));
	free(l);
	return n;
}

/* The pending delete of key, into *d (may be NULL): is there one? */
static bool pending_delete_get(struct fx *f, const char *key, struct meta_delete *d)
{
	struct meta_txn *t;
	struct meta_delete tmp;
	int rc;

	CHECK_OK(meta_txn_begin(f->me, false, &t));
	rc = meta_delete_get(t, key, strlen(key), d ? d : &tmp);
	meta_txn_abort(t);
	return rc == 0;
}

/* ... and its ETag into etag (may be NULL). */
static bool pending_delete(struct fx *f, const char *key, char etag[S3_ETAG_MAX])
{
	struct meta_delete d;
	bool has = pending_delete_get(f, key, &d);

	if (has && etag)
		snprintf(etag, S3_ETAG_MAX, "%s", d.etag);
	return has;
}

static enum ns_import_result imp(struct fx *f, uint64_t dir, const char *name, const char *etag,
				 uint64_t size)
{
	struct ns_import_entry e = { .name = name, .len = strlen(name), .size = size,
				     .mtime_s = 100, .etag = etag };
	enum ns_import_result r;
	uint64_t ino;

	CHECK_OK(ns_import_apply(f->ns, dir, &e, 1, meta_now_ns(), &r, &ino));
	return r;
}

/* ---- the table ---- */

static void test_meta_table(void)
{
	struct fx f;
	struct meta_txn *t;
	struct meta_intent *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
	char longkey[S3_KEY_MAX + 1];

	fx_open(&f);
	memset(longkey, 'k', S3_KEY_MAX);
	longkey[S3_KEY_MAX] = '\0';
	a->kind = META_INTENT_COPY;
	a->flags = META_INTENT_MOVED;
	a->ino = 77;
	a->gen = 5;
	a->dirty_gen = 9;
	a->size = 1ULL << 40;
	a->when_ns = -3;
	strcpy(a->token, "0011223344556677-8899aabbccddeeff");
	strcpy(a->etag, E0 "-3");
	strcpy(a->src_etag, E1);
	memcpy(a->src_key, longkey, sizeof longkey);
	a->src_len = S3_KEY_MAX;
	memcpy(a->key, longkey, sizeof longkey);
	a->key[S3_KEY_MAX - 1] = 'x';	/* same first bytes as the source: its own LMDB key */
	a->key_len = S3_KEY_MAX;
	CHECK_OK(meta_txn_begin(f.me, true, &t));
	CHECK_OK(meta_intent_put(t, a));
	CHECK_OK(meta_intent_get(t, a->key, a->key_len, b));
	CHECK_INT_EQ(b->kind, META_INTENT_COPY);
	CHECK_INT_EQ(b->flags, META_INTENT_MOVED);
	CHECK_U64_EQ(b->ino, 77);
	CHECK_U64_EQ(b->gen, 5);
	CHECK_U64_EQ(b->dirty_gen, 9);
	CHECK_U64_EQ(b->size, 1ULL << 40);
	CHECK_INT_EQ(b->when_ns, -3);
	CHECK_STR_EQ(b->token, a->token);
	CHECK_STR_EQ(b->etag, E0 "-3");
	CHECK_STR_EQ(b->src_etag, E1);
	CHECK_STR_EQ(b->src_key, longkey);
	CHECK_STR_EQ(b->key, a->key);
	/* the source key (same hashed head, other key) has no intent */
	CHECK_INT_EQ(meta_intent_get(t, longkey, S3_KEY_MAX, b), ENOENT);
	CHECK_INT_EQ(meta_intent_get(t, "", 0, b), ENOENT);
	a->token[0] = '\0';
	CHECK_INT_EQ(meta_intent_put(t, a), EINVAL);
	strcpy(a->token, "t");
	a->key_len = S3_KEY_MAX + 1;
	CHECK_INT_EQ(meta_intent_put(t, a), ENAMETOOLONG);
	a->key_len = S3_KEY_MAX;
	CHECK_OK(meta_intent_del(t, a->key, a->key_len));
	CHECK_OK(meta_intent_del(t, a->key, a->key_len));	/* none: fine */
	CHECK_INT_EQ(meta_intent_get(t, a->key, a->key_len, b), ENOENT);
	CHECK_OK(meta_txn_commit(t));
	free(a);
	free(b);
	fx_close(&f);
}

/* Tokens: this store's id first (the same across reopenings), then 64 random bits. */
static void test_tokens(void)
{
	struct fx f;
	char t1[META_TOKEN_MAX], t2[META_TOKEN_MAX], t3[META_TOKEN_MAX];

	fx_open(&f);
	CHECK_OK(ns_token_new(f.ns, t1));
	CHECK_OK(ns_token_new(f.ns, t2));
	CHECK_INT_EQ(strlen(t1), 33);
	CHECK(t1[16] == '-');
	CHECK(strcmp(t1, t2) != 0);
	CHECK_MEM_EQ(t1, t2, 17);
	ns_close(f.ns);
	meta_env_close(f.me);
	{
		struct meta_opts o = { .nosync = true };

		CHECK_OK(meta_env_open(f.dir, &o, &f.me));
		CHECK_OK(ns_open(f.me, &f.km, NULL, NULL, &f.ns));
	}
	CHECK_OK(ns_token_new(f.ns, t3));
	CHECK_MEM_EQ(t1, t3, 17);
	fx_close(&f);
	/* another store, another id */
	fx_open(&f);
	CHECK_OK(ns_token_new(f.ns, t3));
	CHECK(memcmp(t1, t3, 16) != 0);
	fx_close(&f);
}

/* Only the object that carries the token, with the size and ETag the intent expects. */
static void test_matches(void)
{
	struct meta_intent in;
	struct s3_object_info info;

	memset(&in, 0, sizeof in);
	in.kind = META_INTENT_PUT;
	strcpy(in.token, "aaaa-1111");
	strcpy(in.etag, E1);
	in.size = 10;
	info = landed("aaaa-1111", E1, 10);
	CHECK(ns_intent_matches(&in, &info));
	info = landed("aaaa-1111", "FEDCBA9876543210FEDCBA9876543210", 10);
	CHECK(ns_intent_matches(&in, &info));		/* hex case does not matter */
	info = landed("aaaa-2222", E1, 10);		/* another upload's */
	CHECK(!ns_intent_matches(&in, &info));
	info = landed("aaaa-1111", E2, 10);		/* our metadata over other bytes */
	CHECK(!ns_intent_matches(&in, &info));
	info = landed("aaaa-1111", E1, 11);
	CHECK(!ns_intent_matches(&in, &info));
	info = landed("aaaa-1111", E1, 10);
	info.n_meta = 1;				/* no token: another client's */
	CHECK(!ns_intent_matches(&in, &info));
	/* multipart ETags as the rule gives them */
	strcpy(in.etag, E1 "-3");
	info = landed("aaaa-1111", E1 "-3", 10);
	CHECK(ns_intent_matches(&in, &info));
	info = landed("aaaa-1111", E1 "-4", 10);
	CHECK(!ns_intent_matches(&in, &info));
	/* a copy of a multipart object: the server may choose the copy's ETag */
	in.kind = META_INTENT_COPY;
	info = landed("aaaa-1111", E2, 10);
	CHECK(ns_intent_matches(&in, &info));
	info = landed("aaaa-1111", E2, 9);
	CHECK(!ns_intent_matches(&in, &info));
	/* ... not of a single-part one: its MD5 is the copy's on every server */
	strcpy(in.etag, E1);
	info = landed("aaaa-1111", E2, 10);
	CHECK(!ns_intent_matches(&in, &info));
}

/* The upload landed, nothing changed since: recorded as committed, the file clean. A
 * listing before that shows the object without making it a conflict. */
static void test_settle_in_place(void)
{
	struct fx f;
	struct ns_commit *c = malloc(sizeof *c);
	struct meta_intent in;
	struct meta_inode st;
	struct s3_object_info info;
	char tok[META_TOKEN_MAX];
	uint64_t a, b;

	fx_open(&f);
	a = mk(&f, META_ROOT_INO, "a", META_T_REG);
	b = mk(&f, META_ROOT_INO, "b", META_T_REG);
	wr(&f, a, 10);
	wr(&f, b, 10);
	commit(&f, a, E0);
	commit(&f, b, E0);
	wr(&f, a, 20);
	wr(&f, b, 20);
	upload_cut(&f, a, c, tok, E1);
	CHECK_INT_EQ(imp(&f, META_ROOT_INO, "a", E1, 20), NS_IMP_UPLOADING);
	CHECK_OK(ns_getattr(f.ns, a, &st));
	CHECK_INT_EQ(st.sync, META_S_DIRTY);
	CHECK_STR_EQ(st.etag, E0);
	/* another object (or another size) at the key is no upload of ours */
	CHECK_INT_EQ(imp(&f, META_ROOT_INO, "b", E1, 20), NS_IMP_CONFLICT);
	in = one_intent(&f);
	CHECK_STR_EQ(in.key, "pfx/a");
	CHECK_STR_EQ(in.token, tok);
	CHECK_STR_EQ(in.etag, E1);
	CHECK_U64_EQ(in.size, 20);
	CHECK_U64_EQ(in.ino, a);
	info = landed(tok, E1, 20);
	CHECK(ns_intent_matches(&in, &info));
	CHECK_OK(ns_intent_done(f.ns, &in, &info));
	CHECK_OK(ns_getattr(f.ns, a, &st));
	CHECK_INT_EQ(st.sync, META_S_CLEAN);
	CHECK_STR_EQ(st.etag, E1);
	CHECK_U64_EQ(st.s3_size, 20);
	CHECK(st.flags & META_F_IN_S3);
	CHECK_U64_EQ(n_intents(&f), 0);
	CHECK_INT_EQ(ns_commit_prepare(f.ns, a, 0, c), EALREADY);
	free(c);
	fx_close(&f);
}

/* Written after the snapshot: the object is the new base; the file stays dirty and its
 * next upload is conditional on the object of ours, not on the one before it. */
static void test_settle_written_since(void)
{
	struct fx f;
	struct ns_commit *c = malloc(sizeof *c);
	struct meta_intent in;
	struct meta_inode st;
	struct s3_object_info info;
	char tok[META_TOKEN_MAX];
	uint64_t a;

	fx_open(&f);
	a = mk(&f, META_ROOT_INO, "a", META_T_REG);
	wr(&f, a, 10);
	commit(&f, a, E0);
	wr(&f, a, 20);
	upload_cut(&f, a, c, tok, E1);
	wr(&f, a, 30);
	in = one_intent(&f);
	info = landed(tok, E1, 20);
	CHECK_OK(ns_intent_done(f.ns, &in, &info));
	CHECK_OK(ns_getattr(f.ns, a, &st));
	CHECK_INT_EQ(st.sync, META_S_DIRTY);
	CHECK_STR_EQ(st.etag, E1);
	CHECK_OK(ns_commit_prepare(f.ns, a, 0, c));
	CHECK_STR_EQ(c->prev_etag, E1);
	CHECK_U64_EQ(c->in.size, 30);
	free(c);
	fx_close(&f);
}

/* Removed after the upload: the pending delete is of the object of ours (which a listing
 * does not bring back meanwhile); a new file never uploaded gets one too. */
static void test_settle_removed(void)
{
	struct fx f;
	struct ns_commit *c = malloc(sizeof *c);
	struct meta_intent in;
	struct meta_inode v;
	struct s3_object_info info;
	char tok[META_TOKEN_MAX], tok2[META_TOKEN_MAX], etag[S3_ETAG_MAX];
	uint64_t a, n;

	fx_open(&f);
	a = mk(&f, META_ROOT_INO, "a", META_T_REG);
	wr(&f, a, 10);
	commit(&f, a, E0);
	wr(&f, a, 20);
	upload_cut(&f, a, c, tok, E1);
	CHECK_OK(ns_remove(f.ns, META_ROOT_INO, "a", 1, false, &v, NULL));
	CHECK(pending_delete(&f, "pfx/a", etag));
	CHECK_STR_EQ(etag, E0);
	/* the listing shows the object of ours: not another client's change */
	CHECK_INT_EQ(imp(&f, META_ROOT_INO, "a", E1, 20), NS_IMP_UPLOADING);
	CHECK(pending_delete(&f, "pfx/a", etag));
	in = one_intent(&f);
	info = landed(tok, E1, 20);
	CHECK_OK(ns_intent_done(f.ns, &in, &info));
	CHECK(pending_delete(&f, "pfx/a", etag));
	CHECK_STR_EQ(etag, E1);
	CHECK_U64_EQ(n_intents(&f), 0);
	/* without an intent, the same listing is another client's change (S3 wins) */
	CHECK_INT_EQ(imp(&f, META_ROOT_INO, "a", E2, 20), NS_IMP_DELETE_LOST);

	n = mk(&f, META_ROOT_INO, "new", META_T_REG);
	wr(&f, n, 5);
	upload_cut(&f, n, c, tok2, E2);
	CHECK_OK(ns_remove(f.ns, META_ROOT_INO, "new", 3, false, &v, NULL));
	CHECK(!pending_delete(&f, "pfx/new", NULL));	/* it was never in S3 as far as ns knew */
	CHECK_INT_EQ(imp(&f, META_ROOT_INO, "new", E2, 5), NS_IMP_UPLOADING);
	in = one_intent(&f);
	info = landed(tok2, E2, 5);
	CHECK_OK(ns_intent_done(f.ns, &in, &info));
	CHECK(pending_delete(&f, "pfx/new", etag));
	CHECK_STR_EQ(etag, E2);
	free(c);
	fx_close(&f);
}

/* The delete pass against an upload still in flight (a commit from the control socket
 * while the worker's pass runs, or the other way round): the file was removed after its
 * PUT landed and before the upload was recorded, so its pending delete names the version
 * before, and the conditional DELETE fails on our own new object. That is not another
 * client's change: the delete stays (not dropped, no conflict), the upload's record gives
 * it the new ETag, and only then would a different object be S3's. (stress.sh found the
 * false conflict: the removed file came back.) */
static void test_delete_meets_own_upload(void)
{
	struct fx f;
	struct ns_commit *c = malloc(sizeof *c);
	struct meta_inode v;
	struct meta_delete d;
	struct s3_object_info info = { 0 };
	char tok[META_TOKEN_MAX], etag[S3_ETAG_MAX];
	bool dropped = true;
	uint64_t a;

	fx_open(&f);
	a = mk(&f, META_ROOT_INO, "a", META_T_REG);
	wr(&f, a, 10);
	commit(&f, a, E0);
	wr(&f, a, 20);
	upload_cut(&f, a, c, tok, E1);	/* the PUT has landed, its record not yet */
	CHECK_OK(ns_remove(f.ns, META_ROOT_INO, "a", 1, false, &v, NULL));
	CHECK(pending_delete_get(&f, "pfx/a", &d));
	CHECK_STR_EQ(d.etag, E0);
	/* the delete pass: DELETE if E0 fails, a HEAD shows E1 of 20 bytes: ours */
	CHECK_OK(ns_delete_lost(f.ns, "pfx/a", 5, d.when_ns, E1, 20, &dropped));
	CHECK(!dropped);
	CHECK(pending_delete(&f, "pfx/a", etag));
	CHECK_STR_EQ(etag, E0);
	/* the upload is recorded: the file is gone, so the delete now names its object */
	snprintf(info.etag, sizeof info.etag, "%s", E1);
	info.size = 20;
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	CHECK_U64_EQ(n_intents(&f), 0);
	CHECK(pending_delete(&f, "pfx/a", etag));
	CHECK_STR_EQ(etag, E1);
	/* with no upload in flight, a version the delete does not name is S3's: dropped */
	CHECK(pending_delete_get(&f, "pfx/a", &d));
	CHECK_OK(ns_delete_lost(f.ns, "pfx/a", 5, d.when_ns, E2, 20, &dropped));
	CHECK(dropped);
	CHECK(!pending_delete(&f, "pfx/a", NULL));
	free(c);
	fx_close(&f);
}

/* Renamed after the upload: the move starts from the object of ours, by a copy when the
 * file did not change since; never from the version before it. */
static void test_settle_renamed(void)
{
	struct fx f;
	struct ns_commit *c = malloc(sizeof *c);
	struct ns_rename_result *r = malloc(sizeof *r);
	struct meta_intent in;
	struct s3_object_info info;
	char tok[META_TOKEN_MAX], etag[S3_ETAG_MAX];
	uint64_t a;

	fx_open(&f);
	a = mk(&f, META_ROOT_INO, "a", META_T_REG);
	wr(&f, a, 10);
	commit(&f, a, E0);
	wr(&f, a, 20);
	upload_cut(&f, a, c, tok, E1);
	CHECK_OK(ns_rename(f.ns, META_ROOT_INO, "a", 1, META_ROOT_INO, "b", 1, r));
	in = one_intent(&f);
	info = landed(tok, E1, 20);
	CHECK_OK(ns_intent_done(f.ns, &in, &info));
	CHECK(!pending_delete(&f, "pfx/a", NULL));
	CHECK_OK(ns_commit_prepare(f.ns, a, 0, c));
	CHECK(c->moved);
	CHECK(c->copy);
	CHECK_STR_EQ(c->src_key, "pfx/a");
	CHECK_STR_EQ(c->src_etag, E1);
	CHECK_STR_EQ(c->key, "pfx/b");
	/* the move done: the old key goes, conditional on the object of ours */
	info = landed("x", E1, 20);
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	CHECK(pending_delete(&f, "pfx/a", etag));
	CHECK_STR_EQ(etag, E1);
	free(c);
	free(r);
	fx_close(&f);
}

/* The same without a crash: renamed while its upload ran, recorded by ns_commit_done. The
 * key is still the file's move source and now holds the object of ours: the move starts
 * from it (a copy when the file did not change since), and the old key's delete comes
 * with the move, conditional on that object. Before, the key got a delete of its own at
 * once (the move's source deleted under it) and the move kept the version before, whose
 * conditional delete then met our own object: a "changed_after_remove" conflict, and the
 * renamed-away file came back under its old name (the stress suite, seed 807401605). */
static void test_done_renamed_during_upload(void)
{
	struct fx f;
	struct ns_commit *c = malloc(sizeof *c);
	struct ns_rename_result *r = malloc(sizeof *r);
	struct s3_object_info info;
	char tok[META_TOKEN_MAX], etag[S3_ETAG_MAX];
	uint64_t a, b;

	fx_open(&f);
	a = mk(&f, META_ROOT_INO, "a", META_T_REG);
	b = mk(&f, META_ROOT_INO, "b", META_T_REG);
	wr(&f, a, 10);
	wr(&f, b, 10);
	commit(&f, a, E0);
	commit(&f, b, E0);
	/* a: unchanged after its rename -> copied from the object of ours */
	wr(&f, a, 20);
	upload_cut(&f, a, c, tok, E1);
	CHECK_OK(ns_rename(f.ns, META_ROOT_INO, "a", 1, META_ROOT_INO, "a2", 2, r));
	info = landed(tok, E1, 20);
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	CHECK_U64_EQ(n_intents(&f), 0);
	CHECK(!pending_delete(&f, "pfx/a", NULL));
	CHECK_OK(ns_commit_prepare(f.ns, a, 0, c));
	CHECK(c->moved);
	CHECK(c->copy);
	CHECK_STR_EQ(c->src_key, "pfx/a");
	CHECK_STR_EQ(c->src_etag, E1);
	info = landed("x", E1, 20);
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	CHECK(pending_delete(&f, "pfx/a", etag));
	CHECK_STR_EQ(etag, E1);
	/* b: written again after its rename -> uploaded; the old key's delete still names
	 * the object of ours */
	wr(&f, b, 20);
	upload_cut(&f, b, c, tok, E2);
	CHECK_OK(ns_rename(f.ns, META_ROOT_INO, "b", 1, META_ROOT_INO, "b2", 2, r));
	wr(&f, b, 30);
	info = landed(tok, E2, 20);
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	CHECK(!pending_delete(&f, "pfx/b", NULL));
	CHECK_OK(ns_commit_prepare(f.ns, b, 0, c));
	CHECK(c->moved);
	CHECK(!c->copy);
	CHECK_STR_EQ(c->src_etag, E2);
	info = landed("y", E1, 30);
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	CHECK(pending_delete(&f, "pfx/b", etag));
	CHECK_STR_EQ(etag, E2);
	free(c);
	free(r);
	fx_close(&f);
}

/* Below a directory renamed while the upload ran: the job moves the object of ours along
 * (the file is based on it, and clean), no delete of it, and no conflict when the job
 * lists it; whether the daemon's commit ends (ns_commit_done) or its intent is settled
 * after a crash (ns_intent_done). */
static void dir_renamed_during_upload(bool settle)
{
	struct fx f;
	struct ns_commit *c = malloc(sizeof *c);
	struct ns_rename_result *r = malloc(sizeof *r);
	struct meta_intent in;
	struct meta_inode st;
	struct meta_txn *t;
	struct s3_object_info info;
	char tok[META_TOKEN_MAX];
	uint64_t d, a, b;

	fx_open(&f);
	d = mk(&f, META_ROOT_INO, "d", META_T_DIR);
	a = mk(&f, d, "a", META_T_REG);
	wr(&f, a, 10);
	commit(&f, d, "");
	commit(&f, a, E0);
	wr(&f, a, 20);
	upload_cut(&f, a, c, tok, E1);
	CHECK_OK(ns_rename(f.ns, META_ROOT_INO, "d", 1, META_ROOT_INO, "e", 1, r));
	CHECK(r->job != 0);
	info = landed(tok, E1, 20);
	if (settle) {
		in = one_intent(&f);
		CHECK_OK(ns_intent_done(f.ns, &in, &info));
	} else {
		CHECK_OK(ns_commit_done(f.ns, c, &info));
	}
	CHECK(!pending_delete(&f, "pfx/d/a", NULL));
	CHECK_OK(ns_getattr(f.ns, a, &st));
	CHECK_INT_EQ(st.sync, META_S_CLEAN);
	CHECK_STR_EQ(st.etag, E1);
	CHECK_OK(meta_txn_begin(f.me, false, &t));
	CHECK_OK(meta_key_get(t, "pfx/d/a", 7, &b));
	meta_txn_abort(t);
	CHECK_U64_EQ(b, a);
	free(c);
	free(r);
	fx_close(&f);
}

static void test_done_dir_renamed_during_upload(void)
{
	dir_renamed_during_upload(false);
}

static void test_settle_dir_renamed(void)
{
	dir_renamed_during_upload(true);
}

/* A listing of an older version's daemon made the file a conflict over the object of
 * ours: settling finds the object is ours and undoes it. */
static void test_settle_undoes_conflict(void)
{
	struct fx f;
	struct ns_commit *c = malloc(sizeof *c);
	struct meta_intent in;
	struct meta_inode st;
	struct s3_object_info info;
	char tok[META_TOKEN_MAX];
	uint64_t a;

	fx_open(&f);
	a = mk(&f, META_ROOT_INO, "a", META_T_REG);
	wr(&f, a, 10);
	commit(&f, a, E0);
	wr(&f, a, 20);
	CHECK_OK(ns_commit_prepare(f.ns, a, 0, c));
	CHECK_INT_EQ(imp(&f, META_ROOT_INO, "a", E1, 20), NS_IMP_CONFLICT);
	CHECK_OK(ns_token_new(f.ns, tok));
	CHECK_OK(ns_intent_begin(f.ns, c, META_INTENT_PUT, tok, E1, 20));
	in = one_intent(&f);
	info = landed(tok, E1, 20);
	CHECK_OK(ns_intent_done(f.ns, &in, &info));
	CHECK_OK(ns_getattr(f.ns, a, &st));
	CHECK_INT_EQ(st.sync, META_S_CLEAN);
	CHECK_STR_EQ(st.etag, E1);
	free(c);
	fx_close(&f);
}

/* ns_commit_done ends the intent; a drop only drops the intent it names. */
static void test_done_and_drop(void)
{
	struct fx f;
	struct ns_commit *c = malloc(sizeof *c);
	struct meta_intent in, other;
	struct s3_object_info info = { 0 };
	char tok[META_TOKEN_MAX];
	uint64_t a;

	fx_open(&f);
	a = mk(&f, META_ROOT_INO, "a", META_T_REG);
	wr(&f, a, 10);
	upload_cut(&f, a, c, tok, E1);
	CHECK_U64_EQ(n_intents(&f), 1);
	strcpy(info.etag, E1);
	CHECK_OK(ns_commit_done(f.ns, c, &info));
	CHECK_U64_EQ(n_intents(&f), 0);

	wr(&f, a, 12);
	upload_cut(&f, a, c, tok, E2);
	in = one_intent(&f);
	other = in;
	strcpy(other.token, "someone-else");
	CHECK_OK(ns_intent_drop(f.ns, &other));
	CHECK_U64_EQ(n_intents(&f), 1);
	CHECK_OK(ns_intent_drop(f.ns, &in));
	CHECK_U64_EQ(n_intents(&f), 0);
	free(c);
	fx_close(&f);
}

/* ---- the S3 client against the real RGW ---- */

static struct check_rgw rgw;
static char prefix[128];

struct hook_seen {
	char etag[S3_ETAG_MAX];
	int calls;
	int fail;		/* returned by the hook */
};

static int etag_hook(void *arg, const char *key, const char *etag)
{
	struct hook_seen *h = arg;

	(void)key;
	h->calls++;
	snprintf(h->etag, sizeof h->etag, "%s", etag);
	return h->fail;
}

static const char *meta_value(const struct s3_object_info *info, const char *name)
{
	for (unsigned i = 0; i < info->n_meta; i++)
		if (strcmp(info->meta[i].name, name) == 0)
			return info->meta[i].value;
	return NULL;
}

/* The ETag announced before the request is the one RGW gives the object: single PUT,
 * multipart (MD5 of the part MD5s, "-N": RGW follows the rule), and a copy with REPLACEd
 * metadata keeps the source's ETag (single and multipart) and takes the token. A hook
 * that fails sends nothing. */
static void test_rgw_etags(void)
{
	struct s3_config cfg;
	struct s3_client *s3 = NULL;
	struct s3_meta_pair mp = { .name = NS_TOKEN_META, .value = "0011-2233" };
	struct hook_seen h = { "", 0, 0 };
	struct s3_put_opts o = { .n_meta = 1, .meta = &mp, .etag_hook = etag_hook,
				 .etag_hook_arg = &h };
	struct s3_object_info out, hd;
	char k1[256], k2[256], k3[256], k4[256], k5[256], path[4200];
	size_t big = 11u << 20;
	char *buf = malloc(big);
	int fd;

	CHECK(buf != NULL);
	check_rgw_s3_config(&rgw, &cfg);
	cfg.part_size = 5u << 20;
	cfg.multipart_threshold = 8u << 20;
	CHECK_OK(s3_client_open(&cfg, &s3));
	snprintf(k1, sizeof k1, "%ssingle", prefix);
	snprintf(k2, sizeof k2, "%smulti", prefix);
	snprintf(k3, sizeof k3, "%scopy1", prefix);
	snprintf(k4, sizeof k4, "%scopy2", prefix);
	snprintf(k5, sizeof k5, "%srefused", prefix);
	for (size_t i = 0; i < big; i++)
		buf[i] = (char)(i * 2654435761u >> 13);

	CHECK_OK(s3_object_put_buf(s3, k1, buf, 1000, &o, &out));
	CHECK_INT_EQ(h.calls, 1);
	CHECK_OK(s3_object_head(s3, k1, &hd));
	CHECK_STR_EQ(h.etag, hd.etag);
	CHECK_STR_EQ(meta_value(&hd, NS_TOKEN_META), "0011-2233");

	snprintf(path, sizeof path, "%s/big", check_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK(write(fd, buf, big) == (ssize_t)big);
	h.calls = 0;
	CHECK_OK(s3_object_put_fd(s3, k2, fd, 0, big, &o, &out));
	close(fd);
	CHECK_INT_EQ(h.calls, 1);
	CHECK(strstr(h.etag, "-3") != NULL);
	CHECK_OK(s3_object_head(s3, k2, &hd));
	CHECK_STR_EQ(h.etag, hd.etag);
	CHECK_U64_EQ(hd.size, big);

	/* copies (no hook): the source's ETag stays, the REPLACEd token comes along */
	strcpy(mp.value, "4455-6677");
	h.calls = 0;
	CHECK_OK(s3_object_copy(s3, k1, k3, &o, NULL, &out));
	CHECK_OK(s3_object_copy(s3, k2, k4, &o, NULL, &out));
	CHECK_INT_EQ(h.calls, 0);
	CHECK_OK(s3_object_head(s3, k3, &hd));
	CHECK_STR_EQ(meta_value(&hd, NS_TOKEN_META), "4455-6677");
	CHECK_OK(s3_object_head(s3, k1, &out));
	CHECK_STR_EQ(hd.etag, out.etag);
	CHECK_OK(s3_object_head(s3, k4, &hd));
	CHECK_OK(s3_object_head(s3, k2, &out));
	CHECK_STR_EQ(hd.etag, out.etag);
	CHECK_STR_EQ(meta_value(&hd, NS_TOKEN_META), "4455-6677");

	/* the hook says no: nothing is sent */
	h.fail = EROFS;
	CHECK_INT_EQ(s3_object_put_buf(s3, k5, buf, 10, &o, &out), EROFS);
	CHECK_INT_EQ(s3_object_head(s3, k5, &hd), ENOENT);
	{
		const char *keys[] = { k1, k2, k3, k4 };
		int rcs[4];

		CHECK_OK(s3_objects_delete(s3, keys, 4, rcs));
	}
	s3_client_close(s3);
	free(buf);
}

int main(void)
{
	check_suite = "test_upload_intent";
	CHECK_RUN(test_meta_table);
	CHECK_RUN(test_tokens);
	CHECK_RUN(test_matches);
	CHECK_RUN(test_settle_in_place);
	CHECK_RUN(test_settle_written_since);
	CHECK_RUN(test_settle_removed);
	CHECK_RUN(test_delete_meets_own_upload);
	CHECK_RUN(test_settle_renamed);
	CHECK_RUN(test_done_renamed_during_upload);
	CHECK_RUN(test_done_dir_renamed_during_upload);
	CHECK_RUN(test_settle_dir_renamed);
	CHECK_RUN(test_settle_undoes_conflict);
	CHECK_RUN(test_done_and_drop);
	if (check_rgw_load(&rgw) == 0) {
		snprintf(prefix, sizeof prefix, "test-upload-intent/%d/", (int)getpid());
		CHECK_RUN(test_rgw_etags);
	}
	return check_done();
}
