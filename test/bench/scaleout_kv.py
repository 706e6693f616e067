#!/usr/bin/python3
"""scaleout_kv.py: the namespace's transactions, shaped as s3files' own, on a distributed
store: etcd (v3 API over gRPC with python3-etcd3, or "etcd-json": through etcd's HTTP/JSON
gateway, what a C client on libcurl would use) or Ceph RADOS (omap, python3-rados).
Part of test/bench/scaleout.sh; doc/SCALE-OUT.md explains the mappings measured here.

  scaleout_kv.py etcd|etcd-json URL THREADS OPS own|shared [relaxed]
  scaleout_kv.py rados CEPH_CONF POOL[/NAMESPACE] THREADS OPS own|shared

Phases, THREADS clients (threads, each with its own connection) doing OPS each:
  create   etcd: ONE transaction: the name must not exist (create_revision == 0) and the
           parent inode must be as last read (mod_revision), then put the inode, the
           dirent, the readdir cookie row, the dirty-queue row and the parent inode (its
           next_cookie, mtime, change). A failed compare re-reads the parent in the same
           round trip and retries (counted: create_retries). "relaxed": the parent inode is
           not compared nor written; the cookie is a hash of the name and the directory's
           mtime key is put blind (doc/SCALE-OUT.md, 3.1).
           rados: TWO write ops: (1) the inode and its dirty row in the omap of the inode's
           shard object (ino % 64), (2) on the directory's object: the name absent
           (omap_cmp), the object at the version last seen (assert_version), then the dirent,
           the cookie row and the directory's attributes in its omap; (2) is retried after
           re-reading the directory when the version moved (create_retries).
  lookup   the dirent of a random created name, then its inode (two reads, as NFS LOOKUP
           needs the attributes).
  readdir  one page of 128 cookie rows at a random cookie of a directory.
Values are sized like the LMDB records (inode 160 B, dirent 24 B).
Prints key=value lines like build/bench/bench_nsops, plus P_client_cpu (cores the client
itself used during phase P: this machine's 2 cores are shared by client and server) and,
with SCALEOUT_SERVER_PIDS="PID ...", P_server_cpu_us (CPU the store's processes used per
operation).
"""
import base64
import hashlib
import http.client
import json
import os
import random
import struct
import sys
import threading
import time
from urllib.parse import urlparse

INODE_LEN = 160
SERVER_PIDS = [int(p) for p in os.environ.get('SCALEOUT_SERVER_PIDS', '').split()]
CLK_TCK = os.sysconf('SC_CLK_TCK')


def server_cpu():
    """CPU seconds (user + system) used so far by the store's processes."""
    t = 0
    for pid in SERVER_PIDS:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        t += int(fields[11]) + int(fields[12])
    return t / CLK_TCK
PAGE = 128


def pct(lat, p):
    return lat[min(len(lat) - 1, len(lat) * p // 100)] * 1e6


def inode_val(ino, parent, next_cookie=0):
    head = struct.pack('<QQQ', ino, parent, next_cookie)
    return head + b'\0' * (INODE_LEN - len(head))


def name_of(t, i):
    return 'f-%03d-%09d.dat' % (t, i)


def cookie_of_name(name):
    # relaxed directories: a 63-bit hash, above NFS's reserved cookies
    return (int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), 'big')
            >> 1) | 4


# ---------------------------------------------------------------- etcd (v3 JSON gateway)

def b64(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.b64encode(b).decode()


def prefix_end(p):
    b = bytearray(p.encode())
    b[-1] += 1
    return bytes(b)


class Etcd:
    def __init__(self, url):
        u = urlparse(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)

    def call(self, path, body):
        self.conn.request('POST', path, body=json.dumps(body),
                          headers={'Content-Type': 'application/json'})
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError('etcd %s: %d %s' % (path, r.status, data[:200]))
        return json.loads(data)

    def range(self, key, end=None, limit=0):
        body = {'key': b64(key)}
        if end is not None:
            body['range_end'] = b64(end)
        if limit:
            body['limit'] = limit
        return self.call('/v3/kv/range', body).get('kvs', [])

    def txn(self, compare, success, failure=()):
        return self.call('/v3/kv/txn', {'compare': list(compare), 'success': list(success),
                                        'failure': list(failure)})


def put(k, v):
    return {'request_put': {'key': b64(k), 'value': b64(v)}}


def ikey(ino):
    return 'i/%016x' % ino


def dkey(parent, name):
    return 'd/%016x/%s' % (parent, name)


def ckey(parent, cookie):
    return 'c/%016x/%016x' % (parent, cookie)


def mkey(parent):
    # relaxed directories: their mtime, written blind (no compare: concurrent creates never
    # fail on it); its mod_revision is the directory's change attribute
    return 'm/%016x' % parent


class EtcdClient:
    """One client of the store: a gateway thread."""

    def __init__(self, url, relaxed):
        self.e = Etcd(url)
        self.relaxed = relaxed
        self.parents = {}   # parent ino -> (next_cookie, mod_revision)
        self.ino_next = self.ino_end = 0
        self.retries = 0

    def alloc_ino(self):
        # inode numbers in blocks of 1,024 from a counter key (one CAS per block)
        if self.ino_next == self.ino_end:
            while True:
                kvs = self.e.range('meta/next_ino')
                cur = int(base64.b64decode(kvs[0]['value'])) if kvs else 2
                rev = int(kvs[0]['mod_revision']) if kvs else 0
                cmp = ({'key': b64('meta/next_ino'), 'target': 'MOD', 'result': 'EQUAL',
                        'mod_revision': str(rev)} if kvs else
                       {'key': b64('meta/next_ino'), 'target': 'CREATE', 'result': 'EQUAL',
                        'create_revision': '0'})
                r = self.e.txn([cmp], [put('meta/next_ino', str(cur + 1024))])
                if r.get('succeeded'):
                    self.ino_next, self.ino_end = cur, cur + 1024
                    break
        self.ino_next += 1
        return self.ino_next - 1

    def load_parent(self, parent):
        kvs = self.e.range(ikey(parent))
        v = base64.b64decode(kvs[0]['value'])
        self.parents[parent] = (struct.unpack_from('<Q', v, 16)[0], int(kvs[0]['mod_revision']))

    def mkdir(self, ino):
        self.e.txn([], [put(ikey(ino), inode_val(ino, 1, 3))])

    def create(self, parent, name):
        ino = self.alloc_ino()
        if self.relaxed:
            ck = cookie_of_name(name)
            r = self.e.txn(
                [{'key': b64(dkey(parent, name)), 'target': 'CREATE', 'result': 'EQUAL',
                  'create_revision': '0'}],
                [put(ikey(ino), inode_val(ino, parent)),
                 put(dkey(parent, name), struct.pack('<QQQ', ino, ck, 1)),
                 put(ckey(parent, ck), struct.pack('<QB', ino, 1) + name.encode()),
                 put('q/dirty/%016x' % ino, b''),
                 put(mkey(parent), struct.pack('<q', time.time_ns()))])
            if not r.get('succeeded'):
                raise RuntimeError('exists: ' + name)
            return
        if parent not in self.parents:
            self.load_parent(parent)
        while True:
            ck, rev = self.parents[parent]
            r = self.e.txn(
                [{'key': b64(dkey(parent, name)), 'target': 'CREATE', 'result': 'EQUAL',
                  'create_revision': '0'},
                 {'key': b64(ikey(parent)), 'target': 'MOD', 'result': 'EQUAL',
                  'mod_revision': str(rev)}],
                [put(ikey(ino), inode_val(ino, parent)),
                 put(dkey(parent, name), struct.pack('<QQQ', ino, ck, 1)),
                 put(ckey(parent, ck), struct.pack('<QB', ino, 1) + name.encode()),
                 put('q/dirty/%016x' % ino, b''),
                 put(ikey(parent), inode_val(parent, 1, ck + 1))],
                [{'request_range': {'key': b64(ikey(parent))}},
                 {'request_range': {'key': b64(dkey(parent, name))}}])
            if r.get('succeeded'):
                # our own put is the parent's new revision
                self.parents[parent] = (ck + 1, int(r['header']['revision']))
                return
            resp = r['responses']
            if resp[1]['response_range'].get('kvs'):
                raise RuntimeError('exists: ' + name)
            kv = resp[0]['response_range']['kvs'][0]
            v = base64.b64decode(kv['value'])
            self.parents[parent] = (struct.unpack_from('<Q', v, 16)[0], int(kv['mod_revision']))
            self.retries += 1

    def lookup(self, parent, name):
        kvs = self.e.range(dkey(parent, name))
        ino = struct.unpack_from('<Q', base64.b64decode(kvs[0]['value']))[0]
        if not self.e.range(ikey(ino)):
            raise RuntimeError('no inode %x' % ino)

    def readdir(self, parent, after_cookie):
        p = 'c/%016x/' % parent
        self.e.range(ckey(parent, after_cookie + 1), prefix_end(p), PAGE)


class EtcdGrpcClient:
    """The same operations as EtcdClient, through etcd's native gRPC API (python3-etcd3)."""

    def __init__(self, url, relaxed):
        import etcd3
        u = urlparse(url)
        self.c = etcd3.client(host=u.hostname, port=u.port, timeout=30)
        self.t = self.c.transactions
        self.relaxed = relaxed
        self.parents = {}
        self.ino_next = self.ino_end = 0
        self.retries = 0

    def alloc_ino(self):
        if self.ino_next == self.ino_end:
            while True:
                v, m = self.c.get('meta/next_ino')
                cur = int(v) if v is not None else 2
                cmp = (self.t.mod('meta/next_ino') == m.mod_revision if v is not None else
                       self.t.create('meta/next_ino') == 0)
                ok, _ = self.c.transaction([cmp], [self.t.put('meta/next_ino', str(cur + 1024))],
                                           [])
                if ok:
                    self.ino_next, self.ino_end = cur, cur + 1024
                    break
        self.ino_next += 1
        return self.ino_next - 1

    def mkdir(self, ino):
        self.c.put(ikey(ino), inode_val(ino, 1, 3))

    def create(self, parent, name):
        t = self.t
        ino = self.alloc_ino()
        if self.relaxed:
            ck = cookie_of_name(name)
            ok, _ = self.c.transaction(
                [t.create(dkey(parent, name)) == 0],
                [t.put(ikey(ino), inode_val(ino, parent)),
                 t.put(dkey(parent, name), struct.pack('<QQQ', ino, ck, 1)),
                 t.put(ckey(parent, ck), struct.pack('<QB', ino, 1) + name.encode()),
                 t.put('q/dirty/%016x' % ino, b''),
                 t.put(mkey(parent), struct.pack('<q', time.time_ns()))], [])
            if not ok:
                raise RuntimeError('exists: ' + name)
            return
        if parent not in self.parents:
            v, m = self.c.get(ikey(parent))
            self.parents[parent] = (struct.unpack_from('<Q', v, 16)[0], m.mod_revision)
        while True:
            ck, rev = self.parents[parent]
            ok, resp = self.c.transaction(
                [t.create(dkey(parent, name)) == 0, t.mod(ikey(parent)) == rev],
                [t.put(ikey(ino), inode_val(ino, parent)),
                 t.put(dkey(parent, name), struct.pack('<QQQ', ino, ck, 1)),
                 t.put(ckey(parent, ck), struct.pack('<QB', ino, 1) + name.encode()),
                 t.put('q/dirty/%016x' % ino, b''),
                 t.put(ikey(parent), inode_val(parent, 1, ck + 1))],
                [t.get(ikey(parent)), t.get(dkey(parent, name))])
            if ok:
                # the txn's revision is the parent's new mod_revision
                self.parents[parent] = (ck + 1, resp[0].response_put.header.revision)
                return
            if resp[1]:
                raise RuntimeError('exists: ' + name)
            v, m = resp[0][0]
            self.parents[parent] = (struct.unpack_from('<Q', v, 16)[0], m.mod_revision)
            self.retries += 1

    def lookup(self, parent, name):
        v, _ = self.c.get(dkey(parent, name))
        ino = struct.unpack_from('<Q', v)[0]
        if self.c.get(ikey(ino))[0] is None:
            raise RuntimeError('no inode %x' % ino)

    def readdir(self, parent, after_cookie):
        p = 'c/%016x/' % parent
        r = self.c.get_range_response(ckey(parent, after_cookie + 1), prefix_end(p), limit=PAGE)
        return len(r.kvs)


# ---------------------------------------------------------------- RADOS (omap)

SHARDS = 64


class RadosClient:
    def __init__(self, cluster, pool):
        import rados
        self.rados = rados
        pool, _, ns = pool.partition('/')
        self.io = cluster.open_ioctx(pool)
        self.io.set_namespace(ns)
        self.dirs = {}      # dir ino -> (next_cookie, object version)
        self.retries = 0

    def load_dir(self, d):
        r = self.rados
        with r.ReadOpCtx() as op:
            it, _ = self.io.get_omap_vals_by_keys(op, ('a',))
            self.io.operate_read_op(op, 'dir.%016x' % d)
            vals = dict(it)
        self.dirs[d] = (struct.unpack_from('<Q', vals['a'], 16)[0], self.io.get_last_version())

    def mkdir(self, d):
        with self.rados.WriteOpCtx() as op:
            self.io.set_omap(op, ('a',), (inode_val(d, 1, 3),))
            self.io.operate_write_op(op, 'dir.%016x' % d)

    def create(self, parent, name, ino):
        r = self.rados
        with r.WriteOpCtx() as op:
            self.io.set_omap(op, ('i%016x' % ino, 'q%016x' % ino), (inode_val(ino, parent), b''))
            self.io.operate_write_op(op, 'ino.%02d' % (ino % SHARDS))
        if parent not in self.dirs:
            self.load_dir(parent)
        while True:
            ck, ver = self.dirs[parent]
            with r.WriteOpCtx() as op:
                op.omap_cmp('n' + name, '', r.LIBRADOS_CMPXATTR_OP_EQ)
                op.assert_version(ver)
                self.io.set_omap(op, ('n' + name, 'c%016x' % ck, 'a'),
                                 (struct.pack('<QQQ', ino, ck, 1),
                                  struct.pack('<QB', ino, 1) + name.encode(),
                                  inode_val(parent, 1, ck + 1)))
                try:
                    self.io.operate_write_op(op, 'dir.%016x' % parent)
                    self.dirs[parent] = (ck + 1, self.io.get_last_version())
                    return
                except r.Error as e:
                    errno_ = abs(getattr(e, 'errno', 0) or 0)
                    if errno_ not in (34, 75, 125):   # ERANGE, EOVERFLOW, ECANCELED
                        raise
            if errno_ == 125:
                raise RuntimeError('exists: ' + name)
            self.retries += 1
            self.load_dir(parent)

    def lookup(self, parent, name):
        r = self.rados
        with r.ReadOpCtx() as op:
            it, _ = self.io.get_omap_vals_by_keys(op, ('n' + name,))
            self.io.operate_read_op(op, 'dir.%016x' % parent)
            vals = dict(it)
        ino = struct.unpack_from('<Q', vals['n' + name])[0]
        with r.ReadOpCtx() as op:
            it, _ = self.io.get_omap_vals_by_keys(op, ('i%016x' % ino,))
            self.io.operate_read_op(op, 'ino.%02d' % (ino % SHARDS))
            if not dict(it):
                raise RuntimeError('no inode %x' % ino)

    def readdir(self, parent, after_cookie):
        with self.rados.ReadOpCtx() as op:
            it, _ = self.io.get_omap_vals(op, 'c%016x' % after_cookie, 'c', PAGE)
            self.io.operate_read_op(op, 'dir.%016x' % parent)
            n = sum(1 for _ in it)
        return n


# ---------------------------------------------------------------- driver

def run(kind, make_client, threads, ops, shared, relaxed=False):
    # directories far above the inode numbers the files get (counter from 2; rados: by thread)
    dirs = [(1 << 60) + (0 if shared else t) for t in range(threads)]
    setup = make_client(0)
    for d in sorted(set(dirs)):
        setup.mkdir(d)
    clients = [make_client(t) for t in range(threads)]
    out = {}
    retries = 0

    def phase(name, fn):
        lat = [[] for _ in range(threads)]
        errs = []

        def body(t):
            rnd = random.Random(t + 1)
            try:
                for i in range(ops):
                    t0 = time.perf_counter()
                    fn(t, i, rnd)
                    lat[t].append(time.perf_counter() - t0)
            except Exception as e:  # noqa: BLE001 - reported and fatal
                errs.append('%s thread %d: %r' % (name, t, e))

        ths = [threading.Thread(target=body, args=(t,)) for t in range(threads)]
        t0 = time.perf_counter()
        c0 = time.process_time()
        s0 = server_cpu()
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        scpu = server_cpu() - s0
        if errs:
            raise SystemExit('scaleout_kv: ' + errs[0])
        all_ = sorted(x for l in lat for x in l)
        out[name + '_ops_per_s'] = '%.0f' % (len(all_) / wall)
        out[name + '_us_p50'] = '%.1f' % pct(all_, 50)
        out[name + '_us_p99'] = '%.1f' % pct(all_, 99)
        # the client's own CPU (all its threads, librados' included) per second of the
        # phase: near 1.0 with Python's one interpreter lock means the client, not the
        # store, set the pace
        out[name + '_client_cpu'] = '%.2f' % (cpu / wall)
        # the store's own CPU per operation (its processes, SCALEOUT_SERVER_PIDS): what
        # an operation costs the server whatever the machine's load
        if SERVER_PIDS:
            out[name + '_server_cpu_us'] = '%.0f' % (scpu / len(all_) * 1e6)

    if kind == 'rados':
        phase('create', lambda t, i, r: clients[t].create(dirs[t], name_of(t, i),
                                                          ((t + 1) << 32) + i))
    else:
        phase('create', lambda t, i, r: clients[t].create(dirs[t], name_of(t, i)))
    retries = sum(c.retries for c in clients)

    def lookup(t, i, rnd):
        c = rnd.randrange(threads)
        clients[t].lookup(dirs[c], name_of(c, rnd.randrange(ops)))
    phase('lookup', lookup)

    per_dir = ops * threads if shared else ops

    def readdir(t, i, rnd):
        d = dirs[rnd.randrange(threads)]
        if relaxed:
            clients[t].readdir(d, rnd.getrandbits(62))
        else:
            clients[t].readdir(d, 2 + rnd.randrange(per_dir))
    phase('readdir', readdir)
    print('threads=%d\nops=%d\ndirs=%s\nrelaxed=%s' % (threads, ops,
                                                       'shared' if shared else 'own',
                                                       'yes' if relaxed else 'no'))
    for k, v in out.items():
        print('%s=%s' % (k, v))
    print('create_retries=%d' % retries)


def main():
    a = sys.argv[1:]
    if len(a) >= 5 and a[0] in ('etcd', 'etcd-json'):
        url, threads, ops, shared = a[1], int(a[2]), int(a[3]), a[4] == 'shared'
        relaxed = len(a) > 5 and a[5] == 'relaxed'
        cls = EtcdGrpcClient if a[0] == 'etcd' else EtcdClient
        run('etcd', lambda t: cls(url, relaxed), threads, ops, shared, relaxed)
    elif len(a) == 6 and a[0] == 'rados':
        import rados
        conf, pool, threads, ops, shared = a[1], a[2], int(a[3]), int(a[4]), a[5] == 'shared'
        cluster = rados.Rados(conffile=conf)
        cluster.connect(timeout=20)
        try:
            run('rados', lambda t: RadosClient(cluster, pool), threads, ops, shared)
        finally:
            cluster.shutdown()
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
