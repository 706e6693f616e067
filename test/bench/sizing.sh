# test/bench/sizing.sh — part 5 of `make bench` (sourced by run.sh): the figures of the
# sizing guide (doc/DEPLOY.md, "Sizing"), measured on a real gateway, not guessed:
#
#   sizing_lmdb_bytes_per_object   LMDB pages in use after the first listing of
#                                  BENCH_SIZING_OBJECTS (20,000) objects, per object
#                                  (mdb_stat -e), with their small-file data fetched
#   sizing_tier_bytes_per_small_file  data tier blocks (du) per fetched 100-byte object
#   sizing_stream_memory           ganesha's resident memory during 4 cold sequential
#                                  readers (4 read-bypass streams) of a
#                                  BENCH_SIZING_STREAM_MB (256) MiB object, minus before,
#                                  per stream (sampled every 50 ms, peak)
#   sizing_fds                     open descriptors of ganesha and s3files-syncd idle, and
#                                  of ganesha at the peak of 16 concurrent creates
#   sizing_rss_idle                resident memory of both processes idle
# BENCH_SIZING=0 skips the part.

SZ_STACK=

sz_cleanup() {
  [ -n "$SZ_STACK" ] && s3f_stack_stop "$SZ_STACK" >/dev/null 2>&1
  SZ_STACK=
}

sz_rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
sz_fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }

# sz_peak PID OUT: sample PID's VmRSS (KiB) and descriptor count every 50 ms into OUT
# ("rss fds" lines) until killed.
sz_peak() {
  while :; do
    echo "$(sz_rss_kib "$1") $(sz_fds "$1")"
    sleep 0.05
  done >"$2"
}

bench_sizing() {
  local n=${BENCH_SIZING_OBJECTS:-20000} smb=${BENCH_SIZING_STREAM_MB:-256}
  local pfx gp sp used0 used1 psz tier rss0 rss1 url i pids sampler src
  S3F_ROOT=$ROOT S3F_BUILD=$BUILD
  . "$ROOT/test/lib/s3files.sh"
  command -v mdb_stat >/dev/null || { echo "  mdb_stat (lmdb-utils) is not installed" >&2; return 1; }
  echo "=== sizing: LMDB and data tier per object, memory per read stream, descriptors"
  pfx=s3files-bench/sz-$$/
  SZ_STACK=$WORK/sz-stack
  rm -rf "$SZ_STACK"
  S3_PREFIX=$pfx S3FILES_COMMIT_INTERVAL=3600 s3f_stack_start "$SZ_STACK" >>"$LOGS/sizing.out" 2>&1 ||
    { echo "  s3files did not start (see $LOGS/sizing.out)" >&2; return 1; }
  gp=$(cat "$SZ_STACK/ganesha.pid"); sp=$(cat "$SZ_STACK/syncd.pid")
  url="nfs://127.0.0.1/s3files?version=4&nfsport=$(cat "$SZ_STACK/nfs_port")"
  sleep 2
  line "sizing_rss_idle ganesha $(( $(sz_rss_kib "$gp") / 1024 )) MiB, s3files-syncd $(( $(sz_rss_kib "$sp") / 1024 )) MiB (one export, nothing cached)"
  line "sizing_fds_idle ganesha $(sz_fds "$gp"), s3files-syncd $(sz_fds "$sp") open descriptors"

  # metadata and data tier per object: a first listing of n small objects, their data
  # fetched in the background by the daemon
  used0=$(mdb_stat -e "$SZ_STACK/state/meta" 2>/dev/null | awk '/Number of pages used/ { print $NF }')
  psz=$(mdb_stat -e "$SZ_STACK/state/meta" 2>/dev/null | awk '/Page size/ { print $NF }')
  "$BUILD/bin/s3f_s3" -c 16 put-tree "${pfx}t/" "$n" "$n" >/dev/null 2>>"$LOGS/sizing.out" || return 1
  "$BUILD/bench/s3f_nfsload" "$url" ls -f t/big >/dev/null 2>>"$LOGS/sizing.out" || return 1
  for i in $(seq 1 600); do
    tier=$(du -sk "$SZ_STACK/state/data" 2>/dev/null | cut -f1)
    [ "$((tier * 1024))" -ge $((n * 4096)) ] && break
    sleep 0.5
  done
  used1=$(mdb_stat -e "$SZ_STACK/state/meta" 2>/dev/null | awk '/Number of pages used/ { print $NF }')
  tier=$(du -sk "$SZ_STACK/state/data" | cut -f1)
  line "sizing_lmdb_bytes_per_object $(( (used1 - used0) * psz / n )) B ($n objects of 100 B listed and fetched; LMDB pages in use, mdb_stat -e)"
  line "sizing_tier_bytes_per_small_file $(( tier * 1024 / n )) B ($n files of 100 B fetched: one sparse file each, whole blocks)"

  # memory per read-bypass stream: 4 readers of one cold object, each its own stream
  src=$WORK/sz-big.bin
  head -c $((smb << 20)) /dev/urandom >"$src"
  "$BUILD/bin/s3f_s3" put "${pfx}big.bin" "$src" >/dev/null 2>>"$LOGS/sizing.out" || return 1
  rm -f "$src"
  sz_cleanup
  SZ_STACK=$WORK/sz-stack
  rm -rf "$SZ_STACK/state"
  S3_PREFIX=$pfx S3FILES_COMMIT_INTERVAL=3600 s3f_stack_start "$SZ_STACK" >>"$LOGS/sizing.out" 2>&1 || return 1
  gp=$(cat "$SZ_STACK/ganesha.pid")
  url="nfs://127.0.0.1/s3files?version=4&nfsport=$(cat "$SZ_STACK/nfs_port")"
  "$BUILD/bench/s3f_nfsload" "$url" ls -f . >/dev/null 2>>"$LOGS/sizing.out" || return 1
  sleep 1
  rss0=$(sz_rss_kib "$gp")
  sz_peak "$gp" "$WORK/sz-peak" & sampler=$!
  pids=()
  for i in 0 1 2 3; do
    "$BUILD/bench/s3f_nfsload" "$url" read -f big.bin -q 16 -s 1M >/dev/null 2>>"$LOGS/sizing.out" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i"; done
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  rss1=$(awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { print m }' "$WORK/sz-peak")
  line "sizing_stream_memory $(( (rss1 - rss0) / 4 / 1024 )) MiB per read-bypass stream (ganesha peak $(( rss1 / 1024 )) MiB with 4 streams of a cold $smb MiB object, $(( rss0 / 1024 )) MiB before; window 4 x 8 MiB per stream)"
  line "sizing_fds_streams ganesha at most $(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$WORK/sz-peak") open descriptors during the 4 streams"

  # descriptors under 16 concurrent creates
  sz_peak "$gp" "$WORK/sz-peak" & sampler=$!
  "$BUILD/bin/s3f_nfs" mkdir "nfs://127.0.0.1/s3files/c?version=4&nfsport=$(cat "$SZ_STACK/nfs_port")" >/dev/null 2>&1
  "$BUILD/bench/s3f_nfsload" "nfs://127.0.0.1/s3files/c?version=4&nfsport=$(cat "$SZ_STACK/nfs_port")" \
    create -c 16 -n 2000 -s 3000 >/dev/null 2>>"$LOGS/sizing.out" || true
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  line "sizing_fds_creates ganesha at most $(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$WORK/sz-peak") open descriptors during 16 connections creating 2,000 files"

  sz_cleanup
  "$BUILD/bin/s3f_s3" ls "$pfx" 2>/dev/null | awk '{ print $2 }' | xargs -r "$BUILD/bin/s3f_s3" rm >/dev/null 2>&1
  return 0
}
