#!/usr/bin/env bash
# commit_close: Commit_On_Close through the Linux kernel NFSv4.1 client (qemu guest), with
# the full stack on the real RGW, checked in S3 with the independent client (test/lib/s3.sh).
#
# Commit_Interval is an hour throughout, so anything that reaches S3 during the test was
# uploaded because of a close or a flush. With Commit_On_Close = true:
#   - a file written and closed appears in S3 within a few seconds, byte-exact (the
#     latency from close(2) returning to the object being there is printed);
#   - a file kept open and written (4 MiB, by a process that does nothing else) is NOT
#     uploaded while it stays open; after an fsync by another process of the same client
#     (dd conv=fsync: same open owner, so no CLOSE reaches the server) it is, with all its
#     bytes, while still open;
#   - two writers from two mounts (two open owners): the one that closes first does not
#     get the other's half-written file uploaded; the last one's close does;
#   - a file closed while the daemon is down is uploaded right after the daemon starts
#     again (the request is in the store, not in the daemon);
#   - s3files_sync_close_commits_total on /metrics counts exactly those uploads.
# Then the stack restarts with the default (Commit_On_Close = false): a file closed, and
# one written with fsync, are not uploaded (watched for longer than the uploads above
# took); `s3filesctl commit` then uploads both intact.
set -uo pipefail
T_SUITE=commit_close
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup cc
RV=$WORK/rv
GPID=
WATCH_S=${COMMIT_CLOSE_WATCH_S:-5}	# how long "not uploaded" is watched
cleanup() {
  [ -n "$GPID" ] && kill "$GPID" 2>/dev/null
  s3f_stack_stop "$STACK"
}
trap cleanup EXIT

t_step build_guest "$S3F_ROOT/test/vm/build-guest.sh" || t_done

# ---- data ----
D=$WORK/data
head -c 1048576 /dev/urandom >"$D/closed.bin"
head -c 4194304 /dev/urandom >"$D/open1.bin"
head -c 1048576 /dev/urandom >"$D/open2.bin"
cat "$D/open1.bin" "$D/open2.bin" >"$D/open.want"
head -c 1048576 /dev/urandom >"$D/sh1.bin"
head -c 1048576 /dev/urandom >"$D/sh2.bin"
cat "$D/sh1.bin" "$D/sh2.bin" >"$D/shared.want"
head -c 300000 /dev/urandom >"$D/restart.bin"
head -c 1048576 /dev/urandom >"$D/off.bin"
head -c 1048576 /dev/urandom >"$D/off2.bin"

MP=$(t_free_port)
METRICS_URL=http://127.0.0.1:$MP
export S3FILES_COMMIT_INTERVAL=3600 S3FILES_POLL_MS=1000
export S3FILES_DAEMON_EXTRA="Metrics_Listen = \"127.0.0.1:$MP\";"
export S3FILES_EXPORT_EXTRA="Commit_On_Close = true;"
s3f_test_stack_start
export NFS_PORT
if grep -q "Commit_On_Close" "$STACK/syncd.out" "$STACK/ganesha.log" 2>/dev/null; then
  t_fail no_not_implemented_warning "$(grep -h Commit_On_Close "$STACK/syncd.out" "$STACK/ganesha.log" | head -n 1)"
else
  t_pass no_not_implemented_warning
fi

# ---- the guest ----
cat >"$WORK/guest.sh" <<'GUEST'
M=/mnt/s3
M2=/mnt/s3b
mkdir -p $M $M2
wait_file() { # FILE SECONDS
  _n=0
  while [ ! -e "$1" ]; do
    _n=$((_n + 1)); [ $_n -gt $(( $2 * 10 )) ] && { echo "no $1 after $2 s" >&2; return 1; }
    sleep 0.1
  done
}
step mount nfs_mount "" /s3files $M || exit 1
note "mount: $(grep " $M " /proc/mounts | sed 's/.*\(wsize=[0-9]*\).*/\1/')"

# 1. written and closed
step write_close dd if=/host$DATA/closed.bin of=$M/closed.bin bs=256k
now_ms > /ctl/rv/closed.ms
host_signal closed
step host_closed host_wait closed 300

# 2. kept open by a process that only writes (s3f-guest-util write-hold: no shell holds an
#    NFS descriptor, since every close(2) of one, also by an exiting child, flushes); then
#    fsync'd by another process of the same client (same open owner: no CLOSE is sent)
s3f-guest-util write-hold $M/open.bin /host$DATA/open1.bin /tmp/open.ready /tmp/open.release 600 \
  >/tmp/open.ms 2>/tmp/open.err &
HOLD=$!
step write_kept_open wait_file /tmp/open.ready 60
host_signal open_written
step host_open_written host_wait open_written 300
step fsync_while_open dd if=/host$DATA/open2.bin of=$M/open.bin bs=256k seek=16 conv=notrunc,fsync
now_ms > /ctl/rv/fsync.ms
host_signal fsynced
step host_fsynced host_wait fsynced 300
: > /tmp/open.release
step close_after_fsync wait $HOLD

# 3. two writers (two mounts: two open owners); A keeps it open while B writes and closes
step mount_second nfs_mount nosharecache /s3files $M2
s3f-guest-util write-hold $M/shared.bin /host$DATA/sh1.bin /tmp/sh.ready /tmp/sh.release 600 \
  >/ctl/rv/shared.ms 2>/tmp/sh.err &
HOLD=$!
step writer_a_writes wait_file /tmp/sh.ready 60
step writer_b_writes_closes dd if=/host$DATA/sh2.bin of=$M2/shared.bin bs=256k seek=4 conv=notrunc,fsync
host_signal first_closed
step host_first_closed host_wait first_closed 300
: > /tmp/sh.release
step writer_a_closes wait $HOLD
host_signal last_closed
step host_last_closed host_wait last_closed 300
step umount_second umount $M2

# 4. closed while the daemon is down
host_signal stop_daemon
step host_stopped_daemon host_wait stop_daemon 300
step write_close_daemon_down dd if=/host$DATA/restart.bin of=$M/restart.bin bs=64k
host_signal written_daemon_down
step host_restarted_daemon host_wait written_daemon_down 300

# 5. Commit_On_Close off (the default): the host restarts the stack
step umount umount $M
host_signal restart_off
step host_restart_off host_wait restart_off 300
step mount_off nfs_mount "" /s3files $M || exit 1
step write_close_off dd if=/host$DATA/off.bin of=$M/off.bin bs=256k
step write_fsync_off dd if=/host$DATA/off2.bin of=$M/off2.bin bs=256k conv=fsync
host_signal off_written
step host_off_checked host_wait off_written 300
step umount_off umount $M
GUEST

"$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$WORK/guest.sh" --timeout 900 \
  --log "$WORK/console.log" --rendezvous "$RV" --mem 1024 \
  --env NFS_PORT="$NFS_PORT" --env DATA="$D" \
  >"$WORK/guest.out" 2>"$WORK/guest.err" &
GPID=$!

now_ms() { date +%s%3N; }
# metric NAME: its value for export 1 (empty if absent).
metric() {
  curl -sf "$METRICS_URL/metrics" | awk -v n="$1{export=\"1\"}" '$1 == n { print $2 }'
}
# wait_object NAME KEY WANT-FILE [SINCE-MS-FILE WHAT]: the object appears within 60 s with
# exactly WANT-FILE's bytes; prints the time since the timestamp (ms) in SINCE-MS-FILE.
wait_object() {
  local name=$1 key=$2 want=$3 since end got=$WORK/got.$1
  end=$(( $(date +%s) + 60 ))
  while ! s3_exists "$B" "$key"; do
    if [ "$(date +%s)" -ge $end ]; then
      t_fail "$name" "$key not in S3 after 60 s"; return 1
    fi
    sleep 0.05
  done
  since=$(cat "${4:-/dev/null}" 2>/dev/null)
  [ -n "$since" ] && echo "# $name: object in S3 $(( $(now_ms) - since )) ms after $5"
  if s3_get_file "$B" "$key" "$got" 2>"$WORK/err.$name" && cmp -s "$got" "$want"; then
    t_pass "$name"
  else
    t_fail "$name" "$key in S3 differs from what the guest wrote ($(stat -c %s "$got" 2>/dev/null) bytes)"
  fi
}
# absent_for NAME SECONDS KEY...: none of the keys shows up in S3 for that long.
absent_for() {
  local name=$1 secs=$2 end k; shift 2
  end=$(( $(date +%s%N) + secs * 1000000000 ))
  while [ "$(date +%s%N)" -lt $end ]; do
    for k; do
      if s3_exists "$B" "$k"; then t_fail "$name" "$k was uploaded"; return 1; fi
    done
    sleep 0.2
  done
  t_pass "$name"
}
# on_gateway NAME FILE SIZE: `s3filesctl ls` (the store, no S3 call) shows FILE dirty at SIZE.
on_gateway() {
  local line
  line=$(s3f_ctl "$STACK" ls / 2>&1 | awk -v f="$2" '$NF == f')
  echo "# $1: s3filesctl ls: ${line:-(none)}"
  if [ "$(echo "$line" | awk '{ print $2, $3 }')" = "$3 dirty" ]; then t_pass "$1"
  else t_fail "$1" "want '$2' dirty with $3 bytes, got '${line}'"; fi
}
rv() { # NAME: wait for the guest at NAME; 1 if it never came
  vm_rv_wait "$RV" "$1" 600 && return 0
  t_fail "rendezvous_$1" "the guest never reached $1"
  return 1
}

if rv closed; then
  wait_object closed_file_uploaded "${P}closed.bin" "$D/closed.bin" "$RV/closed.ms" \
    "close(2) returned in the guest"
  vm_rv_ack "$RV" closed
fi
if rv open_written; then
  echo "# open.bin on the gateway: $(s3f_ctl "$STACK" ls / 2>&1 | awk '$NF == "open.bin"')"
  absent_for open_file_not_uploaded "$WATCH_S" "${P}open.bin"
  vm_rv_ack "$RV" open_written
fi
if rv fsynced; then
  wait_object fsync_uploads_open_file "${P}open.bin" "$D/open.want" "$RV/fsync.ms" \
    "fsync (dd conv=fsync) returned in the guest"
  vm_rv_ack "$RV" fsynced
fi
if rv first_closed; then
  absent_for first_writer_close_not_uploaded "$WATCH_S" "${P}shared.bin"
  vm_rv_ack "$RV" first_closed
fi
if rv last_closed; then
  wait_object last_writer_close_uploads "${P}shared.bin" "$D/shared.want" "$RV/shared.ms" \
    "the last writer's close returned in the guest"
  vm_rv_ack "$RV" last_closed
fi
if rv stop_daemon; then
  c=$(metric s3files_sync_close_commits_total) n=$(metric s3files_sync_commits_total)
  echo "# metrics: close_commits=$c commits=$n"
  if [ "$c" = 3 ] && [ "$n" = 3 ]; then t_pass metrics_close_commits
  else t_fail metrics_close_commits "close_commits=$c commits=$n, want 3 and 3"; fi
  s3f_syncd_stop "$STACK"
  vm_rv_ack "$RV" stop_daemon
fi
if rv written_daemon_down; then
  absent_for closed_while_down_not_uploaded 1 "${P}restart.bin"
  date +%s%3N >"$WORK/restart.ms"
  if s3f_syncd_start "$STACK" >"$WORK/syncd2.out" 2>&1; then t_pass syncd_restarted
  else t_fail syncd_restarted "$(tail -n 3 "$WORK/syncd2.out" | tr '\n' ' ')"; fi
  wait_object request_survives_daemon_restart "${P}restart.bin" "$D/restart.bin" "$WORK/restart.ms" \
    "the daemon was started"
  vm_rv_ack "$RV" written_daemon_down
fi
if rv restart_off; then
  s3f_stack_stop "$STACK"
  export S3FILES_EXPORT_EXTRA=""
  if s3f_stack_start "$STACK" >"$WORK/start2.out" 2>&1; then t_pass stack_restart_off
  else t_fail stack_restart_off "$(tail -n 5 "$WORK/start2.out" | tr '\n' ' ')"; fi
  vm_rv_ack "$RV" restart_off
fi
if rv off_written; then
  absent_for off_not_uploaded "$WATCH_S" "${P}off.bin" "${P}off2.bin"
  on_gateway off_closed_file_dirty off.bin 1048576
  on_gateway off_fsynced_file_dirty off2.bin 1048576
  c=$(metric s3files_sync_close_commits_total)
  if [ "$c" = 0 ]; then t_pass off_metrics_zero; else t_fail off_metrics_zero "close_commits=$c"; fi
  if out=$(s3f_ctl "$STACK" commit / 2>&1); then t_pass off_explicit_commit
  else t_fail off_explicit_commit "$out"; fi
  wait_object off_commit_uploads_closed "${P}off.bin" "$D/off.bin"
  wait_object off_commit_uploads_fsynced "${P}off2.bin" "$D/off2.bin"
  vm_rv_ack "$RV" off_written
fi

wait "$GPID"
guest_rc=$?
GPID=
cat "$WORK/guest.out"
T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$WORK/guest.out")))
if [ $guest_rc -ne 0 ] && ! grep -q '^FAIL ' "$WORK/guest.out"; then
  t_fail guest "run-guest exited $guest_rc: $(tail -n 3 "$WORK/guest.err" | tr '\n' ' ')"
fi
t_done
