#include "core/raft/raft_log.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

namespace rq {
template <class Tag>
static void PrintTo(const Counter<Tag>& c, std::ostream* os) {
  *os << c.v;
}
namespace raft {
static void PrintTo(const Entry& e, std::ostream* os) {
  *os << "{i=" << e.index.v << " t=" << e.term.v << " type=" << static_cast<int>(e.type) << " "
      << e.data.size() << "B}";
}
}  // namespace raft
}  // namespace rq

namespace rq::raft {
namespace {

Entry ent(uint64_t index, uint64_t term, std::string data = {}) {
  return Entry{Term{term}, LogIndex{index}, EntryType::kNormal, std::move(data)};
}

// Entries 1..n whose terms are `terms`.
std::vector<Entry> with_terms(std::initializer_list<uint64_t> terms) {
  std::vector<Entry> out;
  uint64_t i = 1;
  for (uint64_t t : terms) out.push_back(ent(i++, t));
  return out;
}

std::vector<uint64_t> terms_of(const RaftLog& log) {
  std::vector<uint64_t> out;
  for (LogIndex i{1}; i <= log.last_index(); ++i) out.push_back(log.at(i).term.v);
  return out;
}

std::vector<uint64_t> indexes_of(const std::vector<Entry>& ents) {
  std::vector<uint64_t> out;
  for (const Entry& e : ents) out.push_back(e.index.v);
  return out;
}

RaftLog stable_log(std::initializer_list<uint64_t> terms) {
  return RaftLog(with_terms(terms), LogIndex{0}, LogIndex{0});
}

// ---- term / match_term -------------------------------------------------------------------

TEST(RaftLog, Term_IndexZeroIsTermZero) {
  const RaftLog empty = stable_log({});
  EXPECT_EQ(empty.term(LogIndex{0}), Term{0});
  EXPECT_TRUE(empty.match_term(LogIndex{0}, Term{0}));
  EXPECT_FALSE(empty.match_term(LogIndex{0}, Term{1}));

  const RaftLog log = stable_log({2, 3});
  EXPECT_EQ(log.term(LogIndex{0}), Term{0});
  EXPECT_TRUE(log.match_term(LogIndex{0}, Term{0}));
}

TEST(RaftLog, Term_InRangeAndOutOfRange) {
  const RaftLog log = stable_log({1, 1, 3});
  EXPECT_EQ(log.term(LogIndex{1}), Term{1});
  EXPECT_EQ(log.term(LogIndex{3}), Term{3});
  EXPECT_EQ(log.term(LogIndex{4}), std::nullopt);
  EXPECT_EQ(log.term(LogIndex{100}), std::nullopt);
  EXPECT_TRUE(log.match_term(LogIndex{3}, Term{3}));
  EXPECT_FALSE(log.match_term(LogIndex{3}, Term{1}));
  EXPECT_FALSE(log.match_term(LogIndex{4}, Term{3}));
  EXPECT_FALSE(log.match_term(LogIndex{4}, Term{0}));
  EXPECT_EQ(log.last_index(), LogIndex{3});
  EXPECT_EQ(log.last_term(), Term{3});
}

TEST(RaftLog, Empty_LastIndexAndTermAreZero) {
  const RaftLog log = stable_log({});
  EXPECT_EQ(log.last_index(), LogIndex{0});
  EXPECT_EQ(log.last_term(), Term{0});
  EXPECT_FALSE(log.has_unstable());
}

// ---- is_up_to_date (Raft §5.4.1) --------------------------------------------------------

TEST(RaftLog, IsUpToDate_HigherLastTermWinsEvenIfShorter) {
  const RaftLog log = stable_log({1, 1, 2, 2, 2});
  EXPECT_TRUE(log.is_up_to_date(LogIndex{1}, Term{3}));
  EXPECT_FALSE(log.is_up_to_date(LogIndex{10}, Term{1}));
}

TEST(RaftLog, IsUpToDate_EqualLastTermLongerOrEqualWins) {
  const RaftLog log = stable_log({1, 1, 2, 2, 2});
  EXPECT_TRUE(log.is_up_to_date(LogIndex{6}, Term{2}));
  EXPECT_TRUE(log.is_up_to_date(LogIndex{5}, Term{2}));
  EXPECT_FALSE(log.is_up_to_date(LogIndex{4}, Term{2}));
}

TEST(RaftLog, IsUpToDate_EmptyLogLosesToNothing) {
  const RaftLog log = stable_log({});
  EXPECT_TRUE(log.is_up_to_date(LogIndex{0}, Term{0}));
  EXPECT_TRUE(log.is_up_to_date(LogIndex{1}, Term{1}));
}

// ---- maybe_append (Figure 2, AppendEntries receiver rules) --------------------------------

TEST(RaftLog, MaybeAppend_MismatchReturnsNulloptAndChangesNothing) {
  RaftLog log = stable_log({1, 1, 2});
  EXPECT_EQ(log.maybe_append(LogIndex{3}, Term{3}, LogIndex{3}, {ent(4, 3)}), std::nullopt);
  EXPECT_EQ(log.maybe_append(LogIndex{4}, Term{2}, LogIndex{3}, {ent(5, 3)}), std::nullopt);
  EXPECT_EQ(terms_of(log), (std::vector<uint64_t>{1, 1, 2}));
  EXPECT_EQ(log.committed(), LogIndex{0});
  EXPECT_FALSE(log.has_unstable());
}

TEST(RaftLog, MaybeAppend_MatchingWithoutNewEntriesKeepsLog) {
  RaftLog log = stable_log({1, 1, 2, 2, 3});
  EXPECT_EQ(log.maybe_append(LogIndex{2}, Term{1}, LogIndex{0}, {}), LogIndex{2});
  EXPECT_EQ(terms_of(log), (std::vector<uint64_t>{1, 1, 2, 2, 3}));

  // An old duplicate AppendEntries: every entry it carries is already there.
  EXPECT_EQ(log.maybe_append(LogIndex{1}, Term{1}, LogIndex{0}, {ent(2, 1), ent(3, 2)}),
            LogIndex{3});
  EXPECT_EQ(terms_of(log), (std::vector<uint64_t>{1, 1, 2, 2, 3}));
  EXPECT_FALSE(log.has_unstable());
}

TEST(RaftLog, MaybeAppend_ConflictTruncatesFromFirstConflictOnly) {
  RaftLog log = stable_log({1, 1, 2, 2, 3});
  EXPECT_EQ(log.maybe_append(LogIndex{2}, Term{1}, LogIndex{0}, {ent(3, 2), ent(4, 4)}),
            LogIndex{4});
  EXPECT_EQ(terms_of(log), (std::vector<uint64_t>{1, 1, 2, 4}));
  EXPECT_EQ(log.stable(), LogIndex{3});
  EXPECT_EQ(indexes_of(log.unstable_entries()), (std::vector<uint64_t>{4}));
}

TEST(RaftLog, MaybeAppend_NewEntriesPastTheEndAreAppended) {
  RaftLog log = stable_log({1, 1});
  EXPECT_EQ(log.maybe_append(LogIndex{1}, Term{1}, LogIndex{0}, {ent(2, 1), ent(3, 2), ent(4, 2)}),
            LogIndex{4});
  EXPECT_EQ(terms_of(log), (std::vector<uint64_t>{1, 1, 2, 2}));
  EXPECT_EQ(indexes_of(log.unstable_entries()), (std::vector<uint64_t>{3, 4}));
}

TEST(RaftLog, MaybeAppend_CommitIsMinOfLeaderCommitAndLastNewEntry) {
  RaftLog log = stable_log({1, 1, 1, 1, 1});
  // The log holds 5 entries but only 3 are known to match the leader's.
  EXPECT_EQ(log.maybe_append(LogIndex{2}, Term{1}, LogIndex{5}, {ent(3, 1)}), LogIndex{3});
  EXPECT_EQ(log.committed(), LogIndex{3});

  RaftLog log2 = stable_log({1, 1, 1, 1, 1});
  EXPECT_EQ(log2.maybe_append(LogIndex{2}, Term{1}, LogIndex{2}, {ent(3, 1), ent(4, 1)}),
            LogIndex{4});
  EXPECT_EQ(log2.committed(), LogIndex{2});
}

TEST(RaftLog, MaybeAppend_LowerLeaderCommitNeverDecreasesCommit) {
  RaftLog log = stable_log({1, 1, 1, 1});
  log.commit_to(LogIndex{3});
  EXPECT_EQ(log.maybe_append(LogIndex{1}, Term{1}, LogIndex{1}, {}), LogIndex{1});
  EXPECT_EQ(log.committed(), LogIndex{3});
}

TEST(RaftLogDeathTest, MaybeAppend_ConflictAtCommittedIndexAborts) {
  RaftLog log = stable_log({1, 1, 1});
  log.commit_to(LogIndex{2});
  EXPECT_DEATH(log.maybe_append(LogIndex{1}, Term{1}, LogIndex{0}, {ent(2, 2)}),
               "assertion failed");
}

// ---- find_conflict / find_conflict_by_term ------------------------------------------------

TEST(RaftLog, FindConflict) {
  const RaftLog log = stable_log({1, 2, 3});
  EXPECT_EQ(log.find_conflict({}), LogIndex{0});
  EXPECT_EQ(log.find_conflict({ent(1, 1), ent(2, 2), ent(3, 3)}), LogIndex{0});
  EXPECT_EQ(log.find_conflict({ent(2, 2), ent(3, 3)}), LogIndex{0});
  EXPECT_EQ(log.find_conflict({ent(2, 2), ent(3, 3), ent(4, 4), ent(5, 4)}), LogIndex{4});
  EXPECT_EQ(log.find_conflict({ent(4, 4)}), LogIndex{4});
  EXPECT_EQ(log.find_conflict({ent(1, 4), ent(2, 4)}), LogIndex{1});
  EXPECT_EQ(log.find_conflict({ent(2, 1), ent(3, 4), ent(4, 4)}), LogIndex{2});
  EXPECT_EQ(log.find_conflict({ent(3, 4), ent(4, 4)}), LogIndex{3});
}

TEST(RaftLog, FindConflictByTerm) {
  const RaftLog log = stable_log({1, 1, 1, 4, 4, 5, 5, 6, 6, 6});
  EXPECT_EQ(log.find_conflict_by_term(LogIndex{10}, Term{6}), LogIndex{10});
  EXPECT_EQ(log.find_conflict_by_term(LogIndex{10}, Term{5}), LogIndex{7});
  EXPECT_EQ(log.find_conflict_by_term(LogIndex{10}, Term{4}), LogIndex{5});
  EXPECT_EQ(log.find_conflict_by_term(LogIndex{10}, Term{3}), LogIndex{3});
  EXPECT_EQ(log.find_conflict_by_term(LogIndex{10}, Term{0}), LogIndex{0});
  EXPECT_EQ(log.find_conflict_by_term(LogIndex{6}, Term{4}), LogIndex{5});
  EXPECT_EQ(log.find_conflict_by_term(LogIndex{2}, Term{1}), LogIndex{2});
  EXPECT_EQ(log.find_conflict_by_term(LogIndex{0}, Term{7}), LogIndex{0});
  // Past our end we know nothing, so the index itself may still match.
  EXPECT_EQ(log.find_conflict_by_term(LogIndex{12}, Term{2}), LogIndex{12});
}

// ---- slice ------------------------------------------------------------------------------

TEST(RaftLog, Slice_RespectsMaxBytesButReturnsAtLeastOne) {
  std::vector<Entry> ents;
  for (uint64_t i = 1; i <= 5; ++i) ents.push_back(ent(i, 1, std::string(10, 'x')));
  const RaftLog log(ents, LogIndex{0}, LogIndex{0});
  const uint64_t one = entry_size(ents[0]);

  EXPECT_EQ(indexes_of(log.slice(LogIndex{1}, LogIndex{6}, 0)), (std::vector<uint64_t>{1}));
  EXPECT_EQ(indexes_of(log.slice(LogIndex{2}, LogIndex{6}, one - 1)), (std::vector<uint64_t>{2}));
  EXPECT_EQ(indexes_of(log.slice(LogIndex{1}, LogIndex{6}, 2 * one)),
            (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(indexes_of(log.slice(LogIndex{1}, LogIndex{6}, 2 * one + 1)),
            (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(indexes_of(log.slice(LogIndex{1}, LogIndex{6}, 3 * one - 1)),
            (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(indexes_of(log.slice(LogIndex{1}, LogIndex{6}, UINT64_MAX)),
            (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(indexes_of(log.slice(LogIndex{3}, LogIndex{5}, UINT64_MAX)),
            (std::vector<uint64_t>{3, 4}));
  EXPECT_TRUE(log.slice(LogIndex{3}, LogIndex{3}, UINT64_MAX).empty());
  EXPECT_EQ(log.slice(LogIndex{4}, LogIndex{5}, 0).front(), ents[3]);
}

// ---- stable_to / unstable_entries --------------------------------------------------------

TEST(RaftLog, StableTo_AdvancesOnMatchingEntry) {
  RaftLog log = stable_log({1, 1});
  log.append({ent(3, 2), ent(4, 2), ent(5, 2)});
  EXPECT_EQ(log.stable(), LogIndex{2});
  EXPECT_EQ(indexes_of(log.unstable_entries()), (std::vector<uint64_t>{3, 4, 5}));

  log.stable_to(LogIndex{4}, Term{2});
  EXPECT_EQ(log.stable(), LogIndex{4});
  EXPECT_EQ(indexes_of(log.unstable_entries()), (std::vector<uint64_t>{5}));

  log.stable_to(LogIndex{3}, Term{2});
  EXPECT_EQ(log.stable(), LogIndex{4});
}

TEST(RaftLog, StableTo_IgnoresEntryThatNoLongerMatches) {
  RaftLog log = stable_log({1, 1});
  log.append({ent(3, 2), ent(4, 2), ent(5, 2)});
  // Before the write of 3..5 (term 2) completes, a new leader replaces 4.. with term 3.
  log.append({ent(4, 3)});
  log.stable_to(LogIndex{5}, Term{2});
  EXPECT_EQ(log.stable(), LogIndex{2});
  log.stable_to(LogIndex{4}, Term{2});
  EXPECT_EQ(log.stable(), LogIndex{2});
  log.stable_to(LogIndex{4}, Term{3});
  EXPECT_EQ(log.stable(), LogIndex{4});
  EXPECT_FALSE(log.has_unstable());
}

TEST(RaftLog, UnstableEntries_AfterTruncationOfStableSuffix) {
  RaftLog log = stable_log({1, 1, 1, 2, 2, 2});
  EXPECT_FALSE(log.has_unstable());
  log.append({ent(5, 3)});
  EXPECT_EQ(log.stable(), LogIndex{4});
  EXPECT_TRUE(log.has_unstable());
  const std::vector<Entry> unstable = log.unstable_entries();
  ASSERT_EQ(unstable.size(), 1u);
  EXPECT_EQ(unstable[0], ent(5, 3));
}

TEST(RaftLog, UnstableEntries_AfterTruncationOfUnstableSuffix) {
  RaftLog log = stable_log({1});
  log.append({ent(2, 2), ent(3, 2), ent(4, 2)});
  log.append({ent(3, 3), ent(4, 3), ent(5, 3)});
  EXPECT_EQ(log.stable(), LogIndex{1});
  const std::vector<Entry> unstable = log.unstable_entries();
  EXPECT_EQ(unstable, (std::vector<Entry>{ent(2, 2), ent(3, 3), ent(4, 3), ent(5, 3)}));
}

// ---- commit / apply ---------------------------------------------------------------------

TEST(RaftLog, NextCommittedEntries) {
  std::vector<Entry> ents;
  for (uint64_t i = 1; i <= 4; ++i) ents.push_back(ent(i, 1, std::string(10, 'x')));
  RaftLog log(ents, LogIndex{0}, LogIndex{0});
  EXPECT_FALSE(log.has_next_committed());
  EXPECT_TRUE(log.next_committed_entries(UINT64_MAX).empty());

  log.commit_to(LogIndex{3});
  EXPECT_TRUE(log.has_next_committed());
  EXPECT_EQ(indexes_of(log.next_committed_entries(UINT64_MAX)), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(indexes_of(log.next_committed_entries(0)), (std::vector<uint64_t>{1}));

  log.applied_to(LogIndex{2});
  EXPECT_EQ(indexes_of(log.next_committed_entries(UINT64_MAX)), (std::vector<uint64_t>{3}));

  log.applied_to(LogIndex{3});
  EXPECT_FALSE(log.has_next_committed());
  EXPECT_TRUE(log.next_committed_entries(UINT64_MAX).empty());
}

TEST(RaftLog, NextCommittedEntries_RecoveredLogStartsAfterApplied) {
  const RaftLog log(with_terms({1, 1, 1, 1}), LogIndex{3}, LogIndex{1});
  EXPECT_EQ(indexes_of(log.next_committed_entries(UINT64_MAX)), (std::vector<uint64_t>{2, 3}));
}

TEST(RaftLog, CommitTo_NeverDecreases) {
  RaftLog log = stable_log({1, 1, 1, 1});
  log.commit_to(LogIndex{3});
  log.commit_to(LogIndex{1});
  EXPECT_EQ(log.committed(), LogIndex{3});
  log.commit_to(LogIndex{4});
  EXPECT_EQ(log.committed(), LogIndex{4});
}

TEST(RaftLogDeathTest, Append_NeverTruncatesCommitted) {
  RaftLog log = stable_log({1, 1, 1});
  log.commit_to(LogIndex{2});
  EXPECT_DEATH(log.append({ent(2, 2)}), "assertion failed");
}

// ---- property: RaftLog agrees with a vector model -----------------------------------------

// The model: terms[k] is the term of index k+1.
struct Model {
  std::vector<uint64_t> terms;
  uint64_t committed = 0;
  uint64_t stable = 0;

  uint64_t last() const { return terms.size(); }
  uint64_t term_at(uint64_t i) const { return i == 0 ? 0 : terms[i - 1]; }
  void truncate_append(uint64_t from, const std::vector<uint64_t>& new_terms) {
    terms.resize(from - 1);
    stable = std::min(stable, from - 1);
    terms.insert(terms.end(), new_terms.begin(), new_terms.end());
  }
};

std::vector<Entry> entries_from(uint64_t first, const std::vector<uint64_t>& terms) {
  std::vector<Entry> out;
  for (uint64_t t : terms) out.push_back(ent(first++, t));
  return out;
}

// Terms for n entries following `prev_term`, non-decreasing as in any real Raft log.
std::vector<uint64_t> gen_terms(uint64_t prev_term, size_t n) {
  std::vector<uint64_t> out;
  uint64_t t = std::max<uint64_t>(prev_term, 1);
  for (size_t k = 0; k < n; ++k) {
    t += *rc::gen::inRange<uint64_t>(0, 2);
    out.push_back(t);
  }
  return out;
}

void check_agrees(const RaftLog& log, const Model& m) {
  RC_ASSERT(log.last_index().v == m.last());
  RC_ASSERT(log.last_term().v == m.term_at(m.last()));
  RC_ASSERT(log.committed().v == m.committed);
  RC_ASSERT(log.stable().v == m.stable);
  RC_ASSERT(terms_of(log) == m.terms);
  for (uint64_t i = 0; i <= m.last(); ++i) RC_ASSERT(log.term(LogIndex{i}) == Term{m.term_at(i)});
  RC_ASSERT(log.term(LogIndex{m.last() + 1}) == std::nullopt);
  const std::vector<Entry> unstable = log.unstable_entries();
  RC_ASSERT(unstable.size() == m.last() - m.stable);
  for (size_t k = 0; k < unstable.size(); ++k) {
    RC_ASSERT(unstable[k].index.v == m.stable + 1 + k);
    RC_ASSERT(unstable[k].term.v == m.term_at(m.stable + 1 + k));
  }
}

RC_GTEST_PROP(RaftLog, Property_AppendsAndTruncationsAgreeWithVectorModel, ()) {
  const auto initial_len = *rc::gen::inRange<size_t>(0, 6);
  Model m;
  m.terms = gen_terms(1, initial_len);
  m.stable = m.last();
  RaftLog log(entries_from(1, m.terms), LogIndex{0}, LogIndex{0});
  check_agrees(log, m);

  const auto steps = *rc::gen::inRange(1, 60);
  for (int s = 0; s < steps; ++s) {
    switch (*rc::gen::inRange(0, 5)) {
      case 0: {  // append at the end
        const auto n = *rc::gen::inRange<size_t>(1, 4);
        const std::vector<uint64_t> ts = gen_terms(m.term_at(m.last()), n);
        RC_ASSERT(log.append(entries_from(m.last() + 1, ts)).v == m.last() + n);
        m.truncate_append(m.last() + 1, ts);
        break;
      }
      case 1: {  // overwrite an uncommitted suffix
        const auto from = *rc::gen::inRange<uint64_t>(m.committed + 1, m.last() + 2);
        const auto n = *rc::gen::inRange<size_t>(1, 4);
        const std::vector<uint64_t> ts = gen_terms(m.term_at(from - 1) + 1, n);
        RC_ASSERT(log.append(entries_from(from, ts)).v == from - 1 + n);
        m.truncate_append(from, ts);
        break;
      }
      case 2: {  // AppendEntries from a leader whose log may or may not match
        const auto prev = *rc::gen::inRange<uint64_t>(0, m.last() + 2);
        const bool prev_matches = prev <= m.last() && *rc::gen::inRange(0, 4) != 0;
        uint64_t prev_term = 1;
        if (prev <= m.last()) prev_term = prev_matches ? m.term_at(prev) : m.term_at(prev) + 1;
        const auto n = *rc::gen::inRange<size_t>(0, 5);
        // The leader's entries: a prefix agreeing with ours, then (maybe) a divergent tail.
        std::vector<uint64_t> ts;
        const auto agree = *rc::gen::inRange<size_t>(0, n + 1);
        for (size_t k = 0; k < agree && prev + 1 + k <= m.last(); ++k) {
          ts.push_back(m.term_at(prev + 1 + k));
        }
        const std::vector<uint64_t> tail =
            gen_terms((ts.empty() ? prev_term : ts.back()) + 1, n - ts.size());
        ts.insert(ts.end(), tail.begin(), tail.end());
        uint64_t conflict = 0;
        for (size_t k = 0; k < ts.size(); ++k) {
          const uint64_t i = prev + 1 + k;
          if (i > m.last() || m.term_at(i) != ts[k]) {
            conflict = i;
            break;
          }
        }
        const bool matches = prev <= m.last() && m.term_at(prev) == prev_term;
        if (matches && conflict != 0 && conflict <= m.committed) break;  // Raft never sends this
        const auto leader_commit = *rc::gen::inRange<uint64_t>(0, prev + n + 3);
        const auto got = log.maybe_append(LogIndex{prev}, Term{prev_term}, LogIndex{leader_commit},
                                          entries_from(prev + 1, ts));
        if (!matches) {
          RC_ASSERT(got == std::nullopt);
          break;
        }
        RC_ASSERT(got == LogIndex{prev + n});
        if (conflict != 0) {
          m.truncate_append(conflict,
                            std::vector<uint64_t>(ts.begin() + (conflict - prev - 1), ts.end()));
        }
        m.committed = std::max(m.committed, std::min(leader_commit, prev + n));
        break;
      }
      case 3: {  // commit
        const auto to = *rc::gen::inRange<uint64_t>(0, m.last() + 1);
        log.commit_to(LogIndex{to});
        m.committed = std::max(m.committed, to);
        break;
      }
      case 4: {  // a write completes, possibly for entries since replaced
        const auto i = *rc::gen::inRange<uint64_t>(0, m.last() + 2);
        const uint64_t t = *rc::gen::inRange(0, 4) != 0 ? m.term_at(std::min(i, m.last()))
                                                        : *rc::gen::inRange<uint64_t>(0, 9);
        log.stable_to(LogIndex{i}, Term{t});
        if (i <= m.last() && m.term_at(i) == t) m.stable = std::max(m.stable, i);
        break;
      }
    }
    check_agrees(log, m);
  }
}

}  // namespace
}  // namespace rq::raft
