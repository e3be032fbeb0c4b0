// A reader for EDN (extensible data notation, github.com/edn-format/edn), the format Jepsen and
// Knossos write histories in. It reads what those files hold: nil, booleans, integers (with an
// optional N suffix), floats, strings with escapes, characters, keywords, symbols, lists,
// vectors, maps, sets; commas are whitespace; `;` comments run to the end of the line; `#_`
// discards the next form; a tagged form (`#inst "..."`, `#jepsen.history.Op{...}`) reads as the
// form itself. Every value remembers the line it starts on, for error messages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace rq::sim {

struct EdnValue {
  enum class Kind : uint8_t {
    kNil,
    kBool,
    kInt,
    kFloat,
    kString,
    kChar,
    kKeyword,
    kSymbol,
    kList,
    kVector,
    kMap,
    kSet
  };

  Kind kind = Kind::kNil;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  std::string text;  // a string's contents, a keyword without its colon, a symbol, a character
  std::vector<EdnValue> items;  // elements; a map's are key, value, key, value, ...
  uint32_t line = 0;

  bool is_keyword(std::string_view k) const { return kind == Kind::kKeyword && text == k; }
  // A map's value under the keyword `k`, or nullptr.
  const EdnValue* get(std::string_view k) const;
  // Short text for error messages: the kind and, for atoms, the value.
  std::string summary() const;
};

// Every top-level form of `text`. Errors name the line: an unterminated string or collection, an
// unmatched closer, a map with an odd number of forms, an integer out of range, nesting deeper
// than kEdnMaxDepth.
inline constexpr int kEdnMaxDepth = 200;
Result<std::vector<EdnValue>> parse_edn(std::string_view text);

}  // namespace rq::sim
