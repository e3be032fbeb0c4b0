// The operations endpoints (rqlite-compat.md §1.9, §1.10, §2.2-2.5, §2.8): /nodes, /leader,
// /remove, /snapshot, /reap, /debug/vars, /db/sql, and queued writes (/db/execute?queue, through
// the WriteQueue). Everything runs on the io_context's thread. What has to wait (a removal to
// commit, a leadership transfer, a snapshot, room in the queue, a flush) is bounded by `timeout`
// (rqlite's default 30 s): polled on the node's clock, or answered by the node's callbacks.
//
// In a cluster: /nodes and GET /leader ask each member for its metadata (server/peers.h);
// POST /leader and DELETE /remove reaching a follower are forwarded to the leader (or answered
// with a 301 to it, with `redirect`).
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "server/api.h"
#include "server/flags.h"
#include "server/responses.h"
#include "server/write_queue.h"

namespace rq::server {

namespace json = boost::json;

// One /nodes entry (rqlite http/nodes.go), with rqlite's field order.
struct Api::NodeInfo {
  std::string id;
  std::string api_addr;
  std::string addr;
  std::string version;
  bool voter = false;
  bool reachable = false;
  bool leader = false;
  Duration time{0};
  std::string error;
};

Api::~Api() = default;

namespace {

constexpr const char* kJson = "application/json; charset=utf-8";
// How often a wait re-checks the node (a removal committing, a transfer finishing).
constexpr Duration kPollEvery = std::chrono::milliseconds(10);

HttpResponse empty(int status) {
  return empty_response(status);
}

HttpResponse json_response(const json::value& v, bool pretty) {
  auto body = go_json(v, pretty);
  if (!body) return http_error(500, body.error().message);
  HttpResponse r;
  r.content_type = kJson;
  r.body = std::move(*body);
  return r;
}

// Calls `ready` now and then every kPollEvery until it says true (done(true)) or `timeout`
// passes (done(false)).
void poll_until(Clock& clock, Duration timeout, std::function<bool()> ready,
                std::function<void(bool)> done) {
  struct Poll {
    Clock& clock;
    Duration deadline;
    std::function<bool()> ready;
    std::function<void(bool)> done;
    static void next(const std::shared_ptr<Poll>& p) {
      const Duration left = p->deadline - p->clock.now();
      p->clock.schedule(std::clamp(left, Duration{0}, kPollEvery), [p] {
        if (p->ready()) return p->done(true);
        if (p->clock.now() >= p->deadline) return p->done(false);
        next(p);
      });
    }
  };
  if (ready()) return done(true);
  auto p =
      std::make_shared<Poll>(Poll{clock, clock.now() + timeout, std::move(ready), std::move(done)});
  Poll::next(p);
}

// The member an rqlite node id names: the member of that name, its hash, or (for members
// without a name, listed by number) that number.
std::optional<NodeId> member_named(const raft::Membership& m, const std::string& name) {
  for (const auto& mem : m.members()) {
    if (!mem.name.empty() && mem.name == name) return mem.id;
  }
  if (m.contains(node_id_from_name(name))) return node_id_from_name(name);
  if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) {
    try {
      const NodeId id(std::stoull(name));
      if (m.contains(id)) return id;
    } catch (const std::exception&) {
    }
  }
  return std::nullopt;
}

std::optional<NodeId> member_named(const NodeHost& host, const std::string& name) {
  return member_named(host.node().raft().membership(), name);
}

using NodeInfo = Api::NodeInfo;

json::object node_json(const NodeInfo& n) {
  json::object o;
  o["id"] = n.id;
  if (!n.api_addr.empty()) o["api_addr"] = n.api_addr;
  o["addr"] = n.addr;
  o["version"] = n.version;
  o["voter"] = n.voter;
  o["reachable"] = n.reachable;
  o["leader"] = n.leader;
  if (n.time.count() > 0) {
    o["time"] = std::chrono::duration<double>(n.time).count();
    o["time_s"] = format_go_duration(n.time);
  }
  if (!n.error.empty()) o["error"] = n.error;
  return o;
}

// ---- /debug/vars: Go's expvar output --------------------------------------------------------

std::string go_quote(const std::string& s) {
  auto q = go_json(json::string(s), false);
  return q ? *q : "\"\"";
}

// An expvar.Map's String(): `{"a": 1, "b": 2}`, keys sorted.
std::string expvar_map(const std::map<std::string, uint64_t>& m) {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : m) {
    if (!first) out += ", ";
    first = false;
    out += go_quote(k) + ": " + std::to_string(v);
  }
  return out + "}";
}

std::string cmdline_json() {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  json::array args;
  size_t start = 0;
  while (start < all.size()) {
    size_t end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    args.push_back(json::string(all.substr(start, end - start)));
    start = end + 1;
  }
  auto s = go_json(args, false);
  return s ? *s : "[]";
}

// A /proc/self/status field in kB, as bytes (0 if absent).
uint64_t proc_status_bytes(const std::string& status, const std::string& field) {
  const size_t at = status.find("\n" + field + ":");
  if (at == std::string::npos) return 0;
  std::istringstream in(status.substr(at + field.size() + 2));
  uint64_t kb = 0;
  in >> kb;
  return kb * 1024;
}

// Go's runtime.MemStats fields, in its order, filled with what this process can tell: malloc's
// own accounting (mallinfo2) and /proc/self/status. There is no garbage collector: its fields are
// zero, EnableGC false.
std::string memstats_json() {
  std::ifstream f("/proc/self/status");
  const std::string status =
      "\n" + std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const struct mallinfo2 mi = mallinfo2();
  // Under a sanitizer's allocator malloc knows nothing: the resident size is the next best thing.
  const uint64_t rss = proc_status_bytes(status, "VmRSS");
  const uint64_t in_use = mi.uordblks + mi.hblkhd > 0 ? mi.uordblks + mi.hblkhd : rss;
  const uint64_t stack = proc_status_bytes(status, "VmStk");
  json::object o;
  o["Alloc"] = in_use;
  o["TotalAlloc"] = in_use;  // no cumulative count: a lower bound
  o["Sys"] = rss;
  for (const char* k : {"Lookups", "Mallocs", "Frees"}) o[k] = 0;
  o["HeapAlloc"] = in_use;
  o["HeapSys"] = mi.arena + mi.hblkhd;
  o["HeapIdle"] = mi.fordblks;
  o["HeapInuse"] = in_use;
  for (const char* k : {"HeapReleased", "HeapObjects"}) o[k] = 0;
  o["StackInuse"] = stack;
  o["StackSys"] = stack;
  for (const char* k : {"MSpanInuse", "MSpanSys", "MCacheInuse", "MCacheSys", "BuckHashSys",
                        "GCSys", "OtherSys", "NextGC", "LastGC", "PauseTotalNs"}) {
    o[k] = 0;
  }
  o["PauseNs"] = json::array(256, 0);
  o["PauseEnd"] = json::array(256, 0);
  o["NumGC"] = 0;
  o["NumForcedGC"] = 0;
  o["GCCPUFraction"] = 0.0;
  o["EnableGC"] = false;
  o["DebugGC"] = false;
  // Go's 61 size classes.
  static constexpr uint32_t kSizes[] = {
      0,    8,    16,    24,    32,    48,    64,    80,    96,   112,  128,  144,  160,
      176,  192,  208,   224,   240,   256,   288,   320,   352,  384,  416,  448,  480,
      512,  576,  640,   704,   768,   896,   1024,  1152,  1280, 1408, 1536, 1792, 2048,
      2304, 2688, 3072,  3200,  3456,  4096,  4864,  5376,  6144, 6528, 6784, 6912, 8192,
      9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432};
  static_assert(std::size(kSizes) == 61);
  json::array by_size;
  for (uint32_t s : kSizes)
    by_size.push_back(json::object{{"Size", s}, {"Mallocs", 0}, {"Frees", 0}});
  o["BySize"] = std::move(by_size);
  auto s = go_json(o, false);
  return s ? *s : "{}";
}

// A proposed membership change is done once its entry commits (Hashicorp's RemoveServer future):
// 200 then; 500 when another entry took its place, or at the deadline.
void await_commit(Node& node, Clock& clock, LogIndex index, Term term, Duration timeout,
                  const HttpReply& reply) {
  poll_until(
      clock, timeout,
      [&node, index] { return !node.running() || node.raft().log().committed() >= index; },
      [&node, index, term, reply](bool committed) {
        if (!committed)
          return reply(http_error(500, "timeout waiting for node removal confirmation"));
        if (!node.running()) return reply(http_error(500, "node stopped: " + node.failure()));
        const auto t = node.raft().log().term(index);
        if (!t) return reply(http_error(500, "outcome unknown: the log was compacted meanwhile"));
        if (*t != term) return reply(http_error(500, "leadership lost while committing log"));
        reply(empty(200));
      });
}

// POST /leader: rqlite's Store.Stepdown(wait, id), on the leader.
void stepdown(NodeHost& host, const ApiOptions& opts, const HttpRequest& req, const QueryParams& q,
              const std::string* target_name, const HttpReply& reply) {
  Node& node = host.node();
  const raft::Raft& raft = node.raft();
  NodeId to;
  if (!target_name->empty()) {
    const auto id = member_named(host, *target_name);
    if (!id || !raft.membership().is_voter(*id) || *id == node.id()) {
      return reply(http_error(
          500, "cannot transfer leadership to node " + *target_name + ": not another voter"));
    }
    to = *id;
  } else {
    // Hashicorp Raft's pickServer: the most up-to-date other voter.
    LogIndex best;
    for (const auto& [id, pr] : raft.progress()) {
      if (id == node.id() || !raft.membership().is_voter(id)) continue;
      if (!to.valid() || pr.match > best) {
        to = id;
        best = pr.match;
      }
    }
  }
  // Without `wait` rqlite answers before the transfer is tried, so a single node "succeeds".
  const bool started = to.valid() && node.transfer_leadership(to);
  if (!q.wait) return reply(empty(200));
  if (!to.valid()) return reply(http_error(500, "cannot find peer"));
  if (!started) return reply(http_error(500, "leadership transfer failed"));
  poll_until(
      host.clock(), q.timeout.value_or(opts.default_timeout),
      [&node] {
        const raft::Raft& r = node.raft();
        // Done when someone else leads, or when this leader gave up the transfer.
        return !node.running() || r.role() != raft::Role::kLeader || !r.lead_transferee().valid();
      },
      [&node, reply](bool finished) {
        if (!finished) return reply(http_error(500, "timeout waiting for leadership transfer"));
        const bool moved = node.running() && node.raft().role() != raft::Role::kLeader;
        reply(moved ? empty(200) : http_error(500, "leadership transfer failed"));
      });
}

}  // namespace

// ---- /nodes, /leader ---------------------------------------------------------------------------

void Api::nodes(const HttpRequest& req, HttpReply& reply) {
  if (req.method != "GET") return reply(empty(405));
  auto parsed = parse_query(req.query);
  if (!parsed) return reply(http_error(400, parsed.error().message));
  const QueryParams& q = *parsed;
  if (!host_.node().running()) return reply(http_error(503, "store not open"));
  std::vector<raft::Member> members;
  for (const auto& m : host_.node().raft().membership().members()) {
    if (m.voter || q.nonvoters) members.push_back(m);
  }
  const bool v2 = q.ver == "2";
  const bool pretty = q.pretty;
  probe(members, q, [reply, v2, pretty](std::vector<NodeInfo> list) {
    std::sort(list.begin(), list.end(),
              [](const NodeInfo& a, const NodeInfo& b) { return a.id < b.id; });
    if (v2) {
      json::array arr;
      for (const auto& n : list) arr.push_back(node_json(n));
      return reply(json_response(json::object{{"nodes", std::move(arr)}}, pretty));
    }
    // The legacy form is a Go map keyed by id: sorted keys (already in order).
    json::object byid;
    for (const auto& n : list) byid[n.id] = node_json(n);
    reply(json_response(byid, pretty));
  });
}

// rqlite's nodes.Test: every member asked for its metadata at once (GET_NODE_META), each with
// `timeout` and `retries`; `done` gets the entries in `members`' order.
void Api::probe(const std::vector<raft::Member>& members, const QueryParams& q,
                std::function<void(std::vector<NodeInfo>)> done) {
  struct Gather {
    std::vector<NodeInfo> list;
    size_t left = 0;
    std::function<void(std::vector<NodeInfo>)> done;
  };
  auto g = std::make_shared<Gather>();
  g->left = members.size();
  g->done = std::move(done);
  if (members.empty()) return g->done({});
  const NodeId leader = host_.node().raft().lead();
  for (size_t k = 0; k < members.size(); ++k) {
    NodeInfo n;
    n.id = member_name(members[k].id);
    n.addr = members[k].address;
    n.voter = members[k].voter;
    n.leader = members[k].id == leader;
    g->list.push_back(std::move(n));
  }
  const Duration timeout = q.timeout.value_or(opts_.default_timeout);
  const int retries = static_cast<int>(std::clamp<int64_t>(q.retries.value_or(0), 0, 10));
  for (size_t k = 0; k < members.size(); ++k) {
    peers_->meta(members[k].id, timeout, retries, [g, k](Result<NodeMeta> r, Duration took) {
      NodeInfo& n = g->list[k];
      if (r) {
        n.api_addr = r->api_addr;
        n.version = r->version.empty() ? "unknown" : r->version;
        n.reachable = true;
        n.time = took;
      } else {
        n.error = r.error().message;
      }
      if (--g->left == 0) g->done(std::move(g->list));
    });
  }
}

void Api::leader(HttpRequest& req, HttpReply& reply) {
  if (req.method != "GET" && req.method != "POST") return reply(empty(405));
  auto parsed = parse_query(req.query);
  if (!parsed) return reply(http_error(400, parsed.error().message));
  const QueryParams q = *parsed;
  Node& node = host_.node();
  if (!node.running() || !node.raft().lead().valid()) {
    ++stats_.leader_not_found;
    return reply(http_error(503, "leader not found"));
  }
  const raft::Raft& raft = node.raft();
  if (req.method == "GET") {
    const raft::Member* m = raft.membership().find(raft.lead());
    if (m == nullptr) {  // a leader that is no longer in the config (it removed itself)
      ++stats_.leader_not_found;
      return reply(http_error(503, "leader not found"));
    }
    const bool pretty = q.pretty;
    return probe({*m}, q, [reply, pretty](std::vector<NodeInfo> list) {
      reply(json_response(node_json(list.at(0)), pretty));
    });
  }
  const auto target_name = parse_stepdown_body(req.body, req.content_type);
  if (!target_name) return reply(http_error(400, "invalid request body"));
  if (raft.role() != raft::Role::kLeader)
    return to_leader(req, q.redirect, q.timeout.value_or(opts_.default_timeout), reply);
  stepdown(host_, opts_, req, q, &*target_name, reply);
}

// ---- /remove -----------------------------------------------------------------------------------

void Api::remove(HttpRequest& req, HttpReply& reply) {
  if (req.method != "DELETE") return reply(empty(405));
  auto parsed = parse_query(req.query);
  if (!parsed) return reply(http_error(400, parsed.error().message));
  const QueryParams q = *parsed;
  // rqlite answers a body of any other shape with a bare 400.
  const auto name = parse_remove_body(req.body);
  if (!name) return reply(empty(400));
  Node& node = host_.node();
  if (!node.running() || !node.raft().lead().valid()) {
    ++stats_.leader_not_found;
    return reply(http_error(503, "leader not found"));
  }
  if (node.raft().role() != raft::Role::kLeader)
    return to_leader(req, q.redirect, q.timeout.value_or(opts_.default_timeout), reply);
  // An id that names no member is removed by doing nothing (Hashicorp's RemoveServer of an unknown
  // server succeeds): 200.
  // Looked up in the latest configuration, then in the committed one: a removal still
  // uncommitted may be lost with this leader's term, and Node::remove_member answers "retry"
  // until it commits ("already" then), which the loop below waits out.
  const raft::Raft& raft = node.raft();
  auto id = member_named(raft.membership(), *name);
  if (!id) id = member_named(raft.configs().at(raft.log().committed()), *name);
  if (!id) return reply(empty(200));
  const Duration timeout = q.timeout.value_or(opts_.default_timeout);
  const NodeId target = *id;
  // Another change in flight, or no commit in this term yet: try again until the deadline.
  auto result = std::make_shared<MembershipResult>(node.remove_member(target));
  Clock& clock = host_.clock();
  const Duration deadline = clock.now() + timeout;
  poll_until(
      clock, timeout,
      [&node, result, target] {
        if (result->status == MembershipResult::Status::kRetry)
          *result = node.remove_member(target);
        return result->status != MembershipResult::Status::kRetry;
      },
      [this, &clock, &node, result, deadline, reply, q, req, name = *name](bool decided) {
        if (!decided)
          return reply(http_error(500, "timeout waiting for node removal confirmation"));
        switch (result->status) {
          case MembershipResult::Status::kAlready:
            return reply(empty(200));
          case MembershipResult::Status::kInvalid:
            // The last voter: removing it would leave a cluster that can never elect anyone.
            return reply(http_error(500, "cannot remove node " + name + ": " + result->error));
          case MembershipResult::Status::kNotLeader:
            return to_leader(req, q.redirect, std::max(deadline - clock.now(), Duration{0}),
                             reply);
          case MembershipResult::Status::kRetry:
          case MembershipResult::Status::kProposed:
            break;
        }
        await_commit(node, clock, result->index, result->term,
                     std::max(deadline - clock.now(), Duration{0}), reply);
      });
}

// ---- /snapshot, /reap --------------------------------------------------------------------------

void Api::snapshot(const HttpRequest& req, HttpReply& reply) {
  if (req.method != "POST") return reply(empty(405));
  auto parsed = parse_query(req.query);
  if (!parsed) return reply(http_error(400, parsed.error().message));
  const QueryParams& q = *parsed;
  SnapshotRequest sr;
  // rqlite: 0 (or absent) keeps the configured tail; Go's uint64(n) makes a negative n keep all.
  const int64_t n = q.trailing_logs.value_or(0);
  if (n > 0) sr.trailing_logs = static_cast<uint64_t>(n);
  if (n < 0) sr.trailing_logs = UINT64_MAX;
  // The node answers once the snapshot is durable; the reply goes out once, whichever comes first
  // of that and `timeout`.
  auto answered = std::make_shared<bool>(false);
  Clock& clock = host_.clock();
  const TimerId timer =
      clock.schedule(q.timeout.value_or(opts_.default_timeout), [answered, reply] {
        if (*answered) return;
        *answered = true;
        reply(http_error(500, "timeout waiting for snapshot"));
      });
  ApiStats* stats = &stats_;
  Node& node = host_.node();
  node.request_snapshot(sr, [answered, reply, stats, &clock, timer, &node](SnapshotOutcome o) {
    if (*answered) return;
    *answered = true;
    clock.cancel(timer);
    switch (o) {
      case SnapshotOutcome::kTaken:
        ++stats->user_snapshots;
        return reply(empty(200));
      case SnapshotOutcome::kNothingNew:
        return reply(empty(204));
      case SnapshotOutcome::kFailed:
        return reply(http_error(500, node.failed() ? "node stopped: " + node.failure()
                                                   : std::string("snapshot failed")));
    }
  });
}

void Api::reap(const HttpRequest& req, HttpReply& reply) {
  if (req.method != "POST") return reply(empty(405));
  auto parsed = parse_query(req.query);
  if (!parsed) return reply(http_error(400, parsed.error().message));
  // rqlite v10 merges incremental WAL snapshots into the newest full one. sqlraft's snapshots are
  // whole images: reaping keeps the newest and removes the rest; there are no WAL files to
  // checkpoint.
  auto reaped = host_.node().reap_snapshots(1);
  if (!reaped) return reply(http_error(500, reaped.error().message));
  ++stats_.user_reaps;
  json::object o;
  o["snapshots_reaped"] = *reaped;
  o["wals_checkpointed"] = 0;
  reply(json_response(o, parsed->pretty));
}

// ---- /debug/vars
// ---------------------------------------------------------------------------------

void Api::debug_vars(const HttpRequest& req, HttpReply& reply) {
  // rqlite serves it to any method.
  auto parsed = parse_query(req.query);
  if (!parsed) return reply(http_error(400, parsed.error().message));
  const std::string& key = parsed->key;
  std::map<std::string, std::function<std::string()>> vars;
  vars["cmdline"] = [] { return cmdline_json(); };
  vars["memstats"] = [] { return memstats_json(); };
  vars["http"] = [this] {
    WriteQueueStats w = queue_ ? queue_->stats() : WriteQueueStats{};
    return expvar_map({
        {"backups", stats_.backups},
        {"boot", stats_.boot},
        {"executions", stats_.executions},
        {"execute_stmts_rx", stats_.execute_stmts_rx},
        {"leader_not_found", stats_.leader_not_found},
        {"loads", stats_.loads},
        {"num_readyz", stats_.num_readyz},
        {"num_status", stats_.num_status},
        {"queries", stats_.queries},
        {"query_stmts_rx", stats_.query_stmts_rx},
        {"queued_executions", stats_.queued_executions},
        {"queued_executions_failed", w.failed},
        {"queued_executions_leadership_lost", w.leadership_lost},
        {"queued_executions_no_leader", w.no_leader},
        {"queued_executions_not_leader", w.not_leader},
        {"queued_executions_num_stmts_rx", w.statements_rx},
        {"queued_executions_num_stmts_tx", w.statements_tx},
        {"queued_executions_ok", w.batches_ok},
        {"queued_executions_queue_full", w.refused_full},
        {"queued_executions_stmt_errors", w.statement_errors},
        {"queued_executions_unknown_error", w.unknown_error},
        {"queued_executions_wait", stats_.queued_executions_wait},
        {"request_stmts_rx", stats_.request_stmts_rx},
        {"requests", stats_.requests},
        {"user_reaps", stats_.user_reaps},
        {"user_snapshots", stats_.user_snapshots},
    });
  };
  vars["store"] = [this] {
    const NodeStats& n = host_.node().stats();
    const svc::ServiceStats& sv = host_.service().stats();
    return expvar_map({
        {"failed_heartbeat_observed", 0},
        {"leader_changes_dropped", 0},
        {"leader_changes_observed", n.leader_changes},
        {"nodes_reaped_failed", 0},
        {"nodes_reaped_ok", 0},
        {"num_auto_restores", 0},
        {"num_auto_restores_failed", 0},
        {"num_auto_restores_skipped", 0},
        {"num_backups", stats_.backups_ok},
        {"num_boots", stats_.boots_ok},
        {"num_compressed_commands", 0},
        {"num_db_stats_errors", 0},
        {"num_ignored_joins", n.joins_ignored},
        {"num_joins", n.joins},
        {"num_loads", stats_.loads_ok},
        {"num_recoveries", host_.recoveries()},
        {"num_removed_before_joins", n.removed_before_joins},
        {"num_restores", n.snapshots_installed},
        {"num_restores_failed", 0},
        {"num_restores_start", n.snapshots_restored_at_start},
        {"num_restores_start_skipped", 0},  // the database is always rebuilt at start
        {"num_snapshots", n.snapshots_taken},
        {"num_snapshots_failed", n.snapshots_failed},
        {"num_snapshots_full", n.snapshots_taken},
        {"num_snapshots_incremental", 0},
        {"num_uncompressed_commands", sv.proposed},  // commands are never compressed
        {"num_user_snapshots", stats_.user_snapshots_ok},
        {"num_user_snapshots_failed", stats_.user_snapshots_failed},
        {"num_verify_leader", sv.leader_verified},
        {"num_verify_leader_failed", sv.leader_verify_failed},
        {"num_wal_snapshots", 0},
        {"num_wal_snapshots_failed", 0},
    });
  };
  vars["cluster"] = [this] {
    const svc::ServiceStats& sv = host_.service().stats();
    const PeersStats& p = peers_->stats();
    using K = sql::CommandKind;
    auto served = [&sv](K k) { return sv.forwards_served_by_kind[static_cast<size_t>(k)]; };
    auto op = [&p](PeerOp o) { return p.served_by_op[static_cast<size_t>(o)]; };
    return expvar_map({
        {"num_backup_req", op(PeerOp::kBackup)},
        {"num_client_force_new_conn", 0},
        {"num_client_read_timeouts", sv.forward_timeouts + sv.call_timeouts},
        {"num_client_retries", p.meta_retries},
        {"num_client_write_timeouts", 0},
        {"num_execute_req", served(K::kExecute)},
        {"num_get_node_api_req", p.meta_served},
        {"num_get_node_api_req_retries", p.meta_retries},
        {"num_get_node_api_resp", p.meta_served},
        {"num_join_req", sv.joins_served},
        {"num_load_req", served(K::kLoad)},
        {"num_notify_req", sv.notifies_served},
        {"num_query_req", served(K::kQuery)},
        {"num_remove_node_req", op(PeerOp::kRemove)},
        {"num_request_req", served(K::kRequest)},
        {"num_stepdown_req", op(PeerOp::kStepdown)},
    });
  };
  vars["proxy"] = [this] {
    const svc::ServiceStats& sv = host_.service().stats();
    const PeersStats& p = peers_->stats();
    using K = sql::CommandKind;
    auto sent = [&sv](K k) { return sv.forwarded_by_kind[static_cast<size_t>(k)]; };
    auto failed = [&sv](K k) { return sv.forwards_failed_by_kind[static_cast<size_t>(k)]; };
    auto op = [&p](PeerOp o) { return p.forwarded_by_op[static_cast<size_t>(o)]; };
    return expvar_map({
        {"remote_backups", op(PeerOp::kBackup)},
        {"remote_executions", sent(K::kExecute)},
        {"remote_executions_failed", failed(K::kExecute)},
        {"remote_loads", sent(K::kLoad)},
        {"remote_queries", sent(K::kQuery)},
        {"remote_queries_failed", failed(K::kQuery)},
        {"remote_remove_node", op(PeerOp::kRemove)},
        {"remote_requests", sent(K::kRequest)},
        {"remote_requests_failed", failed(K::kRequest)},
        {"remote_stepdowns", op(PeerOp::kStepdown)},
    });
  };
  vars["db"] = [this] {
    const sql::SqliteStats& db = host_.sm().stats();
    const ReadPoolStats& rp = host_.read_pool().stats();
    return expvar_map({
        {"checkpoint_errors", db.checkpoint_errors},
        {"checkpoints", db.checkpoints},
        {"execute_transactions", db.execute_transactions},
        {"execution_errors", db.execution_errors},
        {"executions", db.executions},
        {"queries", db.queries + rp.queries},
        {"query_errors", db.query_errors + rp.query_errors},
        {"query_transactions", db.query_transactions + rp.query_transactions},
        {"request_transactions", db.request_transactions},
        {"requests", db.requests},
    });
  };
  vars["snapshot"] = [this] {
    const NodeStats& n = host_.node().stats();
    return expvar_map({
        {"reap_errors", 0},
        {"reap_total", stats_.user_reaps},
        {"sink_errors", n.snapshots_failed},
        {"sink_full_total", n.snapshots_taken},
        {"sink_incremental_total", 0},
        {"upgrade_fail", 0},
        {"upgrade_ok", 0},
    });
  };
  // Automatic backups and restores are not built yet: rqlite's keys, all zero.
  vars["uploader"] = [] {
    return expvar_map({{"last_upload_bytes", 0},
                       {"num_sum_get_fail", 0},
                       {"num_uploads_fail", 0},
                       {"num_uploads_ok", 0},
                       {"num_uploads_skipped", 0},
                       {"num_uploads_skipped_id", 0},
                       {"total_upload_bytes", 0}});
  };
  vars["downloader"] = [] {
    return expvar_map({{"download_bytes", 0}, {"num_downloads_fail", 0}, {"num_downloads_ok", 0}});
  };
  // SQL is never rewritten (each entry carries the leader's time and a seed: docs/api.md).
  vars["sql-processor"] = [] { return expvar_map({{"num_parser_panics", 0}, {"num_rewritten_stmts", 0}}); };
  vars["mux"] = [this] {
    const net::TcpTransportStats& t = host_.transport().stats();
    return expvar_map({{"num_connections_handled", t.accepted},
                       {"num_tls_cert_fetched", 0},
                       {"num_unregistered_handlers", host_.node().stats().messages_rejected}});
  };
  vars["queue"] = [this] {
    WriteQueueStats w = queue_ ? queue_->stats() : WriteQueueStats{};
    return expvar_map({{"num_flush", w.flushes},
                       {"num_timeout", w.timeouts},
                       {"objects_rx", w.statements_rx},
                       {"objects_tx", w.statements_tx}});
  };
  // Go's expvar handler: one `"name": value` per line, names sorted.
  std::string body = "{\n";
  bool first = true;
  for (const auto& [name, value] : vars) {
    if (!key.empty() && key != name) continue;
    if (!first) body += ",\n";
    first = false;
    body += go_quote(name) + ": " + value();
  }
  body += "\n}\n";
  HttpResponse r;
  r.content_type = kJson;
  r.body = std::move(body);
  reply(std::move(r));
}

// ---- /db/sql
// -------------------------------------------------------------------------------------

void Api::db_sql(const HttpRequest& req, HttpReply& reply) {
  if (req.method != "GET" && req.method != "POST") return reply(empty(405));
  auto parsed = parse_query(req.query);
  if (!parsed) return reply(http_error(400, parsed.error().message));
  const QueryParams& q = *parsed;
  std::vector<sql::Statement> statements;
  if (req.method == "GET") {
    if (q.q) statements.push_back(sql::Statement{*q.q, {}});
  } else {
    auto body = parse_statements(req.body, false);
    if (!body) return reply(http_error(400, body.error().message));
    statements = std::move(*body);
  }
  // rqlite shows how it rewrites RANDOM() and date/time 'now' before replicating. sqlraft never
  // rewrites (each entry carries the leader's time and a seed): what is replicated is the
  // statement as sent.
  json::array results;
  for (const auto& s : statements)
    results.push_back(json::object{{"original", s.sql}, {"rewritten", s.sql}});
  reply(json_response(json::object{{"results", std::move(results)}}, q.pretty));
}

// ---- queued writes
// -------------------------------------------------------------------------------

void Api::queued(const HttpRequest&, HttpReply& reply, QueryParams q,
                 std::vector<sql::Statement> statements) {
  ++stats_.executions;
  Node& node = host_.node();
  // Unless `noleader`, a node that knows no leader does not take writes it could not pass on.
  if (!q.noleader && (!node.running() || !node.raft().lead().valid())) {
    ++stats_.leader_not_found;
    return reply(http_error(503, "leader not found"));
  }
  if (statements.size() > opts_.max_statements) {
    return reply(
        http_error(413, "too many statements: at most " + std::to_string(opts_.max_statements)));
  }
  EncodeOptions eo;
  eo.endpoint = Endpoint::kExecute;
  eo.pretty = q.pretty;
  // Refused now, as /db/execute does: in the queue it would be retried forever.
  for (const auto& s : statements) {
    if (!sql::is_disallowed_pragma(s.sql)) continue;
    sql::CommandResult refused;
    refused.error = "disallowed pragma";
    auto body = encode_results(refused, eo);
    HttpResponse r;
    r.content_type = kJson;
    r.body = body ? *body : "";
    return reply(std::move(r));
  }
  if (!queue_) {
    // Sequence numbers start at the node's start time in Unix ns. Exactly-once needs a session id
    // no other process uses: a random one.
    std::random_device rd;
    const uint64_t session = ((uint64_t{rd()} << 32) ^ rd()) | 1;
    WriteQueueOptions wo = opts_.write_queue;
    wo.attempt_timeout = opts_.apply_timeout;
    svc::Service& service = host_.service();
    queue_ = std::make_unique<WriteQueue>(
        host_.clock(),
        [&service](svc::Request r, svc::Done d) { service.submit(std::move(r), std::move(d)); }, wo,
        std::chrono::duration_cast<std::chrono::nanoseconds>(started_.time_since_epoch()).count(),
        session);
  }
  ++stats_.queued_executions;
  if (q.wait) ++stats_.queued_executions_wait;
  Clock& clock = host_.clock();
  const Duration timeout = q.timeout.value_or(opts_.default_timeout);
  const Duration deadline = clock.now() + timeout;
  WriteQueue* queue = queue_.get();
  const bool wait = q.wait;
  queue_->enqueue(std::move(statements), timeout,
                  [reply, eo, wait, deadline, queue, &clock](Result<int64_t> seq) {
                    // Not queued: a 503 says to try again, unlike the 408 of a queued request.
                    if (!seq) return reply(http_error(503, seq.error().message));
                    EncodeOptions o = eo;
                    o.sequence_number = *seq;
                    auto body = encode_results(sql::CommandResult{}, o);
                    HttpResponse ok;
                    ok.content_type = kJson;
                    ok.body = body ? *body : "";
                    if (!wait) return reply(std::move(ok));
                    queue->wait_written(*seq, std::max(deadline - clock.now(), Duration{0}),
                                        [reply, ok](bool written) {
                                          if (!written)
                                            return reply(http_error(408, "queue wait timeout"));
                                          reply(ok);
                                        });
                  });
}

}  // namespace rq::server
