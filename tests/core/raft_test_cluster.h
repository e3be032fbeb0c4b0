// The deterministic harness the Raft paper tests share (raft_paper_test, raft_membership_test,
// raft_snapshot_test): gtest printers, message builders and filters, a Network that moves messages
// between rq::raft::Raft nodes and runs their ready/advance loop, and the invariants every fixture
// checks at teardown. Extensions (a snapshot driver, nodes without static voters) subclass Network
// in the test file that needs them.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <utility>
#include <vector>

#include "core/raft/raft.h"

// ---- printers for gtest's failure messages ------------------------------------------------------

namespace rq {
template <class Tag>
inline void PrintTo(const Counter<Tag>& c, std::ostream* os) {
  *os << c.v;
}
inline void PrintTo(const NodeId& n, std::ostream* os) {
  *os << "node " << n.v;
}
namespace raft {
inline void PrintTo(const Entry& e, std::ostream* os) {
  *os << "{i=" << e.index.v << " t=" << e.term.v
      << (e.type == EntryType::kNoop     ? " noop"
          : e.type == EntryType::kConfig ? " config"
                                         : "")
      << " " << e.data.size() << "B}";
}
inline void PrintTo(const Message& m, std::ostream* os) {
  *os << to_string(m.type) << " " << m.from.v << "->" << m.to.v << " term=" << m.term.v
      << " log_term=" << m.log_term.v << " index=" << m.index.v << " commit=" << m.commit.v
      << " entries=" << m.entries.size();
  if (m.type == MessageType::kSnap || m.type == MessageType::kSnapResp) {
    *os << " snap=" << m.snapshot.index.v << " offset=" << m.offset << " len=" << m.chunk_len;
  }
  if (m.transfer) *os << " transfer";
  if (m.reject) *os << " reject hint=" << m.reject_hint.v;
}
inline void PrintTo(const Membership& ms, std::ostream* os) {
  *os << "{";
  for (const Member& m : ms.members()) {
    *os << " " << m.id.v << (m.voter ? "v" : m.staged ? "s" : "l");
    if (m.incarnation != 0) *os << "#" << m.incarnation;
  }
  *os << " }";
}
inline void PrintTo(const SnapshotMeta& s, std::ostream* os) {
  *os << "{snapshot i=" << s.index.v << " t=" << s.term.v << " " << s.size << "B "
      << s.membership.members().size() << " members}";
}
inline void PrintTo(Role r, std::ostream* os) {
  *os << to_string(r);
}
inline void PrintTo(MessageType t, std::ostream* os) {
  *os << to_string(t);
}
inline void PrintTo(ProposeStatus s, std::ostream* os) {
  static const char* const kNames[] = {"ok", "not_leader", "dropped", "config_pending", "invalid"};
  *os << kNames[static_cast<int>(s)];
}
inline void PrintTo(ProgressState s, std::ostream* os) {
  *os << (s == ProgressState::kProbe       ? "probe"
          : s == ProgressState::kReplicate ? "replicate"
                                           : "snapshot");
}
}  // namespace raft
}  // namespace rq

namespace rq::raft::test {

// ---- configs, entries, messages -----------------------------------------------------------------

constexpr int kElectionTicks = 10;

// The knobs tests turn; the defaults are RaftConfig's.
struct Opts {
  bool pre_vote = true;
  bool check_quorum = true;
  // Off: tests hold elections on nodes created moments ago, standing for nodes up for a while.
  bool quiet_after_start = false;
  size_t max_inflight = 256;
  uint64_t max_msg_bytes = 1 << 20;
};

// Node `id` whose static voters are 1..n_voters (none for n_voters == 0), heartbeating every tick.
inline RaftConfig config(uint64_t id, uint64_t n_voters, const Opts& o = {}) {
  RaftConfig c;
  c.id = NodeId{id};
  for (uint64_t v = 1; v <= n_voters; ++v) c.voters.push_back(NodeId{v});
  c.election_ticks = kElectionTicks;
  c.heartbeat_ticks = 1;
  c.max_msg_bytes = o.max_msg_bytes;
  c.max_inflight = o.max_inflight;
  c.pre_vote = o.pre_vote;
  c.check_quorum = o.check_quorum;
  c.quiet_after_start = o.quiet_after_start;
  return c;
}

inline Entry ent(uint64_t index, uint64_t term) {
  return Entry{Term{term}, LogIndex{index}, EntryType::kNormal, {}};
}

// Entries 1..n whose terms are `terms`.
inline std::vector<Entry> log_terms(std::initializer_list<uint64_t> terms) {
  std::vector<Entry> out;
  uint64_t i = 1;
  for (uint64_t t : terms) out.push_back(ent(i++, t));
  return out;
}

inline std::vector<uint64_t> ids(const std::vector<NodeId>& ns) {
  std::vector<uint64_t> out;
  for (NodeId n : ns) out.push_back(n.v);
  return out;
}

inline std::vector<uint64_t> indexes_of(const std::vector<Entry>& ents) {
  std::vector<uint64_t> out;
  for (const Entry& e : ents) out.push_back(e.index.v);
  return out;
}

inline Message msg(MessageType type, uint64_t from, uint64_t to, uint64_t term) {
  Message m;
  m.type = type;
  m.from = NodeId{from};
  m.to = NodeId{to};
  m.term = Term{term};
  return m;
}

// A kVote or kPreVote request from a candidate whose log ends at (last_index, last_term).
inline Message vote_req(MessageType type, uint64_t from, uint64_t to, uint64_t term,
                        uint64_t last_index, uint64_t last_term) {
  Message m = msg(type, from, to, term);
  m.index = LogIndex{last_index};
  m.log_term = Term{last_term};
  return m;
}

inline Message app(uint64_t from, uint64_t to, uint64_t term, uint64_t prev, uint64_t prev_term,
                   std::vector<Entry> ents, uint64_t commit) {
  Message m = msg(MessageType::kApp, from, to, term);
  m.index = LogIndex{prev};
  m.log_term = Term{prev_term};
  m.entries = std::move(ents);
  m.commit = LogIndex{commit};
  return m;
}

// Every message of a Ready, those to send at once and those to send after the sync.
inline std::vector<Message> all(const Ready& rd) {
  std::vector<Message> out = rd.messages;
  out.insert(out.end(), rd.messages_after_sync.begin(), rd.messages_after_sync.end());
  return out;
}

// The messages of `type` in `ms` (only those to node `to`, unless it is 0).
template <class Msgs>
std::vector<Message> of(const Msgs& ms, MessageType type, uint64_t to = 0) {
  std::vector<Message> out;
  for (const Message& m : ms) {
    if (m.type == type && (to == 0 || m.to.v == to)) out.push_back(m);
  }
  return out;
}

// ---- the network --------------------------------------------------------------------------------

// A deterministic network of Raft nodes. Every message a node emits joins one FIFO queue;
// delivering one steps it into its target (unless either end is isolated or `drop` says it is
// lost) and then takes every pending Ready, as a driver that persisted, synced, sent and applied
// it would. A subclass that drives more than that (snapshot files) overrides the hooks below.
class Network {
 public:
  explicit Network(uint64_t seed = 1) : seed_(seed) {}
  virtual ~Network() = default;

  // Node `id` of a cluster whose voters are 1..n_voters, recovering `log` and `hs` from disk.
  Raft& add(uint64_t id, uint64_t n_voters, std::vector<Entry> log = {}, HardState hs = {},
            const Opts& o = {}) {
    const LogIndex applied = hs.commit;
    return add(node_config(id, n_voters, o),
               RaftStorage{hs, std::nullopt, std::move(log), applied});
  }

  // A node with config `c`, recovering `st` from disk.
  Raft& add(const RaftConfig& c, RaftStorage st) {
    auto r = std::make_unique<Raft>(c, Prng(seed_ * 1000 + c.id.v), std::move(st));
    Raft& ref = *r;
    nodes[c.id.v] = std::move(r);
    return ref;
  }

  // Nodes 1..n of a cluster whose voters are 1..n.
  void add_cluster(uint64_t n, const Opts& o = {}) {
    for (uint64_t id = 1; id <= n; ++id) add(id, n, {}, {}, o);
  }

  Raft& node(uint64_t id) { return *nodes.at(id); }

  // One ready/advance round of node `id`; its messages join the queue.
  Ready take(uint64_t id) {
    Raft& r = node(id);
    if (!r.has_ready()) return Ready{};
    Ready rd = r.ready();
    on_ready(id, rd);
    for (const Message& m : rd.messages) send(m);
    for (const Message& m : rd.messages_after_sync) send(m);
    r.advance(rd);
    on_advanced(id, rd);
    return rd;
  }

  void take_all() {
    for (int round = 0; round < 100; ++round) {
      bool any = false;
      for (auto& [id, r] : nodes) {
        if (r->has_ready()) {
          take(id);
          any = true;
        }
      }
      if (!any) return;
    }
    ADD_FAILURE() << "nodes keep producing Readies";
  }

  Message pop() {
    Message m = queue.front();
    queue.pop_front();
    return m;
  }

  void deliver(const Message& m) {
    trace.push_back(m);
    if (isolated.count(m.from.v) > 0 || isolated.count(m.to.v) > 0) return;
    if (drop && drop(m)) return;
    auto it = nodes.find(m.to.v);
    if (it == nodes.end()) return;
    it->second->step(m);
    take_all();
  }

  bool deliver_one() {
    if (queue.empty()) return false;
    deliver(pop());
    return true;
  }

  // Delivers the first queued message that satisfies `pred`, ahead of the others.
  template <class Pred>
  bool deliver_first(Pred pred) {
    for (auto it = queue.begin(); it != queue.end(); ++it) {
      if (pred(*it)) {
        const Message m = *it;
        queue.erase(it);
        deliver(m);
        return true;
      }
    }
    return false;
  }

  // Removes the first queued message that satisfies `pred`, as if the network lost it.
  template <class Pred>
  bool lose_first(Pred pred) {
    for (auto it = queue.begin(); it != queue.end(); ++it) {
      if (pred(*it)) {
        queue.erase(it);
        return true;
      }
    }
    return false;
  }

  void stabilize() {
    for (int k = 0; k < 100000; ++k) {
      if (!deliver_one()) return;
    }
    ADD_FAILURE() << "messages never stop";
  }

  void tick(uint64_t id) {
    node(id).tick();
    take_all();
  }

  // Ticks node `id` `times` times, running the network until quiet after each tick.
  void tick_and_stabilize(uint64_t id, int times) {
    for (int k = 0; k < times; ++k) {
      tick(id);
      stabilize();
    }
  }

  // Campaigns at `id` and runs the network until quiet. True when `id` ended up leader.
  bool elect(uint64_t id) {
    node(id).campaign();
    take_all();
    stabilize();
    return node(id).role() == Role::kLeader;
  }

  std::map<uint64_t, std::unique_ptr<Raft>> nodes;
  std::deque<Message> queue;
  // Every message delivered or dropped, in order.
  std::vector<Message> trace;
  std::set<uint64_t> isolated;
  // Set: the messages it returns true for are lost on delivery (after joining the trace).
  std::function<bool(const Message&)> drop;

 protected:
  // The config add(id, n_voters, ...) gives a node.
  virtual RaftConfig node_config(uint64_t id, uint64_t n_voters, const Opts& o) const {
    return config(id, n_voters, o);
  }
  // Node `id` produced `rd`; called before its messages are sent and before advance().
  virtual void on_ready(uint64_t /*id*/, const Ready& /*rd*/) {}
  // Puts one message a node emitted on the wire.
  virtual void send(Message m) { queue.push_back(std::move(m)); }
  // Node `id` has advanced past `rd`.
  virtual void on_advanced(uint64_t /*id*/, const Ready& /*rd*/) {}

 private:
  uint64_t seed_;
};

// ---- teardown invariants ------------------------------------------------------------------------

// Figure 3's guarantees that can be read off the nodes at any moment, plus the log's own
// invariants. Logs are compared only where both still hold entries (compaction drops a prefix).
inline void check_invariants(const Network& net) {
  std::map<uint64_t, uint64_t> leader_of_term;
  for (const auto& [id, r] : net.nodes) {
    const RaftLog& log = r->log();
    EXPECT_LE(log.applied(), log.committed()) << "node " << id;
    EXPECT_LE(log.committed(), log.last_index()) << "node " << id;
    EXPECT_LE(log.stable(), log.last_index()) << "node " << id;
    EXPECT_LE(log.floor_index(), log.applied()) << "node " << id << " compacted unapplied entries";
    if (r->role() == Role::kLeader) {
      const auto [it, fresh] = leader_of_term.emplace(r->term().v, id);
      EXPECT_TRUE(fresh) << "Election Safety: nodes " << it->second << " and " << id
                         << " both lead term " << r->term().v;
    }
  }
  // State Machine Safety: committed prefixes agree.
  for (const auto& [a, ra] : net.nodes) {
    for (const auto& [b, rb] : net.nodes) {
      if (a >= b) continue;
      const LogIndex lo = std::max(ra->log().first_index(), rb->log().first_index());
      const LogIndex hi = std::min(ra->log().committed(), rb->log().committed());
      for (LogIndex i = lo; i <= hi; ++i) {
        EXPECT_EQ(ra->log().at(i), rb->log().at(i))
            << "nodes " << a << " and " << b << " committed different entries at " << i.v;
      }
    }
  }
}

// For the checker's own tests: nodes 1 and 2, each the only voter of its own cluster, both elect
// themselves in term 1.
inline void add_two_lone_leaders(Network& bad) {
  for (uint64_t id : {1, 2}) {
    RaftConfig c = config(id, 1);
    c.voters = {NodeId{id}};
    bad.nodes[id] =
        std::make_unique<Raft>(c, Prng(id), HardState{}, std::vector<Entry>{}, LogIndex{0});
    bad.node(id).campaign();
    ASSERT_EQ(bad.node(id).role(), Role::kLeader);
  }
}

// A fixture whose network `net` (a Network, or a subclass) must hold the invariants at teardown.
template <class Net = Network>
class ClusterTest : public ::testing::Test {
 protected:
  void TearDown() override { check_invariants(net); }
  Raft& node(uint64_t id) { return net.node(id); }
  // What leader `leader` knows of node `of`'s log.
  const Progress& progress(uint64_t leader, uint64_t of) {
    return node(leader).progress().at(NodeId{of});
  }

  Net net;
};

}  // namespace rq::raft::test
