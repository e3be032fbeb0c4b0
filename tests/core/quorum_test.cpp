#include "core/raft/quorum.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <ostream>
#include <set>

namespace rq {
template <class Tag>
static void PrintTo(const Counter<Tag>& c, std::ostream* os) {
  *os << c.v;
}
}  // namespace rq

namespace rq::raft {
namespace {

std::vector<NodeId> ids(std::initializer_list<uint64_t> vs) {
  std::vector<NodeId> out;
  for (uint64_t v : vs) out.push_back(NodeId{v});
  return out;
}

// The largest x that at least a majority of voters have acknowledged, by trying every candidate.
uint64_t brute_force_majority_index(const std::vector<NodeId>& voters,
                                    const std::map<NodeId, LogIndex>& acked) {
  std::vector<uint64_t> have;
  for (NodeId v : voters) {
    auto it = acked.find(v);
    have.push_back(it == acked.end() ? 0 : it->second.v);
  }
  uint64_t best = 0;
  for (uint64_t x : have) {
    const size_t holders =
        std::count_if(have.begin(), have.end(), [&](uint64_t h) { return h >= x; });
    if (holders * 2 > voters.size()) best = std::max(best, x);
  }
  return best;
}

TEST(Quorum, MajorityOf) {
  EXPECT_EQ(majority_of(1), 1u);
  EXPECT_EQ(majority_of(2), 2u);
  EXPECT_EQ(majority_of(3), 2u);
  EXPECT_EQ(majority_of(4), 3u);
  EXPECT_EQ(majority_of(5), 3u);
  EXPECT_EQ(majority_of(7), 4u);
}

TEST(Quorum, MajorityIndex_Examples) {
  EXPECT_EQ(majority_index({}, {}), LogIndex{0});
  EXPECT_EQ(majority_index(ids({1}), {{NodeId{1}, LogIndex{7}}}), LogIndex{7});
  EXPECT_EQ(majority_index(ids({1, 2}), {{NodeId{1}, LogIndex{7}}, {NodeId{2}, LogIndex{5}}}),
            LogIndex{5});
  EXPECT_EQ(majority_index(ids({1, 2, 3}), {{NodeId{1}, LogIndex{5}}, {NodeId{2}, LogIndex{3}}}),
            LogIndex{3});
  EXPECT_EQ(majority_index(ids({1, 2, 3, 4, 5}), {{NodeId{1}, LogIndex{9}},
                                                  {NodeId{2}, LogIndex{1}},
                                                  {NodeId{3}, LogIndex{4}},
                                                  {NodeId{4}, LogIndex{8}},
                                                  {NodeId{5}, LogIndex{2}}}),
            LogIndex{4});
}

TEST(Quorum, MajorityIndex_MissingVotersCountAsZero) {
  EXPECT_EQ(majority_index(ids({1, 2, 3}), {{NodeId{1}, LogIndex{5}}}), LogIndex{0});
  EXPECT_EQ(majority_index(ids({1, 2, 3, 4}), {{NodeId{1}, LogIndex{5}}, {NodeId{2}, LogIndex{6}}}),
            LogIndex{0});
}

TEST(Quorum, MajorityIndex_NonVotersIgnored) {
  EXPECT_EQ(majority_index(
                ids({1, 2, 3}),
                {{NodeId{1}, LogIndex{5}}, {NodeId{8}, LogIndex{9}}, {NodeId{9}, LogIndex{9}}}),
            LogIndex{0});
}

RC_GTEST_PROP(Quorum, MajorityIndex_AgreesWithBruteForce, ()) {
  const auto n = *rc::gen::inRange<size_t>(1, 8);
  std::set<uint64_t> picked;
  while (picked.size() < n) picked.insert(*rc::gen::inRange<uint64_t>(1, 11));
  std::vector<NodeId> voters;
  for (uint64_t v : picked) voters.push_back(NodeId{v});
  // Acks for some of the voters and for some non-voters (ids 1..12; 11 and 12 never vote).
  std::map<NodeId, LogIndex> acked;
  for (uint64_t id = 1; id <= 12; ++id) {
    if (*rc::gen::inRange(0, 4) == 0) continue;
    acked[NodeId{id}] = LogIndex{*rc::gen::inRange<uint64_t>(0, 20)};
  }
  std::vector<NodeId> shuffled = voters;
  std::reverse(shuffled.begin(), shuffled.end());
  const LogIndex got = majority_index(voters, acked);
  RC_ASSERT(got.v == brute_force_majority_index(voters, acked));
  RC_ASSERT(majority_index(shuffled, acked) == got);

  std::vector<LogIndex> flat;
  for (NodeId v : voters) flat.push_back(acked.count(v) ? acked.at(v) : LogIndex{0});
  RC_ASSERT(majority_index(flat) == got);
}

TEST(Quorum, MajorityIndex_FlatAcks) {
  std::vector<LogIndex> none;
  EXPECT_EQ(majority_index(none), LogIndex{0});
  std::vector<LogIndex> acks{LogIndex{9}, LogIndex{1}, LogIndex{4}, LogIndex{8}, LogIndex{2}};
  EXPECT_EQ(majority_index(acks), LogIndex{4});
  std::vector<LogIndex> four{LogIndex{3}, LogIndex{7}, LogIndex{0}, LogIndex{5}};
  EXPECT_EQ(majority_index(four), LogIndex{3});
}

TEST(Quorum, TallyVotes_ThreeVoters) {
  const auto v = ids({1, 2, 3});
  const NodeId a{1}, b{2}, c{3};
  EXPECT_EQ(tally_votes(v, {}), VoteResult::kPending);
  EXPECT_EQ(tally_votes(v, {{a, true}}), VoteResult::kPending);
  EXPECT_EQ(tally_votes(v, {{a, true}, {b, false}}), VoteResult::kPending);
  EXPECT_EQ(tally_votes(v, {{a, true}, {b, true}}), VoteResult::kWon);
  EXPECT_EQ(tally_votes(v, {{a, true}, {b, false}, {c, false}}), VoteResult::kLost);
  EXPECT_EQ(tally_votes(v, {{a, false}, {b, false}}), VoteResult::kLost);
  EXPECT_EQ(tally_votes(v, {{a, true}, {b, false}, {c, true}}), VoteResult::kWon);
}

TEST(Quorum, TallyVotes_EvenSplitLoses) {
  const auto v = ids({1, 2, 3, 4});
  EXPECT_EQ(tally_votes(v, {{NodeId{1}, true}, {NodeId{2}, true}}), VoteResult::kPending);
  EXPECT_EQ(tally_votes(v, {{NodeId{1}, true}, {NodeId{2}, true}, {NodeId{3}, false}}),
            VoteResult::kPending);
  EXPECT_EQ(tally_votes(
                v, {{NodeId{1}, true}, {NodeId{2}, true}, {NodeId{3}, false}, {NodeId{4}, false}}),
            VoteResult::kLost);
}

TEST(Quorum, TallyVotes_SingleVoter) {
  EXPECT_EQ(tally_votes(ids({1}), {{NodeId{1}, true}}), VoteResult::kWon);
  EXPECT_EQ(tally_votes(ids({1}), {{NodeId{1}, false}}), VoteResult::kLost);
  EXPECT_EQ(tally_votes(ids({1}), {}), VoteResult::kPending);
}

TEST(Quorum, TallyVotes_NonVotersIgnored) {
  EXPECT_EQ(tally_votes(ids({1, 2, 3}), {{NodeId{1}, true}, {NodeId{7}, true}, {NodeId{8}, true}}),
            VoteResult::kPending);
  EXPECT_EQ(
      tally_votes(ids({1, 2, 3}), {{NodeId{1}, true}, {NodeId{7}, false}, {NodeId{8}, false}}),
      VoteResult::kPending);
}

RC_GTEST_PROP(Quorum, TallyVotes_AgreesWithCounting, ()) {
  const auto n = *rc::gen::inRange<uint64_t>(1, 8);
  std::vector<NodeId> voters;
  for (uint64_t id = 1; id <= n; ++id) voters.push_back(NodeId{id});
  std::map<NodeId, bool> votes;
  size_t yes = 0, no = 0;
  for (uint64_t id = 1; id <= n + 2; ++id) {
    const int choice = *rc::gen::inRange(0, 3);
    if (choice == 2) continue;
    votes[NodeId{id}] = choice == 1;
    if (id <= n) (choice == 1 ? yes : no)++;
  }
  const size_t unknown = n - yes - no;
  const VoteResult want = yes * 2 > n                ? VoteResult::kWon
                          : (yes + unknown) * 2 <= n ? VoteResult::kLost
                                                     : VoteResult::kPending;
  RC_ASSERT(tally_votes(voters, votes) == want);
}

}  // namespace
}  // namespace rq::raft
