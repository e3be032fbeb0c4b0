// The sequential specifications the linearizability checker judges histories against.
//
//   register      read / write / compare-and-set on one value. Initially `init` (nil unless
//                 given: what `:ok :read nil` reads). read's result is its completion's value;
//                 write's argument and cas's [from to] are the invocation's. A cas completed :ok
//                 with the value `false` ran and found the register not equal to `from` (the
//                 Porcupine etcd format's `:fail :cas`): legal only then, and it changes nothing.
//   kv            get / put / append on string values per key; a key starts as the empty string,
//                 and a get that returns nil reads it as empty (an append-only store cannot tell
//                 the two apart). Every operation needs a key.
//   sql-register  the register's semantics, for the histories the simulator will write from SQL
//                 (one row read and updated by statements). Kept as its own model so it can
//                 diverge (e.g. rows that can be deleted, or reads of several rows at once).
// Operations that carry a key are independent per key: a register history with keys is one
// register per key, each starting at `init`. Every model is P-compositional over keys.
//
// Outcomes: :fail did not happen, so it is dropped; an unknown write, put, append or cas may take
// effect (the search decides when, or never); an unknown read or get constrains nothing and is
// dropped.
#pragma once

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "sim/history.h"
#include "sim/linearization_search.h"

namespace rq::sim {

enum class ModelKind : uint8_t { kRegister, kKv, kSqlRegister };

std::optional<ModelKind> model_from_name(std::string_view name);
const char* model_name(ModelKind k);

struct Model {
  ModelKind kind = ModelKind::kRegister;
  Value init;  // a register's initial value (nil = absent); unused by kv
};

// What the search sees of a history: the operations that constrain it, in the history's order.
struct CompiledHistory {
  std::vector<SearchOp> ops;
  std::unique_ptr<SequentialSpec> spec;
};

// Errors (with the line) for operations the model does not have or whose values have the wrong
// shape: a cas without [from to], a kv operation without a key, a put of a non-string.
Result<CompiledHistory> compile_history(const History& h, const Model& m);

}  // namespace rq::sim
