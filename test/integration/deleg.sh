#!/usr/bin/env bash
# deleg: NFSv4 read delegations through the Linux kernel client in the qemu guest.
#
# Delegations on (the default, with ganesha's NFSV4 { Delegations = true; } and the
# EXPORT's Delegations = R that test/lib/s3files.sh writes), one guest:
#   - granted: a file opened for reading a second time sends no OPEN (the client opens it
#     under its delegation);
#   - recalled on an S3-side change: the guest holds a delegation on a file, the host
#     overwrites the object in S3 (curl SigV4, run from the guest through host_run), the
#     daemon's poll (0.5 s) imports the new version and the FSAL recalls: DELEGRETURN is
#     sent and the guest then reads the new content (without the recall it would keep
#     reading its cached copy: it never asks while it holds the delegation);
#   - recalled on a conflicting open: a second mount over NFSv4.0 (another client to the
#     server: another minor version means another nfs_client and client id) writes the file
#     the v4.1 mount holds a delegation on; ganesha recalls it, the writer goes ahead, and
#     the v4.1 mount reads what it wrote;
#   - replace_under_reader: a delegated file replaced by a rename on the same client while
#     a reader holds it open, 8 times; each new version is read, and the client never
#     reports a delegation handed out with its reclaiming OPEN (CLAIM_DELEG_CUR_FH) as a
#     broken server (console);
#   - traffic: 200 files of 64 KiB, each opened and read 20 times (cat, so closed in
#     between), counting OPEN, OPEN_NOATTR (the Linux client's reopen by file handle),
#     CLOSE, GETATTR, ACCESS, READ, LOOKUP and DELEGRETURN in /proc/self/mountstats; with
#     delegations on, fewer than half of the 4,000 opens may reach the server.
# Then the gateway is restarted with the FSAL's Delegations = false and a second guest runs
# the same workload (the figures printed side by side) and the grant check, which must now
# fail (a second open sends an OPEN): the check tells the two apart. Correctness only is
# asserted; the counts are printed as figures.
set -uo pipefail
T_SUITE=deleg
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup dg
cleanup() { s3f_stack_stop "$STACK"; }
trap cleanup EXIT

t_step build_guest "$S3F_ROOT/test/vm/build-guest.sh" || t_done

printf 'version one\n' >"$WORK/data/v1.txt"
printf 'version two, from S3\n' >"$WORK/data/v2.txt"
t_step put_before_mount bash -c "
  . '$S3F_ROOT/test/lib/s3.sh' &&
  s3_put_file '$B' '${P}d/recall.txt' '$WORK/data/v1.txt' &&
  s3_put_file '$B' '${P}d/grant.txt' '$WORK/data/v1.txt' &&
  s3_put_file '$B' '${P}d/conflict.txt' '$WORK/data/v1.txt'" || t_done

export S3FILES_COMMIT_INTERVAL=3600 S3FILES_POLL_MS=500
RGW_PORT=${S3_ENDPOINT##*:}

# ---- guest script: shared helpers, then the parts each run does (PART=on|off) ----
cat >"$WORK/guest.sh" <<'GUEST'
M=/mnt/s3
# opcount MNT OP: the number of OP calls the mount at MNT sent (0 if none)
opcount() {
  awk -v m="$1" -v op="$2:" '
    $1 == "device" { on = ($5 == m) }
    on && $1 == op { print $2; found = 1; exit }
    END { if (!found) print 0 }' /proc/self/mountstats
}
# opens MNT: OPENs sent, by name (OPEN) or by file handle (OPEN_NOATTR: the Linux client
# reopens a file whose dentry it has cached that way)
opens() { echo $(( $(opcount "$1" OPEN) + $(opcount "$1" OPEN_NOATTR) )); }
# opcounts MNT: "OP=N ..." for the operations the figures report
OPS="OPEN OPEN_NOATTR CLOSE GETATTR ACCESS READ LOOKUP DELEGRETURN"
opcounts() {
  for op in $OPS; do printf '%s=%s ' $op $(opcount "$1" $op); done
}
# catn FILE: its content, read through a fresh open
catn() { cat "$1"; }

# second_open_local FILE: after a first open and read, a second one sends no OPEN
second_open_local() {
  catn "$1" >/dev/null || return 1
  o0=$(opens $M)
  catn "$1" >/dev/null || return 1
  o1=$(opens $M)
  echo "OPENs before the second open $o0, after $o1"
  [ "$o1" = "$o0" ]
}

workload() {
  mkdir -p $M/w
  if [ ! -f $M/w/f199 ]; then
    i=0
    while [ $i -lt 200 ]; do
      dd if=/dev/urandom of=$M/w/f$i bs=65536 count=1 2>/dev/null || return 1
      i=$((i + 1))
    done
    sync
  fi
  # A fresh mount: nothing of the files in the client's caches.
  umount $M || return 1
  nfs_mount "" /s3files $M || return 1
  ls $M/w >/dev/null || return 1
  before=$(opcounts $M)
  T0=$(now_ms)
  r=0
  while [ $r -lt 20 ]; do
    i=0
    while [ $i -lt 200 ]; do
      cat $M/w/f$i >/dev/null || return 1
      i=$((i + 1))
    done
    r=$((r + 1))
  done
  ms=$(elapsed_ms $T0)
  after=$(opcounts $M)
  line=""
  for op in $OPS; do
    b=$(echo "$before" | tr ' ' '\n' | sed -n "s/^$op=//p")
    a=$(echo "$after" | tr ' ' '\n' | sed -n "s/^$op=//p")
    line="$line $op=$((a - b))"
    eval "D_$op=$((a - b))"
  done
  note "traffic, delegations $PART: 200 files x 64 KiB x 20 opens+reads:$line ($ms ms)"
  echo $((D_OPEN + D_OPEN_NOATTR)) >/tmp/workload.opens
}
# fewer_opens_than N: the workload sent fewer than N OPENs
fewer_opens_than() {
  n=$(cat /tmp/workload.opens) || return 1
  echo "OPENs sent: $n"
  [ "$n" -lt "$1" ]
}
not_second_open_local() { ! second_open_local "$1"; }

mkdir -p $M
step mount nfs_mount "" /s3files $M || exit 1
step list sh -c "ls -l $M/d"
# Let the background metadata fetch of the listed objects settle.
sleep 3

if [ "$PART" = on ]; then
  step granted_second_open_local second_open_local $M/d/grant.txt

  # ---- recall on an S3-side change ----
  recall_s3() {
    [ "$(catn $M/d/recall.txt)" = "version one" ] || { echo "first read wrong"; return 1; }
    second_open_local $M/d/recall.txt || { echo "no delegation held"; return 1; }
    dr0=$(opcount $M DELEGRETURN)
    host_run bash -c ". $ROOT/test/lib/s3.sh && S3_ENDPOINT=http://10.0.2.2:$RGW_PORT s3_put_file $BUCKET ${PREFIX}d/recall.txt $DATA/v2.txt" || { echo "PUT failed"; return 1; }
    T0=$(now_ms)
    i=0
    while [ $i -lt 100 ]; do
      if [ "$(catn $M/d/recall.txt)" = "version two, from S3" ]; then
        dr1=$(opcount $M DELEGRETURN)
        note "S3 overwrite seen by the delegation holder $(elapsed_ms $T0) ms after the PUT (DELEGRETURN $dr0 -> $dr1)"
        [ "$dr1" -gt "$dr0" ] || { echo "new content without a DELEGRETURN"; return 1; }
        return 0
      fi
      sleep 0.2; i=$((i + 1))
    done
    echo "still '$(catn $M/d/recall.txt)' 20 s after the PUT; DELEGRETURN $dr0 -> $(opcount $M DELEGRETURN)"
    return 1
  }
  step recall_on_s3_change recall_s3

  # ---- recall on a conflicting open from another client (NFSv4.0 mount) ----
  recall_conflict() {
    [ "$(catn $M/d/conflict.txt)" = "version one" ] || { echo "first read wrong"; return 1; }
    second_open_local $M/d/conflict.txt || { echo "no delegation held"; return 1; }
    dr0=$(opcount $M DELEGRETURN)
    nfs_mount "vers=4.0" /s3files /mnt/b || { echo "v4.0 mount failed"; return 1; }
    T0=$(now_ms)
    echo "written by the other client" >/mnt/b/d/conflict.txt || { echo "write failed"; return 1; }
    note "conflicting write from the second client done in $(elapsed_ms $T0) ms"
    dr1=$(opcount $M DELEGRETURN)
    umount /mnt/b
    [ "$dr1" -gt "$dr0" ] || { echo "no DELEGRETURN ($dr0 -> $dr1)"; return 1; }
    got=$(catn $M/d/conflict.txt)
    [ "$got" = "written by the other client" ] || { echo "holder reads '$got'"; return 1; }
  }
  step recall_on_conflicting_open recall_conflict

  step workload_on workload
  # At least half of the 4,000 opens of the workload stayed on the client.
  step workload_on_delegated fewer_opens_than 2000

  # A file this client holds a delegation on, replaced by a rename on the same client
  # while a reader keeps it open: the client returns the delegation first and turns the
  # reader's open into a real one (OPEN with CLAIM_DELEG_CUR_FH); the server must not hand
  # a delegation back in that reply (the host checks the console for the client's
  # complaint), and every reader sees each new version.
  replace_under_reader() {
    echo "version 0" > $M/d/rep.txt || return 1
    for v in 1 2 3 4 5 6 7 8; do
      exec 4< $M/d/rep.txt
      cat $M/d/rep.txt > /dev/null; cat $M/d/rep.txt > /dev/null
      echo "version $v" > $M/d/.rep.tmp && mv $M/d/.rep.tmp $M/d/rep.txt || return 1
      got=$(cat $M/d/rep.txt)
      exec 4<&-
      [ "$got" = "version $v" ] || { echo "after replacing with version $v a reader read '$got'"; return 1; }
    done
  }
  step replace_under_reader replace_under_reader
else
  step workload_off workload
  # The grant check must fail with delegations off: every open goes to the server.
  step not_granted_when_off not_second_open_local $M/d/grant.txt
fi
step umount umount $M
GUEST

run_guest() {
  local part=$1 out=$WORK/guest.$1.out rc
  "$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$WORK/guest.sh" --timeout 420 \
    --log "$WORK/console.$part.log" \
    --env NFS_PORT="$NFS_PORT" --env DATA="$WORK/data" --env ROOT="$S3F_ROOT" \
    --env PART="$part" --env M=/mnt/s3 \
    --env RGW_PORT="$RGW_PORT" --env BUCKET="$B" --env PREFIX="$P" \
    --env S3_REGION="$S3_REGION" --env AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
    --env AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" >"$out" 2>"$WORK/guest.$part.err"
  rc=$?
  cat "$out"
  T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$out")))
  if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
    t_fail "guest_$part" "run-guest exited $rc: $(tail -n 3 "$WORK/guest.$part.err" | tr '\n' ' ')"
  fi
}

# ---- delegations on ----
s3f_test_stack_start
run_guest on
if grep -q "recalling delegations on inode" "$STACK/ganesha.log"; then t_pass fsal_recall_logged
else t_fail fsal_recall_logged "no recall line in ganesha.log"; fi
# The Linux client reports a delegation handed out with a reclaiming OPEN as a server bug.
if grep -q "Broken NFSv4 server" "$WORK/console.on.log"; then
  t_fail no_delegation_on_reclaim "$(grep -m1 'Broken NFSv4 server' "$WORK/console.on.log")"
else
  t_pass no_delegation_on_reclaim
fi

# ---- delegations off (the FSAL's setting), same state ----
s3f_stack_stop "$STACK"
export S3FILES_EXPORT_EXTRA="Delegations = false;"
if ! s3f_stack_start "$STACK" >"$WORK/start2.out" 2>&1; then
  t_fail stack_restart_off "$(tail -n 5 "$WORK/start2.out" | tr '\n' ' ')"
  t_done
fi
t_pass stack_restart_off
grep -q "read delegations off (Delegations = false)" "$STACK/ganesha.log" &&
  t_pass off_logged || t_fail off_logged "no 'read delegations off' line in ganesha.log"
run_guest off

echo "# traffic figures (200 files x 64 KiB, each opened and read 20 times; counts from mountstats):"
for part in on off; do
  echo "#   delegations $part:$(sed -n 's/^# traffic, delegations [a-z]*: [^:]*://p' "$WORK/guest.$part.out")"
done
t_done
