// Reads outside the log run here, on a pool of threads that each own a read-only SQLite
// connection to the node's database file (WAL mode lets them read while the apply thread
// writes). Answers are posted back to the node's io_context, so the service only ever sees them
// on its own thread, and a long SELECT never delays heartbeats or applies.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/service/service.h"

namespace boost::asio {
class io_context;
}

namespace rq::server {

struct ReadPoolOptions {
  std::string db_path;  // the database file, opened read-only
  size_t threads = 2;
  bool foreign_keys = false;  // rqlite sets -fk on every connection
};

// What the pool ran (rqlite's `db` map: queries outside the log), counted on the io thread.
struct ReadPoolStats {
  uint64_t queries = 0, query_errors = 0, query_transactions = 0;
};

class ReadPool final : public svc::ReadExecutor {
 public:
  ReadPool(boost::asio::io_context& io, ReadPoolOptions opts);
  ~ReadPool() override;  // finishes the queued reads' work, drops their answers, joins
  ReadPool(const ReadPool&) = delete;
  ReadPool& operator=(const ReadPool&) = delete;

  void read(const svc::Request& req, std::function<void(sql::CommandResult)> done) override;
  size_t queued() const;
  const ReadPoolStats& stats() const { return *stats_; }

 private:
  struct Task {
    svc::Request req;
    std::function<void(sql::CommandResult)> done;
  };
  void run();

  boost::asio::io_context& io_;
  ReadPoolOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::shared_ptr<ReadPoolStats> stats_ = std::make_shared<ReadPoolStats>();
};

}  // namespace rq::server
