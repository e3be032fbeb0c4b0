// The SQL state machine: applies committed commands to SQLite, deterministically on every replica.
//   - A command is a list of statements with positional or named parameters, optionally in one
//     transaction; results per statement as rqlite reports them (counters read from the
//     connection after each statement, so they carry over; per-statement errors; columns,
//     lower-cased declared types with the first-row fill-in, rows; RETURNING; stop and roll back
//     at the first error under `transaction`).
//   - SQL's "now" (date/time functions, CURRENT_TIMESTAMP, defaults, triggers) is the leader's
//     timestamp carried in the entry, through EntryVfs; random() and randomblob() draw from the
//     entry's seed; SQLite's own PRNG is reset and reseeded from it before every entry. Apply never
//     reads a real clock or a global random source.
//   - Exactly-once: a command with a client session and sequence number is executed once; a retry
//     gets the stored result. Sessions are bounded and expire on log time.
//   - Snapshots capture, at one applied index, the database image and the session table (and the
//     pieces of a load still being gathered); the logical digest (schema and rows) lets checkers
//     compare replicas.
//   - rqlite's LOAD arrives in pieces (CommandKind::kLoad, one log entry each); once all are in,
//     the database is replaced by the image in one transaction (readers see all or nothing), or
//     left as it was if the image cannot be read.
// No bookkeeping tables live in the user's database.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/prng.h"
#include "core/result.h"
#include "core/sqlite/entry_vfs.h"
#include "core/sqlite/types.h"
#include "core/state_machine.h"

namespace rq::sql {

struct SqliteOptions {
  // The database the driver chooses: ":memory:" (simulator) or a file path (server).
  std::string path = ":memory:";
  // The VFS doing file I/O underneath (nullptr: SQLite's default).
  const char* base_vfs = nullptr;
  size_t max_sessions = 10'000;
  int64_t session_ttl_ns = int64_t{10} * 60 * 1'000'000'000;
  // Bytes handed to the snapshot sink per write.
  size_t snapshot_piece_bytes = 1 << 20;
  // rqlite's -fk: PRAGMA foreign_keys=ON on the connection.
  bool foreign_keys = false;
  // A file database runs in WAL mode with synchronous=OFF (durability is the Raft log's job; the
  // file is a cache rebuilt at start) and is checkpointed once the WAL holds this many pages.
  int wal_checkpoint_pages = 1000;
  // Measures how long each applied statement took (rqlite's `timings`); never changes what is
  // applied. The server passes the monotonic clock; the simulator none (times stay 0).
  std::function<int64_t()> stopwatch_ns;
  // The largest database image a load may bring: its pieces are gathered in memory on every
  // replica (and in snapshots taken meanwhile), so a piece naming a larger total is refused.
  uint64_t max_load_bytes = uint64_t{1} << 30;
};

// How statements run: on the execute side (writes; reads show the connection's counters), the
// query side (writes refused), or rqlite's unified endpoint (each statement by its kind).
enum class RunMode { kExecute, kQuery, kRequest };

// What a read may ask for that does not change what it does to the database.
struct RunOptions {
  bool qualify_columns = false;           // column names as table.column (rqlite's qualify_columns)
  std::function<int64_t()> stopwatch_ns;  // monotonic ns; fills StatementResult::time (null: none)
  int64_t timeout_ns = 0;  // per statement, needs the stopwatch (0: none): "query timeout"
};

// Runs one statement (which may hold several `;`-separated ones) on `db`, as rqlite reports it.
// Shared by the state machine's connection and the server's read-only ones.
StatementResult run_statement(sqlite3* db, const Statement& s, RunMode mode, const RunOptions& o,
                              bool* failed);
// A read outside the log on any connection: each statement on the query side; with
// `transaction`, all inside one read transaction.
CommandResult run_query(sqlite3* db, const std::vector<Statement>& statements, bool transaction,
                        const RunOptions& o = {});

// rqlite's refusal of pragmas that would change how the database is run (journal mode,
// checkpointing, sync, query-only), checked before anything is replicated.
bool is_disallowed_pragma(std::string_view sql);

// What the state machine ran (rqlite's `db` expvar map): statements of applied commands by kind,
// with their errors, commands that ran as a transaction, and WAL checkpoints.
struct SqliteStats {
  uint64_t executions = 0, execution_errors = 0;
  uint64_t queries = 0, query_errors = 0;  // strong reads, through the log
  uint64_t requests = 0;
  uint64_t execute_transactions = 0, query_transactions = 0, request_transactions = 0;
  uint64_t checkpoints = 0, checkpoint_errors = 0;
};

class SqliteMachine final : public StateMachine {
 public:
  static Result<std::unique_ptr<SqliteMachine>> open(SqliteOptions opts);
  ~SqliteMachine() override;

  void apply(const raft::Entry& e) override;
  void snapshot(std::shared_ptr<SnapshotSink> sink) override;
  Status restore(const SnapshotReader& read, uint64_t size) override;

  // Called for every applied entry, in log order, with its command's result (empty for no-ops and
  // config entries): the service's waiters.
  using ResultSink = std::function<void(const raft::Entry&, const CommandResult&)>;
  void set_result_sink(ResultSink sink) { result_sink_ = std::move(sink); }

  // Runs a command as apply would (with its timestamp and seed), without a log entry.
  CommandResult execute(const Command& c);
  // A read outside the log (levels none, weak, linearizable): statements that would write get
  // rqlite's "attempt to change database via query operation".
  CommandResult query(const std::vector<Statement>& statements, bool transaction,
                      const RunOptions& o = {});
  // Whether a statement writes, as rqlite classifies for /db/request: EXPLAIN reads; BEGIN,
  // COMMIT, SAVEPOINT, ATTACH and pragmas that set something write; otherwise
  // sqlite3_stmt_readonly. A statement that does not prepare counts as a write (its error comes
  // back through the log).
  bool is_write(const std::string& sql);

  // Digest of the logical contents: schema and every row, in a canonical order.
  uint64_t digest();
  uint64_t last_applied() const { return last_applied_; }
  const SqliteStats& stats() const { return stats_; }
  // The leader's timestamp on the last command applied (0 before any; not kept in snapshots).
  int64_t last_applied_timestamp_ns() const { return last_applied_timestamp_ns_; }
  size_t sessions() const { return sessions_.size(); }
  // Bytes of a load gathered so far (0: none in progress).
  uint64_t load_staged_bytes() const { return staging_ ? staging_->bytes.size() : 0; }
  bool in_memory() const { return opts_.path == ":memory:"; }
  // The read-write connection (owned by the apply thread; for diagnostics such as /status).
  sqlite3* connection() const { return db_; }

 private:
  SqliteMachine(SqliteOptions opts) : opts_(std::move(opts)), vfs_(opts_.base_vfs) {}
  Status init();
  void install_functions();
  // One run of a command; with `wrap`, inside one transaction of ours, giving up (nullopt, all
  // undone) if that transaction cannot be kept.
  std::optional<CommandResult> run_command(const Command& c, bool wrap);
  void count(RunMode mode, bool transaction, const CommandResult& out);
  // Replaces the database's contents with a serialized image (a snapshot's).
  Status load_image(std::string_view db);
  // A piece of a load (CommandKind::kLoad): gathered; the last one replaces the database.
  CommandResult apply_load(const LoadChunk& piece);
  // Replaces the database with the image in `data` (modified: a WAL header is switched to
  // rollback mode) in one transaction, or leaves it as it was and says why.
  Status replace_database(char* data, size_t size);
  void expire_sessions(int64_t now_ns);
  static void fn_random(sqlite3_context* ctx, int argc, sqlite3_value** argv);
  static void fn_randomblob(sqlite3_context* ctx, int argc, sqlite3_value** argv);

  struct Session {
    uint64_t seq = 0;
    int64_t last_ns = 0;
    CommandResult result;
  };

  SqliteOptions opts_;
  EntryVfs vfs_;
  sqlite3* db_ = nullptr;
  Prng prng_{0};  // random() / randomblob() of the entry being applied
  std::map<uint64_t, Session> sessions_;
  // The load being gathered, if any. Invariant: bytes.size() < total <= opts_.max_load_bytes.
  struct Staging {
    uint64_t id = 0;
    uint64_t total = 0;
    std::string bytes;
  };
  std::optional<Staging> staging_;
  uint64_t last_applied_ = 0;
  SqliteStats stats_;
  int64_t last_applied_timestamp_ns_ = 0;
  ResultSink result_sink_;
  RunOptions apply_options_;  // stopwatch only: no timeouts, no qualified names in applies
};

}  // namespace rq::sql
