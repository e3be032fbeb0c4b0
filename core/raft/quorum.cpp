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
  return majority_index(idx);
}

LogIndex majority_index(std::vector<LogIndex>& acks) {
  if (acks.empty()) return LogIndex{0};
  // The q-th highest ack (q = majority) is held by q voters.
  const size_t k = majority_of(acks.size()) - 1;
  std::nth_element(acks.begin(), acks.begin() + static_cast<std::ptrdiff_t>(k), acks.end(), std::greater<>());
  return acks[k];
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
