#!/usr/bin/env bash
# scaleout.sh: the measurements behind doc/SCALE-OUT.md. The namespace's transactions
# (create, lookup, readdir page) shaped as s3files' own, on
#   (a) the LMDB store as the gateway uses it today (build/bench/bench_nsops: ns_create +
#       meta_sync, fsync on),
#   (b) a single-node etcd 3.4 (Debian's etcd-server) on loopback, its data dir on the same
#       disk, through its gRPC API (python3-etcd3) and, for comparison, its HTTP/JSON gateway
#       (test/bench/scaleout_kv.py),
#   (c) RADOS omap on a single-node Ceph cluster (test/lib/rgw.sh: 1 mon, 1 bluestore OSD,
#       size 1) in its own pool, through python3-rados,
# each with 1 client and with 16 clients (each in its own directory, and all in one).
#
#   BUILD=... test/bench/scaleout.sh          (make bench part 6, or on its own)
#
# Environment: SCALEOUT_OPS (operations per client per phase, default 1000 for 1 client,
# a quarter of it for 16), SCALEOUT_RGW_DIR (a running cluster made by rgw.sh to use; by
# default one is started in $BUILD/scaleout-rgw and stopped at the end; its pool is
# deleted either way). Everything started here listens on 127.0.0.1 only, and is stopped
# by the PID recorded at start. Output: key=value files in $BUILD/scaleout-out, a
# markdown table in $BUILD/scaleout-out/table.md, and "BENCH scaleout_..." lines on stdout.
# Needs etcd-server, etcd-client, python3-etcd3 and python3-rados (scripts/deps.sh installs
# them). About 5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build}
OUT=$BUILD/scaleout-out
WORKD=$BUILD/scaleout-work
OPS=${SCALEOUT_OPS:-1000}
OPS16=$(( OPS / 4 > 0 ? OPS / 4 : 1 ))
PY=/usr/bin/python3
. test/lib/ports.sh

for p in etcd etcdctl; do
  command -v $p >/dev/null || { echo "scaleout: $p missing: run make deps" >&2; exit 1; }
done
$PY -c 'import rados' 2>/dev/null || { echo "scaleout: python3-rados missing: run make deps" >&2; exit 1; }
$PY -c 'import etcd3' 2>/dev/null || { echo "scaleout: python3-etcd3 missing: run make deps" >&2; exit 1; }
[ -x "$BUILD/bench/bench_nsops" ] || { echo "scaleout: $BUILD/bench/bench_nsops missing: make bench" >&2; exit 1; }

rm -rf "$OUT" "$WORKD"
mkdir -p "$OUT" "$WORKD"
ETCD_PID=
RGW_DIR=${SCALEOUT_RGW_DIR:-}
RGW_STARTED=0
POOL=s3files-scaleout-$$
cleanup() {
  local rc=$?
  if [ -n "$ETCD_PID" ]; then kill "$ETCD_PID" 2>/dev/null; wait "$ETCD_PID" 2>/dev/null; fi
  [ -n "$RGW_DIR" ] && [ -f "$RGW_DIR/ceph.conf" ] && pool_delete
  [ $RGW_STARTED = 1 ] && test/lib/rgw.sh stop "$RGW_DIR" >/dev/null 2>&1 || true
  rm -rf "$WORKD"
  exit $rc
}
trap cleanup EXIT

# The mon refuses pool deletes unless allowed: allowed for this one delete, then reset.
POOL_MADE=0
pool_delete() {
  [ $POOL_MADE = 1 ] || return 0
  # a cluster stopped under us (an interrupted run) would make each command wait 20 s
  test/lib/rgw.sh status "$RGW_DIR" >/dev/null 2>&1 || return 0
  local c=(timeout 30 test/lib/rgw.sh ceph "$RGW_DIR")
  "${c[@]}" config set mon mon_allow_pool_delete true >/dev/null 2>&1 &&
    "${c[@]}" osd pool delete "$POOL" "$POOL" --yes-i-really-really-mean-it >/dev/null 2>&1 &&
    POOL_MADE=0
  "${c[@]}" config rm mon mon_allow_pool_delete >/dev/null 2>&1 || true
}
line() { printf 'BENCH %s\n' "$*"; }

# run NAME CMD...: one measurement, its key=value output kept in $OUT/NAME
run() {
  local name=$1; shift
  echo "=== $name"
  "$@" > "$OUT/$name" 2> "$OUT/$name.err" || { cat "$OUT/$name.err" >&2; return 1; }
  grep -v '^$' "$OUT/$name" | sed 's/^/    /'
}

# ---- (a) LMDB ----
for shape in "1 own $OPS" "16 own $OPS16" "16 shared $OPS16"; do
  set -- $shape
  rm -rf "$WORKD/lmdb"
  run "lmdb-$1-$2" "$BUILD/bench/bench_nsops" -t "$1" -d "$2" -n "$3" "$WORKD/lmdb"
done
rm -rf "$WORKD/lmdb"

# ---- (b) etcd, one node, loopback ----
CPORT=$(pick_port); PPORT=$(pick_port)
while [ "$PPORT" = "$CPORT" ]; do PPORT=$(pick_port); done
etcd --name scaleout --data-dir "$WORKD/etcd" \
  --listen-client-urls "http://127.0.0.1:$CPORT" --advertise-client-urls "http://127.0.0.1:$CPORT" \
  --listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
  --initial-cluster "scaleout=http://127.0.0.1:$PPORT" --initial-cluster-state new \
  --quota-backend-bytes $((4 << 30)) > "$OUT/etcd.log" 2>&1 &
ETCD_PID=$!
for _ in $(seq 100); do
  ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$CPORT" endpoint health >/dev/null 2>&1 && break
  kill -0 "$ETCD_PID" 2>/dev/null || { cat "$OUT/etcd.log" >&2; exit 1; }
  sleep 0.2
done
EURL=http://127.0.0.1:$CPORT
# a fresh keyspace per shape: the shapes reuse directory numbers
etcd_clear() { ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$CPORT" del "" --from-key >/dev/null; }
# etcd: the native gRPC API; etcdjson: the same through etcd's HTTP/JSON gateway (what a C
# gateway on libcurl would speak), to show what the gateway costs
for shape in "etcd 1 own $OPS" "etcd 16 own $OPS16" "etcd 16 shared $OPS16" \
             "etcd 16 shared $OPS16 relaxed" "etcdjson 1 own $OPS" "etcdjson 16 own $OPS16"; do
  set -- $shape
  etcd_clear
  api=etcd; [ $1 = etcdjson ] && api=etcd-json
  SCALEOUT_SERVER_PIDS=$ETCD_PID run "$1-$2-$3${5:+-$5}" $PY test/bench/scaleout_kv.py $api \
    "$EURL" "$2" "$4" "$3" ${5:-}
done
kill "$ETCD_PID"; wait "$ETCD_PID" 2>/dev/null || true; ETCD_PID=

# ---- (c) RADOS omap, one mon + one OSD ----
if [ -z "$RGW_DIR" ]; then
  RGW_DIR=$BUILD/scaleout-rgw
  echo "=== starting a Ceph cluster in $RGW_DIR"
  RGW_BUCKETS=s3files-scaleout test/lib/rgw.sh start "$RGW_DIR" > "$OUT/rgw-start.log" 2>&1 ||
    { cat "$OUT/rgw-start.log" >&2; exit 1; }
  RGW_STARTED=1
fi
timeout 60 test/lib/rgw.sh ceph "$RGW_DIR" osd pool create "$POOL" 8 8 >/dev/null
POOL_MADE=1
# each shape in a RADOS namespace of its own (they reuse object names)
for shape in "1 own $OPS" "16 own $OPS16" "16 shared $OPS16"; do
  set -- $shape
  SCALEOUT_SERVER_PIDS="$(cat "$RGW_DIR/run/mon.pid" "$RGW_DIR/run/osd.pid")" run "rados-$1-$2" $PY test/bench/scaleout_kv.py rados "$RGW_DIR/ceph.conf" "$POOL/$1-$2" \
    "$1" "$3" "$2"
done
pool_delete

# ---- the table ----
kv() { sed -n "s/^$2=//p" "$OUT/$1"; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
base=$(kv lmdb-1-own create_us_p50)
{
  echo "| store | clients | dirs | create/s | create p50 ms | create p99 ms | retries | p50 vs LMDB 1 client | lookup/s | lookup p50 µs | readdir pages/s | readdir p50 µs | client CPU (create) | server CPU µs/create | server CPU µs/lookup |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for f in lmdb-1-own lmdb-16-own lmdb-16-shared etcd-1-own etcd-16-own etcd-16-shared \
           etcd-16-shared-relaxed etcdjson-1-own etcdjson-16-own rados-1-own rados-16-own \
           rados-16-shared; do
    [ -f "$OUT/$f" ] || continue
    store=${f%%-*}; rest=${f#*-}; n=${rest%%-*}; d=${rest#*-}
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$store" "$n" "$d" \
      "$(kv $f create_ops_per_s)" "$(ms "$(kv $f create_us_p50)")" "$(ms "$(kv $f create_us_p99)")" \
      "$(r=$(kv $f create_retries); echo "${r:--}")" \
      "$(awk -v a="$(kv $f create_us_p50)" -v b="$base" 'BEGIN { printf "%.1f", a / b }')" \
      "$(kv $f lookup_ops_per_s)" "$(kv $f lookup_us_p50 | cut -d. -f1)" \
      "$(kv $f readdir_ops_per_s)" "$(kv $f readdir_us_p50 | cut -d. -f1)" \
      "$(c=$(kv $f create_client_cpu); echo "${c:--}")" \
      "$(kv $f create_server_cpu_us | cut -d. -f1)" "$(kv $f lookup_server_cpu_us | cut -d. -f1)"
  done
} > "$OUT/table.md"
echo
cat "$OUT/table.md"
for f in "$OUT"/lmdb-* "$OUT"/etcd-* "$OUT"/etcdjson-* "$OUT"/rados-*; do
  case $f in *.err|*.log) continue ;; esac
  b=$(basename "$f")
  line "scaleout_create@$b $(kv "$b" create_ops_per_s) creates/s (p50 $(ms "$(kv "$b" create_us_p50)") ms, p99 $(ms "$(kv "$b" create_us_p99)") ms)"
done
