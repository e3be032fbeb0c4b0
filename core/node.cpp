#include "core/node.h"

#include <algorithm>
#include <utility>

#include "core/storage/crc32c.h"
#include "core/wire/codec.h"

namespace rq {

// Hands the state machine's snapshot bytes to the node's file; safe to use after the node is gone.
class Node::Sink final : public SnapshotSink {
 public:
  Sink(Node* node, std::weak_ptr<int> alive) : node_(node), alive_(std::move(alive)) {}
  Status write(std::string_view bytes) override {
    if (alive_.expired() || !node_->local_snapshot_)
      return make_error(ErrorCode::kInvalid, "snapshot abandoned");
    return node_->snapshots_->write(*node_->local_snapshot_, bytes);
  }
  void finish(Status st) override {
    if (done_ || alive_.expired()) return;
    done_ = true;
    node_->on_snapshot_written(std::move(st));
  }

 private:
  Node* node_;
  std::weak_ptr<int> alive_;
  bool done_ = false;
};

Node::Node(NodeConfig cfg, Clock& clock, Transport& transport, Disk& disk, Prng prng,
           StateMachine& sm, NodeObserver* observer)
    : cfg_(std::move(cfg)),
      clock_(clock),
      transport_(transport),
      disk_(disk),
      prng_(prng),
      sm_(sm),
      observer_(observer != nullptr ? observer : &null_observer_) {}

Node::~Node() {
  alive_.reset();
  stop();
}

Status Node::start(std::optional<raft::Membership> bootstrap) {
  RQ_ASSERT(raft_ == nullptr);
  snapshots_ = std::make_unique<storage::SnapshotStore>(disk_);
  size_t skipped = 0;
  auto snap = snapshots_->open(&skipped);
  if (!snap) {
    fail_stop(Error{snap.error().code, "cannot open snapshots: " + snap.error().message});
    return snap.error();
  }
  stats_.snapshots_skipped = skipped;
  const LogIndex floor = *snap ? (*snap)->index : LogIndex{0};
  const Term floor_term = *snap ? (*snap)->term : Term{0};
  storage::RecoveredLog rec;
  storage::LogStoreOptions sopts = cfg_.store;
  if (sopts.salt_seed == 0) sopts.salt_seed = prng_.next_u64() | 1;
  auto store = storage::LogStore::open(disk_, sopts, &rec, floor, floor_term);
  if (!store) {
    fail_stop(Error{store.error().code, "cannot recover the log: " + store.error().message});
    return store.error();
  }
  store_ = std::move(store.value());
  if (*snap) {
    const raft::SnapshotMeta& meta = **snap;
    Status st = sm_.restore(
        [this, &meta](uint64_t off, uint64_t len) { return snapshots_->read(meta, off, len); },
        meta.size);
    if (!st) {
      fail_stop(Error{ErrorCode::kCorrupt, "cannot restore snapshot: " + st.error().message});
      return st.error();
    }
    last_snapshot_index_ = meta.index;
    stats_.snapshots_restored_at_start = 1;
  }
  const bool fresh = !*snap && rec.entries.empty() && rec.hard_state.term.v == 0;
  if (Status st = load_identity(fresh); !st) {
    fail_stop(Error{st.error().code, "cannot read the node identity: " + st.error().message});
    return st.error();
  }
  observer_->on_recovered(id(), rec, *snap);
  if (Status st = load_member_mark(); !st) {
    fail_stop(Error{st.error().code, "cannot read the membership mark: " + st.error().message});
    return st.error();
  }
  raft::RaftStorage st{rec.hard_state, *snap, std::move(rec.entries), floor};
  raft_ = std::make_unique<raft::Raft>(cfg_.raft, prng_.split(), std::move(st));
  if (bootstrap && fresh) raft_->bootstrap(*bootstrap);
  last_tick_ = clock_.now();
  arm_tick();
  arm_snapshot_check();
  process();
  return ok_status();
}

namespace {

// Collects a snapshot written synchronously by the state machine during Node::recover.
class RecoverySink final : public SnapshotSink {
 public:
  RecoverySink(storage::SnapshotStore& store, storage::SnapshotStore::Writer& w) : store_(store), w_(w) {}
  Status write(std::string_view bytes) override { return store_.write(w_, bytes); }
  void finish(Status st) override {
    finished = true;
    status = std::move(st);
  }
  bool finished = false;
  Status status = ok_status();

 private:
  storage::SnapshotStore& store_;
  storage::SnapshotStore::Writer& w_;
};

}  // namespace

Result<std::pair<LogIndex, Term>> Node::recover(const raft::Membership& m) {
  RQ_ASSERT(raft_ == nullptr);
  if (m.voters().empty()) return make_error(ErrorCode::kInvalid, "need at least one voter in configuration");
  storage::SnapshotStore snapshots(disk_);
  size_t skipped = 0;
  auto snap = snapshots.open(&skipped);
  if (!snap) return snap.error();
  const LogIndex floor = *snap ? (*snap)->index : LogIndex{0};
  const Term floor_term = *snap ? (*snap)->term : Term{0};
  storage::RecoveredLog rec;
  storage::LogStoreOptions sopts = cfg_.store;
  if (sopts.salt_seed == 0) sopts.salt_seed = prng_.next_u64() | 1;
  auto store = storage::LogStore::open(disk_, sopts, &rec, floor, floor_term);
  if (!store) return store.error();
  if (*snap) {
    const raft::SnapshotMeta& meta = **snap;
    Status st = sm_.restore([&](uint64_t off, uint64_t len) { return snapshots.read(meta, off, len); }, meta.size);
    if (!st) return st.error();
  }
  // Every entry the log holds is applied: committed or not, it is what this node has.
  for (const raft::Entry& e : rec.entries) sm_.apply(e);
  const LogIndex last = rec.entries.empty() ? floor : rec.entries.back().index;
  const Term last_term = rec.entries.empty() ? floor_term : rec.entries.back().term;
  if (last.v == 0) return make_error(ErrorCode::kInvalid, "this node has no Raft state to recover");
  auto w = snapshots.begin(last, last_term);
  if (!w) return w.error();
  auto sink = std::make_shared<RecoverySink>(snapshots, *w);
  sm_.snapshot(sink);
  if (!sink->finished || !sink->status) {
    snapshots.abandon(*w);
    return make_error(ErrorCode::kIo, sink->finished ? "recovery snapshot: " + sink->status.error().message
                                                     : "recovery snapshot: the state machine did not finish it");
  }
  auto meta = snapshots.finish(*w, m);
  if (!meta) return meta.error();
  // The log now starts after that snapshot; its hard state commits up to it.
  raft::HardState hs = rec.hard_state;
  hs.term = std::max(hs.term, last_term);
  hs.commit = last;
  if (Status st = (*store)->reset(last, last_term); !st) return st.error();
  if (Status st = (*store)->append({}, hs); !st) return st.error();
  if (Status st = (*store)->sync(); !st) return st.error();
  if (Status st = (*store)->compact(last); !st) return st.error();
  if (Status st = snapshots.retain(cfg_.snapshots_retained); !st) return st.error();
  return std::make_pair(last, last_term);
}

// The file `identity` holds this data directory's incarnation (8 bytes) and its CRC32C.
Status Node::load_identity(bool fresh) {
  static const std::string kName = "identity";
  auto size = disk_.size(kName);
  if (size) {
    auto data = disk_.read(kName, 0, *size);
    if (!data) return data.error();
    if (data->size() != 12)
      return make_error(ErrorCode::kCorrupt, "identity file has the wrong size");
    uint64_t inc = 0;
    for (int i = 7; i >= 0; --i)
      inc = (inc << 8) | static_cast<uint8_t>((*data)[static_cast<size_t>(i)]);
    uint32_t crc = 0;
    for (int i = 3; i >= 0; --i)
      crc = (crc << 8) | static_cast<uint8_t>((*data)[8 + static_cast<size_t>(i)]);
    if (crc != crc32c(std::string_view(*data).substr(0, 8)))
      return make_error(ErrorCode::kCorrupt, "identity checksum mismatch");
    cfg_.raft.incarnation = inc;
    return ok_status();
  }
  if (!fresh) {
    cfg_.raft.incarnation = 0;  // state from before identities: matches any config entry
    return ok_status();
  }
  const uint64_t inc = cfg_.incarnation != 0 ? cfg_.incarnation : (prng_.next_u64() | 1);
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((inc >> (8 * i)) & 0xff));
  const uint32_t crc = crc32c(bytes);
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  if (Status st = disk_.create(kName); !st) return st;
  if (Status st = disk_.append(kName, bytes); !st) return st;
  if (Status st = disk_.sync(kName); !st) return st;
  if (Status st = disk_.sync_dir(); !st) return st;
  cfg_.raft.incarnation = inc;
  return ok_status();
}

// The file `member` says this incarnation has been a member of a config it held (8 bytes of the
// incarnation, then their CRC32C): its votes are all in its hard state, so it may vote once a
// config removes it (RaftConfig::was_member). Written once, the first time it is a member.
static const char* const kMemberMark = "member";

static std::string incarnation_record(uint64_t inc) {
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((inc >> (8 * i)) & 0xff));
  const uint32_t crc = crc32c(bytes);
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return bytes;
}

Status Node::load_member_mark() {
  auto size = disk_.size(kMemberMark);
  if (!size) return ok_status();  // never a member (or the mark was lost before its sync)
  auto data = disk_.read(kMemberMark, 0, *size);
  if (!data) return data.error();
  // A torn mark (a crash while it was written) is no mark; a whole one for another life is stale.
  cfg_.raft.was_member = *data == incarnation_record(cfg_.raft.incarnation);
  member_marked_ = cfg_.raft.was_member;
  return ok_status();
}

void Node::mark_member() {
  if (member_marked_ || !raft_ || !raft_->was_member()) return;
  member_marked_ = true;
  Status st = disk_.size(kMemberMark) ? disk_.truncate(kMemberMark, 0) : disk_.create(kMemberMark);
  if (st) st = disk_.append(kMemberMark, incarnation_record(cfg_.raft.incarnation));
  if (st) st = disk_.sync(kMemberMark);
  if (st) st = disk_.sync_dir();
  if (!st) fail_stop(Error{st.error().code, "cannot write the membership mark: " + st.error().message});
}

void Node::stop() {
  if (tick_armed_) {
    clock_.cancel(tick_timer_);
    tick_armed_ = false;
  }
  if (snapshot_timer_armed_) {
    clock_.cancel(snapshot_timer_);
    snapshot_timer_armed_ = false;
  }
}

void Node::arm_snapshot_check() {
  if (cfg_.snapshot_interval.count() <= 0 || snapshot_timer_armed_) return;
  const auto base = static_cast<uint64_t>(cfg_.snapshot_interval.count());
  const Duration wait(static_cast<int64_t>(base + prng_.below(base)));
  snapshot_timer_armed_ = true;
  snapshot_timer_ = clock_.schedule(wait, [this] {
    snapshot_timer_armed_ = false;
    if (!running()) return;
    snapshot_check_due_ = true;
    maybe_start_snapshot();
    snapshot_check_due_ = false;
    arm_snapshot_check();
  });
}

void Node::arm_tick() {
  const Duration next = last_tick_ + cfg_.tick_interval;
  const Duration now = clock_.now();
  const Duration delay = next > now ? next - now : Duration{0};
  tick_timer_ = clock_.schedule(delay, [this] {
    tick_armed_ = false;
    on_tick();
  });
  tick_armed_ = true;
}

void Node::on_tick() {
  if (!running()) return;
  run_due_ticks();
  if (running()) arm_tick();
}

void Node::catch_up_ticks() {
  if (!running() || clock_.now() - last_tick_ < cfg_.tick_interval) return;
  if (tick_armed_) {
    clock_.cancel(tick_timer_);
    tick_armed_ = false;
  }
  run_due_ticks();
  if (running()) arm_tick();
}

raft::ReadIndexStatus Node::read_index(uint64_t context) {
  if (!running()) return raft::ReadIndexStatus::kNotLeader;
  const auto r = raft_->read_index(context);
  maybe_process();
  return r;
}

void Node::run_due_ticks() {
  // Ticks follow this node's clock: a clock that jumps or a process that was paused sees the
  // elapsed ticks at once (bounded), as a real process would.
  const Duration now = clock_.now();
  int64_t due = (now - last_tick_) / cfg_.tick_interval;
  if (due < 1) due = 1;
  if (due > cfg_.max_ticks_per_wakeup) {
    due = cfg_.max_ticks_per_wakeup;
    last_tick_ = now;
  } else {
    last_tick_ += cfg_.tick_interval * due;
  }
  for (int64_t k = 0; k < due && running(); ++k) {
    raft_->tick();
    process();
  }
}

void Node::receive(std::string_view bytes) {
  if (!running()) return;
  auto in = wire::decode_envelope(bytes);
  if (!in) {
    ++stats_.messages_rejected;
    return;
  }
  if (in->is_cluster) {
    if (cluster_sink_) {
      cluster_sink_(in->cluster);
    } else {
      ++stats_.messages_rejected;
    }
    return;
  }
  raft::Message* m = &in->raft;
  if (m->to != id()) {
    ++stats_.messages_rejected;
    return;
  }
  ++stats_.messages_received;
  raft_->step(*m);
  note_leader_commit(*m);
  maybe_process();
}

void Node::note_leader_commit(const raft::Message& m) {
  if (m.type != raft::MessageType::kApp && m.type != raft::MessageType::kHeartbeat) return;
  if (m.term != raft_->term() || m.from != raft_->lead()) return;  // not from the current leader
  if (leader_commit_term_ != m.term) {
    leader_commit_term_ = m.term;
    leader_commit_ = m.commit;
    return;
  }
  // A heartbeat carries min(match, commit) (raft.cpp), so only the largest value seen counts.
  leader_commit_ = std::max(leader_commit_, m.commit);
}

std::optional<LogIndex> Node::leader_commit() const {
  if (!running()) return std::nullopt;
  if (raft_->role() == raft::Role::kLeader) return raft_->log().committed();
  if (!raft_->lead().valid() || leader_commit_term_ != raft_->term()) return std::nullopt;
  return leader_commit_;
}

void Node::send_cluster(NodeId to, std::string_view payload) {
  if (!running() || to == id()) return;
  observer_->on_send_cluster(id());
  transport_.send(to, wire::encode_cluster(payload));
}

raft::ProposeResult Node::propose(std::string data,
                                  const std::function<void(const raft::ProposeResult&)>& accepted) {
  if (!running()) return raft::ProposeResult{};
  auto r = raft_->propose(std::move(data));
  if (accepted) accepted(r);
  maybe_process();
  return r;
}

raft::ProposeResult Node::propose_conf_change(const raft::ConfChange& cc) {
  if (!running()) return raft::ProposeResult{};
  auto r = raft_->propose_conf_change(cc);
  maybe_process();
  return r;
}

MembershipResult Node::change_membership(const std::optional<raft::ConfChange>& cc) {
  MembershipResult r;
  r.leader = raft_->lead();
  if (const raft::Member* m = raft_->membership().find(r.leader)) r.leader_address = m->address;
  if (raft_->role() != raft::Role::kLeader) {
    r.status = MembershipResult::Status::kNotLeader;
    return r;
  }
  if (!cc) {
    // Already so in the latest configuration, but that is an answer only once it is committed:
    // an uncommitted configuration may yet be lost with this leader's term, and a node told it
    // was removed may be wiped while it is still a voter (long sweep seed 89997: voters {1, 3}
    // for good, with 3's disk gone). Until then the caller asks again.
    r.status = raft_->configs().current_index() > raft_->log().committed() ? MembershipResult::Status::kRetry
                                                                           : MembershipResult::Status::kAlready;
    return r;
  }
  const raft::ProposeResult p = propose_conf_change(*cc);
  switch (p.status) {
    case raft::ProposeStatus::kOk:
      r.status = MembershipResult::Status::kProposed;
      r.index = p.index;
      r.term = p.term;
      break;
    case raft::ProposeStatus::kNotLeader:
      r.status = MembershipResult::Status::kNotLeader;
      break;
    case raft::ProposeStatus::kInvalid:
      r.status = MembershipResult::Status::kInvalid;
      r.error = "membership change would change nothing or remove the last voter";
      break;
    case raft::ProposeStatus::kDropped:
    case raft::ProposeStatus::kConfigPending:
      r.status = MembershipResult::Status::kRetry;
      break;
  }
  return r;
}

MembershipResult Node::join(NodeId id, const std::string& address, bool voter,
                            uint64_t incarnation, const std::string& name) {
  if (!running()) return MembershipResult{};
  if (raft_->role() != raft::Role::kLeader) return change_membership(std::nullopt);
  bool already = false;
  auto cc = raft::decide_join(raft_->membership(), id, address, voter, incarnation, &already, name);
  if (cc && *cc && (*cc)->type == raft::ConfChangeType::kRemove && (*cc)->id == this->id() && id != this->id()) {
    // Another node claims the leader's own address: a misconfiguration, not a replacement.
    cc = make_error(ErrorCode::kInvalid, "join: address " + address + " is the leader's");
  }
  if (!cc) {
    MembershipResult r;
    r.status = MembershipResult::Status::kInvalid;
    r.error = cc.error().message;
    return r;
  }
  MembershipResult r = change_membership(*cc);
  if (already || r.status == MembershipResult::Status::kAlready) ++stats_.joins_ignored;
  // A lost-disk rejoin (or a reused address) proposed a removal first: the join comes next time.
  if (*cc && (*cc)->type == raft::ConfChangeType::kRemove &&
      r.status == MembershipResult::Status::kProposed) {
    ++stats_.removed_before_joins;
    r.status = MembershipResult::Status::kRetry;
  } else if (r.status == MembershipResult::Status::kProposed) {
    ++stats_.joins;
  }
  return r;
}

MembershipResult Node::remove_member(NodeId id) {
  if (!running()) return MembershipResult{};
  return change_membership(raft::decide_remove(raft_->membership(), id));
}

bool Node::transfer_leadership(NodeId to) {
  if (!running()) return false;
  const bool ok = raft_->transfer_leadership(to);
  maybe_process();
  return ok;
}

void Node::campaign() {
  if (!running()) return;
  raft_->campaign();
  maybe_process();
}

bool Node::blank() const {
  return running() && raft_->log().last_index().v == 0 && !raft_->snapshot();
}

std::optional<raft::Membership> Node::founding_membership() const {
  if (!running()) return std::nullopt;
  const raft::RaftLog& log = raft_->log();
  if (log.first_index().v > 1 || log.last_index().v < 1) return std::nullopt;
  const raft::Entry& e = log.at(LogIndex{1});
  if (e.type != raft::EntryType::kConfig || e.term != Term{1}) return std::nullopt;
  auto m = raft::Membership::decode(e.data);
  if (!m) return std::nullopt;
  return *m;
}

bool Node::bootstrap(const raft::Membership& m) {
  if (!blank() || m.voters().empty()) return false;
  raft_->bootstrap(m);
  maybe_process();
  return true;
}

void Node::begin_batch() {
  ++batch_depth_;
}

void Node::end_batch() {
  RQ_ASSERT_GT(batch_depth_, 0);
  if (--batch_depth_ == 0 && running()) process();
}

void Node::maybe_process() {
  if (batch_depth_ == 0) process();
}

void Node::request_snapshot() {
  force_snapshot_ = true;
  if (running() && !processing_) maybe_start_snapshot();
}

void Node::request_snapshot(SnapshotRequest req, std::function<void(SnapshotOutcome)> done) {
  if (!running()) {
    done(SnapshotOutcome::kFailed);
    return;
  }
  const LogIndex target = raft_->log().applied();
  if (target <= last_snapshot_index_) {
    done(SnapshotOutcome::kNothingNew);
    return;
  }
  snapshot_waiters_.push_back(SnapshotWaiter{target, req.trailing_logs, std::move(done)});
  request_snapshot();
}

Result<size_t> Node::reap_snapshots(size_t keep) {
  RQ_ASSERT_GE(keep, 1u);
  if (!running()) return make_error(ErrorCode::kInvalid, "node stopped");
  const auto count = [this]() -> Result<size_t> {
    auto names = disk_.list();
    if (!names) return names.error();
    size_t n = 0;
    for (const auto& name : *names) {
      const bool snap = name.rfind("snap-", 0) == 0 && name.size() > 5 &&
                        name.compare(name.size() - 5, 5, ".snap") == 0;
      n += snap ? 1 : 0;
    }
    return n;
  };
  auto before = count();
  if (!before) return before.error();
  if (Status st = snapshots_->retain(keep); !st) return st.error();
  auto after = count();
  if (!after) return after.error();
  return *before - std::min(*before, *after);
}

void Node::finish_snapshot_waiters(LogIndex durable, SnapshotOutcome outcome) {
  std::vector<SnapshotWaiter> done;
  for (auto it = snapshot_waiters_.begin(); it != snapshot_waiters_.end();) {
    if (outcome == SnapshotOutcome::kFailed || it->target <= durable) {
      done.push_back(std::move(*it));
      it = snapshot_waiters_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& w : done) w.done(outcome);
}

void Node::send_all(std::vector<raft::Message>& msgs) {
  const raft::HardState hs = raft_->hard_state();
  for (auto& m : msgs) {
    if (m.type == raft::MessageType::kSnap && m.chunk_len > 0) {
      // Raft names the bytes; they come out of the snapshot file here.
      auto chunk = snapshots_->read(m.snapshot, m.offset, m.chunk_len);
      if (!chunk) continue;  // that snapshot is gone: the leader moves to a newer one
      m.chunk = std::move(*chunk);
    }
    observer_->on_send(id(), m, hs);
    ++stats_.messages_sent;
    transport_.send(m.to, wire::encode(m));
  }
}

bool Node::install_snapshot(const raft::SnapshotMeta& meta) {
  // The snapshot file is durable already; record that the log now starts after it, then load it.
  if (Status st = store_->reset(meta.index, meta.term); !st) {
    fail_stop(Error{st.error().code, "log write failed: " + st.error().message});
    return false;
  }
  Status st = sm_.restore(
      [this, &meta](uint64_t off, uint64_t len) { return snapshots_->read(meta, off, len); },
      meta.size);
  if (!st) {
    fail_stop(
        Error{ErrorCode::kCorrupt, "cannot restore received snapshot: " + st.error().message});
    return false;
  }
  last_snapshot_index_ = std::max(last_snapshot_index_, meta.index);
  ++stats_.snapshots_installed;
  observer_->on_snapshot_installed(id(), meta);
  return true;
}

bool Node::write_chunks(std::vector<raft::SnapshotChunk>& chunks, std::vector<Finished>* finished) {
  for (auto& c : chunks) {
    if (c.offset == 0) {
      if (incoming_) snapshots_->abandon(*incoming_);
      auto w = snapshots_->begin(c.meta.index, c.meta.term);
      if (!w) {
        fail_stop(Error{w.error().code, "snapshot write failed: " + w.error().message});
        return false;
      }
      incoming_ = std::move(*w);
    }
    if (!incoming_ || incoming_->index != c.meta.index || incoming_->term != c.meta.term) continue;
    if (Status st = snapshots_->write(*incoming_, c.data); !st) {
      fail_stop(Error{st.error().code, "snapshot write failed: " + st.error().message});
      return false;
    }
    if (!c.last) continue;
    auto meta = snapshots_->finish(*incoming_, c.meta.membership, &c.meta);
    incoming_.reset();
    if (!meta && meta.error().code != ErrorCode::kCorrupt) {
      fail_stop(Error{meta.error().code, "snapshot write failed: " + meta.error().message});
      return false;
    }
    finished->push_back(Finished{c.meta, meta.ok()});
  }
  return true;
}

void Node::process() {
  RQ_ASSERT(!processing_);
  processing_ = true;
  while (running() && raft_->has_ready()) {
    raft::Ready rd = raft_->ready();
    ++stats_.readies;
    if (rd.soft_state) {
      observer_->on_soft_state(id(), *rd.soft_state, raft_->term());
      if (rd.soft_state->lead != last_lead_) {
        last_lead_ = rd.soft_state->lead;
        ++stats_.leader_changes;
        if (leader_sink_) leader_sink_(last_lead_);
      }
    }
    // The leader's appends may go out while its own disk write is in flight (thesis §10.2.1).
    send_all(rd.messages);
    if (rd.snapshot && !install_snapshot(*rd.snapshot)) break;
    if (Status st = store_->append(rd.entries, rd.hard_state); !st) {
      fail_stop(Error{st.error().code, "log write failed: " + st.error().message});
      break;
    }
    if (rd.must_sync) {
      ++stats_.syncs;
      if (Status st = store_->sync(); !st) {
        // After a failed fsync the kernel may have dropped the dirty pages: nothing written since
        // the last good sync can be trusted, so the node stops (the "fsyncgate" lesson).
        fail_stop(Error{st.error().code, "log sync failed: " + st.error().message});
        break;
      }
    }
    if (!rd.entries.empty()) {
      const Term prev = raft_->log().term(rd.entries.front().index - 1).value_or(Term{0});
      observer_->on_persisted(id(), rd.entries, prev);
    }
    send_all(rd.messages_after_sync);
    for (const auto& e : rd.committed_entries) {
      sm_.apply(e);
      ++stats_.entries_applied;
      observer_->on_applied(id(), e);
    }
    std::vector<Finished> finished;
    if (!write_chunks(rd.snapshot_chunks, &finished)) break;
    raft_->advance(rd);
    if (read_sink_) {
      for (const auto& r : rd.read_states) read_sink_(r);
    }
    for (const auto& f : finished) {
      if (f.ok) last_snapshot_index_ = std::max(last_snapshot_index_, f.meta.index);
      raft_->snapshot_received(f.meta, f.ok);
    }
    maybe_start_snapshot();
  }
  mark_member();
  processing_ = false;
}

void Node::maybe_start_snapshot() {
  if (local_snapshot_ || !running()) return;
  // A snapshot received from the leader may already cover what a waiter asked for.
  if (!snapshot_waiters_.empty())
    finish_snapshot_waiters(last_snapshot_index_, SnapshotOutcome::kTaken);
  const LogIndex applied = raft_->log().applied();
  if (applied <= last_snapshot_index_) return;
  const bool check = cfg_.snapshot_interval.count() <= 0 || snapshot_check_due_;
  if (!force_snapshot_ && (!check || distance(applied, last_snapshot_index_) < cfg_.snapshot_threshold)) return;
  force_snapshot_ = false;
  const auto term = raft_->log().term(applied);
  RQ_ASSERT(term.has_value());
  auto w = snapshots_->begin(applied, *term);
  if (!w) {
    fail_stop(Error{w.error().code, "snapshot write failed: " + w.error().message});
    return;
  }
  local_snapshot_ = std::move(*w);
  local_snapshot_membership_ = raft_->membership_at(applied);
  sm_.snapshot(std::make_shared<Sink>(this, alive_));
}

void Node::on_snapshot_written(Status st) {
  if (!local_snapshot_ || failed_) return;
  storage::SnapshotStore::Writer w = std::move(*local_snapshot_);
  local_snapshot_.reset();
  if (!st) {
    snapshots_->abandon(w);
    ++stats_.snapshots_failed;
    finish_snapshot_waiters(LogIndex{0}, SnapshotOutcome::kFailed);
    return;
  }
  auto meta = snapshots_->finish(w, local_snapshot_membership_);
  if (!meta) {
    fail_stop(Error{meta.error().code, "snapshot write failed: " + meta.error().message});
    return;
  }
  raft_->snapshot_written(*meta);
  last_snapshot_index_ = std::max(last_snapshot_index_, meta->index);
  ++stats_.snapshots_taken;
  observer_->on_snapshot_taken(id(), *meta);
  // Only now that the snapshot is durable does the log lose what it covers, minus a tail kept for
  // followers that are only a little behind (a waiter may ask for another tail: the largest of
  // those asked for this snapshot wins, so nobody keeps fewer entries than they asked).
  bool overridden = false;
  uint64_t trailing = 0;
  for (const auto& wt : snapshot_waiters_) {
    if (wt.target > meta->index) continue;
    trailing = std::max(trailing, wt.trailing_logs.value_or(cfg_.trailing_logs));
    overridden = true;
  }
  if (!overridden) trailing = cfg_.trailing_logs;
  const LogIndex keep_from = meta->index - std::min<uint64_t>(trailing, meta->index.v);
  raft_->compact(keep_from);
  Status c = store_->compact(raft_->log().floor_index());
  if (c) c = snapshots_->retain(cfg_.snapshots_retained);
  if (!c) {
    fail_stop(Error{c.error().code, "compaction failed: " + c.error().message});
    return;
  }
  finish_snapshot_waiters(meta->index, SnapshotOutcome::kTaken);
  // Waiters that asked after this snapshot started need the next one.
  if (!snapshot_waiters_.empty()) {
    force_snapshot_ = true;
    if (!processing_) maybe_start_snapshot();
  }
}

void Node::fail_stop(Error why) {
  if (failed_) return;
  failed_ = true;
  failure_ = why.message;
  stop();
  observer_->on_fail_stop(id(), why);
  finish_snapshot_waiters(LogIndex{0}, SnapshotOutcome::kFailed);
}

}  // namespace rq
