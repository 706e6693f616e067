#!/usr/bin/env bash
# deploy_vm: the VM mount target, end to end: the .deb installed into a clean Debian root
# (debootstrap, test/lib/debroot.sh; no network needed after the first run), its systemd
# units started from the installed unit files, a Linux kernel NFSv4.1 client writing
# through it, and the write in S3.
#
# The units run under real systemd: the root is booted with systemd-nspawn --boot (sharing
# this host's network, so it reaches the RGW and the guest reaches ganesha), and the test
# drives it with systemctl/journalctl through nsenter. This works although PID 1 of this
# machine is not systemd and its cgroups are v1 (--register=no --keep-unit: no machined,
# no host systemd to ask). Where systemd-nspawn is missing or cannot boot the root (or
# with S3F_NO_NSPAWN=1), test/lib/unitrun.py runs the installed units as systemd would,
# chrooted into the root (environment files, Exec lines, Type=notify readiness through
# $NOTIFY_SOCKET, After=/Before= order, reverse stop order; no sandboxing); the "#" lines
# say which ran. The unit files are also checked by `systemd-analyze verify` in the root.
#
#   deb_installs        dpkg -i into the clean root succeeds offline (its dependencies are
#                       Debian's), files in place; timings as "#" lines
#   units_verify        systemd-analyze verify accepts both units
#   only s3files.conf   the operator writes /etc/s3files/s3files.conf only; starting
#                       s3files-ganesha.service pulls in s3files-syncd.service, whose
#                       ExecStartPre renders /etc/s3files/ganesha.conf
#   ready_before_serve  the daemon (Type=notify) is active, i.e. its READY=1 arrived,
#                       before ganesha is executed
#   kernel mount        a qemu guest mounts the export with vers=4.1, writes a file and
#                       reads it back
#   daemon_killed_...   kill -9 of the daemon: systemd restarts it (Restart=) and ganesha,
#                       stopped with it (BindsTo=), comes back too (Upholds=); the dirty
#                       files survive it
#   stop_order          `systemctl stop s3files-syncd` stops ganesha first, then the daemon's
#                       ExecStop commits, then the daemon stops
#   written_file_in_s3  the guest's files (commit interval one hour) are in S3 with their
#                       bytes after the stop
#   image_*             the sidecar image as an OCI layout (build-oci.sh) from this root: no
#                       configuration, credentials or state in it; its layer unpacked and
#                       its entrypoint run chrooted into it, configured by environment only,
#                       serves, and drains a file written over NFS into S3 on SIGTERM
set -uo pipefail
T_SUITE=deploy_vm
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"
. "$S3F_ROOT/test/lib/s3.sh"

s3f_test_setup dvm
R=$WORK/root
UPID=
cleanup() {
  [ -n "$UPID" ] && kill -TERM "$UPID" 2>/dev/null && sleep 5 && kill -KILL "$UPID" 2>/dev/null
  # The roots take ~1 GB a run: kept only when something failed, to look into.
  [ "$T_FAILED" -eq 0 ] && rm -rf "$R" "$WORK/image-root" "$WORK/oci" "$WORK/oci.tar"
  return 0
}
trap cleanup EXIT

# What this machine offers (systemd-nspawn --boot is tried below, unitrun.py is the fallback).
echo "# PID 1 is '$(cat /proc/1/comm)', /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup 2>/dev/null || echo absent)," \
     "systemd-nspawn $(command -v systemd-nspawn >/dev/null && echo present || echo absent)"

# ---- the clean root and the package ----
T0=$(date +%s%N)
if ! "$S3F_ROOT/test/lib/debroot.sh" unpack "$R" >"$WORK/debroot.out" 2>&1; then
  t_fail debroot "$(tail -n 3 "$WORK/debroot.out" | tr '\n' ' ')"; t_done
fi
echo "# clean Debian root ready in $(( ($(date +%s%N) - T0) / 1000000 )) ms (cached in $S3F_BUILD/deploy)"
if ! deb=$(BUILD=$S3F_BUILD "$S3F_ROOT/packaging/build-deb.sh" 2>"$WORK/deb.err"); then
  t_fail deb_installs "build-deb: $(tail -n 2 "$WORK/deb.err" | tr '\n' ' ')"; t_done
fi
cp "$deb" "$R/tmp/s3files.deb"
T0=$(date +%s%N)
if chroot "$R" dpkg -i /tmp/s3files.deb >"$WORK/dpkg.out" 2>&1 &&
   chroot "$R" dpkg-query -W -f='${Status}' s3files | grep -q 'install ok installed' &&
   [ -x "$R/usr/sbin/s3files-genconf" ] && [ -f "$R/lib/systemd/system/s3files-ganesha.service" ] &&
   [ -f "$R/usr/lib/$(gcc -print-multiarch)/ganesha/libfsals3files.so" ]; then
  t_pass deb_installs
  echo "# dpkg -i in the clean root: $(( ($(date +%s%N) - T0) / 1000000 )) ms"
else
  t_fail deb_installs "$(tail -n 5 "$WORK/dpkg.out" | tr '\n' ' ')"; t_done
fi
if chroot "$R" systemd-analyze verify /lib/systemd/system/s3files-syncd.service \
     /lib/systemd/system/s3files-ganesha.service >"$WORK/verify.out" 2>&1 &&
   ! grep -v 'kernel does not support IPv6' "$WORK/verify.out" | grep -q .; then
  t_pass units_verify
else
  t_fail units_verify "$(grep -v 'kernel does not support IPv6' "$WORK/verify.out" | head -n 5 | tr '\n' ' ')"
fi

# ---- what an operator writes: s3files.conf (+ a credentials file) ----
NFS_PORT=$(t_free_port)
mkdir -p "$R/etc/s3files"
umask 077
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
  "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$R/etc/s3files/credentials"
umask 022
cat >"$R/etc/s3files/s3files.conf" <<CONF
# written by test/integration/deploy_vm.sh
bucket = $S3_BUCKET
prefix = $S3_PREFIX
endpoint = $S3_ENDPOINT
region = $S3_REGION
credentials_file = /etc/s3files/credentials
clients = 127.0.0.1
commit_interval = 3600
nfs_port = $NFS_PORT
bind_addr = 127.0.0.1
# a test machine: no grace period after start, a private D-Bus name
graceless = true
dbus_name_prefix = s3fdvm$$
CONF
: >"$WORK/events"
# ---- start the units: for real under systemd (systemd-nspawn --boot), else unitrun.py ----
NSPID= LEADER= MODE=unitrun
# in_ct CMD...: run CMD inside the booted container (all its namespaces, its root).
in_ct() { nsenter -t "$LEADER" -a "$@"; }
# ct_prop UNIT PROP: a unit property from systemd in the container.
ct_prop() { in_ct systemctl show -P "$2" "$1" 2>/dev/null; }
if [ -z "${S3F_NO_NSPAWN:-}" ] && command -v systemd-nspawn >/dev/null; then
  # The root shares this host's network: Debian's own ganesha and rpcbind, enabled by
  # their packages, must not start there (they would take ports 2049 and 111 of this
  # host); an operator turns nfs-ganesha off as well (doc/DEPLOY.md).
  chroot "$R" systemctl mask nfs-ganesha.service nfs-ganesha-lock.service rpcbind.service \
    rpcbind.socket >/dev/null 2>&1
  # --register=no --keep-unit: no machined and no systemd on this host to register with
  systemd-nspawn --boot -D "$R" --register=no --keep-unit --console=pipe -q \
    </dev/null >"$WORK/boot.out" 2>&1 &
  NSPID=$!; UPID=$NSPID
  for i in $(seq 1 100); do
    LEADER=$(ps -o pid=,comm= --ppid "$NSPID" | awk '$2 == "systemd" { print $1 }')
    [ -n "$LEADER" ] && break
    kill -0 "$NSPID" 2>/dev/null || break; sleep 0.2
  done
  # until systemd answers (its socket appears a moment after it starts) and has booted
  state=
  for i in $(seq 1 900); do
    [ -n "$LEADER" ] && kill -0 "$NSPID" 2>/dev/null || break
    state=$(nsenter -t "$LEADER" -a systemctl is-system-running 2>&1)
    case $state in running|degraded) break ;; esac
    sleep 0.2
  done
  if [ -n "$LEADER" ] && { [ "$state" = running ] || [ "$state" = degraded ]; }; then
    MODE=systemd
    echo "# systemd booted in the root with systemd-nspawn ($state; failed units: $(in_ct systemctl list-units --failed --plain --no-legend | awk '{print $1}' | xargs))"
  else
    echo "# systemd-nspawn --boot did not come up (state '${state:-}'): $(tail -n 3 "$WORK/boot.out" | tr '\n' ' ')"
    kill -TERM "$NSPID" 2>/dev/null; sleep 3; kill -KILL "$NSPID" 2>/dev/null; wait "$NSPID" 2>/dev/null
    NSPID= UPID=
  fi
fi
echo "# units run by: $MODE"
started=0
if [ $MODE = systemd ]; then
  # A bad line in s3files.conf: the start fails in ExecStartPre, and the journal names
  # file, line and setting; ganesha never starts.
  cp "$R/etc/s3files/s3files.conf" "$WORK/s3files.conf.good"
  sed -i 's/^commit_interval = .*/commit_interval = soon/' "$R/etc/s3files/s3files.conf"
  bad_line=$(grep -n '^commit_interval = soon' "$R/etc/s3files/s3files.conf" | cut -d: -f1)
  if ! in_ct systemctl start s3files-ganesha.service >/dev/null 2>&1 &&
     in_ct journalctl --no-pager -u s3files-syncd 2>&1 |
       grep -q "/etc/s3files/s3files.conf:$bad_line: commit_interval: \"soon\" is not a number" &&
     [ "$(ct_prop s3files-ganesha.service ActiveState)" != active ]; then
    t_pass bad_line_fails_start_named
  else
    t_fail bad_line_fails_start_named "$(in_ct journalctl --no-pager -n 5 -u s3files-syncd 2>&1 | tr '\n' ' ')"
  fi
  cp "$WORK/s3files.conf.good" "$R/etc/s3files/s3files.conf"
  in_ct systemctl reset-failed >/dev/null 2>&1
  # The operator's one command: the ganesha unit pulls in the daemon (BindsTo=).
  if in_ct systemctl start s3files-ganesha.service >"$WORK/start.out" 2>&1 &&
     [ "$(ct_prop s3files-syncd.service ActiveState)" = active ] &&
     [ "$(ct_prop s3files-ganesha.service ActiveState)" = active ] && t_wait_for 60 s3f__listening "$NFS_PORT"; then
    t_pass units_start; started=1
  else
    t_fail units_start "$(tr '\n' ' ' <"$WORK/start.out"); $(in_ct journalctl --no-pager -n 15 -u s3files-syncd -u s3files-ganesha 2>&1 | tr '\n' ' ')"
  fi
  in_ct journalctl --no-pager -o short-monotonic -u s3files-syncd -u s3files-ganesha 2>&1 |
    grep -v ':FSAL :\|NFS STARTUP\|THREAD\|DBUS\|CONFIG\|NFS CB\|DISP\|RW LOCK\|NFS4\|-------' | head -n 30 | sed 's/^/#   /'
  # Ordered: the daemon became active (Type=notify: at READY=1) before ganesha was started.
  ra=$(ct_prop s3files-syncd.service ActiveEnterTimestampMonotonic)
  gs=$(ct_prop s3files-ganesha.service ExecMainStartTimestampMonotonic)
  ra_type=$(ct_prop s3files-syncd.service Type)
  if [ "$ra_type" = notify ] && [ -n "$ra" ] && [ -n "$gs" ] && [ "$ra" -gt 0 ] && [ "$ra" -le "$gs" ]; then
    t_pass ready_before_serve
  else
    t_fail ready_before_serve "syncd (Type=$ra_type) active at $ra us, ganesha exec at $gs us"
  fi
  if [ "$(in_ct systemctl show -P Names s3files-syncd.service)" = s3files-syncd.service ] &&
     in_ct systemctl list-dependencies --plain s3files-ganesha.service | grep -q s3files-syncd.service; then
    t_pass units_pulled_and_ordered
  else
    t_fail units_pulled_and_ordered "s3files-ganesha.service does not pull in s3files-syncd.service"
  fi
else
  # A private mount namespace: /proc and /dev of the root vanish with it.
  unshare -m --propagation private sh -c '
    mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && mount --rbind /sys "$1/sys" &&
    exec python3 "$2" --root "$1" --events "$3" s3files-ganesha.service' \
    unitrun "$R" "$S3F_ROOT/test/lib/unitrun.py" "$WORK/events" >"$WORK/units.out" 2>&1 &
  UPID=$!
  if t_wait_for 180 grep -q -e ' all-started ' -e ' failed ' "$WORK/events" &&
     grep -q ' all-started ' "$WORK/events" && t_wait_for 30 s3f__listening "$NFS_PORT"; then
    t_pass units_start; started=1
  else
    t_fail units_start "$(tail -n 3 "$WORK/events" | tr '\n' ' '); $(tail -n 5 "$WORK/units.out" | tr '\n' ' ')"
  fi
  echo "# unit events:"; sed 's/^/#   /' "$WORK/events"
  order=$(awk '$2 == "order" { $1 = $2 = $3 = ""; print }' "$WORK/events" | xargs)
  if [ "$order" = "s3files-syncd.service s3files-ganesha.service" ]; then t_pass units_pulled_and_ordered
  else t_fail units_pulled_and_ordered "order '$order'"; fi
  # READY=1 of the daemon before ganesha's exec
  lr=$(grep -n ' ready s3files-syncd.service' "$WORK/events" | cut -d: -f1)
  lg=$(grep -n ' exec s3files-ganesha.service' "$WORK/events" | cut -d: -f1)
  if [ -n "$lr" ] && [ -n "$lg" ] && [ "$lr" -lt "$lg" ]; then t_pass ready_before_serve
  else t_fail ready_before_serve "ready at event '$lr', ganesha exec at '$lg'"; fi
fi
if grep -q 'Generated by s3files-genconf' "$R/etc/s3files/ganesha.conf" 2>/dev/null &&
   grep -q "NFS_Port = $NFS_PORT;" "$R/etc/s3files/ganesha.conf"; then
  t_pass genconf_by_execstartpre
else
  t_fail genconf_by_execstartpre "no generated /etc/s3files/ganesha.conf in the root"
fi

# ---- a kernel client through it ----
head -c 2000000 /dev/urandom >"$WORK/data/k.bin"
cat >"$WORK/guest.sh" <<'GUEST'
M=/mnt/s3
step mount nfs_mount "" /s3files $M || exit 1
step write sh -c "cp /host$DATA/k.bin $M/k.bin && echo hello > $M/hello.txt && sync"
step read_back sh -c "cmp /host$DATA/k.bin $M/k.bin && test \"\$(cat $M/hello.txt)\" = hello"
step umount umount $M
GUEST
if [ $started = 1 ]; then
  "$S3F_ROOT/test/vm/run-guest.sh" --suite "$T_SUITE" --script "$WORK/guest.sh" --timeout 400 \
    --log "$WORK/console.log" --env NFS_PORT="$NFS_PORT" --env DATA="$WORK/data" \
    >"$WORK/guest.out" 2>"$WORK/guest.err"
  grc=$?
  cat "$WORK/guest.out"
  T_FAILED=$((T_FAILED + $(grep -c '^FAIL ' "$WORK/guest.out")))
  if [ $grc -ne 0 ] && ! grep -q '^FAIL ' "$WORK/guest.out"; then
    t_fail guest "run-guest exited $grc: $(tail -n 3 "$WORK/guest.err" | tr '\n' ' ')"
  fi
  if s3_exists "$S3_BUCKET" "${S3_PREFIX}k.bin"; then
    t_fail dirty_until_stop "k.bin in S3 before the stop (commit interval is an hour)"
  else
    t_pass dirty_until_stop
  fi
fi
# s3filesctl finds the rendered configuration by itself (no -f, no S3FILES_CONF)
if [ $MODE = systemd ] && [ $started = 1 ]; then
  if out=$(in_ct env -u S3FILES_CONF s3filesctl status 2>&1) && grep -q ' dirty=[1-9]' <<<"$out"; then
    t_pass ctl_default_conf
  else
    t_fail ctl_default_conf "s3filesctl status without -f in the root: $(tr '\n' ' ' <<<"$out" | cut -c1-300)"
  fi
fi

# ---- the daemon killed: systemd restarts it, and ganesha with it (Upholds=) ----
if [ $MODE = systemd ] && [ $started = 1 ]; then
  sp=$(ct_prop s3files-syncd.service MainPID)
  in_ct kill -KILL "$sp"
  back() {
    [ "$(in_ct systemctl is-active s3files-syncd.service s3files-ganesha.service | xargs)" = "active active" ] &&
      [ "$(ct_prop s3files-syncd.service MainPID)" != "$sp" ]
  }
  T0=$(date +%s%N)
  if t_wait_for 90 back && t_wait_for 30 s3f__listening "$NFS_PORT"; then
    t_pass daemon_killed_both_restart
    echo "# kill -9 of the daemon: both units active again after $(( ($(date +%s%N) - T0) / 1000000 )) ms"
  else
    t_fail daemon_killed_both_restart "$(in_ct systemctl is-active s3files-syncd.service s3files-ganesha.service | xargs)"
  fi
fi

# ---- stop: ganesha first, then the daemon drains ----
T0=$(date +%s%N)
if [ $MODE = systemd ]; then
  # Stopping the daemon's unit stops ganesha first (BindsTo=, After=), then its ExecStop
  # commits, then SIGTERM.
  in_ct systemctl stop s3files-syncd.service >"$WORK/stop.out" 2>&1; src=$?
  echo "# systemctl stop s3files-syncd.service took $(( ($(date +%s%N) - T0) / 1000000 )) ms"
  # The order as systemd's journal has it (a stopped unit's timestamps are gone with it):
  # ganesha stopped, then the daemon's stop began, its ExecStop committed, it stopped.
  in_ct journalctl --no-pager -o short-monotonic -u s3files-syncd -u s3files-ganesha >"$WORK/journal" 2>&1
  grep -E 'Stopp|committed=|stopping' "$WORK/journal" | tail -n 8 | sed 's/^/#   /'
  line() { grep -n -- "$1" "$WORK/journal" | tail -n 1 | cut -d: -f1; }
  l1=$(line 'Stopped s3files-ganesha.service'); l2=$(line 'Stopping s3files-syncd.service')
  l3=$(line 'OK committed=[1-9]'); l4=$(line 'Stopped s3files-syncd.service')
  if [ $src -eq 0 ] && [ -n "$l1" ] && [ -n "$l2" ] && [ -n "$l3" ] && [ -n "$l4" ] &&
     [ "$l1" -lt "$l2" ] && [ "$l2" -lt "$l3" ] && [ "$l3" -lt "$l4" ] &&
     [ "$(ct_prop s3files-ganesha.service ActiveState)" = inactive ]; then
    t_pass stop_order
  else
    t_fail stop_order "stop rc $src; journal lines: ganesha stopped $l1, daemon stopping $l2, commit $l3, daemon stopped $l4"
  fi
  in_ct systemctl poweroff >/dev/null 2>&1
  for i in $(seq 1 600); do kill -0 "$NSPID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$NSPID" 2>/dev/null; wait "$NSPID" 2>/dev/null; UPID= NSPID=
else
  kill -TERM "$UPID"
  for i in $(seq 1 2400); do kill -0 "$UPID" 2>/dev/null || break; sleep 0.1; done
  wait "$UPID"; urc=$?; UPID=
  echo "# stop took $(( ($(date +%s%N) - T0) / 1000000 )) ms (unitrun exit $urc)"
  sed -n '/ stop /,$p' "$WORK/events" | sed 's/^/#   /'
  sg=$(grep -n ' stopped s3files-ganesha.service' "$WORK/events" | cut -d: -f1)
  ss=$(grep -n ' stop s3files-syncd.service' "$WORK/events" | cut -d: -f1)
  if [ $urc -eq 0 ] && [ -n "$sg" ] && [ -n "$ss" ] && [ "$sg" -lt "$ss" ] &&
     grep -q ' stop-exec s3files-syncd.service .*commit' "$WORK/events"; then
    t_pass stop_order
  else
    t_fail stop_order "exit $urc, ganesha stopped at event '$sg', daemon stop at '$ss'"
  fi
fi
printf 'hello\n' >"$WORK/data/hello.expect"
if s3_get_file "$S3_BUCKET" "${S3_PREFIX}k.bin" "$WORK/k.got" 2>/dev/null && cmp -s "$WORK/k.got" "$WORK/data/k.bin" &&
   s3_get_file "$S3_BUCKET" "${S3_PREFIX}hello.txt" "$WORK/h.got" 2>/dev/null && cmp -s "$WORK/h.got" "$WORK/data/hello.expect"; then
  t_pass written_file_in_s3
else
  t_fail written_file_in_s3 "k.bin / hello.txt not in S3 with their bytes after the stop"
fi
# ---- the sidecar image, built without a container engine, run without one ----
# (docker here is a client without a daemon; buildah/podman are not installed.) The OCI
# layout is made from the root above, which has the package installed; its one layer is
# then unpacked and its entrypoint run chrooted into it, configured only by environment
# variables (credentials too), as a container runtime would run it.
echo "# docker: $(docker info >/dev/null 2>&1 && echo 'daemon reachable' || echo 'no daemon'): image built as an OCI layout by packaging/container/build-oci.sh"
T0=$(date +%s%N)
if img=$("$S3F_ROOT/packaging/container/build-oci.sh" "$R" "$WORK/oci" 2>"$WORK/oci.err"); then
  echo "# OCI image: $(du -k "$img" | cut -f1) KiB, built in $(( ($(date +%s%N) - T0) / 1000000 )) ms"
  bad=
  for b in "$WORK"/oci/blobs/sha256/*; do
    [ "$(sha256sum <"$b" | cut -d' ' -f1)" = "${b##*/}" ] || bad+=" ${b##*/}"
  done
  man=$(jq -r '.manifests[0].digest' "$WORK/oci/index.json" | cut -d: -f2)
  cfg=$(jq -r '.config.digest' "$WORK/oci/blobs/sha256/$man" | cut -d: -f2)
  lay=$(jq -r '.layers[0].digest' "$WORK/oci/blobs/sha256/$man" | cut -d: -f2)
  ep=$(jq -r '.config.Entrypoint[0]' "$WORK/oci/blobs/sha256/$cfg")
  did=$(jq -r '.rootfs.diff_ids[0]' "$WORK/oci/blobs/sha256/$cfg" | cut -d: -f2)
  leaked=$(gzip -dc "$WORK/oci/blobs/sha256/$lay" | tar -t | grep -E '^\./(etc/s3files/|var/lib/s3files/.)' | head -n 3 | xargs)
  if [ -z "$bad" ] && [ "$ep" = /usr/lib/s3files/entrypoint ] && [ -z "$leaked" ] &&
     [ "$(gzip -dc "$WORK/oci/blobs/sha256/$lay" | sha256sum | cut -d' ' -f1)" = "$did" ]; then
    t_pass image_oci_layout
  else
    t_fail image_oci_layout "digests:$bad entrypoint '$ep' config/state in the image: $leaked"
  fi
else
  t_fail image_oci_layout "$(tail -n 3 "$WORK/oci.err" | tr '\n' ' ')"
fi
I=$WORK/image-root
mkdir -p "$I"
if [ -n "${lay:-}" ] && gzip -dc "$WORK/oci/blobs/sha256/$lay" | tar -C "$I" -xf - 2>"$WORK/img.err"; then
  IPORT=$(t_free_port)   # minor versions 0, 1 below: libnfs (nfs-cp) speaks NFSv4.0
  head -c 3000 /dev/urandom >"$WORK/data/img.bin"   # libnfs v4 WRITE: <4 KiB
  unshare -m --propagation private sh -c '
    root=$1; shift
    mount -t proc proc "$root/proc" && mount --rbind /dev "$root/dev" && exec chroot "$root" env -i "$@"' \
    image "$I" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    S3FILES_BUCKET="$S3_BUCKET" S3FILES_PREFIX="${S3_PREFIX}img/" S3FILES_ENDPOINT="$S3_ENDPOINT" \
    S3FILES_REGION="$S3_REGION" AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
    AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" S3FILES_CLIENTS=127.0.0.1 \
    S3FILES_COMMIT_INTERVAL=3600 S3FILES_NFS_PORT="$IPORT" S3FILES_BIND_ADDR=127.0.0.1 \
    S3FILES_GRACELESS=true S3FILES_DBUS_NAME_PREFIX="s3fimg$$" S3FILES_MINOR_VERSIONS="0, 1" \
    /usr/lib/s3files/entrypoint >"$WORK/image.out" 2>&1 &
  IPID=$!; UPID=$IPID
  serving() { grep -q "NFS SERVER INITIALIZED" "$WORK/image.out" || ! kill -0 "$IPID" 2>/dev/null; }
  # (ganesha listens, and has logged its export, a moment before it answers)
  if t_wait_for 120 serving && grep -q "S3FILES: export 1 serves" "$WORK/image.out" &&
     t_wait_for 30 s3f__listening "$IPORT" &&
     t_wait_for 20 nfs-cp "$WORK/data/img.bin" "nfs://127.0.0.1/s3files/img.bin?version=4&nfsport=$IPORT"; then
    t_pass image_serves
  else
    t_fail image_serves "$(grep -e entrypoint -e CRIT "$WORK/image.out" | tail -n 4 | tr '\n' ' ')"
  fi
  kill -TERM "$IPID"
  for i in $(seq 1 1200); do kill -0 "$IPID" 2>/dev/null || break; sleep 0.1; done
  wait "$IPID"; irc=$?; UPID=
  if [ $irc -eq 0 ] && s3_get_file "$S3_BUCKET" "${S3_PREFIX}img/img.bin" "$WORK/img.got" 2>/dev/null &&
     cmp -s "$WORK/img.got" "$WORK/data/img.bin"; then
    t_pass image_sigterm_drains
  else
    t_fail image_sigterm_drains "exit $irc: $(grep entrypoint "$WORK/image.out" | tail -n 3 | tr '\n' ' ')"
  fi
else
  t_fail image_serves "layer not unpacked: $(tail -n 2 "$WORK/img.err" 2>/dev/null | tr '\n' ' ')"
fi
t_done
