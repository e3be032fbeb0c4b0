// The workload library (sim/workload/): each workload's reading of answers, its checker on
// hand-made histories with a known verdict, and the runner's retry rules in both kinds of world.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>

#include "sim/workload/runner.h"
#include "sim/workload/workload.h"

namespace rq::wl {
namespace {

sim::Event ev(uint64_t p, EventType t, std::string f, Value v, std::optional<std::string> key = std::nullopt) {
  sim::Event e;
  e.process = p;
  e.type = t;
  e.f = std::move(f);
  e.value = std::move(v);
  e.key = std::move(key);
  return e;
}

Value ints(std::vector<int64_t> xs) {
  std::vector<Value> items;
  for (int64_t x : xs) items.push_back(Value::integer(x));
  return Value::list(std::move(items));
}

constexpr auto kInvoke = EventType::kInvoke;
constexpr auto kOk = EventType::kOk;
constexpr auto kFail = EventType::kFail;
constexpr auto kInfo = EventType::kInfo;

// ---- answers -----------------------------------------------------------------------------------

sql::CommandResult rows_result(size_t statements, std::vector<std::vector<sql::Value>> rows) {
  sql::CommandResult r;
  r.results.resize(statements);
  r.results.back().rows = std::move(rows);
  return r;
}

TEST(Workload, RegisterRead_MissingTableIsTheInitialState) {
  auto w = Workload::make(Kind::kRegister);
  ClientMemory c{1};
  Prng prng(7);
  Op read;
  for (int i = 0; i < 100 && !read.is_read; ++i) read = w->next(c, prng);
  ASSERT_TRUE(read.is_read);
  sql::CommandResult r;
  r.results.resize(1);
  r.results[0].error = "no such table: reg";
  Completion done = w->interpret(read, r);
  EXPECT_EQ(done.type, kOk);
  EXPECT_TRUE(done.value.is_nil());
  EXPECT_TRUE(done.problem.empty());
  done = w->interpret(read, rows_result(1, {{sql::Value::of_int(5)}}));
  EXPECT_EQ(done.value, Value::integer(5));
  done = w->interpret(read, rows_result(1, {{sql::Value::of_text("x")}}));
  EXPECT_FALSE(done.problem.empty());
}

TEST(Workload, RegisterCas_NoRowChangedCompletesOkWithFalse) {
  auto w = Workload::make(Kind::kRegister);
  ClientMemory c{1};
  Prng prng(3);
  Op cas;
  for (int i = 0; i < 200 && cas.f != "cas"; ++i) cas = w->next(c, prng);
  ASSERT_EQ(cas.f, "cas");
  sql::CommandResult r;
  r.results.resize(2);
  r.results[1].rows_affected = 0;
  EXPECT_EQ(w->interpret(cas, r).value, Value::boolean(false));
  r.results[1].rows_affected = 1;
  EXPECT_EQ(w->interpret(cas, r).value, cas.input);
  r.results[1].rows_affected = 2;
  EXPECT_FALSE(w->interpret(cas, r).problem.empty());
}

TEST(Workload, BankTransferRefusedByTheCheckFails) {
  auto w = Workload::make(Kind::kBank);
  ClientMemory c{1};
  Prng prng(11);
  Op t;
  for (int i = 0; i < 100 && t.f != "transfer"; ++i) t = w->next(c, prng);
  ASSERT_EQ(t.f, "transfer");
  EXPECT_TRUE(t.req.transaction);
  sql::CommandResult r;
  r.results.resize(3);
  r.results[2].error = "CHECK constraint failed: balance >= 0";
  EXPECT_EQ(w->interpret(t, r).type, kFail);
}

TEST(Workload, SetOperationsAreUniqueInsertsAndTheFinalReadIsStrong) {
  auto w = Workload::make(Kind::kSet);
  ClientMemory a{1}, b{2};
  Prng prng(1);
  std::map<std::string, int> seen;
  for (int i = 0; i < 50; ++i) {
    for (ClientMemory* c : {&a, &b}) {
      Op op = w->next(*c, prng);
      EXPECT_EQ(op.f, "add");
      EXPECT_EQ(++seen[op.input.to_edn()], 1);
    }
  }
  EXPECT_EQ(w->final_level(), Level::kStrong);
  ASSERT_EQ(w->final_reads().size(), 1u);
  EXPECT_TRUE(w->final_reads()[0].is_read);
}

// ---- checkers ----------------------------------------------------------------------------------

// Adds of 1 (ok), 2 (info), 3 (fail), then a final read.
std::vector<sim::Event> set_history(Value final_read) {
  return {ev(0, kInvoke, "add", Value::integer(1)), ev(0, kOk, "add", Value::integer(1)),
          ev(1, kInvoke, "add", Value::integer(2)), ev(1, kInfo, "add", Value::integer(2)),
          ev(2, kInvoke, "add", Value::integer(3)), ev(2, kFail, "add", Value::integer(3)),
          ev(3, kInvoke, "read", Value::nil()),     ev(3, kOk, "read", std::move(final_read))};
}

TEST(WorkloadCheck, Set_ValidWithOrWithoutTheUnknownAdd) {
  auto w = Workload::make(Kind::kSet);
  EXPECT_FALSE(w->check(set_history(ints({1})), 6).has_value());
  EXPECT_FALSE(w->check(set_history(ints({1, 2})), 6).has_value());
}

TEST(WorkloadCheck, Set_LostDuplicatedUnexpected) {
  auto w = Workload::make(Kind::kSet);
  auto f = w->check(set_history(ints({2})), 6);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->reason, "lost");
  f = w->check(set_history(ints({1, 1})), 6);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->reason, "duplicated");
  f = w->check(set_history(ints({1, 3})), 6);  // 3's add failed
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->reason, "unexpected");
  f = w->check(set_history(ints({1, 9})), 6);  // never added
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->reason, "unexpected");
}

TEST(WorkloadCheck, Set_NoFinalReadIsNotValid) {
  auto w = Workload::make(Kind::kSet);
  auto h = set_history(ints({1}));
  h.resize(6);
  auto f = w->check(h, UINT64_MAX);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->reason, "no-final-read");
}

TEST(WorkloadCheck, Set_AnAddAcknowledgedAfterTheReadBeganMayBeMissing) {
  auto w = Workload::make(Kind::kSet);
  std::vector<sim::Event> h = {ev(0, kInvoke, "add", Value::integer(1)), ev(1, kInvoke, "read", Value::nil()),
                               ev(0, kOk, "add", Value::integer(1)), ev(1, kOk, "read", ints({}))};
  EXPECT_FALSE(w->check(h, 1).has_value());
}

TEST(WorkloadCheck, Append_DuplicateTokenInAnyRead) {
  auto w = Workload::make(Kind::kAppend);
  std::vector<sim::Event> h = {ev(0, kInvoke, "append", Value::string("1.1 "), "0"),
                               ev(0, kOk, "append", Value::string("1.1 "), "0"),
                               ev(1, kInvoke, "get", Value::nil(), "0"),
                               ev(1, kOk, "get", Value::string("1.1 1.1 "), "0")};
  auto f = w->check(h, UINT64_MAX);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->reason, "duplicated");
}

TEST(WorkloadCheck, Append_StaleReadIsNotLinearizable) {
  auto w = Workload::make(Kind::kAppend);
  std::vector<sim::Event> h = {ev(0, kInvoke, "append", Value::string("1.1 "), "0"),
                               ev(0, kOk, "append", Value::string("1.1 "), "0"),
                               ev(1, kInvoke, "get", Value::nil(), "0"),
                               ev(1, kOk, "get", Value::nil(), "0")};
  auto f = w->check(h, UINT64_MAX);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->reason, "not-linearizable");
  // As a final read it also lost the element; the element check speaks first.
  f = w->check(h, 2);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->reason, "lost");
}

TEST(WorkloadCheck, Bank_TotalMustBeConserved) {
  auto w = Workload::make(Kind::kBank, Shape{4, 3, 10});
  std::vector<sim::Event> h = {ev(0, kInvoke, "read", Value::nil()), ev(0, kOk, "read", ints({10, 10, 10}))};
  EXPECT_FALSE(w->check(h).has_value());
  h.push_back(ev(1, kInvoke, "read", Value::nil()));
  h.push_back(ev(1, kOk, "read", ints({10, 5, 10})));
  auto f = w->check(h);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->reason, "balance-not-conserved");
  h.back() = ev(1, kOk, "read", ints({25, -5, 10}));
  f = w->check(h);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->reason, "balance-not-conserved");
}

TEST(WorkloadCheck, Register_StaleReadIsNotLinearizable) {
  auto w = Workload::make(Kind::kRegister);
  std::vector<sim::Event> h = {ev(0, kInvoke, "write", Value::integer(1)), ev(0, kOk, "write", Value::integer(1)),
                               ev(1, kInvoke, "read", Value::nil()), ev(1, kOk, "read", Value::nil())};
  auto f = w->check(h);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->reason, "not-linearizable");
  h.back() = ev(1, kOk, "read", Value::integer(1));
  EXPECT_FALSE(w->check(h).has_value());
}

// ---- the runner --------------------------------------------------------------------------------

// A world with a time line and a scripted node: every request gets the status `next` says
// (one hop each way), and an ok write or read behaves like one register.
class ScriptedWorld final : public Client {
 public:
  explicit ScriptedWorld(bool exactly_once) : exactly_once_(exactly_once) {}
  Duration now() const override { return now_; }
  void after(Duration d, std::function<void()> fn) override { timers_.emplace(now_ + d, seq_++, std::move(fn)); }
  bool exactly_once() const override { return exactly_once_; }
  void send(int node, Request req, Reply reply) override {
    requests.push_back({node, req});
    Status s = script.empty() ? Status::kOk : script.front();
    if (!script.empty()) script.erase(script.begin());
    if (req.statements.size() == 2 && unknown_writes > 0) {
      --unknown_writes;
      s = Status::kUnknown;
    }
    if (s == Status::kUnknown && silent_unknown) return;  // no answer at all
    after(std::chrono::milliseconds(1), [this, s, req, reply] {
      Response r;
      r.status = s;
      if (s == Status::kOk) {
        r.result.results.resize(req.statements.size());
        if (req.statements.size() == 2) {
          r.result.results[1].rows_affected = 1;
          // A register's upsert carries (k, v); a set's insert carries (v).
          const auto& ps = req.statements[1].params;
          if (!ps.empty()) value_ = ps[ps.size() > 1 ? 1 : 0].value.integer;
        } else if (value_ != 0) {
          r.result.results[0].rows = {{sql::Value::of_int(value_)}};
        }
      }
      reply(r);
    });
  }
  // Runs timers until `until` (or none are left).
  void run(Duration until) {
    while (!timers_.empty() && std::get<0>(*timers_.begin()) <= until) {
      auto node = timers_.extract(timers_.begin());
      now_ = std::get<0>(node.value());
      std::get<2>(node.value())();
    }
  }

  struct Sent {
    int node;
    Request req;
  };
  std::vector<Sent> requests;
  std::vector<Status> script;
  int unknown_writes = 0;  // the first writes answered "unknown" (the script aside)
  bool silent_unknown = false;

 private:
  struct Less {
    bool operator()(const std::tuple<Duration, uint64_t, std::function<void()>>& a,
                    const std::tuple<Duration, uint64_t, std::function<void()>>& b) const {
      return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
    }
  };
  bool exactly_once_;
  Duration now_{};
  uint64_t seq_ = 0;
  int64_t value_ = 0;
  std::set<std::tuple<Duration, uint64_t, std::function<void()>>, Less> timers_;
};

RunnerOptions one_client(bool bound) {
  RunnerOptions o;
  o.clients = 1;
  o.nodes = 3;
  o.bound = bound;
  o.think = std::chrono::milliseconds(10);
  o.attempt_timeout = std::chrono::milliseconds(100);
  return o;
}

// The first write of the run, found by running until one was invoked.
size_t first_write(const Runner& r) {
  for (size_t i = 0; i < r.events().size(); ++i) {
    if (r.events()[i].event.type == kInvoke && r.events()[i].event.f == "write") return i;
  }
  return SIZE_MAX;
}

TEST(Runner, UnknownWriteWithoutExactlyOnceCompletesInfoAndRetiresTheProcess) {
  ScriptedWorld world(false);
  auto w = Workload::make(Kind::kRegister);
  // Every answer is "unknown": reads retry, writes end :info at once.
  world.script.assign(2000, Status::kUnknown);
  Runner r(world, *w, Prng(5), one_client(true));
  r.start();
  world.run(std::chrono::seconds(5));
  r.stop();
  const size_t at = first_write(r);
  ASSERT_NE(at, SIZE_MAX);
  ASSERT_LT(at + 1, r.events().size());
  const TimedEvent& done = r.events()[at + 1];
  EXPECT_EQ(done.event.type, kInfo);
  EXPECT_EQ(done.event.f, "write");
  EXPECT_EQ(done.node, 1);
  // The next invocation is by a new process.
  ASSERT_LT(at + 2, r.events().size());
  EXPECT_NE(r.events()[at + 2].event.process, done.event.process);
  // Bound: everything went to node 1, with no session.
  for (const auto& s : world.requests) {
    EXPECT_EQ(s.node, 1);
    EXPECT_EQ(s.req.session, 0u);
    EXPECT_FALSE(s.req.redirect);
  }
}

TEST(Runner, UnknownWriteWithExactlyOnceIsRetriedWithTheSameSequence) {
  ScriptedWorld world(true);
  world.unknown_writes = 2;
  auto w = Workload::make(Kind::kRegister);
  Runner r(world, *w, Prng(5), one_client(false));
  r.start();
  world.run(std::chrono::seconds(1));
  r.stop();
  world.run(std::chrono::seconds(2));
  std::vector<Request> writes;
  for (const auto& s : world.requests) {
    if (s.req.statements.size() == 2) writes.push_back(s.req);
  }
  ASSERT_GE(writes.size(), 4u);
  // The first write was sent three times with one (session, seq); the next has the next seq.
  EXPECT_NE(writes[0].session, 0u);
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(writes[i].session, writes[0].session);
    EXPECT_EQ(writes[i].seq, writes[0].seq);
  }
  EXPECT_EQ(writes[3].seq, writes[0].seq + 1);
  const size_t at = first_write(r);
  ASSERT_LT(at + 1, r.events().size());
  EXPECT_EQ(r.events()[at + 1].event.type, kOk);
  EXPECT_EQ(r.stats().unknown, 0u);
  EXPECT_EQ(r.stats().attempt_unknown, 2u);
}

TEST(Runner, SilentNodeTimesOutTheAttempt) {
  ScriptedWorld world(false);
  world.silent_unknown = true;
  world.script.assign(2000, Status::kUnknown);
  auto w = Workload::make(Kind::kRegister);
  RunnerOptions o = one_client(true);
  o.op_timeout = std::chrono::milliseconds(250);
  Runner r(world, *w, Prng(9), o);
  r.start();
  world.run(std::chrono::seconds(3));
  r.stop();
  world.run(std::chrono::seconds(4));
  EXPECT_GT(r.stats().attempt_timeouts, 0u);
  EXPECT_EQ(r.in_flight(), 0u);
  // Reads ran out of time (op_timeout) and writes were unknown at the first silence.
  for (const auto& te : r.events()) {
    if (te.event.type == kInvoke) continue;
    EXPECT_EQ(te.event.type, kInfo) << te.event.f;
  }
}

TEST(Runner, FinalReadsAskEveryNodeAtTheFinalLevel) {
  ScriptedWorld world(false);
  auto w = Workload::make(Kind::kSet);
  Runner r(world, *w, Prng(2), one_client(true));
  r.start();
  world.run(std::chrono::milliseconds(200));
  r.stop();
  world.run(std::chrono::milliseconds(400));
  const size_t before = world.requests.size();
  std::optional<bool> done;
  r.final_reads({1, 2, 3}, [&](bool ok) { done = ok; });
  world.run(std::chrono::seconds(2));
  ASSERT_TRUE(done.has_value());
  EXPECT_TRUE(*done);
  ASSERT_EQ(world.requests.size(), before + 3);
  std::set<int> nodes;
  for (size_t i = before; i < world.requests.size(); ++i) {
    nodes.insert(world.requests[i].node);
    EXPECT_EQ(world.requests[i].req.level, Level::kStrong);
  }
  EXPECT_EQ(nodes, (std::set<int>{1, 2, 3}));
  EXPECT_EQ(r.final_from(), r.events().size() - 6);
}

TEST(Runner, HistoryFilesCarryNemesisEventsApart) {
  ScriptedWorld world(false);
  auto w = Workload::make(Kind::kRegister);
  Runner r(world, *w, Prng(2), one_client(true));
  r.note_nemesis("kill", "n2");
  r.start();
  world.run(std::chrono::milliseconds(50));
  const std::string jsonl = history_to_jsonl(r.events());
  EXPECT_EQ(jsonl.rfind("{\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":\"n2\"", 0), 0u) << jsonl;
  const std::string edn = history_to_edn(r.events(), Kind::kRegister);
  EXPECT_NE(edn.find(":process :nemesis"), std::string::npos);
  EXPECT_NE(edn.find(":process 0"), std::string::npos);
}

}  // namespace
}  // namespace rq::wl
