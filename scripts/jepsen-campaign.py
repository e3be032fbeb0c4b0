#!/usr/bin/env python3
"""The Jepsen campaign: rqjepsen over every workload x nemesis x level, several runs each, and a
summary table (runs, operations, info operations, anomalies, failures to run) with the wall time.

    scripts/jepsen-campaign.py                        # the full campaign (make jepsen; hours)
    scripts/jepsen-campaign.py --runs 2 --time 20     # shorter
    scripts/jepsen-campaign.py --workloads register --nemeses partition --levels none linearizable

Every run's directory is kept under --out (default jepsen-out/campaign-<time>); a failing run's
last lines are printed with the command that replays it. Exit 0 when every run at `linearizable`
and `strong` passed, every run could run, and stale reads were found at `none` (the harness's
teeth) whenever runs at `none` with partitions were part of the campaign.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = ["register", "multi-register", "bank", "append", "set"]
NEMESES = ["kill", "pause", "partition", "clock", "lease", "kill,pause,partition,clock"]
LEVELS = ["none", "weak", "linearizable", "strong"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rqjepsen", default=os.path.join(ROOT, "build", "bin", "rqjepsen"))
    ap.add_argument("--workloads", nargs="+", default=WORKLOADS)
    ap.add_argument("--nemeses", nargs="+", default=NEMESES)
    ap.add_argument("--levels", nargs="+", default=LEVELS)
    ap.add_argument("--runs", type=int, default=2, help="runs per workload x nemesis x level")
    ap.add_argument("--time", type=int, default=30, help="seconds of faults per run")
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--out", default=os.path.join("jepsen-out", "campaign-" + time.strftime("%Y%m%d-%H%M%S")))
    a = ap.parse_args()

    os.makedirs(a.out, exist_ok=True)
    rows = {}
    t0 = time.time()
    seed = a.first_seed
    bad = []
    for w in a.workloads:
        for n in a.nemeses:
            for lvl in a.levels:
                key = (w, n, lvl)
                row = rows.setdefault(key, dict(runs=0, ops=0, info=0, anomalies=0, errors=0))
                for _ in range(a.runs):
                    d = os.path.join(a.out, f"{w}-{n.replace(',', '+')}-{lvl}-{seed}")
                    shutil.rmtree(d, ignore_errors=True)
                    cmd = [a.rqjepsen, "--workload", w, "--level", lvl, "--nemesis", n, "--nodes", str(a.nodes),
                           "--time", str(a.time), "--seed", str(seed), "--out", d]
                    if seed % 2 == 1:
                        cmd.append("--bootstrap-expect")  # every other run forms the cluster that way
                    seed += 1
                    p = subprocess.run(cmd, capture_output=True, text=True)
                    row["runs"] += 1
                    try:
                        with open(os.path.join(d, "results.json")) as f:
                            r = json.load(f)
                        row["ops"] += r["ops"]
                        row["info"] += r["info"]
                    except (OSError, ValueError, KeyError):
                        r = None
                    if p.returncode == 1:
                        row["anomalies"] += 1
                    elif p.returncode != 0:
                        row["errors"] += 1
                    must_pass = lvl in ("linearizable", "strong")
                    if p.returncode == 2 or (p.returncode == 1 and must_pass):
                        bad.append(key)
                        tail = "\n    ".join((p.stdout + p.stderr).strip().splitlines()[-4:])
                        print(f"  {'ERROR' if p.returncode == 2 else 'FAIL'} {w} {n} {lvl}: {' '.join(cmd)}\n    {tail}",
                              flush=True)
                print(f"{w:15} {n:27} {lvl:13} runs={row['runs']} ops={row['ops']} info={row['info']} "
                      f"anomalies={row['anomalies']} errors={row['errors']}  ({(time.time() - t0) / 60:.1f} min)", flush=True)

    wall = (time.time() - t0) / 60
    print()
    print("| workload | nemesis | level | runs | operations | info | anomalies | could not run |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for (w, n, lvl), r in rows.items():
        print(f"| {w} | {n} | {lvl} | {r['runs']} | {r['ops']} | {r['info']} | {r['anomalies']} | {r['errors']} |")
    print(f"\nwall time {wall:.1f} min, {sum(r['runs'] for r in rows.values())} runs, directory {a.out}")
    teeth_rows = [r for (w, n, lvl), r in rows.items() if lvl == "none" and ("partition" in n or "pause" in n)]
    teeth_ok = not teeth_rows or sum(r["anomalies"] for r in teeth_rows) > 0
    if not teeth_ok:
        print("no stale read found at `none` under partitions and pauses: the harness has lost its teeth")
    return 0 if not bad and teeth_ok else 1


if __name__ == "__main__":
    sys.exit(main())
