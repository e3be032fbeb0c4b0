#include "server/node_host.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "core/hash.h"
#include "server/log.h"

namespace rq::server {

// What the operator should see of the driver's life, at rqlite's levels.
class NodeHost::LogObserver final : public NodeObserver {
 public:
  void on_soft_state(NodeId, const raft::SoftState& ss, Term term) override {
    const char* role = ss.role == raft::Role::kLeader      ? "leader"
                       : ss.role == raft::Role::kFollower  ? "follower"
                       : ss.role == raft::Role::kCandidate ? "candidate"
                                                           : "pre-candidate";
    log(LogLevel::kInfo, "raft",
        std::string("now ") + role + " in term " + std::to_string(term.v) +
            (ss.lead.valid() ? ", leader " + std::to_string(ss.lead.v) : ", no leader"));
  }
  void on_snapshot_taken(NodeId, const raft::SnapshotMeta& m) override {
    log(LogLevel::kInfo, "raft", "snapshot taken at index " + std::to_string(m.index.v));
  }
  void on_snapshot_installed(NodeId, const raft::SnapshotMeta& m) override {
    log(LogLevel::kInfo, "raft", "snapshot installed at index " + std::to_string(m.index.v));
  }
  void on_recovered(NodeId, const storage::RecoveredLog& l,
                    const std::optional<raft::SnapshotMeta>& snap) override {
    log(LogLevel::kInfo, "raft",
        "recovered " + std::to_string(l.entries.size()) + " log entries in " +
            std::to_string(l.segments) + " segments" +
            (snap ? ", snapshot at index " + std::to_string(snap->index.v) : std::string()) +
            (l.torn_bytes > 0 ? ", cut a torn tail of " + std::to_string(l.torn_bytes) + " bytes"
                              : std::string()));
  }
  void on_fail_stop(NodeId, const Error& why) override {
    log(LogLevel::kError, "raft", "fail-stop: " + why.message);
  }
};

NodeId node_id_from_name(const std::string& name) {
  const uint64_t h = hash_bytes(name) & 0x7fff'ffff'ffff'ffffULL;
  return NodeId(h == 0 ? 1 : h);
}

Result<raft::Membership> parse_peers_json(std::string_view text) {
  namespace json = boost::json;
  boost::system::error_code ec;
  const json::value v = json::parse(text, ec);
  if (ec) return make_error(ErrorCode::kInvalid, "invalid JSON: " + ec.message());
  if (!v.is_array()) return make_error(ErrorCode::kInvalid, "not a JSON array of servers");
  std::vector<raft::Member> members;
  std::set<std::string> ids, addresses;
  for (const json::value& s : v.as_array()) {
    if (!s.is_object()) return make_error(ErrorCode::kInvalid, "a server is not a JSON object");
    const json::object& o = s.as_object();
    auto text_of = [&o](const char* k) -> std::string {
      const json::value* f = o.if_contains(k);
      return f != nullptr && f->is_string() ? std::string(f->as_string()) : std::string();
    };
    const std::string id = text_of("id"), address = text_of("address");
    bool non_voter = false;
    if (const json::value* nv = o.if_contains("non_voter")) {
      if (!nv->is_bool()) return make_error(ErrorCode::kInvalid, "non_voter of " + id + " is not a boolean");
      non_voter = nv->as_bool();
    }
    if (id.empty()) return make_error(ErrorCode::kInvalid, "empty ID in configuration");
    if (address.empty()) return make_error(ErrorCode::kInvalid, "empty address in configuration");
    if (address.find("://") != std::string::npos) {
      return make_error(ErrorCode::kInvalid, "protocol specified in address: " + address);
    }
    std::string host;
    uint16_t port = 0;
    if (!net::split_host_port(address, &host, &port)) {
      return make_error(ErrorCode::kInvalid, "invalid address in configuration: " + address);
    }
    if (!ids.insert(id).second) return make_error(ErrorCode::kInvalid, "found duplicate ID in configuration: " + id);
    if (!addresses.insert(address).second) {
      return make_error(ErrorCode::kInvalid, "found duplicate address in configuration: " + address);
    }
    members.push_back(raft::Member{node_id_from_name(id), address, !non_voter, false, 0, id});
  }
  raft::Membership m(std::move(members));
  if (m.voters().empty()) return make_error(ErrorCode::kInvalid, "need at least one voter in configuration");
  return m;
}

// rqlite's recovery of a cluster that lost its quorum for good: `DATA_DIR/raft/peers.json` (its
// path, although the Raft files live in DATA_DIR/sqlraft) names the surviving servers; the node
// rewrites its membership to them (Node::recover) and renames the file to peers.info. A file
// that cannot be read or applied stops the start, and stays for the next one.
Status NodeHost::recover_from_peers_json() {
  const std::string path = opts_.data_dir + "/raft/peers.json";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return ok_status();
  log(LogLevel::kInfo, "store", "attempting node recovery using " + path);
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return make_error(ErrorCode::kIo, "failed to read peers file: cannot read " + path);
  auto m = parse_peers_json(text);
  if (!m) return make_error(ErrorCode::kInvalid, "failed to read peers file: " + m.error().message);
  auto at = node_->recover(*m);
  if (!at) return make_error(at.error().code, "failed to recover node: " + at.error().message);
  std::filesystem::rename(path, opts_.data_dir + "/raft/peers.info", ec);
  if (ec) return make_error(ErrorCode::kIo, "failed to move " + path + " after recovery: " + ec.message());
  ++recoveries_;
  log(LogLevel::kInfo, "store",
      "node recovered successfully using " + path + " (its state is now the log up to index " +
          std::to_string(at->first.v) + ", term " + std::to_string(at->second.v) + ")");
  return ok_status();
}

NodeHost::NodeHost(boost::asio::io_context& io, NodeHostOptions opts)
    : io_(io), opts_(std::move(opts)) {}

NodeHost::~NodeHost() {
  // The service and the pool go before the node and the database they use.
  service_.reset();
  reads_.reset();
  node_.reset();
  sm_.reset();
}

Status NodeHost::start() {
  // The Raft port first: a node that cannot listen must not touch its data directory.
  net::TcpTransportOptions to;
  if (!net::split_host_port(opts_.raft_bind, &to.listen_host, &to.listen_port)) {
    return make_error(ErrorCode::kInvalid, "invalid Raft address " + opts_.raft_bind);
  }
  {
    // Listening on one specific address: speak from it too (TcpTransportOptions::source_host).
    boost::system::error_code ec;
    const auto a = boost::asio::ip::make_address(to.listen_host, ec);
    if (!ec && !a.is_unspecified()) to.source_host = to.listen_host;
  }
  to.warn = [](const std::string& what) { log(LogLevel::kWarn, "transport", what); };
  to.peer_failed = [this](NodeId id, const std::string& why) { on_peer_failed(id, why); };
  transport_ = std::make_unique<net::TcpTransport>(
      io_, to,
      [this](std::string_view bytes) {
        if (!node_) return;
        // The envelope is decoded and checked there; what fails is counted, and logged here
        // (at most once a second: a hostile peer must not flood the log).
        const uint64_t before = node_->stats().messages_rejected;
        node_->receive(bytes);
        if (node_->stats().messages_rejected != before) {
          const auto now = std::chrono::steady_clock::now();
          if (now - last_reject_log_ > std::chrono::seconds(1)) {
            last_reject_log_ = now;
            log(LogLevel::kWarn, "transport",
                "dropped an undecodable message (" +
                    std::to_string(node_->stats().messages_rejected) + " so far)");
          }
        }
      },
      [this](NodeId id) -> std::string {
        if (!node_ || !node_->running()) return {};
        for (const auto& m : node_->raft().membership().members()) {
          if (m.id == id) return m.address;
        }
        return {};
      });
  if (Status st = transport_->start(); !st) return st;

  std::error_code ec;
  std::filesystem::create_directories(opts_.data_dir, ec);
  if (ec)
    return make_error(ErrorCode::kIo,
                      "cannot create data directory " + opts_.data_dir + ": " + ec.message());
  auto disk = net::PosixDisk::open(raft_dir());
  if (!disk) return disk.error();
  disk_ = std::move(*disk);
  // The database is rebuilt from the log: whatever the file held may be older or torn.
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    std::filesystem::remove(db_path() + suffix, ec);
  sql::SqliteOptions so;
  so.path = db_path();
  so.base_vfs = "unix";
  so.foreign_keys = opts_.foreign_keys;
  so.stopwatch_ns = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  auto sm = sql::SqliteMachine::open(so);
  if (!sm) return sm.error();
  sm_ = std::move(*sm);

  std::random_device rd;
  const uint64_t seed = (uint64_t{rd()} << 32) ^ rd();
  clock_ = std::make_unique<net::AsioClock>(io_);
  NodeConfig cfg;
  cfg.raft.id = node_id_from_name(opts_.node_id);
  cfg.raft.election_ticks = opts_.election_ticks;
  cfg.raft.heartbeat_ticks = 1;
  cfg.tick_interval = opts_.tick;
  cfg.snapshot_threshold = opts_.snapshot_threshold;
  cfg.snapshot_interval = opts_.snapshot_interval;
  cfg.trailing_logs = opts_.trailing_logs;
  cfg.store.salt_seed = seed | 1;
  observer_ = std::make_unique<LogObserver>();
  node_ =
      std::make_unique<Node>(cfg, *clock_, *transport_, *disk_, Prng(seed), *sm_, observer_.get());
  reads_ = std::make_unique<ReadPool>(
      io_, ReadPoolOptions{db_path(), opts_.read_threads, opts_.foreign_keys});
  svc::ServiceOptions svo;
  svo.tick_interval = opts_.tick;
  service_ =
      std::make_unique<svc::Service>(*node_, *sm_, *clock_, Prng(seed ^ 0x5eed), svo, reads_.get());
  // A node told to -join never founds a cluster of its own, nor does a read replica.
  const raft::Membership founding({raft::Member{cfg.raft.id, opts_.raft_addr, true, false, 0, opts_.node_id}});
  if (Status st = recover_from_peers_json(); !st) return st;
  const bool may_found = opts_.join.empty() && opts_.voter;
  if (Status st = may_found ? node_->start(founding) : node_->start(std::nullopt); !st) return st;
  if (!opts_.voter && opts_.join.empty() && node_->blank()) {
    // rqlite's rule: a read replica with Raft state restarts from it and catches up; a brand-new
    // one has nobody to get a membership from.
    join_failure_ = "cannot create a new non-voting node without joining it to an existing cluster";
    return ok_status();
  }
  start_last_index_ = node_->raft().log().last_index().v;
  // A lone voter need not wait an election timeout to lead.
  if (node_->raft().voters().size() == 1 && node_->raft().membership().is_voter(cfg.raft.id))
    node_->campaign();
  if (opts_.bootstrap_expect > 0 && node_->blank()) {
    service_->expect_bootstrap(static_cast<size_t>(opts_.bootstrap_expect), self_member());
    bootstrap_round(clock_->now() + opts_.bootstrap_expect_timeout);
    return ok_status();
  }
  if (!opts_.join.empty()) {
    const raft::Membership& m = node_->raft().membership();
    if (m.members().size() == 1 && m.contains(cfg.raft.id)) {
      // rqlite's rule: a one-node cluster does not merge into another.
      join_failure_ =
          "node is the only node in a single-node cluster, joining other clusters not supported";
      return ok_status();
    }
    // Joined on every start, as rqlite does: the leader ignores a member at the same address,
    // re-addresses one whose address changed, and adds back one that was removed. A member
    // that finds no leader to confirm this keeps running (its log says it belongs).
    member_at_start_ = m.contains(cfg.raft.id);
    join_attempt(0, 0, 0);
  }
  return ok_status();
}

// rqlite's -join: each address in turn, for -join-attempts rounds with -join-interval between
// them; a follower's answer names the leader, which is asked next. Succeeds once the leader has
// the change in its log (it then brings this node up to date); fails the process otherwise.
void NodeHost::join_attempt(int round, size_t index, int redirects, NodeId contact) {
  if (!node_ || !node_->running()) return;
  if (index >= opts_.join.size()) {
    if (round + 1 >= opts_.join_attempts) {
      if (member_at_start_) {
        log(LogLevel::kWarn, "rqlited",
            "could not confirm membership through the join addresses (" + last_join_error_ +
                "); running on as a member");
        return;
      }
      join_failure_ = "failed to join cluster at " + std::to_string(opts_.join.size()) +
                      " address(es) after " + std::to_string(opts_.join_attempts) +
                      " attempt(s): " + last_join_error_;
      return;
    }
    clock_->schedule(opts_.join_interval, [this, round] { join_attempt(round + 1, 0, 0); });
    return;
  }
  if (!contact.valid()) {
    contact = join_contact(opts_.join[index]);
  }
  // One attempt at a time: an answer (or timeout) of an attempt given up already is ignored.
  const uint64_t seq = ++join_seq_;
  join_now_ = JoinPosition{round, index, contact};
  service_->join(
      contact, opts_.raft_addr, opts_.voter, opts_.join_timeout,
                 [this, seq, round, index, redirects](const MembershipResult& r) {
                   if (seq != join_seq_) return;
                   join_now_.reset();
                   using S = MembershipResult::Status;
                   if (r.status == S::kProposed || r.status == S::kAlready) {
                     log(LogLevel::kInfo, "rqlited",
                         "joined the cluster through " + opts_.join[index]);
                     joined_ = true;
                     return;
                   }
                   if (r.status == S::kNotLeader && r.leader.valid() && redirects < 3) {
                     join_attempt(round, index, redirects + 1, r.leader);
                     return;
                   }
                   last_join_error_ = r.error.empty() ? std::string("no leader") : r.error;
                   if (r.status == S::kRetry) {
                     // A change in flight, or no answer: the same address again shortly.
                     clock_->schedule(std::chrono::milliseconds(200),
                                      [this, round, index] { join_attempt(round, index + 1, 0); });
                     return;
                   }
                   join_attempt(round, index + 1, 0);
                 },
      opts_.node_id);
}

// The join contact's connection failed, or something other than a sqlraft node answered on it:
// the attempt fails now rather than at its timeout; an HTTP server there ends the join (rqlite's
// check: the address is another node's HTTP port, given by mistake).
void NodeHost::on_peer_failed(NodeId id, const std::string& why) {
  if (!join_now_ || join_now_->contact != id || !join_failure_.empty()) return;
  const JoinPosition at = *join_now_;
  join_now_.reset();
  ++join_seq_;
  const std::string& addr = opts_.join[at.index];
  if (why == "appears to be serving HTTP") {
    join_failure_ = "join address " + addr + " appears to be serving HTTP when it should be Raft";
    return;
  }
  last_join_error_ = why;
  join_attempt(at.round, at.index + 1, 0);
}

NodeId NodeHost::join_contact(const std::string& addr) {
  // Who listens there is unknown until it answers: a stand-in id the transport can reach.
  const NodeId contact = node_id_from_name("join:" + addr);
  transport_->learn(contact, addr);
  return contact;
}

raft::Member NodeHost::self_member() const {
  raft::Member m;
  m.id = node_->id();
  m.address = opts_.raft_addr;
  m.voter = true;
  m.incarnation = node_->incarnation();
  m.name = opts_.node_id;
  return m;
}

// rqlite's bootstrap loop: join through each address (a cluster may exist already); failing
// that, notify each of them that this node is here; again after a jittered pause, until a leader
// is known or the timeout passes. The founding itself happens in the service once enough blank
// nodes notified this one (svc::Service::expect_bootstrap).
void NodeHost::bootstrap_round(Duration deadline) {
  if (!node_ || !node_->running() || joined_) return;
  if (node_->raft().lead().valid() && node_->raft().membership().contains(node_->id())) {
    log(LogLevel::kInfo, "rqlited",
        service_->bootstrapped() ? "bootstrapped the cluster with " +
                                       std::to_string(service_->notifiers()) + " nodes"
                                 : "a cluster formed: leader known");
    joined_ = true;
    return;
  }
  if (clock_->now() >= deadline) {
    join_failure_ = "bootstrap-expect timeout: " + std::to_string(service_->notifiers()) +
                    " of " + std::to_string(opts_.bootstrap_expect) + " nodes heard from";
    return;
  }
  const raft::Member self = self_member();
  for (const std::string& addr : opts_.join) {
    const NodeId contact = join_contact(addr);
    if (node_->blank()) service_->notify(contact, self);
    service_->join(
        contact, opts_.raft_addr, opts_.voter, std::min(opts_.join_timeout, Duration{std::chrono::seconds(1)}),
        [this, addr](const MembershipResult& r) {
          using S = MembershipResult::Status;
          if ((r.status == S::kProposed || r.status == S::kAlready) && !joined_) {
            log(LogLevel::kInfo, "rqlited", "joined the cluster through " + addr);
            joined_ = true;
          }
        },
        opts_.node_id);
  }
  std::uniform_int_distribution<int> jitter(0, 500);
  static std::mt19937 rng{std::random_device{}()};
  clock_->schedule(std::chrono::milliseconds(500 + jitter(rng)),
                   [this, deadline] { bootstrap_round(deadline); });
}

bool has_raft_state(const std::string& data_dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(data_dir + "/sqlraft", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("wal-", 0) == 0 || name.rfind("snap-", 0) == 0) return true;
  }
  return false;
}

void NodeHost::stop() {
  if (node_) node_->stop();
}

Result<std::vector<std::string>> NodeHost::snapshot_files() const {
  auto names = disk_->list();
  if (!names) return names.error();
  std::vector<std::string> out;
  for (const auto& n : *names) {
    if (n.rfind("snap-", 0) == 0 && n.size() > 5 && n.compare(n.size() - 5, 5, ".snap") == 0)
      out.push_back(n);
  }
  return out;
}

bool NodeHost::ready() const {
  return node_ && node_->running() && node_->raft().lead().valid() &&
         sm_->last_applied() >= start_last_index_;
}

uint64_t NodeHost::newest_snapshot_index() const {
  uint64_t newest = 0;
  auto files = snapshot_files();
  if (!files) return 0;
  for (const auto& n : *files) {
    // snap-<index, 16 hex digits>-<term>.snap (core/storage/snapshot_store.cpp)
    if (n.size() < 21) continue;
    newest = std::max<uint64_t>(newest, std::strtoull(n.substr(5, 16).c_str(), nullptr, 16));
  }
  return newest;
}

const std::string& NodeHost::temp_dir() {
  if (temp_dir_.empty()) {
    temp_dir_ = opts_.data_dir + "/sqlraft-tmp";
    std::error_code ec;
    std::filesystem::remove_all(temp_dir_, ec);
    std::filesystem::create_directories(temp_dir_, ec);
  }
  return temp_dir_;
}

Backups& NodeHost::backups() {
  if (!backups_) {
    BackupsOptions o;
    o.db_path = db_path();
    o.temp_dir = temp_dir();
    backups_ = std::make_unique<Backups>(io_, o);
  }
  return *backups_;
}

}  // namespace rq::server
