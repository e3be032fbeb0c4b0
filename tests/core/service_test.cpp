// The client service on a small cluster of real nodes (Node + SqliteMachine + Service) over
// simulated time, disks and a network the test controls: results, read levels, forwarding and
// redirects, unknown and failed outcomes, hostile cluster messages.
#include "core/service/service.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <sqlite3.h>

#include <map>
#include <memory>
#include <optional>
#include <set>

#include "core/service/forward_codec.h"
#include "core/wire/codec.h"
#include "sim/event_queue.h"
#include "sim/sim_clock.h"
#include "sim/sim_disk.h"

namespace rq::svc {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Reads wait until the test runs them, as on a busy read pool.
class DeferredReads final : public ReadExecutor {
 public:
  explicit DeferredReads(sql::SqliteMachine& sm) : sm_(sm) {}
  void read(const Request& req, std::function<void(sql::CommandResult)> done) override {
    queued_.push_back([this, req, done] { done(sm_.query(req.statements, req.transaction)); });
  }
  void run_all() {
    auto q = std::move(queued_);
    queued_.clear();
    for (auto& fn : q) fn();
  }
  size_t queued() const { return queued_.size(); }

 private:
  sql::SqliteMachine& sm_;
  std::vector<std::function<void()>> queued_;
};

class Cluster {
 public:
  struct Host;

  class Link final : public Transport {
   public:
    Link(Cluster& c, NodeId from) : c_(c), from_(from) {}
    void send(NodeId to, std::string bytes) override { c_.send(from_, to, std::move(bytes)); }

   private:
    Cluster& c_;
    NodeId from_;
  };

  struct Host {
    NodeId id;
    std::unique_ptr<sim::SimDisk> disk;
    std::unique_ptr<sim::SimClock> clock;
    std::unique_ptr<Link> link;
    std::unique_ptr<sql::SqliteMachine> sm;
    std::unique_ptr<Node> node;
    std::unique_ptr<DeferredReads> reads;
    std::unique_ptr<Service> service;
  };

  // Hosts 1..`members_count` (0: all; kNoFounders: none) found the cluster; the others start
  // outside it, as joiners do.
  static constexpr size_t kNoFounders = ~size_t{0};
  explicit Cluster(size_t n, bool deferred_reads = false, size_t load_chunk_bytes = 0,
                   size_t members_count = 0,
                   const std::function<void(uint64_t, NodeConfig&)>& tweak = {}) {
    if (members_count == 0) members_count = n;
    if (members_count == kNoFounders) members_count = 0;
    std::vector<raft::Member> members;
    for (size_t k = 1; k <= members_count; ++k) {
      members.push_back(raft::Member{NodeId(k), "n" + std::to_string(k), true, false, k});
    }
    const raft::Membership m(members);
    for (size_t k = 1; k <= n; ++k) {
      auto h = std::make_unique<Host>();
      h->id = NodeId(k);
      h->disk = std::make_unique<sim::SimDisk>(Prng(k), sim::SimDiskOptions{});
      h->clock = std::make_unique<sim::SimClock>(
          [this] { return q_.now(); },
          [this](Duration at, std::function<void()> fn) { q_.at(at, fn); }, 0);
      h->link = std::make_unique<Link>(*this, h->id);
      auto sm = sql::SqliteMachine::open({});
      EXPECT_TRUE(sm.ok());
      h->sm = std::move(*sm);
      NodeConfig cfg;
      cfg.raft.id = h->id;
      cfg.raft.election_ticks = 10;
      cfg.raft.heartbeat_ticks = 1;
      cfg.tick_interval = milliseconds(10);
      cfg.incarnation = k;
      if (tweak) tweak(k, cfg);
      h->node = std::make_unique<Node>(cfg, *h->clock, *h->link, *h->disk, Prng(100 + k), *h->sm,
                                       nullptr);
      ServiceOptions so;
      so.tick_interval = cfg.tick_interval;
      if (load_chunk_bytes > 0) so.load_chunk_bytes = load_chunk_bytes;
      if (deferred_reads) h->reads = std::make_unique<DeferredReads>(*h->sm);
      h->service =
          std::make_unique<Service>(*h->node, *h->sm, *h->clock, Prng(200 + k), so, h->reads.get());
      EXPECT_TRUE((k <= members_count ? h->node->start(m) : h->node->start(std::nullopt)).ok());
      hosts_.push_back(std::move(h));
    }
  }

  Host& host(uint64_t id) { return *hosts_.at(id - 1); }
  size_t size() const { return hosts_.size(); }

  void send(NodeId from, NodeId to, std::string bytes) {
    if (to.v == record_to_) recorded_.push_back(bytes);
    if (cut_.count(from.v) > 0 || cut_.count(to.v) > 0) return;
    if (to.v == 0 || to.v > hosts_.size()) return;
    q_.after(milliseconds(1), [this, from, to, b = std::move(bytes)] {
      if (cut_.count(from.v) > 0 || cut_.count(to.v) > 0) return;
      host(to.v).node->receive(b);
    });
  }

  void run_for(Duration d) {
    const Duration until = q_.now() + d;
    for (int guard = 0; guard < 5'000'000 && !q_.empty() && q_.next_time() <= until; ++guard)
      q_.run_next();
  }

  // Runs until some node leads (and has committed in its term), for at most 10 simulated seconds.
  uint64_t leader() {
    for (int k = 0; k < 1000; ++k) {
      for (auto& h : hosts_) {
        if (cut_.count(h->id.v) == 0 && h->node->running() &&
            h->node->raft().role() == raft::Role::kLeader &&
            h->node->raft().log().term(h->node->raft().log().committed()) ==
                h->node->raft().term()) {
          return h->id.v;
        }
      }
      run_for(milliseconds(10));
    }
    return 0;
  }

  // Runs until `out` is set, for at most `limit` of simulated time.
  void run_until(const std::optional<Response>& out, Duration limit = seconds(30)) {
    const Duration until = q_.now() + limit;
    while (!out && !q_.empty() && q_.next_time() <= until) q_.run_next();
  }

  // Submits at node `at` and runs until the answer, for at most `limit` of simulated time.
  std::optional<Response> call(uint64_t at, Request req, Duration limit = seconds(30)) {
    std::optional<Response> out;
    host(at).service->submit(std::move(req), [&out](Response r) { out = std::move(r); });
    const Duration until = q_.now() + limit;
    while (!out && !q_.empty() && q_.next_time() <= until) q_.run_next();
    return out;
  }

  // A new Service on the same node, as after a restart of the process.
  void restart_service(uint64_t id, uint64_t seed) {
    Host& h = host(id);
    h.service.reset();
    ServiceOptions so;
    so.tick_interval = milliseconds(10);
    h.service = std::make_unique<Service>(*h.node, *h.sm, *h.clock, Prng(seed), so, h.reads.get());
  }

  std::set<uint64_t> cut_;  // nodes whose every message is lost
  uint64_t record_to_ = 0;  // every message sent to this node is kept in recorded_
  std::vector<std::string> recorded_;
  sim::EventQueue q_;

 private:
  std::vector<std::unique_ptr<Host>> hosts_;
};

sql::Statement stmt(std::string text, std::vector<sql::Value> params = {}) {
  sql::Statement s;
  s.sql = std::move(text);
  for (auto& v : params) s.params.push_back(sql::Param{"", std::move(v)});
  return s;
}

Request execute(std::vector<sql::Statement> stmts) {
  Request r;
  r.kind = sql::CommandKind::kExecute;
  r.statements = std::move(stmts);
  return r;
}

Request query(std::string sql, ReadLevel level) {
  Request r;
  r.kind = sql::CommandKind::kQuery;
  r.statements = {stmt(std::move(sql))};
  r.level = level;
  return r;
}

uint64_t other_than(const Cluster& c, uint64_t id) {
  return id == 1 ? 2 : 1;
}

void create_and_insert(Cluster& c, uint64_t at) {
  auto r =
      c.call(at, execute({stmt("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"),
                          stmt("INSERT INTO t (v) VALUES (?)", {sql::Value::of_text("one")})}));
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, Status::kOk) << r->error;
  ASSERT_EQ(r->result.results.size(), 2u);
  EXPECT_EQ(r->result.results[1].last_insert_id, 1);
  EXPECT_EQ(r->result.results[1].rows_affected, 1);
  EXPECT_GT(r->raft_index.v, 0u);
}

TEST(Service, Write_OnLeader_AppliedWithResultsAndLogPosition) {
  Cluster c(3);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  create_and_insert(c, l);
  // Every replica applied it.
  c.run_for(milliseconds(100));
  for (uint64_t k = 1; k <= 3; ++k) {
    auto r = c.call(k, query("SELECT v FROM t", ReadLevel::kNone));
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->status, Status::kOk);
    ASSERT_EQ(r->result.results.at(0).rows.size(), 1u);
    EXPECT_EQ(r->result.results[0].rows[0][0], sql::Value::of_text("one"));
  }
}

TEST(Service, EveryReadLevel_OnTheLeader_SeesTheWrite) {
  Cluster c(3);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  create_and_insert(c, l);
  for (ReadLevel level : {ReadLevel::kNone, ReadLevel::kWeak, ReadLevel::kLinearizable,
                          ReadLevel::kStrong, ReadLevel::kAuto}) {
    SCOPED_TRACE(to_string(level));
    auto r = c.call(l, query("SELECT count(*) FROM t", level));
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->status, Status::kOk) << r->error;
    EXPECT_EQ(r->result.results.at(0).rows.at(0).at(0), sql::Value::of_int(1));
    // Only strong reads go through the log.
    EXPECT_EQ(r->raft_index.v != 0, level == ReadLevel::kStrong);
  }
}

TEST(Service, Follower_ForwardsWritesAndReadsToTheLeader) {
  Cluster c(3);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  const uint64_t f = other_than(c, l);
  create_and_insert(c, f);
  for (ReadLevel level : {ReadLevel::kWeak, ReadLevel::kLinearizable, ReadLevel::kStrong}) {
    SCOPED_TRACE(to_string(level));
    auto r = c.call(f, query("SELECT v FROM t", level));
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->status, Status::kOk) << r->error;
    EXPECT_EQ(r->result.results.at(0).rows.size(), 1u);
  }
  EXPECT_GE(c.host(f).service->stats().forwarded, 4u);
  EXPECT_GE(c.host(l).service->stats().forwards_served, 4u);
}

TEST(Service, Redirect_AnswersWithTheLeader) {
  Cluster c(3);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  const uint64_t f = other_than(c, l);
  Request req = execute({stmt("CREATE TABLE t (x)")});
  req.redirect = true;
  auto r = c.call(f, req);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::kNotLeader);
  EXPECT_EQ(r->leader, NodeId(l));
  EXPECT_EQ(r->leader_address, "n" + std::to_string(l));
  EXPECT_EQ(c.host(f).service->stats().forwarded, 0u);
}

// The network may deliver a reply long after it was sent, e.g. to a restarted node that has
// forwarded new requests: an old reply must not answer one of them.
TEST(Service, OldForwardReplies_DoNotAnswerARestartedNodesRequests) {
  Cluster c(3);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  const uint64_t f = other_than(c, l);
  c.record_to_ = f;
  create_and_insert(c, f);
  for (int k = 0; k < 3; ++k) {
    auto r = c.call(f, query("SELECT v FROM t", ReadLevel::kLinearizable));
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->status, Status::kOk);
  }
  ASSERT_FALSE(c.recorded_.empty());
  c.restart_service(f, 999);
  c.cut_ = {l};
  std::vector<Response> answers;
  for (int k = 0; k < 4; ++k) {
    Request req = execute({stmt("INSERT INTO t (v) VALUES ('new')")});
    req.timeout = seconds(5);
    c.host(f).service->submit(req, [&answers](Response r) { answers.push_back(std::move(r)); });
  }
  EXPECT_EQ(c.host(f).service->stats().forwarded, 4u);
  for (const auto& b : c.recorded_) c.host(f).node->receive(b);
  c.run_for(seconds(1));
  // Answered only because another node took over (unknown), never by an old reply.
  for (const auto& a : answers) {
    EXPECT_EQ(a.status, Status::kUnknown);
    EXPECT_EQ(a.error, "leadership lost while committing log")
        << "answered by an old reply: " << to_string(a.status);
  }
  // The old leader stays unreachable: by the deadline every one has an unknown outcome.
  c.run_for(seconds(5));
  ASSERT_EQ(answers.size(), 4u);
  for (const auto& a : answers) EXPECT_EQ(a.status, Status::kUnknown);
}

// rqlite's join over the cluster channel: a follower names the leader, the leader adds the
// node, which then gets the data; asking again changes nothing.
TEST(Service, Join_FollowerNamesTheLeader_LeaderAddsTheNode_ThenItReplicates) {
  Cluster c(4, false, 0, 3);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  create_and_insert(c, l);
  const uint64_t f = other_than(c, l);
  std::optional<MembershipResult> got;
  auto ask = [&](uint64_t contact) {
    got.reset();
    c.host(4).service->join(NodeId(contact), "n4", true, seconds(2),
                            [&got](const MembershipResult& r) { got = r; });
    const Duration deadline = c.q_.now() + seconds(5);
    while (!got && !c.q_.empty() && c.q_.now() < deadline) c.q_.run_next();
    return got.has_value();
  };
  ASSERT_TRUE(ask(f));
  EXPECT_EQ(got->status, MembershipResult::Status::kNotLeader);
  EXPECT_EQ(got->leader, NodeId(l));
  EXPECT_EQ(got->leader_address, "n" + std::to_string(l));
  ASSERT_TRUE(ask(l));
  EXPECT_EQ(got->status, MembershipResult::Status::kProposed) << got->error;
  EXPECT_EQ(c.host(l).service->stats().joins_served, 1u);
  // The new node catches up and serves the data locally.
  std::optional<Response> r;
  for (int i = 0; i < 200; ++i) {
    c.run_for(milliseconds(20));
    r = c.call(4, query("SELECT v FROM t", ReadLevel::kNone), milliseconds(100));
    if (r && r->status == Status::kOk && r->result.error.empty() && !r->result.results.empty() &&
        r->result.results[0].rows.size() == 1) {
      break;
    }
  }
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->result.results.empty()) << r->result.error;
  EXPECT_EQ(r->result.results[0].rows.size(), 1u);
  EXPECT_NE(c.host(l).node->raft().membership().find(NodeId(4)), nullptr);
  // Joining again is idempotent.
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(ask(l));
    if (got->status != MembershipResult::Status::kRetry) break;  // a staged promotion in flight
    c.run_for(milliseconds(50));
  }
  EXPECT_EQ(got->status, MembershipResult::Status::kAlready);
  // Nobody answers: the joiner hears "timeout", to retry elsewhere.
  c.cut_ = {l};
  ASSERT_TRUE(ask(l));
  EXPECT_EQ(got->status, MembershipResult::Status::kRetry);
  EXPECT_EQ(got->error, "timeout");
}

TEST(Service, Join_CarriesTheNameIntoTheMembership) {
  Cluster c(4, false, 0, 3);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  std::optional<MembershipResult> got;
  c.host(4).service->join(NodeId(l), "n4", false, seconds(2),
                          [&got](const MembershipResult& r) { got = r; }, "fourth");
  const Duration deadline = c.q_.now() + seconds(5);
  while (!got && !c.q_.empty() && c.q_.now() < deadline) c.q_.run_next();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, MembershipResult::Status::kProposed) << got->error;
  c.run_for(milliseconds(500));
  for (uint64_t k = 1; k <= 4; ++k) {
    const raft::Member* m = c.host(k).node->raft().membership().find(NodeId(4));
    ASSERT_NE(m, nullptr) << "node " << k;
    EXPECT_EQ(m->name, "fourth");
    EXPECT_FALSE(m->voter);
  }
}

// The leader a request went to dies: the forwarding node does not wait out the deadline. A read
// goes to the new leader; a write is answered "unknown" (it may have been applied).
TEST(Service, ForwardsToALeaderThatIsGone_ReadsMoveOn_WritesAreUnknownAtOnce) {
  Cluster c(3);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  create_and_insert(c, l);
  const uint64_t f = other_than(c, l);
  std::optional<Response> w, r;
  Request wr = execute({stmt("INSERT INTO t VALUES (7)")});
  wr.timeout = seconds(20);
  Request rd = query("SELECT count(*) FROM t", ReadLevel::kLinearizable);
  rd.timeout = seconds(20);
  c.cut_ = {l};  // the leader is gone before the forwards arrive
  c.host(f).service->submit(wr, [&w](Response x) { w = std::move(x); });
  c.host(f).service->submit(rd, [&r](Response x) { r = std::move(x); });
  const Duration started = c.q_.now();
  while ((!w || !r) && !c.q_.empty() && c.q_.now() < started + seconds(15)) c.q_.run_next();
  ASSERT_TRUE(w.has_value());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(w->status, Status::kUnknown);
  EXPECT_EQ(w->error, "leadership lost while committing log");
  EXPECT_EQ(r->status, Status::kOk) << r->error;
  ASSERT_FALSE(r->result.results.empty());
  EXPECT_EQ(r->result.results[0].rows.size(), 1u);
  EXPECT_LT(c.q_.now() - started, seconds(10));  // well before the 20 s deadline
  EXPECT_EQ(c.host(f).service->stats().forwards_abandoned, 1u);
  EXPECT_EQ(c.host(f).service->stats().forwards_redirected, 1u);
}

raft::Member self_member(Cluster& c, uint64_t k) {
  raft::Member m;
  m.id = NodeId(k);
  m.address = "n" + std::to_string(k);
  m.voter = true;
  m.incarnation = c.host(k).node->incarnation();
  m.name = "node" + std::to_string(k);
  return m;
}

// rqlite's -bootstrap-expect: no node is told to found the cluster; each founds it once it has
// heard from the expected number of voters, with exactly those, and they agree on one leader.
TEST(Service, BootstrapExpect_FormsOneClusterOnceEnoughNodesNotified) {
  Cluster c(4, false, 0, Cluster::kNoFounders);
  for (uint64_t k = 1; k <= 3; ++k) c.host(k).service->expect_bootstrap(3, self_member(c, k));
  auto notify_round = [&](std::vector<uint64_t> from) {
    for (uint64_t a : from) {
      for (uint64_t b = 1; b <= 3; ++b) {
        if (a != b) c.host(a).service->notify(NodeId(b), self_member(c, a));
      }
    }
    c.run_for(milliseconds(300));
  };
  // Two of three (the third not up yet): nobody founds anything, however long they wait.
  c.cut_ = {3};
  for (int i = 0; i < 5; ++i) notify_round({1, 2});
  for (uint64_t k = 1; k <= 3; ++k) {
    EXPECT_TRUE(c.host(k).node->blank()) << "node " << k;
    EXPECT_FALSE(c.host(k).service->bootstrapped());
  }
  EXPECT_EQ(c.host(1).service->notifiers(), 2u);
  // The third arrives: one cluster of exactly the three, one leader, writes replicate.
  c.cut_.clear();
  notify_round({3, 1, 2});
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  ASSERT_LE(l, 3u);
  int founders = 0;
  for (uint64_t k = 1; k <= 3; ++k) {
    founders += c.host(k).service->bootstrapped() ? 1 : 0;
    const auto& m = c.host(k).node->raft().membership();
    EXPECT_EQ(m.voters().size(), 3u) << "node " << k;
    ASSERT_NE(m.find(NodeId(2)), nullptr);
    EXPECT_EQ(m.find(NodeId(2))->name, "node2");
  }
  EXPECT_GE(founders, 1);
  auto r = c.call(l, execute({stmt("CREATE TABLE t (v)"), stmt("INSERT INTO t VALUES (1)")}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::kOk);
  c.run_for(milliseconds(300));
  for (uint64_t k = 1; k <= 3; ++k) {
    auto q = c.call(k, query("SELECT count(*) FROM t", ReadLevel::kNone));
    ASSERT_TRUE(q && !q->result.results.empty()) << "node " << k;
    EXPECT_EQ(q->result.results[0].rows.size(), 1u);
  }
  // A late node expecting the same bootstrap hears only from members, which are no longer
  // blank: it never founds a second cluster (it joins instead).
  c.host(4).service->expect_bootstrap(3, self_member(c, 4));
  for (uint64_t k = 1; k <= 3; ++k) c.host(k).service->notify(NodeId(4), self_member(c, k));
  c.run_for(milliseconds(300));
  EXPECT_FALSE(c.host(4).service->bootstrapped());
  EXPECT_TRUE(c.host(4).node->blank());
  EXPECT_EQ(c.host(4).service->notifiers(), 1u);  // itself
}

// A founder that missed the founding (it notified, but heard from nobody) asks again later: a
// founder answers with the founding membership, and it takes the same first entry.
TEST(Service, BootstrapExpect_AFounderThatMissedItGetsTheFoundingMembership) {
  Cluster c(3, false, 0, Cluster::kNoFounders);
  for (uint64_t k = 1; k <= 3; ++k) c.host(k).service->expect_bootstrap(3, self_member(c, k));
  c.host(3).service->notify(NodeId(1), self_member(c, 3));
  c.host(3).service->notify(NodeId(2), self_member(c, 3));
  c.host(1).service->notify(NodeId(2), self_member(c, 1));
  c.host(2).service->notify(NodeId(1), self_member(c, 2));
  c.run_for(milliseconds(50));
  EXPECT_TRUE(c.host(1).service->bootstrapped());
  EXPECT_TRUE(c.host(2).service->bootstrapped());
  EXPECT_TRUE(c.host(3).node->blank());
  EXPECT_EQ(c.host(3).service->notifiers(), 1u);
  // Node 3 asks again: node 1, a founder, answers with what it founded.
  c.host(3).service->notify(NodeId(1), self_member(c, 3));
  c.run_for(milliseconds(50));
  EXPECT_TRUE(c.host(3).service->bootstrapped());
  ASSERT_FALSE(c.host(3).node->blank());
  ASSERT_TRUE(c.host(3).node->founding_membership().has_value());
  EXPECT_EQ(*c.host(3).node->founding_membership(), *c.host(1).node->founding_membership());
  // With node 1 gone, nodes 2 and 3 still make a majority: node 3 can vote now.
  c.cut_ = {1};
  c.run_for(seconds(2));
  uint64_t l = 0;
  for (uint64_t k : {2, 3}) {
    if (c.host(k).node->raft().role() == raft::Role::kLeader) l = k;
  }
  ASSERT_NE(l, 0u) << "no leader among nodes 2 and 3";
  auto r = c.call(l, execute({stmt("CREATE TABLE t (v)")}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::kOk) << r->error;
}

TEST(Service, Call_AnsweredByTheOtherNodesHandler_OrTimesOut) {
  Cluster c(3);
  std::vector<std::pair<NodeId, std::string>> seen;
  c.host(2).service->set_call_handler(
      [&seen](NodeId from, std::string payload, Service::CallReplyFn reply) {
        seen.emplace_back(from, payload);
        reply("echo:" + payload);
        reply("a second reply is never sent");
      });
  std::vector<Result<std::string>> got;
  auto ask = [&](uint64_t to, std::string payload) {
    got.clear();
    c.host(1).service->call(NodeId(to), std::move(payload), seconds(1),
                            [&got](Result<std::string> r) { got.push_back(std::move(r)); });
    const Duration deadline = c.q_.now() + seconds(3);
    while (got.empty() && !c.q_.empty() && c.q_.now() < deadline) c.q_.run_next();
    c.run_for(milliseconds(100));  // a duplicate answer would arrive by now
  };
  ask(2, std::string("meta\0bytes", 10));
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(got[0].ok());
  EXPECT_EQ(*got[0], "echo:" + std::string("meta\0bytes", 10));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, NodeId(1));
  // Node 3 has no handler: no answer, a timeout.
  ask(3, "x");
  ASSERT_EQ(got.size(), 1u);
  ASSERT_FALSE(got[0].ok());
  EXPECT_EQ(got[0].error().code, ErrorCode::kTimeout);
  EXPECT_EQ(c.host(1).service->stats().call_timeouts, 1u);
  EXPECT_EQ(c.host(3).service->stats().calls_served, 1u);
  // A handler that answers later, after the caller gave up: the late answer is dropped.
  Service::CallReplyFn later;
  c.host(3).service->set_call_handler(
      [&later](NodeId, std::string, Service::CallReplyFn reply) { later = std::move(reply); });
  ask(3, "y");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_FALSE(got[0].ok());
  ASSERT_TRUE(later);
  later("too late");
  c.run_for(milliseconds(100));
  EXPECT_EQ(got.size(), 1u);
}

TEST(ForwardCodec, JoinMessages_RoundTripAndHostileOnesRejected) {
  JoinAsk j{7, NodeId(9), "10.0.0.9:4002", false, 1234};
  auto d = decode_cluster_message(encode_join(j));
  ASSERT_TRUE(d.ok());
  const auto& back = std::get<JoinAsk>(*d);
  EXPECT_EQ(back.id, 7u);
  EXPECT_EQ(back.node, NodeId(9));
  EXPECT_EQ(back.address, "10.0.0.9:4002");
  EXPECT_FALSE(back.voter);
  EXPECT_EQ(back.incarnation, 1234u);
  JoinAnswer a;
  a.id = 7;
  a.result.status = MembershipResult::Status::kNotLeader;
  a.result.leader = NodeId(3);
  a.result.leader_address = "n3";
  auto e = decode_cluster_message(encode_join_answer(a));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(std::get<JoinAnswer>(*e).result.leader_address, "n3");
  EXPECT_FALSE(decode_cluster_message(encode_join(JoinAsk{1, NodeId(0), "a:1", true, 0}))
                   .ok());  // no node id
  EXPECT_FALSE(
      decode_cluster_message(encode_join(JoinAsk{1, NodeId(2), "", true, 0})).ok());  // no address
}

TEST(Service, NoLeader_IsLeaderNotFound) {
  Cluster c(3);
  // Before any election: nobody leads.
  auto r = c.call(1, execute({stmt("CREATE TABLE t (x)")}), milliseconds(1));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::kNoLeader);
  EXPECT_EQ(r->error, "leader not found");
}

// auto: a voter reads at weak (so a follower forwards); rqlite's /db/request leaves auto
// unresolved and serves it locally with no checks, even with no leader at all.
TEST(Service, Auto_WeakOnVoters_UncheckedOnTheUnifiedEndpoint) {
  Cluster c(3);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  create_and_insert(c, l);
  c.run_for(milliseconds(50));
  const uint64_t f = other_than(c, l);
  auto r = c.call(f, query("SELECT v FROM t", ReadLevel::kAuto));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::kOk);
  EXPECT_EQ(c.host(f).service->stats().forwarded, 1u);
  c.cut_.insert(f);
  c.run_for(seconds(1));  // f hears no leader any more
  Request req = query("SELECT v FROM t", ReadLevel::kAuto);
  req.kind = sql::CommandKind::kRequest;
  req.freshness = milliseconds(1);
  r = c.call(f, req);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, Status::kOk) << r->error;
  EXPECT_EQ(r->result.results.at(0).rows.size(), 1u);
  r = c.call(f, query("SELECT v FROM t", ReadLevel::kAuto), milliseconds(500));
  ASSERT_TRUE(r.has_value());
  EXPECT_NE(r->status, Status::kOk);
}

TEST(Service, DisallowedPragma_RefusedBeforeReplication) {
  Cluster c(1);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  const LogIndex before = c.host(l).node->raft().log().last_index();
  auto r = c.call(l, execute({stmt("PRAGMA journal_mode=DELETE")}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::kError);
  EXPECT_EQ(r->error, "disallowed pragma");
  EXPECT_EQ(c.host(l).node->raft().log().last_index(), before);
}

TEST(Service, Request_ClassifiesReadsAndWrites) {
  Cluster c(1);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  create_and_insert(c, l);
  Request read;
  read.kind = sql::CommandKind::kRequest;
  read.level = ReadLevel::kWeak;
  read.statements = {stmt("SELECT * FROM t")};
  auto r = c.call(l, read);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, Status::kOk);
  EXPECT_EQ(r->raft_index.v, 0u);  // served locally
  EXPECT_TRUE(r->result.results.at(0).is_query);
  Request mixed = read;
  mixed.statements.push_back(stmt("INSERT INTO t (v) VALUES ('two')"));
  r = c.call(l, mixed);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, Status::kOk);
  EXPECT_GT(r->raft_index.v, 0u);  // a write among them: through the log
  EXPECT_EQ(r->result.results.at(1).rows_affected, 1);
}

// A leader cut off from the others cannot commit: the write's outcome is unknown at the deadline
// (it might still commit later, through a new leader).
TEST(Service, Write_NotCommittedByTheDeadline_IsUnknown) {
  Cluster c(3);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  c.cut_.insert(l);
  Request req = execute({stmt("CREATE TABLE t (x)")});
  req.timeout = milliseconds(50);
  auto r = c.call(l, req);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::kUnknown);
}

// A leader that loses its quorum steps down within about an election timeout; what waited on its
// leadership is answered then, not at its deadline (rqlite's behaviour): reads awaiting the
// heartbeat round that would confirm them, strong reads in the log, and writes (unknown: their
// entries may still commit under the next leader).
TEST(Service, LeaderLosingItsQuorum_AnswersWhatWaitedOnItAtOnce) {
  Cluster c(3);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  create_and_insert(c, l);
  for (uint64_t id = 1; id <= 3; ++id) {
    if (id != l) c.cut_.insert(id);
  }
  std::optional<Response> lin, strong, write;
  Request a = query("SELECT count(*) FROM t", ReadLevel::kLinearizable);
  Request b = query("SELECT count(*) FROM t", ReadLevel::kStrong);
  Request w = execute({stmt("INSERT INTO t (v) VALUES ('two')")});
  for (Request* r : {&a, &b, &w}) r->timeout = seconds(30);
  c.host(l).service->submit(a, [&lin](Response x) { lin = std::move(x); });
  c.host(l).service->submit(b, [&strong](Response x) { strong = std::move(x); });
  c.host(l).service->submit(w, [&write](Response x) { write = std::move(x); });
  const Duration started = c.q_.now();
  while ((!lin || !strong || !write) && !c.q_.empty() && c.q_.now() < started + seconds(30)) c.q_.run_next();
  ASSERT_TRUE(lin && strong && write);
  EXPECT_LT(c.q_.now() - started, milliseconds(500));  // two election timeouts are 200 ms
  EXPECT_EQ(lin->status, Status::kNoLeader) << lin->error;
  EXPECT_EQ(lin->error, "leader not found");
  EXPECT_EQ(strong->status, Status::kNoLeader) << strong->error;
  EXPECT_EQ(write->status, Status::kUnknown);
  EXPECT_EQ(write->error, "leadership lost while committing log");
  EXPECT_EQ(c.host(l).service->stats().writes_abandoned, 1u);
  EXPECT_EQ(c.host(l).service->stats().reads_resubmitted, 2u);
  EXPECT_EQ(c.host(l).service->pending(), 0u);
}

// A leader deposed by a newer leader, while its write waits: the write is answered at once,
// unknown (its entry may still commit), before the new leader's own entry takes its index.
TEST(Service, Write_PendingWhenTheLeaderIsDeposed_UnknownAtOnce) {
  // Node 1 leads, and checks its quorum only every 80 ticks: it hears of node 2 or 3 leading
  // before it would notice on its own that it lost its quorum.
  Cluster c(3, false, 0, 0, [](uint64_t k, NodeConfig& cfg) {
    if (k == 1) cfg.raft.election_ticks = 80;
  });
  const uint64_t first = c.leader();
  ASSERT_NE(first, 0u);
  if (first != 1) {
    ASSERT_TRUE(c.host(first).node->transfer_leadership(NodeId(1)));
  }
  for (int k = 0; k < 100 && c.leader() != 1; ++k) c.run_for(milliseconds(10));
  const uint64_t l = c.leader();
  ASSERT_EQ(l, 1u);
  c.cut_.insert(l);
  std::optional<Response> old_write;
  Request req = execute({stmt("CREATE TABLE lost (x)")});
  req.timeout = seconds(60);
  c.host(l).service->submit(req, [&old_write](Response r) { old_write = std::move(r); });
  c.run_for(milliseconds(10));
  uint64_t l2 = 0;
  for (int k = 0; k < 100 && l2 == 0; ++k) {
    c.run_for(milliseconds(50));
    for (uint64_t id = 1; id <= 3; ++id) {
      if (id != l && c.host(id).node->raft().role() == raft::Role::kLeader) l2 = id;
    }
  }
  ASSERT_NE(l2, 0u);
  auto w = c.call(l2, execute({stmt("CREATE TABLE kept (x)")}));
  ASSERT_TRUE(w.has_value());
  ASSERT_EQ(w->status, Status::kOk);
  EXPECT_FALSE(old_write.has_value());
  ASSERT_EQ(c.host(l).node->raft().role(), raft::Role::kLeader);
  c.cut_.clear();
  while (!old_write && !c.q_.empty() && c.host(l).node->raft().role() == raft::Role::kLeader) c.q_.run_next();
  c.run_for(milliseconds(1));  // the service hears of the new leader right after the node does
  ASSERT_TRUE(old_write.has_value());
  EXPECT_EQ(old_write->status, Status::kUnknown) << to_string(old_write->status);
  EXPECT_EQ(old_write->error, "leadership lost while committing log");
  c.run_for(seconds(1));
  auto r =
      c.call(l2, query("SELECT name FROM sqlite_master ORDER BY name", ReadLevel::kLinearizable));
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, Status::kOk);
  ASSERT_EQ(r->result.results.at(0).rows.size(), 1u);
  EXPECT_EQ(r->result.results[0].rows[0][0], sql::Value::of_text("kept"));
}

// The message that deposes the leader already replaced its entry: the write definitely failed.
TEST(Service, Write_WhoseIndexAnotherLeaderTookInTheDeposingMessage_Failed) {
  Cluster c(3);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  c.cut_ = {l};
  std::optional<Response> out;
  Request req = execute({stmt("CREATE TABLE lost (x)")});
  req.timeout = seconds(60);
  c.host(l).service->submit(req, [&out](Response r) { out = std::move(r); });
  c.run_for(milliseconds(1));
  const raft::Raft& r = c.host(l).node->raft();
  const LogIndex index = r.log().last_index();
  ASSERT_EQ(r.log().term(index), r.term());
  // Another node, leader of a later term, sends an append whose entry takes that index.
  raft::Message m;
  m.type = raft::MessageType::kApp;
  m.from = NodeId(other_than(c, l));
  m.to = NodeId(l);
  m.term = r.term() + 1;
  m.index = index - 1;
  m.log_term = *r.log().term(index - 1);
  m.entries = {raft::Entry{r.term() + 1, index, raft::EntryType::kNoop, ""}};
  m.commit = r.log().committed();
  c.host(l).node->receive(wire::encode(m));
  c.run_for(milliseconds(1));
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->status, Status::kFailed) << to_string(out->status);
  EXPECT_EQ(out->error, "leadership changed before the write committed");
}

// A retry with the same session and sequence number gets the first result, not a second effect.
TEST(Service, Retry_WithTheSameSession_AppliesOnce) {
  Cluster c(3);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  ASSERT_EQ(c.call(l, execute({stmt("CREATE TABLE t (x)")}))->status, Status::kOk);
  Request ins = execute({stmt("INSERT INTO t VALUES (1)")});
  ins.session = 77;
  ins.seq = 1;
  auto a = c.call(l, ins);
  auto b = c.call(other_than(c, l), ins);  // again, through a follower
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->status, Status::kOk);
  ASSERT_EQ(b->status, Status::kOk);
  EXPECT_EQ(a->result, b->result);
  EXPECT_NE(a->raft_index, b->raft_index);
  auto r = c.call(l, query("SELECT count(*) FROM t", ReadLevel::kLinearizable));
  EXPECT_EQ(r->result.results.at(0).rows.at(0).at(0), sql::Value::of_int(1));
}

TEST(Service, Freshness_FollowerCutOffFromTheLeader_StaleRead) {
  Cluster c(3);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  const uint64_t f = other_than(c, l);
  create_and_insert(c, l);
  Request req = query("SELECT * FROM t", ReadLevel::kNone);
  req.freshness = milliseconds(50);
  auto r = c.call(f, req);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::kOk);
  c.cut_.insert(f);
  c.run_for(milliseconds(200));
  r = c.call(f, req);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::kError);
  EXPECT_EQ(r->error, "stale read");
  req.freshness = Duration{0};  // no limit: served, however old
  r = c.call(f, req);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::kOk);
}

// Reads run where the driver says; while one is outstanding, Raft carries on (no election).
TEST(Service, Reads_RunOnTheInjectedExecutor_RaftKeepsGoing) {
  Cluster c(3, true);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  create_and_insert(c, l);
  const Term term = c.host(l).node->raft().term();
  std::optional<Response> got;
  c.host(l).service->submit(query("SELECT v FROM t", ReadLevel::kLinearizable),
                            [&got](Response r) { got = std::move(r); });
  c.run_for(std::chrono::seconds(2));  // many election timeouts
  EXPECT_FALSE(got.has_value());
  EXPECT_EQ(c.host(l).reads->queued(), 1u);
  EXPECT_EQ(c.host(l).node->raft().role(), raft::Role::kLeader);
  EXPECT_EQ(c.host(l).node->raft().term(), term);
  c.host(l).reads->run_all();
  ASSERT_TRUE(got.has_value());
  ASSERT_EQ(got->status, Status::kOk);
  EXPECT_EQ(got->result.results.at(0).rows.at(0).at(0), sql::Value::of_text("one"));
}

// Garbage in the cluster channel is counted and dropped; the node keeps serving.
TEST(Service, HostileClusterMessages_RejectedAndHarmless) {
  Cluster c(3);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  Prng p(5);
  for (int k = 0; k < 200; ++k) {
    std::string junk(8 * p.range(0, 20), '\0');
    for (char& ch : junk) ch = static_cast<char>(p.below(256));
    c.host(l).node->receive(wire::encode_cluster(junk));
  }
  EXPECT_GT(c.host(l).service->stats().rejected, 150u);
  create_and_insert(c, l);
}

// rqlite's LOAD: an image that replaces every replica's database, through the log in pieces.
std::string image_with_rows(int rows) {
  auto m = std::move(sql::SqliteMachine::open({})).value();
  sql::Command c;
  c.statements = {
      stmt("CREATE TABLE img (i INTEGER PRIMARY KEY, pad BLOB)"),
      stmt("INSERT INTO img(pad) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
           "WHERE i < " +
           std::to_string(rows) + ") SELECT zeroblob(500) FROM n")};
  m->execute(c);
  sqlite3_int64 size = 0;
  unsigned char* data = sqlite3_serialize(m->connection(), "main", &size, 0);
  std::string out(reinterpret_cast<const char*>(data), static_cast<size_t>(size));
  sqlite3_free(data);
  return out;
}

std::optional<Response> load(Cluster& c, uint64_t at, std::string image, bool redirect = false) {
  std::optional<Response> out;
  c.host(at).service->load(std::move(image), seconds(5), redirect,
                           [&out](Response r) { out = std::move(r); });
  c.run_until(out);
  return out;
}

TEST(Service, Load_InPieces_EveryReplicaGetsTheImage) {
  Cluster c(3, false, /*load_chunk_bytes=*/4096);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  create_and_insert(c, l);
  const std::string image = image_with_rows(100);
  ASSERT_GT(image.size(), 10 * 4096u);
  const uint64_t before = c.host(l).node->raft().log().last_index().v;
  auto r = load(c, l, image);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, Status::kOk) << r->error;
  EXPECT_TRUE(r->result.error.empty()) << r->result.error;
  // One entry per piece.
  EXPECT_GE(c.host(l).node->raft().log().last_index().v - before, image.size() / 4096);
  c.run_for(milliseconds(200));
  for (uint64_t k = 1; k <= 3; ++k) {
    auto q = c.call(k, query("SELECT COUNT(*) FROM img", ReadLevel::kNone));
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->result.results.at(0).rows.at(0).at(0), sql::Value::of_int(100)) << k;
    EXPECT_EQ(c.host(k).sm->digest(), c.host(l).sm->digest());
    EXPECT_EQ(c.host(k).sm->load_staged_bytes(), 0u);
  }
  // From a follower: the pieces are forwarded to the leader.
  const uint64_t f = other_than(c, l);
  r = load(c, f, image_with_rows(7));
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->status, Status::kOk) << r->error;
  auto q = c.call(l, query("SELECT COUNT(*) FROM img", ReadLevel::kStrong));
  EXPECT_EQ(q->result.results.at(0).rows.at(0).at(0), sql::Value::of_int(7));
  // With redirect, a follower names the leader instead.
  r = load(c, f, image, /*redirect=*/true);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::kNotLeader);
  EXPECT_EQ(r->leader, NodeId(l));
}

TEST(Service, Load_OneAtATime_AndRefusedImages) {
  Cluster c(1, false, 4096);
  ASSERT_EQ(c.leader(), 1u);
  std::optional<Response> first, second;
  c.host(1).service->load(image_with_rows(50), seconds(5), false,
                          [&](Response r) { first = std::move(r); });
  c.host(1).service->load(image_with_rows(5), seconds(5), false,
                          [&](Response r) { second = std::move(r); });
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->status, Status::kError);
  EXPECT_EQ(second->error, "load in progress");
  c.run_until(first);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->status, Status::kOk);
  // An image the state machine cannot read: the last piece's error, nothing replaced.
  auto r = load(c, 1, "SQLite format 3 but nothing else");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, Status::kOk);
  EXPECT_EQ(r->result.error, "load: not a SQLite database image");
  auto q = c.call(1, query("SELECT COUNT(*) FROM img", ReadLevel::kStrong));
  EXPECT_EQ(q->result.results.at(0).rows.at(0).at(0), sql::Value::of_int(50));
}

// /boot's fence: while writes are paused nothing enters the log but barriers, and the barrier
// is answered only once everything proposed before it is applied.
TEST(Service, PauseWrites_RefusesLogWorkUntilResumed_BarriersPass) {
  Cluster c(1);
  ASSERT_EQ(c.leader(), 1u);
  create_and_insert(c, 1);
  Service& s = *c.host(1).service;
  std::optional<Response> early, paused;
  s.submit(execute({stmt("INSERT INTO t (v) VALUES ('proposed before the pause')")}),
           [&](Response r) { early = std::move(r); });
  s.pause_writes(seconds(5), [&](Response r) { paused = std::move(r); });
  EXPECT_TRUE(s.writes_paused());
  c.run_until(paused);
  ASSERT_TRUE(early.has_value());
  ASSERT_TRUE(paused.has_value());
  EXPECT_EQ(early->status, Status::kOk);
  EXPECT_EQ(paused->status, Status::kOk);
  EXPECT_GT(paused->raft_index.v, early->raft_index.v);
  EXPECT_TRUE(paused->result.results.empty());
  for (Request req : {execute({stmt("INSERT INTO t (v) VALUES ('refused')")}),
                      query("SELECT 1", ReadLevel::kStrong)}) {
    auto r = c.call(1, req);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, Status::kError);
    EXPECT_EQ(r->error, "load in progress");
  }
  auto refused = load(c, 1, image_with_rows(1));
  EXPECT_EQ(refused->error, "load in progress");
  // Reads outside the log go on.
  auto r = c.call(1, query("SELECT COUNT(*) FROM t", ReadLevel::kLinearizable));
  EXPECT_EQ(r->status, Status::kOk);
  EXPECT_EQ(r->result.results.at(0).rows.at(0).at(0), sql::Value::of_int(2));
  std::optional<Response> b;
  s.barrier(seconds(5), [&](Response resp) { b = std::move(resp); });
  c.run_until(b);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->status, Status::kOk);
  EXPECT_GT(b->raft_index.v, paused->raft_index.v);
  s.resume_writes();
  r = c.call(1, execute({stmt("INSERT INTO t (v) VALUES ('after')")}));
  EXPECT_EQ(r->status, Status::kOk);
}

TEST(ForwardCodec, RoundTrips) {
  Forwarded f;
  f.id = 9;
  f.origin = NodeId(3);
  f.req = execute({stmt("INSERT INTO t VALUES (?, ?)",
                        {sql::Value::of_int(-4), sql::Value::of_blob("\x01\x02")})});
  f.req.transaction = true;
  f.req.level = ReadLevel::kStrong;
  f.req.timeout = milliseconds(1500);
  f.req.freshness = milliseconds(20);
  f.req.qualify_columns = true;
  f.req.db_timeout = milliseconds(1500);
  f.req.session = 5;
  f.req.seq = 6;
  f.req.hops = 2;
  auto d = decode_cluster_message(encode_forward(f));
  ASSERT_TRUE(d.ok()) << d.error().message;
  const auto& g = std::get<Forwarded>(*d);
  EXPECT_EQ(g.id, 9u);
  EXPECT_EQ(g.origin, NodeId(3));
  EXPECT_EQ(g.req.statements, f.req.statements);
  EXPECT_EQ(g.req.transaction, true);
  EXPECT_EQ(g.req.level, ReadLevel::kStrong);
  EXPECT_EQ(g.req.timeout, f.req.timeout);
  EXPECT_EQ(g.req.freshness, f.req.freshness);
  EXPECT_TRUE(g.req.qualify_columns);
  EXPECT_EQ(g.req.db_timeout, f.req.db_timeout);
  EXPECT_EQ(g.req.session, 5u);
  EXPECT_EQ(g.req.seq, 6u);
  EXPECT_EQ(g.req.hops, 2u);

  ForwardedReply r;
  r.id = 9;
  r.resp.status = Status::kNotLeader;
  r.resp.leader = NodeId(2);
  r.resp.leader_address = "n2:4002";
  r.resp.raft_index = LogIndex(7);
  r.resp.raft_term = Term(3);
  r.resp.result.results.resize(1);
  r.resp.result.results[0].rows_affected = 1;
  auto e = decode_cluster_message(encode_forward_reply(r));
  ASSERT_TRUE(e.ok()) << e.error().message;
  const auto& s = std::get<ForwardedReply>(*e);
  EXPECT_EQ(s.resp.status, Status::kNotLeader);
  EXPECT_EQ(s.resp.leader, NodeId(2));
  EXPECT_EQ(s.resp.leader_address, "n2:4002");
  EXPECT_EQ(s.resp.raft_index, LogIndex(7));
  EXPECT_EQ(s.resp.raft_term, Term(3));
  EXPECT_EQ(s.resp.result, r.resp.result);
}

TEST(ForwardCodec, OutOfRangeFields_AreErrors) {
  Forwarded f;
  f.id = 1;
  f.origin = NodeId(1);
  f.req = execute({stmt("SELECT 1")});
  f.req.hops = 1;
  ASSERT_TRUE(decode_cluster_message(encode_forward(f)).ok());
  Forwarded bad = f;
  bad.origin = NodeId(0);
  EXPECT_FALSE(decode_cluster_message(encode_forward(bad)).ok());
  bad = f;
  bad.req.hops = 0;
  EXPECT_FALSE(decode_cluster_message(encode_forward(bad)).ok());
  bad = f;
  bad.req.timeout = Duration{0};
  EXPECT_FALSE(decode_cluster_message(encode_forward(bad)).ok());
}

RC_GTEST_PROP(ForwardCodec, ArbitraryBytes_ErrorOrMessage, (const std::vector<uint8_t>& raw)) {
  std::string bytes(raw.begin(), raw.end());
  bytes.resize(bytes.size() / 8 * 8);
  auto d = decode_cluster_message(bytes);  // must not crash, whatever it says
  if (d.ok()) {
    if (auto* f = std::get_if<Forwarded>(&*d)) RC_ASSERT(f->origin.valid());
  }
}

}  // namespace
}  // namespace rq::svc

namespace rq::svc {
namespace {

// Long sweep seed 89997: a removal asked again while the leader's own removal entry was still
// uncommitted was answered "already", the node was wiped, and the entry was lost with the
// leader's term: the wiped node stayed a voter for good and the cluster lost its quorum.
// "Already" is an answer only from a committed configuration.
TEST(ServiceMembership, RemovalAskedAgainBeforeItCommits_IsRetryNotAlready) {
  Cluster c(3);
  c.run_for(seconds(2));
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  const uint64_t f = other_than(c, l);
  c.cut_ = {l};  // the removal cannot commit
  Node& leader = *c.host(l).node;
  const MembershipResult first = leader.remove_member(NodeId(f));
  ASSERT_EQ(first.status, MembershipResult::Status::kProposed);
  EXPECT_EQ(leader.remove_member(NodeId(f)).status, MembershipResult::Status::kRetry);
  c.cut_.clear();
  for (int i = 0; i < 100 && leader.raft().log().committed() < first.index; ++i) c.run_for(milliseconds(50));
  if (leader.raft().role() == raft::Role::kLeader && leader.raft().log().committed() >= first.index &&
      leader.raft().log().term(first.index) == first.term) {
    EXPECT_EQ(leader.remove_member(NodeId(f)).status, MembershipResult::Status::kAlready);
  }
}

}  // namespace
}  // namespace rq::svc
