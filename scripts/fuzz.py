#!/usr/bin/env python3
"""Runs the libFuzzer targets of tests/fuzz (docs/testing.md, "Fuzzing") and prints one table.

    scripts/fuzz.py --build build-fuzz                    # every target, 300 s each
    scripts/fuzz.py --build build-fuzz --seconds 5        # smoke run
    scripts/fuzz.py --build build-fuzz fuzz_query fuzz_log_store

`--build` is a build directory configured with clang and -DRQ_FUZZ=ON (`make fuzz` configures it).
Each target is built (`ninja fuzz_X`), then run for `--seconds` on a scratch copy of its seed
corpus (tests/fuzz/corpus/<target>; the repository's corpus is never written to) with its
dictionary (tests/fuzz/<target>.dict) if it has one, -rss_limit_mb=2048 and -timeout=10.
Everything a run leaves is under <build>/fuzz/<target>/: the working corpus, fuzz.log, and the
inputs that crashed, leaked, hung or ran out of memory (artifacts/). A target stops at its
first crash. The table gives, per target: seconds run, executions, libFuzzer's coverage (`cov`:
edges; `ft`: features) from its last status line, the corpus size, and the artifacts found.
Exit 0 only when every target built and ran its time with no artifact.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FUZZ_DIR = os.path.join(ROOT, "tests", "fuzz")
# One target per tests/fuzz/fuzz_<name>.cpp (tests/fuzz/CMakeLists.txt builds each).
TARGETS = sorted(f[:-len(".cpp")] for f in os.listdir(FUZZ_DIR) if f.startswith("fuzz_") and f.endswith(".cpp"))
ARTIFACT_PREFIXES = ("crash-", "leak-", "timeout-", "oom-", "slow-unit-")
STATUS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+)(?: corp: (\d+)/)?")
EXECUTED = re.compile(r"^stat::number_of_executed_units: (\d+)")


def build(build_dir, target, jobs):
    cmd = ["nice", "-n", "10", "ninja", "-C", build_dir, "-j", str(jobs), target]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.stdout.write(r.stdout[-4000:])
    return r.returncode == 0


def run(build_dir, target, seconds):
    """Runs one target; returns its row of the table."""
    work = os.path.join(build_dir, "fuzz", target)
    shutil.rmtree(work, ignore_errors=True)
    corpus = os.path.join(work, "corpus")
    artifacts = os.path.join(work, "artifacts")
    seeds = os.path.join(FUZZ_DIR, "corpus", target)
    if os.path.isdir(seeds):
        shutil.copytree(seeds, corpus)
    else:
        os.makedirs(corpus)
    os.makedirs(artifacts)
    cmd = ["nice", "-n", "10", os.path.join(build_dir, "bin", target),
           f"-max_total_time={seconds}", "-rss_limit_mb=2048", "-timeout=10",
           "-print_final_stats=1", f"-artifact_prefix={artifacts}/"]
    dictionary = os.path.join(FUZZ_DIR, target + ".dict")
    if os.path.exists(dictionary):
        cmd.append(f"-dict={dictionary}")
    cmd.append(corpus)
    log_path = os.path.join(work, "fuzz.log")
    started = time.monotonic()
    with open(log_path, "w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    took = time.monotonic() - started
    execs = cov = ft = corp = None
    with open(log_path, errors="replace") as log:
        for line in log:
            m = STATUS.match(line)
            if m:
                execs, cov, ft = int(m.group(1)), int(m.group(2)), int(m.group(3))
                if m.group(4):
                    corp = int(m.group(4))
            m = EXECUTED.match(line)
            if m:
                execs = int(m.group(1))
    found = sorted(f for f in os.listdir(artifacts) if f.startswith(ARTIFACT_PREFIXES))
    ok = rc == 0 and not found
    return {"target": target, "seconds": took, "execs": execs, "cov": cov, "ft": ft,
            "corpus": corp, "artifacts": [os.path.join(artifacts, f) for f in found],
            "ok": ok, "rc": rc, "log": log_path}


def show(v):
    return "-" if v is None else str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("targets", nargs="*", help="targets to run (default: all)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build-fuzz"))
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "300")))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="ninja's -j")
    args = ap.parse_args()
    targets = args.targets or TARGETS
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        ap.error("unknown targets: " + " ".join(unknown))
    build_dir = os.path.abspath(args.build)

    rows = []
    for t in targets:
        if not build(build_dir, t, args.jobs):
            print(f"{t}: build failed", flush=True)
            rows.append({"target": t, "ok": False, "build_failed": True})
            continue
        print(f"{t}: fuzzing for {args.seconds} s ...", flush=True)
        rows.append(run(build_dir, t, args.seconds))
        r = rows[-1]
        if not r["ok"]:
            print(f"{t}: exit {r['rc']}, see {r['log']}", flush=True)
            for a in r["artifacts"]:
                print(f"  artifact: {a}   (reproduce: {os.path.join(build_dir, 'bin', t)} {a})")

    header = ("target", "seconds", "executions", "cov", "ft", "corpus", "crashes")
    table = []
    for r in rows:
        if r.get("build_failed"):
            table.append((r["target"], "-", "-", "-", "-", "-", "BUILD FAILED"))
            continue
        crashes = str(len(r["artifacts"]))
        if r["rc"] != 0 and not r["artifacts"]:
            crashes += f" (exit {r['rc']})"
        table.append((r["target"], f"{r['seconds']:.0f}", show(r["execs"]), show(r["cov"]),
                      show(r["ft"]), show(r["corpus"]), crashes))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)]
    print()
    for line in [header] + table:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip())
    failed = [r["target"] for r in rows if not r["ok"]]
    if failed:
        print("\nFAILED: " + " ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
