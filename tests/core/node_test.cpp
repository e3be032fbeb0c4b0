// The driver on simulated parts: recovery, the ready loop, fail-stop on bad disks, hostile bytes.
#include "core/node.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "core/storage/log_store.h"
#include "core/wire/codec.h"
#include "sim/event_queue.h"
#include "sim/sim_clock.h"
#include "sim/sim_disk.h"

namespace rq {
namespace {

class Recorder final : public StateMachine, public NodeObserver {
 public:
  void apply(const raft::Entry& e) override { applied.push_back(e); }
  void snapshot(std::shared_ptr<SnapshotSink> sink) override {
    std::string image;
    for (const auto& e : applied) image += e.data + ";";
    Status st = sink->write(image);
    sink->finish(st);
  }
  Status restore(const SnapshotReader& read, uint64_t size) override {
    auto image = read(0, size);
    if (!image) return image.error();
    restored = *image;
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

}  // namespace
}  // namespace rq
