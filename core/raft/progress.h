// The leader's view of one follower: how much of the log it has (match), what to send next, and
// flow control. (etcd-io/raft tracker/progress.go, tracker/inflights.go)
#pragma once

#include <cstdint>
#include <vector>

#include "core/types.h"

namespace rq::raft {

// A bounded window of in-flight AppendEntries, remembered by the last index each carried.
class Inflights {
 public:
  explicit Inflights(size_t capacity);
  void add(LogIndex last);
  // Frees every message whose last index is <= `to` (acknowledged).
  void free_le(LogIndex to);
  void free_first_one();
  bool full() const { return count_ == buf_.size(); }
  size_t count() const { return count_; }
  void reset();

 private:
  std::vector<LogIndex> buf_;  // ring buffer
  size_t start_ = 0;
  size_t count_ = 0;
};

enum class ProgressState : uint8_t {
  kProbe,      // one message at a time until a match is found
  kReplicate,  // optimistic pipelining, bounded by inflights
  kSnapshot,   // the entries it needs are compacted: streaming a snapshot instead
};

class Progress {
 public:
  Progress(LogIndex next, size_t max_inflight);

  // Invariant: match < next.
  LogIndex match;
  LogIndex next;
  ProgressState state = ProgressState::kProbe;
  // In probe state: an append is outstanding, wait for its reply or a heartbeat reply.
  bool probe_sent = false;
  // In probe state: the last index the latest probe carried (its prevLogIndex if it was empty).
  // Only an acknowledgement of exactly that answers the probe; see Raft::on_append_response.
  LogIndex probe_last;
  // Heard from since the last check-quorum round.
  bool recent_active = false;
  // The latest heartbeat round this follower answered.
  uint64_t acked_round = 0;
  Inflights inflights;
  // Snapshot state: which snapshot, bytes acknowledged, bytes sent.
  LogIndex pending_snapshot;
  uint64_t snap_acked = 0;
  uint64_t snap_sent = 0;
  uint64_t snap_acked_at_last_check = 0;
  bool snap_empty_sent = false;  // an empty image is one chunk of no bytes, sent once

  void become_probe();
  void become_replicate();
  void become_snapshot(LogIndex snapshot_index);
  // An acknowledgement up to n. Returns false when it is stale (n <= match).
  bool maybe_update(LogIndex n);
  // Optimistically advance next after sending entries up to n (replicate state).
  void optimistic_update(LogIndex n) { next = n + 1; }
  // A rejection of the append whose prevLogIndex was `rejected`; `match_hint` is where to probe
  // next. Returns false when the rejection is stale.
  bool maybe_decr_to(LogIndex rejected, LogIndex match_hint);
  bool is_paused() const;
  // Record that an append carrying entries up to `last` (possibly none) was sent.
  void sent_append(LogIndex last, bool had_entries);
};

}  // namespace rq::raft
