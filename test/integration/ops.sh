#!/usr/bin/env bash
# ops: the operator commands of s3filesctl against a real gateway (ganesha + the daemon,
# the test RGW), written to through libnfs on this host (no guest):
#
#   prefetch   into a pipe (plain progress lines, no bar), under a pseudo-terminal (the
#              bar, redrawn), resumed after the client was killed between two files (what
#              was fetched stays, the second run fetches only the rest), and stopped before
#              the data tier would go over Data_Quota (exit 3, nothing evicted, nothing
#              fetched past the quota)
#   state      clean (ETag as S3 has it), dirty waiting for Commit_Interval, committing
#              (the daemon held inside an upload), local (lost+found), and with S3 cut off
#              (the gateway reaches RGW through a relay the suite stops): s3_unreachable,
#              then, S3 back, commit_failed, then clean
#   conflicts  a file changed through NFS and in S3: its lost+found entry with both ETags
#              and times
#   --json     of status, ls, state, conflicts, wait-synced: parsed and checked
#   syslog     every journal event of the run (conflict, unrepresentable_key,
#              commit_failed) read back from a datagram socket at its kind's severity
#   dashboard  every metric packaging/grafana/s3files.json queries is in a real scrape,
#              every scraped metric is on it
#   completion every command of the usage text, options, paths from the daemon's view
#   man pages  s3filesctl(8) names every command, s3files.conf(5) every setting
set -uo pipefail
T_SUITE=ops
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup ops
export LC_ALL=C
tp_dir "$WORK/tp"
BGPID=
SYSLOG_PID=
cleanup() {
  tp_release_all
  [ -n "$BGPID" ] && kill "$BGPID" 2>/dev/null
  s3f_stack_stop "$STACK"
  [ -n "$SYSLOG_PID" ] && kill "$SYSLOG_PID" 2>/dev/null
  relay_stop
}

# The gateway reaches S3 through a relay this suite can cut (S3 unreachable) and restore.
# setsid: socat and the children it forks per connection form one process group, ended
# together (open keep-alive connections included). Its pid is kept in a file: steps run
# in subshells (t_step), the cleanup in the suite's shell.
RELAY_PORT=$(t_free_port)
RGW_HOSTPORT=${S3_ENDPOINT#http://}
relay_start() {
  setsid socat "TCP-LISTEN:$RELAY_PORT,bind=127.0.0.1,fork,reuseaddr" "TCP:$RGW_HOSTPORT" \
    </dev/null >/dev/null 2>&1 &
  echo $! >"$WORK/relay.pid"
  t_wait_for 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RELAY_PORT"
}
relay_stop() {
  local pid
  pid=$(cat "$WORK/relay.pid" 2>/dev/null) || return 0
  kill -- -"$pid" 2>/dev/null
  rm -f "$WORK/relay.pid"
  # gone when nothing listens any more (the process may stay a zombie of another shell)
  t_wait_for 5 bash -c "if (exec 3<>/dev/tcp/127.0.0.1/$RELAY_PORT) 2>/dev/null; then exit 1; fi"
}
trap cleanup EXIT

D=$WORK/data
MiB=1048576
# Above the hydrate threshold (128 KiB): imported without data, never fetched in the
# background; only a read or prefetch makes them local.
mkdir -p "$D/pf/a" "$D/pf/b" "$D/pf/c/deep" "$D/big" "$D/w"
for i in 1 2 3 4; do head -c $MiB /dev/urandom >"$D/pf/a/f$i"; done
for i in 1 2; do head -c $((3 * MiB)) /dev/urandom >"$D/pf/b/g$i"; done
head -c $((2 * MiB)) /dev/urandom >"$D/pf/c/deep/h"
for i in 1 2 3; do head -c $((3 * MiB)) /dev/urandom >"$D/big/z$i"; done
put() { "$S3F_BUILD/bin/s3f_s3" -e "$RGW_TEST_DIR/env" -c 4 put-dir "$1" "$2" >>"$WORK/put.out" 2>&1; }
t_step put_objects bash -c "$(declare -f put); put '$D/pf/a' '${P}pf/a/' && put '$D/pf/b' '${P}pf/b/' &&
  put '$D/pf/c/deep' '${P}pf/c/deep/' && put '$D/big' '${P}big/'" || t_done

# A key no file name can hold (a component longer than 255 bytes): an
# unrepresentable_key event when its directory is listed.
LONG=$(printf 'x%.0s' $(seq 1 300))
echo "bad key" >"$D/badkey"
t_step put_bad_key s3_put_file "$B" "${P}bad/$LONG" "$D/badkey" || t_done

# The syslog: a datagram socket of ours, every message one line in syslog.out.
SYSLOG_SOCK=$WORK/syslog.sock
python3 - "$SYSLOG_SOCK" "$WORK/syslog.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).replace(b"\n", b" ") + b"\n")
PY
SYSLOG_PID=$!
t_wait_for 10 test -S "$SYSLOG_SOCK" || { t_fail syslog_socket "the receiver did not bind"; t_done; }
MP=$(t_free_port)
NP=$(t_free_port)
export S3FILES_DAEMON_EXTRA="Syslog = \"$SYSLOG_SOCK\"; Metrics_Listen = \"127.0.0.1:$MP\";
  Notify_Listen = \"127.0.0.1:$NP\";"
export S3FILES_COMMIT_INTERVAL=3600 S3FILES_POLL_MS=3600000
# 12 MiB under pf/, 9 MiB under big/: all of pf/ fits, big/ only partly.
export S3FILES_EXPORT_EXTRA='Data_Quota = "16M";'
CTL_ASAN=$S3F_BUILD/asan/bin/s3filesctl
[ -x "$S3F_BUILD/asan/bin/s3files-syncd" ] && export S3FILES_SYNCD=$S3F_BUILD/asan/bin/s3files-syncd
[ -x "$CTL_ASAN" ] && export S3FILES_CTL=$CTL_ASAN
relay_start || { t_fail relay "socat relay to RGW did not listen"; t_done; }
if ! S3_ENDPOINT=http://127.0.0.1:$RELAY_PORT s3f_stack_start "$STACK" >"$WORK/start.out" 2>&1; then
  t_fail stack_start "$(tail -n 5 "$WORK/start.out" | tr '\n' ' ')"
  t_done
fi
t_pass stack_start
NFS_PORT=$(cat "$STACK/nfs_port")
STATE=$STACK/state
url() { printf 'nfs://127.0.0.1/s3files%s?version=4&nfsport=%s' "$1" "$NFS_PORT"; }
ctl() { s3f_ctl "$STACK" "$@"; }
# note TEXT: a "# " line for the suite's log (t_step keeps a passing step's output to itself)
note() { echo "# $*" >>"$WORK/notes"; }
# jget FILE EXPR: evaluate a python expression over the JSON object(s) of FILE (o: the
# first object, objs: all of them, one per line)
jget() {
  python3 - "$1" "$2" <<'PY'
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
o = objs[0] if objs else None
print(eval(sys.argv[2]))
PY
}

# ---- prefetch ----

pipe_progress() {
  local rc
  # One file at a time, slowly enough for a progress line per file.
  tp_delay sync.control.prefetch 400
  ctl prefetch /pf/a >"$WORK/pf1.out" 2>"$WORK/pf1.err"; rc=$?
  tp_delay sync.control.prefetch 0
  cat "$WORK/pf1.out"
  [ $rc -eq 0 ] || { echo "exit $rc: $(cat "$WORK/pf1.err")"; return 1; }
  grep -q '^prefetch: 4 files under /pf/a; 0 already local .*4 to fetch (4.0 MiB)' "$WORK/pf1.out" ||
    { echo "no plan line"; return 1; }
  [ "$(grep -c '^prefetch: [0-9]*/4 files, ' "$WORK/pf1.out")" -ge 2 ] ||
    { echo "fewer than two progress lines"; return 1; }
  grep -q '^prefetch: done: 4 files fetched (4.0 MiB)' "$WORK/pf1.out" || { echo "no summary"; return 1; }
  ! grep -q $'\r' "$WORK/pf1.out" || { echo "a carriage return (bar) in a pipe"; return 1; }
  local f
  for f in 1 2 3 4; do
    ctl state --json /pf/a/f$f >"$WORK/st.json" || { echo "state f$f failed"; return 1; }
    [ "$(jget "$WORK/st.json" 'o["data"], o["local_bytes"], o["state"]')" = "('full', $MiB, 'clean')" ] ||
      { echo "f$f after prefetch: $(cat "$WORK/st.json")"; return 1; }
  done
  nfs-cat "$(url /pf/a/f3)" >"$WORK/got" 2>/dev/null && cmp -s "$WORK/got" "$D/pf/a/f3" ||
    { echo "/pf/a/f3 reads back wrong"; return 1; }
}
t_step prefetch_pipe pipe_progress

# The bar under a pseudo-terminal: carriage returns, a percentage, a rate, and 100 % at
# the end.
pty_bar() {
  tp_delay sync.control.prefetch 300
  python3 - "${S3FILES_CTL:-$S3F_BUILD/bin/s3filesctl}" "$STACK/ganesha.conf" "$WORK/pty.out" <<'PY'
import os, pty, sys
ctl, conf, out = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execv(ctl, [ctl, "-f", conf, "prefetch", "/pf/c"])
data = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    data += chunk
_, status = os.waitpid(pid, 0)
open(out, "wb").write(data)
sys.exit(os.waitstatus_to_exitcode(status))
PY
  local rc=$?
  tp_delay sync.control.prefetch 0
  tr '\r' '\n' <"$WORK/pty.out" | sed -n '1,12p'
  [ $rc -eq 0 ] || { echo "exit $rc"; return 1; }
  grep -q $'\r\\[#*\\.*\\] *[0-9]*%' "$WORK/pty.out" || { echo "no bar"; return 1; }
  grep -q $'\\[##############################\\] 100%  2.0 MiB / 2.0 MiB  1/1 files  .*/s' "$WORK/pty.out" ||
    { echo "the bar does not end at 100 %"; return 1; }
}
t_step prefetch_pty_bar pty_bar

# Killed between two files: what was fetched stays recorded; the next run skips it.
resume() {
  local i n
  tp_delay sync.control.prefetch 2000
  # the binary itself in the background (a shell function would run in a subshell that
  # the kill below would hit instead)
  "${S3FILES_CTL:-$S3F_BUILD/bin/s3filesctl}" -f "$STACK/ganesha.conf" prefetch /pf >"$WORK/pf2.out" 2>&1 &
  BGPID=$!
  # /pf/a and /pf/c are local; b/g1, b/g2 are left. The client's first progress line comes
  # when g1 is done; kill it then, while the daemon waits 2 s before g2.
  for i in $(seq 1 400); do
    grep -q '^prefetch: 1/2 files' "$WORK/pf2.out" && break
    sleep 0.025
  done
  kill "$BGPID"; wait "$BGPID" 2>/dev/null; BGPID=
  tp_delay sync.control.prefetch 0
  grep -q '^prefetch: 1/2 files' "$WORK/pf2.out" || { echo "g1 never done: $(cat "$WORK/pf2.out")"; return 1; }
  n=$(ctl state --json /pf/b/g1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"])')
  [ "$n" = full ] || { echo "g1 not recorded local: $n"; return 1; }
  grep -q '^prefetch: 7 files under /pf; 5 already local' "$WORK/pf2.out" ||
    { echo "first run's plan: $(head -n 1 "$WORK/pf2.out")"; return 1; }
  # the daemon notices the client is gone before its next file
  for i in $(seq 1 100); do
    grep -q 'prefetch of /pf interrupted (the client went away)' "$STACK/syncd.log" && break
    sleep 0.1
  done
  ctl state --json /pf/b/g2 >"$WORK/g2.json"
  [ "$(jget "$WORK/g2.json" 'o["data"]')" = none ] || { echo "g2 fetched by the killed run"; return 1; }
  grep -q 'prefetch of /pf interrupted (the client went away)' "$STACK/syncd.log" ||
    { echo "the daemon did not notice the client left"; return 1; }
  ctl prefetch /pf >"$WORK/pf3.out" 2>&1 || { echo "second run: $(cat "$WORK/pf3.out")"; return 1; }
  cat "$WORK/pf3.out"
  grep -q '^prefetch: 7 files under /pf; 6 already local (9.0 MiB); 1 to fetch (3.0 MiB)' "$WORK/pf3.out" ||
    { echo "second run did not skip what was local"; return 1; }
  grep -q '^prefetch: done: 1 files fetched (3.0 MiB)' "$WORK/pf3.out" || { echo "second run's summary"; return 1; }
  note "resumed run: $(grep '^prefetch: done' "$WORK/pf3.out")"
  # a third run has nothing to do
  ctl prefetch /pf >"$WORK/pf4.out" 2>&1 && grep -q '7 already local.*0 to fetch' "$WORK/pf4.out" ||
    { echo "third run: $(cat "$WORK/pf4.out")"; return 1; }
}
t_step prefetch_resume resume

# ---- state ----

state_clean() {
  local etag
  etag=$(s3_head_etag "$B" "${P}pf/a/f2") || return 1
  ctl state /pf/a/f2 >"$WORK/st1.out" || { echo "state failed"; return 1; }
  cat "$WORK/st1.out"
  grep -q '^state: *clean$' "$WORK/st1.out" && grep -q "^etag: *$etag\$" "$WORK/st1.out" &&
    grep -q "^size: *$MiB local, $MiB in S3\$" "$WORK/st1.out" &&
    grep -q "^S3 key: *${P}pf/a/f2\$" "$WORK/st1.out" ||
    { echo "wrong clean state (S3 ETag $etag)"; return 1; }
  ctl state --json /pf/a/f2 >"$WORK/st1.json"
  [ "$(jget "$WORK/st1.json" 'o["state"], o["etag"], o["size"], o["s3_size"], o["why"], o["last_modified"] > 1700000000')" = \
    "('clean', '$etag', $MiB, $MiB, None, True)" ] || { echo "json: $(cat "$WORK/st1.json")"; return 1; }
  # a missing path is an error
  ! ctl state /pf/nothing-here >/dev/null 2>&1 || { echo "state of a missing path succeeded"; return 1; }
}
t_step state_clean state_clean

echo "written through NFS" >"$D/w/new.txt"
head -c 3000 /dev/urandom >"$D/w/c.txt"	# libnfs v4 WRITEs above ~4 KiB fail
head -c 7000 /dev/urandom >"$D/w/c.file"
head -c 6000 /dev/urandom >"$D/w/c.s3"
state_dirty() {
  "$S3F_BUILD/bin/s3f_nfs" mkdir "$(url /w)" || { echo "mkdir failed"; return 1; }
  ctl commit /w >/dev/null || { echo "commit of /w failed"; return 1; }	# the directory: clean
  nfs-cp "$D/w/new.txt" "$(url /w/new.txt)" >/dev/null 2>&1 || { echo "nfs-cp failed"; return 1; }
  ctl state /w/new.txt >"$WORK/st2.out" || { echo "state failed"; return 1; }
  cat "$WORK/st2.out"
  grep -q '^state: *dirty$' "$WORK/st2.out" &&
    grep -Eq '^why: *interval: Commit_Interval \(3600 s\) not reached since its last change: due in [0-9]+ s$' "$WORK/st2.out" ||
    { echo "wrong dirty state"; return 1; }
  ctl state --json /w/new.txt >"$WORK/st2.json"
  [ "$(jget "$WORK/st2.json" 'o["state"], o["why"], o["size"], o["etag"], o["dirty_since"] > 1700000000')" = \
    "('dirty', 'interval', 20, None, True)" ] || { echo "json: $(cat "$WORK/st2.json")"; return 1; }
  # the directory: one dirty file below it (and itself, if its own change is not in S3)
  ctl state --json /w >"$WORK/st2d.json"
  [ "$(jget "$WORK/st2d.json" 'o["type"], o["subtree_dirty"] - (o["state"] == "dirty"), o["subtree_deletes"], o["subtree_renames"]')" = \
    "('d', 1, 0, 0)" ] || { echo "json of /w: $(cat "$WORK/st2d.json")"; return 1; }
}
t_step state_dirty state_dirty

# The daemon held after the upload, before recording it: the file is "committing".
state_committing() {
  local i
  tp_hold sync.commit.uploaded
  ctl commit /w >"$WORK/commit1.out" 2>&1 &
  BGPID=$!
  for i in $(seq 1 300); do tp_reached sync.commit.uploaded && break; sleep 0.05; done
  ctl state --json /w/new.txt >"$WORK/st3.json"
  tp_release sync.commit.uploaded
  wait "$BGPID"; BGPID=
  [ "$(jget "$WORK/st3.json" 'o["state"], o["why"]')" = "('committing', 'uploading')" ] ||
    { echo "json while held: $(cat "$WORK/st3.json")"; return 1; }
  ctl state --json /w/new.txt >"$WORK/st4.json"
  [ "$(jget "$WORK/st4.json" 'o["state"]')" = clean ] || { echo "after: $(cat "$WORK/st4.json")"; return 1; }
}
t_step state_committing state_committing

# ---- conflicts ----

conflict() {
  local base s3etag rc
  nfs-cp "$D/w/c.txt" "$(url /w/c.txt)" >"$WORK/cp.out" 2>&1 || { echo "nfs-cp failed: $(cat "$WORK/cp.out")"; return 1; }
  ctl commit /w >/dev/null || { echo "commit failed"; return 1; }
  base=$(s3_head_etag "$B" "${P}w/c.txt") || return 1
  "$S3F_BUILD/bin/s3f_nfs" overwrite "$(url /w/c.txt)" "$D/w/c.file" || { echo "overwrite failed"; return 1; }
  sleep 1.1	# S3's Last-Modified after the file side's change
  s3_put_file "$B" "${P}w/c.txt" "$D/w/c.s3" || return 1
  s3etag=$(s3_head_etag "$B" "${P}w/c.txt") || return 1
  ctl commit /w >"$WORK/commit2.out" 2>&1
  cat "$WORK/commit2.out"
  grep -q 'conflicts=1' "$WORK/commit2.out" || { echo "no conflict at commit"; return 1; }
  ctl conflicts >"$WORK/cf.out" || { echo "conflicts failed"; return 1; }
  cat "$WORK/cf.out"
  grep -q "^RESOLVED .*ETAG_BASE .*ETAG_S3" "$WORK/cf.out" &&
    grep -q " $base .* $s3etag *changed  *lost+found/w%252Fc.txt\.[0-9T]*Z -> ${P}w/c.txt\$" "$WORK/cf.out" ||
    { echo "entry not as expected (base $base, s3 $s3etag)"; return 1; }
  ctl conflicts --json >"$WORK/cf.json" || { echo "conflicts --json failed"; return 1; }
  [ "$(jget "$WORK/cf.json" 'len(objs), o["etag_base"], o["etag_s3"], o["s3"], o["key"], o["size"], o["mtime_s3"] >= o["mtime_file"] > 1700000000, o["name"].startswith("w%2Fc.txt.")')" = \
    "(1, '$base', '$s3etag', 'changed', '${P}w/c.txt', 7000, True, True)" ] ||
    { echo "json: $(cat "$WORK/cf.json")"; return 1; }
  # the lost+found entry's own state
  ctl state --json "/lost+found/$(jget "$WORK/cf.json" 'o["name"]')" >"$WORK/st5.json" ||
    { echo "state of the lost+found entry failed"; return 1; }
  [ "$(jget "$WORK/st5.json" 'o["state"], o["why"]')" = "('local', 'lost_found')" ] ||
    { echo "lost+found entry: $(cat "$WORK/st5.json")"; return 1; }
}
t_step conflicts conflict

# ---- --json of the other read commands ----

json_rest() {
  ctl status --json >"$WORK/status.json" || { echo "status failed"; return 1; }
  [ "$(jget "$WORK/status.json" 'o["exports"][0]["id"], o["exports"][0]["conflicts"], o["exports"][0]["renames"], o["exports"][0]["bucket"]')" = \
    "(1, 1, [], '$B')" ] || { echo "status: $(cat "$WORK/status.json")"; return 1; }
  ctl ls --json /pf/a >"$WORK/ls.json" || { echo "ls failed"; return 1; }
  local expr='sorted((x["name"], x["type"], x["size"], x["state"]) for x in objs)'
  [ "$(jget "$WORK/ls.json" "$expr")" = \
    "[('f1', 'f', $MiB, 'clean'), ('f2', 'f', $MiB, 'clean'), ('f3', 'f', $MiB, 'clean'), ('f4', 'f', $MiB, 'clean')]" ] ||
    { echo "ls: $(cat "$WORK/ls.json")"; return 1; }
  ctl wait-synced --json --timeout 60 /w >"$WORK/ws.json" || { echo "wait-synced failed"; return 1; }
  [ "$(jget "$WORK/ws.json" 'sorted(x["path"] for x in objs), all(len(x["etag"]) >= 32 for x in objs)')" = \
    "(['/w/c.txt', '/w/new.txt'], True)" ] || { echo "wait-synced: $(cat "$WORK/ws.json")"; return 1; }
}
t_step json_rest json_rest

# A directory renamed through NFS: until the daemon has moved its objects in S3, a file
# below it is not in S3 under its new path: dirty, pending_rename, reading from its old
# key; status lists the move. The daemon is held before its first copy.
rename_pending() {
  local i st
  tp_hold s3.copy.before
  if ! "$S3F_BUILD/bin/s3f_nfs" rename "$(url /pf/c)" /c2; then
    tp_release s3.copy.before; echo "rename failed"; return 1
  fi
  if ! t_wait_for 60 tp_reached s3.copy.before; then
    tp_release s3.copy.before; echo "the move never started"; return 1
  fi
  ctl state --json /pf/c2/deep/h >"$WORK/st9.json"
  ctl state /pf/c2/deep/h >"$WORK/st9.out"
  ctl status --json >"$WORK/status2.json"
  tp_release s3.copy.before
  cat "$WORK/st9.out"
  [ "$(jget "$WORK/st9.json" 'o["state"], o["why"], o["key"], o["source"]')" = \
    "('dirty', 'pending_rename', '${P}pf/c2/deep/h', '${P}pf/c/deep/h')" ] ||
    { echo "state while moving: $(cat "$WORK/st9.json")"; return 1; }
  [ "$(jget "$WORK/status2.json" '[(r["state"], r["from"], r["to"]) for r in o["exports"][0]["renames"]]')" = \
    "[('moving', '${P}pf/c/', '${P}pf/c2/')]" ] || { echo "status while moving: $(cat "$WORK/status2.json")"; return 1; }
  for i in $(seq 1 150); do
    st=$(ctl state --json /pf/c2/deep/h | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    [ "$st" = clean ] && break
    sleep 0.2
  done
  [ "$st" = clean ] || { echo "still $st after the move was released"; return 1; }
  s3_exists "$B" "${P}pf/c2/deep/h" || { echo "not in S3 under the new name"; return 1; }
}
t_step state_pending_rename rename_pending

# S3 unreachable: the commit fails (a commit_failed event, an error in syslog), the file
# waits with why=s3_unreachable; S3 back, after the back-off its reason is the failed
# commit; then it commits.
echo "committed while S3 was away" >"$D/w/down.txt"
s3_down() {
  local i why
  nfs-cp "$D/w/down.txt" "$(url /w/down.txt)" >/dev/null 2>&1 || { echo "nfs-cp failed"; return 1; }
  nfs-ls "$(url /big)" >/dev/null 2>&1 || { echo "nfs-ls /big failed"; return 1; }	# listed now
  relay_stop
  if ctl commit /w >"$WORK/commit3.out" 2>&1; then
    relay_start; echo "commit succeeded with S3 away: $(cat "$WORK/commit3.out")"; return 1
  fi
  ctl state --json /w/down.txt >"$WORK/st6.json"
  # prefetch cannot fetch: it stops at the first file and says so
  ctl prefetch /big >"$WORK/pf6.out" 2>"$WORK/pf6.err"
  local pfrc=$?
  relay_start || { echo "relay did not come back"; return 1; }
  [ "$(jget "$WORK/st6.json" 'o["state"], o["why"]')" = "('dirty', 's3_unreachable')" ] ||
    { echo "state with S3 away: $(cat "$WORK/st6.json")"; return 1; }
  [ $pfrc -eq 1 ] && grep -q "^s3files[a-z]*: prefetch stopped: fetching ${P}big/z1: .*0 files were fetched and stay local, 3 are left; run it again" "$WORK/pf6.err" ||
    { echo "prefetch with S3 away: exit $pfrc: $(cat "$WORK/pf6.out" "$WORK/pf6.err")"; return 1; }
  for i in $(seq 1 100); do
    ctl state --json /w/down.txt >"$WORK/st7.json"
    why=$(jget "$WORK/st7.json" 'o["why"]')
    [ "$why" != s3_unreachable ] && break
    sleep 0.2
  done
  [ "$why" = commit_failed ] && grep -q '"detail":"the last upload failed [0-9]* s ago: ' "$WORK/st7.json" ||
    { echo "state after S3 came back: $(cat "$WORK/st7.json")"; return 1; }
  ctl commit /w >"$WORK/commit4.out" 2>&1 || { echo "commit after: $(cat "$WORK/commit4.out")"; return 1; }
  ctl state --json /w/down.txt >"$WORK/st8.json"
  [ "$(jget "$WORK/st8.json" 'o["state"], o["why"]')" = "('clean', None)" ] ||
    { echo "state after the commit: $(cat "$WORK/st8.json")"; return 1; }
  ctl events --kind commit_failed | grep -q '"key":"'"${P}"'w/down.txt"' ||
    { echo "no commit_failed event for it"; return 1; }
}
t_step s3_unreachable s3_down

# ---- syslog ----

# Every journal event of this run reached the syslog socket once, at its kind's severity
# (facility daemon): here a conflict and an unrepresentable key (warning, <28>) and the
# failed commit (error, <27>).
syslog_events() {
  local out
  ctl prefetch /bad >"$WORK/pfbad.out" 2>&1 || { echo "prefetch /bad: $(cat "$WORK/pfbad.out")"; return 1; }
  ctl events >"$WORK/events.json" || { echo "events failed"; return 1; }
  sleep 1.5	# the daemon follows the journal every 0.5 s
  python3 - "$WORK/events.json" "$WORK/syslog.out" >"$WORK/syslog.note" <<'PY' || return 1
import json, re, sys
sev = {"conflict": 4, "unrepresentable_key": 4, "import_warning": 4, "backlog": 4,
       "commit_failed": 3, "commit_retrying": 5, "upload_aborted": 5, "dir_rename_large": 5,
       "dir_rename": 6, "evict": 6}
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
msgs = open(sys.argv[2], encoding="utf-8", errors="replace").read().splitlines()
kinds = {e["kind"] for e in events}
assert {"conflict", "unrepresentable_key", "commit_failed"} <= kinds, "events of this run: %s" % kinds
seen = {}
for m in msgs:
    r = re.match(r'<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d s3files-syncd\[\d+\]: export 1: ([a-z_]+): (\{.*\})$', m)
    assert r, "not a syslog line: %r" % m[:200]
    ev = json.loads(r.group(3))
    assert ev["kind"] == r.group(2), m[:200]
    assert ev["seq"] not in seen, "sent twice: %d" % ev["seq"]
    seen[ev["seq"]] = int(r.group(1))
for e in events:
    assert e["seq"] in seen, "event %d (%s) not in syslog" % (e["seq"], e["kind"])
    want = 3 * 8 + sev.get(e["kind"], 5)
    assert seen[e["seq"]] == want, "event %d (%s): PRI %d, want %d" % (e["seq"], e["kind"], seen[e["seq"]], want)
print("%d events, all in syslog at their severity: %s" % (len(events), sorted(kinds)))
PY
}
t_step syslog syslog_events && note "$(cat "$WORK/syslog.note")"

# ---- the Grafana dashboard ----

# Every metric a dashboard query names is in a real scrape of this daemon (histograms by
# their _bucket, _sum, _count series), and every metric of the scrape is on the dashboard.
dashboard() {
  curl -sf "http://127.0.0.1:$MP/metrics" >"$WORK/scrape.txt" || { echo "no scrape"; return 1; }
  python3 - "$S3F_ROOT/packaging/grafana/s3files.json" "$WORK/scrape.txt" >"$WORK/dash.note" <<'PY' || return 1
import json, re, sys
d = json.load(open(sys.argv[1]))
exprs, panels = [], 0
def walk(p):
    global panels
    panels += p.get("type") not in (None, "row")
    exprs.extend(t["expr"] for t in p.get("targets", []))
    for q in p.get("panels", []):
        walk(q)
for p in d["panels"]:
    walk(p)
for v in d["templating"]["list"]:
    if isinstance(v.get("query"), dict):
        exprs.append(v["query"]["query"])
scrape = open(sys.argv[2]).read()
types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", scrape, re.M))
names = set()
for e in exprs:
    names |= set(re.findall(r"\bs3files_[a-z0-9_]+", e))
def base(n):
    b = re.sub(r"_(bucket|sum|count)$", "", n)
    return b if b != n and types.get(b) == "histogram" else n
missing = sorted(n for n in names if base(n) not in types)
assert not missing, "queried, not in the scrape: %s" % missing
unused = sorted(set(types) - {base(n) for n in names})
assert not unused, "in the scrape, not on the dashboard: %s" % unused
print("dashboard: %d panels, %d queries, %d metrics, all in a real scrape" % (panels, len(exprs), len(names)))
PY
}
t_step dashboard dashboard && note "$(cat "$WORK/dash.note")"

# ---- bash completion and the man pages ----

# Every command of the usage text completes; a PATH completes from the daemon's view.
completion() {
  local bin=${S3FILES_CTL:-$S3F_BUILD/bin/s3filesctl} got cmd missing=""
  got=$(bash -c '. "$1"; COMP_WORDS=("$2" -f "$3" ""); COMP_CWORD=3; _s3filesctl; echo "${COMPREPLY[*]}"' \
    _ "$S3F_ROOT/cli/s3filesctl.bash-completion" "$bin" "$STACK/ganesha.conf")
  for cmd in $("$bin" --help | sed -n 's/^  \([a-z][a-z-]*\)\( .*\)\{0,1\}$/\1/p'); do
    [[ " $got " == *" $cmd "* ]] || missing+=" $cmd"
  done
  [ -z "$missing" ] || { echo "commands not completed:$missing (got: $got)"; return 1; }
  [ "$(echo $got | wc -w)" -ge 12 ] || { echo "too few commands: $got"; return 1; }
  got=$(bash -c '. "$1"; COMP_WORDS=("$2" -f "$3" state "/pf/a/f"); COMP_CWORD=4; _s3filesctl; echo "${COMPREPLY[*]}"' \
    _ "$S3F_ROOT/cli/s3filesctl.bash-completion" "$bin" "$STACK/ganesha.conf")
  [ "$got" = "/pf/a/f1 /pf/a/f2 /pf/a/f3 /pf/a/f4" ] || { echo "paths: '$got'"; return 1; }
  got=$(bash -c '. "$1"; COMP_WORDS=("$2" -f "$3" prefetch "/p"); COMP_CWORD=4; _s3filesctl; echo "${COMPREPLY[*]}"' \
    _ "$S3F_ROOT/cli/s3filesctl.bash-completion" "$bin" "$STACK/ganesha.conf")
  [ "$got" = "/pf/" ] || { echo "directory: '$got'"; return 1; }
  got=$(bash -c '. "$1"; COMP_WORDS=("$2" -f "$3" events --kind con); COMP_CWORD=5; _s3filesctl; echo "${COMPREPLY[*]}"' \
    _ "$S3F_ROOT/cli/s3filesctl.bash-completion" "$bin" "$STACK/ganesha.conf")
  [ "$got" = "conflict" ] || { echo "--kind: '$got'"; return 1; }
  got=$(bash -c '. "$1"; COMP_WORDS=("$2" -f "$3" state -e ""); COMP_CWORD=5; _s3filesctl; echo "${COMPREPLY[*]}"' \
    _ "$S3F_ROOT/cli/s3filesctl.bash-completion" "$bin" "$STACK/ganesha.conf")
  [ "$got" = "1" ] || { echo "-e: '$got'"; return 1; }
}
t_step completion completion

# s3filesctl(8) names every command of the usage text; s3files.conf(5) every setting of
# config-help (it is made from the same table; this checks the build did splice it in).
man_pages() {
  local bin=${S3FILES_CTL:-$S3F_BUILD/bin/s3filesctl} cmd name missing="" page
  page=$(MANWIDTH=200 man -l "$S3F_ROOT/doc/man/s3filesctl.8" 2>/dev/null)
  for cmd in $("$bin" --help | sed -n 's/^  \([a-z][a-z-]*\)\( .*\)\{0,1\}$/\1/p'); do
    grep -Eq "^ {7}$cmd( |$)" <<<"$page" || missing+=" $cmd"
  done
  [ -z "$missing" ] || { echo "s3filesctl(8) lacks:$missing"; return 1; }
  page=$(MANWIDTH=200 man -l "$S3F_BUILD/man/s3files.conf.5" 2>/dev/null)
  for name in $("$bin" config-help | sed -n 's/^  \([A-Za-z][A-Za-z0-9_]*\) .*/\1/p'); do
    grep -Eq "^ {7}$name( |$)" <<<"$page" || missing+=" $name"
  done
  [ -z "$missing" ] || { echo "s3files.conf(5) lacks:$missing"; return 1; }
  note "s3files.conf(5): $("$bin" config-help | grep -Ec '^  [A-Za-z][A-Za-z0-9_]* ') settings, all on the page"
  page=$(MANWIDTH=200 man -l "$S3F_ROOT/doc/man/s3files-syncd.8" 2>/dev/null)
  grep -q "^SIGNALS" <<<"$page" || { echo "s3files-syncd(8) does not render"; return 1; }
}
t_step man_pages man_pages

# ---- the quota ----

# 12 MiB of pf/ are local (plus a few small files); big/ has 9 MiB in three files: the
# first fits under 16 MiB, the second would not. Last: the tier is nearly full after it.
quota_bound() {
  local rc used
  ctl prefetch /big >"$WORK/pf5.out" 2>"$WORK/pf5.err"; rc=$?
  cat "$WORK/pf5.out" "$WORK/pf5.err"
  [ $rc -eq 3 ] || { echo "exit $rc, wanted 3 (stopped at the quota)"; return 1; }
  grep -q "prefetch stopped at the data tier's quota: .* of Data_Quota 16.0 MiB in use, the next file (${P}big/z2) needs 3.0 MiB more. 1 files were fetched" "$WORK/pf5.err" ||
    { echo "no clear quota message"; return 1; }
  [ "$(ctl state --json /big/z1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"])')" = full ] ||
    { echo "z1 not local"; return 1; }
  [ "$(ctl state --json /big/z2 | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"])')" = none ] ||
    { echo "z2 fetched past the quota"; return 1; }
  local f
  for f in /pf/a/f1 /pf/b/g1 /pf/b/g2 /pf/c2/deep/h; do
    [ "$(ctl state --json $f | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"])')" = full ] ||
      { echo "$f lost its data (evicted?)"; return 1; }
  done
  used=$(du -s --block-size=1 "$STATE/data" | cut -f1)
  note "data tier after the quota stop: $used bytes (quota $((16 * MiB)))"
  [ "$used" -le $((16 * MiB)) ] || { echo "tier over the quota: $used"; return 1; }
  ! ctl events --kind evict | grep -q . || { echo "an eviction happened"; return 1; }
}
t_step prefetch_quota quota_bound

[ -f "$WORK/notes" ] && cat "$WORK/notes"
t_done
