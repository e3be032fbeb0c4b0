// The configurations a linearization search has explored: (set of operations linearized, model
// state) pairs, with the keys a dead configuration was blamed on (sim/linearization_search.cpp).
// Open addressing over one arena of bitsets, so millions of entries are not millions of
// allocations.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace rq::sim {

class ConfigurationSet {
 public:
  static constexpr uint32_t kAbsent = UINT32_MAX;
  static constexpr uint64_t kAllKeys = ~uint64_t{0};

  // `words`: the length of every bitset this set holds.
  explicit ConfigurationSet(size_t words);

  // The entry of (bits, state), and whether it was added now. `bits_hash` is any hash of bits
  // that is the same for the same bits.
  std::pair<uint32_t, bool> insert(std::span<const uint64_t> bits, uint64_t bits_hash,
                                   uint32_t state);
  uint32_t find(std::span<const uint64_t> bits, uint64_t bits_hash, uint32_t state) const;

  // Culprits: a mask of key buckets (key % 64). kAllKeys until set.
  uint64_t culprits(uint32_t entry) const { return culprits_[entry]; }
  void set_culprits(uint32_t entry, uint64_t mask) { culprits_[entry] = mask; }

  uint64_t size() const { return hashes_.size(); }
  uint64_t bytes() const;

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;

  uint64_t slot_hash(uint64_t bits_hash, uint32_t state) const;
  // The slot holding (bits, state), or the empty slot where it would go.
  size_t probe(std::span<const uint64_t> bits, uint64_t h, uint32_t state) const;
  void grow();

  size_t words_;
  std::vector<uint64_t> arena_;  // words_ per entry
  std::vector<uint64_t> hashes_;
  std::vector<uint32_t> states_;
  std::vector<uint64_t> culprits_;
  std::vector<uint32_t> slots_;  // entry index or kEmpty; size a power of two, at most half full
};

}  // namespace rq::sim
