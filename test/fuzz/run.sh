#!/usr/bin/env bash
# Runs every libFuzzer target (build/fuzz/fuzz_*, built by `make fuzz-build`) for
# $FUZZ_SECONDS (default 20) each, starting from its committed seeds in
# test/fuzz/corpus/<target>/. New inputs go to a scratch corpus under $BUILD/fuzz-work
# (never into the seeds), crash reproducers to $BUILD/fuzz-work/<target>/crash-*.
# One line per target: "PASS fuzz/<target> (...)" or "FAIL fuzz/<target>: <reason>";
# exits non-zero when any target failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-$PWD/build}
SECS=${FUZZ_SECONDS:-20}
WORK=$BUILD/fuzz-work
failed=0
found=0

for src in test/fuzz/fuzz_*.c; do
  [ -e "$src" ] || continue
  t=$(basename "$src" .c)
  found=1
  bin=$BUILD/fuzz/$t
  if [ ! -x "$bin" ]; then
    echo "FAIL fuzz/$t: $bin is not built (make fuzz-build)"
    failed=1
    continue
  fi
  seeds=test/fuzz/corpus/$t
  dir=$WORK/$t
  mkdir -p "$dir/corpus"
  rm -f "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*
  args=(-max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$dir/" "$dir/corpus")
  [ -d "$seeds" ] && args+=("$seeds")
  log=$dir/log
  # detect_leaks stays on: a leak in a parser is a finding like a crash
  ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1} "$bin" "${args[@]}" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  art=$(ls "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* 2>/dev/null | head -n 1)
  if [ $rc -ne 0 ] || [ -n "$art" ]; then
    why=$(grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|deadly signal' "$log")
    echo "FAIL fuzz/$t: exit $rc: ${why:-see $log}${art:+ (reproducer: $art)}"
    tail -n 30 "$log" | sed 's/^/# /'
    failed=1
  else
    echo "PASS fuzz/$t ($SECS s, ${execs:-?} execs, ${secs:-?}/s, corpus $(ls "$dir/corpus" | wc -l) + seeds)"
  fi
done
[ $found = 1 ] || echo "# no fuzz targets under test/fuzz"
exit $failed
