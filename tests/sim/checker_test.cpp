// Every checker must be able to fail: each test feeds it a history that breaks one invariant.
#include "sim/checker.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>

namespace rq::sim {
namespace {

using raft::Entry;
using raft::EntryType;
using raft::HardState;

Entry E(uint64_t index, uint64_t term, std::string data) {
  return Entry{Term(term), LogIndex(index), EntryType::kNormal, std::move(data)};
}

class CheckerTest : public ::testing::Test {
 protected:
  CheckerTest()
      : checker_(
            [this](NodeId id) -> const raft::Raft* {
              auto it = rafts_.find(id.v);
              return it == rafts_.end() ? nullptr : it->second.get();
            },
            [] { return Duration{0}; }) {}

  // A follower Raft holding `log`, as node `id` in a 3-node cluster.
  void set_raft(uint64_t id, std::vector<Entry> log, uint64_t term) {
    raft::RaftConfig cfg;
    cfg.id = NodeId(id);
    cfg.voters = {NodeId(1), NodeId(2), NodeId(3)};
    rafts_[id] = std::make_unique<raft::Raft>(cfg, Prng(id), HardState{Term(term), kNoNode, LogIndex(0)},
                                              std::move(log), LogIndex(0));
  }

  std::map<uint64_t, std::unique_ptr<raft::Raft>> rafts_;
  Checker checker_;
};

TEST_F(CheckerTest, ElectionSafety_TwoLeadersInOneTerm_Fails) {
  checker_.on_leader(NodeId(1), Term(3));
  EXPECT_FALSE(checker_.failed());
  checker_.on_leader(NodeId(1), Term(3));
  EXPECT_FALSE(checker_.failed());
  checker_.on_leader(NodeId(2), Term(3));
  ASSERT_TRUE(checker_.failed());
  EXPECT_EQ(checker_.violation()->reason, "election-safety");
}

TEST_F(CheckerTest, StateMachineSafety_DifferentEntryAtOneIndex_Fails) {
  set_raft(1, {}, 1);
  set_raft(2, {}, 1);
  checker_.on_applied(NodeId(1), E(1, 1, "a"));
  checker_.on_applied(NodeId(2), E(1, 1, "a"));
  EXPECT_FALSE(checker_.failed());
  checker_.on_applied(NodeId(2), E(2, 1, "b"));
  checker_.on_applied(NodeId(1), E(2, 2, "c"));
  ASSERT_TRUE(checker_.failed());
  EXPECT_EQ(checker_.violation()->reason, "state-machine-safety");
}

TEST_F(CheckerTest, ApplyOrder_Gap_Fails) {
  checker_.on_applied(NodeId(1), E(1, 1, "a"));
  checker_.on_applied(NodeId(1), E(3, 1, "c"));
  ASSERT_TRUE(checker_.failed());
  EXPECT_EQ(checker_.violation()->reason, "apply-order");
}

TEST_F(CheckerTest, ApplyOrder_ReapplyAfterRestart_Passes) {
  checker_.on_applied(NodeId(1), E(1, 1, "a"));
  checker_.on_applied(NodeId(1), E(2, 1, "b"));
  checker_.on_crash(NodeId(1));
  checker_.on_applied(NodeId(1), E(1, 1, "a"));
  EXPECT_FALSE(checker_.failed());
}

TEST_F(CheckerTest, LogMatching_SameIndexAndTermDifferentData_Fails) {
  checker_.on_persisted(NodeId(1), {E(1, 1, "a"), E(2, 1, "b")}, Term(0));
  checker_.on_persisted(NodeId(2), {E(1, 1, "a")}, Term(0));
  EXPECT_FALSE(checker_.failed());
  checker_.on_persisted(NodeId(3), {E(1, 1, "a"), E(2, 1, "x")}, Term(0));
  ASSERT_TRUE(checker_.failed());
  EXPECT_EQ(checker_.violation()->reason, "log-matching");
}

TEST_F(CheckerTest, LogMatching_SameEntryDifferentPredecessor_Fails) {
  checker_.on_persisted(NodeId(1), {E(5, 3, "a")}, Term(2));
  checker_.on_persisted(NodeId(2), {E(5, 3, "a")}, Term(1));
  ASSERT_TRUE(checker_.failed());
  EXPECT_EQ(checker_.violation()->reason, "log-matching");
}

TEST_F(CheckerTest, LeaderCompleteness_LeaderLacksCommittedEntry_Fails) {
  set_raft(1, {E(1, 1, "a"), E(2, 1, "b")}, 2);
  checker_.on_applied(NodeId(1), E(1, 1, "a"));
  checker_.on_applied(NodeId(1), E(2, 1, "b"));
  set_raft(2, {E(1, 1, "a")}, 3);
  checker_.on_leader(NodeId(2), Term(3));
  ASSERT_TRUE(checker_.failed());
  EXPECT_EQ(checker_.violation()->reason, "leader-completeness");
}

TEST_F(CheckerTest, LeaderCompleteness_EntryCommittedInLaterTerm_NotRequired) {
  set_raft(1, {E(1, 1, "a"), E(2, 5, "b")}, 5);
  checker_.on_applied(NodeId(1), E(1, 1, "a"));
  checker_.on_applied(NodeId(1), E(2, 5, "b"));
  // A leader of an older term (a candidate that was paused) need not hold what term 5 committed.
  set_raft(2, {E(1, 1, "a")}, 4);
  checker_.on_leader(NodeId(2), Term(4));
  EXPECT_FALSE(checker_.failed());
}

TEST_F(CheckerTest, HardState_TermGoesBackAfterRestart_Fails) {
  checker_.on_departed(NodeId(1), HardState{Term(5), kNoNode, LogIndex(0)});
  checker_.on_recovered(NodeId(1), HardState{Term(4), kNoNode, LogIndex(0)}, {});
  ASSERT_TRUE(checker_.failed());
  EXPECT_EQ(checker_.violation()->reason, "hard-state-regressed");
}

TEST_F(CheckerTest, HardState_VoteForgottenAfterRestart_Fails) {
  checker_.on_departed(NodeId(1), HardState{Term(5), NodeId(2), LogIndex(0)});
  checker_.on_recovered(NodeId(1), HardState{Term(5), kNoNode, LogIndex(0)}, {});
  ASSERT_TRUE(checker_.failed());
  EXPECT_EQ(checker_.violation()->reason, "hard-state-regressed");
}

TEST_F(CheckerTest, HardState_LaterTermAfterRestart_Passes) {
  checker_.on_departed(NodeId(1), HardState{Term(5), NodeId(2), LogIndex(0)});
  checker_.on_recovered(NodeId(1), HardState{Term(5), NodeId(2), LogIndex(0)}, {});
  checker_.on_recovered(NodeId(1), HardState{Term(6), kNoNode, LogIndex(0)}, {});
  EXPECT_FALSE(checker_.failed());
}

// Seeds 11350 and 18224 before the fix: a write torn between a newer leader's entries and the hard
// state carrying its term left the node in term 28 holding an entry of term 29.
TEST_F(CheckerTest, TermBehindLog_RestartInATermOlderThanTheLastEntry_Fails) {
  checker_.on_recovered(NodeId(2), HardState{Term(28), kNoNode, LogIndex(0)}, {E(1, 28, "a"), E(2, 29, "")});
  ASSERT_TRUE(checker_.failed());
  EXPECT_EQ(checker_.violation()->reason, "term-behind-log");
}

TEST_F(CheckerTest, TermBehindLog_RestartInATermOlderThanTheSnapshot_Fails) {
  checker_.on_recovered(NodeId(2), HardState{Term(3), kNoNode, LogIndex(0)}, {}, LogIndex(10), Term(4));
  ASSERT_TRUE(checker_.failed());
  EXPECT_EQ(checker_.violation()->reason, "term-behind-log");
}

TEST_F(CheckerTest, TermBehindLog_RestartInTheLastEntrysTerm_Passes) {
  checker_.on_recovered(NodeId(2), HardState{Term(29), kNoNode, LogIndex(0)}, {E(1, 28, "a"), E(2, 29, "")},
                        LogIndex(0), Term(0));
  checker_.on_recovered(NodeId(3), HardState{Term(5), kNoNode, LogIndex(0)}, {}, LogIndex(10), Term(4));
  EXPECT_FALSE(checker_.failed());
}

TEST_F(CheckerTest, TermBehindLog_PersistingAnEntryOfANewerTerm_Fails) {
  set_raft(2, {}, 3);
  checker_.on_persisted(NodeId(2), {E(1, 3, "a")}, Term(0));
  EXPECT_FALSE(checker_.failed());
  checker_.on_persisted(NodeId(2), {E(2, 4, "b")}, Term(3));
  ASSERT_TRUE(checker_.failed());
  EXPECT_EQ(checker_.violation()->reason, "term-behind-log");
}

TEST_F(CheckerTest, AckRetracted_RestartWithoutAcknowledgedEntry_Fails) {
  checker_.on_ack_departed(NodeId(2), Term(3), LogIndex(2), Term(3));
  checker_.on_recovered(NodeId(2), HardState{Term(3), NodeId(1), LogIndex(0)}, {E(1, 1, "a")});
  ASSERT_TRUE(checker_.failed());
  EXPECT_EQ(checker_.violation()->reason, "ack-retracted");
}

TEST_F(CheckerTest, AckRetracted_NewerTermMayReplace_Passes) {
  checker_.on_ack_departed(NodeId(2), Term(3), LogIndex(2), Term(3));
  checker_.on_recovered(NodeId(2), HardState{Term(4), kNoNode, LogIndex(0)}, {E(1, 1, "a")});
  EXPECT_FALSE(checker_.failed());
}

TEST_F(CheckerTest, AckRetracted_TruncatedInSameTerm_Fails) {
  set_raft(2, {E(1, 1, "a")}, 3);
  checker_.on_ack_departed(NodeId(2), Term(3), LogIndex(2), Term(3));
  checker_.on_persisted(NodeId(2), {E(1, 1, "a")}, Term(0));
  ASSERT_TRUE(checker_.failed());
  EXPECT_EQ(checker_.violation()->reason, "ack-retracted");
}

TEST_F(CheckerTest, Acknowledged_NeverApplied_Fails) {
  checker_.on_acknowledged(LogIndex(1), Term(1), "a");
  ASSERT_TRUE(checker_.failed());
  EXPECT_EQ(checker_.violation()->reason, "lost-acknowledged-write");
}

TEST_F(CheckerTest, Acknowledged_MissingAtTheEnd_Fails) {
  set_raft(1, {E(1, 1, "a")}, 1);
  checker_.on_applied(NodeId(1), E(1, 1, "a"));
  checker_.on_acknowledged(LogIndex(1), Term(1), "a");
  checker_.check_acknowledged_present(NodeId(1));
  EXPECT_FALSE(checker_.failed());
  set_raft(3, {E(1, 2, "z")}, 2);
  checker_.check_acknowledged_present(NodeId(3));
  ASSERT_TRUE(checker_.failed());
  EXPECT_EQ(checker_.violation()->reason, "lost-acknowledged-write");
}

TEST_F(CheckerTest, FirstViolationIsKept) {
  checker_.on_leader(NodeId(1), Term(1));
  checker_.on_leader(NodeId(2), Term(1));
  checker_.on_applied(NodeId(1), E(3, 1, "x"));
  EXPECT_EQ(checker_.violation()->reason, "election-safety");
}

}  // namespace
}  // namespace rq::sim
