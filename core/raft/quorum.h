// Majority arithmetic over a sorted set of voters. (etcd-io/raft quorum/majority.go)
#pragma once

#include <map>
#include <vector>

#include "core/types.h"

namespace rq::raft {

enum class VoteResult { kPending, kWon, kLost };

// The largest index that a majority of `voters` has, given each voter's acknowledged index.
// Voters missing from `acked` count as 0.
LogIndex majority_index(const std::vector<NodeId>& voters, const std::map<NodeId, LogIndex>& acked);
// The same over the acknowledged indexes of all voters, one per voter (reordered in place).
LogIndex majority_index(std::vector<LogIndex>& acks);

// Tally of granted (true) and rejected (false) votes among `voters`.
VoteResult tally_votes(const std::vector<NodeId>& voters, const std::map<NodeId, bool>& votes);

inline size_t majority_of(size_t n) { return n / 2 + 1; }

}  // namespace rq::raft
