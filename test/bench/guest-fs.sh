# shellcheck shell=sh disable=SC3043  # busybox ash: "local" exists
# guest-fs.sh: mount and unmount the file systems `make bench` compares, inside the qemu
# guest (busybox sh, with /lib/guest.sh's helpers). Prepended to the guest scripts of
# test/bench/fs.sh and test/bench/smoke.sh.
#
#   fs_mount SYS MNT     mount SYS's view of s3://$BENCH_BUCKET/$BENCH_PREFIX at MNT:
#     s3files  the kernel NFSv4.1 client (10.0.2.2:/s3files, port $NFS_PORT)
#     s3fs     the host's /usr/bin/s3fs (through host_run), temp files in /mnt/cache/s3fs
#     rclone   the host's /usr/bin/rclone mount --vfs-cache-mode full --vfs-write-back 0s,
#              cache in /mnt/cache/rclone
#   fs_umount SYS MNT    unmount; for the FUSE peers also wait for the daemon to exit
#                        (killed by PID after 10 s)
#
# Both FUSE daemons run in the guest, against the host's S3 at $BENCH_S3_URL (10.0.2.2),
# so they pay the same emulated CPU as the kernel NFS client. /mnt/cache is a tmpfs the
# caller mounts (the guest has no disk). Environment: BENCH_S3_URL BENCH_BUCKET
# BENCH_PREFIX (no trailing "/") BENCH_REGION BENCH_AK BENCH_SK BENCH_S3FS_PASSWD (a
# mode-0600 host file "AK:SK") BENCH_RCLONE_PROVIDER (default Ceph) NFS_PORT.

_fs_wait_mounted() {  # MNT PID SECS: until MNT is a mount point (fails if PID died)
  local i=0
  while [ $i -lt $(($3 * 10)) ]; do
    grep -q " $1 fuse" /proc/mounts && return 0
    [ -n "$2" ] && ! kill -0 "$2" 2>/dev/null && { echo "daemon $2 exited before mounting $1"; return 1; }
    sleep 0.1
    i=$((i + 1))
  done
  echo "$1 not mounted after $3 s"
  return 1
}

_fs_wait_gone() {  # PID: wait up to 10 s for it to exit, then kill it
  local i=0
  [ -n "$1" ] || return 0
  while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  if kill -0 "$1" 2>/dev/null; then
    echo "pid $1 still there 10 s after the unmount: killing it"
    kill -9 "$1" 2>/dev/null
  fi
  return 0
}

fs_mount() {
  local sys=$1 mnt=$2
  mkdir -p "$mnt"
  case $sys in
    s3files)
      nfs_mount "" /s3files "$mnt" ;;
    s3fs)
      mkdir -p /mnt/cache/s3fs
      # s3fs forks into the background once the file system is mounted.
      host_run /usr/bin/s3fs "$BENCH_BUCKET:/$BENCH_PREFIX" "$mnt" -o "url=$BENCH_S3_URL,use_path_request_style,sigv4,endpoint=$BENCH_REGION,passwd_file=$BENCH_S3FS_PASSWD,tmpdir=/mnt/cache/s3fs" || return 1
      _fs_wait_mounted "$mnt" "" 30 || return 1
      S3FS_PID=$(pidof s3fs)
      stat "$mnt" >/dev/null ;;
    rclone)
      mkdir -p /mnt/cache/rclone
      # No AWS_CA_BUNDLE here: rclone 1.60 fails (LoadCustomCABundleError) when it is set.
      # chroot and env exec, so $! is rclone's PID.
      chroot /host /usr/bin/env -u AWS_CA_BUNDLE HOME=/tmp \
        RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER="${BENCH_RCLONE_PROVIDER:-Ceph}" \
        RCLONE_CONFIG_BENCH_ENV_AUTH=false RCLONE_CONFIG_BENCH_ENDPOINT="$BENCH_S3_URL" \
        RCLONE_CONFIG_BENCH_REGION="$BENCH_REGION" RCLONE_CONFIG_BENCH_ACCESS_KEY_ID="$BENCH_AK" \
        RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY="$BENCH_SK" \
        /usr/bin/rclone mount "bench:$BENCH_BUCKET/$BENCH_PREFIX" "$mnt" --config /tmp/rclone-none.conf \
        --vfs-cache-mode full --vfs-write-back 0s --cache-dir /mnt/cache/rclone \
        --log-file /mnt/cache/rclone.log --log-level NOTICE </dev/null >/dev/null 2>&1 &
      RCLONE_PID=$!
      _fs_wait_mounted "$mnt" "$RCLONE_PID" 60 || { cat /mnt/cache/rclone.log; return 1; }
      stat "$mnt" >/dev/null ;;
    *) echo "fs_mount: unknown system $sys"; return 2 ;;
  esac
}

fs_umount() {
  local sys=$1 mnt=$2
  if grep -q " $mnt " /proc/mounts; then
    umount "$mnt" 2>/dev/null || umount -l "$mnt" || return 1
  fi
  case $sys in
    s3fs)   _fs_wait_gone "${S3FS_PID:-}"; S3FS_PID= ;;
    rclone) _fs_wait_gone "${RCLONE_PID:-}"; RCLONE_PID= ;;
  esac
  return 0
}
