#include "core/storage/crc32c.h"

#include <isa-l/crc.h>

#include <climits>

namespace rq {

uint32_t crc32c(std::string_view bytes) { return crc32c_extend(0, bytes); }

uint32_t crc32c_extend(uint32_t crc, std::string_view bytes) {
  // ISA-L's crc32_iscsi works on the register before the final inversion and picks the SSE4.2 /
  // PCLMUL code path at run time. Its length is an int: feed it at most 1 GiB at a time.
  uint32_t reg = crc ^ 0xFFFFFFFFu;
  auto* p = reinterpret_cast<unsigned char*>(const_cast<char*>(bytes.data()));
  size_t left = bytes.size();
  while (left > 0) {
    const int n = static_cast<int>(left > (size_t{1} << 30) ? (size_t{1} << 30) : left);
    reg = crc32_iscsi(p, n, reg);
    p += n;
    left -= static_cast<size_t>(n);
  }
  return reg ^ 0xFFFFFFFFu;
}

}  // namespace rq
