#!/usr/bin/env python3
"""The long sweeps: 100,000 consecutive seeds of the Raft workload and 20,000 of each SQL workload,
on both cores, resumable.

    scripts/sweep-long.py                       # everything (a few hours on 2 cores)
    scripts/sweep-long.py --raft-seeds 20000 --sql-seeds 2000
    scripts/sweep-long.py --workloads register bank
    scripts/sweep-long.py --black-box           # with the white-box checkers off

Seeds run in chunks (`rqsim --seeds A-B --jobs J`). Each finished chunk's output is kept under
`--state DIR/<rqsim build id>/`, so a run stopped at any moment (Ctrl-C, a session that ends) picks
up where it was when started again with the same binary; a rebuilt rqsim starts over (a seed's run
depends on the code). Failures are printed as soon as their chunk ends, each with the command that
replays it; the summary gives, per workload, the seeds, failures, wall time and seeds per hour
(wall time counts every session that worked on this build's sweep). Exit 0 when every seed passed.
"""
import argparse
import hashlib
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SQL_WORKLOADS = ["register", "multi-register", "bank", "append", "set"]


def build_id(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def chunks(first, last, size):
    a = first
    while a <= last:
        b = min(last, a + size - 1)
        yield a, b
        a = b + 1


def run_chunk(rqsim, workload, a, b, jobs, black_box, read_level):
    cmd = [rqsim, "--seeds", f"{a}-{b}", "--jobs", str(jobs)]
    if workload != "raft":
        cmd += ["--workload", workload, "--read-level", read_level]
    if black_box:
        cmd.append("--black-box")
    t0 = time.time()
    p = subprocess.run(cmd, text=True, capture_output=True)
    secs = time.time() - t0
    if p.returncode not in (0, 1) or "seeds=" not in p.stdout:
        sys.exit(f"sweep-long: {' '.join(cmd)} exited {p.returncode}: {p.stderr[-2000:]}")
    return p.stdout, secs


def parse(text):
    """(seconds, seeds, failures) from a chunk file."""
    secs, seeds, fails = 0.0, 0, []
    for line in text.splitlines():
        if line.startswith("# seconds="):
            secs = float(line.split("=", 1)[1])
        elif line.startswith("seeds="):
            seeds = int(line.split()[0].split("=")[1])
        elif " result=fail " in line and "replay:" in line:
            fails.append(line)
    return secs, seeds, fails


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rqsim", default=os.path.join(ROOT, "build", "bin", "rqsim"))
    ap.add_argument("--raft-seeds", type=int, default=100_000)
    ap.add_argument("--sql-seeds", type=int, default=20_000)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--workloads", nargs="*", default=["raft"] + SQL_WORKLOADS)
    ap.add_argument("--chunk", type=int, default=1000, help="seeds per resumable chunk")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--black-box", action="store_true", help="the white-box checkers off")
    ap.add_argument("--read-level", default="linearizable", help="the SQL workloads' reads (none|weak|linearizable|strong)")
    ap.add_argument("--state", default=os.path.join(ROOT, "build", "sweep-long"))
    ap.add_argument("--show-failures", type=int, default=10, help="failures printed per workload")
    args = ap.parse_args()

    unknown = [w for w in args.workloads if w != "raft" and w not in SQL_WORKLOADS]
    if unknown:
        sys.exit("sweep-long: unknown workloads: " + " ".join(unknown))
    if not os.access(args.rqsim, os.X_OK):
        sys.exit(f"sweep-long: no rqsim at {args.rqsim} (make build)")
    bid = build_id(args.rqsim)
    state = os.path.join(args.state, bid + ("-black-box" if args.black_box else "") +
                         ("" if args.read_level == "linearizable" else "-" + args.read_level))
    os.makedirs(state, exist_ok=True)
    print(f"sweep-long: rqsim {args.rqsim} build {bid}; state {state}", flush=True)

    summary = []
    any_fail = False
    for w in args.workloads:
        n = args.raft_seeds if w == "raft" else args.sql_seeds
        first, last = args.first_seed, args.first_seed + n - 1
        total_secs, total_seeds, fails, resumed = 0.0, 0, [], 0
        for a, b in chunks(first, last, args.chunk):
            path = os.path.join(state, f"{w}-{a}-{b}.txt")
            if os.path.exists(path):
                text = open(path).read()
                resumed += 1
            else:
                out, secs = run_chunk(args.rqsim, w, a, b, args.jobs, args.black_box, args.read_level)
                text = f"# seconds={secs:.1f}\n" + out
                with open(path + ".tmp", "w") as f:
                    f.write(text)
                os.replace(path + ".tmp", path)
            secs, seeds, chunk_fails = parse(text)
            total_secs += secs
            total_seeds += seeds
            for line in chunk_fails:
                if len(fails) < args.show_failures:
                    print(f"  FAIL {w}: {line}", flush=True)
                fails.append(line)
            rate = total_seeds / total_secs * 3600 if total_secs > 0 else 0
            print(f"{w:15} seeds {a}-{b} done: {total_seeds}/{n} fail={len(fails)} "
                  f"wall={total_secs / 60:.1f} min ({rate:,.0f} seeds/h)", flush=True)
        any_fail = any_fail or bool(fails)
        summary.append((w, total_seeds, len(fails), total_secs, resumed))

    print("\nworkload        seeds    fail   wall(min)   seeds/hour   chunks resumed")
    for w, seeds, nfail, secs, resumed in summary:
        rate = seeds / secs * 3600 if secs > 0 else 0
        print(f"{w:15} {seeds:7d} {nfail:7d} {secs / 60:11.1f} {rate:12,.0f} {resumed:8d}")
    total = sum(s[3] for s in summary)
    print(f"total wall {total / 60:.1f} min; result={'fail' if any_fail else 'pass'}")
    return 1 if any_fail else 0


if __name__ == "__main__":
    sys.exit(main())
