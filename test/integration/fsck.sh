#!/usr/bin/env bash
# fsck: `s3filesctl fsck` on a real stack (ganesha + FSAL_S3FILES + s3files-syncd, the
# shared RGW, a libnfs client over NFSv4.0).
#
#   tree_written        objects put straight into S3 are listed and read through NFS
#                       (fetched into the data tier), a tree is written through NFS and
#                       committed, one more file is written and left dirty
#   online_clean        `fsck --online` while the gateway runs: exit 0, nothing but legal
#   json_wellformed     `fsck --online --json`: every line a JSON object, a summary last
#   readonly_running    `fsck` (read-only, not --online) while the gateway runs: exit 0
#   repair_refused      `fsck --repair` while the gateway runs: exit 2, naming ganesha
#                       and its pid, nothing changed
#   damage_found        gateway stopped; an orphan data file, a foreign file and a clean
#                       file's data file removed: exit 1, each with its kind and class
#   repaired            `fsck --repair`: exit 0, every finding repaired, the data files
#                       moved into State_Dir/fsck-orphans/ (same bytes, MANIFEST)
#   clean_after_repair  `fsck` again: exit 0, nothing but legal findings
#   read_back           restarted: every file reads back as written (the clean file whose
#                       data was gone is fetched from S3 again), the dirty one commits
set -uo pipefail
T_SUITE=fsck
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup fsck
export LC_ALL=C
trap 's3f_stack_stop "$STACK"' EXIT
export S3FILES_COMMIT_INTERVAL=3600
STATE=$STACK/state
D=$WORK/data
CTL=${S3FILES_CTL:-$S3F_BUILD/bin/s3filesctl}
fsck() { "$CTL" -f "$STACK/ganesha.conf" fsck "$@"; }

# Objects put into S3 by another client: small ones (prefetched) and a larger one.
mkdir -p "$D/imp" "$D/w"
for i in 1 2 3 4 5; do head -c $((500 * i)) /dev/urandom >"$D/imp/o$i"; done
head -c 300000 /dev/urandom >"$D/imp/big"
for i in $(seq 1 12); do head -c $((100 + 200 * i)) /dev/urandom >"$D/w/f$i"; done
head -c 2500 /dev/urandom >"$D/w/dirty"
"$S3F_BUILD/bin/s3f_s3" -e "$RGW_TEST_DIR/env" -c 4 put-dir "$D/imp" "${P}imp/" >"$WORK/put.out" 2>&1 ||
  { t_fail put_objects "$(tail -n 3 "$WORK/put.out")"; t_done; }

s3f_test_stack_start
url() { printf 'nfs://127.0.0.1/s3files%s?version=4&nfsport=%s' "$1" "$NFS_PORT"; }
fileid() { "$S3F_BUILD/bin/s3f_nfs" stat "$(url "$1")" | awk '{print $5}'; }
datafile() { printf '%s/data/%02x/%016x' "$STATE" $(($1 & 255)) "$1"; }

# read_all: every file through NFS equals what was written
read_all() {
  local f
  for f in o1 o2 o3 o4 o5 big; do
    nfs-cat "$(url /imp/$f)" >"$WORK/got" 2>/dev/null && cmp -s "$WORK/got" "$D/imp/$f" ||
      { echo "/imp/$f reads back wrong"; return 1; }
  done
  for f in $(ls "$D/w"); do
    nfs-cat "$(url /w/$f)" >"$WORK/got" 2>/dev/null && cmp -s "$WORK/got" "$D/w/$f" ||
      { echo "/w/$f reads back wrong"; return 1; }
  done
}

tree_written() {
  local i
  nfs-ls "$(url /imp)" >/dev/null 2>&1 || { echo "nfs-ls /imp failed"; return 1; }
  "$S3F_BUILD/bin/s3f_nfs" mkdir "$(url /w)" || { echo "mkdir /w failed"; return 1; }
  "$S3F_BUILD/bin/s3f_nfs" mkdir "$(url /w/sub)" || { echo "mkdir /w/sub failed"; return 1; }
  for i in $(seq 1 12); do
    nfs-cp "$D/w/f$i" "$(url /w/f$i)" >/dev/null 2>&1 || { echo "nfs-cp f$i failed"; return 1; }
  done
  s3f_ctl "$STACK" commit / >"$WORK/commit.out" 2>&1 || { echo "commit: $(tail -n 2 "$WORK/commit.out")"; return 1; }
  nfs-cp "$D/w/dirty" "$(url /w/dirty)" >/dev/null 2>&1 || { echo "nfs-cp dirty failed"; return 1; }
  read_all
}
t_step tree_written tree_written

# only_legal FILE: the --json output holds findings of class legal only
only_legal() { ! grep '"class"' "$1" | grep -qv '"class":"legal"'; }

online_clean() {
  local rc
  fsck --online >"$WORK/f1.out" 2>"$WORK/f1.err"; rc=$?
  echo "# $(tail -n 1 "$WORK/f1.out")"
  [ $rc -eq 0 ] || { echo "exit $rc: $(head -n 5 "$WORK/f1.out" "$WORK/f1.err" | tr '\n' ' ')"; return 1; }
  grep -q '^fsck export 1: .* 0 powercut, 0 error, 0 loss' "$WORK/f1.out" ||
    { echo "summary: $(tail -n 1 "$WORK/f1.out")"; return 1; }
  # the tree is all there: 19 files, the directories
  grep -q ' (19 files, ' "$WORK/f1.out" || { echo "files counted: $(tail -n 1 "$WORK/f1.out")"; return 1; }
}
t_step online_clean online_clean

json_wellformed() {
  local rc
  fsck --online --json >"$WORK/f1.json" 2>"$WORK/f1.json.err"; rc=$?
  [ $rc -eq 0 ] || { echo "exit $rc"; return 1; }
  python3 - "$WORK/f1.json" <<'PY' || return 1
import json, sys
lines = open(sys.argv[1]).read().splitlines()
objs = [json.loads(l) for l in lines]
assert objs and objs[-1].get("summary") is True, "no summary object last"
s = objs[-1]
for k in ("files", "data_bytes", "legal", "garbage", "powercut", "error", "loss", "status"):
    assert k in s, "summary lacks " + k
for o in objs[:-1]:
    for k in ("class", "kind", "ino", "path", "action", "detail"):
        assert k in o, "finding lacks " + k
assert s["status"] == 0 and s["error"] == 0 and s["loss"] == 0, s
assert s["files"] == 19, s
PY
  only_legal "$WORK/f1.json" || { echo "findings beyond legal: $(grep -v legal "$WORK/f1.json" | head -n 3)"; return 1; }
}
t_step json_wellformed json_wellformed

readonly_running() {
  local rc
  fsck >"$WORK/f2.out" 2>&1; rc=$?
  [ $rc -eq 0 ] || { echo "exit $rc: $(head -n 5 "$WORK/f2.out" | tr '\n' ' ')"; return 1; }
}
t_step readonly_running readonly_running

repair_refused() {
  local rc pid
  pid=$(cat "$STACK/ganesha.pid")
  fsck --repair >"$WORK/f3.out" 2>"$WORK/f3.err"; rc=$?
  [ $rc -eq 2 ] || { echo "exit $rc, want 2"; return 1; }
  grep -q "ganesha (pid $pid " "$WORK/f3.err" || { echo "message: $(cat "$WORK/f3.err")"; return 1; }
  [ ! -s "$WORK/f3.out" ] || { echo "it ran: $(head -n 2 "$WORK/f3.out")"; return 1; }
  [ ! -e "$STATE/fsck-orphans" ] || { echo "it made $STATE/fsck-orphans"; return 1; }
}
t_step repair_refused repair_refused

# ---- stopped: damage the state ----
O1=$(fileid /imp/o1)
s3f_stack_stop "$STACK"
ORPHAN_INO=$((0x7fffffab))
ORPHAN=$(datafile $ORPHAN_INO)
damage() {
  [ -n "$O1" ] || { echo "no file id for /imp/o1"; return 1; }
  [ -f "$(datafile "$O1")" ] || { echo "no data file $(datafile "$O1") for /imp/o1"; return 1; }
  rm -f "$(datafile "$O1")"
  mkdir -p "$(dirname "$ORPHAN")"
  head -c 4000 /dev/urandom >"$WORK/orphan.bytes"
  cp "$WORK/orphan.bytes" "$ORPHAN"
  echo "not ours" >"$STATE/data/foreign.txt"
}
t_step damage damage

damage_found() {
  local rc
  fsck --json >"$WORK/f4.json" 2>"$WORK/f4.err"; rc=$?
  [ $rc -eq 1 ] || { echo "exit $rc, want 1: $(cat "$WORK/f4.err")"; return 1; }
  python3 - "$WORK/f4.json" "$O1" "$ORPHAN_INO" <<'PY' || return 1
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()]
o1, orphan = int(sys.argv[2]), int(sys.argv[3])
f = [o for o in objs if not o.get("summary") and o["class"] != "legal"]
def has(kind, cls, ino=None):
    return any(o["kind"] == kind and o["class"] == cls and (ino is None or o["ino"] == ino)
               and o["action"] == "repairable" for o in f)
assert has("data_missing", "error", o1), f
assert has("orphan_data", "garbage", orphan), f
assert any(o["kind"] == "tier_foreign" and "foreign.txt" in o["detail"] for o in f), f
assert len(f) == 3, f
s = objs[-1]
assert s["error"] == 1 and s["garbage"] == 2 and s["status"] == 1, s
PY
}
t_step damage_found damage_found

repaired() {
  local rc q
  fsck --repair >"$WORK/f5.out" 2>"$WORK/f5.err"; rc=$?
  echo "# $(tail -n 1 "$WORK/f5.out")"
  [ $rc -eq 0 ] || { echo "exit $rc: $(cat "$WORK/f5.out" "$WORK/f5.err" | head -n 8 | tr '\n' ' ')"; return 1; }
  [ "$(grep -c ' repaired ' "$WORK/f5.out")" -eq 3 ] || { echo "repaired: $(cat "$WORK/f5.out")"; return 1; }
  [ ! -e "$ORPHAN" ] && [ ! -e "$STATE/data/foreign.txt" ] || { echo "files still in the tier"; return 1; }
  q=$(ls -d "$STATE"/fsck-orphans/*/ 2>/dev/null | head -n 1)
  [ -n "$q" ] || { echo "no quarantine directory"; return 1; }
  cmp -s "$q/$(printf '%02x-%016x' $((ORPHAN_INO & 255)) $ORPHAN_INO)" "$WORK/orphan.bytes" ||
    { echo "the orphan's bytes are not in $q: $(ls "$q")"; return 1; }
  grep -q 'orphan_data' "$q/MANIFEST" && grep -q 'tier_foreign' "$q/MANIFEST" ||
    { echo "MANIFEST: $(cat "$q/MANIFEST")"; return 1; }
}
t_step repaired repaired

clean_after_repair() {
  local rc
  fsck --json >"$WORK/f6.json" 2>&1; rc=$?
  [ $rc -eq 0 ] || { echo "exit $rc: $(head -n 5 "$WORK/f6.json")"; return 1; }
  only_legal "$WORK/f6.json" || { echo "left: $(grep -v '"legal"' "$WORK/f6.json" | head -n 3)"; return 1; }
}
t_step clean_after_repair clean_after_repair

read_back() {
  s3f_stack_start "$STACK" >"$WORK/start2.out" 2>&1 || { echo "restart: $(tail -n 5 "$WORK/start2.out" | tr '\n' ' ')"; return 1; }
  NFS_PORT=$(cat "$STACK/nfs_port")
  read_all || return 1
  s3f_ctl "$STACK" commit / >"$WORK/commit2.out" 2>&1 || { echo "commit: $(tail -n 2 "$WORK/commit2.out")"; return 1; }
  s3_get_file "$B" "${P}w/dirty" "$WORK/got.dirty" 2>/dev/null && cmp -s "$WORK/got.dirty" "$D/w/dirty" ||
    { echo "w/dirty in S3 differs"; return 1; }
  fsck --online >"$WORK/f7.out" 2>&1 || { echo "fsck after the restart: $(tail -n 3 "$WORK/f7.out")"; return 1; }
}
t_step read_back read_back

t_done
