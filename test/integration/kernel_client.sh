#!/usr/bin/env bash
# kernel_client: the walking skeleton end to end, through the Linux kernel's NFSv4.1 client.
#
#   real RGW  <->  s3files-syncd  <->  LMDB + data tier  <->  ganesha + FSAL_S3FILES
#                                                                  |  NFSv4.1 (TCP)
#                                                   Linux 6.1 NFS client in a qemu guest
#
# Before the guest boots, objects are PUT into the bucket with an independent client (curl
# SigV4, test/lib/s3.sh). The guest mounts the export and:
#   - reads those objects (a small one fetched in the background after the listing, a 1 MiB
#     one fetched on read);
#   - mkdirs, writes small files (names with spaces), copies in a 50 MB file, chmods,
#     lists with ls -l, compares sha256 of everything it wrote, also after a remount;
#   - PUTs an object into a directory it has already listed (curl run from the guest), and
#     waits for it to show up through the poller and the cache invalidation;
#   - removes a file that came from S3.
# Before the commit, `s3filesctl wait-synced --timeout 1` must time out (the interval is an
# hour). Then the host runs `s3filesctl commit` and checks with the independent client that every
# written file is an object with the same bytes and its mode in x-amz-meta-mode, that the
# empty directory has a marker object, and that the removed file is gone from the bucket;
# `wait-synced` then returns at once with the ETags an independent HEAD reports.
set -uo pipefail
T_SUITE=kernel_client
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup kc
cleanup() { s3f_stack_stop "$STACK"; }
trap cleanup EXIT

t_step build_guest "$S3F_ROOT/test/vm/build-guest.sh" || t_done

# ---- data ----
head -c 50000000 /dev/urandom >"$WORK/data/big.bin"
head -c 1048576 /dev/urandom >"$WORK/data/blob.bin"
printf 'hello from S3\n' >"$WORK/data/hello.txt"
printf 'late arrival\n' >"$WORK/data/late.txt"
sha() { sha256sum "$1" | cut -d' ' -f1; }

t_step put_before_mount bash -c "
  . '$S3F_ROOT/test/lib/s3.sh' &&
  s3_put_file '$B' '${P}from-s3/hello.txt' '$WORK/data/hello.txt' &&
  s3_put_file '$B' '${P}from-s3/blob.bin' '$WORK/data/blob.bin' &&
  s3_put_file '$B' '${P}from-s3/deeper/x.txt' '$WORK/data/hello.txt'" || t_done

# Long commit interval: nothing goes up until we ask (explicit commit is what we test).
export S3FILES_COMMIT_INTERVAL=3600 S3FILES_POLL_MS=1000
s3f_test_stack_start
RGW_PORT=${S3_ENDPOINT##*:}

# ---- the guest ----
cat >"$WORK/guest.sh" <<'GUEST'
M=/mnt/s3
mkdir -p $M
step mount nfs_mount "" /s3files $M || exit 1
step ls_root sh -c "ls -l $M && test -d $M/from-s3"
step read_small_imported sh -c "test \"\$(cat $M/from-s3/hello.txt)\" = 'hello from S3'"
step read_1m_lazy sh -c "test \$(sha256sum $M/from-s3/blob.bin | cut -d' ' -f1) = $SHA_BLOB"
step deep_path_cold sh -c "test \"\$(cat $M/from-s3/deeper/x.txt)\" = 'hello from S3'"
step mkdir sh -c "mkdir $M/work && mkdir $M/work/sub && mkdir $M/work/empty"
step write_small sh -c "echo alpha > $M/work/a.txt && echo beta > '$M/work/sub/with space.txt' && printf '' > $M/work/zero"
step chmod sh -c "chmod 600 $M/work/a.txt && test \$(stat -c %a $M/work/a.txt) = 600"
T0=$(now_ms)
step write_50mb sh -c "cp /host$DATA/big.bin $M/work/big.bin && sync"
note "50 MB written through NFS in $(elapsed_ms $T0) ms"
step ls_l sh -c "ls -l $M/work $M/work/sub && test \$(stat -c %s $M/work/big.bin) = 50000000"
step sha_50mb sh -c "test \$(sha256sum $M/work/big.bin | cut -d' ' -f1) = $SHA_BIG"
step sha_small sh -c "test \"\$(cat $M/work/a.txt)\" = alpha && test \"\$(cat '$M/work/sub/with space.txt')\" = beta"
# Remount with a short attribute cache: the client only notices a directory changed by
# someone else when it refetches the directory's attributes (acdirmin, 30 s by default).
step remount sh -c "umount $M && nfs_mount actimeo=1 /s3files $M"
T0=$(now_ms)
step sha_50mb_after_remount sh -c "test \$(sha256sum $M/work/big.bin | cut -d' ' -f1) = $SHA_BIG"
note "50 MB read back after remount in $(elapsed_ms $T0) ms"
step remove_s3_file rm $M/from-s3/hello.txt
# An object PUT by another S3 client into a directory already listed here: visible after
# the daemon's next poll (1 s here) plus the client's attribute cache (actimeo=1).
step list_before_put ls $M/from-s3
step put_late host_run bash -c ". $ROOT/test/lib/s3.sh && S3_ENDPOINT=http://10.0.2.2:$RGW_PORT s3_put_file $BUCKET ${PREFIX}from-s3/late.txt $DATA/late.txt"
wait_late() {
  i=0
  while [ $i -lt 150 ]; do
    if [ -f $M/from-s3/late.txt ] && [ "$(cat $M/from-s3/late.txt)" = "late arrival" ]; then
      return 0
    fi
    sleep 0.2; i=$((i + 1))
  done
  ls -l $M/from-s3; return 1
}
T0=$(now_ms)
step s3_put_visible wait_late
note "object PUT directly into S3 visible in the guest $(elapsed_ms $T0) ms after the PUT returned"
step umount umount $M
GUEST

run_out=$WORK/guest.out
"$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$WORK/guest.sh" --timeout 600 \
  --log "$WORK/console.log" \
  --env NFS_PORT="$NFS_PORT" --env DATA="$WORK/data" --env ROOT="$S3F_ROOT" \
  --env SHA_BIG="$(sha "$WORK/data/big.bin")" --env SHA_BLOB="$(sha "$WORK/data/blob.bin")" \
  --env RGW_PORT="$RGW_PORT" --env BUCKET="$B" --env PREFIX="$P" \
  --env S3_REGION="$S3_REGION" --env AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
  --env AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" >"$run_out" 2>"$WORK/guest.err"
guest_rc=$?
cat "$run_out"
T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$run_out")))
if [ $guest_rc -ne 0 ] && ! grep -q '^FAIL ' "$run_out"; then
  t_fail guest "run-guest exited $guest_rc: $(tail -n 3 "$WORK/guest.err" | tr '\n' ' ')"
fi

# ---- wait-synced before the commit: the interval is an hour, so it must time out ----
T0=$(date +%s%N)
s3f_ctl "$STACK" wait-synced --timeout 1 work >"$WORK/ws0.out" 2>"$WORK/ws0.err"
rc=$?
if [ $rc -eq 124 ] && grep -q 'not in S3 after 1 s: [1-9][0-9]* dirty' "$WORK/ws0.err"; then
  t_pass wait_synced_times_out
else
  t_fail wait_synced_times_out "rc=$rc: $(cat "$WORK/ws0.err" "$WORK/ws0.out" | tr '\n' ' ')"
fi
if s3f_ctl "$STACK" wait-synced --timeout 1 no/such/dir >/dev/null 2>"$WORK/ws1.err"; then
  t_fail wait_synced_missing_path "succeeded"
else
  t_pass wait_synced_missing_path
fi

# ---- commit and check S3 with the independent client ----
T0=$(date +%s%N)
if out=$(s3f_ctl "$STACK" commit / 2>&1); then
  t_pass commit
  echo "# commit: $out ($(( ($(date +%s%N) - T0) / 1000000 )) ms)"
else
  t_fail commit "$out"
fi

check_object() { # NAME KEY EXPECTED-FILE
  local got=$WORK/got.$1
  if ! s3_get_file "$B" "$2" "$got" 2>"$WORK/err.$1"; then
    t_fail "$1" "GET $2: $(tr '\n' ' ' <"$WORK/err.$1")"; return
  fi
  if cmp -s "$got" "$3"; then t_pass "$1"; else t_fail "$1" "content of $2 differs"; fi
}
printf 'alpha\n' >"$WORK/data/a.expect"
printf 'beta\n' >"$WORK/data/b.expect"
: >"$WORK/data/zero.expect"
check_object s3_big "${P}work/big.bin" "$WORK/data/big.bin"
check_object s3_small "${P}work/a.txt" "$WORK/data/a.expect"
check_object s3_space_name "${P}work/sub/with space.txt" "$WORK/data/b.expect"
check_object s3_zero_length "${P}work/zero" "$WORK/data/zero.expect"
check_object s3_unchanged_blob "${P}from-s3/blob.bin" "$WORK/data/blob.bin"

mode=$(s3_cmd info "s3://$B/${P}work/a.txt" 2>/dev/null | awk '/x-amz-meta-mode:/ {print $2}')
if [ "$mode" = "33152" ]; then t_pass s3_mode_metadata; else t_fail s3_mode_metadata "x-amz-meta-mode '$mode', want 33152 (0100600)"; fi
if s3_exists "$B" "${P}work/empty/"; then t_pass s3_dir_marker; else t_fail s3_dir_marker "no ${P}work/empty/ marker"; fi
if s3_exists "$B" "${P}from-s3/hello.txt"; then t_fail s3_delete "${P}from-s3/hello.txt still in S3"; else t_pass s3_delete; fi
echo "# keys under $P:"; s3_ls "$B" "$P" | sed 's/^/#   /'

# wait-synced now returns at once, with the ETags S3 itself reports.
T0=$(date +%s%N)
if s3f_ctl "$STACK" wait-synced --timeout 10 work >"$WORK/ws2.out" 2>"$WORK/ws2.err"; then
  echo "# wait-synced after commit: $(( ($(date +%s%N) - T0) / 1000000 )) ms, $(wc -l <"$WORK/ws2.out") files"
  bad=
  for f in work/a.txt work/big.bin "work/sub/with%20space.txt" work/zero; do
    mine=$(awk -v p="$f" '$2 == p { print $1 }' "$WORK/ws2.out")
    key=${P}${f//%20/ }
    theirs=$(s3_head_etag "$B" "$key" 2>/dev/null)
    [ -n "$mine" ] && [ "$mine" = "$theirs" ] || bad+=" $f(mine='$mine' s3='$theirs')"
  done
  if [ -z "$bad" ]; then t_pass wait_synced_etags; else t_fail wait_synced_etags "$bad"; fi
else
  t_fail wait_synced_etags "rc=$?: $(cat "$WORK/ws2.err" | tr '\n' ' ')"
fi

# The backlog is empty afterwards.
if s3f_ctl "$STACK" status | grep -q "dirty=0 deletes=0"; then t_pass backlog_empty
else t_fail backlog_empty "$(s3f_ctl "$STACK" status | head -n 1)"; fi

t_done
