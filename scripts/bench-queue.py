#!/usr/bin/env python3
"""Queued writes (rqbench -q) beside plain writes at 64 clients on one rqlited, same run: rows/s
until everything is written (a queue&wait barrier after the queued run) and fsyncs per write.
usage: bench-queue.py RQLITED"""
import json, os, subprocess, sys, time, tempfile, shutil, http.client
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "server"))
from rqlited_harness import Node
BIN = sys.argv[1]
n = Node(BIN)
try:
    n.start()
    def status(): return json.loads(n.request("GET", "/status")[2])
    def fsyncs(): return status()["store"]["raft"]["fsyncs"]
    def count(t):
        return json.loads(n.query("SELECT count(*) FROM %s" % t)[2])["results"][0]["values"][0][0]
    n.execute(["CREATE TABLE plain (id INTEGER PRIMARY KEY, name TEXT)", "CREATE TABLE queued (id INTEGER PRIMARY KEY, name TEXT)"])
    bench = os.path.join(os.path.dirname(os.path.abspath(BIN)), "rqbench")
    for label, table, extra in [("plain", "plain", []), ("queued", "queued", ["-q"])]:
        f0 = fsyncs(); c0 = count(table); t0 = time.monotonic()
        cmd = [bench, "-a", n.http_addr, "-c", "64", "-d", "5"] + extra + ["INSERT INTO %s(name) VALUES('fiona')" % table]
        print("$", " ".join(cmd)); sys.stdout.flush()
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        print(out.stdout.strip()); print(out.stderr.strip())
        if extra:
            st, _, b = n.request("POST", "/db/execute?queue&wait&timeout=60s", "[]", "application/json", timeout=90)
            if st != 200:  # before the data() change: an empty-SQL barrier does the same
                st, _, b = n.request("POST", "/db/execute?queue&wait&timeout=60s", '[""]', "application/json", timeout=90)
            print("barrier:", st, b)
        t1 = time.monotonic(); f1 = fsyncs(); c1 = count(table)
        rows = c1 - c0
        print("%s: rows written %d in %.2fs (until all written) = %.0f rows/s; fsyncs %d = %.4f per write" % (label, rows, t1 - t0, rows / (t1 - t0), f1 - f0, (f1 - f0) / max(rows, 1)))
    print(json.dumps(json.loads(n.request("GET", "/debug/vars?key=http")[2])["http"]))
finally:
    n.cleanup()
