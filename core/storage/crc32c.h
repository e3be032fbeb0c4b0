// CRC32C (Castagnoli), the checksum of every log record and snapshot. Computed with Boost.CRC
// (boost/crc.hpp, header-only, part of the Boost we already depend on) rather than by hand.
#pragma once

#include <cstdint>
#include <string_view>

namespace rq {

uint32_t crc32c(std::string_view bytes);
// Continues a CRC: crc32c_extend(crc32c(a), b) == crc32c(a + b).
uint32_t crc32c_extend(uint32_t crc, std::string_view bytes);

}  // namespace rq
