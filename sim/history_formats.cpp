#include "sim/history_formats.h"

#include <cerrno>
#include <cstdlib>
#include <string>
#include <utility>

#include "sim/history_jsonl.h"

namespace rq::sim {

std::optional<HistoryFormat> format_from_name(std::string_view name) {
  if (name == "porcupine-etcd") return HistoryFormat::kPorcupineEtcd;
  if (name == "porcupine-kv") return HistoryFormat::kPorcupineKv;
  if (name == "edn") return HistoryFormat::kEdn;
  if (name == "jsonl") return HistoryFormat::kJsonl;
  return std::nullopt;
}

const char* format_name(HistoryFormat f) {
  switch (f) {
    case HistoryFormat::kPorcupineEtcd:
      return "porcupine-etcd";
    case HistoryFormat::kPorcupineKv:
      return "porcupine-kv";
    case HistoryFormat::kEdn:
      return "edn";
    case HistoryFormat::kJsonl:
      return "jsonl";
  }
  RQ_ASSERT(false);
}

namespace {

Result<std::vector<Event>> read_format(HistoryFormat f, std::string_view text) {
  switch (f) {
    case HistoryFormat::kPorcupineEtcd:
      return read_porcupine_etcd(text);
    case HistoryFormat::kPorcupineKv:
    case HistoryFormat::kEdn:
      return read_edn_history(text);
    case HistoryFormat::kJsonl:
      return read_jsonl_history(text);
  }
  RQ_ASSERT(false);
}

// jepsen.independent: each :value [k v] becomes key k and value v.
Status split_tuples(std::vector<Event>* events) {
  for (Event& e : *events) {
    if (e.key.has_value()) return line_error(e.line, "both :key and an independent tuple");
    const Value& v = e.value;
    if (v.kind != Value::Kind::kList || v.items.size() != 2) {
      return line_error(e.line, "expected an independent tuple [k v], got " + v.to_edn());
    }
    const Value& k = v.items[0];
    if (k.kind == Value::Kind::kInt) {
      e.key = std::to_string(k.i);
    } else if (k.kind == Value::Kind::kString || k.kind == Value::Kind::kKeyword) {
      e.key = k.s;
    } else {
      return line_error(e.line, "an independent tuple's key must be an integer or a string, got " + k.to_edn());
    }
    e.value = Value(v.items[1]);  // a copy first: it lives inside e.value
  }
  return ok_status();
}

}  // namespace

Result<std::vector<Event>> read_events(HistoryFormat f, std::string_view text, ReadOptions o) {
  if (o.independent && f != HistoryFormat::kEdn && f != HistoryFormat::kPorcupineKv) {
    return make_error(ErrorCode::kInvalid, std::string("independent tuples are read from edn, not ") + format_name(f));
  }
  Result<std::vector<Event>> events = read_format(f, text);
  if (!events.ok() || !o.independent) return events;
  if (Status st = split_tuples(&events.value()); !st) return st.error();
  return events;
}

Result<History> read_history(HistoryFormat f, std::string_view text, ReadOptions o) {
  Result<std::vector<Event>> events = read_events(f, text, o);
  if (!events.ok()) return events.error();
  Result<History> h = history_from_events(events.value());
  if (!h.ok() || f != HistoryFormat::kEdn) return h;
  // Knossos's register and cas-register models: a read whose value is nil carries no
  // information and matches any state (knossos/model.clj), so it constrains nothing, like a read
  // whose outcome is unknown.
  for (Operation& op : h.value().ops) {
    if (op.f == "read" && op.outcome == Outcome::kOk && op.output.is_nil()) op.outcome = Outcome::kUnknown;
  }
  return h;
}

namespace {

bool parse_process(std::string_view s, uint64_t* out) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return false;
  const std::string t(s);
  char* end = nullptr;
  errno = 0;
  *out = std::strtoull(t.c_str(), &end, 10);
  return errno == 0 && end == t.c_str() + t.size();
}

// The first `n` whitespace-separated fields of `line`, and where the rest begins.
std::vector<std::string_view> fields(std::string_view line, size_t n, size_t* rest) {
  std::vector<std::string_view> out;
  size_t p = 0;
  auto space = [&](size_t i) { return line[i] == ' ' || line[i] == '\t' || line[i] == '\r'; };
  while (out.size() < n) {
    while (p < line.size() && space(p)) ++p;
    if (p == line.size()) break;
    const size_t start = p;
    while (p < line.size() && !space(p)) ++p;
    out.push_back(line.substr(start, p - start));
  }
  *rest = p;
  return out;
}

// Porcupine's reading of etcd's results (see the header).
void apply_etcd_semantics(Event* e) {
  if (e->type != EventType::kFail) return;
  if (e->f == "cas") {
    e->type = EventType::kOk;
    e->value = Value::boolean(false);
  } else if (e->f == "read") {
    e->type = EventType::kInfo;
  }
}

// One `INFO  jepsen.util - <process> <type> <f> <value>` line; nothing for the nemesis.
Result<std::optional<Event>> etcd_line(std::string_view line, uint32_t n) {
  size_t rest = 0;
  const std::vector<std::string_view> f = fields(line, 6, &rest);
  if (f.size() < 6 || f[1] != "jepsen.util" || f[2] != "-") {
    return line_error(n, "not an `INFO jepsen.util - <process> <type> <f> <value>` line");
  }
  if (f[3].starts_with(":")) return std::optional<Event>();  // :nemesis
  Event e;
  e.line = n;
  if (!parse_process(f[3], &e.process)) return line_error(n, "bad process " + std::string(f[3]));
  const auto type = f[4].starts_with(":") ? event_type_from_name(f[4].substr(1)) : std::nullopt;
  if (!type.has_value()) return line_error(n, "bad type " + std::string(f[4]));
  e.type = *type;
  if (!f[5].starts_with(":") || f[5].size() < 2) return line_error(n, "bad f " + std::string(f[5]));
  e.f = std::string(f[5].substr(1));
  Result<std::vector<EdnValue>> v = parse_edn(line.substr(rest));
  if (!v.ok()) return line_error(n, "bad value: " + v.error().message);
  if (v->size() != 1) return line_error(n, "wants exactly one value after the f");
  Result<Value> value = value_from_edn(v->front());
  if (!value.ok()) return line_error(n, value.error().message);
  e.value = std::move(value).value();
  apply_etcd_semantics(&e);
  return std::optional<Event>(std::move(e));
}

}  // namespace

Result<std::vector<Event>> read_porcupine_etcd(std::string_view text) {
  return read_event_lines(text, etcd_line);
}

Result<Value> value_from_edn(const EdnValue& v) {
  using K = EdnValue::Kind;
  switch (v.kind) {
    case K::kNil:
      return Value::nil();
    case K::kBool:
      return Value::boolean(v.b);
    case K::kInt:
      return Value::integer(v.i);
    case K::kString:
    case K::kChar:
      return Value::string(v.text);
    case K::kKeyword:
      return Value::keyword(v.text);
    case K::kList:
    case K::kVector:
    case K::kSet: {
      std::vector<Value> items;
      for (const EdnValue& item : v.items) {
        Result<Value> x = value_from_edn(item);
        if (!x.ok()) return x.error();
        items.push_back(std::move(x).value());
      }
      return Value::list(std::move(items));
    }
    case K::kFloat:
    case K::kSymbol:
    case K::kMap:
      break;
  }
  return make_error(ErrorCode::kInvalid, "unsupported value: " + v.summary());
}

namespace {

// :f and :key may be keywords, strings or symbols (and keys integers too).
std::optional<std::string> name_of(const EdnValue& v) {
  using K = EdnValue::Kind;
  if (v.kind == K::kKeyword || v.kind == K::kString || v.kind == K::kSymbol) return v.text;
  if (v.kind == K::kInt) return std::to_string(v.i);
  return std::nullopt;
}

}  // namespace

Result<std::optional<Event>> event_from_edn(const EdnValue& m) {
  if (m.kind != EdnValue::Kind::kMap) {
    return line_error(m.line, "expected an operation map, got " + m.summary());
  }
  const EdnValue* process = m.get("process");
  if (process == nullptr) return line_error(m.line, "operation without :process");
  if (process->kind != EdnValue::Kind::kInt) return std::optional<Event>();  // :nemesis and such
  if (process->i < 0) return line_error(m.line, "negative :process");
  Event e;
  e.line = m.line;
  e.process = static_cast<uint64_t>(process->i);
  const EdnValue* type = m.get("type");
  const auto t = type != nullptr && type->kind == EdnValue::Kind::kKeyword
                     ? event_type_from_name(type->text)
                     : std::nullopt;
  if (!t.has_value()) return line_error(m.line, ":type must be :invoke, :ok, :fail or :info");
  e.type = *t;
  const EdnValue* f = m.get("f");
  if (f == nullptr || !name_of(*f).has_value()) return line_error(m.line, "operation without :f");
  e.f = *name_of(*f);
  if (const EdnValue* key = m.get("key"); key != nullptr && key->kind != EdnValue::Kind::kNil) {
    e.key = name_of(*key);
    if (!e.key.has_value()) return line_error(m.line, "unsupported :key " + key->summary());
  }
  if (const EdnValue* value = m.get("value"); value != nullptr) {
    Result<Value> v = value_from_edn(*value);
    if (!v.ok()) return line_error(value->line, v.error().message);
    e.value = std::move(v).value();
  }
  return std::optional<Event>(std::move(e));
}

Result<std::vector<Event>> read_edn_history(std::string_view text) {
  Result<std::vector<EdnValue>> forms = parse_edn(text);
  if (!forms.ok()) return forms.error();
  const std::vector<EdnValue>* ops = &forms.value();
  const bool wrapped = ops->size() == 1 && (ops->front().kind == EdnValue::Kind::kVector ||
                                            ops->front().kind == EdnValue::Kind::kList);
  if (wrapped) ops = &ops->front().items;
  std::vector<Event> events;
  for (const EdnValue& m : *ops) {
    Result<std::optional<Event>> e = event_from_edn(m);
    if (!e.ok()) return e.error();
    if (e->has_value()) events.push_back(std::move(**e));
  }
  return events;
}

}  // namespace rq::sim
