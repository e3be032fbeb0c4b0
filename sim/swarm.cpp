#include "sim/swarm.h"

#include <cstdio>

#include "core/prng.h"

namespace rq::sim {

namespace {

template <class T, size_t N>
T pick(Prng& p, const T (&choices)[N]) {
  return choices[p.below(N)];
}

int64_t ms(Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }
int64_t us(Duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

}  // namespace

const char* workload_name(WorkloadKind k) {
  switch (k) {
    case WorkloadKind::kRaft:
      return "raft";
    case WorkloadKind::kRegister:
      return "register";
    case WorkloadKind::kMultiRegister:
      return "multi-register";
    case WorkloadKind::kBank:
      return "bank";
    case WorkloadKind::kAppend:
      return "append";
    case WorkloadKind::kSet:
      return "set";
  }
  return "?";
}

std::optional<WorkloadKind> workload_from_name(std::string_view s) {
  for (auto k : {WorkloadKind::kRaft, WorkloadKind::kRegister, WorkloadKind::kMultiRegister, WorkloadKind::kBank,
                 WorkloadKind::kAppend, WorkloadKind::kSet}) {
    if (s == workload_name(k)) return k;
  }
  return std::nullopt;
}

Options draw_options(uint64_t seed) {
  using std::chrono::microseconds;
  using std::chrono::milliseconds;
  // Options get their own stream, separate from the run's, so adding an option later does not
  // change what existing seeds do once running... as long as it is drawn last.
  Prng p(seed ^ 0x5157a4d0c1f3e2b9ULL);
  Options o;
  o.seed = seed;
  o.nodes = p.range(3, 7);
  o.tick = milliseconds(pick(p, {10, 20, 50, 100}));
  o.election_ticks = static_cast<int>(p.range(5, 20));
  o.heartbeat_ticks = static_cast<int>(p.range(1, std::max(1, o.election_ticks / 4)));
  // Heartbeats no more often than every 20 ms (rqlite's are 100 ms apart): faster ones add
  // events, not coverage.
  while (o.tick * o.heartbeat_ticks < milliseconds(20) && o.heartbeat_ticks + 1 < o.election_ticks) ++o.heartbeat_ticks;
  o.max_inflight = pick(p, {1, 2, 8, 64, 256});
  o.max_msg_bytes = pick(p, {64ull, 1024ull, 64ull << 10});
  o.segment_bytes = pick(p, {4ull << 10, 64ull << 10, 1ull << 20});

  const Duration election = o.tick * o.election_ticks;
  o.net.latency_min = microseconds(p.range(50, 2000));
  o.net.latency_spread = microseconds(pick(p, {100, 1000, 5000, 20000}));
  if (us(o.net.latency_spread) * 10 > ms(election) * 1000 / 4) o.net.latency_spread = election / 40;
  o.net.tail_ppm = pick(p, {0u, 10'000u, 50'000u});
  o.net.loss_ppm = pick(p, {0u, 1'000u, 20'000u, 100'000u});
  o.net.dup_ppm = pick(p, {0u, 10'000u, 50'000u});
  o.net.replay_ppm = pick(p, {0u, 5'000u, 30'000u});

  o.disk.lose_all_ppm = pick(p, {0u, 300'000u, 700'000u});
  o.disk.torn_ppm = pick(p, {0u, 300'000u, 800'000u});
  o.disk.sync_fail_ppm = pick(p, {0u, 0u, 200u, 2'000u});
  const int64_t sync_us = pick(p, {0, 100, 2000, 10000});
  o.disk.sync_latency_min = microseconds(sync_us / 2);
  o.disk.sync_latency_max = microseconds(sync_us);
  o.drift_ppm_max = pick(p, {0, 100, 1000, 20000});

  o.nemesis_interval = milliseconds(pick(p, {200, 500, 1000, 3000}));
  o.w_partition = pick(p, {0u, 2u, 5u});
  o.w_heal = pick(p, {1u, 3u});
  o.w_crash = pick(p, {0u, 2u, 5u});
  o.w_pause = pick(p, {0u, 1u, 3u});
  o.w_clock_jump = pick(p, {0u, 1u, 2u});
  o.w_clog = pick(p, {0u, 1u, 3u});
  o.down_max = election * static_cast<int64_t>(p.range(1, 10));
  o.pause_max = election * static_cast<int64_t>(p.range(1, 4));
  o.clock_jump_max = election * static_cast<int64_t>(p.range(1, 3));

  o.clients = p.range(1, 5);
  // Drawn last so the options above keep their values for existing seeds.
  o.client_think = milliseconds(pick(p, {0, 5, 20, 100}));
  o.client_timeout = election * 4;

  o.safety_duration = milliseconds(p.range(5'000, 30'000));
  o.liveness_bound = std::max<Duration>(std::chrono::seconds(15), election * 2 * 15);
  o.w_kill_leader = pick(p, {0u, 0u, 2u, 6u});
  o.w_isolate_leader = pick(p, {0u, 0u, 2u, 6u});
  if (p.below(4) == 0) {
    // Many clients, but each one thinks: contention without a flood no real cluster would take.
    o.clients = p.range(6, 16);
    o.client_think = std::max<Duration>(o.client_think, milliseconds(20));
  }
  const bool churn = p.below(5) == 0;
  if (churn) {
    // Leader churn (MIT 6.824's Figure 8 test): leaders die within moments of winning, come back
    // fast, and tiny messages leave every log half-replicated.
    o.nemesis_interval = election / 4;
    o.w_kill_leader = 20;
    o.down_max = election;
    o.max_msg_bytes = 64;
  }
  // Snapshots: most seeds take them often enough to matter; some force tiny thresholds so
  // compaction, InstallSnapshot and restarts from a snapshot happen all the time.
  switch (p.below(4)) {
    case 0:
      o.snapshot_threshold = 8192;  // rqlite's default: rarely reached in a short run
      break;
    case 1:
      o.snapshot_threshold = p.range(100, 400);
      break;
    default:
      o.snapshot_threshold = p.range(2, 30);
      break;
  }
  const uint64_t trailing[] = {0, o.snapshot_threshold / 2, o.snapshot_threshold * 5 / 4};
  o.trailing_logs = trailing[p.below(3)];
  o.snapshot_chunk_bytes = pick(p, {512ull, 4096ull, 65536ull, 1ull << 20});
  o.snapshot_chunks_in_flight = pick(p, {1, 2, 8});
  o.snapshot_piece_bytes = pick(p, {64ull, 4096ull, 1ull << 20});
  o.snapshot_piece_delay = std::chrono::microseconds(pick(p, {0, 1000, 50000}));
  // Membership: half the seeds change it while faults fly.
  if (p.below(2) == 0) {
    o.spares = p.range(0, 2);
    o.w_membership = pick(p, {2u, 5u, 10u});
    if (p.below(3) == 0) o.learners = p.range(1, 2);
  }
  o.w_transfer = pick(p, {0u, 0u, 1u, 3u});
  o.partition_min_stable = o.tick * o.heartbeat_ticks * static_cast<int64_t>(pick(p, {1, 4, 20}));
  o.net.reorder_ppm = pick(p, {0u, 1'000u, 20'000u, 100'000u});
  if (churn) {
    // Half-replicated logs need replies and appends to cross in flight, and deposed leaders with
    // tails of their own.
    o.net.reorder_ppm = std::max<uint32_t>(o.net.reorder_ppm, 100'000);
    o.w_isolate_leader = std::max<uint32_t>(o.w_isolate_leader, 10);
    o.infant_leader_kill_ppm = pick(p, {200'000u, 500'000u});
  }
  // Drawn after everything above, so that existing seeds keep the options they had.
  // Packets held for several election timeouts: replies that outlive a term change.
  o.net.hold_ppm = pick(p, {0u, 0u, 2'000u, 20'000u});
  o.net.hold_max = election * static_cast<int64_t>(pick(p, {2, 5, 10}));
  if (p.below(3) == 0) {
    // The lease at its edge: clocks at the largest drift the lease allows for, some fast and
    // some slow, and one host campaigning exactly an election timeout after it last heard from
    // the leader. One only: two pinned hosts whose clocks run at the same rate would split
    // every vote between them forever (randomised timeouts exist to break such ties).
    o.drift_ppm_max = 20'000;
    o.drift_extremes = true;
    o.pinned_timeouts_mask = 1u << p.below(o.nodes + o.spares);
    o.w_lease_attack = pick(p, {4u, 12u});
  }
  o.stickiness_check = p.below(2) == 0;
  if (o.w_membership > 0) o.w_ongaro = pick(p, {0u, 2u, 6u});
  if (o.nodes >= 5) o.w_stale_reply = pick(p, {0u, 2u, 6u});
  if (churn) {
    // Figure 8 needs a returning leader to re-send its old tail slowly (one entry per message,
    // one message in flight) and to die once it applied part of it.
    if (p.below(2) == 0) o.max_inflight = 1;
    o.old_entry_leader_kill_ppm = pick(p, {300'000u, 1'000'000u});
    // Small clusters: fewer voters to line up for each step of the sequence.
    if (p.below(2) == 0) o.nodes = 3;
    o.w_figure8 = pick(p, {5u, 20u});
  }
  return o;
}

Options bench_options(uint64_t seed, size_t nodes, int64_t seconds, Duration think) {
  using std::chrono::microseconds;
  using std::chrono::milliseconds;
  Options o;
  o.seed = seed;
  o.nodes = nodes;
  o.tick = milliseconds(50);
  o.election_ticks = 10;
  o.heartbeat_ticks = 1;
  o.max_inflight = 64;
  o.max_msg_bytes = 64 << 10;
  o.segment_bytes = 1 << 20;
  o.snapshot_threshold = 1000;
  o.trailing_logs = 1250;
  o.snapshot_chunk_bytes = 64 << 10;
  o.snapshot_chunks_in_flight = 4;
  o.snapshot_piece_bytes = 1 << 20;
  o.net.latency_min = microseconds(100);
  o.net.latency_spread = microseconds(500);
  o.net.tail_ppm = 10'000;
  o.net.loss_ppm = 1'000;
  o.disk.sync_latency_min = microseconds(500);
  o.disk.sync_latency_max = microseconds(2000);
  o.drift_ppm_max = 100;
  o.nemesis_interval = std::chrono::seconds(3);
  o.w_partition = 1;
  o.w_heal = 2;
  o.w_crash = 1;
  o.w_clock_jump = 1;
  o.clients = 4;
  o.client_think = think;
  o.client_timeout = o.tick * o.election_ticks * 4;
  o.safety_duration = std::chrono::seconds(seconds);
  o.liveness_bound = std::chrono::seconds(15);
  return o;
}

const char* fault_name(FaultStep::Kind k) {
  switch (k) {
    case FaultStep::Kind::kIsolate:
      return "isolate";
    case FaultStep::Kind::kIsolateLeader:
      return "isolate-leader";
    case FaultStep::Kind::kHeal:
      return "heal";
    case FaultStep::Kind::kCrash:
      return "crash";
    case FaultStep::Kind::kRestart:
      return "restart";
    case FaultStep::Kind::kKillLeader:
      return "kill-leader";
    case FaultStep::Kind::kPause:
      return "pause";
    case FaultStep::Kind::kClockJump:
      return "clock-jump";
  }
  return "?";
}

std::string describe(const std::vector<FaultStep>& schedule) {
  std::string out = "[";
  for (const FaultStep& f : schedule) {
    if (out.size() > 1) out += "; ";
    out += std::to_string(ms(f.at)) + "ms " + fault_name(f.kind);
    switch (f.kind) {
      case FaultStep::Kind::kIsolate:
      case FaultStep::Kind::kCrash:
      case FaultStep::Kind::kRestart:
        out += " n" + std::to_string(f.node);
        break;
      case FaultStep::Kind::kPause:
      case FaultStep::Kind::kClockJump:
        out += " n" + std::to_string(f.node) + " " + std::to_string(ms(f.length)) + "ms";
        break;
      default:
        break;
    }
  }
  return out + "]";
}

Options schedule_options(uint64_t seed, std::vector<FaultStep> schedule, Duration safety) {
  using std::chrono::microseconds;
  using std::chrono::milliseconds;
  Options o;
  o.seed = seed;
  o.nodes = 3;
  o.tick = milliseconds(10);
  o.election_ticks = 10;
  o.heartbeat_ticks = 2;
  o.snapshot_threshold = 200;
  o.trailing_logs = 100;
  o.net.latency_min = microseconds(200);
  o.net.latency_spread = microseconds(500);
  o.disk.sync_latency_min = microseconds(100);
  o.disk.sync_latency_max = microseconds(500);
  o.disk.lose_all_ppm = 300'000;
  o.disk.torn_ppm = 300'000;
  o.drift_ppm_max = 100;
  o.clients = 3;
  o.client_think = milliseconds(5);
  o.client_timeout = milliseconds(400);
  o.workload = WorkloadKind::kRegister;
  o.safety_duration = safety;
  o.liveness_bound = std::chrono::seconds(10);
  o.schedule = std::move(schedule);
  return o;
}

std::string Options::describe() const {
  std::string out;
  auto add = [&out](const char* name, long long v) {
    if (!out.empty()) out += ' ';
    out += name;
    out += '=';
    out += std::to_string(v);
  };
  auto addu = [&add](const char* name, uint64_t v) { add(name, static_cast<long long>(v)); };
  addu("seed", seed);
  addu("nodes", nodes);
  add("tick_ms", ms(tick));
  add("election_ticks", election_ticks);
  add("heartbeat_ticks", heartbeat_ticks);
  addu("max_inflight", max_inflight);
  addu("max_msg_bytes", max_msg_bytes);
  addu("segment_bytes", segment_bytes);
  addu("snapshot_threshold", snapshot_threshold);
  addu("trailing_logs", trailing_logs);
  addu("snapshot_chunk_bytes", snapshot_chunk_bytes);
  addu("snapshot_chunks_in_flight", snapshot_chunks_in_flight);
  addu("snapshot_piece_bytes", snapshot_piece_bytes);
  add("snapshot_piece_delay_us", us(snapshot_piece_delay));
  add("latency_min_us", us(net.latency_min));
  add("latency_spread_us", us(net.latency_spread));
  addu("tail_ppm", net.tail_ppm);
  addu("loss_ppm", net.loss_ppm);
  addu("dup_ppm", net.dup_ppm);
  addu("replay_ppm", net.replay_ppm);
  addu("reorder_ppm", net.reorder_ppm);
  addu("hold_ppm", net.hold_ppm);
  add("hold_max_ms", ms(net.hold_max));
  addu("disk_lose_all_ppm", disk.lose_all_ppm);
  addu("torn_ppm", disk.torn_ppm);
  addu("sync_fail_ppm", disk.sync_fail_ppm);
  add("sync_min_us", us(disk.sync_latency_min));
  add("sync_max_us", us(disk.sync_latency_max));
  add("drift_ppm_max", drift_ppm_max);
  addu("drift_extremes", drift_extremes ? 1 : 0);
  addu("pinned_timeouts_mask", pinned_timeouts_mask);
  add("nemesis_ms", ms(nemesis_interval));
  addu("w_partition", w_partition);
  addu("w_heal", w_heal);
  addu("w_crash", w_crash);
  addu("w_pause", w_pause);
  addu("w_clock_jump", w_clock_jump);
  addu("w_clog", w_clog);
  addu("w_kill_leader", w_kill_leader);
  addu("w_isolate_leader", w_isolate_leader);
  addu("w_membership", w_membership);
  addu("infant_leader_kill_ppm", infant_leader_kill_ppm);
  addu("old_entry_leader_kill_ppm", old_entry_leader_kill_ppm);
  addu("w_transfer", w_transfer);
  addu("w_lease_attack", w_lease_attack);
  addu("w_figure8", w_figure8);
  addu("w_ongaro", w_ongaro);
  addu("w_stale_reply", w_stale_reply);
  addu("spares", spares);
  addu("learners", learners);
  add("down_max_ms", ms(down_max));
  add("partition_min_stable_ms", ms(partition_min_stable));
  add("pause_max_ms", ms(pause_max));
  add("clock_jump_max_ms", ms(clock_jump_max));
  out += std::string(" workload=") + workload_name(workload);
  if (workload != WorkloadKind::kRaft) out += std::string(" read_level=") + svc::to_string(read_level);
  addu("clients", clients);
  add("think_ms", ms(client_think));
  add("client_timeout_ms", ms(client_timeout));
  add("safety_ms", ms(safety_duration));
  if (schedule) out += " schedule=" + rq::sim::describe(*schedule);
  if (broken_reads) out += " broken_reads=1";
  if (bootstrap_expect) out += " bootstrap_expect=1";
  if (stickiness_check) out += " stickiness_check=1";
  if (!white_box) out += " white_box=0";
  add("liveness_bound_ms", ms(liveness_bound));
  return out;
}

}  // namespace rq::sim
