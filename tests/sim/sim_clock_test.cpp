#include "sim/sim_clock.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>
#include <vector>

#include "sim/event_queue.h"

namespace rq::sim {
namespace {

class SimClockTest : public ::testing::TestWithParam<int64_t> {
 protected:
  SimClock make_clock(int64_t drift_ppm) {
    return SimClock([this] { return q_.now(); },
                    [this](Duration at, std::function<void()> fn) { q_.at(at, std::move(fn)); },
                    drift_ppm);
  }
  void run_all() {
    while (q_.run_next()) {
    }
  }
  EventQueue q_;
};

TEST_P(SimClockTest, Timers_FireNoEarlierThanTheirLocalDeadline) {
  SimClock c = make_clock(GetParam());
  const std::vector<Duration> delays = {
      Duration(0), Duration(1),      Duration(7),         Duration(999), 1ms,
      3s,          Duration(12'345), Duration(1'000'001), 250ms,         Duration(49)};
  size_t fired = 0;
  for (Duration d : delays) {
    const Duration deadline = c.now() + d;
    c.schedule(d, [&, deadline] {
      EXPECT_GE(c.now(), deadline);
      EXPECT_LT(c.now() - deadline, 1us) << "fired late";
      ++fired;
    });
  }
  run_all();
  EXPECT_EQ(fired, delays.size());
}

TEST_P(SimClockTest, TimersScheduledFromTimers_FireNoEarlierThanDeadline) {
  SimClock c = make_clock(GetParam());
  int remaining = 200;
  uint64_t step = 1;
  std::function<void()> arm = [&] {
    step = step * 7 % 1'000'003;
    const Duration d(static_cast<int64_t>(step));
    const Duration deadline = c.now() + d;
    c.schedule(d, [&, deadline] {
      ASSERT_GE(c.now(), deadline);
      if (--remaining > 0) arm();
    });
  };
  q_.at(5ms, arm);
  run_all();
  EXPECT_EQ(remaining, 0);
}

INSTANTIATE_TEST_SUITE_P(Drift, SimClockTest, ::testing::Values(-20'000, 0, 20'000),
                         [](const auto& info) -> std::string {
                           return info.param < 0 ? "Slow" : info.param == 0 ? "Exact" : "Fast";
                         });

TEST(SimClock, Drift_SetsTheRateAgainstGlobalTime) {
  EventQueue q;
  auto post = [&q](Duration at, std::function<void()> fn) { q.at(at, std::move(fn)); };
  SimClock fast([&q] { return q.now(); }, post, 20'000);
  SimClock slow([&q] { return q.now(); }, post, -20'000);
  Duration fast_fired{}, slow_fired{};
  fast.schedule(1s, [&] { fast_fired = q.now(); });
  slow.schedule(1s, [&] { slow_fired = q.now(); });
  q.at(1s, [&] {
    EXPECT_EQ(fast.now(), 1020ms);
    EXPECT_EQ(slow.now(), 980ms);
  });
  while (q.run_next()) {
  }
  EXPECT_LT(fast_fired, 1s);
  EXPECT_GT(slow_fired, 1s);
}

TEST(SimClock, StartsAtGlobalTimeWhenCreated) {
  EventQueue q;
  q.at(7s, [] {});
  ASSERT_TRUE(q.run_next());
  SimClock c([&q] { return q.now(); },
             [&q](Duration at, std::function<void()> fn) { q.at(at, std::move(fn)); }, 20'000);
  EXPECT_EQ(c.now(), 7s);
  bool fired = false;
  c.schedule(1s, [&] {
    EXPECT_GE(c.now(), 8s);
    fired = true;
  });
  while (q.run_next()) {
  }
  EXPECT_TRUE(fired);
}

TEST_F(SimClockTest, Cancel_StopsThatTimerOnly) {
  SimClock c = make_clock(0);
  std::vector<std::string> fired;
  const TimerId a = c.schedule(10ms, [&] { fired.push_back("a"); });
  c.schedule(20ms, [&] { fired.push_back("b"); });
  c.cancel(a);
  run_all();
  EXPECT_EQ(fired, std::vector<std::string>{"b"});
}

TEST_F(SimClockTest, Cancel_AfterFireOrTwice_IsNoOp) {
  SimClock c = make_clock(0);
  int fired = 0;
  const TimerId a = c.schedule(1ms, [&] { ++fired; });
  run_all();
  c.cancel(a);
  c.cancel(a);
  const TimerId b = c.schedule(1ms, [&] { ++fired; });
  EXPECT_NE(a, b);
  run_all();
  EXPECT_EQ(fired, 2);
}

TEST_F(SimClockTest, Cancel_FromAnotherTimerAtTheSameInstant) {
  SimClock c = make_clock(0);
  bool second = false;
  TimerId b = 0;
  c.schedule(5ms, [&] { c.cancel(b); });
  b = c.schedule(5ms, [&] { second = true; });
  run_all();
  EXPECT_FALSE(second);
}

TEST_F(SimClockTest, Jump_MovesNowForwardAndFiresPendingTimersEarlier) {
  SimClock c = make_clock(0);
  Duration fired_at{-1};
  c.schedule(10s, [&] {
    fired_at = q_.now();
    EXPECT_GE(c.now(), 10s);
  });
  q_.at(1s, [&] {
    c.jump(5s);
    EXPECT_EQ(c.now(), 6s);
  });
  run_all();
  EXPECT_EQ(fired_at, 5s);
}

TEST_F(SimClockTest, Jump_PastDeadline_FiresAtOnce) {
  SimClock c = make_clock(-20'000);
  Duration fired_at{-1};
  c.schedule(2s, [&] { fired_at = q_.now(); });
  q_.at(1s, [&] { c.jump(3600s); });
  run_all();
  EXPECT_EQ(fired_at, 1s);
}

TEST_F(SimClockTest, Jump_ZeroChangesNothing) {
  SimClock c = make_clock(20'000);
  Duration fired_at{-1};
  c.schedule(1s, [&] { fired_at = q_.now(); });
  SimClock reference = make_clock(20'000);
  Duration reference_at{-1};
  reference.schedule(1s, [&] { reference_at = q_.now(); });
  q_.at(100ms, [&] { c.jump(Duration(0)); });
  run_all();
  EXPECT_EQ(fired_at, reference_at);
}

TEST_F(SimClockTest, ClearTimers_DropsEveryPendingTimer) {
  SimClock c = make_clock(0);
  int fired = 0;
  c.schedule(1ms, [&] { ++fired; });
  c.schedule(2ms, [&] { ++fired; });
  c.clear_timers();
  run_all();
  EXPECT_EQ(fired, 0);
}

// Random drift, timers and jumps: every timer fires once, never before its local deadline, and
// local time never goes back.
RC_GTEST_PROP(SimClock, TimersAndJumps_DeadlinesHoldAndTimeIsMonotonic, ()) {
  EventQueue q;
  const int64_t drift = *rc::gen::inRange<int64_t>(-20'000, 20'001);
  SimClock c([&q] { return q.now(); },
             [&q](Duration at, std::function<void()> fn) { q.at(at, std::move(fn)); }, drift);
  Duration last_seen = c.now();
  bool monotonic = true;
  auto observe = [&] {
    const Duration n = c.now();
    if (n < last_seen) monotonic = false;
    last_seen = n;
  };
  const auto delays =
      *rc::gen::container<std::vector<uint32_t>>(rc::gen::inRange<uint32_t>(0, 10'000'000));
  const auto jumps = *rc::gen::container<std::vector<std::pair<uint32_t, uint32_t>>>(rc::gen::pair(
      rc::gen::inRange<uint32_t>(0, 10'000'000), rc::gen::inRange<uint32_t>(0, 5'000'000)));
  size_t fired = 0;
  bool early = false;
  for (uint32_t d : delays) {
    const Duration deadline = c.now() + Duration(d);
    c.schedule(Duration(d), [&, deadline] {
      observe();
      if (c.now() < deadline) early = true;
      ++fired;
    });
  }
  for (const auto& [when, by] : jumps) {
    q.at(Duration(when), [&, by] {
      observe();
      c.jump(Duration(by));
      observe();
    });
  }
  while (q.run_next()) observe();
  RC_ASSERT(fired == delays.size());
  RC_ASSERT(!early);
  RC_ASSERT(monotonic);
}

}  // namespace
}  // namespace rq::sim
