#!/usr/bin/python3
"""pcut.py — crash states from a recording, and the check of a restarted gateway's view.

The persistence model (conservative POSIX, not ext4's ordering; after ALICE's abstract
persistence models and CrashMonkey's persistence points):
  * A crash point is a time T: right after a sync the gateway made (fsync, fdatasync,
    syncfs, msync — records F, FD, Y of pcut_fuse's log), right after an acknowledgement
    the workload received (the tightest test of that reply: nothing after it is synced),
    or the end of the recording. The state a power cut at T leaves holds every operation
    made durable by a sync logged before T, and any subset of the other operations logged
    before T.
  * Durable: an operation on a file's data or size (write, truncate, fallocate,
    copy_file_range into it) once the file is fsync'ed or fdatasync'ed after it; a
    directory operation (create, mkdir, symlink, link, unlink, rmdir) once its directory
    is fsync'ed after it; a rename once both directories are; everything once syncfs ran.
    Nothing else: not the file's directory entry when the file is fsync'ed, not the order
    of two unsynced operations.
  * Each logged operation is kept or dropped whole (no torn writes), replayed in log order.

Subcommands
  plan LOG ACKLOG NSTATES SEED            candidate states, one per line, best first:
                                          "NAME K STRATEGY T_NS": a crash at time T_NS,
                                          after the first K records of the log
  build LOG SNAPDIR K STRATEGY SEED OUT   write the state to OUT; prints its digest
  check ACKLOG INITACKLOG T_NS DUMPDIR    check a dumped file view against the workload's
                                          acknowledgements; prints one JSON line; exit 1 on
                                          a lost or unexplained byte, name or size
  s3cmp DUMPDIR S3DIR                     the view and the objects fetched from S3 (after
                                          commit + wait-synced) hold the same files and bytes
  stats LOG                               counts of the recorded operations and sync points
  selftest TMPDIR                         the model and the check on a made-up recording

The acknowledgement contract the check holds the gateway to (PCUT_META=sync, default):
a WRITE whose reply says DATA_SYNC or FILE_SYNC, a COMMIT (for every earlier WRITE to the
file), and, as NFSv3 requires of every other modifying operation (RFC 1813, 4.7; Linux's
knfsd commits metadata before each such reply), CREATE, MKDIR, SETATTR(size), RENAME and
REMOVE are durable once replied to. PCUT_META=async holds only writes and COMMITs to it.
"""
import bisect
import hashlib
import json
import os
import random
import re
import sys

CHUNK = 16
SYNC_OPS = ("F", "FD", "Y")
DATA_OPS = ("W", "Z", "P", "X")
DIR_OPS = ("C", "M", "S", "L", "U", "D", "R")

# fallocate modes (linux/falloc.h)
FALLOC_KEEP_SIZE = 0x01
FALLOC_PUNCH_HOLE = 0x02
FALLOC_ZERO_RANGE = 0x10


def unname(s):
    if s == "%":
        return ""
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), s)


def read_log(path):
    """Records of pcut_fuse's log: dicts seq, t, op, f (fields), data."""
    recs = []
    with open(path, "rb") as fh:
        while True:
            line = fh.readline()
            if not line:
                break
            parts = line.rstrip(b"\n").decode("ascii").split(" ")
            n = int(parts[-1])
            data = fh.read(n) if n else b""
            if len(data) != n:
                raise SystemExit("pcut.py: %s: truncated record %s" % (path, parts[0]))
            recs.append({"seq": int(parts[0]), "t": int(parts[1]), "op": parts[2],
                         "f": parts[3:-1], "data": data})
    return recs


# ---------------------------------------------------------------- durability

def durable_at(recs, dirops=None):
    """For each record index, the index of the sync that makes it durable (None: never).
    dirops="sync" (PCUT_DIROPS=sync): directory operations count as durable at once, as
    if every directory were fsync'ed after each change; isolates losses of file data and
    of the store from losses of directory entries."""
    if dirops is None:
        dirops = os.environ.get("PCUT_DIROPS", "posix")
    dur = [None] * len(recs)
    pend_data = {}          # file id -> [indices]
    pend_dir = {}           # dir id -> [indices]
    need = {}               # rename index -> set of dir ids still to be synced
    for i, r in enumerate(recs):
        op, f = r["op"], r["f"]
        if op in DATA_OPS:
            fid = f[2] if op == "X" else f[0]
            pend_data.setdefault(fid, []).append(i)
        elif op in DIR_OPS and dirops == "sync":
            dur[i] = i
        elif op in ("C", "M", "S"):
            pend_dir.setdefault(f[1], []).append(i)
        elif op == "L":
            pend_dir.setdefault(f[1], []).append(i)
        elif op in ("U", "D"):
            pend_dir.setdefault(f[0], []).append(i)
        elif op == "R":
            dirs = {f[0], f[2]}
            need[i] = set(dirs)
            for d in dirs:
                pend_dir.setdefault(d, []).append(i)
        elif op == "F":
            for j in pend_data.pop(f[0], []):
                dur[j] = i
            dur[i] = i
        elif op == "FD":
            for j in pend_dir.pop(f[0], []):
                if j in need:
                    need[j].discard(f[0])
                    if need[j]:
                        continue
                    del need[j]
                dur[j] = i
            dur[i] = i
        elif op == "Y":
            for lst in list(pend_data.values()) + list(pend_dir.values()):
                for j in lst:
                    if dur[j] is None:
                        dur[j] = i
            pend_data.clear()
            pend_dir.clear()
            need.clear()
            dur[i] = i
        else:
            dur[i] = -1     # I, T, A, Q, E: no choice to make
    return dur


def sync_points(recs):
    return [i for i, r in enumerate(recs) if r["op"] in SYNC_OPS]


# ---------------------------------------------------------------- the file system model

class Model:
    def __init__(self):
        self.kind = {"1": "d"}
        self.data = {}
        self.target = {}
        self.entries = {"1": {}}

    def node(self, nid, kind="f"):
        if nid not in self.kind:
            self.kind[nid] = kind
            if kind == "d":
                self.entries[nid] = {}
            elif kind == "f":
                self.data[nid] = bytearray()
        return nid

    def load_initial(self, recs, snap):
        paths = {"1": ""}
        for r in recs:
            if r["op"] != "I":
                continue
            nid, kind, parent, name = r["f"][0], r["f"][1], r["f"][2], unname(r["f"][3])
            paths[nid] = paths[parent] + "/" + name
            self.node(nid, kind)
            self.entries.setdefault(parent, {})[name] = nid
            full = snap + paths[nid]
            if kind == "f":
                with open(full, "rb") as fh:
                    self.data[nid] = bytearray(fh.read())
            elif kind == "l":
                self.target[nid] = os.readlink(full)

    def apply(self, r):
        op, f = r["op"], r["f"]
        if op in ("C", "M"):
            nid = self.node(f[0], "f" if op == "C" else "d")
            self.entries.setdefault(f[1], {})[unname(f[2])] = nid
        elif op == "S":
            self.node(f[0], "l")
            self.target[f[0]] = unname(f[3])
            self.entries.setdefault(f[1], {})[unname(f[2])] = f[0]
        elif op == "T":
            self.node(f[0], "f")
        elif op == "L":
            self.node(f[0], "f")
            self.entries.setdefault(f[1], {})[unname(f[2])] = f[0]
        elif op in ("U", "D"):
            ents = self.entries.get(f[0], {})
            name = unname(f[1])
            if ents.get(name) == f[2]:
                del ents[name]
        elif op == "R":
            op_, on, np_, nn, flags, cid = f[0], unname(f[1]), f[2], unname(f[3]), int(f[4]), f[5]
            src = self.entries.get(op_, {})
            if src.get(on) != cid:
                return      # its creation (or an earlier rename) is not in this state
            dst = self.entries.setdefault(np_, {})
            if flags & 2:   # RENAME_EXCHANGE
                other = dst.get(nn)
                dst[nn] = cid
                if other is None:
                    del src[on]
                else:
                    src[on] = other
            else:
                del src[on]
                dst[nn] = cid
        elif op == "W":
            if f[3] == "-":
                return      # lock.mdb: not logged, rebuilt by LMDB
            self._write(f[0], int(f[1]), r["data"])
        elif op == "X":
            self._write(f[2], int(f[3]), r["data"])
        elif op == "Z":
            buf = self.data.setdefault(self.node(f[0]), bytearray())
            size = int(f[1])
            if size < len(buf):
                del buf[size:]
            else:
                buf.extend(bytes(size - len(buf)))
        elif op == "P":
            nid, mode, off, ln = f[0], int(f[1]), int(f[2]), int(f[3])
            buf = self.data.setdefault(self.node(nid), bytearray())
            end = off + ln
            if mode & (FALLOC_PUNCH_HOLE | FALLOC_ZERO_RANGE):
                lo, hi = min(off, len(buf)), min(end, len(buf))
                buf[lo:hi] = bytes(hi - lo)
            if not mode & FALLOC_KEEP_SIZE and end > len(buf):
                buf.extend(bytes(end - len(buf)))

    def _write(self, nid, off, data):
        buf = self.data.setdefault(self.node(nid), bytearray())
        if off > len(buf):
            buf.extend(bytes(off - len(buf)))
        buf[off:off + len(data)] = data

    def materialize(self, out):
        """Write the tree reachable from the root to out; returns a digest of it."""
        h = hashlib.sha256()
        os.makedirs(out, exist_ok=True)

        def walk(did, path, depth):
            if depth > 64:
                return
            for name in sorted(self.entries.get(did, {})):
                nid = self.entries[did][name]
                full = os.path.join(path, name)
                kind = self.kind.get(nid, "f")
                h.update(("%s %s %s\n" % (full[len(out):], kind, nid)).encode())
                if kind == "d":
                    os.mkdir(full, 0o700)
                    walk(nid, full, depth + 1)
                elif kind == "l":
                    os.symlink(self.target.get(nid, ""), full)
                else:
                    buf = self.data.get(nid, bytearray())
                    h.update(hashlib.sha256(buf).digest())
                    write_sparse(full, buf)
        walk("1", out, 0)
        return h.hexdigest()


def write_sparse(path, buf):
    blk = 65536
    zero = bytes(blk)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        mv = memoryview(buf)
        for off in range(0, len(buf), blk):
            piece = mv[off:off + blk]
            if piece != zero[:len(piece)]:
                os.pwrite(fd, piece, off)
        os.ftruncate(fd, len(buf))
    finally:
        os.close(fd)


# ---------------------------------------------------------------- choosing states

def choose(recs, dur, k, strategy, seed):
    """Indices of the records among the first k that the state holds."""
    rng = random.Random("%s/%s/%s" % (seed, k, strategy))
    keep = set()
    pending = []
    for i in range(min(k, len(recs))):
        d = dur[i]
        if d == -1 or (d is not None and d < k):
            keep.add(i)
        else:
            pending.append(i)
    if strategy == "all":
        keep.update(pending)
    elif strategy == "rand":
        keep.update(i for i in pending if rng.random() < 0.5)
    elif strategy == "prefix":
        groups = {}
        for i in pending:
            r = recs[i]
            if r["op"] in DATA_OPS:
                key = "f" + (r["f"][2] if r["op"] == "X" else r["f"][0])
            else:
                key = "d" + r["f"][0] if r["op"] in ("U", "D", "R") else "d" + r["f"][1]
            groups.setdefault(key, []).append(i)
        for lst in groups.values():
            keep.update(lst[:rng.randint(0, len(lst))])
    elif strategy != "sync":
        raise SystemExit("pcut.py: unknown strategy %s" % strategy)
    return keep


def build(log, snap, k, strategy, seed, out):
    """The state a power cut leaves after the first k records of the log."""
    recs = read_log(log)
    dur = durable_at(recs)
    k = int(k)
    keep = choose(recs, dur, k, strategy, seed)
    m = Model()
    m.load_initial(recs, snap)
    for i, r in enumerate(recs[:k]):
        if i in keep and r["op"] not in ("I", "A", "Q", "E") + SYNC_OPS:
            m.apply(r)
    return m.materialize(out)


def read_acks(path):
    ops = []
    if not path or not os.path.exists(path):
        return ops
    with open(path) as fh:
        for line in fh:
            p = line.split()
            if len(p) < 5:
                continue
            ops.append({"id": int(p[0]), "ts": int(p[1]), "ta": int(p[2]), "op": p[3],
                        "fid": int(p[4]), "a": p[5:-1], "res": p[-1]})
    return ops


def plan(log, acklog, nstates, seed):
    """Crash points, best first. A crash point is a time T; the state holds the records
    logged before T (k of them). Points: the end of the recording; right after each
    acknowledgement (the state is then what the syncs before the reply made durable: the
    tightest test of that reply); right after each sync. Printed as NAME K STRATEGY T."""
    recs = read_log(log)
    times = [r["t"] for r in recs]
    acks = [a for a in read_acks(acklog) if a["res"] == "ok"]
    rng = random.Random(seed)

    def k_at(t):
        return bisect.bisect_left(times, t)
    out = []
    end_t = (times[-1] + 1) if times else 0
    for s in ("sync", "all", "prefix", "rand"):
        out.append(("end-" + s, len(recs), s, end_t))
    ackpts = [("a%d" % a["id"], k_at(a["ta"] + 1), a["ta"] + 1) for a in acks]
    syncpts = [("s%d" % i, i + 1, recs[i]["t"] + 1) for i in sync_points(recs)
               if not acks or recs[i]["t"] >= acks[0]["ts"]]

    def spread(lst, n):
        if n <= 0 or not lst:
            return [], lst
        step = max(1, len(lst) // n)
        first = lst[::step][:n]
        chosen = set(x[0] for x in first)
        return first, [x for x in lst if x[0] not in chosen]
    a1, arest = spread(ackpts, nstates // 2)
    s1, srest = spread(syncpts, nstates // 4)
    for name, k, t in a1:
        out.append((name + "-sync", k, "sync", t))
    for n, (name, k, t) in enumerate(s1):
        strat = "rand" if n % 2 else "prefix"
        out.append((name + "-" + strat, k, strat, t))
    rest = [(n, k, "sync", t) for n, k, t in arest] + \
        [(n, k, rng.choice(("rand", "prefix", "sync")), t) for n, k, t in srest]
    rng.shuffle(rest)
    for name, k, strat, t in rest:
        out.append(("%s-%s" % (name, strat), k, strat, t))
        # more random subsets at the same points for long runs
    extra = [(n, k, t) for n, k, t in ackpts + syncpts]
    for rep in range(3):
        for name, k, t in extra:
            strat = ("rand", "prefix", "rand")[rep]
            out.append(("%s-%s%d" % (name, strat, rep), k, strat, t))
    for name, k, strat, t in out:
        print(name, k, strat, t)


# ---------------------------------------------------------------- the check

ZERO = 0


class FileModel:
    def __init__(self, fid):
        self.fid = fid
        self.locs = {None}          # None: absent
        self.loc_must = None        # the must op that fixed the location set last
        self.chunks = {}            # chunk index -> set of op ids (0: zeros)
        self.chunk_must = {}        # chunk index -> must op id that set it last
        self.sizes = {0}
        self.size_must = None

    def allowed(self, p):
        return self.chunks.get(p, {ZERO})

    def write(self, opid, off, ln, must):
        for p in range(off // CHUNK, (off + ln) // CHUNK):
            if must:
                self.chunks[p] = {opid}
                self.chunk_must[p] = opid
            else:
                self.chunks.setdefault(p, {ZERO}).add(opid)
        end = off + ln
        new = {max(s, end) for s in self.sizes}
        if must:
            self.sizes = new
            self.size_must = opid
        else:
            self.sizes |= new

    def trunc(self, opid, size, must):
        top = max(self.sizes) // CHUNK + 1
        for p in range(size // CHUNK, top):
            if must:
                self.chunks[p] = {ZERO}
                self.chunk_must[p] = opid
            else:
                self.chunks.setdefault(p, {ZERO}).add(ZERO)
        if must:
            self.sizes = {size}
            self.size_must = opid
        else:
            self.sizes.add(size)

    def move(self, opid, loc, must):
        if must:
            self.locs = {loc}
            self.loc_must = opid
        else:
            self.locs.add(loc)


def expectations(acks, T, meta_sync):
    """Per fid: the FileModel at crash time T; and the directory expectations."""
    files, dirs = {}, {}
    commits = {}
    for a in acks:
        if a["op"] == "COMMIT" and a["res"] == "ok" and a["ta"] < T:
            commits.setdefault(a["fid"], []).append(a)

    def acked(a):
        return a["res"] == "ok" and a["ta"] < T

    for a in acks:
        if a["ts"] >= T and not a.get("init"):
            continue        # sent after the crash point: cannot be in the state
        op, fid = a["op"], a["fid"]
        init = a.get("init", False)
        if op == "WRITE":
            committed = int(a["a"][3])
            must = init or (acked(a) and committed > 0) or (
                acked(a) and any(c["ts"] >= a["ta"] for c in commits.get(fid, [])))
            files.setdefault(fid, FileModel(fid)).write(a["id"], int(a["a"][0]), int(a["a"][1]), must)
            continue
        if op == "COMMIT":
            continue
        must = init or (meta_sync and acked(a))
        if op == "MKDIR":
            d = dirs.setdefault(a["a"][0], {"must": False, "op": a["id"]})
            d["must"] = d["must"] or must
        elif op == "CREATE":
            files.setdefault(fid, FileModel(fid)).move(a["id"], a["a"][0], must)
        elif op == "RENAME":
            files.setdefault(fid, FileModel(fid)).move(a["id"], a["a"][1], must)
        elif op == "REMOVE":
            files.setdefault(fid, FileModel(fid)).move(a["id"], None, must)
        elif op == "TRUNC":
            files.setdefault(fid, FileModel(fid)).trunc(a["id"], int(a["a"][0]), must)
    return files, dirs


CHUNK_RE = re.compile(rb"^w(\d{5})@([0-9a-f]{8})\n$")


def check(acklog, initlog, T, dump, meta_sync):
    init = read_acks(initlog)
    for a in init:
        a["init"] = True
    run = read_acks(acklog)
    # fids of the run continue after the initial files (pcut_work numbers them so).
    acks = init + run
    files, dirs = expectations(acks, T, meta_sync)
    name2fid = {}
    for a in acks:
        if a["op"] == "CREATE":
            name2fid[a["a"][0]] = a["fid"]
        elif a["op"] == "RENAME":
            name2fid[a["a"][1]] = a["fid"]
    found_files, found_dirs = {}, set()
    for root, dnames, fnames in os.walk(dump):
        rel = root[len(dump):]
        for d in dnames:
            found_dirs.add(rel + "/" + d)
        for fn in fnames:
            found_files[rel + "/" + fn] = os.path.join(root, fn)
    problems, lost = [], set()

    def bad(msg, opid=None):
        problems.append(msg)
        if opid is not None:
            lost.add(opid)

    seen = {}
    for path in sorted(found_files):
        fid = name2fid.get(path)
        if fid is None:
            bad("unknown file %s in the view" % path)
            continue
        if fid in seen:
            bad("file %d at two names: %s and %s" % (fid, seen[fid], path))
        seen[fid] = path
        fm = files.get(fid)
        if fm is None or path not in fm.locs:
            bad("file %d at %s, where it may not be (may be at %s)" %
                (fid, path, sorted(str(x) for x in (fm.locs if fm else []))),
                fm.loc_must if fm else None)
            continue
        with open(found_files[path], "rb") as fh:
            content = fh.read()
        size = len(content)
        if size not in fm.sizes:
            bad("file %d (%s): size %d, expected one of %s" %
                (fid, path, size, sorted(fm.sizes)[:8]), fm.size_must)
        if size % CHUNK:
            bad("file %d (%s): size %d is not a multiple of %d" % (fid, path, size, CHUNK))
        nbad = 0
        for p in range(size // CHUNK):
            c = content[p * CHUNK:(p + 1) * CHUNK]
            if c == bytes(CHUNK):
                v = ZERO
            else:
                m = CHUNK_RE.match(c)
                if not m or int(m.group(2), 16) != p:
                    v = -1
                else:
                    v = int(m.group(1))
            allowed = fm.allowed(p)
            if v not in {x % 100000 if x else 0 for x in allowed}:
                nbad += 1
                if nbad <= 3:
                    bad("file %d (%s): bytes %d-%d hold %s, expected %s" %
                        (fid, path, p * CHUNK, (p + 1) * CHUNK - 1,
                         "write %d" % v if v > 0 else ("zeros" if v == 0 else repr(c)),
                         " or ".join("write %d" % x if x else "zeros" for x in sorted(allowed))),
                        fm.chunk_must.get(p))
                elif fm.chunk_must.get(p):
                    lost.add(fm.chunk_must[p])
        if nbad > 3:
            problems.append("file %d (%s): %d wrong 16-byte chunks in all" % (fid, path, nbad))
    for fid, fm in sorted(files.items()):
        if None not in fm.locs and fid not in seen:
            bad("file %d missing: expected at %s" % (fid, sorted(fm.locs)), fm.loc_must)
    known_dirs = set(dirs)
    for d in sorted(found_dirs):
        if d not in known_dirs:
            bad("unknown directory %s in the view" % d)
    for d, info in sorted(dirs.items()):
        if info["must"] and d not in found_dirs:
            bad("directory %s missing" % d, info["op"])
    lost.discard(None)
    return problems, lost


def s3cmp(dump, s3dir):
    problems = []
    view = {}
    for root, dnames, fnames in os.walk(dump):
        for fn in fnames:
            view[os.path.join(root, fn)[len(dump):]] = os.path.join(root, fn)
    objs = {}
    for root, dnames, fnames in os.walk(s3dir):
        for fn in fnames:
            objs[os.path.join(root, fn)[len(s3dir):]] = os.path.join(root, fn)
    for k in sorted(set(view) | set(objs)):
        if k.endswith("/.dirmarker"):
            continue
        if k not in objs:
            problems.append("%s in the view, not in S3" % k)
        elif k not in view:
            problems.append("%s in S3, not in the view" % k)
        else:
            with open(view[k], "rb") as a, open(objs[k], "rb") as b:
                if a.read() != b.read():
                    problems.append("%s differs between the view and S3" % k)
    return problems


def stats(log):
    recs = read_log(log)
    counts = {}
    for r in recs:
        counts[r["op"]] = counts.get(r["op"], 0) + 1
    dur = durable_at(recs)
    never = sum(1 for i, r in enumerate(recs) if dur[i] is None)
    print(json.dumps({"records": len(recs), "ops": counts, "sync_points": len(sync_points(recs)),
                      "never_durable": never}))


def selftest(tmp):
    """The model and the check on a made-up recording: they must pass and fail."""
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp + "/snap/d")
    with open(tmp + "/snap/d/old", "wb") as fh:
        fh.write(b"x" * 32)
    chunk = b"w01001@00000000\n"
    lines = [("I", "2 d 1 d", b""), ("I", "3 f 2 old", b""),
             ("C", "4 2 f 33152", b""),        # 3: data-tier file created
             ("W", "4 0 16 +", chunk),          # 4
             ("F", "4 1", b""),                 # 5: fdatasync of the file
             ("W", "3 0 32 +", b"y" * 32),      # 6: never synced
             ("FD", "2 0", b""),                # 7: its directory
             ("U", "2 old 3", b"")]             # 8: never synced
    with open(tmp + "/log", "wb") as fh:
        for n, (op, f, data) in enumerate(lines, 1):
            fh.write(b"%d %d %s %s %d\n" % (n, 1000 * n, op.encode(), f.encode(), len(data)) + data)
    recs = read_log(tmp + "/log")
    dur = durable_at(recs, "posix")
    fails = []

    def expect(what, ok):
        if not ok:
            fails.append(what)
    expect("write durable at its fdatasync", dur[3] == 4)
    expect("create durable at the directory fsync", dur[2] == 6)
    expect("unsynced write never durable", dur[5] is None)
    expect("unsynced unlink never durable", dur[7] is None)

    def state(k, strat):
        out = tmp + "/s"
        shutil.rmtree(out, ignore_errors=True)
        build(tmp + "/log", tmp + "/snap", k, strat, "1", out)
        files = {}
        for root, _, fns in os.walk(out):
            for fn in fns:
                with open(os.path.join(root, fn), "rb") as fh:
                    files[os.path.join(root, fn)[len(out):]] = fh.read()
        return files
    s5 = state(5, "sync")
    expect("before the directory fsync the new file may be absent", "/d/f" not in s5)
    expect("an unsynced overwrite may be absent", s5.get("/d/old") == b"x" * 32)
    s7 = state(7, "sync")
    expect("after the directory fsync the file is there with its synced data", s7.get("/d/f") == chunk)
    s8 = state(8, "all")
    expect("'all' keeps the unsynced unlink", "/d/old" not in s8 and s8.get("/d/f") == chunk)
    # The check: a FILE_SYNC write acknowledged at t=50 must be in a crash at t=60.
    with open(tmp + "/acks", "w") as fh:
        fh.write("1000 10 20 CREATE 1 /f ok\n1001 30 50 WRITE 1 0 16 2 2 ok\n"
                 "1002 70 80 WRITE 1 16 16 0 0 ok\n")
    os.makedirs(tmp + "/view")

    def view(files):
        shutil.rmtree(tmp + "/view")
        os.makedirs(tmp + "/view")
        for name, data in files.items():
            with open(tmp + "/view" + name, "wb") as fh:
                fh.write(data)
        return check(tmp + "/acks", None, 60, tmp + "/view", True)
    p, lost = view({"/f": b"w01001@00000000\n"})
    expect("the acknowledged write present: no problem (%s)" % p, not p)
    p, lost = view({"/f": bytes(16)})
    expect("the acknowledged write replaced by zeros: lost", lost == {1001})
    p, lost = view({})
    expect("the acknowledged create missing: lost", lost == {1000})
    p, lost = view({"/f": b"w01001@00000000\n", "/g": b""})
    expect("an unknown file: a problem", any("unknown file" in x for x in p))
    p, lost = view({"/f": b"w01001@00000000\nw01002@00000001\n"})
    expect("a write sent after the crash point: a problem", p)
    p, lost = check(tmp + "/acks", None, 90, tmp + "/view", True), None
    expect("an unstable write not committed may be there (%s)" % p[0], not p[0])
    return fails


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "plan" and len(argv) == 6:
        plan(argv[2], argv[3], int(argv[4]), argv[5])
        return 0
    if cmd == "build" and len(argv) == 8:
        print(build(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7]))
        return 0
    if cmd == "check" and len(argv) == 6:
        meta_sync = os.environ.get("PCUT_META", "sync") != "async"
        problems, lost = check(argv[2], argv[3], int(argv[4]), argv[5].rstrip("/"), meta_sync)
        print(json.dumps({"ok": not problems, "lost": sorted(lost), "problems": problems}))
        return 1 if problems else 0
    if cmd == "s3cmp" and len(argv) == 4:
        problems = s3cmp(argv[2].rstrip("/"), argv[3].rstrip("/"))
        print(json.dumps({"ok": not problems, "problems": problems}))
        return 1 if problems else 0
    if cmd == "selftest" and len(argv) == 3:
        fails = selftest(argv[2])
        for f in fails:
            print("selftest: failed: " + f)
        return 1 if fails else 0
    if cmd == "stats" and len(argv) == 3:
        stats(argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
