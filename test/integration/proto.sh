#!/usr/bin/env bash
# proto: no NFSv4.0 or NFSv4.1 request crashes the gateway. Two tools send hand-built
# COMPOUNDs against an object in every state: a file never opened through NFS (an object
# put into S3 before the gateway started), written and closed, open for reading, open for
# writing, locked, removed while open, a stale handle, a forged handle, random bytes, a
# directory, a symlink.
#  - test/tools/s3f_nfsproto (NFSv4.0, libnfs's raw RPC API): every NFSv4.0 operation
#    libnfs can encode, plus 64 stateless READs/WRITEs in flight at once.
#  - test/tools/s3f_nfs41proto (NFSv4.1, its own RPC/XDR client: libnfs 4.0 encodes no
#    NFSv4.1 operation): a session (EXCHANGE_ID, CREATE_SESSION, RECLAIM_COMPLETE), then
#    SEQUENCE first in every COMPOUND and every operation 3..58 (the NFSv4.0-only ones
#    too), NFSv4.2 operations and OP_ILLEGAL in a minorversion-1 COMPOUND, the open, lock,
#    anonymous, bypass and current stateids; and malformed requests (no SEQUENCE, a wrong
#    slot sequence id or slot, SEQUENCE mid-COMPOUND, a truncated body, a WRITE longer than
#    its data, a 4 GiB READ, READDIR maxcount 0 and 0xffffffff, names of 0, 300 and 10,000
#    bytes, a 1,000-word bitmap, 200 operations, offsets and lengths at 2^64).
# After each request a tool checks that an answer came and that ganesha is still alive;
# answers NFSv4 prescribes are checked too (LOCKT granted without a conflicting lock,
# denied with one; a stale handle refused as stale; for v4.1 also OP_NOT_IN_SESSION,
# SEQ_MISORDERED, BADSLOT, SEQUENCE_POS, NOTSUPP for the v4.0-only operations, OP_ILLEGAL).
# Both tools run against the release build of the FSAL, then again against the
# AddressSanitizer + UBSan build (make asan) loaded into the same ganesha.nfsd with the
# sanitizer runtime preloaded (and test/asan/nodeepbind.c: the runtime refuses ganesha's
# RTLD_DEEPBIND dlopen); a sanitizer report fails the suite. All on the real RGW.
# When ganesha dies the case fails, ganesha is restarted and the run goes on after it, so
# one run lists every crashing case.
set -uo pipefail
T_SUITE=proto
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup pr
TOOL=$S3F_BUILD/bin/s3f_nfsproto
TOOL41=$S3F_BUILD/bin/s3f_nfs41proto
cleanup() { s3f_stack_stop "$STACK"; }
trap cleanup EXIT

for t in "$TOOL" "$TOOL41"; do
  [ -x "$t" ] || { t_fail setup "$t not built (make test-tools)"; t_done; }
done

# Files never opened through NFS: one object per operation (the "cold" state).
printf 'cold object, 200 bytes %0177d\n' 0 >"$WORK/data/cold"
put_ok=1
for op in $("$TOOL" x 0 / 0 --list | sed -n 's/^cold\.//p'); do
  s3_put_file "$B" "${P}proto/cold/$op" "$WORK/data/cold" >/dev/null || put_ok=0
done
for op in $("$TOOL41" x 0 / 0 --list | sed -n 's/^cold\.//p'); do
  s3_put_file "$B" "${P}proto41/cold/$op" "$WORK/data/cold" >/dev/null || put_ok=0
done
# cold files for the runs against the sanitizer FSAL (below)
for op in $("$TOOL" x 0 / 0 --list | sed -n 's/^cold\.//p'); do
  s3_put_file "$B" "${P}proto/cold_asan/$op" "$WORK/data/cold" >/dev/null || put_ok=0
done
for op in $("$TOOL41" x 0 / 0 --list | sed -n 's/^cold\.//p'); do
  s3_put_file "$B" "${P}proto41/cold_asan/$op" "$WORK/data/cold" >/dev/null || put_ok=0
done
if [ $put_ok = 1 ]; then t_pass put_cold_objects; else t_fail put_cold_objects "PUT failed"; fi

export S3FILES_COMMIT_INTERVAL=3600 S3FILES_MINOR_VERSIONS="0, 1"
s3f_test_stack_start

# run_tool TOOL LABEL COLD: the cases of TOOL (cold files in its directory's COLD) until
# all ran; ganesha is restarted after each death and the run goes on after the case that
# killed it.
run_tool() {
  local tool=$1 label=$2 cold=$3 from=0 deaths=0 rc=0 dead pid ncases total
  ncases=$("$tool" x 0 / 0 --list | wc -l)
  while :; do
    pid=$(cat "$STACK/ganesha.pid")
    "$tool" 127.0.0.1 "$NFS_PORT" /s3files "$pid" --cold "$cold" --from "$from" \
      >"$WORK/$label.$deaths.out" 2>"$WORK/$label.$deaths.err"
    rc=$?
    grep -E '^(PASS|FAIL) ' "$WORK/$label.$deaths.out"
    [ $rc = 3 ] || break
    dead=$(sed -n 's/^DEAD //p' "$WORK/$label.$deaths.out" | tail -n 1)
    deaths=$((deaths + 1))
    echo "# ganesha died at $label case $dead; restarting it and going on"
    grep -E 'SIGSEGV|SIGABRT|Segmentation|Assertion|CRIT' "$STACK/ganesha.out" "$STACK/ganesha.log" \
      2>/dev/null | tail -n 3 | sed 's/^/# /'
    s3f_ganesha_stop "$STACK"
    if [ "$deaths" -ge 60 ] || ! s3f_ganesha_start "$STACK" >"$WORK/restart.out" 2>&1; then
      t_fail "${label}_restart" "ganesha could not be restarted after $deaths deaths"
      break
    fi
    from=$((dead + 1))
  done
  if [ $rc != 0 ] && [ $rc != 1 ] && [ $rc != 3 ]; then
    t_fail "${label}_run" "$(basename "$tool") exited $rc: $(tail -n 3 "$WORK/$label.$deaths.err" | tr '\n' ' ')"
  fi
  T_FAILED=$((T_FAILED + $(cat "$WORK/$label".*.out | grep -c '^FAIL ')))
  total=$(cat "$WORK/$label".*.out | grep -cE '^(PASS|FAIL) ')
  echo "# $label: $total of $ncases cases answered or failed; ganesha died $deaths times"
  if [ "$deaths" = 0 ]; then t_pass "${label}_no_crash"; else t_fail "${label}_no_crash" "ganesha died $deaths times"; fi
  if kill -0 "$(cat "$STACK/ganesha.pid")" 2>/dev/null; then t_pass "${label}_ganesha_alive_at_end"
  else t_fail "${label}_ganesha_alive_at_end" "ganesha is gone"; fi
}

[ -n "${PROTO_ONLY41:-}" ] || run_tool "$TOOL" v40 cold
run_tool "$TOOL41" v41 cold

# The same again with the FSAL under AddressSanitizer + UBSan (make asan), in the same
# ganesha.nfsd: the sanitizer runtime preloaded, with the shim that drops RTLD_DEEPBIND
# from ganesha's dlopen of the FSAL (the runtime refuses DEEPBIND; test/asan/nodeepbind.c).
# Any report stops ganesha (halt_on_error): the case fails as a crash. Leak checking is
# off: ganesha.nfsd itself is not built for it and is stopped with a signal.
ASAN_FSAL=$S3F_BUILD/asan/lib/libfsals3files.so
SHIM=$S3F_BUILD/asan/lib/libnodeepbind.so
if [ -f "$ASAN_FSAL" ] && [ -f "$SHIM" ]; then
  asan_rt=$(gcc -print-file-name=libasan.so) ubsan_rt=$(gcc -print-file-name=libubsan.so)
  mkdir -p "$WORK/asan"
  s3f_ganesha_stop "$STACK"
  sed -i "s|^\(\s*Plugins_Dir = \).*|\1\"$(dirname "$ASAN_FSAL")\";|" "$STACK/ganesha.conf"
  export S3FILES_GANESHA_ENV="LD_PRELOAD=$SHIM:$(readlink -f "$asan_rt"):$(readlink -f "$ubsan_rt") \
ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0:halt_on_error=1:abort_on_error=0:log_path=$WORK/asan/report \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$WORK/asan/report"
  if s3f_ganesha_start "$STACK" >"$WORK/asan-start.out" 2>&1 &&
     grep -q 'libfsals3files.so' /proc/"$(cat "$STACK/ganesha.pid")"/maps &&
     grep -q "$(dirname "$ASAN_FSAL")" /proc/"$(cat "$STACK/ganesha.pid")"/maps; then
    t_pass asan_stack_start
    [ -n "${PROTO_ONLY41:-}" ] || run_tool "$TOOL" v40_asan cold_asan
    run_tool "$TOOL41" v41_asan cold_asan
    # reports go to log_path or, as seen here, to ganesha's stderr (ganesha.out)
    reports=$(grep -h -E -A 12 'ERROR: (Address|Undefined)Sanitizer|runtime error:' \
      "$WORK"/asan/report* "$STACK/ganesha.out" 2>/dev/null | head -n 40)
    if [ -n "$reports" ]; then
      t_fail asan_reports "$(printf '%s\n' "$reports" | grep -m 2 -E 'ERROR|runtime error' | tr '\n' ' ')"
      printf '%s\n' "$reports" | sed 's/^/# /'
    else
      t_pass asan_reports
    fi
  else
    t_fail asan_stack_start "$(tail -n 5 "$WORK/asan-start.out" "$STACK/ganesha.out" 2>/dev/null | tr '\n' ' ')"
  fi
  unset S3FILES_GANESHA_ENV
else
  # make test builds it (make asan): its absence is a failure, not a skip
  t_fail asan_fsal "no sanitizer FSAL at $ASAN_FSAL (make asan)"
fi

t_done
