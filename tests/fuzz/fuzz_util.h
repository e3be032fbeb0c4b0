// What every fuzz target shares: the input as text, and the split of a leading selector byte.
// A target's checks are RQ_ASSERTs: a failed one aborts, and libFuzzer keeps the input as a
// crash (docs/testing.md, "Fuzzing").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/assert.h"

namespace rq::fuzz {

inline std::string_view text_of(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// The first byte picks a variant (format, mode, read size); the rest is the input proper.
struct Selected {
  uint8_t selector = 0;
  std::string_view rest;
};
inline Selected select(const uint8_t* data, size_t size) {
  if (size == 0) return Selected{};
  return Selected{data[0], text_of(data + 1, size - 1)};
}

}  // namespace rq::fuzz
