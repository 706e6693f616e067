#!/usr/bin/env bash
# packaging: the Debian package (packaging/build-deb.sh) and `make install` layout.
#
#   - the .deb depends on exactly the installed nfs-ganesha version (the FSAL ABI is
#     checked by version number only) and on the packages of the libraries it links;
#   - it holds the FSAL where Debian's ganesha looks for FSALs, the daemon, the CLI, the
#     systemd unit (whose ExecStart and EnvironmentFile are in the package), the conffile,
#     docs and the example configuration, which passes `s3filesctl config-check`;
#   - install.sh into a DESTDIR gives the same files;
#   - the packaged binaries run: ganesha loads the packaged FSAL (export up) and the
#     packaged daemon and CLI serve it against the real RGW.
set -uo pipefail
T_SUITE=packaging
. "$(dirname "$0")/../lib/common.sh"
. "$S3F_ROOT/test/lib/s3files.sh"

WORK=$S3F_BUILD/test-tmp/packaging.$$
rm -rf "$WORK"; mkdir -p "$WORK"
STACK=$WORK/stack
cleanup() { s3f_stack_stop "$STACK" 2>/dev/null; }
trap cleanup EXIT

if deb=$(BUILD=$S3F_BUILD "$S3F_ROOT/packaging/build-deb.sh" 2>"$WORK/build.err") && [ -f "$deb" ]; then
  t_pass build_deb
  echo "# $(basename "$deb"): $(du -k "$deb" | cut -f1) KiB"
else
  t_fail build_deb "$(tail -n 3 "$WORK/build.err" | tr '\n' ' ')"
  t_done
fi

gver=$(dpkg-query -W -f='${Version}' nfs-ganesha)
depends=$(dpkg-deb -f "$deb" Depends)
echo "# Depends: $depends"
case "$depends" in
  "nfs-ganesha (= $gver),"*) t_pass depends_exact_ganesha ;;
  *) t_fail depends_exact_ganesha "want nfs-ganesha (= $gver) first" ;;
esac
missing=
for p in liblmdb0 libcurl4 libssl3 libexpat1 libc6; do
  echo "$depends" | grep -q "$p (>= " || missing+=" $p"
done
if [ -z "$missing" ]; then t_pass depends_libraries; else t_fail depends_libraries "missing:$missing"; fi
# Failover (doc/DEPLOY.md) needs ganesha's RADOS recovery backend, of ganesha's version,
# and the grace database tool: suggested, not required by a single gateway.
suggests=$(dpkg-deb -f "$deb" Suggests)
case "$suggests" in
  *"nfs-ganesha-ceph (= $gver)"*nfs-ganesha-rados-grace*) t_pass suggests_rados_recovery ;;
  *) t_fail suggests_rados_recovery "Suggests: '$suggests'" ;;
esac

X=$WORK/x
dpkg-deb -x "$deb" "$X"
ma=$(gcc -print-multiarch)
missing=
for f in "usr/lib/$ma/ganesha/libfsals3files.so" usr/sbin/s3files-syncd usr/bin/s3filesctl \
         lib/systemd/system/s3files-syncd.service etc/default/s3files \
         usr/share/doc/s3files/README.md usr/share/doc/s3files/SEMANTICS.md \
         usr/share/doc/s3files/examples/ganesha.conf \
         usr/share/man/man8/s3files-syncd.8.gz usr/share/man/man8/s3filesctl.8.gz \
         usr/share/man/man5/s3files.conf.5.gz usr/share/bash-completion/completions/s3filesctl \
         usr/share/s3files/grafana/s3files.json \
         usr/sbin/s3files-genconf lib/systemd/system/s3files-ganesha.service \
         usr/lib/s3files/entrypoint usr/share/doc/s3files/DEPLOY.md \
         usr/share/doc/s3files/examples/s3files.conf usr/share/doc/s3files/examples/cloud-init.yaml; do
  [ -e "$X/$f" ] || missing+=" $f"
done
if [ -z "$missing" ]; then t_pass contents; else t_fail contents "missing:$missing"; fi
# The packaged s3files.conf(5) documents every setting the packaged CLI knows.
missing=
page=$(zcat "$X/usr/share/man/man5/s3files.conf.5.gz" | LC_ALL=C MANWIDTH=200 man -l - 2>/dev/null)
for name in $("$X/usr/bin/s3filesctl" config-help | sed -n 's/^  \([A-Za-z][A-Za-z0-9_]*\) .*/\1/p'); do
  grep -Eq "^ {7}$name( |$)" <<<"$page" || missing+=" $name"
done
if [ -z "$missing" ] && [ -n "$page" ]; then t_pass man_conf_every_setting
else t_fail man_conf_every_setting "s3files.conf(5) lacks:${missing:- (no page)}"; fi
if bash -c '. "$1" && complete -p s3filesctl' _ "$X/usr/share/bash-completion/completions/s3filesctl" >/dev/null 2>&1 &&
   python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$X/usr/share/s3files/grafana/s3files.json"; then
  t_pass completion_dashboard_load
else
  t_fail completion_dashboard_load "the completion does not register or the dashboard is no JSON"
fi
# Debian's ganesha finds FSALs in its multiarch dir: its own VFS FSAL is there too.
if dpkg -L nfs-ganesha-vfs 2>/dev/null | grep -q "^/usr/lib/$ma/ganesha/"; then
  t_pass fsal_dir_is_debians
else
  t_fail fsal_dir_is_debians "nfs-ganesha-vfs does not install into /usr/lib/$ma/ganesha"
fi
if dpkg-deb -I "$deb" conffiles 2>/dev/null | grep -qx /etc/default/s3files; then
  t_pass conffile
else
  t_fail conffile "/etc/default/s3files is not a conffile"
fi
unit=$X/lib/systemd/system/s3files-syncd.service
exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
envf=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$unit")
if [ -x "$X$exe" ] && [ -f "$X$envf" ] && grep -q '^\[Install\]' "$unit"; then
  t_pass unit_refers_to_packaged_files
else
  t_fail unit_refers_to_packaged_files "ExecStart '$exe' / EnvironmentFile '$envf'"
fi
# The example s3files.conf renders a ganesha.conf the packaged CLI accepts.
if out=$(S3FILESCTL="$X/usr/bin/s3filesctl" "$X/usr/sbin/s3files-genconf" -n \
           -c "$X/usr/share/doc/s3files/examples/s3files.conf" 2>&1); then
  t_pass example_s3files_conf_valid
else
  t_fail example_s3files_conf_valid "$out"
fi
if out=$("$X/usr/bin/s3filesctl" -f "$X/usr/share/doc/s3files/examples/ganesha.conf" config-check 2>&1); then
  t_pass example_config_valid
else
  t_fail example_config_valid "$out"
fi

# install.sh gives the same tree (less the package metadata)
D=$WORK/destdir
if BUILD=$S3F_BUILD "$S3F_ROOT/packaging/install.sh" "$D" >/dev/null 2>"$WORK/install.err"; then
  if diff <(cd "$X" && find . | sort) <(cd "$D" && find . | sort) >"$WORK/tree.diff"; then
    t_pass install_matches_package
  else
    t_fail install_matches_package "$(head -n 5 "$WORK/tree.diff" | tr '\n' ' ')"
  fi
else
  t_fail install_matches_package "$(tail -n 2 "$WORK/install.err" | tr '\n' ' ')"
fi

# The packaged binaries serve an export against the real RGW.
RGW_DIR=${RGW_TEST_DIR:-$S3F_BUILD/test-rgw}
if [ -f "$RGW_DIR/env" ]; then
  set -a; . "$RGW_DIR/env"; set +a
  export S3_PREFIX="pkg-$$/"
  export S3FILES_PLUGINS="$X/usr/lib/$ma/ganesha" S3FILES_SYNCD="$X/usr/sbin/s3files-syncd" \
         S3FILES_CTL="$X/usr/bin/s3filesctl"
  if s3f_stack_start "$STACK" >"$WORK/stack.out" 2>&1; then
    t_pass packaged_fsal_loads
    if s3f_ctl "$STACK" status | grep -q "^EXPORT id=1 "; then t_pass packaged_daemon_serves
    else t_fail packaged_daemon_serves "$(s3f_ctl "$STACK" status 2>&1 | head -n 2 | tr '\n' ' ')"; fi
  else
    t_fail packaged_fsal_loads "$(tail -n 5 "$WORK/stack.out" | tr '\n' ' ')"
  fi
else
  t_fail packaged_fsal_loads "no RGW env at $RGW_DIR/env (run through test/run.sh)"
fi
t_done
