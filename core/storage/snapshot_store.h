// Snapshot files: the state machine's image at one log index, with the membership in effect
// there. Layout of `snap-<index 16 hex>-<term 16 hex>.snap`:
//   image bytes | trailer: "RQSNAP01" | u64 index | u64 term | u64 image size | u32 image CRC32C |
//   u32 membership length | membership bytes | u32 CRC32C of the trailer so far | u32 trailer length
// The trailer comes last so the image can be streamed in without knowing its size. A snapshot
// is written as `<name>.tmp`, synced, renamed into place and the directory synced: a crash leaves
// either the whole file or a `.tmp` that the next open removes. Opening picks the newest
// snapshot whose trailer and image checksums verify, skipping damaged ones.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/disk.h"
#include "core/raft/message.h"

namespace rq::storage {

class SnapshotStore {
 public:
  explicit SnapshotStore(Disk& disk) : disk_(disk) {}

  // A snapshot being written.
  struct Writer {
    LogIndex index;
    Term term;
    std::string tmp_name;
    uint64_t size = 0;
    uint32_t crc = 0;
  };

  // Removes leftover `.tmp` files and returns the newest valid snapshot (nullopt if none).
  // `skipped` counts snapshots that failed verification.
  Result<std::optional<raft::SnapshotMeta>> open(size_t* skipped);

  Result<Writer> begin(LogIndex index, Term term);
  Status write(Writer& w, std::string_view bytes);
  // Seals the snapshot. With `expect` (a received snapshot), its size and CRC must match what was
  // written, or the file is discarded and kCorrupt returned.
  Result<raft::SnapshotMeta> finish(Writer& w, const raft::Membership& membership,
                                    const raft::SnapshotMeta* expect = nullptr);
  void abandon(Writer& w);

  // Bytes [offset, offset + len) of a snapshot's image.
  Result<std::string> read(const raft::SnapshotMeta& meta, uint64_t offset, uint64_t len);
  // Keeps the newest `keep` snapshots, removes the rest.
  Status retain(size_t keep);

  static std::string file_name(LogIndex index, Term term);

 private:
  Result<raft::SnapshotMeta> verify(const std::string& name);
  std::vector<std::pair<uint64_t, std::string>> snapshot_files(const std::vector<std::string>& names) const;

  Disk& disk_;
};

}  // namespace rq::storage
