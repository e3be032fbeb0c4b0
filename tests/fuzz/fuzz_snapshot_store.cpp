// Snapshot files (core/storage/snapshot_store.h) from arbitrary bytes: what a node verifies at
// start to pick its newest valid snapshot. The input is one whole snapshot file; with bit 0 of
// the selector byte set, the trailer's checksum, the image's checksum and the file's name are
// made to agree with the bytes (so the fuzzer gets past them to the trailer's fields and the
// membership). A second, valid snapshot at index 1 sits beside it: a damaged file is skipped and
// the older one found. A snapshot that opens must read back whole, match its checksum, and carry
// a membership that can be written again.
#include <string>

#include "core/prng.h"
#include "core/storage/crc32c.h"
#include "core/storage/snapshot_store.h"
#include "sim/sim_disk.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using namespace rq;

// The file's name for an input whose checksums are not fixed: a plausible one.
constexpr const char* kDefaultName = "snap-0000000000000002-0000000000000001.snap";

// Sets the image CRC and the trailer CRC (snapshot_store.h's layout) and returns the name the
// trailer's index and term give the file.
std::string fix(std::string& file) {
  if (file.size() < 8) return kDefaultName;
  const uint64_t tlen = fuzz::get_le(file, file.size() - 4, 4);
  if (tlen < 40 || tlen + 8 > file.size()) return kDefaultName;
  const size_t at = file.size() - 8 - tlen;
  fuzz::put_le32(file, at + 32, crc32c(std::string_view(file).substr(0, at)));
  fuzz::put_le32(file, file.size() - 8, crc32c(std::string_view(file).substr(at, tlen)));
  return storage::SnapshotStore::file_name(LogIndex(fuzz::get_le(file, at + 8, 8)),
                                           Term(fuzz::get_le(file, at + 16, 8)));
}

// A valid snapshot at index 1, term 1, written through the store.
void write_older(storage::SnapshotStore& store) {
  auto w = store.begin(LogIndex(1), Term(1));
  RQ_ASSERT(w.ok());
  RQ_ASSERT(store.write(*w, "older image").ok());
  const raft::Membership m({raft::Member{NodeId(1), "a:1", true, false, 0}});
  RQ_ASSERT(store.finish(*w, m).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [selector, rest] = fuzz::select(data, size);
  std::string file(rest);
  const std::string name = (selector & 1) != 0 ? fix(file) : kDefaultName;

  sim::SimDisk disk(Prng(1), sim::SimDiskOptions{});
  storage::SnapshotStore store(disk);
  write_older(store);
  if (disk.size(name).ok()) return 0;  // the input names the older snapshot's file
  RQ_ASSERT(disk.create(name).ok());
  RQ_ASSERT(disk.append(name, file).ok());
  RQ_ASSERT(disk.sync(name).ok());
  RQ_ASSERT(disk.create(name + ".tmp").ok());  // a write a crash interrupted

  size_t skipped = 0;
  auto meta = store.open(&skipped);
  RQ_ASSERT(meta.ok());
  RQ_ASSERT(meta->has_value());
  RQ_ASSERT(!disk.size(name + ".tmp").ok());
  const raft::SnapshotMeta& m = **meta;
  if (m.index == LogIndex(1) && m.term == Term(1)) {
    RQ_ASSERT(skipped <= 1);
  } else {
    RQ_ASSERT_EQ(skipped, 0u);
  }
  auto image = store.read(m, 0, m.size);
  RQ_ASSERT(image.ok());
  RQ_ASSERT_EQ(image->size(), m.size);
  RQ_ASSERT_EQ(crc32c(*image), m.crc);
  auto members = raft::Membership::decode(m.membership.encode());
  RQ_ASSERT(members.ok());
  RQ_ASSERT(*members == m.membership);
  return 0;
}
