// ReadIndex and the leader's lease (Raft thesis §6.4, §6.4.1).
#include <gtest/gtest.h>

#include "tests/core/raft_test_cluster.h"

namespace rq::raft {
namespace {

using test::ClusterTest;
using test::Network;

// Keeps the ReadStates every node reports.
class ReadNetwork : public Network {
 public:
  std::map<uint64_t, std::vector<ReadState>> reads;

 protected:
  void on_ready(uint64_t id, const Ready& rd) override {
    for (const ReadState& r : rd.read_states) reads[id].push_back(r);
  }
};

class RaftRead : public ClusterTest<ReadNetwork> {
 protected:
  void SetUp() override {
    net.add_cluster(3);
    ASSERT_TRUE(net.elect(1));
  }
  size_t heartbeats_from(uint64_t id) const {
    size_t n = 0;
    for (const Message& m : net.queue) n += m.type == MessageType::kHeartbeat && m.from.v == id ? 1 : 0;
    return n;
  }
};

// §6.4: the leader records its commit index, confirms leadership with a heartbeat round a
// majority answers, and only then reports the read.
TEST_F(RaftRead, ReadIndex_ConfirmedByMajority_ReportsCommitIndex) {
  ASSERT_EQ(node(1).propose("x").status, ProposeStatus::kOk);
  net.take_all();
  net.stabilize();
  const LogIndex commit = node(1).log().committed();
  ASSERT_EQ(node(1).read_index(7), ReadIndexStatus::kPending);
  net.take_all();
  EXPECT_TRUE(net.reads[1].empty());  // not before the round is answered
  net.stabilize();
  ASSERT_EQ(net.reads[1].size(), 1u);
  EXPECT_EQ(net.reads[1][0].context, 7u);
  EXPECT_EQ(net.reads[1][0].index, commit);
}

// §6.4: only the leader answers; a follower says so.
TEST_F(RaftRead, ReadIndex_OnFollower_IsNotLeader) {
  EXPECT_EQ(node(2).read_index(1), ReadIndexStatus::kNotLeader);
}

// §6.4 step 1: a leader that has not committed an entry of its term yet does not know the
// cluster's commit index (Figure 8's old entries may be committed), so such reads go through the log.
TEST(RaftReadNoCommit, ReadIndex_BeforeFirstCommitInTerm_GoesThroughTheLog) {
  ReadNetwork net;
  net.add_cluster(3);
  net.drop = [](const Message& m) { return m.type == MessageType::kAppResp; };
  net.node(1).campaign();
  net.take_all();
  net.stabilize();
  ASSERT_EQ(net.node(1).role(), Role::kLeader);
  EXPECT_EQ(net.node(1).read_index(1), ReadIndexStatus::kNoCommitInTerm);
  test::check_invariants(net);
}

// A leader cut off from the others can never confirm a read: the read is never reported, and is
// dropped when check-quorum makes it step down.
TEST_F(RaftRead, ReadIndex_IsolatedLeader_NeverConfirms) {
  net.isolated.insert(1);
  ASSERT_EQ(node(1).read_index(3), ReadIndexStatus::kPending);
  for (int k = 0; k < 3 * test::kElectionTicks; ++k) net.tick(1);
  net.stabilize();
  EXPECT_TRUE(net.reads[1].empty());
  EXPECT_NE(node(1).role(), Role::kLeader);
}

// Reads asked for together share one heartbeat round.
TEST_F(RaftRead, ReadIndex_BatchedReadsShareOneRound) {
  net.queue.clear();
  for (uint64_t c = 1; c <= 5; ++c) ASSERT_EQ(node(1).read_index(c), ReadIndexStatus::kPending);
  net.take(1);
  EXPECT_EQ(heartbeats_from(1), 2u);  // one per follower
  net.stabilize();
  ASSERT_EQ(net.reads[1].size(), 5u);
  for (uint64_t c = 1; c <= 5; ++c) EXPECT_EQ(net.reads[1][c - 1].context, c);
}

// An answer to an older round (sent before the read was asked for) does not confirm the read:
// it says nothing about leadership after the read arrived.
TEST_F(RaftRead, ReadIndex_OlderRoundAnswer_DoesNotConfirm) {
  net.stabilize();
  net.tick(1);  // round R's heartbeats are queued, not delivered yet
  const std::deque<Message> round_r = net.queue;
  net.queue.clear();
  ASSERT_EQ(node(1).read_index(9), ReadIndexStatus::kPending);
  net.take(1);  // round R+1's heartbeats
  const std::deque<Message> round_r1 = net.queue;
  net.queue.clear();
  for (const Message& m : round_r) net.deliver(m);
  net.stabilize();  // the answers to round R arrive
  EXPECT_TRUE(net.reads[1].empty());
  for (const Message& m : round_r1) net.deliver(m);
  net.stabilize();
  ASSERT_EQ(net.reads[1].size(), 1u);
  EXPECT_EQ(net.reads[1][0].context, 9u);
}

// A single voter confirms its own reads at once.
TEST(RaftReadSingle, ReadIndex_SingleVoter_Immediate) {
  ReadNetwork net;
  net.add_cluster(1);
  ASSERT_TRUE(net.elect(1));
  ASSERT_EQ(net.node(1).read_index(4), ReadIndexStatus::kPending);
  net.take_all();
  ASSERT_EQ(net.reads[1].size(), 1u);
  EXPECT_TRUE(net.node(1).lease_valid());
}

// §6.4.1: the lease holds while a majority answered a round sent less than an election timeout
// (shortened for clock drift) ago.
TEST_F(RaftRead, Lease_HoldsAfterAMajorityAnswered) {
  net.tick(1);
  net.stabilize();
  EXPECT_TRUE(node(1).lease_valid());
  EXPECT_FALSE(node(2).lease_valid());
}

// §6.4.1: cut off, the lease ends before any follower could time out and vote (election_ticks
// on their clocks, drift allowed for), however long the leader keeps believing it leads.
TEST_F(RaftRead, Lease_ExpiresBeforeFollowersCouldElect) {
  net.tick(1);
  net.stabilize();
  net.isolated.insert(1);
  int valid_ticks = 0;
  for (int k = 0; k < test::kElectionTicks && node(1).role() == Role::kLeader; ++k) {
    net.tick(1);
    if (node(1).lease_valid()) ++valid_ticks;
  }
  // election 10 ticks, 2% drift either way: 10 * 0.98 / 1.02 = 9.6, minus a tick of slack.
  EXPECT_LT(valid_ticks, test::kElectionTicks - 1);
  EXPECT_FALSE(node(1).lease_valid());
}

// The lease counts from when the heartbeat left, not when its answer arrived (a late answer
// must not extend it: the follower's timer started when it got the heartbeat).
TEST_F(RaftRead, Lease_CountsFromTheHeartbeatNotItsAnswer) {
  net.stabilize();
  net.tick(1);  // round R leaves now
  net.take_all();
  std::deque<Message> held = net.queue;  // hold every heartbeat of round R
  net.queue.clear();
  net.isolated.insert(1);  // and nothing else gets through
  for (int k = 0; k < test::kElectionTicks - 2; ++k) net.tick(1);
  net.isolated.clear();
  net.queue.clear();
  // Only round R's heartbeats are delivered, and answered, now: late.
  for (const Message& m : held) net.deliver(m);
  while (net.deliver_first([](const Message& m) { return m.type == MessageType::kHeartbeatResp; })) {
  }
  EXPECT_FALSE(node(1).lease_valid());
}

// TimeoutNow makes its target campaign at once, lease or not, and it may arrive late: the leader
// that sent it serves no lease reads for the rest of its term, even once the transfer is dropped.
TEST_F(RaftRead, Lease_ForfeitedByLeadershipTransfer) {
  net.tick(1);
  net.stabilize();
  ASSERT_TRUE(node(1).lease_valid());
  net.drop = [](const Message& m) { return m.type == MessageType::kTimeoutNow; };
  ASSERT_TRUE(node(1).transfer_leadership(NodeId{2}));
  net.take_all();
  net.stabilize();
  EXPECT_FALSE(node(1).lease_valid());
  // The transfer is abandoned after an election timeout; heartbeats are answered all along.
  net.tick_and_stabilize(1, test::kElectionTicks + 1);
  net.drop = nullptr;
  net.tick_and_stabilize(1, 2);
  ASSERT_EQ(node(1).role(), Role::kLeader);
  EXPECT_FALSE(node(1).lease_valid());
  // The next leader (a new term) earns a lease of its own.
  ASSERT_TRUE(node(1).transfer_leadership(NodeId{3}));
  net.take_all();
  net.stabilize();
  ASSERT_EQ(node(3).role(), Role::kLeader);
  net.tick(3);
  net.stabilize();
  EXPECT_TRUE(node(3).lease_valid());
  EXPECT_FALSE(node(1).lease_valid());
}

// A node that just started ignores vote requests for an election timeout (it may have answered
// the current leader's heartbeat just before it went down), then votes normally.
TEST(RaftQuietStart, FreshNode_IgnoresVotesForAnElectionTimeout) {
  Network net;
  test::Opts o;
  o.quiet_after_start = true;
  Raft& r = net.add(2, 3, {}, {}, o);
  r.step(test::vote_req(MessageType::kVote, 1, 2, 5, 0, 0));
  net.take_all();
  EXPECT_EQ(r.term(), Term{0});
  EXPECT_TRUE(test::of(net.queue, MessageType::kVoteResp).empty());
  for (int k = 0; k < test::kElectionTicks; ++k) r.tick();
  net.take_all();
  net.queue.clear();
  r.step(test::vote_req(MessageType::kVote, 1, 2, 5, 0, 0));
  net.take_all();
  EXPECT_EQ(r.term(), Term{5});
  const auto resps = test::of(net.queue, MessageType::kVoteResp);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_FALSE(resps[0].reject);
}

}  // namespace
}  // namespace rq::raft
