#!/usr/bin/env bash
# credp: S3 credentials from the providers of temporary credentials (core/s3/s3_credp.h), with
# the real daemon and ganesha (the FSAL's read path included) on the real RGW.
# The endpoints themselves cannot exist on this machine (169.254.170.2, 169.254.169.254,
# AWS STS), so test/lib/credsrv.py stands in for them on loopback, speaking their
# documented protocols and serving the RGW's real key and secret with a session token
# (RGW 16 without STS checks the signature over x-amz-security-token and ignores its
# value, so the token is signed end to end) and a short Expiration, so that refreshes
# happen during the test. The server counts its answers (DIR/fetches).
#   container: the authorization token is required (401 without it: the clear error of
#   both processes, retries, a file written meanwhile is committed once the token file is
#   right); refreshes observed
#   in both processes while commits and a read through the FSAL keep working; the
#   endpoint down at refresh: the old credentials keep working until they expire, then
#   commits wait (not dropped) and land once the endpoint is back.
#   imds: IMDSv2 session token fetched once and reused across refreshes.
#   web_identity: STS AssumeRoleWithWebIdentity; the token file is re-read at each refresh
#   (rotated during the test; the server accepts only the current token).
#   web_identity against Ceph RGW's own STS (real temporary credentials and session token):
#   the shared RGW is restarted with STS on, an OIDC provider, a role and a JWT are set up
#   here (see that case), the daemon commits and ganesha reads with them; the RGW is
#   restarted with STS off afterwards (also when the suite fails).
#   The daemon runs under ASan/UBSan when built (no report, no leak).
set -uo pipefail
T_SUITE=credp
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup cp
export LC_ALL=C
exec 3>&1	# measurements ("# ..." lines) from inside t_step go to the suite's output
SRV_PIDS=()
cleanup() {
  s3f_stack_stop "$STACK"
  local p
  for p in "${SRV_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  [ -f "$WORK/jwks.pid" ] && kill "$(cat "$WORK/jwks.pid")" 2>/dev/null
  # the shared RGW goes back to STS off if a failure left it on
  [ -f "$WORK/sts_on" ] && rgw_sts off
}
trap cleanup EXIT

# The daemon under AddressSanitizer + UBSan when built (make asan): the provider's refresh
# thread, its HTTP fetches and its swaps under the signers, leaks included.
if [ -z "${S3FILES_SYNCD:-}" ] && [ -x "$S3F_BUILD/asan/bin/s3files-syncd" ]; then
  export S3FILES_SYNCD=$S3F_BUILD/asan/bin/s3files-syncd
fi
KEY=$AWS_ACCESS_KEY_ID
SESSION_TOKEN='fake-session/token+=='
export S3FILES_COMMIT_INTERVAL=1

# srv_start NAME MODE LIFETIME ARGS...: start credsrv in $WORK/NAME, wait for its port.
srv_start() {
  local name=$1 mode=$2 life=$3 d=$WORK/$1; shift 3
  mkdir -p "$d"
  python3 "$S3F_ROOT/test/lib/credsrv.py" --mode "$mode" --dir "$d" --key "$KEY" \
    --secret "$AWS_SECRET_ACCESS_KEY" --token "$SESSION_TOKEN" --lifetime "$life" "$@" \
    2>"$d/log" &
  SRV_PIDS+=($!)
  t_wait_for 10 test -s "$d/port" || { echo "credsrv $name did not start"; return 1; }
}
srv_port() { cat "$WORK/$1/port"; }
fetched_more() { [ "$(fetches "$1")" -gt "$2" ]; }
fetches() { [ -f "$WORK/$1/fetches" ] && wc -l <"$WORK/$1/fetches" || echo 0; }

url() { printf 'nfs://127.0.0.1/s3files%s?version=4&nfsport=%s' "$1" "$(cat "$STACK/nfs_port")"; }
# put_nfs NAME: a small file written through the mount
put_nfs() {
  echo "content of $1 $(date +%s%N)" >"$WORK/data/$1"
  nfs-cp "$WORK/data/$1" "$(url "/$1")" >/dev/null 2>&1
}
# landed NAME SECS: the object appears in S3 within SECS (the daemon is asked to commit)
landed() {
  local end=$(( $(date +%s) + $2 ))
  s3f_ctl "$STACK" commit >/dev/null 2>&1
  while [ "$(date +%s)" -lt "$end" ]; do
    s3_exists "$B" "$P$1" 2>/dev/null && return 0
    sleep 0.5
  done
  return 1
}
count() { grep -c -- "$1" "$2" 2>/dev/null || true; }

# ---------------------------------------------------------------- container
srv_start ecs container 30 --auth "Bearer good-token" || { t_fail setup "credsrv"; t_done; }
export AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$(srv_port ecs)/v2/credentials/task"
export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$WORK/authtok
echo "Bearer wrong-token" >"$WORK/authtok"

auth_required() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' "$AWS_CONTAINER_CREDENTIALS_FULL_URI")
  [ "$code" = 401 ] || { echo "endpoint without a token: HTTP $code"; return 1; }
}
t_step endpoint_401_without_token auth_required

export S3FILES_EXPORT_EXTRA='Credentials_Provider = container;'
if ! s3f_stack_start "$STACK" >"$WORK/start1.out" 2>&1; then
  t_fail stack_start "$(tail -n 5 "$WORK/start1.out" | tr '\n' ' ')"
  t_done
fi

refused_at_start() {
  local f
  for f in syncd ganesha; do
    grep -q "credentials from container: GET $AWS_CONTAINER_CREDENTIALS_FULL_URI: HTTP 401.*S3 requests fail" \
      "$STACK/$f.log" || { echo "no clear error in $f.log"; tail -n 5 "$STACK/$f.log"; return 1; }
  done
  # S3 is not touched: the daemon says why it waits
  t_wait_for 10 grep -q "S3 does not answer (S3: no valid credentials" "$STACK/syncd.log" ||
    { echo "the daemon did not say why it waits"; return 1; }
  # writes go to the local store as with S3 unreachable; the commit waits
  put_nfs early || { echo "write through the mount failed"; return 1; }
  if landed early 6; then echo "committed without credentials?"; return 1; fi
  [ "$(count "HTTP 401" "$STACK/syncd.log")" -ge 2 ] || { echo "no retry"; return 1; }
}
t_step wrong_token_clear_error_retries_commit_waits refused_at_start

recovered() {
  echo "Bearer good-token" >"$WORK/authtok"
  t_wait_for 40 grep -q "credentials from container (again, after failures): key id $KEY" \
    "$STACK/syncd.log" || { echo "no recovery line in syncd.log within 40 s"; return 1; }
  landed early 30 || { echo "the file written without credentials was not committed"; return 1; }
}
t_step token_fixed_commit_lands recovered

# Refreshes in both processes, with commits and a read through the FSAL in between.
refresh_observed() {
  local n0 t_end i=0 big=$WORK/data/big
  n0=$(fetches ecs)
  head -c $((9 * 1024 * 1024)) /dev/urandom >"$big"
  t_end=$(( $(date +%s) + 35 ))
  while [ "$(date +%s)" -lt "$t_end" ]; do
    i=$((i + 1))
    put_nfs "r$i" && landed "r$i" 20 || { echo "r$i not committed"; return 1; }
    sleep 3
  done
  # read bypass (files of 8 MiB and more): ganesha's own GETs, signed with its credentials
  s3_put_file "$B" "${P}big" "$big" >/dev/null || { echo "put big failed"; return 1; }
  # (the gateway sees the new object at its next poll of the directory)
  t_wait_for 30 nfs-cp "$(url /big)" "$WORK/big.read" && cmp -s "$big" "$WORK/big.read" ||
    { echo "reading big through the mount failed or differs"; return 1; }
  local n1 s g
  n1=$(fetches ecs)
  s=$(count "credentials from container.*key id $KEY" "$STACK/syncd.log")
  g=$(count "credentials from container.*key id $KEY" "$STACK/ganesha.log")
  echo "# container: $((n1 - n0)) fetches in 35 s (2 processes, 30 s credentials), $i commits; log lines syncd $s ganesha $g" >&3
  [ $((n1 - n0)) -ge 4 ] || { echo "only $((n1 - n0)) fetches in 35 s"; return 1; }
  [ "$s" -ge 3 ] && [ "$g" -ge 2 ] || { echo "refreshes not logged (syncd $s, ganesha $g)"; return 1; }
}
t_step refresh_during_commits_and_fsal_read refresh_observed

# The endpoint goes down right after a fetch: the refresh at +15 s fails, the old
# credentials serve until +30 s, then commits wait until the endpoint is back.
down_at_refresh() {
  local n0 t0 w
  # both processes fetch in the same second (they started together): wait for both
  n0=$(fetches ecs)
  t_wait_for 20 fetched_more ecs $((n0 + 1)) || { echo "no 2 fetches within 20 s"; return 1; }
  t0=$(date +%s)
  touch "$WORK/ecs/down"
  w=$(count "refresh failed" "$STACK/syncd.log")
  while [ "$(date +%s)" -lt $((t0 + 17)) ]; do sleep 0.5; done
  [ "$(count "refresh failed" "$STACK/syncd.log")" -gt "$w" ] ||
    { echo "no failed refresh logged by +17 s"; return 1; }
  put_nfs old1 && landed old1 $((t0 + 28 - $(date +%s))) ||
    { echo "commit with the old credentials (before they expire) failed"; return 1; }
  while [ "$(date +%s)" -lt $((t0 + 32)) ]; do sleep 0.5; done
  put_nfs late1 || { echo "write failed"; return 1; }
  if landed late1 8; then echo "committed with expired credentials?"; return 1; fi
  rm -f "$WORK/ecs/down"
  landed late1 60 || { echo "late1 not committed within 60 s of the endpoint's return"; return 1; }
}
t_step down_at_refresh_old_until_expiry_then_wait down_at_refresh
s3f_stack_stop "$STACK"
unset AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE

# ---------------------------------------------------------------- IMDSv2
srv_start imds imds 20 || { t_fail setup "credsrv imds"; t_done; }
export AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$(srv_port imds)"
export S3FILES_EXPORT_EXTRA='Credentials_Provider = imds;'
imds() {
  s3f_stack_start "$STACK" >"$WORK/start2.out" 2>&1 || { tail -n 5 "$WORK/start2.out"; return 1; }
  grep -q "credentials from imds: key id $KEY" "$STACK/syncd.log" || { echo "not from imds"; return 1; }
  sleep 22
  put_nfs i1 && landed i1 20 || { echo "commit failed"; return 1; }
  local f t
  f=$(fetches imds); t=$(wc -l <"$WORK/imds/tokens")
  echo "# imds: $f credential fetches, $t session tokens" >&3
  [ "$f" -ge 4 ] || { echo "only $f fetches (2 processes, 20 s credentials, 22 s)"; return 1; }
  [ "$t" -eq 2 ] || { echo "$t session tokens for 2 processes: not reused"; return 1; }
}
t_step imds_v2_token_reused_refreshes imds
s3f_stack_stop "$STACK"
unset AWS_EC2_METADATA_SERVICE_ENDPOINT

# ---------------------------------------------------------------- web identity
echo "jwt-one" >"$WORK/jwt"
cp "$WORK/jwt" "$WORK/jwt.expected"
srv_start sts sts 20 --jwt-file "$WORK/jwt.expected" --role-arn "arn:aws:iam::123456789012:role/s3files" ||
  { t_fail setup "credsrv sts"; t_done; }
export AWS_WEB_IDENTITY_TOKEN_FILE=$WORK/jwt AWS_ROLE_ARN=arn:aws:iam::123456789012:role/s3files
export S3FILES_EXPORT_EXTRA="Credentials_Provider = web_identity; STS_Endpoint = \"http://127.0.0.1:$(srv_port sts)\";"
webid() {
  s3f_stack_start "$STACK" >"$WORK/start3.out" 2>&1 || { tail -n 5 "$WORK/start3.out"; return 1; }
  grep -q "credentials from web_identity: key id $KEY" "$STACK/syncd.log" ||
    { echo "not from web_identity"; return 1; }
  # the identity provider rotates the token: only the new one is accepted from now on
  echo "jwt-two" >"$WORK/jwt.expected"
  echo "jwt-two" >"$WORK/jwt"
  local n0; n0=$(fetches sts)
  sleep 22
  put_nfs w1 && landed w1 20 || { echo "commit failed"; return 1; }
  local n1; n1=$(fetches sts)
  echo "# web identity: $((n1 - n0)) fetches after the rotation" >&3
  [ $((n1 - n0)) -ge 2 ] || { echo "only $((n1 - n0)) fetches after the rotation"; return 1; }
  [ ! -s "$WORK/sts/refused" ] || { echo "STS refused: $(head -n 3 "$WORK/sts/refused")"; return 1; }
}
t_step web_identity_token_reread webid
s3f_stack_stop "$STACK"
unset AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN

# ---------------------------------------------------------------- web identity, real STS
# Ceph RGW 16 does AssumeRoleWithWebIdentity itself: with STS on (a restart of the shared
# RGW, undone at the end), an OIDC provider registered for a JWKS served here (an RSA key
# and a self-signed certificate made with openssl; RGW fetches
# /.well-known/openid-configuration and the jwks_uri, and checks the certificate's SHA-1
# thumbprint), a role trusting it, and a JWT signed with that key, the gateway gets real
# temporary credentials (their own key id, a real session token that RGW decrypts and
# checks) and works with them.
RGWD=${RGW_TEST_DIR:-$S3F_BUILD/test-rgw}
RGWSH=$S3F_ROOT/test/lib/rgw.sh
# (t_step runs its function in a subshell: state that cleanup needs lives in files)
rgw_sts() {
  if [ "$1" = on ]; then
    "$RGWSH" ceph "$RGWD" config set global rgw_s3_auth_use_sts true &&
      "$RGWSH" ceph "$RGWD" config set global rgw_sts_key "$(openssl rand -hex 8)" ||
      return 1
    : >"$WORK/sts_on"
  else
    "$RGWSH" ceph "$RGWD" config rm global rgw_s3_auth_use_sts
    "$RGWSH" ceph "$RGWD" config rm global rgw_sts_key
    rm -f "$WORK/sts_on"
  fi
  "$RGWSH" stop "$RGWD" >>"$WORK/rgw-restart.log" 2>&1
  RGW_BUCKETS=$S3_BUCKET "$RGWSH" start "$RGWD" >>"$WORK/rgw-restart.log" 2>&1
}
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
# jwt ISS SUB LIFETIME: an RS256 JWT signed with $WORK/oidc/key.pem
jwt() {
  local now h p
  now=$(date +%s)
  h=$(printf '{"alg":"RS256","typ":"JWT","kid":"k1"}' | b64url)
  p=$(printf '{"iss":"%s","aud":"s3files","sub":"%s","iat":%d,"exp":%d}' "$1" "$2" "$now" \
      $((now + $3)) | b64url)
  printf '%s.%s.%s\n' "$h" "$p" "$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$WORK/oidc/key.pem" | b64url)"
}
real_sts() {
  local O=$WORK/oidc idp port tp x5c role pol
  mkdir -p "$O/www/.well-known" "$O/www/protocol/openid-connect"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$O/key.pem" -out "$O/cert.pem" \
    -subj /CN=s3files-oidc-test -days 1 >/dev/null 2>&1 || { echo "openssl req failed"; return 1; }
  tp=$(openssl x509 -in "$O/cert.pem" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
  x5c=$(openssl x509 -in "$O/cert.pem" -outform DER | base64 -w0)
  (cd "$O/www" && exec python3 -u -m http.server --bind 127.0.0.1 0) >"$O/http.log" 2>&1 &
  echo $! >"$WORK/jwks.pid"
  t_wait_for 10 grep -q "port" "$O/http.log" || { echo "JWKS server did not start"; return 1; }
  port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$O/http.log" | head -n 1)
  idp=http://127.0.0.1:$port
  printf '{"issuer":"%s","jwks_uri":"%s/protocol/openid-connect/certs"}' "$idp" "$idp" \
    >"$O/www/.well-known/openid-configuration"
  printf '{"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"k1","x5c":["%s"]}]}' "$x5c" \
    >"$O/www/protocol/openid-connect/certs"
  rgw_sts on || { echo "RGW restart with STS failed: $(tail -n 3 "$WORK/rgw-restart.log")"; return 1; }
  "$RGWSH" admin "$RGWD" caps add --uid=s3files --caps="oidc-provider=*" >/dev/null 2>&1
  curl -s --aws-sigv4 "aws:amz:$S3_REGION:iam" --user "$KEY:$AWS_SECRET_ACCESS_KEY" \
    -X POST "$S3_ENDPOINT/" --data-urlencode Action=CreateOpenIDConnectProvider \
    --data-urlencode "Url=$idp" --data-urlencode ClientIDList.member.1=s3files \
    --data-urlencode "ThumbprintList.member.1=$tp" >"$O/provider.xml"
  grep -q "<OpenIDConnectProviderArn>" "$O/provider.xml" ||
    { echo "CreateOpenIDConnectProvider: $(head -c 300 "$O/provider.xml")"; return 1; }
  role=s3files-credp-$$
  pol='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":["arn:aws:iam:::oidc-provider/127.0.0.1:'$port'"]},"Action":["sts:AssumeRoleWithWebIdentity"]}]}'
  "$RGWSH" admin "$RGWD" role create --role-name="$role" --assume-role-policy-doc="$pol" \
    >"$O/role.out" 2>&1 || { echo "role create: $(tail -n 2 "$O/role.out")"; return 1; }
  "$RGWSH" admin "$RGWD" role-policy put --role-name="$role" --policy-name=s3 \
    --policy-doc='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["arn:aws:s3:::*"]}]}' \
    >>"$O/role.out" 2>&1 || { echo "role-policy put: $(tail -n 2 "$O/role.out")"; return 1; }
  jwt "$idp" gateway 3600 >"$WORK/jwt"
  export AWS_WEB_IDENTITY_TOKEN_FILE=$WORK/jwt AWS_ROLE_ARN=arn:aws:iam:::role/$role
  export S3FILES_EXPORT_EXTRA="Credentials_Provider = web_identity; STS_Endpoint = \"$S3_ENDPOINT\";"
  local ns ng line kid
  ns=$(wc -l <"$STACK/syncd.log"); ng=$(wc -l <"$STACK/ganesha.log")
  s3f_stack_start "$STACK" >"$WORK/start4.out" 2>&1 || { tail -n 5 "$WORK/start4.out"; return 1; }
  line=$(tail -n +$((ns + 1)) "$STACK/syncd.log" | grep -m1 "credentials from web_identity: key id")
  kid=$(printf '%s' "$line" | sed 's/.*key id \([^,]*\),.*/\1/')
  echo "# real STS: ${line#*INFO }" >&3
  [ -n "$kid" ] && [ "$kid" != "$KEY" ] || { echo "no temporary key id ($line)"; return 1; }
  tail -n +$((ng + 1)) "$STACK/ganesha.log" | grep -q "credentials from web_identity: key id" ||
    { echo "ganesha got none"; return 1; }
  # the user's own key with a made-up token is refused now: the token is checked for real
  AWS_SESSION_TOKEN=made-up "$S3F_BUILD/bin/s3f_s3" ls >/dev/null 2>&1 &&
    { echo "RGW accepted a made-up session token: STS is not on"; return 1; }
  # (an object the role wrote is the role's: the test user's key may not HEAD it; the
  # daemon says when it is in S3, with its ETag)
  put_nfs sts1 && s3f_ctl "$STACK" commit >/dev/null 2>&1 &&
    timeout 40 "${S3FILES_CTL:-$S3F_BUILD/bin/s3filesctl}" -f "$STACK/ganesha.conf" \
      wait-synced --timeout 30 /sts1 >"$WORK/sts1.synced" 2>&1 ||
    { echo "commit with the STS credentials failed: $(tail -n 2 "$WORK/sts1.synced")"; return 1; }
  # RGW's access log names who wrote it: the web identity's subject, not the test user
  cat "$RGWD"/log/client.rgw.*.log | grep -F "\"PUT /$S3_BUCKET/${P}sts1 " |
    grep -qF ' $oidc$gateway [' || { echo "sts1 was not written by the web identity"; return 1; }
  s3_put_file "$B" "${P}sts-big" "$WORK/data/big" >/dev/null || { echo "put failed"; return 1; }
  t_wait_for 30 nfs-cp "$(url /sts-big)" "$WORK/sts-big.read" && cmp -s "$WORK/data/big" "$WORK/sts-big.read" ||
    { echo "read through the mount failed or differs"; return 1; }
}
t_step web_identity_real_rgw_sts real_sts
s3f_stack_stop "$STACK"
[ -f "$WORK/jwks.pid" ] && kill "$(cat "$WORK/jwks.pid")" 2>/dev/null
if [ -f "$WORK/sts_on" ]; then
  rgw_sts off || t_fail rgw_sts_off "$(tail -n 3 "$WORK/rgw-restart.log")"
fi

# syncd.out collects the three daemons' stderr (the stop above ended the last one)
sanitizers() {
  echo "# daemon: ${S3FILES_SYNCD:-release build}" >&3
  if grep -E 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:' \
      "$STACK/syncd.out" "$STACK/syncd.log" 2>/dev/null | head -n 3 | grep .; then
    return 1
  fi
}
t_step no_sanitizer_report sanitizers

t_done
