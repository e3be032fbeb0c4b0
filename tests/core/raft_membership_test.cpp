// Paper tests for membership changes (thesis §4.1, §4.2.1-4.2.3, with Ongaro's 2015 correction
// to single-server changes) and leadership transfer (thesis §3.10), driving rq::raft::Raft
// directly: step/tick/propose in, Ready out, advance back.
#include "core/raft/raft.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/core/raft_test_cluster.h"

namespace rq::raft {
namespace {

using namespace test;  // the shared harness: Network, message builders, check_invariants

// ---- helpers ----------------------------------------------------------------------------------

std::string address(uint64_t id) {
  return "n" + std::to_string(id);
}

Member voter(uint64_t id, uint64_t incarnation = 0) {
  return Member{NodeId{id}, address(id), true, false, incarnation};
}
Member learner(uint64_t id, uint64_t incarnation = 0) {
  return Member{NodeId{id}, address(id), false, false, incarnation};
}

ConfChange add_voter(uint64_t id) {
  return ConfChange{ConfChangeType::kAddVoter, NodeId{id}, address(id), 0};
}
ConfChange add_learner(uint64_t id) {
  return ConfChange{ConfChangeType::kAddLearner, NodeId{id}, address(id), 0};
}
ConfChange remove(uint64_t id) {
  return ConfChange{ConfChangeType::kRemove, NodeId{id}, {}, 0};
}

Membership changed(const Membership& m, const ConfChange& cc) {
  auto next = apply_change(m, cc);
  EXPECT_TRUE(next.ok());
  return next.ok() ? *next : m;
}

Entry config_entry(uint64_t index, uint64_t term, const Membership& m) {
  return Entry{Term{term}, LogIndex{index}, EntryType::kConfig, m.encode()};
}

template <class Msgs>
size_t campaign_messages_from(const Msgs& ms, uint64_t from) {
  return static_cast<size_t>(std::count_if(ms.begin(), ms.end(), [from](const Message& m) {
    return m.from.v == from && (m.type == MessageType::kPreVote || m.type == MessageType::kVote);
  }));
}

// The shared Network, with nodes that start without static voters: they learn their membership
// from bootstrap() or from their leader's log. Its add() hides Network's: every node here is
// added this way.
class MembershipNetwork : public Network {
 public:
  // A node with no static voters (each life of a node id has its own incarnation).
  Raft& add(uint64_t id, const Opts& o = {}, uint64_t incarnation = 0) {
    RaftConfig c = config(id, 0, o);
    c.incarnation = incarnation;
    return Network::add(c, RaftStorage{});
  }

  // Every member of `m` founds the cluster with it (each with the incarnation `m` names).
  void found(const Membership& m, const Opts& o = {}) {
    for (const Member& mem : m.members()) add(mem.id.v, o, mem.incarnation).bootstrap(m);
    take_all();
  }
};

Membership three_voters() {
  return Membership({voter(1), voter(2), voter(3)});
}

class RaftMembership : public ClusterTest<MembershipNetwork> {
 protected:
  // Voters {1, 2, 3} founded, and node 1 elected with its no-op committed everywhere.
  bool three_with_leader_1(const Opts& o = {}) {
    net.found(three_voters(), o);
    return net.elect(1) && node(1).log().committed() == node(1).log().last_index();
  }
};

class RaftTransfer : public RaftMembership {};

// ---- one change at a time (thesis §4.1; Ongaro 2015) ------------------------------------------

TEST_F(RaftMembership, ConfChange_RefusedBeforeLeaderCommitsAnEntryOfItsTerm) {
  // Ongaro 2015 (raft-dev, "bug in single-server membership changes"): a leader may not append a
  // config entry until it has committed an entry of its own term.
  net.found(three_voters());
  node(1).campaign();
  net.take_all();
  while (node(1).role() != Role::kLeader && net.deliver_one()) {
  }
  ASSERT_EQ(node(1).role(), Role::kLeader);
  const LogIndex last = node(1).log().last_index();
  ASSERT_LT(node(1).log().committed(), last) << "the new leader's no-op is not committed yet";

  EXPECT_EQ(node(1).propose_conf_change(add_learner(4)).status, ProposeStatus::kConfigPending);
  EXPECT_EQ(node(1).log().last_index(), last);
  EXPECT_FALSE(node(1).membership().contains(NodeId{4}));

  net.stabilize();
  ASSERT_EQ(node(1).log().committed(), last);
  EXPECT_EQ(node(1).propose_conf_change(add_learner(4)).status, ProposeStatus::kOk);
  EXPECT_TRUE(node(1).membership().contains(NodeId{4}));
}

TEST_F(RaftMembership, ConfChange_OnlyOneUncommittedAtATime) {
  // Thesis §4.1: a leader does not start a change until the previous one has committed.
  ASSERT_TRUE(three_with_leader_1());
  const ProposeResult first = node(1).propose_conf_change(add_learner(4));
  ASSERT_EQ(first.status, ProposeStatus::kOk);

  EXPECT_EQ(node(1).propose_conf_change(add_learner(5)).status, ProposeStatus::kConfigPending);
  EXPECT_EQ(node(1).log().last_index(), first.index);
  EXPECT_FALSE(node(1).membership().contains(NodeId{5}));

  net.take_all();
  net.stabilize();
  ASSERT_GE(node(1).log().committed(), first.index);
  const ProposeResult second = node(1).propose_conf_change(add_learner(5));
  EXPECT_EQ(second.status, ProposeStatus::kOk);
  EXPECT_EQ(second.index, first.index + 1);
  EXPECT_TRUE(node(1).membership().contains(NodeId{5}));
}

TEST_F(RaftMembership, ConfChange_TakesEffectWhenAppendedNotWhenCommitted) {
  // Thesis §4.1: a server uses the latest configuration in its log, committed or not.
  ASSERT_TRUE(three_with_leader_1());
  const ProposeResult r = node(1).propose_conf_change(add_learner(4));
  ASSERT_EQ(r.status, ProposeStatus::kOk);
  ASSERT_LT(node(1).log().committed(), r.index);
  EXPECT_TRUE(node(1).membership().contains(NodeId{4}));
  EXPECT_FALSE(node(1).membership().is_voter(NodeId{4}));
  EXPECT_EQ(ids(node(1).voters()), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(node(1).progress().count(NodeId{4}), 1u);
  EXPECT_EQ(node(1).configs().current_index(), r.index);

  net.take_all();
  ASSERT_TRUE(net.deliver_first([](const Message& m) {
    return m.type == MessageType::kApp && m.to.v == 2 && !m.entries.empty();
  }));
  EXPECT_LT(node(2).log().committed(), r.index);
  EXPECT_TRUE(node(2).membership().contains(NodeId{4}));
  EXPECT_EQ(node(2).configs().current_index(), r.index);
  net.stabilize();

  const ProposeResult rm = node(1).propose_conf_change(remove(3));
  ASSERT_EQ(rm.status, ProposeStatus::kOk);
  EXPECT_LT(node(1).log().committed(), rm.index);
  EXPECT_EQ(ids(node(1).voters()), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(node(1).progress().count(NodeId{3}), 0u);
  net.take_all();
  net.stabilize();
}

TEST_F(RaftMembership, ConfChange_TruncatedUncommittedEntry_RevertsMembership) {
  // Thesis §4.1: a config entry removed from the log by a conflicting leader takes its change
  // with it; the server falls back to the latest config still in its log.
  const Membership base = three_voters();
  const Membership with4 = changed(base, add_learner(4));
  const Membership with45 = changed(with4, add_learner(5));
  Raft& f = net.add(2);
  f.bootstrap(base);
  net.take_all();

  f.step(app(1, 2, 2, 1, 1, {config_entry(2, 2, with4), config_entry(3, 2, with45)}, 1));
  net.take_all();
  ASSERT_EQ(f.membership(), with45);
  ASSERT_EQ(f.log().committed(), LogIndex{1});

  f.step(app(3, 2, 3, 2, 2, {Entry{Term{3}, LogIndex{3}, EntryType::kNoop, {}}}, 1));
  net.take_all();
  EXPECT_EQ(f.membership(), with4);
  EXPECT_EQ(f.configs().current_index(), LogIndex{2});

  f.step(app(3, 2, 3, 1, 1, {Entry{Term{3}, LogIndex{2}, EntryType::kNoop, {}}}, 1));
  net.take_all();
  EXPECT_EQ(f.log().last_index(), LogIndex{2});
  EXPECT_EQ(f.membership(), base);
  EXPECT_EQ(f.configs().current_index(), LogIndex{1});
  EXPECT_EQ(ids(f.voters()), (std::vector<uint64_t>{1, 2, 3}));
}

// ---- learners (non-voting members, thesis §4.2.1) ---------------------------------------------

TEST_F(RaftMembership, Learner_NeverCampaigns) {
  // Thesis §4.2.1: a non-voting member receives the log but takes no part in elections.
  net.found(Membership({voter(1), voter(2), voter(3), learner(4)}));
  net.queue.clear();
  for (int t = 0; t < 50 * kElectionTicks; ++t) net.tick(4);
  node(4).campaign();
  net.take_all();
  EXPECT_EQ(campaign_messages_from(net.queue, 4), 0u);
  EXPECT_EQ(node(4).role(), Role::kFollower);
  EXPECT_EQ(node(4).term(), Term{1});

  for (int t = 0; t < 2 * kElectionTicks; ++t) net.tick(3);
  EXPECT_GT(campaign_messages_from(net.queue, 3), 0u) << "as many ticks make a voter campaign";
  for (const Message& m : net.queue) EXPECT_NE(m.to, NodeId{4}) << "a learner is not asked";
}

TEST_F(RaftMembership, Learner_OneVoterAndTwoLearners_CommitsWithTheVoterAlone) {
  // Thesis §4.2.1: only voters count toward a majority; learners still receive every entry.
  net.found(Membership({voter(1), learner(2), learner(3)}));
  net.isolated = {2, 3};
  node(1).campaign();
  ASSERT_EQ(node(1).role(), Role::kLeader);
  const ProposeResult p = node(1).propose("x");
  ASSERT_EQ(p.status, ProposeStatus::kOk);
  net.take_all();
  EXPECT_EQ(node(1).log().committed(), p.index);

  net.stabilize();
  net.isolated.clear();
  net.tick(1);
  net.stabilize();
  for (uint64_t id : {2, 3}) {
    EXPECT_EQ(node(id).log().last_index(), p.index) << "learner " << id;
    EXPECT_EQ(node(id).log().committed(), p.index) << "learner " << id;
  }
}

TEST_F(RaftMembership, Learner_AckNeverCountsTowardCommit) {
  // Thesis §4.2.1: with voters {1, 2, 3} and learner 4, the leader and the learner are not a
  // majority; a second voter is needed.
  net.found(Membership({voter(1), voter(2), voter(3), learner(4)}));
  ASSERT_TRUE(net.elect(1));
  net.isolated = {2, 3};
  const ProposeResult p = node(1).propose("x");
  ASSERT_EQ(p.status, ProposeStatus::kOk);
  net.take_all();
  net.stabilize();
  EXPECT_EQ(progress(1, 4).match, p.index);
  EXPECT_EQ(node(4).log().last_index(), p.index);
  EXPECT_LT(node(1).log().committed(), p.index);

  net.isolated = {3};
  net.tick(1);
  net.stabilize();
  EXPECT_EQ(node(1).log().committed(), p.index);
}

TEST_F(RaftMembership, AddVoter_StagedUntilCaughtUp_ThenPromotedByLeader) {
  // Thesis §4.2.1: a new server joins as a non-voter and becomes a voter only once it has caught
  // up, so it never holds up commits while it copies the log.
  Opts o;
  o.max_msg_bytes = 1;
  ASSERT_TRUE(three_with_leader_1(o));
  for (int k = 0; k < 4; ++k) node(1).propose("e" + std::to_string(k));
  net.take_all();
  net.stabilize();
  net.add(4, o);
  net.isolated = {4};

  const ProposeResult r = node(1).propose_conf_change(add_voter(4));
  ASSERT_EQ(r.status, ProposeStatus::kOk);
  const Member* staged = node(1).membership().find(NodeId{4});
  ASSERT_NE(staged, nullptr);
  EXPECT_FALSE(staged->voter);
  EXPECT_TRUE(staged->staged);
  EXPECT_EQ(ids(node(1).voters()), (std::vector<uint64_t>{1, 2, 3}));
  net.take_all();
  net.stabilize();
  ASSERT_GE(node(1).log().committed(), r.index) << "a staged member is not needed to commit";
  net.tick_and_stabilize(1, 3);
  EXPECT_FALSE(node(1).membership().is_voter(NodeId{4})) << "promoted before catching up";
  EXPECT_EQ(node(1).configs().current_index(), r.index);

  net.isolated.clear();
  net.tick(1);
  bool saw_partial_catch_up = false;
  LogIndex promoted_at;
  while (net.deliver_one()) {
    const LogIndex match = progress(1, 4).match;
    if (!node(1).membership().is_voter(NodeId{4})) {
      saw_partial_catch_up |= match.v > 0 && match < r.index;
    } else if (promoted_at.v == 0) {
      promoted_at = node(1).configs().current_index();
      EXPECT_GE(match, r.index) << "promoted before it held the config that added it";
    }
  }
  EXPECT_TRUE(saw_partial_catch_up);
  ASSERT_GT(promoted_at, r.index);
  const Entry& promotion = node(1).log().at(promoted_at);
  ASSERT_EQ(promotion.type, EntryType::kConfig);
  auto m = Membership::decode(promotion.data);
  ASSERT_TRUE(m.ok());
  ASSERT_NE(m->find(NodeId{4}), nullptr);
  EXPECT_TRUE(m->find(NodeId{4})->voter);
  EXPECT_FALSE(m->find(NodeId{4})->staged);
  EXPECT_EQ(ids(node(1).voters()), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_GE(node(1).log().committed(), promoted_at);
  EXPECT_TRUE(node(4).membership().is_voter(NodeId{4}));
}

// ---- removal (thesis §4.2.2, §4.2.3) ----------------------------------------------------------

TEST_F(RaftMembership, RemovedLeader_LeadsUntilCommitted_WithoutCountingItself) {
  // Thesis §4.2.2: a leader removing itself manages the cluster until the new config commits,
  // counting only the new config's voters (not itself), then steps down.
  ASSERT_TRUE(three_with_leader_1());
  net.isolated = {3};
  const ProposeResult r = node(1).propose_conf_change(remove(1));
  ASSERT_EQ(r.status, ProposeStatus::kOk);
  EXPECT_FALSE(node(1).membership().contains(NodeId{1}));
  EXPECT_EQ(ids(node(1).voters()), (std::vector<uint64_t>{2, 3}));
  net.take_all();
  net.stabilize();
  EXPECT_GE(progress(1, 2).match, r.index);
  EXPECT_LT(node(1).log().committed(), r.index) << "leader + node 2 is no majority of {2, 3}";
  EXPECT_EQ(node(1).role(), Role::kLeader);
  const ProposeResult p = node(1).propose("still leading");
  EXPECT_EQ(p.status, ProposeStatus::kOk);
  net.take_all();

  net.isolated.clear();
  net.tick(1);
  net.stabilize();
  EXPECT_GE(node(1).log().committed(), r.index);
  EXPECT_EQ(node(1).role(), Role::kFollower);
  EXPECT_EQ(node(1).progress().size(), 0u);
}

TEST_F(RaftMembership, RemovedNode_NeverCampaigns) {
  // Thesis §4.2.3: a server whose log no longer names it must not start elections.
  Raft& f = net.add(3);
  f.bootstrap(three_voters());
  net.take_all();
  f.step(app(1, 3, 2, 1, 1, {config_entry(2, 2, Membership({voter(1), voter(2)}))}, 2));
  net.take_all();
  ASSERT_FALSE(f.membership().contains(NodeId{3}));
  ASSERT_EQ(f.log().committed(), LogIndex{2});
  net.queue.clear();

  for (int t = 0; t < 50 * kElectionTicks; ++t) net.tick(3);
  f.campaign();
  net.take_all();
  EXPECT_EQ(campaign_messages_from(net.queue, 3), 0u);
  EXPECT_EQ(f.role(), Role::kFollower);
  EXPECT_EQ(f.term(), Term{2});
}

TEST_F(RaftMembership, RemovedLeader_AfterSteppingDown_NeverCampaigns) {
  // Thesis §4.2.2-4.2.3: once out of the configuration, the old leader stays quiet, and the
  // remaining voters elect a leader among themselves.
  ASSERT_TRUE(three_with_leader_1());
  const ProposeResult r = node(1).propose_conf_change(remove(1));
  ASSERT_EQ(r.status, ProposeStatus::kOk);
  net.take_all();
  net.stabilize();
  ASSERT_EQ(node(1).role(), Role::kFollower);
  const size_t before = net.trace.size();

  for (int t = 0; t < 5 * kElectionTicks; ++t) {
    for (uint64_t id : {1, 2, 3}) net.tick(id);
    net.stabilize();
  }
  const std::vector<Message> after(net.trace.begin() + static_cast<std::ptrdiff_t>(before),
                                   net.trace.end());
  EXPECT_EQ(campaign_messages_from(after, 1), 0u);
  EXPECT_EQ(node(1).role(), Role::kFollower);
  EXPECT_TRUE(node(2).role() == Role::kLeader || node(3).role() == Role::kLeader);
}

TEST_F(RaftMembership, LeaderThatRemovedItselfUncommitted_LeadsAgainToCommitIt) {
  // Found by the long sweep (seed 14468 of build 1b27f2e): of voters {1, 2}, leader 2 proposed
  // removing itself and died with that entry on its own disk only. Node 1's config still needs
  // node 2's vote, which node 2 refuses it (its log is longer); and node 2, out of its latest
  // config, never campaigned: no leader, ever. A node that config removed, while it is
  // uncommitted, may lead to commit it, counting only the new config's voters (thesis §4.2.2;
  // Hashicorp's rule): node 2 wins with node 1's vote, commits its own removal, steps down, and
  // node 1 leads alone.
  const Membership two({voter(1), voter(2)});
  net.found(two);
  ASSERT_TRUE(net.elect(2));
  net.isolated = {2};
  const ProposeResult r = node(2).propose_conf_change(remove(2));
  ASSERT_EQ(r.status, ProposeStatus::kOk);
  net.take_all();
  net.queue.clear();
  ASSERT_FALSE(node(2).membership().contains(NodeId{2}));
  ASSERT_TRUE(node(2).was_member());

  // Node 2 restarts from its disk (hard state, log with the removal), told it was a member.
  RaftConfig c = config(2, 0);
  c.was_member = true;
  std::vector<Entry> log;
  for (LogIndex i = node(2).log().first_index(); i <= node(2).log().last_index(); ++i) log.push_back(node(2).log().at(i));
  const HardState hs = node(2).hard_state();
  net.nodes.erase(2);
  net.Network::add(c, RaftStorage{hs, std::nullopt, log, LogIndex{0}});
  net.isolated.clear();
  for (int t = 0; t < 10 * kElectionTicks && node(1).role() != Role::kLeader; ++t) {
    net.tick(1);
    net.tick(2);
    net.stabilize();
  }
  EXPECT_EQ(node(1).role(), Role::kLeader);
  EXPECT_EQ(ids(node(1).voters()), (std::vector<uint64_t>{1}));
  EXPECT_GE(node(1).log().committed(), r.index);
  EXPECT_GE(node(2).log().committed(), r.index);
  EXPECT_EQ(node(2).role(), Role::kFollower);
}

TEST_F(RaftMembership, RemovedNode_VotesIfItWasAMember) {
  // Thesis §4.2.2: servers answer RPCs without consulting their configuration, which is safe for
  // a node that remembers its votes: one that was a member in this life.
  Raft& f = net.add(3);
  f.bootstrap(three_voters());
  net.take_all();
  ASSERT_TRUE(f.was_member());
  f.step(app(1, 3, 2, 1, 1, {config_entry(2, 2, Membership({voter(1), voter(2)}))}, 1));
  net.take_all();
  ASSERT_FALSE(f.membership().contains(NodeId{3}));
  for (int t = 0; t < kElectionTicks; ++t) net.tick(3);  // no longer hears a leader
  net.queue.clear();
  f.step(vote_req(MessageType::kVote, 2, 3, 3, 2, 2));
  net.take_all();
  const std::vector<Message> resps = of(net.queue, MessageType::kVoteResp, 2);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_FALSE(resps[0].reject);
}

TEST_F(RaftMembership, RemovedNodeThatWasNeverAMember_RefusesVotes) {
  // The same log on a node that never was a member in this life (its id's earlier life may have
  // voted): no vote.
  Raft& f = net.add(3);
  f.bootstrap(Membership({voter(1), voter(2)}));
  net.take_all();
  net.queue.clear();
  ASSERT_FALSE(f.was_member());
  f.step(vote_req(MessageType::kVote, 1, 3, 2, 1, 1));
  net.take_all();
  const std::vector<Message> resps = of(net.queue, MessageType::kVoteResp, 1);
  ASSERT_EQ(resps.size(), 1u);
  EXPECT_TRUE(resps[0].reject);
}

// ---- incarnations (a wiped node is a new member, thesis §4.2.1 and §3.8 persistence) ----------

TEST_F(RaftMembership, NodeNotNamedByItsOwnConfig_RefusesVotes) {
  // Figure 2 requires a voter to remember its votes; a node whose config names another life of
  // its id (it lost its disk) has forgotten them and must not vote.
  const Membership m({voter(1, 11), voter(2, 12), voter(3, 13)});
  Raft& wiped = net.add(2, {}, 99);
  wiped.bootstrap(m);
  Raft& same = net.add(3, {}, 13);
  same.bootstrap(m);
  net.take_all();
  net.queue.clear();

  for (MessageType type : {MessageType::kPreVote, MessageType::kVote}) {
    for (uint64_t to : {2, 3}) {
      Message req = vote_req(type, 1, to, 2, 1, 1);
      req.from_incarnation = 11;
      node(to).step(req);
    }
    net.take_all();
    const MessageType resp_type =
        type == MessageType::kVote ? MessageType::kVoteResp : MessageType::kPreVoteResp;
    const std::vector<Message> resps = of(net.queue, resp_type, 1);
    ASSERT_EQ(resps.size(), 2u);
    for (const Message& resp : resps) {
      EXPECT_EQ(resp.reject, resp.from.v == 2) << to_string(type) << " answered by " << resp.from.v;
    }
    net.queue.clear();
  }
  EXPECT_EQ(wiped.vote(), kNoNode);
  EXPECT_EQ(same.vote(), NodeId{1});

  for (int t = 0; t < 50 * kElectionTicks; ++t) net.tick(2);
  EXPECT_EQ(campaign_messages_from(net.queue, 2), 0u);
}

TEST_F(RaftMembership, StaleIncarnationAppendResponse_IgnoredByLeader) {
  // A reply from an earlier life of a member (before its disk was wiped) acknowledges entries
  // the current one may not hold (Raft §5.3: match only moves on a true acknowledgement).
  net.found(Membership({voter(1, 11), voter(2, 12), voter(3, 13)}));
  ASSERT_TRUE(net.elect(1));
  net.isolated = {2, 3};
  const ProposeResult p = node(1).propose("x");
  ASSERT_EQ(p.status, ProposeStatus::kOk);
  net.take_all();
  net.stabilize();
  const LogIndex match_before = progress(1, 2).match;

  Message ack = msg(MessageType::kAppResp, 2, 1, node(1).term().v);
  ack.index = p.index;
  ack.from_incarnation = 99;
  node(1).step(ack);
  net.take_all();
  EXPECT_EQ(progress(1, 2).match, match_before);
  EXPECT_LT(node(1).log().committed(), p.index);

  ack.from_incarnation = 12;
  node(1).step(ack);
  net.take_all();
  EXPECT_EQ(progress(1, 2).match, p.index);
  EXPECT_EQ(node(1).log().committed(), p.index);
  net.queue.clear();
}

TEST_F(RaftMembership, StaleIncarnationVote_NotCounted) {
  // Figure 2 (one vote per term, remembered): a grant from an earlier life of a voter is not a
  // vote of the member the config names.
  Opts o;
  o.pre_vote = false;
  net.found(Membership({voter(1, 11), voter(2, 12), voter(3, 13)}), o);
  node(1).campaign();
  net.take_all();
  ASSERT_EQ(node(1).role(), Role::kCandidate);
  net.queue.clear();

  Message grant = msg(MessageType::kVoteResp, 2, 1, node(1).term().v);
  grant.from_incarnation = 99;
  node(1).step(grant);
  EXPECT_EQ(node(1).role(), Role::kCandidate);
  grant.from_incarnation = 12;
  node(1).step(grant);
  EXPECT_EQ(node(1).role(), Role::kLeader);
  net.take_all();
  net.queue.clear();
}

// ---- leadership transfer (thesis §3.10) -------------------------------------------------------

TEST_F(RaftTransfer, CaughtUpTarget_GetsTimeoutNowAtOnce) {
  // Thesis §3.10: once the target's log matches, the leader sends it TimeoutNow.
  ASSERT_TRUE(three_with_leader_1());
  ASSERT_EQ(progress(1, 2).match, node(1).log().last_index());
  EXPECT_TRUE(node(1).transfer_leadership(NodeId{2}));
  EXPECT_EQ(node(1).lead_transferee(), NodeId{2});
  const std::vector<Message> out = all(net.take(1));
  EXPECT_EQ(of(out, MessageType::kTimeoutNow, 2).size(), 1u);
  EXPECT_TRUE(of(out, MessageType::kTimeoutNow, 3).empty());
  net.stabilize();
  EXPECT_EQ(node(2).role(), Role::kLeader);
  EXPECT_EQ(node(1).role(), Role::kFollower);
}

TEST_F(RaftTransfer, BehindTarget_IsCaughtUpBeforeTimeoutNow) {
  // Thesis §3.10 step 1: the leader first brings the target's log up to date.
  ASSERT_TRUE(three_with_leader_1());
  net.isolated = {2};
  for (int k = 0; k < 3; ++k) node(1).propose("e" + std::to_string(k));
  net.take_all();
  net.stabilize();
  net.isolated.clear();
  const LogIndex last = node(1).log().last_index();
  ASSERT_LT(progress(1, 2).match, last);

  ASSERT_TRUE(node(1).transfer_leadership(NodeId{2}));
  net.take_all();
  EXPECT_TRUE(of(net.queue, MessageType::kTimeoutNow).empty());
  EXPECT_FALSE(of(net.queue, MessageType::kApp, 2).empty());
  const size_t before = net.trace.size();
  net.stabilize();

  size_t caught_up_at = 0;
  size_t timeout_now_at = 0;
  for (size_t k = before; k < net.trace.size(); ++k) {
    const Message& m = net.trace[k];
    if (caught_up_at == 0 && m.type == MessageType::kAppResp && m.from.v == 2 && !m.reject &&
        m.index == last) {
      caught_up_at = k;
    }
    if (timeout_now_at == 0 && m.type == MessageType::kTimeoutNow) timeout_now_at = k;
  }
  ASSERT_NE(caught_up_at, 0u);
  ASSERT_NE(timeout_now_at, 0u);
  EXPECT_LT(caught_up_at, timeout_now_at);
  EXPECT_EQ(node(2).role(), Role::kLeader);
  EXPECT_GE(node(2).log().last_index(), last);
}

TEST_F(RaftTransfer, ProposalsDroppedWhileTransferring) {
  // Thesis §3.10: during a transfer the leader stops accepting client requests, which would only
  // keep the target behind.
  ASSERT_TRUE(three_with_leader_1());
  net.isolated = {2};
  ASSERT_TRUE(node(1).transfer_leadership(NodeId{2}));
  net.take_all();
  const LogIndex last = node(1).log().last_index();
  EXPECT_EQ(node(1).propose("x").status, ProposeStatus::kDropped);
  EXPECT_EQ(node(1).propose_conf_change(add_learner(4)).status, ProposeStatus::kDropped);
  EXPECT_EQ(node(1).log().last_index(), last);
  EXPECT_FALSE(node(1).membership().contains(NodeId{4}));
  net.queue.clear();
}

TEST_F(RaftTransfer, Target_CampaignsAtOnceWithoutPreVote_FollowersInLeaseGrant) {
  // Thesis §3.10: TimeoutNow makes the target start an election at once; it is the leader's own
  // wish, so neither pre-vote (§9.6) nor leader stickiness (§4.2.3) holds it back.
  ASSERT_TRUE(three_with_leader_1());
  net.tick(1);
  net.stabilize();
  const Term term = node(1).term();

  Message plain = vote_req(MessageType::kVote, 2, 3, term.v + 1, node(2).log().last_index().v,
                           node(2).log().last_term().v);
  node(3).step(plain);
  net.take_all();
  ASSERT_TRUE(net.queue.empty()) << "node 3 hears a leader: a vote request is ignored";
  ASSERT_EQ(node(3).term(), term);

  ASSERT_TRUE(node(1).transfer_leadership(NodeId{2}));
  net.take_all();
  ASSERT_TRUE(
      net.deliver_first([](const Message& m) { return m.type == MessageType::kTimeoutNow; }));
  EXPECT_EQ(node(2).role(), Role::kCandidate);
  EXPECT_EQ(node(2).term(), term + 1);
  EXPECT_TRUE(of(net.queue, MessageType::kPreVote).empty());
  const std::vector<Message> votes = of(net.queue, MessageType::kVote);
  ASSERT_EQ(votes.size(), 2u);
  for (const Message& v : votes) EXPECT_TRUE(v.transfer);

  ASSERT_TRUE(net.deliver_first(
      [](const Message& m) { return m.type == MessageType::kVote && m.to.v == 3; }));
  const std::vector<Message> grants = of(net.queue, MessageType::kVoteResp, 2);
  ASSERT_EQ(grants.size(), 1u);
  EXPECT_FALSE(grants[0].reject);
  net.stabilize();
  EXPECT_EQ(node(2).role(), Role::kLeader);
  EXPECT_EQ(node(2).term(), term + 1);
  EXPECT_EQ(node(1).role(), Role::kFollower);
  EXPECT_EQ(node(1).lead(), NodeId{2});
}

TEST_F(RaftTransfer, UnfinishedTransfer_AbandonedAfterElectionTimeout) {
  // Thesis §3.10: a transfer that does not complete within an election timeout is aborted and
  // the leader accepts client requests again.
  ASSERT_TRUE(three_with_leader_1());
  net.isolated = {2};
  ASSERT_TRUE(node(1).transfer_leadership(NodeId{2}));
  net.take_all();
  net.tick_and_stabilize(1, kElectionTicks - 1);
  EXPECT_EQ(node(1).lead_transferee(), NodeId{2});
  EXPECT_EQ(node(1).propose("x").status, ProposeStatus::kDropped);

  net.tick(1);
  net.stabilize();
  EXPECT_EQ(node(1).role(), Role::kLeader);
  EXPECT_EQ(node(1).lead_transferee(), kNoNode);
  EXPECT_EQ(node(1).propose("x").status, ProposeStatus::kOk);
  net.take_all();
  net.stabilize();
}

TEST_F(RaftTransfer, OnlyALeaderTransfers_AndOnlyToAnotherVoter) {
  // Thesis §3.10: the target must be a server that could win an election: a voter.
  net.found(Membership({voter(1), voter(2), voter(3), learner(4)}));
  ASSERT_TRUE(net.elect(1));
  EXPECT_FALSE(node(1).transfer_leadership(NodeId{4}));
  EXPECT_FALSE(node(1).transfer_leadership(NodeId{1}));
  EXPECT_FALSE(node(1).transfer_leadership(NodeId{9}));
  EXPECT_FALSE(node(2).transfer_leadership(NodeId{3}));
  EXPECT_EQ(node(1).lead_transferee(), kNoNode);
  EXPECT_EQ(node(1).propose("x").status, ProposeStatus::kOk);

  Message forged = msg(MessageType::kTimeoutNow, 1, 4, node(1).term().v);
  node(4).step(forged);
  net.take_all();
  EXPECT_EQ(node(4).role(), Role::kFollower) << "a learner cannot be made to campaign";
  net.stabilize();
}

TEST_F(RaftTransfer, TimeoutNowFromNonLeader_Ignored) {
  // Thesis §3.10: only the current leader can hand over leadership.
  ASSERT_TRUE(three_with_leader_1());
  node(3).step(msg(MessageType::kTimeoutNow, 2, 3, node(3).term().v));
  net.take_all();
  EXPECT_EQ(node(3).role(), Role::kFollower);
  EXPECT_EQ(campaign_messages_from(net.queue, 3), 0u);
}

// ---- the teardown checker must be able to fail ------------------------------------------------

TEST(RaftMembershipChecker, CatchesTwoLeadersOfOneTerm) {
  // STYLE §6: a checker that never fails proves nothing.
  Network bad;
  ASSERT_NO_FATAL_FAILURE(add_two_lone_leaders(bad));
  EXPECT_NONFATAL_FAILURE(check_invariants(bad), "Election Safety");
}

}  // namespace
}  // namespace rq::raft
