// The simulator's only scheduler: a single-threaded discrete-event queue ordered by (time,
// sequence number), so ties break the same way every run. Idle time costs nothing: now() jumps to
// the next event. (foundationdb fdbrpc/sim2.cpp, flow/TaskQueue.h)
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/types.h"

namespace rq::sim {

class EventQueue {
 public:
  using Fn = std::function<void()>;

  Duration now() const { return now_; }
  // Runs fn at time t (>= now).
  void at(Duration t, Fn fn);
  void after(Duration d, Fn fn) { at(now_ + d, std::move(fn)); }
  // Pops and runs the earliest event. False when empty.
  bool run_next();
  bool empty() const { return heap_.empty(); }
  Duration next_time() const;
  uint64_t executed() const { return executed_; }

 private:
  struct Event {
    Duration t;
    uint64_t seq;
    Fn fn;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.t != b.t ? a.t > b.t : a.seq > b.seq;
    }
  };
  std::vector<Event> heap_;
  Duration now_{};
  uint64_t seq_ = 0;
  uint64_t executed_ = 0;
};

}  // namespace rq::sim
