// Reading what another rqlited node sends above the service (server/peers.capnp): its calls and
// its answers. The bytes are hostile: anything malformed or out of range is an Error saying
// "peer message: why", never a crash. server/peers.cpp builds the messages and acts on them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/types.h"
#include "server/http_server.h"

namespace rq::server {

struct NodeMeta {
  std::string name;      // rqlite's node id
  std::string api_addr;  // with scheme: "http://127.0.0.1:4001"
  std::string version;
  uint64_t commit_index = 0;
};

// A call another node made of this one.
struct PeerCall {
  enum class Kind : uint8_t { kMeta, kHttp, kChunk };
  Kind kind = Kind::kMeta;
  HttpRequest http;       // kHttp: the request, marked forwarded, its remote "node <from>"
  uint64_t transfer = 0;  // kChunk
  uint64_t offset = 0;    // kChunk
};
Result<PeerCall> decode_peer_call(std::string_view bytes, NodeId from);

// The answers to those calls. An answer of another kind, or the other node's error answer, is
// an Error.
Result<NodeMeta> decode_meta_answer(std::string_view bytes);
struct HttpAnswer {
  HttpResponse resp;      // status (100-599), content type, headers, body
  uint64_t transfer = 0;  // nonzero: the body is `size` bytes, pulled with chunk calls
  uint64_t size = 0;
};
Result<HttpAnswer> decode_http_answer(std::string_view bytes);
// A piece of a body; an answer carrying an error is an Error with ErrorCode::kIo.
Result<std::string> decode_chunk_answer(std::string_view bytes);

}  // namespace rq::server
