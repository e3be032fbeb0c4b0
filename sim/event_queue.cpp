#include "sim/event_queue.h"

#include <algorithm>

namespace rq::sim {

void EventQueue::at(Duration t, Fn fn) {
  RQ_ASSERT_GE(t.count(), now_.count());
  heap_.push_back(Event{t, seq_++, std::move(fn)});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
}

bool EventQueue::run_next() {
  if (heap_.empty()) return false;
  std::pop_heap(heap_.begin(), heap_.end(), Later{});
  Event ev = std::move(heap_.back());
  heap_.pop_back();
  now_ = ev.t;
  ++executed_;
  ev.fn();
  return true;
}

Duration EventQueue::next_time() const {
  RQ_ASSERT(!heap_.empty());
  return heap_.front().t;
}

}  // namespace rq::sim
