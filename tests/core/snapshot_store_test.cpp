#include "core/storage/snapshot_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "core/prng.h"
#include "core/storage/crc32c.h"
#include "sim/sim_disk.h"

namespace rq::storage {
namespace {

using raft::Member;
using raft::Membership;
using raft::SnapshotMeta;
using sim::SimDisk;
using sim::SimDiskOptions;

Membership members(std::initializer_list<uint64_t> voter_ids, uint64_t learner_id = 0) {
  std::vector<Member> ms;
  for (uint64_t v : voter_ids)
    ms.push_back(Member{NodeId(v), "host" + std::to_string(v), true, false, v * 11});
  if (learner_id != 0) ms.push_back(Member{NodeId(learner_id), "reader", false, false, 0});
  return Membership(std::move(ms));
}

std::string image_bytes(size_t n, char seed) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(seed + static_cast<char>(i * 7)));
  return s;
}

struct Opened {
  Result<std::optional<SnapshotMeta>> meta = make_error(ErrorCode::kIo, "not opened");
  size_t skipped = 99;
};

class SnapshotStoreTest : public ::testing::Test {
 protected:
  SimDisk disk_{Prng(1), SimDiskOptions{}};
  SnapshotStore store_{disk_};

  // Streams the pieces in as one image and seals it.
  SnapshotMeta write_snapshot(uint64_t index, uint64_t term, const Membership& m,
                              const std::vector<std::string>& pieces) {
    auto w = store_.begin(LogIndex(index), Term(term));
    EXPECT_TRUE(w.ok()) << w.error().message;
    if (!w.ok()) return {};
    for (const std::string& p : pieces) EXPECT_TRUE(store_.write(*w, p).ok());
    auto meta = store_.finish(*w, m);
    EXPECT_TRUE(meta.ok()) << meta.error().message;
    return meta.ok() ? *meta : SnapshotMeta{};
  }
  SnapshotMeta write_snapshot(uint64_t index, uint64_t term, const std::string& image) {
    return write_snapshot(index, term, members({1, 2, 3}), {image});
  }

  Opened open() {
    Opened o;
    o.meta = store_.open(&o.skipped);
    return o;
  }

  std::optional<SnapshotMeta> open_ok(size_t expect_skipped) {
    Opened o = open();
    EXPECT_TRUE(o.meta.ok()) << o.meta.error().message;
    EXPECT_EQ(o.skipped, expect_skipped);
    return o.meta.ok() ? *o.meta : std::nullopt;
  }

  // open() succeeds, skipping `expect_skipped` damaged files, and finds `want`.
  void expect_opens(const SnapshotMeta& want, size_t expect_skipped) {
    const std::optional<SnapshotMeta> opened = open_ok(expect_skipped);
    ASSERT_TRUE(opened.has_value());
    EXPECT_EQ(*opened, want);
  }

  std::vector<std::string> files() { return disk_.list().value(); }

  void flip(const std::string& name, uint64_t offset) {
    std::string b = disk_.read(name, offset, 1).value();
    ASSERT_EQ(b.size(), 1u);
    b[0] = static_cast<char>(b[0] ^ 0x20);
    ASSERT_TRUE(disk_.write(name, offset, b).ok());
    ASSERT_TRUE(disk_.sync(name).ok());
  }
};

SimDiskOptions lose_all_unsynced() {
  SimDiskOptions o;
  o.lose_all_ppm = 1'000'000;
  o.torn_ppm = 0;
  return o;
}

TEST(SnapshotStoreName, FileName_IsIndexAndTermIn16Hex) {
  EXPECT_EQ(SnapshotStore::file_name(LogIndex(0x1a), Term(3)),
            "snap-000000000000001a-0000000000000003.snap");
  EXPECT_EQ(SnapshotStore::file_name(LogIndex(0), Term(0)),
            "snap-0000000000000000-0000000000000000.snap");
  EXPECT_EQ(SnapshotStore::file_name(LogIndex(~uint64_t{0}), Term(0xabcdef0123456789ull)),
            "snap-ffffffffffffffff-abcdef0123456789.snap");
}

TEST_F(SnapshotStoreTest, Open_EmptyDisk_IsNullopt) {
  EXPECT_EQ(open_ok(0), std::nullopt);
  EXPECT_TRUE(files().empty());
}

TEST_F(SnapshotStoreTest, WriteInPiecesFinishOpen_ReturnsTheMeta) {
  const std::string image = image_bytes(5000, 'a');
  const std::vector<std::string> pieces{image.substr(0, 1), image.substr(1, 0),
                                        image.substr(1, 999), image.substr(1000, 3000),
                                        image.substr(4000)};
  const Membership m = members({1, 2, 3}, 9);
  const SnapshotMeta meta = write_snapshot(42, 7, m, pieces);
  EXPECT_EQ(meta.index, LogIndex(42));
  EXPECT_EQ(meta.term, Term(7));
  EXPECT_EQ(meta.membership, m);
  EXPECT_EQ(meta.size, image.size());
  EXPECT_EQ(meta.crc, crc32c(image));
  EXPECT_EQ(files(), std::vector<std::string>{SnapshotStore::file_name(LogIndex(42), Term(7))});

  ASSERT_NO_FATAL_FAILURE(expect_opens(meta, 0));
}

TEST_F(SnapshotStoreTest, Finish_SurvivesCrash) {
  disk_.set_options(lose_all_unsynced());
  const SnapshotMeta meta = write_snapshot(8, 2, image_bytes(300, 'q'));
  disk_.crash(Duration{0});
  ASSERT_NO_FATAL_FAILURE(expect_opens(meta, 0));
}

TEST_F(SnapshotStoreTest, EmptyImage_RoundTrips) {
  const SnapshotMeta meta = write_snapshot(3, 1, members({1}), {});
  EXPECT_EQ(meta.size, 0u);
  ASSERT_NO_FATAL_FAILURE(expect_opens(meta, 0));
  auto r = store_.read(meta, 0, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "");
}

TEST_F(SnapshotStoreTest, Read_AnyOffsetAndLength_ReturnsImageBytes) {
  const std::string image = image_bytes(257, 'Z');
  const SnapshotMeta meta = write_snapshot(10, 2, image);
  for (uint64_t off = 0; off <= image.size(); off += 3) {
    for (uint64_t len : {uint64_t{0}, uint64_t{1}, uint64_t{64}, image.size() - off}) {
      if (off + len > image.size()) continue;
      auto r = store_.read(meta, off, len);
      ASSERT_TRUE(r.ok()) << off << "+" << len << ": " << r.error().message;
      EXPECT_EQ(*r, image.substr(off, len)) << off << "+" << len;
    }
  }
}

TEST_F(SnapshotStoreTest, Read_BeyondImage_IsError) {
  const SnapshotMeta meta = write_snapshot(10, 2, image_bytes(100, 'x'));
  for (auto [off, len] :
       std::vector<std::pair<uint64_t, uint64_t>>{{0, 101},
                                                  {100, 1},
                                                  {99, 2},
                                                  {101, 0},
                                                  {200, 10},
                                                  {1, std::numeric_limits<uint64_t>::max()}}) {
    auto r = store_.read(meta, off, len);
    EXPECT_FALSE(r.ok()) << off << "+" << len;
  }
  auto ends = store_.read(meta, 100, 0);
  ASSERT_TRUE(ends.ok());
  EXPECT_EQ(*ends, "");
}

TEST_F(SnapshotStoreTest, Read_BeyondImage_IsInvalid) {
  const SnapshotMeta meta = write_snapshot(10, 2, image_bytes(100, 'x'));
  auto r = store_.read(meta, 50, 51);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
}

TEST_F(SnapshotStoreTest, Read_RemovedSnapshot_IsError) {
  const SnapshotMeta old_meta = write_snapshot(5, 1, image_bytes(10, 'a'));
  write_snapshot(9, 1, image_bytes(10, 'b'));
  ASSERT_TRUE(store_.retain(1).ok());
  EXPECT_FALSE(store_.read(old_meta, 0, 5).ok());
}

TEST_F(SnapshotStoreTest, Open_RemovesLeftoverTmpFiles) {
  disk_.set_options(lose_all_unsynced());
  const SnapshotMeta meta = write_snapshot(5, 1, image_bytes(64, 'k'));
  auto w = store_.begin(LogIndex(9), Term(2));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(store_.write(*w, image_bytes(64, 'm')).ok());
  const std::string stray = "snap-0000000000000003-0000000000000001.snap.tmp";
  ASSERT_TRUE(disk_.create(stray).ok());
  ASSERT_TRUE(disk_.create("other.tmp").ok());
  ASSERT_TRUE(disk_.sync_dir().ok());
  disk_.crash(Duration{0});
  ASSERT_EQ(files().size(), 4u);

  ASSERT_NO_FATAL_FAILURE(expect_opens(meta, 0));
  const std::vector<std::string> left{"other.tmp", SnapshotStore::file_name(LogIndex(5), Term(1))};
  EXPECT_EQ(files(), left);
  disk_.crash(Duration{0});
  EXPECT_EQ(files(), left);
}

TEST_F(SnapshotStoreTest, HalfWrittenSnapshot_CrashBeforeFinish_LeavesNoValidSnapshot) {
  disk_.set_options(lose_all_unsynced());
  auto w = store_.begin(LogIndex(9), Term(2));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(store_.write(*w, image_bytes(500, 'h')).ok());
  ASSERT_TRUE(store_.write(*w, image_bytes(500, 'i')).ok());
  disk_.crash(Duration{0});

  EXPECT_EQ(open_ok(0), std::nullopt);
  for (const std::string& n : files()) EXPECT_EQ(n.find("snap-"), std::string::npos) << n;

  const SnapshotMeta meta = write_snapshot(9, 2, image_bytes(20, 'j'));
  ASSERT_NO_FATAL_FAILURE(expect_opens(meta, 0));
}

TEST_F(SnapshotStoreTest, HalfWrittenSnapshot_OlderSnapshotStillOpens) {
  disk_.set_options(lose_all_unsynced());
  const SnapshotMeta older = write_snapshot(4, 1, image_bytes(80, 'o'));
  auto w = store_.begin(LogIndex(9), Term(2));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(store_.write(*w, image_bytes(500, 'h')).ok());
  ASSERT_TRUE(disk_.sync(w->tmp_name).ok());
  ASSERT_TRUE(disk_.sync_dir().ok());
  disk_.crash(Duration{0});

  ASSERT_NO_FATAL_FAILURE(expect_opens(older, 0));
  EXPECT_EQ(files(), std::vector<std::string>{SnapshotStore::file_name(LogIndex(4), Term(1))});
}

TEST_F(SnapshotStoreTest, FlippedImageByte_SkipsToOlderSnapshot) {
  const SnapshotMeta older = write_snapshot(4, 1, image_bytes(40, 'o'));
  const SnapshotMeta newer = write_snapshot(9, 2, image_bytes(40, 'n'));
  const std::string name = SnapshotStore::file_name(newer.index, newer.term);
  for (uint64_t off = 0; off < newer.size; ++off) {
    SCOPED_TRACE(off);
    flip(name, off);
    ASSERT_NO_FATAL_FAILURE(expect_opens(older, 1));
    flip(name, off);
  }
  // Every byte flipped back: the newer snapshot opens again.
  ASSERT_NO_FATAL_FAILURE(expect_opens(newer, 0));
}

TEST_F(SnapshotStoreTest, FlippedTrailerByte_SkipsToOlderSnapshot) {
  const SnapshotMeta older = write_snapshot(4, 1, image_bytes(40, 'o'));
  const SnapshotMeta newer = write_snapshot(9, 2, members({1, 2}, 5), {image_bytes(40, 'n')});
  const std::string name = SnapshotStore::file_name(newer.index, newer.term);
  const uint64_t size = disk_.size(name).value();
  ASSERT_GT(size, newer.size + 44);
  for (uint64_t off = newer.size; off < size; ++off) {
    SCOPED_TRACE(off);
    flip(name, off);
    ASSERT_NO_FATAL_FAILURE(expect_opens(older, 1));
    flip(name, off);
  }
}

TEST_F(SnapshotStoreTest, DamagedOnlySnapshot_IsNullopt) {
  const SnapshotMeta meta = write_snapshot(9, 2, image_bytes(40, 'n'));
  const std::string name = SnapshotStore::file_name(meta.index, meta.term);
  flip(name, 17);
  EXPECT_EQ(open_ok(1), std::nullopt);
}

TEST_F(SnapshotStoreTest, TruncatedSnapshot_IsSkipped) {
  const SnapshotMeta older = write_snapshot(4, 1, image_bytes(40, 'o'));
  const std::string name = SnapshotStore::file_name(LogIndex(9), Term(2));
  write_snapshot(9, 2, image_bytes(40, 'n'));
  const uint64_t full = disk_.size(name).value();
  for (uint64_t keep : {uint64_t{0}, uint64_t{7}, uint64_t{40}, full - 8, full - 1}) {
    SCOPED_TRACE(keep);
    write_snapshot(9, 2, image_bytes(40, 'n'));
    ASSERT_TRUE(disk_.truncate(name, keep).ok());
    ASSERT_NO_FATAL_FAILURE(expect_opens(older, 1));
  }
}

TEST_F(SnapshotStoreTest, BytesBetweenImageAndTrailer_IsSkipped) {
  const SnapshotMeta older = write_snapshot(4, 1, image_bytes(40, 'o'));
  const SnapshotMeta newer = write_snapshot(9, 2, image_bytes(40, 'n'));
  const std::string name = SnapshotStore::file_name(newer.index, newer.term);
  const std::string whole = disk_.read(name, 0, disk_.size(name).value()).value();
  const std::string padded = whole.substr(0, newer.size) + "extra" + whole.substr(newer.size);
  ASSERT_TRUE(disk_.remove(name).ok());
  ASSERT_TRUE(disk_.create(name).ok());
  ASSERT_TRUE(disk_.append(name, padded).ok());
  ASSERT_NO_FATAL_FAILURE(expect_opens(older, 1));
}

TEST_F(SnapshotStoreTest, SnapshotUnderAnotherName_IsSkipped) {
  const SnapshotMeta meta = write_snapshot(9, 2, image_bytes(40, 'n'));
  ASSERT_TRUE(disk_
                  .rename(SnapshotStore::file_name(meta.index, meta.term),
                          SnapshotStore::file_name(LogIndex(10), Term(2)))
                  .ok());
  EXPECT_EQ(open_ok(1), std::nullopt);
}

TEST_F(SnapshotStoreTest, Finish_ExpectedSizeDiffers_IsCorruptAndLeavesNoFile) {
  const std::string image = image_bytes(100, 'e');
  auto w = store_.begin(LogIndex(9), Term(2));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(store_.write(*w, image).ok());
  const SnapshotMeta expect{LogIndex(9), Term(2), members({1}), image.size() + 1, crc32c(image)};
  auto r = store_.finish(*w, members({1}), &expect);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  EXPECT_TRUE(files().empty());
  EXPECT_EQ(open_ok(0), std::nullopt);
}

TEST_F(SnapshotStoreTest, Finish_ExpectedCrcDiffers_IsCorruptAndLeavesNoFile) {
  const SnapshotMeta older = write_snapshot(4, 1, image_bytes(10, 'o'));
  const std::string image = image_bytes(100, 'e');
  auto w = store_.begin(LogIndex(9), Term(2));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(store_.write(*w, image).ok());
  const SnapshotMeta expect{LogIndex(9), Term(2), members({1}), image.size(), crc32c(image) ^ 1u};
  auto r = store_.finish(*w, members({1}), &expect);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kCorrupt);
  EXPECT_EQ(files(), std::vector<std::string>{SnapshotStore::file_name(LogIndex(4), Term(1))});
  ASSERT_NO_FATAL_FAILURE(expect_opens(older, 0));
}

TEST_F(SnapshotStoreTest, Finish_ExpectedMetaMatches_Seals) {
  const std::string image = image_bytes(100, 'e');
  auto w = store_.begin(LogIndex(9), Term(2));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(store_.write(*w, image.substr(0, 30)).ok());
  ASSERT_TRUE(store_.write(*w, image.substr(30)).ok());
  const SnapshotMeta expect{LogIndex(9), Term(2), members({1, 4}), image.size(), crc32c(image)};
  auto r = store_.finish(*w, members({1, 4}), &expect);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, expect);
  ASSERT_NO_FATAL_FAILURE(expect_opens(expect, 0));
}

TEST_F(SnapshotStoreTest, Finish_SameSnapshotTwice_ReplacesIt) {
  write_snapshot(9, 2, image_bytes(30, 'a'));
  const SnapshotMeta second = write_snapshot(9, 2, image_bytes(50, 'b'));
  EXPECT_EQ(files().size(), 1u);
  ASSERT_NO_FATAL_FAILURE(expect_opens(second, 0));
}

TEST_F(SnapshotStoreTest, Abandon_RemovesTheTmpFile) {
  auto w = store_.begin(LogIndex(9), Term(2));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(store_.write(*w, "abc").ok());
  ASSERT_EQ(files().size(), 1u);
  store_.abandon(*w);
  EXPECT_TRUE(files().empty());
}

TEST_F(SnapshotStoreTest, Open_PicksNewestIndex) {
  write_snapshot(4, 1, image_bytes(10, 'a'));
  const SnapshotMeta newest = write_snapshot(0x100, 3, image_bytes(10, 'c'));
  write_snapshot(0x20, 2, image_bytes(10, 'b'));
  ASSERT_NO_FATAL_FAILURE(expect_opens(newest, 0));
}

TEST_F(SnapshotStoreTest, Retain1_KeepsOnlyTheNewest) {
  disk_.set_options(lose_all_unsynced());
  write_snapshot(4, 1, image_bytes(10, 'a'));
  write_snapshot(8, 1, image_bytes(10, 'b'));
  const SnapshotMeta newest = write_snapshot(12, 2, image_bytes(10, 'c'));
  ASSERT_TRUE(store_.retain(1).ok());
  const std::vector<std::string> want{SnapshotStore::file_name(LogIndex(12), Term(2))};
  EXPECT_EQ(files(), want);
  disk_.crash(Duration{0});
  EXPECT_EQ(files(), want);
  ASSERT_NO_FATAL_FAILURE(expect_opens(newest, 0));
}

TEST_F(SnapshotStoreTest, Retain2_KeepsTheTwoNewestAndOtherFiles) {
  write_snapshot(4, 1, image_bytes(10, 'a'));
  write_snapshot(8, 1, image_bytes(10, 'b'));
  write_snapshot(12, 2, image_bytes(10, 'c'));
  ASSERT_TRUE(disk_.create("wal-0000000000000001.log").ok());
  ASSERT_TRUE(store_.retain(2).ok());
  EXPECT_EQ(files(), (std::vector<std::string>{SnapshotStore::file_name(LogIndex(8), Term(1)),
                                               SnapshotStore::file_name(LogIndex(12), Term(2)),
                                               "wal-0000000000000001.log"}));
  ASSERT_TRUE(store_.retain(5).ok());
  EXPECT_EQ(files().size(), 3u);
}

}  // namespace
}  // namespace rq::storage
