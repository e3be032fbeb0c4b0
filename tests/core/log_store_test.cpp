#include "core/storage/log_store.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/prng.h"
#include "sim/sim_disk.h"

namespace rq::storage {
namespace {

using raft::Entry;
using raft::EntryType;
using raft::HardState;
using sim::SimDisk;
using sim::SimDiskOptions;

Entry entry(uint64_t index, uint64_t term, std::string data = {}) {
  return Entry{Term(term), LogIndex(index), EntryType::kNormal, std::move(data)};
}

HardState hard_state(uint64_t term, uint64_t vote, uint64_t commit) {
  return HardState{Term(term), NodeId(vote), LogIndex(commit)};
}

// Entries whose payloads vary in length, so records need different amounts of padding.
std::vector<Entry> entries(uint64_t first, uint64_t last, uint64_t term) {
  std::vector<Entry> out;
  for (uint64_t i = first; i <= last; ++i)
    out.push_back(entry(i, term, std::string(i % 13, static_cast<char>('a' + i % 26))));
  return out;
}

SimDiskOptions lose_all_unsynced() {
  SimDiskOptions o;
  o.lose_all_ppm = 1'000'000;
  o.torn_ppm = 0;
  return o;
}

struct Opened {
  Result<std::unique_ptr<LogStore>> store = make_error(ErrorCode::kIo, "not opened");
  RecoveredLog rec;
};

Opened open_log(Disk& disk, LogStoreOptions opts = {}) {
  Opened o;
  o.store = LogStore::open(disk, opts, &o.rec);
  return o;
}

std::vector<std::string> files(SimDisk& disk) {
  return disk.list().value();
}

std::string contents(SimDisk& disk, const std::string& name) {
  return disk.read(name, 0, disk.size(name).value()).value();
}

void flip_byte(SimDisk& disk, const std::string& name, uint64_t offset) {
  std::string b = disk.read(name, offset, 1).value();
  ASSERT_EQ(b.size(), 1u);
  b[0] = static_cast<char>(b[0] ^ 0x5a);
  ASSERT_TRUE(disk.write(name, offset, b).ok());
  ASSERT_TRUE(disk.sync(name).ok());
}

// Writes a segment file by hand: the header followed by `records`, all durable.
void write_segment(SimDisk& disk, const std::string& name, const std::string& records) {
  ASSERT_TRUE(disk.create(name).ok());
  ASSERT_TRUE(disk.append(name, encode_segment_header() + records).ok());
  ASSERT_TRUE(disk.sync(name).ok());
  ASSERT_TRUE(disk.sync_dir().ok());
}

constexpr const char* kFirstSegment = "wal-0000000000000001.log";
constexpr const char* kSecondSegment = "wal-0000000000000002.log";

class LogStoreTest : public ::testing::Test {
 protected:
  SimDisk disk_{Prng(1), lose_all_unsynced()};

  // Appends `ents` (and `hs`) through a fresh open, syncs, and drops the store.
  void write_synced(const std::vector<Entry>& ents, const std::optional<HardState>& hs,
                    LogStoreOptions opts = {}) {
    Opened o = open_log(disk_, opts);
    ASSERT_TRUE(o.store.ok()) << o.store.error().message;
    ASSERT_TRUE((*o.store)->append(ents, hs).ok());
    ASSERT_TRUE((*o.store)->sync().ok());
  }

  RecoveredLog reopen_ok(LogStoreOptions opts = {}) {
    Opened o = open_log(disk_, opts);
    EXPECT_TRUE(o.store.ok()) << o.store.error().message;
    return o.rec;
  }

  void expect_corrupt() {
    Opened o = open_log(disk_);
    ASSERT_FALSE(o.store.ok());
    EXPECT_EQ(o.store.error().code, ErrorCode::kCorrupt) << o.store.error().message;
  }

  // With one-byte segments: entry 1 ("one") in kSecondSegment, sealed, and entry 2 ("two") in the
  // segment after it, all synced (the first segment holds only the hard state).
  void write_one_entry_per_segment() {
    const LogStoreOptions tiny{.max_segment_bytes = 1};
    Opened o = open_log(disk_, tiny);
    ASSERT_TRUE(o.store.ok());
    ASSERT_TRUE((*o.store)->append({entry(1, 1, "one")}, std::nullopt).ok());
    ASSERT_TRUE((*o.store)->append({entry(2, 1, "two")}, std::nullopt).ok());
    ASSERT_TRUE((*o.store)->sync().ok());
  }
};

TEST_F(LogStoreTest, Open_EmptyDisk_CreatesDurableSegment) {
  Opened o = open_log(disk_);
  ASSERT_TRUE(o.store.ok());
  EXPECT_EQ((*o.store)->segment_count(), 1u);
  EXPECT_TRUE(o.rec.entries.empty());
  EXPECT_EQ(o.rec.hard_state, HardState{});
  EXPECT_EQ(o.rec.torn_bytes, 0u);
  ASSERT_EQ(files(disk_), std::vector<std::string>{kFirstSegment});

  disk_.crash(Duration{0});
  ASSERT_EQ(files(disk_), std::vector<std::string>{kFirstSegment});
  EXPECT_EQ(contents(disk_, kFirstSegment),
            encode_segment_header() + encode_hard_state_record(HardState{}));
}

TEST_F(LogStoreTest, AppendSyncReopen_RecoversEntriesAndHardState) {
  std::vector<Entry> ents = entries(1, 20, 3);
  ents[4].type = EntryType::kNoop;
  ents[7].data = std::string("bin\0ary\xff", 8);
  write_synced(ents, hard_state(3, 2, 15));

  disk_.crash(Duration{0});
  RecoveredLog rec = reopen_ok();
  EXPECT_EQ(rec.entries, ents);
  EXPECT_EQ(rec.hard_state, hard_state(3, 2, 15));
  EXPECT_EQ(rec.torn_bytes, 0u);
  EXPECT_EQ(rec.segments, 1u);
}

TEST_F(LogStoreTest, Reopen_AppendsContinueAfterRecoveredTail) {
  write_synced(entries(1, 3, 1), hard_state(1, 1, 0));
  write_synced(entries(4, 6, 2), hard_state(2, 1, 5));
  RecoveredLog rec = reopen_ok();
  std::vector<Entry> want = entries(1, 3, 1);
  for (Entry& e : entries(4, 6, 2)) want.push_back(e);
  EXPECT_EQ(rec.entries, want);
  EXPECT_EQ(rec.hard_state, hard_state(2, 1, 5));
}

TEST_F(LogStoreTest, EntryAtExistingIndex_ReplacesItAndEverythingAfter) {
  write_synced(entries(1, 5, 1), hard_state(1, 0, 2));
  write_synced({entry(3, 2, "new3")}, hard_state(2, 0, 2));

  RecoveredLog rec = reopen_ok();
  std::vector<Entry> want = entries(1, 2, 1);
  want.push_back(entry(3, 2, "new3"));
  EXPECT_EQ(rec.entries, want);

  write_synced({entry(4, 2, "new4")}, std::nullopt);
  want.push_back(entry(4, 2, "new4"));
  EXPECT_EQ(reopen_ok().entries, want);
}

TEST_F(LogStoreTest, HardState_LastWins) {
  {
    Opened o = open_log(disk_);
    ASSERT_TRUE(o.store.ok());
    LogStore& s = **o.store;
    ASSERT_TRUE(s.append({}, hard_state(1, 1, 0)).ok());
    ASSERT_TRUE(s.append(entries(1, 2, 2), hard_state(2, 3, 1)).ok());
    ASSERT_TRUE(s.append({}, hard_state(4, 0, 2)).ok());
    ASSERT_TRUE(s.sync().ok());
  }
  EXPECT_EQ(reopen_ok().hard_state, hard_state(4, 0, 2));
}

TEST_F(LogStoreTest, Append_NothingToWrite_WritesNothing) {
  Opened o = open_log(disk_);
  ASSERT_TRUE(o.store.ok());
  const uint64_t before = disk_.size(kFirstSegment).value();
  ASSERT_TRUE((*o.store)->append({}, std::nullopt).ok());
  EXPECT_EQ(disk_.size(kFirstSegment).value(), before);
}

TEST_F(LogStoreTest, Rotation_SpreadsOverSegmentsAndRecoversAcrossThem) {
  const LogStoreOptions tiny{.max_segment_bytes = 1};
  std::vector<HardState> written;
  {
    Opened o = open_log(disk_, tiny);
    ASSERT_TRUE(o.store.ok());
    LogStore& s = **o.store;
    for (uint64_t k = 1; k <= 6; ++k) {
      written.push_back(hard_state(k, k % 3, k - 1));
      ASSERT_TRUE(s.append(entries(2 * k - 1, 2 * k, k), written.back()).ok());
    }
    ASSERT_TRUE(s.sync().ok());
    EXPECT_EQ(s.segment_count(), 7u);
  }

  const std::vector<std::string> names = files(disk_);
  ASSERT_EQ(names.size(), 7u);
  // Every append rotates first, so a segment begins with the hard state of the append before it.
  for (size_t k = 0; k < names.size(); ++k) {
    const std::string start =
        encode_segment_header() + encode_hard_state_record(k < 2 ? HardState{} : written[k - 2]);
    EXPECT_EQ(disk_.read(names[k], 0, start.size()).value(), start) << names[k];
  }

  RecoveredLog rec = reopen_ok(tiny);
  std::vector<Entry> want;
  for (uint64_t k = 1; k <= 6; ++k) {
    for (Entry& e : entries(2 * k - 1, 2 * k, k)) want.push_back(e);
  }
  EXPECT_EQ(rec.entries, want);
  EXPECT_EQ(rec.hard_state, written.back());
  EXPECT_EQ(rec.segments, 7u);
}

TEST_F(LogStoreTest, Rotation_TruncationInLaterSegmentReplacesEarlierSegmentsEntries) {
  const LogStoreOptions tiny{.max_segment_bytes = 1};
  {
    Opened o = open_log(disk_, tiny);
    ASSERT_TRUE(o.store.ok());
    LogStore& s = **o.store;
    ASSERT_TRUE(s.append(entries(1, 4, 1), hard_state(1, 0, 1)).ok());
    ASSERT_TRUE(s.append(entries(5, 6, 1), std::nullopt).ok());
    ASSERT_TRUE(s.append({entry(3, 2, "x")}, hard_state(2, 0, 1)).ok());
    ASSERT_TRUE(s.sync().ok());
  }
  std::vector<Entry> want = entries(1, 2, 1);
  want.push_back(entry(3, 2, "x"));
  EXPECT_EQ(reopen_ok(tiny).entries, want);
}

TEST_F(LogStoreTest, Rotation_SealsThePreviousSegment) {
  const LogStoreOptions tiny{.max_segment_bytes = 1};
  Opened o = open_log(disk_, tiny);
  ASSERT_TRUE(o.store.ok());
  LogStore& s = **o.store;
  ASSERT_TRUE(s.append(entries(1, 3, 1), std::nullopt).ok());
  ASSERT_TRUE(s.append(entries(4, 4, 1), std::nullopt).ok());

  disk_.crash(Duration{0});
  EXPECT_EQ(reopen_ok(tiny).entries, entries(1, 3, 1));
}

TEST_F(LogStoreTest, Crash_LoseAll_RecoversExactlyTheSyncedLog) {
  Opened o = open_log(disk_);
  ASSERT_TRUE(o.store.ok());
  LogStore& s = **o.store;
  ASSERT_TRUE(s.append(entries(1, 4, 1), hard_state(1, 1, 2)).ok());
  ASSERT_TRUE(s.sync().ok());
  ASSERT_TRUE(s.append(entries(5, 9, 1), hard_state(1, 1, 8)).ok());

  disk_.crash(Duration{0});
  RecoveredLog rec = reopen_ok();
  EXPECT_EQ(rec.entries, entries(1, 4, 1));
  EXPECT_EQ(rec.hard_state, hard_state(1, 1, 2));
  EXPECT_EQ(rec.torn_bytes, 0u);
}

// Rounds of random appends, some synced, each ended by a crash. Only appends (no suffix
// replacement), so whatever survives must extend what was synced.
void check_crash_recovery(uint64_t seed, SimDiskOptions disk_opts, LogStoreOptions store_opts,
                          int crashes) {
  SimDisk disk(Prng(seed), disk_opts);
  Prng prng(seed ^ 0x9e3779b97f4a7c15ull);
  std::vector<Entry> durable;
  // The last synced hard state, then every one appended after it: recovery returns one of them.
  std::vector<HardState> possible_hs{HardState{}};
  for (int round = 0; round <= crashes; ++round) {
    RecoveredLog rec;
    auto store = LogStore::open(disk, store_opts, &rec);
    RC_ASSERT(store.ok());
    RC_ASSERT(rec.entries.size() >= durable.size());
    for (size_t i = 0; i < durable.size(); ++i) RC_ASSERT(rec.entries[i] == durable[i]);
    // One of those, raised to the log's last term (with no vote) when a tear left it behind.
    const Term last_term = rec.entries.empty() ? Term{0} : rec.entries.back().term;
    RC_ASSERT(rec.hard_state.term >= last_term);
    RC_ASSERT(std::any_of(possible_hs.begin(), possible_hs.end(), [&](const HardState& c) {
      return c.term >= last_term ? c == rec.hard_state : rec.hard_state == HardState{last_term, NodeId{}, c.commit};
    }));
    if (round == crashes) break;

    std::vector<Entry> log = rec.entries;
    HardState hs = rec.hard_state;
    durable = log;
    possible_hs = {hs};
    const uint64_t batches = 1 + prng.below(8);
    for (uint64_t b = 0; b < batches; ++b) {
      std::vector<Entry> batch;
      const uint64_t n = prng.below(4);
      for (uint64_t k = 0; k < n; ++k) {
        const uint64_t index = log.size() + 1;
        const uint64_t term = (log.empty() ? 1 : log.back().term.v) + prng.below(2);
        log.push_back(
            entry(index, term, std::string(prng.below(40), static_cast<char>('A' + index % 26))));
        batch.push_back(log.back());
      }
      std::optional<HardState> new_hs;
      if (prng.chance_ppm(500'000)) {
        hs = hard_state(hs.term.v + prng.below(2), prng.below(4),
                        hs.commit.v + prng.below(log.size() - hs.commit.v + 1));
        new_hs = hs;
        possible_hs.push_back(hs);
      }
      RC_ASSERT((*store)->append(batch, new_hs).ok());
      if (prng.chance_ppm(400'000)) {
        RC_ASSERT((*store)->sync().ok());
        durable = log;
        possible_hs = {hs};
      }
    }
    disk.crash(Duration{0});
  }
}

RC_GTEST_PROP(LogStore, Crash_LoseAllUnsynced_SyncedEntriesSurvive, ()) {
  SimDiskOptions o;
  o.lose_all_ppm = 1'000'000;
  o.torn_ppm = *rc::gen::element(0u, 1'000'000u);
  const uint64_t segment = *rc::gen::element(uint64_t{1}, uint64_t{300}, uint64_t{64} << 20);
  check_crash_recovery(*rc::gen::arbitrary<uint64_t>(), o, LogStoreOptions{segment}, 4);
}

RC_GTEST_PROP(LogStore, Crash_TornPrefixOfUnsynced_SyncedEntriesSurvive, ()) {
  SimDiskOptions o;
  o.lose_all_ppm = 0;
  o.torn_ppm = 1'000'000;
  const uint64_t segment = *rc::gen::element(uint64_t{1}, uint64_t{300}, uint64_t{64} << 20);
  check_crash_recovery(*rc::gen::arbitrary<uint64_t>(), o, LogStoreOptions{segment}, 4);
}

TEST(LogStore, Crash_ManySeeds_TornTailsAreRecoveredAndMeasured) {
  SimDiskOptions o;
  o.lose_all_ppm = 0;
  o.torn_ppm = 1'000'000;
  uint64_t torn_total = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    SimDisk disk(Prng(seed), o);
    {
      RecoveredLog rec;
      auto store = LogStore::open(disk, {}, &rec);
      ASSERT_TRUE(store.ok());
      ASSERT_TRUE((*store)->append(entries(1, 5, 1), std::nullopt).ok());
      ASSERT_TRUE((*store)->sync().ok());
      ASSERT_TRUE((*store)->append(entries(6, 12, 1), std::nullopt).ok());
    }
    disk.crash(Duration{0});
    RecoveredLog rec;
    auto store = LogStore::open(disk, {}, &rec);
    ASSERT_TRUE(store.ok()) << "seed " << seed << ": " << store.error().message;
    ASSERT_GE(rec.entries.size(), 5u) << "seed " << seed;
    const std::vector<Entry> want = entries(1, rec.entries.size(), 1);
    ASSERT_EQ(rec.entries, want) << "seed " << seed;
    torn_total += rec.torn_bytes;
  }
  EXPECT_GT(torn_total, 0u);
}

class LogStoreTornTest : public LogStoreTest {
 protected:
  // Three entries after a hard state of their term, synced; returns the offset where the last
  // record starts.
  uint64_t write_three() {
    write_synced({}, hard_state(1, 0, 0));
    write_synced({entry(1, 1, "one"), entry(2, 1, "two"), entry(3, 1, std::string(50, 'z'))},
                 std::nullopt);
    const uint64_t size = disk_.size(kFirstSegment).value();
    return size - encode_entry_record(entry(3, 1, std::string(50, 'z'))).size();
  }

  void expect_recovers_first_two_then_appends(uint64_t last_start, uint64_t torn_bytes) {
    RecoveredLog rec;
    {
      Opened o = open_log(disk_);
      ASSERT_TRUE(o.store.ok()) << o.store.error().message;
      rec = o.rec;
      EXPECT_EQ(rec.entries, (std::vector<Entry>{entry(1, 1, "one"), entry(2, 1, "two")}));
      EXPECT_EQ(rec.torn_bytes, torn_bytes);
      EXPECT_EQ(disk_.size(kFirstSegment).value(), last_start);
      ASSERT_TRUE((*o.store)->append({entry(3, 2, "three")}, std::nullopt).ok());
      ASSERT_TRUE((*o.store)->sync().ok());
    }
    disk_.crash(Duration{0});
    RecoveredLog again = reopen_ok();
    EXPECT_EQ(again.entries,
              (std::vector<Entry>{entry(1, 1, "one"), entry(2, 1, "two"), entry(3, 2, "three")}));
    EXPECT_EQ(again.torn_bytes, 0u);
  }
};

TEST_F(LogStoreTornTest, TornTail_CutMidRecord_IsTruncatedAndAppendable) {
  const uint64_t last_start = write_three();
  const uint64_t size = disk_.size(kFirstSegment).value();
  const uint64_t cut = last_start + (size - last_start) / 2;
  ASSERT_TRUE(disk_.truncate(kFirstSegment, cut).ok());
  ASSERT_TRUE(disk_.sync(kFirstSegment).ok());
  expect_recovers_first_two_then_appends(last_start, cut - last_start);
}

TEST_F(LogStoreTornTest, TornTail_CutInsideRecordHeader_IsTruncatedAndAppendable) {
  const uint64_t last_start = write_three();
  ASSERT_TRUE(disk_.truncate(kFirstSegment, last_start + 5).ok());
  ASSERT_TRUE(disk_.sync(kFirstSegment).ok());
  expect_recovers_first_two_then_appends(last_start, 5);
}

TEST_F(LogStoreTornTest, TornTail_FlippedByteInLastRecord_IsTruncatedAndAppendable) {
  const uint64_t last_start = write_three();
  const uint64_t size = disk_.size(kFirstSegment).value();
  flip_byte(disk_, kFirstSegment, last_start + kRecordHeaderBytes + 10);
  expect_recovers_first_two_then_appends(last_start, size - last_start);
}

// Seeds 11350 and 18224: one append held a newer leader's entries followed by the hard state that
// carries the new term, and the crash tore it between the two. The entries prove the newer term
// exists, so the node starts in it, with no vote (a vote in it would have been synced earlier).
TEST_F(LogStoreTest, TornBetweenEntriesAndHardState_StartsInTheLogsTerm) {
  write_synced(entries(1, 4, 28), hard_state(28, 0, 2));
  const std::vector<Entry> newer = {entry(3, 29, "noop of 29")};
  {
    Opened o = open_log(disk_);
    ASSERT_TRUE(o.store.ok());
    ASSERT_TRUE((*o.store)->append(newer, hard_state(29, 0, 2)).ok());
    ASSERT_TRUE((*o.store)->sync().ok());
  }
  // Cut the hard state record off the end, as the tear did.
  const uint64_t size = disk_.size(kFirstSegment).value();
  const uint64_t hs_bytes = encode_hard_state_record(hard_state(29, 0, 2)).size();
  ASSERT_TRUE(disk_.truncate(kFirstSegment, size - hs_bytes + 3).ok());
  ASSERT_TRUE(disk_.sync(kFirstSegment).ok());

  RecoveredLog rec = reopen_ok();
  EXPECT_EQ(rec.torn_bytes, 3u);
  EXPECT_EQ(rec.entries.back(), newer.back());
  EXPECT_EQ(rec.hard_state, hard_state(29, 0, 2));
  ASSERT_TRUE(rec.term_raised_from.has_value());
  EXPECT_EQ(*rec.term_raised_from, Term(28));
  // The raised hard state was made durable by the open itself: a crash right after keeps it.
  disk_.crash(Duration{0});
  RecoveredLog again = reopen_ok();
  EXPECT_EQ(again.hard_state, hard_state(29, 0, 2));
  EXPECT_FALSE(again.term_raised_from.has_value());
}

TEST_F(LogStoreTest, HardStateBehindLogAfterAVote_DropsTheOldTermsVote) {
  write_synced(entries(1, 2, 5), hard_state(5, 3, 1));
  write_synced({entry(3, 7, "seven")}, std::nullopt);
  RecoveredLog rec = reopen_ok();
  EXPECT_EQ(rec.hard_state, hard_state(7, 0, 1));
}

TEST_F(LogStoreTest, HardStateAtTheLogsTerm_IsKeptAsItIs) {
  write_synced(entries(1, 2, 5), hard_state(6, 3, 1));
  RecoveredLog rec = reopen_ok();
  EXPECT_EQ(rec.hard_state, hard_state(6, 3, 1));
  EXPECT_FALSE(rec.term_raised_from.has_value());
}

// Entry payloads are client bytes: one holding an encoded record at an aligned offset must not
// make the torn tail of an unsynced append look like corruption. Salted segments see to that.
TEST_F(LogStoreTest, TornTail_PayloadHoldingAnEncodedRecord_IsStillATornTail) {
  const std::string inner = encode_entry_record(entry(2, 1, "fake"));
  const Entry tricky = entry(2, 1, std::string(4, '\0') + inner + std::string(64, 'z'));
  const LogStoreOptions salted{.salt_seed = 0x5eed};
  {
    Opened o = open_log(disk_, salted);
    ASSERT_TRUE(o.store.ok());
    ASSERT_TRUE((*o.store)->append({entry(1, 1, "one")}, std::nullopt).ok());
    ASSERT_TRUE((*o.store)->sync().ok());
    ASSERT_TRUE((*o.store)->append({tricky}, std::nullopt).ok());
  }
  // The crash kept a prefix of the unsynced append that ends after the embedded record.
  ASSERT_TRUE(disk_.truncate(kFirstSegment, disk_.size(kFirstSegment).value() - 16).ok());
  ASSERT_TRUE(disk_.sync(kFirstSegment).ok());

  RecoveredLog rec = reopen_ok();
  EXPECT_EQ(rec.entries, std::vector<Entry>{entry(1, 1, "one")});
  EXPECT_GT(rec.torn_bytes, 0u);
}

TEST_F(LogStoreTest, FlippedByteFollowedByValidRecords_IsCorrupt) {
  write_synced({entry(1, 1, "one"), entry(2, 1, "two"), entry(3, 1, "three")}, std::nullopt);
  const uint64_t second = kSegmentHeaderBytes + encode_hard_state_record(HardState{}).size() +
                          encode_entry_record(entry(1, 1, "one")).size();
  flip_byte(disk_, kFirstSegment, second + kRecordHeaderBytes);
  expect_corrupt();
}

TEST_F(LogStoreTest, FlippedLengthFollowedByValidRecords_IsCorrupt) {
  write_synced(entries(1, 6, 1), std::nullopt);
  const uint64_t first = kSegmentHeaderBytes + encode_hard_state_record(HardState{}).size();
  flip_byte(disk_, kFirstSegment, first + 4);
  expect_corrupt();
}

TEST_F(LogStoreTest, BadRecordInSealedSegment_IsCorrupt) {
  ASSERT_NO_FATAL_FAILURE(write_one_entry_per_segment());
  ASSERT_EQ(files(disk_).size(), 3u);
  // The sealed segment's last record: in the last segment this would be a torn tail.
  const uint64_t size = disk_.size(kSecondSegment).value();
  flip_byte(disk_, kSecondSegment, size - 1);
  expect_corrupt();
}

TEST_F(LogStoreTest, TruncatedSealedSegment_IsCorrupt) {
  ASSERT_NO_FATAL_FAILURE(write_one_entry_per_segment());
  ASSERT_EQ(files(disk_).size(), 3u);
  ASSERT_TRUE(disk_.truncate(kSecondSegment, disk_.size(kSecondSegment).value() - 3).ok());
  ASSERT_TRUE(disk_.sync(kSecondSegment).ok());
  expect_corrupt();
}

TEST_F(LogStoreTest, BadSegmentHeader_IsCorrupt) {
  write_synced(entries(1, 2, 1), std::nullopt);
  flip_byte(disk_, kFirstSegment, 2);
  expect_corrupt();
}

TEST_F(LogStoreTest, BadSegmentVersion_IsCorrupt) {
  write_synced(entries(1, 2, 1), std::nullopt);
  flip_byte(disk_, kFirstSegment, 8);
  expect_corrupt();
}

TEST_F(LogStoreTest, LastSegmentShorterThanHeader_IsRemoved) {
  write_synced(entries(1, 3, 1), hard_state(1, 1, 2));
  const std::string partial = kSecondSegment;
  ASSERT_TRUE(disk_.create(partial).ok());
  ASSERT_TRUE(disk_.append(partial, encode_segment_header().substr(0, 7)).ok());
  ASSERT_TRUE(disk_.sync(partial).ok());
  ASSERT_TRUE(disk_.sync_dir().ok());

  RecoveredLog rec = reopen_ok();
  EXPECT_EQ(rec.entries, entries(1, 3, 1));
  EXPECT_EQ(rec.hard_state, hard_state(1, 1, 2));
  disk_.crash(Duration{0});
  EXPECT_EQ(files(disk_), std::vector<std::string>{kFirstSegment});

  write_synced(entries(4, 4, 1), std::nullopt);
  EXPECT_EQ(reopen_ok().entries, entries(1, 4, 1));
}

TEST_F(LogStoreTest, EmptyLastSegment_IsRemoved) {
  write_synced(entries(1, 2, 1), std::nullopt);
  ASSERT_TRUE(disk_.create(kSecondSegment).ok());
  ASSERT_TRUE(disk_.sync_dir().ok());
  EXPECT_EQ(reopen_ok().entries, entries(1, 2, 1));
  EXPECT_EQ(files(disk_), std::vector<std::string>{kFirstSegment});
}

TEST_F(LogStoreTest, ForeignFiles_AreIgnored) {
  write_synced(entries(1, 2, 1), std::nullopt);
  ASSERT_TRUE(disk_.create("snapshot.tmp").ok());
  ASSERT_TRUE(disk_.create("wal-XYZ.log").ok());
  EXPECT_EQ(reopen_ok().entries, entries(1, 2, 1));
}

TEST_F(LogStoreTest, EntryIndexGap_IsCorrupt) {
  write_segment(disk_, kFirstSegment,
                encode_hard_state_record(HardState{}) + encode_entry_record(entry(1, 1)) +
                    encode_entry_record(entry(3, 1)));
  expect_corrupt();
}

TEST_F(LogStoreTest, FirstEntryNotAtIndexOne_IsCorrupt) {
  write_segment(disk_, kFirstSegment, encode_entry_record(entry(2, 1)));
  expect_corrupt();
}

TEST_F(LogStoreTest, EntryIndexZero_IsCorrupt) {
  write_segment(disk_, kFirstSegment, encode_entry_record(entry(0, 1)));
  expect_corrupt();
}

TEST_F(LogStoreTest, EntryTermGoingBackwards_IsCorrupt) {
  write_segment(disk_, kFirstSegment,
                encode_entry_record(entry(1, 3)) + encode_entry_record(entry(2, 2)));
  expect_corrupt();
}

TEST_F(LogStoreTest, EntryReplacingCommittedEntry_IsCorrupt) {
  write_segment(disk_, kFirstSegment,
                encode_entry_record(entry(1, 1)) + encode_entry_record(entry(2, 1)) +
                    encode_hard_state_record(hard_state(1, 0, 2)) +
                    encode_entry_record(entry(2, 2)));
  expect_corrupt();
}

TEST_F(LogStoreTest, CommitBeyondLastEntry_IsCorrupt) {
  write_segment(disk_, kFirstSegment,
                encode_entry_record(entry(1, 1)) + encode_hard_state_record(hard_state(1, 0, 2)));
  expect_corrupt();
}

TEST_F(LogStoreTest, HandWrittenSegment_IsReadBack) {
  write_segment(disk_, kFirstSegment,
                encode_entry_record(entry(1, 1, "a")) +
                    encode_hard_state_record(hard_state(1, 0, 1)) +
                    encode_entry_record(entry(2, 2, "b")));
  RecoveredLog rec = reopen_ok();
  EXPECT_EQ(rec.entries, (std::vector<Entry>{entry(1, 1, "a"), entry(2, 2, "b")}));
  // Entry 2 of term 2 after a hard state of term 1: the node starts in term 2.
  EXPECT_EQ(rec.hard_state, hard_state(2, 0, 1));
}

TEST_F(LogStoreTest, EncodedRecords_AreEightByteAligned) {
  for (size_t len = 0; len < 20; ++len) {
    const std::string r = encode_entry_record(entry(1, 1, std::string(len, 'q')));
    EXPECT_EQ(r.size() % 8, 0u);
    EXPECT_GE(r.size(), kRecordHeaderBytes + len);
    EXPECT_LT(r.size(), kRecordHeaderBytes + len + 8);
  }
  EXPECT_EQ(encode_segment_header().size(), kSegmentHeaderBytes);
}

TEST_F(LogStoreTest, InjectedSyncFailure_IsReturnedAndDataStaysVolatile) {
  Opened o = open_log(disk_);
  ASSERT_TRUE(o.store.ok());
  ASSERT_TRUE((*o.store)->append(entries(1, 2, 1), std::nullopt).ok());
  ASSERT_TRUE((*o.store)->sync().ok());

  SimDiskOptions failing = lose_all_unsynced();
  failing.sync_fail_ppm = 1'000'000;
  disk_.set_options(failing);
  ASSERT_TRUE((*o.store)->append(entries(3, 4, 1), std::nullopt).ok());
  Status st = (*o.store)->sync();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kIo);

  disk_.set_options(lose_all_unsynced());
  disk_.crash(Duration{0});
  EXPECT_EQ(reopen_ok().entries, entries(1, 2, 1));
}

TEST(LogStore, OpenOnFailingDisk_ReturnsError) {
  SimDiskOptions failing = lose_all_unsynced();
  failing.sync_fail_ppm = 1'000'000;
  SimDisk disk(Prng(3), failing);
  RecoveredLog rec;
  auto store = LogStore::open(disk, {}, &rec);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kIo);
}

// --- Snapshot floors, resets and compaction ---

Opened open_log_at(Disk& disk, uint64_t floor_index, uint64_t floor_term,
                   LogStoreOptions opts = {}) {
  Opened o;
  o.store = LogStore::open(disk, opts, &o.rec, LogIndex(floor_index), Term(floor_term));
  return o;
}

std::vector<Entry> concat(std::vector<Entry> a, const std::vector<Entry>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class LogStoreFloorTest : public LogStoreTest {
 protected:
  RecoveredLog reopen_at_ok(uint64_t floor_index, uint64_t floor_term, LogStoreOptions opts = {}) {
    Opened o = open_log_at(disk_, floor_index, floor_term, opts);
    EXPECT_TRUE(o.store.ok()) << o.store.error().message;
    return o.rec;
  }

  void expect_corrupt_at(uint64_t floor_index, uint64_t floor_term) {
    Opened o = open_log_at(disk_, floor_index, floor_term);
    ASSERT_FALSE(o.store.ok());
    EXPECT_EQ(o.store.error().code, ErrorCode::kCorrupt) << o.store.error().message;
  }

  // Opens at the floor, appends `ents` and syncs.
  void append_at(uint64_t floor_index, uint64_t floor_term, const std::vector<Entry>& ents) {
    Opened o = open_log_at(disk_, floor_index, floor_term);
    ASSERT_TRUE(o.store.ok()) << o.store.error().message;
    ASSERT_TRUE((*o.store)->append(ents, std::nullopt).ok());
    ASSERT_TRUE((*o.store)->sync().ok());
  }

  // Opens with no floor, records a reset to (index, term), appends `after` and syncs.
  void reset_then_append(uint64_t index, uint64_t term, const std::vector<Entry>& after) {
    Opened o = open_log(disk_);
    ASSERT_TRUE(o.store.ok()) << o.store.error().message;
    ASSERT_TRUE((*o.store)->reset(LogIndex(index), Term(term)).ok());
    ASSERT_TRUE((*o.store)->append(after, std::nullopt).ok());
    ASSERT_TRUE((*o.store)->sync().ok());
  }
};

TEST_F(LogStoreFloorTest, OpenWithFloor_ReturnsOnlyEntriesAfterIt) {
  write_synced(entries(1, 10, 1), hard_state(1, 2, 4));
  RecoveredLog rec = reopen_at_ok(6, 1);
  EXPECT_EQ(rec.entries, entries(7, 10, 1));
  EXPECT_EQ(rec.hard_state, hard_state(1, 2, 4));
  EXPECT_TRUE(reopen_at_ok(10, 1).entries.empty());
  EXPECT_EQ(reopen_ok().entries, entries(1, 10, 1));
}

TEST_F(LogStoreFloorTest, Reset_ThenEntriesFromNext_SurviveReopenWithThatFloor) {
  write_synced(entries(1, 5, 1), hard_state(1, 1, 3));
  reset_then_append(20, 3, entries(21, 23, 3));
  disk_.crash(Duration{0});

  RecoveredLog rec = reopen_at_ok(20, 3);
  EXPECT_EQ(rec.entries, entries(21, 23, 3));
  // The hard state never caught up with the snapshot's term: raised to it, without the vote.
  EXPECT_EQ(rec.hard_state, hard_state(3, 0, 3));

  append_at(20, 3, entries(24, 25, 4));
  disk_.crash(Duration{0});
  EXPECT_EQ(reopen_at_ok(20, 3).entries, concat(entries(21, 23, 3), entries(24, 25, 4)));
}

TEST_F(LogStoreFloorTest, Reset_Unsynced_IsLostInCrash) {
  write_synced(entries(1, 5, 1), std::nullopt);
  {
    Opened o = open_log(disk_);
    ASSERT_TRUE(o.store.ok());
    ASSERT_TRUE((*o.store)->reset(LogIndex(20), Term(3)).ok());
  }
  disk_.crash(Duration{0});
  EXPECT_EQ(reopen_ok().entries, entries(1, 5, 1));
}

TEST_F(LogStoreFloorTest, ResetAboveFloor_IsCorrupt) {
  write_synced(entries(1, 5, 1), std::nullopt);
  reset_then_append(20, 3, {});
  expect_corrupt_at(19, 3);
  expect_corrupt_at(0, 0);
  EXPECT_TRUE(reopen_at_ok(20, 3).entries.empty());
  EXPECT_TRUE(reopen_at_ok(30, 4).entries.empty());
}

TEST_F(LogStoreFloorTest, EntriesNotRightAfterFloor_AreCorrupt) {
  reset_then_append(20, 3, entries(23, 24, 3));
  expect_corrupt_at(20, 3);
}

// Found by tests/fuzz/fuzz_log_store: entries resuming right after the snapshot but in an older
// term than the snapshot's were handed to Raft as the log, though no Raft log can hold them.
TEST_F(LogStoreFloorTest, EntriesAfterFloorInAnOlderTerm_AreCorrupt) {
  write_segment(disk_, kFirstSegment,
                encode_entry_record(entry(2, 1)) + encode_entry_record(entry(3, 1)));
  expect_corrupt_at(1, 2);
  EXPECT_EQ(reopen_at_ok(1, 1).entries, (std::vector<Entry>{entry(2, 1), entry(3, 1)}));
}

TEST_F(LogStoreFloorTest, FloorEntryWithFloorTerm_KeepsEntriesAfterIt) {
  const std::vector<Entry> log = concat(entries(1, 5, 1), entries(6, 10, 2));
  write_synced(log, hard_state(2, 1, 5));
  const uint64_t size = disk_.size(kFirstSegment).value();

  RecoveredLog rec = reopen_at_ok(7, 2);
  EXPECT_EQ(rec.entries, entries(8, 10, 2));
  EXPECT_EQ(disk_.size(kFirstSegment).value(), size);
  disk_.crash(Duration{0});
  EXPECT_EQ(reopen_at_ok(7, 2).entries, entries(8, 10, 2));
  EXPECT_EQ(reopen_ok().entries, log);
}

TEST_F(LogStoreFloorTest, FloorEntryWithOtherTerm_DiscardsLogAndWritesReset) {
  write_synced(entries(1, 10, 1), hard_state(1, 1, 3));
  RecoveredLog rec = reopen_at_ok(7, 2);
  EXPECT_TRUE(rec.entries.empty());
  EXPECT_EQ(rec.hard_state, hard_state(2, 0, 3));  // raised to the snapshot's term

  disk_.crash(Duration{0});
  expect_corrupt_at(0, 0);
  EXPECT_TRUE(reopen_at_ok(7, 2).entries.empty());

  append_at(7, 2, entries(8, 9, 2));
  disk_.crash(Duration{0});
  EXPECT_EQ(reopen_at_ok(7, 2).entries, entries(8, 9, 2));
}

TEST_F(LogStoreFloorTest, LogEndingBeforeFloor_DiscardsLogAndWritesReset) {
  write_synced(entries(1, 3, 1), hard_state(1, 1, 3));
  EXPECT_TRUE(reopen_at_ok(10, 2).entries.empty());

  disk_.crash(Duration{0});
  expect_corrupt_at(3, 1);
  EXPECT_TRUE(reopen_at_ok(10, 2).entries.empty());

  append_at(10, 2, entries(11, 12, 2));
  disk_.crash(Duration{0});
  EXPECT_EQ(reopen_at_ok(10, 2).entries, entries(11, 12, 2));
}

TEST_F(LogStoreFloorTest, FloorOnEmptyLog_AcceptsEntriesAfterIt) {
  write_synced({}, hard_state(2, 1, 0));
  EXPECT_TRUE(reopen_at_ok(10, 2).entries.empty());
  append_at(10, 2, entries(11, 11, 2));
  disk_.crash(Duration{0});
  EXPECT_EQ(reopen_at_ok(10, 2).entries, entries(11, 11, 2));
}

class LogStoreCompactTest : public LogStoreFloorTest {
 protected:
  static constexpr LogStoreOptions kTiny{.max_segment_bytes = 1};

  // Entries 1..12 in term 1, two per segment after an initial segment holding only the hard
  // state: segment k (k >= 2) ends at entry 2(k-1).
  std::unique_ptr<LogStore> write_many_segments() {
    Opened o = open_log(disk_, kTiny);
    EXPECT_TRUE(o.store.ok());
    if (!o.store.ok()) return nullptr;
    for (uint64_t k = 1; k <= 6; ++k) {
      EXPECT_TRUE((*o.store)->append(entries(2 * k - 1, 2 * k, 1), hard_state(1, 1, 2 * k)).ok());
    }
    EXPECT_TRUE((*o.store)->sync().ok());
    EXPECT_EQ((*o.store)->segment_count(), 7u);
    return std::move(*o.store);
  }

  static std::vector<std::string> segment_names(uint64_t first, uint64_t last) {
    std::vector<std::string> out;
    for (uint64_t k = first; k <= last; ++k) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "wal-%016llx.log", static_cast<unsigned long long>(k));
      out.push_back(buf);
    }
    return out;
  }
};

TEST_F(LogStoreCompactTest, Compact_DeletesOnlySealedSegmentsAtOrBelowUpto) {
  std::unique_ptr<LogStore> s = write_many_segments();
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(files(disk_), segment_names(1, 7));

  ASSERT_TRUE(s->compact(LogIndex(5)).ok());
  EXPECT_EQ(s->segment_count(), 4u);
  EXPECT_EQ(files(disk_), segment_names(4, 7));

  ASSERT_TRUE(s->compact(LogIndex(5)).ok());
  EXPECT_EQ(files(disk_), segment_names(4, 7));

  ASSERT_TRUE(s->compact(LogIndex(8)).ok());
  EXPECT_EQ(files(disk_), segment_names(6, 7));
  s.reset();

  disk_.crash(Duration{0});
  EXPECT_EQ(files(disk_), segment_names(6, 7));
  RecoveredLog rec = reopen_at_ok(8, 1, kTiny);
  EXPECT_EQ(rec.entries, entries(9, 12, 1));
  EXPECT_EQ(rec.hard_state, hard_state(1, 1, 12));
  EXPECT_EQ(reopen_at_ok(10, 1, kTiny).entries, entries(11, 12, 1));
}

TEST_F(LogStoreCompactTest, Compact_NeverDeletesTheCurrentSegment) {
  std::unique_ptr<LogStore> s = write_many_segments();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->compact(LogIndex(1000)).ok());
  EXPECT_EQ(s->segment_count(), 1u);
  EXPECT_EQ(files(disk_), segment_names(7, 7));
  ASSERT_TRUE(s->append(entries(13, 13, 2), hard_state(2, 1, 13)).ok());
  ASSERT_TRUE(s->sync().ok());
  s.reset();

  disk_.crash(Duration{0});
  RecoveredLog rec = reopen_at_ok(12, 1, kTiny);
  EXPECT_EQ(rec.entries, entries(13, 13, 2));
  EXPECT_EQ(rec.hard_state, hard_state(2, 1, 13));
}

TEST_F(LogStoreCompactTest, Compact_BelowEveryEntry_DeletesOnlyEntrylessSegments) {
  std::unique_ptr<LogStore> s = write_many_segments();
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(s->compact(LogIndex(1)).ok());
  EXPECT_EQ(files(disk_), segment_names(2, 7));
  s.reset();
  EXPECT_EQ(reopen_ok(kTiny).entries, entries(1, 12, 1));
}

TEST_F(LogStoreCompactTest, Compact_AfterReopen_UsesRecoveredSegmentBounds) {
  write_many_segments();
  Opened o = open_log(disk_, kTiny);
  ASSERT_TRUE(o.store.ok());
  ASSERT_TRUE((*o.store)->compact(LogIndex(7)).ok());
  EXPECT_EQ(files(disk_), segment_names(5, 7));
  EXPECT_EQ(reopen_at_ok(7, 1, kTiny).entries, entries(8, 12, 1));
}

}  // namespace
}  // namespace rq::storage
