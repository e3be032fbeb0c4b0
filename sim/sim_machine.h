// The simulator's state machine: a small key-value map (each client's latest value, keyed by
// client) plus the last values applied, and a rolling digest of everything applied (its "logical
// contents", what replicas are compared by). The state stays bounded however long a run is, so
// snapshots cost the same at the end as at the start. Snapshots serialize it; the image is written
// asynchronously, a piece at a time, through a deferral the simulator provides, so entries keep
// being applied while a snapshot is in flight.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/state_machine.h"

namespace rq::sim {

class SimMachine final : public StateMachine {
 public:
  // `defer(fn)` runs fn later on the same node (dropped if the node crashes first).
  using Defer = std::function<void(std::function<void()>)>;
  SimMachine(Defer defer, uint64_t piece_bytes) : defer_(std::move(defer)), piece_bytes_(piece_bytes) {}

  void apply(const raft::Entry& e) override;
  void snapshot(std::shared_ptr<SnapshotSink> sink) override;
  Status restore(const SnapshotReader& read, uint64_t size) override;

  uint64_t digest() const { return digest_; }
  std::string encode() const;

  static constexpr size_t kRecent = 64;

 private:
  void write_piece(std::shared_ptr<SnapshotSink> sink, std::shared_ptr<const std::string> image, uint64_t offset);

  Defer defer_;
  uint64_t piece_bytes_;
  uint64_t digest_ = 0;
  uint64_t applied_values_ = 0;
  std::map<std::string, std::string> latest_;  // key (the value up to its '-') -> value
  std::deque<std::string> recent_;             // the last kRecent values, oldest first
};

// The digest after appending `value` to a state whose digest is `d`.
uint64_t fold_digest(uint64_t d, const std::string& value);

}  // namespace rq::sim
