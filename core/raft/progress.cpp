#include "core/raft/progress.h"

#include <algorithm>

namespace rq::raft {

Inflights::Inflights(size_t capacity) : buf_(capacity) { RQ_ASSERT_GT(capacity, 0u); }

void Inflights::add(LogIndex last) {
  RQ_ASSERT(!full());
  buf_[(start_ + count_) % buf_.size()] = last;
  ++count_;
}

void Inflights::free_le(LogIndex to) {
  while (count_ > 0 && buf_[start_] <= to) {
    start_ = (start_ + 1) % buf_.size();
    --count_;
  }
}

void Inflights::free_first_one() {
  if (count_ == 0) return;
  start_ = (start_ + 1) % buf_.size();
  --count_;
}

void Inflights::reset() {
  start_ = 0;
  count_ = 0;
}

Progress::Progress(LogIndex next_index, size_t max_inflight) : next(next_index), inflights(max_inflight) {}

void Progress::become_probe() {
  // Coming out of a snapshot, probe right after it (etcd tracker/progress.go); match moves only
  // on an acknowledgement.
  const LogIndex after = state == ProgressState::kSnapshot ? std::max(match, pending_snapshot) : match;
  state = ProgressState::kProbe;
  next = after + 1;
  probe_sent = false;
  probe_last = match;
  inflights.reset();
  pending_snapshot = LogIndex{0};
}

void Progress::become_snapshot(LogIndex snapshot_index) {
  state = ProgressState::kSnapshot;
  pending_snapshot = snapshot_index;
  snap_acked = 0;
  snap_sent = 0;
  snap_acked_at_last_check = 0;
  snap_empty_sent = false;
  probe_sent = false;
  inflights.reset();
}

void Progress::become_replicate() {
  state = ProgressState::kReplicate;
  next = match + 1;
  probe_sent = false;
  inflights.reset();
}

bool Progress::maybe_update(LogIndex n) {
  bool updated = false;
  if (match < n) {
    match = n;
    updated = true;
    probe_sent = false;
  }
  next = std::max(next, n + 1);
  return updated;
}

bool Progress::maybe_decr_to(LogIndex rejected, LogIndex match_hint) {
  if (state == ProgressState::kSnapshot) return false;  // an append sent before the snapshot
  if (state == ProgressState::kReplicate) {
    // A rejection at or below match is stale: that append was sent before the match was known.
    if (rejected <= match) return false;
    next = match + 1;
    return true;
  }
  // Probe state: only the rejection of the append we last sent counts.
  if (next - 1 != rejected) return false;
  next = std::max(std::min(rejected, match_hint + 1), match + 1);
  probe_sent = false;
  return true;
}

bool Progress::is_paused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.full();
    case ProgressState::kSnapshot:
      return true;
  }
  return false;
}

void Progress::sent_append(LogIndex last, bool had_entries) {
  switch (state) {
    case ProgressState::kReplicate:
      if (had_entries) {
        optimistic_update(last);
        inflights.add(last);
      }
      break;
    case ProgressState::kProbe:
      probe_sent = true;
      probe_last = last;
      break;
    case ProgressState::kSnapshot:
      break;
  }
}

}  // namespace rq::raft
