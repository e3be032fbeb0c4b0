#include "sim/configuration_set.h"

#include <algorithm>

#include "core/assert.h"
#include "core/prng.h"

namespace rq::sim {

ConfigurationSet::ConfigurationSet(size_t words) : words_(words), slots_(1024, kEmpty) {}

uint64_t ConfigurationSet::slot_hash(uint64_t bits_hash, uint32_t state) const {
  return mix64(bits_hash ^ (uint64_t{state} * 0x9e3779b97f4a7c15ULL));
}

size_t ConfigurationSet::probe(std::span<const uint64_t> bits, uint64_t h, uint32_t state) const {
  RQ_ASSERT_EQ(bits.size(), words_);
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const uint32_t e = slots_[i];
    if (e == kEmpty) return i;
    if (hashes_[e] == h && states_[e] == state &&
        std::equal(bits.begin(), bits.end(), arena_.begin() + size_t{e} * words_)) {
      return i;
    }
  }
}

std::pair<uint32_t, bool> ConfigurationSet::insert(std::span<const uint64_t> bits,
                                                   uint64_t bits_hash, uint32_t state) {
  if ((hashes_.size() + 1) * 2 > slots_.size()) grow();
  const uint64_t h = slot_hash(bits_hash, state);
  const size_t slot = probe(bits, h, state);
  if (slots_[slot] != kEmpty) return {slots_[slot], false};
  RQ_ASSERT_LT(hashes_.size(), size_t{kEmpty});
  const auto e = static_cast<uint32_t>(hashes_.size());
  slots_[slot] = e;
  hashes_.push_back(h);
  states_.push_back(state);
  culprits_.push_back(kAllKeys);
  arena_.insert(arena_.end(), bits.begin(), bits.end());
  return {e, true};
}

uint32_t ConfigurationSet::find(std::span<const uint64_t> bits, uint64_t bits_hash,
                                uint32_t state) const {
  const uint32_t e = slots_[probe(bits, slot_hash(bits_hash, state), state)];
  return e == kEmpty ? kAbsent : e;
}

uint64_t ConfigurationSet::bytes() const {
  return arena_.capacity() * 8 + hashes_.capacity() * 8 + states_.capacity() * 4 +
         culprits_.capacity() * 8 + slots_.capacity() * 4;
}

void ConfigurationSet::grow() {
  RQ_ASSERT_LT(slots_.size(), size_t{1} << 31);
  std::vector<uint32_t> bigger(slots_.size() * 2, kEmpty);
  const size_t mask = bigger.size() - 1;
  for (uint32_t e = 0; e < hashes_.size(); ++e) {
    size_t i = hashes_[e] & mask;
    while (bigger[i] != kEmpty) i = (i + 1) & mask;
    bigger[i] = e;
  }
  slots_.swap(bigger);
}

}  // namespace rq::sim
