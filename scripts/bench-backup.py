#!/usr/bin/env python3
"""Backup / load / boot throughput of rqlited, beside cp + sync of the same file, median of 3.
usage: scripts/bench-backup.py RQLITED ROWS   (ROWS x ~1 KB random blobs; 96000 rows is ~98.6 MB)"""
import http.client, os, sqlite3, statistics, subprocess, sys, tempfile, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "server"))
from rqlited_harness import Node

BIN, ROWS = sys.argv[1], int(sys.argv[2])
FILL = ("INSERT INTO big(pad) WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM n WHERE x < %d) "
        "SELECT randomblob(1000) FROM n" % ROWS)
work = tempfile.mkdtemp(prefix="rq-bench-backup-")
src = os.path.join(work, "src.db")
c = sqlite3.connect(src); c.execute("CREATE TABLE big (i INTEGER PRIMARY KEY, pad BLOB)"); c.execute(FILL); c.commit(); c.close()
image = open(src, "rb").read()
mb = len(image) / 1e6
print("database file: %d bytes (%.1f MB), %s" % (len(image), mb, BIN))

def req(node, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=600)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/octet-stream"} if body else {})
        r = conn.getresponse(); data = r.read()
        return r.status, data
    except (BrokenPipeError, ConnectionResetError):
        return 413, b"request body too large (answered before the body was sent)"
    finally:
        conn.close()

def timed(fn):
    t = time.monotonic(); r = fn(); return time.monotonic() - t, r

def vm_hwm(node):
    for line in open("/proc/%d/status" % node.proc.pid):
        if line.startswith("VmHWM"): return int(line.split()[1]) // 1024

res = {k: [] for k in ("cp+sync", "load", "boot", "backup", "backup fmt=delete", "backup fmt=sql", "backup compress")}
peak = {}
for rep in range(3):
    dst = os.path.join(work, "copy.db")
    t, _ = timed(lambda: subprocess.run(["sh", "-c", "cp %s %s && sync %s" % (src, dst, dst)], check=True))
    res["cp+sync"].append(t); os.unlink(dst)
    a = Node(BIN); a.start()
    try:
        t, (st, body) = timed(lambda: req(a, "POST", "/db/load", image))
        if st == 200:
            res["load"].append(t); peak["load"] = vm_hwm(a)
        else:
            print("load: %d %s -> filling through /db/execute instead" % (st, body[:60]))
            st, body = req(a, "POST", "/db/execute", ('["CREATE TABLE big (i INTEGER PRIMARY KEY, pad BLOB)", "%s"]' % FILL).encode())
            assert st == 200 and b"error" not in body, body
        for key, path in (("backup", "/db/backup"), ("backup fmt=delete", "/db/backup?fmt=delete"),
                          ("backup fmt=sql", "/db/backup?fmt=sql"), ("backup compress", "/db/backup?compress")):
            t, (st, body) = timed(lambda: req(a, "GET", path)); assert st == 200 and len(body) > len(image) // 4, (st, len(body))
            res[key].append(t)
        peak["backups"] = vm_hwm(a)
    finally:
        a.cleanup()
    b = Node(BIN); b.start()
    try:
        t, (st, body) = timed(lambda: req(b, "POST", "/boot", image))
        if st == 200:
            res["boot"].append(t); peak["boot"] = vm_hwm(b)
        else:
            print("boot: %d %s" % (st, body[:60]))
    finally:
        b.cleanup()
for k, v in res.items():
    if v:
        med = statistics.median(v)
        print("%-18s %6.3f s  %5.0f MB/s of the database file  (runs %s)" % (k, med, mb / med, " ".join("%.3f" % x for x in v)))
print("peak RSS (VmHWM, MB):", peak)
import shutil
shutil.rmtree(work, ignore_errors=True)
