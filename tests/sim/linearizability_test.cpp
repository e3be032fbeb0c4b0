// The linearizability checker: hand-made histories with known answers for each model (every
// checker must be able to fail), the search's bounds and slices, and properties over generated
// histories (what a sequential run produces is always linearizable; one impossible read is not;
// the plain search and the reduced one always agree).
#include "sim/linearizability.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace rq::sim {
namespace {

// Builds a history event by event; a completion repeats its invocation's f.
class Builder {
 public:
  Builder& call(uint64_t p, std::string f, Value v = Value::nil(),
                std::optional<std::string> key = std::nullopt) {
    open_[p] = Event{p, EventType::kInvoke, f, key, std::move(v), line()};
    events_.push_back(open_[p]);
    return *this;
  }
  Builder& ok(uint64_t p, Value v = Value::nil()) { return done(p, EventType::kOk, std::move(v)); }
  Builder& fail(uint64_t p) { return done(p, EventType::kFail, Value::nil()); }
  Builder& info(uint64_t p) { return done(p, EventType::kInfo, Value::keyword("timed-out")); }
  History build() const {
    Result<History> h = history_from_events(events_);
    RQ_ASSERT(h.ok());
    return h.value();
  }

 private:
  uint32_t line() const { return static_cast<uint32_t>(events_.size() + 1); }
  Builder& done(uint64_t p, EventType t, Value v) {
    Event e = open_.at(p);
    e.type = t;
    e.value = std::move(v);
    e.line = line();
    events_.push_back(e);
    return *this;
  }
  std::vector<Event> events_;
  std::map<uint64_t, Event> open_;
};

Value I(int64_t v) {
  return Value::integer(v);
}
Value S(std::string s) {
  return Value::string(std::move(s));
}
Value Cas(int64_t from, int64_t to) {
  return Value::list({I(from), I(to)});
}

Model reg(Value init = Value::nil()) {
  return Model{ModelKind::kRegister, std::move(init)};
}
Model kv() {
  return Model{ModelKind::kKv, Value::nil()};
}

// Every way of checking: per key and all keys together, each with the reductions and
// memoisation and without (the plain search, the reference).
std::vector<Verdict> verdicts(const History& h, const Model& m) {
  std::vector<Verdict> seen;
  for (const bool partition : {true, false}) {
    for (const bool fast : {true, false}) {
      CheckOptions o;
      o.partition = partition;
      o.minimise = false;
      o.limits.reduce = fast;
      o.limits.memoise = fast;
      Result<CheckReport> r = check_history(h, m, o);
      RQ_ASSERT(r.ok());
      seen.push_back(r->verdict);
    }
  }
  return seen;
}

bool agree(const std::vector<Verdict>& v) {
  return std::all_of(v.begin(), v.end(), [&](Verdict x) { return x == v.front(); });
}

Verdict verdict(const History& h, const Model& m) {
  const std::vector<Verdict> v = verdicts(h, m);
  EXPECT_TRUE(agree(v));
  return v.front();
}

bool linearizable(const History& h, const Model& m) {
  const Verdict v = verdict(h, m);
  EXPECT_NE(v, Verdict::kGaveUp);
  return v == Verdict::kLinearizable;
}

TEST(RegisterModel, SequentialWriteThenRead_Linearizable) {
  Builder b;
  b.call(0, "write", I(1)).ok(0).call(0, "read").ok(0, I(1));
  EXPECT_TRUE(linearizable(b.build(), reg()));
}

TEST(RegisterModel, StaleRead_Rejected) {
  Builder b;
  b.call(0, "write", I(1)).ok(0).call(0, "write", I(2)).ok(0);
  b.call(1, "read").ok(1, I(1));
  EXPECT_FALSE(linearizable(b.build(), reg()));
}

TEST(RegisterModel, LostWrite_Rejected) {
  Builder b;
  b.call(0, "write", I(1)).ok(0).call(1, "read").ok(1, Value::nil());
  EXPECT_FALSE(linearizable(b.build(), reg()));
}

TEST(RegisterModel, ReadOfANeverWrittenValue_Rejected) {
  Builder b;
  b.call(0, "write", I(1)).call(1, "read").ok(1, I(7)).ok(0);
  EXPECT_FALSE(linearizable(b.build(), reg()));
}

TEST(RegisterModel, ReadsConcurrentWithAWrite_SeeOldOrNew) {
  for (const Value& seen : {Value::nil(), I(1)}) {
    Builder b;
    b.call(0, "write", I(1)).call(1, "read").ok(1, seen).ok(0);
    EXPECT_TRUE(linearizable(b.build(), reg())) << seen.to_edn();
  }
}

// Two reads inside one write: once a read has seen the new value, a later read cannot see the
// old one (the new-old inversion linearizability forbids and sequential consistency allows).
TEST(RegisterModel, NewThenOldInsideOneWrite_Rejected) {
  Builder b;
  b.call(0, "write", I(1));
  b.call(1, "read").ok(1, I(1));
  b.call(2, "read").ok(2, Value::nil());
  b.ok(0);
  EXPECT_FALSE(linearizable(b.build(), reg()));
}

TEST(RegisterModel, OldThenNewInsideOneWrite_Linearizable) {
  Builder b;
  b.call(0, "write", I(1));
  b.call(1, "read").ok(1, Value::nil());
  b.call(2, "read").ok(2, I(1));
  b.ok(0);
  EXPECT_TRUE(linearizable(b.build(), reg()));
}

TEST(RegisterModel, UnknownWrite_MayHaveHappenedOrNot) {
  for (const Value& seen : {Value::nil(), I(1)}) {
    Builder b;
    b.call(0, "write", I(1)).info(0).call(1, "read").ok(1, seen);
    EXPECT_TRUE(linearizable(b.build(), reg())) << seen.to_edn();
  }
}

TEST(RegisterModel, UnknownWrite_OnceSeenStays) {
  Builder b;
  b.call(0, "write", I(1)).info(0);
  b.call(1, "read").ok(1, I(1)).call(1, "read").ok(1, Value::nil());
  EXPECT_FALSE(linearizable(b.build(), reg()));
}

TEST(RegisterModel, UnknownWrite_CannotTakeEffectBeforeItsInvocation) {
  Builder b;
  b.call(1, "read").ok(1, I(1)).call(0, "write", I(1)).info(0);
  EXPECT_FALSE(linearizable(b.build(), reg()));
}

TEST(RegisterModel, WriteThatNeverCompleted_IsUnknown) {
  Builder b;
  b.call(0, "write", I(1)).call(1, "read").ok(1, I(1)).call(1, "read").ok(1, I(1));
  EXPECT_TRUE(linearizable(b.build(), reg()));
}

TEST(RegisterModel, FailedWrite_DoesNotTakeEffect) {
  Builder seen;
  seen.call(0, "write", I(1)).fail(0).call(1, "read").ok(1, I(1));
  EXPECT_FALSE(linearizable(seen.build(), reg()));
  Builder unseen;
  unseen.call(0, "write", I(1)).fail(0).call(1, "read").ok(1, Value::nil());
  EXPECT_TRUE(linearizable(unseen.build(), reg()));
}

TEST(RegisterModel, CasSucceedsOnlyFromItsValue) {
  Builder good;
  good.call(0, "write", I(1)).ok(0).call(0, "cas", Cas(1, 2)).ok(0).call(1, "read").ok(1, I(2));
  EXPECT_TRUE(linearizable(good.build(), reg()));
  Builder bad;
  bad.call(0, "write", I(3)).ok(0).call(0, "cas", Cas(1, 2)).ok(0);
  EXPECT_FALSE(linearizable(bad.build(), reg()));
}

TEST(RegisterModel, CasThatComparedAndFailed_NeedsAnotherValue) {
  Builder good;
  good.call(0, "write", I(3)).ok(0).call(0, "cas", Cas(1, 2)).ok(0, Value::boolean(false));
  EXPECT_TRUE(linearizable(good.build(), reg()));
  Builder bad;
  bad.call(0, "write", I(1)).ok(0).call(0, "cas", Cas(1, 2)).ok(0, Value::boolean(false));
  EXPECT_FALSE(linearizable(bad.build(), reg()));
}

TEST(RegisterModel, UnknownCas_EitherWay) {
  for (const int64_t seen : {1, 2}) {
    Builder b;
    b.call(0, "write", I(1)).ok(0).call(0, "cas", Cas(1, 2)).info(0);
    b.call(1, "read").ok(1, I(seen));
    EXPECT_TRUE(linearizable(b.build(), reg())) << seen;
  }
}

TEST(RegisterModel, InitialValue) {
  Builder b;
  b.call(0, "read").ok(0, I(0));
  EXPECT_TRUE(linearizable(b.build(), reg(I(0))));
  EXPECT_FALSE(linearizable(b.build(), reg()));
}

TEST(RegisterModel, KeysAreIndependentRegisters) {
  Builder b;
  b.call(0, "write", I(1), "a").ok(0).call(1, "read", Value::nil(), "b").ok(1, Value::nil());
  EXPECT_TRUE(linearizable(b.build(), reg()));
}

TEST(RegisterModel, UnknownOperation_IsAnErrorWithItsLine) {
  Builder b;
  b.call(0, "write", I(1)).ok(0).call(0, "increment", I(1)).ok(0);
  Result<CheckReport> r = check_history(b.build(), reg(), CheckOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "line 3: the register model has no operation :increment");
}

TEST(RegisterModel, CasWithoutFromAndTo_IsAnError) {
  Builder b;
  b.call(0, "cas", I(1)).ok(0);
  EXPECT_FALSE(check_history(b.build(), reg(), CheckOptions{}).ok());
}

TEST(SqlRegisterModel, JudgesLikeTheRegister) {
  Builder b;
  b.call(0, "write", I(1)).ok(0).call(0, "write", I(2)).ok(0).call(1, "read").ok(1, I(1));
  EXPECT_EQ(verdict(b.build(), Model{ModelKind::kSqlRegister, Value::nil()}),
            Verdict::kNotLinearizable);
}

TEST(KvModel, AppendsConcatenateInOrder) {
  Builder b;
  b.call(0, "append", S("a"), "k").ok(0).call(0, "append", S("b"), "k").ok(0);
  b.call(1, "get", Value::nil(), "k").ok(1, S("ab"));
  EXPECT_TRUE(linearizable(b.build(), kv()));
  Builder wrong;
  wrong.call(0, "append", S("a"), "k").ok(0).call(0, "append", S("b"), "k").ok(0);
  wrong.call(1, "get", Value::nil(), "k").ok(1, S("ba"));
  EXPECT_FALSE(linearizable(wrong.build(), kv()));
}

TEST(KvModel, ConcurrentAppends_EitherOrder) {
  for (const char* seen : {"ab", "ba"}) {
    Builder b;
    b.call(0, "append", S("a"), "k").call(1, "append", S("b"), "k").ok(0).ok(1);
    b.call(2, "get", Value::nil(), "k").ok(2, S(seen));
    EXPECT_TRUE(linearizable(b.build(), kv())) << seen;
  }
}

TEST(KvModel, PutReplaces_AndAMissingKeyReadsEmpty) {
  Builder b;
  b.call(0, "get", Value::nil(), "k").ok(0, Value::nil());
  b.call(0, "get", Value::nil(), "k").ok(0, S(""));
  b.call(0, "append", S("a"), "k").ok(0).call(0, "put", S("x"), "k").ok(0);
  b.call(0, "get", Value::nil(), "k").ok(0, S("x"));
  EXPECT_TRUE(linearizable(b.build(), kv()));
}

TEST(KvModel, LostAppend_Rejected) {
  Builder b;
  b.call(0, "append", S("a"), "k").ok(0).call(0, "append", S("b"), "k").ok(0);
  b.call(1, "get", Value::nil(), "k").ok(1, S("b"));
  EXPECT_FALSE(linearizable(b.build(), kv()));
}

TEST(KvModel, FailedAppend_DoesNotTakeEffect) {
  Builder b;
  b.call(0, "append", S("a"), "k").fail(0).call(1, "get", Value::nil(), "k").ok(1, S("a"));
  EXPECT_FALSE(linearizable(b.build(), kv()));
}

TEST(KvModel, OperationWithoutKey_IsAnError) {
  Builder b;
  b.call(0, "get").ok(0, S(""));
  EXPECT_FALSE(check_history(b.build(), kv(), CheckOptions{}).ok());
}

// Key "b" is broken; "a" and "c" are fine. The report names "b" and the prefix of b's history
// up to the stale read's completion, nothing after it.
TEST(KvModel, Report_NamesTheKeyAndTheShortestFailingPrefix) {
  Builder b;
  b.call(0, "put", S("1"), "a").ok(0);
  b.call(0, "put", S("1"), "b").ok(0).call(0, "put", S("2"), "b").ok(0);
  b.call(1, "get", Value::nil(), "b").ok(1, S("1"));  // stale
  b.call(1, "put", S("3"), "b").ok(1).call(2, "get", Value::nil(), "b").ok(2, S("3"));
  b.call(2, "get", Value::nil(), "c").ok(2, S(""));
  CheckOptions o;
  Result<CheckReport> r = check_history(b.build(), kv(), o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, Verdict::kNotLinearizable);
  EXPECT_TRUE(r->keyed);
  EXPECT_EQ(r->failing_key, "b");
  ASSERT_EQ(r->failing.ops.size(), 3u);
  EXPECT_EQ(r->failing.ops.back().f, "get");
  EXPECT_EQ(r->failing.ops.back().output, S("1"));
  EXPECT_EQ(r->parts, 3u);
}

TEST(LinearizationSearch, StepBound_GivesUp) {
  Builder b;
  for (uint64_t p = 0; p < 10; ++p) b.call(p, "write", I(static_cast<int64_t>(p)));
  b.call(10, "read").ok(10, I(99));
  for (uint64_t p = 0; p < 10; ++p) b.ok(p);
  CheckOptions o;
  o.limits.memoise = false;
  o.limits.reduce = false;
  o.limits.max_steps = 100;
  Result<CheckReport> r = check_history(b.build(), reg(), o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, Verdict::kGaveUp);
  EXPECT_EQ(r->gave_up, "stopped after 100 model steps");
}

// Key a's read needs a write invoked after key b's write returned: the search must move on key
// b (the key of the earliest response), not on the key of the earliest call.
TEST(LinearizationSearch, MovesOnTheKeyOfTheEarliestResponse) {
  Builder b;
  b.call(0, "read", Value::nil(), "a").call(1, "write", I(1), "b").ok(1);
  b.call(2, "write", I(1), "a").ok(2).ok(0, I(1));
  EXPECT_TRUE(linearizable(b.build(), reg()));
}

// A history split over keys: when one key's search is slow, another key's failure is still
// found (the searches run side by side in slices).
TEST(LinearizationSearch, FailingKeyFoundWhileAnotherIsSlow) {
  Builder b;
  // Key "a": many concurrent writes and a read of a value never written, which the plain
  // search needs about 10! orderings to refute.
  for (uint64_t p = 0; p < 10; ++p) b.call(p, "write", I(static_cast<int64_t>(p)), "a");
  b.call(10, "read", Value::nil(), "a").ok(10, I(99));
  for (uint64_t p = 0; p < 10; ++p) b.ok(p);
  // Key "b": a stale read.
  b.call(11, "write", I(1), "b").ok(11).call(11, "read", Value::nil(), "b").ok(11, Value::nil());
  CheckOptions o;
  o.limits.memoise = false;
  o.limits.reduce = false;
  o.limits.max_steps = 1'000'000;
  Result<CheckReport> r = check_history(b.build(), reg(), o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict, Verdict::kNotLinearizable);
  EXPECT_EQ(r->failing_key, "b");
  EXPECT_LT(r->steps, 100'000u);
}

// ---- Properties over generated histories -------------------------------------------------

struct Generated {
  History history;
  std::vector<size_t> definite_reads;  // ops whose result is known and that read a value
};

// One operation of a sequential run: what it does, and what it returned.
struct Step {
  Event call, done;
  bool took_effect = true;
};

// A random operation of the model on `key`, applied to `state` (one value per key). Registers
// hold 0-2, kv strings are made of a-c.
Step random_step(ModelKind m, const std::string& key, std::map<std::string, Value>* state) {
  Value& v = (*state)[key];
  Step s;
  s.call.key = key;
  const int kind = *rc::gen::inRange(0, 3);
  if (m == ModelKind::kKv) {
    const std::string text(1, static_cast<char>('a' + *rc::gen::inRange(0, 3)));
    if (v.is_nil()) v = Value::string("");
    s.call.f = kind == 0 ? "get" : kind == 1 ? "put" : "append";
    if (kind == 0) s.done.value = v;
    if (kind > 0) s.call.value = Value::string(text);
    if (kind == 1) v = Value::string(text);
    if (kind == 2) v = Value::string(v.s + text);
    return s;
  }
  const Value x = Value::integer(*rc::gen::inRange(0, 3));
  const Value y = Value::integer(*rc::gen::inRange(0, 3));
  s.call.f = kind == 0 ? "read" : kind == 1 ? "write" : "cas";
  if (kind == 0) s.done.value = v;
  if (kind == 1) {
    s.call.value = x;
    v = x;
  }
  if (kind == 2) {
    s.call.value = Value::list({x, y});
    s.took_effect = v == x;
    if (s.took_effect) v = y;
  }
  return s;
}

// A write that never took effect, though the client could not tell: an unknown outcome.
Step phantom_step(ModelKind m, const std::string& key) {
  Step s;
  s.call.key = key;
  s.call.f = m == ModelKind::kKv ? "append" : "write";
  s.call.value = m == ModelKind::kKv ? Value::string("c") : Value::integer(2);
  s.took_effect = false;
  return s;
}

struct Timed {
  uint64_t at;
  int order;  // calls before completions at the same time
  Event e;
};

// Places one operation: its call up to 30 before `moment`, its completion up to 30 after.
void place(Step s, uint64_t process, uint64_t moment, EventType outcome, std::vector<Timed>* out) {
  const uint64_t before = *rc::gen::inRange<uint64_t>(0, 30);
  s.call.process = process;
  s.call.type = EventType::kInvoke;
  s.done.process = process;
  s.done.f = s.call.f;
  s.done.key = s.call.key;
  s.done.type = outcome;
  out->push_back(Timed{moment > before ? moment - before : 0, 0, s.call});
  const bool never_completes = outcome == EventType::kInfo && *rc::gen::inRange(0, 2) == 0;
  if (!never_completes)
    out->push_back(Timed{moment + *rc::gen::inRange<uint64_t>(0, 30), 1, s.done});
}

// A sequential run of the model, each operation given a real-time window around its moment.
// Operations that did not take effect (a cas that found another value) complete with :fail.
// Some writes that did take effect end unknown (:info, or never completed), and a few phantom
// writes that never took effect are unknown too.
Generated generate(ModelKind m, int keys) {
  std::map<std::string, Value> state;
  std::vector<Timed> timed;
  const int n = *rc::gen::inRange(1, 9);
  for (int i = 0; i < n; ++i) {
    const std::string key(1, static_cast<char>('a' + *rc::gen::inRange(0, keys)));
    const uint64_t moment = 10 * static_cast<uint64_t>(i) + 5;
    const Step s = random_step(m, key, &state);
    const bool reads = s.call.f == "read" || s.call.f == "get";
    EventType outcome = s.took_effect ? EventType::kOk : EventType::kFail;
    if (s.took_effect && !reads && *rc::gen::inRange(0, 4) == 0) outcome = EventType::kInfo;
    place(s, static_cast<uint64_t>(i), moment, outcome, &timed);
    if (*rc::gen::inRange(0, 8) == 0) {
      place(phantom_step(m, key), 100 + static_cast<uint64_t>(i), moment, EventType::kInfo, &timed);
    }
  }
  std::stable_sort(timed.begin(), timed.end(), [](const Timed& a, const Timed& b) {
    return a.at != b.at ? a.at < b.at : a.order < b.order;
  });
  std::vector<Event> events;
  for (Timed& t : timed) {
    t.e.line = static_cast<uint32_t>(events.size() + 1);
    events.push_back(t.e);
  }
  Result<History> h = history_from_events(events);
  RQ_ASSERT(h.ok());
  Generated g{h.value(), {}};
  for (size_t i = 0; i < g.history.ops.size(); ++i) {
    const Operation& op = g.history.ops[i];
    const bool reads = op.f == "read" || op.f == "get";
    if (op.outcome == Outcome::kOk && reads) g.definite_reads.push_back(i);
  }
  return g;
}

Model model_of(ModelKind k) {
  return Model{k, Value::nil()};
}

// Each property checks several histories per case: they are cheap, and the default 100 cases
// are too few to meet the rarer interleavings.
constexpr int kHistoriesPerCase = 10;

RC_GTEST_PROP(LinearizabilityProperty, SequentialRunInOverlappingWindows_IsLinearizable, ()) {
  for (int n = 0; n < kHistoriesPerCase; ++n) {
    const ModelKind m = *rc::gen::element(ModelKind::kRegister, ModelKind::kKv);
    const Generated g = generate(m, *rc::gen::inRange(1, 4));
    const std::vector<Verdict> v = verdicts(g.history, model_of(m));
    RC_ASSERT(agree(v));
    RC_ASSERT(v.front() == Verdict::kLinearizable);
  }
}

RC_GTEST_PROP(LinearizabilityProperty, OneImpossibleRead_IsNotLinearizable, ()) {
  for (int n = 0; n < kHistoriesPerCase; ++n) {
    const ModelKind m = *rc::gen::element(ModelKind::kRegister, ModelKind::kKv);
    Generated g = generate(m, *rc::gen::inRange(1, 4));
    if (g.definite_reads.empty()) continue;
    const size_t i = *rc::gen::elementOf(g.definite_reads);
    // Nothing writes these: registers hold 0-2, kv strings are made of a-c.
    g.history.ops[i].output = m == ModelKind::kKv ? Value::string("zz") : Value::integer(99);
    const std::vector<Verdict> v = verdicts(g.history, model_of(m));
    RC_ASSERT(agree(v));
    RC_ASSERT(v.front() == Verdict::kNotLinearizable);
  }
}

// Any history at all, linearizable or not (some reads changed at random): the reduced,
// memoised search agrees with the plain one, per key and for all keys together.
RC_GTEST_PROP(LinearizabilityProperty, ReducedSearchAgreesWithThePlainOne, ()) {
  for (int n = 0; n < kHistoriesPerCase; ++n) {
    const ModelKind m = *rc::gen::element(ModelKind::kRegister, ModelKind::kKv);
    Generated g = generate(m, *rc::gen::inRange(1, 4));
    for (const size_t i : g.definite_reads) {
      if (*rc::gen::inRange(0, 3) != 0) continue;
      g.history.ops[i].output =
          m == ModelKind::kKv ? Value::string(*rc::gen::element<std::string>("", "a", "ab", "b"))
                              : Value::integer(*rc::gen::inRange(0, 3));
    }
    const std::vector<Verdict> v = verdicts(g.history, model_of(m));
    RC_ASSERT(agree(v));
    RC_ASSERT(v.front() != Verdict::kGaveUp);
  }
}

}  // namespace
}  // namespace rq::sim
