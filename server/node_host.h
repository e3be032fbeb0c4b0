// One rqlited node's core, on real time and a real disk: the driver (Node) with its Raft log
// and snapshots in DATA_DIR/sqlraft/, the SQL state machine on DATA_DIR/db.sqlite, the client
// service, and the read pool. Everything here runs on the io_context's thread except the pool.
//
// DATA_DIR/db.sqlite is a cache: it is deleted at start and rebuilt from the newest snapshot and
// the log, so a crash while SQLite was writing it (it runs with synchronous=OFF) loses nothing.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/node.h"
#include "core/service/service.h"
#include "core/sqlite/sqlite_machine.h"
#include "net/asio_clock.h"
#include "net/posix_disk.h"
#include "net/tcp_transport.h"
#include "server/backup.h"
#include "server/read_pool.h"

namespace rq::server {

struct NodeHostOptions {
  std::string data_dir;   // absolute
  std::string node_id;    // rqlite's node id (a string)
  std::string raft_addr;  // advertised Raft address
  std::string raft_bind;  // where the Raft port listens (host:port)
  std::string http_addr;  // advertised HTTP address
  Duration tick = std::chrono::milliseconds(100);
  int election_ticks = 10;
  uint64_t snapshot_threshold = 8192;
  Duration snapshot_interval = std::chrono::seconds(10);  // -raft-snap-int
  uint64_t trailing_logs = 10240;
  bool foreign_keys = false;
  size_t read_threads = 2;
  // rqlite's -join: Raft addresses to ask, in order, for `join_attempts` rounds.
  std::vector<std::string> join;
  int join_attempts = 5;
  Duration join_interval = std::chrono::seconds(3);
  Duration join_timeout = std::chrono::seconds(5);  // per request
  bool voter = true;                                // false: -raft-non-voter
  // rqlite's -bootstrap-expect: with `join` naming every founder (this node included), a blank
  // node founds the cluster with the first `bootstrap_expect` nodes that notify each other.
  int bootstrap_expect = 0;
  Duration bootstrap_expect_timeout = std::chrono::seconds(120);
};

// rqlite's node ids are strings; Raft's are numbers: a stable 63-bit hash, never 0.
NodeId node_id_from_name(const std::string& name);

// rqlite's peers.json: a JSON array of {"id", "address", "non_voter"} (Hashicorp's checks: ids
// and addresses present and unique, an address host:port without a scheme, a voter at least).
Result<raft::Membership> parse_peers_json(std::string_view text);

// Whether DATA_DIR already holds Raft state (log segments or snapshots): rqlite's "new node"
// test, made without creating anything.
bool has_raft_state(const std::string& data_dir);

class NodeHost {
 public:
  NodeHost(boost::asio::io_context& io, NodeHostOptions opts);
  ~NodeHost();
  NodeHost(const NodeHost&) = delete;
  NodeHost& operator=(const NodeHost&) = delete;

  // Opens the data directory, rebuilds the database from snapshot and log, and starts the node.
  // A new directory founds a one-voter cluster and campaigns at once.
  Status start();
  // Stops ticking; nothing acknowledged depends on what follows (the log is synced per write).
  void stop();

  Node& node() { return *node_; }
  const Node& node() const { return *node_; }
  svc::Service& service() { return *service_; }
  const ReadPool& read_pool() const { return *reads_; }
  // Recoveries from peers.json at start (rqlite's num_recoveries): 0 or 1.
  uint64_t recoveries() const { return recoveries_; }
  sql::SqliteMachine& sm() { return *sm_; }
  const net::PosixDisk& disk() const { return *disk_; }
  const net::TcpTransport& transport() const { return *transport_; }
  // The node's clock (monotonic time and timers on the io_context's thread).
  Clock& clock() { return *clock_; }
  const NodeHostOptions& options() const { return opts_; }
  boost::asio::io_context& io() { return io_; }
  std::string db_path() const { return opts_.data_dir + "/db.sqlite"; }
  std::string raft_dir() const { return opts_.data_dir + "/sqlraft"; }
  // The sealed snapshot files by name (for /status).
  Result<std::vector<std::string>> snapshot_files() const;
  // A leader is known and the state machine applied everything the log held at start.
  bool ready() const;
  // Why joining failed for good ("" while it has not): the process must exit.
  const std::string& join_failure() const { return join_failure_; }
  bool joined() const { return joined_; }
  // The index of the newest sealed snapshot file (0: none).
  uint64_t newest_snapshot_index() const;
  // Temporary files (backups being sent, request bodies being received, images being loaded):
  // DATA_DIR/sqlraft-tmp, emptied the first time it is asked for (what is there was left by an
  // earlier process).
  const std::string& temp_dir();
  // /db/backup, /db/load and /boot work on whole files on threads of their own
  // (server/backup.h); made the first time it is asked for.
  Backups& backups();
  // Runs fn with every input handled in one pass of the driver (group commit): see
  // Node::begin_batch.
  void begin_batch() { node_->begin_batch(); }
  void end_batch() { node_->end_batch(); }

 private:
  class LogObserver;
  boost::asio::io_context& io_;
  NodeHostOptions opts_;
  std::unique_ptr<net::AsioClock> clock_;
  std::unique_ptr<net::PosixDisk> disk_;
  std::unique_ptr<net::TcpTransport> transport_;
  std::unique_ptr<LogObserver> observer_;
  std::unique_ptr<sql::SqliteMachine> sm_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<ReadPool> reads_;
  std::unique_ptr<svc::Service> service_;
  uint64_t start_last_index_ = 0;
  uint64_t recoveries_ = 0;
  void join_attempt(int round, size_t index, int redirects, NodeId contact = NodeId());
  void on_peer_failed(NodeId id, const std::string& why);
  Status recover_from_peers_json();
  struct JoinPosition {
    int round = 0;
    size_t index = 0;
    NodeId contact;
  };
  std::optional<JoinPosition> join_now_;  // the attempt in flight
  uint64_t join_seq_ = 0;
  std::string join_failure_;
  std::string last_join_error_ = "no answer";
  bool joined_ = false;
  bool member_at_start_ = false;
  std::chrono::steady_clock::time_point last_reject_log_{};  // the log named this node a member when it started
  void bootstrap_round(Duration deadline);
  raft::Member self_member() const;
  // The node at a -join address, as the transport knows it before it answers.
  NodeId join_contact(const std::string& addr);
  std::string temp_dir_;              // set by temp_dir()
  std::unique_ptr<Backups> backups_;  // made by backups(); goes first (its threads use no member)
};

}  // namespace rq::server
