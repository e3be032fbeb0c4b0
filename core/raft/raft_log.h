// The in-memory view of a node's Raft log: every entry from first_index() to last_index(), how far
// it is durable (stable), committed and applied. The durable copy lives in core/storage/log_store.
// (etcd-io/raft log.go + log_unstable.go, folded into one index-addressed deque.)
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "core/raft/message.h"

namespace rq::raft {

class RaftLog {
 public:
  // A log recovered from disk: all of `entries` are stable. `entries` must be contiguous from 1.
  RaftLog(std::vector<Entry> entries, LogIndex committed, LogIndex applied);
  // The same after a snapshot: everything up to (floor_index, floor_term) is compacted away and
  // `entries` start at floor_index + 1.
  RaftLog(LogIndex floor_index, Term floor_term, std::vector<Entry> entries, LogIndex committed, LogIndex applied);

  LogIndex first_index() const { return offset_; }
  LogIndex last_index() const { return offset_ + entries_.size() - 1; }
  Term last_term() const;
  // The last compacted entry (index 0, term 0 when nothing is).
  LogIndex floor_index() const { return offset_ - 1; }
  Term floor_term() const { return floor_term_; }
  // Term of the entry at i; the floor's term at the floor; nullopt when i is outside the log or
  // compacted away.
  std::optional<Term> term(LogIndex i) const;
  bool match_term(LogIndex i, Term t) const;
  const Entry& at(LogIndex i) const;

  // Raft §5.4.1: a candidate's log is at least as up to date as ours.
  bool is_up_to_date(LogIndex last, Term last_term) const;

  // The follower side of AppendEntries (Figure 2, receiver rules 2-5). Returns the index of the
  // last new entry when the log matched at (prev, prev_term), nullopt otherwise.
  std::optional<LogIndex> maybe_append(LogIndex prev, Term prev_term, LogIndex leader_commit,
                                       const std::vector<Entry>& ents);
  // Appends, truncating any existing suffix that starts at ents[0].index. Never truncates a
  // committed entry. Returns the new last index.
  LogIndex append(std::vector<Entry> ents);

  // First index in ents whose term conflicts with ours, or whose index is past our end; Index 0
  // when all of ents is already in the log.
  LogIndex find_conflict(const std::vector<Entry>& ents) const;
  // Largest index <= `index` whose term is <= `term` (fast backtracking, etcd log.go
  // findConflictByTerm). Used by both sides of a rejected AppendEntries.
  LogIndex find_conflict_by_term(LogIndex index, Term term) const;

  // Entries in [lo, hi), at most max_bytes of payload but always at least one.
  std::vector<Entry> slice(LogIndex lo, LogIndex hi, uint64_t max_bytes) const;

  LogIndex committed() const { return committed_; }
  LogIndex applied() const { return applied_; }
  LogIndex stable() const { return stable_; }

  void commit_to(LogIndex i);
  void applied_to(LogIndex i);
  // Entries up to (i, t) reached the disk. Ignored when the entry at i has since been replaced.
  void stable_to(LogIndex i, Term t);

  // Drops the entries up to and including i (<= applied): they are in a snapshot now.
  void compact(LogIndex i);
  // Replaces the whole log with a snapshot's floor (Figure 13, rule 7): empty, with committed,
  // applied and stable all at the snapshot's index.
  void restore(LogIndex index, Term term);
  // The lowest index replaced by an append since the last call (0 if none), so the owner can
  // drop what it derived from replaced entries (configs).
  LogIndex take_truncated_from();

  std::vector<Entry> unstable_entries() const;
  bool has_unstable() const { return stable_ < last_index(); }
  // Committed entries not yet applied, at most max_bytes (at least one).
  std::vector<Entry> next_committed_entries(uint64_t max_bytes) const;
  bool has_next_committed() const { return applied_ < committed_; }

 private:
  // Invariant: entries_[k].index == offset_ + k.
  // Invariant: applied_ <= committed_ <= last_index().
  // Invariant: stable_ <= last_index().
  std::deque<Entry> entries_;
  LogIndex offset_{1};
  Term floor_term_;
  LogIndex truncated_from_;
  LogIndex committed_;
  LogIndex applied_;
  LogIndex stable_;
};

uint64_t entry_size(const Entry& e);

}  // namespace rq::raft
