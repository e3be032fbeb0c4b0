// The simulator's state machine: the values of the normal entries applied, in order, and a digest
// of them (its "logical contents", what replicas are compared by). Snapshots serialize the values;
// the image is written asynchronously, pieces at a time, through a deferral the simulator provides,
// so entries keep being applied while a snapshot is in flight.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

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
  uint64_t last_applied() const { return last_applied_; }
  size_t values() const { return values_.size(); }

  static std::string encode(const std::vector<std::string>& values);

 private:
  void write_piece(std::shared_ptr<SnapshotSink> sink, std::shared_ptr<const std::string> image, uint64_t offset);

  Defer defer_;
  uint64_t piece_bytes_;
  std::vector<std::string> values_;
  uint64_t digest_ = 0;
  uint64_t last_applied_ = 0;
};

// The digest after appending `value` to a state whose digest is `d`.
uint64_t fold_digest(uint64_t d, const std::string& value);

}  // namespace rq::sim
