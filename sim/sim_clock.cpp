#include "sim/sim_clock.h"

#include <algorithm>

namespace rq::sim {

SimClock::SimClock(std::function<Duration()> global_now, std::function<void(Duration, std::function<void()>)> post,
                   int64_t drift_ppm)
    : global_now_(std::move(global_now)), post_(std::move(post)), drift_ppm_(drift_ppm) {
  RQ_ASSERT_GT(drift_ppm, -500'000);
  anchor_global_ = global_now_();
  anchor_local_ = anchor_global_;
}

Duration SimClock::local_at(Duration global) const {
  const __int128 dt = (global - anchor_global_).count();
  const __int128 local = anchor_local_.count() + dt + dt * drift_ppm_ / 1'000'000;
  return Duration(static_cast<int64_t>(local));
}

Duration SimClock::global_at(Duration local) const {
  const __int128 dl = (local - anchor_local_).count();
  // Round up so a timer never fires before its local deadline.
  const __int128 denom = 1'000'000 + drift_ppm_;
  const __int128 dg = (dl * 1'000'000 + denom - 1) / denom;
  return Duration(static_cast<int64_t>(anchor_global_.count() + dg));
}

Duration SimClock::now() const { return local_at(global_now_()); }

int64_t SimClock::wall_unix_ns() const { return int64_t{1'735'689'600} * 1'000'000'000 + now().count(); }

TimerId SimClock::schedule(Duration delay, std::function<void()> fn) {
  const TimerId id = next_id_++;
  timers_.emplace(id, Timer{now() + delay, 0, std::move(fn)});
  post_timer(id);
  return id;
}

void SimClock::cancel(TimerId id) { timers_.erase(id); }

void SimClock::post_timer(TimerId id) {
  Timer& t = timers_.at(id);
  t.gen = next_gen_++;
  const uint64_t gen = t.gen;
  Duration at = global_at(t.deadline);
  const Duration g = global_now_();
  if (at < g) at = g;
  post_(at, [this, id, gen] { fire(id, gen); });
}

void SimClock::fire(TimerId id, uint64_t gen) {
  auto it = timers_.find(id);
  if (it == timers_.end() || it->second.gen != gen) return;  // cancelled or re-posted
  if (now() < it->second.deadline) {
    // Rounding put us a hair early: try again a nanosecond later (time must move, or this
    // would spin at one instant).
    Timer& t = it->second;
    t.gen = next_gen_++;
    const uint64_t g = t.gen;
    post_(std::max(global_at(t.deadline), global_now_() + Duration(1)), [this, id, g] { fire(id, g); });
    return;
  }
  auto fn = std::move(it->second.fn);
  timers_.erase(it);
  fn();
}

void SimClock::jump(Duration by) {
  RQ_ASSERT_GE(by.count(), 0);
  const Duration g = global_now_();
  anchor_local_ = local_at(g) + by;
  anchor_global_ = g;
  std::vector<TimerId> ids;
  for (const auto& [id, _] : timers_) ids.push_back(id);
  for (TimerId id : ids) post_timer(id);
}

}  // namespace rq::sim
