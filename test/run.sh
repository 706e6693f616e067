#!/usr/bin/env bash
# Runs every test suite and prints "N passed, N failed" as its last line.
#
#   test/run.sh            all suites: unit, fuzz smoke, bench smoke, integration
#   test/run.sh unit       unit tests only (sanitizer build)
#   test/run.sh integration [NAME...]   integration suites (test/integration/NAME.sh)
#
# A suite reports one line per case: "PASS suite/case" or "FAIL suite/case: why".
# A suite that exits non-zero without reporting a FAIL line counts as one failure,
# as does a suite that runs past its time limit.
# One RGW cluster is started for all integration suites (RGW_SHARED=1, RGW_TEST_DIR).
set -uo pipefail
cd "$(dirname "$0")/.."
export S3F_ROOT=$PWD
export BUILD=${BUILD:-$PWD/build}
export S3F_BUILD=$BUILD
OUT=$BUILD/test-out
mkdir -p "$OUT"
# Sanitizers: fail on any report, including leaks, and keep the stack readable.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

what=${1:-all}
shift || true

PASSED=0
FAILED=0
T0=$(date +%s)

# run_suite NAME TIMEOUT CMD...: run one suite, count its PASS/FAIL lines.
run_suite() {
  local name=$1 limit=$2; shift 2
  local log=$OUT/$name.log t0 rc p f
  t0=$(date +%s)
  mkdir -p "$(dirname "$log")"
  printf '=== %s\n' "$name"
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  rc=$?
  grep -E '^(PASS|FAIL) |^# ' "$log" | sed 's/^/    /'
  p=$(grep -c '^PASS ' "$log")
  f=$(grep -c '^FAIL ' "$log")
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
      echo "    FAIL $name: timed out after ${limit}s"
    else
      echo "    FAIL $name: exited $rc without reporting a failed case"
    fi
    f=1
  fi
  if [ "$f" -gt 0 ] || [ $rc -ne 0 ]; then
    echo "    --- last lines of $log"
    tail -n 40 "$log" | sed 's/^/    | /'
  fi
  PASSED=$((PASSED + p))
  FAILED=$((FAILED + f))
  printf '    (%s: %d passed, %d failed, %ds)\n' "$name" "$p" "$f" $(( $(date +%s) - t0 ))
}

run_unit() {
  local t
  for t in "$BUILD"/asan/test/test_*; do
    [ -x "$t" ] || continue
    run_suite "unit/$(basename "$t")" 600 "$t"
  done
  # Each fix of the data-tier ownership protocol reverted in turn: its race case must fail.
  run_suite "unit/layers" 60 test/unit/layers.sh
  run_suite "unit/race_mutants" 900 python3 test/unit/race_mutants.py
}

run_fuzz_smoke() {
  [ -x test/fuzz/run.sh ] || return 0
  run_suite "fuzz-smoke" 300 env FUZZ_SECONDS="${FUZZ_SMOKE_SECONDS:-20}" test/fuzz/run.sh
}

run_bench_smoke() {
  [ -x test/bench/smoke.sh ] || return 0
  run_suite "bench-smoke" 300 test/bench/smoke.sh
}

RGW_STARTED=0
start_shared_rgw() {
  export RGW_TEST_DIR=${RGW_TEST_DIR:-$BUILD/test-rgw}
  export RGW_SHARED=1
  if test/lib/rgw.sh status "$RGW_TEST_DIR" >/dev/null 2>&1; then return 0; fi
  printf '=== starting shared RGW in %s\n' "$RGW_TEST_DIR"
  if RGW_BUCKETS="s3files-test" test/lib/rgw.sh start "$RGW_TEST_DIR" >"$OUT/rgw-start.log" 2>&1; then
    RGW_STARTED=1
  else
    echo "    FAIL rgw: could not start the test RGW"
    tail -n 30 "$OUT/rgw-start.log" | sed 's/^/    | /'
    FAILED=$((FAILED + 1))
    return 1
  fi
}
stop_shared_rgw() {
  [ $RGW_STARTED = 1 ] && test/lib/rgw.sh stop "$RGW_TEST_DIR" >/dev/null 2>&1
  RGW_STARTED=0
}
trap stop_shared_rgw EXIT

run_integration() {
  local names=("$@") s
  if [ ${#names[@]} -eq 0 ]; then
    for s in test/integration/*.sh; do names+=("$(basename "$s" .sh)"); done
  fi
  start_shared_rgw || return 0
  local s
  for s in "${names[@]}"; do
    run_suite "integration/$s" "${SUITE_TIMEOUT:-1200}" bash "test/integration/$s.sh"
  done
}

# Unit tests of modules that talk to S3 (the S3 client) use the shared RGW too:
# they read its settings from $RGW_TEST_DIR/env.
case $what in
  all)         start_shared_rgw; run_unit; run_fuzz_smoke; run_bench_smoke; run_integration ;;
  unit)        start_shared_rgw; run_unit ;;
  fuzz)        run_fuzz_smoke ;;
  integration) run_integration "$@" ;;
  *) echo "usage: $0 [all|unit|fuzz|integration [suite...]]" >&2; exit 2 ;;
esac
stop_shared_rgw

echo "# total time $(( $(date +%s) - T0 ))s"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
