#include "core/raft/membership.h"

#include <algorithm>

namespace rq::raft {

namespace {

void put_u64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_str(std::string& s, std::string_view v) {
  put_u64(s, v.size());
  s.append(v);
}

class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool u64(uint64_t* v) {
    if (b_.size() - p_ < 8) return false;
    *v = 0;
    for (int i = 7; i >= 0; --i) *v = (*v << 8) | static_cast<uint8_t>(b_[p_ + static_cast<size_t>(i)]);
    p_ += 8;
    return true;
  }
  bool str(std::string* s) {
    uint64_t n;
    if (!u64(&n) || n > b_.size() - p_) return false;
    s->assign(b_.substr(p_, n));
    p_ += n;
    return true;
  }
  bool done() const { return p_ == b_.size(); }

 private:
  std::string_view b_;
  size_t p_ = 0;
};

}  // namespace

Membership::Membership(std::vector<Member> members) : members_(std::move(members)) {
  std::sort(members_.begin(), members_.end(), [](const Member& a, const Member& b) { return a.id < b.id; });
}

const Member* Membership::find(NodeId id) const {
  auto it = std::lower_bound(members_.begin(), members_.end(), id,
                             [](const Member& m, NodeId v) { return m.id < v; });
  return it != members_.end() && it->id == id ? &*it : nullptr;
}

bool Membership::is_voter(NodeId id) const {
  const Member* m = find(id);
  return m != nullptr && m->voter;
}

bool Membership::is_self(NodeId id, uint64_t incarnation) const {
  const Member* m = find(id);
  return m != nullptr && (m->incarnation == 0 || incarnation == 0 || m->incarnation == incarnation);
}

std::vector<NodeId> Membership::voters() const {
  std::vector<NodeId> out;
  for (const auto& m : members_) {
    if (m.voter) out.push_back(m.id);
  }
  return out;
}

std::vector<NodeId> Membership::learners() const {
  std::vector<NodeId> out;
  for (const auto& m : members_) {
    if (!m.voter) out.push_back(m.id);
  }
  return out;
}

std::string Membership::encode() const {
  std::string s;
  put_u64(s, members_.size());
  for (const auto& m : members_) {
    put_u64(s, m.id.v);
    put_u64(s, (m.voter ? 1 : 0) | (m.staged ? 2 : 0) | (m.name.empty() ? 0 : 4));
    put_u64(s, m.incarnation);
    put_str(s, m.address);
    if (!m.name.empty()) put_str(s, m.name);
  }
  return s;
}

Result<Membership> Membership::decode(std::string_view bytes) {
  Reader r(bytes);
  uint64_t n;
  if (!r.u64(&n) || n > kMaxMembers) return make_error(ErrorCode::kInvalid, "membership: bad member count");
  std::vector<Member> ms;
  for (uint64_t k = 0; k < n; ++k) {
    Member m;
    uint64_t id, flags;
    if (!r.u64(&id) || !r.u64(&flags) || !r.u64(&m.incarnation) || !r.str(&m.address) || id == 0 || flags > 7 ||
        (flags & 3) == 3 || ((flags & 4) != 0 && (!r.str(&m.name) || m.name.empty()))) {
      return make_error(ErrorCode::kInvalid, "membership: bad member");
    }
    m.id = NodeId(id);
    m.voter = (flags & 1) != 0;
    m.staged = (flags & 2) != 0;
    ms.push_back(std::move(m));
  }
  if (!r.done()) return make_error(ErrorCode::kInvalid, "membership: trailing bytes");
  // encode() writes members in id order: anything else is not an encoding of ours.
  for (size_t k = 1; k < ms.size(); ++k) {
    if (ms[k].id <= ms[k - 1].id) return make_error(ErrorCode::kInvalid, "membership: ids not strictly increasing");
  }
  return Membership(std::move(ms));
}

std::string ConfChange::encode() const {
  std::string s;
  put_u64(s, static_cast<uint64_t>(type));
  put_u64(s, id.v);
  put_u64(s, incarnation);
  put_str(s, address);
  if (!name.empty()) put_str(s, name);  // optional: an encoding without it has no name
  return s;
}

Result<ConfChange> ConfChange::decode(std::string_view bytes) {
  Reader r(bytes);
  uint64_t type, id;
  ConfChange cc;
  if (!r.u64(&type) || !r.u64(&id) || !r.u64(&cc.incarnation) || !r.str(&cc.address) ||
      (!r.done() && (!r.str(&cc.name) || cc.name.empty() || !r.done())) ||
      type > static_cast<uint64_t>(ConfChangeType::kPromoteStaged) || id == 0) {
    return make_error(ErrorCode::kInvalid, "conf change: malformed");
  }
  cc.type = static_cast<ConfChangeType>(type);
  cc.id = NodeId(id);
  return cc;
}

Result<Membership> apply_change(const Membership& m, const ConfChange& cc) {
  std::vector<Member> ms = m.members();
  auto it = std::find_if(ms.begin(), ms.end(), [&](const Member& x) { return x.id == cc.id; });
  switch (cc.type) {
    case ConfChangeType::kAddVoter:
    case ConfChangeType::kAddLearner: {
      const bool voter = cc.type == ConfChangeType::kAddVoter;
      if (it == ms.end()) {
        // A new voter starts as a staged non-voter; the leader promotes it once it caught up.
        ms.push_back(Member{cc.id, cc.address, false, voter, cc.incarnation, cc.name});
        break;
      }
      if (it->incarnation != cc.incarnation && it->incarnation != 0 && cc.incarnation != 0) {
        return make_error(ErrorCode::kInvalid, "another incarnation of this node is a member: remove it first");
      }
      if (it->voter && !voter) return make_error(ErrorCode::kInvalid, "a voter cannot be demoted to a non-voter");
      const bool wants_promotion = voter && !it->voter && !it->staged;
      const bool renamed = !cc.name.empty() && cc.name != it->name;
      if (!wants_promotion && it->address == cc.address && !renamed) return make_error(ErrorCode::kInvalid, "no change");
      it->address = cc.address;
      if (renamed) it->name = cc.name;
      if (it->incarnation == 0) it->incarnation = cc.incarnation;
      if (wants_promotion) it->staged = true;
      break;
    }
    case ConfChangeType::kPromoteStaged:
      if (it == ms.end() || !it->staged) return make_error(ErrorCode::kInvalid, "not a staged non-voter");
      it->staged = false;
      it->voter = true;
      break;
    case ConfChangeType::kRemove:
      if (it == ms.end()) return make_error(ErrorCode::kInvalid, "not a member");
      ms.erase(it);
      break;
  }
  Membership out(std::move(ms));
  if (out.voters().empty()) return make_error(ErrorCode::kInvalid, "no voters would remain");
  return out;
}

size_t voter_difference(const Membership& a, const Membership& b) {
  size_t d = 0;
  for (const auto& m : a.members()) {
    if (m.voter && !b.is_voter(m.id)) ++d;
  }
  for (const auto& m : b.members()) {
    if (m.voter && !a.is_voter(m.id)) ++d;
  }
  return d;
}

Result<std::optional<ConfChange>> decide_join(const Membership& m, NodeId id, const std::string& address, bool voter,
                                              uint64_t incarnation, bool* already, const std::string& name) {
  *already = false;
  if (!id.valid()) return make_error(ErrorCode::kInvalid, "join: node id missing");
  const Member* cur = m.find(id);
  if (cur != nullptr && cur->incarnation != 0 && incarnation != 0 && cur->incarnation != incarnation) {
    // The node lost its disk: its old self goes first (its votes must not count twice).
    return std::optional<ConfChange>(ConfChange{ConfChangeType::kRemove, id, {}, 0});
  }
  if (cur != nullptr && cur->address == address && (cur->voter || cur->staged) == voter &&
      (name.empty() || name == cur->name)) {
    *already = true;
    return std::optional<ConfChange>();
  }
  if (cur != nullptr && cur->voter && !voter) {
    return make_error(ErrorCode::kInvalid, "join: node " + std::to_string(id.v) + " is a voter and cannot rejoin as a non-voter");
  }
  // rqlite's join: a member of another id at this address is gone (the address was reused, e.g. a
  // container replaced under a new id): it is removed first, and the joiner added on a later try.
  for (const Member& other : m.members()) {
    if (other.id != id && !address.empty() && other.address == address) {
      return std::optional<ConfChange>(ConfChange{ConfChangeType::kRemove, other.id, {}, 0});
    }
  }
  return std::optional<ConfChange>(
      ConfChange{voter ? ConfChangeType::kAddVoter : ConfChangeType::kAddLearner, id, address, incarnation, name});
}

std::optional<ConfChange> decide_remove(const Membership& m, NodeId id) {
  if (!m.contains(id)) return std::nullopt;
  return ConfChange{ConfChangeType::kRemove, id, {}, 0};
}

}  // namespace rq::raft
