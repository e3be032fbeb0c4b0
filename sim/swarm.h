// Swarm testing: every seed draws its own cluster size, timings and fault mix, so a sweep covers
// many configurations instead of one tuned to pass. (tigerbeetle vopr options_swarm; "Swarm
// Testing", Groce et al. 2012). The options are printed first and replay exactly from the seed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/service/read_level.h"
#include "sim/network.h"
#include "sim/sim_disk.h"

namespace rq::sim {

// What the clients do: `raft` proposes opaque values straight to Raft (sim/workload.h); the others
// send SQL through the client service (sim/workload/) and are checked for linearizability.
enum class WorkloadKind : uint8_t { kRaft, kRegister, kMultiRegister, kBank, kAppend, kSet };
const char* workload_name(WorkloadKind k);
std::optional<WorkloadKind> workload_from_name(std::string_view s);

// One step of an explicit fault schedule: data, so a property-based test can generate and
// shrink it (tests/sim/schedule_property_test.cpp). Node numbers are taken modulo the cluster
// size; "the leader" is whoever leads when the step runs (nothing happens if nobody does).
struct FaultStep {
  enum class Kind : uint8_t {
    kIsolate,        // cut `node` off, both directions
    kIsolateLeader,  // cut the current leader off
    kHeal,           // every link up
    kCrash,          // `node` loses power (unsynced writes go as the disk options say)
    kRestart,        // `node` comes back
    kKillLeader,     // the current leader loses power
    kPause,          // `node` stops for `length`
    kClockJump,      // `node`'s clock jumps forward by `length`
  };
  Duration at{};  // from the start of the run
  Kind kind = Kind::kHeal;
  uint32_t node = 1;
  Duration length{};
};
const char* fault_name(FaultStep::Kind k);
std::string describe(const std::vector<FaultStep>& schedule);

struct Options {
  uint64_t seed = 0;
  size_t nodes = 3;

  // Raft timing.
  Duration tick = std::chrono::milliseconds(50);
  int election_ticks = 10;
  int heartbeat_ticks = 2;
  size_t max_inflight = 64;
  uint64_t max_msg_bytes = 64 << 10;
  uint64_t segment_bytes = 1 << 20;

  // Snapshots: every `snapshot_threshold` applied entries, keeping `trailing_logs`; streamed in
  // chunks; the state machine writes its image `snapshot_piece_bytes` at a time, each piece up
  // to `snapshot_piece_delay` later.
  uint64_t snapshot_threshold = 8192;
  uint64_t trailing_logs = 10240;
  uint64_t snapshot_chunk_bytes = 1 << 20;
  size_t snapshot_chunks_in_flight = 4;
  uint64_t snapshot_piece_bytes = 1 << 20;
  Duration snapshot_piece_delay{0};

  NetworkOptions net;
  SimDiskOptions disk;
  int64_t drift_ppm_max = 0;
  // Every clock runs at exactly +drift_ppm_max or -drift_ppm_max (the edge of the lease's
  // assumption) instead of anywhere between.
  bool drift_extremes = false;
  // Hosts (bit k: host k+1) whose election timeouts are pinned at the minimum (no jitter): they
  // campaign exactly election_ticks after they last heard a leader, the moment its lease must
  // have run out. (At most one in a swarm: see draw_options.)
  uint32_t pinned_timeouts_mask = 0;

  // Fault schedule (the nemesis): an action every `nemesis_interval` on average, drawn by weight.
  Duration nemesis_interval = std::chrono::seconds(1);
  uint32_t w_partition = 0;
  uint32_t w_heal = 0;
  uint32_t w_crash = 0;
  uint32_t w_pause = 0;
  uint32_t w_clock_jump = 0;
  uint32_t w_clog = 0;
  uint32_t w_kill_leader = 0;     // crash whoever leads now (MIT's Figure 8 churn)
  uint32_t w_isolate_leader = 0;  // cut the leader off, leaving it with an uncommitted tail
  uint32_t w_membership = 0;      // add, remove, promote, re-address, wipe-and-rejoin a node
  // Chance that a new leader is killed within moments of winning, before its first entries are
  // everywhere (the Figure 8 window).
  uint32_t infant_leader_kill_ppm = 0;
  // Chance that a leader dies right after it applies an entry of an earlier term (Figure 8:
  // before its own term's first entry is on a majority, if it committed the old one too early).
  uint32_t old_entry_leader_kill_ppm = 0;
  uint32_t w_transfer = 0;        // leadership transfer to a random voter
  // Cut the leader off from the cluster while clients keep reading from it and write through
  // the others (SQL workloads): the old leader must stop serving reads before a new leader
  // can have committed anything.
  uint32_t w_lease_attack = 0;
  // Raft's Figure 8 as an episode (Simulation::figure8_step): the leader is cut off with an
  // uncommitted tail; the next leader is cut off the moment it wins (its first entry stays on
  // it alone); the first comes back, wins, and dies as soon as it applied part of its old tail;
  // the second comes back. Only a leader that commits old entries by counting replicas loses
  // something committed.
  uint32_t w_figure8 = 0;
  // Ongaro's scenario for single-server membership changes (raft-dev, 2015) as an episode
  // (Simulation::ongaro_begin), with four voters: the leader removes one node and is cut off
  // at once; the others elect a new leader, which is at once asked to remove the first; the
  // cluster splits into {first leader, one follower} and {new leader, one follower}. Each half
  // is a majority of the config its leader uses, so only the rule that a leader commits an entry
  // of its term before changing the config keeps the second change from being made.
  uint32_t w_ongaro = 0;
  // A reply that outlives two term changes, as an episode (Simulation::stale_begin; five voters
  // or more): a leader cut off with one follower, whose acknowledgements are held in the network;
  // another leader replaces that follower's tail; the first leads again (by a transfer), with
  // only one other follower, and the held acknowledgements arrive. Only a leader that takes a
  // reply from an older term as current counts the follower for entries it does not hold.
  uint32_t w_stale_reply = 0;
  // Hosts beyond the founding `nodes` that start outside the cluster and may join it.
  size_t spares = 0;
  // Founding members that start as non-voters (read replicas).
  size_t learners = 0;
  Duration down_max = std::chrono::seconds(3);   // how long a crashed node stays down
  // A partition (or heal) holds at least this long before the network is reshaped again.
  Duration partition_min_stable{0};
  Duration pause_max = std::chrono::seconds(2);
  Duration clock_jump_max = std::chrono::seconds(1);

  // Instead of the nemesis's random draws, exactly these faults (in time order).
  std::optional<std::vector<FaultStep>> schedule;
  // Fault injection for tests of the checker: leaders serve linearizable reads from their own
  // database without confirming leadership (ServiceOptions::unsafe_leader_reads).
  bool broken_reads = false;
  // rqlite's -bootstrap-expect (SQL workloads): founders start blank and found the cluster by
  // notifying each other through the service (svc::Service::expect_bootstrap) under the same
  // faults, instead of starting with the membership; founders are all voters then.
  bool bootstrap_expect = false;
  // The white-box checkers (ack-retracted, hard-state-regressed, term-behind-log,
  // membership-change-guard) read a node's private state; off, a bug must show in what the
  // cluster does (Raft's properties on applied entries, clients' histories, liveness).
  bool white_box = true;

  // Workload (chosen on the command line, not drawn from the seed).
  WorkloadKind workload = WorkloadKind::kRaft;
  svc::ReadLevel read_level = svc::ReadLevel::kLinearizable;
  size_t clients = 3;
  Duration client_think = std::chrono::milliseconds(20);
  Duration client_timeout = std::chrono::seconds(2);

  // After the healed nodes converged, cut the leader off from one follower only (Cloudflare's
  // 2020 pattern) and require the leader to keep its term for ten election timeouts: leader
  // stickiness must stop the follower that cannot hear it from deposing it.
  bool stickiness_check = false;

  // Phases: faults for `safety_duration`, then a healed majority must commit within
  // `liveness_bound`.
  Duration safety_duration = std::chrono::seconds(20);
  Duration liveness_bound = std::chrono::seconds(30);

  std::string describe() const;
};

Options draw_options(uint64_t seed);

// A fixed configuration for measuring the simulator itself: `nodes` nodes with rqlite-like
// timing (50 ms ticks, heartbeat every tick, election after 10), four clients writing with
// `think` between writes, a LAN's latency, snapshots every 1000 entries, and a light fault mix (a crash, a
// partition or a clock jump every few seconds), for `seconds` of simulated time.
Options bench_options(uint64_t seed, size_t nodes, int64_t seconds, Duration think);

// A small fixed cluster for explicit fault schedules: 3 nodes, 10 ms ticks, a LAN, three
// clients on the register workload, `safety` of faults; no random faults.
Options schedule_options(uint64_t seed, std::vector<FaultStep> schedule, Duration safety);

}  // namespace rq::sim
