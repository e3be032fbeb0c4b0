// History readers: the EDN reader on what real Jepsen and Knossos files hold, the Porcupine etcd
// and kv logs with the semantics their verdicts assume, jsonl, pairing events into operations,
// and the errors (with line numbers) for input that is not a history.
#include "sim/history_formats.h"

#include <gtest/gtest.h>

#include <string>

namespace rq::sim {
namespace {

History read_ok(HistoryFormat f, const std::string& text) {
  Result<History> h = read_history(f, text);
  EXPECT_TRUE(h.ok()) << (h.ok() ? "" : h.error().message);
  return h.ok() ? h.value() : History{};
}

std::string read_error(HistoryFormat f, const std::string& text) {
  Result<History> h = read_history(f, text);
  EXPECT_FALSE(h.ok());
  return h.ok() ? "" : h.error().message;
}

// ---- EDN values ---------------------------------------------------------------------------

TEST(Edn, Atoms) {
  Result<std::vector<EdnValue>> v =
      parse_edn("nil true false 42 -7 12N 1.5 \"a\\\"b\\n\\u00e9\" :timed-out ::ns/k sym \\x");
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 12u);
  EXPECT_EQ((*v)[0].kind, EdnValue::Kind::kNil);
  EXPECT_TRUE((*v)[1].b);
  EXPECT_FALSE((*v)[2].b);
  EXPECT_EQ((*v)[3].i, 42);
  EXPECT_EQ((*v)[4].i, -7);
  EXPECT_EQ((*v)[5].i, 12);
  EXPECT_EQ((*v)[6].kind, EdnValue::Kind::kFloat);
  EXPECT_EQ((*v)[7].text, "a\"b\n\xc3\xa9");
  EXPECT_TRUE((*v)[8].is_keyword("timed-out"));
  EXPECT_TRUE((*v)[9].is_keyword("ns/k"));
  EXPECT_EQ((*v)[10].kind, EdnValue::Kind::kSymbol);
  EXPECT_EQ((*v)[11].text, "x");
}

TEST(Edn, CommentsCommasDiscardsTagsAndSets) {
  Result<std::vector<EdnValue>> v = parse_edn(
      "; a comment\n[1, 2 ; another\n #_ 3 #_(4 5) 6] #inst \"2024-01-01\" #{:a :b}\n"
      "#jepsen.history.Op{:index 0}");
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 4u);
  ASSERT_EQ((*v)[0].items.size(), 3u);
  EXPECT_EQ((*v)[0].items[2].i, 6);
  EXPECT_EQ((*v)[0].line, 2u);
  EXPECT_EQ((*v)[1].kind, EdnValue::Kind::kString);
  EXPECT_EQ((*v)[2].kind, EdnValue::Kind::kSet);
  EXPECT_EQ((*v)[3].kind, EdnValue::Kind::kMap);
  EXPECT_EQ((*v)[3].get("index")->i, 0);
}

TEST(Edn, Errors_NameTheLine) {
  auto error = [](const char* text) {
    Result<std::vector<EdnValue>> v = parse_edn(text);
    return v.ok() ? std::string("parsed") : v.error().message;
  };
  EXPECT_EQ(error("[1 2\n3"), "line 2: missing ']' for the one on line 1");
  EXPECT_EQ(error("\n\n)"), "line 3: unmatched ')'");
  EXPECT_EQ(error("{:a 1\n :b}"), "line 2: the map from line 1 has a key without a value");
  EXPECT_EQ(error("\"abc"), "line 1: the string from line 1 never ends");
  EXPECT_EQ(error("99999999999999999999"), "line 1: number out of range: 99999999999999999999");
  EXPECT_EQ(error("\"\\q\""), "line 1: unknown escape \\q");
  EXPECT_EQ(error(std::string(300, '[').c_str()), "line 1: nested deeper than 200");
}

// Found while writing tests/fuzz/fuzz_history and confirmed with it (on a 400 KB input, past the
// fuzzer's default input size): each `#_` of a run like `#_#_#_...` recursed without counting a
// level, so a long enough run overflowed the stack.
TEST(Edn, DiscardsNested_CountAsLevels) {
  auto error = [](const std::string& text) {
    Result<std::vector<EdnValue>> v = parse_edn(text);
    return v.ok() ? std::string("parsed") : v.error().message;
  };
  std::string deep;
  for (int k = 0; k < 1'000'000; ++k) deep += "#_";
  EXPECT_EQ(error(deep + "1"), "line 1: nested deeper than 200");
  EXPECT_EQ(error("#_ #_ a b"), "parsed");
  EXPECT_EQ(parse_edn("#_ #_ a b c").value().size(), 1u);
}

// ---- EDN histories -------------------------------------------------------------------------

// What a Knossos test file looks like: a vector of maps over several lines, comments, extra
// keys, the nemesis, :info, a cas vector, keyword values.
constexpr const char* kKnossosStyle = R"([
  ; the first read
  {:process 0, :type :invoke, :f :read, :value nil, :time 100, :index 0}
  {:process :nemesis, :type :info, :f :start, :value nil}
  {:process 0,
   :type :ok,
   :f :read,
   :value 3}
  {:process 1 :type :invoke :f :cas :value [3 4]}
  {:process 1 :type :info :f :cas :value [3 4] :error [:timeout "no reply"]}
  {:process 2 :type :invoke :f :write :value 5}
  {:process 2 :type :fail :f :write :value 5 :error :conflict}
])";

TEST(EdnHistory, KnossosStyleVector) {
  const History h = read_ok(HistoryFormat::kEdn, kKnossosStyle);
  ASSERT_EQ(h.ops.size(), 3u);
  EXPECT_EQ(h.events, 6u);  // the nemesis is not a client
  const Operation& read = h.ops[0];
  EXPECT_EQ(read.f, "read");
  EXPECT_EQ(read.output, Value::integer(3));  // a read's value comes from its completion
  EXPECT_EQ(read.outcome, Outcome::kOk);
  EXPECT_EQ(read.call_line, 3u);
  EXPECT_EQ(read.ret_line, 5u);
  const Operation& cas = h.ops[1];
  EXPECT_EQ(cas.input, Value::list({Value::integer(3), Value::integer(4)}));
  EXPECT_EQ(cas.outcome, Outcome::kUnknown);
  EXPECT_EQ(h.ops[2].outcome, Outcome::kFailed);
}

TEST(EdnHistory, ListOfMapsAndJepsenOneMapPerLine) {
  const char* list =
      "({:process 0 :type :invoke :f :write :value 1}\n"
      " {:process 0 :type :ok :f :write :value 1})";
  EXPECT_EQ(read_ok(HistoryFormat::kEdn, list).ops.size(), 1u);
  const char* lines =
      "{:index 0 :process 0 :type :invoke :f :write :value 1}\n"
      "{:index 1 :process 0 :type :ok :f :write :value 1}\n";
  EXPECT_EQ(read_ok(HistoryFormat::kEdn, lines).ops.size(), 1u);
  EXPECT_EQ(read_ok(HistoryFormat::kEdn, "[]").ops.size(), 0u);
  EXPECT_EQ(read_ok(HistoryFormat::kEdn, "").ops.size(), 0u);
}

TEST(EdnHistory, InvocationNeverCompleted_IsUnknown) {
  const History h = read_ok(HistoryFormat::kEdn, "[{:process 4 :type :invoke :f :write :value 1}]");
  ASSERT_EQ(h.ops.size(), 1u);
  EXPECT_EQ(h.ops[0].outcome, Outcome::kUnknown);
  EXPECT_EQ(h.ops[0].ret, kNeverReturned);
}

TEST(EdnHistory, Errors) {
  EXPECT_EQ(read_error(HistoryFormat::kEdn, "[{:process 0 :type :invoke :f :read}\n 42]"),
            "line 2: expected an operation map, got 42");
  EXPECT_EQ(read_error(HistoryFormat::kEdn, "[{:process 0 :type :begin :f :read}]"),
            "line 1: :type must be :invoke, :ok, :fail or :info");
  EXPECT_EQ(read_error(HistoryFormat::kEdn, "[{:type :invoke :f :read}]"),
            "line 1: operation without :process");
  EXPECT_EQ(read_error(HistoryFormat::kEdn, "[{:process 0 :type :invoke :f :read :value 1.5}]"),
            "line 1: unsupported value: a float");
  EXPECT_EQ(read_error(HistoryFormat::kEdn, "[{:process 0 :type :invoke :f :read\n"),
            "line 2: missing '}' for the one on line 1");
}

TEST(PorcupineKv, OneMapPerLine) {
  const History h = read_ok(HistoryFormat::kPorcupineKv,
                            "{:process 0, :type :invoke, :f :get, :key \"3\", :value nil}\n"
                            "{:process 0, :type :ok, :f :get, :key \"3\", :value \"x 0 0 y\"}\n");
  ASSERT_EQ(h.ops.size(), 1u);
  EXPECT_EQ(h.ops[0].key, "3");
  EXPECT_EQ(h.ops[0].output, Value::string("x 0 0 y"));
}

// ---- Porcupine etcd logs -------------------------------------------------------------------

TEST(PorcupineEtcd, TabsOrSpaces_AndTheCorpusSemantics) {
  const History h = read_ok(HistoryFormat::kPorcupineEtcd,
                            "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
                            "INFO  jepsen.util - 1   :invoke :cas    [1 2]\n"
                            "INFO  jepsen.util - 2   :invoke :write  3\n"
                            "INFO  jepsen.util - :nemesis :info :start nil\n"
                            "\n"
                            "INFO  jepsen.util - 0\t:fail\t:read\t:timed-out\n"
                            "INFO  jepsen.util - 1   :fail   :cas    [1 2]\n"
                            "INFO  jepsen.util - 2   :info   :write  :timed-out\n");
  ASSERT_EQ(h.ops.size(), 3u);
  EXPECT_EQ(h.ops[0].outcome, Outcome::kUnknown);  // a read that timed out
  EXPECT_EQ(h.ops[1].outcome, Outcome::kOk);       // the cas ran and compared unequal
  EXPECT_EQ(h.ops[1].output, Value::boolean(false));
  EXPECT_EQ(h.ops[1].input, Value::list({Value::integer(1), Value::integer(2)}));
  EXPECT_EQ(h.ops[2].outcome, Outcome::kUnknown);
  EXPECT_EQ(h.ops[2].input, Value::integer(3));
  EXPECT_EQ(h.ops[2].ret_line, 8u);
}

TEST(PorcupineEtcd, Errors) {
  EXPECT_EQ(read_error(HistoryFormat::kPorcupineEtcd, "\nINFO jepsen.core - starting\n"),
            "line 2: not an `INFO jepsen.util - <process> <type> <f> <value>` line");
  EXPECT_EQ(read_error(HistoryFormat::kPorcupineEtcd, "INFO jepsen.util - 0 :invoke :cas [1 2\n"),
            "line 1: bad value: line 1: missing ']' for the one on line 1");
  EXPECT_EQ(read_error(HistoryFormat::kPorcupineEtcd, "INFO jepsen.util - x :invoke :read nil\n"),
            "line 1: bad process x");
}

// ---- jsonl ---------------------------------------------------------------------------------

TEST(Jsonl, Fields) {
  const History h =
      read_ok(HistoryFormat::kJsonl,
              R"({"process": 0, "type": "invoke", "f": "write", "value": 3, "time": 12}
{"process": "nemesis", "type": "info", "f": "start"}

{"process": 1, "type": "invoke", "f": "cas", "key": 7, "value": [3, 4]}
{"process": 0, "type": "ok", "f": "write", "value": 3}
{"process": 1, "type": "info", "f": "cas", "key": 7, "value": [3, 4]}
{"process": 2, "type": "invoke", "f": "get", "key": "k", "value": null}
{"process": 2, "type": "ok", "f": "get", "key": "k", "value": "ab"}
)");
  ASSERT_EQ(h.ops.size(), 3u);
  EXPECT_EQ(h.ops[0].input, Value::integer(3));
  EXPECT_EQ(h.ops[0].outcome, Outcome::kOk);
  EXPECT_EQ(h.ops[1].key, "7");
  EXPECT_EQ(h.ops[1].outcome, Outcome::kUnknown);
  EXPECT_EQ(h.ops[1].call_line, 4u);
  EXPECT_EQ(h.ops[2].output, Value::string("ab"));
}

TEST(Jsonl, Errors) {
  EXPECT_EQ(
      read_error(HistoryFormat::kJsonl, "{\"process\": 0, \"type\": \"invoke\"\n").substr(0, 16),
      "line 1: not JSON");
  EXPECT_EQ(read_error(HistoryFormat::kJsonl, "\n[1, 2]\n"), "line 2: not a JSON object");
  EXPECT_EQ(read_error(HistoryFormat::kJsonl,
                       "{\"process\": 0, \"type\": \"invoke\", \"f\": \"write\", \"value\": 1.5}"),
            "line 1: unsupported value 1.5E0");
  EXPECT_EQ(read_error(HistoryFormat::kJsonl, "{\"process\": 0, \"type\": \"done\", \"f\": \"x\"}"),
            "line 1: \"type\" must be invoke, ok, fail or info");
  EXPECT_EQ(read_error(HistoryFormat::kJsonl, "{\"process\": 0, \"type\": \"ok\"}"),
            "line 1: \"f\" must be a non-empty string");
}

// ---- Pairing events into operations --------------------------------------------------------

TEST(HistoryEvents, PairingErrors) {
  EXPECT_EQ(
      read_error(HistoryFormat::kEdn,
                 "[{:process 0 :type :invoke :f :read}\n{:process 0 :type :invoke :f :read}]"),
      "line 2: process 0 invokes :read while its :read from line 1 is still open");
  EXPECT_EQ(read_error(HistoryFormat::kEdn, "[{:process 3 :type :ok :f :read :value 1}]"),
            "line 1: process 3 completes :read (:ok) but has no open invocation");
  EXPECT_EQ(read_error(HistoryFormat::kEdn,
                       "[{:process 0 :type :invoke :f :read}\n{:process 0 :type :ok :f :write}]"),
            "line 2: process 0 completes :write but invoked :read at line 1");
}

TEST(HistoryEvents, AProcessMayGoOnAfterACompletion) {
  const History h = read_ok(HistoryFormat::kEdn,
                            "[{:process 0 :type :invoke :f :write :value 1}"
                            " {:process 0 :type :fail :f :write :value 1}"
                            " {:process 0 :type :invoke :f :write :value 2}]");
  ASSERT_EQ(h.ops.size(), 2u);
  EXPECT_EQ(h.ops[0].outcome, Outcome::kFailed);
  EXPECT_EQ(h.ops[1].outcome, Outcome::kUnknown);
}

TEST(HistoryEvents, Prefix_OpensWhatCompletesLater) {
  const History h = read_ok(HistoryFormat::kEdn,
                            "[{:process 0 :type :invoke :f :write :value 1}"  // 0
                            " {:process 1 :type :invoke :f :read}"            // 1
                            " {:process 1 :type :ok :f :read :value 0}"       // 2
                            " {:process 0 :type :ok :f :write :value 1}"      // 3
                            " {:process 2 :type :invoke :f :read}]");         // 4
  const History p = history_prefix(h, 3);
  ASSERT_EQ(p.ops.size(), 2u);
  EXPECT_EQ(p.events, 3u);
  EXPECT_EQ(p.ops[0].outcome, Outcome::kUnknown);  // its completion is at 3
  EXPECT_EQ(p.ops[0].ret, kNeverReturned);
  EXPECT_EQ(p.ops[1].outcome, Outcome::kOk);
}

TEST(HistoryEvents, Describe) {
  const History h = read_ok(HistoryFormat::kEdn,
                            "[{:process 1 :type :invoke :f :cas :key \"k\" :value [1 2]}\n"
                            " {:process 1 :type :info :f :cas :key \"k\" :value [1 2]}]");
  EXPECT_EQ(describe(h.ops[0]), "process 1: cas \"k\" [1 2] -> unknown (:info)  (line 1-2)");
}

TEST(HistoryFormats, Names) {
  for (const char* name : {"porcupine-etcd", "porcupine-kv", "edn", "jsonl"}) {
    ASSERT_TRUE(format_from_name(name).has_value()) << name;
    EXPECT_STREQ(format_name(*format_from_name(name)), name);
  }
  EXPECT_FALSE(format_from_name("csv").has_value());
}

}  // namespace
}  // namespace rq::sim
