// A rolling hash of everything that happens in a run. Two runs of one seed must end with the same
// value; a difference means something outside the seed (a wall clock, an unordered container, an
// uninitialised byte) leaked into the run. (madsim's determinism check)
#pragma once

#include <cstdint>
#include <string_view>

#include "core/hash.h"

namespace rq::sim {

using rq::hash_bytes;

class Trace {
 public:
  void add(uint64_t x);
  void add(uint64_t a, uint64_t b, uint64_t c = 0, uint64_t d = 0) {
    add(a);
    add(b);
    add(c);
    add(d);
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0x243f6a8885a308d3ULL;
};

}  // namespace rq::sim
