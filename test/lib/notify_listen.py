#!/usr/bin/env python3
"""notify_listen.py ADDR OUT: the service manager's end of sd_notify(3) for tests.

Binds an AF_UNIX datagram socket at ADDR (a path, or @name for the abstract namespace, as
systemd puts it in $NOTIFY_SOCKET), and appends every datagram it receives to OUT as one
line with its newlines shown as '|', flushed at once. Runs until killed. Prints "listening"
on stdout once bound.
"""
import os
import socket
import sys


def main():
    addr, out = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if addr.startswith("@"):
        s.bind("\0" + addr[1:])
    else:
        if os.path.exists(addr):
            os.unlink(addr)
        s.bind(addr)
    print("listening", flush=True)
    with open(out, "a", encoding="utf-8") as f:
        while True:
            data = s.recv(4096)
            f.write(data.decode("utf-8", "replace").replace("\n", "|") + "\n")
            f.flush()


if __name__ == "__main__":
    main()
