#!/usr/bin/env bash
# conformance: what unmodified programs and system calls see through the Linux kernel
# NFSv4.1 client (qemu guest), on the full stack (ganesha + FSAL_S3FILES + s3files-syncd,
# real RGW). Two parts:
#
# syscalls.*  test/tools/s3f_sysck runs its cases (open flags and O_EXCL, eight processes
#             racing for one O_EXCL name, O_APPEND with two writer processes, rename over
#             existing names, unlink and rename-over of an open file, rmdir, link counts,
#             hard links, symlinks, timestamps after every kind of change, utimensat,
#             truncate and holes, 255/256-byte and UTF-8 names, mkdir, readdir, fsync and
#             posix_fallocate) in the guest on a tmpfs (the reference: a local Linux file
#             system) and on the mount (noac: each stat asks the server). Every line
#             must be the same, or be listed in test/integration/conformance.expect with
#             the NFS result and the doc/SEMANTICS.md section that makes the difference
#             deliberate. A listed line that no longer differs fails too (the list stays
#             true). Permission and set-ID rules are perms.sh's, against the same reference.
# programs.*  real programs on the mount (default mount options), each checked on content:
#   nextflow_task   Nextflow's task wrapper: .command.run tees the task's stdout and
#                   stderr through two FIFOs in the work directory, four tasks at once;
#                   outputs published by copy, by symlink, and by link (refused: EPERM,
#                   nothing left behind; doc/SEMANTICS.md, "Hard links")
#   snakemake_flow  a Snakemake-style pipeline: outputs written to a temp name and renamed
#                   into place, touch markers, reruns decided on mtimes (-nt, find -newer):
#                   nothing reruns when nothing changed, exactly the downstream after a touch
#   make_j          make -j4 of a small C project (gcc, -MMD dependencies): the program
#                   runs, `make -q` says up to date, touching a header rebuilds what uses it
#   rsync           rsync -a in (a tree with modes, times, symlinks, UTF-8 names), out to the
#                   guest's tmpfs, diff -r equal; a second rsync -a transfers nothing
#   sqlite3         create, 1,000 inserts in one transaction, two processes inserting
#                   at once through sqlite's own fcntl locking, integrity_check; after a
#                   commit the object in S3 is a database with every row (host)
#   os_replace      Python: 200 versions written to a temp file, fsync'd and os.replace'd
#                   over one name while another process reads it: every read whole
#   tar_names       tar of a tree with UTF-8 names, 255-byte names (ASCII and UTF-8) and a
#                   255/255 nesting: extracted into the mount, tarred back, same names and
#                   bytes; after a commit the keys in S3 are those names (host)
#   over_4gib       a file with bytes written past 4 GiB (lseek to 4 GiB + 12,345 and to
#                   6 GiB): read back after dropping caches and after a remount, the hole
#                   reads as zeros, size exact
#   flock_clients   flock(1) through two mounts (nosharecache: separate client state): an
#                   exclusive lock refuses the other client, shared locks coexist, the lock
#                   is granted after release; fcntl (Python lockf) likewise
set -uo pipefail
T_SUITE=conformance
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup cf
export LC_ALL=C
RV=$WORK/rv
GPID=
cleanup() {
  [ -n "$GPID" ] && kill "$GPID" 2>/dev/null
  s3f_stack_stop "$STACK"
}
trap cleanup EXIT

SYSCK=$S3F_BUILD/bin/s3f_sysck
EXPECT=$S3F_ROOT/test/integration/conformance.expect
[ -x "$SYSCK" ] || { t_fail setup "$SYSCK not built (make test-tools)"; t_done; }
for t in rsync sqlite3 gcc make flock tar /usr/bin/python3; do
  command -v "$t" >/dev/null || { t_fail setup "$t is not installed (make deps)"; t_done; }
done
t_step build_guest "$S3F_ROOT/test/vm/build-guest.sh" || t_done

D=$WORK/data
# ---- a small C project ----
mkdir -p "$D/proj"
{
  echo '#define SCALE 7'
} >"$D/proj/config.h"
for i in 0 1 2 3 4 5 6 7; do
  if [ $i -lt 4 ]; then inc='#include "config.h"'; mul=SCALE; else inc=''; mul=3; fi
  printf '%s\nint f%d(void) { return %d * %s; }\n' "$inc" $i $((i + 1)) $mul >"$D/proj/mod$i.c"
done
{
  echo '#include <stdio.h>'
  for i in 0 1 2 3 4 5 6 7; do echo "int f$i(void);"; done
  echo 'int main(void) { printf("sum=%d\n", f0()+f1()+f2()+f3()+f4()+f5()+f6()+f7()); return 0; }'
} >"$D/proj/main.c"
cat >"$D/proj/Makefile" <<'MK'
OBJ := main.o $(patsubst %.c,%.o,$(wildcard mod*.c))
app: $(OBJ)
	$(CC) -o $@ $(OBJ)
%.o: %.c
	$(CC) -O0 -MMD -MP -c -o $@ $<
-include $(OBJ:.o=.d)
clean:
	rm -f app *.o *.d
MK
# (1+2+3+4)*7 + (5+6+7+8)*3
SUM=$(( (1 + 2 + 3 + 4) * 7 + (5 + 6 + 7 + 8) * 3 ))

# ---- a tree for rsync and tar: modes, times, symlinks, UTF-8 and 255-byte names ----
U=$D/utree
N255=$(head -c 255 /dev/zero | tr '\0' n)
E255=$(for i in $(seq 85); do printf '\xe2\x82\xac'; done)   # 85 x U+20AC: 255 bytes
D255=$(head -c 255 /dev/zero | tr '\0' d)
mkdir -p "$U/sub/deeper" "$U/données" "$U/日本語" "$U/$D255"
echo "plain" >"$U/plain.txt"
head -c 70000 /dev/urandom >"$U/sub/binary.bin"
echo "unicode" >"$U/données/fichier-é.txt"
echo "kanji" >"$U/日本語/ファイル.txt"
echo "emoji" >"$U/emoji-🙂.txt"
echo "long ascii" >"$U/$N255"
echo "long utf8" >"$U/$E255"
echo "nested long" >"$U/$D255/$N255"
echo "spaces" >"$U/sub/a name with spaces"
ln -s sub/binary.bin "$U/link-rel"
ln -s "日本語/ファイル.txt" "$U/link-utf8"
chmod 600 "$U/sub/binary.bin"; chmod 750 "$U/sub/deeper"; chmod 755 "$U/plain.txt"
touch -d '2015-03-04 05:06:07' "$U/plain.txt" "$U/données/fichier-é.txt"
touch -d '2011-01-01 00:00:00' "$U/sub/deeper"
tar -C "$U" -cf "$D/utree.tar" .
(cd "$U" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$D/utree.sha"
(cd "$U" && find . | sort) >"$D/utree.names"

# ---- Nextflow's task wrapper (.command.run's FIFO plumbing) ----
cat >"$D/command.run" <<'RUN'
#!/bin/bash
# the part of Nextflow's .command.run that matters to the file system: stdout and stderr
# of the task go through FIFOs in the work directory, tee'd into .command.out/.err
set -e
cd "$1"
COUT=$PWD/.command.po; mkfifo "$COUT"
CERR=$PWD/.command.pe; mkfifo "$CERR"
tee .command.out < "$COUT" > /dev/null &
tee1=$!
tee .command.err < "$CERR" > /dev/null &
tee2=$!
set +e
/bin/bash .command.sh > "$COUT" 2> "$CERR"
ret=$?
set -e
wait $tee1 $tee2
rm -f "$COUT" "$CERR"
echo $ret > .exitcode
RUN
cat >"$D/command.sh" <<'SH'
for i in $(seq 1 500); do echo "out line $i"; echo "err line $i" >&2; done
seq 1 1000 > result.txt
SH

# ---- a Snakemake-style pipeline: temp outputs renamed into place, touch markers ----
cat >"$D/pipeline.sh" <<'PIPE'
#!/bin/bash
# rule a: input.txt -> a.txt; rule b: a.txt -> b.txt; rule c: b.txt -> c.txt
# a rule runs when its output is missing or older than its input; each run is logged
set -e
cd "$1"
mkdir -p .snakemake
rule() {   # rule NAME IN OUT
  if [ ! -e "$3" ] || [ "$2" -nt "$3" ]; then
    tr a-z A-Z < "$2" > "$3.tmp.$$"
    echo "rule $1 ran" >> "$3.tmp.$$"
    mv "$3.tmp.$$" "$3"
    touch ".snakemake/$1.done"
    echo "ran $1" >> log
  fi
}
rule a input.txt a.txt
rule b a.txt b.txt
rule c b.txt c.txt
PIPE

# ---- Python: write a temp file, fsync, os.replace over one name, a reader checking ----
cat >"$D/replace.py" <<'PY'
import os, sys, time
d = sys.argv[1]
target = os.path.join(d, "state.json")
def body(v):
    return ("{\"version\": %d, \"pad\": \"%s\"}\n" % (v, "x" * 4000)).encode()
if sys.argv[2] == "write":
    for v in range(200):
        tmp = os.path.join(d, ".state.json.tmp%d" % os.getpid())
        with open(tmp, "wb") as f:
            f.write(body(v)); f.flush(); os.fsync(f.fileno())
        os.replace(tmp, target)
    sys.exit(0)
# reader: every read is one whole version; versions never go back
last, reads = -1, 0
deadline = time.time() + 120
while time.time() < deadline:
    try:
        with open(target, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        continue
    v = int(data.split(b",")[0].split(b":")[1])
    if data != body(v):
        print("torn read of version %d (%d bytes)" % (v, len(data))); sys.exit(1)
    if v < last:
        print("version went back from %d to %d" % (last, v)); sys.exit(1)
    last, reads = v, reads + 1
    if v == 199:
        print("reads %d" % reads); sys.exit(0)
print("never saw the last version (last %d)" % last); sys.exit(1)
PY

# ---- > 4 GiB: bytes past 4 GiB, read back ----
cat >"$D/big.py" <<'PY'
import os, sys, hashlib
path, mode = sys.argv[1], sys.argv[2]
A = 4 * 2**30 + 12345
B = 6 * 2**30
chunk = hashlib.sha256(b"past 4 GiB").digest() * 2048   # 64 KiB
if mode == "write":
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.lseek(fd, A, os.SEEK_SET); os.write(fd, chunk)
    os.lseek(fd, B, os.SEEK_SET); os.write(fd, b"end")
    os.fsync(fd); os.close(fd)
    sys.exit(0)
st = os.stat(path)
if st.st_size != B + 3:
    print("size %d, want %d" % (st.st_size, B + 3)); sys.exit(1)
fd = os.open(path, os.O_RDONLY)
ok = os.pread(fd, len(chunk), A) == chunk and os.pread(fd, 3, B) == b"end"
ok = ok and os.pread(fd, 65536, A - 65536) == bytes(65536)
ok = ok and os.pread(fd, 4096, 5 * 2**30) == bytes(4096)
os.lseek(fd, A, os.SEEK_SET)
ok = ok and os.read(fd, 32) == chunk[:32]
os.close(fd)
print("content %s" % ("ok" if ok else "differs")); sys.exit(0 if ok else 1)
PY

cat >"$D/lockf.py" <<'PY'
import fcntl, os, sys, time
path, mode = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
if mode == "hold":
    fcntl.lockf(fd, fcntl.LOCK_EX)
    open(sys.argv[3], "w").close()
    time.sleep(float(sys.argv[4])); sys.exit(0)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("granted"); sys.exit(0)
except OSError:
    print("refused"); sys.exit(3)
PY

export S3FILES_COMMIT_INTERVAL=3600 S3FILES_POLL_MS=1000
s3f_test_stack_start

# ---- the guest ----
cat >"$WORK/guest.sh" <<'GUEST'
M=/mnt/s3
M2=/mnt/s3b
H="host_run env HOME=/tmp LC_ALL=C.UTF-8"
umask 022
mkdir -p $M $M2 /mnt/ref /mnt/sys
step mount_tmpfs mount -t tmpfs -o mode=0755 reftmp /mnt/ref || exit 1

# -- syscalls: the same cases on the tmpfs and on the mount (noac), transcripts to the host
step mount_noac nfs_mount noac /s3files /mnt/sys || exit 1
sys_run() {
  mkdir -p /mnt/sys/sysck || return 1
  $H $SYSCK /mnt/ref > /ctl/rv/sys.ref 2>&1 || { tail -n 3 /ctl/rv/sys.ref; return 1; }
  $H $SYSCK /mnt/sys/sysck > /ctl/rv/sys.nfs 2>&1 || { tail -n 3 /ctl/rv/sys.nfs; return 1; }
  echo "$(wc -l < /ctl/rv/sys.ref) lines on tmpfs, $(wc -l < /ctl/rv/sys.nfs) on NFS"
}
step syscalls_ran sys_run
host_signal sys
host_wait sys 120
step umount_noac umount /mnt/sys

step mount nfs_mount "" /s3files $M || exit 1

# -- Nextflow: four tasks at once, FIFOs + tee in each work directory; publishing
nextflow_case() {
  pids=
  for t in 1 2 3 4; do
    w=$M/work/a$t/b$t$t$t
    mkdir -p $w && cp /host$DATA/command.run $w/.command.run && cp /host$DATA/command.sh $w/.command.sh || return 1
    $H bash /mnt/s3/work/a$t/b$t$t$t/.command.run /mnt/s3/work/a$t/b$t$t$t &
    pids="$pids $!"
  done
  for p in $pids; do wait $p || { echo "a task wrapper failed"; return 1; }; done
  for t in 1 2 3 4; do
    w=$M/work/a$t/b$t$t$t
    [ "$(cat $w/.exitcode)" = 0 ] || { echo "task $t: exit code $(cat $w/.exitcode)"; return 1; }
    [ "$(wc -l < $w/.command.out)" = 500 ] && [ "$(tail -n 1 $w/.command.out)" = "out line 500" ] || { echo "task $t: .command.out has $(wc -l < $w/.command.out) lines"; return 1; }
    [ "$(wc -l < $w/.command.err)" = 500 ] && [ "$(head -n 1 $w/.command.err)" = "err line 1" ] || { echo "task $t: .command.err wrong"; return 1; }
    [ ! -e $w/.command.po ] && [ ! -e $w/.command.pe ] || { echo "task $t: FIFOs left"; return 1; }
    [ "$(tail -n 1 $w/result.txt)" = 1000 ] || return 1
  done
  mkdir -p $M/results/copy $M/results/symlink $M/results/link
  cp $M/work/a1/b111/result.txt $M/results/copy/ && cmp $M/results/copy/result.txt $M/work/a1/b111/result.txt || return 1
  ln -s $M/work/a2/b222/result.txt $M/results/symlink/result.txt && cmp $M/results/symlink/result.txt $M/work/a2/b222/result.txt || return 1
  if $H ln /mnt/s3/work/a3/b333/result.txt /mnt/s3/results/link/result.txt 2>/tmp/ln.err; then
    echo "publish by link succeeded"; return 1
  fi
  grep -q "Operation not permitted" /tmp/ln.err && [ ! -e $M/results/link/result.txt ] || { echo "link: $(cat /tmp/ln.err)"; return 1; }
}
step programs.nextflow_task nextflow_case

# -- Snakemake-style pipeline
snake_case() {
  w=$M/snake; mkdir -p $w && echo "some input" > $w/input.txt || return 1
  $H bash $DATA/pipeline.sh /mnt/s3/snake || return 1
  [ "$(cat $w/log | tr '\n' ' ')" = "ran a ran b ran c " ] || { echo "first run: $(cat $w/log)"; return 1; }
  [ "$(head -n 1 $w/c.txt)" = "SOME INPUT" ] || return 1
  ls -a $w | grep -q tmp && { echo "temp file left"; return 1; }
  sleep 1
  $H bash $DATA/pipeline.sh /mnt/s3/snake || return 1
  [ "$(wc -l < $w/log)" = 3 ] || { echo "second run reran: $(cat $w/log)"; return 1; }
  touch $w/mark; sleep 1
  touch $w/a.txt
  $H bash $DATA/pipeline.sh /mnt/s3/snake || return 1
  [ "$(tail -n 2 $w/log | tr '\n' ' ')" = "ran b ran c " ] || { echo "after touch a.txt: $(cat $w/log)"; return 1; }
  got=$(cd $w && find . -newer mark -type f | sort | tr '\n' ' ')
  [ "$got" = "./.snakemake/b.done ./.snakemake/c.done ./a.txt ./b.txt ./c.txt ./log " ] || { echo "find -newer: $got"; return 1; }
  touch -d '2001-01-01 00:00:00' $w/input.txt && [ ! $w/input.txt -nt $w/a.txt ] || return 1
}
step programs.snakemake_flow snake_case

# -- make -j4 of a C project
make_case() {
  cp -r /host$DATA/proj $M/proj || return 1
  $H make -s -j4 -C /mnt/s3/proj > /tmp/make1 2>&1 || { tail -n 3 /tmp/make1; return 1; }
  [ "$($H /mnt/s3/proj/app)" = "sum=$SUM" ] || { echo "app printed $($H /mnt/s3/proj/app)"; return 1; }
  $H make -q -C /mnt/s3/proj || { echo "make -q: not up to date after a build"; return 1; }
  sleep 1
  touch $M/proj/config.h
  $H make -j4 -C /mnt/s3/proj > /tmp/make2 2>&1 || return 1
  got=$(grep -o 'mod[0-9]\.o\|main\.o' /tmp/make2 | grep -v '^$' | sort -u | tr '\n' ' ')
  # the -c lines name each object twice (-o X.o and the source), so count objects rebuilt
  rebuilt=$(grep -c -- ' -c ' /tmp/make2)
  [ "$rebuilt" = 4 ] || { echo "touching config.h rebuilt $rebuilt objects: $got"; return 1; }
  $H make -q -C /mnt/s3/proj || { echo "make -q after the rebuild"; return 1; }
  [ "$($H /mnt/s3/proj/app)" = "sum=$SUM" ]
}
step programs.make_j make_case

# -- rsync -a in and out
rsync_case() {
  $H rsync -a $DATA/utree/ /mnt/s3/rs/ || return 1
  $H rsync -a /mnt/s3/rs/ /tmp/rsout/ || return 1
  $H diff -r $DATA/utree /tmp/rsout > /tmp/rsdiff 2>&1 || { head -n 3 /tmp/rsdiff; return 1; }
  for f in plain.txt données/fichier-é.txt sub/deeper sub/binary.bin; do
    a=$($H stat -c '%a %Y' "$DATA/utree/$f"); b=$($H stat -c '%a %Y' "/mnt/s3/rs/$f")
    [ "$a" = "$b" ] || { echo "$f: mode/mtime $b, source $a"; return 1; }
  done
  [ "$(readlink $M/rs/link-utf8)" = "日本語/ファイル.txt" ] || return 1
  $H rsync -a -i $DATA/utree/ /mnt/s3/rs/ > /tmp/rs2 || return 1
  [ ! -s /tmp/rs2 ] || { echo "second rsync transferred: $(head -n 3 /tmp/rs2 | tr '\n' ' ')"; return 1; }
}
step programs.rsync rsync_case

# -- sqlite3 with its own locking
sqlite_case() {
  S="$H sqlite3 -bail /mnt/s3/db/t.db"
  mkdir -p $M/db || return 1
  $S "create table t(id integer primary key, who text, v integer);" || return 1
  { echo "begin;"; for i in $(seq 1 1000); do echo "insert into t(who, v) values('init', $i);"; done; echo "commit;"; } > /tmp/ins.sql
  $S < /tmp/ins.sql || return 1
  for w in A B; do
    { echo ".timeout 60000"; for i in $(seq 1 200); do echo "insert into t(who, v) values('$w', $i);"; done; } > /tmp/ins$w.sql
  done
  $S < /tmp/insA.sql & pa=$!
  $S < /tmp/insB.sql & pb=$!
  wait $pa || { echo "writer A failed"; return 1; }
  wait $pb || { echo "writer B failed"; return 1; }
  got=$($S "select count(*), sum(v) from t;")
  [ "$got" = "1400|540700" ] || { echo "count|sum $got"; return 1; }
  [ "$($S 'pragma integrity_check;')" = ok ]
}
step programs.sqlite3 sqlite_case

# -- Python os.replace with a reader
replace_case() {
  mkdir -p $M/py || return 1
  $H /usr/bin/python3 $DATA/replace.py /mnt/s3/py write &
  wp=$!
  $H /usr/bin/python3 $DATA/replace.py /mnt/s3/py read > /tmp/reader 2>&1 & rp=$!
  wait $wp || { echo "writer failed"; return 1; }
  wait $rp || { cat /tmp/reader; return 1; }
  cat /tmp/reader
  [ "$(ls -a $M/py | grep -c tmp)" = 0 ]
}
step programs.os_replace replace_case

# -- tar with UTF-8 and 255-byte names
tar_case() {
  mkdir -p $M/ut || return 1
  $H tar -xf $DATA/utree.tar -C /mnt/s3/ut || return 1
  $H sh -c 'cd /mnt/s3/ut && find . | sort' > /tmp/ut.names
  cmp /tmp/ut.names /host$DATA/utree.names || { echo "names differ"; return 1; }
  $H sh -c 'cd /mnt/s3/ut && find . -type f -print0 | sort -z | xargs -0 sha256sum' > /tmp/ut.sha
  cmp /tmp/ut.sha /host$DATA/utree.sha || { echo "contents differ"; return 1; }
  $H tar -cf /tmp/ut2.tar -C /mnt/s3/ut . || return 1
  mkdir -p /tmp/ut2 && $H tar -xf /tmp/ut2.tar -C /tmp/ut2 && $H diff -r $DATA/utree /tmp/ut2
}
step programs.tar_names tar_case

# -- a file past 4 GiB
big_case() {
  $H /usr/bin/python3 $DATA/big.py /mnt/s3/big write || return 1
  $H /usr/bin/python3 $DATA/big.py /mnt/s3/big check || return 1
  sync; echo 3 > /proc/sys/vm/drop_caches
  $H /usr/bin/python3 $DATA/big.py /mnt/s3/big check || return 1
  umount $M && nfs_mount "" /s3files $M || return 1
  $H /usr/bin/python3 $DATA/big.py /mnt/s3/big check || return 1
  rm $M/big
}
step programs.over_4gib big_case

# -- flock and fcntl across two clients
wait_for() { i=0; while [ ! -e "$1" ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; [ -e "$1" ]; }
flock_case() {
  nfs_mount nosharecache /s3files $M2 || return 1
  echo x > $M/lk
  rm -f /tmp/held
  $H flock -x /mnt/s3/lk -c 'touch /tmp/held; sleep 4' & hp=$!
  wait_for /tmp/held || { echo "holder never got the lock"; return 1; }
  if $H flock -n -x /mnt/s3b/lk true; then echo "exclusive flock granted to the other client"; return 1; fi
  if $H flock -n -s /mnt/s3b/lk true; then echo "shared flock granted against an exclusive one"; return 1; fi
  wait $hp || return 1
  $H flock -n -x /mnt/s3b/lk true || { echo "not granted after release"; return 1; }
  rm -f /tmp/held
  $H flock -s /mnt/s3/lk -c 'touch /tmp/held; sleep 3' & hp=$!
  wait_for /tmp/held || return 1
  $H flock -n -s /mnt/s3b/lk true || { echo "shared locks do not coexist"; return 1; }
  if $H flock -n -x /mnt/s3b/lk true; then echo "exclusive granted against shared"; return 1; fi
  wait $hp || return 1
  rm -f /tmp/held
  $H /usr/bin/python3 $DATA/lockf.py /mnt/s3/lk2 hold /tmp/held 3 & hp=$!
  wait_for /tmp/held || return 1
  [ "$($H /usr/bin/python3 $DATA/lockf.py /mnt/s3b/lk2 try)" = refused ] || { echo "fcntl lock granted to the other client"; return 1; }
  wait $hp || return 1
  [ "$($H /usr/bin/python3 $DATA/lockf.py /mnt/s3b/lk2 try)" = granted ] || return 1
  umount $M2
}
step programs.flock_clients flock_case

step umount umount $M
GUEST

"$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$WORK/guest.sh" --timeout 1200 \
  --log "$WORK/console.log" --rendezvous "$RV" --mem 1024 \
  --env NFS_PORT="$NFS_PORT" --env DATA="$D" --env SYSCK="$SYSCK" --env SUM="$SUM" \
  >"$WORK/guest.out" 2>"$WORK/guest.err" &
GPID=$!
# The transcripts live in the guest's run directory, gone when it ends: copied here at the
# rendezvous.
if vm_rv_wait "$RV" sys 900; then
  cp "$RV/sys.ref" "$RV/sys.nfs" "$WORK/" 2>/dev/null
  vm_rv_ack "$RV" sys
else
  t_fail rendezvous "the guest never reached the syscall transcripts"
fi
wait "$GPID"
guest_rc=$?
GPID=
cat "$WORK/guest.out"
T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$WORK/guest.out")))
if [ $guest_rc -ne 0 ] && ! grep -q '^FAIL ' "$WORK/guest.out"; then
  t_fail guest "run-guest exited $guest_rc: $(tail -n 3 "$WORK/guest.err" | tr '\n' ' ')"
fi

# The kernel client's own verdict on the server: any "Broken NFSv4 server" report fails.
if grep -q "Broken NFSv4 server" "$WORK/console.log"; then
  t_fail client_reports_no_server_bug "$(grep -m1 'Broken NFSv4 server' "$WORK/console.log")"
else
  t_pass client_reports_no_server_bug
fi

# ---- syscalls: the transcripts, case by case, against the list of deliberate differences
if [ -s "$WORK/sys.ref" ] && [ -s "$WORK/sys.nfs" ]; then
  # conformance.expect: "CASE.STEP NFS-RESULT    # why (SEMANTICS section)"
  sed -e 's/[[:space:]]*#.*$//' -e '/^[[:space:]]*$/d' "$EXPECT" >"$WORK/expect"
  for c in $("$SYSCK" x --list); do
    grep "^$c\." "$WORK/sys.ref" >"$WORK/ref.$c"
    grep "^$c\." "$WORK/sys.nfs" >"$WORK/nfs.$c"
    grep "^$c\." "$WORK/expect" >"$WORK/exp.$c"
    why=
    if ! grep -qx "$c.END" "$WORK/ref.$c" || ! grep -qx "$c.END" "$WORK/nfs.$c"; then
      why="the case did not finish"
    elif [ "$(cut -d' ' -f1 "$WORK/ref.$c")" != "$(cut -d' ' -f1 "$WORK/nfs.$c")" ]; then
      why="the steps differ: $(diff <(cut -d' ' -f1 "$WORK/ref.$c") <(cut -d' ' -f1 "$WORK/nfs.$c") | grep '^[<>]' | tr '\n' ' ' | cut -c1-200)"
    else
      while IFS= read -r rl && IFS= read -r nl <&3; do
        step=${rl%% *}
        exp=$(grep -m1 "^$step " "$WORK/exp.$c" | sed 's/[[:space:]]*$//')
        if [ "$rl" = "$nl" ]; then
          [ -n "$exp" ] && why="$why [$step is listed in conformance.expect but matches the reference: '$rl']"
        elif [ "$nl" != "$exp" ]; then
          why="$why [NFS '$nl', tmpfs '${rl#* }'${exp:+, listed '${exp#* }'}]"
        else
          echo "# deliberate: $nl (tmpfs: ${rl#* })"
        fi
      done <"$WORK/ref.$c" 3<"$WORK/nfs.$c"
    fi
    if [ -z "$why" ]; then t_pass "syscalls.$c"; else t_fail "syscalls.$c" "$(echo "$why" | cut -c1-600)"; fi
  done
else
  t_fail syscalls "no transcripts came back from the guest"
fi

# ---- S3 after a commit: the database and the names ----
if out=$(s3f_ctl "$STACK" commit db 2>&1); then
  if s3_get_file "$B" "${P}db/t.db" "$WORK/t.db" 2>/dev/null; then
    got=$(sqlite3 "$WORK/t.db" "select count(*), sum(v) from t; pragma integrity_check;" 2>&1 | tr '\n' ' ')
    if [ "$got" = "1400|540700 ok " ]; then t_pass s3_sqlite_object
    else t_fail s3_sqlite_object "the object says: $got"; fi
  else
    t_fail s3_sqlite_object "no object ${P}db/t.db"
  fi
else
  t_fail s3_sqlite_object "commit: $out"
fi
if out=$(s3f_ctl "$STACK" commit ut 2>&1); then
  s3_ls "$B" "${P}ut/" | sed "s|^${P}ut/|./|" | grep -v '/$' | sort >"$WORK/ut.keys"
  (cd "$U" && find . ! -type d | sort) >"$WORK/ut.want"
  if cmp -s "$WORK/ut.keys" "$WORK/ut.want"; then
    t_pass s3_utf8_keys
  else
    t_fail s3_utf8_keys "keys differ: $(diff "$WORK/ut.want" "$WORK/ut.keys" | grep '^[<>]' | head -n 3 | tr '\n' ' ' | cut -c1-300)"
  fi
else
  t_fail s3_utf8_keys "commit: $out"
fi

t_done
