#!/usr/bin/env bash
# deploy: the pieces that start s3files outside the test harness, run for real against
# the test RGW (packaging/s3files-genconf, s3files-syncd's sd_notify readiness, and the
# container entrypoint packaging/container/entrypoint).
#
#   genconf     renders a ganesha.conf that s3filesctl config-check accepts from the
#               example s3files.conf; reports a bad line with file, line and setting (type
#               errors of its own, and the range errors of the settings table mapped back
#               from the rendered file); S3FILES_* variables win over the file and name
#               themselves in errors; an operator's own ganesha.conf is left alone, a
#               generated one is rewritten.
#   sd_notify   s3files-syncd (the ASan/UBSan build) sends READY=1 to $NOTIFY_SOCKET (path
#               and abstract address)
#               only when its control socket already answers, and STOPPING=1 on SIGTERM.
#   entrypoint  starts the daemon then ganesha; SIGHUP reaches ganesha; on SIGTERM ganesha
#               stops first, then a file written through NFS (commit interval one hour)
#               is in S3 with its bytes before the entrypoint exits 0; with S3 gone the
#               drain gives up after S3FILES_DRAIN_TIMEOUT and exits 3 in bounded time;
#               kill -9 of ganesha or of the daemon makes it stop the other and exit 2;
#               a bad setting exits 1 before starting anything.
set -uo pipefail
T_SUITE=deploy
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup deploy
GENCONF=$S3F_ROOT/packaging/s3files-genconf
EP=$S3F_ROOT/packaging/container/entrypoint
export S3FILESCTL=$S3F_BUILD/bin/s3filesctl
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -KILL $(ps -o pid= --ppid "$p") "$p" 2>/dev/null; done
  return 0
}
trap cleanup EXIT

# ---------------------------------------------------------------- genconf
G=$WORK/gen
mkdir -p "$G"
if "$GENCONF" -c "$S3F_ROOT/packaging/examples/s3files.conf" -o "$G/example.conf" 2>"$G/ex.err" &&
   "$S3FILESCTL" -f "$G/example.conf" config-check >/dev/null 2>&1 &&
   grep -q 'Bucket = "my-bucket";' "$G/example.conf" &&
   grep -q 'Clients = 10.0.0.0/8;' "$G/example.conf"; then
  t_pass genconf_example_valid
else
  t_fail genconf_example_valid "$(tr '\n' ' ' <"$G/ex.err")"
fi

# The s3files.conf that the cloud-init example writes is valid too.
awk '/path: \/etc\/s3files\/s3files.conf/ { f = 1 } f && /content: \|/ { c = 1; next }
     c && /^      [^ ]/ { sub(/^      /, ""); print; next } c { exit }' \
  "$S3F_ROOT/packaging/examples/cloud-init.yaml" >"$G/cloud-init.conf"
if grep -q '^bucket = ' "$G/cloud-init.conf" &&
   "$GENCONF" -n -c "$G/cloud-init.conf" >"$G/ci.out" 2>&1; then
  t_pass genconf_cloud_init_example_valid
else
  t_fail genconf_cloud_init_example_valid "$(head -c 300 "$G/cloud-init.conf" | tr '\n' ' '): $(tr '\n' ' ' <"$G/ci.out")"
fi

# gen_err NAME FILE-TEXT EXPECTED-GREP: rendering fails (exit 1) naming EXPECTED.
gen_err() {
  local name=$1 f=$G/$1.conf out rc
  printf '%s\n' "$2" >"$f"
  out=$("$GENCONF" -c "$f" -o "$G/$name.out" 2>&1); rc=$?
  if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -qF -- "${3//@F@/$f}" && [ ! -e "$G/$name.out" ]; then
    t_pass "$name"
  else
    t_fail "$name" "rc=$rc, want '${3//@F@/$f}' in: $(printf '%s' "$out" | tr '\n' ' ')"
  fi
}
gen_err genconf_bad_number $'# comment\nbucket = bkt\n\ncommit_interval = soon' \
  '@F@:4: commit_interval: "soon" is not a number'
gen_err genconf_bad_bool $'bucket = bkt\ncommit_on_close = maybe' '@F@:2: commit_on_close: "maybe" is not a boolean'
gen_err genconf_range_from_table $'bucket = bkt\nregion = us-east-1\ncommit_interval = 0' \
  '@F@:3: commit_interval: 0 is below the minimum 1'
gen_err genconf_unknown_key $'bucket = bkt\nbukcet = c' '@F@:2: bukcet: unknown setting'
gen_err genconf_twice $'bucket = bkt\nbucket = c' '@F@:2: bucket: set twice (first at @F@:1)'
gen_err genconf_no_equals $'bucket = bkt\njust words' '@F@:2: just: expected "key = value"'
gen_err genconf_relative_path $'bucket = bkt\nstate_dir = var/x' '@F@:2: state_dir: "var/x" is not an absolute path'
gen_err genconf_bad_listen $'bucket = bkt\nmetrics_listen = 9100' '@F@:2: metrics_listen: "9100" is not host:port'
gen_err genconf_bucket_required $'region = us-east-1' 'bucket: required'

# The credential provider, STS endpoint and syslog socket are rendered where the
# settings table has them, and accepted by config-check.
printf 'bucket = bkt\ncredentials_provider = container\nsts_endpoint = https://sts.example.net\nsyslog = /dev/log\n' >"$G/cred.conf"
if "$GENCONF" -c "$G/cred.conf" -o "$G/cred.out" 2>"$G/cred.err" &&
   "$S3FILESCTL" -f "$G/cred.out" config-check >/dev/null 2>&1 &&
   grep -q 'Credentials_Provider = container;' "$G/cred.out" &&
   grep -q 'STS_Endpoint = "https://sts.example.net";' "$G/cred.out" &&
   grep -q 'Syslog = "/dev/log";' "$G/cred.out"; then
  t_pass genconf_credentials_and_syslog
else
  t_fail genconf_credentials_and_syslog "$(tr '\n' ' ' <"$G/cred.err") $(grep -i 'credentials_provider\|sts\|syslog' "$G/cred.out" 2>/dev/null | tr '\n' ' ')"
fi
gen_err genconf_bad_provider $'bucket = bkt\ncredentials_provider = magic' '@F@:2: credentials_provider:'

# Failover settings: the RADOS recovery backend and its RADOS_KV block (doc/DEPLOY.md,
# Failover), rendered and accepted by config-check; the settings that belong together
# are refused apart.
printf 'bucket = bkt\nrecovery_backend = rados_cluster\nrados_pool = nfs-recov\nrados_namespace = gw\nrados_nodeid = gw-a\nrados_ceph_conf = /etc/ceph/ceph.conf\nrados_userid = ganesha\ngrace_period = 30\ngraceless = false\n' >"$G/recov.conf"
if "$GENCONF" -c "$G/recov.conf" -o "$G/recov.out" 2>"$G/recov.err" &&
   "$S3FILESCTL" -f "$G/recov.out" config-check >/dev/null 2>&1 &&
   grep -q 'RecoveryBackend = rados_cluster;' "$G/recov.out" &&
   grep -q 'Grace_Period = 30;' "$G/recov.out" &&
   [ "$(sed -n '/^RADOS_KV {/,/^}/p' "$G/recov.out" | tr -d '\t\n')" = \
     'RADOS_KV {ceph_conf = "/etc/ceph/ceph.conf";userid = "ganesha";pool = "nfs-recov";namespace = "gw";nodeid = "gw-a";}' ] &&
   ! grep -q RecoveryRoot "$G/recov.out"; then
  t_pass genconf_rados_recovery
else
  t_fail genconf_rados_recovery "$(tr '\n' ' ' <"$G/recov.err") $(sed -n '/^NFSV4/,/^}/p;/^RADOS_KV/,/^}/p' "$G/recov.out" 2>/dev/null | tr '\n\t' '  ')"
fi
gen_err genconf_bad_recovery_backend $'bucket = bkt\nrecovery_backend = nfs' \
  '@F@:2: recovery_backend: "nfs" is not one of fs, fs_ng, rados_kv, rados_ng, rados_cluster'
gen_err genconf_rados_without_backend $'bucket = bkt\nrados_pool = p' \
  '@F@:2: rados_pool: only with recovery_backend rados_kv, rados_ng or rados_cluster (it is fs)'
gen_err genconf_cluster_needs_nodeid $'bucket = bkt\nrecovery_backend = rados_cluster' \
  '@F@:2: recovery_backend: rados_cluster needs rados_nodeid'
gen_err genconf_recovery_dir_not_rados $'bucket = bkt\nrecovery_backend = rados_ng\nrecovery_dir = /var/lib/x' \
  '@F@:3: recovery_dir: only with recovery_backend fs or fs_ng (it is "rados_ng")'
gen_err genconf_bad_nodeid $'bucket = bkt\nrecovery_backend = rados_cluster\nrados_nodeid = gw a' \
  '@F@:3: rados_nodeid: "gw a": only letters, digits and _.:-'

# The environment wins over the file, and names itself in errors.
printf 'bucket = bkt\ncommit_interval = 60\n' >"$G/env.conf"
if S3FILES_COMMIT_INTERVAL=7 S3FILES_BUCKET=fromenv "$GENCONF" -c "$G/env.conf" >"$G/env.out" 2>&1 &&
   grep -q 'Commit_Interval = 7;' "$G/env.out" && grep -q 'Bucket = "fromenv";' "$G/env.out"; then
  t_pass genconf_env_overrides
else
  t_fail genconf_env_overrides "$(head -n 3 "$G/env.out" | tr '\n' ' ')"
fi
out=$(S3FILES_NFS_PORT=20x9 "$GENCONF" -c "$G/env.conf" 2>&1 >/dev/null)
case $out in
  *'environment: S3FILES_NFS_PORT: nfs_port: "20x9" is not a number'*) t_pass genconf_env_error_named ;;
  *) t_fail genconf_env_error_named "$out" ;;
esac
# Only the environment (a container): no file needed; with nothing at all, the file is named.
if S3FILES_BUCKET=onlyenv "$GENCONF" -c "$G/no-such-dir/s3files.conf" -n 2>/dev/null; then
  out=$("$GENCONF" -c "$G/no-such-dir/s3files.conf" -n 2>&1)
  case $out in
    *"$G/no-such-dir/s3files.conf: bucket: required"*) t_pass genconf_environment_only ;;
    *) t_fail genconf_environment_only "without S3FILES_BUCKET: $out" ;;
  esac
else
  t_fail genconf_environment_only "S3FILES_BUCKET alone, no file, was refused"
fi

# An operator's own ganesha.conf wins; a generated one is rewritten.
cp "$S3F_ROOT/conf/ganesha.conf.example" "$G/own.conf"
sum=$(sha256sum <"$G/own.conf")
if "$GENCONF" -c "$G/env.conf" -o "$G/own.conf" 2>"$G/own.err" && [ "$(sha256sum <"$G/own.conf")" = "$sum" ] &&
   grep -q 'not generated by s3files-genconf: using it as it is' "$G/own.err"; then
  t_pass genconf_operator_file_wins
else
  t_fail genconf_operator_file_wins "$(tr '\n' ' ' <"$G/own.err")"
fi
"$GENCONF" -c "$G/env.conf" -o "$G/regen.conf" 2>/dev/null
printf 'bucket = bkt\ncommit_interval = 9\n' >"$G/env2.conf"
if "$GENCONF" -c "$G/env2.conf" -o "$G/regen.conf" 2>/dev/null && grep -q 'Commit_Interval = 9;' "$G/regen.conf"; then
  t_pass genconf_regenerates
else
  t_fail genconf_regenerates "$(grep Commit_Interval "$G/regen.conf")"
fi

# ---------------------------------------------------------------- the stack's settings
# s3files.conf-style environment for a gateway of this suite on free ports in DIR.
umask 077
cat >"$WORK/credentials" <<CREDS
[default]
aws_access_key_id = $AWS_ACCESS_KEY_ID
aws_secret_access_key = $AWS_SECRET_ACCESS_KEY
CREDS
umask 022
# gw_env DIR ENDPOINT: print the S3FILES_* assignments (one per line) of a gateway in DIR.
gw_env() {
  local d=$1
  mkdir -p "$d/recovery" "$d/state"
  cat <<ENV
S3FILES_BUCKET=$S3_BUCKET
S3FILES_PREFIX=$S3_PREFIX
S3FILES_ENDPOINT=$2
S3FILES_REGION=$S3_REGION
S3FILES_CREDENTIALS_FILE=$WORK/credentials
S3FILES_STATE_DIR=$d/state
S3FILES_CONTROL_SOCKET=$d/syncd.sock
S3FILES_COMMIT_INTERVAL=3600
S3FILES_CLIENTS=127.0.0.1
S3FILES_NFS_PORT=$(t_free_port)
S3FILES_BIND_ADDR=127.0.0.1
S3FILES_PLUGINS_DIR=$S3F_BUILD/lib
S3FILES_RECOVERY_DIR=$d/recovery
S3FILES_GRACELESS=true
S3FILES_DBUS_NAME_PREFIX=s3fdeploy$$x${d##*/}
S3FILES_MINOR_VERSIONS=0, 1
S3FILES_CONF=$d/ganesha.conf
S3FILES_CONFIG_FILE=$d/s3files.conf
S3FILES_RUN_DIR=$d/run
S3FILES_SYNCD_BIN=$S3F_BUILD/bin/s3files-syncd
S3FILES_CTL_BIN=$S3F_BUILD/bin/s3filesctl
S3FILES_GENCONF_BIN=$GENCONF
ENV
}
# env_run FILE CMD...: run CMD with the VAR=VALUE lines of FILE exported.
env_run() {
  local f=$1; shift
  ( while IFS= read -r l; do [ -n "$l" ] && export "$l"; done <"$f"; exec "$@" )
}

# ---------------------------------------------------------------- sd_notify
N=$WORK/notify
mkdir -p "$N"
gw_env "$N" "$S3_ENDPOINT" | sed 's/^S3FILES_DBUS_NAME_PREFIX=.*/&n/' >"$N/env"
env_run "$N/env" "$GENCONF" -c "$N/s3files.conf" -o "$N/ganesha.conf" 2>"$N/gen.err" ||
  t_fail notify_setup "$(tr '\n' ' ' <"$N/gen.err")"
SYNCD_ASAN=$S3F_BUILD/asan/bin/s3files-syncd
[ -x "$SYNCD_ASAN" ] || t_fail sd_notify_asan_build "$SYNCD_ASAN missing: run make asan"
for kind in path abstract; do
  addr=$N/notify.sock
  [ $kind = abstract ] && addr=@s3files-test-notify-$$
  : >"$N/got.$kind"
  python3 "$S3F_ROOT/test/lib/notify_listen.py" "$addr" "$N/got.$kind" >"$N/listen.$kind" 2>&1 &
  lp=$!; PIDS+=("$lp")
  t_wait_for 10 grep -q listening "$N/listen.$kind"
  # The sanitizer build: a leak or an error in the notify path fails the exit status below.
  NOTIFY_SOCKET=$addr "$SYNCD_ASAN" -f "$N/ganesha.conf" -L "$N/syncd.$kind.log" &
  sp=$!; PIDS+=("$sp")
  # The moment READY=1 arrives, the control socket must already answer.
  if t_wait_for 60 grep -q 'READY=1' "$N/got.$kind" &&
     "$S3FILESCTL" -f "$N/ganesha.conf" status >"$N/status.$kind" 2>&1 &&
     grep -q '^EXPORT id=1 ' "$N/status.$kind"; then
    t_pass "sd_notify_ready_$kind"
  else
    t_fail "sd_notify_ready_$kind" "got '$(tr '\n' ' ' <"$N/got.$kind")'; $(tail -n 3 "$N/syncd.$kind.log" | tr '\n' ' ')"
  fi
  kill -TERM "$sp"; wait "$sp"; src=$?
  if [ $src -eq 0 ] && t_wait_for 5 grep -q 'STOPPING=1' "$N/got.$kind"; then
    t_pass "sd_notify_stopping_$kind"
  else
    t_fail "sd_notify_stopping_$kind" "exit $src, got '$(tr '\n' ' ' <"$N/got.$kind")'"
  fi
  kill "$lp" 2>/dev/null; wait "$lp" 2>/dev/null
done

# ---------------------------------------------------------------- entrypoint
# ep_start NAME ENDPOINT [VAR=VALUE...]: start the entrypoint for a gateway in $WORK/NAME
# (its own session), wait until ganesha serves the export; sets EPID, EPDIR, EPPORT.
ep_start() {
  local name=$1 endpoint=$2 i; shift 2
  EPDIR=$WORK/$name
  rm -rf "$EPDIR"; mkdir -p "$EPDIR"
  gw_env "$EPDIR" "$endpoint" >"$EPDIR/env"
  printf '%s\n' "$@" >>"$EPDIR/env"
  EPPORT=$(sed -n 's/^S3FILES_NFS_PORT=//p' "$EPDIR/env")
  # The subshell execs the entrypoint: $! is the entrypoint itself, which gets the signals.
  ( while IFS= read -r l; do [ -n "$l" ] && export "$l"; done <"$EPDIR/env"
    exec "$EP" ) </dev/null >"$EPDIR/ep.out" 2>&1 &
  EPID=$!; PIDS+=("$EPID")
  for i in $(seq 1 600); do
    kill -0 "$EPID" 2>/dev/null || return 1
    s3f__listening "$EPPORT" && grep -q "S3FILES: export 1 serves" "$EPDIR/ep.out" &&
      grep -q "NFS SERVER INITIALIZED" "$EPDIR/ep.out" && return 0
    sleep 0.1
  done
  return 1
}
# child NAME: pid of the entrypoint's child with this command name.
child() { ps -o pid=,comm= --ppid "$EPID" | awk -v c="$1" '$2 == c { print $1 }'; }
# ep_wait SECS: wait for the entrypoint to exit; EPRC its status, EPSECS the ms it took.
ep_wait() {
  local t0 i
  t0=$(date +%s%N)
  EPSECS=
  for i in $(seq 1 $(($1 * 10))); do kill -0 "$EPID" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$EPID" 2>/dev/null; then
    EPRC=timeout
    kill -KILL $(ps -o pid= --ppid "$EPID") "$EPID" 2>/dev/null; wait "$EPID"; return 1
  fi
  wait "$EPID"; EPRC=$?
  EPSECS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
nfs_url() { echo "nfs://127.0.0.1/s3files/$1?version=4&nfsport=$EPPORT"; }
ep_log() { grep entrypoint "$EPDIR/ep.out" | tail -n "${1:-4}" | tr '\n' ' '; }

# 1. start, SIGHUP, write, SIGTERM: drained into S3 before exit 0
# libnfs's NFSv4 WRITE fails above ~4 KiB (test/tools/s3f_nfs.c): small files
head -c 3000 /dev/urandom >"$WORK/data/f1"
if ep_start ep1 "$S3_ENDPOINT"; then
  t_pass entrypoint_starts
  gp=$(child ganesha.nfsd); sp=$(child s3files-syncd)
  l1=$(grep -n 's3files-syncd ready after' "$EPDIR/ep.out" | head -n 1 | cut -d: -f1)
  l2=$(grep -n 'ganesha.nfsd started' "$EPDIR/ep.out" | head -n 1 | cut -d: -f1)
  if [ -n "$l1" ] && [ -n "$l2" ] && [ "$l1" -lt "$l2" ]; then
    t_pass entrypoint_daemon_ready_first
  else
    t_fail entrypoint_daemon_ready_first "$(ep_log 6)"
  fi
  kill -HUP "$EPID"
  if t_wait_for 20 grep -q 'Received SIGHUP' "$EPDIR/ep.out" && [ "$(child ganesha.nfsd)" = "$gp" ]; then
    t_pass entrypoint_forwards_sighup
  else
    t_fail entrypoint_forwards_sighup "no SIGHUP line from ganesha: $(ep_log)"
  fi
  if nfs-cp "$WORK/data/f1" "$(nfs_url f1.bin)" >"$EPDIR/cp.out" 2>&1 &&
     ! s3_exists "$S3_BUCKET" "${S3_PREFIX}f1.bin"; then
    t_pass entrypoint_write_dirty
  else
    t_fail entrypoint_write_dirty "$(tr '\n' ' ' <"$EPDIR/cp.out")"
  fi
  kill -TERM "$EPID"
  if ep_wait 120 && [ "$EPRC" = 0 ]; then t_pass entrypoint_sigterm_exit_0
  else t_fail entrypoint_sigterm_exit_0 "rc=$EPRC: $(ep_log 5)"; fi
  echo "# SIGTERM to exit, draining a 3 KB file: ${EPSECS:-?} ms"
  if s3_get_file "$S3_BUCKET" "${S3_PREFIX}f1.bin" "$EPDIR/f1.got" 2>/dev/null &&
     cmp -s "$EPDIR/f1.got" "$WORK/data/f1"; then
    t_pass entrypoint_drained_to_s3
  else
    t_fail entrypoint_drained_to_s3 "${S3_PREFIX}f1.bin not in S3 with its bytes after exit"
  fi
  # ganesha gone before the drain began, and both processes gone at exit
  a=$(grep -n 'ganesha.nfsd stopped' "$EPDIR/ep.out" | cut -d: -f1)
  b=$(grep -n 'draining:' "$EPDIR/ep.out" | cut -d: -f1)
  if [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ] && ! kill -0 "$gp" 2>/dev/null &&
     ! kill -0 "$sp" 2>/dev/null; then
    t_pass entrypoint_stop_order
  else
    t_fail entrypoint_stop_order "ganesha stopped at line '$a', drain at '$b'"
  fi
else
  t_fail entrypoint_starts "$(tail -n 8 "$EPDIR/ep.out" | tr '\n' ' ')"
fi

# 2. S3 unreachable at stop: the drain gives up after S3FILES_DRAIN_TIMEOUT, exit 3
RPORT=$(t_free_port)
setsid socat "TCP-LISTEN:$RPORT,bind=127.0.0.1,reuseaddr,fork" "TCP:${S3_ENDPOINT#http://}" \
  </dev/null >/dev/null 2>&1 &
RELAY=$!; PIDS+=("$RELAY")
t_wait_for 10 s3f__listening "$RPORT"
head -c 3000 /dev/urandom >"$WORK/data/f2"
if ep_start ep2 "http://127.0.0.1:$RPORT" S3FILES_DRAIN_TIMEOUT=6 S3FILES_STOP_TIMEOUT=5; then
  nfs-cp "$WORK/data/f2" "$(nfs_url f2.bin)" >/dev/null 2>&1 || t_fail entrypoint_drain_bounded_write "nfs-cp f2 failed"
  kill -KILL -- "-$RELAY" 2>/dev/null; wait "$RELAY" 2>/dev/null
  kill -TERM "$EPID"
  # bound: ganesha's stop + drain + the daemon's stop = 5 + 6 + 5 s, plus slack
  if ep_wait 40 && [ "$EPRC" = 3 ] && [ "$EPSECS" -le 20000 ] && grep -q 'drain: ' "$EPDIR/ep.out"; then
    t_pass entrypoint_drain_bounded
  else
    t_fail entrypoint_drain_bounded "rc=$EPRC after ${EPSECS:-?} ms: $(ep_log)"
  fi
  echo "# SIGTERM to exit with S3 unreachable (drain timeout 6 s): ${EPSECS:-?} ms"
else
  t_fail entrypoint_drain_bounded "start: $(tail -n 5 "$EPDIR/ep.out" | tr '\n' ' ')"
fi

# 3. a child killed: the other one is stopped, exit 2
for victim in ganesha.nfsd s3files-syncd; do
  short=${victim%%[.-]*}
  name=entrypoint_exits_when_${short}_dies
  if ep_start "ep-$short" "$S3_ENDPOINT" S3FILES_STOP_TIMEOUT=5; then
    if [ $victim = ganesha.nfsd ]; then other=$(child s3files-syncd); else other=$(child ganesha.nfsd); fi
    kill -KILL "$(child $victim)"
    if ep_wait 60 && [ "$EPRC" = 2 ] && ! kill -0 "$other" 2>/dev/null &&
       grep -q "$victim exited unexpectedly" "$EPDIR/ep.out"; then
      t_pass "$name"
    else
      t_fail "$name" "rc=$EPRC: $(ep_log)"
    fi
  else
    t_fail "$name" "start: $(tail -n 5 "$EPDIR/ep.out" | tr '\n' ' ')"
  fi
done

# 4. a bad setting: exit 1, nothing started
EPDIR=$WORK/ep-bad; mkdir -p "$EPDIR"
gw_env "$EPDIR" "$S3_ENDPOINT" >"$EPDIR/env"; echo S3FILES_COMMIT_INTERVAL=never >>"$EPDIR/env"
env_run "$EPDIR/env" "$EP" </dev/null >"$EPDIR/ep.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q 'S3FILES_COMMIT_INTERVAL: commit_interval: "never" is not a number' "$EPDIR/ep.out" &&
   [ ! -e "$EPDIR/syncd.sock" ]; then
  t_pass entrypoint_bad_setting
else
  t_fail entrypoint_bad_setting "rc=$rc: $(tr '\n' ' ' <"$EPDIR/ep.out")"
fi

t_done
