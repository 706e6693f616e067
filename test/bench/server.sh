# test/bench/server.sh — part 4 of `make bench` (sourced by run.sh): the gateway measured
# at the server, with a user-space client on the host (test/bench/s3f_nfsload: libnfs,
# NFSv4.0, many requests in flight), next to its physical limits measured in the same run:
#
#   FSAL_VFS  ganesha (the same binary) exporting a local directory on the same disk: the
#             limit for data already local and for metadata
#   raw S3    8 curl processes, one Range GET each, of the same object from the same RGW:
#             the limit for cold data
#
# Lines (each "BENCH server_<case> ...": s3files, the limit, the ratio):
#   create     4 connections, each create + one 3,000-byte WRITE + CLOSE in a loop, files/s
#   write      3 KiB UNSTABLE WRITEs (libnfs's NFSv4 write size), 16 in flight, 64 MiB,
#              one COMMIT at the end, MB/s
#   stat       2,000 files, LOOKUP+GETATTR, 16 in flight, 3 rounds, ops/s
#   read_hot   the 64 MiB file just written (in the data tier), 256 KiB READs, 16 in flight
#   read_cold  a 1 GiB object put straight into S3 (read bypass), 1 MiB READs, 4, 16 and
#              64 in flight, each on a gateway restarted on an empty State_Dir
#   random_cold  the same object, 64 KiB READs at random offsets, 16 in flight, 64 MiB
#   read_cold_shared  4 s3f_nfsload processes read the whole object at once (fresh
#              State_Dir): MB/s each got against raw S3, and the bytes the gateway fetched
#   latency    p50/p99 of GETATTR, LOOKUP, 4 KiB READ of hot data, 3 KiB WRITE + COMMIT,
#              one request at a time
#   ls_cold    READDIR with attributes of a directory of BENCH_SERVER_LS (10,000) objects
#              never listed (fresh State_Dir), against the bare paged LIST of the prefix
#   genomics   many workers on large cold files at once (a fresh State_Dir each):
#              8x      8 s3f_nfsload processes, one BENCH_SERVER_GENOMICS_MB (2048) object
#                      each, 1 MiB READs, 16 in flight each: aggregate MB/s against 8
#                      curl GETs of the 8 whole objects at once; time to first byte p50/max
#              quarters  4 processes (4 clients) reading disjoint quarters of one object of
#                      twice that size: aggregate MB/s against 4 curl Range GETs of the
#                      quarters at once
#              indexed 8 processes, each reads its 1 MiB index object whole (64 KiB READs),
#                      then 64 KiB READs at random offsets of its data object (16 in flight,
#                      BENCH_SERVER_GENOMICS_RANDOM_MB (256) each): aggregate MB/s and the
#                      index's time to first byte (no raw peer: curl has no random reader)
# Results: $LOGS/server.json (one JSON object per measurement) and, when gnuplot is there,
# $LOGS/server.png (s3files / limit per line, latencies at p50; higher is better on every
# bar, so the listing's bar is LIST time / ours).
# Settings: BENCH_SERVER=0 skips the part; BENCH_SERVER_CASES, the groups to run (default
# "local cold ls genomics": local is create, write, read_hot, stat and latency; cold is
# read_cold and random_cold); BENCH_SERVER_COLD_MB (1024), BENCH_SERVER_LS
# (10000), BENCH_SERVER_GENOMICS_MB (2048; 0 skips the genomics lines),
# BENCH_SERVER_GENOMICS_RANDOM_MB (256).

SV_LOAD=$BUILD/bench/s3f_nfsload
SV_STACK=
SV_JSON=

# sv_fetched: MB the gateway's read bypass has fetched from S3 since its start (the FSAL adds
# its counters to the store once a second; the daemon's /metrics reads them there).
sv_fetched() {
  sleep 1.5
  curl -sf "http://127.0.0.1:$SV_MPORT/metrics" 2>/dev/null |
    awk '/^s3files_read_bypass_fetched_bytes_total/ { s += $2 } END { printf "%.1f", s / 1e6 }'
}

# sv_want GROUP: is GROUP (local, cold, ls, genomics) among BENCH_SERVER_CASES (default:
# all of them)?
sv_want() {
  [[ " ${BENCH_SERVER_CASES:-local cold ls genomics} " == *" $1 "* ]]
}

sv_cleanup() {
  ! declare -F s3f_vfs_stop >/dev/null || s3f_vfs_stop
  [ -n "$SV_STACK" ] && s3f_stack_stop "$SV_STACK" >/dev/null 2>&1
  SV_STACK=
}

# sv_load NAME URL CASE ARGS...: one s3f_nfsload run; its JSON line, tagged with NAME,
# appended to SV_JSON; prints the value.
sv_load() {
  local name=$1 url=$2 out; shift 2
  out=$("$SV_LOAD" "$url" "$@" 2>>"$LOGS/server.err") || { echo "  $name: s3f_nfsload $* failed (see $LOGS/server.err)" >&2; return 1; }
  printf '%s\n' "$out" | sed "s/^{/{\"system\":\"$name\",/" >>"$SV_JSON"
  printf '%s\n' "$out" | sed -n 's/.*"value":\([0-9.]*\).*/\1/p' | head -n 1
}

sv_field() {  # JSON-LINE FIELD
  printf '%s\n' "$1" | sed -n "s/.*\"$2\":\([0-9.]*\).*/\1/p"
}

sv_line() {  # NAME S3FILES LIMIT UNIT LIMIT-NAME NOTE
  local r
  r=$(calc "$2 / $3")
  line "server_$1 $(printf '%.1f' "$2") $4 vs $5 $(printf '%.1f' "$3") $4 = $(printf '%.2f' "$r")x (goal >= 0.9x: $(is "$r >= 0.9" && echo yes || echo no); $6)"
}

sv_stack_fresh() {
  [ -n "$SV_STACK" ] && s3f_stack_stop "$SV_STACK" >/dev/null 2>&1
  SV_STACK=$WORK/sv-stack
  rm -rf "$SV_STACK/state"
  SV_MPORT=${SV_MPORT:-$(pick_port)}
  S3FILES_DAEMON_EXTRA="Metrics_Listen = \"127.0.0.1:$SV_MPORT\";" \
  S3_PREFIX=$SV_PREFIX NFS_PORT=${SV_PORT:-} s3f_stack_start "$SV_STACK" >>"$LOGS/server-stack.out" 2>&1 ||
    { echo "  s3files did not start (see $LOGS/server-stack.out)" >&2; return 1; }
  SV_PORT=$(cat "$SV_STACK/nfs_port")
  SV_URL="nfs://127.0.0.1/s3files"
}

bench_server() {
  local cold_mb=${BENCH_SERVER_COLD_MB:-1024} ls_n=${BENCH_SERVER_LS:-10000}
  local s v q key src t0 t1 size part pids i a b want raw
  [ -x "$SV_LOAD" ] || { echo "  $SV_LOAD not built" >&2; return 1; }
  S3F_ROOT=$ROOT S3F_BUILD=$BUILD
  . "$ROOT/test/lib/s3files.sh"
  SV_JSON=$LOGS/server.json
  : >"$SV_JSON"
  SV_PREFIX=s3files-bench/srv-$$/
  export S3FILES_COMMIT_INTERVAL=3600
  echo "=== server side: s3files and FSAL_VFS through s3f_nfsload, raw S3 with curl"
  sv_stack_fresh || return 1
  s3f_vfs_start "$WORK/sv-vfs" || return 1
  SV_VPORT=$S3F_VFS_PORT
  local S="nfs://127.0.0.1/s3files" V="nfs://127.0.0.1/vfs" so="version=4&nfsport=$SV_PORT" vo="version=4&nfsport=$SV_VPORT"
  # every case in its own directory, made through the mount
  mkdir -p "$WORK/sv-vfs/export/"{create,write,stat}
  for d in create write stat; do
    "$BUILD/bin/s3f_nfs" mkdir "$S/$d?$so" >/dev/null 2>>"$LOGS/server.err" || true
  done

  if sv_want local; then
    s=$(sv_load s3files "$S/create?$so" create -c 4 -n 2000 -s 3000) || return 1
    v=$(sv_load vfs "$V/create?$vo" create -c 4 -n 2000 -s 3000) || return 1
    sv_line create "$s" "$v" files/s FSAL_VFS "4 connections, create + 3,000 B + close"

    s=$(sv_load s3files "$S/write?$so" write -q 16 -s 3072 -b 64M) || return 1
    v=$(sv_load vfs "$V/write?$vo" write -q 16 -s 3072 -b 64M) || return 1
    sv_line write_3k "$s" "$v" MB/s FSAL_VFS "3 KiB UNSTABLE WRITEs, 16 in flight, 64 MiB + COMMIT"

    s=$(sv_load s3files "$S/write?$so" read -f w -q 16 -s 256K) || return 1
    v=$(sv_load vfs "$V/write?$vo" read -f w -q 16 -s 256K) || return 1
    sv_line read_hot "$s" "$v" MB/s FSAL_VFS "64 MiB from the data tier, 256 KiB READs, 16 in flight"

    "$SV_LOAD" "$S/stat?$so" mkfiles -n 2000 2>>"$LOGS/server.err" || return 1
    "$SV_LOAD" "$V/stat?$vo" mkfiles -n 2000 2>>"$LOGS/server.err" || return 1
    s=$(sv_load s3files "$S/stat?$so" stat -n 2000 -q 16 -r 3) || return 1
    v=$(sv_load vfs "$V/stat?$vo" stat -n 2000 -q 16 -r 3) || return 1
    sv_line stat "$s" "$v" ops/s FSAL_VFS "2,000 files, LOOKUP+GETATTR, 16 in flight, warm"

    # latency: one request at a time, on the hot 64 MiB file
    local lat_s lat_v k
    lat_s=$("$SV_LOAD" "$S/write?$so" lat -f w -n 2000 2>>"$LOGS/server.err") || return 1
    lat_v=$("$SV_LOAD" "$V/write?$vo" lat -f w -n 2000 2>>"$LOGS/server.err") || return 1
    printf '%s\n' "$lat_s" | sed 's/^{/{"system":"s3files",/' >>"$SV_JSON"
    printf '%s\n' "$lat_v" | sed 's/^{/{"system":"vfs",/' >>"$SV_JSON"
    for k in getattr lookup read4k write3k_commit; do
      a=$(grep "\"case\":\"$k\"" <<<"$lat_s"); b=$(grep "\"case\":\"$k\"" <<<"$lat_v")
      line "server_latency_$k p50 $(sv_field "$a" p50_us) us p99 $(sv_field "$a" p99_us) us vs FSAL_VFS p50 $(sv_field "$b" p50_us) us p99 $(sv_field "$b" p99_us) us (ratio p50 $(printf '%.2f' "$(calc "$(sv_field "$b" p50_us) / $(sv_field "$a" p50_us)")")x; one request at a time)"
    done
  fi

  if sv_want cold; then
    # cold: an object put straight into S3, read through the read bypass
    key=${SV_PREFIX}cold.bin
    src=$WORK/sv-cold.bin
    size=$((cold_mb << 20))
    head -c "$size" /dev/urandom >"$src"
    "$BUILD/bin/s3f_s3" put "$key" "$src" >/dev/null 2>>"$LOGS/server.err" || return 1
    rm -f "$src"
    # raw: 8 curl processes, one Range each
    raw=
    for r in 1 2; do
      t=$(sv_par "$WORK/sv-raw" 8 sv_raw_range "$key" @I@ 8 "$size") || return 1
      v=$(calc "$size / $t / 1000000")
      if [ -z "$raw" ] || is "$v > $raw"; then raw=$v; fi
    done
    echo "{\"system\":\"raw_s3\",\"case\":\"get_x8\",\"value\":$raw,\"unit\":\"MB/s\"}" >>"$SV_JSON"
    for q in 4 16 64; do
      sv_stack_fresh || return 1
      s=$(sv_load s3files "$S?version=4&nfsport=$SV_PORT" read -f cold.bin -q $q -s 1M) || return 1
      a=$(tail -n 1 "$SV_JSON")
      sv_line "read_cold_q$q" "$s" "$raw" MB/s "raw S3 (8 ranged GETs)" "$cold_mb MiB never read, 1 MiB READs, $q in flight, first byte $(sv_field "$a" ttfb_ms) ms, $(sv_fetched) MB fetched for $(printf "%.1f" "$(calc "$size / 1000000")") MB read"
    done
    sv_stack_fresh || return 1
    s=$(sv_load s3files "$S?version=4&nfsport=$SV_PORT" read -f cold.bin -q 16 -s 64K -b 64M -R) || return 1
    line "server_random_cold_64k $(printf '%.1f' "$s") MB/s (64 KiB READs at random offsets of the cold $cold_mb MiB object, 16 in flight, 64 MiB; raw S3 streaming $(printf '%.0f' "$raw") MB/s)"
    # several readers of one object at once: they share the fetches
    sv_stack_fresh || return 1
    t=$(sv_par "$WORK/sv-sh" 4 "$SV_LOAD" "$S?version=4&nfsport=$SV_PORT" read -f cold.bin -q 16 -s 1M) || return 1
    s=$(calc "$size / $t / 1000000")
    echo "{\"system\":\"s3files\",\"case\":\"read_cold_shared\",\"value\":$s,\"unit\":\"MB/s\",\"seconds\":$t}" >>"$SV_JSON"
    sv_line read_cold_shared "$s" "$raw" MB/s "raw S3 (8 ranged GETs)" "4 readers of the same cold $cold_mb MiB object at once, 1 MiB READs, 16 in flight each: what each reader got, $(printf '%.0f' "$(calc "4 * $s")") MB/s in all; first byte $(sv_ttfb "$WORK/sv-sh" 4); $(sv_fetched) MB fetched for the $(printf "%.1f" "$(calc "$size / 1000000")") MB each read"
  fi

  if sv_want ls; then
    # cold metadata: READDIR with attributes of ls_n objects never listed, vs the bare LIST
    "$BUILD/bin/s3f_s3" -c 16 put-tree "${SV_PREFIX}tree/" "$ls_n" "$ls_n" >/dev/null 2>>"$LOGS/server.err" || return 1
    t0=$(now)
    "$BUILD/bin/s3f_s3" ls "${SV_PREFIX}tree/big/" >"$WORK/sv-ls" 2>>"$LOGS/server.err" || return 1
    t1=$(now)
    raw=$(calc "$t1 - $t0")
    sv_stack_fresh || return 1
    a=$("$SV_LOAD" "$S?version=4&nfsport=$SV_PORT" ls -f tree/big 2>>"$LOGS/server.err") || return 1
    printf '%s\n' "$a" | sed 's/^{/{"system":"s3files",/' >>"$SV_JSON"
    s=$(sv_field "$a" value); n=$(sv_field "$a" ops)
    echo "{\"system\":\"raw_s3\",\"case\":\"list\",\"value\":$raw,\"unit\":\"s\",\"ops\":$(wc -l <"$WORK/sv-ls")}" >>"$SV_JSON"
    line "server_ls_cold $(printf '%.2f' "$s") s vs bare LIST $(printf '%.2f' "$raw") s = $(printf '%.2f' "$(calc "$s / $raw")")x of the LIST time (goal <= 1.2x: $(is "$s / $raw <= 1.2" && echo yes || echo no); $n entries with attributes, never listed before)"
  fi

  if [ "${BENCH_SERVER_GENOMICS_MB:-2048}" != 0 ] && sv_want genomics; then
    sv_genomics "$S" || return 1
  fi

  fs_rm_prefix "$SV_PREFIX"
  sv_cleanup
  sv_chart
}

# sv_par OUT N CMD...: run CMD N times at once, the i-th with @I@ replaced by i, each's
# JSON line into OUT.i; prints the wall time of the whole (seconds). Fails if any failed.
sv_par() {
  local out=$1 n=$2 i t0 t1 rc=0 pids=(); shift 2
  t0=$(now)
  for ((i = 0; i < n; i++)); do
    "${@//@I@/$i}" >"$out.$i" 2>>"$LOGS/server.err" &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || rc=1; done
  t1=$(now)
  [ $rc = 0 ] || { echo "  a parallel run of $1 failed (see $LOGS/server.err)" >&2; return 1; }
  calc "$t1 - $t0"
}

# sv_raw_range KEY I N SIZE: GET the I-th of N equal ranges of the SIZE-byte object KEY with
# curl (the raw S3 peer; run N of them at once through sv_par).
sv_raw_range() {
  local part=$(( ($4 + $3 - 1) / $3 )) a b
  a=$(( $2 * part )); b=$(( a + part - 1 )); [ $b -ge $4 ] && b=$(( $4 - 1 ))
  s3_curl GET "$S3_BUCKET" "$1" -r "$a-$b" -o /dev/null --fail
}

# sv_load_part URL FILE I N SIZE: s3f_nfsload reads the I-th of N equal parts of the SIZE-byte
# FILE (1 MiB READs, 16 in flight): one of N clients on disjoint parts of one file.
sv_load_part() {
  local part=$(( $5 / $4 ))
  "$SV_LOAD" "$1" read -f "$2" -q 16 -s 1M -o $(( $3 * part )) -b "$part"
}

# sv_ttfb OUT N: "p50 P max M" of the ttfb_ms fields of the first lines of OUT.0 .. OUT.N-1
sv_ttfb() {
  local i
  for ((i = 0; i < $2; i++)); do sv_field "$(head -n 1 "$1.$i")" ttfb_ms; done | sort -n |
    awk '{ v[NR] = $1 } END { printf "p50 %.0f ms, max %.0f ms", v[int((NR + 1) / 2)], v[NR] }'
}

# The genomics case: many workers read large cold files at once.
sv_genomics() {
  local S=$1 gmb=${BENCH_SERVER_GENOMICS_MB:-2048} rmb=${BENCH_SERVER_GENOMICS_RANDOM_MB:-256}
  local gsize src i t raw agg q pids t0 t1 a b url
  gsize=$((gmb << 20))
  src=$WORK/sv-g.bin
  head -c "$gsize" /dev/urandom >"$src"
  for i in 0 1 2 3 4 5 6 7; do
    "$BUILD/bin/s3f_s3" put "${SV_PREFIX}g/r$i.bam" "$src" >/dev/null 2>>"$LOGS/server.err" || return 1
    head -c 1048576 "$src" >"$src.bai"
    "$BUILD/bin/s3f_s3" put "${SV_PREFIX}g/r$i.bai" "$src.bai" >/dev/null 2>>"$LOGS/server.err" || return 1
  done
  cat "$src" "$src" >"$src.2"
  "$BUILD/bin/s3f_s3" put "${SV_PREFIX}g/shared.bam" "$src.2" >/dev/null 2>>"$LOGS/server.err" || return 1
  rm -f "$src" "$src.2" "$src.bai"

  # raw: the 8 whole objects at once; the 4 quarters of the shared one at once
  t=$(sv_par "$WORK/sv-raw" 8 s3_curl GET "$S3_BUCKET" "${SV_PREFIX}g/r@I@.bam" -o /dev/null --fail) ||
    return 1
  raw=$(calc "8 * $gsize / $t / 1000000")
  echo "{\"system\":\"raw_s3\",\"case\":\"genomics_8x\",\"value\":$raw,\"unit\":\"MB/s\"}" >>"$SV_JSON"
  sv_stack_fresh || return 1
  url="$S?version=4&nfsport=$SV_PORT"
  t=$(sv_par "$WORK/sv-g8" 8 "$SV_LOAD" "$url" read -f "g/r@I@.bam" -q 16 -s 1M) || return 1
  agg=$(calc "8 * $gsize / $t / 1000000")
  echo "{\"system\":\"s3files\",\"case\":\"genomics_8x\",\"value\":$agg,\"unit\":\"MB/s\",\"seconds\":$t}" >>"$SV_JSON"
  sv_line genomics_8x "$agg" "$raw" MB/s "raw S3 (8 whole-object GETs at once)" "8 readers, one $gmb MiB cold file each, 1 MiB READs, 16 in flight each; first byte $(sv_ttfb "$WORK/sv-g8" 8)"

  q=$((gsize / 2))
  t=$(sv_par "$WORK/sv-raw" 4 sv_raw_range "${SV_PREFIX}g/shared.bam" @I@ 4 $((4 * q))) || return 1
  raw=$(calc "4 * $q / $t / 1000000")
  echo "{\"system\":\"raw_s3\",\"case\":\"genomics_quarters\",\"value\":$raw,\"unit\":\"MB/s\"}" >>"$SV_JSON"
  sv_stack_fresh || return 1
  url="$S?version=4&nfsport=$SV_PORT"
  t=$(sv_par "$WORK/sv-gq" 4 sv_load_part "$url" g/shared.bam @I@ 4 $((4 * q))) || return 1
  agg=$(calc "4 * $q / $t / 1000000")
  echo "{\"system\":\"s3files\",\"case\":\"genomics_quarters\",\"value\":$agg,\"unit\":\"MB/s\"}" >>"$SV_JSON"
  sv_line genomics_quarters "$agg" "$raw" MB/s "raw S3 (4 Range GETs of the quarters at once)" "4 clients on disjoint quarters of one $((2 * gmb)) MiB cold file, 1 MiB READs, 16 in flight each; first byte $(sv_ttfb "$WORK/sv-gq" 4)"

  sv_stack_fresh || return 1
  url="$S?version=4&nfsport=$SV_PORT"
  t=$(sv_par "$WORK/sv-gi" 8 sh -c "\"\$0\" \"\$1\" read -f g/r\$2.bai -q 4 -s 64K && \"\$0\" \"\$1\" read -f g/r\$2.bam -q 16 -s 64K -b ${rmb}M -R | tail -n 1" "$SV_LOAD" "$url" @I@) || return 1
  agg=$(calc "8 * ($rmb + 1) * 1048576 / $t / 1000000")
  echo "{\"system\":\"s3files\",\"case\":\"genomics_indexed\",\"value\":$agg,\"unit\":\"MB/s\",\"seconds\":$t}" >>"$SV_JSON"
  line "server_genomics_indexed $(printf '%.1f' "$agg") MB/s (8 readers at once, each its 1 MiB index then $rmb MiB of 64 KiB READs at random offsets of its cold $gmb MiB file, 16 in flight; $(printf '%.1f' "$t") s; index first byte $(sv_ttfb "$WORK/sv-gi" 8); no raw peer)"
}

# A PNG of s3files / limit per line, when gnuplot is installed.
sv_chart() {
  command -v gnuplot >/dev/null || { echo "  (no gnuplot: no chart)"; return 0; }
  # Every bar reads "higher is better": the listing's ratio is a time (goal <= 1.2x), so
  # its bar is the inverse (LIST time / ours, goal >= 0.83); latencies are VFS p50 / ours.
  grep '^BENCH server_' "$SUMMARY" |
    sed -n -e 's/^BENCH server_\([^ ]*\) .* = \([0-9.]*\)x .*/\1 \2/p' \
      -e 's/^BENCH server_\(latency_[^ ]*\) .*(ratio p50 \([0-9.]*\)x.*/\1_p50 \2/p' |
    awk '$1 == "ls_cold" { if ($2 > 0) printf "ls_cold(LIST/ours) %.3f\n", 1 / $2; next } { print }' \
      >"$WORK/sv-ratios"
  [ -s "$WORK/sv-ratios" ] || return 0
  gnuplot <<GP 2>>"$LOGS/server.err" || true
set terminal pngcairo size 1000,520 noenhanced
set output "$LOGS/server.png"
set title "s3files at the server: ratio to the limit measured in the same run (FSAL_VFS, raw S3)"
set style data histograms
set style fill solid 0.8
set yrange [0:*]
set xtics rotate by -30
set rmargin 12
set bmargin 9
set grid ytics
plot "$WORK/sv-ratios" using 2:xtic(1) title "s3files / limit", 0.9 with lines lw 2 title "goal 0.9"
GP
  [ -s "$LOGS/server.png" ] && echo "  chart: $LOGS/server.png"
}
