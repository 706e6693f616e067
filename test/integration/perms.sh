#!/usr/bin/env bash
# perms: POSIX permission rules with non-root users, through the Linux kernel NFSv4.1
# client (qemu guest) on the full stack (ganesha + FSAL_S3FILES + s3files-syncd, real
# RGW). Every case runs the same steps twice in the guest: on a tmpfs (the reference: a
# local Linux file system) and on the NFS mount; its transcript (each call's outcome, OK
# or the errno name, and the mode/owner/group of what it touched) must be the same.
# Users act through `s3f-guest-util as UID GID[,GIDS] OP ...` (setgroups/setgid/setuid,
# then one system call).
#
#   other_root_dir   uid 65534 in a root-owned 0755 directory: unlink, rename (within and
#                    out), rmdir (empty and not), create, mkdir, symlink
#   owner_0555       the owner of a 0555 directory: unlink, rmdir, rename, create; then
#                    the same after chmod 0755
#   sticky           a 1777 directory: another user's unlink, rename, rmdir, replacing
#                    rename; the entry's owner, the directory's owner and root may
#   move_dir         a directory moved to another parent needs write permission on it
#                    (its ".."): a root-owned one, an own 0555 one, then after chmod;
#                    within one parent it does not; a file never does
#   setid_truncate   truncate and open(O_TRUNC) by a non-root user, by the owner, by root
#   setid_chown      chown/chgrp by root and by the owner of set-id files and a directory
#   setid_write      a write by a non-root user, by root
#   sgid_dir         a set-group-ID directory: the group of new files, directories and
#                    symlinks, S_ISGID of new directories and of new files asking for it
#   chmod_sgid       chmod g+s by an owner who is in the file's group and one who is not
# The kernel client checks the sticky rule itself before it asks the server, so the
# server's own sticky checks are tested from the host: the same calls as the NFSv4.0
# COMPOUNDs a client sends for them, without a client's own checks (s3f_nfsproto
# script, over libnfs's raw RPC API), as several users,
# against s3files and against ganesha with FSAL_VFS on a local directory (the reference:
# there the host kernel decides), transcripts compared step by step (host_*): sticky
# unlink/rename/rmdir/replace, a directory moved out of a sticky directory and to another
# parent, uid 65534 in a root-owned 0755 directory. (Set-id bits are left to the guest:
# ganesha's FSAL_VFS truncates as root, so it is no reference for them.)
set -uo pipefail
T_SUITE=perms
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"

s3f_test_setup pm
GPID=
cleanup() {
  [ -n "$GPID" ] && kill "$GPID" 2>/dev/null
  s3f_vfs_stop
  s3f_stack_stop "$STACK"
}
trap cleanup EXIT

t_step build_guest "$S3F_ROOT/test/vm/build-guest.sh" "$S3F_BUILD/vm" || t_done

export S3FILES_COMMIT_INTERVAL=3600
s3f_test_stack_start

cat >"$WORK/guest.sh" <<'GUEST'
A="s3f-guest-util as"
M="s3f-guest-util mode"
ALICE="1000 1000" BOB="1001 1001" NOBODY="65534 65534"
# say LABEL CMD...: one transcript line, "LABEL: outcome"
say() { l=$1; shift; echo "$l: $("$@" 2>&1 | tr '\n' ' ')"; }

case_other_root_dir() {
  R=$1
  mkdir $R/d $R/w && chmod 755 $R/d && chmod 777 $R/w
  echo x > $R/d/f && mkdir $R/d/sub $R/d/full && echo y > $R/d/full/g
  say unlink $A $NOBODY unlink $R/d/f
  say rename_within $A $NOBODY rename $R/d/f $R/d/f2
  say rename_out $A $NOBODY rename $R/d/f $R/w/f
  say rmdir_empty $A $NOBODY rmdir $R/d/sub
  say rmdir_nonempty $A $NOBODY rmdir $R/d/full
  say create $A $NOBODY create $R/d/new 644
  say mkdir $A $NOBODY mkdir $R/d/newdir 755
  say symlink $A $NOBODY symlink target $R/d/ln
  say still_there $M $R/d/f
  say sub_still_there $M $R/d/sub
}

case_owner_0555() {
  R=$1
  mkdir $R/d $R/w && echo x > $R/d/f && echo y > $R/d/g && mkdir $R/d/sub
  chown -R 1000:1000 $R/d && chmod 555 $R/d && chmod 777 $R/w
  say unlink $A $ALICE unlink $R/d/f
  say rmdir $A $ALICE rmdir $R/d/sub
  say rename_within $A $ALICE rename $R/d/f $R/d/f2
  say rename_out $A $ALICE rename $R/d/g $R/w/g
  say create $A $ALICE create $R/d/new 644
  say mode $M $R/d/f
  say chmod_755 $A $ALICE chmod $R/d 755
  say unlink_after $A $ALICE unlink $R/d/f
  say rename_after $A $ALICE rename $R/d/g $R/w/g
  say rmdir_after $A $ALICE rmdir $R/d/sub
  say gone $M $R/d/f
}

case_sticky() {
  R=$1
  mkdir $R/s $R/s2 && chmod 1777 $R/s && chown 1001:1001 $R/s2 && chmod 1777 $R/s2
  say a_create $A $ALICE create $R/s/af 644
  say a_mkdir $A $ALICE mkdir $R/s/adir 755
  say b_unlink $A $BOB unlink $R/s/af
  say b_rename $A $BOB rename $R/s/af $R/s/bx
  say b_rmdir $A $BOB rmdir $R/s/adir
  say b_create $A $BOB create $R/s/bf 644
  say b_replace $A $BOB rename $R/s/bf $R/s/af
  say a_replace $A $ALICE rename $R/s/af $R/s/bf
  say a_rename $A $ALICE rename $R/s/af $R/s/af2
  say a_unlink $A $ALICE unlink $R/s/af2
  say a_rmdir $A $ALICE rmdir $R/s/adir
  say b_unlink_own $A $BOB unlink $R/s/bf
  say a_create2 $A $ALICE create $R/s2/af 644
  say dirowner_unlink $A $BOB unlink $R/s2/af
  say a_create3 $A $ALICE create $R/s/rf 644
  say root_unlink $A 0 0 unlink $R/s/rf
  say none_left ls -a $R/s
}

case_move_dir() {
  R=$1
  mkdir $R/p1 $R/p2 $R/st && chmod 777 $R/p1 $R/p2 && chmod 1777 $R/st
  mkdir $R/p1/rootdir
  say other_parent $A $ALICE rename $R/p1/rootdir $R/p2/rootdir
  say same_parent $A $ALICE rename $R/p1/rootdir $R/p1/renamed
  say a_mkdir $A $ALICE mkdir $R/p1/ad 755
  say a_chmod_555 $A $ALICE chmod $R/p1/ad 555
  say own_555_other_parent $A $ALICE rename $R/p1/ad $R/p2/ad
  say a_chmod_755 $A $ALICE chmod $R/p1/ad 755
  say own_755_other_parent $A $ALICE rename $R/p1/ad $R/p2/ad
  say a_create $A $ALICE create $R/p1/af 644
  say file_other_parent $A $ALICE rename $R/p1/af $R/p2/af
  say a_mkdir_sticky $A $ALICE mkdir $R/st/ad2 755
  say b_sticky_other_parent $A $BOB rename $R/st/ad2 $R/p2/x
  say where $M $R/p2/ad
}

case_setid_truncate() {
  R=$1
  for f in f1 f2 f3 f4; do echo data > $R/$f; done
  chmod 6777 $R/f1 $R/f3 $R/f4 && chmod 6766 $R/f2
  echo data > $R/f5 && chown 1000:1000 $R/f5 && chmod 6775 $R/f5
  echo data > $R/f6 && chgrp 1000 $R/f6 && chmod 6766 $R/f6
  say other_truncate $A $ALICE truncate $R/f1 2
  say mode1 $M $R/f1
  say other_truncate_no_gx $A $ALICE truncate $R/f2 2
  say mode2 $M $R/f2
  say other_open_trunc $A $ALICE open-trunc $R/f3
  say mode3 $M $R/f3
  say root_truncate $A 0 0 truncate $R/f4 2
  say mode4 $M $R/f4
  say owner_truncate $A $ALICE truncate $R/f5 1
  say mode5 $M $R/f5
  say member_truncate_no_gx $A $ALICE truncate $R/f6 1
  say mode6 $M $R/f6
}

case_setid_chown() {
  R=$1
  for f in f1 f2 f3 f4 f5; do echo data > $R/$f; done
  mkdir $R/d
  chown 1000:1000 $R/f1 $R/f2 $R/f3 $R/f4 $R/d && chown 1000:3000 $R/f5
  chmod 6755 $R/f1 $R/f3 $R/d && chmod 2644 $R/f2 $R/f5 && chmod 4644 $R/f4
  say root_chown $A 0 0 chown $R/f1 1001 -1
  say mode1 $M $R/f1
  say root_chown_no_gx $A 0 0 chown $R/f2 1001 -1
  say mode2 $M $R/f2
  say owner_chgrp $A 1000 1000,3000 chown $R/f3 -1 3000
  say mode3 $M $R/f3
  say owner_chgrp_suid_only $A 1000 1000,3000 chown $R/f4 -1 3000
  say mode4 $M $R/f4
  say owner_chgrp_not_in_old_group $A $ALICE chown $R/f5 -1 1000
  say mode5 $M $R/f5
  say root_chown_dir $A 0 0 chown $R/d 1001 -1
  say moded $M $R/d
}

case_setid_write() {
  R=$1
  for f in f1 f2 f3 f4; do echo data > $R/$f; done
  chmod 6777 $R/f1 $R/f2 && chmod 6766 $R/f3 $R/f4 && chgrp 1000 $R/f4
  say other_write $A $ALICE write $R/f1
  say mode1 $M $R/f1
  say root_write $A 0 0 write $R/f2
  say mode2 $M $R/f2
  say other_write_no_gx $A $ALICE write $R/f3
  say mode3 $M $R/f3
  say member_write_no_gx $A $ALICE write $R/f4
  say mode4 $M $R/f4
}

case_sgid_dir() {
  R=$1
  mkdir $R/g && chown 0:3000 $R/g && chmod 2777 $R/g
  say create $A $ALICE create $R/g/f 644
  say mode_f $M $R/g/f
  say mkdir $A $ALICE mkdir $R/g/sd 755
  say mode_sd $M $R/g/sd
  say nested $A $ALICE create $R/g/sd/f 644
  say mode_nested $M $R/g/sd/f
  say symlink $A $ALICE symlink target $R/g/ln
  say mode_ln $M $R/g/ln
  say create_sgid_not_member $A $ALICE create $R/g/sx 2755
  say mode_sx $M $R/g/sx
  say create_sgid_member $A 1000 1000,3000 create $R/g/sy 2755
  say mode_sy $M $R/g/sy
  say create_sgid_root $A 0 0 create $R/g/sr 2755
  say mode_sr $M $R/g/sr
  mkdir $R/plain && chmod 777 $R/plain
  say plain_create $A $ALICE create $R/plain/f 644
  say mode_plain $M $R/plain/f
}

case_chmod_sgid() {
  R=$1
  echo x > $R/f1 && echo x > $R/f2 && chown 1000:3000 $R/f1 $R/f2 && chmod 644 $R/f1 $R/f2
  say not_member $A $ALICE chmod $R/f1 2755
  say mode1 $M $R/f1
  say member $A 1000 1000,3000 chmod $R/f2 2755
  say mode2 $M $R/f2
  say other_chmod $A $BOB chmod $R/f2 777
  say mode2b $M $R/f2
}

# run_case NAME: the steps on the tmpfs, then on NFS; the transcripts must match.
run_case() {
  name=$1
  mkdir -p /mnt/ref/$name /mnt/s3/perms/$name || return 1
  (cd /tmp && case_$name /mnt/ref/$name) > /tmp/ref.$name 2>&1
  (cd /tmp && case_$name /mnt/s3/perms/$name) > /tmp/nfs.$name 2>&1
  echo "--- reference (tmpfs):"; cat /tmp/ref.$name
  if diff /tmp/ref.$name /tmp/nfs.$name > /tmp/diff.$name; then
    echo "same on NFS ($(wc -l < /tmp/ref.$name) lines)"
    return 0
  fi
  echo "--- NFS differs:"; cat /tmp/diff.$name
  echo "differs: $(grep '^[-+][a-z]' /tmp/diff.$name | tr '\n' ' ' | cut -c1-250)"
  return 1
}

umask 022
mkdir -p /mnt/ref /mnt/s3
step mount_tmpfs mount -t tmpfs -o mode=0755 reftmp /mnt/ref || exit 1
# noac: every stat asks the server, so a transcript shows what it holds
step mount nfs_mount noac /s3files /mnt/s3 || exit 1
step mkdir_perms mkdir -p /mnt/s3/perms
for c in other_root_dir owner_0555 sticky move_dir setid_truncate setid_chown setid_write \
         sgid_dir chmod_sgid; do
  step $c run_case $c
done
step umount umount /mnt/s3
GUEST

"$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$WORK/guest.sh" --timeout 600 \
  --log "$WORK/console.log" --mem 512 --env NFS_PORT="$NFS_PORT" \
  >"$WORK/guest.out" 2>"$WORK/guest.err" &
GPID=$!
wait "$GPID"
guest_rc=$?
GPID=
cat "$WORK/guest.out"
T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$WORK/guest.out")))
if [ $guest_rc -ne 0 ] && ! grep -q '^FAIL ' "$WORK/guest.out"; then
  t_fail guest "run-guest exited $guest_rc: $(tail -n 3 "$WORK/guest.err" | tr '\n' ' ')"
fi
# The transcripts, for the log.
grep -E '^\s*\[[a-z_0-9]+\] ' "$WORK/console.log" | sed 's/^/# /' | head -n 400

# ---- host: the server's own checks, through libnfs, against FSAL_VFS as the reference ----
TOOL=$S3F_BUILD/bin/s3f_nfsproto
cat >"$WORK/host.steps" <<'STEPS'
mk 0 0 mkdir hp 755
s_mk 0 0 mkdir hp/s 777
s_chmod 0 0 chmod hp/s 1777
a_create 1000 1000 create hp/s/af 644
a_mkdir 1000 1000 mkdir hp/s/adir 755
a_mkdir2 1000 1000 mkdir hp/s/adir2 755
b_unlink 1001 1001 unlink hp/s/af
b_rename 1001 1001 rename hp/s/af hp/s/bx
b_rmdir 1001 1001 rmdir hp/s/adir
b_create 1001 1001 create hp/s/bf 644
b_replace 1001 1001 rename hp/s/bf hp/s/af
a_replace 1000 1000 rename hp/s/af hp/s/bf
p_mk 0 0 mkdir hp/p 777
p_chmod 0 0 chmod hp/p 777
b_move_out 1001 1001 rename hp/s/adir hp/p/adir
a_move_out 1000 1000 rename hp/s/adir hp/p/adir
a_chmod_555 1000 1000 chmod hp/s/adir2 555
a_move_out_555 1000 1000 rename hp/s/adir2 hp/p/adir2
root_unlink_sticky 0 0 unlink hp/s/bf
a_mode_af 0 0 mode hp/s/af
q_mk 0 0 mkdir hp/q 777
q_chmod 0 0 chmod hp/q 777
q_rootdir 0 0 mkdir hp/q/rootdir 755
a_move_rootdir 1000 1000 rename hp/q/rootdir hp/p/rootdir
a_rename_rootdir_same_parent 1000 1000 rename hp/q/rootdir hp/q/rd2
r_mk 0 0 mkdir hp/r 755
r_chmod 0 0 chmod hp/r 755
r_create 0 0 create hp/r/f 644
n_unlink 65534 65534 unlink hp/r/f
n_rename 65534 65534 rename hp/r/f hp/p/f
n_rmdir 65534 65534 rmdir hp/q/rd2
n_create 65534 65534 create hp/r/g 644
n_mkdir 65534 65534 mkdir hp/r/d 755
n_mode_f 0 0 mode hp/r/f
STEPS
if [ ! -x "$TOOL" ]; then
  t_fail host_reference "$TOOL missing"
  t_done
fi
if ! s3f_vfs_start "$WORK/vfs" 2>"$WORK/vfs.err"; then
  t_fail host_reference "$(cat "$WORK/vfs.err")"
  t_done
fi
VPORT=$S3F_VFS_PORT
"$TOOL" script 127.0.0.1 "$VPORT" /vfs <"$WORK/host.steps" \
  >"$WORK/host.ref" 2>"$WORK/host.ref.err"
ref_rc=$?
"$TOOL" script 127.0.0.1 "$NFS_PORT" /s3files <"$WORK/host.steps" \
  >"$WORK/host.s3f" 2>"$WORK/host.s3f.err"
s3f_rc=$?
s3f_vfs_stop
if [ $ref_rc != 0 ] || [ $s3f_rc != 0 ]; then
  t_fail host_script "reference rc $ref_rc, s3files rc $s3f_rc: $(cat "$WORK/host.ref.err" "$WORK/host.s3f.err" | tail -n 3 | tr '\n' ' ')"
else
  while read -r label _; do
    want=$(grep "^$label: " "$WORK/host.ref" | head -n 1)
    got=$(grep "^$label: " "$WORK/host.s3f" | head -n 1)
    if [ -n "$want" ] && [ "$want" = "$got" ]; then t_pass "host_$label"
    else t_fail "host_$label" "FSAL_VFS: '${want#*: }', s3files: '${got#*: }'"; fi
  done <"$WORK/host.steps"
fi
sed 's/^/# reference: /' "$WORK/host.ref"

t_done
