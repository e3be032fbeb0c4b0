#include "net/asio_clock.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

namespace rq::net {

struct AsioClock::Timer {
  explicit Timer(boost::asio::io_context& io) : t(io) {}
  boost::asio::steady_timer t;
  std::function<void()> fn;
};

AsioClock::AsioClock(boost::asio::io_context& io) : io_(io) {}

AsioClock::~AsioClock() {
  // Handlers still queued see their timer gone and do nothing.
  for (auto& [id, t] : timers_) t->t.cancel();
}

Duration AsioClock::now() const {
  return std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now().time_since_epoch());
}

int64_t AsioClock::wall_unix_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TimerId AsioClock::schedule(Duration delay, std::function<void()> fn) {
  const TimerId id = next_++;
  auto timer = std::make_unique<Timer>(io_);
  timer->fn = std::move(fn);
  timer->t.expires_after(std::max(delay, Duration{0}));
  timer->t.async_wait([this, id](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled
    auto it = timers_.find(id);
    if (it == timers_.end()) return;
    // Asio moved this handler out of the timer before calling it, so the timer may go now.
    std::function<void()> f = std::move(it->second->fn);
    timers_.erase(it);
    f();
  });
  timers_.emplace(id, std::move(timer));
  return id;
}

void AsioClock::cancel(TimerId id) {
  auto it = timers_.find(id);
  if (it == timers_.end()) return;
  it->second->t.cancel();
  timers_.erase(it);
}

}  // namespace rq::net
