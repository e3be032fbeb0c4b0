#!/usr/bin/env python3
"""rqjepsen's teeth on real processes: plant the "reads without ReadIndex" bug in rqlited (a
linearizable read served from the leader's local SQLite without confirming leadership: catalogue
bug M7, the same line scripts/mutation-test.py mutates for the simulator) and show rqjepsen
catching it at `linearizable`, while the same runs on the true code pass.

    scripts/jepsen-teeth.py                 # up to 5 runs of 30 s of the lease nemesis
    scripts/jepsen-teeth.py --runs 10 --time 20

A scratch copy of the repository is built under --scratch (ccache keeps rebuilds cheap). Exit 0
when a run on the mutated rqlited fails with an anomaly and the control run on the true code
passes; 1 otherwise; 2 if something could not run (needs root, like rqjepsen).
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

import scratch_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILE = "core/service/service.cpp"
OLD = "      if (opts_.unsafe_leader_reads && leader) {"
NEW = "      if (leader) {"


def run(cmd, cwd=ROOT, env=None):
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)


def rqjepsen(binary, rqlited, out, seed, a):
    cmd = [binary, "--rqlited", rqlited, "--workload", "register", "--level", "linearizable",
           "--nemesis", a.nemesis, "--nodes", str(a.nodes), "--time", str(a.time), "--seed", str(seed),
           "--out", out]
    shutil.rmtree(out, ignore_errors=True)
    p = run(cmd)
    last = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    return p.returncode, last, cmd, p.stdout + p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--nemesis", default="lease")
    ap.add_argument("--time", type=int, default=30)
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--scratch", default="/tmp/sqlraft-jepsen-teeth")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="the true code's build (for the control run)")
    a = ap.parse_args()

    if os.geteuid() != 0:
        print("jepsen-teeth: rqjepsen needs root (a private network namespace)", file=sys.stderr)
        return 2
    src, build = os.path.join(a.scratch, "src"), os.path.join(a.scratch, "build")
    scratch_tree.sync(ROOT, src)
    path = os.path.join(src, FILE)
    text = open(path).read()
    if text.count(OLD) != 1:
        print(f"jepsen-teeth: the line to mutate occurs {text.count(OLD)} times in {FILE}: update the script", file=sys.stderr)
        return 2
    open(path, "w").write(text.replace(OLD, NEW))
    env = dict(os.environ, CCACHE_BASEDIR=a.scratch, CCACHE_NOHASHDIR="1")
    for cmd in (["cmake", "-S", src, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"],
                ["ninja", "-C", build, "rqlited", "rqjepsen"]):
        r = run(cmd, env=env)
        if r.returncode != 0:
            print(r.stdout[-3000:] + r.stderr[-3000:], file=sys.stderr)
            return 2
    mutated = os.path.join(build, "bin", "rqlited")
    binary = os.path.join(build, "bin", "rqjepsen")
    out = os.path.join(a.scratch, "runs")
    print(f"planted in {FILE}: {NEW.strip()}  (was: {OLD.strip()})", flush=True)

    caught = None
    for k in range(a.runs):
        seed = a.first_seed + k
        t0 = time.time()
        rc, last, cmd, text = rqjepsen(binary, mutated, os.path.join(out, f"mutated-{seed}"), seed, a)
        print(f"mutated rqlited, seed {seed}: exit {rc} in {time.time() - t0:.0f}s: {last}", flush=True)
        if rc == 2:
            print(text[-2000:], file=sys.stderr)
            return 2
        if rc == 1:
            caught = seed
            for line in text.splitlines():
                if line.startswith("anomaly:"):
                    print("  " + line[:300])
            break
    if caught is None:
        print(f"SURVIVED: {a.runs} runs of {a.time} s did not catch reads without ReadIndex")
        return 1
    true_rqlited = os.path.join(a.build, "bin", "rqlited")
    rc, last, cmd, text = rqjepsen(binary, true_rqlited, os.path.join(out, f"control-{caught}"), caught, a)
    print(f"true rqlited, seed {caught}: exit {rc}: {last}", flush=True)
    if rc != 0:
        print("the control run on the true code did not pass:\n" + text[-2000:])
        return 1
    print(f"caught at seed {caught}; the same seed passes on the true code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
