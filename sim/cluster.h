// One simulated run: a whole cluster of the real core (Node + Raft + LogStore) on simulated
// clocks, network and disks, a nemesis injecting faults, clients, and the checker watching.
//   safety phase:   faults per the seed's options for `safety_duration`
//   liveness phase: a random majority is healed (restarted, reconnected, resumed, no more
//                   faults); it must elect a leader and acknowledge a new write within
//                   `liveness_bound`; then every healed node must hold every acknowledged write.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <tuple>
#include <vector>

#include "core/node.h"
#include "core/service/service.h"
#include "core/sqlite/sqlite_machine.h"
#include "sim/checker.h"
#include "sim/event_queue.h"
#include "sim/network.h"
#include "sim/sim_clock.h"
#include "sim/sim_disk.h"
#include "sim/swarm.h"
#include "sim/trace.h"
#include "sim/workload.h"
#include "sim/workload/runner.h"

namespace rq::sim {

// Counters that prove the faults and the interesting protocol events happened.
struct Coverage {
  std::vector<std::pair<std::string, uint64_t>> counters;
  void add(const std::string& name, uint64_t v);
  uint64_t get(const std::string& name) const;
  std::string format() const;  // "name=value ..." in a fixed order
};

struct RunResult {
  bool pass = true;
  std::string reason;
  std::string detail;
  NodeId node;
  Duration at{};
  Coverage coverage;
  uint64_t trace = 0;
  Duration simulated{};
  uint64_t events = 0;
};

class Simulation final : public NodeObserver {
 public:
  // `log` receives progress lines when verbose (nullptr: silent).
  Simulation(const Options& opts, std::FILE* log, bool verbose);
  ~Simulation() override;

  RunResult run();
  // The SQL clients' history (empty for the raft workload), for a jsonl file.
  std::vector<wl::TimedEvent> history() const;

 private:
  class HostTransport;
  class SqlClient;
  struct Host;

  // Running code "on" a node: dropped when the node is down or restarted since, deferred while
  // it is busy (syncing, paused).
  void run_on(Host& h, uint64_t incarnation, std::function<void()> fn);
  void notify_loop(Host& h, uint64_t incarnation);
  void execute(Host& h, const std::function<void()>& fn);
  void drain(Host& h);
  void ensure_wakeup(Host& h);
  void deliver(NodeId from, NodeId to, std::string bytes);
  Duration host_now(const Host& h) const;

  void start_node(Host& h);
  void submit_sql(NodeId target, svc::Request req, std::function<void(svc::Response)> reply);
  // The workload in use (raft or SQL).
  std::optional<Duration> first_fresh_ack() const;
  void watch_fresh_acks();
  void stop_clients();
  size_t host_count() const { return hosts_.size(); }
  NodeId random_host() { return NodeId(prng_.range(1, hosts_.size())); }

  // Membership changes, one at a time, driven like a client: ask any node, follow redirects,
  // wait for the change to commit on the node that proposed it.
  struct MemberOp {
    enum class Kind : uint8_t { kAddVoter, kAddLearner, kPromote, kRemove, kReaddress, kWipeRejoin };
    Kind kind = Kind::kAddVoter;
    NodeId target;
    std::string address;
    bool voter = true;
    bool removing = false;  // the remove half of a remove/wipe/rejoin
    uint64_t attempt = 0;
    NodeId contact;
    NodeId pending_node;  // proposed here, at pending_index in term pending_term
    LogIndex pending_index;
    Term pending_term;
  };
  void start_member_op();
  void member_request();
  void member_result(uint64_t attempt, NodeId at, const MembershipResult& r);
  void member_phase_done();
  void member_retry(Duration after);
  void transfer_leadership();
  // The Figure 8 episode (Options::w_figure8), one step per observed event.
  struct Figure8 {
    int phase = 0;  // 1: first leader cut off; 2: second cut off, first back; 3: first leads again
    NodeId first, second;
    Duration deadline{};
  };
  void figure8_begin();
  void figure8_on_leader(NodeId n);
  void figure8_on_applied(NodeId n, const raft::Entry& e, Term term);
  void figure8_end(const char* why);
  void isolate(NodeId x, bool keep_one, NodeId keep);
  // Ongaro's membership scenario (Options::w_ongaro).
  struct Ongaro {
    int phase = 0;  // 1: first leader cut off after proposing a removal; 2: split, second asked
    NodeId first, partner, removed;
    Term term;
    Duration deadline{};
  };
  void ongaro_begin();
  void ongaro_on_leader(NodeId n, Term term);
  void ongaro_ask_removal(NodeId leader, int tries);
  void ongaro_end(const char* why);
  // The stale-reply episode (Options::w_stale_reply).
  struct StaleReply {
    int phase = 0;  // 1: first leader with one follower, replies held; 2: both apart, second
                    // leader; 3: transfer back; 4: first leads with one other follower
    NodeId first, follower, second;
    std::vector<NodeId> others;  // with the first leader in its second term
    Duration deadline{};
  };
  void stale_begin();
  void stale_step();
  void stale_on_leader(NodeId n, Term term);
  void stale_end(const char* why);
  void crash(Host& h, const char* why);
  void restart(Host& h);
  void schedule_nemesis();
  void nemesis_step();
  void apply_fault(const FaultStep& f);
  void partition_random();
  Host* current_leader();
  void begin_liveness();
  void check_liveness();
  // The converged cluster's leader is cut off from one follower; true when that check started.
  bool start_stickiness_check(const raft::Raft& leader);
  void finish_stickiness_check(NodeId leader, Term term, NodeId cut);
  void finish();
  void note(const std::string& line);
  Host& host(NodeId id) { return *hosts_[id.v - 1]; }
  const raft::Raft* raft_of(NodeId id) const;
  NodeConfig node_config(NodeId id) const;

  // NodeObserver
  void on_persisted(NodeId, const std::vector<raft::Entry>&, Term prev_term) override;
  void on_soft_state(NodeId, const raft::SoftState&, Term) override;
  void on_applied(NodeId, const raft::Entry&) override;
  void applied_visible(NodeId n, const raft::Entry& e, uint64_t digest, Term term);
  // What a node did becomes visible to the world at its cursor (after the syncs it waited for),
  // and never if it crashes first.
  void at_cursor(Host& h, std::function<void()> fn);
  void on_send(NodeId, const raft::Message&, const raft::HardState& hs) override;
  void on_send_cluster(NodeId) override { sending_cluster_ = true; }
  void on_recovered(NodeId, const storage::RecoveredLog&, const std::optional<raft::SnapshotMeta>&) override;
  void on_snapshot_taken(NodeId, const raft::SnapshotMeta&) override;
  void on_snapshot_installed(NodeId, const raft::SnapshotMeta&) override;
  void on_fail_stop(NodeId, const Error& why) override;

  Options opts_;
  std::FILE* log_;
  bool verbose_;
  EventQueue q_;
  Prng prng_;          // nemesis
  Trace trace_;
  std::unique_ptr<Network> net_;
  std::unique_ptr<Checker> checker_;
  std::unique_ptr<Workload> workload_;
  // SQL workloads: the definition, this world's client, and the clients' runner.
  std::unique_ptr<wl::Workload> sql_def_;
  std::unique_ptr<SqlClient> sql_client_;
  std::unique_ptr<wl::Runner> sql_runner_;
  std::vector<std::unique_ptr<Host>> hosts_;

  bool liveness_ = false;
  bool done_ = false;
  Duration heal_at_{};
  std::vector<NodeId> core_;
  bool stickiness_started_ = false;
  uint64_t converge_applied_ = 0;
  Duration converge_progress_at_{};
  // The log the targets converge on: its leader, term and last index, and since when it is so.
  std::tuple<uint64_t, uint64_t, uint64_t> converge_log_{};
  Duration converge_log_at_{};
  uint64_t stickiness_checks_ = 0;
  uint64_t lease_attacks_ = 0;
  std::optional<Figure8> figure8_;
  std::optional<Ongaro> ongaro_;
  std::optional<StaleReply> stale_;
  uint64_t stale_episodes_ = 0, stale_released_ = 0;
  uint64_t ongaro_episodes_ = 0, ongaro_split_ = 0;
  uint64_t figure8_episodes_ = 0, figure8_completed_ = 0;
  Duration last_transfer_at_{};
  // What the packet being sent says about its sender, recorded by the checker when it leaves.
  raft::HardState sending_hs_;
  bool sending_ack_ = false;
  bool sending_cluster_ = false;  // the packet is the service's, and says nothing about Raft state
  LogIndex sending_ack_index_;
  Term sending_ack_entry_term_;
  uint64_t elections_ = 0, leaders_ = 0, crashes_ = 0, restarts_ = 0, fail_stops_ = 0, pauses_ = 0;
  uint64_t partitions_ = 0, heals_ = 0, clock_jumps_ = 0, clogs_ = 0, recovered_torn_ = 0, terms_raised_ = 0;
  uint64_t snapshots_taken_ = 0, snapshots_installed_ = 0;
  raft::Membership initial_membership_;
  std::optional<MemberOp> op_;
  raft::Membership committed_config_;  // the latest config entry applied anywhere
  LogIndex committed_config_index_;
  uint64_t address_epoch_ = 0;
  bool heal_all_ = false;
  Duration last_reshape_{};
  uint64_t membership_changes_ = 0, transfers_ = 0, wipes_ = 0;
  uint64_t joins_asked_ = 0;  // joins a joiner sent over the cluster channel (Service::join)
  uint64_t forwarded_ = 0;  // requests the services forwarded to a leader
};

RunResult run_seed(uint64_t seed, std::FILE* log, bool verbose);

}  // namespace rq::sim
