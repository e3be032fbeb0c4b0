// The Clock boundary on real time: now() is the monotonic clock (std::chrono::steady_clock),
// timers are Asio steady timers on the node's io_context, and wall_unix_ns() is the system
// clock, used only to stamp what users see as SQL's "now". Use from the io_context's thread.
#pragma once

#include <memory>
#include <unordered_map>

#include "core/clock.h"

namespace boost::asio {
class io_context;
}

namespace rq::net {

class AsioClock final : public Clock {
 public:
  explicit AsioClock(boost::asio::io_context& io);
  ~AsioClock() override;
  AsioClock(const AsioClock&) = delete;
  AsioClock& operator=(const AsioClock&) = delete;

  Duration now() const override;
  int64_t wall_unix_ns() const override;
  TimerId schedule(Duration delay, std::function<void()> fn) override;
  void cancel(TimerId id) override;
  size_t pending() const { return timers_.size(); }

 private:
  struct Timer;
  boost::asio::io_context& io_;
  std::unordered_map<TimerId, std::unique_ptr<Timer>> timers_;
  TimerId next_ = 1;
};

}  // namespace rq::net
