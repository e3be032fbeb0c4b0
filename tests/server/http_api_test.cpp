#include "server/http_api.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace rq::sql {

// Readable failures for the parsed statements.
void PrintTo(const Value& v, std::ostream* os) {
  switch (v.kind) {
    case Value::Kind::kNull:
      *os << "NULL";
      return;
    case Value::Kind::kInteger:
      *os << "INTEGER(" << v.integer << ")";
      return;
    case Value::Kind::kReal:
      *os << "REAL(" << v.real << ")";
      return;
    case Value::Kind::kText:
      *os << "TEXT(" << v.bytes << ")";
      return;
    case Value::Kind::kBlob:
      *os << "BLOB(" << v.bytes.size() << " bytes)";
      return;
  }
}

void PrintTo(const Statement& s, std::ostream* os) {
  *os << "{sql: \"" << s.sql << "\"";
  for (const Param& p : s.params) {
    *os << ", " << (p.name.empty() ? "?" : p.name) << "=";
    PrintTo(p.value, os);
  }
  *os << "}";
}

}  // namespace rq::sql

namespace rq::server {
namespace {

using sql::CommandResult;
using sql::Param;
using sql::Statement;
using sql::StatementResult;
using sql::Value;

// ---------------------------------------------------------------------------------------------
// Helpers.

QueryParams parsed(std::string_view raw) {
  auto r = parse_query(raw);
  if (!r.ok()) {
    ADD_FAILURE() << "parse_query(\"" << raw << "\") failed: " << r.error().message;
    return QueryParams{};
  }
  return r.value();
}

// The 400 message, or "<ok>".
std::string query_error(std::string_view raw) {
  auto r = parse_query(raw);
  return r.ok() ? "<ok>" : r.error().message;
}

// The nanoseconds `timeout` parses to, or nothing if rqlite would answer 400.
std::optional<int64_t> timeout_ns(std::string_view encoded) {
  auto r = parse_query("timeout=" + std::string(encoded));
  if (!r.ok()) {
    EXPECT_EQ(r.error().message, "timeout is not a valid duration");
    return std::nullopt;
  }
  EXPECT_TRUE(r.value().timeout.has_value());
  return r.value().timeout->count();
}

std::vector<Statement> statements(std::string_view body, bool text_plain = false) {
  auto r = parse_statements(body, text_plain);
  if (!r.ok()) {
    ADD_FAILURE() << "parse_statements(" << body << ") failed: " << r.error().message;
    return {};
  }
  return r.value();
}

std::string body_error(std::string_view body) {
  auto r = parse_statements(body, false);
  return r.ok() ? "<ok>" : r.error().message;
}

Value I(int64_t v) {
  return Value::of_int(v);
}
Value R(double v) {
  return Value::of_real(v);
}
Value T(std::string v) {
  return Value::of_text(std::move(v));
}
Value B(std::string v) {
  return Value::of_blob(std::move(v));
}
Value N() {
  return Value::null();
}

Param P(Value v) {
  return Param{"", std::move(v)};
}
Param P(std::string name, Value v) {
  return Param{std::move(name), std::move(v)};
}

StatementResult write_result(int64_t last_insert_id, int64_t rows_affected, double time = 0) {
  StatementResult r;
  r.last_insert_id = last_insert_id;
  r.rows_affected = rows_affected;
  r.time = time;
  return r;
}

StatementResult rows_result(std::vector<std::string> columns, std::vector<std::string> types,
                            std::vector<std::vector<Value>> rows, double time = 0) {
  StatementResult r;
  r.is_query = true;
  r.columns = std::move(columns);
  r.types = std::move(types);
  r.rows = std::move(rows);
  r.time = time;
  return r;
}

StatementResult error_result(std::string error, double time = 0) {
  StatementResult r;
  r.error = std::move(error);
  r.time = time;
  return r;
}

CommandResult command(std::vector<StatementResult> results) {
  CommandResult c;
  c.results = std::move(results);
  return c;
}

std::string encode(const CommandResult& c, const EncodeOptions& o = {}) {
  auto r = encode_results(c, o);
  if (!r.ok()) {
    ADD_FAILURE() << "encode_results failed: " << r.error().message;
    return {};
  }
  return r.value();
}

// The 500 message, or "<ok>".
std::string encode_error(const CommandResult& c, const EncodeOptions& o = {}) {
  auto r = encode_results(c, o);
  return r.ok() ? "<ok>" : r.error().message;
}

const EncodeOptions kQuery{.endpoint = Endpoint::kQuery};

// One column `c` of declared type `type` holding `v`, through /db/query.
std::string cell(Value v, std::string type, bool blob_array = false) {
  EncodeOptions o = kQuery;
  o.blob_array = blob_array;
  return encode(command({rows_result({"c"}, {std::move(type)}, {{std::move(v)}})}), o);
}

// What `cell` gives for a value rendered as `json`.
std::string cell_json(std::string_view type, std::string_view json) {
  return std::string(R"({"results":[{"columns":["c"],"types":[")") + std::string(type) +
         R"("],"values":[[)" + std::string(json) + "]]}]}";
}

// ---------------------------------------------------------------------------------------------
// Query strings.

TEST(HttpApiQuery, Empty_EverythingOffAndLevelWeak) {
  const QueryParams qp = parsed("");
  EXPECT_FALSE(qp.pretty);
  EXPECT_FALSE(qp.timings);
  EXPECT_FALSE(qp.transaction);
  EXPECT_FALSE(qp.redirect);
  EXPECT_EQ(qp.level, svc::ReadLevel::kWeak);
  EXPECT_FALSE(qp.level_given);
  EXPECT_FALSE(qp.timeout.has_value());
  EXPECT_FALSE(qp.retries.has_value());
  EXPECT_FALSE(qp.q.has_value());
  EXPECT_EQ(qp.key, "");
}

TEST(HttpApiQuery, Flags_PresenceTurnsThemOnWhateverTheValue) {
  const QueryParams qp = parsed(
      "pretty=false&timings=0&transaction&associative=no&blob_array=&qualify_columns&raft_index"
      "&redirect&noleader&queue&wait&nonvoters&sync&compress&vacuum&freshness=1s"
      "&freshness_strict=false&norwrandom&norwtime&noparse&bypass");
  EXPECT_TRUE(qp.pretty);
  EXPECT_TRUE(qp.timings);
  EXPECT_TRUE(qp.transaction);
  EXPECT_TRUE(qp.associative);
  EXPECT_TRUE(qp.blob_array);
  EXPECT_TRUE(qp.qualify_columns);
  EXPECT_TRUE(qp.raft_index);
  EXPECT_TRUE(qp.redirect);
  EXPECT_TRUE(qp.noleader);
  EXPECT_TRUE(qp.queue);
  EXPECT_TRUE(qp.wait);
  EXPECT_TRUE(qp.nonvoters);
  EXPECT_TRUE(qp.sync);
  EXPECT_TRUE(qp.compress);
  EXPECT_TRUE(qp.vacuum);
  EXPECT_TRUE(qp.freshness_strict);
  EXPECT_TRUE(qp.norwrandom);
  EXPECT_TRUE(qp.norwtime);
  EXPECT_TRUE(qp.noparse);
  EXPECT_TRUE(qp.bypass);
}

TEST(HttpApiQuery, Flags_KeysAreCaseSensitiveAndExact) {
  const QueryParams qp = parsed("Pretty&timingsx&&transaction_=1");
  EXPECT_FALSE(qp.pretty);
  EXPECT_FALSE(qp.timings);
  EXPECT_FALSE(qp.transaction);
}

TEST(HttpApiQuery, RepeatedKey_FirstValueWins) {
  EXPECT_EQ(parsed("level=none&level=strong").level, svc::ReadLevel::kNone);
  EXPECT_EQ(parsed("q=first&q=second").q, "first");
  EXPECT_EQ(parsed("timeout=1s&timeout=2s").timeout, std::chrono::seconds(1));
  // Only the first value is validated, as rqlite keeps only v[0].
  EXPECT_EQ(query_error("timeout=1s&timeout=bogus"), "<ok>");
}

TEST(HttpApiQuery, PercentDecoding_PlusIsSpace) {
  EXPECT_EQ(parsed("q=SELECT+*+FROM+foo+WHERE+name%3D%27fiona%27").q,
            "SELECT * FROM foo WHERE name='fiona'");
  EXPECT_EQ(parsed("q=a%2Bb%20c").q, "a+b c");
  EXPECT_EQ(parsed("q=%C3%A9").q, "\xC3\xA9");
  EXPECT_TRUE(parsed("%70retty").pretty);   // keys are decoded too
  EXPECT_EQ(parsed("key=a=b").key, "a=b");  // the first '=' splits
}

TEST(HttpApiQuery, Level_CaseInsensitiveUnknownIsWeak) {
  EXPECT_EQ(parsed("level=none").level, svc::ReadLevel::kNone);
  EXPECT_EQ(parsed("level=STRONG").level, svc::ReadLevel::kStrong);
  EXPECT_EQ(parsed("level=Linearizable").level, svc::ReadLevel::kLinearizable);
  EXPECT_EQ(parsed("level=auto").level, svc::ReadLevel::kAuto);
  EXPECT_EQ(parsed("level=weak").level, svc::ReadLevel::kWeak);
  const QueryParams unknown = parsed("level=bogus");
  EXPECT_EQ(unknown.level, svc::ReadLevel::kWeak);
  EXPECT_TRUE(unknown.level_given);
  EXPECT_TRUE(parsed("level=").level_given);
}

TEST(HttpApiQuery, Durations_GoSyntax) {
  EXPECT_EQ(timeout_ns("300ms"), 300'000'000);
  EXPECT_EQ(timeout_ns("1.5h"), 5'400'000'000'000);
  EXPECT_EQ(timeout_ns("2h45m"), 9'900'000'000'000);
  EXPECT_EQ(timeout_ns("1m30s"), 90'000'000'000);
  EXPECT_EQ(timeout_ns("1us"), 1'000);
  EXPECT_EQ(timeout_ns("1%C2%B5s"), 1'000);  // U+00B5 micro sign
  EXPECT_EQ(timeout_ns("1%CE%BCs"), 1'000);  // U+03BC Greek mu
  EXPECT_EQ(timeout_ns("7ns"), 7);
  EXPECT_EQ(timeout_ns("0"), 0);
  EXPECT_EQ(timeout_ns("-0"), 0);
  EXPECT_EQ(timeout_ns("%2B0"), 0);
  EXPECT_EQ(timeout_ns("-1.5s"), -1'500'000'000);
  EXPECT_EQ(timeout_ns("%2B2s"), 2'000'000'000);
  EXPECT_EQ(timeout_ns(".5s"), 500'000'000);
  EXPECT_EQ(timeout_ns("5.s"), 5'000'000'000);
  EXPECT_EQ(timeout_ns("1h1m1s1ms1us1ns"), 3'661'001'001'001);
  EXPECT_EQ(timeout_ns("1.0000000001s"), 1'000'000'000);  // below a nanosecond is dropped
  EXPECT_EQ(timeout_ns("9223372036854775807ns"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(timeout_ns("-9223372036854775808ns"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(timeout_ns("2562047h"), int64_t{2562047} * 3600 * 1'000'000'000);
}

TEST(HttpApiQuery, Durations_InvalidOnesAre400) {
  for (const char* bad : {"", "5", "s", ".s", "-", "1.5.5s", "5x", "1S", "1h2", "1+s", "+5s",
                          "9223372036854775808ns", "2562048h", "1e3s", "abc"}) {
    EXPECT_EQ(timeout_ns(bad), std::nullopt) << bad;
  }
}

TEST(HttpApiQuery, Durations_EveryNameIsChecked) {
  EXPECT_EQ(query_error("timeout=5"), "timeout is not a valid duration");
  EXPECT_EQ(query_error("freshness=abc"), "freshness is not a valid duration");
  EXPECT_EQ(query_error("db_timeout="), "db_timeout is not a valid duration");
  EXPECT_EQ(query_error("linearizable_timeout=1x"), "linearizable_timeout is not a valid duration");
  const QueryParams qp = parsed("freshness=1s&db_timeout=2s&linearizable_timeout=500ms");
  EXPECT_EQ(qp.freshness, std::chrono::seconds(1));
  EXPECT_EQ(qp.db_timeout, std::chrono::seconds(2));
  EXPECT_EQ(qp.linearizable_timeout, std::chrono::milliseconds(500));
}

TEST(HttpApiQuery, Integers_GoAtoi) {
  EXPECT_EQ(parsed("retries=3").retries, 3);
  EXPECT_EQ(parsed("retries=%2B3").retries, 3);
  EXPECT_EQ(parsed("retries=-2").retries, -2);
  EXPECT_EQ(parsed("trailing_logs=007").trailing_logs, 7);
  EXPECT_EQ(parsed("trailing_logs=9223372036854775807").trailing_logs,
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(parsed("retries=-9223372036854775808").retries, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(query_error("retries=abc"), "retries is not a valid integer");
  EXPECT_EQ(query_error("retries="), "retries is not a valid integer");
  EXPECT_EQ(query_error("retries=%2B-1"), "retries is not a valid integer");
  EXPECT_EQ(query_error("retries=1+"), "retries is not a valid integer");  // "1 "
  EXPECT_EQ(query_error("trailing_logs=1.5"), "trailing_logs is not a valid integer");
  EXPECT_EQ(query_error("trailing_logs=9223372036854775808"),
            "trailing_logs is not a valid integer");
}

TEST(HttpApiQuery, FreshnessStrict_RequiresFreshness) {
  EXPECT_EQ(query_error("freshness_strict"), "freshness_strict requires freshness");
  EXPECT_EQ(query_error("freshness_strict&freshness=1s"), "<ok>");
  EXPECT_TRUE(parsed("freshness_strict&freshness=1s").freshness_strict);
}

TEST(HttpApiQuery, Validation_RqliteOrder) {
  // freshness_strict first, then durations (timeout, freshness, db_timeout, linearizable_timeout),
  // then integers, then q, whatever the order in the URL.
  EXPECT_EQ(query_error("timeout=x&freshness_strict"), "freshness_strict requires freshness");
  EXPECT_EQ(query_error("freshness=y&timeout=x"), "timeout is not a valid duration");
  EXPECT_EQ(query_error("linearizable_timeout=y&db_timeout=x"),
            "db_timeout is not a valid duration");
  EXPECT_EQ(query_error("retries=x&linearizable_timeout=y"),
            "linearizable_timeout is not a valid duration");
  EXPECT_EQ(query_error("trailing_logs=x&retries=y"), "retries is not a valid integer");
  EXPECT_EQ(query_error("q=&retries=y"), "retries is not a valid integer");
}

TEST(HttpApiQuery, Q_EmptyIs400AbsentIsNone) {
  EXPECT_EQ(query_error("q="), "query parameter not set");
  EXPECT_EQ(query_error("q"), "query parameter not set");
  EXPECT_FALSE(parsed("pretty").q.has_value());
  EXPECT_EQ(parsed("q=SELECT%201").q, "SELECT 1");
}

TEST(HttpApiQuery, BadEscapes_GoMessages) {
  EXPECT_EQ(query_error("q=%zz"), R"(invalid URL escape "%zz")");
  EXPECT_EQ(query_error("q=abc%"), R"(invalid URL escape "%")");
  EXPECT_EQ(query_error("q=%4"), R"(invalid URL escape "%4")");
  EXPECT_EQ(query_error("%g1=x"), R"(invalid URL escape "%g1")");
  EXPECT_EQ(query_error("q=%\"x"), R"(invalid URL escape "%\"x")");
  EXPECT_EQ(query_error("q=%\xff"), R"(invalid URL escape "%\xff")");
  // The first bad escape is reported.
  EXPECT_EQ(query_error("a=%zz&b=%yy"), R"(invalid URL escape "%zz")");
}

TEST(HttpApiQuery, Semicolon_IsNotASeparator) {
  EXPECT_EQ(query_error("pretty;timings"), "invalid semicolon separator in query");
  // It wins over an escape error found earlier, as in Go.
  EXPECT_EQ(query_error("a=%zz&b=1;2"), "invalid semicolon separator in query");
}

TEST(HttpApiQuery, PlainValues) {
  const QueryParams qp = parsed("key=store.raft&fmt=sql&tables=a,b&ver=2");
  EXPECT_EQ(qp.key, "store.raft");
  EXPECT_EQ(qp.fmt, "sql");
  EXPECT_EQ(qp.tables, "a,b");
  EXPECT_EQ(qp.ver, "2");
}

TEST(HttpApiQuery, SplitTables_TrimsAndDropsEmpty) {
  EXPECT_EQ(split_tables(" foo, bar ,,baz,  "), (std::vector<std::string>{"foo", "bar", "baz"}));
  EXPECT_TRUE(split_tables("").empty());
  EXPECT_EQ(split_tables("one"), (std::vector<std::string>{"one"}));
}

// ---------------------------------------------------------------------------------------------
// Request bodies.

TEST(HttpApiBody, SimpleStrings) {
  EXPECT_EQ(
      statements(R"~(["CREATE TABLE foo (id INTEGER)", "SELECT * FROM foo"])~"),
      (std::vector<Statement>{{"CREATE TABLE foo (id INTEGER)", {}}, {"SELECT * FROM foo", {}}}));
}

TEST(HttpApiBody, Positional) {
  EXPECT_EQ(statements(R"~([["INSERT INTO foo(name, age) VALUES(?, ?)", "fiona", 20]])~"),
            (std::vector<Statement>{
                {"INSERT INTO foo(name, age) VALUES(?, ?)", {P(T("fiona")), P(I(20))}}}));
}

TEST(HttpApiBody, Named_KeysPassedThroughWithoutPrefix) {
  EXPECT_EQ(
      statements(
          R"~([["INSERT INTO foo(name, age) VALUES(:name, :age)", {"name":"fiona","age":20}]])~"),
      (std::vector<Statement>{{"INSERT INTO foo(name, age) VALUES(:name, :age)",
                               {P("name", T("fiona")), P("age", I(20))}}}));
}

TEST(HttpApiBody, Named_DuplicateKeyKeepsLastValue) {
  EXPECT_EQ(statements(R"([["S", {"a":1,"b":2,"a":3}]])"),
            (std::vector<Statement>{{"S", {P("a", I(3)), P("b", I(2))}}}));
}

TEST(HttpApiBody, MixedPositionalNamedAndPlain) {
  EXPECT_EQ(statements(R"(["SELECT 1", ["S", 1, {"n":"x"}, 2], ["SELECT 2"]])"),
            (std::vector<Statement>{
                {"SELECT 1", {}}, {"S", {P(I(1)), P("n", T("x")), P(I(2))}}, {"SELECT 2", {}}}));
}

TEST(HttpApiBody, TypeTable) {
  const auto got = statements(
      R"([["S", 9223372036854775807, -9223372036854775808, 9223372036854775808,
               18446744073709551616, 1.0, 1e3, -0, 1.5, 2E-2, true, false, null, "plain",
               "x'0102ff'", " X'AbCd' ", "x''", "x'abc'", "x'zz'", "y'00'",
               [83,81,76], [], [0,255]]])");
  ASSERT_EQ(got.size(), 1u);
  const std::vector<Param> want = {
      P(I(std::numeric_limits<int64_t>::max())),
      P(I(std::numeric_limits<int64_t>::min())),
      P(R(9223372036854775808.0)),  // above int64: REAL
      P(R(18446744073709551616.0)),
      P(R(1.0)),  // any fraction or exponent: REAL
      P(R(1000.0)),
      P(I(0)),
      P(R(1.5)),
      P(R(0.02)),
      P(I(1)),  // booleans bind as 1/0
      P(I(0)),
      P(N()),
      P(T("plain")),
      P(B("\x01\x02\xff")),  // the x'..' quirk
      P(B("\xab\xcd")),
      P(B("")),
      P(T("x'abc'")),  // not hex: stays text
      P(T("x'zz'")),
      P(T("y'00'")),
      P(B("SQL")),  // arrays of bytes
      P(B("")),
      P(B(std::string("\x00\xff", 2))),
  };
  EXPECT_EQ(got[0].params, want);
  EXPECT_EQ(got[0].params[2].value.kind, Value::Kind::kReal);
  EXPECT_EQ(got[0].params[6].value.kind, Value::Kind::kInteger);
}

TEST(HttpApiBody, Numbers_UnderflowIsZeroOverflowIsInvalid) {
  const auto got = statements(R"([["S", 1e-400, -1e-400, 5e-324]])");
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].params.size(), 3u);
  EXPECT_EQ(got[0].params[0].value, R(0.0));
  EXPECT_TRUE(std::signbit(got[0].params[1].value.real));
  EXPECT_EQ(got[0].params[2].value, R(5e-324));
  EXPECT_EQ(body_error(R"([["S", 1e400]])"), "invalid number 1e400");
  EXPECT_EQ(body_error(R"([["S", {"a": -1E+400}]])"), "invalid number -1E+400");
}

TEST(HttpApiBody, UnsupportedTypes) {
  EXPECT_EQ(body_error(R"([["S", [1, 256]]])"), "unsupported type");
  EXPECT_EQ(body_error(R"([["S", [-1]]])"), "unsupported type");
  EXPECT_EQ(body_error(R"([["S", [1, "a"]]])"), "unsupported type");
  EXPECT_EQ(body_error(R"([["S", [1.5]]])"), "unsupported type");
  EXPECT_EQ(body_error(R"([["S", [[1]]]])"), "unsupported type");
  EXPECT_EQ(body_error(R"([["S", [null]]])"), "unsupported type");
  EXPECT_EQ(body_error(R"([["S", {"a": {"b": 1}}]])"), "unsupported type");
  EXPECT_EQ(statements(R"([["S", {"a": [1, 2]}]])"),
            (std::vector<Statement>{{"S", {P("a", B("\x01\x02"))}}}));
}

TEST(HttpApiBody, ParseErrors) {
  EXPECT_EQ(body_error(""), "invalid JSON body");
  EXPECT_EQ(body_error("   "), "invalid JSON body");
  EXPECT_EQ(body_error("not json"), "invalid JSON body");
  EXPECT_EQ(body_error(R"(["SELECT 1")"), "invalid JSON body");
  EXPECT_EQ(body_error(R"(["SELECT 1",])"), "invalid JSON body");
  EXPECT_EQ(body_error(R"(["a" "b"])"), "invalid JSON body");
  EXPECT_EQ(body_error(R"([["SELECT ?", 1])"), "invalid JSON body");
  EXPECT_EQ(body_error(R"([["SELECT ?", {"a": }]])"), "invalid JSON body");
  EXPECT_EQ(body_error(R"(["bad \q escape"])"), "invalid JSON body");

  EXPECT_EQ(body_error(R"({"a":1})"), "invalid request");
  EXPECT_EQ(body_error(R"("SELECT 1")"), "invalid request");
  EXPECT_EQ(body_error("42"), "invalid request");
  EXPECT_EQ(body_error("[1]"), "invalid request");
  EXPECT_EQ(body_error("[true]"), "invalid request");
  EXPECT_EQ(body_error("[null]"), "invalid request");
  EXPECT_EQ(body_error(R"([{"sql":"x"}])"), "invalid request");
  EXPECT_EQ(body_error("[[]]"), "invalid request");
  EXPECT_EQ(body_error("[[1]]"), "invalid request");
  EXPECT_EQ(body_error(R"([[1, "x", 2]])"), "invalid request");
  EXPECT_EQ(body_error(R"([["a"], 1])"), "invalid request");

  EXPECT_EQ(body_error("[]"), "no statements");
  EXPECT_EQ(body_error(" [ ] "), "no statements");
}

TEST(HttpApiBody, ParseErrors_FirstInTheTextWins) {
  // rqlite's streaming decoder judges each element as it reaches it and reads no further.
  EXPECT_EQ(body_error("[1, garbage"), "invalid request");
  EXPECT_EQ(body_error("[1x"), "invalid request");
  EXPECT_EQ(body_error("[garbage, 1"), "invalid JSON body");
  EXPECT_EQ(body_error(R"([["S", [999]], garbage)"), "unsupported type");
  EXPECT_EQ(body_error(R"([["S", [999], garbage]])"), "invalid JSON body");
  EXPECT_EQ(statements(R"(["SELECT 1"] trailing garbage)"),
            (std::vector<Statement>{{"SELECT 1", {}}}));
}

TEST(HttpApiBody, EmptySql_SkippedButNotNoStatements) {
  EXPECT_TRUE(statements(R"([""])").empty());
  EXPECT_EQ(statements(R"(["", ["", 1], "SELECT 1"])"), (std::vector<Statement>{{"SELECT 1", {}}}));
  EXPECT_EQ(statements(R"([" "])"), (std::vector<Statement>{{" ", {}}}));
}

TEST(HttpApiBody, RemoveBody_ExactlyOneIdOfStrings) {
  EXPECT_EQ(parse_remove_body(R"({"id": "node2"})"), "node2");
  EXPECT_EQ(parse_remove_body(R"({"id": null})"), "");
  EXPECT_EQ(parse_remove_body(R"({"id": "a", "id": "b"})"), "b");  // Go's map: the last one
  EXPECT_EQ(parse_remove_body(R"({"id": "a", "x": "b"})"), std::nullopt);
  EXPECT_EQ(parse_remove_body(R"({"id": 2})"), std::nullopt);
  EXPECT_EQ(parse_remove_body(R"({"ID": "a"})"), std::nullopt);
  EXPECT_EQ(parse_remove_body(R"(["id"])"), std::nullopt);
  EXPECT_EQ(parse_remove_body(""), std::nullopt);
}

TEST(HttpApiBody, StepdownBody_OptionalIdReadOnlyAsJson) {
  constexpr std::string_view kJson = "application/json; charset=utf-8";
  EXPECT_EQ(parse_stepdown_body("", kJson), "");
  EXPECT_EQ(parse_stepdown_body(R"({"id": "n3"})", "text/plain"), "");
  EXPECT_EQ(parse_stepdown_body(R"({"Id": "n3", "other": 1})", kJson), "n3");
  EXPECT_EQ(parse_stepdown_body(R"({"id": null})", kJson), "");
  EXPECT_EQ(parse_stepdown_body("null", kJson), "");
  EXPECT_EQ(parse_stepdown_body(R"({"id": 3})", kJson), std::nullopt);
  EXPECT_EQ(parse_stepdown_body("[]", kJson), std::nullopt);
  EXPECT_EQ(parse_stepdown_body("{", kJson), std::nullopt);
}

TEST(HttpApiBody, Strings_EscapesAndInvalidUtf8) {
  EXPECT_EQ(statements(R"(["\u00e9\n\"\\\/"])"), (std::vector<Statement>{{"\xC3\xA9\n\"\\/", {}}}));
  // Go's decoder turns each invalid byte into U+FFFD.
  EXPECT_EQ(statements("[\"a\xff"
                       "b\", [\"S\", \"\xc3\"]]"),
            (std::vector<Statement>{{"a\xEF\xBF\xBD"
                                     "b",
                                     {}},
                                    {"S", {P(T("\xEF\xBF\xBD"))}}}));
}

TEST(HttpApiBody, TextPlain_WholeBodyIsOneStatement) {
  EXPECT_EQ(statements("SELECT 1; SELECT 2", true),
            (std::vector<Statement>{{"SELECT 1; SELECT 2", {}}}));
  EXPECT_EQ(statements("[not json", true), (std::vector<Statement>{{"[not json", {}}}));
  EXPECT_TRUE(statements("", true).empty());
}

// ---------------------------------------------------------------------------------------------
// Result shapes (spec §1.3-1.5, §7).

TEST(HttpApiEncode, CreateTable_EmptyObject) {
  EXPECT_EQ(encode(command({write_result(0, 0)})), R"({"results":[{}]})");
}

TEST(HttpApiEncode, Insert_Counters) {
  EXPECT_EQ(encode(command({write_result(1, 1)})),
            R"({"results":[{"last_insert_id":1,"rows_affected":1}]})");
  EXPECT_EQ(encode(command({write_result(5, 0)})), R"({"results":[{"last_insert_id":5}]})");
  EXPECT_EQ(encode(command({write_result(-1, 2)})),
            R"({"results":[{"last_insert_id":-1,"rows_affected":2}]})");
}

TEST(HttpApiEncode, StatementError_OnEveryEndpoint) {
  const CommandResult c = command({error_result("no such table: bar", 0.25)});
  const std::string want = R"({"results":[{"error":"no such table: bar"}]})";
  for (Endpoint e : {Endpoint::kExecute, Endpoint::kQuery, Endpoint::kRequest}) {
    EXPECT_EQ(encode(c, {.endpoint = e}), want);
    // A failed statement never carries `time`, even with timings.
    EXPECT_EQ(encode(c, {.endpoint = e, .timings = true}), want);
  }
  EXPECT_EQ(encode(command({error_result("near \"blah\": syntax error")})),
            R"({"results":[{"error":"near \"blah\": syntax error"}]})");
}

TEST(HttpApiEncode, StatementError_Associative) {
  const CommandResult c = command({error_result("no such table: bar")});
  EXPECT_EQ(encode(c, {.endpoint = Endpoint::kQuery, .associative = true}),
            R"({"results":[{"rows":[],"error":"no such table: bar"}]})");
  EXPECT_EQ(encode(c, {.endpoint = Endpoint::kRequest, .associative = true}),
            R"({"results":[{"error":"no such table: bar"}]})");
  EXPECT_EQ(encode(c, {.endpoint = Endpoint::kExecute, .associative = true}),
            R"({"results":[{"error":"no such table: bar"}]})");
}

TEST(HttpApiEncode, ExecuteWithTimings_SpecExample) {
  const CommandResult c = command({write_result(0, 0, 0.000277), write_result(1, 1, 0.00008),
                                   error_result("near \"nonsense\": syntax error", 0.00001)});
  EXPECT_EQ(
      encode(c, {.endpoint = Endpoint::kExecute, .timings = true, .total_time = 0.0112}),
      R"({"results":[{"time":0.000277},{"last_insert_id":1,"rows_affected":1,"time":0.00008},)"
      R"({"error":"near \"nonsense\": syntax error"}],"time":0.0112})");
}

TEST(HttpApiEncode, Timings_OnlyWhenAsked) {
  const CommandResult c = command({write_result(1, 1, 0.5)});
  EXPECT_EQ(encode(c, {.total_time = 0.75}),
            R"({"results":[{"last_insert_id":1,"rows_affected":1}]})");
  EXPECT_EQ(encode(c, {.timings = true, .total_time = 0.75}),
            R"({"results":[{"last_insert_id":1,"rows_affected":1,"time":0.5}],"time":0.75})");
  // Zero is omitted (omitempty).
  EXPECT_EQ(encode(command({write_result(1, 1, 0)}), {.timings = true}),
            R"({"results":[{"last_insert_id":1,"rows_affected":1}]})");
}

TEST(HttpApiEncode, Query_DefaultForm) {
  const CommandResult c =
      command({rows_result({"id", "name", "age"}, {"integer", "text", "integer"},
                           {{I(1), T("fiona"), I(20)}}, 0.00015)});
  EXPECT_EQ(encode(c, {.endpoint = Endpoint::kQuery, .timings = true, .total_time = 0.00022}),
            R"({"results":[{"columns":["id","name","age"],"types":["integer","text","integer"],)"
            R"("values":[[1,"fiona",20]],"time":0.00015}],"time":0.00022})");
}

TEST(HttpApiEncode, Query_EmptyResultHasNoValues) {
  const CommandResult c = command({rows_result({"id", "name"}, {"integer", "text"}, {})});
  EXPECT_EQ(encode(c, kQuery),
            R"({"results":[{"columns":["id","name"],"types":["integer","text"]}]})");
}

TEST(HttpApiEncode, Query_CountStar) {
  const CommandResult c = command({rows_result({"COUNT(*)"}, {"integer"}, {{I(3)}})});
  EXPECT_EQ(encode(c, kQuery),
            R"~({"results":[{"columns":["COUNT(*)"],"types":["integer"],"values":[[3]]}]})~");
}

TEST(HttpApiEncode, Query_UntypedExpressionKeepsEmptyType) {
  const CommandResult c = command({rows_result({"x"}, {""}, {{N()}, {I(2)}})});
  EXPECT_EQ(encode(c, kQuery),
            R"({"results":[{"columns":["x"],"types":[""],"values":[[null],[2]]}]})");
}

TEST(HttpApiEncode, Associative_SpecExample) {
  const CommandResult c = command({rows_result(
      {"id", "name", "age"}, {"integer", "text", "integer"}, {{I(1), T("fiona"), I(20)}})});
  EXPECT_EQ(encode(c, {.endpoint = Endpoint::kQuery, .associative = true}),
            R"({"results":[{"types":{"age":"integer","id":"integer","name":"text"},)"
            R"("rows":[{"age":20,"id":1,"name":"fiona"}]}]})");
}

TEST(HttpApiEncode, Associative_EmptyRowsAlwaysPresent) {
  const CommandResult c = command({rows_result({"id"}, {"integer"}, {})});
  EXPECT_EQ(encode(c, {.endpoint = Endpoint::kQuery, .associative = true}),
            R"({"results":[{"types":{"id":"integer"},"rows":[]}]})");
}

TEST(HttpApiEncode, Associative_DuplicateColumnsCollapseToTheLast) {
  const CommandResult c = command(
      {rows_result({"a", "b", "a"}, {"integer", "text", "real"}, {{I(1), T("x"), R(2.5)}})});
  EXPECT_EQ(encode(c, {.endpoint = Endpoint::kQuery, .associative = true}),
            R"({"results":[{"types":{"a":"real","b":"text"},"rows":[{"a":2.5,"b":"x"}]}]})");
}

TEST(HttpApiEncode, Associative_KeysSortedBytewise) {
  const CommandResult c = command({rows_result(
      {"b", "B", "_", "\xC3\xA9", "a"}, {"", "", "", "", ""}, {{I(1), I(2), I(3), I(4), I(5)}})});
  EXPECT_EQ(
      encode(c, {.endpoint = Endpoint::kQuery, .associative = true}),
      "{\"results\":[{\"types\":{\"B\":\"\",\"_\":\"\",\"a\":\"\",\"b\":\"\",\"\xC3\xA9\":\"\"},"
      "\"rows\":[{\"B\":2,\"_\":3,\"a\":5,\"b\":1,\"\xC3\xA9\":4}]}]}");
}

TEST(HttpApiEncode, Request_AssociativeSpecExample) {
  const CommandResult c = command(
      {write_result(1, 1), rows_result({"id", "name"}, {"integer", "text"}, {{I(1), T("fiona")}}),
       error_result("no such table: bar")});
  EXPECT_EQ(encode(c, {.endpoint = Endpoint::kRequest, .associative = true}),
            R"({"results":[{"last_insert_id":1,"rows_affected":1,"rows":null},)"
            R"({"types":{"id":"integer","name":"text"},"rows":[{"id":1,"name":"fiona"}]},)"
            R"({"error":"no such table: bar"}]})");
  EXPECT_EQ(encode(c, {.endpoint = Endpoint::kRequest}),
            R"({"results":[{"last_insert_id":1,"rows_affected":1},)"
            R"({"columns":["id","name"],"types":["integer","text"],"values":[[1,"fiona"]]},)"
            R"({"error":"no such table: bar"}]})");
}

TEST(HttpApiEncode, Returning_OnExecute) {
  const CommandResult c =
      command({rows_result({"id", "name"}, {"integer", "text"}, {{I(2), T("declan")}})});
  EXPECT_EQ(
      encode(c, {.endpoint = Endpoint::kExecute}),
      R"({"results":[{"columns":["id","name"],"types":["integer","text"],"values":[[2,"declan"]]}]})");
  EXPECT_EQ(
      encode(c, {.endpoint = Endpoint::kExecute, .associative = true}),
      R"({"results":[{"types":{"id":"integer","name":"text"},"rows":[{"id":2,"name":"declan"}]}]})");
  EXPECT_EQ(
      encode(command({write_result(99, 1)}), {.endpoint = Endpoint::kExecute, .associative = true}),
      R"({"results":[{"last_insert_id":99,"rows_affected":1,"rows":null}]})");
  EXPECT_EQ(encode(command({write_result(0, 0, 0.5)}),
                   {.endpoint = Endpoint::kExecute, .associative = true, .timings = true}),
            R"({"results":[{"time":0.5,"rows":null}]})");
}

TEST(HttpApiEncode, TopLevelError_ResultsEmpty) {
  CommandResult c = command({write_result(1, 1)});
  c.error = "stale read";
  EXPECT_EQ(encode(c), R"({"results":[],"error":"stale read"})");
  CommandResult pragma;
  pragma.error = "disallowed pragma";
  for (Endpoint e : {Endpoint::kExecute, Endpoint::kQuery, Endpoint::kRequest}) {
    EXPECT_EQ(encode(pragma, {.endpoint = e}), R"({"results":[],"error":"disallowed pragma"})");
  }
  EXPECT_EQ(encode(pragma, {.timings = true, .total_time = 0.5}),
            R"({"results":[],"error":"disallowed pragma","time":0.5})");
}

TEST(HttpApiEncode, NoStatements_EmptyResults) {
  EXPECT_EQ(encode(CommandResult{}), R"({"results":[]})");
  EXPECT_EQ(encode(CommandResult{}, kQuery), R"({"results":[]})");
}

TEST(HttpApiEncode, Queued_SequenceNumber) {
  EXPECT_EQ(encode(CommandResult{}, {.sequence_number = 1653314298877648934}),
            R"({"results":[],"sequence_number":1653314298877648934})");
  EXPECT_EQ(encode(CommandResult{}, {.sequence_number = 0}), R"({"results":[]})");
}

TEST(HttpApiEncode, RaftIndex_TopLevelAfterErrorAndTime) {
  EXPECT_EQ(encode(command({write_result(1, 1)}), {.raft_index = 42}),
            R"({"results":[{"last_insert_id":1,"rows_affected":1}],"raft_index":42})");
  EXPECT_EQ(encode(command({write_result(1, 1)}), {.raft_index = 0}),
            R"({"results":[{"last_insert_id":1,"rows_affected":1}]})");
  CommandResult c;
  c.error = "x";
  EXPECT_EQ(encode(c, {.timings = true, .total_time = 0.25, .raft_index = 7, .sequence_number = 3}),
            R"({"results":[],"error":"x","time":0.25,"sequence_number":3,"raft_index":7})");
  EXPECT_EQ(
      encode(command({write_result(1, 1)}), {.raft_index = 18446744073709551615u}),
      R"({"results":[{"last_insert_id":1,"rows_affected":1}],"raft_index":18446744073709551615})");
}

// ---------------------------------------------------------------------------------------------
// Values.

TEST(HttpApiValues, Blob_Base64VersusBlobArray) {
  const CommandResult c =
      command({rows_result({"data"}, {"blob"}, {{T("fiona")}, {B("\xde\xad\xbe\xef")}})});
  EXPECT_EQ(
      encode(c, kQuery),
      R"({"results":[{"columns":["data"],"types":["blob"],"values":[["fiona"],["3q2+7w=="]]}]})");
  EXPECT_EQ(
      encode(c, {.endpoint = Endpoint::kQuery, .blob_array = true}),
      R"({"results":[{"columns":["data"],"types":["blob"],"values":[["fiona"],[[222,173,190,239]]]}]})");
  EXPECT_EQ(
      encode(c, {.endpoint = Endpoint::kQuery, .associative = true, .blob_array = true}),
      R"({"results":[{"types":{"data":"blob"},"rows":[{"data":"fiona"},{"data":[222,173,190,239]}]}]})");
  EXPECT_EQ(cell(B(""), "blob"), cell_json("blob", R"("")"));
  EXPECT_EQ(cell(B(""), "blob", true), cell_json("blob", "[]"));
}

TEST(HttpApiValues, Base64_Rfc4648Vectors) {
  const CommandResult c = command({rows_result(
      {"a", "b", "c", "d", "e", "f", "g"}, {"blob", "blob", "blob", "blob", "blob", "blob", "blob"},
      {{B(""), B("f"), B("fo"), B("foo"), B("foob"), B("fooba"), B("foobar")}})});
  EXPECT_EQ(encode(c, kQuery),
            R"({"results":[{"columns":["a","b","c","d","e","f","g"],)"
            R"("types":["blob","blob","blob","blob","blob","blob","blob"],)"
            R"("values":[["","Zg==","Zm8=","Zm9v","Zm9vYg==","Zm9vYmE=","Zm9vYmFy"]]}]})");
  EXPECT_EQ(cell(B(std::string("\x00\x01\x02\x03\x04\xfb\xff", 7)), "blob"),
            cell_json("blob", R"("AAECAwT7/w==")"));
}

TEST(HttpApiValues, Blob_InTextishColumnIsAString) {
  // rqlite's isTextType: a BLOB read from such a column comes back as a string.
  for (const char* type : {"text", "", "json", "varchar(255)", "nvarchar", "clob", "nchar(3)"}) {
    EXPECT_EQ(cell(B("abc"), type), cell_json(type, R"("abc")")) << type;
  }
  EXPECT_EQ(cell(B("a\xff"), "text"), cell_json("text", R"("a\ufffd")"));
  EXPECT_EQ(cell(B("abc"), "integer"), cell_json("integer", R"("YWJj")"));
  EXPECT_EQ(cell(B("abc"), "blob", true), cell_json("blob", "[97,98,99]"));
}

TEST(HttpApiValues, Integers_AndNull) {
  EXPECT_EQ(cell(I(std::numeric_limits<int64_t>::min()), "integer"),
            cell_json("integer", "-9223372036854775808"));
  EXPECT_EQ(cell(I(0), "integer"), cell_json("integer", "0"));
  EXPECT_EQ(cell(N(), "integer"), cell_json("integer", "null"));
  EXPECT_EQ(cell(T("12"), "integer"), cell_json("integer", R"("12")"));
}

TEST(HttpApiValues, Floats_GoFormatting) {
  const std::pair<double, const char*> cases[] = {
      {2.0, "2"},
      {100.0, "100"},
      {1e21, "1e+21"},
      {-1e21, "-1e+21"},
      {1e-7, "1e-7"},
      {1.5e-10, "1.5e-10"},
      {1e-100, "1e-100"},
      {1e100, "1e+100"},
      {1e20, "100000000000000000000"},
      {9.999999999999999e20, "999999999999999900000"},
      {12345678901234567890.0, "12345678901234567000"},  // shortest digits, not the exact value
      {0.000001, "0.000001"},
      {9.99e-7, "9.99e-7"},
      {0.1, "0.1"},
      {-0.0, "-0"},
      {0.0, "0"},
      {1.5, "1.5"},
      {-2.25, "-2.25"},
      {123456789.125, "123456789.125"},
      {1.0 / 3, "0.3333333333333333"},
      {0.00008, "0.00008"},
      {1.2345678901234566e-7, "1.2345678901234566e-7"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {5e-324, "5e-324"},
  };
  for (const auto& [v, want] : cases) {
    EXPECT_EQ(cell(R(v), "real"), cell_json("real", want)) << want;
  }
}

TEST(HttpApiValues, Floats_NonFiniteFailTheResponse) {
  const std::string prefix = "json: error calling MarshalJSON for type *http.DBResults: ";
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(encode_error(command({rows_result({"c"}, {"real"}, {{R(inf)}})}), kQuery),
            prefix + "json: unsupported value: +Inf");
  EXPECT_EQ(encode_error(command({rows_result({"c"}, {"real"}, {{R(-inf)}})}),
                         {.endpoint = Endpoint::kQuery, .associative = true}),
            prefix + "json: unsupported value: -Inf");
  EXPECT_EQ(encode_error(command({rows_result({"c"}, {""}, {{R(std::nan(""))}})}),
                         {.endpoint = Endpoint::kRequest}),
            prefix + "json: unsupported value: NaN");
  EXPECT_EQ(encode_error(command({write_result(1, 1)}), {.timings = true, .total_time = inf}),
            "json: unsupported value: +Inf");
}

TEST(HttpApiValues, Boolean_IntegerBecomesTrueFalse) {
  EXPECT_EQ(cell(I(1), "boolean"), cell_json("boolean", "true"));
  EXPECT_EQ(cell(I(5), "boolean"), cell_json("boolean", "true"));
  EXPECT_EQ(cell(I(0), "boolean"), cell_json("boolean", "false"));
  EXPECT_EQ(cell(I(-1), "boolean"), cell_json("boolean", "false"));
  EXPECT_EQ(cell(T("yes"), "boolean"), cell_json("boolean", R"("yes")"));
  EXPECT_EQ(cell(R(1.0), "boolean"), cell_json("boolean", "1"));
  EXPECT_EQ(cell(N(), "boolean"), cell_json("boolean", "null"));
  EXPECT_EQ(cell(I(1), "bool"), cell_json("bool", "1"));  // exactly "boolean"
}

TEST(HttpApiValues, Date_TextLayoutsReemittedAsRfc3339) {
  const std::pair<const char*, const char*> cases[] = {
      {"2024-01-31 05:00:00", "2024-01-31T05:00:00Z"},
      {"2024-01-31T05:00:00", "2024-01-31T05:00:00Z"},
      {"2024-01-31T05:00:00Z", "2024-01-31T05:00:00Z"},
      {"2024-01-31 05:00:00.123456789", "2024-01-31T05:00:00.123456789Z"},
      {"2024-01-31 05:00:00.120", "2024-01-31T05:00:00.12Z"},
      {"2024-01-31 05:00:00.000", "2024-01-31T05:00:00Z"},
      {"2024-01-31 05:00:00.1234567891", "2024-01-31T05:00:00.123456789Z"},
      {"2024-01-31 05:00:00,5", "2024-01-31T05:00:00.5Z"},
      {"2024-01-31 10:00:00+05:00", "2024-01-31T10:00:00+05:00"},
      {"2024-01-31T05:00:00.5-01:30", "2024-01-31T05:00:00.5-01:30"},
      {"2024-01-31 10:00:00+00:00", "2024-01-31T10:00:00Z"},
      {"2024-01-31 10:00:00-00:00", "2024-01-31T10:00:00Z"},
      {"2024-01-31 05:00", "2024-01-31T05:00:00Z"},
      {"2024-01-31T05:07", "2024-01-31T05:07:00Z"},
      {"2024-01-31", "2024-01-31T00:00:00Z"},
      {"2024-01-31 5:04:05", "2024-01-31T05:04:05Z"},     // Go's hour takes one digit too
      {"2024-01-31   05:04:05", "2024-01-31T05:04:05Z"},  // a layout space matches several
      {"2024-02-29", "2024-02-29T00:00:00Z"},
      {"0000-02-29", "0000-02-29T00:00:00Z"},
      {"9999-12-31 23:59:59", "9999-12-31T23:59:59Z"},
  };
  for (const auto& [text, want] : cases) {
    EXPECT_EQ(cell(T(text), "datetime"), cell_json("datetime", std::string("\"") + want + "\""))
        << text;
  }
  EXPECT_EQ(cell(T("2024-01-31"), "date"), cell_json("date", R"("2024-01-31T00:00:00Z")"));
  EXPECT_EQ(cell(T("2024-01-31 05:00:00"), "timestamp"),
            cell_json("timestamp", R"("2024-01-31T05:00:00Z")"));
}

TEST(HttpApiValues, Date_UnparseableTextIsTheZeroTime) {
  for (const char* text :
       {"not a date", "", "2024-02-30", "2023-02-29", "2024-13-01", "2024-1-31",
        "2024-01-31 24:00:00", "2024-01-31 05:60:00", "2024-01-31 05:00:60",
        "2024-01-31 05:00:00 extra", "2024-01-31 05:00:00ZZ", "24-01-31",
        "2024-01-31 05:00:00+5:00", "2024-01-31 05:00:00+05:61", " 2024-01-31"}) {
    EXPECT_EQ(cell(T(text), "datetime"), cell_json("datetime", R"("0001-01-01T00:00:00Z")"))
        << text;
  }
}

TEST(HttpApiValues, Date_IntegersAreUnixSecondsOrMilliseconds) {
  EXPECT_EQ(cell(I(1706677200), "datetime"), cell_json("datetime", R"("2024-01-31T05:00:00Z")"));
  EXPECT_EQ(cell(I(0), "date"), cell_json("date", R"("1970-01-01T00:00:00Z")"));
  EXPECT_EQ(cell(I(-1), "timestamp"), cell_json("timestamp", R"("1969-12-31T23:59:59Z")"));
  EXPECT_EQ(cell(I(1706677200123), "datetime"),
            cell_json("datetime", R"("2024-01-31T05:00:00.123Z")"));
  EXPECT_EQ(cell(I(1000000000001), "datetime"),
            cell_json("datetime", R"("2001-09-09T01:46:40.001Z")"));
  EXPECT_EQ(cell(I(-1706677200123), "datetime"),
            cell_json("datetime", R"("1915-12-02T18:59:59.877Z")"));
  // Other storage classes are not times.
  EXPECT_EQ(cell(R(1.5), "datetime"), cell_json("datetime", "1.5"));
  EXPECT_EQ(cell(N(), "datetime"), cell_json("datetime", "null"));
  EXPECT_EQ(cell(B("\x01"), "datetime"), cell_json("datetime", R"("AQ==")"));
  // Only these exact declared types.
  EXPECT_EQ(cell(T("2024-01-31"), "datetime2"), cell_json("datetime2", R"("2024-01-31")"));
  EXPECT_EQ(cell(I(5), "time"), cell_json("time", "5"));
}

TEST(HttpApiValues, Date_BeyondRfc3339FailsTheStatement) {
  // 1e12 is still seconds (year 33658): Go's MarshalText refuses, rqlite reports the statement.
  const CommandResult c = command({rows_result({"t"}, {"datetime"}, {{I(1'000'000'000'000)}})});
  EXPECT_EQ(encode(c, kQuery),
            R"({"results":[{"error":"Time.MarshalText: year outside of range [0,9999]"}]})");
  EXPECT_EQ(
      encode(c, {.endpoint = Endpoint::kQuery, .associative = true}),
      R"({"results":[{"rows":[],"error":"Time.MarshalText: year outside of range [0,9999]"}]})");
  EXPECT_EQ(encode(c, {.endpoint = Endpoint::kRequest, .associative = true}),
            R"({"results":[{"error":"Time.MarshalText: year outside of range [0,9999]"}]})");
  EXPECT_EQ(cell(I(253402300800), "datetime"),
            R"({"results":[{"error":"Time.MarshalText: year outside of range [0,9999]"}]})");
  EXPECT_EQ(cell(I(253402300799), "datetime"), cell_json("datetime", R"("9999-12-31T23:59:59Z")"));
  EXPECT_EQ(cell(T("2024-01-31 10:00:00+24:00"), "datetime"),
            R"({"results":[{"error":"Time.MarshalText: timezone hour outside of range [0,23]"}]})");
}

TEST(HttpApiValues, Strings_GoEscapingWithHtmlSafety) {
  EXPECT_EQ(cell(T("<b>&</b>"), "text"),
            cell_json("text", R"("\u003cb\u003e\u0026\u003c/b\u003e")"));
  EXPECT_EQ(cell(T("q\"b\\s/"), "text"), cell_json("text", R"("q\"b\\s/")"));
  EXPECT_EQ(cell(T("n\nr\rt\tb\bf\f"), "text"), cell_json("text", R"("n\nr\rt\tb\bf\f")"));
  EXPECT_EQ(cell(T(std::string("\x00\x01\x1f", 3)), "text"),
            cell_json("text", R"("\u0000\u0001\u001f")"));
  EXPECT_EQ(cell(T("del\x7f"), "text"), cell_json("text", "\"del\x7f\""));
  EXPECT_EQ(cell(T("\xC3\xA9\xF0\x9F\x98\x80"), "text"),
            cell_json("text", "\"\xC3\xA9\xF0\x9F\x98\x80\""));
  EXPECT_EQ(cell(T("a\xE2\x80\xA8"
                   "b\xE2\x80\xA9"),
                 "text"),
            cell_json("text", R"("a\u2028b\u2029")"));
  // Invalid UTF-8: one U+FFFD per bad byte.
  EXPECT_EQ(cell(T("\xff"), "text"), cell_json("text", R"("\ufffd")"));
  EXPECT_EQ(cell(T("a\xE2\x82"), "text"), cell_json("text", R"("a\ufffd\ufffd")"));
  EXPECT_EQ(cell(T("\xED\xA0\x80"), "text"), cell_json("text", R"("\ufffd\ufffd\ufffd")"));
  EXPECT_EQ(cell(T("\xC0\xAF"), "text"), cell_json("text", R"("\ufffd\ufffd")"));
  EXPECT_EQ(cell(T("\xF4\x90\x80\x80"), "text"),
            cell_json("text", R"("\ufffd\ufffd\ufffd\ufffd")"));
  EXPECT_EQ(cell(T("\xEF\xBF\xBD"), "text"), cell_json("text", "\"\xEF\xBF\xBD\""));
}

TEST(HttpApiValues, Strings_EscapedInNamesAndErrorsToo) {
  const CommandResult c = command({rows_result({"a<b"}, {"x&y"}, {{I(1)}})});
  EXPECT_EQ(encode(c, kQuery),
            R"({"results":[{"columns":["a\u003cb"],"types":["x\u0026y"],"values":[[1]]}]})");
  EXPECT_EQ(encode(c, {.endpoint = Endpoint::kQuery, .associative = true}),
            R"({"results":[{"types":{"a\u003cb":"x\u0026y"},"rows":[{"a\u003cb":1}]}]})");
  EXPECT_EQ(encode(command({error_result("near \"<\": syntax error")})),
            R"({"results":[{"error":"near \"\u003c\": syntax error"}]})");
  CommandResult top;
  top.error = "dial tcp 10.0.0.1:4002: i/o timeout & <more>";
  EXPECT_EQ(
      encode(top),
      R"({"results":[],"error":"dial tcp 10.0.0.1:4002: i/o timeout \u0026 \u003cmore\u003e"})");
}

// ---------------------------------------------------------------------------------------------
// Pretty printing (Go's MarshalIndent with four spaces).

TEST(HttpApiPretty, Insert) {
  EXPECT_EQ(encode(command({write_result(1, 1)}), {.pretty = true}),
            "{\n"
            "    \"results\": [\n"
            "        {\n"
            "            \"last_insert_id\": 1,\n"
            "            \"rows_affected\": 1\n"
            "        }\n"
            "    ]\n"
            "}");
}

TEST(HttpApiPretty, EmptyContainersStayCompact) {
  EXPECT_EQ(encode(CommandResult{}, {.pretty = true}), "{\n    \"results\": []\n}");
  EXPECT_EQ(encode(command({write_result(0, 0)}), {.pretty = true}),
            "{\n    \"results\": [\n        {}\n    ]\n}");
  EXPECT_EQ(encode(command({rows_result({"id"}, {"integer"}, {})}),
                   {.endpoint = Endpoint::kQuery, .pretty = true, .associative = true}),
            "{\n"
            "    \"results\": [\n"
            "        {\n"
            "            \"types\": {\n"
            "                \"id\": \"integer\"\n"
            "            },\n"
            "            \"rows\": []\n"
            "        }\n"
            "    ]\n"
            "}");
}

TEST(HttpApiPretty, QueryWithTimings) {
  const CommandResult c = command(
      {rows_result({"id", "name"}, {"integer", "text"}, {{I(1), T("a, b: {c} [d] \"e\"")}})});
  EXPECT_EQ(
      encode(c, {.endpoint = Endpoint::kQuery, .pretty = true, .timings = true, .total_time = 0.5}),
      "{\n"
      "    \"results\": [\n"
      "        {\n"
      "            \"columns\": [\n"
      "                \"id\",\n"
      "                \"name\"\n"
      "            ],\n"
      "            \"types\": [\n"
      "                \"integer\",\n"
      "                \"text\"\n"
      "            ],\n"
      "            \"values\": [\n"
      "                [\n"
      "                    1,\n"
      "                    \"a, b: {c} [d] \\\"e\\\"\"\n"
      "                ]\n"
      "            ]\n"
      "        }\n"
      "    ],\n"
      "    \"time\": 0.5\n"
      "}");
}

TEST(HttpApiPretty, TopLevelError) {
  CommandResult c;
  c.error = "stale read";
  EXPECT_EQ(encode(c, {.pretty = true}),
            "{\n    \"results\": [],\n    \"error\": \"stale read\"\n}");
}

// ---------------------------------------------------------------------------------------------
// The generic Go marshaller.

TEST(HttpApiGoJson, InsertionOrderAndSortKeys) {
  boost::json::value v = boost::json::parse(R"({"b":1,"a":{"z":[{"y":1,"x":2}],"c":null}})");
  auto compact = go_json(v, false);
  ASSERT_TRUE(compact.ok());
  EXPECT_EQ(compact.value(), R"({"b":1,"a":{"z":[{"y":1,"x":2}],"c":null}})");
  sort_keys(v);
  EXPECT_EQ(go_json(v, false).value(), R"({"a":{"c":null,"z":[{"x":2,"y":1}]},"b":1})");
}

TEST(HttpApiGoJson, ScalarsAndEscaping) {
  boost::json::object o;
  o["i"] = -5;
  o["u"] = std::numeric_limits<uint64_t>::max();
  o["d"] = 2.0;
  o["e"] = 1e21;
  o["t"] = true;
  o["s"] = "<a href='x'>&</a>";
  o["k<"] = "v";
  EXPECT_EQ(go_json(o, false).value(),
            R"({"i":-5,"u":18446744073709551615,"d":2,"e":1e+21,"t":true,)"
            R"("s":"\u003ca href='x'\u003e\u0026\u003c/a\u003e","k\u003c":"v"})");
}

TEST(HttpApiGoJson, Pretty) {
  const boost::json::value v = boost::json::parse(R"({"a":[],"b":{},"c":[1,{"d":"e"}]})");
  EXPECT_EQ(go_json(v, true).value(),
            "{\n"
            "    \"a\": [],\n"
            "    \"b\": {},\n"
            "    \"c\": [\n"
            "        1,\n"
            "        {\n"
            "            \"d\": \"e\"\n"
            "        }\n"
            "    ]\n"
            "}");
}

TEST(HttpApiGoJson, NonFiniteFails) {
  boost::json::array a;
  a.emplace_back(1);
  a.emplace_back(-std::numeric_limits<double>::infinity());
  auto r = go_json(a, false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "json: unsupported value: -Inf");
}

}  // namespace
}  // namespace rq::server
