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
#
#   upload_killed_*: the daemon is killed -9 with a file's upload in S3 and its record not
#     written (test point sync.commit.uploaded, after the PUT and before ns_commit_done).
#     Restarted, it must recognise the object as its own (upload intents, core/ns/ns_sync.h):
#       kept     nothing changed since: the file is recorded clean, S3 keeps the upload;
#       written  the client wrote the file again while the daemon was down: the new bytes
#                go up on top of the object, no conflict;
#       removed  the client removed the file meanwhile: the object is deleted, no conflict.
#     On the code before intents, the restarted daemon's conditional PUT (If-Match the old
#     ETag) was refused by its own object: a conflict, the client's bytes to lost+found
#     (kept, written), or a removed file's object left in S3 (removed).
#
# Last line: "tried N, faults M, lost L": acknowledged operations checked (each overwrite in
# the view, after the restart and in S3; each killed upload), interleavings forced (writes
# made while the fetch was held, kills), operations whose bytes were lost or wrong.
set -uo pipefail
T_SUITE=race
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup rc
export LC_ALL=C
tp_dir "$WORK/tp"
N=${RACE_FILES:-40}
cleanup() {
  tp_release_all
  s3f_stack_stop "$STACK"
}
trap cleanup EXIT
# count TRIED FAULTS LOST: a case's acknowledged operations checked, interleavings or kills
# forced, and operations whose bytes were lost or wrong (summed into the last line)
count() { echo "$1 $2 $3" >>"$WORK/counts"; }

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
s3f_test_stack_start
url() { printf 'nfs://127.0.0.1/s3files%s?version=4&nfsport=%s' "$1" "$NFS_PORT"; }

prefetch_vs_overwrite() {
  local i bad=0
  tp_hold import.prefetch.fetched
  nfs-ls "$(url /pf)" >"$WORK/ls.out" 2>&1 || { tp_release import.prefetch.fetched; echo "nfs-ls failed"; return 1; }
  if ! t_wait_for 60 tp_reached import.prefetch.fetched; then
    tp_release import.prefetch.fetched; echo "the daemon never fetched the listed files"; return 1
  fi
  # Held with old bytes fetched: the client overwrites every file (O_TRUNC + write).
  for i in $(seq 1 "$N"); do
    "$S3F_BUILD/bin/s3f_nfs" overwrite "$(url "/pf/f$i")" "$NEW/f$i" 2>&1 ||
      { echo "overwrite of f$i failed"; bad=1; }
  done
  tp_release import.prefetch.fetched
  # Let the daemon install (or drop) what it fetched: the queue empties.
  sleep 3
  for i in $(seq 1 "$N"); do
    nfs-cat "$(url "/pf/f$i")" >"$WORK/got" 2>/dev/null
    cmp -s "$WORK/got" "$NEW/f$i" || { echo "f$i reads as '$(head -c 40 "$WORK/got")'"; bad=$((bad + 1)); }
  done
  [ $bad = 0 ] || echo "$bad of $N acknowledged overwrites lost"
  count "$N" "$N" "$bad"
  [ $bad = 0 ]
}
t_step prefetch_vs_overwrite prefetch_vs_overwrite

after_restart() {
  local i bad=0 lost=0
  s3f_ganesha_stop "$STACK" && s3f_ganesha_start "$STACK" || { echo "restart failed"; return 1; }
  NFS_PORT=$(cat "$STACK/nfs_port")
  for i in $(seq 1 "$N"); do
    nfs-cat "$(url "/pf/f$i")" >"$WORK/got" 2>/dev/null
    cmp -s "$WORK/got" "$NEW/f$i" || { echo "f$i reads as '$(head -c 40 "$WORK/got")'"; bad=1; lost=$((lost + 1)); }
  done
  count "$N" 0 "$lost"
  [ $bad = 0 ]
}
t_step view_after_restart after_restart

in_s3() {
  local i bad=0 lost=0
  s3f_ctl "$STACK" commit >"$WORK/commit.out" 2>&1 || { echo "commit: $(tail -n 2 "$WORK/commit.out")"; return 1; }
  s3f_ctl "$STACK" wait-synced / >"$WORK/ws.out" 2>&1 || { echo "wait-synced exited $?"; return 1; }
  for i in $(seq 1 "$N"); do
    rm -f "$WORK/got"
    s3_get_file "$B" "${P}pf/f$i" "$WORK/got" 2>/dev/null && cmp -s "$WORK/got" "$NEW/f$i" ||
      { echo "S3 f$i is not the client's"; bad=1; lost=$((lost + 1)); }
  done
  if grep -q '"conflict"' "$STACK/state/events.jsonl" 2>/dev/null; then
    echo "a conflict was journaled"; bad=1
  fi
  count "$N" 0 "$lost"
  [ $bad = 0 ]
}
t_step s3_holds_the_writes in_s3

# ---- upload_killed_*: kill -9 of the daemon between an upload and its record ----
kill_syncd() {
  local pid
  pid=$(cat "$STACK/syncd.pid" 2>/dev/null) || return 1
  kill -KILL "$pid" 2>/dev/null
  { wait "$pid"; } 2>/dev/null
  return 0
}
conflicts_journaled() { grep -c '"conflict"' "$STACK/state/events.jsonl" 2>/dev/null || true; }
lost_found_entries() { nfs-ls "$(url /lost+found)" 2>/dev/null | grep -vcE ' \.\.?$' || true; }

# upload_killed CASE: uc-CASE/f holds v1 in S3 and the view; the client writes v2; the
# daemon is killed with v2 uploaded and not recorded; then CASE's client action; the
# daemon restarted commits; S3 must hold what the view holds, with no conflict.
upload_killed() {
  local c=$1 f=uc-$1/f bad=0 lost=0 c0 e1 e2
  printf 'v1 of %s\n' "$c" >"$WORK/v1"
  printf 'v2 of %s, a longer line\n' "$c" >"$WORK/v2"
  printf 'v3 of %s\n' "$c" >"$WORK/v3"
  s3_put_file "$B" "$P$f" "$WORK/v1" >/dev/null 2>&1 || { echo "put of v1 failed"; return 1; }
  nfs-ls "$(url "/uc-$c")" >/dev/null 2>&1
  nfs-cat "$(url "/$f")" >"$WORK/got" 2>/dev/null
  cmp -s "$WORK/got" "$WORK/v1" || { echo "v1 not in the view: '$(head -c 40 "$WORK/got")'"; return 1; }
  c0=$(conflicts_journaled)
  e1=$(s3_head_etag "$B" "$P$f")
  "$S3F_BUILD/bin/s3f_nfs" overwrite "$(url "/$f")" "$WORK/v2" || { echo "write of v2 failed"; return 1; }
  tp_hold sync.commit.uploaded
  s3f_ctl "$STACK" commit "/$f" >"$WORK/commit.$c.out" 2>&1 &
  local cpid=$!
  if ! t_wait_for 60 tp_reached sync.commit.uploaded; then
    tp_release sync.commit.uploaded; kill "$cpid" 2>/dev/null
    echo "the daemon never reached sync.commit.uploaded"; return 1
  fi
  kill_syncd
  tp_release sync.commit.uploaded
  wait "$cpid" 2>/dev/null
  rm -f "$WORK/got"
  s3_get_file "$B" "$P$f" "$WORK/got" 2>/dev/null && cmp -s "$WORK/got" "$WORK/v2" ||
    { echo "the killed daemon's upload is not in S3"; return 1; }
  e2=$(s3_head_etag "$B" "$P$f")
  [ "$e1" != "$e2" ] || { echo "the object did not change"; return 1; }
  case $c in
    written) "$S3F_BUILD/bin/s3f_nfs" overwrite "$(url "/$f")" "$WORK/v3" || { echo "write of v3 failed"; return 1; } ;;
    removed) "$S3F_BUILD/bin/s3f_nfs" rm "$(url "/$f")" || { echo "rm failed"; return 1; } ;;
  esac
  s3f_syncd_start "$STACK" >"$WORK/restart.$c.out" 2>&1 || { echo "restart: $(tail -n 3 "$WORK/restart.$c.out")"; return 1; }
  s3f_ctl "$STACK" commit >"$WORK/commit2.$c.out" 2>&1 || { echo "commit: $(tail -n 2 "$WORK/commit2.$c.out")"; return 1; }
  s3f_ctl "$STACK" wait-synced / >/dev/null 2>&1 || { echo "wait-synced exited $?"; bad=1; }
  rm -f "$WORK/got"
  case $c in
    kept|written)
      local want=$WORK/v2
      [ "$c" = written ] && want=$WORK/v3
      s3_get_file "$B" "$P$f" "$WORK/got" 2>/dev/null && cmp -s "$WORK/got" "$want" ||
        { echo "S3 holds '$(head -c 40 "$WORK/got" 2>/dev/null)', not the client's last write"; bad=1; lost=1; }
      nfs-cat "$(url "/$f")" >"$WORK/got" 2>/dev/null
      cmp -s "$WORK/got" "$want" || { echo "the view reads '$(head -c 40 "$WORK/got")'"; bad=1; lost=1; }
      if [ "$c" = kept ] && [ "$(s3_head_etag "$B" "$P$f")" != "$e2" ]; then
        echo "the object was uploaded a second time"; bad=1
      fi ;;
    removed)
      if s3_get_file "$B" "$P$f" "$WORK/got" 2>/dev/null; then
        echo "the removed file's object is still in S3"; bad=1
      fi ;;
  esac
  if [ "$(conflicts_journaled)" != "$c0" ]; then
    echo "a conflict was journaled: $(grep '"conflict"' "$STACK/state/events.jsonl" | tail -n 1)"; bad=1; lost=1
  fi
  if [ "$(lost_found_entries)" != 0 ]; then
    echo "lost+found is not empty: $(nfs-ls "$(url /lost+found)" 2>&1 | tr '\n' ' ')"; bad=1
  fi
  if grep -q 'had landed before its record' "$STACK/syncd.log"; then :; else
    echo "the daemon did not say it recorded its earlier upload"; bad=1
  fi
  count 1 1 "$lost"
  [ $bad = 0 ]
}
for c in kept written removed; do
  t_step "upload_killed_$c" upload_killed "$c"
done

read -r tried faults lost < <(awk '{ t += $1; f += $2; l += $3 } END { print t + 0, f + 0, l + 0 }' \
  "$WORK/counts" 2>/dev/null)
echo "tried ${tried:-0}, faults ${faults:-0}, lost ${lost:-0}"
echo "# races: tried ${tried:-0}, faults ${faults:-0}, lost ${lost:-0}"
t_done
