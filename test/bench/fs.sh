# fs.sh: the file-system workloads of `make bench`, s3files next to s3fs and rclone, all
# measured in this same run. Sourced by test/bench/run.sh once its RGW runs: uses its
# ROOT BUILD WORK LOGS line calc is now, and S3_ENDPOINT S3_BUCKET S3_REGION AWS_*.
#
# Every client runs in the same qemu guest (test/vm, TCG, 1 vCPU): s3files through the
# guest's Linux NFSv4.1 client to ganesha + FSAL_S3FILES + s3files-syncd on the host; s3fs
# 1.90 and rclone 1.60 (the host's Debian binaries, run in the guest through host_run) as
# FUSE daemons in the guest. All talk to the same RGW on the host (10.0.2.2 from the
# guest), so every system pays the same emulated client CPU. Floors are measured on the
# host with no file system at all.
#
#   cold      BENCH_COLD_OBJECTS (100,000) objects put straight into RGW (s3f_s3 put-tree,
#             8 PUTs in flight), BENCH_COLD_BIG (10,000) of them in one directory, the rest
#             1,000 per directory; on a cold mount (s3files: empty State_Dir) the first
#             `ls -l` of the big directory, and on another cold mount a `find` of the
#             whole tree. Floor: a bare paged ListObjectsV2 of the same prefixes (s3f_s3 ls).
#   read      `dd` of a BENCH_SEQ_MB (1,024) MiB object put straight into RGW, cold. Floor:
#             s3files' S3 client's parallel ranged GET on the host (8 streams).
#   write     `dd conv=fsync` of a BENCH_SEQ_MB MiB file, then until it is in S3 (s3files:
#             `s3filesctl commit`; s3fs uploads on fsync/close; rclone uploads after close,
#             --vfs-write-back 0s), checked by polling S3 with curl. Floor: `s3cmd put`.
#   small     BENCH_SMALL (1,000) files of 4 KiB copied in with cp, then until they are
#             all in S3 (s3files: commit), then on a cold mount (s3files: empty State_Dir,
#             so from S3) `cat` of all. Floor (write): the same PUTs with s3f_s3, 8 in flight.
#
# Cold means: a fresh mount (a new FUSE daemon with an empty cache directory; for s3files
# ganesha and s3files-syncd restarted on an empty State_Dir) and the guest's caches
# dropped. A peer's measurement is stopped after BENCH_CAP (120) s and printed as ">CAP s"
# with how far it got (the make-durable wait has its own BENCH_CAP); s3files' after 3x
# BENCH_CAP (a safety net: its numbers are the point). BENCH_PEERS ("s3fs rclone") and
# BENCH_WORKLOADS ("cold read write small") choose what runs.

FS_PEERS=${BENCH_PEERS-s3fs rclone}
FS_SYSTEMS="s3files $FS_PEERS"
FS_WORKLOADS=${BENCH_WORKLOADS:-cold read write small}
COLD_N=${BENCH_COLD_OBJECTS:-100000}
COLD_BIG=${BENCH_COLD_BIG:-10000}
[ "$COLD_BIG" -le "$COLD_N" ] || COLD_BIG=$COLD_N
COLD_PER_DIR=1000
SEQ_MB=${BENCH_SEQ_MB:-1024}
SMALL_N=${BENCH_SMALL:-1000}
CAP=${BENCH_CAP:-120}
# Everything lives under FS_ROOT, the prefix s3files exports and the peers mount: this
# run's files under FS_RUN/, the cold tree under FS_COLD/. In an RGW of our own (run.sh
# started it) the cold tree is kept for the next run (named by its shape, checked by the
# LIST that is its floor anyway): putting it costs 2-4 minutes. Elsewhere it is this
# run's and deleted with the rest.
FS_ROOT=s3files-bench/
FS_RUN=fs-$$
FS_COLD=$FS_RUN/cold	# (bench_fs decides)
FS_STACK=$WORK/stack
FS_GPID=
FS_STACK_UP=0
FS_MEM=$((SEQ_MB + 2048))

fs_cap() { if [ "$1" = s3files ]; then echo $((CAP * 3)); else echo "$CAP"; fi; }
fs_want() { case " $FS_WORKLOADS " in *" $1 "*) return 0 ;; esac; return 1; }
fs_say() { printf '%s [%dm%02ds]\n' "$*" $((SECONDS / 60)) $((SECONDS % 60)); }

# fs_rm_prefix PREFIX: delete every key under PREFIX (DeleteObjects, 1,000 per request)
fs_rm_prefix() {
  "$BUILD/bin/s3f_s3" ls "$1" 2>/dev/null | awk '{ print $2 }' |
    xargs -r -n 5000 "$BUILD/bin/s3f_s3" rm >/dev/null 2>&1 || true
}

# fs_cleanup: from run.sh's EXIT trap. The guest first (run-guest kills its qemu by PID),
# then the gateway, then this run's objects (S3 is still up: run.sh stops its RGW after).
fs_cleanup() {
  if [ -n "$FS_GPID" ] && kill -0 "$FS_GPID" 2>/dev/null; then
    kill "$FS_GPID" 2>/dev/null
    wait "$FS_GPID" 2>/dev/null
  fi
  FS_GPID=
  [ "$FS_STACK_UP" = 1 ] && s3f_stack_stop "$FS_STACK"
  FS_STACK_UP=0
  [ "${FS_PUT:-0}" = 1 ] && fs_rm_prefix "$FS_ROOT$FS_RUN/"
  FS_PUT=0
}

# S3 checks with the independent client (test/lib/s3.sh: curl --aws-sigv4).
fs_size() {  # KEY: Content-Length, or nothing
  s3_curl HEAD "$S3_BUCKET" "$1" -I --fail 2>/dev/null | tr -d '\r' |
    sed -n 's/^[Cc]ontent-[Ll]ength: *//p' | tail -n 1
}
fs_count() {  # PREFIX: number of keys under it (no "dir/" markers)
  s3_ls "$S3_BUCKET" "$1" 2>/dev/null | grep -vc '/$'
}

fs_stack_fresh() {  # (re)start the gateway on an empty State_Dir, same NFS port
  [ "$FS_STACK_UP" = 1 ] && s3f_stack_stop "$FS_STACK"
  FS_STACK_UP=0
  rm -rf "$FS_STACK/state"
  if S3_PREFIX=$FS_ROOT NFS_PORT=${FS_NFS_PORT:-} s3f_stack_start "$FS_STACK" >>"$LOGS/stack.out" 2>&1; then
    FS_STACK_UP=1
    FS_NFS_PORT=$(cat "$FS_STACK/nfs_port")
    return 0
  fi
  echo "  s3files: the gateway did not start (see $LOGS/stack.out)" >&2
  return 1
}

# fs_durable SYS NAME: the host's half of the guest's durable-* points. Writes the verdict
# (ok, or why not) to $WORK/verdict.SYS.NAME.
fs_durable() {
  local sys=$1 name=$2 path verdict=timeout t_end out cap
  cap=$(fs_cap "$sys")
  case $name in
    durable-seq) path=$FS_RUN/w-$sys/seq.bin ;;
    durable-small) path=$FS_RUN/w-$sys/small ;;
  esac
  t_end=$(( $(date +%s) + cap ))
  if [ "$sys" = s3files ]; then
    out=$(timeout "$cap" "$BUILD/bin/s3filesctl" -f "$FS_STACK/ganesha.conf" commit "$path" 2>&1) ||
      verdict="commit failed: $out"
    echo "  s3filesctl commit $path: $out" >>"$LOGS/stack.out"
  fi
  while [ "$verdict" = timeout ] && [ "$(date +%s)" -lt "$t_end" ]; do
    case $name in
      durable-seq) [ "$(fs_size "$FS_ROOT$path")" = $((SEQ_MB << 20)) ] && verdict=ok ;;
      durable-small) [ "$(fs_count "$FS_ROOT$path/")" = "$SMALL_N" ] && verdict=ok ;;
    esac
    [ "$verdict" = timeout ] && sleep 0.2
  done
  echo "$verdict" >"$WORK/verdict.$sys.$name"
}

# fs_guest SYS: one guest run of every workload for SYS, answering its rendezvous points.
# Results: "SYS NAME MS RC COUNT" lines appended to $WORK/results.
fs_guest() {
  local sys=$1 rv=$WORK/rv-$sys f n rc=0
  cat test/bench/guest-fs.sh test/bench/guest.sh >"$WORK/guest-$sys.sh"
  test/vm/run-guest.sh --suite "bench-$sys" --script "$WORK/guest-$sys.sh" \
    --timeout $(($(fs_cap "$sys") * 9 + 600)) --mem "$FS_MEM" --log "$LOGS/console-$sys.log" --rendezvous "$rv" \
    --env SYS="$sys" --env BENCH_CAP="$CAP" --env BENCH_WORKLOADS="$FS_WORKLOADS" \
    --env BENCH_SEQ_MB="$SEQ_MB" --env BENCH_SMALL_TAR="$WORK/small.tar" \
    --env BENCH_CACHE_MB=$((SEQ_MB + 512)) --env BENCH_S3_URL="$FS_GUEST_URL" \
    --env BENCH_BUCKET="$S3_BUCKET" --env BENCH_PREFIX="${FS_ROOT%/}" --env BENCH_REGION="$S3_REGION" \
    --env BENCH_COLD="$FS_COLD" --env BENCH_RUN="$FS_RUN" \
    --env BENCH_AK="$AWS_ACCESS_KEY_ID" --env BENCH_SK="$AWS_SECRET_ACCESS_KEY" \
    --env BENCH_S3FS_PASSWD="$WORK/s3fs.passwd" --env BENCH_RCLONE_PROVIDER="${BENCH_RCLONE_PROVIDER:-Ceph}" \
    --env NFS_PORT="${FS_NFS_PORT:-0}" \
    >"$LOGS/guest-$sys.out" 2>"$LOGS/guest-$sys.err" &
  FS_GPID=$!
  while kill -0 "$FS_GPID" 2>/dev/null; do
    for f in "$rv"/*.sig; do
      [ -e "$f" ] || continue
      n=$(basename "$f" .sig)
      [ -e "$rv/$n.ack" ] && continue
      case $n in
        fresh-*) fs_stack_fresh || true ;;
        durable-*) fs_durable "$sys" "$n" ;;
      esac
      : >"$rv/$n.ack"
    done
    sleep 0.1
  done
  wait "$FS_GPID" || rc=$?
  FS_GPID=
  sed -n 's/^# RESULT //p' "$LOGS/guest-$sys.out" >>"$LOGS/results"
  grep '^FAIL ' "$LOGS/guest-$sys.out" | sed 's/^/    /' || true
  [ $rc = 0 ] || echo "    $sys: the guest run ended with $rc (console: $LOGS/console-$sys.log)"
}

# fs_get SYS NAME FIELD: from $WORK/results; FIELD 3 = ms, 4 = rc, 5 = count
fs_get() { awk -v s="$1" -v n="$2" -v f="$3" '$1 == s && $2 == n { v = $f } END { print v }' "$LOGS/results"; }

# fs_secs SYS NAME WANT_COUNT [VERDICT_NAME]: FS_S = seconds if the measurement completed
# with the expected count (and verdict); else FS_S is empty, FS_WHY says what happened and
# FS_LB is a lower bound of the time when there is one (stopped, not durable in time).
fs_secs() {
  local sys=$1 name=$2 want=$3 vname=${4:-} ms rc cnt v cap
  cap=$(fs_cap "$sys")
  ms=$(fs_get "$sys" "$name" 3); rc=$(fs_get "$sys" "$name" 4); cnt=$(fs_get "$sys" "$name" 5)
  FS_S= FS_WHY= FS_LB=
  if [ -z "$ms" ]; then FS_WHY="not measured"; return; fi
  case $rc in
    0) ;;
    124|143|137) FS_WHY=">$cap s (stopped${cnt:+; $cnt of $want})"; FS_LB=$cap; return ;;
    255) FS_WHY="mount failed"; return ;;
    99) FS_WHY="failed (the host never answered)"; return ;;
    *) FS_WHY="failed (rc $rc)"; return ;;
  esac
  if [ -n "$want" ] && [ "$cnt" != "$want" ]; then FS_WHY="wrong result ($cnt, want $want)"; return; fi
  if [ -n "$vname" ]; then
    v=$(cat "$WORK/verdict.$sys.$vname" 2>/dev/null)
    if [ "$v" = timeout ]; then   # the guest's time includes the host's whole wait
      FS_LB=$(printf '%.0f' "$(calc "$ms / 1000")")
      FS_WHY=">$FS_LB s (not in S3 $cap s after the close)"
      return
    fi
    [ "$v" = ok ] || { FS_WHY="not durable (${v:-no verdict})"; return; }
  fi
  FS_S=$(calc "$ms / 1000")
}

# fs_line RESULT NAME UNIT BYTES WANT VERDICT FLOOR_LABEL FLOOR_SECS [PART]: the summary
# line NAME for the guest measurement RESULT. UNIT "s": the value is s3files' time; "MB/s":
# BYTES / its time. WANT: the count the measurement must have reported; VERDICT: the
# durable-* point whose host verdict must be ok; PART: a measurement shown in brackets
# (the write until close, of a write until durable). Ratios are of times: peer/s3files
# (> 1: s3files is faster) and s3files/floor (its overhead over the floor).
fs_line() {
  local key=$1 name=$2 unit=$3 bytes=$4 want=$5 vname=$6 flabel=$7 fsecs=$8 part=${9:-}
  local sys s c cells='' ratios='' value=n/a s3f=''
  cell() {  # SECS
    if [ "$unit" = s ]; then printf '%.2f s' "$1"
    else printf '%.2f s = %.0f MB/s' "$1" "$(calc "$bytes / $1 / 1000000")"; fi
  }
  for sys in $FS_SYSTEMS; do
    fs_secs "$sys" "$key" "$want" "$vname"
    s=$FS_S
    [ -n "$cells" ] && cells+=" / "
    if [ -n "$s" ]; then
      cells+="$sys $(cell "$s")"
      if [ -n "$part" ]; then
        c=$(fs_get "$sys" "$part" 3)
        [ -n "$c" ] && cells+=" (close at $(printf '%.2f' "$(calc "$c / 1000")") s)"
      fi
      if [ "$sys" = s3files ]; then
        s3f=$s
        if [ "$unit" = s ]; then value=$(printf '%.2f' "$s"); else value=$(printf '%.0f' "$(calc "$bytes / $s / 1000000")"); fi
      elif [ -n "$s3f" ]; then
        ratios+="${ratios:+, }$sys/s3files $(printf '%.2f' "$(calc "$s / $s3f")")"
      fi
    else
      cells+="$sys $FS_WHY"
      if [ "$sys" != s3files ] && [ -n "$s3f" ] && [ -n "$FS_LB" ]; then
        ratios+="${ratios:+, }$sys/s3files >$(printf '%.2f' "$(calc "$FS_LB / $s3f")")"
      fi
    fi
  done
  if [ -n "$fsecs" ]; then
    cells+=" / $flabel $(cell "$fsecs")"
    [ -n "$s3f" ] && ratios+="${ratios:+, }s3files/$flabel $(printf '%.2f' "$(calc "$s3f / $fsecs")")"
  fi
  line "$name $value $unit ($cells; ratio ${ratios:-n/a})"
}

# timed_host VAR CMD...: run CMD, VAR = its wall time in seconds ("" if it failed)
timed_host() {
  local __v=$1 t0 t1; shift
  t0=$(now)
  if "$@"; then t1=$(now); printf -v "$__v" '%s' "$(calc "$t1 - $t0")"
  else printf -v "$__v" '%s' ''; echo "  failed: $*" >&2; fi
}

bench_fs() {
  fs_say "=== file-system workloads ($FS_WORKLOADS): s3files vs ${FS_PEERS:-no peer}, one qemu guest each"
  if [ "${RGW_STARTED:-0}" = 1 ]; then FS_COLD=cold-$COLD_N-$COLD_BIG-$COLD_PER_DIR; else FS_COLD=$FS_RUN/cold; fi
  case $S3_ENDPOINT in
    http://127.0.0.1:*|http://localhost:*) FS_GUEST_URL=http://10.0.2.2:${S3_ENDPOINT##*:}; FS_GUEST_URL=${FS_GUEST_URL%/} ;;
    *) echo "  skipped: the guest reaches only an S3 endpoint on this machine (http://127.0.0.1:PORT), not $S3_ENDPOINT"
       return 0 ;;
  esac
  for p in $FS_PEERS; do
    command -v "$p" >/dev/null || { echo "  $p is not installed (make deps)" >&2; return 1; }
  done
  S3F_ROOT=$ROOT S3F_BUILD=$BUILD
  . "$ROOT/test/lib/s3files.sh"
  test/vm/build-guest.sh >/dev/null 2>"$LOGS/build-guest.err" || { cat "$LOGS/build-guest.err" >&2; return 1; }
  : >"$LOGS/results"
  (umask 077; printf '%s:%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$WORK/s3fs.passwd")

  local n_dirs want_find floor_ls='' floor_find='' floor_get='' floor_put='' floor_small='' out t
  n_dirs=$(( (COLD_BIG > 0 ? 1 : 0) + (COLD_N - COLD_BIG + COLD_PER_DIR - 1) / COLD_PER_DIR ))
  want_find=$((COLD_N + n_dirs + 1))

  # ---- data and floors, on the host ----
  FS_PUT=1
  if [ "${RGW_STARTED:-0}" = 1 ]; then   # leftovers of runs that were killed
    "$BUILD/bin/s3f_s3" -d / ls "$FS_ROOT" 2>/dev/null | sed -n "s|^PRE \(${FS_ROOT}fs-[0-9]*/\)$|\1|p" |
      while read -r p; do fs_rm_prefix "$p"; done
  fi
  if fs_want cold; then
    t=$WORK/ls.out
    timed_host floor_find "$BUILD/bin/s3f_s3" ls "$FS_ROOT$FS_COLD/" >"$t" 2>/dev/null
    if [ "$(grep -c ' ' "$t")" = "$COLD_N" ]; then
      echo "# cold tree: $COLD_N objects under $FS_ROOT$FS_COLD/, kept from an earlier run" | tee -a "$SUMMARY"
    else
      fs_say "  putting $COLD_N objects under $FS_ROOT$FS_COLD/ ($COLD_BIG in big/)"
      out=$("$BUILD/bin/s3f_s3" -c 8 put-tree "$FS_ROOT$FS_COLD/" "$COLD_N" "$COLD_BIG" "$COLD_PER_DIR" 2>&1) ||
        { echo "$out" >&2; return 1; }
      echo "    $out"
      line "cold_tree_put $(printf '%s' "$out" | sed -n 's/.* = \([0-9]*\) PUT\/s$/\1/p') PUT/s ($COLD_N objects of 100 B, 8 in flight, s3f_s3 put-tree; setup of the cold workloads, no peer)"
      timed_host floor_find "$BUILD/bin/s3f_s3" ls "$FS_ROOT$FS_COLD/" >"$t" 2>/dev/null
      [ "$(grep -c ' ' "$t")" = "$COLD_N" ] || { echo "  LIST of the cold tree: $(wc -l <"$t") keys, want $COLD_N" >&2; floor_find=; }
    fi
    timed_host floor_ls "$BUILD/bin/s3f_s3" -d / ls "$FS_ROOT$FS_COLD/big/" >"$t" 2>/dev/null
    [ "$(grep -c ' ' "$t")" = "$COLD_BIG" ] || { echo "  LIST of big/: $(wc -l <"$t") keys, want $COLD_BIG" >&2; floor_ls=; }
    rm -f "$t"
  fi
  if fs_want read; then
    fs_say "  putting a $SEQ_MB MiB object at $FS_ROOT$FS_RUN/seq/read.bin; floors"
    head -c $((SEQ_MB << 20)) /dev/urandom >"$WORK/seq.src"
    "$BUILD/bin/s3f_s3" put "$FS_ROOT$FS_RUN/seq/read.bin" "$WORK/seq.src" >/dev/null 2>&1 || { echo "  put failed" >&2; return 1; }
    rm -f "$WORK/seq.src"
    timed_host floor_get "$BUILD/bin/s3f_s3" -s 8 -c 8 get-parallel "$FS_ROOT$FS_RUN/seq/read.bin" /dev/null 2>/dev/null
  fi
  if fs_want write; then
    truncate -s $((SEQ_MB << 20)) "$WORK/zero.bin"
    timed_host floor_put s3cmd_put "$S3_BUCKET" "$FS_ROOT$FS_RUN/floor/seq.bin" "$WORK/zero.bin"
    [ "$(fs_size "$FS_ROOT$FS_RUN/floor/seq.bin")" = $((SEQ_MB << 20)) ] || floor_put=
    rm -f "$WORK/zero.bin"
  fi
  if fs_want small; then
    mkdir -p "$WORK/small"
    for i in $(seq -f %05g 1 "$SMALL_N"); do head -c 4096 /dev/urandom >"$WORK/small/f$i"; done
    tar -C "$WORK" -cf "$WORK/small.tar" small
    rm -rf "$WORK/small"
    out=$("$BUILD/bin/s3f_s3" bench-put "$SMALL_N" 4096 8 2>&1) &&
      floor_small=$(printf '%s' "$out" | sed -n 's/.*: \([0-9.]*\) s = .*/\1/p')
  fi

  # ---- one guest per system ----
  for sys in $FS_SYSTEMS; do
    fs_say "  --- $sys (guest log: $LOGS/console-$sys.log)"
    if [ "$sys" = s3files ]; then
      fs_stack_fresh || continue
    fi
    fs_guest "$sys"
    if [ "$sys" = s3files ]; then
      s3f_stack_stop "$FS_STACK"
      FS_STACK_UP=0
    fi
    sed -n "s/^$sys /    /p" "$LOGS/results"
  done

  # ---- summary ----
  printf '# file-system workloads: every client in the same qemu TCG guest (1 vCPU, %d MiB):\n' "$FS_MEM" | tee -a "$SUMMARY"
  printf '#   s3files = Linux NFSv4.1 client -> ganesha + FSAL_S3FILES + s3files-syncd on the host;\n' | tee -a "$SUMMARY"
  printf '#   s3fs %s and rclone %s (--vfs-cache-mode full) = FUSE daemons in the guest, caches in guest RAM;\n' \
    "$(dpkg-query -W -f='${Version}' s3fs 2>/dev/null)" "$(dpkg-query -W -f='${Version}' rclone 2>/dev/null)" |
    tee -a "$SUMMARY"
  printf '#   S3 = RGW on the host; floors run on the host. Ratios of times: peer/s3files > 1 = s3files faster.\n' | tee -a "$SUMMARY"
  if fs_want cold; then
    fs_line cold_ls "cold_ls_$COLD_BIG" s 0 $((COLD_BIG + 1)) "" "LIST" "$floor_ls"
    fs_line cold_find "cold_find_$COLD_N" s 0 "$want_find" "" "LIST" "$floor_find"
  fi
  if fs_want read; then
    fs_line seq_read "seq_read_${SEQ_MB}MiB" MB/s $((SEQ_MB << 20)) "$SEQ_MB+0" "" "host-GET" "$floor_get"
  fi
  if fs_want write; then
    fs_line seq_write "seq_write_${SEQ_MB}MiB" MB/s $((SEQ_MB << 20)) "" durable-seq "s3cmd-put" "$floor_put" seq_write_close
  fi
  if fs_want small; then
    fs_line small_write "small_write_$SMALL_N" s 0 "" durable-small "PUTx8" "$floor_small" small_write_close
    fs_line small_read "small_read_$SMALL_N" s 0 $((SMALL_N * 4096)) "" "" ""
  fi
}
