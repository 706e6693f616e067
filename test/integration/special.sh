#!/usr/bin/env bash
# special: FIFOs, sockets and devices (issue 13), full stack on the real RGW, client libnfs
# (NFSv4.0). Made through the mount they show with their type (and a device's number), and
# go to S3 as s3fs stores them: an empty object whose x-amz-meta-mode holds the type
# (decimal st_mode), plus x-amz-meta-rdev for a device. Objects put that way by another
# tool show as FIFOs and sockets; a device shows as a regular file unless S3_Devices is set
# (a device planted in the bucket would open the client's device of that number). An
# unprivileged caller cannot make a device (EPERM, as mknod(2)), but can make a FIFO.
set -uo pipefail
T_SUITE=special
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup sp
export LC_ALL=C
trap 's3f_stack_stop "$STACK"' EXIT
export S3FILES_COMMIT_INTERVAL=3600
s3f_test_stack_start
url() { printf 'nfs://127.0.0.1/s3files%s?version=4&nfsport=%s%s' "$1" "$NFS_PORT" "${2:-}"; }
nfs() { "$S3F_BUILD/bin/s3f_nfs" "$@"; }
# meta KEY NAME: a user metadata header of the object, as S3 gives it
meta() {
  s3_curl HEAD "$B" "$P$1" -I 2>/dev/null | tr -d '\r' |
    sed -n "s/^[Xx]-[Aa][Mm][Zz]-[Mm][Ee][Tt][Aa]-$2: *//p" | head -n 1
}

TOOL=$S3F_BUILD/bin/s3f_nfsproto
# script STEPS...: run file system calls as given users (s3f_nfsproto script: raw NFSv4.0
# CREATE of each type; libnfs's own mknod makes only devices over v4)
script() { printf '%s\n' "$@" | "$TOOL" script 127.0.0.1 "$NFS_PORT" /s3files; }

made() {
  local out s
  out=$(script "d 0 0 mkdir m 777" "f 0 0 mknod m/fifo fifo 640" "s 0 0 mknod m/sock sock 600" \
    "c 0 0 mknod m/null chr 666 1 3" "b 0 0 mknod m/loop blk 660 7 7")
  [ "$(printf '%s\n' "$out" | grep -c ': OK$')" = 5 ] || { echo "mknod: $(printf '%s' "$out" | tr '\n' ' ')"; return 1; }
  s=$(nfs stat "$(url /m/fifo)" | cut -d' ' -f1,4); [ "$s" = "10640 0" ] || { echo "fifo stat: $s"; return 1; }
  s=$(nfs stat "$(url /m/sock)" | cut -d' ' -f1); [ "$s" = 140600 ] || { echo "socket stat: $s"; return 1; }
  s=$(nfs stat "$(url /m/null)" | cut -d' ' -f1); [ "$s" = 20666 ] || { echo "char device stat: $s"; return 1; }
  s=$(nfs stat "$(url /m/loop)" | cut -d' ' -f1); [ "$s" = 60660 ] || { echo "block device stat: $s"; return 1; }
}
t_step made_through_mount made

in_s3() {
  local bad=0 k want m r
  s3f_ctl "$STACK" commit >/dev/null 2>&1 && s3f_ctl "$STACK" wait-synced / >/dev/null 2>&1 ||
    { echo "commit/wait-synced failed"; return 1; }
  # decimal st_mode, as s3fs writes it; dev_t as decimal (makedev(1,3) = 259)
  for k in "fifo $((8#010640)) -" "sock $((8#0140600)) -" "null $((8#020666)) 259" "loop $((8#060660)) 1799"; do
    set -- $k
    rm -f "$WORK/got"
    s3_get_file "$B" "${P}m/$1" "$WORK/got" 2>/dev/null || { echo "m/$1 not in S3"; bad=1; continue; }
    [ -s "$WORK/got" ] && { echo "m/$1 is not empty in S3"; bad=1; }
    m=$(meta "m/$1" mode); [ "$m" = "$2" ] || { echo "m/$1: x-amz-meta-mode '$m', want $2"; bad=1; }
    r=$(meta "m/$1" rdev)
    if [ "$3" = - ]; then [ -z "$r" ] || { echo "m/$1 has x-amz-meta-rdev '$r'"; bad=1; }
    else [ "$r" = "$3" ] || { echo "m/$1: x-amz-meta-rdev '$r', want $3"; bad=1; }; fi
  done
  [ $bad = 0 ]
}
t_step in_s3_as_s3fs in_s3

from_s3() {
  local s
  : >"$WORK/empty"
  s3_put_file "$B" "${P}o/fifo" "$WORK/empty" -H "x-amz-meta-mode: $((8#010600))" >/dev/null &&
    s3_put_file "$B" "${P}o/sock" "$WORK/empty" -H "x-amz-meta-mode: $((8#0140644))" >/dev/null &&
    s3_put_file "$B" "${P}o/dev" "$WORK/empty" -H "x-amz-meta-mode: $((8#020600))" -H "x-amz-meta-rdev: 259" >/dev/null ||
    { echo "put failed"; return 1; }
  nfs-ls "$(url /o)" >/dev/null 2>&1
  # the type comes with the object's metadata (a HEAD right after the listing)
  t_wait_for 20 sh -c "[ \"\$('$S3F_BUILD/bin/s3f_nfs' stat '$(url /o/fifo)' | cut -d' ' -f1)\" = 10600 ]" ||
    { echo "o/fifo: $(nfs stat "$(url /o/fifo)")"; return 1; }
  s=$(nfs stat "$(url /o/sock)" | cut -d' ' -f1); [ "$s" = 140644 ] || { echo "o/sock: $s"; return 1; }
  s=$(nfs stat "$(url /o/dev)" | cut -d' ' -f1); [ "$s" = 100600 ] || { echo "o/dev (S3_Devices = false): $s"; return 1; }
}
t_step imported_from_s3 from_s3

unprivileged() {
  local out
  # AUTH_SYS as uid 1000 in a directory it may write: a FIFO is made, a device refused
  out=$(script "uf 1000 1000 mknod m/ufifo fifo 644" "ud 1000 1000 mknod m/udev chr 644 1 3")
  printf '%s\n' "$out" | grep -qx 'uf: OK' || { echo "uid 1000: fifo: $(printf '%s' "$out" | tr '\n' ' ')"; return 1; }
  printf '%s\n' "$out" | grep -qE '^ud: (EPERM|NFS4ERR_PERM)$' || { echo "uid 1000: device: $(printf '%s' "$out" | tr '\n' ' ')"; return 1; }
}
t_step unprivileged_fifo_not_device unprivileged

# The store with special files in it is consistent (types, entries, no data files):
# m/{fifo,sock,null,loop,ufifo} and o/{fifo,sock} are special, o/dev a regular file.
fsck_clean() {
  s3f_ctl "$STACK" fsck --online >"$WORK/fsck.out" 2>&1 || { tail -n 5 "$WORK/fsck.out"; return 1; }
  grep -q ' 7 special' "$WORK/fsck.out" || { echo "fsck counted: $(tail -n 1 "$WORK/fsck.out")"; return 1; }
}
t_step fsck_clean fsck_clean
t_done
