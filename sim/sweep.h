// Running many seeds: each in its own forked process (so an assertion in one seed cannot take the
// sweep down with it), `jobs` at a time; each simulation stays single-threaded.
#pragma once

#include <cstdint>
#include <string>

#include "sim/swarm.h"

namespace rq::sim {

struct SweepOptions {
  uint64_t first = 1;
  uint64_t last = 1;
  int jobs = 2;
  bool print_all = false;   // print every seed's result line, not only failures
  bool stop_on_fail = false;
  std::string self;         // path of this binary, for replay commands
  WorkloadKind workload = WorkloadKind::kRaft;
  svc::ReadLevel read_level = svc::ReadLevel::kLinearizable;
  bool bootstrap_expect = false;
  bool white_box = true;  // false: --black-box
};

// The seed's options with the workload chosen on the command line.
Options options_for(uint64_t seed, WorkloadKind workload, svc::ReadLevel level,
                    bool bootstrap_expect = false, bool white_box = true);

// The result line of one seed, as rqsim prints it last.
std::string run_one_line(const Options& opts, bool* pass);
std::string run_one_line(uint64_t seed, bool* pass);

// Returns the number of failing seeds.
uint64_t sweep(const SweepOptions& o);

}  // namespace rq::sim
