// Readers for history files. Each turns a file's text into events (sim/history.h) in file order,
// which is real-time order; `read_history` then pairs them into operations. Every error names
// the line and the reason. Events of processes that are not non-negative integers (Jepsen's
// :nemesis) are dropped: they are not client operations.
//
//   porcupine-etcd  Porcupine's Jepsen etcd logs, one event per line, fields separated by spaces
//                   or tabs:  INFO  jepsen.util - <process> <type> <f> <value>
//                   with the semantics those files' verdicts assume (Porcupine porcupine_test.go):
//                   `:fail :cas [a b]` ran and found the register not equal to a (a definite
//                   result that constrains the state: it becomes `:ok` with value false, see
//                   sim/sequential_models.h); `:fail :read` timed out and is unknown (harmless);
//                   `:info :write/:cas :timed-out` stays open. Blank lines are skipped; any
//                   other line is an error.
//   porcupine-kv    Porcupine's key-value logs: one EDN map per line,
//                   {:process P, :type :invoke|:ok, :f :get|:put|:append, :key "K", :value V}.
//                   Read by the EDN reader (a special case of `edn`).
//   edn             Jepsen / Knossos histories: a vector `[...]` or list `(...)` of operation
//                   maps, or the maps one after another (Jepsen's history.edn). Keys used:
//                   :process (integer; anything else, e.g. :nemesis, is skipped), :type
//                   (:invoke :ok :fail :info), :f, :key (optional; or, read with `independent`,
//                   :value a tuple [k v]), :value. Other keys (:time,
//                   :index, :error ...) are ignored. Jepsen semantics: :fail did not happen,
//                   :info or no completion is unknown, a read's value is its completion's, and (Knossos's
//                   register models) a :read whose value is nil matches any state.
//   jsonl           one JSON object per line, what the simulator writes: sim/history_jsonl.h.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "sim/edn.h"
#include "sim/history.h"

namespace rq::sim {

enum class HistoryFormat : uint8_t { kPorcupineEtcd, kPorcupineKv, kEdn, kJsonl };

std::optional<HistoryFormat> format_from_name(std::string_view name);
const char* format_name(HistoryFormat f);

struct ReadOptions {
  // Every :value is a jepsen.independent tuple [k v]: the operation is on key k (an integer or a
  // string) with value v, and each key is its own register, as Jepsen's independent checker
  // splits the history. Only for `edn` and `porcupine-kv`; an event whose value is not a pair is
  // an error.
  bool independent = false;
};

Result<std::vector<Event>> read_events(HistoryFormat f, std::string_view text, ReadOptions o = {});
Result<History> read_history(HistoryFormat f, std::string_view text, ReadOptions o = {});

// The pieces, for the readers and their tests.
Result<std::vector<Event>> read_porcupine_etcd(std::string_view text);
Result<std::vector<Event>> read_edn_history(std::string_view text);
// One operation map; nothing for a non-client process.
Result<std::optional<Event>> event_from_edn(const EdnValue& map);
// nil, booleans, integers, strings, keywords (and characters as strings); lists, vectors and
// sets as lists. Maps and floats are not operation values: an error.
Result<Value> value_from_edn(const EdnValue& v);

}  // namespace rq::sim
