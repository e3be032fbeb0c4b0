// A fast, deterministic 64-bit hash of bytes (not cryptographic): trace hashes, digests.
#pragma once

#include <cstdint>
#include <string_view>

namespace rq {

uint64_t hash_bytes(std::string_view bytes);

}  // namespace rq
