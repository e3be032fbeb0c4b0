#include "sim/workload/workload.h"

#include <algorithm>
#include <map>
#include <set>

#include "sim/linearizability.h"

namespace rq::wl {

namespace {

const char* const kRegisterTable = "CREATE TABLE IF NOT EXISTS reg (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)";
const char* const kListTable = "CREATE TABLE IF NOT EXISTS lists (k INTEGER PRIMARY KEY, v TEXT NOT NULL)";
const char* const kAccountTable =
    "CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0))";
// No key and no UNIQUE: an insert applied twice leaves two rows, for the checker to see.
const char* const kSetTable = "CREATE TABLE IF NOT EXISTS sets (v INTEGER NOT NULL)";

bool is_missing_table(const std::string& error) { return error.rfind("no such table", 0) == 0; }

std::string first_error(const sql::CommandResult& r) {
  if (!r.error.empty()) return r.error;
  for (const auto& s : r.results) {
    if (!s.error.empty()) return s.error;
  }
  return {};
}

Completion problem(std::string why) {
  Completion c;
  c.type = EventType::kInfo;
  c.problem = std::move(why);
  return c;
}

Completion ok(Value v) {
  Completion c;
  c.value = std::move(v);
  return c;
}

// A fresh value no other client makes: the client's id, then its count.
int64_t fresh_value(ClientMemory& c) { return static_cast<int64_t>(c.id) * 1'000'000 + static_cast<int64_t>(++c.tokens); }

// The one statement result a read asks for, or a problem; `missing` when the table does not exist
// yet (nothing was written): the read saw the initial state.
const sql::StatementResult* read_result(const Op& op, const sql::CommandResult& r, bool* missing, std::string* why) {
  *missing = false;
  if (!r.error.empty()) {
    *why = r.error;
    return nullptr;
  }
  if (r.results.size() != op.req.statements.size()) {
    *why = "expected " + std::to_string(op.req.statements.size()) + " results, got " + std::to_string(r.results.size());
    return nullptr;
  }
  const sql::StatementResult& s = r.results.back();
  if (!s.error.empty()) {
    if (is_missing_table(s.error)) {
      *missing = true;
      return nullptr;
    }
    *why = s.error;
    return nullptr;
  }
  return &s;
}

// The one cell a read of one row asks for; nullptr with `*done` set when there is none: the row
// or table does not exist yet (the initial state, nil) or the answer is malformed (a problem).
const sql::Value* one_cell(const Op& op, const sql::CommandResult& r, const char* what, Completion* done) {
  bool missing = false;
  std::string why;
  const sql::StatementResult* s = read_result(op, r, &missing, &why);
  if (missing || (s != nullptr && s->rows.empty())) {
    *done = ok(Value::nil());
    return nullptr;
  }
  if (s == nullptr) {
    *done = problem(why);
    return nullptr;
  }
  if (s->rows.size() != 1 || s->rows[0].size() != 1) {
    *done = problem(std::string("a ") + what + " read returned " + std::to_string(s->rows.size()) + " rows");
    return nullptr;
  }
  return &s->rows[0][0];
}

// A write's results, or a problem: every statement ran without error.
std::string write_problem(const Op& op, const sql::CommandResult& r) {
  if (const std::string e = first_error(r); !e.empty()) return e;
  if (r.results.size() != op.req.statements.size()) {
    return "expected " + std::to_string(op.req.statements.size()) + " results, got " + std::to_string(r.results.size());
  }
  return {};
}

// ---- register, multi-register ------------------------------------------------------------------

class RegisterWorkload final : public Workload {
 public:
  RegisterWorkload(Kind k, Shape s) : Workload(k, s) {}

  bool multi() const { return kind() == Kind::kMultiRegister; }

  Op next(ClientMemory& c, Prng& prng) const override {
    const uint64_t roll = prng.below(100);
    const int64_t k = multi() ? static_cast<int64_t>(prng.below(shape().keys)) : 0;
    const int64_t fresh = fresh_value(c);
    if (roll < 50) return read_op(k);
    Op op;
    if (multi()) op.key = std::to_string(k);
    if (roll < 75) {
      op.f = "write";
      op.input = Value::integer(fresh);
      op.req.statements = {statement(kRegisterTable),
                           statement("INSERT INTO reg (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                                     {sql::Value::of_int(k), sql::Value::of_int(fresh)})};
    } else {
      op.f = "cas";
      op.input = Value::list({Value::integer(c.last_seen), Value::integer(fresh)});
      op.req.statements = {statement(kRegisterTable),
                           statement("UPDATE reg SET v = ? WHERE k = ? AND v = ?",
                                     {sql::Value::of_int(fresh), sql::Value::of_int(k), sql::Value::of_int(c.last_seen)})};
    }
    return op;
  }

  std::vector<Op> final_reads() const override {
    std::vector<Op> ops;
    for (size_t k = 0; k < (multi() ? shape().keys : 1); ++k) ops.push_back(read_op(static_cast<int64_t>(k)));
    return ops;
  }

  Completion interpret(const Op& op, const sql::CommandResult& r) const override {
    if (op.is_read) {
      Completion done;
      const sql::Value* v = one_cell(op, r, "register", &done);
      if (v == nullptr) return done;
      if (v->kind != sql::Value::Kind::kInteger) return problem("a register is not an integer");
      return ok(Value::integer(v->integer));
    }
    if (std::string why = write_problem(op, r); !why.empty()) return problem(why);
    const int64_t changed = r.results[1].rows_affected;
    if (op.f == "cas") {
      if (changed == 1) return ok(op.input);
      if (changed == 0) return ok(Value::boolean(false));  // ran, and found another value
      return problem("cas changed " + std::to_string(changed) + " rows");
    }
    if (changed != 1) return problem("write changed " + std::to_string(changed) + " rows");
    return ok(op.input);
  }

 protected:
  std::optional<Finding> check_invariants(const sim::History&, uint64_t) const override { return std::nullopt; }

 private:
  Op read_op(int64_t k) const {
    Op op;
    op.f = "read";
    op.is_read = true;
    if (multi()) op.key = std::to_string(k);
    op.req.statements = {statement("SELECT v FROM reg WHERE k = ?", {sql::Value::of_int(k)})};
    return op;
  }
};

// ---- bank --------------------------------------------------------------------------------------

class BankWorkload final : public Workload {
 public:
  explicit BankWorkload(Shape s) : Workload(Kind::kBank, s) {}

  Op next(ClientMemory&, Prng& prng) const override {
    if (prng.below(100) < 40) return read_op();
    Op op;
    op.f = "transfer";
    const auto n = static_cast<int64_t>(shape().accounts);
    const auto from = static_cast<int64_t>(prng.below(shape().accounts));
    const int64_t to = (from + 1 + static_cast<int64_t>(prng.below(static_cast<uint64_t>(n - 1)))) % n;
    const auto amount = static_cast<int64_t>(prng.range(1, static_cast<uint64_t>(shape().initial_balance / 2)));
    op.input = Value::list({Value::integer(from), Value::integer(to), Value::integer(amount)});
    std::string seed = "INSERT OR IGNORE INTO accounts (id, balance) VALUES ";
    for (int64_t a = 0; a < n; ++a) {
      seed += (a == 0 ? "(" : ", (") + std::to_string(a) + ", " + std::to_string(shape().initial_balance) + ")";
    }
    op.req.statements = {statement(kAccountTable), statement(seed),
                         statement("UPDATE accounts SET balance = balance - ? WHERE id = ?",
                                   {sql::Value::of_int(amount), sql::Value::of_int(from)}),
                         statement("UPDATE accounts SET balance = balance + ? WHERE id = ?",
                                   {sql::Value::of_int(amount), sql::Value::of_int(to)})};
    op.req.transaction = true;
    return op;
  }

  std::vector<Op> final_reads() const override { return {read_op()}; }

  Completion interpret(const Op& op, const sql::CommandResult& r) const override {
    if (op.is_read) {
      bool missing = false;
      std::string why;
      const sql::StatementResult* s = read_result(op, r, &missing, &why);
      if (missing) return ok(Value::list({}));
      if (s == nullptr) return problem(why);
      std::vector<Value> balances;
      for (const auto& row : s->rows) {
        if (row.size() != 2 || row[1].kind != sql::Value::Kind::kInteger) return problem("malformed accounts row");
        balances.push_back(Value::integer(row[1].integer));
      }
      return ok(Value::list(std::move(balances)));
    }
    const std::string e = first_error(r);
    if (e.find("CHECK constraint failed") != std::string::npos) {
      // The transaction ran, the CHECK refused it and it rolled back: it did not happen.
      Completion c;
      c.type = EventType::kFail;
      c.value = op.input;
      return c;
    }
    if (std::string why = write_problem(op, r); !why.empty()) return problem(why);
    return ok(op.input);
  }

 protected:
  bool has_model() const override { return false; }

  std::optional<Finding> check_invariants(const sim::History& h, uint64_t) const override {
    const int64_t expected = static_cast<int64_t>(shape().accounts) * shape().initial_balance;
    for (const sim::Operation& op : h.ops) {
      if (op.f != "read" || op.outcome != sim::Outcome::kOk || op.output.kind != Value::Kind::kList) continue;
      const auto& items = op.output.items;
      if (items.empty()) continue;  // before the first transfer created the accounts
      int64_t total = 0;
      bool negative = false;
      for (const Value& b : items) {
        total += b.i;
        negative = negative || b.i < 0;
      }
      if (items.size() != shape().accounts || total != expected || negative) {
        return Finding{"balance-not-conserved", sim::describe(op) + ": total " + std::to_string(total) + " in " +
                                                    std::to_string(items.size()) + " accounts, expected " +
                                                    std::to_string(expected) + " in " +
                                                    std::to_string(shape().accounts) +
                                                    (negative ? ", and a negative balance" : ""),
                       op.ret};
      }
    }
    return std::nullopt;
  }

 private:
  static Op read_op() {
    Op op;
    op.f = "read";
    op.is_read = true;
    op.req.statements = {statement("SELECT id, balance FROM accounts ORDER BY id")};
    return op;
  }
};

// ---- elements: append and set ------------------------------------------------------------------

// The elements a read returned, one entry each (so duplicates show).
std::vector<std::string> elements_of(Kind kind, const Value& v) {
  std::vector<std::string> out;
  if (kind == Kind::kAppend) {
    if (v.kind != Value::Kind::kString) return out;
    size_t at = 0;
    while (at < v.s.size()) {
      const size_t sp = v.s.find(' ', at);
      const size_t end = sp == std::string::npos ? v.s.size() : sp;
      if (end > at) out.push_back(v.s.substr(at, end - at));
      at = end + 1;
    }
    return out;
  }
  for (const Value& x : v.items) out.push_back(x.to_edn());
  return out;
}

std::string element_of_write(Kind kind, const Value& input) {
  if (kind == Kind::kAppend) {
    std::string s = input.s;
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  }
  return input.to_edn();
}

// A read, without the (long) value it returned.
std::string brief(const sim::Operation& op) {
  std::string s = "read by process " + std::to_string(op.process);
  if (op.key) s += " of key " + *op.key;
  return s + " (events " + std::to_string(op.call) + "-" + std::to_string(op.ret) + ")";
}

// Jepsen's set checker, per key, over every read (a read never holds an element twice, nor one
// no write tried or one whose write failed) and over the final reads (each holds every element
// acknowledged before it was invoked).
std::optional<Finding> check_elements(Kind kind, const sim::History& h, uint64_t final_from, const char* write_f) {
  struct Written {
    sim::Outcome outcome;
    uint64_t ret;
  };
  std::map<std::optional<std::string>, std::map<std::string, Written>> writes;
  for (const sim::Operation& op : h.ops) {
    if (op.f == write_f) writes[op.key][element_of_write(kind, op.input)] = Written{op.outcome, op.ret};
  }
  for (const sim::Operation& op : h.ops) {
    if (op.f == write_f || op.outcome != sim::Outcome::kOk) continue;
    const auto& tried = writes[op.key];
    std::set<std::string> seen;
    for (const std::string& e : elements_of(kind, op.output)) {
      if (!seen.insert(e).second) {
        return Finding{"duplicated", "element " + e + " twice in " + brief(op), op.ret};
      }
      auto it = tried.find(e);
      if (it == tried.end() || it->second.outcome == sim::Outcome::kFailed) {
        return Finding{"unexpected",
                       "element " + e + (it == tried.end() ? " never written" : " whose write failed") + " in " +
                           brief(op),
                       op.ret};
      }
    }
    if (op.call < final_from) continue;
    std::vector<std::string> lost;
    for (const auto& [e, w] : tried) {
      if (w.outcome == sim::Outcome::kOk && w.ret < op.call && seen.count(e) == 0) lost.push_back(e);
    }
    if (!lost.empty()) {
      std::string list;
      for (size_t i = 0; i < lost.size() && i < 10; ++i) list += (i == 0 ? "" : " ") + lost[i];
      if (lost.size() > 10) list += " ...";
      return Finding{"lost",
                     std::to_string(lost.size()) + " acknowledged element(s) missing from final " + brief(op) +
                         ": " + list,
                     op.ret};
    }
  }
  return std::nullopt;
}

class AppendWorkload final : public Workload {
 public:
  explicit AppendWorkload(Shape s) : Workload(Kind::kAppend, s) {}

  Op next(ClientMemory& c, Prng& prng) const override {
    const uint64_t roll = prng.below(100);
    const auto k = static_cast<int64_t>(prng.below(shape().keys));
    if (roll < 50) return get_op(k);
    Op op;
    op.f = "append";
    op.key = std::to_string(k);
    const std::string token = std::to_string(c.id) + "." + std::to_string(++c.tokens) + " ";
    op.input = Value::string(token);
    op.req.statements = {statement(kListTable),
                         statement("INSERT INTO lists (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = v || excluded.v",
                                   {sql::Value::of_int(k), sql::Value::of_text(token)})};
    return op;
  }

  std::vector<Op> final_reads() const override {
    std::vector<Op> ops;
    for (size_t k = 0; k < shape().keys; ++k) ops.push_back(get_op(static_cast<int64_t>(k)));
    return ops;
  }

  Completion interpret(const Op& op, const sql::CommandResult& r) const override {
    if (op.is_read) {
      Completion done;
      const sql::Value* v = one_cell(op, r, "list", &done);
      if (v == nullptr) return done;
      if (v->kind != sql::Value::Kind::kText) return problem("a list is not text");
      return ok(Value::string(v->bytes));
    }
    if (std::string why = write_problem(op, r); !why.empty()) return problem(why);
    if (r.results[1].rows_affected != 1) {
      return problem("append changed " + std::to_string(r.results[1].rows_affected) + " rows");
    }
    return ok(op.input);
  }

 protected:
  bool linearizable_as_kv() const override { return true; }
  std::optional<Finding> check_invariants(const sim::History& h, uint64_t final_from) const override {
    return check_elements(Kind::kAppend, h, final_from, "append");
  }

 private:
  static Op get_op(int64_t k) {
    Op op;
    op.f = "get";
    op.is_read = true;
    op.key = std::to_string(k);
    op.req.statements = {statement("SELECT v FROM lists WHERE k = ?", {sql::Value::of_int(k)})};
    return op;
  }
};

class SetWorkload final : public Workload {
 public:
  explicit SetWorkload(Shape s) : Workload(Kind::kSet, s) {}

  Op next(ClientMemory& c, Prng&) const override {
    Op op;
    op.f = "add";
    const int64_t v = fresh_value(c);
    op.input = Value::integer(v);
    op.req.statements = {statement(kSetTable), statement("INSERT INTO sets (v) VALUES (?)", {sql::Value::of_int(v)})};
    return op;
  }

  std::vector<Op> final_reads() const override {
    Op op;
    op.f = "read";
    op.is_read = true;
    op.req.statements = {statement("SELECT v FROM sets ORDER BY v")};
    return {op};
  }
  Level final_level() const override { return Level::kStrong; }

  Completion interpret(const Op& op, const sql::CommandResult& r) const override {
    if (op.is_read) {
      bool missing = false;
      std::string why;
      const sql::StatementResult* s = read_result(op, r, &missing, &why);
      if (missing) return ok(Value::list({}));
      if (s == nullptr) return problem(why);
      std::vector<Value> items;
      for (const auto& row : s->rows) {
        if (row.size() != 1 || row[0].kind != sql::Value::Kind::kInteger) return problem("malformed set row");
        items.push_back(Value::integer(row[0].integer));
      }
      return ok(Value::list(std::move(items)));
    }
    if (std::string why = write_problem(op, r); !why.empty()) return problem(why);
    if (r.results[1].rows_affected != 1) {
      return problem("add changed " + std::to_string(r.results[1].rows_affected) + " rows");
    }
    return ok(op.input);
  }

 protected:
  bool has_model() const override { return false; }
  std::optional<Finding> check_invariants(const sim::History& h, uint64_t final_from) const override {
    bool any_final = false;
    for (const sim::Operation& op : h.ops) {
      any_final = any_final || (op.f == "read" && op.outcome == sim::Outcome::kOk && op.call >= final_from);
    }
    if (auto f = check_elements(Kind::kSet, h, final_from, "add")) return f;
    if (!any_final) return Finding{"no-final-read", "no final read succeeded: nothing shows what the set holds"};
    return std::nullopt;
  }
};

}  // namespace

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kRegister:
      return "register";
    case Kind::kMultiRegister:
      return "multi-register";
    case Kind::kBank:
      return "bank";
    case Kind::kAppend:
      return "append";
    case Kind::kSet:
      return "set";
  }
  return "?";
}

std::optional<Kind> kind_from_name(std::string_view s) {
  for (Kind k : {Kind::kRegister, Kind::kMultiRegister, Kind::kBank, Kind::kAppend, Kind::kSet}) {
    if (s == kind_name(k)) return k;
  }
  return std::nullopt;
}

sql::Statement statement(std::string text, std::vector<sql::Value> params) {
  sql::Statement s;
  s.sql = std::move(text);
  for (auto& v : params) s.params.push_back(sql::Param{"", std::move(v)});
  return s;
}

std::unique_ptr<Workload> Workload::make(Kind k, Shape s) {
  switch (k) {
    case Kind::kRegister:
    case Kind::kMultiRegister:
      return std::make_unique<RegisterWorkload>(k, s);
    case Kind::kBank:
      return std::make_unique<BankWorkload>(s);
    case Kind::kAppend:
      return std::make_unique<AppendWorkload>(s);
    case Kind::kSet:
      return std::make_unique<SetWorkload>(s);
  }
  return nullptr;
}

std::optional<Finding> Workload::check(const std::vector<sim::Event>& events, uint64_t final_from) const {
  auto h = sim::history_from_events(events);
  if (!h) return Finding{"history-malformed", h.error().message};
  if (auto f = check_invariants(*h, final_from)) return f;
  if (!has_model()) return std::nullopt;
  sim::Model m;
  m.kind = linearizable_as_kv() ? sim::ModelKind::kKv : sim::ModelKind::kSqlRegister;
  sim::CheckOptions co;
  co.limits.memory_bytes_max = 1ull << 30;
  auto rep = sim::check_history(*h, m, co);
  if (!rep) return Finding{"history-malformed", rep.error().message};
  switch (rep->verdict) {
    case sim::Verdict::kLinearizable:
      return std::nullopt;
    case sim::Verdict::kGaveUp:
      return Finding{"checker-gave-up", rep->gave_up};
    case sim::Verdict::kNotLinearizable:
      break;
  }
  std::string detail;
  if (rep->failing_key) detail += "key " + *rep->failing_key + ": ";
  detail += std::to_string(rep->failing.ops.size()) + " operations, the last: ";
  // The completion no order explains is the last to return in the shortest failing prefix.
  const sim::Operation* last = nullptr;
  for (const auto& op : rep->failing.ops) {
    if (op.ret != sim::kNeverReturned && (last == nullptr || op.ret > last->ret)) last = &op;
  }
  Finding f{"not-linearizable", detail};
  if (last != nullptr) {
    f.detail += sim::describe(*last);
    f.event = last->ret;
  }
  return f;
}

}  // namespace rq::wl
