#!/usr/bin/env bash
# make run: serve a bucket over NFSv4.1 (and with S3FILES_NFSV3=1 over NFSv3) from this
# machine.
#
# Without S3_ENDPOINT, a local Ceph RGW is started (state in build/run/rgw) and the bucket
# created. Then ganesha.nfsd (with the S3FILES FSAL) and s3files-syncd start, and one line
#   S3FILES READY endpoint=... bucket=... prefix=... nfs_port=...
# is printed, followed by the client's mount command. Ctrl-C stops everything started here.
#
# Settings (environment, all optional):
#   S3_ENDPOINT S3_REGION S3_BUCKET S3_PREFIX AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
#   NFS_PORT (2049)  S3FILES_STATE_DIR (build/run/state)  S3FILES_COMMIT_INTERVAL (60)
#   S3FILES_BIND (0.0.0.0: address ganesha listens on)
#   S3FILES_NFSV3=1: serve NFSv3 (and MOUNT, on S3FILES_MNT_PORT, 20048) as well. ganesha
#   then runs in a network namespace of its own with a private rpcbind (test/lib/s3files.sh
#   says why); clients reach it through relays on S3FILES_BIND:NFS_PORT and
#   S3FILES_BIND:S3FILES_MNT_PORT, and mount with explicit ports (the printed lines), so
#   neither this machine's rpcbind nor port 111 is involved.
set -euo pipefail
cd "$(dirname "$0")/.."
export S3F_ROOT=$PWD
export S3F_BUILD=${BUILD:-$PWD/build}
RUN=$S3F_BUILD/run
# The local RGW's keys (rgw/env, rgw/s3cfg) and the gateway's credentials file live below:
# only the owner gets in. No key is ever put on a command line (ps shows those to everyone).
(umask 077; mkdir -p "$RUN")
chmod 0700 "$RUN"
. test/lib/s3files.sh

RGW_STARTED=0
STACK_STARTED=0
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "[run] stopping"
  [ $STACK_STARTED = 1 ] && s3f_stack_stop "$RUN/stack"
  [ $RGW_STARTED = 1 ] && test/lib/rgw.sh stop "$RUN/rgw" >/dev/null 2>&1
  echo "[run] stopped"
}
# The handler stops everything; then the script ends (a trap alone would resume the loop).
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM
trap stop_all EXIT

export NFS_PORT=${NFS_PORT:-2049}
if ss -Htln "sport = :$NFS_PORT" | grep -q .; then
  echo "[run] port $NFS_PORT is in use (another NFS server?); set NFS_PORT" >&2
  exit 1
fi
export S3FILES_NFSV3=${S3FILES_NFSV3:-0}
if [ "$S3FILES_NFSV3" = 1 ]; then
  export S3FILES_MNT_PORT=${S3FILES_MNT_PORT:-20048} S3FILES_RELAY_NFS=1
  if ss -Htln "sport = :$S3FILES_MNT_PORT" | grep -q .; then
    echo "[run] port $S3FILES_MNT_PORT is in use (another MOUNT service?); set S3FILES_MNT_PORT" >&2
    exit 1
  fi
fi

if [ -z "${S3_ENDPOINT:-}" ]; then
  export S3_BUCKET=${S3_BUCKET:-s3files}
  echo "[run] starting a local Ceph RGW in $RUN/rgw (bucket $S3_BUCKET)"
  RGW_BUCKETS="$S3_BUCKET" test/lib/rgw.sh start "$RUN/rgw" >"$RUN/rgw.out" 2>&1 || {
    cat "$RUN/rgw.out" >&2; exit 1; }
  RGW_STARTED=1
  set -a; . "$RUN/rgw/env"; set +a
else
  : "${S3_BUCKET:?set S3_BUCKET with S3_ENDPOINT}"
  if [ -z "${AWS_ACCESS_KEY_ID:-}" ] || [ -z "${AWS_SECRET_ACCESS_KEY:-}" ]; then
    echo "[run] set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for $S3_ENDPOINT" >&2
    exit 1
  fi
fi
export S3_REGION=${S3_REGION:-us-east-1}
export S3_PREFIX=${S3_PREFIX:-}
export S3FILES_STATE_DIR=${S3FILES_STATE_DIR:-$RUN/state}
export S3FILES_BIND=${S3FILES_BIND:-0.0.0.0}
export S3FILES_MINOR_VERSIONS="0, 1, 2"

if [ "$S3FILES_NFSV3" = 1 ]; then
  echo "[run] starting ganesha.nfsd (NFSv3 + v4, in a network namespace with its own rpcbind) and s3files-syncd (logs in $RUN/stack)"
else
  echo "[run] starting ganesha.nfsd and s3files-syncd (logs in $RUN/stack)"
fi
s3f_stack_start "$RUN/stack"
STACK_STARTED=1

host=127.0.0.1
if [ "$S3FILES_BIND" = 0.0.0.0 ]; then
  for a in $(hostname -I 2>/dev/null); do
    case $a in 127.*|*:*) ;; *) host=$a; break ;; esac
  done
else
  host=$S3FILES_BIND
fi
echo "S3FILES READY endpoint=$S3_ENDPOINT bucket=$S3_BUCKET prefix=${S3_PREFIX:-/} nfs_port=$NFS_PORT"
echo "mount -t nfs4 -o vers=4.1,port=$NFS_PORT $host:/s3files /mnt/s3files"
watch="ganesha syncd"
if [ "$S3FILES_NFSV3" = 1 ]; then
  # nolock: NLM is not served; mountproto=tcp and the ports: no rpcbind query.
  echo "mount -t nfs -o vers=3,proto=tcp,port=$NFS_PORT,mountport=$S3FILES_MNT_PORT,mountproto=tcp,nolock $host:/s3files /mnt/s3files"
  echo "[run] NFSv3 and v4 from namespace $(. "$RUN/stack/netns.env"; echo "$S3F_NS_NAME") ($(s3f_nfs_host "$RUN/stack"), rpcbind there) through relays on $S3FILES_BIND:$NFS_PORT and :$S3FILES_MNT_PORT"
  watch="$watch rpcbind nsholder relay-s3 relay-nfs relay-mnt"
fi
echo "[run] s3filesctl: $S3F_BUILD/bin/s3filesctl -f $RUN/stack/ganesha.conf status|commit|events"
echo "[run] Ctrl-C stops everything"

while :; do
  for p in $watch; do
    pid=$(cat "$RUN/stack/$p.pid" 2>/dev/null || true)
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
      echo "[run] $p exited; see $RUN/stack/$p.log" >&2
      exit 1
    fi
  done
  sleep 1
done
