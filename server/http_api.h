// rqlite's data API without the HTTP: the query string, the request bodies and the exact bytes of
// the JSON answers (spec rqlite-compat.md §1.1-1.6, §7, §10). Pure functions: no sockets, no
// clocks, no threads. The byte-level rules are Go's (net/url, encoding/json, time), because
// rqlite's clients compare bytes.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/fwd.hpp>

#include "core/result.h"
#include "core/service/read_level.h"
#include "core/sqlite/types.h"

namespace rq::server {

// ---------------------------------------------------------------------------------------------
// Query string (rqlite http/query_params.go).

struct QueryParams {
  // Flags: presence turns them on, whatever the value (`?pretty=false` is pretty).
  bool pretty = false;
  bool timings = false;
  bool transaction = false;
  bool associative = false;
  bool blob_array = false;
  bool qualify_columns = false;
  bool raft_index = false;
  bool redirect = false;
  bool noleader = false;
  bool queue = false;
  bool wait = false;
  bool nonvoters = false;
  bool sync = false;
  bool compress = false;
  bool vacuum = false;
  bool freshness_strict = false;
  bool norwrandom = false;
  bool norwtime = false;
  bool noparse = false;
  bool bypass = false;

  // `level`: case-insensitive; unknown or absent is weak. level_given says the key was present.
  svc::ReadLevel level = svc::ReadLevel::kWeak;
  bool level_given = false;

  // Go durations (validated); absent when the key is absent.
  std::optional<std::chrono::nanoseconds> freshness;
  std::optional<std::chrono::nanoseconds> timeout;
  std::optional<std::chrono::nanoseconds> db_timeout;
  std::optional<std::chrono::nanoseconds> linearizable_timeout;
  // Integers (validated like Go's strconv.Atoi).
  std::optional<int64_t> retries;
  std::optional<int64_t> trailing_logs;

  // GET /db/query and /db/sql: the statement. Invariant: never empty when present (an empty `q=` is
  // rejected by parse_query for every endpoint, as rqlite's NewQueryParams does).
  std::optional<std::string> q;
  // Plain values, "" when absent (rqlite reads them as qp["key"]).
  std::string key;
  std::string fmt;
  std::string tables;
  std::string ver;
};

// Parses the raw query string (the part after `?`, still percent-encoded) as Go's url.ParseQuery
// does (`&` separates, `+` is a space, the first value of a repeated key counts), then validates as
// rqlite does. The error's message is the 400 plain-text body without its trailing newline, e.g.
// "timeout is not a valid duration" or `invalid URL escape "%zz"`.
Result<QueryParams> parse_query(std::string_view raw_query);

// rqlite's QueryParams.Tables(): comma-separated, each name trimmed, empty names dropped.
std::vector<std::string> split_tables(std::string_view tables);

// ---------------------------------------------------------------------------------------------
// Request bodies (rqlite http/request_parser.go).

// A JSON body: an array whose elements are SQL strings or arrays [sql, params...]. Objects among
// the params are named parameters, their keys passed through as given (the state machine binds key
// `k` to `:k`, `@k` and `$k`). Statements with empty SQL are dropped (rqlite skips them), so `[""]`
// gives no statements and no error. With text_plain the whole body is one statement (none if the
// body is empty). The error's message is the 400 body: "invalid JSON body", "invalid request",
// "no statements", "unsupported type" or "invalid number <n>".
Result<std::vector<sql::Statement>> parse_statements(std::string_view body, bool text_plain);

// DELETE /remove's body: a JSON object of strings with exactly one key, "id" (Go's
// json.Unmarshal into map[string]string; a null value is ""). nullopt: rqlite's bare 400.
std::optional<std::string> parse_remove_body(std::string_view body);

// POST /leader's optional body {"id": "..."}, read only when the content type is JSON (Go decodes
// it into a struct: keys match case-insensitively, others are ignored, null is ""). "" when no
// node is named; nullopt: 400.
std::optional<std::string> parse_stepdown_body(std::string_view body,
                                               std::string_view content_type);

// ---------------------------------------------------------------------------------------------
// Responses.

// The endpoint decides the shape of a failed statement: /db/query reports it inside a rows object
// (`{"error":..}`, or `{"rows":[],"error":..}` when associative); /db/execute and /db/request
// report `{"error":..}` alone, never with `time` or `rows`.
enum class Endpoint : uint8_t { kExecute, kQuery, kRequest };

struct EncodeOptions {
  Endpoint endpoint = Endpoint::kRequest;
  bool pretty = false;       // Go's json.MarshalIndent with 4 spaces, no trailing newline
  bool associative = false;  // rows as objects keyed by column; writes gain "rows":null
  bool blob_array = false;   // BLOBs as arrays of byte values instead of base64
  bool timings = false;      // per-statement `time` (StatementResult::time) and the top-level one
  double total_time = 0;     // seconds; written only with timings
  std::optional<uint64_t> raft_index = {};      // `raft_index` (omitted when 0, as Go's omitempty)
  std::optional<int64_t> sequence_number = {};  // queued writes (omitted when 0)
};

// rqlite's response bytes for one command: `{"results":[...]}` plus `error`, `time`,
// `sequence_number` and `raft_index` when set. A request-level error (CommandResult::error) gives
// `"results":[]`. Fails only where Go's json.Marshal fails (a REAL that is +Inf, -Inf or NaN): the
// error's message is then the 500 body without its trailing newline.
Result<std::string> encode_results(const sql::CommandResult& result, const EncodeOptions& options);

// Go's json.Marshal (or MarshalIndent with 4 spaces) of any value, for the other endpoints: objects
// keep their insertion order (call sort_keys first for what Go holds in a map), strings are escaped
// as Go does (HTML-safe, U+2028/U+2029, invalid UTF-8 as U+FFFD), floats in Go's shortest form.
// Fails on non-finite numbers, with Go's "json: unsupported value: +Inf".
Result<std::string> go_json(const boost::json::value& value, bool pretty);

// Sorts every object's keys, recursively, bytewise (Go's order for map keys).
void sort_keys(boost::json::value& value);

}  // namespace rq::server
