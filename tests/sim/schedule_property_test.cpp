// Property-based fault schedules: RapidCheck generates explicit schedules (data: a list of
// timed faults), runs the small cluster of schedule_options() under each with the register
// workload, and the run's checkers (Raft invariants, linearizability of the clients' history)
// must pass. Failing schedules shrink: fewer steps, earlier times, smaller nodes and lengths.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "sim/cluster.h"
#include "sim/swarm.h"

namespace rq::sim {
namespace {

using std::chrono::milliseconds;

constexpr int64_t kSafetyMs = 3000;

rc::Gen<FaultStep> fault_step() {
  return rc::gen::exec([] {
    FaultStep f;
    f.at = milliseconds(*rc::gen::inRange<int64_t>(0, kSafetyMs));
    f.kind = *rc::gen::element(FaultStep::Kind::kIsolateLeader, FaultStep::Kind::kHeal, FaultStep::Kind::kIsolate,
                               FaultStep::Kind::kCrash, FaultStep::Kind::kRestart, FaultStep::Kind::kKillLeader,
                               FaultStep::Kind::kPause, FaultStep::Kind::kClockJump);
    f.node = *rc::gen::inRange<uint32_t>(1, 4);
    f.length = milliseconds(*rc::gen::inRange<int64_t>(0, 400));
    return f;
  });
}

rc::Gen<std::vector<FaultStep>> schedule() { return rc::gen::resize(12, rc::gen::container<std::vector<FaultStep>>(fault_step())); }

RunResult run(uint64_t seed, const std::vector<FaultStep>& s, svc::ReadLevel level, bool broken) {
  Options o = schedule_options(seed, s, milliseconds(kSafetyMs));
  o.read_level = level;
  o.broken_reads = broken;
  Simulation sim(o, nullptr, false);
  return sim.run();
}

RC_GTEST_PROP(FaultSchedule, LinearizableAndStrongReads_AreLinearizable, ()) {
  const auto seed = *rc::gen::inRange<uint64_t>(1, 1000);
  const auto level = *rc::gen::element(svc::ReadLevel::kLinearizable, svc::ReadLevel::kStrong);
  const auto s = *schedule();
  const RunResult r = run(seed, s, level, false);
  RC_TAG(r.coverage.get("ops") > 100 ? "100+ ops" : "few ops");
  if (!r.pass) {
    RC_FAIL("seed " + std::to_string(seed) + " level " + svc::to_string(level) + " schedule " + describe(s) + ": " +
            r.reason + ": " + r.detail);
  }
  // The clients really ran.
  RC_ASSERT(r.coverage.get("ops_ok") > 0u);
}

// With a deliberately broken read path (leaders answer linearizable reads without confirming
// they still lead), RapidCheck finds a failing schedule and shrinks it to a short one.
TEST(FaultSchedule, BrokenReads_FailingScheduleShrinksToAFewSteps) {
  static std::vector<FaultStep> last_failing;
  static std::string last_reason;
  static uint64_t last_seed = 0;
  rc::detail::TestParams params;
  params.seed = 20261127;
  params.maxSuccess = 300;
  params.maxSize = 100;
  rc::detail::TestMetadata meta;
  meta.id = "broken reads";
  const auto result = rc::detail::checkTestable(
      [] {
        const auto seed = *rc::gen::inRange<uint64_t>(1, 1000);
        const auto s = *schedule();
        const RunResult r = run(seed, s, svc::ReadLevel::kLinearizable, true);
        if (!r.pass) {
          last_failing = s;
          last_reason = r.reason;
          last_seed = seed;
        }
        RC_ASSERT(r.pass);
      },
      meta, params);
  ASSERT_TRUE(result.template is<rc::detail::FailureResult>()) << "no schedule exposed the broken reads";
  // Shrinking ends with the smallest failing schedule it found (every later try passed).
  std::printf("shrunk to seed %llu schedule %s (%s)\n", static_cast<unsigned long long>(last_seed),
              describe(last_failing).c_str(), last_reason.c_str());
  EXPECT_EQ(last_reason, "not-linearizable");
  EXPECT_LE(last_failing.size(), 3u);
  // And it replays: the same schedule fails again, and passes with the read path intact.
  EXPECT_FALSE(run(last_seed, last_failing, svc::ReadLevel::kLinearizable, true).pass);
  EXPECT_TRUE(run(last_seed, last_failing, svc::ReadLevel::kLinearizable, false).pass);
}

}  // namespace
}  // namespace rq::sim
