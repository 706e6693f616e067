#!/usr/bin/env bash
# build-guest.sh [OUTDIR]: build the qemu guest used by the VM integration tests.
#
# Produces (default OUTDIR=<repo>/build/vm):
#   OUTDIR/vmlinux            the Debian kernel as an ELF with its PVH note (qemu -kernel boots it
#                             directly, no bootloader, no decompression in the guest)
#   OUTDIR/initramfs.cpio     busybox + the needed kernel modules + test/vm/guest/{init,guest.sh}
#   OUTDIR/kernel-version     e.g. 6.1.0-56-amd64
#
# The kernel is NOT installed on the host: the versioned linux-image-<ver>-amd64 package that
# the linux-image-amd64 metapackage depends on is fetched with `apt-get download` into
# OUTDIR/cache and unpacked with dpkg-deb -x under OUTDIR/kernel-<ver>.
#
# Idempotent: the result is stamped with the kernel version and a hash of the guest sources;
# a second run with nothing changed does nothing. Set S3F_VM_KPKG=linux-image-X-amd64 to pin a
# kernel package (default: whatever linux-image-amd64 depends on; falls back to the newest
# package already in OUTDIR/cache when apt has no answer, e.g. offline).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$ROOT/build/vm}
mkdir -p "$OUT/cache"
OUT=$(cd "$OUT" && pwd)
export LC_ALL=C

log() { printf '[build-guest] %s\n' "$*" >&2; }
die() { printf '[build-guest] ERROR: %s\n' "$*" >&2; exit 1; }

for t in busybox cpio xz gzip dpkg-deb apt-get apt-cache; do
  command -v "$t" >/dev/null || die "missing tool: $t (run scripts/deps.sh)"
done
BUSYBOX=$(command -v busybox)
file_is_static() { ! readelf -d "$1" 2>/dev/null | grep -q NEEDED; }
[ -x /bin/busybox ] && BUSYBOX=/bin/busybox
file_is_static "$BUSYBOX" || die "$BUSYBOX is not static: install busybox-static"

# Modules the guest loads (their dependency closure is added automatically).
# virtio_mmio: devices of qemu's microvm machine (no PCI); virtio_net: eth0; virtio_console: hvc0
# (the result channel); 9p*: host share;
# nfsv4 (+ nfs sunrpc lockd grace netfs fscache dns_resolver via depends=): the NFS client;
# nfsv3: its NFSv3 part (test/integration/nfsv3.sh);
# overlay: a writable guest /tmp on top of the host's /tmp inside the host tree (see init);
# fuse: /dev/fuse for the FUSE peers of `make bench` (the host's s3fs and rclone, run in the
# guest through host_run).
WANT_MODS=(virtio_mmio virtio_net virtio_console 9pnet_virtio 9p nfsv4 nfsv3 nfs sunrpc lockd
           grace netfs fscache dns_resolver overlay fuse)

# ---- which kernel ----
resolve_kpkg() {
  if [ -n "${S3F_VM_KPKG:-}" ]; then echo "$S3F_VM_KPKG"; return; fi
  local p
  p=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  if [ -z "$p" ]; then
    log "apt-cache knows no linux-image-amd64: apt-get update"
    apt-get update -qq >/dev/null 2>&1 || true
    p=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  fi
  if [ -z "$p" ]; then   # offline: newest package already downloaded
    p=$(ls "$OUT"/cache/linux-image-[0-9]*-amd64_*.deb 2>/dev/null | sort -V | tail -n1 | xargs -r basename | cut -d_ -f1)
  fi
  [ -n "$p" ] || die "cannot resolve the kernel package (apt-cache depends linux-image-amd64)"
  echo "$p"
}
KPKG=$(resolve_kpkg)
KVER=${KPKG#linux-image-}

# (guest/s3f-stress.c is not part of the image: stress.sh builds it and runs it from /host)
SRC_HASH=$(ls "$HERE"/guest/* | grep -v '/s3f-stress\.c$' |
  xargs cat "$HERE/build-guest.sh" "$HERE/tsc-khz.c" | sha256sum | cut -c1-16)
STAMP="$OUT/.stamp-$KVER-$SRC_HASH"
if [ -f "$STAMP" ] && [ -f "$OUT/vmlinux" ] && [ -f "$OUT/initramfs.cpio" ] && [ -x "$OUT/tsc-khz" ]; then
  log "up to date ($KVER)"
  exit 0
fi

# Serialize concurrent builds of the same OUTDIR.
exec 9>"$OUT/.lock"
if command -v flock >/dev/null; then flock 9; fi
if [ -f "$STAMP" ] && [ -f "$OUT/vmlinux" ] && [ -f "$OUT/initramfs.cpio" ] && [ -x "$OUT/tsc-khz" ]; then exit 0; fi

# ---- fetch + unpack the kernel package ----
KDIR="$OUT/kernel-$KVER"
if [ ! -f "$KDIR/.unpacked" ] || [ -f "$KDIR/.pruned" ]; then
  deb=$(ls "$OUT"/cache/"${KPKG}"_*.deb 2>/dev/null | sort -V | tail -n1 || true)
  if [ -z "$deb" ]; then
    log "apt-get download $KPKG"
    # Sandbox::User=root: the cache dir need not be readable by _apt.
    (cd "$OUT/cache" && apt-get -q -o APT::Sandbox::User=root download "$KPKG" >/dev/null) \
      || die "apt-get download $KPKG failed"
    deb=$(ls "$OUT"/cache/"${KPKG}"_*.deb | sort -V | tail -n1)
  fi
  log "unpacking $(basename "$deb")"
  # After a build KDIR is pruned to vmlinux (kept: extracting it costs more than unpacking).
  # (same package file as last time, or start over)
  [ "$(cat "$KDIR/.deb" 2>/dev/null)" = "$(basename "$deb")" ] || rm -rf "$KDIR"
  find "$KDIR" -mindepth 1 -maxdepth 1 ! -name vmlinux -exec rm -rf {} + 2>/dev/null || true
  mkdir -p "$KDIR"
  basename "$deb" > "$KDIR/.deb"
  dpkg-deb -x "$deb" "$KDIR"
  [ -f "$KDIR/vmlinux" ] && touch "$KDIR/vmlinux"   # newer than the unpacked vmlinuz
  touch "$KDIR/.unpacked"
fi
MODDIR="$KDIR/lib/modules/$KVER"
[ -d "$MODDIR" ] || die "no $MODDIR"

# ---- vmlinux: the ELF inside the bzImage (like the kernel's scripts/extract-vmlinux) ----
extract_vmlinux() {
  local img=$1 out=$2 tmp="$2.tmp" off
  # magic | decompressor
  local specs=(
    '\xFD7zXZ\x00|xz -dc'
    '\x1F\x8B\x08|gzip -dc'
    '\x28\xB5\x2F\xFD|zstd -dcq'
    'BZh|bzip2 -dc'
    '\x5D\x00\x00\x00|xz -dc --format=lzma'
  )
  for s in "${specs[@]}"; do
    local magic=${s%%|*} cmd=${s#*|}
    for off in $(grep -obUaP "$magic" "$img" | cut -d: -f1); do
      tail -c +$((off + 1)) "$img" | $cmd > "$tmp" 2>/dev/null || true
      if [ "$(head -c 4 "$tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
        mv "$tmp" "$out"; return 0
      fi
    done
  done
  rm -f "$tmp"; return 1
}
if [ ! -f "$KDIR/vmlinux" ] || [ "$KDIR/boot/vmlinuz-$KVER" -nt "$KDIR/vmlinux" ]; then
  log "extracting vmlinux"
  extract_vmlinux "$KDIR/boot/vmlinuz-$KVER" "$KDIR/vmlinux" || die "no ELF payload in vmlinuz-$KVER"
fi
# PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY, note type 0x12 of owner "Xen") is what lets
# qemu -kernel boot the ELF directly.
if command -v readelf >/dev/null; then
  readelf -n "$KDIR/vmlinux" 2>/dev/null | grep -E '^\s+Xen\s' | grep -qE '\(0x00000012\)|PHYS32' \
    || die "vmlinux has no PVH entry note (Xen note 0x12): qemu -kernel cannot boot it"
fi

# ---- module closure from the modules' own depends= (no depmod/kmod needed) ----
declare -A MPATH=() MFILE=() SEEN=()
while read -r rel; do
  f=$(basename "$rel"); f=${f%%.ko*}; MPATH[${f//-/_}]=$rel
done < "$MODDIR/modules.order"
BUILTIN=" $(sed -e 's,.*/,,' -e 's,\.ko.*,,' -e 's,-,_,g' "$MODDIR/modules.builtin" | tr '\n' ' ') "
mod_file() {  # module name -> readable .ko (decompressed into a cache when needed)
  local rel=${MPATH[$1]} src="$MODDIR/${MPATH[$1]}"
  [ -f "$src" ] || src=$(ls "$src"* 2>/dev/null | head -n1)
  case "$src" in
    *.ko) echo "$src" ;;
    *.ko.xz)  mkdir -p "$OUT/modcache"; xz -dc "$src" > "$OUT/modcache/$1.ko"; echo "$OUT/modcache/$1.ko" ;;
    *.ko.zst) mkdir -p "$OUT/modcache"; zstd -dcq "$src" > "$OUT/modcache/$1.ko"; echo "$OUT/modcache/$1.ko" ;;
    *.ko.gz)  mkdir -p "$OUT/modcache"; gzip -dc "$src" > "$OUT/modcache/$1.ko"; echo "$OUT/modcache/$1.ko" ;;
    *) die "module file for $1: $rel" ;;
  esac
}
ORDER=()
visit() {  # depth-first: dependencies first
  local m=${1//-/_}
  [ -n "${SEEN[$m]:-}" ] && return 0
  SEEN[$m]=1
  if [ -z "${MPATH[$m]:-}" ]; then
    case "$BUILTIN" in *" $m "*) return 0 ;; esac
    die "module $m: neither a module nor built in to $KVER"
  fi
  local f deps d
  f=$(mod_file "$m")
  deps=$(tr '\0' '\n' < "$f" | grep -a -m1 '^depends=' | cut -d= -f2 | tr ',' ' ' || true)
  for d in $deps; do visit "$d"; done
  MFILE[$m]=$f
  ORDER+=("$m")
}
for m in "${WANT_MODS[@]}"; do visit "$m"; done
log "modules: ${ORDER[*]}"


# ---- initramfs ----
STAGE="$OUT/initramfs.d"
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,lib/modules,etc,proc,sys,dev,tmp,run,root,host,ctl,mnt,var}
cp "$BUSYBOX" "$STAGE/bin/busybox"
for a in $("$BUSYBOX" --list); do
  [ "$a" = busybox ] || ln -sf busybox "$STAGE/bin/$a"
done
# Module signatures are stripped: checking them (sha256 + RSA, in TCG) costs ~0.3 s of boot.
# The kernel (MODULE_SIG without MODULE_SIG_FORCE) loads unsigned modules and only notes a
# taint flag in dmesg.
strip_sig() {
  local f=$1 size siglen
  [ "$(tail -c 28 "$f")" = "~Module signature appended~" ] || return 0
  size=$(stat -c %s "$f")
  # struct module_signature (12 bytes, sig_len = big-endian u32 at its end) precedes the magic
  siglen=$(tail -c 32 "$f" | head -c 4 | od -An -tu1 | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
  truncate -s $((size - 28 - 12 - siglen)) "$f"
}
for m in "${ORDER[@]}"; do
  cp "${MFILE[$m]}" "$STAGE/lib/modules/$m.ko"
  strip_sig "$STAGE/lib/modules/$m.ko"
  echo "$m" >> "$STAGE/lib/modules/load-order"
done
# Static helper: mount(2) with a raw option string, clock from a file's mtime, ms clocks.
command -v gcc >/dev/null || die "gcc is needed (build-essential)"
gcc -static -Os -s -Wall -o "$STAGE/bin/s3f-guest-util" "$HERE/guest/s3f-guest-util.c" \
  || die "building s3f-guest-util (static glibc: libc6-dev)"
# Host tool: the host TSC frequency, passed to the guest kernel by run-guest.sh.
gcc -O2 -Wall -o "$OUT/tsc-khz.tmp" "$HERE/tsc-khz.c" && mv "$OUT/tsc-khz.tmp" "$OUT/tsc-khz" \
  || die "building tsc-khz"
install -m 755 "$HERE/guest/init" "$STAGE/init"
install -m 644 "$HERE/guest/guest.sh" "$STAGE/lib/guest.sh"
# The helpers are shell functions in the script itself; these wrappers make them commands
# too, for child shells (step NAME sh -c '... now_ms ...'), timeout, xargs...
for f in step note fail nfs_mount host_run now_ms elapsed_ms mtime_ms host_now_ms clock_sync \
         host_signal host_wait; do
  printf '#!/bin/sh\n. /lib/guest.sh\n%s "$@"\n' "$f" > "$STAGE/bin/$f"
  chmod 755 "$STAGE/bin/$f"
done
echo "$KVER" > "$STAGE/etc/kernel-version"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$STAGE/etc/passwd"
printf 'root:x:0:\n' > "$STAGE/etc/group"
echo s3f-guest > "$STAGE/etc/hostname"
# Uncompressed: qemu loads it straight into guest memory and the kernel need not inflate it.
(cd "$STAGE" && find . -print0 | sort -z | cpio --null -o -H newc --quiet -R 0:0) > "$OUT/initramfs.cpio.tmp"
mv "$OUT/initramfs.cpio.tmp" "$OUT/initramfs.cpio"
if [ ! "$KDIR/vmlinux" -ef "$OUT/vmlinux" ]; then   # a hard link when possible (66 MB)
  rm -f "$OUT/vmlinux.tmp"
  ln "$KDIR/vmlinux" "$OUT/vmlinux.tmp" 2>/dev/null || cp "$KDIR/vmlinux" "$OUT/vmlinux.tmp"
  mv -f "$OUT/vmlinux.tmp" "$OUT/vmlinux"
fi
echo "$KVER" > "$OUT/kernel-version"
rm -rf "$STAGE" "$OUT/modcache"
# Keep build/vm small: drop the unpacked package (~430 MB) but vmlinux; the .deb stays in
# OUTDIR/cache, so a rebuild (guest sources changed) only unpacks it again (a few seconds).
find "$KDIR" -mindepth 1 -maxdepth 1 ! -name vmlinux ! -name .unpacked ! -name .deb -exec rm -rf {} +
touch "$KDIR/.pruned"
# other kernel versions' leftovers
for d in "$OUT"/kernel-[0-9]*/; do d=${d%/}; [ "$d" = "$KDIR" ] || rm -rf "$d"; done
for f in "$OUT"/cache/linux-image-*.deb; do
  case "$(basename "$f")" in "${KPKG}"_*) ;; *) rm -f "$f" ;; esac
done
rm -f "$OUT"/.stamp-*
touch "$STAMP"
log "built $OUT/vmlinux + $OUT/initramfs.cpio ($KVER, $(du -h "$OUT/initramfs.cpio" | cut -f1))"
