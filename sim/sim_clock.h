// A node's monotonic clock in simulated time. It runs at its own rate (drift, in parts per
// million) and can jump forward (a VM stall, a suspended laptop); it never goes back. Timers are
// kept in local time and re-posted when the clock jumps.
#pragma once

#include <cstdint>
#include <functional>
#include <map>

#include "core/clock.h"

namespace rq::sim {

class SimClock final : public Clock {
 public:
  // `global_now` gives the simulated time at which the node is currently working (its cursor);
  // `post(at, fn)` runs fn at global time `at` on the node (the host drops it after a crash).
  SimClock(std::function<Duration()> global_now, std::function<void(Duration, std::function<void()>)> post,
           int64_t drift_ppm);

  Duration now() const override;
  // A fixed epoch (2025-01-01T00:00:00Z) plus this node's clock: deterministic, drifting with it.
  int64_t wall_unix_ns() const override;
  TimerId schedule(Duration delay, std::function<void()> fn) override;
  void cancel(TimerId id) override;

  // Local time moves forward by `by` at once.
  void jump(Duration by);
  // Forget every timer (the process died).
  void clear_timers() { timers_.clear(); }
  int64_t drift_ppm() const { return drift_ppm_; }

 private:
  Duration local_at(Duration global) const;
  Duration global_at(Duration local) const;
  void post_timer(TimerId id);
  void fire(TimerId id, uint64_t gen);

  struct Timer {
    Duration deadline;  // local
    uint64_t gen;
    std::function<void()> fn;
  };
  std::function<Duration()> global_now_;
  std::function<void(Duration, std::function<void()>)> post_;
  int64_t drift_ppm_;
  Duration anchor_global_{};
  Duration anchor_local_{};
  std::map<TimerId, Timer> timers_;
  TimerId next_id_ = 1;
  uint64_t next_gen_ = 1;
};

}  // namespace rq::sim
