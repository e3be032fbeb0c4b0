// What one rqlited node asks of another, and the answers (server/peer_codec.h): a call's payload
// arrives inside a cluster Call, an answer inside its CallReply. Every decoder reads every input.
#include "server/peer_codec.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rq::server;
  const std::string_view bytes = rq::fuzz::text_of(data, size);
  auto call = decode_peer_call(bytes, rq::NodeId(7));
  if (call.ok() && call->kind == PeerCall::Kind::kHttp) {
    RQ_ASSERT(call->http.forwarded);
    RQ_ASSERT_LE(call->http.method.size(), 16u);
    RQ_ASSERT(call->http.remote == "node 7");
  }
  (void)decode_meta_answer(bytes);
  auto http = decode_http_answer(bytes);
  if (http.ok()) {
    RQ_ASSERT_GE(http->resp.status, 100);
    RQ_ASSERT_LE(http->resp.status, 599);
  }
  (void)decode_chunk_answer(bytes);
  return 0;
}
