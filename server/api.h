// rqlite's HTTP API on a NodeHost: routing (rqlite matches most paths by prefix), query-string
// validation, request bodies, the service call, and rqlite's exact response bytes and headers
// (rqlite-compat.md §1-2; docs/api.md has the table of what is done). No Beast here: requests
// and responses are plain data (http_server.h).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "server/http_api.h"
#include "server/http_server.h"
#include "server/node_host.h"
#include "server/peers.h"
#include "server/write_queue.h"

namespace rq::server {

struct ApiOptions {
  std::string http_adv_addr;  // X-RQLITE-SERVED-BY, /status
  std::string http_bind_addr;
  std::string allow_origin;  // -http-allow-origin (empty: no header)
  Duration apply_timeout =
      std::chrono::seconds(10);  // -raft-apply-timeout: writes and strong reads
  Duration default_timeout = std::chrono::seconds(30);  // `timeout` when absent (forwarding)
  WriteQueueOptions write_queue;                        // -write-queue-* flags
  size_t max_statements = 100'000;                      // per request; more is a 413
};

// rqlite's `http` expvar counters (/debug/vars). Those marked † are counted outside api_ops.cpp
// and stay 0 until that code increments them.
struct ApiStats {
  uint64_t executions = 0;  // every /db/execute, queued ones included
  uint64_t queries = 0;
  uint64_t requests = 0;
  uint64_t leader_not_found = 0;
  uint64_t execute_stmts_rx = 0;  // †
  uint64_t query_stmts_rx = 0;    // †
  uint64_t request_stmts_rx = 0;  // †
  uint64_t num_status = 0;        // †
  uint64_t num_readyz = 0;
  uint64_t backups = 0;                 // †
  uint64_t loads = 0;                   // †
  uint64_t boot = 0;                    // †
  uint64_t queued_executions = 0;       // requests queued (/db/execute?queue)
  uint64_t queued_executions_wait = 0;  // ... of which with `wait`
  uint64_t user_snapshots = 0;          // POST /snapshot that took one
  uint64_t user_reaps = 0;              // POST /reap
  // Outcomes, for rqlite's `store` map: operations that succeeded (2xx) or failed (5xx).
  uint64_t backups_ok = 0, loads_ok = 0, boots_ok = 0;
  uint64_t user_snapshots_ok = 0, user_snapshots_failed = 0;
};

class WriteQueue;

class Api {
 public:
  Api(NodeHost& host, ApiOptions opts);
  ~Api();
  void handle(HttpRequest req, HttpReply reply);
  // Headers every response carries (the HTTP server adds them).
  std::vector<std::pair<std::string, std::string>> common_headers() const;
  const ApiStats& stats() const { return stats_; }
  const Peers& peers() const { return *peers_; }
  struct NodeInfo;  // one /nodes entry (api_ops.cpp)

 private:
  struct Call;
  void data(HttpRequest& req, HttpReply& reply, int kind);
  HttpReply count_outcome(HttpReply reply, uint64_t* ok, uint64_t* failed);
  void status(const HttpRequest& req, HttpReply& reply);
  void readyz(const HttpRequest& req, HttpReply& reply);
  void readyz_after_leader(const HttpRequest& req, HttpReply& reply);  // the leader answered
  // server/api_backup.cpp: /db/backup, /db/load, /boot.
  void backup(const HttpRequest& req, HttpReply& reply);
  void load(HttpRequest& req, HttpReply& reply);
  void boot(HttpRequest& req, HttpReply& reply);
  // server/api_ops.cpp: /nodes, /leader, /remove, /snapshot, /reap, /debug/vars, /db/sql, and
  // queued writes (/db/execute?queue, through queue_).
  void nodes(const HttpRequest& req, HttpReply& reply);
  void probe(const std::vector<raft::Member>& members, const QueryParams& q,
             std::function<void(std::vector<NodeInfo>)> done);
  void leader(HttpRequest& req, HttpReply& reply);
  void remove(HttpRequest& req, HttpReply& reply);
  void snapshot(const HttpRequest& req, HttpReply& reply);
  void reap(const HttpRequest& req, HttpReply& reply);
  void debug_vars(const HttpRequest& req, HttpReply& reply);
  void db_sql(const HttpRequest& req, HttpReply& reply);
  void queued(const HttpRequest& req, HttpReply& reply, QueryParams q,
              std::vector<sql::Statement> statements);

  // A request only the leader serves reached this node: 503 "leader not found" with no leader;
  // with `redirect`, rqlite's 301 to the leader's API URL (500 "leader not found" if it cannot
  // be learned); a request another node forwarded here is refused ("not leader": no second hop);
  // otherwise it is forwarded to the leader and its response returned unchanged.
  void to_leader(const HttpRequest& req, bool redirect, Duration timeout, HttpReply reply);
  // rqlite's 301: Location is node `leader`'s API URL with this request's path and query.
  void redirect_to(NodeId leader, const HttpRequest& req, HttpReply reply);
  // The rqlite node id of a member (its name; its number if it has none).
  std::string member_name(NodeId id) const;

  NodeHost& host_;
  ApiOptions opts_;
  ApiStats stats_;
  std::unique_ptr<Peers> peers_;
  std::unique_ptr<WriteQueue> queue_;  // created by api_ops.cpp on first use
  std::chrono::system_clock::time_point started_ = std::chrono::system_clock::now();
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // for replies that outlive the Api
};

}  // namespace rq::server
