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
    case FaultKind::kLease:
      return "lease";
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
    for (FaultKind k : {FaultKind::kKill, FaultKind::kPause, FaultKind::kPartition, FaultKind::kClock, FaultKind::kLease}) {
      if (one == fault_name(k)) {
        if (std::find(out->begin(), out->end(), k) == out->end()) out->push_back(k);
        found = true;
      }
    }
    if (!found) {
      *why = "unknown nemesis \"" + one + "\" (kill, pause, partition, clock, lease or none)";
      return false;
    }
    a = b + 1;
  }
  return true;
}

Nemesis::Nemesis(boost::asio::io_context& io, Cluster& cluster, Firewall* firewall, Prng prng, NemesisOptions o,
                 FindLeader find_leader, Note note, Transfer transfer)
    : io_(io),
      cluster_(cluster),
      firewall_(firewall),
      prng_(prng),
      o_(std::move(o)),
      find_leader_(std::move(find_leader)),
      note_(std::move(note)),
      transfer_(std::move(transfer)) {
  for (FaultKind k : o_.kinds) {
    lanes_.push_back(std::make_unique<Lane>(io_, k, Prng(prng_.next_u64() ^ (static_cast<uint64_t>(k) + 1))));
  }
}

double Nemesis::uniform(Prng& p, double lo, double hi) {
  return lo + (hi - lo) * static_cast<double>(p.below(1'000'001)) / 1e6;
}

std::vector<int> Nemesis::shuffled(Prng& p) const {
  std::vector<int> v;
  for (int k = 1; k <= cluster_.size(); ++k) v.push_back(k);
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[p.below(i)]);
  return v;
}

void Nemesis::start() {
  for (auto& l : lanes_) schedule(*l);
}

void Nemesis::schedule(Lane& l) {
  if (stopped_) return;
  l.timer.expires_after(std::chrono::milliseconds(static_cast<int64_t>(uniform(l.prng, o_.quiet_min_s, o_.quiet_max_s) * 1000)));
  l.timer.async_wait([this, &l](const boost::system::error_code& ec) {
    if (!ec && !stopped_) begin(l);
  });
}

void Nemesis::begin(Lane& l) {
  // The lane's draws do not depend on the answer: the leader only picks among targets drawn.
  find_leader_([this, &l](int leader) {
    if (stopped_) return;
    if (l.kind == FaultKind::kLease) return lease_attack(l, leader);
    apply(l, leader);
    if (!l.active) {
      schedule(l);
      return;
    }
    ++faults_;
    l.timer.expires_after(std::chrono::milliseconds(static_cast<int64_t>(uniform(l.prng, o_.hold_min_s, o_.hold_max_s) * 1000)));
    l.timer.async_wait([this, &l](const boost::system::error_code& ec) {
      if (ec || stopped_) return;
      end_fault(l);
      schedule(l);
    });
  });
}

bool Nemesis::start_node(int k) {
  std::string why;
  if (cluster_.start(k, &why)) return true;
  if (trouble_.empty()) trouble_ = "node " + std::to_string(k) + " would not start: " + why;
  return false;
}

bool Nemesis::held_down(int k) const {
  for (const auto& l : lanes_) {
    if (std::find(l->killed.begin(), l->killed.end(), k) != l->killed.end()) return true;
  }
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

bool Nemesis::partition(Lane& l, const std::string& what, const std::set<std::pair<int, int>>& cuts) {
  std::string why;
  if (firewall_ == nullptr || !firewall_->set(static_cast<int>(l.kind), cuts, &why)) {
    if (trouble_.empty()) trouble_ = firewall_ == nullptr ? "no firewall" : why;
    return false;
  }
  std::string list;
  for (const auto& [a, b] : cuts) list += (list.empty() ? "" : " ") + std::to_string(a) + "->" + std::to_string(b);
  l.active = true;
  l.cut = true;
  l.what = what + " (cut " + list + ")";
  return true;
}

void Nemesis::apply(Lane& l, int leader) {
  Prng& p = l.prng;
  const int n = cluster_.size();
  l.active = false;
  const std::vector<int> order = shuffled(p);
  const int any = order.front();
  const int target_leader = leader != 0 ? leader : any;
  const uint64_t v = p.below(1000);  // the variant, drawn whatever the kind
  switch (l.kind) {
    case FaultKind::kKill: {
      const uint64_t variant = v % 4;
      if (variant == 3) {
        // A graceful restart: over as soon as the node is back.
        if (held_down(any) || !cluster_.running(any)) return;
        const bool clean = cluster_.terminate(any);
        l.what = "graceful restart of node " + std::to_string(any) + (clean ? "" : " (did not exit in 10 s: killed)");
        note_(fault_name(l.kind), "start " + l.what);
        start_node(any);
        note_(fault_name(l.kind), "end " + l.what);
        return;
      }
      std::vector<int> victims;
      if (variant == 0) victims = {any};
      if (variant == 1) victims = {target_leader};
      if (variant == 2) victims.assign(order.begin(), order.begin() + (n / 2 + 1));
      std::string list;
      for (int x : victims) {
        if (!cluster_.running(x) || held_down(x)) continue;  // down already: another lane's
        cluster_.kill(x);
        l.killed.push_back(x);
        list += (list.empty() ? "" : ",") + std::to_string(x);
      }
      if (l.killed.empty()) return;
      l.what = std::string(variant == 0 ? "kill -9 node " : variant == 1 ? "kill -9 the leader, node " : "kill -9 a majority, nodes ") + list;
      l.active = true;
      break;
    }
    case FaultKind::kPause: {
      const int x = v % 2 == 0 ? target_leader : any;
      if (!cluster_.running(x) || cluster_.paused(x)) return;
      cluster_.pause(x);
      l.paused = {x};
      l.what = std::string("SIGSTOP ") + (x == leader ? "the leader, node " : "node ") + std::to_string(x);
      l.active = true;
      break;
    }
    case FaultKind::kPartition: {
      std::set<std::pair<int, int>> cuts;
      uint64_t variant = v % 5;
      if (variant == 2 && n < 5) variant = 0;  // a ring of 3 where each sees a majority is no partition
      if (variant == 0) {
        const std::vector<int> a(order.begin(), order.begin() + n / 2), b(order.begin() + n / 2, order.end());
        cut_between(a, b, &cuts);
        partition(l, "random halves", cuts);
      } else if (variant == 1) {
        std::vector<int> rest;
        for (int x = 1; x <= n; ++x) {
          if (x != target_leader) rest.push_back(x);
        }
        cut_between({target_leader}, rest, &cuts);
        partition(l, "node " + std::to_string(target_leader) + (target_leader == leader ? " (the leader)" : "") + " isolated",
                  cuts);
      } else if (variant == 2) {
        // Ring order: each node talks to its neighbours within distance d, a majority with itself.
        const int d = (n - 1) / 4 + ((n - 1) % 4 != 0 ? 1 : 0);  // 5 -> 1: 3 of 5; 7 -> 2: 5 of 7
        for (int i = 0; i < n; ++i) {
          for (int j = 0; j < n; ++j) {
            const int dist = std::min((i - j + n) % n, (j - i + n) % n);
            if (dist > d) cuts.insert({order[i], order[j]});
          }
        }
        partition(l, "majority ring", cuts);
      } else if (variant == 3) {
        const int half = (n - 1) / 2;
        const std::vector<int> a(order.begin(), order.begin() + half), b(order.begin() + half + 1, order.end());
        cut_between(a, b, &cuts);
        partition(l, "bridge through node " + std::to_string(order[half]), cuts);
      } else {
        const bool out = (v / 5) % 2 == 0;
        for (int y = 1; y <= n; ++y) {
          if (y != any) cuts.insert(out ? std::make_pair(any, y) : std::make_pair(y, any));
        }
        partition(l, "one way: node " + std::to_string(any) + (out ? " cannot send" : " cannot receive"), cuts);
      }
      break;
    }
    case FaultKind::kLease:
      return;  // lease_attack
    case FaultKind::kClock: {
      if (!cluster_.clock_controlled()) {
        if (trouble_.empty()) trouble_ = "the clock nemesis needs libfaketime";
        return;
      }
      const int x = v % 2 == 0 ? target_leader : any;
      const uint64_t variant = (v / 2) % 4;
      FakeClock c;
      char spec[64];
      if (variant == 0) {
        std::snprintf(spec, sizeof spec, "+0 x%.2f", uniform(p, 1.5, 3.0));
      } else if (variant == 1) {
        std::snprintf(spec, sizeof spec, "+0 x%.2f", uniform(p, 0.3, 0.7));
      } else if (variant == 2) {
        std::snprintf(spec, sizeof spec, "+%d", static_cast<int>(uniform(p, 30, 600)));
      } else {
        std::snprintf(spec, sizeof spec, "-%d", static_cast<int>(uniform(p, 30, 600)));
        c.wall_only = true;
      }
      c.spec = spec;
      if (!cluster_.running(x) || held_down(x)) return;
      cluster_.terminate(x);
      cluster_.set_clock(x, c);
      start_node(x);
      l.clocked = {x};
      l.what = "node " + std::to_string(x) + (x == leader ? " (the leader)" : "") + " restarted with FAKETIME=\"" + c.spec +
               "\"" + (c.wall_only ? " (wall clock only)" : "");
      l.active = true;
      break;
    }
  }
  if (l.active) note_(fault_name(l.kind), "start " + l.what);
}

void Nemesis::lease_attack(Lane& l, int leader) {
  Prng& p = l.prng;
  const std::vector<int> order = shuffled(p);
  // Slow enough that its lease (election_ticks of its own clock, 0.9 s of it with rqlited's
  // defaults) outlives, in real time, a client attempt's 5 s timeout: clients bound to it block on
  // a write as soon as it is cut off, and read again only once that write times out. At a quarter
  // of true speed (3.6 s) no read ever fell in the window (seed 206 of the first campaign).
  // Faster than a tenth, so its heartbeats (one tick, 100 ms of its clock) keep the followers'
  // 1-2 s election timers from firing before the cut.
  const double rate = uniform(p, 0.12, 0.16);
  const double hold = uniform(p, o_.hold_min_s, o_.hold_max_s);
  int x = 0;
  for (int k : order) {
    if (k != leader && cluster_.running(k) && !cluster_.paused(k) && !held_down(k)) x = k;
  }
  if (leader == 0 || x == 0 || firewall_ == nullptr || !cluster_.clock_controlled()) {
    if (trouble_.empty() && (firewall_ == nullptr || !cluster_.clock_controlled())) {
      trouble_ = "the lease nemesis needs libfaketime and nftables";
    }
    return schedule(l);
  }
  char spec[32];
  std::snprintf(spec, sizeof spec, "+0 x%.2f", rate);
  cluster_.terminate(x);
  cluster_.set_clock(x, FakeClock{spec, false});
  start_node(x);
  l.clocked = {x};
  l.active = true;
  ++faults_;
  l.what = "node " + std::to_string(x) + " restarted with FAKETIME=\"" + spec + "\", made leader, cut off";
  note_(fault_name(l.kind), "start " + l.what);
  const uint64_t epoch = l.epoch;
  auto finish = [this, &l, hold, epoch] {
    if (stopped_ || l.epoch != epoch) return;
    l.timer.expires_after(std::chrono::milliseconds(static_cast<int64_t>(hold * 1000)));
    l.timer.async_wait([this, &l](const boost::system::error_code& ec) {
      if (ec || stopped_) return;
      end_fault(l);
      schedule(l);
    });
  };
  // Let it catch up, then hand it the leadership; cut it off once it leads (or give up).
  l.timer.expires_after(std::chrono::milliseconds(1500));
  l.timer.async_wait([this, &l, x, leader, epoch, finish](const boost::system::error_code& ec) {
    if (ec || stopped_ || l.epoch != epoch) return;
    transfer_(leader, x, [this, &l, x, epoch, finish](bool ok) {
      if (stopped_ || l.epoch != epoch) return;
      if (!ok) {
        note_(fault_name(l.kind), "node " + std::to_string(x) + " did not take the leadership");
        return finish();
      }
      std::set<std::pair<int, int>> cuts;
      for (int y = 1; y <= cluster_.size(); ++y) {
        if (y == x) continue;
        cuts.insert({x, y});
        cuts.insert({y, x});
      }
      std::string why;
      if (!firewall_->set(static_cast<int>(l.kind), cuts, &why)) {
        if (trouble_.empty()) trouble_ = why;
        return finish();
      }
      l.cut = true;
      note_(fault_name(l.kind), "node " + std::to_string(x) + " leads, and is cut off from the other nodes");
      finish();
    });
  });
}

void Nemesis::end_fault(Lane& l) {
  ++l.epoch;
  if (!l.active) return;
  for (int x : l.killed) {
    if (!cluster_.running(x)) start_node(x);
  }
  l.killed.clear();
  for (int x : l.paused) cluster_.resume(x);
  l.paused.clear();
  if (l.cut && firewall_ != nullptr) {
    std::string why;
    if (!firewall_->set(static_cast<int>(l.kind), {}, &why) && trouble_.empty()) trouble_ = why;
    l.cut = false;
  }
  for (int x : l.clocked) {
    cluster_.set_clock(x, FakeClock{});
    // Down for another lane's fault: it starts with the true clock when that one ends.
    if (held_down(x) || !cluster_.running(x)) continue;
    cluster_.terminate(x);
    start_node(x);
  }
  l.clocked.clear();
  l.active = false;
  note_(fault_name(l.kind), "end " + l.what);
}

void Nemesis::stop_and_heal(std::function<void()> done) {
  stopped_ = true;
  for (auto& l : lanes_) l->timer.cancel();
  // Clocks last, once every node that should run is running again.
  for (auto& l : lanes_) {
    if (l->kind != FaultKind::kClock && l->kind != FaultKind::kLease) end_fault(*l);
  }
  for (auto& l : lanes_) {
    if (l->kind == FaultKind::kClock || l->kind == FaultKind::kLease) end_fault(*l);
  }
  // Whatever else is down (a node that exited on its own stays down: its log says why).
  for (int k = 1; k <= cluster_.size(); ++k) cluster_.resume(k);
  if (firewall_ != nullptr) {
    std::string why;
    if (!firewall_->heal_all(&why) && trouble_.empty()) trouble_ = why;
  }
  boost::asio::post(io_, std::move(done));
}

}  // namespace rq::jepsen
