#include "sim/network.h"

#include <algorithm>

namespace rq::sim {

static constexpr size_t kHistory = 64;

Network::Network(EventQueue& q, Prng prng, NetworkOptions opts, size_t nodes, Deliver deliver)
    : q_(q),
      prng_(prng),
      opts_(opts),
      n_(nodes),
      deliver_(std::move(deliver)),
      up_((nodes + 1) * (nodes + 1), true),
      clog_until_((nodes + 1) * (nodes + 1), Duration{0}),
      held_((nodes + 1) * (nodes + 1)),
      echo_until_((nodes + 1) * (nodes + 1), Duration{0}),
      last_arrival_((nodes + 1) * (nodes + 1), Duration{0}) {}

size_t Network::link(NodeId from, NodeId to) const {
  RQ_ASSERT_LE(from.v, n_);
  RQ_ASSERT_LE(to.v, n_);
  return from.v * (n_ + 1) + to.v;
}

void Network::set_link(NodeId from, NodeId to, bool up) { up_[link(from, to)] = up; }
bool Network::link_up(NodeId from, NodeId to) const { return up_[link(from, to)]; }

void Network::heal_all() {
  std::fill(up_.begin(), up_.end(), true);
  std::fill(clog_until_.begin(), clog_until_.end(), Duration{0});
  for (size_t l = 0; l < held_.size(); ++l) {
    if (!held_[l].empty()) release(l);
  }
}

void Network::clog(NodeId from, NodeId to, Duration until) {
  const size_t l = link(from, to);
  clog_until_[l] = until;
  if (until <= q_.now()) {
    release(l);
  } else {
    q_.at(until, [this, l] { release(l); });
  }
}

void Network::echo(NodeId from, NodeId to, Duration until) { echo_until_[link(from, to)] = until; }

void Network::release(size_t l) {
  if (q_.now() < clog_until_[l] || held_[l].empty()) return;  // the clog was extended
  std::vector<Held> out;
  out.swap(held_[l]);
  for (Held& h : out) {
    // Released together, in no particular order (a reordering fault of its own).
    const Duration at = q_.now() + Duration(static_cast<int64_t>(prng_.below(1000)));
    q_.at(at, [this, from = h.from, to = h.to, b = std::move(h.bytes)]() mutable {
      if (!link_up(from, to)) {
        ++stats_.dropped_partition;
        return;
      }
      ++stats_.delivered;
      deliver_(from, to, std::move(b));
    });
  }
}

Duration Network::draw_latency() {
  auto spread = static_cast<uint64_t>(opts_.latency_spread.count());
  if (prng_.chance_ppm(opts_.tail_ppm)) spread *= 10;
  return opts_.latency_min + Duration(static_cast<int64_t>(spread == 0 ? 0 : prng_.below(spread + 1)));
}

void Network::send(NodeId from, NodeId to, std::string bytes, Duration depart) {
  ++stats_.sent;
  if (!link_up(from, to)) {
    ++stats_.dropped_partition;
    return;
  }
  if (opts_.faults && prng_.chance_ppm(opts_.loss_ppm)) {
    ++stats_.dropped_loss;
    return;
  }
  if (opts_.faults && prng_.chance_ppm(opts_.replay_ppm) && !history_.empty()) {
    // An old packet from anywhere in the recent past shows up again (a retransmitting switch).
    const Past& p = history_[prng_.below(history_.size())];
    ++stats_.replayed;
    schedule(p.from, p.to, p.bytes, depart + draw_latency(), false);
  }
  if (opts_.faults && prng_.chance_ppm(opts_.dup_ppm)) {
    ++stats_.duplicated;
    schedule(from, to, bytes, depart + draw_latency(), false);
  }
  if (const size_t l = link(from, to); echo_until_[l] > depart) {
    ++stats_.echoed;
    held_[l].push_back(Held{from, to, bytes});
  }
  if (opts_.replay_ppm > 0) {
    history_.push_back(Past{from, to, bytes});
    if (history_.size() > kHistory) history_.pop_front();
  }
  if (opts_.faults && opts_.hold_max.count() > 0 && prng_.chance_ppm(opts_.hold_ppm)) {
    ++stats_.held;
    const auto hold = static_cast<uint64_t>(opts_.hold_max.count());
    const Duration at = depart + Duration(static_cast<int64_t>(hold / 4 + prng_.below(hold - hold / 4 + 1)));
    schedule(from, to, std::move(bytes), at, false, false);
    return;
  }
  const bool reorder = opts_.faults && prng_.chance_ppm(opts_.reorder_ppm);
  if (reorder) ++stats_.reordered;
  schedule(from, to, std::move(bytes), depart + draw_latency(), !reorder);
}

void Network::schedule(NodeId from, NodeId to, std::string bytes, Duration at, bool in_order, bool blocks) {
  Duration& last = last_arrival_[link(from, to)];
  if (in_order && at <= last) at = last + Duration(1);
  if (blocks && at > last) last = at;
  const size_t l = link(from, to);
  if (clog_until_[l] > at) {
    // Held in the clogged link until it clears (Network::release).
    ++stats_.clogged;
    held_[l].push_back(Held{from, to, std::move(bytes)});
    return;
  }
  q_.at(at, [this, from, to, b = std::move(bytes)]() mutable {
    // A link cut while the packet was in flight loses it too.
    if (!link_up(from, to)) {
      ++stats_.dropped_partition;
      return;
    }
    ++stats_.delivered;
    deliver_(from, to, std::move(b));
  });
}

}  // namespace rq::sim
