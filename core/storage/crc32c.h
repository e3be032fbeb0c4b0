// CRC32C (Castagnoli), the checksum of every log record and snapshot. Computed with Intel's
// ISA-L (libisal, Debian's package), which uses the CPU's CRC32 instruction where there is one:
// every record written and every byte replayed at start-up goes through it.
#pragma once

#include <cstdint>
#include <string_view>

namespace rq {

uint32_t crc32c(std::string_view bytes);
// Continues a CRC: crc32c_extend(crc32c(a), b) == crc32c(a + b).
uint32_t crc32c_extend(uint32_t crc, std::string_view bytes);

}  // namespace rq
