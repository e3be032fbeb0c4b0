// Why catalogue bug M5 (a follower commits min(leaderCommit, its last index) instead of
// min(leaderCommit, the last entry the message carried)) cannot bite in this design, pinned as a
// property: every AppendEntries a follower accepts from its leader leaves no entry of another
// leader's beyond the entries it carried. The stale tail a follower brings into a term is cut in
// the same message that first reaches it, because
//   - the leader probes from its own last index and moves `next` down only on a rejection, to at
//     least the follower's hint + 1 (Progress::maybe_decr_to), and the hint
//     (RaftLog::find_conflict_by_term) never goes below the last index where the two logs agree:
//     the follower's terms there equal the leader's, which are <= the term of the rejected entry;
//   - so the first append accepted has prevLogIndex >= that last agreeing index; one past it
//     would be rejected (that entry differs), so it is exactly it, and its first entry conflicts
//     with the stale tail, which is cut (Figure 2, receiver rule 3);
//   - an append with no entries has prevLogIndex = the leader's last index, which holds its own
//     term's no-op, so it cannot be the last agreeing index of a follower with a stale tail;
//   - a follower answers an append from an older term (its leader's own, arriving late) with a
//     rejection at index 0, which no leader acts upon, not an acceptance that would read as a
//     probe answered at match 0 and send the leader back to index 1;
//   - a follower acknowledges only after the cut is durable (the acknowledgement waits for the
//     sync), and the log store writes an entry that replaces a suffix as one record: a crash
//     cannot bring the cut tail back after the leader learned of it.
// With the rule broken (M5) min(leaderCommit, last index) would then equal min(leaderCommit, last
// new entry) in every accepted append; the property checks the premise directly, under lost,
// duplicated and reordered messages, with one entry per message and any window.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>

#include "core/prng.h"
#include "tests/core/raft_test_cluster.h"

namespace rq::raft::test {
namespace {

// Entries prefix+1.. of `suffix_terms`, after a prefix with `prefix_terms`.
std::vector<Entry> make_log(const std::vector<uint64_t>& prefix_terms, const std::vector<uint64_t>& suffix_terms) {
  std::vector<Entry> out;
  uint64_t i = 1;
  for (uint64_t t : prefix_terms) out.push_back(ent(i++, t));
  for (uint64_t t : suffix_terms) out.push_back(ent(i++, t));
  return out;
}

// Non-decreasing terms from `lo`, each of the given parity (the leader's suffix takes even terms,
// the follower's odd ones: no (index, term) is shared, as Log Matching requires of diverged logs).
std::vector<uint64_t> suffix_terms(size_t n, uint64_t lo, uint64_t parity) {
  std::vector<uint64_t> out;
  uint64_t t = lo;
  for (size_t k = 0; k < n; ++k) {
    t += *rc::gen::inRange<uint64_t>(0, 2);
    if (t % 2 != parity) ++t;
    out.push_back(t);
  }
  return out;
}

// Whether node 2's log still differs from node 1's.
bool node_differs(Network& net) {
  const RaftLog& f = net.node(2).log();
  const RaftLog& l = net.node(1).log();
  if (f.last_index() != l.last_index()) return true;
  for (LogIndex i = std::max(f.first_index(), l.first_index()); i <= f.last_index(); ++i) {
    if (f.term(i) != l.term(i)) return true;
  }
  return false;
}

// Watches node 2's acknowledgements: each must leave node 2 with nothing beyond the index it
// acknowledges except entries the leader (node 1) has too.
class WatchedNetwork : public Network {
 public:
  using Network::Network;
  size_t accepted = 0;
  size_t violations = 0;

 protected:
  void send(Message m) override {
    if (m.from.v == 2 && m.to.v == 1 && m.type == MessageType::kAppResp && !m.reject) {
      ++accepted;
      const RaftLog& f = node(2).log();
      const RaftLog& l = node(1).log();
      for (LogIndex i = m.index + 1; i <= f.last_index(); ++i) {
        if (l.term(i) != f.term(i)) ++violations;
      }
    }
    Network::send(std::move(m));
  }
};

RC_GTEST_PROP(RaftBacktracking, AcceptedAppend_LeavesNoStaleEntryBeyondWhatItCarried, ()) {
  const auto prefix_len = *rc::gen::inRange<size_t>(0, 6);
  std::vector<uint64_t> prefix;
  uint64_t t = 1;
  for (size_t k = 0; k < prefix_len; ++k) {
    t += *rc::gen::inRange<uint64_t>(0, 2);
    prefix.push_back(t);
  }
  const std::vector<uint64_t> lead = suffix_terms(*rc::gen::inRange<size_t>(0, 6), t + 1, 0);
  const std::vector<uint64_t> foll = suffix_terms(*rc::gen::inRange<size_t>(1, 8), t + 1, 1);
  uint64_t top = t;
  for (uint64_t x : lead) top = std::max(top, x);
  for (uint64_t x : foll) top = std::max(top, x);
  Opts o;
  o.max_msg_bytes = 1;  // one entry per message
  o.max_inflight = *rc::gen::element<size_t>(1, 2, 256);
  const uint64_t seed = *rc::gen::arbitrary<uint64_t>();

  WatchedNetwork net(seed);
  // Node 1 leads with its log; node 2 has a stale tail; node 3 (empty) gives node 1 its majority.
  net.add(1, 3, make_log(prefix, lead), HardState{Term{top}, kNoNode, LogIndex{0}}, o);
  // Node 2 is already in the term node 1 is about to win (it heard of it, without voting).
  net.add(2, 3, make_log(prefix, foll), HardState{Term{top + 1}, kNoNode, LogIndex{0}}, o);
  net.add(3, 3, {}, HardState{Term{top}, kNoNode, LogIndex{0}}, o);
  net.isolated.insert(2);
  RC_ASSERT(net.elect(1));
  RC_ASSERT(net.node(1).term() == Term{top + 1});
  net.isolated.clear();

  // Lost, duplicated and reordered messages; heartbeats resend what was lost. Now and then an
  // append node 1 sent in its previous term arrives late: node 2 answers it with the notice
  // meant for a stale leader, which reaches node 1, the leader of node 2's term.
  Prng p(seed);
  const uint64_t prev_index = prefix.size();
  const uint64_t prev_term = prefix.empty() ? 0 : prefix.back();
  for (int round = 0; round < 400 && node_differs(net); ++round) {
    if (p.chance_ppm(50'000)) net.queue.push_back(app(1, 2, top, prev_index, prev_term, {}, 0));
    if (net.queue.empty()) {
      net.tick(1);
      continue;
    }
    const size_t k = p.chance_ppm(300'000) ? p.below(net.queue.size()) : 0;
    Message m = net.queue[k];
    net.queue.erase(net.queue.begin() + static_cast<std::ptrdiff_t>(k));
    if (p.chance_ppm(100'000)) continue;                   // lost
    if (p.chance_ppm(100'000)) net.queue.push_back(m);     // duplicated, arrives later
    net.deliver(m);
  }
  RC_ASSERT(net.violations == 0u);
  RC_ASSERT(net.accepted > 0u);
  RC_ASSERT(!node_differs(net));  // and it converged
}

}  // namespace
}  // namespace rq::raft::test

namespace rq::raft::test {
namespace {

class RaftProbe : public ClusterTest<> {};

// Long sweep seed 41327 (3 nodes, one entry or two per message, 10% of messages reordered, 3%
// replayed): a follower catching up sent the leader rejections of appends that overtook their
// predecessors, and acknowledgements of its match for appends that arrived late. The leader took
// every such acknowledgement as the answer to its probe (as etcd does), became Replicate and sent
// the whole window again, whose reordered appends brought new rejections: each window begot
// several, and 19 million messages were sent in 7.8 simulated seconds. An acknowledgement answers
// a probe only if it acknowledges what the probe carried.
TEST_F(RaftProbe, StaleAckOfMatch_DoesNotAnswerAProbeThatCarriedEntries) {
  Opts o;
  o.max_msg_bytes = 1;  // one entry per append
  net.add_cluster(3, o);
  ASSERT_TRUE(net.elect(1));
  net.stabilize();
  const LogIndex match = progress(1, 2).match;
  ASSERT_EQ(progress(1, 2).state, ProgressState::kReplicate);
  for (int k = 0; k < 6; ++k) ASSERT_EQ(node(1).propose("x").status, ProposeStatus::kOk);
  net.take(1);  // the window to node 2 is "in flight"
  net.queue.clear();
  const uint64_t term = node(1).term().v;

  // A reordered append (prev = match + 3) reached node 2 before its predecessors: rejected.
  Message rej = msg(MessageType::kAppResp, 2, 1, term);
  rej.index = match + 3;
  rej.reject = true;
  rej.reject_hint = match;
  rej.log_term = node(1).log().term(match).value();
  node(1).step(rej);
  ASSERT_EQ(progress(1, 2).state, ProgressState::kProbe);
  std::vector<Message> probe = of(all(net.take(1)), MessageType::kApp, 2);
  ASSERT_EQ(probe.size(), 1u);
  ASSERT_EQ(probe[0].index, match);
  ASSERT_EQ(probe[0].entries.size(), 1u);

  // A late acknowledgement of `match` (an older append, duplicated or delayed): not the answer.
  Message stale = msg(MessageType::kAppResp, 2, 1, term);
  stale.index = match;
  node(1).step(stale);
  EXPECT_EQ(progress(1, 2).state, ProgressState::kProbe);
  EXPECT_TRUE(of(all(net.take(1)), MessageType::kApp, 2).empty()) << "a window sent again";

  // The probe's own answer moves the follower to Replicate and the window follows.
  Message ack = msg(MessageType::kAppResp, 2, 1, term);
  ack.index = match + 1;
  node(1).step(ack);
  EXPECT_EQ(progress(1, 2).state, ProgressState::kReplicate);
  EXPECT_EQ(of(all(net.take(1)), MessageType::kApp, 2).size(), 5u);
  net.queue.clear();
}

TEST_F(RaftProbe, AckOfMatch_AnswersAnEmptyProbe) {
  // A follower that holds everything is probed with an empty append at its match; the answer is
  // an acknowledgement of match, and it must still end the probe (etcd's heartbeat recovery).
  net.add_cluster(3);
  ASSERT_TRUE(net.elect(1));
  net.stabilize();
  const LogIndex last = node(1).log().last_index();
  ASSERT_EQ(progress(1, 2).match, last);
  const uint64_t term = node(1).term().v;
  Message rej = msg(MessageType::kAppResp, 2, 1, term);
  rej.index = last + 1;  // nothing was sent there; any rejection above match moves it to probe
  rej.reject = true;
  rej.reject_hint = last;
  rej.log_term = node(1).log().term(last).value();
  node(1).step(rej);
  ASSERT_EQ(progress(1, 2).state, ProgressState::kProbe);
  std::vector<Message> probe = of(all(net.take(1)), MessageType::kApp, 2);
  ASSERT_EQ(probe.size(), 1u);
  ASSERT_TRUE(probe[0].entries.empty());
  Message ack = msg(MessageType::kAppResp, 2, 1, term);
  ack.index = last;
  node(1).step(ack);
  EXPECT_EQ(progress(1, 2).state, ProgressState::kReplicate);
  net.queue.clear();
}

}  // namespace
}  // namespace rq::raft::test
