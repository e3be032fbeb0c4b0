#include "sim/sequential_models.h"

#include <map>
#include <string>

#include "sim/keyed_spec.h"

namespace rq::sim {

std::optional<ModelKind> model_from_name(std::string_view name) {
  if (name == "register") return ModelKind::kRegister;
  if (name == "kv") return ModelKind::kKv;
  if (name == "sql-register") return ModelKind::kSqlRegister;
  return std::nullopt;
}

const char* model_name(ModelKind k) {
  switch (k) {
    case ModelKind::kRegister:
      return "register";
    case ModelKind::kKv:
      return "kv";
    case ModelKind::kSqlRegister:
      return "sql-register";
  }
  RQ_ASSERT(false);
}

namespace {

Error op_error(const Operation& op, const std::string& why) {
  return line_error(op.call_line, why);
}

using Compiled = Result<std::optional<SpecOp>>;  // nothing: the operation constrains nothing

Compiled compile_register_op(const Operation& op, KeyedSpec& spec) {
  const bool unknown = op.outcome == Outcome::kUnknown;
  if (op.f == "read") {
    if (unknown) return std::optional<SpecOp>();
    return std::optional<SpecOp>(SpecOp{StepKind::kRead, 0, spec.intern(op.output.to_edn())});
  }
  if (op.f == "write")
    return std::optional<SpecOp>(SpecOp{StepKind::kWrite, 0, spec.intern(op.input.to_edn())});
  if (op.f != "cas") return op_error(op, "the register model has no operation :" + op.f);
  if (op.input.kind != Value::Kind::kList || op.input.items.size() != 2) {
    return op_error(op, "cas wants [from to], got " + op.input.to_edn());
  }
  const uint32_t from = spec.intern(op.input.items[0].to_edn());
  const uint32_t to = spec.intern(op.input.items[1].to_edn());
  const bool compared_and_failed = !unknown && op.output == Value::boolean(false);
  if (compared_and_failed) return std::optional<SpecOp>(SpecOp{StepKind::kCasFailed, 0, from});
  return std::optional<SpecOp>(SpecOp{StepKind::kCasOk, 0, from, to});
}

Compiled compile_kv_op(const Operation& op, KeyedSpec& spec) {
  if (!op.key.has_value()) return op_error(op, "kv operation :" + op.f + " has no key");
  if (op.f == "get") {
    if (op.outcome == Outcome::kUnknown) return std::optional<SpecOp>();
    if (!op.output.is_nil() && op.output.kind != Value::Kind::kString) {
      return op_error(op, "get returned " + op.output.to_edn() + ", not a string");
    }
    return std::optional<SpecOp>(SpecOp{StepKind::kRead, 0, spec.intern(op.output.s)});
  }
  if (op.f != "put" && op.f != "append")
    return op_error(op, "the kv model has no operation :" + op.f);
  if (op.input.kind != Value::Kind::kString) {
    return op_error(op, op.f + " of " + op.input.to_edn() + ", not a string");
  }
  const StepKind kind = op.f == "put" ? StepKind::kWrite : StepKind::kAppend;
  return std::optional<SpecOp>(SpecOp{kind, 0, spec.intern(op.input.s)});
}

}  // namespace

Result<CompiledHistory> compile_history(const History& h, const Model& m) {
  const bool kv = m.kind == ModelKind::kKv;
  auto spec = std::make_unique<KeyedSpec>(kv);
  const uint32_t init = kv ? spec->intern("") : spec->intern(m.init.to_edn());
  CompiledHistory c;
  std::map<std::optional<std::string>, uint32_t> keys;  // ids in order of first use
  for (const Operation& op : h.ops) {
    Compiled one = kv ? compile_kv_op(op, *spec) : compile_register_op(op, *spec);
    if (!one.ok()) return one.error();
    if (op.outcome == Outcome::kFailed || !one.value().has_value()) continue;
    SpecOp s = *one.value();
    s.key = keys.emplace(op.key, static_cast<uint32_t>(keys.size())).first->second;
    spec->add(s);
    const bool unknown = op.outcome == Outcome::kUnknown;
    c.ops.push_back(SearchOp{op.call, unknown ? op.call : op.ret, unknown, s.key});
  }
  spec->set_keys(keys.empty() ? 1 : keys.size(), init);
  c.spec = std::move(spec);
  return c;
}

}  // namespace rq::sim
