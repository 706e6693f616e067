#!/usr/bin/env bash
# rename_chain: renames whose destinations still hold objects in transit, full stack on the
# real RGW, client libnfs (NFSv4.0), one commit after all the renames of a round.
#
# Every object is PUT into the bucket first and listed through the mount, so each file is
# known to the view and its bytes are only in S3. Then, with no commit in between:
#   swap      mv a t; mv b a; mv t b                (two files trade places)
#   rot       mv a t; mv b a; mv c b; mv t c        (a three-file rotation)
#   dswap     mv d t; mv e d; mv t e                (two directories trade places: three
#                                                    directory jobs, each destination
#                                                    held by the one before it)
#   freed     mv d/f x; rmdir d; mv e d             (a directory moved onto the name of one
#                                                    whose file is still on its way out)
#   wswap     swap, with a byte appended to each file between the moves (uploads, not
#             server-side copies)
#   nest      mv p q; mv q/s r; mv r p              (a subdirectory lifted out and back in
#                                                    under the old name)
#   chain     mv c x; mv b c; mv a b                (each file's new key is the next one's
#                                                    old object; no circle: the files commit
#                                                    one after the other, in rounds of the
#                                                    same pass)
#   into      (third round) mkdir d1/d3 and commit its marker; then mv d1/d3 d2/d3;
#             mv d2 d1/d3: the marker's job (d1/d3/ -> d2/d3/) and the next (d2/ ->
#             d1/d3/) send it back below the first job's own old prefix. Before the fix
#             the first job took its own copy again, one level deeper each time
#             (d1/d3/d3/d3/... up to 1,024 bytes, found by crash.sh); now: d1/d3/d3/.
# After `s3filesctl commit` and `wait-synced`, the bucket must hold exactly the expected
# keys, each with the expected bytes (nothing left under an old key, nothing missing), no
# conflict event may have fired, lost+found must be empty and fsck clean. A second round
# swaps the swapped files back, from the committed state.
#
# Before the fix, a directory job sent a file straight to its final path, which another
# job had still to empty (dswap: the file "left" under its old key, later an extra object
# or a false conflict), a job refused a destination held by a file renamed away and not
# committed yet (freed), and two renamed files waiting for each other's key never
# committed (swap, rot, wswap: wait-synced timed out).
set -uo pipefail
T_SUITE=rename_chain
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup rc
export LC_ALL=C
trap 's3f_stack_stop "$STACK"' EXIT

D=$WORK/data
# put KEY: an object whose bytes name its original key
put() { printf 'object first put at %s\n' "$1" >"$D/obj" && s3_put_file "$B" "$P$1" "$D/obj" >/dev/null; }
KEYS="swap/a swap/b rot/a rot/b rot/c dswap/d/f dswap/d/g dswap/e/f dswap/e/h
freed/d/f freed/e/f freed/e/k wswap/a wswap/b nest/p/top nest/p/s/deep chain/a chain/b chain/c
into/d1/f1 into/d2/f2"
put_all() {
  local k
  for k in $KEYS; do put "$k" || { echo "PUT $k failed"; return 1; }; done
}
t_step put_objects put_all || t_done

export S3FILES_COMMIT_INTERVAL=3600
export S3FILES_EXPORT_EXTRA="Hydrate_Threshold = 0;"
s3f_test_stack_start
url() { printf 'nfs://127.0.0.1/s3files%s?version=4&nfsport=%s' "$1" "$NFS_PORT"; }
TOOL=$S3F_BUILD/bin/s3f_nfsproto
script() { printf '%s\n' "$@" | "$TOOL" script 127.0.0.1 "$NFS_PORT" /s3files; }
# ops STEP...: every step must answer OK
ops() {
  local out
  out=$(script "$@") || { echo "script failed: $out"; return 1; }
  if [ "$(printf '%s\n' "$out" | grep -c ': OK$')" != $# ]; then
    printf '%s\n' "$out" | grep -v ': OK$' | head -n 5
    return 1
  fi
}

listed() {
  local d
  for d in / /swap /rot /dswap /dswap/d /dswap/e /freed /freed/d /freed/e /wswap /nest /nest/p /nest/p/s /chain /into /into/d1 /into/d2; do
    nfs-ls "$(url "$d")" >/dev/null 2>&1 || { echo "nfs-ls $d failed"; return 1; }
  done
}
t_step listed_through_mount listed

chains() {
  ops "1 0 0 rename swap/a swap/t" "2 0 0 rename swap/b swap/a" "3 0 0 rename swap/t swap/b" \
    "4 0 0 rename rot/a rot/t" "5 0 0 rename rot/b rot/a" "6 0 0 rename rot/c rot/b" "7 0 0 rename rot/t rot/c" \
    "8 0 0 rename dswap/d dswap/t" "9 0 0 rename dswap/e dswap/d" "10 0 0 rename dswap/t dswap/e" \
    "11 0 0 rename freed/d/f freed/x" "12 0 0 rmdir freed/d" "13 0 0 rename freed/e freed/d" \
    "14 0 0 rename wswap/a wswap/t" "15 0 0 write wswap/t" "16 0 0 rename wswap/b wswap/a" \
    "17 0 0 write wswap/a" "18 0 0 rename wswap/t wswap/b" \
    "19 0 0 rename nest/p nest/q" "20 0 0 rename nest/q/s nest/r" "21 0 0 rename nest/r nest/p" \
    "22 0 0 rename chain/c chain/x" "23 0 0 rename chain/b chain/c" "24 0 0 rename chain/a chain/b"
}
t_step renamed chains

conflicts() { s3f_ctl "$STACK" events --kind conflict 2>/dev/null | grep -c '"kind":"conflict"'; }

# expect KEY=ORIGIN[+]...: the bucket holds exactly these keys under $P, KEY with the bytes
# first put at ORIGIN (a trailing + : and one more byte after them)
expect() {
  local bad=0 spec k o want got
  s3f_ctl "$STACK" commit >"$WORK/commit.out" 2>&1 ||
    { echo "commit: $(tail -n 2 "$WORK/commit.out" | tr '\n' ' ')"; bad=1; }
  timeout 60 "${S3FILES_CTL:-$S3F_BUILD/bin/s3filesctl}" -f "$STACK/ganesha.conf" wait-synced / \
    >"$WORK/wait.out" 2>&1 || { echo "wait-synced: $(tail -n 3 "$WORK/wait.out" | tr '\n' ' ')"; bad=1; }
  for spec in "$@"; do printf '%s\n' "${spec%%=*}"; done | sort >"$WORK/want.keys"
  s3_ls "$B" "$P" | sed "s|^$P||" | grep -v '/$' | sort >"$WORK/got.keys"
  if ! cmp -s "$WORK/want.keys" "$WORK/got.keys"; then
    echo "keys in S3 differ (-want +got): $(diff "$WORK/want.keys" "$WORK/got.keys" | grep '^[<>]' | tr '\n' ' ')"
    bad=1
  fi
  for spec in "$@"; do
    k=${spec%%=*}; o=${spec#*=}
    want=$(printf 'object first put at %s\n' "${o%+}"; [ "${o%+}" = "$o" ] || printf 'a')
    rm -f "$D/got"
    if ! s3_get_file "$B" "$P$k" "$D/got" 2>"$D/get.err"; then
      echo "GET $k: $(tail -n 1 "$D/get.err")"; bad=1; continue
    fi
    got=$(cat "$D/got"; printf '.')
    got=${got%.}
    [ "$got" = "$want" ] || [ "$got" = "$want"$'\n' ] ||
      { echo "$k holds '$(printf '%s' "$got" | head -c 60 | tr '\n' '|')', want the bytes of $o"; bad=1; }
  done
  [ "$(conflicts)" = 0 ] || { echo "$(conflicts) conflict events"; bad=1; }
  [ -z "$(nfs-ls "$(url /lost+found)" 2>/dev/null | grep -v '^\.\.\?$' | awk '{ print $NF }' | grep -v '^\.\.\?$')" ] ||
    { echo "lost+found: $(nfs-ls "$(url /lost+found)" 2>&1 | tr '\n' ' ')"; bad=1; }
  s3f_ctl "$STACK" fsck --online >"$WORK/fsck.out" 2>&1 || { echo "fsck: $(tail -n 3 "$WORK/fsck.out" | tr '\n' ' ')"; bad=1; }
  [ $bad = 0 ]
}

ROUND1="swap/a=swap/b swap/b=swap/a rot/a=rot/b rot/b=rot/c rot/c=rot/a
dswap/d/f=dswap/e/f dswap/d/h=dswap/e/h dswap/e/f=dswap/d/f dswap/e/g=dswap/d/g
freed/x=freed/d/f freed/d/f=freed/e/f freed/d/k=freed/e/k
wswap/a=wswap/b+ wswap/b=wswap/a+ nest/q/top=nest/p/top nest/p/deep=nest/p/s/deep
chain/b=chain/a chain/c=chain/b chain/x=chain/c into/d1/f1=into/d1/f1 into/d2/f2=into/d2/f2"
# shellcheck disable=SC2086
t_step committed_round1 expect $ROUND1

back() {
  ops "1 0 0 rename swap/a swap/t" "2 0 0 rename swap/b swap/a" "3 0 0 rename swap/t swap/b" \
    "4 0 0 rename dswap/d dswap/t" "5 0 0 rename dswap/e dswap/d" "6 0 0 rename dswap/t dswap/e"
}
t_step renamed_back back
ROUND2="swap/a=swap/a swap/b=swap/b rot/a=rot/b rot/b=rot/c rot/c=rot/a
dswap/d/f=dswap/d/f dswap/d/g=dswap/d/g dswap/e/f=dswap/e/f dswap/e/h=dswap/e/h
freed/x=freed/d/f freed/d/f=freed/e/f freed/d/k=freed/e/k
wswap/a=wswap/b+ wswap/b=wswap/a+ nest/q/top=nest/p/top nest/p/deep=nest/p/s/deep
chain/b=chain/a chain/c=chain/b chain/x=chain/c into/d1/f1=into/d1/f1 into/d2/f2=into/d2/f2"
# shellcheck disable=SC2086
t_step committed_round2 expect $ROUND2

into() {
  ops "1 0 0 mkdir into/d1/d3 755" || return 1
  s3f_ctl "$STACK" commit >/dev/null 2>&1
  s3_exists "$B" "${P}into/d1/d3/" || { echo "no marker into/d1/d3/ after the commit"; return 1; }
  ops "2 0 0 rename into/d1/d3 into/d2/d3" "3 0 0 rename into/d2 into/d1/d3"
}
t_step renamed_into into
ROUND3="${ROUND2% into/d1/f1=into/d1/f1 into/d2/f2=into/d2/f2} into/d1/f1=into/d1/f1 into/d1/d3/f2=into/d2/f2"
# shellcheck disable=SC2086
t_step committed_round3 expect $ROUND3
markers() {
  local got
  got=$(s3_ls "$B" "${P}into/" | sed "s|^$P||" | grep '/$' | tr '\n' ' ')
  [ "$got" = "into/d1/d3/d3/ " ] || { echo "markers under into/: '$(printf '%s' "$got" | cut -c1-200)', want 'into/d1/d3/d3/ '"; return 1; }
}
t_step into_marker markers

reads() {
  local got
  got=$(nfs-cat "$(url /dswap/d/g)" 2>/dev/null)
  [ "$got" = "object first put at dswap/d/g" ] || { echo "dswap/d/g reads '$got'"; return 1; }
  got=$(nfs-cat "$(url /rot/c)" 2>/dev/null)
  [ "$got" = "object first put at rot/a" ] || { echo "rot/c reads '$got'"; return 1; }
}
t_step read_through_mount reads
t_done
