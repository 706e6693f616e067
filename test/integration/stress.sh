#!/usr/bin/env bash
# stress: writers, cold listings, prefetch, commits, hydration and eviction at the same time
# on the same files, through the Linux kernel NFSv4.1 client (qemu guest), with the full
# stack (ganesha + FSAL_S3FILES + s3files-syncd) on the real RGW; every byte compared with a
# reference model (issue 9).
#
# The guest program is test/vm/guest/s3f-stress.c (built static here, run from /host); it
# also generates the fixtures, builds the model and compares on the host. What runs, all
# at once:
#   - the reported loss, exactly: STRESS_REPRO_FILES objects of ~210 bytes put straight
#     into S3; the guest runs `ls -l` on their directory once and overwrites every file
#     right after it ("new-<name>", O_TRUNC + write + close, in name order) while the daemon
#     prefetches them (at the pace of a slow S3: STRESS_REPRO_TP_MS per batch of 64);
#   - 3 guest writers (own files only): overwrites, appends, writes in the middle and past
#     the end, truncates and extensions, O_TRUNC rewrites, renames (some onto another of
#     their files), unlinks, creates; buffered and O_DIRECT; with or without fsync, always
#     closed. Each writer first lists a directory of S3 objects never listed (prefetch
#     starts) and writes into every one of them at once, and owns large objects (above the
#     128 KiB prefetch threshold) into which it writes while a child process reads the same
#     1 MiB chunk with O_DIRECT (a hydration in flight). An operation is acknowledged when
#     every call and close returned 0; a third of them are followed by an O_DIRECT
#     read-back compared with the writer's model;
#   - 2 guest readers: O_DIRECT reads of stable objects, every byte compared with what S3
#     holds; listings and reads of hs/, which the host keeps changing;
#   - on the host, an S3 client: every STRESS_ANNOUNCE_S seconds a new directory s3n/dN of
#     small objects and large ones (a second version of a quarter of them), put straight
#     into the bucket and then announced to the guest; 3 guest processes wait until it is
#     visible, list it (`ls -l`: cold listing, background prefetch of the small ones) and
#     modify its files at once (each a third of them, forward, reverse and random order);
#     and once a second new versions, new objects and deletes in hs/ (the poll imports
#     them);
#   - forced commits: `s3filesctl commit` every 2 s, Commit_On_Close, Commit_Interval 2 s;
#   - forced eviction: Data_Quota 24 MiB, and every 3 s the data files of half the tier's
#     fan-out directories made 40 days old (Evict_After_Days) and `s3filesctl evict`;
#   - test points (S3F_TP_DIR) widen the windows between a fetch and its install:
#     import.prefetch.fetched and hydrate.fetched sleep STRESS_TP_DELAY_MS (default 30).
# Every path is changed by one process only, and the host S3 client never changes a file
# the guest changes, except the cold-listing pattern, where the guest's write comes after
# the S3 put and must win. So the model is exact: what S3 was given, with each guest
# process's final state of its files applied (kept from acknowledged operations only).
#
# At the end: `s3filesctl commit` + `wait-synced`; the host waits until the view shows the
# host's last S3 versions in hs/; the guest compares every file of the view with the model
# byte by byte (buffered), remounts and compares again (O_DIRECT); then every object under
# the prefix is downloaded (curl, independent of the gateway's S3 client) and compared with
# the model; no file may be missing or extra; no conflict event may have happened; no
# guest operation may have failed; no read-back and no read of a stable object may have
# been wrong.
#
# Prints "tried N, faults M, lost L": N operations (guest ops, verified reads, listings,
# host puts/deletes, commits, eviction passes); M races provoked: cold-file writes that
# began while a background prefetch was running after their directory's listing (the
# daemon's prefetched-files counter moving, sampled every 0.25 s), writes into a large
# file's chunk while another process's O_DIRECT read of that chunk was in flight, files
# evicted while the workload ran, and eviction attempts that met a file in use; L bytes of
# acknowledged content lost or wrong (the most of: the view before and after the remount,
# and S3). FAIL when L > 0 or anything differs.
#
# Settings: STRESS_SECONDS (workload, default 60; SOAK=1: 900), STRESS_SEED (printed),
# STRESS_REPRO_FILES (400; SOAK=1: 2000, the report's count), STRESS_ANNOUNCE_S (10),
# STRESS_TP_DELAY_MS (30; 0 = off), STRESS_REPRO_TP_MS (2500: the prefetch's pace during the
# reported pattern, see below; 0 = off), STRESS_SRC (the guest program's source). The gateway's
# binaries come from S3FILES_PLUGINS, S3FILES_SYNCD and S3FILES_CTL (test/lib/s3files.sh),
# e.g. a deliberately broken build to show that the suite fails there.
set -uo pipefail
T_SUITE=stress
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup st
# A prefix of this run alone (a PID comes round again).
export S3_PREFIX="st-$$-$(date +%s%N)/"
P=$S3_PREFIX
export LC_ALL=C
SOAK=${SOAK:-0}
if [ "$SOAK" = 1 ]; then d_secs=900; else d_secs=60; fi
SECS=${STRESS_SECONDS:-$d_secs}
SEED=${STRESS_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
if [ "$SOAK" = 1 ]; then d_repro=2000; else d_repro=400; fi
NREPRO=${STRESS_REPRO_FILES:-$d_repro}
ANN_S=${STRESS_ANNOUNCE_S:-10}
TP_DELAY=${STRESS_TP_DELAY_MS:-30}
REPRO_TP=${STRESS_REPRO_TP_MS:-2500}
SRC=${STRESS_SRC:-$S3F_ROOT/test/vm/guest/s3f-stress.c}
NWRITERS=3
echo "# seed $SEED, workload ${SECS}s: replay the same plan with STRESS_SEED=$SEED"

BIN=$WORK/s3f-stress
FIX=$WORK/fix          # what S3 holds (the last version put), by path in the view
STG=$WORK/stage        # flat directories for put-dir
MODEL=$WORK/model
TP=$WORK/tp
RV=$WORK/rv
STOP=$WORK/stop
ENVF=${RGW_TEST_DIR:-$S3F_BUILD/test-rgw}/env
S3S=$S3F_BUILD/bin/s3f_s3
mkdir -p "$FIX" "$STG" "$TP"
GPID= LOOP_PIDS=()

stop_loops() {
  local p
  : >"$STOP"
  for p in "${LOOP_PIDS[@]}"; do
    # each loop checks $STOP between steps; a sleeping one is woken by TERM
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  LOOP_PIDS=()
}
cleanup() {
  stop_loops
  [ -n "$GPID" ] && kill "$GPID" 2>/dev/null
  s3f_stack_stop "$STACK"
  # the data tier, fixtures and downloads go; logs and the model stay on failure
  rm -rf "$STACK/state/data" "$STG" "$WORK/s3"
  [ "$T_FAILED" -eq 0 ] && rm -rf "$WORK"
}
trap cleanup EXIT

# rnd N: REPLY in [0, N) from the suite's generator (seeded: the same plan for a seed).
RS=$SEED
rnd() {
  RS=$(( (RS * 6364136223846793005 + 1442695040888963407) & 0x7fffffffffffffff ))
  REPLY=$(( (RS >> 24) % $1 ))
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# The guest image: this build's, else the tree's shared build/vm (read-only use).
if [ -z "${S3F_VM_DIR:-}" ]; then
  S3F_VM_DIR=$S3F_BUILD/vm
  [ -f "$S3F_VM_DIR/vmlinux" ] || [ ! -f "$S3F_ROOT/build/vm/vmlinux" ] || S3F_VM_DIR=$S3F_ROOT/build/vm
fi
export S3F_VM_DIR
t_step build_guest "$S3F_ROOT/test/vm/build-guest.sh" "$S3F_VM_DIR" || t_done
t_step build_tool gcc -static -O2 -Wall -Wextra -Werror -Wshadow -o "$BIN" "$SRC" || t_done

# ---- fixtures: objects put straight into S3 ----
HOST_PUTS=0 HOST_DELETES=0
# fixture REL COUNT MIN MAX NAMEFMT [V2PCT [text]]: COUNT objects REL/<name> of MIN..MAX
# bytes, then a second version of about V2PCT % of them; FIX/REL gets the last versions.
fixture() {
  local rel=$1 count=$2 lo=$3 hi=$4 fmt=$5 v2=${6:-0} text=${7:-} st n
  st=$STG/${rel//\//_}.$fmt
  st=${st//%/}
  rm -rf "$st.1" "$st.2"
  rnd 1000000000
  n=$("$BIN" gen "$st.1" "$count" "$lo" "$hi" "$REPLY" "$fmt" 100 $text) || return 1
  "$S3S" -e "$ENVF" -c 16 put-dir "$st.1" "$P$rel/" >>"$WORK/put.log" 2>&1 || return 1
  mkdir -p "$FIX/$rel" && cp "$st.1"/* "$FIX/$rel/" || return 1
  HOST_PUTS=$((HOST_PUTS + n))
  if [ "$v2" -gt 0 ]; then
    rnd 1000000000
    n=$("$BIN" gen "$st.2" "$count" "$lo" "$hi" "$REPLY" "$fmt" "$v2" $text) || return 1
    if [ "$n" -gt 0 ]; then
      "$S3S" -e "$ENVF" -c 16 put-dir "$st.2" "$P$rel/" >>"$WORK/put.log" 2>&1 || return 1
      cp "$st.2"/* "$FIX/$rel/" || return 1
      HOST_PUTS=$((HOST_PUTS + n))
    fi
  fi
  rm -rf "$st.1" "$st.2"
}
make_fixtures() {
  local w
  fixture repro "$NREPRO" 200 220 'f%04d' 0 text || return 1
  for w in $(seq 1 $NWRITERS); do
    fixture "cold/c$w" 100 1 60000 'f%03d' 25 || return 1
  done
  fixture big $((2 * NWRITERS)) 200000 3000000 'b%02d' 25 || return 1
  fixture ro 10 1 100000 'r%02d' || return 1
  fixture ro 4 200000 2000000 'R%02d' || return 1
  fixture hs 8 1 100000 'h%02d' 25 || return 1
  fixture hs 4 200000 1500000 'H%02d' || return 1
}
T0=$(now_ms)
# (not through t_step: HOST_PUTS is counted in this shell)
if make_fixtures >"$WORK/fixtures.out" 2>&1; then t_pass fixtures
else t_fail fixtures "$(tail -n 3 "$WORK/fixtures.out" "$WORK/put.log" 2>/dev/null | tr '\n' ' ')"; t_done; fi
echo "# fixtures: $HOST_PUTS objects put in $(( $(now_ms) - T0 )) ms"

# ---- the plan ----
{
  echo "root /mnt/s3"
  echo "fix /host$FIX"
  echo "logs /ctl/rv/logs"
  echo "ann /ctl/rv/ann"
  echo "seconds $SECS"
  echo "seed $SEED"
  echo "readers 2"
  echo "coldworkers 3"
  for w in $(seq 1 $NWRITERS); do echo "writer $w cold/c$w"; done
  i=0
  for f in $(cd "$FIX" && ls big/*); do echo "own $(( i % NWRITERS + 1 )) $f"; i=$((i + 1)); done
  for f in $(cd "$FIX" && ls ro/*); do echo "ro $f"; done
  for f in $(cd "$FIX" && ls hs/*); do echo "hs $f"; done
} >"$WORK/plan"

# ---- the stack ----
MP=$(t_free_port)
export S3F_TP_DIR=$TP
if [ "$TP_DELAY" -gt 0 ]; then
  echo "$TP_DELAY" >"$TP/import.prefetch.fetched.delay"
  echo "$TP_DELAY" >"$TP/hydrate.fetched.delay"
fi
export S3FILES_COMMIT_INTERVAL=2 S3FILES_POLL_MS=1000
export S3FILES_EXPORT_EXTRA='Commit_On_Close = true; Data_Quota = "24M"; Quota_Wait = 600;'
export S3FILES_DAEMON_EXTRA="Metrics_Listen = \"127.0.0.1:$MP\";"
s3f_test_stack_start
DATA=$STACK/state/data
echo "# gateway: ${S3FILES_PLUGINS:-$S3F_BUILD/lib}/libfsals3files.so," \
  "${S3FILES_SYNCD:-$S3F_BUILD/bin/s3files-syncd}"

# During the reported pattern the background prefetch runs at the pace of a slow S3 (each
# batch of 64 GETs held STRESS_REPRO_TP_MS), so that the guest's overwrites, in name order,
# overtake it and meet batches in flight; the workload runs with STRESS_TP_DELAY_MS.
[ "$REPRO_TP" -gt 0 ] && echo "$REPRO_TP" >"$TP/import.prefetch.fetched.delay"

# ---- the guest ----
cat >"$WORK/guest.sh" <<'GUEST'
M=/mnt/s3
mkdir -p $M
step mount nfs_mount actimeo=1 /s3files $M || exit 1
host_signal mounted
# The report: one `ls -l`, then every file overwritten at once.
step repro_ls sh -c "ls -l $M/repro > /dev/null"
T0=$(now_ms)
step repro_overwrite $BIN repro $M repro /ctl/rv/logs
step repro_sync sync
note "$NREPRO files overwritten right after their listing in $(elapsed_ms $T0) ms"
host_signal stress_start
T0=$(now_ms)
step workload $BIN run /host$WORK/plan
note "workload: $(elapsed_ms $T0) ms"
host_signal workload_done
host_wait workload_done 1200 || exit 1
T0=$(now_ms)
step view_equals_model sh -c "$BIN check /host$MODEL $M > /ctl/rv/check1.txt 2>&1"
note "view checked in $(elapsed_ms $T0) ms"
step remount sh -c "umount $M && nfs_mount '' /s3files $M"
T0=$(now_ms)
step view_equals_model_after_remount sh -c "$BIN check -d /host$MODEL $M > /ctl/rv/check2.txt 2>&1"
note "view checked again after the remount (O_DIRECT) in $(elapsed_ms $T0) ms"
host_signal checked
host_wait checked 600 || exit 1
step umount umount $M
GUEST

"$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$WORK/guest.sh" \
  --timeout $((2 * SECS + 600)) --log "$WORK/console.log" --rendezvous "$RV" --mem 1024 \
  --env NFS_PORT="$NFS_PORT" --env BIN="/host$BIN" --env WORK="$WORK" --env MODEL="$MODEL" \
  --env NREPRO="$NREPRO" >"$WORK/guest.out" 2>"$WORK/guest.err" &
GPID=$!

# rv_wait NAME SECS: the guest got to NAME (0), or it ended or the time ran out (1).
rv_wait() {
  local end=$(( $(date +%s) + $2 ))
  while [ ! -e "$RV/$1.sig" ]; do
    kill -0 "$GPID" 2>/dev/null || return 1
    [ "$(date +%s)" -ge $end ] && return 1
    sleep 0.2
  done
}

# ---- host loops ----
commit_loop() {
  while [ ! -e "$STOP" ]; do
    sleep 2
    echo "$(now_ms) $(s3f_ctl "$STACK" commit 2>&1 | tail -n 1)"
  done >"$WORK/commit.log"
}
data_files() { find "$DATA" -mindepth 2 -maxdepth 2 -type f ! -name '.*' -printf '%f\n' 2>/dev/null | sort; }
evict_loop() {
  local b out
  while [ ! -e "$STOP" ]; do
    sleep 3
    data_files >"$WORK/ev.before"
    # half the fan-out directories (random) made 40 days old: Evict_After_Days applies
    for b in $(seq 0 255); do
      [ $((RANDOM % 2)) = 0 ] || continue
      find "$DATA/$(printf %02x "$b")" -maxdepth 1 -type f ! -name '.*' \
        -exec touch -a -m -d '40 days ago' {} + 2>/dev/null
    done
    out=$(s3f_ctl "$STACK" evict 2>&1 | tail -n 1)
    data_files >"$WORK/ev.after"
    echo "$(now_ms) $out gone=$(comm -23 "$WORK/ev.before" "$WORK/ev.after" | grep -c .)"
  done >"$WORK/evict.log"
}
metric() { curl -s -m 2 "http://127.0.0.1:$MP/metrics" | awk -v m="$1" '$1 ~ "^"m"([{]|$)" {print $2}' | head -n 1; }
sample_loop() {
  while [ ! -e "$STOP" ]; do
    echo "$(now_ms) $(metric s3files_sync_prefetched_files_total)"
    sleep 0.25
  done >"$WORK/prefetch.samples"
}
# The host's S3 client: new directories for cold listings, and changes in hs/.
s3_writer() {
  local n=0 next t f r sz ann puts=0 dels=0
  next=$(( $(now_ms) + 2000 ))
  while [ ! -e "$STOP" ]; do
    t=$(now_ms)
    if [ "$t" -ge "$next" ]; then
      n=$((n + 1))
      HOST_PUTS=0
      if fixture "s3n/d$n" 80 1 40000 'f%03d' 25 text && fixture "s3n/d$n" 3 200000 2500000 'big%d' 25; then
        echo "s3n/d$n" >"$RV/ann/$n.tmp" && mv "$RV/ann/$n.tmp" "$RV/ann/$n.dir"
        echo "$(now_ms) announce s3n/d$n $HOST_PUTS"
      else
        echo "$(now_ms) FAILED to put s3n/d$n"
      fi
      puts=$((puts + HOST_PUTS))
      next=$(( $(now_ms) + ANN_S * 1000 ))
    fi
    # hs/: a new version (mostly), a new object, or a delete
    rnd 100; r=$REPLY
    mapfile -t hs < <(cd "$FIX" && ls hs)
    rnd ${#hs[@]}; f=hs/${hs[$REPLY]}
    if [ "$r" -lt 10 ] && [ ${#hs[@]} -gt 8 ]; then
      if s3_rm "$B" "$P$f" 2>>"$WORK/s3w.err"; then rm -f "$FIX/$f"; dels=$((dels + 1));
      else echo "$(now_ms) FAILED to delete $f"; fi
    else
      [ "$r" -lt 20 ] && f=hs/n$n-$t
      rnd 4; if [ "$REPLY" = 0 ]; then rnd 1500000; sz=$((200000 + REPLY)); else rnd 100000; sz=$((1 + REPLY)); fi
      head -c "$sz" /dev/urandom >"$WORK/hs.tmp"
      if s3_put_file "$B" "$P$f" "$WORK/hs.tmp" 2>>"$WORK/s3w.err"; then
        mv "$WORK/hs.tmp" "$FIX/$f"; puts=$((puts + 1))
      else
        echo "$(now_ms) FAILED to put $f"
      fi
    fi
    sleep 1
  done >"$WORK/s3w.log"
  echo "puts=$puts deletes=$dels announced=$n" >"$WORK/s3w.sum"
}

if rv_wait mounted 600; then
  status0=$(s3f_ctl "$STACK" status 2>&1)
  commit_loop & LOOP_PIDS+=($!)
  evict_loop & LOOP_PIDS+=($!)
  sample_loop & LOOP_PIDS+=($!)
  mkdir -p "$RV/ann"
  if rv_wait stress_start 900; then
    if [ "$TP_DELAY" -gt 0 ]; then echo "$TP_DELAY" >"$TP/import.prefetch.fetched.delay"
    else rm -f "$TP/import.prefetch.fetched.delay"; fi
    s3_writer & LOOP_PIDS+=($!)
  fi
fi

# ---- end of the workload: commit, settle, build the model ----
ws_rc=
status1=
if rv_wait workload_done $((SECS + 1200)); then
  stop_loops
  status1=$(s3f_ctl "$STACK" status 2>&1)
  cp -r "$RV/logs" "$WORK/logs"
  T0=$(now_ms)
  t_step commit_final s3f_ctl "$STACK" commit
  s3f_ctl "$STACK" wait-synced --timeout 600 >"$WORK/ws.out" 2>"$WORK/ws.err"; ws_rc=$?
  [ "$ws_rc" = 0 ] && t_pass wait_synced || t_fail wait_synced "exit $ws_rc: $(tail -n 2 "$WORK/ws.err" | tr '\n' ' ')"
  echo "# final commit and wait-synced: $(( $(now_ms) - T0 )) ms"
  # The view must show the host's last versions in hs/ (the poll imports them).
  hs_caught_up() {
    local want got
    want=$(cd "$FIX/hs" && for f in *; do echo "$(md5sum <"$f" | cut -d' ' -f1) $f"; done | sort)
    got=$(s3f_ctl "$STACK" ls hs 2>/dev/null | awk '$1 == "f" {print $4, $5}' | sort)
    [ "$want" = "$got" ]
  }
  if t_wait_for 60 hs_caught_up; then t_pass hs_view_caught_up
  else t_fail hs_view_caught_up "the view does not show the host's last S3 versions in hs/ after 60 s"; fi
  rm -rf "$MODEL" && cp -r "$FIX" "$MODEL"
  t_step model "$BIN" model "$MODEL" "$WORK/logs"
  vm_rv_ack "$RV" workload_done
  if rv_wait checked 1200; then
    cp "$RV/check1.txt" "$RV/check2.txt" "$WORK/" 2>/dev/null
    vm_rv_ack "$RV" checked
  fi
fi

wait "$GPID"
guest_rc=$?
GPID=
cat "$WORK/guest.out"
T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$WORK/guest.out")))
if [ $guest_rc -ne 0 ] && ! grep -q '^FAIL ' "$WORK/guest.out"; then
  t_fail guest "run-guest exited $guest_rc: $(tail -n 3 "$WORK/guest.err" | tr '\n' ' ')"
fi
for c in check1 check2; do
  [ -f "$WORK/$c.txt" ] && sed "s/^/# $c: /" "$WORK/$c.txt" | head -n 40
done
grep -h '^\(bad\|badread\|err\) ' "$WORK"/logs/*.log 2>/dev/null | head -n 20 | sed 's/^/# /'
grep -h 's3f-stress' "$WORK/console.log" 2>/dev/null | grep -v '^\s*\[' | head -n 10 | sed 's/^/# guest: /'

# ---- S3 equals the model (and so the view) ----
s3_fetch_all() {
  local dir=$1 k cfg=$WORK/curl.cfg
  rm -rf "$dir"; mkdir -p "$dir"
  s3_ls "$B" "$P" >"$WORK/s3.keys" || return 1
  : >"$cfg"
  while IFS= read -r k; do
    k=${k#"$P"}
    if [ "${k%/}" != "$k" ]; then mkdir -p "$dir/$k"; continue; fi
    printf 'url = "%s"\noutput = "%s"\n' "$(s3_url "$B" "$P$k")" "$dir/$k" >>"$cfg"
  done <"$WORK/s3.keys"
  [ -s "$cfg" ] || return 0
  curl -sS --fail --path-as-is --create-dirs --connect-timeout 10 --max-time 600 \
    --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' --parallel --parallel-max 8 -K "$cfg"
}
lost_view1=0 lost_view2=0 lost_s3=0
lb() { sed -n 's/^check .* lost_bytes=\([0-9]*\).*/\1/p' "$1" 2>/dev/null | tail -n 1; }
lost_view1=$(lb "$WORK/check1.txt"); lost_view2=$(lb "$WORK/check2.txt")
if [ -d "$MODEL" ] && [ -n "$status1" ]; then
  T0=$(now_ms)
  if s3_fetch_all "$WORK/s3" 2>"$WORK/fetch.err"; then
    echo "# every object downloaded in $(( $(now_ms) - T0 )) ms"
    "$BIN" check "$MODEL" "$WORK/s3" >"$WORK/check-s3.txt" 2>&1
    rc=$?
    sed 's/^/# s3: /' "$WORK/check-s3.txt" | head -n 40
    lost_s3=$(lb "$WORK/check-s3.txt")
    [ $rc = 0 ] && t_pass s3_equals_model || t_fail s3_equals_model "$(tail -n 1 "$WORK/check-s3.txt")"
  else
    t_fail s3_equals_model "download failed: $(tail -n 2 "$WORK/fetch.err" | tr '\n' ' ')"
  fi
fi

# ---- no conflicts, no wrong reads ----
nconf=$(s3f_ctl "$STACK" events --kind conflict 2>/dev/null | grep -c '"kind":"conflict"')
[ "$nconf" = 0 ] && t_pass no_conflicts ||
  t_fail no_conflicts "$nconf conflict events: $(s3f_ctl "$STACK" events --kind conflict 2>/dev/null | head -n 2 | tr '\n' ' ')"

# ---- figures ----
sums() { # KEY: the sum of KEY=N over the guest processes' summary lines
  grep -h '^sum ' "$WORK"/logs/*.log 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p" |
    awk '{s += $1} END {print s + 0}'
}
g_ops=$(sums ops) g_reads=$(sums reads) g_ver=$(sums verifies) g_list=$(sums listed)
g_races=$(sums races) bad_bytes=$(sums bad_bytes) bad_reads=$(sums bad_reads)
bad_read_bytes=$(sums bad_read_bytes) g_errs=$(sums errors)
[ "$g_errs" = 0 ] && t_pass guest_ops_succeed || t_fail guest_ops_succeed "$g_errs guest operations failed (err lines above)"
[ "$bad_bytes" = 0 ] && t_pass read_backs_right || t_fail read_backs_right "$bad_bytes bytes read back wrong right after their acknowledgement"
[ "$bad_reads" = 0 ] && t_pass stable_reads_right || t_fail stable_reads_right "$bad_reads reads of stable objects wrong ($bad_read_bytes bytes)"
read -r s3w_puts s3w_dels s3w_ann < <(sed 's/[a-z]*=//g' "$WORK/s3w.sum" 2>/dev/null || echo "0 0 0")
n_commits=$(grep -c . "$WORK/commit.log" 2>/dev/null)
n_evicts=$(grep -c . "$WORK/evict.log" 2>/dev/null)
ev_busy=$(sed -n 's/.* busy=\([0-9]*\).*/\1/p' "$WORK/evict.log" 2>/dev/null | awk '{s += $1} END {print s + 0}')
ev0=$(echo "${status0:-}" | sed -n 's/.* evicted=\([0-9]*\).*/\1/p' | head -n 1)
ev1=$(echo "${status1:-}" | sed -n 's/.* evicted=\([0-9]*\).*/\1/p' | head -n 1)
evicted=$(( ${ev1:-0} - ${ev0:-0} ))
# Cold-file writes that began while a prefetch was running after their directory's listing.
m_pf=$(python3 - "$WORK/prefetch.samples" "$WORK"/logs/*.log <<'PY'
import sys, re
samples = []
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 2 and p[1].isdigit():
        samples.append((int(p[0]), int(p[1])))
# busy: between two samples whose counter differs
busy = [(a[0], b[0]) for a, b in zip(samples, samples[1:]) if b[1] > a[1]]
lists, first = {}, {}
for path in sys.argv[2:]:
    for line in open(path):
        p = line.split()
        if len(p) < 4:
            continue
        if p[0] == 'list':
            lists[p[3]] = int(p[2])
        elif p[0] in ('text', 'pwrite', 'append', 'trunc', 'rewrite', 'rename', 'unlink'):
            d = p[3].rsplit('/', 1)[0]
            first.setdefault(p[3], (d, int(p[1]), int(p[2])))
n = 0
for f, (d, t0, t1) in first.items():
    if d not in lists or t0 < lists[d]:
        continue
    if any(a <= t1 and b >= t0 for a, b in busy if b >= lists[d]):
        n += 1
print(n)
PY
)
m_pf=${m_pf:-0}
lost=0
for v in "${lost_view1:-0}" "${lost_view2:-0}" "${lost_s3:-0}"; do [ "${v:-0}" -gt "$lost" ] && lost=$v; done
N=$(( g_ops + g_reads + g_ver + g_list + HOST_PUTS + ${s3w_puts:-0} + ${s3w_dels:-0} + n_commits + n_evicts ))
M=$(( m_pf + g_races + evicted + ev_busy ))
echo "# guest: $g_ops acknowledged ops, $g_ver read-backs, $g_reads reads, $g_list cold listings"
echo "# host: $((HOST_PUTS + ${s3w_puts:-0})) objects put, ${s3w_dels:-0} deleted, ${s3w_ann:-0} directories announced, $n_commits commits, $n_evicts eviction passes"
echo "# races: $m_pf cold-file writes during their prefetch, $g_races writes into chunks being hydrated, $evicted files evicted during the workload, $ev_busy evictions refused (file in use)"
echo "# lost bytes: view $lost_view1, after remount $lost_view2, S3 $lost_s3; read-backs wrong $bad_bytes, stable reads wrong $bad_reads"
for c in check1 check2 check-s3; do
  [ -s "$WORK/$c.txt" ] || continue
  a=$(awk '$1 == "wrong" || $1 == "missing" || $1 == "extra" { split($2, p, "/"); n[p[1]]++ }
           END { for (d in n) printf " %s:%d", d, n[d] }' "$WORK/$c.txt")
  [ -n "$a" ] && echo "# files differing by top directory ($c):$a"
done
echo "tried $N, faults $M, lost $lost"
if [ ! -s "$WORK/check2.txt" ] || [ ! -s "$WORK/check-s3.txt" ]; then
  t_fail nothing_lost "not checked to the end (view after remount: $([ -s "$WORK/check2.txt" ] && echo yes || echo no), S3: $([ -s "$WORK/check-s3.txt" ] && echo yes || echo no))"
elif [ "$lost" = 0 ]; then
  t_pass nothing_lost
else
  t_fail nothing_lost "$lost acknowledged bytes lost or wrong"
fi
s3f_stack_stop "$STACK"
t_done
