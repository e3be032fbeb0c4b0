// net/: the real disk and clock behind the core's boundaries.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>

#include "net/asio_clock.h"
#include "net/posix_disk.h"

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

}  // namespace
}  // namespace rq::net
