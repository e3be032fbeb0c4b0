#include "core/sqlite/sqlite_machine.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/hash.h"
#include "core/sqlite/command_codec.h"

namespace rq::sql {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; });
}

void put(std::string& s, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool get(int n, uint64_t* v) {
    if (s_.size() - p_ < static_cast<size_t>(n)) return false;
    *v = 0;
    for (int i = n - 1; i >= 0; --i)
      *v = (*v << 8) | static_cast<uint8_t>(s_[p_ + static_cast<size_t>(i)]);
    p_ += static_cast<size_t>(n);
    return true;
  }
  bool bytes(uint64_t n, std::string_view* out) {
    if (s_.size() - p_ < n) return false;
    *out = s_.substr(p_, n);
    p_ += n;
    return true;
  }
  bool done() const { return p_ == s_.size(); }

 private:
  std::string_view s_;
  size_t p_ = 0;
};

// Snapshot images. Version 2 adds the pieces of a load still being gathered; it is written only
// when a load is in progress, so images without one stay readable by version 1 readers.
constexpr char kMagic[8] = {'R', 'Q', 'S', 'Q', 'L', 'S', 'N', '1'};
constexpr char kMagic2[8] = {'R', 'Q', 'S', 'Q', 'L', 'S', 'N', '2'};

constexpr size_t kSqliteHeaderBytes = 100;

// The page size a database image's header declares (1 stands for 65536), 0 if it has none.
uint32_t image_page_size(const char* data, size_t size) {
  if (size < kSqliteHeaderBytes || std::memcmp(data, "SQLite format 3", 16) != 0) return 0;
  const uint32_t v =
      (uint32_t{static_cast<uint8_t>(data[16])} << 8) | static_cast<uint8_t>(data[17]);
  return v == 1 ? 65536 : v;
}

int64_t pragma_int(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  int64_t v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

Value column_value(sqlite3_stmt* st, int i) {
  switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
      return Value::of_int(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
      return Value::of_real(sqlite3_column_double(st, i));
    case SQLITE_TEXT: {
      const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
      return Value::of_text(std::string(t, static_cast<size_t>(sqlite3_column_bytes(st, i))));
    }
    case SQLITE_BLOB: {
      const auto* b = static_cast<const char*>(sqlite3_column_blob(st, i));
      return Value::of_blob(
          std::string(b == nullptr ? "" : b, static_cast<size_t>(sqlite3_column_bytes(st, i))));
    }
    default:
      return Value::null();
  }
}

const char* kind_name(Value::Kind k) {
  switch (k) {
    case Value::Kind::kInteger:
      return "integer";
    case Value::Kind::kReal:
      return "real";
    case Value::Kind::kText:
      return "text";
    case Value::Kind::kBlob:
      return "blob";
    case Value::Kind::kNull:
      return "";
  }
  return "";
}

int bind(sqlite3_stmt* st, int i, const Value& v) {
  switch (v.kind) {
    case Value::Kind::kNull:
      return sqlite3_bind_null(st, i);
    case Value::Kind::kInteger:
      return sqlite3_bind_int64(st, i, v.integer);
    case Value::Kind::kReal:
      return sqlite3_bind_double(st, i, v.real);
    case Value::Kind::kText:
      return sqlite3_bind_text64(st, i, v.bytes.data(), v.bytes.size(), SQLITE_TRANSIENT,
                                 SQLITE_UTF8);
    case Value::Kind::kBlob:
      return sqlite3_bind_blob64(st, i, v.bytes.data(), v.bytes.size(), SQLITE_TRANSIENT);
  }
  return SQLITE_OK;
}

// Binds a statement's parameters: `?`/`?N` take the next positional values in order (shared by all
// statements of one SQL string), `:name`, `@name` and `$name` take the named value.
void bind_params(sqlite3_stmt* st, const std::vector<Param>& params, size_t* positional) {
  const int n = sqlite3_bind_parameter_count(st);
  for (int i = 1; i <= n; ++i) {
    const char* pname = sqlite3_bind_parameter_name(st, i);
    if (pname == nullptr || pname[0] == '?') {
      while (*positional < params.size() && !params[*positional].name.empty()) ++*positional;
      if (*positional < params.size()) bind(st, i, params[(*positional)++].value);
      continue;
    }
    for (const Param& p : params) {
      if (!p.name.empty() && p.name == pname + 1) {
        bind(st, i, p.value);
        break;
      }
    }
  }
}

}  // namespace

bool is_disallowed_pragma(std::string_view sql) {
  size_t p = 0;
  auto skip_ws = [&] {
    while (p < sql.size() && std::isspace(static_cast<unsigned char>(sql[p])) != 0) ++p;
  };
  auto ident = [&] {
    const size_t start = p;
    while (p < sql.size() &&
           (std::isalnum(static_cast<unsigned char>(sql[p])) != 0 || sql[p] == '_'))
      ++p;
    return lower(std::string(sql.substr(start, p - start)));
  };
  skip_ws();
  if (ident() != "pragma") return false;
  skip_ws();
  std::string name = ident();
  skip_ws();
  if (p < sql.size() && sql[p] == '.') {  // schema.name
    ++p;
    skip_ws();
    name = ident();
    skip_ws();
  }
  if (name == "wal_checkpoint") return true;
  const bool sets = p < sql.size() && sql[p] == '=';
  return sets && (name == "journal_mode" || name == "wal_autocheckpoint" || name == "synchronous" ||
                  name == "query_only");
}

Result<std::unique_ptr<SqliteMachine>> SqliteMachine::open(SqliteOptions opts) {
  std::unique_ptr<SqliteMachine> m(new SqliteMachine(std::move(opts)));
  if (Status st = m->init(); !st) return st.error();
  return m;
}

Status SqliteMachine::init() {
  const int rc =
      sqlite3_open_v2(opts_.path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, vfs_.name());
  if (rc != SQLITE_OK) {
    std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    return make_error(ErrorCode::kIo, "cannot open SQLite database " + opts_.path + ": " + why);
  }
  sqlite3_extended_result_codes(db_, 0);
  install_functions();
  apply_options_.stopwatch_ns = opts_.stopwatch_ns;
  if (opts_.foreign_keys) sqlite3_exec(db_, "PRAGMA foreign_keys=ON", nullptr, nullptr, nullptr);
  if (!in_memory()) {
    // The file is a cache of the log: no syncs of its own, readable by other processes (WAL).
    for (const char* pragma :
         {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=OFF", "PRAGMA busy_timeout=5000"}) {
      if (sqlite3_exec(db_, pragma, nullptr, nullptr, nullptr) != SQLITE_OK) {
        return make_error(ErrorCode::kIo, std::string(pragma) + ": " + sqlite3_errmsg(db_));
      }
    }
    // rqlite runs with wal_autocheckpoint=0 and checkpoints when it snapshots; we checkpoint
    // (passively, never waiting for readers) once the WAL passes a size, from our own hook.
    sqlite3_wal_hook(
        db_,
        [](void* arg, sqlite3* db, const char* schema, int pages) {
          auto* self = static_cast<SqliteMachine*>(arg);
          if (pages >= self->opts_.wal_checkpoint_pages) {
            const int rc = sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
            ++(rc == SQLITE_OK ? self->stats_.checkpoints : self->stats_.checkpoint_errors);
          }
          return SQLITE_OK;
        },
        this);
  }
  return ok_status();
}

SqliteMachine::~SqliteMachine() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

void SqliteMachine::install_functions() {
  // Replace the built-ins: every replica draws the same numbers for the same entry.
  sqlite3_create_function_v2(db_, "random", 0, SQLITE_UTF8, this, fn_random, nullptr, nullptr,
                             nullptr);
  sqlite3_create_function_v2(db_, "randomblob", 1, SQLITE_UTF8, this, fn_randomblob, nullptr,
                             nullptr, nullptr);
}

void SqliteMachine::fn_random(sqlite3_context* ctx, int, sqlite3_value**) {
  auto* self = static_cast<SqliteMachine*>(sqlite3_user_data(ctx));
  sqlite3_result_int64(ctx, static_cast<sqlite3_int64>(self->prng_.next_u64()));
}

void SqliteMachine::fn_randomblob(sqlite3_context* ctx, int, sqlite3_value** argv) {
  auto* self = static_cast<SqliteMachine*>(sqlite3_user_data(ctx));
  sqlite3_int64 n = sqlite3_value_int64(argv[0]);
  if (n < 1) n = 1;
  if (n > (1 << 30)) {
    sqlite3_result_error_toobig(ctx);
    return;
  }
  std::string bytes(static_cast<size_t>(n), '\0');
  for (auto& c : bytes) c = static_cast<char>(self->prng_.next_u64() & 0xff);
  sqlite3_result_blob64(ctx, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
}

namespace {
struct Interrupt {
  const RunOptions* o;
  int64_t deadline;
  bool fired = false;
};
int interrupt_when_late(void* arg) {
  auto* i = static_cast<Interrupt*>(arg);
  if (i->o->stopwatch_ns() > i->deadline) i->fired = true;
  return i->fired ? 1 : 0;
}
}  // namespace

StatementResult run_statement(sqlite3* db_, const Statement& s, RunMode mode, const RunOptions& o,
                              bool* failed) {
  const int64_t started = o.stopwatch_ns ? o.stopwatch_ns() : 0;
  Interrupt interrupt{&o, started + o.timeout_ns};
  const bool timed = o.stopwatch_ns && o.timeout_ns > 0;
  if (timed) sqlite3_progress_handler(db_, 1000, interrupt_when_late, &interrupt);
  StatementResult r = [&] {
    StatementResult r;
    const char* tail = s.sql.data();
    const char* end = tail + s.sql.size();
    size_t positional = 0;
    while (tail < end) {
      sqlite3_stmt* st = nullptr;
      const char* next = nullptr;
      if (sqlite3_prepare_v2(db_, tail, static_cast<int>(end - tail), &st, &next) != SQLITE_OK) {
        r = StatementResult{};
        r.error = sqlite3_errmsg(db_);
        *failed = true;
        return r;
      }
      tail = next;
      if (st == nullptr) continue;  // whitespace or a comment
      bind_params(st, s.params, &positional);
      const bool reads = sqlite3_stmt_readonly(st) != 0 || sqlite3_stmt_isexplain(st) != 0;
      const int cols = sqlite3_column_count(st);
      if (mode == RunMode::kQuery && !reads) {
        sqlite3_finalize(st);
        r = StatementResult{};
        r.error = "attempt to change database via query operation";
        *failed = true;
        return r;
      }
      // Rows come back for reads on the query side, and for writes that return some (RETURNING);
      // a read sent to execute runs but shows the connection's counters, as rqlite's does.
      const bool rows =
          cols > 0 && (mode == RunMode::kQuery || (mode == RunMode::kRequest && reads) || !reads);
      r = StatementResult{};
      r.is_query = rows;
      if (rows) {
        for (int i = 0; i < cols; ++i) {
          const char* table = o.qualify_columns ? sqlite3_column_table_name(st, i) : nullptr;
          r.columns.emplace_back(table != nullptr
                                     ? std::string(table) + "." + sqlite3_column_name(st, i)
                                     : std::string(sqlite3_column_name(st, i)));
          const char* decl = sqlite3_column_decltype(st, i);
          r.types.push_back(decl == nullptr ? std::string() : lower(decl));
        }
      }
      int rc;
      while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!rows) continue;
        std::vector<Value> row;
        row.reserve(static_cast<size_t>(cols));
        for (int i = 0; i < cols; ++i) row.push_back(column_value(st, i));
        r.rows.push_back(std::move(row));
      }
      if (rc != SQLITE_DONE) {
        r = StatementResult{};
        r.error = sqlite3_errmsg(db_);
        sqlite3_finalize(st);
        *failed = true;
        return r;
      }
      sqlite3_finalize(st);
      if (rows) {
        for (size_t i = 0; i < r.types.size(); ++i) {
          if (!r.types[i].empty()) continue;
          // rqlite normalises values by declared type before anything else, and a column
          // without one counts as text: its BLOBs (an expression such as x'53') are strings.
          for (auto& row : r.rows) {
            if (row[i].kind == Value::Kind::kBlob) row[i] = Value::of_text(std::move(row[i].bytes));
          }
          // Types the schema does not declare are filled in once, from the first row.
          if (!r.rows.empty()) r.types[i] = kind_name(r.rows[0][i].kind);
        }
      } else {
        r.last_insert_id = sqlite3_last_insert_rowid(db_);
        r.rows_affected = sqlite3_changes64(db_);
      }
    }
    return r;
  }();
  if (timed) {
    sqlite3_progress_handler(db_, 0, nullptr, nullptr);
    if (interrupt.fired) {
      r = StatementResult{};
      r.error = mode == RunMode::kExecute ? "execute timeout" : "query timeout";
      *failed = true;
    }
  }
  if (o.stopwatch_ns) r.time = static_cast<double>(o.stopwatch_ns() - started) / 1e9;
  return r;
}

CommandResult run_query(sqlite3* db, const std::vector<Statement>& statements, bool transaction,
                        const RunOptions& o) {
  CommandResult out;
  if (transaction) sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  for (const Statement& s : statements) {
    if (blank(s.sql)) continue;
    bool failed = false;
    out.results.push_back(run_statement(db, s, RunMode::kQuery, o, &failed));
  }
  if (transaction) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  return out;
}

namespace {

// The first keyword of every statement in `sql` (a rough split at ';' outside quotes and
// comments; a trigger body splits too, which only errs on the safe side).
template <class F>
void for_each_statement_keyword(std::string_view sql, F&& f) {
  size_t p = 0;
  const size_t n = sql.size();
  auto skip_space_and_comments = [&] {
    for (;;) {
      while (p < n && std::isspace(static_cast<unsigned char>(sql[p])) != 0) ++p;
      if (p + 1 < n && sql[p] == '-' && sql[p + 1] == '-') {
        while (p < n && sql[p] != '\n') ++p;
      } else if (p + 1 < n && sql[p] == '/' && sql[p + 1] == '*') {
        const size_t e = sql.find("*/", p + 2);
        p = e == std::string_view::npos ? n : e + 2;
      } else {
        return;
      }
    }
  };
  while (p < n) {
    skip_space_and_comments();
    const size_t start = p;
    while (p < n && std::isalpha(static_cast<unsigned char>(sql[p])) != 0) ++p;
    if (p > start) f(lower(std::string(sql.substr(start, p - start))));
    // To the end of this statement.
    while (p < n && sql[p] != ';') {
      const char c = sql[p];
      if (c == '\'' || c == '"' || c == '`' || c == '[') {
        const char close = c == '[' ? ']' : c;
        const size_t e = sql.find(close, p + 1);
        p = e == std::string_view::npos ? n : e + 1;
      } else if (p + 1 < n &&
                 ((c == '-' && sql[p + 1] == '-') || (c == '/' && sql[p + 1] == '*'))) {
        skip_space_and_comments();
      } else {
        ++p;
      }
    }
    if (p < n) ++p;  // the ';'
  }
}

// Whether every statement of a command may run inside one transaction of ours: none manages
// transactions itself or refuses to run inside one (VACUUM, ATTACH, some PRAGMAs).
bool wrappable(const std::vector<Statement>& statements) {
  size_t real = 0;
  bool ok = true;
  for (const Statement& s : statements) {
    if (blank(s.sql)) continue;
    ++real;
    for_each_statement_keyword(s.sql, [&ok](const std::string& k) {
      if (k == "begin" || k == "commit" || k == "end" || k == "rollback" || k == "savepoint" ||
          k == "release" || k == "vacuum" || k == "attach" || k == "detach" || k == "pragma") {
        ok = false;
      }
    });
  }
  return ok && real > 1;
}

}  // namespace

CommandResult SqliteMachine::execute(const Command& c) {
  if (c.kind == CommandKind::kLoad) return apply_load(c.load);
  for (const Statement& s : c.statements) {
    if (is_disallowed_pragma(s.sql)) {
      CommandResult out;
      out.error = "disallowed pragma";
      return out;
    }
  }
  // Without `transaction`, rqlite runs each statement on its own: a failure stops only that one.
  // Committing once per statement is slow (a bulk insert of 10,000 rows is 10,000 commits), so
  // such a command runs inside one transaction of ours, which nobody can tell apart: SQLite
  // undoes just the failing statement, and readers see the entry whole instead of piecemeal.
  // An error that rolls the whole transaction back (ON CONFLICT ROLLBACK, RAISE(ROLLBACK), a full
  // disk) would take the earlier statements with it: then the command runs again from its start,
  // statement by statement, on the state before it. Every replica makes the same choice.
  if (!c.transaction && wrappable(c.statements)) {
    if (auto out = run_command(c, /*wrap=*/true)) return *out;
  }
  return *run_command(c, /*wrap=*/false);
}

std::optional<CommandResult> SqliteMachine::run_command(const Command& c, bool wrap) {
  vfs_.enter(c.timestamp_ns, c.seed);
  prng_ = Prng(c.seed);
  CommandResult out;
  const RunMode mode = c.kind == CommandKind::kQuery     ? RunMode::kQuery
                       : c.kind == CommandKind::kRequest ? RunMode::kRequest
                                                         : RunMode::kExecute;
  const bool tx = c.transaction || wrap;
  if (tx && sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) {
    if (wrap) return std::nullopt;
    out.error = sqlite3_errmsg(db_);
    return out;
  }
  bool failed = false;
  for (const Statement& s : c.statements) {
    if (blank(s.sql)) continue;  // rqlite skips empty statements without an entry
    out.results.push_back(run_statement(db_, s, mode, apply_options_, &failed));
    if (failed && wrap && sqlite3_get_autocommit(db_) != 0)
      return std::nullopt;  // all undone: redo
    if (failed && c.transaction) break;
    // rqlite's RollbackOnError: a dump's own BEGIN TRANSACTION must not stay open after it failed
    // (every later write would join that transaction and never commit).
    if (failed && c.rollback_on_error && sqlite3_get_autocommit(db_) == 0)
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    failed = false;
  }
  if (c.transaction && failed) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  } else if (tx && sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    if (wrap) return std::nullopt;
    out.error = sqlite3_errmsg(db_);
  }
  count(mode, c.transaction, out);
  return out;
}

void SqliteMachine::count(RunMode mode, bool transaction, const CommandResult& out) {
  uint64_t errors = 0;
  for (const auto& r : out.results) errors += r.error.empty() ? 0 : 1;
  const uint64_t n = out.results.size();
  switch (mode) {
    case RunMode::kExecute:
      stats_.executions += n;
      stats_.execution_errors += errors;
      stats_.execute_transactions += transaction ? 1 : 0;
      break;
    case RunMode::kQuery:
      stats_.queries += n;
      stats_.query_errors += errors;
      stats_.query_transactions += transaction ? 1 : 0;
      break;
    case RunMode::kRequest:
      stats_.requests += n;
      stats_.request_transactions += transaction ? 1 : 0;
      break;
  }
}

CommandResult SqliteMachine::query(const std::vector<Statement>& statements, bool transaction,
                                   const RunOptions& o) {
  return run_query(db_, statements, transaction, o);
}

namespace {
struct WriteProbe {
  bool writes = false;
  bool pragma = false;
};

// `PRAGMA [schema.]name = value` sets connection state every replica must share.
bool pragma_sets(std::string_view sql) {
  const size_t eq = sql.find('=');
  const size_t paren = sql.find('(');
  return eq != std::string_view::npos && (paren == std::string_view::npos || eq < paren);
}
int probe_authorizer(void* arg, int action, const char* a, const char* b, const char*,
                     const char*) {
  auto* p = static_cast<WriteProbe*>(arg);
  switch (action) {
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
      p->writes = true;
      break;
    case SQLITE_PRAGMA:
      p->pragma = true;  // whether it sets something is decided from the text (name = value)
      (void)a;
      (void)b;
      break;
    default:
      break;
  }
  return SQLITE_OK;
}
}  // namespace

bool SqliteMachine::is_write(const std::string& sql) {
  WriteProbe probe;
  sqlite3_set_authorizer(db_, probe_authorizer, &probe);
  sqlite3_stmt* st = nullptr;
  const int rc = sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &st, nullptr);
  sqlite3_set_authorizer(db_, nullptr, nullptr);
  if (rc != SQLITE_OK || st == nullptr) {
    sqlite3_finalize(st);
    return rc != SQLITE_OK;
  }
  bool writes;
  if (sqlite3_stmt_isexplain(st) != 0) {
    writes = false;
  } else {
    writes = probe.writes || (probe.pragma && pragma_sets(sql)) || sqlite3_stmt_readonly(st) == 0;
  }
  sqlite3_finalize(st);
  return writes;
}

void SqliteMachine::expire_sessions(int64_t now_ns) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = now_ns - it->second.last_ns > opts_.session_ttl_ns ? sessions_.erase(it) : std::next(it);
  }
  while (sessions_.size() > opts_.max_sessions) {
    auto oldest =
        std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
          return a.second.last_ns != b.second.last_ns ? a.second.last_ns < b.second.last_ns
                                                      : a.first < b.first;
        });
    sessions_.erase(oldest);
  }
}

void SqliteMachine::apply(const raft::Entry& e) {
  last_applied_ = e.index.v;
  if (e.type != raft::EntryType::kNormal) {
    // Not a command, but waiters on this index must learn it went to something else.
    if (result_sink_) result_sink_(e, CommandResult{});
    return;
  }
  CommandResult result;
  auto c = decode_command(e.data);
  if (c) last_applied_timestamp_ns_ = c->timestamp_ns;
  if (!c) {
    result.error = "invalid command";
  } else if (c->session != 0 && sessions_.count(c->session) != 0 &&
             c->seq <= sessions_[c->session].seq) {
    // A retry of a command already applied: the same answer, not a second execution.
    const Session& s = sessions_[c->session];
    if (c->seq == s.seq) {
      result = s.result;
    } else {
      result.error = "request superseded by a later one from the same session";
    }
  } else {
    result = execute(*c);
    if (c->session != 0) {
      sessions_[c->session] = Session{c->seq, c->timestamp_ns, result};
      expire_sessions(c->timestamp_ns);
    }
  }
  if (result_sink_) result_sink_(e, result);
}

void SqliteMachine::snapshot(std::shared_ptr<SnapshotSink> sink) {
  std::string image(staging_ ? kMagic2 : kMagic, sizeof kMagic);
  put(image, last_applied_, 8);
  put(image, sessions_.size(), 4);
  for (const auto& [id, s] : sessions_) {
    put(image, id, 8);
    put(image, s.seq, 8);
    put(image, static_cast<uint64_t>(s.last_ns), 8);
    const std::string r = encode_result(s.result);
    put(image, r.size(), 4);
    image += r;
  }
  if (staging_) {
    put(image, staging_->id, 8);
    put(image, staging_->total, 8);
    put(image, staging_->bytes.size(), 8);
    image += staging_->bytes;
  }
  sqlite3_int64 size = 0;
  unsigned char* data = sqlite3_serialize(db_, "main", &size, 0);
  if (data == nullptr && size != 0) {
    sink->finish(make_error(ErrorCode::kIo, "sqlite3_serialize failed"));
    return;
  }
  put(image, static_cast<uint64_t>(size), 8);
  image.append(reinterpret_cast<const char*>(data), static_cast<size_t>(size));
  sqlite3_free(data);
  for (size_t off = 0; off < image.size(); off += opts_.snapshot_piece_bytes) {
    if (Status st = sink->write(std::string_view(image).substr(off, opts_.snapshot_piece_bytes));
        !st) {
      sink->finish(st);
      return;
    }
  }
  sink->finish(ok_status());
}

Status SqliteMachine::restore(const SnapshotReader& read, uint64_t size) {
  auto image = read(0, size);
  if (!image) return image.error();
  Cursor c(*image);
  const Error bad = make_error(ErrorCode::kCorrupt, "SQL snapshot: malformed image");
  std::string_view magic;
  uint64_t applied = 0, n = 0;
  if (!c.bytes(sizeof kMagic, &magic) ||
      (magic != std::string_view(kMagic, sizeof kMagic) &&
       magic != std::string_view(kMagic2, sizeof kMagic2)) ||
      !c.get(8, &applied) || !c.get(4, &n)) {
    return bad;
  }
  std::map<uint64_t, Session> sessions;
  for (uint64_t k = 0; k < n; ++k) {
    uint64_t id = 0, seq = 0, last = 0, len = 0;
    std::string_view rb;
    if (!c.get(8, &id) || !c.get(8, &seq) || !c.get(8, &last) || !c.get(4, &len) ||
        !c.bytes(len, &rb))
      return bad;
    auto r = decode_result(rb);
    if (!r) return bad;
    sessions[id] = Session{seq, static_cast<int64_t>(last), std::move(*r)};
  }
  std::optional<Staging> staging;
  if (magic == std::string_view(kMagic2, sizeof kMagic2)) {
    Staging g;
    uint64_t len = 0;
    std::string_view bytes;
    if (!c.get(8, &g.id) || !c.get(8, &g.total) || !c.get(8, &len) || !c.bytes(len, &bytes) ||
        len >= g.total || g.total > opts_.max_load_bytes)
      return bad;
    g.bytes.assign(bytes);
    staging = std::move(g);
  }
  uint64_t dblen = 0;
  std::string_view db;
  if (!c.get(8, &dblen) || !c.bytes(dblen, &db) || !c.done()) return bad;
  if (Status st = load_image(db); !st) return st;
  sessions_ = std::move(sessions);
  staging_ = std::move(staging);
  last_applied_ = applied;
  return ok_status();
}

CommandResult SqliteMachine::apply_load(const LoadChunk& piece) {
  CommandResult out;
  if (piece.total == 0 || piece.total > opts_.max_load_bytes) {
    out.error = "load: an image of " + std::to_string(piece.total) + " bytes (at most " +
                std::to_string(opts_.max_load_bytes) + ")";
    return out;
  }
  if (piece.offset == 0) {
    // A new load; an unfinished one (its leader lost leadership halfway) is dropped.
    staging_ = Staging{piece.id, piece.total, {}};
    staging_->bytes.reserve(piece.total);  // bounded by max_load_bytes, checked above
  } else if (!staging_ || staging_->id != piece.id || staging_->total != piece.total ||
             staging_->bytes.size() != piece.offset) {
    out.error = "load: a piece that does not continue the load in progress";
    return out;
  }
  if (piece.data.size() > staging_->total - staging_->bytes.size()) {
    staging_.reset();
    out.error = "load: pieces larger than the image";
    return out;
  }
  staging_->bytes += piece.data;
  if (staging_->bytes.size() < staging_->total) return out;
  std::string image = std::move(staging_->bytes);
  staging_.reset();
  if (Status st = replace_database(image.data(), image.size()); !st) out.error = st.error().message;
  return out;
}

Status SqliteMachine::replace_database(char* data, size_t size) {
  const uint32_t page = image_page_size(data, size);
  if (page == 0) return make_error(ErrorCode::kInvalid, "load: not a SQLite database image");
  // SQLite cannot copy pages of one size into a database (WAL, or a non-empty memory one) of
  // another: the node that cut the image converts it first (server/backup.cpp), so this only
  // refuses images nobody converted, the same way on every replica.
  const int64_t ours = pragma_int(db_, "PRAGMA main.page_size");
  if (static_cast<int64_t>(page) != ours) {
    return make_error(ErrorCode::kInvalid, "load: the image's page size (" + std::to_string(page) +
                                               ") differs from the database's (" +
                                               std::to_string(ours) + ")");
  }
  // Opened in memory in place (no copy); a WAL-mode header would make SQLite look for a WAL.
  if (data[18] == 2) data[18] = 1;
  if (data[19] == 2) data[19] = 1;
  sqlite3* mem = nullptr;
  if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close_v2(mem);
    return make_error(ErrorCode::kIo, "load: cannot open a scratch database");
  }
  if (sqlite3_deserialize(mem, "main", reinterpret_cast<unsigned char*>(data),
                          static_cast<sqlite3_int64>(size), static_cast<sqlite3_int64>(size),
                          SQLITE_DESERIALIZE_READONLY) != SQLITE_OK) {
    sqlite3_close_v2(mem);
    return make_error(ErrorCode::kInvalid, "load: not a SQLite database image");
  }
  // The backup API copies pages without reading them: an image whose schema cannot be read is
  // refused here (the node that cut it ran PRAGMA quick_check, too slow to repeat on every
  // replica).
  sqlite3_stmt* schema = nullptr;
  int src = sqlite3_prepare_v2(mem, "SELECT name FROM sqlite_master", -1, &schema, nullptr);
  while (src == SQLITE_OK && (src = sqlite3_step(schema)) == SQLITE_ROW) src = SQLITE_OK;
  sqlite3_finalize(schema);
  if (src != SQLITE_DONE) {
    std::string why = sqlite3_errmsg(mem);
    sqlite3_close_v2(mem);
    return make_error(ErrorCode::kInvalid, "load: " + why);
  }
  // One transaction on the database: readers see the old contents or the new, and an image that
  // cannot be read leaves the old contents in place.
  sqlite3_backup* b = sqlite3_backup_init(db_, "main", mem, "main");
  if (b == nullptr) {
    std::string why = sqlite3_errmsg(db_);
    sqlite3_close_v2(mem);
    return make_error(ErrorCode::kIo, "load: " + why);
  }
  const int rc = sqlite3_backup_step(b, -1);
  sqlite3_backup_finish(b);
  sqlite3_close_v2(mem);
  if (rc != SQLITE_DONE)
    return make_error(ErrorCode::kInvalid, std::string("load: ") + sqlite3_errstr(rc));
  return ok_status();
}

Status SqliteMachine::load_image(std::string_view db) {
  const uint64_t dblen = db.size();
  auto* buf = static_cast<unsigned char*>(sqlite3_malloc64(dblen == 0 ? 1 : dblen));
  if (buf == nullptr) return make_error(ErrorCode::kIo, "out of memory restoring a snapshot");
  std::memcpy(buf, db.data(), db.size());
  // A WAL-mode image says so in its header (bytes 18 and 19 = 2); an in-memory database opens
  // it only in rollback mode.
  if (dblen >= 20 && buf[18] == 2) buf[18] = 1;
  if (dblen >= 20 && buf[19] == 2) buf[19] = 1;
  if (in_memory()) {
    const int rc = sqlite3_deserialize(
        db_, "main", buf, static_cast<sqlite3_int64>(dblen), static_cast<sqlite3_int64>(dblen),
        SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
    if (rc != SQLITE_OK)
      return make_error(ErrorCode::kCorrupt, std::string("SQL snapshot: ") + sqlite3_errmsg(db_));
    return ok_status();
  }
  // A file database keeps its file (and WAL mode): the image is opened in memory and copied in
  // with the backup API, which readers see as one transaction.
  sqlite3* mem = nullptr;
  if (sqlite3_open_v2(":memory:", &mem, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    sqlite3_free(buf);
    sqlite3_close_v2(mem);
    return make_error(ErrorCode::kIo, "SQL snapshot: cannot open a scratch database");
  }
  int rc = sqlite3_deserialize(mem, "main", buf, static_cast<sqlite3_int64>(dblen),
                               static_cast<sqlite3_int64>(dblen),
                               SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_READONLY);
  if (rc != SQLITE_OK) {
    sqlite3_close_v2(mem);
    return make_error(ErrorCode::kCorrupt, "SQL snapshot: not a database image");
  }
  sqlite3_backup* b = sqlite3_backup_init(db_, "main", mem, "main");
  if (b == nullptr) {
    std::string why = sqlite3_errmsg(db_);
    sqlite3_close_v2(mem);
    return make_error(ErrorCode::kIo, "SQL snapshot: " + why);
  }
  rc = sqlite3_backup_step(b, -1);
  sqlite3_backup_finish(b);
  sqlite3_close_v2(mem);
  if (rc != SQLITE_DONE)
    return make_error(ErrorCode::kCorrupt, std::string("SQL snapshot: ") + sqlite3_errstr(rc));
  return ok_status();
}

uint64_t SqliteMachine::digest() {
  uint64_t h = 0x1234abcd;
  auto fold = [&h](std::string_view bytes) { h = mix64(h ^ hash_bytes(bytes)); };
  std::vector<std::string> tables;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db_, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name",
                     -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) {
    for (int i = 0; i < 4; ++i) {
      const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
      fold(t == nullptr ? "\x01null" : t);
    }
    const auto* type = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    const auto* name = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    if (type != nullptr && std::strcmp(type, "table") == 0 && name != nullptr)
      tables.emplace_back(name);
  }
  sqlite3_finalize(st);
  for (const std::string& t : tables) {
    std::string quoted = "\"";
    for (char ch : t) quoted += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    quoted += "\"";
    // Rowid order where there is one; otherwise every column, in order.
    std::string sql = "SELECT * FROM " + quoted + " ORDER BY rowid";
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      sqlite3_finalize(st);
      sql = "SELECT * FROM " + quoted;
      if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) continue;
      const int cols = sqlite3_column_count(st);
      sqlite3_finalize(st);
      sql += " ORDER BY ";
      for (int i = 1; i <= cols; ++i) sql += (i > 1 ? "," : "") + std::to_string(i);
      if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) continue;
    }
    fold(t);
    const int cols = sqlite3_column_count(st);
    while (sqlite3_step(st) == SQLITE_ROW) {
      for (int i = 0; i < cols; ++i) {
        const Value v = column_value(st, i);
        std::string tag(1, static_cast<char>(v.kind));
        if (v.kind == Value::Kind::kInteger) tag += std::to_string(v.integer);
        if (v.kind == Value::Kind::kReal)
          tag.append(reinterpret_cast<const char*>(&v.real), sizeof v.real);
        tag += v.bytes;
        fold(tag);
      }
    }
    sqlite3_finalize(st);
  }
  return h;
}

}  // namespace rq::sql
