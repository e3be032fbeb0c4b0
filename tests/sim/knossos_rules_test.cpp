// rqcheck reading Jepsen / Knossos EDN must give Knossos's verdicts. Each case is a hand-made
// history with the verdict Knossos's models give it (knossos/model.clj: `register`,
// `cas-register`; knossos/history.clj: how :fail and :info completions are read), checked both
// ways where the rule differs from the simulator's own jsonl semantics.
#include <gtest/gtest.h>

#include <string>

#include "sim/history_formats.h"
#include "sim/linearizability.h"
#include "sim/sequential_models.h"
#include "sim/workload/runner.h"

namespace rq::sim {
namespace {

Verdict verdict(HistoryFormat f, const std::string& text, Value init = Value::nil(), ReadOptions o = {}) {
  Result<History> h = read_history(f, text, o);
  EXPECT_TRUE(h.ok()) << (h.ok() ? "" : h.error().message);
  if (!h.ok()) return Verdict::kGaveUp;
  Model m;
  m.kind = ModelKind::kRegister;
  m.init = init;
  Result<CheckReport> r = check_history(h.value(), m, CheckOptions{});
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? r.value().verdict : Verdict::kGaveUp;
}

constexpr Verdict kValid = Verdict::kLinearizable;
constexpr Verdict kInvalid = Verdict::kNotLinearizable;

TEST(KnossosRules, NilRead_MatchesAnyState) {
  // Knossos: (read nil) is consistent with every register value.
  const char* edn =
      "{:process 0 :type :invoke :f :write :value 1}\n"
      "{:process 0 :type :ok :f :write :value 1}\n"
      "{:process 1 :type :invoke :f :read :value nil}\n"
      "{:process 1 :type :ok :f :read :value nil}\n";
  EXPECT_EQ(verdict(HistoryFormat::kEdn, edn), kValid);
  // The simulator's own files mean what they say: nil there is the value of a never-written
  // register, which a read after a completed write cannot see.
  const char* jsonl =
      "{\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n"
      "{\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"value\":1}\n"
      "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}\n"
      "{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":null}\n";
  EXPECT_EQ(verdict(HistoryFormat::kJsonl, jsonl), kInvalid);
}

TEST(KnossosRules, InitialValue_NilUnlessGiven) {
  // (cas-register) starts at nil: a first read of 0 is impossible; (cas-register 0) allows it.
  const char* edn =
      "{:process 0 :type :invoke :f :read :value nil}\n"
      "{:process 0 :type :ok :f :read :value 0}\n";
  EXPECT_EQ(verdict(HistoryFormat::kEdn, edn), kInvalid);
  EXPECT_EQ(verdict(HistoryFormat::kEdn, edn, Value::integer(0)), kValid);
}

TEST(KnossosRules, FailedOps_DidNotHappen) {
  // A :fail write is removed from the history: its value cannot be read.
  const char* write =
      "{:process 0 :type :invoke :f :write :value 7}\n"
      "{:process 0 :type :fail :f :write :value 7}\n"
      "{:process 1 :type :invoke :f :read :value nil}\n"
      "{:process 1 :type :ok :f :read :value 7}\n";
  EXPECT_EQ(verdict(HistoryFormat::kEdn, write), kInvalid);
  // A :fail cas changes nothing, and says nothing about the value either (Knossos drops it).
  const char* cas =
      "{:process 0 :type :invoke :f :write :value 1}\n"
      "{:process 0 :type :ok :f :write :value 1}\n"
      "{:process 1 :type :invoke :f :cas :value [1 2]}\n"
      "{:process 1 :type :fail :f :cas :value [1 2] :error :mismatch}\n"
      "{:process 2 :type :invoke :f :read :value nil}\n"
      "{:process 2 :type :ok :f :read :value 1}\n";
  EXPECT_EQ(verdict(HistoryFormat::kEdn, cas), kValid);
  const char* cas_seen =
      "{:process 0 :type :invoke :f :write :value 1}\n"
      "{:process 0 :type :ok :f :write :value 1}\n"
      "{:process 1 :type :invoke :f :cas :value [1 2]}\n"
      "{:process 1 :type :fail :f :cas :value [1 2]}\n"
      "{:process 2 :type :invoke :f :read :value nil}\n"
      "{:process 2 :type :ok :f :read :value 2}\n";
  EXPECT_EQ(verdict(HistoryFormat::kEdn, cas_seen), kInvalid);
}

TEST(KnossosRules, OkCas_MustFindItsFromValue) {
  const char* good =
      "{:process 0 :type :invoke :f :write :value 1}\n"
      "{:process 0 :type :ok :f :write :value 1}\n"
      "{:process 1 :type :invoke :f :cas :value [1 2]}\n"
      "{:process 1 :type :ok :f :cas :value [1 2]}\n"
      "{:process 2 :type :invoke :f :read :value nil}\n"
      "{:process 2 :type :ok :f :read :value 2}\n";
  EXPECT_EQ(verdict(HistoryFormat::kEdn, good), kValid);
  const char* bad =
      "{:process 0 :type :invoke :f :write :value 1}\n"
      "{:process 0 :type :ok :f :write :value 1}\n"
      "{:process 1 :type :invoke :f :cas :value [5 6]}\n"
      "{:process 1 :type :ok :f :cas :value [5 6]}\n";
  EXPECT_EQ(verdict(HistoryFormat::kEdn, bad), kInvalid);
}

TEST(KnossosRules, InfoOps_MayTakeEffectAnyTimeAfterTheirInvocation_OrNever) {
  // An :info write may be seen, late, by a read long after...
  const char* seen =
      "{:process 0 :type :invoke :f :write :value 3}\n"
      "{:process 0 :type :info :f :write :value 3}\n"
      "{:process 1 :type :invoke :f :read :value nil}\n"
      "{:process 1 :type :ok :f :read :value nil}\n"
      "{:process 1 :type :invoke :f :read :value nil}\n"
      "{:process 1 :type :ok :f :read :value 3}\n";
  EXPECT_EQ(verdict(HistoryFormat::kEdn, seen), kValid);
  // ...or never; but not before it was invoked.
  const char* before =
      "{:process 1 :type :invoke :f :read :value nil}\n"
      "{:process 1 :type :ok :f :read :value 3}\n"
      "{:process 0 :type :invoke :f :write :value 3}\n"
      "{:process 0 :type :info :f :write :value 3}\n";
  EXPECT_EQ(verdict(HistoryFormat::kEdn, before), kInvalid);
  // An :info read constrains nothing.
  const char* info_read =
      "{:process 0 :type :invoke :f :write :value 1}\n"
      "{:process 0 :type :ok :f :write :value 1}\n"
      "{:process 1 :type :invoke :f :read :value nil}\n"
      "{:process 1 :type :info :f :read :value 9}\n";
  EXPECT_EQ(verdict(HistoryFormat::kEdn, info_read), kValid);
}

TEST(KnossosRules, ReadValueComesFromTheCompletion_StaleReadCaught) {
  const char* stale =
      "{:process 0 :type :invoke :f :write :value 1}\n"
      "{:process 0 :type :ok :f :write :value 1}\n"
      "{:process 0 :type :invoke :f :write :value 2}\n"
      "{:process 0 :type :ok :f :write :value 2}\n"
      "{:process 1 :type :invoke :f :read :value nil}\n"
      "{:process 1 :type :ok :f :read :value 1}\n";
  EXPECT_EQ(verdict(HistoryFormat::kEdn, stale), kInvalid);
}

TEST(KnossosRules, OurEdnWritesACasThatFoundAnotherValueAsJepsenDoes) {
  // The workload records such a cas :ok false (it ran, and constrains the state); Jepsen's
  // clients and Knossos's cas-register say :fail with the invocation's [from to].
  std::vector<wl::TimedEvent> ev(2);
  ev[0].event.process = 3;
  ev[0].event.type = EventType::kInvoke;
  ev[0].event.f = "cas";
  ev[0].event.value = Value::list({Value::integer(4), Value::integer(5)});
  ev[1].event.process = 3;
  ev[1].event.type = EventType::kOk;
  ev[1].event.f = "cas";
  ev[1].event.value = Value::boolean(false);
  const std::string edn = wl::history_to_edn(ev, wl::Kind::kRegister);
  EXPECT_NE(edn.find(":type :fail, :process 3, :f :cas, :value [4 5], :error :mismatch"), std::string::npos) << edn;
  Result<History> h = read_history(HistoryFormat::kEdn, edn);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h.value().ops.size(), 1u);
  EXPECT_EQ(h.value().ops[0].outcome, Outcome::kFailed);
}

TEST(KnossosRules, IndependentTuples_EachKeyIsItsOwnRegister) {
  // jepsen.independent: :value [k v], and each key is checked alone. Key 2 was never written
  // 5, so its read of 5 is invalid though key 1 holds 5.
  const char* wrong_key =
      "{:process 0 :type :invoke :f :write :value [1 5]}\n"
      "{:process 0 :type :ok :f :write :value [1 5]}\n"
      "{:process 1 :type :invoke :f :read :value [2 nil]}\n"
      "{:process 1 :type :ok :f :read :value [2 5]}\n";
  const ReadOptions independent{true};
  EXPECT_EQ(verdict(HistoryFormat::kEdn, wrong_key, Value::nil(), independent), kInvalid);
  const char* two_keys =
      "{:process 0 :type :invoke :f :write :value [1 5]}\n"
      "{:process 0 :type :ok :f :write :value [1 5]}\n"
      "{:process 1 :type :invoke :f :write :value [2 7]}\n"
      "{:process 1 :type :ok :f :write :value [2 7]}\n"
      "{:process 2 :type :invoke :f :read :value [1 nil]}\n"
      "{:process 2 :type :ok :f :read :value [1 5]}\n";
  EXPECT_EQ(verdict(HistoryFormat::kEdn, two_keys, Value::nil(), independent), kValid);
  // Read as one register, the last write was [2 7], so the read of [1 5] is stale.
  EXPECT_EQ(verdict(HistoryFormat::kEdn, two_keys), kInvalid);
  // A value that is not a pair is an error, with its line.
  Result<History> bad = read_history(HistoryFormat::kEdn, "{:process 0 :type :invoke :f :write :value 3}\n", independent);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("line 1: expected an independent tuple [k v], got 3"), std::string::npos)
      << bad.error().message;
}

TEST(KnossosRules, OurEdnWritesKeyedOperationsAsIndependentTuples) {
  std::vector<wl::TimedEvent> ev(4);
  for (auto& e : ev) {
    e.event.process = 1;
    e.event.f = "cas";
    e.event.key = "3";
  }
  ev[0].event.type = EventType::kInvoke;
  ev[0].event.value = Value::list({Value::integer(4), Value::integer(5)});
  ev[1].event.type = EventType::kOk;
  ev[1].event.value = Value::boolean(false);  // found another value: :fail with [from to]
  ev[2].event.type = EventType::kInvoke;
  ev[2].event.f = "read";
  ev[3].event.type = EventType::kOk;
  ev[3].event.f = "read";
  ev[3].event.value = Value::integer(6);
  const std::string edn = wl::history_to_edn(ev, wl::Kind::kMultiRegister);
  EXPECT_NE(edn.find(":type :invoke, :process 1, :f :cas, :value [3 [4 5]]"), std::string::npos) << edn;
  EXPECT_NE(edn.find(":type :fail, :process 1, :f :cas, :value [3 [4 5]], :error :mismatch"), std::string::npos) << edn;
  EXPECT_NE(edn.find(":f :read, :value [3 nil]"), std::string::npos) << edn;
  EXPECT_NE(edn.find(":f :read, :value [3 6]"), std::string::npos) << edn;
  EXPECT_EQ(edn.find(":key"), std::string::npos) << edn;
  Result<History> h = read_history(HistoryFormat::kEdn, edn, ReadOptions{true});
  ASSERT_TRUE(h.ok()) << h.error().message;
  ASSERT_EQ(h.value().ops.size(), 2u);
  EXPECT_EQ(h.value().ops[0].key, std::optional<std::string>("3"));
  EXPECT_EQ(h.value().ops[0].outcome, Outcome::kFailed);
  EXPECT_EQ(h.value().ops[1].output, Value::integer(6));
  // A key that is not a number, or would not read back as the same string, stays a string.
  ev[3].event.key = "k";
  EXPECT_NE(wl::history_to_edn(ev, wl::Kind::kAppend).find(":value [\"k\" 6]"), std::string::npos);
  ev[3].event.key = "007";
  EXPECT_NE(wl::history_to_edn(ev, wl::Kind::kAppend).find(":value [\"007\" 6]"), std::string::npos);
  ev[3].event.key = "0";
  EXPECT_NE(wl::history_to_edn(ev, wl::Kind::kAppend).find(":value [0 6]"), std::string::npos);
}

TEST(KnossosRules, OurEdnWritesBankOperationsAsJepsensBankTest) {
  std::vector<wl::TimedEvent> ev(4);
  for (auto& e : ev) e.event.process = 0;
  ev[0].event.type = EventType::kInvoke;
  ev[0].event.f = "transfer";
  ev[0].event.value = Value::list({Value::integer(0), Value::integer(2), Value::integer(5)});
  ev[1] = ev[0];
  ev[1].event.type = EventType::kOk;
  ev[2].event.type = EventType::kInvoke;
  ev[2].event.f = "read";
  ev[3].event.type = EventType::kOk;
  ev[3].event.f = "read";
  ev[3].event.value = Value::list({Value::integer(5), Value::integer(10), Value::integer(15)});
  const std::string edn = wl::history_to_edn(ev, wl::Kind::kBank);
  EXPECT_NE(edn.find(":type :ok, :process 0, :f :transfer, :value {:from 0, :to 2, :amount 5}"), std::string::npos) << edn;
  EXPECT_NE(edn.find(":type :invoke, :process 0, :f :read, :value nil"), std::string::npos) << edn;
  EXPECT_NE(edn.find(":type :ok, :process 0, :f :read, :value {0 5, 1 10, 2 15}"), std::string::npos) << edn;
}

}  // namespace
}  // namespace rq::sim
