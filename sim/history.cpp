#include "sim/history.h"

#include <cstdio>
#include <map>
#include <utility>

namespace rq::sim {

Value Value::boolean(bool v) {
  Value x;
  x.kind = Kind::kBool;
  x.b = v;
  return x;
}

Value Value::integer(int64_t v) {
  Value x;
  x.kind = Kind::kInt;
  x.i = v;
  return x;
}

Value Value::string(std::string v) {
  Value x;
  x.kind = Kind::kString;
  x.s = std::move(v);
  return x;
}

Value Value::keyword(std::string v) {
  Value x;
  x.kind = Kind::kKeyword;
  x.s = std::move(v);
  return x;
}

Value Value::list(std::vector<Value> v) {
  Value x;
  x.kind = Kind::kList;
  x.items = std::move(v);
  return x;
}

namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string Value::to_edn() const {
  switch (kind) {
    case Kind::kNil:
      return "nil";
    case Kind::kBool:
      return b ? "true" : "false";
    case Kind::kInt:
      return std::to_string(i);
    case Kind::kString:
      return quote(s);
    case Kind::kKeyword:
      return ":" + s;
    case Kind::kList: {
      std::string out = "[";
      for (size_t n = 0; n < items.size(); ++n) out += (n == 0 ? "" : " ") + items[n].to_edn();
      return out + "]";
    }
  }
  RQ_ASSERT(false);
}

const char* event_type_name(EventType t) {
  switch (t) {
    case EventType::kInvoke:
      return "invoke";
    case EventType::kOk:
      return "ok";
    case EventType::kFail:
      return "fail";
    case EventType::kInfo:
      return "info";
  }
  RQ_ASSERT(false);
}

std::optional<EventType> event_type_from_name(std::string_view name) {
  if (name == "invoke") return EventType::kInvoke;
  if (name == "ok") return EventType::kOk;
  if (name == "fail") return EventType::kFail;
  if (name == "info") return EventType::kInfo;
  return std::nullopt;
}

Error line_error(uint32_t line, const std::string& why) {
  return make_error(ErrorCode::kInvalid, "line " + std::to_string(line) + ": " + why);
}

Result<std::vector<Event>> read_event_lines(std::string_view text, const LineParser& parse) {
  std::vector<Event> events;
  uint32_t n = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    Result<std::optional<Event>> e = parse(line, n);
    if (!e.ok()) return e.error();
    if (e->has_value()) events.push_back(std::move(**e));
  }
  return events;
}

namespace {

Outcome outcome_of(EventType t) {
  switch (t) {
    case EventType::kOk:
      return Outcome::kOk;
    case EventType::kFail:
      return Outcome::kFailed;
    case EventType::kInfo:
      return Outcome::kUnknown;
    case EventType::kInvoke:
      break;
  }
  RQ_ASSERT(false);
}

}  // namespace

Result<History> history_from_events(const std::vector<Event>& events) {
  History h;
  h.events = events.size();
  std::map<uint64_t, size_t> open;  // process -> index in h.ops
  for (uint64_t pos = 0; pos < events.size(); ++pos) {
    const Event& e = events[pos];
    const std::string who = "process " + std::to_string(e.process);
    auto it = open.find(e.process);
    if (e.type == EventType::kInvoke) {
      if (it != open.end()) {
        return line_error(e.line, who + " invokes :" + e.f + " while its :" + h.ops[it->second].f +
                                      " from line " + std::to_string(h.ops[it->second].call_line) +
                                      " is still open");
      }
      open.emplace(e.process, h.ops.size());
      h.ops.push_back(Operation{e.process, e.f, e.key, e.value, Value::nil(), Outcome::kUnknown,
                                pos, kNeverReturned, e.line, 0});
      continue;
    }
    if (it == open.end()) {
      return line_error(e.line, who + " completes :" + e.f + " (:" + event_type_name(e.type) +
                                    ") but has no open invocation");
    }
    Operation& op = h.ops[it->second];
    if (op.f != e.f) {
      return line_error(e.line, who + " completes :" + e.f + " but invoked :" + op.f + " at line " +
                                    std::to_string(op.call_line));
    }
    op.output = e.value;
    op.outcome = outcome_of(e.type);
    op.ret = pos;
    op.ret_line = e.line;
    open.erase(it);
  }
  return h;
}

History history_prefix(const History& h, uint64_t end) {
  History p;
  p.events = end < h.events ? end : h.events;
  for (const Operation& op : h.ops) {
    if (op.call >= end) break;  // ops are sorted by call
    Operation o = op;
    if (o.ret != kNeverReturned && o.ret >= end) {
      o.outcome = Outcome::kUnknown;
      o.output = Value::nil();
      o.ret = kNeverReturned;
      o.ret_line = 0;
    }
    p.ops.push_back(std::move(o));
  }
  return p;
}

std::string describe(const Operation& op) {
  std::string s = "process " + std::to_string(op.process) + ": " + op.f;
  if (op.key.has_value()) s += " " + Value::string(*op.key).to_edn();
  if (!op.input.is_nil()) s += " " + op.input.to_edn();
  s += " -> ";
  switch (op.outcome) {
    case Outcome::kOk:
      s += op.output.to_edn();
      break;
    case Outcome::kFailed:
      s += ":fail";
      break;
    case Outcome::kUnknown:
      s += op.ret_line != 0 ? "unknown (:info)" : "unknown (not completed)";
      break;
  }
  s += "  (line " + std::to_string(op.call_line);
  if (op.ret_line != 0) s += "-" + std::to_string(op.ret_line);
  return s + ")";
}

}  // namespace rq::sim
