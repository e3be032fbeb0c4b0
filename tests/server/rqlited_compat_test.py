#!/usr/bin/env python3
"""What an rqlite user meets that sqlraft did differently (issue 13), on real rqlited processes on
127.0.0.1: each test failed on the code before its fix. Usage: rqlited_compat_test.py RQLITED"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rqlited_harness import Node, wait_for  # noqa: E402

RQLITED = None
FAST = ["-raft-heartbeat-timeout", "300ms"]


def count(n, level="none"):
    st, _, body = n.query("SELECT count(*) FROM t", "?level=" + level)
    if st != 200 or '"values"' not in body:
        return None
    return json.loads(body)["results"][0]["values"][0][0]


class ReadReplicaRestart(unittest.TestCase):
    """rqlite refuses only a brand-new read replica without -join (§4.4); one with Raft state
    restarts from its log and catches up."""

    def setUp(self):
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.cleanup()

    def node(self, node_id, extra):
        n = Node(RQLITED, node_id=node_id, extra=FAST + extra)
        self.nodes.append(n)
        return n

    def test_a_replica_with_state_restarts_without_join_and_catches_up(self):
        leader = self.node("1", []).start()
        replica = self.node("r", ["-raft-non-voter", "-join", "127.0.0.1:%d" % leader.raft_port]).start()
        self.assertEqual(leader.execute(["CREATE TABLE t (v)", "INSERT INTO t VALUES(1)"])[0], 200)
        wait_for(lambda: count(replica) == 1, what="the replica to apply the first row")
        self.assertEqual(replica.stop(), 0)
        self.assertEqual(leader.execute([["INSERT INTO t VALUES(?)", 2]])[0], 200)
        replica.extra = FAST + ["-raft-non-voter"]
        replica.start()
        self.assertEqual(replica.proc.poll(), None)
        wait_for(lambda: count(replica) == 2, what="the restarted replica to catch up")
        self.assertEqual(leader.execute([["INSERT INTO t VALUES(?)", 3]])[0], 200)
        wait_for(lambda: count(replica) == 3, what="the replica to follow new writes")
        nodes = json.loads(leader.request("GET", "/nodes?nonvoters")[2])
        self.assertFalse(nodes["r"]["voter"])

    def test_a_brand_new_replica_without_join_exits_with_rqlites_message(self):
        n = self.node("r", ["-raft-non-voter"])
        n.start(wait_ready=False)
        self.assertEqual(n.proc.wait(timeout=20), 1)
        self.assertIn("fatal: cannot create a new non-voting node without joining it to an existing cluster",
                      n.log_tail())
        self.assertFalse(os.path.exists(os.path.join(n.data_dir, "sqlraft")))


class Values(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.n = Node(RQLITED).start()

    @classmethod
    def tearDownClass(cls):
        cls.n.cleanup()

    def q(self, sql):
        st, _, body = self.n.request("POST", "/db/query", json.dumps([sql]), "application/json")
        self.assertEqual(st, 200, body)
        return body

    def test_a_blob_without_declared_type_is_text(self):
        self.assertEqual(self.q("SELECT x'53514C697465'"),
                         '{"results":[{"columns":["x\'53514C697465\'"],"types":["text"],"values":[["SQLite"]]}]}')
        # Bytes that are not UTF-8 come out as Go's encoder writes them.
        self.assertIn('"types":["text"],"values":[["\\ufffd"]]', self.q("SELECT x'FF'"))


class JoinAddressChecks(unittest.TestCase):
    """A join aimed at something other than a Raft port fails at once (§4.2), not after 20-40 s
    of attempts."""

    def test_an_http_port_is_refused_at_once(self):
        import time
        other = Node(RQLITED, node_id="a").start()
        n = Node(RQLITED, node_id="b", extra=["-join", other.http_addr])
        try:
            t0 = time.monotonic()
            n.start(wait_ready=False)
            self.assertEqual(n.proc.wait(timeout=30), 1)
            self.assertLess(time.monotonic() - t0, 5)
            self.assertIn("join address %s appears to be serving HTTP when it should be Raft" % other.http_addr,
                          n.log_tail())
            self.assertEqual(other.proc.poll(), None)
        finally:
            n.cleanup()
            other.cleanup()

    def test_another_service_fails_each_attempt_at_once(self):
        import socket
        import threading
        import time
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        stop = threading.Event()

        def serve():
            srv.settimeout(0.2)
            while not stop.is_set():
                try:
                    c, _ = srv.accept()
                except OSError:
                    continue
                try:
                    c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
                finally:
                    c.close()

        t = threading.Thread(target=serve)
        t.start()
        addr = "127.0.0.1:%d" % srv.getsockname()[1]
        n = Node(RQLITED, extra=["-join", addr, "-join-attempts", "3", "-join-interval", "200ms"])
        try:
            t0 = time.monotonic()
            n.start(wait_ready=False)
            self.assertEqual(n.proc.wait(timeout=30), 1)
            self.assertLess(time.monotonic() - t0, 5)  # three attempts of 5 s each, before
            self.assertIn("failed to join cluster", n.log_tail())
            self.assertIn("not a sqlraft Raft port", n.log_tail())
        finally:
            n.cleanup()
            stop.set()
            t.join()
            srv.close()


class Status(unittest.TestCase):
    def test_runtime_block_and_hashicorp_raft_fields(self):
        import re
        leader = Node(RQLITED, node_id="1", extra=FAST).start()
        follower = Node(RQLITED, node_id="2", extra=FAST + ["-join", "127.0.0.1:%d" % leader.raft_port])
        joining = Node(RQLITED, node_id="3", extra=["-join", "127.0.0.1:1", "-join-attempts", "100",
                                                    "-join-interval", "1s"])
        try:
            follower.start()
            joining.start(wait_ready=False)
            st = json.loads(leader.request("GET", "/status")[2])
            rt = st["runtime"]
            self.assertEqual(sorted(rt), ["GOARCH", "GOMAXPROCS", "GOOS", "num_cpu", "num_goroutine", "version"])
            self.assertEqual(rt["GOOS"], "linux")
            self.assertIn(rt["GOARCH"], ("amd64", "arm64"))
            for k in ("GOMAXPROCS", "num_cpu", "num_goroutine"):
                self.assertIsInstance(rt[k], int)
                self.assertGreater(rt[k], 0)
            raft = st["store"]["raft"]
            self.assertEqual(raft["last_contact"], 0)
            self.assertEqual(raft["num_peers"], 1)
            self.assertEqual(raft["protocol_version"], 3)
            self.assertEqual(raft["latest_configuration"],
                             "[{Suffrage:Voter ID:1 Address:127.0.0.1:%d} {Suffrage:Voter ID:2 Address:127.0.0.1:%d}]"
                             % (leader.raft_port, follower.raft_port))
            self.assertGreater(raft["latest_configuration_index"], 0)
            fr = wait_for(lambda: json.loads(follower.request("GET", "/status?key=store.raft")[2]),
                          what="the follower's status")
            self.assertRegex(fr["last_contact"], r"^[0-9.]+(ns|µs|ms|s)$")
            self.assertEqual(fr["num_peers"], 1)
            jr = wait_for(lambda: json.loads(joining.request("GET", "/status?key=store.raft", timeout=2)[2]),
                          what="the joining node's status")
            self.assertEqual(jr["num_peers"], 0)
            self.assertEqual(jr["last_contact"], "never")
        finally:
            joining.cleanup()
            follower.cleanup()
            leader.cleanup()


class DebugVars(unittest.TestCase):
    """rqlite's expvar maps, and their counters moving with what the nodes do."""

    def vars(self, n):
        st, _, body = n.request("GET", "/debug/vars")
        self.assertEqual(st, 200)
        return json.loads(body)

    def test_maps_and_counters(self):
        leader = Node(RQLITED, node_id="1", extra=FAST).start()
        follower = Node(RQLITED, node_id="2", extra=FAST + ["-join", "127.0.0.1:%d" % leader.raft_port])
        try:
            follower.start()
            for m in ("store", "cluster", "http", "proxy", "db", "snapshot", "uploader", "downloader",
                      "sql-processor", "mux", "queue", "cmdline", "memstats"):
                self.assertIn(m, self.vars(leader), m)
            v = self.vars(leader)
            self.assertGreaterEqual(v["cluster"]["num_join_req"], 1)
            self.assertEqual(v["store"]["num_joins"], 1)
            for key in ("num_ignored_joins", "num_removed_before_joins", "num_verify_leader",
                        "num_snapshots", "num_restores", "num_user_snapshots", "num_recoveries"):
                self.assertIn(key, v["store"])
            # Joining again on a restart is ignored by the leader.
            self.assertEqual(follower.stop(), 0)
            follower.start()
            wait_for(lambda: self.vars(leader)["store"]["num_ignored_joins"] >= 1, what="an ignored join")
            # A write through the follower: forwarded there, served here, executed on both.
            st, _, body = follower.execute(["CREATE TABLE t (v)", "INSERT INTO t VALUES(1)", "INSERT INTO nope VALUES(1)"])
            self.assertEqual(st, 200, body)
            self.assertEqual(self.vars(follower)["proxy"]["remote_executions"], 1)
            v = self.vars(leader)
            self.assertEqual(v["cluster"]["num_execute_req"], 1)
            self.assertGreaterEqual(v["db"]["executions"], 3)
            self.assertGreaterEqual(v["db"]["execution_errors"], 1)
            wait_for(lambda: self.vars(follower)["db"]["executions"] >= 3, what="the follower to apply")
            # A linearizable read confirms leadership; a plain one runs on the read pool.
            self.assertEqual(leader.query("SELECT * FROM t", "?level=linearizable")[0], 200)
            v = self.vars(leader)
            self.assertGreaterEqual(v["store"]["num_verify_leader"], 1)
            self.assertGreaterEqual(v["db"]["queries"], 1)
            # /nodes on the leader asks the follower for its metadata.
            self.assertEqual(leader.request("GET", "/nodes")[0], 200)
            self.assertGreaterEqual(self.vars(follower)["cluster"]["num_get_node_api_req"], 1)
            # A snapshot asked for.
            self.assertEqual(leader.request("POST", "/snapshot")[0], 200)
            v = self.vars(leader)
            self.assertEqual(v["store"]["num_user_snapshots"], 1)
            self.assertGreaterEqual(v["store"]["num_snapshots"], 1)
            self.assertGreaterEqual(v["snapshot"]["sink_full_total"], 1)
        finally:
            follower.cleanup()
            leader.cleanup()


class SnapshotInterval(unittest.TestCase):
    def test_raft_snap_int_is_honoured_without_a_warning(self):
        quick = Node(RQLITED, extra=["-raft-snap", "10", "-raft-snap-int", "200ms"]).start()
        slow = Node(RQLITED, extra=["-raft-snap", "10", "-raft-snap-int", "1h"]).start()
        try:
            for n in (quick, slow):
                self.assertEqual(n.execute(["CREATE TABLE t (v)"])[0], 200)
                for i in range(15):  # one log entry each: past the threshold of 10
                    self.assertEqual(n.execute([["INSERT INTO t VALUES(?)", i]])[0], 200)
            wait_for(lambda: json.loads(quick.request("GET", "/status?key=store.raft")[2])["last_snapshot_index"] > 0,
                     timeout=10, what="a snapshot within the interval")
            # An hour between checks: none yet, although the threshold was passed long ago.
            self.assertEqual(json.loads(slow.request("GET", "/status?key=store.raft")[2])["last_snapshot_index"], 0)
            for n in (quick, slow):
                self.assertNotIn("raft-snap-int", n.log_tail())
        finally:
            quick.cleanup()
            slow.cleanup()


class PeersJsonRecovery(unittest.TestCase):
    """rqlite's recovery of a cluster that lost its quorum for good (§4.6): peers.json in
    DATA_DIR/raft on the survivor rewrites its membership."""

    def test_a_survivor_becomes_a_working_one_node_cluster(self):
        nodes = [Node(RQLITED, node_id="1", extra=FAST)]
        try:
            nodes[0].start()
            for k in (2, 3):
                nodes.append(Node(RQLITED, node_id=str(k), extra=FAST + ["-join", "127.0.0.1:%d" % nodes[0].raft_port]))
                nodes[-1].start()
            leader, survivor = nodes[0], nodes[2]
            self.assertEqual(leader.execute(["CREATE TABLE t (v)"])[0], 200)
            for i in range(25):
                self.assertEqual(leader.execute([["INSERT INTO t VALUES(?)", i]])[0], 200)
            commit = json.loads(leader.request("GET", "/status?key=store.raft")[2])["commit_index"]
            wait_for(lambda: json.loads(survivor.request("GET", "/status?key=store.raft")[2])["applied_index"] >= commit,
                     what="the survivor to apply everything committed")
            # Two nodes destroyed for good; the survivor alone has no quorum.
            for n in nodes[:2]:
                n.kill9()
                n.cleanup()
            self.assertEqual(survivor.stop(), 0)
            raft_dir = os.path.join(survivor.data_dir, "raft")
            os.makedirs(raft_dir, exist_ok=True)
            with open(os.path.join(raft_dir, "peers.json"), "w") as f:
                json.dump([{"id": "3", "address": "127.0.0.1:%d" % survivor.raft_port, "non_voter": False}], f)
            survivor.extra = FAST + ["-join-attempts", "1"]
            survivor.start()
            self.assertEqual(count(survivor, "strong"), 25)
            self.assertEqual(survivor.execute([["INSERT INTO t VALUES(?)", 99]])[0], 200)
            self.assertEqual(count(survivor, "linearizable"), 26)
            self.assertFalse(os.path.exists(os.path.join(raft_dir, "peers.json")))
            self.assertTrue(os.path.exists(os.path.join(raft_dir, "peers.info")))
            self.assertEqual(json.loads(survivor.request("GET", "/debug/vars?key=store")[2])["store"]["num_recoveries"], 1)
            self.assertEqual(sorted(json.loads(survivor.request("GET", "/nodes")[2])), ["3"])
            # The recovery is a one-time thing: a restart keeps the one-node cluster and its data.
            self.assertEqual(survivor.stop(), 0)
            survivor.start()
            self.assertEqual(count(survivor, "linearizable"), 26)
        finally:
            for n in nodes:
                n.cleanup()

    def test_a_malformed_file_stops_the_start_and_stays(self):
        n = Node(RQLITED)
        try:
            n.start()
            self.assertEqual(n.stop(), 0)
            raft_dir = os.path.join(n.data_dir, "raft")
            os.makedirs(raft_dir, exist_ok=True)
            path = os.path.join(raft_dir, "peers.json")
            with open(path, "w") as f:
                f.write('[{"id": "1", "address": "http://127.0.0.1:4002"}]')
            n.start(wait_ready=False)
            self.assertEqual(n.proc.wait(timeout=20), 1)
            self.assertIn("failed to read peers file: protocol specified in address: http://127.0.0.1:4002", n.log_tail())
            self.assertTrue(os.path.exists(path))
        finally:
            n.cleanup()


class LeaderLosingItsQuorum(unittest.TestCase):
    """What waits on a leader that loses its quorum is answered when it steps down (about an
    election timeout), not at the 10 s apply timeout: reads with 503 leader not found, writes with
    rqlite's "leadership lost while committing log"."""

    def setUp(self):
        self.leader = Node(RQLITED, node_id="1", extra=FAST)
        self.follower = Node(RQLITED, node_id="2", extra=FAST + ["-join", "127.0.0.1:%d" % self.leader.raft_port])
        self.leader.start()
        self.follower.start()
        self.assertEqual(self.leader.execute(["CREATE TABLE t (v)"])[0], 200)

    def tearDown(self):
        self.follower.cleanup()
        self.leader.cleanup()

    def test_reads_and_writes_are_answered_once_leadership_is_lost(self):
        import threading
        import time
        self.follower.kill9()
        answers = {}

        def ask(name, method, path, body):
            t0 = time.monotonic()
            st, _, got = self.leader.request(method, path, body, "application/json", timeout=30)
            answers[name] = (st, got, time.monotonic() - t0)

        calls = [("linearizable", "POST", "/db/query?level=linearizable", '["SELECT 1"]'),
                 ("strong", "POST", "/db/query?level=strong", '["SELECT 1"]'),
                 ("write", "POST", "/db/execute", '["INSERT INTO t VALUES(1)"]')]
        threads = [threading.Thread(target=ask, args=c) for c in calls]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        self.assertEqual(set(answers), {"linearizable", "strong", "write"})
        for name in ("linearizable", "strong"):
            st, body, secs = answers[name]
            self.assertEqual((st, body.strip()), (503, "leader not found"), name)
            self.assertLess(secs, 5, name)
        st, body, secs = answers["write"]
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body), {"results": [], "error": "leadership lost while committing log"})
        self.assertLess(secs, 5)


if __name__ == "__main__":
    RQLITED = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
