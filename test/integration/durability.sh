#!/usr/bin/env bash
# durability: nothing written through the mount is lost when S3 goes away or the daemon
# dies, through the Linux kernel NFSv4.1 client (qemu guest), ganesha + FSAL_S3FILES,
# s3files-syncd and a Ceph RGW of the suite's own (stopping the shared one would break
# the other suites), checked with the independent S3 client (test/lib/s3.sh).
#
#   base:    the guest writes files and a directory; they are committed (wait-synced).
#   outage:  the RGW (mon, osd, radosgw) is stopped for at least 120 s. Meanwhile the guest
#            writes new files, overwrites, deletes, renames a file and a directory, writes
#            a 100 MiB file and a 1 GiB file; `s3filesctl status` (sampled every 10 s)
#            shows the backlog growing, the journal's commit_failed events and the
#            s3files_sync_commit_errors_total metric show uploads failing and retried; the
#            daemon is killed with SIGKILL and started again during the outage: it comes
#            up without S3 and the backlog (dirty files, pending deletes, the directory
#            rename) is still there.
#   return:  the RGW is started again; the daemon catches up by itself (wait-synced, the
#            time is printed): every key under the prefix is exactly what the guest wrote
#            (byte for byte; deleted and renamed-away keys gone), no conflict.
#   multipart: the 1 GiB file's multipart upload is caught mid-way (ListParts) and the
#            daemon killed with SIGKILL: the unfinished upload stays on the server; after
#            a restart the daemon aborts it (upload_aborted event, ListMultipartUploads
#            under the prefix empty at the end) and `s3filesctl commit` uploads the file
#            (ETag with the -N multipart suffix, bytes identical); timed against `s3cmd
#            put` of the same file to the same RGW.
set -uo pipefail
T_SUITE=durability
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"
export LC_ALL=C

OUTAGE_S=${DURABILITY_OUTAGE_S:-120}
BIG_MB=${DURABILITY_BIG_MB:-1024}
RGW=$S3F_ROOT/test/lib/rgw.sh
WORK=$S3F_BUILD/test-tmp/durability.$$
STACK=$WORK/stack
RGWD=$WORK/rgw
RV=$WORK/rv
D=$WORK/data
GPID= SPID=
rm -rf "$WORK"; mkdir -p "$D"

cleanup() {
  [ -n "$GPID" ] && kill "$GPID" 2>/dev/null
  [ -n "$SPID" ] && kill "$SPID" 2>/dev/null
  s3f_stack_stop "$STACK"
  "$RGW" stop "$RGWD" >/dev/null 2>&1
  # the big files and the cluster go; logs stay when something failed
  rm -rf "$D/big.bin" "$D/m100.bin" "$RGWD/osd" "$STACK/state/data"
  [ "$T_FAILED" -eq 0 ] && rm -rf "$WORK"
}
trap cleanup EXIT
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# kill_syncd: SIGKILL the daemon (started by this shell: reaped quietly)
kill_syncd() {
  local pid
  pid=$(cat "$STACK/syncd.pid")
  kill -KILL "$pid" && { wait "$pid"; } 2>/dev/null
  return 0
}

t_step build_guest "$S3F_ROOT/test/vm/build-guest.sh" || t_done

# ---- a cluster of our own ----
export B=s3files-dur
T0=$(date +%s%N)
if ! RGW_BUCKETS=$B RGW_OSD_SIZE_GB=16 "$RGW" start "$RGWD" >"$WORK/rgw-start.out" 2>&1; then
  t_fail rgw_start "$(tail -n 5 "$WORK/rgw-start.out" | tr '\n' ' ')"
  t_done
fi
echo "# private RGW started in $(ms_since "$T0") ms"
set -a; . "$RGWD/env"; set +a
RGW_PORT_USED=${S3_ENDPOINT##*:}
export S3_PREFIX="dur-$$/"
P=$S3_PREFIX

# ---- data the guest writes (from /host) ----
mkdir -p "$D/base" "$D/rd" "$D/new"
for f in keep1 keep2 keep3 ow1 ow2 ow3 del1 del2 del3 ren1; do
  head -c $(( 200 + RANDOM % 20000 )) /dev/urandom >"$D/base/$f"
done
for f in f1 f2 f3; do head -c $(( 100 + RANDOM % 5000 )) /dev/urandom >"$D/rd/$f"; done
for i in $(seq -w 1 30); do head -c $(( 1 + RANDOM % 65536 )) /dev/urandom >"$D/new/n$i"; done
for f in ow1.v2 ow2.v2 ow3.v2 ow1.v3; do head -c $(( 100 + RANDOM % 30000 )) /dev/urandom >"$D/new/$f"; done
head -c $(( 100 << 20 )) /dev/urandom >"$D/m100.bin"
# 1 GiB of incompressible bytes, fast: AES-CTR over zeros
T0=$(date +%s%N)
openssl enc -aes-128-ctr -pass pass:s3files-durability -nosalt -pbkdf2 </dev/zero 2>/dev/null |
  head -c $(( BIG_MB << 20 )) >"$D/big.bin"
echo "# test data generated in $(ms_since "$T0") ms"
BIG_SHA=$(sha256sum "$D/big.bin" | cut -d' ' -f1)
M100_SHA=$(sha256sum "$D/m100.bin" | cut -d' ' -f1)

# The expected state after everything: key (relative to the prefix) -> source file.
{
  for f in keep1 keep2 keep3 ow1 ow2 ow3; do echo "o/$f $D/base/$f"; done
  for i in $(seq -w 1 30); do echo "o/n$i $D/new/n$i"; done
  echo "o/ren1.moved $D/base/ren1"
  for f in f1 f2 f3; do echo "o/rd2/$f $D/rd/$f"; done
  echo "o/m100.bin $D/m100.bin"
  echo "big/1g $D/big.bin"
} | sed -e "s|^o/ow1 .*|o/ow1 $D/new/ow1.v3|" -e "s|^o/ow2 .*|o/ow2 $D/new/ow2.v2|" \
        -e "s|^o/ow3 .*|o/ow3 $D/new/ow3.v2|" | sort >"$WORK/expected"

# ---- the stack: commits 2 s after the last change, /metrics ----
MP=$(t_free_port)
export S3FILES_COMMIT_INTERVAL=2 S3FILES_POLL_MS=2000
export S3FILES_DAEMON_EXTRA="Metrics_Listen = \"127.0.0.1:$MP\";"
s3f_test_stack_start
JOURNAL=$STACK/state/events.jsonl
commit_errors() {
  curl -sf "http://127.0.0.1:$MP/metrics" |
    awk '$1 == "s3files_sync_commit_errors_total{export=\"1\"}" { print $2; f = 1 } END { if (!f) print -1 }'
}
status_line() { s3f_ctl "$STACK" status 2>/dev/null | head -n 1; }
status_field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"; }

# ---- the guest ----
cat >"$WORK/guest.sh" <<'GUEST'
M=/mnt/s3
mkdir -p $M
step mount nfs_mount actimeo=1 /s3files $M || exit 1
base() {
  mkdir $M/o $M/o/rd && cp /host$DATA/base/* $M/o/ && cp /host$DATA/rd/* $M/o/rd/ &&
  [ "$(ls $M/o | wc -l)" = 11 ]
}
step write_base base
host_signal base
step base_committed host_wait base 300

# S3 is down from here
out1() {
  for i in 01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 20; do
    cp /host$DATA/new/n$i $M/o/n$i || return 1
  done
  for f in ow1 ow2 ow3; do cp /host$DATA/new/$f.v2 $M/o/$f || return 1; done
  rm $M/o/del1 $M/o/del2 $M/o/del3 && mv $M/o/ren1 $M/o/ren1.moved && mv $M/o/rd $M/o/rd2 &&
  dd if=/host$DATA/m100.bin of=$M/o/m100.bin bs=1M conv=fsync 2>/dev/null
}
T0=$(now_ms)
step outage_writes out1
note "during the outage: 20 new files, 3 overwrites, 3 deletes, 2 renames, 100 MiB in $(elapsed_ms $T0) ms"
host_signal w1
step daemon_killed_and_back host_wait w1 300
out2() {
  for i in 21 22 23 24 25 26 27 28 29 30; do cp /host$DATA/new/n$i $M/o/n$i || return 1; done
  cp /host$DATA/new/ow1.v3 $M/o/ow1 || return 1
  # what the guest reads is what it wrote (from the local tier: S3 is down)
  for f in ow1.v3:ow1 ow2.v2:ow2 n05:n05 n25:n25; do
    cmp /host$DATA/new/${f%%:*} $M/o/${f##*:} || return 1
  done
  cmp /host$DATA/base/ren1 $M/o/ren1.moved && cmp /host$DATA/rd/f2 $M/o/rd2/f2 &&
  [ ! -e $M/o/del1 ] && [ ! -e $M/o/rd ]
}
step outage_writes_after_restart out2
mkdir -p $M/big
T0=$(now_ms)
step write_big dd if=/host$DATA/big.bin of=$M/big/1g bs=1M conv=fsync
note "$BIG_MB MiB written through NFS in $(elapsed_ms $T0) ms (S3 down)"
host_signal w2
step s3_back_and_synced host_wait w2 900
step read_back sh -c "cmp /host$DATA/new/ow1.v3 $M/o/ow1 && cmp /host$DATA/m100.bin $M/o/m100.bin"
step umount umount $M
GUEST

"$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$WORK/guest.sh" --timeout 1200 \
  --log "$WORK/console.log" --rendezvous "$RV" --mem 1024 \
  --env NFS_PORT="$NFS_PORT" --env DATA="$D" --env BIG_MB="$BIG_MB" \
  >"$WORK/guest.out" 2>"$WORK/guest.err" &
GPID=$!

finish_guest() {
  wait "$GPID"
  local rc=$?
  GPID=
  cat "$WORK/guest.out"
  T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$WORK/guest.out")))
  if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$WORK/guest.out"; then
    t_fail guest "run-guest exited $rc: $(tail -n 3 "$WORK/guest.err" | tr '\n' ' ')"
  fi
}

# ---- base ----
if ! vm_rv_wait "$RV" base 600; then
  t_fail rendezvous_base "the guest never wrote the base files"; finish_guest; t_done
fi
if out=$(s3f_ctl "$STACK" wait-synced --timeout 120 /o 2>&1); then t_pass base_committed
else t_fail base_committed "$out"; fi
n=$(s3_ls "$B" "${P}o/" | grep -vc '/$')
if [ "$n" = 13 ]; then t_pass base_in_s3; else t_fail base_in_s3 "$n objects under ${P}o/, want 13"; fi

# ---- the outage ----
"$RGW" stop "$RGWD" >"$WORK/rgw-stop.out" 2>&1
T_OUT=$(date +%s%N)
if s3_exists "$B" "${P}o/keep1" 2>/dev/null; then t_fail rgw_stopped "S3 still answers"
else t_pass rgw_stopped; fi
# backlog samples, every 10 s, for the notes
( while :; do
    echo "$(( ($(date +%s%N) - T_OUT) / 1000000000 )) $(status_line)"
    sleep 10
  done >"$WORK/backlog.txt" 2>/dev/null ) &
SPID=$!
vm_rv_ack "$RV" base

if vm_rv_wait "$RV" w1 600; then
  # failed uploads are journaled and counted before the kill (one event per failed pass;
  # a pass that finds S3 gone spends ~20 s per request on retries first, and a pass may
  # make two such requests: 150 s leaves room for two passes)
  if t_wait_for 150 sh -c "[ \$(grep -c '\"kind\":\"commit_failed\"' '$JOURNAL') -ge 2 ]"; then
    t_pass commit_failed_journaled
  else
    t_fail commit_failed_journaled "$(grep -c '"kind":"commit_failed"' "$JOURNAL") commit_failed events"
  fi
  e1=$(commit_errors)
  if [ "$e1" -ge 1 ]; then t_pass commit_errors_metric; else t_fail commit_errors_metric "s3files_sync_commit_errors_total = $e1"; fi
  st1=$(status_line)
  jobs1=$(s3f_ctl "$STACK" status | grep -c '^RENAME .*rd/')
  echo "# before the kill ($(( ($(date +%s%N) - T_OUT) / 1000000000 )) s into the outage): $st1; commit errors $e1; rename jobs $jobs1"
  kill_syncd
  T0=$(date +%s%N)
  if s3f_syncd_start "$STACK" >"$WORK/syncd2.out" 2>&1; then
    t_pass syncd_restarts_without_s3
    echo "# syncd serving again $(ms_since "$T0") ms after the restart (S3 down)"
  else
    t_fail syncd_restarts_without_s3 "$(tail -n 3 "$WORK/syncd2.out" | tr '\n' ' ')"
  fi
  st2=$(status_line)
  jobs2=$(s3f_ctl "$STACK" status | grep -c '^RENAME .*rd/')
  d1=$(status_field dirty "$st1"); d2=$(status_field dirty "$st2")
  x1=$(status_field deletes "$st1"); x2=$(status_field deletes "$st2")
  if [ -n "$d1" ] && [ "$d1" -ge 24 ] && [ "$d1" = "$d2" ] && [ "$x1" = "$x2" ] && [ "$x1" -ge 3 ] &&
     [ "$jobs1" = 1 ] && [ "$jobs2" = 1 ]; then
    t_pass backlog_survives_kill
  else
    t_fail backlog_survives_kill "before: dirty=$d1 deletes=$x1 jobs=$jobs1; after: dirty=$d2 deletes=$x2 jobs=$jobs2"
  fi
  vm_rv_ack "$RV" w1
else
  t_fail rendezvous_w1 "the guest never finished its first outage writes"
fi

if vm_rv_wait "$RV" w2 900; then
  st3=$(status_line)
  d3=$(status_field dirty "$st3")
  if [ -n "$d3" ] && [ -n "${d2:-}" ] && [ "$d3" -gt "$d2" ]; then t_pass backlog_grows
  else t_fail backlog_grows "dirty ${d2:-?} after the restart, $d3 at the end of the writes"; fi
  # the restarted daemon counts its failures too
  if t_wait_for 60 sh -c "[ \$(curl -sf http://127.0.0.1:$MP/metrics | awk '\$1 == \"s3files_sync_commit_errors_total{export=\\\"1\\\"}\" { print \$2 }') -ge 1 ]"; then
    t_pass commit_errors_after_restart
  else
    t_fail commit_errors_after_restart "s3files_sync_commit_errors_total = $(commit_errors)"
  fi
  left=$(( OUTAGE_S * 1000 - $(ms_since "$T_OUT") ))
  [ "$left" -gt 0 ] && sleep "$(( left / 1000 )).$(printf '%03d' $(( left % 1000 )))"
  kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=
  echo "# backlog during the outage (s: status):"
  sed 's/^\([0-9]*\) EXPORT .* dirty=\([0-9]*\) deletes=\([0-9]*\) .* errors=\([0-9]*\) .*/#   \1 s: dirty=\2 deletes=\3 errors=\4/' "$WORK/backlog.txt"
  nfail=$(grep -c '"kind":"commit_failed"' "$JOURNAL")
  echo "# journal: $nfail commit_failed events during the outage"
  if [ "$nfail" -ge 3 ]; then t_pass commit_failures_retried
  else t_fail commit_failures_retried "$nfail commit_failed events: the backlog was not retried"; fi

  # ---- S3 is back ----
  T_DOWN_MS=$(ms_since "$T_OUT")
  T0=$(date +%s%N)
  if RGW_PORT=$RGW_PORT_USED RGW_BUCKETS=$B "$RGW" start "$RGWD" >"$WORK/rgw-restart.out" 2>&1; then
    t_pass rgw_back
  else
    t_fail rgw_back "$(tail -n 5 "$WORK/rgw-restart.out" | tr '\n' ' ')"
  fi
  T_BACK=$(date +%s%N)
  echo "# S3 down for $T_DOWN_MS ms; RGW answering again after $(ms_since "$T0") ms"
  # The daemon catches up by itself: the outage's files in creation order, then the 1 GiB
  # file, whose multipart upload is caught mid-way (ListParts): the daemon is killed.
  uploads() {  # KEYPREFIX: "uploadid key" lines of ListMultipartUploads
    S3_QUERY="prefix=$(s3_urlencode "$1")&uploads=" s3_curl GET "$B" '' 2>/dev/null |
      "$S3SH_PY" -c '
import sys, xml.etree.ElementTree as ET
r = ET.fromstring(sys.stdin.read()); ns = r.tag[:r.tag.index("}") + 1] if r.tag.startswith("{") else ""
for u in r.findall(ns + "Upload"):
    print(u.findtext(ns + "UploadId"), u.findtext(ns + "Key"))'
  }
  parts() {  # KEY UPLOADID: number of parts uploaded so far
    S3_QUERY="uploadId=$(s3_urlencode "$2")" s3_curl GET "$B" "$1" 2>/dev/null | grep -o '<PartNumber>' | wc -l
  }
  orphan= np=0 T_SMALL=
  end=$(( $(date +%s) + 300 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    if [ -z "$T_SMALL" ]; then
      d=$(status_field dirty "$(status_line)")
      [ -n "$d" ] && [ "$d" -le 1 ] && T_SMALL=$(ms_since "$T_BACK")
    fi
    id= key=
    read -r id key < <(uploads "${P}big/1g")
    if [ -n "$id" ]; then
      np=$(parts "$key" "$id")
      if [ "$np" -ge 4 ]; then
        kill_syncd; orphan=$id
        break
      fi
    fi
    s3_exists "$B" "${P}big/1g" 2>/dev/null && break   # too late: it is complete
  done
  sleep 0.5
  if [ -n "$orphan" ] && uploads "$P" | grep -q "^$orphan "; then
    t_pass mpu_killed_midway
    echo "# syncd killed with $np of $(( (BIG_MB + 15) / 16 )) parts of big/1g uploaded; the upload is left on the server"
    if s3f_syncd_start "$STACK" >"$WORK/syncd3.out" 2>&1; then t_pass syncd_restarted
    else t_fail syncd_restarted "$(tail -n 3 "$WORK/syncd3.out" | tr '\n' ' ')"; fi
  else
    t_fail mpu_killed_midway "could not catch the upload of big/1g mid-way (parts $np, upload '$orphan')"
  fi
  T0=$(date +%s%N)
  if out=$(s3f_ctl "$STACK" commit /big 2>&1) &&
     out2=$(s3f_ctl "$STACK" wait-synced --timeout 300 /big 2>&1); then
    MPU_MS=$(ms_since "$T0")
    t_pass mpu_commit
    echo "# s3filesctl commit of the $BIG_MB MiB file after the restart (multipart): $MPU_MS ms ($out)"
  else
    t_fail mpu_commit "$out ${out2:-}"
  fi
  if out=$(s3f_ctl "$STACK" wait-synced --timeout 120 /o 2>&1); then
    t_pass outage_backlog_synced
    echo "# catch-up after S3 returned: the outage's 34 files (100 MiB) and 2 renames in S3 ${T_SMALL:-?} ms after the RGW answered; all of it, deletes included (after the 1 GiB upload, the kill and the restart), $(ms_since "$T_BACK") ms"
  else
    t_fail outage_backlog_synced "$(tail -n 3 <<<"$out" | tr '\n' ' ')"
  fi
  etag=$(s3_head_etag "$B" "${P}big/1g" 2>/dev/null)
  if [[ $etag == *-[0-9]* ]]; then t_pass mpu_etag_multipart; echo "# ETag of big/1g: $etag"
  else t_fail mpu_etag_multipart "ETag '$etag' has no -N suffix"; fi
  got=$(s3_curl GET "$B" "${P}big/1g" 2>/dev/null | sha256sum | cut -d' ' -f1)
  if [ "$got" = "$BIG_SHA" ]; then t_pass mpu_bytes_identical
  else t_fail mpu_bytes_identical "sha256 $got, want $BIG_SHA"; fi
  if [ -n "$orphan" ] && grep '"kind":"upload_aborted"' "$JOURNAL" | grep -q "$orphan"; then
    t_pass mpu_orphan_aborted_event
  else
    t_fail mpu_orphan_aborted_event "no upload_aborted event for ${orphan:-?}"
  fi
  left=$(uploads "$P" | wc -l)
  if [ "$left" = 0 ]; then t_pass mpu_none_left
  else t_fail mpu_none_left "$left unfinished multipart uploads under $P: $(uploads "$P" | head -n 3 | tr '\n' ' ')"; fi
  T0=$(date +%s%N)
  if s3cmd_put "$B" "${P}s3cmd-1g" "$D/big.bin" 16; then
    echo "# s3cmd put of the same file (16 MiB parts) to the same RGW: $(ms_since "$T0") ms; s3files: ${MPU_MS:-?} ms"
    s3_rm "$B" "${P}s3cmd-1g"
  else
    echo "# s3cmd put failed"
  fi
  vm_rv_ack "$RV" w2
else
  t_fail rendezvous_w2 "the guest never finished writing during the outage"
  kill "$SPID" 2>/dev/null; SPID=
fi

# ---- everything in S3 is what the guest wrote ----
s3_ls "$B" "$P" >"$WORK/keys.all"
sed "s|^$P||" "$WORK/keys.all" | grep -v '/$' | sort >"$WORK/keys"
if cut -d' ' -f1 "$WORK/expected" | cmp -s - "$WORK/keys"; then t_pass s3_keys_exact
else t_fail s3_keys_exact "$(cut -d' ' -f1 "$WORK/expected" | diff - "$WORK/keys" | grep '^[<>]' | head -n 6 | tr '\n' ' ')"; fi
if grep -q "^${P}o/rd/" "$WORK/keys.all"; then t_fail s3_dir_rename_done "keys left under ${P}o/rd/"
else t_pass s3_dir_rename_done; fi
bad=
while read -r key src; do
  case $key in big/1g) continue ;; esac
  if [ "$key" = o/m100.bin ]; then
    [ "$(s3_curl GET "$B" "$P$key" 2>/dev/null | sha256sum | cut -d' ' -f1)" = "$M100_SHA" ] || bad+=" $key"
    continue
  fi
  g=$WORK/got.${key//\//_}
  if ! s3_get_file "$B" "$P$key" "$g" 2>/dev/null || ! cmp -s "$g" "$src"; then bad+=" $key"; fi
  rm -f "$g"
done <"$WORK/expected"
if [ -z "$bad" ]; then t_pass s3_bytes_exact; else t_fail s3_bytes_exact "missing or different:$bad"; fi
bad=
for k in o/del1 o/del2 o/del3 o/ren1; do
  rc=0; s3_exists "$B" "$P$k" 2>/dev/null || rc=$?
  [ $rc = 1 ] || bad+=" $k"
done
if [ -z "$bad" ]; then t_pass s3_deletes_carried_out; else t_fail s3_deletes_carried_out "still there or unknown:$bad"; fi
st=$(status_line)
echo "# final status: $st"
if [[ $st == *" dirty=0 deletes=0 "* && $st == *" conflicts=0 "* ]]; then t_pass backlog_empty_no_conflict
else t_fail backlog_empty_no_conflict "$st"; fi
if s3f_ctl "$STACK" status | grep -q '^RENAME'; then t_fail rename_job_gone "$(s3f_ctl "$STACK" status | grep RENAME)"
else t_pass rename_job_gone; fi

finish_guest
t_done
