#include "server/read_pool.h"

#include <sqlite3.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>

namespace rq::server {
namespace {

int64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

sqlite3* open_read_only(const ReadPoolOptions& o, std::string* why) {
  sqlite3* db = nullptr;
  // Always the plain unix VFS: the state machine's entry VFS (leader's time) is for applies only.
  const int rc =
      sqlite3_open_v2(o.db_path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, "unix");
  if (rc != SQLITE_OK) {
    *why = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return nullptr;
  }
  sqlite3_extended_result_codes(db, 0);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_exec(db, "PRAGMA query_only=1", nullptr, nullptr, nullptr);
  if (o.foreign_keys) sqlite3_exec(db, "PRAGMA foreign_keys=ON", nullptr, nullptr, nullptr);
  return db;
}

}  // namespace

ReadPool::ReadPool(boost::asio::io_context& io, ReadPoolOptions opts)
    : io_(io), opts_(std::move(opts)) {
  const size_t n = std::max<size_t>(1, opts_.threads);
  for (size_t i = 0; i < n; ++i) threads_.emplace_back([this] { run(); });
}

ReadPool::~ReadPool() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    tasks_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ReadPool::read(const svc::Request& req, std::function<void(sql::CommandResult)> done) {
  {
    std::lock_guard<std::mutex> l(mu_);
    tasks_.push_back(Task{req, std::move(done)});
  }
  cv_.notify_one();
}

size_t ReadPool::queued() const {
  std::lock_guard<std::mutex> l(mu_);
  return tasks_.size();
}

void ReadPool::run() {
  sqlite3* db = nullptr;
  for (;;) {
    Task t;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return stopping_ || !tasks_.empty(); });
      if (stopping_) break;
      t = std::move(tasks_.front());
      tasks_.pop_front();
    }
    sql::CommandResult result;
    std::string why;
    if (db == nullptr) db = open_read_only(opts_, &why);
    if (db == nullptr) {
      result.error = "cannot open the database for reading: " + why;
    } else {
      sql::RunOptions o;
      o.qualify_columns = t.req.qualify_columns;
      o.stopwatch_ns = monotonic_ns;
      o.timeout_ns = t.req.db_timeout.count();
      result = sql::run_query(db, t.req.statements, t.req.transaction, o);
    }
    const bool tx = t.req.transaction;
    boost::asio::post(io_, [stats = stats_, tx, done = std::move(t.done), r = std::move(result)]() mutable {
      stats->queries += r.results.size();
      for (const auto& s : r.results) stats->query_errors += s.error.empty() ? 0 : 1;
      stats->query_transactions += tx ? 1 : 0;
      done(std::move(r));
    });
  }
  sqlite3_close_v2(db);
}

}  // namespace rq::server
