// Log entry commands and their results (core/sqlite/command_codec.h): every normal entry a
// leader replicates is decoded by decode_command before it is applied, and results travel
// between nodes. Both decoders read every input, word-aligned and not; what decodes must
// re-encode to bytes that decode to the same encoding.
#include <cstring>
#include <vector>

#include "core/sqlite/command_codec.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// The same bytes at an address that is not word-aligned.
std::string_view unaligned(std::string_view bytes, std::vector<char>* buf) {
  buf->assign(bytes.size() + 1, '\0');
  if (!bytes.empty()) std::memcpy(buf->data() + 1, bytes.data(), bytes.size());
  return std::string_view(buf->data() + 1, bytes.size());
}

template <class Decode, class Encode>
void check(std::string_view bytes, Decode decode, Encode encode) {
  std::vector<char> buf;
  auto v = decode(bytes);
  auto w = decode(unaligned(bytes, &buf));
  RQ_ASSERT_EQ(v.ok(), w.ok());
  if (!v.ok()) return;
  const std::string once = encode(*v);
  RQ_ASSERT(encode(*w) == once);
  auto again = decode(once);
  RQ_ASSERT(again.ok());
  RQ_ASSERT(encode(*again) == once);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rq::sql;
  const std::string_view bytes = rq::fuzz::text_of(data, size);
  check(bytes, decode_command, encode_command);
  check(bytes, decode_result, encode_result);
  return 0;
}
