#include "core/prng.h"

#include "core/assert.h"

namespace rq {

Prng::Prng(uint64_t seed) {
  uint64_t st = seed;
  for (auto& w : s_) w = splitmix64(st);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t Prng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint64_t Prng::below(uint64_t n) {
  RQ_ASSERT_GT(n, 0u);
  unsigned __int128 m = static_cast<unsigned __int128>(next_u64()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(next_u64()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

uint64_t Prng::range(uint64_t lo, uint64_t hi) {
  RQ_ASSERT_LE(lo, hi);
  if (lo == 0 && hi == UINT64_MAX) return next_u64();
  return lo + below(hi - lo + 1);
}

bool Prng::chance_ppm(uint32_t ppm) {
  if (ppm == 0) return false;
  if (ppm >= 1'000'000) return true;
  return below(1'000'000) < ppm;
}

Prng Prng::split() { return Prng(next_u64() ^ 0x6a09e667f3bcc909ULL); }

}  // namespace rq
