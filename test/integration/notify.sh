#!/usr/bin/env bash
# notify: S3 event notifications (Notify_Listen) and the metrics endpoint (Metrics_Listen)
# against the real Ceph RGW, with an HTTP-push topic on a bucket of its own.
#
# The daemon polls only every 10 minutes (Poll_Interval_Ms = 600000), so an S3-side change
# that shows up within a second can only have come through a notification; one case checks
# the converse (a change RGW does not notify about stays invisible).
# The file view is read over NFSv4 with libnfs's nfs-ls (a user-space NFS client: every
# call is a fresh READDIR through ganesha's cache, which the FSAL must have invalidated),
# and the metadata store with `s3filesctl ls` (ETags). Directories are listed through NFS
# first: notifications only refresh what the file view already holds.
set -uo pipefail
T_SUITE=notify
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup nt "s3f-notify-$$"
RGW=$S3F_ROOT/test/lib/rgw.sh
LIMIT_MS=1000

TOPIC_ARN=""
cleanup() {
  s3f_stack_stop "$STACK"
  [ -n "$TOPIC_ARN" ] && s3_sns "Action=DeleteTopic&TopicArn=$(s3_urlencode "$TOPIC_ARN")" >/dev/null 2>&1
  "$RGW" admin "$RGW_DIR" bucket rm --bucket "$B" --purge-objects --bypass-gc >/dev/null 2>&1
  [ "$T_FAILED" -eq 0 ] && rm -rf "$WORK"
}
trap cleanup EXIT


# ---- setup: a bucket of our own, objects, the stack ----
printf 'hello\n' >"$WORK/data/6b"
printf 'a longer body\n' >"$WORK/data/14b"
setup_objects() {
  "$RGW" mkbucket "$RGW_DIR" "$B" >/dev/null
  s3_put_file "$B" "${P}d/old.txt" "$WORK/data/6b"
  s3_put_file "$B" "${P}d/gone.txt" "$WORK/data/6b"
  s3_put_file "$B" "${P}d/keep.txt" "$WORK/data/6b"
  s3_put_file "$B" "${P}cold/a.txt" "$WORK/data/6b"
}
t_check setup_objects setup_objects || t_done

NP=$(t_free_port)
MP=$(t_free_port)
while [ "$MP" = "$NP" ]; do MP=$(t_free_port); done
# The daemon under AddressSanitizer + UBSan when built (make asan): the HTTP server and
# the parsers meet untrusted input here; the last case checks it reported nothing.
if [ -z "${S3FILES_SYNCD:-}" ] && [ -x "$S3F_BUILD/asan/bin/s3files-syncd" ]; then
  export S3FILES_SYNCD=$S3F_BUILD/asan/bin/s3files-syncd
fi
export S3FILES_POLL_MS=600000 S3FILES_COMMIT_INTERVAL=3600
export S3FILES_DAEMON_EXTRA="Notify_Listen = \"127.0.0.1:$NP\"; Metrics_Listen = \"127.0.0.1:$MP\";"
s3f_test_stack_start
NOTIFY_URL="http://127.0.0.1:$NP"
METRICS_URL="http://127.0.0.1:$MP"

# nfsls DIR: "SIZE<TAB>NAME" per entry of DIR in the export, over NFSv4.
nfsls() {
  nfs-ls "nfs://127.0.0.1/s3files$1?version=4&nfsport=$NFS_PORT" 2>/dev/null |
    sed -E 's/^[^ ]+ +[0-9]+ +[0-9]+ +[0-9]+ +([0-9]+) (.*)$/\1\t\2/'
}
has_entry() { nfsls "$1" | grep -qxF "$(printf '%s\t%s' "$2" "$3")"; }   # DIR SIZE NAME
has_name() { nfsls "$1" | cut -f2- | grep -qxF "$2"; }                   # DIR NAME
lacks_name() { ! has_name "$1" "$2"; }
# metric NAME: its value (0 if absent), from /metrics.
metric() { curl -sf "$METRICS_URL/metrics" | awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }'; }
# metric_ge NAME MIN: is the metric at least MIN now (for t_wait_ms: read on every try)?
metric_ge() { [ "$(metric "$1")" -ge "$2" ]; }
# ctl_esc NAME: NAME as `s3filesctl ls` prints it (%, space escaped; no other byte here).
ctl_esc() { local s=${1//%/%25}; printf '%s' "${s// /%20}"; }
# ctl_etag DIR NAME: the ETag the metadata store holds for DIR/NAME (NAME as ctl_esc).
ctl_etag() { s3f_ctl "$STACK" ls "$1" 2>/dev/null | awk -v n="$2" '$5 == n { print $4 }'; }

# ---- the endpoints ----
endpoints() {
  local code
  code=$(curl -s -o "$WORK/health" -w '%{http_code}' "$NOTIFY_URL/health")
  [ "$code" = 200 ] && grep -qx ok "$WORK/health" || { echo "notify /health: $code"; return 1; }
  code=$(curl -s -o /dev/null -w '%{http_code}' "$METRICS_URL/health")
  [ "$code" = 200 ] || { echo "metrics /health: $code"; return 1; }
  # the daemon's first poll (at start; the next is 10 minutes away) has been counted
  t_wait_ms 10000 metric_ge 's3files_sync_polls_total{export="1"}' 1 || { echo "no first poll"; return 1; }
  curl -sf -D "$WORK/m.hdr" -o "$WORK/m1" "$METRICS_URL/metrics"
  grep -qi '^Content-Type: text/plain; version=0.0.4' "$WORK/m.hdr" || { echo "content type"; return 1; }
  for l in '# TYPE s3files_notifications_received_total counter' \
           '# TYPE s3files_sync_commits_total counter' \
           '# TYPE s3files_sync_dirty_inodes gauge' \
           's3files_sync_polls_total{export="1"} 1' \
           "s3files_export_info{export=\"1\",bucket=\"$B\",prefix=\"$P\"} 1" \
           's3files_s3_requests_total{op="list"}'; do
    grep -qF "$l" "$WORK/m1" || { echo "/metrics lacks: $l"; return 1; }
  done
  # every sample line belongs to the family its TYPE line announced
  awk '/^# TYPE / { fam = $3; next } /^#/ { next }
       { n = $1; sub(/\{.*/, "", n); if (index(n, fam) != 1) { print "stray " $0; bad = 1 } }
       END { exit bad }' "$WORK/m1"
  code=$(curl -s -o /dev/null -w '%{http_code}' "$METRICS_URL/nope")
  [ "$code" = 404 ] || { echo "GET /nope: $code"; return 1; }
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data x "$METRICS_URL/metrics")
  [ "$code" = 405 ] || { echo "POST /metrics: $code"; return 1; }
  # keep-alive: the second request rides the first connection
  curl -sv -o /dev/null -o /dev/null "$NOTIFY_URL/health" "$NOTIFY_URL/health" 2>"$WORK/ka.err"
  grep -q 'Re-using existing connection' "$WORK/ka.err" || { echo "no keep-alive"; return 1; }
}
t_check endpoints endpoints

# ---- the topic and the bucket's notification configuration (RGW 16, HTTP push) ----
notification_setup() {
  local xml
  TOPIC_ARN=$(s3_sns "Action=CreateTopic&Name=s3f-notify-$$&Attributes.entry.1.key=push-endpoint&Attributes.entry.1.value=$(s3_urlencode "$NOTIFY_URL")" |
              sed -n 's:.*<TopicArn>\([^<]*\)</TopicArn>.*:\1:p')
  [ -n "$TOPIC_ARN" ] || { echo "no topic ARN"; return 1; }
  echo "$TOPIC_ARN" >"$WORK/topic"
  xml="<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TopicConfiguration><Id>s3files</Id><Topic>$TOPIC_ARN</Topic><Event>s3:ObjectCreated:*</Event><Event>s3:ObjectRemoved:*</Event></TopicConfiguration></NotificationConfiguration>"
  [ "$(S3_QUERY='notification=' s3_status PUT "$B" '' --data "$xml")" = 200 ]
}
t_check notification_setup notification_setup || t_done
TOPIC_ARN=$(cat "$WORK/topic")

# The file view lists / and /d (the FSAL imports them); /cold is seen but never listed.
listed() {
  has_name / d && has_name / cold && has_entry /d 6 old.txt && has_entry /d 6 gone.txt
}
t_check listed_through_nfs listed

RECEIVED0=$(metric s3files_notifications_received_total)

# ---- created in S3 -> visible ----
NEWKEY='new file+x é.txt'
created() {
  local t0 etag
  t0=$(t_ms)
  s3_put_file "$B" "${P}d/$NEWKEY" "$WORK/data/14b"
  if ! t_wait_ms 5000 has_entry /d 14 "$NEWKEY"; then
    echo "not visible after $(( $(t_ms) - t0 )) ms: $(nfsls /d | tr '\n\t' '| ')"; return 1
  fi
  echo "# notify->visible (create): $(( $(t_ms) - t0 )) ms"
  [ $(( $(t_ms) - t0 )) -le $LIMIT_MS ] || { echo "took $(( $(t_ms) - t0 )) ms"; return 1; }
  etag=$(s3_head_etag "$B" "${P}d/$NEWKEY")
  [ "$(ctl_etag /d "$(ctl_esc "$NEWKEY")")" = "$etag" ] ||
    { echo "store ETag differs from S3's $etag: $(s3f_ctl "$STACK" ls /d)"; return 1; }
}
t_check create_visible_within_1s created

overwritten() {
  local t0 etag
  t0=$(t_ms)
  s3_put_file "$B" "${P}d/old.txt" "$WORK/data/14b"
  if ! t_wait_ms 5000 has_entry /d 14 old.txt; then
    echo "new size not visible after $(( $(t_ms) - t0 )) ms: $(nfsls /d | tr '\n\t' '| ')"; return 1
  fi
  echo "# notify->visible (overwrite): $(( $(t_ms) - t0 )) ms"
  [ $(( $(t_ms) - t0 )) -le $LIMIT_MS ] || { echo "took $(( $(t_ms) - t0 )) ms"; return 1; }
  etag=$(s3_head_etag "$B" "${P}d/old.txt")
  [ "$(ctl_etag /d old.txt)" = "$etag" ] || { echo "ETag $(ctl_etag /d old.txt), S3 has $etag"; return 1; }
}
t_check overwrite_visible_within_1s overwritten

deleted() {
  local t0
  t0=$(t_ms)
  s3_rm "$B" "${P}d/gone.txt"
  if ! t_wait_ms 5000 lacks_name /d gone.txt; then
    echo "still listed after $(( $(t_ms) - t0 )) ms"; return 1
  fi
  echo "# notify->visible (delete): $(( $(t_ms) - t0 )) ms"
  [ $(( $(t_ms) - t0 )) -le $LIMIT_MS ] || { echo "took $(( $(t_ms) - t0 )) ms"; return 1; }
  has_entry /d 6 keep.txt || { echo "keep.txt went too"; return 1; }
}
t_check delete_visible_within_1s deleted

# A key in a directory the view does not have yet: its listed parent shows the new directory.
new_subdir() {
  s3_put_file "$B" "${P}d/sub/x.txt" "$WORK/data/6b"
  t_wait_ms 3000 has_name /d sub || { echo "sub/ not visible: $(nfsls /d | tr '\n\t' '| ')"; return 1; }
  echo "# notify->visible (new directory): $WAITED ms after the PUT returned"
}
t_check new_directory_visible new_subdir

# Removing the last key under a directory (no marker) removes the directory.
last_key_gone() {
  has_entry /d/sub 6 x.txt || { echo "d/sub not listed: $(nfsls /d/sub)"; return 1; }
  s3_rm "$B" "${P}d/sub/x.txt"
  t_wait_ms 3000 lacks_name /d sub || { echo "sub/ still listed: $(nfsls /d | tr '\n\t' '| ')"; return 1; }
}
t_check emptied_directory_disappears last_key_gone

# Many records for one directory within the coalescing window cost one LIST each window.
burst_all() { [ "$(nfsls /d | cut -f2- | grep -c '^b[0-9]*$')" = "$1" ]; }
burst() {
  local relists t0 t1 i n=20
  relists=$(metric s3files_notifications_relists_total)
  t0=$(t_ms)
  for ((i = 0; i < n; i++)); do s3_put_file "$B" "${P}d/b$i" "$WORK/data/6b" & done
  wait
  t1=$(t_ms)
  t_wait_ms 5000 burst_all $n || { echo "not all $n visible: $(nfsls /d | tr '\n\t' '| ')"; return 1; }
  echo "# $n parallel PUTs ($(( t1 - t0 )) ms): all visible $(( $(t_ms) - t1 )) ms after the last returned, with $(( $(metric s3files_notifications_relists_total) - relists )) LISTs"
  [ $(( $(t_ms) - t1 )) -le $LIMIT_MS ] || { echo "too slow"; return 1; }
  [ $(( $(metric s3files_notifications_relists_total) - relists )) -le $((n / 2)) ] || { echo "not coalesced"; return 1; }
}
t_check burst_coalesced burst

# The Linux kernel NFSv4.1 client (qemu guest), mounted with noac so that its own
# attribute cache does not add to the delay: objects PUT and DELETEd in S3 by a client
# running in the guest show up and go away there.
kernel_client() {
  local out=$WORK/guest.out rc=0
  "$S3F_ROOT/test/vm/build-guest.sh" >"$WORK/build-guest.log" 2>&1 || { echo "build-guest failed: $(tail -n 2 "$WORK/build-guest.log")"; return 1; }
  cat >"$WORK/guest.sh" <<'GUEST'
M=/mnt/s3
mkdir -p $M
step mount nfs_mount noac /s3files $M || exit 1
step list_d ls $M/d
s3() { host_run bash -c ". $ROOT/test/lib/s3.sh && S3_ENDPOINT=http://10.0.2.2:$RGW_PORT $*"; }
# wait_for FILE CMD...: until CMD holds (up to 5 s); the ms it took go to FILE
wait_for() {
  f=$1; shift; t0=$(now_ms); i=0
  while [ $i -lt 250 ]; do
    if "$@"; then elapsed_ms $t0 >$f; return 0; fi
    sleep 0.02; i=$((i + 1))
  done
  return 1
}
present() { [ -f $M/d/kernel.txt ] && [ "$(stat -c %s $M/d/kernel.txt)" = 14 ]; }
absent() { [ ! -e $M/d/kernel.txt ] && ! ls $M/d | grep -qx kernel.txt; }
step put s3 s3_put_file $BUCKET ${PREFIX}d/kernel.txt $DATA/14b
step visible wait_for /tmp/t.put present || exit 1
note "kernel client: object visible $(cat /tmp/t.put) ms after the PUT returned"
step content grep -qx 'a longer body' $M/d/kernel.txt
step delete s3 s3_rm $BUCKET ${PREFIX}d/kernel.txt
step gone wait_for /tmp/t.rm absent || exit 1
note "kernel client: object gone $(cat /tmp/t.rm) ms after the DELETE returned"
step within_1s sh -c "test \$(cat /tmp/t.put) -le 1000 && test \$(cat /tmp/t.rm) -le 1000"
step umount umount $M
GUEST
  "$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$WORK/guest.sh" --timeout 300 \
    --log "$WORK/guest.console" --env NFS_PORT="$NFS_PORT" --env DATA="$WORK/data" \
    --env ROOT="$S3F_ROOT" --env RGW_PORT="${S3_ENDPOINT##*:}" --env BUCKET="$B" \
    --env PREFIX="$P" --env S3_REGION="$S3_REGION" --env AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
    --env AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" >"$out" 2>"$WORK/guest.err" || rc=$?
  sed -e 's/^PASS /# guest PASS /' -e 's/^FAIL /# guest FAIL /' "$out"
  [ $rc = 0 ] && ! grep -q '^FAIL ' "$out" ||
    { echo "guest: rc $rc: $(grep '^FAIL ' "$out" | head -n 2) $(tail -n 2 "$WORK/guest.err")"; return 1; }
}
t_check kernel_client_sees_changes kernel_client

# ---- what must change nothing ----
snapshot() { s3f_ctl "$STACK" ls / 2>/dev/null; s3f_ctl "$STACK" ls /d 2>/dev/null; }
outside_prefix() {
  local ign relists before
  before=$(snapshot)
  ign=$(metric s3files_notifications_ignored_total)
  relists=$(metric s3files_notifications_relists_total)
  s3_put_file "$B" "ntx/outside.txt" "$WORK/data/6b"      # "ntx/" is not under "nt/"
  s3_put_file "$B" "outside.txt" "$WORK/data/6b"
  t_wait_ms 3000 metric_ge s3files_notifications_ignored_total $((ign + 2)) ||
    { echo "the two records were not counted as ignored"; return 1; }
  [ "$(metric s3files_notifications_relists_total)" = "$relists" ] || { echo "a LIST was made"; return 1; }
  [ "$(snapshot)" = "$before" ] || { echo "the file view changed"; return 1; }
}
t_check outside_prefix_changes_nothing outside_prefix

# /cold was never listed: a notification about it imports nothing.
not_listed() {
  local ign relists
  ign=$(metric s3files_notifications_ignored_total)
  relists=$(metric s3files_notifications_relists_total)
  s3_put_file "$B" "${P}cold/b.txt" "$WORK/data/6b"
  t_wait_ms 3000 metric_ge s3files_notifications_ignored_total $((ign + 1)) ||
    { echo "not counted as ignored"; return 1; }
  [ "$(metric s3files_notifications_relists_total)" = "$relists" ] || { echo "a LIST was made"; return 1; }
  s3f_ctl "$STACK" ls /cold >"$WORK/cold.out" 2>"$WORK/cold.err"
  [ ! -s "$WORK/cold.out" ] || { echo "/cold has entries: $(cat "$WORK/cold.out")"; return 1; }
  grep -q 'not listed from S3 yet' "$WORK/cold.err" || { echo "ls: $(cat "$WORK/cold.err")"; return 1; }
}
t_check unlisted_directory_not_imported not_listed

# Our own upload comes back as a notification; the store already shows it: no LIST.
own_upload() {
  local relists applied
  nfs-cp "$WORK/data/6b" "nfs://127.0.0.1/s3files/d/mine.txt?version=4&nfsport=$NFS_PORT" >/dev/null
  has_entry /d 6 mine.txt || { echo "nfs-cp did not create mine.txt"; return 1; }
  relists=$(metric s3files_notifications_relists_total)
  applied=$(metric s3files_notifications_applied_total)
  s3f_ctl "$STACK" commit /d/mine.txt >/dev/null
  t_wait_ms 3000 metric_ge s3files_notifications_applied_total $((applied + 1)) ||
    { echo "the upload's notification was not applied"; return 1; }
  [ "$(metric s3files_notifications_relists_total)" = "$relists" ] || { echo "a LIST was made"; return 1; }
  [ "$(ctl_etag /d mine.txt)" = "$(s3_head_etag "$B" "${P}d/mine.txt")" ] || { echo "ETag"; return 1; }
  s3f_ctl "$STACK" ls /d | grep -q ' clean [^ ]* mine.txt$' || { echo "not clean: $(s3f_ctl "$STACK" ls /d)"; return 1; }
}
t_check own_upload_costs_no_list own_upload

# Files removed through the mount: the daemon's deletes. RGW 16's radosgw aborts on a
# DeleteObjects in a bucket with notifications, so the daemon deletes key by key there;
# our own deletes come back as notifications that cost no LIST either.
own_deletes() {
  local relists applied rc k
  nfs-cp "$WORK/data/6b" "nfs://127.0.0.1/s3files/d/mine2.txt?version=4&nfsport=$NFS_PORT" >/dev/null
  applied=$(metric s3files_notifications_applied_total)
  s3f_ctl "$STACK" commit /d >/dev/null
  s3_exists "$B" "${P}d/mine2.txt" || { echo "mine2.txt not uploaded"; return 1; }
  # the upload's own notification first (else it would meet the file already removed)
  t_wait_ms 3000 metric_ge s3files_notifications_applied_total $((applied + 1)) ||
    { echo "the upload's notification was not applied"; return 1; }
  relists=$(metric s3files_notifications_relists_total)
  applied=$(metric s3files_notifications_applied_total)
  "$S3F_BUILD/bin/s3f_nfs" rm "nfs://127.0.0.1/s3files/d/mine.txt?version=4&nfsport=$NFS_PORT"
  "$S3F_BUILD/bin/s3f_nfs" rm "nfs://127.0.0.1/s3files/d/mine2.txt?version=4&nfsport=$NFS_PORT"
  s3f_ctl "$STACK" commit / >"$WORK/del.out" || { echo "commit: $(cat "$WORK/del.out")"; return 1; }
  grep -q 'deleted=2' "$WORK/del.out" || { echo "commit: $(cat "$WORK/del.out")"; return 1; }
  "$RGW" status "$RGW_DIR" >/dev/null 2>&1 || { echo "radosgw died"; return 1; }
  for k in mine.txt mine2.txt; do
    rc=0; s3_exists "$B" "${P}d/$k" 2>/dev/null || rc=$?
    [ $rc = 1 ] || { echo "$k still in S3 (HEAD: $rc)"; return 1; }
  done
  grep -q 'deleting one key per request' "$STACK/syncd.log" || { echo "no single-delete log line"; return 1; }
  t_wait_ms 3000 metric_ge s3files_notifications_applied_total $((applied + 2)) ||
    { echo "the deletes' notifications were not applied"; return 1; }
  [ "$(metric s3files_notifications_relists_total)" = "$relists" ] || { echo "a LIST was made"; return 1; }
  lacks_name /d mine.txt && lacks_name /d mine2.txt
}
t_check own_deletes_rgw_survives own_deletes

# ---- bad input ----
malformed() {
  local code big
  code=$(curl -s -o "$WORK/bad.out" -w '%{http_code}' -X POST --data-binary 'not json' "$NOTIFY_URL/")
  [ "$code" = 400 ] || { echo "garbage: HTTP $code"; return 1; }
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary '{"Records":[{"eventName":"ObjectCreated:Put"}]}' "$NOTIFY_URL/")
  [ "$code" = 400 ] || { echo "record without s3: HTTP $code"; return 1; }
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Transfer-Encoding: chunked' --data-binary '{"Records":[]}' "$NOTIFY_URL/")
  [ "$code" = 411 ] || { echo "chunked: HTTP $code"; return 1; }
  big=$WORK/big.json
  head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$big"
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "@$big" "$NOTIFY_URL/")
  [ "$code" = 413 ] || { echo "1 MiB + 1: HTTP $code"; return 1; }
  code=$(printf 'GARBAGE\r\n\r\n' | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$NP; cat >&3; head -c 12 <&3" | cut -c10-12)
  [ "$code" = 400 ] || { echo "not HTTP: '$code'"; return 1; }
  [ "$(metric s3files_notifications_rejected_total)" -ge 2 ] || { echo "rejected counter"; return 1; }
  grep -q 'WARN sync notification refused: not valid JSON' "$STACK/syncd.log" || { echo "no warning logged"; return 1; }
  # a slow client holding a half-sent request does not stop others
  exec 5<>"/dev/tcp/127.0.0.1/$NP"
  printf 'POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"Rec' >&5
  code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$NOTIFY_URL/health")
  exec 5>&-
  [ "$code" = 200 ] || { echo "health while a request trickles: $code"; return 1; }
  kill -0 "$(cat "$STACK/syncd.pid")" || { echo "the daemon died"; return 1; }
}
t_check malformed_refused_and_daemon_serves malformed

# ---- SNS: subscription confirmations are logged, not followed; envelopes unwrapped ----
sns_subscribe() {
  local url="https://sns.us-east-1.example.invalid/?Action=ConfirmSubscription&Token=tok-$$"
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'x-amz-sns-message-type: SubscriptionConfirmation' \
    --data-binary "{\"Type\":\"SubscriptionConfirmation\",\"TopicArn\":\"arn:aws:sns:us-east-1:123456789012:t\",\"SubscribeURL\":\"$url\",\"Token\":\"tok-$$\"}" "$NOTIFY_URL/")
  [ "$code" = 200 ] || { echo "HTTP $code"; return 1; }
  t_wait_ms 2000 grep -qF "$url" "$STACK/syncd.log" || { echo "URL not logged"; return 1; }
  grep -F "$url" "$STACK/syncd.log" | grep -q ' WARN ' || { echo "not at WARN"; return 1; }
}
t_check sns_subscription_logged_not_confirmed sns_subscribe

# The bucket stops notifying; an object PUT now stays invisible (polling is 10 minutes
# away), until an SNS envelope in AWS's format (key URL-encoded) names it.
SNSKEY='sns é+x y.txt'
sns_body() {
  "$S3SH_PY" -c '
import json, sys, urllib.parse
b, k, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
rec = {"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
       "s3": {"bucket": {"name": b}, "object": {"key": urllib.parse.quote_plus(k), "size": size}}}
print(json.dumps({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t",
                  "Message": json.dumps({"Records": [rec]})}))' "$B" "$1" "$2"
}
sns_envelope() {
  local code t0
  code=$(S3_QUERY='notification=' s3_status DELETE "$B" '')
  case $code in 200 | 204) ;; *) echo "cannot drop the configuration: HTTP $code"; return 1 ;; esac
  s3_put_file "$B" "${P}d/$SNSKEY" "$WORK/data/14b"
  sleep 1.5
  ! has_name /d "$SNSKEY" || { echo "visible without a notification: polling explains it, not notifications"; return 1; }
  sns_body "${P}d/$SNSKEY" 14 >"$WORK/sns.json"
  t0=$(t_ms)
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: text/plain; charset=UTF-8' \
    -H 'x-amz-sns-message-type: Notification' --data-binary "@$WORK/sns.json" "$NOTIFY_URL/some/path")
  [ "$code" = 200 ] || { echo "HTTP $code"; return 1; }
  t_wait_ms 3000 has_entry /d 14 "$SNSKEY" || { echo "not visible: $(nfsls /d | tr '\n\t' '| ')"; return 1; }
  echo "# SNS envelope->visible: $(( $(t_ms) - t0 )) ms"
}
t_check sns_envelope_unwrapped sns_envelope

# More records than the queue holds (4096): the rest are dropped and the export is polled
# in full at once instead; nothing is lost.
overflow() {
  local polls code
  polls=$(metric 's3files_sync_polls_total{export="1"}')
  # not notified (the configuration is gone) and not in /d, which the flood re-lists
  s3_put_file "$B" "${P}after-flood.txt" "$WORK/data/6b"
  "$S3SH_PY" -c '
import json, sys
recs = [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
         "s3": {"bucket": {"name": sys.argv[1]}, "object": {"key": "%sd/flood-%d" % (sys.argv[2], i)}}}
        for i in range(5000)]
print(json.dumps({"Records": recs}))' "$B" "$P" >"$WORK/flood.json"
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "@$WORK/flood.json" "$NOTIFY_URL/")
  [ "$code" = 200 ] || { echo "HTTP $code ($(stat -c %s "$WORK/flood.json") bytes)"; return 1; }
  t_wait_ms 5000 metric_ge s3files_notifications_dropped_total 1 || { echo "nothing dropped"; return 1; }
  t_wait_ms 5000 metric_ge 's3files_sync_polls_total{export="1"}' $((polls + 1)) || { echo "no poll followed"; return 1; }
  # the full poll found what no notification announced
  t_wait_ms 5000 has_entry / 6 after-flood.txt || { echo "after-flood.txt not visible"; return 1; }
  grep -q 'notification queue full' "$STACK/syncd.log" || { echo "no warning"; return 1; }
  echo "# 5000 records in one POST: $(metric s3files_notifications_dropped_total) dropped, full poll done"
}
t_check queue_overflow_falls_back_to_poll overflow

# ---- the counters moved ----
counters() {
  local rec app rel cnt
  rec=$(metric s3files_notifications_received_total)
  app=$(metric s3files_notifications_applied_total)
  rel=$(metric s3files_notifications_relists_total)
  cnt=$(metric s3files_notifications_delay_seconds_count)
  echo "# received $RECEIVED0 -> $rec, applied $app, relists $rel, delay observations $cnt"
  [ "$rec" -ge $((RECEIVED0 + 8)) ] || { echo "received_total did not move enough"; return 1; }
  [ "$app" -ge 6 ] && [ "$rel" -ge 5 ] && [ "$cnt" -ge 6 ] || { echo "applied/relists/delay too low"; return 1; }
  [ "$(metric 's3files_sync_commits_total{export="1"}')" -ge 1 ] || { echo "commit counter"; return 1; }
  [ "$(metric 's3files_s3_requests_total{op="list"}')" -ge 5 ] || { echo "LIST counter"; return 1; }
}
t_check metrics_counters_move counters

# ---- a clean stop: TERM ends the daemon (HTTP servers, notify worker), sanitizers silent ----
clean_stop() {
  local pid
  pid=$(cat "$STACK/syncd.pid")
  kill -TERM "$pid"
  t_wait_ms 10000 bash -c "! kill -0 $pid 2>/dev/null" || { echo "still running 10 s after TERM"; return 1; }
  grep -q 's3files-syncd stopping' "$STACK/syncd.log" || { echo "no stop line"; return 1; }
  if grep -hE 'Sanitizer|runtime error' "$STACK/syncd.log" "$STACK/syncd.out" 2>/dev/null | head -n 5 | grep .; then
    return 1
  fi
  echo "# daemon: ${S3FILES_SYNCD:-release build}"
}
t_check daemon_stops_cleanly clean_stop

t_done
