#!/usr/bin/env bash
# rename: rename(2) through the Linux kernel NFSv4.1 client (qemu guest), with the full
# stack (ganesha + FSAL_S3FILES + s3files-syncd) on the real RGW, checked in S3 with the
# independent client (test/lib/s3.sh).
#
# Before the guest boots, objects are PUT into the bucket directly. The guest then:
#   - renames files that are only in S3 (never read locally: the data comes from the old
#     key): within a directory, across directories, over an existing file; reads them;
#   - renames a file not committed yet; saves "vim-style" (write a temporary file,
#     rename it over the original);
#   - fails to move a directory into its own subdirectory (the client's VFS refuses that
#     itself; the server's check is covered by test_ns); a directory onto a non-empty one
#     fails with ENOTEMPTY, onto an empty one replaces it; rmdir of a non-empty directory
#     fails, of an emptied or renamed one works;
#   - writes 50 files into a directory; the host commits (rendezvous c1) and checks every
#     file rename in S3: new key with the same bytes and x-amz-meta-mode, old key gone;
#   - renames the 50-file directory; the host commits (c2) and checks that all 50 are
#     under the new prefix byte for byte, none under the old;
#   - renames a directory of BULK (default 5,000) objects PUT directly into S3 (in
#     parallel) while the daemon is stopped (bulk1); the host starts it, kills it with
#     SIGKILL as soon as `s3filesctl status` shows half of the objects moved, starts it
#     again and commits (bulk2): every object under the new prefix (MD5 = ETag, and a few
#     read back byte for byte), none under the old, the dir_rename_large event journaled;
#     the time the move took in S3 is printed; the guest reads through the renamed
#     directory afterwards.
set -uo pipefail
T_SUITE=rename
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup rn
export LC_ALL=C
RV=$WORK/rv
GPID=
BULK=${RENAME_BULK:-5000}
cleanup() {
  [ -n "$GPID" ] && kill "$GPID" 2>/dev/null
  s3f_stack_stop "$STACK"
}
trap cleanup EXIT

t_step build_guest "$S3F_ROOT/test/vm/build-guest.sh" || t_done

# ---- data ----
D=$WORK/data
printf 'content of a\n' >"$D/a.txt"
printf 'content of b\n' >"$D/b.txt"
printf 'the target\n' >"$D/target.txt"
printf 'the file moved over it\n' >"$D/over.txt"
printf 'doc, first version\n' >"$D/doc.txt"
printf 'doc, saved by the editor\n' >"$D/doc.new"
printf 'fresh\n' >"$D/fresh.txt"
mkdir -p "$D/d50" "$D/bulk"
for i in $(seq -w 1 50); do head -c $(( 100 + RANDOM % 8000 )) /dev/urandom >"$D/d50/f$i"; done
for i in $(seq -w 1 "$BULK"); do printf 'bulk object %s\n' "$i" >"$D/bulk/o$i"; done
(cd "$D/bulk" && md5sum o* | awk '{ print $2, $1 }' | sort) >"$D/bulk.md5"

T0=$(date +%s%N)
put_ok=1
for f in a.txt b.txt target.txt over.txt doc.txt; do
  s3_put_file "$B" "${P}s3/$f" "$D/$f" || put_ok=0
done
# The bulk directory: many small objects, PUT in parallel (32 in flight; a fixture, so
# with our client; every check below uses the independent one).
"$S3F_BUILD/bin/s3f_s3" -c 32 put-dir "$D/bulk" "${P}bulk/" 2>"$WORK/put.err" || put_ok=0
n=$(s3_ls "$B" "${P}bulk/" | wc -l)
echo "# PUT 5 files and $n bulk objects in $(( ($(date +%s%N) - T0) / 1000000 )) ms"
if [ $put_ok = 1 ] && [ "$n" = "$BULK" ]; then t_pass put_before_mount
else t_fail put_before_mount "bulk: $n of $BULK; $(head -n 3 "$WORK/put.err" | tr '\n' ' ')"; t_done; fi

# Long commit interval: uploads happen when the test commits. Nothing hydrated at import,
# so reads of renamed files must fetch from their old keys. The large-rename event at
# half the bulk size.
export S3FILES_COMMIT_INTERVAL=3600 S3FILES_POLL_MS=1000
export S3FILES_EXPORT_EXTRA="Hydrate_Threshold = 0; Dir_Rename_Warn_Objects = $((BULK / 2));"
s3f_test_stack_start

# ---- the guest ----
cat >"$WORK/guest.sh" <<'GUEST'
M=/mnt/s3
mkdir -p $M
step mount nfs_mount actimeo=1 /s3files $M || exit 1
step list_s3_dir sh -c "ls -l $M/s3 && test -f $M/s3/a.txt"

mv_within() {
  mv $M/s3/a.txt $M/s3/a2.txt || return 1
  [ ! -e $M/s3/a.txt ] || { echo "old name still there"; return 1; }
  cmp $M/s3/a2.txt /host$DATA/a.txt
}
step mv_within_dir mv_within
mv_across() {
  mkdir $M/other && mv $M/s3/b.txt $M/other/b.txt || return 1
  [ ! -e $M/s3/b.txt ] && cmp $M/other/b.txt /host$DATA/b.txt
}
step mv_across_dirs mv_across
mv_over() {
  mv $M/s3/over.txt $M/s3/target.txt || return 1
  [ ! -e $M/s3/over.txt ] && cmp $M/s3/target.txt /host$DATA/over.txt
}
step mv_over_existing mv_over
vim_save() {
  cp /host$DATA/doc.new $M/s3/.doc.txt.swp && mv $M/s3/.doc.txt.swp $M/s3/doc.txt || return 1
  [ "$(ls -a $M/s3 | grep -c swp)" = 0 ] && cmp $M/s3/doc.txt /host$DATA/doc.new
}
step vim_style_save vim_save
uncommitted() {
  cp /host$DATA/fresh.txt $M/new1 && mv $M/new1 $M/new2 && cmp $M/new2 /host$DATA/fresh.txt
}
step mv_not_yet_committed uncommitted
into_itself() {
  mkdir -p $M/tree/sub && echo leaf > $M/tree/sub/leaf || return 1
  if mv $M/tree $M/tree/sub/x 2>/tmp/mv.err; then echo "mv into itself succeeded"; return 1; fi
  cat /tmp/mv.err
  [ -d $M/tree/sub ] && [ "$(cat $M/tree/sub/leaf)" = leaf ] && [ ! -e $M/tree/sub/x ]
}
step mv_dir_into_own_subdir_fails into_itself
rmdirs() {
  mkdir $M/rmd && echo x > $M/rmd/f || return 1
  if rmdir $M/rmd 2>/dev/null; then echo "rmdir of a non-empty dir succeeded"; return 1; fi
  rm $M/rmd/f && rmdir $M/rmd || return 1
  mkdir $M/r1 && mv $M/r1 $M/r2 && rmdir $M/r2 || return 1
  # mv -T: rename(2) itself, not "move into the directory"
  mkdir $M/e1 $M/e2 && echo y > $M/e2/y && echo z > $M/e1/z || return 1
  if mv -T $M/e1 $M/e2 2>/tmp/mv.err; then echo "dir over a non-empty dir succeeded"; return 1; fi
  grep -q 'not empty' /tmp/mv.err || { cat /tmp/mv.err; return 1; }
  rm $M/e2/y && mv -T $M/e1 $M/e2 && [ ! -e $M/e1 ] && [ "$(cat $M/e2/z)" = z ] || return 1
  if rmdir $M/e2 2>/dev/null; then echo "rmdir of the renamed non-empty dir succeeded"; return 1; fi
  rm $M/e2/z && rmdir $M/e2 && [ ! -e $M/e2 ]
}
step rmdir_edge_cases rmdirs
step write_50_files sh -c "mkdir $M/d50 && cp /host$DATA/d50/* $M/d50/ && test \$(ls $M/d50 | wc -l) = 50"
host_signal c1
step commit_1 host_wait c1 300

mv_d50() {
  mv $M/d50 $M/d50moved || return 1
  [ ! -e $M/d50 ] && [ "$(ls $M/d50moved | wc -l)" = 50 ] || return 1
  for f in /host$DATA/d50/*; do cmp $M/d50moved/${f##*/} $f || return 1; done
}
T0=$(now_ms)
step mv_dir_50_files mv_d50
note "rename of the 50-file directory + ls + cmp of all: $(elapsed_ms $T0) ms"
host_signal c2
step commit_2 host_wait c2 300

step list_bulk sh -c "test \$(ls $M/bulk | wc -l) = $BULK"
host_signal bulk1
step daemon_stopped host_wait bulk1 120
T0=$(now_ms)
step mv_bulk_dir mv $M/bulk $M/bulk2
note "rename of a $BULK-object directory: $(elapsed_ms $T0) ms"
read_bulk() {
  [ ! -e $M/bulk ] && [ "$(ls $M/bulk2 | wc -l)" = $BULK ] || return 1
  for f in o0001 o0777 o$BULK; do cmp $M/bulk2/$f /host$DATA/bulk/$f || return 1; done
}
step read_bulk_before_move read_bulk
host_signal bulk2
step move_done host_wait bulk2 600
read_after() {
  for f in o0002 o0500 o1999 o4321; do
    [ -e /host$DATA/bulk/$f ] || continue
    cmp $M/bulk2/$f /host$DATA/bulk/$f || return 1
  done
  cmp $M/d50moved/f07 /host$DATA/d50/f07 && cmp $M/s3/a2.txt /host$DATA/a.txt
}
step read_after_moves read_after
step umount umount $M
GUEST

"$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$WORK/guest.sh" --timeout 1200 \
  --log "$WORK/console.log" --rendezvous "$RV" --mem 1024 \
  --env NFS_PORT="$NFS_PORT" --env DATA="$D" --env BULK="$BULK" \
  >"$WORK/guest.out" 2>"$WORK/guest.err" &
GPID=$!

meta_mode() { s3_cmd info "s3://$B/$1" 2>/dev/null | awk '/x-amz-meta-mode:/ { print $2 }'; }
# check_object NAME KEY EXPECTED-FILE
check_object() {
  local got=$WORK/got.$1
  if ! s3_get_file "$B" "$2" "$got" 2>"$WORK/err.$1"; then
    t_fail "$1" "GET $2: $(tr '\n' ' ' <"$WORK/err.$1")"; return
  fi
  if cmp -s "$got" "$3"; then t_pass "$1"; else t_fail "$1" "content of $2 differs"; fi
}
# check_gone NAME KEY
check_gone() {
  if s3_exists "$B" "$2"; then t_fail "$1" "$2 still in S3"; else t_pass "$1"; fi
}
commit() { # NAME
  local out t0=$(date +%s%N)
  if out=$(s3f_ctl "$STACK" commit / 2>&1); then
    t_pass "$1"
    echo "# $1: $out ($(( ($(date +%s%N) - t0) / 1000000 )) ms)"
  else
    t_fail "$1" "$out"
  fi
}

# ---- c1: the file renames in S3 ----
if vm_rv_wait "$RV" c1 900; then
  commit host_commit_1
  check_object s3_mv_within_new_key "${P}s3/a2.txt" "$D/a.txt"
  check_gone s3_mv_within_old_key_gone "${P}s3/a.txt"
  mode=$(meta_mode "${P}s3/a2.txt")
  if [ "$mode" = 33188 ]; then t_pass s3_mv_keeps_mode_metadata
  else t_fail s3_mv_keeps_mode_metadata "x-amz-meta-mode '$mode', want 33188 (0100644)"; fi
  check_object s3_mv_across_new_key "${P}other/b.txt" "$D/b.txt"
  check_gone s3_mv_across_old_key_gone "${P}s3/b.txt"
  check_object s3_mv_over_target "${P}s3/target.txt" "$D/over.txt"
  check_gone s3_mv_over_source_gone "${P}s3/over.txt"
  check_object s3_vim_save "${P}s3/doc.txt" "$D/doc.new"
  check_gone s3_vim_tmp_never_uploaded "${P}s3/.doc.txt.swp"
  check_object s3_uncommitted_new_name "${P}new2" "$D/fresh.txt"
  check_gone s3_uncommitted_old_name_never "${P}new1"
  check_gone s3_rmdir_renamed "${P}r2/"
  n=$(s3_ls "$B" "${P}d50/" | grep -vc '/$')
  if [ "$n" = 50 ]; then t_pass s3_50_files_committed; else t_fail s3_50_files_committed "$n objects"; fi
  # Nothing left behind: no pending deletes, no conflicts.
  st=$(s3f_ctl "$STACK" status | head -n 1)
  if [[ $st == *" deletes=0 "* && $st == *" conflicts=0 "* ]]; then t_pass backlog_after_c1
  else t_fail backlog_after_c1 "$st"; fi
  vm_rv_ack "$RV" c1
else
  t_fail rendezvous_c1 "the guest never reached c1"
fi

# ---- c2: the 50-file directory renamed ----
if vm_rv_wait "$RV" c2 900; then
  commit host_commit_2
  bad=
  for f in "$D"/d50/*; do
    g=$WORK/got.d50.${f##*/}
    if ! s3_get_file "$B" "${P}d50moved/${f##*/}" "$g" 2>/dev/null || ! cmp -s "$g" "$f"; then
      bad+=" ${f##*/}"
    fi
  done
  if [ -z "$bad" ]; then t_pass s3_dir_50_under_new_prefix; else t_fail s3_dir_50_under_new_prefix "missing/differs:$bad"; fi
  n=$(s3_ls "$B" "${P}d50/" | wc -l)
  if [ "$n" = 0 ]; then t_pass s3_dir_50_old_prefix_empty; else t_fail s3_dir_50_old_prefix_empty "$n keys left under ${P}d50/"; fi
  if s3_exists "$B" "${P}d50moved/"; then t_pass s3_dir_marker_moved; else t_fail s3_dir_marker_moved "no ${P}d50moved/"; fi
  vm_rv_ack "$RV" c2
else
  t_fail rendezvous_c2 "the guest never reached c2"
fi

# ---- bulk: a directory rename job, the daemon killed half-way ----
# status_moved: "moved listed" of the running job, "" when there is none.
status_job() { s3f_ctl "$STACK" status 2>/dev/null | sed -n 's/^RENAME .* moved=\([0-9]*\) listed=\([0-9]*\) .*/\1 \2/p' | head -n 1; }
if vm_rv_wait "$RV" bulk1 900; then
  s3f_syncd_stop "$STACK"
  vm_rv_ack "$RV" bulk1
  if vm_rv_wait "$RV" bulk2 900; then
    job=
    s3f_syncd_start "$STACK" >"$WORK/syncd2.out" 2>&1 || t_fail syncd_start "$(tail -n 3 "$WORK/syncd2.out")"
    T0=$(date +%s%N)
    killed=
    end=$(( $(date +%s) + 300 ))
    while [ "$(date +%s)" -lt $end ]; do
      job=$(status_job)
      if [ -z "$job" ]; then break; fi
      if [ "${job%% *}" -ge $((BULK / 2)) ]; then
        kill -KILL "$(cat "$STACK/syncd.pid")" && killed=$job
        break
      fi
      sleep 0.02
    done
    ms=$(( ($(date +%s%N) - T0) / 1000000 ))
    MOVE_MS=$ms
    if [ -n "$killed" ] && [ "${killed%% *}" -lt "$BULK" ]; then
      t_pass syncd_killed_mid_job
      echo "# syncd killed ${ms} ms after start, job at moved/listed = ${killed/ //}"
    else
      t_fail syncd_killed_mid_job "job state '${killed:-$job}' after ${ms} ms (not caught mid-way)"
    fi
    sleep 0.5
    old_left=$(s3_ls "$B" "${P}bulk/" | wc -l)
    new_have=$(s3_ls "$B" "${P}bulk2/" | wc -l)
    echo "# after the kill: $old_left keys under ${P}bulk/, $new_have under ${P}bulk2/"
    if [ "$old_left" -gt 0 ] && [ "$new_have" -gt 0 ]; then t_pass both_prefixes_partial
    else t_fail both_prefixes_partial "old $old_left, new $new_have"; fi
    rm -f "$STACK/syncd.pid"
    if s3f_syncd_start "$STACK" >"$WORK/syncd3.out" 2>&1; then t_pass syncd_restarted
    else t_fail syncd_restarted "$(tail -n 3 "$WORK/syncd3.out" | tr '\n' ' ')"; fi
    echo "# status after restart: $(s3f_ctl "$STACK" status | grep RENAME | tr '\n' ' ')"
    T0=$(date +%s%N)
    commit host_commit_bulk
    ms=$(( ($(date +%s%N) - T0) / 1000000 ))
    MOVE_MS=$((MOVE_MS + ms))
    echo "# rest of the move after the restart: $ms ms; the $BULK-object move in S3 took $MOVE_MS ms in all ($(( BULK * 1000 / (MOVE_MS > 0 ? MOVE_MS : 1) )) objects/s, the restart not counted)"
    s3_cmd ls --recursive --list-md5 "s3://$B/${P}bulk2/" 2>/dev/null |
      awk '{ k = $5; sub(/.*\//, "", k); print k, $4 }' | sort >"$WORK/bulk2.md5"
    if cmp -s "$WORK/bulk2.md5" "$D/bulk.md5"; then t_pass s3_bulk_all_moved_md5
    else t_fail s3_bulk_all_moved_md5 "$(wc -l <"$WORK/bulk2.md5") objects under ${P}bulk2/, $(diff "$WORK/bulk2.md5" "$D/bulk.md5" | head -n 4 | tr '\n' ' ')"; fi
    bad=
    for f in o0001 o1234 o$(printf '%04d' $((BULK / 2))) o$(printf '%04d' $((BULK / 2 + 1))) o$BULK; do
      if ! s3_get_file "$B" "${P}bulk2/$f" "$WORK/got.$f" 2>/dev/null || ! cmp -s "$WORK/got.$f" "$D/bulk/$f"; then
        bad+=" $f"
      fi
    done
    if [ -z "$bad" ]; then t_pass s3_bulk_spot_checks_bytes; else t_fail s3_bulk_spot_checks_bytes "differ or missing:$bad"; fi
    n=$(s3_ls "$B" "${P}bulk/" | wc -l)
    if [ "$n" = 0 ]; then t_pass s3_bulk_old_prefix_empty; else t_fail s3_bulk_old_prefix_empty "$n keys left under ${P}bulk/"; fi
    if [ -z "$(status_job)" ]; then t_pass status_job_gone; else t_fail status_job_gone "$(status_job)"; fi
    ev=$(s3f_ctl "$STACK" events --kind dir_rename_large 2>/dev/null | grep -c "bulk")
    if [ "$ev" -ge 1 ]; then t_pass dir_rename_large_event; else t_fail dir_rename_large_event "no dir_rename_large event"; fi
    ev=$(s3f_ctl "$STACK" events --kind dir_rename 2>/dev/null | grep -c '"state":"done"')
    if [ "$ev" -ge 2 ]; then t_pass dir_rename_done_events; else t_fail dir_rename_done_events "$ev done events"; fi
    st=$(s3f_ctl "$STACK" status | head -n 1)
    if [[ $st == *" dirty=0 deletes=0 "* && $st == *" conflicts=0 "* ]]; then t_pass backlog_empty
    else t_fail backlog_empty "$st"; fi
    vm_rv_ack "$RV" bulk2
  else
    t_fail rendezvous_bulk2 "the guest never renamed the bulk directory"
  fi
else
  t_fail rendezvous_bulk1 "the guest never reached bulk1"
fi

wait "$GPID"
guest_rc=$?
GPID=
cat "$WORK/guest.out"
T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$WORK/guest.out")))
if [ $guest_rc -ne 0 ] && ! grep -q '^FAIL ' "$WORK/guest.out"; then
  t_fail guest "run-guest exited $guest_rc: $(tail -n 3 "$WORK/guest.err" | tr '\n' ' ')"
fi
echo "# keys under $P (first 40):"; s3_ls "$B" "$P" | grep -v "/bulk2/o" | head -n 40 | sed 's/^/#   /'
t_done
