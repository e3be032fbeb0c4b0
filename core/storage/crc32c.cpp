#include "core/storage/crc32c.h"

#include <boost/crc.hpp>

namespace rq {

namespace {
// Reflected CRC-32C: polynomial 0x1EDC6F41, init and final xor all ones (RFC 3720).
using Crc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;
}  // namespace

uint32_t crc32c(std::string_view bytes) { return crc32c_extend(0, bytes); }

uint32_t crc32c_extend(uint32_t crc, std::string_view bytes) {
  // The register holds crc before the final xor; undo and redo it to continue.
  Crc32c c(crc ^ 0xFFFFFFFFu);
  c.process_bytes(bytes.data(), bytes.size());
  return c.checksum();
}

}  // namespace rq
