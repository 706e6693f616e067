#!/usr/bin/env bash
# race: the lost write of issue 9, forced across the two real processes. The full stack
# (ganesha + FSAL_S3FILES + s3files-syncd) on the real RGW, a client over libnfs (NFSv4.0).
#
#   prefetch_vs_overwrite: objects are put straight into S3; a client lists their
#     directory once, which queues their data for the daemon's background fetch; the
#     daemon is held (test point import.prefetch.fetched, S3F_TP_DIR) with every object's
#     old bytes fetched and not yet installed, while the client overwrites every file
#     through ganesha and reads it back; released, the daemon installs what it fetched.
#     Every file must read as the client wrote it, also after a ganesha restart, and after
#     `s3filesctl commit` + `wait-synced` S3 must hold exactly that, with no conflict. On
#     the code before the fix (a fetch truncated the data file and wrote into it under a
#     shared lock) the old object's bytes replaced the client's.
set -uo pipefail
T_SUITE=race
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup rc
export LC_ALL=C
TP=$WORK/tp
mkdir -p "$TP"
export S3F_TP_DIR=$TP
N=${RACE_FILES:-40}
cleanup() {
  rm -f "$TP"/*.pause
  s3f_stack_stop "$STACK"
}
trap cleanup EXIT
hold() { rm -f "$TP/$1.reached"; : >"$TP/$1.pause"; }
release() { rm -f "$TP/$1.pause"; }
reached() { [ -e "$TP/$1.reached" ]; }

# Old objects: ~210 bytes each, as in the report.
OLD=$WORK/data/old NEW=$WORK/data/new
mkdir -p "$OLD" "$NEW"
for i in $(seq 1 "$N"); do
  head -c 210 /dev/urandom | base64 -w0 | head -c 210 >"$OLD/f$i"
  printf 'new-%s\n' "$i" >"$NEW/f$i"
done
"$S3F_BUILD/bin/s3f_s3" -e "$RGW_TEST_DIR/env" -c 8 put-dir "$OLD" "${P}pf/" >"$WORK/put.out" 2>&1 &&
  t_pass put_objects || { t_fail put_objects "$(tail -n 3 "$WORK/put.out")"; t_done; }

export S3FILES_COMMIT_INTERVAL=3600
if ! s3f_stack_start "$STACK" >"$WORK/start.out" 2>&1; then
  t_fail stack_start "$(tail -n 5 "$WORK/start.out" | tr '\n' ' ')"
  t_done
fi
NFS_PORT=$(cat "$STACK/nfs_port")
url() { printf 'nfs://127.0.0.1/s3files%s?version=4&nfsport=%s' "$1" "$NFS_PORT"; }

prefetch_vs_overwrite() {
  local i bad=0
  hold import.prefetch.fetched
  nfs-ls "$(url /pf)" >"$WORK/ls.out" 2>&1 || { release import.prefetch.fetched; echo "nfs-ls failed"; return 1; }
  if ! t_wait_for 60 reached import.prefetch.fetched; then
    release import.prefetch.fetched; echo "the daemon never fetched the listed files"; return 1
  fi
  # Held with old bytes fetched: the client overwrites every file (O_TRUNC + write).
  for i in $(seq 1 "$N"); do
    "$S3F_BUILD/bin/s3f_nfs" overwrite "$(url "/pf/f$i")" "$NEW/f$i" 2>&1 ||
      { echo "overwrite of f$i failed"; bad=1; }
  done
  release import.prefetch.fetched
  # Let the daemon install (or drop) what it fetched: the queue empties.
  sleep 3
  for i in $(seq 1 "$N"); do
    nfs-cat "$(url "/pf/f$i")" >"$WORK/got" 2>/dev/null
    cmp -s "$WORK/got" "$NEW/f$i" || { echo "f$i reads as '$(head -c 40 "$WORK/got")'"; bad=$((bad + 1)); }
  done
  [ $bad = 0 ] || echo "$bad of $N acknowledged overwrites lost"
  [ $bad = 0 ]
}
t_step prefetch_vs_overwrite prefetch_vs_overwrite

after_restart() {
  local i bad=0
  s3f_ganesha_stop "$STACK" && s3f_ganesha_start "$STACK" || { echo "restart failed"; return 1; }
  NFS_PORT=$(cat "$STACK/nfs_port")
  for i in $(seq 1 "$N"); do
    nfs-cat "$(url "/pf/f$i")" >"$WORK/got" 2>/dev/null
    cmp -s "$WORK/got" "$NEW/f$i" || { echo "f$i reads as '$(head -c 40 "$WORK/got")'"; bad=1; }
  done
  [ $bad = 0 ]
}
t_step view_after_restart after_restart

in_s3() {
  local i bad=0
  s3f_ctl "$STACK" commit >"$WORK/commit.out" 2>&1 || { echo "commit: $(tail -n 2 "$WORK/commit.out")"; return 1; }
  s3f_ctl "$STACK" wait-synced / >"$WORK/ws.out" 2>&1 || { echo "wait-synced exited $?"; return 1; }
  for i in $(seq 1 "$N"); do
    rm -f "$WORK/got"
    s3_get_file "$B" "${P}pf/f$i" "$WORK/got" 2>/dev/null && cmp -s "$WORK/got" "$NEW/f$i" ||
      { echo "S3 f$i is not the client's"; bad=1; }
  done
  if grep -q '"conflict"' "$STACK/state/events.jsonl" 2>/dev/null; then
    echo "a conflict was journaled"; bad=1
  fi
  [ $bad = 0 ]
}
t_step s3_holds_the_writes in_s3

t_done
