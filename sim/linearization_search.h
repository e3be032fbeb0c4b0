// The search for a linearization: Wing & Gong's depth-first search over "which operation takes
// effect next", with Lowe's just-in-time refinement and his memoisation of configurations
// (G. Lowe, "Testing for linearizability", 2017), in the form Porcupine uses
// (anishathalye/porcupine checker.go):
//   - calls and returns sit in one list in time order; an operation may be linearized next only
//     if its call comes before the first return still in the list (it was invoked before the
//     earliest pending response, so it could have taken effect before it);
//   - reaching a return whose operation has not been linearized means this branch is dead:
//     undo the last choice and try the next candidate;
//   - a configuration is (the set of operations linearized, the model state); one already seen
//     can only lead where it led before, so it is not explored twice.
// An operation with an unknown outcome has its return at the end of time: it can take effect at
// any point after its call. It may also never take effect, which is the same as taking effect
// after every other operation (nothing observes it), so the search succeeds as soon as every
// operation with a known outcome is linearized.
//
// Candidates are tried earliest response first, unknown outcomes last. Any order is correct;
// this one goes wrong less often when operations overlap a lot (an append invoked early and
// acknowledged late is not tried before the short operations around it).
//
// Reductions (SearchLimits::reduce; all keep the search complete):
//   - Reads first. A read-only candidate that would read correctly now is taken now, with no
//     alternatives. If any linearization exists, one with the read moved here exists too: the
//     read changes no state, so removing it from its later place changes nothing after it; its
//     call came before this point (it is a candidate); everything that must precede it
//     (returned before its call) is already linearized, since the search never passes a return
//     it has not explained. Without this, k concurrent reads of one value make 2^k
//     configurations that differ only in which of them are done.
//   - One key at a time. Operations with different keys are independent (SearchOp::key). Only
//     candidates with the key of the earliest pending return are tried: that return's
//     operation must take effect before anything passes it, and if a linearization goes on with
//     other keys first, its first move on this key can be moved to the front (it commutes with
//     the other keys' moves before it, its call precedes that return, and moving it only makes
//     the others' first pending return later). A persistent set, in partial-order reduction
//     terms.
//   - Backjumping and dead sub-configurations. By locality (Herlihy & Wing, Theorem 1), a
//     configuration can be completed iff each key's part of it (its operations linearized, its
//     value) can be completed alone. A dead configuration is blamed on a set of keys of which
//     at least one has a dead part: the key of its pending return, plus the blame of each
//     child that died. Undoing a move on a key outside the blame cannot revive it, so the
//     search jumps back past such moves; and a part blamed alone is remembered as dead, so
//     reaching it again anywhere ends that branch at once. Together they keep a history of
//     many keys from costing the product of its keys' searches.
//   - Looking ahead to the next read. Take the unexplained read of the current key whose
//     response comes first. Between now and that read, only pending operations called before
//     its response can take effect. If none of them replaces the value, the value now must
//     already be what it reads, or a prefix of it for a model that extends; if some do, the
//     last of them to take effect must leave such a value. If neither can be, this
//     configuration is dead now rather than after every ordering of the operations in between
//     has been tried (an append of a kv store placed after a put that should have erased it).
//   - Forgetting values nobody will read. In a model that extends (kv append), once no read
//     still to come has a value starting with a key's value, the value can never be read: every
//     read must wait for a replacing operation, and appends before it change nothing anyone
//     sees. Such a value is replaced by one marker value (SequentialSpec::forget), so the many
//     orders of appends that a later put erases become one state instead of one each.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace rq::sim {

// A sequential specification compiled for one list of operations. States are small integers the
// specification hands out (it interns whatever it needs: a register's value, a key's string).
class SequentialSpec {
 public:
  virtual ~SequentialSpec() = default;
  virtual uint32_t initial_state() = 0;
  // The state after operation `op` runs in `state`, or nothing if the operation could not have
  // run there and produced the result it did.
  virtual std::optional<uint32_t> step(uint32_t state, size_t op) = 0;
  // What `op` can do to its key's part of the state.
  enum class Effect : uint8_t {
    kNone,      // never changes it (a read, a cas that found another value)
    kExtends,   // only grows it, so the old value stays a prefix (an append)
    kReplaces,  // anything else (a write, a put, a successful cas)
  };
  virtual Effect effect(size_t op) const = 0;
  // True if `op` is legal in exactly one value of its key (a read of a value).
  virtual bool pins_state(size_t op) const = 0;
  // For such an op: could its value still be reached from `key_state` by ops that only extend?
  virtual bool reachable_by_extending(uint32_t key_state, size_t op) const = 0;
  // And after the replacing op `replacer` took effect, followed by ops that only extend?
  virtual bool reachable_after(size_t replacer, size_t op) const = 0;
  // Whether the model has a value that no read sees and only a replacing op changes (an
  // extending model: the string no read's value starts with). If so, `forget` puts it in place
  // of `key`'s value: the search does so when no read still to come could see the value, which
  // makes states that differ only in such values one state.
  virtual bool forgets() const = 0;
  virtual uint32_t forget(uint32_t state, uint32_t key) = 0;
  // The part of `state` that operations with `key` see and change; equal parts behave alike.
  virtual uint32_t key_state(uint32_t state, uint32_t key) const = 0;
  // What the interned states cost, counted against SearchLimits::memory_bytes_max.
  virtual uint64_t memory_bytes() const = 0;
};

struct SearchOp {
  uint64_t call = 0;  // positions in one real-time order; calls before returns at equal times
  uint64_t ret = 0;
  bool unknown = false;  // ret is ignored: the operation may take effect any time after call
  // Operations with different keys are independent: each leaves the other's legality and effect
  // unchanged, in either order (a kv store's keys; registers with keys).
  uint32_t key = 0;
};

struct SearchLimits {
  bool memoise = true;  // off with `reduce` off: the plain Wing & Gong search, a baseline
  bool reduce = true;
  uint64_t max_steps = 200'000'000;        // model steps tried by one search
  uint64_t memory_bytes_max = 2ull << 30;  // configurations and interned states
};

enum class Verdict : uint8_t { kLinearizable, kNotLinearizable, kGaveUp };

struct SearchResult {
  Verdict verdict = Verdict::kGaveUp;
  uint64_t steps = 0;         // model steps tried
  uint64_t memo_entries = 0;  // configurations remembered
  std::string gave_up;        // which bound was hit, when verdict is kGaveUp
};

// One search, which can run a slice at a time: the checker runs the searches of several keys
// side by side and stops at the first that fails (Porcupine runs them on parallel goroutines and
// stops the rest; slices keep it deterministic and single-threaded).
class LinearizationSearch {
 public:
  // `ops` and `spec` must outlive the search.
  LinearizationSearch(std::span<const SearchOp> ops, SequentialSpec& spec, SearchLimits limits);
  ~LinearizationSearch();
  LinearizationSearch(const LinearizationSearch&) = delete;
  LinearizationSearch& operator=(const LinearizationSearch&) = delete;

  // Runs until a verdict, or for about `budget` more model steps (then nothing: call again).
  // `memory_bytes_max` replaces the limit's for this slice: searches running side by side share
  // one budget.
  std::optional<SearchResult> run_for(uint64_t budget, uint64_t memory_bytes_max);
  uint64_t memory_bytes() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs one search to its verdict.
SearchResult search_linearization(std::span<const SearchOp> ops, SequentialSpec& spec,
                                  const SearchLimits& limits);

}  // namespace rq::sim
