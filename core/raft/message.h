// Raft's data: log entries, the hard state that must survive a crash, and the messages peers
// exchange. Plain values; the wire codec (core/wire) turns them into Cap'n Proto bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/raft/membership.h"
#include "core/types.h"

namespace rq::raft {

enum class EntryType : uint8_t {
  kNormal = 0,  // a client command, opaque to Raft
  kNoop = 1,    // appended by every new leader (Raft §8, thesis §6.4)
  kConfig = 2,  // a ConfChange (membership.h); in effect once appended
};
inline constexpr uint8_t kEntryTypeCount = 3;

struct Entry {
  Term term;
  LogIndex index;
  EntryType type = EntryType::kNormal;
  std::string data;

  friend bool operator==(const Entry&, const Entry&) = default;
};

// What Raft must persist before it speaks (Figure 2 "Persistent state on all servers"). `commit` is
// kept too, so a restarted node knows how far it may re-apply without waiting for a leader.
struct HardState {
  Term term;
  NodeId vote;
  LogIndex commit;

  friend bool operator==(const HardState&, const HardState&) = default;
};

// A snapshot of the state machine as of `index` (whose entry had `term`), with the membership in
// effect there. The image itself (size bytes, CRC32C crc) lives in a file; Raft only moves it in
// chunks.
struct SnapshotMeta {
  LogIndex index;
  Term term;
  Membership membership;
  uint64_t size = 0;
  uint32_t crc = 0;
  friend bool operator==(const SnapshotMeta&, const SnapshotMeta&) = default;
};

enum class MessageType : uint8_t {
  kPreVote = 0,
  kPreVoteResp = 1,
  kVote = 2,
  kVoteResp = 3,
  kApp = 4,
  kAppResp = 5,
  kHeartbeat = 6,
  kHeartbeatResp = 7,
  kSnap = 8,        // one chunk of an InstallSnapshot (Figure 13)
  kSnapResp = 9,    // bytes of the snapshot received so far
  kTimeoutNow = 10, // leadership transfer: campaign now (thesis §3.10)
};
inline constexpr uint8_t kMessageTypeCount = 11;

const char* to_string(MessageType t);

struct Message {
  MessageType type = MessageType::kApp;
  NodeId from;
  NodeId to;
  Term term;
  // The sender's incarnation (membership.h): messages from an earlier life of a node id (before
  // its disk was wiped) are dropped, or a leader could believe the new one holds what the old one
  // acknowledged.
  uint64_t from_incarnation = 0;
  // kApp: term of the entry at `index` (prevLogTerm). kVote/kPreVote: candidate's last log term.
  // kAppResp rejection: term of the follower's entry at `reject_hint` (fast backtracking).
  Term log_term;
  // kApp: prevLogIndex. kVote/kPreVote: candidate's last index. kAppResp: last index matched, or
  // on rejection the prevLogIndex that was refused.
  LogIndex index;
  std::vector<Entry> entries;
  LogIndex commit;
  bool reject = false;
  LogIndex reject_hint;
  // kVote/kPreVote: the campaign follows a leadership transfer, so leader stickiness is waived.
  bool transfer = false;
  // kSnap: which snapshot, where this chunk starts, its bytes (filled in by the driver, which
  // reads the file), and how many bytes to send. kSnapResp: `offset` is the next byte wanted.
  SnapshotMeta snapshot;
  uint64_t offset = 0;
  uint64_t chunk_len = 0;
  std::string chunk;
  // kHeartbeat: the leader's heartbeat round; kHeartbeatResp echoes it. A majority answering a
  // round confirms leadership as of when it was sent (ReadIndex, and the leader's lease).
  uint64_t round = 0;

  friend bool operator==(const Message&, const Message&) = default;
};

}  // namespace rq::raft
