#!/usr/bin/env python3
"""Three rqlited processes on 127.0.0.1 forming a cluster with -join, as the seed document's
setup: replication, forwarding from followers, kill -9 of the leader with writes continuing on a
new one, and the old leader catching up after a restart. Usage: rqlited_cluster_test.py RQLITED"""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rqlited_harness import Node  # noqa: E402

RQLITED = None
FAST = ["-raft-heartbeat-timeout", "300ms"]


def wait_for(fn, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


class ThreeNodes(unittest.TestCase):
    def setUp(self):
        self.nodes = []
        n1 = Node(RQLITED, node_id="1", extra=FAST)
        self.nodes.append(n1)
        n1.start()
        for k in (2, 3):
            n = Node(RQLITED, node_id=str(k), extra=FAST + ["-join", "127.0.0.1:%d" % n1.raft_port])
            self.nodes.append(n)
            n.start()

    def tearDown(self):
        for n in self.nodes:
            n.cleanup()

    def count(self, n, level="none"):
        st, _, body = n.query("SELECT count(*) FROM t", "?level=" + level)
        if st != 200 or '"values"' not in body:
            return None
        return json.loads(body)["results"][0]["values"][0][0]

    def leader_of(self, candidates):
        for n in candidates:
            try:
                st = json.loads(n.request("GET", "/status?key=store.raft", timeout=2)[2])
                if st.get("state") == "Leader":
                    return n
            except (OSError, ValueError):
                pass
        return None

    def test_replication_forwarding_failover_and_catch_up(self):
        n1, n2, n3 = self.nodes
        st = json.loads(n1.request("GET", "/status")[2])
        self.assertEqual(st["store"]["raft"]["state"], "Leader")
        wait_for(lambda: len(json.loads(n1.request("GET", "/status?key=store.nodes")[2])) == 3, what="3 members")
        self.assertEqual(n1.execute(["CREATE TABLE t (v)", "INSERT INTO t VALUES(1)"])[0], 200)
        # Followers replicate (level none reads their own copy) ...
        for n in (n2, n3):
            wait_for(lambda n=n: self.count(n) == 1, what="replication to node %s" % n.node_id)
        # ... and forward writes and linearizable reads to the leader.
        st, h, body = n2.execute(["INSERT INTO t VALUES(2)"])
        self.assertEqual((st, body), (200, '{"results":[{"last_insert_id":2,"rows_affected":1}]}'))
        self.assertEqual(self.count(n3, "linearizable"), 2)
        # kill -9 the leader: one of the others takes over and writes go on through it.
        n1.kill9()
        new = wait_for(lambda: self.leader_of([n2, n3]), what="a new leader")
        other = n3 if new is n2 else n2
        wait_for(lambda: other.execute(["INSERT INTO t VALUES(3)"])[0] == 200, what="a write after failover")
        self.assertEqual(self.count(new, "linearizable"), 3)
        # The old leader comes back as a follower and catches up.
        n1.start()
        wait_for(lambda: self.count(n1) == 3, what="the old leader catching up")
        self.assertEqual(json.loads(n1.request("GET", "/status?key=store.raft")[2])["state"], "Follower")

    def test_joining_again_after_a_restart_is_harmless(self):
        n1, n2, n3 = self.nodes
        self.assertEqual(n1.execute(["CREATE TABLE t (v)", "INSERT INTO t VALUES(1)"])[0], 200)
        wait_for(lambda: self.count(n3) == 1, what="replication")
        self.assertEqual(n3.stop(), 0)
        n3.start()  # same flags, -join included: already a member, nothing changes
        wait_for(lambda: self.count(n3) == 1, what="the restarted node serving")
        self.assertEqual(len(json.loads(n1.request("GET", "/status?key=store.nodes")[2])), 3)


class JoinFailure(unittest.TestCase):
    def test_nobody_to_join_exits_with_rqlites_kind_of_message(self):
        n = Node(RQLITED, extra=["-join", "127.0.0.1:1", "-join-attempts", "2", "-join-interval", "100ms"])
        try:
            n.start(wait_ready=False)
            self.assertEqual(n.proc.wait(timeout=60), 1)
            self.assertIn("failed to join cluster", n.log_tail())
        finally:
            n.cleanup()


if __name__ == "__main__":
    RQLITED = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
