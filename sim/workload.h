// Clients that propose unique values through whichever node they believe leads, retrying on
// redirects, timeouts and definite failures. A value is acknowledged when the node it was
// proposed to applies it at the index and term the proposal returned; an entry of another term
// applied at that index is a definite failure; silence is an unknown outcome, and the client
// retries the same value (so a value may commit more than once: no deduplication at this layer).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/prng.h"
#include "core/raft/raft.h"
#include "sim/checker.h"
#include "sim/event_queue.h"

namespace rq::sim {

struct WorkloadStats {
  uint64_t proposals = 0;
  uint64_t acks = 0;
  uint64_t redirects = 0;
  uint64_t timeouts = 0;
  uint64_t definite_failures = 0;
};

class Workload {
 public:
  using AtNode = std::function<void(raft::ProposeResult)>;
  // Delivers `data` to node `target` (after client latency), proposes it there, and calls
  // `at_node` with the answer right there, as the server side of a request would; nothing
  // happens when the node is down.
  using Submit = std::function<void(NodeId target, std::string data, AtNode at_node)>;

  Workload(EventQueue& q, Prng prng, size_t clients, size_t nodes, Duration think, Duration timeout,
           Checker& checker, Submit submit);

  void start();
  // No new operations from now on; those in flight still resolve.
  void stop() { stopped_ = true; }
  void on_applied(NodeId n, const raft::Entry& e);
  void on_crash(NodeId n);
  // From now on, note the first acknowledgement of an operation invoked at or after `t`.
  void watch_fresh_acks(Duration t) {
    fresh_after_ = t;
    first_fresh_ack_.reset();
  }
  std::optional<Duration> first_fresh_ack() const { return first_fresh_ack_; }
  const WorkloadStats& stats() const { return stats_; }

 private:
  struct Client {
    uint64_t id = 0;
    uint64_t seq = 0;
    uint64_t attempt = 0;
    std::string value;
    NodeId belief;
    Duration invoked{};
  };
  struct Pending {
    size_t client;
    uint64_t attempt;
    Term term;
  };

  void issue(size_t c);
  void retry_later(size_t c, Duration after);
  void on_proposed(size_t c, uint64_t attempt, NodeId target, const raft::ProposeResult& r);
  void next_value(size_t c);
  NodeId random_node();

  EventQueue& q_;
  Prng prng_;
  size_t nodes_;
  Duration think_;
  Duration timeout_;
  Checker& checker_;
  Submit submit_;
  std::vector<Client> clients_;
  std::map<std::pair<uint64_t, uint64_t>, Pending> pending_;  // (node, index)
  bool stopped_ = false;
  Duration fresh_after_{Duration::max()};
  std::optional<Duration> first_fresh_ack_;
  WorkloadStats stats_;
};

}  // namespace rq::sim
