#!/usr/bin/env bash
# run-guest.sh: boot the test guest (Debian kernel + busybox initramfs, qemu TCG) and run a
# /bin/sh script in it. The guest is a real Linux NFSv4.1 client for the host's servers.
#
# usage: run-guest.sh --script FILE [options]
#   --script FILE    busybox sh script run in the guest (required), with /lib/guest.sh sourced:
#                    step NAME CMD... | note TEXT | nfs_mount [OPTS] EXPORT MNT | host_run CMD...
#                    | now_ms | elapsed_ms T0 | fail TEXT      (see test/vm/README.md)
#   --suite NAME     suite name for the PASS/FAIL lines (default: vm)
#   --env K=V        exported in the guest before the script (repeatable)
#   --share DIR      host dir shared read-only as /host (default: /, so `chroot /host PROG`
#                    runs host-built programs; see host_run)
#   --timeout SEC    kill qemu after SEC seconds (default 300): prints FAIL, exits 124
#   --mem MB         guest memory (default 1024)
#   --smp N          guest CPUs (default 1)
#   --log FILE       full console log (kernel + init + script output) to FILE
#   --append ARGS    extra kernel command line
#   --rendezvous DIR host side of host_signal/host_wait: DIR is created and shared with the
#                    guest as /ctl/rv; the host test waits for DIR/NAME.sig (vm_rv_wait in
#                    test/lib/common.sh), acts (restart a server, ...), then creates
#                    DIR/NAME.ack (vm_rv_ack) to let the guest go on
#   --vm-dir DIR     where build-guest.sh put vmlinux + initramfs.cpio (default:
#                    $S3F_VM_DIR or <repo>/build/vm; built on first use)
#
# stdout: "PASS <suite>/<step>" / "FAIL <suite>/<step>: <reason>" per step, "# <text>" per note
# (and "# boot: ..." with the boot time). Guest-level failures (timeout, kernel panic, no
# GUEST-DONE, script rc != 0 without a failed step) are a "FAIL <suite>/guest: ..." line.
# On failure the last 40 console lines go to stderr.
# Exit: the guest script's rc (1 if it was 0 but a step failed); 124 on timeout; 125 when the
# guest never reported GUEST-DONE (qemu error, kernel panic, ...); 2 on usage errors.
#
# Each run has its own temp dir and qemu user networking (no host ports), so several guests
# can run at once. The guest reaches the host's 127.0.0.1 as 10.0.2.2.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

SCRIPT='' SUITE=vm SHARE=/ TIMEOUT=300 MEM=1024 SMP=1 LOG='' APPEND='' RV=''
VMDIR=${S3F_VM_DIR:-${S3F_BUILD:-$ROOT/build}/vm}
ENVS=()
usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --script)  SCRIPT=$2; shift 2 ;;
    --suite)   SUITE=$2; shift 2 ;;
    --env)     ENVS+=("$2"); shift 2 ;;
    --share)   SHARE=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --mem)     MEM=$2; shift 2 ;;
    --smp)     SMP=$2; shift 2 ;;
    --log)     LOG=$2; shift 2 ;;
    --append)  APPEND=$2; shift 2 ;;
    --rendezvous) RV=$2; shift 2 ;;
    --vm-dir)  VMDIR=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "run-guest: unknown option $1" >&2; usage ;;
  esac
done
err() { printf 'run-guest: %s\n' "$*" >&2; }
[ -n "$SCRIPT" ] && [ -f "$SCRIPT" ] || { err "--script FILE is required (got '${SCRIPT}')"; exit 2; }
[ -d "$SHARE" ] || { err "--share $SHARE: not a directory"; exit 2; }
for n in "$TIMEOUT" "$MEM" "$SMP"; do
  case "$n" in ''|*[!0-9]*) err "not a number: $n"; exit 2 ;; esac
done
[ "$SMP" -ge 1 ] && [ "$SMP" -le 16 ] || { err "--smp $SMP: 1..16 (TCG: every vCPU is a host thread)"; exit 2; }
[ "$MEM" -ge 128 ] || { err "--mem $MEM: at least 128 MB"; exit 2; }
[ "$TIMEOUT" -ge 1 ] || { err "--timeout must be >= 1"; exit 2; }

# ---- the guest image ----
if [ ! -f "$VMDIR/vmlinux" ] || [ ! -f "$VMDIR/initramfs.cpio" ] || [ ! -x "$VMDIR/tsc-khz" ]; then
  "$HERE/build-guest.sh" "$VMDIR" >&2 || { err "build-guest.sh failed"; exit 125; }
fi
QEMU=${S3F_QEMU:-qemu-system-x86_64}
command -v "$QEMU" >/dev/null || { err "$QEMU not found (apt-get install qemu-system-x86)"; exit 125; }
BIOS=/usr/share/qemu/qboot.rom

# ---- per-run state ----
TMP=$(mktemp -d "${TMPDIR:-/tmp}/s3f-vm.XXXXXX") || exit 125
CTL=$TMP/ctl
mkdir -p "$CTL"
cp "$SCRIPT" "$CTL/script.sh"
if [ -n "$RV" ]; then
  # The guest sees it as /ctl/rv: a directory inside the ctl share, reached from the host
  # through a symlink at the caller's path (9p does not follow host symlinks out of a share).
  { [ ! -L "$RV" ] || rm -f "$RV"; } && [ ! -e "$RV" ] && mkdir -p "$CTL/rv" "$(dirname "$RV")" &&
    ln -s "$CTL/rv" "$RV" ||
    { err "--rendezvous $RV: cannot set up"; rm -rf "$TMP"; exit 2; }
fi
{
  echo "# written by run-guest.sh"
  for kv in "${ENVS[@]}"; do
    k=${kv%%=*} v=${kv#*=}
    case "$k" in ''|[0-9]*|*[!A-Za-z0-9_]*) err "--env $kv: bad name"; rm -rf "$TMP"; exit 2 ;; esac
    [ "$k" = "$kv" ] && v=
    printf "export %s='%s'\n" "$k" "$(printf '%s' "$v" | sed "s/'/'\\\\''/g")"
  done
} > "$CTL/env"
if [ -n "$LOG" ]; then
  mkdir -p "$(dirname "$LOG")"; : > "$LOG" || exit 2
  LOG=$(cd "$(dirname "$LOG")" && pwd)/$(basename "$LOG")
else
  LOG=$TMP/console.log
fi
FIFO=$TMP/results
mkfifo "$FIFO"

# Under TCG the guest's TSC is the host's: tell the guest kernel its frequency (see tsc-khz.c).
KHZ=$("$VMDIR/tsc-khz" 2>/dev/null) || KHZ=
[ -n "$KHZ" ] || KHZ=$(awk -F: '/^cpu MHz/{printf "%d", $2 * 1000; exit}' /proc/cpuinfo)
CMDLINE="console=ttyS0 quiet panic=-1 oops=panic pci=off tsc=reliable ${KHZ:+tsc_early_khz=$KHZ}"
# Debian's defaults that cost a lot under TCG: zeroing every allocation, crypto self-tests.
CMDLINE+=" 8250.nr_uarts=1 init_on_alloc=0 cryptomgr.notests s3f.epoch=$(date +%s) $APPEND"

ACCEL=tcg
[ "$SMP" -gt 1 ] && ACCEL=tcg,thread=multi
q() { printf '%s' "${1//,/,,}"; }   # a literal comma in a qemu option value is ",,"
# shellcheck disable=SC2054  # commas are qemu option syntax
QARGS=(
  -name s3f-guest -M microvm,rtc=on -accel "$ACCEL" -cpu "${S3F_VM_CPU:-max}" -m "$MEM" -smp "$SMP"
  -nodefaults -no-user-config -display none -no-reboot
  -bios "$BIOS" -kernel "$VMDIR/vmlinux" -initrd "$VMDIR/initramfs.cpio" -append "$CMDLINE"
  -chardev "file,id=con,path=$(q "$LOG")" -serial chardev:con
  -device virtio-serial-device -chardev stdio,id=res,signal=off -device virtconsole,chardev=res
  -netdev user,id=n0 -device virtio-net-device,netdev=n0
  -fsdev "local,id=fsh,path=$(q "$SHARE"),security_model=none,readonly=on,multidevs=remap"
  -device virtio-9p-device,fsdev=fsh,mount_tag=host
  -fsdev "local,id=fsc,path=$(q "$CTL"),security_model=none,multidevs=remap"
  -device virtio-9p-device,fsdev=fsc,mount_tag=ctl
)

QPID=
cleanup() {
  if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
    kill "$QPID" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$QPID" 2>/dev/null
    wait "$QPID" 2>/dev/null
  fi
  exec 3<&- 2>/dev/null
  [ -n "$RV" ] && [ -L "$RV" ] && rm -f "$RV"
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'err "interrupted"; exit 130' INT TERM HUP

now_ms() { local t; t=$(date +%s%N); echo $(( t / 1000000 )); }
T_START=$(now_ms)
DEADLINE=$(( T_START + TIMEOUT * 1000 ))

# qemu's stdout (the hvc0 result channel) is the fifo; the child blocks in open() until we
# open the read end, then execs qemu, so $! is qemu's pid.
"$QEMU" "${QARGS[@]}" </dev/null >"$FIFO" 2>"$TMP/qemu.err" &
QPID=$!; QPID_SAVED=$QPID
exec 3<"$FIFO"

n_ok=0 n_fail=0 guest_rc='' cur_step='' timed_out=0 done_at=0 partial=''
handle() {
  local l=${1%$'\r'}
  case "$l" in
    "BOOTED uptime="*)
      local ms=$(( $(now_ms) - T_START ))
      printf '# boot: script started %d.%02ds after qemu start (guest uptime %ss)\n' \
        $((ms / 1000)) $((ms % 1000 / 10)) "${l#BOOTED uptime=}" ;;
    "STEP-START "*) cur_step=${l#STEP-START } ;;
    "STEP-OK "*)    n_ok=$((n_ok + 1)); cur_step=; printf 'PASS %s/%s\n' "$SUITE" "${l#STEP-OK }" ;;
    "STEP-FAIL "*)  n_fail=$((n_fail + 1)); cur_step=; printf 'FAIL %s/%s\n' "$SUITE" "${l#STEP-FAIL }" ;;
    "NOTE "*)       printf '# %s\n' "${l#NOTE }" ;;
    "GUEST-DONE rc="*) guest_rc=${l#GUEST-DONE rc=}; done_at=$(now_ms) ;;
    *) ;;  # nothing else is sent on this channel
  esac
}
while :; do
  st=0
  IFS= read -r -t 1 line <&3 || st=$?
  if [ $st -eq 0 ]; then
    handle "$partial$line"; partial=
    continue
  fi
  if [ $st -gt 128 ]; then           # read timed out; keep any partial line
    partial+=$line
    t=$(now_ms)
    if [ "$t" -ge "$DEADLINE" ]; then timed_out=1; break; fi
    # GUEST-DONE came but qemu did not power off: don't wait for the deadline
    if [ "$done_at" -gt 0 ] && [ $((t - done_at)) -gt 15000 ]; then
      err "guest reported GUEST-DONE but qemu did not exit; killing it"; break
    fi
    continue
  fi
  [ -n "$partial$line" ] && handle "$partial$line"   # EOF: qemu exited
  break
done

if [ $timed_out = 1 ]; then
  kill "$QPID" 2>/dev/null
  for _ in $(seq 1 30); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$QPID" 2>/dev/null
fi
if kill -0 "$QPID" 2>/dev/null; then
  # EOF but qemu still there (closing down) or hung after GUEST-DONE: give it 5 s
  for _ in $(seq 1 50); do kill -0 "$QPID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$QPID" 2>/dev/null
fi
wait "$QPID" 2>/dev/null; qrc=$?
QPID=

show_log() {
  echo "---- last 40 console lines ($LOG) ----" >&2
  tail -n 40 "$LOG" | sed 's/^/  | /' >&2
  if [ -s "$TMP/qemu.err" ]; then
    echo "---- qemu stderr ----" >&2
    sed 's/^/  | /' "$TMP/qemu.err" >&2
  fi
}

if [ $timed_out = 1 ]; then
  msg="timeout after ${TIMEOUT}s${cur_step:+ in step $cur_step}: killed qemu (pid $QPID_SAVED)"
  printf 'FAIL %s/%s: %s\n' "$SUITE" "${cur_step:-guest}" "$msg"
  err "$msg"
  show_log
  exit 124
fi
if [ -z "$guest_rc" ]; then
  if grep -q 'Kernel panic' "$LOG" 2>/dev/null; then
    why="kernel panic: $(grep -m1 'Kernel panic' "$LOG" | tr -d '\r' | cut -c1-200)"
  else
    why="guest ended without GUEST-DONE (qemu exit $qrc${cur_step:+, in step $cur_step})"
  fi
  printf 'FAIL %s/%s: %s\n' "$SUITE" "${cur_step:-guest}" "$why"
  err "$why"
  show_log
  exit 125
fi
rc=$guest_rc
if [ "$rc" -ne 0 ] && [ $n_fail -eq 0 ]; then
  printf 'FAIL %s/guest: script exited with rc=%s\n' "$SUITE" "$rc"
fi
if [ "$rc" -eq 0 ] && [ $n_fail -gt 0 ]; then rc=1; fi
[ "$rc" -ne 0 ] && show_log
exit "$rc"
