#include "core/hash.h"

#include <cstring>

#include "core/prng.h"

namespace rq {

uint64_t hash_bytes(std::string_view bytes) {
  uint64_t h = 0x9ae16a3b2f90404fULL ^ bytes.size();
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, bytes.data() + i, 8);
    h = (h ^ w) * 0x9fb21c651e98df25ULL;
    h ^= h >> 29;
  }
  uint64_t tail = 0;
  for (size_t k = 0; i < bytes.size(); ++i, ++k) tail |= uint64_t{static_cast<uint8_t>(bytes[i])} << (8 * k);
  return mix64(h ^ tail);
}

}  // namespace rq
