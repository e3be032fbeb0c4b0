#!/usr/bin/env python3
"""rqlited's operations endpoints as a real process on 127.0.0.1 (rqlite-compat.md §1.9, §1.10,
§2.2-2.5, §2.8, §7): queued writes, /nodes, /leader, /remove, /snapshot, /reap, /readyz?sync,
/debug/vars, /db/sql, and the wrong methods for each.
Usage: rqlited_ops_test.py PATH_TO_RQLITED [unittest args]"""
import json
import os
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rqlited_harness import Node, OneNodeCase  # noqa: E402

RQLITED = None
JSON = "application/json"
# rqlite's own test regex for a queued write's answer (system_test, rqlite-compat.md §1.9).
SEQ_RE = re.compile(r'^{"results":\[\],"sequence_number":\d+}$')
GO_DURATION_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(ns|µs|ms|s)$")


def seq_of(body):
    return json.loads(body)["sequence_number"]


class OneNode(OneNodeCase):
    """One node for the whole class; each test uses its own tables."""

    def count(self, table):
        st, _, body = self.n.query("SELECT count(*) FROM %s" % table)
        self.assertEqual(st, 200, body)
        return json.loads(body)["results"][0]["values"][0][0]

    def expvar(self, key=None):
        st, _, body = self.n.request("GET", "/debug/vars" + ("?key=" + key if key else ""))
        self.assertEqual(st, 200, body)
        return json.loads(body)

    def status(self):
        st, _, body = self.n.request("GET", "/status")
        self.assertEqual(st, 200, body)
        return json.loads(body)

    def barrier(self):
        """A queued empty request with wait: answered once everything queued before it was written."""
        st, _, body = self.post("/db/execute?queue&wait", [""])
        self.assertEqual(st, 200, body)
        self.assertRegex(body, SEQ_RE)
        return seq_of(body)


class QueuedWrites(OneNode):
    def test_answer_matches_rqlites_regex_and_sequence_numbers_count_up_from_start_time(self):
        self.post("/db/execute", ["CREATE TABLE q1 (v)"])
        seqs = []
        for i in range(3):
            st, h, body = self.post("/db/execute?queue", [["INSERT INTO q1 VALUES(?)", i]])
            self.assertEqual(st, 200, body)
            self.assertRegex(body, SEQ_RE)
            self.assertEqual(h["content-type"], "application/json; charset=utf-8")
            seqs.append(seq_of(body))
        self.assertEqual(seqs, [seqs[0], seqs[0] + 1, seqs[0] + 2])
        # They start at the node's start time in Unix nanoseconds: within the last hour.
        now = time.time_ns()
        self.assertLess(seqs[0], now)
        self.assertGreater(seqs[0], now - 3600 * 10**9)
        self.barrier()
        self.assertEqual(self.count("q1"), 3)

    def test_many_clients_then_wait_nothing_lost(self):
        self.post("/db/execute", ["CREATE TABLE q2 (client, i)"])
        clients, per_client = 16, 40
        seqs, errors = [], []
        lock = threading.Lock()

        def client(c):
            for i in range(per_client):
                # Every fifth request carries two statements: batches count statements, not requests.
                stmts = [["INSERT INTO q2 VALUES(?, ?)", c, i]]
                if i % 5 == 0:
                    stmts.append(["INSERT INTO q2 VALUES(?, ?)", c, -i - 1])
                try:
                    st, _, body = self.post("/db/execute?queue", stmts)
                    ok = st == 200 and SEQ_RE.match(body)
                    with lock:
                        (seqs.append(seq_of(body)) if ok else errors.append((st, body)))
                except OSError as e:
                    with lock:
                        errors.append(str(e))

        threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(errors, [])
        self.assertEqual(len(seqs), clients * per_client)
        self.assertEqual(len(set(seqs)), len(seqs), "sequence numbers repeat")
        last = self.barrier()
        self.assertGreater(last, max(seqs))
        self.assertEqual(self.count("q2"), clients * per_client + clients * (per_client // 5))
        # /status reports the last sequence number written: the barrier's, or a later one.
        self.assertGreaterEqual(self.status()["http"]["queue"]["_default"]["sequence_number"], last)

    def test_wait_answers_only_once_written(self):
        self.post("/db/execute", ["CREATE TABLE q3 (v)"])
        st, _, body = self.post("/db/execute?queue&wait", [["INSERT INTO q3 VALUES(?)", "x"], "INSERT INTO q3 VALUES('y')"])
        self.assertEqual(st, 200, body)
        self.assertRegex(body, SEQ_RE)
        # No polling: the rows are there as soon as the answer is.
        self.assertEqual(self.count("q3"), 2)
        self.assertGreaterEqual(self.status()["http"]["queue"]["_default"]["sequence_number"], seq_of(body))

    def test_empty_body_is_no_statements_without_wait(self):
        st, h, body = self.post("/db/execute?queue", [])
        self.assertEqual((st, body), (400, "no statements\n"))
        self.assertEqual(h["content-type"], "text/plain; charset=utf-8")

    def test_empty_array_with_wait_is_a_flush_barrier(self):
        self.post("/db/execute", ["CREATE TABLE q4 (v)"])
        for i in range(5):
            self.assertEqual(self.post("/db/execute?queue", [["INSERT INTO q4 VALUES(?)", i]])[0], 200)
        st, _, body = self.post("/db/execute?queue&wait", [])
        self.assertEqual(st, 200, body)
        self.assertRegex(body, SEQ_RE)
        self.assertEqual(self.count("q4"), 5)

    def test_bad_statements_inside_batches_are_counted_and_the_rest_applied(self):
        self.post("/db/execute", ["CREATE TABLE q5 (v UNIQUE)"])
        before = self.expvar("http")["http"]
        bodies = [
            [["INSERT INTO q5 VALUES(?)", 1], "INSERT INTO no_such_table VALUES(1)", ["INSERT INTO q5 VALUES(?)", 2]],
            ["INSERT INTO q5 VALUES(1)"],  # violates UNIQUE
            ["INSERT INTO q5 VALUES(3)"],
            ["THIS IS NOT SQL"],
        ]
        for b in bodies:
            st, _, body = self.post("/db/execute?queue", b)
            self.assertEqual(st, 200, body)
            self.assertRegex(body, SEQ_RE)
        self.barrier()
        self.assertEqual(self.count("q5"), 3)
        after = self.expvar("http")["http"]
        self.assertEqual(after["queued_executions_stmt_errors"] - before["queued_executions_stmt_errors"], 3)
        self.assertEqual(after["queued_executions"] - before["queued_executions"], len(bodies) + 1)
        self.assertEqual(after["queued_executions_wait"] - before["queued_executions_wait"], 1)
        self.assertEqual(after["queued_executions_num_stmts_rx"] - before["queued_executions_num_stmts_rx"], 6)
        self.assertEqual(after["queued_executions_num_stmts_tx"] - before["queued_executions_num_stmts_tx"], 6)
        self.assertGreaterEqual(after["queued_executions_ok"] - before["queued_executions_ok"], 1)
        self.assertEqual(after["queued_executions_failed"], 0)

    def test_wait_timeout_is_408_and_the_write_still_happens(self):
        self.post("/db/execute", ["CREATE TABLE q6 (v)"])
        # A partial batch waits the queue's 50ms timeout, far longer than this wait.
        st, h, body = self.post("/db/execute?queue&wait&timeout=1ms", ["INSERT INTO q6 VALUES(1)"])
        self.assertEqual((st, body), (408, "queue wait timeout\n"))
        self.assertEqual(h["content-type"], "text/plain; charset=utf-8")
        self.barrier()
        self.assertEqual(self.count("q6"), 1)

    def test_disallowed_pragma_refused_before_queueing(self):
        before = self.expvar("http")["http"]["queued_executions"]
        st, _, body = self.post("/db/execute?queue", ["PRAGMA journal_mode=DELETE"])
        self.assertEqual((st, body), (200, '{"results":[],"error":"disallowed pragma"}'))
        self.assertEqual(self.expvar("http")["http"]["queued_executions"], before)

    def test_pretty_and_bad_parameters(self):
        st, _, body = self.post("/db/execute?queue&pretty", [""])
        self.assertEqual(st, 200)
        self.assertRegex(body, r'^{\n    "results": \[\],\n    "sequence_number": \d+\n}$')
        self.assertEqual(self.post("/db/execute?queue&wait&timeout=soon", [""])[::2],
                         (400, "timeout is not a valid duration\n"))
        self.assertEqual(self.post("/db/execute?queue", "not json")[::2], (400, "invalid JSON body\n"))
        self.assertEqual(self.n.request("GET", "/db/execute?queue")[0], 405)


class NodesAndLeader(OneNode):
    def node_re(self):
        return ('{"id":"1","api_addr":"http://%s","addr":"127.0.0.1:%d","version":"v[^"]+",'
                '"voter":true,"reachable":true,"leader":true,"time":[0-9.e+-]+,"time_s":"[^"]+"}'
                % (re.escape(self.n.http_addr), self.n.raft_port))

    def check_node(self, node):
        self.assertGreater(node["time"], 0)
        self.assertRegex(node["time_s"], GO_DURATION_RE)

    def test_nodes_legacy_map(self):
        st, h, body = self.n.request("GET", "/nodes")
        self.assertEqual(st, 200, body)
        self.assertEqual(h["content-type"], "application/json; charset=utf-8")
        self.assertRegex(body, "^{\"1\":" + self.node_re() + "}$")
        self.check_node(json.loads(body)["1"])
        # Voters only unless nonvoters; a lone voter either way.
        self.assertEqual(set(json.loads(self.n.request("GET", "/nodes?nonvoters")[2]).keys()), {"1"})

    def test_nodes_ver2_array_and_pretty(self):
        st, _, body = self.n.request("GET", "/nodes?ver=2")
        self.assertEqual(st, 200, body)
        self.assertRegex(body, '^{"nodes":\\[' + self.node_re() + "\\]}$")
        self.check_node(json.loads(body)["nodes"][0])
        st, _, body = self.n.request("GET", "/nodes?ver=2&pretty&timeout=5s")
        self.assertEqual(st, 200, body)
        self.assertTrue(body.startswith('{\n    "nodes": [\n        {\n            "id": "1",\n'), body)
        self.assertEqual(self.n.request("GET", "/nodes?timeout=soon")[::2], (400, "timeout is not a valid duration\n"))

    def test_leader_get(self):
        st, h, body = self.n.request("GET", "/leader")
        self.assertEqual(st, 200, body)
        self.assertEqual(h["content-type"], "application/json; charset=utf-8")
        self.assertRegex(body, "^" + self.node_re() + "$")

    def test_stepdown_single_node_succeeds_without_wait_fails_with_it(self):
        st, _, body = self.n.request("POST", "/leader")
        self.assertEqual((st, body), (200, ""))
        # What rqlite's test helper sends: {"id": null} as JSON.
        self.assertEqual(self.post("/leader", {"id": None})[::2], (200, ""))
        st, h, body = self.n.request("POST", "/leader?wait")
        self.assertEqual((st, body), (500, "cannot find peer\n"))
        self.assertEqual(h["content-type"], "text/plain; charset=utf-8")
        # Naming itself, or a node that is not there, cannot work either.
        self.assertEqual(self.post("/leader?wait", {"id": "1"})[0], 500)
        self.assertEqual(self.post("/leader?wait", {"id": "nobody"})[0], 500)
        self.assertEqual(self.post("/leader", "{not json")[::2], (400, "invalid request body\n"))
        # Still the leader, still writing.
        self.assertEqual(self.status()["store"]["raft"]["state"], "Leader")
        self.assertEqual(self.post("/db/execute", ["CREATE TABLE still_leader (v)"])[0], 200)

    def test_wrong_methods(self):
        for method, path in [("POST", "/nodes"), ("PUT", "/leader"), ("DELETE", "/leader"),
                             ("GET", "/remove"), ("POST", "/remove"), ("GET", "/snapshot"),
                             ("PUT", "/snapshot"), ("GET", "/reap"), ("DELETE", "/db/sql"),
                             ("PUT", "/db/sql"), ("POST", "/readyz")]:
            st, _, body = self.n.request(method, path)
            self.assertEqual((st, body), (405, ""), "%s %s" % (method, path))
        # Exact paths: a suffix is not the endpoint.
        for path in ["/leader/x", "/snapshot/x", "/reap/x", "/debug/vars/x"]:
            self.assertEqual(self.n.request("POST", path)[0], 404, path)


class Remove(OneNode):
    def test_bad_bodies_are_a_bare_400(self):
        for body in ["", "not json", "[]", "null", '"1"', '{"id":1}', '{"id":"1","x":"y"}', '{"name":"1"}',
                     '{"ID":"1"}', '{}']:
            st, _, got = self.n.request("DELETE", "/remove", body, JSON)
            self.assertEqual((st, got), (400, ""), body)

    def test_removing_a_node_that_is_not_a_member_succeeds(self):
        st, _, body = self.n.request("DELETE", "/remove", '{"id":"nobody"}', JSON)
        self.assertEqual((st, body), (200, ""))

    def test_removing_the_only_voter_is_refused_and_the_node_keeps_working(self):
        st, h, body = self.n.request("DELETE", "/remove", '{"id":"1"}', JSON)
        self.assertEqual(st, 500, body)
        self.assertTrue(body.startswith("cannot remove node 1: "), body)
        self.assertTrue(body.endswith("\n"))
        s = self.status()
        self.assertEqual(s["store"]["raft"]["state"], "Leader")
        self.assertEqual([n["id"] for n in s["store"]["nodes"]], ["1"])
        self.assertEqual(self.post("/db/execute", ["CREATE TABLE after_remove (v)"])[0], 200)
        self.assertEqual(self.n.request("DELETE", "/remove?timeout=x", '{"id":"1"}', JSON)[::2],
                         (400, "timeout is not a valid duration\n"))


class ReadyzDebugVarsSql(OneNode):
    def test_readyz_sync(self):
        st, h, body = self.n.request("GET", "/readyz?sync")
        self.assertEqual((st, body), (200, "[+]node ok\n[+]leader ok\n[+]store ok\n[+]sync ok\n[+]db ok"))
        self.assertEqual(h["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(self.n.request("GET", "/readyz?sync&timeout=2s")[::2],
                         (200, "[+]node ok\n[+]leader ok\n[+]store ok\n[+]sync ok\n[+]db ok"))
        self.assertEqual(self.n.request("GET", "/readyz")[::2],
                         (200, "[+]node ok\n[+]leader ok\n[+]store ok\n[+]db ok"))
        self.assertEqual(self.n.request("GET", "/readyz?sync&noleader")[::2], (200, "[+]node ok"))
        self.assertEqual(self.n.request("GET", "/readyz?sync&timeout=x")[::2], (400, "timeout is not a valid duration\n"))

    def test_debug_vars_shape(self):
        self.n.request("GET", "/readyz")
        st, h, body = self.n.request("GET", "/debug/vars")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/json; charset=utf-8")
        self.assertTrue(body.startswith('{\n"cluster": {'), body[:40])
        self.assertTrue(body.endswith("}\n}\n"), body[-40:])
        v = json.loads(body)
        # Go's expvar writes every variable in name order.
        self.assertEqual(list(v.keys()), ["cluster", "cmdline", "db", "downloader", "http", "memstats", "mux",
                                          "proxy", "queue", "snapshot", "sql-processor", "store", "uploader"])
        self.assertTrue(v["cmdline"][0].endswith("rqlited"))
        self.assertIn("-node-id", v["cmdline"])
        self.assertEqual(v["cmdline"][-1], self.n.data_dir)
        m = v["memstats"]
        self.assertGreater(m["Alloc"], 0)
        self.assertGreater(m["Sys"], 0)
        self.assertEqual(len(m["PauseNs"]), 256)
        self.assertEqual(len(m["BySize"]), 61)
        self.assertEqual(list(m.keys())[:3], ["Alloc", "TotalAlloc", "Sys"])
        self.assertGreaterEqual(v["http"]["num_readyz"], 1)
        for k in ["executions", "queries", "leader_not_found", "queued_executions", "queued_executions_ok",
                  "user_snapshots", "user_reaps"]:
            self.assertIsInstance(v["http"][k], int, k)
        self.assertEqual(list(v["http"].keys()), sorted(v["http"].keys()))
        for k in ["num_snapshots", "num_restores", "num_restores_start", "num_restores_start_skipped"]:
            self.assertIsInstance(v["store"][k], int, k)

    def test_debug_vars_key_and_any_method(self):
        st, _, body = self.n.request("GET", "/debug/vars?key=http")
        self.assertEqual(st, 200)
        # Go's expvar.Map: `{"a": 1, "b": 2}` inside `{\n"http": ...\n}\n`.
        self.assertRegex(body, r'^{\n"http": {"[a-z_]+": \d+(, "[a-z_]+": \d+)*}\n}\n$')
        self.assertEqual(list(json.loads(body).keys()), ["http"])
        self.assertEqual(self.n.request("GET", "/debug/vars?key=nosuch")[::2], (200, "{\n\n}\n"))
        st, _, body = self.n.request("POST", "/debug/vars?key=store")
        self.assertEqual(st, 200)
        self.assertEqual(list(json.loads(body).keys()), ["store"])

    def test_db_sql_shows_statements_as_replicated(self):
        self.assertEqual(self.n.request("GET", "/db/sql?q=" + "INSERT%20INTO%20foo(v)%20VALUES(RANDOM())")[::2],
                         (200, '{"results":[{"original":"INSERT INTO foo(v) VALUES(RANDOM())",'
                               '"rewritten":"INSERT INTO foo(v) VALUES(RANDOM())"}]}'))
        st, h, body = self.post("/db/sql", ["SELECT datetime('now')", ["SELECT ? < 1", 5]])
        self.assertEqual((st, body), (200, '{"results":[{"original":"SELECT datetime(\'now\')","rewritten":"SELECT datetime(\'now\')"},'
                                           '{"original":"SELECT ? \\u003c 1","rewritten":"SELECT ? \\u003c 1"}]}'))
        self.assertEqual(h["content-type"], "application/json; charset=utf-8")
        self.assertEqual(self.n.request("GET", "/db/sql")[::2], (200, '{"results":[]}'))
        self.assertEqual(self.post("/db/sql", [])[::2], (400, "no statements\n"))
        self.assertEqual(self.n.request("GET", "/db/sql/more?q=SELECT%201")[0], 200)  # prefix route
        st, _, body = self.n.request("GET", "/db/sql?q=SELECT%201&pretty")
        self.assertEqual(body, '{\n    "results": [\n        {\n            "original": "SELECT 1",\n'
                               '            "rewritten": "SELECT 1"\n        }\n    ]\n}')


class SnapshotsAndReap(unittest.TestCase):
    def setUp(self):
        self.n = Node(RQLITED, extra=["-raft-log-level", "INFO"])

    def tearDown(self):
        self.n.cleanup()

    def status(self):
        return json.loads(self.n.request("GET", "/status")[2])

    def expvar(self, key):
        return json.loads(self.n.request("GET", "/debug/vars?key=" + key)[2])[key]

    def count(self):
        st, _, body = self.n.query("SELECT count(*) FROM t")
        self.assertEqual(st, 200, body)
        return json.loads(body)["results"][0]["values"][0][0]

    def test_snapshot_then_nothing_new_then_restart_from_it(self):
        self.n.start()
        self.n.execute(["CREATE TABLE t (v)"])
        for i in range(30):
            self.assertEqual(self.n.execute([["INSERT INTO t VALUES(?)", i]])[0], 200)
        applied = self.status()["store"]["raft"]["applied_index"]
        st, _, body = self.n.request("POST", "/snapshot")
        self.assertEqual((st, body), (200, ""))
        # snap-<index, 16 hex digits>-<term>.snap: the snapshot covers everything applied before.
        snaps = self.status()["store"]["snapshot_store"]["snapshots"]
        self.assertEqual(len(snaps), 1)
        self.assertEqual(int(snaps[0][5:21], 16), applied)
        # Nothing applied since: 204.
        self.assertEqual(self.n.request("POST", "/snapshot")[:3:2], (204, ""))
        self.assertEqual(self.expvar("http")["user_snapshots"], 1)
        self.assertEqual(self.expvar("store")["num_snapshots"], 1)
        self.assertEqual(self.expvar("store")["num_restores_start"], 0)
        self.assertEqual(self.n.stop(), 0)
        self.n.start()
        self.assertEqual(self.count(), 30)
        # The restart began from that snapshot.
        self.assertEqual(self.expvar("store")["num_restores_start"], 1)
        self.assertEqual(self.status()["store"]["snapshot_store"]["snapshots"], snaps)

    def test_trailing_logs(self):
        self.n.start()
        self.n.execute(["CREATE TABLE t (v)"])
        for i in range(10):
            self.n.execute([["INSERT INTO t VALUES(?)", i]])
        self.assertEqual(self.n.request("POST", "/snapshot?trailing_logs=x")[::2],
                         (400, "trailing_logs is not a valid integer\n"))
        self.assertEqual(self.n.request("POST", "/snapshot?trailing_logs=2")[:3:2], (200, ""))
        for i in range(10):
            self.n.execute([["INSERT INTO t VALUES(?)", i]])
        self.assertEqual(self.n.request("POST", "/snapshot?trailing_logs=-1")[:3:2], (200, ""))
        self.assertEqual(self.expvar("http")["user_snapshots"], 2)
        self.n.kill9()
        self.n.start()
        self.assertEqual(self.count(), 20)

    def test_reap_keeps_the_newest_snapshot(self):
        self.n.start()
        self.n.execute(["CREATE TABLE t (v)"])
        st, h, body = self.n.request("POST", "/reap")
        self.assertEqual((st, body), (200, '{"snapshots_reaped":0,"wals_checkpointed":0}'))
        self.assertEqual(h["content-type"], "application/json; charset=utf-8")
        for i in range(2):
            self.n.execute([["INSERT INTO t VALUES(?)", i]])
            self.assertEqual(self.n.request("POST", "/snapshot")[0], 200)
        snaps = self.status()["store"]["snapshot_store"]["snapshots"]
        self.assertEqual(len(snaps), 2)
        self.assertEqual(self.n.request("POST", "/reap")[::2], (200, '{"snapshots_reaped":1,"wals_checkpointed":0}'))
        self.assertEqual(self.status()["store"]["snapshot_store"]["snapshots"], [max(snaps)])
        self.assertEqual(self.n.request("POST", "/reap")[::2], (200, '{"snapshots_reaped":0,"wals_checkpointed":0}'))
        self.assertEqual(self.expvar("http")["user_reaps"], 3)
        self.assertEqual(self.n.stop(), 0)
        self.n.start()
        self.assertEqual(self.count(), 2)


if __name__ == "__main__":
    RQLITED = os.path.abspath(sys.argv.pop(1))
    OneNodeCase.RQLITED = RQLITED
    unittest.main(verbosity=2)
