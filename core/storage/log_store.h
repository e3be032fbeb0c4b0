// The durable Raft log: segment files of checksummed records holding entries and hard state in
// one stream, so one sync per Ready covers both.
//
// Layout: files `wal-<16 hex digits>.log`, numbered in creation order. Each starts with a 24-byte
// header: magic, u32 version, u32 CRC32C of the header, u64 salt. Records are 8-byte aligned:
//   u32 crc32c (of the salt, then every byte after the checksum, padding included) |
//   u32 payload length | u8 kind | u8 entry type | u16 zero | u64 a | u64 b | u64 c | payload |
//   zero padding to 8 bytes
// The salt is drawn per segment from the node's random stream: client data inside an entry can
// never pass for a record of the log (which would make a torn tail look like corruption).
// kind 1 = entry (a = index, b = term), kind 2 = hard state (a = term, b = vote, c = commit),
// kind 3 = reset (a = index, b = term: a received snapshot replaced the whole log; the snapshot
// file is durable before this record is written).
// Replay applies records in order: an entry at an index already present replaces that entry and
// everything after it (a follower's truncation on conflict), the last hard state wins, a reset
// drops every entry. A new segment begins with the current hard state, so older segments are never
// needed for it; once a snapshot covers a segment's entries, compact() deletes it.
//
// Crash recovery: a record that is cut short or fails its checksum, with no valid record after
// it in the last segment, is a torn tail (an unsynced write the crash interrupted): the file is
// truncated there. Anything else (a bad record followed by good ones, a bad record in an older
// segment, a gap in indexes) is corruption of synced data and fails the open: the node stops
// rather than run on a log it cannot trust. A hard state whose term is behind the last entry's
// (or the snapshot's) term, which a tear between a Ready's entries and its hard state leaves, is
// raised to that term with no vote, and the raised hard state is written and synced before the
// open returns: currentTerm >= every held entry's term holds from the first step.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/disk.h"
#include "core/raft/message.h"

namespace rq::storage {

struct LogStoreOptions {
  uint64_t max_segment_bytes = 64 << 20;
  // Seeds the per-segment salts; 0 gives salt 0 (tests that craft records by hand).
  uint64_t salt_seed = 0;
};

struct RecoveredLog {
  raft::HardState hard_state;
  std::vector<raft::Entry> entries;  // contiguous, from the floor + 1
  uint64_t torn_bytes = 0;           // bytes cut off a torn tail
  // Set when the recovered hard state's term was behind the log's last term (a write torn
  // between a newer leader's entries and the hard state after them): the term it had.
  std::optional<Term> term_raised_from;
  size_t segments = 0;
};

class LogStore {
 public:
  // Opens (creating when empty) and recovers the log in `disk`. (floor_index, floor_term) is the
  // newest snapshot's last entry, or zeros: entries up to it are covered by the snapshot and not
  // returned. Entries after it are kept only if the log holds the snapshot's last entry itself
  // (Figure 13 rule 6) or they were written after the snapshot; otherwise (a crash lost the reset
  // record of an installed snapshot) they are discarded and a reset record is written now.
  static Result<std::unique_ptr<LogStore>> open(Disk& disk, LogStoreOptions opts, RecoveredLog* out,
                                                LogIndex floor_index = LogIndex{0}, Term floor_term = Term{0});

  // Buffers the records of one Ready. Entries may start at or before the last index (replacing
  // a suffix). Not durable until sync().
  Status append(const std::vector<raft::Entry>& ents, const std::optional<raft::HardState>& hs);
  Status sync();
  // A received snapshot at (index, term) replaced the whole log. Not durable until sync().
  Status reset(LogIndex index, Term term);
  // Deletes sealed segments whose entries are all at or below `upto` (covered by a snapshot).
  Status compact(LogIndex upto);

  uint64_t syncs() const { return syncs_; }
  size_t segment_count() const { return segments_.size(); }

 private:
  LogStore(Disk& disk, LogStoreOptions opts) : disk_(disk), opts_(opts) {}
  Status rotate();
  struct Replay;
  Status recover(RecoveredLog* out, LogIndex floor_index, Term floor_term);
  Status replay_segment(const std::string& name, bool last, Replay* rp, uint64_t* good_end, uint64_t* max_index);
  uint64_t salt_for(uint64_t seq) const;

  Disk& disk_;
  LogStoreOptions opts_;
  std::vector<std::string> segments_;  // oldest first; back() is written to
  std::vector<uint64_t> segment_max_;  // the highest entry index written to each segment
  uint64_t next_seq_ = 1;
  uint64_t current_size_ = 0;
  uint64_t current_salt_ = 0;
  raft::HardState hs_;
  uint64_t syncs_ = 0;
};

// Exposed for tests: encodings of one record, and of a segment header.
std::string encode_entry_record(const raft::Entry& e, uint64_t salt = 0);
std::string encode_hard_state_record(const raft::HardState& hs, uint64_t salt = 0);
std::string encode_segment_header(uint64_t salt = 0);
inline constexpr size_t kSegmentHeaderBytes = 24;
inline constexpr size_t kRecordHeaderBytes = 36;
inline constexpr uint64_t kMaxRecordPayload = 256ull << 20;

}  // namespace rq::storage
