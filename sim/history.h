// Client histories, as Jepsen records them: a sequence of events in real-time order, each an
// invocation or a completion by one process; an invocation and the next completion by the same
// process make one operation. The readers (sim/history_formats.h) produce events; the
// linearizability checker (sim/linearizability.h) consumes operations.
//
// Outcomes follow Jepsen: :ok happened; :fail definitely did not happen; :info (or no completion
// at all) is unknown: the operation may take effect at any time after its invocation, or never.
// After :info a process id is never used again (Jepsen gives the thread a new one), so an
// invocation by a process with an operation still open is malformed input.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace rq::sim {

// A value carried by an event: nil, a boolean, an integer, a string, a keyword (`:timed-out`) or a
// list of values (a compare-and-set's [from to]).
struct Value {
  enum class Kind : uint8_t { kNil, kBool, kInt, kString, kKeyword, kList };

  Kind kind = Kind::kNil;
  bool b = false;
  int64_t i = 0;
  std::string s;  // kString and kKeyword (without the colon)
  std::vector<Value> items;

  static Value nil() { return Value{}; }
  static Value boolean(bool v);
  static Value integer(int64_t v);
  static Value string(std::string v);
  static Value keyword(std::string v);
  static Value list(std::vector<Value> v);

  bool is_nil() const { return kind == Kind::kNil; }
  bool operator==(const Value&) const = default;
  // EDN text: nil, true, 42, "a\"b", :timed-out, [1 2].
  std::string to_edn() const;
};

enum class EventType : uint8_t { kInvoke, kOk, kFail, kInfo };

const char* event_type_name(EventType t);
std::optional<EventType> event_type_from_name(std::string_view name);  // "invoke" ... "info"

// Errors in history input name the line: "line 12: why".
Error line_error(uint32_t line, const std::string& why);

struct Event;
// A line-oriented history (Porcupine's etcd logs, jsonl): `parse` turns each non-blank line,
// numbered from 1, into at most one event; the first error stops the reading.
using LineParser = std::function<Result<std::optional<Event>>(std::string_view line, uint32_t n)>;
Result<std::vector<Event>> read_event_lines(std::string_view text, const LineParser& parse);

struct Event {
  uint64_t process = 0;
  EventType type = EventType::kInvoke;
  std::string f;                   // read, write, cas, get, put, append, ...
  std::optional<std::string> key;  // absent for a single register
  Value value;
  uint32_t line = 0;  // in the source file, for messages
};

enum class Outcome : uint8_t {
  kOk,       // completed with :ok
  kFailed,   // completed with :fail: did not take effect
  kUnknown,  // :info or never completed: may take effect any time after `call`, or never
};

// Event positions are indexes into the event sequence the history was built from; they order
// invocations and completions in real time.
inline constexpr uint64_t kNeverReturned = UINT64_MAX;

struct Operation {
  uint64_t process = 0;
  std::string f;
  std::optional<std::string> key;
  Value input;   // the invocation's value (what to write, a cas's [from to])
  Value output;  // the completion's value (what a read saw); nil if it never completed
  Outcome outcome = Outcome::kUnknown;
  uint64_t call = 0;              // position of the invocation
  uint64_t ret = kNeverReturned;  // position of the completion, if there was one
  uint32_t call_line = 0;
  uint32_t ret_line = 0;  // 0 when it never completed
};

// Invariant: ops are sorted by `call`; positions are unique; call < ret for every op.
struct History {
  std::vector<Operation> ops;
  uint64_t events = 0;  // event positions are below this
};

// Pairs each invocation with the next completion of its process. Errors (with the line): a
// completion with no open invocation, an invocation while the process still has one open, a
// completion whose f differs from its invocation's.
Result<History> history_from_events(const std::vector<Event>& events);

// The history as it looked just before event position `end`: operations invoked later are
// gone, and those still open at `end` have an unknown outcome. Linearizability is prefix-closed,
// so a prefix that is not linearizable proves the whole history is not.
History history_prefix(const History& h, uint64_t end);

// One line for a report: `process 3: cas "k" [1 2] -> [1 2]  (line 10-14)`.
std::string describe(const Operation& op);

}  // namespace rq::sim
