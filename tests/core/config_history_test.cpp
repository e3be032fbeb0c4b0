#include "core/raft/config_history.h"

#include <gtest/gtest.h>

#include <ostream>
#include <vector>

namespace rq {
template <class Tag>
static void PrintTo(const Counter<Tag>& c, std::ostream* os) {
  *os << c.v;
}
}  // namespace rq

namespace rq::raft {
static void PrintTo(const Membership& ms, std::ostream* os) {
  *os << "[";
  for (const Member& m : ms.members()) *os << " " << m.id.v << (m.voter ? "v" : "l");
  *os << " ]";
}

namespace {

// A membership of voters with the given ids.
Membership voters(std::initializer_list<uint64_t> vs) {
  std::vector<Member> ms;
  for (uint64_t v : vs) ms.push_back(Member{NodeId(v), "n" + std::to_string(v), true, false, 0});
  return Membership(std::move(ms));
}

const Membership kBase = voters({1});
const Membership kAt5 = voters({1, 2});
const Membership kAt9 = voters({1, 2, 3});
const Membership kAt12 = voters({2, 3});

// Base at 2, config entries at 5, 9 and 12.
ConfigHistory history() {
  ConfigHistory h(kBase, LogIndex(2));
  h.add(LogIndex(5), kAt5);
  h.add(LogIndex(9), kAt9);
  h.add(LogIndex(12), kAt12);
  return h;
}

TEST(ConfigHistory, Default_IsEmptyAtZero) {
  const ConfigHistory h;
  EXPECT_TRUE(h.current().empty());
  EXPECT_EQ(h.current_index(), LogIndex(0));
  EXPECT_TRUE(h.at(LogIndex(7)).empty());
  EXPECT_EQ(h.index_at(LogIndex(7)), LogIndex(0));
  EXPECT_EQ(h.before(LogIndex(7)), nullptr);
}

TEST(ConfigHistory, Current_WithoutEntries_IsTheBase) {
  const ConfigHistory h(kBase, LogIndex(4));
  EXPECT_EQ(h.current(), kBase);
  EXPECT_EQ(h.current_index(), LogIndex(4));
}

TEST(ConfigHistory, Current_WithEntries_IsTheLatestEntry) {
  ConfigHistory h(kBase, LogIndex(4));
  h.add(LogIndex(6), kAt5);
  EXPECT_EQ(h.current(), kAt5);
  EXPECT_EQ(h.current_index(), LogIndex(6));
  h.add(LogIndex(8), kAt9);
  EXPECT_EQ(h.current(), kAt9);
  EXPECT_EQ(h.current_index(), LogIndex(8));
}

TEST(ConfigHistory, At_BetweenAndOnEntries) {
  const ConfigHistory h = history();
  EXPECT_EQ(h.at(LogIndex(2)), kBase);
  EXPECT_EQ(h.at(LogIndex(4)), kBase);
  EXPECT_EQ(h.at(LogIndex(5)), kAt5);
  EXPECT_EQ(h.at(LogIndex(8)), kAt5);
  EXPECT_EQ(h.at(LogIndex(9)), kAt9);
  EXPECT_EQ(h.at(LogIndex(11)), kAt9);
  EXPECT_EQ(h.at(LogIndex(12)), kAt12);
  EXPECT_EQ(h.at(LogIndex(1000)), kAt12);
}

TEST(ConfigHistory, IndexAt_BetweenAndOnEntries) {
  const ConfigHistory h = history();
  EXPECT_EQ(h.index_at(LogIndex(2)), LogIndex(2));
  EXPECT_EQ(h.index_at(LogIndex(4)), LogIndex(2));
  EXPECT_EQ(h.index_at(LogIndex(5)), LogIndex(5));
  EXPECT_EQ(h.index_at(LogIndex(8)), LogIndex(5));
  EXPECT_EQ(h.index_at(LogIndex(9)), LogIndex(9));
  EXPECT_EQ(h.index_at(LogIndex(11)), LogIndex(9));
  EXPECT_EQ(h.index_at(LogIndex(12)), LogIndex(12));
  EXPECT_EQ(h.index_at(LogIndex(1000)), LogIndex(12));
}

TEST(ConfigHistory, Before_IsTheLatestEntryStrictlyBefore) {
  const ConfigHistory h = history();
  EXPECT_EQ(h.before(LogIndex(3)), nullptr);
  EXPECT_EQ(h.before(LogIndex(5)), nullptr);
  ASSERT_NE(h.before(LogIndex(6)), nullptr);
  EXPECT_EQ(h.before(LogIndex(6))->first, LogIndex(5));
  EXPECT_EQ(h.before(LogIndex(6))->second, kAt5);
  ASSERT_NE(h.before(LogIndex(9)), nullptr);
  EXPECT_EQ(h.before(LogIndex(9))->first, LogIndex(5));
  ASSERT_NE(h.before(LogIndex(12)), nullptr);
  EXPECT_EQ(h.before(LogIndex(12))->first, LogIndex(9));
  EXPECT_EQ(h.before(LogIndex(12))->second, kAt9);
  ASSERT_NE(h.before(LogIndex(13)), nullptr);
  EXPECT_EQ(h.before(LogIndex(13))->first, LogIndex(12));
}

TEST(ConfigHistory, TruncateFrom_AnEntry_RevertsToTheOneBefore) {
  ConfigHistory h = history();
  h.truncate_from(LogIndex(12));
  EXPECT_EQ(h.current(), kAt9);
  EXPECT_EQ(h.current_index(), LogIndex(9));
  EXPECT_EQ(h.at(LogIndex(50)), kAt9);
}

TEST(ConfigHistory, TruncateFrom_BetweenEntries_DropsOnlyLaterOnes) {
  ConfigHistory h = history();
  h.truncate_from(LogIndex(7));
  EXPECT_EQ(h.current(), kAt5);
  EXPECT_EQ(h.current_index(), LogIndex(5));
  EXPECT_EQ(h.index_at(LogIndex(100)), LogIndex(5));
}

TEST(ConfigHistory, TruncateFrom_AfterLastEntry_ChangesNothing) {
  ConfigHistory h = history();
  h.truncate_from(LogIndex(13));
  EXPECT_EQ(h.current(), kAt12);
  EXPECT_EQ(h.current_index(), LogIndex(12));
}

TEST(ConfigHistory, TruncateFrom_FirstEntry_RevertsToBase) {
  ConfigHistory h = history();
  h.truncate_from(LogIndex(5));
  EXPECT_EQ(h.current(), kBase);
  EXPECT_EQ(h.current_index(), LogIndex(2));
  EXPECT_EQ(h.before(LogIndex(100)), nullptr);

  h.add(LogIndex(5), kAt12);
  EXPECT_EQ(h.current(), kAt12);
  EXPECT_EQ(h.at(LogIndex(4)), kBase);
}

TEST(ConfigHistory, Compact_FoldsEntriesUpToIndexIntoBase) {
  ConfigHistory h = history();
  h.compact(LogIndex(10));
  EXPECT_EQ(h.current(), kAt12);
  EXPECT_EQ(h.current_index(), LogIndex(12));
  EXPECT_EQ(h.at(LogIndex(10)), kAt9);
  EXPECT_EQ(h.index_at(LogIndex(10)), LogIndex(9));
  EXPECT_EQ(h.before(LogIndex(12)), nullptr);
  ASSERT_NE(h.before(LogIndex(13)), nullptr);
  EXPECT_EQ(h.before(LogIndex(13))->first, LogIndex(12));

  h.truncate_from(LogIndex(12));
  EXPECT_EQ(h.current(), kAt9);
  EXPECT_EQ(h.current_index(), LogIndex(9));
}

TEST(ConfigHistory, Compact_ExactlyAtAnEntry_FoldsIt) {
  ConfigHistory h = history();
  h.compact(LogIndex(9));
  EXPECT_EQ(h.before(LogIndex(12)), nullptr);
  h.truncate_from(LogIndex(10));
  EXPECT_EQ(h.current(), kAt9);
  EXPECT_EQ(h.current_index(), LogIndex(9));
}

TEST(ConfigHistory, Compact_BeforeFirstEntry_KeepsBase) {
  ConfigHistory h = history();
  h.compact(LogIndex(4));
  h.truncate_from(LogIndex(5));
  EXPECT_EQ(h.current(), kBase);
  EXPECT_EQ(h.current_index(), LogIndex(2));
}

TEST(ConfigHistory, Compact_PastEveryEntry_BaseIsTheLatest) {
  ConfigHistory h = history();
  h.compact(LogIndex(100));
  EXPECT_EQ(h.current(), kAt12);
  EXPECT_EQ(h.current_index(), LogIndex(12));
  EXPECT_EQ(h.before(LogIndex(100)), nullptr);
  h.truncate_from(LogIndex(13));
  EXPECT_EQ(h.current(), kAt12);
}

TEST(ConfigHistory, Restore_ReplacesEverything) {
  ConfigHistory h = history();
  const Membership snap = voters({7, 8, 9});
  h.restore(LogIndex(40), snap);
  EXPECT_EQ(h.current(), snap);
  EXPECT_EQ(h.current_index(), LogIndex(40));
  EXPECT_EQ(h.at(LogIndex(40)), snap);
  EXPECT_EQ(h.index_at(LogIndex(55)), LogIndex(40));
  EXPECT_EQ(h.before(LogIndex(100)), nullptr);

  h.add(LogIndex(41), kAt5);
  EXPECT_EQ(h.current(), kAt5);
  h.truncate_from(LogIndex(41));
  EXPECT_EQ(h.current(), snap);
  EXPECT_EQ(h.current_index(), LogIndex(40));
}

}  // namespace
}  // namespace rq::raft
