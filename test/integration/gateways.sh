#!/usr/bin/env bash
# gateways: two gateways over one bucket. Each gateway (ganesha with the FSAL and
# s3files-syncd, its own State_Dir) runs in a network namespace of its own
# (S3FILES_NETNS=1, test/lib/s3files.sh); both export the same bucket and prefix of the
# test RGW, and the bucket notifies both: one HTTP-push topic per gateway, pointed at that
# gateway's Notify_Listen on its namespace address.
#
# Neither daemon polls after its start (Poll_Interval_Ms = 1 hour) and nothing is
# committed by Commit_Interval (1 hour): a change made through one gateway reaches S3
# through Commit_On_Close (or `s3filesctl commit` for deletes and renames) and the other
# gateway's view through the notification alone: the directories involved are listed
# (READDIR) by both views first, the watching gateway's applied-notification counter must
# move, and neither polls counter may.
#
#   - a file written and closed through A is readable through B, byte-exact; the time from
#     the writer's close to the bytes read through B is measured over VIS_ROUNDS (10)
#     rounds each way and printed (median, p90, max), with the watcher's mean
#     notification delay; the same with the Linux kernel NFSv4.1 client (qemu guest)
#     mounting both gateways, three rounds each way;
#   - an overwrite, a delete, a rename, a rename into another directory and a directory
#     rename through A show on B (a rename is a copy and a delete per object in S3: B sees
#     the new name with the bytes and the old one gone);
#   - with B's entry taken out of the bucket's notification configuration, a file
#     committed through A stays invisible on B (READDIR and LOOKUP) until B's daemon
#     starts again and polls;
#   - conflict, deterministic: both daemons stopped (ganesha keeps serving), the same file
#     written through A and through B; A's daemon starts and uploads first, then B's: the
#     name holds A's bytes on both, B's bytes are in B's lost+found with one `conflict`
#     event in B's journal, A has neither;
#   - conflict, racing: both daemons running, the same file written through both at the
#     same moment: whichever S3 took wins at the name on both, the other gateway alone has
#     the conflict and the loser's bytes in its lost+found.
# NFS from this host: libnfs (nfs-cp, nfs-ls, s3f_nfs), NFSv4.0, to each namespace's address.
set -uo pipefail
T_SUITE=gateways
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup gw "s3f-gw-$$"
RGW=$S3F_ROOT/test/lib/rgw.sh
VIS_ROUNDS=${VIS_ROUNDS:-10}
LIMIT_MS=10000          # "not visible": 10 s (the next poll is an hour away)
export LC_ALL=C

GA=$WORK/a
GB=$WORK/b
D=$WORK/data
mkdir -p "$WORK/r"
TOPICS=()
cleanup() {
  local t
  s3f_stack_stop "$GA"
  s3f_stack_stop "$GB"
  for t in "${TOPICS[@]}"; do
    s3_sns "Action=DeleteTopic&TopicArn=$(s3_urlencode "$t")" >/dev/null 2>&1
  done
  "$RGW" admin "$RGW_DIR" bucket rm --bucket "$B" --purge-objects --bypass-gc >/dev/null 2>&1
  [ "$T_FAILED" -eq 0 ] && rm -rf "$WORK"
}
trap cleanup EXIT

# ---- the two gateways' views over NFS ----
# url G PATH: libnfs URL of PATH in gateway G's export (G is $GA or $GB).
url() { printf 'nfs://%s/s3files%s?version=4&nfsport=%s' "$(s3f_nfs_host "$1")" "$2" "$(cat "$1/nfs_port")"; }
# nfsls G DIR: "SIZE<TAB>NAME" per entry.
nfsls() {
  nfs-ls "$(url "$1" "$2")" 2>/dev/null |
    sed -E 's/^[^ ]+ +[0-9]+ +[0-9]+ +[0-9]+ +([0-9]+) (.*)$/\1\t\2/'
}
has_name() { nfsls "$1" "$2" | cut -f2- | grep -qxF "$3"; }     # G DIR NAME
lacks_name() { ! has_name "$@"; }
# same_bytes G PATH FILE: PATH reads through G exactly as FILE.
same_bytes() {
  local tmp=$WORK/r/read.$BASHPID.$RANDOM   # nfs-cp refuses an existing local file
  rm -f "$tmp"
  nfs-cp "$(url "$1" "$2")" "$tmp" >/dev/null 2>&1 && cmp -s "$tmp" "$3"
  local rc=$?
  rm -f "$tmp"
  return $rc
}
# put G PATH FILE: create PATH through G (one OPEN, WRITEs, one CLOSE).
put() { "$S3F_BUILD/bin/s3f_nfs" create "$(url "$1" "$2")" "$3"; }
# overwrite G PATH FILE: truncate and rewrite an existing PATH through G, then CLOSE.
overwrite() { "$S3F_BUILD/bin/s3f_nfs" overwrite "$(url "$1" "$2")" "$3"; }
metric() {   # G NAME: its value on G's /metrics (0 if absent)
  curl -sf "http://$(s3f_nfs_host "$1"):$MP/metrics" |
    awk -v n="$2" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }'
}
POLLS='s3files_sync_polls_total{export="1"}'
conflict_events() { s3f_ctl "$1" events --kind conflict 2>/dev/null | grep -c '"kind":"conflict"'; }

# ---- setup: a bucket of our own with a few objects, two gateways, two topics ----
SEEDS="seed ow del ren cf race tree/t1 tree/t2"
for n in $SEEDS; do
  mkdir -p "$(dirname "$D/$n.0")"
  head -c $(( (RANDOM % 20000) + 100 )) /dev/urandom >"$D/$n.0"
done
echo "e's first file" >"$D/keep.0"
setup_objects() {
  local n
  "$RGW" mkbucket "$RGW_DIR" "$B" >/dev/null
  for n in $SEEDS; do s3_put_file "$B" "${P}d/$n.txt" "$D/$n.0"; done
  s3_put_file "$B" "${P}e/keep.txt" "$D/keep.0"
}
t_check setup_objects setup_objects || t_done

NP=$(t_free_port)        # the same ports in both namespaces: each has its own
MP=$(t_free_port)
while [ "$MP" = "$NP" ]; do MP=$(t_free_port); done
if [ -z "${S3FILES_SYNCD:-}" ] && [ -x "$S3F_BUILD/asan/bin/s3files-syncd" ]; then
  export S3FILES_SYNCD=$S3F_BUILD/asan/bin/s3files-syncd
fi
# S3FILES_RELAY_NFS: each gateway's NFS port also on this host's 127.0.0.1, where the qemu
# guest reaches it (10.0.2.2)
export S3FILES_NETNS=1 S3FILES_RELAY_NFS=1 S3FILES_POLL_MS=3600000 S3FILES_COMMIT_INTERVAL=3600
export S3FILES_EXPORT_EXTRA="Commit_On_Close = true;"
export S3FILES_DAEMON_EXTRA="Notify_Listen = \"@NS_ADDR@:$NP\"; Metrics_Listen = \"@NS_ADDR@:$MP\";"
start_gw() {
  local g=$1
  s3f_stack_start "$g" >"$g.start.out" 2>&1 || { tail -n 5 "$g.start.out"; return 1; }
  [ "$(s3f_nfs_host "$g")" != 127.0.0.1 ] || { echo "not in a namespace"; return 1; }
  # the daemon listens in the namespace only
  curl -sf -m 5 "http://$(s3f_nfs_host "$g"):$NP/health" | grep -qx ok ||
    { echo "Notify_Listen not reachable at $(s3f_nfs_host "$g"):$NP"; return 1; }
  ! curl -sf -m 2 "http://127.0.0.1:$NP/health" >/dev/null 2>&1 ||
    { echo "something answers on 127.0.0.1:$NP in this host's namespace"; return 1; }
}
t_check gateway_a_starts start_gw "$GA" || t_done
t_check gateway_b_starts start_gw "$GB" || t_done
echo "# gateway A at $(s3f_nfs_host "$GA"), B at $(s3f_nfs_host "$GB"); RGW at $S3_ENDPOINT"

put_notifications() {   # ARN...: the bucket's notification configuration, one entry per ARN
  local xml="" i=0 arn
  for arn in "$@"; do
    i=$((i + 1))
    xml+="<TopicConfiguration><Id>gw$i</Id><Topic>$arn</Topic><Event>s3:ObjectCreated:*</Event><Event>s3:ObjectRemoved:*</Event></TopicConfiguration>"
  done
  [ "$(S3_QUERY='notification=' s3_status PUT "$B" '' \
        --data "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">$xml</NotificationConfiguration>")" = 200 ]
}
notification_setup() {
  local g arn i=0
  for g in "$GA" "$GB"; do
    i=$((i + 1))
    arn=$(s3_sns "Action=CreateTopic&Name=s3f-gw-$$-$i&Attributes.entry.1.key=push-endpoint&Attributes.entry.1.value=$(s3_urlencode "http://$(s3f_nfs_host "$g"):$NP/")" |
          sed -n 's:.*<TopicArn>\([^<]*\)</TopicArn>.*:\1:p')
    [ -n "$arn" ] || { echo "no topic ARN for gateway $i"; return 1; }
    echo "$arn" >>"$WORK/topics"
  done
  mapfile -t arns <"$WORK/topics"
  put_notifications "${arns[@]}"
}
t_check notification_setup notification_setup || t_done
mapfile -t TOPICS <"$WORK/topics"

# Both views list (READDIR) /, /d, /d/tree and /e and read the seeded files: notifications
# refresh only directories a view has listed (a name merely looked up in a directory
# never listed is asked of S3 by itself, which would explain a new file without any
# notification); the start's poll is each daemon's last.
listed() {
  local g n
  for g in "$GA" "$GB"; do
    has_name "$g" / d && has_name "$g" / e || { echo "$g: / lacks d or e"; return 1; }
    has_name "$g" /e keep.txt || { echo "$g: e lacks keep.txt"; return 1; }
    has_name "$g" /d seed.txt && has_name "$g" /d tree || { echo "$g: d not listed"; return 1; }
    has_name "$g" /d/tree t1.txt || { echo "$g: d/tree not listed"; return 1; }
    for n in $SEEDS; do
      same_bytes "$g" "/d/$n.txt" "$D/$n.0" || { echo "$g: d/$n.txt differs"; return 1; }
    done
    [ "$(metric "$g" "$POLLS")" -ge 1 ] || { echo "$g: no first poll"; return 1; }
  done
}
t_check both_views_list_the_bucket listed || t_done
POLLS_A=$(metric "$GA" "$POLLS")
POLLS_B=$(metric "$GB" "$POLLS")

# stats LABEL MS...: "# LABEL: median, p90, max" (nearest rank) over the values.
stats() {
  local label=$1; shift
  printf '%s\n' "$@" | sort -n | awk -v l="$label" '{ v[NR] = $1 }
    END { m = int((NR + 1) / 2); p = int((NR * 9 + 9) / 10); if (p > NR) p = NR
          printf "# %s: n=%d median %d ms, p90 %d ms, max %d ms (min %d)\n", l, NR, v[m], v[p], v[NR], v[1] }'
}

# waitfor G PATH FILE: until PATH reads through G exactly as FILE (one libnfs mount, a try
# every 10 ms, each an OPEN, READs and a CLOSE of a few ms), for up to LIMIT_MS; prints
# the time (Unix ms) of the read that matched.
waitfor() { "$S3F_BUILD/bin/s3f_nfs" waitfor "$(url "$1" "$2")" "$3" "$LIMIT_MS"; }

# visibility FROM TO ROUNDS TAG: ROUNDS new files written through FROM, each timed from
# the writer's close (s3f_nfs create returned) to its bytes read through TO.
visibility() {
  local from=$1 to=$2 rounds=$3 tag=$4 i f t0 t1 times=() recv0 app0 dsum0 dcnt0 dsum dcnt
  recv0=$(metric "$to" s3files_notifications_received_total)
  app0=$(metric "$to" s3files_notifications_applied_total)
  dsum0=$(metric "$to" s3files_notifications_delay_seconds_sum)
  dcnt0=$(metric "$to" s3files_notifications_delay_seconds_count)
  for ((i = 1; i <= rounds; i++)); do
    f=$D/$tag.$i
    head -c $(( (RANDOM % 60000) + 1000 )) /dev/urandom >"$f"
    put "$from" "/d/$tag$i.bin" "$f" || { echo "create through $from failed"; return 1; }
    t0=$(t_ms)
    t1=$(waitfor "$to" "/d/$tag$i.bin" "$f") ||
      { echo "round $i: d/$tag$i.bin not readable through $to: $(nfsls "$to" /d | tr '\n\t' '| ')"; return 1; }
    times+=($(( t1 - t0 )))
  done
  stats "close on $(basename "$from") -> bytes read on $(basename "$to")" "${times[@]}"
  dsum=$(metric "$to" s3files_notifications_delay_seconds_sum)
  dcnt=$(metric "$to" s3files_notifications_delay_seconds_count)
  awk -v s0="$dsum0" -v s1="$dsum" -v c0="$dcnt0" -v c1="$dcnt" -v g="$(basename "$to")" 'BEGIN {
    if (c1 > c0) printf "#   on %s, a notification from its arrival to applied (directory listed again): mean %d ms over %d\n", g, (s1 - s0) * 1000 / (c1 - c0), c1 - c0 }'
  [ "$(metric "$to" s3files_notifications_received_total)" -ge $((recv0 + rounds)) ] ||
    { echo "$to received fewer than $rounds notifications"; return 1; }
  [ "$(metric "$to" s3files_notifications_applied_total)" -ge $((app0 + rounds)) ] ||
    { echo "$to applied fewer than $rounds notifications (ignored: $(metric "$to" s3files_notifications_ignored_total))"; return 1; }
}
t_check a_to_b_visible_by_notification visibility "$GA" "$GB" "$VIS_ROUNDS" ab
t_check b_to_a_visible_by_notification visibility "$GB" "$GA" "$VIS_ROUNDS" ba

# The Linux kernel NFSv4.1 client (qemu guest) with one mount of each gateway (noac, so
# that its attribute cache adds nothing): a file copied into A's mount (cp: open, write,
# close) is read byte-exact from B's mount, and the other way; the time from cp returning
# to the first matching read (tried every 20 ms) is printed per round.
kernel_clients() {
  local out=$WORK/guest.out rc=0 i appa appb
  "$S3F_ROOT/test/vm/build-guest.sh" >"$WORK/build-guest.log" 2>&1 ||
    { echo "build-guest failed: $(tail -n 2 "$WORK/build-guest.log")"; return 1; }
  for i in 1 2 3 4 5 6; do head -c $(( (RANDOM % 60000) + 1000 )) /dev/urandom >"$D/k.$i"; done
  appa=$(metric "$GA" s3files_notifications_applied_total)
  appb=$(metric "$GB" s3files_notifications_applied_total)
  cat >"$WORK/guest.sh" <<'GUEST'
NFS_PORT=$PORT_A; step mount_a nfs_mount noac /s3files /mnt/a || exit 1
NFS_PORT=$PORT_B; step mount_b nfs_mount noac /s3files /mnt/b || exit 1
step list ls /mnt/a/d /mnt/b/d
# round N FROM TO: copy k.N into FROM's d/, wait until TO's d/ reads it
round() {
  cp /host$DATA/k.$1 /mnt/$2/d/k$1.bin || return 1
  t0=$(now_ms); i=0
  while [ $i -lt 500 ]; do
    if cmp -s /mnt/$3/d/k$1.bin /host$DATA/k.$1; then
      note "kernel client: close on $2 -> read on $3: $(elapsed_ms $t0) ms"; return 0
    fi
    sleep 0.02; i=$((i + 1))
  done
  fail "k$1.bin not read on $3 after 10 s"
}
step a_to_b_1 round 1 a b
step a_to_b_2 round 2 a b
step a_to_b_3 round 3 a b
step b_to_a_4 round 4 b a
step b_to_a_5 round 5 b a
step b_to_a_6 round 6 b a
step umount umount /mnt/a /mnt/b
GUEST
  "$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$WORK/guest.sh" --timeout 240 \
    --log "$WORK/guest.console" --env PORT_A="$(cat "$GA/nfs_port")" \
    --env PORT_B="$(cat "$GB/nfs_port")" --env DATA="$D" >"$out" 2>"$WORK/guest.err" || rc=$?
  sed -e 's/^PASS /# guest PASS /' -e 's/^FAIL /# guest FAIL /' "$out" | grep '^# '
  [ $rc = 0 ] && ! grep -q '^FAIL ' "$out" ||
    { echo "guest: rc $rc: $(grep '^FAIL ' "$out" | head -n 2) $(tail -n 2 "$WORK/guest.err")"; return 1; }
  # each mount went to its own gateway (not both to one: the reads would need no
  # notification), and each gateway learnt of the other's three files by notifications
  [ "$(metric "$GA" s3files_notifications_applied_total)" -ge $((appa + 3)) ] &&
    [ "$(metric "$GB" s3files_notifications_applied_total)" -ge $((appb + 3)) ] ||
    { echo "too few notifications applied: A $appa -> $(metric "$GA" s3files_notifications_applied_total), B $appb -> $(metric "$GB" s3files_notifications_applied_total)"; return 1; }
}
t_check kernel_clients_across_gateways kernel_clients

# The overwrite: B has the old bytes local (read above); it must read the new ones.
overwritten() {
  head -c 33333 /dev/urandom >"$D/ow.1"
  local t0 t1
  overwrite "$GA" /d/ow.txt "$D/ow.1"
  t0=$(t_ms)
  t1=$(waitfor "$GB" /d/ow.txt "$D/ow.1") || { echo "B still reads other bytes"; return 1; }
  echo "# overwrite on A -> new bytes read on B: $(( t1 - t0 )) ms"
  same_bytes "$GA" /d/ow.txt "$D/ow.1" || { echo "A reads other bytes"; return 1; }
  [ "$(s3_head_etag "$B" "${P}d/ow.txt")" = "$(md5sum <"$D/ow.1" | cut -d' ' -f1)" ] ||
    { echo "S3 holds other bytes"; return 1; }
}
t_check overwrite_on_a_seen_on_b overwritten

# Deletes and renames are committed by Commit_Interval (an hour here) or `s3filesctl
# commit`, not on close: the commit is asked for.
deleted() {
  "$S3F_BUILD/bin/s3f_nfs" rm "$(url "$GA" /d/del.txt)"
  s3f_ctl "$GA" commit /d >"$WORK/del.out" || { echo "commit: $(cat "$WORK/del.out")"; return 1; }
  t_wait_ms $LIMIT_MS lacks_name "$GB" /d del.txt || { echo "del.txt still listed on B after $WAITED ms"; return 1; }
  echo "# delete on A (committed) -> gone on B: $WAITED ms"
  ! s3_exists "$B" "${P}d/del.txt" || { echo "still in S3"; return 1; }
  same_bytes "$GB" /d/seed.txt "$D/seed.0" || { echo "seed.txt went too"; return 1; }
}
t_check delete_on_a_seen_on_b deleted

renamed() {
  "$S3F_BUILD/bin/s3f_nfs" rename "$(url "$GA" /d/ren.txt)" /ren2.txt
  s3f_ctl "$GA" commit /d >"$WORK/ren.out" || { echo "commit: $(cat "$WORK/ren.out")"; return 1; }
  t_wait_ms $LIMIT_MS same_bytes "$GB" /d/ren2.txt "$D/ren.0" ||
    { echo "ren2.txt not readable on B after $WAITED ms: $(nfsls "$GB" /d | tr '\n\t' '| ')"; return 1; }
  echo "# rename on A (committed) -> new name read on B: $WAITED ms"
  t_wait_ms $LIMIT_MS lacks_name "$GB" /d ren.txt || { echo "old name ren.txt still on B after $WAITED ms"; return 1; }
  ! s3_exists "$B" "${P}d/ren.txt" || { echo "old key still in S3"; return 1; }
}
t_check rename_on_a_seen_on_b renamed

# Across directories, and a whole directory (raw NFSv4 RENAMEs; libnfs's own rename stays
# in one directory): B sees each object's copy and delete in turn, done when the last
# old key is gone.
script() {   # G STEPS...: s3f_nfsproto script against G's export
  printf '%s\n' "${@:2}" | "$S3F_BUILD/bin/s3f_nfsproto" script "$(s3f_nfs_host "$1")" "$(cat "$1/nfs_port")" /s3files
}
b_has_tree() {
  same_bytes "$GB" /e/tree2/t1.txt "$D/tree/t1.0" && same_bytes "$GB" /e/tree2/t2.txt "$D/tree/t2.0"
}
renamed_across() {
  local out
  out=$(script "$GA" "f 0 0 rename d/ren2.txt e/ren3.txt" "t 0 0 rename d/tree e/tree2")
  [ "$(printf '%s\n' "$out" | grep -c ': OK$')" = 2 ] || { echo "renames: $(printf '%s' "$out" | tr '\n' ' ')"; return 1; }
  s3f_ctl "$GA" commit / >"$WORK/ren.out" || { echo "commit: $(cat "$WORK/ren.out")"; return 1; }
  t_wait_ms $LIMIT_MS same_bytes "$GB" /e/ren3.txt "$D/ren.0" ||
    { echo "e/ren3.txt not readable on B after $WAITED ms: $(nfsls "$GB" /e | tr '\n\t' '| ')"; return 1; }
  t_wait_ms $LIMIT_MS lacks_name "$GB" /d ren2.txt || { echo "d/ren2.txt still on B"; return 1; }
  t_wait_ms $LIMIT_MS b_has_tree || { echo "e/tree2 not complete on B: $(nfsls "$GB" /e/tree2 | tr '\n\t' '| ')"; return 1; }
  t_wait_ms $LIMIT_MS lacks_name "$GB" /d tree || { echo "d/tree still on B: $(nfsls "$GB" /d/tree | tr '\n\t' '| ')"; return 1; }
  echo "# directory rename on A (committed) -> complete on B: old name gone $WAITED ms after the new one was whole"
  ! s3_ls "$B" "${P}d/tree/" | grep -q . || { echo "old keys still in S3: $(s3_ls "$B" "${P}d/tree/")"; return 1; }
}
t_check rename_across_directories_seen_on_b renamed_across

# Only notifications can explain the above: neither daemon polled again.
no_polls() {
  [ "$(metric "$GA" "$POLLS")" = "$POLLS_A" ] || { echo "A polled: $POLLS_A -> $(metric "$GA" "$POLLS")"; return 1; }
  [ "$(metric "$GB" "$POLLS")" = "$POLLS_B" ] || { echo "B polled: $POLLS_B -> $(metric "$GB" "$POLLS")"; return 1; }
}
t_check no_poll_explains_it no_polls

# The converse: with B's topic taken out of the bucket's configuration, a file committed
# through A stays invisible on B (its next poll is an hour away) until B's daemon starts
# again (its start's poll): a lost notification costs time, not the change.
lost_notification() {
  local code
  head -c 7777 /dev/urandom >"$D/lost.1"
  # RGW 16 adds a PUT's entries to the bucket's (it never drops one not named): B's goes
  # by its Id
  code=$(S3_QUERY='notification=gw2' s3_status DELETE "$B" '')
  case $code in 200 | 204) ;; *) echo "cannot drop B's notification: HTTP $code"; return 1 ;; esac
  put "$GA" /d/lost.bin "$D/lost.1"
  s3f_ctl "$GA" wait-synced --timeout 30 /d/lost.bin >/dev/null || { echo "A did not upload"; return 1; }
  sleep 2
  lacks_name "$GB" /d lost.bin && ! same_bytes "$GB" /d/lost.bin "$D/lost.1" ||
    { echo "B shows it without a notification: not the notifications explained the cases above"; return 1; }
  put_notifications "${TOPICS[@]}" || { echo "cannot restore B's topic"; return 1; }
  s3f_syncd_stop "$GB"
  s3f_syncd_start "$GB" >"$WORK/sb.out" 2>&1 || { echo "B's daemon: $(tail -n 3 "$WORK/sb.out")"; return 1; }
  t_wait_ms $LIMIT_MS same_bytes "$GB" /d/lost.bin "$D/lost.1" || { echo "B's start poll did not bring it"; return 1; }
}
t_check lost_notification_caught_up_by_poll lost_notification

# ---- conflict, deterministic: both written before either daemon runs ----
lf_entry() {   # G KEY_AS_NAME: the single lost+found entry for that path, or fail
  local names
  names=$(nfsls "$1" /lost+found | cut -f2- | grep -E "^$2\\.[0-9]{8}T[0-9]{6}Z(\\.[0-9]+)?\$")
  [ "$(printf '%s\n' "$names" | grep -c .)" = 1 ] || return 1
  printf '%s' "$names"
}
# loser_has G WINNER_FILE LOSER_FILE NAME: the conflict as the loser G must show it.
loser_has() {
  local g=$1 win=$2 lose=$3 name=$4 lf
  same_bytes "$g" "/d/$name" "$win" || { echo "$g: d/$name is not the winner's"; return 1; }
  lf=$(lf_entry "$g" "d%2F${name//./\\.}") ||
    { echo "$g: no single lost+found entry for d/$name: $(nfsls "$g" /lost+found | tr '\n\t' '| ')"; return 1; }
  same_bytes "$g" "/lost+found/$lf" "$lose" || { echo "$g: lost+found/$lf is not the loser's bytes"; return 1; }
  s3f_ctl "$g" events --kind conflict 2>/dev/null | grep -F "\"$P""d/$name\"" >"$WORK/ev" || true
  [ "$(grep -c '"kind":"conflict"' "$WORK/ev")" = 1 ] ||
    { echo "$g: not one conflict event for d/$name: $(s3f_ctl "$g" events --kind conflict)"; return 1; }
  grep -qF "$lf" "$WORK/ev" || { echo "$g: the event does not name $lf: $(cat "$WORK/ev")"; return 1; }
  s3f_ctl "$g" conflicts --json >"$WORK/cj" 2>&1 || { echo "$g: conflicts --json: $(cat "$WORK/cj")"; return 1; }
  grep -qF "$lf" "$WORK/cj" || { echo "$g: conflicts --json lacks $lf: $(cat "$WORK/cj")"; return 1; }
}
# winner_has G WINNER_FILE NAME: the winner shows its bytes and no conflict for NAME.
winner_has() {
  local g=$1 win=$2 name=$3
  same_bytes "$g" "/d/$name" "$win" || { echo "$g: d/$name is not its own bytes"; return 1; }
  ! s3f_ctl "$g" events --kind conflict 2>/dev/null | grep -qF "\"$P""d/$name\"" ||
    { echo "$g: has a conflict event for d/$name"; return 1; }
  ! nfsls "$g" /lost+found | cut -f2- | grep -q "^d%2F$name\\." ||
    { echo "$g: has a lost+found entry for d/$name"; return 1; }
}
s3_bytes() {   # KEY FILE: S3 holds FILE's bytes at KEY
  s3_get_file "$B" "$1" "$WORK/s3get" && cmp -s "$WORK/s3get" "$2"
}

conflict_fixed() {
  head -c 20001 /dev/urandom >"$D/cf.a"
  head -c 30002 /dev/urandom >"$D/cf.b"
  s3f_syncd_stop "$GA"
  s3f_syncd_stop "$GB"
  overwrite "$GA" /d/cf.txt "$D/cf.a"
  overwrite "$GB" /d/cf.txt "$D/cf.b"
  # neither is in S3 yet
  s3_bytes "${P}d/cf.txt" "$D/cf.0" || { echo "S3 changed while both daemons were down"; return 1; }
  s3f_syncd_start "$GA" >"$WORK/sa.out" 2>&1 || { echo "A's daemon: $(tail -n 3 "$WORK/sa.out")"; return 1; }
  s3f_ctl "$GA" wait-synced --timeout 30 /d/cf.txt >/dev/null || { echo "A did not upload"; return 1; }
  s3_bytes "${P}d/cf.txt" "$D/cf.a" || { echo "S3 does not hold A's bytes"; return 1; }
  s3f_syncd_start "$GB" >"$WORK/sb.out" 2>&1 || { echo "B's daemon: $(tail -n 3 "$WORK/sb.out")"; return 1; }
  t_wait_ms 30000 bash -c "[ \$(\"$S3F_BUILD/bin/s3filesctl\" -f '$GB/ganesha.conf' events --kind conflict | grep -c cf.txt) -ge 1 ]" ||
    { echo "no conflict on B after $WAITED ms"; return 1; }
  echo "# B's daemon start -> conflict recorded on B: $WAITED ms"
  t_wait_ms $LIMIT_MS same_bytes "$GB" /d/cf.txt "$D/cf.a" || { echo "B does not show A's bytes at the name"; return 1; }
  loser_has "$GB" "$D/cf.a" "$D/cf.b" cf.txt
  winner_has "$GA" "$D/cf.a" cf.txt
  s3_bytes "${P}d/cf.txt" "$D/cf.a" || { echo "S3 no longer holds A's bytes"; return 1; }
  ! s3_ls "$B" "${P}lost+found" | grep -q . || { echo "lost+found reached S3"; return 1; }
}
t_check conflict_s3_wins_loser_in_its_lost_found conflict_fixed

# ---- conflict, racing: both daemons up, both closes at once ----
conflict_race() {
  local win lose gw gl
  head -c 21001 /dev/urandom >"$D/race.a"
  head -c 31002 /dev/urandom >"$D/race.b"
  overwrite "$GA" /d/race.txt "$D/race.a" & local pa=$!
  overwrite "$GB" /d/race.txt "$D/race.b" & local pb=$!
  wait $pa || { echo "write through A failed"; return 1; }
  wait $pb || { echo "write through B failed"; return 1; }
  s3f_ctl "$GA" wait-synced --timeout 30 /d >/dev/null 2>&1 || true
  s3f_ctl "$GB" wait-synced --timeout 30 /d >/dev/null 2>&1 || true
  # S3's winner is whichever of the two it holds
  s3_get_file "$B" "${P}d/race.txt" "$WORK/race.s3" || { echo "no object"; return 1; }
  if cmp -s "$WORK/race.s3" "$D/race.a"; then win=$D/race.a lose=$D/race.b gw=$GA gl=$GB
  elif cmp -s "$WORK/race.s3" "$D/race.b"; then win=$D/race.b lose=$D/race.a gw=$GB gl=$GA
  else echo "S3 holds neither version"; return 1; fi
  echo "# race: S3 kept $(basename "$gw")'s version"
  t_wait_ms 30000 bash -c "[ \$(\"$S3F_BUILD/bin/s3filesctl\" -f '$gl/ganesha.conf' events --kind conflict | grep -c race.txt) -ge 1 ]" ||
    { echo "no conflict on the losing gateway $gl"; return 1; }
  t_wait_ms $LIMIT_MS same_bytes "$gl" /d/race.txt "$win" || { echo "the loser does not show the winner's bytes"; return 1; }
  loser_has "$gl" "$win" "$lose" race.txt
  winner_has "$gw" "$win" race.txt
}
t_check conflict_race_one_loser conflict_race

# ---- both daemons stop cleanly, sanitizers silent ----
clean_stop() {
  local g
  for g in "$GA" "$GB"; do
    s3f_syncd_stop "$g"
    if grep -hE 'Sanitizer|runtime error' "$g/syncd.log" "$g/syncd.out" 2>/dev/null | head -n 5 | grep .; then
      return 1
    fi
  done
}
t_check daemons_stop_cleanly clean_stop

t_done
