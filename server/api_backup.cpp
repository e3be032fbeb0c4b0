// /db/backup, /db/load, /boot (rqlite-compat.md §2.6, §2.7): the HTTP side. The work on files
// runs on the node's Backups threads (server/backup.h); this file decides what to do, in what
// order, and answers with rqlite's statuses and bytes.
//
// /db/load with a SQLite file. The image is checked first (PRAGMA quick_check; converted to the
// node's page size if it has another), then replicated through Raft by Service::load in pieces
// of 4 MiB, each a log entry; every replica gathers the pieces and, at the last one, replaces
// its database in one transaction. The image survives snapshots like any state: snapshots hold
// the database (and the pieces of a load not finished yet). No entry, and no message carrying
// one, holds a whole image, so a 100 MB load needs no larger limits anywhere.
//
// /boot. rqlite swaps the file in outside the log, then snapshots, so that Raft "contains" the
// data. A crash between the swap and the durable snapshot would lose the boot (never answered:
// fine) but also replay, on the old database, writes that were applied (and answered) on the
// new one. So here nothing else may enter the log until the snapshot is durable:
//   1. the body is checked and made ready in a temporary file (worker thread);
//   2. Service::pause_writes: writes, strong reads and loads are refused ("load in progress"),
//      and a barrier entry is proposed; once it is applied, so is everything before it;
//   3. the file is copied into the database through a connection of the worker's own, in one
//      transaction (readers see the old or the new contents; the io thread keeps serving);
//   4. a second barrier entry goes in, and the snapshot is forced once it is applied: the
//      snapshot's index is past the swap whatever snapshot happened meanwhile;
//   5. once a snapshot at or past that index is sealed on disk, writes resume and the answer is
//      200. A crash at any step before that restarts from the old snapshot and a log of barriers
//      (empty commands): nothing answered is lost.
// Reads outside the log may see the booted data before step 5; a crash then takes it back, as
// it takes back the unanswered boot.
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fstream>

#include "core/wire/codec.h"
#include "server/api.h"
#include "server/backup.h"
#include "server/responses.h"

namespace rq::server {
namespace {

constexpr const char* kJson = "application/json; charset=utf-8";

// The largest SQLite file /db/load takes (rqlite's docs: "stay around 100MB"; /boot is for
// larger ones): every replica gathers it in memory before replacing its database.
constexpr uint64_t kMaxLoadImageBytes = uint64_t{256} << 20;
// A SQL dump is one statement in one log entry: it must fit a message between nodes.
constexpr uint64_t kMaxLoadDumpBytes = wire::kMaxMessageBytes - (uint64_t{1} << 20);
// rqlite peeks this many bytes of a /boot body first (db.SQLiteHeaderSize); a shorter body is
// Go's io.EOF, answered 503.
constexpr size_t kBootPeekBytes = 32;

HttpResponse empty(int status) {
  return empty_response(status);
}

// The first bytes of a body, in memory or spooled.
std::string body_head(const HttpRequest& req, size_t n) {
  if (!req.body_file) return req.body.substr(0, n);
  std::string head(n, '\0');
  std::ifstream f(req.body_file->path(), std::ios::binary);
  f.read(head.data(), static_cast<std::streamsize>(n));
  head.resize(static_cast<size_t>(f.gcount()));
  return head;
}

uint64_t body_size(const HttpRequest& req) {
  return req.body_file ? req.body_file->size() : req.body.size();
}

Result<std::string> body_text(HttpRequest& req) {
  if (!req.body_file) return std::move(req.body);
  std::ifstream f(req.body_file->path(), std::ios::binary);
  std::string out(static_cast<size_t>(req.body_file->size()), '\0');
  f.read(out.data(), static_cast<std::streamsize>(out.size()));
  if (static_cast<size_t>(f.gcount()) != out.size())
    return make_error(ErrorCode::kIo, "cannot read the request body");
  return out;
}

bool is_leader(NodeHost& host) {
  return host.node().running() && host.node().raft().role() == raft::Role::kLeader;
}

// The answer to a /db/load, as rqlite gives it. For a SQLite file (`image`): `{"results":[]}`,
// and a store error is a 500 in plain text (rqlite's store.Load); for a SQL dump: the execute
// result of its one statement, and a store error rides in the JSON body.
struct LoadAnswer {
  HttpReply reply;
  EncodeOptions eo;
  int64_t started_ns = 0;
  std::string served_by;
  HttpRequest where;  // path and query, for a redirect
  std::function<void(NodeId, const HttpRequest&, HttpReply)> redirect;  // Api::redirect_to
  ApiStats* stats = nullptr;
  bool image = false;

  void operator()(svc::Response resp) {
    switch (resp.status) {
      case svc::Status::kOk:
        break;
      case svc::Status::kNotLeader:
        if (resp.leader.valid()) return redirect(resp.leader, where, reply);
        [[fallthrough]];
      case svc::Status::kNoLeader:
        ++stats->leader_not_found;
        return reply(http_error(503, "leader not found"));
      default:
        if (image) return reply(http_error(500, resp.error));
        resp.result.results.clear();
        resp.result.error = resp.error;
        break;
    }
    if (image && !resp.result.error.empty()) return reply(http_error(500, resp.result.error));
    if (image) resp.result = sql::CommandResult{};
    EncodeOptions o = eo;
    o.total_time = static_cast<double>(monotonic_ns() - started_ns) / 1e9;
    auto body = encode_results(resp.result, o);
    if (!body) return reply(http_error(500, body.error().message));
    HttpResponse out;
    out.content_type = kJson;
    out.body = std::move(*body);
    if (resp.status == svc::Status::kOk) out.headers.emplace_back("X-RQLITE-SERVED-BY", served_by);
    reply(std::move(out));
  }
};

// One /boot, from the checked file to the durable snapshot (the steps at the top of this file).
// Once the database is swapped, writes resume only when a snapshot holds it: should the barrier
// or the snapshot fail, the client gets a 503 but the boot keeps trying, writes still paused
// (resuming them would let answered writes apply to a database a crash would take back).
class Boot : public std::enable_shared_from_this<Boot> {
 public:
  Boot(NodeHost& host, Duration timeout, HttpReply reply)
      : host_(host), timeout_(timeout), reply_(std::move(reply)), timer_(host.io()) {}

  void start(std::string image, std::shared_ptr<BodyFile> file) {
    auto self = shared_from_this();
    if (!host_.backups().prepare_boot(std::move(image), std::move(file),
                                      [self](auto f) { self->on_prepared(std::move(f)); }))
      end(http_error(503, "too many backups in progress"));
  }

 private:
  void on_prepared(Result<std::shared_ptr<BodyFile>> f) {
    if (!f) return end(http_error(503, f.error().message));
    file_ = std::move(*f);
    auto self = shared_from_this();
    paused_ = true;
    host_.service().pause_writes(timeout_,
                                 [self](svc::Response r) { self->on_paused(std::move(r)); });
  }

  void on_paused(svc::Response r) {
    if (r.status != svc::Status::kOk) return end(http_error(503, failure(r)));
    auto self = shared_from_this();
    if (!host_.backups().swap_in(file_, [self](Status s) { self->on_swapped(std::move(s)); }))
      end(http_error(503, "too many backups in progress"));
  }

  void on_swapped(Status s) {
    file_.reset();
    // The copy is one transaction: when it failed, the database is as it was.
    if (!s) return end(http_error(503, "error swapping database file: " + s.error().message));
    deadline_ = std::chrono::steady_clock::now() + timeout_;
    make_durable();
  }

  void make_durable() {
    auto self = shared_from_this();
    host_.service().barrier(timeout_, [self](svc::Response r) { self->on_barrier(std::move(r)); });
  }

  // Runs while the node applies the barrier: the snapshot is taken right after this pass.
  void on_barrier(svc::Response r) {
    if (r.status != svc::Status::kOk) return retry(failure(r));
    barrier_ = r.raft_index.v;
    host_.node().request_snapshot();
    snapshot_deadline_ = std::chrono::steady_clock::now() + timeout_;
    auto self = shared_from_this();
    boost::asio::post(host_.io(), [self] { self->check_snapshot(); });
  }

  void check_snapshot() {
    if (host_.newest_snapshot_index() >= barrier_) return end(empty(200));
    if (std::chrono::steady_clock::now() > snapshot_deadline_)
      return retry("no snapshot was taken");
    after(std::chrono::milliseconds(10), [](Boot& b) { b.check_snapshot(); });
  }

  // The booted database is not durable yet: answer (once) and try again.
  void retry(const std::string& why) {
    if (!host_.node().running()) {
      // The node stopped (fail-stop): the process exits, and restarts from the old snapshot.
      return end(http_error(503, "snapshot after boot failed: " + why));
    }
    if (std::chrono::steady_clock::now() > deadline_ && reply_) {
      reply(http_error(
          503, "snapshot after boot failed: " + why + "; writes stay paused until it is taken"));
    }
    after(std::chrono::milliseconds(100), [](Boot& b) { b.make_durable(); });
  }

  void after(Duration d, void (*fn)(Boot&)) {
    timer_.expires_after(d);
    auto self = shared_from_this();
    timer_.async_wait([self, fn](const boost::system::error_code& ec) {
      if (!ec) fn(*self);
    });
  }

  static std::string failure(const svc::Response& r) {
    if (!r.error.empty()) return r.error;
    return r.status == svc::Status::kNotLeader ? "not leader" : svc::to_string(r.status);
  }

  void reply(HttpResponse resp) {
    HttpReply r = std::move(reply_);
    reply_ = nullptr;
    if (r) r(std::move(resp));
  }

  // The boot is over: durable, or nothing changed (or the node stopped).
  void end(HttpResponse resp) {
    if (paused_) host_.service().resume_writes();
    host_.backups().end_boot();
    reply(std::move(resp));
  }

  NodeHost& host_;
  Duration timeout_;
  HttpReply reply_;  // empty once answered
  boost::asio::steady_timer timer_;
  std::shared_ptr<BodyFile> file_;
  bool paused_ = false;
  uint64_t barrier_ = 0;
  std::chrono::steady_clock::time_point deadline_;           // when the client gets its 503
  std::chrono::steady_clock::time_point snapshot_deadline_;  // for one snapshot attempt
};

}  // namespace

void Api::backup(const HttpRequest& req, HttpReply& reply) {
  ++stats_.backups;  // rqlite counts every request routed here
  if (req.method != "GET") return reply(empty(405));
  auto parsed = parse_query(req.query);
  if (!parsed) return reply(http_error(400, parsed.error().message));
  const QueryParams& q = parsed.value();
  BackupRequest br;
  br.format = backup_format_from_name(q.fmt);
  br.vacuum = q.vacuum;
  br.compress = q.compress;
  br.tables = split_tables(q.tables);
  // rqlite's store refuses this before anything else (ErrInvalidVacuum, 400).
  if (br.vacuum && br.format != BackupFormat::kBinary)
    return reply(http_error(400, "invalid vacuum"));
  // rqlite streams the leader's backup back through the cluster service: here the leader's
  // response file is pulled in chunks (server/peers.h).
  if (!q.noleader && !is_leader(host_))
    return to_leader(req, q.redirect, q.timeout.value_or(opts_.default_timeout), reply);
  const char* type =
      br.format == BackupFormat::kSql ? "application/sql" : "application/octet-stream";
  const bool taken =
      host_.backups().backup(std::move(br), [reply, type](Result<std::shared_ptr<BodyFile>> r) {
        if (!r) return reply(http_error(500, r.error().message));
        HttpResponse out;
        out.content_type = type;
        out.body_file = std::move(*r);
        reply(std::move(out));
      });
  if (!taken) reply(http_error(503, "too many backups in progress"));
}

void Api::load(HttpRequest& req, HttpReply& reply) {
  ++stats_.loads;
  if (req.method != "POST") return reply(empty(405));
  LoadAnswer answer;
  answer.started_ns = monotonic_ns();
  auto parsed = parse_query(req.query);
  if (!parsed) return reply(http_error(400, parsed.error().message));
  const QueryParams& q = parsed.value();
  answer.reply = reply;
  answer.eo.endpoint = Endpoint::kExecute;
  answer.eo.pretty = q.pretty;
  answer.eo.timings = q.timings;
  answer.served_by = opts_.http_adv_addr;
  answer.where.path = req.path;
  answer.where.query = req.query;
  answer.redirect = [this](NodeId leader, const HttpRequest& where, HttpReply r) {
    redirect_to(leader, where, std::move(r));
  };
  answer.stats = &stats_;
  const uint64_t size = body_size(req);
  answer.image = is_sqlite_data(body_head(req, 16));
  if (!answer.image) {
    // A SQL dump: the whole body is one statement, run through the log with rollback on error.
    if (size > kMaxLoadDumpBytes) {
      return reply(http_error(413, "SQL dump too large: " + std::to_string(size) +
                                       " bytes (at most " + std::to_string(kMaxLoadDumpBytes) +
                                       "); load a SQLite file instead"));
    }
    auto body = body_text(req);
    if (!body) return reply(http_error(500, body.error().message));
    svc::Request r;
    r.kind = sql::CommandKind::kExecute;
    r.statements.push_back(sql::Statement{std::move(*body), {}});
    r.rollback_on_error = true;
    r.redirect = q.redirect;
    r.timeout = opts_.apply_timeout;
    return host_.service().submit(std::move(r), std::move(answer));
  }
  if (size > kMaxLoadImageBytes) {
    return reply(http_error(413, "SQLite file too large for /db/load: " + std::to_string(size) +
                                     " bytes (at most " + std::to_string(kMaxLoadImageBytes) +
                                     "); use /boot"));
  }
  if (!is_leader(host_)) {
    const NodeId leader = host_.node().running() ? host_.node().raft().lead() : NodeId();
    if (!leader.valid()) {
      ++stats_.leader_not_found;
      return reply(http_error(503, "leader not found"));
    }
    if (q.redirect) return redirect_to(leader, req, reply);
  }
  NodeHost* host = &host_;
  const Duration timeout = opts_.apply_timeout;
  const bool redirect = q.redirect;
  const bool taken = host_.backups().prepare_load(
      std::move(req.body), std::move(req.body_file),
      [host, timeout, redirect, answer = std::move(answer)](Result<std::string> image) mutable {
        if (!image) return answer.reply(http_error(500, image.error().message));
        host->service().load(std::move(*image), timeout, redirect, std::move(answer));
      });
  if (!taken) reply(http_error(503, "too many backups in progress"));
}

void Api::boot(HttpRequest& req, HttpReply& reply) {
  ++stats_.boot;
  if (req.method != "POST") return reply(empty(405));
  auto parsed = parse_query(req.query);
  if (!parsed) return reply(http_error(400, parsed.error().message));
  // rqlite's order: peek at the body (too short: Go's "EOF"), check the header, then the node.
  const std::string head = body_head(req, kBootPeekBytes);
  if (head.size() < kBootPeekBytes) return reply(http_error(503, "EOF"));
  if (!is_sqlite_data(head)) return reply(http_error(400, "invalid SQLite data"));
  if (!is_leader(host_)) return reply(http_error(503, "not leader"));
  if (host_.node().raft().membership().members().size() != 1)
    return reply(http_error(503, "not single-node"));
  if (host_.service().writes_paused() || !host_.backups().begin_boot())
    return reply(http_error(503, "load in progress"));
  auto boot = std::make_shared<Boot>(host_, opts_.apply_timeout, reply);
  boot->start(std::move(req.body), std::move(req.body_file));
}

}  // namespace rq::server
