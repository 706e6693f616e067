#!/usr/bin/env bash
# readbypass: large sequential reads served straight from S3 (Read_Bypass_Threshold,
# core/engine/readahead.c), through the Linux kernel NFSv4.1 client, against the real RGW.
#
# Objects are PUT into the bucket directly: big.bin and cmp.bin (256 MiB of random bytes
# each) and ow.bin (128 MiB of 4 KiB text lines "v1 <n>", so that any piece of it tells its
# version). Guest run 1, with the default threshold (8 MiB):
#   - dd reads big.bin sequentially (timed); its md5 matches. The host then checks that the
#     data tier did not grow by anything like the object (du of State_Dir/data) and that
#     /metrics counts the bytes as served by the bypass;
#   - random 4 KiB reads of big.bin (after a remount: nothing cached) are exact;
#   - three 4 KiB blocks of big.bin are written through the mount (dirty, never uploaded);
#     after a remount the whole file reads back with those blocks and S3's bytes elsewhere
#     (md5 of the expected mix), through the bypass again (metrics), the tier still small;
#   - ow.bin is read by one dd; after 48 MiB the reader pauses (rendezvous), the host PUTs a
#     version 2 ("v2 <n>") and waits until the gateway imported it, then the reader goes on:
#     what it got must be one version only (version 1, then EIO), never v1 then v2; after
#     a remount the file reads as version 2 throughout.
# Guest run 2, ganesha restarted with Read_Bypass_Threshold = 0 (the comparison): dd of
# cmp.bin (timed, md5), and the tier now grows by the object size (the hydrate path stages
# everything it reads). The two read rates are printed as notes.
set -uo pipefail
T_SUITE=readbypass
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup rb
GPID=
cleanup() {
  [ -n "$GPID" ] && kill "$GPID" 2>/dev/null
  s3f_stack_stop "$STACK"
  # 1.3 GB of objects: do not leave them in the shared RGW, nor the local copies
  for k in big cmp ow h1 h2; do s3_rm "$B" "${P}rb/$k.bin" >/dev/null 2>&1; done
  rm -f "$WORK"/data/*.bin
}
trap cleanup EXIT

t_step build_guest "$S3F_ROOT/test/vm/build-guest.sh" || t_done

MIB=1048576
SIZE=$((256 * MIB))
OW_LINES=32768			# 4 KiB each: 128 MiB
D=$WORK/data
head -c $SIZE /dev/urandom >"$D/big.bin"
head -c $SIZE /dev/urandom >"$D/cmp.bin"
head -c $SIZE /dev/urandom >"$D/h1.bin"
head -c $SIZE /dev/urandom >"$D/h2.bin"
mkline() { awk -v v="$1" -v n=$OW_LINES 'BEGIN { pad = sprintf("%4082s", "");
  for (i = 0; i < n; i++) printf "%s %010d%s\n", v, i, pad }'; }
mkline v1 >"$D/ow1.bin"
mkline v2 >"$D/ow2.bin"
[ "$(stat -c %s "$D/ow1.bin")" = $((OW_LINES * 4096)) ] || { t_fail data "ow1.bin has the wrong size"; t_done; }
md5() { md5sum "$1" | cut -d' ' -f1; }

# random 4 KiB blocks to read, with their md5; three blocks to overwrite, and the result
RANDOM_BLOCKS=
for k in 7 1234 9999 20001 33333 45678 54321 65530; do
  RANDOM_BLOCKS+="$k:$(dd if="$D/big.bin" bs=4096 skip=$k count=1 2>/dev/null | md5sum | cut -d' ' -f1) "
done
cp "$D/big.bin" "$D/patched.bin"
PATCH_BLOCKS="1000 30000 65000"
for k in $PATCH_BLOCKS; do
  head -c 4096 /dev/urandom >"$D/patch.$k"
  dd if="$D/patch.$k" of="$D/patched.bin" bs=4096 seek=$k conv=notrunc 2>/dev/null
done

t_step put_objects bash -c "
  . '$S3F_ROOT/test/lib/s3.sh' &&
  s3_put_file '$B' '${P}rb/big.bin' '$D/big.bin' &&
  s3_put_file '$B' '${P}rb/cmp.bin' '$D/cmp.bin' &&
  s3_put_file '$B' '${P}rb/ow.bin' '$D/ow1.bin' &&
  s3_put_file '$B' '${P}rb/h1.bin' '$D/h1.bin' &&
  s3_put_file '$B' '${P}rb/h2.bin' '$D/h2.bin'" || t_done

MP=$(t_free_port)
export S3FILES_COMMIT_INTERVAL=3600 S3FILES_POLL_MS=1000
export S3FILES_DAEMON_EXTRA="Metrics_Listen = \"127.0.0.1:$MP\";"
export S3FILES_EXPORT_EXTRA=""		# Read_Bypass_Threshold: its default, 8M
s3f_test_stack_start
STATE=${S3FILES_STATE_DIR:-$STACK/state}
DATA_DIR=$STATE/data
RV=$WORK/rv

tier_bytes() { du -s --block-size=1 "$DATA_DIR" | cut -f1; }
# metric NAME: its value for export 1 (0 if absent)
metric() {
  curl -sf "http://127.0.0.1:$MP/metrics" |
    awk -v n="$1" '$1 == n "{export=\"1\"}" { print $2; f = 1 } END { if (!f) print 0 }'
}
# wait_metric NAME MIN: until NAME >= MIN (the FSAL stores its counters once a second)
wait_metric() { t_wait_for 10 bash -c "[ \"\$(metric_v $1)\" -ge $2 ]"; }
metric_v() { metric "$1"; }
export -f metric metric_v
export MP

run_guest() { # NAME SCRIPT [--rendezvous DIR]
  local name=$1 script=$2; shift 2
  "$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$script" --timeout 900 \
    --log "$WORK/$name.console" --mem 1024 "$@" \
    --env NFS_PORT="$NFS_PORT" --env DATA="$D" --env SIZE="$SIZE" \
    --env MD5_BIG="$(md5 "$D/big.bin")" --env MD5_PATCHED="$(md5 "$D/patched.bin")" \
    --env MD5_CMP="$(md5 "$D/cmp.bin")" --env RANDOM_BLOCKS="$RANDOM_BLOCKS" \
    --env PATCH_BLOCKS="$PATCH_BLOCKS" --env OW_LINES="$OW_LINES" \
    >"$WORK/$name.out" 2>"$WORK/$name.err"
}
guest_result() { # NAME RC
  cat "$WORK/$1.out"
  T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$WORK/$1.out")))
  if [ "$2" -ne 0 ] && ! grep -q '^FAIL ' "$WORK/$1.out"; then
    t_fail "$1" "run-guest exited $2: $(tail -n 3 "$WORK/$1.err" | tr '\n' ' ')"
  fi
}
# host_read NAME: read rb/NAME with libnfs's nfs-cp on the host (no TCG in the way), print
# the milliseconds it took; the copy must equal the object.
host_read() {
  local t0 ms
  t0=$(date +%s%N)
  nfs-cp "nfs://127.0.0.1/s3files/rb/$1?version=4&nfsport=$NFS_PORT" "$WORK/$1.copy" >/dev/null 2>&1 || return 1
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  cmp -s "$WORK/$1.copy" "$D/$1" || return 1
  rm -f "$WORK/$1.copy"
  echo "$ms"
}
rate() { # BYTES MS -> MB/s
  awk -v b="$1" -v ms="$2" 'BEGIN { if (ms > 0) printf "%.1f", b / 1e6 / (ms / 1000); else print "?" }'
}

# ---- guest run 1: the bypass ----
cat >"$WORK/guest1.sh" <<'GUEST'
M=/mnt/s3
F=$M/rb/big.bin
mkdir -p $M
step mount nfs_mount "" /s3files $M || exit 1
step list sh -c "ls -l $M/rb && test \$(stat -c %s $F) = $SIZE"
T0=$(now_ms)
step seq_read dd if=$F of=/dev/null bs=1M
MS=$(elapsed_ms $T0)
note "BYPASS_MS=$MS"
step seq_read_md5 sh -c "test \$(md5sum $F | cut -d' ' -f1) = $MD5_BIG"
host_signal after_read
step host_checked_read host_wait after_read 120

# random small reads, nothing cached
step remount_1 sh -c "umount $M && nfs_mount '' /s3files $M"
random_reads() {
  for kv in $RANDOM_BLOCKS; do
    k=${kv%%:*}; want=${kv#*:}
    got=$(dd if=$F bs=4096 skip=$k count=1 2>/dev/null | md5sum | cut -d' ' -f1)
    [ "$got" = "$want" ] || { echo "block $k: md5 $got, want $want"; return 1; }
  done
}
step random_4k_reads random_reads

# dirty blocks written through the mount, then the whole file read back
patch_blocks() {
  for k in $PATCH_BLOCKS; do
    dd if=/host$DATA/patch.$k of=$F bs=4096 seek=$k count=1 conv=notrunc,fsync 2>/dev/null || return 1
  done
}
step write_dirty_blocks patch_blocks
step remount_2 sh -c "umount $M && nfs_mount '' /s3files $M"
T0=$(now_ms)
step dirty_file_seq_read sh -c "test \$(md5sum $F | cut -d' ' -f1) = $MD5_PATCHED"
note "DIRTY_MS=$(elapsed_ms $T0)"
host_signal after_dirty
step host_checked_dirty host_wait after_dirty 120

# an overwrite in S3 while the file is being read
ow_read() {
  dd if=$M/rb/ow.bin bs=1M 2>/tmp/ow.err |
    { dd bs=1M count=48 iflag=fullblock 2>/dev/null
      host_signal overwrite
      host_wait overwrite 300 || echo "HOST-TIMEOUT"
      cat; } | cut -c1-2 | uniq -c > /tmp/ow.runs
  cat /tmp/ow.runs /tmp/ow.err
  ! grep -q HOST-TIMEOUT /tmp/ow.runs
}
step overwrite_read_ran ow_read
step overwrite_no_mix sh -c "test \$(wc -l < /tmp/ow.runs) = 1 && grep -q ' v1\$' /tmp/ow.runs"
step overwrite_read_failed grep -qiE 'input/output error|i/o error' /tmp/ow.err
note "overwrite mid-stream: the reader got (count, version of 4 KiB lines):$(tr -s ' ' < /tmp/ow.runs | tr '\n' ';') then: $(grep -i error /tmp/ow.err | head -n 1)"
step remount_3 sh -c "umount $M && nfs_mount '' /s3files $M"
step overwrite_new_version_after_reopen sh -c "test \"\$(cut -c1-2 $M/rb/ow.bin | uniq -c | tr -s ' ')\" = ' $OW_LINES v2'"
step umount umount $M
GUEST

rm -rf "$RV"
run_guest guest1 "$WORK/guest1.sh" --rendezvous "$RV" &
GPID=$!

tier0=$(tier_bytes)
# after the sequential read of big.bin
if vm_rv_wait "$RV" after_read 600; then
  if wait_metric s3files_read_bypass_bytes_total $((200 * MIB)); then t_pass metrics_bypass_bytes
  else t_fail metrics_bypass_bytes "s3files_read_bypass_bytes_total = $(metric s3files_read_bypass_bytes_total), want >= 200 MiB"; fi
  tier1=$(tier_bytes)
  echo "# data tier: $tier0 bytes before, $tier1 after reading the 256 MiB object (bypass)"
  echo "# metrics: bypass $(metric s3files_read_bypass_bytes_total) bytes, tier $(metric s3files_read_tier_bytes_total) bytes, fetched $(metric s3files_read_bypass_fetched_bytes_total), streams $(metric s3files_read_bypass_streams_total)"
  if [ $((tier1 - tier0)) -lt $((32 * MIB)) ]; then t_pass tier_not_filled
  else t_fail tier_not_filled "the data tier grew by $((tier1 - tier0)) bytes reading a $SIZE-byte object"; fi
  vm_rv_ack "$RV" after_read
else
  t_fail rendezvous_after_read "the guest never got there"
fi
# after the dirty file was read back
if vm_rv_wait "$RV" after_dirty 600; then
  if wait_metric s3files_read_bypass_bytes_total $((400 * MIB)); then t_pass dirty_file_read_bypassed
  else t_fail dirty_file_read_bypassed "s3files_read_bypass_bytes_total = $(metric s3files_read_bypass_bytes_total), want >= 400 MiB after two reads"; fi
  tier2=$(tier_bytes)
  echo "# data tier after the random reads and the dirty file's read: $tier2 bytes"
  if [ $((tier2 - tier0)) -lt $((48 * MIB)) ]; then t_pass tier_not_filled_dirty
  else t_fail tier_not_filled_dirty "the data tier grew by $((tier2 - tier0)) bytes"; fi
  if s3f_ctl "$STACK" ls rb | grep -q ' dirty .*big.bin$'; then t_pass dirty_still_dirty
  else t_fail dirty_still_dirty "$(s3f_ctl "$STACK" ls rb | tr '\n' ' ')"; fi
  vm_rv_ack "$RV" after_dirty
else
  t_fail rendezvous_after_dirty "the guest never got there"
fi
# the reader of ow.bin waits: overwrite the object, wait for the import, let it go on
if vm_rv_wait "$RV" overwrite 600; then
  if s3_put_file "$B" "${P}rb/ow.bin" "$D/ow2.bin"; then
    e2=$(s3_head_etag "$B" "${P}rb/ow.bin")
    if t_wait_for 30 bash -c "'${S3F_BUILD}/bin/s3filesctl' -f '$STACK/ganesha.conf' ls rb | grep -q ' $e2 ow.bin\$'"; then
      t_pass overwrite_imported
    else
      t_fail overwrite_imported "ow.bin not at ETag $e2 in the file view after 30 s"
    fi
  else
    t_fail overwrite_put "PUT of version 2 failed"
  fi
  vm_rv_ack "$RV" overwrite
else
  t_fail rendezvous_overwrite "the guest never got there"
fi
wait "$GPID"
rc=$?
GPID=
guest_result guest1 $rc
BYPASS_MS=$(sed -n 's/^# BYPASS_MS=//p' "$WORK/guest1.out")
DIRTY_MS=$(sed -n 's/^# DIRTY_MS=//p' "$WORK/guest1.out")
if HOST_BYPASS_MS=$(host_read h1.bin); then t_pass host_libnfs_read_bypass
else t_fail host_libnfs_read_bypass "nfs-cp of rb/h1.bin failed or differs"; HOST_BYPASS_MS=0; fi
ab=$(metric s3files_read_bypass_aborted_total)
if [ "$ab" -ge 1 ]; then t_pass metrics_aborted; else t_fail metrics_aborted "s3files_read_bypass_aborted_total = $ab"; fi

# ---- guest run 2: the same read through the hydrate path ----
s3f_stack_stop "$STACK"
export S3FILES_EXPORT_EXTRA="Read_Bypass_Threshold = 0;"
if ! s3f_stack_start "$STACK" >"$WORK/start2.out" 2>&1; then
  t_fail stack_restart "$(tail -n 5 "$WORK/start2.out" | tr '\n' ' ')"
  t_done
fi
t_pass stack_restart_bypass_off
NFS_PORT=$(cat "$STACK/nfs_port")
cat >"$WORK/guest2.sh" <<'GUEST'
M=/mnt/s3
F=$M/rb/cmp.bin
mkdir -p $M
step mount nfs_mount "" /s3files $M || exit 1
T0=$(now_ms)
step seq_read_hydrate dd if=$F of=/dev/null bs=1M
note "HYDRATE_MS=$(elapsed_ms $T0)"
step seq_read_hydrate_md5 sh -c "test \$(md5sum $F | cut -d' ' -f1) = $MD5_CMP"
step umount umount $M
GUEST
bypass_before=$(metric s3files_read_bypass_bytes_total)
tier3=$(tier_bytes)
run_guest guest2 "$WORK/guest2.sh"
guest_result guest2 $?
HYDRATE_MS=$(sed -n 's/^# HYDRATE_MS=//p' "$WORK/guest2.out")
tier4=$(tier_bytes)
echo "# data tier: $tier3 bytes before, $tier4 after reading the 256 MiB object with Read_Bypass_Threshold = 0"
# the comparison is only meaningful if the hydrate path really stages what it reads
if [ $((tier4 - tier3)) -ge $((SIZE - 8 * MIB)) ]; then t_pass hydrate_path_stages
else t_fail hydrate_path_stages "the tier grew by $((tier4 - tier3)) bytes with the bypass off"; fi
if HOST_HYDRATE_MS=$(host_read h2.bin); then t_pass host_libnfs_read_hydrate
else t_fail host_libnfs_read_hydrate "nfs-cp of rb/h2.bin failed or differs"; HOST_HYDRATE_MS=0; fi
sleep 2	# the FSAL stores its counters once a second
bypass_after=$(metric s3files_read_bypass_bytes_total)
if [ "$bypass_after" = "$bypass_before" ]; then t_pass threshold_0_never_bypasses
else t_fail threshold_0_never_bypasses "bypass bytes went from $bypass_before to $bypass_after"; fi

echo "# guest dd read of 256 MiB: bypass ${BYPASS_MS:-?} ms = $(rate $SIZE "${BYPASS_MS:-0}") MB/s; hydrate path (Read_Bypass_Threshold = 0) ${HYDRATE_MS:-?} ms = $(rate $SIZE "${HYDRATE_MS:-0}") MB/s"
echo "# host libnfs (nfs-cp) read of 256 MiB: bypass $HOST_BYPASS_MS ms = $(rate $SIZE "$HOST_BYPASS_MS") MB/s; hydrate path $HOST_HYDRATE_MS ms = $(rate $SIZE "$HOST_HYDRATE_MS") MB/s"
echo "# dirty file (3 local blocks) read back with md5 through the bypass: ${DIRTY_MS:-?} ms = $(rate $SIZE "${DIRTY_MS:-0}") MB/s"
echo "# data tier growth: bypass read $((${tier1:-0} - tier0)) bytes, hydrate read $((tier4 - tier3)) bytes"
t_done
