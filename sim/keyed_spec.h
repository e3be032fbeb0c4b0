// The sequential specification behind the register and kv models (sim/sequential_models.h): one
// value per key, interned as a string (a register's value as EDN text, a kv key's contents as
// they are), and one state per combination of key values. With a single key (a partition of a
// P-compositional history, or one register) the state is the value itself; with several it is
// the interned vector of every key's value.
#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sim/linearization_search.h"

namespace rq::sim {

// What one operation does to its key's value.
enum class StepKind : uint8_t {
  kRead,       // legal iff the value is a
  kWrite,      // the value becomes a
  kCasOk,      // legal iff the value is a; it becomes b
  kCasFailed,  // legal iff the value is not a; unchanged
  kAppend,     // the value becomes value + a
};

struct SpecOp {
  StepKind kind = StepKind::kRead;
  uint32_t key = 0;
  uint32_t a = 0;  // interned values
  uint32_t b = 0;
};

class KeyedSpec final : public SequentialSpec {
 public:
  // `extends`: values are strings that appends extend (kv), not opaque values (registers).
  explicit KeyedSpec(bool extends);

  uint32_t intern(std::string s);
  void add(SpecOp op) { ops_.push_back(op); }
  void set_keys(size_t keys, uint32_t init_value);

  uint32_t initial_state() override;
  std::optional<uint32_t> step(uint32_t state, size_t op) override;
  Effect effect(size_t op) const override;
  bool pins_state(size_t op) const override { return ops_[op].kind == StepKind::kRead; }
  bool reachable_by_extending(uint32_t key_state, size_t op) const override;
  bool reachable_after(size_t replacer, size_t op) const override;
  bool forgets() const override { return extends_; }
  uint32_t forget(uint32_t state, uint32_t key) override;
  uint32_t key_state(uint32_t state, uint32_t key) const override {
    return keys_ == 1 ? state : (*states_[state])[key];
  }
  uint64_t memory_bytes() const override { return bytes_; }

 private:
  // The value no read sees and that appends leave as it is (SequentialSpec::forget). It has no
  // text: nothing interned from the history can equal it.
  static constexpr uint32_t kForgotten = 0;

  struct VectorHash {
    size_t operator()(const std::vector<uint32_t>& v) const;
  };

  std::optional<uint32_t> apply(uint32_t value, size_t op);
  uint32_t appended(uint32_t value, size_t op);
  uint32_t with_value(uint32_t state, uint32_t key, uint32_t value);
  uint32_t intern_state(std::vector<uint32_t> values);

  const bool extends_;
  std::deque<std::string> texts_;  // by value id; a deque: the views in ids_ must not move
  std::unordered_map<std::string_view, uint32_t> ids_;
  std::unordered_map<uint64_t, uint32_t> appended_;  // (value, op) -> value after the append
  std::vector<SpecOp> ops_;
  size_t keys_ = 1;
  uint32_t init_value_ = 0;
  std::unordered_map<std::vector<uint32_t>, uint32_t, VectorHash> state_ids_;
  std::vector<const std::vector<uint32_t>*> states_;  // keys of state_ids_ (nodes do not move)
  uint64_t bytes_ = 0;                                // roughly what the tables above hold
};

}  // namespace rq::sim
