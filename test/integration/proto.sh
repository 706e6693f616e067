#!/usr/bin/env bash
# proto: no NFSv4.0 request crashes the gateway. test/tools/s3f_nfsproto sends hand-built
# COMPOUNDs (libnfs's raw RPC API) for every NFSv4.0 operation libnfs can encode against
# an object in every state: a file never opened through NFS (an object put into S3
# before the gateway started), written and closed, open for reading, open for writing,
# locked, removed while open, a stale handle, a forged handle, random bytes, a directory,
# a symlink; plus 64 stateless READs/WRITEs in flight at once. After each request the tool
# checks that an answer came and that ganesha (the release build of the FSAL, on the real
# RGW) is still alive; a few answers NFSv4 prescribes are checked too (LOCKT granted
# without a conflicting lock, denied with one; a stale handle refused as stale).
# When ganesha dies the case fails, ganesha is restarted and the run goes on after it, so
# one run lists every crashing case.
set -uo pipefail
T_SUITE=proto
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup pr
TOOL=$S3F_BUILD/bin/s3f_nfsproto
cleanup() { s3f_stack_stop "$STACK"; }
trap cleanup EXIT

[ -x "$TOOL" ] || { t_fail setup "$TOOL not built (make all)"; t_done; }

# Files never opened through NFS: one object per operation (the "cold" state).
printf 'cold object, 200 bytes %0177d\n' 0 >"$WORK/data/cold"
put_ok=1
for op in $("$TOOL" x 0 / 0 --list | sed -n 's/^cold\.//p'); do
  s3_put_file "$B" "${P}proto/cold/$op" "$WORK/data/cold" >/dev/null || put_ok=0
done
if [ $put_ok = 1 ]; then t_pass put_cold_objects; else t_fail put_cold_objects "PUT failed"; fi

export S3FILES_COMMIT_INTERVAL=3600 S3FILES_MINOR_VERSIONS="0, 1"
if ! s3f_stack_start "$STACK" >"$WORK/start.out" 2>&1; then
  t_fail stack_start "$(tail -n 5 "$WORK/start.out" | tr '\n' ' ')"
  t_done
fi
t_pass stack_start
NFS_PORT=$(cat "$STACK/nfs_port")

from=0 deaths=0 rc=0
ncases=$("$TOOL" x 0 / 0 --list | wc -l)
while :; do
  pid=$(cat "$STACK/ganesha.pid")
  "$TOOL" 127.0.0.1 "$NFS_PORT" /s3files "$pid" --cold cold --from "$from" \
    >"$WORK/run.$deaths.out" 2>"$WORK/run.$deaths.err"
  rc=$?
  grep -E '^(PASS|FAIL) ' "$WORK/run.$deaths.out"
  [ $rc = 3 ] || break
  dead=$(sed -n 's/^DEAD //p' "$WORK/run.$deaths.out" | tail -n 1)
  deaths=$((deaths + 1))
  echo "# ganesha died at case $dead; restarting it and going on"
  grep -E 'SIGSEGV|SIGABRT|Segmentation|Assertion|CRIT' "$STACK/ganesha.out" "$STACK/ganesha.log" \
    2>/dev/null | tail -n 3 | sed 's/^/# /'
  s3f_ganesha_stop "$STACK"
  if [ "$deaths" -ge 60 ] || ! s3f_ganesha_start "$STACK" >"$WORK/restart.out" 2>&1; then
    t_fail restart "ganesha could not be restarted after $deaths deaths"
    break
  fi
  from=$((dead + 1))
done
if [ $rc != 0 ] && [ $rc != 1 ] && [ $rc != 3 ]; then
  t_fail run "s3f_nfsproto exited $rc: $(tail -n 3 "$WORK/run.$deaths.err" | tr '\n' ' ')"
fi
T_FAILED=$((T_FAILED + $(cat "$WORK"/run.*.out | grep -c '^FAIL ')))
total=$(cat "$WORK"/run.*.out | grep -cE '^(PASS|FAIL) ')
echo "# $total of $ncases cases answered or failed; ganesha died $deaths times"
if [ "$deaths" = 0 ]; then t_pass no_crash; else t_fail no_crash "ganesha died $deaths times"; fi
if kill -0 "$(cat "$STACK/ganesha.pid")" 2>/dev/null; then t_pass ganesha_alive_at_end
else t_fail ganesha_alive_at_end "ganesha is gone"; fi

t_done
