// The one small interface between a workload's clients and the world they run in. Two worlds
// implement it: the simulator (sim/cluster.cpp: requests travel the simulated network to the
// core's Service) and the Jepsen harness (jepsen/http_client.h: rqlite's HTTP API of real
// rqlited processes). The workload library (sim/workload/) sees nothing else of either: not the
// simulated cluster, not the core's Raft or service. It uses the SQL value types
// (core/sqlite/types.h), the time unit (core/types.h) and the seeded generator (core/prng.h),
// which are plain vocabulary.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <optional>
#include <vector>

#include "core/sqlite/types.h"
#include "core/types.h"

namespace rq::wl {

// rqlite's read consistency levels.
enum class Level : uint8_t { kNone, kWeak, kLinearizable, kStrong };
const char* level_name(Level l);
std::optional<Level> level_from_name(std::string_view s);
// The levels at which every read must be linearizable.
inline bool level_is_linearizable(Level l) { return l == Level::kLinearizable || l == Level::kStrong; }

// /db/execute, /db/query, /db/request.
enum class Endpoint : uint8_t { kExecute, kQuery, kRequest };

struct Request {
  Endpoint endpoint = Endpoint::kExecute;
  std::vector<sql::Statement> statements;
  bool transaction = false;
  Level level = Level::kWeak;  // reads
  bool redirect = false;       // ask for the leader's address instead of being forwarded there
  Duration timeout = std::chrono::seconds(10);  // the node gives up after this (rqlite's `timeout`)
  // Exactly-once retries, where the world supports them (Client::exactly_once): the state
  // machine runs a (session, seq) at most once. 0: none.
  uint64_t session = 0;
  uint64_t seq = 0;
};

enum class Status : uint8_t {
  kOk,         // `result` holds each statement's result (a statement's own error among them)
  kNotLeader,  // ask `leader` instead (0: the node named none); not applied
  kNoLeader,   // rqlite's "leader not found": not applied
  kFailed,     // definitely not applied (e.g. its log position went to another entry)
  kUnknown,    // may or may not have been applied: a timeout, a lost connection, lost leadership
  kError,      // refused before it could apply (e.g. a stale read): not applied
};
const char* status_name(Status s);

struct Response {
  Status status = Status::kOk;
  sql::CommandResult result;
  int leader = 0;
  std::string error;
  // Writes, where the world reports it: the log position of the entry (0: not reported).
  uint64_t raft_index = 0;
  uint64_t raft_term = 0;
};

class Client {
 public:
  using Reply = std::function<void(Response)>;
  virtual ~Client() = default;
  // Monotonic time of this world (the simulated clock, or the harness's steady clock).
  virtual Duration now() const = 0;
  virtual void after(Duration d, std::function<void()> fn) = 0;
  // Sends `req` to node `node` (1-based). `reply` runs at most once, and possibly never (a
  // request lost, a node down): the caller keeps its own deadline.
  virtual void send(int node, Request req, Reply reply) = 0;
  // Whether (session, seq) reach the state machine, so that a write with an unknown outcome may
  // be retried without running twice. rqlite's HTTP API has no such thing.
  virtual bool exactly_once() const = 0;
};

}  // namespace rq::wl
