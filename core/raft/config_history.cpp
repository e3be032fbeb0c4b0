#include "core/raft/config_history.h"

namespace rq::raft {

const Membership& ConfigHistory::at(LogIndex i) const {
  const Membership* m = &base_;
  for (const auto& [idx, cfg] : configs_) {
    if (idx > i) break;
    m = &cfg;
  }
  return *m;
}

LogIndex ConfigHistory::index_at(LogIndex i) const {
  LogIndex idx = base_index_;
  for (const auto& c : configs_) {
    if (c.first > i) break;
    idx = c.first;
  }
  return idx;
}

const std::pair<LogIndex, Membership>* ConfigHistory::before(LogIndex i) const {
  const std::pair<LogIndex, Membership>* found = nullptr;
  for (const auto& c : configs_) {
    if (c.first >= i) break;
    found = &c;
  }
  return found;
}

void ConfigHistory::truncate_from(LogIndex i) {
  while (!configs_.empty() && configs_.back().first >= i) configs_.pop_back();
}

void ConfigHistory::compact(LogIndex i) {
  size_t k = 0;
  while (k < configs_.size() && configs_[k].first <= i) {
    base_ = std::move(configs_[k].second);
    base_index_ = configs_[k].first;
    ++k;
  }
  configs_.erase(configs_.begin(), configs_.begin() + static_cast<std::ptrdiff_t>(k));
}

void ConfigHistory::restore(LogIndex i, Membership m) {
  configs_.clear();
  base_ = std::move(m);
  base_index_ = i;
}

}  // namespace rq::raft
