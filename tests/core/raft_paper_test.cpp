// Each test encodes one rule of the Raft paper (Ongaro & Ousterhout 2014) or of the thesis (Ongaro
// 2014), driving rq::raft::Raft directly: step/tick/propose/campaign in, Ready out, advance back.
#include "core/raft/raft.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "tests/core/raft_test_cluster.h"

namespace rq::raft {
namespace {

using namespace test;  // the shared harness: Network, message builders, check_invariants

// ---- helpers -----------------------------------------------------------------------------

HardState hs_term(uint64_t term) {
  return HardState{Term{term}, kNoNode, LogIndex{0}};
}

std::vector<uint64_t> terms_of(const RaftLog& log) {
  std::vector<uint64_t> out;
  for (LogIndex i{1}; i <= log.last_index(); ++i) out.push_back(log.at(i).term.v);
  return out;
}

Message heartbeat(uint64_t from, uint64_t to, uint64_t term, uint64_t commit) {
  Message m = msg(MessageType::kHeartbeat, from, to, term);
  m.commit = LogIndex{commit};
  return m;
}

Message grant(MessageType type, uint64_t from, uint64_t to, uint64_t term) {
  return msg(type, from, to, term);
}

class RaftPaper : public ClusterTest<> {};

// Ticks a lone node of a 3-node cluster until it sends something; returns the tick count.
int ticks_until_first_message(Network& n) {
  int ticks = 0;
  while (n.queue.empty() && ticks < 10 * kElectionTicks) {
    n.tick(1);
    ++ticks;
  }
  return ticks;
}

// ---- leader election (Raft §5.2, thesis §9.6) ----------------------------------------------

TEST_F(RaftPaper, Election_FollowerStartsPreVoteAfterRandomizedTimeout) {
  // Raft §5.2 + thesis §9.6: election timeout drawn from [election_ticks, 2*election_ticks).
  std::set<int> timeouts;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    Network n(seed);
    Raft& r = n.add(1, 3);
    const int ticks = ticks_until_first_message(n);
    EXPECT_GE(ticks, kElectionTicks) << "seed " << seed;
    EXPECT_LT(ticks, 2 * kElectionTicks) << "seed " << seed;
    ASSERT_EQ(n.queue.size(), 2u) << "seed " << seed;
    for (const Message& m : n.queue) {
      EXPECT_EQ(m.type, MessageType::kPreVote);
      EXPECT_EQ(m.term, Term{1});
    }
    EXPECT_EQ(r.role(), Role::kPreCandidate);
    EXPECT_EQ(r.term(), Term{0});
    timeouts.insert(ticks);
  }
  EXPECT_GE(timeouts.size(), 3u) << "the election timeout is not randomized";
}

TEST_F(RaftPaper, Election_WithoutPreVote_FollowerStartsVoteInNextTerm) {
  // Raft §5.2: on election timeout a follower increments its term, votes for itself and
  // requests votes.
  Opts o;
  o.pre_vote = false;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    Network n(seed);
    Raft& r = n.add(1, 3, {}, {}, o);
    const int ticks = ticks_until_first_message(n);
    EXPECT_GE(ticks, kElectionTicks) << "seed " << seed;
    EXPECT_LT(ticks, 2 * kElectionTicks) << "seed " << seed;
    EXPECT_EQ(of(n.queue, MessageType::kVote).size(), 2u) << "seed " << seed;
    EXPECT_EQ(r.role(), Role::kCandidate);
    EXPECT_EQ(r.term(), Term{1});
    EXPECT_EQ(r.vote(), NodeId{1});
  }
}

TEST_F(RaftPaper, Election_FollowerHearingHeartbeatsNeverCampaigns) {
  // Raft §5.2: a server remains a follower as long as it receives valid RPCs from a leader.
  Raft& r = net.add(2, 3, {}, hs_term(1));
  for (int t = 0; t < 20 * kElectionTicks; ++t) {
    r.tick();
    if (t % (kElectionTicks / 2) == 0) r.step(heartbeat(1, 2, 1, 0));
    net.take_all();
  }
  EXPECT_TRUE(of(net.queue, MessageType::kPreVote).empty());
  EXPECT_TRUE(of(net.queue, MessageType::kVote).empty());
  EXPECT_FALSE(of(net.queue, MessageType::kHeartbeatResp).empty());
  EXPECT_EQ(r.role(), Role::kFollower);
  EXPECT_EQ(r.lead(), NodeId{1});
  EXPECT_EQ(r.term(), Term{1});
}

TEST_F(RaftPaper, Election_PreVoteKeepsTermUntilWon) {
  // Thesis §9.6: a pre-candidate changes no term or vote until a majority says it could win.
  net.add_cluster(3);
  net.isolated = {3};
  node(1).campaign();
  Ready rd = net.take(1);
  EXPECT_EQ(node(1).role(), Role::kPreCandidate);
  EXPECT_EQ(node(1).term(), Term{0});
  EXPECT_EQ(node(1).vote(), kNoNode);
  EXPECT_FALSE(rd.hard_state.has_value());
  EXPECT_FALSE(rd.must_sync);
  const std::vector<Message> pre_votes = of(rd.messages, MessageType::kPreVote);
  ASSERT_EQ(pre_votes.size(), 2u);
  for (const Message& m : pre_votes) EXPECT_EQ(m.term, Term{1});

  ASSERT_TRUE(net.deliver_one());  // 1->2, granted
  EXPECT_EQ(node(2).term(), Term{0});
  EXPECT_EQ(node(2).vote(), kNoNode);
  ASSERT_TRUE(net.deliver_one());  // 1->3, lost
  EXPECT_EQ(node(1).term(), Term{0});

  ASSERT_EQ(net.queue.size(), 1u);
  const Message resp = net.pop();
  ASSERT_EQ(resp.type, MessageType::kPreVoteResp);
  EXPECT_FALSE(resp.reject);
  EXPECT_EQ(resp.term, Term{1});
  node(1).step(resp);
  EXPECT_EQ(node(1).role(), Role::kCandidate);
  EXPECT_EQ(node(1).term(), Term{1});
  EXPECT_EQ(node(1).vote(), NodeId{1});

  rd = net.take(1);
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->term, Term{1});
  EXPECT_EQ(rd.hard_state->vote, NodeId{1});
  EXPECT_TRUE(rd.must_sync);
  EXPECT_EQ(of(rd.messages_after_sync, MessageType::kVote).size(), 2u);
  EXPECT_TRUE(of(rd.messages, MessageType::kVote).empty());
}

TEST_F(RaftPaper, Election_PreVoteGrantFromOlderRoundIgnored) {
  // Thesis §9.6 with Figure 2's "ignore replies from older terms": a pre-vote grant counts only
  // for the term it was asked about (ours + 1).
  Raft& r = net.add(1, 3, {}, hs_term(1));
  r.campaign();
  ASSERT_EQ(r.role(), Role::kPreCandidate);
  r.step(grant(MessageType::kPreVoteResp, 2, 1, 1));
  EXPECT_EQ(r.role(), Role::kPreCandidate);
  EXPECT_EQ(r.term(), Term{1});
  r.step(grant(MessageType::kPreVoteResp, 2, 1, 2));
  EXPECT_EQ(r.role(), Role::kCandidate);
  EXPECT_EQ(r.term(), Term{2});
}

TEST_F(RaftPaper, Election_CandidateWithMajorityBecomesLeaderAndAppendsNoop) {
  // Raft §5.2 (a candidate wins with votes from a majority) and §8 (a new leader commits a
  // blank no-op entry of its own term).
  Opts o;
  o.pre_vote = false;
  net.add_cluster(5, o);
  node(1).campaign();
  net.take(1);
  net.queue.clear();
  ASSERT_EQ(node(1).role(), Role::kCandidate);
  ASSERT_EQ(node(1).term(), Term{1});

  node(1).step(grant(MessageType::kVoteResp, 2, 1, 1));
  EXPECT_EQ(node(1).role(), Role::kCandidate) << "2 of 5 votes is not a majority";
  node(1).step(grant(MessageType::kVoteResp, 3, 1, 1));
  EXPECT_EQ(node(1).role(), Role::kLeader);
  EXPECT_EQ(node(1).lead(), NodeId{1});

  ASSERT_EQ(node(1).log().last_index(), LogIndex{1});
  const Entry noop = node(1).log().at(LogIndex{1});
  EXPECT_EQ(noop.type, EntryType::kNoop);
  EXPECT_EQ(noop.term, Term{1});

  const Ready rd = net.take(1);
  EXPECT_EQ(rd.entries, std::vector<Entry>{noop});
  ASSERT_TRUE(rd.soft_state.has_value());
  EXPECT_EQ(rd.soft_state->role, Role::kLeader);
  const std::vector<Message> apps = of(all(rd), MessageType::kApp);
  ASSERT_EQ(apps.size(), 4u);
  for (const Message& m : apps) {
    EXPECT_EQ(m.term, Term{1});
    EXPECT_EQ(m.index, LogIndex{0});
    EXPECT_EQ(m.entries, std::vector<Entry>{noop});
  }
}

TEST_F(RaftPaper, Election_LostElectionReturnsToFollower) {
  // Raft §5.2: a candidate that cannot win (a majority voted for someone else) becomes a
  // follower again.
  Opts o;
  o.pre_vote = false;
  const HardState voted_for_3{Term{1}, NodeId{3}, LogIndex{0}};
  net.add(1, 3, {}, {}, o);
  net.add(2, 3, {}, voted_for_3, o);
  net.add(3, 3, {}, voted_for_3, o);
  node(1).campaign();
  net.take_all();
  ASSERT_EQ(node(1).role(), Role::kCandidate);
  net.stabilize();
  EXPECT_EQ(node(1).role(), Role::kFollower);
  EXPECT_EQ(node(1).term(), Term{1});
  EXPECT_EQ(node(1).lead(), kNoNode);
  size_t rejections = 0;
  for (const Message& m : of(net.trace, MessageType::kVoteResp, 1)) rejections += m.reject;
  EXPECT_EQ(rejections, 2u);
}

TEST_F(RaftPaper, Election_SplitVoteReturnsCandidatesToFollower) {
  // Raft §5.2: with votes split so nobody has a majority, each candidate times out (here: loses)
  // and nobody leads the term.
  Opts o;
  o.pre_vote = false;
  net.add_cluster(4, o);
  node(1).campaign();
  node(3).campaign();
  net.take_all();
  ASSERT_TRUE(
      net.deliver_first([](const Message& m) { return m.from == NodeId{3} && m.to == NodeId{4}; }));
  net.stabilize();
  EXPECT_EQ(node(2).vote(), NodeId{1});
  EXPECT_EQ(node(4).vote(), NodeId{3});
  for (uint64_t id = 1; id <= 4; ++id) {
    EXPECT_NE(node(id).role(), Role::kLeader) << "node " << id;
    EXPECT_EQ(node(id).term(), Term{1}) << "node " << id;
  }
  EXPECT_EQ(node(1).role(), Role::kFollower);
  EXPECT_EQ(node(3).role(), Role::kFollower);
}

TEST_F(RaftPaper, Election_SingleVoterElectsItself) {
  // Raft §5.2: a majority of one is the candidate's own vote.
  Raft& r = net.add(1, 1);
  r.campaign();
  EXPECT_EQ(r.role(), Role::kLeader);
  EXPECT_EQ(r.term(), Term{1});
  ASSERT_EQ(r.propose("x").status, ProposeStatus::kOk);
  net.take_all();
  EXPECT_EQ(r.log().committed(), LogIndex{2});
}

// ---- RequestVote (Figure 2) --------------------------------------------------------------

TEST_F(RaftPaper, Vote_OnePerTerm) {
  // Figure 2, RequestVote receiver rule 2: vote for at most one candidate per term (granting
  // the same candidate again is fine).
  Raft& r = net.add(1, 3);
  struct Case {
    uint64_t from;
    bool granted;
  };
  for (const Case c : {Case{2, true}, Case{3, false}, Case{2, true}}) {
    r.step(vote_req(MessageType::kVote, c.from, 1, 1, 0, 0));
    const std::vector<Message> out = all(net.take(1));
    ASSERT_EQ(out.size(), 1u) << "from " << c.from;
    EXPECT_EQ(out[0].type, MessageType::kVoteResp);
    EXPECT_EQ(out[0].to, NodeId{c.from});
    EXPECT_EQ(out[0].term, Term{1});
    EXPECT_EQ(out[0].reject, !c.granted) << "from " << c.from;
    EXPECT_EQ(r.vote(), NodeId{2});
  }
}

TEST_F(RaftPaper, Vote_RefusedToLessUpToDateCandidate) {
  // Raft §5.4.1: grant only if the candidate's log is at least as up to date (higher last term,
  // or equal last term and at least as long).
  Raft& r = net.add(1, 5, log_terms({1, 1, 2}), hs_term(2));
  struct Case {
    uint64_t from, term, last_index, last_term;
    bool granted;
  };
  const Case cases[] = {
      {2, 3, 5, 1, false},  // longer, but older last term
      {3, 4, 2, 2, false},  // same last term, shorter
      {4, 5, 1, 3, true},   // newer last term, though shorter
      {5, 6, 3, 2, true},   // identical
  };
  for (const Case& c : cases) {
    r.step(vote_req(MessageType::kVote, c.from, 1, c.term, c.last_index, c.last_term));
    const std::vector<Message> out = of(all(net.take(1)), MessageType::kVoteResp, c.from);
    ASSERT_EQ(out.size(), 1u) << "from " << c.from;
    EXPECT_EQ(out[0].reject, !c.granted) << "from " << c.from;
    EXPECT_EQ(r.term(), Term{c.term});
    EXPECT_EQ(r.vote(), c.granted ? NodeId{c.from} : kNoNode) << "from " << c.from;
  }
}

TEST_F(RaftPaper, Vote_PreVoteRefusedToLessUpToDateCandidate) {
  // Thesis §9.6: a pre-vote is granted on the same log comparison as a vote (§5.4.1).
  Raft& r = net.add(1, 3, log_terms({1, 1, 2}), hs_term(2));
  r.step(vote_req(MessageType::kPreVote, 2, 1, 3, 5, 1));
  std::vector<Message> out = all(net.take(1));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, MessageType::kPreVoteResp);
  EXPECT_TRUE(out[0].reject);

  r.step(vote_req(MessageType::kPreVote, 3, 1, 3, 3, 2));
  out = all(net.take(1));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].reject);
  EXPECT_EQ(out[0].term, Term{3});
  EXPECT_EQ(r.term(), Term{2});
}

TEST_F(RaftPaper, Vote_GrantPersistedBeforeReply) {
  // Figure 2: currentTerm and votedFor are updated on stable storage before responding.
  Raft& r = net.add(1, 3);
  r.step(vote_req(MessageType::kVote, 2, 1, 1, 0, 0));
  const Ready rd = net.take(1);
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(*rd.hard_state, (HardState{Term{1}, NodeId{2}, LogIndex{0}}));
  EXPECT_TRUE(rd.must_sync);
  EXPECT_TRUE(of(rd.messages, MessageType::kVoteResp).empty());
  const std::vector<Message> resp = of(rd.messages_after_sync, MessageType::kVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject);
}

// ---- terms (Figure 2 "Rules for Servers") ---------------------------------------------------

TEST_F(RaftPaper, Term_HigherTermMakesLeaderStepDown) {
  // Figure 2, all servers: if a message carries term T > currentTerm, set currentTerm = T and
  // convert to follower.
  net.add_cluster(3);
  ASSERT_TRUE(net.elect(1));
  ASSERT_EQ(node(1).term(), Term{1});
  node(1).step(msg(MessageType::kAppResp, 2, 1, 5));
  EXPECT_EQ(node(1).role(), Role::kFollower);
  EXPECT_EQ(node(1).term(), Term{5});
  EXPECT_EQ(node(1).lead(), kNoNode);
  EXPECT_EQ(node(1).vote(), kNoNode);
  const Ready rd = net.take(1);
  ASSERT_TRUE(rd.hard_state.has_value());
  EXPECT_EQ(rd.hard_state->term, Term{5});
}

TEST_F(RaftPaper, Term_HigherTermMakesCandidateStepDown) {
  // Figure 2, candidates: AppendEntries from a new leader (here of a later term) converts the
  // candidate to follower.
  Opts o;
  o.pre_vote = false;
  net.add_cluster(3, o);
  node(1).campaign();
  net.take_all();
  net.queue.clear();
  ASSERT_EQ(node(1).role(), Role::kCandidate);
  node(1).step(app(3, 1, 2, 0, 0, {}, 0));
  EXPECT_EQ(node(1).role(), Role::kFollower);
  EXPECT_EQ(node(1).term(), Term{2});
  EXPECT_EQ(node(1).lead(), NodeId{3});
}

TEST_F(RaftPaper, Term_CandidateStepsDownForLeaderOfItsOwnTerm) {
  // Figure 2, candidates: AppendEntries from the leader of the same term converts to follower.
  Opts o;
  o.pre_vote = false;
  net.add_cluster(3, o);
  node(1).campaign();
  net.take_all();
  net.queue.clear();
  node(1).step(app(2, 1, 1, 0, 0, {ent(1, 1)}, 0));
  EXPECT_EQ(node(1).role(), Role::kFollower);
  EXPECT_EQ(node(1).term(), Term{1});
  EXPECT_EQ(node(1).lead(), NodeId{2});
  EXPECT_EQ(node(1).log().last_index(), LogIndex{1});
}

TEST_F(RaftPaper, Term_PreVoteDoesNotChangeReceiverTerm) {
  // Thesis §9.6: a pre-vote request changes nobody's term, so a grant needs no disk write.
  Raft& r = net.add(1, 3, {}, hs_term(2));
  r.step(vote_req(MessageType::kPreVote, 2, 1, 5, 0, 0));
  EXPECT_EQ(r.term(), Term{2});
  EXPECT_EQ(r.vote(), kNoNode);
  EXPECT_EQ(r.role(), Role::kFollower);
  const Ready rd = net.take(1);
  EXPECT_FALSE(rd.hard_state.has_value());
  EXPECT_FALSE(rd.must_sync);
  EXPECT_TRUE(rd.messages_after_sync.empty());
  const std::vector<Message> resp = of(rd.messages, MessageType::kPreVoteResp);
  ASSERT_EQ(resp.size(), 1u);
  EXPECT_FALSE(resp[0].reject);
  EXPECT_EQ(resp[0].term, Term{5});
}

TEST_F(RaftPaper, Term_StaleAppendResponseChangesNothing) {
  // Figure 2 / §5.1: a reply from an older term is ignored.
  for (uint64_t id = 1; id <= 3; ++id) net.add(id, 3, {}, hs_term(1));
  ASSERT_TRUE(net.elect(1));
  ASSERT_EQ(node(1).term(), Term{2});
  net.isolated = {3};
  const ProposeResult p = node(1).propose("x");
  ASSERT_EQ(p.status, ProposeStatus::kOk);
  net.take_all();
  ASSERT_TRUE(net.deliver_one());  // App 1->2
  ASSERT_TRUE(net.deliver_one());  // App 1->3, dropped
  ASSERT_EQ(net.queue.size(), 1u);
  const Message ack = net.pop();
  ASSERT_EQ(ack.type, MessageType::kAppResp);
  ASSERT_EQ(ack.index, p.index);

  const LogIndex match_before = node(1).progress().at(NodeId{2}).match;
  Message stale = ack;
  stale.term = Term{1};
  node(1).step(stale);
  EXPECT_EQ(node(1).progress().at(NodeId{2}).match, match_before);
  EXPECT_LT(node(1).log().committed(), p.index);
  EXPECT_EQ(node(1).role(), Role::kLeader);

  node(1).step(ack);
  EXPECT_EQ(node(1).progress().at(NodeId{2}).match, p.index);
  EXPECT_EQ(node(1).log().committed(), p.index);
}

TEST_F(RaftPaper, Term_StaleVoteResponseChangesNothing) {
  // Figure 2 / §5.1: a vote granted in an older term does not count in this one.
  Opts o;
  o.pre_vote = false;
  Raft& r = net.add(1, 5, {}, hs_term(2), o);
  r.campaign();
  ASSERT_EQ(r.term(), Term{3});
  for (uint64_t from : {2, 3}) r.step(grant(MessageType::kVoteResp, from, 1, 2));
  EXPECT_EQ(r.role(), Role::kCandidate);
  for (uint64_t from : {2, 3}) r.step(grant(MessageType::kVoteResp, from, 1, 3));
  EXPECT_EQ(r.role(), Role::kLeader);
}

TEST_F(RaftPaper, Term_StaleAppendAnsweredWithCurrentTerm) {
  // Thesis §9.6 (with pre-vote or check-quorum, nobody bumps a deposed leader's term by
  // campaigning): an AppendEntries or heartbeat from an older term gets a reply carrying ours.
  Raft& r = net.add(1, 3, log_terms({1}), hs_term(3));
  Message stale_app = app(2, 1, 2, 1, 1, {ent(2, 2)}, 0);
  for (const Message& m : {stale_app, msg(MessageType::kHeartbeat, 2, 1, 2)}) {
    r.step(m);
    const std::vector<Message> out = all(net.take(1));
    ASSERT_EQ(out.size(), 1u) << to_string(m.type);
    EXPECT_EQ(out[0].type, MessageType::kAppResp);
    EXPECT_EQ(out[0].to, NodeId{2});
    EXPECT_EQ(out[0].term, Term{3});
    EXPECT_EQ(r.term(), Term{3});
    EXPECT_EQ(r.lead(), kNoNode);
    EXPECT_EQ(r.log().last_index(), LogIndex{1});
  }

  Opts plain;
  plain.pre_vote = false;
  plain.check_quorum = false;
  Raft& q = net.add(2, 3, log_terms({1}), hs_term(3), plain);
  q.step(app(1, 2, 2, 1, 1, {ent(2, 2)}, 0));
  EXPECT_FALSE(q.has_ready()) << "without either option a stale request is silently dropped";
  EXPECT_EQ(q.log().last_index(), LogIndex{1});
}

TEST_F(RaftPaper, Term_StaleLeaderNotice_ReachingTheLeaderOfThatTerm_ChangesNothing) {
  // Node 1 led term 2; an append of that term reaches node 2 late, after node 1 became leader of
  // term 3, and node 2 (in term 3) answers it with the notice meant for a stale leader. The
  // notice carries term 3, the leader's own: it must not read as an acknowledgement of index 0
  // (found by the simulator: the leader probed node 2 from index 1, sent a snapshot, and then
  // appended from node 2's commit index up, past a stale tail node 2 still held).
  for (uint64_t id = 1; id <= 3; ++id) net.add(id, 3, log_terms({1, 1}), hs_term(2));
  net.isolated = {2};  // node 1 still probes node 2: nothing heard from it in term 3
  ASSERT_TRUE(net.elect(1));
  ASSERT_EQ(node(1).term(), Term{3});
  net.isolated.clear();
  net.take_all();
  net.queue.clear();
  node(2).step(msg(MessageType::kHeartbeat, 1, 2, 3));  // node 2 learns term 3
  net.take_all();
  net.queue.clear();
  const Progress before = node(1).progress().at(NodeId{2});
  ASSERT_EQ(before.state, ProgressState::kProbe);
  ASSERT_EQ(before.match, LogIndex{0});
  node(2).step(app(1, 2, 2, 2, 1, {}, 0));
  const std::vector<Message> out = all(net.take(2));
  ASSERT_EQ(out.size(), 1u);
  const Message notice = out[0];
  ASSERT_EQ(notice.type, MessageType::kAppResp);
  ASSERT_EQ(notice.term, Term{3});
  EXPECT_TRUE(notice.reject);
  EXPECT_EQ(notice.index, LogIndex{0});
  node(1).step(notice);
  const Progress& after = node(1).progress().at(NodeId{2});
  EXPECT_EQ(after.state, before.state);
  EXPECT_EQ(after.next, before.next);
  EXPECT_EQ(after.match, before.match);
  EXPECT_EQ(node(1).role(), Role::kLeader);
}

// ---- leader stickiness and check-quorum (thesis §6.2, §4.2.3, §9.6) -------------------------

TEST_F(RaftPaper, Stickiness_FollowerHearingLeaderIgnoresVoteRequests) {
  // Thesis §4.2.3 / §9.6: a server that heard from a leader within the minimum election timeout
  // does not grant (pre-)votes or update its term for them.
  net.add_cluster(3);
  ASSERT_TRUE(net.elect(1));
  ASSERT_EQ(node(2).lead(), NodeId{1});
  const uint64_t last = node(3).log().last_index().v;
  const uint64_t last_term = node(3).log().last_term().v;
  for (MessageType t : {MessageType::kVote, MessageType::kPreVote}) {
    node(2).step(vote_req(t, 3, 2, 2, last, last_term));
    EXPECT_FALSE(node(2).has_ready()) << to_string(t);
    EXPECT_EQ(node(2).term(), Term{1});
    EXPECT_EQ(node(2).lead(), NodeId{1});
    EXPECT_EQ(node(2).vote(), NodeId{1});
  }

  for (int i = 0; i < kElectionTicks; ++i) node(2).tick();
  net.take_all();
  net.queue.clear();
  node(2).step(vote_req(MessageType::kVote, 3, 2, 5, last, last_term));
  const std::vector<Message> out = of(all(net.take(2)), MessageType::kVoteResp);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].reject);
  EXPECT_EQ(node(2).term(), Term{5});
  EXPECT_EQ(node(2).vote(), NodeId{3});
}

TEST_F(RaftPaper, CheckQuorum_LeaderWithoutMajorityStepsDown) {
  // Thesis §6.2: a leader that has not heard from a majority within an election timeout steps
  // down.
  net.add_cluster(3);
  ASSERT_TRUE(net.elect(1));
  net.isolated = {2, 3};
  net.tick_and_stabilize(1, kElectionTicks);
  EXPECT_EQ(node(1).role(), Role::kLeader) << "the election round's acks are recent";
  net.tick_and_stabilize(1, kElectionTicks);
  EXPECT_EQ(node(1).role(), Role::kFollower);
  EXPECT_EQ(node(1).lead(), kNoNode);
  EXPECT_EQ(node(1).term(), Term{1});
  EXPECT_EQ(node(1).propose("x").status, ProposeStatus::kNotLeader);
}

TEST_F(RaftPaper, CheckQuorum_LeaderHearingMajorityStaysLeader) {
  // Thesis §6.2: heartbeat replies from a majority keep the leader in office.
  net.add_cluster(3);
  ASSERT_TRUE(net.elect(1));
  net.isolated = {3};
  net.tick_and_stabilize(1, 5 * kElectionTicks);
  EXPECT_EQ(node(1).role(), Role::kLeader);
}

// ---- log replication (Raft §5.3) ---------------------------------------------------------

TEST_F(RaftPaper, Log_ConsistencyCheckRejectsMismatchingPrev) {
  // Figure 2, AppendEntries receiver rule 2: reply false if the log has no entry at prevLogIndex
  // whose term matches prevLogTerm.
  Raft& r = net.add(2, 3, log_terms({1, 1, 2}), hs_term(3));
  struct Case {
    uint64_t prev, prev_term;
  };
  for (const Case c : {Case{3, 3}, Case{5, 3}, Case{2, 2}}) {
    r.step(app(1, 2, 3, c.prev, c.prev_term, {ent(c.prev + 1, 3)}, 0));
    const std::vector<Message> out = of(all(net.take(2)), MessageType::kAppResp);
    ASSERT_EQ(out.size(), 1u) << "prev " << c.prev;
    EXPECT_TRUE(out[0].reject) << "prev " << c.prev;
    EXPECT_EQ(out[0].index, LogIndex{c.prev});
    EXPECT_EQ(terms_of(r.log()), (std::vector<uint64_t>{1, 1, 2}));
  }
  r.step(app(1, 2, 3, 3, 2, {ent(4, 3)}, 0));
  const std::vector<Message> out = of(all(net.take(2)), MessageType::kAppResp);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].reject);
  EXPECT_EQ(out[0].index, LogIndex{4});
  EXPECT_EQ(terms_of(r.log()), (std::vector<uint64_t>{1, 1, 2, 3}));
}

TEST_F(RaftPaper, Log_FollowerTruncatesOnlyOnConflict) {
  // Figure 2, AppendEntries receiver rules 3-4: delete entries only when one conflicts with a
  // new entry; an old, duplicated AppendEntries must not drop what came after it.
  Raft& r = net.add(2, 3, log_terms({1, 1, 1, 1}), hs_term(1));
  r.step(app(1, 2, 1, 1, 1, {ent(2, 1)}, 0));
  Ready rd = net.take(2);
  EXPECT_EQ(terms_of(r.log()), (std::vector<uint64_t>{1, 1, 1, 1}));
  EXPECT_TRUE(rd.entries.empty());
  std::vector<Message> out = of(all(rd), MessageType::kAppResp);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].reject);
  EXPECT_EQ(out[0].index, LogIndex{2});

  r.step(app(1, 2, 2, 2, 1, {ent(3, 2)}, 0));
  rd = net.take(2);
  EXPECT_EQ(terms_of(r.log()), (std::vector<uint64_t>{1, 1, 2}));
  EXPECT_EQ(rd.entries, std::vector<Entry>{ent(3, 2)});
}

TEST_F(RaftPaper, Log_RejectionCarriesHint) {
  // Raft §5.3 (end): a rejecting follower names the term of its conflicting entry and where
  // entries of that term (or older) end, so the leader can skip a whole term per round trip.
  Raft& r = net.add(2, 3, log_terms({1, 1, 1, 5, 5, 5, 5}), hs_term(5));
  r.step(app(1, 2, 6, 9, 4, {}, 0));
  std::vector<Message> out = of(all(net.take(2)), MessageType::kAppResp);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].reject);
  EXPECT_EQ(out[0].index, LogIndex{9});
  EXPECT_EQ(out[0].reject_hint, LogIndex{3});
  EXPECT_EQ(out[0].log_term, Term{1});

  r.step(app(1, 2, 6, 20, 6, {}, 0));
  out = of(all(net.take(2)), MessageType::kAppResp);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].reject);
  EXPECT_EQ(out[0].reject_hint, LogIndex{7});
  EXPECT_EQ(out[0].log_term, Term{5});
}

TEST_F(RaftPaper, Log_FastBacktrackingSkipsWholeTerms) {
  // Raft §5.3 (end) / thesis §5.3: one rejection moves the leader's nextIndex past every entry
  // of its own that cannot match, not back by one.
  const std::vector<Entry> leader_log = log_terms({1, 1, 1, 4, 4, 5, 5, 6, 6, 6});
  net.add(1, 3, leader_log, hs_term(7));
  net.add(2, 3, log_terms({1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3}), hs_term(7));
  net.add(3, 3, leader_log, hs_term(7));
  ASSERT_TRUE(net.elect(1));
  ASSERT_EQ(node(1).term(), Term{8});

  std::vector<uint64_t> prevs_to_2;
  for (const Message& m : of(net.trace, MessageType::kApp, 2)) prevs_to_2.push_back(m.index.v);
  ASSERT_GE(prevs_to_2.size(), 2u);
  EXPECT_EQ(prevs_to_2[0], 10u);
  EXPECT_EQ(prevs_to_2[1], 3u);
  size_t rejections = 0;
  for (const Message& m : of(net.trace, MessageType::kAppResp, 1)) rejections += m.reject;
  EXPECT_EQ(rejections, 1u);

  EXPECT_EQ(terms_of(node(2).log()), terms_of(node(1).log()));
  net.tick(1);  // the next heartbeat carries the commit index
  net.stabilize();
  EXPECT_EQ(node(2).log().committed(), LogIndex{11});
}

TEST_F(RaftPaper, Log_AppendsLeaveAtOnceAcksAfterSync) {
  // Thesis §10.2.1: the leader may send AppendEntries before its own write completes, but a
  // follower acknowledges entries only once they are durable.
  net.add_cluster(3);
  ASSERT_TRUE(net.elect(1));
  ASSERT_EQ(node(1).propose("x").status, ProposeStatus::kOk);
  const Ready lrd = net.take(1);
  EXPECT_TRUE(lrd.must_sync);
  EXPECT_EQ(lrd.entries.size(), 1u);
  EXPECT_EQ(of(lrd.messages, MessageType::kApp).size(), 2u);

  const Message to2 = net.pop();
  ASSERT_EQ(to2.type, MessageType::kApp);
  ASSERT_EQ(to2.to, NodeId{2});
  node(2).step(to2);
  const Ready frd = net.take(2);
  EXPECT_TRUE(frd.must_sync);
  EXPECT_EQ(frd.entries, to2.entries);
  EXPECT_TRUE(of(frd.messages, MessageType::kAppResp).empty());
  EXPECT_EQ(of(frd.messages_after_sync, MessageType::kAppResp).size(), 1u);
  net.stabilize();
}

TEST_F(RaftPaper, Replication_MaxInflightBoundsOutstandingAppends) {
  // Flow control (etcd raft, thesis §10.2.1 pipelining): in replicate state at most
  // max_inflight AppendEntries with entries are outstanding per follower.
  Opts o;
  o.max_inflight = 2;
  net.add_cluster(3, o);
  ASSERT_TRUE(net.elect(1));
  ASSERT_EQ(node(1).progress().at(NodeId{2}).state, ProgressState::kReplicate);
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(node(1).propose("p" + std::to_string(i)).status, ProposeStatus::kOk);
    net.take_all();
  }
  size_t with_entries = 0;
  for (const Message& m : of(net.queue, MessageType::kApp, 2)) with_entries += !m.entries.empty();
  EXPECT_EQ(with_entries, 2u);
  EXPECT_TRUE(node(1).progress().at(NodeId{2}).is_paused());

  net.stabilize();
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_EQ(node(id).log().committed(), LogIndex{6}) << "node " << id;
  }
}

TEST_F(RaftPaper, Heartbeat_LeaderSendsHeartbeatEveryHeartbeatInterval) {
  // Raft §5.2: leaders send periodic heartbeats to maintain their authority.
  net.add_cluster(3);
  ASSERT_TRUE(net.elect(1));
  node(1).tick();
  const std::vector<Message> hbs = of(all(net.take(1)), MessageType::kHeartbeat);
  ASSERT_EQ(hbs.size(), 2u);
  EXPECT_EQ(hbs[0].to, NodeId{2});
  EXPECT_EQ(hbs[1].to, NodeId{3});
  for (const Message& m : hbs) EXPECT_EQ(m.term, Term{1});
}

// ---- commitment (Raft §5.3, §5.4.2) -------------------------------------------------------

TEST_F(RaftPaper, Commit_Figure8_OldTermNotCommittedByCounting) {
  // Raft §5.4.2, Figure 8: a leader never commits an entry from a previous term by counting
  // replicas, even once a majority stores it.
  Opts o;
  o.max_msg_bytes = 1;  // one entry per AppendEntries, so entry 2 travels without entry 3
  net.add(1, 3, log_terms({1, 2}), hs_term(3), o);
  net.add(2, 3, log_terms({1}), hs_term(3), o);
  net.add(3, 3, log_terms({1}), hs_term(3), o);
  net.isolated = {3};
  node(1).campaign();
  net.take_all();
  auto match_of_2 = [&] {
    const auto& prs = node(1).progress();
    auto it = prs.find(NodeId{2});
    return it == prs.end() ? LogIndex{0} : it->second.match;
  };
  for (int k = 0; k < 100 && match_of_2() < LogIndex{2}; ++k) ASSERT_TRUE(net.deliver_one());
  ASSERT_EQ(node(1).role(), Role::kLeader);
  ASSERT_EQ(node(1).term(), Term{4});
  ASSERT_EQ(match_of_2(), LogIndex{2});
  ASSERT_EQ(node(2).log().term(LogIndex{2}), Term{2});
  EXPECT_EQ(node(1).log().committed(), LogIndex{0});

  net.stabilize();
  EXPECT_EQ(node(1).log().committed(), LogIndex{3});
  EXPECT_EQ(node(2).log().committed(), LogIndex{3});
}

TEST_F(RaftPaper, Commit_Figure8_OwnTermEntryCommitsOlderEntries) {
  // Raft §5.4.2: once an entry of the current term is committed by counting replicas, all prior
  // entries are committed indirectly (Log Matching).
  net.add(1, 3, log_terms({1, 2}), hs_term(3));
  net.add(2, 3, log_terms({1}), hs_term(3));
  net.add(3, 3, log_terms({1}), hs_term(3));
  ASSERT_TRUE(net.elect(1));
  net.tick(1);  // the next heartbeat carries the commit index
  net.stabilize();
  for (uint64_t id = 1; id <= 3; ++id) {
    EXPECT_EQ(terms_of(node(id).log()), (std::vector<uint64_t>{1, 2, 4})) << "node " << id;
    EXPECT_EQ(node(id).log().committed(), LogIndex{3}) << "node " << id;
    EXPECT_EQ(node(id).log().applied(), LogIndex{3}) << "node " << id;
  }
}

TEST_F(RaftPaper, Commit_LeaderCountsItselfOnlyAfterPersisting) {
  // Thesis §10.2.1: the leader's own log counts toward the majority once its write is durable.
  net.add_cluster(3);
  ASSERT_TRUE(net.elect(1));
  const ProposeResult p = node(1).propose("x");
  ASSERT_EQ(p.status, ProposeStatus::kOk);
  const Ready rd = node(1).ready();
  const std::vector<Message> to2 = of(rd.messages, MessageType::kApp, 2);
  ASSERT_EQ(to2.size(), 1u);
  node(2).step(to2[0]);
  net.take(2);
  ASSERT_EQ(net.queue.size(), 1u);
  const Message ack = net.pop();
  ASSERT_EQ(ack.type, MessageType::kAppResp);
  ASSERT_EQ(ack.index, p.index);
  node(1).step(ack);
  EXPECT_LT(node(1).log().committed(), p.index) << "counted its own unpersisted entry";

  node(1).advance(rd);
  EXPECT_EQ(node(1).log().committed(), p.index);
  net.take_all();
  net.stabilize();
}

TEST_F(RaftPaper, Commit_FollowerCommitIsMinOfLeaderCommitAndLastNewEntry) {
  // Figure 2, AppendEntries receiver rule 5: commitIndex = min(leaderCommit, index of last new
  // entry); entries past the ones this request verified are not committed.
  Raft& r = net.add(2, 3, log_terms({1, 1, 1, 1, 1}), hs_term(1));
  r.step(app(1, 2, 1, 1, 1, {ent(2, 1)}, 5));
  EXPECT_EQ(r.log().committed(), LogIndex{2});
  EXPECT_EQ(r.log().last_index(), LogIndex{5});
  const Ready rd = net.take(2);
  EXPECT_EQ(indexes_of(rd.committed_entries), (std::vector<uint64_t>{1, 2}));
}

TEST_F(RaftPaper, Commit_HeartbeatCommitClampedToFollowerLog) {
  // Figure 2, rule 5 applied to heartbeats: a commit index past the follower's log is clamped,
  // and the commit index never goes back.
  Raft& r = net.add(2, 3, log_terms({1, 1}), hs_term(1));
  r.step(heartbeat(1, 2, 1, 5));
  EXPECT_EQ(r.log().committed(), LogIndex{2});
  r.step(heartbeat(1, 2, 1, 1));
  EXPECT_EQ(r.log().committed(), LogIndex{2});
  EXPECT_EQ(of(all(net.take(2)), MessageType::kHeartbeatResp).size(), 2u);
}

TEST_F(RaftPaper, Commit_LeaderHeartbeatCommitCappedAtFollowerMatch) {
  // Raft §5.3: a follower learns the commit index only for entries it is known to hold.
  net.add_cluster(3);
  ASSERT_TRUE(net.elect(1));
  net.isolated = {3};
  ASSERT_EQ(node(1).propose("x").status, ProposeStatus::kOk);
  net.take_all();
  net.stabilize();
  ASSERT_EQ(node(1).log().committed(), LogIndex{2});
  net.isolated.clear();

  node(1).tick();
  const std::vector<Message> hbs = of(all(net.take(1)), MessageType::kHeartbeat);
  ASSERT_EQ(hbs.size(), 2u);
  for (const Message& m : hbs) {
    EXPECT_EQ(m.commit, m.to == NodeId{2} ? LogIndex{2} : LogIndex{1}) << "to " << m.to.v;
  }
  net.stabilize();
  EXPECT_EQ(node(3).log().committed(), LogIndex{2});
}

// ---- client interaction (Raft §8) ---------------------------------------------------------

TEST_F(RaftPaper, Propose_OnFollowerReturnsNotLeaderWithHint) {
  // Raft §8: a follower rejects a client request and points at the leader it knows of.
  net.add_cluster(3);
  ProposeResult before = node(2).propose("x");
  EXPECT_EQ(before.status, ProposeStatus::kNotLeader);
  EXPECT_EQ(before.leader, kNoNode);

  ASSERT_TRUE(net.elect(1));
  const LogIndex last = node(2).log().last_index();
  const ProposeResult p = node(2).propose("x");
  EXPECT_EQ(p.status, ProposeStatus::kNotLeader);
  EXPECT_EQ(p.leader, NodeId{1});
  EXPECT_EQ(node(2).log().last_index(), last);
  EXPECT_FALSE(node(2).has_ready());

  const ProposeResult ok = node(1).propose("x");
  EXPECT_EQ(ok.status, ProposeStatus::kOk);
  EXPECT_EQ(ok.index, node(1).log().last_index());
  EXPECT_EQ(ok.term, Term{1});
  net.take_all();
  net.stabilize();
}

// ---- determinism -------------------------------------------------------------------------

// Ticks every node, lets the cluster elect a leader and replicate a few proposals.
std::vector<Message> run_cluster(uint64_t seed) {
  Network n(seed);
  n.add_cluster(3);
  for (int t = 0; t < 6 * kElectionTicks; ++t) {
    for (uint64_t id = 1; id <= 3; ++id) n.tick(id);
    n.stabilize();
    if (t % kElectionTicks == 0) {
      for (uint64_t id = 1; id <= 3; ++id) {
        if (n.node(id).role() == Role::kLeader) n.node(id).propose("t" + std::to_string(t));
      }
      n.take_all();
    }
  }
  check_invariants(n);
  return n.trace;
}

TEST_F(RaftPaper, Determinism_SameSeedSameMessages) {
  // STYLE §2: one seed, one history.
  std::vector<std::vector<Message>> traces;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const std::vector<Message> a = run_cluster(seed);
    const std::vector<Message> b = run_cluster(seed);
    ASSERT_FALSE(of(a, MessageType::kApp).empty()) << "seed " << seed << " never replicated";
    EXPECT_TRUE(a == b) << "seed " << seed << " gave two different histories";
    traces.push_back(a);
  }
  size_t differ = 0;
  for (const auto& t : traces) differ += !(t == traces[0]);
  EXPECT_GT(differ, 0u) << "the seed changes nothing";
}

// ---- the teardown checker must be able to fail ---------------------------------------------

TEST(RaftPaperChecker, CatchesTwoLeadersOfOneTerm) {
  Network bad;
  ASSERT_NO_FATAL_FAILURE(add_two_lone_leaders(bad));
  EXPECT_NONFATAL_FAILURE(check_invariants(bad), "Election Safety");
}

TEST(RaftPaperChecker, CatchesDivergentCommittedEntries) {
  Network bad;
  bad.add(1, 3, log_terms({1}), HardState{Term{1}, kNoNode, LogIndex{1}});
  bad.add(2, 3, log_terms({2}), HardState{Term{2}, kNoNode, LogIndex{1}});
  EXPECT_NONFATAL_FAILURE(check_invariants(bad), "committed different entries");
}

}  // namespace
}  // namespace rq::raft
