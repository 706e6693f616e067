#!/usr/bin/env bash
# vm_harness: proves the qemu guest harness (test/vm) against a real NFS server.
#
# Starts /usr/bin/ganesha.nfsd (NFSv4 only, FSAL_VFS on a temp dir, 127.0.0.1:<free port>),
# boots guests with test/vm/run-guest.sh whose Linux kernel NFSv4.1 client mounts it, writes,
# reads back, checks sha256 (also with a host binary run via chroot /host), and the host checks
# that the data landed in the exported directory. Also checks that run-guest reports a failing
# step as FAIL with a non-zero rc, that --timeout kills qemu and exits 124, that a kernel panic
# is reported, and that two guests can run at once.
#
# Needs: qemu-system-x86 busybox-static cpio xz-utils gcc (build-guest.sh), nfs-ganesha and
# its FSAL_VFS plugin (Debian package nfs-ganesha-vfs, installed below when missing;
# scripts/deps.sh must list nfs-ganesha-vfs).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
VM=$S3F_ROOT/test/vm
RUN_GUEST=$VM/run-guest.sh

WORK=$(mktemp -d "${TMPDIR:-/tmp}/s3f-vmh.XXXXXX")
GPID=
stop_ganesha() {
  [ -n "$GPID" ] || return 0
  if kill -0 "$GPID" 2>/dev/null; then
    kill -TERM "$GPID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$GPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$GPID" 2>/dev/null
  fi
  wait "$GPID" 2>/dev/null
  GPID=
}
cleanup() { stop_ganesha; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Print captured output as comments (never as PASS/FAIL lines of this suite).
show() { sed 's/^/#   /' "$@"; }

# ---- the guest image ----
if ! t_step build_guest "$VM/build-guest.sh"; then
  t_done
fi

# ---- ganesha with FSAL_VFS ----
# nfs-ganesha ships no FSAL itself in Debian: FSAL_VFS is the nfs-ganesha-vfs package.
# scripts/deps.sh must list nfs-ganesha-vfs; installing it here keeps this suite self-contained.
fsal_so() { dpkg -L nfs-ganesha-vfs 2>/dev/null | grep '/libfsalvfs\.so$' | head -n1; }
if [ ! -x /usr/bin/ganesha.nfsd ]; then
  t_fail ganesha_start "/usr/bin/ganesha.nfsd not installed (scripts/deps.sh)"; t_done
fi
if [ -z "$(fsal_so)" ] || [ ! -f "$(fsal_so)" ]; then
  echo "# installing nfs-ganesha-vfs (FSAL_VFS) for this suite"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q nfs-ganesha-vfs > "$WORK/apt.log" 2>&1 \
    || { apt-get update -qq > /dev/null 2>&1; apt-get install -y -q nfs-ganesha-vfs >> "$WORK/apt.log" 2>&1; }
fi
FSAL_SO=$(fsal_so)
if [ -z "$FSAL_SO" ] || [ ! -f "$FSAL_SO" ]; then
  t_fail ganesha_start "FSAL_VFS (nfs-ganesha-vfs) not available"; show "$WORK/apt.log" 2>/dev/null; t_done
fi
PLUGINS=$(dirname "$FSAL_SO")

PORT=$(t_free_port)
EXPORT=$WORK/export
G=$WORK/ganesha
mkdir -p "$EXPORT" "$G/recov" "$G/ccache"
cat > "$G/ganesha.conf" <<EOF
# NFSv4 only: with NFSv3/NLM/RQUOTA enabled Debian's ganesha needs rpcbind.
NFS_CORE_PARAM {
  NFS_Port = $PORT;
  Bind_Addr = 127.0.0.1;
  Protocols = 4;
  Enable_NLM = false;
  Enable_RQUOTA = false;
  Enable_UDP = false;
  Plugins_Dir = "$PLUGINS";
  Dbus_Name_Prefix = "s3fvmh$$";
}
NFSV4 {
  RecoveryRoot = "$G/recov";
  Graceless = true;
  Lease_Lifetime = 20;
  # numeric owner strings: the guest has no idmapd (names would map to nobody)
  Only_Numeric_Owners = true;
}
NFS_KRB5 { Active_krb5 = false; CCacheDir = "$G/ccache"; }
EXPORT {
  Export_Id = 1;
  Path = "$EXPORT";
  Pseudo = /export;
  Access_Type = RW;
  Squash = No_Root_Squash;
  Protocols = 4;
  Transports = TCP;
  SecType = sys;
  FSAL { Name = VFS; }
}
LOG { Default_Log_Level = EVENT; }
EOF
/usr/bin/ganesha.nfsd -F -f "$G/ganesha.conf" -L "$G/ganesha.log" -p "$G/ganesha.pid" \
  > "$G/stdout" 2>&1 < /dev/null &
GPID=$!
if t_wait_for 30 grep -q 'NFS SERVER INITIALIZED' "$G/ganesha.log" \
   && t_wait_for 10 sh -c "ss -Htln 'sport = :$PORT' | grep -q ." && kill -0 "$GPID" 2>/dev/null; then
  t_pass ganesha_start
else
  t_fail ganesha_start "ganesha.nfsd did not come up on 127.0.0.1:$PORT"
  tail -n 30 "$G/ganesha.log" "$G/stdout" 2>/dev/null | show
  t_done
fi

# ---- guest 1: mount, write, read back, sha256, ls -l, host binary via chroot, throughput ----
cat > "$WORK/g1.sh" <<'EOF'
M=/mnt/nfs
step mount nfs_mount /export $M
step fstype sh -c "grep ' $M nfs4 ' /proc/mounts | grep -q 'vers=4.1'"
step clock sh -c 'd=$(( $(now_ms) - $(host_now_ms) )); echo "guest-host skew ${d}ms"; [ ${d#-} -lt 1000 ]'
step write_small sh -c "echo 'hello from the guest' > $M/hello.txt"
dd if=/dev/urandom of=/tmp/data bs=64k count=16 2>/dev/null    # 1 MiB
step write_data cp /tmp/data $M/data
step sha_file sh -c "sha256sum < /tmp/data | cut -d' ' -f1 > $M/data.sha256"
echo 3 > /proc/sys/vm/drop_caches
want=$(cut -d' ' -f1 < $M/data.sha256)
step read_sha256 sh -c "got=\$(sha256sum < $M/data | cut -d' ' -f1); echo \$got; [ \"\$got\" = '$want' ]"
step ls_l sh -c "ls -ln $M; ls -ln $M/data | awk '{ if (\$5 != 1048576 || \$3 != 0) exit 1 }'"
step mtime sh -c "d=\$(( \$(mtime_ms $M/data) - \$(now_ms) )); echo \"mtime-now \${d}ms\"; [ \${d#-} -lt 30000 ]"
# a host-built, dynamically linked program, run from the read-only host root
step host_binary sh -c "got=\$(host_run /usr/bin/sha256sum $M/data | cut -d' ' -f1); echo \$got; [ \"\$got\" = '$want' ]"
t0=$(now_ms)
step dd_write dd if=/dev/zero of=$M/big bs=1M count=64 conv=fsync
ms=$(elapsed_ms $t0); note "dd write 64 MiB (conv=fsync): ${ms} ms, $(( 64 * 1000 / (ms + 1) )) MB/s"
echo 3 > /proc/sys/vm/drop_caches
t0=$(now_ms)
step dd_read dd if=$M/big of=/dev/null bs=1M
ms=$(elapsed_ms $t0); note "dd read 64 MiB: ${ms} ms, $(( 64 * 1000 / (ms + 1) )) MB/s"
step rm_big rm $M/big
step umount umount $M
EOF
"$RUN_GUEST" --suite "$T_SUITE" --script "$WORK/g1.sh" --env "NFS_PORT=$PORT" \
  --timeout 300 --log "$WORK/g1.log" 2> "$WORK/g1.err"
rc=$?
if [ $rc -ne 0 ]; then
  T_FAILED=$((T_FAILED + 1)); show "$WORK/g1.err"
  tail -n 20 "$G/ganesha.log" | show
fi

# ---- the host sees what the guest wrote ----
t_step host_sees_small grep -qx 'hello from the guest' "$EXPORT/hello.txt"
t_step host_sees_data sh -c "[ \"\$(sha256sum < '$EXPORT/data' | cut -d' ' -f1)\" = \"\$(cat '$EXPORT/data.sha256')\" ]"

# ---- two guests at once: each writes its own file and reads guest 1's data ----
cat > "$WORK/par.sh" <<'EOF'
M=/mnt/nfs
step mount nfs_mount /export $M
dd if=/dev/urandom of=/tmp/f bs=64k count=8 2>/dev/null
step write sh -c "cp /tmp/f $M/$ME && sha256sum < /tmp/f | cut -d' ' -f1 > $M/$ME.sha256"
step read_g1_data sh -c "[ \"\$(sha256sum < $M/data | cut -d' ' -f1)\" = \"\$(cat $M/data.sha256)\" ]"
step umount umount $M
EOF
for i in 1 2; do cp "$WORK/par.sh" "$WORK/p$i.sh"; done
t0=$(date +%s)
"$RUN_GUEST" --suite "$T_SUITE/par1" --script "$WORK/p1.sh" --env "NFS_PORT=$PORT" --env ME=par1 --log "$WORK/p1.log" \
  > "$WORK/p1.out" 2> "$WORK/p1.err" & P1=$!
"$RUN_GUEST" --suite "$T_SUITE/par2" --script "$WORK/p2.sh" --env "NFS_PORT=$PORT" --env ME=par2 --log "$WORK/p2.log" \
  > "$WORK/p2.out" 2> "$WORK/p2.err" & P2=$!
wait $P1; r1=$?
wait $P2; r2=$?
cat "$WORK/p1.out" "$WORK/p2.out"
echo "# two guests at once: $(( $(date +%s) - t0 )) s"
if [ $r1 -eq 0 ] && [ $r2 -eq 0 ] \
   && [ "$(sha256sum < "$EXPORT/par1" | cut -d' ' -f1)" = "$(cat "$EXPORT/par1.sha256")" ] \
   && [ "$(sha256sum < "$EXPORT/par2" | cut -d' ' -f1)" = "$(cat "$EXPORT/par2.sha256")" ]; then
  t_pass parallel_guests
else
  t_fail parallel_guests "rc=$r1/$r2 or the host does not see both files"
  show "$WORK/p1.err" "$WORK/p2.err"
fi

gp=$GPID
stop_ganesha
t_step ganesha_stopped sh -c "! kill -0 $gp 2>/dev/null"

# ---- a failing step is reported as FAIL and makes the rc non-zero ----
cat > "$WORK/fail.sh" <<'EOF'
step good true
step bad sh -c 'echo first line; echo boom >&2; exit 3'
step after true
EOF
"$RUN_GUEST" --suite inner --script "$WORK/fail.sh" --timeout 120 > "$WORK/fail.out" 2> "$WORK/fail.err"
rc=$?
if [ $rc -ne 0 ] && grep -qx 'PASS inner/good' "$WORK/fail.out" \
   && grep -qx 'FAIL inner/bad: rc=3 boom' "$WORK/fail.out" \
   && grep -qx 'PASS inner/after' "$WORK/fail.out"; then
  t_pass failing_step_reported
else
  t_fail failing_step_reported "rc=$rc, output: $(tr '\n' '|' < "$WORK/fail.out")"
  show "$WORK/fail.err"
fi

# ---- --timeout kills qemu and exits 124 ----
cat > "$WORK/sleep.sh" <<'EOF'
step sleeper sleep 600
EOF
t0=$(date +%s)
"$RUN_GUEST" --suite inner --script "$WORK/sleep.sh" --timeout 20 > "$WORK/to.out" 2> "$WORK/to.err"
rc=$?
el=$(( $(date +%s) - t0 ))
qpid=$(sed -n 's/.*killed qemu (pid \([0-9]*\)).*/\1/p' "$WORK/to.out" | head -n1)
if [ $rc -eq 124 ] && [ $el -le 30 ] && grep -q '^FAIL inner/sleeper: timeout after 20s' "$WORK/to.out" \
   && [ -n "$qpid" ] && ! kill -0 "$qpid" 2>/dev/null; then
  t_pass timeout_kills_qemu
else
  t_fail timeout_kills_qemu "rc=$rc after ${el}s, qemu pid '${qpid}', output: $(tr '\n' '|' < "$WORK/to.out")"
  show "$WORK/to.err"
fi

# ---- a kernel panic ends the run at once and is reported ----
cat > "$WORK/panic.sh" <<'EOF'
step panic sh -c 'echo c > /proc/sysrq-trigger'
EOF
t0=$(date +%s)
"$RUN_GUEST" --suite inner --script "$WORK/panic.sh" --timeout 120 > "$WORK/panic.out" 2> "$WORK/panic.err"
rc=$?
el=$(( $(date +%s) - t0 ))
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q '^FAIL inner/panic: kernel panic' "$WORK/panic.out"; then
  t_pass panic_reported
else
  t_fail panic_reported "rc=$rc after ${el}s, output: $(tr '\n' '|' < "$WORK/panic.out")"
  show "$WORK/panic.err"
fi

t_done
