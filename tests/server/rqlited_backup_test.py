#!/usr/bin/env python3
"""rqlited's /db/backup, /db/load and /boot as real processes on 127.0.0.1 (rqlite-compat.md
§2.6, §2.7): exact bodies and headers, round trips between nodes, boot then restart, bad input
(each with rqlite's status and body, and the node still serving afterwards).
Usage: rqlited_backup_test.py PATH_TO_RQLITED [unittest args]"""
import gzip
import http.client
import json
import os
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rqlited_harness import Node  # noqa: E402

RQLITED = None
JSON = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
OCTETS = "application/octet-stream"

# A small database with every type, quotes, a newline, an AUTOINCREMENT table (so a sequence
# table), a table whose name needs quoting, an empty table, an index, a view and a trigger.
SCHEMA = [
    "CREATE TABLE things (id INTEGER PRIMARY KEY, n, i INTEGER, r REAL, s TEXT, b BLOB)",
    "INSERT INTO things VALUES(1, NULL, -7, 2.5, 'it''s \"quoted\"', x'00FF10')",
    "INSERT INTO things VALUES(2, NULL, 9223372036854775807, 1e100, 'line1\nline2', x'')",
    "INSERT INTO things VALUES(3, 0.1, 3.0, 100, 'h\u00e9llo', 'text in blob column')",
    "CREATE TABLE \"a b\" (x)",
    "INSERT INTO \"a b\" VALUES('z')",
    "CREATE TABLE auto (id INTEGER PRIMARY KEY AUTOINCREMENT, v)",
    "INSERT INTO auto(v) VALUES('one')",
    "INSERT INTO auto(v) VALUES('two')",
    "CREATE TABLE empty (e)",
    "CREATE INDEX things_s ON things(s)",
    "CREATE VIEW v AS SELECT id FROM things",
    "CREATE TRIGGER tr AFTER INSERT ON things BEGIN SELECT 1; END",
]

# rqlite's dump of SCHEMA, byte for byte (db.Dump): tables in name order, each CREATE then one
# INSERT per row rendered by SQLite's quote(); the sequence table as DELETE (rqlite appends ';'
# to a statement that has one already) plus its rows; then indexes, views and triggers in the
# order sqlite_master holds them.
DUMP = (
    "PRAGMA foreign_keys=OFF;\n"
    "BEGIN TRANSACTION;\n"
    "CREATE TABLE \"a b\" (x);\n"
    "INSERT INTO \"a b\" VALUES('z');\n"
    "CREATE TABLE auto (id INTEGER PRIMARY KEY AUTOINCREMENT, v);\n"
    "INSERT INTO \"auto\" VALUES(1,'one');\n"
    "INSERT INTO \"auto\" VALUES(2,'two');\n"
    "CREATE TABLE empty (e);\n"
    "DELETE FROM \"sqlite_sequence\";;\n"
    "INSERT INTO \"sqlite_sequence\" VALUES('auto',2);\n"
    "CREATE TABLE things (id INTEGER PRIMARY KEY, n, i INTEGER, r REAL, s TEXT, b BLOB);\n"
    "INSERT INTO \"things\" VALUES(1,NULL,-7,2.5,'it''s \"quoted\"',X'00FF10');\n"
    "INSERT INTO \"things\" VALUES(2,NULL,9223372036854775807,1.0e+100,'line1\nline2',X'');\n"
    "INSERT INTO \"things\" VALUES(3,0.1,3,100.0,'h\u00e9llo','text in blob column');\n"
    "CREATE INDEX things_s ON things(s);\n"
    "CREATE VIEW v AS SELECT id FROM things;\n"
    "CREATE TRIGGER tr AFTER INSERT ON things BEGIN SELECT 1; END;\n"
    "COMMIT;\n"
)

QUERIES = [
    "SELECT * FROM things ORDER BY id",
    "SELECT * FROM \"a b\"",
    "SELECT * FROM auto ORDER BY id",
    "SELECT * FROM empty",
    "SELECT * FROM v ORDER BY id",
    "SELECT name FROM sqlite_master WHERE name != 'alive' ORDER BY name",
]


def raw(node, method, path, body=None, headers=None, timeout=60.0, chunked=False):
    """(status, headers, body bytes): the harness decodes bodies as text, backups are bytes."""
    conn = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=timeout)
    try:
        if chunked:
            conn.request(method, path, body=iter([body[:1000], body[1000:]]), headers=headers or {},
                         encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def image_of(statements, page_size=None):
    """A SQLite file made by Python's sqlite3, as bytes (rollback mode)."""
    d = tempfile.mkdtemp(prefix="rq-image-")
    path = os.path.join(d, "x.db")
    c = sqlite3.connect(path)
    if page_size:
        c.execute("PRAGMA page_size=%d" % page_size)
    for s in statements:
        c.execute(s)
    c.commit()
    c.close()
    with open(path, "rb") as f:
        data = f.read()
    os.unlink(path)
    os.rmdir(d)
    return data


def rows_of(data, query):
    """Rows of `query` on a database image (bytes), through Python's sqlite3."""
    d = tempfile.mkdtemp(prefix="rq-check-")
    path = os.path.join(d, "x.db")
    with open(path, "wb") as f:
        f.write(data)
    try:
        c = sqlite3.connect(path)
        try:
            return c.execute(query).fetchall()
        finally:
            c.close()
    finally:
        for name in os.listdir(d):
            os.unlink(os.path.join(d, name))
        os.rmdir(d)


class NodeTest(unittest.TestCase):
    """Each test gets fresh nodes (the dumps compare whole databases)."""

    def setUp(self):
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.cleanup()

    def node(self, data_dir=None):
        n = Node(RQLITED, data_dir=data_dir)
        self.nodes.append(n)
        n.start()
        return n

    def restart(self, n, kill=False):
        """Stops (SIGTERM, or SIGKILL) and starts again on the same data directory."""
        if kill:
            n.kill9()
        else:
            self.assertEqual(n.stop(), 0)
        n.log.close()  # start() opens the log again
        n.start()

    def seeded(self):
        n = self.node()
        st, _, body = n.execute(SCHEMA)
        self.assertEqual(st, 200, body)
        self.assertNotIn("error", body)
        return n

    def answers(self, n):
        out = []
        for q in QUERIES:
            st, _, body = n.query(q)
            self.assertEqual(st, 200, body)
            out.append(body)
        return out

    def assertNoTempFiles(self, n, wait=5.0):
        """Backups, spooled bodies and images are removed once used (the worker that held one may
        drop it just after the answer left)."""
        d = os.path.join(n.data_dir, "sqlraft-tmp")
        deadline = time.monotonic() + wait
        while os.path.isdir(d) and os.listdir(d) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(os.listdir(d) if os.path.isdir(d) else [], [])

    def assertServing(self, n):
        st, _, body = n.execute(["CREATE TABLE IF NOT EXISTS alive (x)", "INSERT INTO alive VALUES(1)"])
        self.assertEqual(st, 200, body)
        self.assertNotIn("error", body)
        st, _, body = n.query("SELECT COUNT(*) FROM alive")
        self.assertEqual(st, 200, body)
        self.assertIn('"values":[[', body)


class Backup(NodeTest):
    def test_sql_dump_exact_text_and_headers(self):
        n = self.seeded()
        st, h, body = raw(n, "GET", "/db/backup?fmt=sql")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/sql")
        self.assertEqual(body.decode(), DUMP)
        self.assertNotIn("x-rqlite-served-by", h)
        # fmt is case-insensitive; the prefix route reaches backup too.
        self.assertEqual(raw(n, "GET", "/db/backup/anything?fmt=SQL")[2].decode(), DUMP)
        self.assertNoTempFiles(n)

    def test_sql_dump_tables_limits_it(self):
        n = self.seeded()
        st, _, body = raw(n, "GET", "/db/backup?fmt=sql&tables=things,%20a%20b,nosuch")
        self.assertEqual(st, 200)
        self.assertEqual(body.decode(), (
            "PRAGMA foreign_keys=OFF;\n"
            "BEGIN TRANSACTION;\n"
            "CREATE TABLE \"a b\" (x);\n"
            "INSERT INTO \"a b\" VALUES('z');\n"
            "CREATE TABLE things (id INTEGER PRIMARY KEY, n, i INTEGER, r REAL, s TEXT, b BLOB);\n"
            "INSERT INTO \"things\" VALUES(1,NULL,-7,2.5,'it''s \"quoted\"',X'00FF10');\n"
            "INSERT INTO \"things\" VALUES(2,NULL,9223372036854775807,1.0e+100,'line1\nline2',X'');\n"
            "INSERT INTO \"things\" VALUES(3,0.1,3,100.0,'h\u00e9llo','text in blob column');\n"
            "CREATE INDEX things_s ON things(s);\n"
            "CREATE TRIGGER tr AFTER INSERT ON things BEGIN SELECT 1; END;\n"
            "COMMIT;\n"))

    def test_binary_is_the_database_with_a_wal_header(self):
        n = self.seeded()
        for path in ("/db/backup", "/db/backup?fmt=binary", "/db/backup?fmt=nonsense", "/db/backup?noleader",
                     "/db/backup?redirect"):
            st, h, body = raw(n, "GET", path)
            self.assertEqual((st, h["content-type"]), (200, OCTETS), path)
            self.assertEqual(body[:16], b"SQLite format 3\x00", path)
            self.assertEqual(body[18:20], b"\x02\x02", path)  # rqlite: "the header still says WAL"
            self.assertEqual(int(h["content-length"]), len(body))
            self.assertEqual(rows_of(body, "SELECT id, s FROM things ORDER BY id"),
                             [(1, 'it\'s "quoted"'), (2, "line1\nline2"), (3, "h\u00e9llo")])
            self.assertEqual(rows_of(body, "PRAGMA quick_check"), [("ok",)])

    def test_delete_format_has_a_rollback_header(self):
        n = self.seeded()
        st, h, body = raw(n, "GET", "/db/backup?fmt=delete")
        self.assertEqual((st, h["content-type"]), (200, OCTETS))
        self.assertEqual(body[18:20], b"\x01\x01")
        self.assertEqual(rows_of(body, "SELECT v FROM auto ORDER BY id"), [("one",), ("two",)])

    def test_compress_gzips_every_format(self):
        n = self.seeded()
        plain = {f: raw(n, "GET", "/db/backup?fmt=" + f)[2] for f in ("binary", "delete", "sql")}
        for f, ctype in (("binary", OCTETS), ("delete", OCTETS), ("sql", "application/sql")):
            st, h, body = raw(n, "GET", "/db/backup?compress&fmt=" + f)
            self.assertEqual((st, h["content-type"]), (200, ctype), f)
            # Go's gzip header at BestSpeed: no name, no time, XFL 4, OS 255.
            self.assertEqual(body[:10], b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff", f)
            self.assertNoTempFiles(n)
            data = gzip.decompress(body)
            if f == "sql":
                self.assertEqual(data.decode(), DUMP)
            else:
                self.assertEqual(data[:16], b"SQLite format 3\x00")
                self.assertEqual(data[18:20], plain[f][18:20], f)
                self.assertEqual(rows_of(data, "SELECT COUNT(*) FROM things"), [(3,)])

    def test_vacuum_binary_only(self):
        n = self.seeded()
        n.execute(["CREATE TABLE big (x)", "INSERT INTO big SELECT randomblob(1000) FROM things, things, things, things"])
        n.execute(["DROP TABLE big"])
        st, _, plain = raw(n, "GET", "/db/backup")
        st2, h, vac = raw(n, "GET", "/db/backup?vacuum")
        self.assertEqual((st, st2, h["content-type"]), (200, 200, OCTETS))
        self.assertLess(len(vac), len(plain))  # the dropped table's pages are gone
        self.assertEqual(rows_of(vac, "PRAGMA quick_check"), [("ok",)])
        self.assertEqual(rows_of(vac, "SELECT COUNT(*) FROM things"), [(3,)])
        st, _, gz = raw(n, "GET", "/db/backup?vacuum&compress&fmt=binary")
        self.assertEqual(st, 200)
        self.assertEqual(rows_of(gzip.decompress(gz), "SELECT COUNT(*) FROM auto"), [(2,)])
        for f in ("sql", "delete"):
            st, h, body = raw(n, "GET", "/db/backup?vacuum&fmt=" + f)
            self.assertEqual((st, h["content-type"], body), (400, TEXT, b"invalid vacuum\n"), f)
        self.assertServing(n)

    def test_methods_and_bad_parameters(self):
        n = self.seeded()
        for method, path in (("POST", "/db/backup"), ("HEAD", "/db/backup"), ("GET", "/db/load"), ("GET", "/boot"),
                             ("PUT", "/boot")):
            st, _, body = raw(n, method, path)
            self.assertEqual((st, body), (405, b""), (method, path))
        self.assertEqual(raw(n, "POST", "/boot/x", b"x")[0], 404)  # /boot matches exactly
        st, h, body = raw(n, "GET", "/db/backup?timeout=soon")
        self.assertEqual((st, h["content-type"], body), (400, TEXT, b"timeout is not a valid duration\n"))
        self.assertServing(n)

    def test_counters(self):
        # rqlite's http expvar counters count every request routed to these endpoints.
        n = self.node()
        for method, path, body in (("GET", "/db/backup", None), ("POST", "/db/backup", None),
                                   ("GET", "/db/backup?fmt=sql", None), ("POST", "/db/load", b"SELECT 1"),
                                   ("GET", "/db/load", None), ("POST", "/boot", b"too short")):
            raw(n, method, path, body)
        st, _, body = raw(n, "GET", "/debug/vars?key=http")
        self.assertEqual(st, 200)
        counters = json.loads(body)["http"]
        self.assertEqual((counters["backups"], counters["loads"], counters["boot"]), (3, 2, 1))

    def test_backup_while_writing_is_consistent(self):
        n = self.seeded()
        n.execute(["CREATE TABLE w (i INTEGER PRIMARY KEY, pad)"])
        stop = threading.Event()
        written = [0]

        def writer():
            while not stop.is_set():
                st, _, _ = n.execute([["INSERT INTO w(pad) VALUES(randomblob(2000))"]] * 20)
                if st == 200:
                    written[0] += 20

        t = threading.Thread(target=writer)
        t.start()
        try:
            counts = []
            for _ in range(5):
                before = written[0]
                st, _, body = raw(n, "GET", "/db/backup")
                self.assertEqual(st, 200)
                self.assertEqual(rows_of(body, "PRAGMA quick_check"), [("ok",)])
                (count,), = rows_of(body, "SELECT COUNT(*) FROM w")
                self.assertGreaterEqual(count, before)
                # Whole requests only: each wrote 20 rows in one log entry.
                self.assertEqual(count % 20, 0)
                counts.append(count)
        finally:
            stop.set()
            t.join()
        self.assertGreater(counts[-1], 0)


class Load(NodeTest):
    def test_binary_round_trip_into_a_fresh_node(self):
        a = self.seeded()
        expected = self.answers(a)
        for fmt in ("binary", "delete"):
            st, _, image = raw(a, "GET", "/db/backup?fmt=" + fmt)
            self.assertEqual(st, 200)
            b = self.node()
            b.execute(["CREATE TABLE gone (x)"])  # replaced by the load
            st, h, body = raw(b, "POST", "/db/load", image, {"Content-Type": OCTETS})
            self.assertEqual((st, h["content-type"], body), (200, JSON, b'{"results":[]}'), fmt)
            self.assertEqual(self.answers(b), expected, fmt)
            self.assertIn("no such table: gone", b.query("SELECT * FROM gone")[2])
            # The Content-Type does not matter: the header decides.
            st, _, body = raw(b, "POST", "/db/load?pretty", image, {"Content-Type": "text/plain"})
            self.assertEqual((st, body), (200, b'{\n    "results": []\n}'))
            # Writes go on against the loaded database, and everything survives a restart
            # (snapshot + log; the load went through the log).
            self.assertServing(b)
            self.restart(b)
            self.assertEqual(self.answers(b), expected, fmt)

    def test_sql_round_trip_into_a_fresh_node(self):
        a = self.seeded()
        expected = self.answers(a)
        st, _, dump = raw(a, "GET", "/db/backup?fmt=sql")
        b = self.node()
        st, h, body = raw(b, "POST", "/db/load", dump, {"Content-Type": "text/plain"})
        # One statement: the counters after its last statement (the dump's COMMIT).
        self.assertEqual((st, h["content-type"], body), (200, JSON, b'{"results":[{"last_insert_id":3,"rows_affected":1}]}'))
        self.assertEqual(self.answers(b), expected)
        self.assertEqual(raw(b, "GET", "/db/backup?fmt=sql")[2], dump)

    def test_sql_dump_error_rolls_back_its_transaction(self):
        n = self.node()
        dump = ("BEGIN TRANSACTION;\nCREATE TABLE halfway (x);\nINSERT INTO halfway VALUES(1);\n"
                "INSERT INTO nope VALUES(1);\nCOMMIT;\n")
        st, _, body = raw(n, "POST", "/db/load", dump.encode(), {"Content-Type": "text/plain"})
        self.assertEqual((st, body), (200, b'{"results":[{"error":"no such table: nope"}]}'))
        self.assertIn("no such table: halfway", n.query("SELECT * FROM halfway")[2])
        # Nothing is left open: later writes commit, and survive a kill -9.
        self.assertServing(n)
        self.restart(n, kill=True)
        self.assertEqual(n.query("SELECT COUNT(*) FROM alive")[2],
                         '{"results":[{"columns":["COUNT(*)"],"types":["integer"],"values":[[1]]}]}')

    def test_other_page_size_is_converted(self):
        n = self.node()
        image = image_of(["CREATE TABLE p (x)", "INSERT INTO p VALUES('eight k')"], page_size=8192)
        self.assertEqual(image[16:18], b"\x20\x00")
        st, _, body = raw(n, "POST", "/db/load", image)
        self.assertEqual((st, body), (200, b'{"results":[]}'))
        self.assertIn('"values":[["eight k"]]', n.query("SELECT x FROM p")[2])
        self.assertIn('"values":[[4096]]', n.query("PRAGMA page_size")[2])
        self.assertNoTempFiles(n)

    def test_corrupt_and_truncated_files_are_refused(self):
        n = self.seeded()
        expected = self.answers(n)
        st, _, good = raw(n, "GET", "/db/backup")
        corrupt = good[:100] + bytes((b * 7 + 13) % 256 for b in good[100:])
        for name, image in (("corrupt", corrupt), ("truncated", good[: len(good) // 2]),
                            ("header only", b"SQLite format 3\x00" + b"\x00" * 84)):
            st, h, body = raw(n, "POST", "/db/load", image, {"Content-Type": OCTETS})
            self.assertEqual((st, h["content-type"]), (500, TEXT), name)
            self.assertTrue(body.startswith(b"invalid SQLite data: "), (name, body))
            self.assertTrue(body.endswith(b"\n"))
            self.assertEqual(self.answers(n), expected, name)
        self.assertServing(n)
        self.assertNoTempFiles(n)

    def test_truncated_http_body_leaves_the_node_serving(self):
        n = self.seeded()
        st, _, good = raw(n, "GET", "/db/backup")
        for path in ("/db/load", "/boot"):
            s = socket.create_connection(("127.0.0.1", n.http_port), timeout=5)
            s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path, len(good))).encode()
                      + good[: len(good) // 3])
            s.close()
        self.assertEqual(self.answers(n)[0], self.answers(n)[0])
        self.assertServing(n)

    def test_a_large_image(self):
        # 80 MB: over the 64 MiB in-memory body limit, so it needs the body spooled to a file
        # (HttpServerOptions::spool_body, wired in rqlited_main.cpp).
        n = self.node()
        image = image_of(["CREATE TABLE big (i INTEGER PRIMARY KEY, pad)",
                          "INSERT INTO big(pad) SELECT randomblob(1000) FROM "
                          "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 80000) SELECT x FROM c)"])
        self.assertGreater(len(image), 64 << 20)
        try:
            st, _, body = raw(n, "POST", "/db/load", image, {"Content-Type": OCTETS}, timeout=300)
        except (BrokenPipeError, ConnectionResetError):
            st, body = 413, b"request body too large\n"  # answered and closed before the body was sent
        if st == 413 and body == b"request body too large\n":
            self.assertServing(n)
            self.skipTest("this rqlited does not spool request bodies (rqlited_main.cpp sets no spool_body)")
        self.assertEqual((st, body), (200, b'{"results":[]}'))
        self.assertIn('"values":[[80000]]', n.query("SELECT COUNT(*) FROM big")[2])
        self.assertNoTempFiles(n)
        self.restart(n)
        self.assertIn('"values":[[80000]]', n.query("SELECT COUNT(*) FROM big")[2])


class Boot(NodeTest):
    def test_boot_then_restart(self):
        a = self.seeded()
        expected = self.answers(a)
        st, _, image = raw(a, "GET", "/db/backup")
        n = self.node()
        n.execute(["CREATE TABLE replaced (x)"])
        # rqlite's docs boot with a chunked upload.
        st, h, body = raw(n, "POST", "/boot", image, {"Transfer-Encoding": "chunked"}, chunked=True)
        self.assertEqual((st, body), (200, b""))
        self.assertNotIn("content-type", h)
        self.assertEqual(self.answers(n), expected)
        self.assertIn("no such table: replaced", n.query("SELECT * FROM replaced")[2])
        # Durable before the answer: a kill -9 right away loses nothing.
        self.restart(n, kill=True)
        self.assertEqual(self.answers(n), expected)
        # Writes after the boot go into the log on top of it, and survive a restart too.
        self.assertServing(n)
        self.restart(n)
        self.assertEqual(self.answers(n), expected)
        self.assertIn('"values":[[1]]', n.query("SELECT COUNT(*) FROM alive")[2])
        # The booted database is backed up like any other.
        st, _, dump = raw(n, "GET", "/db/backup?fmt=sql&tables=things")
        self.assertIn("INSERT INTO \"things\" VALUES(1,NULL,-7,2.5", dump.decode())

    def test_boot_other_page_size(self):
        n = self.node()
        image = image_of(["CREATE TABLE p (x)", "INSERT INTO p VALUES(1)"], page_size=1024)
        st, _, body = raw(n, "POST", "/boot", image)
        self.assertEqual((st, body), (200, b""))
        self.restart(n, kill=True)
        self.assertIn('"values":[[1]]', n.query("SELECT x FROM p")[2])

    def test_bad_bodies(self):
        n = self.seeded()
        expected = self.answers(n)
        st, _, good = raw(n, "GET", "/db/backup")
        cases = [
            (b"", 503, b"EOF\n"),
            (b"SQLite format 3\x00short", 503, b"EOF\n"),  # rqlite peeks 32 bytes first
            (b"x" * 64, 400, b"invalid SQLite data\n"),
            (b"CREATE TABLE t (x); -- a dump is no boot image", 400, b"invalid SQLite data\n"),
        ]
        for body, status, answer in cases:
            st, h, got = raw(n, "POST", "/boot", body)
            self.assertEqual((st, h["content-type"], got), (status, TEXT, answer), body[:20])
        for image in (good[:100] + b"\x00" * (len(good) - 100), good[: len(good) // 2]):
            st, h, got = raw(n, "POST", "/boot", image)
            self.assertEqual((st, h["content-type"]), (503, TEXT))
            self.assertTrue(got.startswith(b"invalid SQLite data: "), got)
        self.assertEqual(self.answers(n), expected)
        self.assertServing(n)
        self.assertNoTempFiles(n)
        self.restart(n, kill=True)
        self.assertEqual(self.answers(n), expected)


if __name__ == "__main__":
    RQLITED = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
