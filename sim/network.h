// The simulated network between nodes: latency with a tail, loss, duplication, replay of old
// packets, reordering, per-link clogging, and directed link cuts (so partitions can be symmetric,
// asymmetric or partial).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "core/prng.h"
#include "sim/event_queue.h"

namespace rq::sim {

struct NetworkOptions {
  Duration latency_min = std::chrono::microseconds(100);
  Duration latency_spread = std::chrono::milliseconds(2);  // uniform extra delay
  uint32_t tail_ppm = 10'000;                               // chance of a 10x spread delay
  uint32_t loss_ppm = 0;
  uint32_t dup_ppm = 0;
  uint32_t replay_ppm = 0;  // chance per send to re-deliver some earlier packet on its link
  // Links deliver in order (like the TCP connections of the real transport) except that each
  // packet may, with this chance, take its own path and overtake or fall behind others.
  uint32_t reorder_ppm = 0;
  // Chance that a packet is held somewhere (a stuck queue, a switch buffer) and delivered up to
  // `hold_max` later, long after the sender moved on: a reply that outlives a term change.
  uint32_t hold_ppm = 0;
  Duration hold_max{0};
  bool faults = true;       // off in the liveness phase: only latency remains
};

struct NetworkStats {
  uint64_t sent = 0;
  uint64_t delivered = 0;
  uint64_t dropped_loss = 0;
  uint64_t dropped_partition = 0;
  uint64_t duplicated = 0;
  uint64_t replayed = 0;
  uint64_t clogged = 0;
  uint64_t reordered = 0;
  uint64_t held = 0;
  uint64_t echoed = 0;
};

class Network {
 public:
  // deliver(from, to, bytes) is called at arrival time.
  using Deliver = std::function<void(NodeId, NodeId, std::string)>;

  Network(EventQueue& q, Prng prng, NetworkOptions opts, size_t nodes, Deliver deliver);

  // `depart` is when the packet leaves the sender (>= now; the sender may be busy syncing).
  void send(NodeId from, NodeId to, std::string bytes, Duration depart);

  // Directed link state: a cut link drops everything sent on it (and everything that arrives
  // while it is cut).
  void set_link(NodeId from, NodeId to, bool up);
  bool link_up(NodeId from, NodeId to) const;
  void heal_all();
  // Messages on from->to are held until `until` (then delivered, in a burst). A later call moves
  // the release of everything held, earlier or later; heal_all() releases it at once.
  void clog(NodeId from, NodeId to, Duration until);
  // Until `until`, every packet on from->to also leaves a copy behind that is held like a clogged
  // packet: it arrives again when the link's clog clears (a late retransmission). The packets
  // themselves go through as usual.
  void echo(NodeId from, NodeId to, Duration until);
  void set_options(const NetworkOptions& o) { opts_ = o; }
  const NetworkOptions& options() const { return opts_; }
  const NetworkStats& stats() const { return stats_; }

 private:
  Duration draw_latency();
  // `in_order`: not before the link's last arrival. `blocks`: later in-order packets come after
  // this one (false for a packet held off the link's path).
  void schedule(NodeId from, NodeId to, std::string bytes, Duration at, bool in_order, bool blocks = true);
  size_t link(NodeId from, NodeId to) const;

  EventQueue& q_;
  Prng prng_;
  NetworkOptions opts_;
  size_t n_;
  Deliver deliver_;
  std::vector<bool> up_;             // n*n, directed
  std::vector<Duration> clog_until_;  // n*n
  struct Held {
    NodeId from, to;
    std::string bytes;
  };
  std::vector<std::vector<Held>> held_;  // n*n: packets waiting for their link's clog to clear
  std::vector<Duration> echo_until_;     // n*n
  void release(size_t link);
  std::vector<Duration> last_arrival_;  // n*n: in-order delivery per link
  struct Past {
    NodeId from, to;
    std::string bytes;
  };
  std::deque<Past> history_;  // recent packets, for replays
  NetworkStats stats_;
};

}  // namespace rq::sim
