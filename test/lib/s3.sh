# s3.sh: an independent S3 client for test assertions (curl --aws-sigv4 and s3cmd), so
# that tests never check the results of our S3 client with our S3 client. Source it.
#
# Reads S3_ENDPOINT, S3_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY from the
# environment, e.g. from the env file that test/lib/rgw.sh writes:
#     . "$RGW_DIR/env"; . test/lib/s3.sh
#
#   s3_put_file BUCKET KEY FILE [CURL ARGS...]  PUT (single request up to 5 GiB, s3cmd
#                                   multipart above); extra curl args (e.g. -H 'If-None-Match: *')
#                                   apply to the single-request case
#   s3_get_file BUCKET KEY OUTFILE  GET into OUTFILE (removed again on failure)
#   s3_head_etag BUCKET KEY         print the ETag, without quotes
#   s3_ls BUCKET [PREFIX]           print all keys under PREFIX, one per line (recursive)
#   s3_rm BUCKET KEY                DELETE (succeeds for a missing key too, as S3 does)
#   s3_exists BUCKET KEY            exit 0 if the key exists, 1 if not, 2 on any other answer
#   s3_status METHOD BUCKET KEY [CURL ARGS...]  any signed request; prints the HTTP status
#   s3_curl METHOD BUCKET KEY [CURL ARGS...]    any signed request; plain curl output
#   s3cmd_put BUCKET KEY FILE [CHUNK_MB]  upload with s3cmd (multipart if FILE > CHUNK_MB,
#                                   default 15); KEY must not end in "/" (s3cmd would
#                                   append the file name)
#   s3cmd_get BUCKET KEY OUTFILE    download with s3cmd
#   s3_cmd ARGS...                  s3cmd with a config made from the environment
#   s3_sns FORM                     signed SNS-API POST (bucket-notification topics),
#                                   prints the XML answer
#   s3_urlencode STRING [SAFE]      percent-encode for SigV4 (unreserved kept, plus SAFE)
#
# Bucket-level requests: s3_curl METHOD BUCKET '' with the query in S3_QUERY (see s3_curl).
#
# KEY may hold any character but newline (spaces, + = % ? # & unicode...): paths are encoded
# as SigV4 requires, and curl gets --path-as-is so it does not fold "." or ".." segments.
# Errors go to stderr with the HTTP status and S3 error code; the functions return
# non-zero but never exit and never change shell options, so they are safe with or
# without `set -euo pipefail` in the caller.

# The python3 that runs the XML parsing (stdlib only).
S3SH_PY=${S3SH_PY:-$(command -v /usr/bin/python3 || command -v python3)}

# s3_urlencode STRING [SAFE]: RFC 3986 percent-encoding of every byte except A-Z a-z 0-9
# - . _ ~ and the characters in SAFE (s3_url passes "/" for keys). This is exactly
# SigV4's UriEncode, so the path curl sends is already in canonical form.
s3_urlencode() {
  local LC_ALL=C s=$1 safe=${2:-} out='' c h i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case $c in
      [A-Za-z0-9._~-]) out+=$c ;;
      *)
        if [ -n "$safe" ] && [[ $safe == *"$c"* ]]; then out+=$c; else
          printf -v h '%%%02X' "'$c"; out+=$h
        fi ;;
    esac
  done
  printf '%s' "$out"
}

_s3_check_env() {
  local v
  for v in S3_ENDPOINT S3_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; do
    if [ -z "${!v:-}" ]; then
      echo "s3.sh: $v is not set (source the env file of rgw.sh first)" >&2
      return 1
    fi
  done
}

# s3_url BUCKET [KEY]: path-style URL.
s3_url() {
  local url="${S3_ENDPOINT%/}/$1"
  [ $# -lt 2 ] || url+="/$(s3_urlencode "$2" /)"
  printf '%s' "$url"
}

# s3_curl METHOD BUCKET KEY [CURL ARGS...]: a signed request (KEY may be "" for the bucket).
# A query string goes in S3_QUERY, e.g. `S3_QUERY='versioning=' s3_curl GET b ''`; curl 7.88
# signs it as given, so it must be canonical: parameters sorted, values s3_urlencode'd,
# "=" also after empty values ("?location" alone fails with SignatureDoesNotMatch).
# UNSIGNED-PAYLOAD: curl 7.88's --aws-sigv4 does not hash the body itself and RGW
# rejects requests without x-amz-content-sha256.
s3_curl() {
  local method=$1 bucket=$2 key=$3 url; shift 3
  _s3_check_env || return 1
  if [ -n "$key" ]; then url=$(s3_url "$bucket" "$key"); else url=$(s3_url "$bucket"); fi
  [ -z "${S3_QUERY:-}" ] || url+="?$S3_QUERY"
  curl -sS --path-as-is --connect-timeout 10 --max-time "${S3SH_TIMEOUT:-600}" \
    --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' -X "$method" "$@" "$url"
}

# s3_status METHOD BUCKET KEY [CURL ARGS...]: print only the HTTP status (000: no answer).
s3_status() {
  local code
  code=$(s3_curl "$@" -o /dev/null -w '%{http_code}') || true
  printf '%s\n' "${code:-000}"
}

# _s3_err WHAT CODE BODYFILE: one-line error with the S3 error code from the XML body.
_s3_err() {
  local what=$1 code=$2 body=$3 s3code=''
  [ -s "$body" ] && s3code=$(sed -n 's:.*<Code>\([^<]*\)</Code>.*:\1:p' "$body" | head -n 1)
  echo "s3.sh: $what: HTTP $code${s3code:+ $s3code}" >&2
}

_s3_tmp() { mktemp "${TMPDIR:-/tmp}/s3sh.XXXXXX"; }

# _s3_ok WHAT CURL_RC CODE WANT BODYFILE: succeed if curl succeeded with HTTP status WANT.
# (A transfer cut short leaves the status of a good start but a non-zero curl exit code.)
_s3_ok() {
  local what=$1 rc=$2 code=$3 want=$4 body=$5
  [ "$rc" -eq 0 ] && [ "$code" = "$want" ] && return 0
  if [ "$code" = "$want" ]; then echo "s3.sh: $what: curl failed (exit $rc) after HTTP $code" >&2
  else _s3_err "$what" "${code:-000}" "$body"; fi
  return 1
}

# s3_put_file BUCKET KEY FILE [CURL ARGS...]
s3_put_file() {
  local bucket=$1 key=$2 file=$3 body code size rc=0; shift 3
  [ -f "$file" ] || { echo "s3.sh: s3_put_file: no such file: $file" >&2; return 1; }
  size=$(stat -c %s -- "$file") || return 1
  # S3 (and RGW) accept at most 5 GiB in one PUT.
  if [ "$size" -gt $(( 5 * 1024 * 1024 * 1024 )) ]; then
    s3cmd_put "$bucket" "$key" "$file" 256
    return
  fi
  body=$(_s3_tmp) || return 1
  if [ "${key%/}" != "$key" ]; then
    # curl -T appends the file's name to a URL ending in "/"; send such keys (directory
    # markers, small) from memory instead.
    code=$(s3_curl PUT "$bucket" "$key" --data-binary "@$file" \
      -H 'Content-Type: application/octet-stream' "$@" -o "$body" -w '%{http_code}') || rc=$?
  else
    code=$(s3_curl PUT "$bucket" "$key" -T "$file" "$@" -o "$body" -w '%{http_code}') || rc=$?
  fi
  _s3_ok "PUT s3://$bucket/$key" "$rc" "$code" 200 "$body" || { rm -f "$body"; return 1; }
  rm -f "$body"
}

# s3_get_file BUCKET KEY OUTFILE
s3_get_file() {
  local bucket=$1 key=$2 out=$3 code rc=0
  code=$(s3_curl GET "$bucket" "$key" -o "$out" -w '%{http_code}') || rc=$?
  _s3_ok "GET s3://$bucket/$key" "$rc" "$code" 200 "$out" || { rm -f "$out"; return 1; }
}

# s3_head_etag BUCKET KEY: print the ETag without its quotes.
s3_head_etag() {
  local bucket=$1 key=$2 hdr code etag
  hdr=$(s3_curl HEAD "$bucket" "$key" -I -w '%{http_code}') || true
  code=${hdr##*$'\n'}
  if [ "$code" != 200 ]; then
    echo "s3.sh: HEAD s3://$bucket/$key: HTTP ${code:-000}" >&2; return 1
  fi
  etag=$(printf '%s\n' "$hdr" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' | head -n 1)
  etag=${etag#\"}; etag=${etag%\"}
  [ -n "$etag" ] || { echo "s3.sh: HEAD s3://$bucket/$key: no ETag header" >&2; return 1; }
  printf '%s\n' "$etag"
}

# s3_exists BUCKET KEY: 0 exists, 1 does not (404), 2 anything else.
s3_exists() {
  local code
  code=$(s3_status HEAD "$1" "$2" -I)
  case $code in
    200) return 0 ;;
    404) return 1 ;;
    *) echo "s3.sh: HEAD s3://$1/$2: HTTP $code" >&2; return 2 ;;
  esac
}

# s3_rm BUCKET KEY
s3_rm() {
  local bucket=$1 key=$2 body code
  body=$(_s3_tmp) || return 1
  code=$(s3_curl DELETE "$bucket" "$key" -o "$body" -w '%{http_code}') || true
  case $code in
    204 | 200) rm -f "$body"; return 0 ;;
  esac
  _s3_err "DELETE s3://$bucket/$key" "${code:-000}" "$body"; rm -f "$body"; return 1
}

# s3_ls BUCKET [PREFIX]: every key under PREFIX (ListObjectsV2, all pages), one per line.
s3_ls() {
  local bucket=$1 prefix=${2:-} token='' body code q
  body=$(_s3_tmp) || return 1
  while :; do
    # encoding-type=url: keys come percent-encoded, so any byte survives the XML.
    q=''
    [ -z "$token" ] || q="continuation-token=$(s3_urlencode "$token")&"
    q+="encoding-type=url&list-type=2&max-keys=${S3SH_LS_MAX_KEYS:-1000}&prefix=$(s3_urlencode "$prefix")"
    code=$(S3_QUERY=$q s3_curl GET "$bucket" '' -o "$body" -w '%{http_code}') || true
    if [ "$code" != 200 ]; then
      _s3_err "LIST s3://$bucket/$prefix" "${code:-000}" "$body"
      rm -f "$body" "$body.next"; return 1
    fi
    "$S3SH_PY" - "$body" "$body.next" <<'EOF' || { rm -f "$body" "$body.next"; return 1; }
import sys, urllib.parse, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = root.tag[:root.tag.index('}') + 1] if root.tag.startswith('{') else ''
for c in root.findall(ns + 'Contents'):
    sys.stdout.write(urllib.parse.unquote(c.findtext(ns + 'Key')) + '\n')
tok = root.findtext(ns + 'NextContinuationToken') or ''
with open(sys.argv[2], 'w') as f:
    f.write(tok if root.findtext(ns + 'IsTruncated') == 'true' else '')
EOF
    token=$(cat "$body.next")
    [ -n "$token" ] || break
  done
  rm -f "$body" "$body.next"
}

# s3cmd config from the environment, in a temp file the caller removes.
_s3_cfg() {
  local cfg host=${S3_ENDPOINT#*://} https=False
  _s3_check_env || return 1
  host=${host%/}
  case $S3_ENDPOINT in https:*) https=True ;; esac
  cfg=$(_s3_tmp) || return 1
  cat >"$cfg" <<EOF
[default]
access_key = $AWS_ACCESS_KEY_ID
secret_key = $AWS_SECRET_ACCESS_KEY
host_base = $host
host_bucket = $host
use_https = $https
signature_v2 = False
bucket_location = $S3_REGION
guess_mime_type = False
EOF
  printf '%s' "$cfg"
}

# s3_cmd ARGS...: s3cmd against S3_ENDPOINT.
s3_cmd() {
  local cfg rc=0
  cfg=$(_s3_cfg) || return 1
  s3cmd -c "$cfg" --no-progress "$@" || rc=$?
  rm -f "$cfg"
  return $rc
}

# s3cmd_put BUCKET KEY FILE [CHUNK_MB]: upload; a multipart upload with CHUNK_MB MiB parts
# (default 15, S3's minimum is 5) when FILE is larger than one part.
s3cmd_put() {
  s3_cmd put --quiet --multipart-chunk-size-mb="${4:-15}" -- "$3" "s3://$1/$2" >/dev/null
}

# s3cmd_get BUCKET KEY OUTFILE
s3cmd_get() {
  s3_cmd get --quiet --force -- "s3://$1/$2" "$3" >/dev/null
}

# s3_sns FORM: a signed POST of the url-encoded FORM to the SNS-compatible API of RGW,
# which manages the topics of bucket notifications; prints the XML answer. E.g.
#   s3_sns 'Action=CreateTopic&Name=t1&Attributes.entry.1.key=push-endpoint&Attributes.entry.1.value=http%3A%2F%2F127.0.0.1%3A9999'
# gives the ARN arn:aws:sns:default::t1 (RGW puts the zonegroup name, "default", where AWS
# has the region, and no account), which a bucket's notification configuration then names
# (S3_QUERY='notification=' s3_curl PUT BUCKET '' --data "$xml").
# Here RGW checks the body against x-amz-content-sha256: UNSIGNED-PAYLOAD would give
# SignatureDoesNotMatch, so the real hash is sent.
s3_sns() {
  local form=$1 hash body code
  _s3_check_env || return 1
  hash=$(printf '%s' "$form" | sha256sum | cut -d' ' -f1) || return 1
  body=$(_s3_tmp) || return 1
  code=$(curl -sS --connect-timeout 10 --max-time 60 \
    --aws-sigv4 "aws:amz:$S3_REGION:sns" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: $hash" -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-binary "$form" -o "$body" -w '%{http_code}' "${S3_ENDPOINT%/}/") || true
  case $code in
    2??) cat "$body"; echo; rm -f "$body"; return 0 ;;
  esac
  _s3_err "SNS POST ${form%%&*}" "${code:-000}" "$body"; rm -f "$body"; return 1
}
