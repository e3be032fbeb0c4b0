#include "sim/workload/runner.h"

#include <map>

#include <boost/json.hpp>

namespace rq::wl {

Runner::Runner(Client& client, const Workload& w, Prng prng, RunnerOptions o, OnAck on_ack)
    : client_(client), w_(w), prng_(prng), o_(o), on_ack_(std::move(on_ack)), slots_(o.clients), workers_(o.clients) {
  RQ_ASSERT(o_.nodes >= 1);
  for (size_t c = 0; c < slots_.size(); ++c) {
    Slot& s = slots_[c];
    s.mem.id = c + 1;
    s.process = next_process_++;
    // A session id no other client (or run) shares.
    s.session = prng_.next_u64() | 1;
    if (o_.bound) s.home = static_cast<int>(c % o_.nodes) + 1;
  }
}

int Runner::random_node() { return static_cast<int>(prng_.range(1, o_.nodes)); }

int Runner::pick_node(const Slot& s) {
  if (s.home != 0) return s.home;
  if (!focused()) return random_node();
  if (!targets_leader(s)) return focus_;
  if (o_.nodes < 2) return random_node();
  int n = static_cast<int>(prng_.range(1, o_.nodes - 1));
  if (n >= focus_) ++n;
  return n;
}

bool Runner::targets_leader(const Slot& s) const {
  return !s.op->is_read || level_is_linearizable(s.op->req.level);
}

bool Runner::out_of_time(const Slot& s) const {
  const Duration now = client_.now();
  if (s.final) return now >= s.final_deadline;
  return o_.op_timeout > Duration{0} && now - s.invoked >= o_.op_timeout;
}

size_t Runner::in_flight() const {
  size_t n = 0;
  for (const Slot& s : slots_) n += s.op.has_value() ? 1 : 0;
  return n;
}

void Runner::start() {
  for (size_t c = 0; c < workers_; ++c) schedule_next(c, Duration(static_cast<int64_t>(prng_.below(1'000'000))));
}

void Runner::schedule_next(size_t c, Duration after) {
  const uint64_t attempt = ++slots_[c].attempt;
  client_.after(after, [this, c, attempt] {
    if (slots_[c].attempt == attempt) begin_op(c);
  });
}

void Runner::prepare(Slot& s, Op& op) {
  Request& r = op.req;
  if (s.final) {
    r.endpoint = Endpoint::kQuery;
    r.level = w_.final_level();
    r.redirect = false;
  } else {
    // Some requests go to the unified endpoint, which classifies each statement itself.
    const bool unified = prng_.below(4) == 0;
    r.endpoint = unified ? Endpoint::kRequest : op.is_read ? Endpoint::kQuery : Endpoint::kExecute;
    r.level = o_.level;
    // Most requests let a follower forward them to the leader; some ask for a redirect instead.
    r.redirect = !o_.bound && prng_.below(4) == 0;
  }
  // The node gives up a little before the client does, so the client usually hears "unknown".
  r.timeout = o_.attempt_timeout * 3 / 4;
  if (!op.is_read && client_.exactly_once()) {
    r.session = s.session;
    r.seq = ++s.seq;
  }
}

void Runner::begin_op(size_t c) {
  Slot& s = slots_[c];
  if (!s.final && stopped_) return;
  s.op = s.final ? s.finals[s.next_final++] : w_.next(s.mem, prng_);
  prepare(s, *s.op);
  s.invoked = client_.now();
  s.attempts_left = o_.max_attempts;
  s.maybe_applied = false;
  ++stats_.invoked;
  ++(s.op->is_read ? stats_.reads : stats_.writes);
  record(s, EventType::kInvoke, s.op->is_read ? Value::nil() : s.op->input, 0, {});
  // A third of the time even a leader-bound request goes to any node (a load-balanced client),
  // which forwards it.
  if (s.home != 0) {
    s.belief = s.home;
  } else if (!targets_leader(s) || s.belief == 0 || prng_.below(3) == 0 || (focused() && s.belief == focus_)) {
    s.belief = pick_node(s);
  }
  send_attempt(c);
}

void Runner::send_attempt(size_t c) {
  Slot& s = slots_[c];
  const uint64_t attempt = ++s.attempt;
  --s.attempts_left;
  ++stats_.attempts;
  const int target = s.belief;
  client_.after(o_.attempt_timeout, [this, c, attempt] {
    if (slots_[c].attempt == attempt) on_attempt_lost(c);
  });
  client_.send(target, s.op->req, [this, c, attempt, target](Response r) { on_reply(c, attempt, target, r); });
}

void Runner::on_attempt_lost(size_t c) {
  // No answer: the request or its reply was lost, or the node is down or cut off.
  Slot& s = slots_[c];
  ++stats_.attempt_timeouts;
  if (!s.op->is_read) s.maybe_applied = true;
  if (!may_retry_unknown(s)) return complete(c, EventType::kInfo, s.op->input, s.belief, "no answer in time");
  retry(c, Duration{0}, true);
}

void Runner::retry(size_t c, Duration after, bool pick_other) {
  Slot& s = slots_[c];
  if (s.attempts_left <= 0 || out_of_time(s)) return give_up(c);
  if (pick_other) s.belief = pick_node(s);
  const uint64_t attempt = ++s.attempt;
  client_.after(after, [this, c, attempt] {
    if (slots_[c].attempt == attempt) send_attempt(c);
  });
}

void Runner::give_up(size_t c) {
  Slot& s = slots_[c];
  if (s.op->is_read || s.maybe_applied) {
    complete(c, EventType::kInfo, s.op->is_read ? Value::nil() : s.op->input, 0, "gave up");
  } else {
    complete(c, EventType::kFail, s.op->input, 0, "gave up");
  }
}

void Runner::on_reply(size_t c, uint64_t attempt, int target, const Response& r) {
  Slot& s = slots_[c];
  if (s.attempt != attempt || !s.op) return;  // that attempt already timed out
  ++s.attempt;                                // this one is answered: its timer must not fire
  const Duration backoff = o_.think + std::chrono::milliseconds(5);
  switch (r.status) {
    case Status::kOk: {
      Completion done = w_.interpret(*s.op, r.result);
      if (!done.problem.empty()) {
        note_finding("sql-error", "client " + std::to_string(s.mem.id) + " " + s.op->f + " at n" +
                                      std::to_string(target) + ": " + done.problem);
        return complete(c, EventType::kInfo, s.op->input, target, done.problem);
      }
      if (done.type == EventType::kFail) return complete(c, EventType::kFail, done.value, target);
      if (!s.op->is_read) {
        if (r.raft_index != 0 && on_ack_) on_ack_(r.raft_index, r.raft_term);
        if (s.invoked >= fresh_after_ && !first_fresh_ack_) first_fresh_ack_ = client_.now();
      }
      return complete(c, EventType::kOk, std::move(done.value), target);
    }
    case Status::kNotLeader:
      ++stats_.redirects;
      if (r.leader != 0 && r.leader != target && s.home == 0) {
        s.belief = r.leader;
        return retry(c, std::chrono::microseconds(1), false);
      }
      return retry(c, backoff, true);
    case Status::kNoLeader:
      ++stats_.no_leader;
      return retry(c, backoff, true);
    case Status::kUnknown:
      ++stats_.attempt_unknown;
      if (!s.op->is_read) s.maybe_applied = true;
      if (!may_retry_unknown(s)) return complete(c, EventType::kInfo, s.op->input, target, r.error);
      return retry(c, backoff, true);
    case Status::kFailed:
    case Status::kError:
      // Definitely not applied (this attempt); earlier ones may still be.
      return retry(c, backoff, false);
  }
}

void Runner::complete(size_t c, EventType type, Value value, int at, const std::string& error) {
  Slot& s = slots_[c];
  record(s, type, value, at, error);
  const Op op = std::move(*s.op);
  s.op.reset();
  ++s.attempt;
  switch (type) {
    case EventType::kOk:
      ++stats_.ok;
      if (value.kind == Value::Kind::kInt) s.mem.last_seen = value.i;
      if (op.f == "cas" && value.kind == Value::Kind::kList) s.mem.last_seen = value.items[1].i;
      break;
    case EventType::kFail:
      ++stats_.failed;
      break;
    default:
      ++stats_.unknown;
      // Jepsen's rule: after an unknown outcome the process id is not used again.
      s.process = next_process_++;
      break;
  }
  if (!s.final) return schedule_next(c, o_.think);
  s.final_ok = s.final_ok && type == EventType::kOk;
  if (s.next_final < s.finals.size() && !out_of_time(s)) return begin_op(c);
  s.final_ok = s.final_ok && s.next_final == s.finals.size();
  final_done(c);
}

void Runner::final_reads(const std::vector<int>& nodes, std::function<void(bool)> done) {
  final_from_ = events_.size();
  finals_left_ = nodes.size();
  finals_ok_ = true;
  finals_done_ = std::move(done);
  if (nodes.empty()) return finals_done_(true);
  const size_t first = slots_.size();
  for (int n : nodes) {
    Slot s;
    s.final = true;
    s.mem.id = slots_.size() + 1;
    s.process = next_process_++;
    s.home = n;
    s.belief = n;
    s.finals = w_.final_reads();
    s.final_deadline = client_.now() + o_.final_timeout;
    slots_.push_back(std::move(s));
  }
  for (size_t c = first; c < slots_.size(); ++c) begin_op(c);
}

void Runner::final_done(size_t c) {
  finals_ok_ = finals_ok_ && slots_[c].final_ok;
  RQ_ASSERT(finals_left_ > 0);
  if (--finals_left_ == 0 && finals_done_) finals_done_(finals_ok_);
}

void Runner::note_nemesis(const std::string& f, const std::string& what) {
  TimedEvent te;
  te.at = client_.now();
  te.nemesis = true;
  te.event.type = EventType::kInfo;
  te.event.f = f;
  te.event.value = Value::string(what);
  events_.push_back(std::move(te));
}

void Runner::record(const Slot& s, EventType t, Value v, int at, const std::string& error) {
  TimedEvent te;
  te.at = client_.now();
  te.event.process = s.process;
  te.event.type = t;
  te.event.f = s.op->f;
  te.event.key = s.op->key;
  te.event.value = std::move(v);
  te.node = at;
  te.final = s.final;
  te.error = error;
  events_.push_back(std::move(te));
}

void Runner::note_finding(const std::string& reason, const std::string& detail) {
  if (!finding_) finding_ = Finding{reason, detail};
}

std::optional<Finding> Runner::check() const {
  if (finding_) return finding_;
  std::vector<sim::Event> evs;
  std::vector<size_t> where;  // client event position -> index in events_
  uint64_t final_from = UINT64_MAX;
  evs.reserve(events_.size());
  for (size_t i = 0; i < events_.size(); ++i) {
    if (events_[i].nemesis) continue;
    if (events_[i].final && final_from == UINT64_MAX) final_from = evs.size();
    evs.push_back(events_[i].event);
    where.push_back(i);
  }
  std::optional<Finding> f = w_.check(evs, final_from);
  if (f && f->event < where.size()) {
    const TimedEvent& te = events_[where[f->event]];
    f->detail += " answered by n" + std::to_string(te.node) + " at t=" +
                 std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(te.at).count()) + "us";
  }
  return f;
}

// ---- history files -----------------------------------------------------------------------------

namespace {

boost::json::value to_json(const Value& v) {
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
      for (const auto& x : v.items) a.push_back(to_json(x));
      return a;
    }
  }
  return nullptr;
}

}  // namespace

std::string history_to_jsonl(const std::vector<TimedEvent>& events) {
  std::string out;
  for (const auto& te : events) {
    boost::json::object o;
    if (te.nemesis) {
      o["process"] = "nemesis";
    } else {
      o["process"] = te.event.process;
    }
    o["type"] = sim::event_type_name(te.event.type);
    o["f"] = te.event.f;
    if (te.event.key) o["key"] = *te.event.key;
    o["value"] = to_json(te.event.value);
    o["time"] = std::chrono::duration_cast<std::chrono::microseconds>(te.at).count();
    if (te.node != 0) o["node"] = te.node;
    if (te.final) o["final"] = true;
    if (!te.error.empty()) o["error"] = te.error;
    out += boost::json::serialize(o);
    out += '\n';
  }
  return out;
}

namespace {

// An operation's :value in the shape Jepsen's workload of the same kind gives it.
std::string edn_value(Kind kind, const sim::Event& e, const Value& v) {
  if (kind == Kind::kBank && v.kind == Value::Kind::kList) {
    if (e.f == "transfer" && v.items.size() == 3) {
      return "{:from " + v.items[0].to_edn() + ", :to " + v.items[1].to_edn() + ", :amount " + v.items[2].to_edn() + "}";
    }
    if (e.f == "read") {  // balances in account order (SELECT ... ORDER BY id); the accounts are 0..n-1
      std::string out = "{";
      for (size_t a = 0; a < v.items.size(); ++a) {
        out += (a == 0 ? "" : ", ") + std::to_string(a) + " " + v.items[a].to_edn();
      }
      return out + "}";
    }
  }
  if (!e.key) return v.to_edn();
  const std::string& k = *e.key;
  // A decimal without leading zeros reads back as the same string; anything else stays a string.
  const bool number = !k.empty() && k.size() < 19 && k.find_first_not_of("0123456789") == std::string::npos &&
                      (k.size() == 1 || k[0] != '0');
  return "[" + (number ? k : Value::string(k).to_edn()) + " " + v.to_edn() + "]";
}

}  // namespace

std::string history_to_edn(const std::vector<TimedEvent>& events, Kind kind) {
  std::string out;
  std::map<uint64_t, Value> invoked;  // each process's open invocation's value
  for (size_t i = 0; i < events.size(); ++i) {
    const TimedEvent& te = events[i];
    EventType type = te.nemesis ? EventType::kInfo : te.event.type;
    const Value* value = &te.event.value;
    bool mismatch = false;
    if (!te.nemesis && type == EventType::kInvoke) invoked[te.event.process] = te.event.value;
    if (!te.nemesis && type == EventType::kOk && te.event.f == "cas" && te.event.value == Value::boolean(false)) {
      // A cas that found another value: Jepsen's clients complete it :fail (Knossos's
      // cas-register has no "ran and changed nothing"), with the invocation's [from to].
      type = EventType::kFail;
      value = &invoked[te.event.process];
      mismatch = true;
    }
    out += "{:index " + std::to_string(i) + ", :time " + std::to_string(te.at.count()) + ", :type :" +
           sim::event_type_name(type) + ", :process ";
    out += te.nemesis ? std::string(":nemesis") : std::to_string(te.event.process);
    out += ", :f :" + te.event.f;
    out += ", :value " + (te.nemesis ? value->to_edn() : edn_value(kind, te.event, *value));
    if (mismatch) out += ", :error :mismatch";
    if (te.node != 0) out += ", :node " + std::to_string(te.node);
    if (!te.error.empty()) out += ", :error " + Value::string(te.error).to_edn();
    out += "}\n";
  }
  return out;
}

}  // namespace rq::wl
