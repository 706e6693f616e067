#!/usr/bin/env bash
# conflicts: S3 wins. Files changed through the kernel NFS client (qemu guest) while
# another S3 client changes or deletes the same keys in RGW:
#
#   - 8 files whose upload is refused (If-Match, 412) at `s3filesctl commit`;
#   - 8 files whose change a poll of the daemon finds first (after a daemon restart,
#     which the conflicted state survives);
#   - 4 files deleted in S3 while changed through the mount;
# every one ends with S3's content (or absence) at its name, the file-side content
# byte-exact in /lost+found (named after its path and the time), 20 `conflict` events,
# the conflicts counter at 20 (kept across the restart), and nothing s3files wrote under
# lost+found in S3. One file is held open by the guest across its conflict: later writes
# through that descriptor land in the lost+found copy. Then a file removed through the
# mount while changed in S3: S3's version stays and comes back into the mount (event 21).
# lost+found itself: mode 0700, nothing can be created in it, its files can be removed.
set -uo pipefail
T_SUITE=conflicts
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup cf
export LC_ALL=C
RV=$WORK/rv
GPID=
cleanup() {
  [ -n "$GPID" ] && kill "$GPID" 2>/dev/null
  s3f_stack_stop "$STACK"
}
trap cleanup EXIT

t_step build_guest "$S3F_ROOT/test/vm/build-guest.sh" || t_done

# ---- data: base (committed first), file-side and S3-side versions of 20 files + d1 ----
D=$WORK/data
N=20
for i in $(seq -w 1 $N); do
  # c05 is larger than the hydrate threshold (128 KiB): imported without data
  sz=$(( 10#$i == 5 ? 3145728 : (RANDOM % 30000) + 1 ))
  head -c "$sz" /dev/urandom >"$D/base.$i"
  head -c $(( (RANDOM % 30000) + 1 )) /dev/urandom >"$D/file.$i"
  head -c $(( (RANDOM % 30000) + 1 )) /dev/urandom >"$D/s3.$i"
done
echo "tail written through the descriptor opened before the conflict" >"$D/tail"
cat "$D/file.01" "$D/tail" >"$D/lf.01"
for i in $(seq -w 2 $N); do cp "$D/file.$i" "$D/lf.$i"; done
echo "d1 as first committed" >"$D/base.d1"
echo "d1 as another S3 client rewrote it after the mount removed it" >"$D/s3.d1"

MP=$(t_free_port)
export S3FILES_COMMIT_INTERVAL=3600 S3FILES_POLL_MS=3600000
export S3FILES_DAEMON_EXTRA="Metrics_Listen = \"127.0.0.1:$MP\";"
[ -x "$S3F_BUILD/asan/bin/s3files-syncd" ] && export S3FILES_SYNCD=$S3F_BUILD/asan/bin/s3files-syncd
s3f_test_stack_start

conflict_events() { s3f_ctl "$STACK" events --kind conflict 2>/dev/null | grep -c '"kind":"conflict"'; }
# wait_events N SECS: until the journal holds N conflict events
wait_events() {
  local end=$(( $(date +%s) + $2 ))
  while [ "$(conflict_events)" -lt "$1" ]; do
    [ "$(date +%s)" -ge $end ] && return 1
    sleep 0.2
  done
}
metric() { curl -s "http://127.0.0.1:$MP/metrics" | awk -v m="$1" '$1 ~ "^"m"[{]" {print $2}'; }

# ---- the guest ----
cat >"$WORK/guest.sh" <<'GUEST'
M=/mnt/s3
mkdir -p $M
step mount nfs_mount noac /s3files $M || exit 1
mkdir -p $M/cf
i=1
while [ $i -le 20 ]; do n=$(printf %02d $i); cp /host$D/base.$n $M/cf/c$n; i=$((i + 1)); done
cp /host$D/base.d1 $M/cf/d1
step created sync
host_signal created; host_wait created 300 || exit 1

# phase 1: refused at commit. c01 stays open on fd 3 across its conflict.
exec 3>$M/cf/c01
cat /host$D/file.01 >&3
for n in 02 03 04 05 06 07 08; do cp /host$D/file.$n $M/cf/c$n; done
step phase1_written sync
host_signal phase1; host_wait phase1 300 || exit 1
cat /host$D/tail >&3
exec 3>&-

# phase 2: found by a poll (after a daemon restart)
for n in 09 10 11 12 13 14 15 16; do cp /host$D/file.$n $M/cf/c$n; done
step phase2_written sync
host_signal phase2; host_wait phase2 300 || exit 1

# phase 3: deleted in S3
for n in 17 18 19 20; do cp /host$D/file.$n $M/cf/c$n; done
step phase3_written sync
host_signal phase3; host_wait phase3 300 || exit 1

s3_side() {
  for n in 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16; do
    cmp $M/cf/c$n /host$D/s3.$n || { echo "c$n is not S3's version"; return 1; }
  done
}
step s3_version_at_name s3_side
gone() {
  for n in 17 18 19 20; do [ ! -e $M/cf/c$n ] || { echo "c$n still there"; return 1; }; done
}
step deleted_in_s3_gone gone
lf_side() {
  [ "$(ls $M/lost+found | wc -l)" = 20 ] || { ls -l $M/lost+found; return 1; }
  for n in 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 20; do
    set -- $M/lost+found/cf%2Fc$n.*
    [ $# = 1 ] && [ -f "$1" ] || { echo "lost+found has no single entry for c$n: $*"; return 1; }
    cmp "$1" /host$D/lf.$n || { echo "lost+found copy of c$n differs"; return 1; }
  done
}
step file_side_in_lost_found lf_side
name_has_time() { ls $M/lost+found | grep -Eq '^cf%2Fc07\.[0-9]{8}T[0-9]{6}Z$'; }
step lost_found_name_has_path_and_time name_has_time
step lost_found_mode sh -c "test \$(stat -c %a $M/lost+found) = 700"
step lost_found_refuses_new sh -c "! touch $M/lost+found/new 2>/dev/null && ! mkdir $M/lost+found/nd 2>/dev/null"
step lost_found_refuses_rename_out sh -c "! mv $M/lost+found/cf%2Fc02.* $M/cf/back 2>/dev/null"
host_signal checked; host_wait checked 120 || exit 1
step lost_found_entry_removable sh -c "rm $M/lost+found/cf%2Fc02.* && test \$(ls $M/lost+found | wc -l) = 19"

# phase 4: removed through the mount while changed in S3
rm $M/cf/d1
step phase4_removed sync
host_signal phase4; host_wait phase4 300 || exit 1
back() {
  for i in $(seq 1 50); do cmp -s $M/cf/d1 /host$D/s3.d1 && return 0; sleep 0.2; done
  ls -l $M/cf; return 1
}
step removed_file_back_as_s3s back
step umount umount $M
GUEST

"$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$WORK/guest.sh" --timeout 900 \
  --log "$WORK/console.log" --rendezvous "$RV" --mem 1024 \
  --env NFS_PORT="$NFS_PORT" --env D="$D" >"$WORK/guest.out" 2>"$WORK/guest.err" &
GPID=$!

host_phase() { # NAME: wait for the guest, run the rest, let the guest go on
  local name=$1; shift
  if ! vm_rv_wait "$RV" "$name" 600; then t_fail "rv_$name" "the guest never got there"; return 1; fi
  "$@"
  vm_rv_ack "$RV" "$name"
}

commit_all() {
  if out=$(s3f_ctl "$STACK" commit cf 2>&1); then t_pass commit_base; else t_fail commit_base "$out"; fi
  for i in $(seq -w 1 $N); do
    s3_get_file "$B" "${P}cf/c$i" "$WORK/got" 2>/dev/null && cmp -s "$WORK/got" "$D/base.$i" ||
      { t_fail base_in_s3 "c$i"; return; }
  done
  t_pass base_in_s3
}
host_phase created commit_all

phase1() {
  local i out
  for i in 01 02 03 04 05 06 07 08; do s3_put_file "$B" "${P}cf/c$i" "$D/s3.$i" >/dev/null; done
  out=$(s3f_ctl "$STACK" commit cf 2>&1)
  echo "# commit with 8 refused uploads: $out"
  case $out in *conflicts=8*) t_pass refused_uploads_resolved ;; *) t_fail refused_uploads_resolved "$out" ;; esac
}
host_phase phase1 phase1

phase2() {
  local i t0 n
  for i in 09 10 11 12 13 14 15 16; do s3_put_file "$B" "${P}cf/c$i" "$D/s3.$i" >/dev/null; done
  # restart the daemon with a short poll interval: the poll finds the conflicts
  s3f_syncd_stop "$STACK"
  sed -i 's/Poll_Interval_Ms = [0-9]*;/Poll_Interval_Ms = 500;/' "$STACK/ganesha.conf"
  t0=$(date +%s%N)
  if ! s3f_syncd_start "$STACK" >"$WORK/restart.out" 2>&1; then
    t_fail syncd_restart "$(tail -n 3 "$WORK/restart.out" | tr '\n' ' ')"; return
  fi
  if wait_events 16 60; then
    t_pass polled_conflicts_resolved
  else
    t_fail polled_conflicts_resolved "$(conflict_events) conflict events"
  fi
  echo "# restart to 8 conflicts found by polling and resolved: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
}
host_phase phase2 phase2

phase3() {
  local i ws rc
  # wait-synced, started before: it gets there, and says the conflicts happened (exit 3)
  s3f_ctl "$STACK" wait-synced --timeout 120 cf >"$WORK/ws.out" 2>"$WORK/ws.err" &
  ws=$!
  sleep 0.5
  for i in 17 18 19 20; do s3_rm "$B" "${P}cf/c$i" >/dev/null; done
  if wait_events 20 60; then
    t_pass deleted_conflicts_resolved
  else
    t_fail deleted_conflicts_resolved "$(conflict_events) conflict events"
  fi
  wait $ws; rc=$?
  if [ $rc = 3 ] && [ "$(grep -c '"s3":"deleted"' "$WORK/ws.err")" = 4 ] &&
     grep -q 'lost+found' "$WORK/ws.err" && grep -q '  cf/c01$' "$WORK/ws.out"; then
    t_pass wait_synced_reports_conflicts
  else
    t_fail wait_synced_reports_conflicts "rc=$rc $(tail -n 2 "$WORK/ws.err" | tr '\n' ' ')"
  fi
}
host_phase phase3 phase3

after_twenty() {
  local n i bad=
  n=$(conflict_events)
  [ "$n" = 20 ] && t_pass twenty_events || t_fail twenty_events "$n conflict events"
  n=$(metric s3files_sync_conflicts_total)
  [ "$n" = 20 ] && t_pass counter_twenty || t_fail counter_twenty "s3files_sync_conflicts_total=$n"
  n=$(s3f_ctl "$STACK" status | sed -n 's/.* conflicts=\([0-9]*\).*/\1/p' | head -n 1)
  [ "$n" = 20 ] && t_pass status_twenty || t_fail status_twenty "status conflicts=$n"
  # S3 kept its versions; nothing under lost+found went to S3
  for i in $(seq -w 1 16); do
    s3_get_file "$B" "${P}cf/c$i" "$WORK/got" 2>/dev/null && cmp -s "$WORK/got" "$D/s3.$i" || bad+=" c$i"
  done
  for i in 17 18 19 20; do s3_exists "$B" "${P}cf/c$i" && bad+=" c$i(exists)"; done
  [ -z "$bad" ] && t_pass s3_versions_kept || t_fail s3_versions_kept "$bad"
  [ -z "$(s3_ls "$B" "${P}lost+found")" ] && t_pass lost_found_not_in_s3 ||
    t_fail lost_found_not_in_s3 "$(s3_ls "$B" "${P}lost+found" | head -n 3)"
  # every event names the key, both ETags and where the file-side version went
  if s3f_ctl "$STACK" events --kind conflict | grep '"s3":"changed"' | head -n 16 |
       grep -c '"etag_base":"[0-9a-f]*","etag_s3":"[0-9a-f]\{32\}","lost_found":"lost+found/cf%2Fc[0-9]*\.' | grep -qx 16 &&
     [ "$(s3f_ctl "$STACK" events --kind conflict | grep -c '"s3":"deleted"')" = 4 ]; then
    t_pass events_complete
  else
    t_fail events_complete "$(s3f_ctl "$STACK" events --kind conflict | head -n 2 | tr '\n' ' ')"
  fi
  n=$(s3f_ctl "$STACK" status | sed -n 's/.* dirty=\([0-9]*\) .*/\1/p' | head -n 1)
  [ "$n" = 0 ] && t_pass nothing_left_dirty || t_fail nothing_left_dirty "dirty=$n"
}
host_phase checked after_twenty

phase4() {
  s3_put_file "$B" "${P}cf/d1" "$D/s3.d1" >/dev/null
  out=$(s3f_ctl "$STACK" commit cf 2>&1)
  echo "# commit with a delete refused (S3 changed): $out"
  wait_events 21 30 &&
    t_pass delete_vs_edit_event || t_fail delete_vs_edit_event "$(conflict_events) events"
  s3_get_file "$B" "${P}cf/d1" "$WORK/got" 2>/dev/null && cmp -s "$WORK/got" "$D/s3.d1" &&
    t_pass delete_vs_edit_s3_kept || t_fail delete_vs_edit_s3_kept "d1 in S3 is not S3's version"
}
host_phase phase4 phase4

wait "$GPID"
guest_rc=$?
GPID=
cat "$WORK/guest.out"
T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$WORK/guest.out")))
if [ $guest_rc -ne 0 ] && ! grep -q '^FAIL ' "$WORK/guest.out"; then
  t_fail guest "run-guest exited $guest_rc: $(tail -n 3 "$WORK/guest.err" | tr '\n' ' ')"
fi
n=$(metric s3files_sync_conflicts_total)
[ "$n" = 21 ] && t_pass counter_after_delete_vs_edit || t_fail counter_after_delete_vs_edit "counter=$n"
s3f_stack_stop "$STACK"   # the sanitizers report leaks at exit
# The daemon ran under ASan/UBSan when built: no report in its log.
if grep -q 'ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer' "$STACK/syncd.log" "$STACK/syncd.out" 2>/dev/null; then
  t_fail syncd_sanitizers "$(grep -m1 'ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer' "$STACK/syncd.log" "$STACK/syncd.out")"
else
  t_pass syncd_sanitizers
fi
t_done
