#!/usr/bin/env bash
# Suite rgw_harness: the real S3 server harness itself (test/lib/rgw.sh + test/lib/s3.sh).
#
# Uses the cluster in $RGW_TEST_DIR if set, else a fresh one under build/test-tmp/.
# With RGW_SHARED=1 and a running cluster in $RGW_TEST_DIR (DIR/env present, status ok),
# the suite neither starts nor stops it, and skips the stop/restart cases.

# The test functions run through t_check; shellcheck cannot see such indirect calls.
# shellcheck disable=SC2317
set -euo pipefail
T_SUITE=rgw_harness
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3.sh"
RGW=$S3F_ROOT/test/lib/rgw.sh

# Cases run through t_check (common.sh): errexit inside each; `|| true` keeps this
# suite's own errexit from ending it at the first failed case.
secs() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 1000 }'; }

TMP=$(mkdir -p "$S3F_BUILD/test-tmp" && mktemp -d "$S3F_BUILD/test-tmp/rgw_harness.XXXXXX")
SHARED=0
if [ -n "${RGW_TEST_DIR:-}" ]; then
  DIR=$RGW_TEST_DIR
  if [ "${RGW_SHARED:-0}" = 1 ] && [ -f "$DIR/env" ] && "$RGW" status "$DIR" >/dev/null 2>&1; then
    SHARED=1
  fi
else
  DIR=$TMP/rgw
fi

cleanup() {
  if [ -s "$TMP/files/hook.pid" ]; then kill "$(cat "$TMP/files/hook.pid")" 2>/dev/null || true; fi
  # Never leave daemons behind, whatever happened (unless the cluster is shared).
  [ "$SHARED" = 1 ] || "$RGW" stop "$DIR" >/dev/null 2>&1 || true
  # A failed run keeps its own cluster directory (logs) for a look; the test files go.
  if [ "$T_FAILED" -eq 0 ] || [ -n "${RGW_TEST_DIR:-}" ]; then rm -rf "$TMP"; else
    rm -rf "$TMP/files"
    echo "# kept $TMP for inspection (logs in $DIR/log)"
  fi
}
trap cleanup EXIT

F=$TMP/files
mkdir -p "$F"
# Unique names, so that a shared cluster can hold several runs.
RUNID=$(date +%s)-$$
P="rgw-harness/$RUNID"

load_env() {
  unset S3_ENDPOINT S3_REGION S3_BUCKET AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY RGW_DIR
  set -a
  # shellcheck source=/dev/null
  . "$DIR/env"
  set +a
}

# recorded_pids: the PIDs rgw.sh recorded for the three daemons.
recorded_pids() { cat "$DIR"/run/{mon,osd,rgw}.pid 2>/dev/null || true; }

# running PID...: succeed if any of them is a live process (zombies count as dead: PID 1
# does not reap orphans on every machine this runs on).
running() {
  local p st
  for p in "$@"; do
    st=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1) || continue
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ] && return 0
  done
  return 1
}

rss_line() {
  local n p kb out=''
  for n in mon osd rgw; do
    p=$(cat "$DIR/run/$n.pid" 2>/dev/null) || continue
    kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null) || continue
    out+="$n $(( kb / 1024 )) MiB, "
  done
  echo "# RSS: ${out%, }"
}

# ---------------------------------------------------------------- start
if [ "$SHARED" = 1 ]; then
  echo "# using the shared cluster in $DIR"
else
  kind=cold
  [ ! -f "$DIR/state" ] || kind="existing cluster"   # RGW_TEST_DIR may hold one
  t0=$(t_ms)
  if "$RGW" start "$DIR" >"$TMP/start.out" 2>"$TMP/start.err"; then
    echo "# $kind start to ready: $(secs $(( $(t_ms) - t0 ))) s"
    t_pass start
  else
    t_fail start "$(tail -n 5 "$TMP/start.err" | tr '\n' ' ')"
    cat "$TMP/start.err" >&2
    t_done
  fi
  rss_line
fi
load_env

# ---------------------------------------------------------------- env file
check_env() {
  local v
  for v in S3_ENDPOINT S3_REGION S3_BUCKET AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY RGW_DIR; do
    [ -n "${!v:-}" ] || { echo "$v missing in $DIR/env"; return 1; }
  done
  [[ $S3_ENDPOINT =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || { echo "bad S3_ENDPOINT $S3_ENDPOINT"; return 1; }
  [ "$RGW_DIR" = "$(cd "$DIR" && pwd -P)" ] || { echo "RGW_DIR=$RGW_DIR, expected $DIR"; return 1; }
  grep -q "^host_base = ${S3_ENDPOINT#http://}\$" "$DIR/s3cfg" || { echo "s3cfg does not match env"; return 1; }
  # start printed exactly the env file
  [ "$SHARED" = 1 ] || cmp -s "$TMP/start.out" "$DIR/env" || { echo "start output != env file"; return 1; }
  "$RGW" status "$DIR"
}
t_check env_complete check_env || true

# ---------------------------------------------------------------- 1 MiB PUT/GET
head -c 1048576 /dev/urandom >"$F/1m"
KEY1="$P/one-mib.bin"
put_get_1m() {
  s3_put_file "$S3_BUCKET" "$KEY1" "$F/1m"
  s3_get_file "$S3_BUCKET" "$KEY1" "$F/1m.back"
  cmp "$F/1m" "$F/1m.back"
  local etag md5
  etag=$(s3_head_etag "$S3_BUCKET" "$KEY1")
  md5=$(md5sum <"$F/1m" | cut -d' ' -f1)
  [ "$etag" = "$md5" ] || { echo "ETag $etag != md5 $md5"; return 1; }
}
t_check put_get_1mib put_get_1m || true

# ---------------------------------------------------------------- 20 MiB multipart (s3cmd)
head -c $(( 20 * 1048576 )) /dev/urandom >"$F/20m"
multipart_20m() {
  local key="$P/twenty mib.bin" etag
  s3cmd_put "$S3_BUCKET" "$key" "$F/20m" 8
  etag=$(s3_head_etag "$S3_BUCKET" "$key")
  # A multipart ETag is md5-of-part-md5s "-" part count: 20 MiB in 8 MiB parts = 3.
  [[ $etag == *-3 ]] || { echo "ETag $etag is not a 3-part multipart ETag"; return 1; }
  s3_get_file "$S3_BUCKET" "$key" "$F/20m.curl"
  cmp "$F/20m" "$F/20m.curl"
  s3cmd_get "$S3_BUCKET" "$key" "$F/20m.s3cmd"
  cmp "$F/20m" "$F/20m.s3cmd"
  s3_rm "$S3_BUCKET" "$key"
}
t_check multipart_20mib_s3cmd multipart_20m || true

# ---------------------------------------------------------------- If-None-Match: *
if_none_match() {
  local key="$P/inm.bin" code
  printf 'first' >"$F/inm1"; printf 'second' >"$F/inm2"
  code=$(s3_status PUT "$S3_BUCKET" "$key" -T "$F/inm1" -H 'If-None-Match: *')
  [ "$code" = 200 ] || { echo "conditional PUT of a new key: HTTP $code, expected 200"; return 1; }
  code=$(s3_status PUT "$S3_BUCKET" "$key" -T "$F/inm2" -H 'If-None-Match: *')
  [ "$code" = 412 ] || { echo "conditional PUT of an existing key: HTTP $code, expected 412"; return 1; }
  s3_get_file "$S3_BUCKET" "$key" "$F/inm.back"
  cmp "$F/inm1" "$F/inm.back"
  s3_rm "$S3_BUCKET" "$key"
}
t_check if_none_match_412 if_none_match || true

# ---------------------------------------------------------------- odd keys
special_keys() {
  local k etag md5 left n=0
  head -c 4096 /dev/urandom >"$F/small"
  md5=$(md5sum <"$F/small" | cut -d' ' -f1)
  for k in "$P/odd/a b+c=d.txt" "$P/odd/sp ace/+plus+/=eq=/x" "$P/odd/q?h#p%25&a;b,c:d@e\$f!g'h(i)j*k" \
           "$P/odd/ünï cödé €" "$P/odd/dir marker/"; do
    s3_put_file "$S3_BUCKET" "$k" "$F/small"
    s3_get_file "$S3_BUCKET" "$k" "$F/small.back"
    cmp "$F/small" "$F/small.back"
    etag=$(s3_head_etag "$S3_BUCKET" "$k")
    [ "$etag" = "$md5" ] || { echo "ETag of '$k': $etag != $md5"; return 1; }
    s3_exists "$S3_BUCKET" "$k" || { echo "'$k' does not exist after PUT"; return 1; }
    n=$((n + 1))
  done
  # ls must return exactly these keys
  s3_ls "$S3_BUCKET" "$P/odd/" >"$F/ls"
  [ "$(wc -l <"$F/ls")" -eq "$n" ] || { echo "s3_ls listed $(wc -l <"$F/ls") keys, expected $n"; cat "$F/ls"; return 1; }
  grep -qxF "$P/odd/sp ace/+plus+/=eq=/x" "$F/ls" || { echo "s3_ls lost a key"; cat "$F/ls"; return 1; }
  while IFS= read -r k; do
    s3_rm "$S3_BUCKET" "$k"
    if s3_exists "$S3_BUCKET" "$k"; then echo "'$k' still exists after DELETE"; return 1; fi
  done <"$F/ls"
  left=$(s3_ls "$S3_BUCKET" "$P/odd/")
  [ -z "$left" ] || { echo "keys left after DELETE: $left"; return 1; }
}
t_check special_keys_roundtrip special_keys || true

# ---------------------------------------------------------------- s3_ls pagination
ls_pages() {
  local i
  for i in 1 2 3 4 5; do s3_put_file "$S3_BUCKET" "$P/ls/k$i" "$F/inm1"; done
  # 2 keys per page: 3 pages, continuation tokens included
  S3SH_LS_MAX_KEYS=2 s3_ls "$S3_BUCKET" "$P/ls/" >"$F/ls2"
  printf '%s\n' "$P/ls/k1" "$P/ls/k2" "$P/ls/k3" "$P/ls/k4" "$P/ls/k5" | cmp - "$F/ls2"
  for i in 1 2 3 4 5; do s3_rm "$S3_BUCKET" "$P/ls/k$i"; done
}
t_check ls_pagination ls_pages || true

# ---------------------------------------------------------------- mkbucket, purge
BK=rgwh-$RUNID
mkbucket_purge() {
  local left
  "$RGW" mkbucket "$DIR" "$BK"
  "$RGW" mkbucket "$DIR" "$BK"    # again: already owned, still success
  s3_put_file "$BK" "a/b c" "$F/1m"
  s3_put_file "$BK" "d" "$F/1m"
  [ "$(s3_ls "$BK" | wc -l)" -eq 2 ] || { echo "expected 2 keys in $BK"; return 1; }
  "$RGW" purge "$DIR" "$BK"
  left=$(s3_ls "$BK")
  [ -z "$left" ] || { echo "$BK not empty after purge: $left"; return 1; }
  s3_put_file "$BK" "after-purge" "$F/inm1"     # the bucket is usable again
  "$RGW" admin "$DIR" bucket rm --bucket "$BK" --purge-objects --bypass-gc >/dev/null
}
t_check mkbucket_and_purge mkbucket_purge || true

# ---------------------------------------------------------------- bucket notifications
# Later suites rely on HTTP-push bucket notifications; check the harness keeps them working.
listening() { ss -Htln "sport = :$1" | grep -q .; }
notifications() {
  local port nb="rgwh-n-$RUNID" topic="rgwh-$RUNID" arn xml i
  port=$(t_free_port)
  "$S3SH_PY" - "$port" "$F/hook.out" >"$F/hook.log" 2>&1 <<'EOF' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        with open(sys.argv[2], 'ab') as f:
            f.write(body + b'\n')
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
EOF
  echo $! >"$F/hook.pid"
  t_wait_for 10 listening "$port" || { echo "hook server did not start"; cat "$F/hook.log"; return 1; }
  "$RGW" mkbucket "$DIR" "$nb"
  arn=$(s3_sns "Action=CreateTopic&Name=$topic&Attributes.entry.1.key=push-endpoint&Attributes.entry.1.value=$(s3_urlencode "http://127.0.0.1:$port")" |
        sed -n 's:.*<TopicArn>\([^<]*\)</TopicArn>.*:\1:p')
  [ "$arn" = "arn:aws:sns:default::$topic" ] || { echo "unexpected topic ARN '$arn'"; return 1; }
  xml="<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TopicConfiguration><Id>n1</Id><Topic>$arn</Topic><Event>s3:ObjectCreated:*</Event></TopicConfiguration></NotificationConfiguration>"
  [ "$(S3_QUERY='notification=' s3_status PUT "$nb" '' --data "$xml")" = 200 ]
  s3_put_file "$nb" "notified key" "$F/inm1"
  # RGW pushes synchronously, before it answers the PUT; allow some slack anyway.
  for ((i = 0; i < 50; i++)); do
    grep -q 'ObjectCreated:Put' "$F/hook.out" 2>/dev/null && break
    sleep 0.1
  done
  grep -q 'ObjectCreated:Put' "$F/hook.out" || { echo "no notification received"; return 1; }
  grep -q '"bucket":{"name":"'"$nb"'"' "$F/hook.out" || { echo "notification for another bucket"; return 1; }
  s3_sns "Action=DeleteTopic&TopicArn=$(s3_urlencode "$arn")" >/dev/null
  "$RGW" admin "$DIR" bucket rm --bucket "$nb" --purge-objects --bypass-gc >/dev/null
}
t_check notifications_http_push notifications || true
if [ -s "$F/hook.pid" ]; then kill "$(cat "$F/hook.pid")" 2>/dev/null || true; rm -f "$F/hook.pid"; fi

# ---------------------------------------------------------------- stop / restart
if [ "$SHARED" = 1 ]; then
  echo "# skipped stop/restart cases: the cluster is shared"
  s3_rm "$S3_BUCKET" "$KEY1" >/dev/null 2>&1 || true
  t_done
fi

PIDS=$(recorded_pids)
FSID_BEFORE=$(grep '^FSID=' "$DIR/state")
stop_check() {
  [ "$(echo "$PIDS" | wc -w)" -eq 3 ] || { echo "expected 3 recorded PIDs, got: $PIDS"; return 1; }
  "$RGW" stop "$DIR"
  # shellcheck disable=SC2086
  if running $PIDS; then echo "still running after stop: $PIDS"; return 1; fi
  ! ls "$DIR"/run/*.pid >/dev/null 2>&1 || { echo "pid files left: $(ls "$DIR"/run/*.pid)"; return 1; }
  if "$RGW" status "$DIR" >/dev/null 2>&1; then echo "status ok after stop"; return 1; fi
  "$RGW" stop "$DIR"   # idempotent
}
t_check stop_leaves_nothing stop_check || true

restart_check() {
  local t0 code
  t0=$(t_ms)
  "$RGW" start "$DIR" >"$TMP/start2.out" 2>"$TMP/start2.err" || { cat "$TMP/start2.err"; return 1; }
  echo "# restart to ready: $(secs $(( $(t_ms) - t0 ))) s"
  [ "$(grep '^FSID=' "$DIR/state")" = "$FSID_BEFORE" ] || { echo "cluster was recreated"; return 1; }
  grep -q 'restarting the cluster' "$TMP/start2.err" || { echo "start did not reuse the cluster"; return 1; }
  load_env
  s3_get_file "$S3_BUCKET" "$KEY1" "$F/1m.after"
  cmp "$F/1m" "$F/1m.after"
  code=$(s3_status GET "$S3_BUCKET" "$P/never-written")
  [ "$code" = 404 ] || { echo "GET of a missing key: HTTP $code"; return 1; }
}
t_check restart_reuses_cluster restart_check || true
rss_line

final_stop() {
  local pids
  pids=$(recorded_pids)
  s3_rm "$S3_BUCKET" "$KEY1"
  "$RGW" stop "$DIR"
  # shellcheck disable=SC2086
  if running $pids; then echo "still running after stop: $pids"; return 1; fi
}
t_check final_stop final_stop || true

t_done
