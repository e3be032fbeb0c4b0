#!/usr/bin/env python3
"""Three rqlited processes on 127.0.0.1 forming a cluster with -join, as the seed document's
setup: replication, forwarding from followers, kill -9 of the leader with writes continuing on a
new one, and the old leader catching up after a restart. Usage: rqlited_cluster_test.py RQLITED"""
import json
import os
import random
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rqlited_harness import Node, free_port, wait_for  # noqa: E402

RQLITED = None
FAST = ["-raft-heartbeat-timeout", "300ms"]


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


    def test_followers_forward_ops_and_redirect_to_the_leaders_http_address(self):
        n1, n2, n3 = self.nodes
        wait_for(lambda: len(json.loads(n1.request("GET", "/status?key=store.nodes")[2])) == 3, what="3 members")
        self.assertEqual(n1.execute(["CREATE TABLE t (v)", "INSERT INTO t VALUES(1)"])[0], 200)
        # ?redirect: a 301 to the leader's HTTP API, learned from the leader (GET_NODE_META).
        st, h, _ = n2.execute(["INSERT INTO t VALUES(2)"], "?redirect")
        self.assertEqual(st, 301)
        self.assertEqual(h["location"], "http://%s/db/execute?redirect" % n1.http_addr)
        st, h, _ = n3.query("SELECT 1", "?level=strong&redirect")
        self.assertEqual(st, 301)
        self.assertTrue(h["location"].startswith("http://%s/db/query?" % n1.http_addr), h["location"])
        # Forwarded: served by the leader, named by its Raft address; local: this node's HTTP one.
        st, h, _ = n2.execute(["INSERT INTO t VALUES(2)"])
        self.assertEqual((st, h["x-rqlite-served-by"]), (200, "127.0.0.1:%d" % n1.raft_port))
        st, h, _ = n2.query("SELECT 1", "?level=none")
        self.assertEqual((st, h["x-rqlite-served-by"]), (200, n2.http_addr))
        # /nodes from a follower: every member asked, names and API URLs as they report them.
        nodes = json.loads(n3.request("GET", "/nodes")[2])
        self.assertEqual(sorted(nodes), ["1", "2", "3"])
        for n in self.nodes:
            e = nodes[n.node_id]
            self.assertEqual(e["id"], n.node_id)
            self.assertEqual(e["api_addr"], "http://" + n.http_addr)
            self.assertEqual(e["addr"], "127.0.0.1:%d" % n.raft_port)
            self.assertTrue(e["reachable"] and e["voter"], e)
            self.assertEqual(e["leader"], n is n1)
            self.assertGreater(e["time"], 0)
        v2 = json.loads(n2.request("GET", "/nodes?ver=2")[2])["nodes"]
        self.assertEqual([e["id"] for e in v2], ["1", "2", "3"])
        self.assertEqual(json.loads(n3.request("GET", "/status?key=store.leader")[2]),
                         {"addr": "127.0.0.1:%d" % n1.raft_port, "node_id": "1"})
        leader = json.loads(n2.request("GET", "/leader")[2])
        self.assertEqual((leader["id"], leader["api_addr"]), ("1", "http://" + n1.http_addr))
        # A backup asked of a follower is the leader's, pulled over the Raft port in chunks (the
        # database is larger than one 4 MiB chunk).
        self.assertEqual(n1.execute(["CREATE TABLE big (b)",
                                     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<60) "
                                     "INSERT INTO big SELECT randomblob(100000) FROM c"])[0], 200)
        st, _, direct = n1.request("GET", "/db/backup", raw=True, timeout=30)
        self.assertEqual(st, 200)
        self.assertGreater(len(direct), 6_000_000)
        st, h, forwarded = n2.request("GET", "/db/backup", raw=True, timeout=30)
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/octet-stream")
        self.assertEqual(forwarded, direct)
        st, _, dump = n3.request("GET", "/db/backup?fmt=sql&tables=t", timeout=30)
        self.assertEqual(st, 200)
        self.assertIn('INSERT INTO "t" VALUES(2);', dump)
        st, h, _ = n3.request("GET", "/db/backup?redirect")
        self.assertEqual((st, h["location"]), (301, "http://%s/db/backup?redirect" % n1.http_addr))
        # POST /leader on a follower: the leader hands over.
        self.assertEqual(n3.request("POST", "/leader?wait&timeout=10s", timeout=15)[0], 200)
        new = wait_for(lambda: self.leader_of([n2, n3]), what="a new leader after stepdown")
        self.assertIsNot(new, n1)
        # DELETE /remove on a follower (of the new leader), then the removed node rejoins.
        follower = n1 if new is not n1 else n2
        gone = n3 if new is not n3 else n2
        st, _, body = follower.request("DELETE", "/remove", json.dumps({"id": gone.node_id}))
        self.assertEqual(st, 200, body)
        wait_for(lambda: sorted(json.loads(new.request("GET", "/nodes")[2])) == sorted(
            n.node_id for n in self.nodes if n is not gone), what="the removal")
        self.assertEqual(gone.stop(), 0)
        gone.start(wait_ready=False)  # same flags, -join included: added back
        wait_for(lambda: sorted(json.loads(new.request("GET", "/nodes")[2])) == ["1", "2", "3"], what="the rejoin")
        self.assertEqual(new.execute(["INSERT INTO t VALUES(9)"])[0], 200)
        wait_for(lambda: self.count(gone) == 3, what="the rejoined node catching up")

    def test_graceful_shutdown_hands_over_leadership_and_can_leave_the_cluster(self):
        n1, n2, n3 = self.nodes
        wait_for(lambda: len(json.loads(n1.request("GET", "/status?key=store.nodes")[2])) == 3, what="3 members")
        self.assertEqual(n1.execute(["CREATE TABLE t (v)", "INSERT INTO t VALUES(1)"])[0], 200)
        wait_for(lambda: self.count(n3) == 1, what="replication")
        # -raft-shutdown-stepdown (on by default): SIGTERM to the leader transfers leadership first.
        self.assertEqual(n1.stop(), 0)
        self.assertIn("leadership transferred before shutdown", n1.log_tail())
        new = wait_for(lambda: self.leader_of([n2, n3]), what="a new leader")
        n1.start()
        wait_for(lambda: self.count(n1) == 1, what="node 1 back")
        # -raft-cluster-remove-shutdown: SIGTERM to a node removes it from the cluster first.
        leaving = n3 if new is not n3 else n2
        self.assertEqual(leaving.stop(), 0)
        leaving.extra = leaving.extra + ["-raft-cluster-remove-shutdown"]
        leaving.start()
        wait_for(lambda: self.count(leaving) == 1, what="the node to leave, restarted")
        self.assertEqual(leaving.stop(), 0)
        self.assertIn("removed from the cluster before shutdown", leaving.log_tail())
        stayed = sorted(n.node_id for n in self.nodes if n is not leaving)
        self.assertEqual(sorted(json.loads(new.request("GET", "/nodes")[2])), stayed)
        # Two voters left: still a quorum for writes.
        self.assertEqual(new.execute(["INSERT INTO t VALUES(2)"])[0], 200)

    def test_a_node_back_at_a_new_raft_address_is_re_addressed(self):
        n1, n2, n3 = self.nodes
        wait_for(lambda: len(json.loads(n1.request("GET", "/status?key=store.nodes")[2])) == 3, what="3 members")
        self.assertEqual(n1.execute(["CREATE TABLE t (v)", "INSERT INTO t VALUES(1)"])[0], 200)
        wait_for(lambda: self.count(n3) == 1, what="replication")
        self.assertEqual(n3.stop(), 0)
        n3.raft_port = free_port()  # same id and data, new address; -join as before
        n3.start()
        new_addr = "127.0.0.1:%d" % n3.raft_port
        wait_for(lambda: json.loads(n1.request("GET", "/nodes")[2])["3"]["addr"] == new_addr, what="the new address")
        self.assertEqual(len(json.loads(n1.request("GET", "/nodes")[2])), 3)
        self.assertEqual(n1.execute(["INSERT INTO t VALUES(2)"])[0], 200)
        wait_for(lambda: self.count(n3) == 2, what="replication to the new address")
        self.assertTrue(json.loads(n2.request("GET", "/nodes")[2])["3"]["reachable"])

    def test_nodes_reports_a_dead_member_at_once(self):
        n1, n2, n3 = self.nodes
        wait_for(lambda: len(json.loads(n1.request("GET", "/status?key=store.nodes")[2])) == 3, what="3 members")
        n3.kill9()
        t0 = time.monotonic()
        nodes = json.loads(n1.request("GET", "/nodes?timeout=20s", timeout=30)[2])
        self.assertLess(time.monotonic() - t0, 10)
        e = nodes["3"]
        self.assertFalse(e["reachable"])
        self.assertNotIn("api_addr", e)
        self.assertNotIn("time", e)
        self.assertIn("connection refused", e["error"])
        self.assertTrue(nodes["2"]["reachable"])


class FiveNodes(unittest.TestCase):
    """Four voters and a read replica; node 3 joins through a follower. Small snapshot
    thresholds, so the log is compacted and a late node must catch up by snapshot."""
    SNAP = ["-raft-snap", "50", "-raft-snap-int", "100ms"]

    def setUp(self):
        self.nodes = []
        n1 = Node(RQLITED, node_id="n1", extra=FAST + self.SNAP)
        self.nodes.append(n1)
        n1.start()
        joins = {2: n1, 3: None, 4: n1, 5: n1}
        for k in (2, 3, 4, 5):
            via = joins[k] or self.nodes[1]  # node 3 asks node 2, a follower
            extra = FAST + self.SNAP + ["-join", "127.0.0.1:%d" % via.raft_port]
            if k == 5:
                extra.append("-raft-non-voter")
            n = Node(RQLITED, node_id="n%d" % k, extra=extra)
            self.nodes.append(n)
            n.start()

    def tearDown(self):
        for n in self.nodes:
            n.cleanup()

    def status(self, n, key):
        return json.loads(n.request("GET", "/status?key=" + key, timeout=2)[2])

    def leader_of(self, candidates):
        for n in candidates:
            try:
                if self.status(n, "store.raft").get("state") == "Leader":
                    return n
            except (OSError, ValueError):
                pass
        return None

    def values(self, n, level):
        st, h, body = n.query("SELECT v FROM t", "?level=" + level)
        if st != 200 or '"results"' not in body:
            return None
        r = json.loads(body)["results"][0]
        return [row[0] for row in r.get("values", [])] if "error" not in r else None

    def test_failover_under_load_replica_snapshot_catch_up_and_full_restart(self):
        n1, n2, n3, n4, n5 = self.nodes
        nodes = wait_for(lambda: (lambda d: d if len(d) == 5 else None)(
            json.loads(n1.request("GET", "/nodes?nonvoters")[2])), what="5 members")
        self.assertEqual([nodes["n%d" % k]["voter"] for k in range(1, 6)], [True] * 4 + [False])
        self.assertEqual(sorted(json.loads(n1.request("GET", "/nodes")[2])), ["n1", "n2", "n3", "n4"])
        self.assertEqual(n1.execute(["CREATE TABLE t (v INTEGER PRIMARY KEY)"])[0], 200)
        # The late node's ports are picked now, while every node holds its own: picked after the
        # kill, they could be the dead leader's, which it needs back when it restarts.
        n6 = Node(RQLITED, node_id="n6", extra=FAST + self.SNAP + ["-join", "127.0.0.1:%d" % n2.raft_port])
        self.nodes.append(n6)

        # Writers on every voter; kill -9 of the leader in the middle.
        acked, lock, stop = set(), threading.Lock(), threading.Event()
        alive = [n1, n2, n3, n4]
        ack_times = []

        def writer(w):
            rng = random.Random(w)
            k = 0
            while not stop.is_set():
                k += 1
                v = w * 1_000_000 + k
                n = rng.choice(alive)
                try:
                    st, _, body = n.execute(["INSERT INTO t(v) VALUES(%d)" % v], timeout=5)
                except OSError:
                    continue
                if st == 200 and '"error"' not in body:
                    with lock:
                        acked.add(v)
                        ack_times.append(time.monotonic())

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(1, 5)]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: len(acked) >= 100, what="writes before the kill")
            old = self.leader_of(alive)
            self.assertIsNotNone(old)
            alive.remove(old)
            old.kill9()
            killed_at = time.monotonic()
            new = wait_for(lambda: self.leader_of(alive), what="a new leader")
            wait_for(lambda: any(t > killed_at + 0.05 for t in ack_times), what="writes after the kill")
            first_ack = min(t for t in ack_times if t > killed_at + 0.05)
            # Liveness, not speed: well within a few election timeouts (300-600 ms here).
            self.assertLess(first_ack - killed_at, 10.0)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        # Nothing acknowledged is lost.
        got = set(wait_for(lambda: self.values(new, "linearizable"), what="a linearizable read"))
        self.assertEqual(acked - got, set())
        # A write whose client gave up may still be applied later (its outcome was unknown):
        # from here on every node is compared with the leader's rows, which must keep `got`.
        # The read replica serves `none` locally and forwards the rest.
        wait_for(lambda: self.same_rows(n5, new), what="the replica catching up")
        st, h, _ = n5.query("SELECT count(*) FROM t", "?level=linearizable")
        self.assertEqual((st, h["x-rqlite-served-by"]), (200, "127.0.0.1:%d" % new.raft_port))
        st, h, _ = n5.query("SELECT count(*) FROM t", "?level=none")
        self.assertEqual((st, h["x-rqlite-served-by"]), (200, n5.http_addr))
        st, _, body = n5.execute(["INSERT INTO t(v) VALUES(1)"])
        self.assertEqual((st, body), (200, '{"results":[{"last_insert_id":1,"rows_affected":1}]}'))
        # The log was compacted many times over: a new node catches up by snapshot.
        self.assertGreater(self.status(new, "store.raft")["last_snapshot_index"], 100)
        n6.start()
        wait_for(lambda: self.same_rows(n6, new), what="the new node catching up")
        self.assertGreaterEqual(self.status(n6, "store.raft")["snapshots_installed"], 1)
        # The killed leader comes back and catches up too.
        old.start()
        try:
            wait_for(lambda: self.same_rows(old, new), what="the old leader catching up")
        except AssertionError as e:
            theirs = set(self.values(new, "linearizable") or [])
            mine = set(self.values(old, "none") or [])
            raise AssertionError("%s\nleader has %d rows, old leader %s %d: extra %r missing %r\n%s\nstatus: %s\nleader %s: %s\nstatus: %s" % (
                e, len(theirs), old.node_id, len(mine), sorted(mine - theirs), sorted(theirs - mine),
                old.log_tail(), old.request("GET", "/status?key=store.raft")[2],
                new.node_id, new.log_tail(), new.request("GET", "/status?key=store.raft")[2]))
        final = set(self.values(new, "linearizable"))
        self.assertEqual((got | {1}) - final, set())
        # Whole-cluster restart with the same flags: everything comes back.
        everyone = [n for n in self.nodes]
        for n in everyone:
            self.assertEqual(n.stop(), 0)
        for n in everyone:
            n.start(wait_ready=False)
        for n in everyone:
            n.wait_ready(timeout=30)
        leader = wait_for(lambda: self.leader_of(everyone), what="a leader after the restart")
        self.assertEqual(set(self.values(leader, "linearizable")), final)
        for n in everyone:
            wait_for(lambda n=n: self.same_rows(n, leader), what="node %s after restart" % n.node_id)

    def same_rows(self, n, leader):
        mine = self.values(n, "none")
        theirs = self.values(leader, "linearizable")
        return mine is not None and theirs is not None and sorted(mine) == sorted(theirs)


class BootstrapExpect(unittest.TestCase):
    """rqlite's automatic clustering: the same -bootstrap-expect 3 -join a,b,c on every node."""

    def setUp(self):
        self.nodes = [Node(RQLITED, node_id=str(k), extra=list(FAST)) for k in (1, 2, 3)]
        joins = ",".join("127.0.0.1:%d" % n.raft_port for n in self.nodes)
        for n in self.nodes:
            n.extra += ["-bootstrap-expect", "3", "-join", joins]

    def tearDown(self):
        for n in self.nodes:
            n.cleanup()

    def test_three_nodes_form_one_cluster_and_restart_with_the_same_flags(self):
        for n in self.nodes:
            n.start(wait_ready=False)
        for n in self.nodes:
            n.wait_ready(timeout=30)
        leaders = set()
        for n in self.nodes:
            st = json.loads(n.request("GET", "/status?key=store")[2])
            leaders.add(st["leader"]["node_id"])
            self.assertEqual(sorted(x["id"] for x in st["nodes"]), ["1", "2", "3"])
        self.assertEqual(len(leaders), 1)
        self.assertEqual(self.nodes[0].execute(["CREATE TABLE t (v)", "INSERT INTO t VALUES(1)"])[0], 200)
        # The whole cluster stops and comes back with the same flags, data and all.
        for n in self.nodes:
            self.assertEqual(n.stop(), 0)
        for n in self.nodes:
            n.start(wait_ready=False)
        for n in self.nodes:
            n.wait_ready(timeout=30)
        st, _, body = self.nodes[2].query("SELECT count(*) FROM t", "?level=linearizable")
        self.assertEqual((st, json.loads(body)["results"][0]["values"]), (200, [[1]]))

    def test_too_few_nodes_time_out_without_founding_anything(self):
        n = self.nodes[0]
        n.extra += ["-bootstrap-expect-timeout", "2s"]
        n.start(wait_ready=False)
        self.assertEqual(n.proc.wait(timeout=30), 1)
        self.assertIn("bootstrap-expect timeout", n.log_tail())


class Readiness(unittest.TestCase):
    def test_a_follower_whose_leader_does_not_answer_is_not_ready(self):
        slow = ["-raft-heartbeat-timeout", "3s"]  # no new election while the leader is stopped
        n1 = Node(RQLITED, node_id="1", extra=slow)
        n2 = Node(RQLITED, node_id="2", extra=slow)
        try:
            n1.start()
            n2.extra = slow + ["-join", "127.0.0.1:%d" % n1.raft_port]
            n2.start()
            self.assertEqual(n2.request("GET", "/readyz")[0], 200)
            n1.proc.send_signal(signal.SIGSTOP)
            try:
                st, _, body = n2.request("GET", "/readyz?timeout=300ms")
                self.assertEqual(st, 503)
                self.assertEqual(body, "[+]node ok\n[+]leader not contactable: timeout waiting for node to respond")
            finally:
                n1.proc.send_signal(signal.SIGCONT)
            wait_for(lambda: n2.request("GET", "/readyz")[0] == 200, what="ready again")
        finally:
            n2.cleanup()
            n1.cleanup()


class JoinFailure(unittest.TestCase):
    def test_nobody_to_join_exits_with_rqlites_kind_of_message(self):
        n = Node(RQLITED, extra=["-join", "127.0.0.1:1", "-join-attempts", "2", "-join-interval", "100ms"])
        try:
            n.start(wait_ready=False)
            self.assertEqual(n.proc.wait(timeout=60), 1)
            self.assertIn("failed to join cluster", n.log_tail())
        finally:
            n.cleanup()

    def test_a_single_node_cluster_refuses_to_join_another(self):
        other = Node(RQLITED, node_id="a")
        n = Node(RQLITED, node_id="b")
        try:
            other.start()
            n.start()
            self.assertEqual(n.execute(["CREATE TABLE t (v)"])[0], 200)
            self.assertEqual(n.stop(), 0)
            n.extra = ["-join", "127.0.0.1:%d" % other.raft_port]
            n.start(wait_ready=False)
            self.assertEqual(n.proc.wait(timeout=30), 1)
            self.assertIn("fatal: node is the only node in a single-node cluster, joining other clusters not supported",
                          n.log_tail())
        finally:
            n.cleanup()
            other.cleanup()


if __name__ == "__main__":
    RQLITED = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
