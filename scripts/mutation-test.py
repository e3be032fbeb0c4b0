#!/usr/bin/env python3
"""Mutation test of the simulator: plant classic one-line Raft and client-service bugs and check
rqsim catches each (the client ones with an SQL workload and the linearizability checker).

Each mutation (from ../shared/spec/testing.md) is applied to a scratch copy of the repository, only
`rqsim` is rebuilt there (ccache with CCACHE_BASEDIR keeps rebuilds cheap), and a sweep runs until
the first failing seed. A mutation that survives the whole sweep means the simulator is missing a
fault or an oracle.

    scripts/mutation-test.py                 # every mutation, seeds 1-2000
    scripts/mutation-test.py M1 M4 --seeds 500
    scripts/mutation-test.py --black-box     # the white-box checkers off, seeds 1-10000
    scripts/mutation-test.py --both          # both columns: 2000 seeds with, 10000 without
    scripts/mutation-test.py --list

`--black-box` runs rqsim with the checkers that read a node's private state turned off
(ack-retracted, hard-state-regressed, term-behind-log, membership-change-guard): a mutation must
then show in what the cluster does (two leaders in a term, different entries applied at one index,
a lost acknowledged write, a history no order explains, no progress after healing). The goal
(issue 12): every mutation caught within 2,000 seeds with the white-box checkers and within 10,000
without. The exit code is 1 if any mutation survives its budget.
"""
import argparse
import os
import subprocess
import sys
import time

import scratch_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# id, file, exact text to replace (must occur once), replacement, description[, rqsim arguments
# choosing the workload that exposes it]
MUTATIONS = [
    ("M1", "core/raft/raft.cpp",
     "if (mci > log_.committed() && log_.term(mci) == term_) {",
     "if (mci > log_.committed()) {",
     "leader commits by counting replicas of an old-term entry (Figure 8)"),
    ("M2", "core/storage/log_store.cpp",
     "append_record(buf, current_salt_, kKindHardState, 0, hs->term.v, hs->vote.v, hs->commit.v, {});",
     "append_record(buf, current_salt_, kKindHardState, 0, hs->term.v, 0, hs->commit.v, {});",
     "votedFor kept in memory only (never reaches the disk)"),
    ("M3", "core/raft/raft.cpp",
     "if (hs != prev_hs_) rd.hard_state = hs;",
     "if (hs.vote != prev_hs_.vote || hs.commit != prev_hs_.commit) rd.hard_state = hs;",
     "currentTerm not persisted on a term change alone"),
    ("M4", "core/raft/raft_log.cpp",
     "const LogIndex ci = find_conflict(ents);",
     "const LogIndex ci = ents.empty() ? LogIndex{0} : ents.front().index;",
     "follower truncates after prevLogIndex unconditionally, not only on conflict"),
    ("M5", "core/raft/raft_log.cpp",
     "commit_to(std::min(leader_commit, last_new));",
     "commit_to(std::min(leader_commit, last_index()));",
     "follower commits min(leaderCommit, lastIndex) instead of min(leaderCommit, last new entry)"),
    ("M6", "core/raft/raft_log.cpp",
     "return lterm > last_term() || (lterm == last_term() && last >= last_index());",
     "return last >= last_index();",
     "vote granted comparing only the last index, not the last term"),
    ("M10", "core/raft/raft.cpp",
     "  if (log_.term(log_.committed()) != term_ || pending_conf_index_ > log_.committed()) {\n    r.status = ProposeStatus::kConfigPending;",
     "  if (false) {\n    r.status = ProposeStatus::kConfigPending;",
     "membership change before the leader committed an entry of its term, several in flight (Ongaro 2015)"),
    ("M13", "core/raft/raft.cpp",
     "  if (log_.match_term(meta.index, meta.term)) {",
     "  if (log_.term(meta.index).has_value()) {",
     "InstallSnapshot keeps the log suffix even when the entry at the snapshot index has another term (Figure 13 rule 7)"),
    ("M14", "core/raft/raft.cpp",
     "case MessageType::kAppResp:  // acknowledges appended entries (Raft §5.3; thesis §10.2.1)\n      return true;",
     "case MessageType::kAppResp:  // acknowledges appended entries (Raft §5.3; thesis §10.2.1)\n      return false;",
     "follower acknowledges AppendEntries before the entries are synced"),
    ("M16", "core/raft/raft.cpp",
     "if (!pr.maybe_update(m.index) && !probe_answered) return;",
     "if (!pr.maybe_update(log_.last_index()) && !probe_answered) return;",
     "leader sets matchIndex to its last index instead of what the reply acknowledged"),
    ("M16b", "core/raft/raft.cpp",
     "    // Figure 2: a request or reply from an older term is otherwise ignored.\n    return;\n  }",
     "    if (m.type != MessageType::kAppResp) return;\n  }",
     "leader handles an AppendEntries reply from an older term as if current (no reply.term guard)"),
    ("M8", "core/raft/raft.cpp",
     "const int64_t lease = cfg_.election_ticks * (1'000'000 - ppm) / (1'000'000 + ppm) - 1;",
     "const int64_t lease = cfg_.election_ticks;",
     "leader's lease is a whole election timeout, with no margin for clock drift or tick phase",
     ["--workload", "register", "--read-level", "weak"]),
    ("M15", "core/raft/raft.cpp",
     "if (in_lease && !m.transfer) return;",
     "if (false) return;",
     "no leader stickiness: followers that hear a leader still grant (pre-)votes",
     ["--workload", "register", "--read-level", "weak"]),
    ("M7", "core/service/service.cpp",
     "      if (opts_.unsafe_leader_reads && leader) {",
     "      if (leader) {",
     "linearizable read served from the leader's local SQLite without a ReadIndex round",
     ["--workload", "register", "--read-level", "linearizable"]),
    ("M9", "core/raft/raft.cpp",
     "if (log_.term(log_.committed()) != term_) return ReadIndexStatus::kNoCommitInTerm;",
     "if (false) return ReadIndexStatus::kNoCommitInTerm;",
     "new leader serves ReadIndex reads before its first commit in its term (an old commit index)",
     ["--workload", "register", "--read-level", "linearizable"]),
    ("M11", "core/sqlite/sqlite_machine.cpp",
     "} else if (c->session != 0 && sessions_.count(c->session) != 0 &&\n             c->seq <= sessions_[c->session].seq) {",
     "} else if (false) {",
     "no (session, seq) deduplication: a retried write takes effect twice",
     ["--workload", "append", "--read-level", "linearizable"]),
]


# Mutations this design makes unreachable: they run like the others, but surviving is expected;
# the argument is in the test that pins it (docs/simulation.md, "The simulator has teeth").
UNREACHABLE = {
    "M5": "every accepted append reaches the divergence: tests/core/raft_backtracking_test.cpp",
}
# Catalogue bugs with no line to mutate here, and why.
NOT_APPLICABLE = {
    "M12": "no applied index is persisted: the database file is discarded and rebuilt from the "
           "snapshot and the log at every start (tests/server/rqlited_test.py "
           "Durability.test_database_file_is_a_cache_rebuilt_from_the_log)",
}


def run(cmd, cwd, env=None, capture=True):
    return subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=capture)


def first_failure(rqsim, seeds, rqsim_args, jobs, env):
    """Sweeps 1..seeds until the first failing seed; returns (seed, reason) or None."""
    sweep = run([rqsim, "--seeds", f"1-{seeds}", "--jobs", str(jobs), "--stop-on-fail"] + rqsim_args, ROOT, env)
    caught = [l for l in sweep.stdout.splitlines() if " result=fail " in l and "replay:" in l]
    if not caught:
        return None
    first = min(caught, key=lambda l: int(l.split()[0].split("=")[1]))
    return int(first.split()[0].split("=")[1]), first.split("reason=")[1].split()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ids", nargs="*", help="mutation ids (default: all)")
    ap.add_argument("--seeds", type=int, default=None,
                    help="sweep seeds 1..N (default 2000 with the white-box checkers, 10000 without)")
    ap.add_argument("--black-box", action="store_true", help="white-box checkers off")
    ap.add_argument("--both", action="store_true",
                    help="each mutation with the white-box checkers (2000 seeds) and without (10000 seeds)")
    ap.add_argument("--black-box-seeds", type=int, default=10000, help="with --both: the black-box budget")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--scratch", default="/tmp/sqlraft-mutants")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()

    if args.list:
        for mid, f, _, _, desc, *extra in MUTATIONS:
            print(f"{mid:4} {f:28} {desc}" + (f"  [{' '.join(extra[0])}]" if extra else "")
                  + (f"  (unreachable: {UNREACHABLE[mid]})" if mid in UNREACHABLE else ""))
        for mid, why in NOT_APPLICABLE.items():
            print(f"{mid:4} {'-':28} not applicable: {why}")
        return 0
    chosen = [m for m in MUTATIONS if not args.ids or m[0] in args.ids]
    unknown = set(args.ids) - {m[0] for m in MUTATIONS}
    if unknown:
        print("unknown mutation ids: " + " ".join(sorted(unknown)), file=sys.stderr)
        return 2
    # (label, budget, extra rqsim flags) for each column.
    if args.both:
        columns = [("white-box", args.seeds or 2000, []), ("black-box", args.black_box_seeds, ["--black-box"])]
    elif args.black_box:
        columns = [("black-box", args.seeds or 10000, ["--black-box"])]
    else:
        columns = [("white-box", args.seeds or 2000, [])]

    src = os.path.join(args.scratch, "src")
    build = os.path.join(args.scratch, "build")
    os.makedirs(args.scratch, exist_ok=True)
    scratch_tree.sync(ROOT, src)

    env = dict(os.environ, CCACHE_BASEDIR=args.scratch, CCACHE_NOHASHDIR="1")
    r = run(["cmake", "-S", src, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"], ROOT, env)
    if r.returncode != 0:
        print(r.stdout + r.stderr, file=sys.stderr)
        return 2

    rqsim = os.path.join(build, "bin", "rqsim")
    print("mutation " + " ".join(f"{label + ' (' + str(budget) + ')':>26}" for label, budget, _ in columns)
          + "  description", flush=True)
    missed = []
    for mid, f, old, new, desc, *extra in chosen:
        rqsim_args = extra[0] if extra else []
        path = os.path.join(src, f)
        # The scratch copy, synced once at the start: edits to the working tree during a long
        # run do not leak into it.
        original = open(path).read()
        if original.count(old) != 1:
            print(f"{mid:8} the text to mutate occurs {original.count(old)} times in {f}: update the table", flush=True)
            missed.append(f"{mid}/stale-text")
            continue
        open(path, "w").write(original.replace(old, new))
        b = run(["ninja", "-C", build, "rqsim"], ROOT, env)
        if b.returncode != 0:
            print(b.stdout[-3000:] + b.stderr[-3000:], file=sys.stderr)
            open(path, "w").write(original)
            return 2
        cells = []
        try:
            for label, budget, flags in columns:
                t0 = time.time()
                hit = first_failure(rqsim, budget, rqsim_args + flags, args.jobs, env)
                secs = time.time() - t0
                if hit:
                    cells.append(f"{hit[0]:>6} {hit[1][:14]:14} {secs:4.0f}s")
                elif mid in UNREACHABLE:
                    cells.append(f"{'unreachable':>21} {secs:4.0f}s")
                else:
                    cells.append(f"{'SURVIVED':>21} {secs:4.0f}s")
                    missed.append(f"{mid}/{label}")
        finally:
            open(path, "w").write(original)
        print(f"{mid:8} " + " ".join(f"{c:>26}" for c in cells) + f"  {desc}"
              + (f" [{' '.join(rqsim_args)}]" if rqsim_args else ""), flush=True)

    # Restore the scratch tree's build to the unmutated code for the next run.
    run(["ninja", "-C", build, "rqsim"], ROOT, env)
    for mid in sorted({m[0] for m in chosen} & set(UNREACHABLE)):
        print(f"{mid}: survives by design: {UNREACHABLE[mid]}")
    for mid, why in NOT_APPLICABLE.items():
        print(f"{mid}: not applicable: {why}")
    print(f"mutations={len(chosen)} columns={len(columns)} missed={len(missed)}"
          + (" (" + " ".join(missed) + ")" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
