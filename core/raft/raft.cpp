#include "core/raft/raft.h"

#include <algorithm>
#include <utility>

#include "core/raft/quorum.h"

namespace rq::raft {

const char* to_string(Role r) {
  switch (r) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "?";
}

const char* to_string(MessageType t) {
  switch (t) {
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResp:
      return "PreVoteResp";
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResp:
      return "VoteResp";
    case MessageType::kApp:
      return "App";
    case MessageType::kAppResp:
      return "AppResp";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kHeartbeatResp:
      return "HeartbeatResp";
  }
  return "?";
}

Raft::Raft(RaftConfig config, Prng prng, HardState hs, std::vector<Entry> log, LogIndex applied)
    : cfg_(std::move(config)),
      prng_(prng),
      term_(hs.term),
      vote_(hs.vote),
      log_(std::move(log), LogIndex{0}, LogIndex{0}) {
  RQ_ASSERT(cfg_.id.valid());
  RQ_ASSERT_GE(cfg_.election_ticks, 1);
  RQ_ASSERT_GE(cfg_.heartbeat_ticks, 1);
  RQ_ASSERT_LT(cfg_.heartbeat_ticks, cfg_.election_ticks);
  std::sort(cfg_.voters.begin(), cfg_.voters.end());
  // A commit index from disk never exceeds what the disk holds: the hard state record is written
  // after the entries it covers, in one stream.
  RQ_ASSERT_LE(hs.commit, log_.last_index());
  log_.commit_to(hs.commit);
  RQ_ASSERT_LE(applied, log_.committed());
  log_.applied_to(applied);
  prev_hs_ = hard_state();
  become_follower(term_, kNoNode);
  prev_ss_ = SoftState{lead_, role_};
}

bool Raft::is_voter(NodeId id) const {
  return std::binary_search(cfg_.voters.begin(), cfg_.voters.end(), id);
}

bool Raft::promotable() const { return is_voter(cfg_.id); }

// ---- transitions -------------------------------------------------------------------------

void Raft::reset(Term term) {
  if (term != term_) {
    term_ = term;
    vote_ = kNoNode;
  }
  lead_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  reset_randomized_election_timeout();
  votes_.clear();
  prs_.clear();
  uncommitted_bytes_ = 0;
}

void Raft::reset_randomized_election_timeout() {
  // Raft §5.2: randomized timeouts make split votes rare.
  randomized_election_timeout_ =
      cfg_.election_ticks + static_cast<int>(prng_.below(static_cast<uint64_t>(cfg_.election_ticks)));
}

void Raft::become_follower(Term term, NodeId lead) {
  reset(term);
  lead_ = lead;
  role_ = Role::kFollower;
}

void Raft::become_pre_candidate() {
  RQ_ASSERT(role_ != Role::kLeader);
  // Pre-vote changes neither term nor vote (thesis §9.6).
  role_ = Role::kPreCandidate;
  lead_ = kNoNode;
  votes_.clear();
}

void Raft::become_candidate() {
  RQ_ASSERT(role_ != Role::kLeader);
  reset(term_ + 1);
  vote_ = cfg_.id;
  role_ = Role::kCandidate;
}

void Raft::become_leader() {
  RQ_ASSERT(role_ == Role::kCandidate);
  reset(term_);
  lead_ = cfg_.id;
  role_ = Role::kLeader;
  for (NodeId v : cfg_.voters) {
    auto [it, _] = prs_.emplace(v, Progress(log_.last_index() + 1, cfg_.max_inflight));
    if (v == cfg_.id) {
      // The leader acknowledges only what its own disk holds (advance() moves it on).
      it->second.match = log_.stable();
      it->second.become_replicate();
      it->second.next = log_.last_index() + 1;
      it->second.recent_active = true;
    }
  }
  // Raft §8: a new leader commits an entry of its own term at once, which commits everything
  // before it (Figure 8 forbids counting replicas of older terms).
  append_entries({Entry{Term{}, LogIndex{}, EntryType::kNoop, {}}});
}

void Raft::campaign() { hup(cfg_.pre_vote); }

void Raft::hup(bool pre_vote) {
  if (role_ == Role::kLeader || !promotable()) return;
  const MessageType type = pre_vote ? MessageType::kPreVote : MessageType::kVote;
  if (pre_vote) {
    become_pre_candidate();
  } else {
    become_candidate();
  }
  // A pre-vote asks about the term the node would campaign in, without moving to it.
  const Term vote_term = pre_vote ? term_ + 1 : term_;
  if (poll(cfg_.id, true) == VoteResult::kWon) {
    // A single voter wins on its own vote.
    if (pre_vote) {
      hup(false);
    } else {
      become_leader();
    }
    return;
  }
  for (NodeId v : cfg_.voters) {
    if (v == cfg_.id) continue;
    Message m;
    m.type = type;
    m.to = v;
    m.term = vote_term;
    m.index = log_.last_index();
    m.log_term = log_.last_term();
    send(std::move(m));
  }
}

VoteResult Raft::poll(NodeId from, bool granted) {
  votes_.emplace(from, granted);  // the first answer from a voter counts
  return tally_votes(cfg_.voters, votes_);
}

// ---- ticks -------------------------------------------------------------------------------

void Raft::tick() {
  if (role_ == Role::kLeader) {
    tick_heartbeat();
  } else {
    tick_election();
  }
}

void Raft::tick_election() {
  ++election_elapsed_;
  if (promotable() && election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    hup(cfg_.pre_vote);
  }
}

void Raft::tick_heartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= cfg_.election_ticks) {
    election_elapsed_ = 0;
    // Thesis §6.2: a leader that has not heard from a majority for an election timeout steps
    // down, so clients find the real leader and a partitioned leader stops accepting writes.
    if (cfg_.check_quorum && !quorum_active()) {
      become_follower(term_, kNoNode);
      return;
    }
  }
  if (heartbeat_elapsed_ >= cfg_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    bcast_heartbeat();
  }
}

bool Raft::quorum_active() {
  size_t active = 0;
  for (auto& [id, pr] : prs_) {
    if (id == cfg_.id || pr.recent_active) ++active;
    if (id != cfg_.id) pr.recent_active = false;
  }
  return active >= majority_of(cfg_.voters.size());
}

// ---- step --------------------------------------------------------------------------------

void Raft::step(const Message& m) {
  if (m.from == cfg_.id || !m.from.valid()) return;
  if (m.term > term_) {
    if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
      // Leader stickiness (thesis §4.2.3, §9.6): while we hear from a leader, a vote request is
      // from a node that is partitioned or removed; ignoring it keeps it from deposing the leader.
      const bool in_lease =
          cfg_.check_quorum && lead_.valid() && election_elapsed_ < cfg_.election_ticks;
      if (in_lease) return;
    }
    if (m.type == MessageType::kPreVote) {
      // Answering a pre-vote never changes our term.
    } else if (m.type == MessageType::kPreVoteResp && !m.reject) {
      // The pre-candidate moves to this term only when it wins the pre-vote.
    } else if (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat) {
      become_follower(m.term, m.from);
    } else {
      become_follower(m.term, kNoNode);
    }
  } else if (m.term < term_) {
    if ((cfg_.check_quorum || cfg_.pre_vote) &&
        (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat)) {
      // A stale leader would never learn the new term otherwise: with pre-vote, nobody bumps
      // terms by campaigning against it, and with check-quorum nobody answers its votes.
      Message resp;
      resp.type = MessageType::kAppResp;
      resp.to = m.from;
      send(std::move(resp));
    } else if (m.type == MessageType::kPreVote) {
      Message resp;
      resp.type = MessageType::kPreVoteResp;
      resp.to = m.from;
      resp.reject = true;
      send(std::move(resp));
    }
    // Figure 2: a request or reply from an older term is otherwise ignored.
    return;
  }

  if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
    on_vote_request(m);
    return;
  }
  switch (role_) {
    case Role::kLeader:
      step_leader(m);
      break;
    case Role::kPreCandidate:
    case Role::kCandidate:
      step_candidate(m);
      break;
    case Role::kFollower:
      step_follower(m);
      break;
  }
}

void Raft::on_vote_request(const Message& m) {
  const MessageType resp_type =
      m.type == MessageType::kVote ? MessageType::kVoteResp : MessageType::kPreVoteResp;
  // Figure 2, RequestVote rule 2: one vote per term (a repeat to the same candidate is fine); a
  // pre-vote for a later term commits to nothing.
  const bool can_vote = vote_ == m.from || (!vote_.valid() && !lead_.valid()) ||
                        (m.type == MessageType::kPreVote && m.term > term_);
  Message resp;
  resp.type = resp_type;
  resp.to = m.from;
  if (can_vote && is_voter(cfg_.id) && log_.is_up_to_date(m.index, m.log_term)) {
    // A granted pre-vote carries the term it was asked about, so the pre-candidate can tell it
    // from a stale reply.
    resp.term = m.term;
    if (m.type == MessageType::kVote) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else {
    resp.reject = true;
  }
  send(std::move(resp));
}

void Raft::step_follower(const Message& m) {
  switch (m.type) {
    case MessageType::kApp:
      election_elapsed_ = 0;
      lead_ = m.from;
      on_append_entries(m);
      break;
    case MessageType::kHeartbeat:
      election_elapsed_ = 0;
      lead_ = m.from;
      on_heartbeat(m);
      break;
    default:
      break;  // stale replies from a time we were candidate or leader
  }
}

void Raft::step_candidate(const Message& m) {
  switch (m.type) {
    case MessageType::kApp:
      // Figure 2 "Candidates": AppendEntries from the new leader of this term: step down.
      become_follower(m.term, m.from);
      on_append_entries(m);
      return;
    case MessageType::kHeartbeat:
      become_follower(m.term, m.from);
      on_heartbeat(m);
      return;
    case MessageType::kPreVoteResp:
      if (role_ != Role::kPreCandidate) return;
      if (!m.reject && m.term != term_ + 1) return;  // a grant from an older pre-vote round
      break;
    case MessageType::kVoteResp:
      if (role_ != Role::kCandidate) return;
      break;
    default:
      return;
  }
  switch (poll(m.from, !m.reject)) {
    case VoteResult::kWon:
      if (role_ == Role::kPreCandidate) {
        hup(false);
      } else {
        become_leader();
        bcast_append();
      }
      break;
    case VoteResult::kLost:
      become_follower(term_, kNoNode);
      break;
    case VoteResult::kPending:
      break;
  }
}

void Raft::on_append_entries(const Message& m) {
  Message resp;
  resp.type = MessageType::kAppResp;
  resp.to = m.from;
  if (m.index < log_.committed()) {
    // Everything up to our commit index is already known to match.
    resp.index = log_.committed();
    send(std::move(resp));
    return;
  }
  if (auto last_new = log_.maybe_append(m.index, m.log_term, m.commit, m.entries)) {
    resp.index = *last_new;
    send(std::move(resp));
    return;
  }
  // Figure 2, AppendEntries rule 2: no entry at prevLogIndex with prevLogTerm. Tell the leader
  // where our log could match, so it skips a whole term per round trip (thesis §5.3 optimization).
  LogIndex hint = std::min(m.index, log_.last_index());
  hint = log_.find_conflict_by_term(hint, m.log_term);
  resp.index = m.index;
  resp.reject = true;
  resp.reject_hint = hint;
  resp.log_term = log_.term(hint).value_or(Term{0});
  send(std::move(resp));
}

void Raft::on_heartbeat(const Message& m) {
  // The leader sends min(match, commit), which our log holds; clamp anyway so a confused peer
  // cannot push our commit index past our log.
  log_.commit_to(std::min(m.commit, log_.last_index()));
  Message resp;
  resp.type = MessageType::kHeartbeatResp;
  resp.to = m.from;
  send(std::move(resp));
}

// ---- leader ------------------------------------------------------------------------------

void Raft::step_leader(const Message& m) {
  switch (m.type) {
    case MessageType::kAppResp:
      on_append_response(m);
      break;
    case MessageType::kHeartbeatResp:
      on_heartbeat_response(m);
      break;
    default:
      break;
  }
}

void Raft::on_append_response(const Message& m) {
  auto it = prs_.find(m.from);
  if (it == prs_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (m.reject) {
    LogIndex next_probe = m.reject_hint;
    if (m.log_term.v > 0) {
      // The follower's entry at reject_hint has term log_term: skip every entry of ours past the
      // last one whose term is <= log_term; they cannot match.
      next_probe = log_.find_conflict_by_term(std::min(m.reject_hint, log_.last_index()), m.log_term);
    }
    if (pr.maybe_decr_to(m.index, next_probe)) {
      if (pr.state == ProgressState::kReplicate) pr.become_probe();
      maybe_send_append(m.from, true);
    }
    return;
  }
  if (m.index > log_.last_index()) return;  // acknowledges entries we never had: ignore
  // In probe state an ack equal to match still answers our probe (etcd does the same).
  const bool probe_answered = pr.state == ProgressState::kProbe && m.index == pr.match;
  if (!pr.maybe_update(m.index) && !probe_answered) return;
  if (pr.state == ProgressState::kProbe) {
    pr.become_replicate();
  } else {
    pr.inflights.free_le(m.index);
  }
  if (maybe_commit()) bcast_append();
  while (maybe_send_append(m.from, false)) {
  }
}

void Raft::on_heartbeat_response(const Message& m) {
  auto it = prs_.find(m.from);
  if (it == prs_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  pr.probe_sent = false;
  // A full window whose acks were lost would stall replication for good; free one slot.
  if (pr.state == ProgressState::kReplicate && pr.inflights.full()) pr.inflights.free_first_one();
  if (pr.match < log_.last_index()) maybe_send_append(m.from, true);
}

bool Raft::maybe_commit() {
  acks_scratch_.clear();
  for (NodeId v : cfg_.voters) {
    auto it = prs_.find(v);
    acks_scratch_.push_back(it == prs_.end() ? LogIndex{0} : it->second.match);
  }
  const LogIndex mci = majority_index(acks_scratch_);
  // Raft §5.4.2 (Figure 8): only entries of the current term are committed by counting replicas;
  // older entries are committed indirectly by the Log Matching Property.
  if (mci > log_.committed() && log_.term(mci) == term_) {
    const LogIndex old = log_.committed();
    log_.commit_to(mci);
    for (LogIndex i = old + 1; i <= mci; ++i) {
      const uint64_t sz = log_.at(i).data.size();
      uncommitted_bytes_ = uncommitted_bytes_ >= sz ? uncommitted_bytes_ - sz : 0;
    }
    return true;
  }
  return false;
}

void Raft::append_entries(std::vector<Entry> ents) {
  LogIndex next = log_.last_index() + 1;
  for (auto& e : ents) {
    e.term = term_;
    e.index = next;
    ++next;
    uncommitted_bytes_ += e.data.size();
  }
  log_.append(std::move(ents));
}

ProposeResult Raft::propose(std::string data) {
  ProposeResult r;
  if (role_ != Role::kLeader) {
    r.status = ProposeStatus::kNotLeader;
    r.leader = lead_;
    return r;
  }
  if (uncommitted_bytes_ > 0 && uncommitted_bytes_ + data.size() > cfg_.max_uncommitted_bytes) {
    r.status = ProposeStatus::kDropped;
    r.leader = cfg_.id;
    return r;
  }
  append_entries({Entry{Term{}, LogIndex{}, EntryType::kNormal, std::move(data)}});
  bcast_append();
  r.status = ProposeStatus::kOk;
  r.index = log_.last_index();
  r.term = term_;
  r.leader = cfg_.id;
  return r;
}

bool Raft::maybe_send_append(NodeId to, bool send_if_empty) {
  Progress& pr = prs_.at(to);
  if (pr.is_paused()) return false;
  const LogIndex prev = pr.next - 1;
  const auto prev_term = log_.term(prev);
  RQ_ASSERT(prev_term.has_value());
  std::vector<Entry> ents = log_.slice(pr.next, log_.last_index() + 1, cfg_.max_msg_bytes);
  if (ents.empty() && !send_if_empty) return false;
  Message m;
  m.type = MessageType::kApp;
  m.to = to;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = log_.committed();
  const LogIndex last = ents.empty() ? prev : ents.back().index;
  pr.sent_append(last, !ents.empty());
  m.entries = std::move(ents);
  send(std::move(m));
  return true;
}

void Raft::send_heartbeat(NodeId to) {
  const Progress& pr = prs_.at(to);
  Message m;
  m.type = MessageType::kHeartbeat;
  m.to = to;
  // The follower may not have everything we committed; it can only commit what matches ours.
  m.commit = std::min(pr.match, log_.committed());
  send(std::move(m));
}

void Raft::bcast_append() {
  for (const auto& [id, pr] : prs_) {
    if (id != cfg_.id) maybe_send_append(id, true);
  }
}

void Raft::bcast_heartbeat() {
  for (const auto& [id, pr] : prs_) {
    if (id != cfg_.id) send_heartbeat(id);
  }
}

void Raft::send(Message m) {
  m.from = cfg_.id;
  // Votes and pre-votes set their own term; every other message carries ours.
  const bool sets_own_term = m.type == MessageType::kPreVote || m.type == MessageType::kVote ||
                             ((m.type == MessageType::kPreVoteResp || m.type == MessageType::kVoteResp) &&
                              !m.reject);
  if (!sets_own_term) m.term = term_;
  msgs_.push_back(std::move(m));
}

// ---- ready / advance ---------------------------------------------------------------------

// Messages that may only leave once this Ready's entries and hard state are on disk.
static bool needs_sync(MessageType t) {
  switch (t) {
    case MessageType::kAppResp:  // acknowledges appended entries (Raft §5.3; thesis §10.2.1)
      return true;
    case MessageType::kVoteResp:  // grants a vote that must survive a crash (Figure 2)
      return true;
    case MessageType::kVote:  // asks for votes in a term this node must never forget
      return true;
    default:
      return false;
  }
}

bool Raft::has_ready() const {
  return !msgs_.empty() || hard_state() != prev_hs_ || log_.has_unstable() ||
         log_.has_next_committed() || SoftState{lead_, role_} != prev_ss_;
}

Ready Raft::ready() {
  Ready rd;
  const HardState hs = hard_state();
  const bool term_or_vote_changed = hs.term != prev_hs_.term || hs.vote != prev_hs_.vote;
  if (hs != prev_hs_) rd.hard_state = hs;
  rd.entries = log_.unstable_entries();
  rd.must_sync = !rd.entries.empty() || term_or_vote_changed;
  rd.committed_entries = log_.next_committed_entries(cfg_.max_apply_bytes);
  for (auto& m : msgs_) {
    if (term_or_vote_changed || needs_sync(m.type)) {
      rd.messages_after_sync.push_back(std::move(m));
    } else {
      rd.messages.push_back(std::move(m));
    }
  }
  msgs_.clear();
  const SoftState ss{lead_, role_};
  if (ss != prev_ss_) rd.soft_state = ss;
  prev_hs_ = hs;
  prev_ss_ = ss;
  return rd;
}

void Raft::advance(const Ready& rd) {
  if (!rd.entries.empty()) {
    const Entry& last = rd.entries.back();
    log_.stable_to(last.index, last.term);
    if (role_ == Role::kLeader) {
      // The leader's own copy counts toward a majority only once it is durable.
      prs_.at(cfg_.id).maybe_update(log_.stable());
      if (maybe_commit()) bcast_append();
    }
  }
  if (!rd.committed_entries.empty()) log_.applied_to(rd.committed_entries.back().index);
}

}  // namespace rq::raft
