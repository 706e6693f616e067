#!/usr/bin/env bash
# dirtimes: directory times (issue 13). A directory imported from S3 never shows 1970: it
# takes the newest LastModified of what it holds once listed (its marker's, or its parent's
# listing time before that); a directory made through the mount keeps its own times after
# its contents are committed, listed again and the gateway restarted.
# Full stack on the real RGW, a client over libnfs (NFSv4.0).
set -uo pipefail
T_SUITE=dirtimes
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup dt
export LC_ALL=C
trap 's3f_stack_stop "$STACK"' EXIT
echo hello >"$WORK/data/f"
T_PUT=$(date +%s)
for k in imp/a/x imp/a/b/y imp/c; do
  s3_put_file "$B" "$P$k" "$WORK/data/f" >/dev/null 2>&1 || { t_fail put "$k"; t_done; }
done
t_pass put_objects

export S3FILES_COMMIT_INTERVAL=3600
s3f_test_stack_start
url() { printf 'nfs://127.0.0.1/s3files%s?version=4&nfsport=%s' "$1" "$NFS_PORT"; }
mtime() { "$S3F_BUILD/bin/s3f_nfs" stat "$(url "$1")" 2>/dev/null | cut -d' ' -f6; }
# near T: within the run's clock (S3's LastModified has whole seconds; a few s of slack)
near() { local t=$1 lo=$2; [ -n "$t" ] && [ "$t" -ge $((lo - 5)) ] && [ "$t" -le $(( $(date +%s) + 5 )) ]; }

imported() {
  local t
  nfs-ls "$(url /imp)" >/dev/null 2>&1
  t=$(mtime /imp/a)
  near "$t" "$T_PUT" || { echo "imp/a before its listing: mtime '$t' (put at $T_PUT)"; return 1; }
  nfs-ls "$(url /imp/a)" >/dev/null 2>&1
  t=$(mtime /imp/a)
  near "$t" "$T_PUT" || { echo "imp/a after its listing: mtime '$t' (put at $T_PUT)"; return 1; }
  nfs-ls "$(url /imp/a/b)" >/dev/null 2>&1
  t=$(mtime /imp/a/b)
  near "$t" "$T_PUT" || { echo "imp/a/b: mtime '$t'"; return 1; }
  t=$(mtime /imp)
  near "$t" "$T_PUT" || { echo "imp: mtime '$t'"; return 1; }
}
t_step imported_not_1970 imported

mounted() {
  local t0 t1 t2
  "$S3F_BUILD/bin/s3f_nfs" mkdir "$(url /made)" || { echo "mkdir failed"; return 1; }
  "$S3F_BUILD/bin/s3f_nfs" mkdir "$(url /made/sub)" || { echo "mkdir sub failed"; return 1; }
  nfs-cp "$WORK/data/f" "$(url /made/sub/f)" >/dev/null 2>&1 || { echo "create failed"; return 1; }
  t0=$(mtime /made/sub)
  near "$t0" "$T_PUT" || { echo "made/sub: mtime '$t0' right after the create"; return 1; }
  sleep 2
  s3f_ctl "$STACK" commit >/dev/null 2>&1 && s3f_ctl "$STACK" wait-synced / >/dev/null 2>&1 ||
    { echo "commit/wait-synced failed"; return 1; }
  nfs-ls "$(url /made)" >/dev/null 2>&1; nfs-ls "$(url /made/sub)" >/dev/null 2>&1
  t1=$(mtime /made/sub)
  [ "$t1" = "$t0" ] || { echo "made/sub: mtime $t0 became '$t1' after the commit and a listing"; return 1; }
  s3f_ganesha_stop "$STACK" && s3f_ganesha_start "$STACK" >/dev/null 2>&1 || { echo "restart failed"; return 1; }
  NFS_PORT=$(cat "$STACK/nfs_port")
  nfs-ls "$(url /made/sub)" >/dev/null 2>&1
  t2=$(mtime /made/sub)
  [ "$t2" = "$t0" ] || { echo "made/sub: mtime $t0 became '$t2' after a restart"; return 1; }
}
t_step mount_made_kept mounted

t_done
