#include "sim/event_queue.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace rq::sim {
namespace {

TEST(EventQueue, RunNext_OnEmptyQueue_ReturnsFalse) {
  EventQueue q;
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.run_next());
  EXPECT_EQ(q.now(), Duration(0));
  EXPECT_EQ(q.executed(), 0u);
}

TEST(EventQueue, Events_RunInTimeOrder) {
  EventQueue q;
  std::vector<int> order;
  q.at(30ms, [&] { order.push_back(3); });
  q.at(10ms, [&] { order.push_back(1); });
  q.at(20ms, [&] { order.push_back(2); });
  EXPECT_EQ(q.next_time(), 10ms);
  while (q.run_next()) {
  }
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(q.executed(), 3u);
  EXPECT_TRUE(q.empty());
}

TEST(EventQueue, Ties_BreakInInsertionOrder) {
  EventQueue q;
  std::vector<int> order;
  for (int k = 0; k < 50; ++k) q.at(5ms, [&order, k] { order.push_back(k); });
  while (q.run_next()) {
  }
  std::vector<int> want(50);
  for (int k = 0; k < 50; ++k) want[k] = k;
  EXPECT_EQ(order, want);
}

TEST(EventQueue, EventAddedForNowFromACallback_RunsAfterThoseAlreadyQueued) {
  EventQueue q;
  std::vector<std::string> order;
  q.at(1ms, [&] {
    order.push_back("first");
    q.at(q.now(), [&] { order.push_back("added"); });
  });
  q.at(1ms, [&] { order.push_back("second"); });
  while (q.run_next()) {
  }
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second", "added"}));
}

TEST(EventQueue, Now_AdvancesToEachEventsTime) {
  EventQueue q;
  std::vector<Duration> seen;
  q.at(7ms, [&] { seen.push_back(q.now()); });
  q.at(3ms, [&] { seen.push_back(q.now()); });
  ASSERT_TRUE(q.run_next());
  EXPECT_EQ(q.now(), 3ms);
  ASSERT_TRUE(q.run_next());
  EXPECT_EQ(q.now(), 7ms);
  EXPECT_EQ(seen, (std::vector<Duration>{3ms, 7ms}));
  EXPECT_FALSE(q.run_next());
  EXPECT_EQ(q.now(), 7ms);
}

TEST(EventQueue, After_IsRelativeToNow) {
  EventQueue q;
  Duration fired{-1};
  q.at(10ms, [&] { q.after(5ms, [&] { fired = q.now(); }); });
  q.after(2ms, [] {});
  EXPECT_EQ(q.next_time(), 2ms);
  while (q.run_next()) {
  }
  EXPECT_EQ(fired, 15ms);
}

TEST(EventQueue, AtInThePast_Asserts) {
  EventQueue q;
  q.at(10ms, [] {});
  ASSERT_TRUE(q.run_next());
  EXPECT_DEATH(q.at(9ms, [] {}), "");
}

// Any schedule runs sorted by time, equal times in the order they were added.
RC_GTEST_PROP(EventQueue, AnySchedule_RunsInTimeThenInsertionOrder,
              (const std::vector<uint8_t>& times)) {
  EventQueue q;
  std::vector<std::pair<Duration, size_t>> ran;
  for (size_t k = 0; k < times.size(); ++k) {
    const Duration t(times[k] % 16);
    q.at(t, [&ran, &q, k] { ran.emplace_back(q.now(), k); });
  }
  while (q.run_next()) {
  }
  std::vector<std::pair<Duration, size_t>> want;
  for (size_t k = 0; k < times.size(); ++k) want.emplace_back(Duration(times[k] % 16), k);
  std::sort(want.begin(), want.end());
  RC_ASSERT(ran == want);
  RC_ASSERT(q.executed() == times.size());
}

}  // namespace
}  // namespace rq::sim
