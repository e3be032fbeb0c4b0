// rqsim: runs the deterministic cluster simulation.
//   rqsim --seed N [--verbose]        one seed; options first, result line last
//   rqsim --seeds A-B [--jobs J] [--print-all] [--stop-on-fail]
//   rqsim --bench SECONDS [--nodes N] [--think-ms MS] [--seed N]
//                                    the simulator's own speed, on a fixed configuration
// With any of them:
//   --workload raft|register|multi-register|bank|append|set   (default raft: opaque values straight
//                                    to Raft; the others are SQL through the client service,
//                                    checked for linearizability / a conserved total)
//   --read-level none|weak|linearizable|strong             (SQL workloads; default linearizable)
//   --history FILE                   (--seed) the clients' history as jsonl, for rqcheck
//   --black-box                      the white-box checkers off (ack-retracted,
//                                    hard-state-regressed, term-behind-log,
//                                    membership-change-guard): a bug must show end to end
// Exit: 0 all passed, 1 a violation, 2 bad usage.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "sim/cluster.h"
#include "sim/sweep.h"

namespace {

int usage(const char* why) {
  if (why != nullptr) std::fprintf(stderr, "rqsim: %s\n", why);
  std::fprintf(stderr,
               "usage: rqsim --seed N [--verbose] [--history FILE]\n"
               "       rqsim --seeds A-B [--jobs J] [--print-all] [--stop-on-fail]\n"
               "       rqsim --bench SECONDS [--nodes N] [--think-ms MS] [--seed N]\n"
               "  with  [--workload raft|register|multi-register|bank|append|set]\n"
               "        [--read-level none|weak|linearizable|strong] [--bootstrap-expect]\n"
               "        [--black-box]  (the checkers that read a node's private state off)\n");
  return 2;
}

bool parse_u64(const char* s, uint64_t* out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || s[0] == '-') return false;
  *out = v;
  return true;
}

int run_single(const rq::sim::Options& opts, bool verbose, const std::string& history_path) {
  const uint64_t seed = opts.seed;
  std::printf("%s\n", opts.describe().c_str());
  std::fflush(stdout);
  rq::sim::Simulation sim(opts, stdout, verbose);
  const rq::sim::RunResult r = sim.run();
  if (!history_path.empty()) {
    std::FILE* f = std::fopen(history_path.c_str(), "w");
    if (f == nullptr) {
      std::fprintf(stderr, "rqsim: cannot write %s\n", history_path.c_str());
      return 2;
    }
    const std::string text = rq::wl::history_to_jsonl(sim.history());
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
  }
  const auto sim_ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.simulated).count();
  if (!r.pass) {
    const auto at_us = std::chrono::duration_cast<std::chrono::microseconds>(r.at).count();
    std::printf("violation: %s node=%" PRIu64 " at=%lld.%06llds: %s\n", r.reason.c_str(), r.node.v,
                static_cast<long long>(at_us / 1'000'000), static_cast<long long>(at_us % 1'000'000),
                r.detail.c_str());
  }
  std::printf("simulated_ms=%lld events=%" PRIu64 "\n", static_cast<long long>(sim_ms), r.events);
  char trace[32];
  std::snprintf(trace, sizeof trace, "%016" PRIx64, r.trace);
  std::string line = "seed=" + std::to_string(seed) + " result=" + (r.pass ? "pass" : "fail");
  if (!r.pass) line += " reason=" + r.reason;
  line += " " + r.coverage.format() + " trace=" + trace;
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  return r.pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  bool have_seed = false, have_seeds = false, verbose = false;
  uint64_t seed = 0, bench_seconds = 0, bench_nodes = 5, bench_think_ms = 10;
  rq::sim::SweepOptions sw;
  std::string history_path;
  sw.self = argv[0];
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) {
        usage((std::string(name) + " needs a value").c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seed") {
      if (!parse_u64(value("--seed"), &seed)) return usage("--seed wants a non-negative integer");
      have_seed = true;
    } else if (a == "--seeds") {
      const std::string v = value("--seeds");
      const size_t dash = v.find('-');
      if (dash == std::string::npos || !parse_u64(v.substr(0, dash).c_str(), &sw.first) ||
          !parse_u64(v.substr(dash + 1).c_str(), &sw.last) || sw.first > sw.last) {
        return usage("--seeds wants A-B with A <= B");
      }
      have_seeds = true;
    } else if (a == "--jobs") {
      uint64_t j = 0;
      if (!parse_u64(value("--jobs"), &j) || j == 0 || j > 64) return usage("--jobs wants 1..64");
      sw.jobs = static_cast<int>(j);
    } else if (a == "--bench") {
      if (!parse_u64(value("--bench"), &bench_seconds) || bench_seconds == 0 || bench_seconds > 100000) {
        return usage("--bench wants simulated seconds, 1..100000");
      }
    } else if (a == "--think-ms") {
      if (!parse_u64(value("--think-ms"), &bench_think_ms) || bench_think_ms > 10000) return usage("--think-ms wants 0..10000");
    } else if (a == "--nodes") {
      if (!parse_u64(value("--nodes"), &bench_nodes) || bench_nodes < 1 || bench_nodes > 9) {
        return usage("--nodes wants 1..9");
      }
    } else if (a == "--workload") {
      auto w = rq::sim::workload_from_name(value("--workload"));
      if (!w) return usage("--workload wants raft, register, multi-register, bank or append");
      sw.workload = *w;
    } else if (a == "--read-level") {
      auto l = rq::svc::read_level_from_name(value("--read-level"));
      if (!l || *l == rq::svc::ReadLevel::kAuto) return usage("--read-level wants none, weak, linearizable or strong");
      sw.read_level = *l;
    } else if (a == "--black-box") {
      sw.white_box = false;
    } else if (a == "--bootstrap-expect") {
      sw.bootstrap_expect = true;
    } else if (a == "--history") {
      history_path = value("--history");
    } else if (a == "--verbose" || a == "-v") {
      verbose = true;
    } else if (a == "--print-all") {
      sw.print_all = true;
    } else if (a == "--stop-on-fail") {
      sw.stop_on_fail = true;
    } else if (a == "--help" || a == "-h") {
      usage(nullptr);
      return 0;
    } else {
      return usage(("unknown argument: " + a).c_str());
    }
  }
  if (bench_seconds > 0) {
    if (have_seeds) return usage("--bench runs one seed");
    rq::sim::Options o = rq::sim::bench_options(seed, bench_nodes, static_cast<int64_t>(bench_seconds),
                                                std::chrono::milliseconds(bench_think_ms));
    o.workload = sw.workload;
    o.read_level = sw.read_level;
    return run_single(o, verbose, history_path);
  }
  if (have_seed == have_seeds) return usage("give exactly one of --seed and --seeds");
  if (!history_path.empty() && !have_seed) return usage("--history goes with --seed");
  if (sw.bootstrap_expect && sw.workload == rq::sim::WorkloadKind::kRaft)
    return usage("--bootstrap-expect goes with a SQL workload (it runs through the service)");
  if (have_seed)
    return run_single(rq::sim::options_for(seed, sw.workload, sw.read_level, sw.bootstrap_expect, sw.white_box),
                      verbose, history_path);
  return rq::sim::sweep(sw) == 0 ? 0 : 1;
}
