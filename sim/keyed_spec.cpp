#include "sim/keyed_spec.h"

#include "core/assert.h"
#include "core/prng.h"

namespace rq::sim {
namespace {

// Per entry of a hash table: the node, its bucket and the allocator's overhead, roughly.
constexpr uint64_t kEntryOverheadBytes = 64;

}  // namespace

size_t KeyedSpec::VectorHash::operator()(const std::vector<uint32_t>& v) const {
  uint64_t h = v.size();
  for (const uint32_t x : v) h = mix64(h ^ x);
  return h;
}

KeyedSpec::KeyedSpec(bool extends) : extends_(extends) {
  texts_.emplace_back();  // kForgotten's slot, never in ids_
}

uint32_t KeyedSpec::intern(std::string s) {
  if (auto it = ids_.find(s); it != ids_.end()) return it->second;
  RQ_ASSERT_LT(texts_.size(), size_t{UINT32_MAX});
  const auto id = static_cast<uint32_t>(texts_.size());
  bytes_ += s.capacity() + sizeof(std::string) + kEntryOverheadBytes;
  texts_.push_back(std::move(s));
  ids_.emplace(texts_.back(), id);
  return id;
}

void KeyedSpec::set_keys(size_t keys, uint32_t init_value) {
  RQ_ASSERT_GE(keys, size_t{1});
  keys_ = keys;
  init_value_ = init_value;
}

uint32_t KeyedSpec::intern_state(std::vector<uint32_t> values) {
  auto [it, added] = state_ids_.emplace(std::move(values), static_cast<uint32_t>(states_.size()));
  if (added) {
    states_.push_back(&it->first);
    bytes_ += keys_ * sizeof(uint32_t) + kEntryOverheadBytes;
  }
  return it->second;
}

uint32_t KeyedSpec::initial_state() {
  if (keys_ == 1) return init_value_;
  return intern_state(std::vector<uint32_t>(keys_, init_value_));
}

SequentialSpec::Effect KeyedSpec::effect(size_t op) const {
  switch (ops_[op].kind) {
    case StepKind::kRead:
    case StepKind::kCasFailed:
      return Effect::kNone;
    case StepKind::kAppend:
      return Effect::kExtends;
    case StepKind::kWrite:
    case StepKind::kCasOk:
      return Effect::kReplaces;
  }
  RQ_ASSERT(false);
}

bool KeyedSpec::reachable_by_extending(uint32_t key_state, size_t op) const {
  if (key_state == kForgotten) return false;
  if (!extends_) return key_state == ops_[op].a;
  return texts_[ops_[op].a].starts_with(texts_[key_state]);
}

bool KeyedSpec::reachable_after(size_t replacer, size_t op) const {
  const SpecOp& r = ops_[replacer];
  RQ_ASSERT(r.kind == StepKind::kWrite || r.kind == StepKind::kCasOk);
  return reachable_by_extending(r.kind == StepKind::kWrite ? r.a : r.b, op);
}

uint32_t KeyedSpec::forget(uint32_t state, uint32_t key) {
  RQ_ASSERT(extends_);  // a register's value is compared by cas, so it is never forgotten
  return with_value(state, key, kForgotten);
}

uint32_t KeyedSpec::appended(uint32_t value, size_t op) {
  if (value == kForgotten) return kForgotten;
  const uint64_t memo_key = (uint64_t{value} << 32) | op;
  if (auto it = appended_.find(memo_key); it != appended_.end()) return it->second;
  const uint32_t after = intern(texts_[value] + texts_[ops_[op].a]);
  appended_.emplace(memo_key, after);
  bytes_ += kEntryOverheadBytes;
  return after;
}

std::optional<uint32_t> KeyedSpec::apply(uint32_t value, size_t op) {
  const SpecOp& o = ops_[op];
  switch (o.kind) {
    case StepKind::kRead:
      if (value != o.a) return std::nullopt;
      return value;
    case StepKind::kWrite:
      return o.a;
    case StepKind::kCasOk:
      if (value != o.a) return std::nullopt;
      return o.b;
    case StepKind::kCasFailed:
      if (value == o.a) return std::nullopt;
      return value;
    case StepKind::kAppend:
      return appended(value, op);
  }
  RQ_ASSERT(false);
}

uint32_t KeyedSpec::with_value(uint32_t state, uint32_t key, uint32_t value) {
  if (keys_ == 1) return value;
  if ((*states_[state])[key] == value) return state;
  std::vector<uint32_t> values = *states_[state];
  values[key] = value;
  return intern_state(std::move(values));
}

std::optional<uint32_t> KeyedSpec::step(uint32_t state, size_t op) {
  RQ_ASSERT_LT(op, ops_.size());
  const uint32_t key = ops_[op].key;
  const std::optional<uint32_t> after = apply(key_state(state, key), op);
  if (!after.has_value()) return std::nullopt;
  return with_value(state, key, *after);
}

}  // namespace rq::sim
