#include "core/storage/crc32c.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>

namespace rq {
namespace {

// Check values from RFC 3720 appendix B.4 and the CRC catalogue ("123456789").
TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);

  std::string ascending, descending;
  for (int i = 0; i < 32; ++i) {
    ascending.push_back(static_cast<char>(i));
    descending.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc32c(descending), 0x113FDB5Cu);
}

TEST(Crc32c, Extend_FromZero_IsPlainCrc) {
  EXPECT_EQ(crc32c_extend(0, "123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c_extend(0, ""), 0u);
}

TEST(Crc32c, Extend_ContinuesACrc) {
  EXPECT_EQ(crc32c_extend(crc32c("1234"), "56789"), 0xE3069283u);
  EXPECT_EQ(crc32c_extend(crc32c("123456789"), ""), 0xE3069283u);
}

RC_GTEST_PROP(Crc32c, Extend_EqualsCrcOfConcatenation,
              (const std::string& a, const std::string& b)) {
  RC_ASSERT(crc32c_extend(crc32c(a), b) == crc32c(a + b));
}

RC_GTEST_PROP(Crc32c, SplitAnywhere_SameCrc, (const std::string& s)) {
  const size_t cut = *rc::gen::inRange<size_t>(0, s.size() + 1);
  RC_ASSERT(crc32c_extend(crc32c(s.substr(0, cut)), s.substr(cut)) == crc32c(s));
}

// A CRC detects every single-bit error, which is what the log relies on to spot a flipped byte.
RC_GTEST_PROP(Crc32c, SingleBitFlip_ChangesCrc, (const std::string& base)) {
  RC_PRE(!base.empty());
  const size_t byte = *rc::gen::inRange<size_t>(0, base.size());
  const int bit = *rc::gen::inRange(0, 8);
  std::string flipped = base;
  flipped[byte] = static_cast<char>(flipped[byte] ^ (1 << bit));
  RC_ASSERT(crc32c(flipped) != crc32c(base));
}

}  // namespace
}  // namespace rq
