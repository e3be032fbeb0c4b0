// rqlite's /db/backup, /db/load and /boot below HTTP (rqlite-compat.md §2.6, §2.7): the work on
// whole database files. It runs on worker threads of its own, because copying, checking or
// dumping a large database takes seconds and the io_context's thread owns Raft; answers are
// posted back to the io_context. Every file it makes is a temporary one in the node's temporary
// directory (NodeHost::temp_dir), handed on as a BodyFile that removes it when dropped, so a
// backup is streamed from disk and never sits in memory whole.
//
// What each operation reads: backups read the node's database file through read-only
// connections of their own, inside one read transaction (WAL mode: a consistent copy while the
// node keeps writing); load and boot images are checked with PRAGMA quick_check before anything
// is replicated or swapped in, and converted to the node's page size when they have another
// (SQLite cannot copy pages of one size into a WAL database of another).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/result.h"
#include "server/http_server.h"

namespace boost::asio {
class io_context;
}
struct sqlite3;

namespace rq::server {

// rqlite's `fmt`: case-insensitive "sql" or "delete"; anything else (absent too) is binary.
enum class BackupFormat : uint8_t { kBinary, kDelete, kSql };
BackupFormat backup_format_from_name(std::string_view fmt);

struct BackupRequest {
  BackupFormat format = BackupFormat::kBinary;
  bool vacuum = false;              // binary only: VACUUM INTO a temporary file first
  bool compress = false;            // gzip (BestSpeed) of the result
  std::vector<std::string> tables;  // sql only: just these tables (empty: all)
};

// rqlite's db.IsValidSQLiteData: more than 13 bytes that start with "SQLite format".
bool is_sqlite_data(std::string_view head);

// The request bodies rqlited writes to files instead of memory (HttpServerOptions::spool_body):
// POST /db/load... and POST /boot, which carry database images.
bool spool_body(std::string_view method, std::string_view path);

// rqlite's SQL dump (db.Dump) of the database open on `db`, written to `out`: see backup.cpp.
// Runs inside one read transaction of its own. `stop` is polled between rows.
Status dump_sql(sqlite3* db, std::FILE* out, const std::vector<std::string>& tables,
                const std::atomic<bool>& stop);

// gzip of a file, as Go's gzip.NewWriterLevel(w, gzip.BestSpeed) frames it (same header: no name,
// no time, OS "unknown"; the compressed bytes are zlib's, not Go's).
Status gzip_file(const std::string& from, const std::string& to, const std::atomic<bool>& stop);

struct BackupsOptions {
  std::string db_path;   // the node's database file
  std::string temp_dir;  // where temporary files go (on the data directory's file system)
  size_t threads = 2;
  size_t max_jobs = 8;  // queued or running; more is refused (the caller answers 503)
};

class Backups {
 public:
  Backups(boost::asio::io_context& io, BackupsOptions opts);
  // Stops what runs at its next check, drops the queue, joins: no answer comes after this.
  ~Backups();
  Backups(const Backups&) = delete;
  Backups& operator=(const Backups&) = delete;

  using FileDone = std::function<void(Result<std::shared_ptr<BodyFile>>)>;
  using ImageDone = std::function<void(Result<std::string>)>;
  using StatusDone = std::function<void(Status)>;

  // Each returns false (and never calls `done`) when max_jobs are already queued or running;
  // otherwise `done` is called once, on the io_context's thread.

  // A backup as rqlite's /db/backup makes it, in a temporary file.
  bool backup(BackupRequest req, FileDone done);
  // The image of a /db/load (in `image`, or in `file` when the body was spooled): checked, and
  // converted to the node's page size if needed; `done` gets the bytes to replicate. An image
  // that fails the check gets an error whose message says why ("invalid SQLite data: ...").
  bool prepare_load(std::string image, std::shared_ptr<BodyFile> file, ImageDone done);
  // The image of a /boot, checked and converted the same way, in a file ready for swap_in().
  bool prepare_boot(std::string image, std::shared_ptr<BodyFile> file, FileDone done);
  // Copies a prepared image into the node's database through a connection of its own, in one
  // transaction (readers see the old contents or the new). The caller makes sure nothing else
  // writes the database meanwhile (Service::pause_writes).
  bool swap_in(std::shared_ptr<BodyFile> file, StatusDone done);

  const std::string& temp_dir() const { return opts_.temp_dir; }

  // One /boot at a time (io_context's thread only): false when one is under way.
  bool begin_boot() { return !std::exchange(booting_, true); }
  void end_boot() { booting_ = false; }

 private:
  bool run(std::function<void()> job);
  void work();
  // Posts `fn` to the io_context.
  void answer(std::function<void()> fn);
  // A new empty temporary file.
  Result<std::shared_ptr<BodyFile>> temp_file(const char* prefix);
  Result<std::shared_ptr<BodyFile>> make_backup(const BackupRequest& req);
  Result<std::string> node_page_size();
  Result<std::string> checked_image(std::string image, std::shared_ptr<BodyFile> file);
  Result<std::shared_ptr<BodyFile>> prepare_file(std::string image, std::shared_ptr<BodyFile> file);
  Status copy_into_database(const std::string& path);

  boost::asio::io_context& io_;
  BackupsOptions opts_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;  // Invariant: jobs_.size() + running_ <= max_jobs
  size_t running_ = 0;
  std::vector<std::thread> threads_;
  bool booting_ = false;
};

}  // namespace rq::server
