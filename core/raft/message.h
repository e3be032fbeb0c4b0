// Raft's data: log entries, the hard state that must survive a crash, and the messages peers
// exchange. Plain values; the wire codec (core/wire) turns them into Cap'n Proto bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/types.h"

namespace rq::raft {

enum class EntryType : uint8_t {
  kNormal = 0,  // a client command, opaque to Raft
  kNoop = 1,    // appended by every new leader (Raft §8, thesis §6.4)
};

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

enum class MessageType : uint8_t {
  kPreVote = 0,
  kPreVoteResp = 1,
  kVote = 2,
  kVoteResp = 3,
  kApp = 4,
  kAppResp = 5,
  kHeartbeat = 6,
  kHeartbeatResp = 7,
};
inline constexpr uint8_t kMessageTypeCount = 8;

const char* to_string(MessageType t);

struct Message {
  MessageType type = MessageType::kApp;
  NodeId from;
  NodeId to;
  Term term;
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

  friend bool operator==(const Message&, const Message&) = default;
};

}  // namespace rq::raft
