#include "core/node.h"

#include <algorithm>
#include <utility>

#include "core/wire/codec.h"

namespace rq {

Node::Node(NodeConfig cfg, Clock& clock, Transport& transport, Disk& disk, Prng prng, StateMachine& sm,
           NodeObserver* observer)
    : cfg_(std::move(cfg)),
      clock_(clock),
      transport_(transport),
      disk_(disk),
      prng_(prng),
      sm_(sm),
      observer_(observer != nullptr ? observer : &null_observer_) {}

Node::~Node() { stop(); }

Status Node::start() {
  RQ_ASSERT(raft_ == nullptr);
  storage::RecoveredLog rec;
  storage::LogStoreOptions sopts = cfg_.store;
  if (sopts.salt_seed == 0) sopts.salt_seed = prng_.next_u64() | 1;
  auto store = storage::LogStore::open(disk_, sopts, &rec);
  if (!store) {
    fail_stop(Error{store.error().code, "cannot recover the log: " + store.error().message});
    return store.error();
  }
  store_ = std::move(store.value());
  observer_->on_recovered(id(), rec);
  // The state machine here is rebuilt by re-applying the log from the start.
  raft_ = std::make_unique<raft::Raft>(cfg_.raft, prng_.split(), rec.hard_state, std::move(rec.entries),
                                       LogIndex{0});
  last_tick_ = clock_.now();
  arm_tick();
  process();
  return ok_status();
}

void Node::stop() {
  if (tick_armed_) {
    clock_.cancel(tick_timer_);
    tick_armed_ = false;
  }
}

void Node::arm_tick() {
  const Duration next = last_tick_ + cfg_.tick_interval;
  const Duration now = clock_.now();
  const Duration delay = next > now ? next - now : Duration{0};
  tick_timer_ = clock_.schedule(delay, [this] {
    tick_armed_ = false;
    on_tick();
  });
  tick_armed_ = true;
}

void Node::on_tick() {
  if (!running()) return;
  // Ticks follow this node's clock: a clock that jumps or a process that was paused sees the
  // elapsed ticks at once (bounded), as a real process would.
  const Duration now = clock_.now();
  int64_t due = (now - last_tick_) / cfg_.tick_interval;
  if (due < 1) due = 1;
  if (due > cfg_.max_ticks_per_wakeup) {
    due = cfg_.max_ticks_per_wakeup;
    last_tick_ = now;
  } else {
    last_tick_ += cfg_.tick_interval * due;
  }
  for (int64_t k = 0; k < due && running(); ++k) {
    raft_->tick();
    process();
  }
  if (running()) arm_tick();
}

void Node::receive(std::string_view bytes) {
  if (!running()) return;
  auto m = wire::decode(bytes);
  if (!m) {
    ++stats_.messages_rejected;
    return;
  }
  if (m->to != id()) {
    ++stats_.messages_rejected;
    return;
  }
  ++stats_.messages_received;
  raft_->step(*m);
  process();
}

raft::ProposeResult Node::propose(std::string data) {
  if (!running()) return raft::ProposeResult{};
  auto r = raft_->propose(std::move(data));
  process();
  return r;
}

void Node::campaign() {
  if (!running()) return;
  raft_->campaign();
  process();
}

void Node::send_all(std::vector<raft::Message>& msgs) {
  const raft::HardState hs = raft_->hard_state();
  for (auto& m : msgs) {
    observer_->on_send(id(), m, hs);
    ++stats_.messages_sent;
    transport_.send(m.to, wire::encode(m));
  }
}

void Node::process() {
  RQ_ASSERT(!processing_);
  processing_ = true;
  while (running() && raft_->has_ready()) {
    raft::Ready rd = raft_->ready();
    ++stats_.readies;
    if (rd.soft_state) observer_->on_soft_state(id(), *rd.soft_state, raft_->term());
    // The leader's appends may go out while its own disk write is in flight (thesis §10.2.1).
    send_all(rd.messages);
    if (Status st = store_->append(rd.entries, rd.hard_state); !st) {
      fail_stop(Error{st.error().code, "log write failed: " + st.error().message});
      break;
    }
    if (rd.must_sync) {
      ++stats_.syncs;
      if (Status st = store_->sync(); !st) {
        // After a failed fsync the kernel may have dropped the dirty pages: nothing written since
        // the last good sync can be trusted, so the node stops (the "fsyncgate" lesson).
        fail_stop(Error{st.error().code, "log sync failed: " + st.error().message});
        break;
      }
    }
    if (!rd.entries.empty()) {
      const Term prev = raft_->log().term(rd.entries.front().index - 1).value_or(Term{0});
      observer_->on_persisted(id(), rd.entries, prev);
    }
    send_all(rd.messages_after_sync);
    for (const auto& e : rd.committed_entries) {
      sm_.apply(e);
      ++stats_.entries_applied;
      observer_->on_applied(id(), e);
    }
    raft_->advance(rd);
  }
  processing_ = false;
}

void Node::fail_stop(Error why) {
  if (failed_) return;
  failed_ = true;
  failure_ = why.message;
  stop();
  observer_->on_fail_stop(id(), why);
}

}  // namespace rq
