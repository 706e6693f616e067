# ports.sh: picking TCP ports on 127.0.0.1 for test servers. Sourced by common.sh,
# s3files.sh and rgw.sh (also by `make run`).
#
# Ports come from 10000-32000: below the kernel's ephemeral range (32768-60999), so an
# outgoing connection (Ceph and RGW make hundreds) can never hold the port we picked by
# the time our server binds it, and clear of the OSD's ms_bind range (6800-7300). A port
# counts as taken when any socket uses it, TIME_WAIT included.

# port_busy PORT: any socket on the port.
port_busy() { ss -Htan "sport = :$1" 2>/dev/null | grep -q .; }
# port_listening PORT: someone listens on it. Ceph and beast set SO_REUSEADDR, so a port
# with only TIME_WAIT leftovers (e.g. of our own previous run) can be bound again.
port_listening() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

# pick_port: print a free port (see above); fails after 200 tries.
pick_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 10000 + RANDOM % 22000 ))
    if ! port_busy "$p"; then echo "$p"; return 0; fi
  done
  echo "no free TCP port found in 10000-32000" >&2
  return 1
}
