#include "sim/trace.h"

#include <cstring>

#include "core/prng.h"

namespace rq::sim {

void Trace::add(uint64_t x) { h_ = mix64(h_ ^ x) + 0x632be59bd9b4e019ULL; }

}  // namespace rq::sim
