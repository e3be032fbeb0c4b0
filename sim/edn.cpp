#include "sim/edn.h"

#include <cerrno>
#include <cstdlib>
#include <utility>

namespace rq::sim {

const EdnValue* EdnValue::get(std::string_view k) const {
  if (kind != Kind::kMap) return nullptr;
  for (size_t n = 0; n + 1 < items.size(); n += 2) {
    if (items[n].is_keyword(k)) return &items[n + 1];
  }
  return nullptr;
}

std::string EdnValue::summary() const {
  switch (kind) {
    case Kind::kNil:
      return "nil";
    case Kind::kBool:
      return b ? "true" : "false";
    case Kind::kInt:
      return std::to_string(i);
    case Kind::kFloat:
      return "a float";
    case Kind::kString:
      return "a string";
    case Kind::kChar:
      return "a character";
    case Kind::kKeyword:
      return ":" + text;
    case Kind::kSymbol:
      return "the symbol " + text;
    case Kind::kList:
      return "a list";
    case Kind::kVector:
      return "a vector";
    case Kind::kMap:
      return "a map";
    case Kind::kSet:
      return "a set";
  }
  RQ_ASSERT(false);
}

namespace {

using Kind = EdnValue::Kind;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',';
}
bool is_delimiter(char c) {
  return is_space(c) || c == '(' || c == ')' || c == '[' || c == ']' || c == '{' || c == '}' ||
         c == '"' || c == ';';
}

class Reader {
 public:
  explicit Reader(std::string_view t) : t_(t) {}
  Result<std::vector<EdnValue>> all();

 private:
  Error error(const std::string& why) const {
    return make_error(ErrorCode::kInvalid, "line " + std::to_string(line_) + ": " + why);
  }
  bool at_end() const { return pos_ >= t_.size(); }
  char peek() const { return t_[pos_]; }
  char take() {
    const char c = t_[pos_++];
    if (c == '\n') ++line_;
    return c;
  }
  Status skip_space(int depth);
  Result<EdnValue> form(int depth);
  Result<EdnValue> collection(Kind kind, char close, int depth);
  Result<EdnValue> dispatch(int depth);
  Result<EdnValue> string_literal();
  Status escape(std::string* out);
  Result<EdnValue> character();
  Result<EdnValue> atom();
  std::string_view token();

  std::string_view t_;
  size_t pos_ = 0;
  uint32_t line_ = 1;
};

Result<std::vector<EdnValue>> Reader::all() {
  std::vector<EdnValue> forms;
  while (true) {
    if (Status s = skip_space(0); !s.ok()) return s.error();
    if (at_end()) return forms;
    Result<EdnValue> v = form(0);
    if (!v.ok()) return v.error();
    forms.push_back(std::move(v).value());
  }
}

// Whitespace, commas, `;` comments, and forms discarded with `#_`.
Status Reader::skip_space(int depth) {
  while (!at_end()) {
    if (is_space(peek())) {
      take();
    } else if (peek() == ';') {
      while (!at_end() && peek() != '\n') take();
    } else if (peek() == '#' && pos_ + 1 < t_.size() && t_[pos_ + 1] == '_') {
      // `#_ #_ a b` nests: each discard skips space (and the discards in it) one level down.
      if (depth >= kEdnMaxDepth) return error("nested deeper than " + std::to_string(kEdnMaxDepth));
      pos_ += 2;
      if (Status s = skip_space(depth + 1); !s.ok()) return s;
      if (at_end()) return error("#_ discards nothing");
      if (Result<EdnValue> gone = form(depth); !gone.ok()) return gone.error();
    } else {
      break;
    }
  }
  return ok_status();
}

Result<EdnValue> Reader::form(int depth) {
  if (depth >= kEdnMaxDepth) return error("nested deeper than " + std::to_string(kEdnMaxDepth));
  switch (peek()) {
    case '(':
      return collection(Kind::kList, ')', depth);
    case '[':
      return collection(Kind::kVector, ']', depth);
    case '{':
      return collection(Kind::kMap, '}', depth);
    case ')':
    case ']':
    case '}':
      return error(std::string("unmatched '") + peek() + "'");
    case '"':
      return string_literal();
    case '\\':
      return character();
    case '#':
      return dispatch(depth);
    default:
      return atom();
  }
}

Result<EdnValue> Reader::collection(Kind kind, char close, int depth) {
  EdnValue v;
  v.kind = kind;
  v.line = line_;
  take();  // the opener
  while (true) {
    if (Status s = skip_space(depth + 1); !s.ok()) return s.error();
    if (at_end())
      return error(std::string("missing '") + close + "' for the one on line " +
                   std::to_string(v.line));
    if (peek() == close) break;
    Result<EdnValue> item = form(depth + 1);
    if (!item.ok()) return item.error();
    v.items.push_back(std::move(item).value());
  }
  take();
  if (kind == Kind::kMap && v.items.size() % 2 != 0) {
    return error("the map from line " + std::to_string(v.line) + " has a key without a value");
  }
  return v;
}

// `#{...}` is a set; `#tag form` is the form (tags only name a reader for it).
Result<EdnValue> Reader::dispatch(int depth) {
  take();  // '#'
  if (!at_end() && peek() == '{') return collection(Kind::kSet, '}', depth);
  if (at_end() || is_delimiter(peek())) return error("'#' without a tag");
  token();
  if (Status s = skip_space(depth); !s.ok()) return s.error();
  if (at_end()) return error("a tag with no form after it");
  return form(depth + 1);
}

Result<EdnValue> Reader::string_literal() {
  EdnValue v;
  v.kind = Kind::kString;
  v.line = line_;
  take();  // '"'
  while (true) {
    if (at_end()) return error("the string from line " + std::to_string(v.line) + " never ends");
    const char c = take();
    if (c == '"') return v;
    if (c != '\\') {
      v.text += c;
      continue;
    }
    if (Status s = escape(&v.text); !s.ok()) return s.error();
  }
}

void append_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xC0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out += static_cast<char>(0xE0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

Status Reader::escape(std::string* out) {
  if (at_end()) return error("a string ends in a backslash");
  const char c = take();
  static constexpr std::string_view kFrom = "trnbf\\\"", kTo = "\t\r\n\b\f\\\"";
  if (const size_t k = kFrom.find(c); k != std::string_view::npos) {
    *out += kTo[k];
    return ok_status();
  }
  if (c != 'u') return error(std::string("unknown escape \\") + c);
  if (pos_ + 4 > t_.size()) return error("\\u wants four hex digits");
  const std::string hex(t_.substr(pos_, 4));
  char* end = nullptr;
  const unsigned long cp = std::strtoul(hex.c_str(), &end, 16);
  if (end != hex.c_str() + 4) return error("\\u wants four hex digits, got " + hex);
  pos_ += 4;
  append_utf8(static_cast<uint32_t>(cp), out);
  return ok_status();
}

Result<EdnValue> Reader::character() {
  EdnValue v;
  v.kind = Kind::kChar;
  v.line = line_;
  take();  // '\'
  if (at_end()) return error("a backslash with no character");
  const size_t start = pos_;
  take();  // the first character is taken even if it is a delimiter: \( \space
  while (!at_end() && !is_delimiter(peek())) take();
  const std::string_view name = t_.substr(start, pos_ - start);
  if (name == "newline")
    v.text = "\n";
  else if (name == "space")
    v.text = " ";
  else if (name == "tab")
    v.text = "\t";
  else if (name == "return")
    v.text = "\r";
  else if (name.size() == 1)
    v.text = std::string(name);
  else
    return error("unknown character \\" + std::string(name));
  return v;
}

std::string_view Reader::token() {
  const size_t start = pos_;
  while (!at_end() && !is_delimiter(peek())) take();
  return t_.substr(start, pos_ - start);
}

bool looks_numeric(std::string_view tok) {
  size_t k = (tok[0] == '-' || tok[0] == '+') ? 1 : 0;
  return k < tok.size() && tok[k] >= '0' && tok[k] <= '9';
}

// nil, true, false, numbers, keywords, symbols.
Result<EdnValue> Reader::atom() {
  EdnValue v;
  v.line = line_;
  std::string tok(token());
  if (tok.empty()) return error(std::string("unexpected '") + peek() + "'");
  if (tok == "nil") return v;
  if (tok == "true" || tok == "false") {
    v.kind = Kind::kBool;
    v.b = tok == "true";
    return v;
  }
  if (tok[0] == ':') {
    v.kind = Kind::kKeyword;
    v.text = tok.substr(tok.size() > 1 && tok[1] == ':' ? 2 : 1);
    if (v.text.empty()) return error("an empty keyword");
    return v;
  }
  if (!looks_numeric(tok)) {
    v.kind = Kind::kSymbol;
    v.text = tok;
    return v;
  }
  if (tok.back() == 'N') tok.pop_back();
  const bool is_float = tok.find_first_of(".eEM") != std::string::npos;
  if (is_float && tok.back() == 'M') tok.pop_back();
  char* end = nullptr;
  errno = 0;
  if (is_float) {
    v.kind = Kind::kFloat;
    v.d = std::strtod(tok.c_str(), &end);
  } else {
    v.kind = Kind::kInt;
    v.i = std::strtoll(tok.c_str(), &end, 10);
  }
  if (end != tok.c_str() + tok.size()) return error("not a number: " + tok);
  if (errno == ERANGE) return error("number out of range: " + tok);
  return v;
}

}  // namespace

Result<std::vector<EdnValue>> parse_edn(std::string_view text) {
  return Reader(text).all();
}

}  // namespace rq::sim
