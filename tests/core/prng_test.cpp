#include "core/prng.h"

#include <gtest/gtest.h>

namespace rq {
namespace {

TEST(Prng, SameSeed_SameSequence) {
  Prng a(42), b(42);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a.next_u64(), b.next_u64());
}

TEST(Prng, Below_StaysInRange) {
  Prng p(7);
  for (int i = 0; i < 10000; ++i) ASSERT_LT(p.below(13), 13u);
}

}  // namespace
}  // namespace rq
