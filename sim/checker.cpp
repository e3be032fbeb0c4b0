#include "sim/checker.h"

#include <algorithm>

#include "core/prng.h"
#include "sim/trace.h"

namespace rq::sim {

uint64_t entry_hash(const raft::Entry& e) { return mix64(hash_bytes(e.data) ^ static_cast<uint64_t>(e.type)); }

size_t Checker::KeyHash::operator()(const Key& k) const { return mix64(k.index * 0x9e3779b97f4a7c15ULL ^ k.term); }

Checker::Checker(std::function<const raft::Raft*(NodeId)> raft_of, std::function<Duration()> now)
    : raft_of_(std::move(raft_of)), now_(std::move(now)) {}

void Checker::fail(const std::string& reason, NodeId n, const std::string& detail) {
  if (violation_) return;
  violation_ = Violation{reason, detail, n, now_()};
}

void Checker::on_ack_departed(NodeId n, Term term, LogIndex index, Term entry_term) {
  AckedToLeader& a = acked_to_leader_[n.v];
  if (term.v > a.term || (term.v == a.term && index.v > a.index)) a = AckedToLeader{term.v, index.v, entry_term.v};
}

std::optional<Checker::ConfigAppend> Checker::config_append_of(const raft::Raft& r, const raft::Entry& e) {
  if (r.role() != raft::Role::kLeader || e.type != raft::EntryType::kConfig || e.term != r.term() || e.index.v <= 1) {
    return std::nullopt;
  }
  auto next = raft::Membership::decode(e.data);
  if (!next) return std::nullopt;
  ConfigAppend c;
  c.index = e.index;
  c.term = e.term;
  c.prev_index = r.configs().index_at(e.index - 1);
  c.prev_term = r.log().term(c.prev_index);
  c.prev_compacted = c.prev_index <= r.log().floor_index();
  c.leader_commit = r.log().committed();
  c.commit_in_term = r.log().term(r.log().committed()) == r.term();
  c.prev = r.configs().at(e.index - 1);
  c.next = std::move(*next);
  return c;
}

void Checker::on_config_appended(NodeId n, const ConfigAppend& c) {
  if (!white_box_) return;
  // Ongaro's guard: the previous config entry was committed when this one was appended, and so
  // was an entry of the leader's term. What the leader believed committed must also be what the
  // cluster applied at that index.
  bool prev_committed = c.prev_index.v == 0 || c.prev_compacted || c.prev_index <= c.leader_commit;
  if (prev_committed && c.prev_index.v > 0 && c.prev_index.v <= applied_.size() && c.prev_term &&
      applied_[c.prev_index.v - 1].term != c.prev_term->v) {
    prev_committed = false;
  }
  const bool term_committed = c.commit_in_term;
  const size_t diff = raft::voter_difference(c.prev, c.next);
  if (prev_committed && term_committed && diff <= 1) return;
  fail("membership-change-guard", n,
       "leader of term " + std::to_string(c.term.v) + " appended config entry " + std::to_string(c.index.v) +
           (prev_committed ? "" : " before the previous config (entry " + std::to_string(c.prev_index.v) + ") committed") +
           (term_committed ? "" : " before committing an entry of its term") +
           (diff <= 1 ? "" : " changing " + std::to_string(diff) + " voters at once"));
}

void Checker::on_wiped(NodeId n) {
  exposed_.erase(n.v);
  acked_to_leader_.erase(n.v);
  last_applied_[n.v] = 0;
}

void Checker::on_persisted(NodeId n, const std::vector<raft::Entry>& ents, Term prev_term) {
  on_appended(n, ents);
  if (!failed()) on_durable(n, ents, prev_term);
}

void Checker::on_appended(NodeId n, const std::vector<raft::Entry>& ents) {
  if (!white_box_) {
    // Only log matching, which every node's persisted entries must keep.
  } else if (const raft::Raft* r = raft_of_(n); r != nullptr && !ents.empty() && r->term() < ents.back().term) {
    fail("term-behind-log", n,
         "in term " + std::to_string(r->term().v) + " persisted entry " + std::to_string(ents.back().index.v) +
             " of term " + std::to_string(ents.back().term.v));
    return;
  }
  if (auto a = acked_to_leader_.find(n.v); white_box_ && a != acked_to_leader_.end() && !ents.empty()) {
    // The leader of a term only ever appends, so in that term nothing acknowledged to it is
    // ever replaced.
    const raft::Raft* r = raft_of_(n);
    const AckedToLeader& ack = a->second;
    if (r != nullptr && r->term().v == ack.term && ents.front().index.v <= ack.index) {
      const auto t = r->log().term(LogIndex(ack.index));
      if (!t || t->v != ack.entry_term) {
        fail("ack-retracted", n,
             "dropped entry " + std::to_string(ack.index) + " that it acknowledged to the leader of term " +
                 std::to_string(ack.term));
        return;
      }
    }
  }
}

void Checker::on_durable(NodeId n, const std::vector<raft::Entry>& ents, Term prev_term) {
  uint64_t prev = prev_term.v;
  for (const auto& e : ents) {
    const Key k{e.index.v, e.term.v};
    const Seen s{entry_hash(e), prev};
    auto [it, inserted] = seen_.emplace(k, s);
    if (!inserted && (it->second.hash != s.hash || it->second.prev_term != s.prev_term)) {
      fail("log-matching", n,
           "entry at index " + std::to_string(e.index.v) + " term " + std::to_string(e.term.v) +
               " differs from another node's entry with the same index and term (or its predecessor does)");
      return;
    }
    prev = e.term.v;
  }
}

void Checker::on_leader(NodeId n, Term term) {
  if (committed_config_index_ > 0 && !committed_config_.is_voter(n)) {
    const raft::Raft* rr = raft_of_(n);
    // A node whose own log does not show that config committed may lead to commit it (thesis
    // §4.2.2: a leader outside its latest config leads until that config commits, counting only
    // the new voters; it may hold the only copy).
    const bool cannot_know = rr != nullptr && !rr->membership().contains(n) &&
                             rr->log().committed().v < committed_config_index_;
    if (!cannot_know && (rr == nullptr || !rr->membership().is_voter(n) ||
                         rr->configs().current_index().v <= committed_config_index_)) {
      fail("removed-node-leader", n,
           "leads term " + std::to_string(term.v) + " though the config committed at " +
               std::to_string(committed_config_index_) + " does not make it a voter");
      return;
    }
  }
  auto [it, inserted] = leaders_.emplace(term.v, n);
  if (!inserted && it->second != n) {
    fail("election-safety", n,
         "node " + std::to_string(n.v) + " and node " + std::to_string(it->second.v) + " both leader in term " +
             std::to_string(term.v));
    return;
  }
  // Leader completeness (Raft §5.4): an entry committed in an earlier term is in the new leader's
  // log. (An entry committed in a later term need not be: a paused candidate may win an old term
  // after a newer leader committed more.)
  const raft::Raft* r = raft_of_(n);
  if (r == nullptr) return;
  for (size_t k = 0; k < applied_.size(); ++k) {
    if (applied_[k].known_committed_by >= term.v) continue;
    const LogIndex idx(k + 1);
    // Entries compacted into the leader's snapshot are checked through state digests instead.
    if (idx <= r->log().floor_index()) continue;
    auto t = r->log().term(idx);
    if (!t || t->v != applied_[k].term || entry_hash(r->log().at(idx)) != applied_[k].hash) {
      fail("leader-completeness", n,
           "leader of term " + std::to_string(term.v) + " lacks committed entry " + std::to_string(idx.v));
      return;
    }
  }
}

void Checker::on_applied(NodeId n, const raft::Entry& e, std::optional<Term> node_term) {
  uint64_t& last = last_applied_[n.v];
  if (e.index.v != last + 1) {
    fail("apply-order", n,
         "applied index " + std::to_string(e.index.v) + " after " + std::to_string(last));
    return;
  }
  last = e.index.v;
  const raft::Raft* r = raft_of_(n);
  const uint64_t term_now = node_term ? node_term->v : r != nullptr ? r->term().v : UINT64_MAX;
  const Applied a{e.term.v, entry_hash(e), term_now};
  const size_t k = e.index.v - 1;
  if (k < applied_.size()) {
    if (applied_[k].term != a.term || applied_[k].hash != a.hash) {
      fail("state-machine-safety", n,
           "applied a different entry at index " + std::to_string(e.index.v) + " (term " + std::to_string(e.term.v) +
               " vs " + std::to_string(applied_[k].term) + ")");
    }
    applied_[k].known_committed_by = std::min(applied_[k].known_committed_by, term_now);
    return;
  }
  RQ_ASSERT_EQ(k, applied_.size());
  applied_.push_back(a);
  applied_terms_.insert(e.term.v);
  if (e.type == raft::EntryType::kConfig) {
    if (auto m = raft::Membership::decode(e.data)) {
      committed_config_ = std::move(*m);
      committed_config_index_ = e.index.v;
    }
  }
}

void Checker::on_digest(NodeId n, LogIndex index, uint64_t digest) {
  auto [it, inserted] = digests_.emplace(index.v, digest);
  if (!inserted && it->second != digest) {
    fail("state-digest", n, "state at applied index " + std::to_string(index.v) + " differs from another replica's");
  }
}

void Checker::on_restored(NodeId n, LogIndex index) { last_applied_[n.v] = index.v; }

void Checker::on_departed(NodeId n, const raft::HardState& hs) {
  raft::HardState& e = exposed_[n.v];
  e.term = hs.term;
  e.vote = hs.vote;
}

void Checker::on_recovered(NodeId n, const raft::HardState& hs, const std::vector<raft::Entry>& log,
                           LogIndex floor, Term floor_term) {
  last_applied_[n.v] = floor.v;
  if (!white_box_) return;
  // Raft's currentTerm >= the term of every entry held: a node behind its own log could win an
  // election for a term between the two and append after entries of a newer term.
  const Term log_term = std::max(floor_term, log.empty() ? Term{0} : log.back().term);
  if (hs.term < log_term) {
    fail("term-behind-log", n,
         "restarted in term " + std::to_string(hs.term.v) + " holding " +
             (log.empty() || log.back().term < floor_term
                  ? "a snapshot of term " + std::to_string(floor_term.v)
                  : "entry " + std::to_string(log.back().index.v) + " of term " + std::to_string(log.back().term.v)));
    return;
  }
  if (auto a = acked_to_leader_.find(n.v); a != acked_to_leader_.end() && a->second.term == hs.term.v &&
                                           a->second.index > floor.v) {
    const AckedToLeader& ack = a->second;
    const uint64_t pos = ack.index - floor.v - 1;
    if (pos >= log.size() || log[pos].term.v != ack.entry_term) {
      fail("ack-retracted", n,
           "restarted in term " + std::to_string(ack.term) + " without entry " + std::to_string(ack.index) +
               " that it acknowledged to that term's leader");
      return;
    }
  }
  auto it = exposed_.find(n.v);
  if (it == exposed_.end()) return;
  const raft::HardState& e = it->second;
  if (hs.term < e.term) {
    fail("hard-state-regressed", n,
         "restarted at term " + std::to_string(hs.term.v) + " after sending messages at term " +
             std::to_string(e.term.v));
  } else if (hs.term == e.term && e.vote.valid() && hs.vote != e.vote) {
    fail("hard-state-regressed", n,
         "restarted in term " + std::to_string(hs.term.v) + " with vote " + std::to_string(hs.vote.v) +
             " after voting for " + std::to_string(e.vote.v));
  }
}

void Checker::on_crash(NodeId n) { last_applied_[n.v] = 0; }

void Checker::on_acknowledged(LogIndex index, Term term, const std::string& data) {
  const uint64_t h = entry_hash(raft::Entry{term, index, raft::EntryType::kNormal, data});
  const size_t k = index.v - 1;
  if (k >= applied_.size() || applied_[k].term != term.v || applied_[k].hash != h) {
    fail("lost-acknowledged-write", NodeId{}, "acknowledged entry " + std::to_string(index.v) + " was never applied");
    return;
  }
  acked_.push_back(Acked{index.v, term.v, h});
}

void Checker::on_acknowledged_at(LogIndex index, Term term) {
  const size_t k = index.v - 1;
  if (index.v == 0 || k >= applied_.size() || applied_[k].term != term.v) {
    fail("lost-acknowledged-write", NodeId{}, "acknowledged entry " + std::to_string(index.v) + " was never applied");
    return;
  }
  acked_.push_back(Acked{index.v, term.v, applied_[k].hash});
}

void Checker::check_acknowledged_present(NodeId n) {
  const raft::Raft* r = raft_of_(n);
  if (r == nullptr) return;
  for (const auto& a : acked_) {
    const LogIndex idx(a.index);
    if (idx <= r->log().floor_index()) continue;  // in the snapshot; digests cover it
    auto t = r->log().term(idx);
    if (!t || t->v != a.term || entry_hash(r->log().at(idx)) != a.hash) {
      fail("lost-acknowledged-write", n, "acknowledged entry " + std::to_string(a.index) + " missing at the end");
      return;
    }
  }
}

}  // namespace rq::sim
