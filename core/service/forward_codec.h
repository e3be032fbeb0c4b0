// Forwarded requests and their replies <-> Cap'n Proto bytes (core/wire/forward.capnp).
// Decoding treats its input as hostile: anything malformed or out of range is an Error.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "core/result.h"
#include "core/service/service.h"

namespace rq::svc {

struct Forwarded {
  uint64_t id = 0;
  NodeId origin;
  Request req;  // hops as received
};

struct ForwardedReply {
  uint64_t id = 0;
  Response resp;
};

std::string encode_forward(const Forwarded& f);
std::string encode_forward_reply(const ForwardedReply& r);
Result<std::variant<Forwarded, ForwardedReply>> decode_cluster_message(std::string_view bytes);

}  // namespace rq::svc
