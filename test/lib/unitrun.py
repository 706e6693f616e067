#!/usr/bin/env python3
"""unitrun.py — run installed systemd service units the way systemd would, in a chroot,
where no systemd can boot (this machine's PID 1 is not systemd; test/integration/
deploy_vm.sh says why systemd-nspawn --boot is not used).

    unitrun.py --root ROOT --events FILE UNIT...

Reads ROOT/{etc,lib}/systemd/system/UNIT and the units it pulls in (Requires=, BindsTo=,
Wants= that exist as .service files; targets are ignored), orders them by After=/Before=,
and starts each in order, chrooted into ROOT:

  - the environment: EnvironmentFile= files (read from ROOT, '-' = optional) and
    Environment=, read before each command as systemd does; ${VAR} expands to one word,
    $VAR to its words;
  - RuntimeDirectory= (ROOT/run/NAME) and StateDirectory= (ROOT/var/lib/NAME) made first,
    RuntimeDirectory= removed after the unit stops;
  - ExecStartPre= lines in turn (prefix '-': failure ignored; '+': run as is, we have no
    sandbox to lift), then ExecStart=;
  - Type=notify: $NOTIFY_SOCKET is a datagram socket of ours (ROOT/run/unitrun/notify,
    seen as /run/unitrun/notify inside); the unit is started when READY=1 arrives from
    it, failed if the process exits first or TimeoutStartSec= passes. Type=simple: started
    once ExecStart= is running. Only then is the next unit started (After=).

On SIGTERM/SIGINT every unit is stopped in the reverse order: ExecStop= (with $MAINPID),
then KillSignal= (SIGTERM by default) to the main process, SIGKILL after
TimeoutStopSec=. A unit whose main process exits by itself while running is reported,
and the units bound to it (BindsTo=) are stopped, as systemd would.

Each event is appended to FILE as "SECONDS.MS EVENT UNIT [DETAIL]" with EVENT one of
start-pre, exec, ready, started, failed, exited, stop, stop-exec, stopped. The sandboxing
directives (ProtectSystem=, PrivateTmp=, ...) and Restart= are not applied: this checks
order, readiness, commands and environment, not confinement. Exit 0 when every unit
started and stopped with status 0 (or by our signal), else 1.
"""
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time

ROOT = None
EVENTS = None
STOPPING = False


def event(ev, unit, detail=""):
    with open(EVENTS, "a", encoding="utf-8") as f:
        f.write("%.3f %s %s %s\n" % (time.time(), ev, unit, detail))


def parse_unit(name):
    for d in ("etc/systemd/system", "lib/systemd/system", "usr/lib/systemd/system"):
        p = os.path.join(ROOT, d, name)
        if os.path.isfile(p):
            break
    else:
        return None
    sec, u = None, {}
    text = open(p, encoding="utf-8").read().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            sec = line.strip("[]")
            continue
        k, _, v = line.partition("=")
        u.setdefault((sec, k.strip()), []).append(v.strip())
    return u


def words(u, sec, key):
    out = []
    for v in u.get((sec, key), []):
        out += v.split()
    return out


def one(u, sec, key, default=None):
    v = u.get((sec, key))
    return v[-1] if v else default


def load_env(u):
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    # Environment= first: EnvironmentFile= settings override it (systemd.exec(5)).
    for e in u.get(("Service", "Environment"), []):
        for w in shlex.split(e):
            k, _, v = w.partition("=")
            env[k] = v
    for f in u.get(("Service", "EnvironmentFile"), []):
        optional = f.startswith("-")
        f = f.lstrip("-")
        p = os.path.join(ROOT, f.lstrip("/"))
        if not os.path.exists(p):
            if optional:
                continue
            raise RuntimeError("EnvironmentFile %s missing" % f)
        for line in open(p, encoding="utf-8"):
            line = line.strip()
            if not line or line[0] in "#;" or "=" not in line:
                continue
            k, _, v = line.partition("=")
            v = v.strip()
            if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1]
            env[k.strip()] = v
    return env


def expand(line, env):
    """An Exec line: (flags, argv) with systemd's ${VAR} (one word) and $VAR (words)."""
    flags = ""
    while line and line[0] in "-+@:!":
        flags += line[0]
        line = line[1:]
    argv = []
    for w in shlex.split(line):
        if re.fullmatch(r"\$[A-Za-z_][A-Za-z0-9_]*", w):
            argv += env.get(w[1:], "").split()
            continue
        argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m.group(1), ""), w))
    return flags, argv


def chroot_pre():
    os.chroot(ROOT)
    os.chdir("/")
    os.setsid()


def seconds(v, default):
    if v is None:
        return default
    m = re.fullmatch(r"(\d+)(s|min)?", v)
    return int(m.group(1)) * (60 if m.group(2) == "min" else 1) if m else default


class Unit:
    def __init__(self, name, u):
        self.name, self.u, self.proc = name, u, None
        self.after = set(words(u, "Unit", "After"))
        self.before = set(words(u, "Unit", "Before"))
        self.binds = set(words(u, "Unit", "BindsTo"))
        self.pulls = set(words(u, "Unit", "Requires") + words(u, "Unit", "Wants")) | self.binds

    def run(self, line, env, check=True):
        flags, argv = expand(line, env)
        r = subprocess.run(argv, preexec_fn=chroot_pre, env=env, stdout=sys.stdout,
                           stderr=sys.stderr, check=False)
        if r.returncode != 0 and "-" not in flags and check:
            raise RuntimeError("%s: %s exited %d" % (self.name, " ".join(argv), r.returncode))
        return r.returncode

    def start(self):
        u = self.u
        for d in words(u, "Service", "RuntimeDirectory"):
            os.makedirs(os.path.join(ROOT, "run", d), exist_ok=True)
        for d in words(u, "Service", "StateDirectory"):
            os.makedirs(os.path.join(ROOT, "var/lib", d), exist_ok=True)
        for line in u.get(("Service", "ExecStartPre"), []):
            event("start-pre", self.name, line)
            self.run(line, load_env(u))
        env = load_env(u)
        typ = one(u, "Service", "Type", "simple")
        sock = None
        if typ == "notify":
            nd = os.path.join(ROOT, "run/unitrun")
            os.makedirs(nd, exist_ok=True)
            path = os.path.join(nd, "notify-" + self.name)
            if os.path.exists(path):
                os.unlink(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(path)
            sock.settimeout(0.2)
            env["NOTIFY_SOCKET"] = "/run/unitrun/notify-" + self.name
        elif typ != "simple":
            raise RuntimeError("%s: Type=%s not supported here" % (self.name, typ))
        _, argv = expand(one(u, "Service", "ExecStart"), env)
        event("exec", self.name, " ".join(argv))
        self.proc = subprocess.Popen(argv, preexec_fn=chroot_pre, env=env, stdout=sys.stdout,
                                     stderr=sys.stderr)
        if sock:
            limit = time.time() + seconds(one(u, "Service", "TimeoutStartSec"), 90)
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError("%s exited %d before READY=1" % (self.name, self.proc.returncode))
                if time.time() > limit:
                    raise RuntimeError("%s: no READY=1 within TimeoutStartSec" % self.name)
                try:
                    msg = sock.recv(4096).decode()
                except socket.timeout:
                    continue
                event("notify", self.name, msg.replace("\n", "|"))
                if "READY=1" in msg.split("\n"):
                    event("ready", self.name)
                    break
            self.sock = sock
        event("started", self.name, "pid %d" % self.proc.pid)

    def stop(self):
        u = self.u
        if self.proc is None:
            return 0
        event("stop", self.name)
        if self.proc.poll() is None:
            env = load_env(u)
            env["MAINPID"] = str(self.proc.pid)
            for line in u.get(("Service", "ExecStop"), []):
                event("stop-exec", self.name, line)
                self.run(line, env, check=False)
        limit = seconds(one(u, "Service", "TimeoutStopSec"), 90)
        sig = getattr(signal, one(u, "Service", "KillSignal", "SIGTERM"))
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(limit)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            event("killed", self.name, "after TimeoutStopSec=%d" % limit)
        event("stopped", self.name, "status %d" % rc)
        for d in words(u, "Service", "RuntimeDirectory"):
            subprocess.run(["rm", "-rf", os.path.join(ROOT, "run", d)], check=False)
        self.proc = None
        return 0 if rc in (0, -sig) else rc


def order(units):
    """Start order: a before b when b After=a or a Before=b (Kahn's algorithm)."""
    names = sorted(units)
    edges = {n: set() for n in names}
    for n in names:
        for a in units[n].after:
            if a in units:
                edges[n].add(a)
        for b in units[n].before:
            if b in units:
                edges[b].add(n)
    out = []
    while edges:
        ready = [n for n in sorted(edges) if not edges[n] - set(out)]
        if not ready:
            raise RuntimeError("ordering cycle among %s" % sorted(edges))
        out.append(ready[0])
        del edges[ready[0]]
    return out


def on_signal(signum, frame):
    global STOPPING
    STOPPING = True


def main():
    global ROOT, EVENTS
    args = sys.argv[1:]
    if len(args) < 5 or args[0] != "--root" or args[2] != "--events":
        print(__doc__, file=sys.stderr)
        return 2
    ROOT, EVENTS, wanted = os.path.abspath(args[1]), args[3], args[4:]
    units, todo = {}, list(wanted)
    while todo:
        n = todo.pop()
        if n in units or not n.endswith(".service"):
            continue
        u = parse_unit(n)
        if u is None:
            continue
        units[n] = Unit(n, u)
        todo += sorted(units[n].pulls)
    missing = [w for w in wanted if w not in units]
    if missing:
        print("unitrun: no such unit: %s" % " ".join(missing), file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    seq = order(units)
    event("order", "-", " ".join(seq))
    started, rc = [], 0
    try:
        for n in seq:
            if STOPPING:
                break
            units[n].start()
            started.append(n)
        event("all-started", "-")
        while not STOPPING:
            time.sleep(0.2)
            dead = [n for n in started if units[n].proc and units[n].proc.poll() is not None]
            if dead:
                for n in dead:
                    event("exited", n, "status %d" % units[n].proc.returncode)
                    units[n].proc = None
                rc = 1
                break
    except RuntimeError as e:
        event("failed", "-", str(e))
        print("unitrun: %s" % e, file=sys.stderr)
        rc = 1
    for n in reversed(started):
        if units[n].stop() != 0:
            rc = 1
    event("all-stopped", "-", "exit %d" % rc)
    return rc


if __name__ == "__main__":
    sys.exit(main())
