// The jsonl history format: what the simulator writes, one JSON object per line (UTF-8), lines
// in real-time order. Blank lines are skipped. Fields:
//
//   "process"  required. A non-negative integer: the client process. Any other JSON value
//              (e.g. "nemesis") marks an event that is not a client operation: skipped.
//   "type"     required. "invoke", "ok", "fail" or "info".
//   "f"        required string: the operation (register and sql-register: "read", "write",
//              "cas"; kv: "get", "put", "append").
//   "key"      optional. A string, or an integer (read as its decimal text). Absent or null:
//              the operation has no key (a single register).
//   "value"    optional, null when absent. null, true, false, an integer (64-bit signed), a
//              string, or an array of these (nested arrays allowed). A write's invocation
//              carries the value written, a cas's [from, to]; a read's invocation carries null
//              and its completion what it read. Floats and objects are errors.
//   Any other field ("time", "node", "error", ...) is ignored.
//
// Semantics are Jepsen's (sim/history.h): an invocation opens an operation for its process and
// the process's next completion closes it; "fail" did not take effect; "info", or no completion,
// is unknown; a process id is never reused after "info". Example:
//
//   {"process": 0, "type": "invoke", "f": "write", "value": 3}
//   {"process": 1, "type": "invoke", "f": "read", "value": null}
//   {"process": 0, "type": "ok", "f": "write", "value": 3}
//   {"process": 1, "type": "ok", "f": "read", "value": 3}
//   {"process": 2, "type": "invoke", "f": "cas", "key": "a", "value": [3, 4]}
//   {"process": 2, "type": "info", "f": "cas", "key": "a", "value": [3, 4]}
//
// Only this reader's .cpp includes the JSON library (Boost.JSON).
#pragma once

#include <string_view>
#include <vector>

#include "core/result.h"
#include "sim/history.h"

namespace rq::sim {

Result<std::vector<Event>> read_jsonl_history(std::string_view text);

}  // namespace rq::sim
