#!/usr/bin/python3
"""race_mutants.py — each fix of the data-tier ownership protocol, reverted one at a time
in a scratch copy of the tree, must make its race case (in test_race, or another unit binary) fail.

For every mutant: copy core/, test/unit/ and the Makefile to a scratch directory (with
the sanitizer build's objects, times kept, so only the mutated file is compiled again),
replace one exact piece of text (which must occur exactly once: a mutant that no longer
applies is a failure, to be updated with the code), build the case's binary, run it against the
shared RGW ($RGW_TEST_DIR) and expect a FAIL line for the case the fix protects.

Prints "PASS race_mutants/<name>" when the mutant is killed, "FAIL ..." otherwise.
Usage: race_mutants.py            (from the project root; BUILD as test/run.sh sets it)
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", os.path.join(ROOT, "build"))

# name, file, original text, reverted text, the case that must fail (in test_race, or
# "binary:case" for another unit binary). A mutant may list several (original, reverted)
# pairs in one file, as a tuple of pairs. A case is killed when it prints FAIL or the
# sanitizer reports an error (a use after free aborts the binary).
MUTANTS = [
    ("install_without_recheck", "core/engine/hydrate.c",
     (("\tif (in.data == META_D_FULL)\n\t\tgoto out;\n\t/* still = fetched",
       "\t/* still = fetched"),
      ("rc = rangeset_missing(&have, lo, hi, &part);",
       "rc = rangeset_missing(&part, lo, hi, &part);")),
     None,
     "test_prefetch_vs_write"),
    ("install_over_present_ranges", "core/engine/hydrate.c",
     "rc = rangeset_missing(&have, lo, hi, &part);",
     "rc = rangeset_missing(&part, lo, hi, &part);",
     "test_hydrate_vs_write"),
    ("read_record_before_lock", "core/engine/fio.c",
     "\t\trc = data_file_open_locked(x->data, ino, DATA_CREATE, false, &fd);\n"
     "\t\tif (rc)\n\t\t\tbreak;\n\t\tTP(\"fio.read.locked\");\n"
     "\t\trc = fio_present(x, ino, &have, &in);\n",
     "\t\trc = fio_present(x, ino, &have, &in);\n"
     "\t\tif (rc == 0)\n"
     "\t\t\trc = data_file_open_locked(x->data, ino, DATA_CREATE, false, &fd);\n"
     "\t\tif (rc)\n\t\t\tbreak;\n\t\tTP(\"fio.read.locked\");\n",
     "test_read_vs_evict"),
    ("write_decides_from_old_record", "core/engine/fio.c",
     (("\t\tif (rc == 0 && fio_must_announce(&in))\n"
       "\t\t\trc = ns_write_begin(x->ns, ino, &in);\n"
       "\t\t/* Where the file ends",
       "\t\tif (rc == 0 && fio_must_announce(&in)) {\n"
       "\t\t\tstruct meta_inode old;\n\n"
       "\t\t\trc = ns_write_begin(x->ns, ino, &old);\n\t\t}\n"
       "\t\t/* Where the file ends"),),
     None,
     "test_write_vs_import"),
    ("resize_decides_from_old_record", "core/engine/fio.c",
     (("\t\tif (rc == 0 && fio_must_announce(&in) &&\n"
       "\t\t    (size != in.size || in.sync == META_S_CLEAN))\n"
       "\t\t\trc = ns_write_begin(x->ns, ino, &in);",
       "\t\tif (rc == 0 && fio_must_announce(&in) &&\n"
       "\t\t    (size != in.size || in.sync == META_S_CLEAN)) {\n"
       "\t\t\tstruct meta_inode old;\n\n"
       "\t\t\trc = ns_write_begin(x->ns, ino, &old);\n\t\t}"),),
     None,
     "test_resize_vs_import"),
    ("write_ignores_pending_end", "core/engine/fio.c",
     "\t\tif (p >= 0 && st->pending[p].end > end)\n\t\t\tend = st->pending[p].end;\n",
     "\t\t(void)p;\n",
     "test_write_vs_pending_write"),
    ("resize_ignores_pending_writes", "core/engine/fio.c",
     "\twhile (fio_pending_find(st, x, ino) >= 0)\n\t\tpthread_cond_wait(&st->idle, &st->lock);",
     "\t(void)x;\n\t(void)ino;",
     "test_resize_vs_pending_write"),
    ("announce_only_clean", "core/engine/fio.c",
     "\treturn in->sync == META_S_CLEAN || !(in->flags & META_F_CHANGING);",
     "\treturn in->sync == META_S_CLEAN;",
     "test_announce_before_bytes"),
    ("stable_write_without_store_sync", "core/engine/fio.c",
     "\t\tif (rc == 0 && w->stable)\n\t\t\trc = ns_sync(x->ns);\n",
     "",
     "test_stable_syncs_store"),
    ("read_skips_fetch_after_evict", "core/engine/fio.c",
     "\t\tif (in.data == META_D_FULL)\n\t\t\trangeset_clear(&miss);\n",
     "\t\tif (in.data == META_D_FULL || in.data == META_D_NONE)\n\t\t\trangeset_clear(&miss);\n",
     "test_install_vs_evict"),
    ("deferred_entry_drops_lock", "core/engine/fio.c",
     "\t\t*fd = -1;\n\t}\n\tif (off < d->off)",
     "\t\tdata_file_unlock(*fd);\n\t\t*fd = -1;\n\t}\n\tif (off < d->off)",
     "test_deferred_vs_snapshot"),
    ("exclusive_waits_for_own_deferred", "core/engine/fio.c",
     "\tdata_tier_on_exclusive(x->data, fio_log_own, fio_log_orphan, x);\n",
     "\t(void)fio_log_own;\n\tdata_tier_on_exclusive(x->data, NULL, fio_log_orphan, x);\n",
     "test_deferred_own_exclusive"),
    ("read_without_deferred", "core/engine/fio.c",
     "\trc = ns_data_present(x->ns, ino, have, in);\n"
     "\tif (rc == 0)\n"
     "\t\tfio_deferred_merge(st, x, ino, in);\n",
     "\trc = ns_data_present(x->ns, ino, have, in);\n",
     "test_deferred_visible"),
    ("resize_before_deferred", "core/engine/fio.c",
     "\tif ((d = fio_deferred_find(fio_stripe(ino), x, ino)) != NULL)\n"
     "\t\trc = fio_deferred_fold(d);\n",
     "\t(void)d;\n",
     "test_deferred_then_resize"),
    ("exclusive_ignores_dead_writer", "core/engine/fio.c",
     "\tdata_tier_on_exclusive(x->data, fio_log_own, fio_log_orphan, x);\n",
     "\t(void)fio_log_orphan;\n\tdata_tier_on_exclusive(x->data, fio_log_own, NULL, x);\n",
     "test_deferred_writer_dies"),
    ("deferred_not_logged", "core/engine/fio.c",
     "\tfio_slot_write(d);\n\tTP(\"fio.write.deferred\");",
     "\t(void)fio_slot_write;\n\tTP(\"fio.write.deferred\");",
     "test_deferred_writer_dies"),
    ("recovery_ignores_base", "core/ns/ns_write.c",
     "\tif (c->if_change && in->change != *c->if_change)\n\t\treturn ECANCELED;\n",
     "",
     "test_deferred_stale_log"),
    # a chunk borrowed from a peer's read-bypass window holds the peer's stream
    ("borrowed_chunk_without_stream", "core/engine/readahead.c",
     (("\t\t\t\t\tpc->refs++;\n\t\t\t\t\tp->refs++;\n",
       "\t\t\t\t\tpc->refs++;\n"),
      ("\t\tif (hs[i - first] != s)\n\t\t\tra_put(ra, hs[i - first]);\n",
       "\t\t(void)s;\n")),
     None,
     "test_readahead:test_shared_release_mid_copy"),
    ("renamed_upload_deletes_move_source", "core/ns/ns_commit.c",
     "\tif (have_in && ns_key_binds(t, c->key, c->key_len, in->ino)) {",
     "\tif (x->settle && have_in && ns_key_binds(t, c->key, c->key_len, in->ino)) {",
     "test_upload_intent:test_done_renamed_during_upload"),
    ("sync_rides_a_group_that_committed_nothing", "core/store/meta.c",
     "\t\tif (meta_durable_locked(me, need)) {\n\t\t\tme->rides++;",
     "\t\tif (meta_durable_locked(me, need) || 1) {\n\t\t\tme->rides++;",
     "test_meta:test_sync_rides_group_commit"),
    ("listing_shows_renamed_out_dir", "core/ns/ns_import.c",
     "\t\t\tif ((rc = ns_prefix_held(t, key, keylen, &pending)))",
     "\t\t\tif (0 && (rc = ns_prefix_held(t, key, keylen, &pending)))",
     "test_ns_sync:test_renamed_out_dir_stays_removed"),
    ("listing_shows_uploading_dir", "core/ns/ns.c",
     "\tif (rc == 0 && !*held)\n\t\trc = meta_intent_any_under(t, prefix, len, held);",
     "\tif (0)\n\t\trc = meta_intent_any_under(t, prefix, len, held);",
     "test_ns_sync:test_uploading_dir_stays_removed"),
]


def run(cmd, cwd, env=None, timeout=900):
    return subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def main():
    only = set(sys.argv[1:])
    failed = 0
    if not os.environ.get("RGW_TEST_DIR"):
        print("FAIL race_mutants/setup: RGW_TEST_DIR is not set (test/run.sh sets it)")
        return 1
    for name, path, orig, mutated, case in MUTANTS:
        if only and name not in only:
            continue
        binary, case = case.split(":", 1) if ":" in case else ("test_race", case)
        killed = re.compile(r"^FAIL %s/%s\b|ERROR: AddressSanitizer" %
                            (re.escape(binary), re.escape(case)), re.M)
        tmp = tempfile.mkdtemp(prefix="s3f-mutant-")
        try:
            for d in ("core", "test/unit", "test/fuzz"):
                shutil.copytree(os.path.join(ROOT, d), os.path.join(tmp, d), symlinks=True)
            shutil.copy2(os.path.join(ROOT, "Makefile"), tmp)
            # the sanitizer objects of core, so that only the mutated file is rebuilt
            src_obj = os.path.join(BUILD, "asan", "obj")
            if os.path.isdir(src_obj):
                shutil.copytree(src_obj, os.path.join(tmp, "build", "asan", "obj"))
            f = os.path.join(tmp, path)
            text = open(f).read()
            pairs = orig if mutated is None else ((orig, mutated),)
            bad = [t.count(o) for t in [text] for o, _ in pairs if text.count(o) != 1]
            if bad:
                print(f"FAIL race_mutants/{name}: an original text occurs {bad[0]} times in "
                      f"{path} (update the mutant with the code)")
                failed += 1
                continue
            for o, m in pairs:
                text = text.replace(o, m)
            open(f, "w").write(text)
            b = run(["make", "-j2", "BUILD=" + os.path.join(tmp, "build"),
                     os.path.join(tmp, "build", "asan", "test", binary)], tmp)
            if b.returncode != 0:
                print(f"FAIL race_mutants/{name}: the mutant does not build")
                print("\n".join("# " + l for l in b.stdout.splitlines()[-15:]))
                failed += 1
                continue
            env = dict(os.environ)
            env["S3F_TEST_TMP"] = os.path.join(tmp, "t")
            env["CHECK_ONLY"] = case	# its case alone: others may hang without the fix
            try:
                r = run([os.path.join(tmp, "build", "asan", "test", binary)], tmp,
                        env=env, timeout=240)
            except subprocess.TimeoutExpired as e:
                out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
                if killed.search(out):
                    print(f"PASS race_mutants/{name}: {case} fails without the fix (then hangs)")
                    continue
                print(f"FAIL race_mutants/{name}: {binary} hung with the fix reverted")
                print("\n".join("# " + l for l in out.splitlines()[-10:]))
                failed += 1
                continue
            if killed.search(r.stdout):
                print(f"PASS race_mutants/{name}: {case} fails without the fix")
            else:
                print(f"FAIL race_mutants/{name}: {case} still passes with the fix reverted")
                print("\n".join("# " + l for l in r.stdout.splitlines()[-10:]))
                failed += 1
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
