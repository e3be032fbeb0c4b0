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
  if (p.below(4) == 0) o.clients = p.range(6, 16);
  if (p.below(5) == 0) {
    // Leader churn (MIT 6.824's Figure 8 test): leaders die within moments of winning, come back
    // fast, and tiny messages leave every log half-replicated.
    o.nemesis_interval = election / 4;
    o.w_kill_leader = 20;
    o.down_max = election;
    o.max_msg_bytes = 64;
  }
  return o;
}

std::string Options::describe() const {
  char buf[1024];
  std::snprintf(
      buf, sizeof buf,
      "seed=%llu nodes=%zu tick_ms=%lld election_ticks=%d heartbeat_ticks=%d max_inflight=%zu max_msg_bytes=%llu "
      "segment_bytes=%llu latency_us=%lld+%lld tail_ppm=%u loss_ppm=%u dup_ppm=%u replay_ppm=%u "
      "disk_lose_all_ppm=%u torn_ppm=%u sync_fail_ppm=%u sync_us=%lld-%lld drift_ppm_max=%lld "
      "nemesis_ms=%lld w_partition=%u w_heal=%u w_crash=%u w_pause=%u w_clock_jump=%u w_clog=%u w_kill_leader=%u w_isolate_leader=%u down_max_ms=%lld "
      "pause_max_ms=%lld clock_jump_max_ms=%lld clients=%zu think_ms=%lld client_timeout_ms=%lld safety_ms=%lld "
      "liveness_bound_ms=%lld",
      static_cast<unsigned long long>(seed), nodes, static_cast<long long>(ms(tick)), election_ticks, heartbeat_ticks,
      max_inflight, static_cast<unsigned long long>(max_msg_bytes), static_cast<unsigned long long>(segment_bytes),
      static_cast<long long>(us(net.latency_min)), static_cast<long long>(us(net.latency_spread)), net.tail_ppm,
      net.loss_ppm, net.dup_ppm, net.replay_ppm, disk.lose_all_ppm, disk.torn_ppm, disk.sync_fail_ppm,
      static_cast<long long>(us(disk.sync_latency_min)), static_cast<long long>(us(disk.sync_latency_max)),
      static_cast<long long>(drift_ppm_max), static_cast<long long>(ms(nemesis_interval)), w_partition, w_heal,
      w_crash, w_pause, w_clock_jump, w_clog, w_kill_leader, w_isolate_leader, static_cast<long long>(ms(down_max)),
      static_cast<long long>(ms(pause_max)), static_cast<long long>(ms(clock_jump_max)), clients,
      static_cast<long long>(ms(client_think)), static_cast<long long>(ms(client_timeout)),
      static_cast<long long>(ms(safety_duration)), static_cast<long long>(ms(liveness_bound)));
  return buf;
}

}  // namespace rq::sim
