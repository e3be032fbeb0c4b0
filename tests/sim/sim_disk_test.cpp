#include "sim/sim_disk.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace rq::sim {
namespace {

SimDiskOptions lose_all(uint32_t torn_ppm = 0) {
  SimDiskOptions o;
  o.lose_all_ppm = 1'000'000;
  o.torn_ppm = torn_ppm;
  return o;
}

std::string contents(SimDisk& d, const std::string& name) {
  auto size = d.size(name);
  if (!size.ok()) return "<" + size.error().message + ">";
  return d.read(name, 0, *size).value();
}

std::vector<std::string> names(SimDisk& d) {
  return d.list().value();
}

// A file whose name is durable and whose contents are `durable`.
void make_durable_file(SimDisk& d, const std::string& name, const std::string& durable) {
  ASSERT_TRUE(d.create(name).ok());
  ASSERT_TRUE(d.sync_dir().ok());
  ASSERT_TRUE(d.append(name, durable).ok());
  ASSERT_TRUE(d.sync(name).ok());
}

TEST(SimDisk, SyncedData_SurvivesCrash) {
  SimDisk d(Prng(1), lose_all(1'000'000));
  make_durable_file(d, "f", "hello");
  EXPECT_EQ(d.durable_contents("f"), "hello");
  d.crash(Duration{0});
  EXPECT_EQ(contents(d, "f"), "hello");
  EXPECT_EQ(d.stats().writes_lost, 0u);
  EXPECT_EQ(d.stats().crashes, 1u);
}

TEST(SimDisk, UnsyncedData_LostWithLoseAll) {
  SimDisk d(Prng(1), lose_all());
  make_durable_file(d, "f", "a");
  ASSERT_TRUE(d.append("f", "b").ok());
  ASSERT_TRUE(d.write("f", 0, "X").ok());
  ASSERT_TRUE(d.truncate("f", 1).ok());
  EXPECT_EQ(contents(d, "f"), "X");
  EXPECT_EQ(d.durable_contents("f"), "a");
  d.crash(Duration{0});
  EXPECT_EQ(contents(d, "f"), "a");
  EXPECT_EQ(d.stats().writes_lost, 3u);
}

TEST(SimDisk, UnsyncedWrites_SurviveAsAnInOrderPrefix) {
  SimDiskOptions o;
  o.lose_all_ppm = 0;
  o.torn_ppm = 0;
  std::set<size_t> kept_counts;
  for (uint64_t seed = 1; seed <= 100; ++seed) {
    SimDisk d(Prng(seed), o);
    make_durable_file(d, "f", "base:");
    for (char c : std::string("abcdef")) ASSERT_TRUE(d.append("f", std::string(1, c)).ok());
    d.crash(Duration{0});
    const std::string got = contents(d, "f");
    ASSERT_EQ(got, std::string("base:abcdef").substr(0, got.size())) << "seed " << seed;
    ASSERT_GE(got.size(), 5u);
    kept_counts.insert(got.size() - 5);
  }
  EXPECT_EQ(kept_counts.size(), 7u);
}

TEST(SimDisk, CreateWithoutSyncDir_DisappearsOnCrash) {
  SimDisk d(Prng(1), lose_all());
  ASSERT_TRUE(d.create("new").ok());
  ASSERT_TRUE(d.append("new", "data").ok());
  ASSERT_TRUE(d.sync("new").ok());
  EXPECT_EQ(d.durable_contents("new"), "");
  d.crash(Duration{0});
  EXPECT_TRUE(names(d).empty());
  EXPECT_EQ(d.size("new").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(d.stats().names_reverted, 1u);
}

TEST(SimDisk, CreateWithSyncDir_SurvivesCrash) {
  SimDisk d(Prng(1), lose_all());
  ASSERT_TRUE(d.create("new").ok());
  ASSERT_TRUE(d.sync_dir().ok());
  d.crash(Duration{0});
  EXPECT_EQ(names(d), std::vector<std::string>{"new"});
  EXPECT_EQ(d.size("new").value(), 0u);
}

TEST(SimDisk, RenameWithoutSyncDir_IsUndone) {
  SimDisk d(Prng(1), lose_all());
  make_durable_file(d, "a", "payload");
  ASSERT_TRUE(d.rename("a", "b").ok());
  EXPECT_EQ(names(d), std::vector<std::string>{"b"});
  EXPECT_EQ(contents(d, "b"), "payload");
  d.crash(Duration{0});
  EXPECT_EQ(names(d), std::vector<std::string>{"a"});
  EXPECT_EQ(contents(d, "a"), "payload");
}

TEST(SimDisk, RenameWithSyncDir_IsKept) {
  SimDisk d(Prng(1), lose_all());
  make_durable_file(d, "a", "payload");
  ASSERT_TRUE(d.rename("a", "b").ok());
  ASSERT_TRUE(d.sync_dir().ok());
  d.crash(Duration{0});
  EXPECT_EQ(names(d), std::vector<std::string>{"b"});
  EXPECT_EQ(contents(d, "b"), "payload");
}

TEST(SimDisk, RenameOverExistingName_ReplacesIt) {
  SimDisk d(Prng(1), lose_all());
  make_durable_file(d, "a", "new");
  make_durable_file(d, "b", "old");
  ASSERT_TRUE(d.rename("a", "b").ok());
  EXPECT_EQ(names(d), std::vector<std::string>{"b"});
  EXPECT_EQ(contents(d, "b"), "new");
}

TEST(SimDisk, RemoveWithoutSyncDir_IsUndone) {
  SimDisk d(Prng(1), lose_all());
  make_durable_file(d, "a", "payload");
  ASSERT_TRUE(d.remove("a").ok());
  EXPECT_TRUE(names(d).empty());
  d.crash(Duration{0});
  EXPECT_EQ(names(d), std::vector<std::string>{"a"});
  EXPECT_EQ(contents(d, "a"), "payload");
}

TEST(SimDisk, RemoveWithSyncDir_IsKept) {
  SimDisk d(Prng(1), lose_all());
  make_durable_file(d, "a", "payload");
  ASSERT_TRUE(d.remove("a").ok());
  ASSERT_TRUE(d.sync_dir().ok());
  d.crash(Duration{0});
  EXPECT_TRUE(names(d).empty());
}

TEST(SimDisk, RemoveThenRecreateWithoutSyncDir_CrashRestoresOldFile) {
  SimDisk d(Prng(1), lose_all());
  make_durable_file(d, "a", "old");
  ASSERT_TRUE(d.remove("a").ok());
  ASSERT_TRUE(d.create("a").ok());
  ASSERT_TRUE(d.append("a", "new").ok());
  ASSERT_TRUE(d.sync("a").ok());
  d.crash(Duration{0});
  EXPECT_EQ(contents(d, "a"), "old");
}

class SimDiskBusyTest : public ::testing::Test {
 protected:
  // A durable, empty file "f"; afterwards every sync takes until 100ms.
  void SetUp() override {
    ASSERT_TRUE(d_.create("f").ok());
    ASSERT_TRUE(d_.sync_dir().ok());
    d_.set_busy([](Duration) { return Duration(100ms); });
    ASSERT_TRUE(d_.append("f", "x").ok());
    ASSERT_TRUE(d_.sync("f").ok());
  }
  SimDisk d_{Prng(1), lose_all()};
};

TEST_F(SimDiskBusyTest, CrashBeforeSyncCompletes_LosesTheWrite) {
  d_.crash(Duration(50ms));
  EXPECT_EQ(contents(d_, "f"), "");
}

TEST_F(SimDiskBusyTest, CrashAfterSyncCompletes_KeepsTheWrite) {
  d_.crash(Duration(100ms));
  EXPECT_EQ(contents(d_, "f"), "x");
}

TEST_F(SimDiskBusyTest, LaterWrites_AreNotCoveredByAnEarlierSync) {
  ASSERT_TRUE(d_.append("f", "y").ok());
  d_.crash(Duration(150ms));
  EXPECT_EQ(contents(d_, "f"), "x");
}

TEST_F(SimDiskBusyTest, SyncDirInFlight_CrashRevertsTheName) {
  ASSERT_TRUE(d_.create("g").ok());
  ASSERT_TRUE(d_.sync_dir().ok());
  d_.crash(Duration(50ms));
  EXPECT_EQ(names(d_), std::vector<std::string>{"f"});
}

TEST_F(SimDiskBusyTest, SyncDirCompleted_KeepsTheName) {
  ASSERT_TRUE(d_.create("g").ok());
  ASSERT_TRUE(d_.sync_dir().ok());
  d_.crash(Duration(100ms));
  EXPECT_EQ(names(d_), (std::vector<std::string>{"f", "g"}));
}

// durable_contents is "the bytes a crash right now could not lose": a sync still in flight does
// not count.
TEST_F(SimDiskBusyTest, DurableContents_ExcludesSyncStillInFlight) {
  d_.set_now([] { return Duration(50ms); });
  EXPECT_EQ(d_.durable_contents("f"), "");
}

TEST(SimDisk, TornWrite_KeepsStrictPrefixWithPossiblyGarbageLastByte) {
  const std::string base = "durable|";
  const std::string write = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::set<size_t> lengths;
  int garbage = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SimDisk d(Prng(seed), lose_all(1'000'000));
    make_durable_file(d, "f", base);
    ASSERT_TRUE(d.append("f", write).ok());
    d.crash(Duration{0});
    EXPECT_EQ(d.stats().torn_writes, 1u);
    const std::string got = contents(d, "f");
    ASSERT_EQ(got.substr(0, base.size()), base) << "seed " << seed;
    const std::string tail = got.substr(base.size());
    ASSERT_LT(tail.size(), write.size()) << "seed " << seed;
    lengths.insert(tail.size());
    if (tail.empty()) continue;
    ASSERT_EQ(tail.substr(0, tail.size() - 1), write.substr(0, tail.size() - 1)) << "seed " << seed;
    if (tail.back() != write[tail.size() - 1]) ++garbage;
  }
  EXPECT_GT(lengths.size(), 10u);
  EXPECT_GT(garbage, 0);
}

TEST(SimDisk, CrashKeeping_KeepsExactlyThoseUnsyncedBytesOfThatFile) {
  SimDisk d(Prng(1), SimDiskOptions{});
  make_durable_file(d, "f", "durable|");
  make_durable_file(d, "g", "other|");
  ASSERT_TRUE(d.append("f", "abc").ok());
  ASSERT_TRUE(d.append("f", "defgh").ok());
  ASSERT_TRUE(d.append("f", "ij").ok());
  ASSERT_TRUE(d.append("g", "lost").ok());
  d.crash_keeping(Duration{0}, "f", 5);  // all of "abc", then "de" of the second write
  EXPECT_EQ(contents(d, "f"), "durable|abcde");
  EXPECT_EQ(contents(d, "g"), "other|");
  EXPECT_EQ(d.stats().torn_writes, 1u);
  EXPECT_EQ(d.stats().writes_lost, 3u);  // "defgh" (torn), "ij", and g's "lost"
  EXPECT_EQ(d.durable_contents("f"), "durable|abcde");
}

TEST(SimDisk, CrashKeeping_AtAWriteBoundary_TearsNothing) {
  SimDisk d(Prng(1), SimDiskOptions{});
  make_durable_file(d, "f", "d|");
  ASSERT_TRUE(d.append("f", "abc").ok());
  ASSERT_TRUE(d.append("f", "def").ok());
  d.crash_keeping(Duration{0}, "f", 3);
  EXPECT_EQ(contents(d, "f"), "d|abc");
  EXPECT_EQ(d.stats().torn_writes, 0u);
  EXPECT_EQ(d.stats().writes_lost, 1u);
}

TEST(SimDisk, NotTorn_WhenTornPpmIsZero) {
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    SimDisk d(Prng(seed), lose_all(0));
    make_durable_file(d, "f", "base");
    ASSERT_TRUE(d.append("f", "lost").ok());
    d.crash(Duration{0});
    ASSERT_EQ(contents(d, "f"), "base");
  }
}

TEST(SimDisk, Wipe_RemovesEverythingDurableOrNot) {
  SimDisk d(Prng(1), lose_all());
  make_durable_file(d, "a", "durable");
  ASSERT_TRUE(d.create("b").ok());
  d.wipe();
  EXPECT_TRUE(names(d).empty());
  EXPECT_EQ(d.durable_contents("a"), "");
  d.crash(Duration{0});
  EXPECT_TRUE(names(d).empty());
  EXPECT_TRUE(d.create("a").ok());
  EXPECT_EQ(contents(d, "a"), "");
}

TEST(SimDisk, List_IsSorted) {
  SimDisk d(Prng(1), lose_all());
  for (const char* n : {"m", "b", "z", "a"}) ASSERT_TRUE(d.create(n).ok());
  EXPECT_EQ(names(d), (std::vector<std::string>{"a", "b", "m", "z"}));
}

TEST(SimDisk, Read_ReturnsUpToLenAndNothingPastEnd) {
  SimDisk d(Prng(1), lose_all());
  ASSERT_TRUE(d.create("f").ok());
  ASSERT_TRUE(d.append("f", "hello world").ok());
  EXPECT_EQ(d.read("f", 6, 5).value(), "world");
  EXPECT_EQ(d.read("f", 6, 100).value(), "world");
  EXPECT_EQ(d.read("f", 0, 0).value(), "");
  EXPECT_EQ(d.read("f", 11, 4).value(), "");
  EXPECT_EQ(d.read("f", 1000, 4).value(), "");
}

TEST(SimDisk, WritePastEnd_ZeroFillsTheGap) {
  SimDisk d(Prng(1), lose_all());
  ASSERT_TRUE(d.create("f").ok());
  ASSERT_TRUE(d.append("f", "ab").ok());
  ASSERT_TRUE(d.write("f", 5, "cd").ok());
  EXPECT_EQ(contents(d, "f"), std::string("ab\0\0\0cd", 7));
  ASSERT_TRUE(d.write("f", 1, "XY").ok());
  EXPECT_EQ(contents(d, "f"), std::string("aXY\0\0cd", 7));
  EXPECT_EQ(d.size("f").value(), 7u);
}

TEST(SimDisk, Truncate_ShrinksAndGrowsWithZeros) {
  SimDisk d(Prng(1), lose_all());
  ASSERT_TRUE(d.create("f").ok());
  ASSERT_TRUE(d.append("f", "abcdef").ok());
  ASSERT_TRUE(d.truncate("f", 3).ok());
  EXPECT_EQ(contents(d, "f"), "abc");
  ASSERT_TRUE(d.append("f", "Z").ok());
  EXPECT_EQ(contents(d, "f"), "abcZ");
  ASSERT_TRUE(d.truncate("f", 6).ok());
  EXPECT_EQ(contents(d, "f"), std::string("abcZ\0\0", 6));
}

TEST(SimDisk, SyncedTruncate_SurvivesCrash) {
  SimDisk d(Prng(1), lose_all());
  make_durable_file(d, "f", "abcdef");
  ASSERT_TRUE(d.truncate("f", 2).ok());
  ASSERT_TRUE(d.sync("f").ok());
  d.crash(Duration{0});
  EXPECT_EQ(contents(d, "f"), "ab");
}

TEST(SimDisk, MissingFile_IsNotFound) {
  SimDisk d(Prng(1), lose_all());
  EXPECT_EQ(d.size("nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(d.read("nope", 0, 1).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(d.append("nope", "x").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(d.write("nope", 0, "x").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(d.truncate("nope", 0).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(d.rename("nope", "other").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(d.remove("nope").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(d.sync("nope").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(names(d).empty());
}

TEST(SimDisk, CreateExisting_IsExists) {
  SimDisk d(Prng(1), lose_all());
  ASSERT_TRUE(d.create("f").ok());
  ASSERT_TRUE(d.append("f", "keep").ok());
  Status st = d.create("f");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kExists);
  EXPECT_EQ(contents(d, "f"), "keep");
}

TEST(SimDisk, InjectedSyncFailure_ReturnsIoAndKeepsDataVolatile) {
  SimDisk d(Prng(1), lose_all());
  make_durable_file(d, "f", "a");
  SimDiskOptions failing = lose_all();
  failing.sync_fail_ppm = 1'000'000;
  d.set_options(failing);
  ASSERT_TRUE(d.append("f", "b").ok());
  Status st = d.sync("f");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kIo);
  EXPECT_EQ(d.stats().sync_failures, 1u);
  d.crash(Duration{0});
  EXPECT_EQ(contents(d, "f"), "a");
}

TEST(SimDisk, SameSeed_SameCrashOutcome) {
  SimDiskOptions o;
  o.lose_all_ppm = 0;
  o.torn_ppm = 500'000;
  auto run = [&](uint64_t seed) {
    SimDisk d(Prng(seed), o);
    make_durable_file(d, "f", "base");
    for (int k = 0; k < 10; ++k)
      EXPECT_TRUE(d.append("f", std::string(17, static_cast<char>('a' + k))).ok());
    d.crash(Duration{0});
    return contents(d, "f");
  };
  for (uint64_t seed = 1; seed <= 20; ++seed) EXPECT_EQ(run(seed), run(seed));
}

// Any mix of synced and unsynced appends: after a crash the file holds everything synced and
// at most a prefix of the rest.
RC_GTEST_PROP(SimDisk, Crash_KeepsSyncedAndAPrefixOfUnsynced, ()) {
  SimDiskOptions o;
  o.lose_all_ppm = *rc::gen::element(0u, 500'000u, 1'000'000u);
  o.torn_ppm = *rc::gen::element(0u, 1'000'000u);
  SimDisk d(Prng(*rc::gen::arbitrary<uint64_t>()), o);
  RC_ASSERT(d.create("f").ok());
  RC_ASSERT(d.sync_dir().ok());
  std::string all, synced;
  const auto ops = *rc::gen::container<std::vector<std::pair<std::string, bool>>>(
      rc::gen::pair(rc::gen::nonEmpty<std::string>(), rc::gen::arbitrary<bool>()));
  for (const auto& [bytes, do_sync] : ops) {
    RC_ASSERT(d.append("f", bytes).ok());
    all += bytes;
    if (do_sync) {
      RC_ASSERT(d.sync("f").ok());
      synced = all;
    }
  }
  d.crash(Duration{0});
  const std::string got = d.read("f", 0, all.size() + 1).value();
  RC_ASSERT(got.size() >= synced.size());
  RC_ASSERT(got.size() <= all.size());
  RC_ASSERT(got.substr(0, synced.size()) == synced);
  // Only the last surviving byte can be garbage, and only when a write was torn.
  if (!got.empty()) RC_ASSERT(got.substr(0, got.size() - 1) == all.substr(0, got.size() - 1));
  if (o.torn_ppm == 0) RC_ASSERT(got == all.substr(0, got.size()));
}

}  // namespace
}  // namespace rq::sim
