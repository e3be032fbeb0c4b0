#include "sim/sql_workload.h"

#include <boost/json.hpp>

#include "sim/linearizability.h"

namespace rq::sim {

namespace {

const char* const kRegisterTable = "CREATE TABLE IF NOT EXISTS reg (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)";
const char* const kListTable = "CREATE TABLE IF NOT EXISTS lists (k INTEGER PRIMARY KEY, v TEXT NOT NULL)";
const char* const kAccountTable =
    "CREATE TABLE IF NOT EXISTS accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0))";

sql::Statement stmt(std::string text, std::vector<sql::Value> params = {}) {
  sql::Statement s;
  s.sql = std::move(text);
  for (auto& v : params) s.params.push_back(sql::Param{"", std::move(v)});
  return s;
}

bool is_missing_table(const std::string& error) { return error.rfind("no such table", 0) == 0; }

std::string first_error(const sql::CommandResult& r) {
  if (!r.error.empty()) return r.error;
  for (const auto& s : r.results) {
    if (!s.error.empty()) return s.error;
  }
  return {};
}

}  // namespace

SqlWorkload::SqlWorkload(EventQueue& q, Prng prng, SqlWorkloadOptions o, Submit submit, OnAck on_ack)
    : q_(q), prng_(prng), o_(o), submit_(std::move(submit)), on_ack_(std::move(on_ack)), clients_(o.clients) {
  for (size_t c = 0; c < clients_.size(); ++c) {
    Client& cl = clients_[c];
    cl.id = c + 1;
    cl.process = next_process_++;
    // A session id no other client (or run) shares.
    cl.session = prng_.next_u64() | 1;
  }
}

NodeId SqlWorkload::random_node() { return NodeId(prng_.range(1, o_.nodes)); }

NodeId SqlWorkload::pick_node(const Op& op) {
  if (!focused()) return random_node();
  if (!targets_leader(op)) return focus_;
  if (o_.nodes < 2) return random_node();
  NodeId n = NodeId(prng_.range(1, o_.nodes - 1));
  if (n.v >= focus_.v) n = NodeId(n.v + 1);
  return n;
}

void SqlWorkload::start() {
  for (size_t c = 0; c < clients_.size(); ++c) schedule_next(c, Duration(static_cast<int64_t>(prng_.below(1'000'000))));
}

void SqlWorkload::schedule_next(size_t c, Duration after) {
  const uint64_t attempt = ++clients_[c].attempt;
  q_.after(after, [this, c, attempt] {
    if (clients_[c].attempt == attempt) begin_op(c);
  });
}

SqlWorkload::Op SqlWorkload::make_op(Client& cl) {
  Op op;
  const uint64_t roll = prng_.below(100);
  auto key_of = [&](size_t keys) { return static_cast<int64_t>(prng_.below(keys)); };
  switch (o_.kind) {
    case WorkloadKind::kRegister:
    case WorkloadKind::kMultiRegister: {
      const int64_t k = o_.kind == WorkloadKind::kRegister ? 0 : key_of(o_.keys);
      if (o_.kind == WorkloadKind::kMultiRegister) op.key = std::to_string(k);
      const int64_t fresh = static_cast<int64_t>(cl.id) * 1'000'000 + static_cast<int64_t>(++cl.tokens);
      if (roll < 50) {
        op.f = "read";
        op.is_read = true;
        op.req.statements = {stmt("SELECT v FROM reg WHERE k = ?", {sql::Value::of_int(k)})};
      } else if (roll < 75) {
        op.f = "write";
        op.input = Value::integer(fresh);
        op.req.statements = {stmt(kRegisterTable),
                             stmt("INSERT INTO reg (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                                  {sql::Value::of_int(k), sql::Value::of_int(fresh)})};
      } else {
        op.f = "cas";
        op.input = Value::list({Value::integer(cl.last_seen), Value::integer(fresh)});
        op.req.statements = {stmt(kRegisterTable), stmt("UPDATE reg SET v = ? WHERE k = ? AND v = ?",
                                                        {sql::Value::of_int(fresh), sql::Value::of_int(k),
                                                         sql::Value::of_int(cl.last_seen)})};
      }
      break;
    }
    case WorkloadKind::kAppend: {
      const int64_t k = key_of(o_.keys);
      op.key = std::to_string(k);
      if (roll < 50) {
        op.f = "get";
        op.is_read = true;
        op.req.statements = {stmt("SELECT v FROM lists WHERE k = ?", {sql::Value::of_int(k)})};
      } else {
        op.f = "append";
        const std::string token = std::to_string(cl.id) + "." + std::to_string(++cl.tokens) + " ";
        op.input = Value::string(token);
        op.req.statements = {
            stmt(kListTable), stmt("INSERT INTO lists (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = v || excluded.v",
                                   {sql::Value::of_int(k), sql::Value::of_text(token)})};
      }
      break;
    }
    case WorkloadKind::kBank: {
      if (roll < 40) {
        op.f = "read";
        op.is_read = true;
        op.req.statements = {stmt("SELECT id, balance FROM accounts ORDER BY id")};
      } else {
        op.f = "transfer";
        const auto n = static_cast<int64_t>(o_.accounts);
        const int64_t from = key_of(o_.accounts);
        const int64_t to = (from + 1 + static_cast<int64_t>(prng_.below(static_cast<uint64_t>(n - 1)))) % n;
        const auto amount = static_cast<int64_t>(prng_.range(1, static_cast<uint64_t>(o_.initial_balance / 2)));
        op.input = Value::list({Value::integer(from), Value::integer(to), Value::integer(amount)});
        std::string seed = "INSERT OR IGNORE INTO accounts (id, balance) VALUES ";
        for (int64_t a = 0; a < n; ++a) {
          seed += (a == 0 ? "(" : ", (") + std::to_string(a) + ", " + std::to_string(o_.initial_balance) + ")";
        }
        op.req.statements = {stmt(kAccountTable), stmt(seed),
                             stmt("UPDATE accounts SET balance = balance - ? WHERE id = ?",
                                  {sql::Value::of_int(amount), sql::Value::of_int(from)}),
                             stmt("UPDATE accounts SET balance = balance + ? WHERE id = ?",
                                  {sql::Value::of_int(amount), sql::Value::of_int(to)})};
        op.req.transaction = true;
      }
      break;
    }
    case WorkloadKind::kRaft:
      RQ_ASSERT(false);
  }
  // Some requests go to the unified endpoint, which classifies each statement itself.
  const bool unified = prng_.below(4) == 0;
  op.req.kind = unified ? sql::CommandKind::kRequest : op.is_read ? sql::CommandKind::kQuery : sql::CommandKind::kExecute;
  op.req.level = o_.read_level;
  // Most requests let a follower forward them to the leader; some ask for a redirect instead.
  op.req.redirect = prng_.below(4) == 0;
  // The node gives up a little before the client does, so the client usually hears "unknown".
  op.req.timeout = o_.attempt_timeout * 3 / 4;
  if (!op.is_read) {
    op.req.session = cl.session;
    op.req.seq = ++cl.seq;
  }
  return op;
}

bool SqlWorkload::targets_leader(const Op& op) const {
  return !op.is_read || o_.read_level == svc::ReadLevel::kLinearizable || o_.read_level == svc::ReadLevel::kStrong;
}

void SqlWorkload::begin_op(size_t c) {
  if (stopped_) return;
  Client& cl = clients_[c];
  cl.op = make_op(cl);
  cl.invoked = q_.now();
  cl.attempts_left = o_.max_attempts;
  ++stats_.invoked;
  ++(cl.op->is_read ? stats_.reads : stats_.writes);
  record(cl.process, EventType::kInvoke, *cl.op, cl.op->is_read ? Value::nil() : cl.op->input, NodeId{});
  // A third of the time even a leader-bound request goes to any node (a load-balanced client),
  // which forwards it.
  if (!targets_leader(*cl.op) || !cl.belief.valid() || prng_.below(3) == 0 || (focused() && cl.belief == focus_)) {
    cl.belief = pick_node(*cl.op);
  }
  send_attempt(c);
}

void SqlWorkload::send_attempt(size_t c) {
  Client& cl = clients_[c];
  const uint64_t attempt = ++cl.attempt;
  --cl.attempts_left;
  ++stats_.attempts;
  const NodeId target = cl.belief;
  q_.after(o_.attempt_timeout, [this, c, attempt] {
    Client& me = clients_[c];
    if (me.attempt != attempt) return;
    // No answer: the request or its reply was lost, or the node is down or cut off.
    ++stats_.attempt_timeouts;
    me.op->maybe_applied = true;
    retry(c, Duration{0}, true);
  });
  submit_(target, cl.op->req, [this, c, attempt, target](svc::Response r) { on_reply(c, attempt, target, r); });
}

void SqlWorkload::retry(size_t c, Duration after, bool pick_random) {
  Client& cl = clients_[c];
  if (cl.attempts_left <= 0) {
    out_of_attempts(c);
    return;
  }
  if (pick_random) cl.belief = pick_node(*cl.op);
  const uint64_t attempt = ++cl.attempt;
  q_.after(after, [this, c, attempt] {
    if (clients_[c].attempt == attempt) send_attempt(c);
  });
}

void SqlWorkload::out_of_attempts(size_t c) {
  Client& cl = clients_[c];
  if (cl.op->is_read || cl.op->maybe_applied) {
    complete(c, EventType::kInfo, cl.op->is_read ? Value::nil() : cl.op->input, NodeId{});
  } else {
    complete(c, EventType::kFail, cl.op->input, NodeId{});
  }
}

void SqlWorkload::on_reply(size_t c, uint64_t attempt, NodeId target, const svc::Response& r) {
  Client& cl = clients_[c];
  if (cl.attempt != attempt || !cl.op) return;  // that attempt already timed out
  ++cl.attempt;                                   // this one is answered: its timer must not fire
  const Duration backoff = o_.think + std::chrono::milliseconds(5);
  switch (r.status) {
    case svc::Status::kOk: {
      std::string problem;
      std::optional<Value> v = interpret(*cl.op, r.result, &problem);
      if (!v) {
        if (problem == "insufficient funds") {
          // The transfer ran and changed nothing: it did not happen.
          complete(c, EventType::kFail, cl.op->input, target);
          return;
        }
        note_finding("sql-error", "client " + std::to_string(cl.id) + " " + cl.op->f + " at n" +
                                      std::to_string(target.v) + ": " + problem);
        complete(c, EventType::kInfo, cl.op->input, target);
        return;
      }
      if (!cl.op->is_read && r.raft_index.v != 0) {
        on_ack_(r.raft_index, r.raft_term);
        if (cl.invoked >= fresh_after_ && !first_fresh_ack_) first_fresh_ack_ = q_.now();
      }
      complete(c, EventType::kOk, *v, target);
      return;
    }
    case svc::Status::kNotLeader:
      ++stats_.redirects;
      if (r.leader.valid() && r.leader != target) {
        cl.belief = r.leader;
        retry(c, std::chrono::microseconds(1), false);
      } else {
        retry(c, backoff, true);
      }
      return;
    case svc::Status::kNoLeader:
      ++stats_.no_leader;
      retry(c, backoff, true);
      return;
    case svc::Status::kUnknown:
      ++stats_.attempt_unknown;
      cl.op->maybe_applied = true;
      retry(c, backoff, true);
      return;
    case svc::Status::kFailed:
    case svc::Status::kError:
      // Definitely not applied (this attempt); earlier ones may still be.
      retry(c, backoff, false);
      return;
  }
}

std::optional<Value> SqlWorkload::interpret(const Op& op, const sql::CommandResult& r, std::string* problem) {
  if (!r.error.empty()) {
    *problem = r.error;
    return std::nullopt;
  }
  const size_t want = op.req.statements.size();
  if (r.results.size() != want && !(op.req.transaction && !first_error(r).empty())) {
    *problem = "expected " + std::to_string(want) + " results, got " + std::to_string(r.results.size());
    return std::nullopt;
  }
  if (op.f == "read" && o_.kind == WorkloadKind::kBank) {
    const sql::StatementResult& s = r.results[0];
    if (!s.error.empty()) {
      if (is_missing_table(s.error)) return Value::nil();
      *problem = s.error;
      return std::nullopt;
    }
    int64_t total = 0;
    std::vector<Value> balances;
    for (const auto& row : s.rows) {
      if (row.size() != 2 || row[1].kind != sql::Value::Kind::kInteger) {
        *problem = "malformed accounts row";
        return std::nullopt;
      }
      total += row[1].integer;
      balances.push_back(Value::integer(row[1].integer));
      if (row[1].integer < 0) note_finding("balance-not-conserved", "negative balance in a read");
    }
    const int64_t expected = static_cast<int64_t>(o_.accounts) * o_.initial_balance;
    if (!s.rows.empty() && (s.rows.size() != o_.accounts || total != expected)) {
      std::string got;
      for (const auto& b : balances) got += (got.empty() ? "" : " ") + b.to_edn();
      note_finding("balance-not-conserved", "a read saw [" + got + "] (total " + std::to_string(total) +
                                                ", accounts " + std::to_string(s.rows.size()) + "), expected total " +
                                                std::to_string(expected) + " in " + std::to_string(o_.accounts) +
                                                " accounts");
    }
    return Value::list(std::move(balances));
  }
  if (op.is_read) {
    const sql::StatementResult& s = r.results[0];
    if (!s.error.empty()) {
      if (is_missing_table(s.error)) return Value::nil();
      *problem = s.error;
      return std::nullopt;
    }
    if (s.rows.empty()) return Value::nil();
    if (s.rows.size() != 1 || s.rows[0].size() != 1) {
      *problem = "a key read returned " + std::to_string(s.rows.size()) + " rows";
      return std::nullopt;
    }
    const sql::Value& v = s.rows[0][0];
    if (o_.kind == WorkloadKind::kAppend) {
      if (v.kind != sql::Value::Kind::kText) {
        *problem = "a list is not text";
        return std::nullopt;
      }
      return Value::string(v.bytes);
    }
    if (v.kind != sql::Value::Kind::kInteger) {
      *problem = "a register is not an integer";
      return std::nullopt;
    }
    return Value::integer(v.integer);
  }
  if (const std::string e = first_error(r); !e.empty()) {
    *problem = e.find("CHECK constraint failed") != std::string::npos && o_.kind == WorkloadKind::kBank
                   ? "insufficient funds"
                   : e;
    return std::nullopt;
  }
  if (op.f == "cas") {
    const int64_t changed = r.results[1].rows_affected;
    if (changed == 1) return op.input;
    if (changed == 0) return Value::boolean(false);
    *problem = "cas changed " + std::to_string(changed) + " rows";
    return std::nullopt;
  }
  if (op.f == "write" && r.results[1].rows_affected != 1) {
    *problem = "write changed " + std::to_string(r.results[1].rows_affected) + " rows";
    return std::nullopt;
  }
  return op.input;
}

void SqlWorkload::complete(size_t c, EventType type, Value value, NodeId at) {
  Client& cl = clients_[c];
  Op op = std::move(*cl.op);
  cl.op.reset();
  ++cl.attempt;
  record(cl.process, type, op, value, at);
  switch (type) {
    case EventType::kOk:
      ++stats_.ok;
      if (value.kind == Value::Kind::kInt) cl.last_seen = value.i;
      if (op.f == "cas" && value.kind == Value::Kind::kList) cl.last_seen = value.items[1].i;
      break;
    case EventType::kFail:
      ++stats_.failed;
      break;
    default:
      ++stats_.unknown;
      // Jepsen's rule: after an unknown outcome the process id is not used again.
      cl.process = next_process_++;
      break;
  }
  schedule_next(c, o_.think);
}

void SqlWorkload::record(uint64_t process, EventType t, const Op& op, Value v, NodeId at) {
  Event e;
  e.process = process;
  e.type = t;
  e.f = op.f;
  e.key = op.key;
  e.value = std::move(v);
  events_.push_back(TimedEvent{q_.now(), std::move(e), at});
}

void SqlWorkload::note_finding(const std::string& reason, const std::string& detail) {
  if (!finding_) finding_ = Finding{reason, detail};
}

std::optional<SqlWorkload::Finding> SqlWorkload::check() const {
  if (finding_) return finding_;
  if (o_.kind == WorkloadKind::kBank) return std::nullopt;  // checked read by read
  std::vector<Event> evs;
  evs.reserve(events_.size());
  for (const auto& te : events_) evs.push_back(te.event);
  auto h = history_from_events(evs);
  if (!h) return Finding{"history-malformed", h.error().message};
  Model m;
  m.kind = o_.kind == WorkloadKind::kAppend ? ModelKind::kKv : ModelKind::kSqlRegister;
  CheckOptions co;
  co.limits.memory_bytes_max = 1ull << 30;
  auto rep = check_history(*h, m, co);
  if (!rep) return Finding{"history-malformed", rep.error().message};
  switch (rep->verdict) {
    case Verdict::kLinearizable:
      return std::nullopt;
    case Verdict::kGaveUp:
      return Finding{"checker-gave-up", rep->gave_up};
    case Verdict::kNotLinearizable:
      break;
  }
  std::string detail;
  if (rep->failing_key) detail += "key " + *rep->failing_key + ": ";
  detail += std::to_string(rep->failing.ops.size()) + " operations, the last: ";
  // The completion no order explains is the last to return in the shortest failing prefix.
  const Operation* last = nullptr;
  for (const auto& op : rep->failing.ops) {
    if (op.ret != kNeverReturned && (last == nullptr || op.ret > last->ret)) last = &op;
  }
  if (last != nullptr) {
    detail += describe(*last);
    const TimedEvent& te = events_[last->ret];
    detail += " answered by n" + std::to_string(te.node.v) + " at t=" +
              std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(te.at).count()) + "us";
  }
  return Finding{"not-linearizable", detail};
}

std::string history_to_jsonl(const std::vector<TimedEvent>& events) {
  std::string out;
  for (const auto& te : events) {
    boost::json::object o;
    o["process"] = te.event.process;
    o["type"] = event_type_name(te.event.type);
    o["f"] = te.event.f;
    if (te.event.key) o["key"] = *te.event.key;
    auto to_json = [](const auto& self, const Value& v) -> boost::json::value {
      switch (v.kind) {
        case Value::Kind::kNil:
          return nullptr;
        case Value::Kind::kBool:
          return v.b;
        case Value::Kind::kInt:
          return v.i;
        case Value::Kind::kString:
        case Value::Kind::kKeyword:
          return boost::json::value(v.s);
        case Value::Kind::kList: {
          boost::json::array a;
          for (const auto& x : v.items) a.push_back(self(self, x));
          return a;
        }
      }
      return nullptr;
    };
    o["value"] = to_json(to_json, te.event.value);
    o["time"] = std::chrono::duration_cast<std::chrono::microseconds>(te.at).count();
    if (te.node.valid()) o["node"] = te.node.v;
    out += boost::json::serialize(o);
    out += '\n';
  }
  return out;
}

}  // namespace rq::sim
