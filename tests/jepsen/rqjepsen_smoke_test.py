#!/usr/bin/env python3
"""rqjepsen's short campaign inside `make test` (under two minutes): the harness's teeth (stale
reads at `none` under partition and pause must be found: exit 1) and runs that must pass at
`linearizable` and `strong` under every nemesis. Needs root (rqjepsen makes a private network
namespace); without it this test fails with the reason, it never passes silently.

    tests/jepsen/rqjepsen_smoke_test.py build/bin/rqjepsen
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

RQJEPSEN = None


def run(out, *args, timeout=240):
    p = subprocess.run([RQJEPSEN, "--out", out, *args], capture_output=True, text=True, timeout=timeout)
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    return p.returncode, last, p.stdout + p.stderr


class Smoke(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.fail("rqjepsen needs root (unshare -n for its private network namespace); run as root, as CI does")
        self.tmp = tempfile.TemporaryDirectory(prefix="rqjepsen-smoke-")

    def tearDown(self):
        self.tmp.cleanup()

    def check_outputs(self, out):
        for name in ("history.jsonl", "history.edn", "nemesis.log", "results.json", "n1/rqlited.log"):
            self.assertTrue(os.path.exists(os.path.join(out, name)), name)
        with open(os.path.join(out, "results.json")) as f:
            return json.load(f)

    def test_teeth_stale_reads_at_none_are_found(self):
        out = os.path.join(self.tmp.name, "teeth")
        rc, last, text = run(out, "--workload", "register", "--level", "none", "--nemesis", "partition,pause",
                             "--nodes", "3", "--time", "15", "--seed", "7")
        self.assertEqual(rc, 1, text[-3000:])
        self.assertRegex(last, r"^result=fail workload=register level=none nemesis=partition,pause ops=\d+ ok=\d+ "
                               r"info=\d+ fail=\d+ anomalies=1$")
        r = self.check_outputs(out)
        self.assertEqual(r["anomaly"]["reason"], "not-linearizable")

    def test_linearizable_register_under_every_nemesis(self):
        out = os.path.join(self.tmp.name, "lin")
        rc, last, text = run(out, "--workload", "register", "--level", "linearizable", "--nemesis",
                             "kill,pause,partition,clock", "--nodes", "5", "--time", "25", "--seed", "11")
        self.assertEqual(rc, 0, text[-3000:])
        m = re.match(r"^result=pass .* ops=(\d+) ok=(\d+) info=(\d+) fail=(\d+) anomalies=0$", last)
        self.assertIsNotNone(m, last)
        self.assertGreater(int(m.group(2)), 100)
        r = self.check_outputs(out)
        self.assertGreater(r["faults"], 0)
        with open(os.path.join(out, "nemesis.log")) as f:
            self.assertIn(" start ", f.read())
        with open(os.path.join(out, "history.jsonl")) as f:
            finals = [l for l in f if '"final":true' in l and '"type":"ok"' in l]
        self.assertGreaterEqual(len(finals), 5, "a final read from every node")

    def test_set_at_strong_with_kills_and_partitions(self):
        out = os.path.join(self.tmp.name, "set")
        rc, last, text = run(out, "--workload", "set", "--level", "strong", "--nemesis", "kill,partition",
                             "--nodes", "3", "--time", "15", "--seed", "3", "--bootstrap-expect")
        self.assertEqual(rc, 0, text[-3000:])
        self.assertTrue(last.startswith("result=pass workload=set level=strong"), last)

    def test_linearizable_reads_on_a_slow_leader_cut_off(self):
        # The lease nemesis: a leader whose clock runs at a quarter speed, cut off, still
        # believes it leads; ReadIndex reads must not go stale (scripts/jepsen-teeth.py shows the
        # same run catching reads served without it).
        out = os.path.join(self.tmp.name, "lease")
        rc, last, text = run(out, "--workload", "register", "--level", "linearizable", "--nemesis", "lease",
                             "--nodes", "3", "--time", "15", "--seed", "2")
        self.assertEqual(rc, 0, text[-3000:])
        with open(os.path.join(out, "nemesis.log")) as f:
            self.assertIn("leads, and is cut off", f.read())

    def test_without_root_it_says_so_and_exits_2(self):
        out = os.path.join(self.tmp.name, "nobody")
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", RQJEPSEN, "--nodes", "3",
                            "--time", "1", "--out", out], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("must run as root", p.stderr)
        self.assertFalse(os.path.exists(out))

    def test_bad_arguments_exit_2(self):
        rc, last, text = run(os.path.join(self.tmp.name, "bad"), "--nemesis", "flood")
        self.assertEqual(rc, 2, text)
        self.assertIn("unknown nemesis", text)


if __name__ == "__main__":
    RQJEPSEN = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
