# shellcheck shell=sh disable=SC3043  # busybox ash: "local" exists
# /lib/guest.sh: helpers for guest scripts run by test/vm/run-guest.sh (busybox sh).
# Sourced before the script; the script's own env (--env K=V) is sourced after it.
#
#   step NAME CMD...         run CMD (in this shell: a function may set variables or cd);
#                            its output goes to the log; reports STEP-OK NAME or
#                            STEP-FAIL NAME: rc=N <last output line>. Returns CMD's rc.
#   note TEXT                report "NOTE TEXT" (run-guest prints it as "# TEXT")
#   nfs_mount [OPTS] EXPORT MNT
#                            mount 10.0.2.2:EXPORT (NFSv4.1, port $NFS_PORT) on MNT; OPTS are
#                            appended to the defaults (e.g. "hard,timeo=50" or "noac").
#                            Retries for $NFS_MOUNT_WAIT seconds (default 30).
#   host_run CMD...          run a host program: chroot /host CMD... (the host's / is shared
#                            read-only as /host; guest /proc /sys /dev /tmp /mnt are bound into it,
#                            so paths under /tmp and /mnt are the same inside and outside; /tmp
#                            shows the host's /tmp with a guest-only writable layer on top)
#   now_ms                   print the wall clock in milliseconds (clock synced from the host)
#   elapsed_ms START_MS      print now_ms - START_MS
#   mtime_ms FILE            print FILE's mtime in milliseconds
#   host_now_ms              the host's clock in ms (mtime of a file created on the ctl share)
#   clock_sync               set the guest clock from the host's again (init does it at boot)
#   fail TEXT                print TEXT to stderr and return 1 (for use inside step functions)
#   host_signal NAME         tell the host test that the guest reached point NAME (creates
#                            /ctl/rv/NAME.sig; the host waits with vm_rv_wait, see run-guest.sh)
#   host_wait NAME [SEC]     wait (default 120 s) until the host answered NAME (vm_rv_ack:
#                            /ctl/rv/NAME.ack exists); returns 1 on timeout
#
# Each helper is also a command (/bin/<name>), so it works in child shells too, e.g.
#   step skew sh -c 'echo $(( $(now_ms) - $(host_now_ms) ))'
#
# The host is 10.0.2.2 (qemu user networking maps it to the host's 127.0.0.1); the guest is
# 10.0.2.15. Use --env to pass ports etc.

S3F_HOST_IP=10.0.2.2
S3F_GUEST_IP=10.0.2.15

_s3f_say() {
  echo "$*" > /dev/console
  [ -c /dev/hvc0 ] && echo "$*" > /dev/hvc0
  return 0
}

note() { _s3f_say "NOTE $*"; }

fail() { echo "$*" >&2; return 1; }

now_ms() {
  if [ -x /bin/s3f-guest-util ]; then s3f-guest-util now-ms
  else echo $(( $(date +%s) * 1000 )); fi
}

elapsed_ms() { echo $(( $(now_ms) - $1 )); }

mtime_ms() { s3f-guest-util mtime-ms "$1"; }

host_now_ms() {
  _s3f_f=/ctl/.now.$$
  : > "$_s3f_f" && s3f-guest-util mtime-ms "$_s3f_f"; _s3f_rc=$?
  rm -f "$_s3f_f"; return $_s3f_rc
}

clock_sync() {
  _s3f_f=/ctl/.clock.$$
  : > "$_s3f_f" && s3f-guest-util clock "$_s3f_f"; _s3f_rc=$?
  rm -f "$_s3f_f"; return $_s3f_rc
}

step() {
  local name out rc last
  name=$1; shift
  _s3f_n=$(( ${_s3f_n:-0} + 1 ))
  out=/tmp/.s3f-step.$$.$_s3f_n
  _s3f_say "STEP-START $name"
  "$@" > "$out" 2>&1
  rc=$?
  awk -v p="  [$name] " '{ print p $0 }' "$out" > /dev/console
  if [ $rc -eq 0 ]; then
    _s3f_say "STEP-OK $name"
  else
    last=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1 | cut -c1-300)
    _s3f_say "STEP-FAIL $name: rc=$rc${last:+ $last}"
    echo "$name" >> /tmp/.s3f-failed
  fi
  rm -f "$out"
  return $rc
}

nfs_mount() {
  _s3f_extra=
  if [ $# -ge 3 ]; then [ -n "$1" ] && _s3f_extra=",$1"; shift; fi
  _s3f_exp=$1 _s3f_mnt=$2
  [ -n "$NFS_PORT" ] || { echo "nfs_mount: NFS_PORT is not set (run-guest --env NFS_PORT=...)" >&2; return 2; }
  case "$_s3f_exp" in /*) ;; *) _s3f_exp=/$_s3f_exp ;; esac
  mkdir -p "$_s3f_mnt"
  _s3f_opts="vers=4.1,proto=tcp,port=$NFS_PORT,addr=$S3F_HOST_IP,clientaddr=$S3F_GUEST_IP$_s3f_extra"
  _s3f_end=$(( $(date +%s) + ${NFS_MOUNT_WAIT:-30} ))
  while :; do
    if [ -x /bin/s3f-guest-util ]; then
      s3f-guest-util mount "$S3F_HOST_IP:$_s3f_exp" "$_s3f_mnt" nfs4 "$_s3f_opts" && return 0
    else
      mount -t nfs4 -o "$_s3f_opts" "$S3F_HOST_IP:$_s3f_exp" "$_s3f_mnt" && return 0
    fi
    [ "$(date +%s)" -ge "$_s3f_end" ] && { echo "nfs_mount: gave up on $_s3f_exp after ${NFS_MOUNT_WAIT:-30}s" >&2; return 32; }
    sleep 0.5
  done
}

host_run() { chroot /host "$@"; }

host_signal() { mkdir -p /ctl/rv && : > "/ctl/rv/$1.sig"; }

host_wait() {
  _s3f_end=$(( $(date +%s) + ${2:-120} ))
  while [ ! -e "/ctl/rv/$1.ack" ]; do
    [ "$(date +%s)" -ge "$_s3f_end" ] && { echo "host_wait: no answer to $1" >&2; return 1; }
    sleep 0.1
  done
}
