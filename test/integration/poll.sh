#!/usr/bin/env bash
# poll: the daemon's re-listing of directories the file view holds, over libnfs (NFSv4):
#   - with Poll_Max_Lists = 1, each poll makes one LIST (the daemon's LIST count grows by
#     about one per Poll_Interval_Ms, not one per listed directory), going round the
#     directories in turn: objects put into four listed directories all show up;
#   - a file reached by a deep path through directories never listed is refreshed too
#     (changed, then deleted in S3), without listing those directories;
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
s3f_test_stack_start

names() { nfs-ls "nfs://127.0.0.1/s3files$1?version=4&nfsport=$NFS_PORT" 2>/dev/null | awk '{print $NF}'; }
metric() { curl -sf "http://127.0.0.1:$MP/metrics" | awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }'; }
lists() { metric 's3files_s3_requests_total{op="list"}'; }

listed() { names / | grep -qx p1 && for d in p1 p2 p3 p4; do names "/$d" | grep -qx a || return 1; done; }
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

# A file reached by a deep path in directories never listed: a change and then the
# delete of its object show up too (its name is asked for again at each poll).
echo "version one" >"$WORK/data/v1"; echo "version two, longer" >"$WORK/data/v2"
s3_put_file "$B" "${P}deep/x/y/f" "$WORK/data/v1" >/dev/null
url="nfs://127.0.0.1/s3files/deep/x/y/f?version=4&nfsport=$NFS_PORT"
cat_is() { cmp -s <(nfs-cat "$url" 2>/dev/null) "$1"; }
t_step deep_path_read t_wait_for 20 cat_is "$WORK/data/v1"
s3_put_file "$B" "${P}deep/x/y/f" "$WORK/data/v2" >/dev/null
t_step deep_path_change_seen t_wait_for 30 cat_is "$WORK/data/v2"
out=$(s3f_ctl "$STACK" ls deep/x 2>&1)
if grep -q 'listed=0\|not been listed\|never' <<<"$out$(s3f_ctl "$STACK" ls deep/x 2>&1 >/dev/null)" ||
   [ "$(grep -c '^[fdl] ' <<<"$out")" = 1 ]; then t_pass deep_dirs_not_listed
else t_fail deep_dirs_not_listed "$out"; fi
s3_rm "$B" "${P}deep/x/y/f" >/dev/null
gone() { ! nfs-cat "$url" >/dev/null 2>&1; }
t_step deep_path_delete_seen t_wait_for 30 gone

# A directory of 2,600 objects never listed (three LIST pages, the next one asked for
# while a page is applied; READDIR hands the entries out page by page and reads ahead a
# bounded number): every name exactly once, as S3 has them, on the first (cold) listing
# and on a second one.
"$S3F_BUILD/bin/s3f_s3" -c 16 put-tree "${P}many/" 2600 2600 >/dev/null 2>"$WORK/put-tree.err" ||
  t_fail put_tree "$(tail -n 3 "$WORK/put-tree.err")"
s3_ls "$B" "${P}many/big/" | sed 's|.*/||' | sort >"$WORK/many.s3"
many_listed() {
  names /many/big | grep -vx '\.\|\.\.' | sort >"$WORK/many.nfs$1"
  [ "$(wc -l <"$WORK/many.s3")" = 2600 ] && cmp -s "$WORK/many.s3" "$WORK/many.nfs$1"
}
for pass in 1 2; do
  if many_listed $pass; then t_pass "cold_listing_whole_$pass"
  else t_fail "cold_listing_whole_$pass" "S3 $(wc -l <"$WORK/many.s3") names, NFS $(wc -l <"$WORK/many.nfs$pass") ($(sort -u "$WORK/many.nfs$pass" | wc -l) distinct); first difference: $(diff "$WORK/many.s3" "$WORK/many.nfs$pass" | sed -n 2p)"; fi
done

# "cold" was never listed through the mount: no inode for its children yet.
out=$(s3f_ctl "$STACK" ls cold 2>&1)
if ! grep -q 'ENTRY\|^f ' <<<"$out"; then t_pass unlisted_not_imported
else t_fail unlisted_not_imported "$out"; fi
t_done
