#include "jepsen/nemesis.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace rq::jepsen {

const char* fault_name(FaultKind k) {
  switch (k) {
    case FaultKind::kKill:
      return "kill";
    case FaultKind::kPause:
      return "pause";
    case FaultKind::kPartition:
      return "partition";
    case FaultKind::kClock:
      return "clock";
  }
  return "?";
}

bool parse_nemesis(const std::string& s, std::vector<FaultKind>* out, std::string* why) {
  out->clear();
  if (s == "none" || s.empty()) return true;
  size_t a = 0;
  while (a <= s.size()) {
    size_t b = s.find(',', a);
    if (b == std::string::npos) b = s.size();
    const std::string one = s.substr(a, b - a);
    bool found = false;
    for (FaultKind k : {FaultKind::kKill, FaultKind::kPause, FaultKind::kPartition, FaultKind::kClock}) {
      if (one == fault_name(k)) {
        if (std::find(out->begin(), out->end(), k) == out->end()) out->push_back(k);
        found = true;
      }
    }
    if (!found) {
      *why = "unknown nemesis \"" + one + "\" (kill, pause, partition, clock or none)";
      return false;
    }
    a = b + 1;
  }
  return true;
}

Nemesis::Nemesis(boost::asio::io_context& io, Cluster& cluster, Firewall* firewall, Prng prng, NemesisOptions o,
                 FindLeader find_leader, Note note)
    : io_(io),
      cluster_(cluster),
      firewall_(firewall),
      prng_(prng),
      o_(std::move(o)),
      find_leader_(std::move(find_leader)),
      note_(std::move(note)),
      timer_(io) {}

double Nemesis::uniform(double lo, double hi) {
  return lo + (hi - lo) * static_cast<double>(prng_.below(1'000'001)) / 1e6;
}

std::vector<int> Nemesis::shuffled() {
  std::vector<int> v;
  for (int k = 1; k <= cluster_.size(); ++k) v.push_back(k);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[prng_.below(i)]);
  return v;
}

void Nemesis::start() {
  if (o_.kinds.empty()) return;
  schedule();
}

void Nemesis::schedule() {
  if (stopped_) return;
  timer_.expires_after(std::chrono::milliseconds(static_cast<int64_t>(uniform(o_.quiet_min_s, o_.quiet_max_s) * 1000)));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !stopped_) begin();
  });
}

void Nemesis::begin() {
  const FaultKind k = o_.kinds[prng_.below(o_.kinds.size())];
  // Draw everything the fault needs now, so the schedule depends on the seed alone; the leader
  // is the only thing asked of the cluster.
  find_leader_([this, k](int leader) {
    if (stopped_) return;
    apply(k, leader);
    if (!active_) {
      schedule();
      return;
    }
    ++faults_;
    timer_.expires_after(std::chrono::milliseconds(static_cast<int64_t>(uniform(o_.hold_min_s, o_.hold_max_s) * 1000)));
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec || stopped_) return;
      end_fault();
      schedule();
    });
  });
}

bool Nemesis::start_node(int k) {
  std::string why;
  if (cluster_.start(k, &why)) return true;
  if (trouble_.empty()) trouble_ = "node " + std::to_string(k) + " would not start: " + why;
  return false;
}

void Nemesis::cut_between(const std::vector<int>& a, const std::vector<int>& b, std::set<std::pair<int, int>>* cuts) {
  for (int x : a) {
    for (int y : b) {
      cuts->insert({x, y});
      cuts->insert({y, x});
    }
  }
}

void Nemesis::partition(const std::string& what, const std::set<std::pair<int, int>>& cuts) {
  std::string why;
  if (!firewall_->set(cuts, &why)) {
    if (trouble_.empty()) trouble_ = why;
    return;
  }
  std::string list;
  for (const auto& [a, b] : cuts) list += (list.empty() ? "" : " ") + std::to_string(a) + "->" + std::to_string(b);
  active_ = true;
  active_what_ = what + " (cut " + list + ")";
}

void Nemesis::apply(FaultKind k, int leader) {
  const int n = cluster_.size();
  active_kind_ = k;
  active_ = false;
  std::vector<int> order = shuffled();
  const int any = order.front();
  const int target_leader = leader != 0 ? leader : any;
  switch (k) {
    case FaultKind::kKill: {
      const uint64_t v = prng_.below(4);
      if (v == 3) {
        // A graceful restart: over as soon as the node is back.
        const bool clean = cluster_.terminate(any);
        active_what_ = "graceful restart of node " + std::to_string(any) + (clean ? "" : " (did not exit in 10 s: killed)");
        note_(fault_name(k), "start " + active_what_);
        start_node(any);
        note_(fault_name(k), "end " + active_what_);
        return;
      }
      std::vector<int> victims;
      if (v == 0) victims = {any};
      if (v == 1) victims = {target_leader};
      if (v == 2) victims.assign(order.begin(), order.begin() + (n / 2 + 1));
      for (int x : victims) cluster_.kill(x);
      killed_ = victims;
      std::string list;
      for (int x : victims) list += (list.empty() ? "" : ",") + std::to_string(x);
      active_what_ = std::string(v == 0 ? "kill -9 node " : v == 1 ? "kill -9 the leader, node " : "kill -9 a majority, nodes ") + list;
      active_ = true;
      break;
    }
    case FaultKind::kPause: {
      const int x = prng_.below(2) == 0 ? target_leader : any;
      cluster_.pause(x);
      paused_ = {x};
      active_what_ = std::string("SIGSTOP ") + (x == leader ? "the leader, node " : "node ") + std::to_string(x);
      active_ = true;
      break;
    }
    case FaultKind::kPartition: {
      std::set<std::pair<int, int>> cuts;
      uint64_t v = prng_.below(5);
      if (v == 2 && n < 5) v = 0;  // a ring of 3 where each sees a majority is no partition
      if (v == 0) {
        const std::vector<int> a(order.begin(), order.begin() + n / 2), b(order.begin() + n / 2, order.end());
        cut_between(a, b, &cuts);
        partition("random halves", cuts);
      } else if (v == 1) {
        std::vector<int> rest;
        for (int x = 1; x <= n; ++x) {
          if (x != target_leader) rest.push_back(x);
        }
        cut_between({target_leader}, rest, &cuts);
        partition("node " + std::to_string(target_leader) + (target_leader == leader ? " (the leader)" : "") + " isolated", cuts);
      } else if (v == 2) {
        // Ring order: each node talks to its neighbours within distance d, a majority with itself.
        const int d = n / 4 + (n % 4 >= 1 ? 1 : 0);  // 5 -> 1: 3 of 5
        for (int i = 0; i < n; ++i) {
          for (int j = 0; j < n; ++j) {
            const int dist = std::min((i - j + n) % n, (j - i + n) % n);
            if (dist > d) cuts.insert({order[i], order[j]});
          }
        }
        partition("majority ring", cuts);
      } else if (v == 3) {
        const int half = (n - 1) / 2;
        const std::vector<int> a(order.begin(), order.begin() + half), b(order.begin() + half + 1, order.end());
        cut_between(a, b, &cuts);
        partition("bridge through node " + std::to_string(order[half]), cuts);
      } else {
        const int x = any;
        const bool out = prng_.below(2) == 0;
        for (int y = 1; y <= n; ++y) {
          if (y != x) cuts.insert(out ? std::make_pair(x, y) : std::make_pair(y, x));
        }
        partition("one way: node " + std::to_string(x) + (out ? " cannot send" : " cannot receive"), cuts);
      }
      break;
    }
    case FaultKind::kClock: {
      if (!cluster_.clock_controlled()) {
        if (trouble_.empty()) trouble_ = "the clock nemesis needs libfaketime";
        return;
      }
      const int x = prng_.below(2) == 0 ? target_leader : any;
      FakeClock c;
      const uint64_t v = prng_.below(4);
      char spec[64];
      if (v == 0) {
        std::snprintf(spec, sizeof spec, "+0 x%.2f", uniform(1.5, 3.0));
      } else if (v == 1) {
        std::snprintf(spec, sizeof spec, "+0 x%.2f", uniform(0.3, 0.7));
      } else if (v == 2) {
        std::snprintf(spec, sizeof spec, "+%d", static_cast<int>(uniform(30, 600)));
      } else {
        std::snprintf(spec, sizeof spec, "-%d", static_cast<int>(uniform(30, 600)));
        c.wall_only = true;
      }
      c.spec = spec;
      cluster_.terminate(x);
      cluster_.set_clock(x, c);
      start_node(x);
      clocked_ = {x};
      active_what_ = "node " + std::to_string(x) + (x == leader ? " (the leader)" : "") + " restarted with FAKETIME=\"" +
                     c.spec + "\"" + (c.wall_only ? " (wall clock only)" : "");
      active_ = true;
      break;
    }
  }
  if (active_) note_(fault_name(k), "start " + active_what_);
}

void Nemesis::end_fault() {
  if (!active_) return;
  for (int x : killed_) start_node(x);
  killed_.clear();
  for (int x : paused_) cluster_.resume(x);
  paused_.clear();
  if (active_kind_ == FaultKind::kPartition && firewall_ != nullptr) {
    std::string why;
    if (!firewall_->set({}, &why) && trouble_.empty()) trouble_ = why;
  }
  for (int x : clocked_) {
    cluster_.terminate(x);
    cluster_.set_clock(x, FakeClock{});
    start_node(x);
  }
  clocked_.clear();
  active_ = false;
  note_(fault_name(active_kind_), "end " + active_what_);
}

void Nemesis::stop_and_heal(std::function<void()> done) {
  stopped_ = true;
  timer_.cancel();
  end_fault();
  // Whatever else is down (a node that exited on its own stays down: its log says why).
  for (int k = 1; k <= cluster_.size(); ++k) cluster_.resume(k);
  if (firewall_ != nullptr && !firewall_->cuts().empty()) {
    std::string why;
    if (!firewall_->set({}, &why) && trouble_.empty()) trouble_ = why;
  }
  boost::asio::post(io_, std::move(done));
}

}  // namespace rq::jepsen
