// The clients of a workload, as a real application runs them: each sends its operation's SQL to
// a node, follows redirects, retries, and records what it saw as a Jepsen history (invocation
// and completion in the world's time; unknown outcomes as :info). The same code drives the
// simulated cluster and real rqlited processes (sim/workload/client.h).
//
// Retries. A request that certainly did not apply (not the leader, no leader, refused, failed)
// is sent again, to the leader named or another node. A write whose outcome is unknown (the
// attempt timed out or the node said so) is retried only where the world runs a (session, seq)
// at most once (Client::exactly_once): then an operation retried until it succeeds took effect
// exactly once, between its first invocation and its final completion. Elsewhere (rqlite's HTTP
// API) it completes :info. Reads are always safe to retry. An operation that never succeeds is
// unknown if any attempt may have applied, failed otherwise.
//
// Where requests go. Unbound clients (the simulator) send reads at none and weak to any node,
// and writes and linearizable / strong reads to the node they believe leads (a third of the time
// to any node, as a load-balanced client would); some ask for a redirect instead of forwarding.
// Bound clients (the Jepsen harness: `bound`) send everything to their own node, which forwards
// to the leader, so followers' forwarding is under test too.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/prng.h"
#include "sim/workload/client.h"
#include "sim/workload/workload.h"

namespace rq::wl {

struct RunnerOptions {
  Level level = Level::kLinearizable;
  size_t clients = 3;
  size_t nodes = 3;  // node numbers 1..nodes
  bool bound = false;  // client c talks to node (c mod nodes) + 1 only
  Duration think = std::chrono::milliseconds(20);
  Duration attempt_timeout = std::chrono::seconds(2);  // the client gives up on one attempt
  int max_attempts = 1000;
  Duration op_timeout{0};  // 0: none; else no attempt starts this long after the invocation
  // Final reads: how long one node gets for all of them.
  Duration final_timeout = std::chrono::seconds(30);
};

struct RunnerStats {
  uint64_t invoked = 0, ok = 0, failed = 0, unknown = 0;
  uint64_t reads = 0, writes = 0;
  uint64_t attempts = 0, redirects = 0, no_leader = 0, attempt_timeouts = 0, attempt_unknown = 0;
};

// One history event and where and when it happened. Nemesis events (a fault's start and end)
// are part of the history too: `nemesis` set, `event.f` the fault, `event.value` a description.
struct TimedEvent {
  Duration at{};
  sim::Event event;
  int node = 0;         // completions: the node the answering attempt went to (0: none)
  bool final = false;   // a final read's event
  bool nemesis = false;
  std::string error;    // completions: the answer's error text, if any
};

class Runner {
 public:
  // A write acknowledged at this log position (for the simulator's Raft-level checker).
  using OnAck = std::function<void(uint64_t index, uint64_t term)>;

  Runner(Client& client, const Workload& w, Prng prng, RunnerOptions o, OnAck on_ack = {});

  void start();
  // No new operations from now on; those in flight still resolve.
  void stop() { stopped_ = true; }
  // Operations invoked and not yet completed (final reads included).
  size_t in_flight() const;
  // Each node in `nodes` gets the workload's final reads at its final level, one after another
  // by a client bound to that node, retried until they succeed or the node's final_timeout
  // passes. `done` runs once every node's reads are over; `all_ok` says whether each succeeded.
  void final_reads(const std::vector<int>& nodes, std::function<void(bool all_ok)> done);
  // A fault's start or end, for the history.
  void note_nemesis(const std::string& f, const std::string& what);

  // From now on, note the first acknowledgement of a write invoked at or after `t`.
  void watch_fresh_acks(Duration t) {
    fresh_after_ = t;
    first_fresh_ack_.reset();
  }
  std::optional<Duration> first_fresh_ack() const { return first_fresh_ack_; }
  // Until `until`, reads that may go to any node (levels none and weak) all go to `node`, and
  // leader-bound requests go anywhere but `node`: an application instance that reads from a
  // nearby node while its writes go through others. Aimed at an old leader cut off from the
  // cluster, it reads there right after writes committed through the new leader.
  void focus_reads(int node, Duration until) {
    focus_ = node;
    focus_until_ = until;
  }

  const RunnerStats& stats() const { return stats_; }
  const std::vector<TimedEvent>& events() const { return events_; }
  // A problem seen while running (an answer no correct system gives).
  const std::optional<Finding>& finding() const { return finding_; }
  // The verdict over the whole history.
  std::optional<Finding> check() const;
  // Event position of the first final read (UINT64_MAX: none yet).
  uint64_t final_from() const { return final_from_; }

 private:
  struct Slot {
    ClientMemory mem;
    uint64_t process = 0;
    uint64_t session = 0;
    uint64_t seq = 0;
    uint64_t attempt = 0;  // the current attempt's number (stale replies are ignored)
    int attempts_left = 0;
    int belief = 0;    // the node to ask next
    int home = 0;      // bound clients and final readers: their node
    Duration invoked{};
    std::optional<Op> op;
    bool maybe_applied = false;  // some attempt of the current operation may have taken effect
    // Final readers.
    bool final = false;
    std::vector<Op> finals;
    size_t next_final = 0;
    Duration final_deadline{};
    bool final_ok = true;
  };

  void schedule_next(size_t c, Duration after);
  void begin_op(size_t c);
  void prepare(Slot& s, Op& op);
  void send_attempt(size_t c);
  void on_reply(size_t c, uint64_t attempt, int target, const Response& r);
  void on_attempt_lost(size_t c);
  void retry(size_t c, Duration after, bool pick_other);
  void complete(size_t c, EventType type, Value value, int at, const std::string& error = {});
  void give_up(size_t c);
  bool targets_leader(const Slot& s) const;
  bool may_retry_unknown(const Slot& s) const { return s.op->is_read || client_.exactly_once(); }
  bool out_of_time(const Slot& s) const;
  int random_node();
  int pick_node(const Slot& s);
  bool focused() const { return focus_ != 0 && client_.now() < focus_until_; }
  void record(const Slot& s, EventType t, Value v, int at, const std::string& error);
  void note_finding(const std::string& reason, const std::string& detail);
  void final_done(size_t c);

  Client& client_;
  const Workload& w_;
  Prng prng_;
  RunnerOptions o_;
  OnAck on_ack_;
  std::vector<Slot> slots_;  // the workload's clients, then final readers
  size_t workers_ = 0;
  uint64_t next_process_ = 0;
  bool stopped_ = false;
  Duration fresh_after_{Duration::max()};
  int focus_ = 0;
  Duration focus_until_{};
  std::optional<Duration> first_fresh_ack_;
  RunnerStats stats_;
  std::vector<TimedEvent> events_;
  std::optional<Finding> finding_;
  uint64_t final_from_ = UINT64_MAX;
  size_t finals_left_ = 0;
  bool finals_ok_ = true;
  std::function<void(bool)> finals_done_;
};

// The history, one JSON object per event (sim/history_jsonl.h): "time" in microseconds, "node",
// "final" and "error" where they apply; nemesis events have "process": "nemesis".
std::string history_to_jsonl(const std::vector<TimedEvent>& events);
// The history as Jepsen writes history.edn: one operation map per line, :time in nanoseconds,
// :index the event's position; nemesis events as :process :nemesis with :type :info. Values take
// the shapes of Jepsen's own workloads, so its checkers read them as they are: a keyed operation
// (multi-register, append) is an independent tuple `[k v]` (jepsen.independent; the key an
// integer when it is one); a bank read is a map of account to balance `{0 10, 1 10}` and a
// transfer `{:from 0, :to 1, :amount 5}` (jepsen.tests.bank).
std::string history_to_edn(const std::vector<TimedEvent>& events, Kind kind);

}  // namespace rq::wl
