# Shared helpers for shell tests. Source it; every test case reports exactly one line:
#   PASS <suite>/<case>            or
#   FAIL <suite>/<case>: <reason>
# test/run.sh counts these lines across all suites and prints "N passed, N failed".
# A suite exits non-zero when any of its cases failed.

: "${S3F_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${S3F_BUILD:=$S3F_ROOT/build}"
export S3F_ROOT S3F_BUILD

T_SUITE=${T_SUITE:-$(basename "$0" .sh)}
T_FAILED=0

t_pass() { printf 'PASS %s/%s\n' "$T_SUITE" "$1"; }
t_fail() { printf 'FAIL %s/%s: %s\n' "$T_SUITE" "$1" "${2:-failed}"; T_FAILED=$((T_FAILED + 1)); }

# t_step NAME CMD...: run CMD, PASS if it exits 0, else FAIL with its last output line.
t_step() {
  local name=$1; shift
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ $rc -eq 0 ]; then t_pass "$name"; else
    t_fail "$name" "exit $rc: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
  fi
  return $rc
}

# t_check NAME CMD...: run CMD with errexit on inside (its first failing command fails
# it), show its "# " lines, then PASS, or FAIL with its last other lines. Returns CMD's
# status. Works in suites with or without set -e.
t_check() {
  local name=$1 out rc e=0; shift
  case $- in *e*) e=1; set +e ;; esac
  out=$(set -e; "$@" 2>&1)
  rc=$?
  [ $e = 1 ] && set -e
  printf '%s\n' "$out" | grep '^# ' || true
  if [ $rc -eq 0 ]; then t_pass "$name"; else
    t_fail "$name" "exit $rc: $(printf '%s' "$out" | grep -v '^# ' | tail -n 3 | tr '\n' ' ')"
  fi
  return $rc
}

# t_ms: milliseconds since the epoch.
t_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# t_wait_ms LIMIT CMD...: retry CMD every 20 ms for up to LIMIT ms; WAITED = the ms it
# took (or waited in vain). For timings; t_wait_for is the coarse form.
t_wait_ms() {
  local limit=$1 t0; shift
  t0=$(t_ms)
  while :; do
    if "$@" >/dev/null 2>&1; then WAITED=$(( $(t_ms) - t0 )); return 0; fi
    [ $(( $(t_ms) - t0 )) -ge "$limit" ] && { WAITED=$(( $(t_ms) - t0 )); return 1; }
    sleep 0.02
  done
}

# t_done: call at the end of a suite.
t_done() { [ "$T_FAILED" -eq 0 ]; exit $?; }

. "$S3F_ROOT/test/lib/ports.sh"
# t_free_port: print a TCP port on 127.0.0.1 that nothing uses (ports.sh).
t_free_port() { pick_port; }

# t_wait_for SECONDS CMD...: retry CMD every 0.1 s until it succeeds or the time is up.
t_wait_for() {
  local secs=$1; shift
  local end=$(( $(date +%s%N) + secs * 1000000000 ))
  while [ "$(date +%s%N)" -lt $end ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# Test points across processes (core/base/tp.h). tp_dir DIR: the directory the daemon and the
# FSAL read S3F_TP_DIR from (call before the stack starts). tp_hold NAME: the next process to
# reach NAME stops there; tp_reached NAME: true once one has; tp_release NAME: let it go.
# tp_delay NAME MS: every pass through NAME sleeps MS (0: no more). tp_release_all: for
# cleanup traps, so that nothing stays held when a suite stops early.
tp_dir() { export S3F_TP_DIR=$1; mkdir -p "$1"; }
tp_hold() { rm -f "$S3F_TP_DIR/$1.reached"; : >"$S3F_TP_DIR/$1.pause"; }
tp_release() { rm -f "$S3F_TP_DIR/$1.pause"; }
tp_reached() { [ -e "$S3F_TP_DIR/$1.reached" ]; }
tp_delay() {
  if [ "$2" -gt 0 ]; then echo "$2" >"$S3F_TP_DIR/$1.delay"; else rm -f "$S3F_TP_DIR/$1.delay"; fi
}
tp_release_all() {
  [ -n "${S3F_TP_DIR:-}" ] && rm -f "$S3F_TP_DIR"/*.pause "$S3F_TP_DIR"/*.delay
  return 0
}

# Host side of the guest's host_signal/host_wait (test/vm/run-guest.sh --rendezvous DIR).
# vm_rv_wait DIR NAME [SEC]: wait until the guest signalled NAME (default 300 s).
vm_rv_wait() {
  local end=$(( $(date +%s) + ${3:-300} ))
  while [ ! -e "$1/$2.sig" ]; do
    [ "$(date +%s)" -ge "$end" ] && return 1
    sleep 0.1
  done
}
# vm_rv_ack DIR NAME: let the guest go on past host_wait NAME.
vm_rv_ack() { : > "$1/$2.ack"; }
