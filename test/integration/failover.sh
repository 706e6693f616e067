#!/usr/bin/env bash
# failover: gateway A is killed (SIGKILL, no drain) with dirty data and two kernel NFSv4.1
# clients holding open files and locks; gateway B (new processes, its own config, logs,
# pid files and RecoveryRoot) takes over A's State_Dir (the volume that moves) and its
# address and port. Client recovery state lives in RADOS: ganesha's own rados_cluster
# recovery backend (libganesha_rados_recov.so, nfs-ganesha-ceph), in a pool of the test
# Ceph cluster, with the grace database made by ganesha-rados-grace and the same nodeid on
# A and B; the recovery settings are rendered by s3files-genconf from s3files.conf keys.
#
#   before:   each guest (two qemu guests at once, Linux 6.1) writes a file and closes it,
#             and holds a second file open (s3f-guest-util hold): written, fsync'd, a write
#             lock on its first 4 KiB. Nothing is in S3 yet (Commit_Interval is an hour);
#             A's recovery object in RADOS holds one record per client.
#   takeover: SIGKILL ganesha and s3files-syncd of A; fence A's RADOS client (osd
#             blocklist: its watch on the grace database goes); start B on the same
#             State_Dir and port. Each guest then appends to its held file through the
#             *same* descriptor and fsyncs (reclaim of the open state), reads it back, and
#             its name_to_handle_at handle is the one it had before. Each guest's
#             conflicting F_SETLK on the other guest's locked range fails with EAGAIN (the
#             lock was reclaimed), and succeeds once the holder unlocked. The times from
#             the kill to B serving, to the fsync and to the lock answer are printed.
#   after:    B's daemon uploads what A left dirty plus what came after (wait-synced):
#             every object byte for byte as written (independent S3 client); the recovery
#             records are RADOS objects in the pool/namespace, and no recovery directory
#             exists on the local disk (A's and B's RecoveryRoot and the State_Dir).
set -uo pipefail
T_SUITE=failover
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"
export LC_ALL=C

s3f_test_setup fo
RGWD=${RGW_TEST_DIR:-$S3F_BUILD/test-rgw}
CEPH_CONF=$RGWD/ceph.conf
POOL=s3files-recov
RNS=failover-$$
NODEID=gw-fo-$$
A=$WORK/a
BB=$WORK/b
VOL=$WORK/volume
RV=$WORK/rv
D=$WORK/data
G1PID='' G2PID=''
FENCED=''
mkdir -p "$VOL"

cleanup() {
  [ -n "$G1PID" ] && kill "$G1PID" 2>/dev/null
  [ -n "$G2PID" ] && kill "$G2PID" 2>/dev/null
  s3f_stack_stop "$BB"
  s3f_stack_stop "$A"
  rados_ns ls 2>/dev/null | while read -r o; do rados_ns rm "$o" 2>/dev/null; done
  for a in $FENCED; do ceph_cli osd blocklist rm "$a" >/dev/null 2>&1; done
  [ "$T_FAILED" -eq 0 ] && rm -rf "$WORK"
}
trap cleanup EXIT
ms_now() { echo $(( $(date +%s%N) / 1000000 )); }
# Ceph clients' admin sockets (client.admin.asok in the cluster's run dir) are not needed:
# several at once (ganesha A and B, these tools) would collide on the one name, and a
# killed ganesha would leave its socket file behind in the shared cluster's directory.
# The gateways get the cluster's ceph.conf with the admin socket off for clients.
GW_CEPH_CONF=$WORK/ceph-gw.conf
{ cat "$CEPH_CONF"; printf '\n[client]\nadmin socket =\n'; } >"$GW_CEPH_CONF"
grace() { CEPH_ARGS=--admin-socket= ganesha-rados-grace --cephconf "$CEPH_CONF" --pool "$POOL" --ns "$RNS" "$@"; }
ceph_cli() { "$S3F_ROOT/test/lib/rgw.sh" ceph "$RGWD" "$@"; }
rados_ns() { rados -c "$CEPH_CONF" --admin-socket= -p "$POOL" -N "$RNS" "$@"; }

for p in /usr/lib/ganesha/libganesha_rados_recov.so /usr/bin/ganesha-rados-grace; do
  [ -e "$p" ] || { t_fail setup "$p missing (make deps: nfs-ganesha-ceph, nfs-ganesha-rados-grace)"; t_done; }
done
t_step build_guest "$S3F_ROOT/test/vm/build-guest.sh" || t_done

# ---- the recovery pool and the grace database (one member: the gateway's nodeid) ----
# `osd pool create` of an existing pool succeeds: the pool outlives the suite, the
# namespace is the suite's own and its objects are removed at the end.
t_step rados_pool bash -c "'$S3F_ROOT/test/lib/rgw.sh' ceph '$RGWD' osd pool create $POOL 8 8 &&
  '$S3F_ROOT/test/lib/rgw.sh' ceph '$RGWD' osd pool application enable $POOL nfs" || t_done
t_step grace_db_add grace add "$NODEID" || t_done

# ---- data ----
for g in 1 2; do
  head -c $((300000 + g * 1000)) /dev/urandom >"$D/closed$g.bin"
  head -c $((70000 + g)) /dev/urandom >"$D/a$g.bin"
  head -c $((9000 + g)) /dev/urandom >"$D/b$g.bin"
  cat "$D/a$g.bin" "$D/b$g.bin" >"$D/held$g.expect"
done

# ---- gateway A: the same settings B gets, but its own directory ----
NFS_PORT=$(pick_port)
export NFS_PORT S3FILES_STATE_DIR=$VOL/state S3FILES_COMMIT_INTERVAL=3600
export S3FILES_LEASE=10
# The recovery settings as an operator gives them (s3files.conf), rendered by
# s3files-genconf: its RecoveryBackend, Grace_Period, Graceless and RADOS_KV block are
# what both gateways run with.
cat >"$WORK/s3files.conf" <<EOF
bucket = $B
recovery_backend = rados_cluster
rados_ceph_conf = $GW_CEPH_CONF
rados_pool = $POOL
rados_namespace = $RNS
rados_nodeid = $NODEID
grace_period = 20
graceless = false
EOF
if ! S3FILESCTL=$S3F_BUILD/bin/s3filesctl "$S3F_ROOT/packaging/s3files-genconf" \
       -c "$WORK/s3files.conf" -o "$WORK/generated.conf" 2>"$WORK/genconf.err"; then
  t_fail genconf "$(tr '\n' ' ' <"$WORK/genconf.err")"; t_done
fi
S3FILES_NFSV4_EXTRA=$(sed -n '/^NFSV4 {/,/^}/p' "$WORK/generated.conf" |
  grep -E '^\s*(RecoveryBackend|Grace_Period) =')
S3FILES_GRACELESS=$(sed -n 's/^\s*Graceless = \(.*\);/\1/p' "$WORK/generated.conf")
S3FILES_CONF_EXTRA=$(sed -n '/^RADOS_KV {/,/^}/p' "$WORK/generated.conf")
export S3FILES_NFSV4_EXTRA S3FILES_GRACELESS S3FILES_CONF_EXTRA
if [ "$S3FILES_GRACELESS" = false ] && grep -q 'RecoveryBackend = rados_cluster;' <<<"$S3FILES_NFSV4_EXTRA" &&
   grep -q "nodeid = \"$NODEID\";" <<<"$S3FILES_CONF_EXTRA"; then
  t_pass genconf
else
  t_fail genconf "$(sed -n '/^NFSV4/,/^}/p;/^RADOS_KV/,/^}/p' "$WORK/generated.conf" | tr '\n\t' '  ')"; t_done
fi
T0=$(ms_now)
if ! s3f_stack_start "$A" >"$WORK/start-a.out" 2>&1; then
  t_fail start_a "$(tail -n 5 "$WORK/start-a.out" | tr '\n' ' ')"; t_done
fi
t_pass start_a
echo "# A (ganesha and s3files-syncd) serving $(( $(ms_now) - T0 )) ms after its start"

# ---- the guests: the same script, ME holds file ME and tests the other's lock ----
cat >"$WORK/guest.sh" <<'GUEST'
M=/mnt/s3
H=/ctl/rv/h$ME
mkdir -p $M $H
waitfile() { # FILE SECS: until FILE exists; fails on the holder's error file
  i=0
  while [ ! -e "$1" ]; do
    [ -e $H/error ] && { cat $H/error >&2; return 1; }
    [ $i -ge $(($2 * 10)) ] && { echo "no $1 after $2 s" >&2; return 1; }
    sleep 0.1; i=$((i + 1))
  done
}
# Two guests with the same name would be one NFSv4 client to the server (the Linux client
# builds its client owner from the node name), the second mount taking over the first's
# state.
hostname fo-g$ME
step mount nfs_mount "" /s3files $M || exit 1
step mkdir sh -c "mkdir -p $M/fo"
step write_closed sh -c "cp /host$DATA/closed$ME.bin $M/fo/closed$ME.bin && sync"
s3f-guest-util hold $M/fo/held$ME /host$DATA/a$ME.bin /host$DATA/b$ME.bin 4096 $H 600 \
  >/tmp/hold.out 2>&1 &
step hold_open_and_locked waitfile $H/held 120
host_signal ready$ME
step takeover host_wait takeover 400
touch $H/go
step same_fd_write_after_takeover waitfile $H/written 300
step same_handle sh -c "cmp $H/fh.before $H/fh.after"
step read_back_other sh -c "cmp $M/fo/closed$ME.bin /host$DATA/closed$ME.bin"
# The other guest still holds its lock: a conflicting F_SETLK must fail (exit 3).
# It is not a reclaim: the server answers it only once the grace period is over.
step other_lock_conflicts sh -c "s3f-guest-util lock $M/fo/held$OTHER w 0 4096 try 0; test \$? = 3"
host_signal checked$ME
step both_checked host_wait unlock 300
touch $H/unlock
step unlocked waitfile $H/unlocked 60
host_signal unlocked$ME
step both_unlocked host_wait retry 300
step other_lock_free s3f-guest-util lock $M/fo/held$OTHER w 0 4096 try 0
touch $H/close
step closed waitfile $H/closed 60
step umount umount $M
GUEST

for g in 1 2; do
  o=$((3 - g))
  mkdir -p "$WORK/g$g"
  "$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE/g$g" --script "$WORK/guest.sh" \
    --timeout 900 --log "$WORK/g$g/console.log" --rendezvous "$RV.$g" \
    --env NFS_PORT="$NFS_PORT" --env DATA="$D" --env ME=$g --env OTHER=$o \
    >"$WORK/g$g/out" 2>"$WORK/g$g/err" &
  eval "G${g}PID=\$!"
done

finish_guests() {
  local g pid rc
  for g in 1 2; do
    eval "pid=\$G${g}PID"
    [ -n "$pid" ] || continue
    wait "$pid"; rc=$?
    eval "G${g}PID="
    cat "$WORK/g$g/out"
    T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$WORK/g$g/out")))
    if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$WORK/g$g/out"; then
      t_fail "guest$g" "run-guest exited $rc: $(tail -n 3 "$WORK/g$g/err" | tr '\n' ' ')"
    fi
  done
}
rv_both() { # SIGNAL-PREFIX SECS: guest g signalled PREFIXg
  vm_rv_wait "$RV.1" "${1}1" "$2" && vm_rv_wait "$RV.2" "${1}2" "$2"
}
ack_both() { vm_rv_ack "$RV.1" "$1"; vm_rv_ack "$RV.2" "$1"; }

if ! rv_both ready 400; then
  t_fail ready "the guests never held their files"; finish_guests; t_done
fi
t_pass guests_hold_files_and_locks

# ---- before the kill: dirty (not in S3), records in RADOS ----
bad=
for g in 1 2; do
  for k in closed$g.bin held$g; do
    s3_exists "$B" "${P}fo/$k" && bad+=" $k"
  done
done
if [ -z "$bad" ]; then t_pass dirty_not_in_s3; else t_fail dirty_not_in_s3 "already in S3:$bad"; fi
s3f_ctl "$A" status | head -n 1 | sed 's/^/# A before the kill: /'
# rec-<epoch>:<nodeid>: one omap key per confirmed client (rados_cluster's naming)
rec_obj() { rados_ns ls 2>/dev/null | grep -E "^rec-[0-9a-f]{16}:$NODEID\$" | sort | tail -n 1; }
rec_keys() {
  local o
  o=$(rec_obj)
  [ -n "$o" ] || { echo 0; return; }
  rados_ns listomapkeys "$o" 2>/dev/null | wc -l
}
if t_wait_for 20 test "$(rec_keys)" -ge 2; then
  t_pass rados_records_before
else
  t_fail rados_records_before "objects: $(rados_ns ls 2>&1 | tr '\n' ' '); keys: $(rec_keys)"
fi
REC_A=$(rec_obj)
echo "# RADOS $POOL/$RNS before the kill: $(rados_ns ls 2>&1 | sort | tr '\n' ' ')"
grace dump 2>&1 | sed 's/^/# grace db: /'

# A's RADOS client, as the grace database's watchers list it (to fence it below)
A_RADOS=$(rados_ns listwatchers grace 2>/dev/null | sed -n 's/^watcher=\([^ ]*\) .*/\1/p')
if [ -n "$A_RADOS" ]; then t_pass a_watches_grace_db
else t_fail a_watches_grace_db "no watcher on the grace object"; fi

# ---- the takeover ----
T_KILL=$(ms_now)
for f in ganesha syncd; do
  pid=$(cat "$A/$f.pid")
  kill -KILL "$pid" && { wait "$pid"; } 2>/dev/null
  rm -f "$A/$f.pid"
done
echo "# A killed (SIGKILL, ganesha and s3files-syncd)"
# Fencing: A's RADOS client is blocklisted, as a failover manager does before it starts
# the replacement (a gateway only cut off could otherwise still write recovery records).
# It also drops A's watch on the grace database at once: otherwise the OSD keeps it for
# ganesha's 30 s watch timeout, and every grace notification of B waits 3 s for it.
fence_ok=1
for a in $A_RADOS; do
  if ceph_cli osd blocklist add "$a" >"$WORK/fence.out" 2>&1; then FENCED+=" $a"; else fence_ok=0; fi
done
if [ $fence_ok = 1 ] && [ -z "$(rados_ns listwatchers grace 2>/dev/null)" ]; then
  t_pass fence_a
else
  t_fail fence_a "$(tail -n 2 "$WORK/fence.out" | tr '\n' ' ') watchers: $(rados_ns listwatchers grace 2>&1 | tr '\n' ' ')"
fi
echo "# A fenced (its RADOS client blocklisted) $(( $(ms_now) - T_KILL )) ms after the kill"
# B: new processes and files, the same volume, port and nodeid; a short commit interval
# so that B's daemon uploads A's backlog by itself.
if ! S3FILES_COMMIT_INTERVAL=3 s3f_stack_start "$BB" >"$WORK/start-b.out" 2>&1; then
  t_fail start_b "$(tail -n 5 "$WORK/start-b.out" | tr '\n' ' ')"
  finish_guests; t_done
fi
T_UP=$(ms_now)
t_pass start_b
echo "# B serving $((T_UP - T_KILL)) ms after the kill"
ack_both takeover
# written_or_error G: guest G's holder is past the write after the takeover, or failed
written_or_error() { [ -e "$RV.$1/h$1/written" ] || [ -e "$RV.$1/h$1/error" ]; }
for g in 1 2; do
  if t_wait_for 300 written_or_error $g && [ -e "$RV.$g/h$g/written" ]; then
    echo "# guest $g: fsync on its held descriptor returned $(( $(ms_now) - T_KILL )) ms after the kill (host clock, 0.1 s polling)"
  fi
done

# Failed steps in a guest are its own FAIL lines; a guest stuck short of a rendezvous is
# released by its own host_wait timeout.
# The reclaimed clients are B's records now: a new epoch's object, one key per client.
if t_wait_for 20 test "$(rec_keys)" -ge 2 && [ -n "$REC_A" ] && [ "$(rec_obj)" != "$REC_A" ]; then
  t_pass rados_records_after_reclaim
else
  t_fail rados_records_after_reclaim "A's $REC_A, now $(rec_obj) with $(rec_keys) keys"
fi
for g in 1 2; do
  if vm_rv_wait "$RV.$g" checked$g 300; then
    echo "# guest $g: its conflicting F_SETLK (a new lock: after the grace period) answered $(( $(ms_now) - T_KILL )) ms after the kill"
  fi
done
grep -E "IN GRACE|reclaim complete" "$BB/ganesha.log" | sed 's/^\([^:]*:[^:]*:[^ ]*\) .*\] /# B: \1 /' | tail -n 4
rv_both checked 1 && ack_both unlock
rv_both unlocked 120 && ack_both retry
finish_guests
for g in 1 2; do
  if [ -s "$RV.$g/h$g/error" ] 2>/dev/null; then echo "# holder $g: $(cat "$RV.$g/h$g/error")"; fi
done

# ---- after: the data in S3, the records in RADOS and not on disk ----
T0=$(ms_now)
if out=$(s3f_ctl "$BB" wait-synced --timeout 120 fo 2>&1); then
  t_pass wait_synced
  echo "# B's daemon had everything in S3 $(( $(ms_now) - T0 )) ms after the guests finished"
else
  t_fail wait_synced "$out"
fi
for g in 1 2; do
  for pair in "closed$g.bin:closed$g.bin" "held$g:held$g.expect"; do
    k=${pair%%:*} f=${pair#*:}
    if ! s3_get_file "$B" "${P}fo/$k" "$WORK/got" 2>"$WORK/get.err"; then
      t_fail "s3_$k" "GET: $(tr '\n' ' ' <"$WORK/get.err")"
    elif cmp -s "$WORK/got" "$D/$f"; then
      t_pass "s3_$k"
    else
      t_fail "s3_$k" "$(stat -c %s "$WORK/got") bytes in S3, $(stat -c %s "$D/$f") written; content differs"
    fi
  done
done

objs=$(rados_ns ls 2>&1 | sort | tr '\n' ' ')
echo "# RADOS $POOL/$RNS after: $objs"
if [[ " $objs " == *" grace "* ]] && [[ $objs =~ rec-[0-9a-f]{16}:$NODEID ]]; then
  t_pass rados_records_after
else
  t_fail rados_records_after "objects: $objs"
fi
local_recov=$(find "$A/ganesha/recovery" "$BB/ganesha/recovery" "$VOL" -mindepth 1 \
  \( -name 'v4recov*' -o -name 'v4old*' -o -path "*/ganesha/recovery/*" \) 2>/dev/null | head -n 5)
if [ -z "$local_recov" ]; then t_pass no_local_recovery_files
else t_fail no_local_recovery_files "$local_recov"; fi

t_done
