#include "server/api.h"

#include <sqlite3.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <boost/json.hpp>
#include <filesystem>

#include "server/flags.h"
#include "server/http_api.h"
#include "server/responses.h"
#include "server/write_queue.h"

namespace rq::server {
namespace {

namespace json = boost::json;

constexpr const char* kJson = kJsonType;

HttpResponse text(int status, std::string body) {
  return text_response(status, std::move(body));
}
HttpResponse empty(int status) {
  return empty_response(status);
}

bool has_prefix(const std::string& path, std::string_view prefix) {
  return path.rfind(prefix, 0) == 0;
}

const char* role_name(raft::Role r) {
  switch (r) {
    case raft::Role::kLeader:
      return "Leader";
    case raft::Role::kCandidate:
    case raft::Role::kPreCandidate:
      return "Candidate";
    default:
      return "Follower";
  }
}

std::string pragma_value(sqlite3* db, const char* name) {
  std::string out;
  const std::string sql = std::string("PRAGMA ") + name;
  sqlite3_exec(
      db, sql.c_str(),
      [](void* arg, int n, char** values, char**) {
        if (n > 0 && values[0] != nullptr) *static_cast<std::string*>(arg) = values[0];
        return 0;
      },
      &out, nullptr);
  return out;
}

}  // namespace

Api::Api(NodeHost& host, ApiOptions opts) : host_(host), opts_(std::move(opts)) {
  PeersOptions po;
  po.api_url = "http://" + opts_.http_adv_addr;
  peers_ = std::make_unique<Peers>(host_, po);
  peers_->set_http_handler([this](HttpRequest req, HttpReply reply) {
    handle(std::move(req), std::move(reply));
  });
}

std::string Api::member_name(NodeId id) const {
  if (id == host_.node().id()) return host_.options().node_id;
  const raft::Member* m = host_.node().raft().membership().find(id);
  return m != nullptr && !m->name.empty() ? m->name : std::to_string(id.v);
}

void Api::redirect_to(NodeId leader, const HttpRequest& req, HttpReply reply) {
  const std::string where = req.path + (req.query.empty() ? "" : "?" + req.query);
  ApiStats* stats = &stats_;
  peers_->api_url(leader, std::chrono::seconds(5), [reply, where, stats](std::string url) {
    if (url.empty()) {
      ++stats->leader_not_found;
      return reply(http_error(500, "leader not found"));
    }
    HttpResponse m = empty(301);
    m.headers.emplace_back("Location", url + where);
    reply(std::move(m));
  });
}

void Api::to_leader(const HttpRequest& req, bool redirect, Duration timeout, HttpReply reply) {
  const Node& node = host_.node();
  const NodeId leader = node.running() ? node.raft().lead() : NodeId();
  if (!leader.valid() || node.raft().membership().find(leader) == nullptr) {
    ++stats_.leader_not_found;
    return reply(http_error(503, "leader not found"));
  }
  if (req.forwarded) return reply(http_error(503, "not leader"));
  if (redirect) return redirect_to(leader, req, std::move(reply));
  peers_->forward(leader, req, timeout, std::move(reply));
}

std::vector<std::pair<std::string, std::string>> Api::common_headers() const {
  std::vector<std::pair<std::string, std::string>> h = {
      {"X-RQLITE-VERSION", kVersion},
      {"Access-Control-Allow-Methods", "OPTIONS, GET, POST"},
      {"Access-Control-Allow-Headers", "Content-Type"},
  };
  if (!opts_.allow_origin.empty())
    h.emplace_back("Access-Control-Allow-Origin", opts_.allow_origin);
  return h;
}

void Api::handle(HttpRequest req, HttpReply reply) {
  if (req.method == "OPTIONS") return reply(empty(200));
  const std::string& p = req.path;
  if (p == "/") {
    HttpResponse r = empty(302);
    r.headers.emplace_back("Location", "/console/");
    return reply(std::move(r));
  }
  if (has_prefix(p, "/db/execute"))
    return data(req, reply, static_cast<int>(sql::CommandKind::kExecute));
  if (has_prefix(p, "/db/query"))
    return data(req, reply, static_cast<int>(sql::CommandKind::kQuery));
  if (has_prefix(p, "/db/request"))
    return data(req, reply, static_cast<int>(sql::CommandKind::kRequest));
  if (has_prefix(p, "/status")) return status(req, reply);
  if (has_prefix(p, "/readyz")) return readyz(req, reply);
  // rqlite matches these by prefix ...
  if (has_prefix(p, "/db/backup")) {
    HttpReply counted = count_outcome(reply, &stats_.backups_ok, nullptr);
    return backup(req, counted);
  }
  if (has_prefix(p, "/db/load")) {
    HttpReply counted = count_outcome(reply, &stats_.loads_ok, nullptr);
    return load(req, counted);
  }
  if (has_prefix(p, "/db/sql")) return db_sql(req, reply);
  if (has_prefix(p, "/remove")) return remove(req, reply);
  if (has_prefix(p, "/nodes")) return nodes(req, reply);
  // ... and these exactly.
  if (p == "/boot") {
    HttpReply counted = count_outcome(reply, &stats_.boots_ok, nullptr);
    return boot(req, counted);
  }
  if (p == "/snapshot") {
    HttpReply counted = count_outcome(reply, &stats_.user_snapshots_ok, &stats_.user_snapshots_failed);
    return snapshot(req, counted);
  }
  if (p == "/reap") return reap(req, reply);
  if (p == "/leader") return leader(req, reply);
  if (p == "/debug/vars") return debug_vars(req, reply);
  reply(empty(404));
}

// A reply that counts its own outcome: 200 in `ok`, 5xx in `failed` (either may be null). The
// counters live as long as the Api; a reply outliving it is not counted.
HttpReply Api::count_outcome(HttpReply reply, uint64_t* ok, uint64_t* failed) {
  std::weak_ptr<int> alive = alive_;
  return [reply = std::move(reply), ok, failed, alive](HttpResponse r) mutable {
    if (!alive.expired()) {
      if (ok != nullptr && r.status == 200) ++*ok;
      if (failed != nullptr && r.status >= 500) ++*failed;
    }
    reply(std::move(r));
  };
}

void Api::data(HttpRequest& req, HttpReply& reply, int kind_int) {
  const auto kind = static_cast<sql::CommandKind>(kind_int);
  const bool is_query = kind == sql::CommandKind::kQuery;
  if (kind == sql::CommandKind::kExecute || kind == sql::CommandKind::kRequest) {
    if (req.method != "POST") return reply(empty(405));
  } else if (req.method != "GET" && req.method != "POST") {
    return reply(empty(405));
  }
  const int64_t started = monotonic_ns();
  auto parsed = parse_query(req.query);
  if (!parsed) return reply(http_error(400, parsed.error().message));
  QueryParams q = std::move(parsed).value();

  std::vector<sql::Statement> statements;
  if (is_query && req.method == "GET") {
    if (q.q) {
      statements.push_back(sql::Statement{*q.q, {}});
    }
  } else {
    const bool plain =
        kind != sql::CommandKind::kRequest && req.content_type.rfind("text/plain", 0) == 0;
    auto body = parse_statements(req.body, plain);
    // rqlite: `[]` with `queue&wait` is a flush barrier, not an error.
    if (!body && kind == sql::CommandKind::kExecute && q.queue && q.wait &&
        body.error().message == "no statements") {
      return queued(req, reply, std::move(q), {});
    }
    if (!body) return reply(http_error(400, body.error().message));
    statements = std::move(body).value();
  }
  if (kind == sql::CommandKind::kExecute && q.queue)
    return queued(req, reply, std::move(q), std::move(statements));
  if (statements.size() > opts_.max_statements) {
    return reply(
        http_error(413, "too many statements: at most " + std::to_string(opts_.max_statements)));
  }
  if (kind == sql::CommandKind::kExecute) {
    ++stats_.executions;
    stats_.execute_stmts_rx += statements.size();
  } else if (is_query) {
    ++stats_.queries;
    stats_.query_stmts_rx += statements.size();
  } else {
    ++stats_.requests;
    stats_.request_stmts_rx += statements.size();
  }

  svc::Request r;
  r.kind = kind;
  r.statements = std::move(statements);
  r.transaction = q.transaction;
  r.level = q.level;
  r.freshness = q.freshness.value_or(Duration{0});
  r.freshness_strict = q.freshness_strict;
  r.redirect = q.redirect;
  r.qualify_columns = q.qualify_columns;
  r.db_timeout = q.db_timeout.value_or(Duration{0});
  // Writes and strong reads wait for their entry as long as rqlite's apply timeout; reads at
  // linearizable wait linearizable_timeout; forwarding honours `timeout`.
  r.timeout = opts_.apply_timeout;
  // rqlite's `timeout` bounds a forwarded request; here one deadline covers forwarding and the
  // apply, so an explicit `timeout` replaces the apply timeout.
  if (q.timeout) r.timeout = *q.timeout;
  if (r.level == svc::ReadLevel::kLinearizable && kind != sql::CommandKind::kExecute &&
      q.linearizable_timeout) {
    r.timeout = *q.linearizable_timeout;
  }
  EncodeOptions eo;
  eo.endpoint = kind == sql::CommandKind::kExecute ? Endpoint::kExecute
                : is_query                         ? Endpoint::kQuery
                                                   : Endpoint::kRequest;
  eo.pretty = q.pretty;
  eo.associative = q.associative;
  eo.blob_array = q.blob_array;
  eo.timings = q.timings;
  const bool want_index = q.raft_index;
  const std::string path = req.path;
  const std::string query = req.query;
  const std::string served_by = opts_.http_adv_addr;
  ApiStats* stats = &stats_;
  HttpRequest where;  // for a redirect
  where.path = req.path;
  where.query = req.query;
  host_.service().submit(std::move(r), [this, reply, eo, want_index, started, where, served_by,
                                        stats](svc::Response resp) mutable {
    switch (resp.status) {
      case svc::Status::kOk:
        break;
      case svc::Status::kNotLeader:
        if (resp.leader.valid()) return redirect_to(resp.leader, where, reply);
        ++stats->leader_not_found;
        return reply(http_error(503, "leader not found"));
      case svc::Status::kNoLeader:
        ++stats->leader_not_found;
        return reply(http_error(503, "leader not found"));
      case svc::Status::kFailed:
      case svc::Status::kUnknown:
      case svc::Status::kError:
        resp.result.results.clear();
        resp.result.error = resp.error.empty() ? resp.result.error : resp.error;
        break;
    }
    EncodeOptions o = eo;
    if (want_index && resp.raft_index.v != 0) o.raft_index = resp.raft_index.v;
    o.total_time = static_cast<double>(monotonic_ns() - started) / 1e9;
    auto body = encode_results(resp.result, o);
    if (!body) return reply(http_error(500, body.error().message));
    HttpResponse out;
    out.content_type = kJson;
    out.body = std::move(*body);
    // rqlite: the local HTTP address, or the leader's Raft address when forwarded.
    if (resp.status == svc::Status::kOk) {
      out.headers.emplace_back("X-RQLITE-SERVED-BY",
                               resp.served_by.empty() ? served_by : resp.served_by);
    }
    reply(std::move(out));
  });
}

namespace {

// rqlite's `runtime` block is Go's runtime: here the platform's equivalents (docs/api.md).
json::object runtime_json() {
  struct utsname u {};
  std::string arch = ::uname(&u) == 0 ? u.machine : "unknown";
  if (arch == "x86_64") arch = "amd64";
  if (arch == "aarch64") arch = "arm64";
  std::string os = ::uname(&u) == 0 ? u.sysname : "unknown";
  for (auto& c : os) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Threads of this process stand for goroutines.
  uint64_t threads = 0;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Threads:", 0) == 0) threads = std::strtoull(line.c_str() + 8, nullptr, 10);
  }
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  std::string compiler = "unknown";
#if defined(__clang__)
  compiler = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  compiler = "gcc " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "." +
             std::to_string(__GNUC_PATCHLEVEL__);
#endif
  return json::object{{"GOARCH", arch},
                      {"GOOS", os},
                      {"GOMAXPROCS", cpus},
                      {"num_cpu", cpus},
                      {"num_goroutine", threads},
                      {"version", compiler}};
}

}  // namespace

void Api::status(const HttpRequest& req, HttpReply& reply) {
  if (req.method != "GET") return reply(empty(405));
  ++stats_.num_status;
  auto parsed = parse_query(req.query);
  if (!parsed) return reply(http_error(400, parsed.error().message));
  const QueryParams& q = parsed.value();

  Node& node = host_.node();
  const raft::Raft& raft = node.raft();
  const raft::RaftLog& log = raft.log();
  sql::SqliteMachine& sm = host_.sm();
  json::object r;
  r["state"] = node.running() ? role_name(raft.role()) : "Shutdown";
  r["term"] = raft.term().v;
  r["last_log_index"] = log.last_index().v;
  r["last_log_term"] = log.last_term().v;
  r["commit_index"] = log.committed().v;
  r["applied_index"] = log.applied().v;
  r["fsm_pending"] = log.committed().v - std::min(log.committed().v, sm.last_applied());
  r["last_snapshot_index"] = raft.snapshot() ? raft.snapshot()->index.v : 0;
  r["last_snapshot_term"] = raft.snapshot() ? raft.snapshot()->term.v : 0;
  r["snapshots_installed"] = node.stats().snapshots_installed;  // sent by a leader
  // Hashicorp's Stats(): the other voters, 0 on a node that is no voter (or not yet a member).
  size_t other_voters = 0;
  if (raft.membership().is_voter(node.id())) {
    for (NodeId v : raft.voters()) other_voters += v == node.id() ? 0 : 1;
  }
  r["num_peers"] = other_voters;
  // "0" on a leader (a number once rqlite converts it), "never", or the time since a leader's
  // message last arrived as a Go duration (at the resolution of the node's ticks).
  if (raft.role() == raft::Role::kLeader) {
    r["last_contact"] = 0;
  } else if (auto ticks = raft.ticks_since_leader_message()) {
    r["last_contact"] = format_go_duration(host_.options().tick * static_cast<int64_t>(*ticks));
  } else {
    r["last_contact"] = "never";
  }
  // Hashicorp Raft's protocol and snapshot versions, which clients read as they are.
  r["protocol_version"] = 3;
  r["protocol_version_min"] = 0;
  r["protocol_version_max"] = 3;
  r["snapshot_version_min"] = 0;
  r["snapshot_version_max"] = 1;
  std::string servers = "[";
  for (const auto& m : raft.membership().members()) {
    if (servers.size() > 1) servers += " ";
    servers += std::string("{Suffrage:") + (m.voter ? "Voter" : m.staged ? "Staging" : "Nonvoter") +
               " ID:" + member_name(m.id) + " Address:" + m.address + "}";
  }
  r["latest_configuration"] = servers + "]";
  r["latest_configuration_index"] = raft.configs().current_index().v;
  r["voter"] = raft.membership().is_voter(node.id());
  r["fsyncs"] = host_.disk().counters().syncs.load();
  const net::TcpTransportStats& ts = host_.transport().stats();
  r["transport"] = json::object{
      {"frames_sent", ts.frames_sent},           {"frames_received", ts.frames_received},
      {"frames_dropped", ts.frames_dropped},     {"connects", ts.connects},
      {"connect_failures", ts.connect_failures}, {"accepted", ts.accepted},
      {"oversized_frames", ts.oversized_frames}};
  json::object leader;
  std::string leader_addr, leader_id;
  if (raft.lead().valid()) {
    for (const auto& m : raft.membership().members()) {
      if (m.id == raft.lead()) leader_addr = m.address;
    }
    leader_id = member_name(raft.lead());
  }
  leader["addr"] = leader_addr;
  leader["node_id"] = leader_id;
  json::object pragmas_rw;
  for (const char* p :
       {"busy_timeout", "foreign_keys", "journal_mode", "synchronous", "wal_autocheckpoint"}) {
    pragmas_rw[p] = pragma_value(sm.connection(), p);
  }
  json::object pragmas_ro = pragmas_rw;
  pragmas_ro["wal_autocheckpoint"] = "1000";
  std::error_code ec;
  const auto db_size = std::filesystem::file_size(host_.db_path(), ec);
  const auto wal_size = std::filesystem::file_size(host_.db_path() + "-wal", ec);
  json::object sqlite3;
  sqlite3["path"] = host_.db_path();
  sqlite3["pragmas"] = json::object{{"ro", pragmas_ro}, {"rw", pragmas_rw}};
  sqlite3["version"] = sqlite3_libversion();
  sqlite3["db_size"] = ec ? 0 : db_size;
  sqlite3["wal_size"] = wal_size == static_cast<uintmax_t>(-1) ? 0 : wal_size;
  json::object store;
  store["raft"] = r;
  store["leader"] = leader;
  store["node_id"] = host_.options().node_id;
  store["addr"] = host_.options().raft_addr;
  store["ready"] = host_.ready();
  store["fsm_index"] = sm.last_applied();
  store["db_applied_index"] = sm.last_applied();
  store["dir"] = host_.raft_dir();
  store["sqlite3"] = sqlite3;
  store["snapshot_threshold"] = host_.options().snapshot_threshold;
  store["trailing_logs"] = host_.options().trailing_logs;
  json::array snapshots;
  if (auto files = host_.snapshot_files(); files.ok()) {
    for (const auto& f : *files) snapshots.push_back(json::string(f));
  }
  store["snapshot_store"] = json::object{{"dir", host_.raft_dir()}, {"snapshots", snapshots}};
  json::array nodes;
  for (const auto& m : raft.membership().members()) {
    nodes.push_back(
        json::object{{"id", member_name(m.id)},
                     {"addr", m.address},
                     {"suffrage", m.voter ? "voter" : "nonvoter"}});
  }
  store["nodes"] = nodes;
  json::object out;
  out["build"] = json::object{{"version", kVersion},
                              {"commit", "unknown"},
                              {"build_time", "unknown"},
                              {"compiler_toolchain", "g++"},
                              {"compiler_command", "unknown"}};
  out["http"] = json::object{{"auth", "disabled"},
                             {"bind_addr", opts_.http_bind_addr},
                             {"tls", json::object{{"enabled", "false"}}}};
  // The last sequence number of a queued write that was written (0 before any).
  out["http"].as_object()["queue"] = json::object{
      {"_default", json::object{{"sequence_number", queue_ ? queue_->last_written() : 0}}}};
  const auto now = std::chrono::system_clock::now();
  out["node"] = json::object{
      {"start_time",
       std::chrono::duration_cast<std::chrono::seconds>(started_.time_since_epoch()).count()},
      {"current_time",
       std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count()},
      {"uptime", format_go_duration(std::chrono::duration_cast<Duration>(now - started_))}};
  out["os"] = json::object{
      {"pid", ::getpid()}, {"ppid", ::getppid()}, {"page_size", ::sysconf(_SC_PAGESIZE)}};
  out["runtime"] = runtime_json();
  out["store"] = store;
  out["extensions"] = json::object{{"names", json::array{}}};
  json::value v = out;
  sort_keys(v);
  if (!q.key.empty()) {
    // ?key=a.b.c: the sub-object at that path, {} when missing.
    json::value cur = v;
    size_t start = 0;
    while (start <= q.key.size()) {
      const size_t dot = q.key.find('.', start);
      const std::string part =
          q.key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!cur.is_object() || !cur.as_object().contains(part)) {
        cur = json::object{};
        break;
      }
      cur = cur.as_object().at(part);
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    v = cur;
  }
  HttpResponse resp;
  resp.content_type = kJson;
  auto body = go_json(v, q.pretty);
  if (!body) return reply(http_error(500, body.error().message));
  resp.body = std::move(*body);
  reply(std::move(resp));
}

void Api::readyz(const HttpRequest& req, HttpReply& reply) {
  ++stats_.num_readyz;
  if (req.method != "GET" && req.method != "HEAD") return reply(empty(405));
  auto parsed = parse_query(req.query);
  if (!parsed) return reply(http_error(400, parsed.error().message));
  const QueryParams& q = parsed.value();
  if (q.noleader) return reply(text(200, "[+]node ok"));
  if (!host_.node().running() || !host_.node().raft().lead().valid()) {
    return reply(text(503, "[+]node ok\n[+]leader does not exist"));
  }
  const NodeId lead = host_.node().raft().lead();
  if (lead != host_.node().id()) {
    // rqlite asks the leader for its API address: a follower cut off from a leader it still
    // believes in is not ready.
    const Duration timeout = q.timeout.value_or(std::chrono::seconds(5));
    return peers_->meta(lead, timeout, 0,
                        [this, req, reply](Result<NodeMeta> m, Duration) mutable {
                          if (!m) {
                            return reply(text(503, "[+]node ok\n[+]leader not contactable: " +
                                                       m.error().message));
                          }
                          readyz_after_leader(req, reply);
                        });
  }
  readyz_after_leader(req, reply);
}

void Api::readyz_after_leader(const HttpRequest& req, HttpReply& reply) {
  auto parsed = parse_query(req.query);
  if (!parsed) return reply(http_error(400, parsed.error().message));
  const QueryParams& q = parsed.value();
  if (!host_.ready()) return reply(text(503, "[+]node ok\n[+]leader ok\n[+]store not ready"));
  // v10 also checks that the database answers a read.
  auto db_check = [this, reply](const std::string& ok) {
    svc::Request r;
    r.kind = sql::CommandKind::kQuery;
    r.level = svc::ReadLevel::kNone;
    r.statements.push_back(sql::Statement{"SELECT 1", {}});
    host_.service().submit(std::move(r), [reply, ok](svc::Response resp) {
      const bool good = resp.status == svc::Status::kOk && resp.result.error.empty() &&
                        !resp.result.results.empty() && resp.result.results[0].error.empty();
      if (good) return reply(text(200, ok + "\n[+]db ok"));
      const std::string why = !resp.error.empty()           ? resp.error
                              : !resp.result.error.empty()  ? resp.result.error
                              : resp.result.results.empty() ? "no result"
                                                            : resp.result.results[0].error;
      reply(text(503, ok + "\n[+]db not ok: (" + why + ")"));
    });
  };
  const std::string ok = "[+]node ok\n[+]leader ok\n[+]store ok";
  if (!q.sync) return db_check(ok);
  // ?sync: wait (up to `timeout`) until this node applied everything the leader had committed,
  // as of the last append or heartbeat it heard from the leader (the leader: its own commit
  // index). Trivially at once on a single node.
  Node& node = host_.node();
  sql::SqliteMachine& sm = host_.sm();
  auto target = std::make_shared<std::optional<LogIndex>>();
  Clock& clock = host_.clock();
  const Duration timeout = q.timeout.value_or(opts_.default_timeout);
  const Duration every = std::chrono::milliseconds(10);
  struct Poll {
    static void run(Clock& clock, Duration deadline, Duration every, std::function<bool()> ready,
                    std::function<void(bool)> done) {
      if (ready()) return done(true);
      if (clock.now() >= deadline) return done(false);
      clock.schedule(
          std::min(every, deadline - clock.now()),
          [&clock, deadline, every, ready, done] { run(clock, deadline, every, ready, done); });
    }
  };
  Poll::run(
      clock, clock.now() + timeout, every,
      [&node, &sm, target] {
        if (!*target) *target = node.leader_commit();
        return target->has_value() && sm.last_applied() >= (*target)->v;
      },
      [reply, ok, db_check, target, &sm](bool synced) {
        if (synced) return db_check(ok + "\n[+]sync ok");
        const std::string why = *target
                                    ? "timeout waiting for index " + std::to_string((*target)->v) +
                                          " (applied " + std::to_string(sm.last_applied()) + ")"
                                    : std::string("timeout waiting for the leader's commit index");
        reply(text(503, ok + "\n[+]sync " + why));
      });
}

}  // namespace rq::server
