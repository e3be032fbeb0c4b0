// rqlited: rqlite's server, on sqlraft's core. `rqlited [flags] DATA_DIR`.
//   1. flags as rqlite parses and validates them (server/flags.h)
//   2. the node on the data directory: log and snapshots in DATA_DIR/sqlraft/, the database
//      rebuilt in DATA_DIR/db.sqlite (server/node_host.h)
//   3. the HTTP API (server/api.h) on Beast (server/http_server.h)
//   4. one thread runs all of it; reads run on the read pool. Every pass of the loop handles what
//      is ready as one batch: writes that arrived together share one log write and one fsync.
// SIGTERM or SIGINT: stop accepting, finish, exit 0.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <iostream>

#include "server/api.h"
#include "server/backup.h"
#include "server/flags.h"
#include "server/log.h"
#include "server/node_host.h"

namespace {

using namespace rq;
using namespace rq::server;

// "host:port" -> its parts; rqlite's flags were validated already.
bool split_host_port(const std::string& addr, std::string* host, uint16_t* port) {
  const size_t colon = addr.rfind(':');
  if (colon == std::string::npos) return false;
  *host = addr.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
  if (host->empty()) *host = "0.0.0.0";
  try {
    const int p = std::stoi(addr.substr(colon + 1));
    if (p < 0 || p > 65535) return false;
    *port = static_cast<uint16_t>(p);
  } catch (...) {
    return false;
  }
  return true;
}

// One local API call (as if from a client), answered with its status.
void local_call(Api& api, std::string method, std::string target, std::string body,
                std::function<void(int status, std::string body)> done) {
  HttpRequest req;
  req.method = std::move(method);
  req.target = target;
  const size_t q = target.find('?');
  req.path = target.substr(0, q);
  req.query = q == std::string::npos ? "" : target.substr(q + 1);
  req.body = std::move(body);
  req.content_type = "application/json";
  req.remote = "shutdown";
  api.handle(std::move(req), [done = std::move(done)](HttpResponse r) { done(r.status, r.body); });
}

// -raft-cluster-remove-shutdown: DELETE /remove of this node (forwarded to the leader, which
// answers once the change commits), tried 5 times 250 ms apart as rqlite does. Then
// -raft-shutdown-stepdown: a leader with other voters hands over (POST /leader?wait, 2 s).
void graceful_shutdown(NodeHost& host, Api& api, const Flags& f, std::function<void()> finish) {
  auto stepdown = [&host, &api, &f, finish] {
    const raft::Raft& raft = host.node().raft();
    if (!f.raft_shutdown_stepdown || !host.node().running() ||
        raft.role() != raft::Role::kLeader || raft.voters().size() < 2) {
      return finish();
    }
    local_call(api, "POST", "/leader?wait&timeout=2s", "", [finish](int status, std::string body) {
      if (status == 200) {
        log(LogLevel::kInfo, "rqlited", "leadership transferred before shutdown");
      } else {
        log(LogLevel::kWarn, "rqlited", "stepdown before shutdown failed: " + body);
      }
      finish();
    });
  };
  if (!f.raft_cluster_remove_shutdown || !host.node().running()) return stepdown();
  struct Attempt {
    static void run(NodeHost& host, Api& api, const std::string& id, int left,
                    std::function<void()> next) {
      local_call(api, "DELETE", "/remove?timeout=5s", "{\"id\":" + quote(id) + "}",
                 [&host, &api, id, left, next](int status, std::string body) {
                   if (status == 200) {
                     log(LogLevel::kInfo, "rqlited", "removed from the cluster before shutdown");
                     return next();
                   }
                   if (left <= 1) {
                     log(LogLevel::kWarn, "rqlited",
                         "could not leave the cluster before shutdown: " + body);
                     return next();
                   }
                   host.clock().schedule(std::chrono::milliseconds(250), [&host, &api, id, left,
                                                                          next] {
                     run(host, api, id, left - 1, next);
                   });
                 });
    }
    static std::string quote(const std::string& s) {
      std::string out = "\"";
      for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
      }
      return out + "\"";
    }
  };
  Attempt::run(host, api, f.node_id, 5, stepdown);
}

int run(const Flags& f) {
  LogLevel raft_level = LogLevel::kWarn;
  if (!log_level_from_name(f.raft_log_level, &raft_level)) {
    std::fprintf(stderr, "fatal: invalid -raft-log-level %s (DEBUG, INFO, WARN or ERROR)\n",
                 f.raft_log_level.c_str());
    return 1;
  }
  set_raft_log_level(raft_level);
  if (f.bootstrap_expect > 0 && f.join.empty()) {
    std::fprintf(stderr,
                 "fatal: -bootstrap-expect needs -join with the founders' Raft addresses (DNS "
                 "and KV discovery are not built)\n");
    return 1;
  }
  if (f.bootstrap_expect > 0 && f.raft_non_voter) {
    std::fprintf(stderr, "fatal: bootstrapping only applicable to voting nodes\n");
    return 1;
  }
  // A read replica with Raft state restarts from it (with or without -join) and catches up; a
  // brand-new one must join.
  if (f.raft_non_voter && f.join.empty() && !has_raft_state(f.data_dir)) {
    std::fprintf(stderr, "fatal: cannot create a new non-voting node without joining it to an existing cluster\n");
    return 1;
  }
  for (const auto& w : f.warnings) log(LogLevel::kWarn, "rqlited", w);
  boost::asio::io_context io(1);
  NodeHostOptions ho;
  ho.data_dir = f.data_dir;
  ho.node_id = f.node_id;
  ho.raft_addr = f.raft_adv_addr;
  ho.raft_bind = f.raft_addr;
  ho.http_addr = f.http_adv_addr;
  // Raft runs on ticks: a tenth of the heartbeat timeout, which is the election timeout.
  ho.tick = std::max<Duration>(f.raft_heartbeat_timeout / 10, std::chrono::milliseconds(5));
  ho.election_ticks = 10;
  ho.snapshot_threshold = f.raft_snap;
  ho.snapshot_interval = f.raft_snap_int;
  ho.trailing_logs = f.raft_snap + f.raft_snap / 4;
  ho.foreign_keys = f.fk;
  ho.read_threads = 4;
  ho.join = f.join;
  ho.join_attempts = f.join_attempts;
  ho.join_interval = f.join_interval;
  ho.voter = !f.raft_non_voter;
  ho.bootstrap_expect = f.bootstrap_expect;
  ho.bootstrap_expect_timeout = f.bootstrap_expect_timeout;
  NodeHost host(io, ho);
  if (Status st = host.start(); !st) {
    std::fprintf(stderr, "fatal: failed to open store: %s\n", st.error().message.c_str());
    return 1;
  }
  ApiOptions ao;
  ao.http_adv_addr = f.http_adv_addr;
  ao.http_bind_addr = f.http_addr;
  ao.allow_origin = f.http_allow_origin;
  ao.apply_timeout = f.raft_apply_timeout;
  ao.write_queue.capacity = static_cast<size_t>(f.write_queue_capacity);
  ao.write_queue.batch_size = static_cast<size_t>(f.write_queue_batch_size);
  ao.write_queue.batch_timeout = f.write_queue_timeout;
  ao.write_queue.transaction = f.write_queue_tx;
  Api api(host, ao);
  HttpServerOptions so;
  if (!split_host_port(f.http_addr, &so.host, &so.port)) {
    std::fprintf(stderr, "fatal: invalid HTTP address %s\n", f.http_addr.c_str());
    return 1;
  }
  so.common_headers = api.common_headers();
  // Database images (/db/load, /boot) go to files, not memory (server/backup.h).
  so.spool_body = spool_body;
  so.spool_dir = host.temp_dir();
  HttpServer http(io, so, [&api](HttpRequest req, HttpReply reply) {
    api.handle(std::move(req), std::move(reply));
  });
  if (Status st = http.start(); !st) {
    std::fprintf(stderr, "fatal: failed to start HTTP server: %s\n", st.error().message.c_str());
    return 1;
  }
  log(LogLevel::kInfo, "rqlited",
      std::string("node ") + f.node_id + " serving HTTP on " + f.http_addr + ", data in " +
          f.data_dir);

  bool stopping = false;
  auto finish = [&] {
    stopping = true;
    host.stop();
    io.stop();
  };
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log(LogLevel::kInfo, "rqlited",
        sig == SIGTERM ? "SIGTERM: shutting down" : "SIGINT: shutting down");
    http.stop();
    // rqlite's order: optionally leave the cluster, optionally hand leadership over, then stop.
    // Each step is bounded; a second signal stops at once.
    signals.async_wait([&](const boost::system::error_code& ec2, int) {
      if (!ec2) finish();
    });
    graceful_shutdown(host, api, f, finish);
  });
  while (!stopping && !io.stopped()) {
    host.begin_batch();
    const size_t n = io.run_one();
    if (n > 0) io.poll();
    host.end_batch();
    if (n == 0) break;
    if (host.node().failed()) {
      log(LogLevel::kError, "rqlited", "node stopped: " + host.node().failure());
      return 1;
    }
    if (!host.join_failure().empty()) {
      std::fprintf(stderr, "fatal: %s\n", host.join_failure().c_str());
      return 1;
    }
  }
  log(LogLevel::kInfo, "rqlited", "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = parse_flags(argc, argv);
  if (auto* e = std::get_if<FlagsExit>(&parsed)) {
    std::fputs(e->out.c_str(), stdout);
    std::fputs(e->err.c_str(), stderr);
    return e->code;
  }
  const Flags& f = std::get<Flags>(parsed);
  return run(f);
}
