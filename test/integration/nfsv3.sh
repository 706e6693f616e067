#!/usr/bin/env bash
# nfsv3: the gateway served over NFSv3 (S3FILES_NFSV3=1: ganesha with Protocols = 3, 4 in a
# network namespace with a private rpcbind, test/lib/s3files.sh), through libnfs on the host
# and the Linux kernel's NFSv3 client in the qemu guest:
#   - the namespace's rpcbind has NFS v3/v4 and MOUNT registered, no NLM; the host has no
#     rpcbind socket of ours and nothing of ours on port 111;
#   - objects put directly into RGW are listed and read byte-exact over v3 (nfs-ls, nfs-cat,
#     nfs-cp; one above the read bypass threshold);
#   - a file written over v3 (nfs-cp) reads back and, after `s3filesctl commit`, is the
#     object in S3 byte for byte (independent client), with the writer's uid in its metadata;
#   - mkdir, rename, rm and rmdir over v3, checked over v3, v4.0 and in S3;
#   - READDIRPLUS of a 2,000-object directory returns each entry once, with its size;
#   - one file through v4.0 and v3 at once: same file id, each sees the other's writes;
#   - export rules, ganesha's own: a CLIENT block with Access_Type = RO (the namespace's
#     loopback) refuses writes over v3 (NFS3ERR_ROFS) and v4.0 (NFS4ERR_ROFS) while reads
#     work; a second export with Access_Type = RO likewise; a CLIENT block with
#     Squash = Root_Squash (the namespace's own address) makes root's new file and
#     directory belong to Anonymous_Uid/Gid (over NFS and in S3's metadata), a non-root
#     user's stay theirs, and clients without the rule keep root's ids;
#   - the kernel's v3 client (nolock, explicit ports) next to a v4.1 mount: read, ls -l of
#     the 2,000 entries (READDIRPLUS), a write seen over v4.1 and in S3, mkdir, mv, O_EXCL
#     create (EXCLUSIVE, with a verifier), rm, rmdir;
#   - the stack stops cleanly: namespace, veth and relay gone;
#   - an endpoint given by host name is kept, and reached through the namespace's relay.
set -uo pipefail
T_SUITE=nfsv3
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup v3
export LC_ALL=C
TOOL=$S3F_BUILD/bin/s3f_nfs
D=$WORK/data
BULK=${NFSV3_BULK:-2000}
ANON_UID=4242 ANON_GID=4343
cleanup() { s3f_stack_stop "$STACK"; }
trap cleanup EXIT

rpcbind_sock_before=0
[ -e /run/rpcbind.sock ] && rpcbind_sock_before=1

# ---- objects put into RGW before the gateway starts ----
mkdir -p "$D/bulk"
head -c 3000001 /dev/urandom >"$D/three.bin"
head -c $((12 * 1024 * 1024 + 5)) /dev/urandom >"$D/twelve.bin"
printf 'small object\n' >"$D/small.txt"
for i in $(seq -w 1 "$BULK"); do
  # Sizes differ from entry to entry: READDIRPLUS must bring each one's own attributes.
  head -c $(( 10#$i % 97 + 1 )) "$D/three.bin" >"$D/bulk/e$i"
done
(cd "$D/bulk" && stat -c '%n %s' e* | sort) >"$D/bulk.expect"
T0=$(date +%s%N)
put_ok=1
for f in three.bin twelve.bin small.txt; do s3_put_file "$B" "${P}in/$f" "$D/$f" || put_ok=0; done
s3_put_file "$B" "${P}in/sub/deep.txt" "$D/small.txt" || put_ok=0
export B P D
(cd "$D/bulk" && ls) | xargs -n 100 -P 16 bash -c '. "$S3F_ROOT/test/lib/s3.sh" &&
  for f; do s3_put_file "$B" "${P}bulk/$f" "$D/bulk/$f" || exit 1; done' put 2>"$WORK/put.err" ||
  put_ok=0
n=$(s3_ls "$B" "${P}bulk/" | wc -l)
echo "# PUT 4 objects and $n bulk objects in $(( ($(date +%s%N) - T0) / 1000000 )) ms"
if [ $put_ok = 1 ] && [ "$n" = "$BULK" ]; then t_pass put_objects
else t_fail put_objects "bulk $n of $BULK; $(head -n 3 "$WORK/put.err" | tr '\n' ' ')"; t_done; fi

# ---- the stack: export 1 with two CLIENT rules, export 2 read-only ----
export S3FILES_NFSV3=1 S3FILES_COMMIT_INTERVAL=3600 S3FILES_MINOR_VERSIONS="0, 1"
export S3FILES_EXPORT_CLIENTS="
	CLIENT { Clients = 127.0.0.1; Access_Type = RO; }
	CLIENT { Clients = @NS_ADDR@; Squash = Root_Squash;
		 Anonymous_Uid = $ANON_UID; Anonymous_Gid = $ANON_GID; }"
export S3FILES_CONF_EXTRA="EXPORT {
	Export_Id = 2;
	Path = /ro;
	Pseudo = /s3files-ro;
	Protocols = 3, 4;
	Transports = TCP;
	Access_Type = RO;
	Squash = Root_Squash;
	SecType = sys;
	FSAL {
		Name = S3FILES;
		@S3@
		State_Dir = \"$WORK/state-ro\";
		Commit_Interval = 3600;
	}
}"
T0=$(date +%s%N)
if ! s3f_stack_start "$STACK" >"$WORK/start.out" 2>&1; then
  t_fail stack_start "$(tail -n 8 "$WORK/start.out" | tr '\n' ' ')"
  t_done
fi
echo "# stack with namespace, rpcbind and relay up in $(( ($(date +%s%N) - T0) / 1000000 )) ms"
t_pass stack_start
NFS_PORT=$(cat "$STACK/nfs_port")
H=$(s3f_nfs_host "$STACK")
NS=$(. "$STACK/netns.env"; echo "$S3F_NS_NAME")
VETH=$(. "$STACK/netns.env"; echo "$S3F_NS_VETH")
echo "# ganesha in $NS at $H (NFS port $NFS_PORT)"

# URLs: v3 finds the ports through the namespace's rpcbind; v4.0 by port.
u3() { printf 'nfs://%s/s3files%s?version=3%s' "${HOST:-$H}" "$1" "${2:+&$2}"; }
u4() { printf 'nfs://%s/s3files%s?version=4&nfsport=%s%s' "${HOST:-$H}" "$1" "$NFS_PORT" "${2:+&$2}"; }
names() { nfs-ls "$1" 2>/dev/null | awk '{ print $NF }' | sort; }

# ---- rpcbind: private, with the right registrations ----
rpc=$(rpcinfo -p "$H" 2>&1)
if grep -Eq '100003 +3 +tcp' <<<"$rpc" && grep -Eq '100003 +4 +tcp' <<<"$rpc" &&
   grep -Eq '100005 +3 +tcp' <<<"$rpc" && ! grep -Eq '^ *100021 ' <<<"$rpc"; then
  t_pass rpcbind_registrations
else t_fail rpcbind_registrations "$(tr '\n' ' ' <<<"$rpc")"; fi
if [ $rpcbind_sock_before = 0 ] && [ -e /run/rpcbind.sock ]; then
  t_fail host_rpcbind_untouched "/run/rpcbind.sock appeared on the host"
elif ss -Htuln 'sport = :111' | grep -q .; then
  t_fail host_rpcbind_untouched "something listens on port 111 in the host namespace: $(ss -Htulnp 'sport = :111' | head -n 2 | tr '\n' ' ')"
else t_pass host_rpcbind_untouched; fi
if grep -q "S3FILES: export 2 serves" "$STACK/ganesha.log"; then t_pass second_export_up
else t_fail second_export_up "$(grep -E 'S3FILES|CRIT' "$STACK/ganesha.log" | tail -n 3 | tr '\n' ' ')"; fi

# ---- objects from S3: list and read ----
got=$(names "$(u3 /in)" | tr '\n' ' ')
if [ "$got" = "small.txt sub three.bin twelve.bin " ]; then t_pass ls_s3_objects
else t_fail ls_s3_objects "nfs-ls /in: '$got'"; fi
nfs-cat "$(u3 /in/three.bin)" >"$WORK/three.cat" 2>"$WORK/cat.err"
if cmp -s "$D/three.bin" "$WORK/three.cat"; then t_pass read_nfs_cat
else t_fail read_nfs_cat "$(cmp "$D/three.bin" "$WORK/three.cat" 2>&1; head -n 2 "$WORK/cat.err")"; fi
T0=$(date +%s%N)
nfs-cp "$(u3 /in/twelve.bin)" "$WORK/twelve.cp" >/dev/null 2>"$WORK/cp.err"
ms=$(( ($(date +%s%N) - T0) / 1000000 ))
if cmp -s "$D/twelve.bin" "$WORK/twelve.cp"; then t_pass read_nfs_cp_large
  echo "# nfs-cp over v3 of a 12 MiB object not yet local: $ms ms"
else t_fail read_nfs_cp_large "$(cmp "$D/twelve.bin" "$WORK/twelve.cp" 2>&1; head -n 2 "$WORK/cp.err")"; fi
if [ "$(nfs-cat "$(u3 /in/sub/deep.txt)" 2>&1)" = "small object" ]; then t_pass read_subdir
else t_fail read_subdir "$(nfs-cat "$(u3 /in/sub/deep.txt)" 2>&1 | head -n 2)"; fi

# ---- write over v3, then commit and check S3 ----
head -c 5000003 /dev/urandom >"$D/w.bin"
if nfs-cp "$D/w.bin" "$(u3 /w.bin)" >/dev/null 2>"$WORK/w.err" &&
   nfs-cat "$(u3 /w.bin)" >"$WORK/w.back" 2>/dev/null && cmp -s "$D/w.bin" "$WORK/w.back"; then
  t_pass write_nfs_cp
else t_fail write_nfs_cp "$(head -n 2 "$WORK/w.err"; cmp "$D/w.bin" "$WORK/w.back" 2>&1)"; fi
if s3_exists "$B" "${P}w.bin"; then t_fail write_not_in_s3_before_commit "already in S3"
else t_pass write_not_in_s3_before_commit; fi
if out=$(s3f_ctl "$STACK" commit -e 1 / 2>&1) &&
   s3f_ctl "$STACK" wait-synced -e 1 --timeout 60 / >"$WORK/ws.out" 2>&1 &&
   s3_get_file "$B" "${P}w.bin" "$WORK/w.s3" && cmp -s "$D/w.bin" "$WORK/w.s3"; then
  t_pass write_in_s3_after_commit
else t_fail write_in_s3_after_commit "$out $(tail -n 2 "$WORK/ws.out"; cmp "$D/w.bin" "$WORK/w.s3" 2>&1)"; fi
meta_uid() { s3_curl HEAD "$B" "$1" -I 2>/dev/null | tr -d '\r' | awk -F': ' 'tolower($1) == "x-amz-meta-uid" { print $2 }'; }
meta_gid() { s3_curl HEAD "$B" "$1" -I 2>/dev/null | tr -d '\r' | awk -F': ' 'tolower($1) == "x-amz-meta-gid" { print $2 }'; }
if [ "$(meta_uid "${P}w.bin"):$(meta_gid "${P}w.bin")" = "0:0" ]; then t_pass write_owner_root_unsquashed
else t_fail write_owner_root_unsquashed "x-amz-meta-uid/gid $(meta_uid "${P}w.bin"):$(meta_gid "${P}w.bin")"; fi

# ---- mkdir / rename / rm / rmdir over v3 ----
ok=1 why=
step() { local out; out=$("$@" 2>&1) || { ok=0; why+="[$* : $out] "; }; }
printf 'moved about\n' >"$D/m.txt"
step "$TOOL" mkdir "$(u3 /ops)"
step "$TOOL" mkdir "$(u3 /ops/sub)"
step nfs-cp "$D/m.txt" "$(u3 /ops/a.txt)"
step "$TOOL" rename "$(u3 /ops/a.txt)" /sub/b.txt
[ "$(names "$(u3 /ops/sub)" | tr '\n' ' ')" = "b.txt " ] || { ok=0; why+="[v3 sees $(names "$(u3 /ops/sub)")] "; }
[ "$(names "$(u4 /ops/sub)" | tr '\n' ' ')" = "b.txt " ] || { ok=0; why+="[v4 sees $(names "$(u4 /ops/sub)")] "; }
[ "$(nfs-cat "$(u4 /ops/sub/b.txt)" 2>&1)" = "moved about" ] || { ok=0; why+="[v4 content] "; }
[ "$(names "$(u3 /ops)" | tr '\n' ' ')" = "sub " ] || { ok=0; why+="[a.txt still there] "; }
if [ $ok = 1 ]; then t_pass mkdir_rename; else t_fail mkdir_rename "$why"; fi
ok=1 why=
s3f_ctl "$STACK" commit -e 1 /ops >/dev/null 2>&1
s3f_ctl "$STACK" wait-synced -e 1 --timeout 60 /ops >/dev/null 2>&1
# The directories made over NFS are marker objects; a.txt is gone, b.txt has its content.
keys=$(s3_ls "$B" "${P}ops/" | tr '\n' ' ')
if [ "$keys" = "${P}ops/ ${P}ops/sub/ ${P}ops/sub/b.txt " ] &&
   s3_get_file "$B" "${P}ops/sub/b.txt" "$WORK/b.s3" && cmp -s "$D/m.txt" "$WORK/b.s3"; then
  t_pass rename_in_s3
else t_fail rename_in_s3 "keys: $keys"; fi
step "$TOOL" rm "$(u3 /ops/sub/b.txt)"
step "$TOOL" rmdir "$(u3 /ops/sub)"
step "$TOOL" rmdir "$(u3 /ops)"
nfs-ls "$(u3 /ops)" >/dev/null 2>&1 && { ok=0; why+="[/ops still listed] "; }
# rmdir of a non-empty directory fails.
"$TOOL" rmdir "$(u3 /in)" >/dev/null 2>&1 && { ok=0; why+="[rmdir /in succeeded] "; }
if [ $ok = 1 ]; then t_pass rm_rmdir; else t_fail rm_rmdir "$why"; fi
s3f_ctl "$STACK" commit -e 1 / >/dev/null 2>&1
if t_wait_for 30 sh -c "[ -z \"\$(. '$S3F_ROOT/test/lib/s3.sh'; s3_ls '$B' '${P}ops/')\" ]"; then
  t_pass rm_in_s3
else t_fail rm_in_s3 "left: $(s3_ls "$B" "${P}ops/" | tr '\n' ' ')"; fi

# ---- READDIRPLUS of a 2,000-entry directory ----
T0=$(date +%s%N)
timeout 300 nfs-ls "$(u3 /bulk)" >"$WORK/bulk.ls" 2>"$WORK/bulk.err"
rc=$?
echo "# READDIRPLUS (nfs-ls, v3) of $BULK entries, first listing: $(( ($(date +%s%N) - T0) / 1000000 )) ms"
awk '{ print $NF, $(NF-1) }' "$WORK/bulk.ls" | sort >"$WORK/bulk.got"
dups=$(awk '{ print $NF }' "$WORK/bulk.ls" | sort | uniq -d | wc -l)
if [ $rc = 0 ] && [ "$dups" = 0 ] && cmp -s "$D/bulk.expect" "$WORK/bulk.got"; then
  t_pass readdirplus_2000
else t_fail readdirplus_2000 "rc $rc, $(wc -l <"$WORK/bulk.ls") lines, $dups repeated; $(diff "$D/bulk.expect" "$WORK/bulk.got" | head -n 4 | tr '\n' ' ')"; fi
# Again, now answered from the metadata store alone; and the same through v4.0.
timeout 300 nfs-ls "$(u3 /bulk)" 2>/dev/null | awk '{ print $NF, $(NF-1) }' | sort >"$WORK/bulk.got2"
timeout 300 nfs-ls "$(u4 /bulk)" 2>/dev/null | awk '{ print $NF, $(NF-1) }' | sort >"$WORK/bulk.got4"
if cmp -s "$D/bulk.expect" "$WORK/bulk.got2" && cmp -s "$D/bulk.expect" "$WORK/bulk.got4"; then
  t_pass readdir_2000_again_v3_v4
else t_fail readdir_2000_again_v3_v4 "v3 $(wc -l <"$WORK/bulk.got2"), v4 $(wc -l <"$WORK/bulk.got4") entries"; fi

# ---- one file through NFSv4.0 and NFSv3 at once ----
# Both clients hold the file open (the v4.0 one with an OPEN state, v3 has none) while each
# writes and the other reads; then a file rewritten over v3 is read over v4.0 and back.
ok=1 why=
printf 'written over v4.0\n' >"$D/both.v4"
step nfs-cp "$D/both.v4" "$(u4 /both.txt)"
out=$("$TOOL" both "$(u4 /both.txt)" "$(u3 /both.txt)" 2>&1) || { ok=0; why+="[v4.0 then v3: $out] "; }
out=$("$TOOL" both "$(u3 /both.txt)" "$(u4 /both.txt)" 2>&1) || { ok=0; why+="[v3 then v4.0: $out] "; }
st3=$("$TOOL" stat "$(u3 /both.txt)" 2>&1)
st4=$("$TOOL" stat "$(u4 /both.txt)" 2>&1)
[ -n "$st3" ] && [ "$st3" = "$st4" ] || { ok=0; why+="[stat v3 '$st3' v4 '$st4'] "; }
head -c 1000 "$D/three.bin" >"$D/both.v3"
step "$TOOL" rm "$(u3 /both.txt)"
step nfs-cp "$D/both.v3" "$(u3 /both.txt)"
nfs-cat "$(u4 /both.txt)" >"$WORK/both.cat" 2>/dev/null
cmp -s "$D/both.v3" "$WORK/both.cat" || { ok=0; why+="[v4.0 read of the v3 file differs] "; }
if [ $ok = 1 ]; then t_pass same_file_v3_v40; else t_fail same_file_v3_v40 "$why"; fi

# ---- export rules ----
# is_rofs OUT: the error names the read-only file system (NFS3ERR_ROFS / NFS4ERR_ROFS).
rofs() { grep -Eq 'ROFS|Read-only file system' <<<"$1"; }
printf 'must not land\n' >"$D/deny.txt"
# CLIENT 127.0.0.1 (the namespace's loopback): Access_Type = RO.
ok=1 why=
r3=$(s3f_ns_exec "$STACK" nfs-cat "$(HOST=127.0.0.1 u3 /in/small.txt)" 2>&1)
r4=$(s3f_ns_exec "$STACK" nfs-cat "$(HOST=127.0.0.1 u4 /in/small.txt)" 2>&1)
[ "$r3" = "small object" ] && [ "$r4" = "small object" ] || { ok=0; why+="[reads: v3 '$r3' v4 '$r4'] "; }
if [ $ok = 1 ]; then t_pass client_ro_reads; else t_fail client_ro_reads "$why"; fi
ok=1 why=
w3=$(s3f_ns_exec "$STACK" nfs-cp "$D/deny.txt" "$(HOST=127.0.0.1 u3 /deny3.txt)" 2>&1) &&
  { ok=0; why+="[v3 write succeeded] "; }
rofs "$w3" || { ok=0; why+="[v3: $w3] "; }
w4=$(s3f_ns_exec "$STACK" nfs-cp "$D/deny.txt" "$(HOST=127.0.0.1 u4 /deny4.txt)" 2>&1) &&
  { ok=0; why+="[v4 write succeeded] "; }
rofs "$w4" || { ok=0; why+="[v4: $w4] "; }
m3=$(s3f_ns_exec "$STACK" "$TOOL" mkdir "$(HOST=127.0.0.1 u3 /denyd)" 2>&1) && { ok=0; why+="[v3 mkdir succeeded] "; }
rofs "$m3" || { ok=0; why+="[v3 mkdir: $m3] "; }
x3=$(s3f_ns_exec "$STACK" "$TOOL" rm "$(HOST=127.0.0.1 u3 /in/small.txt)" 2>&1) && { ok=0; why+="[v3 rm succeeded] "; }
rofs "$x3" || { ok=0; why+="[v3 rm: $x3] "; }
x4=$(s3f_ns_exec "$STACK" "$TOOL" rename "$(HOST=127.0.0.1 u4 /in/small.txt)" /moved.txt 2>&1) &&
  { ok=0; why+="[v4 rename succeeded] "; }
rofs "$x4" || { ok=0; why+="[v4 rename: $x4] "; }
got=$(names "$(u3 /)" | tr '\n' ' ')
case $got in *deny*) ok=0; why+="[a refused name exists: $got] " ;; esac
[ "$(nfs-cat "$(u3 /in/small.txt)" 2>&1)" = "small object" ] || { ok=0; why+="[small.txt gone] "; }
if [ $ok = 1 ]; then t_pass client_ro_refuses_writes; else t_fail client_ro_refuses_writes "$why"; fi
echo "# refused: v3 $(grep -o 'NFS3ERR_[A-Z]*' <<<"$w3" | head -n 1), v4.0 $(grep -o 'NFS4ERR_[A-Z]*' <<<"$w4" | head -n 1)"

# Export 2: Access_Type = RO for everyone.
ok=1 why=
ro3() { printf 'nfs://%s/s3files-ro%s?version=3' "$H" "$1"; }
ro4() { printf 'nfs://%s/s3files-ro%s?version=4&nfsport=%s' "$H" "$1" "$NFS_PORT"; }
nfs-cat "$(ro3 /in/three.bin)" >"$WORK/ro.cat" 2>/dev/null
cmp -s "$D/three.bin" "$WORK/ro.cat" || { ok=0; why+="[v3 read differs] "; }
[ "$(nfs-cat "$(ro4 /in/small.txt)" 2>&1)" = "small object" ] || { ok=0; why+="[v4 read] "; }
if [ $ok = 1 ]; then t_pass export_ro_reads; else t_fail export_ro_reads "$why"; fi
ok=1 why=
w3=$(nfs-cp "$D/deny.txt" "$(ro3 /deny3.txt)" 2>&1) && { ok=0; why+="[v3 write succeeded] "; }
rofs "$w3" || { ok=0; why+="[v3: $w3] "; }
w4=$(nfs-cp "$D/deny.txt" "$(ro4 /deny4.txt)" 2>&1) && { ok=0; why+="[v4 write succeeded] "; }
rofs "$w4" || { ok=0; why+="[v4: $w4] "; }
m3=$("$TOOL" mkdir "$(ro3 /denyd)" 2>&1) && { ok=0; why+="[v3 mkdir succeeded] "; }
rofs "$m3" || { ok=0; why+="[v3 mkdir: $m3] "; }
x3=$("$TOOL" rm "$(ro3 /in/small.txt)" 2>&1) && { ok=0; why+="[v3 rm succeeded] "; }
rofs "$x3" || { ok=0; why+="[v3 rm: $x3] "; }
if [ $ok = 1 ]; then t_pass export_ro_refuses_writes; else t_fail export_ro_refuses_writes "$why"; fi
s3f_ctl "$STACK" commit -e 1 / >/dev/null 2>&1
s3f_ctl "$STACK" wait-synced -e 1 --timeout 60 / >/dev/null 2>&1
left=$(s3_ls "$B" "$P" | grep -E 'deny' | tr '\n' ' ')
if [ -z "$left" ]; then t_pass refused_writes_not_in_s3
else t_fail refused_writes_not_in_s3 "$left"; fi

# CLIENT <namespace address>: Squash = Root_Squash, Anonymous_Uid/Gid.
# (In a directory everyone may write to: the squashed root is nobody special.)
ok=1 why=
printf 'made by root, squashed\n' >"$D/sq.txt"
printf 'made by uid 1000\n' >"$D/user.txt"
step "$TOOL" mkdir "$(u3 /open)"
step "$TOOL" chmod "$(u3 /open)" 777
step s3f_ns_exec "$STACK" nfs-cp "$D/sq.txt" "$(u3 /open/sq.txt)"
step s3f_ns_exec "$STACK" "$TOOL" mkdir "$(u3 /open/sqdir)"
step s3f_ns_exec "$STACK" nfs-cp "$D/sq.txt" "$(u4 /open/sq4.txt)"
step s3f_ns_exec "$STACK" nfs-cp "$D/user.txt" "$(u3 /open/user.txt 'uid=1000&gid=1000')"
for f in sq.txt sqdir sq4.txt; do
  o=$("$TOOL" stat "$(u3 /open/$f)" 2>&1 | awk '{ print $2 ":" $3 }')
  [ "$o" = "$ANON_UID:$ANON_GID" ] || { ok=0; why+="[$f owned by $o] "; }
done
o=$("$TOOL" stat "$(u3 /open/user.txt)" 2>&1 | awk '{ print $2 ":" $3 }')
[ "$o" = "1000:1000" ] || { ok=0; why+="[user.txt owned by $o] "; }
nfs-ls "$(u3 /open)" 2>/dev/null | awk '$NF == "sq.txt" { print "# nfs-ls: " $0 }'
if [ $ok = 1 ]; then t_pass root_squash_over_nfs; else t_fail root_squash_over_nfs "$why"; fi
s3f_ctl "$STACK" commit -e 1 / >/dev/null 2>&1
s3f_ctl "$STACK" wait-synced -e 1 --timeout 60 / >/dev/null 2>&1
o=$(meta_uid "${P}open/sq.txt"):$(meta_gid "${P}open/sq.txt")
od=$(meta_uid "${P}open/sqdir/"):$(meta_gid "${P}open/sqdir/")
ou=$(meta_uid "${P}open/user.txt"):$(meta_gid "${P}open/user.txt")
if [ "$o" = "$ANON_UID:$ANON_GID" ] && [ "$od" = "$ANON_UID:$ANON_GID" ] && [ "$ou" = "1000:1000" ]; then
  t_pass root_squash_in_s3
else t_fail root_squash_in_s3 "x-amz-meta-uid:gid sq.txt $o, sqdir/ $od, user.txt $ou"; fi
# Root on this host (no squash rule for its address) stays root.
if nfs-cp "$D/sq.txt" "$(u3 /open/host-root.txt)" >/dev/null 2>&1 &&
   [ "$("$TOOL" stat "$(u3 /open/host-root.txt)" | awk '{ print $2 ":" $3 }')" = "0:0" ]; then
  t_pass no_squash_without_rule
else t_fail no_squash_without_rule "$("$TOOL" stat "$(u3 /open/host-root.txt)" 2>&1)"; fi

# Write permission on the directory is needed for a new name (ganesha leaves that check to
# the FSAL): squashed root and another user are refused in root's 0755 directory, over v3
# and v4.0, and no entry is made; root on this host is not.
ok=1 why=
for c in "v3 squashed:$(u3 /in/no3.txt)" "v4.0 squashed:$(u4 /in/no4.txt)"; do
  out=$(s3f_ns_exec "$STACK" nfs-cp "$D/sq.txt" "${c#*:}" 2>&1) && { ok=0; why+="[${c%%:*} created] "; }
  grep -Eq 'ACCES' <<<"$out" || { ok=0; why+="[${c%%:*}: $out] "; }
done
out=$(nfs-cp "$D/user.txt" "$(u3 /in/no-user.txt 'uid=1000&gid=1000')" 2>&1) && { ok=0; why+="[uid 1000 created in /in] "; }
grep -Eq 'ACCES' <<<"$out" || { ok=0; why+="[uid 1000: $out] "; }
out=$(s3f_ns_exec "$STACK" "$TOOL" mkdir "$(u3 /in/nodir)" 2>&1) && { ok=0; why+="[squashed mkdir in /in] "; }
grep -Eq 'ACCES' <<<"$out" || { ok=0; why+="[squashed mkdir: $out] "; }
got=$(names "$(u3 /in)" | tr '\n' ' ')
[ "$got" = "small.txt sub three.bin twelve.bin " ] || { ok=0; why+="[entries: $got] "; }
if [ $ok = 1 ]; then t_pass create_needs_dir_write; else t_fail create_needs_dir_write "$why"; fi

# ---- the Linux kernel's NFSv3 client (qemu guest): mounted with nolock and explicit ports
# (no rpcbind query) next to an NFSv4.1 mount of the same export; READDIRPLUS, O_EXCL
# create (EXCLUSIVE with a verifier), writes seen through the v4.1 mount and in S3.
if t_step build_guest "$S3F_ROOT/test/vm/build-guest.sh"; then
  head -c $((3 * 1024 * 1024 + 7)) /dev/urandom >"$D/k.bin"
  cat >"$WORK/guest.sh" <<'GUEST'
O3="vers=3,proto=tcp,port=$NFS_PORT,mountport=$MNT_PORT,mountproto=tcp,nolock,addr=$A,mountaddr=$A"
O4="vers=4.1,proto=tcp,port=$NFS_PORT,addr=$A,clientaddr=10.0.2.15"
mkdir -p /mnt/v3 /mnt/v4
mount_v3() { s3f-guest-util mount "$A:/s3files" /mnt/v3 nfs "$O3" && grep ' /mnt/v3 nfs .*vers=3' /proc/mounts; }
step k_mount_v3 mount_v3 || exit 1
step k_mount_v41 s3f-guest-util mount "$A:/s3files" /mnt/v4 nfs4 "$O4"
step k_read_v3 sh -c "test \$(sha256sum /mnt/v3/in/three.bin | cut -d' ' -f1) = $SHA_THREE"
step k_readdirplus_v3 sh -c "test \$(ls -l /mnt/v3/bulk | grep -c '^-') = $BULK && test \$(stat -c %s /mnt/v3/bulk/e0097) = 1"
T0=$(now_ms)
step k_write_v3 sh -c "cp /host$DATA/k.bin /mnt/v3/k.bin && sync"
note "3 MiB written over the kernel's NFSv3 client in $(elapsed_ms $T0) ms"
step k_v41_reads_v3_write cmp /host$DATA/k.bin /mnt/v4/k.bin
step k_mkdir_rename_v3 sh -c "mkdir /mnt/v3/kd && echo one > /mnt/v3/kd/a && mv /mnt/v3/kd/a /mnt/v3/kd/b && test \"\$(cat /mnt/v4/kd/b)\" = one && test ! -e /mnt/v3/kd/a"
step k_excl_create_v3 sh -c "set -C; echo x > /mnt/v3/kd/excl && ! (echo y > /mnt/v3/kd/excl) 2>/dev/null && test \"\$(cat /mnt/v3/kd/excl)\" = x"
step k_rm_rmdir_v3 sh -c "rm /mnt/v3/kd/b /mnt/v3/kd/excl && rmdir /mnt/v3/kd && test ! -e /mnt/v3/kd && test ! -e /mnt/v4/kd"
step k_umount sh -c "umount /mnt/v3 && umount /mnt/v4"
GUEST
  run_out=$WORK/guest.out
  "$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$WORK/guest.sh" --timeout 300 \
    --log "$WORK/console.log" --env NFS_PORT="$NFS_PORT" --env MNT_PORT="${S3FILES_MNT_PORT:-20048}" \
    --env A="$H" --env DATA="$D" --env BULK="$BULK" \
    --env SHA_THREE="$(sha256sum "$D/three.bin" | cut -d' ' -f1)" >"$run_out" 2>"$WORK/guest.err"
  guest_rc=$?
  cat "$run_out"
  T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$run_out")))
  if [ $guest_rc -ne 0 ] && ! grep -q '^FAIL ' "$run_out"; then
    t_fail guest "run-guest exited $guest_rc: $(tail -n 3 "$WORK/guest.err" | tr '\n' ' ')"
  fi
  s3f_ctl "$STACK" commit -e 1 / >/dev/null 2>&1
  s3f_ctl "$STACK" wait-synced -e 1 --timeout 60 / >/dev/null 2>&1
  if s3_get_file "$B" "${P}k.bin" "$WORK/k.s3" && cmp -s "$D/k.bin" "$WORK/k.s3" &&
     ! s3_exists "$B" "${P}kd/"; then
    t_pass k_write_in_s3
  else t_fail k_write_in_s3 "$(cmp "$D/k.bin" "$WORK/k.s3" 2>&1) $(s3_ls "$B" "${P}kd/" | head -n 3 | tr '\n' ' ')"; fi
fi

# ---- stop: nothing left behind ----
s3f_stack_stop "$STACK"
left=""
[ -e "/run/netns/$NS" ] && left+="namespace $NS; "
ip link show "$VETH" >/dev/null 2>&1 && left+="veth $VETH; "
[ -f "$STACK/netns.env" ] && left+="netns.env; "
for p in ganesha syncd rpcbind nsholder relay-s3; do [ -f "$STACK/$p.pid" ] && left+="$p.pid; "; done
if [ -z "$left" ]; then t_pass stop_cleans_up; else t_fail stop_cleans_up "$left"; fi

# ---- an endpoint given by host name: kept in the config, the namespace resolves the name
# to the relay (what `make run` does for a remote S3 endpoint). Needs a name other than
# localhost (libcurl never looks that one up) that this host resolves to RGW's address.
ep_host=${S3_ENDPOINT#*://}; ep_host=${ep_host%%[:/]*}
name=$(hostname)
if [ "$(getent ahostsv4 "$name" 2>/dev/null | awk 'NR == 1 { print $1 }')" = "$ep_host" ]; then
  STACK2=$WORK/stack-name
  if S3_ENDPOINT=${S3_ENDPOINT/"$ep_host"/"$name"} S3FILES_EXPORT_CLIENTS= S3FILES_CONF_EXTRA= \
       S3FILES_STATE_DIR=$WORK/state-name s3f_stack_start "$STACK2" >"$WORK/start2.out" 2>&1; then
    H2=$(s3f_nfs_host "$STACK2")
    c=$(nfs-cat "nfs://$H2/s3files/in/sub/deep.txt?version=3" 2>&1)
    e=$(grep -o 'Endpoint = "[^"]*"' "$STACK2/ganesha.conf" | head -n 1)
    if [ "$c" = "small object" ] && [ "$e" = "Endpoint = \"${S3_ENDPOINT/"$ep_host"/"$name"}\"" ]; then
      t_pass relay_by_host_name
    else t_fail relay_by_host_name "read '$c', $e"; fi
    s3f_stack_stop "$STACK2"
  else t_fail relay_by_host_name "$(tail -n 5 "$WORK/start2.out" | tr '\n' ' ')"; fi
else
  echo "# relay_by_host_name not run: $name does not resolve to $ep_host here"
fi
t_done
