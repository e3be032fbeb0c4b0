// Monotonic time and timers. The real implementation (net/) runs on Asio's steady timer; the
// simulator's (sim/) runs on simulated time with per-node drift and jumps.
#pragma once

#include <cstdint>
#include <functional>

#include "core/types.h"

namespace rq {

using TimerId = uint64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic: never decreases. May run fast or slow relative to other nodes' clocks.
  virtual Duration now() const = 0;
  // Wall-clock time, nanoseconds since the Unix epoch: only for stamping what users see as
  // "now" (SQL's date and time functions), never for timeouts or ordering.
  virtual int64_t wall_unix_ns() const = 0;
  // Calls fn once, no earlier than `delay` from now by this clock. Returns an id for cancel().
  virtual TimerId schedule(Duration delay, std::function<void()> fn) = 0;
  // Cancels a pending timer; a no-op for one that fired or was cancelled.
  virtual void cancel(TimerId id) = 0;
};

}  // namespace rq
