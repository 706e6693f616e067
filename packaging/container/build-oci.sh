#!/usr/bin/env bash
# build-oci.sh ROOT OUT: the s3files sidecar image as an OCI image layout (directory OUT,
# and OUT.tar of it), from ROOT: a Debian root (debootstrap) with the s3files package
# already installed (dpkg -i). For machines without a container engine; the image is the
# one packaging/container/Containerfile describes: one layer, the entrypoint
# /usr/lib/s3files/entrypoint, SIGTERM to stop, /var/lib/s3files a volume.
#
#   skopeo copy oci-archive:OUT.tar docker://REGISTRY/s3files:TAG    to publish it
#   podman load -i OUT.tar                                           to run it locally
set -euo pipefail
ROOT=${1:?usage: build-oci.sh ROOT OUT}
OUT=${2:?usage: build-oci.sh ROOT OUT}
[ -x "$ROOT/usr/lib/s3files/entrypoint" ] || { echo "build-oci.sh: $ROOT has no s3files installed" >&2; exit 1; }
ARCH=$(dpkg --print-architecture)
rm -rf "$OUT" "$OUT.tar"
mkdir -p "$OUT/blobs/sha256"
tmp=$OUT/.layer.tar

# One layer: the root without what a running container never reads (apt lists and
# caches, logs, the mount points' contents), and without any s3files configuration,
# credentials or state the root may hold (a root used for tests): the image is
# configured by its environment and gets its State_Dir from a volume.
tar -C "$ROOT" --numeric-owner --sort=name --mtime=@0 \
  --exclude=./proc/* --exclude=./sys/* --exclude=./dev/* --exclude=./run/* --exclude=./tmp/* \
  --exclude=./var/lib/apt/lists/* --exclude=./var/cache/apt/* --exclude=./var/log/* \
  --exclude=./etc/s3files --exclude=./var/lib/s3files/* --exclude=./tmp/s3files.deb \
  -cf "$tmp" .
diff_id=$(sha256sum <"$tmp" | cut -d' ' -f1)
gzip -n -6 <"$tmp" >"$tmp.gz"
rm -f "$tmp"
layer=$(sha256sum <"$tmp.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$tmp.gz")
mv "$tmp.gz" "$OUT/blobs/sha256/$layer"

# blob FILE: move FILE into the blob store; prints "DIGEST SIZE".
blob() {
  local d s
  d=$(sha256sum <"$1" | cut -d' ' -f1); s=$(stat -c %s "$1")
  mv "$1" "$OUT/blobs/sha256/$d"
  echo "$d $s"
}
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cat >"$OUT/.config" <<JSON
{"created":"$created","architecture":"$ARCH","os":"linux",
 "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
  "Entrypoint":["/usr/lib/s3files/entrypoint"],"StopSignal":"SIGTERM",
  "Volumes":{"/var/lib/s3files":{}},"ExposedPorts":{"2049/tcp":{}},
  "Labels":{"org.opencontainers.image.title":"s3files sidecar"}},
 "rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},
 "history":[{"created":"$created","created_by":"packaging/container/build-oci.sh"}]}
JSON
read -r cfg cfg_size < <(blob "$OUT/.config")
cat >"$OUT/.manifest" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$cfg","size":$cfg_size},
 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$layer","size":$layer_size}]}
JSON
read -r man man_size < <(blob "$OUT/.manifest")
printf '{"imageLayoutVersion":"1.0.0"}\n' >"$OUT/oci-layout"
cat >"$OUT/index.json" <<JSON
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "digest":"sha256:$man","size":$man_size,
 "annotations":{"org.opencontainers.image.ref.name":"latest"}}]}
JSON
tar -C "$OUT" -cf "$OUT.tar" oci-layout index.json blobs
echo "$OUT.tar"
