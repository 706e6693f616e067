#!/usr/bin/env bash
# lost_delete: a file removed through NFS while another client writes a new version of its
# object, with the daemon's two paths that notice it racing each other (full stack on the
# real RGW, libnfs on the host, the daemon held at test points, S3F_TP_DIR, core/base/tp.h):
#   - the delete pass, run from the control socket (`s3filesctl commit`), is held after its
#     check of the object (s3.delete.before), so its conditional DELETE will be refused;
#   - meanwhile the worker's poll (held at sync.poll.pass until the new version is in S3)
#     lists the directory, sees the new version under a pending delete, drops the delete
#     and shows S3's version (S3 wins) — and reports the conflict;
#   - released, the delete pass is refused (412) and finds the delete already dropped.
# The conflict is reported once: one changed_after_remove event, conflicts=1 in status,
# the new version in S3 and through NFS.
set -uo pipefail
T_SUITE=lost_delete
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup ld
tp_dir "$WORK/tp"
cleanup() {
  tp_release_all
  s3f_stack_stop "$STACK"
}
trap cleanup EXIT

D=$WORK/data
printf 'removed through NFS\n' >"$D/victim"
printf 'written by another client meanwhile\n' >"$D/other"
printf 'stays\n' >"$D/keep"
ok=1
s3_put_file "$B" "${P}dl/victim.txt" "$D/victim" >/dev/null || ok=0
s3_put_file "$B" "${P}dl/keep.txt" "$D/keep" >/dev/null || ok=0
[ $ok = 1 ] && t_pass put_before_start || { t_fail put_before_start; t_done; }

export S3FILES_COMMIT_INTERVAL=3600 S3FILES_POLL_MS=500
export S3FILES_EXPORT_EXTRA="Hydrate_Threshold = 0;"
s3f_test_stack_start
url() { printf 'nfs://127.0.0.1/s3files%s?version=4&nfsport=%s' "$1" "$NFS_PORT"; }
JOURNAL=$STACK/state/events.jsonl
events() { grep '"changed_after_remove"' "$JOURNAL" 2>/dev/null | grep -c "dl/victim.txt"; }
listed_again() { events | grep -qx 1; }

race() {
  nfs-ls "$(url /dl)" | grep -q victim.txt || { echo "nfs-ls /dl does not show victim.txt"; return 1; }
  "$S3F_BUILD/bin/s3f_nfs" rm "$(url /dl/victim.txt)" || { echo "rm failed"; return 1; }
  tp_hold sync.poll.pass
  t_wait_for 30 tp_reached sync.poll.pass || { tp_release sync.poll.pass; echo "no poll reached sync.poll.pass"; return 1; }
  tp_hold s3.delete.before
  s3f_ctl "$STACK" commit >"$WORK/commit.out" 2>&1 &
  local cpid=$!
  if ! t_wait_for 60 tp_reached s3.delete.before; then
    tp_release s3.delete.before; tp_release sync.poll.pass; wait $cpid
    echo "the delete pass never reached s3.delete.before"; return 1
  fi
  # RGW checks the delete against the Last-Modified second the HEAD saw (SEMANTICS.md: a
  # write in that same second would be deleted): the other client writes a second later.
  sleep 1.1
  s3_put_file "$B" "${P}dl/victim.txt" "$D/other" >/dev/null ||
    { tp_release s3.delete.before; tp_release sync.poll.pass; wait $cpid; return 1; }
  tp_release sync.poll.pass
  if ! t_wait_for 30 listed_again; then
    tp_release s3.delete.before; wait $cpid
    echo "the poll did not report the lost delete ($(events) events)"; return 1
  fi
  tp_release s3.delete.before
  wait $cpid
  echo "# commit: $(tr '\n' ' ' <"$WORK/commit.out")"
}
t_step race race

n=$(events)
[ "$n" = 1 ] && t_pass one_event || t_fail one_event "$n changed_after_remove events for dl/victim.txt (want 1): $(grep -h 'dl/victim' "$JOURNAL" | tr '\n' ' ')"
c=$(s3f_ctl "$STACK" status | sed -n 's/.* conflicts=\([0-9]*\).*/\1/p' | head -n 1)
[ "$c" = 1 ] && t_pass one_counted || t_fail one_counted "conflicts=$c (want 1)"
same_s3() { rm -f "$WORK/got"; s3_get_file "$B" "${P}dl/victim.txt" "$WORK/got" 2>/dev/null && cmp -s "$WORK/got" "$D/other"; }
t_step s3_keeps_new_version same_s3
shows_new() { nfs-cat "$(url /dl/victim.txt)" 2>/dev/null | cmp -s - "$D/other"; }
t_step nfs_shows_new_version t_wait_for 20 shows_new
t_done
