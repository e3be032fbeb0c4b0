#include "server/http_api.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <utility>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "core/assert.h"

namespace rq::server {

namespace {

Error invalid(std::string message) {
  return make_error(ErrorCode::kInvalid, std::move(message));
}

// =============================================================================================
// Go's UTF-8 rules (unicode/utf8.DecodeRune): where a byte starts no valid sequence, Go reads
// U+FFFD and moves on by that one byte, both when decoding JSON and when encoding it.

// Length of the valid UTF-8 sequence starting at s[i], or 0 if there is none.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  const auto at = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = at(i);
  if (c < 0x80) return 1;
  size_t n = 0;
  uint8_t lo = 0x80;  // the range of the second byte (Go's acceptRanges)
  uint8_t hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c == 0xE0) {
    n = 3;
    lo = 0xA0;
  } else if (c == 0xED) {
    n = 3;
    hi = 0x9F;  // no surrogates
  } else if (c >= 0xE1 && c <= 0xEF) {
    n = 3;
  } else if (c == 0xF0) {
    n = 4;
    lo = 0x90;
  } else if (c == 0xF4) {
    n = 4;
    hi = 0x8F;  // nothing above U+10FFFF
  } else if (c >= 0xF1 && c <= 0xF3) {
    n = 4;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  if (at(i + 1) < lo || at(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (at(i + k) < 0x80 || at(i + k) > 0xBF) return 0;
  }
  return n;
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Go's json decoder coerces strings to valid UTF-8.
std::string go_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

constexpr char kLowerHex[] = "0123456789abcdef";

// Go's encoding/json string encoding with HTML escaping on (rqlite re-marshals its whole answer
// with json.Marshal): `<`, `>`, `&` and control bytes as \u00XX (\b \f \n \r \t short), U+2028 and
// U+2029 escaped, invalid UTF-8 as \ufffd, everything else (DEL included) as is.
void append_go_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
        out.push_back(static_cast<char>(c));
        continue;
      }
      switch (c) {
        case '"':
        case '\\':
          out.push_back('\\');
          out.push_back(static_cast<char>(c));
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        default:
          out += "\\u00";
          out.push_back(kLowerHex[c >> 4]);
          out.push_back(kLowerHex[c & 0xF]);
      }
      continue;
    }
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    if (n == 3 && c == 0xE2 && static_cast<uint8_t>(s[i + 1]) == 0x80 &&
        (static_cast<uint8_t>(s[i + 2]) == 0xA8 || static_cast<uint8_t>(s[i + 2]) == 0xA9)) {
      out += static_cast<uint8_t>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029";
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  out.push_back('"');
}

// Go's float names for json.UnsupportedValueError (strconv.FormatFloat(f, 'g', -1, 64)).
std::string go_unsupported_float(double f) {
  const char* name = std::isnan(f) ? "NaN" : (f > 0 ? "+Inf" : "-Inf");
  return std::string("json: unsupported value: ") + name;
}

// encoding/json's float64 encoder: the shortest digits that round-trip, in %f form, or in %e form
// below 1e-6 and from 1e21 up, with a one-digit negative exponent written without its zero
// (1e-7, not 1e-07). Returns false for +Inf, -Inf and NaN, which Go refuses to encode.
bool append_go_float(std::string& out, double f) {
  if (!std::isfinite(f)) return false;
  // The shortest digits come from to_chars in scientific form; to_chars' own fixed form is not
  // used because for large values it prints the exact binary value, not the shortest digits.
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
  RQ_ASSERT(ec == std::errc());
  std::string_view t(buf, static_cast<size_t>(end - buf));  // [-]d[.ddd]e(+|-)dd
  const bool negative = t.front() == '-';
  if (negative) t.remove_prefix(1);
  const size_t e = t.find('e');
  RQ_ASSERT(e != std::string_view::npos);
  std::string digits;
  for (char c : t.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  std::string_view exp_text = t.substr(e + 1);
  const bool exp_negative = exp_text.front() == '-';
  exp_text.remove_prefix(1);
  int exp10 = 0;
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp10);
  if (exp_negative) exp10 = -exp10;

  if (negative) out.push_back('-');
  const double magnitude = std::fabs(f);
  if (magnitude != 0 && (magnitude < 1e-6 || magnitude >= 1e21)) {
    out.push_back(digits[0]);
    if (digits.size() > 1) {
      out.push_back('.');
      out.append(digits, 1);
    }
    out += exp_negative ? "e-" : "e+";
    out += std::to_string(exp10 < 0 ? -exp10 : exp10);
    return true;
  }
  const auto n = static_cast<int>(digits.size());
  if (exp10 >= n - 1) {
    out += digits;
    out.append(static_cast<size_t>(exp10 - (n - 1)), '0');
  } else if (exp10 >= 0) {
    out.append(digits, 0, static_cast<size_t>(exp10 + 1));
    out.push_back('.');
    out.append(digits, static_cast<size_t>(exp10 + 1));
  } else {
    out += "0.";
    out.append(static_cast<size_t>(-exp10 - 1), '0');
    out += digits;
  }
  return true;
}

void append_int(std::string& out, int64_t v) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// Go's json.Indent(dst, src, "", "    ") over compact JSON (what MarshalIndent does): a newline and
// indentation after `{`, `[` and `,`, a space after `:`, and empty objects and arrays kept as {}
// and [].
std::string go_indent(std::string_view compact) {
  std::string out;
  out.reserve(compact.size() * 2);
  int depth = 0;
  bool need_indent = false;
  bool in_string = false;
  bool escaped = false;
  const auto newline = [&] {
    out.push_back('\n');
    out.append(static_cast<size_t>(4 * depth), ' ');
  };
  for (char c : compact) {
    if (in_string) {
      out.push_back(c);
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (need_indent && c != '}' && c != ']') {
      need_indent = false;
      ++depth;
      newline();
    }
    switch (c) {
      case '"':
        in_string = true;
        out.push_back(c);
        break;
      case '{':
      case '[':
        need_indent = true;  // delayed, so that empty ones stay {} and []
        out.push_back(c);
        break;
      case ',':
        out.push_back(c);
        newline();
        break;
      case ':':
        out += ": ";
        break;
      case '}':
      case ']':
        if (need_indent) {
          need_indent = false;
        } else {
          --depth;
          newline();
        }
        out.push_back(c);
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// Standard base64 with padding (RFC 4648 §4), as encoding/json writes a []byte. Written here
// because the only library encoder in reach, Boost.Beast's, lives in beast::detail (not a public
// API) and this library keeps Beast out; the tests check it against RFC 4648 §10's vectors.
void append_base64(std::string& out, std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  const auto byte = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kAlphabet[(v >> shift) & 0x3F]);
  }
  const size_t rest = bytes.size() - i;
  if (rest == 0) return;
  const uint32_t v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
  out.push_back(kAlphabet[(v >> 18) & 0x3F]);
  out.push_back(kAlphabet[(v >> 12) & 0x3F]);
  out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 0x3F] : '=');
  out.push_back('=');
}

// =============================================================================================
// Query strings: Go's net/url, strconv and time.ParseDuration.

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// Go's strconv.Quote, enough for the at most three bytes of a bad escape. Of the non-ASCII runes
// that fit there (U+0080-U+07FF) only the C1 controls and U+00AD count as unprintable; Go also
// escapes the few unassigned code points of that range.
std::string go_quote(std::string_view s) {
  std::string out = "\"";
  const auto hex_byte = [&](const char* prefix, uint32_t v, int digits) {
    out += prefix;
    for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4)
      out.push_back(kLowerHex[(v >> shift) & 0xF]);
  };
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      hex_byte("\\x", c, 2);
      ++i;
      continue;
    }
    if (n > 1) {
      uint32_t r = c & (0xFF >> (n + 1));
      for (size_t k = 1; k < n; ++k) r = r << 6 | (static_cast<uint8_t>(s[i + k]) & 0x3F);
      if ((r >= 0x80 && r <= 0x9F) || r == 0xAD) {
        hex_byte("\\u", r, 4);
      } else {
        out.append(s.substr(i, n));
      }
      i += n;
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\a':
        out += "\\a";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\v':
        out += "\\v";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          hex_byte("\\x", c, 2);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
  return out;
}

// Go's url.QueryUnescape: `+` is a space, %XX a byte; a malformed escape fails with Go's message.
std::optional<std::string> query_unescape(std::string_view s, std::string* error) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size() || !is_hex_digit(s[i + 1]) || !is_hex_digit(s[i + 2])) {
      *error = "invalid URL escape " + go_quote(s.substr(i, 3));
      return std::nullopt;
    }
    i += 2;
  }
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

// Go's strconv.Atoi on a 64-bit platform: one optional sign, then decimal digits, within int64.
std::optional<int64_t> go_atoi(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  constexpr uint64_t kMaxMagnitude = uint64_t{1} << 63;
  if (ec != std::errc() || v > kMaxMagnitude - (negative ? 0 : 1)) return std::nullopt;
  return negative ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
}

// Go's leadingFraction: consumes the digits, but stops adding them once they would overflow.
// Returns whether there was a digit.
bool leading_fraction(std::string_view* s, uint64_t* f, double* scale) {
  constexpr uint64_t kLimit = uint64_t{1} << 63;
  bool overflow = false;
  size_t k = 0;
  for (; k < s->size() && (*s)[k] >= '0' && (*s)[k] <= '9'; ++k) {
    if (overflow) continue;
    if (*f > (kLimit - 1) / 10) {
      overflow = true;
      continue;
    }
    const uint64_t y = *f * 10 + static_cast<uint64_t>((*s)[k] - '0');
    if (y > kLimit) {
      overflow = true;
      continue;
    }
    *f = y;
    *scale *= 10;
  }
  s->remove_prefix(k);
  return k > 0;
}

// Go's time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+, or "0"; units ns, us, µs, μs, ms, s,
// m, h; a fraction is exact to the nanosecond; anything beyond int64 nanoseconds is invalid.
// Kept here (not shared with server/flags) so that this library stands alone.
std::optional<int64_t> parse_go_duration(std::string_view s) {
  constexpr uint64_t kLimit = uint64_t{1} << 63;
  bool negative = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return 0;
  if (s.empty()) return std::nullopt;
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s.front() == '.' || is_digit(s.front()))) return std::nullopt;
    uint64_t v = 0;  // the integer part (Go's leadingInt, which fails past 1<<63)
    size_t i = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) {
      if (v > kLimit / 10) return std::nullopt;
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      if (v > kLimit) return std::nullopt;
    }
    const bool pre = i > 0;
    s.remove_prefix(i);
    uint64_t f = 0;  // the fraction is f / scale
    double scale = 1;
    bool post = false;
    if (!s.empty() && s.front() == '.') {
      s.remove_prefix(1);
      post = leading_fraction(&s, &f, &scale);
    }
    if (!pre && !post) return std::nullopt;
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && !is_digit(s[u])) ++u;
    const std::string_view unit_name = s.substr(0, u);
    s.remove_prefix(u);
    uint64_t unit = 0;
    if (unit_name == "ns") {
      unit = 1;
    } else if (unit_name == "us" || unit_name == "\xC2\xB5s" || unit_name == "\xCE\xBCs") {
      unit = 1000;
    } else if (unit_name == "ms") {
      unit = 1000 * 1000;
    } else if (unit_name == "s") {
      unit = 1000 * 1000 * 1000;
    } else if (unit_name == "m") {
      unit = uint64_t{60} * 1000 * 1000 * 1000;
    } else if (unit_name == "h") {
      unit = uint64_t{3600} * 1000 * 1000 * 1000;
    } else {
      return std::nullopt;  // a missing or unknown unit
    }
    if (v > kLimit / unit) return std::nullopt;
    v *= unit;
    if (f > 0) {
      v += static_cast<uint64_t>(static_cast<double>(f) * (static_cast<double>(unit) / scale));
      if (v > kLimit) return std::nullopt;
    }
    total += v;
    if (total > kLimit) return std::nullopt;
  }
  if (negative) return static_cast<int64_t>(0 - total);  // -(1<<63) is representable
  if (total > kLimit - 1) return std::nullopt;
  return static_cast<int64_t>(total);
}

// =============================================================================================
// Request bodies. rqlite reads them with a streaming json.Decoder: a syntax error becomes
// "invalid JSON body", a well-formed value in the wrong place "invalid request", whichever comes
// first in the text; the checks on a parameterized element run once its array has closed; nothing
// after the outer array's `]` is read. Boost.JSON's basic_parser delivers the same events in the
// same order, and keeps every number's literal text (Go decodes with UseNumber).

struct JsonNode {
  enum class Kind : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::string text;               // a string's bytes, or a number's literal
  std::vector<JsonNode> items;    // an array's items, or an object's values
  std::vector<std::string> keys;  // an object's keys; keys[i] names items[i]

  static JsonNode of(Kind k) {
    JsonNode n;
    n.kind = k;
    return n;
  }
};

constexpr std::string_view kInvalidJson = "invalid JSON body";
constexpr std::string_view kInvalidRequest = "invalid request";
constexpr std::string_view kNoStatements = "no statements";
constexpr std::string_view kUnsupportedType = "unsupported type";

// Go's json.Number.Int64 (strconv.ParseInt base 10): no fraction, no exponent, within int64.
std::optional<int64_t> json_integer(std::string_view literal) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), v);
  if (ec != std::errc() || end != literal.data() + literal.size()) return std::nullopt;
  return v;
}

// The decimal exponent of a number literal's leading significant digit (saturated), enough to tell
// an overflow from an underflow.
int64_t decimal_magnitude(std::string_view literal) {
  int64_t integer_digits = 0;
  int64_t first_significant = -1;
  int64_t position = 0;
  bool in_fraction = false;
  size_t i = literal.front() == '-' ? 1 : 0;
  for (; i < literal.size() && literal[i] != 'e' && literal[i] != 'E'; ++i) {
    if (literal[i] == '.') {
      in_fraction = true;
      continue;
    }
    if (!in_fraction) ++integer_digits;
    if (first_significant < 0 && literal[i] != '0') first_significant = position;
    ++position;
  }
  int64_t exponent = 0;
  if (i < literal.size()) {
    ++i;
    bool negative = false;
    if (i < literal.size() && (literal[i] == '-' || literal[i] == '+'))
      negative = literal[i++] == '-';
    for (; i < literal.size(); ++i)
      exponent = std::min<int64_t>(exponent * 10 + (literal[i] - '0'), 1 << 30);
    if (negative) exponent = -exponent;
  }
  if (first_significant < 0) return 0;
  return integer_digits - first_significant - 1 + exponent;
}

// Go's strconv.ParseFloat(s, 64): nothing when the value overflows (Go's ErrRange); an underflow
// rounds to a signed zero without error.
std::optional<double> json_float(std::string_view literal) {
  double v = 0;
  const auto [end, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), v);
  if (ec == std::errc()) return v;
  if (ec == std::errc::result_out_of_range && decimal_magnitude(literal) < 0) {
    return literal.front() == '-' ? -0.0 : 0.0;
  }
  return std::nullopt;
}

// A string parameter written as an SQL blob literal, x'..' or X'..' (spaces around it trimmed),
// binds as the blob: rqlite's quirk. Anything else that is not valid hex stays text.
std::optional<std::string> hex_blob_literal(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\v\f\r";
  const size_t first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return std::nullopt;
  s = s.substr(first, s.find_last_not_of(kSpace) - first + 1);
  if (s.size() < 3 || (s[0] != 'x' && s[0] != 'X') || s[1] != '\'' || s.back() != '\'') {
    return std::nullopt;
  }
  const std::string_view hex = s.substr(2, s.size() - 3);
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string bytes;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (!is_hex_digit(hex[i]) || !is_hex_digit(hex[i + 1])) return std::nullopt;
    bytes.push_back(static_cast<char>(hex_value(hex[i]) << 4 | hex_value(hex[i + 1])));
  }
  return bytes;
}

// rqlite's makeParameter and the JSON-to-SQLite type table (spec §1.2). Returns the 400 message on
// failure.
std::optional<std::string> make_param(std::string name, const JsonNode& n, sql::Statement* stmt) {
  sql::Value v;
  switch (n.kind) {
    case JsonNode::Kind::kNull:
      break;
    case JsonNode::Kind::kBool:
      v = sql::Value::of_int(n.boolean ? 1 : 0);
      break;
    case JsonNode::Kind::kNumber:
      if (const auto i = json_integer(n.text)) {
        v = sql::Value::of_int(*i);
      } else if (const auto d = json_float(n.text)) {
        v = sql::Value::of_real(*d);
      } else {
        return "invalid number " + n.text;
      }
      break;
    case JsonNode::Kind::kString:
      if (auto blob = hex_blob_literal(n.text)) {
        v = sql::Value::of_blob(std::move(*blob));
      } else {
        v = sql::Value::of_text(go_utf8(n.text));
      }
      break;
    case JsonNode::Kind::kArray: {
      std::string bytes;
      for (const JsonNode& item : n.items) {
        const auto b =
            item.kind == JsonNode::Kind::kNumber ? json_integer(item.text) : std::nullopt;
        if (!b || *b < 0 || *b > 255) return std::string(kUnsupportedType);
        bytes.push_back(static_cast<char>(*b));
      }
      v = sql::Value::of_blob(std::move(bytes));
      break;
    }
    case JsonNode::Kind::kObject:
      return std::string(kUnsupportedType);
  }
  stmt->params.push_back(sql::Param{std::move(name), std::move(v)});
  return std::nullopt;
}

// One [sql, params...] element. Objects among the params are named parameters; a key given twice
// keeps its last value (Go decodes objects into maps) at its first place.
std::optional<std::string> parameterized_statement(const JsonNode& element, sql::Statement* stmt) {
  if (element.items.empty() || element.items[0].kind != JsonNode::Kind::kString) {
    return std::string(kInvalidRequest);
  }
  stmt->sql = go_utf8(element.items[0].text);
  for (size_t i = 1; i < element.items.size(); ++i) {
    const JsonNode& p = element.items[i];
    if (p.kind != JsonNode::Kind::kObject) {
      if (auto err = make_param(std::string(), p, stmt)) return err;
      continue;
    }
    std::vector<size_t> winners;  // per distinct key, the index of its last value
    std::map<std::string_view, size_t> slot;
    for (size_t k = 0; k < p.keys.size(); ++k) {
      const auto [it, inserted] = slot.try_emplace(p.keys[k], winners.size());
      if (inserted) {
        winners.push_back(k);
      } else {
        winners[it->second] = k;
      }
    }
    for (size_t k : winners) {
      if (auto err = make_param(p.keys[k], p.items[k], stmt)) return err;
    }
  }
  return std::nullopt;
}

class BodyHandler {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  using error_code = boost::json::error_code;
  using string_view = boost::json::string_view;

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_array_begin(error_code&) {
    if (!in_outer_) {
      in_outer_ = true;
      return true;
    }
    open_.push_back(JsonNode::of(JsonNode::Kind::kArray));
    return true;
  }
  bool on_array_end(std::size_t, error_code& ec) {
    if (open_.empty()) {
      in_outer_ = false;  // the outer array closed; rqlite reads no further
      return true;
    }
    return close_container(ec);
  }
  bool on_object_begin(error_code& ec) {
    if (open_.empty()) return fail(ec, kInvalidRequest);  // the document, or an element
    open_.push_back(JsonNode::of(JsonNode::Kind::kObject));
    return true;
  }
  bool on_object_end(std::size_t, error_code& ec) { return close_container(ec); }
  bool on_string_part(string_view s, std::size_t, error_code&) {
    buffer_.append(s.data(), s.size());
    return true;
  }
  bool on_string(string_view s, std::size_t, error_code& ec) {
    buffer_.append(s.data(), s.size());
    JsonNode n = JsonNode::of(JsonNode::Kind::kString);
    n.text = std::exchange(buffer_, std::string());
    return add(std::move(n), ec);
  }
  bool on_key_part(string_view s, std::size_t, error_code&) {
    buffer_.append(s.data(), s.size());
    return true;
  }
  bool on_key(string_view s, std::size_t, error_code&) {
    buffer_.append(s.data(), s.size());
    open_.back().keys.push_back(go_utf8(buffer_));
    buffer_.clear();
    return true;
  }
  bool on_number_part(string_view s, error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(int64_t, string_view s, error_code& ec) { return on_number(s, ec); }
  bool on_uint64(uint64_t, string_view s, error_code& ec) { return on_number(s, ec); }
  bool on_double(double, string_view s, error_code& ec) { return on_number(s, ec); }
  bool on_bool(bool b, error_code& ec) {
    JsonNode n = JsonNode::of(JsonNode::Kind::kBool);
    n.boolean = b;
    return add(std::move(n), ec);
  }
  bool on_null(error_code& ec) { return add(JsonNode::of(JsonNode::Kind::kNull), ec); }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }

  const std::string& failure() const { return failure_; }
  std::vector<sql::Statement>& statements() { return statements_; }

 private:
  bool on_number(string_view s, error_code& ec) {
    number_.append(s.data(), s.size());
    JsonNode n = JsonNode::of(JsonNode::Kind::kNumber);
    n.text = std::exchange(number_, std::string());
    return add(std::move(n), ec);
  }

  bool close_container(error_code& ec) {
    JsonNode n = std::move(open_.back());
    open_.pop_back();
    return add(std::move(n), ec);
  }

  // A complete value: part of an open parameterized element, or an element of the outer array.
  bool add(JsonNode&& n, error_code& ec) {
    if (!in_outer_) return fail(ec, kInvalidRequest);  // the document is not an array
    if (!open_.empty()) {
      open_.back().items.push_back(std::move(n));
      return true;
    }
    sql::Statement stmt;
    if (n.kind == JsonNode::Kind::kString) {
      stmt.sql = go_utf8(n.text);
    } else if (n.kind != JsonNode::Kind::kArray) {
      return fail(ec, kInvalidRequest);
    } else if (auto err = parameterized_statement(n, &stmt)) {
      return fail(ec, *err);
    }
    statements_.push_back(std::move(stmt));
    return true;
  }

  bool fail(error_code& ec, std::string_view message) {
    failure_ = message;
    ec = boost::json::make_error_code(boost::json::error::syntax);
    return false;
  }

  bool in_outer_ = false;
  std::vector<JsonNode> open_;  // the open containers inside the current element
  std::string buffer_;          // a string or key arriving in parts
  std::string number_;          // a number's literal arriving in parts
  std::string failure_;         // the 400 message of a well-formed but unacceptable body
  std::vector<sql::Statement> statements_;
};

// =============================================================================================
// Time values: what the Go SQLite driver (mattn/go-sqlite3) does for columns declared DATE,
// DATETIME or TIMESTAMP, and Go's time.Time.MarshalText (RFC 3339 with nanoseconds, trailing
// zeros trimmed) that rqlite then applies.

struct GoTime {
  int64_t unix = 0;    // seconds since the epoch
  int64_t nanos = 0;   // [0, 1e9)
  int64_t offset = 0;  // the zone's offset east of UTC, seconds; 0 prints as Z
};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t z, int64_t* y, int64_t* m, int64_t* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yoe + era * 400 + (*m <= 2);
}

int64_t days_in_month(int64_t month, int64_t year) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
  return month == 2 && leap ? 29 : kDays[month - 1];
}

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

// go-sqlite3's SQLiteTimestampFormats in Go's layout notation, rewritten: Y 2006, M 01, D 02,
// h 15, m 04, s 05, f .999999999, z -07:00; other characters are literal.
constexpr std::string_view kTimeLayouts[] = {
    "Y-M-D h:m:sfz", "Y-M-DTh:m:sfz", "Y-M-D h:m:sf", "Y-M-DTh:m:sf", "Y-M-D h:m:s",
    "Y-M-DTh:m:s",   "Y-M-D h:m",     "Y-M-DTh:m",    "Y-M-D",
};

bool digit_at(std::string_view v, size_t i) {
  return i < v.size() && v[i] >= '0' && v[i] <= '9';
}

// Go's getnum: one or two digits, exactly two when fixed.
bool take_number(std::string_view* v, bool fixed, int64_t* out) {
  if (!digit_at(*v, 0)) return false;
  if (!digit_at(*v, 1)) {
    if (fixed) return false;
    *out = (*v)[0] - '0';
    v->remove_prefix(1);
    return true;
  }
  *out = ((*v)[0] - '0') * 10 + ((*v)[1] - '0');
  v->remove_prefix(2);
  return true;
}

// Go's fractional seconds: a '.' or ',' and digits, of which only the first nine count.
int64_t take_fraction(std::string_view* v) {
  size_t n = 1;
  while (digit_at(*v, n)) ++n;
  int64_t nanos = 0;
  for (size_t i = 1; i < 10; ++i) nanos = nanos * 10 + (i < n ? (*v)[i] - '0' : 0);
  v->remove_prefix(n);
  return nanos;
}

bool fraction_follows(std::string_view v) {
  return v.size() >= 2 && (v[0] == '.' || v[0] == ',') && digit_at(v, 1);
}

// Go's time.ParseInLocation(layout, value, time.UTC) for one layout.
std::optional<GoTime> parse_time_layout(std::string_view layout, std::string_view v) {
  int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, nanos = 0, offset = 0;
  for (size_t li = 0; li < layout.size(); ++li) {
    const char c = layout[li];
    switch (c) {
      case 'Y':
        if (v.size() < 4) return std::nullopt;
        for (size_t i = 0; i < 4; ++i) {
          if (!digit_at(v, i)) return std::nullopt;
          year = year * 10 + (v[i] - '0');
        }
        v.remove_prefix(4);
        break;
      case 'M':
        if (!take_number(&v, true, &month) || month < 1 || month > 12) return std::nullopt;
        break;
      case 'D':
        if (!take_number(&v, true, &day)) return std::nullopt;  // checked against the month below
        break;
      case 'h':
        if (!take_number(&v, false, &hour) || hour >= 24) return std::nullopt;
        break;
      case 'm':
        if (!take_number(&v, true, &minute) || minute >= 60) return std::nullopt;
        break;
      case 's':
        if (!take_number(&v, true, &second) || second >= 60) return std::nullopt;
        // A fraction the layout does not mention is still accepted (Go's stdSecond rule).
        if (fraction_follows(v) && (li + 1 >= layout.size() || layout[li + 1] != 'f')) {
          nanos = take_fraction(&v);
        }
        break;
      case 'f':
        if (fraction_follows(v)) nanos = take_fraction(&v);
        break;
      case 'z': {
        if (v.size() < 6 || v[3] != ':' || (v[0] != '+' && v[0] != '-')) return std::nullopt;
        std::string_view hh = v.substr(1, 2);
        std::string_view mm = v.substr(4, 2);
        int64_t h = 0;
        int64_t m = 0;
        if (!take_number(&hh, true, &h) || !take_number(&mm, true, &m)) return std::nullopt;
        if (h > 24 || m > 60) return std::nullopt;
        offset = (h * 60 + m) * 60 * (v[0] == '-' ? -1 : 1);
        v.remove_prefix(6);
        break;
      }
      case ' ':  // a layout space matches one or more spaces (Go's skip)
        if (v.empty() || v[0] != ' ') return std::nullopt;
        while (!v.empty() && v[0] == ' ') v.remove_prefix(1);
        break;
      default:
        if (v.empty() || v[0] != c) return std::nullopt;
        v.remove_prefix(1);
    }
  }
  if (!v.empty()) return std::nullopt;  // extra text
  if (day < 1 || day > days_in_month(month, year)) return std::nullopt;
  const int64_t local =
      days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  return GoTime{local - offset, nanos, offset};
}

// go-sqlite3 on a TEXT value in a time column: a trailing Z dropped, the layouts tried in order,
// the zero time when none fits (rqlite issue #1658).
GoTime parse_sqlite_time(std::string_view s) {
  if (!s.empty() && s.back() == 'Z') s.remove_suffix(1);
  for (std::string_view layout : kTimeLayouts) {
    if (auto t = parse_time_layout(layout, s)) return *t;
  }
  return GoTime{days_from_civil(1, 1, 1) * 86400, 0, 0};
}

// go-sqlite3 on an INTEGER in a time column: Unix seconds, or milliseconds beyond ±1e12 (Go's
// int64 multiplication wraps, and so does this).
GoTime sqlite_time_from_integer(int64_t v) {
  if (v > 1'000'000'000'000 || v < -1'000'000'000'000) {
    const auto ns = static_cast<int64_t>(static_cast<uint64_t>(v) * 1'000'000u);
    const int64_t sec = floor_div(ns, 1'000'000'000);
    return GoTime{sec, ns - sec * 1'000'000'000, 0};
  }
  return GoTime{v, 0, 0};
}

void append_2(std::string& out, int64_t v) {
  out.push_back(static_cast<char>('0' + v / 10));
  out.push_back(static_cast<char>('0' + v % 10));
}

// Go's Time.MarshalText. Fails, with Go's message, where RFC 3339 cannot express the time.
bool append_rfc3339_nano(std::string& out, const GoTime& t, std::string* error) {
  const int64_t local = t.unix + t.offset;
  const int64_t days = floor_div(local, 86400);
  const int64_t secs = local - days * 86400;
  int64_t y = 0, m = 0, d = 0;
  civil_from_days(days, &y, &m, &d);
  if (y < 0 || y > 9999) {
    *error = "Time.MarshalText: year outside of range [0,9999]";
    return false;
  }
  const int64_t abs_offset = t.offset < 0 ? -t.offset : t.offset;
  if (abs_offset / 3600 >= 24) {
    *error = "Time.MarshalText: timezone hour outside of range [0,23]";
    return false;
  }
  append_2(out, y / 100);
  append_2(out, y % 100);
  out.push_back('-');
  append_2(out, m);
  out.push_back('-');
  append_2(out, d);
  out.push_back('T');
  append_2(out, secs / 3600);
  out.push_back(':');
  append_2(out, secs / 60 % 60);
  out.push_back(':');
  append_2(out, secs % 60);
  if (t.nanos != 0) {
    std::string frac = std::to_string(t.nanos + 1'000'000'000).substr(1);
    frac.erase(frac.find_last_not_of('0') + 1);
    out.push_back('.');
    out += frac;
  }
  if (t.offset == 0) {
    out.push_back('Z');
  } else {
    out.push_back(t.offset < 0 ? '-' : '+');
    append_2(out, abs_offset / 3600);
    out.push_back(':');
    append_2(out, abs_offset / 60 % 60);
  }
  return true;
}

// =============================================================================================
// Result values, as the Go driver hands them to rqlite and rqlite to encoding/json.

bool is_time_type(std::string_view t) {
  return t == "date" || t == "datetime" || t == "timestamp";
}

// rqlite db.go isTextType: a BLOB value in such a column is returned as a string.
bool is_text_type(std::string_view t) {
  for (std::string_view prefix :
       {"varchar", "varying character", "nchar", "native character", "nvarchar", "clob"}) {
    if (t.starts_with(prefix)) return true;
  }
  return t == "text" || t == "json" || t.empty();
}

// Why a value cannot be written: the statement fails (a time RFC 3339 cannot express; rqlite then
// reports the statement's error instead of its rows), or the whole answer does (a non-finite REAL).
enum class Failure : uint8_t { kNone, kStatement, kResponse };

Failure append_value(std::string& out, const sql::Value& v, std::string_view type, bool blob_array,
                     std::string* why) {
  switch (v.kind) {
    case sql::Value::Kind::kNull:
      out += "null";
      return Failure::kNone;
    case sql::Value::Kind::kInteger: {
      if (is_time_type(type)) {
        std::string text;
        if (!append_rfc3339_nano(text, sqlite_time_from_integer(v.integer), why)) {
          return Failure::kStatement;
        }
        append_go_string(out, text);
      } else if (type == "boolean") {
        out += v.integer > 0 ? "true" : "false";
      } else {
        append_int(out, v.integer);
      }
      return Failure::kNone;
    }
    case sql::Value::Kind::kReal:
      if (!append_go_float(out, v.real)) {
        *why = go_unsupported_float(v.real);
        return Failure::kResponse;
      }
      return Failure::kNone;
    case sql::Value::Kind::kText:
      if (is_time_type(type)) {
        std::string text;
        if (!append_rfc3339_nano(text, parse_sqlite_time(v.bytes), why)) return Failure::kStatement;
        append_go_string(out, text);
      } else {
        append_go_string(out, v.bytes);
      }
      return Failure::kNone;
    case sql::Value::Kind::kBlob:
      if (is_text_type(type)) {
        append_go_string(out, v.bytes);
      } else if (blob_array) {
        out.push_back('[');
        for (size_t i = 0; i < v.bytes.size(); ++i) {
          if (i > 0) out.push_back(',');
          append_int(out, static_cast<uint8_t>(v.bytes[i]));
        }
        out.push_back(']');
      } else {
        out.push_back('"');
        append_base64(out, v.bytes);
        out.push_back('"');
      }
      return Failure::kNone;
  }
  return Failure::kNone;
}

// Writes an object's members in order, with the commas between them.
class Members {
 public:
  explicit Members(std::string& out) : out_(out) { out_.push_back('{'); }
  std::string& key(std::string_view k) {
    if (!first_) out_.push_back(',');
    first_ = false;
    append_go_string(out_, k);
    out_.push_back(':');
    return out_;
  }
  void close() { out_.push_back('}'); }

 private:
  std::string& out_;
  bool first_ = true;
};

bool wants_time(const EncodeOptions& o, double t) {
  return o.timings && t != 0;
}

// A statement's `time` (omitempty). False if it is not finite.
bool append_time_member(Members& m, const EncodeOptions& o, double t) {
  if (!wants_time(o, t)) return true;
  return append_go_float(m.key("time"), t);
}

// A failed statement. /db/query keeps rqlite's QueryRows shape (and its associative form's
// always-present `rows`); the other endpoints answer ExecuteQueryResponse's bare {"error":..}.
void append_error_entry(std::string& out, std::string_view error, const EncodeOptions& o) {
  Members m(out);
  if (o.endpoint == Endpoint::kQuery && o.associative) m.key("rows") += "[]";
  append_go_string(m.key("error"), error);
  m.close();
}

// rqlite's Rows: columns, types, values, time; each omitted when empty.
Failure append_rows(std::string& out, const sql::StatementResult& r, const EncodeOptions& o,
                    std::string* why) {
  Members m(out);
  const auto strings = [&](std::string_view name, const std::vector<std::string>& list) {
    if (list.empty()) return;
    std::string& s = m.key(name);
    s.push_back('[');
    for (size_t i = 0; i < list.size(); ++i) {
      if (i > 0) s.push_back(',');
      append_go_string(s, list[i]);
    }
    s.push_back(']');
  };
  strings("columns", r.columns);
  strings("types", r.types);
  if (!r.rows.empty()) {
    std::string& s = m.key("values");
    s.push_back('[');
    for (size_t i = 0; i < r.rows.size(); ++i) {
      RQ_ASSERT_EQ(r.rows[i].size(), r.columns.size());
      if (i > 0) s.push_back(',');
      s.push_back('[');
      for (size_t c = 0; c < r.rows[i].size(); ++c) {
        if (c > 0) s.push_back(',');
        const Failure f = append_value(s, r.rows[i][c], r.types[c], o.blob_array, why);
        if (f != Failure::kNone) return f;
      }
      s.push_back(']');
    }
    s.push_back(']');
  }
  if (!append_time_member(m, o, r.time)) {
    *why = go_unsupported_float(r.time);
    return Failure::kResponse;
  }
  m.close();
  return Failure::kNone;
}

// rqlite's AssociativeRows: types (a map, omitted when empty), rows (always), time. Keys are
// sorted; a column name given twice keeps its last column, as Go's map assignment does.
Failure append_associative_rows(std::string& out, const sql::StatementResult& r,
                                const EncodeOptions& o, std::string* why) {
  std::map<std::string_view, size_t> column;  // bytewise order, Go's for map keys
  for (size_t c = 0; c < r.columns.size(); ++c) column[r.columns[c]] = c;
  Members m(out);
  if (!column.empty()) {
    Members types(m.key("types"));
    for (const auto& [name, c] : column) append_go_string(types.key(name), r.types[c]);
    types.close();
  }
  std::string& s = m.key("rows");
  s.push_back('[');
  for (size_t i = 0; i < r.rows.size(); ++i) {
    RQ_ASSERT_EQ(r.rows[i].size(), r.columns.size());
    if (i > 0) s.push_back(',');
    Members row(s);
    for (const auto& [name, c] : column) {
      const Failure f = append_value(row.key(name), r.rows[i][c], r.types[c], o.blob_array, why);
      if (f != Failure::kNone) return f;
    }
    row.close();
  }
  s.push_back(']');
  if (!append_time_member(m, o, r.time)) {
    *why = go_unsupported_float(r.time);
    return Failure::kResponse;
  }
  m.close();
  return Failure::kNone;
}

// rqlite's Result (last_insert_id, rows_affected, time; omitempty), and under associative its
// ResultWithRows, which adds "rows":null so that clients can tell a write from a read.
bool append_write(std::string& out, const sql::StatementResult& r, const EncodeOptions& o) {
  Members m(out);
  if (r.last_insert_id != 0) append_int(m.key("last_insert_id"), r.last_insert_id);
  if (r.rows_affected != 0) append_int(m.key("rows_affected"), r.rows_affected);
  if (!append_time_member(m, o, r.time)) return false;
  if (o.associative) m.key("rows") += "null";
  m.close();
  return true;
}

// One entry of `results`. Returns false, with Go's message, if the whole answer fails.
bool append_statement(std::string& out, const sql::StatementResult& r, const EncodeOptions& o,
                      std::string* fatal) {
  if (!r.error.empty()) {
    append_error_entry(out, r.error, o);
    return true;
  }
  if (o.endpoint != Endpoint::kQuery && !r.is_query) {
    if (append_write(out, r, o)) return true;
    *fatal = go_unsupported_float(r.time);
    return false;
  }
  RQ_ASSERT_EQ(r.types.size(), r.columns.size());
  std::string entry;
  std::string why;
  const Failure f =
      o.associative ? append_associative_rows(entry, r, o, &why) : append_rows(entry, r, o, &why);
  switch (f) {
    case Failure::kNone:
      out += entry;
      return true;
    case Failure::kStatement:
      append_error_entry(out, why, o);
      return true;
    case Failure::kResponse:
      *fatal = why;
      return false;
  }
  return true;
}

bool append_json_value(std::string& out, const boost::json::value& v, std::string* why) {
  switch (v.kind()) {
    case boost::json::kind::null:
      out += "null";
      return true;
    case boost::json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      return true;
    case boost::json::kind::int64:
      append_int(out, v.get_int64());
      return true;
    case boost::json::kind::uint64:
      out += std::to_string(v.get_uint64());
      return true;
    case boost::json::kind::double_:
      if (append_go_float(out, v.get_double())) return true;
      *why = go_unsupported_float(v.get_double());
      return false;
    case boost::json::kind::string:
      append_go_string(out, std::string_view(v.get_string().data(), v.get_string().size()));
      return true;
    case boost::json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const boost::json::value& item : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        if (!append_json_value(out, item, why)) return false;
      }
      out.push_back(']');
      return true;
    }
    case boost::json::kind::object: {
      Members m(out);
      for (const auto& kv : v.get_object()) {
        if (!append_json_value(m.key(std::string_view(kv.key().data(), kv.key().size())),
                               kv.value(), why)) {
          return false;
        }
      }
      m.close();
      return true;
    }
  }
  return true;
}

// Go's url.ParseQuery, keeping the first value of each key (rqlite reads only v[0]). Like Go it
// keeps going after an error and reports the first one, except that a `;` anywhere wins (Go 1.17
// stopped treating it as a separator).
using QueryValues = std::map<std::string, std::string, std::less<>>;

Result<QueryValues> go_parse_query(std::string_view raw) {
  QueryValues first;
  std::string error;
  while (!raw.empty()) {
    const size_t amp = raw.find('&');
    const std::string_view part = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (part.find(';') != std::string_view::npos) {
      error = "invalid semicolon separator in query";
      continue;
    }
    if (part.empty()) continue;
    const size_t eq = part.find('=');
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    std::string e;
    auto key = query_unescape(part.substr(0, eq), &e);
    auto value = key ? query_unescape(raw_value, &e) : std::nullopt;
    if (!key || !value) {
      if (error.empty()) error = e;
      continue;
    }
    first.try_emplace(std::move(*key), std::move(*value));
  }
  if (!error.empty()) return invalid(error);
  return first;
}

// The parameters that need no validation: flags (present means on), level, plain values.
void fill_flags_and_values(const QueryValues& first, QueryParams* qp) {
  const std::pair<const char*, bool*> flags[] = {
      {"pretty", &qp->pretty},
      {"timings", &qp->timings},
      {"transaction", &qp->transaction},
      {"associative", &qp->associative},
      {"blob_array", &qp->blob_array},
      {"qualify_columns", &qp->qualify_columns},
      {"raft_index", &qp->raft_index},
      {"redirect", &qp->redirect},
      {"noleader", &qp->noleader},
      {"queue", &qp->queue},
      {"wait", &qp->wait},
      {"nonvoters", &qp->nonvoters},
      {"sync", &qp->sync},
      {"compress", &qp->compress},
      {"vacuum", &qp->vacuum},
      {"freshness_strict", &qp->freshness_strict},
      {"norwrandom", &qp->norwrandom},
      {"norwtime", &qp->norwtime},
      {"noparse", &qp->noparse},
      {"bypass", &qp->bypass},
  };
  for (const auto& [name, field] : flags) *field = first.contains(std::string_view(name));

  if (const auto it = first.find(std::string_view("level")); it != first.end()) {
    qp->level_given = true;
    std::string lower = it->second;  // Go's strings.ToLower; only ASCII can match a level name
    for (char& c : lower) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    qp->level = svc::read_level_from_name(lower).value_or(svc::ReadLevel::kWeak);
  }
  const std::pair<const char*, std::string*> plain[] = {
      {"key", &qp->key}, {"fmt", &qp->fmt}, {"tables", &qp->tables}, {"ver", &qp->ver}};
  for (const auto& [name, field] : plain) {
    if (const auto it = first.find(std::string_view(name)); it != first.end()) *field = it->second;
  }
}

}  // namespace

// =============================================================================================

Result<QueryParams> parse_query(std::string_view raw_query) {
  auto values = go_parse_query(raw_query);
  if (!values.ok()) return values.error();
  const QueryValues& first = values.value();
  const auto get = [&](std::string_view k) -> const std::string* {
    const auto it = first.find(k);
    return it == first.end() ? nullptr : &it->second;
  };

  // rqlite's NewQueryParams checks, in its order.
  if (get("freshness_strict") != nullptr && get("freshness") == nullptr) {
    return invalid("freshness_strict requires freshness");
  }
  QueryParams qp;
  const std::pair<const char*, std::optional<std::chrono::nanoseconds>*> durations[] = {
      {"timeout", &qp.timeout},
      {"freshness", &qp.freshness},
      {"db_timeout", &qp.db_timeout},
      {"linearizable_timeout", &qp.linearizable_timeout},
  };
  for (const auto& [name, field] : durations) {
    const std::string* v = get(name);
    if (v == nullptr) continue;
    const auto ns = parse_go_duration(*v);
    if (!ns) return invalid(std::string(name) + " is not a valid duration");
    *field = std::chrono::nanoseconds(*ns);
  }
  const std::pair<const char*, std::optional<int64_t>*> integers[] = {
      {"retries", &qp.retries},
      {"trailing_logs", &qp.trailing_logs},
  };
  for (const auto& [name, field] : integers) {
    const std::string* v = get(name);
    if (v == nullptr) continue;
    *field = go_atoi(*v);
    if (!*field) return invalid(std::string(name) + " is not a valid integer");
  }
  if (const std::string* q = get("q")) {
    if (q->empty()) return invalid("query parameter not set");
    qp.q = *q;
  }
  fill_flags_and_values(first, &qp);
  return qp;
}

std::vector<std::string> split_tables(std::string_view tables) {
  constexpr std::string_view kSpace = " \t\n\v\f\r";
  std::vector<std::string> out;
  while (!tables.empty()) {
    const size_t comma = tables.find(',');
    std::string_view name = tables.substr(0, comma);
    tables = comma == std::string_view::npos ? std::string_view() : tables.substr(comma + 1);
    const size_t b = name.find_first_not_of(kSpace);
    if (b == std::string_view::npos) continue;
    out.emplace_back(name.substr(b, name.find_last_not_of(kSpace) - b + 1));
  }
  return out;
}

Result<std::vector<sql::Statement>> parse_statements(std::string_view body, bool text_plain) {
  std::vector<sql::Statement> statements;
  if (text_plain) {
    if (!body.empty()) statements.push_back(sql::Statement{std::string(body), {}});
    return statements;
  }
  boost::json::parse_options options;
  options.allow_invalid_utf8 = true;  // Go replaces bad bytes with U+FFFD instead of failing
  options.max_depth = 10000;          // Go's scanner limit
  boost::json::basic_parser<BodyHandler> parser(options);
  boost::json::error_code ec;
  parser.write_some(false, body.data(), body.size(), ec);
  if (!parser.handler().failure().empty()) return invalid(parser.handler().failure());
  if (ec || !parser.done()) return invalid(std::string(kInvalidJson));
  statements = std::move(parser.handler().statements());
  if (statements.empty()) return invalid(std::string(kNoStatements));
  std::erase_if(statements, [](const sql::Statement& s) { return s.sql.empty(); });
  return statements;
}

std::optional<std::string> parse_remove_body(std::string_view body) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  std::map<std::string, std::string> m;  // Go's map: a repeated key keeps its last value
  for (const auto& kv : v.as_object()) {
    if (kv.value().is_string()) {
      m[std::string(kv.key())] = std::string(kv.value().as_string());
    } else if (kv.value().is_null()) {
      m[std::string(kv.key())] = "";
    } else {
      return std::nullopt;
    }
  }
  if (m.size() != 1 || m.count("id") == 0) return std::nullopt;
  return m["id"];
}

std::optional<std::string> parse_stepdown_body(std::string_view body,
                                               std::string_view content_type) {
  if (body.empty() || !content_type.starts_with("application/json")) return "";
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec || !(v.is_object() || v.is_null())) return std::nullopt;
  if (v.is_null()) return "";
  std::string id;
  for (const auto& kv : v.as_object()) {
    std::string k(kv.key());
    for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (k != "id") continue;
    if (kv.value().is_string()) {
      id = std::string(kv.value().as_string());
    } else if (!kv.value().is_null()) {
      return std::nullopt;
    }
  }
  return id;
}

Result<std::string> encode_results(const sql::CommandResult& result, const EncodeOptions& options) {
  std::string out = "{\"results\":[";
  if (result.error.empty()) {
    for (size_t i = 0; i < result.results.size(); ++i) {
      if (i > 0) out.push_back(',');
      std::string fatal;
      if (!append_statement(out, result.results[i], options, &fatal)) {
        // rqlite's DBResults.MarshalJSON failed inside json.Marshal of the response.
        return invalid("json: error calling MarshalJSON for type *http.DBResults: " + fatal);
      }
    }
  }
  out.push_back(']');
  if (!result.error.empty()) {
    out += ",\"error\":";
    append_go_string(out, result.error);
  }
  if (wants_time(options, options.total_time)) {
    out += ",\"time\":";
    if (!append_go_float(out, options.total_time)) {
      return invalid(go_unsupported_float(options.total_time));
    }
  }
  if (options.sequence_number.value_or(0) != 0) {
    out += ",\"sequence_number\":";
    append_int(out, *options.sequence_number);
  }
  if (options.raft_index.value_or(0) != 0) {
    out += ",\"raft_index\":";
    out += std::to_string(*options.raft_index);
  }
  out.push_back('}');
  if (options.pretty) return go_indent(out);
  return out;
}

Result<std::string> go_json(const boost::json::value& value, bool pretty) {
  std::string out;
  std::string why;
  if (!append_json_value(out, value, &why)) return invalid(why);
  if (pretty) return go_indent(out);
  return out;
}

void sort_keys(boost::json::value& value) {
  if (auto* array = value.if_array()) {
    for (boost::json::value& item : *array) sort_keys(item);
    return;
  }
  auto* object = value.if_object();
  if (object == nullptr) return;
  std::vector<std::pair<std::string, boost::json::value>> members;
  members.reserve(object->size());
  for (auto& kv : *object) members.emplace_back(std::string(kv.key()), std::move(kv.value()));
  std::sort(members.begin(), members.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  boost::json::object sorted(object->storage());
  for (auto& [k, v] : members) {
    sort_keys(v);
    sorted.emplace(k, std::move(v));
  }
  *object = std::move(sorted);
}

}  // namespace rq::server
