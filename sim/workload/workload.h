// The workloads, each defined once for both worlds (the simulator and the Jepsen harness): the
// operations a client generates, the SQL each sends, what an answer means for the history, the
// final reads after the faults, and the verdict over a whole history.
//
//   register        one row of `reg(k, v)`: read (SELECT), write (upsert), compare-and-set
//                   (UPDATE ... WHERE v = from; a cas that changed no row found another value
//                   and completes :ok with false). Linearizable as a register (sql-register).
//   multi-register  the same on `keys` rows, checked one key at a time (P-compositionality)
//   bank            `accounts` rows with a CHECK (balance >= 0); transfers are two UPDATEs in
//                   one transaction (a transfer the CHECK refused completes :fail); reads see
//                   every balance: the total never changes and no balance is negative
//   append          `lists(k, v)`: appends unique tokens to a key's text; reads return it.
//                   Linearizable as a key-value store of strings (kv); every read holds each
//                   token at most once and only tokens some append tried; a final read holds
//                   every acknowledged append
//   set             `sets(v)`: unique inserts (no constraint on the table, so one applied twice
//                   shows); then a final read at `strong` from every node, which must hold every
//                   acknowledged insert, no value twice, and none that was never tried or failed
//
// The checks that hold at every read level (bank totals, elements never duplicated or invented,
// nothing acknowledged missing from a final read) are judged at every level; linearizability is
// judged at every level too, and promised only at linearizable and strong.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/prng.h"
#include "sim/history.h"
#include "sim/workload/client.h"

namespace rq::wl {

using sim::EventType;
using sim::Value;

enum class Kind : uint8_t { kRegister, kMultiRegister, kBank, kAppend, kSet };
const char* kind_name(Kind k);
std::optional<Kind> kind_from_name(std::string_view s);

struct Shape {
  size_t keys = 4;  // multi-register, append
  size_t accounts = 5;
  int64_t initial_balance = 100;
};

// One operation: what the history records of it and the request that carries it. The request's
// statements and transaction flag are the workload's; the runner sets the rest.
struct Op {
  std::string f;
  std::optional<std::string> key;
  Value input;  // the invocation's value: what to write, a cas's [from to]; nil for reads
  Request req;
  bool is_read = false;
};

// What one client remembers between operations (its id is 1-based and unique in the run).
struct ClientMemory {
  uint64_t id = 0;
  uint64_t tokens = 0;     // fresh values made so far
  int64_t last_seen = 0;   // the last register value it read or wrote (a cas's `from`)
};

// An answer (status ok) as the history records it.
struct Completion {
  EventType type = EventType::kOk;  // kOk, or kFail: it ran and changed nothing
  Value value;
  // Not empty: an answer no correct system gives (an unexpected SQL error, a malformed row).
  // The operation is recorded as unknown and the run reports the problem.
  std::string problem;
};

struct Finding {
  // not-linearizable, balance-not-conserved, lost, duplicated, unexpected, no-final-read,
  // sql-error, checker-gave-up, history-malformed
  std::string reason;
  std::string detail;
  // The event position of the completion that shows it, when one does.
  uint64_t event = UINT64_MAX;
};

class Workload {
 public:
  static std::unique_ptr<Workload> make(Kind k, Shape s = {});
  virtual ~Workload() = default;

  Kind kind() const { return kind_; }
  const Shape& shape() const { return shape_; }

  // The next operation of a client.
  virtual Op next(ClientMemory& c, Prng& prng) const = 0;
  // The reads every node is asked after the faults, in order.
  virtual std::vector<Op> final_reads() const = 0;
  // The level of those reads.
  virtual Level final_level() const { return Level::kLinearizable; }
  // What a successful answer to `op` means.
  virtual Completion interpret(const Op& op, const sql::CommandResult& r) const = 0;
  // The verdict over a whole history of client events (in real-time order; a completion closes
  // its process's open invocation, as in Jepsen's histories): nothing when valid. Reads invoked
  // at event position `final_from` or later are the final reads.
  std::optional<Finding> check(const std::vector<sim::Event>& events, uint64_t final_from = UINT64_MAX) const;

 protected:
  Workload(Kind k, Shape s) : kind_(k), shape_(s) {}
  // The workload's own invariants, beyond linearizability.
  virtual std::optional<Finding> check_invariants(const sim::History& h, uint64_t final_from) const = 0;
  // The linearizability model, if the workload has one.
  virtual bool linearizable_as_kv() const { return false; }
  virtual bool has_model() const { return true; }

 private:
  Kind kind_;
  Shape shape_;
};

// Parameters are positional (`?`).
sql::Statement statement(std::string text, std::vector<sql::Value> params = {});

}  // namespace rq::wl
