# shellcheck shell=sh
# guest.sh: the guest half of `make bench`'s file-system workloads for one system ($SYS:
# s3files, s3fs or rclone), run by test/vm/run-guest.sh after test/bench/guest-fs.sh.
# test/bench/fs.sh is the host half: it answers the rendezvous points
#   fresh-N        (s3files only) restart the gateway with an empty State_Dir
#   durable-seq    make $BENCH_RUN/w-$SYS/seq.bin durable in S3 (s3files: s3filesctl commit; the
#                  peers upload by themselves) and wait until S3 has it whole
#   durable-small  the same for the BENCH_SMALL files under $BENCH_RUN/w-$SYS/small/
# Every measurement is reported as a note "RESULT SYS NAME MS RC [COUNT]": RC 0 = ok,
# 124/143 = stopped after $BENCH_CAP s (s3files: 3x that), 99 = the host's durable check did not succeed,
# 255 = the mount before it failed; COUNT = output lines, bytes, files or dd's "records
# out". Timing is done here, with the guest's clock; nothing is judged: the host checks
# the counts.
#
# Environment (besides guest-fs.sh's): SYS BENCH_CAP BENCH_WORKLOADS BENCH_SEQ_MB
# BENCH_SMALL_TAR (host path of a tar of the small files) BENCH_CACHE_MB, BENCH_COLD (the
# cold tree) and BENCH_RUN (this run's directory), both relative to the mount.
M=/mnt/fs
CAP=${BENCH_CAP:-120}
# s3files' numbers are the point of the run: its limit is only a safety net
[ "$SYS" = s3files ] && CAP=$((CAP * 3))
mkdir -p /mnt/cache
mount -t tmpfs -o "size=${BENCH_CACHE_MB:-2048}m" tmpfs /mnt/cache
want() { case " $BENCH_WORKLOADS " in *" $1 "*) return 0 ;; esac; return 1; }
result() { note "RESULT $SYS $*"; }

N_FRESH=0
# fresh: a cold mount. Unmount, drop the guest's caches and the peer's cache directory
# (a new FUSE daemon starts with empty in-memory caches); for s3files the host restarts
# ganesha and s3files-syncd on an empty State_Dir (metadata and data tier).
fresh() {
  fs_umount "$SYS" $M
  rm -rf /mnt/cache/s3fs /mnt/cache/rclone /mnt/cache/rclone.log
  sync
  echo 3 > /proc/sys/vm/drop_caches
  if [ "$SYS" = s3files ]; then
    N_FRESH=$((N_FRESH + 1))
    host_signal "fresh-$N_FRESH" && host_wait "fresh-$N_FRESH" 300 || return 1
  fi
  fs_mount "$SYS" $M
}

# timed CMD...: run CMD for at most CAP s, stdout to /tmp/out, stderr to /tmp/err;
# sets T0 (start, ms), T_MS and T_RC.
timed() {
  T0=$(now_ms)
  timeout "$CAP" "$@" > /tmp/out 2> /tmp/err
  T_RC=$?
  T_MS=$(elapsed_ms "$T0")
}
# busybox dd prints no byte count: "FULL+PARTIAL records out" (bs=1M) is the count
dd_records() { sed -n 's/^\([0-9]*+[0-9]*\) records out$/\1/p' /tmp/err | tail -n 1; }

# durable NAME: until the host says the data is in S3 (the host judges and keeps the verdict)
durable() {
  host_signal "$1" && host_wait "$1" $((CAP + 120))
}

if want cold; then
  if step fresh_cold_ls fresh; then
    timed ls -l "$M/$BENCH_COLD/big"
    result cold_ls "$T_MS" "$T_RC" "$(wc -l < /tmp/out)"
  else result cold_ls 0 255 0; fi
  if step fresh_cold_find fresh; then
    timed find "$M/$BENCH_COLD"
    result cold_find "$T_MS" "$T_RC" "$(wc -l < /tmp/out)"
  else result cold_find 0 255 0; fi
fi

if want read; then
  if step fresh_seq_read fresh; then
    timed dd if="$M/$BENCH_RUN/seq/read.bin" of=/dev/null bs=1M
    result seq_read "$T_MS" "$T_RC" "$(dd_records)"
  else result seq_read 0 255 0; fi
fi

W=$M/$BENCH_RUN/w-$SYS
if want write; then
  if step fresh_seq_write fresh && step mkdir_w mkdir -p $W; then
    timed dd if=/dev/zero of=$W/seq.bin bs=1M count="$BENCH_SEQ_MB" conv=fsync
    rc=$T_RC
    result seq_write_close "$T_MS" "$rc" "$(dd_records)"
    [ "$rc" = 0 ] && { durable durable-seq || rc=99; }
    result seq_write "$(elapsed_ms "$T0")" "$rc"
  else result seq_write 0 255 0; fi
fi

if want small; then
  # The files come from a tar unpacked into guest memory first (not timed); they are
  # written with plain cp (create, write, close: no chmod/utimes to replay).
  tar -xf "/host$BENCH_SMALL_TAR" -C /run
  if { grep -q " $M " /proc/mounts || step fresh_small_write fresh; } && step mkdir_small mkdir -p $W; then
    timed cp -r /run/small $W/
    rc=$T_RC
    result small_write_close "$T_MS" "$rc" "$(ls $W/small | wc -l)"
    [ "$rc" = 0 ] && { durable durable-small || rc=99; }
    result small_write "$(elapsed_ms "$T0")" "$rc"
    if step fresh_small_read fresh; then
      timed sh -c "exec cat $W/small/*"
      result small_read "$T_MS" "$T_RC" "$(wc -c < /tmp/out)"
    else result small_read 0 255 0; fi
  else result small_write 0 255 0; fi
fi
step umount fs_umount "$SYS" $M
