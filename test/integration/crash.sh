#!/usr/bin/env bash
# crash: kill -9 of ganesha, of the daemon, or of both, at random points of a recorded
# workload; after the restart every acknowledged operation is in the file view, and after
# `s3filesctl commit` + `wait-synced` in S3, byte-exact, with nothing extra.
#
# The workload (test/tools/s3f_nfswork.c, libnfs over NFSv3 with UNSTABLE and FILE_SYNC
# WRITEs and COMMITs; the stack serves v3 from its own namespace, S3FILES_NFSV3=1) creates,
# appends, writes in the middle, truncates, renames files and directories (onto existing
# names too), unlinks, makes and removes directories, and imports: objects put straight
# into S3, their new directory listed as soon as the gateway's poll shows it, and its files
# overwritten at once (issue 9 points 1 and 2). Every operation and its acknowledgement
# are logged (fsync'd per line) and the expected tree is rebuilt from the log. The stack
# runs with Commit_On_Close and a one-second Commit_Interval, so uploads, prefetch and
# hydration happen while the workload runs and get killed too.
#
# One iteration:
#   1. a driver run of a random number of steps (continuing the same model and log);
#   2. the fault: kill -9 of ganesha, of s3files-syncd, or of both — mostly once the
#      driver has a random number of acknowledgements, sometimes just after the run (the
#      daemon then uploading); the killed processes are started again;
#   3. sometimes a second fault: the daemon killed during `s3filesctl commit`;
#   4. `s3f_nfswork check`: the whole tree read over NFS equals the model; the operation
#      in flight at the kill may have happened or not (a write: each byte old or new) and
#      is then settled; lost+found (at the export root) holds no file of the tree;
#   5. `s3filesctl commit` + `wait-synced`, every key under the tree listed and every
#      object downloaded with the independent client (test/lib/s3.sh), `s3f_nfswork
#      check-s3`: each file's object byte-exact, directory markers only of directories
#      that exist (required for empty ones), nothing else; the daemon counted no new
#      conflict (`status`: there is no other S3 writer).
# After step 4, `s3filesctl fsck --online --json` (read-only, the gateway running) checks
# the store against itself and the data tier: a finding of class error or loss fails the
# iteration, and so does one of class powercut (kill -9 keeps the page cache: nothing
# only a power cut can leave may be there). The findings by class over the run are printed
# at the end ("# fsck: ...").
# A failed iteration prints what differs and the suite goes on in a fresh tree (so one
# soak run finds more than one defect); its log and the daemons' logs are kept.
#
# Ends with "tried N, faults M, lost K" (operations tried, kills injected, acknowledged
# operations whose effect was missing or wrong) and fails if K > 0 or anything was extra
# or wrong.
#
# Settings: CRASH_SEED (default: random; printed — the same seed gives the same steps
# and fault choices, the moment of each kill differs), CRASH_ITERATIONS (10; SOAK=1: 200),
# CRASH_STEPS (steps per run: 5 to 5 + this; 60 in both forms), CRASH_CAP_MB (48: the
# tree's size cap), CRASH_IMPORT_PCT (steps that import: 3 %).
# Treated as must-survive: UNSTABLE writes never COMMITted too (kill -9 is not a power
# cut: what the gateway wrote to its data tier is in the page cache).
set -uo pipefail
T_SUITE=crash
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup crash
# A prefix of this run alone: a PID comes round again, and objects a failed run left
# under crash-PID/ would be imported into this one's trees.
export S3_PREFIX="crash-$$-$(date +%s%N)/"
P=$S3_PREFIX
export LC_ALL=C
TOOL=$S3F_BUILD/bin/s3f_nfswork
SOAK=${SOAK:-0}
if [ "$SOAK" = 1 ]; then d_iter=200 d_steps=60; else d_iter=10 d_steps=60; fi
ITER=${CRASH_ITERATIONS:-$d_iter}
STEPS=${CRASH_STEPS:-$d_steps}
CAP_MB=${CRASH_CAP_MB:-48}
IMPORT_PCT=${CRASH_IMPORT_PCT:-3}
SEED=${CRASH_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "# seed $SEED: replay with CRASH_SEED=$SEED CRASH_ITERATIONS=$ITER CRASH_STEPS=$STEPS"

cleanup() {
  [ -n "${DPID:-}" ] && kill -KILL "$DPID" 2>/dev/null
  s3f_stack_stop "$STACK"
  # the data tier and downloads go; logs and workload logs stay
  rm -rf "$STACK/state/data" "$WORK/dl"
  [ "$T_FAILED" -eq 0 ] && rm -rf "$WORK"
}
trap cleanup EXIT

# rnd N: REPLY = a number in [0, N) from the suite's own generator (seeded by SEED, so the
# fault plan replays; $RANDOM would be consumed unpredictably by the libraries).
RS=$SEED
rnd() {
  RS=$(( (RS * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff ))
  REPLY=$(( (RS >> 24) % $1 ))
}

if [ ! -x "$TOOL" ]; then t_fail setup "$TOOL missing (make test-tools)"; t_done; fi

# ---- the stack: NFSv3 (and v4) from its namespace, uploads during the workload ----
export S3FILES_NFSV3=1 S3FILES_COMMIT_INTERVAL=1 S3FILES_POLL_MS=500
export S3FILES_EXPORT_EXTRA="Commit_On_Close = true;"
if ! s3f_stack_start "$STACK" >"$WORK/start.out" 2>&1; then
  t_fail stack_start "$(tail -n 8 "$WORK/start.out" | tr '\n' ' ')"
  t_done
fi
t_pass stack_start
H=$(s3f_nfs_host "$STACK")
V4PORT=$(cat "$STACK/nfs_port")

TRIED=0 FAULTS=0 LOST=0 BAD=0 EPOCH=1
ROOT=w$EPOCH LOG=$WORK/work.$EPOCH.log

# conflicts: the daemon's count of conflicts over the export's life (s3filesctl status)
conflicts() {
  local c
  c=$(s3f_ctl "$STACK" status 2>/dev/null | sed -n 's/.* conflicts=\([0-9]*\).*/\1/p' | head -n 1)
  echo "${c:-0}"
}

# acks FILE: acknowledgements in a workload log
acks() { grep -c '^A ' "$1" 2>/dev/null || true; }

# kill9 NAME: SIGKILL ganesha or syncd (started by this shell: reaped quietly)
kill9() {
  local pid
  pid=$(cat "$STACK/$1.pid" 2>/dev/null) || return 1
  kill -KILL "$pid" 2>/dev/null && { wait "$pid"; } 2>/dev/null
  FAULTS=$((FAULTS + 1))
  return 0
}

# restart NAMES...: start the killed processes again
restart() {
  local p
  for p in "$@"; do
    case $p in
      ganesha) s3f_ganesha_start "$STACK" >>"$WORK/restart.out" 2>&1 || return 1 ;;
      syncd) s3f_syncd_start "$STACK" >>"$WORK/restart.out" 2>&1 || return 1 ;;
    esac
  done
}

# result FILE: "lost wrong extra" from a RESULT line (missing: "0 1 0", a failure)
result() {
  local l
  l=$(grep '^RESULT ' "$1" | tail -n 1)
  if [ -n "$l" ]; then set -- $l; echo "$3 $5 $7"; else echo "0 1 0"; fi
}

# bad IT WHY OUTFILE: a failed iteration: report, keep the evidence, go on in a new tree
bad() {
  local it=$1 why=$2 out=${3:-}
  BAD=$((BAD + 1))
  t_fail "iteration_$it" "$why (seed $SEED, tree $ROOT, log $LOG)"
  # The cause in "# " lines too: the test runner shows only those (and PASS/FAIL) of a
  # suite's log, and a soak's failures are often in its middle.
  if [ -n "$out" ] && [ -f "$out" ]; then
    grep -v '^# ' "$out" | head -n 6 | cut -c 1-300 | sed 's/^/# why: /'
    sed 's/^/  | /' "$out" | head -n 80
  fi
  tail -n 3 "$LOG" | sed 's/^/# log: /'
  echo "  | last lines of the log:"; tail -n 12 "$LOG" | sed 's/^/  | /'
  # what the gateway logged during this iteration
  { tail -n +"$((GLOG0 + 1))" "$STACK/ganesha.log" | grep -E ':FSAL :|S3FILES' |
      grep -E ':(CRIT|MAJ|WARN) :'
    tail -n +"$((SLOG0 + 1))" "$STACK/syncd.log" | grep -E ' (WARN|ERROR) '; } 2>/dev/null |
    tail -n 10 >"$WORK/gw.$it.txt"
  sed 's/^/  | gw: /' "$WORK/gw.$it.txt"; tail -n 4 "$WORK/gw.$it.txt" | cut -c 1-300 | sed 's/^/# gw: /'
  cp "$STACK/ganesha.log" "$WORK/ganesha.$it.log" 2>/dev/null
  cp "$STACK/syncd.log" "$WORK/syncd.$it.log" 2>/dev/null
  EPOCH=$((EPOCH + 1)) ROOT=w$EPOCH LOG=$WORK/work.$EPOCH.log
}

# fsck_state: `s3filesctl fsck --online --json` on the running stack; adds the findings
# by class to FSCK_N; 0 when nothing of class powercut, error or loss was found, 1 (the
# findings in $WORK/fsck.bad) otherwise, 2 when the check did not run.
declare -A FSCK_N=([legal]=0 [garbage]=0 [powercut]=0 [error]=0 [loss]=0)
FSCK_RUNS=0
fsck_state() {
  local s c n
  s3f_ctl "$STACK" fsck -e 1 --online --json >"$WORK/fsck.json" 2>"$WORK/fsck.err"
  s=$(grep '"summary":true' "$WORK/fsck.json" | tail -n 1)
  if [ -z "$s" ]; then cp "$WORK/fsck.err" "$WORK/fsck.bad"; return 2; fi
  FSCK_RUNS=$((FSCK_RUNS + 1))
  for c in legal garbage powercut error loss; do
    n=$(sed -n "s/.*\"$c\":\([0-9]*\).*/\1/p" <<<"$s")
    FSCK_N[$c]=$(( ${FSCK_N[$c]} + ${n:-0} ))
  done
  grep -E '"class":"(powercut|error|loss)"' "$WORK/fsck.json" >"$WORK/fsck.bad" && return 1
  return 0
}

# s3_fetch DIR: list the keys under the tree into DIR.keys, download every object into
# DIR/<key relative to the prefix> (independent client, four at a time)
s3_fetch() {
  local dl=$1
  rm -rf "$dl"; mkdir -p "$dl"
  s3_ls "$B" "$P$ROOT/" >"$dl.keys" || return 1
  export B P dl
  grep -v '/$' "$dl.keys" | xargs -r -d '\n' -n 8 -P 4 bash -c '
    . "$S3F_ROOT/test/lib/s3.sh"
    for k; do
      r=${k#"$P"}; mkdir -p "$dl/$(dirname "$r")"
      s3_get_file "$B" "$k" "$dl/$r" || exit 1
    done' get
}

T_START=$(date +%s)
for it in $(seq 1 "$ITER"); do
  rnd "$STEPS"; steps=$((REPLY + 5))
  rnd 100; r=$REPLY
  if [ $r -lt 40 ]; then targets="ganesha"; elif [ $r -lt 75 ]; then targets="syncd"
  else targets="ganesha syncd"; fi
  rnd 100; after_run=$(( REPLY < 25 ))
  rnd "$steps"; at=$((REPLY + 1))
  rnd 60; delay_ms=$REPLY
  rnd 1000; after_ms=$REPLY
  rnd 100; commit_kill=$(( REPLY < 25 ))
  rnd 400; commit_ms=$REPLY
  it_seed=$(( SEED * 1000 + it ))
  base=$(acks "$LOG")
  CONFLICTS=$(conflicts)
  GLOG0=$(wc -l <"$STACK/ganesha.log") SLOG0=$(wc -l <"$STACK/syncd.log")

  # 1 + 2: the run and the fault
  "$TOOL" run -l "$LOG" -r "$ROOT" -H "$H" -p "$V4PORT" -n "$steps" -s "$it_seed" -c "$CAP_MB" \
    -i "$IMPORT_PCT" >"$WORK/run.out" 2>&1 &
  DPID=$!
  if [ $after_run = 1 ]; then
    wait "$DPID"; drc=$?; DPID=
    sleep "$(printf '0.%03d' "$after_ms")"
    where="${after_ms} ms after the run"
  else
    while kill -0 "$DPID" 2>/dev/null && [ $(( $(acks "$LOG") - base )) -lt $at ]; do
      sleep 0.01
    done
    sleep "$(printf '0.%03d' "$delay_ms")"
    where="after ack $(( $(acks "$LOG") - base )) of the run"
  fi
  for p in $targets; do kill9 "$p"; done
  # Started again at once: the driver goes on (only the daemon killed) or ends at its
  # dead connection meanwhile.
  if ! restart $targets; then
    t_fail "iteration_$it" "restart of $targets failed: $(tail -n 5 "$WORK/restart.out" | tr '\n' ' ')"
    break
  fi
  if [ -n "$DPID" ]; then
    # the driver ends by itself: at the end of its steps, or at its dead connection
    for _ in $(seq 1 1200); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$DPID" 2>/dev/null; then
      kill -KILL "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null; DPID=
      bad "$it" "the driver hung after the kill of $targets" "$WORK/run.out"
      continue
    fi
    wait "$DPID"; drc=$?; DPID=
  fi
  echo "# iteration $it: $steps steps, killed $targets $where; driver exit $drc"
  if [ $drc -ne 0 ] && [ $drc -ne 3 ]; then
    read -r l w e <<<"$(result "$WORK/run.out")"
    LOST=$((LOST + l))
    bad "$it" "the run failed (exit $drc)" "$WORK/run.out"
    continue
  fi

  # 3: the daemon killed during a commit
  if [ $commit_kill = 1 ]; then
    s3f_ctl "$STACK" commit -e 1 "/$ROOT" >/dev/null 2>&1 &
    cpid=$!
    sleep "$(printf '0.%03d' "$commit_ms")"
    kill9 syncd
    wait "$cpid" 2>/dev/null
    echo "# iteration $it: killed syncd ${commit_ms} ms into a commit"
    if ! restart syncd; then
      t_fail "iteration_$it" "restart of syncd failed: $(tail -n 5 "$WORK/restart.out" | tr '\n' ' ')"
      break
    fi
  fi

  # 4: the file view
  "$TOOL" check -l "$LOG" -r "$ROOT" -H "$H" -p "$V4PORT" >"$WORK/check.out" 2>&1
  crc=$?
  grep '^# ' "$WORK/check.out"
  read -r l w e <<<"$(result "$WORK/check.out")"
  if [ $crc -ne 0 ]; then
    LOST=$((LOST + l))
    bad "$it" "file view after the kill of $targets: lost $l, wrong $w, extra $e (exit $crc)" \
      "$WORK/check.out"
    continue
  fi

  # 4b: the store and the data tier (read-only, online)
  fsck_state; frc=$?
  if [ $frc -ne 0 ]; then
    bad "$it" "fsck after the kill of $targets: $([ $frc = 2 ] && echo "did not run" ||
      echo "$(wc -l <"$WORK/fsck.bad") finding(s) of class powercut, error or loss")" "$WORK/fsck.bad"
    continue
  fi

  # 5: S3
  # (the tree only: a file a failed iteration broke must not stop the next ones)
  rm -f "$WORK/commit.out" "$WORK/ws.out"
  if ! s3f_ctl "$STACK" commit -e 1 "/$ROOT" >"$WORK/commit.out" 2>&1 ||
     ! s3f_ctl "$STACK" wait-synced -e 1 --timeout 180 "/$ROOT" >"$WORK/ws.out" 2>&1; then
    bad "$it" "commit / wait-synced failed: $(tail -q -n 2 "$WORK/commit.out" "$WORK/ws.out" 2>/dev/null | tr '\n' ' ')"
    continue
  fi
  # (tried three times: a failed GET is RGW's or curl's business, not the gateway's)
  if ! { s3_fetch "$WORK/dl" || s3_fetch "$WORK/dl" || s3_fetch "$WORK/dl"; } 2>"$WORK/fetch.err"; then
    bad "$it" "listing or downloading the objects failed: $(tail -n 2 "$WORK/fetch.err" | tr '\n' ' ')"
    continue
  fi
  S3_PREFIX=$P "$TOOL" check-s3 -l "$LOG" -r "$ROOT" -P "$P" -k "$WORK/dl.keys" -o "$WORK/dl" \
    >"$WORK/checks3.out" 2>&1
  crc=$?
  grep '^# ' "$WORK/checks3.out"
  read -r l w e <<<"$(result "$WORK/checks3.out")"
  if [ $crc -ne 0 ]; then
    LOST=$((LOST + l))
    bad "$it" "S3 after wait-synced: lost $l, wrong $w, extra $e (exit $crc)" "$WORK/checks3.out"
    continue
  fi
  c=$(conflicts)
  if [ "$c" != "$CONFLICTS" ]; then
    bad "$it" "the daemon counted $((c - CONFLICTS)) conflict(s) in this iteration (there is no other S3 writer): $(grep -hE 'conflict|S3 wins' "$STACK/syncd.log" | grep -v 'no conflict' | tail -n 2 | tr '\n' ' ')"
    continue
  fi
done

for f in "$WORK"/work.*.log; do
  [ -f "$f" ] && TRIED=$((TRIED + $(grep -c '^B ' "$f")))
done
echo "# $ITER iterations in $(( $(date +%s) - T_START )) s, $EPOCH tree(s)"
echo "# fsck: $FSCK_RUNS runs; findings by class: legal ${FSCK_N[legal]}, garbage ${FSCK_N[garbage]}, powercut ${FSCK_N[powercut]}, error ${FSCK_N[error]}, loss ${FSCK_N[loss]}"
echo "tried $TRIED, faults $FAULTS, lost $LOST"
if [ $BAD -eq 0 ] && [ "$T_FAILED" -eq 0 ]; then
  t_pass "no_loss: tried $TRIED, faults $FAULTS, lost $LOST ($ITER iterations)"
else
  t_fail no_loss "tried $TRIED, faults $FAULTS, lost $LOST: $BAD of $ITER iterations failed (seed $SEED)"
fi
t_done
