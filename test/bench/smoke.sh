#!/usr/bin/env bash
# Bench smoke (part of make test): the benchmark programs still build and produce every
# number test/bench/run.sh reads, on a small input. No timing is checked here: goals live
# in `make bench` only.
#
#   - bench_meta runs, prints every key, and the store it built is complete;
#   - scaleout.sh (bench_nsops, a single-node etcd, RADOS omap on the test cluster) fills
#     every row of its table on a few operations;
#   - run.sh, fs.sh (bash) and the guest scripts (busybox sh) parse;
#   - fs.sh's summary lines from given results: values, ratios, stopped, wrong and failed
#     measurements, durable verdicts;
#   - s3f_s3 put-tree puts the tree it promises (checked with the independent client);
#   - server.sh parses, and its genomics lines come out (numbers, ratios, first-byte times)
#     on 2 MiB files through a real gateway; its chart's bars from given lines;
#   - in one qemu guest, s3fs and rclone (the host's binaries) mount the bucket through
#     guest-fs.sh, list the tree and read an object, and unmount.
# Uses the RGW of $RGW_TEST_DIR (default $BUILD/test-rgw; test/run.sh starts it), or
# starts one there for the run and stops it again.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BUILD:-$PWD/build}
W=$(mktemp -d "${TMPDIR:-/tmp}/s3f-bench-smoke.XXXXXX")
RGW_DIR=${RGW_TEST_DIR:-$BUILD/test-rgw}
RGW_STARTED=0
PFX=
cleanup() {
  if [ -n "$PFX" ]; then
    "$BUILD/bin/s3f_s3" ls "$PFX" 2>/dev/null | awk '{ print $2 }' | xargs -r "$BUILD/bin/s3f_s3" rm >/dev/null 2>&1
  fi
  [ $RGW_STARTED = 1 ] && test/lib/rgw.sh stop "$RGW_DIR" >/dev/null 2>&1
  rm -rf "$W"
}
trap cleanup EXIT
pass() { echo "PASS bench_smoke/$1"; }
fail() { echo "FAIL bench_smoke/$1: $2"; }

if "$BUILD/bench/bench_meta" -n 20000 -p 1000 -l 20000 "$W/meta" > "$W/out" 2> "$W/err"; then
  echo "PASS bench_smoke/bench_meta_runs"
else
  echo "FAIL bench_smoke/bench_meta_runs: exit $?: $(tail -n 3 "$W/err" | tr '\n' ' ')"
fi
missing=
for k in objects bytes_per_object insert_objects_per_s insert_pages_per_s page_ms_p50 \
         page_ms_p99 lookups_per_s used_bytes map_bytes; do
  grep -Eq "^$k=[0-9.]+$" "$W/out" || missing+=" $k"
done
if [ -z "$missing" ] && grep -qx 'objects=20000' "$W/out"; then
  echo "PASS bench_smoke/bench_meta_output"
else
  echo "FAIL bench_smoke/bench_meta_output: missing or malformed:${missing:- objects}"
fi
# the store it built is a real one: every object is there after reopening
n=$(mdb_stat -s inodes "$W/meta" 2>/dev/null | sed -n 's/^ *Entries: //p')
if [ "$n" = 20021 ]; then	# 20,000 objects + 20 directories + the root
  echo "PASS bench_smoke/bench_meta_store_complete"
else
  echo "FAIL bench_smoke/bench_meta_store_complete: inodes table has '${n}' entries, want 20021"
fi
rm -rf "$W/meta"

# ---- syntax ----
bash -n test/bench/run.sh && echo "PASS bench_smoke/run_sh_syntax" ||
  echo "FAIL bench_smoke/run_sh_syntax"
bash -n test/bench/fs.sh && echo "PASS bench_smoke/fs_sh_syntax" || echo "FAIL bench_smoke/fs_sh_syntax"
if out=$(busybox sh -n test/bench/guest-fs.sh 2>&1 && busybox sh -n test/bench/guest.sh 2>&1); then
  pass guest_scripts_syntax
else
  fail guest_scripts_syntax "$out"
fi

# ---- fs.sh's summary from given results (no guest, no S3) ----
summary_case() {  # NAME EXPECTED_SUBSTRING ARGS-TO-fs_line... (results in $W/logs/results)
  local name=$1 want=$2 got; shift 2
  got=$(
    WORK=$W LOGS=$W/logs BENCH_CAP=100 BENCH_PEERS="s3fs rclone"
    calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
    line() { printf 'BENCH %s\n' "$*"; }
    . test/bench/fs.sh
    fs_line "$@"
  )
  case $got in
    *"$want"*) pass "summary_$name" ;;
    *) fail "summary_$name" "got '$got', want it to contain '$want'" ;;
  esac
}
mkdir -p "$W/logs"
cat > "$W/logs/results" <<'EOF'
s3files cold_ls 2000 0 11
s3fs cold_ls 5000 0 11
rclone cold_ls 100000 143 7
s3files seq_read 4000 0 64+0
s3fs seq_read 8000 0 63+1
rclone seq_read 2000 1 0+0
s3files seq_write 3000 0
s3files cold_find 300000 143 5
s3fs cold_find 100000 143 3
s3fs seq_write 6000 0
rclone seq_write 7000 0
EOF
echo ok > "$W/verdict.s3files.durable-seq"
echo ok > "$W/verdict.s3fs.durable-seq"
echo timeout > "$W/verdict.rclone.durable-seq"
summary_case time_value_and_ratio 'BENCH cold_ls_10 2.00 s (s3files 2.00 s / s3fs 5.00 s / rclone >100 s (stopped; 7 of 11) / LIST 0.50 s; ratio s3fs/s3files 2.50, rclone/s3files >50.00, s3files/LIST 4.00)' \
  cold_ls cold_ls_10 s 0 11 "" LIST 0.5
summary_case throughput_wrong_and_failed 'BENCH seq_read_64MiB 17 MB/s (s3files 4.00 s = 17 MB/s / s3fs wrong result (63+1, want 64+0) / rclone failed (rc 1); ratio n/a)' \
  seq_read seq_read_64MiB MB/s $((64 << 20)) 64+0 "" "" ""
summary_case durable_verdicts '(s3files 3.00 s = 22 MB/s / s3fs 6.00 s = 11 MB/s / rclone >7 s (not in S3 100 s after the close); ratio s3fs/s3files 2.00, rclone/s3files >2.33)' \
  seq_write seq_write_64MiB MB/s $((64 << 20)) "" durable-seq "" ""
summary_case s3files_stopped 'BENCH cold_find_9 n/a s (s3files >300 s (stopped; 5 of 9) / s3fs >100 s (stopped; 3 of 9) / rclone not measured / LIST 0.10 s; ratio n/a)' \
  cold_find cold_find_9 s 0 9 "" LIST 0.1
echo 'commit failed: ERR' > "$W/verdict.s3fs.durable-seq"
summary_case not_durable 's3fs not durable (commit failed: ERR)' \
  seq_write seq_write_64MiB MB/s $((64 << 20)) "" durable-seq "" ""

# ---- the S3 side: an RGW ----
if ! test/lib/rgw.sh status "$RGW_DIR" >/dev/null 2>&1; then
  if RGW_BUCKETS=s3files-test test/lib/rgw.sh start "$RGW_DIR" > "$W/rgw.out" 2>&1; then
    RGW_STARTED=1
  else
    fail rgw "no RGW at $RGW_DIR and none could be started: $(tail -n 3 "$W/rgw.out" | tr '\n' ' ')"
    exit 1
  fi
fi
set -a; . "$RGW_DIR/env"; set +a

# scaleout.sh: every store and shape measured, on a few operations, against this cluster
if SCALEOUT_OPS=8 SCALEOUT_RGW_DIR=$RGW_DIR timeout 240 test/bench/scaleout.sh > "$W/scaleout.out" 2>&1; then
  rows=$(grep -cE '^\| (lmdb|etcd|etcdjson|rados) \|' "$W/scaleout.out")
  if [ "$rows" = 12 ] && ! grep -E '^\| (lmdb|etcd|etcdjson|rados) ' "$W/scaleout.out" | grep -qE '\|  \|'; then
    pass scaleout_runs
  else
    fail scaleout_runs "$rows of 12 table rows, or an empty cell: $(grep '^|' "$W/scaleout.out" | tr '\n' ' ' | cut -c1-600)"
  fi
else
  fail scaleout_runs "exit $?: $(tail -n 5 "$W/scaleout.out" | tr '\n' ' ')"
fi

export S3_REGION=${S3_REGION:-us-east-1}
. test/lib/s3.sh
PFX=bench-smoke-$$/

# put-tree: 25 objects, 10 in big/, the rest 5 per directory (d0000..d0002), 100 B each
if out=$("$BUILD/bin/s3f_s3" -c 4 put-tree "${PFX}t/" 25 10 5 2>&1); then
  pass put_tree_runs
else
  fail put_tree_runs "$out"
fi
s3_ls "$S3_BUCKET" "${PFX}t/" > "$W/keys" 2>&1
n_all=$(grep -c . "$W/keys"); n_big=$(grep -c "^${PFX}t/big/f" "$W/keys")
dirs=$(sed -n "s|^${PFX}t/\(d[0-9]*\)/f[0-9]*$|\1|p" "$W/keys" | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')
if [ "$n_all" = 25 ] && [ "$n_big" = 10 ] && [ "$dirs" = "d0000:5 d0001:5 d0002:5 " ]; then
  pass put_tree_layout
else
  fail put_tree_layout "$n_all keys, $n_big in big/, directories '$dirs'"
fi
if s3_get_file "$S3_BUCKET" "${PFX}t/big/f0000003" "$W/obj" && [ "$(stat -c %s "$W/obj")" = 100 ] &&
   [ "$(head -c 3 "$W/obj")" = abc ]; then
  pass put_tree_bytes
else
  fail put_tree_bytes "${PFX}t/big/f0000003 is not the 100-byte body"
fi

# ---- server.sh's genomics lines, on tiny files through a real stack ----
# The three lines come out with numbers and ratios (no timing is judged).
bash -n test/bench/server.sh && pass server_sh_syntax || fail server_sh_syntax "bash -n test/bench/server.sh"
out=$(
  ROOT=$PWD WORK=$W/sv LOGS=$W/sv/logs SUMMARY=$W/sv/summary S3F_ROOT=$PWD S3F_BUILD=$BUILD
  mkdir -p "$LOGS"; : >"$SUMMARY"
  now() { date +%s.%N; }
  line() { printf 'BENCH %s\n' "$*" | tee -a "$SUMMARY"; }
  calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
  is() { awk "BEGIN { exit !($1) }"; }
  . test/lib/s3files.sh
  . test/bench/fs.sh
  . test/bench/server.sh
  SV_JSON=$LOGS/server.json; : >"$SV_JSON"
  SV_PREFIX=${PFX}sv/
  export S3FILES_COMMIT_INTERVAL=3600
  trap sv_cleanup EXIT
  sv_stack_fresh && BENCH_SERVER_GENOMICS_MB=2 BENCH_SERVER_GENOMICS_RANDOM_MB=1 \
    sv_genomics "nfs://127.0.0.1/s3files" 2>&1
)
for k in genomics_8x genomics_quarters; do
  if grep -Eq "^BENCH server_$k [0-9.]+ MB/s vs raw S3 .* [0-9.]+ MB/s = [0-9.]+x .*first byte p50 [0-9]+ ms" <<<"$out"; then
    pass "server_line_$k"
  else
    fail "server_line_$k" "$(tail -n 4 <<<"$out" | tr '\n' ' ' | cut -c1-400) $(tail -n 5 "$W/sv/logs/server.err" 2>/dev/null | tr '\n' ' ' | cut -c1-600)"
  fi
done
if grep -Eq "^BENCH server_genomics_indexed [0-9.]+ MB/s .*index first byte p50 [0-9]+ ms" <<<"$out"; then
  pass server_line_genomics_indexed
else
  fail server_line_genomics_indexed "$(tail -n 4 <<<"$out" | tr '\n' ' ' | cut -c1-400) $(tail -n 5 "$W/sv/logs/server.err" 2>/dev/null | tr '\n' ' ' | cut -c1-600)"
fi

# ---- server.sh's chart, from given lines ----
# Every bar is "higher is better": a ratio line as printed, a latency line's p50 ratio, and
# the listing's time ratio inverted (1.90x the LIST -> 0.526).
out=$(
  WORK=$W/ch LOGS=$W/ch SUMMARY=$W/ch/summary
  mkdir -p "$WORK"
  cat >"$SUMMARY" <<'SUM'
BENCH server_create 796.5 files/s vs FSAL_VFS 1882.4 files/s = 0.42x (goal >= 0.9x: no; 4 connections)
BENCH server_latency_lookup p50 57.6 us p99 114.7 us vs FSAL_VFS p50 52.6 us p99 107.3 us (ratio p50 0.91x; one request at a time)
BENCH server_random_cold_64k 75.8 MB/s (64 KiB READs at random offsets; raw S3 streaming 220 MB/s)
BENCH server_ls_cold 0.47 s vs bare LIST 0.25 s = 1.90x of the LIST time (goal <= 1.2x: no)
SUM
  . test/bench/server.sh
  sv_chart >/dev/null
  cat "$WORK/sv-ratios"
)
want=$'create 0.42\nlatency_lookup_p50 0.91\nls_cold(LIST/ours) 0.526'
if [ "$out" = "$want" ]; then pass server_chart_ratios; else fail server_chart_ratios "got: $(tr '\n' '|' <<<"$out")"; fi
if [ -s "$W/ch/server.png" ]; then pass server_chart_png; else fail server_chart_png "no $W/ch/server.png ($(tail -n 3 "$W/ch/server.err" 2>/dev/null | tr '\n' ' '))"; fi

# ---- the FUSE peers mount in the guest ----
case $S3_ENDPOINT in
  http://127.0.0.1:*) ;;
  *) fail peers_mount "the RGW endpoint $S3_ENDPOINT is not on 127.0.0.1"; exit 1 ;;
esac
missing=
for p in s3fs rclone; do command -v "$p" >/dev/null || missing+=" $p"; done
if [ -n "$missing" ]; then fail peers_installed "missing:$missing (make deps)"; exit 1; fi
pass peers_installed
(umask 077; printf '%s:%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$W/s3fs.passwd")
cat test/bench/guest-fs.sh - > "$W/guest.sh" <<'EOF'
mkdir -p /mnt/cache && mount -t tmpfs -o size=256m tmpfs /mnt/cache
step fuse_device test -c /dev/fuse
for sys in s3fs rclone; do
  step "${sys}_mount" fs_mount $sys /mnt/$sys || continue
  step "${sys}_list" sh -c "test \$(ls /mnt/$sys/t/big | wc -l) = 10 && test \$(ls /mnt/$sys/t | wc -l) = 4"
  step "${sys}_read" sh -c "test \"\$(cat /mnt/$sys/t/d0001/f0000016 | head -c 5)\" = abcde"
  step "${sys}_umount" fs_umount $sys /mnt/$sys
done
EOF
test/vm/run-guest.sh --suite bench_smoke --script "$W/guest.sh" --timeout 120 --mem 768 \
  --env BENCH_S3_URL="http://10.0.2.2:${S3_ENDPOINT##*:}" --env BENCH_BUCKET="$S3_BUCKET" \
  --env BENCH_PREFIX="${PFX%/}" --env BENCH_REGION="$S3_REGION" \
  --env BENCH_AK="$AWS_ACCESS_KEY_ID" --env BENCH_SK="$AWS_SECRET_ACCESS_KEY" \
  --env BENCH_S3FS_PASSWD="$W/s3fs.passwd" --log "$W/console.log" 2>"$W/guest.err"
rc=$?
[ $rc = 0 ] || grep -q '^FAIL' "$W/guest.err" ||
  echo "# guest: exit $rc; $(tail -n 20 "$W/guest.err" | tr '\n' ' ' | cut -c1-600)"
