// Log-store recovery (core/storage/log_store.h) from arbitrary segment bytes: what a node reads
// from its data directory at start. The input, after a valid segment header, is the segment's
// records; the selector byte says
//   bit 0  fix every record's checksum (records then parse and replay: gaps, conflicts, terms),
//   bit 1  split the records over two segments (the next two bytes say where),
//   bit 2  recover above a snapshot (the next byte is its index, the one after its term).
// A log that opens must obey the store's promises, and a second open must find the same log;
// after an append (which starts a new segment) a third open must find that entry too.
#include <algorithm>
#include <string>
#include <vector>

#include "core/prng.h"
#include "core/storage/crc32c.h"
#include "core/storage/log_store.h"
#include "sim/sim_disk.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace rq;

// Sets each whole record's CRC32C (salt 0) as log_store.h lays records out.
void fix_checksums(std::string& seg) {
  const std::string salt(8, '\0');
  size_t p = storage::kSegmentHeaderBytes;
  while (seg.size() - p >= storage::kRecordHeaderBytes) {
    const uint64_t len = fuzz::get_le(seg, p + 4, 4);
    if (len > storage::kMaxRecordPayload) return;
    const uint64_t total = (storage::kRecordHeaderBytes + len + 7) & ~uint64_t{7};
    if (seg.size() - p < total) return;
    const uint32_t crc =
        crc32c_extend(crc32c(salt), std::string_view(seg).substr(p + 4, total - 4));
    fuzz::put_le32(seg, p, crc);
    p += total;
  }
}

struct Opened {
  Result<std::unique_ptr<storage::LogStore>> store = make_error(ErrorCode::kIo, "not opened");
  storage::RecoveredLog log;
};

Opened open(Disk& disk, LogIndex floor_index, Term floor_term) {
  Opened o;
  storage::LogStoreOptions opts;
  opts.max_segment_bytes = 1;  // every append after recovery starts a new segment
  o.store = storage::LogStore::open(disk, opts, &o.log, floor_index, floor_term);
  return o;
}

// log_store.h's promises about a recovered log.
void check(const storage::RecoveredLog& log, LogIndex floor_index, Term floor_term) {
  Term prev = floor_term;
  for (size_t k = 0; k < log.entries.size(); ++k) {
    RQ_ASSERT_EQ(log.entries[k].index.v, floor_index.v + 1 + k);
    RQ_ASSERT_GE(log.entries[k].term, prev);
    prev = log.entries[k].term;
  }
  const uint64_t last = log.entries.empty() ? floor_index.v : log.entries.back().index.v;
  RQ_ASSERT_LE(log.hard_state.commit.v, last);
  RQ_ASSERT_GE(log.hard_state.term, prev);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [selector, rest] = fuzz::select(data, size);
  size_t split = rest.size();
  if ((selector & 2) != 0 && rest.size() >= 2) {
    split =
        (static_cast<uint8_t>(rest[0]) | static_cast<size_t>(static_cast<uint8_t>(rest[1])) << 8);
    rest.remove_prefix(2);
    split = std::min(split, rest.size());
  }
  LogIndex floor_index{0};
  Term floor_term{0};
  if ((selector & 4) != 0 && rest.size() >= 2) {
    floor_index = LogIndex(static_cast<uint8_t>(rest[0]));
    floor_term = Term(static_cast<uint8_t>(rest[1]));
    rest.remove_prefix(2);
    split = std::min(split, rest.size());
  }
  std::vector<std::string> segments = {std::string(rest.substr(0, split))};
  if (split < rest.size()) segments.push_back(std::string(rest.substr(split)));

  // A crash loses every write not synced: what recovery repaired must have been made durable.
  sim::SimDiskOptions crash_loses_all;
  crash_loses_all.lose_all_ppm = 1'000'000;
  crash_loses_all.torn_ppm = 0;
  sim::SimDisk disk(Prng(1), crash_loses_all);
  for (size_t k = 0; k < segments.size(); ++k) {
    std::string seg = storage::encode_segment_header(0) + segments[k];
    if ((selector & 1) != 0) fix_checksums(seg);
    const std::string name = "wal-000000000000000" + std::to_string(k + 1) + ".log";
    RQ_ASSERT(disk.create(name).ok());
    RQ_ASSERT(disk.append(name, seg).ok());
    RQ_ASSERT(disk.sync(name).ok());
  }
  RQ_ASSERT(disk.sync_dir().ok());

  Opened first = open(disk, floor_index, floor_term);
  if (!first.store.ok()) {
    RQ_ASSERT(first.store.error().code == ErrorCode::kCorrupt);
    return 0;
  }
  check(first.log, floor_index, floor_term);
  first.store = make_error(ErrorCode::kIo, "closed");
  disk.crash(Duration{0});

  // Recovery repaired what it had to (a torn tail, a lost reset, a term behind its entries) and
  // made the repair durable: after a power loss the same log opens again, with nothing left to
  // repair.
  Opened second = open(disk, floor_index, floor_term);
  RQ_ASSERT(second.store.ok());
  RQ_ASSERT(second.log.entries == first.log.entries);
  RQ_ASSERT(second.log.hard_state == first.log.hard_state);
  RQ_ASSERT_EQ(second.log.torn_bytes, 0u);
  RQ_ASSERT(!second.log.term_raised_from.has_value());

  // The log goes on from there.
  const LogIndex next =
      first.log.entries.empty() ? floor_index + 1 : first.log.entries.back().index + 1;
  if (next.v == 0) return 0;  // the input's last index is 2^64 - 1
  raft::HardState hs = first.log.hard_state;
  const raft::Entry e{hs.term, next, raft::EntryType::kNormal, "after recovery"};
  hs.commit = next;
  RQ_ASSERT((*second.store)->append({e}, hs).ok());
  RQ_ASSERT((*second.store)->sync().ok());
  second.store = make_error(ErrorCode::kIo, "closed");
  disk.crash(Duration{0});

  Opened third = open(disk, floor_index, floor_term);
  RQ_ASSERT(third.store.ok());
  std::vector<raft::Entry> want = first.log.entries;
  want.push_back(e);
  RQ_ASSERT(third.log.entries == want);
  RQ_ASSERT(third.log.hard_state == hs);
  return 0;
}
