#!/usr/bin/env bash
# pcut: power-cut tests. kill -9 keeps everything the gateway wrote into the page cache;
# a power cut keeps only what was synced, and of the rest any part. This suite records
# every write, truncate, rename and sync the gateway makes on State_Dir during a workload,
# builds the disk states a power cut could leave at each sync point, restarts the gateway
# on each and checks that nothing acknowledged as durable is lost.
#
# Recording (test/pcut/pcut_fuse.c). State_Dir is a FUSE pass-through mount of a real
# directory; the recorder logs each operation with its data, in the one order in which its
# single thread performed them. Chosen over strace (attached to ganesha and
# s3files-syncd, merged by timestamp), the approach of ALICE, because:
#   - two processes and many threads write the same files (LMDB's data.mdb from both):
#     strace gives per-thread entry times, and merging them does not give the order in
#     which the kernel applied the writes; the FUSE server applies them itself, one at a
#     time, so its log is a linearization, and a call that returned before another began is
#     logged before it;
#   - ganesha loads the FSAL (and so liblmdb) with RTLD_LOCAL|RTLD_DEEPBIND: an LD_PRELOAD
#     shim does not see their libc calls (checked: a preloaded pwrite/fdatasync/syncfs is
#     not called from a DEEPBIND'ed plugin or its liblmdb, and is without DEEPBIND); FUSE
#     sees every request whoever makes it, also writes through shared mappings (when the
#     kernel writes the pages back) and copy_file_range, O_TMPFILE + linkat;
#   - the log holds results (bytes written, paths as resolved from directory fds), not
#     arguments to be reinterpreted (fds, openat, dup, short writes);
#   - ptrace stops every syscall of every ganesha thread; FUSE costs a round trip per
#     operation on State_Dir only.
# The price: flock/fcntl locks are the kernel's (the recorder implements none, so the
# kernel keeps them locally, across processes, as on a local file system); syncfs(2) is not
# passed to FUSE servers (the kernel sends FUSE_SYNCFS to virtiofs only): the daemon runs
# with test/pcut/pcut_shim.so preloaded, which marks each syncfs for the recorder (the
# FSAL calls none today; one it made would be unseen and its writes taken as unsynced, a
# false alarm, never a missed loss).
#
# Crash states (test/pcut/pcut.py): from a copy of State_Dir taken before the recording
# (gateway stopped) plus the log. A crash point is a time: right after each sync (fsync,
# fdatasync, fsync of a directory, syncfs, msync), right after each acknowledgement the
# workload received (nothing synced after the reply: the tightest test of it), and the
# end. The state holds every operation made durable by a sync before that time (file
# data: an fsync/fdatasync of that file after it; create, unlink, rename: an fsync of the
# directory after it, both directories for a rename; all: syncfs) and, of the other
# operations before it, none ("sync"), all ("all": what kill -9 leaves), a seeded random
# subset ("rand") or a random prefix per file and per directory ("prefix"); operations
# are kept whole and replayed in order. That is the conservative POSIX model (ALICE's
# abstract persistence models, CrashMonkey's persistence points), not ext4's ordering;
# PCUT_DIROPS=sync takes directory operations as durable at once, which separates losses
# of the store's records from losses of directory entries.
#
# Workload and invariants (test/pcut/pcut_work.c, over NFSv3 so that WRITEs are really
# UNSTABLE, DATA_SYNC or FILE_SYNC and COMMIT exists): creates, writes, COMMITs,
# truncates, renames, removes and mkdirs, each acknowledgement stamped with
# CLOCK_MONOTONIC, the recorder's clock. On each state the gateway is started (NFSv4) and
# its whole file view read: every operation acknowledged durable before the crash point
# must be in it (a FILE_SYNC/DATA_SYNC WRITE reply, a COMMIT reply for earlier WRITEs,
# and, as NFSv3 requires (RFC 1813 4.7) and knfsd does (commit_metadata), CREATE, MKDIR,
# SETATTR(size), RENAME, REMOVE replies; PCUT_META=async checks only writes and COMMITs);
# every byte must come from a write that could be there, every name from the workload;
# the store must open. On some states (PCUT_S3_EVERY) `s3filesctl commit` + `wait-synced`
# follow and S3 must then hold the view byte for byte; S3 is put back afterwards (the
# objects are copied back from a pristine copy). Uploads are off during the recording
# (Commit_Interval of a day, Commit_On_Close off), so S3 stays as it was.
#
# Each state is also checked, before the gateway starts on it, by `s3filesctl fsck
# --online --json` (read-only): findings of class powercut are what a power cut may leave
# (counted), a finding of class error or loss fails the state. The findings by class over
# all states are printed ("# fsck: ...").
#
# Prints "tried N, faults M, lost L": N workload operations, M distinct crash states
# checked, L acknowledged-durable operations found missing or wrong in some state.
#
# Settings: PCUT_DIROPS (posix|sync), PCUT_SEED (default: time), PCUT_OPS (60; soak 300), PCUT_STATES (40; soak
# 1000), PCUT_S3_EVERY (8; soak 20), PCUT_WAIT (seconds wait-synced waits, 10),
# PCUT_META (sync|async), SOAK=1 (the long form).
set -uo pipefail
T_SUITE=pcut
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup pcut
export LC_ALL=C
SOAK=${SOAK:-0}
if [ "$SOAK" = 1 ]; then d_ops=300 d_states=1000 d_s3=20; else d_ops=60 d_states=40 d_s3=8; fi
NOPS=${PCUT_OPS:-$d_ops}
NSTATES=${PCUT_STATES:-$d_states}
S3EVERY=${PCUT_S3_EVERY:-$d_s3}
SEED=${PCUT_SEED:-$(date +%s)}
NINIT=3
PY=/usr/bin/python3
PC=$S3F_ROOT/test/pcut/pcut.py
FUSE_BIN=$S3F_BUILD/bin/pcut_fuse
WORK_BIN=$S3F_BUILD/bin/pcut_work
SHIM=$S3F_BUILD/lib/libpcut_shim.so
PRISTINE=${P%/}-pristine/
STATE=$WORK/state SNAP=$WORK/snap MNT=$WORK/mnt
FUSE_PID=
echo "# seed $SEED (PCUT_SEED=$SEED reproduces the workload), $NOPS operations, up to $NSTATES states"

export S3FILES_COMMIT_INTERVAL=86400 S3FILES_MINOR_VERSIONS="0, 1"

fuse_stop() {
  if mountpoint -q "$MNT" 2>/dev/null; then fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"; fi
  if [ -n "$FUSE_PID" ]; then
    for _ in $(seq 1 100); do kill -0 "$FUSE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$FUSE_PID" 2>/dev/null && kill -TERM "$FUSE_PID" 2>/dev/null
    wait "$FUSE_PID" 2>/dev/null
    FUSE_PID=
  fi
}
cleanup() {
  s3f_stack_stop "$STACK" 2>/dev/null
  s3f_stack_stop "$WORK/rec" 2>/dev/null
  s3f_stack_stop "$WORK/chk" 2>/dev/null
  fuse_stop
}
trap cleanup EXIT

for b in "$FUSE_BIN" "$WORK_BIN" "$SHIM"; do
  [ -e "$b" ] || { t_fail tools "$b missing (make test-tools)"; t_done; }
done
[ -c /dev/fuse ] && command -v fusermount3 >/dev/null ||
  { t_fail tools "needs /dev/fuse and fusermount3 (fuse3)"; t_done; }

t_step model_selftest "$PY" "$PC" selftest "$WORK/selftest"

u3() { printf 'nfs://%s/s3files%s?version=3' "$(s3f_nfs_host "$1")" "${2:-}"; }
u4() { printf 'nfs://127.0.0.1/s3files%s?version=4&nfsport=%s' "${2:-}" "$(cat "$1/nfs_port")"; }

# s3_keys PREFIX: keys below PREFIX, sorted.
s3_keys() { s3_ls "$B" "$1" | sort; }
# s3_restore: the prefix holds exactly the pristine objects again (server-side copies:
# same bytes, same metadata, same ETag).
s3_restore() {
  local k rc=0
  while read -r k; do [ -n "$k" ] && { s3_rm "$B" "$k" || rc=1; }; done < <(s3_keys "$P")
  while read -r k; do
    [ -n "$k" ] || continue
    s3_curl PUT "$B" "$P${k#"$PRISTINE"}" -o /dev/null -f \
      -H "x-amz-copy-source: /$B/$(s3_urlencode "$k" /)" || rc=1
  done < <(s3_keys "$PRISTINE")
  return $rc
}
# s3_fetch DIR: every object under the prefix into DIR/<key without prefix> (markers of
# directories, keys ending in "/", as DIR/<dir>/.dirmarker).
s3_fetch() {
  local dir=$1 k rel rc=0
  rm -rf "$dir"; mkdir -p "$dir"
  while read -r k; do
    [ -n "$k" ] || continue
    rel=${k#"$P"}
    if [[ $rel == */ ]]; then
      mkdir -p "$dir/$rel"; : >"$dir/$rel.dirmarker"
    else
      mkdir -p "$dir/$(dirname "$rel")"; s3_get_file "$B" "$k" "$dir/$rel" || rc=1
    fi
  done < <(s3_keys "$P")
  return $rc
}

# ---- 1. the state before the recording: NINIT files, uploaded; a pristine copy in S3 ----
export S3FILES_NFSV3=1
if ! S3FILES_STATE_DIR=$STATE s3f_stack_start "$STACK" >"$WORK/start.out" 2>&1; then
  t_fail setup "stack: $(tail -n 5 "$WORK/start.out" | tr '\n' ' ')"; t_done
fi
if ! "$WORK_BIN" init "$(u3 "$STACK")" "$WORK/init.acks" $NINIT >"$WORK/init.out" 2>&1 ||
   ! s3f_ctl "$STACK" commit -e 1 / >/dev/null 2>&1 ||
   ! s3f_ctl "$STACK" wait-synced -e 1 --timeout 60 / >/dev/null 2>&1; then
  t_fail setup "initial files: $(tail -n 3 "$WORK/init.out" | tr '\n' ' ')"; t_done
fi
s3f_stack_stop "$STACK"
n=0
while read -r k; do
  [ -n "$k" ] || continue
  s3_curl PUT "$B" "$PRISTINE${k#"$P"}" -o /dev/null -f -H "x-amz-copy-source: /$B/$(s3_urlencode "$k" /)" && n=$((n + 1))
done < <(s3_keys "$P")
s3_keys "$P" >"$WORK/s3.initial"
cp -a --sparse=always "$STATE" "$SNAP"
if [ "$n" -ge $NINIT ]; then t_pass setup; else t_fail setup "$n objects in S3"; t_done; fi

# ---- 2. the recording ----
mkdir -p "$MNT"
setsid "$FUSE_BIN" "$STATE" "$MNT" "$WORK/fuse.log" </dev/null >"$WORK/fuse.out" 2>&1 &
FUSE_PID=$!
t_wait_for 10 mountpoint -q "$MNT" || { t_fail record "recorder did not mount: $(cat "$WORK/fuse.out")"; t_done; }
printf '#!/bin/sh\nLD_PRELOAD=%s exec %s "$@"\n' "$SHIM" "$S3F_BUILD/bin/s3files-syncd" >"$WORK/syncd-shim"
chmod +x "$WORK/syncd-shim"
T0=$(date +%s%N)
# The recorder is a FUSE file system, which the gateway refuses for State_Dir unless told
# that no other host uses it.
if ! S3FILES_STATE_DIR=$MNT S3FILES_SYNCD=$WORK/syncd-shim \
     S3FILES_EXPORT_EXTRA="Allow_Network_State_Dir = true;" s3f_stack_start "$WORK/rec" >"$WORK/rec-start.out" 2>&1; then
  t_fail record "stack on the recorder: $(tail -n 5 "$WORK/rec-start.out" | tr '\n' ' ')"; t_done
fi
"$WORK_BIN" run "$(u3 "$WORK/rec")" "$WORK/run.acks" "$SEED" "$NOPS" $NINIT >"$WORK/run.out" 2>&1
run_rc=$?
s3f_stack_stop "$WORK/rec"
fuse_stop
tried=$(wc -l <"$WORK/run.acks")
errs=$(grep -vc ' ok$' "$WORK/run.acks")
stats=$("$PY" "$PC" stats "$WORK/fuse.log" 2>&1)
echo "# recording: $tried operations ($errs failed) in $(( ($(date +%s%N) - T0) / 1000000 )) ms; log: $stats"
nsync=$(sed -n 's/.*"sync_points": \([0-9]*\).*/\1/p' <<<"$stats")
# Q records: a file appeared that was neither there at start nor created through the
# recorder (the recording would be incomplete).
if [ $run_rc = 0 ] && [ "$errs" = 0 ] && [ "${nsync:-0}" -gt 0 ] && grep -q '"W"' <<<"$stats" &&
   ! grep -q '"Q"' <<<"$stats"; then
  t_pass record
else t_fail record "driver rc $run_rc, $errs failed operations ($(grep -v ' ok$' "$WORK/run.acks" | head -n 2 | tr '\n' ' ')), $stats"; fi
s3_keys "$P" >"$WORK/s3.after"
if cmp -s "$WORK/s3.initial" "$WORK/s3.after"; then t_pass s3_untouched_while_recording
else t_fail s3_untouched_while_recording "$(diff "$WORK/s3.initial" "$WORK/s3.after" | head -n 5 | tr '\n' ' ')"; fi

# ---- 3. the crash states ----
export S3FILES_NFSV3=0
"$PY" "$PC" plan "$WORK/fuse.log" "$WORK/run.acks" "$NSTATES" "$SEED" >"$WORK/plan" 2>"$WORK/plan.err" ||
  { t_fail states "plan: $(tail -n 3 "$WORK/plan.err")"; t_done; }
CS=$WORK/cs
# fsck_state NAME: `s3filesctl fsck --online --json` (read-only) on the crash state $CS as
# the power cut left it (a config of its own: the gateway is not started yet); adds the
# findings by class to FSCK_N; 0, or 1 with a line in results (error or loss found, or the
# check did not run).
declare -A FSCK_N=([legal]=0 [garbage]=0 [powercut]=0 [error]=0 [loss]=0)
FSCK_RUNS=0
mkdir -p "$WORK/fsckconf"
fsck_state() {
  local s c n
  s3f__write_conf "$WORK/fsckconf" "$CS" 0
  s3f_ctl "$WORK/fsckconf" fsck -e 1 --online --json >"$WORK/fsck.json" 2>"$WORK/fsck.err"
  s=$(grep '"summary":true' "$WORK/fsck.json" | tail -n 1)
  if [ -z "$s" ]; then
    echo "$1 fsck: did not run: $(tail -n 2 "$WORK/fsck.err" | tr '\n' ' ')" >>"$WORK/results"
    return 1
  fi
  FSCK_RUNS=$((FSCK_RUNS + 1))
  for c in legal garbage powercut error loss; do
    n=$(sed -n "s/.*\"$c\":\([0-9]*\).*/\1/p" <<<"$s")
    FSCK_N[$c]=$(( ${FSCK_N[$c]} + ${n:-0} ))
  done
  if grep -qE '"class":"(error|loss)"' "$WORK/fsck.json"; then
    echo "$1 fsck: $(grep -E '"class":"(error|loss)"' "$WORK/fsck.json" | head -n 3 | tr '\n' ' ')" >>"$WORK/results"
    cp "$WORK/fsck.json" "$WORK/fsck.$1.json"
    return 1
  fi
  return 0
}
: >"$WORK/digests"; : >"$WORK/results"; : >"$WORK/lost"
faults=0 bad=0 s3checks=0 s3bad=0 startbad=0 dups=0
T0=$(date +%s%N)
while read -r name point strat tcrash; do
  [ "$faults" -ge "$NSTATES" ] && break
  rm -rf "$CS" "$WORK/dump"
  dg=$("$PY" "$PC" build "$WORK/fuse.log" "$SNAP" "$point" "$strat" "$SEED" "$CS" 2>"$WORK/build.err") ||
    { echo "$name build: $(tail -n 2 "$WORK/build.err")" >>"$WORK/results"; bad=$((bad + 1)); continue; }
  if grep -qx "$dg" "$WORK/digests"; then dups=$((dups + 1)); continue; fi
  echo "$dg" >>"$WORK/digests"
  faults=$((faults + 1))
  fsck_state "$name" || bad=$((bad + 1))
  if ! S3FILES_STATE_DIR=$CS s3f_stack_start "$WORK/chk" >"$WORK/chk-start.out" 2>&1; then
    echo "$name: the gateway did not start: $(grep -E 'S3FILES|MDB|mdb|corrupt' "$WORK/chk-start.out" | tail -n 3 | tr '\n' ' ')" >>"$WORK/results"
    cp -a "$WORK/chk-start.out" "$WORK/chk-start.$name.out"
    startbad=$((startbad + 1)); bad=$((bad + 1))
    s3f_stack_stop "$WORK/chk"; continue
  fi
  if ! "$WORK_BIN" dump "$(u4 "$WORK/chk")" "$WORK/dump" >"$WORK/dump.out" 2>&1; then
    echo "$name: reading the view failed: $(tail -n 2 "$WORK/dump.out" | tr '\n' ' ')" >>"$WORK/results"
    bad=$((bad + 1))
  else
    res=$("$PY" "$PC" check "$WORK/run.acks" "$WORK/init.acks" "$tcrash" "$WORK/dump")
    if [ $? != 0 ]; then
      bad=$((bad + 1))
      echo "$name ($strat, $point records): $res" >>"$WORK/results"
      sed -n 's/.*"lost": \[\([0-9, ]*\)\].*/\1/p' <<<"$res" | tr ', ' '\n\n' | sed '/^$/d' >>"$WORK/lost"
      [ -d "$WORK/keep" ] || { mkdir -p "$WORK/keep"; cp -a "$CS" "$WORK/keep/$name.state"; cp -a "$WORK/dump" "$WORK/keep/$name.view"; }
    fi
    if [ $((faults % S3EVERY)) = 1 ] || [ "$S3EVERY" = 1 ]; then
      s3checks=$((s3checks + 1))
      s3f_ctl "$WORK/chk" commit -e 1 / >"$WORK/commit.out" 2>&1
      if s3f_ctl "$WORK/chk" wait-synced -e 1 --timeout "${PCUT_WAIT:-10}" / >"$WORK/wait.out" 2>&1 &&
         s3_fetch "$WORK/s3"; then
        r3=$("$PY" "$PC" s3cmp "$WORK/dump" "$WORK/s3") || {
          s3bad=$((s3bad + 1)); bad=$((bad + 1)); echo "$name S3: $r3" >>"$WORK/results"; }
      else
        s3bad=$((s3bad + 1)); bad=$((bad + 1))
        echo "$name S3: not synced: commit: $(tail -n 1 "$WORK/commit.out"); wait-synced: $(tail -n 1 "$WORK/wait.out"); daemon: $(grep -E 'WARN|ERROR' "$WORK/chk/syncd.log" | tail -n 1 | cut -d' ' -f3-)" >>"$WORK/results"
      fi
      s3f_stack_stop "$WORK/chk"
      s3_restore || echo "$name: restoring S3 failed" >>"$WORK/results"
      continue
    fi
  fi
  s3f_stack_stop "$WORK/chk"
done <"$WORK/plan"
lost=$(sort -un "$WORK/lost" | wc -l)
# States with any failure (a state can fail both the view check and the S3 comparison).
bad=$(awk '{ sub(/:$/, "", $1); print $1 }' "$WORK/results" | sort -u | wc -l)
echo "# $faults distinct crash states checked ($dups duplicates skipped) in $(( ($(date +%s%N) - T0) / 1000000 )) ms; S3 compared with the view on $s3checks"
if [ "$bad" -gt 0 ]; then
  echo "# $bad states failed ($startbad did not start, $s3bad not the same in S3 after commit); first ones:"
  head -n 5 "$WORK/results" | cut -c1-600 | sed 's/^/#   /'
  echo "# all results: $WORK/results; first failing state and view kept in $WORK/keep"
  # The operations lost, as the driver logged them.
  sort -un "$WORK/lost" | head -n 8 | while read -r id; do
    echo "#   lost op: $(awk -v id="$id" '$1 == id' "$WORK/run.acks" "$WORK/init.acks" | cut -d' ' -f4-)"
  done
  echo "# lost, by kind: $(sort -un "$WORK/lost" | while read -r id; do
    awk -v id="$id" '$1 == id { k = $4; if (k == "WRITE") k = k ($9 == 0 ? "(committed)" : "(stable)"); print k }' \
      "$WORK/run.acks" "$WORK/init.acks"; done | sort | uniq -c | awk '{ printf "%s %s ", $1, $2 }')"
fi
echo "# fsck: $FSCK_RUNS states checked; findings by class: legal ${FSCK_N[legal]}, garbage ${FSCK_N[garbage]}, powercut ${FSCK_N[powercut]}, error ${FSCK_N[error]}, loss ${FSCK_N[loss]}"
echo "tried $tried, faults $faults, lost $lost"
echo "# power cuts: tried $tried, faults $faults, lost $lost"
if [ "$faults" -gt 0 ] && [ "$bad" = 0 ] && [ "$lost" = 0 ]; then t_pass power_cut_states
else t_fail power_cut_states "tried $tried, faults $faults, lost $lost; $bad of $faults states failed (seed $SEED)"; fi
t_done
