// The memberships a log has gone through: a base (from a snapshot, or static) and every config
// entry after it. The latest one is in effect, committed or not (thesis §4.1); truncating the log
// past a config entry reverts to the one before.
#pragma once

#include <utility>
#include <vector>

#include "core/raft/membership.h"
#include "core/types.h"

namespace rq::raft {

class ConfigHistory {
 public:
  explicit ConfigHistory(Membership base = {}, LogIndex base_index = LogIndex{0})
      : base_(std::move(base)), base_index_(base_index) {}

  const Membership& current() const { return configs_.empty() ? base_ : configs_.back().second; }
  // Index of the latest config entry (the base's index when there is none).
  LogIndex current_index() const { return configs_.empty() ? base_index_ : configs_.back().first; }
  // The membership in effect at index i (i >= base index), and the index of the entry (or base)
  // it comes from.
  const Membership& at(LogIndex i) const;
  LogIndex index_at(LogIndex i) const;
  // The latest config entry before `i`, if it is after the base.
  const std::pair<LogIndex, Membership>* before(LogIndex i) const;

  void add(LogIndex i, Membership m) { configs_.emplace_back(i, std::move(m)); }
  // The log lost every entry from i on.
  void truncate_from(LogIndex i);
  // Entries up to i were compacted: fold the configs up to i into the base.
  void compact(LogIndex i);
  // A snapshot replaced the log.
  void restore(LogIndex i, Membership m);

 private:
  Membership base_;
  LogIndex base_index_;
  std::vector<std::pair<LogIndex, Membership>> configs_;  // increasing index
};

}  // namespace rq::raft
