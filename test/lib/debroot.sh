#!/usr/bin/env bash
# debroot.sh — a clean Debian root (debootstrap) for the deployment tests, from a cached
# tarball so that only the first run downloads anything.
#
#   test/lib/debroot.sh tarball     make $S3F_BUILD/deploy/debroot-<suite>.tgz if missing
#                                   (debootstrap --make-tarball: the downloaded packages)
#   test/lib/debroot.sh unpack DIR  a fresh root in DIR: unpacked from
#                                   debroot-<suite>-root.tar, the root debootstrap made
#                                   from the first tarball (made and kept the first time)
#
# Times on this 2-core machine: download ~130 s, debootstrap's install from the tarball
# ~160 s (both once per build dir), unpacking the root tar a few seconds.
# The mirror is the one apt on this host uses (the first deb822 or one-line "deb" source
# of Debian's main archive), so the test needs no network beyond what `make deps` needs.
# The root holds minbase plus the packages s3files depends on (nfs-ganesha, its FSAL
# libraries) and systemd (for its unit checker), so installing the .deb in it later needs
# no network: dpkg -i, no apt.
set -euo pipefail
: "${S3F_BUILD:=$(cd "$(dirname "$0")/../.." && pwd)/build}"
SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
CACHE=$S3F_BUILD/deploy
TARBALL=$CACHE/debroot-$SUITE.tgz
INCLUDE=nfs-ganesha,nfs-ganesha-vfs,liblmdb0,libcurl4,libssl3,libexpat1,systemd,ca-certificates,procps

debroot_mirror() {
  local m
  m=$(awk '/^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) { print u; exit } }' \
        s="$SUITE" /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -m1 '/debian/\?$' || true)
  if [ -z "$m" ]; then
    m=$(awk -v s="$SUITE" '$1 == "deb" && $3 == s { print $2; exit }' /etc/apt/sources.list \
          /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}

case ${1:-} in
  tarball)
    [ -s "$TARBALL" ] && { echo "$TARBALL"; exit 0; }
    mkdir -p "$CACHE"
    tmp=$CACHE/debroot-tmp.$$
    rm -rf "$tmp"
    debootstrap --variant=minbase --include="$INCLUDE" --make-tarball="$TARBALL.part" \
      "$SUITE" "$tmp" "$(debroot_mirror)" >&2
    rm -rf "$tmp"
    mv "$TARBALL.part" "$TARBALL"
    echo "$TARBALL"
    ;;
  unpack)
    dir=${2:?usage: debroot.sh unpack DIR}
    ROOTTAR=$CACHE/debroot-$SUITE-root.tar
    if [ ! -s "$ROOTTAR" ]; then
      [ -s "$TARBALL" ] || "$0" tarball >/dev/null
      tmp=$CACHE/debroot-root.$$
      rm -rf "$tmp"
      debootstrap --variant=minbase --include="$INCLUDE" --unpack-tarball="$TARBALL" \
        "$SUITE" "$tmp" "$(debroot_mirror)" >&2
      rm -f "$tmp"/var/cache/apt/archives/*.deb
      tar -C "$tmp" --numeric-owner -cf "$ROOTTAR.part" .
      rm -rf "$tmp"
      mv "$ROOTTAR.part" "$ROOTTAR"
    fi
    rm -rf "$dir"; mkdir -p "$dir"
    tar -C "$dir" --numeric-owner -xf "$ROOTTAR"
    ;;
  *) echo "usage: $0 tarball | unpack DIR" >&2; exit 2 ;;
esac
