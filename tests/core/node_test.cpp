// The driver on simulated parts: recovery, the ready loop, fail-stop on bad disks, hostile bytes.
#include "core/node.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>

#include "core/storage/log_store.h"
#include "core/wire/codec.h"
#include "sim/event_queue.h"
#include "sim/sim_clock.h"
#include "sim/sim_disk.h"

namespace rq {
namespace {

class Recorder final : public StateMachine, public NodeObserver {
 public:
  void apply(const raft::Entry& e) override {
    applied.push_back(e);
    if (e.type == raft::EntryType::kNormal) state += e.data + ";";
  }
  // Writes the image at once, or (hold_snapshots) keeps the sink for the test to finish later.
  void snapshot(std::shared_ptr<SnapshotSink> sink) override {
    if (hold_snapshots) {
      held_image = state;
      held = std::move(sink);
      return;
    }
    Status st = sink->write(state);
    sink->finish(st);
  }
  void finish_held() {
    Status st = held->write(held_image);
    held->finish(st);
    held.reset();
  }
  bool hold_snapshots = false;
  std::shared_ptr<SnapshotSink> held;
  std::string held_image;
  std::string state;
  Status restore(const SnapshotReader& read, uint64_t size) override {
    auto image = read(0, size);
    if (!image) return image.error();
    restored = *image;
    state = *image;
    applied.clear();
    return ok_status();
  }
  std::string restored;
  void on_fail_stop(NodeId, const Error& why) override { failures.push_back(why); }
  std::vector<raft::Entry> applied;
  std::vector<Error> failures;
};

class Mailbox final : public Transport {
 public:
  void send(NodeId to, std::string bytes) override { sent.emplace_back(to, std::move(bytes)); }
  std::vector<std::pair<NodeId, std::string>> sent;
};

// One node on simulated time and disk; `voters` decides whether it can lead alone.
class NodeHarness {
 public:
  explicit NodeHarness(std::vector<NodeId> voters, sim::SimDiskOptions dopts = {})
      : disk_(Prng(9), dopts),
        clock_([this] { return q_.now(); }, [this](Duration at, std::function<void()> fn) { q_.at(at, fn); }, 0) {
    cfg_.raft.id = NodeId(1);
    cfg_.raft.voters = std::move(voters);
    cfg_.raft.election_ticks = 5;
    cfg_.tick_interval = std::chrono::milliseconds(10);
  }

  void boot() {
    rec_ = std::make_unique<Recorder>();
    node_ = std::make_unique<Node>(cfg_, clock_, mail_, disk_, Prng(++boots_), *rec_, rec_.get());
    status_ok_ = node_->start().ok();
  }
  void crash() {
    node_.reset();
    clock_.clear_timers();
    disk_.crash(q_.now());
  }
  void run_for(Duration d) {
    const Duration until = q_.now() + d;
    for (int guard = 0; guard < 100000 && !q_.empty() && q_.next_time() <= until; ++guard) q_.run_next();
  }

  sim::EventQueue q_;
  sim::SimDisk disk_;
  sim::SimClock clock_;
  Mailbox mail_;
  NodeConfig cfg_;
  std::unique_ptr<Recorder> rec_;
  std::unique_ptr<Node> node_;
  bool status_ok_ = false;
  uint64_t boots_ = 0;
};

TEST(Node, SingleVoter_ElectsItselfAndApplies) {
  NodeHarness h({NodeId(1)});
  h.boot();
  ASSERT_TRUE(h.status_ok_);
  h.run_for(std::chrono::seconds(1));
  ASSERT_EQ(h.node_->raft().role(), raft::Role::kLeader);
  const auto r = h.node_->propose("hello");
  ASSERT_EQ(r.status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::milliseconds(50));
  ASSERT_FALSE(h.rec_->applied.empty());
  EXPECT_EQ(h.rec_->applied.back().data, "hello");
  EXPECT_EQ(h.rec_->applied.back().index, r.index);
  EXPECT_GT(h.node_->stats().syncs, 0u);
}

TEST(Node, Restart_RecoversLogAndReapplies) {
  NodeHarness h({NodeId(1)});
  h.boot();
  h.run_for(std::chrono::seconds(1));
  for (int i = 0; i < 5; ++i) ASSERT_EQ(h.node_->propose("v" + std::to_string(i)).status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::milliseconds(100));
  const auto before = h.rec_->applied;
  const Term term = h.node_->raft().term();
  h.crash();
  h.boot();
  ASSERT_TRUE(h.status_ok_);
  EXPECT_GE(h.node_->raft().term(), term);
  EXPECT_EQ(h.node_->raft().log().last_index(), before.back().index);
  h.run_for(std::chrono::seconds(1));
  ASSERT_GE(h.rec_->applied.size(), before.size());
  for (size_t k = 0; k < before.size(); ++k) EXPECT_EQ(h.rec_->applied[k], before[k]);
}

TEST(Node, FailedSync_StopsTheNode) {
  sim::SimDiskOptions dopts;
  dopts.sync_fail_ppm = 1'000'000;
  NodeHarness h({NodeId(1)}, dopts);
  h.boot();
  EXPECT_FALSE(h.status_ok_);
  EXPECT_TRUE(h.node_->failed());
  ASSERT_EQ(h.rec_->failures.size(), 1u);
  EXPECT_EQ(h.rec_->failures[0].code, ErrorCode::kIo);
  EXPECT_EQ(h.node_->propose("x").status, raft::ProposeStatus::kNotLeader);
}

TEST(Node, CorruptLog_StopsWithCorrupt) {
  NodeHarness h({NodeId(1)});
  h.boot();
  h.run_for(std::chrono::seconds(1));
  ASSERT_EQ(h.node_->propose("a").status, raft::ProposeStatus::kOk);
  ASSERT_EQ(h.node_->propose("b").status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::milliseconds(50));
  h.node_.reset();
  // Flip a byte inside the first record after the segment header: valid records follow it.
  auto names = h.disk_.list();
  ASSERT_TRUE(names.ok());
  const std::string seg = names->front();
  auto b = h.disk_.read(seg, storage::kSegmentHeaderBytes + 20, 1);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(h.disk_.write(seg, storage::kSegmentHeaderBytes + 20, std::string(1, static_cast<char>((*b)[0] ^ 0x5a))).ok());
  h.boot();
  EXPECT_FALSE(h.status_ok_);
  ASSERT_EQ(h.rec_->failures.size(), 1u);
  EXPECT_EQ(h.rec_->failures[0].code, ErrorCode::kCorrupt);
}

// ---- seeds 11350 and 18224 of the simulator, as a scripted sequence ----------------------------

raft::Message append_from(uint64_t from, uint64_t term, uint64_t prev_index, uint64_t prev_term,
                          std::vector<raft::Entry> ents, uint64_t commit) {
  raft::Message m;
  m.type = raft::MessageType::kApp;
  m.from = NodeId(from);
  m.to = NodeId(1);
  m.term = Term(term);
  m.index = LogIndex(prev_index);
  m.log_term = Term(prev_term);
  m.entries = std::move(ents);
  m.commit = LogIndex(commit);
  return m;
}

raft::Entry entry_at(uint64_t index, uint64_t term, raft::EntryType type = raft::EntryType::kNormal) {
  return raft::Entry{Term(term), LogIndex(index), type, type == raft::EntryType::kNormal ? "w" + std::to_string(index) : ""};
}

// The last message node 1 sent to `to`, decoded.
std::optional<raft::Message> last_sent_to(const Mailbox& mail, uint64_t to) {
  for (auto it = mail.sent.rbegin(); it != mail.sent.rend(); ++it) {
    if (it->first != NodeId(to)) continue;
    auto m = wire::decode(it->second);
    if (m.ok()) return *m;
  }
  return std::nullopt;
}

// A follower acknowledged entries 1-4 to the leader of term 28; term 29's leader, elected with a
// log ending at entry 2, replaced 3-4 with its own entry 3. That one write held the entry record
// and then the hard state with term 29, and the power failed before its sync, tearing it between
// the two. The node must start in term 29 (the entry proves it exists), not in term 28 behind
// its own log: there it would accept the old leader's stale appends and acknowledge in term 28
// again, and could win an election for a term between the two and append after entries of a
// newer term.
TEST(Node, WriteTornBetweenANewLeadersEntriesAndItsTerm_RestartsInThatTerm) {
  sim::SimDiskOptions dopts;  // a sync takes 5 ms: until then what it covers is not durable
  dopts.sync_latency_min = dopts.sync_latency_max = std::chrono::milliseconds(5);
  NodeHarness h({NodeId(1), NodeId(2), NodeId(3)}, dopts);
  h.disk_.set_now([&h] { return h.q_.now(); });
  h.disk_.set_busy([&h](Duration d) { return h.q_.now() + d; });
  h.boot();
  h.node_->receive(wire::encode(append_from(2, 28, 0, 0, {entry_at(1, 28), entry_at(2, 28), entry_at(3, 28), entry_at(4, 28)}, 2)));
  auto ack = last_sent_to(h.mail_, 2);
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->type, raft::MessageType::kAppResp);
  EXPECT_FALSE(ack->reject);
  EXPECT_EQ(ack->index, LogIndex(4));
  EXPECT_EQ(ack->term, Term(28));

  h.run_for(std::chrono::milliseconds(10));  // that sync completes
  const raft::Entry noop29 = entry_at(3, 29, raft::EntryType::kNoop);
  h.node_->receive(wire::encode(append_from(3, 29, 2, 28, {noop29}, 2)));
  ASSERT_EQ(h.node_->raft().term(), Term(29));
  std::string segment;
  for (const auto& name : h.disk_.list().value()) {
    if (name.rfind("wal-", 0) == 0) segment = name;
  }
  ASSERT_FALSE(segment.empty());
  h.node_.reset();
  h.clock_.clear_timers();
  h.disk_.crash_keeping(h.q_.now(), segment, storage::encode_entry_record(noop29).size());
  EXPECT_EQ(h.disk_.stats().torn_writes, 1u);

  h.boot();
  ASSERT_TRUE(h.status_ok_);
  const raft::Raft& r = h.node_->raft();
  EXPECT_EQ(r.log().last_index(), LogIndex(3));
  EXPECT_EQ(r.log().term(LogIndex(3)), Term(29));
  EXPECT_EQ(r.term(), Term(29));
  EXPECT_EQ(r.hard_state().vote, kNoNode);

  // A duplicate of term 28's first append arrives late: refused, entry 3 stays term 29's.
  h.mail_.sent.clear();
  h.node_->receive(wire::encode(append_from(2, 28, 2, 28, {entry_at(3, 28), entry_at(4, 28)}, 2)));
  EXPECT_EQ(h.node_->raft().log().term(LogIndex(3)), Term(29));
  EXPECT_EQ(h.node_->raft().log().last_index(), LogIndex(3));
  auto reply = last_sent_to(h.mail_, 2);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->term, Term(29));
}

// rqlite's peers.json recovery (Node::recover): a node of {1, 2, 3} holding a log whose tail is not
// known to be committed comes back alone, with everything it held applied.
TEST(Node, Recover_RewritesTheMembershipAndCommitsTheWholeLog) {
  NodeHarness h({NodeId(1), NodeId(2), NodeId(3)});
  h.boot();
  h.node_->receive(wire::encode(append_from(2, 3, 0, 0, {entry_at(1, 3), entry_at(2, 3), entry_at(3, 3), entry_at(4, 3)}, 2)));
  h.run_for(std::chrono::milliseconds(10));
  ASSERT_EQ(h.rec_->applied.size(), 2u);  // committed up to 2 only
  h.node_.reset();
  h.clock_.clear_timers();

  h.rec_ = std::make_unique<Recorder>();
  h.node_ = std::make_unique<Node>(h.cfg_, h.clock_, h.mail_, h.disk_, Prng(77), *h.rec_, h.rec_.get());
  const raft::Membership alone({raft::Member{NodeId(1), "n1", true, false, 0, "one"}});
  auto at = h.node_->recover(alone);
  ASSERT_TRUE(at.ok()) << at.error().message;
  EXPECT_EQ(at->first, LogIndex(4));
  EXPECT_EQ(at->second, Term(3));
  EXPECT_EQ(h.rec_->state, "w1;w2;w3;w4;");  // every entry it held, applied
  h.rec_ = std::make_unique<Recorder>();
  h.node_ = std::make_unique<Node>(h.cfg_, h.clock_, h.mail_, h.disk_, Prng(78), *h.rec_, h.rec_.get());
  ASSERT_TRUE(h.node_->start().ok());
  EXPECT_EQ(h.rec_->restored, "w1;w2;w3;w4;");
  EXPECT_EQ(h.node_->raft().voters(), (std::vector<NodeId>{NodeId(1)}));
  EXPECT_EQ(h.node_->raft().log().committed(), LogIndex(4));
  h.run_for(std::chrono::seconds(1));
  EXPECT_EQ(h.node_->raft().role(), raft::Role::kLeader);
  ASSERT_EQ(h.node_->propose("after").status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(h.rec_->state, "w1;w2;w3;w4;after;");
}

TEST(Node, Recover_NothingToRecover_IsAnError) {
  NodeHarness h({NodeId(1)});
  h.rec_ = std::make_unique<Recorder>();
  h.node_ = std::make_unique<Node>(h.cfg_, h.clock_, h.mail_, h.disk_, Prng(1), *h.rec_, h.rec_.get());
  auto at = h.node_->recover(raft::Membership({raft::Member{NodeId(1), "n1", true, false, 0, ""}}));
  ASSERT_FALSE(at.ok());
  EXPECT_EQ(at.error().message, "this node has no Raft state to recover");
}

size_t count_files(sim::SimDisk& d, const std::string& prefix) {
  size_t n = 0;
  for (const auto& name : d.list().value()) n += name.rfind(prefix, 0) == 0 ? 1 : 0;
  return n;
}

TEST(Node, Snapshot_TakenAtThreshold_LogCompactedKeepingTrailingEntries) {
  NodeHarness h({NodeId(1)});
  h.cfg_.snapshot_threshold = 10;
  h.cfg_.trailing_logs = 3;
  h.cfg_.store.max_segment_bytes = 256;  // many segments, so compaction can delete some
  h.boot();
  h.run_for(std::chrono::seconds(1));
  for (int i = 0; i < 40; ++i) ASSERT_EQ(h.node_->propose("v" + std::to_string(i)).status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::milliseconds(100));
  EXPECT_GE(h.node_->stats().snapshots_taken, 3u);
  const auto& log = h.node_->raft().log();
  ASSERT_TRUE(h.node_->raft().snapshot().has_value());
  const LogIndex snap = h.node_->raft().snapshot()->index;
  EXPECT_EQ(log.floor_index(), snap - 3);  // trailing entries kept
  EXPECT_LE(count_files(h.disk_, "snap-"), 2u);  // older snapshots pruned
  EXPECT_GE(count_files(h.disk_, "snap-"), 1u);
  EXPECT_LT(count_files(h.disk_, "wal-"), 40u);
}

// rqlite's -raft-snap-int: the threshold is looked at every interval (a fresh random wait between
// it and twice it), not after every batch.
TEST(Node, SnapshotInterval_ThresholdLookedAtOnlyWhenItPasses) {
  NodeHarness h({NodeId(1)});
  h.cfg_.snapshot_threshold = 10;
  h.cfg_.snapshot_interval = std::chrono::seconds(2);
  h.boot();
  h.run_for(std::chrono::milliseconds(500));
  for (int i = 0; i < 40; ++i) ASSERT_EQ(h.node_->propose("v" + std::to_string(i)).status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::milliseconds(1000));  // 1.5 s since start: no check has run yet
  EXPECT_EQ(h.node_->stats().snapshots_taken, 0u);
  h.run_for(std::chrono::milliseconds(2600));  // past 4 s: the first check has run
  EXPECT_EQ(h.node_->stats().snapshots_taken, 1u);
  // Below the threshold since that snapshot: later checks take none.
  for (int i = 0; i < 5; ++i) ASSERT_EQ(h.node_->propose("w" + std::to_string(i)).status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::seconds(10));
  EXPECT_EQ(h.node_->stats().snapshots_taken, 1u);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(h.node_->propose("x" + std::to_string(i)).status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::seconds(5));  // within 4 s of any moment a check runs
  EXPECT_EQ(h.node_->stats().snapshots_taken, 2u);
}

TEST(Node, Restart_RestoresFromSnapshotThenReplaysTheRest) {
  NodeHarness h({NodeId(1)});
  h.cfg_.snapshot_threshold = 10;
  h.cfg_.trailing_logs = 0;
  h.boot();
  h.run_for(std::chrono::seconds(1));
  for (int i = 0; i < 25; ++i) ASSERT_EQ(h.node_->propose("v" + std::to_string(i)).status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::milliseconds(100));
  const std::string before = h.rec_->state;
  const LogIndex snap = h.node_->raft().snapshot()->index;
  const LogIndex last = h.node_->raft().log().last_index();
  ASSERT_GT(snap.v, 0u);
  h.crash();
  h.boot();
  ASSERT_TRUE(h.status_ok_);
  EXPECT_FALSE(h.rec_->restored.empty());
  h.run_for(std::chrono::seconds(1));
  // Only what came after the snapshot is applied again, and the state is the same.
  ASSERT_FALSE(h.rec_->applied.empty());
  EXPECT_EQ(h.rec_->applied.front().index, snap + 1);
  EXPECT_GE(h.node_->raft().log().last_index(), last);
  EXPECT_EQ(h.rec_->state.substr(0, before.size()), before);
}

TEST(Node, Snapshot_FinishedLater_LoopKeepsApplying) {
  NodeHarness h({NodeId(1)});
  h.cfg_.snapshot_threshold = 5;
  h.cfg_.trailing_logs = 0;
  h.boot();
  h.rec_->hold_snapshots = true;
  h.run_for(std::chrono::seconds(1));
  for (int i = 0; i < 20; ++i) ASSERT_EQ(h.node_->propose("v" + std::to_string(i)).status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::milliseconds(100));
  ASSERT_NE(h.rec_->held, nullptr);
  // The snapshot is still being written: nothing compacted, entries kept being applied.
  EXPECT_EQ(h.node_->stats().snapshots_taken, 0u);
  EXPECT_EQ(h.node_->raft().log().floor_index().v, 0u);
  EXPECT_GT(h.node_->raft().log().applied().v, 10u);
  h.rec_->finish_held();
  EXPECT_EQ(h.node_->stats().snapshots_taken, 1u);
  EXPECT_GT(h.node_->raft().log().floor_index().v, 0u);
}

TEST(Node, DamagedNewestSnapshot_OlderOneUsed) {
  NodeHarness h({NodeId(1)});
  h.cfg_.snapshot_threshold = 10;
  h.cfg_.trailing_logs = 100;  // the log still covers the older snapshot's successors
  h.boot();
  h.run_for(std::chrono::seconds(1));
  for (int i = 0; i < 25; ++i) ASSERT_EQ(h.node_->propose("v" + std::to_string(i)).status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::milliseconds(100));
  ASSERT_EQ(count_files(h.disk_, "snap-"), 2u);
  const std::string state = h.rec_->state;
  h.crash();
  // Flip a byte in the newest snapshot's image.
  std::string newest;
  for (const auto& n : h.disk_.list().value()) {
    if (n.rfind("snap-", 0) == 0) newest = n;
  }
  auto b = h.disk_.read(newest, 0, 1);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(h.disk_.write(newest, 0, std::string(1, static_cast<char>((*b)[0] ^ 0x20))).ok());
  ASSERT_TRUE(h.disk_.sync(newest).ok());
  h.boot();
  ASSERT_TRUE(h.status_ok_);
  EXPECT_EQ(h.node_->stats().snapshots_skipped, 1u);
  h.run_for(std::chrono::seconds(1));
  EXPECT_EQ(h.rec_->state.substr(0, state.size()), state);
}

TEST(Node, GarbageAndMisaddressedBytes_AreCountedAndIgnored) {
  NodeHarness h({NodeId(1), NodeId(2), NodeId(3)});
  h.boot();
  h.node_->receive("not a cap'n proto message");
  h.node_->receive(std::string(64, '\xff'));
  raft::Message m;
  m.type = raft::MessageType::kHeartbeat;
  m.from = NodeId(2);
  m.to = NodeId(7);
  m.term = Term(1);
  h.node_->receive(wire::encode(m));
  EXPECT_EQ(h.node_->stats().messages_rejected, 3u);
  EXPECT_TRUE(h.node_->running());
  m.to = NodeId(1);
  h.node_->receive(wire::encode(m));
  EXPECT_EQ(h.node_->stats().messages_received, 1u);
  EXPECT_EQ(h.node_->raft().lead(), NodeId(2));
}

TEST(Node, Follower_CampaignsAfterTimeout_AndVoteLeavesOnlyAfterSync) {
  NodeHarness h({NodeId(1), NodeId(2), NodeId(3)});
  h.boot();
  h.run_for(std::chrono::seconds(1));
  // With pre-vote, the first requests are PreVotes at term+1 and the term has not moved.
  ASSERT_FALSE(h.mail_.sent.empty());
  auto m = wire::decode(h.mail_.sent.front().second);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, raft::MessageType::kPreVote);
  EXPECT_EQ(h.node_->raft().term(), Term(0));
}


// ---- snapshots asked for by a caller that waits (rqlite's POST /snapshot) ------------------------

struct SnapshotAnswers {
  std::vector<SnapshotOutcome> got;
  std::function<void(SnapshotOutcome)> sink() {
    return [this](SnapshotOutcome o) { got.push_back(o); };
  }
};

TEST(Node, RequestSnapshot_DurableThenCompactedWithTheTrailingLogsAsked) {
  NodeHarness h({NodeId(1)});
  h.cfg_.snapshot_threshold = 1000;  // never by threshold here
  h.cfg_.trailing_logs = 100;
  h.boot();
  h.run_for(std::chrono::seconds(1));
  for (int i = 0; i < 20; ++i) ASSERT_EQ(h.node_->propose("v" + std::to_string(i)).status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::milliseconds(100));
  const LogIndex applied = h.node_->raft().log().applied();
  SnapshotAnswers a;
  h.node_->request_snapshot(SnapshotRequest{2}, a.sink());
  ASSERT_EQ(a.got, std::vector<SnapshotOutcome>{SnapshotOutcome::kTaken});
  ASSERT_TRUE(h.node_->raft().snapshot().has_value());
  EXPECT_EQ(h.node_->raft().snapshot()->index, applied);
  EXPECT_EQ(count_files(h.disk_, "snap-"), 1u);
  // The override, not the configured 100, decided how much of the log stayed.
  EXPECT_EQ(h.node_->raft().log().floor_index(), applied - 2);
  EXPECT_EQ(h.node_->stats().snapshots_taken, 1u);
}

TEST(Node, RequestSnapshot_NothingAppliedSinceTheLast_IsNothingNew) {
  NodeHarness h({NodeId(1)});
  h.boot();
  h.run_for(std::chrono::seconds(1));
  ASSERT_EQ(h.node_->propose("a").status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::milliseconds(50));
  SnapshotAnswers a;
  h.node_->request_snapshot(SnapshotRequest{}, a.sink());
  h.node_->request_snapshot(SnapshotRequest{}, a.sink());
  EXPECT_EQ(a.got, (std::vector<SnapshotOutcome>{SnapshotOutcome::kTaken, SnapshotOutcome::kNothingNew}));
  EXPECT_EQ(h.node_->stats().snapshots_taken, 1u);
  // Without an override the configured tail is kept.
  EXPECT_EQ(h.node_->raft().log().floor_index().v, 0u);
}

TEST(Node, RequestSnapshot_WhileAnOlderOneIsBeingWritten_WaitsForOneThatCoversIt) {
  NodeHarness h({NodeId(1)});
  h.cfg_.snapshot_threshold = 5;
  h.cfg_.trailing_logs = 0;
  h.boot();
  h.rec_->hold_snapshots = true;
  h.run_for(std::chrono::seconds(1));
  for (int i = 0; i < 20; ++i) ASSERT_EQ(h.node_->propose("v" + std::to_string(i)).status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::milliseconds(100));
  ASSERT_NE(h.rec_->held, nullptr);  // a threshold snapshot, started before the last entries
  const LogIndex applied = h.node_->raft().log().applied();
  SnapshotAnswers a;
  h.node_->request_snapshot(SnapshotRequest{}, a.sink());
  EXPECT_TRUE(a.got.empty());
  // finish_held() drops the sink after finishing, which here would drop the next one too.
  const auto finish = [&h] {
    auto sink = std::move(h.rec_->held);
    ASSERT_TRUE(sink->write(h.rec_->held_image).ok());
    sink->finish(ok_status());
  };
  finish();  // covers less than was applied at the request: not enough
  EXPECT_TRUE(a.got.empty());
  ASSERT_NE(h.rec_->held, nullptr);  // so another one was started at once
  finish();
  ASSERT_EQ(a.got, std::vector<SnapshotOutcome>{SnapshotOutcome::kTaken});
  EXPECT_GE(h.node_->raft().snapshot()->index, applied);
}

TEST(Node, RequestSnapshot_StateMachineFails_AnswersFailed) {
  NodeHarness h({NodeId(1)});
  h.cfg_.snapshot_threshold = 1000;
  h.boot();
  h.rec_->hold_snapshots = true;
  h.run_for(std::chrono::seconds(1));
  ASSERT_EQ(h.node_->propose("a").status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::milliseconds(50));
  SnapshotAnswers a;
  h.node_->request_snapshot(SnapshotRequest{}, a.sink());
  ASSERT_NE(h.rec_->held, nullptr);
  h.rec_->held->finish(make_error(ErrorCode::kIo, "disk full"));
  h.rec_->held.reset();
  EXPECT_EQ(a.got, std::vector<SnapshotOutcome>{SnapshotOutcome::kFailed});
  EXPECT_EQ(h.node_->stats().snapshots_failed, 1u);
  EXPECT_EQ(h.node_->stats().snapshots_taken, 0u);
  EXPECT_TRUE(h.node_->running());  // a failed snapshot is not a fail-stop
}

TEST(Node, RequestSnapshot_OnAStoppedNode_AnswersFailed) {
  sim::SimDiskOptions dopts;
  dopts.sync_fail_ppm = 1'000'000;
  NodeHarness h({NodeId(1)}, dopts);
  h.boot();
  ASSERT_TRUE(h.node_->failed());
  SnapshotAnswers a;
  h.node_->request_snapshot(SnapshotRequest{}, a.sink());
  EXPECT_EQ(a.got, std::vector<SnapshotOutcome>{SnapshotOutcome::kFailed});
}

TEST(Node, ReapSnapshots_KeepsOnlyTheNewest_AndCountsWhatWent) {
  NodeHarness h({NodeId(1)});
  h.cfg_.snapshot_threshold = 1000;
  h.cfg_.trailing_logs = 100;
  h.boot();
  h.run_for(std::chrono::seconds(1));
  SnapshotAnswers a;
  for (int round = 0; round < 2; ++round) {
    ASSERT_EQ(h.node_->propose("v" + std::to_string(round)).status, raft::ProposeStatus::kOk);
    h.run_for(std::chrono::milliseconds(50));
    h.node_->request_snapshot(SnapshotRequest{}, a.sink());
  }
  ASSERT_EQ(count_files(h.disk_, "snap-"), 2u);
  auto reaped = h.node_->reap_snapshots(1);
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 1u);
  EXPECT_EQ(count_files(h.disk_, "snap-"), 1u);
  reaped = h.node_->reap_snapshots(1);
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, 0u);
  // The newest one is what a restart uses.
  const LogIndex snap = h.node_->raft().snapshot()->index;
  h.crash();
  h.boot();
  ASSERT_TRUE(h.status_ok_);
  EXPECT_EQ(h.node_->stats().snapshots_restored_at_start, 1u);
  EXPECT_EQ(h.node_->raft().log().floor_index() <= snap, true);
}

// ---- the leader's commit index as a follower hears it (rqlite's /readyz?sync) --------------------

raft::Message append_from(NodeId from, Term term, LogIndex prev, Term prev_term, std::vector<raft::Entry> entries,
                          LogIndex commit) {
  raft::Message m;
  m.type = raft::MessageType::kApp;
  m.from = from;
  m.to = NodeId(1);
  m.term = term;
  m.index = prev;
  m.log_term = prev_term;
  m.entries = std::move(entries);
  m.commit = commit;
  return m;
}

TEST(Node, LeaderCommit_LeaderKnowsItsOwn) {
  NodeHarness h({NodeId(1)});
  h.boot();
  h.run_for(std::chrono::seconds(1));
  ASSERT_EQ(h.node_->propose("a").status, raft::ProposeStatus::kOk);
  h.run_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(h.node_->leader_commit().has_value());
  EXPECT_EQ(*h.node_->leader_commit(), h.node_->raft().log().committed());
  EXPECT_GT(h.node_->leader_commit()->v, 0u);
}

TEST(Node, LeaderCommit_FollowerTakesTheLargestFromTheCurrentLeaderOnly) {
  NodeHarness h({NodeId(1), NodeId(2), NodeId(3)});
  h.boot();
  EXPECT_FALSE(h.node_->leader_commit().has_value());  // no leader heard yet
  // The leader (2) says it committed 5 while sending only entry 1: the follower cannot commit
  // past what it holds, but it knows where the leader is.
  h.node_->receive(wire::encode(append_from(NodeId(2), Term(1), LogIndex(0), Term(0),
                                            {raft::Entry{Term(1), LogIndex(1), raft::EntryType::kNoop, ""}},
                                            LogIndex(5))));
  ASSERT_EQ(h.node_->raft().lead(), NodeId(2));
  ASSERT_TRUE(h.node_->leader_commit().has_value());
  EXPECT_EQ(*h.node_->leader_commit(), LogIndex(5));
  EXPECT_LT(h.node_->raft().log().committed(), LogIndex(5));
  // A heartbeat carries min(match, commit): smaller, and it must not lower what is known.
  raft::Message hb;
  hb.type = raft::MessageType::kHeartbeat;
  hb.from = NodeId(2);
  hb.to = NodeId(1);
  hb.term = Term(1);
  hb.commit = LogIndex(1);
  h.node_->receive(wire::encode(hb));
  EXPECT_EQ(*h.node_->leader_commit(), LogIndex(5));
  // A new leader in a new term starts over.
  hb.from = NodeId(3);
  hb.term = Term(2);
  hb.commit = LogIndex(1);
  h.node_->receive(wire::encode(hb));
  ASSERT_EQ(h.node_->raft().lead(), NodeId(3));
  EXPECT_EQ(*h.node_->leader_commit(), LogIndex(1));
}

}  // namespace
}  // namespace rq
