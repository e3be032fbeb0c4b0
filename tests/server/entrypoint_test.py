#!/usr/bin/env python3
"""docker/entrypoint.sh in dry-run mode (no Docker engine here): for each service of
docker-compose.yml the final command line is what rqlite's image would run, rqlited's flag
parser accepts it, and the first service's command, with 127.0.0.1 addresses, runs as a local
process. Usage: entrypoint_test.py PATH_TO_RQLITED"""
import json
import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from rqlited_harness import Node, free_port  # noqa: E402

RQLITED = None
ENTRYPOINT = os.path.join(ROOT, "docker", "entrypoint.sh")


def compose_services():
    """(service, hostname, command list) from docker-compose.yml (its commands are JSON arrays)."""
    with open(os.path.join(ROOT, "docker-compose.yml")) as f:
        text = f.read()
    out = []
    for block in re.split(r"\n  (?=[a-z0-9]+:\n)", text.split("services:", 1)[1]):
        name = block.strip().split(":", 1)[0]
        host = re.search(r"hostname: (\S+)", block)
        cmd = re.search(r"command: (\[.*\])", block)
        if cmd:
            out.append((name, host.group(1) if host else name, json.loads(cmd.group(1))))
    return out


def dry_run(args, **env):
    e = {k: v for k, v in os.environ.items() if k not in ("HTTP_ADDR", "HTTP_ADV_ADDR", "RAFT_ADDR", "RAFT_ADV_ADDR",
                                                           "NODE_ID", "DATA_DIR", "ENABLE_FK")}
    e.update(env)
    e["RQ_ENTRYPOINT_DRY_RUN"] = "1"
    r = subprocess.run(["sh", ENTRYPOINT] + args, capture_output=True, text=True, env=e, timeout=20)
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


class Entrypoint(unittest.TestCase):
    def test_compose_services_get_routable_advertised_addresses(self):
        services = compose_services()
        self.assertEqual([s[0] for s in services], ["rqlite1", "rqlite2", "rqlite3"])
        for name, host, cmd in services:
            got = dry_run(cmd, RQ_HOSTNAME=host)
            want = ["rqlited", "-node-id", host, "-http-adv-addr", host + ":4001", "-raft-adv-addr", host + ":4002"] + cmd[1:]
            self.assertEqual(got, want, name)
            # rqlited's own parser accepts every flag (-version answers once all flags parse).
            r = subprocess.run([RQLITED, "-version"] + got[1:], capture_output=True, text=True, timeout=20)
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(services[1][2][services[1][2].index("-join") + 1], "rqlite1:4002")

    def test_environment_variables_fill_in_only_what_was_not_passed(self):
        got = dry_run(["-raft-snap", "100"], RQ_HOSTNAME="h", NODE_ID="7", HTTP_ADDR="0.0.0.0:5001",
                      RAFT_ADV_ADDR="r.example:5002", DATA_DIR="/data/x", ENABLE_FK="1")
        self.assertEqual(got, ["rqlited", "-node-id", "7", "-http-addr", "0.0.0.0:5001", "-http-adv-addr", "h:4001",
                               "-raft-addr", "0.0.0.0:4002", "-raft-adv-addr", "r.example:5002", "-fk",
                               "-raft-snap", "100", "/data/x"])
        # Flags given in either form win over the environment; a given data directory stays last.
        got = dry_run(["rqlited", "--node-id=n9", "-http-adv-addr", "a:1", "-raft-adv-addr=b:2", "-fk", "/d"],
                      RQ_HOSTNAME="h", NODE_ID="7", ENABLE_FK="1")
        self.assertEqual(got, ["rqlited", "-http-addr", "0.0.0.0:4001", "-raft-addr", "0.0.0.0:4002",
                               "--node-id=n9", "-http-adv-addr", "a:1", "-raft-adv-addr=b:2", "-fk", "/d"])
        # A boolean flag does not swallow the data directory after it.
        got = dry_run(["-raft-non-voter", "/d2"], RQ_HOSTNAME="h")
        self.assertEqual(got[-2:], ["-raft-non-voter", "/d2"])

    def test_other_commands_run_unchanged(self):
        r = subprocess.run(["sh", ENTRYPOINT, "echo", "hello", "-x"], capture_output=True, text=True, timeout=20)
        self.assertEqual((r.returncode, r.stdout), (0, "hello -x\n"))

    def test_compose_services_run_as_a_local_cluster(self):
        """The three services' command lines, with 127.0.0.1 addresses, as local processes."""
        services = compose_services()
        nodes = [Node(RQLITED, node_id=s[1]) for s in services]
        try:
            for (name, host, cmd), n in zip(services, nodes):
                args = dry_run(cmd, RQ_HOSTNAME=host, HTTP_ADV_ADDR="127.0.0.1:%d" % n.http_port,
                               RAFT_ADV_ADDR="127.0.0.1:%d" % n.raft_port)
                subst = {"0.0.0.0:4001": "127.0.0.1:%d" % n.http_port, "0.0.0.0:4002": "127.0.0.1:%d" % n.raft_port,
                         "rqlite1:4002": "127.0.0.1:%d" % nodes[0].raft_port}
                args = [subst.get(a, a) for a in args]
                args[-1] = os.path.join(n.data_dir, os.path.basename(args[-1]))
                n.args = lambda args=args: [RQLITED] + args[1:]
                n.start()
            st, _, body = nodes[0].execute(["CREATE TABLE t (x)", "INSERT INTO t VALUES(1)"])
            self.assertEqual(st, 200, body)
            # Every service serves it (level none: each node's own copy), and knows all three.
            for n in nodes:
                for _ in range(200):
                    st, _, body = n.query("SELECT count(*) FROM t", "?level=none")
                    if st == 200 and '"values":[[1]]' in body:
                        break
                    import time
                    time.sleep(0.05)
                self.assertIn('"values":[[1]]', body, n.node_id)
            members = json.loads(nodes[0].request("GET", "/status?key=store.nodes")[2])
            self.assertEqual(len(members), 3)
            self.assertEqual(json.loads(nodes[1].request("GET", "/status?key=store.node_id")[2]), "rqlite2")
        finally:
            for n in nodes:
                n.cleanup()


if __name__ == "__main__":
    RQLITED = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
