// Raft as a pure state machine (etcd-io/raft's shape). Inputs: step(message), tick(), propose().
// Output: a Ready batch (hard state and entries to persist, messages, committed entries to apply),
// acknowledged by advance(). No I/O, no clock, no threads; randomness only from the injected Prng.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/prng.h"
#include "core/raft/message.h"
#include "core/raft/progress.h"
#include "core/raft/quorum.h"
#include "core/raft/raft_log.h"

namespace rq::raft {

struct RaftConfig {
  NodeId id;
  // The voting members, this node included.
  std::vector<NodeId> voters;
  // A follower starts an election after a random timeout in [election_ticks, 2*election_ticks).
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  // Payload bytes per AppendEntries (at least one entry is always sent).
  uint64_t max_msg_bytes = 1 << 20;
  // AppendEntries in flight per follower in replicate state.
  size_t max_inflight = 256;
  // Payload bytes of committed entries handed out per Ready.
  uint64_t max_apply_bytes = 64 << 20;
  // Bytes of proposals not yet committed before propose() pushes back with kDropped.
  uint64_t max_uncommitted_bytes = 256 << 20;
  // Raft thesis §9.6: a candidate first asks whether it could win, without disturbing terms.
  bool pre_vote = true;
  // Raft thesis §6.2: a leader that cannot hear a majority for an election timeout steps down, and
  // followers that hear a leader ignore vote requests (leader stickiness).
  bool check_quorum = true;
};

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
const char* to_string(Role r);

struct SoftState {
  NodeId lead;
  Role role = Role::kFollower;
  friend bool operator==(const SoftState&, const SoftState&) = default;
};

struct Ready {
  // Set when it changed since the previous Ready.
  std::optional<HardState> hard_state;
  // Entries to append to durable storage (may replace a suffix starting at entries[0].index).
  std::vector<Entry> entries;
  // Entries and/or the term or vote changed: storage must be synced before messages_after_sync
  // leave and before advance().
  bool must_sync = false;
  std::vector<Entry> committed_entries;
  // May be sent at once, in parallel with persisting (leader's appends: thesis §10.2.1).
  std::vector<Message> messages;
  // Only after `entries` and `hard_state` are durable (votes, acks of appended entries).
  std::vector<Message> messages_after_sync;
  std::optional<SoftState> soft_state;
};

enum class ProposeStatus : uint8_t { kOk, kNotLeader, kDropped };
struct ProposeResult {
  ProposeStatus status = ProposeStatus::kNotLeader;
  LogIndex index;  // where the entry was appended (kOk)
  Term term;
  NodeId leader;  // best guess of the leader (kNotLeader), kNoNode when unknown
};

class Raft {
 public:
  // `log` and `hs` come from durable storage; `applied` is how far the state machine already is.
  Raft(RaftConfig config, Prng prng, HardState hs, std::vector<Entry> log, LogIndex applied);

  void tick();
  void step(const Message& m);
  ProposeResult propose(std::string data);
  // Starts an election now (the local "hup" of etcd), as if the election timeout elapsed.
  void campaign();

  bool has_ready() const;
  Ready ready();
  // The Ready was persisted (and synced when must_sync), its messages sent, its committed entries
  // applied.
  void advance(const Ready& rd);

  NodeId id() const { return cfg_.id; }
  Role role() const { return role_; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  NodeId lead() const { return lead_; }
  HardState hard_state() const { return HardState{term_, vote_, log_.committed()}; }
  const RaftLog& log() const { return log_; }
  const std::vector<NodeId>& voters() const { return cfg_.voters; }
  const std::map<NodeId, Progress>& progress() const { return prs_; }

 private:
  // Transitions (Figure 4).
  void become_follower(Term term, NodeId lead);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void reset(Term term);
  void reset_randomized_election_timeout();
  void hup(bool pre_vote);
  bool promotable() const;

  void tick_election();
  void tick_heartbeat();

  // Message handling.
  void step_leader(const Message& m);
  void step_candidate(const Message& m);
  void step_follower(const Message& m);
  void on_vote_request(const Message& m);
  void on_append_entries(const Message& m);
  void on_heartbeat(const Message& m);
  void on_append_response(const Message& m);
  void on_heartbeat_response(const Message& m);
  VoteResult poll(NodeId from, bool granted);

  // Leader replication.
  void append_entries(std::vector<Entry> ents);
  bool maybe_send_append(NodeId to, bool send_if_empty);
  void send_heartbeat(NodeId to);
  void bcast_append();
  void bcast_heartbeat();
  bool maybe_commit();
  bool quorum_active();

  void send(Message m);
  bool is_voter(NodeId id) const;

  RaftConfig cfg_;
  Prng prng_;

  Term term_;
  NodeId vote_;
  NodeId lead_;
  Role role_ = Role::kFollower;
  RaftLog log_;

  // Leader only: one entry per voter (this node included), ordered by id.
  std::map<NodeId, Progress> prs_;
  // Candidate only.
  std::map<NodeId, bool> votes_;
  uint64_t uncommitted_bytes_ = 0;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;

  std::vector<Message> msgs_;
  std::vector<LogIndex> acks_scratch_;  // reused by maybe_commit
  HardState prev_hs_;
  SoftState prev_ss_;
};

}  // namespace rq::raft
