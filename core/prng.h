// Our own seeded generator: xoshiro256** seeded through splitmix64. Integer helpers only, so the
// same seed gives the same numbers with every compiler and standard library (std::*_distribution
// does not). Child streams split off a parent so adding a draw in one component does not shift the
// numbers every other component sees. (tigerbeetle stdx/prng.zig; foundationdb DeterministicRandom)
#pragma once

#include <cstdint>

namespace rq {

class Prng {
 public:
  explicit Prng(uint64_t seed);

  uint64_t next_u64();
  // Uniform in [0, n); n > 0. Lemire's multiply-shift with rejection, unbiased.
  uint64_t below(uint64_t n);
  // Uniform in [lo, hi], inclusive.
  uint64_t range(uint64_t lo, uint64_t hi);
  // True with probability ppm / 1'000'000.
  bool chance_ppm(uint32_t ppm);
  // An independent child stream; advances this stream by one draw.
  Prng split();

 private:
  uint64_t s_[4];
};

// splitmix64 step, also useful as a cheap integer hash.
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
inline uint64_t mix64(uint64_t x) {
  uint64_t s = x;
  return splitmix64(s);
}

}  // namespace rq
