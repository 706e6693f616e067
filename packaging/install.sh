#!/usr/bin/env bash
# install.sh DESTDIR: install the built s3files into DESTDIR (e.g. / or a staging root for
# a package), in Debian's layout. Used by `make install` and packaging/build-deb.sh.
#
#   <multiarch libdir>/ganesha/libfsals3files.so   where Debian's ganesha looks for FSALs
#                                                   (no Plugins_Dir setting needed)
#   /usr/sbin/s3files-syncd  /usr/sbin/s3files-genconf  /usr/bin/s3filesctl
#   /lib/systemd/system/s3files-{syncd,ganesha}.service  /etc/default/s3files
#   /usr/lib/s3files/entrypoint                     the container entrypoint
#   /usr/share/doc/s3files/{README.md,SEMANTICS.md,DEPLOY.md,
#                           examples/{ganesha.conf,s3files.conf,cloud-init.yaml}}
#   /usr/share/man/man8/{s3files-syncd,s3filesctl}.8.gz  /usr/share/man/man5/s3files.conf.5.gz
#   /usr/share/bash-completion/completions/s3filesctl
#   /usr/share/s3files/grafana/s3files.json   (Grafana dashboard of Metrics_Listen)
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:?usage: install.sh DESTDIR}
BUILD=${BUILD:-build}
MA=$(gcc -print-multiarch 2>/dev/null || true)
LIBDIR=/usr/lib${MA:+/$MA}

for f in "$BUILD/lib/libfsals3files.so" "$BUILD/bin/s3files-syncd" "$BUILD/bin/s3filesctl" \
         "$BUILD/man/s3files.conf.5"; do
  [ -f "$f" ] || { echo "install.sh: $f is missing: run make first" >&2; exit 1; }
done
install -d "$DEST$LIBDIR/ganesha" "$DEST/usr/sbin" "$DEST/usr/bin" "$DEST/lib/systemd/system" \
  "$DEST/etc/default" "$DEST/usr/share/doc/s3files/examples" "$DEST/usr/lib/s3files"
# Stripped of debug info (kept in the build tree); the FSAL keeps its dynamic symbols.
install -m 0644 "$BUILD/lib/libfsals3files.so" "$DEST$LIBDIR/ganesha/libfsals3files.so"
strip --strip-debug "$DEST$LIBDIR/ganesha/libfsals3files.so"
install -m 0755 -s "$BUILD/bin/s3files-syncd" "$DEST/usr/sbin/s3files-syncd"
install -m 0755 -s "$BUILD/bin/s3filesctl" "$DEST/usr/bin/s3filesctl"
install -m 0755 packaging/s3files-genconf "$DEST/usr/sbin/s3files-genconf"
install -m 0755 packaging/container/entrypoint "$DEST/usr/lib/s3files/entrypoint"
install -m 0644 packaging/s3files-syncd.service packaging/s3files-ganesha.service \
  "$DEST/lib/systemd/system/"
if [ ! -e "$DEST/etc/default/s3files" ]; then
  install -m 0644 packaging/default "$DEST/etc/default/s3files"
fi
install -m 0644 README.md doc/SEMANTICS.md doc/DEPLOY.md "$DEST/usr/share/doc/s3files/"
install -m 0644 conf/ganesha.conf.example "$DEST/usr/share/doc/s3files/examples/ganesha.conf"
install -m 0644 packaging/examples/s3files.conf packaging/examples/cloud-init.yaml \
  "$DEST/usr/share/doc/s3files/examples/"
# Man pages (s3files.conf.5 is made by the build from the settings table), completion,
# the dashboard.
install -d "$DEST/usr/share/man/man5" "$DEST/usr/share/man/man8" \
  "$DEST/usr/share/bash-completion/completions" "$DEST/usr/share/s3files/grafana"
for m in doc/man/s3files-syncd.8 doc/man/s3filesctl.8 "$BUILD/man/s3files.conf.5"; do
  sect=${m##*.}
  gzip -9n <"$m" >"$DEST/usr/share/man/man$sect/$(basename "$m").gz"
  chmod 0644 "$DEST/usr/share/man/man$sect/$(basename "$m").gz"
done
install -m 0644 cli/s3filesctl.bash-completion "$DEST/usr/share/bash-completion/completions/s3filesctl"
install -m 0644 packaging/grafana/s3files.json "$DEST/usr/share/s3files/grafana/s3files.json"
echo "installed into ${DEST:-/} (FSAL in $LIBDIR/ganesha)"
