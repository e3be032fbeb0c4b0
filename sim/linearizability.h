// Linearizability checking of client histories (Herlihy & Wing 1990): is there one order of the
// operations, consistent with their real-time order (an operation that completed before another
// was invoked comes first), in which every operation's result is what the sequential model gives?
//
// The search itself is sim/linearization_search.h (Wing & Gong / Lowe / Porcupine), the models
// are sim/sequential_models.h. This file adds what makes it usable on real histories:
//   - P-compositionality (Horn & Kroening 2015): linearizability is local (Herlihy & Wing,
//     Theorem 1), so a history over independent keys is linearizable iff each key's
//     sub-history is. Checking keys alone turns one search over the product of every key's
//     states into one small search per key. The keys' searches run side by side, in slices of
//     model steps that double every round, and the first key to fail ends the check
//     (Porcupine's parallel partitions with their early stop, without threads).
//     `partition = false` checks the whole history as one object: a cross-check, in which the
//     search meets every key in one state and has only its own reductions to keep it small.
//   - the smallest failing part: the failing key, then the shortest prefix of its history that
//     is already not linearizable (linearizability is prefix-closed, so the shortest failing
//     prefix ends at the completion whose result no order can explain).
#pragma once

#include <optional>
#include <string>

#include "core/result.h"
#include "sim/history.h"
#include "sim/linearization_search.h"
#include "sim/sequential_models.h"

namespace rq::sim {

struct CheckOptions {
  bool partition = true;  // check each key alone
  bool minimise = true;   // when not linearizable, find the shortest failing prefix
  SearchLimits limits;    // steps for each search; memory for all of them together
};

struct CheckReport {
  Verdict verdict = Verdict::kGaveUp;
  uint64_t steps = 0;         // model steps tried, over every search (minimising included)
  uint64_t memo_entries = 0;  // configurations remembered, summed the same way
  size_t parts = 0;           // sub-histories searched (keys, or 1)
  std::string gave_up;        // which bound stopped a search, if one did
  // When not linearizable: the part that failed and its shortest failing prefix.
  bool keyed = false;  // the failing part is one key's sub-history
  std::optional<std::string> failing_key;
  History failing;  // event positions are those of the original history
};

// Errors only for operations the model cannot judge (sim/sequential_models.h).
Result<CheckReport> check_history(const History& h, const Model& m, const CheckOptions& o);

}  // namespace rq::sim
