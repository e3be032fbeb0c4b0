// What the driver applies committed entries to. The simulator's is a digest of applied values;
// the server's is SQLite (core/sqlite, a later layer).
#pragma once

#include "core/raft/message.h"

namespace rq {

class StateMachine {
 public:
  virtual ~StateMachine() = default;
  // Called once per committed entry, in index order, no-ops included. After a restart the
  // driver re-applies from the index the state machine reports it has durably applied.
  virtual void apply(const raft::Entry& e) = 0;
};

}  // namespace rq
