// The write queue on a real node (Node + SqliteMachine + Service) over simulated time and disk:
// batching by statements, barriers, retries, exactly-once across an unknown outcome, back-pressure.
#include "server/write_queue.h"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <optional>

#include "sim/event_queue.h"
#include "sim/sim_clock.h"
#include "sim/sim_disk.h"

namespace rq::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class NullTransport final : public Transport {
 public:
  void send(NodeId, std::string) override {}
};

// One voter with the service, and a queue whose batches go through `intercept` first.
class QueueHarness {
 public:
  // What the test does with a batch on its way to the service: pass it on, or answer itself.
  std::function<void(svc::Request, svc::Done)> intercept;
  std::vector<svc::Request> sent;  // every attempt, in order

  explicit QueueHarness(WriteQueueOptions wo = {}) {
    clock_ = std::make_unique<sim::SimClock>(
        [this] { return q_.now(); },
        [this](Duration at, std::function<void()> fn) { q_.at(at, fn); }, 0);
    auto sm = sql::SqliteMachine::open({});
    EXPECT_TRUE(sm.ok());
    sm_ = std::move(*sm);
    NodeConfig cfg;
    cfg.raft.id = NodeId(1);
    cfg.raft.election_ticks = 10;
    cfg.raft.heartbeat_ticks = 1;
    cfg.tick_interval = milliseconds(10);
    node_ = std::make_unique<Node>(cfg, *clock_, transport_, disk_, Prng(7), *sm_, nullptr);
    service_ =
        std::make_unique<svc::Service>(*node_, *sm_, *clock_, Prng(8), svc::ServiceOptions{});
    EXPECT_TRUE(
        node_->start(raft::Membership({raft::Member{NodeId(1), "n1", true, false, 0}})).ok());
    node_->campaign();
    run_for(milliseconds(100));
    EXPECT_EQ(node_->raft().role(), raft::Role::kLeader);
    intercept = [this](svc::Request r, svc::Done d) { pass(std::move(r), std::move(d)); };
    queue_ = std::make_unique<WriteQueue>(
        *clock_,
        [this](svc::Request r, svc::Done d) {
          sent.push_back(r);
          intercept(std::move(r), std::move(d));
        },
        wo, kFirst, 42);
    sql_("CREATE TABLE t (v)");
  }

  static constexpr int64_t kFirst = 1'000'000;

  void pass(svc::Request r, svc::Done d) { service_->submit(std::move(r), std::move(d)); }

  void run_for(Duration d) {
    const Duration until = q_.now() + d;
    for (int guard = 0; guard < 1'000'000 && !q_.empty() && q_.next_time() <= until; ++guard)
      q_.run_next();
  }

  // Queues one request; the sequence number (or the error) once admitted.
  std::shared_ptr<std::optional<Result<int64_t>>> enqueue(std::vector<sql::Statement> s,
                                                          Duration wait_for_room = seconds(30)) {
    auto out = std::make_shared<std::optional<Result<int64_t>>>();
    queue_->enqueue(std::move(s), wait_for_room, [out](Result<int64_t> r) { *out = std::move(r); });
    return out;
  }
  static std::vector<sql::Statement> insert(int v, int n = 1) {
    std::vector<sql::Statement> s;
    for (int k = 0; k < n; ++k)
      s.push_back(sql::Statement{"INSERT INTO t VALUES(" + std::to_string(v) + ")", {}});
    return s;
  }
  int64_t rows() {
    auto r = sm_->query({sql::Statement{"SELECT count(*) FROM t", {}}}, false);
    return r.results.at(0).rows.at(0).at(0).integer;
  }
  std::vector<size_t> batch_sizes() const {
    std::vector<size_t> out;
    for (const auto& r : sent) out.push_back(r.statements.size());
    return out;
  }

  WriteQueue& queue() { return *queue_; }

 private:
  void sql_(const std::string& s) {
    svc::Request r;
    r.statements.push_back(sql::Statement{s, {}});
    bool done = false;
    service_->submit(r, [&done](svc::Response) { done = true; });
    run_for(milliseconds(50));
    EXPECT_TRUE(done);
  }

  sim::EventQueue q_;
  sim::SimDisk disk_{Prng(3), sim::SimDiskOptions{}};
  NullTransport transport_;
  std::unique_ptr<sim::SimClock> clock_;
  std::unique_ptr<sql::SqliteMachine> sm_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<svc::Service> service_;
  std::unique_ptr<WriteQueue> queue_;
};

TEST(WriteQueue, Batches_UpToBatchSizeStatements_PartialOneAfterTheTimeout) {
  WriteQueueOptions wo;
  wo.batch_size = 3;
  QueueHarness h(wo);
  std::vector<int64_t> seqs;
  for (int i = 0; i < 7; ++i) {
    auto r = h.enqueue(QueueHarness::insert(i));
    ASSERT_TRUE(r->has_value() && (*r)->ok());
    seqs.push_back(***r);
  }
  EXPECT_EQ(seqs.front(), QueueHarness::kFirst + 1);
  EXPECT_EQ(seqs.back(), QueueHarness::kFirst + 7);
  h.run_for(milliseconds(20));
  EXPECT_EQ(h.batch_sizes(), (std::vector<size_t>{3, 3}));  // the 7th waits for the timeout
  h.run_for(milliseconds(100));
  EXPECT_EQ(h.batch_sizes(), (std::vector<size_t>{3, 3, 1}));
  EXPECT_EQ(h.rows(), 7);
  EXPECT_EQ(h.queue().last_written(), QueueHarness::kFirst + 7);
  EXPECT_EQ(h.queue().stats().statements_tx, 7u);
}

TEST(WriteQueue, ARequestIsNeverSplit_ALargeOneGoesAlone) {
  WriteQueueOptions wo;
  wo.batch_size = 3;
  QueueHarness h(wo);
  h.enqueue(QueueHarness::insert(1, 2));
  h.enqueue(QueueHarness::insert(2, 5));
  h.enqueue(QueueHarness::insert(3, 1));
  h.run_for(milliseconds(200));
  EXPECT_EQ(h.batch_sizes(), (std::vector<size_t>{2, 5, 1}));
  EXPECT_EQ(h.rows(), 8);
}

TEST(WriteQueue, UnknownOutcome_RetryWithTheSameSessionSeqAppliesOnce) {
  QueueHarness h;
  int attempts = 0;
  // The first attempt is applied, but its answer is lost (a timeout): the queue must retry, and
  // the retry must not apply the statement again.
  h.intercept = [&h, &attempts](svc::Request r, svc::Done d) {
    if (++attempts > 1) return h.pass(std::move(r), std::move(d));
    h.pass(std::move(r), [d](svc::Response) {
      svc::Response lost;
      lost.status = svc::Status::kUnknown;
      lost.error = "timeout";
      d(lost);
    });
  };
  h.enqueue(QueueHarness::insert(1));
  h.run_for(seconds(3));
  ASSERT_EQ(h.sent.size(), 2u);
  EXPECT_EQ(h.sent[0].session, h.sent[1].session);
  EXPECT_EQ(h.sent[0].seq, h.sent[1].seq);
  EXPECT_EQ(h.rows(), 1);
  EXPECT_EQ(h.queue().stats().unknown_error, 1u);
  EXPECT_EQ(h.queue().stats().failed, 1u);
  EXPECT_EQ(h.queue().stats().batches_ok, 1u);
}

TEST(WriteQueue, UnknownOutcome_CheckerCatchesARetryUnderANewSeq) {
  // The same scenario with exactly-once defeated (the retry gets a fresh seq): the row is applied
  // twice, so the test above would notice if the queue did that.
  QueueHarness h;
  int attempts = 0;
  h.intercept = [&h, &attempts](svc::Request r, svc::Done d) {
    if (++attempts > 1) {
      r.seq += 1000;
      return h.pass(std::move(r), std::move(d));
    }
    h.pass(std::move(r), [d](svc::Response) {
      svc::Response lost;
      lost.status = svc::Status::kUnknown;
      d(lost);
    });
  };
  h.enqueue(QueueHarness::insert(1));
  h.run_for(seconds(3));
  EXPECT_EQ(h.rows(), 2);
}

TEST(WriteQueue, NoLeader_RetriedEverySecondUntilItGoesThrough) {
  QueueHarness h;
  int refusals = 2;
  h.intercept = [&h, &refusals](svc::Request r, svc::Done d) {
    if (refusals-- > 0) {
      svc::Response no;
      no.status = svc::Status::kNoLeader;
      return d(no);
    }
    h.pass(std::move(r), std::move(d));
  };
  bool written = false;
  auto seq = h.enqueue(QueueHarness::insert(1));
  h.queue().wait_written(***seq, seconds(10), [&written](bool ok) { written = ok; });
  h.run_for(milliseconds(1500));
  EXPECT_FALSE(written);
  EXPECT_EQ(h.rows(), 0);
  h.run_for(seconds(2));
  EXPECT_TRUE(written);
  EXPECT_EQ(h.rows(), 1);
  EXPECT_EQ(h.sent.size(), 3u);
  EXPECT_EQ(h.queue().stats().no_leader, 2u);
}

TEST(WriteQueue, StatementErrors_CountedAndTheBatchWritten) {
  QueueHarness h;
  std::vector<sql::Statement> s = QueueHarness::insert(1);
  s.push_back(sql::Statement{"INSERT INTO nope VALUES(1)", {}});
  s.push_back(sql::Statement{"INSERT INTO t VALUES(2)", {}});
  h.enqueue(s);
  h.run_for(milliseconds(200));
  EXPECT_EQ(h.rows(), 2);
  EXPECT_EQ(h.queue().stats().statement_errors, 1u);
  EXPECT_EQ(h.queue().stats().failed, 0u);
}

TEST(WriteQueue, EmptyRequest_IsABarrierWrittenWithItsBatch) {
  QueueHarness h;
  h.enqueue(QueueHarness::insert(1));
  auto barrier = h.enqueue({});
  std::optional<bool> done;
  h.queue().wait_written(***barrier, seconds(5), [&done](bool ok) { done = ok; });
  EXPECT_FALSE(done.has_value());
  h.run_for(milliseconds(200));
  ASSERT_EQ(done, std::optional<bool>(true));
  EXPECT_EQ(h.rows(), 1);
  // Already written: answered at once.
  bool again = false;
  h.queue().wait_written(***barrier, seconds(5), [&again](bool ok) { again = ok; });
  EXPECT_TRUE(again);
}

TEST(WriteQueue, Full_CallersWaitForRoomInOrder_OrAreRefusedAtTheirDeadline) {
  WriteQueueOptions wo;
  wo.capacity = 2;
  wo.batch_size = 100;
  QueueHarness h(wo);
  std::deque<std::pair<svc::Request, svc::Done>> held;
  h.intercept = [&held](svc::Request r, svc::Done d) {
    held.emplace_back(std::move(r), std::move(d));
  };
  h.enqueue(QueueHarness::insert(1));
  h.enqueue(QueueHarness::insert(2));
  h.run_for(milliseconds(100));  // that batch is in flight, held
  ASSERT_EQ(held.size(), 1u);
  auto a = h.enqueue(QueueHarness::insert(3));
  auto b = h.enqueue(QueueHarness::insert(4));
  auto refused = h.enqueue(QueueHarness::insert(5), milliseconds(200));
  auto waits = h.enqueue(QueueHarness::insert(6), seconds(30));
  EXPECT_TRUE(a->has_value() && b->has_value());
  EXPECT_FALSE(refused->has_value());
  EXPECT_FALSE(waits->has_value());
  h.run_for(milliseconds(300));
  ASSERT_TRUE(refused->has_value());
  EXPECT_FALSE((*refused)->ok());
  EXPECT_EQ(h.queue().stats().refused_full, 1u);
  EXPECT_FALSE(waits->has_value());
  // The held batch is written: the next one leaves the queue and the waiting caller gets in.
  auto [r, d] = std::move(held.front());
  held.pop_front();
  h.pass(std::move(r), std::move(d));
  h.run_for(milliseconds(100));
  ASSERT_TRUE(waits->has_value());
  ASSERT_TRUE((*waits)->ok());
  EXPECT_EQ(***waits, ***b + 1);  // the refused caller took no sequence number
}

TEST(WriteQueue, WaitWritten_TimesOut) {
  QueueHarness h;
  h.intercept = [](svc::Request, svc::Done) {};  // never answered
  auto s = h.enqueue(QueueHarness::insert(1));
  std::optional<bool> done;
  h.queue().wait_written(***s, milliseconds(500), [&done](bool ok) { done = ok; });
  h.run_for(seconds(1));
  EXPECT_EQ(done, std::optional<bool>(false));
}

}  // namespace
}  // namespace rq::server
