// Clients of the SQL service (core/service), as a real application would be: each sends SQL to a
// node over the network, follows redirects, retries, and records what it saw as a Jepsen history
// (invocation and completion in simulated time, unknown outcomes as unknown).
//
//   register        one row of `reg(k, v)`: read (SELECT), write (upsert), compare-and-set
//                   (UPDATE ... WHERE v = from; a cas that changed no row found another value)
//   multi-register  the same on `keys` rows, checked one key at a time (P-compositionality)
//   bank            `accounts` rows with a CHECK (balance >= 0); transfers are two UPDATEs in
//                   one transaction; reads see every balance, and the total must never change
//   append          `lists(k, v)`: appends unique tokens to a key's text; reads return it
//
// Writes carry the client's session and a sequence number, and a retry (after a timeout or an
// unknown outcome, possibly through another node) repeats them: the state machine runs a
// command at most once, so an operation that is retried until it succeeds took effect exactly
// once, between its first invocation and its final completion. One that never succeeds is
// unknown if any attempt might have been applied, failed otherwise.
//
// Reads at `none` and `weak` go to any node, as a real client's would; writes and
// `linearizable` / `strong` reads go to the node the client believes leads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/prng.h"
#include "core/service/service.h"
#include "sim/event_queue.h"
#include "sim/history.h"
#include "sim/swarm.h"

namespace rq::sim {

struct SqlWorkloadOptions {
  WorkloadKind kind = WorkloadKind::kRegister;
  svc::ReadLevel read_level = svc::ReadLevel::kLinearizable;
  size_t clients = 3;
  size_t nodes = 3;  // requests go to nodes 1..nodes
  Duration think = std::chrono::milliseconds(20);
  Duration attempt_timeout = std::chrono::seconds(2);  // the client gives up on one attempt
  int max_attempts = 1000;  // then the operation ends (unknown, or failed if no attempt can have applied)
  size_t keys = 4;                                      // multi-register, append
  size_t accounts = 5;                                  // bank
  int64_t initial_balance = 100;
};

struct SqlWorkloadStats {
  uint64_t invoked = 0, ok = 0, failed = 0, unknown = 0;
  uint64_t reads = 0, writes = 0;
  uint64_t attempts = 0, redirects = 0, no_leader = 0, attempt_timeouts = 0, attempt_unknown = 0;
};

// Time of each history event, for reports and the jsonl file.
struct TimedEvent {
  Duration at{};
  Event event;
  NodeId node;  // where the completing attempt ran (invocations: none)
};

class SqlWorkload {
 public:
  using Reply = std::function<void(svc::Response)>;
  // Delivers the request to node `target` (after a network hop) and the response back to the
  // client (another hop); nothing comes back if the node is down or crashes first.
  using Submit = std::function<void(NodeId target, svc::Request req, Reply reply)>;
  // A write acknowledged to a client at this log position (for the Raft-level checker).
  using OnAck = std::function<void(LogIndex, Term)>;

  SqlWorkload(EventQueue& q, Prng prng, SqlWorkloadOptions o, Submit submit, OnAck on_ack);

  void start();
  // No new operations from now on; those in flight still resolve.
  void stop() { stopped_ = true; }
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
  void focus_reads(NodeId node, Duration until) {
    focus_ = node;
    focus_until_ = until;
  }
  const SqlWorkloadStats& stats() const { return stats_; }
  const std::vector<TimedEvent>& events() const { return events_; }

  struct Finding {
    std::string reason;  // not-linearizable, balance-not-conserved, sql-error, checker-gave-up
    std::string detail;
  };
  // A problem seen while running (an unexpected SQL error, a bank read with the wrong total).
  const std::optional<Finding>& finding() const { return finding_; }
  // The verdict over the whole history (runs the linearizability checker).
  std::optional<Finding> check() const;

 private:
  struct Op {
    std::string f;
    std::optional<std::string> key;
    Value input;
    svc::Request req;
    bool is_read = false;
    bool maybe_applied = false;  // some attempt may have taken effect
  };
  struct Client {
    uint64_t id = 0;
    uint64_t process = 0;
    uint64_t session = 0;
    uint64_t seq = 0;
    uint64_t attempt = 0;  // current attempt's number (stale replies are ignored)
    int attempts_left = 0;
    NodeId belief;
    Duration invoked{};
    std::optional<Op> op;
    int64_t last_seen = 0;  // the last value this client read or wrote (cas's `from`)
    uint64_t tokens = 0;
  };

  void schedule_next(size_t c, Duration after);
  void begin_op(size_t c);
  Op make_op(Client& cl);
  void send_attempt(size_t c);
  void on_reply(size_t c, uint64_t attempt, NodeId target, const svc::Response& r);
  void retry(size_t c, Duration after, bool pick_random);
  void complete(size_t c, EventType type, Value value, NodeId at);
  void out_of_attempts(size_t c);
  bool targets_leader(const Op& op) const;
  NodeId random_node();
  // Where an attempt of `op` goes when the client has no better idea.
  NodeId pick_node(const Op& op);
  bool focused() const { return focus_.valid() && q_.now() < focus_until_; }
  void record(uint64_t process, EventType t, const Op& op, Value v, NodeId at);
  // Interprets a successful response: the value to record, or a finding.
  std::optional<Value> interpret(const Op& op, const sql::CommandResult& r, std::string* problem);
  void note_finding(const std::string& reason, const std::string& detail);

  EventQueue& q_;
  Prng prng_;
  SqlWorkloadOptions o_;
  Submit submit_;
  OnAck on_ack_;
  std::vector<Client> clients_;
  uint64_t next_process_ = 0;
  bool stopped_ = false;
  Duration fresh_after_{Duration::max()};
  NodeId focus_;
  Duration focus_until_{};
  std::optional<Duration> first_fresh_ack_;
  SqlWorkloadStats stats_;
  std::vector<TimedEvent> events_;
  std::optional<Finding> finding_;
};

// The history as jsonl (sim/history_jsonl.h), one event per line, with "time" in microseconds.
std::string history_to_jsonl(const std::vector<TimedEvent>& events);

}  // namespace rq::sim
