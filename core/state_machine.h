// What the driver applies committed entries to. The simulator's keeps the values it applied and a
// digest of them; the server's is SQLite (a later layer). Snapshot images are opaque bytes to the
// core: the state machine writes them and reads them back.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/raft/message.h"
#include "core/result.h"

namespace rq {

// Where a state machine writes a snapshot image. write() may be called any number of times;
// finish() exactly once (ok to keep the snapshot, an error to abandon it).
class SnapshotSink {
 public:
  virtual ~SnapshotSink() = default;
  virtual Status write(std::string_view bytes) = 0;
  virtual void finish(Status st) = 0;
};

// Reads `len` bytes of a snapshot image at `offset`.
using SnapshotReader = std::function<Result<std::string>(uint64_t offset, uint64_t len)>;

class StateMachine {
 public:
  virtual ~StateMachine() = default;
  // Called once per committed entry, in index order, no-ops and config entries included.
  virtual void apply(const raft::Entry& e) = 0;
  // Captures the state as of the last entry applied and writes it to `sink`, now or later: the
  // driver keeps applying entries meanwhile, so whatever is written later must still be the
  // state captured now. Taking a snapshot must never block the driver for long.
  virtual void snapshot(std::shared_ptr<SnapshotSink> sink) = 0;
  // Replaces the whole state with a snapshot image of `size` bytes.
  virtual Status restore(const SnapshotReader& read, uint64_t size) = 0;
};

}  // namespace rq
