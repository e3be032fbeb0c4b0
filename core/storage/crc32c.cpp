#include "core/storage/crc32c.h"

#include <boost/crc.hpp>

namespace rq {

namespace {

// Reflected CRC-32C: polynomial 0x1EDC6F41, init and final xor all ones (RFC 3720).
using Crc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

uint32_t reflect32(uint32_t v) {
  uint32_t r = 0;
  for (int i = 0; i < 32; ++i) {
    r = (r << 1) | (v & 1);
    v >>= 1;
  }
  return r;
}

}  // namespace

uint32_t crc32c(std::string_view bytes) {
  Crc32c c;
  c.process_bytes(bytes.data(), bytes.size());
  return c.checksum();
}

uint32_t crc32c_extend(uint32_t crc, std::string_view bytes) {
  // Resume from the register before the final xor. Boost takes the initial remainder in
  // unreflected form (and reflects it for a reflected CRC), so hand it over reflected back.
  Crc32c c(reflect32(crc ^ 0xFFFFFFFFu));
  c.process_bytes(bytes.data(), bytes.size());
  return c.checksum();
}

}  // namespace rq
