#!/usr/bin/env bash
# Bench smoke (part of make test): the benchmark programs still build and produce every
# number test/bench/run.sh reads, on a small input. No timing is checked here: goals live
# in `make bench` only.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-$PWD/build}
W=$(mktemp -d "${TMPDIR:-/tmp}/s3f-bench-smoke.XXXXXX")
trap 'rm -rf "$W"' EXIT

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
bash -n test/bench/run.sh && echo "PASS bench_smoke/run_sh_syntax" ||
  echo "FAIL bench_smoke/run_sh_syntax"
