// Sending bytes to another node. Delivery is best effort: messages may be lost, delayed,
// duplicated or reordered, and Raft copes. Inbound bytes are handed to the node by its driver.
#pragma once

#include <string>

#include "core/types.h"

namespace rq {

class Transport {
 public:
  virtual ~Transport() = default;
  virtual void send(NodeId to, std::string bytes) = 0;
  // Where a node that is not (yet) in the membership listens, e.g. one asking to join: replies
  // to it must find it. A hint; transports that address nodes otherwise ignore it.
  virtual void learn(NodeId id, const std::string& address) {}
};

}  // namespace rq
