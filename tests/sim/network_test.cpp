#include "sim/network.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace rq::sim {
namespace {

struct Arrival {
  NodeId from, to;
  std::string bytes;
  Duration at;
};

NetworkOptions quiet() {
  NetworkOptions o;
  o.latency_min = 100us;
  o.latency_spread = 2ms;
  o.tail_ppm = 0;
  return o;
}

// Every packet takes its own path: latencies are independent draws.
NetworkOptions independent() {
  NetworkOptions o = quiet();
  o.reorder_ppm = 1'000'000;
  return o;
}

class NetworkTest : public ::testing::Test {
 protected:
  void make(NetworkOptions opts, uint64_t seed = 1) {
    net_ = std::make_unique<Network>(q_, Prng(seed), opts, 3,
                                     [this](NodeId f, NodeId t, std::string b) {
                                       got_.push_back(Arrival{f, t, std::move(b), q_.now()});
                                     });
  }
  void run_all() {
    while (q_.run_next()) {
    }
  }
  // Sends `n` packets "x" from n1 to n2 at time 0 and runs until each arrived or was dropped.
  void send_burst(int n) {
    for (int k = 0; k < n; ++k) net_->send(n1, n2, "x", Duration(0));
    run_all();
  }
  // Sends packets "0", "1", ... from n1 to n2, packet k departing at Duration(k), and runs until
  // each arrived or was dropped. Returns what it sent, in order.
  std::vector<std::string> send_numbered(int n) {
    std::vector<std::string> sent;
    for (int k = 0; k < n; ++k) {
      sent.push_back(std::to_string(k));
      net_->send(n1, n2, sent.back(), Duration(k));
    }
    run_all();
    return sent;
  }
  // The bytes of every arrival, in order of arrival.
  std::vector<std::string> arrival_order() const {
    std::vector<std::string> order;
    for (const Arrival& a : got_) order.push_back(a.bytes);
    return order;
  }
  size_t count(NodeId from, NodeId to) const {
    size_t n = 0;
    for (const Arrival& a : got_) n += a.from == from && a.to == to ? 1 : 0;
    return n;
  }

  EventQueue q_;
  std::unique_ptr<Network> net_;
  std::vector<Arrival> got_;
  const NodeId n1{1}, n2{2}, n3{3};
};

TEST_F(NetworkTest, Delivery_CarriesSenderReceiverAndBytes) {
  make(quiet());
  net_->send(n1, n2, std::string("hi\0there", 8), Duration(0));
  run_all();
  ASSERT_EQ(got_.size(), 1u);
  EXPECT_EQ(got_[0].from, n1);
  EXPECT_EQ(got_[0].to, n2);
  EXPECT_EQ(got_[0].bytes, std::string("hi\0there", 8));
}

TEST_F(NetworkTest, Latency_WithinMinAndMinPlusSpread) {
  NetworkOptions o = independent();
  make(o);
  send_burst(2000);
  ASSERT_EQ(got_.size(), 2000u);
  Duration lo = Duration::max(), hi = Duration::min();
  for (const Arrival& a : got_) {
    ASSERT_GE(a.at, o.latency_min);
    ASSERT_LE(a.at, o.latency_min + o.latency_spread);
    lo = std::min(lo, a.at);
    hi = std::max(hi, a.at);
  }
  EXPECT_LT(lo, o.latency_min + o.latency_spread / 10);
  EXPECT_GT(hi, o.latency_min + o.latency_spread * 9 / 10);
}

TEST_F(NetworkTest, Latency_TailStaysWithinTenTimesSpread) {
  NetworkOptions o = independent();
  o.tail_ppm = 200'000;
  make(o);
  send_burst(2000);
  size_t beyond_spread = 0;
  for (const Arrival& a : got_) {
    ASSERT_GE(a.at, o.latency_min);
    ASSERT_LE(a.at, o.latency_min + o.latency_spread * 10);
    beyond_spread += a.at > o.latency_min + o.latency_spread ? 1 : 0;
  }
  EXPECT_GT(beyond_spread, 0u);
}

TEST_F(NetworkTest, Latency_CountsFromDeparture) {
  make(quiet());
  net_->send(n1, n2, "late", 50ms);
  run_all();
  ASSERT_EQ(got_.size(), 1u);
  EXPECT_GE(got_[0].at, 50ms + 100us);
  EXPECT_LE(got_[0].at, 50ms + 100us + 2ms);
}

TEST_F(NetworkTest, InOrder_PacketsOnALinkArriveInSendOrder) {
  make(quiet());
  const std::vector<std::string> sent = send_numbered(200);
  EXPECT_EQ(arrival_order(), sent);
  EXPECT_EQ(net_->stats().reordered, 0u);
}

TEST_F(NetworkTest, Reorder_SomePacketsOvertake) {
  NetworkOptions o = quiet();
  o.reorder_ppm = 300'000;
  make(o);
  const std::vector<std::string> sent = send_numbered(200);
  EXPECT_NE(arrival_order(), sent);
  EXPECT_GT(net_->stats().reordered, 0u);
}

TEST_F(NetworkTest, Latency_ZeroSpreadIsExactlyMin) {
  NetworkOptions o = independent();
  o.latency_spread = Duration(0);
  o.tail_ppm = 1'000'000;
  make(o);
  send_burst(10);
  ASSERT_EQ(got_.size(), 10u);
  for (const Arrival& a : got_) EXPECT_EQ(a.at, o.latency_min);
}

TEST_F(NetworkTest, CutLink_DropsOneDirectionOnly) {
  make(quiet());
  net_->set_link(n1, n2, false);
  EXPECT_FALSE(net_->link_up(n1, n2));
  EXPECT_TRUE(net_->link_up(n2, n1));
  net_->send(n1, n2, "lost", Duration(0));
  net_->send(n2, n1, "kept", Duration(0));
  net_->send(n1, n3, "kept", Duration(0));
  run_all();
  EXPECT_EQ(count(n1, n2), 0u);
  EXPECT_EQ(count(n2, n1), 1u);
  EXPECT_EQ(count(n1, n3), 1u);
  EXPECT_EQ(net_->stats().dropped_partition, 1u);
}

TEST_F(NetworkTest, LinkCutWhileInFlight_DropsThePacket) {
  make(quiet());
  net_->send(n1, n2, "in flight", Duration(0));
  q_.at(50us, [&] { net_->set_link(n1, n2, false); });
  run_all();
  EXPECT_TRUE(got_.empty());
  EXPECT_EQ(net_->stats().dropped_partition, 1u);
  EXPECT_EQ(net_->stats().delivered, 0u);
}

TEST_F(NetworkTest, LinkRestoredBeforeArrival_Delivers) {
  make(quiet());
  net_->send(n1, n2, "in flight", Duration(0));
  q_.at(10us, [&] { net_->set_link(n1, n2, false); });
  q_.at(20us, [&] { net_->set_link(n1, n2, true); });
  run_all();
  EXPECT_EQ(got_.size(), 1u);
}

TEST_F(NetworkTest, HealAll_RestoresEveryLinkAndClearsClogs) {
  make(quiet());
  net_->set_link(n1, n2, false);
  net_->set_link(n3, n1, false);
  net_->clog(n2, n3, 10s);
  net_->heal_all();
  EXPECT_TRUE(net_->link_up(n1, n2));
  EXPECT_TRUE(net_->link_up(n3, n1));
  net_->send(n1, n2, "a", Duration(0));
  net_->send(n3, n1, "b", Duration(0));
  net_->send(n2, n3, "c", Duration(0));
  run_all();
  EXPECT_EQ(got_.size(), 3u);
  for (const Arrival& a : got_) EXPECT_LT(a.at, 1s);
  EXPECT_EQ(net_->stats().clogged, 0u);
}

TEST_F(NetworkTest, FullLoss_DropsEverythingWhileFaultsAreOn) {
  NetworkOptions o = quiet();
  o.loss_ppm = 1'000'000;
  make(o);
  send_burst(100);
  EXPECT_TRUE(got_.empty());
  EXPECT_EQ(net_->stats().dropped_loss, 100u);
}

TEST_F(NetworkTest, FullLoss_DropsNothingWhenFaultsAreOff) {
  NetworkOptions o = quiet();
  o.loss_ppm = 1'000'000;
  o.faults = false;
  make(o);
  send_burst(100);
  EXPECT_EQ(got_.size(), 100u);
  EXPECT_EQ(net_->stats().dropped_loss, 0u);
}

TEST_F(NetworkTest, FullDuplication_DeliversEveryPacketTwice) {
  NetworkOptions o = quiet();
  o.dup_ppm = 1'000'000;
  make(o);
  for (int k = 0; k < 20; ++k) net_->send(n1, n2, std::to_string(k), Duration(0));
  run_all();
  ASSERT_EQ(got_.size(), 40u);
  for (int k = 0; k < 20; ++k) {
    int copies = 0;
    for (const Arrival& a : got_) copies += a.bytes == std::to_string(k) ? 1 : 0;
    EXPECT_EQ(copies, 2) << k;
  }
  EXPECT_EQ(net_->stats().duplicated, 20u);
}

TEST_F(NetworkTest, FullDuplication_NoCopiesWhenFaultsAreOff) {
  NetworkOptions o = quiet();
  o.dup_ppm = 1'000'000;
  o.faults = false;
  make(o);
  send_burst(20);
  EXPECT_EQ(got_.size(), 20u);
  EXPECT_EQ(net_->stats().duplicated, 0u);
}

TEST_F(NetworkTest, Replay_RedeliversAnEarlierPacket) {
  NetworkOptions o = quiet();
  o.replay_ppm = 1'000'000;
  make(o);
  net_->send(n1, n2, "first", Duration(0));
  net_->send(n2, n3, "second", Duration(0));
  run_all();
  ASSERT_EQ(got_.size(), 3u);
  EXPECT_EQ(count(n1, n2), 2u);
  EXPECT_EQ(net_->stats().replayed, 1u);
}

TEST_F(NetworkTest, Hold_DeliversLongAfterTheOthersWithinTheBound) {
  NetworkOptions o = quiet();
  o.hold_ppm = 100'000;
  o.hold_max = 2s;
  make(o);
  for (int k = 0; k < 200; ++k) net_->send(n1, n2, std::to_string(k), Duration(0));
  run_all();
  ASSERT_EQ(got_.size(), 200u);  // held, never lost
  size_t late = 0;
  for (const Arrival& a : got_) {
    EXPECT_LE(a.at, Duration(2s) + o.latency_min);
    if (a.at >= Duration(500ms)) ++late;  // at least a quarter of the bound
  }
  EXPECT_EQ(late, net_->stats().held);
  EXPECT_GT(late, 5u);
  EXPECT_LT(late, 60u);
}

TEST_F(NetworkTest, Hold_NothingHeldWhenFaultsAreOff) {
  NetworkOptions o = quiet();
  o.hold_ppm = 1'000'000;
  o.hold_max = 2s;
  o.faults = false;
  make(o);
  send_burst(20);
  EXPECT_EQ(net_->stats().held, 0u);
  for (const Arrival& a : got_) EXPECT_LT(a.at, Duration(100ms));
}

TEST_F(NetworkTest, Clog_HoldsPacketsUntilTheClogTime) {
  make(quiet());
  net_->clog(n1, n2, 50ms);
  for (int k = 0; k < 10; ++k) net_->send(n1, n2, "held", Duration(0));
  net_->send(n2, n1, "free", Duration(0));
  run_all();
  ASSERT_EQ(got_.size(), 11u);
  for (const Arrival& a : got_) {
    if (a.from == n1) {
      EXPECT_GE(a.at, 50ms);
      EXPECT_LT(a.at, 50ms + 1us);
    } else {
      EXPECT_LT(a.at, 50ms);
    }
  }
  EXPECT_EQ(net_->stats().clogged, 10u);
}

TEST_F(NetworkTest, Clog_MovedEarlier_ReleasesWhatItHeldThen) {
  make(quiet());
  net_->clog(n1, n2, Duration(10s));
  for (int k = 0; k < 5; ++k) net_->send(n1, n2, std::to_string(k), Duration(0));
  q_.at(Duration(1s), [this] { net_->clog(n1, n2, Duration(2s)); });
  run_all();
  ASSERT_EQ(got_.size(), 5u);
  for (const Arrival& a : got_) {
    EXPECT_GE(a.at, Duration(2s));
    EXPECT_LT(a.at, Duration(2s) + Duration(1ms));
  }
}

TEST_F(NetworkTest, Clog_HealAll_ReleasesAtOnce_AndACutLinkStillDrops) {
  make(quiet());
  net_->clog(n1, n2, Duration(10s));
  net_->clog(n2, n3, Duration(10s));
  net_->send(n1, n2, "kept", Duration(0));
  net_->send(n2, n3, "cut", Duration(0));
  q_.at(Duration(1s), [this] {
    net_->heal_all();
    net_->set_link(n2, n3, false);
  });
  run_all();
  ASSERT_EQ(got_.size(), 1u);
  EXPECT_EQ(got_[0].bytes, "kept");
  EXPECT_LT(got_[0].at, Duration(1s) + Duration(1ms));
  EXPECT_EQ(net_->stats().dropped_partition, 1u);
}

TEST_F(NetworkTest, Clog_PacketsArrivingAfterTheClogTimeAreNotHeld) {
  make(quiet());
  net_->clog(n1, n2, 10ms);
  net_->send(n1, n2, "after", 20ms);
  run_all();
  ASSERT_EQ(got_.size(), 1u);
  EXPECT_LE(got_[0].at, 20ms + 100us + 2ms);
  EXPECT_EQ(net_->stats().clogged, 0u);
}

TEST_F(NetworkTest, Stats_AccountForEveryPacket) {
  NetworkOptions o = quiet();
  o.loss_ppm = 300'000;
  make(o, 7);
  net_->set_link(n3, n1, false);
  for (int k = 0; k < 300; ++k) {
    const NodeId from(1 + k % 3), to(1 + (k + 1) % 3);
    net_->send(from, to, "x", Duration(k));
  }
  run_all();
  const NetworkStats& s = net_->stats();
  EXPECT_EQ(s.sent, 300u);
  EXPECT_EQ(s.delivered, got_.size());
  EXPECT_EQ(s.dropped_partition, 100u);
  EXPECT_GT(s.dropped_loss, 0u);
  EXPECT_EQ(s.sent, s.delivered + s.dropped_loss + s.dropped_partition);
  EXPECT_EQ(count(n3, n1), 0u);
}

TEST(Network, SameSeed_SameArrivals) {
  auto run = [](uint64_t seed) {
    EventQueue q;
    NetworkOptions o;
    o.loss_ppm = 100'000;
    o.dup_ppm = 100'000;
    o.replay_ppm = 100'000;
    std::vector<std::pair<Duration, std::string>> out;
    Network net(q, Prng(seed), o, 3,
                [&](NodeId, NodeId, std::string b) { out.emplace_back(q.now(), std::move(b)); });
    for (int k = 0; k < 200; ++k)
      net.send(NodeId(1 + k % 3), NodeId(1 + (k + 2) % 3), std::to_string(k), Duration(0));
    while (q.run_next()) {
    }
    return out;
  };
  EXPECT_EQ(run(11), run(11));
  EXPECT_NE(run(11), run(12));
}

}  // namespace
}  // namespace rq::sim
