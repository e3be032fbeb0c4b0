// net/: the real disk and clock behind the core's boundaries.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "net/asio_clock.h"
#include "net/posix_disk.h"
#include "net/tcp_transport.h"

namespace rq::net {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "rq-net-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(PosixDisk, FilesRoundTrip) {
  TempDir t;
  auto d = PosixDisk::open(t.path() + "/sub/dir");
  ASSERT_TRUE(d.ok()) << d.error().message;
  PosixDisk& disk = **d;
  ASSERT_TRUE(disk.create("a").ok());
  EXPECT_EQ(disk.create("a").error().code, ErrorCode::kExists);
  ASSERT_TRUE(disk.append("a", "hello ").ok());
  ASSERT_TRUE(disk.append("a", "world").ok());
  ASSERT_TRUE(disk.write("a", 0, "J").ok());
  EXPECT_EQ(*disk.size("a"), 11u);
  EXPECT_EQ(*disk.read("a", 0, 100), "Jello world");
  EXPECT_EQ(*disk.read("a", 6, 3), "wor");
  EXPECT_EQ(*disk.read("a", 50, 3), "");
  ASSERT_TRUE(disk.sync("a").ok());
  ASSERT_TRUE(disk.truncate("a", 5).ok());
  EXPECT_EQ(*disk.read("a", 0, 100), "Jello");
  ASSERT_TRUE(disk.create("b").ok());
  ASSERT_TRUE(disk.append("b", "bee").ok());
  // Rename over an existing name replaces it; the open descriptor follows the name.
  ASSERT_TRUE(disk.rename("b", "a").ok());
  EXPECT_EQ(*disk.read("a", 0, 100), "bee");
  ASSERT_TRUE(disk.append("a", "s").ok());
  EXPECT_EQ(*disk.read("a", 0, 100), "bees");
  EXPECT_EQ(disk.read("b", 0, 1).error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(disk.sync_dir().ok());
  EXPECT_EQ(*disk.list(), (std::vector<std::string>{"a"}));
  ASSERT_TRUE(disk.remove("a").ok());
  EXPECT_EQ(disk.remove("a").error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(disk.list()->empty());
  EXPECT_EQ(disk.counters().syncs.load(), 1u);
  EXPECT_EQ(disk.counters().dir_syncs.load(), 1u);
}

TEST(PosixDisk, ContentsSurviveReopening) {
  TempDir t;
  {
    auto d = PosixDisk::open(t.path());
    ASSERT_TRUE(d.ok());
    ASSERT_TRUE((*d)->create("log").ok());
    ASSERT_TRUE((*d)->append("log", std::string(100000, 'x')).ok());
    ASSERT_TRUE((*d)->sync("log").ok());
  }
  auto d = PosixDisk::open(t.path());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*(*d)->size("log"), 100000u);
  EXPECT_EQ((*d)->read("log", 99990, 100)->size(), 10u);
}

TEST(PosixDisk, NamesOutsideTheDirectory_Refused) {
  TempDir t;
  auto d = PosixDisk::open(t.path());
  ASSERT_TRUE(d.ok());
  for (const char* bad : {"", ".", "..", "../x", "a/b"}) {
    EXPECT_EQ((*d)->create(bad).error().code, ErrorCode::kInvalid) << bad;
  }
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(t.path()).parent_path() / "x"));
}

TEST(AsioClock, TimersFireInOrder_CancelledOnesDoNot) {
  boost::asio::io_context io;
  AsioClock clock(io);
  std::vector<int> fired;
  const Duration start = clock.now();
  clock.schedule(std::chrono::milliseconds(20), [&] { fired.push_back(2); });
  clock.schedule(std::chrono::milliseconds(1), [&] { fired.push_back(1); });
  const TimerId dropped =
      clock.schedule(std::chrono::milliseconds(5), [&] { fired.push_back(99); });
  clock.cancel(dropped);
  clock.cancel(dropped);  // a second cancel is a no-op
  // A timer scheduled from inside a handler runs too.
  clock.schedule(std::chrono::milliseconds(2), [&] {
    fired.push_back(3);
    clock.schedule(Duration{0}, [&] { fired.push_back(4); });
  });
  io.run_for(std::chrono::seconds(5));
  EXPECT_EQ(fired, (std::vector<int>{1, 3, 4, 2}));
  EXPECT_GE(clock.now() - start, std::chrono::milliseconds(20));
  EXPECT_EQ(clock.pending(), 0u);
  // Wall time is the Unix epoch's (some time after 2020).
  EXPECT_GT(clock.wall_unix_ns(), int64_t{1'577'836'800} * 1'000'000'000);
}

// Two transports on 127.0.0.1 in one io_context: frames arrive whole and in order.
struct Pair {
  boost::asio::io_context io;
  std::vector<std::string> got;
  std::map<NodeId, std::string> addrs;
  std::unique_ptr<TcpTransport> a, b;

  explicit Pair(TcpTransportOptions o = {}) {
    auto resolve = [this](NodeId id) { return addrs.count(id) ? addrs[id] : std::string(); };
    a = std::make_unique<TcpTransport>(
        io, o, [](std::string_view) {}, resolve);
    b = std::make_unique<TcpTransport>(
        io, o, [this](std::string_view m) { got.emplace_back(m); }, resolve);
    EXPECT_TRUE(a->start().ok());
    EXPECT_TRUE(b->start().ok());
    addrs[NodeId(2)] = "127.0.0.1:" + std::to_string(b->port());
  }
  // A new b listening on `port` again (b went down before).
  void bring_b_back(TcpTransportOptions o, uint16_t port) {
    o.listen_port = port;
    b = std::make_unique<TcpTransport>(
        io, o, [this](std::string_view m) { got.emplace_back(m); },
        [](NodeId) { return std::string(); });
    ASSERT_TRUE(b->start().ok());
  }
  // Runs until `n` frames arrived at b, for at most 5 s.
  void run_until(size_t n) {
    for (int i = 0; i < 500 && got.size() < n; ++i) io.run_for(std::chrono::milliseconds(10));
  }
};

TEST(TcpTransport, FramesArriveWholeAndInOrder) {
  Pair p;
  std::vector<std::string> sent;
  for (int i = 0; i < 200; ++i) {
    sent.push_back(
        std::string(static_cast<size_t>(i * 97 % 5000), static_cast<char>('a' + i % 26)) +
        std::to_string(i));
    p.a->send(NodeId(2), sent.back());
  }
  p.a->send(NodeId(2), std::string(3 << 20, 'x'));  // bigger than one write batch
  sent.push_back(std::string(3 << 20, 'x'));
  p.run_until(sent.size());
  EXPECT_EQ(p.got, sent);
  EXPECT_EQ(p.a->stats().connects, 1u);  // one connection, reused
  EXPECT_EQ(p.a->stats().frames_sent, sent.size());
}

TEST(TcpTransport, UnknownPeer_FramesDropped) {
  Pair p;
  p.a->send(NodeId(9), "nobody");
  p.io.run_for(std::chrono::milliseconds(20));
  EXPECT_EQ(p.a->stats().frames_dropped, 1u);
}

TEST(TcpTransport, PeerDown_QueueBounded_ReconnectsWhenItComesBack) {
  TcpTransportOptions o;
  o.max_queued_bytes = 10'000;
  o.backoff_max = std::chrono::milliseconds(100);
  Pair p(o);
  const std::string addr = p.addrs[NodeId(2)];
  const uint16_t port = p.b->port();
  p.b->stop();
  p.b.reset();
  for (int i = 0; i < 20; ++i) p.a->send(NodeId(2), std::string(1000, 'q'));  // 20 KB > 10 KB bound
  p.io.run_for(std::chrono::milliseconds(200));
  EXPECT_GE(p.a->stats().frames_dropped, 10u);
  EXPECT_GE(p.a->stats().connect_failures, 1u);
  // The peer comes back on the same port: queued frames and new ones get through.
  p.bring_b_back(o, port);
  p.a->send(NodeId(2), "after");
  p.run_until(1);
  for (int i = 0; i < 50 && (p.got.empty() || p.got.back() != "after"); ++i) {
    p.io.run_for(std::chrono::milliseconds(20));
  }
  ASSERT_FALSE(p.got.empty());
  EXPECT_EQ(p.got.back(), "after");
  EXPECT_LE(p.got.size(), 11u);  // at most the 10 frames that fit, plus "after"
}

// A peer that comes back after long enough (perhaps as a new process) gets none of the frames
// queued for it back then: they are stale (a forwarded request its client gave up on).
TEST(TcpTransport, PeerBackAfterLong_StaleFramesDropped_NewOnesDelivered) {
  TcpTransportOptions o;
  o.backoff_max = std::chrono::milliseconds(50);
  o.max_queue_age = std::chrono::milliseconds(100);
  Pair p(o);
  const uint16_t port = p.b->port();
  p.b->stop();
  p.b.reset();
  for (int i = 0; i < 5; ++i) p.a->send(NodeId(2), "stale" + std::to_string(i));
  p.io.run_for(std::chrono::milliseconds(300));  // older than max_queue_age by now
  p.bring_b_back(o, port);
  p.a->send(NodeId(2), "fresh");
  p.run_until(1);
  p.io.run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(p.got, (std::vector<std::string>{"fresh"}));
  EXPECT_GE(p.a->stats().frames_dropped, 5u);
}

TEST(TcpTransport, OversizedFrameFromAHostilePeer_ClosesOnlyThatConnection) {
  TcpTransportOptions o;
  o.max_frame_bytes = 1000;
  Pair p(o);
  boost::asio::ip::tcp::socket raw(p.io);
  raw.connect({boost::asio::ip::make_address("127.0.0.1"), p.b->port()});
  const char header[4] = {static_cast<char>(0xff), static_cast<char>(0xff), static_cast<char>(0xff),
                          0x7f};
  boost::asio::write(raw, boost::asio::buffer(header, 4));
  for (int i = 0; i < 100 && p.b->stats().oversized_frames == 0; ++i)
    p.io.run_for(std::chrono::milliseconds(10));
  EXPECT_EQ(p.b->stats().oversized_frames, 1u);
  // The hostile connection is closed ...
  char c;
  boost::system::error_code ec;
  raw.read_some(boost::asio::buffer(&c, 1), ec);
  EXPECT_TRUE(ec);
  // ... and honest peers still get through.
  p.a->send(NodeId(2), "still here");
  p.run_until(1);
  ASSERT_EQ(p.got.size(), 1u);
  EXPECT_EQ(p.got[0], "still here");
}

TEST(TcpTransport, SplitHostPort) {
  std::string h;
  uint16_t port = 0;
  EXPECT_TRUE(split_host_port("127.0.0.1:4002", &h, &port));
  EXPECT_EQ(h, "127.0.0.1");
  EXPECT_EQ(port, 4002);
  EXPECT_TRUE(split_host_port("[::1]:80", &h, &port));
  EXPECT_EQ(h, "::1");
  EXPECT_FALSE(split_host_port("nohost", &h, &port));
  EXPECT_FALSE(split_host_port("h:99999", &h, &port));
  EXPECT_FALSE(split_host_port("h:", &h, &port));
}

}  // namespace
}  // namespace rq::net
