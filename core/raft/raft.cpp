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
    case MessageType::kSnap:
      return "Snap";
    case MessageType::kSnapResp:
      return "SnapResp";
    case MessageType::kTimeoutNow:
      return "TimeoutNow";
  }
  return "?";
}

Raft::Raft(RaftConfig config, Prng prng, HardState hs, std::vector<Entry> log, LogIndex applied)
    : Raft(std::move(config), prng, RaftStorage{hs, std::nullopt, std::move(log), applied}) {}

static Membership static_membership(std::vector<NodeId> voters) {
  std::vector<Member> ms;
  for (NodeId v : voters) ms.push_back(Member{v, {}, true});
  return Membership(std::move(ms));
}

Raft::Raft(RaftConfig config, Prng prng, RaftStorage st)
    : cfg_(std::move(config)),
      prng_(prng),
      term_(st.hard_state.term),
      vote_(st.hard_state.vote),
      log_(st.snapshot ? st.snapshot->index : LogIndex{0}, st.snapshot ? st.snapshot->term : Term{0},
           std::move(st.entries), LogIndex{0}, LogIndex{0}),
      configs_(st.snapshot ? st.snapshot->membership : static_membership(cfg_.voters),
               st.snapshot ? st.snapshot->index : LogIndex{0}),
      snapshot_(st.snapshot) {
  RQ_ASSERT(cfg_.id.valid());
  RQ_ASSERT_GE(cfg_.election_ticks, 1);
  RQ_ASSERT_GE(cfg_.heartbeat_ticks, 1);
  RQ_ASSERT_LT(cfg_.heartbeat_ticks, cfg_.election_ticks);
  RQ_ASSERT_GT(cfg_.snapshot_chunk_bytes, 0u);
  // A commit index from disk never exceeds what the disk holds: the hard state record is written
  // after the entries it covers, in one stream.
  RQ_ASSERT_LE(st.hard_state.commit, log_.last_index());
  // currentTerm >= the term of every entry held (and of the snapshot): LogStore raises a hard
  // state that a torn write left behind its log, so a violation here is our bug.
  RQ_ASSERT_GE(term_, log_.last_term());
  log_.commit_to(st.hard_state.commit);
  RQ_ASSERT_LE(st.applied, log_.committed());
  if (st.applied > log_.applied()) log_.applied_to(st.applied);
  config_scanned_ = log_.floor_index();
  was_member_ = cfg_.was_member;
  refresh_config();
  prev_hs_ = hard_state();
  become_follower(term_, kNoNode);
  prev_ss_ = SoftState{lead_, role_};
}

void Raft::bootstrap(const Membership& m) {
  RQ_ASSERT_EQ(log_.last_index().v, 0u);
  RQ_ASSERT(!m.voters().empty());
  // A node may have seen a later term (another founder asked for its vote) before it founds:
  // it keeps that term and its vote; the entry is the same (1, term 1) on every founder.
  if (term_.v == 0) term_ = Term{1};
  log_.append({Entry{Term{1}, LogIndex{1}, EntryType::kConfig, m.encode()}});
  log_.commit_to(LogIndex{1});
  refresh_config();
}

bool Raft::promotable() const {
  if (is_self_member()) return is_voter(cfg_.id);
  // A node its latest config removed, while that config is not committed, may have to lead to
  // commit it: it may hold the only copy (the leader that appended it died with it). It then
  // counts only the new config's voters, as a leader removing itself does (thesis §4.2.2;
  // Hashicorp Raft's rule too). Once that config commits it never campaigns again (§4.2.3).
  return was_member_ && !membership().contains(cfg_.id) && configs_.current_index() > log_.committed();
}

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
  lead_transferee_ = kNoNode;
  pending_conf_index_ = LogIndex{0};
  bcast_pending_ = false;
  // Reads waiting on a leadership check are dropped with the leadership; their callers time out.
  pending_reads_.clear();
  read_round_pending_ = false;
  round_ticks_.clear();
  lease_forfeited_ = false;
}

void Raft::reset_randomized_election_timeout() {
  // Raft §5.2: randomized timeouts make split votes rare.
  const int jitter = cfg_.election_jitter_ticks < 0 ? cfg_.election_ticks : cfg_.election_jitter_ticks;
  randomized_election_timeout_ = cfg_.election_ticks + (jitter == 0 ? 0 : static_cast<int>(prng_.below(static_cast<uint64_t>(jitter))));
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
  std::vector<NodeId> tracked;
  for (const Member& mem : membership().members()) tracked.push_back(mem.id);
  // A leader its latest (uncommitted) config removed tracks itself too (promotable()).
  if (!membership().contains(cfg_.id)) tracked.push_back(cfg_.id);
  for (const NodeId v : tracked) {
    auto [it, _] = prs_.emplace(v, Progress(log_.last_index() + 1, cfg_.max_inflight));
    if (v == cfg_.id) {
      // The leader acknowledges only what its own disk holds (advance() moves it on).
      it->second.match = log_.stable();
      it->second.become_replicate();
      it->second.next = log_.last_index() + 1;
      it->second.recent_active = true;
    }
  }
  // A config entry from an earlier term may still be uncommitted: no new change until it is.
  pending_conf_index_ = configs_.current_index() > log_.committed() ? configs_.current_index() : LogIndex{0};
  // Raft §8: a new leader commits an entry of its own term at once, which commits everything
  // before it (Figure 8 forbids counting replicas of older terms).
  append_entries({Entry{Term{}, LogIndex{}, EntryType::kNoop, {}}});
}

void Raft::campaign() { hup(cfg_.pre_vote, false); }

void Raft::hup(bool pre_vote, bool transfer) {
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
      hup(false, transfer);
    } else {
      become_leader();
    }
    return;
  }
  for (NodeId v : voters_) {
    if (v == cfg_.id) continue;
    Message m;
    m.type = type;
    m.to = v;
    m.term = vote_term;
    m.index = log_.last_index();
    m.log_term = log_.last_term();
    m.transfer = transfer;
    send(std::move(m));
  }
}

VoteResult Raft::poll(NodeId from, bool granted) {
  votes_.emplace(from, granted);  // the first answer from a voter counts
  return tally_votes(voters_, votes_);
}

// ---- ticks -------------------------------------------------------------------------------

void Raft::tick() {
  ++ticks_;
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
    hup(cfg_.pre_vote, false);
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
    // Thesis §3.10: a transfer that did not finish within an election timeout is abandoned, and
    // this leader serves clients again.
    lead_transferee_ = kNoNode;
  }
  if (heartbeat_elapsed_ >= cfg_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    bcast_heartbeat();
  }
}

bool Raft::quorum_active() {
  size_t active = 0;
  for (NodeId v : voters_) {
    auto it = prs_.find(v);
    if (v == cfg_.id || (it != prs_.end() && it->second.recent_active)) ++active;
  }
  for (auto& [id, pr] : prs_) {
    if (id != cfg_.id) pr.recent_active = false;
  }
  return active >= majority_of(voters_.size());
}

// ---- step --------------------------------------------------------------------------------

void Raft::step(const Message& m) {
  if (m.from == cfg_.id || !m.from.valid()) return;
  // Replies count toward progress and votes only from the life of that node id our config
  // names: a reply from an earlier life (before its disk was wiped) would make a leader believe
  // the new one holds what the old one acknowledged. Requests are taken from anyone with a valid
  // term (thesis §4.1: a follower's config may not know the leader yet).
  const bool is_reply = m.type == MessageType::kAppResp || m.type == MessageType::kHeartbeatResp ||
                        m.type == MessageType::kSnapResp || m.type == MessageType::kVoteResp ||
                        m.type == MessageType::kPreVoteResp;
  if (is_reply && membership().contains(m.from) && !membership().is_self(m.from, m.from_incarnation)) return;
  if (m.term > term_) {
    if (m.type == MessageType::kVote || m.type == MessageType::kPreVote) {
      // Leader stickiness (thesis §4.2.3, §9.6): while we hear from a leader, a vote request is
      // from a node that is partitioned or removed; ignoring it keeps it from deposing the leader.
      // A campaign that follows a leadership transfer is the leader's own wish: it waives this.
      // A node that just started may have answered a leader's heartbeat before it went down
      // (RaftConfig::quiet_after_start).
      const bool heard_recently =
          lead_.valid() || (cfg_.quiet_after_start && ticks_ < static_cast<uint64_t>(cfg_.election_ticks));
      const bool in_lease = cfg_.check_quorum && heard_recently && election_elapsed_ < cfg_.election_ticks;
      if (in_lease && !m.transfer) return;
    }
    if (m.type == MessageType::kPreVote) {
      // Answering a pre-vote never changes our term.
    } else if (m.type == MessageType::kPreVoteResp && !m.reject) {
      // The pre-candidate moves to this term only when it wins the pre-vote.
    } else if (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat ||
               m.type == MessageType::kSnap) {
      become_follower(m.term, m.from);
    } else {
      become_follower(m.term, kNoNode);
    }
  } else if (m.term < term_) {
    if ((cfg_.check_quorum || cfg_.pre_vote) &&
        (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat || m.type == MessageType::kSnap)) {
      // A stale leader would never learn the new term otherwise: with pre-vote, nobody bumps
      // terms by campaigning against it, and with check-quorum nobody answers its votes. The
      // notice is a rejection at index 0, which no leader acts upon: the sender may be the
      // leader of our term by the time it arrives (the old append was its own, from an earlier
      // term), and an acceptance of index 0 would read as a probe answered at match 0, sending
      // it back to index 1 (or to a snapshot) and past a stale tail this node may still hold.
      Message resp;
      resp.type = MessageType::kAppResp;
      resp.to = m.from;
      resp.reject = true;
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
  // Members vote, voters or not: a candidate asks the voters of its own config, which may
  // include a non-voter whose promotion has not reached it (staged promotion guarantees it knows
  // it is a member by then). So does a node its latest config removed, if this incarnation was a
  // member (thesis §4.2.2): a leader that removed itself and died with that entry uncommitted
  // leaves the others needing its vote. A node whose log names another incarnation of it, or
  // that never was a member in this life (a wiped node not yet re-added), must not: it has
  // forgotten every vote its old self cast.
  if (can_vote && may_vote() && log_.is_up_to_date(m.index, m.log_term)) {
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
  if (m.type == MessageType::kApp || m.type == MessageType::kHeartbeat || m.type == MessageType::kSnap) {
    heard_leader_ = true;
    leader_message_tick_ = ticks_;
  }
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
    case MessageType::kSnap:
      election_elapsed_ = 0;
      lead_ = m.from;
      on_snapshot_chunk(m);
      break;
    case MessageType::kTimeoutNow:
      // Thesis §3.10: the leader hands over; campaign at once, skipping pre-vote (the leader
      // itself asked, so the cluster is not being disrupted).
      if (m.from == lead_ && promotable()) hup(false, true);
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
    case MessageType::kSnap:
      become_follower(m.term, m.from);
      on_snapshot_chunk(m);
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
        hup(false, false);
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
    refresh_config();
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
  resp.round = m.round;
  send(std::move(resp));
}

// Figure 13 (InstallSnapshot), receiver side, one chunk at a time. Chunks must arrive in order;
// anything else is answered with the offset we want next.
void Raft::on_snapshot_chunk(const Message& m) {
  const SnapshotMeta& meta = m.snapshot;
  if (meta.index <= log_.committed()) {
    // Rule: a snapshot no newer than what we committed adds nothing. Say how far we are.
    incoming_.reset();
    Message resp;
    resp.type = MessageType::kAppResp;
    resp.to = m.from;
    resp.index = log_.committed();
    send(std::move(resp));
    return;
  }
  Message resp;
  resp.type = MessageType::kSnapResp;
  resp.to = m.from;
  resp.snapshot.index = meta.index;
  resp.snapshot.term = meta.term;
  if (!incoming_ || incoming_->meta != meta) {
    if (m.offset != 0) {
      resp.reject = true;  // we hold nothing of this snapshot: start over
      send(std::move(resp));
      return;
    }
    incoming_ = Incoming{meta, 0, false};
  }
  const bool well_formed = m.chunk.size() == m.chunk_len && m.offset + m.chunk_len <= meta.size &&
                           (m.chunk_len > 0 || meta.size == 0);
  if (!incoming_->complete && m.offset == incoming_->next && well_formed) {
    incoming_->next += m.chunk_len;
    incoming_->complete = incoming_->next == meta.size;
    chunks_.push_back(SnapshotChunk{meta, m.offset, m.chunk, incoming_->complete});
  } else if (m.offset > incoming_->next || !well_formed) {
    resp.reject = true;
  }
  resp.offset = incoming_->next;
  send(std::move(resp));
}

void Raft::snapshot_received(const SnapshotMeta& meta, bool ok) {
  if (!incoming_ || incoming_->meta != meta || !incoming_->complete) return;
  incoming_.reset();
  if (!ok) return;  // the leader starts over when our next reply rejects its chunk
  if (!snapshot_ || snapshot_->index < meta.index) snapshot_ = meta;
  if (meta.index <= log_.committed()) return;  // caught up by other means meanwhile
  Message resp;
  resp.type = MessageType::kAppResp;
  resp.to = lead_;
  resp.index = meta.index;
  if (log_.match_term(meta.index, meta.term)) {
    // Figure 13 rule 6: our log already has the snapshot's last entry; keep what follows it.
    log_.commit_to(meta.index);
  } else {
    // Rule 7: otherwise the whole log goes, and the state machine is reset from the snapshot.
    log_.restore(meta.index, meta.term);
    configs_.restore(meta.index, meta.membership);
    config_scanned_ = meta.index;
    on_membership_changed();
    pending_restore_ = meta;
  }
  if (lead_.valid()) send(std::move(resp));
}

void Raft::snapshot_written(const SnapshotMeta& meta) {
  if (snapshot_ && snapshot_->index >= meta.index) return;
  RQ_ASSERT_LE(meta.index, log_.applied());
  snapshot_ = meta;
}

void Raft::compact(LogIndex i) {
  if (!snapshot_) return;
  i = std::min(i, snapshot_->index);
  if (i <= log_.floor_index()) return;
  log_.compact(i);
  configs_.compact(i);
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
    case MessageType::kSnapResp:
      on_snapshot_response(m);
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
  // In probe state an ack equal to match still answers our probe if the probe carried no entries
  // (etcd accepts any such ack; an ack of match left over from an earlier window would then turn
  // every reordered rejection into a full window sent again, a storm under reordering: seed 41327).
  const bool probe_answered =
      pr.state == ProgressState::kProbe && m.index == pr.match && pr.probe_last == pr.match;
  if (!pr.maybe_update(m.index) && !probe_answered) return;
  switch (pr.state) {
    case ProgressState::kProbe:
      pr.become_replicate();
      break;
    case ProgressState::kReplicate:
      pr.inflights.free_le(m.index);
      break;
    case ProgressState::kSnapshot:
      // Installed (or it turned out not to need it): back to appends after the snapshot.
      if (pr.match >= pr.pending_snapshot) pr.become_probe();
      break;
  }
  if (maybe_commit() && role_ == Role::kLeader) bcast_append();
  // Committing our own removal makes us a follower, and prs_ (and pr) are gone.
  if (role_ != Role::kLeader) return;
  maybe_promote_staged();
  if (pr.state == ProgressState::kSnapshot) return;
  while (maybe_send_append(m.from, false)) {
  }
  // Thesis §3.10: the transfer target is up to date: tell it to campaign.
  if (m.from == lead_transferee_ && pr.match == log_.last_index()) send_timeout_now(m.from);
}

void Raft::on_snapshot_response(const Message& m) {
  auto it = prs_.find(m.from);
  if (it == prs_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (pr.state != ProgressState::kSnapshot || m.snapshot.index != pr.pending_snapshot) return;
  if (m.reject) {
    // The follower wants another offset (it lost the transfer, or a chunk went missing).
    pr.snap_acked = std::min(m.offset, pr.snap_sent);
    pr.snap_sent = pr.snap_acked;
  } else {
    pr.snap_acked = std::max(pr.snap_acked, std::min(m.offset, pr.snap_sent));
  }
  send_snapshot_chunks(m.from);
}

void Raft::on_heartbeat_response(const Message& m) {
  auto it = prs_.find(m.from);
  if (it == prs_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (m.round > pr.acked_round) {
    pr.acked_round = m.round;
    confirm_reads();
  }
  if (pr.state == ProgressState::kSnapshot) {
    // A newer snapshot supersedes the one in flight; a transfer that made no progress since the
    // last heartbeat lost chunks: resend from what was acknowledged.
    if (snapshot_ && snapshot_->index > pr.pending_snapshot) {
      pr.become_snapshot(snapshot_->index);
    } else if (snapshot_ && pr.snap_acked >= snapshot_->size) {
      // Every byte arrived but the follower's acknowledgement of the installed snapshot was
      // lost: probe right after the snapshot (a mismatch there sends us back to probing lower).
      pr.become_probe();
      maybe_send_append(m.from, true);
      return;
    } else if (pr.snap_acked == pr.snap_acked_at_last_check) {
      pr.snap_sent = pr.snap_acked;
    }
    pr.snap_acked_at_last_check = pr.snap_acked;
    send_snapshot_chunks(m.from);
    return;
  }
  pr.probe_sent = false;
  // A full window whose acks were lost would stall replication for good; free one slot.
  if (pr.state == ProgressState::kReplicate && pr.inflights.full()) pr.inflights.free_first_one();
  if (pr.match < log_.last_index()) maybe_send_append(m.from, true);
}

bool Raft::maybe_commit() {
  acks_scratch_.clear();
  for (NodeId v : voters_) {
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
    if (pending_conf_index_ <= mci) pending_conf_index_ = LogIndex{0};
    // Thesis §4.2.2: a leader removed from the cluster steps down once that change commits (it
    // kept replicating it without counting itself).
    if (!membership().contains(cfg_.id) && configs_.current_index() <= mci) {
      become_follower(term_, kNoNode);
      return false;
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
  if (lead_transferee_.valid()) {
    // Thesis §3.10: while handing over, take no new work (it would delay the target).
    r.status = ProposeStatus::kDropped;
    r.leader = cfg_.id;
    return r;
  }
  append_entries({Entry{Term{}, LogIndex{}, EntryType::kNormal, std::move(data)}});
  // Sent with the next Ready: proposals that arrive together leave together, one message per
  // follower (the driver's group commit does the same for the disk).
  bcast_pending_ = true;
  r.status = ProposeStatus::kOk;
  r.index = log_.last_index();
  r.term = term_;
  r.leader = cfg_.id;
  return r;
}

ProposeResult Raft::propose_conf_change(const ConfChange& cc) {
  ProposeResult r;
  r.leader = role_ == Role::kLeader ? cfg_.id : lead_;
  if (role_ != Role::kLeader) {
    r.status = ProposeStatus::kNotLeader;
    return r;
  }
  if (lead_transferee_.valid()) {
    r.status = ProposeStatus::kDropped;
    return r;
  }
  // Ongaro 2015 (raft-dev "bug in single-server membership changes"): a leader may change the
  // membership only after committing an entry of its own term, and only one change at a time;
  // otherwise two changes can overlap and form disjoint majorities.
  if (log_.term(log_.committed()) != term_ || pending_conf_index_ > log_.committed()) {
    r.status = ProposeStatus::kConfigPending;
    return r;
  }
  auto next = apply_change(membership(), cc);
  if (!next) {
    r.status = ProposeStatus::kInvalid;
    return r;
  }
  append_entries({Entry{Term{}, LogIndex{}, EntryType::kConfig, next->encode()}});
  pending_conf_index_ = log_.last_index();
  refresh_config();
  bcast_append();
  r.status = ProposeStatus::kOk;
  r.index = log_.last_index();
  r.term = term_;
  return r;
}

bool Raft::transfer_leadership(NodeId to) {
  if (role_ != Role::kLeader || to == cfg_.id || !is_voter(to)) return false;
  if (lead_transferee_ == to) return true;
  lead_transferee_ = to;
  election_elapsed_ = 0;  // the transfer must finish within an election timeout
  const Progress& pr = prs_.at(to);
  if (pr.match == log_.last_index()) {
    send_timeout_now(to);
  } else {
    maybe_send_append(to, true);
  }
  return true;
}

void Raft::send_timeout_now(NodeId to) {
  // The target campaigns at once, whatever our lease says, and the message may arrive late:
  // this term's lease is over.
  lease_forfeited_ = true;
  Message m;
  m.type = MessageType::kTimeoutNow;
  m.to = to;
  send(std::move(m));
}

// Config entries take effect when appended (thesis §4.1): after any change to the log, bring the
// membership up to date with it.
void Raft::refresh_config() {
  const LogIndex truncated = log_.take_truncated_from();
  const LogIndex before = configs_.current_index();
  const Membership old = membership();
  if (truncated.v != 0) {
    configs_.truncate_from(truncated);
    if (config_scanned_ >= truncated) config_scanned_ = truncated - 1;
  }
  if (config_scanned_ < log_.floor_index()) config_scanned_ = log_.floor_index();
  for (LogIndex i = config_scanned_ + 1; i <= log_.last_index(); ++i) {
    const Entry& e = log_.at(i);
    if (e.type != EntryType::kConfig) continue;
    // A config entry that does not decode is ignored, the same way on every node.
    if (auto m = Membership::decode(e.data); m && !m->voters().empty()) configs_.add(i, std::move(*m));
  }
  config_scanned_ = log_.last_index();
  if (configs_.current_index() != before || membership() != old || voters_.empty()) on_membership_changed();
}

void Raft::maybe_promote_staged() {
  if (role_ != Role::kLeader || lead_transferee_.valid()) return;
  if (log_.term(log_.committed()) != term_ || pending_conf_index_ > log_.committed()) return;
  for (const Member& mem : membership().members()) {
    if (!mem.staged) continue;
    auto it = prs_.find(mem.id);
    if (it == prs_.end() || it->second.match < configs_.current_index()) continue;
    auto next = apply_change(membership(), ConfChange{ConfChangeType::kPromoteStaged, mem.id, mem.address, 0});
    if (!next) continue;
    append_entries({Entry{Term{}, LogIndex{}, EntryType::kConfig, next->encode()}});
    pending_conf_index_ = log_.last_index();
    refresh_config();
    bcast_append();
    return;  // one change at a time
  }
}

void Raft::on_membership_changed() {
  voters_ = membership().voters();
  if (is_self_member()) was_member_ = true;
  if (role_ != Role::kLeader) return;
  // Track new members from the end of the log; forget removed ones.
  for (const Member& mem : membership().members()) {
    if (prs_.count(mem.id) == 0) {
      Progress pr(log_.last_index() + 1, cfg_.max_inflight);
      pr.recent_active = true;
      prs_.emplace(mem.id, std::move(pr));
    }
  }
  for (auto it = prs_.begin(); it != prs_.end();) {
    it = membership().contains(it->first) || it->first == cfg_.id ? std::next(it) : prs_.erase(it);
  }
  if (lead_transferee_.valid() && !is_voter(lead_transferee_)) lead_transferee_ = kNoNode;
}

bool Raft::maybe_send_append(NodeId to, bool send_if_empty) {
  Progress& pr = prs_.at(to);
  if (pr.is_paused()) return false;
  const LogIndex prev = pr.next - 1;
  const auto prev_term = log_.term(prev);
  if (!prev_term) {
    // The entries it needs were compacted into a snapshot: stream that instead (Figure 13).
    if (!snapshot_) return false;
    pr.become_snapshot(snapshot_->index);
    send_snapshot_chunks(to);
    return false;
  }
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

void Raft::send_snapshot_chunks(NodeId to) {
  Progress& pr = prs_.at(to);
  if (pr.state != ProgressState::kSnapshot || !snapshot_ || snapshot_->index != pr.pending_snapshot) return;
  const SnapshotMeta& meta = *snapshot_;
  const uint64_t window = cfg_.snapshot_chunk_bytes * cfg_.snapshot_chunks_in_flight;
  auto send_chunk = [&](uint64_t len) {
    Message m;
    m.type = MessageType::kSnap;
    m.to = to;
    m.snapshot = meta;
    m.offset = pr.snap_sent;
    m.chunk_len = len;
    pr.snap_sent += len;
    send(std::move(m));
  };
  if (meta.size == 0) {
    if (!pr.snap_empty_sent) send_chunk(0);
    pr.snap_empty_sent = true;
    return;
  }
  // Bounded: never more than `window` bytes beyond what the follower acknowledged.
  while (pr.snap_sent < meta.size && pr.snap_sent - pr.snap_acked < window) {
    send_chunk(std::min(cfg_.snapshot_chunk_bytes, meta.size - pr.snap_sent));
  }
}

void Raft::send_heartbeat(NodeId to) {
  const Progress& pr = prs_.at(to);
  Message m;
  m.type = MessageType::kHeartbeat;
  m.to = to;
  // The follower may not have everything we committed; it can only commit what matches ours.
  m.commit = std::min(pr.match, log_.committed());
  m.round = round_;
  send(std::move(m));
}

void Raft::bcast_append() {
  for (const auto& [id, pr] : prs_) {
    if (id != cfg_.id) maybe_send_append(id, true);
  }
}

void Raft::bcast_heartbeat() {
  ++round_;
  round_ticks_[round_] = ticks_;
  // Rounds older than an election timeout can no longer give a lease; forget them.
  while (!round_ticks_.empty() && ticks_ - round_ticks_.begin()->second > static_cast<uint64_t>(2 * cfg_.election_ticks)) {
    round_ticks_.erase(round_ticks_.begin());
  }
  for (const auto& [id, pr] : prs_) {
    if (id != cfg_.id) send_heartbeat(id);
  }
  confirm_reads();  // a single voter confirms its own reads
}

uint64_t Raft::quorum_round() const {
  std::vector<uint64_t> rounds;
  for (NodeId v : voters_) {
    if (v == cfg_.id) {
      rounds.push_back(round_);
      continue;
    }
    auto it = prs_.find(v);
    rounds.push_back(it == prs_.end() ? 0 : it->second.acked_round);
  }
  if (rounds.empty()) return 0;
  std::sort(rounds.begin(), rounds.end(), std::greater<>());
  return rounds[majority_of(rounds.size()) - 1];
}

void Raft::confirm_reads() {
  if (pending_reads_.empty()) return;
  const uint64_t confirmed = quorum_round();
  size_t done = 0;
  while (done < pending_reads_.size() && pending_reads_[done].round <= confirmed) {
    read_states_.push_back(ReadState{pending_reads_[done].context, pending_reads_[done].index});
    ++done;
  }
  pending_reads_.erase(pending_reads_.begin(), pending_reads_.begin() + static_cast<std::ptrdiff_t>(done));
}

ReadIndexStatus Raft::read_index(uint64_t context) {
  if (role_ != Role::kLeader) return ReadIndexStatus::kNotLeader;
  // Thesis §6.4 step 1: until it commits an entry of its term, a new leader does not know the
  // commit index of the cluster; such a read goes through the log instead.
  if (log_.term(log_.committed()) != term_) return ReadIndexStatus::kNoCommitInTerm;
  // Reads that arrive together share one heartbeat round, sent with the next Ready.
  pending_reads_.push_back(PendingRead{context, log_.committed(), round_ + 1});
  read_round_pending_ = true;
  return ReadIndexStatus::kPending;
}

bool Raft::lease_valid() const {
  if (role_ != Role::kLeader || lease_forfeited_) return false;
  const uint64_t r = quorum_round();
  auto it = round_ticks_.find(r);
  if (r == 0 || it == round_ticks_.end()) return false;
  // Followers wait at least election_ticks (their clocks) after a heartbeat before voting for
  // anyone else; measured on our clock from when that heartbeat left, minus drift and a tick.
  const int64_t ppm = cfg_.max_clock_drift_ppm;
  const int64_t lease = cfg_.election_ticks * (1'000'000 - ppm) / (1'000'000 + ppm) - 1;
  return static_cast<int64_t>(ticks_ - it->second) < lease;
}

void Raft::send(Message m) {
  m.from = cfg_.id;
  m.from_incarnation = cfg_.incarnation;
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
  return bcast_pending_ || read_round_pending_ || !msgs_.empty() || hard_state() != prev_hs_ || log_.has_unstable() ||
         log_.has_next_committed() || SoftState{lead_, role_} != prev_ss_ || pending_restore_.has_value() ||
         !chunks_.empty() || !read_states_.empty();
}

Ready Raft::ready() {
  if (bcast_pending_) {
    bcast_pending_ = false;
    if (role_ == Role::kLeader) bcast_append();
  }
  if (read_round_pending_) {
    read_round_pending_ = false;
    if (role_ == Role::kLeader) bcast_heartbeat();
  }
  Ready rd;
  const HardState hs = hard_state();
  const bool term_or_vote_changed = hs.term != prev_hs_.term || hs.vote != prev_hs_.vote;
  if (hs != prev_hs_) rd.hard_state = hs;
  rd.snapshot = std::move(pending_restore_);
  pending_restore_.reset();
  rd.entries = log_.unstable_entries();
  rd.must_sync = !rd.entries.empty() || term_or_vote_changed || rd.snapshot.has_value();
  rd.snapshot_chunks = std::move(chunks_);
  chunks_.clear();
  rd.read_states = std::move(read_states_);
  read_states_.clear();
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
      if (maybe_commit() && role_ == Role::kLeader) bcast_append();
      maybe_promote_staged();
    }
  }
  if (!rd.committed_entries.empty()) log_.applied_to(rd.committed_entries.back().index);
}

}  // namespace rq::raft
