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

std::string encode(const raft::Message& m);
Result<raft::Message> decode(std::string_view bytes);

}  // namespace rq::wire
