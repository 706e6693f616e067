# s3files.sh — start and stop an s3files gateway (ganesha.nfsd with our FSAL + s3files-syncd)
# on loopback, for the tests and for `make run`. Source it.
#
#   s3f_stack_start DIR    write DIR/ganesha.conf, start ganesha and syncd, wait until both
#                          serve; prints nothing on success, the log tails on failure
#   s3f_stack_stop DIR     stop both by PID (TERM, then KILL after 10 s); idempotent
#   s3f_ganesha_start DIR / s3f_ganesha_stop DIR / s3f_syncd_start DIR / s3f_syncd_stop DIR
#   s3f_ctl DIR ARGS...    run s3filesctl against DIR/ganesha.conf
#   s3f_nfs_host DIR       the address NFS clients on this host reach ganesha at: 127.0.0.1,
#                          or with S3FILES_NFSV3=1 / S3FILES_NETNS=1 the namespace's address
#   s3f_ns_exec DIR CMD... run CMD in the stack's network namespace (S3FILES_NFSV3=1 or
#                          S3FILES_NETNS=1 only);
#                          a client there reaches ganesha at 127.0.0.1 or at the namespace's
#                          address, and ganesha sees it come from that same address
#   s3f_vfs_start DIR      the reference server: the same ganesha binary with FSAL_VFS
#                          (nfs-ganesha-vfs) exporting DIR/export as /vfs, NFSv4 on
#                          127.0.0.1; sets S3F_VFS_PORT and S3F_VFS_PID; 1 with the reason
#                          on stderr if it is not installed or does not start
#   s3f_vfs_stop           stop it (idempotent)
#
# Settings (environment; S3_* and AWS_* as written by test/lib/rgw.sh into its env file):
#   S3_ENDPOINT S3_REGION S3_BUCKET S3_PREFIX AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
#   NFS_PORT                 (default: a free port)
#   S3FILES_STATE_DIR        (default DIR/state)
#   S3FILES_COMMIT_INTERVAL  seconds (default 60)
#   S3FILES_POLL_MS          re-list interval of imported directories (default 5000)
#   S3FILES_EXPORT_EXTRA     extra lines for the FSAL block (tests)
#   S3FILES_EXPORT_CLIENTS   extra lines for export 1's EXPORT block itself, e.g. CLIENT
#                            blocks (tests)
#   S3FILES_CONF_EXTRA       extra top-level blocks, e.g. a second EXPORT (tests)
#   S3FILES_NFSV4_EXTRA      extra lines for the NFSV4 block, e.g. RecoveryBackend and
#                            Grace_Period (tests)
#   S3FILES_GRACELESS        NFSV4 Graceless (default true: no grace period after a start)
#   S3FILES_DAEMON_EXTRA     extra lines for the top-level S3FILES block (tests), e.g.
#                            'Notify_Listen = "127.0.0.1:PORT";'
#   S3FILES_PLUGINS          directory holding libfsals3files.so (default $S3F_BUILD/lib)
#   S3FILES_GANESHA_ENV      VAR=VALUE words set for ganesha.nfsd alone (no spaces inside a
#                            value), e.g. LD_PRELOAD and ASAN_OPTIONS for the sanitizer FSAL
#   S3FILES_SYNCD            syncd binary (default $S3F_BUILD/bin/s3files-syncd)
#   S3FILES_BIND             address ganesha listens on (default 127.0.0.1)
#   S3FILES_NFSV3=1          serve NFSv3 (with MOUNT) besides NFSv4, from a network
#                            namespace with a private rpcbind (below)
#   S3FILES_MNT_PORT         MOUNT port with S3FILES_NFSV3=1 (default 20048)
#   S3FILES_NETNS=1          run the whole gateway, ganesha and s3files-syncd, in a network
#                            namespace of its own (the one below; NFSv4 only unless
#                            S3FILES_NFSV3=1 too): several gateways on this host, each with
#                            its own addresses; its Notify_Listen / Metrics_Listen given as
#                            @NS_ADDR@:PORT are reachable from this host (and from RGW)
#   S3FILES_RELAY_NFS=1      with S3FILES_NFSV3=1 or S3FILES_NETNS=1, also listen on
#                            S3FILES_BIND:NFS_PORT (and with S3FILES_NFSV3=1 on
#                            S3FILES_BIND:S3FILES_MNT_PORT) in this host's namespace and
#                            relay to ganesha (`make run`: clients on other machines; the
#                            qemu guest, which reaches only this host's 127.0.0.1)
# In the *_EXTRA and *_CLIENTS texts, @HOST_ADDR@ is replaced by the address that clients
# on this host come from as ganesha sees them (127.0.0.1; with S3FILES_NFSV3=1 the host end
# of the veth), @NS_ADDR@ by the namespace's own address (127.0.0.1 without S3FILES_NFSV3),
# and @S3@ by export 1's Bucket, Prefix, Endpoint, Region and Credentials_File lines (for a
# second export of the same bucket). With S3FILES_NETNS=1, @NS_ADDR@ is the namespace's
# address and @HOST_ADDR@ the host end of the veth, as with S3FILES_NFSV3=1. NFSv3 clients
# mount the Pseudo path (Mount_Path_Pseudo): export 1 is Export_Id 1, Pseudo /s3files;
# mount HOST:/s3files.
#
# NFSv3 (S3FILES_NFSV3=1). Ganesha serving NFSv3 must register NFS and MOUNT with an
# rpcbind (Debian's build exits at start without one) and unregisters them at every start,
# so pointed at this host's rpcbind it would break the host's own NFS services. It runs
# instead in a network namespace of its own (s3f-N) with a private rpcbind. Both also get
# a private /run (a tmpfs, in a mount namespace that a `sleep` process holds open):
# rpcbind's socket /run/rpcbind.sock and its lock file are file system paths, which a
# network namespace does not separate, and ganesha registers through that socket. A veth
# pair joins the namespace to this host: a /30 out of the benchmark range 198.18.0.0/15 in
# which this host has no address, .1 on the host end, .2 in the namespace. Clients on this
# host reach ganesha at the .2 address (s3f_nfs_host), through rpcbind or by port.
# S3 traffic: the namespace routes nowhere but the veth. A relay (socat, in this host's
# namespace, bound to the host end of the veth) forwards to the S3 endpoint: an endpoint
# given as an IP address is replaced in the config by the relay's address (both daemons
# use it); one given by name keeps its name (for TLS) and the namespace's /etc/hosts maps
# that name to the relay. NLM is off (NFSv3 clients mount with nolock; their locks stay
# local to each client), RQUOTA is off. Everything is started and stopped by PID; the veth
# and the namespace are deleted on stop. The host's rpcbind and services are never used.
#
# S3FILES_NETNS=1 (test/integration/gateways.sh: two gateways on one bucket) uses the same
# namespace, veth, private /run, rpcbind (ganesha registers NFSv4 with it too) and S3 relay,
# and also starts s3files-syncd in it, so each gateway's HTTP endpoints (Notify_Listen,
# Metrics_Listen) listen on its own address. The control socket is a path in DIR, reachable
# from this host's namespace as ever. netns.env records which of the two it is
# (S3F_NS_V3, S3F_NS_SYNCD).

: "${S3F_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${S3F_BUILD:=$S3F_ROOT/build}"

. "$S3F_ROOT/test/lib/ports.sh"

# s3f__quote STR: a ganesha config string in double quotes.
s3f__quote() {
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

# s3f__subst TEXT HOST_ADDR NS_ADDR S3_LINES: the placeholders of the *_EXTRA texts.
s3f__subst() {
  local t=${1//@HOST_ADDR@/$2}
  t=${t//@NS_ADDR@/$3}
  printf '%s' "${t//@S3@/$4}"
}

s3f__write_conf() {
  local dir=$1 state=$2 port=$3
  local endpoint=${S3_ENDPOINT:-} endpoint_line="" prefix_line="" s3_lines
  local protocols=4 bind=${S3FILES_BIND:-127.0.0.1} mnt_line="" host_addr=127.0.0.1
  local ns_addr=127.0.0.1
  if [ -f "$dir/netns.env" ]; then
    . "$dir/netns.env"
    bind=0.0.0.0 host_addr=$S3F_NS_HOST_ADDR ns_addr=$S3F_NS_ADDR
    if [ "$S3F_NS_V3" = 1 ]; then
      protocols="3, 4"
      mnt_line="MNT_Port = ${S3FILES_MNT_PORT:-20048};"
    fi
    [ -n "$S3F_NS_ENDPOINT" ] && endpoint=$S3F_NS_ENDPOINT
  fi
  [ -n "$endpoint" ] && endpoint_line="Endpoint = $(s3f__quote "$endpoint");"
  [ -n "${S3_PREFIX:-}" ] && prefix_line="Prefix = $(s3f__quote "$S3_PREFIX");"
  # Credentials go to a 0600 credentials file, never into the config file.
  umask 077
  cat >"$dir/credentials" <<EOF
[default]
aws_access_key_id = ${AWS_ACCESS_KEY_ID:-}
aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY:-}
EOF
  umask 022
  mkdir -p "$dir/ganesha/recovery" "$dir/ganesha/ccache" "$state"
  s3_lines="Bucket = $(s3f__quote "${S3_BUCKET:?S3_BUCKET not set}");
		$prefix_line
		$endpoint_line
		Region = $(s3f__quote "${S3_REGION:-us-east-1}");
		Credentials_File = $(s3f__quote "$dir/credentials");"
  cat >"$dir/ganesha.conf" <<EOF
# Generated by test/lib/s3files.sh for $dir
NFS_CORE_PARAM {
	Protocols = $protocols;
	NFS_Port = $port;
	$mnt_line
	Mount_Path_Pseudo = true;
	Bind_Addr = $bind;
	Enable_NLM = false;
	Enable_RQUOTA = false;
	Plugins_Dir = $(s3f__quote "${S3FILES_PLUGINS:-$S3F_BUILD/lib}");
	Dbus_Name_Prefix = $(s3f__quote "s3files$port");
}
NFSV4 {
	RecoveryRoot = $(s3f__quote "$dir/ganesha/recovery");
	Graceless = ${S3FILES_GRACELESS:-true};
	${S3FILES_NFSV4_EXTRA:-}
	Minor_Versions = ${S3FILES_MINOR_VERSIONS:-0, 1, 2};
	Only_Numeric_Owners = true;
	Lease_Lifetime = ${S3FILES_LEASE:-60};
	Delegations = true;
}
NFS_KRB5 {
	Active_krb5 = false;
	CCacheDir = $(s3f__quote "$dir/ganesha/ccache");
}
LOG {
	Default_Log_Level = EVENT;
	Components { FSAL = ${S3FILES_FSAL_LOG:-EVENT}; }
}
S3FILES {
	Control_Socket = $(s3f__quote "$dir/syncd.sock");
	Log_Level = ${S3FILES_LOG_LEVEL:-info};
	$(s3f__subst "${S3FILES_DAEMON_EXTRA:-}" "$host_addr" "$ns_addr" "$s3_lines")
}
EXPORT {
	Export_Id = 1;
	Path = /;
	Pseudo = /s3files;
	Protocols = $protocols;
	Transports = TCP;
	Access_Type = RW;
	Squash = No_Root_Squash;
	SecType = sys;
	Delegations = R;
	$(s3f__subst "${S3FILES_EXPORT_CLIENTS:-}" "$host_addr" "$ns_addr" "$s3_lines")
	FSAL {
		Name = S3FILES;
		$s3_lines
		State_Dir = $(s3f__quote "$state");
		Commit_Interval = ${S3FILES_COMMIT_INTERVAL:-60};
		Poll_Interval_Ms = ${S3FILES_POLL_MS:-5000};
		$(s3f__subst "${S3FILES_EXPORT_EXTRA:-}" "$host_addr" "$ns_addr" "$s3_lines")
	}
}
$(s3f__subst "${S3FILES_CONF_EXTRA:-}" "$host_addr" "$ns_addr" "$s3_lines")
EOF
}

# s3f__listening PORT [ADDR] [HOLDER_PID]: someone listens on PORT (on ADDR if given), in
# this host's network namespace or in HOLDER_PID's.
s3f__listening() {
  local filter="sport = :$1"
  [ -n "${2:-}" ] && filter="src $2 and sport = :$1"
  if [ -n "${3:-}" ]; then
    nsenter -t "$3" -n ss -Htln "$filter" 2>/dev/null | grep -q .
  else
    ss -Htln "$filter" 2>/dev/null | grep -q .
  fi
}

# s3f__wait_listen PID PORT SECS [HOLDER_PID]: until PORT listens (or PID dies / time runs out).
s3f__wait_listen() {
  local pid=$1 port=$2 secs=$3 holder=${4:-} i
  for i in $(seq 1 $((secs * 20))); do
    kill -0 "$pid" 2>/dev/null || return 1
    s3f__listening "$port" "" "$holder" && return 0
    sleep 0.05
  done
  return 1
}

# s3f__stop_pid PIDFILE [group]: TERM, then KILL after 10 s, the process we started (with
# "group": its whole process group too — a forking relay's connection children, which
# setsid made members of the group led by that PID).
s3f__stop_pid() {
  local pidfile=$1 group=${2:-} pid i target
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile" 2>/dev/null)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    target=$pid
    [ "$group" = group ] && target=-$pid
    kill -TERM -- "$target" 2>/dev/null
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { kill -KILL -- "$target" 2>/dev/null || true; }
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    # Children that outlived the leader.
    if [ "$group" = group ]; then kill -KILL -- "$target" 2>/dev/null || true; fi
  fi
  rm -f "$pidfile"
}

# ---- the NFSv3 network namespace ----

# s3f__relay_start DIR NAME LISTEN_ADDR LISTEN_PORT TARGET: a socat TCP relay in this host's
# network namespace, PID in DIR/relay-NAME.pid; waits until it listens.
s3f__relay_start() {
  local dir=$1 name=$2 addr=$3 port=$4 target=$5 pid i match
  match=$addr
  [ "$addr" = 0.0.0.0 ] && match=""
  setsid socat -lf "$dir/relay-$name.log" \
    "TCP-LISTEN:$port,bind=$addr,reuseaddr,fork,nodelay" "TCP:$target,nodelay" \
    </dev/null >>"$dir/relay-$name.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/relay-$name.pid"
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    s3f__listening "$port" "$match" && return 0
    sleep 0.05
  done
  echo "relay $name ($addr:$port -> $target) did not start:" >&2
  tail -n 5 "$dir/relay-$name.log" >&2 2>/dev/null
  return 1
}

# s3f__ns_pick: print "N A B" for a namespace s3f-N whose /30 198.18.A.B/30 holds no
# address of this host and whose names are free (the claim itself is `ip netns add`).
s3f__ns_pick() {
  local n a b
  for _ in $(seq 1 100); do
    n=$((RANDOM % 16384)); a=$((n >> 6)); b=$(((n & 63) << 2))
    [ -e "/run/netns/s3f-$n" ] && continue
    ip link show "s3fh$n" >/dev/null 2>&1 && continue
    ip -o -4 addr show | awk -v a="198.18.$a." -v b="$b" '
      { split($4, x, "/"); if (index(x[1], a) == 1) { o = substr(x[1], length(a) + 1) + 0
          if (o >= b && o < b + 4) f = 1 } } END { exit !f }' && continue
    echo "$n $a $b"
    return 0
  done
  echo "no free 198.18.0.0/15 subnet or namespace name found" >&2
  return 1
}

# s3f__ns_up DIR: network namespace + veth + private /run + rpcbind + S3 relay (and with
# S3FILES_RELAY_NFS=1 the NFS and MOUNT relays); writes DIR/netns.env. On failure, undoes
# what it did and returns 1.
s3f__ns_up() {
  local dir=$1 pick n a b name veth peer host_addr ns_addr holder pid i
  local ep scheme rest hostport ep_host ep_port ns_endpoint="" relay_port relay_target
  command -v socat >/dev/null || { echo "S3FILES_NFSV3 and S3FILES_NETNS need socat (make deps)" >&2; return 1; }
  [ -x /usr/sbin/rpcbind ] || { echo "S3FILES_NFSV3 and S3FILES_NETNS need rpcbind (make deps)" >&2; return 1; }
  for _ in 1 2 3 4 5; do
    pick=$(s3f__ns_pick) || return 1
    read -r n a b <<<"$pick"
    # Claimed by whoever adds it first (another stack may be picking at the same time).
    ip netns add "s3f-$n" 2>/dev/null && break
    n=""
  done
  [ -n "$n" ] || { echo "could not create a network namespace" >&2; return 1; }
  name=s3f-$n veth=s3fh$n peer=s3fn$n
  host_addr=198.18.$a.$((b + 1)) ns_addr=198.18.$a.$((b + 2))

  # The S3 endpoint as seen from the namespace.
  ep=${S3_ENDPOINT:-https://s3.${S3_REGION:-us-east-1}.amazonaws.com}
  scheme=${ep%%://*} rest=${ep#*://}
  hostport=${rest%%/*}
  if [[ $hostport == \[* ]]; then
    ep_host=${hostport%%]*}]; ep_port=${hostport#"$ep_host"}; ep_port=${ep_port#:}
  else
    ep_host=${hostport%%:*}; ep_port=${hostport#"$ep_host"}; ep_port=${ep_port#:}
  fi
  [ -n "$ep_port" ] || { [ "$scheme" = https ] && ep_port=443 || ep_port=80; }
  relay_target=$ep_host:$ep_port
  : >"$dir/ns-hosts"
  # An address, or a name libcurl never looks up (it takes localhost as loopback itself).
  if [[ $ep_host =~ ^[0-9.]+$ || $ep_host == \[* || $ep_host == localhost ||
        $ep_host == *.localhost ]]; then
    if [ "$scheme" = https ]; then
      echo "S3FILES_NFSV3: an https endpoint given by address or as localhost ($ep) cannot" \
        "be relayed (its certificate names that address); give it by host name" >&2
      ip netns del "$name"; rm -f "$dir/ns-hosts"; return 1
    fi
    relay_port=$(pick_port) || { ip netns del "$name"; return 1; }
    ns_endpoint="$scheme://$host_addr:$relay_port${rest#"$hostport"}"
  else
    # By name: the namespace resolves the name (and the bucket's virtual host) to the relay.
    relay_port=$ep_port
    # No IPv6 address for the name: the relay listens on IPv4 only.
    printf '%s %s %s\n' "$host_addr" "$ep_host" "${S3_BUCKET:-}.$ep_host" >"$dir/ns-hosts"
    [ "$ep_host" = localhost ] || echo "127.0.0.1 localhost" >>"$dir/ns-hosts"
    echo "::1 ip6-localhost ip6-loopback" >>"$dir/ns-hosts"
  fi

  cat >"$dir/netns.env" <<EOF
S3F_NS_NAME=$name
S3F_NS_VETH=$veth
S3F_NS_HOST_ADDR=$host_addr
S3F_NS_ADDR=$ns_addr
S3F_NS_ENDPOINT=$ns_endpoint
S3F_NS_V3=${S3FILES_NFSV3:-0}
S3F_NS_SYNCD=${S3FILES_NETNS:-0}
EOF
  if ! { ip link add "$veth" type veth peer name "$peer" &&
         ip link set "$peer" netns "$name" &&
         ip addr add "$host_addr/30" dev "$veth" && ip link set "$veth" up &&
         ip -n "$name" addr add "$ns_addr/30" dev "$peer" &&
         ip -n "$name" link set "$peer" up && ip -n "$name" link set lo up; }; then
    echo "could not set up the veth pair $veth/$peer" >&2
    s3f__ns_down "$dir"; return 1
  fi

  # The holder: a process in the namespace with a mount namespace of its own (ip netns exec
  # makes one, with mounts not propagating back) in which /run is a private tmpfs and
  # /etc/hosts the file above. rpcbind and ganesha join both namespaces with nsenter.
  setsid ip netns exec "$name" /bin/sh -c '
    mount -t tmpfs -o mode=0755,size=4m s3files-run /run || exit 1
    if [ -s "$1" ]; then mount --bind "$1" /etc/hosts || exit 1; fi
    exec sleep infinity' s3f-holder "$dir/ns-hosts" </dev/null >>"$dir/netns.out" 2>&1 &
  holder=$!
  echo "$holder" >"$dir/nsholder.pid"
  for i in $(seq 1 100); do
    [ "$(cat "/proc/$holder/comm" 2>/dev/null)" = sleep ] && break
    kill -0 "$holder" 2>/dev/null || break
    sleep 0.05
  done
  if [ "$(cat "/proc/$holder/comm" 2>/dev/null)" != sleep ]; then
    echo "the namespace holder did not start:" >&2; tail -n 5 "$dir/netns.out" >&2
    s3f__ns_down "$dir"; return 1
  fi

  # rpcbind -f: foreground (we keep its PID); it drops to its user after binding.
  setsid nsenter -t "$holder" -m -n -- /usr/sbin/rpcbind -f \
    </dev/null >>"$dir/rpcbind.out" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/rpcbind.pid"
  if ! s3f__wait_listen "$pid" 111 10 "$holder"; then
    echo "rpcbind did not start in $name:" >&2; tail -n 5 "$dir/rpcbind.out" >&2
    s3f__ns_down "$dir"; return 1
  fi

  if ! s3f__relay_start "$dir" s3 "$host_addr" "$relay_port" "$relay_target"; then
    s3f__ns_down "$dir"; return 1
  fi
  if [ "${S3FILES_RELAY_NFS:-0}" = 1 ]; then
    if ! s3f__relay_start "$dir" nfs "${S3FILES_BIND:-127.0.0.1}" "$NFS_PORT" \
           "$ns_addr:$NFS_PORT" ||
       { [ "${S3FILES_NFSV3:-0}" = 1 ] &&
         ! s3f__relay_start "$dir" mnt "${S3FILES_BIND:-127.0.0.1}" "${S3FILES_MNT_PORT:-20048}" \
           "$ns_addr:${S3FILES_MNT_PORT:-20048}"; }; then
      s3f__ns_down "$dir"; return 1
    fi
  fi
}

# s3f__ns_down DIR: stop the relays, rpcbind and the holder, delete the veth and the
# namespace. Idempotent; nothing to do without DIR/netns.env.
s3f__ns_down() {
  local dir=$1 r
  [ -f "$dir/netns.env" ] || return 0
  (
    . "$dir/netns.env"
    for r in nfs mnt s3; do s3f__stop_pid "$dir/relay-$r.pid" group; done
    s3f__stop_pid "$dir/rpcbind.pid"
    s3f__stop_pid "$dir/nsholder.pid"
    if ip link show "$S3F_NS_VETH" >/dev/null 2>&1; then ip link del "$S3F_NS_VETH" || true; fi
    if [ -e "/run/netns/$S3F_NS_NAME" ]; then ip netns del "$S3F_NS_NAME" || true; fi
  )
  rm -f "$dir/netns.env" "$dir/ns-hosts"
}

# s3f__ns_holder DIR: print the holder's PID when DIR's stack runs in a namespace.
s3f__ns_holder() {
  if [ -f "$1/netns.env" ] && [ -f "$1/nsholder.pid" ]; then cat "$1/nsholder.pid"; fi
}

# s3f__ns_get DIR VAR: VAR's value in DIR/netns.env (empty without one).
s3f__ns_get() {
  [ -f "$1/netns.env" ] || return 0
  (. "$1/netns.env"; eval "printf '%s' \"\${$2:-}\"")
}

s3f_nfs_host() {
  if [ -f "$1/netns.env" ]; then (. "$1/netns.env"; echo "$S3F_NS_ADDR"); else echo 127.0.0.1; fi
}

s3f_ns_exec() {
  local dir=$1 name; shift
  [ -f "$dir/netns.env" ] || { echo "s3f_ns_exec: $dir runs in no namespace" >&2; return 2; }
  name=$(. "$dir/netns.env"; echo "$S3F_NS_NAME")
  nsenter --net="/run/netns/$name" -- "$@"
}

# ---- ganesha and syncd ----

s3f_ganesha_start() {
  local dir=$1 port pid holder pre=()
  port=$(cat "$dir/nfs_port")
  holder=$(s3f__ns_holder "$dir")
  [ -n "$holder" ] && pre=(nsenter -t "$holder" -m -n --)
  # shellcheck disable=SC2206  # word splitting intended: VAR=VALUE words
  [ -n "${S3FILES_GANESHA_ENV:-}" ] && pre+=(env $S3FILES_GANESHA_ENV)
  # -F: foreground (we keep its PID); the pid file is ganesha's own, the PID we stop by
  # is the one we started (nsenter execs ganesha, it does not fork).
  setsid "${pre[@]}" /usr/bin/ganesha.nfsd -F -f "$dir/ganesha.conf" -L "$dir/ganesha.log" \
    -p "$dir/ganesha.nfsd.pid" -N NIV_EVENT </dev/null >>"$dir/ganesha.out" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/ganesha.pid"
  if ! s3f__wait_listen "$pid" "$port" 30 "$holder" ||
     { [ -n "$holder" ] && [ "$(s3f__ns_get "$dir" S3F_NS_V3)" = 1 ] &&
       ! s3f__wait_listen "$pid" "${S3FILES_MNT_PORT:-20048}" 10 "$holder"; }; then
    echo "ganesha did not start (port $port); last log lines:" >&2
    tail -n 30 "$dir/ganesha.log" "$dir/ganesha.out" >&2 2>/dev/null
    s3f__stop_pid "$dir/ganesha.pid"
    return 1
  fi
  # The export must have come up (a refused FSAL leaves ganesha running without it).
  if ! grep -q "S3FILES: export 1 serves" "$dir/ganesha.log"; then
    sleep 0.5
    if ! grep -q "S3FILES: export 1 serves" "$dir/ganesha.log"; then
      echo "ganesha runs but the S3FILES export did not start:" >&2
      grep -E "S3FILES|CRIT|MAJ" "$dir/ganesha.log" | tail -n 20 >&2
      s3f__stop_pid "$dir/ganesha.pid"
      return 1
    fi
  fi
}

s3f_ganesha_stop() { s3f__stop_pid "$1/ganesha.pid"; }

s3f_syncd_start() {
  local dir=$1 pid i holder pre=()
  local bin=${S3FILES_SYNCD:-$S3F_BUILD/bin/s3files-syncd}
  rm -f "$dir/syncd.sock"
  # S3FILES_NETNS: in the gateway's namespaces (nsenter execs it: the PID is the daemon's).
  holder=$(s3f__ns_holder "$dir")
  [ -n "$holder" ] && [ "$(s3f__ns_get "$dir" S3F_NS_SYNCD)" = 1 ] &&
    pre=(nsenter -t "$holder" -m -n --)
  setsid "${pre[@]}" "$bin" -f "$dir/ganesha.conf" -L "$dir/syncd.log" </dev/null >>"$dir/syncd.out" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/syncd.pid"
  for i in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    if [ -S "$dir/syncd.sock" ] && s3f_ctl "$dir" status >/dev/null 2>&1; then return 0; fi
    sleep 0.05
  done
  echo "s3files-syncd did not start; last log lines:" >&2
  tail -n 30 "$dir/syncd.log" "$dir/syncd.out" >&2 2>/dev/null
  s3f__stop_pid "$dir/syncd.pid"
  return 1
}

s3f_syncd_stop() { s3f__stop_pid "$1/syncd.pid"; }

s3f_ctl() {
  local dir=$1; shift
  "${S3FILES_CTL:-$S3F_BUILD/bin/s3filesctl}" -f "$dir/ganesha.conf" "$@"
}

s3f_stack_start() {
  local dir=$1 state port
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  state=${S3FILES_STATE_DIR:-$dir/state}
  port=${NFS_PORT:-$(pick_port)}
  echo "$port" >"$dir/nfs_port"
  # Leftovers of a stack that was not stopped (a killed test) go first.
  s3f__ns_down "$dir"
  if [ "${S3FILES_NFSV3:-0}" = 1 ] || [ "${S3FILES_NETNS:-0}" = 1 ]; then
    NFS_PORT=$port s3f__ns_up "$dir" || return 1
  fi
  s3f__write_conf "$dir" "$state" "$port"
  if ! s3f_ganesha_start "$dir"; then
    s3f__ns_down "$dir"
    return 1
  fi
  if ! s3f_syncd_start "$dir"; then
    s3f_ganesha_stop "$dir"
    s3f__ns_down "$dir"
    return 1
  fi
}

s3f_stack_stop() {
  s3f_syncd_stop "$1"
  s3f_ganesha_stop "$1"
  s3f__ns_down "$1"
}

S3F_VFS_PID=
S3F_VFS_PORT=
s3f_vfs_start() {
  local d=$1 so i
  so=$(dpkg -L nfs-ganesha-vfs 2>/dev/null | grep '/libfsalvfs\.so$' | head -n 1)
  [ -n "$so" ] && [ -f "$so" ] || { echo "FSAL_VFS (nfs-ganesha-vfs) is not installed" >&2; return 1; }
  mkdir -p "$d/export" "$d/recov" "$d/ccache"
  chmod 755 "$d/export"
  S3F_VFS_PORT=$(pick_port) || return 1
  cat >"$d/ganesha.conf" <<CONF
NFS_CORE_PARAM {
  NFS_Port = $S3F_VFS_PORT; Bind_Addr = 127.0.0.1; Protocols = 4;
  Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false;
  Plugins_Dir = "$(dirname "$so")"; Dbus_Name_Prefix = "s3fvfs$S3F_VFS_PORT";
}
NFSV4 { RecoveryRoot = "$d/recov"; Graceless = true; Only_Numeric_Owners = true; }
NFS_KRB5 { Active_krb5 = false; CCacheDir = "$d/ccache"; }
EXPORT {
  Export_Id = 1; Path = "$d/export"; Pseudo = /vfs; Access_Type = RW;
  Squash = No_Root_Squash; Protocols = 4; Transports = TCP; SecType = sys;
  FSAL { Name = VFS; }
}
LOG { Default_Log_Level = EVENT; }
CONF
  setsid /usr/bin/ganesha.nfsd -F -f "$d/ganesha.conf" -L "$d/ganesha.log" -p "$d/ganesha.pid" \
    >"$d/stdout" 2>&1 </dev/null &
  S3F_VFS_PID=$!
  for i in $(seq 1 300); do
    port_listening "$S3F_VFS_PORT" && return 0
    kill -0 "$S3F_VFS_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "ganesha with FSAL_VFS did not start: $(tail -n 3 "$d/ganesha.log" 2>/dev/null | tr '\n' ' ')" >&2
  s3f_vfs_stop
  return 1
}

s3f_vfs_stop() {
  [ -n "$S3F_VFS_PID" ] && kill "$S3F_VFS_PID" 2>/dev/null && wait "$S3F_VFS_PID" 2>/dev/null
  S3F_VFS_PID=
  return 0
}

# s3f_test_setup NAME [BUCKET]: common start of an integration suite that uses the shared
# test RGW (test/run.sh starts it): loads its settings into the environment with
# S3_PREFIX=NAME-<pid>/ (and S3_BUCKET=BUCKET: a bucket of the suite's own, which the suite
# makes and removes, e.g. for notifications), sets RGW_DIR (the cluster's directory), P
# (prefix), B (bucket), WORK (a fresh scratch dir with a data/ subdir) and STACK
# ($WORK/stack). Without the RGW it reports "setup" failed and exits the suite.
s3f_test_setup() {
  RGW_DIR=${RGW_TEST_DIR:-$S3F_BUILD/test-rgw}
  if [ ! -f "$RGW_DIR/env" ]; then
    t_fail setup "no RGW env at $RGW_DIR/env (run through test/run.sh)"
    t_done
  fi
  set -a; . "$RGW_DIR/env"; set +a
  [ -n "${2:-}" ] && export S3_BUCKET=$2
  export S3_PREFIX="$1-$$/"
  P=$S3_PREFIX
  B=$S3_BUCKET
  WORK=$S3F_BUILD/test-tmp/$T_SUITE.$$
  STACK=$WORK/stack
  rm -rf "$WORK"; mkdir -p "$WORK/data"
}

# s3f_test_stack_start: start the suite's stack ($STACK, s3f_stack_start with the
# environment as the suite set it); then a PASS stack_start line and NFS_PORT set, or a
# FAIL with the start log's last lines and the suite ends there (t_done).
s3f_test_stack_start() {
  if ! s3f_stack_start "$STACK" >"$WORK/start.out" 2>&1; then
    t_fail stack_start "$(tail -n 5 "$WORK/start.out" | tr '\n' ' ')"
    t_done
  fi
  t_pass stack_start
  NFS_PORT=$(cat "$STACK/nfs_port")
}

