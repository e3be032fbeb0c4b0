// Cluster membership: who votes, who only listens (read replicas), and where each lives.
// Changes are single-server (Raft thesis §4.1, with Ongaro's 2015 correction): each config entry
// adds, removes, promotes or re-addresses one node, and takes effect on a node as soon as it is in
// that node's log, committed or not.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/types.h"

namespace rq::raft {

struct Member {
  NodeId id;
  std::string address;  // the node's Raft address (opaque to Raft; the transport resolves it)
  bool voter = true;
  // A non-voter that becomes a voter once it has caught up with the config that added it
  // (thesis §4.2.1), so every voter knows it is a member before anyone counts on its vote.
  bool staged = false;
  // Which life of this node id the entry means: a random number drawn when the node's data
  // directory was created (0: any). A node wiped and restarted under the same id is a new
  // incarnation and is not a member until a config names it; otherwise it could vote with the
  // amnesia of an empty disk in place of its old self.
  uint64_t incarnation = 0;
  // rqlite's node id (a string; Raft's id is its hash on rqlited). Opaque to Raft; may be empty.
  std::string name{};
  friend bool operator==(const Member&, const Member&) = default;
};

// The most members an encoding holds (decode() refuses more).
inline constexpr size_t kMaxMembers = 1024;

class Membership {
 public:
  Membership() = default;
  explicit Membership(std::vector<Member> members);

  const std::vector<Member>& members() const { return members_; }  // sorted by id
  const Member* find(NodeId id) const;
  bool contains(NodeId id) const { return find(id) != nullptr; }
  bool is_voter(NodeId id) const;
  // Whether this incarnation of `id` is the member the config names.
  bool is_self(NodeId id, uint64_t incarnation) const;
  std::vector<NodeId> voters() const;
  std::vector<NodeId> learners() const;
  bool empty() const { return members_.empty(); }

  std::string encode() const;
  static Result<Membership> decode(std::string_view bytes);

  friend bool operator==(const Membership&, const Membership&) = default;

 private:
  std::vector<Member> members_;
};

enum class ConfChangeType : uint8_t {
  kAddVoter = 0,    // new voter (staged: a non-voter until caught up), or re-address / promote
  kAddLearner = 1,  // new non-voter (read replica), or re-address one
  kRemove = 2,
  kPromoteStaged = 3,  // the leader finishing a staged promotion
};

struct ConfChange {
  ConfChangeType type = ConfChangeType::kAddVoter;
  NodeId id;
  std::string address;
  uint64_t incarnation = 0;
  std::string name{};  // adds and re-addresses: the member's name ("" keeps the one it has)

  std::string encode() const;
  static Result<ConfChange> decode(std::string_view bytes);
  friend bool operator==(const ConfChange&, const ConfChange&) = default;
};

// The membership after `cc`; kInvalid when it would change nothing (a repeat) or makes no sense
// (removing a stranger, demoting a voter to learner, emptying the voters).
Result<Membership> apply_change(const Membership& m, const ConfChange& cc);

// Voters that differ between a and b (added, removed or changed kind).
size_t voter_difference(const Membership& a, const Membership& b);

// rqlite's join, decided against the current membership: a known id at the same address and of
// the same kind is already in (idempotent); a known id at a new address replaces its entry; a
// voter cannot rejoin as a non-voter; a known id with another incarnation (its disk was lost), or
// another id at the joiner's address (the address was reused), is removed first, and the joiner
// joins on a later attempt. A `name` differing from the member's renames it. Returns the change to propose, or nullopt with
// `*already` set when nothing needs to change, or an error.
Result<std::optional<ConfChange>> decide_join(const Membership& m, NodeId id, const std::string& address, bool voter,
                                              uint64_t incarnation, bool* already, const std::string& name = {});
// rqlite's remove: idempotent for a node that is not a member.
std::optional<ConfChange> decide_remove(const Membership& m, NodeId id);

}  // namespace rq::raft
