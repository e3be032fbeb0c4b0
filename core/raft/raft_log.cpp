#include "core/raft/raft_log.h"

#include <algorithm>

namespace rq::raft {

uint64_t entry_size(const Entry& e) { return e.data.size() + 24; }

RaftLog::RaftLog(std::vector<Entry> entries, LogIndex committed, LogIndex applied)
    : RaftLog(LogIndex{0}, Term{0}, std::move(entries), committed, applied) {}

RaftLog::RaftLog(LogIndex floor_index, Term floor_term, std::vector<Entry> entries, LogIndex committed,
                 LogIndex applied)
    : offset_(floor_index + 1), floor_term_(floor_term) {
  for (size_t k = 0; k < entries.size(); ++k) RQ_ASSERT_EQ(entries[k].index.v, floor_index.v + k + 1);
  entries_.assign(std::make_move_iterator(entries.begin()), std::make_move_iterator(entries.end()));
  stable_ = last_index();
  RQ_ASSERT_LE(committed, last_index());
  RQ_ASSERT_LE(applied, committed);
  // Everything up to the floor is in a snapshot: committed and applied.
  committed_ = std::max(committed, floor_index);
  applied_ = std::max(applied, floor_index);
}

Term RaftLog::last_term() const { return entries_.empty() ? floor_term_ : entries_.back().term; }

std::optional<Term> RaftLog::term(LogIndex i) const {
  if (i == floor_index()) return floor_term_;
  if (i < offset_ || i > last_index()) return std::nullopt;
  return entries_[distance(i, offset_)].term;
}

bool RaftLog::match_term(LogIndex i, Term t) const {
  auto got = term(i);
  return got && *got == t;
}

const Entry& RaftLog::at(LogIndex i) const {
  RQ_ASSERT_GE(i, offset_);
  RQ_ASSERT_LE(i, last_index());
  return entries_[distance(i, offset_)];
}

bool RaftLog::is_up_to_date(LogIndex last, Term lterm) const {
  // Raft §5.4.1: compare the terms of the last entries; with equal terms, the longer log wins.
  return lterm > last_term() || (lterm == last_term() && last >= last_index());
}

std::optional<LogIndex> RaftLog::maybe_append(LogIndex prev, Term prev_term, LogIndex leader_commit,
                                              const std::vector<Entry>& ents) {
  if (!match_term(prev, prev_term)) return std::nullopt;
  const LogIndex last_new = prev + ents.size();
  // Figure 2, receiver rule 3: delete an existing entry only when it conflicts with a new one.
  const LogIndex ci = find_conflict(ents);
  if (ci.v != 0) {
    RQ_ASSERT_GT(ci, committed_);
    std::vector<Entry> suffix(ents.begin() + distance(ci, prev + 1), ents.end());
    append(std::move(suffix));
  }
  // Figure 2, receiver rule 5: commitIndex = min(leaderCommit, index of last new entry).
  commit_to(std::min(leader_commit, last_new));
  return last_new;
}

LogIndex RaftLog::append(std::vector<Entry> ents) {
  if (ents.empty()) return last_index();
  const LogIndex first = ents.front().index;
  RQ_ASSERT_GT(first, committed_);
  RQ_ASSERT_LE(first, last_index() + 1);
  RQ_ASSERT_GE(first, offset_);
  if (first <= last_index() && (truncated_from_.v == 0 || first < truncated_from_)) truncated_from_ = first;
  entries_.resize(distance(first, offset_));
  if (stable_ >= first) stable_ = first - 1;
  for (auto& e : ents) {
    RQ_ASSERT_EQ(e.index, last_index() + 1);
    entries_.push_back(std::move(e));
  }
  return last_index();
}

LogIndex RaftLog::find_conflict(const std::vector<Entry>& ents) const {
  for (const auto& e : ents) {
    if (!match_term(e.index, e.term)) return e.index;
  }
  return LogIndex{0};
}

LogIndex RaftLog::find_conflict_by_term(LogIndex index, Term t) const {
  if (index > last_index()) return index;
  while (index.v > 0) {
    auto got = term(index);
    if (!got || *got <= t) break;
    index = index - 1;
  }
  return index;
}

std::vector<Entry> RaftLog::slice(LogIndex lo, LogIndex hi, uint64_t max_bytes) const {
  std::vector<Entry> out;
  if (lo >= hi) return out;
  RQ_ASSERT_GE(lo, offset_);
  RQ_ASSERT_LE(hi, last_index() + 1);
  uint64_t bytes = 0;
  for (LogIndex i = lo; i < hi; ++i) {
    const Entry& e = entries_[distance(i, offset_)];
    bytes += entry_size(e);
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(e);
  }
  return out;
}

void RaftLog::commit_to(LogIndex i) {
  if (i <= committed_) return;  // commit never decreases
  RQ_ASSERT_LE(i, last_index());
  committed_ = i;
}

void RaftLog::applied_to(LogIndex i) {
  if (i.v == 0) return;
  RQ_ASSERT_LE(i, committed_);
  RQ_ASSERT_GE(i, applied_);
  applied_ = i;
}

void RaftLog::stable_to(LogIndex i, Term t) {
  if (!match_term(i, t)) return;
  if (i > stable_) stable_ = i;
}

void RaftLog::compact(LogIndex i) {
  if (i <= floor_index()) return;
  RQ_ASSERT_LE(i, applied_);
  RQ_ASSERT_LE(i, last_index());
  floor_term_ = entries_[distance(i, offset_)].term;
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(distance(i + 1, offset_)));
  offset_ = i + 1;
}

void RaftLog::restore(LogIndex index, Term term) {
  RQ_ASSERT_GT(index, committed_);
  if (!entries_.empty() && (truncated_from_.v == 0 || offset_ < truncated_from_)) truncated_from_ = offset_;
  entries_.clear();
  offset_ = index + 1;
  floor_term_ = term;
  committed_ = index;
  applied_ = index;
  stable_ = index;
}

LogIndex RaftLog::take_truncated_from() {
  const LogIndex t = truncated_from_;
  truncated_from_ = LogIndex{0};
  return t;
}

std::vector<Entry> RaftLog::unstable_entries() const {
  std::vector<Entry> out;
  for (LogIndex i = stable_ + 1; i <= last_index(); ++i) out.push_back(entries_[distance(i, offset_)]);
  return out;
}

std::vector<Entry> RaftLog::next_committed_entries(uint64_t max_bytes) const {
  if (!has_next_committed()) return {};
  return slice(applied_ + 1, committed_ + 1, max_bytes);
}

}  // namespace rq::raft
