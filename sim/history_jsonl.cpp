#include "sim/history_jsonl.h"

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <utility>

namespace rq::sim {
namespace {

namespace json = boost::json;

// Bounded so a hostile file cannot recurse the stack away.
constexpr int kMaxValueDepth = 64;

Result<Value> value_from_json(const json::value& v, int depth) {
  if (depth > kMaxValueDepth) return make_error(ErrorCode::kInvalid, "value nested too deep");
  switch (v.kind()) {
    case json::kind::null:
      return Value::nil();
    case json::kind::bool_:
      return Value::boolean(v.get_bool());
    case json::kind::int64:
      return Value::integer(v.get_int64());
    case json::kind::uint64:
      return make_error(ErrorCode::kInvalid, "integer beyond 64-bit signed");
    case json::kind::string:
      return Value::string(std::string(v.get_string()));
    case json::kind::array: {
      std::vector<Value> items;
      for (const json::value& item : v.get_array()) {
        Result<Value> x = value_from_json(item, depth + 1);
        if (!x.ok()) return x.error();
        items.push_back(std::move(x).value());
      }
      return Value::list(std::move(items));
    }
    case json::kind::double_:
    case json::kind::object:
      break;
  }
  return make_error(ErrorCode::kInvalid, "unsupported value " + json::serialize(v));
}

Result<std::optional<std::string>> key_from_json(const json::value* k) {
  if (k == nullptr || k->is_null()) return std::optional<std::string>();
  if (k->is_string()) return std::optional<std::string>(std::string(k->get_string()));
  if (k->is_int64()) return std::optional<std::string>(std::to_string(k->get_int64()));
  return make_error(ErrorCode::kInvalid, "\"key\" must be a string or an integer");
}

Result<std::optional<Event>> event_from_json(const json::object& o, uint32_t n) {
  const json::value* process = o.if_contains("process");
  if (process == nullptr) return line_error(n, "no \"process\"");
  if (!process->is_int64() && !process->is_uint64()) return std::optional<Event>();  // nemesis
  if (process->is_int64() && process->get_int64() < 0) return line_error(n, "negative \"process\"");
  Event e;
  e.line = n;
  e.process =
      process->is_int64() ? static_cast<uint64_t>(process->get_int64()) : process->get_uint64();
  const json::value* type = o.if_contains("type");
  const auto t = type != nullptr && type->is_string() ? event_type_from_name(type->get_string())
                                                      : std::nullopt;
  if (!t.has_value()) return line_error(n, "\"type\" must be invoke, ok, fail or info");
  e.type = *t;
  const json::value* f = o.if_contains("f");
  if (f == nullptr || !f->is_string() || f->get_string().empty()) {
    return line_error(n, "\"f\" must be a non-empty string");
  }
  e.f = std::string(f->get_string());
  Result<std::optional<std::string>> key = key_from_json(o.if_contains("key"));
  if (!key.ok()) return line_error(n, key.error().message);
  e.key = std::move(key).value();
  if (const json::value* v = o.if_contains("value"); v != nullptr) {
    Result<Value> value = value_from_json(*v, 0);
    if (!value.ok()) return line_error(n, value.error().message);
    e.value = std::move(value).value();
  }
  return std::optional<Event>(std::move(e));
}

}  // namespace

Result<std::vector<Event>> read_jsonl_history(std::string_view text) {
  return read_event_lines(text,
                          [](std::string_view line, uint32_t n) -> Result<std::optional<Event>> {
                            boost::system::error_code ec;
                            const json::value v = json::parse(line, ec);
                            if (ec) return line_error(n, "not JSON: " + ec.message());
                            if (!v.is_object()) return line_error(n, "not a JSON object");
                            return event_from_json(v.get_object(), n);
                          });
}

}  // namespace rq::sim
