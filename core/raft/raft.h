// Raft as a pure state machine (etcd-io/raft's shape). Inputs: step(message), tick(), propose(),
// and the driver's reports about snapshots. Output: a Ready batch (hard state and entries to
// persist, a snapshot to install, messages, committed entries to apply), acknowledged by
// advance(). No I/O, no clock, no threads; randomness only from the injected Prng.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/prng.h"
#include "core/raft/config_history.h"
#include "core/raft/message.h"
#include "core/raft/progress.h"
#include "core/raft/quorum.h"
#include "core/raft/raft_log.h"

namespace rq::raft {

struct RaftConfig {
  NodeId id;
  // This node's incarnation (membership.h): which life of `id` this is.
  uint64_t incarnation = 0;
  // This incarnation has been a member of a config it held (the driver keeps that on disk): every
  // vote it cast is in its hard state, so it may vote even when its latest config leaves it out
  // (thesis §4.2.2: servers answer RPCs without consulting their configuration). A node that
  // never was (a new one, or a wiped one rejoining under its old id) must not: its id may have
  // voted in an earlier life it has forgotten.
  bool was_member = false;
  // Static voters, used only when neither the log nor a snapshot holds a membership (tests, and
  // clusters bootstrapped without config entries).
  std::vector<NodeId> voters;
  // A follower starts an election after a random timeout in [election_ticks, election_ticks +
  // election_jitter_ticks) (Raft §5.2); -1 means election_ticks, etcd's [et, 2et). 0 pins it at the
  // minimum: legal (leader stickiness and the lease count only on election_ticks), and how the
  // simulator tests the lease at its edge.
  int election_ticks = 10;
  int election_jitter_ticks = -1;
  int heartbeat_ticks = 1;
  // Payload bytes per AppendEntries (at least one entry is always sent).
  uint64_t max_msg_bytes = 1 << 20;
  // AppendEntries in flight per follower in replicate state.
  size_t max_inflight = 256;
  // Payload bytes of committed entries handed out per Ready.
  uint64_t max_apply_bytes = 64 << 20;
  // Bytes of proposals not yet committed before propose() pushes back with kDropped.
  uint64_t max_uncommitted_bytes = 256 << 20;
  // InstallSnapshot: bytes per chunk, and chunks in flight per follower.
  uint64_t snapshot_chunk_bytes = 1 << 20;
  size_t snapshot_chunks_in_flight = 4;
  // The largest rate difference between two nodes' clocks (parts per million); the leader's
  // lease is shortened by it (thesis §6.4.1).
  int64_t max_clock_drift_ppm = 20'000;
  // Raft thesis §9.6: a candidate first asks whether it could win, without disturbing terms.
  bool pre_vote = true;
  // Raft thesis §6.2: a leader that cannot hear a majority for an election timeout steps down, and
  // followers that hear a leader ignore vote requests (leader stickiness).
  bool check_quorum = true;
  // With check_quorum: a node that just started ignores vote requests for an election timeout,
  // as if it had just heard from a leader. Before it went down it may have answered a heartbeat
  // that the leader's lease (lease_valid) counts on; a fast restart must not cut the lease short.
  bool quiet_after_start = true;
};

// What a node recovered from its disk.
struct RaftStorage {
  HardState hard_state;
  std::optional<SnapshotMeta> snapshot;  // the newest valid snapshot, already restored
  std::vector<Entry> entries;            // contiguous, after the snapshot (or from 1)
  LogIndex applied;                      // how far the state machine already is
};

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
const char* to_string(Role r);

struct SoftState {
  NodeId lead;
  Role role = Role::kFollower;
  friend bool operator==(const SoftState&, const SoftState&) = default;
};

// One chunk of an incoming snapshot for the driver to write (offset 0 starts a new file).
struct SnapshotChunk {
  SnapshotMeta meta;
  uint64_t offset = 0;
  std::string data;
  bool last = false;
};

// A read confirmed by ReadIndex (thesis §6.4): serve it once the state machine has applied `index`.
struct ReadState {
  uint64_t context = 0;
  LogIndex index;
};

struct Ready {
  // Set when it changed since the previous Ready.
  std::optional<HardState> hard_state;
  // A received snapshot replaced the log (Figure 13 rule 7): record it in the log store and
  // restore the state machine from its file, before anything else in this Ready.
  std::optional<SnapshotMeta> snapshot;
  // Entries to append to durable storage (may replace a suffix starting at entries[0].index).
  std::vector<Entry> entries;
  // Entries, a snapshot, or the term or vote changed: storage must be synced before
  // messages_after_sync leave and before advance().
  bool must_sync = false;
  std::vector<Entry> committed_entries;
  // May be sent at once, in parallel with persisting (leader's appends: thesis §10.2.1).
  std::vector<Message> messages;
  // Only after `entries`, `snapshot` and `hard_state` are durable (votes, acks).
  std::vector<Message> messages_after_sync;
  // Chunks of an incoming snapshot to write, in order.
  std::vector<SnapshotChunk> snapshot_chunks;
  // Reads whose leadership check completed.
  std::vector<ReadState> read_states;
  std::optional<SoftState> soft_state;
};

enum class ReadIndexStatus : uint8_t {
  kPending,          // a heartbeat round is confirming leadership; a ReadState will follow
  kNotLeader,
  kNoCommitInTerm,   // this leader has not committed an entry of its term: read through the log
};

enum class ProposeStatus : uint8_t {
  kOk,
  kNotLeader,
  kDropped,        // back-pressure, or a leadership transfer in progress: retry later
  kConfigPending,  // a membership change is in flight, or this term has no commit yet: retry
  kInvalid,        // a membership change that changes nothing or makes no sense
};
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
  Raft(RaftConfig config, Prng prng, RaftStorage storage);

  // A brand-new node (empty log) founds a cluster: its log starts with a config entry holding
  // `m` at (1, term 1), committed at once. Every founding member must bootstrap with the same
  // `m`. A term already seen (a vote request from another founder) is kept.
  void bootstrap(const Membership& m);

  void tick();
  void step(const Message& m);
  ProposeResult propose(std::string data);
  // A single-server membership change (thesis §4.1). Only one at a time, and only once this
  // leader has committed an entry of its own term (Ongaro's 2015 correction).
  ProposeResult propose_conf_change(const ConfChange& cc);
  // Starts an election now (the local "hup" of etcd), as if the election timeout elapsed.
  void campaign();
  // Leadership transfer (thesis §3.10): bring `to` up to date, then tell it to campaign at once.
  // False when this node is not the leader or `to` is not a voter.
  bool transfer_leadership(NodeId to);
  // ReadIndex (thesis §6.4): remembers the commit index, confirms with a heartbeat round that this
  // node still leads, then reports a ReadState carrying `context`.
  ReadIndexStatus read_index(uint64_t context);
  // Whether this leader's lease holds: a majority answered a heartbeat round sent less than an
  // election timeout ago, shortened for clock drift, so no other leader can exist yet
  // (followers ignore votes while they hear from a leader, and for an election timeout after
  // they start). Never after this leader sent TimeoutNow in its term. Call after running all due
  // ticks.
  bool lease_valid() const;
  // Ticks since this follower last heard from a leader (rqlite's freshness).
  int ticks_since_leader_contact() const { return election_elapsed_; }
  // Ticks since a leader's append, heartbeat or snapshot chunk last reached this node; nullopt if
  // none ever did since it started (Hashicorp's "last_contact": "never").
  std::optional<uint64_t> ticks_since_leader_message() const {
    if (!heard_leader_) return std::nullopt;
    return ticks_ - leader_message_tick_;
  }

  // The driver made a local snapshot durable: it may be streamed to followers from now on.
  void snapshot_written(const SnapshotMeta& meta);
  // Drop log entries up to i (at most the latest snapshot's index).
  void compact(LogIndex i);
  // The driver finished writing an incoming snapshot (ok: complete and its checksum matched).
  void snapshot_received(const SnapshotMeta& meta, bool ok);

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
  NodeId lead_transferee() const { return lead_transferee_; }
  // RaftConfig::was_member, or this incarnation saw itself a member since it started (the driver
  // then makes that durable).
  bool was_member() const { return was_member_; }
  HardState hard_state() const { return HardState{term_, vote_, log_.committed()}; }
  const RaftLog& log() const { return log_; }
  const Membership& membership() const { return configs_.current(); }
  // The membership in effect at an index of the log (for a snapshot's metadata).
  const Membership& membership_at(LogIndex i) const { return configs_.at(i); }
  const ConfigHistory& configs() const { return configs_; }
  const std::vector<NodeId>& voters() const { return voters_; }
  const std::map<NodeId, Progress>& progress() const { return prs_; }
  const std::optional<SnapshotMeta>& snapshot() const { return snapshot_; }

 private:
  // Transitions (Figure 4).
  void become_follower(Term term, NodeId lead);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void reset(Term term);
  void reset_randomized_election_timeout();
  void hup(bool pre_vote, bool transfer);
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
  void on_snapshot_chunk(const Message& m);
  void on_append_response(const Message& m);
  void on_heartbeat_response(const Message& m);
  void on_snapshot_response(const Message& m);
  VoteResult poll(NodeId from, bool granted);

  // Leader replication.
  void append_entries(std::vector<Entry> ents);
  bool maybe_send_append(NodeId to, bool send_if_empty);
  void send_snapshot_chunks(NodeId to);
  void send_heartbeat(NodeId to);
  void send_timeout_now(NodeId to);
  uint64_t quorum_round() const;  // the latest heartbeat round a majority of voters answered
  void confirm_reads();
  void bcast_append();
  void bcast_heartbeat();
  bool maybe_commit();
  bool quorum_active();

  // Membership.
  void refresh_config();
  void on_membership_changed();
  // Leader: promote a staged non-voter that has caught up with the config that added it.
  void maybe_promote_staged();
  bool is_self_member() const { return membership().is_self(cfg_.id, cfg_.incarnation); }
  // May answer a vote request: a member, or a node this config removed that remembers its votes.
  bool may_vote() const {
    return is_self_member() || (was_member_ && !membership().contains(cfg_.id));
  }

  void send(Message m);
  bool is_voter(NodeId id) const { return membership().is_voter(id); }

  RaftConfig cfg_;
  Prng prng_;

  Term term_;
  NodeId vote_;
  NodeId lead_;
  Role role_ = Role::kFollower;
  RaftLog log_;
  ConfigHistory configs_;
  LogIndex config_scanned_;      // config entries up to here are in configs_
  bool was_member_ = false;
  bool heard_leader_ = false;
  uint64_t leader_message_tick_ = 0;
  std::vector<NodeId> voters_;   // membership().voters(), cached
  // The latest config entry appended by this leader and not yet known committed (thesis §4.1).
  LogIndex pending_conf_index_;
  NodeId lead_transferee_;
  bool bcast_pending_ = false;  // proposals appended since the last Ready: append to followers

  // Leader only: one entry per member (this node included), ordered by id.
  std::map<NodeId, Progress> prs_;
  // Candidate only.
  std::map<NodeId, bool> votes_;
  uint64_t uncommitted_bytes_ = 0;

  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_timeout_ = 0;

  // The newest snapshot this node has on disk (the source of InstallSnapshot when leading).
  std::optional<SnapshotMeta> snapshot_;
  // Follower: the snapshot being received, and the next byte expected.
  struct Incoming {
    SnapshotMeta meta;
    uint64_t next = 0;
    bool complete = false;  // every byte handed to the driver; waiting for snapshot_received()
  };
  std::optional<Incoming> incoming_;
  std::optional<SnapshotMeta> pending_restore_;  // for the next Ready
  std::vector<SnapshotChunk> chunks_;             // for the next Ready

  // Heartbeat rounds (leader): the round being sent, when each recent one left (in ticks), and
  // reads waiting for a majority to answer a round.
  uint64_t ticks_ = 0;
  uint64_t round_ = 0;
  std::map<uint64_t, uint64_t> round_ticks_;
  struct PendingRead {
    uint64_t context;
    LogIndex index;
    uint64_t round;
  };
  std::vector<PendingRead> pending_reads_;
  bool read_round_pending_ = false;
  bool lease_forfeited_ = false;  // sent TimeoutNow in this term
  std::vector<ReadState> read_states_;

  std::vector<Message> msgs_;
  std::vector<LogIndex> acks_scratch_;  // reused by maybe_commit
  HardState prev_hs_;
  SoftState prev_ss_;
};

}  // namespace rq::raft
