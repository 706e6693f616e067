#!/usr/bin/env bash
# make bench: benchmarks, each printed with the goal it is measured against and, where a
# peer does the same job, the ratio to that peer measured in this same run.
#
#   1. metadata store scale (bench_meta): bytes per object, LIST-page (1,000 entries, one
#      transaction) insert rate and random lookup rate, at each size in BENCH_META_SIZES
#      (default "1000000 10000000"). Goal: <= 300 bytes per object.
#   2. S3 parallel ranged GET (core/s3 via s3f_s3 get-parallel, 8 streams) against plain
#      curl, 8 processes each fetching one eighth of the object with a Range GET, from the
#      same RGW, same object (BENCH_GET_MB, default 512 MiB), best of BENCH_ROUNDS (3).
#      Goal: >= 0.95x curl. BENCH_GET_MB=0 skips it.
#   3. file-system workloads (test/bench/fs.sh): cold metadata (ls -l of a 10,000-entry
#      directory, find of 100,000 objects), sequential read and write of 1 GiB, 1,000 small
#      files written and read back, for s3files, s3fs and rclone, every client in the same
#      qemu guest, next to host-side floors (bare LIST, parallel GET, s3cmd put, PUTs).
#      Sizes: BENCH_COLD_OBJECTS, BENCH_COLD_BIG, BENCH_SEQ_MB, BENCH_SMALL; BENCH_CAP
#      (seconds before a measurement is stopped), BENCH_PEERS, BENCH_WORKLOADS (see fs.sh;
#      BENCH_WORKLOADS=none skips the part).
#   4. at the server (test/bench/server.sh): a user-space libnfs client on the host with many
#      requests in flight (s3f_nfsload) against s3files and against ganesha's own FSAL_VFS on
#      the same disk, and raw S3 (curl x8) for cold data: creates, 3 KiB writes, warm stat,
#      hot and cold reads (4/16/64 in flight), random cold reads, per-request latency, a
#      cold 10,000-entry listing; ratios to the limits, JSON in bench-out/server.json and a
#      chart in bench-out/server.png. BENCH_SERVER=0 skips the part.
#   5. sizing (test/bench/sizing.sh): LMDB and data-tier bytes per object, memory per
#      read-bypass stream, open descriptors, resident memory, on a real gateway: the
#      figures of doc/DEPLOY.md's sizing guide. BENCH_SIZING=0 skips the part.
#   6. scale-out (test/bench/scaleout.sh): the namespace's create, lookup and readdir
#      transactions on LMDB, on a single-node etcd and on RADOS omap (the RGW's cluster),
#      1 and 16 clients: the table of doc/SCALE-OUT.md. About 5 minutes.
#      BENCH_SCALEOUT=0 skips the part.
#
# Uses S3_ENDPOINT/S3_BUCKET/AWS_* when S3_ENDPOINT is set, else starts its own RGW in
# $BUILD/bench-rgw and stops it at the end (that RGW keeps the cold tree of part 3 for the
# next run; everything else the run put is deleted). Scratch space: $BUILD/bench-work
# (removed); logs of the guests and the gateway: $BUILD/bench-out. The last lines are a
# summary, one "BENCH name value unit (...)" line per number.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build}
WORK=$BUILD/bench-work
LOGS=$BUILD/bench-out
SIZES=${BENCH_META_SIZES-1000000 10000000}
GET_MB=${BENCH_GET_MB:-512}
ROUNDS=${BENCH_ROUNDS:-3}
STREAMS=8

rm -rf "$WORK" "$LOGS"
mkdir -p "$WORK" "$LOGS"
SUMMARY=$WORK/summary
: > "$SUMMARY"
RGW_STARTED=0
. test/bench/fs.sh
. test/bench/server.sh
. test/bench/sizing.sh
cleanup() {
  sv_cleanup
  sz_cleanup
  fs_cleanup
  [ $RGW_STARTED = 1 ] && test/lib/rgw.sh stop "$BUILD/bench-rgw" >/dev/null 2>&1 || true
  mv "$WORK/summary" "$BUILD/bench-summary.txt" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
line() { printf 'BENCH %s\n' "$*" | tee -a "$SUMMARY"; }
kv() { sed -n "s/^$2=//p" "$1"; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
is() { awk "BEGIN { exit !($1) }"; }

# ---- 1. metadata scale ----
for n in $SIZES; do
  echo "=== metadata store: $n objects"
  d=$WORK/meta-$n
  "$BUILD/bench/bench_meta" -n "$n" -p 1000 -l 1000000 "$d" > "$WORK/meta-$n.out" \
    2> >(grep -v ' INFO meta ' >&2)
  cat "$WORK/meta-$n.out"
  bpo=$(kv "$WORK/meta-$n.out" bytes_per_object)
  ok=no; [ "$bpo" -le 300 ] && ok=yes
  line "meta_bytes_per_object@$n $bpo B (goal <= 300: $ok)"
  line "meta_insert_objects_per_s@$n $(kv "$WORK/meta-$n.out" insert_objects_per_s) objects/s (1,000-entry LIST page per fsync'd transaction, p50 $(kv "$WORK/meta-$n.out" page_ms_p50) ms, p99 $(kv "$WORK/meta-$n.out" page_ms_p99) ms)"
  line "meta_lookups_per_s@$n $(kv "$WORK/meta-$n.out" lookups_per_s) lookups/s (random, one read transaction each)"
  rm -rf "$d"
done

# ---- 2. parallel ranged GET vs curl ----
if [ -z "${S3_ENDPOINT:-}" ]; then
  echo "=== starting RGW in $BUILD/bench-rgw"
  RGW_BUCKETS=s3files-bench test/lib/rgw.sh start "$BUILD/bench-rgw" > "$WORK/rgw.out" 2>&1 || {
    cat "$WORK/rgw.out" >&2; exit 1; }
  RGW_STARTED=1
  set -a; . "$BUILD/bench-rgw/env"; set +a
fi
: "${S3_BUCKET:?}"
export S3_REGION=${S3_REGION:-us-east-1}
. test/lib/s3.sh

if [ "$GET_MB" -gt 0 ]; then
  KEY=s3files-bench/get-$$.bin
  SRC=$WORK/src.bin
  size=$((GET_MB << 20))
  echo "=== parallel GET: $GET_MB MiB object, $STREAMS streams, best of $ROUNDS"
  head -c "$size" /dev/urandom > "$SRC"
  want=$(sha256sum < "$SRC" | cut -d' ' -f1)
  "$BUILD/bin/s3f_s3" put "$KEY" "$SRC" 2>&1 | sed 's/^/    /'
  rm -f "$SRC"

  best_s3f=
  best_curl=
  for r in $(seq "$ROUNDS"); do
    # ours: one process, STREAMS ranged GETs in flight on one curl multi handle
    out=$WORK/s3f.bin
    rm -f "$out"
    t0=$(now)
    "$BUILD/bin/s3f_s3" -s "$STREAMS" -c "$STREAMS" get-parallel "$KEY" "$out" 2>/dev/null
    t1=$(now)
    [ "$(sha256sum < "$out" | cut -d' ' -f1)" = "$want" ] || { echo "s3f_s3: wrong bytes" >&2; exit 1; }
    rm -f "$out"
    s=$(calc "$t1 - $t0")

    # peer: STREAMS curl processes, one Range each, into part files
    part=$(( (size + STREAMS - 1) / STREAMS ))
    t0=$(now)
    pids=()
    for i in $(seq 0 $((STREAMS - 1))); do
      a=$((i * part)); b=$((a + part - 1)); [ $b -ge $size ] && b=$((size - 1))
      s3_curl GET "$S3_BUCKET" "$KEY" -r "$a-$b" -o "$WORK/part.$i" --fail &
      pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    t1=$(now)
    [ "$(cat $(for i in $(seq 0 $((STREAMS - 1))); do echo "$WORK/part.$i"; done) | sha256sum | cut -d' ' -f1)" = "$want" ] ||
      { echo "curl: wrong bytes" >&2; exit 1; }
    rm -f "$WORK"/part.*
    c=$(calc "$t1 - $t0")
    printf '    round %d: s3files %.3f s (%.0f MB/s), curl x%d %.3f s (%.0f MB/s)\n' "$r" "$s" \
      "$(calc "$size / $s / 1000000")" "$STREAMS" "$c" "$(calc "$size / $c / 1000000")"
    if [ -z "$best_s3f" ] || is "$s < $best_s3f"; then best_s3f=$s; fi
    if [ -z "$best_curl" ] || is "$c < $best_curl"; then best_curl=$c; fi
  done
  "$BUILD/bin/s3f_s3" rm "$KEY" >/dev/null 2>&1 || true

  mbs_s3f=$(printf '%.0f' "$(calc "$size / $best_s3f / 1000000")")
  mbs_curl=$(printf '%.0f' "$(calc "$size / $best_curl / 1000000")")
  ratio=$(printf '%.2f' "$(calc "$best_curl / $best_s3f")")
  ok=no; is "$ratio >= 0.95" && ok=yes
  line "s3_parallel_get $mbs_s3f MB/s vs curl x$STREAMS $mbs_curl MB/s = ${ratio}x (goal >= 0.95x: $ok; $GET_MB MiB, best of $ROUNDS)"
fi

# ---- 3. file-system workloads, s3files vs s3fs and rclone ----
if [ "${BENCH_WORKLOADS:-}" != none ]; then
  bench_fs || { echo "file-system workloads: failed (logs in $LOGS)" >&2; FS_FAILED=1; }
fi

# ---- 4. at the server: s3files against FSAL_VFS and raw S3, through s3f_nfsload ----
if [ "${BENCH_SERVER:-1}" != 0 ]; then
  bench_server || { echo "server-side measurements: failed (logs in $LOGS)" >&2; FS_FAILED=1; }
fi

# ---- 5. sizing: the figures of doc/DEPLOY.md's sizing guide ----
if [ "${BENCH_SIZING:-1}" != 0 ]; then
  bench_sizing || { echo "sizing measurements: failed (logs in $LOGS)" >&2; FS_FAILED=1; }
fi

# ---- 6. scale-out: the namespace's transactions on etcd and RADOS next to LMDB ----
if [ "${BENCH_SCALEOUT:-1}" != 0 ]; then
  # the RGW's cluster when this run started one (its RADOS is the one measured)
  so_rgw=; [ $RGW_STARTED = 1 ] && so_rgw=$BUILD/bench-rgw
  if SCALEOUT_RGW_DIR=$so_rgw test/bench/scaleout.sh > "$LOGS/scaleout.out" 2>&1; then
    grep '^|' "$LOGS/scaleout.out"
    grep '^BENCH ' "$LOGS/scaleout.out" | tee -a "$SUMMARY"
  else
    tail -20 "$LOGS/scaleout.out" >&2
    echo "scale-out measurements: failed (logs in $LOGS)" >&2; FS_FAILED=1
  fi
fi

echo
echo "=== summary (also in $BUILD/bench-summary.txt)"
cat "$SUMMARY"
[ "${FS_FAILED:-0}" = 0 ]
