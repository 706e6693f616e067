#!/usr/bin/env bash
# make deps: idempotent install of everything the build, the tests and `make run` need.
#   1. Debian packages, with apt-get only (skipped when all are installed).
#   2. The source of the *installed* nfs-ganesha version, fetched with apt-get source,
#      checked against the sha256 in its .dsc, unpacked under build/ganesha, and configured
#      (cmake configure only) with the options Debian's binary was built with, so that our
#      FSAL sees the same config.h and struct layouts as /usr/bin/ganesha.nfsd.
# Output: build/ganesha/fsal.flags (the -D/-I flags ganesha uses to compile an FSAL).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build}

PKGS=(
  # build
  build-essential pkg-config cmake bison flex
  liblmdb-dev lmdb-utils libcurl4-openssl-dev libssl-dev liburcu-dev libexpat1-dev
  # ganesha: the server we load into, and what its configure needs
  nfs-ganesha nfs-ganesha-vfs libntirpc-dev libkrb5-dev libdbus-1-dev libnfsidmap-dev uuid-dev
  libblkid-dev libcap-dev libacl1-dev libattr1-dev
  # test peers: Ceph RGW as the S3 server, qemu + Debian kernel as the NFS client
  radosgw ceph-mon ceph-osd ceph-common
  qemu-system-x86 busybox-static xz-utils cpio zstd
  libnfs-utils libnfs-dev s3cmd python3 curl jq iproute2 procps psmisc git
  # real programs through the kernel client (test/integration/conformance.sh)
  rsync sqlite3
  # the OIDC key, certificate and JWT of test/integration/credp.sh
  openssl
  # NFSv3 (S3FILES_NFSV3=1): the private rpcbind in ganesha's namespace (nfs-ganesha
  # depends on it anyway), the TCP relays between the namespace and this host, nsenter
  rpcbind socat util-linux
  # man pages rendered and checked (test/integration/ops.sh, packaging.sh)
  man-db groff-base
  # benchmark peers (make bench): FUSE file systems over S3, run in the same qemu guest
  fuse3 s3fs rclone
  # the server-side chart (test/bench/server.sh)
  gnuplot-nox
  # the scale-out measurements (test/bench/scaleout.sh, doc/SCALE-OUT.md): a single-node
  # etcd and its gRPC client for Python, and librados for Python against the test cluster
  etcd-server etcd-client python3-etcd3 python3-rados
  # power-cut tests (test/integration/pcut.sh): the recorder is a FUSE file system
  libfuse3-dev
  # sanitizers and fuzzing
  clang libclang-rt-14-dev
  # apt-get source
  dpkg-dev
  # deployment tests (test/integration/deploy_vm.sh): a clean Debian root for the .deb,
  # booted with systemd-nspawn to run the units under systemd
  debootstrap systemd-container
  # failover (test/integration/failover.sh): ganesha's RADOS recovery backends
  # (libganesha_rados_recov.so, shipped in nfs-ganesha-ceph) and the grace database tool
  nfs-ganesha-ceph nfs-ganesha-rados-grace
)

log() { printf '[deps] %s\n' "$*" >&2; }

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# deb-src entry (deb822) so that apt-get source can fetch the ganesha source.
SRC_LIST=/etc/apt/sources.list.d/s3files-deb-src.sources
need_update=0
if [ ! -f "$SRC_LIST" ]; then
  log "adding $SRC_LIST"
  cat > "$SRC_LIST" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  need_update=1
fi

if [ ${#missing[@]} -gt 0 ] || [ $need_update = 1 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Nothing we install may start a system service (ganesha would take port 2049).
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    POLICY_RC_ADDED=1
  fi
  log "apt-get update"
  apt-get update -qq
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
  [ "${POLICY_RC_ADDED:-0}" = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

# ---- ganesha source matching the installed binary ----
GVER=$(dpkg-query -W -f='${Version}' nfs-ganesha)        # e.g. 4.3-2
GUP=${GVER%-*}                                            # 4.3
GDIR=$BUILD/ganesha
STAMP=$GDIR/.configured-$GVER
if [ -f "$STAMP" ] && [ -f "$GDIR/fsal.flags" ]; then
  exit 0
fi
rm -rf "$GDIR"
mkdir -p "$GDIR/dl"
log "fetching nfs-ganesha $GVER source"
(
  cd "$GDIR/dl"
  # Only the .orig.tar.gz is needed; the .debian.tar.xz may 404 on mirrors.
  apt-get source --download-only "nfs-ganesha=$GVER" >apt-source.log 2>&1 || true
  [ -f "nfs-ganesha_${GVER}.dsc" ] || { cat apt-source.log >&2; echo "no .dsc for nfs-ganesha $GVER" >&2; exit 1; }
  [ -f "nfs-ganesha_${GUP}.orig.tar.gz" ] || { cat apt-source.log >&2; echo "no orig tarball" >&2; exit 1; }
  want=$(awk '/^Checksums-Sha256:/{f=1;next} /^[^ ]/{f=0} f && $3 ~ /orig\.tar\.gz$/ {print $1}' "nfs-ganesha_${GVER}.dsc")
  have=$(sha256sum "nfs-ganesha_${GUP}.orig.tar.gz" | cut -d' ' -f1)
  if [ -z "$want" ] || [ "$want" != "$have" ]; then
    echo "sha256 mismatch for nfs-ganesha_${GUP}.orig.tar.gz: dsc=$want file=$have" >&2
    exit 1
  fi
  log "sha256 ok ($have)"
)
tar -xzf "$GDIR/dl/nfs-ganesha_${GUP}.orig.tar.gz" -C "$GDIR"
mv "$GDIR/nfs-ganesha-$GUP" "$GDIR/src"

# Configure only. Options are those of Debian's build of the binary (RelWithDebInfo,
# system ntirpc, no LTTng, libc allocator; 9P/NFSv3/NLM/RQUOTA/NFSACL3/GSSAPI/DBUS/NFSIDMAP
# on). FSAL_MEM stays enabled only so cmake writes the exact compile line of an FSAL,
# which we reuse for ours.
mkdir -p "$GDIR/cfg"
(
  cd "$GDIR/cfg"
  cmake -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DUSE_SYSTEM_NTIRPC=ON -DUSE_LTTNG=OFF -DALLOCATOR=libc \
    -DUSE_9P=ON -DUSE_NFS3=ON -DUSE_NLM=ON -DUSE_NFSACL3=ON -DUSE_RQUOTA=ON \
    -DUSE_DBUS=ON -DUSE_NFSIDMAP=ON -DUSE_GSS=ON -DDEBUG_SAL=OFF -DUSE_VSOCK=OFF -DUSE_NFS_RDMA=OFF \
    -DUSE_FSAL_MEM=ON -DUSE_FSAL_PROXY_V4=OFF -DUSE_FSAL_PROXY_V3=OFF -DUSE_FSAL_VFS=OFF \
    -DUSE_FSAL_LUSTRE=OFF -DUSE_FSAL_LIZARDFS=OFF -DUSE_FSAL_KVSFS=OFF -DUSE_FSAL_CEPH=OFF \
    -DUSE_FSAL_GPFS=OFF -DUSE_FSAL_XFS=OFF -DUSE_FSAL_GLUSTER=OFF -DUSE_FSAL_NULL=OFF \
    -DUSE_FSAL_RGW=OFF -DUSE_RADOS_RECOV=OFF -DRADOS_URLS=OFF -DUSE_GUI_ADMIN_TOOLS=OFF \
    -DUSE_ADMIN_TOOLS=OFF -DUSE_MAN_PAGE=OFF \
    ../src/src >cmake.log 2>&1 || { tail -40 cmake.log >&2; exit 1; }
)
CFG=$GDIR/cfg/include/config.h
for m in _USE_9P _USE_NFS3 _USE_NLM _USE_RQUOTA USE_NFSACL3 _HAVE_GSSAPI USE_DBUS USE_NFSIDMAP; do
  grep -q "^#define $m 1" "$CFG" || { echo "configure did not enable $m (see $GDIR/cfg/cmake.log)" >&2; exit 1; }
done
for m in DEBUG_SAL USE_LTTNG _USE_NFS_RDMA; do
  if grep -q "^#define $m " "$CFG"; then echo "configure enabled $m; Debian's binary has it off" >&2; exit 1; fi
done

# The -D and -I flags cmake uses for an FSAL source file, minus the target-specific ones.
line=$(grep -o '"command": *"[^"]*mem_main\.c[^"]*"' "$GDIR/cfg/compile_commands.json" | head -1)
[ -n "$line" ] || { echo "no FSAL compile line in compile_commands.json" >&2; exit 1; }
flags=$(printf '%s\n' "$line" | tr ' ' '\n' | grep -E '^-(D|I)' | grep -v -E '^-Dfsalmem_EXPORTS$|^-I/include$' | tr '\n' ' ')
printf '%s\n' "$flags" > "$GDIR/fsal.flags"
log "ganesha $GVER configured; FSAL flags: $flags"
touch "$STAMP"
