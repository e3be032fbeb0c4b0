// Raft's safety properties, checked as the run goes (Raft paper Figure 3, plus durability):
//   election-safety       at most one leader per term
//   log-matching          two logs with an entry of the same index and term agree on it and on
//                         everything before it (checked on every entry any node persists)
//   leader-completeness   a new leader's log holds every committed entry
//   state-machine-safety  no two nodes apply different entries at one index
//   apply-order           a node applies indexes in order, without gaps, within one incarnation
//                         (after a snapshot restore, from the snapshot's index)
//   state-digest          replicas at the same applied index hold the same state (digest of the
//                         state machine's logical contents), snapshots restored included
//   hard-state-regressed  after a restart a node's term and vote are never behind what it
//                         already told other nodes
//   term-behind-log       a node's current term is never behind the term of an entry it holds
//                         or of its snapshot (checked at every restart and every persisted write)
//   ack-retracted         within one term, a follower never drops an entry it acknowledged to
//                         that term's leader (who counted it toward a majority), not even by
//                         crashing
//   lost-acknowledged-write  every write acknowledged to a client survives, in every node that
//                         is up at the end of the liveness phase
//   removed-node-leader   a node removed by a committed config never leads again, unless a later
//                         config in its own log added it back
//   membership-change-guard  a leader appends a config entry only when the previous one is
//                         committed and it has committed an entry of its own term, and the new
//                         config differs from the previous by at most one voter (so no two
//                         configs in use at once have disjoint majorities: Ongaro 2015)
// The first violation is kept with the node, the time and the details.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/raft/raft.h"

namespace rq::sim {

struct Violation {
  std::string reason;  // the invariant's name
  std::string detail;
  NodeId node;
  Duration at{};
};

class Checker {
 public:
  // `raft_of(id)` returns the live Raft of a node, or nullptr when it is down.
  explicit Checker(std::function<const raft::Raft*(NodeId)> raft_of, std::function<Duration()> now);

  // Node n wrote these entries (after the entry of `prev_term`) and synced them: on_appended
  // when it does (what it decided), on_durable once the sync really completed (a crash before
  // then loses them, and a node may then write other entries with the same index and term, if
  // it never spoke in that term). on_persisted is both at once.
  void on_persisted(NodeId n, const std::vector<raft::Entry>& ents, Term prev_term);
  void on_appended(NodeId n, const std::vector<raft::Entry>& ents);
  void on_durable(NodeId n, const std::vector<raft::Entry>& ents, Term prev_term);
  // Leader n appended a config entry: what it knew then. Checked once n's earlier applies are
  // visible (the simulator calls this at the node's cursor).
  struct ConfigAppend {
    LogIndex index;
    Term term;
    LogIndex prev_index;             // the config entry (or base) before it
    std::optional<Term> prev_term;   // its term in the leader's log, if not compacted
    bool prev_compacted = false;
    LogIndex leader_commit;          // the leader's commit index then
    bool commit_in_term = false;     // the entry at leader_commit is of the leader's term
    raft::Membership prev, next;
  };
  void on_config_appended(NodeId n, const ConfigAppend& c);
  static std::optional<ConfigAppend> config_append_of(const raft::Raft& r, const raft::Entry& e);
  void on_leader(NodeId n, Term term);
  // `node_term`: the node's term when it applied e (read from its Raft when not given).
  void on_applied(NodeId n, const raft::Entry& e, std::optional<Term> node_term = std::nullopt);
  // Node n's state machine, having applied everything up to `index`, has this digest.
  void on_digest(NodeId n, LogIndex index, uint64_t digest);
  // Node n's state machine was restored from a snapshot at `index`.
  void on_restored(NodeId n, LogIndex index);
  // A packet left node n while its hard state was `hs`.
  void on_departed(NodeId n, const raft::HardState& hs);
  // Node n told the leader of `term` that it holds the entry (index, entry_term).
  void on_ack_departed(NodeId n, Term term, LogIndex index, Term entry_term);
  // Node n restarted with this hard state and log (entries after `floor`, its snapshot's index).
  void on_recovered(NodeId n, const raft::HardState& hs, const std::vector<raft::Entry>& log,
                    LogIndex floor = LogIndex{0}, Term floor_term = Term{0});
  void on_crash(NodeId n);
  // Node n's disk was wiped (after its removal): it starts over as a new node with the same id.
  void on_wiped(NodeId n);
  // A client was told that the entry (index, term) with this data committed.
  void on_acknowledged(LogIndex index, Term term, const std::string& data);
  // A client was told that the entry (index, term) committed, whatever it holds.
  void on_acknowledged_at(LogIndex index, Term term);
  // Every acknowledged entry must be in the node's log.
  void check_acknowledged_present(NodeId n);

  // Off: the checks that read a node's private state (ack-retracted, hard-state-regressed,
  // term-behind-log, membership-change-guard) are skipped.
  void set_white_box(bool on) { white_box_ = on; }

  void fail(const std::string& reason, NodeId n, const std::string& detail);
  bool failed() const { return violation_.has_value(); }
  const std::optional<Violation>& violation() const { return violation_; }
  uint64_t acknowledged() const { return acked_.size(); }

 private:
  struct Key {
    uint64_t index, term;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const;
  };
  struct Seen {
    uint64_t hash;
    uint64_t prev_term;
  };
  struct Applied {
    uint64_t term;
    uint64_t hash;
    // The lowest term any node was in when it applied this entry. The entry was committed by a
    // leader of this term or an earlier one, so every leader of a later term must hold it.
    uint64_t known_committed_by;
  };
  struct Acked {
    uint64_t index, term, hash;
  };

  std::function<const raft::Raft*(NodeId)> raft_of_;
  std::function<Duration()> now_;
  std::unordered_map<Key, Seen, KeyHash> seen_;
  std::map<uint64_t, NodeId> leaders_;       // term -> leader
  std::vector<Applied> applied_;             // by index - 1
  std::map<uint64_t, uint64_t> last_applied_;  // node -> last index applied this incarnation
  std::unordered_map<uint64_t, uint64_t> digests_;  // applied index -> state digest
  std::set<uint64_t> applied_terms_;                // terms of entries applied anywhere
  raft::Membership committed_config_;               // the latest config entry applied anywhere
  uint64_t committed_config_index_ = 0;
  std::map<uint64_t, raft::HardState> exposed_;  // node -> hard state when it last sent
  std::vector<Acked> acked_;
  struct AckedToLeader {
    uint64_t term = 0, index = 0, entry_term = 0;
  };
  std::map<uint64_t, AckedToLeader> acked_to_leader_;  // node -> highest ack in its latest term
  std::optional<Violation> violation_;
  bool white_box_ = true;
};

uint64_t entry_hash(const raft::Entry& e);

}  // namespace rq::sim
