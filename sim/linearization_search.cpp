#include "sim/linearization_search.h"

#include <algorithm>
#include <bit>
#include <tuple>
#include <vector>

#include "core/assert.h"
#include "core/prng.h"
#include "sim/configuration_set.h"

namespace rq::sim {
namespace {

constexpr uint32_t kHead = 0;
constexpr uint32_t kEnd = UINT32_MAX;

// Calls and returns in time order as a doubly linked list (node 0 is the head), so linearizing
// an operation unlinks its call and return and backtracking relinks them in O(1): Knuth's
// dancing links, undone in the reverse order they were done.
struct EventList {
  std::vector<uint32_t> prev, next, op, match;  // match: a call's return node
  std::vector<bool> is_call;
  std::vector<uint32_t> call_node;  // op -> its call node

  explicit EventList(std::span<const SearchOp> ops);
  void lift(uint32_t call) {
    unlink(call);
    unlink(match[call]);
  }
  void unlift(uint32_t call) {
    relink(match[call]);
    relink(call);
  }

 private:
  void unlink(uint32_t n) {
    next[prev[n]] = next[n];
    if (next[n] != kEnd) prev[next[n]] = prev[n];
  }
  void relink(uint32_t n) {
    next[prev[n]] = n;
    if (next[n] != kEnd) prev[next[n]] = n;
  }
};

EventList::EventList(std::span<const SearchOp> ops) {
  // (time, 0 for a call / 1 for a return, op): calls sort before returns at equal times.
  std::vector<std::tuple<uint64_t, int, uint32_t>> order;
  for (uint32_t i = 0; i < ops.size(); ++i) {
    RQ_ASSERT(ops[i].unknown || ops[i].call <= ops[i].ret);
    order.emplace_back(ops[i].call, 0, i);
    order.emplace_back(ops[i].unknown ? UINT64_MAX : ops[i].ret, 1, i);
  }
  std::sort(order.begin(), order.end());
  const size_t n = order.size() + 1;
  prev.assign(n, kEnd);
  next.assign(n, kEnd);
  op.assign(n, 0);
  match.assign(n, kEnd);
  is_call.assign(n, false);
  call_node.assign(ops.size(), kEnd);
  for (uint32_t k = 0; k < order.size(); ++k) {
    const uint32_t node = k + 1;
    const auto& [time, kind, o] = order[k];
    prev[node] = k;
    next[k] = node;
    op[node] = o;
    is_call[node] = kind == 0;
    if (kind == 0) call_node[o] = node;
    if (kind == 1) match[call_node[o]] = node;
  }
}

// A set of operations: a bitset and its Zobrist hash (XOR of a random word per member), kept up
// to date one flip at a time.
struct OpSet {
  std::vector<uint64_t> words;
  uint64_t hash = 0;

  explicit OpSet(size_t n) : words((n + 63) / 64, 0) {}
  void flip(uint32_t i) {
    words[i / 64] ^= uint64_t{1} << (i % 64);
    hash ^= mix64(i + 1);
  }
};

// Blame is a mask of keys; keys beyond 64 share bits, which only makes blame wider.
uint64_t key_bit(uint32_t key) {
  return uint64_t{1} << (key % 64);
}

// Checking the memory bound costs a pass over every table: do it every so many moves.
constexpr uint32_t kBoundCheckInterval = 256;
// How far the look-ahead walks the event list, and how many reads the check for unobservable
// values looks at, before they give up: a bound on their cost; giving up only means not pruning.
constexpr uint32_t kLookAheadMax = 256;

}  // namespace

class LinearizationSearch::Impl {
 public:
  Impl(std::span<const SearchOp> ops, SequentialSpec& spec, SearchLimits limits);
  std::optional<SearchResult> run_for(uint64_t budget, uint64_t memory_bytes_max);
  uint64_t memory_bytes() const;

 private:
  struct Frame {
    uint32_t op;     // the operation linearized
    uint32_t state;  // the state before it
    uint32_t entry;  // the configuration it led to, in memo_ (or kAbsent)
    bool forced;     // a read taken with no alternatives: if it fails, so does the state before
  };
  enum class Move : uint8_t { kMoved, kIllegal, kSeen };
  static constexpr uint32_t kNoRank = UINT32_MAX;

  void rank_operations();
  // The operations that may take effect next, by rank: those called before the first pending
  // return, with its key (all keys without `reduce`). Returns that return's node, or kEnd.
  uint32_t candidates();
  bool advance();
  Move try_move(uint32_t op, bool forced);
  bool die(uint64_t blame);
  void flip(uint32_t op);
  bool part_dead(uint32_t key);
  bool next_read_reachable(uint32_t key);
  bool unobservable(uint32_t state, uint32_t key) const;
  bool linearized(uint32_t op) const { return (linearized_.words[op / 64] >> (op % 64)) & 1; }
  void remember_dead_part(uint32_t key);
  SearchResult result(Verdict v, std::string why = {}) const {
    return SearchResult{v, steps_, memo_.size(), std::move(why)};
  }
  std::optional<SearchResult> over_a_bound();

  std::span<const SearchOp> ops_;
  SequentialSpec& spec_;
  SearchLimits limits_;
  EventList list_;
  std::vector<uint32_t> rank_;     // earliest response first; unknown outcomes last
  std::vector<uint32_t> by_rank_;  // rank -> op
  OpSet linearized_;
  ConfigurationSet memo_;
  bool multi_key_ = false;              // reductions across keys apply
  bool learn_parts_ = false;            // remember dead parts (at most 64 keys: one blame bit each)
  std::vector<uint32_t> index_in_key_;  // op -> its index among its key's operations
  std::vector<OpSet> key_linearized_;   // per key: its operations linearized
  std::vector<ConfigurationSet> dead_parts_;  // per key: (its linearized set, its state) dead
  // Invariant: blame_.size() == stack_.size() + 1; blame_[i] is what the children of the i-th
  // configuration on the path that died were blamed on.
  std::vector<Frame> stack_;
  std::vector<uint64_t> blame_{0};
  uint32_t state_;
  uint32_t resume_after_ = kNoRank;  // after backtracking: try candidates ranked after this
  std::vector<uint32_t> candidates_;
  std::vector<uint32_t> replacers_;                  // scratch for the look-ahead
  std::vector<std::vector<uint32_t>> reads_by_key_;  // ops that pin a value, by response time
  uint64_t first_pending_ret_ = 0;  // reads that responded before it are linearized
  uint64_t steps_ = 0;
  uint32_t until_bound_check_ = 0;
};

LinearizationSearch::Impl::Impl(std::span<const SearchOp> ops, SequentialSpec& spec,
                                SearchLimits limits)
    : ops_(ops),
      spec_(spec),
      limits_(limits),
      list_(ops),
      rank_(ops.size()),
      by_rank_(ops.size()),
      linearized_(ops.size()),
      memo_(linearized_.words.size()),
      index_in_key_(ops.size()),
      state_(spec.initial_state()) {
  rank_operations();
  std::vector<uint32_t> per_key;
  for (uint32_t i = 0; i < ops.size(); ++i) {
    if (ops[i].key >= per_key.size()) per_key.resize(ops[i].key + 1, 0);
    index_in_key_[i] = per_key[ops[i].key]++;
  }
  if (limits_.reduce && spec_.forgets()) {
    reads_by_key_.resize(per_key.size());
    for (const uint32_t op : by_rank_) {  // by response time
      if (spec_.pins_state(op)) reads_by_key_[ops_[op].key].push_back(op);
    }
  }
  multi_key_ = limits_.reduce && per_key.size() > 1;
  learn_parts_ = multi_key_ && limits_.memoise && per_key.size() <= 64;
  if (!learn_parts_) return;
  for (const uint32_t n : per_key) {
    key_linearized_.emplace_back(n);
    dead_parts_.emplace_back(key_linearized_.back().words.size());
  }
}

void LinearizationSearch::Impl::rank_operations() {
  std::vector<std::tuple<uint64_t, uint64_t, uint32_t>> order;
  for (uint32_t i = 0; i < ops_.size(); ++i) {
    order.emplace_back(ops_[i].unknown ? UINT64_MAX : ops_[i].ret, ops_[i].call, i);
  }
  std::sort(order.begin(), order.end());
  for (uint32_t r = 0; r < order.size(); ++r) {
    by_rank_[r] = std::get<2>(order[r]);
    rank_[by_rank_[r]] = r;
  }
}

std::optional<SearchResult> LinearizationSearch::Impl::over_a_bound() {
  if (steps_ > limits_.max_steps) {
    return result(Verdict::kGaveUp,
                  "stopped after " + std::to_string(limits_.max_steps) + " model steps");
  }
  if (until_bound_check_-- > 0) return std::nullopt;
  until_bound_check_ = kBoundCheckInterval;
  if (memory_bytes() > limits_.memory_bytes_max) {
    return result(Verdict::kGaveUp, "stopped when its memory reached " +
                                        std::to_string(limits_.memory_bytes_max >> 20) + " MiB");
  }
  return std::nullopt;
}

uint64_t LinearizationSearch::Impl::memory_bytes() const {
  uint64_t bytes = memo_.bytes() + spec_.memory_bytes();
  for (const ConfigurationSet& d : dead_parts_) bytes += d.bytes();
  return bytes;
}

void LinearizationSearch::Impl::flip(uint32_t op) {
  linearized_.flip(op);
  if (learn_parts_) key_linearized_[ops_[op].key].flip(index_in_key_[op]);
}

bool LinearizationSearch::Impl::part_dead(uint32_t key) {
  const OpSet& part = key_linearized_[key];
  return dead_parts_[key].find(part.words, part.hash, spec_.key_state(state_, key)) !=
         ConfigurationSet::kAbsent;
}

void LinearizationSearch::Impl::remember_dead_part(uint32_t key) {
  const OpSet& part = key_linearized_[key];
  dead_parts_[key].insert(part.words, part.hash, spec_.key_state(state_, key));
}

// The look-ahead (see the header): walks the pending calls and returns in time order up to the
// first return of a read of `key`, collecting the calls that could replace the value first.
bool LinearizationSearch::Impl::next_read_reachable(uint32_t key) {
  replacers_.clear();
  uint32_t walked = 0;
  for (uint32_t n = list_.next[kHead]; n != kEnd && walked < kLookAheadMax;
       n = list_.next[n], ++walked) {
    const uint32_t op = list_.op[n];
    if (ops_[op].key != key) continue;
    if (list_.is_call[n]) {
      if (spec_.effect(op) == SequentialSpec::Effect::kReplaces) replacers_.push_back(op);
      continue;
    }
    if (!spec_.pins_state(op)) continue;
    if (spec_.reachable_by_extending(spec_.key_state(state_, key), op)) return true;
    return std::any_of(replacers_.begin(), replacers_.end(),
                       [&](uint32_t r) { return spec_.reachable_after(r, op); });
  }
  return true;
}

// True if no read still to come could see `key`'s value in `state` (see the header). Reads
// that responded before the first pending response are linearized already; the rest are
// checked, up to a bound (past it, the answer is a safe "observable").
bool LinearizationSearch::Impl::unobservable(uint32_t state, uint32_t key) const {
  const std::vector<uint32_t>& reads = reads_by_key_[key];
  auto it = std::lower_bound(reads.begin(), reads.end(), first_pending_ret_,
                             [&](uint32_t op, uint64_t t) { return ops_[op].ret < t; });
  const uint32_t value = spec_.key_state(state, key);
  uint32_t checked = 0;
  for (; it != reads.end(); ++it) {
    if (linearized(*it)) continue;
    if (++checked > kLookAheadMax) return false;
    if (spec_.reachable_by_extending(value, *it)) return false;
  }
  return true;
}

uint32_t LinearizationSearch::Impl::candidates() {
  uint32_t first_return = list_.next[kHead];
  while (first_return != kEnd && list_.is_call[first_return]) {
    first_return = list_.next[first_return];
  }
  candidates_.clear();
  if (first_return == kEnd) return first_return;
  first_pending_ret_ = ops_[list_.op[first_return]].ret;
  const uint32_t key = ops_[list_.op[first_return]].key;
  for (uint32_t n = list_.next[kHead]; n != first_return; n = list_.next[n]) {
    const uint32_t op = list_.op[n];
    if (resume_after_ != kNoRank && rank_[op] <= resume_after_) continue;  // tried already
    if (limits_.reduce && ops_[op].key != key) continue;
    candidates_.push_back(rank_[op]);
  }
  std::sort(candidates_.begin(), candidates_.end());
  return first_return;
}

// Linearizes op if the model allows it here and the configuration it leads to is new. A
// configuration seen before is dead (a configuration on the path cannot come back: the set only
// grows along it), and its blame counts for this one.
LinearizationSearch::Impl::Move LinearizationSearch::Impl::try_move(uint32_t op, bool forced) {
  ++steps_;
  std::optional<uint32_t> after = spec_.step(state_, op);
  if (!after.has_value()) return Move::kIllegal;
  RQ_ASSERT(!forced || *after == state_);
  const uint32_t key = ops_[op].key;
  const bool changes = spec_.effect(op) != SequentialSpec::Effect::kNone;
  if (changes && !reads_by_key_.empty() && unobservable(*after, key)) {
    after = spec_.forget(*after, key);
  }
  flip(op);
  uint32_t entry = ConfigurationSet::kAbsent;
  if (limits_.memoise) {
    const auto [e, added] = memo_.insert(linearized_.words, linearized_.hash, *after);
    if (!added) {
      flip(op);
      blame_.back() |= memo_.culprits(e);
      return Move::kSeen;
    }
    entry = e;
  }
  stack_.push_back(Frame{op, state_, entry, forced});
  blame_.push_back(0);
  state_ = *after;
  list_.lift(list_.call_node[op]);
  resume_after_ = kNoRank;
  return Move::kMoved;
}

// Takes the next move from this configuration; false if there is none left.
bool LinearizationSearch::Impl::advance() {
  // A read that is correct now is the only move worth trying (see the header). Resuming never
  // finds one: it would have been taken the first time here.
  if (limits_.reduce && resume_after_ == kNoRank) {
    for (const uint32_t r : candidates_) {
      if (spec_.effect(by_rank_[r]) != SequentialSpec::Effect::kNone) continue;
      const Move m = try_move(by_rank_[r], true);
      if (m == Move::kMoved) return true;
      if (m == Move::kSeen) return false;
    }
  }
  for (const uint32_t r : candidates_) {
    if (try_move(by_rank_[r], false) == Move::kMoved) return true;
  }
  return false;
}

// The current configuration is dead, blamed on `blame`: undo moves until one whose
// configuration may still have a way forward. False if the first configuration is dead.
bool LinearizationSearch::Impl::die(uint64_t blame) {
  while (!stack_.empty()) {
    const Frame f = stack_.back();
    if (f.entry != ConfigurationSet::kAbsent) memo_.set_culprits(f.entry, blame);
    if (learn_parts_ && std::has_single_bit(blame)) {
      remember_dead_part(static_cast<uint32_t>(std::countr_zero(blame)));
    }
    stack_.pop_back();
    blame_.pop_back();
    state_ = f.state;
    flip(f.op);
    list_.unlift(list_.call_node[f.op]);
    // The move undone cannot be what killed it: the configuration before is dead as well.
    const bool blamed = (blame & key_bit(ops_[f.op].key)) != 0;
    if (f.forced || (multi_key_ && !blamed)) continue;
    blame_.back() |= blame;
    resume_after_ = rank_[f.op];
    return true;
  }
  return false;
}

std::optional<SearchResult> LinearizationSearch::Impl::run_for(uint64_t budget,
                                                               uint64_t memory_bytes_max) {
  limits_.memory_bytes_max = memory_bytes_max;
  until_bound_check_ = 0;
  const uint64_t stop_at = steps_ + budget;
  while (steps_ < stop_at) {
    if (auto stop = over_a_bound()) return stop;
    const uint32_t first_return = candidates();
    // Only returns of unknown outcome left (or nothing): every known outcome is explained.
    if (first_return == kEnd || ops_[list_.op[first_return]].unknown) {
      return result(Verdict::kLinearizable);
    }
    const uint32_t key = ops_[list_.op[first_return]].key;
    const bool dead =
        (learn_parts_ && part_dead(key)) || (limits_.reduce && !next_read_reachable(key));
    if (dead) {
      if (!die(key_bit(key))) return result(Verdict::kNotLinearizable);
      continue;
    }
    if (advance()) continue;
    // The earliest pending return cannot be explained from here.
    if (!die(blame_.back() | key_bit(key))) return result(Verdict::kNotLinearizable);
  }
  return std::nullopt;
}

LinearizationSearch::LinearizationSearch(std::span<const SearchOp> ops, SequentialSpec& spec,
                                         SearchLimits limits)
    : impl_(std::make_unique<Impl>(ops, spec, limits)) {
  RQ_ASSERT_LT(ops.size(), size_t{1} << 30);
}

LinearizationSearch::~LinearizationSearch() = default;

std::optional<SearchResult> LinearizationSearch::run_for(uint64_t budget,
                                                         uint64_t memory_bytes_max) {
  return impl_->run_for(budget, memory_bytes_max);
}

uint64_t LinearizationSearch::memory_bytes() const {
  return impl_->memory_bytes();
}

SearchResult search_linearization(std::span<const SearchOp> ops, SequentialSpec& spec,
                                  const SearchLimits& limits) {
  LinearizationSearch s(ops, spec, limits);
  while (true) {
    if (std::optional<SearchResult> r = s.run_for(UINT64_MAX / 2, limits.memory_bytes_max)) {
      return *r;
    }
  }
}

}  // namespace rq::sim
