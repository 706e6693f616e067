#!/usr/bin/env bash
# evict: the local data tier under Data_Quota and Evict_After_Days, through the Linux
# kernel NFSv4.1 client, against the real RGW.
#
# The export has Data_Quota = 3 MiB, Quota_Wait = 3 s, a commit interval of an hour (so
# only explicit commits upload). Three 1 MiB objects are PUT into S3 beforehand.
#   guest run 1: reads the three objects (3 MiB now local, the quota is full); writes a new
#     1 MiB file: the write is held back until the daemon evicted the least recently used
#     clean data, then succeeds; writes 3 MiB more of new data: once only dirty data is
#     left, the writes are held back Quota_Wait seconds and then fail with EDQUOT.
#   host: the evicted files have no local data any more, the dirty ones still do; the
#     journal has an "evict" event; after `s3filesctl commit` and with the data files'
#     recorded use moved 40 days back, `s3filesctl evict` drops them by age.
#   guest run 2: every file reads back byte-exact (fetched again from S3), and a new write
#     goes through at once.
#   host: the age rule is selective: with the tier below the quota, data made 40 days old
#     goes only if it is clean (the dirty f.bin stays), recent clean data stays.
set -uo pipefail
T_SUITE=evict
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup ev
cleanup() { s3f_stack_stop "$STACK"; }
trap cleanup EXIT

t_step build_guest "$S3F_ROOT/test/vm/build-guest.sh" || t_done
sha() { sha256sum "$1" | cut -d' ' -f1; }
for f in a b c; do head -c 1048576 /dev/urandom >"$WORK/data/$f.bin"; done
head -c 1048576 /dev/urandom >"$WORK/data/d.bin"
head -c 1048576 /dev/urandom >"$WORK/data/f.bin"
t_step put_objects bash -c "
  . '$S3F_ROOT/test/lib/s3.sh' &&
  for f in a b c; do s3_put_file '$B' '${P}ev/'\$f.bin '$WORK/data/'\$f.bin || exit 1; done" || t_done

export S3FILES_COMMIT_INTERVAL=3600 S3FILES_POLL_MS=1000
export S3FILES_EXPORT_EXTRA='Data_Quota = "3M"; Quota_Wait = 3;'
s3f_test_stack_start
STATE=${S3FILES_STATE_DIR:-$STACK/state}
DATA_DIR=$STATE/data

tier_files() { find "$DATA_DIR" -type f | wc -l; }
tier_bytes() { du -s --block-size=1 "$DATA_DIR" | cut -f1; }

run_guest() { # NAME SCRIPT
  local out=$WORK/$1.out rc
  "$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$2" --timeout 300 \
    --log "$WORK/$1.console" --env NFS_PORT="$NFS_PORT" --env DATA="$WORK/data" \
    --env SHA_A="$(sha "$WORK/data/a.bin")" --env SHA_B="$(sha "$WORK/data/b.bin")" \
    --env SHA_C="$(sha "$WORK/data/c.bin")" --env SHA_D="$(sha "$WORK/data/d.bin")" \
    --env SHA_F="$(sha "$WORK/data/f.bin")" >"$out" 2>"$WORK/$1.err"
  rc=$?
  cat "$out"
  T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$out")))
  if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out"; then
    t_fail "$1" "run-guest exited $rc: $(tail -n 3 "$WORK/$1.err" | tr '\n' ' ')"
  fi
}

# ---- guest run 1: fill the quota, then write ----
cat >"$WORK/guest1.sh" <<'GUEST'
M=/mnt/s3
mkdir -p $M
step mount nfs_mount "" /s3files $M || exit 1
for f in a b c; do
  eval want=\$SHA_$(echo $f | tr a-z A-Z)
  step read_$f sh -c "test \$(sha256sum $M/ev/$f.bin | cut -d' ' -f1) = $want"
  sleep 1.1   # distinct last-use times: a is the least recently used
done
T0=$(now_ms)
step write_held_then_admitted sh -c "dd if=/host$DATA/d.bin of=$M/ev/d.bin bs=1M conv=fsync 2>/dev/null"
note "1 MiB write with the quota full of clean data: $(elapsed_ms $T0) ms (held back until evicted)"
step read_d sh -c "test \$(sha256sum $M/ev/d.bin | cut -d' ' -f1) = $SHA_D"
T0=$(now_ms)
step write_over_quota_fails sh -c "! dd if=/dev/urandom of=$M/ev/e.bin bs=1M count=3 conv=fsync 2>/tmp/dd.err && cat /tmp/dd.err && grep -qi 'quota' /tmp/dd.err"
note "3 MiB of dirty data over a 3 MiB quota: failed after $(elapsed_ms $T0) ms"
step umount umount $M
GUEST
run_guest guest1 "$WORK/guest1.sh"

# ---- host: what the daemon evicted ----
journal=$STATE/events.jsonl
if grep -q '"kind":"evict"' "$journal" 2>/dev/null && grep '"kind":"evict"' "$journal" | grep -q '"by_quota":[1-9]'; then
  t_pass journal_evict_event
else
  t_fail journal_evict_event "no evict event with by_quota > 0 in $journal: $(tail -n 3 "$journal" 2>/dev/null | tr '\n' ' ')"
fi
# a, b, c were clean: all three gave way to d and e; what is left is dirty (d, part of e)
st=$(s3f_ctl "$STACK" status 2>&1)
echo "# status: $st"
ev=$(echo "$st" | sed -n 's/.* evicted=\([0-9]*\).*/\1/p' | head -n 1)
if [ "${ev:-0}" -ge 3 ]; then t_pass evicted_clean_data; else t_fail evicted_clean_data "evicted=${ev:-?}, want >= 3"; fi
bytes=$(tier_bytes)
echo "# data tier after run 1: $(tier_files) files, $bytes bytes"
if [ "$bytes" -le $((3 * 1048576 + 65536)) ]; then t_pass tier_within_quota
else t_fail tier_within_quota "data tier holds $bytes bytes, quota 3 MiB"; fi
# dirty data survived: commit it and read it back with the independent client
if out=$(s3f_ctl "$STACK" commit / 2>&1); then t_pass commit; echo "# commit: $out"
else t_fail commit "$out"; fi
got=$WORK/got.d
if s3_get_file "$B" "${P}ev/d.bin" "$got" 2>/dev/null && cmp -s "$got" "$WORK/data/d.bin"; then
  t_pass dirty_data_kept_and_committed
else
  t_fail dirty_data_kept_and_committed "d.bin in S3 differs from what the guest wrote"
fi

# ---- host: eviction by age ----
# The tier records a use as the later of a file's atime and mtime; move both back 40 days
# (older than Evict_After_Days = 30), then run a pass.
find "$DATA_DIR" -type f -exec touch -a -m -d '40 days ago' {} +
before=$(tier_files)
if out=$(s3f_ctl "$STACK" evict 2>&1) && echo "$out" | grep -q 'by_age=[1-9]'; then
  t_pass evict_by_age
  echo "# evict: $out"
else
  t_fail evict_by_age "$out"
fi
after=$(tier_files)
echo "# data files: $before before, $after after the age pass"
if [ "$after" -eq 0 ]; then t_pass tier_empty_after_age
else t_fail tier_empty_after_age "$after data files left (all data was committed and old)"; fi

# ---- guest run 2: everything reads back from S3; writes go through ----
cat >"$WORK/guest2.sh" <<'GUEST'
M=/mnt/s3
mkdir -p $M
step mount nfs_mount "" /s3files $M || exit 1
T0=$(now_ms)
step reread_all sh -c "test \$(sha256sum $M/ev/a.bin | cut -d' ' -f1) = $SHA_A &&
  test \$(sha256sum $M/ev/b.bin | cut -d' ' -f1) = $SHA_B &&
  test \$(sha256sum $M/ev/d.bin | cut -d' ' -f1) = $SHA_D"
note "3 evicted files read back from S3 in $(elapsed_ms $T0) ms"
step write_after_room sh -c "dd if=/host$DATA/f.bin of=$M/ev/f.bin bs=1M conv=fsync 2>/dev/null"
step read_f sh -c "test \$(sha256sum $M/ev/f.bin | cut -d' ' -f1) = $SHA_F"
step umount umount $M
GUEST
run_guest guest2 "$WORK/guest2.sh"

# ---- host: the age rule drops old clean data only ----
# Now the tier holds re-read clean data and the dirty f.bin. A forced pass first brings it
# below 90 % of the quota (so the capacity rule takes nothing more); then the dirty file's
# data is made 40 days old (it must stay), then the clean data too (it must go).
data_file_of() { # NAME.bin: the tier file holding its bytes
  local f
  for f in $(find "$DATA_DIR" -type f); do cmp -s "$f" "$WORK/data/$1" && { echo "$f"; return 0; }; done
  return 1
}
s3f_ctl "$STACK" evict >/dev/null 2>&1
dirty_file=$(data_file_of f.bin)
clean_files=$(find "$DATA_DIR" -type f | grep -vx "${dirty_file:-none}")
echo "# before the age rule: dirty f.bin in ${dirty_file##*/}, clean: $(echo $clean_files | wc -w) file(s), tier $(tier_bytes) bytes"
if [ -n "$dirty_file" ] && [ -n "$clean_files" ]; then
  touch -a -m -d '40 days ago' "$dirty_file"
  out=$(s3f_ctl "$STACK" evict 2>&1)
  left=$(find "$DATA_DIR" -type f | wc -l)
  if echo "$out" | grep -q 'by_age=0 ' && [ -f "$dirty_file" ] && [ "$left" = $(( $(echo $clean_files | wc -w) + 1 )) ]; then
    t_pass evict_age_keeps_dirty_and_recent
  else
    t_fail evict_age_keeps_dirty_and_recent "$out; $left data files left"
  fi
  touch -a -m -d '40 days ago' $clean_files
  out=$(s3f_ctl "$STACK" evict 2>&1)
  if echo "$out" | grep -q "by_age=$(echo $clean_files | wc -w) " && [ -f "$dirty_file" ] &&
     [ "$(find "$DATA_DIR" -type f | wc -l)" = 1 ]; then
    t_pass evict_age_drops_old_clean
  else
    t_fail evict_age_drops_old_clean "$out; left: $(find "$DATA_DIR" -type f | tr '\n' ' ')"
  fi
else
  t_fail evict_age_selective "tier: dirty '${dirty_file:-}', clean '$clean_files'"
fi

t_done
