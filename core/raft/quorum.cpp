#include "core/raft/quorum.h"

#include <algorithm>
#include <functional>

namespace rq::raft {

LogIndex majority_index(const std::vector<NodeId>& voters, const std::map<NodeId, LogIndex>& acked) {
  if (voters.empty()) return LogIndex{0};
  std::vector<LogIndex> idx;
  idx.reserve(voters.size());
  for (NodeId v : voters) {
    auto it = acked.find(v);
    idx.push_back(it == acked.end() ? LogIndex{0} : it->second);
  }
  std::sort(idx.begin(), idx.end(), std::greater<>());
  // With the acks sorted high to low, the q-th highest (q = majority) is held by q voters.
  return idx[majority_of(voters.size()) - 1];
}

VoteResult tally_votes(const std::vector<NodeId>& voters, const std::map<NodeId, bool>& votes) {
  size_t granted = 0, rejected = 0;
  for (NodeId v : voters) {
    auto it = votes.find(v);
    if (it == votes.end()) continue;
    (it->second ? granted : rejected)++;
  }
  const size_t q = majority_of(voters.size());
  if (granted >= q) return VoteResult::kWon;
  if (rejected + q > voters.size()) return VoteResult::kLost;  // too many no's to ever reach q
  return VoteResult::kPending;
}

}  // namespace rq::raft
