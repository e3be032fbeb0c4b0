// What every fuzz target shares: the input as text, and the split of a leading selector byte.
// A target's checks are RQ_ASSERTs: a failed one aborts, and libFuzzer keeps the input as a
// crash (docs/testing.md, "Fuzzing").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
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

// Little-endian fields of the on-disk formats (core/storage), for targets that repair a file's
// checksums so the fuzzer gets past them: `n` bytes read at `at`; four bytes written at `at`.
inline uint64_t get_le(const std::string& s, size_t at, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s[at + static_cast<size_t>(i)]);
  return v;
}
inline void put_le32(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
}

}  // namespace rq::fuzz
