#include "core/raft/progress.h"

#include <gtest/gtest.h>

#include <ostream>

namespace rq {
template <class Tag>
static void PrintTo(const Counter<Tag>& c, std::ostream* os) {
  *os << c.v;
}
}  // namespace rq

namespace rq::raft {
namespace {

// ---- Inflights ---------------------------------------------------------------------------

TEST(Inflights, Add_FullAtCapacity) {
  Inflights in(3);
  EXPECT_EQ(in.count(), 0u);
  EXPECT_FALSE(in.full());
  in.add(LogIndex{1});
  in.add(LogIndex{2});
  EXPECT_FALSE(in.full());
  in.add(LogIndex{3});
  EXPECT_TRUE(in.full());
  EXPECT_EQ(in.count(), 3u);
}

TEST(InflightsDeathTest, Add_WhenFullAborts) {
  Inflights in(1);
  in.add(LogIndex{1});
  EXPECT_DEATH(in.add(LogIndex{2}), "assertion failed");
}

TEST(Inflights, FreeLe_FreesOnlyAcknowledgedPrefix) {
  Inflights in(5);
  for (uint64_t last : {2, 4, 6, 8}) in.add(LogIndex{last});
  in.free_le(LogIndex{1});
  EXPECT_EQ(in.count(), 4u);
  in.free_le(LogIndex{5});
  EXPECT_EQ(in.count(), 2u);
  in.free_le(LogIndex{6});
  EXPECT_EQ(in.count(), 1u);
  in.free_le(LogIndex{100});
  EXPECT_EQ(in.count(), 0u);
  in.free_le(LogIndex{100});
  EXPECT_EQ(in.count(), 0u);
}

TEST(Inflights, Wraparound_KeepsFifoOrder) {
  Inflights in(4);
  for (uint64_t last = 1; last <= 4; ++last) in.add(LogIndex{last});
  in.free_le(LogIndex{2});
  EXPECT_EQ(in.count(), 2u);
  // These two land at the front of the buffer, behind 3 and 4.
  in.add(LogIndex{5});
  in.add(LogIndex{6});
  EXPECT_TRUE(in.full());

  in.free_le(LogIndex{4});
  EXPECT_EQ(in.count(), 2u);
  EXPECT_FALSE(in.full());
  in.add(LogIndex{7});
  in.add(LogIndex{8});
  EXPECT_TRUE(in.full());

  in.free_le(LogIndex{6});
  EXPECT_EQ(in.count(), 2u);
  in.free_le(LogIndex{7});
  EXPECT_EQ(in.count(), 1u);
  in.free_le(LogIndex{8});
  EXPECT_EQ(in.count(), 0u);
}

TEST(Inflights, Wraparound_ManyRounds) {
  Inflights in(3);
  uint64_t sent = 0, acked = 0;
  for (int round = 0; round < 20; ++round) {
    while (!in.full()) in.add(LogIndex{++sent});
    EXPECT_EQ(in.count(), 3u);
    acked += 2;
    in.free_le(LogIndex{acked});
    ASSERT_EQ(in.count(), sent - acked) << "round " << round;
  }
}

TEST(Inflights, FreeFirstOne_FreesExactlyOne) {
  Inflights in(3);
  in.free_first_one();
  EXPECT_EQ(in.count(), 0u);
  in.add(LogIndex{10});
  in.add(LogIndex{20});
  in.add(LogIndex{30});
  in.free_first_one();
  EXPECT_EQ(in.count(), 2u);
  EXPECT_FALSE(in.full());
  // 10 is gone: acknowledging 15 frees nothing more.
  in.free_le(LogIndex{15});
  EXPECT_EQ(in.count(), 2u);
  in.free_le(LogIndex{20});
  EXPECT_EQ(in.count(), 1u);
}

TEST(Inflights, Reset_EmptiesTheWindow) {
  Inflights in(2);
  in.add(LogIndex{1});
  in.free_le(LogIndex{1});
  in.add(LogIndex{2});
  in.add(LogIndex{3});
  ASSERT_TRUE(in.full());
  in.reset();
  EXPECT_EQ(in.count(), 0u);
  EXPECT_FALSE(in.full());
  in.add(LogIndex{4});
  in.add(LogIndex{5});
  EXPECT_TRUE(in.full());
  in.free_le(LogIndex{4});
  EXPECT_EQ(in.count(), 1u);
}

// ---- Progress ----------------------------------------------------------------------------

TEST(Progress, MaybeUpdate_AdvancesMatchAndNext) {
  Progress pr(LogIndex{5}, 4);
  EXPECT_TRUE(pr.maybe_update(LogIndex{3}));
  EXPECT_EQ(pr.match, LogIndex{3});
  EXPECT_EQ(pr.next, LogIndex{5});

  EXPECT_TRUE(pr.maybe_update(LogIndex{7}));
  EXPECT_EQ(pr.match, LogIndex{7});
  EXPECT_EQ(pr.next, LogIndex{8});
}

TEST(Progress, MaybeUpdate_StaleAckIgnored) {
  Progress pr(LogIndex{5}, 4);
  ASSERT_TRUE(pr.maybe_update(LogIndex{4}));
  EXPECT_FALSE(pr.maybe_update(LogIndex{4}));
  EXPECT_FALSE(pr.maybe_update(LogIndex{2}));
  EXPECT_EQ(pr.match, LogIndex{4});
  EXPECT_EQ(pr.next, LogIndex{5});
}

TEST(Progress, MaybeUpdate_UnpausesProbe) {
  Progress pr(LogIndex{5}, 4);
  pr.sent_append(LogIndex{5}, true);
  ASSERT_TRUE(pr.is_paused());
  EXPECT_TRUE(pr.maybe_update(LogIndex{5}));
  EXPECT_FALSE(pr.is_paused());
}

TEST(Progress, MaybeDecrTo_Probe_OnlyRejectionOfLastSentCounts) {
  Progress pr(LogIndex{10}, 4);
  pr.sent_append(LogIndex{9}, false);
  // A rejection of some earlier probe (prevLogIndex 5) while the one at 9 is outstanding.
  EXPECT_FALSE(pr.maybe_decr_to(LogIndex{5}, LogIndex{3}));
  EXPECT_EQ(pr.next, LogIndex{10});
  EXPECT_TRUE(pr.is_paused());

  EXPECT_TRUE(pr.maybe_decr_to(LogIndex{9}, LogIndex{3}));
  EXPECT_EQ(pr.next, LogIndex{4});
  EXPECT_FALSE(pr.is_paused());
}

TEST(Progress, MaybeDecrTo_Probe_NextIsMaxOfMinRejectedHintAndMatchPlusOne) {
  struct Case {
    uint64_t match, next, rejected, hint, want_next;
  };
  const Case cases[] = {
      {0, 10, 9, 3, 4},   // hint + 1
      {0, 10, 9, 20, 9},  // hint past rejected: rejected
      {0, 10, 9, 0, 1},   // hint 0: probe from the start
      {5, 10, 9, 2, 6},   // never below match + 1
      {5, 10, 9, 8, 9},   // hint + 1 == rejected
      {0, 1, 0, 0, 1},    // rejected 0: stays at 1
  };
  for (const Case& c : cases) {
    Progress pr(LogIndex{c.next}, 4);
    pr.match = LogIndex{c.match};
    ASSERT_TRUE(pr.maybe_decr_to(LogIndex{c.rejected}, LogIndex{c.hint}))
        << "match=" << c.match << " rejected=" << c.rejected;
    EXPECT_EQ(pr.next, LogIndex{c.want_next})
        << "match=" << c.match << " rejected=" << c.rejected << " hint=" << c.hint;
    EXPECT_EQ(pr.match, LogIndex{c.match});
  }
}

TEST(Progress, MaybeDecrTo_Replicate_StaleRejectionIgnored) {
  Progress pr(LogIndex{6}, 4);
  pr.match = LogIndex{5};
  pr.become_replicate();
  pr.sent_append(LogIndex{8}, true);
  pr.sent_append(LogIndex{10}, true);
  ASSERT_EQ(pr.next, LogIndex{11});

  EXPECT_FALSE(pr.maybe_decr_to(LogIndex{5}, LogIndex{0}));
  EXPECT_FALSE(pr.maybe_decr_to(LogIndex{3}, LogIndex{0}));
  EXPECT_EQ(pr.next, LogIndex{11});
  EXPECT_EQ(pr.inflights.count(), 2u);

  EXPECT_TRUE(pr.maybe_decr_to(LogIndex{8}, LogIndex{2}));
  EXPECT_EQ(pr.next, LogIndex{6});
  EXPECT_EQ(pr.match, LogIndex{5});
}

TEST(Progress, BecomeProbeAndReplicate_RestartFromMatch) {
  Progress pr(LogIndex{3}, 2);
  pr.match = LogIndex{2};
  pr.become_replicate();
  EXPECT_EQ(pr.state, ProgressState::kReplicate);
  EXPECT_EQ(pr.next, LogIndex{3});
  pr.sent_append(LogIndex{5}, true);
  pr.sent_append(LogIndex{7}, true);
  ASSERT_TRUE(pr.is_paused());

  pr.become_probe();
  EXPECT_EQ(pr.state, ProgressState::kProbe);
  EXPECT_EQ(pr.next, LogIndex{3});
  EXPECT_EQ(pr.inflights.count(), 0u);
  EXPECT_FALSE(pr.is_paused());
}

TEST(Progress, IsPaused_ProbeWaitsForOneMessage) {
  Progress pr(LogIndex{4}, 2);
  EXPECT_FALSE(pr.is_paused());
  pr.sent_append(LogIndex{3}, false);
  EXPECT_TRUE(pr.is_paused());
  EXPECT_EQ(pr.next, LogIndex{4});
  EXPECT_EQ(pr.inflights.count(), 0u);
}

TEST(Progress, IsPaused_ReplicateWhenInflightsFull) {
  Progress pr(LogIndex{1}, 2);
  pr.become_replicate();
  EXPECT_FALSE(pr.is_paused());
  pr.sent_append(LogIndex{0}, false);
  EXPECT_FALSE(pr.is_paused());
  EXPECT_EQ(pr.inflights.count(), 0u);
  pr.sent_append(LogIndex{3}, true);
  EXPECT_FALSE(pr.is_paused());
  pr.sent_append(LogIndex{5}, true);
  EXPECT_TRUE(pr.is_paused());

  ASSERT_TRUE(pr.maybe_update(LogIndex{3}));
  pr.inflights.free_le(LogIndex{3});
  EXPECT_FALSE(pr.is_paused());
}

TEST(Progress, SentAppend_ReplicateAdvancesNextOptimistically) {
  Progress pr(LogIndex{1}, 8);
  pr.become_replicate();
  pr.sent_append(LogIndex{4}, true);
  EXPECT_EQ(pr.next, LogIndex{5});
  EXPECT_EQ(pr.match, LogIndex{0});
  EXPECT_EQ(pr.inflights.count(), 1u);
  pr.sent_append(LogIndex{4}, false);
  EXPECT_EQ(pr.next, LogIndex{5});
  EXPECT_EQ(pr.inflights.count(), 1u);
}

TEST(Progress, SentAppend_ProbeDoesNotMoveNext) {
  Progress pr(LogIndex{3}, 8);
  pr.sent_append(LogIndex{6}, true);
  EXPECT_EQ(pr.next, LogIndex{3});
  EXPECT_EQ(pr.inflights.count(), 0u);
  EXPECT_TRUE(pr.probe_sent);
}

}  // namespace
}  // namespace rq::raft
