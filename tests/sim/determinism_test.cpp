#include <gtest/gtest.h>

#include "sim/cluster.h"
#include "sim/sweep.h"

namespace rq::sim {
namespace {

TEST(Determinism, SameSeed_SameTraceTwice) {
  for (uint64_t seed : {1u, 7u, 42u}) {
    const RunResult a = run_seed(seed, nullptr, false);
    const RunResult b = run_seed(seed, nullptr, false);
    EXPECT_EQ(a.trace, b.trace) << "seed " << seed;
    EXPECT_EQ(a.events, b.events) << "seed " << seed;
    EXPECT_EQ(a.coverage.format(), b.coverage.format()) << "seed " << seed;
  }
}

TEST(Determinism, DifferentSeeds_DifferentTraces) {
  EXPECT_NE(run_seed(1, nullptr, false).trace, run_seed(2, nullptr, false).trace);
}

TEST(Determinism, ResultLine_EndsWithTrace) {
  bool pass = false;
  const std::string line = run_one_line(3, &pass);
  EXPECT_EQ(line.rfind("seed=3 result=", 0), 0u) << line;
  const size_t t = line.rfind(" trace=");
  ASSERT_NE(t, std::string::npos);
  EXPECT_EQ(line.size() - t, 7u + 16u) << line;
}

TEST(Swarm, OptionsAreDrawnFromTheSeed) {
  EXPECT_EQ(draw_options(9).describe(), draw_options(9).describe());
  EXPECT_EQ(draw_options(9).describe().rfind("seed=9 nodes=", 0), 0u);
  bool varied = false;
  for (uint64_t s = 1; s < 20; ++s) varied |= draw_options(s).nodes != draw_options(s + 1).nodes;
  EXPECT_TRUE(varied);
  for (uint64_t s = 1; s < 200; ++s) {
    const Options o = draw_options(s);
    EXPECT_GE(o.nodes, 3u);
    EXPECT_LE(o.nodes, 7u);
    EXPECT_LT(o.heartbeat_ticks, o.election_ticks);
  }
}

}  // namespace
}  // namespace rq::sim
