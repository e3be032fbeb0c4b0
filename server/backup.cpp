#include "server/backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace rq::server {

namespace {

constexpr int kPagesPerStep = 4096;  // backup API steps: stop requests are seen between them

Error io_error(const std::string& what) {
  return make_error(ErrorCode::kIo, what + ": " + std::strerror(errno));
}

// A connection that closes itself.
struct Db {
  sqlite3* db = nullptr;
  ~Db() {
    if (db != nullptr) sqlite3_close_v2(db);
  }
  std::string error() const { return db != nullptr ? sqlite3_errmsg(db) : "out of memory"; }
};

Result<std::unique_ptr<Db>> open_db(const std::string& path, bool read_only) {
  auto d = std::make_unique<Db>();
  const int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (sqlite3_open_v2(path.c_str(), &d->db, flags, "unix") != SQLITE_OK)
    return make_error(ErrorCode::kIo, "cannot open " + path + ": " + d->error());
  sqlite3_busy_timeout(d->db, 5000);
  return d;
}

Status exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string why = err != nullptr ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    return make_error(ErrorCode::kIo, why);
  }
  return ok_status();
}

// The first column of the first row of `sql`, as text ("" when there is none).
Result<std::string> scalar(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    std::string why = sqlite3_errmsg(db);
    sqlite3_finalize(st);
    return make_error(ErrorCode::kInvalid, why);
  }
  std::string out;
  const int rc = sqlite3_step(st);
  if (rc == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr)
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    std::string why = sqlite3_errmsg(db);
    sqlite3_finalize(st);
    return make_error(ErrorCode::kInvalid, why);
  }
  sqlite3_finalize(st);
  return out;
}

// VACUUM INTO `path` (an empty or missing file): a compact copy of the database open on `db`,
// with the page size the connection asks for.
Status vacuum_into(sqlite3* db, const std::string& path) {
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, nullptr);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(st, 1, path.c_str(), -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
  }
  std::string why = sqlite3_errmsg(db);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return make_error(ErrorCode::kIo, why);
  return ok_status();
}

// The page size a database image's header declares (1 stands for 65536).
uint32_t header_page_size(const unsigned char* h) {
  const uint32_t v = (uint32_t{h[16]} << 8) | h[17];
  return v == 1 ? 65536 : v;
}

// An image's header says WAL mode (bytes 18 and 19 = 2) when it was copied from a WAL database,
// as rqlite's binary backups are. Opened as it is, SQLite would look for (and create) a WAL and
// a shared-memory file beside it; the pages are the same in rollback mode.
void to_rollback_header(unsigned char* h) {
  if (h[18] == 2) h[18] = 1;
  if (h[19] == 2) h[19] = 1;
}

Status patch_file_header(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open " + path);
  unsigned char h[20];
  Status st = ok_status();
  if (::pread(fd, h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) {
    st = make_error(ErrorCode::kInvalid, "invalid SQLite data");
  } else if (h[18] == 2 || h[19] == 2) {
    to_rollback_header(h);
    if (::pwrite(fd, h + 18, 2, 18) != 2) st = io_error("cannot write " + path);
  }
  ::close(fd);
  return st;
}

// PRAGMA quick_check: "ok", or why not, as rqlite users would read it.
Status check_database(sqlite3* db) {
  auto r = scalar(db, "PRAGMA quick_check");
  if (!r) return make_error(ErrorCode::kInvalid, "invalid SQLite data: " + r.error().message);
  if (*r != "ok") return make_error(ErrorCode::kInvalid, "invalid SQLite data: " + *r);
  return ok_status();
}

Result<std::string> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return io_error("cannot read " + path);
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return io_error("cannot read " + path);
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

Status write_file(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open " + path);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return io_error("cannot write " + path);
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return ok_status();
}

// Copies the database open on `src` (main) into `dst` with the backup API, a step at a time.
// `src` must already be inside a read transaction when the copy has to be consistent while
// others write (each step would otherwise see the database as it is then).
Status backup_pages(sqlite3* dst, sqlite3* src, const std::atomic<bool>& stop) {
  sqlite3_backup* b = sqlite3_backup_init(dst, "main", src, "main");
  if (b == nullptr) return make_error(ErrorCode::kIo, sqlite3_errmsg(dst));
  int rc;
  int busy = 0;
  while ((rc = sqlite3_backup_step(b, kPagesPerStep)) == SQLITE_OK || rc == SQLITE_BUSY ||
         rc == SQLITE_LOCKED) {
    if (stop.load()) break;
    if (rc == SQLITE_OK) {
      busy = 0;
      continue;
    }
    // Bounded: about 30 s of another connection holding a lock we need.
    if (++busy > 3000) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  sqlite3_backup_finish(b);
  if (rc == SQLITE_DONE) return ok_status();
  if (stop.load()) return make_error(ErrorCode::kIo, "stopped");
  return make_error(
      rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? ErrorCode::kInvalid : ErrorCode::kIo,
      sqlite3_errstr(rc));
}

std::string quote_ident(std::string_view s) {
  std::string out;
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out;
}

std::string quote_literal(std::string_view s) {
  std::string out;
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out;
}

// Runs `sql` (with the table names bound to ?1..?n) and calls row(stmt) for every row.
template <class Row>
Status each_row(sqlite3* db, const std::string& sql, const std::vector<std::string>& binds,
                const std::atomic<bool>& stop, Row row) {
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    std::string why = sqlite3_errmsg(db);
    sqlite3_finalize(st);
    return make_error(ErrorCode::kIo, why);
  }
  for (size_t i = 0; i < binds.size(); ++i)
    sqlite3_bind_text(st, static_cast<int>(i + 1), binds[i].c_str(), -1, SQLITE_TRANSIENT);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    if (stop.load()) {
      sqlite3_finalize(st);
      return make_error(ErrorCode::kIo, "stopped");
    }
    if (Status s = row(st); !s) {
      sqlite3_finalize(st);
      return s;
    }
  }
  std::string why = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return make_error(ErrorCode::kIo, why);
  return ok_status();
}

std::string text_column(sqlite3_stmt* st, int i) {
  const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
  return t == nullptr ? std::string()
                      : std::string(t, static_cast<size_t>(sqlite3_column_bytes(st, i)));
}

std::string in_list(size_t n) {
  std::string out = "(";
  for (size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ",?";
  return out + ")";
}

}  // namespace

BackupFormat backup_format_from_name(std::string_view fmt) {
  std::string f;
  for (char c : fmt) f += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (f == "sql") return BackupFormat::kSql;
  if (f == "delete") return BackupFormat::kDelete;
  return BackupFormat::kBinary;
}

bool is_sqlite_data(std::string_view head) {
  return head.size() > 13 && head.substr(0, 13) == "SQLite format";
}

bool spool_body(std::string_view method, std::string_view path) {
  return method == "POST" && (path.rfind("/db/load", 0) == 0 || path == "/boot");
}

// rqlite's db.Dump, statement for statement (rqlite-compat.md §2.6): the tables in name order,
// each as its CREATE statement and one INSERT per row built by SQLite's own quote(); the
// sequence table as DELETE plus its rows, sqlite_stat1 as ANALYZE, other sqlite_ tables left
// out; then indexes, triggers and views in the order sqlite_master holds them. Names are escaped
// where rqlite pastes them as they are (the output is the same for every name rqlite can dump).
Status dump_sql(sqlite3* db, std::FILE* out, const std::vector<std::string>& tables,
                const std::atomic<bool>& stop) {
  auto put = [out](std::string_view s) -> Status {
    if (std::fwrite(s.data(), 1, s.size(), out) != s.size())
      return io_error("cannot write the dump");
    return ok_status();
  };
  if (Status s = exec(db, "BEGIN"); !s) return s;
  struct End {
    sqlite3* db;
    ~End() { sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr); }
  } end{db};
  if (Status s = put("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n"); !s) return s;
  std::string q =
      "SELECT \"name\", \"type\", \"sql\" FROM \"sqlite_master\" WHERE \"sql\" NOT NULL AND "
      "\"type\" == 'table'";
  if (!tables.empty()) q += " AND \"name\" IN " + in_list(tables.size());
  q += " ORDER BY \"name\"";
  std::vector<std::pair<std::string, std::string>> schema;  // name, CREATE
  Status s = each_row(db, q, tables, stop, [&](sqlite3_stmt* st) {
    schema.emplace_back(text_column(st, 0), text_column(st, 2));
    return ok_status();
  });
  if (!s) return s;
  for (const auto& [table, create] : schema) {
    std::string stmt;
    if (table == "sqlite_sequence") {
      stmt = "DELETE FROM \"sqlite_sequence\";";
    } else if (table == "sqlite_stat1") {
      stmt = "ANALYZE \"sqlite_master\";";
    } else if (table.rfind("sqlite_", 0) == 0) {
      continue;
    } else {
      stmt = create;
    }
    if (s = put(stmt + ";\n"); !s) return s;
    const std::string ident = quote_ident(table);
    std::vector<std::string> columns;
    s = each_row(db, "PRAGMA table_info(\"" + ident + "\")", {}, stop, [&](sqlite3_stmt* st) {
      columns.push_back(text_column(st, 1));
      return ok_status();
    });
    if (!s) return s;
    std::string values;
    for (size_t i = 0; i < columns.size(); ++i)
      values +=
          (i > 0 ? "," : "") + std::string("'||quote(\"") + quote_ident(columns[i]) + "\")||'";
    const std::string rows = "SELECT '" + quote_literal("INSERT INTO \"" + ident + "\" VALUES(") +
                             values + ")' FROM \"" + ident + "\";";
    s = each_row(db, rows, {}, stop, [&](sqlite3_stmt* st) {
      std::string line = text_column(st, 0);
      line += ";\n";
      return put(line);
    });
    if (!s) return s;
  }
  q = "SELECT \"name\", \"type\", \"sql\" FROM \"sqlite_master\" WHERE \"sql\" NOT NULL AND "
      "\"type\" IN ('index', 'trigger', 'view')";
  if (!tables.empty()) q += " AND \"tbl_name\" IN " + in_list(tables.size());
  s = each_row(db, q, tables, stop,
               [&](sqlite3_stmt* st) { return put(text_column(st, 2) + ";\n"); });
  if (!s) return s;
  return put("COMMIT;\n");
}

Status gzip_file(const std::string& from, const std::string& to, const std::atomic<bool>& stop) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return io_error("cannot open " + from);
  const int outfd = ::open(to.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (outfd < 0) {
    ::close(in);
    return io_error("cannot open " + to);
  }
  z_stream z{};
  // 15 + 16: a gzip wrapper. Level 1 is Go's gzip.BestSpeed.
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    ::close(in);
    ::close(outfd);
    return make_error(ErrorCode::kIo, "cannot start gzip");
  }
  gz_header h{};
  h.os = 255;  // Go writes "unknown"
  deflateSetHeader(&z, &h);
  std::vector<unsigned char> ibuf(size_t{1} << 20), obuf(size_t{1} << 20);
  Status st = ok_status();
  bool eof = false;
  while (st.ok() && !eof) {
    if (stop.load()) {
      st = make_error(ErrorCode::kIo, "stopped");
      break;
    }
    const ssize_t n = ::read(in, ibuf.data(), ibuf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = io_error("cannot read " + from);
      break;
    }
    eof = n == 0;
    z.next_in = ibuf.data();
    z.avail_in = static_cast<uInt>(n);
    do {
      z.next_out = obuf.data();
      z.avail_out = static_cast<uInt>(obuf.size());
      deflate(&z, eof ? Z_FINISH : Z_NO_FLUSH);
      const size_t have = obuf.size() - z.avail_out;
      if (have > 0 && ::write(outfd, obuf.data(), have) != static_cast<ssize_t>(have)) {
        st = io_error("cannot write " + to);
        break;
      }
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  ::close(in);
  ::close(outfd);
  return st;
}

Backups::Backups(boost::asio::io_context& io, BackupsOptions opts)
    : io_(io), opts_(std::move(opts)) {
  for (size_t i = 0; i < opts_.threads; ++i) threads_.emplace_back([this] { work(); });
}

Backups::~Backups() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    jobs_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool Backups::run(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || jobs_.size() + running_ >= opts_.max_jobs) return false;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void Backups::work() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      ++running_;
    }
    job();
    job = nullptr;  // its temporary files go now, not when the next job comes
    std::lock_guard<std::mutex> lock(mu_);
    --running_;
  }
}

void Backups::answer(std::function<void()> fn) {
  if (stopping_.load()) return;
  boost::asio::post(io_, std::move(fn));
}

Result<std::shared_ptr<BodyFile>> Backups::temp_file(const char* prefix) {
  std::string tmpl = opts_.temp_dir + "/" + prefix + "XXXXXX";
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) return io_error("cannot create a temporary file in " + opts_.temp_dir);
  ::close(fd);
  return std::make_shared<BodyFile>(tmpl);
}

bool Backups::backup(BackupRequest req, FileDone done) {
  return run([this, req = std::move(req), done = std::move(done)]() mutable {
    auto r = make_backup(req);
    answer([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  });
}

Result<std::shared_ptr<BodyFile>> Backups::make_backup(const BackupRequest& req) {
  auto src = open_db(opts_.db_path, /*read_only=*/true);
  if (!src) return src.error();
  sqlite3* ro = (*src)->db;
  auto out = temp_file("backup-");
  if (!out) return out.error();
  if (req.format == BackupFormat::kSql) {
    std::FILE* f = std::fopen((*out)->path().c_str(), "wb");
    if (f == nullptr) return io_error("cannot open " + (*out)->path());
    std::setvbuf(f, nullptr, _IOFBF, size_t{1} << 20);
    Status s = dump_sql(ro, f, req.tables, stopping_);
    if (std::fclose(f) != 0 && s) s = io_error("cannot write the dump");
    if (!s) return s.error();
  } else if (req.vacuum) {
    // rqlite: VACUUM INTO a temporary file, which is then the backup (its header says rollback
    // mode: VACUUM INTO writes a fresh database).
    if (Status s = vacuum_into(ro, (*out)->path()); !s) return s.error();
  } else {
    // A copy of every page, consistent as of one read transaction while the node keeps writing
    // (WAL). The header is page 1's: it still says WAL mode, as rqlite's binary backups do.
    auto dst = open_db((*out)->path(), /*read_only=*/false);
    if (!dst) return dst.error();
    if (Status s = exec(ro, "BEGIN"); !s) return s.error();
    auto first = scalar(ro, "SELECT COUNT(*) FROM sqlite_master");  // opens the read transaction
    Status s = first ? backup_pages((*dst)->db, ro, stopping_) : Status(first.error());
    (void)exec(ro, "COMMIT");  // a read transaction: nothing to keep or lose
    if (!s) return s.error();
    if (req.format == BackupFormat::kDelete) {
      if (s = exec((*dst)->db, "PRAGMA journal_mode=DELETE"); !s) return s.error();
    }
  }
  if (!req.compress) return out;
  auto gz = temp_file("backup-");
  if (!gz) return gz.error();
  if (Status s = gzip_file((*out)->path(), (*gz)->path(), stopping_); !s) return s.error();
  return gz;
}

bool Backups::prepare_load(std::string image, std::shared_ptr<BodyFile> file, ImageDone done) {
  return run(
      [this, image = std::move(image), file = std::move(file), done = std::move(done)]() mutable {
        auto r = checked_image(std::move(image), std::move(file));
        answer([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
      });
}

Result<std::string> Backups::node_page_size() {
  auto node = open_db(opts_.db_path, true);
  if (!node) return node.error();
  return scalar((*node)->db, "PRAGMA page_size");
}

Result<std::string> Backups::checked_image(std::string image, std::shared_ptr<BodyFile> file) {
  if (!file) {
    // In memory, as it came: checked where it is (its bytes back a scratch connection, closed
    // before they move), unless its page size needs converting through a file.
    auto ours = node_page_size();
    if (!ours) return ours.error();
    bool same = false;
    {
      if (image.size() >= 100) to_rollback_header(reinterpret_cast<unsigned char*>(image.data()));
      Db mem;
      if (sqlite3_open_v2(":memory:", &mem.db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
        return make_error(ErrorCode::kIo, "cannot open a scratch database");
      auto* bytes = reinterpret_cast<unsigned char*>(image.data());
      const auto n = static_cast<sqlite3_int64>(image.size());
      if (sqlite3_deserialize(mem.db, "main", bytes, n, n, SQLITE_DESERIALIZE_READONLY) !=
          SQLITE_OK)
        return make_error(ErrorCode::kInvalid, "invalid SQLite data: " + mem.error());
      if (Status s = check_database(mem.db); !s) return s.error();
      same = std::to_string(header_page_size(bytes)) == *ours;
    }
    if (same) return image;
  }
  auto f = prepare_file(std::move(image), std::move(file));
  if (!f) return f.error();
  return read_file((*f)->path());
}

bool Backups::prepare_boot(std::string image, std::shared_ptr<BodyFile> file, FileDone done) {
  return run(
      [this, image = std::move(image), file = std::move(file), done = std::move(done)]() mutable {
        auto f = prepare_file(std::move(image), std::move(file));
        answer([done = std::move(done), f = std::move(f)]() mutable { done(std::move(f)); });
      });
}

// The image in a file of its own (the spooled body, or `image` written out), its header in
// rollback mode, checked, and converted to the node's page size when it has another.
Result<std::shared_ptr<BodyFile>> Backups::prepare_file(std::string image,
                                                        std::shared_ptr<BodyFile> file) {
  if (!file) {
    auto t = temp_file("image-");
    if (!t) return t.error();
    if (Status s = write_file((*t)->path(), image); !s) return s.error();
    file = std::move(*t);
    image = std::string();
  }
  if (Status s = patch_file_header(file->path()); !s) return s.error();
  auto ours = node_page_size();
  if (!ours) return ours.error();
  auto img = open_db(file->path(), true);
  if (!img) return make_error(ErrorCode::kInvalid, "invalid SQLite data: " + img.error().message);
  if (Status s = check_database((*img)->db); !s) return s.error();
  auto theirs = scalar((*img)->db, "PRAGMA page_size");
  if (!theirs)
    return make_error(ErrorCode::kInvalid, "invalid SQLite data: " + theirs.error().message);
  if (*theirs == *ours) return file;
  // VACUUM INTO writes a copy with the page size the connection asks for.
  auto out = temp_file("image-");
  if (!out) return out.error();
  if (Status s = exec((*img)->db, ("PRAGMA page_size=" + *ours).c_str()); !s) return s.error();
  if (Status s = vacuum_into((*img)->db, (*out)->path()); !s)
    return make_error(ErrorCode::kIo, "converting the page size: " + s.error().message);
  return out;
}

bool Backups::swap_in(std::shared_ptr<BodyFile> file, StatusDone done) {
  return run([this, file = std::move(file), done = std::move(done)]() mutable {
    Status s = copy_into_database(file->path());
    answer([done = std::move(done), s = std::move(s)]() mutable { done(std::move(s)); });
  });
}

Status Backups::copy_into_database(const std::string& path) {
  auto src = open_db(path, true);
  if (!src) return src.error();
  auto dst = open_db(opts_.db_path, false);
  if (!dst) return dst.error();
  if (Status s = backup_pages((*dst)->db, (*src)->db, stopping_); !s) return s;
  // Moves the new pages from the WAL into the file where no reader still needs the old ones; the
  // node's own checkpoints do the rest later.
  sqlite3_wal_checkpoint_v2((*dst)->db, "main", SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  return ok_status();
}

}  // namespace rq::server
