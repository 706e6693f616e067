#!/usr/bin/env bash
# poll: the daemon's re-listing of directories the file view holds, over libnfs (NFSv4):
#   - with Poll_Max_Lists = 1, each poll makes one LIST (the daemon's LIST count grows by
#     about one per Poll_Interval_Ms, not one per listed directory), going round the
#     directories in turn: objects put into four listed directories all show up;
#   - a directory never listed through the mount costs nothing and is not imported.
set -uo pipefail
T_SUITE=poll
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup pl
cleanup() { s3f_stack_stop "$STACK"; }
trap cleanup EXIT
echo "six bytes" >"$WORK/data/f"
for d in p1 p2 p3 p4 cold; do s3_put_file "$B" "${P}$d/a" "$WORK/data/f" >/dev/null; done

MP=$(t_free_port)
export S3FILES_POLL_MS=300 S3FILES_COMMIT_INTERVAL=3600
export S3FILES_EXPORT_EXTRA="Poll_Max_Lists = 1;"
export S3FILES_DAEMON_EXTRA="Metrics_Listen = \"127.0.0.1:$MP\";"
if ! s3f_stack_start "$STACK" >"$WORK/start.out" 2>&1; then
  t_fail stack_start "$(tail -n 5 "$WORK/start.out" | tr '\n' ' ')"
  t_done
fi
t_pass stack_start
NFS_PORT=$(cat "$STACK/nfs_port")

names() { nfs-ls "nfs://127.0.0.1/s3files$1?version=4&nfsport=$NFS_PORT" 2>/dev/null | awk '{print $NF}'; }
metric() { curl -sf "http://127.0.0.1:$MP/metrics" | awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }'; }
lists() { metric 's3files_s3_requests_total{op="list"}'; }

listed() { for d in p1 p2 p3 p4; do names "/$d" | grep -qx a || return 1; done; }
t_step list_through_nfs t_wait_for 20 listed

# The LIST rate: about one per poll interval (root + 4 directories are listed).
l0=$(lists); p0=$(metric 's3files_sync_polls_total{export="1"}')
sleep 3
l1=$(lists); p1=$(metric 's3files_sync_polls_total{export="1"}')
echo "# 3 s: $((l1 - l0)) LISTs in $((p1 - p0)) polls (5 listed directories, Poll_Max_Lists = 1)"
if [ $((p1 - p0)) -ge 3 ] && [ $((l1 - l0)) -le $((p1 - p0)) ]; then
  t_pass one_list_per_poll
else
  t_fail one_list_per_poll "$((l1 - l0)) LISTs in $((p1 - p0)) polls"
fi

for d in p1 p2 p3 p4 cold; do s3_put_file "$B" "${P}$d/b" "$WORK/data/f" >/dev/null; done
t0=$(date +%s%N)
all_new() { for d in p1 p2 p3 p4; do names "/$d" | grep -qx b || return 1; done; }
if t_wait_for 30 all_new; then
  t_pass round_robin_reaches_all
  echo "# new objects in 4 directories visible after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
else
  t_fail round_robin_reaches_all "$(for d in p1 p2 p3 p4; do echo "$d: $(names /$d | tr '\n' ' ')"; done)"
fi

# "cold" was never listed through the mount: no inode for its children yet.
out=$(s3f_ctl "$STACK" ls cold 2>&1)
if ! grep -q 'ENTRY\|^f ' <<<"$out"; then t_pass unlisted_not_imported
else t_fail unlisted_not_imported "$out"; fi
t_done
