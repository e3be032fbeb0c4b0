// Values, statements and results of the SQL state machine, independent of JSON and HTTP.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rq::sql {

struct Value {
  enum class Kind : uint8_t { kNull, kInteger, kReal, kText, kBlob };
  Kind kind = Kind::kNull;
  int64_t integer = 0;
  double real = 0;
  std::string bytes;  // text or blob

  static Value null() { return Value{}; }
  static Value of_int(int64_t v) { return Value{Kind::kInteger, v, 0, {}}; }
  static Value of_real(double v) { return Value{Kind::kReal, 0, v, {}}; }
  static Value of_text(std::string v) { return Value{Kind::kText, 0, 0, std::move(v)}; }
  static Value of_blob(std::string v) { return Value{Kind::kBlob, 0, 0, std::move(v)}; }
  friend bool operator==(const Value&, const Value&) = default;
};

struct Param {
  std::string name;  // empty: positional
  Value value;
  friend bool operator==(const Param&, const Param&) = default;
};

struct Statement {
  std::string sql;
  std::vector<Param> params;
  friend bool operator==(const Statement&, const Statement&) = default;
};

// kLoad: one piece of a database image (rqlite's LOAD, cut into pieces; see LoadChunk).
enum class CommandKind : uint8_t { kExecute = 0, kQuery = 1, kRequest = 2, kLoad = 3 };

// A piece of a database image (core/wire/command.capnp LoadChunk says how pieces make a load).
struct LoadChunk {
  uint64_t id = 0;
  uint64_t offset = 0;
  uint64_t total = 0;
  std::string data;
  friend bool operator==(const LoadChunk&, const LoadChunk&) = default;
};

struct Command {
  CommandKind kind = CommandKind::kExecute;
  bool transaction = false;
  std::vector<Statement> statements;
  int64_t timestamp_ns = 0;
  uint64_t seed = 0;
  uint64_t session = 0;
  uint64_t seq = 0;
  // A failed statement rolls back a transaction the statements opened themselves (rqlite's
  // RollbackOnError, for SQL dumps that bring their own BEGIN TRANSACTION ... COMMIT).
  bool rollback_on_error = false;
  LoadChunk load;  // kind kLoad only
  friend bool operator==(const Command&, const Command&) = default;
};

// One statement's outcome, as rqlite reports it.
struct StatementResult {
  bool is_query = false;  // rows-shaped (a read, or a write with RETURNING)
  std::vector<std::string> columns;
  std::vector<std::string> types;  // declared types, lower-cased; first-row fill-in
  std::vector<std::vector<Value>> rows;
  int64_t last_insert_id = 0;  // read from the connection after the statement
  int64_t rows_affected = 0;
  std::string error;  // SQLite's message; empty on success
  double time = 0;    // seconds spent in SQLite (only with a stopwatch; rqlite's `timings`)
  friend bool operator==(const StatementResult&, const StatementResult&) = default;
};

struct CommandResult {
  std::vector<StatementResult> results;
  std::string error;  // request-level (e.g. "disallowed pragma")
  friend bool operator==(const CommandResult&, const CommandResult&) = default;
};

}  // namespace rq::sql
