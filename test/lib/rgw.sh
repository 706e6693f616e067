#!/usr/bin/env bash
# rgw.sh: a single-node Ceph cluster (1 mon + 1 bluestore osd + radosgw, Debian's Ceph 16.2)
# that serves as the real S3 server for the test suite and for `make run`.
#
#   rgw.sh start DIR            create the cluster in DIR (first time) or start it again
#                               (later times), wait until a signed PUT+GET+DELETE works (in
#                               bucket rgw-sh-probe), write DIR/env and DIR/s3cfg, print
#                               DIR/env on stdout. Does nothing but that if it already runs.
#   rgw.sh stop DIR             stop rgw, osd, mon by PID (TERM, KILL after ~10 s); idempotent
#   rgw.sh status DIR           exit 0 iff the three daemons run and the endpoint answers
#   rgw.sh mkbucket DIR NAME    create another bucket (owned by the test user)
#   rgw.sh purge DIR BUCKET     delete every object of BUCKET at once, bypassing the RGW
#                               garbage collector, then recreate the (empty) bucket
#   rgw.sh admin DIR ARGS...    run radosgw-admin against this cluster
#   rgw.sh ceph DIR ARGS...     run the ceph CLI against this cluster (mon commands only;
#                               there is no mgr, so e.g. `ceph pg stat`/`ceph df` would hang)
#
# Environment (start):
#   RGW_BUCKETS        buckets to create, space separated (default: s3files-test); the first
#                      one is S3_BUCKET in DIR/env
#   RGW_PORT           port of the S3 endpoint on 127.0.0.1 (default: the one used last
#                      time if still free, else a free one)
#   RGW_START_TIMEOUT  seconds before start gives up (default 120)
#   RGW_OSD_SIZE_GB    size of the OSD's sparse bluestore file, at creation (default 32)
#
# Everything lives in DIR: its own ceph.conf, mon/osd/rgw data, pid files (DIR/run), logs
# (DIR/log), crash dumps. DIR is mode 0700 and the files holding the S3 keys (env, s3cfg,
# state, the user's creation record) are 0600: the keys are made by radosgw-admin and read
# from its output, never passed on a command line (any local user could read them in
# ps), and curl gets them from its standard input (-K -). Nothing reads or writes /etc/ceph, /var/lib/ceph or /var/log/ceph,
# and every ceph/radosgw-admin/ceph-* invocation gets `-c DIR/ceph.conf`. Auth is off
# (auth_*_required = none): the cluster listens on loopback only and no keyring exists.
# Daemons are started with setsid (a Ctrl-C in the caller's terminal does not reach them)
# and stopped only by the PIDs recorded in DIR/run/*.pid.
set -euo pipefail

# Inherited CEPH_ARGS/CEPH_CONF would silently add options or point at another cluster.
unset CEPH_ARGS CEPH_CONF

PROG=rgw.sh
# The python rados binding is installed for Debian's python only (not for pyenv & co).
PY=/usr/bin/python3
MON_ID=a
OSD_ID=0
RGW_NAME=client.rgw.$MON_ID
USER_UID=s3files
# Region for SigV4 signing. RGW 16 computes the signature with whatever region the client
# put in its credential scope (any string verifies), but the region it reports
# (GetBucketLocation) and the only LocationConstraint it accepts on CreateBucket (besides
# none) is the zonegroup's api_name, which is "default" for the auto-created zonegroup.
# So "default" works for every client, including ones that send a LocationConstraint
# whenever the region is not us-east-1.
REGION=default
DAEMONS=(rgw osd mon)   # stop order; start order is the reverse
RGW_POOLS=(.rgw.root default.rgw.log default.rgw.control default.rgw.meta
           default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec)

log() { printf '[rgw] %s\n' "$*" >&2; }

# phase WHAT: progress with the time since start began, in DIR/log/rgw.sh.log (and on
# stderr with RGW_VERBOSE=1).
T0=$(( $(date +%s%N) / 1000000 ))
phase() {
  local line
  line="$(date '+%F %T') +$(( $(now_ms) - T0 ))ms $*"
  [ -z "${LOGD:-}" ] || printf '%s\n' "$line" >>"$LOGD/rgw.sh.log"
  [ "${RGW_VERBOSE:-0}" != 1 ] || printf '[rgw] %s\n' "$line" >&2
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
  exit 2
}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# ---------------------------------------------------------------- paths and state

# set_dir DIR [create]: absolute, physical path; refuse characters ceph.conf cannot carry
# ('#' and ';' start comments, '$' is a metavariable, whitespace is trimmed/split).
# Without "create", a missing DIR means "no cluster": stop succeeds, the rest fail.
set_dir() {
  [ -n "${1:-}" ] || usage
  case $1 in *[[:space:]\#\;\$\\\'\"]*)
    echo "$PROG: DIR must not contain whitespace, quotes or any of # ; \$ \\: '$1'" >&2; exit 2;;
  esac
  if [ "${2:-}" = create ]; then (umask 077; mkdir -p "$1")
  elif [ ! -d "$1" ]; then
    [ "$CMD" = stop ] && exit 0
    echo "$PROG: no cluster in $1 (no such directory)" >&2; exit 1
  fi
  D=$(cd "$1" && pwd -P)
  # The keys live in here: nobody else gets in (also for a DIR made before this rule).
  [ "${2:-}" != create ] || chmod 0700 "$D"
  CONF=$D/ceph.conf
  STATE=$D/state
  RUN=$D/run
  LOGD=$D/log
  # Body of the last S3 response (s3req runs in $(...), so it cannot set variables).
  RESP=$RUN/response.$$
  trap 'rm -f "$RESP" "$RUN/probe.$$"' EXIT
}

# The persistent facts of a cluster: KEY=VALUE lines written only by this script.
declare -A ST=()
state_load() {
  ST=()
  [ -f "$STATE" ] || return 0
  local k v
  while IFS='=' read -r k v; do
    [[ $k =~ ^[A-Z_]+$ ]] && ST[$k]=$v
  done <"$STATE"
}
state_save() {
  local k tmp=$STATE.tmp
  # It holds the keys: 0600 from the start (umask), whatever it was before.
  (umask 077; : >"$tmp")
  chmod 0600 "$tmp"
  for k in "${!ST[@]}"; do printf '%s=%s\n' "$k" "${ST[$k]}" >>"$tmp"; done
  sort -o "$tmp" "$tmp"
  mv -f "$tmp" "$STATE"
}

rand_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# ---------------------------------------------------------------- ports

. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"   # port_busy, port_listening, pick_port

# ---------------------------------------------------------------- processes

pidfile() { echo "$RUN/$1.pid"; }

# alive PID: the process exists, is not a zombie (PID 1 on some machines never reaps
# orphans, so a dead daemon can linger as Z), and was started with our ceph.conf (guards
# against a recycled PID).
alive() {
  local pid=$1 st
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  st=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ] || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$CONF"
}

daemon_pid() { local f; f=$(pidfile "$1"); if [ -f "$f" ]; then cat "$f"; fi; }
daemon_alive() { alive "$(daemon_pid "$1")"; }

daemon_log() {
  case $1 in mon) echo "$LOGD/mon.$MON_ID.log";; osd) echo "$LOGD/osd.$OSD_ID.log";;
             rgw) echo "$LOGD/$RGW_NAME.log";; *) echo "$LOGD/$1.log";; esac
}

# launch NAME CMD...: run a daemon in the foreground (-f) of its own session, stdout/stderr
# to DIR/log/NAME.out (early failures show up there, the rest goes to its ceph log file).
launch() {
  local name=$1; shift
  if daemon_alive "$name"; then return 0; fi
  # 9>&-: the daemon must not inherit the lock on DIR/.lock (it would hold it forever).
  setsid "$@" </dev/null >>"$LOGD/$name.out" 2>&1 9>&- &
  local pid=$! i
  echo "$pid" >"$(pidfile "$name")"
  # Until the forked shell has exec'd the daemon, /proc/PID/cmdline is ours, and alive()
  # would call the daemon dead.
  for ((i = 0; i < 100; i++)); do
    alive "$pid" && return 0
    [ -e "/proc/$pid" ] || return 0
    sleep 0.02
  done
}

# stop_daemon NAME [GRACE]: TERM, wait up to GRACE (default 10) s, KILL, wait up to 5 s.
stop_daemon() {
  local name=$1 grace=${2:-10} pid f i t0
  f=$(pidfile "$name")
  pid=$(daemon_pid "$name")
  if alive "$pid"; then
    t0=$(now_ms)
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 20; i++)); do alive "$pid" || break; sleep 0.05; done
    if alive "$pid"; then
      [ "$grace" -eq 0 ] || log "$name (pid $pid) ignored SIGTERM for $grace s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do alive "$pid" || break; sleep 0.05; done
    fi
    if alive "$pid"; then echo "$PROG: $name (pid $pid) survived SIGKILL" >&2; return 1; fi
    phase "stopped $name (pid $pid) in $(( $(now_ms) - t0 )) ms"
  fi
  rm -f "$f"
}

stop_all() {
  local n f rc=0
  [ -d "$RUN" ] || return 0
  # Without its OSD, rgw's shutdown blocks on RADOS (unwatching its control objects) until
  # the KILL 10 s later; it keeps no state of its own, so kill it at once then.
  if daemon_alive osd; then stop_daemon rgw || rc=1; else stop_daemon rgw 0 || rc=1; fi
  for n in "${DAEMONS[@]}"; do stop_daemon "$n" || rc=1; done
  # Helpers of an interrupted start (e.g. the OSD mkfs), if any.
  for f in "$RUN"/*.pid; do
    [ -e "$f" ] || continue
    n=$(basename "$f" .pid)
    stop_daemon "$n" || rc=1
  done
  # Daemons killed by SIGKILL leave their admin sockets behind.
  [ $rc -ne 0 ] || rm -f "$RUN"/*.asok
  return $rc
}

# ---------------------------------------------------------------- failure reporting

# fail MSG [DAEMON...]: message, the tail of the daemons' logs, stop what runs, exit 1.
fail() {
  local msg=$1 n f; shift
  {
    echo "$PROG: error: $msg"
    for n in "$@"; do
      for f in "$(daemon_log "$n")" "$LOGD/$n.out"; do
        [ -s "$f" ] || continue
        echo "---- last lines of $f"
        tail -n 15 "$f" | cut -c1-300
      done
    done
    echo "---- full logs in $LOGD"
  } >&2
  stop_all >/dev/null 2>&1 || true
  exit 1
}

DEADLINE=0
# wait_for DESC "DAEMONS" CMD...: retry CMD every 0.1 s; fail when the deadline passes or
# one of DAEMONS (space separated; they are what CMD waits for) has died.
wait_for() {
  local desc=$1 n last ds; shift
  read -r -a ds <<<"$1"; shift
  while :; do
    if last=$("$@" 2>&1); then return 0; fi
    for n in "${ds[@]}"; do
      daemon_alive "$n" || fail "$n exited while waiting for: $desc" "${ds[@]}"
    done
    if [ "$(now_ms)" -ge "$DEADLINE" ]; then
      fail "timed out after ${TIMEOUT}s waiting for: $desc${last:+ (last: $last)}" "${ds[@]}"
    fi
    sleep 0.1
  done
}

# ---------------------------------------------------------------- configuration

write_conf() {
  local asok="$RUN/\$name.asok"
  # A unix socket path is limited to 107 bytes; without an admin socket daemons still run.
  [ $(( ${#RUN} + 24 )) -lt 107 ] || asok=
  cat >"$CONF.tmp" <<EOF
# Generated by test/lib/rgw.sh at every start; edits are lost. Private single-node cluster.
[global]
fsid = ${ST[FSID]}
mon host = [v2:127.0.0.1:${ST[MON_PORT]}]
mon initial members = $MON_ID
public addr = 127.0.0.1
cluster addr = 127.0.0.1
# msgr2 only: one mon port, and both ends of every connection agree on the protocol.
ms bind msgr1 = false

# No cephx: loopback only, no keyrings to create or leak. With auth none the msgr2 mode
# must be crc everywhere; the default "secure" for mon connections makes a client hang for
# client_mount_timeout (300 s), then fail with EACCES.
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms mon service mode = crc
ms mon cluster mode = crc
ms client mode = crc
ms service mode = crc
ms cluster mode = crc
# Fail within seconds, never after the 300 s default, if the mon is unreachable.
client mount timeout = 20
rados mon op timeout = 60
mon warn on insecure global id reclaim allowed = false
# The mon shuts itself down when its filesystem has less than 5% free (warns below 30%).
# Test machines run fuller than production ones; 2% still protects the mon store.
mon data avail warn = 10
mon data avail crit = 2

# Every path a daemon or tool would default to under /etc/ceph, /var/lib/ceph,
# /var/log/ceph or /var/run/ceph points into this directory.
keyring = $D/keyring
log file = $LOGD/\$name.log
mon cluster log file = $LOGD/cluster.log
admin socket = $asok
run dir = $RUN
crash dir = $D/crash
mon debug dump location = $LOGD/\$name.tdump
mgr data = $D/mgr
mds data = $D/mds

# One OSD: replicated size 1, 8 PGs per pool, no autoscaler (there is no mgr anyway),
# no health warnings about it. A lower paxos interval makes each pool create take ~60 ms
# instead of ~1 s.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
paxos propose interval = 0.01

[mon]
mon data = $D/mon

[osd]
osd data = $D/osd
osd objectstore = bluestore
# A sparse file, created by mkfs: tests write several GB, and the OSD stops accepting
# writes at 95% full. Only the size used so far takes disk space.
bluestore block size = ${ST[OSD_SIZE]}
# A freshly made store needs no fsck (saves ~1.5 s at creation).
bluestore fsck on mkfs = false
# The aio reaper polls with this timeout and every block-device close waits for it
# (250 ms by default, paid ~8 times during mkfs and mount). Completions are unaffected.
bdev aio poll ms = 50
# The bluestore cache autotunes up to this (default 4 GiB); 1 GiB is plenty for tests.
osd memory target = 1073741824
# S3 keys are at most 1024 bytes; RGW object names add a short prefix/suffix, so the
# bluestore default (2048) is enough and osd max object name len needs no change.

[$RGW_NAME]
rgw data = $D/rgw
# tcp_nodelay: without it small GETs on a kept-alive connection run at ~22/s, not ~650/s.
rgw frontends = beast endpoint=127.0.0.1:${ST[RGW_PORT]} tcp_nodelay=1
# Space of deleted/overwritten objects is freed by the RGW garbage collector, by default
# 2 h later, checked hourly; tests that write GBs need it back within about a minute.
rgw gc obj min wait = 60
rgw gc processor period = 60
# No lifecycle (LC) processing: during its work window (00:00-06:00 UTC by default) its
# workers sleep 5 s uninterruptibly whenever they lose a shard lock to each other, which
# made every stop take 4-10 s. Tests do not use lifecycle rules.
rgw enable lc threads = false
# Give up (and exit, which start reports) instead of waiting 300 s for the cluster.
rgw init timeout = 90
# When rgw starts before the OSD is up, its first op waits for an osdmap showing the OSD
# up; the objecter asks for one only every tick (5 s by default).
objecter tick interval = 0.5
# After an unclean OSD death the osdmap still lists the old OSD instance as up, and rgw's
# ops go to its address (refused, retried with backoff) until the objecter calls them
# laggy (10 s by default) and fetches the new map. A laggy op costs only a map request.
objecter timeout = 2
# rgw enable apis: left at the default, which includes s3, admin and notifications
# (bucket notifications with HTTP push endpoints are used by tests).
EOF
  mv -f "$CONF.tmp" "$CONF"
}

write_env() {
  local port=${ST[RGW_PORT]} first=${BUCKETS[0]}
  # Both files hold the keys: made 0600 (umask), kept 0600 by the rename.
  rm -f "$D/env.tmp" "$D/s3cfg.tmp"
  (umask 077; : >"$D/env.tmp"; : >"$D/s3cfg.tmp")
  cat >"$D/env.tmp" <<EOF
S3_ENDPOINT=http://127.0.0.1:$port
S3_REGION=$REGION
S3_BUCKET=$first
AWS_ACCESS_KEY_ID=${ST[ACCESS_KEY]}
AWS_SECRET_ACCESS_KEY=${ST[SECRET_KEY]}
RGW_DIR=$D
EOF
  mv -f "$D/env.tmp" "$D/env"
  cat >"$D/s3cfg.tmp" <<EOF
[default]
access_key = ${ST[ACCESS_KEY]}
secret_key = ${ST[SECRET_KEY]}
host_base = 127.0.0.1:$port
host_bucket = 127.0.0.1:$port
use_https = False
signature_v2 = False
bucket_location = $REGION
check_ssl_certificate = False
guess_mime_type = False
EOF
  mv -f "$D/s3cfg.tmp" "$D/s3cfg"
}

# ---------------------------------------------------------------- S3 requests (curl)

# s3req METHOD PATH [CURL ARGS...]: signed request; prints the HTTP status (000 if none).
# PATH must already be URL-encoded. The body goes to $RESP. The keys reach curl as a config
# on its standard input (printf is a shell builtin: no process shows them).
s3req() {
  local method=$1 path=$2; shift 2
  printf 'user = "%s:%s"\n' "${ST[ACCESS_KEY]}" "${ST[SECRET_KEY]}" |
    curl -K - -sS --path-as-is -o "$RESP" -w '%{http_code}' --max-time 30 \
      --aws-sigv4 "aws:amz:$REGION:s3" \
      -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
      -X "$method" "$@" "http://127.0.0.1:${ST[RGW_PORT]}$path" 2>/dev/null || true
}

# user_keys FILE: "ACCESS SECRET" of the test user from radosgw-admin's JSON in FILE.
user_keys() {
  "$PY" - "$1" "$USER_UID" <<'EOF'
import json, sys
u = json.load(open(sys.argv[1]))
for k in u.get("keys", []):
    if k.get("user") == sys.argv[2] and k.get("access_key") and k.get("secret_key"):
        print(k["access_key"], k["secret_key"])
        break
else:
    sys.exit("no S3 key for %s in radosgw-admin's answer" % sys.argv[2])
EOF
}

endpoint_answers() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:${ST[RGW_PORT]}/" || true)
  [ "$code" != 000 ]
}

valid_bucket() { [[ $1 =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]]; }

make_bucket() {
  local b=$1 code
  valid_bucket "$b" || { echo "$PROG: invalid bucket name: '$b'" >&2; return 1; }
  code=$(s3req PUT "/$b")
  case $code in
    200) return 0;;
    409) grep -q BucketAlreadyOwnedByYou "$RESP" && return 0;;
  esac
  echo "$PROG: creating bucket $b: HTTP $code $(cat "$RESP" 2>/dev/null)" >&2
  return 1
}

# probe BUCKET: a signed PUT, GET (byte-exact) and DELETE of a small object. It runs in a
# bucket of its own, so that a test watching its bucket (or a gateway syncing it) never
# sees the probe object come and go when the cluster is (re)started.
PROBE_BUCKET=rgw-sh-probe
probe() {
  local b=$1 key=".rgw-sh-probe-$$" body="probe $$ $RANDOM" code
  printf '%s' "$body" >"$RUN/probe.$$"
  code=$(s3req PUT "/$b/$key" -T "$RUN/probe.$$")
  [ "$code" = 200 ] || { echo "probe PUT: HTTP $code $(head -c 300 "$RESP")" >&2; return 1; }
  code=$(s3req GET "/$b/$key")
  if [ "$code" != 200 ] || ! cmp -s "$RESP" "$RUN/probe.$$"; then
    echo "probe GET: HTTP $code$([ "$code" != 200 ] || echo ', wrong content')" >&2; return 1
  fi
  code=$(s3req DELETE "/$b/$key")
  [ "$code" = 204 ] || { echo "probe DELETE: HTTP $code" >&2; return 1; }
  rm -f "$RUN/probe.$$"
}

# ---------------------------------------------------------------- cluster creation

# Mon commands through librados in one python process: ~0.6 s for everything, against
# ~0.3 s per `ceph` CLI call.
mon_setup() {
  "$PY" - "$CONF" "${ST[OSD_UUID]}" "$OSD_ID" "${RGW_POOLS[@]}" <<'EOF'
import json, sys, rados
conf, osd_uuid, osd_id, pools = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
r = rados.Rados(conffile=conf, rados_id='admin')
r.connect(timeout=20)
def cmd(**kw):
    ret, out, err = r.mon_command(json.dumps(kw), b'', timeout=30)
    if ret != 0:
        sys.exit('mon command %s failed: %d %s' % (json.dumps(kw), ret, err))
# `ceph osd new` must get the uuid ceph-osd --mkfs was given.
cmd(prefix='osd new', uuid=osd_uuid, id=osd_id)
# Pre-create RGW's pools: otherwise radosgw creates them one by one on first use and the
# first bucket takes ~4 s.
for p in pools:
    cmd(prefix='osd pool create', pool=p, pg_num=8, pgp_num=8)
    cmd(prefix='osd pool application enable', pool=p, app='rgw')
# No scrubbing: it would only add background I/O to benchmarks.
for f in ('noscrub', 'nodeep-scrub'):
    cmd(prefix='osd set', key=f)
r.shutdown()
EOF
}

# create: a new cluster in $D; mon is running and osd mkfs'ed and registered on return.
create() {
  local n size_gb=${RGW_OSD_SIZE_GB:-32} avail_kb
  log "creating a new cluster in $D"
  # Leftovers of an earlier, failed creation. Only what this script makes, never DIR.
  rm -rf "$D/mon" "$D/osd" "$D/rgw" "$D/crash" "$D/monmap" "$D/env" "$D/s3cfg" "$STATE"
  mkdir -p "$D/mon" "$D/osd" "$D/rgw" "$D/crash"
  : >"$D/keyring"
  [[ $size_gb =~ ^[1-9][0-9]*$ ]] || fail "RGW_OSD_SIZE_GB must be a positive integer: '$size_gb'"
  avail_kb=$(df -Pk "$D" | awk 'NR==2 {print $4}')
  if [ "$avail_kb" -lt $(( size_gb * 1024 * 1024 )) ]; then
    log "warning: only $(( avail_kb / 1024 / 1024 )) GiB free on the filesystem of $D;" \
        "the ${size_gb} GiB sparse OSD file can outgrow it (set RGW_OSD_SIZE_GB)"
  fi
  ST=(
    [FSID]=$(cat /proc/sys/kernel/random/uuid)
    [OSD_UUID]=$(cat /proc/sys/kernel/random/uuid)
    [OSD_SIZE]=$(( size_gb * 1024 * 1024 * 1024 ))
    [MON_PORT]=$(pick_port)
    [RGW_PORT]=${RGW_PORT:-$(pick_port)}
    # The S3 keys: made by radosgw-admin with the user (cmd_start).
  )
  state_save
  write_conf

  monmaptool --create --fsid "${ST[FSID]}" --addv "$MON_ID" "[v2:127.0.0.1:${ST[MON_PORT]}]" \
    "$D/monmap" >"$LOGD/mkfs.out" 2>&1 || fail "monmaptool failed" mkfs
  ceph-mon -c "$CONF" -i "$MON_ID" --mkfs --monmap "$D/monmap" >>"$LOGD/mkfs.out" 2>&1 ||
    fail "ceph-mon --mkfs failed" mkfs mon
  # The OSD's mkfs needs no mon (--no-mon-config): run it while the mon starts.
  setsid ceph-osd -c "$CONF" -i "$OSD_ID" --mkfs --osd-uuid "${ST[OSD_UUID]}" --no-mon-config \
    </dev/null >"$LOGD/osd-mkfs.out" 2>&1 9>&- &
  echo $! >"$(pidfile osd-mkfs)"

  phase "mkfs mon done"
  launch mon ceph-mon -c "$CONF" -i "$MON_ID" -f
  wait_for "mon listening on 127.0.0.1:${ST[MON_PORT]}" mon port_listening "${ST[MON_PORT]}"
  phase "mon listening"
  mon_setup >"$LOGD/mon-setup.out" 2>&1 || fail "creating the OSD id and RGW pools failed" mon-setup mon

  phase "osd id and pools created"
  local pid; pid=$(daemon_pid osd-mkfs)
  wait "$pid" || fail "ceph-osd --mkfs failed" osd-mkfs osd
  rm -f "$(pidfile osd-mkfs)"
  [ -f "$D/osd/mkfs_done" ] || fail "ceph-osd --mkfs left no $D/osd/mkfs_done" osd-mkfs osd
  phase "mkfs osd done"
}

# ---------------------------------------------------------------- commands

cmd_start() {
  set_dir "$1" create
  mkdir -p "$RUN" "$LOGD"
  TIMEOUT=${RGW_START_TIMEOUT:-120}
  read -r -a BUCKETS <<<"${RGW_BUCKETS:-s3files-test}"
  [ ${#BUCKETS[@]} -gt 0 ] || { echo "$PROG: RGW_BUCKETS is empty" >&2; exit 2; }
  local b
  for b in "${BUCKETS[@]}"; do
    valid_bucket "$b" || { echo "$PROG: invalid bucket name in RGW_BUCKETS: '$b'" >&2; exit 2; }
  done

  if [ -n "${RGW_PORT:-}" ]; then
    if ! [[ $RGW_PORT =~ ^[1-9][0-9]{0,4}$ ]] || [ "$RGW_PORT" -gt 65535 ]; then
      echo "$PROG: RGW_PORT is not a port number: '$RGW_PORT'" >&2; exit 2
    fi
  fi

  # One start/stop at a time per DIR (suites may share a cluster).
  exec 9>"$D/.lock"
  flock -w "$TIMEOUT" 9 || { echo "$PROG: $D is locked by another rgw.sh" >&2; exit 1; }

  # Files with the keys from a cluster made before they were kept private.
  chmod 0600 "$STATE" "$LOGD/user-create.out" "$D/env" "$D/s3cfg" 2>/dev/null || true

  local t0; t0=$(now_ms)
  T0=$t0   # (after the lock wait)
  DEADLINE=$(( t0 + TIMEOUT * 1000 ))
  phase "start $D"
  state_load

  # Already running (with the requested port, if any)?
  if [ "${ST[CREATED]:-}" = 1 ] && { [ -z "${RGW_PORT:-}" ] || [ "$RGW_PORT" = "${ST[RGW_PORT]}" ]; } &&
     daemon_alive mon && daemon_alive osd && daemon_alive rgw && endpoint_answers; then
    log "already running"
  else
    # Whatever part of it runs (a crashed daemon, a port change) is restarted cleanly.
    stop_all || fail "could not stop the running daemons"
    if [ -n "${RGW_PORT:-}" ] && port_listening "$RGW_PORT"; then
      fail "RGW_PORT $RGW_PORT is in use: $(ss -Htlnp "sport = :$RGW_PORT" | head -n 1)"
    fi
    if [ "${ST[CREATED]:-}" = 1 ] && [ -f "$D/osd/mkfs_done" ] && [ -d "$D/mon/store.db" ]; then
      log "restarting the cluster in $D"
      # The mon's port is recorded in its monmap. If something else took it meanwhile,
      # move the mon to a new port (rewrite and inject the monmap).
      if port_listening "${ST[MON_PORT]}"; then
        ST[MON_PORT]=$(pick_port)
        log "mon port taken; moving the mon to ${ST[MON_PORT]}"
        monmaptool --create --clobber --fsid "${ST[FSID]}" \
          --addv "$MON_ID" "[v2:127.0.0.1:${ST[MON_PORT]}]" "$D/monmap" >"$LOGD/mkfs.out" 2>&1 ||
          fail "monmaptool failed" mkfs
        ceph-mon -c "$CONF" -i "$MON_ID" --inject-monmap "$D/monmap" >>"$LOGD/mkfs.out" 2>&1 ||
          fail "ceph-mon --inject-monmap failed" mkfs mon
      fi
      if [ -n "${RGW_PORT:-}" ]; then ST[RGW_PORT]=$RGW_PORT
      elif port_listening "${ST[RGW_PORT]}"; then ST[RGW_PORT]=$(pick_port)
      fi
      state_save
      write_conf
      launch mon ceph-mon -c "$CONF" -i "$MON_ID" -f
      # rgw and osd only find the mon at their first attempt if it already listens
      # (the next attempt comes seconds later).
      wait_for "mon listening on 127.0.0.1:${ST[MON_PORT]}" mon port_listening "${ST[MON_PORT]}"
      phase "mon listening"
    else
      create
    fi
    if port_listening "${ST[RGW_PORT]}"; then
      fail "port ${ST[RGW_PORT]} for the S3 endpoint is in use"
    fi
    # rgw starts alongside the OSD: its initialisation waits for the OSD by itself.
    launch osd ceph-osd -c "$CONF" -i "$OSD_ID" -f
    launch rgw radosgw -c "$CONF" -n "$RGW_NAME" -f
    wait_for "S3 endpoint http://127.0.0.1:${ST[RGW_PORT]}/ answering" "mon osd rgw" endpoint_answers
    phase "endpoint answers"
  fi

  if [ "${ST[CREATED]:-}" != 1 ]; then
    # radosgw-admin makes the keys (never on a command line) and prints them in its JSON;
    # a user left by an interrupted start is asked for its keys instead.
    local out=$LOGD/user-create.out keys
    (umask 077; : >"$out")
    if ! radosgw-admin -c "$CONF" user create --uid "$USER_UID" --display-name "s3files tests" \
         >"$out" 2>"$LOGD/user-create.err"; then
      radosgw-admin -c "$CONF" user info --uid "$USER_UID" >"$out" 2>>"$LOGD/user-create.err" ||
        fail "radosgw-admin user create failed" user-create rgw
    fi
    keys=$(user_keys "$out") || fail "radosgw-admin gave no S3 key" user-create rgw
    read -r "ST[ACCESS_KEY]" "ST[SECRET_KEY]" <<<"$keys"
    ST[CREATED]=1
    state_save
    phase "user created"
  fi
  for b in "${BUCKETS[@]}" "$PROBE_BUCKET"; do
    make_bucket "$b" 2>"$LOGD/mkbucket.out" || fail "creating bucket $b failed" mkbucket rgw
  done
  phase "buckets created"
  wait_for "a signed PUT+GET+DELETE in bucket $PROBE_BUCKET" "mon osd rgw" probe "$PROBE_BUCKET"
  phase "probe ok"

  write_env
  log "ready in $(( $(now_ms) - t0 )) ms: S3 at http://127.0.0.1:${ST[RGW_PORT]} (logs: $LOGD)"
  cat "$D/env"
}

cmd_stop() {
  set_dir "$1"
  [ -d "$RUN" ] || return 0
  exec 9>"$D/.lock"
  flock -w 60 9 || { echo "$PROG: $D is locked by another rgw.sh" >&2; exit 1; }
  stop_all
}

cmd_status() {
  set_dir "$1"
  state_load
  [ "${ST[CREATED]:-}" = 1 ] || { echo "no cluster in $D" >&2; return 1; }
  local n ok=0
  for n in mon osd rgw; do
    if daemon_alive "$n"; then echo "$n: running (pid $(daemon_pid "$n"))"
    else echo "$n: not running"; ok=1; fi
  done
  if endpoint_answers; then echo "s3: http://127.0.0.1:${ST[RGW_PORT]} answers"
  else echo "s3: http://127.0.0.1:${ST[RGW_PORT]} does not answer"; ok=1; fi
  return $ok
}

need_running() {
  state_load
  [ "${ST[CREATED]:-}" = 1 ] || { echo "$PROG: no cluster in $D" >&2; exit 1; }
  daemon_alive rgw || { echo "$PROG: the cluster in $D is not running" >&2; exit 1; }
}

cmd_mkbucket() {
  set_dir "$1"
  [ -n "${2:-}" ] || usage
  need_running
  make_bucket "$2"
}

cmd_purge() {
  set_dir "$1"
  local b=${2:-}
  [ -n "$b" ] || usage
  need_running
  valid_bucket "$b" || { echo "$PROG: invalid bucket name: '$b'" >&2; exit 2; }
  # Deletes the bucket with all its objects straight from RADOS (no GC delay). Bucket
  # settings (versioning, notifications, policies) go with it.
  radosgw-admin -c "$CONF" bucket rm --bucket "$b" --purge-objects --bypass-gc \
    >"$LOGD/purge.out" 2>&1 || {
      # A bucket that does not exist is fine: it gets created below.
      grep -qiE 'no such|not found|\(2\)' "$LOGD/purge.out" || {
        echo "$PROG: radosgw-admin bucket rm $b failed:" >&2; tail -n 20 "$LOGD/purge.out" >&2; exit 1; }
    }
  # Also reclaim what earlier overwrites/deletes queued for the GC.
  radosgw-admin -c "$CONF" gc process --include-all >>"$LOGD/purge.out" 2>&1 || true
  make_bucket "$b"
}

CMD=${1:-}
case $CMD in
  start)    [ $# -eq 2 ] || usage; cmd_start "$2";;
  stop)     [ $# -eq 2 ] || usage; cmd_stop "$2";;
  status)   [ $# -eq 2 ] || usage; cmd_status "$2";;
  mkbucket) [ $# -eq 3 ] || usage; cmd_mkbucket "$2" "$3";;
  purge)    [ $# -eq 3 ] || usage; cmd_purge "$2" "$3";;
  admin)    [ $# -ge 2 ] || usage; set_dir "$2"; shift 2
            exec radosgw-admin -c "$CONF" "$@";;
  ceph)     [ $# -ge 2 ] || usage; set_dir "$2"; shift 2
            exec ceph -c "$CONF" --connect-timeout 20 "$@";;
  -h|--help|help) usage;;
  *) usage;;
esac
