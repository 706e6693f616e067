#!/usr/bin/env bash
# posix: file system behaviour through the Linux kernel NFSv4.1 client (qemu guest), with
# the full stack (ganesha + FSAL_S3FILES + s3files-syncd) on the real RGW.
#
#   - tar extraction of a 2,000-file tree (20 directories of 50 files, one of 1,000, and
#     symlinks), re-read byte-exact, also after a remount; after `s3filesctl commit` every
#     file is an object;
#   - cp -a keeps modes, times and symlinks;
#   - a 1 GiB sparse file written at 32 random offsets reads back exactly, holes as zeros,
#     and stays sparse in the data tier;
#   - chown/chmod/touch/truncate; rmdir of a non-empty directory fails; unlink; statfs;
#   - POSIX byte-range locks: a lock held through one mount is refused to a second mount
#     (nosharecache: separate inodes, so only the server can see the conflict) and to
#     another process; disjoint ranges and shared locks coexist; a blocking lock waits for
#     the release;
#   - hard links are refused with EPERM: ln and cp -al fail and leave nothing, git
#     clone of a path copies instead, git clone --local fails, --no-hardlinks works;
#   - keys over 1,024 bytes: every call that would make one fails with ENAMETOOLONG (a key
#     of exactly 1,024 bytes works), lookups say ENOENT;
#   - handles survive a ganesha restart: an open file keeps reading, a shell whose working
#     directory is in the export still lists it (the host restarts ganesha while the guest
#     waits at a rendezvous).
set -uo pipefail
T_SUITE=posix
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup px
export LC_ALL=C
RV=$WORK/rv
GPID=
cleanup() {
  [ -n "$GPID" ] && kill "$GPID" 2>/dev/null
  s3f_stack_stop "$STACK"
}
trap cleanup EXIT

t_step build_guest "$S3F_ROOT/test/vm/build-guest.sh" || t_done

# ---- data: the tree, its manifest, chunks for the sparse file ----
TREE=$WORK/data/tree
mkdir -p "$TREE/big"
for d in $(seq -w 1 20); do
  mkdir -p "$TREE/d$d"
  for f in $(seq -w 1 50); do head -c $(( (RANDOM * 7) % 8192 )) /dev/urandom >"$TREE/d$d/f$f"; done
done
for f in $(seq -w 1 1000); do head -c $(( RANDOM % 512 )) /dev/urandom >"$TREE/big/e$f"; done
ln -s d01/f01 "$TREE/link-rel"
ln -s /nonexistent/target "$TREE/d02/link-dangling"
chmod 751 "$TREE/d03"; chmod 600 "$TREE/d04/f07"
tar -C "$TREE" -cf "$WORK/data/tree.tar" .
(cd "$TREE" && find . -type f | sort | xargs sha256sum) >"$WORK/data/tree.sha"
NFILES=$(wc -l <"$WORK/data/tree.sha")
echo "# tree: $NFILES files, tarball $(du -k "$WORK/data/tree.tar" | cut -f1) KiB"

# 32 chunks of 4 KiB at random 4 KiB-aligned offsets below 1 GiB (distinct), one hole
: >"$WORK/data/chunks.list"
declare -A used=()
i=0
while [ $i -lt 32 ]; do
  blk=$(( (RANDOM * 32768 + RANDOM) % 262144 ))   # 1 GiB / 4 KiB
  [ -n "${used[$blk]:-}" ] && continue
  used[$blk]=1
  head -c 4096 /dev/urandom >"$WORK/data/chunk.$i"
  echo "$i $blk $(sha256sum <"$WORK/data/chunk.$i" | cut -d' ' -f1)" >>"$WORK/data/chunks.list"
  i=$((i + 1))
done
hole=0; while [ -n "${used[$hole]:-}" ]; do hole=$((hole + 1)); done
ZERO_SHA=$(head -c 4096 /dev/zero | sha256sum | cut -d' ' -f1)

# A cold directory: a deep path and an s3fs-style symlink, looked up without listing
# cold/a (200 siblings), then listed.
echo "deep file content" >"$WORK/data/deep"
s3_put_file "$B" "${P}cold/a/b/c/file" "$WORK/data/deep" >/dev/null
for i in $(seq -w 1 200); do s3_put_file "$B" "${P}cold/a/s$i" "$WORK/data/deep" >/dev/null; done
printf 'b/c/file' >"$WORK/data/lnk"
code=$(s3_status PUT "$B" "${P}cold/a/ln" -H 'x-amz-meta-mode: 41471' --data-binary @"$WORK/data/lnk")
[ "$code" = 200 ] || echo "# PUT of the symlink object: HTTP $code"

export S3FILES_COMMIT_INTERVAL=3600 S3FILES_POLL_MS=1000
s3f_test_stack_start
STATE=$STACK/state

# ---- the guest ----
cat >"$WORK/guest.sh" <<'GUEST'
M=/mnt/s3
M2=/mnt/s3b
mkdir -p $M $M2
step mount nfs_mount "" /s3files $M || exit 1

# tar
mkdir -p $M/t
T0=$(now_ms)
step tar_extract tar -xf /host$DATA/tree.tar -C $M/t
note "tar extraction of $NFILES files: $(elapsed_ms $T0) ms"
check_tree() { (cd $M/t && find . -type f | sort | xargs sha256sum) > /tmp/got.sha && cmp /tmp/got.sha /host$DATA/tree.sha; }
T0=$(now_ms)
step tar_reread check_tree
note "re-read of $NFILES files: $(elapsed_ms $T0) ms"
step tar_symlinks sh -c "test \"\$(readlink $M/t/link-rel)\" = d01/f01 && test \"\$(readlink $M/t/d02/link-dangling)\" = /nonexistent/target && cmp $M/t/link-rel $M/t/d01/f01"
step tar_modes sh -c "test \$(stat -c %a $M/t/d03) = 751 && test \$(stat -c %a $M/t/d04/f07) = 600"
step readdir_1000 sh -c "test \$(ls $M/t/big | wc -l) = 1000 && test \$(ls -a $M/t/big | grep -c '^e') = 1000 && test \$(find $M/t/big -type f | wc -l) = 1000"
step remount sh -c "umount $M && nfs_mount '' /s3files $M"
step tar_reread_after_remount check_tree

# cp -a
mk_src() {
  rm -rf /tmp/src && mkdir -p /tmp/src/sub &&
  echo one > /tmp/src/a && echo two > /tmp/src/sub/b && head -c 100000 /dev/urandom > /tmp/src/sub/c &&
  chmod 640 /tmp/src/a && chmod 755 /tmp/src/sub/b && chmod 600 /tmp/src/sub/c && chmod 700 /tmp/src/sub &&
  ln -s sub/b /tmp/src/lnk &&
  touch -d '2020-01-02 03:04:05' /tmp/src/a /tmp/src/sub/b && touch -d '2019-05-06 07:08:09' /tmp/src/sub/c &&
  touch -d '2018-01-01 00:00:00' /tmp/src/sub /tmp/src
}
listing() {
  (cd "$1" && find . ! -type l | sort | while read -r f; do
     if [ -d "$f" ]; then stat -c '%n %a %Y' "$f"; else stat -c '%n %a %Y %s' "$f"; fi
   done
   find . -type l | sort | while read -r f; do echo "$f -> $(readlink "$f")"; done)
}
cpa_compare() { listing /tmp/src > /tmp/l1 && listing $M/cpa > /tmp/l2 && diff /tmp/l1 /tmp/l2; }
step cpa_source mk_src
step cpa_copy cp -a /tmp/src $M/cpa
step cpa_same cpa_compare

# attributes
step chown sh -c "chown 1234:5678 $M/cpa/a && test \"\$(stat -c '%u:%g' $M/cpa/a)\" = 1234:5678"
step chmod sh -c "chmod 4755 $M/cpa/sub/b && test \$(stat -c %a $M/cpa/sub/b) = 4755"
step utimes sh -c "touch -d '2001-02-03 04:05:06' $M/cpa/sub/c && test \$(stat -c %Y $M/cpa/sub/c) = \$(date -d '2001-02-03 04:05:06' +%s)"
step truncate_shrink sh -c "truncate -s 1000 $M/cpa/sub/c && test \$(stat -c %s $M/cpa/sub/c) = 1000 && cmp -n 1000 $M/cpa/sub/c /tmp/src/sub/c"
head -c 4000 /dev/zero > /tmp/z4000
step truncate_grow sh -c "truncate -s 5000 $M/cpa/sub/c && test \$(stat -c %s $M/cpa/sub/c) = 5000 && dd if=$M/cpa/sub/c bs=1000 skip=1 count=4 2>/dev/null | cmp - /tmp/z4000"
step rmdir_nonempty_fails sh -c "! rmdir $M/cpa/sub 2>/tmp/e && grep -qi 'not empty' /tmp/e"
step unlink_and_rmdir sh -c "rm $M/cpa/sub/b $M/cpa/sub/c && rmdir $M/cpa/sub && test ! -e $M/cpa/sub"
step statfs sh -c "df -k $M | tail -n 1 | awk '{ exit !(\$2 > 0) }' && stat -f -c '%b %f' $M"

# special files: a workflow engine's task wrapper tees its output through FIFOs in the
# work directory (Nextflow's .command.run); a device node keeps its number
fifo_tee() {
  mkfifo $M/cpa/out.fifo && test -p $M/cpa/out.fifo || return 1
  tee $M/cpa/out.log < $M/cpa/out.fifo > /dev/null &
  tp=$!
  echo hello-through-a-fifo > $M/cpa/out.fifo
  wait $tp || return 1
  test "$(cat $M/cpa/out.log)" = hello-through-a-fifo && rm $M/cpa/out.fifo
}
step fifo_tee fifo_tee
step mknod_device sh -c "mknod $M/cpa/null c 1 3 && test -c $M/cpa/null && test \"\$(stat -c '%t %T' $M/cpa/null)\" = '1 3' && echo x > $M/cpa/null && rm $M/cpa/null"

# sparse 1 GiB
step sparse_create sh -c "truncate -s 1073741824 $M/sparse && test \$(stat -c %s $M/sparse) = 1073741824"
write_chunks() {
  while read -r i blk sha; do
    dd if=/host$DATA/chunk.$i of=$M/sparse bs=4096 seek=$blk count=1 conv=notrunc 2>/dev/null || return 1
  done < /host$DATA/chunks.list
}
T0=$(now_ms)
step sparse_write write_chunks
note "32 random 4 KiB writes into a 1 GiB file: $(elapsed_ms $T0) ms"
step sparse_size sh -c "test \$(stat -c %s $M/sparse) = 1073741824"
step remount2 sh -c "umount $M && nfs_mount '' /s3files $M"
check_chunks() {
  while read -r i blk sha; do
    got=$(dd if=$M/sparse bs=4096 skip=$blk count=1 2>/dev/null | sha256sum | cut -d' ' -f1)
    [ "$got" = "$sha" ] || { echo "chunk $i at block $blk differs"; return 1; }
  done < /host$DATA/chunks.list
}
step sparse_read check_chunks
step sparse_hole sh -c "test \$(dd if=$M/sparse bs=4096 skip=$HOLE count=1 2>/dev/null | sha256sum | cut -d' ' -f1) = $ZERO_SHA"

# locks across two mounts (POSIX byte-range locks, NFSv4 LOCK/LOCKT)
L="s3f-guest-util lock"
step mount_second nfs_mount nosharecache /s3files $M2
step lock_file sh -c "echo 0123456789abcdef > $M/lockme"
wait_for() { i=0; while [ ! -e "$1" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; [ -e "$1" ]; }
rm -f /tmp/held
$L $M/lockme w 0 0 wait 4000 /tmp/held &
HOLDER=$!
step lock_holder_ready wait_for /tmp/held
# exit 3 = refused because taken; anything else (0: granted, 1: error) fails the step
step lock_conflict_refused sh -c "$L $M2/lockme w 0 0 try 0; test \$? = 3"
step lock_read_vs_write_refused sh -c "$L $M2/lockme r 0 0 try 0; test \$? = 3"
step lock_refused_same_mount_other_process sh -c "$L $M/lockme w 5 2 try 0; test \$? = 3"
wait $HOLDER
step lock_holder_exit_ok test $? = 0
step lock_granted_after_release $L $M2/lockme w 0 0 try 0
rm -f /tmp/held
$L $M/lockme w 0 8 wait 3000 /tmp/held &
HOLDER=$!
step range_holder_ready wait_for /tmp/held
step lock_disjoint_range_granted $L $M2/lockme w 8 8 try 0
step lock_overlapping_range_refused sh -c "$L $M2/lockme w 7 2 try 0; test \$? = 3"
wait $HOLDER
rm -f /tmp/held
$L $M/lockme r 0 0 wait 3000 /tmp/held &
HOLDER=$!
step shared_holder_ready wait_for /tmp/held
step lock_shared_coexist $L $M2/lockme r 0 0 try 0
step lock_write_vs_shared_refused sh -c "$L $M2/lockme w 0 0 try 0; test \$? = 3"
wait $HOLDER
T0=$(now_ms)
rm -f /tmp/held
$L $M/lockme w 0 0 wait 2000 /tmp/held &
HOLDER=$!
step blocking_holder_ready wait_for /tmp/held
step lock_blocking_waits_for_release $L $M2/lockme w 0 0 wait 0
note "a blocking lock waited $(elapsed_ms $T0) ms for a 2000 ms holder"
wait $HOLDER
step umount_second umount $M2

# git in the mount: the host's git run through host_run (the guest's /mnt is /host/mnt)
git_case() {
  G="host_run env HOME=/tmp GIT_CONFIG_NOSYSTEM=1 git -c user.name=t -c user.email=t@example.com"
  $G init -q /mnt/s3/repo || return 1
  mkdir -p $M/repo/src && cp /host$DATA/tree/d01/f01 /host$DATA/tree/d01/f02 $M/repo/src/ &&
    echo "hello" > $M/repo/README || return 1
  $G -C /mnt/s3/repo add -A && $G -C /mnt/s3/repo commit -q -m first || return 1
  echo "second line" >> $M/repo/README
  $G -C /mnt/s3/repo commit -q -am second || return 1
  [ "$($G -C /mnt/s3/repo rev-list --count HEAD)" = 2 ] || return 1
  $G -C /mnt/s3/repo fsck --strict >/dev/null 2>&1 || { echo "git fsck failed"; return 1; }
  [ -z "$($G -C /mnt/s3/repo status --porcelain)" ] || { echo "worktree dirty"; return 1; }
  $G -C /mnt/s3/repo log --format=%s | tr '\n' ' ' | grep -qx 'second first ' || return 1
  $G clone -q /mnt/s3/repo /tmp/clone && cmp /tmp/clone/src/f01 /host$DATA/tree/d01/f01
}
step git_init_add_commit git_case

# hard links are refused (doc/SEMANTICS.md, "Hard links"): what the programs that ask for
# them do, each checked on its outcome
hardlink_case() {
  G="host_run env HOME=/tmp GIT_CONFIG_NOSYSTEM=1 git -c user.name=t -c user.email=t@example.com"
  echo one > $M/hl-src || return 1
  if host_run ln /mnt/s3/hl-src /mnt/s3/hl-dst 2>/tmp/ln.err; then echo "ln succeeded"; return 1; fi
  grep -q "Operation not permitted" /tmp/ln.err || { echo "ln said: $(cat /tmp/ln.err)"; return 1; }
  [ ! -e $M/hl-dst ] || { echo "ln left hl-dst"; return 1; }
  [ "$(stat -c %h $M/hl-src)" = 1 ] && [ "$(cat $M/hl-src)" = one ] || { echo "hl-src changed"; return 1; }
  # cp -al: an error per file, exit 1, the directories made, no file
  if host_run cp -al /mnt/s3/repo/src /mnt/s3/cpal 2>/tmp/cpal.err; then echo "cp -al succeeded"; return 1; fi
  [ -d $M/cpal ] && [ ! -e $M/cpal/f01 ] || { echo "cp -al left: $(ls $M/cpal 2>&1)"; return 1; }
  # git clone of a path: links refused, it copies instead; --local insists on links
  $G clone -q /mnt/s3/repo /mnt/s3/clone-path || { echo "git clone (path) failed"; return 1; }
  $G -C /mnt/s3/clone-path fsck --strict >/dev/null 2>&1 || { echo "git fsck of the clone failed"; return 1; }
  cmp $M/clone-path/src/f01 /host$DATA/tree/d01/f01 || return 1
  if $G clone -q --local /mnt/s3/repo /mnt/s3/clone-local 2>/tmp/gl.err; then
    echo "git clone --local succeeded"; return 1
  fi
  grep -q "failed to create link" /tmp/gl.err || { echo "git clone --local said: $(cat /tmp/gl.err)"; return 1; }
  $G clone -q --local --no-hardlinks /mnt/s3/repo /mnt/s3/clone-nohl || { echo "git clone --no-hardlinks failed"; return 1; }
}
step hard_links_refused hardlink_case

# paths whose key would pass 1,024 bytes (prefix included) cannot exist: each call that
# would make one says ENAMETOOLONG, lookups of one say ENOENT (doc/SEMANTICS.md, Names)
long_case() {
  c=$(head -c 250 /dev/zero | tr '\0' d)
  mkdir -p $M/long/$c/$c/$c || { echo "mkdir of a key of $((PLEN + 758)) bytes failed"; return 1; }
  # one more level, so that a 100-byte name below it makes a key of exactly 1,024 bytes
  s=$(head -c $((1024 - PLEN - 758 - 1 - 100)) /dev/zero | tr '\0' s)
  D=$M/long/$c/$c/$c/$s
  n=$(head -c 100 /dev/zero | tr '\0' n)
  mkdir $D && echo fits > $D/$n || { echo "a key of exactly 1,024 bytes failed"; return 1; }
  [ "$(cat $D/$n)" = fits ] || return 1
  for call in "touch $D/${n}x" "mkdir $D/${n}x" "ln -s t $D/${n}x" "mkfifo $D/${n}x" \
              "mv $D/$n $D/${n}x" "mkdir $D/$c"; do
    if $call 2>/tmp/long.err; then echo "'${call%% *}' of a key over 1,024 bytes succeeded"; return 1; fi
    grep -q "name too long" /tmp/long.err || { echo "${call%% *}: $(cat /tmp/long.err)"; return 1; }
  done
  # a name of 256 bytes, anywhere
  if touch $M/long/${c}dddddd 2>/tmp/long.err; then echo "a 256-byte name was made"; return 1; fi
  grep -q "name too long" /tmp/long.err || { echo "256-byte name: $(cat /tmp/long.err)"; return 1; }
  # looking one up is no error of its own: it does not exist
  if stat $D/${n}x 2>/tmp/long.err; then echo "stat of a too long path succeeded"; return 1; fi
  grep -q "No such file" /tmp/long.err || { echo "stat: $(cat /tmp/long.err)"; return 1; }
  # a directory rename that would push a key below it over the limit
  if mv $M/long/$c $M/long/${c}eeeee 2>/tmp/long.err; then echo "a rename pushing a key over 1,024 bytes succeeded"; return 1; fi
  grep -q "name too long" /tmp/long.err || { echo "mv of the directory: $(cat /tmp/long.err)"; return 1; }
  [ "$(cat $D/$n)" = fits ] || return 1
}
step long_paths long_case

# a deep path and an s3fs symlink in a cold directory, found without listing it
step cold_deep_path cmp $M/cold/a/b/c/file /host$DATA/deep
step cold_s3fs_symlink sh -c "test \"\$(readlink $M/cold/a/ln)\" = b/c/file && cmp $M/cold/a/ln /host$DATA/deep"
host_signal cold
host_wait cold 120
step cold_listed_whole sh -c "test \$(ls $M/cold/a | wc -l) = 202"

# handles across a ganesha restart
restart_case() {
  want=$(grep ' ./d01/f02$' /host$DATA/tree.sha | cut -d' ' -f1)
  cd $M/t/d05 || return 1
  exec 3< $M/t/d01/f02
  dd bs=10 count=1 <&3 > /tmp/first 2>/dev/null
  host_signal restart
  host_wait restart 120 || return 1
  # the rest of the file through the descriptor opened before the restart
  cat <&3 > /tmp/rest || { echo "read on the open descriptor failed"; return 1; }
  exec 3<&-
  got=$(cat /tmp/first /tmp/rest | sha256sum | cut -d' ' -f1)
  [ "$got" = "$want" ] || { echo "content through the old descriptor differs"; return 1; }
  [ "$(ls | wc -l)" = 50 ] || { echo "cwd lists $(ls | wc -l) entries"; return 1; }
  cmp f01 /host$DATA/tree/d05/f01 || return 1
  cd /
}
T0=$(now_ms)
step handles_survive_restart restart_case
note "ganesha restart with an open file and a cwd in the export: $(elapsed_ms $T0) ms"
step umount umount $M
GUEST

"$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$WORK/guest.sh" --timeout 900 \
  --log "$WORK/console.log" --rendezvous "$RV" --mem 1024 \
  --env NFS_PORT="$NFS_PORT" --env DATA="$WORK/data" --env NFILES="$NFILES" \
  --env HOLE="$hole" --env ZERO_SHA="$ZERO_SHA" --env PLEN="${#P}" >"$WORK/guest.out" 2>"$WORK/guest.err" &
GPID=$!

# The host's part of the cold lookups: cold/a was not listed for them.
if vm_rv_wait "$RV" cold 800; then
  out=$(s3f_ctl "$STACK" ls cold/a 2>&1)
  n=$(grep -c '^[fdl] ' <<<"$out")
  if [ "$n" = 2 ] && grep -q ' b$' <<<"$out" && grep -q '^l .* ln$' <<<"$out"; then
    t_pass cold_lookup_no_listing
  else
    t_fail cold_lookup_no_listing "$n entries known: $(tr '\n' ' ' <<<"$out" | cut -c1-200)"
  fi
  vm_rv_ack "$RV" cold
else
  t_fail rendezvous "the guest never reached the cold lookups"
fi
# The host's part of handles_survive_restart.
if vm_rv_wait "$RV" restart 800; then
  T0=$(date +%s%N)
  s3f_ganesha_stop "$STACK"
  if s3f_ganesha_start "$STACK" >"$WORK/restart.out" 2>&1; then
    t_pass ganesha_restarted
  else
    t_fail ganesha_restarted "$(tail -n 3 "$WORK/restart.out" | tr '\n' ' ')"
  fi
  echo "# ganesha restarted in $(( ($(date +%s%N) - T0) / 1000000 )) ms"
  vm_rv_ack "$RV" restart
else
  t_fail rendezvous "the guest never reached the restart point"
fi
wait "$GPID"
guest_rc=$?
GPID=
cat "$WORK/guest.out"
T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$WORK/guest.out")))
if [ $guest_rc -ne 0 ] && ! grep -q '^FAIL ' "$WORK/guest.out"; then
  t_fail guest "run-guest exited $guest_rc: $(tail -n 3 "$WORK/guest.err" | tr '\n' ' ')"
fi

# ---- the data tier kept the 1 GiB file sparse ----
# Growing a file only records the new size (the bytes past the data file's end read as
# zeros), so the tier's file ends at the last chunk written, or at 1 GiB once settled.
big=$(find "$STATE/data" -type f -size +512M | head -n 1)
if [ -n "$big" ]; then
  alloc=$(( $(stat -c %b "$big") * 512 ))
  echo "# 1 GiB sparse file: $alloc bytes allocated in the data tier"
  if [ "$alloc" -lt $((8 * 1048576)) ]; then t_pass sparse_in_data_tier
  else t_fail sparse_in_data_tier "$alloc bytes allocated"; fi
else
  t_fail sparse_in_data_tier "no data file over 512 MiB in $STATE/data"
fi

# ---- commit the tree; every file is an object ----
T0=$(date +%s%N)
if out=$(s3f_ctl "$STACK" commit t 2>&1); then
  ms=$(( ($(date +%s%N) - T0) / 1000000 ))
  t_pass commit_tree
  echo "# commit of the tree: $out ($ms ms)"
else
  t_fail commit_tree "$out"
fi
n=$(s3_ls "$B" "${P}t/" | grep -vc '/$')
want=$((NFILES + 2))   # + the two symlinks
if [ "$n" -eq "$want" ]; then t_pass tree_objects; else t_fail tree_objects "$n objects under ${P}t/, want $want"; fi
got=$WORK/got.f
if s3_get_file "$B" "${P}t/d07/f33" "$got" 2>/dev/null && cmp -s "$got" "$TREE/d07/f33"; then
  t_pass tree_object_bytes
else
  t_fail tree_object_bytes "${P}t/d07/f33 differs"
fi
if s3f_ctl "$STACK" commit cpa >/dev/null 2>&1; then
  uid=$(s3_cmd info "s3://$B/${P}cpa/a" 2>/dev/null | awk '/x-amz-meta-uid:/ {print $2}')
  gid=$(s3_cmd info "s3://$B/${P}cpa/a" 2>/dev/null | awk '/x-amz-meta-gid:/ {print $2}')
  if [ "$uid:$gid" = "1234:5678" ]; then t_pass owner_in_s3_metadata
  else t_fail owner_in_s3_metadata "x-amz-meta-uid/gid '$uid:$gid'"; fi
else
  t_fail owner_in_s3_metadata "commit of cpa failed"
fi

t_done
