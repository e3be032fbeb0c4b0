// The cluster layer's messages (core/service/forward_codec.h decode_cluster_message): forwarded
// requests and their replies, joins, calls, bootstrap notices; the payload of an Envelope's
// cluster branch. What decodes must re-encode to the same message.
#include "core/service/forward_codec.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

std::string encode_any(const rq::svc::ClusterMessage& m) {
  using namespace rq::svc;
  return std::visit(
      [](const auto& v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, Forwarded>) return encode_forward(v);
        if constexpr (std::is_same_v<T, ForwardedReply>) return encode_forward_reply(v);
        if constexpr (std::is_same_v<T, JoinAsk>) return encode_join(v);
        if constexpr (std::is_same_v<T, JoinAnswer>) return encode_join_answer(v);
        if constexpr (std::is_same_v<T, CallAsk>) return encode_call(v);
        if constexpr (std::is_same_v<T, CallAnswer>) return encode_call_answer(v);
        if constexpr (std::is_same_v<T, Notice>) return encode_notify(v);
      },
      m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto m = rq::svc::decode_cluster_message(rq::fuzz::text_of(data, size));
  if (!m.ok()) return 0;
  const std::string once = encode_any(*m);
  auto again = rq::svc::decode_cluster_message(once);
  RQ_ASSERT(again.ok());
  RQ_ASSERT_EQ(again->index(), m->index());
  RQ_ASSERT(encode_any(*again) == once);
  return 0;
}
