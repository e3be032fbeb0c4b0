// The SQL state machine: rqlite's result semantics, determinism, exactly-once, snapshots.
#include "core/sqlite/sqlite_machine.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/sqlite/command_codec.h"

namespace rq::sql {
namespace {

std::unique_ptr<SqliteMachine> make() {
  auto m = SqliteMachine::open(SqliteOptions{});
  EXPECT_TRUE(m.ok());
  return std::move(m).value();
}

Statement S(std::string sql, std::vector<Param> params = {}) { return Statement{std::move(sql), std::move(params)}; }
Param P(Value v) { return Param{"", std::move(v)}; }
Param N(std::string name, Value v) { return Param{std::move(name), std::move(v)}; }

Command exec(std::vector<Statement> stmts, bool tx = false, CommandKind kind = CommandKind::kExecute) {
  Command c;
  c.kind = kind;
  c.transaction = tx;
  c.statements = std::move(stmts);
  c.timestamp_ns = int64_t{1'700'000'000} * 1'000'000'000;  // 2023-11-14T22:13:20Z
  c.seed = 42;
  return c;
}

raft::Entry entry(uint64_t index, const Command& c) {
  return raft::Entry{Term(1), LogIndex(index), raft::EntryType::kNormal, encode_command(c)};
}

TEST(SqliteMachine, Execute_CreateInsert_CountersAsRqlite) {
  auto m = make();
  auto r = m->execute(exec({S("CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT, age INTEGER)"),
                            S("INSERT INTO foo(name, age) VALUES(?, ?)", {P(Value::of_text("fiona")), P(Value::of_int(20))}),
                            S("INSERT INTO nonsense")}));
  ASSERT_EQ(r.results.size(), 3u);
  EXPECT_EQ(r.results[0].last_insert_id, 0);
  EXPECT_EQ(r.results[0].rows_affected, 0);
  EXPECT_TRUE(r.results[0].error.empty());
  EXPECT_EQ(r.results[1].last_insert_id, 1);
  EXPECT_EQ(r.results[1].rows_affected, 1);
  // SQLite 3.40.1 (Debian's) says "incomplete input" where rqlite's newer SQLite says
  // 'near "nonsense": syntax error'; docs/api.md lists the differences.
  EXPECT_EQ(r.results[2].error, "incomplete input");
}

TEST(SqliteMachine, Execute_CountersCarryOverToTheNextStatement) {
  auto m = make();
  auto r = m->execute(exec({S("CREATE TABLE foo (id INTEGER PRIMARY KEY, name TEXT)"),
                            S("INSERT INTO foo(name) VALUES('a')"), S("DROP TABLE foo")}));
  ASSERT_EQ(r.results.size(), 3u);
  EXPECT_EQ(r.results[2].last_insert_id, 1);
  EXPECT_EQ(r.results[2].rows_affected, 1);
}

TEST(SqliteMachine, Execute_WithoutTransaction_ContinuesAfterAnError) {
  auto m = make();
  auto r = m->execute(exec({S("CREATE TABLE t (v INTEGER)"), S("INSERT INTO nope VALUES(1)"), S("INSERT INTO t VALUES(2)")}));
  ASSERT_EQ(r.results.size(), 3u);
  EXPECT_EQ(r.results[1].error, "no such table: nope");
  EXPECT_EQ(r.results[2].rows_affected, 1);
}

// Without `transaction` a command runs inside one transaction of ours (speed), which must not
// change what each statement does: errors that roll back a whole transaction make it run again
// statement by statement, and statements that manage transactions themselves are left alone.
TEST(SqliteMachine, Execute_WithoutTransaction_WholeTransactionRollbacksDoNotTakeEarlierStatements) {
  auto m = make();
  m->execute(exec({S("CREATE TABLE u (x UNIQUE ON CONFLICT ROLLBACK)"), S("CREATE TABLE v (x)"),
                   S("CREATE TRIGGER no_sevens BEFORE INSERT ON v WHEN NEW.x = 7 BEGIN SELECT RAISE(ROLLBACK, 'no 7'); END")}));
  auto r = m->execute(exec({S("INSERT INTO u VALUES(1)"), S("INSERT INTO u VALUES(1)"), S("INSERT INTO u VALUES(2)")}));
  ASSERT_EQ(r.results.size(), 3u);
  EXPECT_EQ(r.results[1].error, "UNIQUE constraint failed: u.x");
  EXPECT_TRUE(r.results[2].error.empty());
  EXPECT_EQ(m->query({S("SELECT group_concat(x) FROM u")}, false).results[0].rows[0][0], Value::of_text("1,2"));
  r = m->execute(exec({S("INSERT INTO v VALUES(1)"), S("INSERT INTO v VALUES(7)"), S("INSERT INTO v VALUES(3)")}));
  ASSERT_EQ(r.results.size(), 3u);
  EXPECT_EQ(r.results[1].error, "no 7");
  EXPECT_EQ(m->query({S("SELECT group_concat(x) FROM v")}, false).results[0].rows[0][0], Value::of_text("1,3"));
  // The same random numbers on the second run as a plain run would draw.
  r = m->execute(exec({S("INSERT INTO v VALUES(random())"), S("INSERT INTO v VALUES(7)")}));
  auto plain = make();
  plain->execute(exec({S("CREATE TABLE v (x)")}));
  plain->execute(exec({S("INSERT INTO v VALUES(random())")}));
  EXPECT_EQ(m->query({S("SELECT x FROM v ORDER BY rowid DESC LIMIT 1")}, false).results[0].rows[0][0],
            plain->query({S("SELECT x FROM v")}, false).results[0].rows[0][0]);
}

TEST(SqliteMachine, Execute_WithoutTransaction_ExplicitTransactionStatementsStillWork) {
  auto m = make();
  auto r = m->execute(exec({S("CREATE TABLE t (x)"), S("BEGIN"), S("INSERT INTO t VALUES(1)"), S("COMMIT"),
                            S("SAVEPOINT a"), S("INSERT INTO t VALUES(2)"), S("ROLLBACK TO a"), S("RELEASE a")}));
  for (const auto& res : r.results) EXPECT_TRUE(res.error.empty()) << res.error;
  EXPECT_EQ(m->query({S("SELECT group_concat(x) FROM t")}, false).results[0].rows[0][0], Value::of_text("1"));
  // A text body may hold several statements, a trigger's BEGIN ... END among them.
  r = m->execute(exec({S("CREATE TABLE w (x); CREATE TRIGGER tw AFTER INSERT ON w BEGIN UPDATE w SET x = x + 1; END;"),
                       S("INSERT INTO w VALUES(1); INSERT INTO w VALUES(10)")}));
  for (const auto& res : r.results) EXPECT_TRUE(res.error.empty()) << res.error;
  EXPECT_EQ(m->query({S("SELECT sum(x) FROM w")}, false).results[0].rows[0][0], Value::of_int(14));
}

TEST(SqliteMachine, Execute_Transaction_StopsAndRollsBackAtFirstError) {
  auto m = make();
  m->execute(exec({S("CREATE TABLE t (v INTEGER)")}));
  auto r = m->execute(exec({S("INSERT INTO t VALUES(1)"), S("INSERT INTO nope VALUES(1)"), S("INSERT INTO t VALUES(3)")}, true));
  ASSERT_EQ(r.results.size(), 2u);
  EXPECT_EQ(r.results[0].rows_affected, 1);
  EXPECT_EQ(r.results[1].error, "no such table: nope");
  auto q = m->query({S("SELECT COUNT(*) FROM t")}, false);
  ASSERT_EQ(q.results.size(), 1u);
  EXPECT_EQ(q.results[0].rows[0][0], Value::of_int(0));
}

TEST(SqliteMachine, Query_ColumnsDeclaredTypesAndFirstRowFillIn) {
  auto m = make();
  m->execute(exec({S("CREATE TABLE foo (id INTEGER PRIMARY KEY, name VARCHAR(255), x)"),
                   S("INSERT INTO foo(name, x) VALUES('fiona', NULL)")}));
  auto q = m->query({S("SELECT * FROM foo"), S("SELECT COUNT(*) FROM foo"), S("SELECT * FROM foo WHERE id = 99"),
                     S("SELECT x, 1.5 FROM foo")},
                    false);
  ASSERT_EQ(q.results.size(), 4u);
  EXPECT_EQ(q.results[0].columns, (std::vector<std::string>{"id", "name", "x"}));
  EXPECT_EQ(q.results[0].types, (std::vector<std::string>{"integer", "varchar(255)", ""}));
  EXPECT_EQ(q.results[0].rows, (std::vector<std::vector<Value>>{{Value::of_int(1), Value::of_text("fiona"), Value::null()}}));
  EXPECT_EQ(q.results[1].types, (std::vector<std::string>{"integer"}));
  EXPECT_TRUE(q.results[2].rows.empty());
  EXPECT_EQ(q.results[3].types, (std::vector<std::string>{"", "real"}));
}

// rqlite normalises values by declared type before filling types in, and no declared type counts
// as text: a BLOB from an expression comes back as text, typed text (issue 13.3). A column
// declared BLOB keeps its BLOBs; a declared type filled from the first row stays as it was.
TEST(SqliteMachine, Query_BlobWithoutDeclaredType_IsText) {
  auto m = make();
  m->execute(exec({S("CREATE TABLE b (d BLOB)"), S("INSERT INTO b VALUES(x'FF00')")}));
  auto q = m->query({S("SELECT x'53514C697465'"), S("SELECT d FROM b"), S("SELECT 1 UNION ALL SELECT x'61'"),
                     S("SELECT d || '' FROM b")},
                    false);
  ASSERT_EQ(q.results.size(), 4u);
  EXPECT_EQ(q.results[0].types, (std::vector<std::string>{"text"}));
  EXPECT_EQ(q.results[0].rows, (std::vector<std::vector<Value>>{{Value::of_text("SQLite")}}));
  EXPECT_EQ(q.results[1].types, (std::vector<std::string>{"blob"}));
  EXPECT_EQ(q.results[1].rows[0][0], Value::of_blob(std::string("\xff\x00", 2)));
  EXPECT_EQ(q.results[2].types, (std::vector<std::string>{"integer"}));
  EXPECT_EQ(q.results[2].rows[1][0], Value::of_text("a"));
  EXPECT_EQ(q.results[3].types, (std::vector<std::string>{"text"}));
}

TEST(SqliteMachine, Query_RefusesWrites) {
  auto m = make();
  m->execute(exec({S("CREATE TABLE t (v)")}));
  auto q = m->query({S("INSERT INTO t VALUES(1)")}, false);
  ASSERT_EQ(q.results.size(), 1u);
  EXPECT_EQ(q.results[0].error, "attempt to change database via query operation");
  auto strong = m->execute(exec({S("INSERT INTO t VALUES(1)")}, false, CommandKind::kQuery));
  EXPECT_EQ(strong.results[0].error, "attempt to change database via query operation");
}

TEST(SqliteMachine, Execute_SelectShowsCountersNotRows_ReturningShowsRows) {
  auto m = make();
  auto r = m->execute(exec({S("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"), S("INSERT INTO t(v) VALUES('a')"),
                            S("SELECT * FROM t"), S("INSERT INTO t(v) VALUES('b') RETURNING id, v")}));
  ASSERT_EQ(r.results.size(), 4u);
  EXPECT_FALSE(r.results[2].is_query);
  EXPECT_EQ(r.results[2].last_insert_id, 1);
  EXPECT_TRUE(r.results[3].is_query);
  EXPECT_EQ(r.results[3].rows, (std::vector<std::vector<Value>>{{Value::of_int(2), Value::of_text("b")}}));
}

TEST(SqliteMachine, Request_ReadsAreRowShapedWritesCounterShaped) {
  auto m = make();
  auto r = m->execute(exec({S("CREATE TABLE t (v)"), S("INSERT INTO t VALUES(7)"), S("SELECT v FROM t")}, false,
                           CommandKind::kRequest));
  ASSERT_EQ(r.results.size(), 3u);
  EXPECT_FALSE(r.results[1].is_query);
  EXPECT_TRUE(r.results[2].is_query);
  EXPECT_EQ(r.results[2].rows[0][0], Value::of_int(7));
}

TEST(SqliteMachine, Params_NamedPositionalAndBlob) {
  auto m = make();
  m->execute(exec({S("CREATE TABLE t (a, b, c)"),
                   S("INSERT INTO t VALUES(:a, @b, $c)", {N("a", Value::of_int(1)), N("b", Value::of_text("x")),
                                                           N("c", Value::of_blob(std::string("\x00\x01", 2)))}),
                   S("INSERT INTO t VALUES(?, ?, ?)", {P(Value::of_real(2.5)), P(Value::null()), P(Value::of_int(3))})}));
  auto q = m->query({S("SELECT a, b, c FROM t ORDER BY rowid")}, false);
  ASSERT_EQ(q.results[0].rows.size(), 2u);
  // The blob was stored as a blob; a column declared without a type reads it as text (rqlite).
  EXPECT_EQ(q.results[0].rows[0], (std::vector<Value>{Value::of_int(1), Value::of_text("x"),
                                                      Value::of_text(std::string("\x00\x01", 2))}));
  auto typed = m->query({S("SELECT typeof(c) FROM t ORDER BY rowid")}, false);
  EXPECT_EQ(typed.results[0].rows[0][0], Value::of_text("blob"));
  EXPECT_EQ(q.results[0].rows[1], (std::vector<Value>{Value::of_real(2.5), Value::null(), Value::of_int(3)}));
}

TEST(SqliteMachine, EmptyStatementsAreSkipped) {
  auto m = make();
  auto r = m->execute(exec({S(""), S("   ")}));
  EXPECT_TRUE(r.results.empty());
  EXPECT_TRUE(r.error.empty());
}

TEST(SqliteMachine, Determinism_NowAndRandomComeFromTheEntry) {
  auto a = make();
  auto b = make();
  const Command c = exec({S("CREATE TABLE t (x, y, z, w, d DEFAULT CURRENT_TIMESTAMP)"),
                          S("INSERT INTO t(x, y, z, w) VALUES(random(), randomblob(8), datetime('now'), unixepoch())"),
                          S("INSERT INTO t(rowid) VALUES(9223372036854775807)"), S("INSERT INTO t(x) VALUES(1)")});
  a->execute(c);
  b->execute(c);
  const Statement sel = S("SELECT rowid, * FROM t ORDER BY rowid");
  const auto ra = a->query({sel}, false);
  const auto rb = b->query({sel}, false);
  EXPECT_EQ(ra, rb);
  ASSERT_EQ(ra.results[0].rows.size(), 3u);
  EXPECT_EQ(ra.results[0].rows[0][3], Value::of_text("2023-11-14 22:13:20"));
  EXPECT_EQ(ra.results[0].rows[0][4], Value::of_int(1'700'000'000));
  EXPECT_EQ(ra.results[0].rows[0][5], Value::of_text("2023-11-14 22:13:20"));
  EXPECT_EQ(a->digest(), b->digest());
  // Another seed draws other numbers.
  Command c2 = c;
  c2.seed = 43;
  auto d = make();
  d->execute(c2);
  EXPECT_NE(d->query({sel}, false), ra);
}

TEST(SqliteMachine, Sessions_ARetryIsAnsweredNotExecutedAgain) {
  auto m = make();
  m->apply(entry(1, exec({S("CREATE TABLE t (v)")})));
  Command c = exec({S("INSERT INTO t VALUES(1)")});
  c.session = 7;
  c.seq = 1;
  std::vector<CommandResult> seen;
  m->set_result_sink([&](const raft::Entry&, const CommandResult& r) { seen.push_back(r); });
  m->apply(entry(2, c));
  m->apply(entry(3, c));
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], seen[1]);
  EXPECT_EQ(m->query({S("SELECT COUNT(*) FROM t")}, false).results[0].rows[0][0], Value::of_int(1));
  c.seq = 0;
  m->apply(entry(4, c));
  EXPECT_FALSE(seen.back().error.empty());
}

TEST(SqliteMachine, Sessions_ExpireOnLogTime) {
  SqliteOptions o;
  o.session_ttl_ns = 1'000'000'000;
  auto m = std::move(SqliteMachine::open(o)).value();
  Command c = exec({S("SELECT 1")});
  c.session = 1;
  c.seq = 1;
  m->apply(entry(1, c));
  EXPECT_EQ(m->sessions(), 1u);
  Command later = exec({S("SELECT 1")});
  later.session = 2;
  later.seq = 1;
  later.timestamp_ns = c.timestamp_ns + 5'000'000'000;
  m->apply(entry(2, later));
  EXPECT_EQ(m->sessions(), 1u);
}

class Collect final : public SnapshotSink {
 public:
  Status write(std::string_view b) override {
    bytes += b;
    return ok_status();
  }
  void finish(Status st) override { ok = st.ok(); }
  std::string bytes;
  bool ok = false;
};

TEST(SqliteMachine, Snapshot_RestoresContentsAndSessions) {
  auto a = make();
  a->apply(entry(1, exec({S("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")})));
  Command c = exec({S("INSERT INTO t(v) VALUES('x')")});
  c.session = 9;
  c.seq = 3;
  a->apply(entry(2, c));
  auto sink = std::make_shared<Collect>();
  a->snapshot(sink);
  ASSERT_TRUE(sink->ok);
  auto b = make();
  ASSERT_TRUE(b->restore([&](uint64_t off, uint64_t len) -> Result<std::string> { return sink->bytes.substr(off, len); },
                         sink->bytes.size())
                  .ok());
  EXPECT_EQ(b->digest(), a->digest());
  EXPECT_EQ(b->last_applied(), 2u);
  // The session came along: the retry is answered, not executed.
  b->apply(entry(3, c));
  EXPECT_EQ(b->query({S("SELECT COUNT(*) FROM t")}, false).results[0].rows[0][0], Value::of_int(1));
}

std::string journal_mode(sqlite3* db) {
  std::string out;
  sqlite3_exec(
      db, "PRAGMA journal_mode",
      [](void* arg, int, char** values, char**) {
        *static_cast<std::string*>(arg) = values[0];
        return 0;
      },
      &out, nullptr);
  return out;
}

// The server's database: a file in WAL mode, readable by another connection; snapshots move
// between file and memory databases both ways with the same logical contents.
TEST(SqliteMachine, FileDatabase_WalMode_SnapshotsBothWays) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "rq-sqlite-test-XXXXXX").string();
  const std::string dir = ::mkdtemp(tmpl.data());
  struct Cleanup {
    std::string d;
    ~Cleanup() { std::filesystem::remove_all(d); }
  } cleanup{dir};
  SqliteOptions fo;
  fo.path = dir + "/db.sqlite";
  fo.base_vfs = "unix";
  auto f = SqliteMachine::open(fo);
  ASSERT_TRUE(f.ok()) << f.error().message;
  SqliteMachine& file = **f;
  EXPECT_FALSE(file.in_memory());
  EXPECT_EQ(journal_mode(file.connection()), "wal");
  file.apply(entry(1, exec({S("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")})));
  for (uint64_t i = 2; i < 50; ++i) file.apply(entry(i, exec({S("INSERT INTO t(v) VALUES(hex(randomblob(8)))")})));
  // Another connection (as the server's read pool, or another process) sees what was applied.
  sqlite3* ro = nullptr;
  ASSERT_EQ(sqlite3_open_v2(fo.path.c_str(), &ro, SQLITE_OPEN_READONLY, "unix"), SQLITE_OK);
  auto seen = run_query(ro, {S("SELECT COUNT(*) FROM t")}, false);
  EXPECT_EQ(seen.results.at(0).rows.at(0).at(0), Value::of_int(48));
  // file -> memory
  auto sink = std::make_shared<Collect>();
  file.snapshot(sink);
  ASSERT_TRUE(sink->ok);
  auto mem = make();
  ASSERT_TRUE(mem->restore([&](uint64_t off, uint64_t len) -> Result<std::string> { return sink->bytes.substr(off, len); },
                           sink->bytes.size())
                  .ok());
  EXPECT_EQ(mem->digest(), file.digest());
  // memory -> a fresh file database, which stays in WAL mode.
  mem->apply(entry(50, exec({S("INSERT INTO t(v) VALUES('last')")})));
  auto sink2 = std::make_shared<Collect>();
  mem->snapshot(sink2);
  fo.path = dir + "/db2.sqlite";
  auto f2 = SqliteMachine::open(fo);
  ASSERT_TRUE(f2.ok());
  ASSERT_TRUE((*f2)->restore([&](uint64_t off, uint64_t len) -> Result<std::string> { return sink2->bytes.substr(off, len); },
                             sink2->bytes.size())
                  .ok());
  EXPECT_EQ((*f2)->digest(), mem->digest());
  EXPECT_NE((*f2)->digest(), file.digest());
  EXPECT_EQ((*f2)->last_applied(), 50u);
  EXPECT_EQ(journal_mode((*f2)->connection()), "wal");
  // The read connection sees the restored file's contents after a restore into it.
  ASSERT_TRUE(file.restore([&](uint64_t off, uint64_t len) -> Result<std::string> { return sink2->bytes.substr(off, len); },
                           sink2->bytes.size())
                  .ok());
  seen = run_query(ro, {S("SELECT v FROM t ORDER BY id DESC LIMIT 1")}, false);
  EXPECT_EQ(seen.results.at(0).rows.at(0).at(0), Value::of_text("last"));
  sqlite3_close_v2(ro);
}

TEST(SqliteMachine, ReadOptions_QualifiedColumns_Timings_Timeout) {
  auto m = make();
  m->execute(exec({S("CREATE TABLE a (id INTEGER, v TEXT)"), S("INSERT INTO a VALUES(1, 'x')")}));
  RunOptions o;
  o.qualify_columns = true;
  auto q = m->query({S("SELECT id, v, 1 + 1 FROM a")}, false, o);
  EXPECT_EQ(q.results.at(0).columns, (std::vector<std::string>{"a.id", "a.v", "1 + 1"}));
  EXPECT_EQ(q.results[0].time, 0.0);  // no stopwatch, no time
  // A stopwatch that moves 1 ms per reading: times are filled in, and a statement running past
  // its timeout is interrupted with rqlite's error.
  int64_t fake = 0;
  RunOptions t;
  t.stopwatch_ns = [&fake] { return fake += 1'000'000; };
  q = m->query({S("SELECT v FROM a")}, false, t);
  EXPECT_GT(q.results.at(0).time, 0.0);
  t.timeout_ns = 50'000'000;
  q = m->query({S("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"),
                S("SELECT v FROM a")},
               false, t);
  ASSERT_EQ(q.results.size(), 2u);
  EXPECT_EQ(q.results[0].error, "query timeout");
  EXPECT_EQ(q.results[1].rows.at(0).at(0), Value::of_text("x"));  // the connection still works
}

TEST(SqliteMachine, Restore_GarbageIsCorrupt) {
  auto m = make();
  const std::string junk = "not a snapshot at all";
  auto st = m->restore([&](uint64_t off, uint64_t len) -> Result<std::string> { return junk.substr(off, len); }, junk.size());
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kCorrupt);
}

TEST(SqliteMachine, Digest_DiffersWhenARowDiffers) {
  auto a = make();
  auto b = make();
  a->execute(exec({S("CREATE TABLE t (v)"), S("INSERT INTO t VALUES(1)")}));
  b->execute(exec({S("CREATE TABLE t (v)"), S("INSERT INTO t VALUES(2)")}));
  EXPECT_NE(a->digest(), b->digest());
}

TEST(SqliteMachine, IsWrite_ClassifiesAsRqlite) {
  auto m = make();
  m->execute(exec({S("CREATE TABLE t (v)")}));
  EXPECT_FALSE(m->is_write("SELECT * FROM t"));
  EXPECT_TRUE(m->is_write("INSERT INTO t VALUES(1)"));
  EXPECT_FALSE(m->is_write("EXPLAIN INSERT INTO t VALUES(1)"));
  EXPECT_FALSE(m->is_write("EXPLAIN QUERY PLAN SELECT * FROM t"));
  EXPECT_TRUE(m->is_write("BEGIN"));
  EXPECT_TRUE(m->is_write("COMMIT"));
  EXPECT_TRUE(m->is_write("SAVEPOINT s1"));
  EXPECT_TRUE(m->is_write("PRAGMA foreign_keys=1"));
  EXPECT_FALSE(m->is_write("PRAGMA table_info(t)"));
  EXPECT_FALSE(m->is_write("PRAGMA foreign_keys"));
  EXPECT_TRUE(m->is_write("SELEKT nonsense"));
}

TEST(SqliteMachine, DisallowedPragmas) {
  EXPECT_TRUE(is_disallowed_pragma("PRAGMA journal_mode=DELETE"));
  EXPECT_TRUE(is_disallowed_pragma("  pragma main.Journal_Mode = wal"));
  EXPECT_TRUE(is_disallowed_pragma("PRAGMA wal_checkpoint"));
  EXPECT_TRUE(is_disallowed_pragma("PRAGMA wal_checkpoint(TRUNCATE)"));
  EXPECT_TRUE(is_disallowed_pragma("PRAGMA synchronous=OFF"));
  EXPECT_TRUE(is_disallowed_pragma("PRAGMA query_only = 1"));
  EXPECT_TRUE(is_disallowed_pragma("PRAGMA wal_autocheckpoint=0"));
  EXPECT_FALSE(is_disallowed_pragma("PRAGMA journal_mode"));
  EXPECT_FALSE(is_disallowed_pragma("PRAGMA foreign_keys=1"));
  EXPECT_FALSE(is_disallowed_pragma("SELECT 'PRAGMA journal_mode=x'"));
  auto m = make();
  EXPECT_EQ(m->execute(exec({S("PRAGMA synchronous=OFF")})).error, "disallowed pragma");
}

// ---------------------------------------------------------------------------------------------
// rqlite's LOAD, in pieces (CommandKind::kLoad) and the SQL dump's rollback on error.

// A SQLite file's bytes: the database another machine holds, serialized.
std::string image_of(SqliteMachine& m) {
  sqlite3_int64 size = 0;
  unsigned char* data = sqlite3_serialize(m.connection(), "main", &size, 0);
  std::string out(reinterpret_cast<const char*>(data), static_cast<size_t>(size));
  sqlite3_free(data);
  return out;
}

std::unique_ptr<SqliteMachine> source_database() {
  auto src = make();
  src->execute(exec({S("CREATE TABLE loaded (id INTEGER PRIMARY KEY, v TEXT, b BLOB)"),
                     S("INSERT INTO loaded(v, b) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT "
                       "i + 1 FROM n WHERE i < 200) "
                       "SELECT 'row ' || i, randomblob(300) FROM n"),
                     S("CREATE INDEX loaded_v ON loaded(v)")}));
  return src;
}

// The load commands for an image cut into pieces of `piece` bytes.
std::vector<Command> load_pieces(const std::string& image, size_t piece, uint64_t id) {
  std::vector<Command> out;
  for (size_t off = 0; off < image.size(); off += piece) {
    Command c = exec({});
    c.kind = CommandKind::kLoad;
    c.load = LoadChunk{id, off, image.size(), image.substr(off, piece)};
    out.push_back(std::move(c));
  }
  return out;
}

std::shared_ptr<Collect> snapshot_of(SqliteMachine& m) {
  auto sink = std::make_shared<Collect>();
  m.snapshot(sink);
  EXPECT_TRUE(sink->ok);
  return sink;
}

Status restore_from(SqliteMachine& m, const Collect& sink) {
  return m.restore([&](uint64_t off,
                       uint64_t len) -> Result<std::string> { return sink.bytes.substr(off, len); },
                   sink.bytes.size());
}

TEST(SqliteMachine, Load_PiecesReplaceTheDatabaseAtTheLastOne) {
  auto src = source_database();
  const std::string image = image_of(*src);
  ASSERT_GT(image.size(), 3 * 4096u);
  auto m = make();
  m->apply(entry(1, exec({S("CREATE TABLE old (x)"), S("INSERT INTO old VALUES(1)")})));
  std::vector<CommandResult> seen;
  m->set_result_sink([&](const raft::Entry&, const CommandResult& r) { seen.push_back(r); });
  const auto pieces = load_pieces(image, 4096, 77);
  ASSERT_GE(pieces.size(), 3u);
  uint64_t index = 2;
  for (size_t k = 0; k + 1 < pieces.size(); ++k) {
    m->apply(entry(index++, pieces[k]));
    // Nothing changes until the last piece.
    EXPECT_EQ(m->query({S("SELECT COUNT(*) FROM old")}, false).results[0].rows[0][0],
              Value::of_int(1));
  }
  EXPECT_EQ(m->load_staged_bytes(), 4096u * (pieces.size() - 1));
  m->apply(entry(index++, pieces.back()));
  EXPECT_EQ(m->load_staged_bytes(), 0u);
  for (const auto& r : seen) {
    EXPECT_TRUE(r.error.empty()) << r.error;
    EXPECT_TRUE(r.results.empty());
  }
  EXPECT_EQ(m->digest(), src->digest());
  EXPECT_EQ(m->query({S("SELECT * FROM old")}, false).results[0].error, "no such table: old");
  // Writes go on against the loaded database.
  m->apply(entry(index++, exec({S("INSERT INTO loaded(v) VALUES('after')")})));
  EXPECT_EQ(m->query({S("SELECT COUNT(*) FROM loaded")}, false).results[0].rows[0][0],
            Value::of_int(201));
}

TEST(SqliteMachine, Load_SnapshotsCarryTheDatabaseAndAnUnfinishedLoad) {
  auto src = source_database();
  const std::string image = image_of(*src);
  const auto pieces = load_pieces(image, 4096, 5);
  auto a = make();
  a->apply(entry(1, pieces[0]));
  a->apply(entry(2, pieces[1]));
  // A snapshot in the middle of a load holds what was gathered; the restored machine finishes it.
  auto mid = snapshot_of(*a);
  EXPECT_EQ(mid->bytes.substr(0, 8), "RQSQLSN2");
  auto b = make();
  ASSERT_TRUE(restore_from(*b, *mid).ok());
  EXPECT_EQ(b->load_staged_bytes(), 8192u);
  EXPECT_EQ(b->last_applied(), 2u);
  for (size_t k = 2; k < pieces.size(); ++k) {
    a->apply(entry(k + 1, pieces[k]));
    b->apply(entry(k + 1, pieces[k]));
  }
  EXPECT_EQ(a->digest(), src->digest());
  EXPECT_EQ(b->digest(), src->digest());
  // After the load, a snapshot is the loaded database (version 1 again: nothing gathered).
  auto after = snapshot_of(*b);
  EXPECT_EQ(after->bytes.substr(0, 8), "RQSQLSN1");
  auto c = make();
  ASSERT_TRUE(restore_from(*c, *after).ok());
  EXPECT_EQ(c->digest(), src->digest());
  EXPECT_EQ(c->load_staged_bytes(), 0u);
}

TEST(SqliteMachine, Load_Determinism_SameEntriesSameResultsEverywhere) {
  auto src = source_database();
  const std::string image = image_of(*src);
  std::vector<raft::Entry> log;
  log.push_back(
      entry(1, exec({S("CREATE TABLE before (x)"), S("INSERT INTO before VALUES(random())")})));
  for (const auto& c : load_pieces(image, 5000, 9)) log.push_back(entry(log.size() + 1, c));
  log.push_back(
      entry(log.size() + 1, exec({S("INSERT INTO loaded(v, b) VALUES('x', randomblob(4))")})));
  auto run = [&] {
    auto m = make();
    std::vector<CommandResult> results;
    m->set_result_sink([&](const raft::Entry&, const CommandResult& r) { results.push_back(r); });
    for (const auto& e : log) m->apply(e);
    return std::make_pair(m->digest(), results);
  };
  const auto first = run();
  const auto second = run();
  EXPECT_EQ(first.first, second.first);
  EXPECT_EQ(first.second, second.second);
  EXPECT_NE(first.first, src->digest());  // the write after the load counts
}

TEST(SqliteMachine, Load_BadPiecesAndImagesAreRefused_DatabaseUnchanged) {
  auto src = source_database();
  const std::string image = image_of(*src);
  auto m = make();
  m->execute(exec({S("CREATE TABLE keep (x)"), S("INSERT INTO keep VALUES('kept')")}));
  const uint64_t before = m->digest();
  auto pieces = load_pieces(image, 4096, 1);
  // A piece that continues no load.
  EXPECT_EQ(m->execute(pieces[1]).error,
            "load: a piece that does not continue the load in progress");
  // Another load's piece in the middle of this one.
  EXPECT_TRUE(m->execute(pieces[0]).error.empty());
  Command other = pieces[1];
  other.load.id = 2;
  EXPECT_EQ(m->execute(other).error, "load: a piece that does not continue the load in progress");
  // A piece at offset 0 starts over; an image that is not a database is refused whole.
  std::string garbage = image;
  for (size_t i = 100; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 7);
  Command bad = exec({});
  bad.kind = CommandKind::kLoad;
  bad.load = LoadChunk{3, 0, garbage.size(), garbage};
  const std::string err = m->execute(bad).error;
  EXPECT_EQ(err.rfind("load: ", 0), 0u) << err;
  EXPECT_EQ(m->load_staged_bytes(), 0u);
  bad.load = LoadChunk{4, 0, 5, "hello"};
  EXPECT_EQ(m->execute(bad).error, "load: not a SQLite database image");
  bad.load = LoadChunk{5, 0, uint64_t{1} << 40, "x"};
  EXPECT_EQ(m->execute(bad).error.rfind("load: an image of 1099511627776 bytes", 0), 0u);
  bad.load = LoadChunk{6, 0, 3, "four"};
  EXPECT_EQ(m->execute(bad).error, "load: pieces larger than the image");
  // Another page size cannot be copied into this database: refused, the same on every replica.
  auto big = std::move(SqliteMachine::open(SqliteOptions{})).value();
  big->execute(exec({S("PRAGMA page_size=8192")}));
  big->execute(exec({S("CREATE TABLE p (x)")}));
  const std::string other_size = image_of(*big);
  bad.load = LoadChunk{7, 0, other_size.size(), other_size};
  EXPECT_EQ(m->execute(bad).error,
            "load: the image's page size (8192) differs from the database's (4096)");
  EXPECT_EQ(m->digest(), before);
}

// The server's database: the load is one transaction another connection sees all at once.
TEST(SqliteMachine, Load_FileDatabase_ReadersSeeTheNewContents) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "rq-load-test-XXXXXX").string();
  const std::string dir = ::mkdtemp(tmpl.data());
  struct Cleanup {
    std::string d;
    ~Cleanup() { std::filesystem::remove_all(d); }
  } cleanup{dir};
  SqliteOptions fo;
  fo.path = dir + "/db.sqlite";
  fo.base_vfs = "unix";
  auto f = std::move(SqliteMachine::open(fo)).value();
  f->apply(entry(1, exec({S("CREATE TABLE old (x)")})));
  sqlite3* ro = nullptr;
  ASSERT_EQ(sqlite3_open_v2(fo.path.c_str(), &ro, SQLITE_OPEN_READONLY, "unix"), SQLITE_OK);
  auto src = source_database();
  std::string image = image_of(*src);
  image[18] = image[19] = 2;  // as a WAL database's copy says (rqlite's binary backups)
  uint64_t index = 2;
  for (const auto& c : load_pieces(image, 10000, 3)) f->apply(entry(index++, c));
  EXPECT_EQ(f->digest(), src->digest());
  EXPECT_EQ(journal_mode(f->connection()), "wal");
  auto seen = run_query(ro, {S("SELECT COUNT(*) FROM loaded")}, false);
  EXPECT_EQ(seen.results.at(0).rows.at(0).at(0), Value::of_int(200));
  sqlite3_close_v2(ro);
}

// rqlite's RollbackOnError (/db/load with an SQL dump): a dump that fails halfway leaves no
// transaction of its own open; without it, every later write would join that transaction.
TEST(SqliteMachine, RollbackOnError_ClosesTheDumpsTransaction) {
  auto m = make();
  Command dump =
      exec({S("BEGIN TRANSACTION; CREATE TABLE half (x); INSERT INTO half VALUES(1); "
              "INSERT INTO nope VALUES(1); COMMIT;")});
  dump.rollback_on_error = true;
  auto r = m->execute(dump);
  ASSERT_EQ(r.results.size(), 1u);
  EXPECT_EQ(r.results[0].error, "no such table: nope");
  EXPECT_NE(sqlite3_get_autocommit(m->connection()), 0);
  EXPECT_EQ(m->query({S("SELECT * FROM half")}, false).results[0].error, "no such table: half");
  // Without the flag the transaction stays open (rqlite's "undefined behaviour").
  dump.rollback_on_error = false;
  m->execute(dump);
  EXPECT_EQ(sqlite3_get_autocommit(m->connection()), 0);
  m->execute(exec({S("ROLLBACK")}));
}

TEST(CommandCodec, LoadPiecesAndRollbackOnErrorRoundTrip) {
  Command c = exec({});
  c.kind = CommandKind::kLoad;
  c.load = LoadChunk{0xfeedULL, 4096, 10000, std::string("\0SQLite\xff", 8)};
  auto d = decode_command(encode_command(c));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, c);
  Command e = exec({S("BEGIN; SELECT 1; COMMIT;")});
  e.rollback_on_error = true;
  auto de = decode_command(encode_command(e));
  ASSERT_TRUE(de.ok());
  EXPECT_EQ(*de, e);
  // Read in place when aligned, copied when not: the same command either way.
  std::string bytes = encode_command(c);
  std::string shifted = " " + bytes;
  auto ds = decode_command(std::string_view(shifted).substr(1));
  ASSERT_TRUE(ds.ok());
  EXPECT_EQ(*ds, c);
}

TEST(CommandCodec, RoundTripAndGarbage) {
  Command c = exec({S("INSERT INTO t VALUES(?, :n)", {P(Value::of_blob(std::string("\0z", 2))), N("n", Value::of_real(1.25))})},
                   true, CommandKind::kRequest);
  c.session = 5;
  c.seq = 6;
  auto d = decode_command(encode_command(c));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, c);
  EXPECT_FALSE(decode_command("short").ok());
  EXPECT_FALSE(decode_command(std::string(64, '\xff')).ok());
  CommandResult r;
  r.error = "e";
  r.results.push_back(StatementResult{true, {"a"}, {"integer"}, {{Value::of_int(1)}}, 0, 0, ""});
  auto rd = decode_result(encode_result(r));
  ASSERT_TRUE(rd.ok());
  EXPECT_EQ(*rd, r);
}

}  // namespace
}  // namespace rq::sql
