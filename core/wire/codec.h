// Raft messages <-> Cap'n Proto bytes. Decoding treats its input as hostile: any malformed,
// truncated or out-of-range message is an Error, never a crash.
#pragma once

#include <string>
#include <string_view>

#include "core/raft/message.h"
#include "core/result.h"

namespace rq::wire {

// Largest encoded message accepted (the transport also enforces it per frame).
inline constexpr size_t kMaxMessageBytes = 64 << 20;

// What nodes send each other is an Envelope (raft.capnp): a Raft message, or a cluster-layer
// message (request forwarding) that this codec carries as opaque bytes.
struct Inbound {
  bool is_cluster = false;
  raft::Message raft;
  std::string cluster;
};

std::string encode(const raft::Message& m);
std::string encode_cluster(std::string_view payload);
Result<Inbound> decode_envelope(std::string_view bytes);
// A Raft message only (a cluster message is an error).
Result<raft::Message> decode(std::string_view bytes);

}  // namespace rq::wire
