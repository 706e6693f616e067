#!/usr/bin/env bash
# build-deb.sh: build/pkg/s3files_<version>_<arch>.deb from the current build.
#
# The FSAL is built against the exact ganesha source of the installed nfs-ganesha (the
# FSAL ABI is only checked by version number), so the package depends on exactly that
# nfs-ganesha version; the other dependencies are the packages owning the shared
# libraries the binaries link (found with ldd + dpkg -S), at least the installed version.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=$BUILD/pkg
ROOT=$OUT/root
rm -rf "$ROOT"
mkdir -p "$ROOT/DEBIAN"
BUILD=$BUILD packaging/install.sh "$ROOT" >/dev/null

ARCH=$(dpkg --print-architecture)
GVER=$(dpkg-query -W -f='${Version}' nfs-ganesha)
REV=$(git rev-parse --short=10 HEAD 2>/dev/null || echo unknown)
VERSION=${S3FILES_VERSION:-0.1.0~git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date +%Y%m%d).$REV}

# Dependencies from what the binaries link directly (DT_NEEDED), resolved to files by ldd.
declare -A pkgs=()
while read -r lib; do
  owner=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -n 1 | cut -d: -f1) ||
    owner=$(dpkg -S "$lib" 2>/dev/null | head -n 1 | cut -d: -f1) || true
  [ -n "$owner" ] && pkgs[$owner]=1
done < <(for b in "$ROOT"/usr/sbin/* "$ROOT"/usr/bin/* "$ROOT"/usr/lib/*/ganesha/*.so; do
           [ "$(head -c 4 "$b")" = "$(printf '\177ELF')" ] || continue   # scripts: no libraries
           for so in $(objdump -p "$b" | awk '$1 == "NEEDED" { print $2 }'); do
             ldd "$b" | awk -v so="$so" '$1 == so && $3 ~ /^\// { print $3 }'
           done
         done | sort -u)
deps="nfs-ganesha (= $GVER)"
for p in $(printf '%s\n' "${!pkgs[@]}" | sort); do
  case $p in nfs-ganesha|libc6) continue ;; esac
  deps+=", $p (>= $(dpkg-query -W -f='${Version}' "$p"))"
done
deps+=", libc6 (>= $(dpkg-query -W -f='${Version}' libc6))"

SIZE=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
cat >"$ROOT/DEBIAN/control" <<CTL
Package: s3files
Version: $VERSION
Architecture: $ARCH
Maintainer: s3files developers <dev@s3files.invalid>
Installed-Size: $SIZE
Depends: $deps
Suggests: nfs-ganesha-ceph (= $GVER), nfs-ganesha-rados-grace
Section: net
Priority: optional
Homepage: https://github.com/s3files/s3files
Description: NFSv4.1 gateway that serves an S3 bucket as a shared POSIX file system
 s3files is an FSAL for NFS-Ganesha plus a sync daemon: clients mount a bucket (or a
 prefix) with mount -t nfs4, and the data stays plain S3 objects, one per file, that
 other S3 tools keep reading and writing. Changes are staged locally and committed as
 whole-object PUTs; S3-side changes show up in the file view.
CTL
echo /etc/default/s3files >"$ROOT/DEBIAN/conffiles"
cat >"$ROOT/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
SH
cat >"$ROOT/DEBIAN/postrm" <<'SH'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
SH
chmod 0755 "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/postrm"
DEB=$OUT/s3files_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"
