#!/usr/bin/env bash
# hardening: one gateway per State_Dir, a control socket no client can block, log lines no
# key can break, no setuid-root file planted through S3, and `make run` keeping its keys
# private. Real ganesha, real s3files-syncd, real RGW; NFS through libnfs.
#
#   - single instance: a second s3files-syncd on the same config exits non-zero naming the
#     first (pid, host), the first keeps its control socket (same inode) and serves; a
#     second one with another State_Dir but the same Control_Socket is refused as well; a
#     second ganesha on the same State_Dir refuses the export with a log line naming the
#     first, which goes on serving; after kill -9 the daemon restarts at once (the stale
#     lock file does not block it); a State_Dir on a FUSE file system (s3fs) is refused
#     unless Allow_Network_State_Dir = true;
#   - control socket: a client that connects and says nothing, or half a line, does not
#     hold up `s3filesctl status` (measured) and is dropped after 5 s; with more idle
#     clients than the daemon serves at once, status is refused "busy", asked again, and
#     answered; a COMMIT held at the test point sync.control.commit does not hold up
#     STATUS; SIGTERM with an idle client connected stops the daemon at once, the client
#     cut off (not timed out);
#   - a key with a newline, imported through the daemon, gives one log line;
#   - an object with x-amz-meta-mode 04755 and uid/gid 0 shows as 0755 owned by 65534
#     (S3_Setid and S3_Root_Owner off), while ordinary metadata is applied as it is;
#   - with S3FILES_SYNCD/S3FILES_CTL set to the sanitizer build: no report from any daemon;
#   - make run (scripts/run.sh with a fresh local RGW): the keys never appear in any
#     process's arguments, and env, s3cfg, the RGW state and the credentials file are
#     0600 inside 0700 directories.
set -uo pipefail
T_SUITE=hardening
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup hd
PY=${PY:-/usr/bin/python3}
# S3FILES_SYNCD / S3FILES_CTL: e.g. the sanitizer build (build/asan/bin/...).
CTL=${S3FILES_CTL:-$S3F_BUILD/bin/s3filesctl}
SYNCD=${S3FILES_SYNCD:-$S3F_BUILD/bin/s3files-syncd}
STACK2=$WORK/stack2
FUSE_MNT=$WORK/fuse
RUNPID=""
tp_dir "$WORK/tp"
cleanup() {
  tp_release_all
  [ -n "$RUNPID" ] && kill -TERM "$RUNPID" 2>/dev/null && wait "$RUNPID" 2>/dev/null
  s3f_stack_stop "$STACK2" 2>/dev/null
  s3f__stop_pid "$WORK/syncd2.pid"
  s3f_stack_stop "$STACK"
  mountpoint -q "$FUSE_MNT" 2>/dev/null && fusermount -u "$FUSE_MNT"
}
trap cleanup EXIT

export S3FILES_POLL_MS=500 S3FILES_COMMIT_INTERVAL=3600 S3FILES_LOG_LEVEL=debug
s3f_test_stack_start
URL="nfs://127.0.0.1/s3files"
Q="?version=4&nfsport=$NFS_PORT"
SOCK=$STACK/syncd.sock
SYNCD_PID=$(cat "$STACK/syncd.pid")
GANESHA_PID=$(cat "$STACK/ganesha.pid")
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
serves() { timeout 30 "$CTL" -f "$STACK/ganesha.conf" status >/dev/null 2>&1; }

# ---- a second daemon on the same config ----
ino0=$(stat -c %i "$SOCK")
out=$(timeout 60 "$SYNCD" -f "$STACK/ganesha.conf" 2>&1); rc=$?
echo "# second daemon (exit $rc): $out"
if [ $rc -ne 0 ] && [ $rc -ne 124 ] &&
   grep -q "is in use by another s3files-syncd: pid $SYNCD_PID on host $(hostname)" <<<"$out" &&
   [ "$(stat -c %i "$SOCK" 2>/dev/null)" = "$ino0" ] && serves; then
  t_pass second_syncd_refused
else
  t_fail second_syncd_refused "exit $rc, socket inode $ino0 -> $(stat -c %i "$SOCK" 2>&1): $out"
fi

# ---- another State_Dir, the same Control_Socket ----
sed "s|State_Dir = \"[^\"]*\";|State_Dir = \"$WORK/state-other\";|" "$STACK/ganesha.conf" \
  >"$WORK/other.conf"
out=$(timeout 60 "$SYNCD" -f "$WORK/other.conf" 2>&1); rc=$?
echo "# daemon on another State_Dir, same socket (exit $rc): $out"
if [ $rc -ne 0 ] && [ $rc -ne 124 ] &&
   grep -q "control socket $SOCK is in use by another s3files-syncd: pid $SYNCD_PID" <<<"$out" &&
   [ "$(stat -c %i "$SOCK" 2>/dev/null)" = "$ino0" ] && serves; then
  t_pass same_socket_refused
else
  t_fail same_socket_refused "exit $rc: $out"
fi

# ---- a second ganesha on the same State_Dir ----
mkdir -p "$STACK2"
pick_port >"$STACK2/nfs_port"
s3f__write_conf "$STACK2" "$STACK/state" "$(cat "$STACK2/nfs_port")"
s3f_ganesha_start "$STACK2" >"$WORK/ganesha2.out" 2>&1; rc=$?
line=$(grep "S3FILES: export 1: State_Dir" "$STACK2/ganesha.log" 2>/dev/null | tail -n 1)
echo "# second ganesha: ${line#*: }"
if [ $rc -ne 0 ] &&
   grep -q "is served by another ganesha: pid $GANESHA_PID on host .*refusing the export" <<<"$line" &&
   ! grep -q "S3FILES: export 1 serves" "$STACK2/ganesha.log"; then
  t_pass second_ganesha_refused
else
  t_fail second_ganesha_refused "rc $rc: $line"
fi
s3f_ganesha_stop "$STACK2"
t_step first_ganesha_serves nfs-ls "$URL/$Q"

# ---- idle clients do not hold up status ----
# idle_probe MODE: connect, send nothing ("idle") or half a line ("half"), run status,
# check the idle connection was still unanswered when status answered, then wait for the
# daemon to drop it.
idle_probe() {
  "$PY" - "$SOCK" "$1" "$CTL" "$STACK/ganesha.conf" <<'EOF'
import socket, subprocess, sys, time
sock, mode, ctl, conf = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock)
if mode == "half":
    s.sendall(b"STAT")
t0 = time.monotonic()
try:
    r = subprocess.run([ctl, "-f", conf, "status"], capture_output=True, timeout=60)
    rc = r.returncode
except subprocess.TimeoutExpired:
    rc = "hung"
dt = time.monotonic() - t0
s.setblocking(False)
try:
    b = s.recv(100)
    waiting = "closed" if b == b"" else "answered %r" % b
except BlockingIOError:
    waiting = "yes"
s.setblocking(True)
s.settimeout(60)
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
print("# %s client: status exit %s in %.0f ms while it was connected (still waiting: %s); "
      "the daemon dropped it after %.1f s: %r" % (mode, rc, dt * 1000, waiting,
                                                   time.monotonic() - t0, data))
sys.exit(0 if rc == 0 and waiting == "yes" and b"ERR no complete request line" in data else 1)
EOF
}
for m in idle half; do
  out=$(idle_probe $m 2>&1); rc=$?
  echo "$out"
  if [ $rc -eq 0 ]; then t_pass "${m}_client_no_delay"; else t_fail "${m}_client_no_delay" "$out"; fi
done

# More idle clients than the daemon serves at once (32): status is answered "busy" until
# the daemon drops them, s3filesctl asks again, and gets its answer.
out=$("$PY" - "$SOCK" "$CTL" "$STACK/ganesha.conf" 2>&1 <<'EOF'
import socket, subprocess, sys, time
sock, ctl, conf = sys.argv[1:4]
ss = []
for i in range(40):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock)
    ss.append(s)
t0 = time.monotonic()
r = subprocess.run([ctl, "-f", conf, "status"], capture_output=True, timeout=60)
print("# 40 idle clients: status exit %d after %.1f s: %s" % (
    r.returncode, time.monotonic() - t0, (r.stdout + r.stderr).decode()[-80:].strip()))
sys.exit(0 if r.returncode == 0 and r.stdout.endswith(b"OK\n") else 1)
EOF
); rc=$?
echo "$out"
if [ $rc -eq 0 ]; then t_pass idle_clients_over_cap; else t_fail idle_clients_over_cap "$out"; fi

# ---- a COMMIT held at a test point does not hold up STATUS ----
tp_hold sync.control.commit
timeout 120 "$CTL" -f "$STACK/ganesha.conf" commit >"$WORK/commit.out" 2>&1 &
cpid=$!
if t_wait_for 30 tp_reached sync.control.commit; then
  t0=$(now_ms)
  timeout 60 "$CTL" -f "$STACK/ganesha.conf" status >"$WORK/status.out" 2>&1; rc=$?
  ms=$(( $(now_ms) - t0 ))
  held=no; kill -0 "$cpid" 2>/dev/null && held=yes
  echo "# status during a held COMMIT: exit $rc in $ms ms (commit still held: $held)"
  tp_release sync.control.commit
  wait "$cpid"; crc=$?
  if [ $rc -eq 0 ] && [ $held = yes ] && [ $crc -eq 0 ] && grep -q '^OK committed=' "$WORK/commit.out"
  then t_pass status_during_commit
  else t_fail status_during_commit "status exit $rc, held $held, commit exit $crc: $(cat "$WORK/commit.out")"
  fi
else
  tp_release sync.control.commit
  wait "$cpid"
  t_fail status_during_commit "the COMMIT never reached sync.control.commit"
fi

# ---- setuid root planted through S3 metadata ----
echo '#!/bin/sh' >"$WORK/data/prog"
s3_put_file "$B" "${P}perm/suid" "$WORK/data/prog" -H 'x-amz-meta-mode: 35309' \
  -H 'x-amz-meta-uid: 0' -H 'x-amz-meta-gid: 0' >/dev/null
s3_put_file "$B" "${P}perm/plain" "$WORK/data/prog" -H 'x-amz-meta-mode: 33256' \
  -H 'x-amz-meta-uid: 1234' -H 'x-amz-meta-gid: 2345' >/dev/null
nfs-ls "$URL/perm$Q" >/dev/null 2>&1
st() { "$S3F_BUILD/bin/s3f_nfs" stat "$URL/perm/$1$Q" 2>&1; }
plain_applied() { [ "$(st plain | cut -d' ' -f1-3)" = "100750 1234 2345" ]; }
# Until its metadata is in, a file shows 0644 (SEMANTICS.md).
suid_applied() { s=$(st suid); [ -n "$s" ] && [ "${s%% *}" != 100644 ]; }
if t_wait_for 30 plain_applied && t_wait_for 30 suid_applied; then
  s=$(st suid)
  echo "# suid object (mode 04755, uid 0, gid 0 in S3) shows as: $s"
  if [ "$(cut -d' ' -f1-3 <<<"$s")" = "100755 65534 65534" ]; then t_pass setid_root_from_s3_dropped
  else t_fail setid_root_from_s3_dropped "stat: $s (want 100755 65534 65534)"; fi
else
  t_fail setid_root_from_s3_dropped "metadata never applied: plain is $(st plain)"
fi

# ---- a key with a newline: one log line ----
# Listed once through the mount, then the object appears: the daemon's poll lists the
# directory again and reports the key (a name over 255 bytes has no POSIX path) in its
# log, which must stay one line per message.
nfs-ls "$URL$Q" >/dev/null 2>&1
s3_put_file "$B" "${P}nl/ok" "$WORK/data/prog" >/dev/null
t_wait_for 20 eval 'nfs-ls "$URL/nl$Q" 2>/dev/null | grep -q " ok$"'
long=$(printf 'x%.0s' $(seq 1 300))
s3_put_file "$B" "${P}nl/forged"$'\n'"2026-01-01T00:00:00.000Z ERROR sync forged line $long" \
  "$WORK/data/prog" >/dev/null
reported() { grep -q "unrepresentable_key" "$STACK/state/events.jsonl" 2>/dev/null &&
             grep -q "has no POSIX path" "$STACK/syncd.log" "$STACK/ganesha.log" 2>/dev/null; }
if t_wait_for 30 reported; then
  where=$(grep -l "has no POSIX path" "$STACK/syncd.log" "$STACK/ganesha.log" | head -n 1)
  line=$(grep -h "has no POSIX path" "$where" | tail -n 1)
  echo "# reported in $(basename "$where"): ${line:0:200}..."
  # Every line of the daemon's log is a log line (starts with its time stamp); in either
  # log the forged text is only ever inside the line that reports the key.
  bad_lines=$(grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z (ERROR|WARN|INFO|DEBUG) ' "$STACK/syncd.log")
  forged=$(grep -h "ERROR sync forged line" "$STACK/syncd.log" "$STACK/ganesha.log" | grep -vc "has no POSIX path")
  if grep -qF 'nl/forged\n2026-01-01T00:00:00.000Z ERROR sync forged line' <<<"$line" &&
     [ "$forged" = 0 ] && [ "$bad_lines" = 0 ]; then
    t_pass newline_key_one_log_line
  else
    t_fail newline_key_one_log_line "$bad_lines lines of syncd.log are not log lines, $forged forged: $(grep -vE '^[0-9]{4}-' "$STACK/syncd.log" | head -n 3 | tr '\n' '|')"
  fi
  if [ "$(grep -c . "$STACK/state/events.jsonl")" = "$(grep -c '^{.*}$' "$STACK/state/events.jsonl")" ]
  then t_pass newline_key_journal_lines
  else t_fail newline_key_journal_lines "a journal line is not one JSON object"; fi
else
  t_fail newline_key_one_log_line "the key was never reported"
fi

# ---- SIGTERM with an idle client connected ----
"$PY" - "$SOCK" >"$WORK/idle.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
print("connected", flush=True)
t0 = time.monotonic()
data = b""
s.settimeout(60)
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
print("cut off after %.3f s: %r" % (time.monotonic() - t0, data), flush=True)
EOF
ipid=$!
if t_wait_for 20 grep -q connected "$WORK/idle.out"; then
  t0=$(now_ms)
  kill -TERM "$SYNCD_PID"
  for _ in $(seq 1 600); do kill -0 "$SYNCD_PID" 2>/dev/null || break; sleep 0.05; done
  ms=$(( $(now_ms) - t0 ))
  wait "$ipid"
  echo "# SIGTERM with an idle client: the daemon exited after $ms ms; client: $(tail -n 1 "$WORK/idle.out")"
  if ! kill -0 "$SYNCD_PID" 2>/dev/null && grep -q "cut off after .*: b''" "$WORK/idle.out" &&
     [ ! -e "$SOCK" ]; then
    t_pass sigterm_with_idle_client
  else
    t_fail sigterm_with_idle_client "exited: $(kill -0 "$SYNCD_PID" 2>/dev/null && echo no || echo yes); client: $(cat "$WORK/idle.out")"
  fi
else
  kill "$ipid" 2>/dev/null
  t_fail sigterm_with_idle_client "idle client could not connect: $(cat "$WORK/idle.out")"
fi
s3f__stop_pid "$STACK/syncd.pid"

# ---- kill -9, then a restart at once ----
start_syncd() {
  setsid "$SYNCD" -f "$STACK/ganesha.conf" -L "$STACK/syncd.log" </dev/null \
    >>"$STACK/syncd.out" 2>&1 &
  echo $! >"$STACK/syncd.pid"
  t_wait_for 60 serves
}
if start_syncd; then
  p1=$(cat "$STACK/syncd.pid")
  kill -KILL "$p1"
  for _ in $(seq 1 100); do kill -0 "$p1" 2>/dev/null || break; sleep 0.05; done
  stale=$(cat "$STACK/state/syncd.lock")
  if start_syncd; then
    p2=$(cat "$STACK/syncd.pid")
    now=$(cat "$STACK/state/syncd.lock")
    echo "# lock file after kill -9: '$stale'; after the restart: '$now'"
    if grep -q "pid=$p1 " <<<"$stale" && grep -q "pid=$p2 " <<<"$now" &&
       grep -q "prog=s3files-syncd" <<<"$now"; then t_pass restart_after_kill9
    else t_fail restart_after_kill9 "before '$stale', after '$now'"; fi
  else
    t_fail restart_after_kill9 "no restart: $(tail -n 3 "$STACK/syncd.log")"
  fi
else
  t_fail restart_after_kill9 "could not start the daemon: $(tail -n 3 "$STACK/syncd.log")"
fi

# ---- a State_Dir on a FUSE file system (s3fs) ----
if command -v s3fs >/dev/null && [ -c /dev/fuse ]; then
  mkdir -p "$FUSE_MNT"
  (umask 077; printf '%s:%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$WORK/s3fs.passwd")
  if timeout 30 s3fs "$B:/${P%/}" "$FUSE_MNT" -o "passwd_file=$WORK/s3fs.passwd,url=$S3_ENDPOINT,use_path_request_style,endpoint=$S3_REGION,sigv4" &&
     t_wait_for 10 mountpoint -q "$FUSE_MNT"; then
    sed -e "s|State_Dir = \"[^\"]*\";|State_Dir = \"$FUSE_MNT/state\";|" \
        -e "s|Control_Socket = \"[^\"]*\";|Control_Socket = \"$WORK/fuse.sock\";|" \
        "$STACK/ganesha.conf" >"$WORK/fuse.conf"
    out=$(timeout 60 "$SYNCD" -f "$WORK/fuse.conf" 2>&1); rc=$?
    echo "# State_Dir on s3fs (exit $rc): $out"
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "is on a network file system (fuse).*refusing to start" <<<"$out"
    then t_pass network_state_dir_refused
    else t_fail network_state_dir_refused "exit $rc: $out"; fi
    # Allowed: past the check (it warns); the rest of the start does not matter here.
    sed -i "s|State_Dir = \"$FUSE_MNT/state\";|&\n\t\tAllow_Network_State_Dir = true;|" "$WORK/fuse.conf"
    setsid "$SYNCD" -f "$WORK/fuse.conf" -L "$WORK/fuse-syncd.log" </dev/null >/dev/null 2>&1 &
    echo $! >"$WORK/syncd2.pid"
    if t_wait_for 30 grep -q "Allow_Network_State_Dir is set" "$WORK/fuse-syncd.log" &&
       ! grep -q "refusing to start" "$WORK/fuse-syncd.log"; then t_pass network_state_dir_allowed
    else t_fail network_state_dir_allowed "$(tail -n 3 "$WORK/fuse-syncd.log")"; fi
    s3f__stop_pid "$WORK/syncd2.pid"
    fusermount -u "$FUSE_MNT"
  else
    t_fail network_state_dir_refused "s3fs did not mount $B:/${P%/}"
  fi
else
  t_fail network_state_dir_refused "no s3fs or /dev/fuse on this machine (make deps)"
fi

# ---- make run: the keys stay private ----
# scripts/run.sh as `make run` runs it, with a BUILD of its own (links to this build's
# programs) so that it creates a fresh local RGW and its keys; ps is sampled all along.
if [ "${HARDENING_MAKE_RUN:-1}" = 1 ]; then
  RB=$WORK/runbuild
  mkdir -p "$RB"
  ln -s "$S3F_BUILD/bin" "$RB/bin"
  ln -s "$S3F_BUILD/lib" "$RB/lib"
  env -u S3F_TP_DIR BUILD="$RB" NFS_PORT="$(pick_port)" S3FILES_BIND=127.0.0.1 \
    S3_BUCKET=runkeys S3_ENDPOINT= S3_PREFIX= AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= \
    S3FILES_STATE_DIR= S3FILES_EXPORT_EXTRA= S3FILES_DAEMON_EXTRA= \
    setsid "$S3F_ROOT/scripts/run.sh" >"$WORK/run.out" 2>&1 </dev/null &
  RUNPID=$!
  : >"$WORK/ps.samples"
  end=$(( $(date +%s) + 300 ))
  while kill -0 "$RUNPID" 2>/dev/null && ! grep -q '^S3FILES READY' "$WORK/run.out" &&
        [ "$(date +%s)" -lt "$end" ]; do
    ps -eo args >>"$WORK/ps.samples" 2>/dev/null
  done
  ps -eo args >>"$WORK/ps.samples" 2>/dev/null
  if grep -q '^S3FILES READY' "$WORK/run.out"; then
    ak=$(sed -n 's/^AWS_ACCESS_KEY_ID=//p' "$RB/run/rgw/env")
    sk=$(sed -n 's/^AWS_SECRET_ACCESS_KEY=//p' "$RB/run/rgw/env")
    samples=$(grep -c . "$WORK/ps.samples")
    seen=$(grep -c 'radosgw-admin.* user create' "$WORK/ps.samples")
    echo "# make run: $samples process lines sampled, 'radosgw-admin user create' seen $seen times"
    bad=""
    [ ${#sk} -ge 20 ] && [ ${#ak} -ge 10 ] || bad+=" no keys in run/rgw/env;"
    [ -n "$sk" ] && grep -qF -- "$sk" "$WORK/ps.samples" && bad+=" secret key in argv;"
    [ -n "$ak" ] && grep -qF -- "$ak" "$WORK/ps.samples" && bad+=" access key in argv;"
    for f in "$RB/run" "$RB/run/rgw"; do
      [ "$(stat -c %a "$f")" = 700 ] || bad+=" $f is $(stat -c %a "$f");"
    done
    for f in "$RB/run/rgw/env" "$RB/run/rgw/s3cfg" "$RB/run/rgw/state" \
             "$RB/run/rgw/log/user-create.out" "$RB/run/stack/credentials"; do
      [ "$(stat -c %a "$f" 2>/dev/null)" = 600 ] || bad+=" $f is $(stat -c %a "$f" 2>&1);"
    done
    # The keys radosgw-admin made work.
    code=$(AWS_ACCESS_KEY_ID=$ak AWS_SECRET_ACCESS_KEY=$sk \
           S3_ENDPOINT=$(sed -n 's/^S3_ENDPOINT=//p' "$RB/run/rgw/env") s3_status GET runkeys '')
    [ "$code" = 200 ] || bad+=" the keys do not list the bucket (HTTP $code);"
    if [ -z "$bad" ]; then t_pass make_run_keys_private; else t_fail make_run_keys_private "$bad"; fi
  else
    t_fail make_run_keys_private "make run did not get ready: $(tail -n 5 "$WORK/run.out" | tr '\n' ' ')"
  fi
  kill -TERM "$RUNPID" 2>/dev/null
  wait "$RUNPID" 2>/dev/null
  RUNPID=""	# run.sh stopped what it started; its RGW's files go with $WORK
fi

# Whatever ran above, no daemon reported a sanitizer error (with the ASan build) or died.
s3f_syncd_stop "$STACK"
reports=$(grep -l -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" \
  "$STACK"/syncd.log "$STACK"/syncd.out "$WORK"/*.log 2>/dev/null)
if [ -z "$reports" ]; then t_pass no_sanitizer_reports
else t_fail no_sanitizer_reports "$(grep -h -A5 -E "ERROR: |runtime error:" $reports | head -n 12 | tr '\n' '|')"; fi

t_done
