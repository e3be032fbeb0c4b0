#!/usr/bin/env python3
"""rqlited as a real process on 127.0.0.1: rqlite's data API byte for byte
(rqlite-compat.md §1, §7, §10), bad input, persistence across restarts and kill -9.
Usage: rqlited_test.py PATH_TO_RQLITED [unittest args]"""
import json
import os
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rqlited_harness import Node, OneNodeCase  # noqa: E402

RQLITED = None
JSON = "application/json"


class DataApi(OneNodeCase):
    """One node for the whole class; each test uses its own tables."""

    def test_a_fresh_node_execute_exact_results(self):
        # Runs first (unittest sorts by name): counters are the connection's, and a CREATE TABLE
        # on a fresh node gives {}.
        h = self.assertBody(self.post("/db/execute", ["CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT, age INTEGER)"]),
                            200, '{"results":[{}]}')
        self.assertEqual(h["content-type"], "application/json; charset=utf-8")
        self.assertTrue(h["x-rqlite-version"].startswith("v"))
        self.assertEqual(h["x-rqlite-served-by"], self.n.http_addr)
        self.assertEqual(h["access-control-allow-methods"], "OPTIONS, GET, POST")
        self.assertBody(self.post("/db/execute", [["INSERT INTO foo(name, age) VALUES(?, ?)", "fiona", 20]]),
                        200, '{"results":[{"last_insert_id":1,"rows_affected":1}]}')
        self.assertBody(self.post("/db/execute", ["INSERT INTO bar VALUES(1)"]),
                        200, '{"results":[{"error":"no such table: bar"}]}')
        self.assertBody(self.n.query("SELECT * FROM foo"), 200,
                        '{"results":[{"columns":["id","name","age"],"types":["integer","text","integer"],"values":[[1,"fiona",20]]}]}')
        self.assertBody(self.n.query("SELECT * FROM foo", "?associative"), 200,
                        '{"results":[{"types":{"age":"integer","id":"integer","name":"text"},"rows":[{"age":20,"id":1,"name":"fiona"}]}]}')
        self.assertBody(self.n.query("SELECT COUNT(*) FROM foo"), 200,
                        '{"results":[{"columns":["COUNT(*)"],"types":["integer"],"values":[[1]]}]}')
        self.assertBody(self.n.query("SELECT id, name FROM foo WHERE id > 5"), 200,
                        '{"results":[{"columns":["id","name"],"types":["integer","text"]}]}')
        # Counters are the connection's, read after each statement: DROP repeats the insert's.
        self.assertBody(self.post("/db/execute", ["CREATE TABLE drop_me (x)", "INSERT INTO drop_me VALUES(7)", "DROP TABLE drop_me"]),
                        200, '{"results":[{"last_insert_id":1,"rows_affected":1},{"last_insert_id":1,"rows_affected":1},{"last_insert_id":1,"rows_affected":1}]}')

    def test_named_params_mixed_and_typing(self):
        self.post("/db/execute", ["CREATE TABLE typ (a, b, c, d)"])
        self.assertBody(self.post("/db/execute", [["INSERT INTO typ VALUES(:a, :b, :c, :d)", {"a": 1, "b": 1.5, "c": True, "d": None}],
                                                  "INSERT INTO typ VALUES(2, 'x', 'y', 'z')"]),
                        200, '{"results":[{"last_insert_id":1,"rows_affected":1},{"last_insert_id":2,"rows_affected":1}]}')
        self.assertBody(self.n.query("SELECT a, b, c, d, typeof(c) FROM typ ORDER BY rowid"), 200,
                        '{"results":[{"columns":["a","b","c","d","typeof(c)"],"types":["integer","real","integer","","text"],'
                        '"values":[[1,1.5,1,null,"integer"],[2,"x","y","z","text"]]}]}')

    def test_blobs_base64_and_blob_array(self):
        self.post("/db/execute", ["CREATE TABLE bl (b BLOB)", ["INSERT INTO bl VALUES(?)", [222, 173, 190, 239]], ["INSERT INTO bl VALUES(?)", "x'414243'"]])
        self.assertBody(self.n.query("SELECT b FROM bl ORDER BY rowid"), 200,
                        '{"results":[{"columns":["b"],"types":["blob"],"values":[["3q2+7w=="],["QUJD"]]}]}')
        self.assertBody(self.n.query("SELECT b FROM bl ORDER BY rowid", "?blob_array"), 200,
                        '{"results":[{"columns":["b"],"types":["blob"],"values":[[[222,173,190,239]],[[65,66,67]]]}]}')

    def test_html_escaping_and_pretty(self):
        self.post("/db/execute", ["CREATE TABLE esc (v TEXT)", "INSERT INTO esc VALUES('<a&b>')"])
        self.assertBody(self.n.query("SELECT v FROM esc"), 200,
                        '{"results":[{"columns":["v"],"types":["text"],"values":[["\\u003ca\\u0026b\\u003e"]]}]}')
        st, _, body = self.n.query("SELECT v FROM esc", "?pretty")
        self.assertEqual(st, 200)
        self.assertEqual(body, '{\n    "results": [\n        {\n            "columns": [\n                "v"\n            ],\n'
                               '            "types": [\n                "text"\n            ],\n            "values": [\n'
                               '                [\n                    "\\u003ca\\u0026b\\u003e"\n                ]\n'
                               '            ]\n        }\n    ]\n}')

    def test_request_endpoint_associative(self):
        self.post("/db/execute", ["CREATE TABLE req (id INTEGER NOT NULL PRIMARY KEY, name TEXT)"])
        self.assertBody(self.post("/db/request?associative", [["INSERT INTO req(name) VALUES(?)", "fiona"], "SELECT * FROM req", "SELECT * FROM nope"]),
                        200, '{"results":[{"last_insert_id":1,"rows_affected":1,"rows":null},'
                             '{"types":{"id":"integer","name":"text"},"rows":[{"id":1,"name":"fiona"}]},{"error":"no such table: nope"}]}')

    def test_text_plain_bodies(self):
        self.assertBody(self.post("/db/execute", "CREATE TABLE tp (x); INSERT INTO tp VALUES(1); INSERT INTO tp VALUES(2)", "text/plain"),
                        200, '{"results":[{"last_insert_id":2,"rows_affected":1}]}')
        self.assertBody(self.post("/db/query", "SELECT count(*) FROM tp", "text/plain"),
                        200, '{"results":[{"columns":["count(*)"],"types":["integer"],"values":[[2]]}]}')

    def test_transaction_stops_at_first_error(self):
        self.post("/db/execute", ["CREATE TABLE tx (v)"])
        self.assertBody(self.post("/db/execute?transaction", ["INSERT INTO tx VALUES(1)", "INSERT INTO nope VALUES(1)", "INSERT INTO tx VALUES(3)"]),
                        200, '{"results":[{"last_insert_id":1,"rows_affected":1},{"error":"no such table: nope"}]}')
        self.assertBody(self.n.query("SELECT count(*) FROM tx"), 200,
                        '{"results":[{"columns":["count(*)"],"types":["integer"],"values":[[0]]}]}')

    def test_every_read_level_and_raft_index(self):
        self.post("/db/execute", ["CREATE TABLE lv (v)", "INSERT INTO lv VALUES(5)"])
        for level in ["none", "weak", "linearizable", "strong", "auto", "WEAK", "bogus"]:
            self.assertBody(self.n.query("SELECT v FROM lv", "?level=" + level), 200,
                            '{"results":[{"columns":["v"],"types":["integer"],"values":[[5]]}]}')
        st, _, body = self.post("/db/execute?raft_index", ["INSERT INTO lv VALUES(6)"])
        self.assertEqual(st, 200)
        got = json.loads(body)
        self.assertGreater(got["raft_index"], 0)
        self.assertEqual(body, '{"results":[{"last_insert_id":2,"rows_affected":1}],"raft_index":%d}' % got["raft_index"])

    def test_timings(self):
        st, _, body = self.n.query("SELECT 1", "?timings")
        self.assertEqual(st, 200)
        got = json.loads(body)
        self.assertIn("time", got)
        self.assertIn("time", got["results"][0])
        self.assertNotIn("time", json.loads(self.n.query("SELECT 1")[2]))

    def test_returning_plain_and_associative(self):
        self.post("/db/execute", ["CREATE TABLE ret (id INTEGER PRIMARY KEY, name TEXT)"])
        self.assertBody(self.post("/db/execute", [["INSERT INTO ret(name) VALUES(?) RETURNING id, name", "declan"]]),
                        200, '{"results":[{"columns":["id","name"],"types":["integer","text"],"values":[[1,"declan"]]}]}')
        self.assertBody(self.post("/db/execute?associative", [["INSERT INTO ret(name) VALUES(?) RETURNING *", "fiona"]]),
                        200, '{"results":[{"types":{"id":"integer","name":"text"},"rows":[{"id":2,"name":"fiona"}]}]}')

    def test_db_timeout_interrupts_a_long_read(self):
        slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
        for level in ["none", "weak", "linearizable"]:
            self.assertBody(self.n.query(slow, "?db_timeout=100ms&level=" + level), 200,
                            '{"results":[{"error":"query timeout"}]}')
        # Reads keep working afterwards, on every connection of the pool.
        for _ in range(8):
            self.assertEqual(self.n.query("SELECT 1")[0], 200)

    def test_timings_on_writes_and_freshness_ignored_by_the_leader(self):
        st, _, body = self.post("/db/execute?timings", ["CREATE TABLE tim (x)", "INSERT INTO tim VALUES(1)"])
        got = json.loads(body)
        self.assertTrue(all(r["time"] > 0 for r in got["results"]), body)
        self.assertGreater(got["time"], 0)
        self.assertBody(self.n.query("SELECT x FROM tim", "?level=none&freshness=1ns&freshness_strict"), 200,
                        '{"results":[{"columns":["x"],"types":["integer"],"values":[[1]]}]}')

    def test_disallowed_pragmas_everywhere(self):
        for path in ["/db/execute", "/db/query", "/db/request"]:
            self.assertBody(self.post(path, ["PRAGMA journal_mode=DELETE"]), 200, '{"results":[],"error":"disallowed pragma"}')
        self.assertBody(self.n.query("pragma wal_checkpoint(truncate)"), 200, '{"results":[],"error":"disallowed pragma"}')

    def test_write_through_query_refused(self):
        self.post("/db/execute", ["CREATE TABLE ro (v)"])
        self.assertBody(self.n.query("INSERT INTO ro VALUES(1)"), 200,
                        '{"results":[{"error":"attempt to change database via query operation"}]}')

    def test_bad_input_catalogue(self):
        cases = [
            (self.post("/db/execute", "not json", JSON), 400, "invalid JSON body\n"),
            (self.post("/db/execute", '["SELECT 1", ', JSON), 400, "invalid JSON body\n"),
            # rqlite decodes as a stream: a well-formed token in the wrong place is seen first.
            (self.post("/db/execute", "{not json", JSON), 400, "invalid request\n"),
            (self.post("/db/execute", "[]"), 400, "no statements\n"),
            (self.post("/db/execute", "{}"), 400, "invalid request\n"),
            (self.post("/db/execute", "[[]]"), 400, "invalid request\n"),
            (self.post("/db/execute", "[1]"), 400, "invalid request\n"),
            (self.post("/db/execute?timeout=abc", ["SELECT 1"]), 400, "timeout is not a valid duration\n"),
            (self.post("/db/execute?db_timeout=1", ["SELECT 1"]), 400, "db_timeout is not a valid duration\n"),
            (self.n.query("SELECT 1", "?freshness_strict"), 400, "freshness_strict requires freshness\n"),
            (self.n.query("SELECT 1", "?retries=x"), 400, "retries is not a valid integer\n"),
            (self.n.request("GET", "/db/query?q="), 400, "query parameter not set\n"),
        ]
        for (st, _, body), want_st, want_body in cases:
            self.assertEqual((st, body), (want_st, want_body))
        self.assertBody(self.post("/db/execute", '[""]'), 200, '{"results":[]}')
        self.assertBody(self.n.request("GET", "/db/query"), 200, '{"results":[]}')
        st, _, body = self.n.execute([["INSERT INTO x VALUES(?)", [1, "a"]]])
        self.assertEqual(st, 400)
        self.assertIn("unsupported type", body)
        self.assertBody(self.n.request("GET", "/db/execute"), 405, "")
        self.assertBody(self.n.request("GET", "/no/such/path"), 404, "")
        self.assertBody(self.n.request("OPTIONS", "/db/execute"), 200, "")
        st, h, _ = self.n.request("GET", "/")
        self.assertEqual((st, h.get("location")), (302, "/console/"))
        # Bad SQL is a per-statement error, and the node still serves afterwards.
        self.assertBody(self.post("/db/execute", ["INSERT INTO"]), 200, '{"results":[{"error":"incomplete input"}]}')
        st, _, body = self.post("/db/execute", ["CREATE TABLE after_bad (v)"])
        self.assertEqual(st, 200)
        self.assertNotIn("error", body)

    def test_huge_body_is_refused_and_node_keeps_serving(self):
        big = "[" + ",".join(['"SELECT 1"'] * 10) + "]" + " " * (70 << 20)
        try:
            st, _, body = self.post("/db/execute", big)
            self.assertEqual(st, 413)
        except (ConnectionError, OSError):
            pass  # the server may close before reading it all; it must keep serving
        self.assertBody(self.n.query("SELECT 1"), 200, '{"results":[{"columns":["1"],"types":["integer"],"values":[[1]]}]}')

    def test_malformed_http_keeps_serving(self):
        import socket
        with socket.create_connection(("127.0.0.1", self.n.http_port), timeout=5) as s:
            s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
            data = s.recv(4096)
            self.assertTrue(data.startswith(b"HTTP/1.1 400"), data)
        self.assertEqual(self.n.query("SELECT 1")[0], 200)

    def test_hostile_bytes_on_the_raft_port_are_harmless(self):
        import socket
        import struct
        frames = [
            b"\xff\xff\xff\x7f" + b"x" * 16,          # a length far over the frame limit
            struct.pack("<I", 12) + b"not capnp!!!",     # a frame that is not an envelope
            struct.pack("<I", 0),                        # an empty frame
            b"GET / HTTP/1.1\r\n\r\n",                   # another protocol altogether
        ]
        for f in frames:
            with socket.create_connection(("127.0.0.1", self.n.raft_port), timeout=5) as s:
                s.sendall(f)
        self.assertEqual(self.post("/db/execute", ["CREATE TABLE IF NOT EXISTS hostile (v)"])[0], 200)
        self.assertEqual(self.post("/db/execute", ["INSERT INTO hostile VALUES(1)"])[0], 200)
        self.assertEqual(self.n.request("GET", "/readyz")[0], 200)
        t = json.loads(self.n.request("GET", "/status?key=store.raft.transport")[2])
        self.assertGreaterEqual(t["oversized_frames"], 1)
        self.assertGreaterEqual(t["accepted"], len(frames))
        log = self.n.log_tail()
        self.assertIn("closing a connection from 127.0.0.1:", log)
        self.assertIn("frame of 2147483647 bytes", log)
        self.assertIn("dropped an undecodable message", log)

    def test_status_and_readyz(self):
        st, _, body = self.n.request("GET", "/readyz")
        self.assertEqual((st, body), (200, "[+]node ok\n[+]leader ok\n[+]store ok\n[+]db ok"))
        self.assertEqual(self.n.request("GET", "/readyz?noleader")[:3:2], (200, "[+]node ok"))
        st, _, body = self.n.request("GET", "/status")
        self.assertEqual(st, 200)
        s = json.loads(body)
        raft = s["store"]["raft"]
        self.assertEqual(raft["state"], "Leader")
        self.assertTrue(raft["voter"])
        for k in ["last_log_index", "commit_index", "applied_index", "fsm_pending", "last_snapshot_index"]:
            self.assertIsInstance(raft[k], int, k)
        self.assertEqual(s["store"]["leader"]["node_id"], "1")
        self.assertNotEqual(s["store"]["leader"]["addr"], "")
        self.assertEqual(s["store"]["sqlite3"]["pragmas"]["rw"],
                         {"busy_timeout": "5000", "foreign_keys": "0", "journal_mode": "wal", "synchronous": "0", "wal_autocheckpoint": "0"})
        self.assertTrue(s["store"]["sqlite3"]["path"].endswith("/db.sqlite"))
        self.assertGreaterEqual(s["store"]["fsm_index"], 1)
        self.assertEqual(list(s.keys()), sorted(s.keys()))
        st, _, body = self.n.request("GET", "/status?key=store.leader")
        self.assertEqual(json.loads(body), {"addr": s["store"]["leader"]["addr"], "node_id": "1"})
        self.assertEqual(self.n.request("GET", "/status?key=no.such")[2], "{}")


class Durability(unittest.TestCase):
    def setUp(self):
        self.n = Node(RQLITED)

    def tearDown(self):
        self.n.cleanup()

    def count(self):
        st, _, body = self.n.query("SELECT count(*) FROM t")
        self.assertEqual(st, 200, body)
        return json.loads(body)["results"][0]["values"][0][0]

    def test_restart_keeps_data(self):
        self.n.start()
        self.n.execute(["CREATE TABLE t (v)"])
        for i in range(20):
            self.assertEqual(self.n.execute([["INSERT INTO t VALUES(?)", i]])[0], 200)
        self.assertEqual(self.n.stop(), 0)
        self.n.start()
        self.assertEqual(self.count(), 20)

    def test_database_file_is_a_cache_rebuilt_from_the_log(self):
        # Catalogue bug M12 (an applied index persisted apart from the SQLite commit) cannot
        # exist here: nothing is read back from the database file at start. Whatever it holds
        # when the node starts (a stale copy, another database, a torn WAL) is discarded and
        # the state rebuilt from the snapshot and the log.
        import sqlite3
        self.n.start()
        self.n.execute(["CREATE TABLE t (v)"])
        for i in range(5):
            self.assertEqual(self.n.execute([["INSERT INTO t VALUES(?)", i]])[0], 200)
        self.assertEqual(self.n.stop(), 0)
        path = os.path.join(self.n.data_dir, "db.sqlite")
        os.remove(path)
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE t (v)")
        db.executemany("INSERT INTO t VALUES(?)", [(i,) for i in range(100, 140)])
        db.execute("CREATE TABLE intruder (x)")
        db.commit()
        db.close()
        with open(path + "-wal", "wb") as f:
            f.write(b"\x37\x7f\x06\x82" + os.urandom(4000))
        self.n.start()
        self.assertEqual(self.count(), 5)
        st, _, body = self.n.query("SELECT sum(v) FROM t")
        self.assertEqual(json.loads(body)["results"][0]["values"][0][0], sum(range(5)))
        st, _, body = self.n.query("SELECT name FROM sqlite_master WHERE name = 'intruder'")
        self.assertNotIn("values", json.loads(body)["results"][0])

    def test_database_file_is_readable_by_another_process(self):
        import sqlite3
        self.n.start()
        self.n.execute(["CREATE TABLE t (v)", "INSERT INTO t VALUES('seen')"])
        path = os.path.join(self.n.data_dir, "db.sqlite")
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
        try:
            self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "wal")
            self.assertEqual(db.execute("SELECT v FROM t").fetchall(), [("seen",)])
            self.n.execute(["INSERT INTO t VALUES('later')"])
            self.assertEqual(db.execute("SELECT count(*) FROM t").fetchone()[0], 2)
        finally:
            db.close()

    def test_restart_after_snapshots_and_compaction(self):
        self.n.extra = ["-raft-snap", "50", "-raft-snap-int", "50ms"]
        self.n.start()
        self.n.execute(["CREATE TABLE t (v)"])
        for i in range(230):
            self.assertEqual(self.n.execute([["INSERT INTO t VALUES(?)", i]])[0], 200)
        st = json.loads(self.n.request("GET", "/status")[2])
        self.assertGreater(st["store"]["raft"]["last_snapshot_index"], 0, "no snapshot was taken")
        self.assertTrue(st["store"]["snapshot_store"]["snapshots"])
        self.assertEqual(self.n.stop(), 0)
        self.n.start()
        self.assertEqual(self.count(), 230)
        st, _, body = self.n.query("SELECT sum(v) FROM t")
        self.assertEqual(json.loads(body)["results"][0]["values"][0][0], sum(range(230)))
        # kill -9 right after more writes, then once more from snapshot + log.
        for i in range(230, 260):
            self.n.execute([["INSERT INTO t VALUES(?)", i]])
        self.n.kill9()
        self.n.start()
        self.assertEqual(self.count(), 260)

    def test_kill9_during_a_write_burst_loses_nothing_acknowledged(self):
        self.n.start()
        self.n.execute(["CREATE TABLE t (v INTEGER PRIMARY KEY)"])
        acked = set()
        lock = threading.Lock()
        stop = threading.Event()

        def writer(k):
            i = 0
            while not stop.is_set() and i < 100000:
                v = k * 1000000 + i
                i += 1
                try:
                    st, _, body = self.n.execute([["INSERT INTO t VALUES(?)", v]], timeout=5.0)
                except OSError:
                    return
                if st == 200 and '"rows_affected":1' in body:
                    with lock:
                        acked.add(v)

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(acked) < 300:
            time.sleep(0.01)
        self.n.kill9()
        stop.set()
        for t in threads:
            t.join(10)
        self.assertGreater(len(acked), 0)
        self.n.start()
        st, _, body = self.n.query("SELECT v FROM t")
        have = {row[0] for row in json.loads(body)["results"][0].get("values", [])}
        self.assertEqual(acked - have, set(), "acknowledged writes lost after kill -9")


class CommandLine(unittest.TestCase):
    def run_rqlited(self, *args):
        import subprocess
        return subprocess.run([RQLITED] + list(args), capture_output=True, text=True, timeout=20)

    def test_version_help_unknown_and_fatal(self):
        r = self.run_rqlited("-version")
        self.assertEqual(r.returncode, 0)
        self.assertTrue(r.stdout.startswith("rqlited v"), r.stdout)
        self.assertEqual(self.run_rqlited("-h").returncode, 0)
        r = self.run_rqlited("-no-such-flag", "/tmp/x")
        self.assertEqual(r.returncode, 2)
        r = self.run_rqlited()
        self.assertEqual(r.returncode, 1)
        self.assertIn("fatal: ", r.stderr)
        r = self.run_rqlited("-http-addr", "127.0.0.1:4001", "-raft-addr", "127.0.0.1:4001", "/tmp/x")
        self.assertEqual(r.returncode, 1)
        import tempfile
        with tempfile.NamedTemporaryFile(suffix=".json") as auth:
            r = self.run_rqlited("-auth", auth.name, "/tmp/x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("-auth", r.stderr)

    def test_unsupported_clustering_flags_refused(self):
        for args, why in ((["-bootstrap-expect", "3"], "-bootstrap-expect needs -join"),
                          (["-raft-non-voter"],
                           "fatal: cannot create a new non-voting node without joining it to an existing cluster")):
            r = self.run_rqlited("-http-addr", "127.0.0.1:4101", "-raft-addr", "127.0.0.1:4102", *args, "/tmp/rqlited-never-created")
            self.assertEqual(r.returncode, 1, args)
            self.assertIn(why, r.stderr)
        self.assertFalse(os.path.exists("/tmp/rqlited-never-created"))

    def test_raft_port_in_use_is_a_clear_error_and_the_data_dir_is_untouched(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            n = Node(RQLITED)
            n.raft_port = s.getsockname()[1]
            try:
                n.start(wait_ready=False)
                self.assertEqual(n.proc.wait(timeout=20), 1)
                self.assertIn("cannot listen on 127.0.0.1:%d" % n.raft_port, n.log_tail())
                self.assertEqual(os.listdir(n.data_dir), [])
            finally:
                n.cleanup()

    def test_port_in_use_is_a_clear_error(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            n = Node(RQLITED)
            n.http_port = port
            try:
                n.start(wait_ready=False)
                self.assertEqual(n.proc.wait(timeout=20), 1)
                self.assertIn("HTTP", n.log_tail())
            finally:
                n.cleanup()


if __name__ == "__main__":
    RQLITED = os.path.abspath(sys.argv.pop(1))
    OneNodeCase.RQLITED = RQLITED
    unittest.main(verbosity=2)
