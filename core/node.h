// The driver: one loop, written once, that runs Raft against a Clock, a Transport, a Disk and a
// StateMachine. The simulator and the real server both use it unchanged (etcd-io/raft doc.go):
//   ready -> send what may leave now -> install a received snapshot -> persist -> sync when
//   required -> send the rest -> apply -> write incoming snapshot chunks -> advance
// It also owns snapshots: it asks the state machine for one every `snapshot_threshold` applied
// entries, seals it on disk, then compacts the log (keeping `trailing_logs` entries); it streams
// snapshot chunks out of the file when Raft asks, and writes incoming ones to a file.
// A failed write or sync, or a log or snapshot that cannot be trusted, stops the node
// (fail-stop): it never carries on with state it cannot trust.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/disk.h"
#include "core/prng.h"
#include "core/raft/raft.h"
#include "core/state_machine.h"
#include "core/storage/log_store.h"
#include "core/storage/snapshot_store.h"
#include "core/transport.h"

namespace rq {

// Hooks for checkers and metrics. Default: nothing.
class NodeObserver {
 public:
  virtual ~NodeObserver() = default;
  // Entries made durable (after the sync), and the term of the entry before the first one.
  virtual void on_persisted(NodeId, const std::vector<raft::Entry>&, Term prev_term) {}
  virtual void on_soft_state(NodeId, const raft::SoftState&, Term) {}
  virtual void on_applied(NodeId, const raft::Entry&) {}
  // A message is leaving; `hs` is the sender's hard state at that moment.
  virtual void on_send(NodeId, const raft::Message&, const raft::HardState& hs) {}
  // A cluster-layer message (not Raft's) is leaving.
  virtual void on_send_cluster(NodeId) {}
  virtual void on_recovered(NodeId, const storage::RecoveredLog&,
                            const std::optional<raft::SnapshotMeta>&) {}
  // A local snapshot was sealed on disk; a received one was installed in the state machine.
  virtual void on_snapshot_taken(NodeId, const raft::SnapshotMeta&) {}
  virtual void on_snapshot_installed(NodeId, const raft::SnapshotMeta&) {}
  // `why.code` tells an I/O failure (kIo) from data that cannot be trusted (kCorrupt).
  virtual void on_fail_stop(NodeId, const Error& why) {}
};

struct NodeConfig {
  raft::RaftConfig raft;
  storage::LogStoreOptions store;
  Duration tick_interval = std::chrono::milliseconds(100);
  // After a stall (a paused process, a clock jump) at most this many ticks run at once.
  int max_ticks_per_wakeup = 64;
  // rqlite's defaults: a snapshot every 8192 applied entries, keeping 1.25x that in the log.
  // This node's incarnation when its data directory is new (0: draw one at random). An existing
  // directory keeps the one it was created with (file `identity`).
  uint64_t incarnation = 0;
  uint64_t snapshot_threshold = 8192;
  // How often the threshold is looked at (rqlite's -raft-snap-int): each check waits a fresh
  // random time between this and twice this, as Hashicorp Raft's does. 0: after every batch of
  // work (the simulator's default).
  Duration snapshot_interval{0};
  uint64_t trailing_logs = 10240;
  size_t snapshots_retained = 2;
};

// The outcome of a join or remove request made to this node.
struct MembershipResult {
  enum class Status : uint8_t {
    kProposed,   // the change is in the log at (index, term): done once that entry commits
    kAlready,    // nothing to change (a repeated join or remove)
    kNotLeader,  // ask the leader (`leader`, at `leader_address`; kNoNode when unknown)
    kRetry,      // another change is in flight, or this leader has no commit in its term yet
    kInvalid,    // the request makes no sense (`error` says why)
  };
  Status status = Status::kNotLeader;
  LogIndex index;
  Term term;
  NodeId leader;
  std::string leader_address;
  std::string error;
};

// How a snapshot asked for with Node::request_snapshot ended.
enum class SnapshotOutcome : uint8_t {
  kTaken,       // a snapshot covering every entry applied at the request is durable
  kNothingNew,  // the newest durable snapshot already covered every applied entry
  kFailed,      // the state machine could not write it, or the node stopped
};

struct SnapshotRequest {
  // Entries kept in the log behind this snapshot when it is compacted (rqlite's
  // POST /snapshot?trailing_logs=N); nullopt: NodeConfig::trailing_logs.
  std::optional<uint64_t> trailing_logs;
};

struct NodeStats {
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;
  uint64_t messages_rejected = 0;  // undecodable
  uint64_t readies = 0;
  uint64_t syncs = 0;
  uint64_t entries_applied = 0;
  uint64_t snapshots_taken = 0;
  uint64_t snapshots_installed = 0;
  uint64_t snapshots_skipped = 0;            // damaged snapshot files passed over at start
  uint64_t snapshots_failed = 0;             // local snapshots the state machine could not write
  uint64_t snapshots_restored_at_start = 0;  // 1 when start() restored a snapshot
  // join() on the leader: a member added, a join that changed nothing (same id and address), a
  // member removed first (the same id or address, not both; rqlite's order).
  uint64_t joins = 0;
  uint64_t joins_ignored = 0;
  uint64_t removed_before_joins = 0;
  uint64_t leader_changes = 0;  // the leader this node knows changed (or became unknown)
};

class Node {
 public:
  Node(NodeConfig cfg, Clock& clock, Transport& transport, Disk& disk, Prng prng, StateMachine& sm,
       NodeObserver* observer);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Recovers from disk and starts ticking. A brand-new node given `bootstrap` founds a cluster
  // with that membership. An error here is a fail-stop too.
  Status start(std::optional<raft::Membership> bootstrap = std::nullopt);

  // Manual recovery of a cluster that lost its quorum for good (rqlite's peers.json, Hashicorp's
  // RecoverCluster), before start() and outside consensus: the state machine is rebuilt from the
  // newest snapshot and *every* entry of the log (those not known to be committed are committed
  // by this), a snapshot of it is written at the log's last entry carrying `m` as the membership,
  // and the log is reset to start after it. start() then comes up in `m`. The state machine must
  // write snapshots synchronously. Returns the (index, term) the node now starts from.
  Result<std::pair<LogIndex, Term>> recover(const raft::Membership& m);
  void stop();

  void receive(std::string_view bytes);
  // `accepted` runs with the result before anything is processed, so a caller can start waiting
  // for the entry before it could possibly be applied (a one-voter cluster commits at once).
  raft::ProposeResult propose(std::string data,
                              const std::function<void(const raft::ProposeResult&)>& accepted = {});
  raft::ProposeResult propose_conf_change(const raft::ConfChange& cc);
  // rqlite's join and remove: only the leader acts; others say who leads.
  MembershipResult join(NodeId id, const std::string& address, bool voter,
                        uint64_t incarnation = 0, const std::string& name = {});
  MembershipResult remove_member(NodeId id);
  bool transfer_leadership(NodeId to);
  void campaign();
  // rqlite's -bootstrap-expect: a node started without a membership founds the cluster `m`
  // now, if it is still blank (nothing in its log: no founder's entries reached it first).
  // Every founder must use the same `m`. False when it is not blank.
  bool bootstrap(const raft::Membership& m);
  // The membership this cluster was founded with (the config entry at (1, term 1)), while the
  // log still holds it; nullopt otherwise (compacted, or a cluster not founded by bootstrap).
  std::optional<raft::Membership> founding_membership() const;
  // Nothing in the log and no snapshot: never part of a cluster, so it can still found one (a
  // term seen in another founder's vote request does not count: without a config it cannot
  // vote, and founders that could not found would wait forever).
  bool blank() const;
  // ReadIndex (Raft::read_index); the ReadState goes to the read-state sink once confirmed.
  raft::ReadIndexStatus read_index(uint64_t context);
  void set_read_state_sink(std::function<void(const raft::ReadState&)> sink) {
    read_sink_ = std::move(sink);
  }
  // The cluster layer above Raft (request forwarding) shares the transport: its payloads are
  // wrapped in the same envelope, and those that arrive go to the sink.
  void send_cluster(NodeId to, std::string_view payload);
  // Tells the transport where a node outside the membership listens (Transport::learn).
  void learn_address(NodeId id, const std::string& address) { transport_.learn(id, address); }
  void set_cluster_sink(std::function<void(std::string_view)> sink) {
    cluster_sink_ = std::move(sink);
  }
  // Called with the new leader (kNoNode: none known) whenever this node's view of it changes.
  void set_leader_sink(std::function<void(NodeId)> sink) { leader_sink_ = std::move(sink); }
  // Runs the ticks the clock says are due now, before anything that depends on elapsed time
  // (a lease check after the process was paused must see the time that passed).
  void catch_up_ticks();
  // Take a snapshot as soon as possible, whatever the threshold.
  void request_snapshot();
  // The same, for a caller that waits: `done` runs once a snapshot covering every entry applied
  // now is durable and the log compacted behind it (keeping `req.trailing_logs` entries), at once
  // with kNothingNew when the newest durable snapshot covers them already, or with kFailed.
  // `done` may run inside this call or inside the loop: it must not call back into the node.
  void request_snapshot(SnapshotRequest req, std::function<void(SnapshotOutcome)> done);
  // Removes sealed snapshots beyond the newest `keep` (at least 1): rqlite's POST /reap. Returns
  // how many were removed.
  Result<size_t> reap_snapshots(size_t keep);
  // The leader's commit index as this node last heard it (rqlite's /readyz?sync waits for it):
  // the commit index itself on the leader; on a follower the largest commit index carried by an
  // append or heartbeat from the current leader in the current term; nullopt before any.
  std::optional<LogIndex> leader_commit() const;
  // Group commit: inputs between begin_batch() and end_batch() (messages that piled up while the
  // node was busy, proposals from many clients) are stepped one after another and then handled by
  // one pass of the loop: one write, one sync, one round of messages.
  void begin_batch();
  void end_batch();

  bool running() const { return raft_ != nullptr && !failed_; }
  bool failed() const { return failed_; }
  const std::string& failure() const { return failure_; }
  const raft::Raft& raft() const { return *raft_; }
  const NodeStats& stats() const { return stats_; }
  NodeId id() const { return cfg_.raft.id; }
  uint64_t incarnation() const { return cfg_.raft.incarnation; }

 private:
  class Sink;
  struct Finished {
    raft::SnapshotMeta meta;
    bool ok;
  };

  void arm_tick();
  void on_tick();
  void run_due_ticks();
  void process();
  void maybe_process();
  void note_leader_commit(const raft::Message& m);
  void send_all(std::vector<raft::Message>& msgs);
  bool install_snapshot(const raft::SnapshotMeta& meta);
  Status load_identity(bool fresh);
  Status load_member_mark();
  void mark_member();
  bool member_marked_ = false;
  bool write_chunks(std::vector<raft::SnapshotChunk>& chunks, std::vector<Finished>* finished);
  void maybe_start_snapshot();
  void on_snapshot_written(Status st);
  // Answers the snapshot waiters whose target is at most `durable`; with kFailed, all of them.
  void finish_snapshot_waiters(LogIndex durable, SnapshotOutcome outcome);
  void fail_stop(Error why);
  MembershipResult change_membership(const std::optional<raft::ConfChange>& cc);

  NodeConfig cfg_;
  Clock& clock_;
  Transport& transport_;
  Disk& disk_;
  Prng prng_;
  StateMachine& sm_;
  NodeObserver* observer_;
  NodeObserver null_observer_;
  std::function<void(const raft::ReadState&)> read_sink_;
  std::function<void(std::string_view)> cluster_sink_;
  std::function<void(NodeId)> leader_sink_;
  NodeId last_lead_;

  std::unique_ptr<storage::LogStore> store_;
  std::unique_ptr<storage::SnapshotStore> snapshots_;
  std::unique_ptr<raft::Raft> raft_;
  TimerId tick_timer_ = 0;
  bool tick_armed_ = false;
  TimerId snapshot_timer_ = 0;
  bool snapshot_timer_armed_ = false;
  bool snapshot_check_due_ = false;  // the interval passed: the next check looks at the threshold
  void arm_snapshot_check();
  Duration last_tick_{};
  bool failed_ = false;
  bool processing_ = false;
  int batch_depth_ = 0;
  std::string failure_;
  NodeStats stats_;

  // Snapshots.
  LogIndex last_snapshot_index_;
  bool force_snapshot_ = false;
  std::optional<storage::SnapshotStore::Writer>
      local_snapshot_;  // being written by the state machine
  raft::Membership local_snapshot_membership_;
  struct SnapshotWaiter {
    LogIndex target;  // applied index when asked: the snapshot must cover it
    std::optional<uint64_t> trailing_logs;
    std::function<void(SnapshotOutcome)> done;
  };
  std::vector<SnapshotWaiter> snapshot_waiters_;
  // What the current leader said its commit index was (leader_commit()). Invariant: meaningful
  // only while leader_commit_term_ is Raft's current term.
  Term leader_commit_term_;
  LogIndex leader_commit_;
  std::optional<storage::SnapshotStore::Writer> incoming_;  // being received from the leader
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);   // sinks outliving the node check this
};

}  // namespace rq
